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
#include "store/root_record.h"
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

/* Close what open_data_dir opened, before it fails. */
static void rc_close(struct data_dir *d)
{
    if (d->st) d->st[0]->close(d->st);
    d->st = NULL;
    keyring_free(d->kr);
    d->kr = NULL;
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
    /* A PostgreSQL store is opened first: it holds the root record the
     * settling reads.  The data dir's SQLite store is opened after, by
     * which time a .next renamed in has become the current key. */
    if (store && tr_failed(store_pg_open(store, readonly ? STORE_PG_READONLY : STORE_PG_WRITE, &d->st)))
        return die("store");
    /* A root key rotation cut short (crypto/rotate.h): settled, or with
     * readonly only looked at (the current key may still be in a .next). */
    enum seal_kind kind;
    struct root_settle_report rep;
    if (tr_failed(seal_recorded(d->path, &kind)) || tr_failed(root_settle(d->path, kind, d->st, readonly, &rep))) {
        rc_close(d);
        return die("root key");
    }
    if (rep.finished || rep.dropped)
        fprintf(stderr, "tresor: %s: a root key rotation was cut short: %s\n", d->path,
                rep.finished ? "it had committed, and is now finished" : "it had not committed, and is undone");
    bool pending = strcmp(rep.seal_current, seal_file_name(kind)) != 0;
    if (pending)
        fprintf(stderr, "tresor: %s: a root key rotation committed but was cut short before %s was renamed "
                "in; read with it (the next tresor serve finishes it)\n", d->path, rep.seal_current);
    if (tr_failed(seal_open_any_named(d->path, pending ? rep.seal_current : NULL, &d->kr))) {
        rc_close(d);
        return die("root key");
    }
    if (!store) {
        tr_result r = readonly ? store_sqlite_open_readonly(d->path, &d->st) : store_sqlite_open(d->path, &d->st);
        if (tr_failed(r)) {
            rc_close(d);
            return die("store");
        }
    }
    if (tr_failed(root_verify(d->st, d->kr))) {
        rc_close(d);
        return die("root key");
    }
    return 0;
}

void close_data_dir(struct data_dir *d)
{
    if (d->st) d->st[0]->close(d->st);
    keyring_free(d->kr);
    crypto_thread_cleanup();
}
