/*
 * policy.h -- the policy engine: policy documents compiled once, and a
 * pure evaluator of one request against a set of compiled policies.
 *
 * Specification: docs/AUTHORIZATION.md sections 2 and 3.  Nothing
 * here does I/O or touches the store: callers (iam/authz.c, kms/authz.c,
 * the analyzer) gather the policies and the request context, and the
 * engine decides.  The analyzer reuses the same evaluator, so there is
 * one copy of the rules.
 *
 * Compiled policies are immutable and reference counted; they may be
 * shared by any number of threads.  policy_cache_get() keeps compiled forms
 * keyed by the document text, so a policy is parsed once, not per request.
 */
#ifndef TR_POLICY_H
#define TR_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/result.h"

/* What a document is; the validation rules differ (docs/AUTHORIZATION.md 3.1). */
enum policy_kind {
    POLICY_IDENTITY,   /* user/group/role inline or managed policy, permissions
                          boundary, session policy: Principal/NotPrincipal refused */
    POLICY_RESOURCE,   /* a resource policy (Secrets Manager): Principal required */
    POLICY_TRUST,      /* a role trust policy: Principal required; sts: actions */
    POLICY_KEY,        /* a KMS key policy: Principal required */
};

struct policy;         /* compiled, immutable */

/* Parse and validate.  Failures are TR_E_POLICY_MALFORMED with AWS's
 * message for IAM ("Syntax errors in policy.", "Policy document should not
 * specify a principal.", "Missing required field Principal", "Invalid
 * principal in policy: ...", ...); callers of other services map the code
 * to their own error type (KMS: MalformedPolicyDocumentException). */
TR_RESULT policy_compile(const char *text, size_t len, enum policy_kind kind,
                         struct policy **out);
/* A compiled policy for `text`, from the process-wide cache when present
 * (compiled and inserted otherwise).  Returns a new reference. */
TR_RESULT policy_cache_get(const char *text, size_t len, enum policy_kind kind,
                           struct policy **out);
/* The same for a stored resource, key or trust policy with its binding
 * (docs/internals/IAM_STORE.md, "Principals bound by identity"): `ids`
 * is the JSON object saved with the policy, from each user or role ARN
 * it names to the unique id (AIDA..., AROA...) that ARN was bound to when
 * the policy was saved.  Such a principal then matches that user, or
 * that role's sessions, whatever its name is now -- and never another
 * user or role given the same name later; a user or role ARN missing
 * from the binding matches nothing.  ids NULL or "": no binding (a policy
 * saved before bindings existed, or an identity policy): user and role
 * ARNs match by ARN.  A binding that is not such an object is an internal
 * error (failing closed). */
TR_RESULT policy_compile_bound(const char *text, size_t len, enum policy_kind kind,
                               const char *ids, struct policy **out);
TR_RESULT policy_cache_get_bound(const char *text, size_t len, enum policy_kind kind,
                                 const char *ids, struct policy **out);
/* A policy the store holds (an identity, key, resource or trust policy,
 * with its binding `ids` as for policy_cache_get_bound; NULL for identity
 * policies), compiled through the cache under the one fail-closed rule of
 * docs/AUTHORIZATION.md 2.9: a document that no longer compiles is
 * replaced by a policy that explicitly denies every action on every
 * resource to every principal (one Deny statement, Sid
 * StoredPolicyDoesNotCompile), and a warning naming it -- never quoting it
 * -- goes to the log.  name: for an identity policy its name (a managed
 * policy's ARN, "inline:<entity ARN>:<name>"), for the others the ARN of
 * the resource it belongs to.  Every reader of a stored policy uses this,
 * never policy_cache_get or policy_cache_get_bound.  Fails only as
 * policy_cache_get_bound does for other reasons than the document (out of
 * memory, a binding that is not an object: internal errors). */
TR_RESULT policy_cache_get_stored(const char *text, size_t len, enum policy_kind kind,
                                  const char *ids, const char *name, struct policy **out);
/* Drop every cached policy (tests, shutdown); holders keep their references. */
void policy_cache_clear(void);
/* Entries in the cache (at most a fixed bound; tests). */
size_t policy_cache_size(void);
struct policy *policy_ref(struct policy *p);
void policy_unref(struct policy *p);

size_t policy_statement_count(const struct policy *p);
/* The Sid of statement i, or NULL. */
const char *policy_statement_sid(const struct policy *p, size_t i);
/* The Version of the document ("2012-10-17", "2008-10-17"; "" when absent). */
const char *policy_version(const struct policy *p);
/* For principal validation by the caller: call fn for every AWS principal
 * string named in Principal/NotPrincipal (the caller checks existence). */
TR_RESULT policy_each_aws_principal(const struct policy *p,
                                    TR_RESULT (*fn)(void *arg, const char *principal),
                                    void *arg);
/* The same for every Federated principal string (an identity provider's
 * ARN or a domain such as "cognito-identity.amazonaws.com"). */
TR_RESULT policy_each_federated_principal(const struct policy *p,
                                          TR_RESULT (*fn)(void *arg, const char *principal),
                                          void *arg);
/* The same with the unique id each user or role ARN was bound to when
 * the policy was saved (policy_compile_bound): the id the evaluator
 * matches instead of the ARN ("" bound to nothing), or NULL when the
 * principal is matched as written (no binding, or not a user or role
 * ARN).  The analyzer's index of who a trust policy can admit needs it:
 * a bound ARN names the user or role by id, whatever its name is now. */
TR_RESULT policy_each_aws_principal_bound(const struct policy *p,
                                          TR_RESULT (*fn)(void *arg, const char *principal,
                                                          const char *bound_id),
                                          void *arg);

/* ---- the request ------------------------------------------------------ */

/* One condition key of the request context.  Keys match
 * case-insensitively (including suffixes like kms:EncryptionContext:k). */
struct ctx_entry {
    const char *key;             /* "aws:SourceIp", "kms:EncryptionContext:Dept" */
    const char *const *values;   /* n values (n >= 1; n == 0 only for an empty multi-valued key) */
    size_t n;
    bool multi;                  /* a multi-valued key (kms:EncryptionContextKeys, aws:TagKeys, ...) */
    bool unknown;                /* value unknown (static analysis): conditions on it are
                                    reported, not decided (see eval_result.conditional) */
    bool identity_only;          /* absent when the resource policy is evaluated: KMS
                                    supports aws:ResourceTag/<k> and kms:ResourceAliases
                                    "in IAM policies only", never in key policies (KMS
                                    developer guide, "ABAC for AWS KMS") */
};

enum eval_principal_type {
    EP_ROOT = 0,                 /* arn:aws:iam::A:root */
    EP_USER = 1,                 /* arn:aws:iam::A:user/path/name */
    EP_ROLE_SESSION = 2,         /* arn:aws:sts::A:assumed-role/name/session */
    EP_ANONYMOUS = 3,            /* unauthenticated (matches only "*") */
    EP_WEB_IDENTITY = 4,         /* a verified web identity token (AssumeRoleWithWebIdentity):
                                    arn is its OpenID Connect provider's ARN, which a
                                    {"Federated": ARN} principal names */
};

struct eval_principal {
    enum eval_principal_type type;
    const char *arn;             /* the caller's ARN (the session ARN for sessions) */
    const char *account;         /* 12 digits */
    const char *role_arn;        /* sessions: arn:aws:iam::A:role/path/name; else NULL */
    /* The user's unique id (AIDA...), or the unique id of a session's role
     * (AROA...), unique_id_len bytes; NULL for root and anonymous callers.
     * Principals named by unique id, and bound ones, match on it. */
    const char *unique_id;
    size_t unique_id_len;
};

struct eval_request {
    struct eval_principal who;
    const char *action;          /* "kms:Decrypt" */
    const char *resource;        /* the resource ARN; "*" for account-level actions */
    const char *resource_account;/* the account that owns the resource */
    const struct ctx_entry *ctx; /* every condition key the request has, including
                                    aws:PrincipalArn, aws:username, aws:userid, ... */
    size_t nctx;
};

/* ---- the policies that apply ----------------------------------------- */

struct named_policy {
    const struct policy *p;
    const char *name;            /* evidence label: a managed policy ARN, "inline:user/alice/p1",
                                    "key-policy:<key arn>", "trust:<role arn>", ... */
};

/* One level of an AWS Organizations hierarchy above an account -- the
 * root, an OU, the account itself -- with the control policies attached
 * to it (docs/AUTHORIZATION.md 2.10): every level must allow, a Deny at
 * any level is final.  target: "r-ab12", "ou-ab12-11111111", or the
 * account id, for the explanations. */
struct org_level {
    const char *target;
    const struct named_policy *pols;
    size_t n;
};

/* The service control policies over the caller's account, or the
 * resource control policies over the resource's account: the levels from
 * the root down.  n == 0 (or a NULL pointer in the policy set): none
 * apply -- no organization, the management account, a service-linked
 * role, a service RCPs do not cover.  tresor's own store has no
 * Organizations, so it never sets them. */
struct org_limits {
    const struct org_level *levels;
    size_t n;
};

enum resource_mode {
    RES_NONE,       /* no resource policy (IAM, STS GetSessionToken, account-level actions) */
    RES_UNION,      /* Secrets Manager: same account, identity OR resource policy suffices */
    RES_REQUIRED,   /* KMS key policy, role trust policy: the resource policy must allow,
                       directly, or by naming the account, which delegates to identity policies */
};

struct policy_set {
    const struct named_policy *identity;    /* user inline+attached+groups'; role's */
    size_t nidentity;
    const struct named_policy *boundary;    /* permissions boundary, NULL when none */
    const struct named_policy *session;     /* session policies (inline Policy + PolicyArns) */
    size_t nsession;
    bool session_present;                   /* session policies were passed */
    const struct named_policy *resource;    /* resource/key/trust policy, NULL when none */
    enum resource_mode mode;
    bool root_identity;                     /* the caller is an account root user: its identity
                                               side allows everything in its own account */
    const struct org_limits *scp;           /* SCPs over the caller's account; NULL: none */
    const struct org_limits *rcp;           /* RCPs over the resource's account; NULL: none */
};

/* ---- the decision ----------------------------------------------------- */

enum decision { DECISION_IMPLICIT_DENY = 0, DECISION_ALLOW = 1, DECISION_EXPLICIT_DENY = 2 };

/* Which kind of policy denied: picks the wording of AccessDenied messages
 * (IAM troubleshoot_access-denied: "because no identity-based policy
 * allows", "with an explicit deny in a resource-based policy", ...). */
enum policy_type_word {
    PT_NONE = 0, PT_IDENTITY, PT_RESOURCE, PT_BOUNDARY, PT_SESSION,
    PT_SCP, PT_RCP,   /* a service / resource control policy (Organizations) */
};
/* Its one-word name, for traces and the audit log: "identity",
 * "resource", "boundary", "session", "scp", "rcp", else "policy". */
const char *policy_type_name(enum policy_type_word t);

enum stmt_effect { EFFECT_ALLOW = 0, EFFECT_DENY = 1 };

struct stmt_ref {
    const struct named_policy *policy;   /* points into the policy_set */
    size_t index;                        /* statement index in the document */
    const char *sid;                     /* or NULL */
    enum stmt_effect effect;
    enum policy_type_word type;
};

/* How the resource policy named the caller (docs/AUTHORIZATION.md 2.3 table). */
enum principal_match {
    PM_NONE = 0,
    PM_ACCOUNT,      /* "A" / arn:aws:iam::A:root: delegation to the account */
    PM_ROLE,         /* the role ARN of the caller's session */
    PM_DIRECT,       /* the user ARN or the session ARN itself */
    PM_EVERYONE,     /* "*" */
};

#define EVAL_MAX_REFS 16

struct eval_result {
    enum decision decision;
    enum policy_type_word deny_type;  /* for DENY: which kind of policy decided */
    enum principal_match resource_match;
    /* ALLOW: one deciding Allow per policy type that had to allow;
     * EXPLICIT_DENY: the denying statement(s);
     * IMPLICIT_DENY: none (deny_type names the type that lacked an Allow). */
    struct stmt_ref refs[EVAL_MAX_REFS];
    size_t nrefs;
    /* Static analysis: the decision depends on context keys marked
     * unknown.  decision is then what holds if those conditions are true,
     * and cond_refs name the statements whose conditions were assumed. */
    bool conditional;
    struct stmt_ref cond_refs[EVAL_MAX_REFS];
    size_t ncond_refs;
    /* Deny statements that name the request but whose conditions are
     * false: checked, not applying (the explanations list them). */
    struct stmt_ref checked_denies[EVAL_MAX_REFS];
    size_t nchecked_denies;
    /* A denial by an SCP or RCP level that has no applying Allow
     * (deny_type PT_SCP or PT_RCP, no refs): that level's target. */
    const char *org_target;
};

/* Decide.  Pure: reads rq and ps only.  docs/AUTHORIZATION.md 2.2:
 * explicit deny anywhere (SCPs and RCPs included) -> EXPLICIT_DENY; an
 * SCP or RCP level without an applying Allow -> EXPLICIT_DENY too
 * (deny_type PT_SCP/PT_RCP, org_target its level: 2.10); then the resource-policy rule
 * of ps->mode with the 2.3 table for same-account callers, both sides for
 * cross-account callers (2.4); identity policies; boundary; session. */
TR_RESULT policy_evaluate(const struct eval_request *rq, const struct policy_set *ps,
                          struct eval_result *out);

/* AWS's AccessDenied wording for a denied result:
 * "User: <arn> is not authorized to perform: <action> on resource: <resource>
 *  because no identity-based policy allows the <action> action"
 * "... with an explicit deny in a resource-based policy". */
void policy_denied_message(const struct eval_request *rq, const struct eval_result *r,
                           const char *resource_as_given, char *out, size_t n);

/* Static analysis prefilter (the analyzer): whether some Allow statement
 * of p could apply to `action` on `resource` (NULL: any resource) for
 * `who` (NULL: any caller; checked only against statements that have a
 * Principal), whatever the request context: conditions are ignored and
 * resource patterns with policy variables count as matching.  false means
 * p allows nothing of the kind -- a necessary condition for any Allow,
 * never a decision. */
bool policy_may_allow(const struct policy *p, const struct eval_principal *who,
                      const char *action, const char *resource);

/* An index for policy_may_allow without a caller (the analyzer asks it of
 * thousands of policies for each resource): the literal heads of the
 * resource patterns through which an Allow statement of p could apply to
 * `action`.  Calls fn once per such pattern with its text up to its first
 * wildcard (`*` or `?`), the whole text when it has none.  Returns false
 * -- "any resource may do" -- when a statement could apply whatever the
 * resource: no Resource element, NotResource, a pattern with policy
 * variables, one that can never match, or one that starts with a
 * wildcard.  The contract: when it returns true, policy_may_allow(p, who,
 * action, R) for any who and R implies that fn was called with a head
 * that is a prefix of R (case-sensitively, as resources match). */
bool policy_may_allow_heads(const struct policy *p, const char *action,
                            void (*fn)(void *arg, const char *head, size_t len), void *arg);

/* Whether any statement of p reads a context key that starts with
 * `prefix` (case-insensitively): a Condition on it, or a policy variable
 * ${key} in a Resource pattern or a condition value.  The analyzer asks
 * it to know that a decision does not depend on a key it varies (the
 * encryption context of a secret's version); false for p NULL. */
bool policy_mentions_key(const struct policy *p, const char *prefix);

/* Matching primitives, exposed for KMS grants, the analyzer and tests. */
bool policy_action_match(const char *pattern, const char *action);   /* case-insensitive glob */
bool policy_arn_match(const char *pattern, const char *arn);         /* case-sensitive glob */

#endif
