/*
 * ops.c -- the KMS operation table, made from ops.def (the rows and what
 * they mean are described there), and the service's descriptor.
 */
#include "kms/kms.h"

const struct op_def kms_ops[] = {
#define OP(name, handler, flags, members) OP_JSON_ROW(#name, "kms:" #name, handler, flags, members),
#define OP_AS(name, action, handler, flags, members) OP_JSON_ROW(#name, action, handler, flags, members),
#include "kms/ops.def"
    { 0 },
};

const struct op_service kms_service = {
    .name = "kms", .proto = OP_JSON, .ops = kms_ops, .internal_error = "KMSInternalException",
    .target_prefix = "TrentService.", .message_member = "message",
    .not_found_type = "NotFoundException", .exists_type = "AlreadyExistsException",
};
