/*
 * pg_import.h -- copy a stopped SQLite store into an empty PostgreSQL
 * database, record for record (store/pg_import.c; `tresor migrate`).
 *
 * Nothing is unwrapped: every wrapped column is copied as its bytes, so
 * the copy needs no root key, and the data dir's root key (root.key or
 * its seal) unwraps the result as it did the SQLite file.  Docs:
 * docs/internals/STORE.md ("Moving a store to PostgreSQL").
 */
#ifndef TR_STORE_PG_IMPORT_H
#define TR_STORE_PG_IMPORT_H

#include <stddef.h>

#include "core/result.h"

#define PG_IMPORT_TABLES_MAX 32

struct pg_import_report {
    int schema_version;             /* the SQLite store's (this build's) */
    size_t tables, rows;            /* copied */
    struct {
        char name[64];
        size_t rows;
    } table[PG_IMPORT_TABLES_MAX];  /* in the order copied */
};

/*
 * Copy the SQLite store at db_path (DIR/tresor.db, which no process may
 * have open: the caller holds the data dir's lock) into the PostgreSQL
 * database conninfo names, in one PostgreSQL transaction under the nodes'
 * write lock: every row of every table of the store, every column as it
 * is.  The database must be empty: no table at all, or tresor's tables
 * with no rows (a failed copy leaves that); anything else is refused
 * before a row is written.  The schema is made (or migrated) first, as a
 * node's first start makes it; the SQLite store's schema must be this
 * build's.  Failures: TR_E_STORE_IO (cannot connect, the copy's
 * transaction failed: nothing copied), TR_E_INTERNAL with a message for
 * the operator (not empty, schema versions, a table missing); no value
 * of a row is ever in a message or a log line.
 */
TR_RESULT store_pg_import_sqlite(const char *db_path, const char *conninfo, struct pg_import_report *rep);

#endif
