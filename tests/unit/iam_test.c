/*
 * iam_test.c -- the IAM operations (src/iam/users.c ... account_details.c)
 * driven through their query handlers against an in-memory store, with
 * the real authorization (src/iam/authz.c).
 *
 * Each test gets a fresh store holding accounts A and B, a keyring over
 * fixed bytes, and runs as A's root user unless it says otherwise.
 * Handlers run the way router.c runs them: a form decoded by form_parse,
 * OP_WRITE handlers inside a store transaction rolled back on failure, the
 * result element's XML written into a buffer that the tests search.
 *
 * Covered: the operation table; every operation's reply shape and the
 * records it leaves (docs/internals/IAM_STORE.md); AWS's validation,
 * NoSuchEntity, EntityAlreadyExists, DeleteConflict and LimitExceeded
 * messages; paging; renames moving everything keyed by the user ARN;
 * access keys wrapped under the root key; URL-encoded documents; tags;
 * GetAccountAuthorizationDetails; and authorization of IAM calls --
 * denials and their messages, resources of listings, iam:PolicyARN,
 * iam:PermissionsBoundary, aws:RequestTag, aws:TagKeys, aws:ResourceTag,
 * both ARNs of a rename, account isolation, rollback of a failed write.
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

#include "auth/sigv4.h"
#include "crypto/hash.h"
#include "crypto/keyring.h"
#include "iam/authz.h"
#include "iam/iam_ops.h"
#include "iam/iam_util.h"
#include "op/op.h"
#include "op/query_proto.h"
#include "store/store.h"

#define A "111122223333"
#define B "444455556666"
#define NOW 1700000000                  /* 2023-11-14T22:13:20Z */
#define NOW_ISO "2023-11-14T22:13:20Z"
#define ARN(kind, rest) "arn:aws:iam::" A ":" kind "/" rest
#define BASE32 "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

#define QH_SVC (&iam_service)
#define QH_VERSION "2010-05-08"
#define QH_SERVICE "iam"
#include "query_harness.h"

static void as_root(const char *acct)
{
    qh_as_root(acct);
}

/* ---- policy text (single quotes become double quotes) ------------------ */

#define DOC(...) q("{'Version':'2012-10-17','Statement':[" __VA_ARGS__ "]}")
#define ALLOW(act, res) "{'Effect':'Allow','Action':'" act "','Resource':'" res "'}"
#define ALLOW_IF(act, res, cond) \
    "{'Effect':'Allow','Action':'" act "','Resource':'" res "','Condition':" cond "}"
#define DENY(act, res) "{'Effect':'Deny','Action':'" act "','Resource':'" res "'}"
#define TRUST(p) DOC("{'Effect':'Allow','Principal':{'AWS':'" p "'},'Action':'sts:AssumeRole'}")
#define SIMPLE DOC(ALLOW("kms:DescribeKey", "*"))

/* ---- callers --------------------------------------------------------------- */

/* Act as an existing user of account A. */
static void as_user(const char *name)
{
    struct ent_rec e = { 0 };
    ok(ENV.st[0]->ent_get(ENV.st, "user", A, name, &e));
    as_root(A);
    RC.who.type = PRINCIPAL_USER;
    snprintf(RC.who.arn, sizeof RC.who.arn, "%s", e.arn);
    snprintf(RC.who.id, sizeof RC.who.id, "%s", e.id);
    ent_rec_free(&e);
}

/* A role session (who is not a user). */
static void as_session(const char *role, const char *role_id)
{
    as_root(A);
    RC.who.type = PRINCIPAL_ROLE_SESSION;
    snprintf(RC.who.arn, sizeof RC.who.arn, "arn:aws:sts::" A ":assumed-role/%s/s1", role);
    snprintf(RC.who.id, sizeof RC.who.id, "%s:s1", role_id);
    snprintf(RC.who.role_arn, sizeof RC.who.role_arn, ARN("role", "%s"), role);
}

static int setup(void **state)
{
    static const uint8_t root[32] = "tresor-iam-test-root-key-32byte";
    (void)state;
    return qh_setup(root, A, NOW - 100, B);
}

/* ---- driving the handlers -------------------------------------------------- */

static size_t count(const char *fragment)
{
    size_t n = 0;
    for (const char *p = XML; (p = strstr(p, fragment)) != NULL; p += strlen(fragment)) n++;
    return n;
}

/* Percent-decode (what botocore does to policy documents). */
static const char *url_decode(const char *s)
{
    static char out[16384];
    size_t n = 0;
    for (; *s && n + 1 < sizeof out; s++) {
        if (*s == '%' && s[1] && s[2]) {
            char h[3] = { s[1], s[2], 0 };
            out[n++] = (char)strtol(h, NULL, 16);
            s += 2;
        } else {
            out[n++] = *s;
        }
    }
    out[n] = '\0';
    return out;
}

static void denied_msg(char *out, size_t n, const char *who, const char *action, const char *res)
{
    snprintf(out, n, "User: %s is not authorized to perform: %s on resource: %s because no "
             "identity-based policy allows the %s action", who, action, res, action);
}

/* ---- fixtures -------------------------------------------------------------- */

static void mk_user(const char *name)
{
    call_ok("CreateUser", P("UserName", name));
}

static void mk_user_with(const char *name, const char *policy)
{
    mk_user(name);
    call_ok("PutUserPolicy", P("UserName", name, "PolicyName", "inline", "PolicyDocument", policy));
}

static void mk_role(const char *name)
{
    call_ok("CreateRole", P("RoleName", name, "AssumeRolePolicyDocument", TRUST(A)));
}

/* CreatePolicy; returns its ARN (static). */
static const char *mk_policy(const char *name, const char *doc)
{
    static char arn[256];
    call_ok("CreatePolicy", P("PolicyName", name, "PolicyDocument", doc));
    snprintf(arn, sizeof arn, "%s", get("Arn"));
    return arn;
}

static bool user_exists(const char *acct, const char *name)
{
    struct ent_rec e = { 0 };
    tr_result r = ENV.st[0]->ent_get(ENV.st, "user", acct, name, &e);
    ent_rec_free(&e);
    return tr_ok(r);
}

static bool rel_exists(const char *kind, const char *from, const char *to)
{
    struct rel_rec r = { 0 };
    tr_result x = ENV.st[0]->rel_get(ENV.st, kind, from, to, &r);
    rel_rec_free(&r);
    return tr_ok(x);
}

static size_t ntags(const char *arn)
{
    struct tag_rec *t = NULL;
    size_t n = 0;
    ok(ENV.st[0]->tag_list(ENV.st, arn, &t, &n));
    tag_list_free(t, n);
    return n;
}

static bool all_in(const char *s, const char *alphabet)
{
    return strspn(s, alphabet) == strlen(s);
}

static void assert_id(const char *id, const char *prefix)
{
    assert_non_null(id);
    assert_int_equal(strlen(id), 21);
    assert_memory_equal(id, prefix, 4);
    assert_true(all_in(id + 4, BASE32));
}

/* ---- the table ------------------------------------------------------------- */

static void test_op_table(void **state)
{
    (void)state;
    size_t n = 0, changes_role = 0;
    for (const struct op_def *op = iam_ops; op->name; op++, n++) {
        char action[128];
        snprintf(action, sizeof action, "iam:%s", op->name);
        assert_string_equal(op->action, action);
        if (op[1].name) assert_true(strcmp(op->name, op[1].name) < 0);
        bool reads = strncmp(op->name, "Get", 3) == 0 || strncmp(op->name, "List", 4) == 0 ||
                     strncmp(op->name, "Simulate", 8) == 0;
        assert_int_equal(op->flags & OP_WRITE, reads ? 0 : OP_WRITE);
        bool output = reads || strncmp(op->name, "Create", 6) == 0 || strncmp(op->name, "UpdateRole", 10) == 0 ||
                      strcmp(op->name, "DeleteServiceLinkedRole") == 0;
        assert_int_equal(op->flags & OP_NO_RESULT, output ? 0 : OP_NO_RESULT);
        if (op->flags & IAM_OP_CHANGES_ROLE) changes_role++;
    }
    assert_int_equal(n, 105);
    assert_int_equal(changes_role, 8);
}

/* Service-linked roles: protected from the operations that change a role;
 * DeleteServiceLinkedRole and its task's status. */
static void test_service_linked_role_protected_and_deleted(void **state)
{
    (void)state;
#define SLR "AWSServiceRoleForKeyManagementServiceMultiRegionKeys"
#define PROTECTED "Cannot perform the operation on the protected role '" SLR "' - this role is only modifiable by AWS"
    call_ok("CreateServiceLinkedRole", P("AWSServiceName", "mrk.kms.amazonaws.com"));
    call_ok("CreatePolicy", P("PolicyName", "p", "PolicyDocument", SIMPLE));
    call_err("DeleteRole", P("RoleName", SLR), TR_E_IAM_UNMODIFIABLE, PROTECTED);
    call_err("UpdateAssumeRolePolicy", P("RoleName", SLR, "PolicyDocument", TRUST("*")), TR_E_IAM_UNMODIFIABLE,
             PROTECTED);
    call_err("PutRolePolicy", P("RoleName", SLR, "PolicyName", "x", "PolicyDocument", SIMPLE),
             TR_E_IAM_UNMODIFIABLE, PROTECTED);
    call_err("DeleteRolePolicy", P("RoleName", SLR, "PolicyName", "x"), TR_E_IAM_UNMODIFIABLE, PROTECTED);
    call_err("AttachRolePolicy", P("RoleName", SLR, "PolicyArn", ARN("policy", "p")), TR_E_IAM_UNMODIFIABLE,
             PROTECTED);
    call_err("DetachRolePolicy", P("RoleName", SLR, "PolicyArn", ARN("policy", "p")), TR_E_IAM_UNMODIFIABLE,
             PROTECTED);
    call_err("PutRolePermissionsBoundary", P("RoleName", SLR, "PermissionsBoundary", ARN("policy", "p")),
             TR_E_IAM_UNMODIFIABLE, PROTECTED);
    call_err("DeleteRolePermissionsBoundary", P("RoleName", SLR), TR_E_IAM_UNMODIFIABLE, PROTECTED);
    call_err("UpdateRole", P("RoleName", SLR, "MaxSessionDuration", "7200"), TR_E_IAM_UNMODIFIABLE, PROTECTED);
    call_ok("UpdateRole", P("RoleName", SLR, "Description", "keys"));
    call_ok("UpdateRoleDescription", P("RoleName", SLR, "Description", "keys 2"));
    call_ok("TagRole", P("RoleName", SLR, "Tags.member.1.Key", "k", "Tags.member.1.Value", "v"));
    /* nothing changed */
    call_ok("ListRolePolicies", P("RoleName", SLR));
    assert_null(get("member"));
    call_ok("GetRole", P("RoleName", SLR));
    assert_string_equal(get("MaxSessionDuration"), "3600");
    assert_null(get("PermissionsBoundary"));

    /* Deletion: a plain role is refused, the service-linked one goes. */
    call_ok("CreateRole", P("RoleName", "plain", "AssumeRolePolicyDocument", TRUST("*")));
    call_err("DeleteServiceLinkedRole", P("RoleName", "plain"), TR_E_IAM_INVALID_INPUT,
             "Role plain is not a service-linked role.");
    call_err("DeleteServiceLinkedRole", P("RoleName", "nope"), TR_E_IAM_NO_SUCH_ENTITY,
             "The role with name nope cannot be found.");
    call_ok("DeleteServiceLinkedRole", P("RoleName", SLR));
    char task[256];
    snprintf(task, sizeof task, "%s", get("DeletionTaskId"));
    assert_int_equal(strncmp(task, "task/aws-service-role/mrk.kms.amazonaws.com/" SLR "/", 44 + strlen(SLR) + 1), 0);
    assert_int_equal(strlen(task), 44 + strlen(SLR) + 1 + 36);
    call_err("GetRole", P("RoleName", SLR), TR_E_IAM_NO_SUCH_ENTITY, NULL);
    call_ok("GetServiceLinkedRoleDeletionStatus", P("DeletionTaskId", task));
    assert_string_equal(get("Status"), "SUCCEEDED");
    /* tampered ids: another uuid, another role, malformed */
    char other[256];
    snprintf(other, sizeof other, "%s", task);
    other[strlen(other) - 1] = other[strlen(other) - 1] == '0' ? '1' : '0';
    char want[400];
    snprintf(want, sizeof want, "Deletion task %s cannot be found.", other);
    call_err("GetServiceLinkedRoleDeletionStatus", P("DeletionTaskId", other), TR_E_IAM_NO_SUCH_ENTITY, want);
    call_err("GetServiceLinkedRoleDeletionStatus",
             P("DeletionTaskId", "task/aws-service-role/mrk.kms.amazonaws.com/Other/x"), TR_E_IAM_NO_SUCH_ENTITY,
             "Deletion task task/aws-service-role/mrk.kms.amazonaws.com/Other/x cannot be found.");
    static const char *const bad[] = { "nope", "task/aws-service-role/", "task/aws-service-role/svc//u",
                                       "task/aws-service-role/svc/name/", "task/aws-service-role/svc/name/u/v",
                                       "task/other/svc/name/u" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(want, sizeof want, "Invalid deletion task id: %s", bad[i]);
        call_err("GetServiceLinkedRoleDeletionStatus", P("DeletionTaskId", bad[i]), TR_E_IAM_INVALID_INPUT, want);
    }
    /* the role can be made again */
    call_ok("CreateServiceLinkedRole", P("AWSServiceName", "mrk.kms.amazonaws.com"));
#undef SLR
#undef PROTECTED
}

/* ---- users ------------------------------------------------------------------ */

static void test_create_user_shape_and_record(void **state)
{
    (void)state;
    call_ok("CreateUser", P("UserName", "alice"));
    assert_string_equal(get("UserName"), "alice");
    assert_string_equal(get("Path"), "/");
    assert_string_equal(get("Arn"), ARN("user", "alice"));
    assert_string_equal(get("CreateDate"), NOW_ISO);
    assert_id(get("UserId"), "AIDA");
    assert_false(has("<Tags>"));
    assert_false(has("<PermissionsBoundary>"));
    assert_true(strncmp(XML, "<User>", 6) == 0);

    struct ent_rec e = { 0 };
    ok(ENV.st[0]->ent_get(ENV.st, "user", A, "alice", &e));
    assert_string_equal(e.arn, ARN("user", "alice"));
    assert_string_equal(e.doc, "{}");
    assert_int_equal(e.created, NOW);
    ent_rec_free(&e);

    call_ok("CreateUser", P("UserName", "bob"));
    char id[32];
    snprintf(id, sizeof id, "%s", get("UserId"));
    call_ok("GetUser", P("UserName", "alice"));
    assert_string_not_equal(get("UserId"), id);
}

static void test_create_user_path_tags_and_special_names(void **state)
{
    (void)state;
    call_ok("CreateUser", P("UserName", "carol", "Path", "/division/team/", "Tags.member.1.Key", "team",
                            "Tags.member.1.Value", "blue sky", "Tags.member.2.Key", "cost", "Tags.member.2.Value", ""));
    assert_string_equal(get("Arn"), ARN("user", "division/team/carol"));
    assert_string_equal(get("Path"), "/division/team/");
    assert_true(has("<Tags><member><Key>cost</Key><Value></Value></member>"
                    "<member><Key>team</Key><Value>blue sky</Value></member></Tags>"));
    call_ok("CreateUser", P("UserName", "a+b=c,d.e@f-g_h"));
    assert_string_equal(get("Arn"), ARN("user", "a+b=c,d.e@f-g_h"));
    call_ok("GetUser", P("UserName", "a+b=c,d.e@f-g_h"));
    char n64[65];
    memset(n64, 'n', 64);
    n64[64] = '\0';
    call_ok("CreateUser", P("UserName", n64));
}

static void test_form_parse_utf8(void **state)
{
    (void)state;
    static const struct { const char *body; bool ok; } v[] = {
        { "Action=CreateUser&UserName=caf%C3%A9", true },
        { "Action=CreateUser&Description=%F0%9F%94%91", true },
        { "Action=CreateUser&UserName=ab%FF%FEcd", false },          /* not UTF-8 at all */
        { "Action=CreateUser&UserName=%C3%28", false },              /* bad continuation */
        { "Action=CreateUser&UserName=%C0%AF", false },              /* overlong '/' */
        { "Action=CreateUser&UserName=%ED%A0%80", false },           /* a surrogate */
        { "Action=CreateUser&UserName=%F4%90%80%80", false },        /* above U+10FFFF */
        { "Action=CreateUser&UserName=%E2%82", false },              /* truncated */
        { "Action=CreateUser&%FF=x", false },                        /* in a name */
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        struct form f;
        tr_result r = form_parse((const uint8_t *)v[i].body, strlen(v[i].body), &f);
        if (v[i].ok) {
            assert_true(tr_ok(r));
        } else {
            assert_int_equal(tr_code(r), TR_E_QUERY_VALIDATION);
            assert_string_equal(tr_last_error()->message, "Request parameters must be valid UTF-8");
        }
        form_free(&f);
    }
}

/* form_parse_request: the query string's parameters, then the body's; a
 * name in both is refused; each source decoded by the form's rules. */
static void test_form_parse_request(void **state)
{
    (void)state;
    struct form f;
#define QB(q, b) form_parse_request((const uint8_t *)(q), strlen(q), (const uint8_t *)(b), \
                                    strlen(b), &f)
    /* The query string alone (a GET), the body alone, and split. */
    assert_true(tr_ok(QB("Action=GetUser&Version=2010-05-08&UserName=caf%C3%A9+x", "")));
    assert_int_equal(f.n, 3);
    assert_string_equal(form_get(&f, "UserName"), "caf\xC3\xA9 x");
    form_free(&f);
    assert_true(tr_ok(QB("", "Action=GetUser&UserName=a")));
    assert_int_equal(f.n, 2);
    assert_string_equal(form_get(&f, "Action"), "GetUser");
    form_free(&f);
    assert_true(tr_ok(QB("Action=GetUser&Version=2010-05-08&X-Amz-Date=20260101T000000Z",
                         "UserName=bob")));
    assert_int_equal(f.n, 4);
    assert_string_equal(form_get(&f, "Action"), "GetUser");
    assert_string_equal(form_get(&f, "UserName"), "bob");
    assert_string_equal(form_get(&f, "X-Amz-Date"), "20260101T000000Z");
    form_free(&f);
    assert_true(tr_ok(QB("", "")));
    assert_int_equal(f.n, 0);
    assert_null(form_get(&f, "Action"));
    form_free(&f);
    /* Within one source the first occurrence wins, as form_parse does. */
    assert_true(tr_ok(QB("UserName=a&UserName=b", "")));
    assert_string_equal(form_get(&f, "UserName"), "a");
    form_free(&f);
    /* One name in both places: refused, whichever value. */
    static const char *const both[][2] = {
        { "UserName=a", "UserName=b" }, { "UserName=a", "UserName=a" },
        { "Action=GetUser&UserName=a", "Path=%2F&UserName=" }, { "Action=X", "Action=X" },
        { "X-Amz-Signature=00", "X-Amz-Signature=00" },
    };
    for (size_t i = 0; i < sizeof both / sizeof both[0]; i++) {
        tr_result r = QB(both[i][0], both[i][1]);
        assert_int_equal(tr_code(r), TR_E_QUERY_VALIDATION);
        assert_non_null(strstr(tr_last_error()->message,
                               "is given both in the query string and in the request body"));
        form_free(&f);
    }
    /* A name differing in case, or in encoding only, is another name /
     * the same name. */
    assert_true(tr_ok(QB("username=a", "UserName=b")));
    form_free(&f);
    assert_int_equal(tr_code(QB("User%4Eame=a", "UserName=b")), TR_E_QUERY_VALIDATION);
    form_free(&f);
    /* Each source's decoding errors name it. */
    static const struct { const char *q, *b, *msg; } bad[] = {
        { "UserName=%4", "", "Malformed percent-encoding in the query string" },
        { "UserName=%G0", "", "Malformed percent-encoding in the query string" },
        { "", "UserName=%4", "Malformed percent-encoding in the request body" },
        { "UserName=a%00b", "", "NUL character in the query string" },
        { "", "UserName=a%00b", "NUL character in the request body" },
        { "UserName=%FF", "", "Request parameters must be valid UTF-8" },
        { "Action=GetUser", "%C3%28=x", "Request parameters must be valid UTF-8" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(tr_code(QB(bad[i].q, bad[i].b)), TR_E_QUERY_VALIDATION);
        assert_string_equal(tr_last_error()->message, bad[i].msg);
        form_free(&f);
    }
    /* The parameter cap counts both sources together. */
    struct buf q = BUF_INIT(1 << 16), b = BUF_INIT(1 << 16);
    for (int i = 0; i < FORM_MAX_PARAMS / 2; i++) {
        assert_true(tr_ok(buf_printf(&q, "%sq%d=1", i ? "&" : "", i)));
        assert_true(tr_ok(buf_printf(&b, "%sb%d=1", i ? "&" : "", i)));
    }
    assert_true(tr_ok(form_parse_request(q.data, q.len, b.data, b.len, &f)));
    assert_int_equal(f.n, FORM_MAX_PARAMS);
    form_free(&f);
    assert_true(tr_ok(buf_append_str(&b, "&one=more")));
    assert_int_equal(tr_code(form_parse_request(q.data, q.len, b.data, b.len, &f)),
                     TR_E_QUERY_VALIDATION);
    form_free(&f);
    buf_free(&q);
    buf_free(&b);
#undef QB
}

static void test_xml_text_is_always_well_formed(void **state)
{
    (void)state;
    static const struct { const char *in, *out; } v[] = {
        { "plain", "<T>plain</T>" },
        { "<a & 'b'>\"", "<T>&lt;a &amp; &apos;b&apos;&gt;&quot;</T>" },
        { "tab\tnl\ncr\r", "<T>tab\tnl\ncr&#xD;</T>" },
        { "caf\xC3\xA9 \xF0\x9F\x94\x91", "<T>caf\xC3\xA9 \xF0\x9F\x94\x91</T>" },
        { "a\x01" "b\x1B", "<T>a\xEF\xBF\xBD" "b\xEF\xBF\xBD</T>" }, /* control characters */
        { "x\xFFy", "<T>x\xEF\xBF\xBDy</T>" },                       /* not UTF-8 */
        { "cut \xE2\x82", "<T>cut \xEF\xBF\xBD\xEF\xBF\xBD</T>" },    /* cut mid-character */
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        struct buf b = BUF_INIT(256);
        struct xml x = { .b = &b, .r = TR_OK };
        xml_text(&x, "T", v[i].in);
        assert_true(tr_ok(x.r));
        assert_int_equal(b.len, strlen(v[i].out));
        assert_memory_equal(b.data, v[i].out, b.len);
        buf_free(&b);
    }
}

static void test_create_user_validation(void **state)
{
    (void)state;
    call_err("CreateUser", NULL, TR_E_QUERY_VALIDATION,
             "1 validation error detected: Value null at 'userName' failed to satisfy constraint: "
             "Member must not be null");
    call_err("CreateUser", P("UserName", "bad name!"), TR_E_QUERY_VALIDATION,
             "1 validation error detected: Value 'bad name!' at 'userName' failed to satisfy constraint: "
             "Member must satisfy regular expression pattern: [\\w+=,.@-]+");
    char n65[66];
    memset(n65, 'n', 65);
    n65[65] = '\0';
    call_err("CreateUser", P("UserName", n65), TR_E_QUERY_VALIDATION, NULL);
    assert_non_null(strstr(tr_last_error()->message, "Member must have length less than or equal to 64"));
    static const char *const bad_paths[] = { "nopath", "/no-trailing", "no-leading/", "//", "/a b/" };
    for (size_t i = 0; i < 5; i++) {
        call_err("CreateUser", P("UserName", "p", "Path", bad_paths[i]), TR_E_QUERY_VALIDATION, NULL);
        assert_non_null(strstr(tr_last_error()->message, "at 'path' failed to satisfy constraint: Member must "
                                                          "satisfy regular expression pattern: "
                                                          "(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)"));
    }
    assert_false(user_exists(A, "p"));
    call_ok("CreateUser", P("UserName", "p", "Path", "/a/b.c-d/"));
}

static void test_create_user_duplicates(void **state)
{
    (void)state;
    mk_user("dup");
    call_err("CreateUser", P("UserName", "dup"), TR_E_IAM_ENTITY_EXISTS, "User with name dup already exists.");
    call_err("CreateUser", P("UserName", "DUP"), TR_E_IAM_ENTITY_EXISTS, "User with name DUP already exists.");
    /* Another kind and another account may use the name. */
    mk_role("dup");
    as_root(B);
    mk_user("dup");
    assert_string_equal(get("Arn"), "arn:aws:iam::" B ":user/dup");
}

static void test_get_user(void **state)
{
    (void)state;
    call_err("GetUser", P("UserName", "ghost"), TR_E_IAM_NO_SUCH_ENTITY, "The user with name ghost cannot be found.");
    /* The root user: the account. */
    call_ok("GetUser", NULL);
    assert_string_equal(get("UserId"), A);
    assert_string_equal(get("Arn"), "arn:aws:iam::" A ":root");
    assert_string_equal(get("CreateDate"), "2023-11-14T22:11:40Z");
    assert_null(get("UserName"));
    /* A user: itself. */
    mk_user_with("self", DOC(ALLOW("iam:GetUser", "*")));
    as_user("self");
    call_ok("GetUser", NULL);
    assert_string_equal(get("Arn"), ARN("user", "self"));
    assert_string_equal(get("UserName"), "self");
    /* A role session must name the user. */
    as_session("R", "AROAAAAAAAAAAAAAAAAAA");
    call_err("GetUser", NULL, TR_E_QUERY_VALIDATION, "Must specify userName when calling with non-User credentials");
    /* Other accounts' users are not found. */
    as_root(B);
    call_err("GetUser", P("UserName", "self"), TR_E_IAM_NO_SUCH_ENTITY, "The user with name self cannot be found.");
}

static void test_list_users_paging_and_prefix(void **state)
{
    (void)state;
    static const char *const names[] = { "u1", "u2", "u3", "u4", "u5" };
    for (size_t i = 0; i < 5; i++) call_ok("CreateUser", P("UserName", names[i], "Path", "/pg/"));
    call_ok("CreateUser", P("UserName", "other", "Path", "/elsewhere/"));
    char marker[64] = "";
    size_t seen = 0, pages = 0;
    for (;;) {
        if (marker[0]) call_ok("ListUsers", P("PathPrefix", "/pg/", "MaxItems", "2", "Marker", marker));
        else call_ok("ListUsers", P("PathPrefix", "/pg/", "MaxItems", "2"));
        pages++;
        seen += count("<member>");
        assert_false(has("<UserName>other</UserName>"));
        if (strcmp(get("IsTruncated"), "false") == 0) {
            assert_null(get("Marker"));
            break;
        }
        assert_int_equal(count("<member>"), 2);
        snprintf(marker, sizeof marker, "%s", get("Marker"));
        assert_true(pages < 10);
    }
    assert_int_equal(pages, 3);
    assert_int_equal(seen, 5);
    call_ok("ListUsers", NULL);
    assert_int_equal(count("<member>"), 6);
    assert_string_equal(get("IsTruncated"), "false");
    assert_false(has("<Tags>"));
    call_err("ListUsers", P("MaxItems", "0"), TR_E_QUERY_VALIDATION,
             "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: "
             "Member must have value greater than or equal to 1");
    call_err("ListUsers", P("MaxItems", "1001"), TR_E_QUERY_VALIDATION,
             "1 validation error detected: Value '1001' at 'maxItems' failed to satisfy constraint: "
             "Member must have value less than or equal to 1000");
    call_err("ListUsers", P("PathPrefix", "nope"), TR_E_QUERY_VALIDATION, NULL);
}

static void test_delete_user_conflicts(void **state)
{
    (void)state;
    const char *parn = mk_policy("pol", SIMPLE);
    char pol[256];
    snprintf(pol, sizeof pol, "%s", parn);
    mk_user("gone");
    call_ok("CreateAccessKey", P("UserName", "gone"));
    char akid[32];
    snprintf(akid, sizeof akid, "%s", get("AccessKeyId"));
    call_ok("CreateGroup", P("GroupName", "g"));
    call_ok("AddUserToGroup", P("GroupName", "g", "UserName", "gone"));
    call_ok("PutUserPolicy", P("UserName", "gone", "PolicyName", "p", "PolicyDocument", SIMPLE));
    call_ok("AttachUserPolicy", P("UserName", "gone", "PolicyArn", pol));
    call_ok("PutUserPermissionsBoundary", P("UserName", "gone", "PermissionsBoundary", pol));
    call_ok("TagUser", P("UserName", "gone", "Tags.member.1.Key", "k", "Tags.member.1.Value", "v"));

    call_err("DeleteUser", P("UserName", "gone"), TR_E_IAM_DELETE_CONFLICT,
             "Cannot delete entity, must delete access keys first.");
    call_ok("DeleteAccessKey", P("UserName", "gone", "AccessKeyId", akid));
    call_err("DeleteUser", P("UserName", "gone"), TR_E_IAM_DELETE_CONFLICT,
             "Cannot delete entity, must remove user from all groups first.");
    call_ok("RemoveUserFromGroup", P("GroupName", "g", "UserName", "gone"));
    call_err("DeleteUser", P("UserName", "gone"), TR_E_IAM_DELETE_CONFLICT,
             "Cannot delete entity, must detach all policies first.");
    call_ok("DetachUserPolicy", P("UserName", "gone", "PolicyArn", pol));
    call_err("DeleteUser", P("UserName", "gone"), TR_E_IAM_DELETE_CONFLICT,
             "Cannot delete entity, must delete policies first.");
    call_ok("DeleteUserPolicy", P("UserName", "gone", "PolicyName", "p"));
    assert_true(rel_exists("boundary", pol, ARN("user", "gone")));
    call_ok("DeleteUser", P("UserName", "gone"));
    assert_int_equal(XML[0], '\0');
    assert_false(user_exists(A, "gone"));
    assert_false(rel_exists("boundary", pol, ARN("user", "gone")));
    assert_int_equal(ntags(ARN("user", "gone")), 0);
    call_err("DeleteUser", P("UserName", "gone"), TR_E_IAM_NO_SUCH_ENTITY, "The user with name gone cannot be found.");
    /* The boundary use went with the user: the policy can go now. */
    call_ok("DeletePolicy", P("PolicyArn", pol));
}

static void test_update_user_moves_everything(void **state)
{
    (void)state;
    char pol[256];
    snprintf(pol, sizeof pol, "%s", mk_policy("pol", SIMPLE));
    mk_user("old");
    char id[32];
    snprintf(id, sizeof id, "%s", get("UserId"));
    call_ok("CreateAccessKey", P("UserName", "old"));
    char akid[32];
    snprintf(akid, sizeof akid, "%s", get("AccessKeyId"));
    call_ok("CreateGroup", P("GroupName", "g"));
    call_ok("AddUserToGroup", P("GroupName", "g", "UserName", "old"));
    call_ok("PutUserPolicy", P("UserName", "old", "PolicyName", "p", "PolicyDocument", SIMPLE));
    call_ok("AttachUserPolicy", P("UserName", "old", "PolicyArn", pol));
    call_ok("PutUserPermissionsBoundary", P("UserName", "old", "PermissionsBoundary", pol));
    call_ok("TagUser", P("UserName", "old", "Tags.member.1.Key", "k", "Tags.member.1.Value", "v"));

    call_ok("UpdateUser", P("UserName", "old", "NewUserName", "new", "NewPath", "/moved/"));
    const char *new_arn = ARN("user", "moved/new");
    call_err("GetUser", P("UserName", "old"), TR_E_IAM_NO_SUCH_ENTITY, "The user with name old cannot be found.");
    call_ok("GetUser", P("UserName", "new"));
    assert_string_equal(get("UserId"), id);
    assert_string_equal(get("Arn"), new_arn);
    assert_string_equal(get("Path"), "/moved/");
    assert_string_equal(get("CreateDate"), NOW_ISO);
    assert_true(has("<PermissionsBoundaryArn>"));

    struct access_key_rec k = { 0 };
    ok(ENV.st[0]->access_key_get(ENV.st, akid, &k));
    assert_string_equal(k.principal_arn, new_arn);
    assert_string_equal(k.principal_id, id);
    assert_string_equal(k.doc, "{\"user_name\":\"new\"}");
    access_key_rec_free(&k);
    assert_true(rel_exists("member", ARN("group", "g"), new_arn));
    assert_false(rel_exists("member", ARN("group", "g"), ARN("user", "old")));
    assert_true(rel_exists("attached", new_arn, pol));
    assert_true(rel_exists("inline", new_arn, "p"));
    assert_false(rel_exists("inline", ARN("user", "old"), "p"));
    assert_true(rel_exists("boundary", pol, new_arn));
    assert_false(rel_exists("boundary", pol, ARN("user", "old")));
    assert_int_equal(ntags(new_arn), 1);
    assert_int_equal(ntags(ARN("user", "old")), 0);
    call_ok("ListAccessKeys", P("UserName", "new"));
    assert_string_equal(get("AccessKeyId"), akid);

    /* A change of case alone is a rename to an equal-but-for-case name. */
    call_ok("UpdateUser", P("UserName", "new", "NewUserName", "NEW"));
    call_ok("GetUser", P("UserName", "NEW"));
    mk_user("taken");
    call_err("UpdateUser", P("UserName", "NEW", "NewUserName", "taken"), TR_E_IAM_ENTITY_EXISTS,
             "User with name taken already exists.");
    call_err("UpdateUser", P("UserName", "NEW", "NewUserName", "Taken"), TR_E_IAM_ENTITY_EXISTS, NULL);
    call_ok("GetUser", P("UserName", "NEW"));
    call_err("UpdateUser", P("UserName", "nobody", "NewPath", "/x/"), TR_E_IAM_NO_SUCH_ENTITY,
             "The user with name nobody cannot be found.");
    call_ok("UpdateUser", P("UserName", "taken"));            /* nothing to change */
}

/* ---- access keys ------------------------------------------------------------- */

static void test_access_key_lifecycle(void **state)
{
    (void)state;
    mk_user("keyed");
    call_ok("CreateAccessKey", P("UserName", "keyed"));
    char akid[32], secret[64];
    snprintf(akid, sizeof akid, "%s", get("AccessKeyId"));
    snprintf(secret, sizeof secret, "%s", get("SecretAccessKey"));
    assert_string_equal(get("UserName"), "keyed");
    assert_string_equal(get("Status"), "Active");
    assert_string_equal(get("CreateDate"), NOW_ISO);
    assert_int_equal(strlen(akid), 20);
    assert_memory_equal(akid, "AKIA", 4);
    assert_true(all_in(akid + 4, BASE32));
    assert_int_equal(strlen(secret), 40);
    assert_true(all_in(secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"));

    struct access_key_rec k = { 0 };
    ok(ENV.st[0]->access_key_get(ENV.st, akid, &k));
    assert_int_equal(k.principal_type, PRINCIPAL_USER);
    assert_string_equal(k.principal_arn, ARN("user", "keyed"));
    assert_memory_equal(k.principal_id, "AIDA", 4);
    assert_string_equal(k.doc, "{\"user_name\":\"keyed\"}");
    assert_true(k.active);
    assert_int_equal(k.expires, 0);
    char label[64];
    snprintf(label, sizeof label, "access-key:%s", akid);
    struct buf sec = BUF_SECRET(256);
    ok(keyring_unwrap(ENV.kr, label, k.wrapped_secret.data, k.wrapped_secret.len, &sec));
    assert_int_equal(sec.len, 40);
    assert_memory_equal(sec.data, secret, 40);
    buf_free(&sec);
    assert_null(memmem(k.wrapped_secret.data, k.wrapped_secret.len, secret, 40));
    access_key_rec_free(&k);

    call_ok("CreateAccessKey", P("UserName", "keyed"));
    call_err("CreateAccessKey", P("UserName", "keyed"), TR_E_IAM_LIMIT_EXCEEDED,
             "Cannot exceed quota for AccessKeysPerUser: 2");
    call_ok("ListAccessKeys", P("UserName", "keyed"));
    assert_int_equal(count("<member>"), 2);
    assert_string_equal(get("IsTruncated"), "false");
    assert_false(has("SecretAccessKey"));
    call_ok("ListAccessKeys", P("UserName", "keyed", "MaxItems", "1"));
    assert_string_equal(get("IsTruncated"), "true");
    assert_string_equal(get("Marker"), get("AccessKeyId"));

    call_ok("UpdateAccessKey", P("UserName", "keyed", "AccessKeyId", akid, "Status", "Inactive"));
    ok(ENV.st[0]->access_key_get(ENV.st, akid, &k));
    assert_false(k.active);
    access_key_rec_free(&k);
    call_ok("ListAccessKeys", P("UserName", "keyed"));
    assert_true(has("<AccessKeyId>") && has("<Status>Inactive</Status>"));
    call_err("UpdateAccessKey", P("UserName", "keyed", "AccessKeyId", akid, "Status", "Sleeping"),
             TR_E_QUERY_VALIDATION, NULL);
    call_ok("DeleteAccessKey", P("UserName", "keyed", "AccessKeyId", akid));
    assert_true(tr_failed(ENV.st[0]->access_key_get(ENV.st, akid, &k)));
    char msg[128];
    snprintf(msg, sizeof msg, "The Access Key with id %s cannot be found.", akid);
    call_err("DeleteAccessKey", P("UserName", "keyed", "AccessKeyId", akid), TR_E_IAM_NO_SUCH_ENTITY, msg);
    call_err("UpdateAccessKey", P("UserName", "keyed", "AccessKeyId", akid, "Status", "Active"),
             TR_E_IAM_NO_SUCH_ENTITY, msg);
    call_err("CreateAccessKey", P("UserName", "nokey"), TR_E_IAM_NO_SUCH_ENTITY,
             "The user with name nokey cannot be found.");
}

static void test_access_keys_of_the_caller(void **state)
{
    (void)state;
    mk_user_with("me", DOC(ALLOW("iam:*AccessKey*", ARN("user", "${aws:username}"))));
    mk_user("other");
    call_ok("CreateAccessKey", P("UserName", "other"));
    char other_key[32];
    snprintf(other_key, sizeof other_key, "%s", get("AccessKeyId"));
    as_user("me");
    call_ok("CreateAccessKey", NULL);
    assert_string_equal(get("UserName"), "me");
    call_ok("ListAccessKeys", NULL);
    assert_int_equal(count("<member>"), 1);
    assert_string_equal(get("UserName"), "me");
    /* Another user's key is not the caller's, even by id. */
    char msg[128];
    snprintf(msg, sizeof msg, "The Access Key with id %s cannot be found.", other_key);
    call_err("DeleteAccessKey", P("AccessKeyId", other_key), TR_E_IAM_NO_SUCH_ENTITY, msg);
    as_session("R", "AROAAAAAAAAAAAAAAAAAA");
    call_err("ListAccessKeys", NULL, TR_E_QUERY_VALIDATION,
             "Must specify userName when calling with non-User credentials");
    /* The root user's own keys. */
    as_root(A);
    call_ok("CreateAccessKey", NULL);
    assert_null(get("UserName"));
    char akid[32];
    snprintf(akid, sizeof akid, "%s", get("AccessKeyId"));
    struct access_key_rec k = { 0 };
    ok(ENV.st[0]->access_key_get(ENV.st, akid, &k));
    assert_int_equal(k.principal_type, PRINCIPAL_ROOT);
    assert_string_equal(k.principal_arn, "arn:aws:iam::" A ":root");
    assert_string_equal(k.principal_id, A);
    access_key_rec_free(&k);
    call_ok("ListAccessKeys", NULL);
    assert_int_equal(count("<member>"), 1);
}

/* ---- groups ----------------------------------------------------------------- */

static void test_groups(void **state)
{
    (void)state;
    call_ok("CreateGroup", P("GroupName", "devs", "Path", "/eng/"));
    assert_string_equal(get("Arn"), ARN("group", "eng/devs"));
    assert_string_equal(get("Path"), "/eng/");
    assert_id(get("GroupId"), "AGPA");
    call_err("CreateGroup", P("GroupName", "Devs"), TR_E_IAM_ENTITY_EXISTS, "Group with name Devs already exists.");
    call_err("GetGroup", P("GroupName", "nogroup"), TR_E_IAM_NO_SUCH_ENTITY,
             "The group with name nogroup cannot be found.");
    mk_user("u1");
    mk_user("u2");
    call_err("AddUserToGroup", P("GroupName", "devs", "UserName", "nouser"), TR_E_IAM_NO_SUCH_ENTITY,
             "The user with name nouser cannot be found.");
    call_err("AddUserToGroup", P("GroupName", "nogroup", "UserName", "u1"), TR_E_IAM_NO_SUCH_ENTITY,
             "The group with name nogroup cannot be found.");
    call_ok("AddUserToGroup", P("GroupName", "devs", "UserName", "u1"));
    call_ok("AddUserToGroup", P("GroupName", "devs", "UserName", "u1"));    /* again: one membership */
    call_ok("AddUserToGroup", P("GroupName", "devs", "UserName", "u2"));
    assert_true(rel_exists("member", ARN("group", "eng/devs"), ARN("user", "u1")));
    call_ok("GetGroup", P("GroupName", "devs"));
    assert_true(strncmp(XML, "<Group><Path>/eng/</Path><GroupName>devs</GroupName>", 51) == 0);
    assert_int_equal(count("<member>"), 2);
    assert_true(has("<UserName>u1</UserName>") && has("<UserName>u2</UserName>"));
    assert_string_equal(get("IsTruncated"), "false");
    call_ok("GetGroup", P("GroupName", "devs", "MaxItems", "1"));
    assert_string_equal(get("Marker"), ARN("user", "u1"));
    call_ok("GetGroup", P("GroupName", "devs", "Marker", ARN("user", "u1")));
    assert_int_equal(count("<member>"), 1);
    assert_true(has("<UserName>u2</UserName>"));

    call_ok("ListGroupsForUser", P("UserName", "u1"));
    assert_int_equal(count("<member>"), 1);
    assert_string_equal(get("GroupName"), "devs");
    call_err("DeleteGroup", P("GroupName", "devs"), TR_E_IAM_DELETE_CONFLICT,
             "Cannot delete entity, must remove users from group first.");
    call_ok("RemoveUserFromGroup", P("GroupName", "devs", "UserName", "u1"));
    call_err("RemoveUserFromGroup", P("GroupName", "devs", "UserName", "u1"), TR_E_IAM_NO_SUCH_ENTITY,
             "User u1 is not in group devs.");
    call_ok("ListGroupsForUser", P("UserName", "u1"));
    assert_int_equal(count("<member>"), 0);
    assert_true(has("<Groups></Groups>"));
    call_ok("RemoveUserFromGroup", P("GroupName", "devs", "UserName", "u2"));
    call_ok("PutGroupPolicy", P("GroupName", "devs", "PolicyName", "gp", "PolicyDocument", SIMPLE));
    call_err("DeleteGroup", P("GroupName", "devs"), TR_E_IAM_DELETE_CONFLICT,
             "Cannot delete entity, must delete policies first.");
    call_ok("DeleteGroupPolicy", P("GroupName", "devs", "PolicyName", "gp"));
    call_ok("ListGroups", P("PathPrefix", "/eng/"));
    assert_int_equal(count("<member>"), 1);
    call_ok("DeleteGroup", P("GroupName", "devs"));
    call_err("GetGroup", P("GroupName", "devs"), TR_E_IAM_NO_SUCH_ENTITY, "The group with name devs cannot be found.");
}

static void test_groups_per_user_quota(void **state)
{
    (void)state;
    mk_user("joiner");
    for (int i = 0; i < 11; i++) {
        char g[16];
        snprintf(g, sizeof g, "g%02d", i);
        call_ok("CreateGroup", P("GroupName", g));
        if (i < 10) call_ok("AddUserToGroup", P("GroupName", g, "UserName", "joiner"));
        else call_err("AddUserToGroup", P("GroupName", g, "UserName", "joiner"), TR_E_IAM_LIMIT_EXCEEDED,
                      "Cannot exceed quota for GroupsPerUser: 10");
    }
    call_ok("ListGroupsForUser", P("UserName", "joiner", "MaxItems", "4"));
    assert_int_equal(count("<member>"), 4);
    assert_string_equal(get("Marker"), ARN("group", "g03"));
    call_ok("ListGroupsForUser", P("UserName", "joiner", "Marker", ARN("group", "g03")));
    assert_int_equal(count("<member>"), 6);
    assert_string_equal(get("GroupName"), "g04");
}

/* ---- roles ------------------------------------------------------------------ */

static void test_create_and_get_role(void **state)
{
    (void)state;
    const char *trust = TRUST(A);
    char want[1024];
    call_ok("CreateRole", P("RoleName", "svc", "Path", "/service/", "Description", "runs things",
                            "AssumeRolePolicyDocument", trust));
    assert_id(get("RoleId"), "AROA");
    assert_string_equal(get("Arn"), ARN("role", "service/svc"));
    assert_string_equal(get("Description"), "runs things");
    assert_null(get("MaxSessionDuration"));
    assert_null(get("RoleLastUsed"));
    const char *enc = get("AssumeRolePolicyDocument");
    assert_true(strncmp(enc, "%7B%22Version%22", 16) == 0);
    snprintf(want, sizeof want, "%s", trust);
    assert_string_equal(url_decode(enc), want);          /* as given: "AWS": "111122223333" */

    call_ok("GetRole", P("RoleName", "svc"));
    assert_string_equal(get("MaxSessionDuration"), "3600");
    assert_true(has("<RoleLastUsed></RoleLastUsed>"));
    assert_string_equal(url_decode(get("AssumeRolePolicyDocument")), want);
    call_err("GetRole", P("RoleName", "norole"), TR_E_IAM_NO_SUCH_ENTITY, "The role with name norole cannot be found.");
    call_err("CreateRole", P("RoleName", "SVC", "AssumeRolePolicyDocument", trust), TR_E_IAM_ENTITY_EXISTS,
             "Role with name SVC already exists.");
    call_ok("CreateRole", P("RoleName", "long", "MaxSessionDuration", "14400", "AssumeRolePolicyDocument", trust));
    call_ok("GetRole", P("RoleName", "long"));
    assert_string_equal(get("MaxSessionDuration"), "14400");
    call_ok("ListRoles", P("PathPrefix", "/service/"));
    assert_int_equal(count("<member>"), 1);
    assert_string_equal(get("RoleName"), "svc");
    assert_string_equal(get("MaxSessionDuration"), "3600");
    assert_non_null(get("AssumeRolePolicyDocument"));
    assert_null(get("RoleLastUsed"));

    struct ent_rec e = { 0 };
    ok(ENV.st[0]->ent_get(ENV.st, "role", A, "svc", &e));
    json_t *d = json_loads(e.doc, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(d, "trust")), trust);
    assert_string_equal(json_string_value(json_object_get(d, "description")), "runs things");
    assert_int_equal(json_integer_value(json_object_get(d, "max_session")), 3600);
    json_decref(d);
    ent_rec_free(&e);
}

/* Instance profiles: the entity and its "profile-role" relation (IAM_STORE.md),
 * one role at most, the delete conflicts both ways, nothing left by a refused
 * call. */
static void test_instance_profile_records(void **state)
{
    (void)state;
    const char *conflict = "Cannot delete entity, must remove roles from instance profile first.";
    mk_role("web");
    mk_role("db");
    call_ok("CreateInstanceProfile", P("InstanceProfileName", "ip", "Path", "/app/"));
    assert_id(get("InstanceProfileId"), "AIPA");
    assert_string_equal(get("Arn"), ARN("instance-profile", "app/ip"));
    assert_true(has("<Roles></Roles>"));
    call_err("CreateInstanceProfile", P("InstanceProfileName", "IP"), TR_E_IAM_ENTITY_EXISTS,
             "Instance Profile IP already exists.");
    call_err("GetInstanceProfile", P("InstanceProfileName", "ghost"), TR_E_IAM_NO_SUCH_ENTITY,
             "Instance Profile ghost cannot be found.");
    call_err("CreateInstanceProfile", P("InstanceProfileName", "bad name"), TR_E_QUERY_VALIDATION, NULL);

    call_ok("AddRoleToInstanceProfile", P("InstanceProfileName", "ip", "RoleName", "web"));
    struct rel_rec *v = NULL;
    size_t n = 0;
    ok(ENV.st[0]->rel_list_from(ENV.st, "profile-role", ARN("instance-profile", "app/ip"), NULL, 10, &v, &n));
    assert_int_equal(n, 1);
    assert_string_equal(v[0].to, ARN("role", "web"));
    rel_list_free(v, n);
    call_err("AddRoleToInstanceProfile", P("InstanceProfileName", "ip", "RoleName", "db"),
             TR_E_IAM_LIMIT_EXCEEDED, "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1");
    call_ok("GetInstanceProfile", P("InstanceProfileName", "ip"));
    assert_string_equal(get("RoleName"), "web");
    call_err("DeleteRole", P("RoleName", "web"), TR_E_IAM_DELETE_CONFLICT, conflict);
    call_err("DeleteInstanceProfile", P("InstanceProfileName", "ip"), TR_E_IAM_DELETE_CONFLICT, conflict);
    call_ok("GetRole", P("RoleName", "web"));
    call_ok("ListInstanceProfilesForRole", P("RoleName", "web"));
    assert_string_equal(get("InstanceProfileName"), "ip");
    call_ok("ListInstanceProfilesForRole", P("RoleName", "db"));
    assert_int_equal(count("<member>"), 0);

    call_err("RemoveRoleFromInstanceProfile", P("InstanceProfileName", "ip", "RoleName", "db"),
             TR_E_IAM_NO_SUCH_ENTITY, "The role with name db cannot be found.");
    call_ok("RemoveRoleFromInstanceProfile", P("InstanceProfileName", "ip", "RoleName", "web"));
    call_ok("TagInstanceProfile", P("InstanceProfileName", "ip", "Tags.member.1.Key", "k",
                                    "Tags.member.1.Value", "v"));
    call_ok("DeleteInstanceProfile", P("InstanceProfileName", "ip"));
    struct tag_rec *tags = NULL;
    ok(ENV.st[0]->tag_list(ENV.st, ARN("instance-profile", "app/ip"), &tags, &n));
    assert_int_equal(n, 0);
    tag_list_free(tags, n);
    call_ok("DeleteRole", P("RoleName", "web"));
}

/* TagPolicy / UntagPolicy / ListPolicyTags: tags keyed by the policy ARN;
 * a policy of another account is not found. */
static void test_policy_tags(void **state)
{
    (void)state;
    const char *arn = mk_policy("tagged", SIMPLE);
    char mine[256];
    snprintf(mine, sizeof mine, "%s", arn);
    call_ok("TagPolicy", P("PolicyArn", mine, "Tags.member.1.Key", "k", "Tags.member.1.Value", "v"));
    struct tag_rec *tags = NULL;
    size_t n = 0;
    ok(ENV.st[0]->tag_list(ENV.st, mine, &tags, &n));
    assert_int_equal(n, 1);
    assert_string_equal(tags[0].value, "v");
    tag_list_free(tags, n);
    call_ok("ListPolicyTags", P("PolicyArn", mine));
    assert_string_equal(get("Key"), "k");
    call_ok("UntagPolicy", P("PolicyArn", mine, "TagKeys.member.1", "K"));
    call_ok("ListPolicyTags", P("PolicyArn", mine));
    assert_int_equal(count("<member>"), 0);
    call_err("TagPolicy", P("PolicyArn", "arn:aws:iam::" B ":policy/tagged", "Tags.member.1.Key", "k",
                            "Tags.member.1.Value", "v"),
             TR_E_IAM_NO_SUCH_ENTITY, "Policy arn:aws:iam::" B ":policy/tagged was not found.");
    call_err("ListPolicyTags", P("PolicyArn", "nope"), TR_E_QUERY_VALIDATION, NULL);
}

/* GetAccountSummary: counts from the store, quotas as AWS's defaults. */
static const char *summary(const char *key)
{
    static char v[32];
    char want[96];
    snprintf(want, sizeof want, "<key>%s</key><value>", key);
    const char *p = strstr(XML, want);
    if (!p) return NULL;
    p += strlen(want);
    size_t n = strcspn(p, "<");
    snprintf(v, sizeof v, "%.*s", (int)n, p);
    return v;
}

static void test_account_summary(void **state)
{
    (void)state;
    call_ok("GetAccountSummary", NULL);
    assert_string_equal(summary("Users"), "0");
    assert_string_equal(summary("UsersQuota"), "5000");
    assert_string_equal(summary("PolicyVersionsInUse"), "0");
    mk_user("u1");
    mk_user("u2");
    mk_role("r1");
    const char *arn = mk_policy("p1", SIMPLE);
    char parn[256];
    snprintf(parn, sizeof parn, "%s", arn);
    call_ok("AttachUserPolicy", P("UserName", "u1", "PolicyArn", parn));
    call_ok("AttachRolePolicy", P("RoleName", "r1", "PolicyArn", parn));
    call_ok("CreateInstanceProfile", P("InstanceProfileName", "ip"));
    call_ok("GetAccountSummary", NULL);
    assert_string_equal(summary("Users"), "2");
    assert_string_equal(summary("Roles"), "1");
    assert_string_equal(summary("Groups"), "0");
    assert_string_equal(summary("Policies"), "1");
    assert_string_equal(summary("InstanceProfiles"), "1");
    assert_string_equal(summary("PolicyVersionsInUse"), "2");
    assert_string_equal(summary("MFADevices"), "0");
    assert_string_equal(summary("AssumeRolePolicySizeQuota"), "2048");
}

/* Login profiles: only an argon2id hash of the password is kept, in the
 * user's doc; a weak password or a second profile changes nothing. */
static void test_login_profile_record(void **state)
{
    (void)state;
    mk_user("lp");
    call_err("CreateLoginProfile", P("UserName", "lp", "Password", "weakweak"), TR_E_IAM_PASSWORD_POLICY,
             "Password does not conform to the account password policy.");
    call_ok("CreateLoginProfile", P("UserName", "lp", "Password", "Str0ng-pass"));
    assert_string_equal(get("PasswordResetRequired"), "false");
    assert_null(strstr(XML, "Str0ng"));
    struct ent_rec e = { 0 };
    ok(ENV.st[0]->ent_get(ENV.st, "user", A, "lp", &e));
    assert_null(strstr(e.doc, "Str0ng-pass"));
    json_t *d = json_loads(e.doc, 0, NULL);
    const char *hash = json_string_value(json_object_get(json_object_get(d, "login"), "hash"));
    assert_non_null(hash);
    assert_true(strncmp(hash, "$argon2id$", 10) == 0);
    json_decref(d);
    ent_rec_free(&e);
    call_err("CreateLoginProfile", P("UserName", "lp", "Password", "Str0ng-pass2"), TR_E_IAM_ENTITY_EXISTS,
             "Login Profile for user lp already exists.");
    call_err("DeleteUser", P("UserName", "lp"), TR_E_IAM_DELETE_CONFLICT,
             "Cannot delete entity, must delete login profile first.");
    call_ok("DeleteLoginProfile", P("UserName", "lp"));
    call_err("GetLoginProfile", P("UserName", "lp"), TR_E_IAM_NO_SUCH_ENTITY,
             "Login Profile for User lp cannot be found.");
    call_ok("DeleteUser", P("UserName", "lp"));
}

static void test_role_trust_validation(void **state)
{
    (void)state;
    call_err("CreateRole", P("RoleName", "r", "AssumeRolePolicyDocument", "{\"Version\": \"2012-10-17\", "),
             TR_E_POLICY_MALFORMED, "This policy contains invalid Json");
    call_err("CreateRole", P("RoleName", "r", "AssumeRolePolicyDocument", TRUST(ARN("user", "ghost"))),
             TR_E_POLICY_MALFORMED, "Invalid principal in policy: \"AWS\":\"" ARN("user", "ghost") "\"");
    call_err("CreateRole", P("RoleName", "r", "AssumeRolePolicyDocument", DOC(ALLOW("sts:AssumeRole", "*"))),
             TR_E_POLICY_MALFORMED, "Missing required field Principal");
    call_err("GetRole", P("RoleName", "r"), TR_E_IAM_NO_SUCH_ENTITY, NULL);
    mk_user("real");
    call_ok("CreateRole", P("RoleName", "r", "AssumeRolePolicyDocument", TRUST(ARN("user", "real"))));
    call_ok("CreateRole", P("RoleName", "star", "AssumeRolePolicyDocument", TRUST("*")));
    call_ok("CreateRole", P("RoleName", "byrole", "AssumeRolePolicyDocument", TRUST(ARN("role", "r"))));
    /* A Federated OIDC provider ARN of the account must name a provider;
     * another account's, and a domain name, are not looked up. */
#define FED(p) DOC("{'Effect':'Allow','Principal':{'Federated':" p "},'Action':'sts:AssumeRoleWithWebIdentity'}")
    call_err("CreateRole", P("RoleName", "fed", "AssumeRolePolicyDocument",
                             FED("'" ARN("oidc-provider", "idp.example.com") "'")),
             TR_E_POLICY_MALFORMED,
             "Invalid principal in policy: \"Federated\":\"" ARN("oidc-provider", "idp.example.com") "\"");
    call_err("GetRole", P("RoleName", "fed"), TR_E_IAM_NO_SUCH_ENTITY, NULL);
    call_ok("CreateOpenIDConnectProvider", P("Url", "https://idp.example.com"));
    call_ok("CreateRole", P("RoleName", "fed", "AssumeRolePolicyDocument",
                            FED("'" ARN("oidc-provider", "idp.example.com") "'")));
    call_err("UpdateAssumeRolePolicy", P("RoleName", "fed", "PolicyDocument",
                                         FED("['" ARN("oidc-provider", "idp.example.com") "','"
                                             ARN("oidc-provider", "gone.example.com") "']")),
             TR_E_POLICY_MALFORMED,
             "Invalid principal in policy: \"Federated\":\"" ARN("oidc-provider", "gone.example.com") "\"");
    call_ok("UpdateAssumeRolePolicy", P("RoleName", "fed", "PolicyDocument",
                                        FED("['arn:aws:iam::" B ":oidc-provider/gone.example.com',"
                                            "'cognito-identity.amazonaws.com']")));
#undef FED
    /* The trust policy size quota (non-white-space characters). */
    char big[4096];
    int n = snprintf(big, sizeof big, "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"");
    for (int i = 0; i < 2100; i++) big[n++] = 'a';
    snprintf(big + n, sizeof big - (size_t)n, "\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"" A
             "\"},\"Action\":\"sts:AssumeRole\"}]}");
    call_err("UpdateAssumeRolePolicy", P("RoleName", "r", "PolicyDocument", big), TR_E_IAM_LIMIT_EXCEEDED,
             "Cannot exceed quota for ACLSizePerRole: 2048");
    call_ok("UpdateAssumeRolePolicy", P("RoleName", "r", "PolicyDocument", TRUST(A)));
    call_ok("GetRole", P("RoleName", "r"));
    char want[512];
    snprintf(want, sizeof want, "%s", TRUST(A));
    assert_string_equal(url_decode(get("AssumeRolePolicyDocument")), want);
    call_err("UpdateAssumeRolePolicy", P("RoleName", "r", "PolicyDocument", "nope"), TR_E_POLICY_MALFORMED,
             "This policy contains invalid Json");
}

static void test_update_and_delete_role(void **state)
{
    (void)state;
    mk_role("app");
    call_ok("UpdateRole", P("RoleName", "app", "Description", "new words", "MaxSessionDuration", "7200"));
    assert_int_equal(XML[0], '\0');
    call_ok("GetRole", P("RoleName", "app"));
    assert_string_equal(get("Description"), "new words");
    assert_string_equal(get("MaxSessionDuration"), "7200");
    call_err("UpdateRole", P("RoleName", "app", "MaxSessionDuration", "3599"), TR_E_QUERY_VALIDATION,
             "1 validation error detected: Value '3599' at 'maxSessionDuration' failed to satisfy constraint: "
             "Member must have value greater than or equal to 3600");
    call_err("UpdateRole", P("RoleName", "app", "MaxSessionDuration", "43201"), TR_E_QUERY_VALIDATION,
             "1 validation error detected: Value '43201' at 'maxSessionDuration' failed to satisfy constraint: "
             "Member must have value less than or equal to 43200");
    call_err("UpdateRole", P("RoleName", "app", "Description", "tab\x01"), TR_E_QUERY_VALIDATION, NULL);
    call_ok("UpdateRole", P("RoleName", "app", "MaxSessionDuration", "43200"));
    call_ok("GetRole", P("RoleName", "app"));
    assert_string_equal(get("Description"), "new words");
    call_ok("UpdateRole", P("RoleName", "app", "Description", "a<b> & \"c\" 'd'"));
    call_ok("GetRole", P("RoleName", "app"));
    assert_string_equal(get("Description"), "a&lt;b&gt; &amp; &quot;c&quot; &apos;d&apos;");
    assert_string_equal(get("MaxSessionDuration"), "43200");

    char pol[256];
    snprintf(pol, sizeof pol, "%s", mk_policy("rp", SIMPLE));
    call_ok("PutRolePolicy", P("RoleName", "app", "PolicyName", "inline", "PolicyDocument", SIMPLE));
    call_ok("AttachRolePolicy", P("RoleName", "app", "PolicyArn", pol));
    call_ok("TagRole", P("RoleName", "app", "Tags.member.1.Key", "a", "Tags.member.1.Value", "1"));
    call_err("DeleteRole", P("RoleName", "app"), TR_E_IAM_DELETE_CONFLICT,
             "Cannot delete entity, must detach all policies first.");
    call_ok("DetachRolePolicy", P("RoleName", "app", "PolicyArn", pol));
    call_err("DeleteRole", P("RoleName", "app"), TR_E_IAM_DELETE_CONFLICT,
             "Cannot delete entity, must delete policies first.");
    call_ok("DeleteRolePolicy", P("RoleName", "app", "PolicyName", "inline"));
    call_ok("DeleteRole", P("RoleName", "app"));
    assert_int_equal(ntags(ARN("role", "app")), 0);
    call_err("GetRole", P("RoleName", "app"), TR_E_IAM_NO_SUCH_ENTITY, "The role with name app cannot be found.");
}

/* ---- managed policies -------------------------------------------------------- */

static void test_create_and_get_policy(void **state)
{
    (void)state;
    call_ok("CreatePolicy", P("PolicyName", "readkeys", "Path", "/team/a/", "PolicyDocument", SIMPLE,
                              "Description", "read keys"));
    assert_string_equal(get("PolicyName"), "readkeys");
    assert_id(get("PolicyId"), "ANPA");
    assert_string_equal(get("Arn"), ARN("policy", "team/a/readkeys"));
    assert_string_equal(get("Path"), "/team/a/");
    assert_string_equal(get("DefaultVersionId"), "v1");
    assert_string_equal(get("AttachmentCount"), "0");
    assert_string_equal(get("PermissionsBoundaryUsageCount"), "0");
    assert_string_equal(get("IsAttachable"), "true");
    assert_string_equal(get("CreateDate"), NOW_ISO);
    assert_string_equal(get("UpdateDate"), NOW_ISO);
    assert_string_equal(get("Description"), "read keys");
    assert_true(rel_exists("version", ARN("policy", "team/a/readkeys"), "v1"));

    call_ok("GetPolicy", P("PolicyArn", ARN("policy", "team/a/readkeys")));
    assert_string_equal(get("Description"), "read keys");
    call_err("CreatePolicy", P("PolicyName", "READKEYS", "PolicyDocument", SIMPLE), TR_E_IAM_ENTITY_EXISTS,
             "A policy called READKEYS already exists. Duplicate names are not allowed.");
    call_err("GetPolicy", P("PolicyArn", ARN("policy", "nopol")), TR_E_IAM_NO_SUCH_ENTITY,
             "Policy " ARN("policy", "nopol") " was not found.");
    call_err("GetPolicy", P("PolicyArn", "arn:aws:iam::" A ":user/nope"), TR_E_IAM_INVALID_INPUT,
             "ARN arn:aws:iam::" A ":user/nope is not valid.");
    call_err("GetPolicy", P("PolicyArn", "short"), TR_E_QUERY_VALIDATION, NULL);
    call_err("CreatePolicy", P("PolicyName", "p", "Path", "/bad path/", "PolicyDocument", SIMPLE),
             TR_E_QUERY_VALIDATION, NULL);
    /* Another account's policy is not this account's. */
    as_root(B);
    call_err("GetPolicy", P("PolicyArn", ARN("policy", "team/a/readkeys")), TR_E_IAM_NO_SUCH_ENTITY, NULL);
}

static void test_policy_documents_are_checked(void **state)
{
    (void)state;
    call_err("CreatePolicy", P("PolicyName", "p", "PolicyDocument", "not json at all"), TR_E_POLICY_MALFORMED,
             "This policy contains invalid Json");
    call_err("CreatePolicy", P("PolicyName", "p", "PolicyDocument",
                               DOC("{'Effect':'Allow','Principal':{'AWS':'*'},'Action':'kms:*','Resource':'*'}")),
             TR_E_POLICY_MALFORMED, "Policy document should not specify a principal.");
    call_err("CreatePolicy", P("PolicyName", "p", "PolicyDocument", DOC(ALLOW("DescribeKey", "*"))),
             TR_E_POLICY_MALFORMED, "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.");
    call_err("GetPolicy", P("PolicyArn", ARN("policy", "p")), TR_E_IAM_NO_SUCH_ENTITY, NULL);
    /* Characters outside [\t\n\r\x20-\xFF] are refused by the model's pattern. */
    call_err("CreatePolicy", P("PolicyName", "p", "PolicyDocument", "{\"x\": \"\xE2\x82\xAC\"}"),
             TR_E_QUERY_VALIDATION, NULL);
    /* 6144 non-white-space characters at most. */
    char big[8192];
    int n = snprintf(big, sizeof big, "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"");
    for (int i = 0; i < 6100; i++) big[n++] = 'a';
    snprintf(big + n, sizeof big - (size_t)n, "\",\"Effect\":\"Allow\",\"Action\":\"kms:*\",\"Resource\":\"*\"}]}");
    call_err("CreatePolicy", P("PolicyName", "p", "PolicyDocument", big), TR_E_IAM_LIMIT_EXCEEDED,
             "Cannot exceed quota for PolicySize: 6144");
}

static void test_policy_versions(void **state)
{
    (void)state;
    char arn[256];
    snprintf(arn, sizeof arn, "%s", mk_policy("ver", SIMPLE));
    const char *doc2 = DOC(ALLOW("kms:Encrypt", "*"));
    char doc2s[256];
    snprintf(doc2s, sizeof doc2s, "%s", doc2);
    RC.now = NOW + 60;
    call_ok("CreatePolicyVersion", P("PolicyArn", arn, "PolicyDocument", doc2s, "SetAsDefault", "true"));
    assert_string_equal(get("VersionId"), "v2");
    assert_string_equal(get("IsDefaultVersion"), "true");
    assert_null(get("Document"));
    call_ok("GetPolicy", P("PolicyArn", arn));
    assert_string_equal(get("DefaultVersionId"), "v2");
    assert_string_equal(get("UpdateDate"), "2023-11-14T22:14:20Z");
    assert_string_equal(get("CreateDate"), NOW_ISO);
    call_ok("GetPolicyVersion", P("PolicyArn", arn, "VersionId", "v2"));
    assert_string_equal(url_decode(get("Document")), doc2s);
    assert_string_equal(get("IsDefaultVersion"), "true");
    call_ok("CreatePolicyVersion", P("PolicyArn", arn, "PolicyDocument", SIMPLE));
    assert_string_equal(get("VersionId"), "v3");
    assert_string_equal(get("IsDefaultVersion"), "false");
    call_ok("ListPolicyVersions", P("PolicyArn", arn));
    assert_int_equal(count("<member>"), 3);
    const char *v3 = strstr(XML, "<VersionId>v3</VersionId>"), *v1 = strstr(XML, "<VersionId>v1</VersionId>");
    assert_true(v3 && v1 && v3 < v1);                     /* newest first */
    assert_true(has("<VersionId>v2</VersionId><IsDefaultVersion>true</IsDefaultVersion>"));
    call_ok("ListPolicyVersions", P("PolicyArn", arn, "MaxItems", "2"));
    assert_string_equal(get("Marker"), "v2");
    call_ok("ListPolicyVersions", P("PolicyArn", arn, "Marker", "v2"));
    assert_int_equal(count("<member>"), 1);
    assert_string_equal(get("VersionId"), "v1");

    call_ok("SetDefaultPolicyVersion", P("PolicyArn", arn, "VersionId", "v1"));
    call_ok("GetPolicy", P("PolicyArn", arn));
    assert_string_equal(get("DefaultVersionId"), "v1");
    call_err("DeletePolicyVersion", P("PolicyArn", arn, "VersionId", "v1"), TR_E_IAM_DELETE_CONFLICT,
             "Cannot delete the default version of a policy.");
    call_ok("DeletePolicyVersion", P("PolicyArn", arn, "VersionId", "v2"));
    char msg[512];
    snprintf(msg, sizeof msg, "Policy %s version v2 does not exist or is not attachable.", arn);
    call_err("GetPolicyVersion", P("PolicyArn", arn, "VersionId", "v2"), TR_E_IAM_NO_SUCH_ENTITY, msg);
    call_err("SetDefaultPolicyVersion", P("PolicyArn", arn, "VersionId", "v2"), TR_E_IAM_NO_SUCH_ENTITY, msg);
    call_err("GetPolicyVersion", P("PolicyArn", arn, "VersionId", "2"), TR_E_QUERY_VALIDATION, NULL);

    /* Five at most; ids are never reused. */
    call_ok("CreatePolicyVersion", P("PolicyArn", arn, "PolicyDocument", SIMPLE));
    assert_string_equal(get("VersionId"), "v4");
    call_ok("CreatePolicyVersion", P("PolicyArn", arn, "PolicyDocument", SIMPLE));
    call_ok("CreatePolicyVersion", P("PolicyArn", arn, "PolicyDocument", SIMPLE));
    call_err("CreatePolicyVersion", P("PolicyArn", arn, "PolicyDocument", SIMPLE, "SetAsDefault", "true"),
             TR_E_IAM_LIMIT_EXCEEDED, "A managed policy can have up to 5 versions. Before you create a new version, "
             "you must delete an existing version.");
    call_ok("GetPolicy", P("PolicyArn", arn));
    assert_string_equal(get("DefaultVersionId"), "v1");

    call_err("DeletePolicy", P("PolicyArn", arn), TR_E_IAM_DELETE_CONFLICT,
             "This policy has more than one version. Before you delete a policy, you must delete the policy's "
             "versions. The default version is deleted with the policy.");
    static const char *const vs[] = { "v3", "v4", "v5", "v6" };
    for (size_t i = 0; i < 4; i++) call_ok("DeletePolicyVersion", P("PolicyArn", arn, "VersionId", vs[i]));
    call_ok("DeletePolicy", P("PolicyArn", arn));
    assert_false(rel_exists("version", arn, "v1"));
    snprintf(msg, sizeof msg, "Policy %s was not found.", arn);
    call_err("GetPolicy", P("PolicyArn", arn), TR_E_IAM_NO_SUCH_ENTITY, msg);
}

static void test_list_policies_and_entities(void **state)
{
    (void)state;
    char attached[256], loose[256], bound[256];
    call_ok("CreatePolicy", P("PolicyName", "att", "Path", "/lp/", "PolicyDocument", SIMPLE));
    snprintf(attached, sizeof attached, "%s", get("Arn"));
    call_ok("CreatePolicy", P("PolicyName", "loose", "Path", "/lp/", "PolicyDocument", SIMPLE));
    snprintf(loose, sizeof loose, "%s", get("Arn"));
    call_ok("CreatePolicy", P("PolicyName", "bound", "Path", "/lp/", "PolicyDocument", SIMPLE));
    snprintf(bound, sizeof bound, "%s", get("Arn"));
    mk_policy("elsewhere", SIMPLE);
    mk_user("u");
    call_ok("CreateGroup", P("GroupName", "g"));
    mk_role("r");
    call_ok("AttachUserPolicy", P("UserName", "u", "PolicyArn", attached));
    call_ok("AttachGroupPolicy", P("GroupName", "g", "PolicyArn", attached));
    call_ok("AttachRolePolicy", P("RoleName", "r", "PolicyArn", attached));
    call_ok("PutUserPermissionsBoundary", P("UserName", "u", "PermissionsBoundary", bound));

    call_ok("ListPolicies", P("Scope", "Local", "PathPrefix", "/lp/"));
    assert_int_equal(count("<member>"), 3);
    assert_false(has("<Description>"));
    call_ok("ListPolicies", P("PathPrefix", "/lp/", "OnlyAttached", "true"));
    assert_int_equal(count("<member>"), 1);
    assert_string_equal(get("PolicyName"), "att");
    assert_string_equal(get("AttachmentCount"), "3");
    call_ok("ListPolicies", P("OnlyAttached", "true", "PolicyUsageFilter", "PermissionsBoundary"));
    assert_int_equal(count("<member>"), 1);
    assert_string_equal(get("PolicyName"), "bound");
    assert_string_equal(get("PermissionsBoundaryUsageCount"), "1");
    call_ok("ListPolicies", P("Scope", "AWS"));
    assert_int_equal(count("<member>"), 0);
    call_ok("ListPolicies", P("MaxItems", "2"));
    assert_string_equal(get("IsTruncated"), "true");
    assert_string_equal(get("Marker"), "bound");
    call_ok("ListPolicies", P("Marker", "bound"));
    assert_int_equal(count("<member>"), 2);
    call_err("ListPolicies", P("Scope", "Mine"), TR_E_QUERY_VALIDATION,
             "1 validation error detected: Value 'Mine' at 'scope' failed to satisfy constraint: "
             "Member must satisfy enum value set: [All, AWS, Local]");

    call_ok("ListEntitiesForPolicy", P("PolicyArn", attached));
    assert_true(strstr(XML, "<PolicyGroups><member><GroupName>g</GroupName><GroupId>AGPA") == XML);
    assert_true(has("<PolicyUsers><member><UserName>u</UserName><UserId>AIDA"));
    assert_true(has("<PolicyRoles><member><RoleName>r</RoleName><RoleId>AROA"));
    call_ok("ListEntitiesForPolicy", P("PolicyArn", attached, "EntityFilter", "Role"));
    assert_true(has("<PolicyGroups></PolicyGroups><PolicyUsers></PolicyUsers><PolicyRoles><member>"));
    call_ok("ListEntitiesForPolicy", P("PolicyArn", attached, "MaxItems", "2"));
    assert_string_equal(get("IsTruncated"), "true");
    assert_string_equal(get("Marker"), ARN("role", "r"));
    call_ok("ListEntitiesForPolicy", P("PolicyArn", attached, "Marker", ARN("role", "r")));
    assert_int_equal(count("<member>"), 1);
    assert_true(has("<UserName>u</UserName>"));
    call_ok("ListEntitiesForPolicy", P("PolicyArn", bound, "PolicyUsageFilter", "PermissionsBoundary"));
    assert_int_equal(count("<member>"), 1);
    call_ok("ListEntitiesForPolicy", P("PolicyArn", loose));
    assert_int_equal(count("<member>"), 0);
    call_err("DeletePolicy", P("PolicyArn", attached), TR_E_IAM_DELETE_CONFLICT,
             "Cannot delete a policy attached to entities.");
    call_err("DeletePolicy", P("PolicyArn", bound), TR_E_IAM_DELETE_CONFLICT,
             "Cannot delete a policy attached to entities.");
}

/* ---- attachments --------------------------------------------------------------- */

static void test_attachments(void **state)
{
    (void)state;
    char arn[256], missing[256];
    snprintf(arn, sizeof arn, "%s", mk_policy("describe", SIMPLE));
    snprintf(missing, sizeof missing, ARN("policy", "nope"));
    mk_user("u");
    call_ok("CreateGroup", P("GroupName", "g"));
    mk_role("r");
    char msg[512];
    snprintf(msg, sizeof msg, "Policy %s does not exist or is not attachable.", missing);
    call_err("AttachUserPolicy", P("UserName", "u", "PolicyArn", missing), TR_E_IAM_NO_SUCH_ENTITY, msg);
    call_err("AttachGroupPolicy", P("GroupName", "g", "PolicyArn", missing), TR_E_IAM_NO_SUCH_ENTITY, msg);
    call_err("AttachRolePolicy", P("RoleName", "r", "PolicyArn", missing), TR_E_IAM_NO_SUCH_ENTITY, msg);
    call_err("AttachRolePolicy", P("RoleName", "r", "PolicyArn", "arn:aws:iam::aws:policy/ReadOnlyAccess"),
             TR_E_IAM_NO_SUCH_ENTITY,
             "Policy arn:aws:iam::aws:policy/ReadOnlyAccess does not exist or is not attachable.");
    call_err("AttachUserPolicy", P("UserName", "nouser", "PolicyArn", arn), TR_E_IAM_NO_SUCH_ENTITY,
             "The user with name nouser cannot be found.");

    call_ok("AttachUserPolicy", P("UserName", "u", "PolicyArn", arn));
    call_ok("AttachUserPolicy", P("UserName", "u", "PolicyArn", arn));
    call_ok("AttachGroupPolicy", P("GroupName", "g", "PolicyArn", arn));
    call_ok("AttachRolePolicy", P("RoleName", "r", "PolicyArn", arn));
    assert_true(rel_exists("attached", ARN("user", "u"), arn));
    call_ok("ListAttachedUserPolicies", P("UserName", "u"));
    assert_true(has("<AttachedPolicies><member><PolicyName>describe</PolicyName><PolicyArn>"));
    assert_int_equal(count("<member>"), 1);
    call_ok("ListAttachedUserPolicies", P("UserName", "u", "PathPrefix", "/other/"));
    assert_int_equal(count("<member>"), 0);
    call_ok("ListAttachedGroupPolicies", P("GroupName", "g"));
    assert_int_equal(count("<member>"), 1);
    call_ok("ListAttachedRolePolicies", P("RoleName", "r"));
    assert_int_equal(count("<member>"), 1);
    call_ok("GetPolicy", P("PolicyArn", arn));
    assert_string_equal(get("AttachmentCount"), "3");

    call_ok("DetachUserPolicy", P("UserName", "u", "PolicyArn", arn));
    snprintf(msg, sizeof msg, "Policy %s was not found.", arn);
    call_err("DetachUserPolicy", P("UserName", "u", "PolicyArn", arn), TR_E_IAM_NO_SUCH_ENTITY, msg);
    call_ok("DetachGroupPolicy", P("GroupName", "g", "PolicyArn", arn));
    call_ok("DetachRolePolicy", P("RoleName", "r", "PolicyArn", arn));
    call_ok("GetPolicy", P("PolicyArn", arn));
    assert_string_equal(get("AttachmentCount"), "0");

    /* Ten managed policies per entity. */
    for (int i = 0; i < 11; i++) {
        char name[16], parn[256];
        snprintf(name, sizeof name, "q%02d", i);
        snprintf(parn, sizeof parn, "%s", mk_policy(name, SIMPLE));
        if (i < 10) call_ok("AttachRolePolicy", P("RoleName", "r", "PolicyArn", parn));
        else call_err("AttachRolePolicy", P("RoleName", "r", "PolicyArn", parn), TR_E_IAM_LIMIT_EXCEEDED,
                      "Cannot exceed quota for PoliciesPerRole: 10");
    }
    call_ok("ListAttachedRolePolicies", P("RoleName", "r", "MaxItems", "4"));
    assert_int_equal(count("<member>"), 4);
    assert_string_equal(get("IsTruncated"), "true");
    char marker[256];
    snprintf(marker, sizeof marker, "%s", get("Marker"));
    call_ok("ListAttachedRolePolicies", P("RoleName", "r", "Marker", marker));
    assert_int_equal(count("<member>"), 6);
}

/* ---- inline policies ------------------------------------------------------------ */

static void test_inline_policies(void **state)
{
    (void)state;
    mk_user("u");
    const char *doc = DOC("{'Sid':'Read','Effect':'Allow','Action':['kms:Describe*','kms:List*'],'Resource':'*',"
                          "'Condition':{'StringEquals':{'kms:EncryptionContext:k':'a+b c'}}}");
    char docs[512];
    snprintf(docs, sizeof docs, "%s", doc);
    call_ok("PutUserPolicy", P("UserName", "u", "PolicyName", "p1", "PolicyDocument", docs));
    assert_int_equal(XML[0], '\0');
    struct rel_rec rel = { 0 };
    ok(ENV.st[0]->rel_get(ENV.st, "inline", ARN("user", "u"), "p1", &rel));
    assert_string_equal(rel.doc, docs);                        /* stored as given */
    rel_rec_free(&rel);
    call_ok("GetUserPolicy", P("UserName", "u", "PolicyName", "p1"));
    assert_string_equal(get("UserName"), "u");
    assert_string_equal(get("PolicyName"), "p1");
    const char *enc = get("PolicyDocument");
    assert_true(strncmp(enc, "%7B", 3) == 0);
    assert_null(strchr(enc, ' '));
    assert_null(strchr(enc, '+'));
    assert_string_equal(url_decode(enc), docs);
    call_ok("PutUserPolicy", P("UserName", "u", "PolicyName", "p2", "PolicyDocument", SIMPLE));
    call_ok("ListUserPolicies", P("UserName", "u"));
    assert_true(has("<PolicyNames><member>p1</member><member>p2</member></PolicyNames>"));
    call_ok("ListUserPolicies", P("UserName", "u", "MaxItems", "1"));
    assert_string_equal(get("Marker"), "p1");
    call_ok("PutUserPolicy", P("UserName", "u", "PolicyName", "p1", "PolicyDocument", SIMPLE));
    call_ok("GetUserPolicy", P("UserName", "u", "PolicyName", "p1"));
    char simple[256];
    snprintf(simple, sizeof simple, "%s", SIMPLE);
    assert_string_equal(url_decode(get("PolicyDocument")), simple);
    call_ok("DeleteUserPolicy", P("UserName", "u", "PolicyName", "p1"));
    call_err("GetUserPolicy", P("UserName", "u", "PolicyName", "p1"), TR_E_IAM_NO_SUCH_ENTITY,
             "The user policy with name p1 cannot be found.");
    call_err("DeleteUserPolicy", P("UserName", "u", "PolicyName", "p1"), TR_E_IAM_NO_SUCH_ENTITY,
             "The user policy with name p1 cannot be found.");
    call_err("PutUserPolicy", P("UserName", "nouser", "PolicyName", "p", "PolicyDocument", SIMPLE),
             TR_E_IAM_NO_SUCH_ENTITY, "The user with name nouser cannot be found.");
    call_err("PutUserPolicy", P("UserName", "u", "PolicyName", "bad", "PolicyDocument", TRUST(A)),
             TR_E_POLICY_MALFORMED, "Policy document should not specify a principal.");

    mk_role("r");
    call_ok("PutRolePolicy", P("RoleName", "r", "PolicyName", "rp", "PolicyDocument", SIMPLE));
    call_ok("GetRolePolicy", P("RoleName", "r", "PolicyName", "rp"));
    assert_string_equal(get("RoleName"), "r");
    call_ok("ListRolePolicies", P("RoleName", "r"));
    assert_true(has("<member>rp</member>"));
    call_ok("DeleteRolePolicy", P("RoleName", "r", "PolicyName", "rp"));
    call_err("GetRolePolicy", P("RoleName", "r", "PolicyName", "rp"), TR_E_IAM_NO_SUCH_ENTITY,
             "The role policy with name rp cannot be found.");
    call_ok("CreateGroup", P("GroupName", "g"));
    call_ok("PutGroupPolicy", P("GroupName", "g", "PolicyName", "gp", "PolicyDocument", SIMPLE));
    call_ok("GetGroupPolicy", P("GroupName", "g", "PolicyName", "gp"));
    assert_string_equal(get("GroupName"), "g");
    call_ok("DeleteGroupPolicy", P("GroupName", "g", "PolicyName", "gp"));
    call_err("GetGroupPolicy", P("GroupName", "g", "PolicyName", "gp"), TR_E_IAM_NO_SUCH_ENTITY,
             "The group policy with name gp cannot be found.");

    /* A user's inline policies total 2048 non-white-space characters. */
    char big[4096];
    int n = snprintf(big, sizeof big, "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"");
    for (int i = 0; i < 1800; i++) big[n++] = 'a';
    snprintf(big + n, sizeof big - (size_t)n, "\",\"Effect\":\"Allow\",\"Action\":\"kms:*\",\"Resource\":\"*\"}]}");
    call_ok("PutUserPolicy", P("UserName", "u", "PolicyName", "big", "PolicyDocument", big));
    call_err("PutUserPolicy", P("UserName", "u", "PolicyName", "more", "PolicyDocument", DOC(ALLOW("kms:*", "*"))),
             TR_E_IAM_LIMIT_EXCEEDED, "Maximum policy size of 2048 bytes exceeded for user u");
    call_ok("PutRolePolicy", P("RoleName", "r", "PolicyName", "big", "PolicyDocument", big));
    call_ok("PutRolePolicy", P("RoleName", "r", "PolicyName", "more", "PolicyDocument", SIMPLE));
}

/* ---- boundaries ------------------------------------------------------------------ */

static void test_permissions_boundaries(void **state)
{
    (void)state;
    char pol[256], pol2[256], missing[256];
    snprintf(pol, sizeof pol, "%s", mk_policy("b1", SIMPLE));
    snprintf(pol2, sizeof pol2, "%s", mk_policy("b2", SIMPLE));
    snprintf(missing, sizeof missing, ARN("policy", "nob"));
    mk_user("u");
    char msg[512];
    snprintf(msg, sizeof msg, "Scope ARN: %s does not exist or is not attachable.", missing);
    call_err("PutUserPermissionsBoundary", P("UserName", "u", "PermissionsBoundary", missing),
             TR_E_IAM_NO_SUCH_ENTITY, msg);
    call_ok("GetUser", P("UserName", "u"));
    assert_false(has("PermissionsBoundary"));
    call_ok("PutUserPermissionsBoundary", P("UserName", "u", "PermissionsBoundary", pol));
    call_ok("GetUser", P("UserName", "u"));
    char want[512];
    snprintf(want, sizeof want, "<PermissionsBoundary><PermissionsBoundaryType>PermissionsBoundaryPolicy"
             "</PermissionsBoundaryType><PermissionsBoundaryArn>%s</PermissionsBoundaryArn>"
             "</PermissionsBoundary>", pol);
    assert_true(has(want));
    call_ok("GetPolicy", P("PolicyArn", pol));
    assert_string_equal(get("PermissionsBoundaryUsageCount"), "1");
    assert_string_equal(get("AttachmentCount"), "0");
    call_ok("PutUserPermissionsBoundary", P("UserName", "u", "PermissionsBoundary", pol2));
    assert_false(rel_exists("boundary", pol, ARN("user", "u")));
    assert_true(rel_exists("boundary", pol2, ARN("user", "u")));
    call_ok("DeleteUserPermissionsBoundary", P("UserName", "u"));
    call_ok("DeleteUserPermissionsBoundary", P("UserName", "u"));           /* none: no change */
    call_ok("GetUser", P("UserName", "u"));
    assert_false(has("PermissionsBoundary"));
    call_ok("GetPolicy", P("PolicyArn", pol2));
    assert_string_equal(get("PermissionsBoundaryUsageCount"), "0");

    call_err("CreateUser", P("UserName", "nb", "PermissionsBoundary", missing), TR_E_IAM_NO_SUCH_ENTITY, msg);
    assert_false(user_exists(A, "nb"));
    call_ok("CreateUser", P("UserName", "bounded", "PermissionsBoundary", pol));
    assert_true(has("<PermissionsBoundaryArn>"));
    call_ok("CreateRole", P("RoleName", "r", "AssumeRolePolicyDocument", TRUST(A), "PermissionsBoundary", pol));
    assert_true(has("<PermissionsBoundaryArn>"));
    call_ok("GetRole", P("RoleName", "r"));
    assert_true(has("<PermissionsBoundaryArn>"));
    call_ok("PutRolePermissionsBoundary", P("RoleName", "r", "PermissionsBoundary", pol2));
    call_ok("GetRole", P("RoleName", "r"));
    assert_non_null(strstr(XML, pol2));
    call_ok("DeleteRolePermissionsBoundary", P("RoleName", "r"));
    call_ok("GetRole", P("RoleName", "r"));
    assert_false(has("PermissionsBoundary"));
    call_ok("GetPolicy", P("PolicyArn", pol));
    assert_string_equal(get("PermissionsBoundaryUsageCount"), "1");     /* user "bounded" */
}

/* ---- tags ------------------------------------------------------------------------ */

static void test_tags(void **state)
{
    (void)state;
    call_ok("CreateUser", P("UserName", "u", "Tags.member.1.Key", "team", "Tags.member.1.Value", "blue"));
    call_ok("ListUserTags", P("UserName", "u"));
    assert_true(has("<Tags><member><Key>team</Key><Value>blue</Value></member></Tags>"));
    assert_string_equal(get("IsTruncated"), "false");
    call_ok("TagUser", P("UserName", "u", "Tags.member.1.Key", "Team", "Tags.member.1.Value", "red",
                         "Tags.member.2.Key", "env", "Tags.member.2.Value", "prod"));
    call_ok("ListUserTags", P("UserName", "u"));
    assert_int_equal(count("<member>"), 2);
    assert_true(has("<Key>Team</Key><Value>red</Value>"));            /* replaced, case-insensitively */
    call_ok("ListUserTags", P("UserName", "u", "MaxItems", "1"));
    assert_string_equal(get("Marker"), "Team");
    call_ok("ListUserTags", P("UserName", "u", "Marker", "Team"));
    assert_string_equal(get("Key"), "env");
    call_ok("UntagUser", P("UserName", "u", "TagKeys.member.1", "TEAM", "TagKeys.member.2", "never-set"));
    call_ok("ListUserTags", P("UserName", "u"));
    assert_int_equal(count("<member>"), 1);
    assert_string_equal(get("Key"), "env");

    call_err("TagUser", P("UserName", "u", "Tags.member.1.Key", "a", "Tags.member.1.Value", "1",
                          "Tags.member.2.Key", "A", "Tags.member.2.Value", "2"),
             TR_E_IAM_INVALID_INPUT, "Duplicate tag keys found. Please note that Tag keys are case insensitive.");
    call_err("TagUser", P("UserName", "u", "Tags.member.1.Key", "AWS:x", "Tags.member.1.Value", "1"),
             TR_E_IAM_INVALID_INPUT, NULL);
    call_err("TagUser", P("UserName", "u", "Tags.member.1.Key", "bad*key", "Tags.member.1.Value", "1"),
             TR_E_QUERY_VALIDATION,
             "1 validation error detected: Value 'bad*key' at 'tags.1.member.key' failed to satisfy "
             "constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+");
    call_err("TagUser", P("UserName", "u", "Tags.member.1.Key", "k"), TR_E_QUERY_VALIDATION,
             "1 validation error detected: Value null at 'tags.1.member.value' failed to satisfy constraint: "
             "Member must not be null");
    call_err("TagUser", P("UserName", "u"), TR_E_QUERY_VALIDATION, NULL);
    call_err("TagUser", P("UserName", "ghost", "Tags.member.1.Key", "a", "Tags.member.1.Value", "b"),
             TR_E_IAM_NO_SUCH_ENTITY, "The user with name ghost cannot be found.");
    call_err("ListUserTags", P("UserName", "ghost"), TR_E_IAM_NO_SUCH_ENTITY,
             "The user with name ghost cannot be found.");

    /* 50 per request, 50 per entity. */
    const char *kv[2 * 51 * 2 + 4];
    static char keys[51][32];
    size_t n = 0;
    kv[n++] = "UserName";
    kv[n++] = "u";
    for (int i = 0; i < 51; i++) {
        static char kk[51][32], vk[51][32];
        snprintf(kk[i], sizeof kk[i], "Tags.member.%d.Key", i + 1);
        snprintf(vk[i], sizeof vk[i], "Tags.member.%d.Value", i + 1);
        snprintf(keys[i], sizeof keys[i], "k%02d", i);
        kv[n++] = kk[i];
        kv[n++] = keys[i];
        kv[n++] = vk[i];
        kv[n++] = "v";
    }
    kv[n] = NULL;
    call_err("TagUser", kv, TR_E_QUERY_VALIDATION,
             "1 validation error detected: Value at 'tags' failed to satisfy constraint: "
             "Member must have length less than or equal to 50");
    kv[n - 4] = NULL;                                  /* 50 tags */
    call_err("TagUser", kv, TR_E_IAM_LIMIT_EXCEEDED, "Cannot exceed quota for TagsPerUser: 50");
    call_ok("UntagUser", P("UserName", "u", "TagKeys.member.1", "env"));
    call_ok("TagUser", kv);
    assert_int_equal(ntags(ARN("user", "u")), 50);

    mk_role("r");
    call_ok("TagRole", P("RoleName", "r", "Tags.member.1.Key", "b", "Tags.member.1.Value", "2"));
    call_ok("ListRoleTags", P("RoleName", "r"));
    assert_true(has("<Key>b</Key><Value>2</Value>"));
    call_ok("GetRole", P("RoleName", "r"));
    assert_true(has("<Tags><member><Key>b</Key><Value>2</Value></member></Tags>"));
    call_ok("UntagRole", P("RoleName", "r", "TagKeys.member.1", "b"));
    call_ok("ListRoleTags", P("RoleName", "r"));
    assert_true(has("<Tags></Tags>"));
}

/* ---- GetAccountAuthorizationDetails ----------------------------------------------- */

static void test_account_authorization_details(void **state)
{
    (void)state;
    char pol[256];
    snprintf(pol, sizeof pol, "%s", mk_policy("mp", SIMPLE));
    call_ok("CreatePolicyVersion", P("PolicyArn", pol, "PolicyDocument", DOC(ALLOW("kms:Encrypt", "*")),
                                     "SetAsDefault", "true"));
    call_ok("CreateGroup", P("GroupName", "g"));
    call_ok("PutGroupPolicy", P("GroupName", "g", "PolicyName", "gpol", "PolicyDocument", SIMPLE));
    mk_user("u");
    call_ok("PutUserPolicy", P("UserName", "u", "PolicyName", "upol", "PolicyDocument", SIMPLE));
    call_ok("AttachUserPolicy", P("UserName", "u", "PolicyArn", pol));
    call_ok("AddUserToGroup", P("GroupName", "g", "UserName", "u"));
    mk_role("r");
    call_ok("PutRolePolicy", P("RoleName", "r", "PolicyName", "rpol", "PolicyDocument", SIMPLE));
    call_ok("AttachRolePolicy", P("RoleName", "r", "PolicyArn", pol));

    call_ok("GetAccountAuthorizationDetails", NULL);
    assert_true(strncmp(XML, "<UserDetailList><member><Path>/</Path><UserName>u</UserName>", 60) == 0);
    assert_true(has("<UserPolicyList><member><PolicyName>upol</PolicyName><PolicyDocument>%7B"));
    assert_true(has("<GroupList><member>g</member></GroupList>"));
    assert_true(has("<AttachedManagedPolicies><member><PolicyName>mp</PolicyName>"));
    assert_true(has("<GroupDetailList><member><Path>/</Path><GroupName>g</GroupName>"));
    assert_true(has("<GroupPolicyList><member><PolicyName>gpol</PolicyName>"));
    assert_true(has("<AttachedManagedPolicies></AttachedManagedPolicies></member></GroupDetailList>"));
    assert_true(has("<RoleDetailList><member><Path>/</Path><RoleName>r</RoleName>"));
    assert_true(has("<InstanceProfileList></InstanceProfileList><RolePolicyList><member><PolicyName>rpol"));
    assert_true(has("<Policies><member><PolicyName>mp</PolicyName>"));
    assert_true(has("<DefaultVersionId>v2</DefaultVersionId><AttachmentCount>2</AttachmentCount>"));
    assert_true(has("<PolicyVersionList><member><Document>%7B"));
    assert_true(has("<VersionId>v2</VersionId><IsDefaultVersion>true</IsDefaultVersion>"));
    assert_true(has("<VersionId>v1</VersionId><IsDefaultVersion>false</IsDefaultVersion>"));
    assert_string_equal(get("IsTruncated"), "false");

    call_ok("GetAccountAuthorizationDetails", P("Filter.member.1", "Role"));
    assert_true(has("<UserDetailList></UserDetailList><GroupDetailList></GroupDetailList><RoleDetailList><member>"));
    assert_true(has("<Policies></Policies>"));
    call_ok("GetAccountAuthorizationDetails", P("Filter.member.1", "AWSManagedPolicy"));
    assert_int_equal(count("<member>"), 0);
    call_err("GetAccountAuthorizationDetails", P("Filter.member.1", "Users"), TR_E_QUERY_VALIDATION, NULL);

    /* Paging across the lists: one entity per page, four pages. */
    char marker[300] = "";
    size_t pages = 0;
    static const char *const want[] = { "U:u", "G:g", "R:r", NULL };
    for (;; pages++) {
        if (marker[0]) call_ok("GetAccountAuthorizationDetails", P("MaxItems", "1", "Marker", marker));
        else call_ok("GetAccountAuthorizationDetails", P("MaxItems", "1"));
        assert_true(count("<Path>") >= 1);
        if (strcmp(get("IsTruncated"), "false") == 0) break;
        assert_non_null(want[pages]);                /* no more than the three pages */
        assert_string_equal(get("Marker"), want[pages]);
        snprintf(marker, sizeof marker, "%s", get("Marker"));
    }
    assert_int_equal(pages, 3);
    assert_true(has("<Policies><member><PolicyName>mp</PolicyName>"));
    call_err("GetAccountAuthorizationDetails", P("Marker", "garbage"), TR_E_IAM_INVALID_INPUT, NULL);
}

/* ---- authorization of IAM calls ----------------------------------------------------- */

static void test_denials_and_resources(void **state)
{
    (void)state;
    char msg[1024];
    mk_user("nobody");
    as_user("nobody");
    denied_msg(msg, sizeof msg, ARN("user", "nobody"), "iam:CreateUser", ARN("user", "x"));
    call_err("CreateUser", P("UserName", "x"), TR_E_IAM_ACCESS_DENIED, msg);
    denied_msg(msg, sizeof msg, ARN("user", "nobody"), "iam:CreateUser", ARN("user", "p/x"));
    call_err("CreateUser", P("UserName", "x", "Path", "/p/"), TR_E_IAM_ACCESS_DENIED, msg);
    denied_msg(msg, sizeof msg, ARN("user", "nobody"), "iam:ListUsers", ARN("user", ""));
    call_err("ListUsers", NULL, TR_E_IAM_ACCESS_DENIED, msg);
    denied_msg(msg, sizeof msg, ARN("user", "nobody"), "iam:ListRoles", ARN("role", "app/"));
    call_err("ListRoles", P("PathPrefix", "/app/"), TR_E_IAM_ACCESS_DENIED, msg);
    denied_msg(msg, sizeof msg, ARN("user", "nobody"), "iam:GetUser", ARN("user", "nobody"));
    call_err("GetUser", NULL, TR_E_IAM_ACCESS_DENIED, msg);
    denied_msg(msg, sizeof msg, ARN("user", "nobody"), "iam:ListAccessKeys", ARN("user", "nobody"));
    call_err("ListAccessKeys", NULL, TR_E_IAM_ACCESS_DENIED, msg);
    /* A missing target is not revealed: the denial names where it would be. */
    denied_msg(msg, sizeof msg, ARN("user", "nobody"), "iam:GetRole", ARN("role", "ghost"));
    call_err("GetRole", P("RoleName", "ghost"), TR_E_IAM_ACCESS_DENIED, msg);
    denied_msg(msg, sizeof msg, ARN("user", "nobody"), "iam:GetPolicy", ARN("policy", "ghost"));
    call_err("GetPolicy", P("PolicyArn", ARN("policy", "ghost")), TR_E_IAM_ACCESS_DENIED, msg);
    denied_msg(msg, sizeof msg, ARN("user", "nobody"), "iam:GetAccountAuthorizationDetails", "*");
    call_err("GetAccountAuthorizationDetails", NULL, TR_E_IAM_ACCESS_DENIED, msg);
    /* Existing targets are named with their path. */
    as_root(A);
    call_ok("CreateUser", P("UserName", "deep", "Path", "/staff/eng/"));
    as_user("nobody");
    denied_msg(msg, sizeof msg, ARN("user", "nobody"), "iam:DeleteUser", ARN("user", "staff/eng/deep"));
    call_err("DeleteUser", P("UserName", "deep"), TR_E_IAM_ACCESS_DENIED, msg);
    /* Validation comes before authorization. */
    call_err("CreateUser", P("UserName", "bad name"), TR_E_QUERY_VALIDATION, NULL);
    assert_false(user_exists(A, "x"));
}

static void test_policies_allow_iam_calls(void **state)
{
    (void)state;
    char msg[1024];
    mk_user_with("maker", DOC(ALLOW("iam:CreateUser", ARN("user", "app-*")) "," ALLOW("iam:GetUser", "*")));
    as_user("maker");
    call_ok("CreateUser", P("UserName", "app-1"));
    denied_msg(msg, sizeof msg, ARN("user", "maker"), "iam:CreateUser", ARN("user", "web-1"));
    call_err("CreateUser", P("UserName", "web-1"), TR_E_IAM_ACCESS_DENIED, msg);
    /* Allowed to read: a missing user is now NoSuchEntity. */
    call_err("GetUser", P("UserName", "ghost"), TR_E_IAM_NO_SUCH_ENTITY, "The user with name ghost cannot be found.");
    as_root(A);
    call_ok("PutUserPolicy", P("UserName", "maker", "PolicyName", "no", "PolicyDocument",
                               DOC(DENY("iam:CreateUser", "*"))));
    as_user("maker");
    call_err("CreateUser", P("UserName", "app-2"), TR_E_IAM_ACCESS_DENIED,
             "User: " ARN("user", "maker") " is not authorized to perform: iam:CreateUser on resource: "
             ARN("user", "app-2") " with an explicit deny in an identity-based policy");
}

static void test_condition_keys(void **state)
{
    (void)state;
    char pol[256], other[256];
    snprintf(pol, sizeof pol, "%s", mk_policy("allowed", SIMPLE));
    snprintf(other, sizeof other, "%s", mk_policy("other", SIMPLE));
    mk_user("target");
    call_ok("TagUser", P("UserName", "target", "Tags.member.1.Key", "team", "Tags.member.1.Value", "blue"));
    mk_user("plain");
    char doc[2048];
    snprintf(doc, sizeof doc, "%s", DOC(
        ALLOW_IF("iam:AttachUserPolicy", "*", "{'ArnEquals':{'iam:PolicyARN':'" ARN("policy", "allowed") "'}}") ","
        ALLOW_IF("iam:CreateUser", "*", "{'StringEquals':{'aws:RequestTag/team':'blue'},"
                                        "'ForAllValues:StringEquals':{'aws:TagKeys':['team']}}") ","
        ALLOW_IF("iam:CreateRole", "*", "{'ArnEquals':{'iam:PermissionsBoundary':'" ARN("policy", "allowed") "'}}") ","
        ALLOW_IF("iam:UntagUser", "*", "{'ForAllValues:StringEquals':{'aws:TagKeys':['team']}}") ","
        ALLOW_IF("iam:GetUser", "*", "{'StringEquals':{'aws:ResourceTag/team':'blue'}}")));
    mk_user_with("limited", doc);
    as_user("limited");
    call_ok("AttachUserPolicy", P("UserName", "plain", "PolicyArn", pol));
    call_err("AttachUserPolicy", P("UserName", "plain", "PolicyArn", other), TR_E_IAM_ACCESS_DENIED, NULL);
    call_ok("CreateUser", P("UserName", "tagged", "Tags.member.1.Key", "team", "Tags.member.1.Value", "blue"));
    call_err("CreateUser", P("UserName", "untagged"), TR_E_IAM_ACCESS_DENIED, NULL);
    call_err("CreateUser", P("UserName", "red", "Tags.member.1.Key", "team", "Tags.member.1.Value", "red"),
             TR_E_IAM_ACCESS_DENIED, NULL);
    call_err("CreateUser", P("UserName", "extra", "Tags.member.1.Key", "team", "Tags.member.1.Value", "blue",
                             "Tags.member.2.Key", "cost", "Tags.member.2.Value", "1"), TR_E_IAM_ACCESS_DENIED, NULL);
    call_ok("CreateRole", P("RoleName", "rb", "AssumeRolePolicyDocument", TRUST(A), "PermissionsBoundary", pol));
    call_err("CreateRole", P("RoleName", "rn", "AssumeRolePolicyDocument", TRUST(A)), TR_E_IAM_ACCESS_DENIED, NULL);
    call_ok("UntagUser", P("UserName", "target", "TagKeys.member.1", "team"));
    call_err("UntagUser", P("UserName", "target", "TagKeys.member.1", "cost"), TR_E_IAM_ACCESS_DENIED, NULL);
    call_ok("GetUser", P("UserName", "tagged"));
    call_err("GetUser", P("UserName", "plain"), TR_E_IAM_ACCESS_DENIED, NULL);
    /* The boundary of the target is iam:PermissionsBoundary on policy calls. */
    as_root(A);
    call_ok("PutUserPermissionsBoundary", P("UserName", "plain", "PermissionsBoundary", pol));
    call_ok("PutUserPolicy", P("UserName", "limited", "PolicyName", "put", "PolicyDocument",
        DOC(ALLOW_IF("iam:PutUserPolicy", "*", "{'ArnEquals':{'iam:PermissionsBoundary':'"
                                               ARN("policy", "allowed") "'}}"))));
    as_user("limited");
    call_ok("PutUserPolicy", P("UserName", "plain", "PolicyName", "p", "PolicyDocument", SIMPLE));
    call_err("PutUserPolicy", P("UserName", "tagged", "PolicyName", "p", "PolicyDocument", SIMPLE),
             TR_E_IAM_ACCESS_DENIED, NULL);
}

static void test_rename_needs_both_arns(void **state)
{
    (void)state;
    mk_user_with("mover", DOC(ALLOW("iam:UpdateUser", ARN("user", "old-*"))));
    mk_user("old-1");
    as_user("mover");
    call_err("UpdateUser", P("UserName", "old-1", "NewUserName", "new-1"), TR_E_IAM_ACCESS_DENIED,
             "User: " ARN("user", "mover") " is not authorized to perform: iam:UpdateUser on resource: "
             ARN("user", "new-1") " because no identity-based policy allows the iam:UpdateUser action");
    assert_true(user_exists(A, "old-1"));
    call_ok("UpdateUser", P("UserName", "old-1", "NewUserName", "old-2"));
    assert_true(user_exists(A, "old-2"));
}

static void test_failed_write_leaves_nothing(void **state)
{
    (void)state;
    /* CreateUser with a boundary that does not exist fails after
     * authorization: no user, no relation, no tags. */
    call_err("CreateUser", P("UserName", "half", "PermissionsBoundary", ARN("policy", "nope"),
                             "Tags.member.1.Key", "k", "Tags.member.1.Value", "v"), TR_E_IAM_NO_SUCH_ENTITY, NULL);
    assert_false(user_exists(A, "half"));
    assert_int_equal(ntags(ARN("user", "half")), 0);
    /* A failed rename leaves the user where it was. */
    mk_user("stay");
    mk_user("there");
    call_err("UpdateUser", P("UserName", "stay", "NewUserName", "THERE"), TR_E_IAM_ENTITY_EXISTS, NULL);
    assert_true(user_exists(A, "stay"));
    call_ok("ListUsers", NULL);
    assert_int_equal(count("<member>"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_op_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_service_linked_role_protected_and_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_user_shape_and_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_user_path_tags_and_special_names, setup, teardown),
        cmocka_unit_test(test_form_parse_utf8),
        cmocka_unit_test(test_form_parse_request),
        cmocka_unit_test(test_xml_text_is_always_well_formed),
        cmocka_unit_test_setup_teardown(test_create_user_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_user_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_users_paging_and_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_user_conflicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_user_moves_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_key_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_keys_of_the_caller, setup, teardown),
        cmocka_unit_test_setup_teardown(test_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_groups_per_user_quota, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_and_get_role, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_trust_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_and_delete_role, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_and_get_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_documents_are_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_policies_and_entities, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attachments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inline_policies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_permissions_boundaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_authorization_details, setup, teardown),
        cmocka_unit_test_setup_teardown(test_denials_and_resources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policies_allow_iam_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_condition_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_needs_both_arns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_instance_profile_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_summary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_profile_record, setup, teardown),
    };
    return cmocka_run_group_tests_name("iam", tests, NULL, NULL);
}
