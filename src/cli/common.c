/*
 * common.c -- helpers shared by the subcommands (cli.h).
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto/hash.h"
#include "crypto/keyring.h"
#include "crypto/seal.h"
#include "cli/opts.h"
#include "store/postgres.h"

const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

int die(const char *what)
{
    const struct tr_error_info *e = tr_last_error();
    fprintf(stderr, "tresor: %s: %s\n", what, e->has_message ? e->message : tr_err_type(e->code));
    return 1;
}

int file_exists(const char *dir, const char *name)
{
    char p[PATH_MAX + 64];
    int n = snprintf(p, sizeof p, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof p) return 0;
    struct stat st;
    return stat(p, &st) == 0;
}

int cli_store_arg(const struct cli_cmd *cmd, const char *s, const char **out)
{
    *out = NULL;
    if (!s || !*s) return 0;
    if (!store_pg_named(s))
        return cli_usage_error(NULL, cmd, "%s must be a PostgreSQL connection string (postgres://USER@HOST/DB?..., "
                               "postgresql://..., or libpq key=value pairs)",
                               cli_source(s, CLI_STORE_ENV, "--store"));
    *out = s;
    return 0;
}

int open_data_dir(const char *data_dir, const char *store, bool readonly, struct data_dir *d)
{
    d->kr = NULL;
    d->st = NULL;
    if (!realpath(data_dir, d->path)) {
        fprintf(stderr, "tresor: %s: %s\n", data_dir, strerror(errno));
        return 1;
    }
    if ((!file_exists(d->path, "root.key") && !file_exists(d->path, "root.seal")) ||
        (!store && !file_exists(d->path, "tresor.db"))) {
        fprintf(stderr, "tresor: %s is not an initialized data dir (run tresor serve first)\n",
                d->path);
        return 1;
    }
    if (tr_failed(crypto_init())) return die("crypto init");
    if (tr_failed(seal_open_any(d->path, &d->kr))) return die("root key");
    tr_result r = store ? store_pg_open(store, readonly ? STORE_PG_READONLY : STORE_PG_WRITE, &d->st)
                : readonly ? store_sqlite_open_readonly(d->path, &d->st)
                           : store_sqlite_open(d->path, &d->st);
    if (tr_failed(r)) {
        keyring_free(d->kr);
        d->kr = NULL;
        return die("store");
    }
    return 0;
}

void close_data_dir(struct data_dir *d)
{
    if (d->st) d->st[0]->close(d->st);
    keyring_free(d->kr);
    crypto_thread_cleanup();
}
