/*
 * sql_records_test.c -- the pieces of store/sql_records.c that are not a
 * store call: the statement texts, string parameters, the connection
 * list, and reading a row through a driver's column readers (a fake one
 * here, with values that do not fit, NULLs and non-integers).  The calls
 * themselves run against both backends in store_test.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/sql_records.h"

/* Every record statement has a text, shared or each backend's; the ones
 * the backends write their own way have none shared. */
static void test_texts(void **state)
{
    (void)state;
    size_t own_only = 0;
    for (int id = 0; id < SQL_Q__COUNT; id++) {
        if (!sql_text[id]) {
            own_only++;
            continue;
        }
        assert_null(strchr(sql_text[id], '$'));      /* ?N only: PostgreSQL rewrites each '?' */
    }
    /* BEGIN, BEGIN for reads, the accounts' order (2), the tombstones (2),
     * one member of a relation's doc (2), of two relations' docs (2). */
    assert_int_equal(own_only, 10);
    assert_null(sql_text[Q_BEGIN]);
    assert_string_equal(sql_text[Q_COMMIT], "COMMIT");

    const char *const own[] = { [Q_COMMIT] = "END", [Q_ROLLBACK] = NULL };
    assert_string_equal(sql_own_text(own, 4, Q_COMMIT), "END");            /* the backend's first */
    assert_string_equal(sql_own_text(own, 4, Q_ROLLBACK), "ROLLBACK");     /* NULL there: the shared */
    assert_ptr_equal(sql_own_text(own, 4, Q_KEY_GET), sql_text[Q_KEY_GET]); /* past own's end */
    assert_null(sql_own_text(own, 4, Q_BEGIN));                             /* neither has it */
    assert_null(sql_own_text(own, 4, -1));
    assert_null(sql_own_text(own, 4, SQL_Q__COUNT));
}

static void test_arg_text(void **state)
{
    (void)state;
    size_t n = 99;
    char chars[4] = { 'a', 'b', 'c', 'd' };            /* full: no NUL */
    struct sql_arg a = TEXT(NULL);
    assert_string_equal(sql_arg_text(&a, &n), "");
    assert_int_equal(n, 0);
    a = TEXT("héllo");
    sql_arg_text(&a, &n);
    assert_int_equal(n, 6);
    a = CHARS(chars);
    assert_ptr_equal(sql_arg_text(&a, &n), chars);
    assert_int_equal(n, 4);
    a = OPT(NULL);
    assert_string_equal(sql_arg_text(&a, &n), "");
}

static struct sql_conn *closed[8];
static size_t nclosed;

static void note_close(struct sql_conn *c)
{
    closed[nclosed++] = c;
}

/* The first connection added closes last (the keeper, in sqlite.c). */
static void test_conns(void **state)
{
    (void)state;
    struct sql_conns l = { .head = NULL };
    struct sql_conn c[4] = { { 0 } };
    assert_int_equal(pthread_mutex_init(&l.mu, NULL), 0);
    for (int i = 0; i < 4; i++) sql_conns_add(&l, &c[i]);
    sql_conns_remove(&l, &c[2]);                        /* from the middle */
    assert_null(c[2].next);
    assert_null(c[2].prev);
    sql_conns_remove(&l, &c[3]);                        /* the head */
    nclosed = 0;
    sql_conns_close_all(&l, note_close);
    assert_int_equal(nclosed, 2);
    assert_ptr_equal(closed[0], &c[1]);
    assert_ptr_equal(closed[1], &c[0]);
    assert_null(l.head);
    pthread_mutex_destroy(&l.mu);
}

/* ---- reading a row through a fake driver -------------------------------- */

/* One row of strings; NULL is SQL NULL. */
struct fake_row { const char *v[10]; };

static const char *f_text(void *res, int row, int col, size_t *n)
{
    (void)row;
    const char *t = ((struct fake_row *)res)->v[col];
    *n = t ? strlen(t) : 0;
    return t;
}

static bool f_null(void *res, int row, int col)
{
    (void)row;
    return ((struct fake_row *)res)->v[col] == NULL;
}

static bool f_int(void *res, int row, int col, int64_t *v)
{
    (void)row;
    const char *t = ((struct fake_row *)res)->v[col];
    char *end = NULL;
    if (!t || !*t) return false;
    *v = strtoll(t, &end, 10);
    return *end == '\0';
}

static bool f_blob(void *res, int row, int col, struct buf *dst)
{
    (void)row;
    const char *t = ((struct fake_row *)res)->v[col];
    if (!t) return false;
    *dst = BUF_SECRET((uint32_t)strlen(t));
    return !*t || tr_ok(buf_append(dst, t, strlen(t)));
}

static const struct sql_cols fake = { f_text, f_null, f_int, f_blob };

/* The readers only, through one record type of the layer: a tag. */
static bool tag_fill(struct sql_row *r, void *rec)
{
    struct tag_rec *t = rec;
    size_t n = 0;
    const char *k = r->cols->text(r->res, r->row, r->i++, &n);
    const char *v = r->cols->text(r->res, r->row, r->i++, &n);
    t->key = k ? strdup(k) : NULL;
    t->value = v ? strdup(v) : NULL;
    return t->key && t->value;
}

static int drops;
static void tag_drop(void *rec)
{
    drops++;
    tag_rec_free(rec);
}

static void test_fill(void **state)
{
    (void)state;
    const struct sql_rec_type TAGT = { sizeof (struct tag_rec), tag_fill, tag_drop };
    struct tag_rec t = { 0 };
    struct fake_row ok = { { "k", "v" } };
    struct fake_row null_value = { { "k", NULL } };

    drops = 0;
    assert_true(sql_fill(&TAGT, &fake, &ok, 0, &t, "SELECT"));
    assert_string_equal(t.key, "k");
    assert_string_equal(t.value, "v");
    tag_rec_free(&t);
    /* A failed fill drops what it had filled, and says so. */
    assert_false(sql_fill(&TAGT, &fake, &null_value, 0, &t, "SELECT"));
    assert_int_equal(drops, 1);
    assert_null(t.key);
}

/* sql_fill with a record type that reads as the layer's do (the layer's
 * own are static; store_test.c runs them on both backends, values too
 * long included): a value that does not fit, a non-integer and a NULL
 * blob each fail, and the record is dropped. */
static bool material_fill(struct sql_row *r, void *rec)
{
    struct material_rec *m = rec;
    size_t n = 0;
    int64_t v = 0;
    const char *id = r->cols->text(r->res, r->row, r->i++, &n);
    if (!id || n >= sizeof m->key_id) return false;     /* as r_chars: must fit with its NUL */
    memcpy(m->key_id, id, n + 1);
    if (!r->cols->integer(r->res, r->row, r->i++, &v)) return false;
    m->version = (uint32_t)v;
    return r->cols->blob(r->res, r->row, r->i++, &m->wrapped);
}

static void drop_material(void *rec) { material_rec_free(rec); }

static void test_fill_negative(void **state)
{
    (void)state;
    const struct sql_rec_type MAT = { sizeof (struct material_rec), material_fill, drop_material };
    struct material_rec m = { 0 };
    char long_id[sizeof m.key_id + 1];
    memset(long_id, 'k', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    struct fake_row good = { { "key", "3", "wrapped-bytes" } };
    struct fake_row too_long = { { long_id, "3", "w" } };
    struct fake_row not_int = { { "key", "3x", "w" } };
    struct fake_row no_blob = { { "key", "3", NULL } };

    assert_true(sql_fill(&MAT, &fake, &good, 0, &m, "q"));
    assert_string_equal(m.key_id, "key");
    assert_int_equal(m.version, 3);
    assert_int_equal(m.wrapped.len, strlen("wrapped-bytes"));
    assert_true(m.wrapped.secret);
    material_rec_free(&m);
    assert_false(sql_fill(&MAT, &fake, &too_long, 0, &m, "q"));
    assert_false(sql_fill(&MAT, &fake, &not_int, 0, &m, NULL));
    assert_false(sql_fill(&MAT, &fake, &no_blob, 0, &m, "q"));
    assert_int_equal(m.wrapped.len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_texts),
        cmocka_unit_test(test_arg_text),
        cmocka_unit_test(test_conns),
        cmocka_unit_test(test_fill),
        cmocka_unit_test(test_fill_negative),
    };
    return cmocka_run_group_tests_name("sql_records", tests, NULL, NULL);
}
