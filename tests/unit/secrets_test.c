/*
 * secrets_test.c -- the Secrets Manager value operations (src/secrets/:
 * secrets.c, envelope.c, values.c, versions.c) driven directly, the way
 * the router drives them: a hand-made req_ctx, JSON in, JSON out, OP_WRITE
 * handlers inside a store transaction (rolled back on failure).
 *
 * Each test gets a fresh in-memory store and a keyring over fixed bytes.
 * Covered: the operation table; create/get/put/update round trips (string
 * and binary); lookup by name, ARN and partial ARN; AWS's label rules
 * (AWSPREVIOUS, AWSPENDING, custom labels, UpdateSecretVersionStage with
 * its messages); ListSecretVersionIds (deprecated versions, paging,
 * KmsKeyIds); pruning beyond 100 versions; idempotent retries; the key
 * change with re-encryption (old key disabled afterwards, current value
 * still readable); the KMS hop denied ("Access to KMS is not allowed");
 * the AWS managed key created once with its policy and unusable directly;
 * tampering with the stored edk and ct (DecryptionFailure); that the store
 * never holds a plaintext value; validation and not-found wording; the
 * order of authorization (docs/AUTHORIZATION.md 5.2) and resource policies;
 * BatchGetSecretValue's per-secret errors; LastAccessedDate.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cache.h"
#include "core/json.h"
#include "crypto/hash.h"
#include "crypto/keyring.h"
#include "iam/authz.h"
#include "iam/policy.h"
#include "kms/kms.h"
#include "op/op.h"
#include "op_harness.h"
#include "secrets/envelope.h"
#include "secrets/lookup.h"
#include "secrets/ops.h"
#include "secrets/secrets.h"
#include "store/store.h"

#define ACCT "111122223333"
#define ACCT2 "444455556666"
#define REGION "us-east-1"
#define NOW 1700000000
#define PLAIN "correct horse battery staple"

struct fx {
    struct server_env env;
    struct req_ctx rc;
};

static struct fx *F;

static void release_identity(void)
{
    if (!F->rc.identity) return;
    iam_identity_free(F->rc.identity);
    free(F->rc.identity);
    F->rc.identity = NULL;
}

static void as_account(const char *acct)
{
    release_identity();
    memset(&F->rc.who, 0, sizeof F->rc.who);
    F->rc.who.type = PRINCIPAL_ROOT;
    snprintf(F->rc.who.account_id, sizeof F->rc.who.account_id, "%s", acct);
    snprintf(F->rc.who.arn, sizeof F->rc.who.arn, "arn:aws:iam::%s:root", acct);
    snprintf(F->rc.who.id, sizeof F->rc.who.id, "%s", acct);
}

static void as_user(const char *acct, const char *name)
{
    release_identity();
    memset(&F->rc.who, 0, sizeof F->rc.who);
    F->rc.who.type = PRINCIPAL_USER;
    snprintf(F->rc.who.account_id, sizeof F->rc.who.account_id, "%s", acct);
    snprintf(F->rc.who.arn, sizeof F->rc.who.arn, "arn:aws:iam::%s:user/%s", acct, name);
    /* The user's own unique id (what its access key records), when it exists. */
    struct ent_rec e = { 0 };
    if (tr_ok(F->rc.st[0]->ent_get(F->rc.st, "user", acct, name, &e)))
        snprintf(F->rc.who.id, sizeof F->rc.who.id, "%s", e.id);
    else
        snprintf(F->rc.who.id, sizeof F->rc.who.id, "AIDA-%s", name);
    ent_rec_free(&e);
}

static int setup(void **state)
{
    static const uint8_t root[32] = "tresor-sm-test-root-key-32bytes!";
    struct fx *f = calloc(1, sizeof *f);
    if (!f) return -1;
    if (tr_failed(crypto_init()) || tr_failed(store_sqlite_open_memory(&f->env.st)) ||
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
    *state = f;
    F = f;
    as_account(ACCT);
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    release_identity();
    policy_cache_clear();
    (*f->env.st)->close(f->env.st);
    keyring_free(f->env.kr);
    free(f);
    crypto_thread_cleanup();
    F = NULL;
    return 0;
}

/* ---- driving the handlers ---------------------------------------------- */

static const struct op_def *find_in(const struct op_def *table, const char *name)
{
    for (const struct op_def *op = table; op->name; op++)
        if (strcmp(op->name, name) == 0) return op;
    return NULL;
}

/* Run an operation of Secrets Manager, or of KMS when the name is one of
 * its, as the router does (op_harness.h). */
static tr_result run(const char *name, json_t *in, json_t **out)
{
    const struct op_service *svc = find_in(sm_ops, name) ? &sm_service : &kms_service;
    release_identity();
    tr_result r = oh_json(&F->rc, svc, name, in, out);
    release_identity();
    /* Handlers must leave the hop marker as they found it. */
    assert_null(F->rc.via_service);
    return r;
}

static json_t *call_ok(const char *name, json_t *in)
{
    json_t *out = NULL;
    assert_non_null(in);
    tr_result r = run(name, in, &out);
    if (tr_failed(r))
        fail_msg("%s failed: %s: %s", name, tr_err_type(tr_code(r)),
                 tr_last_error()->has_message ? tr_last_error()->message : "(no message)");
    json_decref(in);
    if (!out) out = json_object();
    return out;
}

#define DO(name, in) json_decref(call_ok((name), (in)))

static void call_err(const char *name, json_t *in, enum tr_err code, const char *msg)
{
    json_t *out = NULL;
    assert_non_null(in);
    tr_result r = run(name, in, &out);
    json_decref(in);
    if (tr_ok(r)) {
        json_decref(out);
        fail_msg("%s succeeded; expected %s", name, tr_err_type(code));
    }
    assert_null(out);
    if (tr_code(r) != code)
        fail_msg("%s: got %s (%s), expected %s", name, tr_err_type(tr_code(r)),
                 tr_last_error()->message, tr_err_type(code));
    if (msg) {
        assert_true(tr_last_error()->has_message);
        if (strcmp(tr_last_error()->message, msg) != 0)
            fail_msg("%s: message\n  got      %s\n  expected %s", name,
                     tr_last_error()->message, msg);
    }
}

static const char *sget(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_string(v)) fail_msg("member %s is not a string", k);
    return json_string_value(v);
}

/* A ClientRequestToken (36 chars) numbered n. */
static const char *tok(int n)
{
    static char buf[8][40];
    static int slot;
    char *b = buf[slot++ % 8];
    snprintf(b, 40, "00000000-0000-4000-8000-%012d", n);
    return b;
}

/* CreateSecret Name with SecretString value and token; returns the ARN
 * (static storage per slot). */
static const char *create(int slot, const char *name, const char *value, int token)
{
    static char arns[8][300];
    json_t *in = json_pack("{s:s, s:s, s:s}", "Name", name, "SecretString", value,
                           "ClientRequestToken", tok(token));
    json_t *o = call_ok("CreateSecret", in);
    snprintf(arns[slot], sizeof arns[slot], "%s", sget(o, "ARN"));
    assert_string_equal(sget(o, "Name"), name);
    assert_string_equal(sget(o, "VersionId"), tok(token));
    json_decref(o);
    return arns[slot];
}

/* GetSecretValue SecretString equals expect. */
static void value_eq(const char *id, const char *expect)
{
    json_t *o = call_ok("GetSecretValue", json_pack("{s:s}", "SecretId", id));
    assert_string_equal(sget(o, "SecretString"), expect);
    json_decref(o);
}

static void put(const char *id, const char *value, int token, const char *stages_json)
{
    json_t *in = json_pack("{s:s, s:s, s:s}", "SecretId", id, "SecretString", value,
                           "ClientRequestToken", tok(token));
    if (stages_json) json_object_set_new(in, "VersionStages", json_loads(stages_json, 0, NULL));
    DO("PutSecretValue", in);
}

/* The labels of version `token` as a compact JSON text ("[]" when none or
 * absent from the list), with deprecated versions included. */
static void labels_eq(const char *id, int token, const char *expect)
{
    json_t *o = call_ok("ListSecretVersionIds",
                        json_pack("{s:s, s:b}", "SecretId", id, "IncludeDeprecated", 1));
    json_t *vs = json_object_get(o, "Versions");
    size_t i;
    json_t *v;
    char *got = NULL;
    json_array_foreach(vs, i, v) {
        if (strcmp(sget(v, "VersionId"), tok(token)) != 0) continue;
        json_t *st = json_object_get(v, "VersionStages");
        got = st ? json_dumps(st, JSON_COMPACT) : strdup("[]");
        break;                                      /* version ids are unique */
    }
    if (!got) fail_msg("version %d not listed", token);
    if (strcmp(got, expect) != 0) fail_msg("version %d: labels %s, expected %s", token, got, expect);
    free(got);
    json_decref(o);
}

static const char *new_key(int slot)
{
    static char ids[8][37];
    as_account(ACCT);
    json_t *o = call_ok("CreateKey", json_object());
    snprintf(ids[slot], sizeof ids[slot], "%s",
             sget(json_object_get(o, "KeyMetadata"), "KeyId"));
    json_decref(o);
    return ids[slot];
}

static void store_tx(bool begin)
{
    store_t st = F->rc.st;
    assert_int_equal(tr_code(begin ? (*st)->tx_begin(st) : (*st)->tx_commit(st)), TR_E_OK);
}

static void mk_user(const char *acct, const char *name, const char *policy)
{
    static int serial;
    store_t st = F->rc.st;
    char arn[256], id[32];
    struct ent_rec e;
    memset(&e, 0, sizeof e);
    snprintf(arn, sizeof arn, "arn:aws:iam::%s:user/%s", acct, name);
    snprintf(id, sizeof id, "AIDA%017d", ++serial);
    snprintf(e.kind, sizeof e.kind, "user");
    snprintf(e.account_id, sizeof e.account_id, "%s", acct);
    e.name = (char *)name;
    e.id = id;
    e.arn = arn;
    e.path = "/";
    e.doc = "{}";
    e.created = NOW;
    store_tx(true);
    assert_int_equal(tr_code((*st)->ent_put(st, &e)), TR_E_OK);
    if (policy) {
        struct rel_rec r = { .kind = "inline", .from = arn, .to = "p", .doc = (char *)policy,
                             .created = NOW };
        assert_int_equal(tr_code((*st)->rel_put(st, &r)), TR_E_OK);
    }
    store_tx(false);
}

/* ---- the table ------------------------------------------------------------ */

static void test_ops_table(void **state)
{
    (void)state;
    for (const struct op_def *op = sm_ops; op->name; op++) {
        assert_non_null(op->fn.json);
        if (op != sm_ops) assert_true(strcmp(op[-1].name, op->name) < 0);
    }
    static const char *const writes[] = { "CreateSecret", "PutSecretValue", "UpdateSecret",
                                          "UpdateSecretVersionStage", NULL };
    static const char *const reads[] = { "BatchGetSecretValue", "DescribeSecret",
                                         "GetSecretValue", "ListSecretVersionIds", NULL };
    for (const char *const *p = writes; *p; p++) {
        assert_non_null(find_in(sm_ops, *p));
        assert_true(find_in(sm_ops, *p)->flags & OP_WRITE);
    }
    for (const char *const *p = reads; *p; p++) {
        assert_non_null(find_in(sm_ops, *p));
        assert_false(find_in(sm_ops, *p)->flags & OP_WRITE);
    }
}

/* ---- round trips ------------------------------------------------------------ */

static void test_round_trip(void **state)
{
    (void)state;
    const char *arn = create(0, "app/db", PLAIN, 1);
    char prefix[200];
    snprintf(prefix, sizeof prefix, "arn:aws:secretsmanager:" REGION ":" ACCT ":secret:app/db-");
    assert_int_equal(strncmp(arn, prefix, strlen(prefix)), 0);
    assert_int_equal(strlen(arn), strlen(prefix) + 6);

    /* Name, full ARN, partial ARN. */
    value_eq("app/db", PLAIN);
    value_eq(arn, PLAIN);
    char partial[300];
    snprintf(partial, sizeof partial, "%.*s", (int)strlen(arn) - 7, arn);
    value_eq(partial, PLAIN);

    json_t *o = call_ok("GetSecretValue", json_pack("{s:s}", "SecretId", "app/db"));
    assert_string_equal(sget(o, "ARN"), arn);
    assert_string_equal(sget(o, "Name"), "app/db");
    assert_string_equal(sget(o, "VersionId"), tok(1));
    assert_string_equal(json_string_value(json_array_get(json_object_get(o, "VersionStages"), 0)),
                        "AWSCURRENT");
    assert_true(json_number_value(json_object_get(o, "CreatedDate")) >= NOW);
    assert_null(json_object_get(o, "SecretBinary"));
    json_decref(o);

    /* DescribeSecret: no KmsKeyId under aws/secretsmanager, no rotation,
     * no tags; LastAccessedDate now that it was read. */
    o = call_ok("DescribeSecret", json_pack("{s:s}", "SecretId", arn));
    assert_null(json_object_get(o, "KmsKeyId"));
    assert_null(json_object_get(o, "RotationEnabled"));
    assert_null(json_object_get(o, "Tags"));
    assert_null(json_object_get(o, "DeletedDate"));
    assert_int_equal((int64_t)json_number_value(json_object_get(o, "LastAccessedDate")),
                     NOW - NOW % 86400);
    json_t *m = json_object_get(o, "VersionIdsToStages");
    assert_int_equal(json_object_size(m), 1);
    assert_non_null(json_object_get(m, tok(1)));
    assert_true(json_number_value(json_object_get(o, "CreatedDate")) ==
                json_number_value(json_object_get(o, "LastChangedDate")));
    json_decref(o);

    /* Binary values. */
    static const uint8_t bin[] = { 0, 1, 2, 255, 254, 0, 7 };
    struct buf b = BUF_INIT(64);
    const char *b64txt;
    assert_int_equal(tr_code(b64_encode(bin, sizeof bin, &b)), TR_E_OK);
    assert_int_equal(tr_code(buf_cstr(&b, &b64txt)), TR_E_OK);
    DO("CreateSecret", json_pack("{s:s, s:s, s:s}", "Name", "bin", "SecretBinary", b64txt,
                                 "ClientRequestToken", tok(2)));
    o = call_ok("GetSecretValue", json_pack("{s:s}", "SecretId", "bin"));
    assert_string_equal(sget(o, "SecretBinary"), b64txt);
    assert_null(json_object_get(o, "SecretString"));
    json_decref(o);
    buf_free(&b);

    /* UpdateSecret with a value makes a new current version. */
    o = call_ok("UpdateSecret", json_pack("{s:s, s:s, s:s, s:s}", "SecretId", "app/db",
                                          "SecretString", "v2", "ClientRequestToken", tok(3),
                                          "Description", "the db"));
    assert_string_equal(sget(o, "VersionId"), tok(3));
    json_decref(o);
    value_eq("app/db", "v2");
    o = call_ok("GetSecretValue", json_pack("{s:s, s:s}", "SecretId", "app/db",
                                            "VersionStage", "AWSPREVIOUS"));
    assert_string_equal(sget(o, "SecretString"), PLAIN);
    json_decref(o);
    o = call_ok("DescribeSecret", json_pack("{s:s}", "SecretId", "app/db"));
    assert_string_equal(sget(o, "Description"), "the db");
    json_decref(o);

    /* UpdateSecret without a value: no VersionId in the reply. */
    o = call_ok("UpdateSecret", json_pack("{s:s, s:s}", "SecretId", "app/db",
                                          "Description", "d2"));
    assert_null(json_object_get(o, "VersionId"));
    assert_string_equal(sget(o, "ARN"), arn);
    json_decref(o);

    /* A secret without a value. */
    o = call_ok("CreateSecret", json_pack("{s:s}", "Name", "empty"));
    assert_null(json_object_get(o, "VersionId"));
    json_decref(o);
    call_err("GetSecretValue", json_pack("{s:s}", "SecretId", "empty"), TR_E_SM_RESOURCE_NOT_FOUND,
             "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT");
    o = call_ok("DescribeSecret", json_pack("{s:s}", "SecretId", "empty"));
    assert_null(json_object_get(o, "VersionIdsToStages"));
    json_decref(o);
    put("empty", "now", 4, NULL);
    value_eq("empty", "now");
}


/* The secrets cache hands readers a view of one shared, immutable secret
 * (secrets/cache.c): two shared lookups see the same memory, a plain
 * lookup gets its own copy, a view outlives its entry (dropped by a
 * write, checked under ASan), and the next shared lookup after a write
 * sees the new version, as GetSecretValue does.  With the cache off,
 * shared lookups are copies. */
static void test_shared_lookup(void **state)
{
    (void)state;
    struct secret a, b, c, d;
    bool found = false;
    create(0, "shared/one", PLAIN, 1);
    cache_enable(true);
    F->rc.st[0]->refresh(F->rc.st);
    F->rc.writing = false;                          /* as a read operation */
    assert_int_equal(tr_code(sm_lookup_shared(&F->rc, "shared/one", &a, &found)), TR_E_OK);
    assert_true(found);
    assert_int_equal(tr_code(sm_lookup_shared(&F->rc, "shared/one", &b, &found)), TR_E_OK);
    assert_non_null(a.share);
    assert_ptr_equal(a.share, b.share);
    assert_ptr_equal(a.arn, b.arn);                 /* no copy */
    assert_int_equal(atomic_load(&a.share->refs), 3);   /* the cache's, a's, b's */
    assert_int_equal(tr_code(sm_lookup(&F->rc, "shared/one", &c, &found)), TR_E_OK);
    assert_null(c.share);
    assert_ptr_not_equal(c.arn, a.arn);             /* a copy of its own */
    assert_string_equal(c.arn, a.arn);
    secret_free(&c);
    secret_free(&b);
    assert_null(b.arn);
    assert_int_equal(atomic_load(&a.share->refs), 2);

    /* A write: the entry is stale and dropped at the next lookup; a still
     * reads its own version. */
    put("shared/one", "second", 2, NULL);
    F->rc.writing = false;
    assert_int_equal(tr_code(sm_lookup_shared(&F->rc, "shared/one", &d, &found)), TR_E_OK);
    assert_ptr_not_equal(d.share, a.share);
    assert_int_equal(atomic_load(&a.share->refs), 1);   /* a's alone */
    assert_non_null(sm_version_by_id(&a, tok(1)));
    assert_null(sm_version_by_id(&a, tok(2)));
    assert_non_null(sm_version_by_id(&d, tok(2)));
    assert_string_equal(a.arn, d.arn);
    secret_free(&a);
    secret_free(&d);
    value_eq("shared/one", "second");

    cache_enable(false);
    assert_int_equal(tr_code(sm_lookup_shared(&F->rc, "shared/one", &a, &found)), TR_E_OK);
    assert_null(a.share);
    secret_free(&a);
}
/* ---- labels --------------------------------------------------------------------- */

static void test_labels(void **state)
{
    (void)state;
    create(0, "lab", "S1", 1);
    put("lab", "S2", 2, "[\"AWSPENDING\"]");
    labels_eq("lab", 1, "[\"AWSCURRENT\"]");
    labels_eq("lab", 2, "[\"AWSPENDING\"]");
    value_eq("lab", "S1");

    /* Moving AWSCURRENT needs RemoveFromVersionId. */
    char msg[400];
    snprintf(msg, sizeof msg, "The parameter RemoveFromVersionId can't be empty. Staging label "
             "AWSCURRENT is currently attached to version %s, so you must explicitly reference "
             "that version in RemoveFromVersionId.", tok(1));
    call_err("UpdateSecretVersionStage",
             json_pack("{s:s, s:s, s:s}", "SecretId", "lab", "VersionStage", "AWSCURRENT",
                       "MoveToVersionId", tok(2)), TR_E_SM_INVALID_PARAMETER, msg);
    call_err("UpdateSecretVersionStage",
             json_pack("{s:s, s:s, s:s}", "SecretId", "lab", "VersionStage", "AWSCURRENT",
                       "RemoveFromVersionId", tok(1)), TR_E_SM_INVALID_PARAMETER,
             "You can only move staging label AWSCURRENT to a different secret version. It "
             "can't be completely removed.");
    json_t *o = call_ok("UpdateSecretVersionStage",
                        json_pack("{s:s, s:s, s:s, s:s}", "SecretId", "lab", "VersionStage",
                                  "AWSCURRENT", "MoveToVersionId", tok(2),
                                  "RemoveFromVersionId", tok(1)));
    assert_int_equal(json_object_size(o), 2);   /* ARN, Name */
    json_decref(o);
    labels_eq("lab", 1, "[\"AWSPREVIOUS\"]");
    labels_eq("lab", 2, "[\"AWSCURRENT\",\"AWSPENDING\"]");
    value_eq("lab", "S2");

    /* A new current value: the old current becomes AWSPREVIOUS and loses
     * AWSPENDING (recorded from AWS); the old AWSPREVIOUS is deprecated. */
    put("lab", "S3", 3, NULL);
    labels_eq("lab", 1, "[]");
    labels_eq("lab", 2, "[\"AWSPREVIOUS\"]");
    labels_eq("lab", 3, "[\"AWSCURRENT\"]");
    o = call_ok("ListSecretVersionIds", json_pack("{s:s}", "SecretId", "lab"));
    assert_int_equal(json_array_size(json_object_get(o, "Versions")), 2);
    json_t *v0 = json_array_get(json_object_get(o, "Versions"), 0);
    assert_string_equal(sget(v0, "VersionId"), tok(2));      /* oldest first */
    assert_string_equal(json_string_value(json_array_get(json_object_get(v0, "KmsKeyIds"), 0)),
                        "DefaultEncryptionKey");
    json_decref(o);

    /* Custom labels move between versions; sorted on output. */
    put("lab", "S4", 4, "[\"two\", \"one\", \"three\"]");
    labels_eq("lab", 4, "[\"one\",\"three\",\"two\"]");
    put("lab", "S5", 5, "[\"one\", \"two\", \"four\"]");
    labels_eq("lab", 4, "[\"three\"]");
    labels_eq("lab", 5, "[\"four\",\"one\",\"two\"]");
    labels_eq("lab", 3, "[\"AWSCURRENT\"]");
    o = call_ok("PutSecretValue", json_pack("{s:s, s:s, s:s, s:[s,s]}", "SecretId", "lab",
                                            "SecretString", "S6", "ClientRequestToken", tok(6),
                                            "VersionStages", "AWSCURRENT", "X"));
    assert_int_equal(json_array_size(json_object_get(o, "VersionStages")), 2);
    json_decref(o);
    labels_eq("lab", 3, "[\"AWSPREVIOUS\"]");
    labels_eq("lab", 2, "[]");

    /* Stage/version lookups and their messages. */
    call_err("GetSecretValue", json_pack("{s:s, s:s, s:s}", "SecretId", "lab", "VersionId", tok(3),
                                         "VersionStage", "AWSCURRENT"),
             TR_E_SM_INVALID_REQUEST,
             "You provided a VersionStage that is not associated to the provided VersionId.");
    call_err("GetSecretValue", json_pack("{s:s, s:s}", "SecretId", "lab", "VersionStage", "nope"),
             TR_E_SM_RESOURCE_NOT_FOUND,
             "Secrets Manager can't find the specified secret value for staging label: nope");
    snprintf(msg, sizeof msg, "Secrets Manager can't find the specified secret value for "
             "VersionId: %s", tok(99));
    call_err("GetSecretValue", json_pack("{s:s, s:s}", "SecretId", "lab", "VersionId", tok(99)),
             TR_E_SM_RESOURCE_NOT_FOUND, msg);
    /* A deprecated version is still readable by id. */
    o = call_ok("GetSecretValue", json_pack("{s:s, s:s}", "SecretId", "lab", "VersionId", tok(1)));
    assert_string_equal(sget(o, "SecretString"), "S1");
    assert_int_equal(json_array_size(json_object_get(o, "VersionStages")), 0);
    json_decref(o);

    snprintf(msg, sizeof msg, "Not a valid version: %s", tok(98));
    call_err("UpdateSecretVersionStage",
             json_pack("{s:s, s:s, s:s}", "SecretId", "lab", "VersionStage", "X",
                       "MoveToVersionId", tok(98)), TR_E_SM_INVALID_PARAMETER, msg);
    snprintf(msg, sizeof msg, "Version stage X not found in version %s", tok(1));
    call_err("UpdateSecretVersionStage",
             json_pack("{s:s, s:s, s:s}", "SecretId", "lab", "VersionStage", "X",
                       "RemoveFromVersionId", tok(1)), TR_E_SM_INVALID_PARAMETER, msg);
    /* A custom label can simply be removed. */
    DO("UpdateSecretVersionStage", json_pack("{s:s, s:s, s:s}", "SecretId", "lab",
                                             "VersionStage", "X", "RemoveFromVersionId", tok(6)));
    labels_eq("lab", 6, "[\"AWSCURRENT\"]");
    /* A label nobody holds can be attached without RemoveFromVersionId;
     * moving AWSCURRENT back to the previous version swaps the two. */
    DO("UpdateSecretVersionStage", json_pack("{s:s, s:s, s:s}", "SecretId", "lab",
                                             "VersionStage", "Y", "MoveToVersionId", tok(1)));
    labels_eq("lab", 1, "[\"Y\"]");
    DO("UpdateSecretVersionStage", json_pack("{s:s, s:s, s:s, s:s}", "SecretId", "lab",
                                             "VersionStage", "AWSCURRENT", "MoveToVersionId",
                                             tok(3), "RemoveFromVersionId", tok(6)));
    labels_eq("lab", 3, "[\"AWSCURRENT\"]");
    labels_eq("lab", 6, "[\"AWSPREVIOUS\"]");
    value_eq("lab", "S3");
}

static void test_list_versions_paging(void **state)
{
    (void)state;
    create(0, "pg", "v1", 1);
    for (int i = 2; i <= 5; i++) put("pg", "v", i, i % 2 ? "[\"AWSPENDING\"]" : NULL);
    json_t *seen = json_array();
    json_t *o = call_ok("ListSecretVersionIds",
                        json_pack("{s:s, s:i, s:b}", "SecretId", "pg", "MaxResults", 2,
                                  "IncludeDeprecated", 1));
    for (int pages = 1;; pages++) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(o, "Versions"), i, v)
            json_array_append_new(seen, json_string(sget(v, "VersionId")));
        json_t *next = json_object_get(o, "NextToken");
        if (!next) { assert_int_equal(pages, 3); break; }
        json_t *in = json_pack("{s:s, s:i, s:b, s:O}", "SecretId", "pg", "MaxResults", 2,
                               "IncludeDeprecated", 1, "NextToken", next);
        json_decref(o);
        o = call_ok("ListSecretVersionIds", in);
    }
    json_decref(o);
    assert_int_equal(json_array_size(seen), 5);
    for (int i = 0; i < 5; i++)
        assert_string_equal(json_string_value(json_array_get(seen, (size_t)i)), tok(i + 1));
    json_decref(seen);
    call_err("ListSecretVersionIds", json_pack("{s:s, s:s}", "SecretId", "pg", "NextToken", "xx"),
             TR_E_SM_INVALID_NEXT_TOKEN, NULL);
}

/* ---- idempotency and pruning ------------------------------------------------------ */

/* The message of a ClientRequestToken in use with another value. */
static const char *in_use(const char *token, const char *arn)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "You can't use ClientRequestToken %s because that value is "
             "already in use for a version of secret %s.", token, arn);
    return buf;
}

static void test_idempotency(void **state)
{
    (void)state;
    const char *arn = create(0, "idem", "same", 1);
    /* CreateSecret retried with the same token and value: same answer. */
    json_t *o = call_ok("CreateSecret", json_pack("{s:s, s:s, s:s}", "Name", "idem",
                                                  "SecretString", "same", "ClientRequestToken",
                                                  tok(1)));
    assert_string_equal(sget(o, "ARN"), arn);
    assert_string_equal(sget(o, "VersionId"), tok(1));
    json_decref(o);
    call_err("CreateSecret", json_pack("{s:s, s:s, s:s}", "Name", "idem", "SecretString", "other",
                                       "ClientRequestToken", tok(1)),
             TR_E_SM_RESOURCE_EXISTS, in_use(tok(1), arn));
    call_err("CreateSecret", json_pack("{s:s, s:s, s:s}", "Name", "idem", "SecretString", "same",
                                       "ClientRequestToken", tok(2)),
             TR_E_SM_RESOURCE_EXISTS, "The operation failed because the secret idem already "
             "exists.");

    /* PutSecretValue retried: no new version, labels unchanged. */
    put("idem", "two", 2, NULL);
    put("idem", "two", 2, NULL);
    o = call_ok("ListSecretVersionIds", json_pack("{s:s, s:b}", "SecretId", "idem",
                                                  "IncludeDeprecated", 1));
    assert_int_equal(json_array_size(json_object_get(o, "Versions")), 2);
    json_decref(o);
    labels_eq("idem", 2, "[\"AWSCURRENT\"]");
    call_err("PutSecretValue", json_pack("{s:s, s:s, s:s}", "SecretId", "idem",
                                         "SecretString", "changed", "ClientRequestToken", tok(2)),
             TR_E_SM_RESOURCE_EXISTS, in_use(tok(2), arn));
    /* The same bytes as binary are a different value. */
    DO("PutSecretValue", json_pack("{s:s, s:s, s:s}", "SecretId", "idem", "SecretBinary",
                                   "dHdv", "ClientRequestToken", tok(3)));
    call_err("PutSecretValue", json_pack("{s:s, s:s, s:s}", "SecretId", "idem",
                                         "SecretString", "two", "ClientRequestToken", tok(3)),
             TR_E_SM_RESOURCE_EXISTS, NULL);
    /* Raw requests without a token. */
    call_err("PutSecretValue", json_pack("{s:s, s:s}", "SecretId", "idem", "SecretString", "x"),
             TR_E_SM_INVALID_REQUEST, "You must provide a ClientRequestToken value. We "
             "recommend a UUID-type value.");
    call_err("CreateSecret", json_pack("{s:s, s:s}", "Name", "idem2", "SecretString", "x"),
             TR_E_SM_INVALID_REQUEST, "You must provide a ClientRequestToken value. We "
             "recommend a UUID-type value.");
    /* Before the secret is looked for: a secret that does not exist. */
    call_err("PutSecretValue", json_pack("{s:s, s:s}", "SecretId", "nope", "SecretString", "x"),
             TR_E_SM_INVALID_REQUEST, "You must provide a ClientRequestToken value. We "
             "recommend a UUID-type value.");
    call_err("UpdateSecret", json_pack("{s:s, s:s}", "SecretId", "nope", "SecretString", "x"),
             TR_E_SM_INVALID_REQUEST, "You must provide a ClientRequestToken value. We "
             "recommend a UUID-type value.");
    /* Without a value no token is needed: the secret is looked for. */
    call_err("UpdateSecret", json_pack("{s:s, s:s}", "SecretId", "nope", "Description", "d"),
             TR_E_SM_RESOURCE_NOT_FOUND, NULL);
}

/* Secret id has 100 versions (deprecated ones included), the first two
 * and the last of them made by tokens first, second and last. */
static void versions_start(const char *id, int first, int second, int last)
{
    json_t *o = call_ok("ListSecretVersionIds", json_pack("{s:s, s:b}", "SecretId", id,
                                                          "IncludeDeprecated", 1));
    json_t *vs = json_object_get(o, "Versions");
    assert_int_equal(json_array_size(vs), 100);
    assert_string_equal(sget(json_array_get(vs, 0), "VersionId"), tok(first));
    assert_string_equal(sget(json_array_get(vs, 1), "VersionId"), tok(second));
    assert_string_equal(sget(json_array_get(vs, 99), "VersionId"), tok(last));
    json_decref(o);
}

static void test_pruning(void **state)
{
    (void)state;
    create(0, "many", "v", 1);
    put("many", "keep", 2, "[\"KEEP\"]");
    for (int i = 3; i <= 110; i++) put("many", "v", i, NULL);
    /* The labelled ones survive; the oldest unlabeled ones went first. */
    versions_start("many", 2, 12, 110);
    labels_eq("many", 109, "[\"AWSPREVIOUS\"]");
    value_eq("many", "v");
    json_t *o = call_ok("GetSecretValue", json_pack("{s:s, s:s}", "SecretId", "many",
                                                    "VersionStage", "KEEP"));
    assert_string_equal(sget(o, "SecretString"), "keep");
    json_decref(o);
    call_err("GetSecretValue", json_pack("{s:s, s:s}", "SecretId", "many", "VersionId", tok(5)),
             TR_E_SM_RESOURCE_NOT_FOUND, NULL);
}

/* ---- the version index (secrets.c) --------------------------------------------------
 * A PutSecretValue reads the entity, its labeled versions and the creation
 * order it prunes from -- never every version.  The store's vtable is
 * swapped for one that counts the relation rows read and written, so the
 * tests see how many rows a write touches, not how long it takes. */

static const struct store_class *real_store;
static struct store_class counting_store;
static size_t rows_read, rows_written, pair_calls;   /* pair_calls: two rows in one call */

static TR_RESULT count_rel_get(store_t st, const char *kind, const char *from, const char *to,
                               struct rel_rec *out)
{
    tr_result r = real_store->rel_get(st, kind, from, to, out);
    if (tr_ok(r)) rows_read++;
    return r;
}

static TR_RESULT count_rel_list_from(store_t st, const char *kind, const char *from,
                                     const char *after, size_t limit, struct rel_rec **out,
                                     size_t *n)
{
    tr_result r = real_store->rel_list_from(st, kind, from, after, limit, out, n);
    if (tr_ok(r)) rows_read += *n;
    return r;
}

static TR_RESULT count_rel_member_get(store_t st, const char *kind, const char *from,
                                      const char *to, const char *member, struct rel_rec *out)
{
    tr_result r = real_store->rel_member_get(st, kind, from, to, member, out);
    if (tr_ok(r)) rows_read++;
    return r;
}

static TR_RESULT count_rel_member_set(store_t st, const char *kind, const char *from,
                                      const char *to, const char *member, const char *json)
{
    rows_written++;
    return real_store->rel_member_set(st, kind, from, to, member, json);
}

static TR_RESULT count_rel_put(store_t st, const struct rel_rec *rel)
{
    rows_written++;
    return real_store->rel_put(st, rel);
}

static TR_RESULT count_rel_member_get_pair(store_t st, const char *kind, const char *from,
                                           const char *member, const char *to1, const char *to2,
                                           struct rel_rec **out, size_t *n)
{
    tr_result r = real_store->rel_member_get_pair(st, kind, from, member, to1, to2, out, n);
    if (tr_ok(r)) rows_read += *n;
    pair_calls++;
    return r;
}

static TR_RESULT count_rel_put_pair(store_t st, const struct rel_rec *a, const struct rel_rec *b)
{
    rows_written += 2;
    pair_calls++;
    return real_store->rel_put_pair(st, a, b);
}

static TR_RESULT count_rel_member_set_pair(store_t st, const char *kind, const char *from,
                                           const char *member, const char *to1, const char *json1,
                                           const char *to2, const char *json2)
{
    rows_written += 2;
    pair_calls++;
    return real_store->rel_member_set_pair(st, kind, from, member, to1, json1, to2, json2);
}

static TR_RESULT count_rel_delete(store_t st, const char *kind, const char *from, const char *to)
{
    rows_written++;
    return real_store->rel_delete(st, kind, from, to);
}

static size_t prune_calls;

static TR_RESULT count_rel_prune_order(store_t st, const char *order_kind, const char *item_kind,
                                       const char *from, size_t count, const char *const *keep,
                                       size_t nkeep, int *deleted)
{
    tr_result r = real_store->rel_prune_order(st, order_kind, item_kind, from, count, keep, nkeep, deleted);
    if (tr_ok(r)) rows_written += (size_t)*deleted;
    prune_calls++;
    return r;
}

/* PutSecretValue of version `token` on `id`, counting relation rows. */
static void put_counted(const char *id, int token, size_t *read, size_t *written)
{
    const struct store_class **st = F->rc.st;
    real_store = *st;
    counting_store = *real_store;
    counting_store.rel_get = count_rel_get;
    counting_store.rel_list_from = count_rel_list_from;
    counting_store.rel_member_get = count_rel_member_get;
    counting_store.rel_member_set = count_rel_member_set;
    counting_store.rel_put = count_rel_put;
    counting_store.rel_put_pair = count_rel_put_pair;
    counting_store.rel_member_get_pair = count_rel_member_get_pair;
    counting_store.rel_member_set_pair = count_rel_member_set_pair;
    counting_store.rel_delete = count_rel_delete;
    counting_store.rel_prune_order = count_rel_prune_order;
    rows_read = rows_written = pair_calls = prune_calls = 0;
    *st = &counting_store;
    put(id, "v", token, NULL);
    *st = real_store;
    *read = rows_read;
    *written = rows_written;
}

/* The secret's stored entity doc (caller frees) and writing it back. */
static json_t *entity_doc(const char *arn)
{
    struct ent_rec e = { 0 };
    store_t st = F->rc.st;
    assert_int_equal(tr_code((*st)->ent_get_arn(st, SM_KIND, arn, &e)), TR_E_OK);
    json_t *d = json_loads(e.doc, 0, NULL);
    ent_rec_free(&e);
    assert_non_null(d);
    return d;
}

static void entity_doc_put(const char *arn, json_t *d)
{
    struct ent_rec e = { 0 };
    store_t st = F->rc.st;
    assert_int_equal(tr_code((*st)->ent_get_arn(st, SM_KIND, arn, &e)), TR_E_OK);
    char *txt = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    free(e.doc);
    e.doc = txt;
    store_tx(true);
    assert_int_equal(tr_code((*st)->ent_update(st, &e)), TR_E_OK);
    store_tx(false);
    ent_rec_free(&e);
}

static size_t rel_count(const char *kind, const char *arn)
{
    struct rel_rec *v = NULL;
    size_t n = 0;
    store_t st = F->rc.st;
    assert_int_equal(tr_code((*st)->rel_list_from(st, kind, arn, NULL, 100000, &v, &n)), TR_E_OK);
    rel_list_free(v, n);
    return n;
}

/* The versions as ListSecretVersionIds shows them with deprecated ones,
 * as "n:[labels] ..." with n the token's number less `base`: what two
 * secrets driven alike (tokens `base` apart) must agree on. */
static char *versions_text(const char *id, int base)
{
    json_t *o = call_ok("ListSecretVersionIds",
                        json_pack("{s:s, s:b}", "SecretId", id, "IncludeDeprecated", 1));
    json_t *vs = json_object_get(o, "Versions"), *v;
    size_t i, used = 0, cap = 16384;
    char *t = calloc(1, cap);
    assert_non_null(t);
    json_array_foreach(vs, i, v) {
        json_t *st = json_object_get(v, "VersionStages");
        char *labels = st ? json_dumps(st, JSON_COMPACT) : strdup("[]");
        int n = (int)strtol(sget(v, "VersionId") + 24, NULL, 10) - base;
        used += (size_t)snprintf(t + used, cap - used, "%d:%s ", n, labels);
        free(labels);
        assert_true(used < cap);
    }
    json_decref(o);
    return t;
}

static void test_version_index_rows(void **state)
{
    (void)state;
    size_t few_read, few_written, read_101, written_101, read_130, written_130;
    create(0, "few", "v", 1);
    put("few", "v", 2, NULL);
    put_counted("few", 3, &few_read, &few_written);
    /* The two labeled versions read in one call, their label moves in
     * another, the new version and its place in a third (one statement
     * each). */
    assert_int_equal(pair_calls, 3);
    labels_eq("few", 1, "[]");
    labels_eq("few", 2, "[\"AWSPREVIOUS\"]");
    labels_eq("few", 3, "[\"AWSCURRENT\"]");

    create(1, "many", "v", 1001);
    put("many", "keep", 1002, "[\"KEEP\"]");
    for (int i = 1003; i <= 1100; i++) put("many", "v", i, NULL);
    put_counted("many", 1101, &read_101, &written_101);          /* prunes one */
    assert_int_equal(prune_calls, 1);   /* one statement, no walk of the order */
    for (int i = 1102; i <= 1130; i++) put("many", "v", i, NULL);
    put_counted("many", 1131, &read_130, &written_130);
    assert_int_equal(prune_calls, 1);
    print_message("rows read/written by one PutSecretValue: 3 versions %zu/%zu, "
                  "101 versions %zu/%zu, 130 versions %zu/%zu\n", few_read, few_written,
                  read_101, written_101, read_130, written_130);
    /* The same work at 101 and at 130 versions... */
    assert_int_equal(read_130, read_101);
    assert_int_equal(written_130, written_101);
    /* ...and a few rows more than a secret of 3: KEEP's version, the
     * pruned version and its place. */
    assert_true(read_101 <= few_read + 2);
    assert_true(written_101 <= few_written + 2);

    /* The result is what loading every version gives: 100 versions, KEEP
     * kept, the oldest unlabeled ones gone. */
    versions_start("many", 1002, 1033, 1131);
    labels_eq("many", 1130, "[\"AWSPREVIOUS\"]");
    labels_eq("many", 1131, "[\"AWSCURRENT\"]");
}

/* Past the limit with more labeled versions than the one statement of
 * the prune keeps: it prunes from every version instead, with the same
 * result -- the labeled ones kept, the oldest unlabeled ones gone. */
static void test_version_prune_many_labeled(void **state)
{
    (void)state;
    char labels[32];
    const char *arn = create(0, "lab", "v", 1);
    for (int i = 2; i <= 19; i++) {
        snprintf(labels, sizeof labels, "[\"L%d\"]", i);
        put("lab", "l", i, labels);
    }
    for (int i = 20; i <= 105; i++) put("lab", "v", i, NULL);
    /* 1 lost AWSPREVIOUS at 21 and went first, then 20, 21, ... */
    versions_start("lab", 2, 3, 105);
    labels_eq("lab", 19, "[\"L19\"]");
    labels_eq("lab", 104, "[\"AWSPREVIOUS\"]");
    labels_eq("lab", 105, "[\"AWSCURRENT\"]");
    assert_int_equal(rel_count(SM_VER_KIND, arn), 100);
    assert_int_equal(rel_count(SM_SEQ_KIND, arn), 100);
}

/* Two secrets driven alike, one of them with its index taken away (or
 * made wrong) before every write: the answers must not differ. */
static void test_version_index_repair(void **state)
{
    (void)state;
    const char *a = create(0, "indexed", "v", 1), *b = create(1, "plain", "v", 10001);
    int made[2][200], nmade[2] = { 1, 1 }, current[2] = { 1, 10001 };
    made[0][0] = 1;
    made[1][0] = 10001;
    for (int i = 2; i <= 140; i++) {
        for (int k = 0; k < 2; k++) {
            const char *arn = k ? b : a, *id = k ? "plain" : "indexed";
            int t = i + (k ? 10000 : 0);
            if (k) {
                json_t *d = entity_doc(arn), *ix = json_object_get(d, "version_index");
                /* CreateSecret writes none; every write after it does. */
                if (i == 2) assert_null(ix);
                else assert_non_null(ix);
                if (ix) switch (i % 4) {
                case 0: json_object_del(d, "version_index"); break;     /* stored before it */
                case 1: json_object_set_new(ix, "at", json_integer(7)); break;   /* stale */
                case 2:                                                  /* names a wrong version */
                    json_object_set_new(json_object_get(ix, "labels"), "AWSCURRENT",
                                        json_string(tok(made[1][nmade[1] - 1] == current[1]
                                                        ? 10001 : made[1][nmade[1] - 1])));
                    break;
                default: json_object_set_new(ix, "count", json_integer(1)); break; /* too few */
                }
                entity_doc_put(arn, d);
                json_decref(d);
            }
            if (!k && i == 120) {
                /* The creation order lost (as a secret stored before it with an index
                 * would have it): the prune runs out of rows, loads every version
                 * and the save writes the order again. */
                struct rel_rec *v = NULL;
                size_t n = 0;
                store_t st = F->rc.st;
                assert_int_equal(tr_code((*st)->rel_list_from(st, SM_SEQ_KIND, a, NULL, 1000, &v,
                                                              &n)), TR_E_OK);
                store_tx(true);
                for (size_t j = 0; j < n; j++)
                    assert_int_equal(tr_code((*st)->rel_delete(st, SM_SEQ_KIND, a, v[j].to)),
                                     TR_E_OK);
                store_tx(false);
                rel_list_free(v, n);
            }
            if (i % 13 == 0 && nmade[k] > 2) {
                /* Move AWSCURRENT back to the version made two writes ago. */
                int to = made[k][nmade[k] - 3];
                DO("UpdateSecretVersionStage",
                   json_pack("{s:s, s:s, s:s, s:s}", "SecretId", id, "VersionStage", "AWSCURRENT",
                             "MoveToVersionId", tok(to), "RemoveFromVersionId", tok(current[k])));
                current[k] = to;
                continue;
            }
            if (i % 7 == 0) {
                put(id, "p", t, "[\"AWSPENDING\"]");
            } else {
                put(id, "c", t, i % 11 == 0 ? "[\"C1\", \"AWSCURRENT\"]" : NULL);
                current[k] = t;
            }
            made[k][nmade[k]++] = t;
        }
    }
    char *ta = versions_text("indexed", 0), *tb = versions_text("plain", 10000);
    assert_string_equal(ta, tb);
    free(ta);
    free(tb);
    /* The creation order: one row per version. */
    assert_int_equal(rel_count(SM_VER_KIND, a), 100);
    assert_int_equal(rel_count(SM_SEQ_KIND, a), 100);
    assert_int_equal(rel_count(SM_SEQ_KIND, b), 100);
    /* ...and it goes with the secret. */
    DO("DeleteSecret", json_pack("{s:s, s:b}", "SecretId", "plain", "ForceDeleteWithoutRecovery", 1));
    assert_int_equal(rel_count(SM_SEQ_KIND, b), 0);
    assert_int_equal(rel_count(SM_VER_KIND, b), 0);
}

/* ---- KMS --------------------------------------------------------------------------- */

/* The stored doc of version `token` of secret `arn` (caller frees). */
static json_t *version_doc(const char *arn, int token)
{
    struct rel_rec r;
    store_t st = F->rc.st;
    assert_int_equal(tr_code((*st)->rel_get(st, SM_VER_KIND, arn, tok(token), &r)), TR_E_OK);
    json_t *d = json_loads(r.doc, 0, NULL);
    rel_rec_free(&r);
    assert_non_null(d);
    return d;
}

static void version_doc_put(const char *arn, int token, json_t *d)
{
    store_t st = F->rc.st;
    char *txt = json_dumps(d, JSON_COMPACT);
    struct rel_rec r = { .from = (char *)arn, .to = (char *)tok(token), .doc = txt,
                         .created = NOW };
    snprintf(r.kind, sizeof r.kind, SM_VER_KIND);
    store_tx(true);
    assert_int_equal(tr_code((*st)->rel_put(st, &r)), TR_E_OK);
    store_tx(false);
    free(txt);
}

static void test_key_change(void **state)
{
    (void)state;
    const char *k1 = new_key(1), *k2 = new_key(2);
    char k1arn[128], k2arn[128];
    snprintf(k1arn, sizeof k1arn, "arn:aws:kms:" REGION ":" ACCT ":key/%s", k1);
    snprintf(k2arn, sizeof k2arn, "arn:aws:kms:" REGION ":" ACCT ":key/%s", k2);
    const char *arn;
    {
        json_t *o = call_ok("CreateSecret", json_pack("{s:s, s:s, s:s, s:s}", "Name", "kc",
                                                      "SecretString", "one", "KmsKeyId", k1,
                                                      "ClientRequestToken", tok(1)));
        static char a[300];
        snprintf(a, sizeof a, "%s", sget(o, "ARN"));
        arn = a;
        json_decref(o);
    }
    put("kc", "two", 2, NULL);
    put("kc", "three", 3, NULL);   /* 1 is deprecated now */
    json_t *d = version_doc(arn, 3);
    assert_string_equal(sget(d, "key_arn"), k1arn);
    json_decref(d);
    json_t *o = call_ok("DescribeSecret", json_pack("{s:s}", "SecretId", "kc"));
    assert_string_equal(sget(o, "KmsKeyId"), k1);
    json_decref(o);

    /* An unknown key is refused before anything changes. */
    call_err("UpdateSecret", json_pack("{s:s, s:s}", "SecretId", "kc", "KmsKeyId",
                                       "alias/nope"), TR_E_SM_INVALID_PARAMETER, NULL);

    DO("UpdateSecret", json_pack("{s:s, s:s}", "SecretId", "kc", "KmsKeyId", k2arn));
    for (int t = 2; t <= 3; t++) {
        d = version_doc(arn, t);
        assert_string_equal(sget(d, "key_arn"), k2arn);
        json_decref(d);
    }
    d = version_doc(arn, 1);                 /* not re-encrypted: no label */
    assert_string_equal(sget(d, "key_arn"), k1arn);
    json_decref(d);
    o = call_ok("DescribeSecret", json_pack("{s:s}", "SecretId", "kc"));
    assert_string_equal(sget(o, "KmsKeyId"), k2arn);
    json_decref(o);

    /* The old key disabled: current and previous values still readable. */
    DO("DisableKey", json_pack("{s:s}", "KeyId", k1));
    value_eq("kc", "three");
    o = call_ok("GetSecretValue", json_pack("{s:s, s:s}", "SecretId", "kc", "VersionStage",
                                            "AWSPREVIOUS"));
    assert_string_equal(sget(o, "SecretString"), "two");
    json_decref(o);
    char msg[400];
    snprintf(msg, sizeof msg, "Secrets Manager can't decrypt the protected secret text using the "
             "provided KMS key. %s is disabled.", k1arn);
    call_err("GetSecretValue", json_pack("{s:s, s:s}", "SecretId", "kc", "VersionId", tok(1)),
             TR_E_SM_DECRYPTION_FAILURE, msg);
}

static void test_key_change_disabled(void **state)
{
    (void)state;
    const char *k1 = new_key(1);
    char k1arn[128], msg[400];
    snprintf(k1arn, sizeof k1arn, "arn:aws:kms:" REGION ":" ACCT ":key/%s", k1);
    create(0, "kd", "one", 1);
    DO("DisableKey", json_pack("{s:s}", "KeyId", k1));
    snprintf(msg, sizeof msg, "Secrets Manager can't encrypt the protected secret text using the "
             "provided KMS key. Check that the KMS key is available, enabled, and not in an "
             "invalid state. %s is disabled.", k1arn);
    call_err("UpdateSecret", json_pack("{s:s, s:s}", "SecretId", "kd", "KmsKeyId", k1),
             TR_E_SM_ENCRYPTION_FAILURE, msg);
    call_err("CreateSecret", json_pack("{s:s, s:s, s:s, s:s}", "Name", "kd2", "SecretString", "x",
                                       "KmsKeyId", k1, "ClientRequestToken", tok(2)),
             TR_E_SM_ENCRYPTION_FAILURE, msg);
    /* Nothing was left behind by the failed create. */
    call_err("DescribeSecret", json_pack("{s:s}", "SecretId", "kd2"), TR_E_SM_RESOURCE_NOT_FOUND,
             SM_MSG_NOT_FOUND);
    /* Back to aws/secretsmanager with "". */
    DO("EnableKey", json_pack("{s:s}", "KeyId", k1));
    DO("UpdateSecret", json_pack("{s:s, s:s}", "SecretId", "kd", "KmsKeyId", k1));
    DO("UpdateSecret", json_pack("{s:s, s:s}", "SecretId", "kd", "KmsKeyId", ""));
    json_t *o = call_ok("DescribeSecret", json_pack("{s:s}", "SecretId", "kd"));
    assert_null(json_object_get(o, "KmsKeyId"));
    json_decref(o);
    DO("DisableKey", json_pack("{s:s}", "KeyId", k1));
    value_eq("kd", "one");
}

static void test_kms_denied(void **state)
{
    (void)state;
    const char *k1 = new_key(1);
    /* alice may do anything in Secrets Manager and nothing in KMS. */
    mk_user(ACCT, "alice", "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
                           "\"Action\":\"secretsmanager:*\",\"Resource\":\"*\"}]}");
    as_account(ACCT);
    DO("CreateSecret", json_pack("{s:s, s:s, s:s, s:s}", "Name", "cmk", "SecretString", PLAIN,
                                 "KmsKeyId", k1, "ClientRequestToken", tok(1)));
    create(0, "managed", PLAIN, 2);
    as_user(ACCT, "alice");
    call_err("GetSecretValue", json_pack("{s:s}", "SecretId", "cmk"), TR_E_ACCESS_DENIED,
             "Access to KMS is not allowed");
    call_err("PutSecretValue", json_pack("{s:s, s:s, s:s}", "SecretId", "cmk", "SecretString",
                                         "x", "ClientRequestToken", tok(3)),
             TR_E_ACCESS_DENIED, "Access to KMS is not allowed");
    call_err("CreateSecret", json_pack("{s:s, s:s, s:s, s:s}", "Name", "cmk2", "SecretString",
                                       "x", "KmsKeyId", k1, "ClientRequestToken", tok(4)),
             TR_E_ACCESS_DENIED, "Access to KMS is not allowed");
    /* Under aws/secretsmanager the key policy lets her through SM. */
    value_eq("managed", PLAIN);
    put("managed", "new", 5, NULL);
    /* Metadata needs no KMS. */
    DO("DescribeSecret", json_pack("{s:s}", "SecretId", "cmk"));

    /* kms:Decrypt by IAM (the default key policy delegates to IAM): the
     * read works; GenerateDataKey still missing for writes. */
    mk_user(ACCT, "bob", "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
                         "\"Action\":\"secretsmanager:*\",\"Resource\":\"*\"},{\"Effect\":"
                         "\"Allow\",\"Action\":\"kms:Decrypt\",\"Resource\":\"*\",\"Condition\":"
                         "{\"StringEquals\":{\"kms:ViaService\":\"secretsmanager." REGION
                         ".amazonaws.com\",\"kms:EncryptionContext:SecretVersionId\":\""
                         "00000000-0000-4000-8000-000000000001\"}}}]}");
    as_user(ACCT, "bob");
    value_eq("cmk", PLAIN);
    call_err("PutSecretValue", json_pack("{s:s, s:s, s:s}", "SecretId", "cmk", "SecretString",
                                         "x", "ClientRequestToken", tok(6)),
             TR_E_ACCESS_DENIED, "Access to KMS is not allowed");
    as_account(ACCT);
}

static void test_managed_key(void **state)
{
    (void)state;
    const char *a1 = create(0, "m1", "x", 1);
    create(1, "m2", "y", 2);
    json_t *d1 = version_doc(a1, 1);
    /* One key, with its alias and AWS's policy. */
    json_t *o = call_ok("DescribeKey", json_pack("{s:s}", "KeyId", "alias/aws/secretsmanager"));
    json_t *md = json_object_get(o, "KeyMetadata");
    assert_string_equal(sget(md, "KeyManager"), "AWS");
    assert_string_equal(sget(d1, "key_arn"), sget(md, "Arn"));
    char key_id[40];
    snprintf(key_id, sizeof key_id, "%s", sget(md, "KeyId"));
    json_decref(o);
    o = call_ok("ListKeys", json_object());
    assert_int_equal(json_array_size(json_object_get(o, "Keys")), 1);
    json_decref(o);
    o = call_ok("GetKeyPolicy", json_pack("{s:s, s:s}", "KeyId", key_id, "PolicyName", "default"));
    assert_non_null(strstr(sget(o, "Policy"), "auto-secretsmanager"));
    assert_non_null(strstr(sget(o, "Policy"), "secretsmanager." REGION ".amazonaws.com"));
    json_decref(o);
    json_decref(d1);
}

static void test_managed_key_direct(void **state)
{
    (void)state;
    const char *a1 = create(0, "m1", "x", 1);
    json_t *d1 = version_doc(a1, 1);
    json_t *out = NULL;
    json_t *in = json_pack("{s:s, s:{s:s, s:s}}", "CiphertextBlob", sget(d1, "edk"),
                           "EncryptionContext", "SecretARN", a1, "SecretVersionId", tok(1));
    tr_result r = run("Decrypt", in, &out);
    json_decref(in);
    assert_int_equal(tr_code(r), TR_E_ACCESS_DENIED);
    assert_null(out);
    json_decref(d1);
}

static void test_tamper(void **state)
{
    (void)state;
    const char *arn = create(0, "tamper", PLAIN, 1);
    put("tamper", "second", 2, NULL);
    json_t *d = version_doc(arn, 2);
    char *good_ct = strdup(sget(d, "ct")), *good_edk = strdup(sget(d, "edk"));

    /* Every byte position class of ct: IV, body, tag. */
    struct buf raw = BUF_INIT(1 << 16);
    assert_int_equal(tr_code(b64_decode(good_ct, strlen(good_ct), &raw)), TR_E_OK);
    size_t probes[] = { 0, 11, 12, 12 + 3, raw.len - 16, raw.len - 1 };
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        raw.data[probes[i]] ^= 0x01;
        struct buf b = BUF_INIT(1 << 17);
        const char *t;
        assert_int_equal(tr_code(b64_encode(raw.data, raw.len, &b)), TR_E_OK);
        assert_int_equal(tr_code(buf_cstr(&b, &t)), TR_E_OK);
        json_object_set_new(d, "ct", json_string(t));
        version_doc_put(arn, 2, d);
        call_err("GetSecretValue", json_pack("{s:s}", "SecretId", "tamper"),
                 TR_E_SM_DECRYPTION_FAILURE,
                 "Secrets Manager can't decrypt the protected secret text using the provided "
                 "KMS key.");
        raw.data[probes[i]] ^= 0x01;
        buf_free(&b);
    }
    /* ct of another version (same secret): the AAD names the version. */
    json_t *d1 = version_doc(arn, 1);
    json_object_set_new(d, "ct", json_string(sget(d1, "ct")));
    version_doc_put(arn, 2, d);
    call_err("GetSecretValue", json_pack("{s:s}", "SecretId", "tamper"),
             TR_E_SM_DECRYPTION_FAILURE, NULL);
    /* edk of another version: the encryption context names the version. */
    json_object_set_new(d, "ct", json_string(good_ct));
    json_object_set_new(d, "edk", json_string(sget(d1, "edk")));
    version_doc_put(arn, 2, d);
    call_err("GetSecretValue", json_pack("{s:s}", "SecretId", "tamper"),
             TR_E_SM_DECRYPTION_FAILURE, NULL);
    /* A flipped edk byte. */
    struct buf e = BUF_INIT(8192);
    assert_int_equal(tr_code(b64_decode(good_edk, strlen(good_edk), &e)), TR_E_OK);
    e.data[e.len / 2] ^= 0x80;
    struct buf b = BUF_INIT(16384);
    const char *t;
    assert_int_equal(tr_code(b64_encode(e.data, e.len, &b)), TR_E_OK);
    assert_int_equal(tr_code(buf_cstr(&b, &t)), TR_E_OK);
    json_object_set_new(d, "edk", json_string(t));
    version_doc_put(arn, 2, d);
    call_err("GetSecretValue", json_pack("{s:s}", "SecretId", "tamper"),
             TR_E_SM_DECRYPTION_FAILURE, NULL);
    /* Restored: readable again. */
    json_object_set_new(d, "edk", json_string(good_edk));
    version_doc_put(arn, 2, d);
    value_eq("tamper", "second");
    buf_free(&b);
    buf_free(&e);
    buf_free(&raw);
    json_decref(d);
    json_decref(d1);
    free(good_ct);
    free(good_edk);
}

/* Does `hay` contain `needle` (also as base64 at any of the 3 offsets)? */
static bool holds(const char *hay, const char *needle)
{
    if (strstr(hay, needle)) return true;
    size_t n = strlen(needle);
    for (size_t off = 0; off < 3; off++) {
        struct buf b = BUF_INIT(4096);
        const char *t;
        assert_int_equal(tr_code(b64_encode((const uint8_t *)needle + off, n - off, &b)), TR_E_OK);
        assert_int_equal(tr_code(buf_cstr(&b, &t)), TR_E_OK);
        /* Drop the tail that depends on what follows. */
        char core[4096];
        snprintf(core, sizeof core, "%.*s", (int)((n - off) / 3 * 4 - 4), t);
        bool hit = strlen(core) > 8 && strstr(hay, core + 4);
        buf_free(&b);
        if (hit) return true;
    }
    return false;
}

static void test_store_holds_no_plaintext(void **state)
{
    (void)state;
    const char *k1 = new_key(1);
    const char *arn = create(0, "scan", PLAIN, 1);
    put("scan", PLAIN " two", 2, "[\"AWSPENDING\"]");
    DO("UpdateSecret", json_pack("{s:s, s:s, s:s, s:s}", "SecretId", "scan", "KmsKeyId", k1,
                                 "SecretString", PLAIN " three", "ClientRequestToken", tok(3)));
    value_eq("scan", PLAIN " three");
    store_t st = F->rc.st;
    struct ent_rec *ents = NULL;
    size_t n = 0;
    assert_int_equal(tr_code((*st)->ent_list(st, SM_KIND, ACCT, NULL, NULL, 100, &ents, &n)),
                     TR_E_OK);
    assert_int_equal(n, 1);
    assert_false(holds(ents[0].doc, PLAIN));
    ent_list_free(ents, n);
    struct rel_rec *rels = NULL;
    assert_int_equal(tr_code((*st)->rel_list_from(st, SM_VER_KIND, arn, NULL, 100, &rels, &n)),
                     TR_E_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_false(holds(rels[i].doc, PLAIN));
        assert_false(holds(rels[i].doc, "horse battery"));
        json_t *d = json_loads(rels[i].doc, 0, NULL);
        assert_non_null(json_object_get(d, "edk"));
        assert_non_null(json_object_get(d, "ct"));
        json_decref(d);
    }
    rel_list_free(rels, n);
    /* Sanity of the scanner itself. */
    assert_true(holds("xx" PLAIN "yy", PLAIN));
}

/* ---- validation and lookup wording --------------------------------------------------- */

static void test_validation(void **state)
{
    (void)state;
    call_err("GetSecretValue", json_pack("{s:s}", "SecretId", "nope"), TR_E_SM_RESOURCE_NOT_FOUND,
             "Secrets Manager can't find the specified secret.");
    call_err("GetSecretValue", json_pack("{s:s}", "SecretId", "bad name"), TR_E_VALIDATION,
             "Invalid name. Must be a valid name containing alphanumeric characters, or any of "
             "the following: -/_+=.@!");
    call_err("CreateSecret", json_pack("{s:s}", "Name", "a*b"), TR_E_VALIDATION,
             "Invalid name. Must be a valid name containing alphanumeric characters, or any of "
             "the following: -/_+=.@!");
    call_err("CreateSecret", json_pack("{s:s, s:s, s:s, s:s}", "Name", "both", "SecretString", "a",
                                       "SecretBinary", "Yg==", "ClientRequestToken", tok(1)),
             TR_E_SM_INVALID_PARAMETER, "You can't specify both a binary secret value and a "
             "string secret value in the same secret.");
    call_err("CreateSecret", json_pack("{s:s, s:s, s:s}", "Name", "e", "SecretString", "",
                                       "ClientRequestToken", tok(1)), TR_E_VALIDATION,
             "1 validation error detected: Value at 'secretString' failed to satisfy "
             "constraint: Member must have length greater than or equal to 1");
    call_err("CreateSecret", json_pack("{s:s, s:s, s:s}", "Name", "e", "SecretString", "x",
                                       "ClientRequestToken", "short"), TR_E_VALIDATION, NULL);
    call_err("CreateSecret", json_pack("{s:s, s:[{s:s, s:s}]}", "Name", "r", "AddReplicaRegions",
                                       "Region", "eu-west-1", "KmsKeyId", "x"),
             TR_E_SM_INVALID_PARAMETER, "Invalid replica region.");   /* not served */
    call_err("CreateSecret", json_pack("{s:s, s:s}", "Name", "k", "KmsKeyId", "alias/none"),
             TR_E_SM_INVALID_PARAMETER, NULL);
    call_err("PutSecretValue", json_pack("{s:s, s:s, s:s}", "SecretId", "nope",
                                         "SecretString", "x", "ClientRequestToken", tok(1)),
             TR_E_SM_RESOURCE_NOT_FOUND, SM_MSG_NOT_FOUND);
    create(0, "v", "x", 1);
    call_err("PutSecretValue", json_pack("{s:s, s:s}", "SecretId", "v", "ClientRequestToken",
                                         tok(2)), TR_E_SM_INVALID_REQUEST,
             "You must provide either SecretString or SecretBinary.");
    /* A partial ARN of a name that ends like a suffix is taken as a full ARN. */
    const char *arn = create(1, "x-a1b2c3", "y", 3);
    char partial[300];
    snprintf(partial, sizeof partial, "%.*s", (int)strlen(arn) - 7, arn);
    call_err("GetSecretValue", json_pack("{s:s}", "SecretId", partial), TR_E_SM_RESOURCE_NOT_FOUND,
             SM_MSG_NOT_FOUND);
    /* Another region's ARN is not found here. */
    char other[300];
    snprintf(other, sizeof other, "arn:aws:secretsmanager:eu-west-1:%s", arn + strlen(
             "arn:aws:secretsmanager:" REGION ":"));
    call_err("GetSecretValue", json_pack("{s:s}", "SecretId", other), TR_E_SM_RESOURCE_NOT_FOUND,
             SM_MSG_NOT_FOUND);

    /* Pending deletion: marked in the store as DeleteSecret does. */
    store_t st = F->rc.st;
    struct secret s;
    bool found;
    assert_int_equal(tr_code(sm_lookup_name(st, ACCT, REGION, "v", &s, &found)), TR_E_OK);
    assert_true(found);
    s.deleted_date = NOW;
    store_tx(true);
    assert_int_equal(tr_code(sm_save(st, &s, false)), TR_E_OK);
    store_tx(false);
    secret_free(&s);
    call_err("GetSecretValue", json_pack("{s:s}", "SecretId", "v"), TR_E_SM_INVALID_REQUEST,
             "You can't perform this operation on the secret because it was marked for "
             "deletion.");
    call_err("PutSecretValue", json_pack("{s:s, s:s, s:s}", "SecretId", "v", "SecretString", "x",
                                         "ClientRequestToken", tok(4)),
             TR_E_SM_INVALID_REQUEST, SM_MSG_MARKED);
    call_err("CreateSecret", json_pack("{s:s}", "Name", "v"), TR_E_SM_INVALID_REQUEST,
             "You can't create this secret because a secret with this name is already "
             "scheduled for deletion.");
    json_t *o = call_ok("DescribeSecret", json_pack("{s:s}", "SecretId", "v"));
    assert_non_null(json_object_get(o, "DeletedDate"));
    json_decref(o);
}

/* ---- authorization ---------------------------------------------------------------------- */

static void test_authz_order(void **state)
{
    (void)state;
    const char *arn = create(0, "guarded", PLAIN, 1);
    mk_user(ACCT, "nobody", NULL);
    mk_user(ACCT, "reader", "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
                            "\"Action\":\"secretsmanager:GetSecretValue\",\"Resource\":\"*\"}]}");
    as_user(ACCT, "nobody");
    /* Existing or not, the unauthorized caller sees AccessDenied with the
     * SecretId exactly as passed. */
    call_err("GetSecretValue", json_pack("{s:s}", "SecretId", "guarded"), TR_E_ACCESS_DENIED,
             "User: arn:aws:iam::" ACCT ":user/nobody is not authorized to perform: "
             "secretsmanager:GetSecretValue on resource: guarded because no identity-based "
             "policy allows the secretsmanager:GetSecretValue action");
    call_err("GetSecretValue", json_pack("{s:s}", "SecretId", "missing"), TR_E_ACCESS_DENIED,
             "User: arn:aws:iam::" ACCT ":user/nobody is not authorized to perform: "
             "secretsmanager:GetSecretValue on resource: missing because no identity-based "
             "policy allows the secretsmanager:GetSecretValue action");
    as_user(ACCT, "reader");
    call_err("GetSecretValue", json_pack("{s:s}", "SecretId", "missing"),
             TR_E_SM_RESOURCE_NOT_FOUND, SM_MSG_NOT_FOUND);
    value_eq("guarded", PLAIN);
    call_err("DescribeSecret", json_pack("{s:s}", "SecretId", "guarded"), TR_E_ACCESS_DENIED, NULL);

    /* A resource policy naming the user suffices in the same account. */
    as_account(ACCT);
    struct secret s;
    bool found;
    store_t st = F->rc.st;
    assert_int_equal(tr_code(sm_lookup_name(st, ACCT, REGION, "guarded", &s, &found)), TR_E_OK);
    s.policy = strdup("{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
                      "\"Principal\":{\"AWS\":\"arn:aws:iam::" ACCT ":user/nobody\"},"
                      "\"Action\":\"secretsmanager:GetSecretValue\",\"Resource\":\"*\"},"
                      "{\"Effect\":\"Deny\",\"Principal\":{\"AWS\":\"arn:aws:iam::" ACCT
                      ":user/reader\"},\"Action\":\"secretsmanager:GetSecretValue\","
                      "\"Resource\":\"*\"}]}");
    store_tx(true);
    assert_int_equal(tr_code(sm_save(st, &s, false)), TR_E_OK);
    store_tx(false);
    secret_free(&s);
    as_user(ACCT, "nobody");
    value_eq(arn, PLAIN);
    as_user(ACCT, "reader");
    call_err("GetSecretValue", json_pack("{s:s}", "SecretId", arn), TR_E_ACCESS_DENIED,
             NULL);

    /* Conditions on the secret's tags and the request's keys. */
    as_account(ACCT);
    store_tx(true);
    assert_int_equal(tr_code((*st)->tag_set(st, arn, "team", "blue")), TR_E_OK);
    store_tx(false);
    mk_user(ACCT, "blue", "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
                          "\"Action\":\"secretsmanager:GetSecretValue\",\"Resource\":\"*\","
                          "\"Condition\":{\"StringEquals\":{\"secretsmanager:ResourceTag/team\":"
                          "\"blue\",\"secretsmanager:VersionStage\":\"AWSCURRENT\"}}}]}");
    as_user(ACCT, "blue");
    call_err("GetSecretValue", json_pack("{s:s}", "SecretId", arn), TR_E_ACCESS_DENIED, NULL);
    json_t *o = call_ok("GetSecretValue", json_pack("{s:s, s:s}", "SecretId", arn,
                                                    "VersionStage", "AWSCURRENT"));
    json_decref(o);
    as_account(ACCT);
}

static void test_cross_account(void **state)
{
    (void)state;
    /* A secret of ACCT under a key whose policy lets ACCT2 decrypt. */
    char policy[1200];
    snprintf(policy, sizeof policy,
             "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":"
             "{\"AWS\":\"arn:aws:iam::" ACCT ":root\"},\"Action\":\"kms:*\",\"Resource\":\"*\"},"
             "{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::" ACCT2 ":root\"},"
             "\"Action\":\"kms:Decrypt\",\"Resource\":\"*\"}]}");
    json_t *o = call_ok("CreateKey", json_pack("{s:s}", "Policy", policy));
    char kid[40];
    snprintf(kid, sizeof kid, "%s", sget(json_object_get(o, "KeyMetadata"), "KeyId"));
    json_decref(o);
    o = call_ok("CreateSecret", json_pack("{s:s, s:s, s:s, s:s}", "Name", "shared",
                                          "SecretString", PLAIN, "KmsKeyId", kid,
                                          "ClientRequestToken", tok(1)));
    char arn[300];
    snprintf(arn, sizeof arn, "%s", sget(o, "ARN"));
    json_decref(o);
    const char *managed = create(1, "mine", "x", 2);

    /* ACCT2's root: no resource policy yet -> denied (both sides needed). */
    as_account(ACCT2);
    call_err("GetSecretValue", json_pack("{s:s}", "SecretId", arn), TR_E_ACCESS_DENIED, NULL);
    /* By name it is looked up in ACCT2: not there. */
    call_err("GetSecretValue", json_pack("{s:s}", "SecretId", "shared"),
             TR_E_SM_RESOURCE_NOT_FOUND, SM_MSG_NOT_FOUND);

    as_account(ACCT);
    store_t st = F->rc.st;
    struct secret s;
    bool found;
    const char *rp = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
                     "\"Principal\":{\"AWS\":\"arn:aws:iam::" ACCT2 ":root\"},\"Action\":"
                     "\"secretsmanager:GetSecretValue\",\"Resource\":\"*\"}]}";
    for (int i = 0; i < 2; i++) {
        assert_int_equal(tr_code(sm_lookup_name(st, ACCT, REGION, i ? "mine" : "shared", &s,
                                                &found)), TR_E_OK);
        s.policy = strdup(rp);
        store_tx(true);
        assert_int_equal(tr_code(sm_save(st, &s, false)), TR_E_OK);
        store_tx(false);
        secret_free(&s);
    }
    as_account(ACCT2);
    value_eq(arn, PLAIN);
    /* Under aws/secretsmanager the KMS hop refuses the other account. */
    call_err("GetSecretValue", json_pack("{s:s}", "SecretId", managed), TR_E_ACCESS_DENIED,
             "Access to KMS is not allowed");
    as_account(ACCT);
}

/* ---- BatchGetSecretValue ------------------------------------------------------------------- */

static void test_batch_get(void **state)
{
    (void)state;
    const char *a = create(0, "b1", "one", 1);
    create(1, "b2", "two", 2);
    create(2, "other", "three", 3);
    json_t *o = call_ok("BatchGetSecretValue",
                        json_pack("{s:[s,s,s]}", "SecretIdList", a, "b2", "b3"));
    json_t *vals = json_object_get(o, "SecretValues"), *errs = json_object_get(o, "Errors");
    assert_int_equal(json_array_size(vals), 2);
    assert_string_equal(sget(json_array_get(vals, 0), "SecretString"), "one");
    assert_string_equal(sget(json_array_get(vals, 1), "SecretString"), "two");
    assert_int_equal(json_array_size(errs), 1);
    assert_string_equal(sget(json_array_get(errs, 0), "SecretId"), "b3");
    assert_string_equal(sget(json_array_get(errs, 0), "ErrorCode"), "ResourceNotFoundException");
    assert_string_equal(sget(json_array_get(errs, 0), "Message"), SM_MSG_NOT_FOUND);
    json_decref(o);

    o = call_ok("BatchGetSecretValue",
                json_pack("{s:[{s:s, s:[s]}], s:i}", "Filters", "Key", "name", "Values", "b",
                          "MaxResults", 1));
    assert_int_equal(json_array_size(json_object_get(o, "SecretValues")), 1);
    assert_string_equal(sget(json_array_get(json_object_get(o, "SecretValues"), 0), "Name"), "b1");
    json_t *next = json_object_get(o, "NextToken");
    assert_non_null(next);
    json_t *o2 = call_ok("BatchGetSecretValue",
                         json_pack("{s:[{s:s, s:[s]}], s:i, s:O}", "Filters", "Key", "name",
                                   "Values", "b", "MaxResults", 1, "NextToken", next));
    assert_string_equal(sget(json_array_get(json_object_get(o2, "SecretValues"), 0), "Name"),
                        "b2");
    json_decref(o);
    json_decref(o2);

    call_err("BatchGetSecretValue", json_pack("{s:[s], s:[{s:s, s:[s]}]}", "SecretIdList", "b1",
                                              "Filters", "Key", "name", "Values", "b"),
             TR_E_SM_INVALID_PARAMETER,
             "Either 'SecretIdList' or 'Filters' must be provided, but not both.");
    call_err("BatchGetSecretValue", json_pack("{s:[s], s:i}", "SecretIdList", "b1",
                                              "MaxResults", 5), TR_E_SM_INVALID_PARAMETER,
             "'Filters' not specified. 'Filters' must also be specified when 'MaxResults' is "
             "provided.");

    /* Per-secret denials land in Errors; the batch action itself is needed. */
    mk_user(ACCT, "batcher", "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
                             "\"Action\":[\"secretsmanager:BatchGetSecretValue\"],"
                             "\"Resource\":\"*\"},{\"Effect\":\"Allow\",\"Action\":"
                             "\"secretsmanager:GetSecretValue\",\"Resource\":\"arn:aws:"
                             "secretsmanager:*:*:secret:b1-*\"}]}");
    mk_user(ACCT, "nobatch", "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
                             "\"Action\":\"secretsmanager:GetSecretValue\",\"Resource\":\"*\"}]}");
    as_user(ACCT, "batcher");
    o = call_ok("BatchGetSecretValue", json_pack("{s:[s,s]}", "SecretIdList", "b1", "b2"));
    assert_int_equal(json_array_size(json_object_get(o, "SecretValues")), 1);
    assert_string_equal(sget(json_array_get(json_object_get(o, "Errors"), 0), "ErrorCode"),
                        "AccessDeniedException");
    json_decref(o);
    as_user(ACCT, "nobatch");
    call_err("BatchGetSecretValue", json_pack("{s:[s]}", "SecretIdList", "b1"),
             TR_E_ACCESS_DENIED, NULL);
    as_account(ACCT);
}

/* ---- dates ---------------------------------------------------------------------------------- */

static void test_dates(void **state)
{
    (void)state;
    create(0, "dates", "x", 1);
    json_t *o = call_ok("DescribeSecret", json_pack("{s:s}", "SecretId", "dates"));
    assert_null(json_object_get(o, "LastAccessedDate"));
    double changed = json_number_value(json_object_get(o, "LastChangedDate"));
    json_decref(o);
    F->rc.now = NOW + 2 * 86400 + 5;
    value_eq("dates", "x");
    put("dates", "y", 2, NULL);
    o = call_ok("DescribeSecret", json_pack("{s:s}", "SecretId", "dates"));
    int64_t day = (NOW + 2 * 86400) - (NOW + 2 * 86400) % 86400;
    assert_int_equal((int64_t)json_number_value(json_object_get(o, "LastAccessedDate")), day);
    assert_true(json_number_value(json_object_get(o, "LastChangedDate")) > changed);
    json_decref(o);
    o = call_ok("ListSecretVersionIds", json_pack("{s:s}", "SecretId", "dates"));
    json_t *v0 = json_array_get(json_object_get(o, "Versions"), 0);
    assert_int_equal((int64_t)json_number_value(json_object_get(v0, "LastAccessedDate")), day);
    assert_null(json_object_get(json_array_get(json_object_get(o, "Versions"), 1),
                                "LastAccessedDate"));
    json_decref(o);
    F->rc.now = NOW;
}

static void test_many_tags(void **state)
{
    (void)state;
    json_t *tags = json_array();
    for (int i = 0; i < 50; i++) {
        char k[140], v[260];
        snprintf(k, sizeof k, "key-%03d-%0120d", i, 0);
        snprintf(v, sizeof v, "%0250d", i);
        json_array_append_new(tags, json_pack("{s:s, s:s}", "Key", k, "Value", v));
    }
    DO("CreateSecret", json_pack("{s:s, s:s, s:s, s:o}", "Name", "tagged", "SecretString", "x",
                                 "ClientRequestToken", tok(1), "Tags", tags));
    value_eq("tagged", "x");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ops_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_versions_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pruning, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_index_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_prune_many_labeled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_index_repair, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_change_disabled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_denied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_managed_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_managed_key_direct, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_holds_no_plaintext, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_authz_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cross_account, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_tags, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
