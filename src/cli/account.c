/*
 * account.c -- `tresor account create`: another account in the same store,
 * with its root user's credentials appended to DIR/credentials as the
 * profile tresor-<ACCOUNT_ID>.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "core/secmem.h"
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

int cmd_account(int argc, char **argv)
{
    int status;
    if (!cli_one_command(argc, argv, "account", "create", &account_cmd, &status)) return status;
    const char *data_dir = env_or(CLI_DATA_DIR_ENV, CLI_DATA_DIR_DEFAULT);
    const char *region = env_or(CLI_REGION_ENV, CLI_REGION_DEFAULT);
    const char *account_id = NULL;
    const char *store_arg = env_or(CLI_STORE_ENV, NULL), *store = NULL;
    const struct cli_value vals[] = { { 'a', &account_id }, { 'd', &data_dir }, { 'r', &region },
                                      { 'B', &store_arg } };
    int c = cli_parse(&account_cmd, argc - 1, argv + 1, vals, 4, 0);
    if (c < 0) return cli_exit(c);
    if (account_id && !account_id_valid(account_id))
        return cli_usage_error(NULL, &account_cmd, "--account-id must be 12 digits, not '%s'", account_id);
    if (!region_valid(region))
        return cli_usage_error(NULL, &account_cmd, "%s must be a region name such as us-east-1, not '%s'",
                               cli_source(region, "TRESOR_REGION", "--region"), region);

    if (cli_store_arg(&account_cmd, store_arg, &store)) return 2;

    struct data_dir dd;
    int rc = open_data_dir(data_dir, store, false, &dd);
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
