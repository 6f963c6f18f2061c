/*
 * key_last_used_test.c -- GetAccessKeyLastUsed's table
 * (src/auth/key_last_used.c): a note is kept to the minute, the newest
 * wins, the table is bounded (a full window drops its oldest entry,
 * counted), and the store: a flush writes each entry and takes it out of
 * the table, keeps a newer stored record, drops a deleted key's entry,
 * ignores a record that is not one; forget.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/key_last_used.h"
#include "store/store.h"

#define ACCT "111122223333"
#define AKID "AKIAKEYLASTUSEDTEST1"
#define NOW 1700000040               /* a whole minute */

static int reset(void **state)
{
    (void)state;
    key_used_reset();
    return 0;
}

static void test_minute_and_newest(void **state)
{
    struct key_used u;
    store_t st = *state;
    assert_true(tr_ok(key_used_get(st, AKID, &u)));
    assert_int_equal(u.ts, 0);                               /* never used */
    key_used_note(AKID, NOW + 59, "kms", "us-east-1");
    assert_true(tr_ok(key_used_get(st, AKID, &u)));
    assert_int_equal(u.ts, NOW);                             /* the minute */
    assert_string_equal(u.service, "kms");
    assert_string_equal(u.region, "us-east-1");
    key_used_note(AKID, NOW + 61, "iam", "eu-west-1");
    key_used_note(AKID, NOW - 120, "sts", "us-east-1");     /* older: ignored */
    assert_true(tr_ok(key_used_get(st, AKID, &u)));
    assert_int_equal(u.ts, NOW + 60);
    assert_string_equal(u.service, "iam");
    assert_string_equal(u.region, "eu-west-1");
    assert_int_equal(key_used_pending(), 1);
}

static void test_bounded(void **state)
{
    (void)state;
    char id[33];
    for (unsigned i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "AKIA%016u", i);
        key_used_note(id, NOW + i, "kms", "us-east-1");
    }
    assert_true(key_used_pending() <= 1024);
    assert_true(key_used_dropped() >= 5000 - 1024);
    assert_int_equal(key_used_pending() + key_used_dropped(), 5000);
    /* Too long a key id is refused, not truncated. */
    key_used_reset();
    key_used_note("AKIA0123456789012345678901234567890", NOW, "kms", "us-east-1");
    assert_int_equal(key_used_pending(), 0);
}

/* ---- the store ------------------------------------------------------------ */

static int store_setup(void **state)
{
    store_t st = NULL;
    key_used_reset();
    char arn[] = "arn:aws:iam::" ACCT ":user/alice", id[] = "AIDAALICE";
    struct access_key_rec k = { .access_key_id = AKID, .account_id = ACCT,
                                .principal_type = PRINCIPAL_USER, .principal_arn = arn,
                                .principal_id = id, .active = true, .created = NOW };
    if (tr_failed(store_sqlite_open_memory(&st))) return -1;
    if (tr_failed(st[0]->tx_begin(st)) || tr_failed(st[0]->access_key_put(st, &k)) ||
        tr_failed(st[0]->tx_commit(st))) {
        st[0]->close(st);
        return -1;
    }
    *state = st;
    return 0;
}

static int store_teardown(void **state)
{
    store_t st = *state;
    if (st) st[0]->close(st);
    key_used_reset();
    return 0;
}

static char *stored_doc(store_t st, const char *akid)
{
    struct ent_rec e;
    char *doc = NULL;
    memset(&e, 0, sizeof e);
    if (tr_ok(st[0]->ent_get_arn(st, "iam-key-used", akid, &e))) {
        doc = strdup(e.doc);
        ent_rec_free(&e);
    } else {
        tr_clear_error();
    }
    return doc;
}

static void test_flush_and_get(void **state)
{
    store_t st = *state;
    struct key_used u;
    size_t written = 0;
    key_used_note(AKID, NOW + 5, "secretsmanager", "us-east-1");
    assert_true(tr_ok(key_used_flush(st, &written)));
    assert_int_equal(written, 1);
    assert_int_equal(key_used_pending(), 0);                /* written: out of the table */
    char *doc = stored_doc(st, AKID);
    assert_non_null(doc);
    assert_string_equal(doc, "{\"region\":\"us-east-1\",\"service\":\"secretsmanager\",\"ts\":1700000040}");
    free(doc);
    assert_true(tr_ok(key_used_get(st, AKID, &u)));          /* from the store */
    assert_int_equal(u.ts, NOW);
    assert_string_equal(u.service, "secretsmanager");

    /* A newer use replaces it; an older one (another node wrote a newer
     * record) does not, and is taken out all the same. */
    key_used_note(AKID, NOW + 60, "kms", "us-east-1");
    assert_true(tr_ok(key_used_flush(st, &written)));
    key_used_note(AKID, NOW - 60, "iam", "us-east-1");
    assert_true(tr_ok(key_used_flush(st, &written)));
    assert_int_equal(key_used_pending(), 0);
    assert_true(tr_ok(key_used_get(st, AKID, &u)));
    assert_int_equal(u.ts, NOW + 60);
    assert_string_equal(u.service, "kms");
    /* Nothing to write: nothing written. */
    assert_true(tr_ok(key_used_flush(st, &written)));
    assert_int_equal(written, 0);
}

static void test_flush_drops_deleted_keys(void **state)
{
    store_t st = *state;
    size_t written;
    key_used_note("AKIANOSUCHKEY0000000", NOW, "kms", "us-east-1");
    assert_true(tr_ok(key_used_flush(st, &written)));
    assert_int_equal(key_used_pending(), 0);
    assert_null(stored_doc(st, "AKIANOSUCHKEY0000000"));
}

static void test_bad_record_ignored(void **state)
{
    store_t st = *state;
    struct key_used u;
    static const char *const bad[] = {
        "not json", "[]", "{}", "{\"ts\":\"1\",\"service\":\"kms\",\"region\":\"r\"}",
        "{\"ts\":1,\"service\":\"kms\"}", "{\"ts\":1,\"service\":2,\"region\":\"r\"}",
    };
    char path[] = "/", akid[] = AKID;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *doc = strdup(bad[i]);
        struct ent_rec e = { .kind = "iam-key-used", .account_id = ACCT, .name = akid, .id = akid,
                             .arn = akid, .path = path, .doc = doc, .created = NOW };
        assert_true(tr_ok(st[0]->tx_begin(st)));
        tr_result r = i == 0 ? st[0]->ent_put(st, &e) : st[0]->ent_update(st, &e);
        assert_true(tr_ok(r));
        assert_true(tr_ok(st[0]->tx_commit(st)));
        free(doc);
        assert_true(tr_ok(key_used_get(st, AKID, &u)));
        assert_int_equal(u.ts, 0);                           /* as never used */
    }
    /* A flush overwrites it with a record. */
    size_t written;
    key_used_note(AKID, NOW, "kms", "us-east-1");
    assert_true(tr_ok(key_used_flush(st, &written)));
    assert_true(tr_ok(key_used_get(st, AKID, &u)));
    assert_int_equal(u.ts, NOW);
}

static void test_forget(void **state)
{
    store_t st = *state;
    struct key_used u;
    size_t written;
    key_used_note(AKID, NOW, "kms", "us-east-1");
    assert_true(tr_ok(key_used_flush(st, &written)));
    key_used_note(AKID, NOW + 60, "iam", "us-east-1");
    assert_true(tr_ok(st[0]->tx_begin(st)));
    assert_true(tr_ok(key_used_forget(st, AKID)));
    assert_true(tr_ok(st[0]->tx_commit(st)));
    assert_int_equal(key_used_pending(), 0);
    assert_null(stored_doc(st, AKID));
    assert_true(tr_ok(key_used_get(st, AKID, &u)));
    assert_int_equal(u.ts, 0);
    assert_true(tr_ok(key_used_forget(st, AKID)));          /* nothing left: fine */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_minute_and_newest, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_bounded, reset, reset),
        cmocka_unit_test_setup_teardown(test_flush_and_get, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_flush_drops_deleted_keys, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_bad_record_ignored, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_forget, store_setup, store_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
