/*
 * snapshot_store_test.c -- loading snapshots into a store
 * (src/analyze/snapshot_store.c): the hand-made fixtures of
 * tests/data/snapshots become the records the server keeps (entities,
 * relations, keys, aliases, secrets with their versions' key), with
 * policies bound to the snapshot's unique ids; two snapshots of one account
 * are refused and leave nothing behind; a key whose policy the snapshot
 * lacks gets one that allows nothing; one secret loaded alone; which gaps
 * touch an answer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/snapshot.h"
#include "core/errors.h"
#include "crypto/hash.h"
#include "secrets/secrets.h"

#define FIXTURE_A TR_TESTDATA_DIR "/snapshots/aws-cli-111111111111.json"
#define FIXTURE_B TR_TESTDATA_DIR "/snapshots/aws-cli-222222222222.json"

static void load_pair(struct snapshot s[2], store_t *st)
{
    assert_true(tr_ok(crypto_init()));
    assert_true(tr_ok(snapshot_load(FIXTURE_A, &s[0])));
    assert_true(tr_ok(snapshot_load(FIXTURE_B, &s[1])));
    assert_true(tr_ok(store_sqlite_open_memory(st)));
    assert_true(tr_ok(snapshot_store_load(*st, s, 2, NULL)));
}

static void records_as_the_server_keeps_them(void **state)
{
    (void)state;
    struct snapshot s[2];
    store_t st;
    load_pair(s, &st);
    struct account_rec *a = NULL;
    size_t na = 0;
    assert_true(tr_ok(st[0]->account_list(st, &a, &na)));
    assert_int_equal(na, 2);
    free(a);
    /* A role with its trust policy, bound to the snapshot's ids. */
    struct ent_rec e;
    assert_true(tr_ok(st[0]->ent_get(st, "role", "111111111111", "ci-deploy", &e)));
    json_t *d = json_loads(e.doc, 0, NULL);
    assert_non_null(json_string_value(json_object_get(d, "trust")));
    assert_non_null(json_string_value(json_object_get(d, "trust_ids")));
    json_decref(d);
    ent_rec_free(&e);
    /* A secret whose current version is sealed under its KmsKeyId. */
    struct rel_rec *v = NULL;
    size_t nv = 0;
    assert_true(tr_ok(st[0]->rel_list_from(
        st, SM_VER_KIND, "arn:aws:secretsmanager:us-west-2:111111111111:secret:app/db-AbCdEf",
        NULL, 10, &v, &nv)));
    assert_int_equal(nv, 1);
    assert_non_null(strstr(v[0].doc, "AWSCURRENT"));
    assert_non_null(strstr(v[0].doc, "\"key_arn\":\"arn:aws:kms:us-west-2:111111111111:key/"
                                     "1234abcd-12ab-34cd-56ef-1234567890ab\""));
    rel_list_free(v, nv);
    struct key_rec k;
    assert_true(tr_ok(st[0]->key_get(st, "1234abcd-12ab-34cd-56ef-1234567890ab", "us-west-2", &k)));
    assert_string_equal(k.account_id, "111111111111");
    assert_string_equal(k.key_state, "Enabled");
    assert_non_null(strstr(k.policy, "Enable IAM User Permissions"));
    key_rec_free(&k);
    st[0]->close(st);
    snapshot_free(&s[0]);
    snapshot_free(&s[1]);
}

static void a_missing_key_policy_allows_nothing(void **state)
{
    (void)state;
    struct snapshot s[2];
    store_t st;
    load_pair(s, &st);
    struct key_rec k;
    /* The manifest lists GetKeyPolicy on this key as refused. */
    tr_result r = st[0]->key_get(st, "0987dcba-09fe-87dc-65ba-ab0987654321", "us-west-2", &k);
    if (tr_ok(r)) {
        assert_non_null(strstr(k.policy, "\"Sid\":\"TresorSnapshotGapKeyPolicyNotRead\""));
        assert_non_null(strstr(k.policy, "\"Null\":{\"aws:PrincipalArn\":\"true\"}"));
        key_rec_free(&k);
    } else {
        assert_int_equal(tr_code(r), TR_E_STORE_NOT_FOUND);   /* no DescribeKey either */
    }
    st[0]->close(st);
    snapshot_free(&s[0]);
    snapshot_free(&s[1]);
}

static void one_account_twice_is_refused(void **state)
{
    (void)state;
    struct snapshot s[2];
    store_t st;
    assert_true(tr_ok(crypto_init()));
    assert_true(tr_ok(snapshot_load(FIXTURE_A, &s[0])));
    assert_true(tr_ok(snapshot_load(FIXTURE_A, &s[1])));
    assert_true(tr_ok(store_sqlite_open_memory(&st)));
    tr_result r = snapshot_store_load(st, s, 2, NULL);
    assert_true(tr_failed(r));
    assert_int_equal(tr_code(r), TR_E_VALIDATION);
    assert_non_null(strstr(tr_last_error()->message, "account 111111111111 is in two snapshots"));
    /* Nothing of either is left. */
    struct account_rec *a = NULL;
    size_t na = 0;
    assert_true(tr_ok(st[0]->account_list(st, &a, &na)));
    assert_int_equal(na, 0);
    free(a);
    st[0]->close(st);
    snapshot_free(&s[0]);
    snapshot_free(&s[1]);
}

/* only_secret: that secret alone (by name or ARN), everything else whole. */
static void one_secret_alone(void **state)
{
    (void)state;
    const char *only[] = { "app/db", "arn:aws:secretsmanager:us-west-2:111111111111:secret:app/db-AbCdEf" };
    for (size_t i = 0; i < 2; i++) {
        struct snapshot s[1];
        store_t st;
        assert_true(tr_ok(crypto_init()));
        assert_true(tr_ok(snapshot_load(FIXTURE_A, &s[0])));
        assert_true(tr_ok(store_sqlite_open_memory(&st)));
        assert_true(tr_ok(snapshot_store_load(st, s, 1, only[i])));
        struct ent_rec *v = NULL;
        size_t nv = 0;
        assert_true(tr_ok(st[0]->ent_list(st, "secret", "111111111111", NULL, NULL, 100, &v, &nv)));
        assert_int_equal(nv, 1);
        assert_string_equal(v[0].arn, only[1]);
        ent_list_free(v, nv);
        assert_true(tr_ok(st[0]->ent_list(st, "role", "111111111111", NULL, NULL, 100, &v, &nv)));
        assert_int_equal(nv, s[0].nroles);
        ent_list_free(v, nv);
        st[0]->close(st);
        snapshot_free(&s[0]);
    }
}

static void which_gaps_touch_an_answer(void **state)
{
    (void)state;
    const char *names[2] = { "arn:aws:kms:us-west-2:111111111111:key/k1", "k1" };
    struct snap_gap listed_key = { .what = "kms GetKeyPolicy ...", .listed = 1,
                                   .operation = "GetKeyPolicy",
                                   .resource = "arn:aws:kms:us-west-2:111111111111:key/k1" };
    struct snap_gap other_key = { .what = "kms GetKeyPolicy ...", .listed = 1,
                                  .operation = "GetKeyPolicy",
                                  .resource = "arn:aws:kms:us-west-2:111111111111:key/k2" };
    struct snap_gap iam = { .what = "iam GetAccountAuthorizationDetails: not in the snapshot" };
    struct snap_gap found = { .what = "kms us-west-2 key k1: GetKeyPolicy not in the snapshot" };
    struct snap_gap found_other = { .what = "kms us-west-2 key k2: ListGrants not in the snapshot" };
    struct snap_gap wide = { .what = "iam GetAccountAuthorizationDetails", .listed = 1,
                             .operation = "GetAccountAuthorizationDetails" };
    assert_true(snapshot_gap_touches(&listed_key, names, 2));
    assert_false(snapshot_gap_touches(&other_key, names, 2));
    assert_true(snapshot_gap_touches(&iam, names, 2));
    assert_true(snapshot_gap_touches(&found, names, 2));
    assert_false(snapshot_gap_touches(&found_other, names, 2));
    assert_true(snapshot_gap_touches(&wide, names, 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(records_as_the_server_keeps_them),
        cmocka_unit_test(a_missing_key_policy_allows_nothing),
        cmocka_unit_test(one_account_twice_is_refused),
        cmocka_unit_test(one_secret_alone),
        cmocka_unit_test(which_gaps_touch_an_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
