/*
 * sts_test.c -- STS (src/iam/sts.c) driven through its query handlers,
 * and session-token authentication (src/auth/creds.c) with requests
 * signed by sigv4_sign.
 *
 * Each test gets a fresh in-memory store, a keyring over fixed bytes and
 * hand-made IAM records (docs/internals/IAM_STORE.md).  Handlers run the
 * way the router runs them: a form decoded by form_parse, OP_WRITE
 * handlers inside a store transaction rolled back on failure, the XML
 * result element written into a buffer.
 *
 * Covered: the operation table; AssumeRole's credentials, assumed-role
 * user, stored session (hash not token, wrapped secret, doc); trust
 * policies naming the user, the account (identity policy needed), a
 * Deny, another account; unknown roles and root callers; ExternalId,
 * session name and request-tag conditions; session policies (inline and
 * ARNs, malformed, packed size); sts:TagSession and sts:SetSourceIdentity;
 * every duration rule; validation wording; role chaining with transitive
 * tags and source identity; GetSessionToken for users and root, durations,
 * refusal from session credentials; MFA parameter shape; then
 * authentication of temporary keys: the token required, compared whole
 * (every character flipped), not accepted with permanent keys, expiry,
 * wrong secret; sessions acting with their policies; iam_maintenance.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/creds.h"
#include "core/json.h"
#include "crypto/hash.h"
#include "crypto/keyring.h"
#include "iam/authz.h"
#include "iam/sts.h"
#include "iam/sts_internal.h"
#include "op/op.h"
#include "op/query_proto.h"
#include "store/store.h"

#define ACCT "111122223333"
#define ACCT2 "444455556666"
#define NOW 1700000000                 /* 2023-11-14T22:13:20Z */
#define AMZ_NOW "20231114T221320Z"
#define ROLE_CHAINING_MSG "The requested DurationSeconds exceeds the 1 hour session limit for roles " \
                          "assumed by role chaining."
#define MAX_SESSION_MSG "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
#define INVALID_TOKEN "The security token included in the request is invalid."

#define QH_SVC (&sts_service)
#define QH_VERSION "2011-06-15"
#define QH_SERVICE "sts"
#include "auth/sigv4_sign.h"
#include "query_harness.h"

/* ---- policy text (single quotes become double quotes) ----------------- */

#define DOC(...) "{'Version':'2012-10-17','Statement':[" __VA_ARGS__ "]}"
#define ALLOW(act, res) "{'Effect':'Allow','Action':'" act "','Resource':'" res "'}"
#define DENY(act, res) "{'Effect':'Deny','Action':'" act "','Resource':'" res "'}"
#define TRUST(principal, actions) "{'Effect':'Allow','Principal':{'AWS':'" principal "'},'Action':" actions "}"
#define TRUST_IF(principal, actions, cond) \
    "{'Effect':'Allow','Principal':{'AWS':'" principal "'},'Action':" actions ",'Condition':" cond "}"

#define USER_ARN(n) "arn:aws:iam::" ACCT ":user/" n
#define ROLE_ARN(n) "arn:aws:iam::" ACCT ":role/" n

/* ---- records ------------------------------------------------------------ */

static void put_entity(const char *kind, const char *acct, const char *name, const char *id,
                       const char *arn, const char *path, const char *doc)
{
    struct ent_rec e = { 0 };
    snprintf(e.kind, sizeof e.kind, "%s", kind);
    snprintf(e.account_id, sizeof e.account_id, "%s", acct);
    e.name = (char *)name;
    e.id = (char *)id;
    e.arn = (char *)arn;
    e.path = (char *)path;
    e.doc = (char *)doc;
    e.created = NOW;
    ok(ENV.st[0]->ent_put(ENV.st, &e));
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

static void put_user(const char *name, const char *id, const char *policy)
{
    char arn[256];
    snprintf(arn, sizeof arn, USER_ARN("%s"), name);
    put_entity("user", ACCT, name, id, arn, "/", "{}");
    if (policy) put_rel("inline", arn, "inline", q(policy));
}

/* A role with the trust policy `trust` (single-quoted JSON) and an
 * optional inline permissions policy. */
static void put_role(const char *acct, const char *name, const char *id, const char *path,
                     const char *trust, int max_session, const char *policy)
{
    char arn[256];
    snprintf(arn, sizeof arn, "arn:aws:iam::%s:role%s%s", acct, path, name);
    json_t *d = json_pack("{s:s, s:s, s:i}", "trust", q(trust), "description", "", "max_session",
                          max_session);
    char *doc = json_dumps(d, JSON_COMPACT);
    put_entity("role", acct, name, id, arn, path, doc);
    free(doc);
    json_decref(d);
    if (policy) put_rel("inline", arn, "inline", q(policy));
}

static void put_managed(const char *arn, const char *id, const char *doc)
{
    put_entity("policy", ACCT, strrchr(arn, '/') + 1, id, arn, "/", "{\"default_version\":\"v1\"}");
    json_t *j = json_pack("{s:s}", "document", q(doc));
    char *s = json_dumps(j, JSON_COMPACT);
    put_rel("version", arn, "v1", s);
    free(s);
    json_decref(j);
}

/* ---- callers -------------------------------------------------------------- */

static void as_root(const char *acct)
{
    qh_as_root(acct);
    snprintf(RC.who.access_key_id, sizeof RC.who.access_key_id, "AKIAROOTROOTROOTROOT");
}

static void as_user(const char *name, const char *id)
{
    as_root(ACCT);
    RC.who.type = PRINCIPAL_USER;
    snprintf(RC.who.arn, sizeof RC.who.arn, USER_ARN("%s"), name);
    snprintf(RC.who.id, sizeof RC.who.id, "%s", id);
    snprintf(RC.who.access_key_id, sizeof RC.who.access_key_id, "AKIAUSERUSERUSERUSER");
}

/* Become the principal an access key authenticates as (no signature:
 * what auth_request would fill in). */
static void as_key(const char *akid)
{
    struct access_key_rec k = { 0 };
    ok(ENV.st[0]->access_key_get(ENV.st, akid, &k));
    reset_identity();
    memset(&RC.who, 0, sizeof RC.who);
    RC.who.type = k.principal_type;
    snprintf(RC.who.account_id, sizeof RC.who.account_id, "%s", k.account_id);
    snprintf(RC.who.arn, sizeof RC.who.arn, "%s", k.principal_arn);
    snprintf(RC.who.id, sizeof RC.who.id, "%s", k.principal_id);
    snprintf(RC.who.access_key_id, sizeof RC.who.access_key_id, "%s", akid);
    json_t *d = json_loads(k.doc, 0, NULL);
    const char *ra = json_string_value(json_object_get(d, "role_arn"));
    snprintf(RC.who.role_arn, sizeof RC.who.role_arn, "%s", ra ? ra : "");
    json_decref(d);
    access_key_rec_free(&k);
}

static int setup(void **state)
{
    static const uint8_t root[32] = "tresor-sts-test-root-key-32byte";
    (void)state;
    if (qh_setup(root, ACCT, NOW, ACCT2)) return -1;
    as_root(ACCT);
    return 0;
}

/* ---- driving the handlers -------------------------------------------------- */

#define PARAMS P

static void denied(const char *caller, const char *action, const char *role, char *out, size_t n)
{
    snprintf(out, n, "User: %s is not authorized to perform: %s on resource: %s", caller, action, role);
}

/* Assume `role` as the current caller; returns the new key id (static). */
static const char *assume(const char *role, const char *session, const char *const *extra)
{
    const char *kv[40] = { "RoleArn", role, "RoleSessionName", session };
    size_t n = 4;
    for (size_t i = 0; extra && extra[i]; i++) kv[n++] = extra[i];
    kv[n] = NULL;
    call_ok("AssumeRole", kv);
    static char akid[32];
    snprintf(akid, sizeof akid, "%s", get("AccessKeyId"));
    return akid;
}

/* ---- the table ------------------------------------------------------------- */

static void test_op_table(void **state)
{
    (void)state;
    assert_int_equal(find_op("AssumeRole")->flags & OP_WRITE, OP_WRITE);
    assert_int_equal(find_op("GetSessionToken")->flags & OP_WRITE, OP_WRITE);
    assert_int_equal(find_op("GetCallerIdentity")->flags & OP_WRITE, 0);
    assert_string_equal(find_op("AssumeRole")->action, "sts:AssumeRole");
    /* GetCallerIdentity needs no permission, but a caller that no longer
     * exists is refused as everywhere else. */
    as_user("alice", "AIDAALICE00000000001");
    call_err("GetCallerIdentity", NULL, TR_E_UNRECOGNIZED_CLIENT,
             "The security token included in the request is invalid.");
    put_user("alice", "AIDAALICE00000000001", NULL);
    call_ok("GetCallerIdentity", NULL);
    assert_string_equal(get("UserId"), "AIDAALICE00000000001");
    assert_string_equal(get("Account"), ACCT);
    assert_string_equal(get("Arn"), USER_ARN("alice"));
}

/* ---- AssumeRole ---------------------------------------------------------------- */

static bool all_in(const char *s, const char *alphabet)
{
    return strspn(s, alphabet) == strlen(s);
}

static void test_assume_role_credentials_and_record(void **state)
{
    (void)state;
    put_user("alice", "AIDAALICE00000000001", NULL);
    put_role(ACCT, "App", "AROAAPP0000000000001", "/svc/tier/", DOC(TRUST(USER_ARN("alice"), "'sts:AssumeRole'")),
             3600, NULL);
    as_user("alice", "AIDAALICE00000000001");
    char akid[32];
    snprintf(akid, sizeof akid, "%s", assume(ROLE_ARN("svc/tier/App"), "web-1", NULL));

    assert_int_equal(strlen(akid), 20);
    assert_memory_equal(akid, "ASIA", 4);
    assert_true(all_in(akid + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"));
    char secret[64], token[512];
    snprintf(secret, sizeof secret, "%s", get("SecretAccessKey"));
    snprintf(token, sizeof token, "%s", get("SessionToken"));
    assert_int_equal(strlen(secret), 40);
    assert_true(strlen(token) >= 200);
    assert_true(all_in(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="));
    assert_string_equal(get("Expiration"), "2023-11-14T23:13:20Z");
    assert_string_equal(get("AssumedRoleId"), "AROAAPP0000000000001:web-1");
    assert_string_equal(get("Arn"), "arn:aws:sts::" ACCT ":assumed-role/App/web-1");   /* no path */
    assert_null(get("PackedPolicySize"));
    assert_null(get("SourceIdentity"));
    /* Order of the members: Credentials, then AssumedRoleUser. */
    assert_true(strstr(XML, "<Credentials>") < strstr(XML, "<AssumedRoleUser>"));

    struct access_key_rec k = { 0 };
    ok(ENV.st[0]->access_key_get(ENV.st, akid, &k));
    assert_int_equal(k.principal_type, PRINCIPAL_ROLE_SESSION);
    assert_string_equal(k.account_id, ACCT);
    assert_string_equal(k.principal_arn, "arn:aws:sts::" ACCT ":assumed-role/App/web-1");
    assert_string_equal(k.principal_id, "AROAAPP0000000000001:web-1");
    assert_true(k.active);
    assert_int_equal(k.created, NOW);
    assert_int_equal(k.expires, NOW + 3600);
    /* The secret, wrapped under the root key with the key's label. */
    char label[64];
    snprintf(label, sizeof label, "access-key:%s", akid);
    struct buf sec = BUF_SECRET(256);
    ok(keyring_unwrap(ENV.kr, label, k.wrapped_secret.data, k.wrapped_secret.len, &sec));
    assert_int_equal(sec.len, 40);
    assert_memory_equal(sec.data, secret, 40);
    buf_free(&sec);
    assert_null(memmem(k.wrapped_secret.data, k.wrapped_secret.len, secret, 40));
    /* The doc: the token's hash, never the token. */
    assert_null(strstr(k.doc, token));
    json_t *d = json_loads(k.doc, 0, NULL);
    assert_non_null(d);
    uint8_t h[32];
    char hex[65];
    ok(sha256(token, strlen(token), h));
    hex_encode(h, sizeof h, hex);
    assert_string_equal(json_string_value(json_object_get(d, "token_sha256")), hex);
    assert_string_equal(json_string_value(json_object_get(d, "role_arn")), ROLE_ARN("svc/tier/App"));
    assert_string_equal(json_string_value(json_object_get(d, "session_name")), "web-1");
    assert_int_equal(json_integer_value(json_object_get(d, "issued")), NOW);
    assert_true(json_is_false(json_object_get(d, "chained")));
    assert_true(json_is_false(json_object_get(d, "mfa")));
    assert_null(json_object_get(d, "policy"));
    assert_null(json_object_get(d, "tags"));
    json_decref(d);
    access_key_rec_free(&k);

    /* Every session gets new credentials. */
    char first_token[512];
    snprintf(first_token, sizeof first_token, "%s", token);
    const char *akid2 = assume(ROLE_ARN("svc/tier/App"), "web-1", NULL);
    assert_string_not_equal(akid2, akid);
    assert_string_not_equal(get("SessionToken"), first_token);
}

static void test_trust_rules(void **state)
{
    (void)state;
    char want[1024];
    put_user("alice", "AIDAALICE00000000001", NULL);
    put_user("bob", "AIDABOB0000000000001", DOC(ALLOW("sts:AssumeRole", ROLE_ARN("ByAccount"))));
    put_role(ACCT, "ByAccount", "AROABYACCT0000000001", "/",
             DOC(TRUST("arn:aws:iam::" ACCT ":root", "'sts:AssumeRole'")), 3600, NULL);
    put_role(ACCT, "Bare", "AROABARE000000000001", "/", DOC(TRUST(ACCT, "'sts:AssumeRole'")), 3600, NULL);
    put_role(ACCT, "Denying", "AROADENY000000000001", "/",
             DOC(TRUST("arn:aws:iam::" ACCT ":root", "'sts:AssumeRole'") ","
                 "{'Effect':'Deny','Principal':{'AWS':'" USER_ARN("bob") "'},'Action':'sts:AssumeRole'}"),
             3600, NULL);

    /* The trust names the account: alice has no identity policy. */
    as_user("alice", "AIDAALICE00000000001");
    denied(USER_ARN("alice"), "sts:AssumeRole", ROLE_ARN("ByAccount"), want, sizeof want);
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("ByAccount"), "RoleSessionName", "ss"),
             TR_E_IAM_ACCESS_DENIED, want);
    as_user("bob", "AIDABOB0000000000001");
    assume(ROLE_ARN("ByAccount"), "ss", NULL);
    /* A bare account id, and an identity policy for another role. */
    denied(USER_ARN("bob"), "sts:AssumeRole", ROLE_ARN("Bare"), want, sizeof want);
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("Bare"), "RoleSessionName", "ss"),
             TR_E_IAM_ACCESS_DENIED, want);
    /* A Deny in the trust policy. */
    denied(USER_ARN("bob"), "sts:AssumeRole", ROLE_ARN("Denying"), want, sizeof want);
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("Denying"), "RoleSessionName", "ss"),
             TR_E_IAM_ACCESS_DENIED, want);

    /* An unknown role: the same denial, nothing revealed. */
    denied(USER_ARN("bob"), "sts:AssumeRole", ROLE_ARN("Nope"), want, sizeof want);
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("Nope"), "RoleSessionName", "ss"),
             TR_E_IAM_ACCESS_DENIED, want);
    /* Not a role ARN at all. */
    call_err("AssumeRole", PARAMS("RoleArn", USER_ARN("alice"), "RoleSessionName", "ss"),
             TR_E_QUERY_VALIDATION, USER_ARN("alice") " is invalid");
    call_err("AssumeRole", PARAMS("RoleArn", "arn:aws:iam::12345:role/x", "RoleSessionName", "s1"),
             TR_E_QUERY_VALIDATION, "arn:aws:iam::12345:role/x is invalid");

    /* The root user may not, whatever the trust says. */
    as_root(ACCT);
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("ByAccount"), "RoleSessionName", "ss"),
             TR_E_IAM_ACCESS_DENIED, "Roles may not be assumed by root accounts.");
}

static void test_cross_account(void **state)
{
    (void)state;
    char want[1024];
    put_user("alice", "AIDAALICE00000000001", NULL);
    put_role(ACCT2, "Ext", "AROAEXT0000000000001", "/", DOC(TRUST(USER_ARN("alice"), "'sts:AssumeRole'")),
             3600, NULL);
    as_user("alice", "AIDAALICE00000000001");
    /* Named directly, but cross-account: an identity policy is needed too. */
    denied(USER_ARN("alice"), "sts:AssumeRole", "arn:aws:iam::" ACCT2 ":role/Ext", want, sizeof want);
    call_err("AssumeRole", PARAMS("RoleArn", "arn:aws:iam::" ACCT2 ":role/Ext", "RoleSessionName", "xx"),
             TR_E_IAM_ACCESS_DENIED, want);
    put_rel("inline", USER_ARN("alice"), "p", q(DOC(ALLOW("sts:AssumeRole", "*"))));
    const char *akid = assume("arn:aws:iam::" ACCT2 ":role/Ext", "xx", NULL);
    assert_string_equal(get("Arn"), "arn:aws:sts::" ACCT2 ":assumed-role/Ext/xx");
    struct access_key_rec k = { 0 };
    ok(ENV.st[0]->access_key_get(ENV.st, akid, &k));
    assert_string_equal(k.account_id, ACCT2);
    access_key_rec_free(&k);
}

static void test_trust_conditions(void **state)
{
    (void)state;
    char want[1024];
    put_user("alice", "AIDAALICE00000000001", NULL);
    put_role(ACCT, "Ext", "AROAEXT0000000000001", "/",
             DOC(TRUST_IF(USER_ARN("alice"), "'sts:AssumeRole'", "{'StringEquals':{'sts:ExternalId':'xid-7f3a'}}")),
             3600, NULL);
    put_role(ACCT, "Named", "AROANAMED00000000001", "/",
             DOC(TRUST_IF(USER_ARN("alice"), "'sts:AssumeRole'",
                          "{'StringLike':{'sts:RoleSessionName':'${aws:username}'}}")), 3600, NULL);
    put_role(ACCT, "Tagged", "AROATAGGED0000000001", "/",
             DOC(TRUST_IF(USER_ARN("alice"), "['sts:AssumeRole','sts:TagSession']",
                          "{'StringEquals':{'aws:RequestTag/team':'blue'},"
                          "'ForAllValues:StringEquals':{'aws:TagKeys':['team']}}")), 3600, NULL);
    as_user("alice", "AIDAALICE00000000001");
    assume(ROLE_ARN("Ext"), "ext", PARAMS("ExternalId", "xid-7f3a"));
    denied(USER_ARN("alice"), "sts:AssumeRole", ROLE_ARN("Ext"), want, sizeof want);
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("Ext"), "RoleSessionName", "ee", "ExternalId", "xid-wrong"),
             TR_E_IAM_ACCESS_DENIED, want);
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("Ext"), "RoleSessionName", "ee"), TR_E_IAM_ACCESS_DENIED, want);

    assume(ROLE_ARN("Named"), "alice", NULL);
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("Named"), "RoleSessionName", "someone"),
             TR_E_IAM_ACCESS_DENIED, NULL);

    assume(ROLE_ARN("Tagged"), "tt", PARAMS("Tags.member.1.Key", "team", "Tags.member.1.Value", "blue"));
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("Tagged"), "RoleSessionName", "tt",
                                  "Tags.member.1.Key", "team", "Tags.member.1.Value", "red"),
             TR_E_IAM_ACCESS_DENIED, NULL);
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("Tagged"), "RoleSessionName", "tt",
                                  "Tags.member.1.Key", "team", "Tags.member.1.Value", "blue",
                                  "Tags.member.2.Key", "cost", "Tags.member.2.Value", "1"),
             TR_E_IAM_ACCESS_DENIED, NULL);
}

static void test_session_policies(void **state)
{
    (void)state;
    put_user("alice", "AIDAALICE00000000001", NULL);
    put_role(ACCT, "App", "AROAAPP0000000000001", "/", DOC(TRUST(USER_ARN("alice"), "'sts:AssumeRole'")), 3600,
             DOC(ALLOW("iam:GetRole", "*") "," ALLOW("iam:ListRoles", "*")));
    put_managed("arn:aws:iam::" ACCT ":policy/OnlyList", "ANPALIST000000000001", DOC(ALLOW("iam:ListRoles", "*")));
    as_user("alice", "AIDAALICE00000000001");

    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("App"), "RoleSessionName", "bad", "Policy", "{not json"),
             TR_E_POLICY_MALFORMED, NULL);
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("App"), "RoleSessionName", "bad", "Policy",
                                  q("{'Version':'2012-10-17','Statement':[{'Effect':'Allow','Principal':'*',"
                                    "'Action':'*','Resource':'*'}]}")),
             TR_E_POLICY_MALFORMED, NULL);

    const char *policy = q(DOC(ALLOW("iam:GetRole", "*")));
    const char *akid = assume(ROLE_ARN("App"), "narrow", PARAMS("Policy", policy));
    const char *pps = get("PackedPolicySize");
    assert_non_null(pps);
    int size = (int)strtol(pps, NULL, 10);
    assert_true(size > 0 && size <= 100);
    struct access_key_rec k = { 0 };
    ok(ENV.st[0]->access_key_get(ENV.st, akid, &k));
    json_t *d = json_loads(k.doc, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(d, "policy")), policy);
    json_decref(d);
    access_key_rec_free(&k);

    /* The session acts with role AND session policies. */
    snprintf(RC.service, sizeof RC.service, "iam");
    as_key(akid);
    struct authz_req ar = { .action = "iam:GetRole", .resource = ROLE_ARN("App"), .resource_account = ACCT };
    ok(iam_authorize(&RC, &ar, NULL));
    ar.action = "iam:ListRoles";
    assert_int_equal(tr_code(iam_authorize(&RC, &ar, NULL)), TR_E_IAM_ACCESS_DENIED);
    assert_non_null(strstr(tr_last_error()->message, "because no session policy allows"));

    /* PolicyArns. */
    snprintf(RC.service, sizeof RC.service, "sts");
    as_user("alice", "AIDAALICE00000000001");
    akid = assume(ROLE_ARN("App"), "arns", PARAMS("PolicyArns.member.1.arn", "arn:aws:iam::" ACCT ":policy/OnlyList"));
    assert_non_null(get("PackedPolicySize"));
    snprintf(RC.service, sizeof RC.service, "iam");
    as_key(akid);
    ar.action = "iam:ListRoles";
    ok(iam_authorize(&RC, &ar, NULL));
    ar.action = "iam:GetRole";
    assert_int_equal(tr_code(iam_authorize(&RC, &ar, NULL)), TR_E_IAM_ACCESS_DENIED);

    /* Too much to pack: ten long ARNs and fifty long tags. */
    snprintf(RC.service, sizeof RC.service, "sts");
    as_user("alice", "AIDAALICE00000000001");
    const char *kv[256] = { "RoleArn", ROLE_ARN("App"), "RoleSessionName", "big" };
    size_t n = 4;
    static char keys[50][48], vals[50][260], arns[10][300], names[60][48];
    for (int i = 0; i < 10; i++) {
        snprintf(names[i], sizeof names[i], "PolicyArns.member.%d.arn", i + 1);
        snprintf(arns[i], sizeof arns[i], "arn:aws:iam::" ACCT ":policy/%0250d", i);
        kv[n++] = names[i];
        kv[n++] = arns[i];
    }
    kv[n] = NULL;
    call_err("AssumeRole", kv, TR_E_STS_PACKED_POLICY_TOO_LARGE, NULL);
    assert_non_null(strstr(tr_last_error()->message, "% of allotted space"));
    n = 4;
    for (int i = 0; i < 50; i++) {
        snprintf(keys[i], sizeof keys[i], "Tags.member.%d.Key", i + 1);
        snprintf(names[10 + i], sizeof names[10 + i], "Tags.member.%d.Value", i + 1);
        snprintf(vals[i], sizeof vals[i], "k%03d", i);
        kv[n++] = keys[i];
        kv[n++] = vals[i];
    }
    static char longv[300];
    memset(longv, 'v', 256);
    for (int i = 0; i < 50; i++) {
        kv[n++] = names[10 + i];
        kv[n++] = longv;
    }
    kv[n] = NULL;
    call_err("AssumeRole", kv, TR_E_STS_PACKED_POLICY_TOO_LARGE, NULL);

    /* Eleven policy ARNs: a validation error. */
    n = 4;
    for (int i = 0; i < 11; i++) {
        snprintf(names[i], sizeof names[i], "PolicyArns.member.%d.arn", i + 1);
        kv[n++] = names[i];
        kv[n++] = "arn:aws:iam::" ACCT ":policy/OnlyList";
    }
    kv[n] = NULL;
    call_err("AssumeRole", kv, TR_E_QUERY_VALIDATION,
             "1 validation error detected: Value at 'policyArns' failed to satisfy constraint: "
             "Member must have length less than or equal to 10");

    /* A tag needs both its Key and its Value (the model's Tag). */
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("App"), "RoleSessionName", "tv",
                                  "Tags.member.1.Key", "team"), TR_E_QUERY_VALIDATION,
             "1 validation error detected: Value null at 'tags.1.member.value' failed to satisfy "
             "constraint: Member must not be null");
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("App"), "RoleSessionName", "tk",
                                  "Tags.member.1.Key", "a", "Tags.member.1.Value", "b",
                                  "Tags.member.2.Value", "blue"), TR_E_QUERY_VALIDATION,
             "1 validation error detected: Value null at 'tags.2.member.key' failed to satisfy "
             "constraint: Member must not be null");
}

static void test_tags_and_source_identity_permissions(void **state)
{
    (void)state;
    char want[1024];
    put_user("alice", "AIDAALICE00000000001", NULL);
    put_role(ACCT, "Plain", "AROAPLAIN00000000001", "/", DOC(TRUST(USER_ARN("alice"), "'sts:AssumeRole'")), 3600,
             NULL);
    put_role(ACCT, "Open", "AROAOPEN000000000001", "/",
             DOC(TRUST(USER_ARN("alice"), "['sts:AssumeRole','sts:TagSession','sts:SetSourceIdentity']")), 3600,
             NULL);
    as_user("alice", "AIDAALICE00000000001");
    denied(USER_ARN("alice"), "sts:TagSession", ROLE_ARN("Plain"), want, sizeof want);
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("Plain"), "RoleSessionName", "tt",
                                  "Tags.member.1.Key", "team", "Tags.member.1.Value", "blue"),
             TR_E_IAM_ACCESS_DENIED, want);
    denied(USER_ARN("alice"), "sts:SetSourceIdentity", ROLE_ARN("Plain"), want, sizeof want);
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("Plain"), "RoleSessionName", "tt", "SourceIdentity", "laptop"),
             TR_E_IAM_ACCESS_DENIED, want);
    assume(ROLE_ARN("Plain"), "tt", NULL);

    const char *akid = assume(ROLE_ARN("Open"), "tt", PARAMS("Tags.member.1.Key", "team", "Tags.member.1.Value", "blue",
                                                             "Tags.member.2.Key", "env", "Tags.member.2.Value", "",
                                                             "TransitiveTagKeys.member.1", "team",
                                                             "SourceIdentity", "alice-laptop"));
    assert_string_equal(get("SourceIdentity"), "alice-laptop");
    assert_non_null(get("PackedPolicySize"));
    struct access_key_rec k = { 0 };
    ok(ENV.st[0]->access_key_get(ENV.st, akid, &k));
    json_t *d = json_loads(k.doc, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "tags"), "team")), "blue");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "tags"), "env")), "");
    assert_string_equal(json_string_value(json_array_get(json_object_get(d, "transitive_tag_keys"), 0)), "team");
    assert_string_equal(json_string_value(json_object_get(d, "source_identity")), "alice-laptop");
    json_decref(d);
    access_key_rec_free(&k);

    /* Duplicate keys, case-insensitively. */
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("Open"), "RoleSessionName", "tt",
                                  "Tags.member.1.Key", "team", "Tags.member.1.Value", "a",
                                  "Tags.member.2.Key", "TEAM", "Tags.member.2.Value", "b"),
             TR_E_QUERY_VALIDATION, "Duplicate tag keys found. Please note that Tag keys are case insensitive.");
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("Open"), "RoleSessionName", "tt",
                                  "Tags.member.1.Key", "bad#key", "Tags.member.1.Value", "a"),
             TR_E_QUERY_VALIDATION, "1 validation error detected: Value 'bad#key' at 'tags.1.member.key' failed to "
             "satisfy constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+");
}

static void test_durations(void **state)
{
    (void)state;
    put_user("alice", "AIDAALICE00000000001", NULL);
    put_role(ACCT, "App", "AROAAPP0000000000001", "/", DOC(TRUST(USER_ARN("alice"), "'sts:AssumeRole'")), 3600,
             NULL);
    put_role(ACCT, "Long", "AROALONG000000000001", "/", DOC(TRUST(USER_ARN("alice"), "'sts:AssumeRole'")), 43200,
             NULL);
    as_user("alice", "AIDAALICE00000000001");
    assume(ROLE_ARN("App"), "dd", PARAMS("DurationSeconds", "900"));
    assert_string_equal(get("Expiration"), "2023-11-14T22:28:20Z");
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("Long"), "RoleSessionName", "dd", "DurationSeconds", "899"),
             TR_E_QUERY_VALIDATION, "1 validation error detected: Value '899' at 'durationSeconds' failed to "
             "satisfy constraint: Member must have value greater than or equal to 900");
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("Long"), "RoleSessionName", "dd", "DurationSeconds", "43201"),
             TR_E_QUERY_VALIDATION, "1 validation error detected: Value '43201' at 'durationSeconds' failed to "
             "satisfy constraint: Member must have value less than or equal to 43200");
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("App"), "RoleSessionName", "dd", "DurationSeconds", "3601"),
             TR_E_QUERY_VALIDATION, MAX_SESSION_MSG);
    assume(ROLE_ARN("Long"), "dd", PARAMS("DurationSeconds", "43200"));
    assert_string_equal(get("Expiration"), "2023-11-15T10:13:20Z");
    /* MaxSessionDuration is not told to a caller who may not assume. */
    put_user("bob", "AIDABOB0000000000001", NULL);
    as_user("bob", "AIDABOB0000000000001");
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("App"), "RoleSessionName", "dd", "DurationSeconds", "7200"),
             TR_E_IAM_ACCESS_DENIED, NULL);
}

static void test_session_name_validation(void **state)
{
    (void)state;
    char x65[66], x64[65], msg[512];
    memset(x65, 'x', 65);
    x65[65] = '\0';
    memset(x64, 's', 64);
    x64[64] = '\0';
    put_user("alice", "AIDAALICE00000000001", NULL);
    put_role(ACCT, "App", "AROAAPP0000000000001", "/", DOC(TRUST(USER_ARN("alice"), "'sts:AssumeRole'")), 3600,
             NULL);
    as_user("alice", "AIDAALICE00000000001");
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("App"), "RoleSessionName", "a"), TR_E_QUERY_VALIDATION,
             "1 validation error detected: Value 'a' at 'roleSessionName' failed to satisfy constraint: "
             "Member must have length greater than or equal to 2");
    snprintf(msg, sizeof msg, "1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy "
             "constraint: Member must have length less than or equal to 64", x65);
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("App"), "RoleSessionName", x65), TR_E_QUERY_VALIDATION, msg);
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("App"), "RoleSessionName", "bad name!"), TR_E_QUERY_VALIDATION,
             "1 validation error detected: Value 'bad name!' at 'roleSessionName' failed to satisfy constraint: "
             "Member must satisfy regular expression pattern: [\\w+=,.@-]*");
    call_err("AssumeRole", PARAMS("RoleSessionName", "ok"), TR_E_QUERY_VALIDATION,
             "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: "
             "Member must not be null");
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("App")), TR_E_QUERY_VALIDATION,
             "1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: "
             "Member must not be null");
    assume(ROLE_ARN("App"), "ab", NULL);
    assume(ROLE_ARN("App"), x64, NULL);
    assume(ROLE_ARN("App"), "a+b=c,d.e@f-g_h", NULL);
    assert_string_equal(get("Arn"), "arn:aws:sts::" ACCT ":assumed-role/App/a+b=c,d.e@f-g_h");
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("App"), "RoleSessionName", "ss", "ExternalId", "bad id"),
             TR_E_QUERY_VALIDATION, NULL);
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("App"), "RoleSessionName", "ss", "SerialNumber", "arn:aws:iam::"
                                  ACCT ":mfa/alice"), TR_E_QUERY_VALIDATION, NULL);
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("App"), "RoleSessionName", "ss", "TokenCode", "12345a"),
             TR_E_QUERY_VALIDATION, NULL);
    assume(ROLE_ARN("App"), "mfa", PARAMS("SerialNumber", "arn:aws:iam::" ACCT ":mfa/alice", "TokenCode", "123456"));
}

static void test_role_chaining(void **state)
{
    (void)state;
    char want[1024];
    put_user("alice", "AIDAALICE00000000001", NULL);
    put_role(ACCT, "First", "AROAFIRST00000000001", "/",
             DOC(TRUST(USER_ARN("alice"), "['sts:AssumeRole','sts:TagSession','sts:SetSourceIdentity']")), 3600, NULL);
    put_role(ACCT, "Second", "AROASECOND0000000001", "/",
             DOC(TRUST(ROLE_ARN("First"), "['sts:AssumeRole','sts:TagSession','sts:SetSourceIdentity']")),
             43200, NULL);
    put_role(ACCT, "NoSource", "AROANOSOURCE00000001", "/",
             DOC(TRUST(ROLE_ARN("First"), "['sts:AssumeRole','sts:TagSession']")), 3600, NULL);
    put_role(ACCT, "NoTags", "AROANOTAGS0000000001", "/",
             DOC(TRUST(ROLE_ARN("First"), "['sts:AssumeRole','sts:SetSourceIdentity']")), 3600, NULL);
    as_user("alice", "AIDAALICE00000000001");
    const char *first = assume(ROLE_ARN("First"), "hop1",
                               PARAMS("Tags.member.1.Key", "team", "Tags.member.1.Value", "blue",
                                      "Tags.member.2.Key", "temp", "Tags.member.2.Value", "x",
                                      "TransitiveTagKeys.member.1", "team", "SourceIdentity", "alice"));
    char akid1[32];
    snprintf(akid1, sizeof akid1, "%s", first);
    as_key(akid1);
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("Second"), "RoleSessionName", "hop2", "DurationSeconds", "3601"),
             TR_E_QUERY_VALIDATION, ROLE_CHAINING_MSG);
    /* A carried transitive tag cannot be set again, in any case; nor can
     * the source identity change (the same one is fine). */
    static const char *const keys[] = { "team", "Team", "TEAM" };
    for (size_t i = 0; i < 3; i++)
        call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("Second"), "RoleSessionName", "hop2",
                                      "Tags.member.1.Key", keys[i], "Tags.member.1.Value", "red"),
                 TR_E_STS_INVALID_PARAMETER_VALUE,
                 "One of the specified transitive tag keys can't be set because it conflicts with a "
                 "transitive tag key from the calling session.");
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("Second"), "RoleSessionName", "hop2",
                                  "SourceIdentity", "mallory"),
             TR_E_QUERY_VALIDATION, "The source identity is already set for this assume role session");
    /* Carrying them is setting them: the trust policy must allow both. */
    denied("arn:aws:sts::" ACCT ":assumed-role/First/hop1", "sts:SetSourceIdentity", ROLE_ARN("NoSource"),
           want, sizeof want);
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("NoSource"), "RoleSessionName", "hop2"),
             TR_E_IAM_ACCESS_DENIED, want);
    denied("arn:aws:sts::" ACCT ":assumed-role/First/hop1", "sts:TagSession", ROLE_ARN("NoTags"),
           want, sizeof want);
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("NoTags"), "RoleSessionName", "hop2"),
             TR_E_IAM_ACCESS_DENIED, want);
    const char *second = assume(ROLE_ARN("Second"), "hop2",
                                PARAMS("Tags.member.1.Key", "colour", "Tags.member.1.Value", "red",
                                       "SourceIdentity", "alice"));
    assert_string_equal(get("Expiration"), "2023-11-14T23:13:20Z");
    assert_string_equal(get("SourceIdentity"), "alice");
    struct access_key_rec k = { 0 };
    ok(ENV.st[0]->access_key_get(ENV.st, second, &k));
    json_t *d = json_loads(k.doc, 0, NULL);
    assert_true(json_is_true(json_object_get(d, "chained")));
    json_t *tags = json_object_get(d, "tags");
    assert_string_equal(json_string_value(json_object_get(tags, "team")), "blue");   /* carried */
    assert_string_equal(json_string_value(json_object_get(tags, "colour")), "red");
    assert_null(json_object_get(tags, "temp"));                                       /* not transitive */
    assert_string_equal(json_string_value(json_object_get(d, "source_identity")), "alice");
    json_decref(d);
    access_key_rec_free(&k);

    /* A role does not trust itself. */
    as_key(akid1);
    denied("arn:aws:sts::" ACCT ":assumed-role/First/hop1", "sts:AssumeRole", ROLE_ARN("First"), want, sizeof want);
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("First"), "RoleSessionName", "again"),
             TR_E_IAM_ACCESS_DENIED, want);
    /* GetSessionToken from session credentials. */
    call_err("GetSessionToken", NULL, TR_E_IAM_ACCESS_DENIED, "Cannot call GetSessionToken with session credentials");
}

/* ---- GetSessionToken --------------------------------------------------------- */

static void test_get_session_token(void **state)
{
    (void)state;
    put_user("alice", "AIDAALICE00000000001", NULL);
    put_role(ACCT, "App", "AROAAPP0000000000001", "/", DOC(TRUST(USER_ARN("alice"), "'sts:AssumeRole'")), 3600,
             NULL);
    as_user("alice", "AIDAALICE00000000001");
    call_ok("GetSessionToken", NULL);
    char akid[32];
    snprintf(akid, sizeof akid, "%s", get("AccessKeyId"));
    assert_memory_equal(akid, "ASIA", 4);
    assert_int_equal(strlen(get("SecretAccessKey")), 40);
    assert_string_equal(get("Expiration"), "2023-11-15T10:13:20Z");          /* 12 hours */
    assert_null(get("AssumedRoleUser"));
    struct access_key_rec k = { 0 };
    ok(ENV.st[0]->access_key_get(ENV.st, akid, &k));
    assert_int_equal(k.principal_type, PRINCIPAL_USER);
    assert_string_equal(k.principal_arn, USER_ARN("alice"));
    assert_string_equal(k.principal_id, "AIDAALICE00000000001");
    assert_int_equal(k.expires, NOW + 43200);
    json_t *d = json_loads(k.doc, 0, NULL);
    assert_int_equal(strlen(json_string_value(json_object_get(d, "token_sha256"))), 64);
    assert_int_equal(json_integer_value(json_object_get(d, "issued")), NOW);
    assert_null(json_object_get(d, "role_arn"));
    json_decref(d);
    access_key_rec_free(&k);

    /* It acts as the user, may assume roles, may not call GetSessionToken. */
    as_key(akid);
    assert_int_equal(RC.who.type, PRINCIPAL_USER);
    assume(ROLE_ARN("App"), "via-gst", NULL);
    assert_string_equal(get("Expiration"), "2023-11-14T23:13:20Z");
    as_key(akid);
    call_err("GetSessionToken", NULL, TR_E_IAM_ACCESS_DENIED, "Cannot call GetSessionToken with session credentials");

    as_user("alice", "AIDAALICE00000000001");
    call_ok("GetSessionToken", PARAMS("DurationSeconds", "900"));
    assert_string_equal(get("Expiration"), "2023-11-14T22:28:20Z");
    call_ok("GetSessionToken", PARAMS("DurationSeconds", "129600"));
    call_err("GetSessionToken", PARAMS("DurationSeconds", "899"), TR_E_QUERY_VALIDATION,
             "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: "
             "Member must have value greater than or equal to 900");
    call_err("GetSessionToken", PARAMS("DurationSeconds", "129601"), TR_E_QUERY_VALIDATION,
             "1 validation error detected: Value '129601' at 'durationSeconds' failed to satisfy constraint: "
             "Member must have value less than or equal to 129600");
    call_err("GetSessionToken", PARAMS("TokenCode", "123456"), TR_E_QUERY_VALIDATION, NULL);

    /* Root: one hour at most, silently. */
    as_root(ACCT);
    call_ok("GetSessionToken", NULL);
    assert_string_equal(get("Expiration"), "2023-11-14T23:13:20Z");
    call_ok("GetSessionToken", PARAMS("DurationSeconds", "7200"));
    assert_string_equal(get("Expiration"), "2023-11-14T23:13:20Z");
    snprintf(akid, sizeof akid, "%s", get("AccessKeyId"));
    ok(ENV.st[0]->access_key_get(ENV.st, akid, &k));
    assert_int_equal(k.principal_type, PRINCIPAL_ROOT);
    assert_string_equal(k.principal_arn, "arn:aws:iam::" ACCT ":root");
    assert_string_equal(k.principal_id, ACCT);
    access_key_rec_free(&k);
    /* A root session still may not assume roles. */
    as_key(akid);
    call_err("AssumeRole", PARAMS("RoleArn", ROLE_ARN("App"), "RoleSessionName", "rr"), TR_E_IAM_ACCESS_DENIED,
             "Roles may not be assumed by root accounts.");
}

/* ---- authenticating temporary credentials ---------------------------------- */

struct signed_req {
    struct sigv4_header h[8];
    size_t nh;
    char auth[1024];
    char host[32], date[32], token[4096], ctype[64];
    struct sigv4_request rq;
};

static const char BODY[] = "Action=GetCallerIdentity&Version=2011-06-15";

/* Sign BODY for sts at amz_date; token NULL: no X-Amz-Security-Token. */
static void sign(struct signed_req *s, const char *akid, const char *secret, const char *token,
                 const char *amz_date)
{
    memset(s, 0, sizeof *s);
    snprintf(s->host, sizeof s->host, "localhost");
    snprintf(s->date, sizeof s->date, "%s", amz_date);
    snprintf(s->ctype, sizeof s->ctype, "application/x-www-form-urlencoded; charset=utf-8");
    s->h[s->nh++] = (struct sigv4_header){ "Content-Type", s->ctype };
    s->h[s->nh++] = (struct sigv4_header){ "Host", s->host };
    s->h[s->nh++] = (struct sigv4_header){ "X-Amz-Date", s->date };
    if (token) {
        snprintf(s->token, sizeof s->token, "%s", token);
        s->h[s->nh++] = (struct sigv4_header){ "X-Amz-Security-Token", s->token };
    }
    s->rq = (struct sigv4_request){ .method = "POST", .path = "/", .query = "", .headers = s->h,
                                    .nheaders = s->nh, .body = (const uint8_t *)BODY,
                                    .body_len = sizeof BODY - 1 };
    ok(sigv4_sign(&s->rq, akid, secret, amz_date, "us-east-1", "sts",
                  token ? "content-type;host;x-amz-date;x-amz-security-token" : "content-type;host;x-amz-date",
                  s->auth, sizeof s->auth));
    s->h[s->nh++] = (struct sigv4_header){ "Authorization", s->auth };
    s->rq.nheaders = s->nh;
}

static enum tr_err authenticate(const char *akid, const char *secret, const char *token, time_t now,
                                struct principal *who)
{
    struct signed_req s;
    struct sigv4_auth a;
    char date[32];
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%Y%m%dT%H%M%SZ", &tm);
    sign(&s, akid, secret, token, date);
    tr_clear_error();
    return tr_code(auth_request(&ENV, &s.rq, "sts", now, who, &a));
}

struct session { char akid[32], secret[64], token[512]; };

static void new_session(struct session *s, const char *role, const char *name)
{
    assume(role, name, NULL);
    snprintf(s->akid, sizeof s->akid, "%s", get("AccessKeyId"));
    snprintf(s->secret, sizeof s->secret, "%s", get("SecretAccessKey"));
    snprintf(s->token, sizeof s->token, "%s", get("SessionToken"));
}

static void test_session_token_authentication(void **state)
{
    (void)state;
    struct principal who;
    struct session s, other;
    put_user("alice", "AIDAALICE00000000001", NULL);
    put_role(ACCT, "App", "AROAAPP0000000000001", "/svc/", DOC(TRUST(USER_ARN("alice"), "'sts:AssumeRole'")), 3600,
             NULL);
    as_user("alice", "AIDAALICE00000000001");
    new_session(&s, ROLE_ARN("svc/App"), "temp");
    new_session(&other, ROLE_ARN("svc/App"), "other");

    assert_int_equal(authenticate(s.akid, s.secret, s.token, NOW, &who), TR_E_OK);
    assert_int_equal(who.type, PRINCIPAL_ROLE_SESSION);
    assert_string_equal(who.arn, "arn:aws:sts::" ACCT ":assumed-role/App/temp");
    assert_string_equal(who.id, "AROAAPP0000000000001:temp");
    assert_string_equal(who.role_arn, ROLE_ARN("svc/App"));
    assert_string_equal(who.access_key_id, s.akid);
    assert_string_equal(who.account_id, ACCT);

    /* No token, an empty one, another session's, a truncated one. */
    assert_int_equal(authenticate(s.akid, s.secret, NULL, NOW, &who), TR_E_UNRECOGNIZED_CLIENT);
    assert_string_equal(tr_last_error()->message, INVALID_TOKEN);
    assert_int_equal(authenticate(s.akid, s.secret, "", NOW, &who), TR_E_UNRECOGNIZED_CLIENT);
    assert_int_equal(authenticate(s.akid, s.secret, other.token, NOW, &who), TR_E_UNRECOGNIZED_CLIENT);
    char bad[sizeof s.token + 8];
    snprintf(bad, sizeof bad, "%.*s", (int)strlen(s.token) - 8, s.token);
    assert_int_equal(authenticate(s.akid, s.secret, bad, NOW, &who), TR_E_UNRECOGNIZED_CLIENT);
    snprintf(bad, sizeof bad, "%sA", s.token);
    assert_int_equal(authenticate(s.akid, s.secret, bad, NOW, &who), TR_E_UNRECOGNIZED_CLIENT);
    /* Every character flipped, one at a time. */
    size_t len = strlen(s.token);
    for (size_t i = 0; i < len; i++) {
        snprintf(bad, sizeof bad, "%s", s.token);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        if (authenticate(s.akid, s.secret, bad, NOW, &who) != TR_E_UNRECOGNIZED_CLIENT)
            fail_msg("token with position %zu changed was accepted", i);
    }
    /* The wrong secret with the right token: a signature mismatch. */
    assert_int_equal(authenticate(s.akid, "x123456789x123456789x123456789x123456789", s.token, NOW, &who),
                     TR_E_INVALID_SIGNATURE);
    /* Expired: at the expiry instant and after. */
    assert_int_equal(authenticate(s.akid, s.secret, s.token, NOW + 3599, &who), TR_E_OK);
    assert_int_equal(authenticate(s.akid, s.secret, s.token, NOW + 3600, &who), TR_E_EXPIRED_TOKEN);
    assert_string_equal(tr_last_error()->message, "The security token included in the request is expired");

    /* A token with a permanent key is refused. */
    static const char perm_secret[] = "permanentSECRETpermanentSECRETpermanent0";
    struct access_key_rec k = { 0 };
    snprintf(k.access_key_id, sizeof k.access_key_id, "AKIAPERMANENT0000001");
    snprintf(k.account_id, sizeof k.account_id, ACCT);
    k.principal_type = PRINCIPAL_USER;
    k.principal_arn = (char *)USER_ARN("alice");
    k.principal_id = (char *)"AIDAALICE00000000001";
    k.active = true;
    k.created = NOW;
    k.doc = (char *)"{\"user_name\":\"alice\"}";
    k.wrapped_secret = BUF_INIT(512);
    ok(keyring_wrap(ENV.kr, "access-key:AKIAPERMANENT0000001", (const uint8_t *)perm_secret, 40, &k.wrapped_secret));
    ok(ENV.st[0]->access_key_put(ENV.st, &k));
    buf_free(&k.wrapped_secret);
    assert_int_equal(authenticate("AKIAPERMANENT0000001", perm_secret, NULL, NOW, &who), TR_E_OK);
    assert_string_equal(who.role_arn, "");
    assert_string_equal(who.access_key_id, "AKIAPERMANENT0000001");
    assert_int_equal(authenticate("AKIAPERMANENT0000001", perm_secret, s.token, NOW, &who), TR_E_UNRECOGNIZED_CLIENT);

    /* A GetSessionToken session authenticates as the user. */
    call_ok("GetSessionToken", NULL);
    struct session g;
    snprintf(g.akid, sizeof g.akid, "%s", get("AccessKeyId"));
    snprintf(g.secret, sizeof g.secret, "%s", get("SecretAccessKey"));
    snprintf(g.token, sizeof g.token, "%s", get("SessionToken"));
    assert_int_equal(authenticate(g.akid, g.secret, g.token, NOW, &who), TR_E_OK);
    assert_int_equal(who.type, PRINCIPAL_USER);
    assert_string_equal(who.arn, USER_ARN("alice"));
    assert_string_equal(who.id, "AIDAALICE00000000001");
    assert_string_equal(who.role_arn, "");
    assert_int_equal(authenticate(g.akid, g.secret, NULL, NOW, &who), TR_E_UNRECOGNIZED_CLIENT);
}

static void test_maintenance(void **state)
{
    (void)state;
    put_user("alice", "AIDAALICE00000000001", NULL);
    put_role(ACCT, "App", "AROAAPP0000000000001", "/", DOC(TRUST(USER_ARN("alice"), "'sts:AssumeRole'")), 3600,
             NULL);
    as_user("alice", "AIDAALICE00000000001");
    char short_key[32], long_key[32];
    snprintf(short_key, sizeof short_key, "%s", assume(ROLE_ARN("App"), "short", PARAMS("DurationSeconds", "900")));
    snprintf(long_key, sizeof long_key, "%s", assume(ROLE_ARN("App"), "long", NULL));
    struct access_key_rec k = { 0 };
    /* Expired, but within the grace period: kept (ExpiredToken, not invalid). */
    ok(iam_maintenance(&ENV, NOW + 900 + STS_EXPIRED_GRACE - 1));
    ok(ENV.st[0]->access_key_get(ENV.st, short_key, &k));
    access_key_rec_free(&k);
    ok(iam_maintenance(&ENV, NOW + 901 + STS_EXPIRED_GRACE));
    assert_int_equal(tr_code(ENV.st[0]->access_key_get(ENV.st, short_key, &k)), TR_E_STORE_NOT_FOUND);
    ok(ENV.st[0]->access_key_get(ENV.st, long_key, &k));
    access_key_rec_free(&k);
}

/* The source identity pattern AssumeRole's parameter and the web identity
 * token's source_identity claim share. */
static void test_source_identity_pattern(void **state)
{
    (void)state;
    assert_true(sts_source_identity_ok("al"));
    assert_true(sts_source_identity_ok("alice+ops=1,x.y@z-w_q"));
    char s65[66];
    memset(s65, 'a', 65);
    s65[65] = '\0';
    assert_false(sts_source_identity_ok(s65));
    s65[64] = '\0';
    assert_true(sts_source_identity_ok(s65));
    assert_false(sts_source_identity_ok(""));
    assert_false(sts_source_identity_ok("a"));
    assert_false(sts_source_identity_ok("aws:alice"));
    assert_false(sts_source_identity_ok("has space"));
    assert_false(sts_source_identity_ok("caf\xc3\xa9"));
    assert_false(sts_source_identity_ok("a/b"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_op_table, setup, teardown),
        cmocka_unit_test(test_source_identity_pattern),
        cmocka_unit_test_setup_teardown(test_assume_role_credentials_and_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trust_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cross_account, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trust_conditions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_policies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags_and_source_identity_permissions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_name_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_chaining, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_session_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_token_authentication, setup, teardown),
        cmocka_unit_test_setup_teardown(test_maintenance, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
