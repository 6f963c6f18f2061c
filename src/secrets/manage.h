/*
 * manage.h -- the Secrets Manager operations around the secret's life and
 * metadata, as opposed to its value (secrets.h and the files beside it):
 *
 *   manage.c       ListSecrets, DeleteSecret, RestoreSecret, and the purge
 *                  of secrets whose recovery window ended (sm_maintenance)
 *   tags.c         TagResource, UntagResource
 *   password.c     GetRandomPassword
 *   policy.c       Put/Get/Delete/ValidateResourcePolicy and the rule that
 *                  decides when a resource policy grants public access
 *   unsupported.c  replication: registered, authorized and checked like
 *                  the others, then refused
 *   rotation.c     RotateSecret, CancelRotateSecret and the rotation
 *                  schedule (rotation.h; hooks in place of Lambda: hook.c,
 *                  RotationRules: schedule.c)
 *
 * Every handler validates its input with AWS's wording, authorizes through
 * sm_authorize (authz.h, docs/AUTHORIZATION.md 5.2 order), and only then
 * looks at the state of the secret.  Wire shapes: botocore
 * secretsmanager/2017-10-17.  The pure pieces (password generation, the
 * public-policy rule, the ListSecrets filter matcher) are exposed for
 * tests/unit/secrets_manage_test.c.
 */
#ifndef TR_SECRETS_MANAGE_H
#define TR_SECRETS_MANAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/result.h"
#include "op/op.h"
#include "secrets/ops.h"
#include "secrets/secrets.h"

/* The handlers of manage.c, tags.c, password.c, policy.c and unsupported.c
 * are declared, with every other, by secrets/ops.h. */

/* ---- manage.c ----------------------------------------------------------- */

/* The purge: every secret whose deletion date is at or before `now` is
 * removed for good (versions, tags, entity), each in its own transaction,
 * with one log line naming its ARN.  Secrets pending deletion are found
 * through the "secret-due" relation DeleteSecret writes (IAM_STORE.md).
 * Returns the first failure after trying every due secret. */
TR_RESULT sm_purge_due(const struct server_env *env, int64_t now);

/* The date-ordered queues behind the purge and the rotation schedule:
 * relations of one kind from SM_DUE_FROM, each keyed "<12-digit unix
 * time>|<arn>", so that listing them in key order lists them by date.
 * sm_due_walk calls `one` on every key of `kind` due at or before `now`,
 * a page of `page` at a time, each on its own (`one` logs and commits its
 * own work); it returns the first failure after trying every due key.
 * `what` names the key in the error should one not fit. */
#define SM_DUE_FROM "secretsmanager"
#define SM_DUE_KEY_MAX (SM_ID_MAX + 32)
TR_RESULT sm_due_walk(const struct server_env *env, const char *kind, size_t page, int64_t now,
                      const char *what, tr_result (*one)(const struct server_env *env, const char *key,
                                                         int64_t now));

/* ListSecrets Filters: does one filter (Key, its Values) select a secret
 * with these attributes?  Values are ORed; a value starting with "!" is
 * negated (selects when the attribute does NOT match).  Prefix matching,
 * case-sensitive, for name, tag-key, tag-value, primary-region,
 * owning-service; description is case-insensitive and also matches the
 * start of any word; "all" matches words of every attribute,
 * case-insensitively.  Tags: parallel arrays of ntags keys and values. */
struct sm_filter_subject {
    const char *name;
    const char *description;           /* NULL when none */
    const char *primary_region;        /* NULL: none */
    const char *owning_service;        /* NULL: none */
    const char *const *tag_keys;
    const char *const *tag_values;
    size_t ntags;
};
bool sm_filter_match(const char *key, const char *const *values, size_t nvalues,
                     const struct sm_filter_subject *s);
/* Validate a Filters list (ListSecrets, BatchGetSecretValue) with AWS's
 * errors; `filters` may be NULL or JSON null (none). */
TR_RESULT sm_check_filters(json_t *filters);

/* ---- password.c --------------------------------------------------------- */

/* GetRandomPassword options, with AWS's defaults from sm_password_defaults. */
struct sm_password_opts {
    int64_t length;                    /* 1..4096, default 32 */
    const char *exclude;               /* ExcludeCharacters, "" when none */
    bool exclude_numbers, exclude_punctuation, exclude_uppercase, exclude_lowercase;
    bool include_space;
    bool require_each;                 /* RequireEachIncludedType, default true */
};
void sm_password_defaults(struct sm_password_opts *o);
/* The 32 punctuation characters AWS draws from. */
extern const char SM_PUNCTUATION[];
/* Generate into `out` (a secret buf; reset first).  Each character is
 * drawn uniformly (rejection sampling over crypto/rand.h bytes) from the
 * included classes minus ExcludeCharacters; with require_each, one
 * character of each included class (lower, upper, digit, punctuation;
 * never the space) sits at a random distinct position.  Failures are
 * InvalidParameterException with AWS's messages. */
TR_RESULT sm_password_generate(const struct sm_password_opts *o, struct buf *out);

/* ---- policy.c ----------------------------------------------------------- */

/* The rule behind BlockPublicPolicy and ValidateResourcePolicy's broad
 * access check (documented at the top of policy.c).  `text` must already
 * parse as JSON; *is_public tells the answer. */
TR_RESULT sm_policy_is_public(const char *text, bool *is_public);

#endif
