/*
 * schema.c -- the schema migrations, embedded in the binary.
 *
 * The one copy of each migration is src/store/schema/NNN_*.sql;
 * store_schema[i] is the byte-for-byte text of migration i+1, which the
 * Makefile turns into C string literals (scripts/schema-c) in the build
 * directory as store/schema_sql.inc, included below.  tests/unit/
 * store_test.c checks that the binary's text is the files'.  To add a
 * migration: write schema/NNN_what.sql with the next number, never edit
 * an applied one.  store/sqlite.c runs the pending ones in one
 * transaction and records the count in PRAGMA user_version
 * (docs/internals/STORE.md).
 */
#include "store/schema.h"

const char *const store_schema[] = {
#include "store/schema_sql.inc"
};

const size_t store_schema_count = sizeof store_schema / sizeof store_schema[0];
