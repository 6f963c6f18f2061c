/*
 * snapshot_prepared_test.c -- prepared snapshots
 * (src/analyze/snapshot_prepared.c) and the SQLite store files under them
 * (store_sqlite_save_file, store_sqlite_open_file, store_sqlite_note):
 * the fixtures prepared hold the records and the snapshots' accounts,
 * regions, gaps and secrets; the file is 0600 and read-only; a changed
 * source is refused, a touched or removed one is not; a file that is not
 * prepared (JSON, another SQLite database, a tampered note, junk) is
 * refused and leaves nothing open.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>

#include <sqlite3.h>

#include "analyze/analyze.h"
#include "analyze/snapshot.h"
#include "core/errors.h"
#include "crypto/hash.h"

#define FIXTURE_A TR_TESTDATA_DIR "/snapshots/aws-cli-111111111111.json"
#define FIXTURE_B TR_TESTDATA_DIR "/snapshots/aws-cli-222222222222.json"

static char dir[] = "/tmp/tresor-prepared-XXXXXX";

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir)) return -1;
    return tr_ok(crypto_init()) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);   /* fits: the mkdtemp name */
    return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char out[PATH_MAX], const char *name)
{
    snprintf(out, PATH_MAX, "%s/%s", dir, name);    /* fits: short names */
}

static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    assert_non_null(a);
    assert_non_null(b);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) assert_int_equal(fwrite(buf, 1, n, b), n);
    fclose(a);
    assert_int_equal(fclose(b), 0);
}

static void prepared_holds_the_snapshots(void **state)
{
    (void)state;
    char p[PATH_MAX], tmp[PATH_MAX + 8];
    path_of(p, "both.db");
    const char *files[2] = { FIXTURE_A, FIXTURE_B };
    assert_true(tr_ok(snapshot_prepare(files, 2, p)));
    snprintf(tmp, sizeof tmp, "%s.tmp", p);         /* fits: sized for it */
    assert_int_not_equal(access(tmp, F_OK), 0);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_true(snapshot_is_prepared(p));
    assert_false(snapshot_is_prepared(FIXTURE_A));

    struct snapshot s[4];
    size_t n = 0;
    store_t st = NULL;
    assert_true(tr_ok(snapshot_prepared_open(p, true, &st, s, 4, &n)));
    assert_int_equal(n, 2);
    assert_string_equal(s[0].account, "111111111111");
    assert_string_equal(s[1].account, "222222222222");
    assert_int_equal(s[0].nregions, 1);
    assert_string_equal(s[0].regions[0], "us-west-2");
    /* The gap of the fixture (a key policy the manifest says was refused). */
    struct snapshot j;
    assert_true(tr_ok(snapshot_load(FIXTURE_A, &j)));
    assert_int_equal(s[0].ngaps, j.ngaps);
    for (size_t i = 0; i < j.ngaps; i++) {
        assert_string_equal(s[0].gaps[i].what, j.gaps[i].what);
        assert_int_equal(s[0].gaps[i].listed, j.gaps[i].listed);
    }
    assert_int_equal(s[0].nsecrets, j.nsecrets);
    for (size_t i = 0; i < j.nsecrets; i++) assert_string_equal(s[0].secrets[i].arn, j.secrets[i].arn);
    snapshot_free(&j);
    /* The records, read-only. */
    struct ent_rec e;
    assert_true(tr_ok(st[0]->ent_get(st, "role", "111111111111", "ci-deploy", &e)));
    ent_rec_free(&e);
    tr_result r = st[0]->tag_set(st, "arn:aws:iam::111111111111:role/ci-deploy", "k", "v");
    assert_true(tr_failed(r));
    /* The principal facts: one entry per user and role of both accounts. */
    struct az_facts *facts = NULL;
    assert_true(tr_ok(snapshot_prepared_facts(st, p, &facts)));
    size_t want = 0;
    for (int a = 0; a < 2; a++)
        for (int k = 0; k < 2; k++) {
            struct ent_rec *v = NULL;
            size_t nv = 0;
            assert_true(tr_ok(st[0]->ent_list(st, k ? "role" : "user", s[a].account, NULL, NULL, 1000, &v, &nv)));
            want += nv;
            ent_list_free(v, nv);
        }
    assert_true(want > 0);
    assert_int_equal(facts->n, want);
    bool found = false;
    for (size_t fi = 0; fi < facts->n; fi++) {
        const struct az_fact *x = &facts->v[fi];
        if (strcmp(x->arn, "arn:aws:iam::111111111111:role/ci-deploy") == 0) {
            /* Its trust policy names 222222222222's root: that account,
             * so the graph adds it without compiling the policy. */
            assert_true(x->trust_accounts.present);
            assert_int_equal(x->trust_accounts.n, 1);
            assert_string_equal(x->trust_accounts.v[0], "222222222222");
            found = true;
        } else if (strstr(x->arn, ":user/")) {
            assert_false(x->trust_accounts.present);     /* roles only */
        }
    }
    assert_true(found);
    az_facts_free(facts);
    for (size_t i = 0; i < n; i++) snapshot_free(&s[i]);
    st[0]->close(st);

    /* Without the secrets: none listed. */
    assert_true(tr_ok(snapshot_prepared_open(p, false, &st, s, 4, &n)));
    assert_int_equal(s[0].nsecrets, 0);
    for (size_t i = 0; i < n; i++) snapshot_free(&s[i]);
    st[0]->close(st);
    /* More snapshots than the caller has room for: refused. */
    assert_true(tr_failed(snapshot_prepared_open(p, false, &st, s, 1, &n)));
    assert_null(st);
    assert_int_equal(n, 0);
}

static void a_changed_source_is_refused(void **state)
{
    (void)state;
    char src[PATH_MAX], p[PATH_MAX];
    path_of(src, "src.json");
    path_of(p, "src.db");
    copy_file(FIXTURE_A, src);
    const char *files[1] = { src };
    assert_true(tr_ok(snapshot_prepare(files, 1, p)));
    struct snapshot s[2];
    size_t n = 0;
    store_t st = NULL;
    /* Touched, the same bytes: answered. */
    struct utimbuf t = { .actime = 1, .modtime = 1 };
    assert_int_equal(utime(src, &t), 0);
    assert_true(tr_ok(snapshot_prepared_open(p, false, &st, s, 2, &n)));
    snapshot_free(&s[0]);
    st[0]->close(st);
    /* One byte changed (the same size): refused, saying which file. */
    FILE *f = fopen(src, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 10, SEEK_SET), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, 10, SEEK_SET), 0);
    fputc(c == ' ' ? '\t' : ' ', f);
    fclose(f);
    assert_true(tr_failed(snapshot_prepared_open(p, false, &st, s, 2, &n)));
    assert_null(st);
    assert_int_equal(n, 0);
    const struct tr_error_info *e = tr_last_error();
    assert_int_equal(e->code, TR_E_VALIDATION);
    assert_non_null(strstr(e->message, "stale: "));
    assert_non_null(strstr(e->message, "src.json has changed since it was prepared"));
    /* Removed: the prepared file stands alone. */
    assert_int_equal(unlink(src), 0);
    assert_true(tr_ok(snapshot_prepared_open(p, false, &st, s, 2, &n)));
    snapshot_free(&s[0]);
    st[0]->close(st);
}

static void what_is_not_prepared_is_refused(void **state)
{
    (void)state;
    char p[PATH_MAX], other[PATH_MAX], junk[PATH_MAX];
    struct snapshot s[2];
    size_t n = 7;
    store_t st = NULL;
    /* Another SQLite database: no notes. */
    path_of(other, "other.db");
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (a)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_true(snapshot_is_prepared(other));
    assert_true(tr_failed(snapshot_prepared_open(other, false, &st, s, 2, &n)));
    assert_null(st);
    assert_int_equal(n, 0);
    /* A prepared file whose note was tampered with: refused. */
    path_of(p, "tamper.db");
    const char *files[1] = { FIXTURE_A };
    assert_true(tr_ok(snapshot_prepare(files, 1, p)));
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE tresor_saved_note SET v = '{\"version\": 5, \"sources\": [], "
                                  "\"snapshots\": [{\"name\": 5}]}' WHERE k = 'prepared'", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_true(tr_failed(snapshot_prepared_open(p, false, &st, s, 2, &n)));
    assert_null(st);
    assert_non_null(strstr(tr_last_error()->message, "its notes are not a prepared snapshot's"));
    /* Facts that are not a list: refused when read. */
    path_of(p, "facts.db");
    assert_true(tr_ok(snapshot_prepare(files, 1, p)));
    static const char *const bad[] = {
        "{}", "[{\"escalate\": true}]", "[5]",
        /* A role's trust accounts: a list of 12-digit account ids. */
        "[{\"arn\": \"x\", \"trust_accounts\": \"222222222222\"}]",
        "[{\"arn\": \"x\", \"trust_accounts\": [5]}]",
        "[{\"arn\": \"x\", \"trust_accounts\": [\"22222222222\"]}]",
        "[{\"arn\": \"x\", \"trust_accounts\": [\"22222222222x\"]}]",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char sql[128];
        snprintf(sql, sizeof sql, "UPDATE tresor_saved_note SET v = '%s' WHERE k = 'facts'", bad[k]);  /* fits */
        assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        assert_true(tr_ok(snapshot_prepared_open(p, false, &st, s, 2, &n)));
        struct az_facts *facts = NULL;
        assert_true(tr_failed(snapshot_prepared_facts(st, p, &facts)));
        assert_null(facts);
        assert_non_null(strstr(tr_last_error()->message, "its notes are not a prepared snapshot's"));
        for (size_t i = 0; i < n; i++) snapshot_free(&s[i]);
        st[0]->close(st);
    }
    path_of(p, "tamper.db");
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE tresor_saved_note SET v = 'not json' WHERE k = 'prepared'", NULL,
                                  NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_true(tr_failed(snapshot_prepared_open(p, false, &st, s, 2, &n)));
    assert_null(st);
    /* Junk and JSON: not SQLite, so not opened as prepared. */
    path_of(junk, "junk.db");
    FILE *f = fopen(junk, "wb");
    assert_non_null(f);
    fputs("SQLite format 3", f);   /* the header's text without its NUL, and nothing after */
    fclose(f);
    assert_false(snapshot_is_prepared(junk));
    assert_true(tr_failed(snapshot_prepared_open(FIXTURE_A, false, &st, s, 2, &n)));
    assert_null(st);
    /* prepare: a bad input writes nothing. */
    char out[PATH_MAX];
    path_of(out, "none.db");
    const char *twice[2] = { FIXTURE_A, FIXTURE_A };
    assert_true(tr_failed(snapshot_prepare(twice, 2, out)));
    assert_int_not_equal(access(out, F_OK), 0);
    const char *missing[1] = { "/nonexistent/x.json" };
    assert_true(tr_failed(snapshot_prepare(missing, 1, out)));
    assert_int_not_equal(access(out, F_OK), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(prepared_holds_the_snapshots),
        cmocka_unit_test(a_changed_source_is_refused),
        cmocka_unit_test(what_is_not_prepared_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
