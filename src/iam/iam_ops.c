/*
 * iam_ops.c -- the IAM operation table, made from iam_ops.def (the rows
 * and what they mean are described there), and the service's descriptor.
 */
#include "iam/iam_ops.h"

const struct op_def iam_ops[] = {
#define OP(name, handler, flags) OP_QUERY_ROW(#name, "iam:" #name, handler, flags),
#include "iam/iam_ops.def"
    { 0 },
};

const struct op_service iam_service = {
    .name = "iam", .proto = OP_QUERY, .ops = iam_ops, .internal_error = "ServiceFailure",
    .xmlns = "https://iam.amazonaws.com/doc/2010-05-08/", .version = "2010-05-08",
};
