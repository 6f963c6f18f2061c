/*
 * analyze.h -- "who can decrypt this secret, and why" (docs/AUTHORIZATION.md 7).
 *
 * Built once per account set: the principals (every IAM user and role,
 * each account root user, accounts named by policies that the store does
 * not hold) and the sts:AssumeRole graph between them (graph.c).  Decided
 * per (principal, secret): secretsmanager:GetSecretValue on the secret,
 * kms:Decrypt on its key as Secrets Manager asks it, the secret live and
 * the key Enabled (who_can.c).  Every decision is the server's own code
 * (sm_authorize_explain, kms_authorize_explain, iam_authorize with the
 * trust policy as STS calls it): there is no second copy of the rules.
 * Printed as text or JSON by report.c (schema: docs/WHO_CAN_DECRYPT.md).
 */
#ifndef TR_ANALYZE_H
#define TR_ANALYZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "kms/kms.h"
#include "op/op.h"
#include "secrets/secrets.h"
#include "store/store.h"

#define AZ_MAX_HOPS 4     /* assume-role hops followed from a principal */
#define AZ_EV_MAX 1024

/* AZ_ANYONE: one node per graph, "any principal of an account the store
 * does not hold and no policy names" (ARN and account "*"): a user of
 * account "*" whose own IAM -- not visible -- is taken to allow everything,
 * decided by the real rules against the secret's, key's and trust
 * policies.  It reads only through a policy that admits "*" with
 * conditions such a stranger can meet, so its answers are always
 * conditional (its own IAM must allow too). */
enum az_kind { AZ_ROOT, AZ_USER, AZ_ROLE, AZ_FOREIGN, AZ_ANYONE };
#define AZ_ANYONE_ARN "*"

struct identity;

/* A principal's facts (facts.c, az_facts_unpack), as the graph reads
 * them.  One list of heads or accounts: */
struct az_heads {
    bool present;                /* false: no statement may allow it (trust_accounts: not said) */
    bool any;                    /* "*": any resource may do */
    const char *const *v;        /* else its n entries (heads in byte order; accounts in
                                    the trust policy's) */
    size_t n;
};
struct az_fact {
    char *arn;
    struct az_heads assume, gsv, trust_accounts;
    bool escalate;
    size_t order;                /* its place in the packed list */
};
/* Every principal's, sorted by ARN (az_facts_find); the strings owned. */
struct az_facts {
    struct az_fact *v;
    size_t n;
    char **strs;                 /* the heads, then the accounts */
    size_t nstrs;
    const char **refs;           /* the lists' entries */
};

struct az_node {
    enum az_kind kind;
    char arn[PRINCIPAL_ARN_MAX]; /* root, user or role ARN; arn:aws:iam::X:root when foreign */
    char account[ACCOUNT_ID_LEN + 1];
    struct principal who;        /* how it calls (a role: a session of it) */
    struct identity *id;         /* its identity side, loaded once (foreign and AZ_ANYONE:
                                    one policy allowing everything, as not visible) */
    bool may_assume;             /* some identity statement may allow sts:AssumeRole */
    struct policy *trust;        /* a role's compiled trust policy, or NULL */
    char *trust_doc;             /* ... and its text (federated.c reads its statements) */
    char *role_doc;              /* trust_lazy: its entity document ("trust", "trust_ids"),
                                    read by az_graph_trust */
    bool trust_lazy;             /* trust not compiled yet (az_graph_build_facts: the facts
                                    name the accounts it names); az_graph_trust compiles it */
    size_t *gsv_pols;            /* indices in az_graph.gsv_pol of its identity policies
                                    that may allow GetSecretValue somewhere */
    size_t ngsv_pols;
    bool deferred;               /* its identity side not loaded yet (az_graph_build_facts):
                                    `facts` says what it may allow; az_graph_load loads it */
    const struct az_fact *facts; /* deferred: its entry of the prepared snapshot's facts */
    bool into_done;              /* the edges into this role are computed */
    signed char reads_ec;        /* its identity side reads kms:EncryptionContext*:
                                    1 yes, -1 no, 0 not yet asked (who_can.c's memo) */
    size_t first_out, first_in;  /* edge lists (SIZE_MAX: none) */
};

/* from may assume the role `to` (trust policy and, where needed, from's
 * identity policies). */
struct az_edge {
    size_t from, to;
    bool conditional;
    char session[65];            /* "": as any session of `from`; else only as the session of
                                    this name the trust policy names (a conditional edge) */
    bool public_trust;           /* from is AZ_ANYONE and the trust policy sets no condition:
                                    any principal of any account may assume `to` */
    size_t next_out, next_in;    /* the next edge out of `from` (by `to`, descending), into `to` */
    char evidence[AZ_EV_MAX];
};

struct az_head {
    char *s;                     /* the head (not NUL-terminated past len) */
    size_t len;
    size_t pol;                  /* its policy: an index in az_graph.gsv_pol */
};

struct az_graph {
    struct az_node *n;
    size_t nn, capn;
    struct az_edge *e;
    size_t ne, cape;
    const struct server_env *env;
    bool lazy;                   /* edges into a role computed when first needed */
    bool exhaustive;             /* the edges into a role decided for every node, not only
                                    the candidates its trust policy names (graph.c's index):
                                    the tests' reference, never the CLI's */
    bool uncollected;            /* answering from snapshots: a foreign account is one
                                    no snapshot holds, and the answers say "not collected" */
    size_t *stamp;               /* scratch: per node (candidate dedup) */
    size_t nstamp, stamp_gen;
    /* The distinct identity policies (shared ones once) that may allow
     * secretsmanager:GetSecretValue on some resource: az_who_can asks each
     * once per secret instead of once per principal. */
    const struct policy **gsv_pol;
    size_t ngsv_pol;
    /* Their index by resource (az_gsv_may): the literal head of every
     * resource pattern through which one may allow GetSecretValue
     * (policy_may_allow_heads), sorted; and the policies that have no
     * such head (they may allow it on any resource). */
    struct az_head *gsv_head;
    size_t ngsv_head;
    size_t *gsv_any;
    size_t ngsv_any;
    /* The other way round: the nodes that hold gsv_pol[k] are
     * gsv_node[gsv_node_at[k] .. gsv_node_at[k + 1]); and the nodes the
     * prefilter never denies (a foreign node, a root user, a node without
     * an identity side), so that a secret's candidates come from the
     * policies that may allow, not from a pass over every node. */
    size_t *gsv_node, *gsv_node_at;
    size_t *gsv_always;
    size_t ngsv_always;
    size_t gsv_nn;               /* nodes when these were made: later ones (foreign accounts
                                    added by az_graph_add_foreign) are never denied by it */
    size_t *by_arn;              /* node indices sorted by ARN (az_graph_find), when nby_arn
                                    == nn; else az_graph_find scans */
    size_t nby_arn;
    size_t *by_id;               /* user and role nodes sorted by unique id (graph.c's
                                    trust-policy index) */
    size_t nby_id;
    const struct az_facts *facts; /* az_graph_build_facts: the facts the deferred nodes read
                                     (the caller's: they outlive the graph) */
    struct iam_load_memo *memo;  /* ... and the memo their identities load through */
    bool gsv_stale;              /* a node was loaded since the gsv index was made */
    struct az_kms_memo *kms_memo; /* who_can.c: KMS decisions per (node, key, region) that
                                    no secret's encryption context can change */
};

/* Free g->kms_memo (az_graph_free calls it). */
void az_kms_memo_free(struct az_graph *g);

/* may[k] (k < g->ngsv_pol) set to whether g->gsv_pol[k] may allow
 * secretsmanager:GetSecretValue on `resource` -- policy_may_allow(pol,
 * NULL, action, resource), asked only of the policies the index cannot
 * rule out (a head that is a prefix of the resource, or none at all); the
 * others cannot allow it and get false.  The same values as asking every
 * policy (tests/unit/analyze_index_test.c compares them). */
void az_gsv_may(const struct az_graph *g, const char *resource, unsigned char *may);

/* The principals of `accounts` and of every account their roles' trust
 * policies name (transitively), each principal's identity side loaded
 * once, and the assume-role edges between them. */
TR_RESULT az_graph_build(const struct server_env *env, const char *const *accounts,
                         size_t naccounts, struct az_graph *g);
/* The same; with lazy, the edges into a role are computed only when an
 * answer needs them (az_who_can asks for the roles that lead to a
 * reader), so one secret does not pay for the whole graph.
 * az_graph_edges_all completes a lazy graph (--explain lists every role a
 * principal can assume). */
TR_RESULT az_graph_build_opts(const struct server_env *env, const char *const *accounts,
                              size_t naccounts, bool lazy, struct az_graph *g);
/* The same, lazy, with the identities of the users and roles that have
 * an entry in `facts` (as a prepared snapshot holds them, az_facts_unpack;
 * the caller's, freed after the graph) deferred: each is loaded
 * (az_graph_load) only when an answer needs it -- a GetSecretValue
 * candidate for the secret (az_who_can), a candidate to assume a role
 * whose edges are needed, one that may hold an escalation action
 * (az_escalations).  The answers are those of az_graph_build_opts. */
TR_RESULT az_graph_build_facts(const struct server_env *env, const char *const *accounts,
                               size_t naccounts, const struct az_facts *facts, struct az_graph *g);
/* Load node i's identity side if it is deferred. */
TR_RESULT az_graph_load(struct az_graph *g, size_t i);
/* Compile role node i's trust policy if it is deferred (trust_lazy). */
TR_RESULT az_graph_trust(struct az_graph *g, size_t i);
/* The account a principal string names ("123456789012",
 * "arn:aws:iam::123456789012:...", "arn:aws:sts::..."): false if none. */
bool az_principal_account(const char *p, char out[ACCOUNT_ID_LEN + 1]);
/* Whether deferred node n's facts say an identity policy may allow
 * `which` ("assume": sts:AssumeRole, "gsv": GetSecretValue) on resource
 * (a head of its facts starts it, or any resource may do). */
bool az_facts_may(const struct az_node *n, const char *which, const char *resource);
/* The gsv index (az_gsv_may, gsv_node...) again, when nodes were loaded
 * since it was made. */
TR_RESULT az_graph_reindex(struct az_graph *g);
TR_RESULT az_graph_edges_into(struct az_graph *g, size_t role);
TR_RESULT az_graph_edges_all(struct az_graph *g);
void az_graph_free(struct az_graph *g);
/* The node whose arn is `arn` (a user, role or root ARN), or SIZE_MAX. */
size_t az_graph_find(const struct az_graph *g, const char *arn);
/* Does session ARN `session` (arn:aws:sts::A:assumed-role/NAME/S) name a
 * session of role node n (account A, role name NAME)?  *name: S. */
bool az_session_of(const struct az_node *n, const char *session, const char **name);
/* n as its session named by session ARN `session` (az_session_of). */
TR_RESULT az_as_session(const struct az_node *n, const char *session, struct az_node *out);
/* Add a principal of a foreign account (not held by the store). */
TR_RESULT az_graph_add_foreign(struct az_graph *g, const char *account);
/* A principal of `account` (not held by the store) as a policy could
 * name it: named a user ARN, that user; a role ARN, a session of it
 * (session name "*"); a session ARN, that session; NULL, any principal
 * of the account (a user no policy names by ARN).  Decided with its own
 * IAM taken to allow (graph.c), so always conditionally. */
TR_RESULT az_stranger_principal(const char *account, const char *named, struct principal *who);
/* The user, role and session ARNs of `account` that any of pols names
 * (Allow or Deny, any action: the candidates the real rules then
 * decide): *out a strs array (core/array.h), strs_free it. */
TR_RESULT az_stranger_candidates(const struct policy *const *pols, size_t npols,
                                 const char *account, char ***out, size_t *n);
/* A request context that decides as node n (rc zeroed first): env's store
 * and keyring, the clock now, n's principal and its identity as
 * az_graph_build loaded it (borrowed: not the context's to free; when n
 * has none, the first decision loads one, which iam_identity_release
 * frees), in region for service.  Fails (TR_E_INTERNAL) only when region
 * or service is longer than a request context holds. */
TR_RESULT az_ctx_init(struct req_ctx *rc, const struct server_env *env, const struct az_node *n,
                      const char *region, const char *service);

/* The secret under analysis. */
struct az_target {
    struct secret s;
    struct key_rec key;
    bool have_key;               /* the current version's key was found */
    const char *version_id;      /* the current version (AWSCURRENT); NULL when none */
    bool live;                   /* not pending deletion, has a value, key Enabled */
    char why_not_live[256];
    char **named;                /* accounts and "*" named by the resource and key policies */
    size_t nnamed, capnamed;     /* (a set: strs_add_unique, core/array.h) */
    char **sessions;             /* role session ARNs (arn:aws:sts::A:assumed-role/R/S) named
                                    by the resource policy, the key policy or a grant */
    size_t nsessions, capsessions;
    bool everyone_rp, everyone_kp; /* the resource / key policy names "*" */
    bool rp_broken, kp_broken;   /* ... no longer compiles (so it denies everything) */
    bool kp_reads_ec;            /* the key policy, or an SCP or RCP, reads
                                    kms:EncryptionContext* (a condition or a variable):
                                    its decisions vary with the secret */
    struct policy *rp;           /* the compiled resource policy, or NULL */
    struct policy *kp;           /* the compiled key policy, or NULL */
    struct alias_rec *key_aliases;   /* the key's aliases and tags (kms:ResourceAliases, */
    struct tag_rec *key_tags;        /* aws:ResourceTag/<k>), read once for every principal */
    struct kms_key_attrs attrs;
};

/* Load SECRET (name or ARN; a name is looked up in account/region). */
TR_RESULT az_target_load(const struct server_env *env, const char *secret, const char *account,
                         const char *region, struct az_target *t);
/* The same from a stored secret entity (what-can-decrypt walks them). */
TR_RESULT az_target_from_ent(const struct server_env *env, const struct ent_rec *e,
                             struct az_target *t);
/* --with-key: the same secret as if its current version were sealed under
 * `key`: a key id, key ARN, alias name or alias ARN, resolved as KMS
 * resolves a KmsKeyId in the secret's account and region (kms_resolve);
 * TR_E_KMS_NOT_FOUND with KMS's message when there is no such key or
 * alias ("Alias arn:aws:kms:R:A:alias/x is not found."). */
TR_RESULT az_target_with_key(const struct server_env *env, struct az_target *t, const char *key);
void az_target_free(struct az_target *t);
/* Every account of the store plus `extra` (accounts named by policies,
 * "*" skipped): *out an array of ids, free() it. */
TR_RESULT az_accounts(store_t st, char *const *extra, size_t nextra,
                      char (**out)[ACCOUNT_ID_LEN + 1], size_t *n);

/* One principal's own access (no assume-role). */
struct az_access {
    bool gsv, kms, ok, conditional;
    bool unasked;                /* holds the prefilter's denial (who_can.c quick_denial and
                                    nothing else), which is the same for every secret: --all
                                    leaves it as it is rather than write ~2 KB again */
    enum decision gsv_decision;
    const char *kms_source;      /* "key-policy", "grant", "managed-key" (the key policy of
                                    aws/secretsmanager), "" */
    char gsv_ev[AZ_EV_MAX];      /* deciding statements, or the AccessDenied message */
    char kms_ev[AZ_EV_MAX];
    char grant_id[65];           /* kms_source "grant": the grant's id */
    char session[65];            /* a role that reads only as a session a policy or grant
                                    names: that session's name (the caller's choice, so the
                                    answer is conditional); else "" */
};
/* quick: a principal none of whose policies could allow GetSecretValue
 * on the secret (policy_may_allow over its identity policies and the
 * secret's resource policy) is denied without evaluating, with a short
 * evidence line instead of AWS's AccessDenied message; the KMS step is
 * decided only when GetSecretValue is allowed.  The answers are the same. */
TR_RESULT az_decide(const struct server_env *env, const struct az_node *n,
                    const struct az_target *t, bool quick, struct az_access *out);

/* The answer for one principal: the path (node indices, from the
 * principal to the final actor) and the final actor's access. */
struct az_answer {
    size_t node;
    bool can;
    bool conditional;
    size_t path[AZ_MAX_HOPS + 1];
    size_t edges[AZ_MAX_HOPS];
    size_t npath;                /* nodes in path (1: direct) */
    size_t cut_at;               /* !can, and this node can assume role cut_at, which is
                                    AZ_MAX_HOPS hops from a reader: a longer chain, not
                                    followed (the answer says so); else SIZE_MAX */
};

/* Decide every node of g against t: acc[g->nn] (each node's own access,
 * az_decide with `quick`) and ans[g->nn] (reachability over the
 * assume-role edges; a lazy graph gets the edges it needs). */
TR_RESULT az_who_can(const struct server_env *env, struct az_graph *g,
                     const struct az_target *t, bool quick, struct az_access *acc,
                     struct az_answer *ans);

/* escalate.c: principals that cannot read S but hold a permission that
 * lets them change the answer (resource policy, key policy, grant, their
 * own IAM policies, another reader's access key or trust policy). */
struct az_escalation {
    size_t node;
    size_t via;                  /* the role whose permission it is, reached by AssumeRole
                                    (SIZE_MAX: node's own) */
    char action[64];
    char resource[PRINCIPAL_ARN_MAX];
    char evidence[AZ_EV_MAX];
    bool conditional;            /* holds only if request-time conditions hold (the
                                    permission's, or a hop's on the way to `via`) */
};
TR_RESULT az_escalations(const struct server_env *env, struct az_graph *g,
                         const struct az_target *t, const struct az_answer *ans,
                         struct az_escalation **out, size_t *n);

/* The actions az_escalations asks about, from escalate_actions.def (the
 * one list): AZ_ESCALATION_ACTIONS[AZ_ESC_<id>] is row <id>'s action, and
 * [AZ_NESC] is NULL.  escalate.c's checks name no action of their own, and
 * a prepared snapshot's "escalate" fact (facts.c) asks every row. */
enum az_esc_action {
#define ESC(id, action, where) AZ_ESC_##id,
#include "analyze/escalate_actions.def"
    AZ_NESC
};
extern const char *const AZ_ESCALATION_ACTIONS[AZ_NESC + 1];
/* A row's `where`: the policies besides the principal's own its check
 * consults (escalate_actions.def); AZ_ESCALATION_WHERE[AZ_ESC_<id>]. */
enum az_esc_where { AZ_ESC_IDENTITY, AZ_ESC_SECRET_RP, AZ_ESC_KEY_POLICY };
extern const enum az_esc_where AZ_ESCALATION_WHERE[AZ_NESC];

/* facts.c: the facts building the graph asks of each user's and role's
 * identity policies in `accounts` (held by st), as a JSON array of
 * {"arn", "assume"?, "gsv"?, "escalate"} (docs/SNAPSHOTS.md, "Principal
 * facts"): "assume" and "gsv" the heads of the resource patterns through
 * which sts:AssumeRole and secretsmanager:GetSecretValue may be allowed
 * (an array in byte order, or "*" for any resource; absent: never
 * allowed), "escalate" whether one of AZ_ESCALATION_ACTIONS may be. */
TR_RESULT az_principal_facts(store_t st, const char *const *accounts, size_t naccounts, json_t **out);
/* The facts as a prepared snapshot holds them (since prepared format 5),
 * in fewer bytes to parse: {"heads": [...], "accounts": [...],
 * "principals": [[k, "rest", escalate, assume, gsv, trust_accounts],
 * ...]}.  Each string of "heads" (every head, sorted, once) and
 * "accounts" (every trust account, sorted, once), and each principal's
 * ARN, is front coded: [k, "rest"] is the first k bytes of the one before
 * it followed by rest.  escalate is 0 or 1; assume and gsv 0 (absent), "*"
 * or the indices of their heads; trust_accounts 0 (absent) or the indices
 * of its accounts, in its order.  az_facts_unpack gives back what
 * az_principal_facts' array says, as C structures the graph reads
 * (TR_E_VALIDATION when packed is not one, or a trust account is not 12
 * digits). */
TR_RESULT az_facts_pack(const json_t *facts, json_t **out);
TR_RESULT az_facts_unpack(const json_t *packed, struct az_facts **out);
void az_facts_free(struct az_facts *f);
/* The entry of f for arn (the last of the packed order when it names arn
 * twice), or NULL. */
const struct az_fact *az_facts_find(const struct az_facts *f, const char *arn);

/* federated.c: the federated readers (docs/WHO_CAN_DECRYPT.md,
 * "Federated readers"): tokens of an OpenID Connect provider that a
 * role's trust policy lets call sts:AssumeRoleWithWebIdentity, one per
 * (provider, role, statement), for every role that can read (ans[role].can:
 * the role's permissions, boundary and onward path decide as for any
 * other way into the role).  The trust decision is the server's own
 * (policy_evaluate as a web identity caller, the token's claims unknown),
 * so a Deny in the trust policy removes the reader. */
struct az_fed {
    size_t role;
    char provider[PRINCIPAL_ARN_MAX]; /* the provider ARN; "*" for "Principal": "*" */
    char issuer[PRINCIPAL_ARN_MAX];   /* its host/path ("*": any issuer) */
    bool provider_exists;             /* the store holds the provider */
    bool any_token;                   /* no condition on the issuer's sub claim */
    bool conditional;                 /* the role's own answer is conditional */
    char statement[136];              /* the statement's Sid, else its index */
    json_t *conditions;               /* [{"key","operator","values":[...]}] */
};
TR_RESULT az_federated(const struct az_graph *g, const struct az_answer *ans, struct az_fed **out,
                       size_t *n);
void az_federated_free(struct az_fed *v, size_t n);
/* "tokens of issuer X whose sub matches V (StringLike) ... can read,
 * through role R (statement S)": one line, into out. */
void az_federated_words(const struct az_graph *g, const struct az_fed *f, char *out, size_t n);
json_t *az_federated_json(const struct az_graph *g, const struct az_fed *f);

/* report.c */
enum az_format { AZ_TEXT, AZ_JSON, AZ_DOT, AZ_HTML };  /* AZ_HTML: report_html.h */
void az_report(const struct az_graph *g, const struct az_target *t, const struct az_access *acc,
               const struct az_answer *ans, enum az_format f);
/* The "can gain access" list: text (a section) or JSON (printed alone,
 * or added to `o` as "canGainAccess" when o is non-NULL). */
void az_report_escalations(const struct az_graph *g, const struct az_escalation *e, size_t n,
                           enum az_format f, json_t *o);
/* The JSON object az_report prints (--all gathers them). */
json_t *az_report_json(const struct az_graph *g, const struct az_target *t,
                       const struct az_access *acc, const struct az_answer *ans);
/* The same object, with "gaps" (a list of strings, or NULL for none)
 * last, appended to out as json_dumps(JSON_COMPACT | JSON_PRESERVE_ORDER)
 * of az_report_json's tree would write it, byte for byte, with no tree
 * built (--all writes millions of them).  Where jansson refuses to make a
 * value (text that is not UTF-8: json_pack fails), the member or element
 * it would have held is left out, as the tree leaves it out.  On failure
 * (out of memory, out's cap) out is as it was. */
TR_RESULT az_report_json_buf(const struct az_graph *g, const struct az_target *t,
                             const struct az_access *acc, const struct az_answer *ans,
                             const json_t *gaps, struct buf *out);
/* what-can-decrypt, streamed one secret at a time so that memory follows
 * the answer, not principals x secrets: _begin prints the head; _one, for
 * a secret t that node's answer a can read (nothing otherwise), prints
 * its JSON object, or its text table row now and its paths into `paths`
 * (a memory stream: the text prints them after the table); *count counts
 * them; _end closes the document (text: "(none)", then the paths, then
 * the GAPS; JSON: "gaps" after "secrets" -- gaps, a list of strings, only
 * when answering from snapshots, else NULL).
 * AZ_HTML: the page of report_html.h, one block per secret.  They fail
 * only when out of memory or, for the page, when writing failed. */
TR_RESULT az_report_principal_begin(const struct az_graph *g, size_t node, enum az_format f);
TR_RESULT az_report_principal_one(const struct az_graph *g, const struct az_target *t,
                                  const struct az_access *acc, const struct az_answer *a,
                                  enum az_format f, FILE *paths, size_t *count);
TR_RESULT az_report_principal_end(size_t count, enum az_format f, const char *paths, size_t npaths,
                                  const json_t *gaps);
/* --diff: who gains and who loses access between two answers over g
 * (before: the secret as it is; after: --with-key). */
void az_report_diff(const struct az_graph *g, const struct az_target *before,
                    const struct az_answer *ans_before, const struct az_target *after,
                    const struct az_answer *ans_after, enum az_format f);
/* --explain: one principal's hops with their decisions. */
void az_explain(const struct az_graph *g, const struct az_target *t, const struct az_access *acc,
                const struct az_answer *ans, size_t node, enum az_format f);

#endif
