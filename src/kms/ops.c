/*
 * ops.c -- the KMS operation table, made from ops.def (the rows and what
 * they mean are described there).
 */
#include "kms/kms.h"

const struct op_def kms_ops[] = {
#define OP(name, handler, flags) OP_JSON_ROW(#name, "kms:" #name, handler, flags),
#define OP_AS(name, action, handler, flags) OP_JSON_ROW(#name, action, handler, flags),
#include "kms/ops.def"
    { 0 },
};
