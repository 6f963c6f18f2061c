/*
 * sql_records.h -- the record calls of store/store.h, written once for
 * both SQL backends (store/sqlite.c, store/postgres.c) over a small
 * driver each backend provides.
 *
 * What is shared (store/sql_records.c): every call of struct store_class
 * that reads or writes records -- which statement it runs, with which
 * parameters, how a row fills a record, which call must change a row --
 * the statements' SQL text where the two dialects agree, and the two
 * classes themselves.  What a backend keeps (its driver): running one
 * statement (one row, every row, a write), its connections, transactions,
 * locks, schema checks and migrations, and the SQL text of the statements
 * the dialects write differently.
 *
 * The SQL text is SQLite's: parameters are ?1, ?2, ...; the PostgreSQL
 * driver writes them as $1, $2, ... when it prepares a statement (the
 * texts hold no other '?').  A statement whose text is NULL in sql_text
 * is one each backend writes in its own table (sql_own_text), as are the
 * backend's own statements (BEGIN, COMMIT, ...), numbered from
 * SQL_Q__COUNT on.
 *
 * A backend's store struct starts with struct sql_store (the class, then
 * the driver), so that store_t reaches both; its per-thread connection
 * starts with struct sql_conn, on the store's struct sql_conns list.  Docs:
 * docs/internals/STORE.md ("One record layer, two drivers").
 */
#ifndef TR_STORE_SQL_RECORDS_H
#define TR_STORE_SQL_RECORDS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "core/result.h"
#include "store/store.h"

/* The record statements, the same ids in both backends. */
enum sql_q {
    Q_BEGIN, Q_BEGIN_READ, Q_COMMIT, Q_ROLLBACK,
    Q_ACCOUNT_PUT, Q_ACCOUNT_GET, Q_ACCOUNT_FIRST, Q_ACCOUNT_LIST,
    Q_AK_PUT, Q_AK_GET, Q_AK_LIST, Q_AK_LIST_ALL, Q_AK_UPDATE, Q_AK_REWRAP, Q_AK_DEL, Q_AK_PURGE,
    Q_AK_TOMB, Q_AK_TOMB_EXPIRED, Q_AK_TOMB_PRUNE, Q_AK_UNTOMB, Q_AK_TOMB_GET,
    Q_KEY_PUT, Q_KEY_UPDATE, Q_KEY_GET, Q_KEY_LIST_RELATED, Q_KEY_LIST, Q_KEY_LIST_ALL, Q_KEY_DUE,
    Q_KEY_DEL_TAGS, Q_KEY_DEL_MATERIALS, Q_KEY_DEL_ALIASES, Q_KEY_DEL,
    Q_MAT_PUT, Q_MAT_GET, Q_MAT_LIST, Q_MAT_REWRAP, Q_MAT_UPDATE, Q_MAT_DEL,
    Q_ALIAS_PUT, Q_ALIAS_UPDATE, Q_ALIAS_GET, Q_ALIAS_DEL, Q_ALIAS_LIST, Q_ALIAS_LIST_KEY,
    Q_TAG_SET, Q_TAG_DEL, Q_TAG_LIST,
    Q_ENT_PUT, Q_ENT_UPDATE, Q_ENT_GET, Q_ENT_GET_ARN, Q_ENT_GET_ID, Q_ENT_DEL, Q_ENT_LIST,
    Q_REL_PUT, Q_REL_GET, Q_REL_DEL, Q_REL_LIST_FROM, Q_REL_LIST_TO, Q_REL_LIST_KIND,
    Q_REL_MEMBER_GET, Q_REL_MEMBER_SET, Q_REL_PUT_PAIR, Q_REL_MEMBER_SET_PAIR,
    Q_REL_MEMBER_GET_PAIR, Q_REL_PRUNE_ORDER,
    SQL_Q__COUNT
};

/* The shared SQL text of each record statement (SQLite's syntax); NULL
 * where each backend writes its own. */
extern const char *const sql_text[SQL_Q__COUNT];

/* Statement id's text: the backend's own (own[id], when own has it and
 * it is not NULL), else the shared one.  own has own_n entries. */
const char *sql_own_text(const char *const *own, size_t own_n, int id);

/* The column lists of the tables, for the backends' own statements. */
#define SQL_ACCOUNT_COLS "id, created"
/* The key ids whose materials no region's key record holds (the
 * materials are shared by key id and reference no key row: `tresor check`
 * asks each backend's self_check for them). */
#define SQL_ORPHAN_MATERIALS "SELECT DISTINCT key_id FROM kms_key_materials m WHERE NOT EXISTS " \
    "(SELECT 1 FROM kms_keys k WHERE k.key_id = m.key_id) ORDER BY key_id"
#define SQL_TOMB_COLS "access_key_id, account_id, expires, token_sha256, removed"

/*
 * Parameters, bound in order ?1, ?2, ...: a list of struct sql_arg made
 * with the constructors below (ARGS() makes the list):
 *   TEXT(s)   a string; NULL binds ""
 *   NEED(s)   a string the call cannot do without: NULL fails the call
 *             with TR_E_INTERNAL before anything is read or written
 *   OPT(s)    a string; NULL binds SQL NULL
 *   CHARS(a)  a fixed char array of a record, which may lack its NUL when full
 *   INT(v)    an integer;  LIMIT(v) a size_t row limit, capped at INT64_MAX
 *   BLOB(p)   the bytes of the struct buf *p (an empty blob, never NULL)
 * The driver sends strings and blobs as the caller's memory, which it
 * no longer points to once the call returns.
 */
enum sql_arg_kind { ARG_TEXT, ARG_NEED, ARG_OPT, ARG_INT, ARG_BLOB };

struct sql_arg {
    enum sql_arg_kind kind;
    const char *s;              /* TEXT, NEED, OPT */
    size_t n;                   /* their length; SIZE_MAX: strlen(s) */
    int64_t i;                  /* INT */
    const struct buf *b;        /* BLOB */
};

#define TEXT(x)   ((struct sql_arg){ .kind = ARG_TEXT, .s = (x), .n = SIZE_MAX })
#define NEED(x)   ((struct sql_arg){ .kind = ARG_NEED, .s = (x), .n = SIZE_MAX })
#define OPT(x)    ((struct sql_arg){ .kind = ARG_OPT, .s = (x), .n = SIZE_MAX })
#define CHARS(a)  ((struct sql_arg){ .kind = ARG_TEXT, .s = (a), .n = strnlen((a), sizeof (a)) })
#define INT(v)    ((struct sql_arg){ .kind = ARG_INT, .i = (int64_t)(v) })
#define LIMIT(v)  INT((v) > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)(v))
#define BLOB(p)   ((struct sql_arg){ .kind = ARG_BLOB, .b = (p) })
/* A list of parameters, as the two arguments (array, count) calls take. */
#define ARGS(...) (const struct sql_arg[]){ __VA_ARGS__ }, \
                  sizeof (const struct sql_arg[]){ __VA_ARGS__ } / sizeof (struct sql_arg)
#define NO_ARGS   NULL, 0
/* The most parameters a statement takes (kms_keys' columns). */
#define SQL_MAX_ARGS 20

/* A string parameter's text ("" for NULL) and its length. */
const char *sql_arg_text(const struct sql_arg *a, size_t *len);

/*
 * Reading a row.  The driver gives the columns of its current row through
 * struct sql_cols; a record type's fill reads them in order through a
 * struct sql_row cursor.  Nothing is allocated but what the record owns.
 */
struct sql_cols {
    /* Column col's bytes as text and their length; NULL for SQL NULL (or
     * out of memory). */
    const char *(*text)(void *res, int row, int col, size_t *n);
    bool (*is_null)(void *res, int row, int col);
    /* false when the value is not an integer. */
    bool (*integer)(void *res, int row, int col, int64_t *v);
    /* An owned copy of a blob column into *dst, a secret buf (wiped when
     * freed); false when out of memory or unreadable. */
    bool (*blob)(void *res, int row, int col, struct buf *dst);
};

struct sql_row {
    const struct sql_cols *cols;
    void *res;                  /* the driver's statement or result */
    int row, i;                 /* the row; the next column */
    bool ok;                    /* every column read so far fit */
};

/* What a statement's rows fill: records of `size` bytes.  fill returns
 * false when out of memory or a value does not fit (the record may be
 * partly filled: drop it). */
struct sql_rec_type {
    size_t size;
    bool (*fill)(struct sql_row *r, void *rec);
    void (*drop)(void *rec);
};

/* Fill rec (a t, zeroed by the caller) from row `row` of res; false as
 * fill is, after t->drop(rec) and a line on stderr naming the statement. */
bool sql_fill(const struct sql_rec_type *t, const struct sql_cols *cols, void *res, int row,
              void *rec, const char *sql);

/*
 * A backend's connection (one per thread) starts with struct sql_conn;
 * the store keeps them all on a struct sql_conns, under its mutex.
 */
struct sql_conn {
    struct sql_conn *next, *prev;   /* on the list, under its mutex */
    bool writing;                   /* holds the write gate: tx_begin .. commit/rollback */
    bool reading;                   /* inside read_begin .. read_end */
    unsigned touched;               /* the domains its open write transaction wrote in */
};

struct sql_conns {
    pthread_mutex_t mu;             /* guards head (and what the backend says) */
    struct sql_conn *head;          /* every open connection */
};

/* Put c on l / take it off, each under l->mu. */
void sql_conns_add(struct sql_conns *l, struct sql_conn *c);
void sql_conns_remove(struct sql_conns *l, struct sql_conn *c);
/* Take every connection off l and close(c) it, under l->mu (the store's
 * close: no other thread calls it any more). */
void sql_conns_close_all(struct sql_conns *l, void (*close)(struct sql_conn *c));

/*
 * The driver: what a backend does for the record calls, and the calls of
 * struct store_class that are its own (the class forwards to them).
 * Read transactions (read_begin .. read_end) are this layer's, over conn,
 * peek, exec and abort.
 */
struct sql_driver {
    /* Run statement id; fill *rec (a t, zeroed) from its first row.
     * TR_E_STORE_NOT_FOUND when there is none. */
    TR_RESULT (*get)(store_t st, int id, const struct sql_arg *a, size_t na, const struct sql_rec_type *t,
                     void *rec);
    /* Run statement id; every row into a malloc'd array of t (*out NULL
     * and *n 0 on failure; the caller has set them so). */
    TR_RESULT (*list)(store_t st, int id, const struct sql_arg *a, size_t na, const struct sql_rec_type *t,
                      void **out, size_t *n);
    /* Run the write id, which changes data of the domains `dom`
     * (store/domains.h): in this thread's transaction, or else on its
     * own; *changes (when not NULL) gets the rows it changed.  The
     * counters of dom move at the statement, and again when the
     * transaction ends. */
    TR_RESULT (*write)(store_t st, int id, const struct sql_arg *a, size_t na, int *changes,
                       unsigned dom);
    /* This thread's connection, opened on first use; peek: NULL when it
     * has none. */
    TR_RESULT (*conn)(store_t st, struct sql_conn **out);
    struct sql_conn *(*peek)(store_t st);
    /* Run a statement without parameters or rows (Q_BEGIN_READ, Q_COMMIT)
     * on c; abort: roll c's transaction back (or give c up). */
    TR_RESULT (*exec)(struct sql_conn *c, int id);
    void (*abort)(struct sql_conn *c);

    void (*close)(store_t st);
    struct cache_gen (*generation)(store_t st, unsigned domains);
    void (*refresh)(store_t st);
    TR_RESULT (*tx_begin)(store_t st);
    TR_RESULT (*tx_commit)(store_t st);
    void (*tx_rollback)(store_t st);
    TR_RESULT (*sync_barrier)(store_t st);
    /* Optional (NULL: every commit is durable when tx_commit returns, as
     * PostgreSQL's): store.h's tx_commit_ticket, sync_notify, sync_cancel. */
    TR_RESULT (*tx_commit_ticket)(store_t st, uint64_t *ticket);
    int (*sync_notify)(store_t st, struct gsync_waiter *w);
    bool (*sync_cancel)(store_t st, struct gsync_waiter *w);
    /* Run the pair calls (rel_put_pair, rel_member_get_pair,
     * rel_member_set_pair) as two statements each: a backend in the
     * process (SQLite) has no round trip to save, and its two plain
     * statements cost less than one with IN, ORDER BY and CASE. */
    bool pairs_apart;
    TR_RESULT (*self_check)(store_t st, void (*problem)(void *arg, const char *text), void *arg,
                            int *schema_version);
};

/* The head of each backend's store struct: store_t points at vt. */
struct sql_store {
    const struct store_class *vt;
    const struct sql_driver *drv;
};

/* The classes of the two backends: the record calls of this layer, the
 * rest forwarded to the store's driver. */
extern const struct store_class sql_sqlite_class;
extern const struct store_class sql_pg_class;

#endif
