/*
 * params.h -- names, ARNs and the request members every Secrets Manager
 * operation checks the same way (params.c).
 */
#ifndef TR_SECRETS_PARAMS_H
#define TR_SECRETS_PARAMS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/json.h"
#include "core/result.h"
#include "op/op.h"
#include "secrets/secrets.h"

/* arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 random
 * [A-Za-z0-9]>, malloc'd into *out. */
TR_RESULT sm_arn_new(const char *region, const char *account, const char *name, char **out);
/* Name: 1..512 chars of [A-Za-z0-9/_+=.@-] (ValidationException on the
 * length, InvalidParameterException on the characters). */
TR_RESULT sm_check_name(const char *name);
/* A required SecretId member (1..2048). */
TR_RESULT sm_get_secret_id(json_t *in, const char **out);
/* Tags member: a list of {Key, Value}, at most 50, key 1..128, value
 * 0..256, no "aws:" prefix, no duplicate keys.  *out NULL when absent. */
TR_RESULT sm_get_tags(json_t *in, const char *member, json_t **out);
/* The fields of an AddReplicaRegions element (unsupported.c). */
extern const struct json_field sm_replica_fields[];

#endif
