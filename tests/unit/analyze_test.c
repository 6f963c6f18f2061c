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
#include "iam/policy.h"
#include "kms/keyring.h"
#include "store/store.h"

#define ACCT "111122223333"
#define ACCT2 "444455556666"
#define FOREIGN "999988887777"
#define NOW 1700000000

static struct server_env ENV;

static char *q(const char *s)
{
    static char bufs[8][4096];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s", s);
    for (char *p = b; *p; p++)
        if (*p == '\'') *p = '"';
    return b;
}

#define DOC(...) "{'Version':'2012-10-17','Statement':[" __VA_ARGS__ "]}"
#define ALLOW(act, res) "{'Effect':'Allow','Action':'" act "','Resource':'" res "'}"
#define TRUST(p) "{'Effect':'Allow','Principal':{'AWS':'" p "'},'Action':'sts:AssumeRole'}"
#define TRUST_DENY(p) "{'Effect':'Deny','Principal':{'AWS':'" p "'},'Action':'sts:AssumeRole'}"
#define TRUST_IF(p, cond) \
    "{'Effect':'Allow','Principal':{'AWS':'" p "'},'Action':'sts:AssumeRole','Condition':" cond "}"

static void ok(tr_result r)
{
    if (tr_failed(r)) fail_msg("failed: %s", tr_err_type(tr_code(r)));
}

static void put_entity(const char *kind, const char *acct, const char *name, const char *id,
                       const char *arn, const char *doc)
{
    struct ent_rec e = { 0 };
    snprintf(e.kind, sizeof e.kind, "%s", kind);
    snprintf(e.account_id, sizeof e.account_id, "%s", acct);
    e.name = (char *)name;
    e.id = (char *)id;
    e.arn = (char *)arn;
    e.path = (char *)"/";
    e.doc = (char *)doc;
    e.created = NOW;
    ok(ENV.st[0]->ent_put(ENV.st, &e));
}

static void put_inline(const char *arn, const char *policy)
{
    struct rel_rec r = { 0 };
    snprintf(r.kind, sizeof r.kind, "inline");
    r.from = (char *)arn;
    r.to = (char *)"inline";
    r.doc = q(policy);
    r.created = NOW;
    ok(ENV.st[0]->rel_put(ENV.st, &r));
}

static void put_user(const char *acct, const char *name, const char *id, const char *policy)
{
    char arn[256];
    snprintf(arn, sizeof arn, "arn:aws:iam::%s:user/%s", acct, name);
    put_entity("user", acct, name, id, arn, "{}");
    if (policy) put_inline(arn, policy);
}

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

static int setup(void **state)
{
    static const uint8_t root[32] = "tresor-analyze-test-root-key-32";
    (void)state;
    if (tr_failed(crypto_init())) return -1;
    memset(&ENV, 0, sizeof ENV);
    if (tr_failed(store_sqlite_open_memory(&ENV.st))) return -1;
    if (tr_failed(keyring_from_bytes(root, &ENV.kr))) return -1;
    ENV.default_region = "us-east-1";
    struct account_rec a = { .id = ACCT, .created = NOW }, b = { .id = ACCT2, .created = NOW };
    if (tr_failed(ENV.st[0]->account_put(ENV.st, &a))) return -1;
    if (tr_failed(ENV.st[0]->account_put(ENV.st, &b))) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ENV.st[0]->close(ENV.st);
    keyring_free(ENV.kr);
    policy_cache_clear();
    return 0;
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
    /* Another held account, and one the store does not hold. */
    put_role(ACCT, "cross", "AROAAAAAAAAAAAAAAAA5",
             DOC(TRUST("arn:aws:iam::" ACCT2 ":root") "," TRUST("arn:aws:iam::" FOREIGN ":root")),
             NULL);

    const char *accts[] = { ACCT };
    struct az_graph g;
    ok(az_graph_build(&ENV, accts, 1, &g));

    /* Principals: both held accounts' roots and users, the roles, one foreign node. */
    assert_true(az_graph_find(&g, "arn:aws:iam::" ACCT ":root") != SIZE_MAX);
    assert_true(az_graph_find(&g, "arn:aws:iam::" ACCT2 ":root") != SIZE_MAX);
    assert_true(az_graph_find(&g, "arn:aws:iam::" ACCT2 ":user/other") != SIZE_MAX);
    size_t f = az_graph_find(&g, "arn:aws:iam::" FOREIGN ":root");
    assert_true(f != SIZE_MAX);
    assert_int_equal(g.n[f].kind, AZ_FOREIGN);
    assert_int_equal(g.nn, 2 + 4 + 5 + 1);

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
    const struct az_edge *e = edge(&g, U("can-assume"), R("external-id"));
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_graph, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
