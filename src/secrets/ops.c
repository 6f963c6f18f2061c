/*
 * ops.c -- the Secrets Manager operation table (awsJson1_1,
 * X-Amz-Target: secretsmanager.<Op>), sorted by name (strcmp order), and
 * the periodic maintenance.
 *
 * One row per operation: the wire name, the IAM action recorded for the
 * request, the handler, and OP_WRITE when the handler writes (the router
 * then runs it inside one store transaction, rolled back on failure).
 * The handlers authorize themselves (sm_authorize, secrets.h), because
 * the resource is the secret, known only once the SecretId is resolved.
 * Spec: botocore secretsmanager/2017-10-17/service-2.json (operations).
 */
#include "op/op.h"
#include "secrets/manage.h"
#include "secrets/values.h"

/* Wire name and IAM action "secretsmanager:<name>" from one token. */
#define SM_OP(name, fn, flags) { #name, "secretsmanager:" #name, fn, flags }

const struct op_def sm_ops[] = {
    SM_OP(BatchGetSecretValue, sm_op_batch_get_secret_value, 0),
    SM_OP(CancelRotateSecret, sm_op_cancel_rotate_secret, 0),
    SM_OP(CreateSecret, sm_op_create_secret, OP_WRITE),
    SM_OP(DeleteResourcePolicy, sm_op_delete_resource_policy, OP_WRITE),
    SM_OP(DeleteSecret, sm_op_delete_secret, OP_WRITE),
    SM_OP(DescribeSecret, sm_op_describe_secret, 0),
    SM_OP(GetRandomPassword, sm_op_get_random_password, 0),
    SM_OP(GetResourcePolicy, sm_op_get_resource_policy, 0),
    SM_OP(GetSecretValue, sm_op_get_secret_value, 0),
    SM_OP(ListSecretVersionIds, sm_op_list_secret_version_ids, 0),
    SM_OP(ListSecrets, sm_op_list_secrets, 0),
    SM_OP(PutResourcePolicy, sm_op_put_resource_policy, OP_WRITE),
    SM_OP(PutSecretValue, sm_op_put_secret_value, OP_WRITE),
    SM_OP(RemoveRegionsFromReplication, sm_op_remove_regions_from_replication, 0),
    SM_OP(ReplicateSecretToRegions, sm_op_replicate_secret_to_regions, 0),
    SM_OP(RestoreSecret, sm_op_restore_secret, OP_WRITE),
    SM_OP(RotateSecret, sm_op_rotate_secret, 0),
    SM_OP(StopReplicationToReplica, sm_op_stop_replication_to_replica, 0),
    SM_OP(TagResource, sm_op_tag_resource, OP_WRITE),
    SM_OP(UntagResource, sm_op_untag_resource, OP_WRITE),
    SM_OP(UpdateSecret, sm_op_update_secret, OP_WRITE),
    SM_OP(UpdateSecretVersionStage, sm_op_update_secret_version_stage, OP_WRITE),
    SM_OP(ValidateResourcePolicy, sm_op_validate_resource_policy, 0),
    { NULL, NULL, NULL, 0 },
};

/* Purge the secrets whose recovery window has ended (manage.c), each in
 * its own transaction, one log line each. */
TR_RESULT sm_maintenance(const struct server_env *env, int64_t now)
{
    return sm_purge_due(env, now);
}
