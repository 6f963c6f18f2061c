/*
 * last_usage_test.c -- the key usage table of GetKeyLastUsage
 * (src/kms/last_usage.c): an update and what it keeps, newest wins (and of
 * two in one second, the later call), the bound (a full window drops its
 * oldest entry, counted), concurrent updates from many threads, and the
 * store: a flush writes each entry once and takes it out of the table,
 * keeps another node's newer record, drops a deleted key's entry, ignores
 * a record that is not one; forget; the tracking start recorded once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/hash.h"
#include "crypto/keyring.h"
#include "kms/kms.h"
#include "store/store.h"

#define ACCT "111122223333"
#define REGION "us-east-1"
#define NOW 1700000000

static const char RID_A[] = "aaaaaaaa-0000-4000-8000-000000000001";
static const char RID_B[] = "bbbbbbbb-0000-4000-8000-000000000002";

static void arn_of(char *out, size_t n, unsigned i)
{
    snprintf(out, n, "arn:aws:kms:" REGION ":" ACCT ":key/%08x-1111-4222-8333-%012x", i, i * 7919u);
}

static int reset(void **state)
{
    (void)state;
    kms_usage_reset();
    return 0;
}

static void test_note_and_peek(void **state)
{
    (void)state;
    char arn[128];
    struct kms_usage u;
    arn_of(arn, sizeof arn, 1);
    assert_false(kms_usage_peek(arn, &u));
    assert_null(u.op);
    kms_usage_note_arn(arn, "Decrypt", NOW, RID_A);
    assert_true(kms_usage_peek(arn, &u));
    assert_string_equal(u.op, "Decrypt");
    assert_int_equal(u.ts, NOW);
    assert_string_equal(u.request_id, RID_A);
    assert_int_equal(kms_usage_pending(), 1);
    /* The same key id in another region is another key (a replica). */
    char other[128];
    snprintf(other, sizeof other, "%s", arn);
    memcpy(other + strlen("arn:aws:kms:"), "us-west-2", 9);
    assert_false(kms_usage_peek(other, &u));
    kms_usage_note_arn(other, "Encrypt", NOW + 1, RID_B);
    assert_int_equal(kms_usage_pending(), 2);
    assert_true(kms_usage_peek(arn, &u));
    assert_string_equal(u.op, "Decrypt");
}

static void test_newest_wins(void **state)
{
    (void)state;
    char arn[128];
    struct kms_usage u;
    arn_of(arn, sizeof arn, 2);
    kms_usage_note_arn(arn, "Encrypt", NOW + 10, RID_A);
    kms_usage_note_arn(arn, "Decrypt", NOW + 5, RID_B);     /* older: ignored */
    assert_true(kms_usage_peek(arn, &u));
    assert_string_equal(u.op, "Encrypt");
    assert_string_equal(u.request_id, RID_A);
    kms_usage_note_arn(arn, "Sign", NOW + 10, RID_B);       /* same second, later call */
    assert_true(kms_usage_peek(arn, &u));
    assert_string_equal(u.op, "Sign");
    assert_string_equal(u.request_id, RID_B);
    assert_int_equal(kms_usage_pending(), 1);
}

static void test_bounded(void **state)
{
    (void)state;
    char arn[128];
    const unsigned n = 20000;
    for (unsigned i = 0; i < n; i++) {
        arn_of(arn, sizeof arn, i);
        kms_usage_note_arn(arn, "Encrypt", NOW + i, RID_A);
    }
    size_t kept = kms_usage_pending();
    assert_true(kept <= 4096);
    assert_true(kept > 1000);            /* the hash spreads the keys */
    assert_int_equal(kept + kms_usage_dropped(), n);
    /* What a full window drops is its oldest entry: the newest key is kept. */
    struct kms_usage u;
    arn_of(arn, sizeof arn, n - 1);
    assert_true(kms_usage_peek(arn, &u));
    assert_int_equal(u.ts, NOW + n - 1);
}

#define THREADS 8
#define KEYS 64
#define ROUNDS 5000

static void *hammer(void *arg)
{
    unsigned t = (unsigned)(uintptr_t)arg;
    char arn[128];
    static const char *const ops[] = { "Encrypt", "Decrypt", "GenerateDataKey", "ReEncrypt" };
    for (unsigned r = 0; r < ROUNDS; r++) {
        unsigned k = (r * 31 + t) % KEYS;
        arn_of(arn, sizeof arn, 100 + k);
        kms_usage_note_arn(arn, ops[(r + t) % 4], NOW + r, t % 2 ? RID_A : RID_B);
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    pthread_t th[THREADS];
    for (unsigned t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, hammer, (void *)(uintptr_t)t), 0);
    for (unsigned t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
    assert_int_equal(kms_usage_pending(), KEYS);
    assert_int_equal(kms_usage_dropped(), 0);
    for (unsigned k = 0; k < KEYS; k++) {
        char arn[128];
        struct kms_usage u;
        arn_of(arn, sizeof arn, 100 + k);
        assert_true(kms_usage_peek(arn, &u));
        /* The newest round any thread made on key k. */
        int64_t newest = 0;
        for (unsigned t = 0; t < THREADS; t++)
            for (unsigned r = 0; r < ROUNDS; r++)
                if ((r * 31 + t) % KEYS == k && NOW + (int64_t)r > newest) newest = NOW + r;
        assert_int_equal(u.ts, newest);
        assert_non_null(kms_usage_op_name(u.op));
        assert_true(strcmp(u.request_id, RID_A) == 0 || strcmp(u.request_id, RID_B) == 0);
    }
}

static void test_op_names(void **state)
{
    (void)state;
    static const char *const tracked[] = {
        "Decrypt", "DeriveSharedSecret", "Encrypt", "GenerateDataKey", "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext", "GenerateDataKeyWithoutPlaintext", "GenerateMac",
        "ReEncrypt", "Sign", "Verify", "VerifyMac",
    };
    for (size_t i = 0; i < sizeof tracked / sizeof tracked[0]; i++) {
        char copy[64];
        snprintf(copy, sizeof copy, "%s", tracked[i]);
        assert_string_equal(kms_usage_op_name(copy), tracked[i]);
        assert_ptr_not_equal(kms_usage_op_name(copy), copy);   /* static */
    }
    assert_null(kms_usage_op_name("DescribeKey"));
    assert_null(kms_usage_op_name("GenerateRandom"));
    assert_null(kms_usage_op_name("decrypt"));
    assert_null(kms_usage_op_name(NULL));
}

/* ---- the store ------------------------------------------------------------ */

struct sfx {
    store_t st;
    struct keyring *kr;
    struct key_rec k;
};

static int store_teardown(void **state);

static int store_setup(void **state)
{
    static const uint8_t root[32] = "tresor-lu-test-root-key-32bytes!";
    struct sfx *f = calloc(1, sizeof *f);
    kms_usage_reset();
    if (!f) return -1;
    *state = f;
    struct kms_new_key nk = { .account = ACCT, .region = REGION, .key_manager = "CUSTOMER",
                              .now = NOW };
    if (tr_failed(crypto_init()) || tr_failed(store_sqlite_open_memory(&f->st)) ||
        tr_failed(keyring_from_bytes(root, &f->kr)) || tr_failed(f->st[0]->tx_begin(f->st)) ||
        tr_failed(kms_key_create(f->st, f->kr, &nk, &f->k)) || tr_failed(f->st[0]->tx_commit(f->st))) {
        store_teardown(state);     /* cmocka runs no teardown after a failed setup */
        return -1;
    }
    return 0;
}

static int store_teardown(void **state)
{
    struct sfx *f = *state;
    key_rec_free(&f->k);
    if (f->st) f->st[0]->close(f->st);
    keyring_free(f->kr);
    free(f);
    *state = NULL;
    crypto_thread_cleanup();
    kms_usage_reset();
    return 0;
}

static void stored_doc(struct sfx *f, char **doc)
{
    struct ent_rec e;
    memset(&e, 0, sizeof e);
    *doc = NULL;
    if (tr_ok(f->st[0]->ent_get_arn(f->st, "kms-key-usage", f->k.arn, &e))) {
        *doc = strdup(e.doc);
        ent_rec_free(&e);
    } else {
        tr_clear_error();
    }
}

static void test_flush_and_get(void **state)
{
    struct sfx *f = *state;
    struct kms_usage u;
    size_t written = 0;
    char *doc;

    assert_true(tr_ok(kms_usage_get(f->st, &f->k, &u)));
    assert_null(u.op);                                  /* never used */
    kms_usage_note_arn(f->k.arn, "Decrypt", NOW + 5, RID_A);
    assert_true(tr_ok(kms_usage_get(f->st, &f->k, &u)));
    assert_string_equal(u.op, "Decrypt");               /* from memory */

    assert_true(tr_ok(kms_usage_flush(f->st, &written)));
    assert_int_equal(written, 1);
    assert_int_equal(kms_usage_pending(), 0);           /* written: out of the table */
    stored_doc(f, &doc);
    assert_non_null(doc);
    json_t *d = json_loads(doc, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(d, "Operation")), "Decrypt");
    assert_int_equal(json_integer_value(json_object_get(d, "Timestamp")), NOW + 5);
    assert_string_equal(json_string_value(json_object_get(d, "KmsRequestId")), RID_A);
    assert_string_equal(json_string_value(json_object_get(d, "CloudTrailEventId")), RID_A);
    json_decref(d);
    free(doc);
    assert_true(tr_ok(kms_usage_get(f->st, &f->k, &u)));
    assert_string_equal(u.op, "Decrypt");               /* from the store */
    assert_int_equal(u.ts, NOW + 5);

    /* This node's newer use wins over the stored one, then is written. */
    kms_usage_note_arn(f->k.arn, "Encrypt", NOW + 9, RID_B);
    assert_true(tr_ok(kms_usage_get(f->st, &f->k, &u)));
    assert_string_equal(u.op, "Encrypt");
    assert_true(tr_ok(kms_usage_flush(f->st, &written)));
    assert_true(tr_ok(kms_usage_get(f->st, &f->k, &u)));
    assert_string_equal(u.op, "Encrypt");
    assert_string_equal(u.request_id, RID_B);

    /* An older use (another node's record is newer) does not replace it,
     * and GetKeyLastUsage answers the newer. */
    kms_usage_note_arn(f->k.arn, "Sign", NOW + 1, RID_A);
    assert_true(tr_ok(kms_usage_get(f->st, &f->k, &u)));
    assert_string_equal(u.op, "Encrypt");
    assert_true(tr_ok(kms_usage_flush(f->st, &written)));
    assert_int_equal(kms_usage_pending(), 0);
    assert_true(tr_ok(kms_usage_get(f->st, &f->k, &u)));
    assert_string_equal(u.op, "Encrypt");
    assert_int_equal(u.ts, NOW + 9);
}

static void test_flush_drops_deleted_keys(void **state)
{
    struct sfx *f = *state;
    char arn[128];
    size_t written;
    struct ent_rec e;
    arn_of(arn, sizeof arn, 77);                        /* no such key */
    kms_usage_note_arn(arn, "Decrypt", NOW, RID_A);
    assert_true(tr_ok(kms_usage_flush(f->st, &written)));
    assert_int_equal(kms_usage_pending(), 0);
    memset(&e, 0, sizeof e);
    assert_int_equal(tr_code(f->st[0]->ent_get_arn(f->st, "kms-key-usage", arn, &e)),
                     TR_E_STORE_NOT_FOUND);
    tr_clear_error();
}

static void test_bad_record_ignored(void **state)
{
    struct sfx *f = *state;
    struct kms_usage u;
    size_t written;
    static const char *const bad[] = {
        "not json", "[]", "{}", "{\"Operation\":\"DescribeKey\",\"Timestamp\":1,\"KmsRequestId\":\"x\"}",
        "{\"Operation\":\"Decrypt\",\"Timestamp\":\"1\",\"KmsRequestId\":\"x\"}",
        "{\"Operation\":\"Decrypt\",\"Timestamp\":1}",
        "{\"Operation\":\"Decrypt\",\"Timestamp\":1,\"KmsRequestId\":"
        "\"0123456789012345678901234567890123456789\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ent_rec e = { .name = f->k.arn, .id = f->k.arn, .arn = f->k.arn, .path = "/",
                             .doc = (char *)(uintptr_t)bad[i], .created = NOW };
        snprintf(e.kind, sizeof e.kind, "kms-key-usage");
        snprintf(e.account_id, sizeof e.account_id, ACCT);
        assert_true(tr_ok(f->st[0]->tx_begin(f->st)));
        tr_result r = f->st[0]->ent_update(f->st, &e);
        if (tr_failed(r)) r = f->st[0]->ent_put(f->st, &e);
        assert_true(tr_ok(r));
        assert_true(tr_ok(f->st[0]->tx_commit(f->st)));
        assert_true(tr_ok(kms_usage_get(f->st, &f->k, &u)));
        assert_null(u.op);
    }
    /* A use replaces it. */
    kms_usage_note_arn(f->k.arn, "VerifyMac", NOW, RID_A);
    assert_true(tr_ok(kms_usage_flush(f->st, &written)));
    assert_true(tr_ok(kms_usage_get(f->st, &f->k, &u)));
    assert_string_equal(u.op, "VerifyMac");
}

static void test_forget(void **state)
{
    struct sfx *f = *state;
    struct kms_usage u;
    size_t written;
    kms_usage_note_arn(f->k.arn, "Decrypt", NOW, RID_A);
    assert_true(tr_ok(kms_usage_flush(f->st, &written)));
    kms_usage_note_arn(f->k.arn, "Encrypt", NOW + 1, RID_B);
    assert_true(tr_ok(f->st[0]->tx_begin(f->st)));
    assert_true(tr_ok(kms_usage_forget(f->st, f->k.arn)));
    assert_true(tr_ok(f->st[0]->tx_commit(f->st)));
    assert_int_equal(kms_usage_pending(), 0);
    assert_true(tr_ok(kms_usage_get(f->st, &f->k, &u)));
    assert_null(u.op);
    /* Twice: nothing left to delete is not an error. */
    assert_true(tr_ok(f->st[0]->tx_begin(f->st)));
    assert_true(tr_ok(kms_usage_forget(f->st, f->k.arn)));
    assert_true(tr_ok(f->st[0]->tx_commit(f->st)));
}

static void test_tracking_start(void **state)
{
    struct sfx *f = *state;
    int64_t start = -1;
    assert_true(tr_ok(kms_usage_tracking_start(f->st, 0, &start)));
    assert_int_equal(start, 0);                          /* not recorded, not asked to */
    assert_true(tr_ok(kms_usage_tracking_start(f->st, NOW + 100, &start)));
    assert_int_equal(start, NOW + 100);
    assert_true(tr_ok(kms_usage_tracking_start(f->st, NOW + 900, &start)));
    assert_int_equal(start, NOW + 100);                  /* once per store */
    assert_true(tr_ok(kms_usage_tracking_start(f->st, 0, &start)));
    assert_int_equal(start, NOW + 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_note_and_peek, reset, reset),
        cmocka_unit_test_setup_teardown(test_newest_wins, reset, reset),
        cmocka_unit_test_setup_teardown(test_bounded, reset, reset),
        cmocka_unit_test_setup_teardown(test_concurrent, reset, reset),
        cmocka_unit_test(test_op_names),
        cmocka_unit_test_setup_teardown(test_flush_and_get, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_flush_drops_deleted_keys, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_bad_record_ignored, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_forget, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_tracking_start, store_setup, store_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
