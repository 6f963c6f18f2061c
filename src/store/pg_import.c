/*
 * pg_import.c -- copy a stopped SQLite store into an empty PostgreSQL
 * database (contract in pg_import.h; `tresor migrate`, src/cli/migrate.c).
 *
 * The two schemas are one for one (schema/ and schema_pg/: the same
 * tables and columns, PostgreSQL's types), so the copy is by table, not
 * by record call: every table of the SQLite file (sqlite_schema, in the
 * order they were made), every row, every column by name.  A column that
 * is bytea in PostgreSQL (the wrapped material, access keys' secrets) is
 * sent as its bytes (a binary parameter); every other value as SQLite's
 * text of it, which PostgreSQL reads into its column's type (bigint,
 * text); NULL stays NULL.  Nothing is unwrapped or decoded, so the root
 * key is not needed, and the data dir's root key unwraps the copy as it
 * did the file (the root record, a relation, is copied with the rest).
 * The one column PostgreSQL has beyond SQLite's, accounts.seq (the
 * creation order SQLite's rowid gives), is filled by its identity as the
 * accounts are inserted in rowid order.
 *
 * The database must be empty: before anything is made there, its tables
 * are listed, and any that is not tresor's refuses the copy; then the
 * schema is made as a node's first start makes it (store_pg_open), and
 * inside the copy's transaction every tresor table must have no rows
 * (so a copy never lands in a store a node has started on, even one that
 * started a moment ago).  The copy is one transaction under the nodes'
 * write lock (STORE_PG_LOCK_WRITE), and ends by bumping the generation
 * row and notifying it, as every node's write does: a node already
 * serving the database drops what it cached.  A failure rolls it back:
 * the database is left with tresor's empty tables, which a second run
 * accepts.
 *
 * Secrets: the rows hold wrapped material only; no value of a row reaches
 * a message or a log line (PostgreSQL's primary message and SQLSTATE are
 * logged, never its detail, which can quote a key).
 */
#include "store/pg_import.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/postgres.h"
#include "store/schema.h"
#include "store/sqlite_uri.h"

#define COLS_MAX 32
#define NAME_MAX_LEN 63                 /* PostgreSQL's identifiers */

/* A table's columns as both sides have them. */
struct table_cols {
    size_t n;
    char name[COLS_MAX][NAME_MAX_LEN + 1];
    bool bytea[COLS_MAX];               /* PostgreSQL's type of it */
};

/* PostgreSQL's primary message and SQLSTATE of a failure, logged; never
 * its detail or the statement's parameters. */
static void pg_note(PGconn *db, const PGresult *res, const char *what)
{
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char line[256];
    if (!msg) msg = db ? PQerrorMessage(db) : "no connection";
    snprintf(line, sizeof line, "%s", msg);             /* cut: a log line */
    for (char *nl = strchr(line, '\n'); nl; nl = strchr(nl, '\n')) *nl = ' ';
    fprintf(stderr, "tresor: migrate: postgres: %s (SQLSTATE %s) [%s]\n", line, st ? st : "-", what);
}

/* Run sql (no parameters) on db: the result, or NULL (logged) when it
 * failed. */
static PGresult *pg_run(PGconn *db, const char *sql, const char *what)
{
    PGresult *res = PQexec(db, sql);
    ExecStatusType rs = PQresultStatus(res);
    if (rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK) return res;
    pg_note(db, res, what);
    PQclear(res);
    return NULL;
}

/* Run sql (no parameters, no rows wanted) on db: true when it succeeded;
 * a failure is logged (pg_run). */
static bool pg_do(PGconn *db, const char *sql, const char *what)
{
    PGresult *res = pg_run(db, sql, what);
    bool ok = res != NULL;
    PQclear(res);
    return ok;
}

static PGconn *pg_open(const char *conninfo)
{
    static const char *const keys[] = { "connect_timeout", "application_name", "client_encoding", "dbname", NULL };
    const char *vals[] = { "10", "tresor", "UTF8", conninfo, NULL };
    PGconn *db = PQconnectdbParams(keys, vals, 1);
    if (db && PQstatus(db) == CONNECTION_OK) return db;
    pg_note(db, NULL, "connect");
    PQfinish(db);
    return NULL;
}

/* Whether name is one of the SQLite store's tables, or PostgreSQL's own
 * two (tresor_schema, tresor_generation). */
static bool tresor_table(const char *name, char (*tables)[NAME_MAX_LEN + 1], size_t n)
{
    if (strcmp(name, "tresor_schema") == 0 || strcmp(name, "tresor_generation") == 0) return true;
    for (size_t i = 0; i < n; i++)
        if (strcmp(tables[i], name) == 0) return true;
    return false;
}

/* The tables of the SQLite store, in the order they were made. */
static TR_RESULT sqlite_tables(sqlite3 *sq, char (*out)[NAME_MAX_LEN + 1], size_t *n)
{
    sqlite3_stmt *q = NULL;
    tr_result r = TR_OK;
    *n = 0;
    int rc = sqlite3_prepare_v2(sq, "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE "
                                "'sqlite\\_%' ESCAPE '\\' ORDER BY rowid", -1, &q, NULL);
    if (rc != SQLITE_OK) BAIL(TR_E_INTERNAL, "reading the SQLite store's tables: %s", sqlite3_errmsg(sq));
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(q, 0);
        if (!t || strlen(t) > NAME_MAX_LEN || *n == PG_IMPORT_TABLES_MAX) {
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "the SQLite store has a table this tresor does "
                           "not know (%.64s)", t ? t : "?");
            break;
        }
        snprintf(out[(*n)++], NAME_MAX_LEN + 1, "%s", t);      /* fits: checked above */
    }
    if (tr_ok(r) && rc != SQLITE_DONE)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "reading the SQLite store's tables: %s",
                       sqlite3_errmsg(sq));
    sqlite3_finalize(q);
    return r;
}

/* Every table of the database that is not tresor's: refused, by name. */
static TR_RESULT pg_only_tresor_tables(PGconn *db, char (*tables)[NAME_MAX_LEN + 1], size_t n,
                                       const char *where)
{
    PGresult *res = pg_run(db, "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON "
                           "n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname "
                           "NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' "
                           "ORDER BY 1, 2", "listing the tables");
    if (!res) BAIL(TR_E_STORE_IO, "cannot list the tables of the PostgreSQL database (%s): the log says why",
                   where);
    tr_result r = TR_OK;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *schema = PQgetvalue(res, i, 0), *name = PQgetvalue(res, i, 1);
        PGresult *cur = NULL;
        bool ours = tresor_table(name, tables, n);
        if (ours) {             /* in the schema tresor uses: the connection's current one */
            cur = pg_run(db, "SELECT current_schema()", "current_schema");
            ours = cur && PQntuples(cur) == 1 && strcmp(PQgetvalue(cur, 0, 0), schema) == 0;
            PQclear(cur);
        }
        if (!ours) {
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "the PostgreSQL database (%s) is not empty: it "
                           "holds %.64s.%.64s, which is not tresor's; tresor migrate copies into an empty "
                           "database only", where, schema, name);
            break;
        }
    }
    PQclear(res);
    return r;
}

/* The columns of table t: SQLite's, each found in PostgreSQL's table
 * with its type; PostgreSQL's others must be identity columns. */
static TR_RESULT table_columns(sqlite3 *sq, PGconn *db, const char *t, struct table_cols *tc)
{
    sqlite3_stmt *q = NULL;
    tr_result r = TR_OK;
    memset(tc, 0, sizeof *tc);
    if (sqlite3_prepare_v2(sq, "SELECT name FROM pragma_table_info(?1) ORDER BY cid", -1, &q, NULL) != SQLITE_OK ||
        sqlite3_bind_text(q, 1, t, -1, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_finalize(q);
        BAIL(TR_E_INTERNAL, "reading the columns of %s: %s", t, sqlite3_errmsg(sq));
    }
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *c = (const char *)sqlite3_column_text(q, 0);
        if (!c || strlen(c) > NAME_MAX_LEN || tc->n == COLS_MAX) {
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "table %s has a column this tresor does not "
                           "know", t);
            break;
        }
        snprintf(tc->name[tc->n++], NAME_MAX_LEN + 1, "%s", c);  /* fits: checked above */
    }
    sqlite3_finalize(q);
    GUARD(r);
    if (rc != SQLITE_DONE) BAIL(TR_E_INTERNAL, "reading the columns of %s", t);

    const char *pv[1] = { t };
    PGresult *res = PQexecParams(db, "SELECT column_name, data_type, is_identity FROM information_schema.columns "
                                 "WHERE table_schema = current_schema() AND table_name = $1", 1, NULL, pv,
                                 NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pg_note(db, res, "information_schema.columns");
        PQclear(res);
        BAIL(TR_E_STORE_IO, "cannot read the columns of %s in PostgreSQL: the log says why", t);
    }
    size_t matched = 0;
    for (int i = 0; i < PQntuples(res) && tr_ok(r); i++) {
        const char *name = PQgetvalue(res, i, 0);
        bool found = false;
        for (size_t k = 0; k < tc->n; k++)
            if (strcmp(tc->name[k], name) == 0) {
                tc->bytea[k] = strcmp(PQgetvalue(res, i, 1), "bytea") == 0;
                found = true;
                matched++;
            }
        if (!found && strcmp(PQgetvalue(res, i, 2), "YES") != 0)
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "table %s has a column %.64s in PostgreSQL that "
                           "the SQLite store lacks", t, name);
    }
    PQclear(res);
    GUARD(r);
    if (matched != tc->n)
        BAIL(TR_E_INTERNAL, "table %s of the SQLite store has a column PostgreSQL's lacks", t);
    return TR_OK;
}

/* `"a", "b", ...` of tc's columns (already checked to be plain names). */
static TR_RESULT col_list(PGconn *db, const struct table_cols *tc, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < tc->n; i++) {
        char *q = PQescapeIdentifier(db, tc->name[i], strlen(tc->name[i]));
        ENSURE(q != NULL, TR_E_INTERNAL);
        int k = snprintf(out + len, cap - len, "%s%s", i ? ", " : "", q);
        PQfreemem(q);
        ENSURE(k > 0 && (size_t)k < cap - len, TR_E_INTERNAL);
        len += (size_t)k;
    }
    return TR_OK;
}

/* Copy table t, every row, into the open transaction on db; *rows gets
 * the count.  The PostgreSQL table must have no rows. */
static TR_RESULT copy_table(sqlite3 *sq, PGconn *db, const char *t, const char *where, size_t *rows)
{
    struct table_cols tc;
    char cols[COLS_MAX * (2 * NAME_MAX_LEN + 6)], sql[sizeof cols * 2 + 256];
    sqlite3_stmt *q = NULL;
    PGresult *res = NULL;
    char *qt = NULL;
    tr_result r = TR_OK;
    *rows = 0;

    r = table_columns(sq, db, t, &tc);
    if (tr_ok(r)) r = col_list(db, &tc, cols, sizeof cols);
    if (tr_failed(r)) goto fail;
    qt = PQescapeIdentifier(db, t, strlen(t));
    if (!qt) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }

    /* Empty, inside the copy's transaction. */
    snprintf(sql, sizeof sql, "SELECT EXISTS (SELECT 1 FROM %s)", qt);     /* fits: a name */
    res = pg_run(db, sql, "SELECT EXISTS");
    if (!res) { r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_IO, "cannot read %s in PostgreSQL", t); goto fail; }
    bool has = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    res = NULL;
    if (has) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "the PostgreSQL database (%s) is not empty: its table "
                       "%s has rows (a store is there already); tresor migrate copies into an empty database "
                       "only", where, t);
        goto fail;
    }

    int n = snprintf(sql, sizeof sql, "INSERT INTO %s (%s) VALUES (", qt, cols);
    for (size_t i = 0; i < tc.n && n > 0 && (size_t)n < sizeof sql; i++)
        n += snprintf(sql + n, sizeof sql - (size_t)n, "%s$%zu", i ? ", " : "", i + 1);
    if (n <= 0 || (size_t)n + 2 > sizeof sql) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    memcpy(sql + n, ")", 2);
    res = PQprepare(db, "", sql, (int)tc.n, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        pg_note(db, res, "PREPARE INSERT");
        r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_IO, "cannot copy %s: the log says why", t);
        goto fail;
    }
    PQclear(res);
    res = NULL;

    /* SQLite's side: the same columns (SQLite quotes identifiers with
     * double quotes too); accounts in rowid order (seq, above). */
    snprintf(sql, sizeof sql, "SELECT %s FROM %s%s", cols, qt,        /* fits: as the INSERT */
             strcmp(t, "accounts") == 0 ? " ORDER BY rowid" : "");
    if (sqlite3_prepare_v2(sq, sql, -1, &q, NULL) != SQLITE_OK) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "reading %s of the SQLite store: %s", t,
                       sqlite3_errmsg(sq));
        goto fail;
    }
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *v[COLS_MAX];
        int len[COLS_MAX], fmt[COLS_MAX];
        for (size_t i = 0; i < tc.n; i++) {
            int c = (int)i;
            v[i] = NULL;
            len[i] = 0;
            fmt[i] = 0;
            if (sqlite3_column_type(q, c) == SQLITE_NULL) continue;
            if (tc.bytea[i]) {
                const void *b = sqlite3_column_blob(q, c);
                len[i] = sqlite3_column_bytes(q, c);
                v[i] = b ? b : "";
                fmt[i] = 1;
            } else {
                v[i] = (const char *)sqlite3_column_text(q, c);
                if (!v[i]) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "out of memory"); goto fail; }
            }
        }
        res = PQexecPrepared(db, "", (int)tc.n, v, len, fmt, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            pg_note(db, res, t);
            r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_IO, "cannot copy a row of %s: the log says why; "
                           "nothing was copied", t);
            goto fail;
        }
        PQclear(res);
        res = NULL;
        (*rows)++;
    }
    if (rc != SQLITE_DONE) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "reading %s of the SQLite store: %s", t,
                       sqlite3_errmsg(sq));
        goto fail;
    }
fail:
    sqlite3_finalize(q);
    PQclear(res);
    PQfreemem(qt);
    return r;
}

TR_RESULT store_pg_import_sqlite(const char *db_path, const char *conninfo, struct pg_import_report *rep)
{
    char where[512], uri[3 * PATH_MAX + 64], sql[256];
    char tables[PG_IMPORT_TABLES_MAX][NAME_MAX_LEN + 1];
    size_t ntables = 0;
    sqlite3 *sq = NULL;
    PGconn *db = NULL;
    store_t st = NULL;
    bool sq_tx = false, pg_tx = false;
    tr_result r = TR_OK;

    ENSURE_REF(db_path);
    ENSURE_REF(conninfo);
    ENSURE_REF(rep);
    memset(rep, 0, sizeof *rep);
    store_pg_describe(conninfo, where, sizeof where);

    /* The SQLite store: this build's schema, read in one transaction. */
    r = sqlite_file_uri(db_path, "?mode=rw", uri, sizeof uri);      /* a WAL left by a crash is recovered */
    if (tr_failed(r)) goto fail;
    if (!sqlite_file_exists(db_path, "")) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "%s does not exist", db_path);
        goto fail;
    }
    if (sqlite3_open_v2(uri, &sq, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI, NULL) != SQLITE_OK ||
        sqlite3_exec(sq, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "cannot read %s: %s", db_path,
                       sq ? sqlite3_errmsg(sq) : "out of memory");
        goto fail;
    }
    sq_tx = true;
    sqlite3_stmt *v = NULL;
    if (sqlite3_prepare_v2(sq, "PRAGMA user_version", -1, &v, NULL) == SQLITE_OK && sqlite3_step(v) == SQLITE_ROW)
        rep->schema_version = sqlite3_column_int(v, 0);
    else
        rep->schema_version = -1;
    sqlite3_finalize(v);
    if (rep->schema_version < 0 || (size_t)rep->schema_version != store_schema_count) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "the SQLite store %s has schema version %d; this "
                       "tresor's is %zu%s", db_path, rep->schema_version, store_schema_count,
                       rep->schema_version >= 0 && (size_t)rep->schema_version < store_schema_count
                       ? " (start this tresor's serve on it once, which migrates it, stop it, then migrate)"
                       : " (migrate with the tresor that wrote it)");
        goto fail;
    }
    r = sqlite_tables(sq, tables, &ntables);
    if (tr_failed(r)) goto fail;

    /* PostgreSQL: nothing but tresor's tables, then its schema made. */
    db = pg_open(conninfo);
    if (!db) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_IO, "cannot connect to PostgreSQL (%s): the log says why",
                       where);
        goto fail;
    }
    r = pg_only_tresor_tables(db, tables, ntables, where);
    if (tr_failed(r)) goto fail;
    r = store_pg_open(conninfo, STORE_PG_WRITE, &st);
    if (tr_failed(r)) goto fail;
    st[0]->close(st);
    st = NULL;

    /* The copy: one transaction, under the nodes' write lock. */
    /* fits: 120 + an int64 */
    snprintf(sql, sizeof sql, "BEGIN; SET LOCAL synchronous_commit = on; SET LOCAL lock_timeout = '5s'; "
             "SELECT pg_advisory_xact_lock(%" PRId64 ")", STORE_PG_LOCK_WRITE);
    pg_tx = pg_do(db, sql, "BEGIN");
    if (!pg_tx) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_IO, "cannot start the copy's transaction (%s): the log "
                       "says why", where);
        goto fail;
    }
    for (size_t i = 0; i < ntables; i++) {
        size_t rows = 0;
        r = copy_table(sq, db, tables[i], where, &rows);
        if (tr_failed(r)) goto fail;
        snprintf(rep->table[i].name, sizeof rep->table[i].name, "%s", tables[i]);   /* fits: 64 each */
        rep->table[i].rows = rows;
        rep->tables++;
        rep->rows += rows;
    }
    /* As every node's write ends (postgres.c gen_bump): a node serving the
     * database already drops what it cached. */
    bool committed = pg_do(db, "WITH g AS (UPDATE tresor_generation SET n = n + 1 RETURNING n) "
                           "SELECT pg_notify('tresor_generation', '0000000000000000 ' || n) FROM g",
                           "tresor_generation") &&
                     pg_do(db, "COMMIT", "COMMIT");
    pg_tx = false;
    if (!committed) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_IO, "the copy's transaction did not commit (%s): the log "
                       "says why; nothing was copied", where);
        goto fail;
    }

fail:
    if (pg_tx) PQclear(PQexec(db, "ROLLBACK"));
    PQfinish(db);
    if (st) st[0]->close(st);
    if (sq_tx) sqlite3_exec(sq, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(sq);
    if (tr_failed(r)) {
        rep->tables = 0;
        rep->rows = 0;
    }
    return r;
}
