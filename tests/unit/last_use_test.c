/*
 * last_use_test.c -- the shared "last use" table (src/store/last_use.c)
 * with a kind of its own: every key hashed to one window, so what a full
 * window drops is known; the newest use wins; a too-long key is refused;
 * and the store: a flush writes live owners' entries and takes them out,
 * drops a gone owner's, keeps a newer stored record, overwrites a stored
 * doc that is not a record, keeps every entry of a stripe whose write
 * failed; get answers the newer of memory and store; forget.
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

#include "core/str.h"
#include "store/last_use.h"

#define NOW 1700000000

struct rec {
    int64_t ts;
    char tag[8];
};

static uint32_t one_window(const char *key, size_t n)
{
    (void)key;
    (void)n;
    return 0;                       /* every key: stripe 0, slot 0 onwards */
}

static bool rec_parse(const char *doc, void *out, int64_t *ts)
{
    struct rec *r = out;
    json_t *d = json_loads(doc, 0, NULL);
    json_t *t = json_object_get(d, "ts");
    const char *tag = json_string_value(json_object_get(d, "tag"));
    bool ok = json_is_integer(t) && tag && strlen(tag) < sizeof r->tag;
    if (ok) {
        memset(r, 0, sizeof *r);
        r->ts = *ts = json_integer_value(t);
        memcpy(r->tag, tag, strlen(tag) + 1);
    }
    json_decref(d);
    return ok;
}

static char *rec_dump(const void *rec, int64_t ts)
{
    const struct rec *r = rec;
    json_t *d = json_pack("{s:I, s:s}", "ts", (json_int_t)ts, "tag", r->tag);
    char *s = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    return s;
}

/* "live...": exists; "fail...": a store error; anything else: gone. */
static TR_RESULT rec_owner(store_t st, const char *key, char account[ACCOUNT_ID_LEN + 1], bool *exists)
{
    (void)st;
    *exists = false;
    if (strncmp(key, "fail", 4) == 0) return tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    if (strncmp(key, "live", 4) != 0) return TR_OK;
    memcpy(account, "111122223333", ACCOUNT_ID_LEN + 1);
    *exists = true;
    return TR_OK;
}

static const struct last_use_kind test_kind = {
    .ent_kind = "test-last-use",
    .full_msg = "test: the last-use",
    .rec_size = sizeof(struct rec),
    .key_max = 16,
    .hash = one_window,
    .parse = rec_parse,
    .dump = rec_dump,
    .owner = rec_owner,
};

LAST_USE_TABLE(table, &test_kind, 2, 8, 4);

static void note(const char *key, int64_t ts, const char *tag)
{
    struct rec r;
    memset(&r, 0, sizeof r);
    r.ts = ts;
    memcpy(r.tag, tag, strlen(tag) + 1);
    assert_true(last_use_note(&table, key, ts, &r));
}

static int reset(void **state)
{
    (void)state;
    last_use_reset(&table);
    return 0;
}

static void test_newest_wins(void **state)
{
    (void)state;
    struct rec r;
    assert_false(last_use_peek(&table, "live-a", &r));
    note("live-a", NOW + 10, "b");
    note("live-a", NOW + 5, "old");                 /* older: ignored */
    note("live-a", NOW + 10, "c");                  /* the same second: the later call */
    assert_true(last_use_peek(&table, "live-a", &r));
    assert_int_equal(r.ts, NOW + 10);
    assert_string_equal(r.tag, "c");
    assert_int_equal(last_use_pending(&table), 1);
    assert_int_equal(last_use_dropped(&table), 0);
}

static void test_full_window_drops_oldest(void **state)
{
    (void)state;
    struct rec r;
    note("live-1", NOW + 3, "a");
    note("live-2", NOW + 1, "a");                   /* the oldest */
    note("live-3", NOW + 4, "a");
    note("live-4", NOW + 2, "a");
    assert_int_equal(last_use_pending(&table), 4);
    note("live-5", NOW + 9, "a");                   /* a full window of 4 */
    assert_int_equal(last_use_pending(&table), 4);
    assert_int_equal(last_use_dropped(&table), 1);
    assert_false(last_use_peek(&table, "live-2", &r));
    assert_true(last_use_peek(&table, "live-5", &r));
    assert_true(last_use_peek(&table, "live-1", &r));
    /* Too long a key is refused, never cut. */
    struct rec x = { .ts = NOW, .tag = "x" };
    assert_false(last_use_note(&table, "live-0123456789ab", NOW, &x));
    assert_false(last_use_peek(&table, "live-0123456789a", &r));
    assert_int_equal(last_use_pending(&table), 4);
    last_use_reset(&table);
    assert_int_equal(last_use_pending(&table), 0);
    assert_int_equal(last_use_dropped(&table), 0);
}

/* ---- the store ------------------------------------------------------------ */

static int store_setup(void **state)
{
    store_t st = NULL;
    last_use_reset(&table);
    if (tr_failed(store_sqlite_open_memory(&st))) return -1;
    *state = st;
    return 0;
}

static int store_teardown(void **state)
{
    store_t st = *state;
    if (st) st[0]->close(st);
    last_use_reset(&table);
    return 0;
}

static char *stored_doc(store_t st, const char *key)
{
    struct ent_rec e;
    char *doc = NULL;
    memset(&e, 0, sizeof e);
    if (tr_ok(st[0]->ent_get_arn(st, "test-last-use", key, &e))) {
        doc = strdup(e.doc);
        ent_rec_free(&e);
    } else {
        tr_clear_error();
    }
    return doc;
}

/* A row of the kind, written as another node (or anyone) would. */
static void put_doc(store_t st, const char *key, const char *text)
{
    char k[32], path[] = "/", doc[128];
    snprintf(k, sizeof k, "%s", key);                 /* fits: the test's short keys */
    snprintf(doc, sizeof doc, "%s", text);            /* fits: the test's short docs */
    struct ent_rec e = { .name = k, .id = k, .arn = k, .path = path, .doc = doc, .created = NOW };
    STR_SET(e.kind, "test-last-use");
    STR_SET(e.account_id, "111122223333");
    assert_true(tr_ok(st[0]->tx_begin(st)));
    assert_true(tr_ok(st[0]->ent_put(st, &e)));
    assert_true(tr_ok(st[0]->tx_commit(st)));
}

static void test_flush_and_get(void **state)
{
    store_t st = *state;
    struct rec r;
    bool found;
    size_t written = 0;
    note("live-a", NOW + 1, "a");
    note("gone-b", NOW + 2, "b");
    assert_true(tr_ok(last_use_flush(&table, st, &written)));
    assert_int_equal(written, 2);
    assert_int_equal(last_use_pending(&table), 0);
    char *doc = stored_doc(st, "live-a");
    assert_non_null(doc);
    assert_string_equal(doc, "{\"tag\":\"a\",\"ts\":1700000001}");
    free(doc);
    assert_null(stored_doc(st, "gone-b"));            /* its owner is gone: dropped */
    assert_true(tr_ok(last_use_get(&table, st, "live-a", &r, &found)));
    assert_true(found);
    assert_int_equal(r.ts, NOW + 1);
    assert_string_equal(r.tag, "a");

    /* Memory newer than the store: memory's; a newer stored record (another
     * node's) is kept by the flush and answered. */
    note("live-a", NOW + 5, "m");
    assert_true(tr_ok(last_use_get(&table, st, "live-a", &r, &found)));
    assert_string_equal(r.tag, "m");
    put_doc(st, "live-c", "{\"tag\":\"other\",\"ts\":1700000100}");
    note("live-c", NOW + 50, "mine");
    assert_true(tr_ok(last_use_get(&table, st, "live-c", &r, &found)));
    assert_string_equal(r.tag, "other");
    assert_true(tr_ok(last_use_flush(&table, st, &written)));
    doc = stored_doc(st, "live-c");
    assert_string_equal(doc, "{\"tag\":\"other\",\"ts\":1700000100}");
    free(doc);
    assert_int_equal(last_use_pending(&table), 0);

    assert_true(tr_ok(last_use_get(&table, st, "live-none", &r, &found)));
    assert_false(found);
    assert_int_equal(r.ts, 0);
}

static void test_bad_record_ignored_and_replaced(void **state)
{
    store_t st = *state;
    struct rec r;
    bool found;
    size_t written;
    put_doc(st, "live-t", "{\"tag\":7,\"ts\":\"x\"}");
    assert_true(tr_ok(last_use_get(&table, st, "live-t", &r, &found)));
    assert_false(found);
    note("live-t", NOW, "ok");
    assert_true(tr_ok(last_use_flush(&table, st, &written)));
    char *doc = stored_doc(st, "live-t");
    assert_string_equal(doc, "{\"tag\":\"ok\",\"ts\":1700000000}");
    free(doc);
}

static void test_failed_write_keeps_entries(void **state)
{
    store_t st = *state;
    size_t written = 9;
    note("live-k", NOW, "k");
    note("fail-x", NOW + 1, "x");
    assert_true(tr_failed(last_use_flush(&table, st, &written)));
    tr_clear_error();
    assert_int_equal(written, 0);
    assert_int_equal(last_use_pending(&table), 2);  /* both stay for the next pass */
    char *doc = stored_doc(st, "live-k");
    assert_null(doc);                               /* the stripe's write rolled back */
}

static void test_forget(void **state)
{
    store_t st = *state;
    struct rec r;
    bool found;
    size_t written;
    note("live-f", NOW, "f");
    assert_true(tr_ok(last_use_flush(&table, st, &written)));
    note("live-f", NOW + 1, "g");
    assert_true(tr_ok(st[0]->tx_begin(st)));
    assert_true(tr_ok(last_use_forget(&table, st, "live-f")));
    assert_true(tr_ok(last_use_forget(&table, st, "live-never")));
    assert_true(tr_ok(st[0]->tx_commit(st)));
    assert_int_equal(last_use_pending(&table), 0);
    assert_true(tr_ok(last_use_get(&table, st, "live-f", &r, &found)));
    assert_false(found);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_newest_wins, reset, reset),
        cmocka_unit_test_setup_teardown(test_full_window_drops_oldest, reset, reset),
        cmocka_unit_test_setup_teardown(test_flush_and_get, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_bad_record_ignored_and_replaced, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_keeps_entries, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_forget, store_setup, store_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
