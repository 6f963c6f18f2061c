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
 * Strings given to the put/update calls may be NULL, stored as "", except
 * where store.h gives a default: an access key's doc (NULL stays NULL), an
 * entity's path ("/") and doc ("{}").  The fixed-size char arrays of the
 * records are read with strnlen(sizeof), and a stored value too long for
 * its array fails as TR_E_INTERNAL on read.
 */
#include "store/sqlite_uri.h"
#include "store/store.h"
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/array.h"
#include "core/date.h"
#include "core/hex.h"
#include "core/metrics.h"

#define BUSY_TIMEOUT_MS 5000

/* ---- the statements, prepared once per connection -------------------- */

#define ACCOUNT_COLS "id, created"
#define AK_COLS "access_key_id, account_id, principal_type, principal_arn, " \
    "principal_id, active, created, expires, wrapped_secret, doc"
#define KEY_COLS "key_id, account_id, region, arn, description, policy, " \
    "key_state, key_usage, key_spec, origin, key_manager, created, " \
    "deletion_date, pending_window_days, rotation_enabled, " \
    "rotation_period_days, next_rotation, current_material, policy_ids"
#define MAT_COLS "key_id, version, created, rotation_type, wrapped"
#define ALIAS_COLS "account_id, region, name, target_key_id, created, updated"
#define ENT_COLS "kind, account_id, name, id, arn, path, doc, created"
#define REL_COLS "kind, src, dst, doc, created"
/* A tombstone from an access_keys row: the token digest of a session's doc
 * (a doc that is not JSON has none), removed now (real time: only pruning
 * and the operator read it). */
#define TOMB_COLS "access_key_id, account_id, expires, token_sha256, removed"
#define TOMB_FROM "access_key_id, account_id, expires, " \
    "CASE WHEN json_valid(doc) THEN json_extract(doc, '$.token_sha256') END, " \
    "CAST(strftime('%s', 'now') AS INTEGER)"

#define STATEMENTS(X) \
    X(Q_BEGIN, "BEGIN IMMEDIATE") \
    X(Q_BEGIN_READ, "BEGIN DEFERRED") \
    X(Q_COMMIT, "COMMIT") \
    X(Q_ROLLBACK, "ROLLBACK") \
    X(Q_ACCOUNT_PUT, "INSERT INTO accounts (" ACCOUNT_COLS ") VALUES (?1, ?2)") \
    X(Q_ACCOUNT_GET, "SELECT " ACCOUNT_COLS " FROM accounts WHERE id = ?1") \
    X(Q_ACCOUNT_FIRST, "SELECT " ACCOUNT_COLS " FROM accounts " \
      "ORDER BY created, rowid LIMIT 1") \
    X(Q_ACCOUNT_LIST, "SELECT " ACCOUNT_COLS " FROM accounts ORDER BY created, rowid") \
    X(Q_AK_PUT, "INSERT INTO access_keys (" AK_COLS ") " \
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)") \
    X(Q_AK_GET, "SELECT " AK_COLS " FROM access_keys WHERE access_key_id = ?1") \
    X(Q_AK_LIST, "SELECT " AK_COLS " FROM access_keys WHERE principal_arn = ?1 " \
      "ORDER BY created, access_key_id") \
    X(Q_AK_LIST_ALL, "SELECT " AK_COLS " FROM access_keys WHERE access_key_id > ?1 " \
      "ORDER BY access_key_id LIMIT ?2") \
    X(Q_AK_UPDATE, "UPDATE access_keys SET active = ?2, expires = ?3, doc = ?4 " \
      "WHERE access_key_id = ?1") \
    X(Q_AK_REWRAP, "UPDATE access_keys SET wrapped_secret = ?2 WHERE access_key_id = ?1") \
    X(Q_AK_DEL, "DELETE FROM access_keys WHERE access_key_id = ?1") \
    X(Q_AK_PURGE, "DELETE FROM access_keys WHERE expires <> 0 AND expires < ?1") \
    X(Q_AK_TOMB, "INSERT OR REPLACE INTO access_key_tombstones (" TOMB_COLS ") SELECT " TOMB_FROM \
      " FROM access_keys WHERE access_key_id = ?1") \
    X(Q_AK_TOMB_EXPIRED, "INSERT OR REPLACE INTO access_key_tombstones (" TOMB_COLS ") SELECT " \
      TOMB_FROM " FROM access_keys WHERE expires <> 0 AND expires < ?1") \
    X(Q_AK_TOMB_PRUNE, "DELETE FROM access_key_tombstones WHERE expires <> 0 AND expires < ?1") \
    X(Q_AK_UNTOMB, "DELETE FROM access_key_tombstones WHERE access_key_id = ?1") \
    X(Q_AK_TOMB_GET, "SELECT expires, token_sha256 FROM access_key_tombstones " \
      "WHERE access_key_id = ?1") \
    X(Q_KEY_PUT, "INSERT INTO kms_keys (" KEY_COLS ") VALUES (?1, ?2, ?3, ?4, " \
      "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)") \
    X(Q_KEY_UPDATE, "UPDATE kms_keys SET account_id = ?2, region = ?3, " \
      "arn = ?4, description = ?5, policy = ?6, key_state = ?7, " \
      "key_usage = ?8, key_spec = ?9, origin = ?10, key_manager = ?11, " \
      "created = ?12, deletion_date = ?13, pending_window_days = ?14, " \
      "rotation_enabled = ?15, rotation_period_days = ?16, " \
      "next_rotation = ?17, current_material = ?18, policy_ids = ?19 WHERE key_id = ?1") \
    X(Q_KEY_GET, "SELECT " KEY_COLS " FROM kms_keys WHERE key_id = ?1") \
    X(Q_KEY_LIST, "SELECT " KEY_COLS " FROM kms_keys WHERE account_id = ?1 " \
      "AND region = ?2 AND key_id > ?3 ORDER BY key_id LIMIT ?4") \
    X(Q_KEY_LIST_ALL, "SELECT " KEY_COLS " FROM kms_keys WHERE key_id > ?1 " \
      "ORDER BY key_id LIMIT ?2") \
    X(Q_KEY_DUE, "SELECT " KEY_COLS " FROM kms_keys " \
      "WHERE (deletion_date > 0 AND deletion_date <= ?1) " \
      "OR (next_rotation > 0 AND next_rotation <= ?1) ORDER BY key_id") \
    X(Q_KEY_DEL_TAGS, "DELETE FROM tags " \
      "WHERE arn = (SELECT arn FROM kms_keys WHERE key_id = ?1)") \
    X(Q_KEY_DEL_MATERIALS, "DELETE FROM kms_key_materials WHERE key_id = ?1") \
    X(Q_KEY_DEL_ALIASES, "DELETE FROM kms_aliases WHERE target_key_id = ?1") \
    X(Q_KEY_DEL, "DELETE FROM kms_keys WHERE key_id = ?1") \
    X(Q_MAT_PUT, "INSERT INTO kms_key_materials (" MAT_COLS ") " \
      "VALUES (?1, ?2, ?3, ?4, ?5)") \
    X(Q_MAT_GET, "SELECT " MAT_COLS " FROM kms_key_materials " \
      "WHERE key_id = ?1 AND version = ?2") \
    X(Q_MAT_LIST, "SELECT " MAT_COLS " FROM kms_key_materials " \
      "WHERE key_id = ?1 ORDER BY version") \
    X(Q_MAT_REWRAP, "UPDATE kms_key_materials SET wrapped = ?3 " \
      "WHERE key_id = ?1 AND version = ?2") \
    X(Q_ALIAS_PUT, "INSERT INTO kms_aliases (" ALIAS_COLS ") " \
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)") \
    X(Q_ALIAS_UPDATE, "UPDATE kms_aliases SET target_key_id = ?4, " \
      "updated = ?5 WHERE account_id = ?1 AND region = ?2 AND name = ?3") \
    X(Q_ALIAS_GET, "SELECT " ALIAS_COLS " FROM kms_aliases " \
      "WHERE account_id = ?1 AND region = ?2 AND name = ?3") \
    X(Q_ALIAS_DEL, "DELETE FROM kms_aliases " \
      "WHERE account_id = ?1 AND region = ?2 AND name = ?3") \
    X(Q_ALIAS_LIST, "SELECT " ALIAS_COLS " FROM kms_aliases " \
      "WHERE account_id = ?1 AND region = ?2 AND name > ?3 " \
      "ORDER BY name LIMIT ?4") \
    X(Q_ALIAS_LIST_KEY, "SELECT " ALIAS_COLS " FROM kms_aliases " \
      "WHERE account_id = ?1 AND region = ?2 AND name > ?3 " \
      "AND target_key_id = ?5 ORDER BY name LIMIT ?4") \
    X(Q_TAG_SET, "INSERT INTO tags (arn, key, value) VALUES (?1, ?2, ?3) " \
      "ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value") \
    X(Q_TAG_DEL, "DELETE FROM tags WHERE arn = ?1 AND key = ?2") \
    X(Q_TAG_LIST, "SELECT key, value FROM tags WHERE arn = ?1 ORDER BY key") \
    X(Q_ENT_PUT, "INSERT INTO entities (" ENT_COLS ") " \
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)") \
    X(Q_ENT_UPDATE, "UPDATE entities SET name = ?3, path = ?4, doc = ?5 " \
      "WHERE kind = ?1 AND arn = ?2") \
    X(Q_ENT_GET, "SELECT " ENT_COLS " FROM entities " \
      "WHERE kind = ?1 AND account_id = ?2 AND name = ?3") \
    X(Q_ENT_GET_ARN, "SELECT " ENT_COLS " FROM entities WHERE kind = ?1 AND arn = ?2") \
    X(Q_ENT_GET_ID, "SELECT " ENT_COLS " FROM entities WHERE kind = ?1 AND id = ?2") \
    X(Q_ENT_DEL, "DELETE FROM entities WHERE kind = ?1 AND arn = ?2") \
    X(Q_ENT_LIST, "SELECT " ENT_COLS " FROM entities " \
      "WHERE kind = ?1 AND account_id = ?2 AND substr(path, 1, length(?3)) = ?3 " \
      "AND name > ?4 ORDER BY name LIMIT ?5") \
    X(Q_REL_PUT, "INSERT INTO relations (" REL_COLS ") VALUES (?1, ?2, ?3, ?4, ?5) " \
      "ON CONFLICT (kind, src, dst) DO UPDATE SET doc = excluded.doc, " \
      "created = excluded.created") \
    X(Q_REL_GET, "SELECT " REL_COLS " FROM relations " \
      "WHERE kind = ?1 AND src = ?2 AND dst = ?3") \
    X(Q_REL_DEL, "DELETE FROM relations WHERE kind = ?1 AND src = ?2 AND dst = ?3") \
    /* One member of the doc, read or set by SQLite's JSON functions (the \
     * member name is checked by the caller: [a-z_]). */                   \
    X(Q_REL_MEMBER_GET, "SELECT kind, src, dst, coalesce(doc -> ('$.' || ?4), 'null'), created " \
      "FROM relations WHERE kind = ?1 AND src = ?2 AND dst = ?3") \
    X(Q_REL_MEMBER_SET, "UPDATE relations SET doc = json_set(doc, '$.' || ?4, json(?5)) " \
      "WHERE kind = ?1 AND src = ?2 AND dst = ?3") \
    X(Q_REL_LIST_FROM, "SELECT " REL_COLS " FROM relations " \
      "WHERE kind = ?1 AND src = ?2 AND dst > ?3 ORDER BY dst LIMIT ?4") \
    /* Without statistics SQLite prefers walking the primary key (kind,   \
     * src, dst) over all rows of the kind, for the ORDER BY: a user's     \
     * groups would cost a scan of every membership.  The index answers it \
     * in order. */                                                         \
    X(Q_REL_LIST_TO, "SELECT " REL_COLS " FROM relations INDEXED BY relations_by_dst " \
      "WHERE kind = ?1 AND dst = ?2 ORDER BY src") \
    X(Q_REL_LIST_KIND, "SELECT " REL_COLS " FROM relations " \
      "WHERE kind = ?1 AND (src > ?2 OR (src = ?2 AND dst > ?3)) ORDER BY src, dst LIMIT ?4") \
    X(Q_DATA_VERSION, "PRAGMA data_version")

enum qid {
#define X(id, sql) id,
    STATEMENTS(X)
#undef X
    Q__COUNT
};

static const char *const qsql[Q__COUNT] = {
#define X(id, sql) [id] = sql,
    STATEMENTS(X)
#undef X
};

/* ---- the write gate ---------------------------------------------------- */

/* A FIFO lock: the holder hands it straight to the oldest waiter. */
struct gate_waiter { struct gate_waiter *next; bool granted; };

struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;              /* CLOCK_MONOTONIC */
    bool held;
    struct gate_waiter *head, **tail;
    atomic_uint_fast64_t gen;       /* +1 when the gate is taken and when it is left */
};

static bool gate_init(struct gate *g)
{
    pthread_condattr_t ca;
    bool ok = false;
    if (pthread_condattr_init(&ca) != 0) return false;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
        pthread_cond_init(&g->cv, &ca) == 0) {
        if (pthread_mutex_init(&g->mu, NULL) == 0) ok = true;
        else pthread_cond_destroy(&g->cv);
    }
    pthread_condattr_destroy(&ca);
    g->held = false;
    g->head = NULL;
    g->tail = &g->head;
    return ok;
}

static void gate_destroy(struct gate *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

/* Wait (up to BUSY_TIMEOUT_MS) for the gate. */
static TR_RESULT gate_enter(struct gate *g)
{
    struct gate_waiter w = { NULL, false };
    struct timespec dl;
    date_deadline(CLOCK_MONOTONIC, BUSY_TIMEOUT_MS, &dl);

    pthread_mutex_lock(&g->mu);
    if (!g->held && !g->head) {
        g->held = true;
        pthread_mutex_unlock(&g->mu);
        atomic_fetch_add_explicit(&g->gen, 1, memory_order_release);
        return TR_OK;
    }
    *g->tail = &w;
    g->tail = &w.next;
    while (!w.granted) {
        if (pthread_cond_timedwait(&g->cv, &g->mu, &dl) == ETIMEDOUT && !w.granted) {
            struct gate_waiter **pp = &g->head;
            while (*pp != &w) pp = &(*pp)->next;
            *pp = w.next;
            if (!w.next) g->tail = pp;
            pthread_mutex_unlock(&g->mu);
            fprintf(stderr, "tresor: store: no write lock after %d ms\n", BUSY_TIMEOUT_MS);
            BAIL0(TR_E_STORE_BUSY);
        }
    }
    pthread_mutex_unlock(&g->mu);
    atomic_fetch_add_explicit(&g->gen, 1, memory_order_release);
    return TR_OK;
}

static void gate_leave(struct gate *g)
{
    atomic_fetch_add_explicit(&g->gen, 1, memory_order_release);
    pthread_mutex_lock(&g->mu);
    struct gate_waiter *w = g->head;
    if (w) {
        g->head = w->next;
        if (!g->head) g->tail = &g->head;
        w->granted = true;          /* held passes to w */
        pthread_cond_broadcast(&g->cv);
    } else {
        g->held = false;
    }
    pthread_mutex_unlock(&g->mu);
}

/* ---- connections ------------------------------------------------------ */

struct store_sqlite;

struct conn {
    struct conn *next, *prev;       /* on store_sqlite.conns, under mu */
    struct store_sqlite *s;
    sqlite3 *db;
    bool writing;                   /* holds s->gate: tx_begin .. commit/rollback */
    bool reading;                   /* inside read_begin .. read_end */
    int64_t data_version;           /* PRAGMA data_version as last read */
    uint64_t foreign;               /* times it changed: another process wrote */
    sqlite3_stmt *q[Q__COUNT];      /* prepared on first use */
};

struct store_sqlite {
    const struct store_class *vt;   /* first: store_t points here */
    pthread_mutex_t mu;             /* guards conns */
    struct conn *conns;             /* every open connection */
    pthread_key_t tls;              /* this thread's connection */
    struct conn *keeper;            /* migrates; keeps a memory db alive */
    struct gate gate;               /* queue of this process's writers */
    struct group_sync gs;           /* group commit (grouped only) */
    bool grouped;                   /* commits wait for a group sync of the -wal */
    int wal_fd;                     /* the -wal file, for the group sync; -1 */
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

static void conn_unlink(struct store_sqlite *s, struct conn *c)
{
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

/* Finalize the cached statements and close; rolls back an open
 * transaction.  The caller has unlinked c. */
static void conn_close(struct conn *c)
{
    for (size_t i = 0; i < Q__COUNT; i++) sqlite3_finalize(c->q[i]);
    int rc = sqlite3_close(c->db);
    if (rc != SQLITE_OK) sq_log(c->db, rc, "close");
    free(c);
}

/* Unlink and close c, and free the write gate if c held it: as the
 * pthread_key_t destructor when the thread that owned c exits, and by
 * conn_discard. */
static void conn_drop(void *p)
{
    struct conn *c = p;
    struct store_sqlite *s = c->s;
    bool writing = c->writing;
    pthread_mutex_lock(&s->mu);
    conn_unlink(s, c);
    pthread_mutex_unlock(&s->mu);
    conn_close(c);                  /* rolls back an open transaction */
    if (writing) gate_leave(&s->gate);
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

    pthread_mutex_lock(&s->mu);
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    pthread_mutex_unlock(&s->mu);
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
        *out = s->keeper;
        return TR_OK;
    }
    struct conn *c = pthread_getspecific(s->tls);
    if (!c) {
        GUARD(conn_open(s, &c));
        if (pthread_setspecific(s->tls, c) != 0) {
            pthread_mutex_lock(&s->mu);
            conn_unlink(s, c);
            pthread_mutex_unlock(&s->mu);
            conn_close(c);
            BAIL0(TR_E_INTERNAL);
        }
    }
    *out = c;
    return TR_OK;
}

/* c's statement `id`, prepared on first use: SQLite's result code. */
static int stmt(struct conn *c, enum qid id)
{
    if (c->q[id]) return SQLITE_OK;
    return sqlite3_prepare_v3(c->db, qsql[id], -1, SQLITE_PREPARE_PERSISTENT, &c->q[id], NULL);
}

/* The calling thread's connection and its prepared statement `id`. */
static TR_RESULT prep(store_t st, enum qid id, struct conn **cp, sqlite3_stmt **qp)
{
    struct conn *c = NULL;
    ENSURE_REF(st);
    GUARD(conn_get(self(st), &c));
    int rc = stmt(c, id);
    if (rc != SQLITE_OK) return SQ_FAIL(c->db, rc, qsql[id]);
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

/* ---- parameters, bound in order ?1, ?2, ... ------------------------------ */

/*
 * The parameters of a statement are a list of struct arg, written where
 * the statement runs with the constructors below (ARGS() makes the list):
 *   TEXT(s)   a string; NULL binds ""
 *   NEED(s)   a string the call cannot do without: NULL fails the call
 *             with TR_E_INTERNAL before anything is read or written
 *   OPT(s)    a string; NULL binds SQL NULL
 *   CHARS(a)  a fixed char array of a record, which may lack its NUL when full
 *   INT(v)    an integer;  LIMIT(v) a size_t row limit, capped at INT64_MAX
 *   BLOB(p)   the bytes of the struct buf *p (an empty blob, never NULL)
 * Strings and blobs are bound SQLITE_STATIC: the caller's memory, until
 * the statement is released (q_release) before the call returns.
 */
enum arg_kind { ARG_TEXT, ARG_NEED, ARG_OPT, ARG_INT, ARG_BLOB };

struct arg {
    enum arg_kind kind;
    const char *s;              /* TEXT, NEED, OPT */
    size_t n;                   /* their length; SIZE_MAX: strlen(s) */
    int64_t i;                  /* INT */
    const struct buf *b;        /* BLOB */
};

#define TEXT(x)   ((struct arg){ .kind = ARG_TEXT, .s = (x), .n = SIZE_MAX })
#define NEED(x)   ((struct arg){ .kind = ARG_NEED, .s = (x), .n = SIZE_MAX })
#define OPT(x)    ((struct arg){ .kind = ARG_OPT, .s = (x), .n = SIZE_MAX })
#define CHARS(a)  ((struct arg){ .kind = ARG_TEXT, .s = (a), .n = strnlen((a), sizeof (a)) })
#define INT(v)    ((struct arg){ .kind = ARG_INT, .i = (int64_t)(v) })
#define LIMIT(v)  INT((v) > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)(v))
#define BLOB(p)   ((struct arg){ .kind = ARG_BLOB, .b = (p) })
/* A list of parameters, as the two arguments (array, count) the run_*
 * calls take. */
#define ARGS(...) (const struct arg[]){ __VA_ARGS__ }, \
                  sizeof (const struct arg[]){ __VA_ARGS__ } / sizeof (struct arg)
#define NO_ARGS   NULL, 0

/* TR_E_INTERNAL when a NEED parameter is NULL (a caller's bug). */
static TR_RESULT args_check(const struct arg *a, size_t n)
{
    for (size_t i = 0; i < n; i++) ENSURE(a[i].kind != ARG_NEED || a[i].s != NULL, TR_E_INTERNAL);
    return TR_OK;
}

static int bind_text(sqlite3_stmt *q, int at, const char *s, size_t n)
{
    size_t len = !s ? 0 : n == SIZE_MAX ? strlen(s) : n;
    if (len > INT_MAX) return SQLITE_TOOBIG;
    return sqlite3_bind_text(q, at, s ? s : "", (int)len, SQLITE_STATIC);
}

/* Bind a[0..n) to ?1..?n: SQLite's result code. */
static int args_bind(sqlite3_stmt *q, const struct arg *a, size_t n)
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
            rc = a[i].kind == ARG_OPT && !a[i].s ? sqlite3_bind_null(q, at)
                                                 : bind_text(q, at, a[i].s, a[i].n);
            break;
        }
    }
    return rc;
}

/* ---- reading a row, column by column ----------------------------------- */

struct row { sqlite3_stmt *q; int i; bool ok; };

/* Into a fixed char array; fails when the value does not fit. */
static void r_chars(struct row *r, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(r->q, r->i);
    size_t n = (size_t)sqlite3_column_bytes(r->q, r->i);
    r->i++;
    if (!t || n >= cap) { r->ok = false; return; }
    memcpy(dst, t, n);
    dst[n] = '\0';
}

/* A heap string the record owns. */
static void r_str(struct row *r, char **dst)
{
    const unsigned char *t = sqlite3_column_text(r->q, r->i);
    size_t n = (size_t)sqlite3_column_bytes(r->q, r->i);
    r->i++;
    char *p = t ? malloc(n + 1) : NULL;
    if (!p) { r->ok = false; return; }
    memcpy(p, t, n);
    p[n] = '\0';
    *dst = p;
}

/* A heap string, or NULL for SQL NULL. */
static void r_opt(struct row *r, char **dst)
{
    if (sqlite3_column_type(r->q, r->i) == SQLITE_NULL) {
        r->i++;
        *dst = NULL;
        return;
    }
    r_str(r, dst);
}

static int64_t r_int(struct row *r)
{
    return sqlite3_column_int64(r->q, r->i++);
}

/* An owned copy of a blob column (wiped when freed). */
static void r_blob(struct row *r, struct buf *dst)
{
    const void *p = sqlite3_column_blob(r->q, r->i);
    int n = sqlite3_column_bytes(r->q, r->i);
    r->i++;
    *dst = BUF_SECRET((uint32_t)n);
    if (n > 0 && (!p || tr_failed(buf_append(dst, p, (size_t)n)))) r->ok = false;
}

/* Fill one record from the current row; false when out of memory or a
 * value does not fit (the record may be partly filled: drop it). */
typedef bool (*row_fn)(sqlite3_stmt *q, void *rec);
typedef void (*drop_fn)(void *rec);

static bool account_row(sqlite3_stmt *q, void *rec)
{
    struct account_rec *a = rec;
    struct row r = { q, 0, true };
    r_chars(&r, a->id, sizeof a->id);
    a->created = r_int(&r);
    return r.ok;
}

static bool access_key_row(sqlite3_stmt *q, void *rec)
{
    struct access_key_rec *k = rec;
    struct row r = { q, 0, true };
    r_chars(&r, k->access_key_id, sizeof k->access_key_id);
    r_chars(&r, k->account_id, sizeof k->account_id);
    k->principal_type = (int)r_int(&r);
    r_str(&r, &k->principal_arn);
    r_str(&r, &k->principal_id);
    k->active = r_int(&r) != 0;
    k->created = r_int(&r);
    k->expires = r_int(&r);
    r_blob(&r, &k->wrapped_secret);
    r_opt(&r, &k->doc);
    return r.ok;
}

static bool key_row(sqlite3_stmt *q, void *rec)
{
    struct key_rec *k = rec;
    struct row r = { q, 0, true };
    r_chars(&r, k->key_id, sizeof k->key_id);
    r_chars(&r, k->account_id, sizeof k->account_id);
    r_chars(&r, k->region, sizeof k->region);
    r_str(&r, &k->arn);
    r_str(&r, &k->description);
    r_str(&r, &k->policy);
    r_chars(&r, k->key_state, sizeof k->key_state);
    r_chars(&r, k->key_usage, sizeof k->key_usage);
    r_chars(&r, k->key_spec, sizeof k->key_spec);
    r_chars(&r, k->origin, sizeof k->origin);
    r_chars(&r, k->key_manager, sizeof k->key_manager);
    k->created = r_int(&r);
    k->deletion_date = r_int(&r);
    k->pending_window_days = (int)r_int(&r);
    k->rotation_enabled = r_int(&r) != 0;
    k->rotation_period_days = (int)r_int(&r);
    k->next_rotation = r_int(&r);
    k->current_material = (uint32_t)r_int(&r);
    r_opt(&r, &k->policy_ids);
    return r.ok;
}

static bool material_row(sqlite3_stmt *q, void *rec)
{
    struct material_rec *m = rec;
    struct row r = { q, 0, true };
    r_chars(&r, m->key_id, sizeof m->key_id);
    m->version = (uint32_t)r_int(&r);
    m->created = r_int(&r);
    r_chars(&r, m->rotation_type, sizeof m->rotation_type);
    r_blob(&r, &m->wrapped);
    return r.ok;
}

static bool alias_row(sqlite3_stmt *q, void *rec)
{
    struct alias_rec *a = rec;
    struct row r = { q, 0, true };
    r_chars(&r, a->account_id, sizeof a->account_id);
    r_chars(&r, a->region, sizeof a->region);
    r_chars(&r, a->name, sizeof a->name);
    r_chars(&r, a->target_key_id, sizeof a->target_key_id);
    a->created = r_int(&r);
    a->updated = r_int(&r);
    return r.ok;
}

static bool tag_row(sqlite3_stmt *q, void *rec)
{
    struct tag_rec *t = rec;
    struct row r = { q, 0, true };
    r_str(&r, &t->key);
    r_str(&r, &t->value);
    return r.ok;
}

static bool ent_row(sqlite3_stmt *q, void *rec)
{
    struct ent_rec *e = rec;
    struct row r = { q, 0, true };
    r_chars(&r, e->kind, sizeof e->kind);
    r_chars(&r, e->account_id, sizeof e->account_id);
    r_str(&r, &e->name);
    r_str(&r, &e->id);
    r_str(&r, &e->arn);
    r_str(&r, &e->path);
    r_str(&r, &e->doc);
    e->created = r_int(&r);
    return r.ok;
}

static bool rel_row(sqlite3_stmt *q, void *rec)
{
    struct rel_rec *l = rec;
    struct row r = { q, 0, true };
    r_chars(&r, l->kind, sizeof l->kind);
    r_str(&r, &l->from);
    r_str(&r, &l->to);
    r_str(&r, &l->doc);
    l->created = r_int(&r);
    return r.ok;
}

static void drop_nothing(void *rec) { (void)rec; }
static void drop_ent(void *rec) { ent_rec_free(rec); }
static void drop_rel(void *rec) { rel_rec_free(rec); }
static void drop_access_key(void *rec) { access_key_rec_free(rec); }
static void drop_key(void *rec) { key_rec_free(rec); }
static void drop_material(void *rec) { material_rec_free(rec); }
static void drop_tag(void *rec) { tag_rec_free(rec); }

/* What a statement's rows fill: records of `size` bytes. */
struct rec_type { size_t size; row_fn fill; drop_fn drop; };

static const struct rec_type ACCOUNT = { sizeof (struct account_rec), account_row, drop_nothing };
static const struct rec_type ACCESS_KEY = { sizeof (struct access_key_rec), access_key_row,
                                            drop_access_key };
static const struct rec_type KEY = { sizeof (struct key_rec), key_row, drop_key };
static const struct rec_type MATERIAL = { sizeof (struct material_rec), material_row, drop_material };
static const struct rec_type ALIAS = { sizeof (struct alias_rec), alias_row, drop_nothing };
static const struct rec_type TAG = { sizeof (struct tag_rec), tag_row, drop_tag };
static const struct rec_type ENT = { sizeof (struct ent_rec), ent_row, drop_ent };
static const struct rec_type REL = { sizeof (struct rel_rec), rel_row, drop_rel };

/* ---- running statements ------------------------------------------------ */

static void log_bad_row(sqlite3_stmt *q)
{
    fprintf(stderr, "tresor: store: out of memory, or a value too long for its "
            "record [%s]\n", sqlite3_sql(q));
}

/* Run a bound statement that returns no rows and release it; *changes
 * (when not NULL) gets the number of rows it changed. */
static TR_RESULT q_exec(struct conn *c, sqlite3_stmt *q, int bind_rc, int *changes)
{
    tr_result r = TR_OK;
    /* Inside a transaction, the writer's own later reads must not hit
     * what it cached before this statement (sq_generation). */
    if (c->writing) atomic_fetch_add_explicit(&c->s->gate.gen, 1, memory_order_release);
    int rc = bind_rc;
    if (rc == SQLITE_OK) rc = sqlite3_step(q);
    if (rc != SQLITE_DONE) r = SQ_FAIL(c->db, rc, sqlite3_sql(q));
    else if (changes) *changes = sqlite3_changes(c->db);
    q_release(q);
    return r;
}

/* Run a bound write statement: as part of this thread's transaction, or
 * else on its own through the write gate. */
static TR_RESULT q_write(struct conn *c, sqlite3_stmt *q, int bind_rc, int *changes)
{
    if (c->writing) return q_exec(c, q, bind_rc, changes);
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
        gate_leave(&s->gate);
        return r;
    }
    r = q_exec(c, q, bind_rc, changes);
    if (s->grouped) gsync_written(&s->gs, seq);
    gate_leave(&s->gate);
    if (tr_ok(r) && s->grouped) r = gsync_wait(&s->gs, seq);
    return r;
}

/* Run a bound statement, fill *rec (a t) from its first row, release it.
 * TR_E_STORE_NOT_FOUND when there is no row. */
static TR_RESULT q_one(struct conn *c, sqlite3_stmt *q, int bind_rc, const struct rec_type *t,
                       void *rec)
{
    tr_result r = TR_OK;
    int rc = bind_rc;
    if (rc == SQLITE_OK) rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        if (!t->fill(q, rec)) {
            t->drop(rec);
            log_bad_row(q);
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        }
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
static TR_RESULT q_all(struct conn *c, sqlite3_stmt *q, int bind_rc, const struct rec_type *t,
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
        if (!t->fill(q, rec)) {
            t->drop(rec);
            log_bad_row(q);
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

/*
 * The calls of store.h, in four shapes.  Each checks the NEED parameters
 * first (nothing is read or written when one is NULL), then prepares,
 * binds and runs the statement on this thread's connection, and releases
 * it before returning.
 */

/* One row into *rec (a t, zeroed first); TR_E_STORE_NOT_FOUND when none. */
static TR_RESULT run_get(store_t st, enum qid id, const struct rec_type *t, const struct arg *a,
                         size_t na, void *rec)
{
    struct conn *c = NULL; sqlite3_stmt *q = NULL;
    GUARD(args_check(a, na));
    ENSURE_REF(rec);
    memset(rec, 0, t->size);
    GUARD(prep(st, id, &c, &q));
    return q_one(c, q, args_bind(q, a, na), t, rec);
}

/* Every row into a malloc'd array of t (*out NULL and *n 0 on failure). */
static TR_RESULT run_list(store_t st, enum qid id, const struct rec_type *t, const struct arg *a,
                          size_t na, void **out, size_t *n)
{
    struct conn *c = NULL; sqlite3_stmt *q = NULL;
    GUARD(args_check(a, na));
    ENSURE_REF(out);
    ENSURE_REF(n);
    *out = NULL;
    *n = 0;
    GUARD(prep(st, id, &c, &q));
    return q_all(c, q, args_bind(q, a, na), t, out, n);
}

/* A write (q_write: in this thread's transaction, or on its own through
 * the gate); *changes, when not NULL, gets the rows it changed. */
static TR_RESULT run_write(store_t st, enum qid id, const struct arg *a, size_t na, int *changes)
{
    struct conn *c = NULL; sqlite3_stmt *q = NULL;
    GUARD(args_check(a, na));
    GUARD(prep(st, id, &c, &q));
    return q_write(c, q, args_bind(q, a, na), changes);
}

/* A write that must change a row: TR_E_STORE_NOT_FOUND when none matched
 * (an update or delete of something that is not there). */
static TR_RESULT run_change(store_t st, enum qid id, const struct arg *a, size_t na)
{
    int changes = 0;
    GUARD(run_write(st, id, a, na, &changes));
    ENSURE(changes > 0, TR_E_STORE_NOT_FOUND);
    return TR_OK;
}

/* Run the parameterless statement `id` on c (BEGIN, COMMIT, ROLLBACK). */
static TR_RESULT q_simple(struct conn *c, enum qid id)
{
    int rc = stmt(c, id);
    if (rc != SQLITE_OK) return SQ_FAIL(c->db, rc, qsql[id]);
    return q_exec(c, c->q[id], SQLITE_OK, NULL);
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
    sq_log(c->db, rc, qsql[Q_ROLLBACK]);
    return false;
}

/* Close this thread's connection for good (closing rolls back whatever is
 * open); its next call opens a new one. */
static void conn_discard(struct conn *c)
{
    pthread_setspecific(c->s->tls, NULL);
    conn_drop(c);
}

/* ---- transactions ------------------------------------------------------ */

/* Take the write gate, then BEGIN IMMEDIATE. */
static TR_RESULT tx_open(struct conn *c)
{
    if (c->writing) {
        fprintf(stderr, "tresor: store: tx_begin inside a transaction\n");
        BAIL0(TR_E_INTERNAL);
    }
    /* After a failed sync nothing more is written (group_sync.h). */
    ENSURE(!c->s->grouped || !gsync_broken(&c->s->gs), TR_E_STORE_IO);
    GUARD(gate_enter(&c->s->gate));
    tr_result r = q_simple(c, Q_BEGIN);
    if (tr_failed(r)) {
        gate_leave(&c->s->gate);
        return r;
    }
    c->writing = true;
    return TR_OK;
}

/* The transaction is over (committed or rolled back): free the gate. */
static void tx_closed(struct conn *c)
{
    if (!c->writing) return;
    c->writing = false;
    gate_leave(&c->s->gate);
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
 * (core/metrics.h). */
static TR_RESULT tx_close(struct conn *c)
{
    struct store_sqlite *s = c->s;
    uint64_t seq = 0;
    if (!c->writing) {
        fprintf(stderr, "tresor: store: tx_commit outside a transaction\n");
        BAIL0(TR_E_INTERNAL);
    }
    bool timed = metrics_enabled();
    int64_t t0 = timed ? mono_us() : 0;
    if (s->grouped) GUARD(gsync_begin(&s->gs, &seq));  /* still open: the caller rolls back */
    tr_result r = q_simple(c, Q_COMMIT);
    if (s->grouped) gsync_written(&s->gs, seq);
    if (sqlite3_get_autocommit(c->db)) tx_closed(c);
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

/* See store.h.  The epoch is the store's own (store_new).  This
 * process's writers all pass the gate, which counts each entry and exit
 * (and each statement inside a transaction); a commit by another process
 * is noticed by sq_refresh through PRAGMA data_version (which changes when
 * any other connection commits) and counted in c->foreign.  The sum
 * changes whenever either does.  No connection yet (or none to be had):
 * CACHE_GEN_NONE. */
static struct cache_gen sq_generation(store_t st)
{
    if (!st) return CACHE_GEN_NONE;
    struct store_sqlite *s = self(st);
    uint64_t g = atomic_load_explicit(&s->gate.gen, memory_order_acquire);
    struct conn *c = pthread_getspecific(s->tls);
    if (!c) return CACHE_GEN_NONE;
    return (struct cache_gen){ s->epoch, g + (c->foreign << 32) };
}

static void sq_refresh(store_t st)
{
    struct conn *c = NULL;
    sqlite3_stmt *q = NULL;
    if (!st || tr_failed(prep(st, Q_DATA_VERSION, &c, &q))) return;
    int rc = sqlite3_step(q);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_reset(q);
    if (rc != SQLITE_ROW || v != c->data_version) {
        c->data_version = v;
        c->foreign++;
    }
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
    return tx_close(c);
}

/* A read transaction: every read until read_end sees one snapshot, and
 * takes the WAL read lock once instead of per statement.  Writers of
 * other connections go on (WAL); this connection must not write. */
static TR_RESULT sq_read_begin(store_t st)
{
    struct conn *c = NULL;
    ENSURE_REF(st);
    GUARD(conn_get(self(st), &c));
    ENSURE(!c->writing && !c->reading, TR_E_INTERNAL);
    GUARD(q_simple(c, Q_BEGIN_READ));
    c->reading = true;
    return TR_OK;
}

static void sq_read_end(store_t st)
{
    if (!st) return;
    struct conn *c = pthread_getspecific(self(st)->tls);
    if (!c || !c->reading) return;
    c->reading = false;
    if (tr_failed(q_simple(c, Q_COMMIT))) tx_abort(c);
}

static void sq_tx_rollback(store_t st)
{
    if (!st) return;
    /* A thread without a connection has no transaction to roll back. */
    struct conn *c = pthread_getspecific(self(st)->tls);
    if (c) tx_abort(c);
}

static TR_RESULT sq_sync_barrier(store_t st)
{
    ENSURE_REF(st);
    struct store_sqlite *s = self(st);
    if (!s->grouped) return TR_OK;
    return gsync_barrier(&s->gs);
}

/* ---- accounts and access keys ------------------------------------------ */

static TR_RESULT sq_account_put(store_t st, const struct account_rec *a)
{
    ENSURE_REF(a);
    return run_write(st, Q_ACCOUNT_PUT, ARGS(CHARS(a->id), INT(a->created)), NULL);
}

static TR_RESULT sq_account_get(store_t st, const char *id, struct account_rec *out)
{
    return run_get(st, Q_ACCOUNT_GET, &ACCOUNT, ARGS(NEED(id)), out);
}

static TR_RESULT sq_account_first(store_t st, struct account_rec *out)
{
    return run_get(st, Q_ACCOUNT_FIRST, &ACCOUNT, NO_ARGS, out);
}

static TR_RESULT sq_account_list(store_t st, struct account_rec **out, size_t *n)
{
    return run_list(st, Q_ACCOUNT_LIST, &ACCOUNT, NO_ARGS, (void **)out, n);
}

/* Putting a key removes its tombstone (store.h). */
static TR_RESULT sq_access_key_put(store_t st, const struct access_key_rec *k)
{
    ENSURE_REF(k);
    GUARD(run_write(st, Q_AK_PUT, ARGS(CHARS(k->access_key_id), CHARS(k->account_id),
                                       INT(k->principal_type), TEXT(k->principal_arn),
                                       TEXT(k->principal_id), INT(k->active ? 1 : 0),
                                       INT(k->created), INT(k->expires),
                                       BLOB(&k->wrapped_secret), OPT(k->doc)), NULL));
    return run_write(st, Q_AK_UNTOMB, ARGS(CHARS(k->access_key_id)), NULL);
}

static TR_RESULT sq_access_key_get(store_t st, const char *akid, struct access_key_rec *out)
{
    return run_get(st, Q_AK_GET, &ACCESS_KEY, ARGS(NEED(akid)), out);
}

/* Oldest first. */
static TR_RESULT sq_access_key_list(store_t st, const char *principal_arn,
                                    struct access_key_rec **out, size_t *n)
{
    return run_list(st, Q_AK_LIST, &ACCESS_KEY, ARGS(NEED(principal_arn)), (void **)out, n);
}

/* Every access key, ordered by id, after `after`, at most `limit` (tresor check). */
static TR_RESULT sq_access_key_list_all(store_t st, const char *after, size_t limit,
                                        struct access_key_rec **out, size_t *n)
{
    return run_list(st, Q_AK_LIST_ALL, &ACCESS_KEY, ARGS(TEXT(after), LIMIT(limit)), (void **)out, n);
}

/* Writes active, expires and doc. */
static TR_RESULT sq_access_key_update(store_t st, const struct access_key_rec *k)
{
    ENSURE_REF(k);
    return run_change(st, Q_AK_UPDATE, ARGS(CHARS(k->access_key_id), INT(k->active ? 1 : 0),
                                            INT(k->expires), OPT(k->doc)));
}

static TR_RESULT sq_access_key_rewrap(store_t st, const char *akid, const struct buf *wrapped)
{
    ENSURE_REF(wrapped);
    return run_change(st, Q_AK_REWRAP, ARGS(NEED(akid), BLOB(wrapped)));
}

/* The tombstone first: it is made from the row. */
static TR_RESULT sq_access_key_delete(store_t st, const char *akid)
{
    GUARD(run_write(st, Q_AK_TOMB, ARGS(NEED(akid)), NULL));
    return run_change(st, Q_AK_DEL, ARGS(NEED(akid)));
}

/* Keys with expires != 0 and expires < now, each leaving a tombstone;
 * then the tombstones of sessions that expired before tombstones_before.
 * None is not an error. */
static TR_RESULT sq_access_key_purge_expired(store_t st, int64_t now, int64_t tombstones_before)
{
    GUARD(run_write(st, Q_AK_TOMB_EXPIRED, ARGS(INT(now)), NULL));
    GUARD(run_write(st, Q_AK_PURGE, ARGS(INT(now)), NULL));
    return run_write(st, Q_AK_TOMB_PRUNE, ARGS(INT(tombstones_before)), NULL);
}

struct tomb { int64_t expires; char *token; };

static bool tomb_row(sqlite3_stmt *q, void *rec)
{
    struct tomb *t = rec;
    struct row r = { q, 0, true };
    t->expires = r_int(&r);
    r_opt(&r, &t->token);
    return r.ok;
}

static void drop_tomb(void *rec)
{
    struct tomb *t = rec;
    free(t->token);
    t->token = NULL;
}

static const struct rec_type TOMB = { sizeof (struct tomb), tomb_row, drop_tomb };

static TR_RESULT sq_access_key_tombstone_get(store_t st, const char *akid, int64_t *expires,
                                             char token_sha256[65])
{
    struct tomb t;
    ENSURE_REF(akid);
    ENSURE_REF(expires);
    ENSURE_REF(token_sha256);
    *expires = 0;
    token_sha256[0] = '\0';
    GUARD(run_get(st, Q_AK_TOMB_GET, &TOMB, ARGS(NEED(akid)), &t));
    *expires = t.expires;
    if (t.token && strlen(t.token) == 64) memcpy(token_sha256, t.token, 65);
    free(t.token);
    return TR_OK;
}

/* ---- KMS keys ---------------------------------------------------------- */

/* The 19 columns of kms_keys, in KEY_COLS order (put and update). */
#define KEY_NARGS 19
static void key_args(const struct key_rec *k, struct arg a[KEY_NARGS])
{
    const struct arg v[KEY_NARGS] = {
        CHARS(k->key_id), CHARS(k->account_id), CHARS(k->region), TEXT(k->arn),
        TEXT(k->description), TEXT(k->policy), CHARS(k->key_state), CHARS(k->key_usage),
        CHARS(k->key_spec), CHARS(k->origin), CHARS(k->key_manager), INT(k->created),
        INT(k->deletion_date), INT(k->pending_window_days), INT(k->rotation_enabled ? 1 : 0),
        INT(k->rotation_period_days), INT(k->next_rotation), INT(k->current_material),
        OPT(k->policy_ids),
    };
    memcpy(a, v, sizeof v);
}

static TR_RESULT sq_key_put(store_t st, const struct key_rec *k)
{
    struct arg a[KEY_NARGS];
    ENSURE_REF(k);
    key_args(k, a);
    return run_write(st, Q_KEY_PUT, a, KEY_NARGS, NULL);
}

/* Writes every column but key_id. */
static TR_RESULT sq_key_update(store_t st, const struct key_rec *k)
{
    struct arg a[KEY_NARGS];
    ENSURE_REF(k);
    key_args(k, a);
    return run_change(st, Q_KEY_UPDATE, a, KEY_NARGS);
}

static TR_RESULT sq_key_get(store_t st, const char *key_id, struct key_rec *out)
{
    return run_get(st, Q_KEY_GET, &KEY, ARGS(NEED(key_id)), out);
}

/* Every key_id sorts after "" (TEXT(NULL)): no `after`, the first page. */
static TR_RESULT sq_key_list(store_t st, const char *account, const char *region,
                             const char *after, size_t limit, struct key_rec **out, size_t *n)
{
    return run_list(st, Q_KEY_LIST, &KEY, ARGS(NEED(account), NEED(region), TEXT(after), LIMIT(limit)),
                    (void **)out, n);
}

static TR_RESULT sq_key_list_due(store_t st, int64_t now, struct key_rec **out, size_t *n)
{
    return run_list(st, Q_KEY_DUE, &KEY, ARGS(INT(now)), (void **)out, n);
}

static TR_RESULT sq_key_list_all(store_t st, const char *after, size_t limit,
                                 struct key_rec **out, size_t *n)
{
    return run_list(st, Q_KEY_LIST_ALL, &KEY, ARGS(TEXT(after), LIMIT(limit)), (void **)out, n);
}

/* Tags first: they are found through the key's ARN. */
static TR_RESULT sq_key_delete(store_t st, const char *key_id)
{
    static const enum qid steps[] = {
        Q_KEY_DEL_TAGS, Q_KEY_DEL_MATERIALS, Q_KEY_DEL_ALIASES, Q_KEY_DEL,
    };
    struct conn *c = NULL;
    bool own;
    int changes = 0;
    tr_result r = TR_OK;

    ENSURE_REF(st);
    ENSURE_REF(key_id);
    GUARD(conn_get(self(st), &c));
    own = !c->writing;
    if (own) GUARD(tx_open(c));
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        r = run_write(st, steps[i], ARGS(TEXT(key_id)), &changes);
        if (tr_failed(r)) goto fail;
    }
    if (changes == 0) { r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_NOT_FOUND, NULL); goto fail; }
    if (own) {
        r = tx_close(c);
        if (tr_failed(r)) goto fail;
    }
    return TR_OK;

fail:
    if (own) tx_abort(c);
    return r;
}

/* ---- key materials ----------------------------------------------------- */

static TR_RESULT sq_material_put(store_t st, const struct material_rec *m)
{
    ENSURE_REF(m);
    return run_write(st, Q_MAT_PUT, ARGS(CHARS(m->key_id), INT(m->version), INT(m->created),
                                         CHARS(m->rotation_type), BLOB(&m->wrapped)), NULL);
}

static TR_RESULT sq_material_get(store_t st, const char *key_id, uint32_t version,
                                 struct material_rec *out)
{
    return run_get(st, Q_MAT_GET, &MATERIAL, ARGS(NEED(key_id), INT(version)), out);
}

static TR_RESULT sq_material_rewrap(store_t st, const char *key_id, uint32_t version,
                                    const struct buf *wrapped)
{
    ENSURE_REF(wrapped);
    return run_change(st, Q_MAT_REWRAP, ARGS(NEED(key_id), INT(version), BLOB(wrapped)));
}

static TR_RESULT sq_material_list(store_t st, const char *key_id,
                                  struct material_rec **out, size_t *n)
{
    return run_list(st, Q_MAT_LIST, &MATERIAL, ARGS(NEED(key_id)), (void **)out, n);
}

/* ---- aliases ----------------------------------------------------------- */

static TR_RESULT sq_alias_put(store_t st, const struct alias_rec *a)
{
    ENSURE_REF(a);
    return run_write(st, Q_ALIAS_PUT, ARGS(CHARS(a->account_id), CHARS(a->region), CHARS(a->name),
                                           CHARS(a->target_key_id), INT(a->created),
                                           INT(a->updated)), NULL);
}

/* Sets target_key_id and updated; created is kept. */
static TR_RESULT sq_alias_update(store_t st, const struct alias_rec *a)
{
    ENSURE_REF(a);
    return run_change(st, Q_ALIAS_UPDATE, ARGS(CHARS(a->account_id), CHARS(a->region),
                                               CHARS(a->name), CHARS(a->target_key_id),
                                               INT(a->updated)));
}

static TR_RESULT sq_alias_get(store_t st, const char *account, const char *region,
                              const char *name, struct alias_rec *out)
{
    return run_get(st, Q_ALIAS_GET, &ALIAS, ARGS(NEED(account), NEED(region), NEED(name)), out);
}

static TR_RESULT sq_alias_delete(store_t st, const char *account, const char *region,
                                 const char *name)
{
    return run_change(st, Q_ALIAS_DEL, ARGS(NEED(account), NEED(region), NEED(name)));
}

/* Every name sorts after "" (TEXT(NULL)); with key_id, Q_ALIAS_LIST_KEY
 * takes it as a fifth parameter. */
static TR_RESULT sq_alias_list(store_t st, const char *account, const char *region,
                               const char *key_id, const char *after, size_t limit,
                               struct alias_rec **out, size_t *n)
{
    const struct arg a[] = { NEED(account), NEED(region), TEXT(after), LIMIT(limit), TEXT(key_id) };
    return run_list(st, key_id ? Q_ALIAS_LIST_KEY : Q_ALIAS_LIST, &ALIAS, a, key_id ? 5 : 4,
                    (void **)out, n);
}

/* ---- tags -------------------------------------------------------------- */

static TR_RESULT sq_tag_set(store_t st, const char *arn, const char *key, const char *value)
{
    return run_write(st, Q_TAG_SET, ARGS(NEED(arn), NEED(key), TEXT(value)), NULL);
}

/* TR_E_STORE_NOT_FOUND when the resource has no such tag. */
static TR_RESULT sq_tag_delete(store_t st, const char *arn, const char *key)
{
    return run_change(st, Q_TAG_DEL, ARGS(NEED(arn), NEED(key)));
}

static TR_RESULT sq_tag_list(store_t st, const char *arn, struct tag_rec **out, size_t *n)
{
    return run_list(st, Q_TAG_LIST, &TAG, ARGS(NEED(arn)), (void **)out, n);
}

/* ---- entities and relations -------------------------------------------- */

static TR_RESULT sq_ent_put(store_t st, const struct ent_rec *e)
{
    ENSURE_REF(e);
    return run_write(st, Q_ENT_PUT, ARGS(CHARS(e->kind), CHARS(e->account_id), TEXT(e->name),
                                         TEXT(e->id), TEXT(e->arn), TEXT(e->path ? e->path : "/"),
                                         TEXT(e->doc ? e->doc : "{}"), INT(e->created)), NULL);
}

/* By kind and arn; writes name, path and doc. */
static TR_RESULT sq_ent_update(store_t st, const struct ent_rec *e)
{
    ENSURE_REF(e);
    return run_change(st, Q_ENT_UPDATE, ARGS(CHARS(e->kind), TEXT(e->arn), TEXT(e->name),
                                             TEXT(e->path ? e->path : "/"),
                                             TEXT(e->doc ? e->doc : "{}")));
}

static TR_RESULT sq_ent_get(store_t st, const char *kind, const char *account,
                            const char *name, struct ent_rec *out)
{
    return run_get(st, Q_ENT_GET, &ENT, ARGS(NEED(kind), NEED(account), NEED(name)), out);
}

static TR_RESULT sq_ent_get_arn(store_t st, const char *kind, const char *arn,
                                struct ent_rec *out)
{
    return run_get(st, Q_ENT_GET_ARN, &ENT, ARGS(NEED(kind), NEED(arn)), out);
}

static TR_RESULT sq_ent_get_id(store_t st, const char *kind, const char *id,
                               struct ent_rec *out)
{
    return run_get(st, Q_ENT_GET_ID, &ENT, ARGS(NEED(kind), NEED(id)), out);
}

/* No cascade: the caller deletes the relations first. */
static TR_RESULT sq_ent_delete(store_t st, const char *kind, const char *arn)
{
    return run_change(st, Q_ENT_DEL, ARGS(NEED(kind), NEED(arn)));
}

/* Every path starts with "" and every name sorts after it (TEXT(NULL)). */
static TR_RESULT sq_ent_list(store_t st, const char *kind, const char *account,
                             const char *path_prefix, const char *after, size_t limit,
                             struct ent_rec **out, size_t *n)
{
    return run_list(st, Q_ENT_LIST, &ENT, ARGS(NEED(kind), NEED(account), TEXT(path_prefix),
                                               TEXT(after), LIMIT(limit)), (void **)out, n);
}

/* Insert, or replace the doc and created of an existing relation. */
static TR_RESULT sq_rel_put(store_t st, const struct rel_rec *r)
{
    ENSURE_REF(r);
    return run_write(st, Q_REL_PUT, ARGS(CHARS(r->kind), TEXT(r->from), TEXT(r->to), TEXT(r->doc),
                                         INT(r->created)), NULL);
}

static TR_RESULT sq_rel_get(store_t st, const char *kind, const char *from, const char *to,
                            struct rel_rec *out)
{
    return run_get(st, Q_REL_GET, &REL, ARGS(NEED(kind), NEED(from), NEED(to)), out);
}

static bool member_name_ok(const char *m)
{
    size_t n = m ? strspn(m, "abcdefghijklmnopqrstuvwxyz_") : 0;
    return n > 0 && n <= 32 && m[n] == '\0';
}

static TR_RESULT sq_rel_member_get(store_t st, const char *kind, const char *from, const char *to,
                                   const char *member, struct rel_rec *out)
{
    ENSURE(member_name_ok(member), TR_E_INTERNAL);
    return run_get(st, Q_REL_MEMBER_GET, &REL,
                   ARGS(NEED(kind), NEED(from), NEED(to), NEED(member)), out);
}

static TR_RESULT sq_rel_member_set(store_t st, const char *kind, const char *from, const char *to,
                                   const char *member, const char *json)
{
    ENSURE(member_name_ok(member), TR_E_INTERNAL);
    return run_change(st, Q_REL_MEMBER_SET,
                      ARGS(NEED(kind), NEED(from), NEED(to), NEED(member), NEED(json)));
}

static TR_RESULT sq_rel_delete(store_t st, const char *kind, const char *from, const char *to)
{
    return run_change(st, Q_REL_DEL, ARGS(NEED(kind), NEED(from), NEED(to)));
}

static TR_RESULT sq_rel_list_from(store_t st, const char *kind, const char *from,
                                  const char *after, size_t limit, struct rel_rec **out,
                                  size_t *n)
{
    return run_list(st, Q_REL_LIST_FROM, &REL, ARGS(NEED(kind), NEED(from), TEXT(after), LIMIT(limit)),
                    (void **)out, n);
}

static TR_RESULT sq_rel_list_to(store_t st, const char *kind, const char *to,
                                struct rel_rec **out, size_t *n)
{
    return run_list(st, Q_REL_LIST_TO, &REL, ARGS(NEED(kind), NEED(to)), (void **)out, n);
}

/* After the pair (after_from, after_to); no after_from: from the start. */
static TR_RESULT sq_rel_list_kind(store_t st, const char *kind, const char *after_from,
                                  const char *after_to, size_t limit, struct rel_rec **out,
                                  size_t *n)
{
    return run_list(st, Q_REL_LIST_KIND, &REL, ARGS(NEED(kind), TEXT(after_from),
                                                    TEXT(after_from ? after_to : NULL), LIMIT(limit)),
                    (void **)out, n);
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
    return pragma_rows(c, "PRAGMA foreign_key_check", "foreign_key_check", problem, arg, &rows);
}

/* ---- open, migrate, close ---------------------------------------------- */

/* Close every connection and free s.  See the file comment on threads. */
static void sq_close(store_t st)
{
    if (!st) return;
    struct store_sqlite *s = self(st);
    /* No destructor runs for this key after this, in any thread. */
    pthread_key_delete(s->tls);
    pthread_mutex_lock(&s->mu);
    while (s->conns) {
        struct conn *c = s->conns;
        conn_unlink(s, c);
        conn_close(c);      /* the keeper was linked first: it closes last */
    }
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_destroy(&s->mu);
    gate_destroy(&s->gate);
    if (s->grouped) gsync_destroy(&s->gs);
    if (s->wal_fd >= 0) close(s->wal_fd);
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

static const struct store_class sqlite_class = {
    .name = "sqlite",
    .close = sq_close,
    .generation = sq_generation,
    .refresh = sq_refresh,
    .tx_begin = sq_tx_begin,
    .tx_commit = sq_tx_commit,
    .tx_rollback = sq_tx_rollback,
    .sync_barrier = sq_sync_barrier,
    .read_begin = sq_read_begin,
    .read_end = sq_read_end,
    .account_put = sq_account_put,
    .account_get = sq_account_get,
    .account_first = sq_account_first,
    .account_list = sq_account_list,
    .access_key_put = sq_access_key_put,
    .access_key_get = sq_access_key_get,
    .key_put = sq_key_put,
    .key_update = sq_key_update,
    .key_get = sq_key_get,
    .key_list = sq_key_list,
    .key_list_due = sq_key_list_due,
    .key_delete = sq_key_delete,
    .material_put = sq_material_put,
    .material_get = sq_material_get,
    .material_list = sq_material_list,
    .material_rewrap = sq_material_rewrap,
    .alias_put = sq_alias_put,
    .alias_update = sq_alias_update,
    .alias_get = sq_alias_get,
    .alias_delete = sq_alias_delete,
    .alias_list = sq_alias_list,
    .tag_set = sq_tag_set,
    .tag_delete = sq_tag_delete,
    .tag_list = sq_tag_list,
    .access_key_list = sq_access_key_list,
    .access_key_update = sq_access_key_update,
    .access_key_rewrap = sq_access_key_rewrap,
    .access_key_delete = sq_access_key_delete,
    .access_key_purge_expired = sq_access_key_purge_expired,
    .access_key_tombstone_get = sq_access_key_tombstone_get,
    .ent_put = sq_ent_put,
    .ent_update = sq_ent_update,
    .ent_get = sq_ent_get,
    .ent_get_arn = sq_ent_get_arn,
    .ent_get_id = sq_ent_get_id,
    .ent_delete = sq_ent_delete,
    .ent_list = sq_ent_list,
    .rel_put = sq_rel_put,
    .rel_get = sq_rel_get,
    .rel_member_get = sq_rel_member_get,
    .rel_member_set = sq_rel_member_set,
    .rel_delete = sq_rel_delete,
    .rel_list_from = sq_rel_list_from,
    .rel_list_to = sq_rel_list_to,
    .key_list_all = sq_key_list_all,
    .access_key_list_all = sq_access_key_list_all,
    .rel_list_kind = sq_rel_list_kind,
    .self_check = sq_self_check,
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
    s->vt = &sqlite_class;
    s->memory = memory;
    s->wal_fd = -1;
    s->epoch = cache_epoch_new();
    s->flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE |
               SQLITE_OPEN_EXRESCODE | (memory ? SQLITE_OPEN_URI | SQLITE_OPEN_CREATE : 0);
    gate = gate_init(&s->gate);
    if (!gate) goto fail;
    mu = pthread_mutex_init(&s->mu, NULL) == 0;
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
    if (mu) pthread_mutex_destroy(&s->mu);
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
        sq_close(&s->vt);
        return r;
    }
    *out = &s->vt;
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

TR_RESULT store_sqlite_open_readonly(const char *data_dir, store_t *out)
{
    char path[PATH_MAX], uri[3 * PATH_MAX + 64];
    struct store_sqlite *s = NULL;
    int version = 0;
    tr_result r;
    ENSURE_REF(data_dir);
    ENSURE_REF(out);
    *out = NULL;

    ENSURE(sqlite_db_path(data_dir, path), TR_E_INTERNAL);
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
    r = conn_open(s, &s->keeper);
    if (tr_ok(r)) r = user_version(s->keeper, &version);
    if (tr_ok(r) && (version < 0 || (size_t)version != store_schema_count)) {
        fprintf(stderr, "tresor: store: database schema version %d is not this build's (%zu)%s\n",
                version, store_schema_count,
                version >= 0 && (size_t)version < store_schema_count
                ? ": a read-only open cannot migrate it (start tresor serve on it once, or use "
                  "the tresor that wrote it)" : "");
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    if (tr_failed(r)) {
        sq_close(&s->vt);
        return r;
    }
    *out = &s->vt;
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
