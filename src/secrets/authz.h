/*
 * authz.h -- authorization of Secrets Manager requests in
 * docs/AUTHORIZATION.md 5.2's order, and the condition keys of their
 * request context (authz.c).
 */
#ifndef TR_SECRETS_AUTHZ_H
#define TR_SECRETS_AUTHZ_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/result.h"
#include "iam/authz.h"
#include "iam/policy.h"
#include "op/op.h"
#include "secrets/secrets.h"

/* Authorize rc->who for `action` ("secretsmanager:GetSecretValue") on the
 * secret named by `secret_id_as_given`, in the order docs/AUTHORIZATION.md
 * 5.2 fixes:
 *  - s NULL (not found): the identity side is evaluated against the id as
 *    given (resource account: the ARN's, else the caller's); a denial is
 *    AccessDeniedException, an allow lets the caller go on to
 *    ResourceNotFoundException -- so an unauthorized caller learns nothing;
 *  - s found: the secret's ARN with its resource policy (POLICY_RESOURCE)
 *    joined RES_UNION (same account: identity OR resource policy; another
 *    account: both).
 * Adds secretsmanager:SecretId (the ARN, or the id as given), and for a
 * found secret secretsmanager:ResourceTag/<k> and aws:ResourceTag/<k>,
 * secretsmanager:resource/Type and resource/AllowRotationLambdaArn when
 * the secret has them;
 * `extra` adds operation keys (secretsmanager:VersionId, VersionStage,
 * KmsKeyId, Name, aws:RequestTag/<k>, aws:TagKeys...: see sm_ctx_init and iam_ctx_add).  The
 * message echoes the SecretId exactly as passed. */
TR_RESULT sm_authorize(struct req_ctx *rc, const char *action, const char *secret_id_as_given,
                       const struct secret *s, const struct ctx_entry *extra, size_t nextra);
/* The same decision for a found secret, told rather than enforced (the
 * analyzer): *res the decision (statement refs cleared), ev the deciding
 * statements when allowed, AWS's AccessDenied wording when denied.
 * extra: as for sm_authorize; entries marked unknown stay unknown. */
TR_RESULT sm_authorize_explain(struct req_ctx *rc, const char *action, const struct secret *s,
                               const struct ctx_entry *extra, size_t nextra,
                               struct eval_result *res, char *ev, size_t nev);
/* The same for a secret as named in a request (`tresor policy simulate`):
 * looked up as the request would look it up (sm_lookup); a secret that is
 * not found is decided as sm_authorize decides it, against the id as
 * given.  *found tells which. */
TR_RESULT sm_authorize_id_explain(struct req_ctx *rc, const char *action, const char *secret_id,
                                  const struct ctx_entry *extra, size_t nextra, bool *found,
                                  struct eval_result *res, char *ev, size_t nev);
/* The usual pair: authorize, then exists (sm_find's error).  When
 * `must_be_live`, also sm_check_live.  On success *out is loaded. */
TR_RESULT sm_find_authorized(struct req_ctx *rc, const char *action, const char *secret_id,
                             const struct ctx_entry *extra, size_t nextra, bool must_be_live,
                             struct secret *out);
/* sm_find_authorized for a caller that only reads the secret
 * (GetSecretValue): *out may be a view of the cached secret
 * (sm_lookup_shared) -- never change it; secret_free it as any. */
TR_RESULT sm_find_authorized_shared(struct req_ctx *rc, const char *action, const char *secret_id,
                                    const struct ctx_entry *extra, size_t nextra, struct secret *out);
/* The same (live secrets only, no operation keys) for a writer that adds
 * the version `version_id`: the secret holds only its labeled versions and
 * that one (sm_lookup_for_version). */
TR_RESULT sm_find_authorized_for_version(struct req_ctx *rc, const char *action,
                                         const char *secret_id, const char *version_id,
                                         struct secret *out);
/* sm_find_authorized for the secret the request's SecretId names, the
 * operation's own action and no operation keys: the start of the handlers
 * that take nothing else before the lookup. */
TR_RESULT sm_find_for_op(struct req_ctx *rc, json_t *in, bool must_be_live, struct secret *out);
/* Authorization for actions without a secret (CreateSecret, ListSecrets,
 * GetRandomPassword, BatchGetSecretValue): resource "*" except CreateSecret,
 * whose resource is the ARN it would get (`resource` non-NULL). */
TR_RESULT sm_authorize_account(struct req_ctx *rc, const char *action, const char *resource,
                               const struct ctx_entry *extra, size_t nextra);

/* Condition keys of a request, built up by the operation: the request
 * context builder of iam/context.h (iam_ctx_add, iam_ctx_add_multi,
 * iam_ctx_free), started empty by sm_ctx_init. */
void sm_ctx_init(struct ctx_builder *c);
/* aws:RequestTag/<k> for each tag and aws:TagKeys from a validated Tags
 * array (NULL: nothing). */
TR_RESULT sm_ctx_add_request_tags(struct ctx_builder *c, json_t *tags);
/* CreateSecret, UpdateSecret: secretsmanager:Description, KmsKeyId,
 * KmsKeyArn (the key KmsKeyId names, resolved in the secret's account)
 * and Type, each when given (NULL: absent, as when the member is not in
 * the request). */
TR_RESULT sm_ctx_add_request_keys(struct ctx_builder *c, const char *description,
                                  const char *kms_key_id, const char *kms_key_arn,
                                  const char *type);
/* secretsmanager:AddReplicaRegions (multi-valued) from a validated
 * AddReplicaRegions list (NULL: nothing). */
TR_RESULT sm_ctx_add_replica_regions(struct ctx_builder *c, json_t *replicas);

#endif
