/*
 * seal.c -- `tresor unseal` and `tresor seal`: unseal or seal a running
 * server whose data dir has the passphrase seal, through its control
 * socket (http/control.h; docs/internals/SEAL.md).
 *
 * unseal reads the passphrase from --passphrase-file FILE, else from
 * standard input (one line; on a terminal, asked for without echo).  It
 * never takes it from the command line, where other users' `ps` would see
 * it.  Exit status: 0 done (or already so), 1 refused or no server, 2
 * usage error.
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
#include "crypto/seal.h"
#include "http/control.h"

static const struct cli_opt unseal_opts[] = {
    CLI_OPT_DATA_DIR("the data dir of the running server"),
    { "passphrase-file", 'p', "FILE", NULL, NULL,
      "read the passphrase from FILE (mode 0600 or stricter) instead of standard input" },
    { 0 },
};

static const struct cli_cmd unseal_cmd = {
    "unseal", "[--data-dir DIR] [--passphrase-file FILE]",
    "Unseal a running tresor serve whose data dir has the passphrase seal: the\n"
    "passphrase (standard input, one line, or --passphrase-file) unwraps the root\n"
    "key and the server answers requests.  A wrong passphrase is refused and\n"
    "counted; the server stays sealed.\n",
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
    "unseal.  For a server with the passphrase seal.\n",
    seal_opts, "Exit status: 0 sealed (or already), 1 no server, 2 usage error.\n", NULL,
};

/* The passphrase from standard input; on a terminal, asked for without echo. */
static TR_RESULT read_stdin_passphrase(struct buf *pass)
{
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        fprintf(stderr, "Passphrase: ");
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
    const char *data_dir = env_or(CLI_DATA_DIR_ENV, CLI_DATA_DIR_DEFAULT), *file = NULL;
    const struct cli_value vals[] = { { 'd', &data_dir }, { 'p', &file } };
    int c = cli_parse(&unseal_cmd, argc, argv, vals, 2, 0);
    if (c < 0) return cli_exit(c);
    struct buf pass = BUF_SECRET(SEAL_PASSPHRASE_MAX + 2);
    tr_result r = file ? seal_passphrase_load(file, &pass) : read_stdin_passphrase(&pass);
    if (tr_failed(r)) {
        buf_free(&pass);
        fprintf(stderr, "tresor unseal: %s\n", tr_last_error()->message);
        return 1;
    }
    int rc = call("unseal", data_dir, "unseal", &pass);
    buf_free(&pass);
    return rc;
}

int cmd_seal(int argc, char **argv)
{
    const char *data_dir = env_or(CLI_DATA_DIR_ENV, CLI_DATA_DIR_DEFAULT);
    const struct cli_value vals[] = { { 'd', &data_dir } };
    int c = cli_parse(&seal_cmd, argc, argv, vals, 1, 0);
    if (c < 0) return cli_exit(c);
    return call("seal", data_dir, "seal", NULL);
}
