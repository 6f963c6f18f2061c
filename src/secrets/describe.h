/*
 * describe.h -- the DescribeSecret shape of a secret and the JSON members
 * every Secrets Manager reply is built from (describe.c).
 */
#ifndef TR_SECRETS_DESCRIBE_H
#define TR_SECRETS_DESCRIBE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/result.h"
#include "op/op.h"
#include "secrets/secrets.h"

/* The DescribeSecret shape of s into obj, as AWS records it: ARN, Name,
 * Description (when set), KmsKeyId (omitted for aws/secretsmanager),
 * RotationEnabled/RotationLambdaARN/RotationRules/LastRotatedDate/
 * NextRotationDate (only when the doc holds rotation_enabled,
 * rotation_lambda_arn, rotation_rules, last_rotated, next_rotation),
 * LastChangedDate, LastAccessedDate, DeletedDate (when set), Tags (only
 * when non-empty), VersionIdsToStages (when `versions` and some version
 * has a label), CreatedDate, and PrimaryRegion/ReplicationStatus of a
 * replicated secret (replication.h). */
TR_RESULT sm_describe_fill(struct req_ctx *rc, const struct secret *s, bool versions, json_t *obj);
/* {version id: [labels]} of the labelled versions; *out NULL when none
 * (ListSecrets sets it as SecretVersionsToStages). */
TR_RESULT sm_versions_to_stages(const struct secret *s, json_t **out);
/* Tags of a resource ARN as [{"Key","Value"}], ordered by key. */
TR_RESULT sm_tags_json(store_t st, const char *arn, json_t **out);
/* A date member as the JSON number AWS sends (epoch seconds, fractional). */
TR_RESULT sm_set_date(json_t *obj, const char *name, double t);

#endif
