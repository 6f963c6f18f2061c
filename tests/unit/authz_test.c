/*
 * authz_test.c -- request authorization (src/iam/identity.c, context.c,
 * authz.c, principals.c): the identity
 * side loaded from hand-made IAM records (docs/internals/IAM_STORE.md),
 * the request context of global condition keys (docs/AUTHORIZATION.md 1.2), the
 * decision and AWS's AccessDenied messages.
 *
 * Each test gets a fresh in-memory store.  Covered: a user's inline,
 * attached managed and group policies (only default versions), paging of
 * many inline policies, permissions boundaries (present, missing), tags
 * as aws:PrincipalTag, role sessions with session policies (inline and
 * ARNs) and session tags that win over role tags, root, GetSessionToken
 * sessions, deleted users and roles (unrecognized credentials), every
 * global key and when it is absent (aws:username, aws:SourceIp on
 * service calls, temporary-credential keys), extra keys overriding global
 * ones, the error code per service, no_fail, identity caching, trust
 * policies in RES_REQUIRED mode, iam_principal_from_arn and
 * iam_principal_exists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/cache.h"
#include "crypto/hash.h"
#include "iam/authz.h"
#include "iam/principals.h"
#include "op/op.h"
#include "store/store.h"
#include "test_text.h"

#define ACCT "111122223333"
#define ACCT2 "444455556666"
#define NOW 1700000000
#define ARN(kind, rest) "arn:aws:iam::" ACCT ":" kind "/" rest
#define USER_ALICE ARN("user", "dev/alice")
#define ROLE_APP ARN("role", "svc/App")
#define SESS_APP "arn:aws:sts::" ACCT ":assumed-role/App/s1"

static store_t ST;
static struct req_ctx RC;

#define ALLOW(act, res) "{'Effect':'Allow','Action':'" act "','Resource':'" res "'}"
#define DENY(act, res) "{'Effect':'Deny','Action':'" act "','Resource':'" res "'}"
#define DOC(...) "{'Version':'2012-10-17','Statement':[" __VA_ARGS__ "]}"

/* ---- records ----------------------------------------------------------- */

static void put_entity(const char *kind, const char *name, const char *id, const char *arn,
                       const char *path, const char *doc)
{
    struct ent_rec e = { 0 };
    snprintf(e.kind, sizeof e.kind, "%s", kind);
    snprintf(e.account_id, sizeof e.account_id, "%.12s", arn + 13);
    e.name = (char *)name;
    e.id = (char *)id;
    e.arn = (char *)arn;
    e.path = (char *)path;
    e.doc = (char *)(doc ? q(doc) : "{}");
    e.created = NOW;
    ok(ST[0]->ent_put(ST, &e));
}

static void put_rel(const char *kind, const char *from, const char *to, const char *doc)
{
    struct rel_rec r = { 0 };
    snprintf(r.kind, sizeof r.kind, "%s", kind);
    r.from = (char *)from;
    r.to = (char *)to;
    r.doc = (char *)(doc ? doc : "");
    r.created = NOW;
    ok(ST[0]->rel_put(ST, &r));
}

static void put_inline(const char *entity, const char *name, const char *doc)
{
    put_rel("inline", entity, name, q(doc));
}

/* A managed policy with versions v1 (default_version) and v2. */
static void put_managed(const char *arn, const char *id, const char *default_version,
                        const char *v1, const char *v2)
{
    char doc[128];
    snprintf(doc, sizeof doc, "{'default_version':'%s','next_version':3}", default_version);
    const char *name = strrchr(arn, '/') + 1;
    put_entity("policy", name, id, arn, "/", doc);
    json_t *j = json_pack("{s:s}", "document", q(v1));
    char *s = json_dumps(j, JSON_COMPACT);
    put_rel("version", arn, "v1", s);
    free(s);
    json_decref(j);
    if (v2) {
        j = json_pack("{s:s}", "document", q(v2));
        s = json_dumps(j, JSON_COMPACT);
        put_rel("version", arn, "v2", s);
        free(s);
        json_decref(j);
    }
}

static void put_key(const char *akid, int type, const char *arn, const char *id, const char *doc)
{
    static const uint8_t wrapped[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    struct access_key_rec k = { 0 };
    snprintf(k.access_key_id, sizeof k.access_key_id, "%s", akid);
    snprintf(k.account_id, sizeof k.account_id, ACCT);
    k.principal_type = type;
    k.principal_arn = (char *)arn;
    k.principal_id = (char *)id;
    k.active = true;
    k.created = NOW;
    k.expires = strncmp(akid, "ASIA", 4) == 0 ? NOW + 3600 : 0;
    k.wrapped_secret = buf_view(wrapped, sizeof wrapped);
    k.doc = doc ? q(doc) : NULL;
    ok(ST[0]->access_key_put(ST, &k));
}

/* ---- callers -------------------------------------------------------------- */

static void as_root(const char *acct)
{
    iam_identity_free(RC.identity);
    free(RC.identity);
    RC.identity = NULL;
    memset(&RC.who, 0, sizeof RC.who);
    RC.who.type = PRINCIPAL_ROOT;
    snprintf(RC.who.account_id, sizeof RC.who.account_id, "%s", acct);
    snprintf(RC.who.arn, sizeof RC.who.arn, "arn:aws:iam::%s:root", acct);
    snprintf(RC.who.id, sizeof RC.who.id, "%s", acct);
    snprintf(RC.who.access_key_id, sizeof RC.who.access_key_id, "AKIAROOTROOTROOTROOT");
}

static void as_user(const char *arn, const char *id, const char *akid)
{
    as_root(ACCT);
    RC.who.type = PRINCIPAL_USER;
    snprintf(RC.who.arn, sizeof RC.who.arn, "%s", arn);
    snprintf(RC.who.id, sizeof RC.who.id, "%s", id);
    snprintf(RC.who.access_key_id, sizeof RC.who.access_key_id, "%s", akid ? akid : "AKIAUSERUSERUSERUSER");
}

static void as_session(const char *arn, const char *role_arn, const char *id, const char *akid)
{
    as_root(ACCT);
    RC.who.type = PRINCIPAL_ROLE_SESSION;
    snprintf(RC.who.arn, sizeof RC.who.arn, "%s", arn);
    snprintf(RC.who.role_arn, sizeof RC.who.role_arn, "%s", role_arn);
    snprintf(RC.who.id, sizeof RC.who.id, "%s", id);
    snprintf(RC.who.access_key_id, sizeof RC.who.access_key_id, "%s", akid ? akid : "");
}

static int setup(void **state)
{
    (void)state;
    if (tr_failed(crypto_init())) return -1;
    if (tr_failed(store_sqlite_open_memory(&ST))) return -1;
    memset(&RC, 0, sizeof RC);
    RC.st = ST;
    RC.now = NOW;
    RC.source_ip = "192.0.2.10";
    snprintf(RC.region, sizeof RC.region, "us-east-1");
    snprintf(RC.service, sizeof RC.service, "iam");
    struct account_rec a = { .id = ACCT, .created = NOW };
    if (tr_failed(ST[0]->account_put(ST, &a))) return -1;
    struct account_rec b = { .id = ACCT2, .created = NOW };
    if (tr_failed(ST[0]->account_put(ST, &b))) return -1;
    as_root(ACCT);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    iam_identity_free(RC.identity);
    free(RC.identity);
    RC.identity = NULL;
    ST[0]->close(ST);
    ST = NULL;
    policy_cache_clear();
    crypto_thread_cleanup();
    return 0;
}

/* Authorize `action` on `resource` (no resource policy); the result code. */
static enum tr_err authz(const char *action, const char *resource)
{
    struct authz_req ar = { .action = action, .resource = resource, .resource_account = ACCT };
    tr_clear_error();
    return tr_code(iam_authorize(&RC, &ar, NULL));
}

static void expect_denied(const char *action, const char *resource, const char *tail)
{
    enum tr_err code = authz(action, resource);
    assert_int_equal(code, strcmp(RC.service, "iam") == 0 || strcmp(RC.service, "sts") == 0
                           ? TR_E_IAM_ACCESS_DENIED : TR_E_ACCESS_DENIED);
    char want[1024];
    snprintf(want, sizeof want, "User: %s is not authorized to perform: %s on resource: %s %s",
             RC.who.arn, action, resource, tail);
    assert_string_equal(tr_last_error()->message, want);
}

/* The standard cast: alice (user, path /dev/) in group devs. */
static void make_alice(void)
{
    put_entity("user", "alice", "AIDAALICE00000000001", USER_ALICE, "/dev/", NULL);
    put_inline(USER_ALICE, "own", DOC(ALLOW("iam:GetUser", "*")));
    put_managed(ARN("policy", "ListUsers"), "ANPALIST000000000001", "v2",
                DOC(ALLOW("iam:ListRoles", "*")), DOC(ALLOW("iam:ListUsers", "*")));
    put_rel("attached", USER_ALICE, ARN("policy", "ListUsers"), NULL);
    put_entity("group", "devs", "AGPADEVS000000000001", ARN("group", "devs"), "/", NULL);
    put_rel("member", ARN("group", "devs"), USER_ALICE, NULL);
    put_inline(ARN("group", "devs"), "grp", DOC(ALLOW("iam:ListGroups", "*") "," DENY("iam:DeleteUser", "*")));
    put_managed(ARN("policy", "Roles"), "ANPAROLES00000000001", "v1", DOC(ALLOW("iam:GetRole", "*")), NULL);
    put_rel("attached", ARN("group", "devs"), ARN("policy", "Roles"), NULL);
    as_user(USER_ALICE, "AIDAALICE00000000001", NULL);
}

/* ---- the identity side ------------------------------------------------------ */

static void test_user_policies(void **state)
{
    (void)state;
    make_alice();
    struct identity id;
    ok(iam_identity_load(ST, &RC.who, &id));
    assert_false(id.root);
    assert_string_equal(id.username, "alice");
    assert_int_equal(id.nidentity, 4);
    assert_string_equal(id.identity[0].name, "inline:" USER_ALICE ":own");
    assert_string_equal(id.identity[1].name, ARN("policy", "ListUsers"));
    assert_string_equal(id.identity[2].name, "inline:" ARN("group", "devs") ":grp");
    assert_string_equal(id.identity[3].name, ARN("policy", "Roles"));
    for (size_t i = 0; i < id.nidentity; i++) assert_non_null(id.identity[i].p);
    assert_false(id.has_boundary);
    assert_int_equal(id.nsession, 0);
    assert_false(id.session_present);
    assert_int_equal(id.token_issued, 0);
    iam_identity_free(&id);

    assert_int_equal(authz("iam:GetUser", USER_ALICE), TR_E_OK);
    assert_int_equal(authz("iam:ListUsers", ARN("user", "")), TR_E_OK);      /* default v2 */
    assert_int_equal(authz("iam:ListGroups", ARN("group", "")), TR_E_OK);    /* group inline */
    assert_int_equal(authz("iam:GetRole", ROLE_APP), TR_E_OK);               /* group managed */
    expect_denied("iam:ListRoles", ARN("role", ""),                          /* v1 is not default */
                  "because no identity-based policy allows the iam:ListRoles action");
    expect_denied("iam:DeleteUser", USER_ALICE, "with an explicit deny in an identity-based policy");
}

static void test_many_inline_policies_page(void **state)
{
    (void)state;
    put_entity("user", "many", "AIDAMANY000000000001", ARN("user", "many"), "/", NULL);
    for (int i = 0; i < 300; i++) {
        char name[32], doc[256];
        snprintf(name, sizeof name, "p%03d", i);
        snprintf(doc, sizeof doc, DOC(ALLOW("iam:GetUser", "arn:aws:iam::" ACCT ":user/u%03d")), i);
        put_inline(ARN("user", "many"), name, doc);
    }
    as_user(ARN("user", "many"), "AIDAMANY000000000001", NULL);
    assert_int_equal(authz("iam:GetUser", ARN("user", "u299")), TR_E_OK);
    assert_int_equal(RC.identity->nidentity, 300);
    assert_string_equal(RC.identity->identity[299].name, "inline:" ARN("user", "many") ":p299");
    assert_int_equal(authz("iam:GetUser", ARN("user", "u300")), TR_E_IAM_ACCESS_DENIED);
}

static void test_boundary(void **state)
{
    (void)state;
    put_managed(ARN("policy", "Bound"), "ANPABOUND00000000001", "v1",
                DOC(ALLOW("iam:List*", "*") "," DENY("iam:ListPolicies", "*")), NULL);
    put_entity("user", "b", "AIDABBBB000000000001", ARN("user", "b"), "/",
               "{'boundary':'" ARN("policy", "Bound") "'}");
    put_inline(ARN("user", "b"), "all", DOC(ALLOW("iam:*", "*")));
    as_user(ARN("user", "b"), "AIDABBBB000000000001", NULL);
    assert_int_equal(authz("iam:ListUsers", ARN("user", "")), TR_E_OK);
    assert_true(RC.identity->has_boundary);
    assert_string_equal(RC.identity->boundary.name, ARN("policy", "Bound"));
    expect_denied("iam:CreateUser", ARN("user", "x"),
                  "because no permissions boundary allows the iam:CreateUser action");
    expect_denied("iam:ListPolicies", ARN("policy", ""), "with an explicit deny in a permissions boundary");

    /* A boundary whose policy is gone allows nothing (fails closed). */
    put_entity("user", "c", "AIDACCCC000000000001", ARN("user", "c"), "/",
               "{'boundary':'" ARN("policy", "Gone") "'}");
    put_inline(ARN("user", "c"), "all", DOC(ALLOW("iam:*", "*")));
    as_user(ARN("user", "c"), "AIDACCCC000000000001", NULL);
    expect_denied("iam:ListUsers", ARN("user", ""),
                  "because no permissions boundary allows the iam:ListUsers action");
    assert_true(RC.identity->has_boundary);
    assert_null(RC.identity->boundary.p);
}

static void test_missing_attached_policy_is_skipped(void **state)
{
    (void)state;
    make_alice();
    put_rel("attached", USER_ALICE, ARN("policy", "Deleted"), NULL);
    assert_int_equal(authz("iam:GetUser", USER_ALICE), TR_E_OK);
    assert_int_equal(RC.identity->nidentity, 4);
}

static void test_principal_tags(void **state)
{
    (void)state;
    put_entity("user", "t", "AIDATTTT000000000001", ARN("user", "t"), "/", NULL);
    ok(ST[0]->tag_set(ST, ARN("user", "t"), "team", "blue"));
    put_inline(ARN("user", "t"), "tagged", DOC(
        "{'Effect':'Allow','Action':'iam:ListUsers','Resource':'*',"
        "'Condition':{'StringEquals':{'aws:PrincipalTag/team':'blue'}}},"
        "{'Effect':'Allow','Action':'iam:GetUser','Resource':'arn:aws:iam::*:user/${aws:PrincipalTag/team}'}"));
    as_user(ARN("user", "t"), "AIDATTTT000000000001", NULL);
    assert_int_equal(authz("iam:ListUsers", ARN("user", "")), TR_E_OK);
    assert_int_equal(authz("iam:GetUser", ARN("user", "blue")), TR_E_OK);
    assert_int_equal(authz("iam:GetUser", ARN("user", "red")), TR_E_IAM_ACCESS_DENIED);
    ok(ST[0]->tag_set(ST, ARN("user", "t"), "team", "red"));
    as_user(ARN("user", "t"), "AIDATTTT000000000001", NULL);     /* reload */
    assert_int_equal(authz("iam:ListUsers", ARN("user", "")), TR_E_IAM_ACCESS_DENIED);
}

static void make_role(void)
{
    put_entity("role", "App", "AROAAPP0000000000001", ROLE_APP, "/svc/",
               "{'trust':'{}','max_session':3600}");
    put_inline(ROLE_APP, "perm", DOC(ALLOW("iam:Get*", "*") "," ALLOW("iam:List*", "*")));
    ok(ST[0]->tag_set(ST, ROLE_APP, "team", "blue"));
    ok(ST[0]->tag_set(ST, ROLE_APP, "env", "prod"));
}

static void test_role_session(void **state)
{
    (void)state;
    make_role();
    put_managed(ARN("policy", "OnlyUsers"), "ANPAONLY000000000001", "v1",
                DOC(ALLOW("iam:ListUsers", "*")), NULL);
    put_key("ASIASESSIONAPP000001", PRINCIPAL_ROLE_SESSION, SESS_APP, "AROAAPP0000000000001:s1",
            "{'token_sha256':'00','role_arn':'" ROLE_APP "','session_name':'s1','issued':1699999000,"
            "'chained':false,'mfa':false,"
            "'policy':'{\\'Version\\':\\'2012-10-17\\',\\'Statement\\':[{\\'Effect\\':\\'Allow\\',"
            "\\'Action\\':\\'iam:GetRole\\',\\'Resource\\':\\'*\\'}]}',"
            "'policy_arns':['" ARN("policy", "OnlyUsers") "'],'tags':{'team':'red','cost':'42'}}");
    as_session(SESS_APP, ROLE_APP, "AROAAPP0000000000001:s1", "ASIASESSIONAPP000001");
    struct identity id;
    ok(iam_identity_load(ST, &RC.who, &id));
    assert_int_equal(id.nidentity, 1);
    assert_string_equal(id.identity[0].name, "inline:" ROLE_APP ":perm");
    assert_true(id.session_present);
    assert_int_equal(id.nsession, 2);
    assert_string_equal(id.session[0].name, "session-policy");
    assert_string_equal(id.session[1].name, ARN("policy", "OnlyUsers"));
    assert_int_equal(id.token_issued, 1699999000);
    assert_null(id.username);
    /* Role tags (ordered by key), then session tags: team is replaced. */
    assert_int_equal(id.ntags, 3);
    assert_string_equal(id.tag_keys[0], "env");
    assert_string_equal(id.tag_values[0], "prod");
    assert_string_equal(id.tag_keys[1], "team");
    assert_string_equal(id.tag_values[1], "red");
    assert_string_equal(id.tag_keys[2], "cost");
    iam_identity_free(&id);

    assert_int_equal(authz("iam:GetRole", ROLE_APP), TR_E_OK);          /* role + session inline */
    assert_int_equal(authz("iam:ListUsers", ARN("user", "")), TR_E_OK);  /* role + session ARN */
    expect_denied("iam:ListRoles", ARN("role", ""),
                  "because no session policy allows the iam:ListRoles action");
    expect_denied("iam:CreateRole", ARN("role", "x"),
                  "because no identity-based policy allows the iam:CreateRole action");

    /* No session policies: the role's policies alone. */
    put_key("ASIASESSIONAPP000002", PRINCIPAL_ROLE_SESSION, SESS_APP, "AROAAPP0000000000001:s1",
            "{'token_sha256':'00','role_arn':'" ROLE_APP "','session_name':'s1','issued':1699999000}");
    as_session(SESS_APP, ROLE_APP, "AROAAPP0000000000001:s1", "ASIASESSIONAPP000002");
    assert_int_equal(authz("iam:ListRoles", ARN("role", "")), TR_E_OK);
    assert_false(RC.identity->session_present);
    assert_int_equal(RC.identity->ntags, 2);
}

static void test_session_policy_arn_gone_allows_nothing(void **state)
{
    (void)state;
    make_role();
    put_key("ASIASESSIONAPP000003", PRINCIPAL_ROLE_SESSION, SESS_APP, "AROAAPP0000000000001:s1",
            "{'token_sha256':'00','role_arn':'" ROLE_APP "','issued':1699999000,"
            "'policy_arns':['" ARN("policy", "Gone") "']}");
    as_session(SESS_APP, ROLE_APP, "AROAAPP0000000000001:s1", "ASIASESSIONAPP000003");
    expect_denied("iam:ListRoles", ARN("role", ""), "because no session policy allows the iam:ListRoles action");
}

/* The identity cache (caches on, as in `tresor serve`): a request holds a
 * reference to the identity it shares with the cache, so the cache may
 * drop its entry meanwhile; an identity a caller made and loaded itself
 * (policy simulate) is freed by iam_identity_release as before. */
static void test_identity_cache_references(void **state)
{
    (void)state;
    make_alice();
    cache_enable(true);
    ST[0]->refresh(ST);
    assert_int_equal(authz("iam:GetUser", USER_ALICE), TR_E_OK);
    struct identity *first = RC.identity;
    iam_identity_release(&RC);
    as_user(USER_ALICE, "AIDAALICE00000000001", NULL);
    assert_int_equal(authz("iam:GetUser", USER_ALICE), TR_E_OK);
    assert_ptr_equal(RC.identity, first);                   /* shared with the cache */
    struct req_ctx held = RC;                               /* alice's request goes on */
    RC.identity = NULL;
    /* A write moves the generation; the next request (the root's) finds
     * alice's entry stale and takes its place. */
    put_inline(USER_ALICE, "later", DOC(ALLOW("iam:ListUsers", "*")));
    as_root(ACCT);
    assert_int_equal(authz("iam:GetUser", USER_ALICE), TR_E_OK);
    iam_identity_release(&RC);
    assert_string_equal(held.identity->username, "alice"); /* still the request's */
    iam_identity_release(&held);
    /* Made and loaded by the caller: released whole. */
    as_user(USER_ALICE, "AIDAALICE00000000001", NULL);
    RC.identity = calloc(1, sizeof *RC.identity);
    assert_non_null(RC.identity);
    ok(iam_identity_load(ST, &RC.who, RC.identity));
    RC.identity_borrowed = false;
    assert_int_equal(authz("iam:ListUsers", ARN("user", "")), TR_E_OK);
    iam_identity_release(&RC);
    assert_null(RC.identity);
    cache_thread_release();
    cache_enable(false);
}

static void test_root(void **state)
{
    (void)state;
    as_root(ACCT);
    struct identity id;
    ok(iam_identity_load(ST, &RC.who, &id));
    assert_true(id.root);
    assert_int_equal(id.nidentity, 0);
    assert_null(id.username);
    iam_identity_free(&id);
    assert_int_equal(authz("iam:CreateUser", ARN("user", "x")), TR_E_OK);
    /* Its identity side does not reach another account's resources. */
    struct authz_req ar = { .action = "iam:GetUser", .resource = "arn:aws:iam::" ACCT2 ":user/x",
                            .resource_account = ACCT2 };
    assert_int_equal(tr_code(iam_authorize(&RC, &ar, NULL)), TR_E_IAM_ACCESS_DENIED);
}

static void test_get_session_token_sessions(void **state)
{
    (void)state;
    make_alice();
    put_key("ASIAGSTALICE00000001", PRINCIPAL_USER, USER_ALICE, "AIDAALICE00000000001",
            "{'token_sha256':'00','issued':1699998000,'mfa':false}");
    as_user(USER_ALICE, "AIDAALICE00000000001", "ASIAGSTALICE00000001");
    assert_int_equal(authz("iam:GetUser", USER_ALICE), TR_E_OK);
    assert_int_equal(RC.identity->token_issued, 1699998000);
    assert_int_equal(RC.identity->nidentity, 4);
    assert_false(RC.identity->session_present);
    struct ctx_builder cb;
    ok(iam_ctx_init(&cb, &RC, RC.identity));
    bool found = false;
    for (size_t i = 0; i < cb.n; i++)
        if (strcmp(cb.e[i].key, "aws:TokenIssueTime") == 0) {
            assert_string_equal(cb.e[i].values[0], "2023-11-14T21:40:00Z");
            found = true;
        }
    assert_true(found);
    iam_ctx_free(&cb);

    /* A root session. */
    put_key("ASIAGSTROOT000000001", PRINCIPAL_ROOT, "arn:aws:iam::" ACCT ":root", ACCT,
            "{'token_sha256':'00','issued':1699998000}");
    as_root(ACCT);
    snprintf(RC.who.access_key_id, sizeof RC.who.access_key_id, "ASIAGSTROOT000000001");
    assert_int_equal(authz("iam:CreateUser", ARN("user", "x")), TR_E_OK);
    assert_true(RC.identity->root);
    assert_int_equal(RC.identity->token_issued, 1699998000);
}

static void test_gone_principals_are_unrecognized(void **state)
{
    (void)state;
    as_user(ARN("user", "ghost"), "AIDAGHOST00000000001", NULL);
    assert_int_equal(authz("iam:GetUser", "*"), TR_E_UNRECOGNIZED_CLIENT);
    assert_string_equal(tr_last_error()->message, "The security token included in the request is invalid.");
    assert_null(RC.identity);

    make_role();
    as_session("arn:aws:sts::" ACCT ":assumed-role/Gone/s", ARN("role", "Gone"), "AROAGONE:s", NULL);
    assert_int_equal(authz("iam:GetUser", "*"), TR_E_UNRECOGNIZED_CLIENT);
    as_session(SESS_APP, "", "AROAAPP0000000000001:s1", NULL);
    assert_int_equal(authz("iam:GetUser", "*"), TR_E_UNRECOGNIZED_CLIENT);
    /* A session whose access key has been purged. */
    as_session(SESS_APP, ROLE_APP, "AROAAPP0000000000001:s1", "ASIAPURGED0000000001");
    assert_int_equal(authz("iam:GetUser", "*"), TR_E_UNRECOGNIZED_CLIENT);

    /* A user deleted mid-flight: its identity, once loaded, serves the
     * rest of the request. */
    make_alice();
    assert_int_equal(authz("iam:GetUser", USER_ALICE), TR_E_OK);
    ok(ST[0]->ent_delete(ST, "user", USER_ALICE));
    assert_int_equal(authz("iam:GetUser", USER_ALICE), TR_E_OK);
    as_user(USER_ALICE, "AIDAALICE00000000001", NULL);
    assert_int_equal(authz("iam:GetUser", USER_ALICE), TR_E_UNRECOGNIZED_CLIENT);
}

/* ---- the request context -------------------------------------------------- */

static const struct ctx_entry *find(const struct ctx_builder *cb, const char *key)
{
    for (size_t i = 0; i < cb->n; i++)
        if (strcasecmp(cb->e[i].key, key) == 0) return &cb->e[i];
    return NULL;
}

static void expect_key(const struct ctx_builder *cb, const char *key, const char *value)
{
    const struct ctx_entry *e = find(cb, key);
    if (!e) fail_msg("context key %s missing", key);
    assert_int_equal(e->n, 1);
    assert_false(e->multi);
    assert_string_equal(e->values[0], value);
}

/* A resource's tags: each under both prefixes, in order, "" for a NULL
 * value; no tags add nothing. */
static void test_ctx_resource_tags(void **state)
{
    (void)state;
    struct tag_rec tags[] = { { .key = "team", .value = "blue" }, { .key = "Cost", .value = NULL } };
    struct ctx_builder *cb = calloc(1, sizeof *cb);
    assert_non_null(cb);
    iam_ctx_reset(cb);
    ok(iam_ctx_add_resource_tags(cb, tags, 0, "aws:ResourceTag/", "iam:ResourceTag/"));
    assert_int_equal(cb->n, 0);
    ok(iam_ctx_add_resource_tags(cb, tags, 2, "secretsmanager:ResourceTag/", "aws:ResourceTag/"));
    assert_int_equal(cb->n, 4);
    assert_string_equal(cb->e[0].key, "secretsmanager:ResourceTag/team");
    assert_string_equal(cb->e[1].key, "aws:ResourceTag/team");
    assert_string_equal(cb->e[2].key, "secretsmanager:ResourceTag/Cost");
    assert_string_equal(cb->e[3].key, "aws:ResourceTag/Cost");
    expect_key(cb, "aws:ResourceTag/team", "blue");
    expect_key(cb, "secretsmanager:ResourceTag/Cost", "");
    expect_key(cb, "aws:ResourceTag/Cost", "");
    iam_ctx_free(cb);
    free(cb);
}

static void test_context_keys(void **state)
{
    (void)state;
    struct ctx_builder cb;
    make_alice();
    ok(ST[0]->tag_set(ST, USER_ALICE, "Dept", "eng"));
    assert_int_equal(authz("iam:GetUser", USER_ALICE), TR_E_OK);
    ok(iam_ctx_init(&cb, &RC, RC.identity));
    expect_key(&cb, "aws:PrincipalArn", USER_ALICE);
    expect_key(&cb, "aws:PrincipalAccount", ACCT);
    expect_key(&cb, "aws:userid", "AIDAALICE00000000001");
    expect_key(&cb, "aws:username", "alice");
    expect_key(&cb, "aws:PrincipalType", "User");
    expect_key(&cb, "aws:PrincipalTag/Dept", "eng");
    expect_key(&cb, "aws:SourceIp", "192.0.2.10");
    expect_key(&cb, "aws:SecureTransport", "false");
    expect_key(&cb, "aws:CurrentTime", "2023-11-14T22:13:20Z");
    expect_key(&cb, "aws:EpochTime", "1700000000");
    expect_key(&cb, "aws:RequestedRegion", "us-east-1");
    expect_key(&cb, "aws:ViaAWSService", "false");
    expect_key(&cb, "aws:PrincipalIsAWSService", "false");
    expect_key(&cb, "aws:UserAgent", "");           /* no User-Agent header */
    assert_null(find(&cb, "aws:referer"));
    assert_null(find(&cb, "aws:TokenIssueTime"));
    assert_null(find(&cb, "aws:MultiFactorAuthPresent"));
    assert_null(find(&cb, "aws:MultiFactorAuthAge"));
    assert_null(find(&cb, "aws:CalledVia"));
    /* Every global key is "aws:" (ctx_slot looks for a service key among
     * the later keys only), and a service key added later is found. */
    assert_int_equal(cb.nglobal, cb.n);
    for (size_t i = 0; i < cb.n; i++) assert_int_equal(strncmp(cb.e[i].key, "aws:", 4), 0);
    ok(iam_ctx_add(&cb, "kms:CallerAccount", "1"));
    ok(iam_ctx_add(&cb, "KMS:calleraccount", "2"));
    ok(iam_ctx_add(&cb, "AWS:sourceip", "198.51.100.1"));
    expect_key(&cb, "kms:CallerAccount", "2");
    expect_key(&cb, "aws:SourceIp", "198.51.100.1");
    assert_int_equal(cb.n, cb.nglobal + 1);
    iam_ctx_free(&cb);

    /* The client's headers. */
    RC.user_agent = "Boto3/1.26.27 Python/3.11.2";
    RC.referer = "https://console.example/";
    ok(iam_ctx_init(&cb, &RC, RC.identity));
    expect_key(&cb, "aws:UserAgent", "Boto3/1.26.27 Python/3.11.2");
    expect_key(&cb, "aws:referer", "https://console.example/");
    iam_ctx_free(&cb);

    /* Service-to-service: no aws:SourceIp, aws:ViaAWSService true, the
     * service as the user agent, no referer, and aws:MultiFactorAuthPresent
     * false even for long-term credentials (AWS calls with temporary ones);
     * aws:CalledVia is not set for Secrets Manager. */
    RC.via_service = "secretsmanager.us-east-1.amazonaws.com";
    ok(iam_ctx_init(&cb, &RC, RC.identity));
    assert_null(find(&cb, "aws:SourceIp"));
    expect_key(&cb, "aws:ViaAWSService", "true");
    expect_key(&cb, "aws:UserAgent", "secretsmanager.amazonaws.com");
    assert_null(find(&cb, "aws:referer"));
    expect_key(&cb, "aws:MultiFactorAuthPresent", "false");
    assert_null(find(&cb, "aws:TokenIssueTime"));
    assert_null(find(&cb, "aws:CalledVia"));
    assert_null(find(&cb, "aws:CalledViaFirst"));
    iam_ctx_free(&cb);
    RC.via_service = NULL;
    RC.user_agent = RC.referer = NULL;

    /* A role session: the role ARN, AssumedRole, no username, the
     * temporary-credential keys. */
    make_role();
    put_key("ASIASESSIONAPP000009", PRINCIPAL_ROLE_SESSION, SESS_APP, "AROAAPP0000000000001:s1",
            "{'token_sha256':'00','role_arn':'" ROLE_APP "','issued':1699999000,'mfa':false}");
    as_session(SESS_APP, ROLE_APP, "AROAAPP0000000000001:s1", "ASIASESSIONAPP000009");
    assert_int_equal(authz("iam:GetRole", ROLE_APP), TR_E_OK);
    ok(iam_ctx_init(&cb, &RC, RC.identity));
    expect_key(&cb, "aws:PrincipalArn", ROLE_APP);
    expect_key(&cb, "aws:userid", "AROAAPP0000000000001:s1");
    expect_key(&cb, "aws:PrincipalType", "AssumedRole");
    assert_null(find(&cb, "aws:username"));
    expect_key(&cb, "aws:PrincipalTag/team", "blue");
    expect_key(&cb, "aws:TokenIssueTime", "2023-11-14T21:56:40Z");
    expect_key(&cb, "aws:MultiFactorAuthPresent", "false");
    assert_null(find(&cb, "aws:FederatedProvider"));     /* an AssumeRole session */
    iam_ctx_free(&cb);

    /* A session of AssumeRoleWithWebIdentity: aws:FederatedProvider is the
     * provider's ARN recorded on the session. */
    put_key("ASIASESSIONWEB000009", PRINCIPAL_ROLE_SESSION, SESS_APP, "AROAAPP0000000000001:s1",
            "{'token_sha256':'00','role_arn':'" ROLE_APP "','issued':1699999000,'mfa':false,"
            "'web_identity':{'provider':'arn:aws:iam::" ACCT ":oidc-provider/token.example','sub':'x',"
            "'aud':'y'}}");
    as_session(SESS_APP, ROLE_APP, "AROAAPP0000000000001:s1", "ASIASESSIONWEB000009");
    assert_int_equal(authz("iam:GetRole", ROLE_APP), TR_E_OK);
    ok(iam_ctx_init(&cb, &RC, RC.identity));
    expect_key(&cb, "aws:FederatedProvider", "arn:aws:iam::" ACCT ":oidc-provider/token.example");
    expect_key(&cb, "aws:userid", "AROAAPP0000000000001:s1");
    expect_key(&cb, "aws:PrincipalType", "AssumedRole");
    iam_ctx_free(&cb);

    as_root(ACCT);
    assert_int_equal(authz("iam:GetRole", ROLE_APP), TR_E_OK);
    ok(iam_ctx_init(&cb, &RC, RC.identity));
    expect_key(&cb, "aws:PrincipalType", "Account");
    expect_key(&cb, "aws:PrincipalArn", "arn:aws:iam::" ACCT ":root");
    expect_key(&cb, "aws:userid", ACCT);
    assert_null(find(&cb, "aws:username"));
    iam_ctx_free(&cb);
}

static void test_context_builder(void **state)
{
    (void)state;
    struct ctx_builder cb;
    memset(&cb, 0, sizeof cb);                 /* a zeroed builder works too */
    ok(iam_ctx_add(&cb, "kms:ViaService", "x"));
    ok(iam_ctx_add(&cb, "KMS:viaservice", "y"));   /* replaces, case-insensitively */
    assert_int_equal(cb.n, 1);
    assert_string_equal(cb.e[0].values[0], "y");
    const char *keys[] = { "a", "b", "c" };
    ok(iam_ctx_add_multi(&cb, "kms:EncryptionContextKeys", keys, 3));
    ok(iam_ctx_add_multi(&cb, "aws:TagKeys", NULL, 0));
    assert_int_equal(cb.n, 3);
    assert_true(cb.e[1].multi);
    assert_int_equal(cb.e[1].n, 3);
    assert_string_equal(cb.e[1].values[2], "c");
    assert_int_equal(cb.e[2].n, 0);
    /* Full: an error, never an overflow. */
    tr_result r = TR_OK;
    for (int i = 0; i < CTX_MAX + 4 && tr_ok(r); i++) {
        char k[32];
        snprintf(k, sizeof k, "k:%d", i);
        r = iam_ctx_add(&cb, k, "v");
    }
    assert_true(tr_failed(r));
    assert_int_equal(cb.n, CTX_MAX);
    iam_ctx_free(&cb);

    /* Large values land in new chunks: earlier pointers stay valid.  Past
     * the arena's limit (256 KiB): a validation error. */
    size_t big_len = 300000;
    char *big = malloc(big_len);
    assert_non_null(big);
    memset(big, 'x', big_len - 1);
    big[big_len - 1] = '\0';
    memset(&cb, 0, sizeof cb);
    ok(iam_ctx_add(&cb, "small", "v"));
    big[70000] = '\0';
    ok(iam_ctx_add(&cb, "mid", big));
    assert_int_equal(strlen(cb.e[1].values[0]), 70000);
    big[70000] = 'x';
    tr_result rb = iam_ctx_add(&cb, "big", big);
    assert_int_equal(tr_code(rb), TR_E_VALIDATION);
    assert_string_equal(cb.e[0].values[0], "v");
    iam_ctx_free(&cb);
    free(big);
}

static void test_extra_keys(void **state)
{
    (void)state;
    make_alice();
    put_inline(USER_ALICE, "cond", DOC(
        "{'Effect':'Allow','Action':'iam:CreateUser','Resource':'*',"
        "'Condition':{'StringEquals':{'iam:Special':'yes','aws:SourceIp':'10.0.0.1'}}}"));
    const char *yes[] = { "yes" }, *ip[] = { "10.0.0.1" };
    struct ctx_entry extra[] = {
        { .key = "iam:Special", .values = yes, .n = 1 },
        { .key = "aws:sourceip", .values = ip, .n = 1 },     /* overrides the global key */
    };
    struct authz_req ar = { .action = "iam:CreateUser", .resource = ARN("user", "x"),
                            .resource_account = ACCT, .extra = extra, .nextra = 1 };
    assert_int_equal(tr_code(iam_authorize(&RC, &ar, NULL)), TR_E_IAM_ACCESS_DENIED);
    ar.nextra = 2;
    ok(iam_authorize(&RC, &ar, NULL));
}

/* The observation hook: every decision, with its complete context. */
static struct {
    int calls;
    char action[64], resource[128];
    bool resource_account, principal_is_service;
    size_t nkeys;
} seen;

static void observe(const struct req_ctx *rc, const struct authz_req *ar,
                    const struct ctx_entry *ctx, size_t n)
{
    (void)rc;
    seen.calls++;
    snprintf(seen.action, sizeof seen.action, "%s", ar->action);
    snprintf(seen.resource, sizeof seen.resource, "%s", ar->resource);
    seen.nkeys = n;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ctx[i].key, "aws:ResourceAccount") == 0 && strcmp(ctx[i].values[0], ACCT2) == 0)
            seen.resource_account = true;
        if (strcmp(ctx[i].key, "aws:PrincipalIsAWSService") == 0)
            seen.principal_is_service = true;
    }
}

static void test_observer_sees_every_decision(void **state)
{
    (void)state;
    make_alice();
    memset(&seen, 0, sizeof seen);
    iam_authz_observe(observe);
    const char *yes[] = { "yes" };
    struct ctx_entry extra = { .key = "iam:Special", .values = yes, .n = 1 };
    /* aws:ResourceAccount is the resource's account, not the caller's. */
    struct authz_req ar = { .action = "iam:GetUser", .resource = "arn:aws:iam::" ACCT2 ":user/x",
                            .resource_account = ACCT2, .extra = &extra, .nextra = 1 };
    assert_int_equal(tr_code(iam_authorize(&RC, &ar, NULL)), TR_E_IAM_ACCESS_DENIED);
    assert_int_equal(authz("iam:GetUser", USER_ALICE), TR_E_OK);
    iam_authz_observe(NULL);
    assert_int_equal(authz("iam:GetUser", USER_ALICE), TR_E_OK);   /* unobserved */
    assert_int_equal(seen.calls, 2);
    assert_string_equal(seen.action, "iam:GetUser");
    assert_string_equal(seen.resource, USER_ALICE);
    assert_true(seen.resource_account);
    assert_true(seen.principal_is_service);
}

/* The thread's reused context builder (authz.c): a decision made while
 * another is in progress on the same thread (here from the observer) gets
 * a builder of its own and leaves the outer one's context intact; an
 * authz_req's extra keys are used by reference (iam_ctx_add_entry_ref),
 * not copied; decisions after that still see only their own keys. */
static int nested_depth, nested_inner_code;
static const char *nested_key_ptr;
static size_t nested_outer_n, nested_outer_n_after;

static void observe_nested(const struct req_ctx *rc, const struct authz_req *ar,
                           const struct ctx_entry *ctx, size_t n)
{
    (void)rc;
    if (nested_depth++ == 0) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(ctx[i].key, "iam:Special") == 0) nested_key_ptr = ctx[i].values[0];
        nested_outer_n = n;
        struct authz_req inner = { .action = "iam:GetUser", .resource = USER_ALICE,
                                   .resource_account = ACCT };
        nested_inner_code = tr_code(iam_authorize(&RC, &inner, NULL));
        /* the outer context, untouched by the inner decision */
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (strcmp(ctx[i].key, "iam:Special") == 0 && strcmp(ctx[i].values[0], "yes") == 0) k++;
        nested_outer_n_after = k;
    }
    (void)ar;
}

static void test_reused_builder(void **state)
{
    (void)state;
    make_alice();
    put_inline(USER_ALICE, "cond", DOC(
        "{'Effect':'Allow','Action':'iam:CreateUser','Resource':'*',"
        "'Condition':{'StringEquals':{'iam:Special':'yes'}}}"));
    const char *yes[] = { "yes" };
    struct ctx_entry extra = { .key = "iam:Special", .values = yes, .n = 1 };
    struct authz_req ar = { .action = "iam:CreateUser", .resource = ARN("user", "x"),
                            .resource_account = ACCT, .extra = &extra, .nextra = 1 };
    nested_depth = 0;
    nested_key_ptr = NULL;
    iam_authz_observe(observe_nested);
    ok(iam_authorize(&RC, &ar, NULL));
    iam_authz_observe(NULL);
    assert_int_equal(nested_depth, 2);                  /* the inner decision was observed too */
    assert_int_equal(nested_inner_code, TR_E_OK);       /* alice may GetUser herself */
    assert_int_equal(nested_outer_n_after, 1);
    assert_ptr_equal(nested_key_ptr, yes[0]);           /* by reference, not a copy */
    assert_true(nested_outer_n > 1);
    /* The next decisions on this thread reuse the builder: the extra key
     * of the first is gone, so the condition no longer holds. */
    ar.nextra = 0;
    for (int i = 0; i < 3; i++)
        assert_int_equal(tr_code(iam_authorize(&RC, &ar, NULL)), TR_E_IAM_ACCESS_DENIED);
    ar.nextra = 1;
    ok(iam_authorize(&RC, &ar, NULL));
}

static void test_denial_codes_and_no_fail(void **state)
{
    (void)state;
    make_alice();
    snprintf(RC.service, sizeof RC.service, "kms");
    expect_denied("kms:Decrypt", "arn:aws:kms:us-east-1:" ACCT ":key/k",
                  "because no identity-based policy allows the kms:Decrypt action");
    snprintf(RC.service, sizeof RC.service, "secretsmanager");
    assert_int_equal(authz("secretsmanager:GetSecretValue", "s"), TR_E_ACCESS_DENIED);
    snprintf(RC.service, sizeof RC.service, "sts");
    assert_int_equal(authz("sts:AssumeRole", ROLE_APP), TR_E_IAM_ACCESS_DENIED);

    /* resource_as_given names the resource as the caller wrote it. */
    snprintf(RC.service, sizeof RC.service, "secretsmanager");
    struct authz_req ar = { .action = "secretsmanager:GetSecretValue",
                            .resource = "arn:aws:secretsmanager:us-east-1:" ACCT ":secret:db-AbCdEf",
                            .resource_as_given = "db", .resource_account = ACCT };
    assert_int_equal(tr_code(iam_authorize(&RC, &ar, NULL)), TR_E_ACCESS_DENIED);
    assert_string_equal(tr_last_error()->message,
                        "User: " USER_ALICE " is not authorized to perform: secretsmanager:GetSecretValue "
                        "on resource: db because no identity-based policy allows the "
                        "secretsmanager:GetSecretValue action");

    struct eval_result res;
    ar.no_fail = true;
    ok(iam_authorize(&RC, &ar, &res));
    assert_int_equal(res.decision, DECISION_IMPLICIT_DENY);
    ar.action = "iam:GetUser";
    ar.resource = USER_ALICE;
    ok(iam_authorize(&RC, &ar, &res));
    assert_int_equal(res.decision, DECISION_ALLOW);
    assert_int_equal(res.nrefs, 1);
    assert_string_equal(res.refs[0].policy->name, "inline:" USER_ALICE ":own");
}

static void test_trust_policy_required(void **state)
{
    (void)state;
    make_alice();
    struct policy *trust = NULL;
    const char *text = q("{'Version':'2012-10-17','Statement':[{'Effect':'Allow',"
                         "'Principal':{'AWS':'arn:aws:iam::" ACCT ":root'},'Action':'sts:AssumeRole'}]}");
    ok(policy_cache_get(text, strlen(text), POLICY_TRUST, &trust));
    struct named_policy np = { trust, "trust:" ROLE_APP };
    snprintf(RC.service, sizeof RC.service, "sts");
    struct authz_req ar = { .action = "sts:AssumeRole", .resource = ROLE_APP, .resource_account = ACCT,
                            .resource_policy = &np, .mode = RES_REQUIRED };
    /* The trust names the account: alice also needs an identity allow. */
    assert_int_equal(tr_code(iam_authorize(&RC, &ar, NULL)), TR_E_IAM_ACCESS_DENIED);
    put_inline(USER_ALICE, "assume", DOC(ALLOW("sts:AssumeRole", ROLE_APP)));
    as_user(USER_ALICE, "AIDAALICE00000000001", NULL);
    ok(iam_authorize(&RC, &ar, NULL));
    policy_unref(trust);

    /* Naming alice directly needs no identity policy. */
    text = q("{'Version':'2012-10-17','Statement':[{'Effect':'Allow',"
             "'Principal':{'AWS':'" ARN("user", "dev/bob") "'},'Action':'sts:AssumeRole'}]}");
    ok(policy_cache_get(text, strlen(text), POLICY_TRUST, &trust));
    np.p = trust;
    put_entity("user", "bob", "AIDABOB0000000000001", ARN("user", "dev/bob"), "/dev/", NULL);
    as_user(ARN("user", "dev/bob"), "AIDABOB0000000000001", NULL);
    ok(iam_authorize(&RC, &ar, NULL));
    policy_unref(trust);
}

/* ---- principals by ARN ------------------------------------------------------ */

static void test_principal_from_arn(void **state)
{
    (void)state;
    struct principal p;
    make_alice();
    make_role();
    ok(iam_principal_from_arn(ST, "arn:aws:iam::" ACCT ":root", &p));
    assert_int_equal(p.type, PRINCIPAL_ROOT);
    assert_string_equal(p.id, ACCT);
    assert_string_equal(p.account_id, ACCT);

    ok(iam_principal_from_arn(ST, USER_ALICE, &p));
    assert_int_equal(p.type, PRINCIPAL_USER);
    assert_string_equal(p.arn, USER_ALICE);
    assert_string_equal(p.id, "AIDAALICE00000000001");

    ok(iam_principal_from_arn(ST, ROLE_APP, &p));
    assert_int_equal(p.type, PRINCIPAL_ROLE_SESSION);
    assert_string_equal(p.arn, "arn:aws:sts::" ACCT ":assumed-role/App/simulated");
    assert_string_equal(p.id, "AROAAPP0000000000001:simulated");
    assert_string_equal(p.role_arn, ROLE_APP);
    /* The synthetic session loads the role's policies. */
    struct identity id;
    ok(iam_identity_load(ST, &p, &id));
    assert_int_equal(id.nidentity, 1);
    assert_false(id.session_present);
    iam_identity_free(&id);

    ok(iam_principal_from_arn(ST, SESS_APP, &p));
    assert_string_equal(p.arn, SESS_APP);
    assert_string_equal(p.id, "AROAAPP0000000000001:s1");
    assert_string_equal(p.role_arn, ROLE_APP);

    static const char *const bad[] = {
        "arn:aws:iam::999999999999:root", ARN("user", "nobody"), ARN("role", "Nope"),
        "arn:aws:sts::" ACCT ":assumed-role/Nope/s", "arn:aws:iam::" ACCT ":group/devs",
        "not an arn", "", ACCT, "arn:aws:iam::" ACCT ":user/",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tr_result r = iam_principal_from_arn(ST, bad[i], &p);
        assert_int_equal(tr_code(r), TR_E_IAM_NO_SUCH_ENTITY);
        assert_non_null(strstr(tr_last_error()->message, bad[i]));
    }
}

static void test_principal_exists(void **state)
{
    (void)state;
    make_alice();
    make_role();
    static const struct { const char *arn; bool exists; } cases[] = {
        { "arn:aws:iam::" ACCT ":root", true },
        { "arn:aws:iam::" ACCT2 ":root", true },
        { ACCT2, true },
        { "999999999999", false },
        { "arn:aws:iam::999999999999:root", false },
        { USER_ALICE, true },
        { ARN("user", "alice"), false },            /* the path is part of the ARN */
        { ROLE_APP, true },
        { ARN("role", "App"), false },
        { SESS_APP, true },
        { "arn:aws:sts::" ACCT ":assumed-role/Nope/s1", false },
        { ARN("group", "devs"), false },
        { "*", false },
        { "arn:aws:iam::" ACCT ":root/x", false },
        { "AIDAALICE00000000001", true },
        { "AROAAPP0000000000001", true },
        { "AIDAGONE000000000001", false },
        { "AROAAPP0000000000009", false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool e = !cases[i].exists;
        ok(iam_principal_exists(ST, cases[i].arn, &e));
        if (e != cases[i].exists) fail_msg("%s: expected %d", cases[i].arn, cases[i].exists);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_user_policies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_inline_policies_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_boundary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_attached_policy_is_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_principal_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_policy_arn_gone_allows_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_cache_references, setup, teardown),
        cmocka_unit_test_setup_teardown(test_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_session_token_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gone_principals_are_unrecognized, setup, teardown),
        cmocka_unit_test_setup_teardown(test_context_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_context_builder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extra_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reused_builder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_observer_sees_every_decision, setup, teardown),
        cmocka_unit_test_setup_teardown(test_denial_codes_and_no_fail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trust_policy_required, setup, teardown),
        cmocka_unit_test_setup_teardown(test_principal_from_arn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_principal_exists, setup, teardown),
        cmocka_unit_test(test_ctx_resource_tags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
