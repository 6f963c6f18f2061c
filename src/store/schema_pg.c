/*
 * schema_pg.c -- the PostgreSQL schema migrations, embedded in the binary.
 *
 * The one copy of each is src/store/schema_pg/NNN_*.sql; store_pg_schema[i]
 * is the byte-for-byte text of migration i+1, turned into C string
 * literals by scripts/schema-c in the build directory
 * (store/schema_pg_sql.inc).  They follow the SQLite migrations one for
 * one, so a schema version means the same tables in either backend
 * (tests/unit/store_test.c checks the counts agree and the texts are the
 * files').  store/postgres.c runs the pending ones in one transaction
 * under an advisory lock (docs/internals/STORE.md).
 */
#include "store/schema.h"

const char *const store_pg_schema[] = {
#include "store/schema_pg_sql.inc"
};

const size_t store_pg_schema_count = sizeof store_pg_schema / sizeof store_pg_schema[0];
