/*
 * replication.h -- Secrets Manager replication between the regions this
 * server serves (replication.c): a primary secret and its read-only
 * replicas, one per replica region, kept in step synchronously.
 *
 * Stored state (in the secret entity's doc, beside the fields secrets.c
 * knows):
 *   primary  "replicas": [{"region", "kms_key_id" (absent: aws/secretsmanager),
 *                          "status": "InSync"|"Failed", "message"}], in the
 *            order they were added;
 *   replica  "primary_region": the primary's region.
 * A replica has the primary's name and random suffix, its own region's
 * ARN, and holds every version of the primary (same VersionIds, labels,
 * dates), each sealed under the replica's own key with its own ARN in the
 * encryption context.  Docs: docs/REPLICATION.md.
 */
#ifndef TR_SECRETS_REPLICATION_H
#define TR_SECRETS_REPLICATION_H

#include <jansson.h>
#include <stdbool.h>

#include "core/result.h"
#include "op/op.h"
#include "secrets/secrets.h"

#define SM_MSG_REPLICA_WRITE "Operation not permitted on a replica secret. Call must be made " \
                             "in primary secret's region."
#define SM_MSG_BAD_REPLICA_REGION "Invalid replica region."

/* The primary's region when s is a replica, else NULL (borrowed from s). */
const char *sm_replica_primary(const struct secret *s);
/* The replicas of a primary (a borrowed array), or NULL when none. */
json_t *sm_replicas(const struct secret *s);
/* InvalidParameterException SM_MSG_REPLICA_WRITE when s is a replica. */
TR_RESULT sm_check_not_replica(const struct secret *s);
/* ReplicationStatus and PrimaryRegion of s into a DescribeSecret or
 * ListSecrets entry (nothing for a secret that is neither primary of a
 * replica nor a replica); LastAccessedDate of a replica read from its
 * entity in rc->st, when it was ever read. */
TR_RESULT sm_describe_replication(struct req_ctx *rc, const struct secret *s, json_t *obj);

/* obj["ReplicationStatus"]: the replicas of the secret `arn` as stored
 * now ([] when none): the replies of CreateSecret and the replication
 * operations. */
TR_RESULT sm_reply_replication(struct req_ctx *rc, const char *arn, json_t *obj);

/* Add replicas to the secret whose ARN is `arn` (region rc->region):
 * `replicas` a validated AddReplicaRegions list (Region, KmsKeyId).  A
 * region that is not served, the secret's own, one given twice or one it
 * is already replicated to is InvalidParameterException "Invalid replica
 * region." and nothing changes.  Then each new replica is written (see
 * sm_replicas_sync); a secret of that name already in the region makes the
 * replica Failed ("Replication failed: Secret name N already exists in
 * region R.") unless `force`, which replaces it. */
TR_RESULT sm_replicate_add(struct req_ctx *rc, const char *arn, json_t *replicas, bool force);

/* After a write to a primary (same transaction): bring every replica of
 * the secret `arn` up to date -- metadata, tags, policy, labels, and the
 * versions it lacks, sealed under the replica's key as the caller
 * (kms:ViaService secretsmanager.<replica region>.amazonaws.com).  A KMS
 * failure leaves that replica as it was and marks it Failed with the
 * reason; a success marks it InSync.  A secret without replicas, or gone,
 * is left alone. */
TR_RESULT sm_replicas_sync(struct req_ctx *rc, const char *arn);

/* A writing handler found s: when s is a primary with replicas, note it,
 * so that sm_run_op brings its replicas up to date once the handler
 * succeeded (authz.c calls it for every secret a writer finds). */
void sm_replica_note(const struct secret *s);
/* The operation runner of the table (ops.c): the handler, then, for a
 * writing operation, sm_replicas_sync of the primary it noted. */
TR_RESULT sm_run_op(struct req_ctx *rc, json_t *in, json_t **out,
                    TR_RESULT (*handler)(struct req_ctx *, json_t *, json_t **), bool write);

#endif
