/*
 * ops.c -- the Secrets Manager operation table (awsJson1_1,
 * X-Amz-Target: secretsmanager.<Op>), sorted by name.
 */
#include "http/op.h"

const struct op_def sm_ops[] = {
    { NULL, NULL, NULL, 0 },
};

TR_RESULT sm_maintenance(const struct server_env *env, int64_t now)
{
    (void)env;
    (void)now;
    return TR_OK;
}
