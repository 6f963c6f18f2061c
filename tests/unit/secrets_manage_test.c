/*
 * secrets_manage_test.c -- the Secrets Manager operations of
 * src/secrets/manage.c, tags.c, password.c, policy.c and unsupported.c,
 * driven the way router.c drives them: a hand-made req_ctx, JSON in, JSON
 * out, OP_WRITE handlers inside a store transaction rolled back on
 * failure, against a fresh in-memory store per test.
 *
 * Secrets are laid down with the shared record calls (sm_save,
 * sm_version_save: secrets.h) rather than CreateSecret, so these tests
 * need no KMS key and no secret value.
 *
 * Covered: the table; ListSecrets sorting, paging with opaque tokens and
 * their refusal, every filter key with prefix, case and "!" rules, planned
 * deletions, account and region isolation, the entry shape; DeleteSecret's
 * parameter rules, scheduled and forced deletion, RestoreSecret, the purge
 * by sm_maintenance on a fake clock; tag rules, the 50-tag total and
 * aws:TagKeys conditions; GetRandomPassword's options, classes and
 * refusals with a statistical sanity check; the public-policy rule; the
 * resource policy operations and ValidateResourcePolicy; a user of the
 * account allowed only by the secret's resource policy; the refused
 * replication and rotation operations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "crypto/hash.h"
#include "crypto/keyring.h"
#include "iam/authz.h"
#include "iam/policy.h"
#include "op/op.h"
#include "op_harness.h"
#include "secrets/lookup.h"
#include "secrets/manage.h"
#include "secrets/ops.h"
#include "secrets/params.h"
#include "secrets/secrets.h"
#include "store/store.h"

#define ACCT "111122223333"
#define ACCT2 "444455556666"
#define REGION "us-east-1"
#define NOW 1700000000
#define DAY 86400

static struct server_env ENV;
static struct req_ctx RC;

static void release_identity(void)
{
    if (!RC.identity) return;
    iam_identity_free(RC.identity);
    free(RC.identity);
    RC.identity = NULL;
}

static void as_account(const char *acct)
{
    release_identity();
    memset(&RC.who, 0, sizeof RC.who);
    RC.who.type = PRINCIPAL_ROOT;
    snprintf(RC.who.account_id, sizeof RC.who.account_id, "%s", acct);
    snprintf(RC.who.arn, sizeof RC.who.arn, "arn:aws:iam::%s:root", acct);
    snprintf(RC.who.id, sizeof RC.who.id, "%s", acct);
}

static void as_user(const char *name)
{
    release_identity();
    memset(&RC.who, 0, sizeof RC.who);
    RC.who.type = PRINCIPAL_USER;
    snprintf(RC.who.account_id, sizeof RC.who.account_id, ACCT);
    snprintf(RC.who.arn, sizeof RC.who.arn, "arn:aws:iam::" ACCT ":user/%s", name);
    /* The user's own unique id (what its access key records), when it exists. */
    struct ent_rec e = { 0 };
    if (tr_ok(RC.st[0]->ent_get(RC.st, "user", ACCT, name, &e)))
        snprintf(RC.who.id, sizeof RC.who.id, "%s", e.id);
    else
        snprintf(RC.who.id, sizeof RC.who.id, "AIDA-%s", name);
    ent_rec_free(&e);
}

static int setup(void **state)
{
    static const uint8_t root[32] = "tresor-sm-manage-test-root-key!!";
    (void)state;
    memset(&ENV, 0, sizeof ENV);
    memset(&RC, 0, sizeof RC);
    if (tr_failed(crypto_init())) return -1;
    if (tr_failed(store_sqlite_open_memory(&ENV.st))) return -1;
    if (tr_failed(keyring_from_bytes(root, &ENV.kr))) return -1;
    ENV.default_region = REGION;
    RC.env = &ENV;
    RC.st = ENV.st;
    RC.kr = ENV.kr;
    snprintf(RC.region, sizeof RC.region, REGION);
    snprintf(RC.service, sizeof RC.service, "secretsmanager");
    RC.now = NOW;
    as_account(ACCT);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    release_identity();
    policy_cache_clear();
    (*ENV.st)->close(ENV.st);
    keyring_free(ENV.kr);
    crypto_thread_cleanup();
    return 0;
}

/* ---- driving the handlers ---------------------------------------------------- */

static const struct op_def *find_op(const char *name)
{
    return oh_find(&sm_service, name);
}

/* Run an operation as the router does (op_harness.h). */
static tr_result run(const char *name, json_t *in, json_t **out)
{
    release_identity();
    tr_result r = oh_json(&RC, &sm_service, name, in, out);
    release_identity();
    return r;
}

static json_t *call_ok(const char *name, json_t *in)
{
    json_t *out = NULL;
    assert_non_null(in);
    tr_result r = run(name, in, &out);
    json_decref(in);
    if (tr_failed(r))
        fail_msg("%s failed: %s: %s", name, tr_err_type(tr_code(r)),
                 tr_last_error()->has_message ? tr_last_error()->message : "(no message)");
    if (!out) out = json_object();
    return out;
}

#define DO(name, in) json_decref(call_ok((name), (in)))

/* Expect `code`, and exactly `msg` unless NULL. */
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
    if (msg) assert_string_equal(tr_last_error()->message, msg);
}

static const char *sget(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_string(v)) fail_msg("member %s is not a string", k);
    return json_string_value(v);
}

static void store_tx(bool begin)
{
    store_t st = RC.st;
    assert_int_equal(tr_code(begin ? (*st)->tx_begin(st) : (*st)->tx_commit(st)), TR_E_OK);
}

/* ---- fixtures ------------------------------------------------------------------ */

/* A secret as CreateSecret leaves it, with one AWSCURRENT version (no
 * value: these operations never read one).  Returns its ARN (static per
 * slot). */
static const char *mk_secret_in(const char *acct, const char *region, const char *name,
                                const char *desc, double created, double changed)
{
    static char arns[32][600];
    static int slot, serial;
    struct secret s;
    struct secret_version *v = NULL;
    char id[40], ver[40];
    memset(&s, 0, sizeof s);
    snprintf(id, sizeof id, "%032d", ++serial);
    snprintf(ver, sizeof ver, "%08d-0000-4000-8000-000000000000", serial);
    s.id = strdup(id);
    s.name = strdup(name);
    s.description = desc ? strdup(desc) : NULL;
    snprintf(s.region, sizeof s.region, "%s", region);
    snprintf(s.account, sizeof s.account, "%s", acct);
    s.created = created;
    s.last_changed = changed;
    s.doc = json_object();
    assert_int_equal(tr_code(sm_arn_new(region, acct, name, &s.arn)), TR_E_OK);
    assert_int_equal(tr_code(sm_version_append(&s, ver, &v)), TR_E_OK);
    assert_int_equal(tr_code(sm_stage_add(v, SM_CURRENT)), TR_E_OK);
    v->created = created;
    store_tx(true);
    assert_int_equal(tr_code(sm_save(RC.st, &s, true)), TR_E_OK);
    assert_int_equal(tr_code(sm_version_save(RC.st, &s, v)), TR_E_OK);
    store_tx(false);
    char *out = arns[slot++ % 32];
    snprintf(out, 600, "%s", s.arn);
    secret_free(&s);
    return out;
}

static const char *mk_secret(const char *name, const char *desc, double created)
{
    return mk_secret_in(ACCT, REGION, name, desc, created, created);
}

static void tag(const char *id, const char *k, const char *v)
{
    DO("TagResource", json_pack("{s:s, s:[{s:s, s:s}]}", "SecretId", id, "Tags", "Key", k,
                                "Value", v));
}

/* An IAM user with an optional inline identity policy. */
static void mk_user(const char *name, const char *policy)
{
    static int serial;
    char arn[256], id[32];
    struct ent_rec e;
    memset(&e, 0, sizeof e);
    snprintf(arn, sizeof arn, "arn:aws:iam::" ACCT ":user/%s", name);
    snprintf(id, sizeof id, "AIDA%017d", ++serial);
    snprintf(e.kind, sizeof e.kind, "user");
    snprintf(e.account_id, sizeof e.account_id, ACCT);
    e.name = (char *)name;
    e.id = id;
    e.arn = arn;
    e.path = "/";
    e.doc = "{}";
    e.created = NOW;
    store_tx(true);
    assert_int_equal(tr_code((*RC.st)->ent_put(RC.st, &e)), TR_E_OK);
    if (policy) {
        struct rel_rec r = { .kind = "inline", .from = arn, .to = "p", .doc = (char *)policy,
                             .created = NOW };
        assert_int_equal(tr_code((*RC.st)->rel_put(RC.st, &r)), TR_E_OK);
    }
    store_tx(false);
}

/* Load a secret by id straight from the store; false when absent. */
static bool load(const char *id, struct secret *s)
{
    bool found = false;
    assert_int_equal(tr_code(sm_lookup(&RC, id, s, &found)), TR_E_OK);
    return found;
}

/* The names in a ListSecrets reply, comma-joined (static). */
static const char *names_of(json_t *reply)
{
    static char buf[4096];
    size_t used = 0, i;
    json_t *e;
    buf[0] = '\0';
    json_array_foreach(json_object_get(reply, "SecretList"), i, e)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", i ? "," : "",
                                 sget(e, "Name"));
    return buf;
}

/* ListSecrets with a JSON request; returns the names. */
static const char *list_names(json_t *in)
{
    json_t *o = call_ok("ListSecrets", in);
    const char *n = names_of(o);
    json_decref(o);
    return n;
}

static json_t *filter1(const char *key, const char *value)
{
    return json_pack("{s:[{s:s, s:[s]}]}", "Filters", "Key", key, "Values", value);
}

/* ---- the table ------------------------------------------------------------------- */

static void test_table(void **state)
{
    (void)state;
    static const char *const MINE[] = {
        "CancelRotateSecret", "DeleteResourcePolicy", "DeleteSecret", "GetRandomPassword",
        "GetResourcePolicy", "ListSecrets", "PutResourcePolicy", "RemoveRegionsFromReplication",
        "ReplicateSecretToRegions", "RestoreSecret", "RotateSecret", "StopReplicationToReplica",
        "TagResource", "UntagResource", "ValidateResourcePolicy", NULL
    };
    for (const struct op_def *op = sm_ops; op->name; op++) {
        if (op[1].name) assert_true(strcmp(op->name, op[1].name) < 0);
        char action[128];
        snprintf(action, sizeof action, "secretsmanager:%s", op->name);
        assert_string_equal(op->action, action);
    }
    for (int i = 0; MINE[i]; i++) {
        const struct op_def *op = find_op(MINE[i]);
        bool writes = strcmp(MINE[i], "DeleteSecret") == 0 || strcmp(MINE[i], "RestoreSecret") == 0 ||
                      strcmp(MINE[i], "TagResource") == 0 || strcmp(MINE[i], "UntagResource") == 0 ||
                      strcmp(MINE[i], "PutResourcePolicy") == 0 ||
                      strcmp(MINE[i], "DeleteResourcePolicy") == 0 ||
                      strcmp(MINE[i], "RotateSecret") == 0 || strcmp(MINE[i], "CancelRotateSecret") == 0 ||
                      strstr(MINE[i], "Replica") != NULL;     /* the three replication operations */
        assert_int_equal((op->flags & OP_WRITE) != 0, writes);
    }
}

/* ---- ListSecrets ------------------------------------------------------------------- */

static void test_list_sort_and_shape(void **state)
{
    (void)state;
    assert_string_equal(list_names(json_object()), "");
    mk_secret("b", "second", NOW + 2);
    mk_secret("a", NULL, NOW + 3);
    mk_secret("c", "first", NOW + 1);
    mk_secret_in(ACCT, "eu-west-1", "other-region", NULL, NOW, NOW);
    mk_secret_in(ACCT2, REGION, "other-account", NULL, NOW, NOW);

    /* Default: CreatedDate ascending; only this account and region. */
    assert_string_equal(list_names(json_object()), "c,b,a");
    assert_string_equal(list_names(json_pack("{s:s}", "SortOrder", "desc")), "a,b,c");
    assert_string_equal(list_names(json_pack("{s:s}", "SortBy", "name")), "a,b,c");
    assert_string_equal(list_names(json_pack("{s:s, s:s}", "SortBy", "name", "SortOrder", "desc")),
                        "c,b,a");
    assert_string_equal(list_names(json_pack("{s:s}", "SortBy", "last-changed-date")), "c,b,a");

    /* The entry: DescribeSecret's fields and SecretVersionsToStages. */
    json_t *o = call_ok("ListSecrets", json_pack("{s:s}", "SortBy", "name"));
    json_t *e = json_array_get(json_object_get(o, "SecretList"), 1);
    assert_string_equal(sget(e, "Name"), "b");
    assert_string_equal(sget(e, "Description"), "second");
    assert_true(strncmp(sget(e, "ARN"), "arn:aws:secretsmanager:" REGION ":" ACCT ":secret:b-", 50) == 0);
    assert_null(json_object_get(e, "KmsKeyId"));
    assert_null(json_object_get(e, "DeletedDate"));
    assert_null(json_object_get(e, "VersionIdsToStages"));
    json_t *m = json_object_get(e, "SecretVersionsToStages");
    assert_int_equal(json_object_size(m), 1);
    json_t *stages = json_object_iter_value(json_object_iter(m));
    assert_string_equal(json_string_value(json_array_get(stages, 0)), SM_CURRENT);
    assert_true(json_is_number(json_object_get(e, "CreatedDate")));
    assert_null(json_object_get(o, "NextToken"));
    json_decref(o);

    /* Enum and range validation, in the front end's words. */
    call_err("ListSecrets", json_pack("{s:s}", "SortOrder", "up"), TR_E_VALIDATION,
             "1 validation error detected: Value 'up' at 'sortOrder' failed to satisfy constraint: "
             "Member must satisfy enum value set: [asc, desc]");
    call_err("ListSecrets", json_pack("{s:s}", "SortBy", "size"), TR_E_VALIDATION, NULL);
    call_err("ListSecrets", json_pack("{s:i}", "MaxResults", 0), TR_E_VALIDATION,
             "1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: "
             "Member must have value greater than or equal to 1");
    call_err("ListSecrets", json_pack("{s:i}", "MaxResults", 101), TR_E_VALIDATION, NULL);
    call_err("ListSecrets", json_pack("{s:s}", "Bogus", "x"), TR_E_SERIALIZATION, NULL);
}

static void test_list_paging(void **state)
{
    (void)state;
    char name[16];
    for (int i = 0; i < 7; i++) {
        snprintf(name, sizeof name, "s%d", i);
        mk_secret(name, NULL, NOW + (i % 3));   /* equal dates: ties by name */
    }
    const char *orders[] = { "asc", "desc" };
    const char *sorts[] = { "created-date", "name", "last-changed-date", "last-accessed-date" };
    for (int so = 0; so < 4; so++)
        for (int o = 0; o < 2; o++) {
            char all[256];
            snprintf(all, sizeof all, "%s", list_names(json_pack("{s:s, s:s}", "SortBy", sorts[so],
                                                                 "SortOrder", orders[o])));
            char paged[256] = "";
            char *token = NULL;
            int pages = 0;
            do {
                json_t *in = json_pack("{s:i, s:s, s:s}", "MaxResults", 3, "SortBy", sorts[so],
                                       "SortOrder", orders[o]);
                if (token) json_object_set_new(in, "NextToken", json_string(token));
                json_t *out = call_ok("ListSecrets", in);
                assert_true(json_array_size(json_object_get(out, "SecretList")) <= 3);
                size_t used = strlen(paged);
                snprintf(paged + used, sizeof paged - used, "%s%s", used ? "," : "", names_of(out));
                free(token);
                json_t *t = json_object_get(out, "NextToken");
                token = t ? strdup(json_string_value(t)) : NULL;
                json_decref(out);
                pages++;
            } while (token);
            assert_int_equal(pages, 3);
            assert_string_equal(paged, all);
        }

    /* A secret created between pages is neither repeated nor skipped
     * when it sorts after the position. */
    json_t *out = call_ok("ListSecrets", json_pack("{s:i, s:s}", "MaxResults", 2, "SortBy", "name"));
    assert_string_equal(names_of(out), "s0,s1");
    char *token = strdup(sget(out, "NextToken"));
    json_decref(out);
    mk_secret("s00", NULL, NOW);
    mk_secret("s3a", NULL, NOW);
    assert_string_equal(list_names(json_pack("{s:s, s:s}", "SortBy", "name", "NextToken", token)),
                        "s2,s3,s3a,s4,s5,s6");

    /* Tokens of another sort, and garbage, are refused. */
    call_err("ListSecrets", json_pack("{s:s}", "NextToken", token), TR_E_SM_INVALID_NEXT_TOKEN,
             "The NextToken value is invalid.");
    call_err("ListSecrets", json_pack("{s:s, s:s, s:s}", "NextToken", token, "SortBy", "name",
                                      "SortOrder", "desc"), TR_E_SM_INVALID_NEXT_TOKEN, NULL);
    call_err("ListSecrets", json_pack("{s:s}", "NextToken", "!!not base64!!"),
             TR_E_SM_INVALID_NEXT_TOKEN, NULL);
    call_err("ListSecrets", json_pack("{s:s}", "NextToken", "djJ8bmFtZXxhc2N8eHx5"),  /* v2|... */
             TR_E_SM_INVALID_NEXT_TOKEN, NULL);
    call_err("ListSecrets", json_pack("{s:s}", "NextToken", ""), TR_E_VALIDATION, NULL);
    free(token);
}

static void test_list_filters(void **state)
{
    (void)state;
    const char *prod = mk_secret("prod/db/Password", "Primary database credentials", NOW + 1);
    const char *dev = mk_secret("dev/db/password", "Test DB", NOW + 2);
    mk_secret("MyAppToken", NULL, NOW + 3);
    tag(prod, "env", "production");
    tag(prod, "team", "blue");
    tag(dev, "env", "development");

    /* name: prefix, case-sensitive. */
    assert_string_equal(list_names(filter1("name", "prod/")), "prod/db/Password");
    assert_string_equal(list_names(filter1("name", "PROD/")), "");
    assert_string_equal(list_names(filter1("name", "db")), "");
    /* description: case-insensitive, prefix or the start of a word. */
    assert_string_equal(list_names(filter1("description", "primary")), "prod/db/Password");
    assert_string_equal(list_names(filter1("description", "data")), "prod/db/Password");
    assert_string_equal(list_names(filter1("description", "db")), "dev/db/password");
    assert_string_equal(list_names(filter1("description", "abase")), "");
    /* tag-key / tag-value: prefix, case-sensitive, any tag. */
    assert_string_equal(list_names(filter1("tag-key", "te")), "prod/db/Password");
    assert_string_equal(list_names(filter1("tag-value", "dev")), "dev/db/password");
    assert_string_equal(list_names(filter1("tag-value", "Dev")), "");
    /* Negation: the attribute must not match; no tags at all qualifies. */
    assert_string_equal(list_names(filter1("tag-key", "!team")), "dev/db/password,MyAppToken");
    assert_string_equal(list_names(filter1("name", "!prod")), "dev/db/password,MyAppToken");
    assert_string_equal(list_names(filter1("description", "!test")),
                        "prod/db/Password,MyAppToken");
    /* all: words of every attribute, case-insensitive; camel case splits. */
    assert_string_equal(list_names(filter1("all", "password")), "prod/db/Password,dev/db/password");
    assert_string_equal(list_names(filter1("all", "token")), "MyAppToken");
    assert_string_equal(list_names(filter1("all", "BLUE")), "prod/db/Password");
    assert_string_equal(list_names(filter1("all", "/")), "");
    /* primary-region: the secret's own Region; owning-service: none. */
    assert_string_equal(list_names(filter1("primary-region", "us-")),
                        "prod/db/Password,dev/db/password,MyAppToken");
    assert_string_equal(list_names(filter1("owning-service", "rds")), "");
    /* Values OR, filters AND. */
    assert_string_equal(list_names(json_pack("{s:[{s:s, s:[s, s]}]}", "Filters", "Key", "name",
                                             "Values", "prod", "My")),
                        "prod/db/Password,MyAppToken");
    assert_string_equal(list_names(json_pack("{s:[{s:s, s:[s]}, {s:s, s:[s]}]}", "Filters",
                                             "Key", "all", "Values", "db", "Key", "tag-value",
                                             "Values", "prod")),
                        "prod/db/Password");

    /* Validation. */
    call_err("ListSecrets", filter1("colour", "x"), TR_E_VALIDATION,
             "1 validation error detected: Value 'colour' at 'filters.1.member.key' failed to "
             "satisfy constraint: Member must satisfy enum value set: [all, name, tag-key, description, "
             "primary-region, owning-service, tag-value]");
    call_err("ListSecrets", filter1("name", "a*b"), TR_E_VALIDATION, NULL);
    call_err("ListSecrets", json_pack("{s:[{s:s, s:[]}]}", "Filters", "Key", "name", "Values"),
             TR_E_VALIDATION, NULL);
    call_err("ListSecrets", json_pack("{s:[{s:s}]}", "Filters", "Key", "name"),
             TR_E_SM_INVALID_PARAMETER, "Invalid filter values for key: name");
    call_err("ListSecrets", json_pack("{s:[{s:s, s:n}]}", "Filters", "Key", "tag-key", "Values"),
             TR_E_SM_INVALID_PARAMETER, "Invalid filter values for key: tag-key");
    call_err("ListSecrets", json_pack("{s:[{s:[s]}]}", "Filters", "Values", "a"),
             TR_E_SM_INVALID_PARAMETER, "Invalid filter key");
    call_err("ListSecrets", json_pack("{s:[{s:n, s:[s]}]}", "Filters", "Key", "Values", "a"),
             TR_E_SM_INVALID_PARAMETER, "Invalid filter key");
    /* The key is checked before the values, filter by filter. */
    call_err("ListSecrets", json_pack("{s:[{s:s, s:[s]}, {s:[s]}]}", "Filters", "Key", "name",
                                      "Values", "a*", "Values", "b"), TR_E_VALIDATION,
             "1 validation error detected: Value 'a*' at 'filters.1.member.values' failed to "
             "satisfy constraint: Member must satisfy regular expression pattern: "
             "^\\!?[a-zA-Z0-9 :_@\\/\\+\\=\\.\\-\\!]*$");
    call_err("BatchGetSecretValue", json_pack("{s:[{s:s}]}", "Filters", "Key", "name"),
             TR_E_SM_INVALID_PARAMETER, "Invalid filter values for key: name");
    json_t *many = json_array();
    for (int i = 0; i < 11; i++)
        json_array_append_new(many, json_pack("{s:s, s:[s]}", "Key", "name", "Values", "a"));
    call_err("ListSecrets", json_pack("{s:o}", "Filters", many), TR_E_VALIDATION, NULL);
}

static void test_filter_match_unit(void **state)
{
    (void)state;
    const char *keys[] = { "Owner", "cost-center" };
    const char *vals[] = { "alice", "42" };
    struct sm_filter_subject s = {
        .name = "app/Prod-Db", .description = NULL, .primary_region = "us-east-1",
        .tag_keys = keys, .tag_values = vals, .ntags = 2,
    };
    const char *v1[] = { "app/P" }, *v2[] = { "!app" }, *v3[] = { "x", "!zzz" };
    assert_true(sm_filter_match("name", v1, 1, &s));
    assert_false(sm_filter_match("name", v2, 1, &s));
    assert_true(sm_filter_match("name", v3, 2, &s));
    const char *d1[] = { "anything" }, *d2[] = { "!anything" };
    assert_false(sm_filter_match("description", d1, 1, &s));
    assert_true(sm_filter_match("description", d2, 1, &s));
    const char *a1[] = { "prod db" }, *a2[] = { "prod zz" }, *a3[] = { "cost" };
    assert_true(sm_filter_match("all", a1, 1, &s));
    assert_false(sm_filter_match("all", a2, 1, &s));
    assert_true(sm_filter_match("all", a3, 1, &s));
    /* Words of the value are not split at case changes; the attribute's are. */
    const char *a4[] = { "PRODDB" }, *a5[] = { "APPPROD" }, *a6[] = { "rod" };
    s.name = "F3A9prodDb";
    assert_true(sm_filter_match("all", (const char *[]){ "f3a9" }, 1, &s));
    assert_true(sm_filter_match("all", (const char *[]){ "F3A9PRODDB" }, 1, &s));
    assert_true(sm_filter_match("all", (const char *[]){ "db" }, 1, &s));
    s.name = "app/Prod-Db";
    assert_false(sm_filter_match("all", a4, 1, &s));
    assert_false(sm_filter_match("all", a5, 1, &s));
    assert_false(sm_filter_match("all", a6, 1, &s));
}

/* ---- DeleteSecret, RestoreSecret, the purge --------------------------------------- */

static void test_delete_rules(void **state)
{
    (void)state;
    mk_secret("gone", NULL, NOW);
    call_err("DeleteSecret", json_pack("{s:s, s:i, s:b}", "SecretId", "gone",
                                       "RecoveryWindowInDays", 7, "ForceDeleteWithoutRecovery", 1),
             TR_E_SM_INVALID_PARAMETER,
             "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
    /* The range is checked first, with or without the flag. */
    call_err("DeleteSecret", json_pack("{s:s, s:i, s:b}", "SecretId", "gone",
                                       "RecoveryWindowInDays", 0, "ForceDeleteWithoutRecovery", 1),
             TR_E_SM_INVALID_PARAMETER,
             "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).");
    for (int w = 0; w < 40; w++) {
        if (w >= 7 && w <= 30) continue;
        json_t *in = json_pack("{s:s, s:i}", "SecretId", "gone", "RecoveryWindowInDays", w);
        call_err("DeleteSecret", in, TR_E_SM_INVALID_PARAMETER,
                 "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).");
    }
    call_err("DeleteSecret", json_pack("{s:s, s:i}", "SecretId", "gone", "RecoveryWindowInDays", -1),
             TR_E_SM_INVALID_PARAMETER, NULL);
    call_err("DeleteSecret", json_pack("{s:s}", "SecretId", "nope"), TR_E_SM_RESOURCE_NOT_FOUND,
             "Secrets Manager can't find the specified secret.");
    call_err("DeleteSecret", json_pack("{s:s}", "SecretId", "bad name!"), TR_E_VALIDATION, NULL);
    call_err("DeleteSecret", json_object(), TR_E_VALIDATION,
             "1 validation error detected: Value null at 'secretId' failed to satisfy constraint: "
             "Member must not be null");
    /* Force with an explicit false window is fine; false force with a window too. */
    DO("DeleteSecret", json_pack("{s:s, s:i, s:b}", "SecretId", "gone", "RecoveryWindowInDays", 7,
                                 "ForceDeleteWithoutRecovery", 0));
}

static void test_delete_restore(void **state)
{
    (void)state;
    const char *arn = mk_secret("app/key", NULL, NOW);
    tag(arn, "k", "v");
    RC.now = NOW + 100;
    json_t *o = call_ok("DeleteSecret", json_pack("{s:s}", "SecretId", "app/key"));
    assert_string_equal(sget(o, "ARN"), arn);
    assert_string_equal(sget(o, "Name"), "app/key");
    double when = json_number_value(json_object_get(o, "DeletionDate"));
    assert_true(when >= NOW + 100 + 30.0 * DAY && when < NOW + 101 + 30.0 * DAY);
    json_decref(o);
    struct secret s;
    assert_true(load(arn, &s));
    assert_true(s.deleted_date >= NOW + 100 && s.deleted_date < NOW + 101);
    secret_free(&s);

    /* Hidden from ListSecrets unless asked; shown with DeletedDate. */
    assert_string_equal(list_names(json_object()), "");
    o = call_ok("ListSecrets", json_pack("{s:b}", "IncludePlannedDeletion", 1));
    assert_string_equal(names_of(o), "app/key");
    assert_true(json_is_number(json_object_get(json_array_get(json_object_get(o, "SecretList"), 0),
                                               "DeletedDate")));
    json_decref(o);

    /* A second delete, tagging, policies: marked for deletion. */
    const char *marked = "You can't perform this operation on the secret because it was marked "
                         "for deletion.";
    call_err("DeleteSecret", json_pack("{s:s}", "SecretId", arn), TR_E_SM_INVALID_REQUEST, marked);
    call_err("TagResource", json_pack("{s:s, s:[{s:s, s:s}]}", "SecretId", arn, "Tags", "Key", "a",
                                      "Value", "b"), TR_E_SM_INVALID_REQUEST, marked);
    call_err("PutResourcePolicy", json_pack("{s:s, s:s}", "SecretId", arn, "ResourcePolicy", "{}"),
             TR_E_SM_INVALID_REQUEST, marked);
    json_decref(call_ok("GetResourcePolicy", json_pack("{s:s}", "SecretId", arn)));

    /* Restore: back in the list, dates cleared; restoring a live secret is fine. */
    o = call_ok("RestoreSecret", json_pack("{s:s}", "SecretId", "app/key"));
    assert_string_equal(sget(o, "ARN"), arn);
    assert_string_equal(sget(o, "Name"), "app/key");
    json_decref(o);
    assert_true(load(arn, &s));
    assert_true(s.deleted_date == 0);
    assert_null(json_object_get(s.doc, "deletion_date"));
    secret_free(&s);
    assert_string_equal(list_names(json_object()), "app/key");
    DO("RestoreSecret", json_pack("{s:s}", "SecretId", "app/key"));
    call_err("RestoreSecret", json_pack("{s:s}", "SecretId", "nope"), TR_E_SM_RESOURCE_NOT_FOUND,
             NULL);

    /* The restored secret is not purged when its old date passes. */
    assert_int_equal(tr_code(sm_maintenance(&ENV, NOW + 31 * DAY)), TR_E_OK);
    assert_true(load(arn, &s));
    secret_free(&s);

    /* A custom window. */
    RC.now = NOW;
    o = call_ok("DeleteSecret", json_pack("{s:s, s:i}", "SecretId", arn, "RecoveryWindowInDays", 7));
    when = json_number_value(json_object_get(o, "DeletionDate"));
    assert_true(when >= NOW + 7.0 * DAY && when < NOW + 1 + 7.0 * DAY);
    json_decref(o);
}

static void test_force_delete(void **state)
{
    (void)state;
    const char *arn = mk_secret("f1", NULL, NOW);
    tag(arn, "k", "v");
    DO("PutResourcePolicy", json_pack("{s:s, s:s}", "SecretId", arn, "ResourcePolicy",
        "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\""
        ACCT "\"},\"Action\":\"secretsmanager:GetSecretValue\",\"Resource\":\"*\"}]}"));
    json_t *o = call_ok("DeleteSecret", json_pack("{s:s, s:b}", "SecretId", "f1",
                                                  "ForceDeleteWithoutRecovery", 1));
    assert_string_equal(sget(o, "ARN"), arn);
    assert_int_equal((int64_t)json_number_value(json_object_get(o, "DeletionDate")), NOW);
    json_decref(o);
    struct secret s;
    assert_false(load(arn, &s));
    struct tag_rec *tags = NULL;
    size_t nt = 0;
    assert_int_equal(tr_code((*RC.st)->tag_list(RC.st, arn, &tags, &nt)), TR_E_OK);
    assert_int_equal(nt, 0);
    struct rel_rec *vers = NULL;
    size_t nv = 0;
    assert_int_equal(tr_code((*RC.st)->rel_list_from(RC.st, SM_VER_KIND, arn, NULL, 10, &vers, &nv)),
                     TR_E_OK);
    assert_int_equal(nv, 0);
    rel_list_free(vers, nv);
    tag_list_free(tags, nt);
    /* The name is free again: the same name gets a new secret. */
    const char *again = mk_secret("f1", NULL, NOW);
    assert_string_not_equal(again, arn);

    /* Force on a secret already scheduled: gone at once, due entry too. */
    const char *p = mk_secret("f2", NULL, NOW);
    DO("DeleteSecret", json_pack("{s:s}", "SecretId", p));
    DO("DeleteSecret", json_pack("{s:s, s:b}", "SecretId", p, "ForceDeleteWithoutRecovery", 1));
    assert_false(load(p, &s));
    struct rel_rec *due = NULL;
    size_t nd = 0;
    assert_int_equal(tr_code((*RC.st)->rel_list_from(RC.st, "secret-due", "secretsmanager", NULL,
                                                     10, &due, &nd)), TR_E_OK);
    assert_int_equal(nd, 0);
    rel_list_free(due, nd);

    /* Force on a secret that does not exist: answered, not NotFound. */
    o = call_ok("DeleteSecret", json_pack("{s:s, s:b}", "SecretId", "never",
                                          "ForceDeleteWithoutRecovery", 1));
    assert_string_equal(sget(o, "Name"), "never");
    assert_true(strncmp(sget(o, "ARN"), "arn:aws:secretsmanager:" REGION ":" ACCT ":secret:never-",
                        55) == 0);
    json_decref(o);
    const char *ghost = "arn:aws:secretsmanager:" REGION ":" ACCT ":secret:ghost-AbC123";
    o = call_ok("DeleteSecret", json_pack("{s:s, s:b}", "SecretId", ghost,
                                          "ForceDeleteWithoutRecovery", 1));
    assert_string_equal(sget(o, "ARN"), ghost);
    assert_string_equal(sget(o, "Name"), "ghost");
    json_decref(o);
}

static void test_maintenance_purge(void **state)
{
    (void)state;
    const char *a = mk_secret("purge/a", NULL, NOW);
    const char *b = mk_secret("purge/b", NULL, NOW);
    const char *c = mk_secret("purge/c", NULL, NOW);
    tag(a, "k", "v");
    DO("DeleteSecret", json_pack("{s:s, s:i}", "SecretId", a, "RecoveryWindowInDays", 7));
    DO("DeleteSecret", json_pack("{s:s, s:i}", "SecretId", b, "RecoveryWindowInDays", 10));
    /* Another account's secret is purged by the same run. */
    as_account(ACCT2);
    const char *x = mk_secret_in(ACCT2, REGION, "purge/x", NULL, NOW, NOW);
    DO("DeleteSecret", json_pack("{s:s, s:i}", "SecretId", x, "RecoveryWindowInDays", 7));
    as_account(ACCT);

    struct secret s;
    assert_int_equal(tr_code(sm_maintenance(&ENV, NOW + 7 * DAY - 1)), TR_E_OK);
    assert_true(load(a, &s));
    secret_free(&s);

    assert_int_equal(tr_code(sm_maintenance(&ENV, NOW + 7 * DAY + 1)), TR_E_OK);
    assert_false(load(a, &s));
    assert_true(load(b, &s));
    secret_free(&s);
    assert_true(load(c, &s));
    secret_free(&s);
    as_account(ACCT2);
    assert_false(load(x, &s));
    as_account(ACCT);
    struct tag_rec *tags = NULL;
    size_t nt = 0;
    assert_int_equal(tr_code((*RC.st)->tag_list(RC.st, a, &tags, &nt)), TR_E_OK);
    assert_int_equal(nt, 0);

    assert_int_equal(tr_code(sm_maintenance(&ENV, NOW + 11 * DAY)), TR_E_OK);
    assert_false(load(b, &s));
    assert_true(load(c, &s));
    secret_free(&s);
    struct rel_rec *due = NULL;
    size_t nd = 0;
    assert_int_equal(tr_code((*RC.st)->rel_list_from(RC.st, "secret-due", "secretsmanager", NULL,
                                                     10, &due, &nd)), TR_E_OK);
    assert_int_equal(nd, 0);
    /* Nothing due: a no-op. */
    assert_int_equal(tr_code(sm_maintenance(&ENV, NOW + 400 * DAY)), TR_E_OK);
}

/* ---- tags -------------------------------------------------------------------------- */

static void test_tags(void **state)
{
    (void)state;
    const char *arn = mk_secret("t", NULL, NOW);
    tag("t", "a", "1");
    tag(arn, "a", "2");   /* replaced, not added */
    DO("TagResource", json_pack("{s:s, s:[{s:s}]}", "SecretId", "t", "Tags", "Key", "novalue"));
    struct tag_rec *tags = NULL;
    size_t nt = 0;
    assert_int_equal(tr_code((*RC.st)->tag_list(RC.st, arn, &tags, &nt)), TR_E_OK);
    assert_int_equal(nt, 2);
    assert_string_equal(tags[0].key, "a");
    assert_string_equal(tags[0].value, "2");
    assert_string_equal(tags[1].value, "");
    tag_list_free(tags, nt);

    DO("UntagResource", json_pack("{s:s, s:[s, s]}", "SecretId", "t", "TagKeys", "a", "absent"));
    DO("UntagResource", json_pack("{s:s, s:[]}", "SecretId", "t", "TagKeys"));
    assert_int_equal(tr_code((*RC.st)->tag_list(RC.st, arn, &tags, &nt)), TR_E_OK);
    assert_int_equal(nt, 1);
    tag_list_free(tags, nt);

    /* Rules. */
    call_err("TagResource", json_pack("{s:s, s:[{s:s, s:s}]}", "SecretId", "t", "Tags", "Key",
                                      "aws:x", "Value", "v"), TR_E_SM_INVALID_PARAMETER, NULL);
    call_err("TagResource", json_pack("{s:s}", "SecretId", "t"), TR_E_VALIDATION,
             "1 validation error detected: Value null at 'tags' failed to satisfy constraint: "
             "Member must not be null");
    char longkey[130];
    memset(longkey, 'k', 129);
    longkey[129] = '\0';
    call_err("TagResource", json_pack("{s:s, s:[{s:s, s:s}]}", "SecretId", "t", "Tags", "Key",
                                      longkey, "Value", "v"), TR_E_VALIDATION, NULL);
    call_err("UntagResource", json_pack("{s:s, s:[s]}", "SecretId", "t", "TagKeys", longkey),
             TR_E_VALIDATION, NULL);
    call_err("UntagResource", json_pack("{s:s}", "SecretId", "t"), TR_E_VALIDATION, NULL);
    call_err("TagResource", json_pack("{s:s, s:[{s:s, s:s}]}", "SecretId", "nope", "Tags", "Key",
                                      "a", "Value", "b"), TR_E_SM_RESOURCE_NOT_FOUND, NULL);

    /* 50 in all: 49 more fit beside "novalue", the 51st does not.  A
     * secret with that many tags brings 2 condition keys per tag
     * (secretsmanager:ResourceTag/k, aws:ResourceTag/k) plus the request's
     * tags to its authorization, more than the context limits hold today
     * (iam/authz.h CTX_MAX, secrets.h SM_CTX_MAX; reported): until they
     * grow, only the per-request limit is checked here. */
#if CTX_MAX >= 4 * SM_MAX_TAGS && SM_CTX_MAX >= 4 * SM_MAX_TAGS
    json_t *l = json_array();
    for (int i = 0; i < 49; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%02d", i);
        json_array_append_new(l, json_pack("{s:s, s:s}", "Key", k, "Value", "v"));
    }
    DO("TagResource", json_pack("{s:s, s:o}", "SecretId", "t", "Tags", l));
    call_err("TagResource", json_pack("{s:s, s:[{s:s, s:s}]}", "SecretId", "t", "Tags", "Key",
                                      "one-more", "Value", "v"), TR_E_SM_INVALID_PARAMETER,
             "Number of tags exceeds Secrets Manager's limit of 50 tags.");
    tag("t", "k00", "replaced");   /* an existing key still fits */
#endif
    json_t *big = json_array();
    for (int i = 0; i < 51; i++) {
        char k[16];
        snprintf(k, sizeof k, "n%02d", i);
        json_array_append_new(big, json_pack("{s:s, s:s}", "Key", k, "Value", "v"));
    }
    call_err("TagResource", json_pack("{s:s, s:o}", "SecretId", "t", "Tags", big),
             TR_E_SM_INVALID_PARAMETER, "Number of tags exceeds Secrets Manager's limit of 50 tags.");
}

static void test_tag_conditions(void **state)
{
    (void)state;
    const char *arn = mk_secret("tc", NULL, NOW);
    mk_user("tagger",
        "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
        "\"Action\":[\"secretsmanager:TagResource\",\"secretsmanager:UntagResource\"],"
        "\"Resource\":\"*\",\"Condition\":{\"ForAllValues:StringEquals\":{\"aws:TagKeys\":"
        "[\"team\",\"env\"]},\"StringEqualsIfExists\":{\"aws:RequestTag/env\":\"dev\"}}}]}");
    as_user("tagger");
    DO("TagResource", json_pack("{s:s, s:[{s:s, s:s}]}", "SecretId", arn, "Tags", "Key", "team",
                                "Value", "x"));
    DO("TagResource", json_pack("{s:s, s:[{s:s, s:s}]}", "SecretId", arn, "Tags", "Key", "env",
                                "Value", "dev"));
    call_err("TagResource", json_pack("{s:s, s:[{s:s, s:s}]}", "SecretId", arn, "Tags", "Key",
                                      "env", "Value", "prod"), TR_E_ACCESS_DENIED, NULL);
    call_err("TagResource", json_pack("{s:s, s:[{s:s, s:s}]}", "SecretId", arn, "Tags", "Key",
                                      "owner", "Value", "x"), TR_E_ACCESS_DENIED, NULL);
    DO("UntagResource", json_pack("{s:s, s:[s]}", "SecretId", arn, "TagKeys", "team"));
    call_err("UntagResource", json_pack("{s:s, s:[s]}", "SecretId", arn, "TagKeys", "owner"),
             TR_E_ACCESS_DENIED, NULL);
    /* Unauthorized callers learn nothing of existence. */
    call_err("TagResource", json_pack("{s:s, s:[{s:s, s:s}]}", "SecretId", "missing", "Tags",
                                      "Key", "owner", "Value", "x"), TR_E_ACCESS_DENIED, NULL);
    as_account(ACCT);
}

/* ---- GetRandomPassword --------------------------------------------------------------- */

enum { C_LOWER = 1, C_UPPER = 2, C_DIGIT = 4, C_PUNCT = 8, C_SPACE = 16, C_OTHER = 32 };

static int classes_of(const char *s)
{
    int m = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 'a' && c <= 'z') m |= C_LOWER;
        else if (c >= 'A' && c <= 'Z') m |= C_UPPER;
        else if (c >= '0' && c <= '9') m |= C_DIGIT;
        else if (c == ' ') m |= C_SPACE;
        else if (strchr(SM_PUNCTUATION, c)) m |= C_PUNCT;
        else m |= C_OTHER;
    }
    return m;
}

static char *password(json_t *in)
{
    json_t *o = call_ok("GetRandomPassword", in);
    char *p = strdup(sget(o, "RandomPassword"));
    json_decref(o);
    return p;
}

static void test_password_defaults(void **state)
{
    (void)state;
    assert_int_equal(strlen(SM_PUNCTUATION), 32);
    for (int i = 0; i < 200; i++) {
        char *p = password(json_object());
        assert_int_equal(strlen(p), 32);
        assert_int_equal(classes_of(p), C_LOWER | C_UPPER | C_DIGIT | C_PUNCT);
        free(p);
    }
    /* Length 4 still holds every class, in some order. */
    for (int i = 0; i < 300; i++) {
        char *p = password(json_pack("{s:i}", "PasswordLength", 4));
        assert_int_equal(classes_of(p), C_LOWER | C_UPPER | C_DIGIT | C_PUNCT);
        free(p);
    }
    char *p = password(json_pack("{s:i}", "PasswordLength", 4096));
    assert_int_equal(strlen(p), 4096);
    free(p);
}

static void test_password_options(void **state)
{
    (void)state;
    const char *excl = "aeiouAEIOU0123!\"#$%&'()*+,-./";
    for (int i = 0; i < 100; i++) {
        char *p = password(json_pack("{s:s, s:i}", "ExcludeCharacters", excl, "PasswordLength", 64));
        for (const char *c = p; *c; c++) assert_null(strchr(excl, *c));
        assert_int_equal(classes_of(p), C_LOWER | C_UPPER | C_DIGIT | C_PUNCT);
        free(p);

        p = password(json_pack("{s:b, s:b}", "ExcludeNumbers", 1, "ExcludePunctuation", 1));
        assert_int_equal(classes_of(p), C_LOWER | C_UPPER);
        free(p);
        p = password(json_pack("{s:b, s:b, s:b}", "ExcludeUppercase", 1, "ExcludeLowercase", 1,
                               "ExcludePunctuation", 1));
        assert_int_equal(classes_of(p), C_DIGIT);
        free(p);
        /* IncludeSpace admits the space but never requires it. */
        p = password(json_pack("{s:b, s:b, s:b, s:b, s:b, s:i}", "IncludeSpace", 1,
                               "ExcludeUppercase", 1, "ExcludeLowercase", 1, "ExcludePunctuation", 1,
                               "RequireEachIncludedType", 1, "PasswordLength", 200));
        assert_int_equal(classes_of(p) & ~C_SPACE, C_DIGIT);
        free(p);
    }
    /* Only the space left. */
    char *p = password(json_pack("{s:b, s:b, s:b, s:b, s:b, s:i}", "IncludeSpace", 1,
                                 "ExcludeUppercase", 1, "ExcludeLowercase", 1, "ExcludeNumbers", 1,
                                 "ExcludePunctuation", 1, "PasswordLength", 3));
    assert_string_equal(p, "   ");
    free(p);
    /* Without RequireEachIncludedType a length of 1 is fine. */
    p = password(json_pack("{s:i, s:b}", "PasswordLength", 1, "RequireEachIncludedType", 0));
    assert_int_equal(strlen(p), 1);
    free(p);

    /* Refusals. */
    call_err("GetRandomPassword", json_pack("{s:i}", "PasswordLength", 3), TR_E_SM_INVALID_PARAMETER,
             "Password length is too short based on the required types.");
    json_decref(call_ok("GetRandomPassword", json_pack("{s:i, s:b, s:b}", "PasswordLength", 2,
                                                       "ExcludeNumbers", 1, "ExcludePunctuation", 1)));
    call_err("GetRandomPassword", json_pack("{s:s}", "ExcludeCharacters", "0123456789"),
             TR_E_SM_INVALID_PARAMETER, "All characters of the desired type have been excluded.");
    json_decref(call_ok("GetRandomPassword", json_pack("{s:s, s:b}", "ExcludeCharacters",
                                                       "0123456789", "RequireEachIncludedType", 0)));
    call_err("GetRandomPassword", json_pack("{s:b, s:b, s:b, s:b}", "ExcludeUppercase", 1,
                                            "ExcludeLowercase", 1, "ExcludeNumbers", 1,
                                            "ExcludePunctuation", 1),
             TR_E_SM_INVALID_PARAMETER, "All characters have been excluded from selection.");
    call_err("GetRandomPassword", json_pack("{s:b, s:b, s:b, s:s}", "ExcludeUppercase", 1,
                                            "ExcludeLowercase", 1, "ExcludePunctuation", 1,
                                            "ExcludeCharacters", "0123456789"),
             TR_E_SM_INVALID_PARAMETER, NULL);
    call_err("GetRandomPassword", json_pack("{s:i}", "PasswordLength", 0), TR_E_VALIDATION,
             "1 validation error detected: Value '0' at 'passwordLength' failed to satisfy "
             "constraint: Member must have value greater than or equal to 1");
    call_err("GetRandomPassword", json_pack("{s:i}", "PasswordLength", 4097), TR_E_VALIDATION, NULL);
    call_err("GetRandomPassword", json_pack("{s:s}", "IncludeSpace", "yes"), TR_E_SERIALIZATION, NULL);
}

/* Each of the 10 digits, drawn 20000 times, lands near 2000 (a chi-square
 * of 9 degrees of freedom far below its 1e-6 tail, 42.5), and so do the
 * first and last positions' digits over many short passwords. */
static void test_password_uniform(void **state)
{
    (void)state;
    struct sm_password_opts o;
    struct buf b = BUF_SECRET(4097);
    long count[10] = { 0 };
    sm_password_defaults(&o);
    o.exclude_lowercase = o.exclude_uppercase = o.exclude_punctuation = true;
    o.length = 4000;
    for (int r = 0; r < 5; r++) {
        assert_int_equal(tr_code(sm_password_generate(&o, &b)), TR_E_OK);
        for (uint32_t i = 0; i < b.len; i++) count[b.data[i] - '0']++;
    }
    double chi = 0;
    for (int d = 0; d < 10; d++) chi += pow(count[d] - 2000.0, 2) / 2000.0;
    assert_true(chi < 42.5);

    /* With every class required at length 4, each position is as likely
     * to hold a digit as any other. */
    long digit_at[4] = { 0 };
    sm_password_defaults(&o);
    o.length = 4;
    for (int r = 0; r < 4000; r++) {
        assert_int_equal(tr_code(sm_password_generate(&o, &b)), TR_E_OK);
        for (int i = 0; i < 4; i++)
            if (b.data[i] >= '0' && b.data[i] <= '9') digit_at[i]++;
    }
    for (int i = 0; i < 4; i++) assert_true(digit_at[i] > 800 && digit_at[i] < 1200);
    buf_free(&b);
}

/* ---- resource policies ----------------------------------------------------------------- */

static bool is_public(const char *text)
{
    bool p = false;
    assert_int_equal(tr_code(sm_policy_is_public(text, &p)), TR_E_OK);
    return p;
}

#define STMT(eff, princ, cond) \
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"" eff "\",\"Principal\":" princ \
    ",\"Action\":\"secretsmanager:GetSecretValue\",\"Resource\":\"*\"" cond "}]}"

static void test_public_rule(void **state)
{
    (void)state;
    assert_true(is_public(STMT("Allow", "\"*\"", "")));
    assert_true(is_public(STMT("Allow", "{\"AWS\":\"*\"}", "")));
    assert_true(is_public(STMT("Allow", "{\"AWS\":[\"" ACCT "\",\"*\"]}", "")));
    assert_false(is_public(STMT("Deny", "\"*\"", "")));
    assert_false(is_public(STMT("Allow", "{\"AWS\":\"arn:aws:iam::" ACCT ":root\"}", "")));
    assert_false(is_public(STMT("Allow", "{\"Service\":\"lambda.amazonaws.com\"}", "")));
    /* Pinned by a fixed account, org, ARN, VPC endpoint or address range. */
    assert_false(is_public(STMT("Allow", "\"*\"",
        ",\"Condition\":{\"StringEquals\":{\"aws:PrincipalAccount\":\"" ACCT "\"}}")));
    assert_false(is_public(STMT("Allow", "\"*\"",
        ",\"Condition\":{\"StringEquals\":{\"AWS:principalorgid\":[\"o-1\",\"o-2\"]}}")));
    assert_false(is_public(STMT("Allow", "\"*\"",
        ",\"Condition\":{\"ArnLike\":{\"aws:PrincipalArn\":\"arn:aws:iam::" ACCT ":role/*\"}}")));
    assert_false(is_public(STMT("Allow", "\"*\"",
        ",\"Condition\":{\"StringEquals\":{\"aws:SourceVpce\":\"vpce-1\"}}")));
    assert_false(is_public(STMT("Allow", "\"*\"",
        ",\"Condition\":{\"IpAddress\":{\"aws:SourceIp\":\"10.0.0.0/16\"}}")));
    assert_false(is_public(STMT("Allow", "\"*\"",
        ",\"Condition\":{\"ForAnyValue:StringEquals\":{\"aws:SourceAccount\":\"" ACCT "\"}}")));
    /* Not pinned: wildcards, negations, IfExists, other keys, broad ranges. */
    assert_true(is_public(STMT("Allow", "\"*\"",
        ",\"Condition\":{\"StringLike\":{\"aws:PrincipalAccount\":\"*\"}}")));
    assert_true(is_public(STMT("Allow", "\"*\"",
        ",\"Condition\":{\"ArnLike\":{\"aws:PrincipalArn\":\"arn:aws:iam::*:role/x\"}}")));
    assert_true(is_public(STMT("Allow", "\"*\"",
        ",\"Condition\":{\"StringNotEquals\":{\"aws:PrincipalAccount\":\"" ACCT2 "\"}}")));
    assert_true(is_public(STMT("Allow", "\"*\"",
        ",\"Condition\":{\"StringEqualsIfExists\":{\"aws:PrincipalAccount\":\"" ACCT "\"}}")));
    assert_true(is_public(STMT("Allow", "\"*\"",
        ",\"Condition\":{\"ForAllValues:StringEquals\":{\"aws:SourceAccount\":\"" ACCT "\"}}")));
    assert_true(is_public(STMT("Allow", "\"*\"",
        ",\"Condition\":{\"StringEquals\":{\"aws:PrincipalTag/team\":\"blue\"}}")));
    assert_true(is_public(STMT("Allow", "\"*\"",
        ",\"Condition\":{\"IpAddress\":{\"aws:SourceIp\":\"0.0.0.0/0\"}}")));
    assert_true(is_public(STMT("Allow", "\"*\"",
        ",\"Condition\":{\"StringEquals\":{\"aws:SourceIp\":\"10.0.0.1\"}}")));
    /* A single statement object, and one public statement among others. */
    assert_true(is_public("{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\","
                          "\"Action\":\"*\",\"Resource\":\"*\"}}"));
    assert_true(is_public("{\"Statement\":[" "{\"Effect\":\"Deny\",\"Principal\":\"*\","
                          "\"Action\":\"*\",\"Resource\":\"*\"},{\"Effect\":\"Allow\","
                          "\"Principal\":{\"AWS\":\"*\"},\"Action\":\"*\",\"Resource\":\"*\"}]}"));
}

static void test_resource_policy_ops(void **state)
{
    (void)state;
    const char *arn = mk_secret("rp", NULL, NOW);
    mk_user("alice", NULL);

    /* None yet: ResourcePolicy omitted. */
    json_t *o = call_ok("GetResourcePolicy", json_pack("{s:s}", "SecretId", "rp"));
    assert_string_equal(sget(o, "ARN"), arn);
    assert_string_equal(sget(o, "Name"), "rp");
    assert_null(json_object_get(o, "ResourcePolicy"));
    json_decref(o);

    const char *pol = STMT("Allow", "{\"AWS\":\"arn:aws:iam::" ACCT ":user/alice\"}", "");
    o = call_ok("PutResourcePolicy", json_pack("{s:s, s:s, s:b}", "SecretId", "rp",
                                               "ResourcePolicy", pol, "BlockPublicPolicy", 1));
    assert_string_equal(sget(o, "ARN"), arn);
    assert_string_equal(sget(o, "Name"), "rp");
    json_decref(o);
    o = call_ok("GetResourcePolicy", json_pack("{s:s}", "SecretId", arn));
    assert_string_equal(sget(o, "ResourcePolicy"), pol);   /* stored as given */
    json_decref(o);

    /* Refusals, and the policy is left as it was. */
    call_err("PutResourcePolicy", json_pack("{s:s, s:s}", "SecretId", "rp", "ResourcePolicy",
                                            "{not json"), TR_E_SM_MALFORMED_POLICY,
             "This resource policy contains a syntax error.");
    call_err("PutResourcePolicy", json_pack("{s:s, s:s}", "SecretId", "rp", "ResourcePolicy",
                                            STMT("AllowSomething", "\"*\"", "")),
             TR_E_SM_MALFORMED_POLICY, "This resource policy contains a syntax error.");
    call_err("PutResourcePolicy", json_pack("{s:s, s:s}", "SecretId", "rp", "ResourcePolicy",
             STMT("Allow", "{\"AWS\":\"arn:aws:iam::" ACCT ":user/invaliduser\"}", "")),
             TR_E_SM_MALFORMED_POLICY, "This resource policy contains an unsupported principal.");
    call_err("PutResourcePolicy", json_pack("{s:s, s:s}", "SecretId", "rp", "ResourcePolicy",
             STMT("Allow", "{\"Service\":\"invalidservice\"}", "")),
             TR_E_SM_MALFORMED_POLICY, "This resource policy contains an invalid service principal.");
    call_err("PutResourcePolicy", json_pack("{s:s, s:s, s:b}", "SecretId", "rp", "ResourcePolicy",
                                            STMT("Allow", "\"*\"", ""), "BlockPublicPolicy", 1),
             TR_E_SM_PUBLIC_POLICY,
             "You can't attach a resource-based policy that allows broad access to the secret.");
    call_err("PutResourcePolicy", json_pack("{s:s, s:s}", "SecretId", "rp", "ResourcePolicy", ""),
             TR_E_VALIDATION, NULL);
    call_err("PutResourcePolicy", json_pack("{s:s}", "SecretId", "rp"), TR_E_VALIDATION, NULL);
    call_err("PutResourcePolicy", json_pack("{s:s, s:s}", "SecretId", "nope", "ResourcePolicy", pol),
             TR_E_SM_RESOURCE_NOT_FOUND, NULL);
    o = call_ok("GetResourcePolicy", json_pack("{s:s}", "SecretId", arn));
    assert_string_equal(sget(o, "ResourcePolicy"), pol);
    json_decref(o);
    /* A public policy is accepted without BlockPublicPolicy (its default). */
    DO("PutResourcePolicy", json_pack("{s:s, s:s}", "SecretId", "rp", "ResourcePolicy",
                                      STMT("Allow", "\"*\"", "")));

    o = call_ok("DeleteResourcePolicy", json_pack("{s:s}", "SecretId", "rp"));
    assert_string_equal(sget(o, "ARN"), arn);
    json_decref(o);
    o = call_ok("GetResourcePolicy", json_pack("{s:s}", "SecretId", "rp"));
    assert_null(json_object_get(o, "ResourcePolicy"));
    json_decref(o);
    DO("DeleteResourcePolicy", json_pack("{s:s}", "SecretId", "rp"));   /* none: fine */
}

static json_t *validate(const char *id, const char *text)
{
    json_t *in = json_pack("{s:s}", "ResourcePolicy", text);
    if (id) json_object_set_new(in, "SecretId", json_string(id));
    return call_ok("ValidateResourcePolicy", in);
}

static const char *check_names(json_t *o)
{
    static char buf[256];
    size_t used = 0, i;
    json_t *e;
    buf[0] = '\0';
    json_array_foreach(json_object_get(o, "ValidationErrors"), i, e) {
        assert_true(strlen(sget(e, "ErrorMessage")) > 0);
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", i ? "," : "",
                                 sget(e, "CheckName"));
    }
    return buf;
}

static void test_validate_resource_policy(void **state)
{
    (void)state;
    mk_secret("vp", NULL, NOW);
    json_t *o = validate(NULL, STMT("Allow", "{\"AWS\":\"" ACCT "\"}", ""));
    assert_true(json_is_true(json_object_get(o, "PolicyValidationPassed")));
    assert_int_equal(json_array_size(json_object_get(o, "ValidationErrors")), 0);
    json_decref(o);

    o = validate("vp", STMT("Allow", "\"*\"", ""));
    assert_true(json_is_false(json_object_get(o, "PolicyValidationPassed")));
    assert_string_equal(check_names(o), "BROAD_ACCESS_CHECK");
    json_decref(o);

    /* A document that does not compile is refused, as PutResourcePolicy does. */
    call_err("ValidateResourcePolicy", json_pack("{s:s}", "ResourcePolicy", "{\"Statement\":[]"),
             TR_E_SM_MALFORMED_POLICY, "This resource policy contains a syntax error.");
    call_err("ValidateResourcePolicy", json_pack("{s:s, s:s}", "SecretId", "vp", "ResourcePolicy",
                                                 "[]"), TR_E_SM_MALFORMED_POLICY, NULL);

    o = validate(NULL, STMT("Allow", "{\"AWS\":\"arn:aws:iam::" ACCT ":user/ghost\"}", ""));
    assert_string_equal(check_names(o), "PRINCIPAL_CHECK");
    json_decref(o);

    /* Denying everyone secretsmanager:* locks the caller (root) out. */
    o = validate("vp", "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Deny\","
                       "\"Principal\":\"*\",\"Action\":\"secretsmanager:*\",\"Resource\":\"*\"}]}");
    assert_string_equal(check_names(o), "LOCKOUT_CHECK");
    json_decref(o);

    call_err("ValidateResourcePolicy", json_pack("{s:s, s:s}", "SecretId", "nope",
                                                 "ResourcePolicy", "{}"),
             TR_E_SM_RESOURCE_NOT_FOUND, NULL);
    call_err("ValidateResourcePolicy", json_object(), TR_E_VALIDATION, NULL);
}

/* A user of the account with no identity policy at all, allowed only by
 * the secret's resource policy (RES_UNION, docs/AUTHORIZATION.md 2.3, 5.1). */
static void test_authz_by_resource_policy(void **state)
{
    (void)state;
    const char *arn = mk_secret("shared", NULL, NOW);
    mk_user("bob", NULL);
    mk_user("carol", NULL);
    DO("PutResourcePolicy", json_pack("{s:s, s:s}", "SecretId", arn, "ResourcePolicy",
        "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":"
        "\"arn:aws:iam::" ACCT ":user/bob\"},\"Action\":[\"secretsmanager:TagResource\","
        "\"secretsmanager:GetResourcePolicy\",\"secretsmanager:DeleteSecret\","
        "\"secretsmanager:RestoreSecret\"],\"Resource\":\"*\"},{\"Effect\":\"Deny\",\"Principal\":"
        "\"*\",\"Action\":\"secretsmanager:UntagResource\",\"Resource\":\"*\"}]}"));

    as_user("bob");
    tag(arn, "by", "bob");
    json_decref(call_ok("GetResourcePolicy", json_pack("{s:s}", "SecretId", arn)));
    DO("DeleteSecret", json_pack("{s:s}", "SecretId", arn));
    DO("RestoreSecret", json_pack("{s:s}", "SecretId", arn));
    /* What the resource policy does not grant, bob does not have. */
    char msg[1024];
    snprintf(msg, sizeof msg, "User: arn:aws:iam::" ACCT ":user/bob is not authorized to perform: "
             "secretsmanager:PutResourcePolicy on resource: %s because no identity-based policy "
             "allows the secretsmanager:PutResourcePolicy action", arn);
    call_err("PutResourcePolicy", json_pack("{s:s, s:s}", "SecretId", arn, "ResourcePolicy", "{}"),
             TR_E_ACCESS_DENIED, msg);
    call_err("ListSecrets", json_object(), TR_E_ACCESS_DENIED, NULL);
    call_err("GetRandomPassword", json_object(), TR_E_ACCESS_DENIED,
             "User: arn:aws:iam::" ACCT ":user/bob is not authorized to perform: "
             "secretsmanager:GetRandomPassword on resource: * because no identity-based policy "
             "allows the secretsmanager:GetRandomPassword action");

    /* Another user of the account is not named: denied. */
    as_user("carol");
    call_err("TagResource", json_pack("{s:s, s:[{s:s, s:s}]}", "SecretId", arn, "Tags", "Key", "a",
                                      "Value", "b"), TR_E_ACCESS_DENIED, NULL);
    /* The explicit deny binds even the account's root user. */
    as_account(ACCT);
    snprintf(msg, sizeof msg, "User: arn:aws:iam::" ACCT ":root is not authorized to perform: "
             "secretsmanager:UntagResource on resource: %s with an explicit deny in a "
             "resource-based policy", arn);
    call_err("UntagResource", json_pack("{s:s, s:[s]}", "SecretId", arn, "TagKeys", "by"),
             TR_E_ACCESS_DENIED, msg);
    /* Other accounts see nothing of it in ListSecrets. */
    as_account(ACCT2);
    assert_string_equal(list_names(json_object()), "");
    as_account(ACCT);
}

/* ---- replication and rotation ---------------------------------------------------------- */

/* A ClientRequestToken, as the SDKs fill it in. */
#define TOK "5d1c1b8e-2f0a-4e5b-9c3d-7a6b5c4d3e2f"

static void test_unsupported(void **state)
{
    (void)state;
    mk_secret("u", NULL, NOW);
    const char *rep = "Invalid replica region.";
    /* Rotation without hooks (secrets/rotation.c): no function, or one
     * that cannot be invoked; nothing changes. */
    call_err("RotateSecret", json_pack("{s:s, s:s}", "SecretId", "u", "ClientRequestToken", TOK),
             TR_E_SM_INVALID_REQUEST, "No Lambda rotation function ARN is associated with this secret.");
    call_err("RotateSecret", json_pack("{s:s, s:s, s:s, s:{s:i}}", "SecretId", "u", "ClientRequestToken",
                                       TOK, "RotationLambdaARN",
                                       "arn:aws:lambda:us-east-1:" ACCT ":function:f",
                                       "RotationRules", "AutomaticallyAfterDays", 7),
             TR_E_ACCESS_DENIED, "Secrets Manager cannot invoke the specified Lambda function. Ensure "
             "that the function policy grants access to the principal secretsmanager.amazonaws.com.");
    call_err("RotateSecret", json_pack("{s:s, s:s, s:{s:i, s:s}}", "SecretId", "u", "RotationLambdaARN",
                                       "arn:aws:lambda:us-east-1:" ACCT ":function:f", "RotationRules",
                                       "AutomaticallyAfterDays", 7, "ScheduleExpression", "rate(7 days)"),
             TR_E_SM_INVALID_PARAMETER, "You can't specify both AutomaticallyAfterDays and ScheduleExpression.");
    call_err("ReplicateSecretToRegions", json_pack("{s:s, s:[{s:s}]}", "SecretId", "u",
                                                   "AddReplicaRegions", "Region", "eu-west-1"),
             TR_E_SM_INVALID_PARAMETER, rep);
    call_err("RemoveRegionsFromReplication", json_pack("{s:s, s:[s]}", "SecretId", "u",
                                                       "RemoveReplicaRegions", "eu-west-1"),
             TR_E_SM_INVALID_PARAMETER, rep);
    call_err("StopReplicationToReplica", json_pack("{s:s}", "SecretId", "u"),
             TR_E_SM_INVALID_PARAMETER, NULL);
    /* The usual checks come first; a missing token before the secret is
     * looked for (the SDKs always send one). */
    call_err("RotateSecret", json_pack("{s:s, s:s}", "SecretId", "nope", "ClientRequestToken", TOK),
             TR_E_SM_RESOURCE_NOT_FOUND, NULL);
    call_err("RotateSecret", json_pack("{s:s}", "SecretId", "nope"), TR_E_SM_INVALID_PARAMETER,
             "You must provide a ClientRequestToken value. We recommend a UUID-type value.");
    call_err("RotateSecret", json_pack("{s:s}", "SecretId", "u"), TR_E_SM_INVALID_PARAMETER,
             "You must provide a ClientRequestToken value. We recommend a UUID-type value.");
    call_err("ReplicateSecretToRegions", json_pack("{s:s}", "SecretId", "u"), TR_E_VALIDATION,
             "1 validation error detected: Value null at 'addReplicaRegions' failed to satisfy "
             "constraint: Member must not be null");
    call_err("RotateSecret", json_pack("{s:s, s:s}", "SecretId", "u", "ClientRequestToken", "short"),
             TR_E_VALIDATION, NULL);
    mk_user("nobody", NULL);
    as_user("nobody");
    call_err("RotateSecret", json_pack("{s:s, s:s}", "SecretId", "u", "ClientRequestToken", TOK),
             TR_E_ACCESS_DENIED, NULL);
    call_err("CancelRotateSecret", json_pack("{s:s}", "SecretId", "u"), TR_E_ACCESS_DENIED, NULL);
    as_account(ACCT);
    /* Cancelling a rotation never configured: rotation is off. */
    json_t *o = call_ok("CancelRotateSecret", json_pack("{s:s}", "SecretId", "u"));
    assert_null(json_object_get(o, "VersionId"));
    json_decref(o);
    DO("DeleteSecret", json_pack("{s:s}", "SecretId", "u"));
    call_err("CancelRotateSecret", json_pack("{s:s}", "SecretId", "u"), TR_E_SM_INVALID_REQUEST,
             "You can't perform this operation on the secret because it was marked for deletion.");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_sort_and_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter_match_unit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_force_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_maintenance_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tag_conditions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_uniform, setup, teardown),
        cmocka_unit_test_setup_teardown(test_public_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resource_policy_ops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validate_resource_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_authz_by_resource_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsupported, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
