/*
 * grants_test.c -- KMS grants (src/kms/grants.c) and their part in
 * authorization (src/kms/authz.c), driven through the operation table as
 * the router drives it.
 *
 * Each test gets a fresh in-memory store and IAM principals written into it
 * as IAM leaves them (docs/internals/IAM_STORE.md).  Covered
 * (docs/AUTHORIZATION.md 4.2, 4.3, 8.1): CreateGrant's reply and validation
 * (operations, constraints, names, principals that exist, DryRun);
 * ListGrants' entry shape, filters and paging; grants allowing only their
 * operations, to users, roles (their sessions), sessions and accounts;
 * constraints EncryptionContextEquals/Subset, ignored for DescribeKey;
 * explicit denies beating grants; delegation through a grant's CreateGrant
 * (subset of the operations, constraint at least as strict); kms:Grant*
 * condition keys; idempotent names; RetireGrant by retiring principal,
 * grantee, token or policy; RevokeGrant; ListRetirableGrants; grantees in
 * another account needing their own IAM policy; grants removed with their
 * key.
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

#include "core/json.h"
#include "crypto/hash.h"
#include "crypto/keyring.h"
#include "iam/authz.h"
#include "iam/policy.h"
#include "kms/kms.h"
#include "op/op.h"
#include "op_harness.h"
#include "store/store.h"

#define ACCT "111122223333"
#define ACCT2 "444455556666"
#define REGION "us-east-1"
#define NOW 1700000000
#define DAY 86400
#define ROOT_ARN "arn:aws:iam::" ACCT ":root"
#define ROOT_ARN2 "arn:aws:iam::" ACCT2 ":root"

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

static void as_root(const char *acct)
{
    release_identity();
    memset(&F->rc.who, 0, sizeof F->rc.who);
    F->rc.who.type = PRINCIPAL_ROOT;
    snprintf(F->rc.who.account_id, sizeof F->rc.who.account_id, "%s", acct);
    snprintf(F->rc.who.arn, sizeof F->rc.who.arn, "arn:aws:iam::%s:root", acct);
    snprintf(F->rc.who.id, sizeof F->rc.who.id, "%s", acct);
}

static int setup(void **state)
{
    static const uint8_t root[32] = "tresor-kms-test-root-key-32bytes";
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
    snprintf(f->rc.service, sizeof f->rc.service, "kms");
    f->rc.now = NOW;
    *state = f;
    F = f;
    as_root(ACCT);
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

/* Run an operation as the router does (op_harness.h). */
static tr_result run(const char *name, json_t *in, json_t **out)
{
    release_identity();
    tr_result r = oh_json(&F->rc, &kms_service, name, in, out);
    release_identity();
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

/* Expect `code`; and the message `msg` unless msg is NULL. */
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

static const char *sget(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_string(v)) fail_msg("member %s is not a string", k);
    return json_string_value(v);
}

/* ---- keys and principals -------------------------------------------------- */

struct key {
    char id[37];
    char arn[128];
};

static void new_key(struct key *k, const char *policy)
{
    json_t *in = policy ? json_pack("{s:s, s:b}", "Policy", policy,
                                    "BypassPolicyLockoutSafetyCheck", 1) : json_object();
    json_t *o = call_ok("CreateKey", in);
    json_t *md = json_object_get(o, "KeyMetadata");
    snprintf(k->id, sizeof k->id, "%s", sget(md, "KeyId"));
    snprintf(k->arn, sizeof k->arn, "%s", sget(md, "Arn"));
    json_decref(o);
}

static void store_tx(bool begin)
{
    store_t st = F->rc.st;
    assert_int_equal(tr_code(begin ? (*st)->tx_begin(st) : (*st)->tx_commit(st)), TR_E_OK);
}

/* An IAM user or role (kind) with an optional inline identity policy. */
static void mk_entity(const char *kind, const char *acct, const char *name, const char *policy)
{
    static int serial;
    store_t st = F->rc.st;
    char arn[256], id[32], pname[] = "p", path[] = "/";
    struct ent_rec e;
    memset(&e, 0, sizeof e);
    snprintf(arn, sizeof arn, "arn:aws:iam::%s:%s/%s", acct, kind, name);
    snprintf(id, sizeof id, "%s%017d", strcmp(kind, "user") == 0 ? "AIDA" : "AROA", ++serial);
    snprintf(e.kind, sizeof e.kind, "%s", kind);
    snprintf(e.account_id, sizeof e.account_id, "%s", acct);
    e.name = (char *)name;
    e.id = id;
    e.arn = arn;
    e.path = path;
    e.doc = "{}";
    e.created = NOW;
    store_tx(true);
    assert_int_equal(tr_code((*st)->ent_put(st, &e)), TR_E_OK);
    if (policy) {
        struct rel_rec r = { .kind = "inline", .from = arn, .to = pname, .doc = (char *)policy,
                             .created = NOW };
        assert_int_equal(tr_code((*st)->rel_put(st, &r)), TR_E_OK);
    }
    store_tx(false);
}

static const char ALLOW_ALL[] =
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"kms:*\","
    "\"Resource\":\"*\"}]}";

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

static void as_session(const char *role, const char *session)
{
    release_identity();
    memset(&F->rc.who, 0, sizeof F->rc.who);
    F->rc.who.type = PRINCIPAL_ROLE_SESSION;
    snprintf(F->rc.who.account_id, sizeof F->rc.who.account_id, ACCT);
    snprintf(F->rc.who.arn, sizeof F->rc.who.arn, "arn:aws:sts::" ACCT ":assumed-role/%s/%s",
             role, session);
    snprintf(F->rc.who.role_arn, sizeof F->rc.who.role_arn, "arn:aws:iam::" ACCT ":role/%s",
             role);
    struct ent_rec e = { 0 };
    if (tr_ok(F->rc.st[0]->ent_get(F->rc.st, "role", ACCT, role, &e)))
        snprintf(F->rc.who.id, sizeof F->rc.who.id, "%s:%s", e.id, session);
    else
        snprintf(F->rc.who.id, sizeof F->rc.who.id, "AROA-%s:%s", role, session);
    ent_rec_free(&e);
}

static const char *user_arn(const char *acct, const char *name)
{
    static char slots[8][128];
    static int next;
    char *s = slots[next++ % 8];
    snprintf(s, 128, "arn:aws:iam::%s:user/%s", acct, name);
    return s;
}

/* ---- operations ------------------------------------------------------------ */

/* CreateGrant of ops (a JSON array) to grantee; returns the reply. */
static json_t *grant(const struct key *k, const char *grantee, json_t *ops, json_t *extra)
{
    json_t *in = json_pack("{s:s, s:s, s:o}", "KeyId", k->arn, "GranteePrincipal", grantee,
                           "Operations", ops);
    if (extra) {
        json_object_update(in, extra);
        json_decref(extra);
    }
    json_t *o = call_ok("CreateGrant", in);
    const char *id = sget(o, "GrantId");
    assert_int_equal(strlen(id), 64);
    assert_int_equal(strspn(id, "0123456789abcdef"), 64);
    assert_true(strlen(sget(o, "GrantToken")) > 0);
    return o;
}

static void grant_id_of(json_t *o, char out[65])
{
    snprintf(out, 65, "%s", sget(o, "GrantId"));
    json_decref(o);
}

static enum tr_err code_of(const char *name, json_t *in)
{
    json_t *out = NULL;
    tr_result r = run(name, in, &out);
    json_decref(in);
    json_decref(out);
    return tr_code(r);
}

static enum tr_err encrypt_code(const struct key *k, json_t *ctx)
{
    json_t *in = json_pack("{s:s, s:s}", "KeyId", k->arn, "Plaintext", "aGk=");
    if (ctx) json_object_set_new(in, "EncryptionContext", ctx);
    return code_of("Encrypt", in);
}

/* Encrypt as the current caller; the blob (malloc'd). */
static char *encrypt_ok(const struct key *k, json_t *ctx)
{
    json_t *in = json_pack("{s:s, s:s}", "KeyId", k->arn, "Plaintext", "aGk=");
    if (ctx) json_object_set_new(in, "EncryptionContext", ctx);
    json_t *o = call_ok("Encrypt", in);
    char *b = strdup(sget(o, "CiphertextBlob"));
    json_decref(o);
    return b;
}

static size_t grant_count(const struct key *k)
{
    json_t *o = call_ok("ListGrants", json_pack("{s:s}", "KeyId", k->arn));
    size_t n = json_array_size(json_object_get(o, "Grants"));
    json_decref(o);
    return n;
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_create_and_list(void **state)
{
    (void)state;
    struct key k;
    new_key(&k, NULL);
    mk_entity("user", ACCT, "g", NULL);
    mk_entity("user", ACCT, "r", NULL);
    char gid[65], gid2[65];
    grant_id_of(grant(&k, user_arn(ACCT, "g"), json_pack("[s, s]", "Decrypt", "Encrypt"),
                      json_pack("{s:s, s:s, s:{s:{s:s}}}", "Name", "first", "RetiringPrincipal",
                                user_arn(ACCT, "r"), "Constraints",
                                "EncryptionContextSubset", "app", "x")), gid);
    grant_id_of(grant(&k, ROOT_ARN, json_pack("[s]", "DescribeKey"), NULL), gid2);

    json_t *o = call_ok("ListGrants", json_pack("{s:s}", "KeyId", k.id));
    assert_true(json_is_false(json_object_get(o, "Truncated")));
    json_t *list = json_object_get(o, "Grants");
    assert_int_equal(json_array_size(list), 2);
    json_t *e = NULL;
    for (size_t i = 0; i < 2; i++)
        if (strcmp(sget(json_array_get(list, i), "GrantId"), gid) == 0) e = json_array_get(list, i);
    assert_non_null(e);
    assert_string_equal(sget(e, "KeyId"), k.arn);
    assert_string_equal(sget(e, "Name"), "first");
    assert_int_equal(json_integer_value(json_object_get(e, "CreationDate")), NOW);
    assert_string_equal(sget(e, "GranteePrincipal"), user_arn(ACCT, "g"));
    assert_string_equal(sget(e, "RetiringPrincipal"), user_arn(ACCT, "r"));
    assert_string_equal(sget(e, "IssuingAccount"), ROOT_ARN);
    json_t *want = json_pack("[s, s]", "Decrypt", "Encrypt");
    assert_true(json_equal(json_object_get(e, "Operations"), want));
    json_decref(want);
    want = json_pack("{s:{s:s}}", "EncryptionContextSubset", "app", "x");
    assert_true(json_equal(json_object_get(e, "Constraints"), want));
    json_decref(want);
    /* The unnamed grant: Name "", no RetiringPrincipal, no Constraints. */
    json_t *e2 = json_array_get(list, e == json_array_get(list, 0) ? 1 : 0);
    assert_string_equal(sget(e2, "Name"), "");
    assert_null(json_object_get(e2, "RetiringPrincipal"));
    assert_null(json_object_get(e2, "Constraints"));
    json_decref(o);

    /* Filters. */
    o = call_ok("ListGrants", json_pack("{s:s, s:s}", "KeyId", k.arn, "GrantId", gid));
    assert_int_equal(json_array_size(json_object_get(o, "Grants")), 1);
    json_decref(o);
    o = call_ok("ListGrants", json_pack("{s:s, s:s}", "KeyId", k.arn, "GranteePrincipal",
                                        ROOT_ARN));
    assert_int_equal(json_array_size(json_object_get(o, "Grants")), 1);
    assert_string_equal(sget(json_array_get(json_object_get(o, "Grants"), 0), "GrantId"), gid2);
    json_decref(o);
    call_err("ListGrants", json_pack("{s:s, s:s}", "KeyId", k.arn, "GrantId", "nope"),
             TR_E_KMS_INVALID_GRANT_ID, NULL);
    call_err("ListGrants", json_pack("{s:s, s:s}", "KeyId", k.arn, "Marker", "!!"),
             TR_E_KMS_INVALID_MARKER, NULL);

    /* Paging: 7 grants, 3 at a time. */
    for (int i = 0; i < 5; i++) DO("CreateGrant", json_pack("{s:s, s:s, s:[s]}", "KeyId", k.id,
                                   "GranteePrincipal", ROOT_ARN, "Operations", "Encrypt"));
    size_t seen = 0;
    char marker[256] = "";
    for (int page = 0; page < 5; page++) {
        json_t *in = json_pack("{s:s, s:i}", "KeyId", k.arn, "Limit", 3);
        if (marker[0]) json_object_set_new(in, "Marker", json_string(marker));
        o = call_ok("ListGrants", in);
        seen += json_array_size(json_object_get(o, "Grants"));
        bool truncated = json_is_true(json_object_get(o, "Truncated"));
        if (truncated) snprintf(marker, sizeof marker, "%s", sget(o, "NextMarker"));
        json_decref(o);
        if (!truncated) break;
    }
    assert_int_equal(seen, 7);
}

static void test_validation(void **state)
{
    (void)state;
    struct key k;
    new_key(&k, NULL);
    mk_entity("user", ACCT, "g", NULL);
    const char *g = user_arn(ACCT, "g");
    call_err("CreateGrant", json_pack("{s:s, s:s, s:[s]}", "KeyId", k.arn, "GranteePrincipal", g,
             "Operations", "Frobnicate"), TR_E_VALIDATION, NULL);
    assert_non_null(strstr(tr_last_error()->message, "at 'operations'"));
    assert_non_null(strstr(tr_last_error()->message, "[Frobnicate]"));
    call_err("CreateGrant", json_pack("{s:s, s:s, s:[]}", "KeyId", k.arn, "GranteePrincipal", g,
             "Operations"), TR_E_VALIDATION, NULL);
    call_err("CreateGrant", json_pack("{s:s, s:s}", "KeyId", k.arn, "GranteePrincipal", g),
             TR_E_VALIDATION, "1 validation error detected: Value null at 'operations' failed "
             "to satisfy constraint: Member must not be null");
    /* Operations the key cannot perform. */
    call_err("CreateGrant", json_pack("{s:s, s:s, s:[s, s]}", "KeyId", k.arn, "GranteePrincipal",
             g, "Operations", "Encrypt", "Sign"), TR_E_VALIDATION, NULL);
    call_err("CreateGrant", json_pack("{s:s, s:s, s:[s]}", "KeyId", k.arn, "GranteePrincipal",
             g, "Operations", "GenerateMac"), TR_E_VALIDATION, NULL);
    call_err("CreateGrant", json_pack("{s:s, s:s, s:[s]}", "KeyId", k.arn, "GranteePrincipal",
             g, "Operations", "CreateGrant"), TR_E_VALIDATION,
             "Grants must not contain only the CreateGrant operation.");
    /* GenerateDataKeyPair* are symmetric-key operations. */
    DO("CreateGrant", json_pack("{s:s, s:s, s:[s, s]}", "KeyId", k.arn, "GranteePrincipal", g,
       "Operations", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"));
    /* Constraints. */
    call_err("CreateGrant", json_pack("{s:s, s:s, s:[s], s:{s:{s:s}, s:{s:s}}}", "KeyId", k.arn,
             "GranteePrincipal", g, "Operations", "Encrypt", "Constraints",
             "EncryptionContextEquals", "a", "1", "EncryptionContextSubset", "a", "1"),
             TR_E_VALIDATION, NULL);
    call_err("CreateGrant", json_pack("{s:s, s:s, s:[s], s:{s:s}}", "KeyId", k.arn,
             "GranteePrincipal", g, "Operations", "Encrypt", "Constraints", "Other", "x"),
             TR_E_SERIALIZATION, NULL);
    json_t *nine = json_object();
    for (int i = 0; i < 9; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        json_object_set_new(nine, key, json_string("v"));
    }
    call_err("CreateGrant", json_pack("{s:s, s:s, s:[s], s:{s:o}}", "KeyId", k.arn,
             "GranteePrincipal", g, "Operations", "Encrypt", "Constraints",
             "EncryptionContextSubset", nine), TR_E_VALIDATION, NULL);
    /* Names and principals. */
    call_err("CreateGrant", json_pack("{s:s, s:s, s:[s], s:s}", "KeyId", k.arn,
             "GranteePrincipal", g, "Operations", "Encrypt", "Name", "bad name"),
             TR_E_VALIDATION, NULL);
    call_err("CreateGrant", json_pack("{s:s, s:s, s:[s]}", "KeyId", k.arn,
             "GranteePrincipal", "not a principal!", "Operations", "Encrypt"),
             TR_E_VALIDATION, NULL);
    call_err("CreateGrant", json_pack("{s:s, s:s, s:[s]}", "KeyId", k.arn,
             "GranteePrincipal", user_arn(ACCT, "ghost"), "Operations", "Encrypt"),
             TR_E_KMS_INVALID_ARN, NULL);
    call_err("CreateGrant", json_pack("{s:s, s:s, s:[s], s:s}", "KeyId", k.arn,
             "GranteePrincipal", g, "Operations", "Encrypt", "RetiringPrincipal",
             "arn:aws:iam::" ACCT ":role/ghost"), TR_E_KMS_INVALID_ARN, NULL);
    /* Key ids, not aliases. */
    DO("CreateAlias", json_pack("{s:s, s:s}", "AliasName", "alias/g", "TargetKeyId", k.id));
    call_err("CreateGrant", json_pack("{s:s, s:s, s:[s]}", "KeyId", "alias/g",
             "GranteePrincipal", g, "Operations", "Encrypt"), TR_E_KMS_NOT_FOUND,
             "Invalid keyId 'alias/g'");
    /* DryRun: authorized, nothing written. */
    call_err("CreateGrant", json_pack("{s:s, s:s, s:[s], s:b}", "KeyId", k.arn,
             "GranteePrincipal", g, "Operations", "Encrypt", "DryRun", 1), TR_E_KMS_DRY_RUN,
             "The request would have succeeded, but the DryRun option is set.");
    assert_int_equal(grant_count(&k), 1);
    /* A disabled key gets no new grants. */
    DO("DisableKey", json_pack("{s:s}", "KeyId", k.id));
    call_err("CreateGrant", json_pack("{s:s, s:s, s:[s]}", "KeyId", k.arn,
             "GranteePrincipal", g, "Operations", "Encrypt"), TR_E_KMS_DISABLED, NULL);
}

static void test_grant_allows(void **state)
{
    (void)state;
    struct key k;
    new_key(&k, NULL);
    mk_entity("user", ACCT, "g", NULL);
    mk_entity("role", ACCT, "R", NULL);
    char msg[600];
    as_user(ACCT, "g");
    snprintf(msg, sizeof msg, "User: %s is not authorized to perform: kms:Encrypt on resource: "
             "%s because no identity-based policy allows the kms:Encrypt action",
             user_arn(ACCT, "g"), k.arn);
    call_err("Encrypt", json_pack("{s:s, s:s}", "KeyId", k.arn, "Plaintext", "aGk="),
             TR_E_ACCESS_DENIED, msg);
    as_root(ACCT);
    json_decref(grant(&k, user_arn(ACCT, "g"), json_pack("[s, s]", "Encrypt", "Decrypt"), NULL));
    as_user(ACCT, "g");
    char *blob = encrypt_ok(&k, NULL);
    DO("Decrypt", json_pack("{s:s}", "CiphertextBlob", blob));
    free(blob);
    /* Only the grant's operations. */
    assert_int_equal(code_of("DescribeKey", json_pack("{s:s}", "KeyId", k.id)), TR_E_ACCESS_DENIED);
    assert_int_equal(code_of("GenerateDataKey", json_pack("{s:s, s:s}", "KeyId", k.id, "KeySpec",
                     "AES_256")), TR_E_ACCESS_DENIED);
    assert_int_equal(code_of("ReEncrypt", json_pack("{s:s, s:s}", "CiphertextBlob", "AAAA",
                     "DestinationKeyId", k.id)), TR_E_KMS_INVALID_CIPHERTEXT);

    /* A grant to a role covers its sessions; to a session, that session. */
    as_root(ACCT);
    json_decref(grant(&k, "arn:aws:iam::" ACCT ":role/R", json_pack("[s]", "Encrypt"), NULL));
    json_decref(grant(&k, "arn:aws:sts::" ACCT ":assumed-role/R/one",
                      json_pack("[s]", "DescribeKey"), NULL));
    as_session("R", "one");
    assert_int_equal(encrypt_code(&k, NULL), TR_E_OK);
    DO("DescribeKey", json_pack("{s:s}", "KeyId", k.id));
    as_session("R", "two");
    assert_int_equal(encrypt_code(&k, NULL), TR_E_OK);
    assert_int_equal(code_of("DescribeKey", json_pack("{s:s}", "KeyId", k.id)), TR_E_ACCESS_DENIED);

    /* Explicit denies beat grants: in IAM ... */
    as_root(ACCT);
    mk_entity("user", ACCT, "denied", "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":"
              "\"Deny\",\"Action\":\"kms:Encrypt\",\"Resource\":\"*\"}]}");
    json_decref(grant(&k, user_arn(ACCT, "denied"), json_pack("[s]", "Encrypt"), NULL));
    as_user(ACCT, "denied");
    snprintf(msg, sizeof msg, "User: %s is not authorized to perform: kms:Encrypt on resource: "
             "%s with an explicit deny in an identity-based policy", user_arn(ACCT, "denied"),
             k.arn);
    call_err("Encrypt", json_pack("{s:s, s:s}", "KeyId", k.arn, "Plaintext", "aGk="),
             TR_E_ACCESS_DENIED, msg);
    /* ... and in the key policy. */
    as_root(ACCT);
    struct key d;
    char pol[600];
    snprintf(pol, sizeof pol, "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\""
             ROOT_ARN "\"},\"Action\":\"kms:*\",\"Resource\":\"*\"},{\"Effect\":\"Deny\","
             "\"Principal\":{\"AWS\":\"%s\"},\"Action\":\"kms:Encrypt\",\"Resource\":\"*\"}]}",
             user_arn(ACCT, "g"));
    new_key(&d, pol);
    json_decref(grant(&d, user_arn(ACCT, "g"), json_pack("[s]", "Encrypt"), NULL));
    as_user(ACCT, "g");
    snprintf(msg, sizeof msg, "User: %s is not authorized to perform: kms:Encrypt on resource: "
             "%s with an explicit deny in a resource-based policy", user_arn(ACCT, "g"), d.arn);
    call_err("Encrypt", json_pack("{s:s, s:s}", "KeyId", d.arn, "Plaintext", "aGk="),
             TR_E_ACCESS_DENIED, msg);
}

static void test_constraints(void **state)
{
    (void)state;
    struct key k;
    new_key(&k, NULL);
    mk_entity("user", ACCT, "eq", NULL);
    mk_entity("user", ACCT, "sub", NULL);
    json_decref(grant(&k, user_arn(ACCT, "eq"), json_pack("[s, s]", "Encrypt", "DescribeKey"),
                      json_pack("{s:{s:{s:s}}}", "Constraints", "EncryptionContextEquals",
                                "a", "1")));
    json_decref(grant(&k, user_arn(ACCT, "sub"), json_pack("[s, s]", "Encrypt", "Decrypt"),
                      json_pack("{s:{s:{s:s}}}", "Constraints", "EncryptionContextSubset",
                                "a", "1")));
    as_user(ACCT, "eq");
    assert_int_equal(encrypt_code(&k, json_pack("{s:s}", "a", "1")), TR_E_OK);
    assert_int_equal(encrypt_code(&k, json_pack("{s:s, s:s}", "a", "1", "b", "2")),
                     TR_E_ACCESS_DENIED);
    assert_int_equal(encrypt_code(&k, json_pack("{s:s}", "a", "2")), TR_E_ACCESS_DENIED);
    assert_int_equal(encrypt_code(&k, json_pack("{s:s}", "A", "1")), TR_E_ACCESS_DENIED);
    assert_int_equal(encrypt_code(&k, NULL), TR_E_ACCESS_DENIED);
    /* DescribeKey ignores constraints. */
    DO("DescribeKey", json_pack("{s:s}", "KeyId", k.id));

    as_user(ACCT, "sub");
    char *blob = encrypt_ok(&k, json_pack("{s:s, s:s}", "a", "1", "b", "2"));
    DO("Decrypt", json_pack("{s:s, s:{s:s, s:s}}", "CiphertextBlob", blob, "EncryptionContext",
       "a", "1", "b", "2"));
    free(blob);
    assert_int_equal(encrypt_code(&k, json_pack("{s:s}", "a", "1")), TR_E_OK);
    assert_int_equal(encrypt_code(&k, json_pack("{s:s}", "b", "2")), TR_E_ACCESS_DENIED);
    assert_int_equal(encrypt_code(&k, json_pack("{s:s}", "a", "one")), TR_E_ACCESS_DENIED);
    assert_int_equal(encrypt_code(&k, NULL), TR_E_ACCESS_DENIED);
}

static void test_delegation(void **state)
{
    (void)state;
    struct key k;
    new_key(&k, NULL);
    mk_entity("user", ACCT, "g", NULL);
    mk_entity("user", ACCT, "h", NULL);
    mk_entity("user", ACCT, "s", NULL);
    const char *h = user_arn(ACCT, "h");
    json_decref(grant(&k, user_arn(ACCT, "g"), json_pack("[s, s]", "Encrypt", "CreateGrant"),
                      NULL));
    as_user(ACCT, "g");
    json_decref(grant(&k, h, json_pack("[s]", "Encrypt"), NULL));
    assert_int_equal(code_of("CreateGrant", json_pack("{s:s, s:s, s:[s]}", "KeyId", k.arn,
                     "GranteePrincipal", h, "Operations", "Decrypt")), TR_E_ACCESS_DENIED);
    assert_int_equal(code_of("CreateGrant", json_pack("{s:s, s:s, s:[s, s]}", "KeyId", k.arn,
                     "GranteePrincipal", h, "Operations", "Encrypt", "Decrypt")),
                     TR_E_ACCESS_DENIED);
    as_user(ACCT, "h");
    assert_int_equal(encrypt_code(&k, NULL), TR_E_OK);

    /* A constrained delegator: children at least as strict. */
    as_root(ACCT);
    json_decref(grant(&k, user_arn(ACCT, "s"), json_pack("[s, s]", "Encrypt", "CreateGrant"),
                      json_pack("{s:{s:{s:s}}}", "Constraints", "EncryptionContextSubset",
                                "a", "1")));
    as_user(ACCT, "s");
    json_t *ok[] = {
        json_pack("{s:{s:s, s:s}}", "EncryptionContextSubset", "a", "1", "b", "2"),
        json_pack("{s:{s:s}}", "EncryptionContextSubset", "a", "1"),
        json_pack("{s:{s:s}}", "EncryptionContextEquals", "a", "1"),
    };
    for (size_t i = 0; i < 3; i++)
        DO("CreateGrant", json_pack("{s:s, s:s, s:[s], s:o}", "KeyId", k.arn, "GranteePrincipal",
           h, "Operations", "Encrypt", "Constraints", ok[i]));
    json_t *bad[] = {
        json_pack("{s:{s:s}}", "EncryptionContextSubset", "b", "2"),
        json_pack("{s:{s:s}}", "EncryptionContextEquals", "a", "2"),
    };
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(code_of("CreateGrant", json_pack("{s:s, s:s, s:[s], s:o}", "KeyId",
                         k.arn, "GranteePrincipal", h, "Operations", "Encrypt", "Constraints",
                         bad[i])), TR_E_ACCESS_DENIED);
    assert_int_equal(code_of("CreateGrant", json_pack("{s:s, s:s, s:[s]}", "KeyId", k.arn,
                     "GranteePrincipal", h, "Operations", "Encrypt")), TR_E_ACCESS_DENIED);
}

/* kms:GrantOperations, kms:GranteePrincipal, kms:GrantIsForAWSResource. */
static void test_grant_condition_keys(void **state)
{
    (void)state;
    mk_entity("user", ACCT, "u", NULL);
    mk_entity("user", ACCT, "g", NULL);
    char pol[1500];
    snprintf(pol, sizeof pol,
             "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"" ROOT_ARN "\"},"
             "\"Action\":[\"kms:Describe*\",\"kms:List*\"],\"Resource\":\"*\"},"
             "{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"%s\"},\"Action\":\"kms:CreateGrant\","
             "\"Resource\":\"*\",\"Condition\":{\"ForAllValues:StringEquals\":"
             "{\"kms:GrantOperations\":[\"Encrypt\",\"Decrypt\"]},\"StringEquals\":"
             "{\"kms:GranteePrincipal\":\"%s\"},\"Bool\":{\"kms:GrantIsForAWSResource\":"
             "\"false\"}}},{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"%s\"},\"Action\":"
             "\"kms:RevokeGrant\",\"Resource\":\"*\",\"Condition\":{\"Bool\":"
             "{\"kms:GrantIsForAWSResource\":\"true\"}}}]}",
             user_arn(ACCT, "u"), user_arn(ACCT, "g"), user_arn(ACCT, "u"));
    struct key k;
    new_key(&k, pol);
    as_user(ACCT, "u");
    char gid[65];
    grant_id_of(grant(&k, user_arn(ACCT, "g"), json_pack("[s]", "Encrypt"), NULL), gid);
    assert_int_equal(code_of("CreateGrant", json_pack("{s:s, s:s, s:[s, s]}", "KeyId", k.arn,
                     "GranteePrincipal", user_arn(ACCT, "g"), "Operations", "Encrypt",
                     "DescribeKey")), TR_E_ACCESS_DENIED);
    assert_int_equal(code_of("CreateGrant", json_pack("{s:s, s:s, s:[s]}", "KeyId", k.arn,
                     "GranteePrincipal", user_arn(ACCT, "u"), "Operations", "Encrypt")),
                     TR_E_ACCESS_DENIED);
    char msg[600];
    snprintf(msg, sizeof msg, "User: %s is not authorized to perform: kms:RevokeGrant on "
             "resource: %s because no resource-based policy allows the kms:RevokeGrant action",
             user_arn(ACCT, "u"), k.arn);
    call_err("RevokeGrant", json_pack("{s:s, s:s}", "KeyId", k.arn, "GrantId", gid),
             TR_E_ACCESS_DENIED, msg);
}

static void test_idempotent_name(void **state)
{
    (void)state;
    struct key k;
    new_key(&k, NULL);
    char a[65], b[65], c[65];
    json_t *o1 = grant(&k, ROOT_ARN, json_pack("[s, s]", "Encrypt", "Decrypt"),
                       json_pack("{s:s}", "Name", "same"));
    json_t *o2 = grant(&k, ROOT_ARN, json_pack("[s, s]", "Decrypt", "Encrypt"),
                       json_pack("{s:s}", "Name", "same"));
    assert_string_not_equal(sget(o1, "GrantToken"), sget(o2, "GrantToken"));
    grant_id_of(o1, a);
    grant_id_of(o2, b);
    assert_string_equal(a, b);
    grant_id_of(grant(&k, ROOT_ARN, json_pack("[s]", "Encrypt"), json_pack("{s:s}", "Name",
                      "same")), c);
    assert_string_not_equal(a, c);
    assert_int_equal(grant_count(&k), 2);
}

static void test_retire_and_revoke(void **state)
{
    (void)state;
    struct key k;
    new_key(&k, NULL);
    mk_entity("user", ACCT, "g", NULL);
    mk_entity("user", ACCT, "r", NULL);
    mk_entity("user", ACCT, "stranger", NULL);
    const char *g = user_arn(ACCT, "g"), *r = user_arn(ACCT, "r");
    char gid[65];

    /* By the retiring principal, with no policy at all. */
    grant_id_of(grant(&k, g, json_pack("[s]", "Encrypt"), json_pack("{s:s}",
                      "RetiringPrincipal", r)), gid);
    as_user(ACCT, "g");
    assert_int_equal(encrypt_code(&k, NULL), TR_E_OK);
    as_user(ACCT, "stranger");
    assert_int_equal(code_of("RetireGrant", json_pack("{s:s, s:s}", "KeyId", k.arn, "GrantId",
                     gid)), TR_E_ACCESS_DENIED);
    as_user(ACCT, "r");
    call_err("RetireGrant", json_pack("{s:s, s:s, s:b}", "KeyId", k.arn, "GrantId", gid,
             "DryRun", 1), TR_E_KMS_DRY_RUN, NULL);
    DO("RetireGrant", json_pack("{s:s, s:s}", "KeyId", k.arn, "GrantId", gid));
    as_user(ACCT, "g");
    assert_int_equal(encrypt_code(&k, NULL), TR_E_ACCESS_DENIED);
    as_root(ACCT);
    assert_int_equal(grant_count(&k), 0);
    char msg[600];
    snprintf(msg, sizeof msg, "Grant ID %s not found", gid);
    call_err("RetireGrant", json_pack("{s:s, s:s}", "KeyId", k.arn, "GrantId", gid),
             TR_E_KMS_NOT_FOUND, msg);

    /* By token. */
    json_t *o = grant(&k, g, json_pack("[s]", "Encrypt"), json_pack("{s:s}",
                      "RetiringPrincipal", r));
    char token[256];
    snprintf(token, sizeof token, "%s", sget(o, "GrantToken"));
    json_decref(o);
    as_user(ACCT, "r");
    call_err("RetireGrant", json_pack("{s:s}", "GrantToken", "bm90IGEgdG9rZW4="),
             TR_E_KMS_INVALID_GRANT_TOKEN, NULL);
    call_err("RetireGrant", json_object(), TR_E_VALIDATION, NULL);
    DO("RetireGrant", json_pack("{s:s}", "GrantToken", token));
    as_root(ACCT);
    assert_int_equal(grant_count(&k), 0);

    /* By the grantee when the grant includes RetireGrant; else not. */
    grant_id_of(grant(&k, g, json_pack("[s, s]", "Encrypt", "RetireGrant"), NULL), gid);
    as_user(ACCT, "g");
    DO("RetireGrant", json_pack("{s:s, s:s}", "KeyId", k.id, "GrantId", gid));
    as_root(ACCT);
    grant_id_of(grant(&k, g, json_pack("[s]", "Encrypt"), NULL), gid);
    as_user(ACCT, "g");
    assert_int_equal(code_of("RetireGrant", json_pack("{s:s, s:s}", "KeyId", k.id, "GrantId",
                     gid)), TR_E_ACCESS_DENIED);
    /* RevokeGrant needs kms:RevokeGrant. */
    snprintf(msg, sizeof msg, "User: %s is not authorized to perform: kms:RevokeGrant on "
             "resource: %s because no identity-based policy allows the kms:RevokeGrant action",
             g, k.arn);
    call_err("RevokeGrant", json_pack("{s:s, s:s}", "KeyId", k.arn, "GrantId", gid),
             TR_E_ACCESS_DENIED, msg);
    as_root(ACCT);
    DO("RevokeGrant", json_pack("{s:s, s:s}", "KeyId", k.id, "GrantId", gid));
    assert_int_equal(grant_count(&k), 0);
    snprintf(msg, sizeof msg, "Grant ID %s not found", gid);
    call_err("RevokeGrant", json_pack("{s:s, s:s}", "KeyId", k.id, "GrantId", gid),
             TR_E_KMS_NOT_FOUND, msg);
    call_err("RevokeGrant", json_pack("{s:s, s:s}", "KeyId", k.id, "GrantId", "xyz"),
             TR_E_KMS_INVALID_GRANT_ID, NULL);
}

static void test_list_retirable(void **state)
{
    (void)state;
    struct key k1, k2;
    new_key(&k1, NULL);
    new_key(&k2, NULL);
    mk_entity("user", ACCT, "g", NULL);
    mk_entity("user", ACCT, "r", NULL);
    const char *r = user_arn(ACCT, "r");
    char ids[3][65];
    grant_id_of(grant(&k1, user_arn(ACCT, "g"), json_pack("[s]", "Decrypt"),
                      json_pack("{s:s, s:s}", "RetiringPrincipal", r, "Name", "one")), ids[0]);
    grant_id_of(grant(&k2, user_arn(ACCT, "g"), json_pack("[s]", "Encrypt"),
                      json_pack("{s:s}", "RetiringPrincipal", r)), ids[1]);
    grant_id_of(grant(&k2, user_arn(ACCT, "g"), json_pack("[s]", "Encrypt"), NULL), ids[2]);

    json_t *o = call_ok("ListRetirableGrants", json_pack("{s:s}", "RetiringPrincipal", r));
    json_t *list = json_object_get(o, "Grants");
    assert_int_equal(json_array_size(list), 2);
    assert_true(json_is_false(json_object_get(o, "Truncated")));
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        assert_string_equal(sget(e, "RetiringPrincipal"), r);
        assert_string_equal(sget(e, "IssuingAccount"), ROOT_ARN);
        bool first = strcmp(sget(e, "GrantId"), ids[0]) == 0;
        assert_string_equal(sget(e, "KeyId"), first ? k1.arn : k2.arn);
    }
    json_decref(o);
    /* Paging. */
    o = call_ok("ListRetirableGrants", json_pack("{s:s, s:i}", "RetiringPrincipal", r, "Limit", 1));
    assert_true(json_is_true(json_object_get(o, "Truncated")));
    json_t *o2 = call_ok("ListRetirableGrants", json_pack("{s:s, s:i, s:s}", "RetiringPrincipal",
                         r, "Limit", 1, "Marker", sget(o, "NextMarker")));
    assert_int_equal(json_array_size(json_object_get(o2, "Grants")), 1);
    assert_string_not_equal(sget(json_array_get(json_object_get(o, "Grants"), 0), "GrantId"),
                            sget(json_array_get(json_object_get(o2, "Grants"), 0), "GrantId"));
    json_decref(o);
    json_decref(o2);
    /* Another account's principal: nothing. */
    o = call_ok("ListRetirableGrants", json_pack("{s:s}", "RetiringPrincipal",
                                                 user_arn(ACCT2, "r")));
    assert_int_equal(json_array_size(json_object_get(o, "Grants")), 0);
    json_decref(o);
    /* IAM decides who may list. */
    as_user(ACCT, "g");
    call_err("ListRetirableGrants", json_pack("{s:s}", "RetiringPrincipal", r),
             TR_E_ACCESS_DENIED, "User: arn:aws:iam::" ACCT ":user/g is not authorized to "
             "perform: kms:ListRetirableGrants on resource: * because no identity-based policy "
             "allows the kms:ListRetirableGrants action");
}

/* Grantees in another account, and grants to accounts (docs/AUTHORIZATION.md 4.3). */
static void test_accounts(void **state)
{
    (void)state;
    struct key k, direct;
    new_key(&k, NULL);
    mk_entity("user", ACCT2, "plain", NULL);
    mk_entity("user", ACCT2, "iam", ALLOW_ALL);
    mk_entity("user", ACCT, "local", NULL);
    mk_entity("user", ACCT, "localiam", ALLOW_ALL);
    json_decref(grant(&k, user_arn(ACCT2, "plain"), json_pack("[s]", "Encrypt"), NULL));
    json_decref(grant(&k, user_arn(ACCT2, "iam"), json_pack("[s]", "Encrypt"), NULL));
    /* The grant suffices on the key side; B's own IAM must still allow. */
    as_user(ACCT2, "plain");
    assert_int_equal(encrypt_code(&k, NULL), TR_E_ACCESS_DENIED);
    as_user(ACCT2, "iam");
    char *blob = encrypt_ok(&k, NULL);
    /* Decrypt needs its own grant (the blob names the key of account A). */
    assert_int_equal(code_of("Decrypt", json_pack("{s:s}", "CiphertextBlob", blob)),
                     TR_E_ACCESS_DENIED);
    free(blob);

    /* A grant to account B: its principals with an IAM allow. */
    as_root(ACCT);
    json_decref(grant(&k, ROOT_ARN2, json_pack("[s]", "DescribeKey"), NULL));
    as_user(ACCT2, "iam");
    DO("DescribeKey", json_pack("{s:s}", "KeyId", k.arn));
    as_user(ACCT2, "plain");
    assert_int_equal(code_of("DescribeKey", json_pack("{s:s}", "KeyId", k.arn)),
                     TR_E_ACCESS_DENIED);
    as_root(ACCT2);
    DO("DescribeKey", json_pack("{s:s}", "KeyId", k.arn));

    /* A grant to the key's own account, on a key whose policy does not
     * delegate to IAM: IAM counts through the grant. */
    as_root(ACCT);
    new_key(&direct, "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\""
            "arn:aws:iam::" ACCT ":user/localiam\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}");
    as_user(ACCT, "localiam");
    json_decref(grant(&direct, ACCT, json_pack("[s]", "Encrypt"), NULL));
    as_user(ACCT, "local");
    assert_int_equal(encrypt_code(&direct, NULL), TR_E_ACCESS_DENIED);
    mk_entity("user", ACCT, "withiam", "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":"
              "\"Allow\",\"Action\":\"kms:Encrypt\",\"Resource\":\"*\"}]}");
    as_user(ACCT, "withiam");
    assert_int_equal(encrypt_code(&direct, NULL), TR_E_OK);
}

/* Deleting a key removes its grants (kms_maintenance). */
static void test_key_deletion(void **state)
{
    (void)state;
    struct key k;
    new_key(&k, NULL);
    mk_entity("user", ACCT, "r", NULL);
    const char *r = user_arn(ACCT, "r");
    json_decref(grant(&k, ROOT_ARN, json_pack("[s]", "Encrypt"), json_pack("{s:s}",
                      "RetiringPrincipal", r)));
    json_decref(grant(&k, ROOT_ARN, json_pack("[s]", "Decrypt"), NULL));
    DO("ScheduleKeyDeletion", json_pack("{s:s, s:i}", "KeyId", k.id, "PendingWindowInDays", 7));
    /* Grants of a key pending deletion are still listed and revocable. */
    assert_int_equal(grant_count(&k), 2);
    assert_int_equal(tr_code(kms_maintenance(&F->env, NOW + 8 * DAY)), TR_E_OK);
    store_t st = F->rc.st;
    struct rel_rec *v = NULL;
    size_t n = 0;
    assert_int_equal(tr_code((*st)->rel_list_from(st, "grant", k.arn, NULL, 100, &v, &n)),
                     TR_E_OK);
    assert_int_equal(n, 0);
    rel_list_free(v, n);
    assert_int_equal(tr_code((*st)->rel_list_from(st, "retirable", r, NULL, 100, &v, &n)),
                     TR_E_OK);
    assert_int_equal(n, 0);
    rel_list_free(v, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_and_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grant_allows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_constraints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delegation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grant_condition_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotent_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retire_and_revoke, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_retirable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accounts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_deletion, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
