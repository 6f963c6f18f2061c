/*
 * graph.c -- the principals of an account set and who can become whom
 * through sts:AssumeRole (docs/AUTHORIZATION.md 6.1, 7).
 *
 * Accounts: the ones asked for, then every account a role's trust policy
 * names, transitively.  Held accounts contribute their root user, users
 * and roles; accounts the store does not hold become one "foreign" node
 * each ("any principal of X that its own IAM allows"); and one node,
 * AZ_ANYONE, stands for the principals of every other account, which only
 * a policy naming "*" can admit (analyze.h), decided by the real rules
 * like a held user.
 *
 * Edges: P -> R when STS would let P assume R: the same iam_authorize
 * call op_assume_role makes (action sts:AssumeRole on the role ARN, the
 * trust policy in RES_REQUIRED mode), with sts:RoleSessionName marked
 * unknown (the caller picks it).  Root users cannot assume roles (STS
 * refuses them before any policy).  A foreign node's own IAM is not
 * visible: taken to allow, its edge is decided by the same call for each
 * principal of its account the trust policy could admit (assume_edge).
 *
 * Cost (bench/who_can: 2,000 principals).  Each held node's identity is
 * loaded once (iam_identity_load_memo) and reused by every decision.  The
 * edges into role R are decided only for the candidates R's trust policy
 * can admit: the principals it names by ARN, everyone for "*", and for a
 * named account its principals whose identity policies may allow
 * sts:AssumeRole on R (policy_may_allow) -- the same decisions as trying
 * every pair, without the pairs that cannot pass.  A lazy graph decides
 * the edges into a role only when an answer needs them (az_who_can walks
 * back from the readers).  A graph built from a prepared snapshot's
 * principal facts (az_graph_build_facts) also defers each user's and
 * role's identity: what the indexes above ask of it -- may it allow
 * sts:AssumeRole on this role, GetSecretValue on this secret -- the facts
 * answer conservatively, and az_graph_load loads it when they say "may";
 * and each role's trust policy, whose accounts the facts name, is read
 * from its entity document and compiled only when the edges into that
 * role are needed (az_graph_trust).  Every
 * user's and role's caller comes from the record the listing read
 * (iam_principal_from_ent), not from a second read of the store.
 */
#include "analyze/analyze.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "core/str.h"
#include "iam/authz.h"
#include "iam/principals.h"
#include "op/clock.h"

static TR_RESULT add_node(struct az_graph *g, enum az_kind kind, const char *arn,
                          const char *account)
{
    struct az_node *v = array_grow(g->n, &g->capn, g->nn, sizeof *v, 32);
    ENSURE(v != NULL, TR_E_INTERNAL);
    g->n = v;
    struct az_node *n = &g->n[g->nn];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->first_out = n->first_in = SIZE_MAX;
    GUARD(str_copy(n->arn, sizeof n->arn, arn, "principal ARN"));
    GUARD(str_copy(n->account, sizeof n->account, account, "account id"));
    g->nn++;
    return TR_OK;
}

TR_RESULT az_ctx_init(struct req_ctx *rc, const struct server_env *env, const struct az_node *n,
                      const char *region, const char *service)
{
    memset(rc, 0, sizeof *rc);
    rc->env = env;
    rc->st = env->st;
    rc->kr = env->kr;
    rc->now = tr_now();
    rc->who = n->who;
    rc->identity = n->id;
    rc->identity_borrowed = n->id != NULL;
    GUARD(str_copy(rc->region, sizeof rc->region, region, "the region"));
    return str_copy(rc->service, sizeof rc->service, service, "the service name");
}

static TR_RESULT add_edge(struct az_graph *g, size_t from, size_t to, bool cond, const char *ev)
{
    struct az_edge *v = array_grow(g->e, &g->cape, g->ne, sizeof *v, 32);
    ENSURE(v != NULL, TR_E_INTERNAL);
    g->e = v;
    g->e[g->ne] = (struct az_edge){ .from = from, .to = to, .conditional = cond,
                                    .next_out = SIZE_MAX, .next_in = g->n[to].first_in };
    GUARD(str_copy(g->e[g->ne].evidence, sizeof g->e[g->ne].evidence, ev, "the edge's evidence"));
    /* The edges out of a node, by their role from the last in node order
     * to the first, whatever order they were decided in: the breadth-first
     * search (who_can.c, reach_pass) takes them in this order, so among
     * equally short paths the one chosen does not depend on which edges an
     * earlier answer made (docs/WHO_CAN_DECRYPT.md, "Which path").  A full
     * build adds the roles in node order: each goes first. */
    size_t *at = &g->n[from].first_out;
    while (*at != SIZE_MAX && g->e[*at].to > to) at = &g->e[*at].next_out;
    g->e[g->ne].next_out = *at;
    *at = g->ne;
    g->n[to].first_in = g->ne;
    g->ne++;
    return TR_OK;
}

size_t az_graph_find(const struct az_graph *g, const char *arn)
{
    if (g->by_arn && g->nby_arn == g->nn) {
        /* The first of the sorted (ARN, index) pairs with this ARN. */
        size_t lo = 0, hi = g->nn;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(g->n[g->by_arn[mid]].arn, arn) < 0) lo = mid + 1;
            else hi = mid;
        }
        return lo < g->nn && strcmp(g->n[g->by_arn[lo]].arn, arn) == 0 ? g->by_arn[lo] : SIZE_MAX;
    }
    for (size_t i = 0; i < g->nn; i++)
        if (strcmp(g->n[i].arn, arn) == 0) return i;
    return SIZE_MAX;
}

/* The unique id part of a node's caller id (AIDA..., AROA... before a
 * session's ":name"): its length. */
static size_t id_len(const struct az_node *n)
{
    return strcspn(n->who.id, ":");
}

static int cmp_by_arn(const void *a, const void *b, void *arg)
{
    const struct az_graph *g = arg;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int d = strcmp(g->n[x].arn, g->n[y].arn);
    return d ? d : x < y ? -1 : x > y;
}

static int cmp_by_id(const void *a, const void *b, void *arg)
{
    const struct az_graph *g = arg;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    size_t lx = id_len(&g->n[x]), ly = id_len(&g->n[y]);
    int d = memcmp(g->n[x].who.id, g->n[y].who.id, lx < ly ? lx : ly);
    if (!d) d = lx < ly ? -1 : lx > ly;
    return d ? d : x < y ? -1 : x > y;
}

/* g->by_arn over every node (again after a node is added); g->by_id over
 * the user and role nodes (once their callers are known). */
static TR_RESULT index_arns(struct az_graph *g)
{
    size_t *v = realloc(g->by_arn, (g->nn + 1) * sizeof *v);
    ENSURE(v != NULL, TR_E_INTERNAL);
    g->by_arn = v;
    for (size_t i = 0; i < g->nn; i++) v[i] = i;
    qsort_r(v, g->nn, sizeof *v, cmp_by_arn, g);
    g->nby_arn = g->nn;
    return TR_OK;
}

static TR_RESULT index_ids(struct az_graph *g)
{
    size_t *v = calloc(g->nn + 1, sizeof *v);
    ENSURE(v != NULL, TR_E_INTERNAL);
    free(g->by_id);
    g->by_id = v;
    g->nby_id = 0;
    for (size_t i = 0; i < g->nn; i++)
        if ((g->n[i].kind == AZ_USER || g->n[i].kind == AZ_ROLE) && id_len(&g->n[i]) > 0)
            v[g->nby_id++] = i;
    qsort_r(v, g->nby_id, sizeof *v, cmp_by_id, g);
    return TR_OK;
}

static TR_RESULT load_stranger_identity(struct az_node *n);
static TR_RESULT load_identity(store_t st, struct iam_load_memo *m, struct az_node *n);

bool az_session_of(const struct az_node *n, const char *session, const char **name)
{
    static const char pre[] = "arn:aws:sts::";
    if (n->kind != AZ_ROLE || strncmp(session, pre, sizeof pre - 1) != 0) return false;
    const char *a = session + sizeof pre - 1;
    if (strncmp(a, n->account, ACCOUNT_ID_LEN) != 0 || strncmp(a + ACCOUNT_ID_LEN, ":assumed-role/", 14) != 0)
        return false;
    const char *role = a + ACCOUNT_ID_LEN + 14, *slash = strchr(role, '/');
    const char *rname = strrchr(n->arn, '/');
    if (!slash || !rname || !slash[1]) return false;
    rname++;
    if (strlen(rname) != (size_t)(slash - role) || strncmp(rname, role, strlen(rname)) != 0) return false;
    *name = slash + 1;
    return true;
}

TR_RESULT az_as_session(const struct az_node *n, const char *session, struct az_node *out)
{
    const char *name;
    ENSURE(az_session_of(n, session, &name), TR_E_INTERNAL);
    *out = *n;
    GUARD(str_copy(out->who.arn, sizeof out->who.arn, session, "session ARN"));
    /* The role's unique id, then the session's name (AROA...:S). */
    size_t idlen = strcspn(n->who.id, ":");
    return str_format(out->who.id, sizeof out->who.id, "session id", "%.*s:%s", (int)idlen,
                      n->who.id, name);
}

TR_RESULT az_graph_add_foreign(struct az_graph *g, const char *account)
{
    char arn[64];
    GUARD(str_format(arn, sizeof arn, "the account's root ARN", "arn:aws:iam::%s:root", account));
    if (az_graph_find(g, arn) != SIZE_MAX) return TR_OK;
    GUARD(add_node(g, AZ_FOREIGN, arn, account));
    struct az_node *n = &g->n[g->nn - 1];
    GUARD(az_stranger_principal(account, NULL, &n->who));
    GUARD(load_stranger_identity(n));
    return g->by_arn ? index_arns(g) : TR_OK;
}

static void gsv_index_free(struct az_graph *g);

void az_graph_free(struct az_graph *g)
{
    az_kms_memo_free(g);
    for (size_t i = 0; i < g->nn; i++) {
        if (g->n[i].id) {
            iam_identity_free(g->n[i].id);
            free(g->n[i].id);
        }
        policy_unref(g->n[i].trust);
        free(g->n[i].trust_doc);
        free(g->n[i].role_doc);
        free(g->n[i].gsv_pols);
    }
    iam_load_memo_free(g->memo);
    free(g->stamp);
    free(g->by_arn);
    free(g->by_id);
    gsv_index_free(g);
    free(g->n);
    free(g->e);
    memset(g, 0, sizeof *g);
}

/* ---- accounts ------------------------------------------------------------ */

struct acct_set {
    char (*id)[ACCOUNT_ID_LEN + 1];
    size_t n, cap;
};

static bool digits12(const char *s, size_t len)
{
    if (len != ACCOUNT_ID_LEN) return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

/* The account a principal string names: "123456789012",
 * "arn:aws:iam::123456789012:...", "arn:aws:sts::123456789012:...". */
bool az_principal_account(const char *p, char out[ACCOUNT_ID_LEN + 1])
{
    if (digits12(p, strlen(p))) {
        memcpy(out, p, ACCOUNT_ID_LEN + 1);
        return true;
    }
    const char *a = NULL;
    if (strncmp(p, "arn:aws:iam::", 13) == 0 || strncmp(p, "arn:aws:sts::", 13) == 0) a = p + 13;
    if (!a || !digits12(a, strcspn(a, ":"))) return false;
    memcpy(out, a, ACCOUNT_ID_LEN);
    out[ACCOUNT_ID_LEN] = '\0';
    return true;
}

static TR_RESULT acct_add(struct acct_set *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->id[i], id) == 0) return TR_OK;
    void *v = array_grow(s->id, &s->cap, s->n, sizeof *s->id, 8);
    ENSURE(v != NULL, TR_E_INTERNAL);
    s->id = v;
    GUARD(str_copy(s->id[s->n], sizeof s->id[0], id, "the account id"));
    s->n++;
    return TR_OK;
}

static TR_RESULT on_principal(void *arg, const char *p)
{
    char a[ACCOUNT_ID_LEN + 1];
    if (az_principal_account(p, a)) return acct_add(arg, a);
    return TR_OK;
}

/* Role entity e's stored trust policy text and binding (each NULL when
 * absent; free() them). */
static TR_RESULT role_trust_text(const struct ent_rec *e, char **text_out, char **ids_out)
{
    *text_out = *ids_out = NULL;
    json_t *doc = json_loads(e->doc ? e->doc : "{}", 0, NULL);
    const char *text = json_string_value(json_object_get(doc, "trust"));
    const char *ids = json_string_value(json_object_get(doc, "trust_ids"));
    tr_result r = TR_OK;
    if ((text && !(*text_out = strdup(text))) || (ids && !(*ids_out = strdup(ids))))
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    json_decref(doc);
    if (tr_failed(r)) {
        free(*text_out);
        free(*ids_out);
        *text_out = *ids_out = NULL;
    }
    return r;
}

/* The compiled trust policy of role entity e (NULL when it has none),
 * and its text (*text: NULL when none; free() it). */
static TR_RESULT role_trust(const struct ent_rec *e, struct policy **out, char **text_out)
{
    char *ids = NULL;
    *out = NULL;
    GUARD(role_trust_text(e, text_out, &ids));
    tr_result r = TR_OK;
    if (*text_out)
        r = policy_cache_get_stored(*text_out, strlen(*text_out), POLICY_TRUST, ids, e->arn, out);
    free(ids);
    if (tr_failed(r)) {
        free(*text_out);
        *text_out = NULL;
    }
    return r;
}

TR_RESULT az_graph_trust(struct az_graph *g, size_t i)
{
    struct az_node *n = &g->n[i];
    if (!n->trust_lazy) return TR_OK;
    /* Its entity document is read only now: most roles are never walked. */
    const struct ent_rec e = { .arn = n->arn, .doc = n->role_doc };
    GUARD(role_trust(&e, &n->trust, &n->trust_doc));
    n->trust_lazy = false;
    free(n->role_doc);
    n->role_doc = NULL;
    return TR_OK;
}

/* A role whose facts name the accounts of its trust policy
 * ("trust_accounts": it compiled when the snapshot was prepared): those
 * accounts to todo, and e's entity document taken (e->doc NULL after):
 * its trust policy is read from it and compiled only when an answer needs
 * the edges into it (az_graph_trust).  *done: false when the facts do not
 * say (no entry, no trust policy, one that did not compile): the caller
 * compiles it now, as without facts. */
static TR_RESULT role_trust_deferred(const struct az_facts *facts, struct ent_rec *e, struct az_node *n,
                                     struct acct_set *todo, bool *done)
{
    const struct az_fact *f = az_facts_find(facts, e->arn);
    *done = false;
    if (!f || !f->trust_accounts.present || !e->doc) return TR_OK;
    for (size_t i = 0; i < f->trust_accounts.n; i++) {
        const char *a = f->trust_accounts.v[i];
        ENSURE(a && digits12(a, strlen(a)), TR_E_INTERNAL);   /* az_facts_unpack checked */
        GUARD(acct_add(todo, a));
    }
    n->role_doc = e->doc;                  /* taken: parsed when compiled (az_graph_trust) */
    e->doc = NULL;
    n->trust_lazy = *done = true;
    return TR_OK;
}

static TR_RESULT list_all(store_t st, const char *kind, const char *account, struct ent_rec **out,
                          size_t *n)
{
    return st[0]->ent_list(st, kind, account, NULL, NULL, 100000, out, n);
}

/* ---- building ---------------------------------------------------------------- */

/* Would STS let a caller as p (its `who` and identity side) assume
 * `role`?  op_assume_role's decision; *allowed, *cond and ev (the
 * deciding statements) are set when it would. */
static TR_RESULT assume_decide(const struct server_env *env, const struct az_node *p,
                               const struct az_node *role, struct policy *trust, bool *allowed,
                               bool *cond, char ev[AZ_EV_MAX])
{
    char name[PRINCIPAL_ARN_MAX + 8];
    struct req_ctx rc = { 0 };
    struct eval_result res;
    static const char *const any[] = { "" };
    /* Chosen by the caller, or request-time: unknown (reported, not decided). */
    static const char *const keys[] = {
        "sts:RoleSessionName", "sts:ExternalId", "sts:SourceIdentity", "aws:TagKeys",
        "aws:SourceIp", "aws:CurrentTime", "aws:EpochTime", "aws:SecureTransport",
        "aws:MultiFactorAuthPresent", "aws:MultiFactorAuthAge", "aws:TokenIssueTime",
        "aws:UserAgent", "aws:referer",
    };
    struct ctx_entry extra[sizeof keys / sizeof keys[0] + 1];
    size_t nextra = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        extra[nextra++] = (struct ctx_entry){ .key = keys[i], .values = any, .n = 1, .unknown = true };
    /* A role's session may carry a source identity (role chaining): the
     * assumer's choice, unknown here. */
    if (p->who.type == PRINCIPAL_ROLE_SESSION)
        extra[nextra++] = (struct ctx_entry){ .key = "aws:SourceIdentity", .values = any, .n = 1,
                                              .unknown = true };
    *allowed = false;
    _Static_assert(sizeof name >= sizeof "trust:" + sizeof role->arn - 1, "name holds trust:<arn>");
    snprintf(name, sizeof name, "trust:%s", role->arn);        /* fits: asserted above */
    struct named_policy np = { .p = trust, .name = name };
    GUARD(az_ctx_init(&rc, env, p, env->default_region, "sts"));
    struct authz_req ar = {
        .action = "sts:AssumeRole", .resource = role->arn, .resource_account = role->account,
        .resource_policy = &np, .mode = RES_REQUIRED, .extra = extra,
        .nextra = nextra,
        .no_fail = true,
    };
    tr_result r = iam_authorize(&rc, &ar, &res);
    if (tr_ok(r) && res.decision == DECISION_ALLOW) {
        *allowed = true;
        *cond = res.conditional;
        iam_result_evidence(&res, ev, AZ_EV_MAX);
    }
    iam_identity_release(&rc);
    return r;
}

struct session_names {
    const struct az_node *role;
    char **v;
    size_t n, cap;
};

static TR_RESULT on_session_name(void *arg, const char *p)
{
    struct session_names *c = arg;
    const char *name;
    return az_session_of(c->role, p, &name) ? strs_add_unique(&c->v, &c->n, &c->cap, p) : TR_OK;
}

/* Role `from` may not assume `to` as any session: may it as a session the
 * trust policy names (assumed-role/R/S)?  The session name is the
 * caller's choice, so such an edge is conditional ("as session S"). */
static TR_RESULT session_edge(const struct server_env *env, struct az_graph *g, size_t from,
                              size_t to, struct policy *trust)
{
    struct session_names c = { .role = &g->n[from] };
    struct az_node tmp;
    char ev[AZ_EV_MAX] = "", ev2[AZ_EV_MAX];
    bool allowed = false, cond = false;
    tr_result r = policy_each_aws_principal(trust, on_session_name, &c);
    size_t i = 0;
    for (; tr_ok(r) && i < c.n && !allowed; i++) {
        r = az_as_session(&g->n[from], c.v[i], &tmp);
        if (tr_ok(r)) r = assume_decide(env, &tmp, &g->n[to], trust, &allowed, &cond, ev);
    }
    if (tr_ok(r) && allowed) {
        const char *name = strrchr(c.v[i - 1], '/') + 1;
        _Static_assert(AZ_EV_MAX >= sizeof "as session : " + 64 + 900, "ev2 holds both");
        snprintf(ev2, sizeof ev2, "as session %.64s: %.900s", name, ev);   /* cut: above */
        r = add_edge(g, from, to, true, ev2);
        if (tr_ok(r))   /* fits: %.64s */
            snprintf(g->e[g->ne - 1].session, sizeof g->e[0].session, "%.64s", name);
    }
    strs_free(c.v, c.n);
    return r;
}

/* Does node `from` get to assume role `to`?  op_assume_role's decision.
 * A principal of an account the store does not hold is decided by the
 * same rules for each principal of it the trust policy could admit (any
 * principal of the account, and each of its ARNs the policy names), its
 * own IAM taken to allow: the edge exists when one of them passes, a
 * Deny or another action naming the account makes none.  AZ_ANYONE the
 * same, as a user of no account; its edge is public (analyze.h) when the
 * trust policy itself sets no condition. */
static TR_RESULT assume_edge(const struct server_env *env, struct az_graph *g, size_t from,
                             size_t to, struct policy *trust)
{
    const struct az_node *p = &g->n[from], *role = &g->n[to];
    char ev[AZ_EV_MAX] = "";
    bool allowed = false, cond = false;

    if (p->kind == AZ_ROOT || from == to || !trust) return TR_OK;
    GUARD(az_graph_load(g, from));
    if (p->kind == AZ_FOREIGN) {
        char **arns = NULL;
        size_t narns = 0;
        const struct policy *pols[] = { trust };
        struct az_node tmp = *p;
        GUARD(az_stranger_candidates(pols, 1, p->account, &arns, &narns));
        tr_result r = TR_OK;
        for (size_t i = 0; i <= narns && tr_ok(r) && !allowed; i++) {
            r = az_stranger_principal(p->account, i ? arns[i - 1] : NULL, &tmp.who);
            if (tr_ok(r)) r = assume_decide(env, &tmp, role, trust, &allowed, &cond, ev);
        }
        strs_free(arns, narns);
        GUARD(r);
        if (allowed) GUARD(add_edge(g, from, to, true, ev));
        return TR_OK;
    }
    GUARD(assume_decide(env, p, role, trust, &allowed, &cond, ev));
    if (!allowed && p->kind == AZ_ROLE) return session_edge(env, g, from, to, trust);
    if (!allowed) return TR_OK;
    /* AZ_ANYONE: only if its own IAM allows too. */
    GUARD(add_edge(g, from, to, cond || p->kind == AZ_ANYONE, ev));
    if (p->kind == AZ_ANYONE && !cond) g->e[g->ne - 1].public_trust = true;
    return TR_OK;
}

/* n's identity side, and whether any of its identity statements may
 * allow sts:AssumeRole at all (root users never assume roles). */
static TR_RESULT load_identity(store_t st, struct iam_load_memo *m, struct az_node *n)
{
    struct identity *id = calloc(1, sizeof *id);
    ENSURE(id != NULL, TR_E_INTERNAL);
    tr_result r = iam_identity_load_memo(st, &n->who, m, id);
    if (tr_failed(r)) {
        free(id);
        return r;
    }
    n->id = id;
    n->may_assume = false;
    for (size_t k = 0; k < id->nidentity && n->kind != AZ_ROOT && !n->may_assume; k++)
        n->may_assume = policy_may_allow(id->identity[k].p, NULL, "sts:AssumeRole", NULL);
    return TR_OK;
}

/* A principal whose own IAM is not visible -- AZ_ANYONE, or a principal
 * of an account the store does not hold -- is decided with one identity
 * policy allowing everything (the answer says "if its own IAM allows" by
 * being conditional). */
static TR_RESULT load_stranger_identity(struct az_node *n)
{
    static const char doc[] = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":"
                              "\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}";
    struct identity *id = calloc(1, sizeof *id);
    struct named_policy *np = calloc(1, sizeof *np);
    char *name = strdup("its own account's IAM (not visible: taken to allow)");
    struct policy *p = NULL;
    tr_result r = TR_OK;

    if (!id || !np || !name) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    r = policy_cache_get(doc, sizeof doc - 1, POLICY_IDENTITY, &p);
    if (tr_failed(r)) goto fail;
    np->p = p;
    np->name = name;
    id->identity = np;
    id->nidentity = 1;
    n->id = id;
    n->may_assume = true;
    return TR_OK;

fail:
    free(name);
    free(np);
    free(id);
    return r;
}

/* The AZ_ANYONE node's caller (analyze.h): a user of account "*" -- an
 * account id no policy can name, so only "*" and conditions it meets
 * admit it. */
static TR_RESULT load_anyone(struct az_node *n)
{
    memset(&n->who, 0, sizeof n->who);
    n->who.type = PRINCIPAL_USER;
    STR_SET(n->who.account_id, "*");
    STR_SET(n->who.arn, "arn:aws:iam::*:user/*");
    STR_SET(n->who.id, "*");
    return load_stranger_identity(n);
}

TR_RESULT az_stranger_principal(const char *account, const char *named, struct principal *who)
{
    memset(who, 0, sizeof *who);
    GUARD(str_copy(who->account_id, sizeof who->account_id, account, "account id"));
    const char *rest = named && strlen(named) > 13 ? strchr(named + 13, ':') : NULL;
    if (rest && strncmp(named, "arn:aws:iam::", 13) == 0 && strncmp(rest, ":user/", 6) == 0) {
        who->type = PRINCIPAL_USER;
        return str_copy(who->arn, sizeof who->arn, named, "principal ARN");
    }
    if (rest && strncmp(named, "arn:aws:iam::", 13) == 0 && strncmp(rest, ":role/", 6) == 0) {
        /* A session of the role; its name is the caller's choice, and
         * "*" is one no policy names (a policy naming a session is
         * its own candidate, below). */
        const char *name = strrchr(rest, '/') + 1;
        who->type = PRINCIPAL_ROLE_SESSION;
        GUARD(str_copy(who->role_arn, sizeof who->role_arn, named, "role ARN"));
        return str_format(who->arn, sizeof who->arn, "session ARN",
                          "arn:aws:sts::%s:assumed-role/%s/*", account, name);
    }
    if (rest && strncmp(named, "arn:aws:sts::", 13) == 0 &&
        strncmp(rest, ":assumed-role/", 14) == 0) {
        /* arn:aws:sts::X:assumed-role/NAME/SESSION: a session of role
         * NAME (its path, not in a session ARN, taken as "/"). */
        const char *role = rest + 14, *slash = strchr(role, '/');
        if (!slash) goto generic;
        who->type = PRINCIPAL_ROLE_SESSION;
        GUARD(str_copy(who->arn, sizeof who->arn, named, "session ARN"));
        return str_format(who->role_arn, sizeof who->role_arn, "role ARN",
                          "arn:aws:iam::%s:role/%.*s", account, (int)(slash - role), role);
    }
generic:
    /* Any principal of the account: a user no policy names by ARN. */
    who->type = PRINCIPAL_USER;
    return str_format(who->arn, sizeof who->arn, "principal ARN", "arn:aws:iam::%s:user/*",
                      account);
}

struct cand_arns {
    const char *account;
    char **v;
    size_t n, cap;
};

static TR_RESULT on_cand_arn(void *arg, const char *p)
{
    struct cand_arns *c = arg;
    char a[ACCOUNT_ID_LEN + 1];
    if (!az_principal_account(p, a) || strcmp(a, c->account) != 0) return TR_OK;
    if (digits12(p, strlen(p)) || strcmp(p + strlen(p) - 5, ":root") == 0) return TR_OK;
    return strs_add_unique(&c->v, &c->n, &c->cap, p);
}

TR_RESULT az_stranger_candidates(const struct policy *const *pols, size_t npols,
                                 const char *account, char ***out, size_t *n)
{
    struct cand_arns c = { .account = account };
    tr_result r = TR_OK;
    for (size_t i = 0; i < npols && tr_ok(r); i++)
        if (pols[i]) r = policy_each_aws_principal(pols[i], on_cand_arn, &c);
    if (tr_failed(r)) {
        strs_free(c.v, c.n);
        return r;
    }
    *out = c.v;
    *n = c.n;
    return TR_OK;
}

/* ---- the GetSecretValue prefilter index ---------------------------------- */

static TR_RESULT gsv_heads(struct az_graph *g);
static TR_RESULT gsv_nodes(struct az_graph *g);

/* g->gsv_pol: every distinct identity policy (by compiled object: the
 * policy cache shares one per document text) with a statement that may
 * allow GetSecretValue somewhere; each node's indices into it. */
static TR_RESULT gsv_index(struct az_graph *g)
{
    size_t cap = 1024, *slot = NULL;     /* open addressing: policy -> index + 1 */
    tr_result r = TR_OK;

    for (size_t i = 0; i < g->nn; i++)
        if (g->n[i].id) cap += g->n[i].id->nidentity * 2;
    slot = calloc(cap, sizeof *slot);
    g->gsv_pol = calloc(cap, sizeof *g->gsv_pol);
    if (!slot || !g->gsv_pol) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    for (size_t i = 0; i < g->nn; i++) {
        struct az_node *n = &g->n[i];
        if (!n->id || !n->id->nidentity) continue;
        n->gsv_pols = calloc(n->id->nidentity, sizeof *n->gsv_pols);
        if (!n->gsv_pols) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
        for (size_t k = 0; k < n->id->nidentity; k++) {
            const struct policy *p = n->id->identity[k].p;
            if (!p) continue;
            size_t h = ((uintptr_t)p >> 4) % cap;
            while (slot[h] && g->gsv_pol[slot[h] - 1] != p) h = (h + 1) % cap;
            if (!slot[h]) {
                if (!policy_may_allow(p, NULL, "secretsmanager:GetSecretValue", NULL)) continue;
                g->gsv_pol[g->ngsv_pol++] = p;
                slot[h] = g->ngsv_pol;
            }
            n->gsv_pols[n->ngsv_pols++] = slot[h] - 1;
        }
    }
    if (tr_ok(r)) r = gsv_heads(g);
    if (tr_ok(r)) r = gsv_nodes(g);
fail:
    free(slot);
    return r;
}

/* Free what gsv_index made, but for the nodes' own gsv_pols (the node
 * loop of az_graph_free frees those). */
static void gsv_index_free(struct az_graph *g)
{
    free(g->gsv_pol);
    free(g->gsv_any);
    free(g->gsv_node);
    free(g->gsv_node_at);
    free(g->gsv_always);
    for (size_t i = 0; i < g->ngsv_head; i++) free(g->gsv_head[i].s);
    free(g->gsv_head);
}

/* g->gsv_node, gsv_node_at and gsv_always (analyze.h), from each node's
 * gsv_pols: counted, then placed. */
static TR_RESULT gsv_nodes(struct az_graph *g)
{
    size_t total = 0;
    for (size_t i = 0; i < g->nn; i++) total += g->n[i].ngsv_pols;
    g->gsv_node_at = calloc(g->ngsv_pol + 2, sizeof *g->gsv_node_at);
    g->gsv_node = calloc(total + 1, sizeof *g->gsv_node);
    g->gsv_always = calloc(g->nn + 1, sizeof *g->gsv_always);
    ENSURE(g->gsv_node_at && g->gsv_node && g->gsv_always, TR_E_INTERNAL);
    for (size_t i = 0; i < g->nn; i++)
        for (size_t k = 0; k < g->n[i].ngsv_pols; k++) g->gsv_node_at[g->n[i].gsv_pols[k] + 2]++;
    for (size_t k = 0; k < g->ngsv_pol; k++) g->gsv_node_at[k + 2] += g->gsv_node_at[k + 1];
    /* gsv_node_at[k + 1]: where policy k's nodes go next; at the end, where they end. */
    for (size_t i = 0; i < g->nn; i++) {
        const struct az_node *n = &g->n[i];
        for (size_t k = 0; k < n->ngsv_pols; k++) g->gsv_node[g->gsv_node_at[n->gsv_pols[k] + 1]++] = i;
        if (!n->deferred && (n->kind == AZ_FOREIGN || !n->id || n->id->root))
            g->gsv_always[g->ngsv_always++] = i;
    }
    g->gsv_nn = g->nn;
    return TR_OK;
}

static const char GSV[] = "secretsmanager:GetSecretValue";

struct heads_ctx {
    struct az_graph *g;
    size_t pol, cap;
    bool oom;
};

static void on_head(void *arg, const char *head, size_t len)
{
    struct heads_ctx *c = arg;
    struct az_graph *g = c->g;
    struct az_head *v = c->oom ? NULL : array_grow(g->gsv_head, &c->cap, g->ngsv_head, sizeof *v, 256);
    char *copy = v ? malloc(len ? len : 1) : NULL;
    if (!copy) { c->oom = true; return; }
    memcpy(copy, head, len);
    g->gsv_head = v;
    g->gsv_head[g->ngsv_head++] = (struct az_head){ .s = copy, .len = len, .pol = c->pol };
}

/* Heads in byte order, a shorter one before the longer ones it starts. */
static int head_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int d = memcmp(a, b, alen < blen ? alen : blen);
    return d ? d : alen < blen ? -1 : alen > blen;
}

static int cmp_head(const void *x, const void *y)
{
    const struct az_head *a = x, *b = y;
    int d = head_cmp(a->s, a->len, b->s, b->len);
    return d ? d : a->pol < b->pol ? -1 : a->pol > b->pol;
}

/* g->gsv_head and g->gsv_any from g->gsv_pol (analyze.h). */
static TR_RESULT gsv_heads(struct az_graph *g)
{
    struct heads_ctx c = { .g = g };
    g->gsv_any = calloc(g->ngsv_pol + 1, sizeof *g->gsv_any);
    ENSURE(g->gsv_any != NULL, TR_E_INTERNAL);
    for (size_t k = 0; k < g->ngsv_pol && !c.oom; k++) {
        size_t before = g->ngsv_head;
        c.pol = k;
        if (policy_may_allow_heads(g->gsv_pol[k], GSV, on_head, &c)) continue;
        /* Any resource may do: asked always, its heads not needed. */
        while (g->ngsv_head > before) free(g->gsv_head[--g->ngsv_head].s);
        g->gsv_any[g->ngsv_any++] = k;
    }
    ENSURE(!c.oom, TR_E_INTERNAL);
    if (g->ngsv_head > 1) qsort(g->gsv_head, g->ngsv_head, sizeof *g->gsv_head, cmp_head);
    return TR_OK;
}

/* The first head equal to resource[0..len), or g->ngsv_head. */
static size_t head_find(const struct az_graph *g, const char *resource, size_t len)
{
    size_t lo = 0, hi = g->ngsv_head;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct az_head *h = &g->gsv_head[mid];
        if (head_cmp(h->s, h->len, resource, len) < 0) lo = mid + 1;
        else hi = mid;
    }
    if (lo < g->ngsv_head && head_cmp(g->gsv_head[lo].s, g->gsv_head[lo].len, resource, len) == 0)
        return lo;
    return g->ngsv_head;
}

void az_gsv_may(const struct az_graph *g, const char *resource, unsigned char *may)
{
    /* 2: asked, and no; 1: asked, and yes; 0: not asked (no). */
    size_t n = strlen(resource);
    if (g->ngsv_pol) memset(may, 0, g->ngsv_pol);
    for (size_t i = 0; i < g->ngsv_any; i++) {
        size_t k = g->gsv_any[i];
        may[k] = policy_may_allow(g->gsv_pol[k], NULL, GSV, resource) ? 1 : 2;
    }
    for (size_t len = 1; len <= n && g->ngsv_head; len++) {
        for (size_t h = head_find(g, resource, len);
             h < g->ngsv_head && g->gsv_head[h].len == len &&
             memcmp(g->gsv_head[h].s, resource, len) == 0; h++) {
            size_t k = g->gsv_head[h].pol;
            if (!may[k]) may[k] = policy_may_allow(g->gsv_pol[k], NULL, GSV, resource) ? 1 : 2;
        }
    }
    for (size_t k = 0; k < g->ngsv_pol; k++) may[k] = may[k] == 1;
}

/* ---- edges into a role ------------------------------------------------------ */

struct cand_ctx {
    struct az_graph *g;
    size_t role;
    size_t *v;
    size_t n, cap;
    bool oom;
};

static void cand_add(struct cand_ctx *c, size_t node)
{
    struct az_graph *g = c->g;
    if (node == c->role || g->stamp[node] == g->stamp_gen) return;
    size_t *v = array_grow(c->v, &c->cap, c->n, sizeof *v, 64);
    if (!v) { c->oom = true; return; }
    c->v = v;
    g->stamp[node] = g->stamp_gen;
    c->v[c->n++] = node;
}

/* Add the user and role nodes whose unique id (a user's AIDA..., a
 * role's AROA...) is id (g->by_id, sorted). */
static void cand_by_id(struct cand_ctx *c, const char *id)
{
    const struct az_graph *g = c->g;
    size_t n = strlen(id), lo = 0, hi = g->nby_id;
    if (!n) return;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct az_node *x = &g->n[g->by_id[mid]];
        size_t lx = id_len(x);
        int d = memcmp(x->who.id, id, lx < n ? lx : n);
        if (!d) d = lx < n ? -1 : lx > n;
        if (d < 0) lo = mid + 1;
        else hi = mid;
    }
    for (; lo < g->nby_id; lo++) {
        const struct az_node *x = &g->n[g->by_id[lo]];
        if (id_len(x) != n || memcmp(x->who.id, id, n) != 0) break;
        cand_add(c, g->by_id[lo]);
    }
}

/* Nodes a trust-policy principal could admit: "*" everyone; an account its
 * nodes whose identity policies may allow sts:AssumeRole on the role (the
 * trust then delegates to them) and its foreign node; an ARN that node;
 * a user or role ARN bound to a unique id (policy_each_aws_principal_bound)
 * the node with that id, whatever its name is now; a unique id written as
 * such (AIDA..., AROA...) the node that has it.  The evaluator matches
 * nothing else (trust policies have no NotPrincipal), so every principal
 * the trust policy can allow is among these (tests/unit/analyze_index_test.c
 * compares the edges with those of trying every node). */
static TR_RESULT on_trust_principal(void *arg, const char *p, const char *bound_id)
{
    struct cand_ctx *c = arg;
    struct az_graph *g = c->g;
    char a[ACCOUNT_ID_LEN + 1];
    const char *id = bound_id && *bound_id ? bound_id : strncmp(p, "arn:", 4) != 0 ? p : NULL;
    if (id) cand_by_id(c, id);
    bool everyone = strcmp(p, "*") == 0;
    bool account = !everyone && az_principal_account(p, a) &&
                   (digits12(p, strlen(p)) || strcmp(p + strlen(p) - 5, ":root") == 0);
    for (size_t i = 0; i < g->nn && (everyone || account); i++) {
        const struct az_node *n = &g->n[i];
        if (n->kind == AZ_ROOT) continue;
        if (everyone) { cand_add(c, i); continue; }
        if (strcmp(n->account, a) != 0) continue;
        if (n->kind == AZ_FOREIGN) { cand_add(c, i); continue; }
        if (!n->may_assume) continue;
        if (n->deferred && !az_facts_may(n, "assume", g->n[c->role].arn)) continue;
        GUARD(az_graph_load(g, i));
        bool may = false;
        for (size_t k = 0; k < n->id->nidentity && !may; k++)
            may = policy_may_allow(n->id->identity[k].p, NULL, "sts:AssumeRole",
                                   g->n[c->role].arn);
        if (may) cand_add(c, i);
    }
    if (!everyone && !account) {
        size_t i = az_graph_find(g, p);
        /* A session ARN: the role of that name (assume_edge then decides
         * as that session). */
        for (size_t k = 0; i == SIZE_MAX && k < g->nn; k++) {
            const char *name;
            if (az_session_of(&g->n[k], p, &name)) cand_add(c, k);
        }
        /* An ARN of an account the store does not hold: its node. */
        if (i == SIZE_MAX && az_principal_account(p, a)) {
            char root[sizeof "arn:aws:iam:::root" + ACCOUNT_ID_LEN];
            snprintf(root, sizeof root, "arn:aws:iam::%s:root", a);   /* fits: sized for it */
            i = az_graph_find(g, root);
            if (i != SIZE_MAX && g->n[i].kind != AZ_FOREIGN) i = SIZE_MAX;
        }
        if (i != SIZE_MAX) cand_add(c, i);
    }
    return c->oom ? tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL) : TR_OK;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

TR_RESULT az_graph_edges_into(struct az_graph *g, size_t role)
{
    struct az_node *r = &g->n[role];
    if (r->into_done || r->kind != AZ_ROLE) return TR_OK;
    r->into_done = true;
    GUARD(az_graph_trust(g, role));
    if (!r->trust) return TR_OK;
    if (g->nstamp < g->nn) {
        size_t *v = realloc(g->stamp, g->nn * sizeof *v);
        ENSURE(v != NULL, TR_E_INTERNAL);
        for (size_t i = g->nstamp; i < g->nn; i++) v[i] = 0;
        g->stamp = v;
        g->nstamp = g->nn;
    }
    g->stamp_gen++;
    struct cand_ctx c = { .g = g, .role = role };
    tr_result res = TR_OK;
    if (g->exhaustive) {
        for (size_t i = 0; i < g->nn && !c.oom; i++) cand_add(&c, i);
        if (c.oom) res = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    } else {
        res = policy_each_aws_principal_bound(r->trust, on_trust_principal, &c);
    }
    /* Candidates in node order, so edges come out as a full scan would. */
    if (c.n > 1) qsort(c.v, c.n, sizeof *c.v, cmp_size);
    for (size_t i = 0; tr_ok(res) && i < c.n; i++)
        res = assume_edge(g->env, g, c.v[i], role, g->n[role].trust);
    free(c.v);
    return res;
}

TR_RESULT az_graph_edges_all(struct az_graph *g)
{
    for (size_t i = 0; i < g->nn; i++) GUARD(az_graph_edges_into(g, i));
    return TR_OK;
}

static TR_RESULT build(const struct server_env *env, const char *const *accounts, size_t naccounts,
                       bool lazy, const struct az_facts *facts, struct az_graph *g);

TR_RESULT az_graph_build(const struct server_env *env, const char *const *accounts,
                         size_t naccounts, struct az_graph *g)
{
    return az_graph_build_opts(env, accounts, naccounts, false, g);
}

TR_RESULT az_graph_build_opts(const struct server_env *env, const char *const *accounts,
                              size_t naccounts, bool lazy, struct az_graph *g)
{
    return build(env, accounts, naccounts, lazy, NULL, g);
}

TR_RESULT az_graph_build_facts(const struct server_env *env, const char *const *accounts,
                               size_t naccounts, const struct az_facts *facts, struct az_graph *g)
{
    return build(env, accounts, naccounts, true, facts, g);
}

bool az_facts_may(const struct az_node *n, const char *which, const char *resource)
{
    const struct az_heads *h = strcmp(which, "assume") == 0 ? &n->facts->assume : &n->facts->gsv;
    if (!h->present) return false;
    if (h->any) return true;
    for (size_t i = 0; i < h->n; i++)
        if (strncmp(resource, h->v[i], strlen(h->v[i])) == 0) return true;
    return false;
}

TR_RESULT az_graph_load(struct az_graph *g, size_t i)
{
    struct az_node *n = &g->n[i];
    if (!n->deferred) return TR_OK;
    GUARD(load_identity(g->env->st, g->memo, n));
    n->deferred = false;
    n->facts = NULL;
    g->gsv_stale = true;
    return TR_OK;
}

TR_RESULT az_graph_reindex(struct az_graph *g)
{
    if (!g->gsv_stale) return TR_OK;
    gsv_index_free(g);
    for (size_t i = 0; i < g->nn; i++) {
        free(g->n[i].gsv_pols);
        g->n[i].gsv_pols = NULL;
        g->n[i].ngsv_pols = 0;
    }
    g->gsv_pol = NULL;
    g->ngsv_pol = g->ngsv_head = g->ngsv_any = g->ngsv_always = g->gsv_nn = 0;
    g->gsv_head = NULL;
    g->gsv_any = g->gsv_node = g->gsv_node_at = g->gsv_always = NULL;
    g->gsv_stale = false;
    return gsv_index(g);
}

static TR_RESULT build(const struct server_env *env, const char *const *accounts, size_t naccounts,
                       bool lazy, const struct az_facts *facts, struct az_graph *g)
{
    store_t st = env->st;
    struct acct_set todo = { 0 };
    struct ent_rec *v = NULL;
    size_t nv = 0;
    struct iam_load_memo *memo = NULL;
    tr_result r = TR_OK;

    memset(g, 0, sizeof *g);
    g->facts = facts;
    for (size_t i = 0; i < naccounts && tr_ok(r); i++) r = acct_add(&todo, accounts[i]);
    /* todo grows while it is walked: trust policies name more accounts. */
    for (size_t i = 0; tr_ok(r) && i < todo.n; i++) {
        const char *a = todo.id[i];
        struct account_rec ar;
        char arn[sizeof "arn:aws:iam:::root" + sizeof todo.id[0]];
        r = st[0]->account_get(st, a, &ar);
        if (tr_failed(r)) {
            if (tr_code(r) != TR_E_STORE_NOT_FOUND && tr_code(r) != TR_E_IAM_NO_SUCH_ENTITY) break;
            r = az_graph_add_foreign(g, a);
            continue;
        }
        snprintf(arn, sizeof arn, "arn:aws:iam::%s:root", a);  /* fits: a is a todo.id, sized for it */
        r = add_node(g, AZ_ROOT, arn, a);
        const char *kinds[] = { "user", "role" };
        for (int k = 0; k < 2 && tr_ok(r); k++) {
            r = list_all(st, kinds[k], a, &v, &nv);
            for (size_t j = 0; tr_ok(r) && j < nv; j++) {
                r = add_node(g, k ? AZ_ROLE : AZ_USER, v[j].arn, a);
                /* How it calls, from the record just listed (no second read). */
                if (tr_ok(r)) r = iam_principal_from_ent(&v[j], NULL, &g->n[g->nn - 1].who);
                bool done = false;
                if (tr_ok(r) && k && facts)
                    r = role_trust_deferred(facts, &v[j], &g->n[g->nn - 1], &todo, &done);
                if (tr_ok(r) && k && !done) {
                    struct policy *p = NULL;
                    r = role_trust(&v[j], &p, &g->n[g->nn - 1].trust_doc);
                    g->n[g->nn - 1].trust = p;     /* kept for the edges into it */
                    if (tr_ok(r) && p) r = policy_each_aws_principal(p, on_principal, &todo);
                }
            }
            ent_list_free(v, nv);
            v = NULL;
            nv = 0;
        }
    }
    if (tr_ok(r)) r = add_node(g, AZ_ANYONE, AZ_ANYONE_ARN, "*");
    if (tr_failed(r)) goto fail;

    /* How each held node calls, and its identity side (loaded once; the
     * managed and group policies they share once for all). */
    memo = iam_load_memo_new();
    if (!memo) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    for (size_t i = 0; i < g->nn && tr_ok(r); i++) {
        struct az_node *n = &g->n[i];
        if (n->kind == AZ_FOREIGN) continue;
        if (n->kind == AZ_ANYONE) {
            r = load_anyone(n);
            continue;
        }
        if (n->kind == AZ_ROOT) r = iam_principal_from_arn(st, n->arn, &n->who);
        /* With the facts: its identity when an answer needs it. */
        const struct az_fact *f = n->kind == AZ_USER || n->kind == AZ_ROLE ? az_facts_find(facts, n->arn) : NULL;
        if (tr_ok(r) && f) {
            n->deferred = true;
            n->facts = f;
            n->may_assume = f->assume.present;
        } else if (tr_ok(r)) {
            r = load_identity(st, memo, n);
        }
    }
    if (tr_failed(r)) goto fail;

    r = index_arns(g);
    if (tr_ok(r)) r = index_ids(g);
    if (tr_ok(r)) r = gsv_index(g);
    if (tr_failed(r)) goto fail;
    g->env = env;
    g->lazy = lazy;
    if (!lazy) r = az_graph_edges_all(g);
fail:
    if (tr_ok(r) && facts) g->memo = memo;      /* the deferred nodes load through it */
    else iam_load_memo_free(memo);
    free(todo.id);
    if (tr_failed(r)) az_graph_free(g);
    return r;
}
