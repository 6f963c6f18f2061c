/*
 * ops.c -- the Secrets Manager operation table, made from ops.def (the
 * rows and what they mean are described there), the service's
 * descriptor, and the periodic maintenance.
 */
#include "secrets/ops.h"

#include "secrets/manage.h"
#include "secrets/replication.h"

/* Each handler runs through sm_run_op, which keeps the replicas of a
 * primary in step after a write (replication.c). */
#define OP(name, handler, flags, members) \
    static TR_RESULT run_##handler(struct req_ctx *rc, json_t *in, json_t **out) \
    { return sm_run_op(rc, in, out, handler, ((flags) & OP_WRITE) != 0); }
#include "secrets/ops.def"

const struct op_def sm_ops[] = {
#define OP(name, handler, flags, members) \
    OP_JSON_ROW(#name, "secretsmanager:" #name, run_##handler, flags, members),
#include "secrets/ops.def"
    { 0 },
};

const struct op_service sm_service = {
    .name = "secretsmanager", .proto = OP_JSON, .ops = sm_ops,
    .internal_error = "InternalServiceError", .target_prefix = "secretsmanager.",
    .message_member = "Message", .not_found_type = "ResourceNotFoundException",
    .exists_type = "ResourceExistsException",
};

TR_RESULT sm_maintenance(const struct server_env *env, int64_t now)
{
    return sm_purge_due(env, now);
}
