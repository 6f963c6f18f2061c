/*
 * analyze_index_test.c -- the indexes that let who-can-decrypt skip work
 * at account scale (src/analyze/graph.c, who_can.c) give the answers of
 * doing the work.
 *
 * Covered:
 *  - policy_may_allow_heads (src/iam/policy_eval.c): the heads it reports
 *    for exact, wildcard ("*", "?") and whole-account patterns; "any
 *    resource" for no Resource, NotResource, variables and a leading
 *    wildcard; nothing for Deny statements and other actions; and its
 *    contract over many (policy, resource) pairs: whenever
 *    policy_may_allow says yes, a reported head starts the resource.
 *  - az_gsv_may against asking every distinct policy, over a graph of
 *    users with such policies and resources that differ by one byte, by
 *    case, or only past a wildcard (tamper cases).
 *  - the trust-policy index: the edges into every role, computed from the
 *    candidates each trust policy names, equal the edges computed by
 *    trying every node (az_graph.exhaustive), for trust policies naming a
 *    user or role by ARN, an account by id and by root ARN, "*" alone and
 *    with conditions on aws:PrincipalArn, aws:PrincipalAccount and
 *    aws:PrincipalOrgID, a role session, unique ids (AIDA..., AROA...), a
 *    bound ARN whose user was renamed since (the binding names it by id)
 *    or deleted, federated and service principals, NotPrincipal (refused
 *    in a trust policy, so the role is assumable by no one), Deny
 *    statements, another held account and one the store does not hold.
 *    The same edges again from a graph whose identities are deferred to
 *    the principal facts (az_graph_build_facts), which loads none itself.
 *  - az_principal_facts (facts.c, a prepared snapshot's "facts"): for
 *    every user and role, "assume" and "gsv" present exactly when the
 *    graph's own tests say "may", and covering every role and secret ARN
 *    an identity policy may allow (NotAction, NotResource, Deny, policy
 *    variables, wildcards); "escalate" as asking each action.
 *  - policy_mentions_key (the KMS memo's guard): conditions and variables
 *    reading kms:EncryptionContext*, in any case; other keys do not.
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
#include "iam/identity.h"
#include "iam/policy.h"
#include "store/store.h"

#include "analyze_fixture.h"

#define GSV "secretsmanager:GetSecretValue"
#define SM "arn:aws:secretsmanager:us-east-1:" ACCT ":secret:"

#define DENY(act, res) "{'Effect':'Deny','Action':'" act "','Resource':'" res "'}"

static struct policy *compile(const char *text, enum policy_kind kind)
{
    struct policy *p = NULL;
    tr_result r = policy_compile(q(text), strlen(text), kind, &p);
    if (tr_failed(r)) fail_msg("does not compile: %s", text);
    return p;
}

/* ---- policy_may_allow_heads ------------------------------------------------- */

struct heads {
    char v[16][256];
    size_t n;
};

static void on_head(void *arg, const char *head, size_t len)
{
    struct heads *h = arg;
    assert_true(h->n < 16 && len < 256);
    memcpy(h->v[h->n], head, len);
    h->v[h->n++][len] = '\0';
}

/* Heads of text for GSV: *any set when it reports "any resource". */
static struct heads heads_of(const char *text, bool *any)
{
    struct heads h = { .n = 0 };
    struct policy *p = compile(text, POLICY_IDENTITY);
    *any = !policy_may_allow_heads(p, GSV, on_head, &h);
    policy_unref(p);
    return h;
}

static void test_heads(void **state)
{
    (void)state;
    bool any;
    struct heads h = heads_of(DOC(ALLOW(GSV, SM "team/app/*")), &any);
    assert_false(any);
    assert_int_equal(h.n, 1);
    assert_string_equal(h.v[0], SM "team/app/");
    h = heads_of(DOC(ALLOW("secretsmanager:Get*", SM "a?c-*")), &any);
    assert_false(any);
    assert_int_equal(h.n, 1);
    assert_string_equal(h.v[0], SM "a");
    /* No wildcard: the whole ARN is its head. */
    h = heads_of(DOC(ALLOW(GSV, SM "exact-AbCdEf")), &any);
    assert_false(any);
    assert_string_equal(h.v[0], SM "exact-AbCdEf");
    /* Several statements and resources: one head each. */
    h = heads_of(DOC("{'Effect':'Allow','Action':'" GSV "','Resource':['" SM "x/*','" SM "y/*']},"
                     ALLOW("secretsmanager:*", "arn:aws:secretsmanager:*:" ACCT ":secret:z*")),
                 &any);
    assert_false(any);
    assert_int_equal(h.n, 3);
    assert_string_equal(h.v[2], "arn:aws:secretsmanager:");
    /* Nothing of the kind: no head, and not "any". */
    h = heads_of(DOC(ALLOW("kms:Decrypt", "*") "," DENY(GSV, "*")), &any);
    assert_false(any);
    assert_int_equal(h.n, 0);
    /* Any resource may do. */
    heads_of(DOC(ALLOW(GSV, "*")), &any);
    assert_true(any);
    heads_of(DOC(ALLOW("*", "*")), &any);
    assert_true(any);
    h = heads_of(DOC(ALLOW(GSV, "arn:aws:secretsmanager:*:*:secret:*")), &any);
    assert_false(any);
    assert_string_equal(h.v[0], "arn:aws:secretsmanager:");
    heads_of(DOC("{'Effect':'Allow','Action':'" GSV "','NotResource':'" SM "x'}"), &any);
    assert_true(any);
    heads_of(DOC(ALLOW(GSV, SM "${aws:username}/*")), &any);
    assert_true(any);
    heads_of(DOC("{'Effect':'Allow','NotAction':'kms:*','Resource':'" SM "n/*'}"), &any);
    assert_false(any);
    /* Version 2008-10-17: "${" is text, not a variable. */
    h = heads_of("{'Version':'2008-10-17','Statement':[" ALLOW(GSV, SM "${x}/*") "]}", &any);
    assert_false(any);
    assert_string_equal(h.v[0], SM "${x}/");
}

/* The contract, over every pair: may_allow yes => a head starts R. */
static const char *const POLICIES[] = {
    DOC(ALLOW(GSV, SM "team/app/*")),
    DOC(ALLOW("secretsmanager:Get*", SM "a?c-*")),
    DOC(ALLOW(GSV, SM "exact-AbCdEf")),
    DOC(ALLOW(GSV, SM "t0*/prod/*") "," DENY(GSV, SM "t01/*")),
    DOC("{'Effect':'Allow','Action':['kms:Decrypt','" GSV "'],'Resource':['" SM "k*','" SM "q?']}"),
    DOC(ALLOW("*", "arn:aws:secretsmanager:us-east-1:" ACCT ":*")),
    DOC(ALLOW(GSV, "arn:aws:secretsmanager:us-*-1:" ACCT ":secret:w*")),
    DOC("{'Effect':'Allow','NotAction':'kms:*','Resource':'" SM "n/*'}"),
    DOC(ALLOW("sts:AssumeRole", "*")),
    DOC(ALLOW(GSV, SM "T00/*")),
};

static const char *const RESOURCES[] = {
    SM "team/app/s1-AbCdEf", SM "team/apq/s1-AbCdEf", SM "team/app-AbCdEf", SM "abc-xyz", SM "aXc-1",
    SM "ac-", SM "exact-AbCdEf", SM "exact-AbCdEg", SM "exact-abcdef", SM "t00/prod/x", SM "t01/prod/y",
    SM "t00/app/x", SM "kx", SM "q1", SM "q12", SM "n/1", SM "w", SM "T00/a", SM "t00/a",
    "arn:aws:secretsmanager:us-west-1:" ACCT ":secret:w1", "arn:aws:secretsmanager:us-east-1:" ACCT2 ":secret:w1",
    "arn:aws:secretsmanager:eu-west-1:" ACCT ":secret:team/app/s1",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void test_heads_contract(void **state)
{
    (void)state;
    for (size_t i = 0; i < NELEM(POLICIES); i++) {
        struct heads h = { .n = 0 };
        struct policy *p = compile(POLICIES[i], POLICY_IDENTITY);
        bool specific = policy_may_allow_heads(p, GSV, on_head, &h);
        for (size_t k = 0; k < NELEM(RESOURCES); k++) {
            if (!policy_may_allow(p, NULL, GSV, RESOURCES[k]) || !specific) continue;
            bool started = false;
            for (size_t j = 0; j < h.n && !started; j++)
                started = strncmp(RESOURCES[k], h.v[j], strlen(h.v[j])) == 0;
            if (!started) fail_msg("policy %zu allows %s, which no head starts", i, RESOURCES[k]);
        }
        policy_unref(p);
    }
}

/* ---- policy_mentions_key --------------------------------------------------- */

static void test_mentions_key(void **state)
{
    (void)state;
    static const struct {
        const char *doc;
        enum policy_kind kind;
        bool reads;
    } cases[] = {
        { DOC("{'Effect':'Allow','Action':'kms:Decrypt','Resource':'*','Condition':{'StringEquals':"
              "{'kms:EncryptionContext:SecretARN':'x'}}}"), POLICY_IDENTITY, true },
        { DOC("{'Effect':'Allow','Action':'kms:Decrypt','Resource':'*','Condition':{'ForAnyValue:"
              "StringEquals':{'KMS:ENCRYPTIONCONTEXTKEYS':'SecretARN'}}}"), POLICY_IDENTITY, true },
        { DOC("{'Effect':'Deny','Action':'kms:Decrypt','Resource':'*','Condition':{'Null':"
              "{'kms:encryptioncontext:SecretVersionId':'true'}}}"), POLICY_IDENTITY, true },
        { DOC(ALLOW("kms:Decrypt", "arn:aws:kms:*:*:key/${kms:EncryptionContext:k}")), POLICY_IDENTITY, true },
        { DOC("{'Effect':'Allow','Action':'kms:Decrypt','Resource':'*','Condition':{'StringEquals':"
              "{'aws:PrincipalTag/team':'${kms:EncryptionContext:team}'}}}"), POLICY_IDENTITY, true },
        { DOC("{'Effect':'Allow','Action':'kms:Decrypt','Resource':'*','Condition':{'ArnLike':"
              "{'aws:PrincipalArn':'arn:aws:iam::*:role/${kms:EncryptionContext:r}'}}}"),
          POLICY_IDENTITY, true },
        { DOC("{'Effect':'Allow','Principal':{'AWS':'arn:aws:iam::" ACCT ":root'},'Action':'kms:*',"
              "'Resource':'*','Condition':{'StringLike':{'kms:EncryptionContext:SecretARN':'" SM "a*'}}}"),
          POLICY_KEY, true },
        /* Other keys, and the text "EncryptionContext" elsewhere: no. */
        { DOC("{'Effect':'Allow','Action':'kms:Decrypt','Resource':'*','Condition':{'StringEquals':"
              "{'kms:ViaService':'secretsmanager.us-east-1.amazonaws.com','kms:CallerAccount':'" ACCT "'}}}"),
          POLICY_IDENTITY, false },
        { DOC(ALLOW("kms:Decrypt", "arn:aws:kms:*:*:key/kms:EncryptionContext")), POLICY_IDENTITY, false },
        { "{'Version':'2008-10-17','Statement':["
          ALLOW("kms:Decrypt", "arn:aws:kms:*:*:key/${kms:EncryptionContext:k}") "]}",
          POLICY_IDENTITY, false },
        { DOC(ALLOW("*", "*")), POLICY_IDENTITY, false },
    };
    for (size_t i = 0; i < NELEM(cases); i++) {
        struct policy *p = compile(cases[i].doc, cases[i].kind);
        if (policy_mentions_key(p, "kms:EncryptionContext") != cases[i].reads)
            fail_msg("case %zu: expected %s", i, cases[i].reads ? "reads" : "does not read");
        policy_unref(p);
    }
    assert_false(policy_mentions_key(NULL, "kms:EncryptionContext"));
}

/* ---- a store to build graphs over -------------------------------------------- */

/* A role; ids: its trust policy's principal binding (JSON text), or NULL. */
static void put_role_bound(const char *acct, const char *name, const char *id, const char *trust,
                           const char *ids, const char *policy)
{
    char arn[256];
    snprintf(arn, sizeof arn, "arn:aws:iam::%s:role/%s", acct, name);
    json_t *d = json_pack("{s:s, s:s, s:i}", "trust", q(trust), "description", "", "max_session", 3600);
    if (ids) json_object_set_new(d, "trust_ids", json_string(q(ids)));
    char *doc = json_dumps(d, JSON_COMPACT);
    put_entity("role", acct, name, id, arn, doc);
    free(doc);
    json_decref(d);
    if (policy) put_inline(arn, policy);
}

static void put_role(const char *acct, const char *name, const char *id, const char *trust,
                     const char *policy)
{
    put_role_bound(acct, name, id, trust, NULL, policy);
}

/* ---- az_gsv_may ---------------------------------------------------------------- */

static void test_gsv_index(void **state)
{
    (void)state;
    char name[32], id[32];
    for (size_t i = 0; i < NELEM(POLICIES); i++) {
        snprintf(name, sizeof name, "u%zu", i);
        snprintf(id, sizeof id, "AIDAGSVINDEXTEST%04zu", i);
        put_user(ACCT, name, id, POLICIES[i]);
    }
    /* Two users sharing a document: one distinct policy. */
    put_user(ACCT, "twin", "AIDAGSVINDEXTWIN0001", POLICIES[0]);
    put_user(ACCT, "none", "AIDAGSVINDEXNONE0001", NULL);
    const char *accts[] = { ACCT };
    struct az_graph g;
    ok(az_graph_build_opts(&ENV, accts, 1, true, &g));
    assert_true(g.ngsv_pol > 0);
    assert_true(g.ngsv_head > 0 && g.ngsv_any > 0);
    unsigned char *may = calloc(g.ngsv_pol + 1, 1);
    assert_non_null(may);
    size_t yes = 0;
    for (size_t k = 0; k < NELEM(RESOURCES); k++) {
        memset(may, 0xAA, g.ngsv_pol);          /* whatever was there before */
        az_gsv_may(&g, RESOURCES[k], may);
        for (size_t i = 0; i < g.ngsv_pol; i++) {
            bool want = policy_may_allow(g.gsv_pol[i], NULL, GSV, RESOURCES[k]);
            if (may[i] != want) fail_msg("%s, policy %zu: index %d, every policy %d", RESOURCES[k], i, may[i], want);
            yes += want;
        }
    }
    assert_true(yes > NELEM(RESOURCES));       /* the comparison saw both answers */
    /* The reverse index: each policy's nodes hold it. */
    for (size_t k = 0; k < g.ngsv_pol; k++)
        for (size_t j = g.gsv_node_at[k]; j < g.gsv_node_at[k + 1]; j++) {
            const struct az_node *n = &g.n[g.gsv_node[j]];
            bool holds = false;
            for (size_t x = 0; x < n->ngsv_pols; x++) holds |= n->gsv_pols[x] == k;
            assert_true(holds);
        }
    free(may);
    az_graph_free(&g);
}

/* ---- the trust-policy index ---------------------------------------------------- */

#define U(n) "arn:aws:iam::" ACCT ":user/" n
#define R(n) "arn:aws:iam::" ACCT ":role/" n
#define ROOT "arn:aws:iam::" ACCT ":root"

static const struct az_edge *edge(const struct az_graph *g, const char *from, const char *to)
{
    size_t f = az_graph_find(g, from), t = az_graph_find(g, to);
    assert_true(f != SIZE_MAX);
    assert_true(t != SIZE_MAX);
    for (size_t i = 0; i < g->ne; i++)
        if (g->e[i].from == f && g->e[i].to == t) return &g->e[i];
    return NULL;
}

/* g has every edge of all, with the same condition, session and
 * evidence, and no other. */
static void same_edges(const struct az_graph *g, const struct az_graph *all)
{
    for (size_t i = 0; i < all->ne; i++) {
        const struct az_edge *a = &all->e[i];
        const struct az_edge *x = edge(g, all->n[a->from].arn, all->n[a->to].arn);
        if (!x) fail_msg("missing: %s -> %s", all->n[a->from].arn, all->n[a->to].arn);
        assert_int_equal(x->conditional, a->conditional);
        assert_int_equal(x->public_trust, a->public_trust);
        assert_string_equal(x->session, a->session);
        assert_string_equal(x->evidence, a->evidence);
    }
    assert_int_equal(g->ne, all->ne);
}

static void test_trust_index(void **state)
{
    (void)state;
    put_user(ACCT, "can-assume", "AIDATRUSTINDEX000001", DOC(ALLOW("sts:AssumeRole", "*")));
    put_user(ACCT, "scoped", "AIDATRUSTINDEX000002", DOC(ALLOW("sts:AssumeRole", R("app-*"))));
    put_user(ACCT, "no-policy", "AIDATRUSTINDEX000003", NULL);
    /* Named by a trust policy as user/old-name, since renamed. */
    put_user(ACCT, "new-name", "AIDATRUSTINDEXRENAME", NULL);
    put_user(ACCT2, "other", "AIDATRUSTINDEX000005", DOC(ALLOW("sts:AssumeRole", "*")));
    put_role(ACCT, "hub", "AROATRUSTINDEX000001", DOC(TRUST(U("no-policy"))),
             DOC(ALLOW("sts:AssumeRole", "*")));
    put_role(ACCT, "by-user", "AROATRUSTINDEX000002", DOC(TRUST(U("no-policy"))), NULL);
    put_role(ACCT, "by-account-id", "AROATRUSTINDEX000003", DOC(TRUST(ACCT)), NULL);
    put_role(ACCT, "app-by-root", "AROATRUSTINDEX000004", DOC(TRUST(ROOT)), NULL);
    put_role(ACCT, "star", "AROATRUSTINDEX000005", DOC(TRUST("*")), NULL);
    put_role(ACCT, "star-arn", "AROATRUSTINDEX000006",
             DOC(TRUST_IF("*", "{'ArnEquals':{'aws:PrincipalArn':'" U("can-assume") "'}}")), NULL);
    put_role(ACCT, "star-account", "AROATRUSTINDEX000007",
             DOC(TRUST_IF("*", "{'StringEquals':{'aws:PrincipalAccount':'" ACCT2 "'}}")), NULL);
    put_role(ACCT, "star-org", "AROATRUSTINDEX000008",
             DOC(TRUST_IF("*", "{'StringEquals':{'aws:PrincipalOrgID':'o-abcdefghij'}}")), NULL);
    put_role(ACCT, "root-arn-like", "AROATRUSTINDEX000009",
             DOC(TRUST_IF(ROOT, "{'ArnLike':{'aws:PrincipalArn':'" U("can*") "'}}")), NULL);
    put_role(ACCT, "by-session", "AROATRUSTINDEX000010",
             DOC(TRUST("arn:aws:sts::" ACCT ":assumed-role/hub/ci-job")), NULL);
    put_role(ACCT, "by-user-id", "AROATRUSTINDEX000011", DOC(TRUST("AIDATRUSTINDEX000003")), NULL);
    put_role(ACCT, "by-role-id", "AROATRUSTINDEX000012", DOC(TRUST("AROATRUSTINDEX000001")), NULL);
    put_role_bound(ACCT, "bound-renamed", "AROATRUSTINDEX000013", DOC(TRUST(U("old-name"))),
                   "{'" U("old-name") "':'AIDATRUSTINDEXRENAME'}", NULL);
    put_role_bound(ACCT, "bound-gone", "AROATRUSTINDEX000014", DOC(TRUST(U("no-policy"))),
                   "{'" U("no-policy") "':'AIDATRUSTINDEXGONE01'}", NULL);
    put_role(ACCT, "federated", "AROATRUSTINDEX000015",
             DOC("{'Effect':'Allow','Principal':{'Federated':'cognito-identity.amazonaws.com'},"
                 "'Action':'sts:AssumeRoleWithWebIdentity'}"), NULL);
    put_role(ACCT, "service", "AROATRUSTINDEX000016",
             DOC("{'Effect':'Allow','Principal':{'Service':'ec2.amazonaws.com'},'Action':'sts:AssumeRole'}"),
             NULL);
    put_role(ACCT, "not-principal", "AROATRUSTINDEX000017",
             DOC("{'Effect':'Allow','NotPrincipal':{'AWS':'" U("no-policy") "'},'Action':'sts:AssumeRole'}"),
             NULL);
    put_role(ACCT, "denied", "AROATRUSTINDEX000018", DOC(TRUST(ROOT) "," TRUST_DENY(U("can-assume"))),
             NULL);
    put_role(ACCT, "cross", "AROATRUSTINDEX000019",
             DOC(TRUST("arn:aws:iam::" ACCT2 ":root") "," TRUST("arn:aws:iam::" FOREIGN ":root")), NULL);

    const char *accts[] = { ACCT };
    struct az_graph idx, all;
    ok(az_graph_build_opts(&ENV, accts, 1, true, &idx));
    ok(az_graph_build_opts(&ENV, accts, 1, true, &all));
    all.exhaustive = true;
    ok(az_graph_edges_all(&idx));
    ok(az_graph_edges_all(&all));
    assert_int_equal(idx.nn, all.nn);
    /* Every edge of trying every node is the index's, with the same
     * condition, session and evidence; and no other. */
    same_edges(&idx, &all);
    /* With the identities deferred to the principal facts (a prepared
     * snapshot's): nothing loaded by the build, the same edges after. */
    const char *held[] = { ACCT, ACCT2 };
    json_t *facts = NULL, *packed = NULL;
    struct az_facts *unpacked = NULL;
    ok(az_principal_facts(ENV.st, held, 2, &facts));
    ok(az_facts_pack(facts, &packed));
    ok(az_facts_unpack(packed, &unpacked));
    json_decref(packed);
    json_decref(facts);
    struct az_graph lazy;
    ok(az_graph_build_facts(&ENV, accts, 1, unpacked, &lazy));
    size_t deferred = 0, people = 0;
    for (size_t i = 0; i < lazy.nn; i++) {
        deferred += lazy.n[i].deferred;
        people += lazy.n[i].kind == AZ_USER || lazy.n[i].kind == AZ_ROLE;
        if (lazy.n[i].deferred) assert_null(lazy.n[i].id);
    }
    assert_int_equal(deferred, people);
    ok(az_graph_edges_all(&lazy));
    assert_int_equal(lazy.nn, all.nn);
    same_edges(&lazy, &all);
    az_graph_free(&lazy);
    az_facts_free(unpacked);                     /* the graph's were borrowed */
    /* And the cases themselves (so the comparison is not of two empty
     * graphs). */
    assert_non_null(edge(&idx, U("no-policy"), R("by-user")));
    assert_non_null(edge(&idx, U("can-assume"), R("by-account-id")));
    assert_non_null(edge(&idx, U("scoped"), R("app-by-root")));
    assert_null(edge(&idx, U("no-policy"), R("app-by-root")));
    assert_non_null(edge(&idx, U("no-policy"), R("star")));
    assert_non_null(edge(&idx, U("can-assume"), R("star-arn")));
    assert_null(edge(&idx, U("scoped"), R("star-arn")));
    assert_non_null(edge(&idx, "arn:aws:iam::" ACCT2 ":user/other", R("star-account")));
    assert_null(edge(&idx, U("can-assume"), R("star-account")));
    assert_non_null(edge(&idx, U("can-assume"), R("root-arn-like")));
    assert_null(edge(&idx, U("scoped"), R("root-arn-like")));
    const struct az_edge *sess = edge(&idx, R("hub"), R("by-session"));
    assert_non_null(sess);
    assert_string_equal(sess->session, "ci-job");
    assert_non_null(edge(&idx, U("no-policy"), R("by-user-id")));
    assert_non_null(edge(&idx, R("hub"), R("by-role-id")));
    assert_non_null(edge(&idx, U("new-name"), R("bound-renamed")));     /* by its id */
    assert_null(edge(&idx, U("no-policy"), R("bound-gone")));           /* another user's id */
    assert_null(edge(&idx, U("no-policy"), R("service")));
    assert_null(edge(&idx, U("can-assume"), R("federated")));
    assert_null(edge(&idx, U("no-policy"), R("not-principal")));
    assert_null(edge(&idx, U("can-assume"), R("not-principal")));
    assert_null(edge(&idx, U("can-assume"), R("denied")));
    assert_non_null(edge(&idx, "arn:aws:iam::" ACCT2 ":user/other", R("cross")));
    assert_non_null(edge(&idx, "arn:aws:iam::" FOREIGN ":root", R("cross")));
    az_graph_free(&idx);
    az_graph_free(&all);
}

/* ---- the order of the edges out of a node --------------------------------------- */

/* The edges out of a node come in one order (by role, the last in node
 * order first) whichever order a lazy graph decided the roles' edges in:
 * the breadth-first search takes them in that order, so the path chosen
 * among equally short ones does not depend on earlier answers. */
static void test_out_order(void **state)
{
    (void)state;
    static const char *const roles[] = { "r1", "r2", "r3", "r4", "r5" };
    put_user(ACCT, "many", "AIDAOUTORDERTEST0001", DOC(ALLOW("sts:AssumeRole", "*")));
    for (size_t i = 0; i < NELEM(roles); i++) {
        char id[32];
        snprintf(id, sizeof id, "AROAOUTORDERTEST%04zu", i);
        put_role(ACCT, roles[i], id, DOC(TRUST(ROOT)), NULL);
    }
    static const size_t orders[][5] = { { 0, 1, 2, 3, 4 }, { 4, 3, 2, 1, 0 }, { 3, 1, 0, 4, 2 }, { 2, 4, 0, 1, 3 } };
    const char *accts[] = { ACCT };
    char first[NELEM(roles)][PRINCIPAL_ARN_MAX] = { { 0 } };
    for (size_t o = 0; o < NELEM(orders); o++) {
        struct az_graph g;
        ok(az_graph_build_opts(&ENV, accts, 1, true, &g));
        for (size_t i = 0; i < NELEM(roles); i++) {
            char arn[128];
            snprintf(arn, sizeof arn, R("%s"), roles[orders[o][i]]);
            size_t r = az_graph_find(&g, arn);
            assert_true(r != SIZE_MAX);
            ok(az_graph_edges_into(&g, r));
        }
        size_t u = az_graph_find(&g, U("many")), k = 0, last = SIZE_MAX;
        assert_true(u != SIZE_MAX);
        for (size_t e = g.n[u].first_out; e != SIZE_MAX; e = g.e[e].next_out, k++) {
            assert_true(k < NELEM(roles));
            assert_true(last == SIZE_MAX || g.e[e].to < last);
            last = g.e[e].to;
            if (!o) snprintf(first[k], sizeof first[k], "%s", g.n[last].arn);
            else assert_string_equal(g.n[last].arn, first[k]);
        }
        assert_int_equal(k, NELEM(roles));
        az_graph_free(&g);
    }
}

/* ---- the principal facts of a prepared snapshot ---------------------------- */

/* Does facts value v ("*" or an array of heads) cover resource r? */
static bool covers(const json_t *v, const char *r)
{
    if (json_is_string(v)) return strcmp(json_string_value(v), "*") == 0;
    size_t i;
    json_t *h;
    json_array_foreach(v, i, h) {
        const char *s = json_string_value(h);
        if (s && strncmp(r, s, strlen(s)) == 0) return true;
    }
    return false;
}

/* Whether any identity policy of n may allow action on r (NULL: any). */
static bool node_may(const struct az_node *n, const char *action, const char *r)
{
    for (size_t k = 0; k < n->id->nidentity; k++)
        if (policy_may_allow(n->id->identity[k].p, NULL, action, r)) return true;
    return false;
}

/* One list of unpacked facts says what the JSON member v says. */
static void same_heads(const struct az_heads *h, const json_t *v, const char *arn)
{
    if (h->present != (v != NULL)) fail_msg("%s: present %d, JSON %d", arn, h->present, v != NULL);
    if (!v) return;
    assert_int_equal(h->any, json_is_string(v));
    if (h->any) {
        assert_string_equal(json_string_value(v), "*");
        return;
    }
    assert_int_equal(h->n, json_array_size(v));
    for (size_t i = 0; i < h->n; i++) assert_string_equal(h->v[i], json_string_value(json_array_get(v, i)));
}

/* facts (az_principal_facts' array), packed and unpacked: each entry found
 * by its ARN and the same; no other; an unknown ARN found as none. */
static void same_facts(const json_t *facts)
{
    json_t *packed = NULL, *x;
    struct az_facts *back = NULL;
    ok(az_facts_pack(facts, &packed));
    ok(az_facts_unpack(packed, &back));
    assert_int_equal(back->n, json_array_size(facts));
    size_t i;
    json_array_foreach(facts, i, x) {
        const char *arn = json_string_value(json_object_get(x, "arn"));
        const struct az_fact *f = az_facts_find(back, arn);
        if (!f) fail_msg("%s: not found", arn);
        assert_string_equal(f->arn, arn);
        assert_int_equal(f->escalate, json_is_true(json_object_get(x, "escalate")));
        same_heads(&f->assume, json_object_get(x, "assume"), arn);
        same_heads(&f->gsv, json_object_get(x, "gsv"), arn);
        same_heads(&f->trust_accounts, json_object_get(x, "trust_accounts"), arn);
    }
    assert_null(az_facts_find(back, "arn:aws:iam::000000000000:user/nobody"));
    assert_null(az_facts_find(back, ""));
    az_facts_free(back);
    json_decref(packed);
}

static void test_facts(void **state)
{
    (void)state;
    static const char *const more[] = {
        DOC(ALLOW("sts:AssumeRole", R("app-*"))),
        DOC(ALLOW("sts:AssumeRole", R("ops")) "," DENY("sts:AssumeRole", R("ops"))),
        DOC("{'Effect':'Allow','NotAction':'iam:*','Resource':'" R("x*") "'}"),
        DOC("{'Effect':'Allow','Action':'sts:Assume*','NotResource':'" R("app-1") "'}"),
        DOC(ALLOW("sts:AssumeRole", "arn:aws:iam::*:role/cross-?")),
        DOC(ALLOW("sts:AssumeRole", R("${aws:username}"))),
        DOC(ALLOW("iam:PutUserPolicy", U("*"))),
        DOC(ALLOW("kms:CreateGrant", "*") "," ALLOW("sts:AssumeRole", R("ops"))),
        DOC(DENY("*", "*")),
        DOC("{'Effect':'Allow','NotAction':'sts:AssumeRole','Resource':'*'}"),
    };
    char name[32], id[32];
    for (size_t i = 0; i < NELEM(POLICIES) + NELEM(more); i++) {
        const char *pol = i < NELEM(POLICIES) ? POLICIES[i] : more[i - NELEM(POLICIES)];
        snprintf(name, sizeof name, "u%zu", i);
        snprintf(id, sizeof id, "AIDAFACTSTEST%07zu", i);
        put_user(ACCT, name, id, pol);
        /* A role with the same policy, in a chain: each trusts the one before. */
        snprintf(name, sizeof name, "app-%zu", i);
        snprintf(id, sizeof id, "AROAFACTSTEST%07zu", i);
        char trust[128];
        snprintf(trust, sizeof trust, "arn:aws:iam::%s:role/app-%zu", ACCT, i ? i - 1 : 0);
        char tdoc[512];
        snprintf(tdoc, sizeof tdoc, "{'Version':'2012-10-17','Statement':[{'Effect':'Allow','Principal':"
                 "{'AWS':'%s'},'Action':'sts:AssumeRole'}]}", trust);
        put_role(ACCT, name, id, tdoc, pol);
    }
    put_user(ACCT, "none", "AIDAFACTSTESTNONE001", NULL);
    const char *accts[] = { ACCT };
    json_t *facts = NULL;
    ok(az_principal_facts(ENV.st, accts, 1, &facts));
    struct az_graph g;
    ok(az_graph_build_opts(&ENV, accts, 1, true, &g));
    const char *assume_to[] = { R("app-1"), R("app-12"), R("ops"), R("x"), R("y"), R("none"),
                                "arn:aws:iam::" ACCT2 ":role/cross-1", R("u3") };
    size_t seen = 0, heads = 0, any = 0, esc = 0;
    for (size_t i = 0; i < g.nn; i++) {
        const struct az_node *n = &g.n[i];
        if (n->kind != AZ_USER && n->kind != AZ_ROLE) continue;
        const json_t *f = NULL, *x;
        size_t j;
        json_array_foreach(facts, j, x)
            if (strcmp(json_string_value(json_object_get(x, "arn")), n->arn) == 0) f = x;
        if (!f) fail_msg("%s: no facts", n->arn);
        seen++;
        const json_t *as = json_object_get(f, "assume"), *gsv = json_object_get(f, "gsv");
        /* Present exactly when the graph's own tests say "may". */
        if ((as != NULL) != n->may_assume) fail_msg("%s: assume %d, graph %d", n->arn, as != NULL, n->may_assume);
        if ((gsv != NULL) != (n->ngsv_pols > 0)) fail_msg("%s: gsv %d, graph %zu", n->arn, gsv != NULL, n->ngsv_pols);
        for (size_t k = 0; k < NELEM(assume_to); k++)
            if (node_may(n, "sts:AssumeRole", assume_to[k]) && !covers(as, assume_to[k]))
                fail_msg("%s may assume %s, which its facts do not cover", n->arn, assume_to[k]);
        for (size_t k = 0; k < NELEM(RESOURCES); k++)
            if (node_may(n, GSV, RESOURCES[k]) && !covers(gsv, RESOURCES[k]))
                fail_msg("%s may read %s, which its facts do not cover", n->arn, RESOURCES[k]);
        bool want = false;
        for (size_t a = 0; AZ_ESCALATION_ACTIONS[a]; a++) want |= node_may(n, AZ_ESCALATION_ACTIONS[a], NULL);
        assert_int_equal(json_is_true(json_object_get(f, "escalate")), want);
        heads += json_is_array(as) + json_is_array(gsv);
        any += json_is_string(as) + json_is_string(gsv);
        esc += want;
    }
    /* Every user and role has facts, and the comparison saw each shape. */
    assert_int_equal(seen, json_array_size(facts));
    assert_int_equal(seen, 2 * (NELEM(POLICIES) + NELEM(more)) + 1);
    assert_true(heads > 4 && any > 4 && esc > 2 && esc < seen);
    /* As a prepared file holds them: packed, and back the same. */
    same_facts(facts);
    json_decref(facts);
    az_graph_free(&g);
}

/* Packing shares prefixes only at character boundaries (each string it
 * writes is UTF-8 of its own), keeps a trust account list's order, and
 * what does not unpack is refused, whole. */
static void test_facts_packed(void **state)
{
    (void)state;
    char text[] = "[{'arn':'arn:aws:iam::1:user/\u00e9a','escalate':true,'gsv':'*',"
                  "'assume':['arn:aws:iam::1:role/\u00e9a','arn:aws:iam::1:role/\u00e8b']},"
                  "{'arn':'arn:aws:iam::1:user/\u00e8b','escalate':false,"
                  "'gsv':['arn:aws:secretsmanager:us-east-1:1:secret:\u00e9']},"
                  "{'arn':'arn:aws:iam::1:role/r','escalate':false,"
                  "'trust_accounts':['222222222222','111111111111']}]";
    for (char *c = text; *c; c++)
        if (*c == '\'') *c = '"';
    json_t *facts = json_loads(text, 0, NULL);
    assert_non_null(facts);
    same_facts(facts);
    json_t *packed = NULL;
    ok(az_facts_pack(facts, &packed));
    /* The second ARN shares "arn:aws:iam::1:user/" and the first byte of
     * neither accented letter (both start with 0xC3). */
    const json_t *p1 = json_array_get(json_object_get(packed, "principals"), 1);
    assert_int_equal(json_integer_value(json_array_get(p1, 0)), strlen("arn:aws:iam::1:user/"));
    static const char *const bad[] = {
        "{'heads':[],'accounts':[],'principals':[[0,'a',0,[0],0,0]]}",        /* no such head */
        "{'heads':[[0,'h']],'accounts':[],'principals':[[0,'a',0,[-1],0,0]]}",
        "{'heads':[[1,'h']],'accounts':[],'principals':[]}",                  /* longer than the one before */
        "{'heads':[],'accounts':[],'principals':[[0,'a',0,0,0]]}",            /* short */
        "{'heads':[],'accounts':[],'principals':[[0,'a',0,0,0,'*']]}",        /* "*" trust accounts */
        "{'heads':[],'accounts':[],'principals':[['0','a',0,0,0,0]]}",
        "{'heads':[],'accounts':[[0,'12345678901x']],'principals':[[0,'a',0,0,0,[0]]]}",  /* not an account */
        "{'heads':[],'accounts':[[0,'1234567890123']],'principals':[[0,'a',0,0,0,[0]]]}",
        "{'heads':[],'accounts':[]}",
        "[]",
    };
    for (size_t i = 0; i < NELEM(bad); i++) {
        char b[256];
        snprintf(b, sizeof b, "%s", bad[i]);
        for (char *c = b; *c; c++)
            if (*c == '\'') *c = '"';
        json_t *doc = json_loads(b, 0, NULL);
        struct az_facts *out = (struct az_facts *)packed;   /* set to NULL on failure */
        assert_non_null(doc);
        assert_int_equal(tr_code(az_facts_unpack(doc, &out)), TR_E_VALIDATION);
        assert_null(out);
        json_decref(doc);
    }
    json_decref(packed);
    json_decref(facts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heads),
        cmocka_unit_test(test_heads_contract),
        cmocka_unit_test(test_mentions_key),
        cmocka_unit_test_setup_teardown(test_gsv_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trust_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_facts, setup, teardown),
        cmocka_unit_test(test_facts_packed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
