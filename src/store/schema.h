/*
 * schema.h -- the embedded schema migrations (store/schema.c).
 * store_schema[i] brings a database from user_version i to i+1.
 */
#ifndef TR_STORE_SCHEMA_H
#define TR_STORE_SCHEMA_H

#include <stddef.h>

extern const char *const store_schema[];
extern const size_t store_schema_count;
/* The PostgreSQL migrations (store/schema_pg.c), one for each of the
 * above: store_pg_schema_count == store_schema_count. */
extern const char *const store_pg_schema[];
extern const size_t store_pg_schema_count;

#endif
