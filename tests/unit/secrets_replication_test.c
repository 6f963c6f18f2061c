/*
 * secrets_replication_test.c -- src/secrets/replication.c: replicas made
 * and kept in step through the operations (op_run, as the router runs
 * them) on a store serving us-east-1 and us-west-2; the refusals; the
 * ReplicationStatus shape; and the tamper cases: a replica's ciphertext
 * is bound to the replica's ARN, so moved to the primary, or with a byte
 * flipped, it does not open.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
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
#include "secrets/ops.h"
#include "secrets/replication.h"
#include "secrets/secrets.h"
#include "store/store.h"

#define ACCT "111122223333"
#define EAST "us-east-1"
#define WEST "us-west-2"
#define NOW 1700000000
#define TOK1 "00000000-0000-4000-8000-000000000001"
#define TOK2 "00000000-0000-4000-8000-000000000002"

static struct server_env ENV;
static struct req_ctx RC;
static const char *const REGIONS[] = { EAST, WEST };

static int setup(void **state)
{
    static const uint8_t root[32] = "tresor-sm-replica-test-root-key!";
    (void)state;
    memset(&ENV, 0, sizeof ENV);
    memset(&RC, 0, sizeof RC);
    if (tr_failed(crypto_init())) return -1;
    if (tr_failed(store_sqlite_open_memory(&ENV.st))) return -1;
    if (tr_failed(keyring_from_bytes(root, &ENV.kr))) return -1;
    ENV.default_region = EAST;
    ENV.regions = REGIONS;
    ENV.nregions = 2;
    RC.env = &ENV;
    RC.st = ENV.st;
    RC.kr = ENV.kr;
    snprintf(RC.region, sizeof RC.region, EAST);
    snprintf(RC.service, sizeof RC.service, "secretsmanager");
    RC.now = NOW;
    RC.who.type = PRINCIPAL_ROOT;
    snprintf(RC.who.account_id, sizeof RC.who.account_id, ACCT);
    snprintf(RC.who.arn, sizeof RC.who.arn, "arn:aws:iam::" ACCT ":root");
    snprintf(RC.who.id, sizeof RC.who.id, ACCT);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    policy_cache_clear();
    (*ENV.st)->close(ENV.st);
    keyring_free(ENV.kr);
    crypto_thread_cleanup();
    return 0;
}

/* ---- driving the operations ------------------------------------------------- */

static void in_region(const char *region)
{
    snprintf(RC.region, sizeof RC.region, "%s", region);
}

static tr_result run(const char *name, json_t *in, json_t **out)
{
    tr_result r = oh_json(&RC, &sm_service, name, in, out);
    if (RC.identity) {
        iam_identity_free(RC.identity);
        free(RC.identity);
        RC.identity = NULL;
    }
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
    return out;
}

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
    if (tr_code(r) != code)
        fail_msg("%s: got %s (%s), expected %s", name, tr_err_type(tr_code(r)),
                 tr_last_error()->message, tr_err_type(code));
    if (msg) assert_string_equal(tr_last_error()->message, msg);
}

/* GetSecretValue's SecretString of `id` in the current region (static). */
static const char *value_of(const char *id)
{
    static char v[256];
    json_t *o = call_ok("GetSecretValue", json_pack("{s:s}", "SecretId", id));
    snprintf(v, sizeof v, "%s", json_string_value(json_object_get(o, "SecretString")));
    json_decref(o);
    return v;
}

/* The primary "db" in us-east-1 replicated to us-west-2; its ARN into arn. */
static void make_replicated(char *arn, size_t n)
{
    in_region(EAST);
    json_t *o = call_ok("CreateSecret", json_pack("{s:s, s:s, s:s}", "Name", "db", "SecretString", "v1",
                                                  "ClientRequestToken", TOK1));
    snprintf(arn, n, "%s", json_string_value(json_object_get(o, "ARN")));
    json_decref(o);
    o = call_ok("ReplicateSecretToRegions", json_pack("{s:s, s:[{s:s}]}", "SecretId", "db",
                                                      "AddReplicaRegions", "Region", WEST));
    json_t *st = json_array_get(json_object_get(o, "ReplicationStatus"), 0);
    assert_string_equal(json_string_value(json_object_get(st, "Status")), "InSync");
    json_decref(o);
}

/* The stored secret `arn`, every version (the caller frees it). */
static void load(const char *arn, struct secret *s)
{
    struct ent_rec e = { 0 };
    assert_int_equal(tr_code(RC.st[0]->ent_get_arn(RC.st, SM_KIND, arn, &e)), TR_E_OK);
    assert_int_equal(tr_code(sm_load(RC.st, &e, s)), TR_E_OK);
    ent_rec_free(&e);
    if (s->held != SM_HELD_ALL) assert_int_equal(tr_code(sm_load_all_versions(RC.st, s)), TR_E_OK);
}

static void west_arn(const char *arn, char *out, size_t n)
{
    const char *p = strstr(arn, ":" EAST ":");
    assert_non_null(p);
    snprintf(out, n, "%.*s:" WEST ":%s", (int)(p - arn), arn, p + strlen(":" EAST ":"));
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_replica_holds_the_versions_under_its_own_key(void **state)
{
    char arn[512], warn[512];
    struct secret p, r;
    (void)state;
    make_replicated(arn, sizeof arn);
    west_arn(arn, warn, sizeof warn);
    in_region(WEST);
    assert_string_equal(value_of("db"), "v1");
    memset(&p, 0, sizeof p);
    memset(&r, 0, sizeof r);
    load(arn, &p);
    load(warn, &r);
    assert_string_equal(sm_replica_primary(&r), EAST);
    assert_null(sm_replica_primary(&p));
    assert_non_null(sm_replicas(&p));
    assert_null(sm_replicas(&r));
    assert_int_equal(r.nversions, 1);
    assert_string_equal(r.versions[0].id, TOK1);
    assert_true(strncmp(r.versions[0].key_arn, "arn:aws:kms:" WEST ":" ACCT ":key/", 12 + strlen(WEST) + 18) == 0);
    assert_true(strncmp(p.versions[0].key_arn, "arn:aws:kms:" EAST ":", 12 + strlen(EAST) + 1) == 0);
    assert_string_not_equal(r.versions[0].ct, p.versions[0].ct);
    secret_free(&p);
    secret_free(&r);

    /* A new version reaches the replica, in the same request. */
    in_region(EAST);
    json_decref(call_ok("PutSecretValue", json_pack("{s:s, s:s, s:s}", "SecretId", "db", "SecretString", "v2",
                                                    "ClientRequestToken", TOK2)));
    in_region(WEST);
    assert_string_equal(value_of(warn), "v2");
    json_t *o = call_ok("GetSecretValue", json_pack("{s:s, s:s}", "SecretId", "db", "VersionStage", "AWSPREVIOUS"));
    assert_string_equal(json_string_value(json_object_get(o, "VersionId")), TOK1);
    json_decref(o);
}

static void test_tampered_replica_does_not_open(void **state)
{
    char arn[512], warn[512];
    struct secret p, r;
    (void)state;
    make_replicated(arn, sizeof arn);
    west_arn(arn, warn, sizeof warn);
    memset(&p, 0, sizeof p);
    memset(&r, 0, sizeof r);
    load(arn, &p);
    load(warn, &r);

    /* The replica's sealed value moved onto the primary's version (same
     * VersionId): the box alone does not open under the primary's data
     * key and ARN; with its data key too, KMS refuses a key of another
     * region through Secrets Manager of this one. */
    char *ct = strdup(p.versions[0].ct), *edk = strdup(p.versions[0].edk);
    assert_int_equal(tr_code(RC.st[0]->tx_begin(RC.st)), TR_E_OK);
    free(p.versions[0].ct);
    p.versions[0].ct = strdup(r.versions[0].ct);
    assert_int_equal(tr_code(sm_version_save(RC.st, &p, &p.versions[0])), TR_E_OK);
    assert_int_equal(tr_code(RC.st[0]->tx_commit(RC.st)), TR_E_OK);
    in_region(EAST);
    call_err("GetSecretValue", json_pack("{s:s}", "SecretId", "db"), TR_E_SM_DECRYPTION_FAILURE, NULL);
    assert_int_equal(tr_code(RC.st[0]->tx_begin(RC.st)), TR_E_OK);
    free(p.versions[0].edk);
    p.versions[0].edk = strdup(r.versions[0].edk);
    assert_int_equal(tr_code(sm_version_save(RC.st, &p, &p.versions[0])), TR_E_OK);
    assert_int_equal(tr_code(RC.st[0]->tx_commit(RC.st)), TR_E_OK);
    call_err("GetSecretValue", json_pack("{s:s}", "SecretId", "db"), TR_E_ACCESS_DENIED,
             "Access to KMS is not allowed");

    /* Each byte position class of the replica's box flipped: no. */
    size_t n = strlen(r.versions[0].ct);
    for (size_t i = 0; i < n; i += n / 7 + 1) {
        char *keep = strdup(r.versions[0].ct);
        r.versions[0].ct[i] = r.versions[0].ct[i] == 'A' ? 'B' : 'A';
        assert_int_equal(tr_code(RC.st[0]->tx_begin(RC.st)), TR_E_OK);
        assert_int_equal(tr_code(sm_version_save(RC.st, &r, &r.versions[0])), TR_E_OK);
        assert_int_equal(tr_code(RC.st[0]->tx_commit(RC.st)), TR_E_OK);
        in_region(WEST);
        call_err("GetSecretValue", json_pack("{s:s}", "SecretId", "db"), TR_E_SM_DECRYPTION_FAILURE, NULL);
        free(r.versions[0].ct);
        r.versions[0].ct = keep;
    }
    /* Put back, both open again. */
    assert_int_equal(tr_code(RC.st[0]->tx_begin(RC.st)), TR_E_OK);
    assert_int_equal(tr_code(sm_version_save(RC.st, &r, &r.versions[0])), TR_E_OK);
    free(p.versions[0].ct);
    free(p.versions[0].edk);
    p.versions[0].ct = ct;
    p.versions[0].edk = edk;
    assert_int_equal(tr_code(sm_version_save(RC.st, &p, &p.versions[0])), TR_E_OK);
    assert_int_equal(tr_code(RC.st[0]->tx_commit(RC.st)), TR_E_OK);
    in_region(WEST);
    assert_string_equal(value_of("db"), "v1");
    in_region(EAST);
    assert_string_equal(value_of("db"), "v1");
    secret_free(&p);
    secret_free(&r);
}

static void test_refusals(void **state)
{
    char arn[512], msg[700];
    (void)state;
    make_replicated(arn, sizeof arn);
    in_region(EAST);
    static const char *const bad[] = { "eu-west-1", EAST, WEST };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        call_err("ReplicateSecretToRegions", json_pack("{s:s, s:[{s:s}]}", "SecretId", "db",
                                                       "AddReplicaRegions", "Region", bad[i]),
                 TR_E_SM_INVALID_PARAMETER, SM_MSG_BAD_REPLICA_REGION);
    call_err("CreateSecret", json_pack("{s:s, s:[{s:s}, {s:s}]}", "Name", "two", "AddReplicaRegions",
                                       "Region", WEST, "Region", WEST),
             TR_E_SM_INVALID_PARAMETER, SM_MSG_BAD_REPLICA_REGION);
    call_err("DescribeSecret", json_pack("{s:s}", "SecretId", "two"), TR_E_SM_RESOURCE_NOT_FOUND, NULL);
    snprintf(msg, sizeof msg, "You can't delete secret %s that still has replica regions [" WEST "].", arn);
    call_err("DeleteSecret", json_pack("{s:s}", "SecretId", "db"), TR_E_SM_INVALID_PARAMETER, msg);
    snprintf(msg, sizeof msg, "The secret %s is not a replica secret.", arn);
    call_err("StopReplicationToReplica", json_pack("{s:s}", "SecretId", "db"), TR_E_SM_INVALID_PARAMETER, msg);
    call_err("RemoveRegionsFromReplication", json_pack("{s:s, s:[s]}", "SecretId", "db",
                                                       "RemoveReplicaRegions", "eu-west-1"),
             TR_E_SM_INVALID_PARAMETER, SM_MSG_BAD_REPLICA_REGION);

    in_region(WEST);
    call_err("PutSecretValue", json_pack("{s:s, s:s, s:s}", "SecretId", "db", "SecretString", "x",
                                         "ClientRequestToken", TOK2),
             TR_E_SM_INVALID_PARAMETER, SM_MSG_REPLICA_WRITE);
    call_err("UpdateSecret", json_pack("{s:s, s:s}", "SecretId", "db", "Description", "x"),
             TR_E_SM_INVALID_PARAMETER, SM_MSG_REPLICA_WRITE);
    call_err("DeleteSecret", json_pack("{s:s}", "SecretId", "db"), TR_E_SM_INVALID_PARAMETER,
             SM_MSG_REPLICA_WRITE);
    call_err("TagResource", json_pack("{s:s, s:[{s:s, s:s}]}", "SecretId", "db", "Tags", "Key", "k", "Value", "v"),
             TR_E_SM_INVALID_PARAMETER, SM_MSG_REPLICA_WRITE);
    assert_string_equal(value_of("db"), "v1");

    /* Stopped, the replica is a secret of its own: writable, deletable. */
    json_decref(call_ok("StopReplicationToReplica", json_pack("{s:s}", "SecretId", "db")));
    json_decref(call_ok("PutSecretValue", json_pack("{s:s, s:s, s:s}", "SecretId", "db", "SecretString", "w",
                                                    "ClientRequestToken", TOK2)));
    assert_string_equal(value_of("db"), "w");
    in_region(EAST);
    assert_string_equal(value_of("db"), "v1");
    json_decref(call_ok("DeleteSecret", json_pack("{s:s, s:b}", "SecretId", "db", "ForceDeleteWithoutRecovery", 1)));
}

static void test_replication_status_shape(void **state)
{
    struct secret s;
    (void)state;
    memset(&s, 0, sizeof s);
    snprintf(s.region, sizeof s.region, EAST);
    s.arn = "arn:aws:secretsmanager:" EAST ":" ACCT ":secret:none-AbCdEf";   /* no replica stored */
    json_t *o = json_object();
    /* Neither primary with replicas nor replica: nothing. */
    s.doc = json_object();
    assert_int_equal(tr_code(sm_describe_replication(&RC, &s, o)), TR_E_OK);
    assert_int_equal(json_object_size(o), 0);
    /* A primary: its region, and each replica with the managed alias when
     * no key was given. */
    json_object_set_new(s.doc, "replicas",
                        json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s, s:s}]", "region", WEST, "status", "InSync",
                                  "message", "Replication succeeded", "region", "eu-west-1", "kms_key_id",
                                  "alias/k", "status", "Failed", "message", "Replication failed: x"));
    assert_int_equal(tr_code(sm_describe_replication(&RC, &s, o)), TR_E_OK);
    json_t *want = json_pack("{s:s, s:[{s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s}]}", "PrimaryRegion", EAST,
                             "ReplicationStatus", "Region", WEST, "KmsKeyId", "alias/aws/secretsmanager",
                             "Status", "InSync", "StatusMessage", "Replication succeeded", "Region", "eu-west-1",
                             "KmsKeyId", "alias/k", "Status", "Failed", "StatusMessage", "Replication failed: x");
    assert_true(json_equal(o, want));
    json_decref(want);
    json_decref(o);
    assert_int_equal(tr_code(sm_check_not_replica(&s)), TR_E_OK);
    /* A replica: the primary's region only, and read-only. */
    json_decref(s.doc);
    s.doc = json_pack("{s:s}", "primary_region", WEST);
    o = json_object();
    assert_int_equal(tr_code(sm_describe_replication(&RC, &s, o)), TR_E_OK);
    want = json_pack("{s:s}", "PrimaryRegion", WEST);
    assert_true(json_equal(o, want));
    assert_int_equal(tr_code(sm_check_not_replica(&s)), TR_E_SM_INVALID_PARAMETER);
    tr_clear_error();
    json_decref(want);
    json_decref(o);
    json_decref(s.doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replica_holds_the_versions_under_its_own_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_replica_does_not_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replication_status_shape, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
