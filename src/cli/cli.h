/*
 * cli.h -- what the subcommands of the tresor binary share.
 */
#ifndef TR_CLI_H
#define TR_CLI_H

#include <limits.h>
#include <stdbool.h>

#include "analyze/snapshot.h"
#include "analyze/snapshot_orgs.h"
#include "core/str.h"       /* region_valid */
#include "crypto/seal.h"
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

/* Answering from AWS account snapshots (--snapshot FILE, docs/SNAPSHOTS.md)
 * instead of a data dir: the files read (snapshot_load) and loaded into an
 * in-memory store (snapshot_store_load), which d->st then is (d->kr
 * NULL: a snapshot holds no key material).  Returns 0 with *out the
 * snapshots (their gaps for the answers), or 2 after printing why
 * ("tresor: snapshot: FILE: ..."), nothing then left open.  only_secret:
 * snapshot_store_load's (NULL: every secret).  A prepared snapshot
 * (tresor snapshot prepare; given alone) is opened read-only as d->st
 * instead (snapshot_prepared_open; its secrets listed when only_secret is
 * NULL). */
#define MAX_SNAPSHOTS 64
struct snapset {
    struct snapshot s[MAX_SNAPSHOTS];
    size_t n;
    struct snapshot_orgs *orgs;     /* their SCPs and RCPs (snapshot_orgs.h), or NULL:
                                       the answers' server_env.orgs */
    struct az_facts *facts;         /* one secret from a prepared snapshot: its principal
                                       facts (az_graph_build_facts), else NULL */
};
/* The Organizations table of ss for a server_env (NULL: none). */
const struct iam_orgs *cli_snapshot_orgs(const struct snapset *ss);
int cli_open_snapshots(const char *const *files, size_t n, const char *only_secret, struct data_dir *d,
                       struct snapset **out);
void cli_close_snapshots(struct data_dir *d, struct snapset *ss);
/* tresor snapshot diff OLD NEW (cli/snapshot_diff.c). */
int cmd_snapshot_diff(int argc, char **argv);

/* For the commands that change a stopped server's root key files (tresor
 * seal migrate, tresor rotate-root-key): dir (a real path) locked
 * exclusively (seal_dir_lock: no server of this version runs on it, and
 * none can start until *fd is closed), and refused as well when a server
 * answers on its control socket.  The one "is a server running on DIR?"
 * of these commands; the message says which way one was found. */
TR_RESULT cli_stopped_dir_lock(const char *dir, int *fd);
/* A PostgreSQL store's sealed root key (store/root_record.h) as dir's
 * seal file: written when dir has none, or in place of a copy of the same
 * seal that differs (the store is the source of truth); a data dir of
 * another seal (a tresor seal migrate) keeps its file.  *have: dir's seal
 * (seal_recorded), updated.  Logs what it wrote (docs/internals/SEAL.md,
 * "The sealed form in PostgreSQL"). */
TR_RESULT cli_adopt_sealed_form(store_t st, const char *dir, enum seal_kind *have);
/* Settle what a root key rotation cut short left in dir (seal kind; st
 * the store, or NULL to open it read-only if a .next exists), saying so
 * on stdout.  Returns 0, or 1 after printing why as "tresor CMD: ...". */
int cli_settle_rotation(const char *cmd, const char *dir, enum seal_kind kind, store_t st);
/* The seal_how of seal k for command cmd ("seal migrate"), its secret
 * loaded into pass or pin (secret bufs, the caller's to free; already
 * loaded ones are kept): the passphrase from pass_file or
 * TRESOR_PASSPHRASE, the PIN from pin_file or TRESOR_PKCS11_PIN, the
 * token from conf.  target: a seal to write (the token's labels needed),
 * else the data dir's own (root.p11 names them).  Returns 0, or 1 after
 * saying what is missing. */
int cli_seal_how(const char *cmd, enum seal_kind k, const char *pass_file, const char *pin_file, struct buf *pass,
                 struct buf *pin, const struct seal_p11_conf *conf, bool target, struct seal_how *how);

int cmd_account(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_who_can(int argc, char **argv);
int cmd_check(int argc, char **argv);
/* tresor snapshot collect (cli/snapshot.c) */
int cmd_snapshot(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_restore(int argc, char **argv);
/* tresor migrate (cli/migrate.c) */
int cmd_migrate(int argc, char **argv);
/* tresor unseal / tresor seal (cli/seal.c) */
int cmd_unseal(int argc, char **argv);
int cmd_seal(int argc, char **argv);
/* tresor rotate-root-key (cli/rotate.c) */
int cmd_rotate_root_key(int argc, char **argv);

#endif
