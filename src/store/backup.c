/*
 * backup.c -- `tresor backup` and `tresor restore`: the store copied with
 * SQLite's online backup API (https://sqlite.org/backup.html).
 *
 * Consistency.  The source is opened read-only and copied with one
 * sqlite3_backup_step(-1): a single read transaction over every page.  In
 * WAL mode a reader sees the database as of the last commit in the log
 * when its transaction began and never blocks the writers, so the server
 * goes on committing while the copy runs and the copy is exactly the store
 * as of one commit: every commit acknowledged to a client before the
 * backup started is in it (the server answers only after its commit is in
 * the log, docs/internals/CRASH_SAFETY.md), later ones may or may not be.
 * A stepped copy (N pages at a time) would restart whenever the server
 * writes, and under a steady write load might never finish.
 *
 * What is copied.  tresor.db only: the root key (DATA_DIR/root.key) is
 * never read, so a backup holds wrapped material alone and is useless
 * without the root key kept elsewhere; credentials and config (the AWS
 * profiles written on first start) are not copied either -- credentials
 * holds a secret access key in the clear.  The copy is switched to
 * journal_mode=DELETE so it is one self-contained file; the server turns
 * WAL back on when it opens the restored store.
 *
 * Files are created 0600 with O_EXCL (never over an existing file), and
 * removed again when anything fails.
 */
#include "store/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/hex.h"
#include "store/schema.h"
#include "store/sqlite_uri.h"

#define BUSY_MS 5000

static void fsync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* The directory part of path ("." when it has none), for its fsync. */
static void fsync_parent(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        fsync_path(".", O_RDONLY | O_DIRECTORY);
        return;
    }
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= sizeof dir) return;
    memcpy(dir, path, n);
    dir[n] = '\0';
    fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

/* Create path, 0600, refusing an existing file or a symbolic link. */
static TR_RESULT create_empty(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) BAIL(TR_E_INTERNAL, "cannot create %s: %s", path, strerror(errno));
    close(fd);
    return TR_OK;
}

static TR_RESULT sq_fail(sqlite3 *db, int rc, const char *what, const char *path)
{
    BAIL(TR_E_INTERNAL, "%s %s: %s", what, path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

/* One integer of a PRAGMA or query. */
static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(q, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(q);
    return rc;
}

/* PRAGMA quick_check answers "ok" on a sound database. */
static TR_RESULT quick_check(sqlite3 *db, const char *path)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &q, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(q);
    bool ok = rc == SQLITE_ROW && sqlite3_column_text(q, 0) &&
              strcmp((const char *)sqlite3_column_text(q, 0), "ok") == 0;
    sqlite3_finalize(q);
    if (!ok) BAIL(TR_E_INTERNAL, "%s is not a sound tresor store (SQLite's quick_check fails)", path);
    return TR_OK;
}

/* The snapshot's schema version and size, read from db. */
static TR_RESULT describe(sqlite3 *db, const char *path, struct backup_info *info)
{
    int64_t v = 0;
    if (query_int(db, "PRAGMA user_version", &v) != SQLITE_OK ||
        query_int(db, "PRAGMA page_count", &info->pages) != SQLITE_OK ||
        query_int(db, "PRAGMA page_size", &info->page_size) != SQLITE_OK)
        return sq_fail(db, SQLITE_ERROR, "cannot read", path);
    info->schema_version = (int)v;
    return TR_OK;
}

/* Copy src's main database into dst's, in one step (see the header). */
static TR_RESULT copy_all(sqlite3 *dst, sqlite3 *src, const char *from)
{
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b) return sq_fail(dst, SQLITE_ERROR, "cannot start the copy of", from);
    int rc;
    /* Busy or locked only while another process recovers the log or
     * changes the journal mode: wait for it, as a connection's busy
     * timeout would. */
    for (int tries = 0; (rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED; tries++) {
        if (tries * 10 >= BUSY_MS) break;
        sqlite3_sleep(10);
    }
    int fin = sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) BAIL(TR_E_INTERNAL, "cannot copy %s: %s", from, sqlite3_errstr(rc));
    if (fin != SQLITE_OK) return sq_fail(dst, fin, "cannot copy", from);
    return TR_OK;
}

/* Open path read-only through a URI (the query says how). */
static TR_RESULT open_ro(const char *path, const char *query, sqlite3 **db)
{
    char uri[3 * PATH_MAX + 64];
    GUARD(sqlite_file_uri(path, query, uri, sizeof uri));
    int rc = sqlite3_open_v2(uri, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_EXRESCODE, NULL);
    if (rc != SQLITE_OK) return sq_fail(*db, rc, "cannot open", path);
    sqlite3_busy_timeout(*db, BUSY_MS);
    return TR_OK;
}

static TR_RESULT open_rw(const char *path, sqlite3 **db)
{
    int rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_EXRESCODE, NULL);
    if (rc != SQLITE_OK) return sq_fail(*db, rc, "cannot open", path);
    sqlite3_busy_timeout(*db, BUSY_MS);
    return TR_OK;
}

/* Copy from (opened with from_query) into the new file to, leave it in
 * rollback-journal mode, check it and fsync it; to is removed on failure. */
static TR_RESULT copy_file(const char *from, const char *from_query, const char *to, bool check_source,
                           struct backup_info *info)
{
    sqlite3 *src = NULL, *dst = NULL;
    bool created = false;
    tr_result r = open_ro(from, from_query, &src);
    if (tr_failed(r)) goto fail;
    if (check_source) {
        r = quick_check(src, from);
        if (tr_failed(r)) goto fail;
    }
    r = create_empty(to);
    if (tr_failed(r)) goto fail;
    created = true;
    r = open_rw(to, &dst);
    if (tr_ok(r)) r = copy_all(dst, src, from);
    if (tr_ok(r) && sqlite3_exec(dst, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL) != SQLITE_OK)
        r = sq_fail(dst, SQLITE_ERROR, "cannot set the journal mode of", to);
    if (tr_ok(r)) r = quick_check(dst, to);
    if (tr_ok(r)) r = describe(dst, to, info);
    if (tr_ok(r) && (info->schema_version < 1 || (size_t)info->schema_version > store_schema_count))
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "%s has schema version %d, which this build "
                       "(schema version %zu) does not know: not a tresor store, or a newer tresor's",
                       from, info->schema_version, store_schema_count);
    if (tr_failed(r)) goto fail;
    sqlite3_close(src);
    if (sqlite3_close(dst) != SQLITE_OK) {
        dst = NULL;
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "cannot close %s", to);
        created = true;
        goto fail_closed;
    }
    fsync_path(to, O_RDONLY);
    fsync_parent(to);
    return TR_OK;
fail:
    sqlite3_close(src);
    sqlite3_close(dst);
fail_closed:
    if (created) {
        static const char *const side[] = { "-journal", "-wal", "-shm" };
        (void)unlink(to);
        for (size_t i = 0; i < sizeof side / sizeof side[0]; i++) {
            char j[PATH_MAX + 16];
            int k = snprintf(j, sizeof j, "%s%s", to, side[i]);
            if (k > 0 && (size_t)k < sizeof j) (void)unlink(j);
        }
    }
    return r;
}

TR_RESULT store_backup(const char *data_dir, const char *out_path, struct backup_info *info)
{
    char db[PATH_MAX];
    ENSURE(data_dir && out_path && info, TR_E_INTERNAL);
    memset(info, 0, sizeof *info);
    if (!sqlite_db_path(data_dir, db)) BAIL(TR_E_INTERNAL, "the data dir's path is too long");
    if (!sqlite_file_exists(db, "")) BAIL(TR_E_INTERNAL, "%s: %s (not an initialized data dir)", db, strerror(errno));
    /* As store_sqlite_open_readonly: with neither -wal nor -shm nobody has
     * it open and every commit is in the file, so read it as immutable;
     * otherwise read through the log (mode=ro, WAL). */
    bool live = sqlite_file_exists(db, "-wal") || sqlite_file_exists(db, "-shm");
    return copy_file(db, live ? "?mode=ro" : "?mode=ro&immutable=1", out_path, false, info);
}

TR_RESULT store_restore(const char *in_path, const char *data_dir, struct backup_info *info)
{
    char db[PATH_MAX];
    ENSURE(in_path && data_dir && info, TR_E_INTERNAL);
    memset(info, 0, sizeof *info);
    if (!sqlite_db_path(data_dir, db)) BAIL(TR_E_INTERNAL, "the data dir's path is too long");
    struct stat sb;
    if (stat(in_path, &sb) != 0) BAIL(TR_E_INTERNAL, "%s: %s", in_path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) BAIL(TR_E_INTERNAL, "%s is not a regular file", in_path);
    /* A backup is in rollback-journal mode and nobody writes it: read it
     * as it is, without creating anything beside it. */
    return copy_file(in_path, "?mode=ro&immutable=1", db, true, info);
}
