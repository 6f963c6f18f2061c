/*
 * postgres.c -- the PostgreSQL backend of store/store.h, over libpq.
 *
 * The same contract as store/sqlite.c, call for call: the same records,
 * the same error kinds, the same order and paging of every listing.  The
 * schema is src/store/schema_pg/NNN_*.sql (one migration for each SQLite
 * one); every text column compares with the "C" collation, byte for byte
 * as SQLite's BINARY does.  What differs is said here and in
 * docs/internals/STORE.md ("PostgreSQL").
 *
 * One node.  The request path's per-thread caches are keyed by the store's
 * generation, which this process moves on its own writes; a second node
 * writing the same database would leave them stale.  So a serving store
 * (STORE_PG_SERVE) holds a session-level advisory lock (LOCK_SERVE) on its
 * keeper connection for its whole life, and an open that cannot have it
 * within LOCK_WAIT fails with TR_E_STORE_BUSY: another node serves the
 * database.  If the keeper's session ends (a restart of PostgreSQL,
 * pg_terminate_backend), PostgreSQL drops the lock with it; the store
 * notices at the next request (refresh) or call, and takes the lock again
 * on a new session before any call runs -- the generation moved, since
 * another process may have written meanwhile.  If another node has it by
 * then, the store is lost for good: every call fails (the clients see
 * their service's internal error) and the log says why.
 *
 * Threads.  Each thread that calls the store gets its own connection,
 * opened lazily and kept in a pthread_key_t (closed when the thread
 * exits), as with SQLite.  Statements are prepared once per connection
 * (PQprepare, on first use) and run with PQexecPrepared: every value is a
 * parameter, strings and blobs sent as binary (their bytes and length),
 * integers as decimal text; no value is ever written into SQL text, so
 * none reaches a log line.  Results come back as text; bytea columns are
 * unescaped into secret bufs.
 *
 * Lost connections.  A connection whose session ended is noticed at the
 * start of each request (refresh polls its socket: an idle connection has
 * nothing to read unless the server closed it) and replaced; a read
 * outside a transaction that fails because the connection is gone is run
 * once more on a new one (reads are idempotent).  A write is never
 * retried: its outcome is unknown, and the client gets its service's
 * internal error (TR_E_STORE_IO).  While PostgreSQL is down every call
 * fails the same way; the first request after it is back connects again.
 *
 * Transactions.  The threads of this process queue on the write gate
 * (store/gate.h) from tx_begin to commit or rollback, exactly as with
 * SQLite, so this process's write transactions run one at a time, each
 * seeing every earlier commit: the read-then-write operations (a secret's
 * staging labels, an alias update, a key rotation) need no isolation
 * stronger than READ COMMITTED, and the unique constraints answer the
 * inserts that race with nothing (they cannot race: one writer).  With one
 * node there is no other writer but the commands (`tresor account
 * create`), which only insert rows of their own.  COMMIT returns when the
 * commit is durable: every connection sets synchronous_commit = on,
 * whatever the database's default, so the sync barrier has nothing to
 * wait for.  read_begin .. read_end is one REPEATABLE READ READ ONLY
 * transaction (one snapshot).
 *
 * Schema.  At open (not read-only), the pending migrations run in one
 * transaction under pg_advisory_xact_lock(LOCK_MIGRATE), so nodes starting
 * at once migrate once; tresor_schema holds the version.  A database
 * whose version is newer than this build's is refused.
 *
 * Errors: SQLSTATE 23505 (unique) TR_E_STORE_EXISTS, 23503 (foreign key)
 * TR_E_STORE_NOT_FOUND, without a message; a serialization failure, a
 * deadlock, a lock or statement timeout TR_E_STORE_BUSY; 53100 (disk full)
 * TR_E_STORE_FULL; XX001/XX002 (damaged data) TR_E_STORE_CORRUPT; 25006 (a
 * write in a read-only transaction) TR_E_STORE_READONLY; a lost or refused
 * connection (class 08, 57P01..57P03, no result) TR_E_STORE_IO; anything
 * else TR_E_INTERNAL.  Failures other than the first two are logged with
 * PostgreSQL's message and the statement's SQL text.
 */
#include "store/postgres.h"
#include "store/gate.h"
#include "store/schema.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/array.h"
#include "core/metrics.h"
#include "core/secmem.h"

/* Advisory lock keys ("tresor" in ASCII, then which lock). */
#define LOCK_MIGRATE INT64_C(0x747265736f720001)
#define LOCK_SERVE   INT64_C(0x747265736f720002)
/* How long an open waits for the serving lock: a node that just stopped
 * (or whose session was just terminated) frees it when its backend has
 * exited, a moment later. */
#define LOCK_WAIT "3s"

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
#define TOMB_COLS "access_key_id, account_id, expires, token_sha256, removed"
/* A tombstone from an access_keys row (tresor_doc_token: schema_pg/004). */
#define TOMB_FROM "access_key_id, account_id, expires, tresor_doc_token(doc), " \
    "CAST(extract(epoch FROM now()) AS bigint)"
#define TOMB_UPSERT " ON CONFLICT (access_key_id) DO UPDATE SET account_id = excluded.account_id, " \
    "expires = excluded.expires, token_sha256 = excluded.token_sha256, removed = excluded.removed"

#define STATEMENTS(X) \
    X(Q_BEGIN, "BEGIN ISOLATION LEVEL READ COMMITTED") \
    X(Q_BEGIN_READ, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") \
    X(Q_COMMIT, "COMMIT") \
    X(Q_ROLLBACK, "ROLLBACK") \
    X(Q_ACCOUNT_PUT, "INSERT INTO accounts (" ACCOUNT_COLS ") VALUES ($1, $2)") \
    X(Q_ACCOUNT_GET, "SELECT " ACCOUNT_COLS " FROM accounts WHERE id = $1") \
    X(Q_ACCOUNT_FIRST, "SELECT " ACCOUNT_COLS " FROM accounts ORDER BY created, seq LIMIT 1") \
    X(Q_ACCOUNT_LIST, "SELECT " ACCOUNT_COLS " FROM accounts ORDER BY created, seq") \
    X(Q_AK_PUT, "INSERT INTO access_keys (" AK_COLS ") " \
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)") \
    X(Q_AK_GET, "SELECT " AK_COLS " FROM access_keys WHERE access_key_id = $1") \
    X(Q_AK_LIST, "SELECT " AK_COLS " FROM access_keys WHERE principal_arn = $1 " \
      "ORDER BY created, access_key_id") \
    X(Q_AK_LIST_ALL, "SELECT " AK_COLS " FROM access_keys WHERE access_key_id > $1 " \
      "ORDER BY access_key_id LIMIT $2") \
    X(Q_AK_UPDATE, "UPDATE access_keys SET active = $2, expires = $3, doc = $4 " \
      "WHERE access_key_id = $1") \
    X(Q_AK_REWRAP, "UPDATE access_keys SET wrapped_secret = $2 WHERE access_key_id = $1") \
    X(Q_AK_DEL, "DELETE FROM access_keys WHERE access_key_id = $1") \
    X(Q_AK_PURGE, "DELETE FROM access_keys WHERE expires <> 0 AND expires < $1") \
    X(Q_AK_TOMB, "INSERT INTO access_key_tombstones (" TOMB_COLS ") SELECT " TOMB_FROM \
      " FROM access_keys WHERE access_key_id = $1" TOMB_UPSERT) \
    X(Q_AK_TOMB_EXPIRED, "INSERT INTO access_key_tombstones (" TOMB_COLS ") SELECT " \
      TOMB_FROM " FROM access_keys WHERE expires <> 0 AND expires < $1" TOMB_UPSERT) \
    X(Q_AK_TOMB_PRUNE, "DELETE FROM access_key_tombstones WHERE expires <> 0 AND expires < $1") \
    X(Q_AK_UNTOMB, "DELETE FROM access_key_tombstones WHERE access_key_id = $1") \
    X(Q_AK_TOMB_GET, "SELECT expires, token_sha256 FROM access_key_tombstones " \
      "WHERE access_key_id = $1") \
    X(Q_KEY_PUT, "INSERT INTO kms_keys (" KEY_COLS ") VALUES ($1, $2, $3, $4, " \
      "$5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)") \
    X(Q_KEY_UPDATE, "UPDATE kms_keys SET account_id = $2, region = $3, " \
      "arn = $4, description = $5, policy = $6, key_state = $7, " \
      "key_usage = $8, key_spec = $9, origin = $10, key_manager = $11, " \
      "created = $12, deletion_date = $13, pending_window_days = $14, " \
      "rotation_enabled = $15, rotation_period_days = $16, " \
      "next_rotation = $17, current_material = $18, policy_ids = $19 WHERE key_id = $1") \
    X(Q_KEY_GET, "SELECT " KEY_COLS " FROM kms_keys WHERE key_id = $1") \
    X(Q_KEY_LIST, "SELECT " KEY_COLS " FROM kms_keys WHERE account_id = $1 " \
      "AND region = $2 AND key_id > $3 ORDER BY key_id LIMIT $4") \
    X(Q_KEY_LIST_ALL, "SELECT " KEY_COLS " FROM kms_keys WHERE key_id > $1 " \
      "ORDER BY key_id LIMIT $2") \
    X(Q_KEY_DUE, "SELECT " KEY_COLS " FROM kms_keys " \
      "WHERE (deletion_date > 0 AND deletion_date <= $1) " \
      "OR (next_rotation > 0 AND next_rotation <= $1) ORDER BY key_id") \
    X(Q_KEY_DEL_TAGS, "DELETE FROM tags " \
      "WHERE arn = (SELECT arn FROM kms_keys WHERE key_id = $1)") \
    X(Q_KEY_DEL_MATERIALS, "DELETE FROM kms_key_materials WHERE key_id = $1") \
    X(Q_KEY_DEL_ALIASES, "DELETE FROM kms_aliases WHERE target_key_id = $1") \
    X(Q_KEY_DEL, "DELETE FROM kms_keys WHERE key_id = $1") \
    X(Q_MAT_PUT, "INSERT INTO kms_key_materials (" MAT_COLS ") " \
      "VALUES ($1, $2, $3, $4, $5)") \
    X(Q_MAT_GET, "SELECT " MAT_COLS " FROM kms_key_materials " \
      "WHERE key_id = $1 AND version = $2") \
    X(Q_MAT_LIST, "SELECT " MAT_COLS " FROM kms_key_materials " \
      "WHERE key_id = $1 ORDER BY version") \
    X(Q_MAT_REWRAP, "UPDATE kms_key_materials SET wrapped = $3 " \
      "WHERE key_id = $1 AND version = $2") \
    X(Q_ALIAS_PUT, "INSERT INTO kms_aliases (" ALIAS_COLS ") " \
      "VALUES ($1, $2, $3, $4, $5, $6)") \
    X(Q_ALIAS_UPDATE, "UPDATE kms_aliases SET target_key_id = $4, " \
      "updated = $5 WHERE account_id = $1 AND region = $2 AND name = $3") \
    X(Q_ALIAS_GET, "SELECT " ALIAS_COLS " FROM kms_aliases " \
      "WHERE account_id = $1 AND region = $2 AND name = $3") \
    X(Q_ALIAS_DEL, "DELETE FROM kms_aliases " \
      "WHERE account_id = $1 AND region = $2 AND name = $3") \
    X(Q_ALIAS_LIST, "SELECT " ALIAS_COLS " FROM kms_aliases " \
      "WHERE account_id = $1 AND region = $2 AND name > $3 " \
      "ORDER BY name LIMIT $4") \
    X(Q_ALIAS_LIST_KEY, "SELECT " ALIAS_COLS " FROM kms_aliases " \
      "WHERE account_id = $1 AND region = $2 AND name > $3 " \
      "AND target_key_id = $5 ORDER BY name LIMIT $4") \
    X(Q_TAG_SET, "INSERT INTO tags (arn, key, value) VALUES ($1, $2, $3) " \
      "ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value") \
    X(Q_TAG_DEL, "DELETE FROM tags WHERE arn = $1 AND key = $2") \
    X(Q_TAG_LIST, "SELECT key, value FROM tags WHERE arn = $1 ORDER BY key") \
    X(Q_ENT_PUT, "INSERT INTO entities (" ENT_COLS ") " \
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)") \
    X(Q_ENT_UPDATE, "UPDATE entities SET name = $3, path = $4, doc = $5 " \
      "WHERE kind = $1 AND arn = $2") \
    X(Q_ENT_GET, "SELECT " ENT_COLS " FROM entities " \
      "WHERE kind = $1 AND account_id = $2 AND name = $3") \
    X(Q_ENT_GET_ARN, "SELECT " ENT_COLS " FROM entities WHERE kind = $1 AND arn = $2") \
    X(Q_ENT_GET_ID, "SELECT " ENT_COLS " FROM entities WHERE kind = $1 AND id = $2") \
    X(Q_ENT_DEL, "DELETE FROM entities WHERE kind = $1 AND arn = $2") \
    X(Q_ENT_LIST, "SELECT " ENT_COLS " FROM entities " \
      "WHERE kind = $1 AND account_id = $2 AND left(path, length($3)) = $3 " \
      "AND name > $4 ORDER BY name LIMIT $5") \
    X(Q_REL_PUT, "INSERT INTO relations (" REL_COLS ") VALUES ($1, $2, $3, $4, $5) " \
      "ON CONFLICT (kind, src, dst) DO UPDATE SET doc = excluded.doc, " \
      "created = excluded.created") \
    X(Q_REL_GET, "SELECT " REL_COLS " FROM relations " \
      "WHERE kind = $1 AND src = $2 AND dst = $3") \
    X(Q_REL_DEL, "DELETE FROM relations WHERE kind = $1 AND src = $2 AND dst = $3") \
    X(Q_REL_LIST_FROM, "SELECT " REL_COLS " FROM relations " \
      "WHERE kind = $1 AND src = $2 AND dst > $3 ORDER BY dst LIMIT $4") \
    X(Q_REL_LIST_TO, "SELECT " REL_COLS " FROM relations " \
      "WHERE kind = $1 AND dst = $2 ORDER BY src") \
    X(Q_REL_LIST_KIND, "SELECT " REL_COLS " FROM relations " \
      "WHERE kind = $1 AND (src > $2 OR (src = $2 AND dst > $3)) ORDER BY src, dst LIMIT $4")

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

/* ---- the store and its connections ------------------------------------ */

struct store_pg;

struct conn {
    struct conn *next, *prev;       /* on store_pg.conns, under mu */
    struct store_pg *s;
    PGconn *db;
    bool writing;                   /* holds s->gate: tx_begin .. commit/rollback */
    bool reading;                   /* inside read_begin .. read_end */
    bool in_tx;                     /* a BEGIN ran and no COMMIT/ROLLBACK since */
    bool prepared[Q__COUNT];
};

struct store_pg {
    const struct store_class *vt;   /* first: store_t points here */
    pthread_mutex_t mu;             /* guards conns, keeper */
    struct conn *conns;             /* every open connection but the keeper */
    pthread_key_t tls;              /* this thread's connection */
    struct gate gate;               /* queue of this process's writers */
    enum store_pg_mode mode;
    PGconn *keeper;                 /* migrates; holds LOCK_SERVE (SERVE) */
    atomic_int keeper_fd;           /* its socket, polled by refresh; -1 */
    atomic_bool locked;             /* SERVE: the keeper holds LOCK_SERVE */
    atomic_bool lost;               /* SERVE: another node took it: fail everything */
    uint64_t epoch;                 /* of the generation */
    char conninfo[];
};

static struct store_pg *self(store_t st)
{
    return (struct store_pg *)(void *)st;
}

/* Log a PostgreSQL failure: its message and the SQL text, never a value. */
static void pg_log(PGconn *db, const PGresult *res, const char *what)
{
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    if (!msg || !*msg) msg = db ? PQerrorMessage(db) : "no connection";
    char line[512];
    snprintf(line, sizeof line, "%s", msg);      /* cut: a log line */
    for (char *nl = strchr(line, '\n'); nl; nl = strchr(nl, '\n')) *nl = ' ';
    fprintf(stderr, "tresor: store: postgres: %s [%s]\n", line, what ? what : "-");
}

/* Our code for a failed result (see the file comment). */
static enum tr_err pg_code(PGconn *db, const PGresult *res)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!st || (db && PQstatus(db) != CONNECTION_OK)) return TR_E_STORE_IO;
    if (strcmp(st, "23505") == 0) return TR_E_STORE_EXISTS;
    if (strcmp(st, "23503") == 0) return TR_E_STORE_NOT_FOUND;
    if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0 || strcmp(st, "55P03") == 0 ||
        strcmp(st, "57014") == 0)
        return TR_E_STORE_BUSY;
    if (strncmp(st, "53", 2) == 0) return TR_E_STORE_FULL;
    if (strcmp(st, "XX001") == 0 || strcmp(st, "XX002") == 0) return TR_E_STORE_CORRUPT;
    if (strcmp(st, "25006") == 0) return TR_E_STORE_READONLY;
    if (strncmp(st, "08", 2) == 0 || strncmp(st, "57P", 3) == 0) return TR_E_STORE_IO;
    return TR_E_INTERNAL;
}

static tr_result pg_fail(PGconn *db, const PGresult *res, const char *what, int line)
{
    enum tr_err code = pg_code(db, res);
    if (code != TR_E_STORE_EXISTS && code != TR_E_STORE_NOT_FOUND) pg_log(db, res, what);
    return tr_fail_at(__FILE__, line, code, NULL);
}
#define PG_FAIL(db, res, what) TR_FAILURE(pg_fail((db), (res), (what), __LINE__))

/* Connect to conninfo and set what every connection of ours runs with:
 * durable commits, UTF-8, and for a read-only store read-only
 * transactions.  NULL (logged) on failure. */
static PGconn *pg_connect(const char *conninfo, bool readonly)
{
    /* Defaults first: what conninfo says (expanded from dbname) wins. */
    static const char *const keys[] = { "connect_timeout", "application_name", "client_encoding",
                                         "dbname", NULL };
    const char *vals[] = { "10", "tresor", "UTF8", conninfo, NULL };
    PGconn *db = PQconnectdbParams(keys, vals, 1);
    if (!db || PQstatus(db) != CONNECTION_OK) {
        pg_log(db, NULL, "connect");
        PQfinish(db);
        return NULL;
    }
    /* client_encoding too: a conninfo that names another is overruled. */
    PGresult *res = PQexec(db, readonly
        ? "SET synchronous_commit = on; SET client_encoding = 'UTF8'; "
          "SET default_transaction_read_only = on"
        : "SET synchronous_commit = on; SET client_encoding = 'UTF8'");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        pg_log(db, res, "SET");
        PQclear(res);
        PQfinish(db);
        return NULL;
    }
    PQclear(res);
    return db;
}

static void conn_unlink(struct store_pg *s, struct conn *c)
{
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

/* Unlink and close c (the session ends: PostgreSQL rolls back an open
 * transaction), and free the write gate if c held it: the pthread_key_t
 * destructor, and conn_discard. */
static void conn_drop(void *p)
{
    struct conn *c = p;
    struct store_pg *s = c->s;
    bool writing = c->writing;
    pthread_mutex_lock(&s->mu);
    conn_unlink(s, c);
    pthread_mutex_unlock(&s->mu);
    PQfinish(c->db);
    free(c);
    if (writing) gate_leave(&s->gate);
}

/* Close this thread's connection; its next call opens a new one. */
static void conn_discard(struct conn *c)
{
    pthread_setspecific(c->s->tls, NULL);
    conn_drop(c);
}

/* SERVE: take LOCK_SERVE on a new keeper session, waiting up to LOCK_WAIT
 * for a node that just let it go.  Called with s->mu held.  *taken false:
 * another session holds it. */
static TR_RESULT keeper_lock(struct store_pg *s, PGconn *db, bool *taken)
{
    char sql[128];
    *taken = false;
    /* fits: 60 + an int64 */
    snprintf(sql, sizeof sql, "SET lock_timeout = '%s'; SELECT pg_advisory_lock(%" PRId64 ")",
             LOCK_WAIT, LOCK_SERVE);
    PGresult *res = PQexec(db, sql);
    ExecStatusType rs = PQresultStatus(res);
    const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (rs == PGRES_TUPLES_OK) {
        *taken = true;
    } else if (!(st && strcmp(st, "55P03") == 0)) {
        tr_result r = PG_FAIL(db, res, "pg_advisory_lock");
        PQclear(res);
        return r;
    }
    PQclear(res);
    res = PQexec(db, "SET lock_timeout = 0");
    rs = PQresultStatus(res);
    PQclear(res);
    (void)s;
    if (rs != PGRES_COMMAND_OK) BAIL0(TR_E_STORE_IO);
    return TR_OK;
}

/* The keeper's session is gone (or going): forget it.  With s->mu held. */
static void keeper_forget(struct store_pg *s)
{
    if (!s->keeper) return;
    atomic_store(&s->keeper_fd, -1);
    atomic_store(&s->locked, false);
    PQfinish(s->keeper);
    s->keeper = NULL;
}

/* SERVE, the keeper's session lost: a new one, holding LOCK_SERVE again,
 * before any call runs.  Another node holding it by then: lost for good. */
static TR_RESULT keeper_restore(struct store_pg *s)
{
    tr_result r = TR_OK;
    bool taken = false;
    pthread_mutex_lock(&s->mu);
    if (atomic_load(&s->locked) || atomic_load(&s->lost)) goto done;
    PGconn *db = pg_connect(s->conninfo, false);
    if (!db) { r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_IO, NULL); goto done; }
    r = keeper_lock(s, db, &taken);
    if (tr_failed(r)) { PQfinish(db); goto done; }
    if (!taken) {
        PQfinish(db);
        atomic_store(&s->lost, true);
        fprintf(stderr, "tresor: store: postgres: the serving lock was lost with its session and "
                "another tresor node holds it now: this node refuses every request; restart it once "
                "the other node is stopped\n");
        r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_BUSY, NULL);
        goto done;
    }
    s->keeper = db;
    atomic_store(&s->keeper_fd, PQsocket(db));
    /* Another process may have written while the lock was free. */
    atomic_fetch_add_explicit(&s->gate.gen, 1, memory_order_release);
    atomic_store(&s->locked, true);
    fprintf(stderr, "tresor: store: postgres: reconnected; the serving lock is held again\n");
done:
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* May calls run?  SERVE needs the lock held (taken again when its
 * session was lost); a lost store refuses everything. */
static TR_RESULT serving(struct store_pg *s)
{
    if (s->mode != STORE_PG_SERVE) return TR_OK;
    ENSURE(!atomic_load(&s->lost), TR_E_STORE_BUSY);
    if (!atomic_load(&s->locked)) GUARD(keeper_restore(s));
    return TR_OK;
}

/* Has the server closed this idle connection?  An idle session has
 * nothing to read unless it ended (a termination, a restart) or the
 * server sent a notice; either way a new connection is the safe answer. */
static bool fd_readable(int fd)
{
    if (fd < 0) return false;
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, 0) > 0;
}

/* This thread's connection, opened on first use, and replaced when it
 * was lost outside a transaction. */
static TR_RESULT conn_get(struct store_pg *s, struct conn **out)
{
    GUARD(serving(s));
    struct conn *c = pthread_getspecific(s->tls);
    if (c && !c->in_tx && PQstatus(c->db) != CONNECTION_OK) {
        conn_discard(c);
        c = NULL;
    }
    if (!c) {
        c = calloc(1, sizeof *c);
        ENSURE(c != NULL, TR_E_INTERNAL);
        c->s = s;
        c->db = pg_connect(s->conninfo, s->mode == STORE_PG_READONLY);
        if (!c->db) { free(c); BAIL0(TR_E_STORE_IO); }
        pthread_mutex_lock(&s->mu);
        c->next = s->conns;
        if (s->conns) s->conns->prev = c;
        s->conns = c;
        pthread_mutex_unlock(&s->mu);
        if (pthread_setspecific(s->tls, c) != 0) {
            conn_drop(c);
            BAIL0(TR_E_INTERNAL);
        }
    }
    *out = c;
    return TR_OK;
}

/* c's statement id, prepared on first use. */
static TR_RESULT stmt(struct conn *c, enum qid id)
{
    if (c->prepared[id]) return TR_OK;
    char name[16];
    snprintf(name, sizeof name, "q%d", (int)id);     /* fits: 1 + an int */
    PGresult *res = PQprepare(c->db, name, qsql[id], 0, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        tr_result r = PG_FAIL(c->db, res, qsql[id]);
        PQclear(res);
        return r;
    }
    PQclear(res);
    c->prepared[id] = true;
    return TR_OK;
}

/* ---- parameters, sent in order as $1, $2, ... --------------------------- */

/* As in sqlite.c: TEXT (NULL sends ""), NEED (NULL fails the call), OPT
 * (NULL sends SQL NULL), CHARS (a record's char array), INT, LIMIT, BLOB. */
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
#define ARGS(...) (const struct arg[]){ __VA_ARGS__ }, \
                  sizeof (const struct arg[]){ __VA_ARGS__ } / sizeof (struct arg)
#define NO_ARGS   NULL, 0

#define MAX_ARGS 19

/* The arguments as PQexecPrepared takes them: strings and blobs as binary
 * (bytes and length: text's binary form is its bytes), integers as text. */
struct params {
    const char *v[MAX_ARGS];
    int len[MAX_ARGS];
    int fmt[MAX_ARGS];
    char num[MAX_ARGS][24];
};

static TR_RESULT args_make(const struct arg *a, size_t n, struct params *p)
{
    ENSURE(n <= MAX_ARGS, TR_E_INTERNAL);
    for (size_t i = 0; i < n; i++) {
        ENSURE(a[i].kind != ARG_NEED || a[i].s != NULL, TR_E_INTERNAL);
        switch (a[i].kind) {
        case ARG_INT:
            snprintf(p->num[i], sizeof p->num[i], "%" PRId64, a[i].i);   /* fits: 20 digits */
            p->v[i] = p->num[i];
            p->len[i] = 0;
            p->fmt[i] = 0;
            break;
        case ARG_BLOB:
            ENSURE(a[i].b->len <= INT_MAX, TR_E_INTERNAL);
            p->v[i] = a[i].b->data ? (const char *)a[i].b->data : "";
            p->len[i] = (int)a[i].b->len;
            p->fmt[i] = 1;
            break;
        case ARG_OPT:
        case ARG_TEXT:
        case ARG_NEED: {
            if (a[i].kind == ARG_OPT && !a[i].s) {
                p->v[i] = NULL;
                p->len[i] = 0;
                p->fmt[i] = 0;
                break;
            }
            const char *s = a[i].s ? a[i].s : "";
            size_t len = !a[i].s ? 0 : a[i].n == SIZE_MAX ? strlen(s) : a[i].n;
            ENSURE(len <= INT_MAX, TR_E_INTERNAL);
            p->v[i] = s;
            p->len[i] = (int)len;
            p->fmt[i] = 1;
            break;
        }
        }
    }
    return TR_OK;
}

/* ---- reading a row, column by column ----------------------------------- */

struct row { const PGresult *res; int r, i; bool ok; };

static void r_chars(struct row *r, char *dst, size_t cap)
{
    int col = r->i++;
    if (PQgetisnull(r->res, r->r, col)) { r->ok = false; return; }
    size_t n = (size_t)PQgetlength(r->res, r->r, col);
    if (n >= cap) { r->ok = false; return; }
    memcpy(dst, PQgetvalue(r->res, r->r, col), n);
    dst[n] = '\0';
}

static void r_str(struct row *r, char **dst)
{
    int col = r->i++;
    if (PQgetisnull(r->res, r->r, col)) { r->ok = false; return; }
    size_t n = (size_t)PQgetlength(r->res, r->r, col);
    char *p = malloc(n + 1);
    if (!p) { r->ok = false; return; }
    memcpy(p, PQgetvalue(r->res, r->r, col), n);
    p[n] = '\0';
    *dst = p;
}

static void r_opt(struct row *r, char **dst)
{
    if (PQgetisnull(r->res, r->r, r->i)) {
        r->i++;
        *dst = NULL;
        return;
    }
    r_str(r, dst);
}

static int64_t r_int(struct row *r)
{
    int col = r->i++;
    const char *t = PQgetvalue(r->res, r->r, col);
    char *end = NULL;
    errno = 0;
    long long v = strtoll(t, &end, 10);
    if (PQgetisnull(r->res, r->r, col) || !*t || *end || errno) { r->ok = false; return 0; }
    return (int64_t)v;
}

/* An owned copy of a bytea column (wiped when freed); libpq's unescaped
 * copy is wiped before it is released. */
static void r_blob(struct row *r, struct buf *dst)
{
    int col = r->i++;
    size_t n = 0;
    if (PQgetisnull(r->res, r->r, col)) { r->ok = false; return; }
    unsigned char *p = PQunescapeBytea((const unsigned char *)PQgetvalue(r->res, r->r, col), &n);
    if (!p || n > UINT32_MAX) { if (p) PQfreemem(p); r->ok = false; return; }
    *dst = BUF_SECRET((uint32_t)n);
    if (n > 0 && tr_failed(buf_append(dst, p, n))) r->ok = false;
    secure_zero(p, n);
    PQfreemem(p);
}

typedef bool (*row_fn)(const PGresult *res, int row, void *rec);
typedef void (*drop_fn)(void *rec);

static bool account_row(const PGresult *res, int row, void *rec)
{
    struct account_rec *a = rec;
    struct row r = { res, row, 0, true };
    r_chars(&r, a->id, sizeof a->id);
    a->created = r_int(&r);
    return r.ok;
}

static bool access_key_row(const PGresult *res, int row, void *rec)
{
    struct access_key_rec *k = rec;
    struct row r = { res, row, 0, true };
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

static bool key_row(const PGresult *res, int row, void *rec)
{
    struct key_rec *k = rec;
    struct row r = { res, row, 0, true };
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

static bool material_row(const PGresult *res, int row, void *rec)
{
    struct material_rec *m = rec;
    struct row r = { res, row, 0, true };
    r_chars(&r, m->key_id, sizeof m->key_id);
    m->version = (uint32_t)r_int(&r);
    m->created = r_int(&r);
    r_chars(&r, m->rotation_type, sizeof m->rotation_type);
    r_blob(&r, &m->wrapped);
    return r.ok;
}

static bool alias_row(const PGresult *res, int row, void *rec)
{
    struct alias_rec *a = rec;
    struct row r = { res, row, 0, true };
    r_chars(&r, a->account_id, sizeof a->account_id);
    r_chars(&r, a->region, sizeof a->region);
    r_chars(&r, a->name, sizeof a->name);
    r_chars(&r, a->target_key_id, sizeof a->target_key_id);
    a->created = r_int(&r);
    a->updated = r_int(&r);
    return r.ok;
}

static bool tag_row(const PGresult *res, int row, void *rec)
{
    struct tag_rec *t = rec;
    struct row r = { res, row, 0, true };
    r_str(&r, &t->key);
    r_str(&r, &t->value);
    return r.ok;
}

static bool ent_row(const PGresult *res, int row, void *rec)
{
    struct ent_rec *e = rec;
    struct row r = { res, row, 0, true };
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

static bool rel_row(const PGresult *res, int row, void *rec)
{
    struct rel_rec *l = rec;
    struct row r = { res, row, 0, true };
    r_chars(&r, l->kind, sizeof l->kind);
    r_str(&r, &l->from);
    r_str(&r, &l->to);
    r_str(&r, &l->doc);
    l->created = r_int(&r);
    return r.ok;
}

struct tomb { int64_t expires; char *token; };

static bool tomb_row(const PGresult *res, int row, void *rec)
{
    struct tomb *t = rec;
    struct row r = { res, row, 0, true };
    t->expires = r_int(&r);
    r_opt(&r, &t->token);
    return r.ok;
}

static void drop_nothing(void *rec) { (void)rec; }
static void drop_ent(void *rec) { ent_rec_free(rec); }
static void drop_rel(void *rec) { rel_rec_free(rec); }
static void drop_access_key(void *rec) { access_key_rec_free(rec); }
static void drop_key(void *rec) { key_rec_free(rec); }
static void drop_material(void *rec) { material_rec_free(rec); }
static void drop_tag(void *rec) { tag_rec_free(rec); }
static void drop_tomb(void *rec)
{
    struct tomb *t = rec;
    free(t->token);
    t->token = NULL;
}

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
static const struct rec_type TOMB = { sizeof (struct tomb), tomb_row, drop_tomb };

/* ---- running statements ------------------------------------------------ */

/* Run statement id on c with the parameters a: *out the result (its
 * status PGRES_COMMAND_OK or PGRES_TUPLES_OK), else a failure, with
 * *lost true when the connection is gone.  Inside a transaction the
 * generation moves first: the writer's own later reads must not hit what
 * it cached before this statement. */
static TR_RESULT q_run(struct conn *c, enum qid id, const struct arg *a, size_t na,
                       PGresult **out, bool *lost)
{
    struct params p;
    char name[16];
    *out = NULL;
    *lost = false;
    GUARD(args_make(a, na, &p));
    tr_result r = stmt(c, id);
    if (tr_failed(r)) { *lost = PQstatus(c->db) != CONNECTION_OK; return r; }
    if (c->writing) atomic_fetch_add_explicit(&c->s->gate.gen, 1, memory_order_release);
    snprintf(name, sizeof name, "q%d", (int)id);     /* fits: 1 + an int */
    PGresult *res = PQexecPrepared(c->db, name, (int)na, p.v, p.len, p.fmt, 0);
    ExecStatusType rs = PQresultStatus(res);
    if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK) {
        r = PG_FAIL(c->db, res, qsql[id]);
        *lost = PQstatus(c->db) != CONNECTION_OK;
        PQclear(res);
        return r;
    }
    *out = res;
    return TR_OK;
}

/* Run a simple statement (BEGIN, COMMIT, ROLLBACK) on c. */
static TR_RESULT q_simple(struct conn *c, enum qid id)
{
    PGresult *res = NULL;
    bool lost = false;
    GUARD(q_run(c, id, NO_ARGS, &res, &lost));
    PQclear(res);
    return TR_OK;
}

/* Roll back c's open transaction, if any; false when that failed (c is
 * then in an unknown state: discard it).  Leaves the caller's error. */
static bool conn_rollback(struct conn *c)
{
    if (!c->in_tx) return true;
    PGresult *res = PQexec(c->db, "ROLLBACK");
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) pg_log(c->db, res, "ROLLBACK");
    PQclear(res);
    c->in_tx = false;
    return ok && PQstatus(c->db) == CONNECTION_OK;
}

/* The transaction is over: free the gate. */
static void tx_closed(struct conn *c)
{
    c->in_tx = false;
    if (!c->writing) return;
    c->writing = false;
    gate_leave(&c->s->gate);
}

static void tx_abort(struct conn *c)
{
    if (conn_rollback(c)) tx_closed(c);
    else conn_discard(c);       /* frees the gate */
}

/* Take the write gate, then BEGIN.  A BEGIN that finds the connection
 * lost (its session ended since the last request) is safe to send again,
 * once, on a new connection: *cp is then that one. */
static TR_RESULT tx_open(struct conn **cp)
{
    struct conn *c = *cp;
    if (c->writing || c->reading) {
        fprintf(stderr, "tresor: store: tx_begin inside a transaction\n");
        BAIL0(TR_E_INTERNAL);
    }
    GUARD(gate_enter(&c->s->gate));
    c->writing = true;
    tr_result r = q_simple(c, Q_BEGIN);
    if (tr_failed(r) && PQstatus(c->db) != CONNECTION_OK) {
        struct store_pg *s = c->s;
        c->writing = false;
        conn_discard(c);                /* keeps the gate: not writing */
        *cp = c = NULL;
        r = conn_get(s, &c);
        if (tr_ok(r)) {
            *cp = c;
            c->writing = true;
            r = q_simple(c, Q_BEGIN);
        }
        if (tr_failed(r)) {
            if (c) c->writing = false;
            gate_leave(&s->gate);
            if (c && PQstatus(c->db) != CONNECTION_OK) conn_discard(c);
            return r;
        }
    } else if (tr_failed(r)) {
        c->writing = false;
        gate_leave(&c->s->gate);
        return r;
    }
    c->in_tx = true;
    return TR_OK;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* COMMIT: durable when it returns (synchronous_commit = on).  A failed
 * COMMIT (a deferred foreign key) has ended the transaction in PostgreSQL;
 * the gate stays held until the caller's tx_rollback, as with SQLite. */
static TR_RESULT tx_close(struct conn *c)
{
    if (!c->writing) {
        fprintf(stderr, "tresor: store: tx_commit outside a transaction\n");
        BAIL0(TR_E_INTERNAL);
    }
    bool timed = metrics_enabled();
    int64_t t0 = timed ? mono_us() : 0;
    tr_result r = q_simple(c, Q_COMMIT);
    if (tr_ok(r)) {
        tx_closed(c);
        if (timed) metrics_commit(mono_us() - t0);
    } else {
        c->in_tx = false;               /* a failed COMMIT ends it: nothing to roll back */
    }
    return r;
}

/* The rows a command changed (PQcmdTuples: decimal, "" for none). */
static int rows_changed(const char *t)
{
    long v = t && *t ? strtol(t, NULL, 10) : 0;
    return v < 0 ? 0 : v > INT_MAX ? INT_MAX : (int)v;
}

/* A write on c: in this thread's transaction, or else on its own (one
 * statement, committed by PostgreSQL) through the gate.  *changes gets
 * the rows it changed. */
static TR_RESULT q_write(struct conn *c, enum qid id, const struct arg *a, size_t na, int *changes)
{
    PGresult *res = NULL;
    bool lost = false, own = !c->writing;
    if (own) {
        GUARD(gate_enter(&c->s->gate));
        c->writing = true;
    }
    tr_result r = q_run(c, id, a, na, &res, &lost);
    if (tr_ok(r) && changes) *changes = rows_changed(PQcmdTuples(res));
    PQclear(res);
    if (own) {
        c->writing = false;
        gate_leave(&c->s->gate);
        if (lost) conn_discard(c);
    }
    return r;
}

/*
 * The calls of store.h in four shapes, as in sqlite.c: run_get (one row),
 * run_list (every row), run_write, run_change (a write that must change a
 * row).  A read outside a transaction whose connection turns out lost is
 * run once more on a new connection.
 */

/* Fill the records of t from res's rows: one (first) or all. */
static TR_RESULT fill_rows(const PGresult *res, const struct rec_type *t, enum qid id,
                           void **out, size_t *n)
{
    int rows = PQntuples(res);
    unsigned char *v = NULL;
    size_t len = 0, cap = 0, size = t->size;
    for (int i = 0; i < rows; i++) {
        unsigned char *nv = array_grow(v, &cap, len, size, 8);
        if (!nv) goto fail;
        v = nv;
        void *rec = v + len * size;
        memset(rec, 0, size);
        if (!t->fill(res, i, rec)) {
            t->drop(rec);
            fprintf(stderr, "tresor: store: out of memory, or a value too long for its record [%s]\n",
                    qsql[id]);
            goto fail;
        }
        len++;
    }
    *out = v;
    *n = len;
    return TR_OK;
fail:
    for (size_t i = 0; i < len; i++) t->drop(v + i * size);
    free(v);
    BAIL0(TR_E_INTERNAL);
}

/* Run a read: on this thread's connection, once more on a new one when
 * that was lost outside a transaction. */
static TR_RESULT run_read(store_t st, enum qid id, const struct arg *a, size_t na, PGresult **res)
{
    struct conn *c = NULL;
    bool lost = false;
    ENSURE_REF(st);
    GUARD(conn_get(self(st), &c));
    tr_result r = q_run(c, id, a, na, res, &lost);
    if (tr_ok(r) || !lost || c->in_tx) return r;
    conn_discard(c);
    GUARD(conn_get(self(st), &c));
    return q_run(c, id, a, na, res, &lost);
}

static TR_RESULT run_get(store_t st, enum qid id, const struct rec_type *t, const struct arg *a,
                         size_t na, void *rec)
{
    PGresult *res = NULL;
    void *v = NULL;
    size_t n = 0;
    ENSURE_REF(rec);
    memset(rec, 0, t->size);
    GUARD(run_read(st, id, a, na, &res));
    if (PQntuples(res) == 0) {
        PQclear(res);
        BAIL0(TR_E_STORE_NOT_FOUND);
    }
    tr_result r = fill_rows(res, t, id, &v, &n);
    PQclear(res);
    GUARD(r);
    memcpy(rec, v, t->size);            /* the first row (a get names one) */
    for (size_t i = 1; i < n; i++) t->drop((unsigned char *)v + i * t->size);
    free(v);
    return TR_OK;
}

static TR_RESULT run_list(store_t st, enum qid id, const struct rec_type *t, const struct arg *a,
                          size_t na, void **out, size_t *n)
{
    PGresult *res = NULL;
    ENSURE_REF(out);
    ENSURE_REF(n);
    *out = NULL;
    *n = 0;
    GUARD(run_read(st, id, a, na, &res));
    tr_result r = fill_rows(res, t, id, out, n);
    PQclear(res);
    return r;
}

static TR_RESULT run_write(store_t st, enum qid id, const struct arg *a, size_t na, int *changes)
{
    struct conn *c = NULL;
    ENSURE_REF(st);
    if (self(st)->mode == STORE_PG_READONLY) {
        fprintf(stderr, "tresor: store: a write to a store opened read-only\n");
        BAIL0(TR_E_STORE_READONLY);
    }
    GUARD(conn_get(self(st), &c));
    return q_write(c, id, a, na, changes);
}

static TR_RESULT run_change(store_t st, enum qid id, const struct arg *a, size_t na)
{
    int changes = 0;
    GUARD(run_write(st, id, a, na, &changes));
    ENSURE(changes > 0, TR_E_STORE_NOT_FOUND);
    return TR_OK;
}

/* ---- generation, transactions ------------------------------------------ */

/* The epoch is the store's own; the counter is the write gate's, which
 * every write of this process passes (and every statement inside a
 * transaction moves).  With one node serving, nobody else writes but the
 * commands that add rows of their own (see the file comment). */
static struct cache_gen pg_generation(store_t st)
{
    if (!st) return CACHE_GEN_NONE;
    struct store_pg *s = self(st);
    if (atomic_load(&s->lost)) return CACHE_GEN_NONE;
    return (struct cache_gen){ s->epoch, atomic_load_explicit(&s->gate.gen, memory_order_acquire) };
}

/* As each request starts: replace this thread's connection when its
 * session ended, and notice the keeper's (SERVE): a readable idle socket
 * means the server closed it or has a notice for it; a query tells which. */
static void pg_refresh(store_t st)
{
    if (!st) return;
    struct store_pg *s = self(st);
    struct conn *c = pthread_getspecific(s->tls);
    if (c && !c->in_tx && !c->writing && fd_readable(PQsocket(c->db))) conn_discard(c);
    int kfd = atomic_load(&s->keeper_fd);
    if (s->mode != STORE_PG_SERVE || !fd_readable(kfd)) return;
    pthread_mutex_lock(&s->mu);
    if (s->keeper && PQsocket(s->keeper) == kfd) {
        PGresult *res = PQexec(s->keeper, "SELECT 1");
        bool alive = PQresultStatus(res) == PGRES_TUPLES_OK && PQstatus(s->keeper) == CONNECTION_OK;
        PQclear(res);
        if (!alive) {
            fprintf(stderr, "tresor: store: postgres: the keeper's session ended; taking the serving "
                    "lock again on a new one\n");
            keeper_forget(s);
        }
    }
    pthread_mutex_unlock(&s->mu);
}

static TR_RESULT pg_tx_begin(store_t st)
{
    struct conn *c = NULL;
    ENSURE_REF(st);
    if (self(st)->mode == STORE_PG_READONLY) {
        fprintf(stderr, "tresor: store: a write transaction on a store opened read-only\n");
        BAIL0(TR_E_STORE_READONLY);
    }
    GUARD(conn_get(self(st), &c));
    return tx_open(&c);
}

static TR_RESULT pg_tx_commit(store_t st)
{
    ENSURE_REF(st);
    struct conn *c = pthread_getspecific(self(st)->tls);
    if (!c || !c->writing) {
        fprintf(stderr, "tresor: store: tx_commit outside a transaction\n");
        BAIL0(TR_E_INTERNAL);
    }
    return tx_close(c);
}

static void pg_tx_rollback(store_t st)
{
    if (!st) return;
    struct conn *c = pthread_getspecific(self(st)->tls);
    if (c && c->writing) tx_abort(c);
}

/* Commits are durable when COMMIT returns: nothing to wait for. */
static TR_RESULT pg_sync_barrier(store_t st)
{
    ENSURE_REF(st);
    return TR_OK;
}

static TR_RESULT pg_read_begin(store_t st)
{
    struct conn *c = NULL;
    ENSURE_REF(st);
    GUARD(conn_get(self(st), &c));
    ENSURE(!c->writing && !c->reading, TR_E_INTERNAL);
    GUARD(q_simple(c, Q_BEGIN_READ));
    c->reading = true;
    c->in_tx = true;
    return TR_OK;
}

static void pg_read_end(store_t st)
{
    if (!st) return;
    struct conn *c = pthread_getspecific(self(st)->tls);
    if (!c || !c->reading) return;
    c->reading = false;
    if (tr_failed(q_simple(c, Q_COMMIT))) {
        if (!conn_rollback(c)) conn_discard(c);
        return;
    }
    c->in_tx = false;
}

/* ---- accounts and access keys ------------------------------------------ */

static TR_RESULT pg_account_put(store_t st, const struct account_rec *a)
{
    ENSURE_REF(a);
    return run_write(st, Q_ACCOUNT_PUT, ARGS(CHARS(a->id), INT(a->created)), NULL);
}

static TR_RESULT pg_account_get(store_t st, const char *id, struct account_rec *out)
{
    return run_get(st, Q_ACCOUNT_GET, &ACCOUNT, ARGS(NEED(id)), out);
}

static TR_RESULT pg_account_first(store_t st, struct account_rec *out)
{
    return run_get(st, Q_ACCOUNT_FIRST, &ACCOUNT, NO_ARGS, out);
}

static TR_RESULT pg_account_list(store_t st, struct account_rec **out, size_t *n)
{
    return run_list(st, Q_ACCOUNT_LIST, &ACCOUNT, NO_ARGS, (void **)out, n);
}

/* Putting a key removes its tombstone (store.h). */
static TR_RESULT pg_access_key_put(store_t st, const struct access_key_rec *k)
{
    ENSURE_REF(k);
    GUARD(run_write(st, Q_AK_PUT, ARGS(CHARS(k->access_key_id), CHARS(k->account_id),
                                       INT(k->principal_type), TEXT(k->principal_arn),
                                       TEXT(k->principal_id), INT(k->active ? 1 : 0),
                                       INT(k->created), INT(k->expires),
                                       BLOB(&k->wrapped_secret), OPT(k->doc)), NULL));
    return run_write(st, Q_AK_UNTOMB, ARGS(CHARS(k->access_key_id)), NULL);
}

static TR_RESULT pg_access_key_get(store_t st, const char *akid, struct access_key_rec *out)
{
    return run_get(st, Q_AK_GET, &ACCESS_KEY, ARGS(NEED(akid)), out);
}

static TR_RESULT pg_access_key_list(store_t st, const char *principal_arn,
                                    struct access_key_rec **out, size_t *n)
{
    return run_list(st, Q_AK_LIST, &ACCESS_KEY, ARGS(NEED(principal_arn)), (void **)out, n);
}

static TR_RESULT pg_access_key_list_all(store_t st, const char *after, size_t limit,
                                        struct access_key_rec **out, size_t *n)
{
    return run_list(st, Q_AK_LIST_ALL, &ACCESS_KEY, ARGS(TEXT(after), LIMIT(limit)), (void **)out, n);
}

static TR_RESULT pg_access_key_update(store_t st, const struct access_key_rec *k)
{
    ENSURE_REF(k);
    return run_change(st, Q_AK_UPDATE, ARGS(CHARS(k->access_key_id), INT(k->active ? 1 : 0),
                                            INT(k->expires), OPT(k->doc)));
}

static TR_RESULT pg_access_key_rewrap(store_t st, const char *akid, const struct buf *wrapped)
{
    ENSURE_REF(wrapped);
    return run_change(st, Q_AK_REWRAP, ARGS(NEED(akid), BLOB(wrapped)));
}

/* The tombstone first: it is made from the row. */
static TR_RESULT pg_access_key_delete(store_t st, const char *akid)
{
    GUARD(run_write(st, Q_AK_TOMB, ARGS(NEED(akid)), NULL));
    return run_change(st, Q_AK_DEL, ARGS(NEED(akid)));
}

static TR_RESULT pg_access_key_purge_expired(store_t st, int64_t now, int64_t tombstones_before)
{
    GUARD(run_write(st, Q_AK_TOMB_EXPIRED, ARGS(INT(now)), NULL));
    GUARD(run_write(st, Q_AK_PURGE, ARGS(INT(now)), NULL));
    return run_write(st, Q_AK_TOMB_PRUNE, ARGS(INT(tombstones_before)), NULL);
}

static TR_RESULT pg_access_key_tombstone_get(store_t st, const char *akid, int64_t *expires,
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

static TR_RESULT pg_key_put(store_t st, const struct key_rec *k)
{
    struct arg a[KEY_NARGS];
    ENSURE_REF(k);
    key_args(k, a);
    return run_write(st, Q_KEY_PUT, a, KEY_NARGS, NULL);
}

static TR_RESULT pg_key_update(store_t st, const struct key_rec *k)
{
    struct arg a[KEY_NARGS];
    ENSURE_REF(k);
    key_args(k, a);
    return run_change(st, Q_KEY_UPDATE, a, KEY_NARGS);
}

static TR_RESULT pg_key_get(store_t st, const char *key_id, struct key_rec *out)
{
    return run_get(st, Q_KEY_GET, &KEY, ARGS(NEED(key_id)), out);
}

static TR_RESULT pg_key_list(store_t st, const char *account, const char *region,
                             const char *after, size_t limit, struct key_rec **out, size_t *n)
{
    return run_list(st, Q_KEY_LIST, &KEY, ARGS(NEED(account), NEED(region), TEXT(after), LIMIT(limit)),
                    (void **)out, n);
}

static TR_RESULT pg_key_list_due(store_t st, int64_t now, struct key_rec **out, size_t *n)
{
    return run_list(st, Q_KEY_DUE, &KEY, ARGS(INT(now)), (void **)out, n);
}

static TR_RESULT pg_key_list_all(store_t st, const char *after, size_t limit,
                                 struct key_rec **out, size_t *n)
{
    return run_list(st, Q_KEY_LIST_ALL, &KEY, ARGS(TEXT(after), LIMIT(limit)), (void **)out, n);
}

/* Tags first: they are found through the key's ARN.  Its own transaction
 * when the caller has none. */
static TR_RESULT pg_key_delete(store_t st, const char *key_id)
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
    ENSURE(self(st)->mode != STORE_PG_READONLY, TR_E_STORE_READONLY);
    GUARD(conn_get(self(st), &c));
    own = !c->writing;
    if (own) GUARD(tx_open(&c));
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        r = q_write(c, steps[i], ARGS(TEXT(key_id)), &changes);
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

/* ---- key materials, aliases, tags ------------------------------------- */

static TR_RESULT pg_material_put(store_t st, const struct material_rec *m)
{
    ENSURE_REF(m);
    return run_write(st, Q_MAT_PUT, ARGS(CHARS(m->key_id), INT(m->version), INT(m->created),
                                         CHARS(m->rotation_type), BLOB(&m->wrapped)), NULL);
}

static TR_RESULT pg_material_get(store_t st, const char *key_id, uint32_t version,
                                 struct material_rec *out)
{
    return run_get(st, Q_MAT_GET, &MATERIAL, ARGS(NEED(key_id), INT(version)), out);
}

static TR_RESULT pg_material_rewrap(store_t st, const char *key_id, uint32_t version,
                                    const struct buf *wrapped)
{
    ENSURE_REF(wrapped);
    return run_change(st, Q_MAT_REWRAP, ARGS(NEED(key_id), INT(version), BLOB(wrapped)));
}

static TR_RESULT pg_material_list(store_t st, const char *key_id,
                                  struct material_rec **out, size_t *n)
{
    return run_list(st, Q_MAT_LIST, &MATERIAL, ARGS(NEED(key_id)), (void **)out, n);
}

static TR_RESULT pg_alias_put(store_t st, const struct alias_rec *a)
{
    ENSURE_REF(a);
    return run_write(st, Q_ALIAS_PUT, ARGS(CHARS(a->account_id), CHARS(a->region), CHARS(a->name),
                                           CHARS(a->target_key_id), INT(a->created),
                                           INT(a->updated)), NULL);
}

static TR_RESULT pg_alias_update(store_t st, const struct alias_rec *a)
{
    ENSURE_REF(a);
    return run_change(st, Q_ALIAS_UPDATE, ARGS(CHARS(a->account_id), CHARS(a->region),
                                               CHARS(a->name), CHARS(a->target_key_id),
                                               INT(a->updated)));
}

static TR_RESULT pg_alias_get(store_t st, const char *account, const char *region,
                              const char *name, struct alias_rec *out)
{
    return run_get(st, Q_ALIAS_GET, &ALIAS, ARGS(NEED(account), NEED(region), NEED(name)), out);
}

static TR_RESULT pg_alias_delete(store_t st, const char *account, const char *region,
                                 const char *name)
{
    return run_change(st, Q_ALIAS_DEL, ARGS(NEED(account), NEED(region), NEED(name)));
}

static TR_RESULT pg_alias_list(store_t st, const char *account, const char *region,
                               const char *key_id, const char *after, size_t limit,
                               struct alias_rec **out, size_t *n)
{
    const struct arg a[] = { NEED(account), NEED(region), TEXT(after), LIMIT(limit), TEXT(key_id) };
    return run_list(st, key_id ? Q_ALIAS_LIST_KEY : Q_ALIAS_LIST, &ALIAS, a, key_id ? 5 : 4,
                    (void **)out, n);
}

static TR_RESULT pg_tag_set(store_t st, const char *arn, const char *key, const char *value)
{
    return run_write(st, Q_TAG_SET, ARGS(NEED(arn), NEED(key), TEXT(value)), NULL);
}

static TR_RESULT pg_tag_delete(store_t st, const char *arn, const char *key)
{
    return run_change(st, Q_TAG_DEL, ARGS(NEED(arn), NEED(key)));
}

static TR_RESULT pg_tag_list(store_t st, const char *arn, struct tag_rec **out, size_t *n)
{
    return run_list(st, Q_TAG_LIST, &TAG, ARGS(NEED(arn)), (void **)out, n);
}

/* ---- entities and relations -------------------------------------------- */

static TR_RESULT pg_ent_put(store_t st, const struct ent_rec *e)
{
    ENSURE_REF(e);
    return run_write(st, Q_ENT_PUT, ARGS(CHARS(e->kind), CHARS(e->account_id), TEXT(e->name),
                                         TEXT(e->id), TEXT(e->arn), TEXT(e->path ? e->path : "/"),
                                         TEXT(e->doc ? e->doc : "{}"), INT(e->created)), NULL);
}

static TR_RESULT pg_ent_update(store_t st, const struct ent_rec *e)
{
    ENSURE_REF(e);
    return run_change(st, Q_ENT_UPDATE, ARGS(CHARS(e->kind), TEXT(e->arn), TEXT(e->name),
                                             TEXT(e->path ? e->path : "/"),
                                             TEXT(e->doc ? e->doc : "{}")));
}

static TR_RESULT pg_ent_get(store_t st, const char *kind, const char *account, const char *name,
                            struct ent_rec *out)
{
    return run_get(st, Q_ENT_GET, &ENT, ARGS(NEED(kind), NEED(account), NEED(name)), out);
}

static TR_RESULT pg_ent_get_arn(store_t st, const char *kind, const char *arn, struct ent_rec *out)
{
    return run_get(st, Q_ENT_GET_ARN, &ENT, ARGS(NEED(kind), NEED(arn)), out);
}

static TR_RESULT pg_ent_get_id(store_t st, const char *kind, const char *id, struct ent_rec *out)
{
    return run_get(st, Q_ENT_GET_ID, &ENT, ARGS(NEED(kind), NEED(id)), out);
}

static TR_RESULT pg_ent_delete(store_t st, const char *kind, const char *arn)
{
    return run_change(st, Q_ENT_DEL, ARGS(NEED(kind), NEED(arn)));
}

static TR_RESULT pg_ent_list(store_t st, const char *kind, const char *account,
                             const char *path_prefix, const char *after, size_t limit,
                             struct ent_rec **out, size_t *n)
{
    return run_list(st, Q_ENT_LIST, &ENT, ARGS(NEED(kind), NEED(account), TEXT(path_prefix),
                                                TEXT(after), LIMIT(limit)), (void **)out, n);
}

static TR_RESULT pg_rel_put(store_t st, const struct rel_rec *r)
{
    ENSURE_REF(r);
    return run_write(st, Q_REL_PUT, ARGS(CHARS(r->kind), TEXT(r->from), TEXT(r->to), TEXT(r->doc),
                                         INT(r->created)), NULL);
}

static TR_RESULT pg_rel_get(store_t st, const char *kind, const char *from, const char *to,
                            struct rel_rec *out)
{
    return run_get(st, Q_REL_GET, &REL, ARGS(NEED(kind), NEED(from), NEED(to)), out);
}

static TR_RESULT pg_rel_delete(store_t st, const char *kind, const char *from, const char *to)
{
    return run_change(st, Q_REL_DEL, ARGS(NEED(kind), NEED(from), NEED(to)));
}

static TR_RESULT pg_rel_list_from(store_t st, const char *kind, const char *from,
                                  const char *after, size_t limit, struct rel_rec **out, size_t *n)
{
    return run_list(st, Q_REL_LIST_FROM, &REL, ARGS(NEED(kind), NEED(from), TEXT(after), LIMIT(limit)),
                    (void **)out, n);
}

static TR_RESULT pg_rel_list_to(store_t st, const char *kind, const char *to,
                                struct rel_rec **out, size_t *n)
{
    return run_list(st, Q_REL_LIST_TO, &REL, ARGS(NEED(kind), NEED(to)), (void **)out, n);
}

static TR_RESULT pg_rel_list_kind(store_t st, const char *kind, const char *after_from,
                                  const char *after_to, size_t limit, struct rel_rec **out, size_t *n)
{
    return run_list(st, Q_REL_LIST_KIND, &REL, ARGS(NEED(kind), TEXT(after_from),
                                                     TEXT(after_from ? after_to : NULL), LIMIT(limit)),
                    (void **)out, n);
}

/* ---- schema, checks ---------------------------------------------------- */

/* The schema version recorded in db (0: none yet, or no tresor_schema). */
static TR_RESULT schema_version(PGconn *db, int *out)
{
    *out = 0;
    PGresult *res = PQexec(db, "SELECT to_regclass('tresor_schema') IS NOT NULL");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        tr_result r = PG_FAIL(db, res, "to_regclass");
        PQclear(res);
        return r;
    }
    bool exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!exists) return TR_OK;
    res = PQexec(db, "SELECT version FROM tresor_schema");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        tr_result r = PG_FAIL(db, res, "SELECT version FROM tresor_schema");
        PQclear(res);
        return r;
    }
    if (PQntuples(res) == 1) {
        long v = strtol(PQgetvalue(res, 0, 0), NULL, 10);
        *out = v < 0 ? -1 : v > INT_MAX ? INT_MAX : (int)v;
    }
    PQclear(res);
    return TR_OK;
}

static TR_RESULT pg_self_check(store_t st, void (*problem)(void *arg, const char *text),
                               void *arg, int *schema_version_out)
{
    struct conn *c = NULL;
    ENSURE_REF(st);
    ENSURE_REF(problem);
    ENSURE_REF(schema_version_out);
    GUARD(conn_get(self(st), &c));
    GUARD(schema_version(c->db, schema_version_out));
    if (*schema_version_out < 0 || (size_t)*schema_version_out != store_pg_schema_count) {
        char line[128];
        snprintf(line, sizeof line, "schema version %d, this build's is %zu",  /* fits: 2 ints */
                 *schema_version_out, store_pg_schema_count);
        problem(arg, line);
    }
    /* PostgreSQL checks its foreign keys at every commit and its pages
     * with their checksums as it reads them: nothing more to ask here. */
    return TR_OK;
}

/* Run one statement of text on db (the migrations, BEGIN, COMMIT). */
static TR_RESULT exec_sql(PGconn *db, const char *sql, const char *what)
{
    PGresult *res = PQexec(db, sql);
    ExecStatusType rs = PQresultStatus(res);
    if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK) {
        tr_result r = PG_FAIL(db, res, what);
        PQclear(res);
        return r;
    }
    PQclear(res);
    return TR_OK;
}

/* Bring db's schema to this build's: the pending migrations and the new
 * version, in one transaction under LOCK_MIGRATE, so that of nodes
 * starting at once one migrates and the others find it done.  A newer
 * schema is refused. */
static TR_RESULT migrate(PGconn *db)
{
    char sql[128];
    int version = 0;
    tr_result r = exec_sql(db, "BEGIN", "BEGIN");
    if (tr_failed(r)) return r;
    snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%" PRId64 ")", LOCK_MIGRATE);  /* fits: 40 + an int64 */
    r = exec_sql(db, sql, "pg_advisory_xact_lock");
    if (tr_ok(r)) r = schema_version(db, &version);
    if (tr_failed(r)) goto fail;
    if (version < 0 || (size_t)version > store_pg_schema_count) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "the database's schema is version %d; this tresor "
                       "knows up to %zu", version, store_pg_schema_count);
        goto fail;
    }
    if ((size_t)version < store_pg_schema_count && version == 0)
        r = exec_sql(db, "CREATE TABLE tresor_schema (one boolean PRIMARY KEY DEFAULT true CHECK (one), "
                     "version bigint NOT NULL); INSERT INTO tresor_schema (version) VALUES (0)",
                     "CREATE TABLE tresor_schema");
    for (size_t v = (size_t)version; tr_ok(r) && v < store_pg_schema_count; v++) {
        r = exec_sql(db, store_pg_schema[v], "migration");
        if (tr_failed(r)) {
            fprintf(stderr, "tresor: store: postgres: migration %zu failed\n", v + 1);
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "schema migration %zu failed (the log says why)",
                           v + 1);
            break;
        }
        snprintf(sql, sizeof sql, "UPDATE tresor_schema SET version = %zu", v + 1);   /* fits: 40 + a size_t */
        r = exec_sql(db, sql, "UPDATE tresor_schema");
    }
    if (tr_failed(r)) goto fail;
    return exec_sql(db, "COMMIT", "COMMIT");

fail:
    PQclear(PQexec(db, "ROLLBACK"));
    return r;
}

/* ---- open, close ------------------------------------------------------- */

static void pg_close(store_t st)
{
    if (!st) return;
    struct store_pg *s = self(st);
    pthread_key_delete(s->tls);
    pthread_mutex_lock(&s->mu);
    while (s->conns) {
        struct conn *c = s->conns;
        conn_unlink(s, c);
        PQfinish(c->db);
        free(c);
    }
    keeper_forget(s);                   /* the session ends: the lock is free */
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_destroy(&s->mu);
    gate_destroy(&s->gate);
    secure_zero(s->conninfo, strlen(s->conninfo));   /* it may hold a password */
    free(s);
}

static const struct store_class pg_class = {
    .name = "postgres",
    .close = pg_close,
    .generation = pg_generation,
    .refresh = pg_refresh,
    .tx_begin = pg_tx_begin,
    .tx_commit = pg_tx_commit,
    .tx_rollback = pg_tx_rollback,
    .sync_barrier = pg_sync_barrier,
    .read_begin = pg_read_begin,
    .read_end = pg_read_end,
    .account_put = pg_account_put,
    .account_get = pg_account_get,
    .account_first = pg_account_first,
    .account_list = pg_account_list,
    .access_key_put = pg_access_key_put,
    .access_key_get = pg_access_key_get,
    .key_put = pg_key_put,
    .key_update = pg_key_update,
    .key_get = pg_key_get,
    .key_list = pg_key_list,
    .key_list_due = pg_key_list_due,
    .key_delete = pg_key_delete,
    .material_put = pg_material_put,
    .material_get = pg_material_get,
    .material_list = pg_material_list,
    .material_rewrap = pg_material_rewrap,
    .alias_put = pg_alias_put,
    .alias_update = pg_alias_update,
    .alias_get = pg_alias_get,
    .alias_delete = pg_alias_delete,
    .alias_list = pg_alias_list,
    .tag_set = pg_tag_set,
    .tag_delete = pg_tag_delete,
    .tag_list = pg_tag_list,
    .access_key_list = pg_access_key_list,
    .access_key_update = pg_access_key_update,
    .access_key_rewrap = pg_access_key_rewrap,
    .access_key_delete = pg_access_key_delete,
    .access_key_purge_expired = pg_access_key_purge_expired,
    .access_key_tombstone_get = pg_access_key_tombstone_get,
    .ent_put = pg_ent_put,
    .ent_update = pg_ent_update,
    .ent_get = pg_ent_get,
    .ent_get_arn = pg_ent_get_arn,
    .ent_get_id = pg_ent_get_id,
    .ent_delete = pg_ent_delete,
    .ent_list = pg_ent_list,
    .rel_put = pg_rel_put,
    .rel_get = pg_rel_get,
    .rel_delete = pg_rel_delete,
    .rel_list_from = pg_rel_list_from,
    .rel_list_to = pg_rel_list_to,
    .key_list_all = pg_key_list_all,
    .access_key_list_all = pg_access_key_list_all,
    .rel_list_kind = pg_rel_list_kind,
    .self_check = pg_self_check,
};

bool store_pg_named(const char *s)
{
    if (!s) return false;
    return strncmp(s, "postgres://", 11) == 0 || strncmp(s, "postgresql://", 13) == 0 ||
           strchr(s, '=') != NULL;
}

void store_pg_describe(const char *conninfo, char *out, size_t n)
{
    char *err = NULL;
    PQconninfoOption *opts = conninfo ? PQconninfoParse(conninfo, &err) : NULL;
    const char *host = NULL, *port = NULL, *db = NULL, *user = NULL;
    if (err) PQfreemem(err);
    if (!opts) {
        snprintf(out, n, "an invalid connection string");  /* cut: a log line */
        return;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val) continue;
        if (strcmp(o->keyword, "host") == 0) host = o->val;
        else if (strcmp(o->keyword, "port") == 0) port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0) db = o->val;
        else if (strcmp(o->keyword, "user") == 0) user = o->val;
    }
    snprintf(out, n, "host=%s port=%s dbname=%s user=%s", host ? host : "(default)",  /* cut: a log line */
             port ? port : "(default)", db ? db : "(default)", user ? user : "(default)");
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (o->val) secure_zero(o->val, strlen(o->val));    /* the password among them */
    PQconninfoFree(opts);
}

TR_RESULT store_pg_open(const char *conninfo, enum store_pg_mode mode, store_t *out)
{
    char where[512];
    char *err = NULL;
    int version = 0;
    bool taken = false;
    tr_result r = TR_OK;
    struct store_pg *s = NULL;
    bool mu = false, gate = false, key = false;

    ENSURE_REF(conninfo);
    ENSURE_REF(out);
    *out = NULL;
    /* Refuse what libpq cannot parse before connecting: its message could
     * quote the string, password and all, so it is not repeated. */
    PQconninfoOption *parsed = PQconninfoParse(conninfo, &err);
    if (err) PQfreemem(err);
    if (!parsed) BAIL(TR_E_INTERNAL, "the store is not a valid PostgreSQL connection string "
                      "(postgres://USER@HOST/DB?... or key=value pairs)");
    PQconninfoFree(parsed);
    store_pg_describe(conninfo, where, sizeof where);

    size_t len = strlen(conninfo);
    s = calloc(1, sizeof *s + len + 1);
    ENSURE(s != NULL, TR_E_INTERNAL);
    memcpy(s->conninfo, conninfo, len + 1);
    s->vt = &pg_class;
    s->mode = mode;
    s->epoch = cache_epoch_new();
    atomic_store(&s->keeper_fd, -1);
    mu = pthread_mutex_init(&s->mu, NULL) == 0;
    gate = mu && gate_init(&s->gate);
    key = gate && pthread_key_create(&s->tls, conn_drop) == 0;
    if (!key) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }

    s->keeper = pg_connect(conninfo, mode == STORE_PG_READONLY);
    if (!s->keeper) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_IO, "cannot connect to PostgreSQL (%s): the log "
                       "says why", where);
        goto fail;
    }
    if (mode == STORE_PG_READONLY) {
        r = schema_version(s->keeper, &version);
        if (tr_ok(r) && (version < 0 || (size_t)version != store_pg_schema_count))
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "the database's schema is version %d; this "
                           "tresor's is %zu%s", version, store_pg_schema_count,
                           version == 0 ? " (nothing was ever stored there: is it the right database?)"
                           : (size_t)version < store_pg_schema_count
                           ? " (a read-only open cannot migrate it: start tresor serve on it once)" : "");
    } else {
        r = migrate(s->keeper);
    }
    if (tr_ok(r) && mode == STORE_PG_SERVE) {
        r = keeper_lock(s, s->keeper, &taken);
        if (tr_ok(r) && !taken)
            r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_BUSY, "another tresor node is serving this "
                           "database (%s); serving from several nodes needs cache propagation, which this "
                           "version does not have", where);
        if (tr_ok(r)) {
            atomic_store(&s->keeper_fd, PQsocket(s->keeper));
            atomic_store(&s->locked, true);
        }
    }
    if (tr_failed(r)) goto fail;
    if (mode != STORE_PG_SERVE) {       /* the keeper's work is done */
        PQfinish(s->keeper);
        s->keeper = NULL;
    }
    *out = &s->vt;
    return TR_OK;

fail:
    if (key) {
        pg_close(&s->vt);
        return r;
    }
    if (gate) gate_destroy(&s->gate);
    if (mu) pthread_mutex_destroy(&s->mu);
    secure_zero(s->conninfo, len);
    free(s);
    return r;
}
