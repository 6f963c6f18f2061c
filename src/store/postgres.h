/*
 * postgres.h -- the PostgreSQL backend of store/store.h (store/postgres.c)
 * and what the commands that choose a store need to know about one.
 *
 * A PostgreSQL store is named by a libpq connection string: a URI
 * (postgres://USER@HOST/DB?..., postgresql://...) or key=value pairs
 * ("host=/run/postgresql dbname=tresor").  The root key stays in the data
 * dir; everything else lives in the database.  Several nodes may serve
 * one database (docs/internals/STORE.md, "Several nodes"): their writes
 * run one at a time under an advisory lock, and each node's caches follow
 * the others' commits (CACHES.md).
 */
#ifndef TR_STORE_POSTGRES_H
#define TR_STORE_POSTGRES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* The transaction advisory lock every write transaction of every node
 * takes after BEGIN ("tresor" in ASCII, then 3): postgres.c, "Writers
 * across nodes"; tresor migrate's copy takes it too. */
#define STORE_PG_LOCK_WRITE INT64_C(0x747265736f720003)

/* The session advisory lock every serving node holds shared on its flush
 * session (postgres.c, "Live nodes"), for as long as that session lasts;
 * tresor rotate-root-key takes it exclusively ("tresor", then 4). */
#define STORE_PG_LOCK_NODES INT64_C(0x747265736f720004)

/* Hold STORE_PG_LOCK_NODES exclusively on a session of its own until
 * store_pg_nodes_release: no node serves the store meanwhile, and none
 * starts (its open fails with TR_E_STORE_BUSY).  Fails with
 * TR_E_STORE_BUSY when a node serves it (or another holds it), with
 * TR_E_STORE_IO when PostgreSQL cannot be reached. */
struct store_pg_nodes;
TR_RESULT store_pg_nodes_exclusive(const char *conninfo, struct store_pg_nodes **out);
void store_pg_nodes_release(struct store_pg_nodes *held);

/* How a PostgreSQL store is opened. */
enum store_pg_mode {
    /* tresor serve: migrate, then listen for the other nodes' commits
     * (any number of nodes may serve one database; postgres.c, "Several
     * nodes"). */
    STORE_PG_SERVE,
    /* a command that writes beside the servers (account create):
     * migrate; its commits are notified to the nodes like theirs. */
    STORE_PG_WRITE,
    /* a command that only reads (check, who-can-decrypt): nothing is
     * created, migrated or written (every transaction is READ ONLY), and
     * the schema must be this build's. */
    STORE_PG_READONLY,
};

/* The connection pool of a store (postgres.c, "Connections"): at most
 * `connections` open at once (0: STORE_PG_CONNECTIONS_DEFAULT), besides
 * a serving store's listener; a caller that finds none free waits at most
 * `wait_ms` (0: STORE_PG_WAIT_MS, the write gate's bound), then fails
 * with TR_E_STORE_BUSY. */
#define STORE_PG_CONNECTIONS_DEFAULT 4u
#define STORE_PG_CONNECTIONS_MAX 1024u
#define STORE_PG_WAIT_MS 5000u
struct store_pg_limits {
    unsigned connections;
    unsigned wait_ms;
};

/* Open the database conninfo names.  Failures are TR_E_STORE_IO (cannot
 * connect), TR_E_STORE_BUSY (another node serves it) or TR_E_INTERNAL (a
 * schema newer than this build's, a failed migration), each with a
 * message for the operator that never holds the password. */
TR_RESULT store_pg_open(const char *conninfo, enum store_pg_mode mode, store_t *out);
/* The same with the pool's limits (NULL: the defaults). */
TR_RESULT store_pg_open_with(const char *conninfo, enum store_pg_mode mode, const struct store_pg_limits *lim,
                             store_t *out);
/* The pool of a store store_pg_open made, now: connections open (idle or
 * borrowed), and idle.  For tests and diagnostics. */
void store_pg_pool_stats(store_t st, unsigned *open, unsigned *idle);

/* True when s names a PostgreSQL store: it starts with postgres:// or
 * postgresql://, or it is a libpq key=value string (holds an '='). */
bool store_pg_named(const char *s);

/* "host=H port=P dbname=D user=U" of conninfo, for logs: never the
 * password, nor anything else of the string.  "an invalid connection
 * string" when libpq cannot parse it. */
void store_pg_describe(const char *conninfo, char *out, size_t n);

#endif
