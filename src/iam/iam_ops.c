/*
 * iam_ops.c -- the IAM operation table, made from iam_ops.def (the rows
 * and what they mean are described there).
 */
#include "iam/iam_ops.h"

const struct op_def iam_ops[] = {
#define OP(name, handler, flags) OP_QUERY_ROW(#name, "iam:" #name, handler, flags),
#include "iam/iam_ops.def"
    { 0 },
};
