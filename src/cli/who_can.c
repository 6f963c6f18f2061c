/*
 * who_can.c -- `tresor who-can-decrypt SECRET`: every principal that can
 * obtain a secret's plaintext, and why (SEMANTICS 6; output schema in
 * docs/WHO_CAN_DECRYPT.md).  Reads the store directly (the server may be
 * running) and decides with the server's own authorization code through
 * src/analyze/.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze.h"
#include "cli/cli.h"
#include "iam/authz.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: tresor who-can-decrypt SECRET [options]\n"
        "\n"
        "Every principal that can obtain SECRET's plaintext (GetSecretValue on the\n"
        "secret and kms:Decrypt on its key as Secrets Manager asks it), directly or\n"
        "through sts:AssumeRole, with the statements that allow each step.\n"
        "\n"
        "  SECRET               a secret name or ARN\n"
        "  --account ID         the account of a secret given by name (default: the first)\n"
        "  --region REGION      the region of a secret given by name (TRESOR_REGION, default us-east-1)\n"
        "  --data-dir DIR       TRESOR_DATA_DIR, default ./tresor-data\n"
        "  --format text|json   output (json: docs/WHO_CAN_DECRYPT.md)\n"
        "  --explain PRINCIPAL  one principal (user, role or root ARN): each step's decision\n"
        "  -h, --help           this text\n");
}

int cmd_who_can(int argc, char **argv)
{
    const char *data_dir = env_or("TRESOR_DATA_DIR", "./tresor-data");
    const char *region = env_or("TRESOR_REGION", "us-east-1");
    const char *account = NULL, *format = "text", *explain = NULL, *secret = NULL;
    static const struct option lo[] = {
        { "account", required_argument, 0, 'a' },
        { "region", required_argument, 0, 'g' },
        { "data-dir", required_argument, 0, 'd' },
        { "format", required_argument, 0, 'f' },
        { "explain", required_argument, 0, 'e' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'a': account = optarg; break;
        case 'g': region = optarg; break;
        case 'd': data_dir = optarg; break;
        case 'f': format = optarg; break;
        case 'e': explain = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1 || (strcmp(format, "text") != 0 && strcmp(format, "json") != 0)) {
        usage(stderr);
        return 2;
    }
    secret = argv[optind];

    char dir[PATH_MAX];
    struct keyring *kr;
    store_t st;
    if (open_data_dir(data_dir, dir, &kr, &st)) return 2;

    int rc = 2;
    struct server_env env = { .st = st, .kr = kr, .default_region = region };
    struct az_target t;
    struct az_graph g = { 0 };
    struct az_access *acc = NULL;
    struct az_answer *ans = NULL;
    struct account_rec first;
    enum az_format f = strcmp(format, "json") == 0 ? AZ_JSON : AZ_TEXT;
    bool have_target = false;

    if (!account) {
        if (tr_failed(st[0]->account_first(st, &first))) { rc = die("no account"); goto out; }
        account = first.id;
    }
    if (tr_failed(az_target_load(&env, secret, account, region, &t))) { rc = die(secret); goto out; }
    have_target = true;
    /* The accounts to consider: the secret's, the key's, and every account
     * the resource and key policies name (graph.c adds what trust
     * policies name). */
    const char **accts = calloc(t.nnamed + 2, sizeof *accts);
    size_t na = 0;
    if (!accts) goto out;
    accts[na++] = t.s.account;
    if (t.have_key) accts[na++] = t.key.account_id;
    for (size_t i = 0; i < t.nnamed; i++)
        if (strcmp(t.named[i], "*") != 0) accts[na++] = t.named[i];
    tr_result r = az_graph_build(&env, accts, na, &g);
    free(accts);
    if (tr_failed(r)) { rc = die("principals"); goto out; }
    acc = calloc(g.nn + 1, sizeof *acc);
    ans = calloc(g.nn + 1, sizeof *ans);
    if (!acc || !ans) goto out;
    if (tr_failed(az_who_can(&env, &g, &t, acc, ans))) { rc = die("analysis"); goto out; }
    if (explain) {
        size_t node = az_graph_find(&g, explain);
        if (node == SIZE_MAX) {
            fprintf(stderr, "tresor who-can-decrypt: %s is not a principal the analysis knows "
                            "(a user, role or root ARN of an account involved)\n", explain);
            goto out;
        }
        az_explain(&g, &t, acc, ans, node, f);
    } else {
        az_report(&g, &t, acc, ans, f);
    }
    rc = 0;
out:
    free(acc);
    free(ans);
    az_graph_free(&g);
    if (have_target) az_target_free(&t);
    close_data_dir(kr, st);
    return rc;
}
