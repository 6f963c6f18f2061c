/*
 * kms_test.c -- the KMS operation handlers (src/kms/) driven directly,
 * the way the router drives them: a hand-made req_ctx, JSON in, JSON out,
 * OP_WRITE handlers inside a store transaction (rolled back on failure).
 *
 * Each test gets a fresh in-memory store (store_sqlite_open_memory) and a
 * keyring over fixed bytes.  Covered: the operation table; CreateKey,
 * DescribeKey in every KeyId form, ListKeys paging; Encrypt/Decrypt round
 * trips, context and byte tampering, IncorrectKey, foreign and deleted
 * keys; key states with AWS's exact messages; rotation (on demand and
 * automatic) keeping old ciphertexts readable; kms_maintenance deleting
 * and rotating due keys; alias, tag and key-policy rules; the lockout
 * check; AWS validation wording; data keys, ReEncrypt, GenerateRandom;
 * the AWS managed key.
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
#include "store/store.h"

#define ACCT "111122223333"
#define ACCT2 "444455556666"
#define REGION "us-east-1"
#define NOW 1700000000
#define DAY 86400

struct fx {
    struct server_env env;
    struct req_ctx rc;
};

static struct fx *F;   /* the current fixture (tests run one at a time) */

static void release_identity(void);

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
    f->rc.who.type = PRINCIPAL_ROOT;
    snprintf(f->rc.who.account_id, sizeof f->rc.who.account_id, ACCT);
    snprintf(f->rc.who.arn, sizeof f->rc.who.arn, "arn:aws:iam::" ACCT ":root");
    snprintf(f->rc.who.id, sizeof f->rc.who.id, ACCT);
    f->rc.now = NOW;
    *state = f;
    F = f;
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

static const struct op_def *find_op(const char *name)
{
    return oh_find(&kms_service, name);
}

/* What the router frees when a request ends: the identity side that
 * iam_authorize loaded lazily. */
static void release_identity(void)
{
    if (!F->rc.identity) return;
    iam_identity_free(F->rc.identity);
    free(F->rc.identity);
    F->rc.identity = NULL;
}

/* Run an operation as the router does (op_harness.h); *out receives the
 * reply. */
static tr_result run(const char *name, json_t *in, json_t **out)
{
    release_identity();
    tr_result r = oh_json(&F->rc, &kms_service, name, in, out);
    release_identity();
    return r;
}

/* Call with a JSON text (jansson pack format); expect success. */
static json_t *call_ok(const char *name, json_t *in)
{
    json_t *out = NULL;
    assert_non_null(in);
    tr_result r = run(name, in, &out);
    if (tr_failed(r))
        fail_msg("%s failed: %s: %s (%s:%d)", name, tr_err_type(tr_code(r)),
                 tr_last_error()->has_message ? tr_last_error()->message : "(no message)",
                 tr_last_error()->file, tr_last_error()->line);
    json_decref(in);
    if (!out) out = json_object();
    return out;
}

/* Call and discard the reply. */
#define DO(name, in) json_decref(call_ok((name), (in)))

/* Expect failure with `code` and exactly `msg` (NULL: no message member). */
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
        assert_string_equal(tr_last_error()->message, msg);
    } else {
        assert_false(tr_last_error()->has_message);
    }
}

/* The failure code of a call (for loops that accept several outcomes). */
static enum tr_err call_code(const char *name, json_t *in)
{
    json_t *out = NULL;
    tr_result r = run(name, in, &out);
    json_decref(in);
    json_decref(out);
    return tr_code(r);
}

static const char *sget(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_string(v)) fail_msg("member %s is not a string", k);
    return json_string_value(v);
}

static json_int_t iget(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v)) fail_msg("member %s is not an integer", k);
    return json_integer_value(v);
}

/* CreateKey {} and return the key id (static storage per slot). */
static const char *new_key(int slot)
{
    static char ids[8][37];
    json_t *o = call_ok("CreateKey", json_object());
    snprintf(ids[slot], sizeof ids[slot], "%s",
             sget(json_object_get(o, "KeyMetadata"), "KeyId"));
    json_decref(o);
    return ids[slot];
}

static void key_arn(const char *id, char *out, size_t n)
{
    snprintf(out, n, "arn:aws:kms:" REGION ":" ACCT ":key/%s", id);
}

/* Base64 text of a byte string (test helper; not secret). */
static char *b64(const void *p, size_t n)
{
    struct buf b = BUF_INIT(1 << 20);
    assert_int_equal(tr_code(b64_encode(p, n, &b)), TR_E_OK);
    char *s = calloc(1, b.len + 1);
    memcpy(s, b.data, b.len);
    buf_free(&b);
    return s;
}

/* Decode a base64 member into a fresh buf. */
static struct buf unb64(json_t *o, const char *k)
{
    struct buf b = BUF_INIT(1 << 20);
    const char *s = sget(o, k);
    assert_int_equal(tr_code(b64_decode(s, strlen(s), &b)), TR_E_OK);
    return b;
}

/* Encrypt `pt` under key `id` with `ctx` (may be NULL); returns the blob
 * base64 text (malloc'd). */
static char *encrypt(const char *id, const char *pt, json_t *ctx)
{
    char *p = b64(pt, strlen(pt));
    json_t *in = json_pack("{s:s, s:s}", "KeyId", id, "Plaintext", p);
    if (ctx) json_object_set_new(in, "EncryptionContext", ctx);
    json_t *o = call_ok("Encrypt", in);
    char *blob = strdup(sget(o, "CiphertextBlob"));
    json_decref(o);
    free(p);
    return blob;
}

/* Decrypt and compare with `expect`. */
static void decrypt_eq(const char *blob, json_t *ctx, const char *expect)
{
    json_t *in = json_pack("{s:s}", "CiphertextBlob", blob);
    if (ctx) json_object_set_new(in, "EncryptionContext", ctx);
    json_t *o = call_ok("Decrypt", in);
    struct buf pt = unb64(o, "Plaintext");
    assert_int_equal(pt.len, strlen(expect));
    assert_memory_equal(pt.data, expect, pt.len);
    assert_string_equal(sget(o, "EncryptionAlgorithm"), "SYMMETRIC_DEFAULT");
    assert_int_equal(strlen(sget(o, "KeyMaterialId")), 64);
    buf_free(&pt);
    json_decref(o);
}

static void as_account(const char *acct)
{
    release_identity();
    F->rc.who.type = PRINCIPAL_ROOT;
    F->rc.who.role_arn[0] = '\0';
    snprintf(F->rc.who.account_id, sizeof F->rc.who.account_id, "%s", acct);
    snprintf(F->rc.who.arn, sizeof F->rc.who.arn, "arn:aws:iam::%s:root", acct);
    snprintf(F->rc.who.id, sizeof F->rc.who.id, "%s", acct);
}

/* ---- the table ----------------------------------------------------------- */

static void test_ops_table(void **state)
{
    (void)state;
    size_t n = 0;
    for (const struct op_def *op = kms_ops; op->name; op++, n++) {
        assert_non_null(op->fn.json);
        assert_int_equal(strncmp(op->action, "kms:", 4), 0);
        if (n > 0) assert_true(strcmp(op[-1].name, op->name) < 0);
    }
    assert_int_equal(n, 54);
    /* Read-only operations never write. */
    static const char *const ro[] = { "Decrypt", "DescribeKey", "Encrypt", "GenerateDataKey",
                                      "GenerateDataKeyWithoutPlaintext", "GenerateRandom",
                                      "GetKeyPolicy", "GetKeyRotationStatus", "ListAliases",
                                      "ListKeyPolicies", "ListKeyRotations", "ListKeys",
                                      "ListResourceTags", "ReEncrypt", "ListGrants",
                                      "ListRetirableGrants", "GetPublicKey", "Sign", "Verify",
                                      "GenerateMac", "VerifyMac", "GenerateDataKeyPair",
                                      "GenerateDataKeyPairWithoutPlaintext",
                                      "GetParametersForImport", "DeriveSharedSecret",
                                      "GetKeyLastUsage", NULL };
    for (const char *const *p = ro; *p; p++) assert_false(find_op(*p)->flags & OP_WRITE);
    assert_true(find_op("CreateKey")->flags & OP_WRITE);
    assert_true(find_op("RotateKeyOnDemand")->flags & OP_WRITE);
    assert_true(find_op("CreateGrant")->flags & OP_WRITE);
    assert_true(find_op("RetireGrant")->flags & OP_WRITE);
    assert_true(find_op("RevokeGrant")->flags & OP_WRITE);
    assert_true(find_op("ImportKeyMaterial")->flags & OP_WRITE);
    assert_true(find_op("DeleteImportedKeyMaterial")->flags & OP_WRITE);
    assert_true(find_op("ReplicateKey")->flags & OP_WRITE);
    assert_true(find_op("UpdatePrimaryRegion")->flags & OP_WRITE);
}

/* ---- the import token (import.c) ------------------------------------------ */

/* A token seals its parameters and the wrapping private key for one key:
 * it opens for that key with the same bytes back; flipping any bit of it,
 * cutting it, naming another key or another root key all give
 * InvalidImportTokenException and leave nothing in the output. */
static void test_import_token(void **state)
{
    (void)state;
    const char *kid = "11111111-2222-3333-4444-555555555555", *RG = "us-east-1";
    struct buf priv = BUF_SECRET(KMS_MATERIAL_MAX), tok = BUF_INIT(KMS_CT_MAX);
    struct buf back = BUF_SECRET(KMS_MATERIAL_MAX);
    struct kms_import_params p = { .valid_to = 1700000000 + 86400, .alg = KWA_AES_KW_SHA256,
                                   .bits = 3072 }, q;
    for (int i = 0; i < 300; i++) {
        uint8_t b = (uint8_t)(i * 7 + 1);
        assert_true(tr_ok(buf_append(&priv, &b, 1)));
    }
    assert_true(tr_ok(kms_import_token_seal(F->env.kr, RG, kid, &p, &priv, &tok)));
    assert_true(tok.len > priv.len);
    /* Opaque: the private key's bytes are not in it. */
    for (uint32_t i = 0; i + 32 <= tok.len; i++)
        assert_true(memcmp(tok.data + i, priv.data + 10, 32) != 0);
    assert_true(tr_ok(kms_import_token_open(F->env.kr, RG, kid, tok.data, tok.len, &q, &back)));
    assert_int_equal(q.valid_to, p.valid_to);
    assert_int_equal(q.alg, p.alg);
    assert_int_equal(q.bits, 3072);
    assert_int_equal(back.len, priv.len);
    assert_memory_equal(back.data, priv.data, priv.len);
    buf_reset(&back);

    for (uint32_t i = 0; i < tok.len; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            tok.data[i] ^= (uint8_t)(1u << bit);
            tr_result r = kms_import_token_open(F->env.kr, RG, kid, tok.data, tok.len, &q, &back);
            assert_int_equal(tr_code(r), TR_E_KMS_INVALID_IMPORT_TOKEN);
            assert_int_equal(back.len, 0);
            tok.data[i] ^= (uint8_t)(1u << bit);
        }
    }
    for (uint32_t n = 0; n < tok.len; n += 17)
        assert_int_equal(tr_code(kms_import_token_open(F->env.kr, RG, kid, tok.data, n, &q, &back)),
                         TR_E_KMS_INVALID_IMPORT_TOKEN);
    assert_int_equal(tr_code(kms_import_token_open(F->env.kr, RG, "11111111-2222-3333-4444-555555555556",
                                                   tok.data, tok.len, &q, &back)),
                     TR_E_KMS_INVALID_IMPORT_TOKEN);
    /* A replica of a multi-Region key shares the id: another region's
     * token does not open. */
    assert_int_equal(tr_code(kms_import_token_open(F->env.kr, "us-west-2", kid, tok.data, tok.len,
                                                   &q, &back)),
                     TR_E_KMS_INVALID_IMPORT_TOKEN);
    uint8_t other_root[32];
    memset(other_root, 0x5a, sizeof other_root);
    struct keyring *kr2 = NULL;
    assert_true(tr_ok(keyring_from_bytes(other_root, &kr2)));
    assert_int_equal(tr_code(kms_import_token_open(kr2, RG, kid, tok.data, tok.len, &q, &back)),
                     TR_E_KMS_INVALID_IMPORT_TOKEN);
    keyring_free(kr2);
    assert_int_equal(back.len, 0);
    /* Still good after all that. */
    assert_true(tr_ok(kms_import_token_open(F->env.kr, RG, kid, tok.data, tok.len, &q, &back)));
    buf_free(&priv);
    buf_free(&tok);
    buf_free(&back);
}

/* ---- CreateKey, DescribeKey, ListKeys --------------------------------------- */

/* The members of several imported materials: the model's constraints and
 * the combinations refused before any key is read, and the answers of an
 * EXTERNAL key with no material to rotate to or to delete. */
static void test_import_material_members(void **state)
{
    (void)state;
    const char *const A64 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const char *const F64 = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    json_t *o = call_ok("CreateKey", json_pack("{s:s}", "Origin", "EXTERNAL"));
    char id[37], arn[128], msg[400];
    snprintf(id, sizeof id, "%s", sget(json_object_get(o, "KeyMetadata"), "KeyId"));
    json_decref(o);
    key_arn(id, arn, sizeof arn);

#define IMPORT_IN(...) json_pack("{s:s, s:s, s:s, s:s, " __VA_ARGS__)
    call_err("ImportKeyMaterial",
             IMPORT_IN("s:s}", "KeyId", id, "ImportToken", "AQID", "EncryptedKeyMaterial", "AQID",
                       "ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE", "KeyMaterialId", A64),
             TR_E_VALIDATION,
             "1 validation error detected: Value 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' "
             "at 'keyMaterialId' failed to satisfy constraint: Member must satisfy regular "
             "expression pattern: ^[a-f0-9]+$");
    call_err("ImportKeyMaterial",
             IMPORT_IN("s:s}", "KeyId", id, "ImportToken", "AQID", "EncryptedKeyMaterial", "AQID",
                       "ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE", "KeyMaterialId", "abc"),
             TR_E_VALIDATION,
             "1 validation error detected: Value 'abc' at 'keyMaterialId' failed to satisfy "
             "constraint: Member must have length greater than or equal to 64");
    call_err("ImportKeyMaterial",
             IMPORT_IN("s:s}", "KeyId", id, "ImportToken", "AQID", "EncryptedKeyMaterial", "AQID",
                       "ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE",
                       "KeyMaterialDescription", "no;"),
             TR_E_VALIDATION,
             "1 validation error detected: Value 'no;' at 'keyMaterialDescription' failed to "
             "satisfy constraint: Member must satisfy regular expression pattern: "
             "^[a-zA-Z0-9:/_\\s.-]+$");
    call_err("ImportKeyMaterial",
             IMPORT_IN("s:s, s:s}", "KeyId", id, "ImportToken", "AQID", "EncryptedKeyMaterial",
                       "AQID", "ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE",
                       "ImportType", "NEW_KEY_MATERIAL", "KeyMaterialId", F64),
             TR_E_VALIDATION,
             "KeyMaterialId must not be set when the ImportType is NEW_KEY_MATERIAL");
    assert_int_equal(call_code("ImportKeyMaterial",
                               IMPORT_IN("s:s}", "KeyId", id, "ImportToken", "AQID",
                                         "EncryptedKeyMaterial", "AQID", "ExpirationModel",
                                         "KEY_MATERIAL_DOES_NOT_EXPIRE", "ImportType", "NEW")),
                     TR_E_VALIDATION);
#undef IMPORT_IN
    /* A token that is none: the members were fine. */
    call_err("ImportKeyMaterial",
             json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "KeyId", id, "ImportToken", "AQID",
                       "EncryptedKeyMaterial", "AQID", "ExpirationModel",
                       "KEY_MATERIAL_DOES_NOT_EXPIRE", "ImportType", "EXISTING_KEY_MATERIAL",
                       "KeyMaterialDescription", "a b:c/d_e.f-g"),
             TR_E_KMS_INVALID_IMPORT_TOKEN,
             "The request was rejected because the provided import token is invalid or is "
             "associated with a different KMS key.");

    /* No material: nothing to rotate to, nothing of that id to delete. */
    snprintf(msg, sizeof msg, "%s is pending import.", arn);
    call_err("RotateKeyOnDemand", json_pack("{s:s}", "KeyId", id), TR_E_KMS_INVALID_STATE, msg);
    snprintf(msg, sizeof msg, "Key material with ID %s is not associated with %s.", F64, arn);
    call_err("DeleteImportedKeyMaterial", json_pack("{s:s, s:s}", "KeyId", id, "KeyMaterialId", F64),
             TR_E_KMS_NOT_FOUND, msg);
    o = call_ok("DeleteImportedKeyMaterial", json_pack("{s:s}", "KeyId", id));
    assert_string_equal(sget(o, "KeyId"), arn);
    assert_null(json_object_get(o, "KeyMaterialId"));
    json_decref(o);
}

static void test_create_and_describe(void **state)
{
    (void)state;
    json_t *o = call_ok("CreateKey", json_pack("{s:s}", "Description", "first key"));
    json_t *md = json_object_get(o, "KeyMetadata");
    char id[37], arn[128];
    snprintf(id, sizeof id, "%s", sget(md, "KeyId"));
    key_arn(id, arn, sizeof arn);
    assert_true(kms_is_key_id(id));
    assert_string_equal(sget(md, "Arn"), arn);
    assert_string_equal(sget(md, "AWSAccountId"), ACCT);
    assert_string_equal(sget(md, "Description"), "first key");
    assert_string_equal(sget(md, "KeyState"), "Enabled");
    assert_true(json_is_true(json_object_get(md, "Enabled")));
    assert_string_equal(sget(md, "KeyUsage"), "ENCRYPT_DECRYPT");
    assert_string_equal(sget(md, "KeySpec"), "SYMMETRIC_DEFAULT");
    assert_string_equal(sget(md, "CustomerMasterKeySpec"), "SYMMETRIC_DEFAULT");
    assert_string_equal(sget(md, "Origin"), "AWS_KMS");
    assert_string_equal(sget(md, "KeyManager"), "CUSTOMER");
    assert_true(json_is_false(json_object_get(md, "MultiRegion")));
    assert_int_equal(iget(md, "CreationDate"), NOW);
    assert_string_equal(json_string_value(json_array_get(json_object_get(md,
                        "EncryptionAlgorithms"), 0)), "SYMMETRIC_DEFAULT");
    assert_int_equal(strlen(sget(md, "CurrentKeyMaterialId")), 64);
    assert_null(json_object_get(md, "DeletionDate"));
    json_decref(o);

    /* Every KeyId form finds it. */
    DO("CreateAlias", json_pack("{s:s, s:s}", "AliasName", "alias/first", "TargetKeyId", id));
    const char *forms[] = { id, arn, "alias/first",
                            "arn:aws:kms:" REGION ":" ACCT ":alias/first" };
    for (size_t i = 0; i < 4; i++) {
        o = call_ok("DescribeKey", json_pack("{s:s}", "KeyId", forms[i]));
        assert_string_equal(sget(json_object_get(o, "KeyMetadata"), "KeyId"), id);
        json_decref(o);
    }

    /* The default key policy, as KMS prints it. */
    o = call_ok("GetKeyPolicy", json_pack("{s:s}", "KeyId", id));
    assert_string_equal(sget(o, "Policy"),
        "{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n"
        "  \"Statement\" : [ {\n    \"Sid\" : \"Enable IAM User Permissions\",\n"
        "    \"Effect\" : \"Allow\",\n    \"Principal\" : {\n"
        "      \"AWS\" : \"arn:aws:iam::" ACCT ":root\"\n    },\n"
        "    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  } ]\n}");
    assert_string_equal(sget(o, "PolicyName"), "default");
    json_decref(o);
    o = call_ok("ListKeyPolicies", json_pack("{s:s}", "KeyId", id));
    assert_string_equal(json_string_value(json_array_get(json_object_get(o, "PolicyNames"), 0)),
                        "default");
    assert_true(json_is_false(json_object_get(o, "Truncated")));
    json_decref(o);
}

static void test_not_found_messages(void **state)
{
    (void)state;
    const char *id = new_key(0);
    call_err("DescribeKey", json_pack("{s:s}", "KeyId", "xyz"), TR_E_KMS_NOT_FOUND,
             "Invalid keyId 'xyz'");
    call_err("DescribeKey", json_pack("{s:s}", "KeyId", "1234abcd-12ab-34cd-56ef-1234567890ab"),
             TR_E_KMS_NOT_FOUND,
             "Key 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab' "
             "does not exist");
    call_err("Encrypt", json_pack("{s:s, s:s}", "KeyId", "alias/nope", "Plaintext", "aGk="),
             TR_E_KMS_NOT_FOUND, "Alias arn:aws:kms:us-east-1:111122223333:alias/nope is not found.");
    char other_region[128];
    snprintf(other_region, sizeof other_region, "arn:aws:kms:eu-west-1:" ACCT ":key/%s", id);
    call_err("DescribeKey", json_pack("{s:s}", "KeyId", other_region), TR_E_KMS_NOT_FOUND,
             "Invalid arn eu-west-1");
    /* Another account's ARN, for an operation that is not cross-account. */
    char other_acct[128], msg[200];
    snprintf(other_acct, sizeof other_acct, "arn:aws:kms:" REGION ":" ACCT2 ":key/%s", id);
    snprintf(msg, sizeof msg, "Key '%s' does not exist", other_acct);
    call_err("EnableKey", json_pack("{s:s}", "KeyId", other_acct), TR_E_KMS_NOT_FOUND, msg);
    /* Missing KeyId. */
    call_err("DescribeKey", json_object(), TR_E_VALIDATION,
             "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: "
             "Member must not be null");
}

static void test_cross_account(void **state)
{
    (void)state;
    const char *id = new_key(0);
    char arn[128];
    key_arn(id, arn, sizeof arn);
    char *blob = encrypt(id, "mine", NULL);

    as_account(ACCT2);
    /* A bare id is looked up in the caller's own account. */
    char msg[400];
    snprintf(msg, sizeof msg, "Key 'arn:aws:kms:" REGION ":" ACCT2 ":key/%s' does not exist", id);
    call_err("DescribeKey", json_pack("{s:s}", "KeyId", id), TR_E_KMS_NOT_FOUND, msg);
    /* The ARN reaches it, and authorization refuses (no key policy grants). */
    snprintf(msg, sizeof msg, "User: arn:aws:iam::" ACCT2 ":root is not authorized to perform: "
             "kms:DescribeKey on resource: %s because no resource-based policy allows the "
             "kms:DescribeKey action", arn);
    call_err("DescribeKey", json_pack("{s:s}", "KeyId", arn), TR_E_ACCESS_DENIED, msg);
    call_err("Decrypt", json_pack("{s:s}", "CiphertextBlob", blob), TR_E_ACCESS_DENIED,
             "The ciphertext refers to a customer master key that does not exist, does not exist "
             "in this region, or you are not allowed to access.");
    as_account(ACCT);
    decrypt_eq(blob, NULL, "mine");
    free(blob);
}

static void test_list_keys_paging(void **state)
{
    (void)state;
    char seen[5][37];
    for (int i = 0; i < 5; i++) snprintf(seen[i], 37, "%s", new_key(i));
    json_t *o = call_ok("ListKeys", json_object());
    assert_int_equal(json_array_size(json_object_get(o, "Keys")), 5);
    assert_true(json_is_false(json_object_get(o, "Truncated")));
    assert_null(json_object_get(o, "NextMarker"));
    json_decref(o);

    size_t total = 0, pages = 0;
    char marker[1100] = "";
    for (;;) {
        json_t *in = json_pack("{s:i}", "Limit", 2);
        if (marker[0]) json_object_set_new(in, "Marker", json_string(marker));
        o = call_ok("ListKeys", in);
        json_t *keys = json_object_get(o, "Keys");
        total += json_array_size(keys);
        pages++;
        size_t i;
        json_t *e;
        json_array_foreach(keys, i, e) {
            char arn[128];
            key_arn(sget(e, "KeyId"), arn, sizeof arn);
            assert_string_equal(sget(e, "KeyArn"), arn);
        }
        bool more = json_is_true(json_object_get(o, "Truncated"));
        if (more) snprintf(marker, sizeof marker, "%s", sget(o, "NextMarker"));
        json_decref(o);
        if (!more) break;
    }
    assert_int_equal(total, 5);
    assert_int_equal(pages, 3);
    call_err("ListKeys", json_pack("{s:s}", "Marker", "not-a-marker!"), TR_E_KMS_INVALID_MARKER,
             "Invalid marker");
    call_err("ListKeys", json_pack("{s:i}", "Limit", 0), TR_E_VALIDATION,
             "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
             "Member must have value greater than or equal to 1");
    call_err("ListKeys", json_pack("{s:i}", "Limit", 1001), TR_E_VALIDATION,
             "1 validation error detected: Value '1001' at 'limit' failed to satisfy constraint: "
             "Member must have value less than or equal to 1000");
}

/* A multi-Region key (CreateKey MultiRegion): an "mrk-" id, MultiRegion
 * true and its configuration (the primary, no replicas yet); a ciphertext
 * under it names it (a CT_V1_MRK blob) and decrypts without KeyId; a
 * tampered key-id byte names no key. */
static void test_multi_region_key(void **state)
{
    (void)state;
    json_t *o = call_ok("CreateKey", json_pack("{s:b, s:s}", "MultiRegion", 1, "Description", "mrk"));
    json_t *md = json_object_get(o, "KeyMetadata");
    char id[37], arn[128];
    snprintf(id, sizeof id, "%s", sget(md, "KeyId"));
    key_arn(id, arn, sizeof arn);
    assert_int_equal(strlen(id), 36);
    assert_memory_equal(id, "mrk-", 4);
    for (size_t i = 4; i < 36; i++) assert_non_null(strchr("0123456789abcdef", id[i]));
    assert_true(kms_is_key_id(id));
    assert_true(json_is_true(json_object_get(md, "MultiRegion")));
    json_t *mc = json_object_get(md, "MultiRegionConfiguration");
    assert_string_equal(sget(mc, "MultiRegionKeyType"), "PRIMARY");
    assert_string_equal(sget(json_object_get(mc, "PrimaryKey"), "Arn"), arn);
    assert_string_equal(sget(json_object_get(mc, "PrimaryKey"), "Region"), "us-east-1");
    assert_int_equal(json_array_size(json_object_get(mc, "ReplicaKeys")), 0);
    assert_true(json_is_array(json_object_get(mc, "ReplicaKeys")));
    json_decref(o);

    o = call_ok("DescribeKey", json_pack("{s:s}", "KeyId", id));
    assert_true(json_is_true(json_object_get(json_object_get(o, "KeyMetadata"), "MultiRegion")));
    json_decref(o);
    /* A single-Region key has no configuration. */
    const char *single = new_key(0);
    o = call_ok("DescribeKey", json_pack("{s:s}", "KeyId", single));
    assert_true(json_is_false(json_object_get(json_object_get(o, "KeyMetadata"), "MultiRegion")));
    assert_null(json_object_get(json_object_get(o, "KeyMetadata"), "MultiRegionConfiguration"));
    json_decref(o);

    char *blob = encrypt(id, "across regions", json_pack("{s:s}", "k", "v"));
    struct buf raw = BUF_INIT(1 << 16);
    assert_int_equal(tr_code(b64_decode(blob, strlen(blob), &raw)), TR_E_OK);
    assert_int_equal(raw.data[0], CT_V1_MRK);
    decrypt_eq(blob, json_pack("{s:s}", "k", "v"), "across regions");
    o = call_ok("Decrypt", json_pack("{s:s, s:s, s:{s:s}}", "CiphertextBlob", blob, "KeyId", arn,
                "EncryptionContext", "k", "v"));
    assert_string_equal(sget(o, "KeyId"), arn);
    json_decref(o);
    /* The version byte as a UUID key's: another key id, not this key. */
    raw.data[0] = CT_V1;
    char *t = b64(raw.data, raw.len);
    call_err("Decrypt", json_pack("{s:s, s:{s:s}}", "CiphertextBlob", t, "EncryptionContext", "k", "v"),
             TR_E_ACCESS_DENIED, "The ciphertext refers to a customer master key that does not exist, "
             "does not exist in this region, or you are not allowed to access.");
    free(t);
    buf_free(&raw);
    free(blob);
}

/* ---- Encrypt / Decrypt ------------------------------------------------------ */

static void test_round_trip(void **state)
{
    (void)state;
    const char *id = new_key(0);
    char arn[128];
    key_arn(id, arn, sizeof arn);
    DO("CreateAlias", json_pack("{s:s, s:s}", "AliasName", "alias/app", "TargetKeyId", id));

    char *p = b64("hello, tresor", 13);
    json_t *o = call_ok("Encrypt", json_pack("{s:s, s:s, s:{s:s, s:s}, s:[s]}", "KeyId",
                        "alias/app", "Plaintext", p, "EncryptionContext", "app", "billing",
                        "env", "prod", "GrantTokens", "token"));
    assert_string_equal(sget(o, "KeyId"), arn);
    assert_string_equal(sget(o, "EncryptionAlgorithm"), "SYMMETRIC_DEFAULT");
    char *blob = strdup(sget(o, "CiphertextBlob"));
    json_decref(o);

    /* No KeyId needed; the key comes from the blob. Context order is free. */
    decrypt_eq(blob, json_pack("{s:s, s:s}", "env", "prod", "app", "billing"), "hello, tresor");
    o = call_ok("Decrypt", json_pack("{s:s, s:s, s:{s:s, s:s}}", "CiphertextBlob", blob,
                "KeyId", "alias/app", "EncryptionContext", "app", "billing", "env", "prod"));
    assert_string_equal(sget(o, "KeyId"), arn);
    json_decref(o);
    o = call_ok("Decrypt", json_pack("{s:s, s:s, s:{s:s, s:s}}", "CiphertextBlob", blob,
                "KeyId", arn, "EncryptionContext", "app", "billing", "env", "prod"));
    json_decref(o);

    /* Largest plaintext. */
    char *big = malloc(4097);
    memset(big, 'x', 4096);
    big[4096] = '\0';
    char *b2 = encrypt(id, big, NULL);
    decrypt_eq(b2, NULL, big);
    free(b2);
    free(big);
    free(p);
    free(blob);
}

static void test_tamper(void **state)
{
    (void)state;
    const char *id = new_key(0);
    const char *ct_msg = "The ciphertext refers to a customer master key that does not exist, "
                         "does not exist in this region, or you are not allowed to access.";
    char *blob = encrypt(id, "secret payload", json_pack("{s:s}", "purpose", "test"));

    /* Wrong, missing and extra context: one answer, no message. */
    call_err("Decrypt", json_pack("{s:s, s:{s:s}}", "CiphertextBlob", blob, "EncryptionContext",
             "purpose", "Test"), TR_E_KMS_INVALID_CIPHERTEXT, NULL);
    call_err("Decrypt", json_pack("{s:s}", "CiphertextBlob", blob),
             TR_E_KMS_INVALID_CIPHERTEXT, NULL);
    call_err("Decrypt", json_pack("{s:s, s:{s:s, s:s}}", "CiphertextBlob", blob,
             "EncryptionContext", "purpose", "test", "x", "y"), TR_E_KMS_INVALID_CIPHERTEXT, NULL);
    call_err("Decrypt", json_pack("{s:s, s:{s:s}}", "CiphertextBlob", blob, "EncryptionContext",
             "purposes", "test"), TR_E_KMS_INVALID_CIPHERTEXT, NULL);

    /* Every byte flipped: never plaintext.  Key-id bytes name an unknown
     * key (AccessDenied, AWS's answer); every other byte is
     * InvalidCiphertextException with no message. */
    struct buf raw = BUF_INIT(1 << 16);
    assert_int_equal(tr_code(b64_decode(blob, strlen(blob), &raw)), TR_E_OK);
    for (size_t i = 0; i < raw.len; i++) {
        raw.data[i] ^= 0x01;
        char *t = b64(raw.data, raw.len);
        json_t *in = json_pack("{s:s, s:{s:s}}", "CiphertextBlob", t, "EncryptionContext",
                               "purpose", "test");
        if (i >= 1 && i <= 16) call_err("Decrypt", in, TR_E_ACCESS_DENIED, ct_msg);
        else call_err("Decrypt", in, TR_E_KMS_INVALID_CIPHERTEXT, NULL);
        free(t);
        raw.data[i] ^= 0x01;
    }
    /* Truncations and junk. */
    for (size_t n = 1; n < raw.len; n += 7) {
        char *t = b64(raw.data, n);
        enum tr_err c = call_code("Decrypt", json_pack("{s:s, s:{s:s}}", "CiphertextBlob", t,
                                                       "EncryptionContext", "purpose", "test"));
        assert_true(c == TR_E_KMS_INVALID_CIPHERTEXT || c == TR_E_ACCESS_DENIED);
        free(t);
    }
    /* Same blob, key named explicitly: the answer does not change. */
    raw.data[raw.len - 1] ^= 0x80;
    char *t = b64(raw.data, raw.len);
    call_err("Decrypt", json_pack("{s:s, s:s, s:{s:s}}", "CiphertextBlob", t, "KeyId", id,
             "EncryptionContext", "purpose", "test"), TR_E_KMS_INVALID_CIPHERTEXT, NULL);
    free(t);
    call_err("Decrypt", json_pack("{s:s, s:s}", "CiphertextBlob", "AAAA", "KeyId", id),
             TR_E_KMS_INVALID_CIPHERTEXT, NULL);
    call_err("Decrypt", json_pack("{s:s}", "CiphertextBlob", "AAAA"),
             TR_E_KMS_INVALID_CIPHERTEXT, NULL);
    buf_free(&raw);
    decrypt_eq(blob, json_pack("{s:s}", "purpose", "test"), "secret payload");
    free(blob);
}

static void test_incorrect_key(void **state)
{
    (void)state;
    const char *a = new_key(0);
    const char *b = new_key(1);
    char *blob = encrypt(a, "for a", NULL);
    call_err("Decrypt", json_pack("{s:s, s:s}", "CiphertextBlob", blob, "KeyId", b),
             TR_E_KMS_INCORRECT_KEY,
             "The key ID in the request does not identify a CMK that can perform this operation.");
    call_err("ReEncrypt", json_pack("{s:s, s:s, s:s}", "CiphertextBlob", blob, "SourceKeyId", b,
             "DestinationKeyId", b), TR_E_KMS_INCORRECT_KEY,
             "The key ID in the request does not identify a CMK that can perform this operation.");
    call_err("Decrypt", json_pack("{s:s, s:s}", "CiphertextBlob", blob, "KeyId", "alias/none"),
             TR_E_KMS_NOT_FOUND, "Alias arn:aws:kms:us-east-1:111122223333:alias/none is not found.");
    free(blob);
}

/* ---- key states -------------------------------------------------------------- */

static void test_states(void **state)
{
    (void)state;
    const char *id = new_key(0);
    char arn[128], disabled[200], pending[200];
    key_arn(id, arn, sizeof arn);
    snprintf(disabled, sizeof disabled, "%s is disabled.", arn);
    snprintf(pending, sizeof pending, "%s is pending deletion.", arn);
    char *blob = encrypt(id, "before", NULL);

    DO("DisableKey", json_pack("{s:s}", "KeyId", id));
    DO("DisableKey", json_pack("{s:s}", "KeyId", id));   /* idempotent */
    call_err("Encrypt", json_pack("{s:s, s:s}", "KeyId", id, "Plaintext", "aGk="),
             TR_E_KMS_DISABLED, disabled);
    call_err("Decrypt", json_pack("{s:s}", "CiphertextBlob", blob), TR_E_KMS_DISABLED, disabled);
    call_err("GenerateDataKey", json_pack("{s:s, s:s}", "KeyId", id, "KeySpec", "AES_256"),
             TR_E_KMS_DISABLED, disabled);
    call_err("EnableKeyRotation", json_pack("{s:s}", "KeyId", id), TR_E_KMS_DISABLED, disabled);
    call_err("RotateKeyOnDemand", json_pack("{s:s}", "KeyId", id), TR_E_KMS_DISABLED, disabled);
    json_t *o = call_ok("DescribeKey", json_pack("{s:s}", "KeyId", id));
    assert_string_equal(sget(json_object_get(o, "KeyMetadata"), "KeyState"), "Disabled");
    assert_true(json_is_false(json_object_get(json_object_get(o, "KeyMetadata"), "Enabled")));
    json_decref(o);
    DO("EnableKey", json_pack("{s:s}", "KeyId", id));
    decrypt_eq(blob, NULL, "before");

    /* ScheduleKeyDeletion: validation, reply, then the pending state. */
    call_err("ScheduleKeyDeletion", json_pack("{s:s, s:i}", "KeyId", id, "PendingWindowInDays", 5),
             TR_E_VALIDATION, "PendingWindowInDays should be between 7 and 30, but it is 5");
    call_err("ScheduleKeyDeletion", json_pack("{s:s, s:i}", "KeyId", id, "PendingWindowInDays", 0),
             TR_E_VALIDATION, "1 validation error detected: Value '0' at 'pendingWindowInDays' "
             "failed to satisfy constraint: Member must have value greater than or equal to 1");
    o = call_ok("ScheduleKeyDeletion", json_pack("{s:s, s:i}", "KeyId", id,
                "PendingWindowInDays", 7));
    assert_string_equal(sget(o, "KeyId"), arn);
    assert_string_equal(sget(o, "KeyState"), "PendingDeletion");
    assert_int_equal(iget(o, "PendingWindowInDays"), 7);
    assert_int_equal(iget(o, "DeletionDate"), NOW + 7 * DAY);
    json_decref(o);

    call_err("Encrypt", json_pack("{s:s, s:s}", "KeyId", id, "Plaintext", "aGk="),
             TR_E_KMS_INVALID_STATE, pending);
    call_err("Decrypt", json_pack("{s:s}", "CiphertextBlob", blob), TR_E_KMS_INVALID_STATE, pending);
    call_err("EnableKey", json_pack("{s:s}", "KeyId", id), TR_E_KMS_INVALID_STATE, pending);
    call_err("DisableKey", json_pack("{s:s}", "KeyId", id), TR_E_KMS_INVALID_STATE, pending);
    call_err("ScheduleKeyDeletion", json_pack("{s:s}", "KeyId", id), TR_E_KMS_INVALID_STATE, pending);
    call_err("UpdateKeyDescription", json_pack("{s:s, s:s}", "KeyId", id, "Description", "x"),
             TR_E_KMS_INVALID_STATE, pending);
    call_err("TagResource", json_pack("{s:s, s:[{s:s, s:s}]}", "KeyId", id, "Tags", "TagKey", "a",
             "TagValue", "b"), TR_E_KMS_INVALID_STATE, pending);
    call_err("CreateAlias", json_pack("{s:s, s:s}", "AliasName", "alias/late", "TargetKeyId", id),
             TR_E_KMS_INVALID_STATE, pending);
    /* What still works while pending deletion. */
    o = call_ok("DescribeKey", json_pack("{s:s}", "KeyId", id));
    json_t *md = json_object_get(o, "KeyMetadata");
    assert_string_equal(sget(md, "KeyState"), "PendingDeletion");
    assert_int_equal(iget(md, "DeletionDate"), NOW + 7 * DAY);
    assert_int_equal(iget(md, "PendingDeletionWindowInDays"), 7);
    assert_true(json_is_false(json_object_get(md, "Enabled")));
    json_decref(o);
    json_decref(call_ok("GetKeyPolicy", json_pack("{s:s}", "KeyId", id)));
    json_decref(call_ok("ListResourceTags", json_pack("{s:s}", "KeyId", id)));
    o = call_ok("GetKeyRotationStatus", json_pack("{s:s}", "KeyId", id));
    assert_true(json_is_false(json_object_get(o, "KeyRotationEnabled")));
    json_decref(o);

    /* CancelKeyDeletion: back to Disabled, as AWS does. */
    o = call_ok("CancelKeyDeletion", json_pack("{s:s}", "KeyId", id));
    assert_string_equal(sget(o, "KeyId"), arn);
    json_decref(o);
    o = call_ok("DescribeKey", json_pack("{s:s}", "KeyId", id));
    md = json_object_get(o, "KeyMetadata");
    assert_string_equal(sget(md, "KeyState"), "Disabled");
    assert_null(json_object_get(md, "DeletionDate"));
    json_decref(o);
    char not_pending[200];
    snprintf(not_pending, sizeof not_pending, "%s is not pending deletion.", arn);
    call_err("CancelKeyDeletion", json_pack("{s:s}", "KeyId", id), TR_E_KMS_INVALID_STATE,
             not_pending);
    DO("EnableKey", json_pack("{s:s}", "KeyId", id));
    decrypt_eq(blob, NULL, "before");

    DO("UpdateKeyDescription", json_pack("{s:s, s:s}", "KeyId", id, "Description", "renamed"));
    o = call_ok("DescribeKey", json_pack("{s:s}", "KeyId", id));
    assert_string_equal(sget(json_object_get(o, "KeyMetadata"), "Description"), "renamed");
    json_decref(o);
    free(blob);
}

/* ---- rotation ---------------------------------------------------------------- */

static void test_rotation_on_demand(void **state)
{
    (void)state;
    const char *id = new_key(0);
    char *c1 = encrypt(id, "old material", NULL);
    json_t *o = call_ok("DescribeKey", json_pack("{s:s}", "KeyId", id));
    char mid1[65];
    snprintf(mid1, sizeof mid1, "%s", sget(json_object_get(o, "KeyMetadata"), "CurrentKeyMaterialId"));
    json_decref(o);

    o = call_ok("RotateKeyOnDemand", json_pack("{s:s}", "KeyId", id));
    assert_string_equal(sget(o, "KeyId"), id);
    json_decref(o);
    char *c2 = encrypt(id, "new material", NULL);
    decrypt_eq(c1, NULL, "old material");
    decrypt_eq(c2, NULL, "new material");

    o = call_ok("DescribeKey", json_pack("{s:s}", "KeyId", id));
    assert_string_not_equal(sget(json_object_get(o, "KeyMetadata"), "CurrentKeyMaterialId"), mid1);
    json_decref(o);
    o = call_ok("Decrypt", json_pack("{s:s}", "CiphertextBlob", c1));
    assert_string_equal(sget(o, "KeyMaterialId"), mid1);
    json_decref(o);

    o = call_ok("ListKeyRotations", json_pack("{s:s}", "KeyId", id));
    json_t *rot = json_object_get(o, "Rotations");
    assert_int_equal(json_array_size(rot), 1);
    assert_string_equal(sget(json_array_get(rot, 0), "RotationType"), "ON_DEMAND");
    assert_int_equal(iget(json_array_get(rot, 0), "RotationDate"), NOW);
    assert_string_equal(sget(json_array_get(rot, 0), "KeyId"), id);
    assert_string_equal(sget(json_array_get(rot, 0), "KeyMaterialState"), "CURRENT");
    assert_true(json_is_false(json_object_get(o, "Truncated")));
    json_decref(o);
    o = call_ok("ListKeyRotations", json_pack("{s:s, s:s}", "KeyId", id, "IncludeKeyMaterial",
                "ALL_KEY_MATERIAL"));
    rot = json_object_get(o, "Rotations");
    assert_int_equal(json_array_size(rot), 2);
    assert_string_equal(sget(json_array_get(rot, 0), "KeyMaterialState"), "NON_CURRENT");
    assert_null(json_object_get(json_array_get(rot, 0), "RotationType"));
    json_decref(o);

    /* Paging over rotations, and the on-demand limit. */
    for (int i = 1; i < 25; i++)
        json_decref(call_ok("RotateKeyOnDemand", json_pack("{s:s}", "KeyId", id)));
    char arn[128], msg[256];
    key_arn(id, arn, sizeof arn);
    snprintf(msg, sizeof msg, "%s has reached the maximum number of on-demand rotations (25).", arn);
    call_err("RotateKeyOnDemand", json_pack("{s:s}", "KeyId", id), TR_E_KMS_LIMIT_EXCEEDED, msg);
    size_t total = 0;
    char marker[1100] = "";
    for (;;) {
        json_t *in = json_pack("{s:s, s:i}", "KeyId", id, "Limit", 10);
        if (marker[0]) json_object_set_new(in, "Marker", json_string(marker));
        o = call_ok("ListKeyRotations", in);
        total += json_array_size(json_object_get(o, "Rotations"));
        bool more = json_is_true(json_object_get(o, "Truncated"));
        if (more) snprintf(marker, sizeof marker, "%s", sget(o, "NextMarker"));
        json_decref(o);
        if (!more) break;
    }
    assert_int_equal(total, 25);
    decrypt_eq(c1, NULL, "old material");
    free(c1);
    free(c2);
}

static void test_rotation_status(void **state)
{
    (void)state;
    const char *id = new_key(0);
    json_t *o = call_ok("GetKeyRotationStatus", json_pack("{s:s}", "KeyId", id));
    assert_true(json_is_false(json_object_get(o, "KeyRotationEnabled")));
    assert_null(json_object_get(o, "NextRotationDate"));
    json_decref(o);

    DO("EnableKeyRotation", json_pack("{s:s}", "KeyId", id));
    o = call_ok("GetKeyRotationStatus", json_pack("{s:s}", "KeyId", id));
    assert_true(json_is_true(json_object_get(o, "KeyRotationEnabled")));
    assert_int_equal(iget(o, "RotationPeriodInDays"), 365);
    assert_int_equal(iget(o, "NextRotationDate"), NOW + 365 * DAY);
    json_decref(o);

    /* A new period keeps the schedule's base. */
    DO("EnableKeyRotation", json_pack("{s:s, s:i}", "KeyId", id, "RotationPeriodInDays", 90));
    o = call_ok("GetKeyRotationStatus", json_pack("{s:s}", "KeyId", id));
    assert_int_equal(iget(o, "RotationPeriodInDays"), 90);
    assert_int_equal(iget(o, "NextRotationDate"), NOW + 90 * DAY);
    json_decref(o);

    call_err("EnableKeyRotation", json_pack("{s:s, s:i}", "KeyId", id, "RotationPeriodInDays", 89),
             TR_E_VALIDATION, "1 validation error detected: Value '89' at 'rotationPeriodInDays' "
             "failed to satisfy constraint: Member must have value greater than or equal to 90");
    call_err("EnableKeyRotation", json_pack("{s:s, s:i}", "KeyId", id, "RotationPeriodInDays", 2561),
             TR_E_VALIDATION, "1 validation error detected: Value '2561' at 'rotationPeriodInDays' "
             "failed to satisfy constraint: Member must have value less than or equal to 2560");
    DO("DisableKeyRotation", json_pack("{s:s}", "KeyId", id));
    o = call_ok("GetKeyRotationStatus", json_pack("{s:s}", "KeyId", id));
    assert_true(json_is_false(json_object_get(o, "KeyRotationEnabled")));
    json_decref(o);
}

/* kms_reply_with_time: the reply handed out with the time added; a NULL
 * reply (json_pack out of memory) or one that is not an object fails
 * TR_E_INTERNAL, and *out stays untouched. */
static void test_reply_with_time(void **state)
{
    (void)state;
    json_t *out = NULL;
    assert_true(tr_ok(kms_reply_with_time(json_pack("{s:s}", "KeyId", "k"), "DeletionDate",
                                          1700000000, &out)));
    assert_non_null(out);
    assert_string_equal(json_string_value(json_object_get(out, "KeyId")), "k");
    assert_int_equal(json_integer_value(json_object_get(out, "DeletionDate")), 1700000000);
    json_decref(out);

    out = NULL;
    tr_result r = kms_reply_with_time(NULL, "DeletionDate", 1, &out);
    assert_int_equal(tr_code(r), TR_E_INTERNAL);
    assert_null(out);
    r = kms_reply_with_time(json_array(), "DeletionDate", 1, &out);   /* taken and released */
    assert_int_equal(tr_code(r), TR_E_INTERNAL);
    assert_null(out);
}

/* ---- maintenance ---------------------------------------------------------- */

static void test_maintenance(void **state)
{
    (void)state;
    char doomed[37], rotating[37], disabled[37];
    snprintf(doomed, sizeof doomed, "%s", new_key(0));
    snprintf(rotating, sizeof rotating, "%s", new_key(1));
    snprintf(disabled, sizeof disabled, "%s", new_key(2));
    char arn[128];
    key_arn(doomed, arn, sizeof arn);

    char *c_doomed = encrypt(doomed, "goes away", NULL);
    char *c_rot = encrypt(rotating, "survives rotation", NULL);
    DO("CreateAlias", json_pack("{s:s, s:s}", "AliasName", "alias/doomed", "TargetKeyId", doomed));
    DO("TagResource", json_pack("{s:s, s:[{s:s, s:s}]}", "KeyId", doomed, "Tags", "TagKey",
            "k", "TagValue", "v"));
    json_decref(call_ok("ScheduleKeyDeletion", json_pack("{s:s, s:i}", "KeyId", doomed,
                        "PendingWindowInDays", 7)));
    DO("EnableKeyRotation", json_pack("{s:s, s:i}", "KeyId", rotating, "RotationPeriodInDays", 90));
    DO("EnableKeyRotation", json_pack("{s:s, s:i}", "KeyId", disabled, "RotationPeriodInDays", 90));
    DO("DisableKey", json_pack("{s:s}", "KeyId", disabled));

    /* Nothing is due yet. */
    assert_int_equal(tr_code(kms_maintenance(&F->env, NOW + 6 * DAY)), TR_E_OK);
    json_decref(call_ok("DescribeKey", json_pack("{s:s}", "KeyId", doomed)));

    /* The waiting period is over: the key, its alias and tags go. */
    assert_int_equal(tr_code(kms_maintenance(&F->env, NOW + 7 * DAY)), TR_E_OK);
    char msg[200];
    snprintf(msg, sizeof msg, "Key '%s' does not exist", arn);
    call_err("DescribeKey", json_pack("{s:s}", "KeyId", doomed), TR_E_KMS_NOT_FOUND, msg);
    call_err("DescribeKey", json_pack("{s:s}", "KeyId", "alias/doomed"), TR_E_KMS_NOT_FOUND,
             "Alias arn:aws:kms:us-east-1:111122223333:alias/doomed is not found.");
    struct tag_rec *tags = NULL;
    size_t ntags = 9;
    assert_int_equal(tr_code((*F->env.st)->tag_list(F->env.st, arn, &tags, &ntags)), TR_E_OK);
    assert_int_equal(ntags, 0);
    tag_list_free(tags, ntags);
    call_err("Decrypt", json_pack("{s:s}", "CiphertextBlob", c_doomed), TR_E_ACCESS_DENIED,
             "The ciphertext refers to a customer master key that does not exist, does not exist "
             "in this region, or you are not allowed to access.");

    /* Rotation is due: one AUTOMATIC rotation, next date one period on. */
    assert_int_equal(tr_code(kms_maintenance(&F->env, NOW + 91 * DAY)), TR_E_OK);
    json_t *o = call_ok("ListKeyRotations", json_pack("{s:s}", "KeyId", rotating));
    json_t *rot = json_object_get(o, "Rotations");
    assert_int_equal(json_array_size(rot), 1);
    assert_string_equal(sget(json_array_get(rot, 0), "RotationType"), "AUTOMATIC");
    assert_int_equal(iget(json_array_get(rot, 0), "RotationDate"), NOW + 91 * DAY);
    json_decref(o);
    o = call_ok("GetKeyRotationStatus", json_pack("{s:s}", "KeyId", rotating));
    assert_int_equal(iget(o, "NextRotationDate"), NOW + 180 * DAY);
    json_decref(o);
    /* Running again at the same time does nothing more. */
    assert_int_equal(tr_code(kms_maintenance(&F->env, NOW + 91 * DAY)), TR_E_OK);
    o = call_ok("ListKeyRotations", json_pack("{s:s}", "KeyId", rotating));
    assert_int_equal(json_array_size(json_object_get(o, "Rotations")), 1);
    json_decref(o);
    /* A disabled key is not rotated ... */
    o = call_ok("ListKeyRotations", json_pack("{s:s}", "KeyId", disabled));
    assert_int_equal(json_array_size(json_object_get(o, "Rotations")), 0);
    json_decref(o);
    /* ... until it is enabled again; long overdue rotates once. */
    DO("EnableKey", json_pack("{s:s}", "KeyId", disabled));
    assert_int_equal(tr_code(kms_maintenance(&F->env, NOW + 400 * DAY)), TR_E_OK);
    o = call_ok("ListKeyRotations", json_pack("{s:s}", "KeyId", disabled));
    assert_int_equal(json_array_size(json_object_get(o, "Rotations")), 1);
    json_decref(o);
    o = call_ok("GetKeyRotationStatus", json_pack("{s:s}", "KeyId", disabled));
    assert_int_equal(iget(o, "NextRotationDate"), NOW + 490 * DAY);
    json_decref(o);

    decrypt_eq(c_rot, NULL, "survives rotation");
    char *c_new = encrypt(rotating, "after rotation", NULL);
    decrypt_eq(c_new, NULL, "after rotation");
    free(c_new);
    free(c_rot);
    free(c_doomed);
}

/* ---- aliases ------------------------------------------------------------- */

static void test_aliases(void **state)
{
    (void)state;
    char a[37], b[37];
    snprintf(a, sizeof a, "%s", new_key(0));
    snprintf(b, sizeof b, "%s", new_key(1));
    char arn_b[128];
    key_arn(b, arn_b, sizeof arn_b);

    DO("CreateAlias", json_pack("{s:s, s:s}", "AliasName", "alias/one", "TargetKeyId", a));
    DO("CreateAlias", json_pack("{s:s, s:s}", "AliasName", "alias/two", "TargetKeyId", arn_b));
    call_err("CreateAlias", json_pack("{s:s, s:s}", "AliasName", "alias/one", "TargetKeyId", b),
             TR_E_KMS_ALREADY_EXISTS,
             "An alias with the name arn:aws:kms:us-east-1:111122223333:alias/one already exists");
    call_err("CreateAlias", json_pack("{s:s, s:s}", "AliasName", "one", "TargetKeyId", a),
             TR_E_VALIDATION, "Alias must start with the prefix \"alias/\". Please see "
             "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html");
    call_err("CreateAlias", json_pack("{s:s, s:s}", "AliasName", "alias/bad name", "TargetKeyId", a),
             TR_E_VALIDATION, "1 validation error detected: Value 'alias/bad name' at 'aliasName' "
             "failed to satisfy constraint: Member must satisfy regular expression pattern: "
             "^[a-zA-Z0-9:/_-]+$");
    call_err("CreateAlias", json_pack("{s:s, s:s}", "AliasName", "alias/a:b", "TargetKeyId", a),
             TR_E_VALIDATION, "alias/a:b contains invalid characters for an alias");
    call_err("CreateAlias", json_pack("{s:s, s:s}", "AliasName", "alias/aws/mine", "TargetKeyId", a),
             TR_E_KMS_NOT_AUTHORIZED, NULL);
    call_err("CreateAlias", json_pack("{s:s, s:s}", "AliasName", "alias/three", "TargetKeyId",
             "alias/one"), TR_E_VALIDATION, "Aliases must refer to keys. Not aliases");
    call_err("CreateAlias", json_pack("{s:s, s:s}", "AliasName", "", "TargetKeyId", a),
             TR_E_VALIDATION, "1 validation error detected: Value '' at 'aliasName' failed to "
             "satisfy constraint: Member must have length greater than or equal to 1");
    char long_name[300] = "alias/";
    memset(long_name + 6, 'x', 251);
    long_name[257] = '\0';
    assert_int_equal(call_code("CreateAlias", json_pack("{s:s, s:s}", "AliasName", long_name,
                     "TargetKeyId", a)), TR_E_VALIDATION);

    /* UpdateAlias moves it; ListAliases sees the change. */
    DO("UpdateAlias", json_pack("{s:s, s:s}", "AliasName", "alias/one", "TargetKeyId", b));
    json_t *o = call_ok("DescribeKey", json_pack("{s:s}", "KeyId", "alias/one"));
    assert_string_equal(sget(json_object_get(o, "KeyMetadata"), "KeyId"), b);
    json_decref(o);
    call_err("UpdateAlias", json_pack("{s:s, s:s}", "AliasName", "alias/none", "TargetKeyId", b),
             TR_E_KMS_NOT_FOUND, "Alias arn:aws:kms:us-east-1:111122223333:alias/none is not found.");

    /* Without KeyId: the 14 predefined aws/ aliases (no target, no
     * dates) and ours, in name order. */
    o = call_ok("ListAliases", json_object());
    json_t *al = json_object_get(o, "Aliases");
    assert_int_equal(json_array_size(al), 16);
    json_t *e = json_array_get(al, 0);
    assert_string_equal(sget(e, "AliasName"), "alias/aws/acm");
    assert_string_equal(sget(e, "AliasArn"), "arn:aws:kms:us-east-1:111122223333:alias/aws/acm");
    assert_int_equal(json_object_size(e), 2);
    assert_string_equal(sget(json_array_get(al, 13), "AliasName"), "alias/aws/xray");
    e = json_array_get(al, 14);
    assert_string_equal(sget(e, "AliasName"), "alias/one");
    assert_string_equal(sget(e, "AliasArn"), "arn:aws:kms:us-east-1:111122223333:alias/one");
    assert_string_equal(sget(e, "TargetKeyId"), b);
    assert_int_equal(iget(e, "CreationDate"), NOW);
    assert_int_equal(iget(e, "LastUpdatedDate"), NOW);
    assert_true(json_is_false(json_object_get(o, "Truncated")));
    json_decref(o);
    o = call_ok("ListAliases", json_pack("{s:s}", "KeyId", a));
    assert_int_equal(json_array_size(json_object_get(o, "Aliases")), 0);
    json_decref(o);
    o = call_ok("ListAliases", json_pack("{s:s, s:i}", "KeyId", b, "Limit", 1));
    assert_int_equal(json_array_size(json_object_get(o, "Aliases")), 1);
    assert_true(json_is_true(json_object_get(o, "Truncated")));
    char marker[1100];
    snprintf(marker, sizeof marker, "%s", sget(o, "NextMarker"));
    json_decref(o);
    o = call_ok("ListAliases", json_pack("{s:s, s:i, s:s}", "KeyId", b, "Limit", 1, "Marker", marker));
    assert_string_equal(sget(json_array_get(json_object_get(o, "Aliases"), 0), "AliasName"),
                        "alias/two");
    assert_true(json_is_false(json_object_get(o, "Truncated")));
    json_decref(o);

    DO("DeleteAlias", json_pack("{s:s}", "AliasName", "alias/one"));
    call_err("DeleteAlias", json_pack("{s:s}", "AliasName", "alias/one"), TR_E_KMS_NOT_FOUND,
             "Alias arn:aws:kms:us-east-1:111122223333:alias/one is not found.");
    call_err("DeleteAlias", json_pack("{s:s}", "AliasName", "alias/aws/secretsmanager"),
             TR_E_KMS_NOT_AUTHORIZED, NULL);
    /* Deleting an alias works while its key is pending deletion. */
    json_decref(call_ok("ScheduleKeyDeletion", json_pack("{s:s}", "KeyId", b)));
    char pending[200];
    snprintf(pending, sizeof pending, "%s is pending deletion.", arn_b);
    call_err("UpdateAlias", json_pack("{s:s, s:s}", "AliasName", "alias/two", "TargetKeyId", b),
             TR_E_KMS_INVALID_STATE, pending);
    DO("UpdateAlias", json_pack("{s:s, s:s}", "AliasName", "alias/two", "TargetKeyId", a));
    DO("DeleteAlias", json_pack("{s:s}", "AliasName", "alias/two"));
}

/* ---- tags ---------------------------------------------------------------- */

static void test_create_key_tags(void **state)
{
    (void)state;
    /* A tag object without TagKey, a reserved key, 51 tags: no key is made. */
    call_err("CreateKey", json_pack("{s:[{s:s, s:s}]}", "Tags", "Team", "blue", "TagValue", ""),
             TR_E_VALIDATION, "1 validation error detected: Value null at 'tags.1.member.tagKey' "
             "failed to satisfy constraint: Member must not be null");
    call_err("CreateKey", json_pack("{s:[{s:s, s:s}]}", "Tags", "TagKey", "aws:cost", "TagValue",
             "1"), TR_E_KMS_TAG, "Tags beginning with aws: are reserved");
    json_t *many = json_array();
    for (int i = 0; i < 51; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%02d", i);
        json_array_append_new(many, json_pack("{s:s, s:s}", "TagKey", k, "TagValue", ""));
    }
    call_err("CreateKey", json_pack("{s:o}", "Tags", many), TR_E_KMS_TAG, "Too many tags");
    call_err("CreateKey", json_pack("{s:s}", "Tags", "x"), TR_E_SERIALIZATION,
             "Unexpected value for member 'Tags': expected list");
    json_t *o = call_ok("ListKeys", json_object());
    assert_int_equal(json_array_size(json_object_get(o, "Keys")), 0);
    json_decref(o);
}

static void test_tag_rules(void **state)
{
    (void)state;
    json_t *o = call_ok("CreateKey", json_pack("{s:[{s:s, s:s}]}", "Tags", "TagKey", "Env",
                        "TagValue", "dev"));
    char id[37];
    snprintf(id, sizeof id, "%s", sget(json_object_get(o, "KeyMetadata"), "KeyId"));
    json_decref(o);

    DO("TagResource", json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}]}", "KeyId", id, "Tags",
            "TagKey", "Team", "TagValue", "blue", "TagKey", "Env", "TagValue", "prod"));
    o = call_ok("ListResourceTags", json_pack("{s:s}", "KeyId", id));
    json_t *t = json_object_get(o, "Tags");
    assert_int_equal(json_array_size(t), 2);
    assert_string_equal(sget(json_array_get(t, 0), "TagKey"), "Env");
    assert_string_equal(sget(json_array_get(t, 0), "TagValue"), "prod");
    assert_string_equal(sget(json_array_get(t, 1), "TagKey"), "Team");
    assert_true(json_is_false(json_object_get(o, "Truncated")));
    json_decref(o);

    call_err("TagResource", json_pack("{s:s, s:[{s:s, s:s}]}", "KeyId", id, "Tags", "TagKey",
             "aws:owner", "TagValue", "x"), TR_E_KMS_TAG, "Tags beginning with aws: are reserved");
    call_err("TagResource", json_pack("{s:s, s:[{s:s, s:s}]}", "KeyId", id, "Tags", "TagKey",
             "AWS:Owner", "TagValue", "x"), TR_E_KMS_TAG, "Tags beginning with aws: are reserved");
    call_err("TagResource", json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}]}", "KeyId", id, "Tags",
             "TagKey", "a", "TagValue", "1", "TagKey", "a", "TagValue", "2"), TR_E_KMS_TAG,
             "Duplicate tag keys");
    char key129[130];
    memset(key129, 'k', 129);
    key129[129] = '\0';
    char msg[400];
    snprintf(msg, sizeof msg, "1 validation error detected: Value '%s' at 'tags.2.member.tagKey' "
             "failed to satisfy constraint: Member must have length less than or equal to 128",
             key129);
    call_err("TagResource", json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}]}", "KeyId", id, "Tags",
             "TagKey", "ok", "TagValue", "1", "TagKey", key129, "TagValue", "2"),
             TR_E_VALIDATION, msg);
    call_err("TagResource", json_pack("{s:s, s:[{s:s}]}", "KeyId", id, "Tags", "TagKey", "k"),
             TR_E_VALIDATION, "1 validation error detected: Value null at 'tags.1.member.tagValue' "
             "failed to satisfy constraint: Member must not be null");
    call_err("TagResource", json_pack("{s:s}", "KeyId", id), TR_E_VALIDATION,
             "1 validation error detected: Value null at 'tags' failed to satisfy constraint: "
             "Member must not be null");

    /* At most 50 tags on a key: 2 there, 48 more fit, then no more. */
    json_t *many = json_array();
    for (int i = 0; i < 48; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%02d", i);
        json_array_append_new(many, json_pack("{s:s, s:s}", "TagKey", k, "TagValue", "v"));
    }
    DO("TagResource", json_pack("{s:s, s:o}", "KeyId", id, "Tags", many));
    call_err("TagResource", json_pack("{s:s, s:[{s:s, s:s}]}", "KeyId", id, "Tags", "TagKey",
             "one-more", "TagValue", "v"), TR_E_KMS_TAG, "Too many tags");
    /* Replacing an existing tag is not "more". */
    DO("TagResource", json_pack("{s:s, s:[{s:s, s:s}]}", "KeyId", id, "Tags", "TagKey",
            "Env", "TagValue", "stage"));

    /* Paging: Limit 20 over 50 tags. */
    size_t total = 0;
    char marker[1100] = "";
    for (;;) {
        json_t *in = json_pack("{s:s, s:i}", "KeyId", id, "Limit", 20);
        if (marker[0]) json_object_set_new(in, "Marker", json_string(marker));
        o = call_ok("ListResourceTags", in);
        total += json_array_size(json_object_get(o, "Tags"));
        bool more = json_is_true(json_object_get(o, "Truncated"));
        if (more) snprintf(marker, sizeof marker, "%s", sget(o, "NextMarker"));
        json_decref(o);
        if (!more) break;
    }
    assert_int_equal(total, 50);

    DO("UntagResource", json_pack("{s:s, s:[s, s]}", "KeyId", id, "TagKeys", "Env", "absent"));
    o = call_ok("ListResourceTags", json_pack("{s:s, s:i}", "KeyId", id, "Limit", 50));
    assert_int_equal(json_array_size(json_object_get(o, "Tags")), 49);
    json_decref(o);
    call_err("UntagResource", json_pack("{s:s, s:[s]}", "KeyId", id, "TagKeys", "aws:x"),
             TR_E_KMS_TAG, "Tags beginning with aws: are reserved");
}

/* ---- key policies ------------------------------------------------------------ */

static const char GOOD_POLICY[] =
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"admin\",\"Effect\":\"Allow\","
    "\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:root\"},\"Action\":\"kms:*\","
    "\"Resource\":\"*\"}]}";

static void policy_err(const char *policy, enum tr_err code, const char *msg)
{
    call_err("CreateKey", json_pack("{s:s}", "Policy", policy), code, msg);
}

static void test_policies(void **state)
{
    (void)state;
    const char *lockout = "The new key policy will not allow you to update the key policy in "
                          "the future.";
    const char *bad_principal = "Policy contains a statement with one or more invalid principals.";

    json_t *o = call_ok("CreateKey", json_pack("{s:s}", "Policy", GOOD_POLICY));
    char id[37];
    snprintf(id, sizeof id, "%s", sget(json_object_get(o, "KeyMetadata"), "KeyId"));
    json_decref(o);
    o = call_ok("GetKeyPolicy", json_pack("{s:s, s:s}", "KeyId", id, "PolicyName", "default"));
    assert_string_equal(sget(o, "Policy"), GOOD_POLICY);   /* stored as given */
    json_decref(o);
    call_err("GetKeyPolicy", json_pack("{s:s, s:s}", "KeyId", id, "PolicyName", "other"),
             TR_E_KMS_NOT_FOUND, "No such policy exists");

    /* The engine's grammar and wording (policy_compile, POLICY_KEY). */
    const char *syntax = "Syntax errors in policy.";
    policy_err("not json", TR_E_KMS_MALFORMED_POLICY, "This policy contains invalid Json");
    policy_err("[1]", TR_E_KMS_MALFORMED_POLICY, syntax);
    policy_err("{\"Version\":\"2012-10-17\",\"Version\":\"2012-10-17\",\"Statement\":[]}",
               TR_E_KMS_MALFORMED_POLICY, "This policy contains invalid Json");
    policy_err("{\"Version\":\"2010-01-01\",\"Statement\":{}}", TR_E_KMS_MALFORMED_POLICY, syntax);
    policy_err("{\"Statement\":[]}", TR_E_KMS_MALFORMED_POLICY, syntax);
    policy_err("{\"Foo\":1,\"Statement\":[]}", TR_E_KMS_MALFORMED_POLICY, syntax);
    policy_err("{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:*\","
               "\"Resource\":\"*\",\"Bogus\":1}}", TR_E_KMS_MALFORMED_POLICY, syntax);
    policy_err("{\"Statement\":{\"Effect\":\"Maybe\",\"Principal\":\"*\",\"Action\":\"kms:*\","
               "\"Resource\":\"*\"}}", TR_E_KMS_MALFORMED_POLICY, syntax);
    policy_err("{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"kms:*\",\"Resource\":\"*\"}}",
               TR_E_KMS_MALFORMED_POLICY, "Missing required field Principal");
    policy_err("{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Resource\":\"*\"}}",
               TR_E_KMS_MALFORMED_POLICY, "Policy statement must contain actions.");
    policy_err("{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:*\"}}",
               TR_E_KMS_MALFORMED_POLICY, "Policy statement must contain resources.");
    policy_err("{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"bob\"},"
               "\"Action\":\"kms:*\",\"Resource\":\"*\"}}", TR_E_KMS_MALFORMED_POLICY, bad_principal);
    policy_err("{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"Nobody\":\"x\"},"
               "\"Action\":\"kms:*\",\"Resource\":\"*\"}}", TR_E_KMS_MALFORMED_POLICY, bad_principal);

    /* Lockout safety check. */
    policy_err("{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"444455556666\"},"
               "\"Action\":\"kms:*\",\"Resource\":\"*\"}}", TR_E_KMS_MALFORMED_POLICY, lockout);
    policy_err("{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:Encrypt\","
               "\"Resource\":\"*\"}}", TR_E_KMS_MALFORMED_POLICY, lockout);
    policy_err("{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:*\","
               "\"Resource\":\"*\",\"Condition\":{\"Bool\":{\"aws:SecureTransport\":\"true\"}}}}",
               TR_E_KMS_MALFORMED_POLICY, lockout);
    policy_err("{\"Statement\":{\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"kms:*\","
               "\"Resource\":\"*\"}}", TR_E_KMS_MALFORMED_POLICY, lockout);
    /* ... passes for the account id, globs, "*", and with the bypass. */
    static const char *const ok_policies[] = {
        "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"111122223333\"},"
        "\"Action\":\"KMS:put*\",\"Resource\":\"*\"}}",
        "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"arn:aws:iam::444455556666:"
        "root\",\"*\"]},\"Action\":[\"kms:Encrypt\",\"kms:*Policy\"],\"Resource\":\"*\"}}",
        "{\"Version\":\"2008-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\","
        "\"Action\":\"kms:PutKey?olicy\",\"NotResource\":\"arn:aws:kms:*:*:key/none\"}]}",
        NULL,
    };
    for (const char *const *p = ok_policies; *p; p++)
        json_decref(call_ok("CreateKey", json_pack("{s:s}", "Policy", *p)));
    json_decref(call_ok("CreateKey", json_pack("{s:s, s:b}", "Policy",
        "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"444455556666\"},"
        "\"Action\":\"kms:*\",\"Resource\":\"*\"}}", "BypassPolicyLockoutSafetyCheck", 1)));

    /* Users and roles that do not exist are refused (test_policy_principals
     * names existing ones). */
    policy_err("{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::"
               "111122223333:role/Admin\"},\"Action\":\"kms:PutKeyPolicy\",\"Resource\":\"*\"}}",
               TR_E_KMS_MALFORMED_POLICY, bad_principal);
    policy_err("{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"*\",\"arn:aws:iam::"
               "111122223333:user/ghost\"]},\"Action\":\"kms:*\",\"Resource\":\"*\"}}",
               TR_E_KMS_MALFORMED_POLICY, bad_principal);
    policy_err("{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::"
               "111122223333:rooted\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}}",
               TR_E_KMS_MALFORMED_POLICY, bad_principal);

    /* PutKeyPolicy: same checks, text stored as given, nothing on failure. */
    call_err("PutKeyPolicy", json_pack("{s:s, s:s}", "KeyId", id, "Policy",
             "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:Decrypt\","
             "\"Resource\":\"*\"}}"), TR_E_KMS_MALFORMED_POLICY, lockout);
    const char *np = "{\n \"Statement\": {\"Effect\": \"Allow\", \"Principal\": \"*\", "
                     "\"Action\": \"kms:*\", \"Resource\": \"*\"}}";
    DO("PutKeyPolicy", json_pack("{s:s, s:s, s:s}", "KeyId", id, "Policy", np,
            "PolicyName", "default"));
    o = call_ok("GetKeyPolicy", json_pack("{s:s}", "KeyId", id));
    assert_string_equal(sget(o, "Policy"), np);
    json_decref(o);
    call_err("PutKeyPolicy", json_pack("{s:s, s:s, s:s}", "KeyId", id, "Policy", np,
             "PolicyName", "custom"), TR_E_KMS_UNSUPPORTED,
             "Only the default key policy is supported: PolicyName must be \"default\".");

    /* Size: past 32 KiB is LimitExceeded; characters outside the model's set. */
    size_t big = 33000;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    memcpy(huge, GOOD_POLICY, strlen(GOOD_POLICY));
    huge[big] = '\0';
    policy_err(huge, TR_E_KMS_LIMIT_EXCEEDED,
               "Policy document exceeds the maximum allowed size of 32768 bytes.");
    free(huge);
    assert_int_equal(call_code("CreateKey", json_pack("{s:s}", "Policy", "{\"a\":\"\xe2\x82\xac\"}")),
                     TR_E_VALIDATION);
    assert_int_equal(call_code("CreateKey", json_pack("{s:s}", "Policy", "{\x01}")), TR_E_VALIDATION);
}

/* ---- key-policy enforcement (authz.c) ------------------------------------- */

/* CreateKey with a policy (lockout check bypassed); returns the key id. */
static const char *key_with_policy(int slot, const char *policy)
{
    static char ids[4][37];
    json_t *o = call_ok("CreateKey", json_pack("{s:s, s:b}", "Policy", policy,
                        "BypassPolicyLockoutSafetyCheck", 1));
    snprintf(ids[slot], sizeof ids[slot], "%s", sget(json_object_get(o, "KeyMetadata"), "KeyId"));
    json_decref(o);
    return ids[slot];
}

static void denied(const char *op, json_t *in, const char *action, const char *id, bool explicit_deny)
{
    char arn[128], msg[1200];
    key_arn(id, arn, sizeof arn);
    if (explicit_deny)
        snprintf(msg, sizeof msg, "User: %s is not authorized to perform: %s on resource: %s "
                 "with an explicit deny in a resource-based policy", F->rc.who.arn, action, arn);
    else
        snprintf(msg, sizeof msg, "User: %s is not authorized to perform: %s on resource: %s "
                 "because no resource-based policy allows the %s action", F->rc.who.arn, action,
                 arn, action);
    call_err(op, in, TR_E_ACCESS_DENIED, msg);
}

static void test_policy_enforcement(void **state)
{
    (void)state;
    /* Only Encrypt for the account: everything else is refused, even
     * PutKeyPolicy (what the lockout check warns about). */
    const char *locked = key_with_policy(0,
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::" ACCT
        ":root\"},\"Action\":\"kms:Encrypt\",\"Resource\":\"*\"}]}");
    char *blob = encrypt(locked, "locked in", NULL);
    denied("DescribeKey", json_pack("{s:s}", "KeyId", locked), "kms:DescribeKey", locked, false);
    denied("Decrypt", json_pack("{s:s}", "CiphertextBlob", blob), "kms:Decrypt", locked, false);
    denied("PutKeyPolicy", json_pack("{s:s, s:s}", "KeyId", locked, "Policy", GOOD_POLICY),
           "kms:PutKeyPolicy", locked, false);
    /* Authorization comes before the key state (docs/AUTHORIZATION.md 4.6). */
    denied("DisableKey", json_pack("{s:s}", "KeyId", locked), "kms:DisableKey", locked, false);
    free(blob);

    /* An explicit Deny wins over the Allow. */
    const char *guarded = key_with_policy(1,
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"" ACCT "\"},"
        "\"Action\":\"kms:*\",\"Resource\":\"*\"},{\"Effect\":\"Deny\",\"Principal\":\"*\","
        "\"Action\":[\"kms:ScheduleKey*\",\"kms:Disable*\"],\"Resource\":\"*\"}]}");
    denied("ScheduleKeyDeletion", json_pack("{s:s}", "KeyId", guarded), "kms:ScheduleKeyDeletion",
           guarded, true);
    denied("DisableKeyRotation", json_pack("{s:s}", "KeyId", guarded), "kms:DisableKeyRotation",
           guarded, true);
    DO("EnableKeyRotation", json_pack("{s:s}", "KeyId", guarded));

    /* Conditions on the encryption context (key name case-insensitive). */
    const char *ctx_key = key_with_policy(2,
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"" ACCT "\"},"
        "\"NotAction\":\"kms:Decrypt\",\"Resource\":\"*\"},{\"Effect\":\"Allow\",\"Principal\":"
        "{\"AWS\":\"" ACCT "\"},\"Action\":\"kms:Decrypt\",\"Resource\":\"*\",\"Condition\":"
        "{\"StringEquals\":{\"kms:EncryptionContext:App\":\"billing\"},\"ForAllValues:StringLike\":"
        "{\"kms:EncryptionContextKeys\":[\"app\",\"env*\"]}}},{\"Effect\":\"Deny\",\"Principal\":"
        "\"*\",\"Action\":\"kms:GenerateDataKey*\",\"Resource\":\"*\",\"Condition\":"
        "{\"Null\":{\"kms:EncryptionContext:env\":\"true\"}}}]}");
    char *ok_blob = encrypt(ctx_key, "billing data", json_pack("{s:s, s:s}", "app", "billing",
                                                               "environment", "prod"));
    char *bad_blob = encrypt(ctx_key, "other data", json_pack("{s:s}", "app", "other"));
    char *extra_blob = encrypt(ctx_key, "extra", json_pack("{s:s, s:s}", "app", "billing",
                                                           "owner", "me"));
    decrypt_eq(ok_blob, json_pack("{s:s, s:s}", "app", "billing", "environment", "prod"),
               "billing data");
    denied("Decrypt", json_pack("{s:s, s:{s:s}}", "CiphertextBlob", bad_blob, "EncryptionContext",
           "app", "other"), "kms:Decrypt", ctx_key, false);
    denied("Decrypt", json_pack("{s:s, s:{s:s, s:s}}", "CiphertextBlob", extra_blob,
           "EncryptionContext", "app", "billing", "owner", "me"), "kms:Decrypt", ctx_key, false);
    denied("GenerateDataKey", json_pack("{s:s, s:s}", "KeyId", ctx_key, "KeySpec", "AES_256"),
           "kms:GenerateDataKey", ctx_key, true);
    json_decref(call_ok("GenerateDataKey", json_pack("{s:s, s:s, s:{s:s}}", "KeyId", ctx_key,
                        "KeySpec", "AES_256", "EncryptionContext", "env", "x")));
    free(ok_blob);
    free(bad_blob);
    free(extra_blob);

    /* A Deny whose condition tresor cannot evaluate fails closed. */
    const char *ip = key_with_policy(3,
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:*\","
        "\"Resource\":\"*\"},{\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"kms:Encrypt\","
        "\"Resource\":\"*\",\"Condition\":{\"NotIpAddress\":{\"aws:SourceIp\":\"10.0.0.0/8\"}}}]}");
    denied("Encrypt", json_pack("{s:s, s:s}", "KeyId", ip, "Plaintext", "aGk="), "kms:Encrypt",
           ip, true);
    json_decref(call_ok("DescribeKey", json_pack("{s:s}", "KeyId", ip)));
}

/* ---- IAM principals in the store (docs/internals/IAM_STORE.md) ------------ */

static void store_tx(bool begin)
{
    store_t st = F->rc.st;
    assert_int_equal(tr_code(begin ? (*st)->tx_begin(st) : (*st)->tx_commit(st)), TR_E_OK);
}

/* An IAM user or role as IAM's Create* and Put*Policy leave it; policy
 * (an identity policy document) may be NULL. */
static void mk_entity(const char *kind, const char *acct, const char *path, const char *name,
                      const char *policy)
{
    static int serial;
    store_t st = F->rc.st;
    char arn[256], id[32], pname[] = "p";
    struct ent_rec e;
    memset(&e, 0, sizeof e);
    snprintf(arn, sizeof arn, "arn:aws:iam::%s:%s%s%s", acct, kind, path, name);
    snprintf(id, sizeof id, "%s%017d", strcmp(kind, "user") == 0 ? "AIDA" : "AROA", ++serial);
    snprintf(e.kind, sizeof e.kind, "%s", kind);
    snprintf(e.account_id, sizeof e.account_id, "%s", acct);
    e.name = (char *)name;
    e.id = id;
    e.arn = arn;
    e.path = (char *)path;
    e.doc = strcmp(kind, "role") == 0 ? "{\"trust\": \"{}\", \"max_session\": 3600}" : "{}";
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

static void mk_user(const char *name, const char *policy)
{
    mk_entity("user", ACCT, "/", name, policy);
}

/* Act as user `name` of ACCT. */
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

/* Act as session `session` of role path+name in ACCT. */
static void as_session(const char *path, const char *role, const char *session)
{
    release_identity();
    memset(&F->rc.who, 0, sizeof F->rc.who);
    F->rc.who.type = PRINCIPAL_ROLE_SESSION;
    snprintf(F->rc.who.account_id, sizeof F->rc.who.account_id, ACCT);
    snprintf(F->rc.who.arn, sizeof F->rc.who.arn, "arn:aws:sts::" ACCT ":assumed-role/%s/%s",
             role, session);
    snprintf(F->rc.who.role_arn, sizeof F->rc.who.role_arn, "arn:aws:iam::" ACCT ":role%s%s",
             path, role);
    struct ent_rec e = { 0 };
    if (tr_ok(F->rc.st[0]->ent_get(F->rc.st, "role", ACCT, role, &e)))
        snprintf(F->rc.who.id, sizeof F->rc.who.id, "%s:%s", e.id, session);
    else
        snprintf(F->rc.who.id, sizeof F->rc.who.id, "AROA-%s:%s", role, session);
    ent_rec_free(&e);
}

/* The AccessDenied message for the current caller; why is "identity",
 * "resource", "explicit-identity" or "explicit-resource". */
static void denied_why(const char *op, json_t *in, const char *action, const char *resource,
                       const char *why)
{
    char msg[1200];
    bool expl = strncmp(why, "explicit-", 9) == 0;
    const char *type = strcmp(why + (expl ? 9 : 0), "identity") == 0 ? "identity-based policy"
                                                                      : "resource-based policy";
    if (expl)
        snprintf(msg, sizeof msg, "User: %s is not authorized to perform: %s on resource: %s "
                 "with an explicit deny in %s %s", F->rc.who.arn, action, resource,
                 type[0] == 'i' ? "an" : "a", type);
    else
        snprintf(msg, sizeof msg, "User: %s is not authorized to perform: %s on resource: %s "
                 "because no %s allows the %s action", F->rc.who.arn, action, resource, type,
                 action);
    call_err(op, in, TR_E_ACCESS_DENIED, msg);
}

static void test_policy_principals(void **state)
{
    (void)state;
    mk_entity("role", ACCT, "/team/", "Admin", NULL);
    mk_entity("role", ACCT, "/", "Admins", NULL);
    mk_user("alice", NULL);
    mk_user("bob", NULL);
    const char *id = key_with_policy(0,
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"arn:aws:iam::" ACCT
        ":role/team/Admin\",\"arn:aws:iam::" ACCT ":user/alice\"]},\"Action\":\"kms:*\","
        "\"Resource\":\"arn:aws:kms:*:" ACCT ":key/*\"}]}");
    /* Root of the account is not named: refused. */
    denied("DescribeKey", json_pack("{s:s}", "KeyId", id), "kms:DescribeKey", id, false);
    /* A session of the named role (the path is not in the session ARN). */
    as_session("/team/", "Admin", "s1");
    json_decref(call_ok("DescribeKey", json_pack("{s:s}", "KeyId", id)));
    as_session("/", "Admins", "s1");
    denied("DescribeKey", json_pack("{s:s}", "KeyId", id), "kms:DescribeKey", id, false);
    as_user(ACCT, "alice");
    json_decref(call_ok("DescribeKey", json_pack("{s:s}", "KeyId", id)));
    as_user(ACCT, "bob");
    denied("DescribeKey", json_pack("{s:s}", "KeyId", id), "kms:DescribeKey", id, false);
    as_account(ACCT);

    /* Existing users and roles may be named through the API. */
    json_decref(call_ok("CreateKey", json_pack("{s:s}", "Policy",
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"" ACCT "\","
        "\"arn:aws:iam::" ACCT ":user/bob\",\"arn:aws:iam::" ACCT ":role/team/Admin\","
        "\"arn:aws:sts::" ACCT ":assumed-role/Admin/any\"]},\"Action\":\"kms:*\","
        "\"Resource\":\"*\"}]}")));
    call_err("CreateKey", json_pack("{s:s}", "Policy",
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"" ACCT "\","
        "\"arn:aws:sts::" ACCT ":assumed-role/Nobody/any\"]},\"Action\":\"kms:*\","
        "\"Resource\":\"*\"}]}"), TR_E_KMS_MALFORMED_POLICY,
        "Policy contains a statement with one or more invalid principals.");

    /* Cross-account, granted by the key policy: usable by key ARN only. */
    const char *shared = key_with_policy(1,
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"" ACCT "\","
        "\"arn:aws:iam::" ACCT2 ":root\"]},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}");
    char arn[128];
    key_arn(shared, arn, sizeof arn);
    char *blob = encrypt(shared, "shared", NULL);
    as_account(ACCT2);
    decrypt_eq(blob, NULL, "shared");
    json_decref(call_ok("DescribeKey", json_pack("{s:s}", "KeyId", arn)));
    char *b2 = encrypt(arn, "from B", NULL);
    char msg[200];
    snprintf(msg, sizeof msg, "Key '%s' does not exist", arn);
    call_err("DisableKey", json_pack("{s:s}", "KeyId", arn), TR_E_KMS_NOT_FOUND, msg);
    as_account(ACCT);
    decrypt_eq(b2, NULL, "from B");
    free(b2);
    free(blob);
}

/* The key policy decides, directly or by delegating to IAM
 * (docs/AUTHORIZATION.md 4.1). */
static void test_delegation(void **state)
{
    (void)state;
    const char *dflt = new_key(0);
    char dflt_arn[128], msg[1200];
    key_arn(dflt, dflt_arn, sizeof dflt_arn);
    char pol[1024];
    snprintf(pol, sizeof pol, "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
             "\"Action\":[\"kms:Encrypt\",\"kms:Decrypt\"],\"Resource\":\"%s\"}]}", dflt_arn);
    mk_user("carol", pol);
    mk_user("dave", NULL);
    mk_user("erin", "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
            "\"Action\":\"kms:*\",\"Resource\":\"*\"},{\"Effect\":\"Deny\",\"Action\":"
            "\"kms:Decrypt\",\"Resource\":\"*\"}]}");
    mk_user("admin", "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
            "\"Action\":\"kms:*\",\"Resource\":\"*\"}]}");

    /* The default policy delegates to IAM: carol's policy counts. */
    as_user(ACCT, "carol");
    char *blob = encrypt(dflt, "delegated", json_pack("{s:s}", "a", "b"));
    decrypt_eq(blob, json_pack("{s:s}", "a", "b"), "delegated");
    denied_why("DescribeKey", json_pack("{s:s}", "KeyId", dflt), "kms:DescribeKey", dflt_arn,
               "identity");
    as_user(ACCT, "dave");
    denied_why("Encrypt", json_pack("{s:s, s:s}", "KeyId", dflt, "Plaintext", "aGk="),
               "kms:Encrypt", dflt_arn, "identity");
    denied_why("Decrypt", json_pack("{s:s, s:{s:s}}", "CiphertextBlob", blob,
               "EncryptionContext", "a", "b"), "kms:Decrypt", dflt_arn, "identity");
    /* Account-level actions: IAM alone, resource "*". */
    denied_why("CreateKey", json_object(), "kms:CreateKey", "*", "identity");
    denied_why("ListKeys", json_object(), "kms:ListKeys", "*", "identity");
    denied_why("ListAliases", json_object(), "kms:ListAliases", "*", "identity");
    denied_why("GenerateRandom", json_pack("{s:i}", "NumberOfBytes", 8), "kms:GenerateRandom",
               "*", "identity");
    /* An explicit deny in IAM wins over the Allow next to it. */
    as_user(ACCT, "erin");
    denied_why("Decrypt", json_pack("{s:s, s:{s:s}}", "CiphertextBlob", blob,
               "EncryptionContext", "a", "b"), "kms:Decrypt", dflt_arn, "explicit-identity");
    free(blob);

    /* Administration delegated to the account, use given to dave only. */
    as_account(ACCT);
    const char *direct = key_with_policy(1,
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::" ACCT
        ":root\"},\"Action\":[\"kms:Describe*\",\"kms:Put*\",\"kms:Get*\"],\"Resource\":\"*\"},"
        "{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::" ACCT ":user/dave\"},"
        "\"Action\":[\"kms:Encrypt\",\"kms:Decrypt\"],\"Resource\":\"*\"}]}");
    char direct_arn[128];
    key_arn(direct, direct_arn, sizeof direct_arn);
    as_user(ACCT, "dave");                       /* no IAM policy needed */
    blob = encrypt(direct, "direct", NULL);
    decrypt_eq(blob, NULL, "direct");
    denied_why("DescribeKey", json_pack("{s:s}", "KeyId", direct), "kms:DescribeKey", direct_arn,
               "identity");
    as_user(ACCT, "admin");                      /* IAM allows all, but not for use */
    json_decref(call_ok("DescribeKey", json_pack("{s:s}", "KeyId", direct)));
    denied_why("Encrypt", json_pack("{s:s, s:s}", "KeyId", direct, "Plaintext", "aGk="),
               "kms:Encrypt", direct_arn, "resource");
    as_account(ACCT);                            /* the root user is no exception */
    denied_why("Encrypt", json_pack("{s:s, s:s}", "KeyId", direct, "Plaintext", "aGk="),
               "kms:Encrypt", direct_arn, "resource");
    json_decref(call_ok("DescribeKey", json_pack("{s:s}", "KeyId", direct)));
    free(blob);

    /* The lockout check is evaluated with the engine, IAM included. */
    const char *lockout = "The new key policy will not allow you to update the key policy in "
                          "the future.";
    as_user(ACCT, "admin");
    call_err("PutKeyPolicy", json_pack("{s:s, s:s}", "KeyId", direct, "Policy",
             "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::" ACCT
             ":user/dave\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}"),
             TR_E_KMS_MALFORMED_POLICY, lockout);
    DO("PutKeyPolicy", json_pack("{s:s, s:s}", "KeyId", direct, "Policy",
       "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"" ACCT "\"},"
       "\"Action\":\"kms:PutKeyPolicy\",\"Resource\":\"*\"}]}"));
    as_user(ACCT, "carol");                      /* account named, but carol's IAM says no */
    snprintf(msg, sizeof msg, "User: arn:aws:iam::" ACCT ":user/carol is not authorized to "
             "perform: kms:PutKeyPolicy on resource: %s because no identity-based policy allows "
             "the kms:PutKeyPolicy action", direct_arn);
    call_err("PutKeyPolicy", json_pack("{s:s, s:s}", "KeyId", direct, "Policy", GOOD_POLICY),
             TR_E_ACCESS_DENIED, msg);
    as_user(ACCT, "admin");
    /* Naming the caller directly is enough, even if that shuts the root out. */
    DO("PutKeyPolicy", json_pack("{s:s, s:s}", "KeyId", direct, "Policy",
       "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::" ACCT
       ":user/admin\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}"));
    call_err("CreateKey", json_pack("{s:s}", "Policy",
             "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::" ACCT
             ":user/dave\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}"),
             TR_E_KMS_MALFORMED_POLICY, lockout);
    as_account(ACCT);
    denied_why("DescribeKey", json_pack("{s:s}", "KeyId", direct), "kms:DescribeKey", direct_arn,
               "resource");
}

/* KMS condition keys (docs/AUTHORIZATION.md 4.2). */
static void test_condition_keys(void **state)
{
    (void)state;
    const char *id = new_key(0);
    char arn[128];
    key_arn(id, arn, sizeof arn);
    DO("CreateAlias", json_pack("{s:s, s:s}", "AliasName", "alias/f", "TargetKeyId", id));
    mk_user("ra", "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":"
            "\"kms:Encrypt\",\"Resource\":\"*\",\"Condition\":{\"StringEquals\":"
            "{\"kms:RequestAlias\":\"alias/f\"}}}]}");
    mk_user("rs", "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":"
            "\"kms:Encrypt\",\"Resource\":\"*\",\"Condition\":{\"ForAnyValue:StringEquals\":"
            "{\"kms:ResourceAliases\":\"alias/f\"}}}]}");
    mk_user("vs", "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":"
            "\"kms:Encrypt\",\"Resource\":\"*\",\"Condition\":{\"StringEquals\":"
            "{\"kms:ViaService\":\"secretsmanager.us-east-1.amazonaws.com\","
            "\"kms:CallerAccount\":\"" ACCT "\",\"kms:KeySpec\":\"SYMMETRIC_DEFAULT\","
            "\"kms:KeyUsage\":\"ENCRYPT_DECRYPT\",\"kms:KeyOrigin\":\"AWS_KMS\","
            "\"kms:CustomerMasterKeySpec\":\"SYMMETRIC_DEFAULT\","
            "\"kms:CustomerMasterKeyUsage\":\"ENCRYPT_DECRYPT\","
            "\"kms:EncryptionAlgorithm\":\"SYMMETRIC_DEFAULT\"},\"Bool\":"
            "{\"kms:MultiRegion\":\"false\"}}}]}");
    /* The KMS guide's own example: allowed only when the request does not
     * carry BypassPolicyLockoutSafetyCheck at all. */
    mk_user("ck", "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":"
            "\"kms:CreateKey\",\"Resource\":\"*\",\"Condition\":{\"StringEquals\":"
            "{\"kms:KeySpec\":\"SYMMETRIC_DEFAULT\"},\"Null\":"
            "{\"kms:BypassPolicyLockoutSafetyCheck\":\"true\"}}}]}");

    /* kms:RequestAlias: the alias the caller named, by name or ARN. */
    as_user(ACCT, "ra");
    free(encrypt("alias/f", "x", NULL));
    free(encrypt("arn:aws:kms:" REGION ":" ACCT ":alias/f", "x", NULL));
    denied_why("Encrypt", json_pack("{s:s, s:s}", "KeyId", id, "Plaintext", "aGk="),
               "kms:Encrypt", arn, "identity");
    /* kms:ResourceAliases: the key's aliases, however it was named. */
    as_user(ACCT, "rs");
    free(encrypt(id, "x", NULL));
    as_account(ACCT);
    DO("DeleteAlias", json_pack("{s:s}", "AliasName", "alias/f"));
    as_user(ACCT, "rs");
    denied_why("Encrypt", json_pack("{s:s, s:s}", "KeyId", id, "Plaintext", "aGk="),
               "kms:Encrypt", arn, "identity");
    /* kms:ViaService only when a service calls on the caller's behalf. */
    as_user(ACCT, "vs");
    denied_why("Encrypt", json_pack("{s:s, s:s}", "KeyId", id, "Plaintext", "aGk="),
               "kms:Encrypt", arn, "identity");
    F->rc.via_service = "secretsmanager.us-east-1.amazonaws.com";
    free(encrypt(id, "x", NULL));
    denied_why("Encrypt", json_pack("{s:s, s:s, s:s}", "KeyId", id, "Plaintext", "aGk=",
               "EncryptionAlgorithm", "RSAES_OAEP_SHA_1"), "kms:Encrypt", arn, "identity");
    F->rc.via_service = NULL;
    /* CreateKey's request keys. */
    as_user(ACCT, "ck");
    json_decref(call_ok("CreateKey", json_object()));
    denied_why("CreateKey", json_pack("{s:b}", "BypassPolicyLockoutSafetyCheck", 1),
               "kms:CreateKey", "*", "identity");
    denied_why("CreateKey", json_pack("{s:b}", "BypassPolicyLockoutSafetyCheck", 0),
               "kms:CreateKey", "*", "identity");
}

/* Tags, guard rails and ReEncrypt: aws:ResourceTag/<k> (IAM policies
 * only), aws:RequestTag/<k> and aws:TagKeys,
 * kms:ScheduleKeyDeletionPendingWindowInDays, kms:RotationPeriodInDays,
 * kms:ReEncryptOnSameKey. */
static void test_tag_and_guard_keys(void **state)
{
    (void)state;
    const char *plain = new_key(0), *tagged = new_key(1);
    char parn[128], tarn[128];
    key_arn(plain, parn, sizeof parn);
    key_arn(tagged, tarn, sizeof tarn);
    DO("TagResource", json_pack("{s:s, s:[{s:s, s:s}]}", "KeyId", tagged, "Tags", "TagKey",
       "class", "TagValue", "restricted"));
    mk_user("tg", "{\"Version\":\"2012-10-17\",\"Statement\":["
            "{\"Effect\":\"Allow\",\"Action\":\"kms:*\",\"Resource\":\"*\"},"
            "{\"Effect\":\"Deny\",\"Action\":\"kms:*\",\"Resource\":\"*\",\"Condition\":"
            "{\"StringEquals\":{\"aws:ResourceTag/Class\":\"restricted\"}}},"
            "{\"Effect\":\"Deny\",\"Action\":[\"kms:TagResource\",\"kms:UntagResource\","
            "\"kms:CreateKey\"],\"Resource\":\"*\",\"Condition\":{\"ForAnyValue:StringEquals\":"
            "{\"aws:TagKeys\":\"class\"}}},"
            "{\"Effect\":\"Deny\",\"Action\":\"kms:TagResource\",\"Resource\":\"*\",\"Condition\":"
            "{\"StringEquals\":{\"aws:RequestTag/owner\":\"root\"}}},"
            "{\"Effect\":\"Deny\",\"Action\":\"kms:ScheduleKeyDeletion\",\"Resource\":\"*\","
            "\"Condition\":{\"NumericLessThan\":{\"kms:ScheduleKeyDeletionPendingWindowInDays\":"
            "\"30\"}}},"
            "{\"Effect\":\"Deny\",\"Action\":\"kms:EnableKeyRotation\",\"Resource\":\"*\","
            "\"Condition\":{\"NumericLessThan\":{\"kms:RotationPeriodInDays\":\"180\"}}},"
            "{\"Effect\":\"Deny\",\"Action\":\"kms:ReEncrypt*\",\"Resource\":\"*\","
            "\"Condition\":{\"Bool\":{\"kms:ReEncryptOnSameKey\":\"false\"}}}]}");
    as_user(ACCT, "tg");
    /* The key's tags, the tag key's case folded as IAM does. */
    free(encrypt(plain, "x", NULL));
    denied_why("Encrypt", json_pack("{s:s, s:s}", "KeyId", tagged, "Plaintext", "aGk="),
               "kms:Encrypt", tarn, "explicit-identity");
    denied_why("UntagResource", json_pack("{s:s, s:[s]}", "KeyId", tagged, "TagKeys", "class"),
               "kms:UntagResource", tarn, "explicit-identity");
    /* The request's tags. */
    denied_why("TagResource", json_pack("{s:s, s:[{s:s, s:s}]}", "KeyId", plain, "Tags", "TagKey",
               "class", "TagValue", "restricted"), "kms:TagResource", parn, "explicit-identity");
    denied_why("TagResource", json_pack("{s:s, s:[{s:s, s:s}]}", "KeyId", plain, "Tags", "TagKey",
               "owner", "TagValue", "root"), "kms:TagResource", parn, "explicit-identity");
    DO("TagResource", json_pack("{s:s, s:[{s:s, s:s}]}", "KeyId", plain, "Tags", "TagKey",
       "owner", "TagValue", "tg"));
    DO("UntagResource", json_pack("{s:s, s:[s]}", "KeyId", plain, "TagKeys", "owner"));
    denied_why("CreateKey", json_pack("{s:[{s:s, s:s}]}", "Tags", "TagKey", "class", "TagValue",
               "x"), "kms:CreateKey", "*", "explicit-identity");
    /* The guard rails: the window and the period, defaults included. */
    denied_why("ScheduleKeyDeletion", json_pack("{s:s, s:i}", "KeyId", plain,
               "PendingWindowInDays", 7), "kms:ScheduleKeyDeletion", parn, "explicit-identity");
    denied_why("EnableKeyRotation", json_pack("{s:s, s:i}", "KeyId", plain,
               "RotationPeriodInDays", 90), "kms:EnableKeyRotation", parn, "explicit-identity");
    DO("EnableKeyRotation", json_pack("{s:s}", "KeyId", plain));
    /* ReEncrypt onto another key is refused at both steps' first. */
    char *blob = encrypt(plain, "again", NULL);
    json_decref(call_ok("ReEncrypt", json_pack("{s:s, s:s}", "CiphertextBlob", blob,
                        "DestinationKeyId", plain)));
    as_account(ACCT);
    const char *other = new_key(2);
    as_user(ACCT, "tg");
    denied_why("ReEncrypt", json_pack("{s:s, s:s}", "CiphertextBlob", blob, "DestinationKeyId",
               other), "kms:ReEncryptFrom", parn, "explicit-identity");
    free(blob);
    DO("ScheduleKeyDeletion", json_pack("{s:s}", "KeyId", plain));

    /* In a key policy the key's tags are not seen (KMS: aws:ResourceTag is
     * supported "only in IAM policies"): its Deny does not apply. */
    as_account(ACCT);
    const char *kp = key_with_policy(3,
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"" ACCT "\"},"
        "\"Action\":\"kms:*\",\"Resource\":\"*\"},{\"Effect\":\"Deny\",\"Principal\":\"*\","
        "\"Action\":\"kms:Encrypt\",\"Resource\":\"*\",\"Condition\":{\"StringEquals\":"
        "{\"aws:ResourceTag/class\":\"restricted\"}}}]}");
    DO("TagResource", json_pack("{s:s, s:[{s:s, s:s}]}", "KeyId", kp, "Tags", "TagKey",
       "class", "TagValue", "restricted"));
    free(encrypt(kp, "x", NULL));
}

/* Cross-account use: by key ARN, and only for the operations AWS allows
 * across accounts (docs/AUTHORIZATION.md 4.4). */
static void test_cross_account_operations(void **state)
{
    (void)state;
    const char *own = new_key(1);
    const char *shared = key_with_policy(0,
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"" ACCT "\","
        "\"arn:aws:iam::" ACCT2 ":root\"]},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}");
    char arn[128], msg[400];
    key_arn(shared, arn, sizeof arn);
    DO("CreateAlias", json_pack("{s:s, s:s}", "AliasName", "alias/shared", "TargetKeyId", shared));

    as_account(ACCT2);
    const char *mine = new_key(2);
    /* ListKeys lists the caller's account only. */
    json_t *o = call_ok("ListKeys", json_object());
    json_t *keys = json_object_get(o, "Keys");
    assert_int_equal(json_array_size(keys), 1);
    assert_string_equal(sget(json_array_get(keys, 0), "KeyId"), mine);
    json_decref(o);
    (void)own;
    /* Allowed across accounts, by ARN. */
    json_decref(call_ok("DescribeKey", json_pack("{s:s}", "KeyId", arn)));
    json_decref(call_ok("GetKeyRotationStatus", json_pack("{s:s}", "KeyId", arn)));
    free(encrypt(arn, "b", NULL));
    free(encrypt("arn:aws:kms:" REGION ":" ACCT ":alias/shared", "b", NULL));
    json_decref(call_ok("GenerateDataKey", json_pack("{s:s, s:s}", "KeyId", arn, "KeySpec",
                        "AES_256")));
    json_decref(call_ok("ListGrants", json_pack("{s:s}", "KeyId", arn)));
    o = call_ok("CreateGrant", json_pack("{s:s, s:s, s:[s]}", "KeyId", arn, "GranteePrincipal",
                "arn:aws:iam::" ACCT2 ":root", "Operations", "Encrypt"));
    DO("RevokeGrant", json_pack("{s:s, s:s}", "KeyId", arn, "GrantId", sget(o, "GrantId")));
    json_decref(o);
    /* An alias name always means the caller's own alias. */
    call_err("DescribeKey", json_pack("{s:s}", "KeyId", "alias/shared"), TR_E_KMS_NOT_FOUND,
             "Alias arn:aws:kms:" REGION ":" ACCT2 ":alias/shared is not found.");
    /* Everything else: the key is not in the caller's account. */
    snprintf(msg, sizeof msg, "Key '%s' does not exist", arn);
    static const char *const key_ops[] = {
        "EnableKey", "DisableKey", "ScheduleKeyDeletion", "CancelKeyDeletion",
        "EnableKeyRotation", "DisableKeyRotation", "RotateKeyOnDemand", "ListKeyRotations",
        "GetKeyPolicy", "ListKeyPolicies", "ListResourceTags", NULL };
    for (const char *const *op = key_ops; *op; op++)
        call_err(*op, json_pack("{s:s}", "KeyId", arn), TR_E_KMS_NOT_FOUND, msg);
    call_err("PutKeyPolicy", json_pack("{s:s, s:s}", "KeyId", arn, "Policy", GOOD_POLICY),
             TR_E_KMS_NOT_FOUND, msg);
    call_err("UpdateKeyDescription", json_pack("{s:s, s:s}", "KeyId", arn, "Description", "x"),
             TR_E_KMS_NOT_FOUND, msg);
    call_err("TagResource", json_pack("{s:s, s:[{s:s, s:s}]}", "KeyId", arn, "Tags", "TagKey",
             "a", "TagValue", "b"), TR_E_KMS_NOT_FOUND, msg);
    call_err("CreateAlias", json_pack("{s:s, s:s}", "AliasName", "alias/mine", "TargetKeyId",
             arn), TR_E_KMS_NOT_FOUND, msg);
    as_account(ACCT);
}

static void test_key_only_operations(void **state)
{
    (void)state;
    const char *id = new_key(0);
    DO("CreateAlias", json_pack("{s:s, s:s}", "AliasName", "alias/k", "TargetKeyId", id));
    static const char *const ops[] = { "EnableKey", "DisableKey", "ScheduleKeyDeletion",
                                       "CancelKeyDeletion", "EnableKeyRotation",
                                       "DisableKeyRotation", "GetKeyRotationStatus",
                                       "RotateKeyOnDemand", "ListKeyRotations", "GetKeyPolicy",
                                       "ListKeyPolicies", "ListResourceTags", NULL };
    for (const char *const *op = ops; *op; op++) {
        call_err(*op, json_pack("{s:s}", "KeyId", "alias/k"), TR_E_KMS_NOT_FOUND,
                 "Invalid keyId 'alias/k'");
        call_err(*op, json_pack("{s:s}", "KeyId", "arn:aws:kms:" REGION ":" ACCT ":alias/k"),
                 TR_E_KMS_NOT_FOUND, "Invalid keyId 'arn:aws:kms:us-east-1:111122223333:alias/k'");
    }
    call_err("ListAliases", json_pack("{s:s}", "KeyId", "alias/k"), TR_E_KMS_NOT_FOUND,
             "Invalid keyId 'alias/k'");
    /* Unknown members are refused, as the awsJson front end does. */
    call_err("DescribeKey", json_pack("{s:s, s:i}", "KeyId", id, "Bogus", 1), TR_E_SERIALIZATION,
             "Unknown member 'Bogus' in the request");
    call_err("Encrypt", json_pack("{s:s, s:s, s:s}", "KeyId", id, "Plaintext", "aGk=", "keyId", id),
             TR_E_SERIALIZATION, "Unknown member 'keyId' in the request");
}

/* ---- validation and unsupported features ---------------------------------- */

static void test_create_key_validation(void **state)
{
    (void)state;
    call_err("CreateKey", json_pack("{s:s}", "KeySpec", "FOO"), TR_E_VALIDATION,
             "1 validation error detected: Value 'FOO' at 'keySpec' failed to satisfy constraint: "
             "Member must satisfy enum value set: [RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, "
             "ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1, SYMMETRIC_DEFAULT, HMAC_224, "
             "HMAC_256, HMAC_384, HMAC_512, SM2, ML_DSA_44, ML_DSA_65, ML_DSA_87, "
             "ECC_NIST_EDWARDS25519]");
    call_err("CreateKey", json_pack("{s:s}", "KeyUsage", "DECRYPT"), TR_E_VALIDATION,
             "1 validation error detected: Value 'DECRYPT' at 'keyUsage' failed to satisfy "
             "constraint: Member must satisfy enum value set: [SIGN_VERIFY, ENCRYPT_DECRYPT, "
             "GENERATE_VERIFY_MAC, KEY_AGREEMENT]");
    call_err("CreateKey", json_pack("{s:s}", "KeySpec", "RSA_2048"), TR_E_VALIDATION,
             "You must specify a KeyUsage value for all KMS keys except for symmetric "
             "encryption keys.");
    call_err("CreateKey", json_pack("{s:s, s:s}", "CustomerMasterKeySpec", "HMAC_256", "KeyUsage",
             "ENCRYPT_DECRYPT"), TR_E_VALIDATION,
             "KeyUsage ENCRYPT_DECRYPT is not compatible with KeySpec HMAC_256");
    call_err("CreateKey", json_pack("{s:s, s:s}", "KeySpec", "ECC_SECG_P256K1", "KeyUsage",
             "KEY_AGREEMENT"), TR_E_VALIDATION,
             "KeyUsage KEY_AGREEMENT is not compatible with KeySpec ECC_SECG_P256K1");
    call_err("CreateKey", json_pack("{s:s, s:s}", "KeySpec", "RSA_2048", "KeyUsage",
             "KEY_AGREEMENT"), TR_E_VALIDATION,
             "KeyUsage KEY_AGREEMENT is not compatible with KeySpec RSA_2048");
    call_err("CreateKey", json_pack("{s:s, s:s}", "KeySpec", "SM2", "KeyUsage", "SIGN_VERIFY"),
             TR_E_KMS_UNSUPPORTED, "KeySpec SM2 is not supported");
    call_err("CreateKey", json_pack("{s:s, s:s}", "KeySpec", "SYMMETRIC_DEFAULT",
             "CustomerMasterKeySpec", "SYMMETRIC_DEFAULT"), TR_E_VALIDATION,
             "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. "
             "CustomerMasterKeySpec parameter is deprecated. Use KeySpec parameter instead.");
    call_err("CreateKey", json_pack("{s:s}", "KeyUsage", "SIGN_VERIFY"), TR_E_VALIDATION,
             "KeyUsage SIGN_VERIFY is not compatible with KeySpec SYMMETRIC_DEFAULT");
    /* Custom key stores: the combinations first, then no such store. */
    call_err("CreateKey", json_pack("{s:s}", "Origin", "AWS_CLOUDHSM"), TR_E_VALIDATION,
             "CustomKeyStoreId is required when Origin is AWS_CLOUDHSM.");
    call_err("CreateKey", json_pack("{s:s}", "CustomKeyStoreId", "cks-1234"), TR_E_VALIDATION,
             "CustomKeyStoreId is valid only when Origin is AWS_CLOUDHSM or EXTERNAL_KEY_STORE.");
    call_err("CreateKey", json_pack("{s:s}", "XksKeyId", "ext-key"), TR_E_VALIDATION,
             "XksKeyId is valid only when Origin is EXTERNAL_KEY_STORE.");
    call_err("CreateKey", json_pack("{s:s, s:s}", "Origin", "EXTERNAL_KEY_STORE",
             "CustomKeyStoreId", "cks-1234"), TR_E_VALIDATION,
             "XksKeyId is required when Origin is EXTERNAL_KEY_STORE.");
    call_err("CreateKey", json_pack("{s:s, s:s}", "Origin", "AWS_CLOUDHSM", "CustomKeyStoreId",
             "cks-1234"), TR_E_KMS_CKS_NOT_FOUND,
             "KMS cannot find a custom key store with ID cks-1234.");
    call_err("CreateKey", json_pack("{s:s, s:s, s:s}", "Origin", "EXTERNAL_KEY_STORE",
             "CustomKeyStoreId", "cks-1234", "XksKeyId", "ext-key"), TR_E_KMS_CKS_NOT_FOUND,
             "KMS cannot find a custom key store with ID cks-1234.");
    call_err("CreateKey", json_pack("{s:i}", "Description", 5), TR_E_SERIALIZATION,
             "Unexpected number for member 'Description': expected string");
    json_decref(call_ok("CreateKey", json_pack("{s:s, s:s, s:s, s:b}", "KeySpec", "SYMMETRIC_DEFAULT",
                        "KeyUsage", "ENCRYPT_DECRYPT", "Origin", "AWS_KMS", "MultiRegion", 0)));
    /* Nothing was left behind by the failures. */
    json_t *o = call_ok("ListKeys", json_object());
    assert_int_equal(json_array_size(json_object_get(o, "Keys")), 1);
    json_decref(o);
}

static void test_crypto_validation(void **state)
{
    (void)state;
    const char *id = new_key(0);
    char arn[128], msg[256];
    key_arn(id, arn, sizeof arn);
    call_err("Encrypt", json_pack("{s:s}", "KeyId", id), TR_E_VALIDATION,
             "1 validation error detected: Value null at 'plaintext' failed to satisfy constraint: "
             "Member must not be null");
    char *big = calloc(1, 4098);
    memset(big, 'y', 4097);
    char *p = b64(big, 4097);
    call_err("Encrypt", json_pack("{s:s, s:s}", "KeyId", id, "Plaintext", p), TR_E_VALIDATION,
             "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
             "Member must have length less than or equal to 4096");
    free(p);
    free(big);
    snprintf(msg, sizeof msg, "Algorithm RSAES_OAEP_SHA_256 is incompatible with key spec "
             "SYMMETRIC_DEFAULT.");
    call_err("Encrypt", json_pack("{s:s, s:s, s:s}", "KeyId", id, "Plaintext", "aGk=",
             "EncryptionAlgorithm", "RSAES_OAEP_SHA_256"), TR_E_KMS_INVALID_KEY_USAGE, msg);
    call_err("Encrypt", json_pack("{s:s, s:s, s:s}", "KeyId", id, "Plaintext", "aGk=",
             "EncryptionAlgorithm", "AES"), TR_E_VALIDATION,
             "1 validation error detected: Value 'AES' at 'encryptionAlgorithm' failed to satisfy "
             "constraint: Member must satisfy enum value set: [SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, "
             "RSAES_OAEP_SHA_256, SM2PKE]");
    call_err("Encrypt", json_pack("{s:s, s:s, s:b}", "KeyId", id, "Plaintext", "aGk=", "DryRun", 1),
             TR_E_KMS_DRY_RUN, "The request would have succeeded, but the DryRun option is set.");
    call_err("Encrypt", json_pack("{s:s, s:s, s:{s:i}}", "KeyId", id, "Plaintext", "aGk=",
             "EncryptionContext", "k", 1), TR_E_SERIALIZATION,
             "Unexpected number for member 'EncryptionContext': expected string");
    call_err("Encrypt", json_pack("{s:s, s:s, s:[s]}", "KeyId", id, "Plaintext", "aGk=",
             "GrantTokens", ""), TR_E_VALIDATION, "1 validation error detected: Value at "
             "'grantTokens' failed to satisfy constraint: Member must satisfy constraint: "
             "[Member must have length greater than or equal to 1]");
    call_err("Decrypt", json_object(), TR_E_VALIDATION,
             "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy "
             "constraint: Member must not be null");
    call_err("Decrypt", json_pack("{s:s, s:s}", "CiphertextBlob", "AAAA", "Recipient", "x"),
             TR_E_SERIALIZATION, "Unexpected string for member 'Recipient': expected object");
    call_err("Decrypt", json_pack("{s:s, s:{s:s}}", "CiphertextBlob", "AAAA", "Recipient",
             "AttestationDocument", "AAAA"),
             TR_E_KMS_UNSUPPORTED, "tresor does not support Recipient (attested enclave "
             "encryption) yet.");
    call_err("Decrypt", json_pack("{s:s, s:b, s:[s]}", "KeyId", id, "DryRun", 1,
             "DryRunModifiers", "IGNORE_CIPHERTEXT"), TR_E_KMS_DRY_RUN,
             "The request would have succeeded, but the DryRun option is set.");
    char *blob = encrypt(id, "dry", NULL);
    call_err("Decrypt", json_pack("{s:s, s:b}", "CiphertextBlob", blob, "DryRun", 1),
             TR_E_KMS_DRY_RUN, "The request would have succeeded, but the DryRun option is set.");
    free(blob);

    /* GenerateDataKey: exactly one of KeySpec and NumberOfBytes. */
    call_err("GenerateDataKey", json_pack("{s:s}", "KeyId", id), TR_E_VALIDATION,
             "Please specify either number of bytes or key spec.");
    call_err("GenerateDataKey", json_pack("{s:s, s:s, s:i}", "KeyId", id, "KeySpec", "AES_256",
             "NumberOfBytes", 32), TR_E_VALIDATION,
             "Please specify either number of bytes or key spec.");
    call_err("GenerateDataKey", json_pack("{s:s, s:i}", "KeyId", id, "NumberOfBytes", 0),
             TR_E_VALIDATION, "1 validation error detected: Value '0' at 'numberOfBytes' failed "
             "to satisfy constraint: Member must have value greater than or equal to 1");
    call_err("GenerateDataKey", json_pack("{s:s, s:i}", "KeyId", id, "NumberOfBytes", 1025),
             TR_E_VALIDATION, "1 validation error detected: Value '1025' at 'numberOfBytes' failed "
             "to satisfy constraint: Member must have value less than or equal to 1024");
    call_err("GenerateDataKey", json_pack("{s:s, s:s}", "KeyId", id, "KeySpec", "AES_512"),
             TR_E_VALIDATION, "1 validation error detected: Value 'AES_512' at 'keySpec' failed to "
             "satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]");
    call_err("GenerateDataKeyWithoutPlaintext", json_pack("{s:s, s:s, s:b}", "KeyId", id,
             "KeySpec", "AES_128", "DryRun", 1), TR_E_KMS_DRY_RUN,
             "The request would have succeeded, but the DryRun option is set.");

    /* GenerateRandom. */
    call_err("GenerateRandom", json_object(), TR_E_VALIDATION, "NumberOfBytes is required.");
    call_err("GenerateRandom", json_pack("{s:i}", "NumberOfBytes", 0), TR_E_VALIDATION,
             "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy "
             "constraint: Member must have value greater than or equal to 1");
    call_err("GenerateRandom", json_pack("{s:i, s:s}", "NumberOfBytes", 8, "CustomKeyStoreId",
             "cks-1"), TR_E_KMS_CKS_NOT_FOUND,
             "KMS cannot find a custom key store with ID cks-1.");
    json_t *o = call_ok("GenerateRandom", json_pack("{s:i}", "NumberOfBytes", 1024));
    struct buf r = unb64(o, "Plaintext");
    assert_int_equal(r.len, 1024);
    buf_free(&r);
    json_decref(o);
}

/* ---- data keys and ReEncrypt ---------------------------------------------- */

static void test_data_keys(void **state)
{
    (void)state;
    const char *id = new_key(0);
    char arn[128];
    key_arn(id, arn, sizeof arn);
    struct { const char *spec; int nbytes; size_t len; } cases[] = {
        { "AES_256", 0, 32 }, { "AES_128", 0, 16 }, { NULL, 1, 1 }, { NULL, 64, 64 },
        { NULL, 1024, 1024 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *in = json_pack("{s:s, s:{s:s}}", "KeyId", id, "EncryptionContext", "SecretARN", "s1");
        if (cases[i].spec) json_object_set_new(in, "KeySpec", json_string(cases[i].spec));
        else json_object_set_new(in, "NumberOfBytes", json_integer(cases[i].nbytes));
        json_t *o = call_ok("GenerateDataKey", in);
        assert_string_equal(sget(o, "KeyId"), arn);
        struct buf pt = unb64(o, "Plaintext");
        assert_int_equal(pt.len, cases[i].len);
        json_t *d = call_ok("Decrypt", json_pack("{s:s, s:{s:s}}", "CiphertextBlob",
                            sget(o, "CiphertextBlob"), "EncryptionContext", "SecretARN", "s1"));
        struct buf back = unb64(d, "Plaintext");
        assert_int_equal(back.len, pt.len);
        assert_memory_equal(back.data, pt.data, pt.len);
        buf_free(&back);
        buf_free(&pt);
        json_decref(d);
        json_decref(o);
    }
    json_t *o = call_ok("GenerateDataKeyWithoutPlaintext", json_pack("{s:s, s:s}", "KeyId", id,
                        "KeySpec", "AES_256"));
    assert_null(json_object_get(o, "Plaintext"));
    json_t *d = call_ok("Decrypt", json_pack("{s:s}", "CiphertextBlob", sget(o, "CiphertextBlob")));
    struct buf back = unb64(d, "Plaintext");
    assert_int_equal(back.len, 32);
    buf_free(&back);
    json_decref(d);
    json_decref(o);
}

static void test_re_encrypt(void **state)
{
    (void)state;
    char a[37], b[37], arn_a[128], arn_b[128];
    snprintf(a, sizeof a, "%s", new_key(0));
    snprintf(b, sizeof b, "%s", new_key(1));
    key_arn(a, arn_a, sizeof arn_a);
    key_arn(b, arn_b, sizeof arn_b);
    char *blob = encrypt(a, "move me", json_pack("{s:s}", "from", "a"));
    json_t *o = call_ok("ReEncrypt", json_pack("{s:s, s:{s:s}, s:s, s:{s:s}}", "CiphertextBlob",
                        blob, "SourceEncryptionContext", "from", "a", "DestinationKeyId", b,
                        "DestinationEncryptionContext", "to", "b"));
    assert_string_equal(sget(o, "SourceKeyId"), arn_a);
    assert_string_equal(sget(o, "KeyId"), arn_b);
    assert_string_equal(sget(o, "SourceEncryptionAlgorithm"), "SYMMETRIC_DEFAULT");
    assert_string_equal(sget(o, "DestinationEncryptionAlgorithm"), "SYMMETRIC_DEFAULT");
    assert_int_equal(strlen(sget(o, "SourceKeyMaterialId")), 64);
    assert_null(json_object_get(o, "Plaintext"));
    char *moved = strdup(sget(o, "CiphertextBlob"));
    json_decref(o);
    decrypt_eq(moved, json_pack("{s:s}", "to", "b"), "move me");
    call_err("Decrypt", json_pack("{s:s, s:{s:s}}", "CiphertextBlob", moved, "EncryptionContext",
             "from", "a"), TR_E_KMS_INVALID_CIPHERTEXT, NULL);
    call_err("ReEncrypt", json_pack("{s:s, s:s}", "CiphertextBlob", blob, "DestinationKeyId", b),
             TR_E_KMS_INVALID_CIPHERTEXT, NULL);
    DO("DisableKey", json_pack("{s:s}", "KeyId", b));
    char msg[200];
    snprintf(msg, sizeof msg, "%s is disabled.", arn_b);
    call_err("ReEncrypt", json_pack("{s:s, s:{s:s}, s:s}", "CiphertextBlob", blob,
             "SourceEncryptionContext", "from", "a", "DestinationKeyId", b), TR_E_KMS_DISABLED, msg);
    call_err("ReEncrypt", json_pack("{s:s}", "CiphertextBlob", blob), TR_E_VALIDATION,
             "1 validation error detected: Value null at 'destinationKeyId' failed to satisfy "
             "constraint: Member must not be null");
    free(moved);
    free(blob);
}

/* ---- the AWS managed key ----------------------------------------------------- */

static void test_managed_key(void **state)
{
    (void)state;
    struct key_rec k, again;
    store_t st = F->rc.st;
    assert_int_equal(tr_code((*st)->tx_begin(st)), TR_E_OK);
    assert_int_equal(tr_code(kms_managed_key(&F->rc, "secretsmanager", &k)), TR_E_OK);
    assert_int_equal(tr_code(kms_managed_key(&F->rc, "secretsmanager", &again)), TR_E_OK);
    assert_int_equal(tr_code((*st)->tx_commit(st)), TR_E_OK);
    assert_string_equal(k.key_id, again.key_id);
    assert_string_equal(k.key_manager, "AWS");
    assert_true(k.rotation_enabled);
    key_rec_free(&again);

    json_t *o = call_ok("DescribeKey", json_pack("{s:s}", "KeyId", "alias/aws/secretsmanager"));
    assert_string_equal(sget(json_object_get(o, "KeyMetadata"), "KeyManager"), "AWS");
    json_decref(o);
    o = call_ok("GetKeyPolicy", json_pack("{s:s}", "KeyId", k.key_id));
    json_t *pol = json_loads(sget(o, "Policy"), 0, NULL);
    assert_non_null(pol);
    assert_string_equal(json_string_value(json_object_get(pol, "Id")), "auto-secretsmanager-2");
    json_decref(pol);
    json_decref(o);

    /* Not usable directly, nor manageable; usable through Secrets Manager. */
    char msg[400];
    snprintf(msg, sizeof msg, "User: arn:aws:iam::" ACCT ":root is not authorized to perform: "
             "kms:Encrypt on resource: %s because no resource-based policy allows the kms:Encrypt "
             "action", k.arn);
    call_err("Encrypt", json_pack("{s:s, s:s}", "KeyId", "alias/aws/secretsmanager",
             "Plaintext", "aGk="), TR_E_ACCESS_DENIED, msg);
    assert_int_equal(call_code("DisableKey", json_pack("{s:s}", "KeyId", k.key_id)),
                     TR_E_ACCESS_DENIED);
    F->rc.via_service = "secretsmanager." REGION ".amazonaws.com";
    char *blob = encrypt("alias/aws/secretsmanager", "via SM", NULL);
    decrypt_eq(blob, NULL, "via SM");
    /* Through Secrets Manager in another region: no. */
    F->rc.via_service = "secretsmanager.eu-west-1.amazonaws.com";
    assert_int_equal(call_code("Decrypt", json_pack("{s:s}", "CiphertextBlob", blob)),
                     TR_E_ACCESS_DENIED);
    /* Any principal of the account, with no IAM policy at all. */
    mk_user("nobody", NULL);
    as_user(ACCT, "nobody");
    F->rc.via_service = "secretsmanager." REGION ".amazonaws.com";
    decrypt_eq(blob, NULL, "via SM");
    /* Never another account's, even through Secrets Manager. */
    as_account(ACCT2);
    assert_int_equal(call_code("Decrypt", json_pack("{s:s}", "CiphertextBlob", blob)),
                     TR_E_ACCESS_DENIED);
    as_account(ACCT);
    F->rc.via_service = NULL;
    assert_int_equal(call_code("Decrypt", json_pack("{s:s}", "CiphertextBlob", blob)),
                     TR_E_ACCESS_DENIED);
    free(blob);
    key_rec_free(&k);
}

/* ---- the C entry points ----------------------------------------------------- */

/* ---- asymmetric and HMAC keys (asym.c) ------------------------------------ */

static void test_sign_and_mac(void **state)
{
    (void)state;
    json_t *o = call_ok("CreateKey", json_pack("{s:s, s:s}", "KeySpec", "ECC_NIST_P256",
                                               "KeyUsage", "SIGN_VERIFY"));
    char sk[37], hk[37];
    snprintf(sk, sizeof sk, "%s", sget(json_object_get(o, "KeyMetadata"), "KeyId"));
    json_decref(o);
    o = call_ok("CreateKey", json_pack("{s:s, s:s}", "KeySpec", "HMAC_256", "KeyUsage",
                                       "GENERATE_VERIFY_MAC"));
    snprintf(hk, sizeof hk, "%s", sget(json_object_get(o, "KeyMetadata"), "KeyId"));
    json_decref(o);
    char *msg = b64("message", 7);

    /* Sign, Verify, and every byte of the signature flipped. */
    o = call_ok("Sign", json_pack("{s:s, s:s, s:s}", "KeyId", sk, "Message", msg,
                                  "SigningAlgorithm", "ECDSA_SHA_256"));
    struct buf sig = unb64(o, "Signature");
    json_decref(o);
    char *sig64 = b64(sig.data, sig.len);
    DO("Verify", json_pack("{s:s, s:s, s:s, s:s}", "KeyId", sk, "Message", msg, "Signature", sig64,
                           "SigningAlgorithm", "ECDSA_SHA_256"));
    for (size_t i = 0; i < sig.len; i++) {
        sig.data[i] ^= 0x04;
        char *bad = b64(sig.data, sig.len);
        call_err("Verify", json_pack("{s:s, s:s, s:s, s:s}", "KeyId", sk, "Message", msg,
                                     "Signature", bad, "SigningAlgorithm", "ECDSA_SHA_256"),
                 TR_E_KMS_INVALID_SIGNATURE, NULL);
        free(bad);
        sig.data[i] ^= 0x04;
    }
    call_err("Sign", json_pack("{s:s, s:s, s:s, s:s}", "KeyId", sk, "Message", msg, "MessageType",
                               "DIGEST", "SigningAlgorithm", "ECDSA_SHA_256"),
             TR_E_VALIDATION, "Digest is invalid length for algorithm ECDSA_SHA_256.");
    assert_int_equal(call_code("Sign", json_pack("{s:s, s:s, s:s}", "KeyId", hk, "Message", msg,
                                                 "SigningAlgorithm", "ECDSA_SHA_256")),
                     TR_E_KMS_INVALID_KEY_USAGE);

    /* GenerateMac, VerifyMac, and every byte of the MAC flipped. */
    o = call_ok("GenerateMac", json_pack("{s:s, s:s, s:s}", "KeyId", hk, "Message", msg,
                                         "MacAlgorithm", "HMAC_SHA_256"));
    struct buf mac = unb64(o, "Mac");
    json_decref(o);
    assert_int_equal(mac.len, 32);
    for (size_t i = 0; i <= mac.len; i++) {
        if (i < mac.len) mac.data[i] ^= 0x01;
        char *m64 = b64(mac.data, i < mac.len ? mac.len : mac.len - 1);
        call_err("VerifyMac", json_pack("{s:s, s:s, s:s, s:s}", "KeyId", hk, "Message", msg,
                                        "Mac", m64, "MacAlgorithm", "HMAC_SHA_256"),
                 TR_E_KMS_INVALID_MAC, NULL);
        free(m64);
        if (i < mac.len) mac.data[i] ^= 0x01;
    }
    char *m64 = b64(mac.data, mac.len);
    DO("VerifyMac", json_pack("{s:s, s:s, s:s, s:s}", "KeyId", hk, "Message", msg, "Mac", m64,
                              "MacAlgorithm", "HMAC_SHA_256"));
    call_err("GenerateMac", json_pack("{s:s, s:s, s:s}", "KeyId", hk, "Message", msg,
                                      "MacAlgorithm", "HMAC_SHA_384"), TR_E_KMS_INVALID_KEY_USAGE,
             "Algorithm HMAC_SHA_384 is incompatible with key spec HMAC_256.");
    call_err("EnableKeyRotation", json_pack("{s:s}", "KeyId", hk), TR_E_KMS_UNSUPPORTED,
             "You cannot perform this operation on a non-symmetric key or a key with "
             "non-ENCRYPT_DECRYPT key usage.");
    free(m64);
    free(sig64);
    free(msg);
    buf_free(&sig);
    buf_free(&mac);
}

/* DeriveSharedSecret: two KMS keys on P-256 agree with each other's public
 * key; the model's constraints, a peer key on another curve, flipped bytes
 * of the peer's key, the wrong key usage and DryRun. */
static void test_derive_shared_secret(void **state)
{
    (void)state;
    char ids[3][37];
    const char *a = ids[0], *b = ids[1], *sk = ids[2];
    const char *specs[][2] = { { "ECC_NIST_P256", "KEY_AGREEMENT" },
                               { "ECC_NIST_P256", "KEY_AGREEMENT" },
                               { "ECC_NIST_P384", "SIGN_VERIFY" } };
    char *pub[3];
    for (size_t i = 0; i < 3; i++) {
        json_t *o = call_ok("CreateKey", json_pack("{s:s, s:s}", "KeySpec", specs[i][0],
                                                   "KeyUsage", specs[i][1]));
        json_t *md = json_object_get(o, "KeyMetadata");
        snprintf(ids[i], sizeof ids[i], "%s", sget(md, "KeyId"));
        if (i < 2) {
            json_t *algs = json_object_get(md, "KeyAgreementAlgorithms");
            assert_int_equal(json_array_size(algs), 1);
            assert_string_equal(json_string_value(json_array_get(algs, 0)), "ECDH");
            assert_null(json_object_get(md, "SigningAlgorithms"));
        }
        json_decref(o);
        o = call_ok("GetPublicKey", json_pack("{s:s}", "KeyId", ids[i]));
        pub[i] = strdup(sget(o, "PublicKey"));
        json_decref(o);
    }
    json_t *o = call_ok("DeriveSharedSecret", json_pack("{s:s, s:s, s:s}", "KeyId", a,
                        "KeyAgreementAlgorithm", "ECDH", "PublicKey", pub[1]));
    assert_string_equal(sget(o, "KeyAgreementAlgorithm"), "ECDH");
    assert_string_equal(sget(o, "KeyOrigin"), "AWS_KMS");
    struct buf zab = unb64(o, "SharedSecret");
    json_decref(o);
    o = call_ok("DeriveSharedSecret", json_pack("{s:s, s:s, s:s}", "KeyId", b,
                "KeyAgreementAlgorithm", "ECDH", "PublicKey", pub[0]));
    struct buf zba = unb64(o, "SharedSecret");
    json_decref(o);
    assert_int_equal(zab.len, 32);
    assert_int_equal(zba.len, 32);
    assert_memory_equal(zab.data, zba.data, 32);

    const char *bad_peer = "PublicKey must be a DER-encoded SubjectPublicKeyInfo of an elliptic "
                           "curve public key on the curve of key spec ECC_NIST_P256.";
    call_err("DeriveSharedSecret", json_pack("{s:s, s:s, s:s}", "KeyId", a,
             "KeyAgreementAlgorithm", "ECDH", "PublicKey", pub[2]), TR_E_VALIDATION, bad_peer);
    call_err("DeriveSharedSecret", json_pack("{s:s, s:s, s:s}", "KeyId", a,
             "KeyAgreementAlgorithm", "ECDH", "PublicKey", "AAAA"), TR_E_VALIDATION, bad_peer);
    /* Every byte of the peer's key flipped: never a secret. */
    json_t *wrap = json_pack("{s:s}", "P", pub[1]);
    struct buf der = unb64(wrap, "P");
    json_decref(wrap);
    for (size_t i = 0; i < der.len; i++) {
        der.data[i] ^= 0x01;
        char *bad = b64(der.data, der.len);
        call_err("DeriveSharedSecret", json_pack("{s:s, s:s, s:s}", "KeyId", a,
                 "KeyAgreementAlgorithm", "ECDH", "PublicKey", bad), TR_E_VALIDATION, bad_peer);
        free(bad);
        der.data[i] ^= 0x01;
    }
    call_err("DeriveSharedSecret", json_pack("{s:s, s:s}", "KeyId", a, "PublicKey", pub[1]),
             TR_E_VALIDATION, "1 validation error detected: Value null at "
             "'keyAgreementAlgorithm' failed to satisfy constraint: Member must not be null");
    call_err("DeriveSharedSecret", json_pack("{s:s, s:s, s:s}", "KeyId", a,
             "KeyAgreementAlgorithm", "SM2", "PublicKey", pub[1]), TR_E_VALIDATION,
             "1 validation error detected: Value 'SM2' at 'keyAgreementAlgorithm' failed to "
             "satisfy constraint: Member must satisfy enum value set: [ECDH]");
    call_err("DeriveSharedSecret", json_pack("{s:s, s:s}", "KeyId", a,
             "KeyAgreementAlgorithm", "ECDH"), TR_E_VALIDATION,
             "1 validation error detected: Value null at 'publicKey' failed to satisfy "
             "constraint: Member must not be null");
    assert_int_equal(call_code("DeriveSharedSecret", json_pack("{s:s, s:s, s:s}", "KeyId", sk,
                     "KeyAgreementAlgorithm", "ECDH", "PublicKey", pub[0])),
                     TR_E_KMS_INVALID_KEY_USAGE);
    call_err("DeriveSharedSecret", json_pack("{s:s, s:s, s:s, s:b}", "KeyId", a,
             "KeyAgreementAlgorithm", "ECDH", "PublicKey", pub[1], "DryRun", 1),
             TR_E_KMS_DRY_RUN, "The request would have succeeded, but the DryRun option is set.");
    call_err("DeriveSharedSecret", json_pack("{s:s, s:s, s:s, s:[]}", "KeyId", a,
             "KeyAgreementAlgorithm", "ECDH", "PublicKey", pub[1], "Recipient"),
             TR_E_SERIALIZATION, "Unexpected array for member 'Recipient': expected object");
    for (size_t i = 0; i < 3; i++) free(pub[i]);
    buf_free(&der);
    buf_free(&zab);
    buf_free(&zba);
}

static void test_c_entry_points(void **state)
{
    (void)state;
    const char *id = new_key(0);
    struct buf pt = BUF_SECRET(64), blob = BUF_INIT(8192), back = BUF_SECRET(64);
    struct key_rec k, k2;
    uint32_t v = 0;
    json_t *ctx = json_pack("{s:s, s:s}", "SecretARN", "arn:x", "SecretVersionId", "v1");
    assert_int_equal(tr_code(kms_data_key_new(&F->rc, id, "kms:GenerateDataKey", ctx, 32, &pt,
                                              &blob, &k)), TR_E_OK);
    assert_int_equal(pt.len, 32);
    assert_int_equal(tr_code(kms_blob_open(&F->rc, id, "kms:Decrypt", blob.data, blob.len, ctx,
                                           &back, &k2, &v)), TR_E_OK);
    assert_int_equal(v, 1);
    assert_memory_equal(back.data, pt.data, 32);
    key_rec_free(&k2);
    buf_reset(&back);
    json_object_set_new(ctx, "SecretVersionId", json_string("v2"));
    assert_int_equal(tr_code(kms_blob_open(&F->rc, NULL, "kms:Decrypt", blob.data, blob.len, ctx,
                                           &back, &k2, &v)), TR_E_KMS_INVALID_CIPHERTEXT);
    assert_int_equal(back.len, 0);
    json_decref(ctx);
    key_rec_free(&k);
    buf_free(&pt);
    buf_free(&back);
    buf_free(&blob);
}

/* GetKeyLastUsage (last_usage.c) through the handlers: nothing for a new
 * key, then the last successful operation with its request id; a failed
 * Decrypt, a DryRun and the C entry points' uses as Secrets Manager makes
 * them; the key-only KeyId forms. */
/* The custom key store operations: no store exists, nothing is reachable;
 * the input is checked first, and secrets are never quoted. */
static void test_custom_key_stores(void **state)
{
    (void)state;
    const char *secret = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ";      /* 43 */
    json_t *o = call_ok("DescribeCustomKeyStores", json_object());
    assert_int_equal(json_array_size(json_object_get(o, "CustomKeyStores")), 0);
    assert_true(json_is_false(json_object_get(o, "Truncated")));
    assert_null(json_object_get(o, "NextMarker"));
    json_decref(o);
    call_err("DescribeCustomKeyStores", json_pack("{s:s}", "CustomKeyStoreId", "cks-1"),
             TR_E_KMS_CKS_NOT_FOUND, "KMS cannot find a custom key store with ID cks-1.");
    call_err("DescribeCustomKeyStores", json_pack("{s:s}", "CustomKeyStoreName", "hsm"),
             TR_E_KMS_CKS_NOT_FOUND, "KMS cannot find a custom key store with name hsm.");
    call_err("DescribeCustomKeyStores", json_pack("{s:s, s:s}", "CustomKeyStoreId", "cks-1",
             "CustomKeyStoreName", "hsm"), TR_E_VALIDATION,
             "You cannot specify both CustomKeyStoreId and CustomKeyStoreName.");
    call_err("DescribeCustomKeyStores", json_pack("{s:s}", "Marker", "abc"),
             TR_E_KMS_INVALID_MARKER, "Invalid marker");
    call_err("DescribeCustomKeyStores", json_pack("{s:i}", "Limit", 0), TR_E_VALIDATION,
             "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
             "Member must have value greater than or equal to 1");
    call_err("DescribeCustomKeyStores", json_pack("{s:s}", "CustomKeyStoreId", ""),
             TR_E_VALIDATION, "1 validation error detected: Value '' at 'customKeyStoreId' "
             "failed to satisfy constraint: Member must have length greater than or equal to 1");
    const char *by_id[] = { "UpdateCustomKeyStore", "DeleteCustomKeyStore",
                            "ConnectCustomKeyStore", "DisconnectCustomKeyStore" };
    for (size_t i = 0; i < 4; i++) {
        call_err(by_id[i], json_pack("{s:s}", "CustomKeyStoreId", "cks-1234567890abcdef0"),
                 TR_E_KMS_CKS_NOT_FOUND,
                 "KMS cannot find a custom key store with ID cks-1234567890abcdef0.");
        call_err(by_id[i], json_object(), TR_E_VALIDATION,
                 "1 validation error detected: Value null at 'customKeyStoreId' failed to "
                 "satisfy constraint: Member must not be null");
    }
    call_err("UpdateCustomKeyStore", json_pack("{s:s, s:s}", "CustomKeyStoreId", "cks-1",
             "KeyStorePassword", "short"), TR_E_VALIDATION,
             "1 validation error detected: Value at 'keyStorePassword' failed to satisfy "
             "constraint: Member must have length greater than or equal to 7");

    /* CreateCustomKeyStore, AWS_CLOUDHSM (the default type). */
    call_err("CreateCustomKeyStore", json_object(), TR_E_VALIDATION,
             "1 validation error detected: Value null at 'customKeyStoreName' failed to "
             "satisfy constraint: Member must not be null");
    call_err("CreateCustomKeyStore", json_pack("{s:s}", "CustomKeyStoreName", "hsm"),
             TR_E_VALIDATION, "CloudHsmClusterId is required for custom key stores with a "
             "CustomKeyStoreType of AWS_CLOUDHSM.");
    call_err("CreateCustomKeyStore", json_pack("{s:s, s:s}", "CustomKeyStoreName", "hsm",
             "CloudHsmClusterId", "cluster-1234567890a"), TR_E_VALIDATION,
             "1 validation error detected: Value 'cluster-1234567890a' at 'cloudHsmClusterId' "
             "failed to satisfy constraint: Member must satisfy regular expression pattern: "
             "cluster-[2-7a-zA-Z]{11,16}");
    call_err("CreateCustomKeyStore", json_pack("{s:s, s:s, s:s}", "CustomKeyStoreName", "hsm",
             "CloudHsmClusterId", "cluster-234567abcde", "TrustAnchorCertificate", "pem"),
             TR_E_VALIDATION, "KeyStorePassword is required for custom key stores with a "
             "CustomKeyStoreType of AWS_CLOUDHSM.");
    call_err("CreateCustomKeyStore", json_pack("{s:s, s:s, s:s, s:s, s:s}", "CustomKeyStoreName",
             "hsm", "CloudHsmClusterId", "cluster-234567abcde", "TrustAnchorCertificate", "pem",
             "KeyStorePassword", "kmsuser-pw", "XksProxyConnectivity", "PUBLIC_ENDPOINT"),
             TR_E_VALIDATION, "XksProxyConnectivity is not valid for custom key stores with a "
             "CustomKeyStoreType of AWS_CLOUDHSM.");
    call_err("CreateCustomKeyStore", json_pack("{s:s, s:s, s:s, s:s}", "CustomKeyStoreName",
             "hsm", "CloudHsmClusterId", "cluster-234567abcde", "TrustAnchorCertificate", "pem",
             "KeyStorePassword", "kmsuser-pw"), TR_E_KMS_CLUSTER_NOT_FOUND,
             "KMS cannot find the CloudHSM cluster cluster-234567abcde.");
    call_err("CreateCustomKeyStore", json_pack("{s:s, s:s}", "CustomKeyStoreName", "hsm",
             "CustomKeyStoreType", "HSM"), TR_E_VALIDATION,
             "1 validation error detected: Value 'HSM' at 'customKeyStoreType' failed to satisfy "
             "constraint: Member must satisfy enum value set: [AWS_CLOUDHSM, EXTERNAL_KEY_STORE]");

    /* EXTERNAL_KEY_STORE. */
#define XKS(tail, ...) json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:s" tail, __VA_ARGS__)
    call_err("CreateCustomKeyStore", XKS("}", "CustomKeyStoreName", "xks", "CustomKeyStoreType",
             "EXTERNAL_KEY_STORE", "XksProxyUriEndpoint", "https://xks.example.com",
             "XksProxyUriPath", "/kms/xks/v1", "XksProxyAuthenticationCredential",
             "AccessKeyId", "ABCDEFGHIJKLMNOPQRST", "RawSecretAccessKey", secret,
             "XksProxyConnectivity", "PUBLIC_ENDPOINT"), TR_E_KMS_XKS_UNREACHABLE,
             "KMS cannot reach the external key store proxy at "
             "https://xks.example.com/kms/xks/v1.");
    call_err("CreateCustomKeyStore", XKS("}", "CustomKeyStoreName", "xks", "CustomKeyStoreType",
             "EXTERNAL_KEY_STORE", "XksProxyUriEndpoint", "https://xks.example.com",
             "XksProxyUriPath", "/prefix/kms/xks/v12", "XksProxyAuthenticationCredential",
             "AccessKeyId", "ABCDEFGHIJKLMNOPQRST", "RawSecretAccessKey", secret,
             "XksProxyConnectivity", "VPC_ENDPOINT_SERVICE"), TR_E_VALIDATION,
             "XksProxyVpcEndpointServiceName is required when XksProxyConnectivity is "
             "VPC_ENDPOINT_SERVICE.");
    call_err("CreateCustomKeyStore", XKS(", s:s}", "CustomKeyStoreName", "xks",
             "CustomKeyStoreType", "EXTERNAL_KEY_STORE", "XksProxyUriEndpoint",
             "https://xks.example.com", "XksProxyUriPath", "/prefix/kms/xks/v12",
             "XksProxyAuthenticationCredential", "AccessKeyId", "ABCDEFGHIJKLMNOPQRST",
             "RawSecretAccessKey", secret, "XksProxyConnectivity", "VPC_ENDPOINT_SERVICE",
             "XksProxyVpcEndpointServiceName", "com.amazonaws.vpce.us-east-1.vpce-svc-0abc12"),
             TR_E_KMS_XKS_VPCE_NOT_FOUND,
             "KMS cannot find the VPC endpoint service com.amazonaws.vpce.us-east-1.vpce-svc-0abc12.");
    /* A pattern mismatch in a secret names the member, never the value. */
    call_err("CreateCustomKeyStore", XKS("}", "CustomKeyStoreName", "xks", "CustomKeyStoreType",
             "EXTERNAL_KEY_STORE", "XksProxyUriEndpoint", "https://xks.example.com",
             "XksProxyUriPath", "/kms/xks/v1", "XksProxyAuthenticationCredential",
             "AccessKeyId", "ABCDEFGHIJKLMNOPQRST", "RawSecretAccessKey",
             "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP!", "XksProxyConnectivity",
             "PUBLIC_ENDPOINT"), TR_E_VALIDATION,
             "1 validation error detected: Value at 'rawSecretAccessKey' failed to satisfy "
             "constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9\\/+=]+$");
    call_err("CreateCustomKeyStore", XKS("}", "CustomKeyStoreName", "xks", "CustomKeyStoreType",
             "EXTERNAL_KEY_STORE", "XksProxyUriEndpoint", "http://xks.example.com",
             "XksProxyUriPath", "/kms/xks/v1", "XksProxyAuthenticationCredential",
             "AccessKeyId", "ABCDEFGHIJKLMNOPQRST", "RawSecretAccessKey", secret,
             "XksProxyConnectivity", "PUBLIC_ENDPOINT"), TR_E_VALIDATION,
             "1 validation error detected: Value 'http://xks.example.com' at "
             "'xksProxyUriEndpoint' failed to satisfy constraint: Member must satisfy regular "
             "expression pattern: ^https://[a-zA-Z0-9.-]+$");
    const char *bad_paths[] = { "/kms/xks/v123", "/kms/xks/vx", "//kms/xks/v1",
                                "/a b/kms/xks/v1", "kms/xks/v1/", NULL };
    for (const char *const *bp = bad_paths; *bp; bp++)
        assert_int_equal(call_code("CreateCustomKeyStore", XKS("}", "CustomKeyStoreName", "xks",
                         "CustomKeyStoreType", "EXTERNAL_KEY_STORE", "XksProxyUriEndpoint",
                         "https://xks.example.com", "XksProxyUriPath", *bp,
                         "XksProxyAuthenticationCredential", "AccessKeyId",
                         "ABCDEFGHIJKLMNOPQRST", "RawSecretAccessKey", secret,
                         "XksProxyConnectivity", "PUBLIC_ENDPOINT")), TR_E_VALIDATION);
    const char *bad_vpce[] = { "org.amazonaws.vpce.us-east-1.vpce-svc-0abc",
                               "com.amazonaws.vpce.us-1.vpce-svc-0abc",
                               "com.amazonaws.vpce.a-b-c-d-1.vpce-svc-0abc",
                               "com.amazonaws.vpce.us-east-1.vpce-svc-0ABC", NULL };
    for (const char *const *bv = bad_vpce; *bv; bv++)
        assert_int_equal(call_code("CreateCustomKeyStore", XKS(", s:s}", "CustomKeyStoreName",
                         "xks", "CustomKeyStoreType", "EXTERNAL_KEY_STORE",
                         "XksProxyUriEndpoint", "https://xks.example.com", "XksProxyUriPath",
                         "/kms/xks/v1", "XksProxyAuthenticationCredential", "AccessKeyId",
                         "ABCDEFGHIJKLMNOPQRST", "RawSecretAccessKey", secret,
                         "XksProxyConnectivity", "VPC_ENDPOINT_SERVICE",
                         "XksProxyVpcEndpointServiceName", *bv)), TR_E_VALIDATION);
#undef XKS
    call_err("CreateCustomKeyStore", json_pack("{s:s, s:s, s:s}", "CustomKeyStoreName", "xks",
             "CustomKeyStoreType", "EXTERNAL_KEY_STORE", "XksProxyAuthenticationCredential",
             "key"), TR_E_SERIALIZATION,
             "Unexpected string for member 'XksProxyAuthenticationCredential': expected object");
}

static void test_key_last_usage(void **state)
{
    (void)state;
    kms_usage_reset();
    const char *id = new_key(0);
    char arn[256], msg[512];
    key_arn(id, arn, sizeof arn);
    json_t *o = call_ok("GetKeyLastUsage", json_pack("{s:s}", "KeyId", id));
    assert_string_equal(sget(o, "KeyId"), id);
    assert_int_equal(json_object_size(json_object_get(o, "KeyLastUsage")), 0);
    assert_int_equal(iget(o, "TrackingStartDate"), NOW);
    assert_int_equal(iget(o, "KeyCreationDate"), NOW);
    json_decref(o);

    snprintf(F->rc.request_id, sizeof F->rc.request_id, "11111111-1111-4111-8111-111111111111");
    F->rc.now = NOW + 5;
    o = call_ok("Encrypt", json_pack("{s:s, s:s, s:{s:s}}", "KeyId", id, "Plaintext", "aGk=",
                                     "EncryptionContext", "a", "1"));
    char *blob = strdup(sget(o, "CiphertextBlob"));
    json_decref(o);
    snprintf(F->rc.request_id, sizeof F->rc.request_id, "22222222-2222-4222-8222-222222222222");
    call_err("Decrypt", json_pack("{s:s, s:{s:s}}", "CiphertextBlob", blob, "EncryptionContext", "a", "2"),
             TR_E_KMS_INVALID_CIPHERTEXT, NULL);
    call_err("Decrypt", json_pack("{s:s, s:{s:s}, s:b}", "CiphertextBlob", blob, "EncryptionContext", "a",
                                  "1", "DryRun", 1), TR_E_KMS_DRY_RUN, "The request would have succeeded, "
             "but the DryRun option is set.");
    o = call_ok("GetKeyLastUsage", json_pack("{s:s}", "KeyId", arn));
    json_t *u = json_object_get(o, "KeyLastUsage");
    assert_string_equal(sget(u, "Operation"), "Encrypt");
    assert_string_equal(sget(u, "KmsRequestId"), "11111111-1111-4111-8111-111111111111");
    assert_string_equal(sget(u, "CloudTrailEventId"), "11111111-1111-4111-8111-111111111111");
    assert_int_equal(iget(u, "Timestamp"), NOW + 5);
    json_decref(o);
    F->rc.now = NOW + 6;
    DO("Decrypt", json_pack("{s:s, s:{s:s}}", "CiphertextBlob", blob, "EncryptionContext", "a", "1"));
    free(blob);
    o = call_ok("GetKeyLastUsage", json_pack("{s:s}", "KeyId", id));
    u = json_object_get(o, "KeyLastUsage");
    assert_string_equal(sget(u, "Operation"), "Decrypt");
    assert_string_equal(sget(u, "KmsRequestId"), "22222222-2222-4222-8222-222222222222");
    assert_int_equal(iget(u, "Timestamp"), NOW + 6);
    json_decref(o);

    /* Secrets Manager's GenerateDataKey, through the C entry point. */
    struct buf pt = BUF_SECRET(64), cb = BUF_INIT(8192);
    struct key_rec k;
    F->rc.now = NOW + 7;
    assert_true(tr_ok(kms_data_key_new(&F->rc, id, "kms:GenerateDataKey", NULL, 32, &pt, &cb, &k)));
    key_rec_free(&k);
    buf_free(&pt);
    buf_free(&cb);
    o = call_ok("GetKeyLastUsage", json_pack("{s:s}", "KeyId", id));
    assert_string_equal(sget(json_object_get(o, "KeyLastUsage"), "Operation"), "GenerateDataKey");
    json_decref(o);

    call_err("GetKeyLastUsage", json_pack("{s:s}", "KeyId", "alias/aws/ebs"), TR_E_KMS_NOT_FOUND,
             "Invalid keyId 'alias/aws/ebs'");
    call_err("GetKeyLastUsage", json_pack("{s:s}", "KeyId", "nope"), TR_E_KMS_NOT_FOUND,
             "Invalid keyId 'nope'");
    snprintf(msg, sizeof msg, "Key 'arn:aws:kms:" REGION ":" ACCT ":key/%s' does not exist",
             "11111111-2222-3333-4444-555555555555");
    call_err("GetKeyLastUsage", json_pack("{s:s}", "KeyId", "11111111-2222-3333-4444-555555555555"),
             TR_E_KMS_NOT_FOUND, msg);
    call_err("GetKeyLastUsage", json_pack("{s:s, s:s}", "KeyId", id, "GrantTokens", "x"),
             TR_E_SERIALIZATION, "Unknown member 'GrantTokens' in the request");
    kms_usage_reset();
}

static void test_grant_principal_match(void **state)
{
    (void)state;
    struct principal who = { .type = PRINCIPAL_ROLE_SESSION, .account_id = ACCT,
                             .arn = "arn:aws:sts::" ACCT ":assumed-role/R/s",
                             .role_arn = "arn:aws:iam::" ACCT ":role/p/R" };
    assert_int_equal(kms_grant_principal_match(who.arn, NULL, &who), KG_DIRECT);
    assert_int_equal(kms_grant_principal_match("arn:aws:iam::" ACCT ":role/p/R", NULL, &who), KG_DIRECT);
    assert_int_equal(kms_grant_principal_match("arn:aws:iam::" ACCT ":role/R", NULL, &who), KG_NONE);
    assert_int_equal(kms_grant_principal_match("arn:aws:sts::" ACCT ":assumed-role/R/t", NULL, &who),
                     KG_NONE);
    assert_int_equal(kms_grant_principal_match("arn:aws:iam::" ACCT ":root", NULL, &who), KG_ACCOUNT);
    assert_int_equal(kms_grant_principal_match(ACCT, NULL, &who), KG_ACCOUNT);
    assert_int_equal(kms_grant_principal_match("arn:aws:iam::" ACCT2 ":root", NULL, &who), KG_NONE);
    assert_int_equal(kms_grant_principal_match(NULL, NULL, &who), KG_NONE);
    assert_int_equal(kms_grant_principal_match("", NULL, &who), KG_NONE);
    /* Bound to a role's id: its sessions match whatever the role's ARN
     * is now, a role of the same ARN with another id does not. */
    snprintf(who.id, sizeof who.id, "AROAROLE000000000001:s");
    assert_int_equal(kms_grant_principal_match("arn:aws:iam::" ACCT ":role/p/R", "AROAROLE000000000001",
                                               &who), KG_DIRECT);
    assert_int_equal(kms_grant_principal_match("arn:aws:iam::" ACCT ":role/old", "AROAROLE000000000001",
                                               &who), KG_DIRECT);
    assert_int_equal(kms_grant_principal_match("arn:aws:iam::" ACCT ":role/p/R", "AROAROLE000000000002",
                                               &who), KG_NONE);
    struct principal u = { .type = PRINCIPAL_USER, .account_id = ACCT,
                           .arn = "arn:aws:iam::" ACCT ":user/bob", .id = "AIDABOB0000000000001" };
    assert_int_equal(kms_grant_principal_match(u.arn, "AIDABOB0000000000001", &u), KG_DIRECT);
    assert_int_equal(kms_grant_principal_match(u.arn, "AIDABOB0000000000002", &u), KG_NONE);
}

/* The misses so far of the "key-material-ids" cache class. */
static uint64_t material_id_misses(void)
{
    struct cache_stats st[CACHE_CLASSES_MAX];
    size_t n = cache_stats(st, CACHE_CLASSES_MAX);
    for (size_t i = 0; i < n; i++)
        if (strcmp(st[i].name, "key-material-ids") == 0) return st[i].misses;
    return 0;
}

/* KeyMaterialId: SHA-256 of "tresor-key-material:<key id>:<version>", in
 * lowercase hex, the same with the cache on and off; the second ask is no
 * miss; more (key, version) pairs than the class has slots all stay right,
 * and so does a pair met again after eviction or the seal's wipe. */
static void test_material_id_cache(void **state)
{
    (void)state;
    static const char *const ids[] = { "1234abcd-12ab-34cd-56ef-1234567890ab",
                                       "mrk-1234abcd12ab34cd56ef1234567890ab" };
    char want[65], got[65], text[96];
    uint8_t d[SHA256_LEN];
    cache_enable(true);
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < 2; i++) {
            for (uint32_t v = 1; v <= 40; v++) {
                snprintf(text, sizeof text, "tresor-key-material:%s:%u", ids[i], (unsigned)v);
                assert_true(tr_ok(sha256(text, strlen(text), d)));
                for (size_t j = 0; j < sizeof d; j++)
                    snprintf(want + 2 * j, 3, "%02x", d[j]);
                uint64_t m0 = material_id_misses();
                assert_true(tr_ok(kms_material_id(ids[i], v, got)));
                assert_string_equal(got, want);
                memset(got, 0, sizeof got);
                assert_true(tr_ok(kms_material_id(ids[i], v, got)));    /* now a hit */
                assert_string_equal(got, want);
                assert_true(material_id_misses() <= m0 + 1);
                assert_true(tr_ok(kms_material_id(ids[i], v, got)));
                assert_true(material_id_misses() <= m0 + 1);
            }
        }
        if (round == 1) cache_wipe_all_threads();
    }
    cache_enable(false);
    assert_true(tr_ok(kms_material_id(ids[0], 7, got)));
    snprintf(text, sizeof text, "tresor-key-material:%s:7", ids[0]);
    assert_true(tr_ok(sha256(text, strlen(text), d)));
    for (size_t j = 0; j < sizeof d; j++) snprintf(want + 2 * j, 3, "%02x", d[j]);
    assert_string_equal(got, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grant_principal_match),
        cmocka_unit_test(test_reply_with_time),
        cmocka_unit_test(test_material_id_cache),
        cmocka_unit_test_setup_teardown(test_ops_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_and_describe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_found_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multi_region_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cross_account, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_keys_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incorrect_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_states, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_on_demand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_maintenance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aliases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_key_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tag_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_enforcement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_principals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delegation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_condition_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tag_and_guard_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cross_account_operations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_only_operations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_key_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crypto_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_re_encrypt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_managed_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sign_and_mac, setup, teardown),
        cmocka_unit_test_setup_teardown(test_derive_shared_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(test_c_entry_points, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_last_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_material_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_custom_key_stores, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
