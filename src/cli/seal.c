/*
 * seal.c -- `tresor unseal` and `tresor seal`: unseal or seal a running
 * server whose data dir has the passphrase or pkcs11 seal, through its
 * control socket (http/control.h; docs/internals/SEAL.md); and `tresor
 * seal migrate`, which moves a stopped server's data dir to another seal
 * (crypto/seal.h seal_migrate).
 *
 * unseal reads the passphrase (or the token's PIN) from --passphrase-file
 * FILE or --pin-file FILE, else from standard input (one line; on a
 * terminal, asked for without echo).  It never takes it from the command
 * line, where other users' `ps` would see it.  Exit status: 0 done (or
 * already so), 1 refused or no server, 2 usage error.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "core/buf.h"
#include "core/secmem.h"
#include "crypto/hash.h"
#include "crypto/seal.h"
#include "http/control.h"

static const struct cli_opt unseal_opts[] = {
    CLI_OPT_DATA_DIR("the data dir of the running server"),
    { "passphrase-file", 'p', "FILE", NULL, NULL,
      "read the passphrase from FILE (mode 0600 or stricter) instead of standard input" },
    { "pin-file", 'n', "FILE", NULL, NULL,
      "the pkcs11 seal: read the token's PIN from FILE (mode 0600 or stricter) instead of standard input" },
    { 0 },
};

static const struct cli_cmd unseal_cmd = {
    "unseal", "[--data-dir DIR] [--passphrase-file FILE | --pin-file FILE]",
    "Unseal a running tresor serve whose data dir has the passphrase or pkcs11\n"
    "seal: the passphrase, or the PKCS#11 token's PIN (standard input, one line,\n"
    "or a file), unwraps the root key and the server answers requests.  A wrong\n"
    "passphrase or PIN is refused and counted; the server stays sealed.\n",
    unseal_opts, "Exit status: 0 unsealed (or already), 1 refused or no server, 2 usage error.\n", NULL,
};

static const struct cli_opt seal_opts[] = {
    CLI_OPT_DATA_DIR("the data dir of the running server"),
    { 0 },
};

static const struct cli_cmd seal_cmd = {
    "seal", "[--data-dir DIR]",
    "Seal a running tresor serve again: the root key and everything derived from it\n"
    "are wiped from its memory, and every request is answered 503 until tresor\n"
    "unseal.  For a server with the passphrase or pkcs11 seal.  tresor seal\n"
    "migrate (tresor seal migrate --help) moves a stopped data dir to another seal.\n",
    seal_opts, "Exit status: 0 sealed (or already), 1 no server, 2 usage error.\n", NULL,
};

/* The passphrase (or the pkcs11 seal's PIN) from standard input; on a
 * terminal, asked for without echo. */
static TR_RESULT read_stdin_passphrase(struct buf *pass)
{
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        fprintf(stderr, "Passphrase (or PIN): ");
        fflush(stderr);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    tr_result r = seal_passphrase_read_fd(STDIN_FILENO, pass);
    if (tty) {
        (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fprintf(stderr, "\n");
    }
    return r;
}

static const struct cli_opt migrate_opts[] = {
    CLI_OPT_DATA_DIR("the data dir of a stopped server"),
    { "to", 't', "file|passphrase|pkcs11", NULL, NULL, "the seal to move to" },
    { "passphrase-file", 'p', "FILE", NULL, NULL,
      "the passphrase seal's passphrase, whichever side it is on (mode 0600), else TRESOR_PASSPHRASE" },
    CLI_OPTS_PKCS11,
    { 0 },
};

static const struct cli_cmd migrate_cmd = {
    "seal migrate", "[--data-dir DIR] --to file|passphrase|pkcs11 [--passphrase-file FILE] "
    "[--pkcs11-module PATH] [--pkcs11-token LABEL] [--pkcs11-key LABEL] [--pkcs11-pin-file FILE]",
    "Move the data dir of a stopped server from its seal to another, keeping the\n"
    "same root key: nothing in the store changes, only the file that holds the\n"
    "key (root.key, root.seal or root.p11).  The secrets of both seals come as\n"
    "tresor serve takes them.  Refused while a server runs on DIR.  Crash-safe:\n"
    "the new file is written and checked before the old one is removed, and a\n"
    "start after a crash finishes or undoes the move (docs/internals/SEAL.md).\n",
    migrate_opts, "Exit status: 0 moved, 1 refused or failed (DIR unchanged), 2 usage error.\n", NULL,
};

static int call(const char *name, const char *data_dir, const char *cmd, const struct buf *pass)
{
    char dir[PATH_MAX], msg[512];
    bool ok;
    if (!realpath(data_dir, dir)) {
        fprintf(stderr, "tresor %s: %s: %s\n", name, data_dir, strerror(errno));
        return 1;
    }
    tr_result r = control_call(dir, cmd, pass ? pass->data : NULL, pass ? pass->len : 0, msg, sizeof msg, &ok);
    if (tr_failed(r)) {
        fprintf(stderr, "tresor %s: %s\n", name, tr_last_error()->message);
        return 1;
    }
    fprintf(ok ? stdout : stderr, "tresor %s: %s\n", name, msg);
    return ok ? 0 : 1;
}

int cmd_unseal(int argc, char **argv)
{
    const char *data_dir = env_or(CLI_DATA_DIR_ENV, CLI_DATA_DIR_DEFAULT), *file = NULL, *pin_file = NULL;
    const struct cli_value vals[] = { { 'd', &data_dir }, { 'p', &file }, { 'n', &pin_file } };
    int c = cli_parse(&unseal_cmd, argc, argv, vals, 3, 0);
    if (c < 0) return cli_exit(c);
    if (file && pin_file) return cli_usage_error(NULL, &unseal_cmd, "give --passphrase-file or --pin-file, not both");
    struct buf pass = BUF_SECRET(SEAL_PASSPHRASE_MAX + 2);
    tr_result r = file ? seal_passphrase_load(file, &pass) : pin_file ? seal_pin_load(pin_file, &pass)
                                                                      : read_stdin_passphrase(&pass);
    if (tr_failed(r)) {
        buf_free(&pass);
        fprintf(stderr, "tresor unseal: %s\n", tr_last_error()->message);
        return 1;
    }
    int rc = call("unseal", data_dir, "unseal", &pass);
    buf_free(&pass);
    return rc;
}

static int cmd_seal_migrate(int argc, char **argv)
{
    const char *data_dir = env_or(CLI_DATA_DIR_ENV, CLI_DATA_DIR_DEFAULT), *to_s = NULL, *pass_file = NULL,
               *pin_file = NULL, *module = NULL, *token = NULL, *key = NULL;
    char dir[PATH_MAX];
    enum seal_kind to, have;
    const struct cli_value vals[] = { { 'd', &data_dir }, { 't', &to_s },  { 'p', &pass_file }, { 'N', &pin_file },
                                      { 'y', &module },   { 'T', &token }, { 'K', &key } };
    int c = cli_parse(&migrate_cmd, argc, argv, vals, 7, 0);
    if (c < 0) return cli_exit(c);
    if (!to_s) return cli_usage_error(NULL, &migrate_cmd, "--to file|passphrase|pkcs11 is required");
    if (!seal_kind_parse(to_s, &to))
        return cli_usage_error(NULL, &migrate_cmd, "--to must be file, passphrase or pkcs11, not '%s'", to_s);
    if (!realpath(data_dir, dir)) {
        fprintf(stderr, "tresor seal migrate: %s: %s\n", data_dir, strerror(errno));
        return 1;
    }
    if (tr_failed(crypto_init())) return die("crypto init");
    int lock = -1;                      /* a running server first, before any secret is asked for */
    if (tr_failed(cli_stopped_dir_lock(dir, &lock))) return die("seal migrate");
    struct buf pass = BUF_SECRET(SEAL_PASSPHRASE_MAX + 2), pin = BUF_SECRET(SEAL_PASSPHRASE_MAX + 2);
    struct seal_how from, target;
    int rc = 1;
    /* Under the lock: a migration cut short finished or undone (seal_recorded),
     * then a root key rotation cut short, so that no .next of the old seal
     * outlives its file. */
    if (tr_failed(seal_recorded(dir, &have))) { rc = die("seal migrate"); goto out; }
    if (have == SEAL_NONE) {
        fprintf(stderr, "tresor seal migrate: %s has no root key (root.key, root.seal or root.p11)\n", dir);
        goto out;
    }
    if (have == to) {
        fprintf(stderr, "tresor seal migrate: %s already has the %s seal (%s)\n", dir, seal_kind_name(have),
                seal_file_name(have));
        goto out;
    }
    if (cli_settle_rotation("seal migrate", dir, have, NULL) != 0) goto out;
    struct seal_p11_conf conf = seal_p11_conf_env(module, token, key);
    rc = cli_seal_how("seal migrate", have, pass_file, pin_file, &pass, &pin, &conf, false, &from);
    if (!rc) rc = cli_seal_how("seal migrate", to, pass_file, pin_file, &pass, &pin, &conf, true, &target);
    if (!rc && tr_failed(seal_migrate(dir, &from, &target))) rc = die("seal migrate");
out:
    buf_free(&pass);
    buf_free(&pin);
    close(lock);
    crypto_thread_cleanup();
    if (rc) return rc;
    printf("tresor seal migrate: %s moved from the %s seal (%s) to the %s seal (%s); the root key is the same\n",
           dir, seal_kind_name(have), seal_file_name(have), seal_kind_name(to), seal_file_name(to));
    return 0;
}

int cmd_seal(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "migrate") == 0) return cmd_seal_migrate(argc - 1, argv + 1);
    const char *data_dir = env_or(CLI_DATA_DIR_ENV, CLI_DATA_DIR_DEFAULT);
    const struct cli_value vals[] = { { 'd', &data_dir } };
    int c = cli_parse(&seal_cmd, argc, argv, vals, 1, 0);
    if (c < 0) return cli_exit(c);
    return call("seal", data_dir, "seal", NULL);
}
