/*
 * account.c -- `tresor account create`: another account in the same store,
 * with its root user's credentials appended to DIR/credentials as the
 * profile tresor-<ACCOUNT_ID>.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/secmem.h"
#include "http/op.h"
#include "iam/accounts.h"

static void usage_account(FILE *f)
{
    fprintf(f,
        "usage: tresor account create [--account-id ID] [--data-dir DIR] [--region REGION]\n"
        "\n"
        "Create an account in the store of DIR (the server may be running) and\n"
        "append its root user's access key to DIR/credentials as the profile\n"
        "tresor-<ACCOUNT_ID> (region in DIR/config).  Prints the account id.\n"
        "\n"
        "  --account-id ID   12 digits (default random)\n"
        "  --data-dir DIR    (TRESOR_DATA_DIR, default ./tresor-data)\n"
        "  --region REGION   written to the profile (TRESOR_REGION, default us-east-1)\n");
}

/* The new account's profile tresor-<ID>, written before the account
 * commits (account_create_then). */
struct new_creds { const char *dir; const char *region; char *profile; };

static TR_RESULT write_creds(void *arg, const struct root_credentials *c)
{
    struct new_creds *nc = arg;
    snprintf(nc->profile, 64, "tresor-%s", c->account_id);
    return credfile_write(nc->dir, nc->profile, c, nc->region);
}

int cmd_account(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "create") != 0) {
        bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
        usage_account(help ? stdout : stderr);
        return help ? 0 : 2;
    }
    const char *data_dir = env_or("TRESOR_DATA_DIR", "./tresor-data");
    const char *region = env_or("TRESOR_REGION", "us-east-1");
    const char *account_id = NULL;
    static const struct option lo[] = {
        { "account-id", required_argument, 0, 'a' },
        { "data-dir", required_argument, 0, 'd' },
        { "region", required_argument, 0, 'r' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'a': account_id = optarg; break;
        case 'd': data_dir = optarg; break;
        case 'r': region = optarg; break;
        case 'h': usage_account(stdout); return 0;
        default: usage_account(stderr); return 2;
        }
    }
    if (account_id && !account_id_valid(account_id)) {
        fprintf(stderr, "tresor account create: --account-id must be 12 digits\n");
        return 2;
    }
    if (!region_valid(region)) {
        fprintf(stderr, "tresor account create: invalid region '%s'\n", region);
        return 2;
    }

    char dir[PATH_MAX];
    struct keyring *kr;
    store_t st;
    int rc = open_data_dir(data_dir, dir, &kr, &st);
    if (rc) return rc;
    struct root_credentials cred;
    char profile[64] = "";
    struct new_creds nc = { dir, region, profile };
    tr_result r = account_create_then(st, kr, account_id, tr_now(), write_creds, &nc, &cred);
    if (tr_ok(r)) {
        printf("%s\n", cred.account_id);
        fprintf(stderr, "created account %s; root credentials in %s/credentials (profile %s)\n",
                cred.account_id, dir, profile);
    } else {
        rc = die("account create");
    }
    secure_zero(&cred, sizeof cred);
    close_data_dir(kr, st);
    return rc;
}
