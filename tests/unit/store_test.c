/*
 * store_test.c -- unit tests of the SQLite store (src/store/sqlite.c,
 * src/store/records.c, src/store/schema.c) against the contract of
 * src/store/store.h.
 *
 * Each test gets a fresh temporary DATA_DIR (removed afterwards) and a
 * store opened on it.  Covered: every call, a round trip of every field,
 * order and paging of the list calls, NOT_FOUND / ALREADY_EXISTS without a
 * message, rollback leaving nothing behind, deferred foreign keys,
 * durability across close and reopen, migrations (run once, an old
 * database migrated, a newer one refused, the embedded SQL equal to the
 * src/store/schema/NNN_*.sql files), file modes 0600, secure_delete,
 * readers in several threads while two writers write, on the file and on
 * the memory store, and SQLite running out of memory at every allocation
 * of a short script (SQLite's fault injection, through its allocator);
 * writers in eight threads under group commit and with one sync per
 * commit (STORE_COMMIT_EACH), all there after a reopen, and the sync
 * barrier (group_sync_test.c tests the grouping itself).
 *
 * The PostgreSQL backend (src/store/postgres.c): when TRESOR_TEST_PG is
 * the URL of a cluster's maintenance database (make unit-pg starts a
 * throwaway one), the calls' tests run again against a fresh database of
 * it each, and so do its own: the migrations' text, the migration lock
 * (nodes opening at once migrate once), a schema newer than the build
 * refused, several serving nodes (the generation across nodes, the write lock), read-only opens, and
 * the reconnection after pg_terminate_backend ends every session.
 * Run from the repository root (scripts/run-unit does).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/str.h"
#include "kms/kms.h"
#include "store/backup.h"
#include "store/postgres.h"
#include "store/schema.h"
#include "store/sqlite_uri.h"
#include "store/store.h"

#define OK(x) assert_int_equal(tr_code(x), TR_E_OK)
#define FAILS(x, code) do { \
        assert_int_equal(tr_code(x), (code)); \
        assert_false(tr_last_error()->has_message); \
    } while (0)
#define CALL(st, fn, ...) ((*(st))->fn((st), __VA_ARGS__))
#define TX(st, fn) ((*(st))->fn(st))

#define ACCT "111122223333"
#define ACCT2 "444455556666"
#define REGION "us-east-1"

struct fx {
    char dir[64];
    store_t st;
    char pgdb[64];              /* PostgreSQL: the fixture's database */
    char url[1024];             /* and its URL */
};

/* ---- fixtures ----------------------------------------------------------- */

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/tresor-store-XXXXXX");
    if (!mkdtemp(f->dir)) { free(f); return -1; }
    if (tr_failed(store_sqlite_open(f->dir, &f->st))) { rm_dir(f->dir); free(f); return -1; }
    *state = f;
    return 0;
}

static int setup_memory(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f) return -1;
    if (tr_failed(store_sqlite_open_memory(&f->st))) { free(f); return -1; }
    *state = f;
    return 0;
}

/* ---- PostgreSQL (TRESOR_TEST_PG) ------------------------------------------ */

/* Run sql on the database url names (the cluster's maintenance database
 * when NULL); the first value of its first row into out, when given. */
static bool pg_exec(const char *url, const char *sql, char *out, size_t n)
{
    PGconn *db = PQconnectdb(url ? url : getenv("TRESOR_TEST_PG"));
    bool ok = PQstatus(db) == CONNECTION_OK;
    PGresult *res = ok ? PQexec(db, sql) : NULL;
    ExecStatusType rs = PQresultStatus(res);
    ok = ok && (rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK);
    if (!ok) fprintf(stderr, "store_test: %s: %s\n", sql, PQerrorMessage(db));
    if (ok && out) snprintf(out, n, "%s", PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    PQfinish(db);
    return ok;
}

/* A new database of the cluster: its name and URL in f. */
static bool pg_new_database(struct fx *f)
{
    static atomic_int seq;
    const char *admin = getenv("TRESOR_TEST_PG");
    char sql[128];
    if (!admin) return false;
    snprintf(f->pgdb, sizeof f->pgdb, "tresor_unit_%d_%d", (int)getpid(), atomic_fetch_add(&seq, 1) + 1);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", f->pgdb);
    if (!pg_exec(NULL, sql, NULL, 0)) return false;
    const char *q = strchr(admin, '?');
    const char *slash = admin;
    for (const char *p = admin; *p && (!q || p < q); p++) if (*p == '/') slash = p;
    snprintf(f->url, sizeof f->url, "%.*s/%s%s", (int)(slash - admin), admin, f->pgdb, q ? q : "");
    return true;
}

static void pg_drop_database(struct fx *f)
{
    char sql[128];
    if (!f->pgdb[0]) return;
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->pgdb);
    (void)pg_exec(NULL, sql, NULL, 0);
}

static int setup_pg(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f) return -1;
    if (!pg_new_database(f) || tr_failed(store_pg_open(f->url, STORE_PG_SERVE, &f->st))) {
        pg_drop_database(f);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

/* A fresh database, no store opened on it. */
static int setup_pg_empty(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f) return -1;
    if (!pg_new_database(f)) { free(f); return -1; }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->st) (*f->st)->close(f->st);
    if (f->dir[0]) rm_dir(f->dir);
    pg_drop_database(f);
    free(f);
    return 0;
}

/* Open f's store again (closed, f->st NULL) / close and open it again.
 * Through a local store_t: a call given a const pointer into *f (f->dir)
 * leaves all of *f unchanged as far as clang's analyzer knows, so opening
 * straight into f->st would read to it as f->st still NULL. */
static void reopen_closed(struct fx *f)
{
    store_t st = NULL;
    if (f->url[0]) OK(store_pg_open(f->url, STORE_PG_SERVE, &st));
    else OK(store_sqlite_open(f->dir, &st));
    f->st = st;
}

static void reopen(struct fx *f)
{
    (*f->st)->close(f->st);
    f->st = NULL;
    reopen_closed(f);
}

static void db_path(const struct fx *f, const char *suffix, char *out, size_t n)
{
    snprintf(out, n, "%s/tresor.db%s", f->dir, suffix);
}

/* ---- record builders ------------------------------------------------------ */

struct key_fx {
    struct key_rec k;
    char arn[128];
};

static void mk_key(struct key_fx *x, const char *id, const char *acct, const char *region)
{
    memset(x, 0, sizeof *x);
    snprintf(x->k.key_id, sizeof x->k.key_id, "%s", id);
    snprintf(x->k.account_id, sizeof x->k.account_id, "%s", acct);
    snprintf(x->k.region, sizeof x->k.region, "%s", region);
    snprintf(x->arn, sizeof x->arn, "arn:aws:kms:%s:%s:key/%s", region, acct, id);
    x->k.arn = x->arn;
    x->k.description = (char *)"";
    x->k.policy = (char *)"{\"Version\":\"2012-10-17\"}";
    snprintf(x->k.key_state, sizeof x->k.key_state, "%s", KEY_STATE_ENABLED);
    snprintf(x->k.key_usage, sizeof x->k.key_usage, "ENCRYPT_DECRYPT");
    snprintf(x->k.key_spec, sizeof x->k.key_spec, "SYMMETRIC_DEFAULT");
    snprintf(x->k.origin, sizeof x->k.origin, "AWS_KMS");
    snprintf(x->k.key_manager, sizeof x->k.key_manager, "CUSTOMER");
    x->k.created = 1700000000;
    x->k.rotation_period_days = 365;
    x->k.current_material = 1;
}

/* A UUID-shaped key id whose order follows i. */
static void key_id_of(int i, char out[37])
{
    snprintf(out, 37, "%08u-0000-4000-8000-000000000000", (unsigned)i % 100000000u);
}

static void put_key(store_t st, const char *id, const char *acct, const char *region)
{
    struct key_fx x;
    mk_key(&x, id, acct, region);
    OK(CALL(st, key_put, &x.k));
}

static void put_material(store_t st, const char *key_id, uint32_t version,
                         const void *wrapped, size_t n)
{
    struct material_rec m = { .version = version, .created = 1700000000 + version };
    snprintf(m.key_id, sizeof m.key_id, "%s", key_id);
    snprintf(m.rotation_type, sizeof m.rotation_type, "%s", version > 1 ? "ON_DEMAND" : "");
    m.wrapped = buf_view(wrapped, n);
    OK(CALL(st, material_put, &m));
}

static void put_alias(store_t st, const char *acct, const char *region, const char *name,
                      const char *key_id)
{
    struct alias_rec a = { .created = 1700000100, .updated = 1700000100 };
    snprintf(a.account_id, sizeof a.account_id, "%s", acct);
    snprintf(a.region, sizeof a.region, "%s", region);
    snprintf(a.name, sizeof a.name, "%s", name);
    snprintf(a.target_key_id, sizeof a.target_key_id, "%s", key_id);
    OK(CALL(st, alias_put, &a));
}

static void assert_key_equal(const struct key_rec *a, const struct key_rec *b)
{
    assert_string_equal(a->key_id, b->key_id);
    assert_string_equal(a->account_id, b->account_id);
    assert_string_equal(a->region, b->region);
    assert_string_equal(a->arn, b->arn);
    assert_string_equal(a->description, b->description);
    assert_string_equal(a->policy, b->policy);
    assert_string_equal(a->key_state, b->key_state);
    assert_string_equal(a->key_usage, b->key_usage);
    assert_string_equal(a->key_spec, b->key_spec);
    assert_string_equal(a->origin, b->origin);
    assert_string_equal(a->key_manager, b->key_manager);
    assert_int_equal(a->created, b->created);
    assert_int_equal(a->deletion_date, b->deletion_date);
    assert_int_equal(a->pending_window_days, b->pending_window_days);
    assert_int_equal(a->rotation_enabled, b->rotation_enabled);
    assert_int_equal(a->rotation_period_days, b->rotation_period_days);
    assert_int_equal(a->next_rotation, b->next_rotation);
    assert_int_equal(a->current_material, b->current_material);
}

static size_t count_keys(store_t st, const char *acct, const char *region)
{
    struct key_rec *v;
    size_t n;
    OK(CALL(st, key_list, acct, region, NULL, SIZE_MAX, &v, &n));
    key_list_free(v, n);
    return n;
}

/* Does the file contain the bytes? (false when it does not exist) */
static bool file_contains(const char *path, const void *needle, size_t n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return false;
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *data = malloc(len > 0 ? (size_t)len : 1);
    assert_non_null(data);
    size_t got = fread(data, 1, (size_t)len, fp);
    fclose(fp);
    bool found = got >= n && memmem(data, got, needle, n) != NULL;
    free(data);
    return found;
}

/* ---- files and schema ----------------------------------------------------- */

static void test_name_and_file_modes(void **state)
{
    struct fx *f = *state;
    char p[512];
    struct stat sb;
    assert_string_equal((*f->st)->name, "sqlite");

    put_key(f->st, "k1", ACCT, REGION);     /* a write brings the WAL in */
    db_path(f, "", p, sizeof p);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    db_path(f, "-wal", p, sizeof p);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    db_path(f, "-shm", p, sizeof p);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
}

static void test_open_tightens_mode_and_makes_dir(void **state)
{
    struct fx *f = *state;
    char p[512], sub[256];
    struct stat sb;
    store_t st;

    /* An existing, too readable (empty) database file gets 0600. */
    (*f->st)->close(f->st);
    f->st = NULL;
    db_path(f, "", p, sizeof p);
    unlink(p);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(chmod(p, 0644), 0);
    reopen_closed(f);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    /* A missing DATA_DIR is created 0700. */
    snprintf(sub, sizeof sub, "%s/sub", f->dir);
    OK(store_sqlite_open(sub, &st));
    (*st)->close(st);
    assert_int_equal(stat(sub, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    rm_dir(sub);

    /* A DATA_DIR that cannot be made fails cleanly. */
    st = (store_t)(void *)1;
    FAILS(store_sqlite_open("/proc/nonexistent/x", &st), TR_E_INTERNAL);
    assert_null(st);
}

static int read_user_version(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    int v = -1;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
    if (sqlite3_step(q) == SQLITE_ROW) v = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void count_problem(void *arg, const char *text);

static bool db_exists(const struct fx *f, const char *suffix)
{
    char p[512];
    struct stat sb;
    db_path(f, suffix, p, sizeof p);
    return stat(p, &sb) == 0;
}

/* Fault injection (SQLite's own way): a VFS over the default one whose
 * writes answer SQLITE_FULL, as a full disk does, while ff_full is set. */
struct ff_file {
    sqlite3_file base;
    sqlite3_file *real;            /* the default VFS's file, right after */
};
static atomic_bool ff_full;
static sqlite3_vfs *ff_real;
static sqlite3_vfs ff_vfs;
#define FF(f) (((struct ff_file *)(void *)(f))->real)

static int ff_close(sqlite3_file *f) { return FF(f)->pMethods->xClose(FF(f)); }
static int ff_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
    return FF(f)->pMethods->xRead(FF(f), b, n, o);
}
static int ff_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    return atomic_load(&ff_full) ? SQLITE_FULL : FF(f)->pMethods->xWrite(FF(f), b, n, o);
}
static int ff_truncate(sqlite3_file *f, sqlite3_int64 n) { return FF(f)->pMethods->xTruncate(FF(f), n); }
static int ff_sync(sqlite3_file *f, int fl) { return FF(f)->pMethods->xSync(FF(f), fl); }
static int ff_size(sqlite3_file *f, sqlite3_int64 *n) { return FF(f)->pMethods->xFileSize(FF(f), n); }
static int ff_lock(sqlite3_file *f, int l) { return FF(f)->pMethods->xLock(FF(f), l); }
static int ff_unlock(sqlite3_file *f, int l) { return FF(f)->pMethods->xUnlock(FF(f), l); }
static int ff_check(sqlite3_file *f, int *out) { return FF(f)->pMethods->xCheckReservedLock(FF(f), out); }
static int ff_fcntl(sqlite3_file *f, int op, void *a) { return FF(f)->pMethods->xFileControl(FF(f), op, a); }
static int ff_sector(sqlite3_file *f) { return FF(f)->pMethods->xSectorSize(FF(f)); }
static int ff_devchar(sqlite3_file *f) { return FF(f)->pMethods->xDeviceCharacteristics(FF(f)); }
static int ff_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **pp)
{
    return FF(f)->pMethods->xShmMap(FF(f), pg, sz, ext, pp);
}
static int ff_shm_lock(sqlite3_file *f, int off, int n, int fl) { return FF(f)->pMethods->xShmLock(FF(f), off, n, fl); }
static void ff_shm_barrier(sqlite3_file *f) { FF(f)->pMethods->xShmBarrier(FF(f)); }
static int ff_shm_unmap(sqlite3_file *f, int del) { return FF(f)->pMethods->xShmUnmap(FF(f), del); }
static int ff_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **pp)
{
    return FF(f)->pMethods->xFetch(FF(f), o, n, pp);
}
static int ff_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p) { return FF(f)->pMethods->xUnfetch(FF(f), o, p); }

static const sqlite3_io_methods ff_io = {
    3, ff_close, ff_read, ff_write, ff_truncate, ff_sync, ff_size, ff_lock, ff_unlock, ff_check,
    ff_fcntl, ff_sector, ff_devchar, ff_shm_map, ff_shm_lock, ff_shm_barrier, ff_shm_unmap,
    ff_fetch, ff_unfetch,
};

static int ff_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
    (void)vfs;
    struct ff_file *p = (struct ff_file *)(void *)file;
    p->real = (sqlite3_file *)(void *)&p[1];
    p->base.pMethods = NULL;
    int rc = ff_real->xOpen(ff_real, name, p->real, flags, out_flags);
    if (p->real->pMethods) p->base.pMethods = &ff_io;
    return rc;
}

/* Make ff_vfs the default VFS (on) or give the default back (off). */
static void ff_install(bool on)
{
    if (on) {
        ff_real = sqlite3_vfs_find(NULL);
        assert_non_null(ff_real);
        assert_true(ff_real->iVersion >= 3);
        ff_vfs = *ff_real;
        ff_vfs.zName = "tresor-test-full";
        ff_vfs.szOsFile = (int)sizeof(struct ff_file) + ff_real->szOsFile;
        ff_vfs.xOpen = ff_open;
        assert_int_equal(sqlite3_vfs_register(&ff_vfs, 1), SQLITE_OK);
    } else {
        assert_int_equal(sqlite3_vfs_register(ff_real, 1), SQLITE_OK);
        sqlite3_vfs_unregister(&ff_vfs);
    }
}

/* The store's own codes name each kind of failure (store.h), whatever
 * service asked, with no message: a full disk (the VFS above) is
 * TR_E_STORE_FULL; a write the file system refuses (here: past a
 * file-size limit) TR_E_STORE_IO; a damaged database (every page but the
 * first overwritten) TR_E_STORE_CORRUPT.  The store works again once the
 * disk has room. */
static void test_failure_kinds(void **state)
{
    struct fx *f = *state;
    struct account_rec a = { .id = ACCT, .created = 1 }, got;
    char p[128], wal[128];
    OK(CALL(f->st, account_put, &a));
    snprintf(p, sizeof p, "%s/tresor.db", f->dir);
    snprintf(wal, sizeof wal, "%s/tresor.db-wal", f->dir);

    /* Full. */
    (*f->st)->close(f->st);
    f->st = NULL;
    ff_install(true);
    reopen_closed(f);
    atomic_store(&ff_full, true);
    OK(CALL(f->st, account_get, ACCT, &got));
    FAILS(CALL(f->st, tag_set, "arn:full", "k", "v"), TR_E_STORE_FULL);
    atomic_store(&ff_full, false);
    OK(CALL(f->st, tag_set, "arn:full", "k", "v"));
    (*f->st)->close(f->st);
    f->st = NULL;
    ff_install(false);
    reopen_closed(f);

    /* I/O: a soft limit just past the files' current sizes. */
    char big[16384];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    struct stat db, w;
    assert_int_equal(stat(p, &db), 0);
    if (stat(wal, &w) != 0) w.st_size = 0;
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)(db.st_size > w.st_size ? db.st_size : w.st_size) + 50001;
    void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    tr_result r = TR_OK;
    char key[32];
    for (int i = 0; i < 64 && tr_ok(r); i++) {
        snprintf(key, sizeof key, "k%d", i);
        r = CALL(f->st, tag_set, "arn:big", key, big);
    }
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, was);
    FAILS(r, TR_E_STORE_IO);

    /* Corrupt: closed (the WAL checkpointed into the file), every page
     * after the first overwritten: the open that reads the schema fails. */
    (*f->st)->close(f->st);
    f->st = NULL;
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &db), 0);
    char junk[4096];
    memset(junk, 0x5a, sizeof junk);
    for (off_t o = 4096; o < db.st_size; o += 4096)
        assert_int_equal(pwrite(fd, junk, sizeof junk, o), (ssize_t)sizeof junk);
    close(fd);
    FAILS(store_sqlite_open(f->dir, &f->st), TR_E_STORE_CORRUPT);
    assert_null(f->st);
}

/* store_sqlite_open_readonly: reads what was committed -- through the WAL
 * of a database another connection has open, from the file alone when it
 * is stopped (immutable: nothing is created or touched beside it) --,
 * refuses writes, a schema version other than this build's (no
 * migration) and a missing database; a directory whose name a URI would
 * misread ('?', '#', '%', ' ') works. */
static void test_readonly(void **state)
{
    struct fx *f = *state;
    char p[512], odd[600];
    struct account_rec a = { .id = ACCT, .created = 1 }, b = { .id = ACCT2, .created = 2 };
    struct account_rec c = { .id = "999988887777", .created = 3 }, got;
    struct stat before, after;
    store_t ro = NULL;
    db_path(f, "", p, sizeof p);

    OK(CALL(f->st, account_put, &a));
    assert_true(db_exists(f, "-wal") && db_exists(f, "-shm"));
    OK(store_sqlite_open_readonly(f->dir, &ro));
    OK(CALL(ro, account_get, ACCT, &got));
    OK(CALL(f->st, account_put, &b));          /* committed by the writer: seen */
    (*ro)->refresh(ro);
    OK(CALL(ro, account_get, ACCT2, &got));
    FAILS(CALL(ro, account_put, &c), TR_E_STORE_READONLY);
    FAILS(TX(ro, tx_begin), TR_E_STORE_READONLY);
    FAILS(CALL(f->st, account_get, "999988887777", &got), TR_E_STORE_NOT_FOUND);
    (*ro)->close(ro);
    ro = NULL;

    /* Stopped: the file alone, immutable; nothing created, nothing changed. */
    (*f->st)->close(f->st);
    f->st = NULL;
    assert_false(db_exists(f, "-wal") || db_exists(f, "-shm"));
    assert_int_equal(stat(p, &before), 0);
    OK(store_sqlite_open_readonly(f->dir, &ro));
    OK(CALL(ro, account_get, ACCT2, &got));
    assert_string_equal(got.id, ACCT2);
    int version = -1;
    size_t problems = 0;
    OK(CALL(ro, self_check, count_problem, &problems, &version));
    assert_int_equal(version, (int)store_schema_count);
    assert_int_equal(problems, 0);
    FAILS(CALL(ro, account_put, &c), TR_E_STORE_READONLY);
    (*ro)->close(ro);
    ro = NULL;
    assert_false(db_exists(f, "-wal") || db_exists(f, "-shm") || db_exists(f, "-journal"));
    assert_int_equal(stat(p, &after), 0);
    assert_int_equal(after.st_size, before.st_size);
    assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
    assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);

    /* Another build's schema: refused, not migrated. */
    raw_exec(p, "PRAGMA user_version = 999;");
    ro = (store_t)(void *)1;
    FAILS(store_sqlite_open_readonly(f->dir, &ro), TR_E_INTERNAL);
    assert_null(ro);
    raw_exec(p, "PRAGMA user_version = 1;");
    FAILS(store_sqlite_open_readonly(f->dir, &ro), TR_E_INTERNAL);
    assert_int_equal(read_user_version(p), 1);
    char set[64];
    snprintf(set, sizeof set, "PRAGMA user_version = %zu;", store_schema_count);
    raw_exec(p, set);

    /* No database at all. */
    unlink(p);
    FAILS(store_sqlite_open_readonly(f->dir, &ro), TR_E_INTERNAL);
    assert_false(db_exists(f, ""));

    /* A directory name a URI would misread. */
    snprintf(odd, sizeof odd, "%s/a?b#c%%20 d", f->dir);
    OK(store_sqlite_open(odd, &ro));
    OK(CALL(ro, account_put, &c));
    (*ro)->close(ro);
    OK(store_sqlite_open_readonly(odd, &ro));
    OK(CALL(ro, account_get, "999988887777", &got));
    (*ro)->close(ro);
    rm_dir(odd);
    reopen_closed(f);
}

/* A store at schema version 4 (kms_keys keyed by key_id alone) with a
 * single-Region key, a multi-Region key, their materials, an alias and a
 * tag: 005 keys kms_keys by (key_id, region) and keeps every row; the
 * mrk- key becomes its own primary; afterwards the id can exist in a
 * second region, and deleting one region's record keeps the materials. */
static void test_migrates_keys_to_regions(void **state)
{
    struct fx *f = *state;
    char p[512];
    db_path(f, "", p, sizeof p);
    (*f->st)->close(f->st);
    f->st = NULL;
    unlink(p);
    {
        sqlite3 *db;
        assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys = ON; BEGIN", NULL, NULL, NULL),
                         SQLITE_OK);
        for (size_t i = 0; i < 4; i++)
            assert_int_equal(sqlite3_exec(db, store_schema[i], NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db,
            "PRAGMA user_version = 4;"
            "INSERT INTO kms_keys VALUES ('old-key', '" ACCT "', '" REGION "', "
            "'arn:aws:kms:" REGION ":" ACCT ":key/old-key', 'old', '{}', 'Enabled', "
            "'ENCRYPT_DECRYPT', 'SYMMETRIC_DEFAULT', 'AWS_KMS', 'CUSTOMER', 5, 0, 0, 1, 365, "
            "99, 2, '{\"a\":\"b\"}');"
            "INSERT INTO kms_keys VALUES ('mrk-0123456789abcdef0123456789abcdef', '" ACCT "', "
            "'" REGION "', 'arn:aws:kms:" REGION ":" ACCT ":key/mrk-0123456789abcdef0123456789abcdef', "
            "'', '{}', 'Disabled', 'SIGN_VERIFY', 'ECC_NIST_P256', 'AWS_KMS', 'CUSTOMER', 6, 0, "
            "0, 0, 365, 0, 1, NULL);"
            "INSERT INTO kms_key_materials VALUES ('old-key', 1, 5, '', x'01');"
            "INSERT INTO kms_key_materials VALUES ('old-key', 2, 7, 'ON_DEMAND', x'0202');"
            "INSERT INTO kms_key_materials VALUES ('mrk-0123456789abcdef0123456789abcdef', 1, 6, "
            "'', x'03');"
            "INSERT INTO kms_aliases VALUES ('" ACCT "', '" REGION "', 'alias/old', 'old-key', 8, 9);"
            "INSERT INTO tags VALUES ('arn:aws:kms:" REGION ":" ACCT ":key/old-key', 't', 'v');"
            "COMMIT", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
    }
    reopen_closed(f);
    assert_int_equal(read_user_version(p), (int)store_schema_count);

    struct key_rec k, *v = NULL;
    struct material_rec *m = NULL;
    struct alias_rec a;
    struct tag_rec *t = NULL;
    size_t n = 0;
    OK(CALL(f->st, key_get, "old-key", REGION, &k));
    assert_string_equal(k.description, "old");
    assert_string_equal(k.policy_ids, "{\"a\":\"b\"}");
    assert_true(k.rotation_enabled);
    assert_int_equal(k.next_rotation, 99);
    assert_int_equal(k.current_material, 2);
    assert_string_equal(k.primary_region, "");
    key_rec_free(&k);
    OK(CALL(f->st, key_get, "mrk-0123456789abcdef0123456789abcdef", REGION, &k));
    assert_string_equal(k.key_state, "Disabled");
    assert_string_equal(k.key_spec, "ECC_NIST_P256");
    assert_string_equal(k.primary_region, REGION);
    {
        struct key_rec none;
        FAILS(CALL(f->st, key_get, "mrk-0123456789abcdef0123456789abcdef", "eu-west-1", &none),
              TR_E_STORE_NOT_FOUND);
    }
    OK(CALL(f->st, material_list, "old-key", &m, &n));
    assert_int_equal(n, 2);
    assert_string_equal(m[1].rotation_type, "ON_DEMAND");
    assert_int_equal(m[1].wrapped.len, 2);
    material_list_free(m, n);
    OK(CALL(f->st, alias_get, ACCT, REGION, "alias/old", &a));
    assert_string_equal(a.target_key_id, "old-key");
    assert_int_equal(a.updated, 9);
    OK(CALL(f->st, tag_list, "arn:aws:kms:" REGION ":" ACCT ":key/old-key", &t, &n));
    assert_int_equal(n, 1);
    tag_list_free(t, n);

    /* A replica: the same id in another region, its own record. */
    snprintf(k.region, sizeof k.region, "eu-west-1");
    free(k.arn);
    k.arn = strdup("arn:aws:kms:eu-west-1:" ACCT ":key/mrk-0123456789abcdef0123456789abcdef");
    snprintf(k.key_state, sizeof k.key_state, "Enabled");
    OK(CALL(f->st, key_put, &k));
    FAILS(CALL(f->st, key_put, &k), TR_E_STORE_EXISTS);
    key_rec_free(&k);
    OK(CALL(f->st, key_list_related, "mrk-0123456789abcdef0123456789abcdef", &v, &n));
    assert_int_equal(n, 2);
    assert_string_equal(v[0].region, "eu-west-1");
    assert_string_equal(v[0].key_state, "Enabled");
    assert_string_equal(v[1].region, REGION);
    assert_string_equal(v[1].key_state, "Disabled");
    key_list_free(v, n);

    /* Deleting one region's record keeps the shared materials; the last
     * one takes them. */
    OK(CALL(f->st, key_delete, "mrk-0123456789abcdef0123456789abcdef", REGION));
    OK(CALL(f->st, material_list, "mrk-0123456789abcdef0123456789abcdef", &m, &n));
    assert_int_equal(n, 1);
    material_list_free(m, n);
    FAILS(CALL(f->st, key_delete, "mrk-0123456789abcdef0123456789abcdef", REGION),
          TR_E_STORE_NOT_FOUND);
    OK(CALL(f->st, key_delete, "mrk-0123456789abcdef0123456789abcdef", "eu-west-1"));
    OK(CALL(f->st, material_list, "mrk-0123456789abcdef0123456789abcdef", &m, &n));
    assert_int_equal(n, 0);
    material_list_free(m, n);
    OK(CALL(f->st, key_list_related, "mrk-0123456789abcdef0123456789abcdef", &v, &n));
    assert_int_equal(n, 0);
    key_list_free(v, n);
}

/* One key id in three regions: three records, each its own (update and
 * delete by the pair), listed by key_list_related, paged by key_list_all
 * one pair at a time without loss or repeat; an alias names the record of
 * its own region. */
static void test_key_id_in_several_regions(void **state)
{
    store_t st = ((struct fx *)*state)->st;
    static const char *const regions[] = { "eu-west-1", "us-east-1", "us-west-2" };
    struct key_fx x;
    struct key_rec got, *v = NULL;
    size_t n = 0;
    for (size_t i = 0; i < 3; i++) put_key(st, "mrk-shared", ACCT, regions[2 - i]);
    put_key(st, "other", ACCT, REGION);
    put_material(st, "mrk-shared", 1, "w", 1);

    mk_key(&x, "mrk-shared", ACCT, "us-west-2");
    x.k.description = (char *)"west only";
    OK(CALL(st, key_update, &x.k));
    OK(CALL(st, key_get, "mrk-shared", "us-west-2", &got));
    assert_string_equal(got.description, "west only");
    key_rec_free(&got);
    OK(CALL(st, key_get, "mrk-shared", "us-east-1", &got));
    assert_string_not_equal(got.description, "west only");
    key_rec_free(&got);

    OK(CALL(st, key_list_related, "mrk-shared", &v, &n));
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 3; i++) assert_string_equal(v[i].region, regions[i]);
    key_list_free(v, n);

    char last[37] = "", last_region[32] = "";
    size_t seen = 0;
    for (;;) {
        OK(CALL(st, key_list_all, last[0] ? last : NULL, last_region, 1, &v, &n));
        if (n == 0) break;
        assert_int_equal(n, 1);
        assert_string_equal(v[0].key_id, seen < 3 ? "mrk-shared" : "other");
        if (seen < 3) assert_string_equal(v[0].region, regions[seen]);
        snprintf(last, sizeof last, "%s", v[0].key_id);
        snprintf(last_region, sizeof last_region, "%s", v[0].region);
        key_list_free(v, n);
        seen++;
    }
    key_list_free(v, n);
    assert_int_equal(seen, 4);

    /* An alias names its own region's record; deleting that record takes
     * the alias and leaves the others and the shared material. */
    put_alias(st, ACCT, "eu-west-1", "alias/shared", "mrk-shared");
    OK(CALL(st, key_delete, "mrk-shared", "eu-west-1"));
    struct alias_rec a;
    FAILS(CALL(st, alias_get, ACCT, "eu-west-1", "alias/shared", &a), TR_E_STORE_NOT_FOUND);
    OK(CALL(st, key_list_related, "mrk-shared", &v, &n));
    assert_int_equal(n, 2);
    key_list_free(v, n);
    struct material_rec m;
    OK(CALL(st, material_get, "mrk-shared", 1, &m));
    material_rec_free(&m);
    /* A missing region, a NULL region: nothing found, nothing changed. */
    FAILS(CALL(st, key_delete, "mrk-shared", "eu-west-1"), TR_E_STORE_NOT_FOUND);
    FAILS(CALL(st, key_get, "mrk-shared", "ap-south-1", &got), TR_E_STORE_NOT_FOUND);
    assert_int_equal(tr_code(CALL(st, key_get, "mrk-shared", NULL, &got)), TR_E_INTERNAL);
    tr_clear_error();
}

static void test_migrations_run_once(void **state)
{
    struct fx *f = *state;
    char p[512];
    struct account_rec a = { .id = ACCT, .created = 1 }, got;
    db_path(f, "", p, sizeof p);

    assert_true(store_schema_count >= 1);
    assert_int_equal(read_user_version(p), (int)store_schema_count);
    OK(CALL(f->st, account_put, &a));
    /* Reopening runs nothing again (CREATE TABLE would fail) and keeps data. */
    reopen(f);
    reopen(f);
    assert_int_equal(read_user_version(p), (int)store_schema_count);
    OK(CALL(f->st, account_get, ACCT, &got));
    assert_string_equal(got.id, ACCT);
}

static void test_migrates_an_old_database(void **state)
{
    struct fx *f = *state;
    char p[512];
    struct account_rec got;
    db_path(f, "", p, sizeof p);
    (*f->st)->close(f->st);
    f->st = NULL;

    /* A version-0 database with a table of its own: migrated, kept. */
    unlink(p);
    raw_exec(p, "CREATE TABLE legacy (x); INSERT INTO legacy VALUES (7);");
    assert_int_equal(read_user_version(p), 0);
    reopen_closed(f);
    assert_int_equal(read_user_version(p), (int)store_schema_count);
    FAILS(CALL(f->st, account_get, ACCT, &got), TR_E_STORE_NOT_FOUND);
    (*f->st)->close(f->st);
    f->st = NULL;
    raw_exec(p, "SELECT x FROM legacy");

    /* A failing migration leaves the database as it was: here the
     * accounts table already exists, so 001 fails half way. */
    unlink(p);
    raw_exec(p, "CREATE TABLE kms_keys (x);");
    FAILS(store_sqlite_open(f->dir, &f->st), TR_E_INTERNAL);
    assert_null(f->st);
    assert_int_equal(read_user_version(p), 0);
    raw_exec(p, "SELECT x FROM kms_keys");
    {
        sqlite3 *db;
        assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
        assert_int_not_equal(sqlite3_exec(db, "SELECT id FROM accounts", NULL, NULL, NULL),
                             SQLITE_OK);
        sqlite3_close(db);
    }

    /* A database at version 1 with data: 002 adds the access key's doc
     * (NULL for the old rows) and the entity tables. */
    unlink(p);
    {
        sqlite3 *db;
        assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, store_schema[0], NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 1; INSERT INTO access_keys "
                                      "VALUES ('AKIAOLD', '" ACCT "', 1, 'arn:u', 'AIDA', 1, "
                                      "5, 0, x'00ff')", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
    }
    reopen_closed(f);
    assert_int_equal(read_user_version(p), (int)store_schema_count);
    {
        struct access_key_rec k;
        struct ent_rec e;
        OK(CALL(f->st, access_key_get, "AKIAOLD", &k));
        assert_null(k.doc);
        assert_int_equal(k.wrapped_secret.len, 2);
        assert_int_equal(k.wrapped_secret.data[1], 0xff);
        access_key_rec_free(&k);
        FAILS(CALL(f->st, ent_get_id, "user", "AIDA", &e), TR_E_STORE_NOT_FOUND);
    }
    (*f->st)->close(f->st);
    f->st = NULL;

    /* A database from a newer build is refused. */
    unlink(p);
    raw_exec(p, "PRAGMA user_version = 999;");
    FAILS(store_sqlite_open(f->dir, &f->st), TR_E_INTERNAL);
    assert_null(f->st);
    assert_int_equal(read_user_version(p), 999);

    unlink(p);
    reopen_closed(f);
}

/* The embedded migrations are the .sql files, byte for byte. */
static void schema_matches(const char *pattern, const char *const *schema, size_t count)
{
    glob_t g;
    int rc = glob(pattern, 0, NULL, &g);
    if (rc != 0) fprintf(stderr, "store_test: run from the repository root\n");
    assert_int_equal(rc, 0);
    assert_int_equal(g.gl_pathc, count);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        char want[32];
        snprintf(want, sizeof want, "/%03zu_", i + 1);
        assert_non_null(strstr(g.gl_pathv[i], want));
        FILE *fp = fopen(g.gl_pathv[i], "rb");
        assert_non_null(fp);
        size_t n = strlen(schema[i]);
        char *data = malloc(n + 2);
        assert_non_null(data);
        size_t got = fread(data, 1, n + 1, fp);
        fclose(fp);
        assert_int_equal(got, n);
        assert_memory_equal(data, schema[i], n);
        free(data);
    }
    globfree(&g);
}

static void test_schema_matches_sql_files(void **state)
{
    (void)state;
    schema_matches("src/store/schema/[0-9][0-9][0-9]_*.sql", store_schema, store_schema_count);
    /* PostgreSQL's, one for each SQLite one: a version means the same
     * tables in both. */
    schema_matches("src/store/schema_pg/[0-9][0-9][0-9]_*.sql", store_pg_schema, store_pg_schema_count);
    assert_int_equal(store_pg_schema_count, store_schema_count);
}

/* ---- accounts and access keys -------------------------------------------- */

static void test_accounts(void **state)
{
    store_t st = ((struct fx *)*state)->st;
    struct account_rec a = { .id = ACCT, .created = 200 }, b = { .id = ACCT2, .created = 300 };
    struct account_rec got;

    FAILS(CALL(st, account_first, &got), TR_E_STORE_NOT_FOUND);
    OK(CALL(st, account_put, &a));
    OK(CALL(st, account_put, &b));
    FAILS(CALL(st, account_put, &a), TR_E_STORE_EXISTS);

    OK(CALL(st, account_get, ACCT2, &got));
    assert_string_equal(got.id, ACCT2);
    assert_int_equal(got.created, 300);
    OK(CALL(st, account_first, &got));
    assert_string_equal(got.id, ACCT);
    assert_int_equal(got.created, 200);
    FAILS(CALL(st, account_get, "999999999999", &got), TR_E_STORE_NOT_FOUND);
}

static void test_access_keys(void **state)
{
    store_t st = ((struct fx *)*state)->st;
    uint8_t secret[256];
    for (size_t i = 0; i < sizeof secret; i++) secret[i] = (uint8_t)i;    /* NULs too */
    struct access_key_rec k = {
        .access_key_id = "AKIAIOSFODNN7EXAMPLE",
        .account_id = ACCT,
        .principal_type = PRINCIPAL_USER,
        .principal_arn = (char *)"arn:aws:iam::111122223333:user/alice",
        .principal_id = (char *)"AIDAEXAMPLEALICE",
        .active = true,
        .created = 1700000000,
        .expires = 1800000000,
        .wrapped_secret = buf_view(secret, sizeof secret),
    };
    struct access_key_rec got;

    OK(CALL(st, access_key_put, &k));
    FAILS(CALL(st, access_key_put, &k), TR_E_STORE_EXISTS);
    OK(CALL(st, access_key_get, "AKIAIOSFODNN7EXAMPLE", &got));
    assert_string_equal(got.access_key_id, k.access_key_id);
    assert_string_equal(got.account_id, ACCT);
    assert_int_equal(got.principal_type, PRINCIPAL_USER);
    assert_string_equal(got.principal_arn, k.principal_arn);
    assert_string_equal(got.principal_id, k.principal_id);
    assert_true(got.active);
    assert_int_equal(got.created, 1700000000);
    assert_int_equal(got.expires, 1800000000);
    assert_int_equal(got.wrapped_secret.len, sizeof secret);
    assert_memory_equal(got.wrapped_secret.data, secret, sizeof secret);
    assert_true(buf_validate(&got.wrapped_secret));
    access_key_rec_free(&got);
    access_key_rec_free(&got);      /* freeing twice is safe */

    /* A root key: inactive, never expires, NULL strings stored as "",
     * and the longest id that fits (32 chars). */
    struct access_key_rec r = {
        .access_key_id = "ASIA0123456789ABCDEF0123456789AB",
        .account_id = ACCT2,
        .principal_type = PRINCIPAL_ROOT,
        .principal_arn = NULL,
        .principal_id = NULL,
        .active = false,
        .wrapped_secret = buf_view("", 0),
    };
    OK(CALL(st, access_key_put, &r));
    OK(CALL(st, access_key_get, r.access_key_id, &got));
    assert_string_equal(got.access_key_id, r.access_key_id);
    assert_int_equal(got.principal_type, PRINCIPAL_ROOT);
    assert_string_equal(got.principal_arn, "");
    assert_string_equal(got.principal_id, "");
    assert_false(got.active);
    assert_int_equal(got.expires, 0);
    assert_int_equal(got.wrapped_secret.len, 0);
    access_key_rec_free(&got);

    FAILS(CALL(st, access_key_get, "AKIANOTTHERE", &got), TR_E_STORE_NOT_FOUND);
    assert_null(got.principal_arn);
    access_key_rec_free(&got);      /* safe after a failed get */
}

/* ---- KMS keys -------------------------------------------------------------- */

static void test_key_round_trip(void **state)
{
    store_t st = ((struct fx *)*state)->st;
    struct key_fx x;
    struct key_rec got;
    size_t plen = 40000;
    char *policy = malloc(plen + 1);
    assert_non_null(policy);
    for (size_t i = 0; i < plen; i++) policy[i] = (char)('a' + i % 26);
    policy[plen] = '\0';

    mk_key(&x, "1234abcd-12ab-34cd-56ef-1234567890ab", ACCT, "eu-west-3");
    x.k.description = (char *)"d\xc3\xa9j\xc3\xa0 vu 'quoted' \"double\"; DROP TABLE kms_keys";
    x.k.policy = policy;
    x.k.created = 1700000001;
    x.k.rotation_enabled = true;
    x.k.rotation_period_days = 2560;
    x.k.next_rotation = 1731536001;
    x.k.current_material = 7;
    snprintf(x.k.key_manager, sizeof x.k.key_manager, "AWS");
    OK(CALL(st, key_put, &x.k));
    FAILS(CALL(st, key_put, &x.k), TR_E_STORE_EXISTS);

    OK(CALL(st, key_get, x.k.key_id, x.k.region, &got));
    assert_key_equal(&got, &x.k);
    key_rec_free(&got);

    /* key_update writes every column but key_id and region. */
    snprintf(x.k.account_id, sizeof x.k.account_id, "%s", ACCT2);
    snprintf(x.arn, sizeof x.arn, "arn:aws:kms:%s:%s:key/x", x.k.region, ACCT2);
    snprintf(x.k.primary_region, sizeof x.k.primary_region, "eu-west-3");
    x.k.description = NULL;                                  /* stored as "" */
    x.k.policy = (char *)"{}";
    snprintf(x.k.key_state, sizeof x.k.key_state, "%s", KEY_STATE_PENDING_DELETION);
    snprintf(x.k.key_usage, sizeof x.k.key_usage, "SIGN_VERIFY");
    snprintf(x.k.key_spec, sizeof x.k.key_spec, "ECC_NIST_P256");
    snprintf(x.k.origin, sizeof x.k.origin, "EXTERNAL");
    snprintf(x.k.key_manager, sizeof x.k.key_manager, "CUSTOMER");
    x.k.created = 5;
    x.k.deletion_date = 1800000000;
    x.k.pending_window_days = 30;
    x.k.rotation_enabled = false;
    x.k.rotation_period_days = 90;
    x.k.next_rotation = 0;
    x.k.current_material = UINT32_MAX;
    OK(CALL(st, key_update, &x.k));
    OK(CALL(st, key_get, x.k.key_id, x.k.region, &got));
    x.k.description = (char *)"";
    assert_key_equal(&got, &x.k);
    key_rec_free(&got);

    mk_key(&x, "00000000-0000-0000-0000-000000000000", ACCT, REGION);
    FAILS(CALL(st, key_update, &x.k), TR_E_STORE_NOT_FOUND);
    FAILS(CALL(st, key_get, x.k.key_id, x.k.region, &got), TR_E_STORE_NOT_FOUND);
    assert_null(got.arn);
    key_rec_free(&got);
    free(policy);
}

static void test_key_list_order_and_paging(void **state)
{
    store_t st = ((struct fx *)*state)->st;
    char id[37];
    struct key_rec *v;
    size_t n;

    /* 25 keys in ACCT/REGION, inserted out of order, and noise. */
    for (int i = 0; i < 25; i++) {
        key_id_of((i * 7) % 25, id);
        put_key(st, id, ACCT, REGION);
    }
    for (int i = 100; i < 103; i++) {
        key_id_of(i, id);
        put_key(st, id, ACCT, "eu-west-1");
        key_id_of(i + 10, id);
        put_key(st, id, ACCT2, REGION);
    }

    const char *after = NULL;
    char last[37] = "";
    int seen = 0;
    for (int page = 0; page < 3; page++) {
        OK(CALL(st, key_list, ACCT, REGION, after, 10, &v, &n));
        assert_int_equal(n, page < 2 ? 10 : 5);
        for (size_t i = 0; i < n; i++) {
            key_id_of(seen++, id);
            assert_string_equal(v[i].key_id, id);
            assert_string_equal(v[i].account_id, ACCT);
            assert_string_equal(v[i].region, REGION);
            assert_non_null(v[i].arn);
        }
        snprintf(last, sizeof last, "%s", v[n - 1].key_id);
        after = last;
        key_list_free(v, n);
    }
    OK(CALL(st, key_list, ACCT, REGION, after, 10, &v, &n));
    assert_int_equal(n, 0);
    assert_null(v);
    key_list_free(v, n);

    /* An `after` between ids, limit 0, no match, one page of everything. */
    OK(CALL(st, key_list, ACCT, REGION, "00000003-", 2, &v, &n));
    assert_int_equal(n, 2);
    key_id_of(3, id);
    assert_string_equal(v[0].key_id, id);
    key_list_free(v, n);
    OK(CALL(st, key_list, ACCT, REGION, NULL, 0, &v, &n));
    assert_int_equal(n, 0);
    OK(CALL(st, key_list, "000000000000", REGION, NULL, 10, &v, &n));
    assert_int_equal(n, 0);
    assert_int_equal(count_keys(st, ACCT, REGION), 25);
    assert_int_equal(count_keys(st, ACCT, "eu-west-1"), 3);
    assert_int_equal(count_keys(st, ACCT2, REGION), 3);
}

static void count_problem(void *arg, const char *text)
{
    (void)text;
    (*(size_t *)arg)++;
}

/* The whole-store listings of `tresor check`: every key of every account
 * and region, every access key, every relation of a kind, in pages. */
static void test_whole_store_listings(void **state)
{
    store_t st = ((struct fx *)*state)->st;
    char id[37];
    struct key_rec *v;
    size_t n;
    for (int i = 0; i < 7; i++) {
        key_id_of((i * 3) % 7, id);
        put_key(st, id, i % 2 ? ACCT : ACCT2, i % 3 ? REGION : "eu-west-1");
    }
    char last[37] = "", last_region[32] = "";
    int seen = 0;
    for (;;) {
        OK(CALL(st, key_list_all, last, last_region, 3, &v, &n));
        for (size_t i = 0; i < n; i++) {
            key_id_of(seen++, id);
            assert_string_equal(v[i].key_id, id);
        }
        if (n) {
            snprintf(last, sizeof last, "%s", v[n - 1].key_id);
            snprintf(last_region, sizeof last_region, "%s", v[n - 1].region);
        }
        key_list_free(v, n);
        if (n < 3) break;
    }
    assert_int_equal(seen, 7);

    /* Relations of one kind, paged by the (from, to) pair. */
    static const char *const pairs[][2] = {
        { "a", "2" }, { "a", "1" }, { "b", "1" }, { "c", "9" }, { "c", "0" },
    };
    for (size_t i = 0; i < 5; i++) {
        struct rel_rec r = { .kind = "grant", .from = (char *)pairs[i][0],
                             .to = (char *)pairs[i][1], .doc = (char *)"", .created = 1 };
        OK(CALL(st, rel_put, &r));
    }
    struct rel_rec other = { .kind = "member", .from = (char *)"a", .to = (char *)"0",
                             .doc = (char *)"", .created = 1 };
    OK(CALL(st, rel_put, &other));
    static const char *const order[] = { "a1", "a2", "b1", "c0", "c9" };
    char from[8] = "", to[8] = "";
    struct rel_rec *rv;
    seen = 0;
    for (;;) {
        OK(CALL(st, rel_list_kind, "grant", seen ? from : NULL, to, 2, &rv, &n));
        for (size_t i = 0; i < n; i++) {
            char both[16];
            snprintf(both, sizeof both, "%s%s", rv[i].from, rv[i].to);
            assert_string_equal(both, order[seen++]);
        }
        if (n) {
            snprintf(from, sizeof from, "%s", rv[n - 1].from);
            snprintf(to, sizeof to, "%s", rv[n - 1].to);
        }
        rel_list_free(rv, n);
        if (n < 2) break;
    }
    assert_int_equal(seen, 5);

    /* No problem in a fresh store; the schema is this build's. */
    int version = -1;
    size_t problems = 0;
    OK(CALL(st, self_check, count_problem, &problems, &version));
    assert_int_equal(problems, 0);
    assert_int_equal(version, (int)store_schema_count);
}

static void test_key_list_due(void **state)
{
    store_t st = ((struct fx *)*state)->st;
    const int64_t now = 1800000000;
    struct { const char *id; const char *acct; int64_t del, rot; bool due; } cases[] = {
        { "k-05-del-past",     ACCT,  now - 1, 0,       true  },
        { "k-02-del-now",      ACCT2, now,     0,       true  },
        { "k-08-del-future",   ACCT,  now + 1, 0,       false },
        { "k-03-rot-past",     ACCT2, 0,       now - 9, true  },
        { "k-07-rot-now",      ACCT,  0,       now,     true  },
        { "k-01-rot-future",   ACCT,  0,       now + 9, false },
        { "k-04-neither",      ACCT,  0,       0,       false },
        { "k-06-both-future",  ACCT,  now + 1, now + 1, false },
        { "k-09-del-and-rot",  ACCT,  now - 1, now - 1, true  },
    };
    struct key_rec *v;
    size_t n;

    OK(CALL(st, key_list_due, now, &v, &n));
    assert_int_equal(n, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct key_fx x;
        mk_key(&x, cases[i].id, cases[i].acct, REGION);
        x.k.deletion_date = cases[i].del;
        if (cases[i].del) {
            snprintf(x.k.key_state, sizeof x.k.key_state, "%s", KEY_STATE_PENDING_DELETION);
            x.k.pending_window_days = 7;
        }
        x.k.next_rotation = cases[i].rot;
        x.k.rotation_enabled = cases[i].rot != 0;
        OK(CALL(st, key_put, &x.k));
    }
    OK(CALL(st, key_list_due, now, &v, &n));
    const char *want[] = { "k-02-del-now", "k-03-rot-past", "k-05-del-past",
                           "k-07-rot-now", "k-09-del-and-rot" };
    assert_int_equal(n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < n; i++) assert_string_equal(v[i].key_id, want[i]);
    assert_int_equal(v[0].deletion_date, now);
    assert_string_equal(v[0].key_state, KEY_STATE_PENDING_DELETION);
    key_list_free(v, n);
}

static void test_key_delete(void **state)
{
    store_t st = ((struct fx *)*state)->st;
    struct key_fx a, b;
    struct key_rec got;
    struct material_rec m;
    struct material_rec *mv;
    struct alias_rec al;
    struct alias_rec *av;
    struct tag_rec *tv;
    size_t n;

    mk_key(&a, "key-a", ACCT, REGION);
    mk_key(&b, "key-b", ACCT, REGION);
    OK(CALL(st, key_put, &a.k));
    OK(CALL(st, key_put, &b.k));
    for (uint32_t v = 1; v <= 3; v++) {
        put_material(st, "key-a", v, "wrapped-a", 9);
        put_material(st, "key-b", v, "wrapped-b", 9);
    }
    put_alias(st, ACCT, REGION, "alias/a1", "key-a");
    put_alias(st, ACCT, REGION, "alias/a2", "key-a");
    put_alias(st, ACCT, REGION, "alias/b1", "key-b");
    OK(CALL(st, tag_set, a.arn, "env", "prod"));
    OK(CALL(st, tag_set, a.arn, "team", "sec"));
    OK(CALL(st, tag_set, b.arn, "env", "dev"));

    /* Inside a transaction that rolls back: nothing changes. */
    OK(TX(st, tx_begin));
    OK(CALL(st, key_delete, "key-a", REGION));
    FAILS(CALL(st, key_get, "key-a", REGION, &got), TR_E_STORE_NOT_FOUND);
    (*st)->tx_rollback(st);
    OK(CALL(st, key_get, "key-a", REGION, &got));
    key_rec_free(&got);

    /* On its own (autocommit): the key, its materials, aliases, tags. */
    OK(CALL(st, key_delete, "key-a", REGION));
    FAILS(CALL(st, key_get, "key-a", REGION, &got), TR_E_STORE_NOT_FOUND);
    FAILS(CALL(st, material_get, "key-a", 1, &m), TR_E_STORE_NOT_FOUND);
    OK(CALL(st, material_list, "key-a", &mv, &n));
    assert_int_equal(n, 0);
    FAILS(CALL(st, alias_get, ACCT, REGION, "alias/a1", &al), TR_E_STORE_NOT_FOUND);
    OK(CALL(st, tag_list, a.arn, &tv, &n));
    assert_int_equal(n, 0);
    FAILS(CALL(st, key_delete, "key-a", REGION), TR_E_STORE_NOT_FOUND);

    /* The other key keeps everything. */
    OK(CALL(st, key_get, "key-b", REGION, &got));
    key_rec_free(&got);
    OK(CALL(st, material_list, "key-b", &mv, &n));
    assert_int_equal(n, 3);
    material_list_free(mv, n);
    OK(CALL(st, alias_list, ACCT, REGION, NULL, NULL, 100, &av, &n));
    assert_int_equal(n, 1);
    assert_string_equal(av[0].name, "alias/b1");
    alias_list_free(av, n);
    OK(CALL(st, tag_list, b.arn, &tv, &n));
    assert_int_equal(n, 1);
    tag_list_free(tv, n);

    /* Committed inside the caller's transaction. */
    OK(TX(st, tx_begin));
    OK(CALL(st, key_delete, "key-b", REGION));
    FAILS(CALL(st, key_delete, "key-b", REGION), TR_E_STORE_NOT_FOUND);
    OK(TX(st, tx_commit));
    FAILS(CALL(st, key_get, "key-b", REGION, &got), TR_E_STORE_NOT_FOUND);
    OK(CALL(st, material_list, "key-b", &mv, &n));
    assert_int_equal(n, 0);
}

/* ---- materials, aliases, tags ----------------------------------------------- */

static void test_materials(void **state)
{
    store_t st = ((struct fx *)*state)->st;
    uint8_t w[3][60];
    struct material_rec got, *v;
    size_t n;
    for (int i = 0; i < 3; i++)
        for (size_t j = 0; j < sizeof w[i]; j++) w[i][j] = (uint8_t)(j * 31 + (size_t)i);

    put_key(st, "mk", ACCT, REGION);
    put_material(st, "mk", 3, w[2], sizeof w[2]);
    put_material(st, "mk", 1, w[0], sizeof w[0]);
    put_material(st, "mk", 2, w[1], sizeof w[1]);
    {
        struct material_rec dup = { .key_id = "mk", .version = 2, .wrapped = buf_view("x", 1) };
        FAILS(CALL(st, material_put, &dup), TR_E_STORE_EXISTS);
    }

    OK(CALL(st, material_get, "mk", 2, &got));
    assert_string_equal(got.key_id, "mk");
    assert_int_equal(got.version, 2);
    assert_int_equal(got.created, 1700000002);
    assert_string_equal(got.rotation_type, "ON_DEMAND");
    assert_int_equal(got.wrapped.len, sizeof w[1]);
    assert_memory_equal(got.wrapped.data, w[1], sizeof w[1]);
    material_rec_free(&got);
    material_rec_free(&got);

    OK(CALL(st, material_list, "mk", &v, &n));
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(v[i].version, i + 1);
        assert_string_equal(v[i].rotation_type, i == 0 ? "" : "ON_DEMAND");
        assert_int_equal(v[i].wrapped.len, sizeof w[i]);
        assert_memory_equal(v[i].wrapped.data, w[i], sizeof w[i]);
    }
    material_list_free(v, n);

    FAILS(CALL(st, material_get, "mk", 4, &got), TR_E_STORE_NOT_FOUND);
    FAILS(CALL(st, material_get, "nope", 1, &got), TR_E_STORE_NOT_FOUND);
    material_rec_free(&got);
    OK(CALL(st, material_list, "nope", &v, &n));
    assert_int_equal(n, 0);
    assert_null(v);

    /* Materials are a key id's, shared by the regions that hold it, and
     * reference no key row: the store takes one whose id has no key yet
     * (tresor check reports such materials). */
    struct material_rec orphan = { .key_id = "nope", .version = 1, .wrapped = buf_view("x", 1) };
    OK(CALL(st, material_put, &orphan));
}

/* Imported material: its expiry and description round-trip; a row is
 * replaced whole by material_update (re-import, deletion, rotation to it)
 * and only when it exists, while material_put never replaces one. */
static void test_material_update(void **state)
{
    store_t st = ((struct fx *)*state)->st;
    struct material_rec got, *v;
    size_t n;

    put_key(st, "imk", ACCT, REGION);
    struct material_rec m = { .key_id = "imk", .version = 2, .created = 1700000100,
                              .rotation_type = "PENDING", .valid_to = 1800000000,
                              .description = "second: a/b_c.d-e f" };
    m.wrapped = buf_view("wrapped-two", 11);
    OK(CALL(st, material_put, &m));
    OK(CALL(st, material_get, "imk", 2, &got));
    assert_int_equal(got.valid_to, 1800000000);
    assert_string_equal(got.description, "second: a/b_c.d-e f");
    assert_string_equal(got.rotation_type, "PENDING");
    material_rec_free(&got);

    /* Rotated to, then deleted: the row stays, without bytes. */
    struct material_rec u = m;
    snprintf(u.rotation_type, sizeof u.rotation_type, "ON_DEMAND");
    u.created = 1700000200;
    u.wrapped = buf_view("", 0);
    u.valid_to = 0;
    OK(CALL(st, material_update, &u));
    OK(CALL(st, material_list, "imk", &v, &n));
    assert_int_equal(n, 1);
    assert_int_equal(v[0].created, 1700000200);
    assert_string_equal(v[0].rotation_type, "ON_DEMAND");
    assert_int_equal(v[0].wrapped.len, 0);
    assert_int_equal(v[0].valid_to, 0);
    assert_string_equal(v[0].description, "second: a/b_c.d-e f");
    material_list_free(v, n);

    /* No row: nothing made. */
    u.version = 3;
    FAILS(CALL(st, material_update, &u), TR_E_STORE_NOT_FOUND);
    FAILS(CALL(st, material_get, "imk", 3, &got), TR_E_STORE_NOT_FOUND);
    material_rec_free(&got);
    FAILS(CALL(st, material_put, &m), TR_E_STORE_EXISTS);
}

static void test_aliases(void **state)
{
    store_t st = ((struct fx *)*state)->st;
    struct alias_rec got, *v;
    size_t n;
    char name[64];

    put_key(st, "t1", ACCT, REGION);
    put_key(st, "t1", ACCT, "eu-west-1");     /* the same id in another region */
    put_key(st, "t2", ACCT, REGION);
    /* 12 aliases of ACCT/REGION, alternately on t1 and t2, out of order. */
    for (int i = 11; i >= 0; i--) {
        snprintf(name, sizeof name, "alias/n%02d", i);
        put_alias(st, ACCT, REGION, name, i % 2 ? "t2" : "t1");
    }
    put_alias(st, ACCT, "eu-west-1", "alias/n00", "t1");    /* same name elsewhere */
    put_alias(st, ACCT2, REGION, "alias/n00", "t1");
    {
        struct alias_rec dup = { .account_id = ACCT, .region = REGION, .name = "alias/n03",
                                 .target_key_id = "t1" };
        FAILS(CALL(st, alias_put, &dup), TR_E_STORE_EXISTS);
    }

    OK(CALL(st, alias_get, ACCT, REGION, "alias/n03", &got));
    assert_string_equal(got.account_id, ACCT);
    assert_string_equal(got.region, REGION);
    assert_string_equal(got.name, "alias/n03");
    assert_string_equal(got.target_key_id, "t2");
    assert_int_equal(got.created, 1700000100);
    assert_int_equal(got.updated, 1700000100);
    FAILS(CALL(st, alias_get, ACCT, REGION, "alias/none", &got), TR_E_STORE_NOT_FOUND);
    FAILS(CALL(st, alias_get, ACCT2, "eu-west-1", "alias/n00", &got), TR_E_STORE_NOT_FOUND);

    /* Update: new target and time, created kept. */
    struct alias_rec up = { .account_id = ACCT, .region = REGION, .name = "alias/n03",
                            .target_key_id = "t1", .created = 1, .updated = 1700009999 };
    OK(CALL(st, alias_update, &up));
    OK(CALL(st, alias_get, ACCT, REGION, "alias/n03", &got));
    assert_string_equal(got.target_key_id, "t1");
    assert_int_equal(got.created, 1700000100);
    assert_int_equal(got.updated, 1700009999);
    snprintf(up.name, sizeof up.name, "alias/none");
    FAILS(CALL(st, alias_update, &up), TR_E_STORE_NOT_FOUND);
    snprintf(up.name, sizeof up.name, "alias/n03");
    snprintf(up.target_key_id, sizeof up.target_key_id, "missing-key");
    FAILS(CALL(st, alias_update, &up), TR_E_STORE_NOT_FOUND);      /* foreign key */

    /* Paging over all, in name order. */
    char last[257] = "";
    const char *after = NULL;
    int seen = 0;
    for (int page = 0; page < 3; page++) {
        OK(CALL(st, alias_list, ACCT, REGION, NULL, after, 5, &v, &n));
        assert_int_equal(n, page < 2 ? 5 : 2);
        for (size_t i = 0; i < n; i++) {
            snprintf(name, sizeof name, "alias/n%02d", seen++);
            assert_string_equal(v[i].name, name);
            assert_string_equal(v[i].account_id, ACCT);
        }
        snprintf(last, sizeof last, "%s", v[n - 1].name);
        after = last;
        alias_list_free(v, n);
    }
    OK(CALL(st, alias_list, ACCT, REGION, NULL, after, 5, &v, &n));
    assert_int_equal(n, 0);

    /* By key: t2 has the odd ones but n03 (moved to t1). */
    const char *t2[] = { "alias/n01", "alias/n05", "alias/n07", "alias/n09", "alias/n11" };
    OK(CALL(st, alias_list, ACCT, REGION, "t2", NULL, 3, &v, &n));
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(v[i].name, t2[i]);
        assert_string_equal(v[i].target_key_id, "t2");
    }
    alias_list_free(v, n);
    OK(CALL(st, alias_list, ACCT, REGION, "t2", "alias/n05", 100, &v, &n));
    assert_int_equal(n, 3);
    assert_string_equal(v[0].name, "alias/n07");
    alias_list_free(v, n);
    OK(CALL(st, alias_list, ACCT, "eu-west-1", "t1", NULL, 100, &v, &n));
    assert_int_equal(n, 1);
    alias_list_free(v, n);
    OK(CALL(st, alias_list, ACCT, REGION, "nokey", NULL, 100, &v, &n));
    assert_int_equal(n, 0);

    OK(CALL(st, alias_delete, ACCT, REGION, "alias/n00"));
    FAILS(CALL(st, alias_delete, ACCT, REGION, "alias/n00"), TR_E_STORE_NOT_FOUND);
    OK(CALL(st, alias_get, ACCT, "eu-west-1", "alias/n00", &got));

    /* An alias to a key that does not exist (foreign key), or to a key
     * of another region only (the reference is (key id, region)). */
    struct alias_rec orphan = { .account_id = ACCT, .region = REGION, .name = "alias/o",
                                .target_key_id = "missing-key" };
    FAILS(CALL(st, alias_put, &orphan), TR_E_STORE_NOT_FOUND);
    put_key(st, "only-west", ACCT, "eu-west-1");
    struct alias_rec elsewhere = { .account_id = ACCT, .region = REGION, .name = "alias/w",
                                   .target_key_id = "only-west" };
    FAILS(CALL(st, alias_put, &elsewhere), TR_E_STORE_NOT_FOUND);
}

static void test_tags(void **state)
{
    store_t st = ((struct fx *)*state)->st;
    const char *arn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf";
    struct tag_rec *v;
    size_t n;

    OK(CALL(st, tag_list, arn, &v, &n));
    assert_int_equal(n, 0);
    assert_null(v);
    OK(CALL(st, tag_set, arn, "zeta", "1"));
    OK(CALL(st, tag_set, arn, "alpha", "2"));
    OK(CALL(st, tag_set, arn, "Mid", ""));
    OK(CALL(st, tag_set, arn, "alpha", "replaced"));
    OK(CALL(st, tag_set, "arn:other", "alpha", "other"));

    OK(CALL(st, tag_list, arn, &v, &n));
    assert_int_equal(n, 3);
    assert_string_equal(v[0].key, "Mid");       /* binary order */
    assert_string_equal(v[0].value, "");
    assert_string_equal(v[1].key, "alpha");
    assert_string_equal(v[1].value, "replaced");
    assert_string_equal(v[2].key, "zeta");
    assert_string_equal(v[2].value, "1");
    tag_list_free(v, n);

    OK(CALL(st, tag_delete, arn, "alpha"));
    FAILS(CALL(st, tag_delete, arn, "alpha"), TR_E_STORE_NOT_FOUND);
    OK(CALL(st, tag_list, arn, &v, &n));
    assert_int_equal(n, 2);
    tag_list_free(v, n);
    OK(CALL(st, tag_list, "arn:other", &v, &n));
    assert_int_equal(n, 1);
    assert_string_equal(v[0].value, "other");
    tag_list_free(v, n);
}

/* A stored value too long for its record (only a hand-edited database
 * has one) fails the read cleanly, also in the middle of a list. */
static void test_value_too_long_for_record(void **state)
{
    struct fx *f = *state;
    char p[512];
    struct key_rec got, *v;
    size_t n;
    db_path(f, "", p, sizeof p);

    put_key(f->st, "a1", ACCT, REGION);
    put_key(f->st, "a2", ACCT, REGION);
    raw_exec(p, "INSERT INTO kms_keys VALUES ('zz', '" ACCT "', '" REGION "', 'arn', '', "
                "'{}', 'AStateFarTooLongForTheRecordField', 'ENCRYPT_DECRYPT', "
                "'SYMMETRIC_DEFAULT', 'AWS_KMS', 'CUSTOMER', 1, 0, 0, 0, 365, 0, 1, NULL, '')");
    FAILS(CALL(f->st, key_get, "zz", REGION, &got), TR_E_INTERNAL);
    assert_null(got.arn);
    v = (struct key_rec *)(void *)1;
    FAILS(CALL(f->st, key_list, ACCT, REGION, NULL, 10, &v, &n), TR_E_INTERNAL);
    assert_null(v);
    assert_int_equal(n, 0);
    OK(CALL(f->st, key_get, "a1", REGION, &got));
    key_rec_free(&got);
    OK(CALL(f->st, key_list, ACCT, REGION, NULL, 2, &v, &n));
    assert_int_equal(n, 2);
    key_list_free(v, n);
}

/* Entity and relation kinds hold at most 15 bytes (store.h, kind[16]).
 * Nothing is cut to fit: a longer kind is refused where a record is made
 * (str_copy; STR_SET does not compile), and one stored by hand fails the
 * read instead of coming back as another, shorter kind.  (The IAM kind of
 * an instance profile is "inst-profile" for this reason: iam_util.c.) */
static void test_kind_too_long_for_record(void **state)
{
    struct fx *f = *state;
    char p[512];
    struct rel_rec r, *rv = NULL;
    struct ent_rec got;
    size_t n = 0;
    db_path(f, "", p, sizeof p);

    memset(&r, 0, sizeof r);
    assert_int_equal(tr_code(str_copy(r.kind, sizeof r.kind, "instance-profile", "the relation kind")),
                     TR_E_INTERNAL);
    tr_clear_error();
    assert_string_equal(r.kind, "");
    OK(str_copy(r.kind, sizeof r.kind, "instance-profi", "the relation kind"));

    raw_exec(p, "INSERT INTO relations VALUES ('instance-profile', 'arn:a', 'arn:b', '', 1)");
    raw_exec(p, "INSERT INTO entities VALUES ('instance-profile', '" ACCT "', 'n', 'AIPAX', "
                "'arn:aws:iam::" ACCT ":instance-profile/n', '/', '{}', 1)");
    FAILS(CALL(f->st, rel_list_kind, "instance-profile", NULL, NULL, 10, &rv, &n), TR_E_INTERNAL);
    assert_null(rv);
    assert_int_equal(n, 0);
    memset(&got, 0, sizeof got);
    FAILS(CALL(f->st, ent_get_arn, "instance-profile", "arn:aws:iam::" ACCT ":instance-profile/n",
               &got), TR_E_INTERNAL);
    assert_null(got.arn);
    /* The 15-byte prefix is another kind, with nothing in it. */
    OK(CALL(f->st, rel_list_kind, "instance-profil", NULL, NULL, 10, &rv, &n));
    assert_int_equal(n, 0);
    rel_list_free(rv, n);
}

/* ---- access keys of principals, entities, relations ------------------------ */

static void put_ak(store_t st, const char *akid, const char *principal, int64_t created,
                   int64_t expires, const char *doc)
{
    struct access_key_rec k = { .account_id = ACCT, .principal_type = PRINCIPAL_USER,
                                .principal_arn = (char *)principal,
                                .principal_id = (char *)"AIDAEXAMPLE", .active = true,
                                .created = created, .expires = expires,
                                .wrapped_secret = buf_view("wrapped", 7), .doc = (char *)doc };
    snprintf(k.access_key_id, sizeof k.access_key_id, "%s", akid);
    OK(CALL(st, access_key_put, &k));
}

static void test_access_key_list_update_delete_purge(void **state)
{
    store_t st = ((struct fx *)*state)->st;
    const char *alice = "arn:aws:iam::111122223333:user/alice";
    const char *bob = "arn:aws:iam::111122223333:user/bob";
    struct access_key_rec *v, got;
    size_t n;

    OK(CALL(st, access_key_list, alice, &v, &n));
    assert_int_equal(n, 0);
    assert_null(v);
    put_ak(st, "AKIA2", alice, 200, 0, "{\"user_name\":\"alice\"}");
    put_ak(st, "AKIA1", alice, 100, 0, NULL);
    put_ak(st, "AKIA3", bob, 50, 0, NULL);
    put_ak(st, "ASIA-old", bob, 10, 999, "{\"token_hash\":\"x\"}");
    put_ak(st, "ASIA-now", bob, 10, 1000, NULL);
    put_ak(st, "ASIA-new", bob, 10, 1001, NULL);

    OK(CALL(st, access_key_list, alice, &v, &n));
    assert_int_equal(n, 2);
    assert_string_equal(v[0].access_key_id, "AKIA1");     /* oldest first */
    assert_null(v[0].doc);
    assert_string_equal(v[1].access_key_id, "AKIA2");
    assert_string_equal(v[1].doc, "{\"user_name\":\"alice\"}");
    assert_int_equal(v[1].wrapped_secret.len, 7);
    assert_string_equal(v[1].principal_arn, alice);
    access_key_list_free(v, n);

    /* Update writes active, expires and doc, nothing else. */
    struct access_key_rec up = { .access_key_id = "AKIA2", .account_id = ACCT2,
                                 .principal_arn = (char *)"other", .active = false,
                                 .created = 1, .expires = 5000, .doc = NULL };
    OK(CALL(st, access_key_update, &up));
    OK(CALL(st, access_key_get, "AKIA2", &got));
    assert_false(got.active);
    assert_int_equal(got.expires, 5000);
    assert_null(got.doc);
    assert_string_equal(got.account_id, ACCT);
    assert_string_equal(got.principal_arn, alice);
    assert_int_equal(got.created, 200);
    access_key_rec_free(&got);
    up.doc = (char *)"{\"status\":\"Inactive\"}";
    OK(CALL(st, access_key_update, &up));
    OK(CALL(st, access_key_get, "AKIA2", &got));
    assert_string_equal(got.doc, "{\"status\":\"Inactive\"}");
    access_key_rec_free(&got);
    snprintf(up.access_key_id, sizeof up.access_key_id, "AKIANONE");
    FAILS(CALL(st, access_key_update, &up), TR_E_STORE_NOT_FOUND);

    OK(CALL(st, access_key_delete, "AKIA1"));
    FAILS(CALL(st, access_key_delete, "AKIA1"), TR_E_STORE_NOT_FOUND);
    FAILS(CALL(st, access_key_get, "AKIA1", &got), TR_E_STORE_NOT_FOUND);

    /* Purge: temporary keys that expired before now (1000). */
    OK(CALL(st, access_key_purge_expired, 1000, 0));
    FAILS(CALL(st, access_key_get, "ASIA-old", &got), TR_E_STORE_NOT_FOUND);
    OK(CALL(st, access_key_get, "ASIA-now", &got));
    access_key_rec_free(&got);
    OK(CALL(st, access_key_get, "ASIA-new", &got));
    access_key_rec_free(&got);
    OK(CALL(st, access_key_get, "AKIA3", &got));        /* expires 0: never */
    access_key_rec_free(&got);
    OK(CALL(st, access_key_purge_expired, 1000, 0));       /* nothing left: fine */
    OK(CALL(st, access_key_purge_expired, INT64_MAX, 0));
    OK(CALL(st, access_key_list, bob, &v, &n));
    assert_int_equal(n, 1);
    assert_string_equal(v[0].access_key_id, "AKIA3");
    access_key_list_free(v, n);

    /* What is gone left tombstones: a deleted key (expires 0), purged
     * sessions (their expiry, and the token digest when the doc had one). */
    int64_t exp;
    char hex[65];
    OK(CALL(st, access_key_tombstone_get, "AKIA1", &exp, hex));
    assert_int_equal(exp, 0);
    assert_string_equal(hex, "");
    OK(CALL(st, access_key_tombstone_get, "ASIA-new", &exp, hex));
    assert_int_equal(exp, 1001);
    FAILS(CALL(st, access_key_tombstone_get, "AKIA3", &exp, hex), TR_E_STORE_NOT_FOUND);
    FAILS(CALL(st, access_key_tombstone_get, "AKIANEVER", &exp, hex), TR_E_STORE_NOT_FOUND);
    char doc[100];
    snprintf(doc, sizeof doc, "{\"token_sha256\":\"%064d\"}", 7);
    put_ak(st, "ASIA-tok", bob, 10, 2000, doc);
    put_ak(st, "ASIA-bad", bob, 10, 2000, "not json");
    OK(CALL(st, access_key_purge_expired, 3000, 0));
    OK(CALL(st, access_key_tombstone_get, "ASIA-bad", &exp, hex));
    assert_string_equal(hex, "");
    OK(CALL(st, access_key_tombstone_get, "ASIA-tok", &exp, hex));
    assert_int_equal(exp, 2000);
    assert_int_equal(strlen(hex), 64);
    /* A key put again (UpdateUser re-puts them) is no longer a tombstone. */
    put_ak(st, "AKIA1", alice, 100, 0, NULL);
    FAILS(CALL(st, access_key_tombstone_get, "AKIA1", &exp, hex), TR_E_STORE_NOT_FOUND);
    /* Session tombstones are pruned once their session expired long ago. */
    OK(CALL(st, access_key_purge_expired, 3000, 1500));
    FAILS(CALL(st, access_key_tombstone_get, "ASIA-new", &exp, hex), TR_E_STORE_NOT_FOUND);
    OK(CALL(st, access_key_tombstone_get, "ASIA-tok", &exp, hex));
    OK(CALL(st, access_key_delete, "AKIA1"));
    OK(CALL(st, access_key_purge_expired, 3000, INT64_MAX));
    OK(CALL(st, access_key_tombstone_get, "AKIA1", &exp, hex));     /* long-term: kept */
}

static void mk_ent(struct ent_rec *e, const char *kind, const char *acct, const char *name,
                   const char *id, const char *arn, const char *path)
{
    memset(e, 0, sizeof *e);
    snprintf(e->kind, sizeof e->kind, "%s", kind);
    snprintf(e->account_id, sizeof e->account_id, "%s", acct);
    e->name = (char *)name;
    e->id = (char *)id;
    e->arn = (char *)arn;
    e->path = (char *)path;
    e->doc = (char *)"{\"max_session_duration\":3600}";
    e->created = 1700000000;
}

static void test_entities(void **state)
{
    store_t st = ((struct fx *)*state)->st;
    struct ent_rec e, got, *v;
    size_t n;
    char name[32], id[32], arn[96];

    mk_ent(&e, "role", ACCT, "Admin", "AROAADMIN", "arn:aws:iam::111122223333:role/ops/Admin",
           "/ops/");
    OK(CALL(st, ent_put, &e));
    OK(CALL(st, ent_get, "role", ACCT, "Admin", &got));
    assert_string_equal(got.kind, "role");
    assert_string_equal(got.account_id, ACCT);
    assert_string_equal(got.name, "Admin");
    assert_string_equal(got.id, "AROAADMIN");
    assert_string_equal(got.arn, e.arn);
    assert_string_equal(got.path, "/ops/");
    assert_string_equal(got.doc, e.doc);
    assert_int_equal(got.created, 1700000000);
    ent_rec_free(&got);
    ent_rec_free(&got);
    OK(CALL(st, ent_get_arn, "role", e.arn, &got));
    assert_string_equal(got.name, "Admin");
    ent_rec_free(&got);
    OK(CALL(st, ent_get_id, "role", "AROAADMIN", &got));
    assert_string_equal(got.arn, e.arn);
    ent_rec_free(&got);

    /* Not found: other kind, other account, other case. */
    FAILS(CALL(st, ent_get, "user", ACCT, "Admin", &got), TR_E_STORE_NOT_FOUND);
    FAILS(CALL(st, ent_get, "role", ACCT2, "Admin", &got), TR_E_STORE_NOT_FOUND);
    FAILS(CALL(st, ent_get, "role", ACCT, "admin", &got), TR_E_STORE_NOT_FOUND);
    FAILS(CALL(st, ent_get_arn, "role", "arn:none", &got), TR_E_STORE_NOT_FOUND);
    FAILS(CALL(st, ent_get_id, "role", "AROANONE", &got), TR_E_STORE_NOT_FOUND);
    assert_null(got.name);

    /* Unique by (kind, arn), (kind, account, name), (kind, id) ... */
    struct ent_rec d;
    mk_ent(&d, "role", ACCT, "Other", "AROAOTHER", e.arn, "/");
    FAILS(CALL(st, ent_put, &d), TR_E_STORE_EXISTS);
    mk_ent(&d, "role", ACCT, "Admin", "AROAOTHER", "arn:other", "/");
    FAILS(CALL(st, ent_put, &d), TR_E_STORE_EXISTS);
    mk_ent(&d, "role", ACCT, "Other", "AROAADMIN", "arn:other", "/");
    FAILS(CALL(st, ent_put, &d), TR_E_STORE_EXISTS);
    /* ... but the same name in another account or kind is fine, and a NULL
     * path and doc default to "/" and "{}". */
    mk_ent(&d, "role", ACCT2, "Admin", "AROAADMIN2", "arn:aws:iam::444455556666:role/Admin", NULL);
    d.doc = NULL;
    OK(CALL(st, ent_put, &d));
    OK(CALL(st, ent_get_id, "role", "AROAADMIN2", &got));
    assert_string_equal(got.path, "/");
    assert_string_equal(got.doc, "{}");
    ent_rec_free(&got);
    mk_ent(&d, "user", ACCT, "Admin", "AIDAADMIN", "arn:aws:iam::111122223333:user/Admin", "/");
    OK(CALL(st, ent_put, &d));

    /* Update by kind+arn: name, path, doc; id, account, created kept. */
    struct ent_rec u;
    mk_ent(&u, "role", ACCT2, "Renamed", "AROAIGNORED", e.arn, "/new/");
    u.doc = (char *)"{}";
    u.created = 5;
    OK(CALL(st, ent_update, &u));
    OK(CALL(st, ent_get_arn, "role", e.arn, &got));
    assert_string_equal(got.name, "Renamed");
    assert_string_equal(got.path, "/new/");
    assert_string_equal(got.doc, "{}");
    assert_string_equal(got.id, "AROAADMIN");
    assert_string_equal(got.account_id, ACCT);
    assert_int_equal(got.created, 1700000000);
    ent_rec_free(&got);
    FAILS(CALL(st, ent_get, "role", ACCT, "Admin", &got), TR_E_STORE_NOT_FOUND);
    mk_ent(&u, "role", ACCT, "Renamed", "x", "arn:none", "/");
    FAILS(CALL(st, ent_update, &u), TR_E_STORE_NOT_FOUND);

    /* A rename onto a taken name. */
    mk_ent(&d, "role", ACCT, "Taken", "AROATAKEN", "arn:aws:iam::111122223333:role/Taken", "/");
    OK(CALL(st, ent_put, &d));
    mk_ent(&u, "role", ACCT, "Taken", "x", e.arn, "/");
    FAILS(CALL(st, ent_update, &u), TR_E_STORE_EXISTS);

    OK(CALL(st, ent_delete, "role", d.arn));
    FAILS(CALL(st, ent_delete, "role", d.arn), TR_E_STORE_NOT_FOUND);
    FAILS(CALL(st, ent_delete, "user", e.arn), TR_E_STORE_NOT_FOUND);
    OK(CALL(st, ent_delete, "role", e.arn));

    /* List: 12 users under /a/ and /b/, out of order; by name, paged,
     * filtered by path prefix. */
    for (int i = 11; i >= 0; i--) {
        snprintf(name, sizeof name, "u%02d", i);
        snprintf(id, sizeof id, "AIDA%02d", i);
        snprintf(arn, sizeof arn, "arn:aws:iam::%s:user/%s", ACCT2, name);
        mk_ent(&d, "user", ACCT2, name, id, arn, i % 3 ? "/a/x/" : "/b/");
        OK(CALL(st, ent_put, &d));
    }
    const char *after = NULL;
    char last[32];
    int seen = 0;
    for (int page = 0; page < 3; page++) {
        OK(CALL(st, ent_list, "user", ACCT2, NULL, after, 5, &v, &n));
        assert_int_equal(n, page < 2 ? 5 : 2);
        for (size_t i = 0; i < n; i++) {
            snprintf(name, sizeof name, "u%02d", seen++);
            assert_string_equal(v[i].name, name);
        }
        snprintf(last, sizeof last, "%s", v[n - 1].name);
        after = last;
        ent_list_free(v, n);
    }
    OK(CALL(st, ent_list, "user", ACCT2, "/b/", NULL, 100, &v, &n));
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) assert_string_equal(v[i].path, "/b/");
    assert_string_equal(v[1].name, "u03");
    ent_list_free(v, n);
    OK(CALL(st, ent_list, "user", ACCT2, "/a/", "u04", 100, &v, &n));
    assert_int_equal(n, 5);                     /* 05 07 08 10 11 */
    assert_string_equal(v[0].name, "u05");
    ent_list_free(v, n);
    OK(CALL(st, ent_list, "user", ACCT2, "/", NULL, 100, &v, &n));
    assert_int_equal(n, 12);
    ent_list_free(v, n);
    OK(CALL(st, ent_list, "user", ACCT2, "/a/x/y/", NULL, 100, &v, &n));
    assert_int_equal(n, 0);
    OK(CALL(st, ent_list, "user", ACCT2, "%", NULL, 100, &v, &n));   /* no LIKE */
    assert_int_equal(n, 0);
    OK(CALL(st, ent_list, "role", ACCT2, NULL, NULL, 100, &v, &n));
    assert_int_equal(n, 1);
    ent_list_free(v, n);
}

static void test_relations(void **state)
{
    store_t st = ((struct fx *)*state)->st;
    const char *g1 = "arn:aws:iam::111122223333:group/devs";
    const char *g2 = "arn:aws:iam::111122223333:group/ops";
    struct rel_rec r, got, *v;
    size_t n;
    char to[64];

    memset(&r, 0, sizeof r);
    snprintf(r.kind, sizeof r.kind, "member");
    r.from = (char *)g1;
    r.doc = NULL;                            /* stored as "" */
    for (int i = 9; i >= 0; i--) {
        snprintf(to, sizeof to, "arn:aws:iam::111122223333:user/u%d", i);
        r.to = to;
        r.created = 100 + i;
        OK(CALL(st, rel_put, &r));
    }
    r.from = (char *)g2;
    r.to = (char *)"arn:aws:iam::111122223333:user/u3";
    OK(CALL(st, rel_put, &r));
    snprintf(r.kind, sizeof r.kind, "inline");
    r.from = (char *)"arn:aws:iam::111122223333:user/u3";
    r.to = (char *)"s3-read";
    r.doc = (char *)"{\"Version\":\"2012-10-17\"}";
    r.created = 7;
    OK(CALL(st, rel_put, &r));

    OK(CALL(st, rel_get, "inline", r.from, "s3-read", &got));
    assert_string_equal(got.kind, "inline");
    assert_string_equal(got.from, r.from);
    assert_string_equal(got.to, "s3-read");
    assert_string_equal(got.doc, "{\"Version\":\"2012-10-17\"}");
    assert_int_equal(got.created, 7);
    rel_rec_free(&got);
    rel_rec_free(&got);
    /* Put again replaces doc and created. */
    r.doc = (char *)"{}";
    r.created = 8;
    OK(CALL(st, rel_put, &r));
    OK(CALL(st, rel_get, "inline", r.from, "s3-read", &got));
    assert_string_equal(got.doc, "{}");
    assert_int_equal(got.created, 8);
    rel_rec_free(&got);
    OK(CALL(st, rel_get, "member", g1, "arn:aws:iam::111122223333:user/u0", &got));
    assert_string_equal(got.doc, "");
    rel_rec_free(&got);
    FAILS(CALL(st, rel_get, "member", g1, "nobody", &got), TR_E_STORE_NOT_FOUND);
    FAILS(CALL(st, rel_get, "inline", g1, "arn:aws:iam::111122223333:user/u0", &got),
          TR_E_STORE_NOT_FOUND);
    assert_null(got.from);

    /* From a group, ordered by `to`, paged. */
    const char *after = NULL;
    char last[64];
    int seen = 0;
    for (int page = 0; page < 3; page++) {
        OK(CALL(st, rel_list_from, "member", g1, after, 4, &v, &n));
        assert_int_equal(n, page < 2 ? 4 : 2);
        for (size_t i = 0; i < n; i++) {
            snprintf(to, sizeof to, "arn:aws:iam::111122223333:user/u%d", seen++);
            assert_string_equal(v[i].to, to);
            assert_string_equal(v[i].from, g1);
            assert_int_equal(v[i].created, 100 + seen - 1);
        }
        snprintf(last, sizeof last, "%s", v[n - 1].to);
        after = last;
        rel_list_free(v, n);
    }
    OK(CALL(st, rel_list_from, "member", g1, after, 4, &v, &n));
    assert_int_equal(n, 0);

    /* To a user, ordered by `from`. */
    OK(CALL(st, rel_list_to, "member", "arn:aws:iam::111122223333:user/u3", &v, &n));
    assert_int_equal(n, 2);
    assert_string_equal(v[0].from, g1);
    assert_string_equal(v[1].from, g2);
    rel_list_free(v, n);
    OK(CALL(st, rel_list_to, "attached", "arn:aws:iam::111122223333:user/u3", &v, &n));
    assert_int_equal(n, 0);

    OK(CALL(st, rel_delete, "member", g2, "arn:aws:iam::111122223333:user/u3"));
    FAILS(CALL(st, rel_delete, "member", g2, "arn:aws:iam::111122223333:user/u3"),
          TR_E_STORE_NOT_FOUND);
    OK(CALL(st, rel_list_to, "member", "arn:aws:iam::111122223333:user/u3", &v, &n));
    assert_int_equal(n, 1);
    rel_list_free(v, n);
}

/* rel_member_get/set: one member of a relation's doc.  The backends write
 * JSON text their own way (SQLite compact, in the doc's order; jsonb with
 * spaces, keys in its order), so what is read back is compared as JSON;
 * what must match exactly is which values come back, that the other
 * members stay as they were, and that the whole doc stays JSON. */
static void assert_json_text(const char *text, const char *want)
{
    json_error_t e1, e2;
    json_t *a = json_loads(text, JSON_DECODE_ANY, &e1), *b = json_loads(want, JSON_DECODE_ANY, &e2);
    if (!a || !json_equal(a, b)) fprintf(stderr, "store_test: got %s, want %s\n", text, want);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
}

static void assert_rel_doc_at(store_t st, const char *from, const char *to, const char *want,
                              int64_t created)
{
    struct rel_rec got;
    OK(CALL(st, rel_get, "sm-ver", from, to, &got));
    assert_json_text(got.doc, want);
    assert_int_equal(got.created, created);
    rel_rec_free(&got);
}

static void assert_rel_doc(store_t st, const char *from, const char *to, const char *want)
{
    assert_rel_doc_at(st, from, to, want, 42);
}

static void test_rel_member(void **state)
{
    store_t st = ((struct fx *)*state)->st;
    const char *arn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:s-AbCdEf";
    const char *doc = "{\"stages\":[\"AWSCURRENT\"],\"ct\":\"q83v\",\"created\":1765000000.5,"
        "\"seq\":7.0,\"obj\":{\"k\":[1,{\"x\":null}]},\"nul\":null,\"binary\":false}";
    struct rel_rec r = { .from = (char *)arn, .to = (char *)"v1", .doc = (char *)doc,
                         .created = 42 }, got;
    snprintf(r.kind, sizeof r.kind, "sm-ver");
    OK(CALL(st, rel_put, &r));

    /* Each kind of value, as its JSON text; the row's other columns too. */
    OK(CALL(st, rel_member_get, "sm-ver", arn, "v1", "stages", &got));
    assert_string_equal(got.kind, "sm-ver");
    assert_string_equal(got.from, arn);
    assert_string_equal(got.to, "v1");
    assert_int_equal(got.created, 42);
    assert_json_text(got.doc, "[\"AWSCURRENT\"]");
    rel_rec_free(&got);
    OK(CALL(st, rel_member_get, "sm-ver", arn, "v1", "ct", &got));
    assert_string_equal(got.doc, "\"q83v\"");
    rel_rec_free(&got);
    OK(CALL(st, rel_member_get, "sm-ver", arn, "v1", "obj", &got));
    assert_json_text(got.doc, "{\"k\":[1,{\"x\":null}]}");
    rel_rec_free(&got);
    OK(CALL(st, rel_member_get, "sm-ver", arn, "v1", "created", &got));
    assert_json_text(got.doc, "1765000000.5");
    rel_rec_free(&got);
    OK(CALL(st, rel_member_get, "sm-ver", arn, "v1", "binary", &got));
    assert_string_equal(got.doc, "false");
    rel_rec_free(&got);
    /* A member that is null and one the doc lacks both read as null. */
    OK(CALL(st, rel_member_get, "sm-ver", arn, "v1", "nul", &got));
    assert_string_equal(got.doc, "null");
    rel_rec_free(&got);
    OK(CALL(st, rel_member_get, "sm-ver", arn, "v1", "missing", &got));
    assert_string_equal(got.doc, "null");
    assert_string_equal(got.to, "v1");
    rel_rec_free(&got);

    /* Set: an array replaces the member, the rest stays as it was. */
    OK(CALL(st, rel_member_set, "sm-ver", arn, "v1", "stages", "[\"AWSPREVIOUS\",\"x y\"]"));
    assert_rel_doc(st, arn, "v1", "{\"stages\":[\"AWSPREVIOUS\",\"x y\"],\"ct\":\"q83v\","
                   "\"created\":1765000000.5,\"seq\":7.0,\"obj\":{\"k\":[1,{\"x\":null}]},"
                   "\"nul\":null,\"binary\":false}");
    OK(CALL(st, rel_member_get, "sm-ver", arn, "v1", "stages", &got));
    assert_json_text(got.doc, "[\"AWSPREVIOUS\",\"x y\"]");
    rel_rec_free(&got);
    /* An empty array, a string with escapes and UTF-8, an object, null;
     * a member the doc lacks is added. */
    OK(CALL(st, rel_member_set, "sm-ver", arn, "v1", "stages", "[]"));
    OK(CALL(st, rel_member_set, "sm-ver", arn, "v1", "ct", "\"\\u00e9\\\"\\\\\\n\xc3\xa9\""));
    OK(CALL(st, rel_member_set, "sm-ver", arn, "v1", "obj", "{\"b\":{\"c\":[]},\"a\":1}"));
    OK(CALL(st, rel_member_set, "sm-ver", arn, "v1", "binary", "null"));
    OK(CALL(st, rel_member_set, "sm-ver", arn, "v1", "added_one", "{\"a\":\"b\"}"));
    assert_rel_doc(st, arn, "v1", "{\"stages\":[],\"ct\":\"\xc3\xa9\\\"\\\\\\n\xc3\xa9\","
                   "\"created\":1765000000.5,\"seq\":7.0,\"obj\":{\"a\":1,\"b\":{\"c\":[]}},"
                   "\"nul\":null,\"binary\":null,\"added_one\":{\"a\":\"b\"}}");
    OK(CALL(st, rel_member_get, "sm-ver", arn, "v1", "ct", &got));
    assert_json_text(got.doc, "\"\xc3\xa9\\\"\\\\\\n\xc3\xa9\"");
    rel_rec_free(&got);
    OK(CALL(st, rel_member_get, "sm-ver", arn, "v1", "added_one", &got));
    assert_json_text(got.doc, "{\"a\":\"b\"}");
    rel_rec_free(&got);
    /* The numbers keep their values (jansson reads them back as reals). */
    OK(CALL(st, rel_get, "sm-ver", arn, "v1", &got));
    json_t *d = json_loads(got.doc, 0, NULL);
    rel_rec_free(&got);
    assert_non_null(d);
    assert_true(json_is_real(json_object_get(d, "seq")));
    assert_true(json_number_value(json_object_get(d, "created")) == 1765000000.5);
    json_decref(d);

    /* A missing row: not found, and nothing is created. */
    FAILS(CALL(st, rel_member_get, "sm-ver", arn, "v2", "stages", &got), TR_E_STORE_NOT_FOUND);
    assert_null(got.from);
    FAILS(CALL(st, rel_member_get, "sm-seq", arn, "v1", "stages", &got), TR_E_STORE_NOT_FOUND);
    FAILS(CALL(st, rel_member_set, "sm-ver", arn, "v2", "stages", "[]"), TR_E_STORE_NOT_FOUND);
    FAILS(CALL(st, rel_get, "sm-ver", arn, "v2", &got), TR_E_STORE_NOT_FOUND);

    /* A member name outside [a-z_]{1,32}, a NULL, or a value that is not
     * JSON: refused, the doc unchanged. */
    const char *bad[] = { "", "Stages", "a.b", "$", "a'b", "a b",
                          "abcdefghijklmnopqrstuvwxyzabcdefg" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(tr_code(CALL(st, rel_member_get, "sm-ver", arn, "v1", bad[i], &got)),
                         TR_E_INTERNAL);
        assert_int_equal(tr_code(CALL(st, rel_member_set, "sm-ver", arn, "v1", bad[i], "[]")),
                         TR_E_INTERNAL);
    }
    OK(CALL(st, rel_member_get, "sm-ver", arn, "v1", "abcdefghijklmnopqrstuvwxyzabcdef", &got));
    assert_string_equal(got.doc, "null");                           /* 32: a name */
    rel_rec_free(&got);
    assert_int_equal(tr_code(CALL(st, rel_member_get, "sm-ver", arn, "v1", NULL, &got)),
                     TR_E_INTERNAL);
    assert_int_equal(tr_code(CALL(st, rel_member_set, "sm-ver", arn, "v1", "stages", NULL)),
                     TR_E_INTERNAL);
    assert_true(tr_failed(CALL(st, rel_member_set, "sm-ver", arn, "v1", "stages", "[\"a\"")));
    assert_true(tr_failed(CALL(st, rel_member_set, "sm-ver", arn, "v1", "stages", "")));
    assert_rel_doc(st, arn, "v1", "{\"stages\":[],\"ct\":\"\xc3\xa9\\\"\\\\\\n\xc3\xa9\","
                   "\"created\":1765000000.5,\"seq\":7.0,\"obj\":{\"a\":1,\"b\":{\"c\":[]}},"
                   "\"nul\":null,\"binary\":null,\"added_one\":{\"a\":\"b\"}}");
}

static void put_rel(store_t st, const char *kind, const char *from, const char *to)
{
    struct rel_rec r = { .from = (char *)from, .to = (char *)to, .doc = (char *)"{}", .created = 1 };
    snprintf(r.kind, sizeof r.kind, "%s", kind);
    OK(CALL(st, rel_put, &r));
}

static bool has_rel(store_t st, const char *kind, const char *from, const char *to)
{
    struct rel_rec got;
    tr_result r = CALL(st, rel_get, kind, from, to, &got);
    if (tr_ok(r)) rel_rec_free(&got);
    else tr_clear_error();
    return tr_ok(r);
}

/* rel_prune_order: the first `count` of the order, by `to`, whose item is
 * not kept go with their items, in one statement; another `from` is left
 * alone; an order row without its item counts one.  Fails on the old code
 * (no such call). */
static void test_rel_prune_order(void **state)
{
    store_t st = ((struct fx *)*state)->st;
    const char *arn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:q-AbCdEf";
    const char *other = "arn:aws:secretsmanager:us-east-1:111122223333:secret:r-AbCdEf";
    char seq[7][48];
    int deleted = -1;
    for (int i = 0; i < 7; i++) {
        char item[16];
        snprintf(item, sizeof item, "v%d", i + 1);
        snprintf(seq[i], sizeof seq[i], "%020d|%s", i + 1, item);
        put_rel(st, "sm-seq", arn, seq[i]);
        if (i < 6) put_rel(st, "sm-ver", arn, item);       /* v7's order row has no item */
        put_rel(st, "sm-seq", other, seq[i]);
        put_rel(st, "sm-ver", other, item);
    }
    const char *keep[STORE_PRUNE_KEEP_MAX + 1] = { "v3", "v1" };

    OK(CALL(st, rel_prune_order, "sm-seq", "sm-ver", arn, 2, keep, 2, &deleted));
    assert_int_equal(deleted, 4);
    assert_true(has_rel(st, "sm-ver", arn, "v1") && has_rel(st, "sm-seq", arn, seq[0]));
    assert_false(has_rel(st, "sm-ver", arn, "v2") || has_rel(st, "sm-seq", arn, seq[1]));
    assert_true(has_rel(st, "sm-ver", arn, "v3") && has_rel(st, "sm-seq", arn, seq[2]));
    assert_false(has_rel(st, "sm-ver", arn, "v4") || has_rel(st, "sm-seq", arn, seq[3]));
    assert_true(has_rel(st, "sm-ver", arn, "v5") && has_rel(st, "sm-seq", arn, seq[4]));
    assert_true(has_rel(st, "sm-ver", other, "v2") && has_rel(st, "sm-seq", other, seq[1]));

    /* Nothing asked: nothing done; too many to keep: refused. */
    OK(CALL(st, rel_prune_order, "sm-seq", "sm-ver", arn, 0, keep, 2, &deleted));
    assert_int_equal(deleted, 0);
    for (int i = 0; i <= STORE_PRUNE_KEEP_MAX; i++) keep[i] = "v1";
    FAILS(CALL(st, rel_prune_order, "sm-seq", "sm-ver", arn, 1, keep, STORE_PRUNE_KEEP_MAX + 1, &deleted),
          TR_E_INTERNAL);
    assert_true(has_rel(st, "sm-ver", arn, "v3"));

    /* More asked than there are: the rest go; the itemless row counts one. */
    keep[0] = "v5";
    OK(CALL(st, rel_prune_order, "sm-seq", "sm-ver", arn, 10, keep, 1, &deleted));
    assert_int_equal(deleted, 7);
    assert_true(has_rel(st, "sm-ver", arn, "v5") && has_rel(st, "sm-seq", arn, seq[4]));
    assert_false(has_rel(st, "sm-ver", arn, "v1") || has_rel(st, "sm-ver", arn, "v3")
                 || has_rel(st, "sm-ver", arn, "v6") || has_rel(st, "sm-seq", arn, seq[6]));
    for (int i = 0; i < 7; i++) assert_true(has_rel(st, "sm-seq", other, seq[i]));
}

/* rel_put_pair, rel_member_get_pair and rel_member_set_pair: two rows in
 * one statement each,
 * as two rel_put / rel_member_set calls would leave them; a pair that
 * names one row twice is refused; a pair set with one row missing is
 * not found and, rolled back, changes nothing.  Fails on the old code
 * (no such calls). */
static void test_rel_pairs(void **state)
{
    store_t st = ((struct fx *)*state)->st;
    const char *arn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:p-AbCdEf";
    struct rel_rec a = { .from = (char *)arn, .to = (char *)"v1",
                         .doc = (char *)"{\"stages\":[\"AWSCURRENT\"],\"ct\":\"x\"}", .created = 42 };
    struct rel_rec b = { .from = (char *)arn, .to = (char *)"00000000000000000001|v1",
                         .doc = (char *)"", .created = 43 };
    struct rel_rec c = { .from = (char *)arn, .to = (char *)"v2",
                         .doc = (char *)"{\"stages\":[\"AWSPREVIOUS\"],\"ct\":\"y\"}", .created = 44 };
    struct rel_rec got;
    snprintf(a.kind, sizeof a.kind, "sm-ver");
    snprintf(b.kind, sizeof b.kind, "sm-seq");
    snprintf(c.kind, sizeof c.kind, "sm-ver");

    OK(CALL(st, rel_put_pair, &a, &b));
    OK(CALL(st, rel_get, "sm-ver", arn, "v1", &got));
    assert_json_text(got.doc, a.doc);
    assert_int_equal(got.created, 42);
    rel_rec_free(&got);
    OK(CALL(st, rel_get, "sm-seq", arn, "00000000000000000001|v1", &got));
    assert_string_equal(got.doc, "");
    assert_int_equal(got.created, 43);
    rel_rec_free(&got);
    /* Again: an upsert, as rel_put is. */
    a.doc = (char *)"{\"stages\":[\"AWSCURRENT\"],\"ct\":\"z\"}";
    OK(CALL(st, rel_put_pair, &a, &c));
    assert_rel_doc_at(st, arn, "v1", a.doc, 42);
    assert_rel_doc_at(st, arn, "v2", c.doc, 44);
    /* One row twice: refused before anything runs. */
    FAILS(CALL(st, rel_put_pair, &a, &a), TR_E_INTERNAL);

    /* Each row its own value; the other members stay. */
    OK(CALL(st, rel_member_set_pair, "sm-ver", arn, "stages", "v1", "[\"AWSPREVIOUS\"]", "v2", "[]"));
    assert_rel_doc_at(st, arn, "v1", "{\"stages\":[\"AWSPREVIOUS\"],\"ct\":\"z\"}", 42);
    assert_rel_doc_at(st, arn, "v2", "{\"stages\":[],\"ct\":\"y\"}", 44);
    OK(CALL(st, rel_member_set_pair, "sm-ver", arn, "stages", "v2", "[\"A\",\"B\"]", "v1", "[\"C\"]"));
    assert_rel_doc_at(st, arn, "v1", "{\"stages\":[\"C\"],\"ct\":\"z\"}", 42);
    assert_rel_doc_at(st, arn, "v2", "{\"stages\":[\"A\",\"B\"],\"ct\":\"y\"}", 44);
    /* Both read in one statement, ordered by to; a missing one is left
     * out; the same one twice is one row. */
    struct rel_rec *rows = NULL;
    size_t n = 0;
    OK(CALL(st, rel_member_get_pair, "sm-ver", arn, "stages", "v2", "v1", &rows, &n));
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].to, "v1");
    assert_json_text(rows[0].doc, "[\"C\"]");
    assert_int_equal(rows[0].created, 42);
    assert_string_equal(rows[1].to, "v2");
    assert_json_text(rows[1].doc, "[\"A\",\"B\"]");
    rel_list_free(rows, n);
    OK(CALL(st, rel_member_get_pair, "sm-ver", arn, "ct", "v9", "v2", &rows, &n));
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].to, "v2");
    assert_string_equal(rows[0].doc, "\"y\"");
    rel_list_free(rows, n);
    OK(CALL(st, rel_member_get_pair, "sm-ver", arn, "missing", "v1", "v1", &rows, &n));
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].doc, "null");
    rel_list_free(rows, n);
    OK(CALL(st, rel_member_get_pair, "sm-seq", arn, "stages", "v1", "v2", &rows, &n));
    assert_int_equal(n, 0);
    assert_null(rows);
    FAILS(CALL(st, rel_member_get_pair, "sm-ver", arn, "a.b", "v1", "v2", &rows, &n), TR_E_INTERNAL);

    /* One of the two missing: not found; rolled back, nothing changed. */
    OK(TX(st, tx_begin));
    FAILS(CALL(st, rel_member_set_pair, "sm-ver", arn, "stages", "v1", "[]", "v9", "[]"),
          TR_E_STORE_NOT_FOUND);
    (*st)->tx_rollback(st);
    assert_rel_doc_at(st, arn, "v1", "{\"stages\":[\"C\"],\"ct\":\"z\"}", 42);
    /* The same row twice, a bad member name, a value that is not JSON. */
    FAILS(CALL(st, rel_member_set_pair, "sm-ver", arn, "stages", "v1", "[]", "v1", "[]"), TR_E_INTERNAL);
    FAILS(CALL(st, rel_member_set_pair, "sm-ver", arn, "a.b", "v1", "[]", "v2", "[]"), TR_E_INTERNAL);
    OK(TX(st, tx_begin));
    assert_true(tr_failed(CALL(st, rel_member_set_pair, "sm-ver", arn, "stages", "v1", "[", "v2", "[]")));
    (*st)->tx_rollback(st);
    assert_rel_doc_at(st, arn, "v2", "{\"stages\":[\"A\",\"B\"],\"ct\":\"y\"}", 44);
}

/* The class implements every call of store.h (a NULL slot would crash the
 * caller): checks each function pointer after `name`. */
static void test_class_is_complete(void **state)
{
    store_t st = ((struct fx *)*state)->st;
    const struct store_class *cls = *st;
    typedef void (*fn)(void);
    size_t first = offsetof(struct store_class, close);
    size_t count = (sizeof *cls - first) / sizeof(fn);
    assert_true(count >= 40);
    for (size_t i = 0; i < count; i++) {
        fn f;
        memcpy(&f, (const char *)cls + first + i * sizeof f, sizeof f);
        if (!f) fprintf(stderr, "store_test: slot %zu of struct store_class is NULL\n", i);
        assert_non_null(f);
    }
}

/* ---- transactions and durability ------------------------------------------- */

static void test_rollback_leaves_nothing(void **state)
{
    store_t st = ((struct fx *)*state)->st;
    struct account_rec a = { .id = ACCT, .created = 1 };
    struct access_key_rec k = { .access_key_id = "AKIAROLLBACK", .account_id = ACCT,
                                .wrapped_secret = buf_view("s", 1) };
    struct account_rec ga;
    struct access_key_rec gk;
    struct key_rec gkey;
    struct material_rec gm;
    struct alias_rec gal;
    struct tag_rec *tv;
    size_t n;

    (*st)->tx_rollback(st);     /* no transaction: nothing happens */
    OK(TX(st, tx_begin));
    OK(CALL(st, account_put, &a));
    OK(CALL(st, access_key_put, &k));
    put_key(st, "rb-key", ACCT, REGION);
    put_material(st, "rb-key", 1, "w", 1);
    put_alias(st, ACCT, REGION, "alias/rb", "rb-key");
    OK(CALL(st, tag_set, "arn:rb", "k", "v"));
    /* The transaction sees its own writes. */
    OK(CALL(st, key_get, "rb-key", REGION, &gkey));
    key_rec_free(&gkey);
    /* A failing write inside the transaction: the caller rolls back. */
    FAILS(CALL(st, account_put, &a), TR_E_STORE_EXISTS);
    (*st)->tx_rollback(st);
    (*st)->tx_rollback(st);     /* twice is harmless */

    FAILS(CALL(st, account_get, ACCT, &ga), TR_E_STORE_NOT_FOUND);
    FAILS(CALL(st, account_first, &ga), TR_E_STORE_NOT_FOUND);
    FAILS(CALL(st, access_key_get, "AKIAROLLBACK", &gk), TR_E_STORE_NOT_FOUND);
    FAILS(CALL(st, key_get, "rb-key", REGION, &gkey), TR_E_STORE_NOT_FOUND);
    FAILS(CALL(st, material_get, "rb-key", 1, &gm), TR_E_STORE_NOT_FOUND);
    FAILS(CALL(st, alias_get, ACCT, REGION, "alias/rb", &gal), TR_E_STORE_NOT_FOUND);
    OK(CALL(st, tag_list, "arn:rb", &tv, &n));
    assert_int_equal(n, 0);

    /* Not even after a reopen. */
    reopen(*state);
    st = ((struct fx *)*state)->st;
    FAILS(CALL(st, key_get, "rb-key", REGION, &gkey), TR_E_STORE_NOT_FOUND);
}

static void test_transactions(void **state)
{
    store_t st = ((struct fx *)*state)->st;
    struct key_rec got;
    struct material_rec m;

    /* Transactions do not nest. */
    OK(TX(st, tx_begin));
    FAILS(TX(st, tx_begin), TR_E_INTERNAL);
    (*st)->tx_rollback(st);
    FAILS(TX(st, tx_commit), TR_E_INTERNAL);      /* none open */

    /* Foreign keys are checked at commit: any order inside. */
    OK(TX(st, tx_begin));
    put_material(st, "late-key", 1, "w", 1);
    put_key(st, "late-key", ACCT, REGION);
    OK(TX(st, tx_commit));
    OK(CALL(st, material_get, "late-key", 1, &m));
    material_rec_free(&m);

    /* ... and an orphan fails the commit, which the caller rolls back. */
    OK(TX(st, tx_begin));
    put_key(st, "kept-out", ACCT, REGION);
    struct alias_rec dangling = { .account_id = ACCT, .region = REGION, .name = "alias/dangling",
                                  .target_key_id = "no-such-key" };
    OK(CALL(st, alias_put, &dangling));
    FAILS(TX(st, tx_commit), TR_E_STORE_NOT_FOUND);
    (*st)->tx_rollback(st);
    FAILS(CALL(st, key_get, "kept-out", REGION, &got), TR_E_STORE_NOT_FOUND);
    OK(CALL(st, key_get, "late-key", REGION, &got));
    key_rec_free(&got);
}

static void test_durable_across_reopen(void **state)
{
    struct fx *f = *state;
    struct account_rec a = { .id = ACCT, .created = 42 }, ga;
    struct key_fx x;
    struct key_rec gk;
    struct material_rec gm;
    uint8_t w[48];
    for (size_t i = 0; i < sizeof w; i++) w[i] = (uint8_t)(255 - i);

    OK(TX(f->st, tx_begin));
    OK(CALL(f->st, account_put, &a));
    mk_key(&x, "durable", ACCT, REGION);
    x.k.description = (char *)"kept";
    OK(CALL(f->st, key_put, &x.k));
    put_material(f->st, "durable", 1, w, sizeof w);
    OK(TX(f->st, tx_commit));
    OK(CALL(f->st, tag_set, x.arn, "k", "v"));         /* autocommit */

    reopen(f);
    OK(CALL(f->st, account_first, &ga));
    assert_string_equal(ga.id, ACCT);
    assert_int_equal(ga.created, 42);
    OK(CALL(f->st, key_get, "durable", REGION, &gk));
    assert_key_equal(&gk, &x.k);
    key_rec_free(&gk);
    OK(CALL(f->st, material_get, "durable", 1, &gm));
    assert_int_equal(gm.wrapped.len, sizeof w);
    assert_memory_equal(gm.wrapped.data, w, sizeof w);
    material_rec_free(&gm);
    struct tag_rec *tv;
    size_t n;
    OK(CALL(f->st, tag_list, x.arn, &tv, &n));
    assert_int_equal(n, 1);
    tag_list_free(tv, n);
}

/* Blobs are stored exactly as given; deleted ones are overwritten
 * (secure_delete) and leave no trace in the file once closed. */
static void test_blobs_exact_and_secure_delete(void **state)
{
    struct fx *f = *state;
    char p[512];
    uint8_t marker[64];
    struct material_rec gm;
    for (size_t i = 0; i < sizeof marker; i++) marker[i] = (uint8_t)(0xA5 ^ (i * 13));
    db_path(f, "", p, sizeof p);

    put_key(f->st, "sd-key", ACCT, REGION);
    put_key(f->st, "sd-other", ACCT, REGION);
    put_material(f->st, "sd-key", 1, marker, sizeof marker);
    put_material(f->st, "sd-other", 1, "other-material", 14);
    OK(CALL(f->st, material_get, "sd-key", 1, &gm));
    assert_int_equal(gm.wrapped.len, sizeof marker);
    assert_memory_equal(gm.wrapped.data, marker, sizeof marker);
    material_rec_free(&gm);

    reopen(f);      /* the last close checkpoints the WAL into the file */
    assert_true(file_contains(p, marker, sizeof marker));

    OK(CALL(f->st, key_delete, "sd-key", REGION));
    (*f->st)->close(f->st);
    f->st = NULL;
    assert_false(file_contains(p, marker, sizeof marker));
    db_path(f, "-wal", p, sizeof p);
    assert_false(file_contains(p, marker, sizeof marker));
    reopen_closed(f);
}

/* ---- threads ------------------------------------------------------------------ */

#define READERS 4
#define WRITERS 2
#define SEED_KEYS 20
#define WRITER_TXS 60
#define READER_LOOPS 400

struct race {
    store_t st;
    atomic_int errors;
    atomic_int writers_left;
    atomic_long reads;
    int id;
};

struct worker { struct race *r; int id; };

static void race_fail(struct race *r, const char *what)
{
    const struct tr_error_info *e = tr_last_error();
    fprintf(stderr, "store_test: thread: %s failed: %s (%s:%d)\n", what,
            tr_err_type(e->code), e->file ? e->file : "-", e->line);
    atomic_fetch_add(&r->errors, 1);
}

static void *reader(void *p)
{
    struct worker *w = p;
    struct race *r = w->r;
    store_t st = r->st;
    char id[37];
    for (int i = 0; i < READER_LOOPS || atomic_load(&r->writers_left) > 0; i++) {
        struct key_rec k, *v;
        struct material_rec m;
        struct alias_rec *av;
        struct tag_rec *tv;
        size_t n;
        key_id_of(i % SEED_KEYS, id);
        if (tr_failed(CALL(st, key_get, id, REGION, &k))) { race_fail(r, "key_get"); continue; }
        if (strcmp(k.key_id, id) != 0 || strcmp(k.policy, "{\"Version\":\"2012-10-17\"}") != 0)
            race_fail(r, "key_get content");
        key_rec_free(&k);
        if (tr_failed(CALL(st, material_get, id, 1, &m))) race_fail(r, "material_get");
        else if (m.wrapped.len != 37 || memcmp(m.wrapped.data, id, 37) != 0)
            race_fail(r, "material content");
        material_rec_free(&m);
        if (tr_failed(CALL(st, key_list, ACCT, REGION, NULL, 50, &v, &n))) race_fail(r, "key_list");
        else if (n < SEED_KEYS) race_fail(r, "key_list count");
        key_list_free(v, n);
        if (tr_failed(CALL(st, alias_list, ACCT, REGION, NULL, NULL, 50, &av, &n)))
            race_fail(r, "alias_list");
        alias_list_free(av, n);
        if (tr_failed(CALL(st, tag_list, "arn:race", &tv, &n))) race_fail(r, "tag_list");
        tag_list_free(tv, n);
        atomic_fetch_add(&r->reads, 1);
        /* A request has gaps; and valgrind's default scheduler would let
         * these loops starve the writer holding the gate past 5 s. */
        sched_yield();
    }
    return NULL;
}

static void *writer(void *p)
{
    struct worker *w = p;
    struct race *r = w->r;
    store_t st = r->st;
    char id[37], name[64], tag[32];
    for (int i = 0; i < WRITER_TXS; i++) {
        struct key_fx x;
        key_id_of(1000 + w->id * 10000 + i, id);
        mk_key(&x, id, ACCT, REGION);
        snprintf(name, sizeof name, "alias/w%d-%03d", w->id, i);
        snprintf(tag, sizeof tag, "w%d-%03d", w->id, i);
        struct material_rec m = { .version = 1, .wrapped = buf_view(id, 37) };
        snprintf(m.key_id, sizeof m.key_id, "%s", id);
        struct alias_rec a = { .account_id = ACCT, .region = REGION };
        snprintf(a.name, sizeof a.name, "%s", name);
        snprintf(a.target_key_id, sizeof a.target_key_id, "%s", id);

        if (tr_failed(TX(st, tx_begin))) { race_fail(r, "tx_begin"); continue; }
        if (tr_failed(CALL(st, key_put, &x.k)) || tr_failed(CALL(st, material_put, &m)) ||
            tr_failed(CALL(st, alias_put, &a)) || tr_failed(CALL(st, tag_set, "arn:race", tag, id))) {
            race_fail(r, "write");
            (*st)->tx_rollback(st);
            continue;
        }
        if (tr_failed(TX(st, tx_commit))) { race_fail(r, "tx_commit"); (*st)->tx_rollback(st); }
        /* And a write on its own, outside a transaction. */
        key_id_of(i % SEED_KEYS, id);
        struct key_fx u;
        mk_key(&u, id, ACCT, REGION);
        u.k.created = 1700000000 + i;
        if (tr_failed(CALL(st, key_update, &u.k))) race_fail(r, "key_update");
    }
    atomic_fetch_sub(&r->writers_left, 1);
    return NULL;
}

static void run_race(store_t st)
{
    struct race r = { .st = st };
    struct worker ws[READERS + WRITERS];
    pthread_t th[READERS + WRITERS];
    char id[37];

    for (int i = 0; i < SEED_KEYS; i++) {
        key_id_of(i, id);
        put_key(st, id, ACCT, REGION);
        put_material(st, id, 1, id, 37);
    }
    atomic_store(&r.writers_left, WRITERS);
    for (int i = 0; i < READERS + WRITERS; i++) {
        ws[i] = (struct worker){ &r, i };
        assert_int_equal(pthread_create(&th[i], NULL, i < WRITERS ? writer : reader, &ws[i]), 0);
    }
    for (int i = 0; i < READERS + WRITERS; i++) pthread_join(th[i], NULL);

    assert_int_equal(atomic_load(&r.errors), 0);
    assert_true(atomic_load(&r.reads) >= READERS * READER_LOOPS);
    assert_int_equal(count_keys(st, ACCT, REGION), SEED_KEYS + WRITERS * WRITER_TXS);
    struct tag_rec *tv;
    size_t n;
    OK(CALL(st, tag_list, "arn:race", &tv, &n));
    assert_int_equal(n, WRITERS * WRITER_TXS);
    tag_list_free(tv, n);
}

static void test_concurrent_file(void **state)
{
    run_race(((struct fx *)*state)->st);
}

static void test_concurrent_memory(void **state)
{
    run_race(((struct fx *)*state)->st);
}

/* A transaction held open in one thread: readers go on (WAL) and see only
 * committed data; a writer waits BUSY_TIMEOUT_MS (5 s) for the write gate
 * and then fails, instead of hanging. */
struct holder { store_t st; sem_t began, done; bool ok; };

static void *hold_tx(void *p)
{
    struct holder *h = p;
    struct key_fx x;
    mk_key(&x, "uncommitted", ACCT, REGION);
    h->ok = tr_ok(TX(h->st, tx_begin)) && tr_ok(CALL(h->st, key_put, &x.k));
    sem_post(&h->began);
    sem_wait(&h->done);
    (*h->st)->tx_rollback(h->st);
    return NULL;
}

static void test_open_transaction(void **state)
{
    store_t st = ((struct fx *)*state)->st;
    struct holder h = { .st = st };
    struct key_rec k;
    struct timespec t0, t1;
    pthread_t t;

    put_key(st, "committed", ACCT, REGION);
    assert_int_equal(sem_init(&h.began, 0, 0), 0);
    assert_int_equal(sem_init(&h.done, 0, 0), 0);
    assert_int_equal(pthread_create(&t, NULL, hold_tx, &h), 0);
    sem_wait(&h.began);
    assert_true(h.ok);

    OK(CALL(st, key_get, "committed", REGION, &k));
    key_rec_free(&k);
    FAILS(CALL(st, key_get, "uncommitted", REGION, &k), TR_E_STORE_NOT_FOUND);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    FAILS(CALL(st, tag_set, "arn:t", "k", "v"), TR_E_STORE_BUSY);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec >= 4);

    sem_post(&h.done);
    pthread_join(t, NULL);
    OK(CALL(st, tag_set, "arn:t", "k", "v"));
    FAILS(CALL(st, key_get, "uncommitted", REGION, &k), TR_E_STORE_NOT_FOUND);
    sem_destroy(&h.began);
    sem_destroy(&h.done);
}

static void *one_write(void *p)
{
    store_t st = p;
    struct account_rec a = { .id = ACCT, .created = 9 };
    return tr_ok(CALL(st, account_put, &a)) ? p : NULL;
}

static void *one_read(void *p)
{
    store_t st = p;
    struct account_rec a;
    return tr_ok(CALL(st, account_get, ACCT, &a)) && a.created == 9 ? p : NULL;
}

/* The memory store is one database for every thread, and outlives the
 * threads (their connections close when they exit). */
static void test_memory_shared_across_threads(void **state)
{
    store_t st = ((struct fx *)*state)->st;
    pthread_t t;
    void *res;
    struct account_rec a;
    store_t other;

    assert_int_equal(pthread_create(&t, NULL, one_write, st), 0);
    pthread_join(t, &res);
    assert_ptr_equal(res, st);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(pthread_create(&t, NULL, one_read, st), 0);
        pthread_join(t, &res);
        assert_ptr_equal(res, st);
    }
    OK(CALL(st, account_get, ACCT, &a));

    /* Two memory stores are two databases. */
    OK(store_sqlite_open_memory(&other));
    FAILS(CALL(other, account_get, ACCT, &a), TR_E_STORE_NOT_FOUND);
    (*other)->close(other);
}

/* ---- out of memory inside SQLite -------------------------------------------- */

/* SQLite's allocator, wrapped: when armed, the allocation numbered
 * `oom_at` (counting from 1) fails, and when `oom_sticky` so do all the
 * ones after it. */
static sqlite3_mem_methods oom_real;
static atomic_long oom_count, oom_at;
static atomic_bool oom_sticky;

static bool oom_now(void)
{
    long at = atomic_load(&oom_at);
    if (at <= 0) return false;
    long n = atomic_fetch_add(&oom_count, 1) + 1;
    return atomic_load(&oom_sticky) ? n >= at : n == at;
}

static void *oom_malloc(int n) { return oom_now() ? NULL : oom_real.xMalloc(n); }
static void *oom_realloc(void *p, int n) { return oom_now() ? NULL : oom_real.xRealloc(p, n); }

static void oom_install(void)
{
    sqlite3_mem_methods m;
    if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &oom_real) != SQLITE_OK) return;
    m = oom_real;
    m.xMalloc = oom_malloc;
    m.xRealloc = oom_realloc;
    (void)sqlite3_config(SQLITE_CONFIG_MALLOC, &m);
}

/* Whether a transient fault has fired already. */
static bool oom_passed(void)
{
    return !atomic_load(&oom_sticky) && atomic_load(&oom_count) >= atomic_load(&oom_at);
}

/* One step of the script: it either gives `want`, or fails with
 * TR_E_INTERNAL, and once a transient fault is behind, gives `want`. */
static bool oom_step(tr_result r, enum tr_err want)
{
    if (tr_code(r) == want) return true;
    assert_int_equal(tr_code(r), TR_E_INTERNAL);
    return false;
}

/* Open a memory store and run a little of everything; every failure must
 * be TR_E_INTERNAL (never a wrong NOT_FOUND, never a crash), nothing may
 * leak, and once a fault that does not stick has passed, every call
 * works again.  True when the whole script ran without an error. */
static bool oom_script(void)
{
    store_t st;
    struct key_fx x;
    struct key_rec k, *kv;
    struct material_rec m, *mv;
    struct alias_rec *av;
    struct tag_rec *tv;
    size_t n;
    bool clean = true, wrote = false;
    tr_result r = store_sqlite_open_memory(&st);
    if (!oom_step(r, TR_E_OK)) return false;

    mk_key(&x, "oom-key", ACCT, REGION);
    struct material_rec mp = { .key_id = "oom-key", .version = 1,
                               .wrapped = buf_view("wrapped", 7) };
    struct alias_rec ap = { .account_id = ACCT, .region = REGION, .name = "alias/oom",
                            .target_key_id = "oom-key" };
    r = TX(st, tx_begin);
    if (tr_ok(r)) r = CALL(st, key_put, &x.k);
    if (tr_ok(r)) r = CALL(st, material_put, &mp);
    if (tr_ok(r)) r = CALL(st, alias_put, &ap);
    if (tr_ok(r)) r = TX(st, tx_commit);
    wrote = oom_step(r, TR_E_OK);
    if (!wrote) (*st)->tx_rollback(st);
    clean = wrote;

#define STEP(call, want) do { \
        bool after_ = oom_passed(); \
        r = (call); \
        bool ok_ = oom_step(r, (want)); \
        assert_true(ok_ || !after_); \
        clean = clean && ok_; \
    } while (0)
    enum tr_err found = wrote ? TR_E_OK : TR_E_STORE_NOT_FOUND;
    STEP(CALL(st, tag_set, x.arn, "k", "v"), TR_E_OK);
    STEP(CALL(st, key_get, "oom-key", REGION, &k), found);
    key_rec_free(&k);
    STEP(CALL(st, material_get, "oom-key", 1, &m), found);
    material_rec_free(&m);
    STEP(CALL(st, key_list, ACCT, REGION, NULL, 10, &kv, &n), TR_E_OK);
    key_list_free(kv, n);
    STEP(CALL(st, material_list, "oom-key", &mv, &n), TR_E_OK);
    material_list_free(mv, n);
    STEP(CALL(st, alias_list, ACCT, REGION, NULL, NULL, 10, &av, &n), TR_E_OK);
    alias_list_free(av, n);
    STEP(CALL(st, tag_list, x.arn, &tv, &n), TR_E_OK);
    tag_list_free(tv, n);
    struct ent_rec ep = { .kind = "user", .account_id = ACCT, .name = (char *)"oom",
                          .id = (char *)"AIDAOOM", .arn = (char *)"arn:oom" };
    struct rel_rec rp = { .kind = "member", .from = (char *)"arn:g", .to = (char *)"arn:oom" };
    struct ent_rec *ev;
    struct rel_rec *rv;
    STEP(CALL(st, ent_put, &ep), TR_E_OK);
    bool have_ent = tr_ok(r);
    STEP(CALL(st, ent_list, "user", ACCT, NULL, NULL, 10, &ev, &n), TR_E_OK);
    ent_list_free(ev, n);
    STEP(CALL(st, rel_put, &rp), TR_E_OK);
    STEP(CALL(st, rel_list_to, "member", "arn:oom", &rv, &n), TR_E_OK);
    rel_list_free(rv, n);
    STEP(CALL(st, ent_delete, "user", "arn:oom"), have_ent ? TR_E_OK : TR_E_STORE_NOT_FOUND);
    STEP(CALL(st, key_delete, "oom-key", REGION), found);
    bool deleted = tr_ok(r);
    STEP(CALL(st, key_get, "oom-key", REGION, &k), deleted ? TR_E_STORE_NOT_FOUND : found);
    key_rec_free(&k);
#undef STEP
    atomic_store(&oom_at, 0);       /* close and clean up for real */
    (*st)->close(st);
    return clean;
}

static void test_sqlite_out_of_memory(void **state)
{
    (void)state;
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    assert_true(saved >= 0 && devnull >= 0);
    dup2(devnull, 2);       /* every failure logs a line */
    long at;
    bool clean = false;
    /* Every 5th allocation (the script makes a few thousand), failing
     * once or for good by turns, until the script runs clean. */
    for (at = 1; at < 20000 && !clean; at += 5) {
        atomic_store(&oom_count, 0);
        atomic_store(&oom_sticky, at % 2 == 1);
        atomic_store(&oom_at, at);
        clean = oom_script();
    }
    atomic_store(&oom_at, 0);
    dup2(saved, 2);
    close(saved);
    close(devnull);
    assert_true(clean);
    assert_true(at > 20);   /* the faults did hit */
}

/* The generation (store.h) moves on every write of this process, at
 * every statement inside a transaction, and on another process's commit
 * once refresh() has noticed it; the KMS key cache built on it never
 * answers from stale data. */
static void test_generation_and_key_cache(void **state)
{
    struct fx *f = *state;
    store_t st = f->st, other = NULL;
    struct key_fx x;
    struct key_rec got;
    const char *id = "1234abcd-12ab-34cd-56ef-1234567890ab";

    (*st)->refresh(st);
    struct cache_gen g = (*st)->generation(st);
    assert_true(cache_gen_known(g));
    FAILS(CALL(st, key_get, id, REGION, &got), TR_E_STORE_NOT_FOUND);
    assert_true(cache_gen_same((*st)->generation(st), g));          /* reads change nothing */

    mk_key(&x, id, ACCT, REGION);
    OK(CALL(st, key_put, &x.k));
    assert_false(cache_gen_same((*st)->generation(st), g));
    g = (*st)->generation(st);
    OK(TX(st, tx_begin));
    assert_true(cache_gen_same((*st)->generation(st), g));          /* nothing written yet */
    x.k.description = (char *)"in a transaction";
    OK(CALL(st, key_update, &x.k));
    assert_false(cache_gen_same((*st)->generation(st), g));
    g = (*st)->generation(st);
    OK(TX(st, tx_commit));
    assert_false(cache_gen_same((*st)->generation(st), g));

    /* Another process: a second store on the same file. */
    cache_enable(true);
    OK(kms_cached_key_get(st, id, REGION, &got));
    assert_string_equal(got.description, "in a transaction");
    key_rec_free(&got);
    OK(store_sqlite_open(f->dir, &other));
    x.k.description = (char *)"changed elsewhere";
    OK(CALL(other, key_update, &x.k));
    g = (*st)->generation(st);
    OK(kms_cached_key_get(st, id, REGION, &got));             /* not noticed yet: cached */
    assert_string_equal(got.description, "in a transaction");
    key_rec_free(&got);
    (*st)->refresh(st);
    assert_false(cache_gen_same((*st)->generation(st), g));
    OK(kms_cached_key_get(st, id, REGION, &got));
    assert_string_equal(got.description, "changed elsewhere");
    key_rec_free(&got);
    (*other)->close(other);

    /* This process's own write is seen at once. */
    x.k.description = (char *)"v3";
    OK(CALL(st, key_update, &x.k));
    OK(kms_cached_key_get(st, id, REGION, &got));
    assert_string_equal(got.description, "v3");
    key_rec_free(&got);
    OK(CALL(st, key_delete, id, REGION));
    FAILS(kms_cached_key_get(st, id, REGION, &got), TR_E_STORE_NOT_FOUND);
    cache_enable(false);
}

/* The hits of cache class `name` so far in this process (0: not used yet). */
static uint64_t cache_hits(const char *name)
{
    struct cache_stats v[CACHE_CLASSES_MAX];
    size_t n = cache_stats(v, CACHE_CLASSES_MAX);
    for (size_t i = 0; i < n && i < CACHE_CLASSES_MAX; i++)
        if (strcmp(v[i].name, name) == 0) return v[i].hits;
    return 0;
}

/* The alias cache (kms/cache.c, "kms-aliases"): a second lookup of an
 * alias is a hit; an alias moved to another key, or deleted, is read
 * again at once (KMS writes move its generation); an alias that is not
 * there is never cached; a secret's write leaves a cached alias alone.
 * Fails on the old code, which had no such cache. */
static void test_alias_cache(void **state)
{
    struct fx *f = *state;
    store_t st = f->st;
    struct key_fx x, y;
    struct alias_rec a;
    const char *id = "1234abcd-12ab-34cd-56ef-1234567890ad";
    const char *id2 = "1234abcd-12ab-34cd-56ef-1234567890ae";
    const char *sarn = "arn:aws:secretsmanager:" REGION ":" ACCT ":secret:a-AbCdEf";

    (*st)->refresh(st);
    for (int i = 0; i < 200 && !cache_gen_known((*st)->generation(st)); i++) usleep(10 * 1000);
    mk_key(&x, id, ACCT, REGION);
    OK(CALL(st, key_put, &x.k));
    mk_key(&y, id2, ACCT, REGION);
    OK(CALL(st, key_put, &y.k));
    put_alias(st, ACCT, REGION, "alias/aws/secretsmanager", id);
    cache_enable(true);
    uint64_t hits = cache_hits("kms-aliases");
    OK(kms_cached_alias_get(st, ACCT, REGION, "alias/aws/secretsmanager", &a));
    assert_string_equal(a.target_key_id, id);
    OK(kms_cached_alias_get(st, ACCT, REGION, "alias/aws/secretsmanager", &a));
    assert_string_equal(a.target_key_id, id);
    assert_int_equal(cache_hits("kms-aliases"), hits + 1);

    /* A secret's tag: not KMS, still a hit. */
    OK(CALL(st, tag_set, sarn, "k", "v"));
    OK(kms_cached_alias_get(st, ACCT, REGION, "alias/aws/secretsmanager", &a));
    assert_int_equal(cache_hits("kms-aliases"), hits + 2);

    /* Moved to another key: read again. */
    memset(&a, 0, sizeof a);
    snprintf(a.account_id, sizeof a.account_id, "%s", ACCT);
    snprintf(a.region, sizeof a.region, "%s", REGION);
    snprintf(a.name, sizeof a.name, "%s", "alias/aws/secretsmanager");
    snprintf(a.target_key_id, sizeof a.target_key_id, "%s", id2);
    a.created = a.updated = 1700000200;
    OK(CALL(st, alias_update, &a));
    OK(kms_cached_alias_get(st, ACCT, REGION, "alias/aws/secretsmanager", &a));
    assert_string_equal(a.target_key_id, id2);
    assert_int_equal(cache_hits("kms-aliases"), hits + 2);

    /* Deleted: not found, and an absent alias stays uncached. */
    OK(CALL(st, alias_delete, ACCT, REGION, "alias/aws/secretsmanager"));
    FAILS(kms_cached_alias_get(st, ACCT, REGION, "alias/aws/secretsmanager", &a), TR_E_STORE_NOT_FOUND);
    FAILS(kms_cached_alias_get(st, ACCT, REGION, "alias/aws/secretsmanager", &a), TR_E_STORE_NOT_FOUND);
    FAILS(kms_cached_alias_get(st, ACCT, REGION, "alias/none", &a), TR_E_STORE_NOT_FOUND);
    assert_int_equal(cache_hits("kms-aliases"), hits + 2);
    cache_enable(false);
}

/* Whether the generation of the domains `dom` moved since *g; *g becomes
 * the current one. */
static bool dom_moved(store_t st, unsigned dom, struct cache_gen *g)
{
    struct cache_gen now = (*st)->generation_of(st, dom);
    bool moved = !cache_gen_same(now, *g);
    *g = now;
    return moved;
}

/* Domains (store/domains.h): a write moves the generation of the domains
 * it writes in and no other -- a secret's record, version and tags leave
 * the IAM and KMS generations alone, so a cached KMS key stays a hit --
 * inside a transaction (at the statement and at its end) and on its own;
 * a key's tags are KMS; a write the store cannot place (a relation from
 * something that is not an ARN, an ARN of another service, an account)
 * moves every domain.  Fails on the old code, where every write moved the
 * one generation and the KMS key was read again. */
static void test_generation_domains(void **state)
{
    struct fx *f = *state;
    store_t st = f->st;
    struct key_fx x;
    struct key_rec got;
    const char *id = "1234abcd-12ab-34cd-56ef-1234567890ac";
    const char *sarn = "arn:aws:secretsmanager:" REGION ":" ACCT ":secret:s-AbCdEf";
    struct ent_rec e = { .kind = "secret", .account_id = ACCT, .name = (char *)"s", .id = (char *)"s-id",
                         .arn = (char *)sarn, .path = (char *)"/", .doc = (char *)"{}", .created = 1 };
    struct rel_rec r = { .kind = "secret-ver", .from = (char *)sarn, .to = (char *)"v1",
                         .doc = (char *)"{}", .created = 1 };
    struct account_rec acct = { .id = "210987654321", .created = 1 };
    struct cache_gen gi = CACHE_GEN_NONE, gk = CACHE_GEN_NONE, gs = CACHE_GEN_NONE;

    (*st)->refresh(st);
    /* PostgreSQL: the listener has read the generation row once. */
    for (int i = 0; i < 200 && !cache_gen_known((*st)->generation(st)); i++) usleep(10 * 1000);
    mk_key(&x, id, ACCT, REGION);
    OK(CALL(st, key_put, &x.k));
    cache_enable(true);
    OK(kms_cached_key_get(st, id, REGION, &got));              /* cached */
    key_rec_free(&got);
    (void)dom_moved(st, STORE_DOM_IAM, &gi);
    (void)dom_moved(st, STORE_DOM_KMS, &gk);
    (void)dom_moved(st, STORE_DOM_SECRETS, &gs);

    /* A secret written in a transaction: its domain alone moves, at each
     * statement and at the end. */
    uint64_t hits = cache_hits("kms-keys");
    OK(TX(st, tx_begin));
    OK(CALL(st, ent_put, &e));
    assert_true(dom_moved(st, STORE_DOM_SECRETS, &gs));
    OK(kms_cached_key_get(st, id, REGION, &got));              /* a hit inside it too */
    key_rec_free(&got);
    OK(CALL(st, rel_put, &r));
    assert_true(dom_moved(st, STORE_DOM_SECRETS, &gs));
    OK(CALL(st, tag_set, sarn, "k", "v"));
    OK(TX(st, tx_commit));
    assert_true(dom_moved(st, STORE_DOM_SECRETS, &gs));
    assert_false(dom_moved(st, STORE_DOM_IAM, &gi));
    assert_false(dom_moved(st, STORE_DOM_KMS, &gk));
    OK(kms_cached_key_get(st, id, REGION, &got));
    key_rec_free(&got);
    assert_int_equal(cache_hits("kms-keys"), hits + 2);

    /* On its own (no transaction): the same. */
    OK(CALL(st, rel_member_set, "secret-ver", sarn, "v1", "stages", "[\"AWSCURRENT\"]"));
    assert_true(dom_moved(st, STORE_DOM_SECRETS, &gs));
    assert_false(dom_moved(st, STORE_DOM_IAM, &gi));
    assert_false(dom_moved(st, STORE_DOM_KMS, &gk));

    /* A secret's tags move SECRET_TAGS with SECRETS; its record and
     * versions leave SECRET_TAGS alone, so its cached tags stay. */
    struct cache_gen gt = CACHE_GEN_NONE;
    (void)dom_moved(st, STORE_DOM_SECRET_TAGS, &gt);
    OK(TX(st, tx_begin));
    OK(CALL(st, rel_put, &r));
    OK(CALL(st, rel_member_set, "secret-ver", sarn, "v1", "stages", "[]"));
    OK(CALL(st, ent_update, &e));
    OK(TX(st, tx_commit));
    assert_true(dom_moved(st, STORE_DOM_SECRETS, &gs));
    assert_false(dom_moved(st, STORE_DOM_SECRET_TAGS, &gt));
    OK(CALL(st, tag_set, sarn, "k2", "v"));
    assert_true(dom_moved(st, STORE_DOM_SECRET_TAGS, &gt));
    assert_true(dom_moved(st, STORE_DOM_SECRETS, &gs));
    OK(CALL(st, tag_delete, sarn, "k2"));
    assert_true(dom_moved(st, STORE_DOM_SECRET_TAGS, &gt));
    assert_true(dom_moved(st, STORE_DOM_SECRETS, &gs));

    /* A key's tags are KMS: the cached key is read again. */
    OK(CALL(st, tag_set, x.k.arn, "k", "v"));
    assert_true(dom_moved(st, STORE_DOM_KMS, &gk));
    assert_false(dom_moved(st, STORE_DOM_SECRETS, &gs));
    assert_false(dom_moved(st, STORE_DOM_SECRET_TAGS, &gt));
    assert_false(dom_moved(st, STORE_DOM_IAM, &gi));
    hits = cache_hits("kms-keys");
    OK(kms_cached_key_get(st, id, REGION, &got));
    key_rec_free(&got);
    assert_int_equal(cache_hits("kms-keys"), hits);

    /* What the store cannot place moves every domain. */
    struct rel_rec due = { .kind = "due", .from = (char *)"due", .to = (char *)"x", .doc = (char *)"",
                           .created = 1 };
    OK(CALL(st, rel_put, &due));
    assert_true(dom_moved(st, STORE_DOM_IAM, &gi));
    assert_true(dom_moved(st, STORE_DOM_KMS, &gk));
    assert_true(dom_moved(st, STORE_DOM_SECRETS, &gs));
    OK(CALL(st, tag_set, "arn:aws:s3:::bucket", "k", "v"));
    assert_true(dom_moved(st, STORE_DOM_IAM, &gi));
    assert_true(dom_moved(st, STORE_DOM_KMS, &gk));
    OK(CALL(st, tag_set, "arn:aws:secretsmanagerx:" REGION ":" ACCT ":secret:s", "k", "v"));
    assert_true(dom_moved(st, STORE_DOM_IAM, &gi));
    OK(CALL(st, account_put, &acct));
    assert_true(dom_moved(st, STORE_DOM_IAM, &gi));
    assert_true(dom_moved(st, STORE_DOM_KMS, &gk));
    assert_true(dom_moved(st, STORE_DOM_SECRETS, &gs));

    /* A transaction that wrote in no domain and was rolled back moves
     * nothing; one that wrote a secret and was rolled back moves it. */
    struct cache_gen ga = (*st)->generation(st);
    OK(TX(st, tx_begin));
    (*st)->tx_rollback(st);
    assert_false(dom_moved(st, STORE_DOM_ALL, &ga));
    (void)dom_moved(st, STORE_DOM_SECRETS, &gs);
    OK(TX(st, tx_begin));
    e.name = (char *)"s2";
    e.id = (char *)"s2-id";
    e.arn = (char *)"arn:aws:secretsmanager:" REGION ":" ACCT ":secret:s2-AbCdEf";
    OK(CALL(st, ent_put, &e));
    struct cache_gen mid = (*st)->generation_of(st, STORE_DOM_SECRETS);
    (*st)->tx_rollback(st);
    assert_false(cache_gen_same((*st)->generation_of(st, STORE_DOM_SECRETS), mid));
    assert_false(dom_moved(st, STORE_DOM_IAM, &gi));
    cache_enable(false);
}

/* The generation of the SQLite store with its commit counter file
 * (sqlite.c, "Other processes' commits"): a refresh with nothing
 * committed leaves it alone; a commit of another tresor process (here a
 * second store on the file) moves it at the very next refresh, every time;
 * a commit that bypasses the counter (a plain SQLite connection, as the
 * sqlite3 shell) within the bound, through data_version.  Fails when
 * refresh skips the data_version check. */
static void test_refresh_sees_other_processes(void **state)
{
    struct fx *f = *state;
    store_t st = f->st, other = NULL;
    struct account_rec a = { .created = 1 }, got;
    struct stat sb;
    char p[512];
    sqlite3 *raw = NULL;

    db_path(f, "-gen", p, sizeof p);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(sb.st_size, 8);

    (*st)->refresh(st);
    struct cache_gen g = (*st)->generation(st);
    (*st)->refresh(st);
    assert_true(cache_gen_same((*st)->generation(st), g));      /* nothing committed */

    OK(store_sqlite_open(f->dir, &other));
    for (int i = 0; i < 20; i++) {
        snprintf(a.id, sizeof a.id, "1000000000%02u", (unsigned)i % 100u);
        g = (*st)->generation(st);
        OK(CALL(other, account_put, &a));
        (*st)->refresh(st);
        assert_false(cache_gen_same((*st)->generation(st), g));
        OK(CALL(st, account_get, a.id, &got));
    }
    (*other)->close(other);

    /* Not through tresor: noticed within the bound (100 ms; up to 5 s
     * here, for a loaded machine). */
    db_path(f, "", p, sizeof p);
    assert_int_equal(sqlite3_open_v2(p, &raw, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(raw, 5000);
    (*st)->refresh(st);
    g = (*st)->generation(st);
    assert_int_equal(sqlite3_exec(raw, "UPDATE accounts SET created = created + 1", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(raw);
    bool moved = false;
    for (int i = 0; i < 500 && !moved; i++) {
        (*st)->refresh(st);
        moved = !cache_gen_same((*st)->generation(st), g);
        if (!moved) usleep(10 * 1000);
    }
    assert_true(moved);
}

/* The commit counter file cut short under an open store (another
 * process, an operator, a full disk): it was mapped, and the next refresh
 * died of SIGBUS.  Now a short file moves every domain at the next
 * refresh and is written whole again at once; cut to garbage, the same;
 * and a commit of another store is seen through it again afterwards. */
static void test_commit_counter_cut_short(void **state)
{
    struct fx *f = *state;
    store_t st = f->st, other = NULL;
    struct account_rec a = { .id = "100000000077", .created = 1 };
    struct stat sb;
    char p[512];
    static const char *cuts[] = { "", "\x07\x07\x07" };

    db_path(f, "-gen", p, sizeof p);
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        (*st)->refresh(st);
        struct cache_gen g = (*st)->generation(st);
        int fd = open(p, O_WRONLY | O_TRUNC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, cuts[i], strlen(cuts[i])), (ssize_t)strlen(cuts[i]));
        close(fd);
        (*st)->refresh(st);
        assert_false(cache_gen_same((*st)->generation(st), g));
        assert_int_equal(stat(p, &sb), 0);
        assert_int_equal(sb.st_size, 8);                    /* written whole again */
        g = (*st)->generation(st);
        (*st)->refresh(st);
        (*st)->refresh(st);
        assert_true(cache_gen_same((*st)->generation(st), g)); /* and trusted again */
    }
    OK(store_sqlite_open(f->dir, &other));
    struct cache_gen g = (*st)->generation(st);
    OK(CALL(other, account_put, &a));
    (*st)->refresh(st);
    assert_false(cache_gen_same((*st)->generation(st), g));
    (*other)->close(other);
}

/* A store opened after another -- dev mode's reset opens a fresh
 * in-memory store -- never shares its generation, even after the same
 * writes, so nothing cached from one is taken for the other's: here the
 * same key id with another description. */
static void test_generation_unique_per_store(void **state)
{
    (void)state;
    store_t st[2] = { NULL, NULL };
    struct cache_gen g[2];
    struct key_fx x;
    struct key_rec got;
    const char *id = "1234abcd-12ab-34cd-56ef-1234567890ab";
    const char *desc[2] = { "the first store's", "the second store's" };

    cache_enable(true);
    for (int i = 0; i < 2; i++) {
        OK(store_sqlite_open_memory(&st[i]));
        (*st[i])->refresh(st[i]);
        mk_key(&x, id, ACCT, REGION);
        x.k.description = (char *)desc[i];
        OK(CALL(st[i], key_put, &x.k));
        g[i] = (*st[i])->generation(st[i]);
        assert_true(cache_gen_known(g[i]));
        OK(kms_cached_key_get(st[i], id, REGION, &got));
        assert_string_equal(got.description, desc[i]);
        key_rec_free(&got);
        if (i == 0) (*st[0])->close(st[0]);
    }
    assert_int_equal(g[0].n, g[1].n);                 /* the same history */
    assert_false(cache_gen_same(g[0], g[1]));          /* another store */
    (*st[1])->close(st[1]);
    cache_enable(false);
}

/* Record helpers accept zeroed records and empty lists. */
static void test_free_helpers(void **state)
{
    (void)state;
    struct access_key_rec ak = { 0 };
    struct key_rec k = { 0 };
    struct material_rec m = { 0 };
    access_key_rec_free(&ak);
    access_key_rec_free(NULL);
    key_rec_free(&k);
    key_rec_free(NULL);
    material_rec_free(&m);
    material_rec_free(NULL);
    key_list_free(NULL, 0);
    material_list_free(NULL, 0);
    alias_list_free(NULL, 0);
    tag_list_free(NULL, 0);
}

/* ---- durability: group commit and one sync per commit -------------------- */

#define GC_THREADS 8
#define GC_WRITES 40

struct gc_arg { pthread_t t; store_t st; int idx; int bad; };

/* GC_WRITES tags on arn:gc:<idx>, every other one inside a transaction. */
static void *gc_writer(void *p)
{
    struct gc_arg *a = p;
    char arn[32], key[16];
    snprintf(arn, sizeof arn, "arn:gc:%d", a->idx);
    for (int i = 0; i < GC_WRITES; i++) {
        snprintf(key, sizeof key, "k%03d", i);
        if (i % 2 == 0) {
            if (tr_failed(CALL(a->st, tag_set, arn, key, "v"))) a->bad++;
            continue;
        }
        if (tr_failed(TX(a->st, tx_begin))) { a->bad++; continue; }
        if (tr_failed(CALL(a->st, tag_set, arn, key, "v")) || tr_failed(TX(a->st, tx_commit))) {
            a->bad++;
            TX(a->st, tx_rollback);
        }
    }
    if (tr_failed(TX(a->st, sync_barrier))) a->bad++;
    return NULL;
}

/* Every write of every thread returned success and is there after a reopen. */
static void gc_run_and_verify(struct fx *f)
{
    struct gc_arg a[GC_THREADS];
    for (int i = 0; i < GC_THREADS; i++) {
        a[i] = (struct gc_arg){ .st = f->st, .idx = i };
        assert_int_equal(pthread_create(&a[i].t, NULL, gc_writer, &a[i]), 0);
    }
    for (int i = 0; i < GC_THREADS; i++) {
        assert_int_equal(pthread_join(a[i].t, NULL), 0);
        assert_int_equal(a[i].bad, 0);
    }
    reopen(f);
    for (int i = 0; i < GC_THREADS; i++) {
        char arn[32];
        struct tag_rec *v = NULL;
        size_t n = 0;
        snprintf(arn, sizeof arn, "arn:gc:%d", i);
        OK(CALL(f->st, tag_list, arn, &v, &n));
        assert_int_equal(n, GC_WRITES);
        tag_list_free(v, n);
    }
}

/* The default file store: group commit. */
static void test_group_commit_threads(void **state)
{
    struct fx *f = *state;
    OK(TX(f->st, sync_barrier));            /* nothing pending */
    gc_run_and_verify(f);
}

/* STORE_COMMIT_EACH: synchronous=FULL, no group sync; the same writes,
 * and the data dir opens grouped afterwards. */
static void test_commit_each(void **state)
{
    struct fx *f = *state;
    store_t st = NULL;
    (*f->st)->close(f->st);
    f->st = NULL;
    OK(store_sqlite_open_commit(f->dir, STORE_COMMIT_EACH, &st));
    f->st = st;
    OK(TX(f->st, sync_barrier));
    gc_run_and_verify(f);
}

/* The memory store syncs nothing: the barrier always passes. */
static void test_memory_sync_barrier(void **state)
{
    struct fx *f = *state;
    OK(CALL(f->st, tag_set, "arn:m", "k", "v"));
    OK(TX(f->st, sync_barrier));
}

/* store_backup / store_restore (store/backup.h): a backup of a live
 * store holds what was committed when it ran and not a transaction still
 * open; it is one 0600 file with no -wal, never written over an existing
 * file; a restore of it opens with the same records; a damaged backup, a
 * file that is not a database and a data dir with a tresor.db are
 * refused, leaving nothing behind. */
static void test_backup_restore(void **state)
{
    struct fx *f = *state;
    struct account_rec a = { .id = ACCT, .created = 1 }, b = { .id = ACCT2, .created = 2 }, got;
    struct backup_info info;
    char out[128], side[160], dir2[64], junk[128];
    struct stat sb;
    snprintf(out, sizeof out, "%s/snap", f->dir);
    snprintf(junk, sizeof junk, "%s/junk", f->dir);
    snprintf(dir2, sizeof dir2, "/tmp/tresor-store-XXXXXX");
    assert_non_null(mkdtemp(dir2));
    OK(CALL(f->st, account_put, &a));
    OK(TX(f->st, tx_begin));                    /* open while the backup runs */
    OK(CALL(f->st, account_put, &b));
    OK(store_backup(f->dir, out, &info));
    OK(TX(f->st, tx_commit));
    assert_int_equal(info.schema_version, (int)store_schema_count);
    assert_true(info.pages > 0 && info.page_size >= 512);
    assert_int_equal(stat(out, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_int_equal((int64_t)sb.st_size, info.pages * info.page_size);
    snprintf(side, sizeof side, "%s-wal", out);
    assert_int_not_equal(stat(side, &sb), 0);
    assert_int_equal(tr_code(store_backup(f->dir, out, &info)), TR_E_INTERNAL);       /* never over a file */
    assert_non_null(strstr(tr_last_error()->message, "File exists"));

    OK(store_restore(out, dir2, &info));
    store_t st2 = NULL;
    OK(store_sqlite_open(dir2, &st2));
    OK(CALL(st2, account_get, ACCT, &got));
    FAILS(CALL(st2, account_get, ACCT2, &got), TR_E_STORE_NOT_FOUND);
    (*st2)->close(st2);
    assert_int_equal(tr_code(store_restore(out, dir2, &info)), TR_E_INTERNAL);        /* tresor.db exists */
    rm_dir(dir2);
    snprintf(dir2, sizeof dir2, "/tmp/tresor-store-XXXXXX");
    assert_non_null(mkdtemp(dir2));

    /* a damaged backup: a page of the first table's overwritten */
    int fd = open(out, O_WRONLY);
    assert_true(fd >= 0);
    char noise[4096];
    memset(noise, 0x5a, sizeof noise);
    assert_int_equal(pwrite(fd, noise, sizeof noise, (off_t)info.page_size), (ssize_t)sizeof noise);
    close(fd);
    assert_int_equal(tr_code(store_restore(out, dir2, &info)), TR_E_INTERNAL);
    fd = open(junk, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, noise, sizeof noise), (ssize_t)sizeof noise);
    close(fd);
    assert_int_equal(tr_code(store_restore(junk, dir2, &info)), TR_E_INTERNAL);
    assert_int_equal(tr_code(store_restore(f->dir, dir2, &info)), TR_E_INTERNAL);     /* a directory */
    DIR *d = opendir(dir2);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(n, 0);
    rm_dir(dir2);
}

/* ---- PostgreSQL's own ------------------------------------------------------ */

static void no_problem(void *arg, const char *text)
{
    fprintf(stderr, "store_test: problem: %s\n", text);
    (*(int *)arg)++;
}

static int pg_schema_version(store_t st)
{
    int problems = 0, version = -1;
    OK(CALL(st, self_check, no_problem, &problems, &version));
    assert_int_equal(problems, 0);
    return version;
}

/* Nodes that open a new database at once migrate it once: each open
 * takes the migration lock, and finds the work done. */
struct opener { const char *url; tr_result r; store_t st; };

static void *open_write(void *p)
{
    struct opener *o = p;
    o->r = store_pg_open(o->url, STORE_PG_WRITE, &o->st);
    return NULL;
}

static void test_pg_migration_lock(void **state)
{
    struct fx *f = *state;
    struct opener o[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        o[i] = (struct opener){ .url = f->url };
        assert_int_equal(pthread_create(&th[i], NULL, open_write, &o[i]), 0);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
        OK(o[i].r);
        assert_int_equal(pg_schema_version(o[i].st), (int)store_pg_schema_count);
        (*o[i].st)->close(o[i].st);
    }
    char v[32];
    assert_true(pg_exec(f->url, "SELECT count(*) || ':' || min(version) FROM tresor_schema", v, sizeof v));
    char want[32];
    snprintf(want, sizeof want, "1:%zu", store_pg_schema_count);
    assert_string_equal(v, want);
}

/* A database migrated by a newer tresor is refused, whatever the mode,
 * with the versions in the message; nothing is changed. */
static void test_pg_schema_too_new(void **state)
{
    struct fx *f = *state;
    char want[128], v[32];
    OK(store_pg_open(f->url, STORE_PG_SERVE, &f->st));
    (*f->st)->close(f->st);
    f->st = NULL;
    assert_true(pg_exec(f->url, "UPDATE tresor_schema SET version = 99", NULL, 0));
    snprintf(want, sizeof want, "the database's schema is version 99; this tresor knows up to %zu",
             store_pg_schema_count);
    store_t st = NULL;
    assert_int_equal(tr_code(store_pg_open(f->url, STORE_PG_SERVE, &st)), TR_E_INTERNAL);
    assert_null(st);
    assert_string_equal(tr_last_error()->message, want);
    assert_int_equal(tr_code(store_pg_open(f->url, STORE_PG_WRITE, &st)), TR_E_INTERNAL);
    assert_int_equal(tr_code(store_pg_open(f->url, STORE_PG_READONLY, &st)), TR_E_INTERNAL);
    assert_non_null(strstr(tr_last_error()->message, "schema is version 99"));
    assert_true(pg_exec(f->url, "SELECT version FROM tresor_schema", v, sizeof v));
    assert_string_equal(v, "99");
}

/* Wait up to 2 s (the staleness bound is 250 ms) until st's generation
 * is known and not was. */
static bool gen_moves_from(store_t st, struct cache_gen was)
{
    for (int i = 0; i < 200; i++) {
        struct cache_gen g = (*st)->generation(st);
        if (cache_gen_known(g) && !cache_gen_same(g, was)) return true;
        usleep(10 * 1000);
    }
    return false;
}

/* Several serving nodes on one database: both open; a commit of either
 * (a transaction, or a write on its own) moves the other's generation
 * (the notification, or the listener's read); a node's own commit moves
 * its own at once; a command's commit moves the nodes'.  A tampered
 * notification (another node's name, garbage) moves it too: any doubt
 * is a change. */
static void test_pg_two_nodes(void **state)
{
    struct fx *f = *state;
    store_t b = NULL, cmd = NULL;
    struct key_rec got;
    OK(store_pg_open(f->url, STORE_PG_SERVE, &b));
    struct cache_gen ga = (*f->st)->generation(f->st), gb = (*b)->generation(b);
    assert_true(cache_gen_known(ga));
    assert_true(cache_gen_known(gb));
    assert_false(ga.epoch == gb.epoch);

    /* A writes in a transaction: A's moves at once, B's soon. */
    OK(TX(f->st, tx_begin));
    put_key(f->st, "from-a", ACCT, REGION);
    OK(TX(f->st, tx_commit));
    assert_false(cache_gen_same((*f->st)->generation(f->st), ga));
    assert_true(gen_moves_from(b, gb));
    OK(CALL(b, key_get, "from-a", REGION, &got));
    key_rec_free(&got);

    /* B writes on its own (no transaction): A's moves. */
    ga = (*f->st)->generation(f->st);
    gb = (*b)->generation(b);
    OK(CALL(b, tag_set, "arn:x", "k", "v"));
    assert_false(cache_gen_same((*b)->generation(b), gb));
    assert_true(gen_moves_from(f->st, ga));

    /* Nothing written: neither moves (give the listeners two polls). */
    usleep(300 * 1000);
    ga = (*f->st)->generation(f->st);
    gb = (*b)->generation(b);
    usleep(300 * 1000);
    assert_true(cache_gen_same((*f->st)->generation(f->st), ga));
    assert_true(cache_gen_same((*b)->generation(b), gb));

    /* A command's commit moves both. */
    OK(store_pg_open(f->url, STORE_PG_WRITE, &cmd));
    struct account_rec acct = { .id = ACCT2, .created = 9 };
    OK(CALL(cmd, account_put, &acct));
    (*cmd)->close(cmd);
    assert_true(gen_moves_from(f->st, ga));
    assert_true(gen_moves_from(b, gb));

    /* A notification that is not a node's own, whatever it says. */
    ga = (*f->st)->generation(f->st);
    char v[32];
    assert_true(pg_exec(f->url, "SELECT pg_notify('tresor_generation', 'garbage')", v, sizeof v));
    assert_true(gen_moves_from(f->st, ga));
    ga = (*f->st)->generation(f->st);
    assert_true(pg_exec(f->url, "SELECT pg_notify('tresor_generation', '0000000000000001 5')", v, sizeof v));
    assert_true(gen_moves_from(f->st, ga));
    /* The row changed behind the nodes' backs (no notification): the
     * listener's read notices. */
    ga = (*f->st)->generation(f->st);
    assert_true(pg_exec(f->url, "UPDATE tresor_generation SET n = n + 100", v, sizeof v));
    assert_true(gen_moves_from(f->st, ga));
    (*b)->close(b);
}

/* The domains across nodes: B's secret write reaches A as a notification
 * naming the secrets' domain, which moves A's secrets generation and not
 * its KMS one.  A listener poll that reads the row before the
 * notification is in moves every domain (a safe doubt), so the trial is
 * made up to 5 times and one clean one is asked for; the old code moved
 * every domain every time.  An old node's payload ("NODE N", no domains)
 * moves every domain. */
static void test_pg_domains_across_nodes(void **state)
{
    struct fx *f = *state;
    store_t b = NULL;
    const char *sarn = "arn:aws:secretsmanager:" REGION ":" ACCT ":secret:n-AbCdEf";
    OK(store_pg_open(f->url, STORE_PG_SERVE, &b));
    bool clean = false;
    for (int t = 0; t < 5 && !clean; t++) {
        char name[32];
        snprintf(name, sizeof name, "n%d", t);
        struct ent_rec e = { .kind = "secret", .account_id = ACCT, .name = name, .id = name,
                             .arn = (char *)sarn, .path = (char *)"/", .doc = (char *)"{}", .created = 1 };
        usleep(250 * 1000);
        struct cache_gen gk = (*f->st)->generation_of(f->st, STORE_DOM_KMS);
        struct cache_gen gs = (*f->st)->generation_of(f->st, STORE_DOM_SECRETS);
        if (t == 0) OK(CALL(b, ent_put, &e));
        else OK(CALL(b, ent_update, &e));
        bool moved = false;
        for (int i = 0; i < 200 && !moved; i++) {
            struct cache_gen g = (*f->st)->generation_of(f->st, STORE_DOM_SECRETS);
            moved = cache_gen_known(g) && !cache_gen_same(g, gs);
            if (!moved) usleep(10 * 1000);
        }
        assert_true(moved);
        usleep(150 * 1000);                 /* a poll of the row since */
        clean = cache_gen_same((*f->st)->generation_of(f->st, STORE_DOM_KMS), gk);
    }
    assert_true(clean);

    /* B's secret write leaves A's tags of secrets alone (its mask says
     * it counts them apart); a SECRETS mask without that mark (a node
     * from before SECRET_TAGS, whose SECRETS covered the tags) moves them.
     * Fails without the mark: an older node's tag change would stay
     * cached here. */
    char sql[160], v[32];
    bool kept = false;
    for (int t = 0; t < 5 && !kept; t++) {
        struct ent_rec e = { .kind = "secret", .account_id = ACCT, .name = (char *)"n0", .id = (char *)"n0",
                             .arn = (char *)sarn, .path = (char *)"/", .doc = (char *)"{}", .created = 1 };
        usleep(250 * 1000);
        struct cache_gen gt = (*f->st)->generation_of(f->st, STORE_DOM_SECRET_TAGS);
        struct cache_gen gs = (*f->st)->generation_of(f->st, STORE_DOM_SECRETS);
        OK(CALL(b, ent_update, &e));
        bool moved = false;
        for (int i = 0; i < 200 && !moved; i++) {
            struct cache_gen g = (*f->st)->generation_of(f->st, STORE_DOM_SECRETS);
            moved = cache_gen_known(g) && !cache_gen_same(g, gs);
            if (!moved) usleep(10 * 1000);
        }
        assert_true(moved);
        usleep(150 * 1000);
        kept = cache_gen_same((*f->st)->generation_of(f->st, STORE_DOM_SECRET_TAGS), gt);
    }
    assert_true(kept);
    struct cache_gen gt = (*f->st)->generation_of(f->st, STORE_DOM_SECRET_TAGS);
    assert_true(pg_exec(f->url, "SELECT n FROM tresor_generation", v, sizeof v));
    snprintf(sql, sizeof sql, "SELECT pg_notify('tresor_generation', '0123456789abcdef %s 4')", v);
    assert_true(pg_exec(f->url, sql, NULL, 0));
    bool tags_moved = false;
    for (int i = 0; i < 200 && !tags_moved; i++) {
        struct cache_gen g = (*f->st)->generation_of(f->st, STORE_DOM_SECRET_TAGS);
        tags_moved = cache_gen_known(g) && !cache_gen_same(g, gt);
        if (!tags_moved) usleep(10 * 1000);
    }
    assert_true(tags_moved);

    /* A notification without domains (an older node's) moves every one. */
    struct cache_gen gk = (*f->st)->generation_of(f->st, STORE_DOM_KMS);
    assert_true(pg_exec(f->url, "SELECT n FROM tresor_generation", v, sizeof v));
    snprintf(sql, sizeof sql, "SELECT pg_notify('tresor_generation', '0123456789abcdef %s')", v);
    assert_true(pg_exec(f->url, sql, NULL, 0));             /* the row's own number: no poll doubts it */
    bool moved = false;
    for (int i = 0; i < 200 && !moved; i++) {
        struct cache_gen g = (*f->st)->generation_of(f->st, STORE_DOM_KMS);
        moved = cache_gen_known(g) && !cache_gen_same(g, gk);
        if (!moved) usleep(10 * 1000);
    }
    assert_true(moved);
    (*b)->close(b);
}

/* Two nodes' write transactions run one at a time (LOCK_WRITE): while A
 * holds one open, B's tx_begin waits; it fails BUSY after the lock wait
 * (5 s) when A never finishes, and B's reads go on meanwhile. */
static void test_pg_write_lock(void **state)
{
    struct fx *f = *state;
    store_t b = NULL;
    struct key_rec got;
    OK(store_pg_open(f->url, STORE_PG_SERVE, &b));
    put_key(f->st, "k0", ACCT, REGION);
    OK(TX(f->st, tx_begin));
    put_key(f->st, "k1", ACCT, REGION);
    OK(CALL(b, key_get, "k0", REGION, &got));           /* reads never wait */
    key_rec_free(&got);
    FAILS(TX(b, tx_begin), TR_E_STORE_BUSY);
    OK(TX(f->st, tx_commit));
    OK(TX(b, tx_begin));                         /* free again */
    OK(CALL(b, key_get, "k1", REGION, &got));            /* and it sees A's commit */
    key_rec_free(&got);
    OK(TX(b, tx_commit));
    (*b)->close(b);

    /* A commit nobody notified (the row moved behind the store's back):
     * the next write transaction's own read of the row moves the
     * generation at once, before it reads anything cached. */
    char v[32];
    struct cache_gen g = (*f->st)->generation(f->st);
    assert_true(pg_exec(f->url, "UPDATE tresor_generation SET n = n + 1", v, sizeof v));
    OK(TX(f->st, tx_begin));
    assert_false(cache_gen_same((*f->st)->generation(f->st), g));
    (*f->st)->tx_rollback(f->st);
}

/* A read-only open reads what was committed and writes nothing. */
static void test_pg_readonly(void **state)
{
    struct fx *f = *state;
    struct account_rec a = { .id = ACCT, .created = 7 }, got;
    store_t ro = NULL;
    OK(CALL(f->st, account_put, &a));
    OK(store_pg_open(f->url, STORE_PG_READONLY, &ro));
    OK(CALL(ro, account_get, ACCT, &got));
    assert_int_equal(got.created, 7);
    FAILS(TX(ro, tx_begin), TR_E_STORE_READONLY);
    struct account_rec b = { .id = ACCT2, .created = 8 };
    FAILS(CALL(ro, account_put, &b), TR_E_STORE_READONLY);
    FAILS(CALL(ro, tag_set, "arn:x", "k", "v"), TR_E_STORE_READONLY);
    OK(TX(ro, read_begin));
    OK(CALL(ro, account_first, &got));
    (*ro)->read_end(ro);
    (*ro)->close(ro);
    FAILS(CALL(f->st, account_get, ACCT2, &got), TR_E_STORE_NOT_FOUND);

    /* A database tresor never used is not taken for a store. */
    struct fx other = { 0 };
    assert_true(pg_new_database(&other));
    assert_int_equal(tr_code(store_pg_open(other.url, STORE_PG_READONLY, &ro)), TR_E_INTERNAL);
    assert_non_null(strstr(tr_last_error()->message, "schema is version 0"));
    pg_drop_database(&other);
}

/* Every session of the store ended by the server (pg_terminate_backend,
 * as a restart of PostgreSQL would): the next request (refresh, then its
 * calls) connects again and succeeds, reads and writes; the generation
 * listener connects again too (the generation is known again). */
static void test_pg_reconnect(void **state)
{
    struct fx *f = *state;
    char sql[256], n[32];
    struct key_rec got;
    put_key(f->st, "before", ACCT, REGION);
    snprintf(sql, sizeof sql, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
             "WHERE datname = '%s' AND pid <> pg_backend_pid()", f->pgdb);
    assert_true(pg_exec(NULL, sql, n, sizeof n));
    assert_true(strtol(n, NULL, 10) >= 2);          /* the listener and this thread's */
    usleep(200 * 1000);                 /* the backends exit */

    /* A read without refresh: run again on a new connection.  (A request
     * ends with the barrier: what it read is vouched for.) */
    OK(CALL(f->st, key_get, "before", REGION, &got));
    key_rec_free(&got);
    OK(TX(f->st, sync_barrier));
    assert_true(pg_exec(NULL, sql, n, sizeof n));
    usleep(200 * 1000);
    /* A request: refresh notices, then a write transaction succeeds (the
     * flush rounds' session, ended too, is made again before it asks
     * anything: flush_check). */
    (*f->st)->refresh(f->st);
    (*f->st)->refresh(f->st);
    OK(TX(f->st, tx_begin));
    put_key(f->st, "after", ACCT, REGION);
    OK(TX(f->st, tx_commit));
    OK(CALL(f->st, key_get, "after", REGION, &got));
    key_rec_free(&got);
    for (int i = 0; i < 200 && !cache_gen_known((*f->st)->generation(f->st)); i++) usleep(10 * 1000);
    assert_true(cache_gen_known((*f->st)->generation(f->st)));
}

/* The connection pool (postgres.c, "Connections"). */
static void pool(store_t st, unsigned *open, unsigned *idle)
{
    store_pg_pool_stats(st, open, idle);
}

struct borrower { store_t st; tr_result r; };

static void *borrow_get(void *p)
{
    struct borrower *b = p;
    struct key_rec got;
    b->r = CALL(b->st, key_get, "k1", REGION, &got);
    if (tr_ok(b->r)) key_rec_free(&got);
    return NULL;
}

/* Borrow and return: each call borrows a connection and returns it when
 * it ends, a transaction keeps its own until commit or rollback; with
 * every connection in use a caller waits (and gets one when it is
 * returned), or fails TR_E_STORE_BUSY when none is returned within the
 * bound.  Never more connections than the bound. */
static void test_pg_pool_borrow_return(void **state)
{
    struct fx *f = *state;
    unsigned open, idle;
    store_t one = NULL, quick = NULL;
    struct store_pg_limits lim = { .connections = 1 }, lim_quick = { .connections = 1, .wait_ms = 100 };
    OK(store_pg_open_with(f->url, STORE_PG_SERVE, &lim, &one));
    OK(store_pg_open_with(f->url, STORE_PG_SERVE, &lim_quick, &quick));
    pool(one, &open, &idle);
    assert_int_equal(open, 0);
    put_key(one, "k1", ACCT, REGION);
    pool(one, &open, &idle);
    assert_int_equal(open, 1);
    assert_int_equal(idle, 1);                  /* returned after the write */
    struct key_rec got;
    OK(CALL(one, key_get, "k1", REGION, &got));
    key_rec_free(&got);
    pool(one, &open, &idle);
    assert_int_equal(open, 1);
    assert_int_equal(idle, 1);                  /* the same one again */

    /* A transaction holds it: another thread waits, and gets it at commit. */
    OK(TX(one, tx_begin));
    pool(one, &open, &idle);
    assert_int_equal(idle, 0);
    struct borrower b = { .st = one };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, borrow_get, &b), 0);
    usleep(100 * 1000);                         /* it waits (or has not started: the same) */
    put_key(one, "k2", ACCT, REGION);
    OK(TX(one, tx_commit));
    assert_int_equal(pthread_join(t, NULL), 0);
    OK(b.r);
    pool(one, &open, &idle);
    assert_int_equal(open, 1);
    assert_int_equal(idle, 1);

    /* None returned within the bound: TR_E_STORE_BUSY, nothing opened. */
    OK(TX(quick, tx_begin));
    struct borrower q = { .st = quick };
    assert_int_equal(pthread_create(&t, NULL, borrow_get, &q), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(tr_code(q.r), TR_E_STORE_BUSY);     /* in that thread */
    pool(quick, &open, &idle);
    assert_int_equal(open, 1);
    assert_int_equal(idle, 0);
    TX(quick, tx_rollback);
    pool(quick, &open, &idle);
    assert_int_equal(open, 1);
    assert_int_equal(idle, 1);

    /* A read transaction holds it too, until read_end. */
    OK(TX(quick, read_begin));
    pool(quick, &open, &idle);
    assert_int_equal(idle, 0);
    TX(quick, read_end);
    pool(quick, &open, &idle);
    assert_int_equal(idle, 1);

    /* Many threads over 1 connection: each call waits its turn. */
    struct borrower many[8];
    pthread_t mt[8];
    for (int i = 0; i < 8; i++) {
        many[i].st = one;
        assert_int_equal(pthread_create(&mt[i], NULL, borrow_get, &many[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        assert_int_equal(pthread_join(mt[i], NULL), 0);
        OK(many[i].r);
    }
    pool(one, &open, &idle);
    assert_int_equal(open, 1);
    assert_int_equal(idle, 1);
    (*quick)->close(quick);
    (*one)->close(one);
}

/* Broken connections: an idle one whose session the server ended is
 * closed when next borrowed and replaced; one lost inside a transaction
 * fails the statement (TR_E_STORE_IO) and is closed at rollback, not
 * returned.  The count of open connections follows. */
static void test_pg_pool_broken(void **state)
{
    struct fx *f = *state;
    unsigned open, idle;
    char sql[256], n[32];
    store_t st = NULL;
    struct store_pg_limits lim = { .connections = 2 };
    struct key_rec got;
    OK(store_pg_open_with(f->url, STORE_PG_SERVE, &lim, &st));
    put_key(st, "k1", ACCT, REGION);
    pool(st, &open, &idle);
    assert_int_equal(open, 1);
    assert_int_equal(idle, 1);
    snprintf(sql, sizeof sql, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
             "WHERE datname = '%s' AND pid <> pg_backend_pid() AND application_name = 'tresor'", f->pgdb);
    assert_true(pg_exec(NULL, sql, n, sizeof n));
    usleep(200 * 1000);                         /* the backends exit */

    /* The idle one is dead: dropped when borrowed, a new one serves. */
    OK(CALL(st, key_get, "k1", REGION, &got));
    key_rec_free(&got);
    OK(TX(st, sync_barrier));                   /* the request's end */
    pool(st, &open, &idle);
    assert_int_equal(open, 1);
    assert_int_equal(idle, 1);

    /* Lost inside a transaction: the write fails, the rollback closes it. */
    OK(TX(st, tx_begin));
    assert_true(pg_exec(NULL, sql, n, sizeof n));
    usleep(200 * 1000);
    struct key_fx x;
    mk_key(&x, "k2", ACCT, REGION);
    FAILS(CALL(st, key_put, &x.k), TR_E_STORE_IO);
    TX(st, tx_rollback);
    /* What that transaction read cannot be vouched for: the flush rounds'
     * session ended with it (a request that failed has no barrier; here
     * it shows). */
    FAILS(TX(st, sync_barrier), TR_E_STORE_IO);
    pool(st, &open, &idle);
    assert_int_equal(open, 0);
    assert_int_equal(idle, 0);
    put_key(st, "k3", ACCT, REGION);
    OK(CALL(st, key_get, "k3", REGION, &got));
    key_rec_free(&got);
    FAILS(CALL(st, key_get, "k2", REGION, &got), TR_E_STORE_NOT_FOUND);
    pool(st, &open, &idle);
    assert_int_equal(open, 1);
    assert_int_equal(idle, 1);
    (*st)->close(st);
}

/* Group commit (postgres.c, "Group commit").  A write transaction
 * commits with synchronous_commit = off and its reply waits for a flush
 * round; a read of a commit not yet flushed is vouched for only by a
 * round after it.  Here: another session commits without waiting for
 * the flush; the store reads that row; after sync_barrier PostgreSQL's
 * log is flushed past the commit (what a reply carries is durable). */
static void test_pg_group_commit_reader(void **state)
{
    struct fx *f = *state;
    PGconn *x = PQconnectdb(f->url);
    assert_int_equal(PQstatus(x), CONNECTION_OK);
    PGresult *res = PQexec(x, "SET synchronous_commit = off; "
                           "INSERT INTO tags (arn, key, value) VALUES ('arn:aws:kms:us-east-1:1:key/async', 'k', 'v')");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    res = PQexec(x, "SELECT pg_current_wal_insert_lsn()");      /* past that commit's record */
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    char lsn[64], sql[160], v[8];
    snprintf(lsn, sizeof lsn, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    struct tag_rec *tags = NULL;
    size_t n = 0;
    OK(CALL(f->st, tag_list, "arn:aws:kms:us-east-1:1:key/async", &tags, &n));
    assert_int_equal(n, 1);
    tag_list_free(tags, n);
    OK(TX(f->st, sync_barrier));
    snprintf(sql, sizeof sql, "SELECT pg_current_wal_flush_lsn() >= '%s'::pg_lsn", lsn);
    assert_true(pg_exec(f->url, sql, v, sizeof v));
    assert_string_equal(v, "t");
    PQfinish(x);
}

struct ticket_wait {
    struct gsync_waiter w;              /* first */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
    bool durable;
};

static void ticket_done(struct gsync_waiter *w, bool durable)
{
    struct ticket_wait *t = (struct ticket_wait *)(void *)w;
    pthread_mutex_lock(&t->mu);
    t->calls++;
    t->durable = durable;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

/* sync_notify on a ticket: 1 when durable at once, else done(durable)
 * later; -1 when it cannot be.  Returns 1 for durable, 0 for not. */
static int ticket_settle(store_t st, uint64_t ticket)
{
    struct ticket_wait t = { .w = { .seq = ticket, .done = ticket_done } };
    pthread_mutex_init(&t.mu, NULL);
    pthread_cond_init(&t.cv, NULL);
    int now = (*st)->sync_notify(st, &t.w);
    if (now == 0) {
        pthread_mutex_lock(&t.mu);
        while (t.calls == 0) pthread_cond_wait(&t.cv, &t.mu);
        now = t.durable ? 1 : -1;
        pthread_mutex_unlock(&t.mu);
        assert_int_equal(t.calls, 1);
    }
    pthread_cond_destroy(&t.cv);
    pthread_mutex_destroy(&t.mu);
    return now == 1;
}

static void *write_other_thread(void *p)
{
    static atomic_int seq;
    struct borrower *b = p;
    struct key_fx x;
    char id[32];
    snprintf(id, sizeof id, "k-other-%d", atomic_fetch_add(&seq, 1));
    mk_key(&x, id, ACCT, REGION);
    b->r = CALL(b->st, key_put, &x.k);
    return NULL;
}

/* Tickets and the flush session.  A commit's ticket settles durable.
 * When the flush rounds' session ends (as it does when PostgreSQL
 * crashes: every session ends), no round can vouch for anything asked
 * before a new session was made: a ticket from before fails even after a
 * later round succeeded, and so does the barrier of a thread whose read
 * came before; a question asked after the session was found ended (the
 * new one is made first: flush_check) is vouched for. */
static void test_pg_group_commit_tickets(void **state)
{
    struct fx *f = *state;
    uint64_t t1 = 0, t2 = 0;
    char sql[256], n[32];
    struct key_rec got;
    OK(TX(f->st, tx_begin));
    put_key(f->st, "k1", ACCT, REGION);
    OK((*f->st)->tx_commit_ticket(f->st, &t1));
    assert_true(t1 != 0);
    assert_int_equal(ticket_settle(f->st, t1), 1);

    OK(TX(f->st, tx_begin));
    put_key(f->st, "k2", ACCT, REGION);
    OK((*f->st)->tx_commit_ticket(f->st, &t2));     /* not settled yet */
    OK(CALL(f->st, key_get, "k1", REGION, &got));   /* a read this thread has not vouched for */
    key_rec_free(&got);
    snprintf(sql, sizeof sql, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
             "WHERE datname = '%s' AND pid <> pg_backend_pid()", f->pgdb);
    assert_true(pg_exec(NULL, sql, n, sizeof n));
    usleep(200 * 1000);

    /* Another thread's write finds the session ended before it asks
     * anything, makes a new one, and is vouched for by it. */
    struct borrower b = { .st = f->st };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, write_other_thread, &b), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    OK(b.r);

    assert_int_equal(ticket_settle(f->st, t2), 0);  /* from before: unknown */
    FAILS(TX(f->st, sync_barrier), TR_E_STORE_IO);  /* this thread's read: from before */
    OK(TX(f->st, sync_barrier));                    /* nothing unvouched left */
    OK(CALL(f->st, key_get, "k2", REGION, &got));
    key_rec_free(&got);
    OK(TX(f->st, sync_barrier));
    uint64_t t3 = 0;
    OK(TX(f->st, tx_begin));
    put_key(f->st, "k3", ACCT, REGION);
    OK((*f->st)->tx_commit_ticket(f->st, &t3));
    assert_int_equal(ticket_settle(f->st, t3), 1);
}

/* A value too long for its record's array fails the read (TR_E_INTERNAL),
 * never truncates; the other rows read on. */
static void test_pg_value_too_long(void **state)
{
    struct fx *f = *state;
    struct key_rec got, *v;
    size_t n;
    put_key(f->st, "a1", ACCT, REGION);
    assert_true(pg_exec(f->url, "INSERT INTO kms_keys VALUES ('zz', '" ACCT "', '" REGION "', 'arn', '', "
                        "'{}', 'AStateFarTooLongForTheRecordField', 'ENCRYPT_DECRYPT', "
                        "'SYMMETRIC_DEFAULT', 'AWS_KMS', 'CUSTOMER', 1, 0, 0, 0, 365, 0, 1, NULL, '')", NULL, 0));
    FAILS(CALL(f->st, key_get, "zz", REGION, &got), TR_E_INTERNAL);
    assert_null(got.arn);
    v = (struct key_rec *)(void *)1;
    FAILS(CALL(f->st, key_list, ACCT, REGION, NULL, 10, &v, &n), TR_E_INTERNAL);
    assert_null(v);
    assert_int_equal(n, 0);
    OK(CALL(f->st, key_get, "a1", REGION, &got));
    key_rec_free(&got);
}

/* Text compares byte for byte, whatever the database's collation, and
 * the connection string's password never reaches a description. */
static void test_pg_describe_and_order(void **state)
{
    struct fx *f = *state;
    char d[256];
    store_pg_describe("postgresql://alice:s3cret-pw@db.example:6543/tresor?sslmode=require", d, sizeof d);
    assert_string_equal(d, "host=db.example port=6543 dbname=tresor user=alice");
    store_pg_describe("host=/run/pg dbname=t user=u password=s3cret-pw", d, sizeof d);
    assert_null(strstr(d, "s3cret"));
    store_pg_describe("postgresql://%zz", d, sizeof d);
    assert_string_equal(d, "an invalid connection string");
    assert_true(store_pg_named("postgres://h/d"));
    assert_true(store_pg_named("dbname=x"));
    assert_false(store_pg_named("/var/lib/tresor"));
    store_t st = NULL;
    assert_int_equal(tr_code(store_pg_open("postgresql://u:s3cret-pw@%zz", STORE_PG_SERVE, &st)),
                     TR_E_INTERNAL);
    assert_null(strstr(tr_last_error()->message, "s3cret"));

    /* "B" < "a" < "b" < "é" in bytes (a locale would put them otherwise). */
    OK(CALL(f->st, tag_set, "arn:o", "b", "1"));
    OK(CALL(f->st, tag_set, "arn:o", "\xc3\xa9", "2"));
    OK(CALL(f->st, tag_set, "arn:o", "B", "3"));
    OK(CALL(f->st, tag_set, "arn:o", "a", "4"));
    struct tag_rec *tv;
    size_t n;
    OK(CALL(f->st, tag_list, "arn:o", &tv, &n));
    assert_int_equal(n, 4);
    assert_string_equal(tv[0].key, "B");
    assert_string_equal(tv[1].key, "a");
    assert_string_equal(tv[2].key, "b");
    assert_string_equal(tv[3].key, "\xc3\xa9");
    tag_list_free(tv, n);
}

/* The calls' tests again, on a database each; then PostgreSQL's own. */
static int run_pg_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_accounts, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_access_keys, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_key_round_trip, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_key_list_order_and_paging, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_whole_store_listings, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_key_list_due, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_key_delete, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_key_id_in_several_regions, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_materials, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_material_update, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_aliases, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_tags, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_access_key_list_update_delete_purge, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_entities, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_relations, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_rel_member, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_rel_pairs, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_rel_prune_order, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_class_is_complete, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_leaves_nothing, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_durable_across_reopen, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_file, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_open_transaction, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_pg_migration_lock, setup_pg_empty, teardown),
        cmocka_unit_test_setup_teardown(test_pg_schema_too_new, setup_pg_empty, teardown),
        cmocka_unit_test_setup_teardown(test_generation_domains, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_alias_cache, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_pg_two_nodes, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_pg_domains_across_nodes, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_pg_write_lock, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_pg_readonly, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_pg_reconnect, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_pg_pool_borrow_return, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_pg_pool_broken, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_pg_group_commit_reader, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_pg_group_commit_tickets, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_pg_value_too_long, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_pg_describe_and_order, setup_pg, teardown),
    };
    return cmocka_run_group_tests_name("store-postgres", tests, NULL, NULL);
}

/* sqlite_db_path: DIR/tresor.db, refused when it does not fit PATH_MAX;
 * the store's open, backup and restore refuse such a data dir with their
 * own errors. */
static void test_db_path(void **state)
{
    (void)state;
    char p[PATH_MAX];
    assert_true(sqlite_db_path("/d", p));
    assert_string_equal(p, "/d/" SQLITE_DB_FILE);

    static char dir[PATH_MAX + 1];
    size_t fits = PATH_MAX - 1 - strlen("/" SQLITE_DB_FILE);
    memset(dir, 'a', fits);
    dir[0] = '/';
    dir[fits] = '\0';
    assert_true(sqlite_db_path(dir, p));                        /* PATH_MAX - 1 characters */
    assert_int_equal(strlen(p), PATH_MAX - 1);
    dir[fits] = 'a';
    dir[fits + 1] = '\0';
    assert_false(sqlite_db_path(dir, p));                       /* one more does not fit */

    struct backup_info info;
    store_t st = NULL;
    assert_int_equal(tr_code(store_backup(dir, "/tmp/never-written", &info)), TR_E_INTERNAL);
    assert_string_equal(tr_last_error()->message, "the data dir's path is too long");
    assert_int_equal(tr_code(store_restore("/tmp/never-read", dir, &info)), TR_E_INTERNAL);
    assert_string_equal(tr_last_error()->message, "the data dir's path is too long");
    assert_int_equal(tr_code(store_sqlite_open(dir, &st)), TR_E_INTERNAL);
    assert_null(st);
    assert_int_equal(tr_code(store_sqlite_open_readonly(dir, &st)), TR_E_INTERNAL);
    assert_null(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_name_and_file_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_each, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_sync_barrier, setup_memory, teardown),
        cmocka_unit_test_setup_teardown(test_open_tightens_mode_and_makes_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrations_run_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrates_keys_to_regions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_id_in_several_regions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrates_an_old_database, setup, teardown),
        cmocka_unit_test(test_schema_matches_sql_files),
        cmocka_unit_test_setup_teardown(test_accounts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_list_order_and_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whole_store_listings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_list_due, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_materials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_material_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aliases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_too_long_for_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kind_too_long_for_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_key_list_update_delete_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_entities, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rel_member, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rel_pairs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rel_prune_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_class_is_complete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durable_across_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blobs_exact_and_secure_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_memory, setup_memory, teardown),
        cmocka_unit_test_setup_teardown(test_open_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_kinds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_shared_across_threads, setup_memory, teardown),
        cmocka_unit_test(test_sqlite_out_of_memory),
        cmocka_unit_test(test_free_helpers),
        cmocka_unit_test(test_db_path),
        cmocka_unit_test_setup_teardown(test_generation_and_key_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generation_domains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alias_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_sees_other_processes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_counter_cut_short, setup, teardown),
        cmocka_unit_test(test_generation_unique_per_store),
    };
    oom_install();      /* before SQLite initializes */
    int failed = cmocka_run_group_tests_name("store", tests, NULL, NULL);
    if (getenv("TRESOR_TEST_PG")) failed += run_pg_tests();
    else fprintf(stderr, "store_test: TRESOR_TEST_PG is not set: the PostgreSQL tests are skipped "
                 "(make unit-pg)\n");
    return failed;
}
