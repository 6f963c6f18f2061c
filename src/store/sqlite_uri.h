/*
 * sqlite_uri.h -- the database's files, for the two places that open it
 * by path: the store's open and read-only probes (sqlite.c) and the
 * backup and restore (backup.c): the database's path in a data dir, a
 * path as an SQLite URI filename, and whether the database file or one of
 * its companions (-wal, -shm) exists.
 */
#ifndef TR_STORE_SQLITE_URI_H
#define TR_STORE_SQLITE_URI_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/result.h"

/* The database's file name in a data dir. */
#define SQLITE_DB_FILE "tresor.db"

/* "data_dir/tresor.db" into out; false when it does not fit. */
bool sqlite_db_path(const char *data_dir, char out[PATH_MAX]);

/* "file:" + path percent-encoded + query ("?mode=ro", ...) into out[cap]:
 * a URI filename, so that '?', '#' and '%' in a path mean nothing.  Fails
 * (TR_E_INTERNAL) when it does not fit. */
TR_RESULT sqlite_file_uri(const char *path, const char *query, char *out, size_t cap);

/* Whether path + suffix ("", "-wal", "-shm") exists. */
bool sqlite_file_exists(const char *path, const char *suffix);

#endif
