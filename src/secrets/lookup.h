/*
 * lookup.h -- a secret by SecretId, as a request names it (lookup.c), and
 * the live check every operation on a secret makes.
 */
#ifndef TR_SECRETS_LOOKUP_H
#define TR_SECRETS_LOOKUP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/result.h"
#include "op/op.h"
#include "secrets/secrets.h"

/* Find a secret by SecretId as the caller gave it: a name (looked up in the
 * caller's account and region), a full ARN, or a partial ARN (the ARN
 * without the "-XXXXXX" suffix).  An ARN of another region is not found.
 * Not found: TR_E_SM_RESOURCE_NOT_FOUND with SM_MSG_NOT_FOUND.  Secrets
 * pending deletion ARE found (callers decide with sm_check_live). */
TR_RESULT sm_find(struct req_ctx *rc, const char *secret_id, struct secret *out);
/* The same without setting an error message when absent: *found false.
 * Other failures are returned. */
TR_RESULT sm_lookup(struct req_ctx *rc, const char *secret_id, struct secret *out, bool *found);
/* sm_lookup for a caller that only reads the secret: *out may be a view
 * of the cached one (secrets/cache.h) -- never change it; secret_free it
 * as any. */
TR_RESULT sm_lookup_shared(struct req_ctx *rc, const char *secret_id, struct secret *out, bool *found);
/* sm_lookup for a writer that adds the version `version_id` (may be
 * NULL): the secret as sm_load_labeled loads it (its labeled versions and
 * that one), never from or into the cache. */
TR_RESULT sm_lookup_for_version(struct req_ctx *rc, const char *secret_id, const char *version_id,
                                struct secret *out, bool *found);
/* The parts of arn:aws:secretsmanager:<region>:<account>:secret:<rest>. */
struct sm_arn_parts {
    char region[64];
    char account[ACCOUNT_ID_LEN + 1];
    const char *rest;
};
/* Split a secret ARN (rest non-empty); false when arn is not one. */
bool sm_parse_arn(const char *arn, struct sm_arn_parts *p);
/* A secret by name in (account, region); *found false when absent. */
TR_RESULT sm_lookup_name(store_t st, const char *account, const char *region,
                         const char *name, struct secret *out, bool *found);

/* Pending deletion -> InvalidRequestException SM_MSG_MARKED. */
TR_RESULT sm_check_live(const struct secret *s);

#endif
