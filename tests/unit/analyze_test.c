/*
 * analyze_test.c -- the assume-role graph of src/analyze/graph.c over an
 * in-memory store with hand-made IAM records (docs/internals/IAM_STORE.md).
 *
 * Covered: the principals of an account (root, users, roles), accounts a
 * trust policy names pulled in (held ones with their principals, others
 * as one foreign node); edges exactly where STS would allow AssumeRole
 * (trust naming a user directly: no identity policy needed; naming the
 * account: the identity policy must allow; naming a role: its sessions;
 * an explicit Deny in the trust policy); root users never assume; a
 * condition on sts:ExternalId makes the edge conditional, not absent;
 * cycles between roles are kept as edges (reachability stops on them);
 * a lazy graph's edges, asked role by role, are the full graph's.
 *
 * Then the "can gain access" list of src/analyze/escalate.c, one test per
 * kind of permission, over a secret and its customer key made by the
 * server's own KMS and Secrets Manager handlers: each scenario has a
 * principal for which exactly that permission opens the way (listed, with
 * the permission, its target and the allowing statements), and twins for
 * which it is missing, scoped to another resource, explicitly denied or
 * outside a permissions boundary (not listed).  The principals that can
 * assume a role holding such a permission are listed "via" it.  Every
 * action listed by any of them is a row of escalate_actions.def (the list
 * a prepared snapshot's "escalate" fact asks), and the table itself is
 * whole: one distinct "service:Action" per row, NULL after the last.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze.h"
#include "crypto/hash.h"
#include "crypto/keyring.h"
#include "iam/authz.h"
#include "iam/policy.h"
#include "kms/kms.h"
#include "op_harness.h"
#include "secrets/ops.h"
#include "store/store.h"

#include "analyze_fixture.h"

static void put_role(const char *acct, const char *name, const char *id, const char *trust,
                     const char *policy)
{
    char arn[256];
    snprintf(arn, sizeof arn, "arn:aws:iam::%s:role/%s", acct, name);
    json_t *d = json_pack("{s:s, s:s, s:i}", "trust", q(trust), "description", "",
                          "max_session", 3600);
    char *doc = json_dumps(d, JSON_COMPACT);
    put_entity("role", acct, name, id, arn, doc);
    free(doc);
    json_decref(d);
    if (policy) put_inline(arn, policy);
}

/* The edge from -> to, or NULL. */
static const struct az_edge *edge(const struct az_graph *g, const char *from, const char *to)
{
    size_t f = az_graph_find(g, from), t = az_graph_find(g, to);
    assert_true(f != SIZE_MAX);
    assert_true(t != SIZE_MAX);
    for (size_t i = 0; i < g->ne; i++)
        if (g->e[i].from == f && g->e[i].to == t) return &g->e[i];
    return NULL;
}

#define U(n) "arn:aws:iam::" ACCT ":user/" n
#define R(n) "arn:aws:iam::" ACCT ":role/" n

static void test_graph(void **state)
{
    (void)state;
    put_user(ACCT, "can-assume", "AIDAAAAAAAAAAAAAAAA1", DOC(ALLOW("sts:AssumeRole", "*")));
    put_user(ACCT, "no-policy", "AIDAAAAAAAAAAAAAAAA2", NULL);
    put_user(ACCT, "denied", "AIDAAAAAAAAAAAAAAAA3", DOC(ALLOW("sts:AssumeRole", "*")));
    put_user(ACCT2, "other", "AIDAAAAAAAAAAAAAAAA4", DOC(ALLOW("sts:AssumeRole", "*")));
    /* Trust naming the account: identity policy needed; a Deny wins. */
    put_role(ACCT, "by-account", "AROAAAAAAAAAAAAAAAA1",
             DOC(TRUST("arn:aws:iam::" ACCT ":root") "," TRUST_DENY(U("denied"))),
             DOC(ALLOW("sts:AssumeRole", "*")));
    /* Naming a role: its sessions.  And back: a cycle. */
    put_role(ACCT, "by-role", "AROAAAAAAAAAAAAAAAA2", DOC(TRUST(R("by-account"))),
             DOC(ALLOW("sts:AssumeRole", "*")));
    /* Naming a user directly: no identity policy needed. */
    put_role(ACCT, "by-user", "AROAAAAAAAAAAAAAAAA3", DOC(TRUST(U("no-policy"))), NULL);
    /* A condition on what the caller sends: conditional. */
    put_role(ACCT, "external-id", "AROAAAAAAAAAAAAAAAA4",
             DOC(TRUST_IF("arn:aws:iam::" ACCT ":root", "{'StringEquals':{'sts:ExternalId':'x'}}")),
             NULL);
    /* Any account: the stand-in for principals nobody names gets an edge
     * (conditional: its own IAM must allow too). */
    put_role(ACCT, "open", "AROAAAAAAAAAAAAAAAA6", DOC(TRUST("*")), NULL);
    /* Another held account, and one the store does not hold. */
    put_role(ACCT, "cross", "AROAAAAAAAAAAAAAAAA5",
             DOC(TRUST("arn:aws:iam::" ACCT2 ":root") "," TRUST("arn:aws:iam::" FOREIGN ":root")),
             NULL);

    const char *accts[] = { ACCT };
    struct az_graph g;
    ok(az_graph_build(&ENV, accts, 1, &g));

    /* Principals: both held accounts' roots and users, the roles, one
     * foreign node, and the stand-in for any other account. */
    assert_true(az_graph_find(&g, "arn:aws:iam::" ACCT ":root") != SIZE_MAX);
    assert_true(az_graph_find(&g, "arn:aws:iam::" ACCT2 ":root") != SIZE_MAX);
    assert_true(az_graph_find(&g, "arn:aws:iam::" ACCT2 ":user/other") != SIZE_MAX);
    size_t f = az_graph_find(&g, "arn:aws:iam::" FOREIGN ":root");
    assert_true(f != SIZE_MAX);
    assert_int_equal(g.n[f].kind, AZ_FOREIGN);
    assert_int_equal(g.nn, 2 + 4 + 6 + 1 + 1);
    const struct az_edge *e;
    size_t any = az_graph_find(&g, AZ_ANYONE_ARN);
    assert_true(any != SIZE_MAX);
    assert_int_equal(g.n[any].kind, AZ_ANYONE);
    assert_string_equal(g.n[any].account, "*");
    e = NULL;
    for (size_t i = 0; i < g.ne; i++)
        if (g.e[i].from == any) {
            assert_string_equal(g.n[g.e[i].to].arn, R("open"));   /* only "*" admits it */
            e = &g.e[i];
        }
    assert_non_null(e);
    assert_true(e->conditional);
    assert_non_null(edge(&g, U("can-assume"), R("open")));
    assert_null(edge(&g, "arn:aws:iam::" ACCT ":root", R("open")));

    assert_non_null(edge(&g, U("can-assume"), R("by-account")));
    assert_null(edge(&g, U("no-policy"), R("by-account")));
    assert_null(edge(&g, U("denied"), R("by-account")));
    assert_null(edge(&g, "arn:aws:iam::" ACCT ":root", R("by-account")));
    assert_non_null(edge(&g, R("by-account"), R("by-role")));
    assert_null(edge(&g, R("by-account"), R("by-account")));
    assert_non_null(edge(&g, R("by-role"), R("by-account")));      /* the cycle */
    assert_null(edge(&g, U("can-assume"), R("by-role")));
    assert_non_null(edge(&g, U("no-policy"), R("by-user")));
    assert_null(edge(&g, U("can-assume"), R("by-user")));
    e = edge(&g, U("can-assume"), R("external-id"));
    assert_non_null(e);
    assert_true(e->conditional);
    assert_non_null(strstr(e->evidence, "only if the conditions of"));
    assert_false(edge(&g, U("can-assume"), R("by-account"))->conditional);
    assert_non_null(strstr(edge(&g, U("can-assume"), R("by-account"))->evidence,
                           "trust:" R("by-account")));
    assert_non_null(edge(&g, "arn:aws:iam::" ACCT2 ":user/other", R("cross")));
    e = edge(&g, "arn:aws:iam::" FOREIGN ":root", R("cross"));
    assert_non_null(e);
    assert_true(e->conditional);

    /* A lazy graph: no edge until asked; the edges into one role are the
     * full graph's; completed, the same edges (candidates from the trust
     * policies give what trying every pair gives). */
    struct az_graph lz;
    ok(az_graph_build_opts(&ENV, accts, 1, true, &lz));
    assert_int_equal(lz.ne, 0);
    ok(az_graph_edges_into(&lz, az_graph_find(&lz, R("by-account"))));
    size_t into = 0;
    for (size_t i = 0; i < g.ne; i++) into += g.e[i].to == az_graph_find(&g, R("by-account"));
    assert_int_equal(lz.ne, into);
    assert_non_null(edge(&lz, U("can-assume"), R("by-account")));
    assert_null(edge(&lz, R("by-account"), R("by-role")));      /* not asked yet */
    ok(az_graph_edges_all(&lz));
    assert_int_equal(lz.ne, g.ne);
    for (size_t i = 0; i < g.ne; i++) {
        const struct az_edge *x = edge(&lz, g.n[g.e[i].from].arn, g.n[g.e[i].to].arn);
        assert_non_null(x);
        assert_int_equal(x->conditional, g.e[i].conditional);
        assert_string_equal(x->evidence, g.e[i].evidence);
    }
    az_graph_free(&lz);
    az_graph_free(&g);
}

/* ---- "can gain access" (escalate.c) ------------------------------------------ */

/* The secret's owner: the root user of ACCT, calling the server's own
 * KMS and Secrets Manager handlers as the router does. */
static json_t *op(const char *name, json_t *in)
{
    struct req_ctx rc = { .env = &ENV, .st = ENV.st, .kr = ENV.kr, .now = NOW };
    const struct op_service *svc = op_find(&sm_service, name) ? &sm_service : &kms_service;
    snprintf(rc.region, sizeof rc.region, "us-east-1");
    rc.who.type = PRINCIPAL_ROOT;
    snprintf(rc.who.account_id, sizeof rc.who.account_id, ACCT);
    snprintf(rc.who.arn, sizeof rc.who.arn, "arn:aws:iam::" ACCT ":root");
    snprintf(rc.who.id, sizeof rc.who.id, ACCT);
    json_t *out = NULL;
    tr_result r = oh_json(&rc, svc, name, in, &out);
    if (tr_failed(r))
        fail_msg("%s: %s: %s", name, tr_err_type(tr_code(r)),
                 tr_last_error()->has_message ? tr_last_error()->message : "");
    json_decref(in);
    return out;
}

/* A customer managed key (key_policy NULL: the default policy, the
 * account's root kms:*, which delegates to IAM); its ARN into arn. */
static void make_key(const char *key_policy, char *arn, size_t n)
{
    json_t *in = json_object();
    if (key_policy) {
        json_object_set_new(in, "Policy", json_string(q(key_policy)));
        json_object_set_new(in, "BypassPolicyLockoutSafetyCheck", json_true());
    }
    json_t *o = op("CreateKey", in);
    snprintf(arn, n, "%s", json_string_value(json_object_get(json_object_get(o, "KeyMetadata"),
                                                             "Arn")));
    json_decref(o);
}

/* A secret sealed under key_arn; its ARN into arn. */
static void make_secret(const char *name, const char *key_arn, char *arn, size_t n)
{
    static int serial;
    char token[40];
    snprintf(token, sizeof token, "00000000-0000-4000-8000-%012d", ++serial);
    json_t *o = op("CreateSecret", json_pack("{s:s, s:s, s:s, s:s}", "Name", name, "SecretString", "v",
                                              "KmsKeyId", key_arn, "ClientRequestToken", token));
    snprintf(arn, n, "%s", json_string_value(json_object_get(o, "ARN")));
    json_decref(o);
}

static void put_rel(const char *kind, const char *from, const char *to, const char *doc)
{
    struct rel_rec r = { 0 };
    snprintf(r.kind, sizeof r.kind, "%s", kind);
    r.from = (char *)from;
    r.to = (char *)to;
    r.doc = (char *)doc;
    r.created = NOW;
    ok(ENV.st[0]->rel_put(ENV.st, &r));
}

/* A managed policy of ACCT: version v1 (the default) and, when given, a
 * non-default v2.  Returns its ARN (static storage, a few at a time). */
static const char *put_managed(const char *name, const char *v1, const char *v2)
{
    static char arns[4][256];
    static int next;
    static int serial;
    char *arn = arns[next++ % 4], id[32];
    snprintf(arn, sizeof arns[0], "arn:aws:iam::" ACCT ":policy/%s", name);
    snprintf(id, sizeof id, "ANPA%017d", ++serial);
    put_entity("policy", ACCT, name, id, arn,
               "{\"default_version\": \"v1\", \"description\": \"\", \"next_version\": 3}");
    const char *docs[2] = { v1, v2 };
    for (int k = 0; k < 2 && docs[k]; k++) {
        json_t *d = json_pack("{s:s}", "document", q(docs[k]));
        char *text = json_dumps(d, JSON_COMPACT);
        put_rel("version", arn, k == 0 ? "v1" : "v2", text);
        free(text);
        json_decref(d);
    }
    return arn;
}

/* A user whose entity doc is `doc` (a boundary: {"boundary": ARN}). */
static void put_user_doc(const char *name, const char *id, const char *doc, const char *policy)
{
    char arn[256];
    snprintf(arn, sizeof arn, "arn:aws:iam::" ACCT ":user/%s", name);
    put_entity("user", ACCT, name, id, arn, doc);
    if (policy) put_inline(arn, policy);
}

static const char *boundary_doc(const char *policy_arn)
{
    static char b[512];
    snprintf(b, sizeof b, "{\"boundary\": \"%s\"}", policy_arn);
    return b;
}

/* A role of ACCT with a permissions boundary. */
static void put_role_bounded(const char *name, const char *id, const char *trust,
                             const char *policy, const char *boundary)
{
    char arn[256];
    snprintf(arn, sizeof arn, "arn:aws:iam::" ACCT ":role/%s", name);
    json_t *d = json_pack("{s:s, s:s, s:i, s:s}", "trust", q(trust), "description", "",
                          "max_session", 3600, "boundary", boundary);
    char *doc = json_dumps(d, JSON_COMPACT);
    put_entity("role", ACCT, name, id, arn, doc);
    free(doc);
    json_decref(d);
    if (policy) put_inline(arn, policy);
}

/* The whole analysis of one secret, as `tresor who-can-decrypt` runs it. */
struct run {
    struct az_target t;
    struct az_graph g;
    struct az_access *acc;
    struct az_answer *ans;
    struct az_escalation *e;
    size_t n;
};

static void analyze(const char *secret_arn, struct run *x)
{
    char (*ids)[ACCOUNT_ID_LEN + 1] = NULL;
    size_t nids = 0;
    memset(x, 0, sizeof *x);
    ok(az_target_load(&ENV, secret_arn, ACCT, "us-east-1", &x->t));
    assert_true(x->t.live);
    ok(az_accounts(ENV.st, x->t.named, x->t.nnamed, &ids, &nids));
    const char **accts = calloc(nids + 1, sizeof *accts);
    assert_non_null(accts);
    for (size_t i = 0; i < nids; i++) accts[i] = ids[i];
    ok(az_graph_build_opts(&ENV, accts, nids, true, &x->g));
    free(accts);
    free(ids);
    x->acc = calloc(x->g.nn + 1, sizeof *x->acc);
    x->ans = calloc(x->g.nn + 1, sizeof *x->ans);
    assert_non_null(x->acc);
    assert_non_null(x->ans);
    ok(az_who_can(&ENV, &x->g, &x->t, true, x->acc, x->ans));
    ok(az_escalations(&ENV, &x->g, &x->t, x->ans, &x->e, &x->n));
    /* Whatever is listed is an action the "escalate" fact asks. */
    for (size_t k = 0; k < x->n; k++) {
        size_t a = 0;
        while (a < AZ_NESC && strcmp(AZ_ESCALATION_ACTIONS[a], x->e[k].action) != 0) a++;
        if (a == AZ_NESC) fail_msg("%s is listed but not in AZ_ESCALATION_ACTIONS", x->e[k].action);
    }
}

/* analyze() with the secret's resource policy replaced by rp (a stored
 * policy the API would refuse now: principals of an account the store does
 * not hold, by ARN, as a snapshot or an older store may carry them). */
static void analyze_with_rp(const char *secret_arn, const char *rp, bool late, struct run *x)
{
    char (*ids)[ACCOUNT_ID_LEN + 1] = NULL;
    size_t nids = 0;
    memset(x, 0, sizeof *x);
    ok(az_target_load(&ENV, secret_arn, ACCT, "us-east-1", &x->t));
    free(x->t.s.policy);
    free(x->t.s.policy_ids);
    x->t.s.policy_ids = NULL;
    x->t.s.policy = strdup(q(rp));
    assert_non_null(x->t.s.policy);
    policy_unref(x->t.rp);
    x->t.rp = NULL;
    ok(policy_cache_get(x->t.s.policy, strlen(x->t.s.policy), POLICY_RESOURCE, &x->t.rp));
    /* late: the graph of the store's accounts only, the foreign account
     * added after it is built (as --all adds the ones a secret names). */
    ok(az_accounts(ENV.st, late ? NULL : x->t.named, late ? 0 : x->t.nnamed, &ids, &nids));
    const char **accts = calloc(nids + 1, sizeof *accts);
    assert_non_null(accts);
    for (size_t i = 0; i < nids; i++) accts[i] = ids[i];
    ok(az_graph_build_opts(&ENV, accts, nids, true, &x->g));
    free(accts);
    free(ids);
    if (late) ok(az_graph_add_foreign(&x->g, FOREIGN));
    x->acc = calloc(x->g.nn + 1, sizeof *x->acc);
    x->ans = calloc(x->g.nn + 1, sizeof *x->ans);
    assert_non_null(x->acc);
    assert_non_null(x->ans);
    ok(az_who_can(&ENV, &x->g, &x->t, true, x->acc, x->ans));
}

static void run_free(struct run *x)
{
    free(x->e);
    free(x->acc);
    free(x->ans);
    az_graph_free(&x->g);
    az_target_free(&x->t);
}

static bool reads(const struct run *x, const char *who)
{
    size_t i = az_graph_find(&x->g, who);
    assert_true(i != SIZE_MAX);
    return x->ans[i].can;
}

/* Is (who, action, resource) listed, its own (via NULL) or via that role? */
static bool listed(const struct run *x, const char *who, const char *action, const char *resource,
                   const char *via)
{
    size_t i = az_graph_find(&x->g, who);
    assert_true(i != SIZE_MAX);
    for (size_t k = 0; k < x->n; k++) {
        const struct az_escalation *e = &x->e[k];
        if (e->node != i || strcmp(e->action, action) != 0 || strcmp(e->resource, resource) != 0)
            continue;
        if (via ? e->via != SIZE_MAX && strcmp(x->g.n[e->via].arn, via) == 0 : e->via == SIZE_MAX)
            return true;
    }
    return false;
}

/* Anything listed for who? */
static bool listed_any(const struct run *x, const char *who)
{
    size_t i = az_graph_find(&x->g, who);
    assert_true(i != SIZE_MAX);
    for (size_t k = 0; k < x->n; k++)
        if (x->e[k].node == i) return true;
    return false;
}

/* The evidence of (who, action, resource), own. */
static const char *evidence(const struct run *x, const char *who, const char *action,
                            const char *resource)
{
    size_t i = az_graph_find(&x->g, who);
    for (size_t k = 0; k < x->n; k++)
        if (x->e[k].node == i && x->e[k].via == SIZE_MAX && strcmp(x->e[k].action, action) == 0 &&
            strcmp(x->e[k].resource, resource) == 0) {
            return x->e[k].evidence;
        }
    fail_msg("%s: %s on %s not listed", who, action, resource);
    return NULL;
}

#define READ_ALL ALLOW("secretsmanager:GetSecretValue", "*") "," ALLOW("kms:Decrypt", "*")
#define READ DOC(READ_ALL)
#define DENY(act, res) "{'Effect':'Deny','Action':'" act "','Resource':'" res "'}"

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    static char bufs[8][4096];
    static int next;
    char *b = bufs[next++ % 8];
    va_list ap;
    va_start(ap, f);
    vsnprintf(b, sizeof bufs[0], f, ap);
    va_end(ap);
    return b;
}

static void put_group(const char *name, const char *id, const char *policy,
                      const char *managed_arn)
{
    char arn[256];
    snprintf(arn, sizeof arn, "arn:aws:iam::" ACCT ":group/%s", name);
    put_entity("group", ACCT, name, id, arn, "{}");
    if (policy) put_inline(arn, policy);
    if (managed_arn) put_rel("attached", arn, managed_arn, "");
}

#define G(n) "arn:aws:iam::" ACCT ":group/" n
#define P(n) "arn:aws:iam::" ACCT ":policy/" n
#define SM(n) "arn:aws:secretsmanager:us-east-1:" ACCT ":secret:" n "-*"
#define GSV_ONLY DOC(ALLOW("secretsmanager:GetSecretValue", "*"))

/* The usual target: secret "esc-s" under a customer key with the default
 * policy (the account's IAM decides), and "other" under another key. */
static char KEY[256], SECRET[512], KEY2[256], SECRET2[512];

static void target(void)
{
    make_key(NULL, KEY, sizeof KEY);
    make_secret("esc-s", KEY, SECRET, sizeof SECRET);
    make_key(NULL, KEY2, sizeof KEY2);
    make_secret("other", KEY2, SECRET2, sizeof SECRET2);
}

/* One az_access array through several secrets, as --all keeps it: a
 * principal the prefilter denies keeps its denial unwritten (unasked)
 * until a secret it may read, and every decision equals the one made
 * into a fresh array -- whichever the secret before. */
static void assert_same_access(const struct az_graph *g, const struct az_access *a,
                               const struct az_access *b)
{
    for (size_t i = 0; i < g->nn; i++) {
        assert_int_equal(a[i].gsv, b[i].gsv);
        assert_int_equal(a[i].kms, b[i].kms);
        assert_int_equal(a[i].ok, b[i].ok);
        assert_int_equal(a[i].conditional, b[i].conditional);
        assert_int_equal(a[i].gsv_decision, b[i].gsv_decision);
        assert_string_equal(a[i].kms_source, b[i].kms_source);
        assert_string_equal(a[i].gsv_ev, b[i].gsv_ev);
        assert_string_equal(a[i].kms_ev, b[i].kms_ev);
        assert_string_equal(a[i].grant_id, b[i].grant_id);
        assert_string_equal(a[i].session, b[i].session);
    }
}

static void test_access_kept_across_secrets(void **state)
{
    (void)state;
    target();
    put_user(ACCT, "reads-esc", "AIDAKEPT0000000000001",
             DOC(ALLOW("secretsmanager:GetSecretValue", SM("esc-s")) "," ALLOW("kms:Decrypt", "*")));
    put_user(ACCT, "reads-other", "AIDAKEPT0000000000002",
             DOC(ALLOW("secretsmanager:GetSecretValue", SM("other")) "," ALLOW("kms:Decrypt", "*")));
    struct run a, b;
    analyze(SECRET, &a);
    analyze(SECRET2, &b);
    assert_int_equal(a.g.nn, b.g.nn);
    const char *order[] = { SECRET2, SECRET, SECRET2, SECRET };
    struct az_access *kept = calloc(a.g.nn + 1, sizeof *kept);
    struct az_answer *ans = calloc(a.g.nn + 1, sizeof *ans);
    assert_non_null(kept);
    assert_non_null(ans);
    size_t unasked = 0;
    for (size_t k = 0; k < 4; k++) {
        struct az_target t;
        ok(az_target_load(&ENV, order[k], ACCT, "us-east-1", &t));
        ok(az_who_can(&ENV, &a.g, &t, true, kept, ans));
        assert_same_access(&a.g, kept, order[k] == SECRET ? a.acc : b.acc);
        for (size_t i = 0; i < a.g.nn; i++) unasked += kept[i].unasked;
        az_target_free(&t);
    }
    assert_true(unasked > 0);           /* the shortcut was taken */
    size_t esc = az_graph_find(&a.g, "arn:aws:iam::" ACCT ":user/reads-esc");
    assert_true(esc != SIZE_MAX && a.acc[esc].ok && !b.acc[esc].ok && b.acc[esc].unasked);
    free(kept);
    free(ans);
    run_free(&a);
    run_free(&b);
}

/* secretsmanager:PutResourcePolicy on the secret: allowed by the identity
 * policy, or by the secret's resource policy naming the user; not when it
 * is scoped to another secret, denied explicitly, or outside a boundary. */
/* AZ_ANYONE, a principal of an account no policy names, decided by the
 * real rules: it reads through a key policy and a resource policy that
 * both admit "*" (conditional: its own IAM must allow too), and through a
 * role whose trust policy admits "*"; never by itself under the AWS
 * managed key, whose "*" is limited to callers of its own account (nor
 * does an account the store does not hold that the resource policy
 * names).  It is never
 * offered as one who "can gain access". */
static void test_anyone(void **state)
{
    (void)state;
    char key[256], key2[256], open_s[512], role_s[512], managed_s[512];
    make_key(DOC("{'Sid':'Everyone','Effect':'Allow','Principal':{'AWS':'*'},"
                 "'Action':'kms:*','Resource':'*'}"), key, sizeof key);
    make_secret("open-s", key, open_s, sizeof open_s);
    json_decref(op("PutResourcePolicy", json_pack("{s:s, s:s}", "SecretId", open_s,
        "ResourcePolicy", q(DOC("{'Effect':'Allow','Principal':{'AWS':'*'},"
                                "'Action':'secretsmanager:GetSecretValue','Resource':'*'}")))));
    make_key(NULL, key2, sizeof key2);
    make_secret("role-s", key2, role_s, sizeof role_s);
    put_role(ACCT, "open-reader", "AROAANYAAAAAAAAAAAA1", DOC(TRUST("*")), READ);
    json_t *o = op("CreateSecret", json_pack("{s:s, s:s, s:s}", "Name", "managed-s",
                                             "SecretString", "v", "ClientRequestToken",
                                             "00000000-0000-4000-8000-00000000aaaa"));
    snprintf(managed_s, sizeof managed_s, "%s", json_string_value(json_object_get(o, "ARN")));
    json_decref(o);
    json_decref(op("PutResourcePolicy", json_pack("{s:s, s:s}", "SecretId", managed_s,
        "ResourcePolicy", q(DOC("{'Effect':'Allow','Principal':{'AWS':['*','arn:aws:iam::" FOREIGN
                                ":root']},'Action':'secretsmanager:GetSecretValue',"
                                "'Resource':'*'}")))));

    struct run x;
    analyze(open_s, &x);
    assert_true(x.t.everyone_rp && x.t.everyone_kp);
    size_t a = az_graph_find(&x.g, AZ_ANYONE_ARN);
    assert_true(x.ans[a].can && x.ans[a].conditional);
    assert_int_equal(x.ans[a].npath, 1);
    assert_string_equal(x.acc[a].kms_source, "key-policy");
    assert_non_null(strstr(x.acc[a].kms_ev, "(Sid Everyone)"));
    assert_non_null(strstr(x.acc[a].gsv_ev, "resource-policy:"));
    assert_false(listed_any(&x, AZ_ANYONE_ARN));
    run_free(&x);

    analyze(role_s, &x);
    assert_false(x.t.everyone_rp || x.t.everyone_kp);
    a = az_graph_find(&x.g, AZ_ANYONE_ARN);
    assert_true(x.ans[a].can && x.ans[a].conditional);
    assert_int_equal(x.ans[a].npath, 2);
    assert_string_equal(x.g.n[x.ans[a].path[1]].arn, R("open-reader"));
    assert_false(x.acc[a].gsv);          /* not on its own: only as the role */
    run_free(&x);

    analyze(managed_s, &x);
    assert_true(x.t.everyone_rp && x.t.everyone_kp);
    assert_string_equal(x.t.key.key_manager, "AWS");
    a = az_graph_find(&x.g, AZ_ANYONE_ARN);
    assert_true(x.acc[a].gsv);           /* the resource policy admits it ... */
    assert_false(x.acc[a].kms);          /* ... the managed key does not */
    assert_false(x.acc[a].ok);
    /* (It still reads as the role any account may assume: a principal of
     * the key's account.) */
    assert_true(x.ans[a].can);
    assert_int_equal(x.ans[a].npath, 2);
    assert_string_equal(x.g.n[x.ans[a].path[1]].arn, R("open-reader"));
    assert_non_null(strstr(x.acc[a].kms_ev, "is not authorized to perform: kms:Decrypt"));
    size_t f = az_graph_find(&x.g, "arn:aws:iam::" FOREIGN ":root");
    assert_true(f != SIZE_MAX);
    /* Named by the resource policy, the foreign account is decided by the
     * real rules: the managed key's kms:CallerAccount refuses it on its
     * own; but the role any account may assume (no condition) lets it
     * read, conditionally, and that edge is public. */
    assert_true(x.acc[f].gsv);
    assert_false(x.acc[f].kms || x.acc[f].ok);
    assert_non_null(strstr(x.acc[f].kms_ev, "is not authorized to perform: kms:Decrypt"));
    assert_true(x.ans[f].can && x.ans[f].conditional);
    assert_int_equal(x.ans[f].npath, 2);
    assert_string_equal(x.g.n[x.ans[f].path[1]].arn, R("open-reader"));
    assert_true(x.g.e[x.ans[a].edges[0]].public_trust);
    assert_false(x.g.e[x.ans[f].edges[0]].public_trust);
    assert_true(reads(&x, "arn:aws:iam::" ACCT ":root"));
    run_free(&x);
}

/* How a principal of an account the store does not hold is asked, by the
 * ARN a policy names (az_stranger_principal). */
static void test_stranger_principal(void **state)
{
    (void)state;
    struct principal w;
    assert_true(tr_ok(az_stranger_principal(FOREIGN, NULL, &w)));
    assert_int_equal(w.type, PRINCIPAL_USER);
    assert_string_equal(w.account_id, FOREIGN);
    assert_string_equal(w.arn, "arn:aws:iam::" FOREIGN ":user/*");
    assert_string_equal(w.role_arn, "");

    assert_true(tr_ok(az_stranger_principal(FOREIGN, "arn:aws:iam::" FOREIGN ":user/ops/bob", &w)));
    assert_int_equal(w.type, PRINCIPAL_USER);
    assert_string_equal(w.arn, "arn:aws:iam::" FOREIGN ":user/ops/bob");

    assert_true(tr_ok(az_stranger_principal(FOREIGN, "arn:aws:iam::" FOREIGN ":role/ops/ci", &w)));
    assert_int_equal(w.type, PRINCIPAL_ROLE_SESSION);
    assert_string_equal(w.role_arn, "arn:aws:iam::" FOREIGN ":role/ops/ci");
    assert_string_equal(w.arn, "arn:aws:sts::" FOREIGN ":assumed-role/ci/*");

    assert_true(tr_ok(az_stranger_principal(FOREIGN, "arn:aws:sts::" FOREIGN ":assumed-role/ci/job-7",
                                            &w)));
    assert_int_equal(w.type, PRINCIPAL_ROLE_SESSION);
    assert_string_equal(w.arn, "arn:aws:sts::" FOREIGN ":assumed-role/ci/job-7");
    assert_string_equal(w.role_arn, "arn:aws:iam::" FOREIGN ":role/ci");

    /* Shapes that name no user, role or session: any principal of it. */
    const char *odd[] = { "arn:aws:sts::" FOREIGN ":assumed-role/no-session",
                          "arn:aws:iam::" FOREIGN ":group/admins", "arn:aws:iam::" FOREIGN ":root",
                          "arn:aws:iam::" FOREIGN, "arn:aws", "" };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        assert_true(tr_ok(az_stranger_principal(FOREIGN, odd[i], &w)));
        assert_int_equal(w.type, PRINCIPAL_USER);
        assert_string_equal(w.arn, "arn:aws:iam::" FOREIGN ":user/*");
    }
    /* A name longer than a principal ARN holds is an error, not a cut ARN. */
    char big[PRINCIPAL_ARN_MAX + 64];
    snprintf(big, sizeof big, "arn:aws:iam::%s:user/%0*d", FOREIGN, PRINCIPAL_ARN_MAX, 0);
    assert_true(tr_failed(az_stranger_principal(FOREIGN, big, &w)));
    tr_clear_error();
}

/* A foreign account whose role, user or session the resource policy names
 * by ARN, its key policy naming the account: one of its principals passes
 * both hops, so it reads (conditionally, "as" that principal); a Deny of
 * that principal, or an Allow of the wrong one, makes no reader. */
static void test_foreign_named_arns(void **state)
{
    (void)state;
    char key[256], s[512];
    make_key(DOC("{'Effect':'Allow','Principal':{'AWS':'arn:aws:iam::" ACCT ":root'},"
                 "'Action':'kms:*','Resource':'*'},"
                 "{'Effect':'Allow','Principal':{'AWS':'arn:aws:iam::" FOREIGN ":root'},"
                 "'Action':'kms:Decrypt','Resource':'*'}"), key, sizeof key);
    make_secret("foreign-arns", key, s, sizeof s);
    const char *f = "arn:aws:iam::" FOREIGN ":root";
    const char *allowed[] = {
        "arn:aws:iam::" FOREIGN ":role/reader",
        "arn:aws:iam::" FOREIGN ":user/ops/bob",
        "arn:aws:sts::" FOREIGN ":assumed-role/reader/ci-job",
    };
    char doc[1024];
    struct run x;
    for (size_t i = 0; i < 2 * (sizeof allowed / sizeof allowed[0]); i++) {
        bool late = i >= sizeof allowed / sizeof allowed[0];
        const char *arn = allowed[i % (sizeof allowed / sizeof allowed[0])];
        snprintf(doc, sizeof doc, "{'Version':'2012-10-17','Statement':[{'Effect':'Allow',"
                 "'Principal':{'AWS':'%s'},'Action':'secretsmanager:GetSecretValue',"
                 "'Resource':'*'}]}", arn);
        analyze_with_rp(s, doc, late, &x);
        size_t n = az_graph_find(&x.g, f);
        assert_true(n != SIZE_MAX);
        assert_true(x.ans[n].can && x.ans[n].conditional);
        char as[600];
        snprintf(as, sizeof as, "as %s: ", arn);
        assert_non_null(strstr(x.acc[n].gsv_ev, as));
        run_free(&x);
    }
    /* The same role denied, others allowed by ARN only for another action. */
    analyze_with_rp(s, DOC("{'Effect':'Deny','Principal':{'AWS':'arn:aws:iam::" FOREIGN
                           ":role/reader'},'Action':'secretsmanager:GetSecretValue','Resource':'*'},"
                           "{'Effect':'Allow','Principal':{'AWS':'arn:aws:iam::" FOREIGN
                           ":role/other'},'Action':'secretsmanager:DescribeSecret','Resource':'*'}"),
                    false, &x);
    size_t n = az_graph_find(&x.g, f);
    assert_true(n != SIZE_MAX);
    assert_false(x.ans[n].can);
    run_free(&x);
}

/* Which session ARNs name a session of a role node (az_session_of), and
 * the node as that session (az_as_session). */
static void test_session_of(void **state)
{
    (void)state;
    struct az_node n = { .kind = AZ_ROLE };
    snprintf(n.arn, sizeof n.arn, "arn:aws:iam::%s:role/team/ci", ACCT);
    snprintf(n.account, sizeof n.account, "%s", ACCT);
    n.who.type = PRINCIPAL_ROLE_SESSION;
    snprintf(n.who.arn, sizeof n.who.arn, "arn:aws:sts::%s:assumed-role/ci/simulated", ACCT);
    snprintf(n.who.id, sizeof n.who.id, "AROAEXAMPLEAAAAAAAAA:simulated");
    const char *name = NULL;
    assert_true(az_session_of(&n, "arn:aws:sts::" ACCT ":assumed-role/ci/job-1", &name));
    assert_string_equal(name, "job-1");
    const char *no[] = {
        "arn:aws:sts::" ACCT ":assumed-role/ci/",           /* no session name */
        "arn:aws:sts::" ACCT ":assumed-role/ci",            /* no session at all */
        "arn:aws:sts::" ACCT ":assumed-role/cix/job-1",     /* another role */
        "arn:aws:sts::" ACCT ":assumed-role/c/job-1",       /* a prefix of its name */
        "arn:aws:sts::" FOREIGN ":assumed-role/ci/job-1",   /* another account */
        "arn:aws:iam::" ACCT ":role/team/ci",               /* the role, not a session */
        "arn:aws:sts::" ACCT ":federated-user/ci",
        "arn:aws:sts::",
        "",
    };
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_false(az_session_of(&n, no[i], &name));
    struct az_node user = n;
    user.kind = AZ_USER;
    assert_false(az_session_of(&user, "arn:aws:sts::" ACCT ":assumed-role/ci/job-1", &name));

    struct az_node s;
    assert_true(tr_ok(az_as_session(&n, "arn:aws:sts::" ACCT ":assumed-role/ci/job-1", &s)));
    assert_string_equal(s.who.arn, "arn:aws:sts::" ACCT ":assumed-role/ci/job-1");
    assert_string_equal(s.who.id, "AROAEXAMPLEAAAAAAAAA:job-1");
    assert_string_equal(s.arn, n.arn);
    /* Not a session of it: refused, the output untouched by a guess. */
    assert_true(tr_failed(az_as_session(&n, "arn:aws:sts::" ACCT ":assumed-role/cd/job-1", &s)));
    tr_clear_error();
}

/* escalate_actions.def made into the table: AZ_NESC distinct actions of
 * the three services the checks call, each "service:Action", then NULL. */
static void test_esc_actions_table(void **state)
{
    (void)state;
    static const char *const svc[] = { "iam:", "kms:", "secretsmanager:" };
    assert_true(AZ_NESC > 0);
    assert_null(AZ_ESCALATION_ACTIONS[AZ_NESC]);
    for (size_t a = 0; a < AZ_NESC; a++) {
        const char *s = AZ_ESCALATION_ACTIONS[a];
        assert_non_null(s);
        size_t k = 0;
        while (k < sizeof svc / sizeof *svc && strncmp(s, svc[k], strlen(svc[k])) != 0) k++;
        if (k == sizeof svc / sizeof *svc) fail_msg("row %zu: %s is no iam/kms/secretsmanager action", a, s);
        const char *name = s + strlen(svc[k]);
        assert_true(*name >= 'A' && *name <= 'Z' && !strpbrk(name, ":*? "));
        for (size_t b = 0; b < a; b++)
            if (strcmp(AZ_ESCALATION_ACTIONS[b], s) == 0) fail_msg("rows %zu and %zu: %s", b, a, s);
    }
    /* The named indexes are the rows' (two spot checks of the X-macro). */
    assert_string_equal(AZ_ESCALATION_ACTIONS[AZ_ESC_PUT_RESOURCE_POLICY], "secretsmanager:PutResourcePolicy");
    assert_string_equal(AZ_ESCALATION_ACTIONS[AZ_ESC_UPDATE_ASSUME_ROLE_POLICY], "iam:UpdateAssumeRolePolicy");
}

static void test_esc_put_resource_policy(void **state)
{
    (void)state;
    target();
    const char *prp = "secretsmanager:PutResourcePolicy";
    put_user(ACCT, "rp", "AIDAESCAAAAAAAAAAAA1",
             DOC(ALLOW("secretsmanager:PutResourcePolicy", SM("esc-s")) "," ALLOW("kms:Decrypt", "*")));
    put_user(ACCT, "rp-other", "AIDAESCAAAAAAAAAAAA2",
             DOC(ALLOW("secretsmanager:PutResourcePolicy", SM("other")) "," ALLOW("kms:Decrypt", "*")));
    put_user(ACCT, "rp-denied", "AIDAESCAAAAAAAAAAAA3",
             DOC(ALLOW("secretsmanager:PutResourcePolicy", "*") "," ALLOW("kms:Decrypt", "*") ","
                 DENY("secretsmanager:*", SM("esc-s"))));
    const char *bnd = put_managed("kms-only", DOC(ALLOW("kms:*", "*")), NULL);
    put_user_doc("rp-bounded", "AIDAESCAAAAAAAAAAAA4", boundary_doc(bnd),
                 DOC(ALLOW("secretsmanager:PutResourcePolicy", "*") "," ALLOW("kms:Decrypt", "*")));
    put_user(ACCT, "rp-res", "AIDAESCAAAAAAAAAAAA5", DOC(ALLOW("kms:Decrypt", "*")));
    put_user(ACCT, "nothing", "AIDAESCAAAAAAAAAAAA6", NULL);
    /* Only from one network, or only with MFA: request-time, unknown. */
    put_user(ACCT, "rp-ip", "AIDAESCAAAAAAAAAAAA7",
             DOC("{'Effect':'Allow','Action':'secretsmanager:PutResourcePolicy','Resource':'*',"
                 "'Condition':{'IpAddress':{'aws:SourceIp':'10.0.0.0/8'}}}"));
    put_user(ACCT, "rp-mfa-deny", "AIDAESCAAAAAAAAAAAA8",
             DOC(ALLOW("secretsmanager:PutResourcePolicy", "*") ","
                 "{'Effect':'Deny','Action':'*','Resource':'*',"
                 "'Condition':{'BoolIfExists':{'aws:MultiFactorAuthPresent':'false'}}}"));
    json_decref(op("PutResourcePolicy", json_pack("{s:s, s:s}", "SecretId", SECRET, "ResourcePolicy",
        q(DOC("{'Effect':'Allow','Principal':{'AWS':'" U("rp-res") "'},"
              "'Action':'secretsmanager:PutResourcePolicy','Resource':'*'}")))));

    struct run x;
    analyze(SECRET, &x);
    assert_false(reads(&x, U("rp")));
    assert_true(listed(&x, U("rp"), prp, SECRET, NULL));
    assert_non_null(strstr(evidence(&x, U("rp"), prp, SECRET), "Allow identity inline:" U("rp") ":inline"));
    assert_true(listed(&x, U("rp-res"), prp, SECRET, NULL));
    assert_non_null(strstr(evidence(&x, U("rp-res"), prp, SECRET), "resource-policy:"));
    assert_false(listed_any(&x, U("rp-other")));
    assert_false(listed_any(&x, U("rp-denied")));
    assert_false(listed_any(&x, U("rp-bounded")));
    assert_false(listed_any(&x, U("nothing")));
    assert_true(listed(&x, U("rp-ip"), prp, SECRET, NULL));
    assert_true(listed(&x, U("rp-mfa-deny"), prp, SECRET, NULL));
    for (size_t k = 0; k < x.n; k++) {
        const char *who = x.g.n[x.e[k].node].arn;
        bool cond = strcmp(who, U("rp-ip")) == 0 || strcmp(who, U("rp-mfa-deny")) == 0;
        if (strcmp(x.e[k].action, prp) == 0) assert_int_equal(x.e[k].conditional, cond);
    }
    assert_non_null(strstr(evidence(&x, U("rp-mfa-deny"), prp, SECRET), "do not hold"));
    run_free(&x);
    /* On the other secret, the scoped one is listed and the first is not. */
    analyze(SECRET2, &x);
    assert_true(listed(&x, U("rp-other"), prp, SECRET2, NULL));
    assert_false(listed_any(&x, U("rp")));
    run_free(&x);
}

/* kms:PutKeyPolicy and kms:CreateGrant on the secret's key: allowed by the
 * identity policy through the key policy's delegation; not on another key,
 * not against an explicit Deny, not when the key policy does not delegate. */
static void test_esc_key_policy_and_grant(void **state)
{
    (void)state;
    target();
    const char *acts[] = { "kms:PutKeyPolicy", "kms:CreateGrant" };
    for (int k = 0; k < 2; k++) {
        const char *n = k ? "cg" : "kp";
        put_user(ACCT, n, k ? "AIDAESCBAAAAAAAAAAA1" : "AIDAESCBAAAAAAAAAAA2",
                 fmt(DOC(ALLOW("secretsmanager:GetSecretValue", "*") "," ALLOW("%s", "%s")),
                     acts[k], KEY));
        put_user(ACCT, fmt("%s-other", n), k ? "AIDAESCBAAAAAAAAAAA3" : "AIDAESCBAAAAAAAAAAA4",
                 fmt(DOC(ALLOW("secretsmanager:GetSecretValue", "*") "," ALLOW("%s", "%s")),
                     acts[k], KEY2));
        put_user(ACCT, fmt("%s-denied", n), k ? "AIDAESCBAAAAAAAAAAA5" : "AIDAESCBAAAAAAAAAAA6",
                 fmt(DOC(ALLOW("secretsmanager:GetSecretValue", "*") "," ALLOW("kms:PutKeyPolicy", "*") ","
                         ALLOW("kms:CreateGrant", "*") "," DENY("%s", "%s")), acts[k], KEY));
    }
    /* A key whose policy lets the account administer it but not change its
     * policy or grants: the identity policy alone does not suffice. */
    char key3[256], secret3[512];
    make_key(DOC("{'Effect':'Allow','Principal':{'AWS':'arn:aws:iam::" ACCT ":root'},"
                 "'NotAction':['kms:PutKeyPolicy','kms:CreateGrant'],'Resource':'*'}"),
             key3, sizeof key3);
    make_secret("esc-s3", key3, secret3, sizeof secret3);
    put_user(ACCT, "kms-all", "AIDAESCBAAAAAAAAAAA7",
             DOC(ALLOW("secretsmanager:GetSecretValue", "*") "," ALLOW("kms:PutKeyPolicy", "*") ","
                 ALLOW("kms:CreateGrant", "*")));

    struct run x;
    analyze(SECRET, &x);
    assert_true(listed(&x, U("kp"), "kms:PutKeyPolicy", KEY, NULL));
    assert_non_null(strstr(evidence(&x, U("kp"), "kms:PutKeyPolicy", KEY), "Allow identity inline:" U("kp") ":inline"));
    assert_non_null(strstr(evidence(&x, U("kp"), "kms:PutKeyPolicy", KEY),
                           "(Sid Enable IAM User Permissions)"));
    assert_false(listed(&x, U("kp"), "kms:CreateGrant", KEY, NULL));
    assert_true(listed(&x, U("cg"), "kms:CreateGrant", KEY, NULL));
    assert_false(listed(&x, U("cg"), "kms:PutKeyPolicy", KEY, NULL));
    assert_true(listed(&x, U("kms-all"), "kms:PutKeyPolicy", KEY, NULL));
    assert_true(listed(&x, U("kms-all"), "kms:CreateGrant", KEY, NULL));
    assert_false(listed_any(&x, U("kp-other")));
    assert_false(listed_any(&x, U("cg-other")));
    assert_false(listed(&x, U("kp-denied"), "kms:PutKeyPolicy", KEY, NULL));
    assert_true(listed(&x, U("kp-denied"), "kms:CreateGrant", KEY, NULL));
    assert_false(listed(&x, U("cg-denied"), "kms:CreateGrant", KEY, NULL));
    assert_true(listed(&x, U("cg-denied"), "kms:PutKeyPolicy", KEY, NULL));
    run_free(&x);
    analyze(secret3, &x);
    assert_false(listed_any(&x, U("kms-all")));
    run_free(&x);
}

/* iam:PutUserPolicy / iam:AttachUserPolicy on oneself; not on another
 * user, not against a Deny, not outside the boundary. */
static void test_esc_user_policies(void **state)
{
    (void)state;
    target();
    put_user(ACCT, "pup", "AIDAESCCAAAAAAAAAAA1", DOC(ALLOW("iam:PutUserPolicy", U("pup"))));
    put_user(ACCT, "aup", "AIDAESCCAAAAAAAAAAA2", DOC(ALLOW("iam:AttachUserPolicy", U("aup"))));
    put_user(ACCT, "pup-other", "AIDAESCCAAAAAAAAAAA3",
             DOC(ALLOW("iam:PutUserPolicy", U("pup")) "," ALLOW("iam:AttachUserPolicy", U("aup"))));
    put_user(ACCT, "aup-denied", "AIDAESCCAAAAAAAAAAA4",
             DOC(ALLOW("iam:*", "*") "," DENY("iam:*User*", U("aup-denied"))));
    const char *bnd = put_managed("sm-kms-only", READ, NULL);
    put_user_doc("pup-bounded", "AIDAESCCAAAAAAAAAAA5", boundary_doc(bnd),
                 DOC(ALLOW("iam:PutUserPolicy", "*") "," ALLOW("iam:AttachUserPolicy", "*")));

    struct run x;
    analyze(SECRET, &x);
    assert_true(listed(&x, U("pup"), "iam:PutUserPolicy", U("pup"), NULL));
    assert_false(listed(&x, U("pup"), "iam:AttachUserPolicy", U("pup"), NULL));
    assert_true(listed(&x, U("aup"), "iam:AttachUserPolicy", U("aup"), NULL));
    assert_false(listed(&x, U("aup"), "iam:PutUserPolicy", U("aup"), NULL));
    assert_non_null(strstr(evidence(&x, U("aup"), "iam:AttachUserPolicy", U("aup")),
                           "Allow identity inline:" U("aup") ":inline"));
    assert_false(listed_any(&x, U("pup-other")));
    assert_false(listed_any(&x, U("aup-denied")));
    assert_false(listed_any(&x, U("pup-bounded")));
    run_free(&x);
}

/* iam:PutRolePolicy / iam:AttachRolePolicy on the role itself (its
 * sessions); not on another role, not outside its boundary. */
static void test_esc_role_policies(void **state)
{
    (void)state;
    target();
    /* Trusting the account: only users allowed sts:AssumeRole, and none is. */
    const char *nobody = DOC(TRUST("arn:aws:iam::" ACCT ":root"));
    put_user(ACCT, "nobody", "AIDAESCDAAAAAAAAAAA1", NULL);
    put_role(ACCT, "prp", "AROAESCDAAAAAAAAAAA1", nobody, DOC(ALLOW("iam:PutRolePolicy", R("prp"))));
    put_role(ACCT, "arp", "AROAESCDAAAAAAAAAAA2", nobody, DOC(ALLOW("iam:AttachRolePolicy", R("arp"))));
    put_role(ACCT, "prp-other", "AROAESCDAAAAAAAAAAA3", nobody,
             DOC(ALLOW("iam:PutRolePolicy", R("prp")) "," ALLOW("iam:AttachRolePolicy", R("arp"))));
    const char *bnd = put_managed("sm-kms-only", READ, NULL);
    put_role_bounded("arp-bounded", "AROAESCDAAAAAAAAAAA4", nobody,
                     DOC(ALLOW("iam:PutRolePolicy", "*") "," ALLOW("iam:AttachRolePolicy", "*")), bnd);

    struct run x;
    analyze(SECRET, &x);
    assert_true(listed(&x, R("prp"), "iam:PutRolePolicy", R("prp"), NULL));
    assert_false(listed(&x, R("prp"), "iam:AttachRolePolicy", R("prp"), NULL));
    assert_true(listed(&x, R("arp"), "iam:AttachRolePolicy", R("arp"), NULL));
    assert_non_null(strstr(evidence(&x, R("arp"), "iam:AttachRolePolicy", R("arp")),
                           "Allow identity inline:" R("arp") ":inline"));
    assert_false(listed_any(&x, R("prp-other")));
    assert_false(listed_any(&x, R("arp-bounded")));
    assert_false(listed_any(&x, U("nobody")));
    run_free(&x);
}

/* iam:PutGroupPolicy / iam:AttachGroupPolicy on a group one is a member
 * of; not on a group one is not in, not against a Deny. */
static void test_esc_group_policies(void **state)
{
    (void)state;
    target();
    put_group("g1", "AGPAESCEAAAAAAAAAAA1", NULL, NULL);
    put_group("g2", "AGPAESCEAAAAAAAAAAA2", NULL, NULL);
    put_user(ACCT, "pgp", "AIDAESCEAAAAAAAAAAA1", DOC(ALLOW("iam:PutGroupPolicy", G("g1"))));
    put_user(ACCT, "agp", "AIDAESCEAAAAAAAAAAA2", DOC(ALLOW("iam:AttachGroupPolicy", G("g1"))));
    put_user(ACCT, "gp-outsider", "AIDAESCEAAAAAAAAAAA3",
             DOC(ALLOW("iam:PutGroupPolicy", G("g1")) "," ALLOW("iam:AttachGroupPolicy", G("g1"))));
    put_user(ACCT, "gp-denied", "AIDAESCEAAAAAAAAAAA4",
             DOC(ALLOW("iam:*GroupPolicy", "*") "," DENY("iam:*GroupPolicy", G("g1"))));
    put_user(ACCT, "gp-scoped", "AIDAESCEAAAAAAAAAAA5", DOC(ALLOW("iam:PutGroupPolicy", G("g2"))));
    put_rel("member", G("g1"), U("pgp"), "");
    put_rel("member", G("g1"), U("agp"), "");
    put_rel("member", G("g1"), U("gp-denied"), "");
    put_rel("member", G("g1"), U("gp-scoped"), "");

    struct run x;
    analyze(SECRET, &x);
    assert_true(listed(&x, U("pgp"), "iam:PutGroupPolicy", G("g1"), NULL));
    assert_false(listed(&x, U("pgp"), "iam:AttachGroupPolicy", G("g1"), NULL));
    assert_true(listed(&x, U("agp"), "iam:AttachGroupPolicy", G("g1"), NULL));
    assert_non_null(strstr(evidence(&x, U("agp"), "iam:AttachGroupPolicy", G("g1")),
                           "Allow identity inline:" U("agp") ":inline"));
    assert_false(listed_any(&x, U("gp-outsider")));
    assert_false(listed_any(&x, U("gp-denied")));
    assert_false(listed_any(&x, U("gp-scoped")));
    run_free(&x);
}

/* iam:CreateAccessKey on a user that reads, iam:UpdateAssumeRolePolicy on
 * a role that reads; not on ones that do not read, not against a Deny, not
 * from another account (IAM acts in the caller's own account). */
static void test_esc_access_key_and_trust(void **state)
{
    (void)state;
    target();
    put_user(ACCT, "reader", "AIDAESCFAAAAAAAAAAA1", READ);
    put_user(ACCT, "idle", "AIDAESCFAAAAAAAAAAA2", NULL);
    put_user(ACCT, "nobody", "AIDAESCFAAAAAAAAAAA8", NULL);
    put_role(ACCT, "reader-role", "AROAESCFAAAAAAAAAAA1", DOC(TRUST(U("nobody"))), READ);
    put_role(ACCT, "idle-role", "AROAESCFAAAAAAAAAAA2", DOC(TRUST(U("nobody"))), NULL);
    put_user(ACCT, "ak", "AIDAESCFAAAAAAAAAAA3", DOC(ALLOW("iam:CreateAccessKey", U("reader"))));
    put_user(ACCT, "tp", "AIDAESCFAAAAAAAAAAA4",
             DOC(ALLOW("iam:UpdateAssumeRolePolicy", R("reader-role"))));
    put_user(ACCT, "ak-idle", "AIDAESCFAAAAAAAAAAA5",
             DOC(ALLOW("iam:CreateAccessKey", U("idle")) ","
                 ALLOW("iam:UpdateAssumeRolePolicy", R("idle-role"))));
    put_user(ACCT, "ak-denied", "AIDAESCFAAAAAAAAAAA6",
             DOC(ALLOW("iam:CreateAccessKey", "*") "," ALLOW("iam:UpdateAssumeRolePolicy", "*") ","
                 DENY("iam:CreateAccessKey", U("reader")) ","
                 DENY("iam:UpdateAssumeRolePolicy", R("reader-role"))));
    put_user(ACCT2, "ak-foreign", "AIDAESCFAAAAAAAAAAA7", DOC(ALLOW("iam:*", "*")));

    struct run x;
    analyze(SECRET, &x);
    assert_true(reads(&x, U("reader")));
    assert_true(reads(&x, R("reader-role")));
    assert_false(reads(&x, U("idle")));
    assert_false(reads(&x, R("idle-role")));
    assert_true(listed(&x, U("ak"), "iam:CreateAccessKey", U("reader"), NULL));
    assert_non_null(strstr(evidence(&x, U("ak"), "iam:CreateAccessKey", U("reader")),
                           "Allow identity inline:" U("ak") ":inline"));
    assert_true(listed(&x, U("tp"), "iam:UpdateAssumeRolePolicy", R("reader-role"), NULL));
    assert_false(listed_any(&x, U("ak-idle")));
    assert_false(listed_any(&x, U("ak-denied")));
    /* iam:* in another account: its own user, not ACCT's reader or role. */
    const char *foreign = "arn:aws:iam::" ACCT2 ":user/ak-foreign";
    assert_true(listed(&x, foreign, "iam:PutUserPolicy", foreign, NULL));
    assert_false(listed(&x, foreign, "iam:CreateAccessKey", U("reader"), NULL));
    assert_false(listed(&x, foreign, "iam:UpdateAssumeRolePolicy", R("reader-role"), NULL));
    assert_false(listed_any(&x, U("reader")));      /* readers are never listed */
    run_free(&x);
}

/* iam:CreatePolicyVersion on a managed policy that shapes oneself:
 * attached directly, through a group, or the permissions boundary; not on
 * a policy attached to someone else, not against a Deny. */
static void test_esc_create_policy_version(void **state)
{
    (void)state;
    target();
    const char *p1 = put_managed("pv-pol", DOC(ALLOW("iam:CreatePolicyVersion", P("pv-pol"))), NULL);
    const char *p2 = put_managed("pv-group-pol",
                                 DOC(ALLOW("iam:CreatePolicyVersion", P("pv-group-pol"))), NULL);
    const char *p3 = put_managed("pv-bnd", DOC(ALLOW("iam:CreatePolicyVersion", P("pv-bnd")) ","
                                               ALLOW("kms:*", "*")), NULL);
    const char *p4 = put_managed("pv-elsewhere", DOC(ALLOW("iam:CreatePolicyVersion", P("pv-pol"))),
                                 NULL);
    put_user(ACCT, "pv", "AIDAESCGAAAAAAAAAAA1", NULL);
    put_rel("attached", U("pv"), p1, "");
    put_group("pv-group", "AGPAESCGAAAAAAAAAAA1", NULL, p2);
    put_user(ACCT, "pv-member", "AIDAESCGAAAAAAAAAAA2", NULL);
    put_rel("member", G("pv-group"), U("pv-member"), "");
    put_user_doc("pv-bounded", "AIDAESCGAAAAAAAAAAA3", boundary_doc(p3),
                 DOC(ALLOW("secretsmanager:GetSecretValue", "*") "," ALLOW("kms:Decrypt", "*") ","
                     ALLOW("iam:CreatePolicyVersion", P("pv-bnd"))));
    put_user(ACCT, "pv-other", "AIDAESCGAAAAAAAAAAA4", NULL);       /* may rewrite pv's policy */
    put_rel("attached", U("pv-other"), p4, "");
    put_user(ACCT, "pv-denied", "AIDAESCGAAAAAAAAAAA5", DOC(DENY("iam:CreatePolicyVersion", "*")));
    put_rel("attached", U("pv-denied"), p1, "");

    struct run x;
    analyze(SECRET, &x);
    assert_false(reads(&x, U("pv-bounded")));
    assert_true(listed(&x, U("pv"), "iam:CreatePolicyVersion", p1, NULL));
    assert_non_null(strstr(evidence(&x, U("pv"), "iam:CreatePolicyVersion", p1), p1));
    assert_true(listed(&x, U("pv-member"), "iam:CreatePolicyVersion", p2, NULL));
    assert_true(listed(&x, U("pv-bounded"), "iam:CreatePolicyVersion", p3, NULL));
    assert_false(listed_any(&x, U("pv-other")));
    assert_false(listed_any(&x, U("pv-denied")));
    run_free(&x);
}

/* iam:SetDefaultPolicyVersion on an attached managed policy: listed when
 * another stored version would let the holder read, decided with that
 * version wherever the holder has the policy (attached twice, or also its
 * boundary); not when the other version reads nothing, not against a
 * Deny. */
static void test_esc_set_default_policy_version(void **state)
{
    (void)state;
    target();
#define SDV(n) ALLOW("iam:SetDefaultPolicyVersion", P(n))
    const char *s1 = put_managed("sd-pol", DOC(SDV("sd-pol")), DOC(SDV("sd-pol") "," READ_ALL));
    const char *s2 = put_managed("sd-idle-pol", DOC(SDV("sd-idle-pol")),
                                 DOC(SDV("sd-idle-pol") "," ALLOW("kms:Decrypt", "*")));
    /* v1 denies reading; v2 does not.  Held directly and through a group:
     * with v2 the default, neither place denies. */
    const char *s3 = put_managed("sd-deny-pol", DOC(SDV("sd-deny-pol") "," DENY("secretsmanager:*", "*")),
                                 DOC(SDV("sd-deny-pol")));
    /* Attached and also the boundary: v2 widens both. */
    const char *s4 = put_managed("sd-bnd-pol", DOC(SDV("sd-bnd-pol")),
                                 DOC(SDV("sd-bnd-pol") "," READ_ALL));
    put_user(ACCT, "sd", "AIDAESCHAAAAAAAAAAA1", NULL);
    put_rel("attached", U("sd"), s1, "");
    put_user(ACCT, "sd-idle", "AIDAESCHAAAAAAAAAAA2", NULL);
    put_rel("attached", U("sd-idle"), s2, "");
    put_user(ACCT, "sd-denied", "AIDAESCHAAAAAAAAAAA3", DOC(DENY("iam:SetDefaultPolicyVersion", "*")));
    put_rel("attached", U("sd-denied"), s1, "");
    put_user(ACCT, "sd-twice", "AIDAESCHAAAAAAAAAAA4", READ);
    put_rel("attached", U("sd-twice"), s3, "");
    put_group("sd-group", "AGPAESCHAAAAAAAAAAA1", NULL, s3);
    put_rel("member", G("sd-group"), U("sd-twice"), "");
    put_user_doc("sd-bnd", "AIDAESCHAAAAAAAAAAA5", boundary_doc(s4), NULL);
    put_rel("attached", U("sd-bnd"), s4, "");
#undef SDV

    struct run x;
    analyze(SECRET, &x);
    assert_false(reads(&x, U("sd")));
    assert_true(listed(&x, U("sd"), "iam:SetDefaultPolicyVersion", s1, NULL));
    assert_non_null(strstr(evidence(&x, U("sd"), "iam:SetDefaultPolicyVersion", s1), s1));
    assert_false(listed_any(&x, U("sd-idle")));
    assert_false(listed_any(&x, U("sd-denied")));
    assert_false(reads(&x, U("sd-twice")));
    assert_true(listed(&x, U("sd-twice"), "iam:SetDefaultPolicyVersion", s3, NULL));
    assert_false(reads(&x, U("sd-bnd")));
    assert_true(listed(&x, U("sd-bnd"), "iam:SetDefaultPolicyVersion", s4, NULL));
    run_free(&x);
}

/* iam:DeleteUserPermissionsBoundary / iam:DeleteRolePermissionsBoundary on
 * oneself: listed when one would read without the boundary; not when one
 * would not, not on someone else, not against a Deny. */
static void test_esc_delete_boundary(void **state)
{
    (void)state;
    target();
    const char *bnd = put_managed("iam-only", DOC(ALLOW("iam:*", "*")), NULL);
    put_user_doc("db", "AIDAESCIAAAAAAAAAAA1", boundary_doc(bnd),
                 DOC(READ_ALL "," ALLOW("iam:DeleteUserPermissionsBoundary", U("db"))));
    put_user_doc("db-idle", "AIDAESCIAAAAAAAAAAA2", boundary_doc(bnd),
                 DOC(ALLOW("iam:DeleteUserPermissionsBoundary", U("db-idle"))));
    put_user_doc("db-other", "AIDAESCIAAAAAAAAAAA3", boundary_doc(bnd),
                 DOC(READ_ALL "," ALLOW("iam:DeleteUserPermissionsBoundary", U("db"))));
    put_user_doc("db-denied", "AIDAESCIAAAAAAAAAAA4", boundary_doc(bnd),
                 DOC(READ_ALL "," ALLOW("iam:Delete*Boundary", "*") "," DENY("iam:Delete*Boundary", "*")));
    const char *nobody = DOC(TRUST(U("nobody")));
    put_user(ACCT, "nobody", "AIDAESCIAAAAAAAAAAA5", NULL);
    put_role_bounded("dr", "AROAESCIAAAAAAAAAAA1", nobody,
                     DOC(READ_ALL "," ALLOW("iam:DeleteRolePermissionsBoundary", R("dr"))), bnd);
    put_role_bounded("dr-idle", "AROAESCIAAAAAAAAAAA2", nobody,
                     DOC(ALLOW("iam:DeleteRolePermissionsBoundary", R("dr-idle"))), bnd);
    put_role_bounded("dr-other", "AROAESCIAAAAAAAAAAA3", nobody,
                     DOC(READ_ALL "," ALLOW("iam:DeleteRolePermissionsBoundary", R("dr"))), bnd);
    /* A user may not delete a role's boundary action on itself, and the
     * user action is not the role's. */
    put_role_bounded("dr-wrong-action", "AROAESCIAAAAAAAAAAA4", nobody,
                     DOC(READ_ALL "," ALLOW("iam:DeleteUserPermissionsBoundary", "*")), bnd);

    struct run x;
    analyze(SECRET, &x);
    assert_false(reads(&x, U("db")));
    assert_true(listed(&x, U("db"), "iam:DeleteUserPermissionsBoundary", U("db"), NULL));
    assert_non_null(strstr(evidence(&x, U("db"), "iam:DeleteUserPermissionsBoundary", U("db")),
                           "Allow identity inline:" U("db") ":inline"));
    assert_non_null(strstr(evidence(&x, U("db"), "iam:DeleteUserPermissionsBoundary", U("db")),
                           "Allow boundary " P("iam-only")));
    assert_false(listed_any(&x, U("db-idle")));
    assert_false(listed_any(&x, U("db-other")));
    assert_false(listed_any(&x, U("db-denied")));
    assert_false(reads(&x, R("dr")));
    assert_true(listed(&x, R("dr"), "iam:DeleteRolePermissionsBoundary", R("dr"), NULL));
    assert_false(listed(&x, R("dr"), "iam:DeleteUserPermissionsBoundary", R("dr"), NULL));
    assert_false(listed_any(&x, R("dr-idle")));
    assert_false(listed_any(&x, R("dr-other")));
    assert_false(listed_any(&x, R("dr-wrong-action")));
    /* nobody may assume dr: dr's permission, via dr. */
    assert_true(listed(&x, U("nobody"), "iam:DeleteRolePermissionsBoundary", R("dr"), R("dr")));
    run_free(&x);
}

/* "via": a principal that can assume (one or more hops) a role holding
 * such a permission is listed with the role's permission and the role;
 * not one the trust policy does not admit, not one whose assume is
 * denied, not a reader, and not for a role whose permission is on
 * another secret. */
static void test_esc_via_role(void **state)
{
    (void)state;
    target();
    put_user(ACCT, "via", "AIDAESCJAAAAAAAAAAA1", DOC(ALLOW("kms:Decrypt", "*")));
    put_user(ACCT, "via-far", "AIDAESCJAAAAAAAAAAA2", NULL);
    put_user(ACCT, "via-denied", "AIDAESCJAAAAAAAAAAA3",
             DOC(ALLOW("sts:AssumeRole", "*") "," DENY("sts:AssumeRole", R("rp-role"))));
    put_user(ACCT, "via-untrusted", "AIDAESCJAAAAAAAAAAA4", DOC(ALLOW("sts:AssumeRole", "*")));
    put_user(ACCT, "via-reader", "AIDAESCJAAAAAAAAAAA5", READ);
    put_user(ACCT, "via-scoped", "AIDAESCJAAAAAAAAAAA6", NULL);
    put_role(ACCT, "rp-role", "AROAESCJAAAAAAAAAAA1",
             DOC(TRUST(U("via")) "," TRUST(R("hop")) "," TRUST(U("via-reader")) ","
                 TRUST(U("via-denied"))),
             DOC(ALLOW("secretsmanager:PutResourcePolicy", SM("esc-s"))));
    put_role(ACCT, "hop", "AROAESCJAAAAAAAAAAA2", DOC(TRUST(U("via-far"))),
             DOC(ALLOW("sts:AssumeRole", R("rp-role"))));
    put_role(ACCT, "scoped-role", "AROAESCJAAAAAAAAAAA3", DOC(TRUST(U("via-scoped"))),
             DOC(ALLOW("secretsmanager:PutResourcePolicy", SM("other"))));

    struct run x;
    analyze(SECRET, &x);
    const char *prp = "secretsmanager:PutResourcePolicy";
    assert_true(listed(&x, R("rp-role"), prp, SECRET, NULL));
    assert_true(listed(&x, U("via"), prp, SECRET, R("rp-role")));
    assert_false(listed(&x, U("via"), prp, SECRET, NULL));
    assert_true(listed(&x, R("hop"), prp, SECRET, R("rp-role")));
    assert_true(listed(&x, U("via-far"), prp, SECRET, R("rp-role")));     /* two hops */
    assert_false(listed_any(&x, U("via-denied")));
    assert_false(listed_any(&x, U("via-untrusted")));
    assert_false(listed_any(&x, U("via-reader")));
    assert_false(listed_any(&x, U("via-scoped")));
    assert_false(listed_any(&x, R("scoped-role")));
    run_free(&x);
}

/* ---- federated readers (federated.c) ----------------------------------- */

#define GH "token.actions.githubusercontent.com"
#define GH_ARN "arn:aws:iam::" ACCT ":oidc-provider/" GH
#define GONE_ARN "arn:aws:iam::" ACCT ":oidc-provider/gone.example.com"
#define FED(p, act, cond) "{'Effect':'Allow','Principal':{'Federated':" p "},'Action':" act cond "}"
#define WEB "'sts:AssumeRoleWithWebIdentity'"
#define SUB_APP ",'Condition':{'StringLike':{'" GH ":sub':'repo:org/app:*'}}"
#define READS DOC(ALLOW("secretsmanager:GetSecretValue", "*") "," ALLOW("kms:Decrypt", "*"))

/* The reader of role `name` in v (NULL when none); *count how many it has. */
static const struct az_fed *fed_of(const struct run *x, const struct az_fed *v, size_t n,
                                   const char *name, size_t *count)
{
    const struct az_fed *first = NULL;
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        const char *r = strrchr(x->g.n[v[i].role].arn, '/') + 1;
        if (strcmp(r, name) != 0) continue;
        if (!first) first = &v[i];
        (*count)++;
    }
    return first;
}

/* One reader per (provider, role, Allow statement) for the roles that
 * read; a Deny in the trust policy, another action, or a role that cannot
 * read lists none; a missing provider and a statement without a sub
 * condition are marked; "Principal": "*" is a reader of any issuer. */
static void test_federated(void **state)
{
    (void)state;
    target();
    put_entity("oidc-provider", ACCT, GH, "OIDCAAAAAAAAAAAAAAA1", GH_ARN,
               "{\"client_ids\":[\"sts.amazonaws.com\"],\"thumbprints\":[]}");
    put_role(ACCT, "fed-ok", "AROAFFFFFFFFFFFFFFF1", DOC(FED("'" GH_ARN "'", WEB, SUB_APP)), READS);
    put_role(ACCT, "fed-any", "AROAFFFFFFFFFFFFFFF2", DOC(FED("'" GH_ARN "'", "'sts:Assume*'", "")), READS);
    put_role(ACCT, "fed-trust-deny", "AROAFFFFFFFFFFFFFFF3",
             DOC(FED("'" GH_ARN "'", WEB, SUB_APP) ","
                 "{'Effect':'Deny','Principal':{'Federated':'" GH_ARN "'},'Action':" WEB "}"), READS);
    put_role(ACCT, "fed-no-read", "AROAFFFFFFFFFFFFFFF4", DOC(FED("'" GH_ARN "'", WEB, SUB_APP)), NULL);
    put_role(ACCT, "fed-gone", "AROAFFFFFFFFFFFFFFF5", DOC(FED("'" GONE_ARN "'", WEB, SUB_APP)), READS);
    put_role(ACCT, "fed-star", "AROAFFFFFFFFFFFFFFF6",
             DOC("{'Effect':'Allow','Principal':'*','Action':" WEB "}"), READS);
    put_role(ACCT, "fed-other-action", "AROAFFFFFFFFFFFFFFF7",
             DOC(FED("'" GH_ARN "'", "'sts:AssumeRole'", "")), READS);
    put_role(ACCT, "fed-two", "AROAFFFFFFFFFFFFFFF8",
             DOC(FED("['" GH_ARN "','" GONE_ARN "']", "['sts:TagSession','sts:AssumeRoleWith*']",
                     SUB_APP)), READS);
    struct run x;
    analyze(SECRET, &x);
    struct az_fed *v = NULL;
    size_t n = 0, c;
    ok(az_federated(&x.g, x.ans, &v, &n));
    assert_int_equal(n, 6);

    const struct az_fed *f = fed_of(&x, v, n, "fed-ok", &c);
    assert_int_equal(c, 1);
    assert_string_equal(f->provider, GH_ARN);
    assert_string_equal(f->issuer, GH);
    assert_string_equal(f->statement, "0");
    assert_true(f->provider_exists);
    assert_false(f->any_token);
    assert_false(f->conditional);
    char line[1024];
    az_federated_words(&x.g, f, line, sizeof line);
    assert_string_equal(line, "tokens of issuer " GH " whose sub matches repo:org/app:* (StringLike) "
                              "can read, through role fed-ok (statement 0)");
    char *cj = json_dumps(f->conditions, JSON_COMPACT);
    assert_string_equal(cj, "[{\"key\":\"" GH ":sub\",\"operator\":\"StringLike\",\"values\":"
                            "[\"repo:org/app:*\"]}]");
    free(cj);

    f = fed_of(&x, v, n, "fed-any", &c);
    assert_int_equal(c, 1);
    assert_true(f->any_token);
    az_federated_words(&x.g, f, line, sizeof line);
    assert_string_equal(line, "tokens of issuer " GH " can read, through role fed-any (statement 0)");

    assert_null(fed_of(&x, v, n, "fed-trust-deny", &c));
    assert_null(fed_of(&x, v, n, "fed-no-read", &c));
    assert_null(fed_of(&x, v, n, "fed-other-action", &c));

    f = fed_of(&x, v, n, "fed-gone", &c);
    assert_int_equal(c, 1);
    assert_false(f->provider_exists);

    f = fed_of(&x, v, n, "fed-star", &c);
    assert_int_equal(c, 1);
    assert_string_equal(f->provider, "*");
    assert_string_equal(f->issuer, "*");
    assert_true(f->any_token);

    f = fed_of(&x, v, n, "fed-two", &c);
    assert_int_equal(c, 2);
    assert_string_equal(f[0].provider, GH_ARN);
    assert_true(f[0].provider_exists);
    assert_string_equal(f[1].provider, GONE_ARN);
    assert_false(f[1].provider_exists);

    json_t *j = az_federated_json(&x.g, &f[0]);
    assert_string_equal(json_string_value(json_object_get(j, "kind")), "federated");
    assert_string_equal(json_string_value(json_object_get(j, "role")), R("fed-two"));
    json_decref(j);
    az_federated_free(v, n);
    run_free(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_graph, setup, teardown),
        cmocka_unit_test_setup_teardown(test_anyone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_federated, setup, teardown),
        cmocka_unit_test(test_stranger_principal),
        cmocka_unit_test(test_session_of),
        cmocka_unit_test_setup_teardown(test_foreign_named_arns, setup, teardown),
        cmocka_unit_test(test_esc_actions_table),
        cmocka_unit_test_setup_teardown(test_esc_put_resource_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_esc_key_policy_and_grant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_esc_user_policies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_esc_role_policies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_esc_group_policies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_esc_access_key_and_trust, setup, teardown),
        cmocka_unit_test_setup_teardown(test_esc_create_policy_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_esc_set_default_policy_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_esc_delete_boundary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_esc_via_role, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_kept_across_secrets, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
