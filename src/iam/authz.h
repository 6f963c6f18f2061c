/*
 * authz.h -- authorization of a request with the policy engine: load the
 * caller's identity side from the store once per request, build the
 * request context (global condition keys), evaluate, and turn a denial
 * into the service's AccessDenied error with AWS's message.
 *
 * Every service's handlers call iam_authorize(); KMS passes the key
 * policy (RES_REQUIRED) and then consults grants on an implicit deny,
 * Secrets Manager passes the secret's resource policy (RES_UNION), IAM
 * and STS pass none or the role's trust policy.
 */
#ifndef TR_IAM_AUTHZ_H
#define TR_IAM_AUTHZ_H

#include "iam/policy.h"
#include "op/op.h"

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
    char *username;                  /* IAM users only (aws:username) */
    void *owned;                     /* implementation storage */
    unsigned refs;                   /* shared with this thread's identity cache (authz.c):
                                        the references held; 0: whoever made it owns it */
};

/* A stored JSON document's object; NULL when the text is absent, empty or
 * not an object.  Release with json_decref. */
json_t *iam_stored_doc(const char *text);

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

/* The request context under construction: global keys plus service keys.
 * A zeroed builder is an empty one (service code that only collects extra
 * keys for iam_authorize starts from memset 0). */
struct ctx_chunk;
#define CTX_MAX 256          /* 50 tags give 100 keys (aws: and service ResourceTag) */
struct ctx_builder {
    struct ctx_entry e[CTX_MAX];
    size_t n;
    size_t nglobal;                  /* e[0..nglobal): iam_ctx_init's keys, every one
                                        "aws:"-prefixed (ctx_slot relies on it to look
                                        for a service key among the later keys only) */
    struct ctx_chunk *chunks;        /* owned copies of keys and values (never move) */
    size_t strings_len;              /* bytes used in all chunks */
    const char *ptrs[CTX_MAX * 4];   /* value arrays, pointing into strings */
    size_t nptrs;
};

/* Start a context with the global keys of docs/AUTHORIZATION.md 1.2 that
 * apply to rc (aws:PrincipalArn, aws:PrincipalAccount, aws:userid,
 * aws:username, aws:PrincipalType, aws:PrincipalTag/<key>,
 * aws:PrincipalIsAWSService, aws:SourceIp and aws:referer (not on
 * service-to-service calls), aws:SecureTransport, aws:CurrentTime,
 * aws:EpochTime, aws:RequestedRegion, aws:ViaAWSService, aws:UserAgent,
 * aws:TokenIssueTime for temporary credentials, aws:MultiFactorAuthPresent
 * for those and service-to-service calls, aws:SourceIdentity for a role
 * session that has one).  iam_authorize adds aws:ResourceAccount.  The
 * list, with each key's presence, is src/iam/authz_table.def's GLOBAL rows. */
TR_RESULT iam_ctx_init(struct ctx_builder *cb, const struct req_ctx *rc, const struct identity *id);
/* Make cb an empty builder (as zeroing it would, without touching the
 * arrays).  Do not use on a builder that holds strings: iam_ctx_free. */
void iam_ctx_reset(struct ctx_builder *cb);
TR_RESULT iam_ctx_add(struct ctx_builder *cb, const char *key, const char *value);
TR_RESULT iam_ctx_add_multi(struct ctx_builder *cb, const char *key,
                            const char *const *values, size_t n);
/* key with an unknown value (static analysis, policy.h ctx_entry.unknown):
 * replaces a value iam_ctx_init gave it. */
TR_RESULT iam_ctx_add_unknown(struct ctx_builder *cb, const char *key);
/* A global key after iam_ctx_init's, before any service key (iam_authorize:
 * aws:ResourceAccount); not already present. */
TR_RESULT iam_ctx_add_global(struct ctx_builder *cb, const char *key, const char *value);
/* A copy of entry x, with its flags (an authz_req's extra keys). */
TR_RESULT iam_ctx_add_entry(struct ctx_builder *cb, const struct ctx_entry *x);
void iam_ctx_free(struct ctx_builder *cb);

struct authz_req {
    const char *action;                      /* "kms:Decrypt" */
    const char *resource;                    /* ARN, or "*" */
    const char *resource_account;            /* owner of the resource */
    const char *resource_as_given;           /* for the message (SM echoes SecretId); NULL = resource */
    const struct named_policy *resource_policy;   /* NULL when none */
    enum resource_mode mode;
    const struct ctx_entry *extra;           /* service keys (kms:*, secretsmanager:*, sts:*, ...) */
    size_t nextra;
    /* Do not fail on deny: fill *out and return TR_OK (KMS consults
     * grants after an implicit deny). */
    bool no_fail;
    /* A hypothetical decision, not the request's own authorization: the
     * lockout checks of PutKeyPolicy and PutResourcePolicy ask whether a
     * later request would be allowed (observers are told). */
    bool what_if;
};

/* The policy engine's view of who (policy.h struct eval_principal): its
 * type, ARNs, account, and unique id -- a user's own, a session's role's
 * (who->id up to the ':'); none for a root user.  Borrows who. */
void iam_eval_principal(const struct principal *who, struct eval_principal *out);

/* Load rc->identity if needed, build the context, evaluate.  On deny
 * (unless no_fail) fails with the service's code -- KMS and Secrets
 * Manager TR_E_ACCESS_DENIED (AccessDeniedException, 400), IAM and STS
 * TR_E_IAM_ACCESS_DENIED (AccessDenied, 403) -- and AWS's message.
 * out may be NULL. */
TR_RESULT iam_authorize(struct req_ctx *rc, const struct authz_req *ar, struct eval_result *out);

/* Observation, for the tests that hold the code to its table
 * (src/iam/authz_table.def): the observer sees every decision iam_authorize
 * makes -- the request, what is asked, and the complete request context --
 * just before the engine decides.  Set once, before the first request (not
 * thread-safe); NULL, the default, costs one pointer test per decision. */
typedef void (*iam_authz_observer)(const struct req_ctx *rc, const struct authz_req *ar,
                                   const struct ctx_entry *ctx, size_t n);
void iam_authz_observe(iam_authz_observer fn);
/* `tresor serve` with TRESOR_AUTHZ_TRACE=FILE: append one JSON line per
 * decision to FILE, condition key names and flags only (authz_trace.c). */
TR_RESULT iam_authz_trace_open(const char *path);

/* The deciding statements of r as one line of evidence for the analyzer
 * (`tresor who-can-decrypt`): "Allow identity <policy> #<index> (Sid S);
 * ..." and, when r is conditional, "only if the conditions of: ...".
 * Call it while the policies r points to are alive. */
void iam_result_evidence(const struct eval_result *r, char *out, size_t n);

/* The principal an ARN names, as the authenticated caller would be
 * (`tresor policy simulate`):
 *   arn:aws:iam::A:root              the root user of known account A;
 *   arn:aws:iam::A:user/path/name    an existing user;
 *   arn:aws:iam::A:role/path/name    a synthetic session of an existing role,
 *                                    arn:aws:sts::A:assumed-role/name/simulated
 *                                    (role_arn set, no session policies);
 *   arn:aws:sts::A:assumed-role/R/S  a session S of existing role R.
 * Anything else: TR_E_IAM_NO_SUCH_ENTITY with a message naming the ARN. */
TR_RESULT iam_principal_from_arn(store_t st, const char *arn, struct principal *out);

/* The principal access key `akid` authenticates, as a request signed with
 * it would be (`tresor policy simulate --access-key-id`): type, account,
 * ARN, id, the role of a session, the key id (so iam_identity_load reads a
 * session's policies, tags and issue time).  TR_E_IAM_NO_SUCH_ENTITY when
 * the store has no such key. */
TR_RESULT iam_principal_from_access_key(store_t st, const char *akid, struct principal *out);

/* Give `id` the session part that AssumeRole or GetSessionToken stores on
 * a temporary credential, from a document of that shape: {"issued": epoch
 * seconds, "mfa": bool, and for role sessions "policy": text,
 * "policy_arns": [ARN...], "tags": {key: value}} -- read the way
 * iam_identity_load reads a real session's (`tresor policy simulate`
 * describes a session that way).  Documents are compiled as stored ones:
 * validate them first. */
TR_RESULT iam_identity_add_session(store_t st, json_t *doc, bool role_session, struct identity *id);

/* Whether `arn` names an existing principal (KMS key-policy principal
 * validation): a known account ("A" or arn:aws:iam::A:root), an existing
 * user or role ARN or unique id (AIDA..., AROA...), or a session ARN of an
 * existing role.  *out false for anything else ("*" included: the caller
 * decides about it); errors only for store failures. */
TR_RESULT iam_principal_exists(store_t st, const char *arn, bool *out);

#endif
