/*
 * account.c -- `tresor account create`: another account in the same store,
 * with its root user's credentials appended to DIR/credentials as the
 * profile tresor-<ACCOUNT_ID>; and `tresor account credentials`: an
 * account's root credentials, read from the store and unwrapped with the
 * data dir's root key, written to a new file -- how the nodes after the
 * first of a PostgreSQL store (README, "Several nodes on one database"),
 * or an operator, get the credentials file without copying it from the
 * node that made the account.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "core/secmem.h"
#include "crypto/keyring.h"
#include "iam/accounts.h"
#include "op/clock.h"
#include "op/op.h"

static const struct cli_opt account_opts[] = {
    { "account-id", 'a', "ID", NULL, "random", "the new account's 12-digit id" },
    CLI_OPT_DATA_DIR("the data dir of the store"),
    CLI_OPT_STORE("the PostgreSQL database of the store (the server may be serving it), instead of the "
                  "data dir's SQLite file"),
    CLI_OPT_REGION('r', "the region written to the profile"),
    { 0 },
};

static const struct cli_cmd account_cmd = {
    "account create", "[--account-id ID] [--data-dir DIR] [--store URL] [--region REGION]",
    "Create an account in the store of DIR (the server may be running) and\n"
    "append its root user's access key to DIR/credentials as the profile\n"
    "tresor-<ACCOUNT_ID> (region in DIR/config).  Prints the account id.\n",
    account_opts, NULL, NULL,
};

/* The new account's profile tresor-<ID>, written before the account
 * commits (account_create_then). */
struct new_creds { const char *dir; const char *region; char *profile; };

static TR_RESULT write_creds(void *arg, const struct root_credentials *c)
{
    struct new_creds *nc = arg;
    snprintf(nc->profile, 64, "tresor-%s", c->account_id);     /* fits: 7 + 12 digits */
    return credfile_write(nc->dir, nc->profile, c, nc->region);
}

static const struct cli_opt credentials_opts[] = {
    { "out", 'o', "FILE", NULL, NULL, "the credentials file to write (mode 0600); it must not exist" },
    { "account-id", 'a', "ID", NULL, "the first account", "whose root credentials" },
    CLI_OPT_DATA_DIR("the data dir holding the root key of the store"),
    CLI_OPT_STORE("the PostgreSQL database of the store (nodes may be serving it), instead of the "
                  "data dir's SQLite file"),
    CLI_OPT_REGION('r', "the region written to the profile"),
    { 0 },
};

static const struct cli_cmd credentials_cmd = {
    "account credentials", "--out FILE [--account-id ID] [--data-dir DIR] [--store URL] [--region REGION]",
    "Write an account's root credentials (its root user's first active access\n"
    "key, unwrapped with DIR's root key) to FILE as an AWS shared-credentials\n"
    "file: the profile tresor for the first account, tresor-<ACCOUNT_ID> for\n"
    "another, with its region.  FILE must not exist.  Reads the store only.\n",
    credentials_opts, NULL, NULL,
};

/* The root user's first active, permanent access key of account_id, its
 * secret unwrapped into c (wipe it after use). */
static TR_RESULT root_credentials_get(store_t st, const struct keyring *kr, const char *account_id,
                                      struct root_credentials *c)
{
    char arn[64], label[KEYRING_LABEL_MAX];
    struct access_key_rec *v = NULL, *k = NULL;
    size_t n = 0;
    struct buf secret = BUF_SECRET(256);
    tr_result r;

    memset(c, 0, sizeof *c);
    GUARD(str_format(arn, sizeof arn, "the root user's ARN", "arn:aws:iam::%s:root", account_id));
    GUARD(st[0]->access_key_list(st, arn, &v, &n));
    for (size_t i = 0; i < n; i++)
        if (v[i].active && v[i].expires == 0 && (!k || v[i].created < k->created)) k = &v[i];
    if (!k) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_NOT_FOUND, "account %s has no active root access key",
                       account_id);
        goto done;
    }
    r = keyring_label_access_key(label, k->access_key_id);
    if (tr_ok(r)) r = keyring_unwrap(kr, label, k->wrapped_secret.data, k->wrapped_secret.len, &secret);
    if (tr_ok(r) && secret.len >= sizeof c->secret)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "the root access key's secret is too long");
    if (tr_ok(r)) r = str_copy(c->account_id, sizeof c->account_id, account_id, "the account id");
    if (tr_ok(r)) r = str_copy(c->access_key_id, sizeof c->access_key_id, k->access_key_id, "the access key id");
    if (tr_ok(r)) {
        memcpy(c->secret, secret.data, secret.len);
        c->secret[secret.len] = '\0';
    }
done:
    buf_free(&secret);
    access_key_list_free(v, n);
    if (tr_failed(r)) secure_zero(c, sizeof *c);
    return r;
}

/* Write text (len bytes) to a new file path, mode 0600, synced. */
static TR_RESULT write_new_file(const char *path, const char *text, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        BAIL(TR_E_INTERNAL, "cannot create %s: %s%s", path, strerror(errno),
             errno == EEXIST ? " (it is not overwritten)" : "");
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    bool ok = off == len && fsync(fd) == 0;
    if (close(fd) != 0) ok = false;
    if (!ok) {
        unlink(path);
        BAIL(TR_E_INTERNAL, "cannot write %s", path);
    }
    return TR_OK;
}

/* The start `account create` and `account credentials` share: check the
 * options both take (an --account-id of 12 digits when given, a region
 * name, --store), then open the store of data_dir into *dd.  0 with *dd
 * open (close_data_dir), else the exit status: 2 with the usage error
 * printed, or open_data_dir's. */
static int open_account_store(const struct cli_cmd *cmd, const char *account_id, const char *region,
                              const char *store_arg, const char *data_dir, bool readonly,
                              struct data_dir *dd)
{
    const char *store = NULL;
    int rc = 0;
    memset(dd, 0, sizeof *dd);
    if (account_id && !account_id_valid(account_id))
        rc = cli_usage_error(NULL, cmd, "--account-id must be 12 digits, not '%s'", account_id);
    else if (!region_valid(region))
        rc = cli_usage_error(NULL, cmd, "%s must be a region name such as us-east-1, not '%s'",
                             cli_source(region, "TRESOR_REGION", "--region"), region);
    else if (cli_store_arg(cmd, store_arg, &store))
        rc = 2;
    else
        rc = open_data_dir(data_dir, store, readonly, dd);
    /* 0 only with the store open (the caller uses dd.st at once). */
    return rc ? rc : dd->st ? 0 : 1;
}

static int cmd_credentials(int argc, char **argv)
{
    const char *data_dir = env_or(CLI_DATA_DIR_ENV, CLI_DATA_DIR_DEFAULT);
    const char *region = env_or(CLI_REGION_ENV, CLI_REGION_DEFAULT);
    const char *account_id = NULL, *out = NULL;
    const char *store_arg = env_or(CLI_STORE_ENV, NULL);
    const struct cli_value vals[] = { { 'o', &out }, { 'a', &account_id }, { 'd', &data_dir },
                                      { 'r', &region }, { 'B', &store_arg } };
    int c = cli_parse(&credentials_cmd, argc, argv, vals, 5, 0);
    if (c < 0) return cli_exit(c);
    if (!out || !*out) return cli_usage_error(NULL, &credentials_cmd, "--out FILE is required");
    struct data_dir dd;
    int rc = open_account_store(&credentials_cmd, account_id, region, store_arg, data_dir, true, &dd);
    if (rc) return rc;
    struct account_rec first;
    struct root_credentials cred;
    char text[512];
    memset(&cred, 0, sizeof cred);
    tr_result r = dd.st[0]->account_first(dd.st, &first);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_NOT_FOUND, "the store has no account yet");
    const char *want = account_id ? account_id : first.id;
    if (tr_ok(r)) r = root_credentials_get(dd.st, dd.kr, want, &cred);
    bool is_first = tr_ok(r) && strcmp(want, first.id) == 0;
    int n = 0;
    if (tr_ok(r)) {
        /* fits: 2 profile names, an access key id, a secret and a region in 512 */
        n = snprintf(text, sizeof text, "[%s%s%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                     "region = %s\n", "tresor", is_first ? "" : "-", is_first ? "" : cred.account_id,
                     cred.access_key_id, cred.secret, region);
        if (n < 0 || (size_t)n >= sizeof text) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    if (tr_ok(r)) r = write_new_file(out, text, (size_t)n);
    if (tr_ok(r)) {
        fprintf(stderr, "root credentials of account %s in %s (profile tresor%s%s)\n", cred.account_id, out,
                is_first ? "" : "-", is_first ? "" : cred.account_id);
    } else {
        rc = die("account credentials");
    }
    secure_zero(text, sizeof text);
    secure_zero(&cred, sizeof cred);
    close_data_dir(&dd);
    return rc;
}

int cmd_account(int argc, char **argv)
{
    int status;
    if (argc >= 2 && strcmp(argv[1], "credentials") == 0) return cmd_credentials(argc - 1, argv + 1);
    if (!cli_one_command(argc, argv, "account", "create", &account_cmd, &status)) return status;
    const char *data_dir = env_or(CLI_DATA_DIR_ENV, CLI_DATA_DIR_DEFAULT);
    const char *region = env_or(CLI_REGION_ENV, CLI_REGION_DEFAULT);
    const char *account_id = NULL;
    const char *store_arg = env_or(CLI_STORE_ENV, NULL);
    const struct cli_value vals[] = { { 'a', &account_id }, { 'd', &data_dir }, { 'r', &region },
                                      { 'B', &store_arg } };
    int c = cli_parse(&account_cmd, argc - 1, argv + 1, vals, 4, 0);
    if (c < 0) return cli_exit(c);
    struct data_dir dd;
    int rc = open_account_store(&account_cmd, account_id, region, store_arg, data_dir, false, &dd);
    if (rc) return rc;
    struct root_credentials cred;
    char profile[64] = "";
    struct new_creds nc = { dd.path, region, profile };
    tr_result r = account_create_then(dd.st, dd.kr, account_id, tr_now(), write_creds, &nc, &cred);
    if (tr_ok(r)) {
        printf("%s\n", cred.account_id);
        fprintf(stderr, "created account %s; root credentials in %s/credentials (profile %s)\n",
                cred.account_id, dd.path, profile);
    } else {
        rc = die("account create");
    }
    secure_zero(&cred, sizeof cred);
    close_data_dir(&dd);
    return rc;
}
