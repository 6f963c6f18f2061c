/*
 * check.c -- `tresor check`: the store's integrity check over a data dir
 * (analyze/check.h), for a stopped server's data dir -- after a crash, a
 * full disk, a restore from backup -- or a running one (the check only
 * reads; SQLite lets it read beside the server).
 *
 * The store is opened read-only (store_sqlite_open_readonly): the check
 * creates, changes and migrates nothing, so it also runs on a read-only
 * copy (a snapshot, a restored backup, a read-only mount).
 *
 * Prints a short report: what was checked, with counts, then "clean", or
 * the first problems and their count.  Exit status 0 when clean, 1 with
 * problems or when the data dir does not open, 2 on a usage error.  No
 * secret is ever printed.
 */
#include <stdio.h>
#include <string.h>

#include "analyze/check.h"
#include "cli/cli.h"
#include "cli/opts.h"
#include "store/schema.h"

static const struct cli_opt check_opts[] = {
    CLI_OPT_DATA_DIR("the data dir to check"),
    CLI_OPT_STORE("the PostgreSQL database of the store, instead of the data dir's SQLite file"),
    { 0 },
};

static const struct cli_cmd check_cmd = {
    "check", "[--data-dir DIR] [--store URL]",
    "Check the integrity of the store of DIR: SQLite's integrity and foreign-key\n"
    "checks, the schema version, every KMS key's material and every access key\n"
    "unwrapping under the root key, every secret version decrypting, staging\n"
    "labels, grants, aliases and purge entries pointing at what exists.  Works on\n"
    "a stopped server's data dir and beside a running server.\n",
    check_opts,
    "Exit status: 0 clean, 1 a problem found (or DIR does not open), 2 usage error.\n", NULL,
};

int cmd_check(int argc, char **argv)
{
    const char *data_dir = env_or(CLI_DATA_DIR_ENV, CLI_DATA_DIR_DEFAULT);
    const char *store_arg = env_or(CLI_STORE_ENV, NULL), *store = NULL;
    const struct cli_value vals[] = { { 'd', &data_dir }, { 'B', &store_arg } };
    int c = cli_parse(&check_cmd, argc, argv, vals, 2, 0);
    if (c < 0) return cli_exit(c);
    if (cli_store_arg(&check_cmd, store_arg, &store)) return 2;

    struct data_dir dd;
    int rc = open_data_dir(data_dir, store, true /* read-only */, &dd);
    if (rc) return rc;
    struct check_report rep;
    tr_result r = store_check(dd.st, dd.kr, &rep);
    close_data_dir(&dd);
    if (tr_failed(r)) return die("check");

    printf("tresor check %s\n", dd.path);
    if (store)
        printf("  store: PostgreSQL, schema version %d (this build: %zu); foreign keys are enforced at commit\n",
               rep.schema_version, store_pg_schema_count);
    else
        printf("  store: schema version %d (this build: %zu), integrity and foreign keys checked\n",
               rep.schema_version, store_schema_count);
    printf("  accounts %zu, access keys %zu, managed policies %zu\n", rep.accounts,
           rep.access_keys, rep.policies);
    printf("  kms keys %zu, key materials %zu, aliases %zu, grants %zu\n", rep.keys,
           rep.materials, rep.aliases, rep.grants);
    printf("  secrets %zu, versions %zu, values decrypted %zu\n", rep.secrets, rep.versions,
           rep.values);
    printf("  roles %zu; policies not yet bound to principals' ids %zu%s\n", rep.roles, rep.unbound,
           rep.unbound ? " (saved by an older tresor: bound when the server next starts)" : "");
    if (rep.problems == 0) {
        printf("clean\n");
        return 0;
    }
    for (size_t i = 0; i < rep.shown; i++) printf("PROBLEM %s\n", rep.line[i]);
    if (rep.problems > rep.shown) printf("... and %zu more\n", rep.problems - rep.shown);
    printf("%zu problem%s\n", rep.problems, rep.problems == 1 ? "" : "s");
    return 1;
}
