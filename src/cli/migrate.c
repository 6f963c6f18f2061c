/*
 * migrate.c -- `tresor migrate --from DIR --to URL`: a stopped data dir's
 * SQLite store copied into an empty PostgreSQL database
 * (store/pg_import.h), every record as it is.
 *
 * The data dir's lock is taken first, exclusively (cli_stopped_dir_lock),
 * and held to the end: a running server on DIR refuses the copy, and no
 * server starts on DIR meanwhile.  The root key is not read: the copy is
 * of wrapped material, and the data dir's root key (root.key, root.seal
 * or root.p11) unwraps it as before: every node on the database needs a
 * copy of it.  Nothing in DIR is changed.  Exit status 0 copied, 1 not
 * (the database as it was, but for tresor's empty tables), 2 usage error.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "store/pg_import.h"
#include "store/postgres.h"
#include "store/sqlite_uri.h"

static const struct cli_opt migrate_opts[] = {
    { "from", 'f', "DIR", NULL, NULL, "the data dir whose SQLite store is copied; no server may be running on it" },
    { "to", 'o', "URL", NULL, NULL,
      "the PostgreSQL database to copy into, which must be empty: postgres://USER@HOST/DB?..., "
      "postgresql://..., or libpq key=value pairs" },
    { 0 },
};

static const struct cli_cmd migrate_cmd = {
    "migrate", "--from DIR --to URL",
    "Copy the SQLite store of the stopped data dir DIR into the empty PostgreSQL\n"
    "database URL, in one transaction: every account, access key, KMS key and its\n"
    "wrapped material, alias, grant, secret and version, IAM entity and policy, as\n"
    "it is.  The root key is not needed and not copied: it stays in DIR, and\n"
    "unwraps the database as it did the file; give every node a copy of it.  Then\n"
    "run tresor check --data-dir DIR --store URL, and tresor serve --data-dir DIR\n"
    "--store URL.  DIR is left as it was.\n",
    migrate_opts,
    "Exit status: 0 copied, 1 failed (nothing copied), 2 usage error.\n", NULL,
};

int cmd_migrate(int argc, char **argv)
{
    const char *from = NULL, *to = NULL;
    const struct cli_value vals[] = { { 'f', &from }, { 'o', &to } };
    int c = cli_parse(&migrate_cmd, argc, argv, vals, 2, 0);
    if (c < 0) return cli_exit(c);
    if (!from || !*from) return cli_usage_error(NULL, &migrate_cmd, "--from DIR is required");
    if (!to || !*to) return cli_usage_error(NULL, &migrate_cmd, "--to URL is required");
    if (!store_pg_named(to))
        return cli_usage_error(NULL, &migrate_cmd, "--to must be a PostgreSQL connection string "
                               "(postgres://USER@HOST/DB?..., postgresql://..., or libpq key=value pairs)");

    char dir[PATH_MAX], db[PATH_MAX], where[512];
    if (!realpath(from, dir)) {
        perror(from);
        return 1;
    }
    if (!sqlite_db_path(dir, db) || !sqlite_file_exists(db, "")) {
        fprintf(stderr, "tresor migrate: %s has no SQLite store (%s): nothing to copy\n", dir, SQLITE_DB_FILE);
        return 1;
    }
    int lock = -1;
    if (tr_failed(cli_stopped_dir_lock(dir, &lock))) {
        fprintf(stderr, "tresor migrate: %s\n", tr_last_error()->message);
        return 1;
    }
    struct pg_import_report rep;
    tr_result r = store_pg_import_sqlite(db, to, &rep);
    close(lock);
    store_pg_describe(to, where, sizeof where);
    if (tr_failed(r)) {
        const struct tr_error_info *e = tr_last_error();
        fprintf(stderr, "tresor migrate: %s; nothing was copied\n", e->has_message ? e->message : tr_err_type(e->code));
        return 1;
    }
    printf("tresor migrate: %s (schema version %d) copied into PostgreSQL (%s): %zu rows in %zu tables\n",
           db, rep.schema_version, where, rep.rows, rep.tables);
    for (size_t i = 0; i < rep.tables; i++) printf("  %-24s %zu\n", rep.table[i].name, rep.table[i].rows);
    printf("The root key stays in %s (every node needs a copy of it). Next: tresor check --data-dir %s "
           "--store URL, then tresor serve --data-dir %s --store URL.\n", dir, dir, dir);
    return 0;
}
