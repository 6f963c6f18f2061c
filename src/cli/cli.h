/*
 * cli.h -- what the subcommands of the tresor binary share.
 */
#ifndef TR_CLI_H
#define TR_CLI_H

#include <limits.h>
#include <stdbool.h>

#include "core/str.h"       /* region_valid */
#include "store/store.h"

struct keyring;

/* getenv(name) when set and non-empty, else dflt. */
const char *env_or(const char *name, const char *dflt);
/* Print the last error as "tresor: <what>: <message>" and return 1. */
int die(const char *what);
/* True when DIR/NAME exists. */
int file_exists(const char *dir, const char *name);
/* An opened data dir: its real path, the root key and the store. */
struct data_dir {
    char path[PATH_MAX];
    struct keyring *kr;
    store_t st;
};
/* Open the initialized data dir data_dir into d: the root key and the
 * store (the server may be running: SQLite serializes the writers), or
 * with readonly the store opened read-only (store_sqlite_open_readonly),
 * for commands that only read, on a data dir that may be a read-only
 * copy.  store, when not NULL, is a PostgreSQL connection string
 * (--store, TRESOR_STORE): the store is that database instead of
 * DATA_DIR/tresor.db (read-only: STORE_PG_READONLY; else STORE_PG_WRITE,
 * beside a serving node).  Returns 0, or 1 after printing why (d then
 * holds nothing to close). */
int open_data_dir(const char *data_dir, const char *store, bool readonly, struct data_dir *d);
/* The --store value: NULL (the data dir's SQLite file) when s is NULL or
 * empty; 0, or 2 after a usage error on cmd when it names no PostgreSQL
 * database. */
struct cli_cmd;
int cli_store_arg(const struct cli_cmd *cmd, const char *s, const char **out);
void close_data_dir(struct data_dir *d);

int cmd_account(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_who_can(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_restore(int argc, char **argv);
/* tresor unseal / tresor seal (cli/seal.c) */
int cmd_unseal(int argc, char **argv);
int cmd_seal(int argc, char **argv);
/* tresor rotate-root-key (cli/rotate.c) */
int cmd_rotate_root_key(int argc, char **argv);

#endif
