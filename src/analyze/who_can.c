/*
 * who_can.c -- may principal Q obtain secret S's plaintext
 * (docs/AUTHORIZATION.md 7)?
 *
 *  (a) secretsmanager:GetSecretValue on S's ARN: sm_authorize_explain,
 *      the decision GetSecretValue makes (identity policies joined with
 *      S's resource policy, RES_UNION; both sides across accounts);
 *  (b) kms:Decrypt on the key of S's current version as Secrets Manager
 *      asks it: kms_authorize_explain with rc.via_service
 *      "secretsmanager.<region>.amazonaws.com" and the encryption context
 *      {SecretARN, SecretVersionId: the AWSCURRENT version}
 *      (docs/AUTHORIZATION.md 5.3): the key policy, IAM by delegation,
 *      grants.  The managed key aws/secretsmanager is decided by its own key
 *      policy the same way;
 *  (c) S not pending deletion, a current value exists, the key Enabled
 *      and in S's region.
 * Then reachability: a principal can read S when it, or a role it can
 * assume in at most AZ_MAX_HOPS hops (graph.c), satisfies (a)-(c).  A
 * principal that reaches a reader only through a longer chain is not
 * listed, and its answer says where the chain was cut (az_answer.cut_at).
 *
 * Cost: with `quick`, a principal none of whose identity policies (nor
 * the secret's resource policy) could allow GetSecretValue on S is denied
 * without an evaluation (policy_may_allow, asked once per distinct policy
 * and secret through az_graph.gsv_pol); the others are decided in full.
 * Reachability walks back from the readers first, so only principals that
 * can reach one get a breadth-first search.
 *
 * A role is evaluated as a session of it without session policies.  A
 * principal of an account the store does not hold has an identity side
 * that is not visible: it is taken to allow everything, and the real
 * rules decide the rest, as each principal of that account the secret's
 * or key's policy could admit (decide_stranger); such answers are always
 * conditional.
 */
#include "analyze/analyze.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "core/str.h"
#include "iam/authz.h"
#include "iam/orgs.h"
#include "kms/kms.h"
#include "op/clock.h"
#include "secrets/authz.h"
#include "secrets/lookup.h"

/* Request-time keys the analysis cannot know (docs/AUTHORIZATION.md 2.8),
 * and GetSecretValue's request parameters:
 * conditions on them are reported ("allowed only if ..."), never decided.
 * The KMS hop made by Secrets Manager has no aws:SourceIp or aws:referer
 * at all, and Secrets Manager as its aws:UserAgent (docs/AUTHORIZATION.md
 * 5.3): those are known, so they are not listed there. */
static const char *const UNKNOWN_CALL[] = {
    "aws:SourceIp", "aws:SourceVpc", "aws:SourceVpce", "aws:CurrentTime", "aws:EpochTime",
    "aws:SecureTransport", "aws:MultiFactorAuthPresent", "aws:MultiFactorAuthAge",
    "aws:TokenIssueTime", "aws:UserAgent", "aws:referer",
    /* GetSecretValue's own parameters: present only when the caller
     * passes VersionStage or VersionId, which it may. */
    "secretsmanager:VersionStage", "secretsmanager:VersionId",
};
static const char *const UNKNOWN_VIA[] = {
    "aws:CurrentTime", "aws:EpochTime", "aws:SecureTransport", "aws:MultiFactorAuthPresent",
    "aws:MultiFactorAuthAge", "aws:TokenIssueTime",
};
/* A role is asked as a session of it: whether that session has a source
 * identity, and which, is the assumer's choice (sts:SourceIdentity), so
 * aws:SourceIdentity is unknown for roles -- and absent, known, for users
 * and root users, whose requests never carry one. */
static const char *const UNKNOWN_VIA_SESSION[] = {
    "aws:CurrentTime", "aws:EpochTime", "aws:SecureTransport", "aws:MultiFactorAuthPresent",
    "aws:MultiFactorAuthAge", "aws:TokenIssueTime", "aws:SourceIdentity",
};
#define SESSION_UNKNOWN "aws:SourceIdentity"
/* kms:EncryptionContext:<k> and kms:EncryptionContextKeys: the only
 * context keys of the KMS hop that differ from one secret to another. */
#define EC_KEYS "kms:EncryptionContext"
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void rc_done(struct req_ctx *rc, const struct az_node *n)
{
    (void)n;
    iam_identity_release(rc);
}

/* ---- the target ------------------------------------------------------------ */

static TR_RESULT named_add(struct az_target *t, const char *what)
{
    return strs_add_unique(&t->named, &t->nnamed, &t->capnamed, what);
}

struct named_ctx {
    struct az_target *t;
    bool star;                   /* the policy names "*" */
};

static TR_RESULT on_named(void *arg, const char *p)
{
    struct named_ctx *c = arg;
    struct az_target *t = c->t;
    if (strcmp(p, "*") == 0) {
        c->star = true;
        return named_add(t, "*");
    }
    if (strncmp(p, "arn:aws:sts::", 13) == 0 && strstr(p, ":assumed-role/"))
        GUARD(strs_add_unique(&t->sessions, &t->nsessions, &t->capsessions, p));
    if (strncmp(p, "arn:aws:iam::", 13) == 0 || strncmp(p, "arn:aws:sts::", 13) == 0) {
        /* The account part whole: a longer one is no account, never the
         * account its first 12 characters would name. */
        char a[ACCOUNT_ID_LEN + 1];
        size_t len = strcspn(p + 13, ":");
        if (len != ACCOUNT_ID_LEN) return TR_OK;
        memcpy(a, p + 13, ACCOUNT_ID_LEN);
        a[ACCOUNT_ID_LEN] = '\0';
        return named_add(t, a);
    }
    if (strlen(p) == ACCOUNT_ID_LEN) return named_add(t, p);
    return TR_OK;
}

/* Note the accounts and "*" the policy names; *star: it names "*";
 * *broken: it no longer compiles (it then names no one, and denies every
 * request it takes part in: docs/AUTHORIZATION.md 2.9). */
static TR_RESULT collect_named(struct az_target *t, const char *text, enum policy_kind kind,
                               bool *star, bool *broken)
{
    struct policy *p = NULL;
    struct named_ctx c = { .t = t };
    *star = *broken = false;
    if (!text || !*text) return TR_OK;
    tr_result r = policy_cache_get(text, strlen(text), kind, &p);
    if (tr_failed(r) && tr_code(r) == TR_E_POLICY_MALFORMED) {
        tr_clear_error();
        *broken = true;
        return TR_OK;
    }
    GUARD(r);
    r = policy_each_aws_principal(p, on_named, &c);
    policy_unref(p);
    *star = c.star;
    return r;
}

static TR_RESULT finish(const struct server_env *env, struct az_target *t, const char *key);

static TR_RESULT on_grantee(void *arg, const char *p)
{
    struct az_target *t = arg;
    if (strncmp(p, "arn:aws:sts::", 13) == 0 && strstr(p, ":assumed-role/"))
        return strs_add_unique(&t->sessions, &t->nsessions, &t->capsessions, p);
    return TR_OK;
}

TR_RESULT az_target_load(const struct server_env *env, const char *secret, const char *account,
                         const char *region, struct az_target *t)
{
    bool found = false;
    tr_result r;

    memset(t, 0, sizeof *t);
    if (strncmp(secret, "arn:", 4) == 0) {
        /* arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME */
        struct req_ctx rc = { .env = env, .st = env->st, .kr = env->kr };
        const char *p = secret;
        for (int i = 0; i < 3 && p; i++) { p = strchr(p, ':'); if (p) p++; }
        if (!p) BAIL(TR_E_SM_RESOURCE_NOT_FOUND, "not a secret ARN: %s", secret);
        /* The region and account whole, or no such secret: a cut one would
         * look the secret up where it is not. */
        size_t rlen = strcspn(p, ":");
        const char *acct = p[rlen] == ':' ? p + rlen + 1 : NULL;
        if (rlen >= sizeof rc.region || !acct || strcspn(acct, ":") != ACCOUNT_ID_LEN)
            BAIL(TR_E_SM_RESOURCE_NOT_FOUND, "no secret %s", secret);
        memcpy(rc.region, p, rlen);
        rc.region[rlen] = '\0';
        memcpy(rc.who.account_id, acct, ACCOUNT_ID_LEN);
        rc.who.account_id[ACCOUNT_ID_LEN] = '\0';
        r = sm_lookup(&rc, secret, &t->s, &found);
    } else {
        r = sm_lookup_name(env->st, account, region, secret, &t->s, &found);
    }
    GUARD(r);
    if (!found) BAIL(TR_E_SM_RESOURCE_NOT_FOUND, "no secret %s", secret);
    return finish(env, t, NULL);
}

TR_RESULT az_target_from_ent(const struct server_env *env, const struct ent_rec *e,
                             struct az_target *t)
{
    memset(t, 0, sizeof *t);
    GUARD(sm_load(env->st, e, &t->s));
    return finish(env, t, NULL);
}

TR_RESULT az_target_with_key(const struct server_env *env, struct az_target *t, const char *key)
{
    if (t->have_key) key_rec_free(&t->key);
    t->have_key = false;
    strs_free(t->named, t->nnamed);
    t->named = NULL;
    t->nnamed = t->capnamed = 0;
    strs_free(t->sessions, t->nsessions);
    t->sessions = NULL;
    t->nsessions = t->capsessions = 0;
    policy_unref(t->rp);
    policy_unref(t->kp);
    t->rp = t->kp = NULL;
    free(t->key_aliases);
    free(t->key_tags);
    t->key_aliases = NULL;
    t->key_tags = NULL;
    memset(&t->attrs, 0, sizeof t->attrs);
    return finish(env, t, key);
}

/* The current version, its key (or `key`, resolved by kms_resolve as
 * Secrets Manager's call to KMS would resolve a KmsKeyId: in the secret's
 * account and region, a key id, key ARN, alias name or alias ARN; an ARN
 * may name another account), liveness, the accounts the policies name. */
static TR_RESULT finish(const struct server_env *env, struct az_target *t, const char *key)
{
    tr_result r;
    struct secret_version *v = sm_version_by_stage(&t->s, "AWSCURRENT");
    if (v) t->version_id = v->id;
    const char *karn = key ? key : v ? v->key_arn : NULL;
    if (key) {
        struct req_ctx rc = { .env = env, .st = env->st, .kr = env->kr };
        STR_COPY_ARRAY(rc.region, t->s.region);
        STR_COPY_ARRAY(rc.who.account_id, t->s.account);
        GUARD(kms_resolve(&rc, key, KR_ALIAS | KR_XACCT, &t->key));
        t->have_key = true;
        karn = t->key.arn;
    } else if (v && karn) {
        const char *id = strstr(karn, ":key/");
        r = id ? kms_key_lookup(env->st, id + 5, t->s.region, &t->key) : TR_OK;
        if (tr_failed(r) && tr_code(r) != TR_E_STORE_NOT_FOUND) return r;
        t->have_key = id && tr_ok(r);
    }
    t->live = false;
    if (t->s.deleted_date != 0)
        STR_SET(t->why_not_live, "the secret is pending deletion");
    else if (!v)
        STR_SET(t->why_not_live, "the secret has no current value");
    else if (!t->have_key && !karn)  /* answering from snapshots: no snapshot holds its key */
        STR_SET(t->why_not_live, "its key was not collected (in no snapshot given)");
    else if (!t->have_key)      /* cut: a sentence for people; the ARN is in the JSON report */
        snprintf(t->why_not_live, sizeof t->why_not_live, "the key %s no longer exists", karn);
    else if (strcmp(t->key.key_state, KEY_STATE_ENABLED) != 0)  /* cut: as above */
        snprintf(t->why_not_live, sizeof t->why_not_live, "the key %s is %s", t->key.arn,
                 t->key.key_state);
    else if (strcmp(t->key.region, t->s.region) != 0)
        STR_SET(t->why_not_live, "the key is in another region");
    else
        t->live = true;
    /* Stored policies that no longer compile deny, as the server's do. */
    GUARD(collect_named(t, t->s.policy, POLICY_RESOURCE, &t->everyone_rp, &t->rp_broken));
    if (t->s.policy && *t->s.policy)
        GUARD(policy_cache_get_stored(t->s.policy, strlen(t->s.policy), POLICY_RESOURCE,
                                      t->s.policy_ids, t->s.arn, &t->rp));
    if (t->have_key && t->key.policy && *t->key.policy)
        GUARD(policy_cache_get_stored(t->key.policy, strlen(t->key.policy), POLICY_KEY,
                                      t->key.policy_ids, t->key.arn, &t->kp));
    t->kp_reads_ec = policy_mentions_key(t->kp, EC_KEYS) || iam_orgs_mention_key(env->orgs, EC_KEYS);
    t->everyone_kp = t->kp_broken = false;
    if (t->have_key) GUARD(collect_named(t, t->key.policy, POLICY_KEY, &t->everyone_kp, &t->kp_broken));
    /* Sessions a grant names (its grantee): decided like the policies'. */
    if (t->have_key) GUARD(kms_grants_each_grantee(env->st, t->key.arn, on_grantee, t));
    if (t->have_key) {
        GUARD(kms_cached_key_attrs(env->st, &t->key, &t->key_aliases, &t->attrs.naliases,
                                   &t->key_tags, &t->attrs.ntags));
        t->attrs.aliases = t->key_aliases;
        t->attrs.tags = t->key_tags;
    }
    return TR_OK;
}

void az_target_free(struct az_target *t)
{
    secret_free(&t->s);
    if (t->have_key) key_rec_free(&t->key);
    strs_free(t->named, t->nnamed);
    strs_free(t->sessions, t->nsessions);
    policy_unref(t->rp);
    policy_unref(t->kp);
    free(t->key_aliases);
    free(t->key_tags);
    memset(t, 0, sizeof *t);
}

/* ---- the KMS hop's memo ------------------------------------------------------ */

/* The KMS hop of a secret is kms:Decrypt on its key with the encryption
 * context {SecretARN, SecretVersionId} (docs/AUTHORIZATION.md 5.3): for
 * one principal and one key, in one region, the decision differs from
 * one secret to another only through that context -- a condition or a
 * variable on kms:EncryptionContext* in the key policy or in the
 * principal's identity side, in an SCP or RCP (from snapshots), or a
 * grant's constraint.  So when none of them reads those keys and the key policy path decided (an Allow, or an
 * explicit Deny: grants are consulted only on an implicit deny, and a
 * grant's constraint reads the context), the decision is the same for
 * every secret under that key: kept here per (node, key, region) and
 * reused, evidence and all.  Bounded: at most KMS_MEMO_MAX decisions;
 * past that, decided each time as before. */
#define KMS_MEMO_MAX (1u << 18)

struct kms_memo_ent {
    size_t node;                 /* SIZE_MAX: an empty slot */
    uint64_t h;
    char *where;                 /* "<region> <key ARN>" */
    bool allowed, conditional, grant;
    char *ev;                    /* evidence (allowed) or AccessDenied message */
};

struct az_kms_memo {
    struct kms_memo_ent *v;
    size_t cap, n;
};

void az_kms_memo_free(struct az_graph *g)
{
    struct az_kms_memo *m = g->kms_memo;
    for (size_t i = 0; m && i < m->cap; i++) {
        free(m->v[i].where);
        free(m->v[i].ev);
    }
    if (m) free(m->v);
    free(m);
    g->kms_memo = NULL;
}

static uint64_t memo_hash(size_t node, const char *region, const char *key)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)node;
    for (const char *p = region; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ ' ') * 1099511628211ull;
    for (const char *p = key; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

static bool memo_same(const struct kms_memo_ent *e, size_t node, uint64_t h, const char *region,
                      const char *key)
{
    size_t rl = strlen(region);
    return e->node == node && e->h == h && strncmp(e->where, region, rl) == 0 &&
           e->where[rl] == ' ' && strcmp(e->where + rl + 1, key) == 0;
}

/* Node n's identity side (its policies and boundary) reads the
 * encryption context?  Asked once per node. */
static bool node_reads_ec(struct az_node *n)
{
    if (n->reads_ec == 0) {
        bool reads = !n->id || n->id->nsession > 0;     /* not known: as if it did */
        for (size_t k = 0; !reads && k < n->id->nidentity; k++)
            reads = policy_mentions_key(n->id->identity[k].p, EC_KEYS);
        if (!reads && n->id->has_boundary) reads = policy_mentions_key(n->id->boundary.p, EC_KEYS);
        n->reads_ec = reads ? 1 : -1;
    }
    return n->reads_ec > 0;
}

/* The slot of (node, region, key): its entry, or the empty slot it would
 * take (NULL when the memo is full or cannot grow). */
static struct kms_memo_ent *memo_slot(struct az_graph *g, size_t node, const char *region,
                                      const char *key, uint64_t *hash, bool insert)
{
    struct az_kms_memo *m = g->kms_memo;
    if (!insert && (!m || !m->cap)) return NULL;
    if (!m) {
        m = g->kms_memo = calloc(1, sizeof *m);
        if (!m) return NULL;
    }
    if (insert && (m->n + 1) * 2 > m->cap) {       /* at most half full */
        if (m->n >= KMS_MEMO_MAX) return NULL;
        size_t cap = m->cap ? m->cap * 2 : 1024;
        struct kms_memo_ent *v = malloc(cap * sizeof *v);
        if (!v) return NULL;
        for (size_t i = 0; i < cap; i++) v[i] = (struct kms_memo_ent){ .node = SIZE_MAX };
        for (size_t i = 0; i < m->cap; i++) {
            if (m->v[i].node == SIZE_MAX) continue;
            size_t j = m->v[i].h & (cap - 1);
            while (v[j].node != SIZE_MAX) j = (j + 1) & (cap - 1);
            v[j] = m->v[i];
        }
        free(m->v);
        m->v = v;
        m->cap = cap;
    }
    uint64_t h = memo_hash(node, region, key);
    size_t j = h & (m->cap - 1);
    while (m->v[j].node != SIZE_MAX && !memo_same(&m->v[j], node, h, region, key))
        j = (j + 1) & (m->cap - 1);
    *hash = h;
    return &m->v[j];
}

/* Keep x, the KMS hop of node on t's key (only a key-policy-path
 * decision: the caller checked).  Out of memory: not kept. */
static void memo_put(struct az_graph *g, size_t node, const struct az_target *t,
                     const struct kms_explain *x)
{
    uint64_t h;
    struct kms_memo_ent *e = memo_slot(g, node, t->s.region, t->key.arn, &h, true);
    if (!e || e->node != SIZE_MAX) return;
    size_t wl = strlen(t->s.region) + 1 + strlen(t->key.arn) + 1;
    char *where = malloc(wl);
    char *ev = strdup(x->allowed ? x->evidence : x->message);
    if (!where || !ev) {
        free(where);
        free(ev);
        return;
    }
    snprintf(where, wl, "%s %s", t->s.region, t->key.arn);    /* fits: sized for it */
    *e = (struct kms_memo_ent){ .node = node, .h = h, .where = where, .allowed = x->allowed,
                                .conditional = x->conditional, .grant = x->source == KX_GRANT,
                                .ev = ev };
    g->kms_memo->n++;
}

static const struct kms_memo_ent *memo_get(struct az_graph *g, size_t node,
                                           const struct az_target *t)
{
    uint64_t h;
    struct kms_memo_ent *e = memo_slot(g, node, t->s.region, t->key.arn, &h, false);
    return e && e->node != SIZE_MAX ? e : NULL;
}

/* ---- one principal ---------------------------------------------------------- */

/* Could any policy allow n GetSecretValue on t?  A necessary condition
 * (policy_may_allow): false means the evaluation would deny. */
static bool gsv_possible(const struct az_node *n, const struct az_target *t)
{
    const struct identity *id = n->id;
    if (!id || id->root) return true;
    for (size_t k = 0; k < id->nidentity; k++)
        if (policy_may_allow(id->identity[k].p, NULL, "secretsmanager:GetSecretValue", t->s.arn))
            return true;
    if (!t->rp) return false;
    struct eval_principal who;
    iam_eval_principal(&n->who, &who);
    return policy_may_allow(t->rp, &who, "secretsmanager:GetSecretValue", t->s.arn);
}

/* Cheap on purpose: --all writes it for every principal of every secret. */
static void quick_denial(const struct az_target *t, struct az_access *out)
{
    static const char why[] = "no identity or resource policy statement allows "
                              "secretsmanager:GetSecretValue on the secret";
    (void)t;
    memcpy(out->gsv_ev, why, sizeof why);
}

/* gsv_possible through the graph's index: may[] holds, for each of
 * g->gsv_pol, whether it may allow GetSecretValue on t. */
static bool gsv_possible_indexed(const struct az_node *n, const struct az_target *t,
                                 const unsigned char *may)
{
    if (n->deferred) return false;   /* load_candidates loaded every node that may */
    if (!n->id || n->id->root) return true;
    for (size_t k = 0; k < n->ngsv_pols; k++)
        if (may[n->gsv_pols[k]]) return true;
    if (!t->rp) return false;
    struct eval_principal who;
    iam_eval_principal(&n->who, &who);
    return policy_may_allow(t->rp, &who, "secretsmanager:GetSecretValue", t->s.arn);
}

/* g, node: n is g->n[node], whose KMS hop may come from g's memo; g
 * NULL: n is not a graph node (a session of one, a principal of a
 * foreign account), decided without the memo. */
static TR_RESULT decide_evaluated(const struct server_env *env, struct az_graph *g, size_t node,
                                  const struct az_node *n, const struct az_target *t, bool quick,
                                  struct az_access *out);

/* Does t name a session of role n (t->sessions)? */
static bool has_session(const struct az_node *n, const struct az_target *t)
{
    const char *name;
    for (size_t i = 0; n->kind == AZ_ROLE && i < t->nsessions; i++)
        if (az_session_of(n, t->sessions[i], &name)) return true;
    return false;
}

/* Role n cannot read as any session of it: can it as a session the
 * resource policy, key policy or a grant names?  The session name is the
 * caller's choice, so the answer is conditional, "as session S"; *out is
 * changed only when one can. */
static TR_RESULT decide_sessions(const struct server_env *env, const struct az_node *n,
                                 const struct az_target *t, struct az_access *out)
{
    struct az_access *x = calloc(1, sizeof *x);
    struct az_node tmp;
    const char *name;
    tr_result r = TR_OK;
    if (!x) BAIL0(TR_E_INTERNAL);
    for (size_t i = 0; tr_ok(r) && i < t->nsessions; i++) {
        if (!az_session_of(n, t->sessions[i], &name)) continue;
        r = az_as_session(n, t->sessions[i], &tmp);
        if (tr_ok(r)) r = decide_evaluated(env, NULL, SIZE_MAX, &tmp, t, false, x);
        if (tr_failed(r) || !x->ok) continue;
        *out = *x;
        out->conditional = true;
        snprintf(out->session, sizeof out->session, "%.64s", name);   /* fits: %.64s */
        break;
    }
    free(x);
    return r;
}

/* A principal of an account the store does not hold (n: its node, its own
 * IAM taken to allow): decided by the real rules as each principal of
 * that account the secret's or key's policy could admit (any principal of
 * it, and each of its ARNs they name: az_stranger_candidates), the first
 * that passes both hops answering -- so a Deny naming the account, or an
 * Allow of another action, lists nobody.  Always conditional. */
static TR_RESULT decide_stranger(const struct server_env *env, const struct az_node *n,
                                 const struct az_target *t, struct az_access *out)
{
    const struct policy *pols[] = { t->rp, t->kp };
    struct az_node tmp = *n;
    struct az_access *first = calloc(1, sizeof *first);
    char **arns = NULL;
    size_t narns = 0;
    tr_result r = TR_OK;

    if (!first) BAIL0(TR_E_INTERNAL);
    r = az_stranger_candidates(pols, 2, n->account, &arns, &narns);
    for (size_t i = 0; tr_ok(r) && i <= narns; i++) {
        r = az_stranger_principal(n->account, i ? arns[i - 1] : NULL, &tmp.who);
        if (tr_ok(r)) r = decide_evaluated(env, NULL, SIZE_MAX, &tmp, t, false, i ? out : first);
        if (tr_failed(r)) break;
        if (i == 0 && first->ok) { *out = *first; break; }
        if (i > 0 && out->ok) {
            /* Which of the account's principals (cut: a sentence for people). */
            char ev[AZ_EV_MAX];
            _Static_assert(AZ_EV_MAX >= sizeof "as : " + 600 + 400, "ev holds both");
            snprintf(ev, sizeof ev, "as %.600s: %.400s", arns[i - 1], out->gsv_ev);  /* cut: above */
            STR_COPY_ARRAY(out->gsv_ev, ev);
            break;
        }
        if (i == narns) *out = *first;
    }
    strs_free(arns, narns);
    free(first);
    return r;
}

static TR_RESULT decide_in(const struct server_env *env, struct az_graph *g, size_t node,
                           const struct az_node *n, const struct az_target *t, bool quick,
                           struct az_access *out);

TR_RESULT az_decide(const struct server_env *env, const struct az_node *n,
                    const struct az_target *t, bool quick, struct az_access *out)
{
    return decide_in(env, NULL, SIZE_MAX, n, t, quick, out);
}

/* az_decide, for g->n[node] when g is not NULL (the KMS memo). */
static TR_RESULT decide_in(const struct server_env *env, struct az_graph *g, size_t node,
                           const struct az_node *n, const struct az_target *t, bool quick,
                           struct az_access *out)
{

    /* Not memset: the evidence buffers are large and --all decides every
     * principal for every secret; an empty string is enough. */
    out->gsv = out->kms = out->ok = out->conditional = out->unasked = false;
    out->gsv_decision = DECISION_IMPLICIT_DENY;
    out->gsv_ev[0] = out->kms_ev[0] = out->grant_id[0] = '\0';
    out->kms_source = "";
    out->session[0] = '\0';
    if (n->kind == AZ_FOREIGN) return decide_stranger(env, n, t, out);
    bool named_session = has_session(n, t);
    if (quick && !named_session && !gsv_possible(n, t)) {
        quick_denial(t, out);
        return TR_OK;
    }
    GUARD(decide_evaluated(env, g, node, n, t, quick && !named_session, out));
    if (named_session && !out->ok) GUARD(decide_sessions(env, n, t, out));
    return TR_OK;
}

/* The decision of az_decide past the prefilter. */
static TR_RESULT decide_evaluated(const struct server_env *env, struct az_graph *g, size_t node,
                                  const struct az_node *n, const struct az_target *t, bool quick,
                                  struct az_access *out)
{
    struct req_ctx rc;
    struct eval_result res;
    struct kms_explain *x = NULL;
    json_t *ctx = NULL;
    char via[128];
    tr_result r = TR_OK;

    struct ctx_entry unknown[NELEM(UNKNOWN_CALL) + 1];
    static const char *const none[] = { "" };
    bool session = n->who.type == PRINCIPAL_ROLE_SESSION;
    size_t nunknown = 0;
    for (size_t i = 0; i < NELEM(UNKNOWN_CALL); i++)
        unknown[nunknown++] = (struct ctx_entry){ .key = UNKNOWN_CALL[i], .values = none, .n = 1,
                                                  .unknown = true };
    if (session)
        unknown[nunknown++] = (struct ctx_entry){ .key = SESSION_UNKNOWN, .values = none, .n = 1,
                                                  .unknown = true };
    r = az_ctx_init(&rc, env, n, t->s.region, "secretsmanager");
    if (tr_failed(r)) goto fail;
    r = sm_authorize_explain(&rc, "secretsmanager:GetSecretValue", &t->s, unknown,
                             nunknown, &res, out->gsv_ev, sizeof out->gsv_ev);
    if (tr_failed(r)) goto fail;
    out->gsv = res.decision == DECISION_ALLOW;
    out->gsv_decision = res.decision;
    out->conditional = res.conditional;
    if (quick && !out->gsv) goto fail;
    if (!t->have_key || !t->version_id) {
        STR_COPY_ARRAY(out->kms_ev, t->why_not_live);
        goto fail;
    }
    /* The KMS hop of an earlier secret under the same key, when no
     * encryption context can change it (the memo, above). */
    bool memo = g && !t->kp_reads_ec && !node_reads_ec(&g->n[node]);
    const struct kms_memo_ent *e = memo ? memo_get(g, node, t) : NULL;
    if (e) {
        out->kms = e->allowed;
        out->conditional |= e->allowed && e->conditional;
        out->kms_source = !e->allowed ? "" : e->grant ? "grant"
                        : strcmp(t->key.key_manager, "AWS") == 0 ? "managed-key" : "key-policy";
        /* (Kept from x->evidence or x->message, which out->kms_ev holds whole.) */
        size_t len = strnlen(e->ev, sizeof out->kms_ev - 1);
        memcpy(out->kms_ev, e->ev, len);
        out->kms_ev[len] = '\0';
        goto decided;
    }
    x = calloc(1, sizeof *x);
    ctx = json_pack("{s:s, s:s}", "SecretARN", t->s.arn, "SecretVersionId", t->version_id);
    if (!x || !ctx) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    _Static_assert(sizeof via >= sizeof "secretsmanager..amazonaws.com" + sizeof t->s.region, "via");
    snprintf(via, sizeof via, "secretsmanager.%s.amazonaws.com", t->s.region);   /* fits: asserted */
    rc.via_service = via;
    struct kms_authz_in in = { .ctx = ctx, .enc_alg = "SYMMETRIC_DEFAULT",
                               .unknown = session ? UNKNOWN_VIA_SESSION : UNKNOWN_VIA,
                               .nunknown = session ? NELEM(UNKNOWN_VIA_SESSION) : NELEM(UNKNOWN_VIA),
                               .key_attrs = &t->attrs };
    r = kms_authorize_explain(&rc, "kms:Decrypt", &t->key, &in, x);
    if (tr_failed(r)) goto fail;
    out->kms = x->allowed;
    out->conditional |= x->allowed && x->conditional;
    out->kms_source = !x->allowed ? "" : x->source == KX_GRANT ? "grant"
                    : strcmp(t->key.key_manager, "AWS") == 0 ? "managed-key" : "key-policy";
    if (x->allowed) STR_COPY_ARRAY(out->kms_ev, x->evidence);
    else STR_COPY_ARRAY(out->kms_ev, x->message);
    if (x->allowed && x->source == KX_GRANT) STR_COPY_ARRAY(out->grant_id, x->grant_id);
    /* Decided by the key policy path (an Allow or an explicit Deny):
     * grants were not consulted, and nothing read the context. */
    if (memo && x->res.decision != DECISION_IMPLICIT_DENY) memo_put(g, node, t, x);
decided:
    out->ok = out->gsv && out->kms && t->live;
    /* Any other account's principal: only if its own IAM allows too. */
    if (n->kind == AZ_ANYONE || n->kind == AZ_FOREIGN) out->conditional = true;
fail:
    json_decref(ctx);
    free(x);
    rc_done(&rc, n);
    return r;
}

/* ---- reachability ------------------------------------------------------------ */

/* Breadth first from `start` over assume-role edges: the nearest node
 * whose own access is ok, preferring one reached without conditions; with
 * strict, over unconditional edges only, to unconditional readers only.
 * False when none.  depth[] is all SIZE_MAX on entry and on return. */
static bool reach_pass(const struct az_graph *g, const struct az_access *acc, size_t start,
                       struct az_answer *ans, size_t *queue, size_t *prev_edge, size_t *depth,
                       bool strict)
{
    size_t head = 0, tail = 0, best = SIZE_MAX;
    bool best_cond = true;

    depth[start] = 0;
    prev_edge[start] = SIZE_MAX;
    queue[tail++] = start;
    while (head < tail) {
        size_t u = queue[head++];
        if (acc[u].ok && !(strict && acc[u].conditional)) {
            bool cond = acc[u].conditional;
            for (size_t e = prev_edge[u]; e != SIZE_MAX; e = prev_edge[g->e[e].from])
                cond |= g->e[e].conditional;
            if (best == SIZE_MAX || (best_cond && !cond)) {
                best = u;
                best_cond = cond;
            }
            if (!cond) break;
        }
        if (depth[u] == AZ_MAX_HOPS) continue;
        for (size_t e = g->n[u].first_out; e != SIZE_MAX; e = g->e[e].next_out) {
            if (depth[g->e[e].to] != SIZE_MAX || (strict && g->e[e].conditional)) continue;
            depth[g->e[e].to] = depth[u] + 1;
            prev_edge[g->e[e].to] = e;
            queue[tail++] = g->e[e].to;
        }
    }
    if (best != SIZE_MAX) {
        ans->can = true;
        ans->conditional = best_cond;
        size_t n = depth[best] + 1, u = best;
        ans->npath = n;
        for (size_t i = n; i-- > 0;) {
            ans->path[i] = u;
            if (i > 0) {
                ans->edges[i - 1] = prev_edge[u];
                u = g->e[prev_edge[u]].from;
            }
        }
    }
    /* depth[] back to all SIZE_MAX for the next call (only what was touched). */
    for (size_t i = 0; i < tail; i++) depth[queue[i]] = SIZE_MAX;
    return best != SIZE_MAX;
}

/* start's answer: an unconditional path when there is one (the first
 * pass, over unconditional edges only: a breadth-first search keeps the
 * first edge into each node, which may be a conditional one while
 * another path is certain), else the nearest conditional one. */
static void reach(const struct az_graph *g, const struct az_access *acc, size_t start,
                  struct az_answer *ans, size_t *queue, size_t *prev_edge, size_t *depth)
{
    memset(ans, 0, sizeof *ans);
    ans->node = start;
    ans->cut_at = SIZE_MAX;
    if (reach_pass(g, acc, start, ans, queue, prev_edge, depth, true)) return;
    if (reach_pass(g, acc, start, ans, queue, prev_edge, depth, false)) return;
    ans->path[0] = start;
    ans->npath = 1;
}

/* A graph with deferred identities (az_graph_build_facts): load those of
 * the nodes the prefilter could not deny for t -- every one without
 * quick; else those whose facts may allow GetSecretValue on the secret,
 * those the resource policy may allow it to, and roles a named session
 * is of -- and make the gsv index again over them.  The nodes left
 * deferred are the ones gsv_possible would deny. */
static TR_RESULT load_candidates(struct az_graph *g, const struct az_target *t, bool quick)
{
    for (size_t i = 0; i < g->nn; i++) {
        const struct az_node *n = &g->n[i];
        if (!n->deferred) continue;
        bool need = !quick || az_facts_may(n, "gsv", t->s.arn) || has_session(n, t);
        if (!need && t->rp) {
            struct eval_principal who;
            iam_eval_principal(&n->who, &who);
            need = policy_may_allow(t->rp, &who, "secretsmanager:GetSecretValue", t->s.arn);
        }
        if (need) GUARD(az_graph_load(g, i));
    }
    return az_graph_reindex(g);
}

TR_RESULT az_who_can(const struct server_env *env, struct az_graph *g,
                     const struct az_target *t, bool quick, struct az_access *acc,
                     struct az_answer *ans)
{
    GUARD(load_candidates(g, t, quick));

    size_t *queue = calloc(g->nn + 1, sizeof *queue);
    size_t *prev = calloc(g->nn + 1, sizeof *prev);
    size_t *depth = calloc(g->nn + 1, sizeof *depth);
    size_t *rdepth = calloc(g->nn + 1, sizeof *rdepth);
    size_t *cut = calloc(g->nn + 1, sizeof *cut);
    unsigned char *may = calloc(g->ngsv_pol + 1, 1);
    unsigned char *cand = NULL;
    size_t head = 0, tail = 0;
    tr_result r = TR_OK;

    if (!queue || !prev || !depth || !rdepth || !cut || !may) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        goto fail;
    }
    if (quick) az_gsv_may(g, t->s.arn, may);
    /* The prefilter's candidates from the index: the nodes of the
     * policies that may allow, and those it never denies.  With a
     * resource policy or a named session, every node is asked. */
    bool by_index = quick && !t->rp && t->nsessions == 0;
    if (by_index) {
        cand = calloc(g->nn + 1, 1);
        if (!cand) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
        for (size_t k = 0; k < g->ngsv_pol; k++)
            for (size_t j = g->gsv_node_at[k]; may[k] && j < g->gsv_node_at[k + 1]; j++)
                cand[g->gsv_node[j]] = 1;
        for (size_t j = 0; j < g->ngsv_always; j++) cand[g->gsv_always[j]] = 1;
        for (size_t i = g->gsv_nn; i < g->nn; i++) cand[i] = 1;
    }
    for (size_t i = 0; i < g->nn; i++) {
        /* (A foreign node is decided as several principals of its account,
         * not only the one the index knows: decide_stranger.) */
        if (by_index ? !cand[i]
                     : quick && g->n[i].kind != AZ_FOREIGN && !gsv_possible_indexed(&g->n[i], t, may) &&
                       !has_session(&g->n[i], t)) {
            struct az_access *a = &acc[i];
            /* Denied unasked for the secret before too: nothing to write
             * (the denial does not name the secret).  At account scale most
             * principals are, and writing each one's evidence again was
             * most of this function's time. */
            if (!a->unasked) {
                a->unasked = true;
                a->session[0] = '\0';
                a->gsv = a->kms = a->ok = a->conditional = false;
                a->gsv_decision = DECISION_IMPLICIT_DENY;
                a->kms_ev[0] = a->grant_id[0] = '\0';
                a->kms_source = "";
                quick_denial(t, a);
            }
        } else {
            r = decide_in(env, g, i, &g->n[i], t, quick, &acc[i]);
            if (tr_failed(r)) goto fail;
        }
        rdepth[i] = SIZE_MAX;
        if (acc[i].ok) {
            rdepth[i] = 0;
            queue[tail++] = i;
        }
    }
    /* Backwards from the readers, at most AZ_MAX_HOPS: the only nodes
     * that can have an answer, and (a lazy graph) the only roles whose
     * incoming edges matter. */
    for (size_t i = 0; i < g->nn; i++) cut[i] = SIZE_MAX;
    while (head < tail) {
        size_t u = queue[head++];
        r = az_graph_edges_into(g, u);
        if (tr_failed(r)) goto fail;
        for (size_t e = g->n[u].first_in; e != SIZE_MAX; e = g->e[e].next_in) {
            size_t f = g->e[e].from;
            if (rdepth[f] != SIZE_MAX) continue;
            /* Breadth first: every node within the limit has its depth
             * before the first at the limit is taken, so f has none. */
            if (rdepth[u] == AZ_MAX_HOPS) {
                if (cut[f] == SIZE_MAX) cut[f] = u;
                continue;
            }
            rdepth[f] = rdepth[u] + 1;
            queue[tail++] = f;
        }
    }
    for (size_t i = 0; i < g->nn; i++) depth[i] = SIZE_MAX;
    for (size_t i = 0; i < g->nn; i++) {
        if (rdepth[i] != SIZE_MAX) {
            reach(g, acc, i, &ans[i], queue, prev, depth);
            continue;
        }
        memset(&ans[i], 0, sizeof ans[i]);
        ans[i].node = ans[i].path[0] = i;
        ans[i].npath = 1;
        ans[i].cut_at = cut[i];
    }
fail:
    free(queue);
    free(prev);
    free(depth);
    free(rdepth);
    free(cut);
    free(may);
    free(cand);
    return r;
}

TR_RESULT az_accounts(store_t st, char *const *extra, size_t nextra,
                      char (**out)[ACCOUNT_ID_LEN + 1], size_t *n)
{
    struct account_rec *v = NULL;
    size_t nv = 0, k = 0;

    *out = NULL;
    *n = 0;
    GUARD(st[0]->account_list(st, &v, &nv));
    char (*ids)[ACCOUNT_ID_LEN + 1] = calloc(nv + nextra + 1, sizeof *ids);
    if (!ids) {
        free(v);
        BAIL0(TR_E_INTERNAL);
    }
    tr_result r = TR_OK;
    for (size_t i = 0; i < nv; i++, k++) STR_COPY_ARRAY(ids[k], v[i].id);
    for (size_t i = 0; i < nextra && tr_ok(r); i++) {
        bool dup = strcmp(extra[i], "*") == 0;
        for (size_t j = 0; j < k && !dup; j++) dup = strcmp(ids[j], extra[i]) == 0;
        if (!dup) r = str_copy(ids[k++], sizeof ids[0], extra[i], "an account id");
    }
    free(v);
    if (tr_failed(r)) {
        free(ids);
        return r;
    }
    *out = ids;
    *n = k;
    return TR_OK;
}
