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

static int open_dir(const char *data_dir, bool readonly, char dir[PATH_MAX], struct keyring **kr,
                    store_t *st)
{
    *kr = NULL;
    *st = NULL;
    if (!realpath(data_dir, dir)) {
        fprintf(stderr, "tresor: %s: %s\n", data_dir, strerror(errno));
        return 1;
    }
    if (!file_exists(dir, "root.key") || !file_exists(dir, "tresor.db")) {
        fprintf(stderr, "tresor: %s is not an initialized data dir (run tresor serve first)\n", dir);
        return 1;
    }
    if (tr_failed(crypto_init())) return die("crypto init");
    if (tr_failed(keyring_open(dir, false, kr))) return die("root key");
    if (tr_failed(readonly ? store_sqlite_open_readonly(dir, st) : store_sqlite_open(dir, st))) {
        keyring_free(*kr);
        *kr = NULL;
        return die("store");
    }
    return 0;
}

int open_data_dir(const char *data_dir, char dir[PATH_MAX], struct keyring **kr, store_t *st)
{
    return open_dir(data_dir, false, dir, kr, st);
}

int open_data_dir_readonly(const char *data_dir, char dir[PATH_MAX], struct keyring **kr,
                           store_t *st)
{
    return open_dir(data_dir, true, dir, kr, st);
}

void close_data_dir(struct keyring *kr, store_t st)
{
    if (st) st[0]->close(st);
    keyring_free(kr);
    crypto_thread_cleanup();
}
