/*
 * web_identity.h -- a web identity token checked as AWS's
 * AssumeRoleWithWebIdentity checks it (docs/OIDC.md): the JWT and its
 * signature (oidc/jwt.h, keys from oidc/keys.h), its issuer against the
 * account's OpenID Connect providers, its audience against the provider's
 * client ids, its times; then the role's trust policy with the token's
 * condition keys, and -- when that refuses -- which statement's which
 * condition failed on which claim.  sts_web.c serves the operation with
 * it, and `tresor policy simulate --web-identity-token` explains with it.
 */
#ifndef TR_IAM_WEB_IDENTITY_H
#define TR_IAM_WEB_IDENTITY_H

#include <jansson.h>
#include <stdint.h>

#include "iam/context.h"
#include "iam/iam_util.h"
#include "iam/policy.h"
#include "oidc/jwt.h"
#include "store/store.h"

#define WEB_EXPLAIN_MAX 2048

struct web_identity {
    struct jwt t;
    bool parsed;
    char provider_arn[IAM_ARN_MAX];
    const char *iss;            /* the token's (t.claims) */
    const char *sub;
    const char *aud;            /* the client id the token is for */
    json_t *oaud;               /* the token's aud when azp was the audience, or NULL */
    char host[300];             /* iss without https:// : the condition keys' prefix */
    const char *check;          /* the check that refused it: "format", "size", "issuer",
                                   "signature", "kid", "audience", "expiry", "keys" */
    char why[WEB_EXPLAIN_MAX];  /* what failed, for the log: claims, never the token */
};

/* Check `token` for a role of `account` at time now: TR_OK, or the AWS
 * error (InvalidIdentityToken, ExpiredTokenException, IDPCommunicationError)
 * with w->check and w->why saying why.  Free w with web_identity_free
 * either way. */
TR_RESULT web_identity_verify(store_t st, const char *account, const char *token, int64_t now,
                              struct web_identity *w);
void web_identity_free(struct web_identity *w);
/* The token's condition keys: <host>:aud, :sub, :amr, :oaud, aws:FederatedProvider. */
TR_RESULT web_identity_context(const struct web_identity *w, struct ctx_builder *cb);
/* Decide `action` on role_arn by the trust policy (the only policy that
 * counts for a web identity) with the context cb.  Denied: explain[] says
 * which statements named this provider and which of their conditions the
 * token's claims failed. */
TR_RESULT web_identity_trust(const struct web_identity *w, const char *action, const char *role_arn,
                             const char *role_account, const struct named_policy *trust,
                             const char *trust_text, const struct ctx_builder *cb, bool *allowed,
                             char explain[WEB_EXPLAIN_MAX]);

#endif
