/*
 * unsupported.c -- the replication and rotation operations, which tresor
 * does not implement yet: ReplicateSecretToRegions,
 * RemoveRegionsFromReplication, StopReplicationToReplica, RotateSecret,
 * CancelRotateSecret.
 *
 * They are in the operation table so that a client gets a Secrets Manager
 * answer rather than UnknownOperationException, and they behave like
 * every other operation up to the point where the work would start: the
 * members are validated as the model defines them (botocore
 * secretsmanager/2017-10-17), the caller is authorized for
 * secretsmanager:<Op> on the secret (docs/AUTHORIZATION.md 5.2 order: an
 * unauthorized caller learns nothing), the secret must exist and must not be
 * pending deletion.  Then the request is refused with InvalidRequestException
 * -- the model's error for "a parameter value is not valid for the current
 * state of the resource", which is what AWS answers when a secret cannot
 * be rotated or replicated as asked (e.g. rotation without a Lambda
 * function) -- and a message that says what is missing.  No state changes.
 */
#include "secrets/manage.h"

#include <stdint.h>
#include <string.h>

#include "core/json.h"
#include "secrets/authz.h"
#include "secrets/params.h"
#include "secrets/secrets.h"

#define MSG_REPLICATION "Secrets Manager on this server does not support replicating secrets to " \
                        "other Regions."
#define MSG_ROTATION    "Secrets Manager on this server does not support rotation: there is no " \
                        "Lambda service to run a rotation function."

/* Authorize, find, require a live secret, then refuse with `msg`. */
static TR_RESULT refuse(struct req_ctx *rc, const char *action, const char *id,
                        const struct ctx_entry *extra, size_t nextra, const char *msg)
{
    struct secret s;
    GUARD(sm_find_authorized(rc, action, id, extra, nextra, true, &s));
    secret_free(&s);
    BAIL(TR_E_SM_INVALID_REQUEST, "%s", msg);
}

/* The model's ReplicaRegionType and ExternalSecretRotationMetadataItem. */
const struct json_field sm_replica_fields[] = {
    { "Region", 1, 128 }, { "KmsKeyId", 0, 2048 }, { NULL, 0, 0 },
};
static const struct json_field ROTATION_METADATA_FIELDS[] = {
    { "Key", 1, 256 }, { "Value", 1, 2048 }, { NULL, 0, 0 },
};

/* RotationRules: a structure of AutomaticallyAfterDays (1..1000),
 * Duration (2..3 characters) and ScheduleExpression (1..256). */
static TR_RESULT rotation_rules(json_t *in)
{
    static const char *const MEMBERS[] = {
        "AutomaticallyAfterDays", "Duration", "ScheduleExpression", NULL
    };
    json_t *rules = json_object_get(in, "RotationRules");
    const char *s;
    int64_t days;
    if (!rules || json_is_null(rules)) return TR_OK;
    if (!json_is_object(rules))
        BAIL(TR_E_SERIALIZATION, "Unexpected value for member 'RotationRules': expected structure");
    GUARD(json_check_members(rules, MEMBERS));
    GUARD(json_get_int(rules, "AutomaticallyAfterDays", false, 1, 1000, NULL, &days));
    GUARD(json_get_str(rules, "Duration", false, 2, 3, &s));
    return json_get_str(rules, "ScheduleExpression", false, 1, 256, &s);
}

SM_HANDLER(sm_op_replicate_secret_to_regions)
{
    const char *id;
    bool force = false, has_force = false;
    json_t *regions;
    struct ctx_builder c;
    tr_result r;
    (void)out;
    GUARD(sm_get_secret_id(in, &id));
    GUARD(json_get_struct_list(in, "AddReplicaRegions", true, 1, sm_replica_fields, &regions));
    GUARD(json_get_bool(in, "ForceOverwriteReplicaSecret", &has_force, &force));
    sm_ctx_init(&c);
    r = sm_ctx_add_replica_regions(&c, regions);
    if (tr_ok(r) && has_force)
        r = iam_ctx_add(&c, "secretsmanager:ForceOverwriteReplicaSecret", force ? "true" : "false");
    if (tr_ok(r))
        r = refuse(rc, rc->op->action, id, c.e, c.n, MSG_REPLICATION);
    iam_ctx_free(&c);
    return r;
}

SM_HANDLER(sm_op_remove_regions_from_replication)
{
    const char *id;
    json_t *regions;
    (void)out;
    GUARD(sm_get_secret_id(in, &id));
    GUARD(json_get_str_list(in, "RemoveReplicaRegions", true, SIZE_MAX, 1, 128, &regions));
    if (json_array_size(regions) < 1)
        return json_invalid("RemoveReplicaRegions", NULL, "Member must have length greater than or equal to 1");
    return refuse(rc, rc->op->action, id, NULL, 0, MSG_REPLICATION);
}

SM_HANDLER(sm_op_stop_replication_to_replica)
{
    const char *id;
    (void)out;
    GUARD(sm_get_secret_id(in, &id));
    return refuse(rc, rc->op->action, id, NULL, 0, MSG_REPLICATION);
}

SM_HANDLER(sm_op_rotate_secret)
{
    const char *id, *token, *lambda, *role;
    bool now = true, has_now = false;
    json_t *metadata, *rules;
    struct ctx_builder c;
    tr_result r;
    (void)out;
    GUARD(sm_get_secret_id(in, &id));
    GUARD(json_get_str(in, "ClientRequestToken", false, SM_TOKEN_MIN, SM_TOKEN_MAX, &token));
    GUARD(json_get_str(in, "RotationLambdaARN", false, 0, 2048, &lambda));
    GUARD(json_get_str(in, "ExternalSecretRotationRoleArn", false, 20, 2048, &role));
    GUARD(json_get_bool(in, "RotateImmediately", &has_now, &now));
    GUARD(rotation_rules(in));
    GUARD(json_get_struct_list(in, "ExternalSecretRotationMetadata", false, 0,
                               ROTATION_METADATA_FIELDS, &metadata));
    rules = json_object_get(in, "RotationRules");
    /* The request's keys (Service Authorization Reference, RotateSecret),
     * each when its member is there; ModifyRotationRules is whether the
     * request changes the rules, so it is always known. */
    sm_ctx_init(&c);
    r = lambda ? iam_ctx_add(&c, "secretsmanager:RotationLambdaARN", lambda) : TR_OK;
    if (tr_ok(r) && role) r = iam_ctx_add(&c, "secretsmanager:ExternalSecretRotationRoleArn", role);
    if (tr_ok(r) && has_now)
        r = iam_ctx_add(&c, "secretsmanager:RotateImmediately", now ? "true" : "false");
    if (tr_ok(r))
        r = iam_ctx_add(&c, "secretsmanager:ModifyRotationRules",
                        rules && !json_is_null(rules) ? "true" : "false");
    if (tr_ok(r))
        r = refuse(rc, rc->op->action, id, c.e, c.n, MSG_ROTATION);
    iam_ctx_free(&c);
    return r;
}

SM_HANDLER(sm_op_cancel_rotate_secret)
{
    const char *id;
    (void)out;
    GUARD(sm_get_secret_id(in, &id));
    return refuse(rc, rc->op->action, id, NULL, 0, MSG_ROTATION);
}
