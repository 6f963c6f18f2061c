/*
 * unsupported.c -- the replication operations, which tresor does not
 * implement yet: ReplicateSecretToRegions, RemoveRegionsFromReplication,
 * StopReplicationToReplica (rotation is rotation.c).
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
 * be replicated as asked -- and a message that says what is missing.  No state changes.
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

/* Authorize, find, require a live secret, then refuse with `msg`. */
static TR_RESULT refuse(struct req_ctx *rc, const char *action, const char *id,
                        const struct ctx_entry *extra, size_t nextra, const char *msg)
{
    struct secret s;
    GUARD(sm_find_authorized(rc, action, id, extra, nextra, true, &s));
    secret_free(&s);
    BAIL(TR_E_SM_INVALID_REQUEST, "%s", msg);
}

/* The model's ReplicaRegionType. */
const struct json_field sm_replica_fields[] = {
    { "Region", 1, 128 }, { "KmsKeyId", 0, 2048 }, { NULL, 0, 0 },
};

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
