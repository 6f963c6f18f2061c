/*
 * sqlite.c -- the SQLite backend of store/store.h, the embedded default.
 *
 * Files.  DATA_DIR/tresor.db, created 0600 before SQLite opens it (SQLite
 * gives the -wal and -shm files the mode of the database file).  Every
 * connection runs with foreign_keys=ON, secure_delete=ON (deleted rows are
 * overwritten), trusted_schema=OFF, SQLITE_DBCONFIG_DEFENSIVE and a 5 s
 * busy timeout, so a writer waits for another writer instead of failing.
 * The database runs in WAL mode: readers never block the writer nor each
 * other.
 *
 * Durability (enum store_commit; docs/internals/CRASH_SAFETY.md).  Either
 * way tx_commit returns once the commit is on disk.  EACH: synchronous=FULL,
 * COMMIT itself fdatasyncs the -wal file, under the write gate, so every
 * commit pays one sync and the next writer waits for it.  GROUP (the
 * default for a file): synchronous=NORMAL, so COMMIT appends the frames to
 * the -wal and returns; the commit was numbered under the gate
 * (group_sync.h), and once the gate is passed on, the thread waits for a
 * group sync -- an fdatasync of the -wal file through wal_fd, opened at
 * start -- that began after its frames were written, led by the first
 * waiter; one sync covers every commit written while the previous one ran.
 * It is sound because of how SQLite uses the -wal file under NORMAL: it
 * syncs the -wal before a checkpoint copies frames into the database and
 * the database after, and it writes and syncs a new -wal header (new salts)
 * before frames overwrite a restarted log, so a frame of a commit that we
 * have not synced yet is never needed to recover an older one, and a torn
 * tail fails its checksum and ends the log at the last whole commit before
 * it (a commit nobody was told about).  The file is the same inode for the
 * store's life: SQLite deletes the -wal only when the last connection
 * closes, and the keeper stays open; a restart or truncation of the log
 * writes into the same file (wal_sync still fails on an unlinked one).  A
 * failed sync breaks the store for good (group_sync.h): commits and the
 * readers' sync barrier fail with TR_E_STORE_IO until a restart.  A reader
 * can see a commit before it is durable (the frames are in the log); the
 * request path does not answer from it before the barrier (op.c).
 *
 * Schema.  The migrations of store/schema.c run at open, the pending ones
 * in one BEGIN IMMEDIATE transaction that also sets PRAGMA user_version to
 * their count; a database newer than this build is refused.
 *
 * Threads.  Each thread that calls the store gets its own connection,
 * opened lazily with SQLITE_OPEN_NOMUTEX and kept in a pthread_key_t of
 * this store instance; the key's destructor closes it when the thread
 * exits.  Every connection caches its prepared statements
 * (SQLITE_PREPARE_PERSISTENT), and every call resets the statement it used
 * and clears its bindings before returning, so a read costs one
 * pthread_getspecific, the binds, the steps and the strings it returns.
 * All connections are also on a list under a mutex; close() closes them
 * all.  One more connection, the keeper, is opened first: it runs the
 * migrations and keeps an in-memory database alive.  close() must not run
 * while another thread still calls the store, or while a thread that used
 * it is exiting (join the workers first, as MHD_stop_daemon does).
 *
 * Writers.  SQLite lets one writer in at a time, and a writer that finds
 * the lock taken polls for it (busy handler, sleeping up to 100 ms), so a
 * thread that writes in a loop can starve the others past the busy
 * timeout.  The threads of one store therefore queue first on the write
 * gate, first come first served with a direct hand-off, and only then take
 * SQLite's lock, which is then contended by other processes alone.  The
 * gate is held from tx_begin to tx_commit/tx_rollback, or for one
 * statement outside a transaction; reads never touch it.  Waiting for it
 * also times out after BUSY_TIMEOUT_MS (TR_E_STORE_BUSY), so a transaction
 * left open by mistake does not hang every writer.
 *
 * Transactions.  tx_begin takes the gate and runs BEGIN IMMEDIATE on the
 * calling thread's connection (the write lock at once, so a transaction
 * never fails half way with SQLITE_BUSY); tx_commit is COMMIT; tx_rollback
 * is ROLLBACK and does nothing when no transaction is open, so every
 * failure path may call it.  A failed COMMIT (a deferred foreign key) keeps
 * the transaction open: call tx_rollback.  Transactions do not nest.  A
 * call made outside a transaction commits on its own; so does key_delete,
 * which opens its own transaction for its four deletes when the caller has
 * none.  A thread that exits inside a transaction rolls it back.
 *
 * Errors: the store's own codes (errors.def), never a service's.  A lookup
 * (or update, delete) that finds no row: TR_E_STORE_NOT_FOUND.  A UNIQUE or
 * PRIMARY KEY violation: TR_E_STORE_EXISTS.  A FOREIGN KEY violation (a
 * material or alias naming a key that does not exist; inside a transaction
 * it shows up at tx_commit, because the foreign keys are deferred):
 * TR_E_STORE_NOT_FOUND.  All without a message.  The other failures are
 * logged to stderr with the SQLite message and the SQL text, and named by
 * their kind: the lock not had in time (SQLITE_BUSY, SQLITE_LOCKED, the
 * write gate) TR_E_STORE_BUSY; a full disk or database (SQLITE_FULL)
 * TR_E_STORE_FULL; a damaged file (SQLITE_CORRUPT, SQLITE_NOTADB)
 * TR_E_STORE_CORRUPT; a write to a store opened read-only (SQLITE_READONLY,
 * tx_begin there) TR_E_STORE_READONLY; a failed read or write of the files
 * (SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_PERM) TR_E_STORE_IO; anything else
 * (out of memory, misuse) TR_E_INTERNAL.  Values are always bound, never
 * written into SQL text, so no secret reaches a log line.
 *
 * Memory store.  store_sqlite_open_memory uses SQLite's memdb VFS with a
 * process-unique name ("file:/tresor-mem-N?vfs=memdb"), which every
 * connection of the store shares, so it is shared by all threads like the
 * file store.  memdb has no WAL: it runs with journal_mode=MEMORY, and a
 * reader waits (busy timeout) while a write transaction is open.  Meant
 * for tests  Nothing to sync: no group sync.
 *
 * Other processes' commits.  A commit by another connection changes
 * PRAGMA data_version on this one, and the generation (sq_generation)
 * follows it; but reading it opens a read transaction -- file locks and
 * SQLite's process-wide mutex, the largest single cost of a cached read.
 * So a file store also opens DATA_DIR/tresor.db-gen (0600, 8 bytes: a
 * native-endian value shared by every process that opens it): every
 * writable store writes a new value to it after each of its commits (and
 * rollbacks, and once at open for its migrations), and sq_refresh reads
 * data_version only when the value moved since its connection last read it, or when
 * REFRESH_BOUND_MS (100 ms) have passed -- which bounds how late a commit
 * that did not bump it (a writer that is not tresor, a process killed
 * between COMMIT and the bump) is noticed.  What of tresor can write a
 * data dir while a server runs on it -- tresor account create, and
 * who-can-decrypt and policy simulate, which open the store writable --
 * writes through this file, so its commits are seen by the server's next
 * request; a second tresor serve (its control socket), rotate-root-key,
 * seal migrate and migrate refuse a running server.  A store that cannot map
 * the file (a read-only store where it does not exist, the memory store)
 * reads data_version at every refresh, as before.  The counter is never
 * trusted for anything but "read data_version now": a counter that moved
 * for nothing costs one read; SQLite's own -shm is not looked into.
 *
 * The file is read and written with pread and pwrite, never mapped: a
 * mapped file cut short under the server (another process, an operator,
 * a full disk) faulted the next access to it with SIGBUS and took the
 * server down.  A bump writes a value never written before (this store's
 * random start plus its own count), not the old value plus one, so two
 * writers need no lock: whichever write lands last, it differs from what
 * any reader saw, and it came after both commits.  A read that finds the
 * file short (cut, or not there whole yet) counts as "every domain moved"
 * on that connection, and a writable store writes the file whole again at
 * once; a garbled value is only a moved one.
 *
 * Records.  The calls that read and write records are written once, for
 * this backend and PostgreSQL's, in store/sql_records.c; this file is
 * their driver (sql_records.h): it binds a statement's parameters
 * (strings and blobs SQLITE_STATIC: the caller's memory, released before
 * the call returns), steps it, hands its current row's columns to the
 * record readers there, and owns the connections, transactions, group
 * commit, schema and checks.  The SQL text is the shared table but for
 * the statements SQLite writes its own way (own_sql).
 */
#include "store/sqlite_uri.h"
#include "store/sql_records.h"
#include "store/gate.h"
#include "store/group_sync.h"
#include "store/schema.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/array.h"
#include "core/date.h"
#include "core/hex.h"
#include "core/metrics.h"
#include "core/str.h"

#define BUSY_TIMEOUT_MS 5000

/* ---- the statements, prepared once per connection -------------------- */

/* A tombstone from an access_keys row: the token digest of a session's doc
 * (a doc that is not JSON has none), removed now (real time: only pruning
 * and the operator read it). */
#define TOMB_FROM "access_key_id, account_id, expires, " \
    "CASE WHEN json_valid(doc) THEN json_extract(doc, '$.token_sha256') END, " \
    "CAST(strftime('%s', 'now') AS INTEGER)"
#define REL_COLS "kind, src, dst, doc, created"

/* The statements are store/sql_records.c's (sql_text) but for those SQLite
 * writes its own way, here; PRAGMA data_version is its alone. */
enum { Q_DATA_VERSION = SQL_Q__COUNT, Q__COUNT };

static const char *const own_sql[Q__COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_BEGIN_READ] = "BEGIN DEFERRED",
    [Q_DATA_VERSION] = "PRAGMA data_version",
    [Q_ACCOUNT_FIRST] = "SELECT " SQL_ACCOUNT_COLS " FROM accounts ORDER BY created, rowid LIMIT 1",
    [Q_ACCOUNT_LIST] = "SELECT " SQL_ACCOUNT_COLS " FROM accounts ORDER BY created, rowid",
    [Q_AK_TOMB] = "INSERT OR REPLACE INTO access_key_tombstones (" SQL_TOMB_COLS ") SELECT " TOMB_FROM
        " FROM access_keys WHERE access_key_id = ?1",
    [Q_AK_TOMB_EXPIRED] = "INSERT OR REPLACE INTO access_key_tombstones (" SQL_TOMB_COLS ") SELECT "
        TOMB_FROM " FROM access_keys WHERE expires <> 0 AND expires < ?1",
    /* Without statistics SQLite prefers walking the primary key (kind,
     * src, dst) over all rows of the kind, for the ORDER BY: a user's
     * groups would cost a scan of every membership.  The index answers it
     * in order. */
    [Q_REL_LIST_TO] = "SELECT " REL_COLS " FROM relations INDEXED BY relations_by_dst "
        "WHERE kind = ?1 AND dst = ?2 ORDER BY src",
    /* One member of a relation's doc (?4, [a-z_]: checked by the record
     * layer), read or set by SQLite's JSON functions; a member the doc
     * lacks reads as JSON null, and is added when set. */
    [Q_REL_MEMBER_GET] = "SELECT kind, src, dst, coalesce(doc -> ('$.' || ?4), 'null'), created "
        "FROM relations WHERE kind = ?1 AND src = ?2 AND dst = ?3",
    [Q_REL_MEMBER_SET] = "UPDATE relations SET doc = json_set(doc, '$.' || ?4, json(?5)) "
        "WHERE kind = ?1 AND src = ?2 AND dst = ?3",
    /* Q_REL_MEMBER_GET_PAIR, Q_REL_MEMBER_SET_PAIR: never run here (the
     * driver's pairs_apart). */
};

/* Statement id's SQL text. */
static const char *qsql(int id)
{
    return sql_own_text(own_sql, Q__COUNT, id);
}

/* ---- connections ------------------------------------------------------ */

struct store_sqlite;

struct conn {
    struct sql_conn link;           /* first: on s->conns; writing holds s->gate */
    struct store_sqlite *s;
    sqlite3 *db;
    int64_t data_version;           /* PRAGMA data_version as last read */
    uint64_t foreign;               /* times it changed: another process wrote */
    uint64_t commits_seen;          /* the commit counter when data_version was last read */
    int64_t checked_ms;             /* and when (CLOCK_MONOTONIC_COARSE) */
    bool checked;                   /* data_version has been read once */
    sqlite3_stmt *q[Q__COUNT];      /* prepared on first use */
};

struct store_sqlite {
    struct sql_store base;          /* first: store_t points at its class */
    struct sql_conns conns;         /* every open connection */
    pthread_key_t tls;              /* this thread's connection */
    struct conn *keeper;            /* migrates; keeps a memory db alive */
    struct gate gate;               /* queue of this process's writers */
    struct group_sync gs;           /* group commit (grouped only) */
    bool grouped;                   /* commits wait for a group sync of the -wal */
    int wal_fd;                     /* the -wal file, for the group sync; -1 */
    int commits_fd;                 /* the commit counter file; -1: none */
    uint64_t commits_base;          /* random: the first value this store writes there */
    _Atomic uint64_t commits_made;  /* values it wrote there */
    uint64_t epoch;                 /* of the generation: this store's own */
    bool memory;
    bool readonly;                  /* store_sqlite_open_readonly */
    bool exclusive;                 /* store_sqlite_open_exclusive: the keeper is the one
                                       connection, holding SQLite's exclusive lock */
    int flags;                      /* sqlite3_open_v2 flags */
    char name[];                    /* file name, or memdb URI */
};

static struct store_sqlite *self(store_t st)
{
    return (struct store_sqlite *)(void *)st;
}

static void commits_bump(struct store_sqlite *s);

/* Log an SQLite failure (never a bound value: only the SQL text). */
static void sq_log(sqlite3 *db, int rc, const char *what)
{
    fprintf(stderr, "tresor: store: sqlite: %s (%d): %s [%s]\n",
            sqlite3_errstr(rc), rc, db ? sqlite3_errmsg(db) : "-",
            what ? what : "-");
}

/* Our code for an SQLite result code (see the file comment). */
static enum tr_err sq_code(int rc)
{
    switch (rc) {
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
        return TR_E_STORE_EXISTS;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return TR_E_STORE_NOT_FOUND;
    }
    switch (rc & 0xff) {
    case SQLITE_BUSY: case SQLITE_LOCKED: return TR_E_STORE_BUSY;
    case SQLITE_FULL: return TR_E_STORE_FULL;
    case SQLITE_CORRUPT: case SQLITE_NOTADB: return TR_E_STORE_CORRUPT;
    case SQLITE_READONLY: return TR_E_STORE_READONLY;
    case SQLITE_IOERR: case SQLITE_CANTOPEN: case SQLITE_PERM: return TR_E_STORE_IO;
    default: return TR_E_INTERNAL;
    }
}

/* Map an SQLite result code to ours, logging what is not an answer. */
static tr_result sq_fail(sqlite3 *db, int rc, const char *what, int line)
{
    enum tr_err code = sq_code(rc);
    if (code != TR_E_STORE_EXISTS && code != TR_E_STORE_NOT_FOUND) sq_log(db, rc, what);
    return tr_fail_at(__FILE__, line, code, NULL);
}
/* A failure (TR_FAILURE: whatever the call depth, the analyser knows). */
#define SQ_FAIL(db, rc, what) TR_FAILURE(sq_fail((db), (rc), (what), __LINE__))

/* Finalize the cached statements and close; rolls back an open
 * transaction.  The caller has unlinked c. */
static void conn_close(struct conn *c)
{
    for (size_t i = 0; i < Q__COUNT; i++) sqlite3_finalize(c->q[i]);
    int rc = sqlite3_close(c->db);
    if (rc != SQLITE_OK) sq_log(c->db, rc, "close");
    free(c);
}

static void conn_close_link(struct sql_conn *l)
{
    conn_close((struct conn *)(void *)l);
}

/* Unlink and close c, and free the write gate if c held it: as the
 * pthread_key_t destructor when the thread that owned c exits, and by
 * conn_discard. */
static void conn_drop(void *p)
{
    struct conn *c = p;
    struct store_sqlite *s = c->s;
    bool writing = c->link.writing;
    sql_conns_remove(&s->conns, &c->link);
    conn_close(c);                  /* rolls back an open transaction */
    if (writing) gate_leave(&s->gate, STORE_DOM_ALL);
}

/* Open a connection to s, configure it and put it on s->conns. */
static TR_RESULT conn_open(struct store_sqlite *s, struct conn **out)
{
    static const char pragmas[] =
        "PRAGMA foreign_keys = ON;"
        "PRAGMA secure_delete = ON;"
        "PRAGMA trusted_schema = OFF;";
    struct conn *c = calloc(1, sizeof *c);
    char *err = NULL;
    int rc;

    ENSURE(c != NULL, TR_E_INTERNAL);
    c->s = s;
    rc = sqlite3_open_v2(s->name, &c->db, s->flags, NULL);
    if (rc != SQLITE_OK) goto fail;
    sqlite3_extended_result_codes(c->db, 1);
    rc = sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    if (rc != SQLITE_OK) goto fail;
    rc = sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    if (rc != SQLITE_OK) goto fail;
    rc = sqlite3_exec(c->db, pragmas, NULL, NULL, &err);
    /* Grouped: COMMIT appends to the -wal without a sync, and tx_commit
     * waits for the group sync instead (see the file comment). */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(c->db, s->grouped ? "PRAGMA synchronous = NORMAL"
                                            : "PRAGMA synchronous = FULL", NULL, NULL, &err);
    /* memdb has no WAL; a journal file would land in "/" on disk. */
    if (rc == SQLITE_OK && s->memory)
        rc = sqlite3_exec(c->db, "PRAGMA journal_mode = MEMORY", NULL, NULL, &err);
    if (rc != SQLITE_OK) goto fail;

    sql_conns_add(&s->conns, &c->link);
    *out = c;
    return TR_OK;

fail:
    sq_log(c->db, rc, err ? err : "open");
    sqlite3_free(err);
    sqlite3_close(c->db);
    free(c);
    BAIL0(sq_code(rc));
}

/* This thread's connection to s, opened on first use. */
static TR_RESULT conn_get(struct store_sqlite *s, struct conn **out)
{
    if (s->exclusive) {             /* one connection: another would be locked out */
        ENSURE(s->keeper != NULL, TR_E_INTERNAL);   /* set with exclusive, at open */
        *out = s->keeper;
        return TR_OK;
    }
    struct conn *c = pthread_getspecific(s->tls);
    if (!c) {
        GUARD(conn_open(s, &c));
        if (pthread_setspecific(s->tls, c) != 0) {
            sql_conns_remove(&s->conns, &c->link);
            conn_close(c);
            BAIL0(TR_E_INTERNAL);
        }
    }
    *out = c;
    return TR_OK;
}

/* This thread's connection to s if it has one (the keeper, exclusive). */
static struct conn *conn_peek(struct store_sqlite *s)
{
    return s->exclusive ? s->keeper : pthread_getspecific(s->tls);
}

/* This thread's connection, for the driver (store/sql_records.h). */
static TR_RESULT sq_conn(store_t st, struct sql_conn **out)
{
    struct conn *c = NULL;
    GUARD(conn_get(self(st), &c));
    *out = &c->link;
    return TR_OK;
}

static struct sql_conn *sq_peek(store_t st)
{
    struct conn *c = conn_peek(self(st));
    return c ? &c->link : NULL;
}

/* c's statement `id`, prepared on first use: SQLite's result code. */
static int stmt(struct conn *c, int id)
{
    if (c->q[id]) return SQLITE_OK;
    return sqlite3_prepare_v3(c->db, qsql(id), -1, SQLITE_PREPARE_PERSISTENT, &c->q[id], NULL);
}

/* The calling thread's connection and its prepared statement `id`. */
static TR_RESULT prep(store_t st, int id, struct conn **cp, sqlite3_stmt **qp)
{
    struct conn *c = NULL;
    ENSURE_REF(st);
    GUARD(conn_get(self(st), &c));
    int rc = stmt(c, id);
    if (rc != SQLITE_OK) return SQ_FAIL(c->db, rc, qsql(id));
    *cp = c;
    *qp = c->q[id];
    return TR_OK;
}

/* Ready a used statement for its next use (and drop pointers to the
 * caller's memory). */
static void q_release(sqlite3_stmt *q)
{
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
}

/* ---- parameters and columns --------------------------------------------- */

/* Strings and blobs are bound SQLITE_STATIC: the caller's memory, until
 * the statement is released (q_release) before the call returns. */
static int bind_text(sqlite3_stmt *q, int at, const struct sql_arg *a)
{
    size_t len = 0;
    const char *s = sql_arg_text(a, &len);
    if (len > INT_MAX) return SQLITE_TOOBIG;
    return sqlite3_bind_text(q, at, s, (int)len, SQLITE_STATIC);
}

/* Bind a[0..n) to ?1..?n: SQLite's result code. */
static int args_bind(sqlite3_stmt *q, const struct sql_arg *a, size_t n)
{
    int rc = SQLITE_OK;
    for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
        int at = (int)i + 1;
        switch (a[i].kind) {
        case ARG_INT:
            rc = sqlite3_bind_int64(q, at, a[i].i);
            break;
        case ARG_BLOB:
            /* A NULL pointer would bind SQL NULL, not an empty blob. */
            rc = sqlite3_bind_blob(q, at, a[i].b->data ? (const void *)a[i].b->data : "",
                                   (int)a[i].b->len, SQLITE_STATIC);
            break;
        case ARG_OPT:
        case ARG_TEXT:
        case ARG_NEED:
            rc = a[i].kind == ARG_OPT && !a[i].s ? sqlite3_bind_null(q, at) : bind_text(q, at, &a[i]);
            break;
        }
    }
    return rc;
}

/* The current row's columns (store/sql_records.h): res is the statement,
 * row unused (a statement has one current row). */
static const char *col_text(void *res, int row, int col, size_t *n)
{
    (void)row;
    const unsigned char *t = sqlite3_column_text(res, col);
    *n = (size_t)sqlite3_column_bytes(res, col);
    return (const char *)t;
}

static bool col_null(void *res, int row, int col)
{
    (void)row;
    return sqlite3_column_type(res, col) == SQLITE_NULL;
}

static bool col_int(void *res, int row, int col, int64_t *v)
{
    (void)row;
    *v = sqlite3_column_int64(res, col);
    return true;
}

/* SQL NULL reads as an empty blob. */
static bool col_blob(void *res, int row, int col, struct buf *dst)
{
    (void)row;
    const void *p = sqlite3_column_blob(res, col);
    int n = sqlite3_column_bytes(res, col);
    *dst = BUF_SECRET((uint32_t)n);
    return n == 0 || (p && tr_ok(buf_append(dst, p, (size_t)n)));
}

static const struct sql_cols cols = { col_text, col_null, col_int, col_blob };

/* ---- running statements ------------------------------------------------ */

/* Run a bound statement that returns no rows and release it; *changes
 * (when not NULL) gets the number of rows it changed.  dom: the domains
 * it writes (0: BEGIN, COMMIT, ROLLBACK). */
static TR_RESULT q_exec(struct conn *c, sqlite3_stmt *q, int bind_rc, int *changes, unsigned dom)
{
    tr_result r = TR_OK;
    /* Inside a transaction, the writer's own later reads must not hit
     * what it cached of these domains before this statement
     * (sq_generation); its end moves them again. */
    if (c->link.writing && dom) {
        gate_bump(&c->s->gate, dom);
        c->link.touched |= dom;
    }
    int rc = bind_rc;
    if (rc == SQLITE_OK) rc = sqlite3_step(q);
    if (rc != SQLITE_DONE) r = SQ_FAIL(c->db, rc, sqlite3_sql(q));
    else if (changes) *changes = sqlite3_changes(c->db);
    q_release(q);
    return r;
}

/* Run a bound write statement: as part of this thread's transaction, or
 * else on its own through the write gate. */
static TR_RESULT q_write(struct conn *c, sqlite3_stmt *q, int bind_rc, int *changes, unsigned dom)
{
    if (c->link.writing) return q_exec(c, q, bind_rc, changes, dom);
    struct store_sqlite *s = c->s;
    uint64_t seq = 0;
    tr_result r = gate_enter(&s->gate);
    if (tr_failed(r)) {
        q_release(q);
        return r;
    }
    if (s->grouped) r = gsync_begin(&s->gs, &seq);
    if (tr_failed(r)) {
        q_release(q);
        gate_leave(&s->gate, 0);
        return r;
    }
    r = q_exec(c, q, bind_rc, changes, dom);
    if (s->grouped) gsync_written(&s->gs, seq);
    commits_bump(s);
    gate_leave(&s->gate, dom);
    if (tr_ok(r) && s->grouped) r = gsync_wait(&s->gs, seq);
    return r;
}

/* Run a bound statement, fill *rec (a t) from its first row, release it.
 * TR_E_STORE_NOT_FOUND when there is no row. */
static TR_RESULT q_one(struct conn *c, sqlite3_stmt *q, int bind_rc, const struct sql_rec_type *t,
                       void *rec)
{
    tr_result r = TR_OK;
    int rc = bind_rc;
    if (rc == SQLITE_OK) rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        if (!sql_fill(t, &cols, q, 0, rec, sqlite3_sql(q)))
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    } else if (rc == SQLITE_DONE) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_NOT_FOUND, NULL);
    } else {
        r = SQ_FAIL(c->db, rc, sqlite3_sql(q));
    }
    q_release(q);
    return r;
}

/* Run a bound statement and collect every row into a malloc'd array of
 * records (each a t); release the statement.  On failure *out is NULL
 * and *n 0. */
static TR_RESULT q_all(struct conn *c, sqlite3_stmt *q, int bind_rc, const struct sql_rec_type *t,
                       void **out, size_t *n)
{
    unsigned char *v = NULL;
    size_t len = 0, cap = 0, size = t->size;
    tr_result r = TR_OK;
    int rc = bind_rc;

    *out = NULL;
    *n = 0;
    if (rc != SQLITE_OK) { r = SQ_FAIL(c->db, rc, sqlite3_sql(q)); goto fail; }
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        unsigned char *nv = array_grow(v, &cap, len, size, 8);
        if (!nv) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
        v = nv;
        void *rec = v + len * size;
        memset(rec, 0, size);
        if (!sql_fill(t, &cols, q, 0, rec, sqlite3_sql(q))) {
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
            goto fail;
        }
        len++;
    }
    if (rc != SQLITE_DONE) { r = SQ_FAIL(c->db, rc, sqlite3_sql(q)); goto fail; }
    q_release(q);
    *out = v;
    *n = len;
    return TR_OK;

fail:
    q_release(q);
    for (size_t i = 0; i < len; i++) t->drop(v + i * size);
    free(v);
    return r;
}

/* The driver's record calls (store/sql_records.h): prepare statement id
 * on this thread's connection, bind, run, release before returning. */
static TR_RESULT sq_get(store_t st, int id, const struct sql_arg *a, size_t na, const struct sql_rec_type *t,
                        void *rec)
{
    struct conn *c = NULL; sqlite3_stmt *q = NULL;
    GUARD(prep(st, id, &c, &q));
    return q_one(c, q, args_bind(q, a, na), t, rec);
}

static TR_RESULT sq_list(store_t st, int id, const struct sql_arg *a, size_t na, const struct sql_rec_type *t,
                         void **out, size_t *n)
{
    struct conn *c = NULL; sqlite3_stmt *q = NULL;
    GUARD(prep(st, id, &c, &q));
    return q_all(c, q, args_bind(q, a, na), t, out, n);
}

static TR_RESULT sq_write(store_t st, int id, const struct sql_arg *a, size_t na, int *changes,
                          unsigned dom)
{
    struct conn *c = NULL; sqlite3_stmt *q = NULL;
    GUARD(prep(st, id, &c, &q));
    return q_write(c, q, args_bind(q, a, na), changes, dom);
}

/* Run the parameterless statement `id` on c (BEGIN, COMMIT, ROLLBACK). */
static TR_RESULT q_simple(struct conn *c, int id)
{
    int rc = stmt(c, id);
    if (rc != SQLITE_OK) return SQ_FAIL(c->db, rc, qsql(id));
    return q_exec(c, c->q[id], SQLITE_OK, NULL, 0);
}

/* Roll back c's open transaction, if any.  Runs on failure paths, so it
 * leaves this thread's last error (the caller's) alone and only logs.
 * False when the ROLLBACK failed: c is then in an unknown state. */
static bool conn_rollback(struct conn *c)
{
    if (sqlite3_get_autocommit(c->db)) return true;
    int rc = stmt(c, Q_ROLLBACK);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(c->q[Q_ROLLBACK]);
        sqlite3_reset(c->q[Q_ROLLBACK]);
    }
    if (rc == SQLITE_DONE) return true;
    sq_log(c->db, rc, qsql(Q_ROLLBACK));
    return false;
}

/* Close this thread's connection for good (closing rolls back whatever is
 * open); its next call opens a new one. */
static void conn_discard(struct conn *c)
{
    pthread_setspecific(c->s->tls, NULL);
    conn_drop(c);
}

/* ---- the commit counter ------------------------------------------------ */

/* A thread reads PRAGMA data_version at most this long after it last did
 * when the commit counter has not moved: the bound within which a commit
 * that did not move it -- a writer that is not tresor, a tresor process
 * killed between its COMMIT and the bump -- is noticed. */
#define REFRESH_BOUND_MS 100

static int64_t coarse_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Open the commit counter file DB-gen (the file comment, "Other
 * processes' commits"): writable, created 0600 and written whole when it
 * is short; read-only, only when it is there.  Failing that s->commits_fd
 * stays -1, and sq_refresh reads data_version at every request. */
static void commits_open(struct store_sqlite *s, const char *db, bool writable)
{
    char path[PATH_MAX + 8];
    struct stat sb;
    int n = snprintf(path, sizeof path, "%s-gen", db);
    if (n <= 0 || (size_t)n >= sizeof path) return;
    if (writable && getrandom(&s->commits_base, sizeof s->commits_base, 0) != (ssize_t)sizeof s->commits_base) {
        fprintf(stderr, "tresor: store: getrandom: %s\n", strerror(errno));
        return;
    }
    int fd = open(path, (writable ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        if (writable) fprintf(stderr, "tresor: store: open %s: %s\n", path, strerror(errno));
        return;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return;
    }
    s->commits_fd = fd;
}

/* The commit counter's value into *n: false when the file is short (cut
 * under us, or never written whole) or unreadable. */
static bool commits_read(const struct store_sqlite *s, uint64_t *n)
{
    ssize_t got = pread(s->commits_fd, n, sizeof *n, 0);
    return got == (ssize_t)sizeof *n;
}

/* After a commit of this process (or a rollback: a harmless extra read of
 * data_version by the readers): write a value no process wrote before
 * (the file comment), which also makes a file cut short whole again. */
static void commits_bump(struct store_sqlite *s)
{
    if (s->commits_fd < 0 || s->readonly) return;
    uint64_t v = s->commits_base + atomic_fetch_add_explicit(&s->commits_made, 1, memory_order_relaxed) + 1;
    if (pwrite(s->commits_fd, &v, sizeof v, 0) != (ssize_t)sizeof v) {
        /* The readers notice within REFRESH_BOUND_MS; say so once. */
        static atomic_bool said;
        if (!atomic_exchange(&said, true))
            fprintf(stderr, "tresor: store: write %s-gen: %s\n", s->name, strerror(errno));
    }
}

/* ---- transactions ------------------------------------------------------ */

/* Take the write gate, then BEGIN IMMEDIATE. */
static TR_RESULT tx_open(struct conn *c)
{
    if (c->link.writing) {
        fprintf(stderr, "tresor: store: tx_begin inside a transaction\n");
        BAIL0(TR_E_INTERNAL);
    }
    /* After a failed sync nothing more is written (group_sync.h). */
    ENSURE(!c->s->grouped || !gsync_broken(&c->s->gs), TR_E_STORE_IO);
    GUARD(gate_enter(&c->s->gate));
    tr_result r = q_simple(c, Q_BEGIN);
    if (tr_failed(r)) {
        gate_leave(&c->s->gate, 0);
        return r;
    }
    c->link.writing = true;
    c->link.touched = 0;
    return TR_OK;
}

/* The transaction is over (committed or rolled back): move the
 * counters of the domains it wrote in, and free the gate. */
static void tx_closed(struct conn *c)
{
    if (!c->link.writing) return;
    c->link.writing = false;
    commits_bump(c->s);
    gate_leave(&c->s->gate, c->link.touched);
    c->link.touched = 0;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* COMMIT.  When it fails with the transaction still open, the gate stays
 * held until tx_abort.  Grouped, the commit is numbered and written under
 * the gate, and then, the gate passed on to the next writer, waits for
 * the group sync that covers it: success means durable either way.  With
 * metrics on, the time from here to durable is one store commit
 * (core/metrics.h).  ticket non-NULL: grouped, the commit's number is
 * stored there instead of waiting (the caller waits without a thread,
 * sq_sync_notify; not timed); 0 when nothing is left to wait for. */
static TR_RESULT tx_close(struct conn *c, uint64_t *ticket)
{
    struct store_sqlite *s = c->s;
    uint64_t seq = 0;
    if (!c->link.writing) {
        fprintf(stderr, "tresor: store: tx_commit outside a transaction\n");
        BAIL0(TR_E_INTERNAL);
    }
    bool timed = metrics_enabled();
    int64_t t0 = timed ? mono_us() : 0;
    if (s->grouped) GUARD(gsync_begin(&s->gs, &seq));  /* still open: the caller rolls back */
    tr_result r = q_simple(c, Q_COMMIT);
    if (s->grouped) gsync_written(&s->gs, seq);
    if (sqlite3_get_autocommit(c->db)) tx_closed(c);
    if (tr_ok(r) && s->grouped && ticket) {
        *ticket = seq;                  /* the caller waits (sq_sync_notify) */
        return r;
    }
    if (tr_ok(r) && s->grouped) r = gsync_wait(&s->gs, seq);
    if (timed && tr_ok(r)) metrics_commit(mono_us() - t0);
    return r;
}

/* ROLLBACK; when even that fails, give up the connection. */
static void tx_abort(struct conn *c)
{
    if (conn_rollback(c)) tx_closed(c);
    else conn_discard(c);
}

/* A statement without rows, and a rollback, for the driver's read
 * transactions (store/sql_records.h). */
static TR_RESULT sq_exec(struct sql_conn *l, int id)
{
    return q_simple((struct conn *)(void *)l, id);
}

static void sq_abort(struct sql_conn *l)
{
    tx_abort((struct conn *)(void *)l);
}

/* See store.h.  The epoch is the store's own (store_new).  This
 * process's writers all pass the gate, which counts per domain each write
 * statement and each end of a transaction that wrote in it; a commit by
 * another connection is noticed by sq_refresh through PRAGMA data_version
 * (which changes when any other connection commits) and counted in
 * c->foreign, for every domain: what it changed is not known.  The sum
 * changes whenever either does.  No connection yet (or none to be had):
 * CACHE_GEN_NONE. */
static struct cache_gen sq_generation(store_t st, unsigned domains)
{
    if (!st) return CACHE_GEN_NONE;
    struct store_sqlite *s = self(st);
    uint64_t g = gate_count(&s->gate, domains);
    struct conn *c = pthread_getspecific(s->tls);
    if (!c) return CACHE_GEN_NONE;
    return (struct cache_gen){ s->epoch, g + (c->foreign << 32) };
}

/* See store.h and the file comment ("Other processes' commits"): read
 * data_version when the commit counter moved since this connection last
 * did, when REFRESH_BOUND_MS have passed, or always without a counter.
 * The counter is read before data_version, so a bump that comes later is
 * seen by the next call. */
static void sq_refresh(store_t st)
{
    struct conn *c = NULL;
    sqlite3_stmt *q = NULL;
    if (!st) return;
    struct store_sqlite *s = self(st);
    uint64_t n = 0;
    int64_t now = 0;
    bool whole = true;
    if (s->commits_fd >= 0) {
        whole = commits_read(s, &n);
        c = conn_peek(s);
        now = coarse_ms();
        if (whole && c && c->checked && n == c->commits_seen && now - c->checked_ms < REFRESH_BOUND_MS)
            return;
        /* Cut short: written whole again, and nothing cached trusted. */
        if (!whole) commits_bump(s);
    }
    if (tr_failed(prep(st, Q_DATA_VERSION, &c, &q))) return;
    int rc = sqlite3_step(q);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_reset(q);
    if (rc != SQLITE_ROW || v != c->data_version || !whole) {
        c->data_version = v;
        c->foreign++;
    }
    c->commits_seen = n;
    c->checked_ms = now;
    c->checked = rc == SQLITE_ROW;
}

static TR_RESULT sq_tx_begin(store_t st)
{
    struct conn *c = NULL;
    ENSURE_REF(st);
    /* SQLite would open the transaction and fail at the first write. */
    if (self(st)->readonly) {
        fprintf(stderr, "tresor: store: a write transaction on a store opened read-only\n");
        BAIL0(TR_E_STORE_READONLY);
    }
    GUARD(conn_get(self(st), &c));
    return tx_open(c);
}

static TR_RESULT sq_tx_commit(store_t st)
{
    struct conn *c = NULL;
    ENSURE_REF(st);
    GUARD(conn_get(self(st), &c));
    return tx_close(c, NULL);
}

static TR_RESULT sq_tx_commit_ticket(store_t st, uint64_t *ticket)
{
    struct conn *c = NULL;
    ENSURE_REF(st); ENSURE_REF(ticket);
    *ticket = 0;
    GUARD(conn_get(self(st), &c));
    return tx_close(c, ticket);
}

static int sq_sync_notify(store_t st, struct gsync_waiter *w)
{
    struct store_sqlite *s = self(st);
    if (!s->grouped || w->seq == 0) return 1;
    return gsync_notify(&s->gs, w);
}

static bool sq_sync_cancel(store_t st, struct gsync_waiter *w)
{
    struct store_sqlite *s = self(st);
    return s->grouped ? gsync_cancel(&s->gs, w) : true;
}

static void sq_tx_rollback(store_t st)
{
    if (!st) return;
    /* A thread without a connection has no transaction to roll back. */
    struct conn *c = conn_peek(self(st));
    if (c) tx_abort(c);
}

static TR_RESULT sq_sync_barrier(store_t st)
{
    ENSURE_REF(st);
    struct store_sqlite *s = self(st);
    if (!s->grouped) return TR_OK;
    return gsync_barrier(&s->gs);
}

/* ---- the database's own checks ------------------------------------------ */

static TR_RESULT user_version(struct conn *c, int *out);

/* Run a PRAGMA that answers rows of text columns; each row that is not the
 * single word "ok" goes to problem() as "<what>: col1 col2 ..." on one line
 * (integrity_check answers several lines in one row: joined with ';'). */
static TR_RESULT pragma_rows(struct conn *c, const char *sql, const char *what,
                             void (*problem)(void *arg, const char *text), void *arg,
                             size_t *rows)
{
    sqlite3_stmt *q = NULL;
    char line[512];
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &q, NULL);
    *rows = 0;
    if (rc != SQLITE_OK) return SQ_FAIL(c->db, rc, sql);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int ncol = sqlite3_column_count(q);
        const unsigned char *first = sqlite3_column_text(q, 0);
        if (ncol == 1 && first && strcmp((const char *)first, "ok") == 0) continue;
        size_t len = (size_t)snprintf(line, sizeof line, "%s:", what);
        for (int i = 0; i < ncol && len < sizeof line; i++) {
            const unsigned char *t = sqlite3_column_text(q, i);
            len += (size_t)snprintf(line + len, sizeof line - len, " %s",
                                    t ? (const char *)t : "-");
        }
        for (char *nl = strchr(line, '\n'); nl; nl = strchr(nl, '\n')) *nl = ';';
        (*rows)++;
        problem(arg, line);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) return SQ_FAIL(c->db, rc, sql);
    return TR_OK;
}

static TR_RESULT sq_self_check(store_t st, void (*problem)(void *arg, const char *text),
                               void *arg, int *schema_version)
{
    struct conn *c = NULL;
    size_t rows = 0;
    ENSURE_REF(st);
    ENSURE_REF(problem);
    ENSURE_REF(schema_version);
    GUARD(conn_get(self(st), &c));
    GUARD(user_version(c, schema_version));
    if (*schema_version < 0 || (size_t)*schema_version != store_schema_count) {
        char line[128];
        snprintf(line, sizeof line, "schema version %d, this build's is %zu", *schema_version, /* fits: 2 ints */
                 store_schema_count);
        problem(arg, line);
    }
    GUARD(pragma_rows(c, "PRAGMA integrity_check", "integrity_check", problem, arg, &rows));
    GUARD(pragma_rows(c, "PRAGMA foreign_key_check", "foreign_key_check", problem, arg, &rows));
    return pragma_rows(c, SQL_ORPHAN_MATERIALS, "kms_key_materials without a key", problem, arg,
                       &rows);
}

/* ---- open, migrate, close ---------------------------------------------- */

/* Close every connection and free s.  See the file comment on threads. */
static void sq_close(store_t st)
{
    if (!st) return;
    struct store_sqlite *s = self(st);
    /* No destructor runs for this key after this, in any thread. */
    pthread_key_delete(s->tls);
    sql_conns_close_all(&s->conns, conn_close_link);   /* the keeper, linked first, last */
    pthread_mutex_destroy(&s->conns.mu);
    gate_destroy(&s->gate);
    if (s->grouped) gsync_destroy(&s->gs);
    if (s->wal_fd >= 0) close(s->wal_fd);
    if (s->commits_fd >= 0) close(s->commits_fd);
    free(s);
}

/* Switch the database file to WAL (persistent in the file). */
static TR_RESULT set_wal(struct conn *c)
{
    sqlite3_stmt *q = NULL;
    bool wal = false;
    int rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &q, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const unsigned char *mode = sqlite3_column_text(q, 0);
        wal = mode && strcmp((const char *)mode, "wal") == 0;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_OK) return SQ_FAIL(c->db, rc, "PRAGMA journal_mode = WAL");
    if (!wal) {
        fprintf(stderr, "tresor: store: the database refuses WAL mode\n");
        BAIL0(TR_E_INTERNAL);
    }
    return TR_OK;
}

static TR_RESULT user_version(struct conn *c, int *out)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &q, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int(q, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_OK) return SQ_FAIL(c->db, rc, "PRAGMA user_version");
    return TR_OK;
}

/* Run the pending migrations, all in one transaction. */
static TR_RESULT migrate(struct conn *c)
{
    char *err = NULL;
    char sql[64];
    int version = 0, rc = SQLITE_OK;
    tr_result r = TR_OK;

    GUARD(q_simple(c, Q_BEGIN));
    r = user_version(c, &version);
    if (tr_failed(r)) goto fail;
    if (version < 0 || (size_t)version > store_schema_count) {
        fprintf(stderr, "tresor: store: database schema version %d is not one this "
                "build knows (1..%zu)\n", version, store_schema_count);
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        goto fail;
    }
    for (size_t v = (size_t)version; v < store_schema_count; v++) {
        snprintf(sql, sizeof sql, "PRAGMA user_version = %zu", v + 1);    /* fits: 21 + a size_t */
        rc = sqlite3_exec(c->db, store_schema[v], NULL, NULL, &err);
        if (rc == SQLITE_OK) rc = sqlite3_exec(c->db, sql, NULL, NULL, &err);
        if (rc != SQLITE_OK) {
            fprintf(stderr, "tresor: store: migration %zu failed: %s\n", v + 1,
                    err ? err : sqlite3_errstr(rc));
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
            goto fail;
        }
    }
    r = q_simple(c, Q_COMMIT);
    if (tr_failed(r)) goto fail;
    return TR_OK;

fail:
    sqlite3_free(err);
    (void)conn_rollback(c);     /* the store is closed next anyway */
    return r;
}

static const struct sql_driver sqlite_driver = {
    .get = sq_get, .list = sq_list, .write = sq_write, .conn = sq_conn, .peek = sq_peek,
    .exec = sq_exec, .abort = sq_abort, .close = sq_close, .generation = sq_generation,
    .refresh = sq_refresh, .tx_begin = sq_tx_begin, .tx_commit = sq_tx_commit,
    .tx_rollback = sq_tx_rollback, .sync_barrier = sq_sync_barrier, .self_check = sq_self_check,
    .tx_commit_ticket = sq_tx_commit_ticket, .sync_notify = sq_sync_notify,
    .sync_cancel = sq_sync_cancel, .pairs_apart = true,
};

/* The group sync of a file store: fdatasync of the -wal file (see the
 * file comment).  0 or an errno. */
static int wal_sync(void *arg)
{
    struct store_sqlite *s = arg;
    struct stat sb;
    if (fdatasync(s->wal_fd) != 0) return errno ? errno : EIO;
    if (fstat(s->wal_fd, &sb) != 0) return errno ? errno : EIO;
    /* Unlinked: not the file SQLite writes any more (it never is while a
     * connection of ours is open; fail rather than trust it). */
    if (sb.st_nlink == 0) return ESTALE;
    return 0;
}

/* Allocate a store for `name` (a file name, or a memdb URI) with its
 * mutex, write gate, thread key and (grouped) group sync; no connection
 * yet. */
static TR_RESULT store_new(const char *name, bool memory, bool grouped, struct store_sqlite **out)
{
    size_t len = strlen(name);
    struct store_sqlite *s = calloc(1, sizeof *s + len + 1);
    bool gate = false, mu = false, gs = false;

    ENSURE(s != NULL, TR_E_INTERNAL);
    memcpy(s->name, name, len + 1);
    s->base.vt = &sql_sqlite_class;
    s->base.drv = &sqlite_driver;
    s->memory = memory;
    s->wal_fd = -1;
    s->commits_fd = -1;
    s->epoch = cache_epoch_new();
    s->flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE |
               SQLITE_OPEN_EXRESCODE | (memory ? SQLITE_OPEN_URI | SQLITE_OPEN_CREATE : 0);
    gate = gate_init(&s->gate);
    if (!gate) goto fail;
    mu = pthread_mutex_init(&s->conns.mu, NULL) == 0;
    if (!mu) goto fail;
    if (grouped) {
        gs = gsync_init(&s->gs, wal_sync, s);
        if (!gs) goto fail;
    }
    if (pthread_key_create(&s->tls, conn_drop) != 0) goto fail;
    s->grouped = grouped;
    *out = s;
    return TR_OK;

fail:
    if (gs) gsync_destroy(&s->gs);
    if (mu) pthread_mutex_destroy(&s->conns.mu);
    if (gate) gate_destroy(&s->gate);
    free(s);
    BAIL0(TR_E_INTERNAL);
}

/* Exclusive (store_sqlite_open_exclusive): before the connection first
 * reads, so its first read takes SQLite's exclusive lock on the database
 * file and keeps it until the store closes; a lock another process holds
 * (a running server's connections keep a shared one) fails it. */
#define EXCLUSIVE_WAIT_MS 1000
static TR_RESULT lock_exclusive(struct conn *c)
{
    char *err = NULL;
    int rc = sqlite3_exec(c->db, "PRAGMA locking_mode = EXCLUSIVE", NULL, NULL, &err);
    sqlite3_free(err);
    if (rc != SQLITE_OK) return SQ_FAIL(c->db, rc, "PRAGMA locking_mode = EXCLUSIVE");
    /* A running server holds its shared lock for good: waiting the whole
     * busy timeout would only delay the refusal.  A second covers a
     * command that reads for a moment (tresor check). */
    (void)sqlite3_busy_timeout(c->db, EXCLUSIVE_WAIT_MS);
    rc = sqlite3_exec(c->db, "BEGIN EXCLUSIVE; COMMIT", NULL, NULL, &err);
    sqlite3_free(err);
    (void)sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    if (rc != SQLITE_OK) {
        rc = sqlite3_extended_errcode(c->db);
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        BAIL0(sq_code(rc));
    }
    return TR_OK;
}

/* Grouped: open the -wal file for the group sync and sync it once, so
 * that what the migrations committed (without a sync) is durable before
 * the store is used.  The keeper's read of the database in WAL mode has
 * created the file, and it stays while the keeper is open. */
static TR_RESULT open_wal(struct store_sqlite *s)
{
    char wal[PATH_MAX + 8];
    int n = snprintf(wal, sizeof wal, "%s-wal", s->name);
    ENSURE(n > 0 && (size_t)n < sizeof wal, TR_E_INTERNAL);
    s->wal_fd = open(wal, O_RDONLY | O_CLOEXEC);
    if (s->wal_fd < 0) {
        fprintf(stderr, "tresor: store: open %s: %s\n", wal, strerror(errno));
        BAIL0(TR_E_STORE_IO);
    }
    int e = wal_sync(s);
    if (e != 0) {
        fprintf(stderr, "tresor: store: sync %s: %s\n", wal, strerror(e));
        BAIL0(TR_E_STORE_IO);
    }
    return TR_OK;
}

/* Open the store, switch a file to WAL, run the migrations; exclusive:
 * under SQLite's exclusive lock first (lock_exclusive). */
static TR_RESULT open_store(const char *name, bool memory, bool grouped, bool exclusive, store_t *out)
{
    struct store_sqlite *s = NULL;
    GUARD(store_new(name, memory, grouped, &s));
    s->exclusive = exclusive;
    tr_result r = conn_open(s, &s->keeper);
    if (tr_ok(r) && exclusive) r = lock_exclusive(s->keeper);
    if (tr_ok(r) && !memory) r = set_wal(s->keeper);
    if (tr_ok(r)) r = migrate(s->keeper);
    if (tr_ok(r) && grouped) r = open_wal(s);
    if (tr_failed(r)) {
        sq_close(&s->base.vt);
        return r;
    }
    if (!memory) {
        commits_open(s, name, true);
        commits_bump(s);            /* the migrations, if any ran */
    }
    *out = &s->base.vt;
    return TR_OK;
}

static TR_RESULT open_file_store(const char *data_dir, enum store_commit commit, bool exclusive,
                                 store_t *out);

TR_RESULT store_sqlite_open(const char *data_dir, store_t *out)
{
    return store_sqlite_open_commit(data_dir, STORE_COMMIT_GROUP, out);
}

TR_RESULT store_sqlite_open_commit(const char *data_dir, enum store_commit commit, store_t *out)
{
    return open_file_store(data_dir, commit, false, out);
}

TR_RESULT store_sqlite_open_exclusive(const char *data_dir, store_t *out)
{
    return open_file_store(data_dir, STORE_COMMIT_EACH, true, out);
}

static TR_RESULT open_file_store(const char *data_dir, enum store_commit commit, bool exclusive,
                                 store_t *out)
{
    char path[PATH_MAX];
    struct stat sb;
    ENSURE_REF(data_dir);
    ENSURE_REF(out);
    *out = NULL;

    ENSURE(sqlite_db_path(data_dir, path), TR_E_INTERNAL);
    if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "tresor: store: mkdir %s: %s\n", data_dir, strerror(errno));
        BAIL0(TR_E_INTERNAL);
    }
    /* Create the file ourselves, 0600; SQLite copies its mode to -wal/-shm. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "tresor: store: open %s: %s\n", path, strerror(errno));
        BAIL0(TR_E_INTERNAL);
    }
    bool ok = fstat(fd, &sb) == 0 && ((sb.st_mode & 077) == 0 || fchmod(fd, 0600) == 0);
    int saved = errno;
    close(fd);
    if (!ok) {
        fprintf(stderr, "tresor: store: chmod 0600 %s: %s\n", path, strerror(saved));
        BAIL0(TR_E_INTERNAL);
    }
    /* The file's name is durable before anything is committed in it (SQLite
     * syncs the directory for the -wal it creates, not for this file). */
    int dfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return open_store(path, false, commit == STORE_COMMIT_GROUP, exclusive, out);
}

/* ---- read-only ------------------------------------------------------------ */

#define RO_FLAGS (SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE | \
                  SQLITE_OPEN_EXRESCODE | SQLITE_OPEN_URI)

/* Can a read-only connection read `uri`?  SQLite's result code. */
static int ro_probe(const char *uri)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(uri, &db, RO_FLAGS, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    if (rc != SQLITE_OK && db) rc = sqlite3_extended_errcode(db);
    sqlite3_close(db);
    return rc;
}

static TR_RESULT open_readonly_path(const char *path, bool saved, store_t *out);

TR_RESULT store_sqlite_open_readonly(const char *data_dir, store_t *out)
{
    char path[PATH_MAX];
    ENSURE_REF(data_dir);
    ENSURE_REF(out);
    *out = NULL;
    ENSURE(sqlite_db_path(data_dir, path), TR_E_INTERNAL);
    return open_readonly_path(path, false, out);
}

/* store_sqlite_open_readonly of the database file at path. */
/* saved: a file store_sqlite_save_file wrote (store_sqlite_open_file),
 * which nothing migrates: another schema fails with TR_E_STORE_CORRUPT and
 * a message saying which, not the data dir's advice on stderr. */
static TR_RESULT open_readonly_path(const char *path, bool saved, store_t *out)
{
    char uri[3 * PATH_MAX + 64];
    struct store_sqlite *s = NULL;
    int version = 0;
    tr_result r;
    if (!sqlite_file_exists(path, "")) {
        fprintf(stderr, "tresor: store: %s: %s\n", path, strerror(errno));
        BAIL0(TR_E_INTERNAL);
    }
    /* Neither -wal nor -shm: no connection has the database open (a
     * WAL-mode connection keeps both) and every commit is in the file --
     * a clean stop, a copy of a stopped data dir.  Read it as immutable:
     * no locks, no WAL, nothing created beside it.  Otherwise read it in
     * WAL mode, which needs the -shm file or a directory to create it in;
     * the file alone would be out of date, so failing that, refuse. */
    bool wal = sqlite_file_exists(path, "-wal"), shm = sqlite_file_exists(path, "-shm");
    GUARD(sqlite_file_uri(path, wal || shm ? "?mode=ro" : "?mode=ro&immutable=1", uri, sizeof uri));
    int rc = ro_probe(uri);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "tresor: store: %s cannot be read (%s)%s\n", path, sqlite3_errstr(rc),
                wal && !shm ? ": its -wal file holds transactions that are not in the database "
                              "file yet, and reading them needs the -shm file or a directory "
                              "it can be created in" : "");
        BAIL0(TR_E_INTERNAL);
    }
    GUARD(store_new(uri, false, false, &s));
    s->flags = RO_FLAGS;
    s->readonly = true;
    commits_open(s, path, false);
    r = conn_open(s, &s->keeper);
    if (tr_ok(r)) r = user_version(s->keeper, &version);
    if (tr_ok(r) && saved && (version < 0 || (size_t)version != store_schema_count)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_CORRUPT, STORE_SCHEMA_OTHER " %d, this build's is %zu",
                       version, store_schema_count);
    } else if (tr_ok(r) && (version < 0 || (size_t)version != store_schema_count)) {
        fprintf(stderr, "tresor: store: database schema version %d is not this build's (%zu)%s\n",
                version, store_schema_count,
                version >= 0 && (size_t)version < store_schema_count
                ? ": a read-only open cannot migrate it (start tresor serve on it once, or use "
                  "the tresor that wrote it)" : "");
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    if (tr_failed(r)) {
        sq_close(&s->base.vt);
        return r;
    }
    *out = &s->base.vt;
    return TR_OK;
}

/* The notes of a saved store (store_sqlite_save_file). */
#define NOTE_TABLE "tresor_saved_note"

/* Copy the database of connection src into the new file tmp, page for
 * page (the backup API: rowids and the order of rows as they are, where
 * VACUUM would renumber them), then write the notes there. */
static TR_RESULT copy_with_notes(sqlite3 *src, const char *tmp, const char *const *keys, const char *const *vals,
                                 size_t n)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    tr_result r = TR_OK;
    int rc = sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_EXRESCODE, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_backup *bk = sqlite3_backup_init(db, "main", src, "main");
        if (!bk) {
            rc = sqlite3_errcode(db);
        } else {
            rc = sqlite3_backup_step(bk, -1);
            int fin = sqlite3_backup_finish(bk);
            rc = rc == SQLITE_DONE ? fin : rc == SQLITE_OK ? SQLITE_ERROR : rc;
        }
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "PRAGMA journal_mode = DELETE; PRAGMA synchronous = FULL; BEGIN; "
                          "CREATE TABLE " NOTE_TABLE " (k TEXT PRIMARY KEY, v TEXT NOT NULL)", NULL, NULL, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, "INSERT INTO " NOTE_TABLE " VALUES (?1, ?2)", -1, &q, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
        rc = sqlite3_bind_text(q, 1, keys[i], -1, SQLITE_STATIC);
        if (rc == SQLITE_OK) rc = sqlite3_bind_text(q, 2, vals[i], -1, SQLITE_STATIC);
        if (rc == SQLITE_OK) rc = sqlite3_step(q);
        if (rc == SQLITE_DONE) rc = sqlite3_reset(q);
    }
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) r = SQ_FAIL(db, rc, "the saved store");
    sqlite3_finalize(q);
    rc = sqlite3_close(db);
    if (tr_ok(r) && rc != SQLITE_OK) r = SQ_FAIL(NULL, rc, "close");
    return r;
}

TR_RESULT store_sqlite_save_file(store_t st, const char *path, const char *const *keys, const char *const *vals,
                                 size_t n)
{
    char tmp[PATH_MAX];
    struct conn *c = NULL;
    ENSURE_REF(st);
    ENSURE_REF(path);
    GUARD(str_format(tmp, sizeof tmp, "the saved store's file name", "%s.tmp", path));
    /* An empty file of ours, 0600, for the copy. */
    (void)unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "tresor: store: create %s: %s\n", tmp, strerror(errno));
        BAIL0(TR_E_STORE_IO);
    }
    close(fd);
    tr_result r = conn_get(self(st), &c);
    if (tr_ok(r)) r = copy_with_notes(c->db, tmp, keys, vals, n);
    if (tr_ok(r) && rename(tmp, path) != 0) {
        fprintf(stderr, "tresor: store: rename %s to %s: %s\n", tmp, path, strerror(errno));
        r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_IO, NULL);
    }
    if (tr_failed(r)) (void)unlink(tmp);
    return r;
}

TR_RESULT store_sqlite_open_file(const char *path, store_t *out)
{
    ENSURE_REF(path);
    ENSURE_REF(out);
    *out = NULL;
    return open_readonly_path(path, true, out);
}

TR_RESULT store_sqlite_note(store_t st, const char *key, char **out)
{
    struct conn *c = NULL;
    sqlite3_stmt *q = NULL;
    ENSURE_REF(st);
    ENSURE_REF(out);
    *out = NULL;
    GUARD(conn_get(self(st), &c));
    int rc = sqlite3_prepare_v2(c->db, "SELECT v FROM " NOTE_TABLE " WHERE k = ?1", -1, &q, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) rc = sqlite3_step(q);
    const unsigned char *v = rc == SQLITE_ROW ? sqlite3_column_text(q, 0) : NULL;
    if (v) *out = strdup((const char *)v);
    sqlite3_finalize(q);
    if (rc == SQLITE_ROW && !*out) BAIL0(TR_E_INTERNAL);
    /* No such table (another store) or no such note. */
    if (rc != SQLITE_ROW) BAIL0(TR_E_STORE_NOT_FOUND);
    return TR_OK;
}

TR_RESULT store_sqlite_open_memory(store_t *out)
{
    static atomic_ulong seq;
    char uri[64];
    ENSURE_REF(out);
    *out = NULL;
    /* memdb shares a database among the connections that name it with a
     * leading "/"; it lives until the last of them closes (the keeper). */
    snprintf(uri, sizeof uri, "file:/tresor-mem-%lu?vfs=memdb",     /* fits: 30 + a long */
             atomic_fetch_add(&seq, 1) + 1);
    return open_store(uri, true, false, false, out);
}
