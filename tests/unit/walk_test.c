/*
 * walk_test.c -- store/walk.c: every key and every access key of an
 * in-memory store visited once, in order, across page boundaries (none,
 * one short page, exactly a page, several pages); a callback may write
 * its record back; the first failure, the callback's or the listing's,
 * stops the walk and is its result.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/walk.h"

#define OK(x) assert_int_equal(tr_code(x), TR_E_OK)
#define CALL(st, fn, ...) ((*(st))->fn((st), __VA_ARGS__))
#define ACCT "111122223333"

static int setup(void **state)
{
    store_t st = NULL;
    if (tr_failed(store_sqlite_open_memory(&st))) return -1;
    *state = (void *)st;
    return 0;
}

static int teardown(void **state)
{
    store_t st = *state;
    st[0]->close(st);
    return 0;
}

/* A key id (and an access key id) whose order follows i. */
static void key_id_of(size_t i, char out[37])
{
    snprintf(out, 37, "%08u-0000-4000-8000-000000000000", (unsigned)(i % 100000000u));
}

static void access_key_id_of(size_t i, char out[33])
{
    snprintf(out, 33, "AKIA%016u", (unsigned)(i % 100000000u));
}

static void put_keys(store_t st, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char arn[128];
        struct key_rec k = { .created = 1700000000, .rotation_period_days = 365, .current_material = 1 };
        key_id_of(i, k.key_id);
        snprintf(k.account_id, sizeof k.account_id, ACCT);
        snprintf(k.region, sizeof k.region, "us-east-1");
        snprintf(arn, sizeof arn, "arn:aws:kms:us-east-1:" ACCT ":key/%s", k.key_id);
        k.arn = arn;
        k.description = (char *)"";
        k.policy = (char *)"{}";
        snprintf(k.key_state, sizeof k.key_state, "%s", KEY_STATE_ENABLED);
        snprintf(k.key_usage, sizeof k.key_usage, "ENCRYPT_DECRYPT");
        snprintf(k.key_spec, sizeof k.key_spec, "SYMMETRIC_DEFAULT");
        snprintf(k.origin, sizeof k.origin, "AWS_KMS");
        snprintf(k.key_manager, sizeof k.key_manager, "CUSTOMER");
        OK(CALL(st, key_put, &k));
    }
}

static void put_access_keys(store_t st, size_t n)
{
    static const uint8_t wrapped[40] = { 1, 2, 3 };
    for (size_t i = 0; i < n; i++) {
        struct access_key_rec k = {
            .principal_type = PRINCIPAL_USER,
            .principal_arn = (char *)"arn:aws:iam::" ACCT ":user/alice",
            .principal_id = (char *)"AIDAEXAMPLEALICE",
            .active = true,
            .created = 1700000000,
            .wrapped_secret = buf_view(wrapped, sizeof wrapped),
        };
        access_key_id_of(i, k.access_key_id);
        snprintf(k.account_id, sizeof k.account_id, ACCT);
        OK(CALL(st, access_key_put, &k));
    }
}

/* What a walk saw: how many records, whether each followed the one
 * before in order, and where to fail (SIZE_MAX: never). */
struct seen {
    size_t n, fail_at;
    char last[40];
    bool in_order;
    bool write_back;
};

static TR_RESULT on_key(store_t st, struct key_rec *k, void *arg)
{
    struct seen *s = arg;
    char want[37];
    key_id_of(s->n, want);
    if (strcmp(k->key_id, want) != 0) s->in_order = false;
    if (s->n++ == s->fail_at) BAIL(TR_E_VALIDATION, "stop at %s", k->key_id);
    if (s->write_back) {
        /* The record is the walk's to change: a write keeps its id, and
         * so the cursor. */
        free(k->description);
        k->description = strdup("walked");
        if (!k->description) BAIL0(TR_E_INTERNAL);
        return CALL(st, key_update, k);
    }
    return TR_OK;
}

static TR_RESULT on_access_key(store_t st, struct access_key_rec *k, void *arg)
{
    struct seen *s = arg;
    char want[33];
    (void)st;
    access_key_id_of(s->n, want);
    if (strcmp(k->access_key_id, want) != 0) s->in_order = false;
    if (s->n++ == s->fail_at) BAIL(TR_E_VALIDATION, "stop at %s", k->access_key_id);
    return TR_OK;
}

static void walk_keys_of(size_t count)
{
    store_t st = NULL;
    OK(store_sqlite_open_memory(&st));
    put_keys(st, count);
    struct seen s = { .fail_at = SIZE_MAX, .in_order = true };
    OK(store_each_key(st, on_key, &s));
    assert_int_equal(s.n, count);
    assert_true(s.in_order);
    st[0]->close(st);
}

/* None, a short page, exactly one page (the next, empty page ends it),
 * a page and one, several pages. */
static void test_every_key_once_in_order(void **state)
{
    (void)state;
    static const size_t counts[] = { 0, 1, STORE_WALK_PAGE - 1, STORE_WALK_PAGE, STORE_WALK_PAGE + 1,
                                     2 * STORE_WALK_PAGE + 7 };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) walk_keys_of(counts[i]);
}

static void test_every_access_key_once_in_order(void **state)
{
    store_t st = *state;
    put_access_keys(st, STORE_WALK_PAGE + 3);
    struct seen s = { .fail_at = SIZE_MAX, .in_order = true };
    OK(store_each_access_key(st, on_access_key, &s));
    assert_int_equal(s.n, STORE_WALK_PAGE + 3);
    assert_true(s.in_order);
}

/* The callback's failure ends the walk there, on any page. */
static void test_callback_failure_stops(void **state)
{
    store_t st = *state;
    put_keys(st, STORE_WALK_PAGE + 10);
    put_access_keys(st, STORE_WALK_PAGE + 10);
    static const size_t stops[] = { 0, STORE_WALK_PAGE - 1, STORE_WALK_PAGE, STORE_WALK_PAGE + 9 };
    for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++) {
        struct seen s = { .fail_at = stops[i], .in_order = true };
        assert_int_equal(tr_code(store_each_key(st, on_key, &s)), TR_E_VALIDATION);
        assert_int_equal(s.n, stops[i] + 1);
        struct seen a = { .fail_at = stops[i], .in_order = true };
        assert_int_equal(tr_code(store_each_access_key(st, on_access_key, &a)), TR_E_VALIDATION);
        assert_int_equal(a.n, stops[i] + 1);
        tr_clear_error();
    }
}

/* A callback that writes its record back sees every record once. */
static void test_write_back(void **state)
{
    store_t st = *state;
    put_keys(st, STORE_WALK_PAGE + 5);
    struct seen s = { .fail_at = SIZE_MAX, .in_order = true, .write_back = true };
    OK(store_each_key(st, on_key, &s));
    assert_int_equal(s.n, STORE_WALK_PAGE + 5);
    assert_true(s.in_order);
    char id[37];
    struct key_rec k;
    memset(&k, 0, sizeof k);
    key_id_of(STORE_WALK_PAGE + 4, id);
    OK(CALL(st, key_get, id, "us-east-1", &k));
    assert_string_equal(k.description, "walked");
    key_rec_free(&k);
}

/* A listing that fails: its error, and no record reaches the callback. */
static TR_RESULT broken_key_list(const struct store_class **st, const char *after,
                                 const char *after_region, size_t limit,
                                 struct key_rec **out, size_t *n)
{
    (void)st, (void)after, (void)after_region, (void)limit;
    *out = NULL;
    *n = 0;
    BAIL(TR_E_STORE_IO, "the disk is gone");
}

static TR_RESULT broken_access_key_list(const struct store_class **st, const char *after, size_t limit,
                                        struct access_key_rec **out, size_t *n)
{
    (void)st, (void)after, (void)limit;
    *out = NULL;
    *n = 0;
    BAIL(TR_E_STORE_IO, "the disk is gone");
}

static void test_listing_failure(void **state)
{
    (void)state;
    static const struct store_class broken = { .key_list_all = broken_key_list,
                                               .access_key_list_all = broken_access_key_list };
    const struct store_class *p = &broken;
    struct seen s = { .fail_at = SIZE_MAX, .in_order = true };
    assert_int_equal(tr_code(store_each_key(&p, on_key, &s)), TR_E_STORE_IO);
    assert_int_equal(tr_code(store_each_access_key(&p, on_access_key, &s)), TR_E_STORE_IO);
    assert_int_equal(s.n, 0);
    assert_int_equal(tr_code(store_each_key(&p, NULL, &s)), TR_E_INTERNAL);
    tr_clear_error();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_key_once_in_order),
        cmocka_unit_test_setup_teardown(test_every_access_key_once_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callback_failure_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_back, setup, teardown),
        cmocka_unit_test(test_listing_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
