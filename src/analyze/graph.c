/*
 * graph.c -- the principals of an account set and who can become whom
 * through sts:AssumeRole (SEMANTICS 1.10, 6).
 *
 * Accounts: the ones asked for, then every account a role's trust policy
 * names, transitively (a principal of an account no policy names cannot
 * reach the secret's account's roles).  Held accounts contribute their
 * root user, users and roles; accounts the store does not hold become one
 * "foreign" node each ("any principal of X that its own IAM allows").
 *
 * Edges: P -> R when STS would let P assume R: the same iam_authorize
 * call op_assume_role makes (action sts:AssumeRole on the role ARN, the
 * trust policy in RES_REQUIRED mode), with sts:RoleSessionName marked
 * unknown (the caller picks it).  Root users cannot assume roles (STS
 * refuses them before any policy).  Foreign nodes get an edge when the
 * trust policy names their account (their own IAM is not visible).
 */
#include "analyze/analyze.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iam/authz.h"

static TR_RESULT add_node(struct az_graph *g, enum az_kind kind, const char *arn,
                          const char *account)
{
    if (g->nn == g->capn) {
        size_t cap = g->capn ? 2 * g->capn : 32;
        struct az_node *v = realloc(g->n, cap * sizeof *v);
        ENSURE(v != NULL, TR_E_INTERNAL);
        g->n = v;
        g->capn = cap;
    }
    struct az_node *n = &g->n[g->nn];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    snprintf(n->arn, sizeof n->arn, "%s", arn);
    snprintf(n->account, sizeof n->account, "%s", account);
    g->nn++;
    return TR_OK;
}

static TR_RESULT add_edge(struct az_graph *g, size_t from, size_t to, bool cond, const char *ev)
{
    if (g->ne == g->cape) {
        size_t cap = g->cape ? 2 * g->cape : 32;
        struct az_edge *v = realloc(g->e, cap * sizeof *v);
        ENSURE(v != NULL, TR_E_INTERNAL);
        g->e = v;
        g->cape = cap;
    }
    g->e[g->ne] = (struct az_edge){ .from = from, .to = to, .conditional = cond };
    snprintf(g->e[g->ne].evidence, sizeof g->e[g->ne].evidence, "%s", ev);
    g->ne++;
    return TR_OK;
}

size_t az_graph_find(const struct az_graph *g, const char *arn)
{
    for (size_t i = 0; i < g->nn; i++)
        if (strcmp(g->n[i].arn, arn) == 0) return i;
    return SIZE_MAX;
}

TR_RESULT az_graph_add_foreign(struct az_graph *g, const char *account)
{
    char arn[64];
    snprintf(arn, sizeof arn, "arn:aws:iam::%s:root", account);
    if (az_graph_find(g, arn) != SIZE_MAX) return TR_OK;
    return add_node(g, AZ_FOREIGN, arn, account);
}

void az_graph_free(struct az_graph *g)
{
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
static bool principal_account(const char *p, char out[ACCOUNT_ID_LEN + 1])
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
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        void *v = realloc(s->id, cap * sizeof *s->id);
        ENSURE(v != NULL, TR_E_INTERNAL);
        s->id = v;
        s->cap = cap;
    }
    snprintf(s->id[s->n++], sizeof s->id[0], "%s", id);
    return TR_OK;
}

static TR_RESULT on_principal(void *arg, const char *p)
{
    char a[ACCOUNT_ID_LEN + 1];
    if (principal_account(p, a)) return acct_add(arg, a);
    return TR_OK;
}

/* The compiled trust policy of role entity e (NULL when it has none). */
static TR_RESULT role_trust(const struct ent_rec *e, struct policy **out)
{
    *out = NULL;
    json_t *doc = json_loads(e->doc ? e->doc : "{}", 0, NULL);
    const char *text = json_string_value(json_object_get(doc, "trust"));
    tr_result r = TR_OK;
    if (text) r = policy_cache_get(text, strlen(text), POLICY_TRUST, out);
    json_decref(doc);
    return r;
}

static TR_RESULT list_all(store_t st, const char *kind, const char *account, struct ent_rec **out,
                          size_t *n)
{
    return st[0]->ent_list(st, kind, account, NULL, NULL, 100000, out, n);
}

/* ---- building ---------------------------------------------------------------- */

/* Does node `from` get to assume role `to`?  op_assume_role's decision. */
static TR_RESULT assume_edge(const struct server_env *env, struct az_graph *g, size_t from,
                             size_t to, struct policy *trust)
{
    const struct az_node *p = &g->n[from], *role = &g->n[to];
    char name[600], ev[AZ_EV_MAX] = "";
    struct req_ctx rc = { 0 };
    struct eval_result res;
    static const char *const any[] = { "" };
    /* Chosen by the caller, or request-time: unknown (reported, not decided). */
    static const char *const keys[] = {
        "sts:RoleSessionName", "sts:ExternalId", "sts:SourceIdentity", "aws:TagKeys",
        "aws:SourceIp", "aws:CurrentTime", "aws:EpochTime", "aws:SecureTransport",
        "aws:MultiFactorAuthPresent", "aws:MultiFactorAuthAge", "aws:TokenIssueTime",
    };
    struct ctx_entry extra[sizeof keys / sizeof keys[0]];
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        extra[i] = (struct ctx_entry){ .key = keys[i], .values = any, .n = 1, .unknown = true };
    tr_result r;

    if (p->kind == AZ_ROOT || from == to || !trust) return TR_OK;
    snprintf(name, sizeof name, "trust:%s", role->arn);
    struct named_policy np = { .p = trust, .name = name };
    if (p->kind == AZ_FOREIGN) {
        /* Their IAM is not visible: the edge exists when the trust policy
         * names the account (or everyone). */
        char needle[64];
        bool named = false;
        snprintf(needle, sizeof needle, "arn:aws:iam::%s:root", p->account);
        struct acct_set s = { 0 };
        r = policy_each_aws_principal(trust, on_principal, &s);
        for (size_t i = 0; tr_ok(r) && i < s.n; i++) named |= strcmp(s.id[i], p->account) == 0;
        free(s.id);
        GUARD(r);
        if (named)
            GUARD(add_edge(g, from, to, true, "trust policy names the account; its own IAM must allow sts:AssumeRole"));
        return TR_OK;
    }
    rc.env = env;
    rc.st = env->st;
    rc.kr = env->kr;
    rc.now = tr_now();
    rc.who = p->who;
    snprintf(rc.region, sizeof rc.region, "%s", env->default_region);
    snprintf(rc.service, sizeof rc.service, "sts");
    struct authz_req ar = {
        .action = "sts:AssumeRole", .resource = role->arn, .resource_account = role->account,
        .resource_policy = &np, .mode = RES_REQUIRED, .extra = extra,
        .nextra = sizeof extra / sizeof extra[0],
        .no_fail = true,
    };
    r = iam_authorize(&rc, &ar, &res);
    if (tr_ok(r) && res.decision == DECISION_ALLOW) {
        iam_result_evidence(&res, ev, sizeof ev);
        r = add_edge(g, from, to, res.conditional, ev);
    }
    if (rc.identity) {
        iam_identity_free(rc.identity);
        free(rc.identity);
    }
    return r;
}

TR_RESULT az_graph_build(const struct server_env *env, const char *const *accounts,
                         size_t naccounts, struct az_graph *g)
{
    store_t st = env->st;
    struct acct_set todo = { 0 };
    struct ent_rec *v = NULL;
    size_t nv = 0;
    struct policy **trusts = NULL;
    tr_result r = TR_OK;

    memset(g, 0, sizeof *g);
    for (size_t i = 0; i < naccounts && tr_ok(r); i++) r = acct_add(&todo, accounts[i]);
    /* todo grows while it is walked: trust policies name more accounts. */
    for (size_t i = 0; tr_ok(r) && i < todo.n; i++) {
        const char *a = todo.id[i];
        struct account_rec ar;
        char arn[64];
        r = st[0]->account_get(st, a, &ar);
        if (tr_failed(r)) {
            if (tr_code(r) != TR_E_KMS_NOT_FOUND && tr_code(r) != TR_E_IAM_NO_SUCH_ENTITY) break;
            r = az_graph_add_foreign(g, a);
            continue;
        }
        snprintf(arn, sizeof arn, "arn:aws:iam::%s:root", a);
        r = add_node(g, AZ_ROOT, arn, a);
        const char *kinds[] = { "user", "role" };
        for (int k = 0; k < 2 && tr_ok(r); k++) {
            r = list_all(st, kinds[k], a, &v, &nv);
            for (size_t j = 0; tr_ok(r) && j < nv; j++) {
                r = add_node(g, k ? AZ_ROLE : AZ_USER, v[j].arn, a);
                if (tr_ok(r) && k) {
                    struct policy *p = NULL;
                    r = role_trust(&v[j], &p);
                    if (tr_ok(r) && p) r = policy_each_aws_principal(p, on_principal, &todo);
                    policy_unref(p);
                }
            }
            ent_list_free(v, nv);
            v = NULL;
            nv = 0;
        }
    }
    if (tr_failed(r)) goto fail;

    /* How each held node calls. */
    for (size_t i = 0; i < g->nn; i++) {
        if (g->n[i].kind == AZ_FOREIGN) continue;
        r = iam_principal_from_arn(st, g->n[i].arn, &g->n[i].who);
        if (tr_failed(r)) goto fail;
    }

    /* Edges into every role. */
    trusts = calloc(g->nn ? g->nn : 1, sizeof *trusts);
    if (!trusts) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    for (size_t i = 0; i < g->nn; i++) {
        if (g->n[i].kind != AZ_ROLE) continue;
        struct ent_rec e = { 0 };
        r = st[0]->ent_get_arn(st, "role", g->n[i].arn, &e);
        if (tr_ok(r)) r = role_trust(&e, &trusts[i]);
        ent_rec_free(&e);
        if (tr_failed(r)) goto fail;
    }
    for (size_t to = 0; to < g->nn; to++) {
        if (!trusts[to]) continue;
        for (size_t from = 0; from < g->nn; from++) {
            r = assume_edge(env, g, from, to, trusts[to]);
            if (tr_failed(r)) goto fail;
        }
    }
fail:
    if (trusts)
        for (size_t i = 0; i < g->nn; i++) policy_unref(trusts[i]);
    free(trusts);
    free(todo.id);
    if (tr_failed(r)) az_graph_free(g);
    return r;
}
