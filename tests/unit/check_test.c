/*
 * check_test.c -- the store's integrity check (src/analyze/check.c).
 *
 * Each test fills a fresh file store (a temp data dir) through the real
 * handlers, the way the router runs them: an account, a customer key with
 * an alias and a grant with a retiring principal, a secret under the
 * managed key with three versions, one under the customer key, one pending
 * deletion.  That store checks clean.  Then one thing is tampered with
 * through a second SQLite connection, as a crash, a bad disk or a careless
 * hand would: a wrapped key material, an envelope's ct or edk, a wrapped
 * access-key secret, a label put on two versions, AWSCURRENT taken away, a
 * key row, a grant or a secret deleted behind the relations that name it,
 * the schema version -- and the check must report it, without ever
 * printing a secret value.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyze/check.h"
#include "crypto/hash.h"
#include "crypto/keyring.h"
#include "iam/authz.h"
#include "iam/policy.h"
#include "kms/kms.h"
#include "op/op.h"
#include "op_harness.h"
#include "secrets/ops.h"
#include "secrets/secrets.h"
#include "store/store.h"

#define ACCT "111122223333"
#define REGION "us-east-1"
#define NOW 1700000000
#define PLAIN "correct horse battery staple"
#define V1 "11111111-1111-4111-8111-111111111111"
#define V2 "22222222-2222-4222-8222-222222222222"
#define V3 "33333333-3333-4333-8333-333333333333"
#define VK "44444444-4444-4444-8444-444444444444"
#define AKID "AKIACHECKTEST0000001"

struct fx {
    char dir[64];
    struct server_env env;
    struct req_ctx rc;
    char key_id[37];
    char secret_arn[256];
    char grant_id[80];
};

static struct fx *F;

static void release_identity(void)
{
    if (!F->rc.identity) return;
    iam_identity_free(F->rc.identity);
    free(F->rc.identity);
    F->rc.identity = NULL;
}

static const struct op_def *find_in(const struct op_def *table, const char *name)
{
    for (const struct op_def *op = table; op->name; op++)
        if (strcmp(op->name, name) == 0) return op;
    return NULL;
}

/* Run an operation of Secrets Manager, or of KMS when the name is one of
 * its, as the router does (op_harness.h); it must succeed. */
static json_t *call_ok(const char *name, json_t *in)
{
    const struct op_service *svc = find_in(sm_ops, name) ? &sm_service : &kms_service;
    assert_non_null(in);
    json_t *out = NULL;
    release_identity();
    tr_result r = oh_json(&F->rc, svc, name, in, &out);
    if (tr_failed(r))
        fail_msg("%s failed: %s: %s", name, tr_err_type(tr_code(r)),
                 tr_last_error()->has_message ? tr_last_error()->message : "-");
    release_identity();
    json_decref(in);
    return out;
}

static void populate(void)
{
    json_t *o = call_ok("CreateKey", json_pack("{s:s}", "Description", "check test"));
    snprintf(F->key_id, sizeof F->key_id, "%s",
             json_string_value(json_object_get(json_object_get(o, "KeyMetadata"), "KeyId")));
    json_decref(o);
    json_decref(call_ok("CreateAlias", json_pack("{s:s, s:s}", "AliasName", "alias/check",
                                                 "TargetKeyId", F->key_id)));
    o = call_ok("CreateGrant", json_pack("{s:s, s:s, s:s, s:[s]}", "KeyId", F->key_id,
                                         "GranteePrincipal", "arn:aws:iam::" ACCT ":root",
                                         "RetiringPrincipal", "arn:aws:iam::" ACCT ":root",
                                         "Operations", "Decrypt"));
    snprintf(F->grant_id, sizeof F->grant_id, "%s", json_string_value(json_object_get(o, "GrantId")));
    json_decref(o);

    o = call_ok("CreateSecret", json_pack("{s:s, s:s, s:s}", "Name", "app/db", "SecretString",
                                          PLAIN, "ClientRequestToken", V1));
    snprintf(F->secret_arn, sizeof F->secret_arn, "%s", json_string_value(json_object_get(o, "ARN")));
    json_decref(o);
    json_decref(call_ok("PutSecretValue", json_pack("{s:s, s:s, s:s}", "SecretId", "app/db",
                                                    "SecretString", PLAIN "2",
                                                    "ClientRequestToken", V2)));
    json_decref(call_ok("PutSecretValue", json_pack("{s:s, s:s, s:s}", "SecretId", "app/db",
                                                    "SecretString", PLAIN "3",
                                                    "ClientRequestToken", V3)));
    json_decref(call_ok("CreateSecret", json_pack("{s:s, s:s, s:s, s:s}", "Name", "app/custom",
                                                  "SecretString", PLAIN, "KmsKeyId", "alias/check",
                                                  "ClientRequestToken", VK)));
    json_decref(call_ok("CreateSecret", json_pack("{s:s, s:s, s:s}", "Name", "app/gone",
                                                  "SecretString", PLAIN, "ClientRequestToken",
                                                  "55555555-5555-4555-8555-555555555555")));
    json_decref(call_ok("DeleteSecret", json_pack("{s:s}", "SecretId", "app/gone")));
}

static int setup(void **state)
{
    static const uint8_t root[32] = "tresor-check-test-root-key-32by!";
    struct fx *f = calloc(1, sizeof *f);
    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/tresor-check-XXXXXX");
    if (!mkdtemp(f->dir) || tr_failed(crypto_init()) || tr_failed(store_sqlite_open(f->dir, &f->env.st)) ||
        tr_failed(keyring_from_bytes(root, &f->env.kr))) {
        if (f->env.st) (*f->env.st)->close(f->env.st);
        free(f);
        return -1;
    }
    f->env.default_region = REGION;
    f->rc.env = &f->env;
    f->rc.st = f->env.st;
    f->rc.kr = f->env.kr;
    snprintf(f->rc.region, sizeof f->rc.region, REGION);
    f->rc.now = NOW;
    f->rc.who.type = PRINCIPAL_ROOT;
    snprintf(f->rc.who.account_id, sizeof f->rc.who.account_id, ACCT);
    snprintf(f->rc.who.arn, sizeof f->rc.who.arn, "arn:aws:iam::" ACCT ":root");
    snprintf(f->rc.who.id, sizeof f->rc.who.id, ACCT);
    *state = f;
    F = f;

    struct account_rec a = { .id = ACCT, .created = NOW };
    if (tr_failed(f->env.st[0]->account_put(f->env.st, &a))) return -1;
    struct access_key_rec k = { .access_key_id = AKID, .account_id = ACCT,
                                .principal_type = PRINCIPAL_ROOT,
                                .principal_arn = (char *)"arn:aws:iam::" ACCT ":root",
                                .principal_id = (char *)ACCT, .active = true, .created = NOW,
                                .wrapped_secret = BUF_INIT(256) };
    if (tr_failed(keyring_wrap(f->env.kr, "access-key:" AKID, (const uint8_t *)"sekrit", 6,
                               &k.wrapped_secret)))
        return -1;
    tr_result r = f->env.st[0]->access_key_put(f->env.st, &k);
    buf_free(&k.wrapped_secret);
    if (tr_failed(r)) return -1;
    populate();
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    static const char *const files[] = { "tresor.db", "tresor.db-wal", "tresor.db-shm" };
    char p[128];
    release_identity();
    policy_cache_clear();
    (*f->env.st)->close(f->env.st);
    keyring_free(f->env.kr);
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", f->dir, files[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    crypto_thread_cleanup();
    F = NULL;
    return 0;
}

/* ---- the check and its report -------------------------------------------- */

static void run_check(struct check_report *rep)
{
    assert_true(tr_ok(store_check(F->env.st, F->env.kr, rep)));
    for (size_t i = 0; i < rep->shown; i++) assert_null(strstr(rep->line[i], PLAIN));
}

/* Some problem line contains `what`. */
static void expect_problem(const char *what)
{
    struct check_report rep;
    run_check(&rep);
    assert_true(rep.problems > 0);
    for (size_t i = 0; i < rep.shown; i++)
        if (strstr(rep.line[i], what)) return;
    for (size_t i = 0; i < rep.shown; i++) fprintf(stderr, "  problem: %s\n", rep.line[i]);
    fail_msg("no problem line mentions '%s'", what);
}

/* ---- tampering through a second connection -------------------------------- */

static sqlite3 *raw_db(void)
{
    char p[128];
    sqlite3 *db = NULL;
    snprintf(p, sizeof p, "%s/tresor.db", F->dir);
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static void raw_exec(const char *sql, const char *a1, const char *a2)
{
    sqlite3 *db = raw_db();
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) fail_msg("%s", sqlite3_errmsg(db));
    if (a1) sqlite3_bind_text(q, 1, a1, -1, SQLITE_TRANSIENT);
    if (a2) sqlite3_bind_text(q, 2, a2, -1, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(q), SQLITE_DONE);
    assert_true(sqlite3_changes(db) > 0 || strncmp(sql, "PRAGMA", 6) == 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

/* Flip one bit of byte `at` (from the end when negative) of a blob column. */
static void flip_blob(const char *table, const char *col, const char *where_col, const char *id,
                      int at)
{
    char sql[256];
    sqlite3 *db = raw_db();
    sqlite3_stmt *q = NULL;
    snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE %s = ?1", col, table, where_col);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int n = sqlite3_column_bytes(q, 0);
    uint8_t *b = malloc((size_t)n);
    assert_non_null(b);
    memcpy(b, sqlite3_column_blob(q, 0), (size_t)n);
    sqlite3_finalize(q);
    b[at < 0 ? n + at : at] ^= 0x01;
    snprintf(sql, sizeof sql, "UPDATE %s SET %s = ?1 WHERE %s = ?2", table, col, where_col);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    sqlite3_bind_blob(q, 1, b, n, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, id, -1, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(q), SQLITE_DONE);
    sqlite3_finalize(q);
    sqlite3_close(db);
    free(b);
}

/* Rewrite member `member` of a secret version's doc with fn. */
static void edit_version(const char *vid, void (*fn)(json_t *doc))
{
    sqlite3 *db = raw_db();
    sqlite3_stmt *q = NULL;
    const char *sel = "SELECT doc FROM relations WHERE kind = 'secret-ver' AND dst = ?1";
    assert_int_equal(sqlite3_prepare_v2(db, sel, -1, &q, NULL), SQLITE_OK);
    sqlite3_bind_text(q, 1, vid, -1, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    json_t *doc = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
    sqlite3_finalize(q);
    assert_non_null(doc);
    fn(doc);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(doc);
    const char *upd = "UPDATE relations SET doc = ?1 WHERE kind = 'secret-ver' AND dst = ?2";
    assert_int_equal(sqlite3_prepare_v2(db, upd, -1, &q, NULL), SQLITE_OK);
    sqlite3_bind_text(q, 1, text, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, vid, -1, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(q), SQLITE_DONE);
    sqlite3_finalize(q);
    sqlite3_close(db);
    free(text);
}

/* Change one base64 character in the middle of doc[member]. */
static void flip_b64(json_t *doc, const char *member)
{
    char *s = strdup(json_string_value(json_object_get(doc, member)));
    assert_non_null(s);
    size_t mid = strlen(s) / 2;
    s[mid] = s[mid] == 'A' ? 'B' : 'A';
    json_object_set_new(doc, member, json_string(s));
    free(s);
}

static void tamper_ct(json_t *doc) { flip_b64(doc, "ct"); }
static void tamper_edk(json_t *doc) { flip_b64(doc, "edk"); }
static void drop_edk(json_t *doc) { json_object_del(doc, "edk"); }
static void make_current(json_t *doc) { json_object_set_new(doc, "stages", json_pack("[s]", "AWSCURRENT")); }
static void no_labels(json_t *doc) { json_object_set_new(doc, "stages", json_array()); }
static void label_twice(json_t *doc)
{
    json_object_set_new(doc, "stages", json_pack("[s,s]", "AWSPREVIOUS", "AWSPREVIOUS"));
}

/* ---- tests ---------------------------------------------------------------- */

static void test_clean_store(void **state)
{
    (void)state;
    struct check_report rep;
    run_check(&rep);
    for (size_t i = 0; i < rep.shown; i++) fprintf(stderr, "  problem: %s\n", rep.line[i]);
    assert_int_equal(rep.problems, 0);
    assert_int_equal(rep.schema_version, 6);
    assert_int_equal(rep.accounts, 1);
    assert_int_equal(rep.access_keys, 1);
    assert_int_equal(rep.keys, 2);          /* the customer key and aws/secretsmanager */
    assert_int_equal(rep.materials, 2);
    assert_int_equal(rep.aliases, 2);
    assert_int_equal(rep.grants, 1);
    assert_int_equal(rep.secrets, 3);
    assert_int_equal(rep.versions, 5);
    assert_int_equal(rep.values, 5);
}

static void test_rotated_key_is_clean(void **state)
{
    (void)state;
    struct key_rec k;
    assert_true(tr_ok(F->env.st[0]->key_get(F->env.st, F->key_id, REGION, &k)));
    assert_true(tr_ok(F->env.st[0]->tx_begin(F->env.st)));
    assert_true(tr_ok(kms_key_rotate(F->env.st, F->env.kr, &k, NOW, "ON_DEMAND")));
    assert_true(tr_ok(F->env.st[0]->tx_commit(F->env.st)));
    key_rec_free(&k);
    struct check_report rep;
    run_check(&rep);
    assert_int_equal(rep.problems, 0);
    assert_int_equal(rep.materials, 3);
}

static void test_corrupt_key_material(void **state)
{
    (void)state;
    flip_blob("kms_key_materials", "wrapped", "key_id", F->key_id, -3);
    expect_problem("material v1 does not unwrap under the root key");
    /* ... and the secret sealed under that key no longer opens. */
    expect_problem("version " VK ": the value does not decrypt");
}

static void test_missing_key_material(void **state)
{
    (void)state;
    raw_exec("DELETE FROM kms_key_materials WHERE key_id = ?1", F->key_id, NULL);
    expect_problem("0 material versions, the key says 1");
}

static void test_corrupt_access_key(void **state)
{
    (void)state;
    flip_blob("access_keys", "wrapped_secret", "access_key_id", AKID, 5);
    expect_problem("access key " AKID ": its secret does not unwrap");
}

static void test_corrupt_envelope_ct(void **state)
{
    (void)state;
    edit_version(V2, tamper_ct);
    expect_problem("version " V2 ": the value does not decrypt: the data key opens, the value does not");
}

static void test_corrupt_envelope_edk(void **state)
{
    (void)state;
    edit_version(VK, tamper_edk);
    expect_problem("version " VK ": the value does not decrypt: the data key does not decrypt");
}

static void other_key_arn(json_t *doc)
{
    json_object_set_new(doc, "key_arn", json_string("arn:aws:kms:us-east-1:111122223333:key/"
                                                    "00000000-0000-0000-0000-000000000000"));
}

/* A version records the key that sealed it. */
static void test_version_key_recorded_wrongly(void **state)
{
    (void)state;
    edit_version(V2, other_key_arn);
    expect_problem("version " V2 ": sealed under KMS key ");
}

static void test_half_envelope(void **state)
{
    (void)state;
    edit_version(V1, drop_edk);
    expect_problem("version " V1 ": half an envelope");
}

static void test_version_order_row_gone(void **state)
{
    (void)state;
    raw_exec("DELETE FROM relations WHERE kind = 'secret-seq' AND dst LIKE '%|' || ?1", V1, NULL);
    expect_problem("the creation order has another number of versions");
}

static void test_version_index_wrong(void **state)
{
    (void)state;
    raw_exec("UPDATE entities SET doc = json_set(doc, '$.version_index.count', 7) "
             "WHERE kind = 'secret' AND name LIKE '%:' || ?1", "app/db", NULL);
    expect_problem("the version index counts another number of versions");
}

static void test_label_on_two_versions(void **state)
{
    (void)state;
    edit_version(V1, make_current);
    expect_problem("label AWSCURRENT on versions");
    expect_problem("2 versions labeled AWSCURRENT");
}

static void test_no_current_version(void **state)
{
    (void)state;
    edit_version(V3, no_labels);
    expect_problem("0 versions labeled AWSCURRENT");
}

static void test_label_twice_on_one_version(void **state)
{
    (void)state;
    edit_version(V2, label_twice);
    expect_problem("label AWSPREVIOUS twice");
}

static void test_key_row_gone(void **state)
{
    (void)state;
    raw_exec("DELETE FROM kms_keys WHERE key_id = ?1", F->key_id, NULL);
    expect_problem("kms_key_materials without a key: ");
    expect_problem("foreign_key_check: kms_aliases");
    expect_problem("its key arn:aws:kms:" REGION ":" ACCT ":key/");
}

static void test_grant_gone(void **state)
{
    (void)state;
    raw_exec("DELETE FROM relations WHERE kind = 'grant' AND dst = ?1", F->grant_id, NULL);
    expect_problem("the grant does not exist");
}

static void test_retirable_gone(void **state)
{
    (void)state;
    raw_exec("DELETE FROM relations WHERE kind = 'retirable' AND dst = ?1", F->grant_id, NULL);
    expect_problem("no retirable entry for its retiring principal");
}

static void test_secret_gone(void **state)
{
    (void)state;
    raw_exec("DELETE FROM entities WHERE kind = 'secret' AND arn = ?1", F->secret_arn, NULL);
    expect_problem("its secret");
}

static void test_purge_entry_gone(void **state)
{
    (void)state;
    raw_exec("DELETE FROM relations WHERE kind = 'secret-due'", NULL, NULL);
    expect_problem("pending deletion without its purge entry");
}

static void test_schema_version(void **state)
{
    (void)state;
    raw_exec("PRAGMA user_version = 1", NULL, NULL);
    expect_problem("schema version 1, this build's is 6");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_clean_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotated_key_is_clean, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_key_material, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_key_material, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_access_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_envelope_ct, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_envelope_edk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_half_envelope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_key_recorded_wrongly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_order_row_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_index_wrong, setup, teardown),
        cmocka_unit_test_setup_teardown(test_label_on_two_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_current_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_label_twice_on_one_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_row_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grant_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retirable_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge_entry_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_version, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
