/*
 * iam_ops.c -- the IAM operation table (query protocol).
 */
#include "http/query_proto.h"

const struct query_op iam_ops[] = {
    { NULL, NULL, NULL, 0 },
};
