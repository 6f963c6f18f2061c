/*
 * bindings_test.c -- principals bound by identity (src/iam/bindings.c):
 * the binding made when a policy is saved, how a stored policy reads back
 * (as saved; the id of a deleted principal; the ARN of a renamed one),
 * the check of a stored binding, and the pass that binds what an older
 * tresor saved (keys, roles, secrets, grants), over an in-memory store.
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

#include "iam/bindings.h"
#include "store/store.h"

#define ACCT "111122223333"
#define U_ALICE "arn:aws:iam::" ACCT ":user/alice"
#define U_BOB "arn:aws:iam::" ACCT ":user/team/bob"
#define R_APP "arn:aws:iam::" ACCT ":role/App"
#define ID_ALICE "AIDAALICE00000000001"
#define ID_BOB "AIDABOB0000000000001"
#define ID_APP "AROAAPP0000000000001"

static store_t st;

static void ok(tr_result r)
{
    if (tr_failed(r)) print_error("failed: %s\n", tr_last_error()->message);
    assert_true(tr_ok(r));
}

static void put_ent(const char *kind, const char *name, const char *path, const char *id,
                    const char *arn, const char *doc)
{
    struct ent_rec e = { .name = (char *)name, .id = (char *)id, .arn = (char *)arn,
                         .path = (char *)path, .doc = (char *)doc, .created = 1 };
    snprintf(e.kind, sizeof e.kind, "%s", kind);
    snprintf(e.account_id, sizeof e.account_id, ACCT);
    ok(st[0]->ent_put(st, &e));
}

static int setup(void **state)
{
    (void)state;
    if (tr_failed(store_sqlite_open_memory(&st))) return -1;
    struct account_rec a = { .id = ACCT, .created = 1 };
    if (tr_failed(st[0]->account_put(st, &a))) return -1;
    put_ent("user", "alice", "/", ID_ALICE, U_ALICE, "{}");
    put_ent("user", "bob", "/team/", ID_BOB, U_BOB, "{}");
    put_ent("role", "App", "/", ID_APP, R_APP, "{\"trust\":\"{}\"}");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    st[0]->close(st);
    return 0;
}

#define KEY_POLICY "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"" U_ALICE "\",\"" \
    R_APP "\",\"" ACCT "\",\"arn:aws:sts::" ACCT ":assumed-role/App/s\"]},\"Action\":\"kms:*\"," \
    "\"Resource\":\"*\"},{\"Effect\":\"Deny\",\"Principal\":{\"AWS\":\"" U_BOB "\"},\"Action\":" \
    "\"kms:Decrypt\",\"Resource\":\"*\"}]}"

static void test_bind_policy(void **state)
{
    (void)state;
    char *ids = NULL;
    ok(iam_bind_policy(st, KEY_POLICY, POLICY_KEY, &ids));
    assert_string_equal(ids, "{\"" R_APP "\":\"" ID_APP "\",\"" U_ALICE "\":\"" ID_ALICE "\",\""
                             U_BOB "\":\"" ID_BOB "\"}");
    const char *why;
    assert_true(iam_binding_valid(KEY_POLICY, POLICY_KEY, ids, &why));
    free(ids);

    /* Nothing named: an empty binding, not none. */
    ok(iam_bind_policy(st, "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:*\","
                           "\"Resource\":\"*\"}}", POLICY_KEY, &ids));
    assert_string_equal(ids, "{}");
    free(ids);

    char *id = NULL;
    ok(iam_bind_principal(st, U_BOB, &id));
    assert_string_equal(id, ID_BOB);
    free(id);
    ok(iam_bind_principal(st, "arn:aws:iam::" ACCT ":user/nobody", &id));
    assert_null(id);
    ok(iam_bind_principal(st, "arn:aws:sts::" ACCT ":assumed-role/App/s", &id));
    assert_null(id);
    ok(iam_bind_principal(st, ACCT, &id));
    assert_null(id);
}

static void test_binding_valid(void **state)
{
    (void)state;
    const char *why;
    assert_false(iam_binding_valid(KEY_POLICY, POLICY_KEY, "[]", &why));
    assert_false(iam_binding_valid(KEY_POLICY, POLICY_KEY, "{\"" U_ALICE "\":\"AROAX\"}", &why));
    assert_false(iam_binding_valid(KEY_POLICY, POLICY_KEY, "{\"" R_APP "\":\"AIDAX\"}", &why));
    assert_false(iam_binding_valid(KEY_POLICY, POLICY_KEY,
                                   "{\"arn:aws:iam::" ACCT ":user/carol\":\"AIDAX\"}", &why));
    assert_string_equal(why, "it binds an ARN the policy does not name");
    assert_true(iam_binding_valid(KEY_POLICY, POLICY_KEY, "{}", &why));
}

static void test_policy_shown(void **state)
{
    (void)state;
    char *ids = NULL, *shown = NULL;
    ok(iam_bind_policy(st, KEY_POLICY, POLICY_KEY, &ids));
    /* Everyone still there: as saved. */
    ok(iam_policy_shown(st, KEY_POLICY, ids, &shown));
    assert_null(shown);
    ok(iam_policy_shown(st, KEY_POLICY, NULL, &shown));
    assert_null(shown);

    /* alice deleted, bob renamed (same id, another ARN), a new alice: the
     * deleted one reads as her id, bob as his ARN now. */
    ok(st[0]->ent_delete(st, "user", U_ALICE));
    ok(st[0]->ent_delete(st, "user", U_BOB));
    put_ent("user", "robert", "/", ID_BOB, "arn:aws:iam::" ACCT ":user/robert", "{}");
    put_ent("user", "alice", "/", "AIDAALICE00000000002", U_ALICE, "{}");
    ok(iam_policy_shown(st, KEY_POLICY, ids, &shown));
    assert_non_null(shown);
    json_t *d = json_loads(shown, 0, NULL);
    json_t *st0 = json_array_get(json_object_get(d, "Statement"), 0);
    json_t *aws = json_object_get(json_object_get(st0, "Principal"), "AWS");
    assert_string_equal(json_string_value(json_array_get(aws, 0)), ID_ALICE);
    assert_string_equal(json_string_value(json_array_get(aws, 1)), R_APP);
    assert_string_equal(json_string_value(json_array_get(aws, 2)), ACCT);
    json_t *st1 = json_array_get(json_object_get(d, "Statement"), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(st1, "Principal"), "AWS")),
                        "arn:aws:iam::" ACCT ":user/robert");
    json_decref(d);
    free(shown);
    free(ids);
}

/* What an older tresor saved: bound at the next start, once. */
static void test_bind_stored(void **state)
{
    (void)state;
    struct key_rec k = { .key_id = "11111111-2222-3333-4444-555555555555", .account_id = ACCT,
                         .region = "us-east-1", .key_state = "Enabled", .key_usage = "ENCRYPT_DECRYPT",
                         .key_spec = "SYMMETRIC_DEFAULT", .origin = "AWS_KMS", .key_manager = "CUSTOMER",
                         .current_material = 1 };
    k.arn = "arn:aws:kms:us-east-1:" ACCT ":key/11111111-2222-3333-4444-555555555555";
    k.description = "";
    k.policy = KEY_POLICY;
    ok(st[0]->key_put(st, &k));
    json_t *trust = json_pack("{s:s}", "trust", "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":"
                              "{\"AWS\":\"" U_ALICE "\"},\"Action\":\"sts:AssumeRole\"}]}");
    char *tdoc = json_dumps(trust, JSON_COMPACT);
    put_ent("role", "Old", "/", "AROAOLD0000000000001", "arn:aws:iam::" ACCT ":role/Old", tdoc);
    free(tdoc);
    json_decref(trust);
    struct rel_rec g = { .kind = "grant", .from = k.arn, .to = "abc",
                         .doc = "{\"grantee\":\"" U_BOB "\",\"retiring\":\"" ACCT "\"}" };
    ok(st[0]->rel_put(st, &g));

    size_t n = 0;
    ok(iam_bind_stored(st, &n));
    assert_int_equal(n, 3);
    struct key_rec got = { 0 };
    ok(st[0]->key_get(st, k.key_id, k.region, &got));
    assert_non_null(strstr(got.policy_ids, "\"" U_ALICE "\":\"" ID_ALICE "\""));
    key_rec_free(&got);
    struct ent_rec e = { 0 };
    ok(st[0]->ent_get(st, "role", ACCT, "Old", &e));
    json_t *d = json_loads(e.doc, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(d, "trust_ids")),
                        "{\"" U_ALICE "\":\"" ID_ALICE "\"}");
    json_decref(d);
    ent_rec_free(&e);
    struct rel_rec r = { 0 };
    ok(st[0]->rel_get(st, "grant", k.arn, "abc", &r));
    d = json_loads(r.doc, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(d, "grantee_id")), ID_BOB);
    assert_null(json_object_get(d, "retiring_id"));          /* an account: not bound */
    json_decref(d);
    rel_rec_free(&r);
    /* Done: a second pass binds nothing. */
    ok(iam_bind_stored(st, &n));
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bind_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binding_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_shown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bind_stored, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
