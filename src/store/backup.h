/*
 * backup.h -- online backup of a data dir's store, and its restore.
 *
 * A backup is one SQLite database file: a consistent snapshot of
 * DATA_DIR/tresor.db taken with SQLite's online backup API while the
 * server may be running and writing.  It holds what the store holds --
 * every secret, key material and secret access key wrapped under the
 * root key -- and never the root key itself, which is kept apart
 * (README.md, "Backup and restore").
 */
#ifndef TR_STORE_BACKUP_H
#define TR_STORE_BACKUP_H

#include <stdint.h>

#include "core/result.h"

struct backup_info {
    int schema_version;         /* PRAGMA user_version of the snapshot */
    int64_t pages, page_size;   /* the snapshot's size */
};

/* Copy DATA_DIR/tresor.db into out_path, a file that must not exist
 * (created 0600): one read transaction over the whole database, so the
 * copy is the store as of one commit, every commit acknowledged before it
 * began included.  The copy is switched to a rollback journal (one
 * self-contained file), checked with PRAGMA quick_check and fsync'ed with
 * its directory.  On failure out_path is removed. */
TR_RESULT store_backup(const char *data_dir, const char *out_path, struct backup_info *info);

/* Copy the backup file in_path into DATA_DIR/tresor.db, which must not
 * exist (created 0600).  The backup is checked first (a SQLite database,
 * PRAGMA quick_check, a schema version this build knows); the restored
 * database is fsync'ed with its directory.  On failure nothing is left
 * behind in data_dir. */
TR_RESULT store_restore(const char *in_path, const char *data_dir, struct backup_info *info);

#endif
