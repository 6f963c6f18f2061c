/*
 * identity.h -- the caller's identity side: its policies, permissions
 * boundary, session policies and tags, loaded from the store once per
 * request or shared with this thread's identity cache (identity.c).
 */
#ifndef TR_IAM_IDENTITY_H
#define TR_IAM_IDENTITY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iam/policy.h"
#include "op/op.h"
#include "store/store.h"

/* The identity side of a principal (docs/AUTHORIZATION.md 2.1, 2.5, 6.2). */
struct identity {
    struct named_policy *identity;   /* users: inline + attached + each group's; roles: the role's */
    size_t nidentity;
    struct named_policy boundary;    /* valid when has_boundary */
    bool has_boundary;
    struct named_policy *session;    /* session policies of a role session */
    size_t nsession;
    bool session_present;
    bool root;                       /* an account root user */
    /* Principal tags: user or role tags, then session tags (which win). */
    char **tag_keys;
    char **tag_values;
    size_t ntags;
    int64_t token_issued;            /* temporary credentials: issue time; else 0 */
    bool mfa;                        /* aws:MultiFactorAuthPresent (temporary credentials) */
    char *source_identity;           /* role sessions that have one (aws:SourceIdentity) */
    char *federated_provider;        /* sessions of AssumeRoleWithWebIdentity: the OIDC
                                        provider's ARN (aws:FederatedProvider) */
    char *username;                  /* IAM users only (aws:username) */
    void *owned;                     /* implementation storage */
    unsigned refs;                   /* shared with this thread's identity cache (identity.c):
                                        the references held; 0: whoever made it owns it */
};

/* A stored JSON document's object; NULL when the text is absent, empty or
 * not an object.  Release with json_decref. */
json_t *iam_stored_doc(const char *text);

/* The default version's document of managed policy `arn` (malloc'd).
 * TR_E_STORE_NOT_FOUND (no message) when the policy or version is gone. */
TR_RESULT iam_managed_document(store_t st, const char *arn, char **out);

/* Load who's identity side (policies compiled through policy_cache_get). */
TR_RESULT iam_identity_load(store_t st, const struct principal *who, struct identity *out);
void iam_identity_free(struct identity *id);
/* rc->identity, loaded (or shared with this thread's identity cache) on
 * first use, with iam_identity_release set as the request's release
 * (op.h rc->release: op_run calls it when the operation ends).  Credentials
 * of a user or role that no longer exists are TR_E_UNRECOGNIZED_CLIENT.
 * The identity cache (core/cache.h, on in `tresor serve`) keeps the
 * identities a thread loaded last, keyed by the principal and its access
 * key, and valid while the store's generation (store.h) is unchanged --
 * any write anywhere empties it in effect, so a changed policy, group or
 * tag is seen by the next request.  Off, every request loads its own. */
TR_RESULT iam_identity_get(struct req_ctx *rc);

/* End of a request: release rc->identity and clear it (and rc->release,
 * when it is this function) -- nothing when borrowed
 * (rc->identity_borrowed), the request's reference when shared with the
 * cache, else free it (one calloc'd and loaded by the caller). */
void iam_identity_release(struct req_ctx *rc);

/* The analyzer loads every principal of an account in one read-only pass:
 * a memo keeps each managed policy and each group's policies after their
 * first load, so a group shared by a thousand users is read once.  Not for
 * request handling (nothing invalidates it). */
struct iam_load_memo;
struct iam_load_memo *iam_load_memo_new(void);
void iam_load_memo_free(struct iam_load_memo *m);
TR_RESULT iam_identity_load_memo(store_t st, const struct principal *who,
                                 struct iam_load_memo *m, struct identity *out);


/* Give `id` the session part that AssumeRole or GetSessionToken stores on
 * a temporary credential, from a document of that shape: {"issued": epoch
 * seconds, "mfa": bool, and for role sessions "policy": text,
 * "policy_arns": [ARN...], "tags": {key: value}} -- read the way
 * iam_identity_load reads a real session's (`tresor policy simulate`
 * describes a session that way).  Documents are compiled as stored ones:
 * validate them first. */
TR_RESULT iam_identity_add_session(store_t st, json_t *doc, bool role_session, struct identity *id);

#endif
