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
 * Several nodes.  Any number of nodes (tresor serve processes) may serve
 * one database.  The request path's per-thread caches are keyed by the
 * store's generation (core/cache.h); for it to move when another node
 * writes, every write transaction ends by bumping the one row of
 * tresor_generation and NOTIFYing its new number (gen_bump, in the
 * transaction: visible exactly when the data is), and a serving store
 * (STORE_PG_SERVE) runs a listener thread with a connection of its own
 * that LISTENs for it.  A notification from another node moves the
 * foreign half of the generation.  The listener also reads the row every
 * GEN_POLL_MS (a notification lost with a connection costs no more), and
 * generation() answers CACHE_GEN_NONE (cache nothing, use nothing cached)
 * when the last complete read is older than GEN_STALE_MS: so a request
 * that starts GEN_STALE_MS after another node's COMMIT returned never
 * uses what was cached before it.  docs/internals/CACHES.md states the
 * guarantee.
 *
 * Writers across nodes.  Each write transaction takes the transaction
 * advisory lock LOCK_WRITE after BEGIN, in the same round trip (waiting
 * at most LOCK_WAIT), so
 * the write transactions of every node run one at a time, as those of one
 * process do behind the write gate: each sees every earlier commit, the
 * read-then-write operations need nothing stronger than READ COMMITTED,
 * and no serialization failure can happen.  Under the lock it reads the
 * generation row: a commit of another node whose notification has not
 * arrived yet moves the generation there, so a write never works from a
 * cached record older than the last commit.  The maintenance passes
 * (purges, due rotations) read each item again inside such a transaction,
 * so two nodes due at once do each once.
 *
 * Records.  The calls that read and write records are written once, for
 * this backend and SQLite's, in store/sql_records.c; this file is their
 * driver (sql_records.h).  The shared SQL text numbers its parameters ?N,
 * written $N here when a statement is prepared; own_sql holds what
 * PostgreSQL writes its own way.
 *
 * Connections: a bounded pool.  A thread that calls the store borrows a
 * connection from the store's pool (kept in a pthread_key_t while
 * borrowed) and returns it when the call, or the transaction it opened,
 * is over; at most `connections` are open at once (store_pg_open_with;
 * tresor serve: --store-connections, by default its worker threads + 2),
 * plus the listener's and the flush rounds' own.  A thread that finds
 * none free waits at most `wait_ms` (the write gate's 5 s), then fails
 * with TR_E_STORE_BUSY (the service's internal error).  A returned connection whose session is
 * gone is closed, and one found so when borrowed (its socket readable
 * while idle: the server ended it) is closed and replaced.  A thread holds
 * one connection at most, and borrows before it queues on the write gate,
 * so a holder of the gate never waits for the pool.  Statements are
 * prepared once per connection
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
 * SQLite, then on LOCK_WRITE with the other nodes' writers (above).  A
 * write outside a transaction runs in one of its own, so that it bumps
 * the generation too.  Two round trips are the transaction's own: BEGIN,
 * the lock and the generation read; the generation bump, its NOTIFY and
 * COMMIT.  read_begin .. read_end is one REPEATABLE READ READ ONLY
 * transaction (one snapshot).
 *
 * Group commit.  Holding LOCK_WRITE until COMMIT has flushed the log made
 * every write of every node wait for the previous one's flush: one flush
 * per write.  So a write transaction runs with synchronous_commit = off
 * (for it alone: every session's default is on): COMMIT returns, and the
 * lock is free, once the commit record is written; the caller is told the
 * commit is done only after a flush round covering it (pg_flush: a
 * durable transaction of the node's own on a session of its own, which
 * PostgreSQL flushes past every earlier commit record; group_sync.h leads
 * one round for every commit waiting, and replies wait without a thread:
 * tx_commit_ticket, sync_notify).  Another session can read an
 * asynchronous commit before it is flushed, and a crash of PostgreSQL
 * would then lose what it read.  So the rule for readers: whatever this
 * node read from PostgreSQL (marked as a point of the group after the
 * read) reaches a reply only after a flush round that began after it
 * (sync_barrier, before every reply that committed nothing).  A round
 * proves something only about what was asked while its session lived: a
 * crash ends every session, so a round on a new session cannot vouch for
 * an earlier question.  The flush epoch (flush_conns) counts the rounds'
 * sessions; each wait, ticket and barrier checks that it has not moved
 * since its question was asked (rd_note, vouched), and a round that
 * finds its session gone fails (TR_E_STORE_IO, outcome unknown) every
 * point marked before it.  A request's first question checks the idle
 * session first and makes it anew when it has ended (flush_check), so a
 * restart of PostgreSQL fails only the requests in flight across it.  docs/internals/STORE.md ("Group commit") has
 * the measurements and the designs left aside.
 *
 * Schema.  At open (not read-only), the pending migrations run in one
 * transaction under pg_advisory_xact_lock(LOCK_MIGRATE), so nodes starting
 * at once migrate once; tresor_schema holds the version.  A database
 * whose version is newer than this build's is refused.  tresor_generation
 * is made there too, outside the numbered migrations (SQLite has no such
 * table, and the two lists stay one for one).
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
#include "store/group_sync.h"
#include "store/sql_records.h"
#include "store/schema.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/array.h"
#include "core/metrics.h"
#include "core/secmem.h"

/* Advisory lock keys ("tresor" in ASCII, then which lock). */
#define LOCK_MIGRATE INT64_C(0x747265736f720001)
#define LOCK_WRITE   STORE_PG_LOCK_WRITE
/* How long a write transaction waits for LOCK_WRITE: the write gate's
 * bound (gate.h), so a transaction left open on another node fails the
 * writers here with TR_E_STORE_BUSY rather than hanging them. */
#define LOCK_WAIT "5s"
/* The listener reads the generation row every GEN_POLL_MS; the caches
 * are off whenever its last complete read is older than GEN_STALE_MS
 * (the bound on staleness across nodes: CACHES.md). */
#define GEN_POLL_MS  100
#define GEN_STALE_MS 250
#define GEN_CHANNEL  "tresor_generation"

/* ---- the statements, prepared once per connection -------------------- */

/* A tombstone from an access_keys row (tresor_doc_token: schema_pg/004). */
#define TOMB_FROM "access_key_id, account_id, expires, tresor_doc_token(doc), " \
    "CAST(extract(epoch FROM now()) AS bigint)"
#define TOMB_UPSERT " ON CONFLICT (access_key_id) DO UPDATE SET account_id = excluded.account_id, " \
    "expires = excluded.expires, token_sha256 = excluded.token_sha256, removed = excluded.removed"

/* The statements are store/sql_records.c's (sql_text, written with ?N:
 * prepared as $N) but for those PostgreSQL writes its own way, here. */
enum { Q__COUNT = SQL_Q__COUNT };

static const char *const own_sql[Q__COUNT] = {
    [Q_BEGIN] = "BEGIN ISOLATION LEVEL READ COMMITTED",
    [Q_BEGIN_READ] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    [Q_ACCOUNT_FIRST] = "SELECT " SQL_ACCOUNT_COLS " FROM accounts ORDER BY created, seq LIMIT 1",
    [Q_ACCOUNT_LIST] = "SELECT " SQL_ACCOUNT_COLS " FROM accounts ORDER BY created, seq",
    [Q_AK_TOMB] = "INSERT INTO access_key_tombstones (" SQL_TOMB_COLS ") SELECT " TOMB_FROM
        " FROM access_keys WHERE access_key_id = ?1" TOMB_UPSERT,
    [Q_AK_TOMB_EXPIRED] = "INSERT INTO access_key_tombstones (" SQL_TOMB_COLS ") SELECT "
        TOMB_FROM " FROM access_keys WHERE expires <> 0 AND expires < ?1" TOMB_UPSERT,
    /* One member of a relation's doc (?4, [a-z_]: checked by the record
     * layer), as SQLite's -> and json_set answer it: a missing member
     * reads as JSON null and is added when set.  The doc column is text;
     * jsonb reads it, and the doc written back is jsonb's text of it
     * (other members' values unchanged, their spacing and order
     * jsonb's).  ?5 is sent as text (strings go binary, and jsonb's
     * binary form is not the JSON text), then read as jsonb. */
    [Q_REL_MEMBER_GET] = "SELECT kind, src, dst, "
        "coalesce((CAST(doc AS jsonb) -> CAST(?4 AS text))::text, 'null'), created "
        "FROM relations WHERE kind = ?1 AND src = ?2 AND dst = ?3",
    [Q_REL_MEMBER_SET] = "UPDATE relations SET doc = "
        "jsonb_set(CAST(doc AS jsonb), ARRAY[CAST(?4 AS text)], CAST(CAST(?5 AS text) AS jsonb))::text "
        "WHERE kind = ?1 AND src = ?2 AND dst = ?3",
    [Q_REL_MEMBER_GET_PAIR] = "SELECT kind, src, dst, "
        "coalesce((CAST(doc AS jsonb) -> CAST(?4 AS text))::text, 'null'), created "
        "FROM relations WHERE kind = ?1 AND src = ?2 AND dst IN (?3, ?5) ORDER BY dst",
    /* The same member of two relations (to ?3 and ?6), each its value. */
    [Q_REL_MEMBER_SET_PAIR] = "UPDATE relations SET doc = "
        "jsonb_set(CAST(doc AS jsonb), ARRAY[CAST(?4 AS text)], "
        "CAST(CASE dst WHEN CAST(?3 AS text) THEN CAST(?5 AS text) ELSE CAST(?7 AS text) END AS jsonb))::text "
        "WHERE kind = ?1 AND src = ?2 AND dst IN (?3, ?6)",
};

/* Statement id's SQL text (with ?N parameters). */
static const char *qsql(int id)
{
    return sql_own_text(own_sql, Q__COUNT, id);
}

/* PostgreSQL's spelling of sql: each ?N as $N (the texts hold no other
 * '?').  False when it does not fit. */
static bool pg_dialect(const char *sql, char *out, size_t cap)
{
    size_t n = strlen(sql);
    if (n >= cap) return false;
    for (size_t i = 0; i <= n; i++) out[i] = sql[i] == '?' ? '$' : sql[i];
    return true;
}

/* ---- the store and its connections ------------------------------------ */

struct store_pg {
    struct sql_store base;          /* first: store_t points at its class */
    struct sql_conns conns;         /* every open connection; its mu guards the pool */
    pthread_key_t tls;              /* the connection this thread has borrowed */
    /* The pool (under conns.mu): */
    pthread_cond_t freed;           /* a connection was returned or closed */
    struct conn *idle;              /* returned connections, a stack */
    unsigned open, max;             /* connections open (idle or borrowed); the bound */
    unsigned wait_ms;               /* how long a borrower waits */
    struct gate gate;               /* queue of this process's writers */
    /* Group commit (not READONLY): commits are made without waiting for
     * PostgreSQL's log flush, and replies wait for a flush round
     * (pg_flush) that covers what they committed or read. */
    bool grouped;
    struct group_sync gs;
    pthread_mutex_t flush_mu;       /* held by a round, and by flush_check */
    PGconn *flush_db;               /* the rounds' own session (under flush_mu); SERVE: holds LOCK_NODES */
    bool rotating;                  /* the last flush_connect found LOCK_NODES held exclusively */
    atomic_uint_fast64_t flush_conns; /* +1 each time flush_db is (re)made: the flush epoch */
    pthread_key_t rd;               /* this thread's oldest unvouched read: its flush epoch + 1 */
    enum store_pg_mode mode;
    uint64_t epoch;                 /* of the generation */
    uint64_t node;                  /* this store's name in the notifications (random) */
    /* The other nodes' writes (SERVE; the listener): */
    /* Per domain (store/domains.h): +1 at each commit of another node
     * noticed that wrote in it, or that may have (every domain). */
    atomic_uint_fast64_t foreign[STORE_DOMAINS];
    atomic_int_fast64_t known;      /* the generation row's n as last seen */
    atomic_int_fast64_t checked_us; /* when the last complete read of it began; 0: blind */
    atomic_bool stop;               /* the listener: exit */
    bool listening;                 /* the listener thread runs */
    pthread_t listener;
    char conninfo[];
};

/* A thread's connection. */
struct conn {
    struct sql_conn link;           /* first: on s->conns; writing holds s->gate */
    struct conn *next_idle;         /* on s->idle */
    bool in_tx;                     /* a BEGIN ran and no COMMIT/ROLLBACK since */
    bool prepared[Q__COUNT];
    PGconn *db;
    struct store_pg *s;
};

static struct store_pg *self(store_t st)
{
    return (struct store_pg *)(void *)st;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A measurement aid, compiled in only with -DTRESOR_PG_PHASES (make
 * EXTRA_CFLAGS=-DTRESOR_PG_PHASES; bench/README.md, "What bounds a
 * PostgreSQL write"): the microseconds of each phase of a write
 * transaction, kept in memory and printed as count, mean, p50, p99 on
 * stderr when the store closes.  Off in every normal build. */
#ifdef TRESOR_PG_PHASES
enum { PH_GATE, PH_BEGIN, PH_STMT, PH_COMMIT, PH_HELD, PH_OFF_RT, PH_FLUSH, PH_WAIT, PH_N };
static const char *const ph_name[PH_N] = {
    "gate wait", "BEGIN+lock round trip", "statement round trip", "COMMIT round trip",
    "gate+lock held", "held, not in a round trip", "flush round", "commit's flush wait",
};
#define PH_CAP (1u << 20)
static int64_t *ph_v[PH_N];
static atomic_uint ph_n[PH_N];
static _Thread_local int64_t ph_held_t0, ph_rt;
static atomic_uint ph_ids[Q__COUNT];        /* statements run inside write transactions, by id */
static const char *qsql(int id);

static void ph_add(int ph, int64_t us)
{
    if (ph == PH_BEGIN || ph == PH_STMT || ph == PH_COMMIT) ph_rt += us;
    if (ph == PH_BEGIN) ph_rt = us;
    if (!ph_v[ph]) return;
    unsigned i = atomic_fetch_add(&ph_n[ph], 1);
    if (i < PH_CAP) ph_v[ph][i] = us;
}

static int ph_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void ph_init(void)
{
    for (int i = 0; i < PH_N; i++)
        if (!ph_v[i]) ph_v[i] = calloc(PH_CAP, sizeof(int64_t));
}

static void ph_report(void)
{
    for (int i = 0; i < PH_N; i++) {
        unsigned n = atomic_load(&ph_n[i]);
        if (n > PH_CAP) n = PH_CAP;
        if (!ph_v[i] || !n) continue;
        qsort(ph_v[i], n, sizeof(int64_t), ph_cmp);
        int64_t sum = 0;
        for (unsigned k = 0; k < n; k++) sum += ph_v[i][k];
        fprintf(stderr, "tresor: pg phase: %-22s n %8u mean %7" PRId64 " p50 %7" PRId64 " p99 %7" PRId64
                " us\n", ph_name[i], n, sum / n, ph_v[i][n / 2], ph_v[i][(size_t)n * 99 / 100]);
    }
    for (int id = 0; id < Q__COUNT; id++) {
        unsigned n = atomic_load(&ph_ids[id]);
        if (n) fprintf(stderr, "tresor: pg phase: statement %8u x %.100s\n", n, qsql(id));
    }
}
#define PH_T0(v) int64_t v = mono_us()
#define PH_ADD(ph, t0) ph_add((ph), mono_us() - (t0))
#else
#define PH_T0(v) ((void)0)
#define PH_ADD(ph, t0) ((void)0)
#endif

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

/* Close a connection (the session ends: PostgreSQL rolls back an open
 * transaction) and free it; it is off the list. */
static void conn_free(struct sql_conn *l)
{
    struct conn *c = (struct conn *)(void *)l;
    PQfinish(c->db);
    free(c);
}

/* Unlink and close c (the session ends: PostgreSQL rolls back an open
 * transaction), and free the write gate if c held it: the pthread_key_t
 * destructor, and conn_discard. */
static void conn_drop(void *p)
{
    struct conn *c = p;
    struct store_pg *s = c->s;
    bool writing = c->link.writing;
    sql_conns_remove(&s->conns, &c->link);
    conn_free(&c->link);
    pthread_mutex_lock(&s->conns.mu);
    s->open--;
    pthread_cond_signal(&s->freed);
    pthread_mutex_unlock(&s->conns.mu);
    if (writing) gate_leave(&s->gate, STORE_DOM_ALL);
}

/* Close this thread's connection; its next call borrows another. */
static void conn_discard(struct conn *c)
{
    pthread_setspecific(c->s->tls, NULL);
    conn_drop(c);
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

/* Return this thread's connection c to the pool (closed instead when its
 * session is gone).  c must be outside any transaction. */
static void conn_release(struct conn *c)
{
    struct store_pg *s = c->s;
    pthread_setspecific(s->tls, NULL);
    if (PQstatus(c->db) != CONNECTION_OK) {
        conn_drop(c);
        return;
    }
    pthread_mutex_lock(&s->conns.mu);
    c->next_idle = s->idle;
    s->idle = c;
    pthread_cond_signal(&s->freed);
    pthread_mutex_unlock(&s->conns.mu);
}

/* The end of a call: this thread's connection goes back to the pool
 * unless a transaction (write or read) still holds it. */
static void conn_settle(struct store_pg *s)
{
    struct conn *c = pthread_getspecific(s->tls);
    if (c && !c->in_tx && !c->link.writing && !c->link.reading) conn_release(c);
}

/* A connection from the pool: an idle one whose session is alive, else a
 * new one while fewer than s->max are open, else wait for one (at most
 * s->wait_ms: TR_E_STORE_BUSY).  Not yet this thread's. */
static TR_RESULT conn_borrow(struct store_pg *s, struct conn **out)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(s->wait_ms / 1000);
    until.tv_nsec += (long)(s->wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
    *out = NULL;
    pthread_mutex_lock(&s->conns.mu);
    for (;;) {
        struct conn *c = s->idle;
        if (c) {
            s->idle = c->next_idle;
            c->next_idle = NULL;
            pthread_mutex_unlock(&s->conns.mu);
            if (PQstatus(c->db) == CONNECTION_OK && !fd_readable(PQsocket(c->db))) {
                *out = c;
                return TR_OK;
            }
            conn_drop(c);               /* its session ended while idle */
            pthread_mutex_lock(&s->conns.mu);
            continue;
        }
        if (s->open < s->max) {
            s->open++;
            pthread_mutex_unlock(&s->conns.mu);
            c = calloc(1, sizeof *c);
            PGconn *db = c ? pg_connect(s->conninfo, s->mode == STORE_PG_READONLY) : NULL;
            if (!db) {
                free(c);
                pthread_mutex_lock(&s->conns.mu);
                s->open--;
                pthread_cond_signal(&s->freed);
                pthread_mutex_unlock(&s->conns.mu);
                BAIL0(c ? TR_E_STORE_IO : TR_E_INTERNAL);
            }
            c->s = s;
            c->db = db;
            sql_conns_add(&s->conns, &c->link);
            *out = c;
            return TR_OK;
        }
        if (pthread_cond_timedwait(&s->freed, &s->conns.mu, &until) == ETIMEDOUT && !s->idle &&
            s->open >= s->max) {
            unsigned max = s->max, wait = s->wait_ms;
            pthread_mutex_unlock(&s->conns.mu);
            fprintf(stderr, "tresor: store: postgres: no connection free within %u ms (all %u in use: "
                    "--store-connections)\n", wait, max);
            BAIL0(TR_E_STORE_BUSY);
        }
    }
}

/* ---- the generation across nodes --------------------------------------- */

/* Another node's commit that wrote in the domains of mask: their
 * foreign halves move. */
static void foreign_bump(struct store_pg *s, unsigned mask)
{
    for (unsigned d = 0; d < STORE_DOMAINS; d++)
        if (mask & (1u << d)) atomic_fetch_add_explicit(&s->foreign[d], 1, memory_order_release);
}

/* The generation row read n: when it is not the n last seen, a commit
 * this store has not counted happened (another node's, its notification
 * not here yet or lost): the foreign half of every domain moves, since
 * what it wrote is not known.  A spurious move costs a cache miss, a
 * missed one a stale answer, so every doubt moves it. */
static void gen_note(struct store_pg *s, int64_t n)
{
    if (atomic_exchange_explicit(&s->known, n, memory_order_acq_rel) != n)
        foreign_bump(s, STORE_DOM_ALL);
}

/* The one value of a one-row, one-column result, as an integer. */
static bool result_int(const PGresult *res, int64_t *v)
{
    *v = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) < 1 ||
        PQgetisnull(res, 0, 0))
        return false;
    const char *t = PQgetvalue(res, 0, 0);
    char *end = NULL;
    errno = 0;
    long long x = strtoll(t, &end, 10);
    if (!*t || *end || errno) return false;
    *v = (int64_t)x;
    return true;
}

static void gen_notified(struct store_pg *s, PGconn *db);

/* Read the generation row on db (the listener's, or the opener's) and
 * note it; then the caches may be used for GEN_STALE_MS from when the
 * read began.  The notifications that came in with the row are taken
 * first, so that a commit they name moves its own domains, not every
 * one.  False (logged) when it failed. */
static bool gen_check(struct store_pg *s, PGconn *db)
{
    int64_t t = mono_us(), n = 0;
    PGresult *res = PQexec(db, "SELECT n FROM tresor_generation");
    bool ok = result_int(res, &n);
    if (!ok) pg_log(db, res, "SELECT n FROM tresor_generation");
    PQclear(res);
    if (!ok) return false;
    gen_notified(s, db);
    gen_note(s, n);
    atomic_store_explicit(&s->checked_us, t, memory_order_release);
    return true;
}

/* In a notification's mask, beside the domains: the sender counts the
 * secrets' tags apart (STORE_DOM_SECRET_TAGS).  A mask without it is an
 * older node's, whose SECRETS covered the tags too: read as both, so that
 * its tag change reaches the tags cache here.  (An older node reads a
 * mask with it as garbled, and moves every domain: right, only slower.) */
#define NOTIFY_TAGS_APART 0x100u

/* The domains a notification's payload names ("NODE N D", D the mask
 * in hex, store/domains.h): every domain when it has none or is
 * garbled (an older node's "NODE N", a stray NOTIFY).  *n: N, when the
 * payload has it (*has_n). */
static unsigned notified_domains(const char *rest, int64_t *n, bool *has_n)
{
    char *e2 = NULL, *e3 = NULL;
    *has_n = false;
    if (!rest || *rest != ' ') return STORE_DOM_ALL;
    errno = 0;
    long long v = strtoll(rest + 1, &e2, 10);
    if (errno || e2 == rest + 1) return STORE_DOM_ALL;
    if (*e2 == '\0' || *e2 == ' ') {
        *n = (int64_t)v;
        *has_n = true;
    }
    if (*e2 != ' ') return STORE_DOM_ALL;
    unsigned long m = strtoul(e2 + 1, &e3, 16);
    if (errno || e3 == e2 + 1 || *e3 || (m & ~(unsigned long)(STORE_DOM_ALL | NOTIFY_TAGS_APART)))
        return STORE_DOM_ALL;
    if (!(m & NOTIFY_TAGS_APART) && (m & STORE_DOM_SECRETS)) m |= STORE_DOM_SECRET_TAGS;
    return (unsigned)m & STORE_DOM_ALL;
}

/* The notifications db has received: each from another node ("NODE N D",
 * NODE in hex) moves the foreign half of the domains D it wrote in; this
 * store's own are counted already (its write gate moved). */
static void gen_notified(struct store_pg *s, PGconn *db)
{
    PGnotify *nt;
    while ((nt = PQnotifies(db)) != NULL) {
        char *end = NULL;
        errno = 0;
        unsigned long long node = strtoull(nt->extra, &end, 16);
        bool mine = errno == 0 && end != nt->extra && *end == ' ' && node == s->node;
        if (!mine) {
            int64_t n = 0;
            bool has_n = false;
            unsigned dom = end != nt->extra ? notified_domains(end, &n, &has_n) : STORE_DOM_ALL;
            foreign_bump(s, dom);
            if (has_n) atomic_store_explicit(&s->known, n, memory_order_release);
        }
        PQfreemem(nt);
    }
}

/* The listener's connection: LISTEN on a session of its own.  NULL
 * (logged) on failure. */
static PGconn *listen_connect(struct store_pg *s)
{
    PGconn *db = pg_connect(s->conninfo, false);
    if (!db) return NULL;
    PGresult *res = PQexec(db, "LISTEN " GEN_CHANNEL);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) pg_log(db, res, "LISTEN");
    PQclear(res);
    if (!ok) {
        PQfinish(db);
        return NULL;
    }
    return db;
}

/* The listener's session is lost (or was never had): blind until a new
 * one has read the row; said once. */
static void listen_lost(struct store_pg *s, PGconn **db, bool *down)
{
    atomic_store(&s->checked_us, 0);
    PQfinish(*db);
    *db = NULL;
    if (!*down) fprintf(stderr, "tresor: store: postgres: the generation listener has no connection: "
                        "the caches are off until it has one\n");
    *down = true;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* The listener thread (SERVE): notifications as they come, and the
 * generation row every GEN_POLL_MS.  A lost session makes the store blind
 * (checked_us 0: nothing cached is used) until a new one has read the
 * row again. */
static void *listen_main(void *arg)
{
    struct store_pg *s = arg;
    PGconn *db = NULL;
    int64_t next = 0;
    bool down = false;
    while (!atomic_load(&s->stop)) {
        if (!db) {
            bool was_down = down;
            db = listen_connect(s);
            if (!db) {
                /* Once a second after the first try: each failure is logged. */
                listen_lost(s, &db, &down);
                for (int i = 0; i < (was_down ? 10 : 1) && !atomic_load(&s->stop); i++) sleep_ms(GEN_POLL_MS);
                continue;
            }
            next = 0;
        }
        int64_t now = mono_us();
        if (now >= next) {
            if (!gen_check(s, db)) {
                listen_lost(s, &db, &down);
                continue;
            }
            if (down) fprintf(stderr, "tresor: store: postgres: the generation listener is connected again\n");
            down = false;
            next = now + GEN_POLL_MS * 1000;
        }
        gen_notified(s, db);
        int64_t wait = (next - mono_us()) / 1000 + 1;
        struct pollfd p = { .fd = PQsocket(db), .events = POLLIN };
        if (poll(&p, 1, wait < 1 ? 1 : (int)wait) > 0) {
            if (!PQconsumeInput(db)) {
                pg_log(db, NULL, "LISTEN");
                listen_lost(s, &db, &down);
                continue;
            }
            gen_notified(s, db);
        }
    }
    PQfinish(db);
    return NULL;
}

/* Send sql (one or more statements, no parameters) on db and collect
 * the results of its first n statements into res[0..n-1] (NULL for a
 * statement that did not run: one after a failure is skipped); any more
 * are cleared.  The caller clears res. */
static void exec_multi(PGconn *db, const char *sql, PGresult **res, int n)
{
    PGresult *r;
    int i = 0;
    for (int j = 0; j < n; j++) res[j] = NULL;
    if (!PQsendQuery(db, sql)) return;
    while ((r = PQgetResult(db)) != NULL) {
        if (i < n) res[i++] = r;
        else PQclear(r);
    }
}

/* The first of res[0..n-1] that is not a success (NULL: none). */
static PGresult *first_failed(PGresult **res, int n, int *at)
{
    for (int i = 0; i < n; i++) {
        ExecStatusType rs = PQresultStatus(res[i]);     /* PGRES_FATAL_ERROR for NULL */
        if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK) {
            *at = i;
            return res[i];
        }
    }
    *at = n;
    return NULL;
}

static void clear_all(PGresult **res, int n)
{
    for (int i = 0; i < n; i++) PQclear(res[i]);
}

/* ---- group commit: the flush rounds ------------------------------------ */

/* (Re)make the rounds' session; false (logged) when PostgreSQL cannot be
 * reached.  Every point marked before this is not provable by the new
 * session (see pg_flush), so flush_conns moves first. */
/* db's answer to a one-row, one-column boolean query: true only for 't'. */
static bool query_true(PGconn *db, const char *sql, const char *what)
{
    PGresult *res = PQexec(db, sql);
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    if (!ok) pg_log(db, res, what);
    bool yes = ok && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return yes;
}

/*
 * Live nodes.  A serving store's flush session holds STORE_PG_LOCK_NODES
 * shared, taken each time the session is made: tresor rotate-root-key
 * takes it exclusively (store_pg_nodes_exclusive), so it is refused while
 * any node serves, and a node cannot start -- nor remake its flush
 * session, without which none of its commits is acknowledged -- while a
 * rotation holds it.  A node whose every session was cut (PostgreSQL
 * restarted) holds nothing until it reconnects: the guard is for the
 * operator who forgot a node, not a reason to rotate beside them.
 */
static bool flush_connect(struct store_pg *s)
{
    char sql[96];
    atomic_fetch_add_explicit(&s->flush_conns, 1, memory_order_acq_rel);
    PQfinish(s->flush_db);
    s->flush_db = pg_connect(s->conninfo, false);
    if (!s->flush_db || s->mode != STORE_PG_SERVE) return s->flush_db != NULL;
    /* fits: 40 + an int64 */
    snprintf(sql, sizeof sql, "SELECT pg_try_advisory_lock_shared(%" PRId64 ")", STORE_PG_LOCK_NODES);
    s->rotating = !query_true(s->flush_db, sql, "pg_try_advisory_lock_shared");
    if (!s->rotating) return true;
    fprintf(stderr, "tresor: store: postgres: a tresor rotate-root-key holds this store: not serving it\n");
    PQfinish(s->flush_db);
    s->flush_db = NULL;
    return false;
}

struct store_pg_nodes {
    PGconn *db;
};

TR_RESULT store_pg_nodes_exclusive(const char *conninfo, struct store_pg_nodes **out)
{
    char sql[96];
    *out = NULL;
    PGconn *db = pg_connect(conninfo, false);
    if (!db) BAIL(TR_E_STORE_IO, "cannot connect to PostgreSQL: the log says why");
    /* fits: 33 + an int64 */
    snprintf(sql, sizeof sql, "SELECT pg_try_advisory_lock(%" PRId64 ")", STORE_PG_LOCK_NODES);
    if (!query_true(db, sql, "pg_try_advisory_lock")) {
        PQfinish(db);
        BAIL(TR_E_STORE_BUSY, "a tresor server serves this PostgreSQL store (or a tresor rotate-root-key runs "
             "on it): stop every node first");
    }
    struct store_pg_nodes *h = calloc(1, sizeof *h);
    if (!h) {
        PQfinish(db);
        BAIL0(TR_E_INTERNAL);
    }
    h->db = db;
    *out = h;
    return TR_OK;
}

void store_pg_nodes_release(struct store_pg_nodes *held)
{
    if (!held) return;
    PQfinish(held->db);                 /* the session's locks go with it */
    free(held);
}

/*
 * A flush round (group_sync.h's sync function, run by one leader at a
 * time): one transaction of its own, committed on flush_db with
 * synchronous_commit = on.  It must write to the log -- PostgreSQL
 * commits a transaction that wrote nothing (a mere transaction id
 * included) without flushing -- so it writes the smallest record there
 * is, a transactional logical-decoding message (prefix "tresor_flush",
 * empty; a logical replication consumer skips prefixes it does not know).
 * PostgreSQL then flushes its log up to this commit record -- which follows every commit record written
 * before the round began, this node's own (made with synchronous_commit =
 * off) and every other node's.  So when it returns, every commit this
 * node made, and every commit any of its reads could have seen, before
 * the round began is durable (and, with synchronous standbys, replicated
 * as PostgreSQL's synchronous commit is).  PostgreSQL's own flush groups
 * the rounds of every node and the other sessions' commits.
 *
 * A round proves nothing about a point marked before its session was
 * made: PostgreSQL may have crashed in between and lost it.  So a round
 * whose session is lost fails (EIO: its points' fate is unknown), and
 * makes the next session at once; a point marked while a new session was
 * being made is failed by its maker (flush_conns moved: mark_point).
 */
static int pg_flush(void *arg)
{
    struct store_pg *s = arg;
    int e = EIO;
    pthread_mutex_lock(&s->flush_mu);
    if (!s->flush_db || PQstatus(s->flush_db) != CONNECTION_OK) {
        (void)flush_connect(s);
    } else {
        PH_T0(ph_t0);
        PGresult *res = PQexec(s->flush_db, "SELECT pg_logical_emit_message(true, 'tresor_flush', '')");
        PH_ADD(PH_FLUSH, ph_t0);
        bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
        if (!ok) pg_log(s->flush_db, res, "flush round");
        PQclear(res);
        if (ok) e = 0;
        else (void)flush_connect(s);
    }
    pthread_mutex_unlock(&s->flush_mu);
    return e;
}

/* Before a question whose answer may reach a reply (rd_note): when no
 * round runs and the rounds' idle session is found ended (its socket
 * readable: the server closed it, as every session of a crashed or
 * restarted PostgreSQL), fail the points marked so far, as the next
 * round would have to, and make the new session now -- before the
 * question is asked -- so that the rounds on it can vouch for it.  A
 * round that finds its session gone itself (it ended while a round ran,
 * or this check could not run) fails as before. */
static void flush_check(struct store_pg *s)
{
    if (pthread_mutex_trylock(&s->flush_mu) != 0) return;      /* a round runs: it will see */
    if (s->flush_db && PQstatus(s->flush_db) == CONNECTION_OK && !fd_readable(PQsocket(s->flush_db))) {
        pthread_mutex_unlock(&s->flush_mu);
        return;
    }
    gsync_fail_marked(&s->gs);
    (void)flush_connect(s);         /* failed: the next round fails and tries again */
    pthread_mutex_unlock(&s->flush_mu);
}

/* Number what this thread has just committed or read (e: flush_conns as
 * it was before the statement was sent): the next flush round covers it.
 * TR_E_STORE_IO when the rounds' session was remade meanwhile -- it
 * cannot vouch for what an earlier session of PostgreSQL did. */
static TR_RESULT mark_point(struct store_pg *s, uint_fast64_t e, uint64_t *seq)
{
    *seq = 0;
    if (!s->grouped) return TR_OK;
    gsync_mark(&s->gs, seq);
    if (atomic_load_explicit(&s->flush_conns, memory_order_acquire) != e) {
        fprintf(stderr, "tresor: store: postgres: the flush session was remade during a call: its outcome "
                "is unknown\n");
        BAIL0(TR_E_STORE_IO);
    }
    return TR_OK;
}

static uint_fast64_t flush_epoch(struct store_pg *s)
{
    return atomic_load_explicit(&s->flush_conns, memory_order_acquire);
}

/* This thread is about to ask PostgreSQL something whose answer may reach
 * a reply: remember the flush epoch of the oldest such question not yet
 * vouched for (rd_take).  True when this question is that oldest one. */
static bool rd_note(struct store_pg *s)
{
    if (!s->grouped || pthread_getspecific(s->rd)) return false;
    flush_check(s);
    return pthread_setspecific(s->rd, (void *)(uintptr_t)(flush_epoch(s) + 1)) == 0;
}

/* The question rd_note noted (noted: it was the oldest) failed: no answer
 * of it can reach a reply, so nothing is left to vouch for. */
static void rd_unnote(struct store_pg *s, bool noted)
{
    if (noted) (void)pthread_setspecific(s->rd, NULL);
}

/* The flush epoch of this thread's oldest unvouched question (else the
 * current one), forgotten: the caller vouches for it now. */
static uint_fast64_t rd_take(struct store_pg *s)
{
    uintptr_t v = s->grouped ? (uintptr_t)pthread_getspecific(s->rd) : 0;
    if (v) (void)pthread_setspecific(s->rd, NULL);
    return v ? (uint_fast64_t)(v - 1) : flush_epoch(s);
}

/* Every flush round since epoch ep ran on one session, alive from before
 * the question was asked to after the round: PostgreSQL did not restart
 * (or crash, which ends every session) in between, so what the round
 * flushed is what the question saw.  Else TR_E_STORE_IO: outcome unknown. */
static TR_RESULT vouched(struct store_pg *s, uint_fast64_t ep)
{
    if (flush_epoch(s) == ep) return TR_OK;
    fprintf(stderr, "tresor: store: postgres: the flush session was remade since the call began: its "
            "outcome is unknown\n");
    BAIL0(TR_E_STORE_IO);
}

/* Wait for commit seq's flush round, and check it vouches (ep). */
static TR_RESULT flush_wait(struct store_pg *s, uint64_t seq, uint_fast64_t ep)
{
    GUARD(gsync_wait(&s->gs, seq));
    return vouched(s, ep);
}

/* A commit ticket (store.h's tx_commit_ticket) holds the point and the
 * low bits of the flush epoch it must be vouched under. */
#define TICKET_SEQ_BITS 48
#define TICKET_SEQ_MASK ((UINT64_C(1) << TICKET_SEQ_BITS) - 1)

/* This thread's connection: the one it holds, else one borrowed from the
 * pool; one it holds that was lost outside a transaction is replaced. */
static TR_RESULT conn_get(struct store_pg *s, struct conn **out)
{
    struct conn *c = pthread_getspecific(s->tls);
    if (c && !c->in_tx && PQstatus(c->db) != CONNECTION_OK) {
        conn_discard(c);
        c = NULL;
    }
    if (!c) {
        GUARD(conn_borrow(s, &c));
        if (pthread_setspecific(s->tls, c) != 0) {
            conn_drop(c);
            BAIL0(TR_E_INTERNAL);
        }
    }
    *out = c;
    return TR_OK;
}

/* This thread's connection, for the driver (store/sql_records.h). */
static TR_RESULT pg_conn(store_t st, struct sql_conn **out)
{
    struct conn *c = NULL;
    GUARD(conn_get(self(st), &c));
    *out = &c->link;
    return TR_OK;
}

static struct sql_conn *pg_peek(store_t st)
{
    struct conn *c = pthread_getspecific(self(st)->tls);
    return c ? &c->link : NULL;
}

/* c's statement id, prepared on first use. */
static TR_RESULT stmt(struct conn *c, int id)
{
    if (c->prepared[id]) return TR_OK;
    char name[16], sql[1024];
    snprintf(name, sizeof name, "q%d", id);     /* fits: 1 + an int */
    ENSURE(pg_dialect(qsql(id), sql, sizeof sql), TR_E_INTERNAL);
    PGresult *res = PQprepare(c->db, name, sql, 0, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        tr_result r = PG_FAIL(c->db, res, qsql(id));
        PQclear(res);
        return r;
    }
    PQclear(res);
    c->prepared[id] = true;
    return TR_OK;
}

/* ---- parameters and columns --------------------------------------------- */

/* The arguments as PQexecPrepared takes them: strings and blobs as binary
 * (bytes and length: text's binary form is its bytes), integers as text. */
struct params {
    const char *v[SQL_MAX_ARGS];
    int len[SQL_MAX_ARGS];
    int fmt[SQL_MAX_ARGS];
    char num[SQL_MAX_ARGS][24];
};

static TR_RESULT args_make(const struct sql_arg *a, size_t n, struct params *p)
{
    ENSURE(n <= SQL_MAX_ARGS, TR_E_INTERNAL);
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        p->v[i] = NULL;
        p->len[i] = 0;
        p->fmt[i] = 1;
        if (a[i].kind == ARG_INT) {
            snprintf(p->num[i], sizeof p->num[i], "%" PRId64, a[i].i);   /* fits: 20 digits */
            p->v[i] = p->num[i];
            p->fmt[i] = 0;
        } else if (a[i].kind == ARG_BLOB) {
            ENSURE(a[i].b->len <= INT_MAX, TR_E_INTERNAL);
            p->v[i] = a[i].b->data ? (const char *)a[i].b->data : "";
            p->len[i] = (int)a[i].b->len;
        } else if (a[i].kind != ARG_OPT || a[i].s) {     /* OPT(NULL): SQL NULL */
            p->v[i] = sql_arg_text(&a[i], &len);
            ENSURE(len <= INT_MAX, TR_E_INTERNAL);
            p->len[i] = (int)len;
        }
    }
    return TR_OK;
}

/* A result's columns (store/sql_records.h): res is the PGresult, its
 * values in text form. */
static const char *col_text(void *res, int row, int col, size_t *n)
{
    *n = 0;
    if (PQgetisnull(res, row, col)) return NULL;
    *n = (size_t)PQgetlength(res, row, col);
    return PQgetvalue(res, row, col);
}

static bool col_null(void *res, int row, int col)
{
    return PQgetisnull(res, row, col);
}

static bool col_int(void *res, int row, int col, int64_t *v)
{
    const char *t = PQgetvalue(res, row, col);
    char *end = NULL;
    errno = 0;
    long long x = strtoll(t, &end, 10);
    *v = 0;
    if (PQgetisnull(res, row, col) || !*t || *end || errno) return false;
    *v = (int64_t)x;
    return true;
}

/* A bytea column: libpq's unescaped copy is wiped before it is released. */
static bool col_blob(void *res, int row, int col, struct buf *dst)
{
    size_t n = 0;
    if (PQgetisnull(res, row, col)) return false;
    unsigned char *p = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, col), &n);
    if (!p) return false;
    bool ok = n <= UINT32_MAX;
    if (ok) {
        *dst = BUF_SECRET((uint32_t)n);
        ok = n == 0 || tr_ok(buf_append(dst, p, n));
    }
    secure_zero(p, n);
    PQfreemem(p);
    return ok;
}

static const struct sql_cols cols = { col_text, col_null, col_int, col_blob };

/* ---- running statements ------------------------------------------------ */

/* Run statement id on c with the parameters a: *out the result (its
 * status PGRES_COMMAND_OK or PGRES_TUPLES_OK), else a failure, with
 * *lost true when the connection is gone.  dom: the domains it writes (0:
 * a read, BEGIN, COMMIT).  Inside a transaction their generation moves
 * first: the writer's own later reads must not hit what it cached of them
 * before this statement; the transaction's end moves them again. */
static TR_RESULT q_run(struct conn *c, int id, const struct sql_arg *a, size_t na, unsigned dom,
                       PGresult **out, bool *lost)
{
    struct params p;
    char name[16];
    *out = NULL;
    *lost = false;
    GUARD(args_make(a, na, &p));
    tr_result r = stmt(c, id);
    if (tr_failed(r)) { *lost = PQstatus(c->db) != CONNECTION_OK; return r; }
    if (c->link.writing && dom) {
        gate_bump(&c->s->gate, dom);
        c->link.touched |= dom;
    }
    snprintf(name, sizeof name, "q%d", id);     /* fits: 1 + an int */
    PH_T0(ph_t0);
    PGresult *res = PQexecPrepared(c->db, name, (int)na, p.v, p.len, p.fmt, 0);
#ifdef TRESOR_PG_PHASES
    if (c->link.writing) {
        PH_ADD(PH_STMT, ph_t0);
        if (id >= 0 && id < Q__COUNT) atomic_fetch_add(&ph_ids[id], 1);
    }
#endif
    ExecStatusType rs = PQresultStatus(res);
    if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK) {
        r = PG_FAIL(c->db, res, qsql(id));
        *lost = PQstatus(c->db) != CONNECTION_OK;
        PQclear(res);
        return r;
    }
    *out = res;
    return TR_OK;
}

/* Run a simple statement (BEGIN, COMMIT, ROLLBACK) on c; in_tx follows
 * the ones that succeed. */
static TR_RESULT q_simple(struct conn *c, int id)
{
    PGresult *res = NULL;
    bool lost = false;
    GUARD(q_run(c, id, NO_ARGS, 0, &res, &lost));
    PQclear(res);
    c->in_tx = id == Q_BEGIN || id == Q_BEGIN_READ;
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

/* The transaction is over: move the counters of the domains it wrote
 * in, and free the gate. */
static void tx_closed(struct conn *c)
{
    c->in_tx = false;
    if (!c->link.writing) return;
    c->link.writing = false;
    gate_leave(&c->s->gate, c->link.touched);
    c->link.touched = 0;
}

static void tx_abort(struct conn *c)
{
    struct store_pg *s = c->s;
    uint64_t seq = 0;
    if (conn_rollback(c)) tx_closed(c);
    else conn_discard(c);       /* frees the gate */
    /* What its reads saw may reach a reply (sync_barrier covers it). */
    if (s->grouped) gsync_mark(&s->gs, &seq);
}

/* A statement without rows, and a rollback, for the driver's read
 * transactions (store/sql_records.h). */
static TR_RESULT pg_exec(struct sql_conn *l, int id)
{
    struct conn *c = (struct conn *)(void *)l;
    struct store_pg *s = c->s;
    tr_result r = q_simple(c, id);
    conn_settle(s);                     /* read_end's COMMIT, or a BEGIN that failed */
    return r;
}

static void pg_abort(struct sql_conn *l)
{
    struct conn *c = (struct conn *)(void *)l;
    struct store_pg *s = c->s;
    tx_abort(c);
    conn_settle(s);
}

/* BEGIN, and under LOCK_WRITE the generation row, in one round trip:
 * the other nodes' writers wait, and a commit of theirs not yet notified
 * moves the generation before this transaction reads anything cached.
 * Grouped, the transaction will commit without waiting for PostgreSQL's
 * log flush (synchronous_commit = off for it alone): the flush round
 * (pg_flush) makes it durable after LOCK_WRITE is released, and the reply
 * waits for that.  *began: the BEGIN ran (a transaction is open). */
static TR_RESULT tx_begin_locked(struct conn *c, bool *began)
{
    char sql[320];
    PGresult *res[5];
    int at = 0;
    int64_t n = 0;
    /* fits: 200 + an int64 */
    snprintf(sql, sizeof sql, "%s; SET LOCAL synchronous_commit = %s; SET LOCAL lock_timeout = '%s'; "
             "SELECT pg_advisory_xact_lock(%" PRId64 "); SELECT n FROM tresor_generation", own_sql[Q_BEGIN],
             c->s->grouped ? "off" : "on", LOCK_WAIT, LOCK_WRITE);
    c->link.touched = 0;
    bool noted = rd_note(c->s);
    PH_T0(ph_t0);
    exec_multi(c->db, sql, res, 5);
    PH_ADD(PH_BEGIN, ph_t0);
    *began = PQresultStatus(res[0]) == PGRES_COMMAND_OK;
    if (!*began) rd_unnote(c->s, noted);     /* no transaction: nothing it read can reach a reply */
    c->in_tx = *began;
    PGresult *bad = first_failed(res, 5, &at);
    tr_result r = TR_OK;
    if (bad || !result_int(res[4], &n))
        r = PG_FAIL(c->db, bad ? bad : res[4], at == 0 ? own_sql[Q_BEGIN] : "pg_advisory_xact_lock");
    else
        gen_note(c->s, n);
    clear_all(res, 5);
    return r;
}

/* Take the write gate, then BEGIN under LOCK_WRITE.  A BEGIN that finds
 * the connection lost (its session ended since the last request) is safe
 * to send again, once, on a new connection: *cp is then that one. */
static TR_RESULT tx_open(struct conn **cp)
{
    struct conn *c = *cp;
    bool began = false;
    if (c->link.writing || c->link.reading) {
        fprintf(stderr, "tresor: store: tx_begin inside a transaction\n");
        BAIL0(TR_E_INTERNAL);
    }
    PH_T0(ph_t0);
    GUARD(gate_enter(&c->s->gate));
    PH_ADD(PH_GATE, ph_t0);
#ifdef TRESOR_PG_PHASES
    ph_held_t0 = mono_us();
#endif
    c->link.writing = true;
    tr_result r = tx_begin_locked(c, &began);
    if (tr_failed(r) && !began && PQstatus(c->db) != CONNECTION_OK) {
        struct store_pg *s = c->s;
        c->link.writing = false;
        conn_discard(c);                /* keeps the gate: not writing */
        *cp = c = NULL;
        r = conn_get(s, &c);
        if (tr_failed(r)) {
            gate_leave(&s->gate, 0);
            return r;
        }
        *cp = c;
        c->link.writing = true;
        r = tx_begin_locked(c, &began);
    }
    if (tr_failed(r)) tx_abort(c);      /* frees the gate; a lost connection is discarded */
    return r;
}

/* The end of a write transaction on c, in one round trip: the generation
 * row's n + 1, notified as "NODE N D" (delivered at commit, with the
 * data; D the domains it wrote in, in hex: store/domains.h),
 * then COMMIT.  Grouped, COMMIT returns once its record is written, not
 * flushed, and LOCK_WRITE goes with it, so the next writer of any node
 * runs while this commit waits for its flush round; *seq numbers the
 * commit for that round (the caller waits for it: gsync_wait, or hands it
 * on as a ticket).  A failure before COMMIT leaves the transaction open
 * (aborted) for the caller's tx_rollback; a failed COMMIT (a deferred
 * foreign key) has ended it, and the gate stays held until the caller's
 * tx_rollback, as with SQLite. */
static TR_RESULT tx_close(struct conn *c, uint64_t *seq)
{
    char sql[288];
    PGresult *res[2];
    int at = 0;
    int64_t n = 0;
    *seq = 0;
    ENSURE(c->link.writing, TR_E_INTERNAL);         /* the callers' check: commit_point, q_write */
    bool timed = metrics_enabled();
    int64_t t0 = timed ? mono_us() : 0;
    uint_fast64_t e = flush_epoch(c->s);
    /* fits: 180 + 16 hex digits + a mask */
    snprintf(sql, sizeof sql, "WITH g AS (UPDATE tresor_generation SET n = n + 1 RETURNING n) "
             "SELECT n, pg_notify('" GEN_CHANNEL "', '%016" PRIx64 " ' || n || ' %x') FROM g; COMMIT",
             c->s->node, (c->link.touched & STORE_DOM_ALL) | NOTIFY_TAGS_APART);
    PH_T0(ph_t0);
    exec_multi(c->db, sql, res, 2);
    PH_ADD(PH_COMMIT, ph_t0);
    PH_ADD(PH_HELD, ph_held_t0);
#ifdef TRESOR_PG_PHASES
    ph_add(PH_OFF_RT, mono_us() - ph_held_t0 - ph_rt);
#endif
    PGresult *bad = first_failed(res, 2, &at);
    if (bad) {
        tr_result r = PG_FAIL(c->db, bad, at == 0 ? "UPDATE tresor_generation" : "COMMIT");
        if (at == 1) c->in_tx = false;  /* a failed COMMIT ends it: nothing to roll back */
        clear_all(res, 2);
        return r;
    }
    if (!result_int(res[0], &n)) n = 0;     /* cannot be: the row is there; a spurious move at most */
    clear_all(res, 2);
    /* This store's own commit: counted by its gate, not foreign. */
    atomic_store_explicit(&c->s->known, n, memory_order_release);
    tx_closed(c);
    if (timed) metrics_commit(mono_us() - t0);
    return mark_point(c->s, e, seq);
}

/* The rows a command changed (PQcmdTuples: decimal, "" for none). */
static int rows_changed(const char *t)
{
    long v = t && *t ? strtol(t, NULL, 10) : 0;
    return v < 0 ? 0 : v > INT_MAX ? INT_MAX : (int)v;
}

/* A write on c: in this thread's transaction, or else in one of its own
 * (so that it takes LOCK_WRITE and bumps the generation like any other;
 * *seq then numbers its commit for the caller to wait on, else 0).
 * *changes gets the rows it changed. */
static TR_RESULT q_write(struct conn *c, int id, const struct sql_arg *a, size_t na, int *changes,
                         unsigned dom, uint64_t *seq)
{
    PGresult *res = NULL;
    bool lost = false, own = !c->link.writing;
    *seq = 0;
    if (own) GUARD(tx_open(&c));
    tr_result r = q_run(c, id, a, na, dom, &res, &lost);
    if (tr_ok(r) && changes) *changes = rows_changed(PQcmdTuples(res));
    PQclear(res);
    if (own) {
        if (tr_ok(r)) r = tx_close(c, seq);
        if (tr_failed(r)) tx_abort(c);  /* frees the gate; a lost connection is discarded */
    }
    return r;
}

/* Fill the records of t from res's rows into a malloc'd array. */
static TR_RESULT fill_rows(PGresult *res, const struct sql_rec_type *t, int id, void **out, size_t *n)
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
        if (!sql_fill(t, &cols, res, i, rec, qsql(id))) goto fail;
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
 * that was lost outside a transaction (reads are idempotent). */
static TR_RESULT run_read(store_t st, int id, const struct sql_arg *a, size_t na, PGresult **res)
{
    struct conn *c = NULL;
    bool lost = false;
    uint64_t seq = 0;
    bool noted = rd_note(self(st));     /* first: it may make the rounds' session anew */
    uint_fast64_t e = flush_epoch(self(st));
    tr_result r = conn_get(self(st), &c);
    if (tr_failed(r)) {
        rd_unnote(self(st), noted);
        return r;
    }
    bool writing = c->link.writing;     /* a write transaction's reads: its commit is marked */
    r = q_run(c, id, a, na, 0, res, &lost);
    if (tr_failed(r) && lost && !c->in_tx) {
        conn_discard(c);
        r = conn_get(self(st), &c);
        if (tr_ok(r)) r = q_run(c, id, a, na, 0, res, &lost);
    }
    conn_settle(self(st));              /* the result is the caller's, the connection the pool's */
    if (tr_failed(r) && !writing) rd_unnote(self(st), noted);
    if (tr_ok(r) && !writing) {
        /* What it read may be another node's commit not yet flushed: the
         * reply waits for a round that covers it (sync_barrier). */
        r = mark_point(self(st), e, &seq);
        if (tr_failed(r)) {
            PQclear(*res);
            *res = NULL;
        }
    }
    return r;
}

/* The driver's record calls (store/sql_records.h). */
static TR_RESULT pg_get(store_t st, int id, const struct sql_arg *a, size_t na, const struct sql_rec_type *t,
                        void *rec)
{
    PGresult *res = NULL;
    GUARD(run_read(st, id, a, na, &res));
    tr_result r = TR_OK;
    if (PQntuples(res) == 0) r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_NOT_FOUND, NULL);
    else if (!sql_fill(t, &cols, res, 0, rec, qsql(id))) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    PQclear(res);
    return r;
}

static TR_RESULT pg_list(store_t st, int id, const struct sql_arg *a, size_t na, const struct sql_rec_type *t,
                         void **out, size_t *n)
{
    PGresult *res = NULL;
    GUARD(run_read(st, id, a, na, &res));
    tr_result r = fill_rows(res, t, id, out, n);
    PQclear(res);
    return r;
}

static TR_RESULT pg_write(store_t st, int id, const struct sql_arg *a, size_t na, int *changes,
                         unsigned dom)
{
    struct conn *c = NULL;
    if (self(st)->mode == STORE_PG_READONLY) {
        fprintf(stderr, "tresor: store: a write to a store opened read-only\n");
        BAIL0(TR_E_STORE_READONLY);
    }
    uint64_t seq = 0;
    GUARD(conn_get(self(st), &c));
    tr_result r = q_write(c, id, a, na, changes, dom, &seq);
    uint_fast64_t ep = seq ? rd_take(self(st)) : 0;    /* its own transaction: ended */
    conn_settle(self(st));
    if (tr_ok(r) && seq) r = flush_wait(self(st), seq, ep);
    return r;
}


/* ---- generation, transactions ------------------------------------------ */

/* The epoch is the store's own; the counter is the sum, over the
 * domains asked for, of the write gate's counters, which every write of
 * this process moves (at each write statement of a domain, and at the end
 * of a transaction that wrote in it), plus in the high half the other
 * nodes' commits noticed in those domains (SERVE).  SERVE answers
 * CACHE_GEN_NONE while the listener's last complete read of the
 * generation row is older than GEN_STALE_MS: what was cached may be older
 * than another node's commit. */
static struct cache_gen pg_generation(store_t st, unsigned domains)
{
    if (!st) return CACHE_GEN_NONE;
    struct store_pg *s = self(st);
    uint64_t g = gate_count(&s->gate, domains);
    if (s->mode == STORE_PG_SERVE) {
        int64_t at = atomic_load_explicit(&s->checked_us, memory_order_acquire);
        if (at == 0 || mono_us() - at > (int64_t)GEN_STALE_MS * 1000) return CACHE_GEN_NONE;
        uint64_t f = 0;
        for (unsigned d = 0; d < STORE_DOMAINS; d++)
            if (domains & (1u << d)) f += atomic_load_explicit(&s->foreign[d], memory_order_acquire);
        g += f << 32;
    }
    return (struct cache_gen){ s->epoch, g };
}

/* As each request starts: a connection this thread still holds outside
 * a transaction goes back to the pool (each borrow checks the session:
 * conn_borrow). */
static void pg_refresh(store_t st)
{
    if (!st) return;
    conn_settle(self(st));
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
    tr_result r = tx_open(&c);
    if (tr_failed(r)) conn_settle(self(st));
    return r;
}

/* The commit of this thread's transaction (tx_close), and the connection
 * back to the pool: *seq numbers it for its flush round (0: nothing to
 * wait for), *ep the flush epoch the round must vouch under. */
static TR_RESULT commit_point(store_t st, uint64_t *seq, uint_fast64_t *ep)
{
    *seq = 0;
    *ep = 0;
    ENSURE_REF(st);
    struct conn *c = pthread_getspecific(self(st)->tls);
    if (!c || !c->link.writing) {
        fprintf(stderr, "tresor: store: tx_commit outside a transaction\n");
        BAIL0(TR_E_INTERNAL);
    }
    tr_result r = tx_close(c, seq);
    if (tr_ok(r)) *ep = rd_take(self(st));
    conn_settle(self(st));              /* failed: still held, until tx_rollback */
    return r;
}

static TR_RESULT pg_tx_commit(store_t st)
{
    uint64_t seq = 0;
    uint_fast64_t ep = 0;
    GUARD(commit_point(st, &seq, &ep));
    PH_T0(ph_t0);
    tr_result r = seq ? flush_wait(self(st), seq, ep) : TR_OK;
    PH_ADD(PH_WAIT, ph_t0);
    return r;
}

/* The commit without the wait for its flush round: *ticket numbers it
 * for sync_notify (0: durable already). */
static TR_RESULT pg_tx_commit_ticket(store_t st, uint64_t *ticket)
{
    uint64_t seq = 0;
    uint_fast64_t ep = 0;
    ENSURE_REF(ticket);
    *ticket = 0;
    GUARD(commit_point(st, &seq, &ep));
    ENSURE(seq <= TICKET_SEQ_MASK, TR_E_INTERNAL);
    if (seq) *ticket = seq | (uint64_t)(ep & 0xffff) << TICKET_SEQ_BITS;
    return TR_OK;
}

/* A ticket's flush round, without a thread: -1 (not durable) as well when
 * the flush session was remade since the commit (vouched). */
static int pg_sync_notify(store_t st, struct gsync_waiter *w)
{
    struct store_pg *s = self(st);
    if (!s->grouped || w->seq == 0) return 1;
    uint_fast64_t ep = (uint_fast64_t)(w->seq >> TICKET_SEQ_BITS);
    w->seq &= TICKET_SEQ_MASK;
    if ((flush_epoch(s) & 0xffff) != ep) return -1;
    int now = gsync_notify(&s->gs, w);
    /* Answered at once by a round that may have come after a remade
     * session: vouched only while the epoch held.  Once queued, the round
     * that settles w is the first to cover it (a failed one fails every
     * point marked before it): exact. */
    if (now == 1 && (flush_epoch(s) & 0xffff) != ep) return -1;
    return now;
}

static bool pg_sync_cancel(store_t st, struct gsync_waiter *w)
{
    struct store_pg *s = self(st);
    return s->grouped ? gsync_cancel(&s->gs, w) : true;
}

static void pg_tx_rollback(store_t st)
{
    if (!st) return;
    struct conn *c = pthread_getspecific(self(st)->tls);
    if (c && c->link.writing) tx_abort(c);
    conn_settle(self(st));
}

/* Before a reply that committed nothing: wait for a flush round that
 * covers every point this node marked so far -- its commits and its
 * reads, so whatever the reply may carry, read from PostgreSQL or from a
 * cache filled by such a read (pg_flush).  At once when nothing is
 * pending.  A read-only store marks nothing. */
static TR_RESULT pg_sync_barrier(store_t st)
{
    ENSURE_REF(st);
    struct store_pg *s = self(st);
    if (!s->grouped) return TR_OK;
    uint_fast64_t ep = rd_take(s);
    GUARD(gsync_barrier(&s->gs));
    return vouched(s, ep);
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
    tr_result r = schema_version(c->db, schema_version_out);
    conn_settle(self(st));
    GUARD(r);
    if (*schema_version_out < 0 || (size_t)*schema_version_out != store_pg_schema_count) {
        char line[128];
        snprintf(line, sizeof line, "schema version %d, this build's is %zu",  /* fits: 2 ints */
                 *schema_version_out, store_pg_schema_count);
        problem(arg, line);
    }
    /* PostgreSQL checks its foreign keys at every commit and its pages
     * with their checksums as it reads them; the materials, shared by key
     * id, reference no key row: those no key record holds are asked for. */
    GUARD(conn_get(self(st), &c));
    PGresult *res = PQexec(c->db, SQL_ORPHAN_MATERIALS);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        r = PG_FAIL(c->db, res, "orphan materials");
        PQclear(res);
        conn_settle(self(st));
        return r;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        char line[128];
        snprintf(line, sizeof line, "kms_key_materials without a key: %.64s",   /* fits: cut */
                 PQgetvalue(res, i, 0));
        problem(arg, line);
    }
    PQclear(res);
    conn_settle(self(st));
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
    /* The generation row (the file comment), outside the numbered
     * migrations: made once, by whichever open gets here first. */
    if (tr_ok(r))
        r = exec_sql(db, "SET LOCAL client_min_messages = warning; "
                     "CREATE TABLE IF NOT EXISTS tresor_generation (one boolean PRIMARY KEY DEFAULT true "
                     "CHECK (one), n bigint NOT NULL); INSERT INTO tresor_generation (n) VALUES (0) "
                     "ON CONFLICT DO NOTHING", "CREATE TABLE tresor_generation");
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
#ifdef TRESOR_PG_PHASES
    ph_report();
#endif
    if (s->listening) {
        atomic_store(&s->stop, true);
        pthread_join(s->listener, NULL);    /* within GEN_POLL_MS */
    }
    if (s->grouped) {
        gsync_destroy(&s->gs);      /* its thread ends: no round runs after */
        pthread_mutex_destroy(&s->flush_mu);
    }
    PQfinish(s->flush_db);
    pthread_key_delete(s->tls);
    pthread_key_delete(s->rd);
    sql_conns_close_all(&s->conns, conn_free);
    pthread_cond_destroy(&s->freed);
    pthread_mutex_destroy(&s->conns.mu);
    gate_destroy(&s->gate);
    secure_zero(s->conninfo, strlen(s->conninfo));   /* it may hold a password */
    free(s);
}

static const struct sql_driver pg_driver = {
    .get = pg_get, .list = pg_list, .write = pg_write, .conn = pg_conn, .peek = pg_peek,
    .exec = pg_exec, .abort = pg_abort, .close = pg_close, .generation = pg_generation,
    .refresh = pg_refresh, .tx_begin = pg_tx_begin, .tx_commit = pg_tx_commit,
    .tx_rollback = pg_tx_rollback, .sync_barrier = pg_sync_barrier, .tx_commit_ticket = pg_tx_commit_ticket,
    .sync_notify = pg_sync_notify, .sync_cancel = pg_sync_cancel, .self_check = pg_self_check,
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

void store_pg_pool_stats(store_t st, unsigned *open, unsigned *idle)
{
    struct store_pg *s = self(st);
    *open = *idle = 0;
    if (!st) return;
    pthread_mutex_lock(&s->conns.mu);
    *open = s->open;
    for (struct conn *c = s->idle; c; c = c->next_idle) (*idle)++;
    pthread_mutex_unlock(&s->conns.mu);
}

TR_RESULT store_pg_open(const char *conninfo, enum store_pg_mode mode, store_t *out)
{
    return store_pg_open_with(conninfo, mode, NULL, out);
}

TR_RESULT store_pg_open_with(const char *conninfo, enum store_pg_mode mode, const struct store_pg_limits *lim,
                             store_t *out)
{
    char where[512];
    char *err = NULL;
    int version = 0;
    tr_result r = TR_OK;
    struct store_pg *s = NULL;
    PGconn *db = NULL;
#ifdef TRESOR_PG_PHASES
    ph_init();
#endif
    bool mu = false, cv = false, gate = false, key = false;
    pthread_condattr_t ca;

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
    s->base.vt = &sql_pg_class;
    s->base.drv = &pg_driver;
    s->mode = mode;
    s->epoch = cache_epoch_new();
    s->max = lim && lim->connections ? lim->connections : STORE_PG_CONNECTIONS_DEFAULT;
    s->wait_ms = lim && lim->wait_ms ? lim->wait_ms : STORE_PG_WAIT_MS;
    mu = pthread_mutex_init(&s->conns.mu, NULL) == 0;
    if (mu && pthread_condattr_init(&ca) == 0) {
        cv = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&s->freed, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    gate = cv && gate_init(&s->gate);
    key = gate && pthread_key_create(&s->tls, conn_drop) == 0;
    if (key && pthread_key_create(&s->rd, NULL) != 0) {
        pthread_key_delete(s->tls);
        key = false;
    }
    if (!key) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    /* The node's name in the notifications: random, so that no two nodes
     * take each other's commits for their own. */
    if (getrandom(&s->node, sizeof s->node, 0) != (ssize_t)sizeof s->node) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "getrandom: %s", strerror(errno));
        goto fail;
    }

    db = pg_connect(conninfo, mode == STORE_PG_READONLY);
    if (!db) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_IO, "cannot connect to PostgreSQL (%s): the log "
                       "says why", where);
        goto fail;
    }
    if (mode == STORE_PG_READONLY) {
        r = schema_version(db, &version);
        if (tr_ok(r) && (version < 0 || (size_t)version != store_pg_schema_count))
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "the database's schema is version %d; this "
                           "tresor's is %zu%s", version, store_pg_schema_count,
                           version == 0 ? " (nothing was ever stored there: is it the right database?)"
                           : (size_t)version < store_pg_schema_count
                           ? " (a read-only open cannot migrate it: start tresor serve on it once)" : "");
    } else {
        r = migrate(db);
    }
    /* Group commit's rounds (pg_flush), with their session made now, before
     * anything is committed. */
    if (tr_ok(r) && mode != STORE_PG_READONLY) {
        if (pthread_mutex_init(&s->flush_mu, NULL) != 0) {
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        } else if (!gsync_init_retry(&s->gs, pg_flush, s)) {
            pthread_mutex_destroy(&s->flush_mu);
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        } else if ((s->grouped = true, !flush_connect(s)) && s->rotating)
            r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_BUSY, "a tresor rotate-root-key is running on the "
                           "PostgreSQL store (%s): start this node when it is done", where);
        else if (!s->flush_db)
            r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_IO, "cannot connect to PostgreSQL (%s): the log "
                           "says why", where);
    }
    /* SERVE: the generation as of now, then the listener keeps it. */
    if (tr_ok(r) && mode == STORE_PG_SERVE) {
        if (!gen_check(s, db)) {
            r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_IO, "cannot read the generation row (%s): the log "
                           "says why", where);
        } else {
            /* Every signal blocked in the listener (it inherits the mask):
             * the process's stop signals go to the thread that waits for
             * them, whenever the store was opened. */
            sigset_t all, was;
            sigfillset(&all);
            pthread_sigmask(SIG_SETMASK, &all, &was);
            s->listening = pthread_create(&s->listener, NULL, listen_main, s) == 0;
            pthread_sigmask(SIG_SETMASK, &was, NULL);
            if (!s->listening)
                r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "cannot start the generation listener");
        }
    }
    PQfinish(db);
    if (tr_failed(r)) goto fail;
    *out = &s->base.vt;
    return TR_OK;

fail:
    if (key) {
        pg_close(&s->base.vt);
        return r;
    }
    if (gate) gate_destroy(&s->gate);
    if (cv) pthread_cond_destroy(&s->freed);
    if (mu) pthread_mutex_destroy(&s->conns.mu);
    secure_zero(s->conninfo, len);
    free(s);
    return r;
}
