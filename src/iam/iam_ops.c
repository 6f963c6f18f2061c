/*
 * iam_ops.c -- the IAM operation table (query protocol): one row per
 * operation of iam_ops.h, sorted by name, action "iam:<Op>".
 */
#include "iam/iam_ops.h"

#define X(name, fn, flags) { #name, "iam:" #name, fn, flags },
const struct query_op iam_ops[] = {
    IAM_OPS(X)
    { NULL, NULL, NULL, 0 },
};
#undef X
