/*
 * crypt.c -- the cryptographic operations: Encrypt, Decrypt, ReEncrypt,
 * GenerateDataKey, GenerateDataKeyWithoutPlaintext, GenerateDataKeyPair,
 * GenerateDataKeyPairWithoutPlaintext, GenerateRandom; and
 * the C entry points Secrets Manager calls without going through JSON
 * (kms_blob_seal, kms_blob_open, kms_data_key_new).
 *
 * Secrets: request plaintext, data keys and unwrapped key material live in
 * secret bufs (BUF_SECRET), wiped when released; none of them is ever
 * logged or put in an error message.  Plaintext output is base64-encoded
 * in a secret buf (kms_set_secret_blob); the JSON copy belongs to jansson,
 * whose allocator wipes on free (main.c).
 *
 * Decrypt, in the order of docs/AUTHORIZATION.md 4.6 (exists -> authorized ->
 * state -> ciphertext):
 *  1. KeyId, when given, is resolved first (NotFoundException as usual).
 *  2. The blob names its key.  A KeyId naming another key:
 *     IncorrectKeyException "The key ID in the request does not identify a
 *     CMK that can perform this operation."
 *  3. Without KeyId, a blob whose key does not exist in this region (never
 *     did, was deleted, belongs to another region) or belongs to another
 *     account the caller may not use: AccessDeniedException "The ciphertext
 *     refers to a customer master key that does not exist, does not exist
 *     in this region, or you are not allowed to access." -- AWS's answer
 *     (docs/WIRE.md 5.2), which also keeps key existence in other accounts
 *     from leaking.  We chose it over InvalidCiphertextException because a
 *     well-formed blob of a deleted key is exactly that case on AWS.
 *  4. Authorization on that key (kms:Decrypt), then its state
 *     (DisabledException / KMSInvalidStateException).
 *  5. The ciphertext: a blob that does not parse, names a material version
 *     the key does not have, or fails authentication (wrong encryption
 *     context, tampered bytes) is InvalidCiphertextException with no
 *     message -- one answer for all of them, so they cannot be told apart.
 */
#include "kms/kms.h"

#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/str.h"
#include "crypto/keyring.h"
#include "crypto/pkey.h"
#include "crypto/rand.h"

static const char *const ENC_ALGS[] = { "SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_1",
                                        "RSAES_OAEP_SHA_256", "SM2PKE", NULL };
static const char *const DATA_KEY_SPECS[] = { "AES_256", "AES_128", NULL };
static const char *const DRY_RUN_MODIFIERS[] = { "IGNORE_CIPHERTEXT", NULL };

static const char *const CT_KEY_GONE_MSG =
    "The ciphertext refers to a customer master key that does not exist, does not exist "
    "in this region, or you are not allowed to access.";

TR_RESULT kms_enc_ctx(json_t *map, struct enc_pair **pairs, struct enc_ctx *out)
{
    *pairs = NULL;
    out->pairs = NULL;
    out->n = 0;
    if (!map || json_object_size(map) == 0) return TR_OK;
    struct enc_pair *p = calloc(json_object_size(map), sizeof *p);
    ENSURE(p != NULL, TR_E_INTERNAL);
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(map, k, v) {
        p[i].key = k;
        p[i].value = json_string_value(v);
        i++;
    }
    *pairs = p;
    out->pairs = p;
    out->n = i;
    return TR_OK;
}

/* The key's usage and the requested algorithm, for an encrypting or
 * decrypting operation named `op`. */
static TR_RESULT check_usage(const struct key_rec *k, const char *alg, const char *op)
{
    if (strcmp(k->key_usage, "ENCRYPT_DECRYPT") != 0) return kms_usage_error(k, op);
    const struct kms_spec *s = kms_spec_find(k->key_spec);
    const char *a = alg ? alg : "SYMMETRIC_DEFAULT";
    ENSURE(s != NULL, TR_E_INTERNAL);
    for (const char *const *l = s->enc_algs; l && *l; l++)
        if (strcmp(*l, a) == 0) return TR_OK;
    return kms_alg_error(k, a);
}

/* An asymmetric key takes no encryption context. */
static TR_RESULT no_context(const struct key_rec *k, json_t *ctx)
{
    if (!kms_key_is_symmetric(k) && json_object_size(ctx) > 0)
        BAIL(TR_E_VALIDATION, "EncryptionContext is not supported when encrypting/decrypting "
             "with asymmetric CMKs.");
    return TR_OK;
}

/* The request keys of a cryptographic operation on a key named `given`
 * (kms:RequestAlias), with context ctx and algorithm alg (absent: the
 * default, SYMMETRIC_DEFAULT, is what kms:EncryptionAlgorithm sees). */
static struct kms_authz_in crypto_in(const char *given, json_t *ctx, const char *alg)
{
    return (struct kms_authz_in){ .ctx = ctx, .key_id_given = given,
                                  .enc_alg = alg ? alg : "SYMMETRIC_DEFAULT" };
}

/* A key that can encrypt now: resolved (any form, cross-account allowed),
 * authorized for `action` (with kms:ReEncryptOnSameKey when same_as is
 * the other key of a ReEncrypt), Enabled, ENCRYPT_DECRYPT with `alg`. */
static TR_RESULT usable_key_as(struct req_ctx *rc, const char *id, const char *action,
                               json_t *ctx, const char *alg, const char *op,
                               const char *same_as, struct key_rec *k)
{
    GUARD(kms_resolve(rc, id, KR_ALIAS | KR_XACCT, k));
    struct kms_authz_in az = crypto_in(id, ctx, alg);
    if (same_as) az.reencrypt_same = strcmp(same_as, k->key_id) == 0 ? 1 : -1;
    tr_result r = kms_authorize_in(rc, action, k, &az);
    if (tr_ok(r)) r = kms_check_state(k, KS_USABLE);
    if (tr_ok(r)) r = check_usage(k, alg, op);
    if (tr_ok(r)) r = no_context(k, ctx);
    if (tr_failed(r)) key_rec_free(k);
    return r;
}

static TR_RESULT usable_key(struct req_ctx *rc, const char *id, const char *action,
                            json_t *ctx, const char *alg, const char *op, struct key_rec *k)
{
    return usable_key_as(rc, id, action, ctx, alg, op, NULL, k);
}

TR_RESULT kms_blob_seal(struct req_ctx *rc, const struct key_rec *k,
                        const struct enc_ctx *ctx, const uint8_t *pt, size_t n,
                        struct buf *blob)
{
    uint8_t kid[CT_KEY_ID_LEN], ver;
    struct buf m = BUF_SECRET(64);
    GUARD(ct_key_id_to_bytes(k->key_id, &ver, kid));
    tr_result r = kms_material_load(rc->st, rc->kr, k->key_id, k->current_material, &m);
    if (tr_ok(r))
        r = ciphertext_seal_as(ver, kid, k->current_material, m.data, ctx, pt, n, blob);
    buf_free(&m);
    return r;
}

/* kms_blob_seal with the encryption context of the request's JSON map. */
static TR_RESULT seal_with_context(struct req_ctx *rc, const struct key_rec *k, json_t *ctx_json,
                                   const uint8_t *pt, size_t n, struct buf *blob)
{
    struct enc_pair *pairs = NULL;
    struct enc_ctx ctx;
    tr_result r = kms_enc_ctx(ctx_json, &pairs, &ctx);
    if (tr_ok(r)) r = kms_blob_seal(rc, k, &ctx, pt, n, blob);
    free(pairs);
    return r;
}

/* What Encrypt and ReEncrypt write under key k: a ciphertext blob with the
 * context for a symmetric key, RSAES-OAEP with alg for an RSA key. */
static TR_RESULT encrypt_under(struct req_ctx *rc, const struct key_rec *k, const char *alg,
                               json_t *ctx_json, const uint8_t *pt, size_t n, struct buf *blob)
{
    if (!kms_key_is_symmetric(k)) return kms_rsa_encrypt(rc, k, alg, pt, n, blob);
    return seal_with_context(rc, k, ctx_json, pt, n, blob);
}

/* The last step of every open: the material version the blob names,
 * unwrapped, then the ciphertext with the context.  A missing material
 * version is InvalidCiphertextException, like a failed tag. */
static TR_RESULT open_parsed(store_t st, const struct keyring *kr, const char *key_id,
                             const struct ct_blob *ct, json_t *ctx_json, struct buf *pt)
{
    struct enc_pair *pairs = NULL;
    struct enc_ctx ctx;
    struct buf m = BUF_SECRET(64);
    tr_result r = kms_enc_ctx(ctx_json, &pairs, &ctx);
    if (tr_failed(r)) goto fail;
    r = kms_material_load(st, kr, key_id, ct->material_version, &m);
    if (tr_failed(r)) {
        if (tr_code(r) == TR_E_STORE_NOT_FOUND)
            r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_INVALID_CIPHERTEXT, NULL);
        goto fail;
    }
    r = ciphertext_open(ct, m.data, &ctx, pt);
fail:
    buf_free(&m);
    free(pairs);
    return r;
}

TR_RESULT kms_blob_open(struct req_ctx *rc, const char *key_id, const char *action,
                        const uint8_t *blob, size_t blob_len, json_t *ctx_json,
                        struct buf *pt, struct key_rec *key, uint32_t *material)
{
    /* Secrets Manager's Decrypt: a use of the key, as on AWS. */
    GUARD(kms_blob_open_alg(rc, key_id, action, NULL, blob, blob_len, ctx_json, pt, key,
                            material));
    kms_usage_note(rc, key, "Decrypt");
    return TR_OK;
}

/* kms_blob_open_alg, and for ReEncrypt same_as: the destination key's
 * id, for kms:ReEncryptOnSameKey ("" when it does not resolve). */
static TR_RESULT blob_open(struct req_ctx *rc, const char *key_id, const char *action,
                           const char *alg, const char *same_as, const uint8_t *blob,
                           size_t blob_len, json_t *ctx_json, struct buf *pt,
                           struct key_rec *key, uint32_t *material)
{
    struct kms_authz_in az = crypto_in(key_id, ctx_json, alg);
    struct key_rec given;
    struct ct_blob ct;
    char blob_key[37];
    bool authorized = false;
    tr_result r = TR_OK;

    memset(&given, 0, sizeof given);
    memset(key, 0, sizeof *key);
    if (key_id) GUARD(kms_resolve(rc, key_id, KR_ALIAS | KR_XACCT, &given));
    if (key_id && !kms_key_is_symmetric(&given)) {
        /* An RSA ciphertext is the raw RSAES-OAEP output: it names no
         * key, so KeyId is what says which one (and without KeyId the
         * blob does not parse: InvalidCiphertextException). */
        *key = given;
        memset(&given, 0, sizeof given);
        if (same_as) az.reencrypt_same = strcmp(same_as, key->key_id) == 0 ? 1 : -1;
        r = kms_authorize_in(rc, action, key, &az);
        if (tr_ok(r)) r = kms_check_state(key, KS_USABLE);
        if (tr_ok(r)) r = check_usage(key, alg, strchr(action, ':') + 1);
        if (tr_ok(r)) r = no_context(key, ctx_json);
        if (tr_ok(r) && !blob) r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_INVALID_CIPHERTEXT, NULL);
        if (tr_ok(r)) r = kms_rsa_decrypt(rc, key, alg, blob, blob_len, pt);
        if (tr_ok(r)) *material = key->current_material;
        goto fail;
    }

    bool parsed = blob && tr_ok(ciphertext_parse(blob, blob_len, &ct));
    if (!parsed) {
        if (!key_id) {
            r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_INVALID_CIPHERTEXT, NULL);
            goto fail;
        }
        *key = given;
        memset(&given, 0, sizeof given);
    } else {
        ct_key_id_from_bytes(ct.version, ct.key_id, blob_key);
        if (key_id) {
            if (strcmp(given.key_id, blob_key) != 0) {
                r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_INCORRECT_KEY,
                    "The key ID in the request does not identify a CMK that can perform "
                    "this operation.");
                goto fail;
            }
            *key = given;
            memset(&given, 0, sizeof given);
        } else {
            r = kms_key_lookup(rc->st, blob_key, rc->region, key);
            if (tr_failed(r) && tr_code(r) != TR_E_STORE_NOT_FOUND) goto fail;
            if (tr_failed(r) || strcmp(key->region, rc->region) != 0) {
                r = tr_fail_at(__FILE__, __LINE__, TR_E_ACCESS_DENIED, "%s", CT_KEY_GONE_MSG);
                goto fail;
            }
            /* Keys are global in the store: the blob's key may belong to
             * another account, and is authorized against that account's
             * key policy.  Denied, it is not even admitted to exist. */
            if (same_as) az.reencrypt_same = strcmp(same_as, key->key_id) == 0 ? 1 : -1;
            if (strcmp(key->account_id, rc->who.account_id) != 0) {
                r = kms_authorize_in(rc, action, key, &az);
                if (tr_failed(r)) {
                    if (tr_code(r) == TR_E_ACCESS_DENIED)
                        r = tr_fail_at(__FILE__, __LINE__, TR_E_ACCESS_DENIED, "%s",
                                       CT_KEY_GONE_MSG);
                    goto fail;
                }
                authorized = true;
            }
        }
    }
    if (!authorized) {
        if (same_as) az.reencrypt_same = strcmp(same_as, key->key_id) == 0 ? 1 : -1;
        r = kms_authorize_in(rc, action, key, &az);
        if (tr_failed(r)) goto fail;
    }
    r = kms_check_state(key, KS_USABLE);
    if (tr_failed(r)) goto fail;
    r = check_usage(key, NULL, strchr(action, ':') + 1);
    if (tr_failed(r)) goto fail;
    if (!parsed) { r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_INVALID_CIPHERTEXT, NULL); goto fail; }

    r = open_parsed(rc->st, rc->kr, key->key_id, &ct, ctx_json, pt);
    if (tr_failed(r)) goto fail;
    *material = ct.material_version;
fail:
    key_rec_free(&given);
    if (tr_failed(r)) key_rec_free(key);
    return r;
}

TR_RESULT kms_blob_open_alg(struct req_ctx *rc, const char *key_id, const char *action,
                            const char *alg, const uint8_t *blob, size_t blob_len,
                            json_t *ctx_json, struct buf *pt, struct key_rec *key,
                            uint32_t *material)
{
    return blob_open(rc, key_id, action, alg, NULL, blob, blob_len, ctx_json, pt, key,
                     material);
}

TR_RESULT kms_blob_open_offline(store_t st, const struct keyring *kr, const uint8_t *blob,
                                size_t blob_len, json_t *ctx_json, struct buf *pt,
                                char key_id[37], uint32_t *material)
{
    struct ct_blob ct;
    key_id[0] = '\0';
    GUARD(ciphertext_parse(blob, blob_len, &ct));
    ct_key_id_from_bytes(ct.version, ct.key_id, key_id);
    GUARD(open_parsed(st, kr, key_id, &ct, ctx_json, pt));
    *material = ct.material_version;
    return TR_OK;
}

TR_RESULT kms_data_key_new(struct req_ctx *rc, const char *key_id, const char *action,
                           json_t *ctx_json, size_t n, struct buf *pt,
                           struct buf *blob, struct key_rec *key)
{
    tr_result r;

    memset(key, 0, sizeof *key);
    ENSURE(n >= 1 && n <= KMS_DATA_KEY_MAX, TR_E_INTERNAL);
    GUARD(usable_key(rc, key_id, action, ctx_json, NULL, strchr(action, ':') + 1, key));
    r = buf_reserve(pt, n);
    if (tr_failed(r)) goto fail;
    r = rand_bytes(pt->data + pt->len, n);
    if (tr_failed(r)) goto fail;
    pt->len += (uint32_t)n;
    r = seal_with_context(rc, key, ctx_json, pt->data + pt->len - n, n, blob);
    if (tr_ok(r)) kms_usage_note(rc, key, kms_usage_op_name(action + 4));
fail:
    if (tr_failed(r)) {
        buf_reset(pt);
        key_rec_free(key);
    }
    return r;
}

/* ---------------------------------------------------------------------- */
/* Handlers                                                                */

/* DryRunModifiers: true when IGNORE_CIPHERTEXT is listed. */
static TR_RESULT get_ignore_ciphertext(json_t *in, bool *ignore)
{
    json_t *l;
    *ignore = false;
    GUARD(json_get_str_list(in, "DryRunModifiers", false, (size_t)-1, 0, (size_t)-1, &l));
    if (!l) return TR_OK;
    size_t i;
    json_t *e;
    json_array_foreach(l, i, e) {
        json_t *probe = json_pack("{s:O}", "DryRunModifiers", e);
        const char *v;
        ENSURE(probe != NULL, TR_E_INTERNAL);
        tr_result r = kms_get_enum(probe, "DryRunModifiers", DRY_RUN_MODIFIERS, &v);
        json_decref(probe);
        GUARD(r);
        *ignore = true;
    }
    return TR_OK;
}

TR_RESULT kms_recipient_member(json_t *in, bool *given)
{
    json_t *v = json_object_get(in, "Recipient");
    *given = v && !json_is_null(v);
    /* RecipientInfo is a structure: anything else fails to deserialize
     * before the service looks at it, as every mistyped member does. */
    if (*given && !json_is_object(v))
        BAIL(TR_E_SERIALIZATION, "Unexpected %s for member 'Recipient': expected object",
             json_is_string(v) ? "string" : json_is_array(v) ? "array"
             : json_is_boolean(v) ? "boolean" : "number");
    return TR_OK;
}

tr_result kms_recipient_error(void)
{
    return tr_fail_at(__FILE__, __LINE__, TR_E_KMS_UNSUPPORTED, "tresor does not support "
                      "Recipient (attested enclave encryption) yet.");
}

TR_RESULT kms_refuse_recipient(json_t *in)
{
    bool given;
    GUARD(kms_recipient_member(in, &given));
    if (given) return kms_recipient_error();
    return TR_OK;
}

KMS_HANDLER(op_encrypt)
{
    const char *id, *alg;
    json_t *ctx_json;
    bool dry;
    struct buf pt = BUF_SECRET(CT_MAX_PLAINTEXT + 8);
    struct buf blob = BUF_INIT(KMS_CT_MAX + 1024);
    struct key_rec k;
    tr_result r;

    memset(&k, 0, sizeof k);
    r = json_get_str(in, "KeyId", true, 1, KMS_ARN_MAX, &id);
    if (tr_ok(r)) r = json_get_blob(in, "Plaintext", true, 1, CT_MAX_PLAINTEXT, &pt);
    if (tr_ok(r)) r = json_get_str_map(in, "EncryptionContext", &ctx_json);
    if (tr_ok(r)) r = kms_grant_tokens(in);
    if (tr_ok(r)) r = kms_get_enum(in, "EncryptionAlgorithm", ENC_ALGS, &alg);
    if (tr_ok(r)) r = kms_get_flag(in, "DryRun", &dry);
    if (tr_ok(r)) r = usable_key(rc, id, rc->op->action, ctx_json, alg, "Encrypt", &k);
    if (tr_failed(r)) goto fail;
    if (dry) { r = kms_dry_run(); goto fail; }

    r = encrypt_under(rc, &k, alg, ctx_json, pt.data, pt.len, &blob);
    if (tr_ok(r))
        r = kms_reply_with_blob(json_pack("{s:s, s:s}", "KeyId", k.arn, "EncryptionAlgorithm",
                                          alg ? alg : "SYMMETRIC_DEFAULT"),
                                "CiphertextBlob", &blob, out);
    if (tr_ok(r)) kms_usage_note(rc, &k, "Encrypt");
fail:
    buf_free(&pt);
    buf_free(&blob);
    key_rec_free(&k);
    return r;
}

KMS_HANDLER(op_decrypt)
{
    const char *id, *alg;
    json_t *ctx_json;
    bool dry, ignore_ct;
    struct buf blob = BUF_INIT(KMS_CT_MAX + 8);
    struct buf pt = BUF_SECRET(CT_MAX_PLAINTEXT + 64);
    struct key_rec k;
    uint32_t version = 0;
    char mid[65];
    tr_result r;

    memset(&k, 0, sizeof k);
    r = json_get_blob(in, "CiphertextBlob", false, 1, KMS_CT_MAX, &blob);
    if (tr_ok(r)) r = json_get_str_map(in, "EncryptionContext", &ctx_json);
    if (tr_ok(r)) r = kms_grant_tokens(in);
    if (tr_ok(r)) r = json_get_str(in, "KeyId", false, 1, KMS_ARN_MAX, &id);
    if (tr_ok(r)) r = kms_get_enum(in, "EncryptionAlgorithm", ENC_ALGS, &alg);
    if (tr_ok(r)) r = kms_refuse_recipient(in);
    if (tr_ok(r)) r = kms_get_flag(in, "DryRun", &dry);
    if (tr_ok(r)) r = get_ignore_ciphertext(in, &ignore_ct);
    if (tr_failed(r)) goto fail;

    if (dry && ignore_ct) {
        /* Authorization and key state only; the blob is not looked at. */
        if (!id) { r = json_invalid("KeyId", "null", "Member must not be null"); goto fail; }
        r = usable_key(rc, id, rc->op->action, ctx_json, alg, "Decrypt", &k);
        if (tr_ok(r)) r = kms_dry_run();
        goto fail;
    }
    if (!blob.data) {
        r = json_invalid("CiphertextBlob", "null", "Member must not be null");
        goto fail;
    }
    r = kms_blob_open_alg(rc, id, rc->op->action, alg, blob.data, blob.len, ctx_json, &pt, &k,
                          &version);
    if (tr_ok(r)) r = check_usage(&k, alg, "Decrypt");
    if (tr_ok(r) && dry) r = kms_dry_run();
    if (tr_ok(r) && kms_key_is_symmetric(&k) && rc->json_reply) {
        /* The hot path: straight into the reply buffer (core/json.h json_w). */
        r = kms_material_id(k.key_id, version, mid);
        if (tr_ok(r)) {
            struct json_w w;
            json_w_begin(&w, rc->json_reply);
            json_w_str(&w, "KeyId", k.arn, strlen(k.arn));
            json_w_str(&w, "EncryptionAlgorithm", "SYMMETRIC_DEFAULT", 17);
            json_w_str(&w, "KeyMaterialId", mid, strlen(mid));
            json_w_b64(&w, "Plaintext", pt.data, pt.len);
            r = json_w_end(&w);
            rc->reply_written = tr_ok(r);
        }
    } else if (tr_ok(r) && kms_key_is_symmetric(&k)) {
        r = kms_material_id(k.key_id, version, mid);
        if (tr_ok(r))
            r = kms_reply_with_blob(json_pack("{s:s, s:s, s:s}", "KeyId", k.arn,
                                              "EncryptionAlgorithm", "SYMMETRIC_DEFAULT",
                                              "KeyMaterialId", mid),
                                    "Plaintext", &pt, out);
    } else if (tr_ok(r)) {
        /* Asymmetric: no KeyMaterialId (AWS gives it for symmetric keys). */
        r = kms_reply_with_blob(json_pack("{s:s, s:s}", "KeyId", k.arn, "EncryptionAlgorithm", alg),
                                "Plaintext", &pt, out);
    }
    if (tr_ok(r)) kms_usage_note(rc, &k, "Decrypt");
fail:
    buf_free(&pt);
    buf_free(&blob);
    key_rec_free(&k);
    return r;
}

KMS_HANDLER(op_re_encrypt)
{
    const char *src_id, *dst_id, *src_alg, *dst_alg;
    json_t *src_ctx, *dst_ctx;
    bool dry, ignore_ct;
    struct buf blob = BUF_INIT(KMS_CT_MAX + 8);
    struct buf pt = BUF_SECRET(CT_MAX_PLAINTEXT + 64);
    struct buf out_blob = BUF_INIT(KMS_CT_MAX + 1024);
    struct key_rec src, dst;
    uint32_t version = 0;
    char src_mid[65], dst_mid[65], dst_key_id[37] = "";
    tr_result r;

    memset(&src, 0, sizeof src);
    memset(&dst, 0, sizeof dst);
    r = json_get_blob(in, "CiphertextBlob", false, 1, KMS_CT_MAX, &blob);
    if (tr_ok(r)) r = json_get_str_map(in, "SourceEncryptionContext", &src_ctx);
    if (tr_ok(r)) r = json_get_str(in, "SourceKeyId", false, 1, KMS_ARN_MAX, &src_id);
    if (tr_ok(r)) r = json_get_str(in, "DestinationKeyId", true, 1, KMS_ARN_MAX, &dst_id);
    if (tr_ok(r)) r = json_get_str_map(in, "DestinationEncryptionContext", &dst_ctx);
    if (tr_ok(r)) r = kms_get_enum(in, "SourceEncryptionAlgorithm", ENC_ALGS, &src_alg);
    if (tr_ok(r)) r = kms_get_enum(in, "DestinationEncryptionAlgorithm", ENC_ALGS, &dst_alg);
    if (tr_ok(r)) r = kms_grant_tokens(in);
    if (tr_ok(r)) r = kms_get_flag(in, "DryRun", &dry);
    if (tr_ok(r)) r = get_ignore_ciphertext(in, &ignore_ct);
    if (tr_failed(r)) goto fail;

    /* kms:ReEncryptOnSameKey on both steps: is the destination the key
     * the ciphertext was made under?  The destination is looked at here
     * without failing; its own errors come at its own step. */
    if (tr_ok(kms_resolve(rc, dst_id, KR_ALIAS | KR_XACCT, &dst)))
        STR_COPY_ARRAY(dst_key_id, dst.key_id);
    else
        tr_clear_error();
    key_rec_free(&dst);
    memset(&dst, 0, sizeof dst);
    if (dry && ignore_ct) {
        if (!src_id) { r = json_invalid("SourceKeyId", "null", "Member must not be null"); goto fail; }
        r = usable_key_as(rc, src_id, rc->op->action, src_ctx, src_alg, "ReEncryptFrom",
                          dst_key_id, &src);
    } else if (!blob.data) {
        r = json_invalid("CiphertextBlob", "null", "Member must not be null");
    } else {
        r = blob_open(rc, src_id, rc->op->action, src_alg, dst_key_id, blob.data, blob.len,
                      src_ctx, &pt, &src, &version);
        if (tr_ok(r)) r = check_usage(&src, src_alg, "ReEncryptFrom");
    }
    if (tr_failed(r)) goto fail;
    r = usable_key_as(rc, dst_id, "kms:ReEncryptTo", dst_ctx, dst_alg, "ReEncryptTo", src.key_id,
                      &dst);
    if (tr_failed(r)) goto fail;
    if (dry) { r = kms_dry_run(); goto fail; }

    r = encrypt_under(rc, &dst, dst_alg, dst_ctx, pt.data, pt.len, &out_blob);
    buf_free(&pt);   /* used up: wipe now */
    if (tr_failed(r)) goto fail;
    json_t *reply = json_pack("{s:s, s:s, s:s, s:s}", "SourceKeyId", src.arn, "KeyId", dst.arn,
                              "SourceEncryptionAlgorithm", src_alg ? src_alg : "SYMMETRIC_DEFAULT",
                              "DestinationEncryptionAlgorithm",
                              dst_alg ? dst_alg : "SYMMETRIC_DEFAULT");
    /* KeyMaterialIds name symmetric material only. */
    if (reply && kms_key_is_symmetric(&src)) {
        r = kms_material_id(src.key_id, version, src_mid);
        if (tr_ok(r)) r = kms_set(reply, "SourceKeyMaterialId", json_string(src_mid));
    }
    if (tr_ok(r) && reply && kms_key_is_symmetric(&dst)) {
        r = kms_material_id(dst.key_id, dst.current_material, dst_mid);
        if (tr_ok(r)) r = kms_set(reply, "DestinationKeyMaterialId", json_string(dst_mid));
    }
    if (tr_failed(r)) { json_decref(reply); goto fail; }
    r = kms_reply_with_blob(reply, "CiphertextBlob", &out_blob, out);
    if (tr_ok(r)) {                     /* both keys were used */
        kms_usage_note(rc, &src, "ReEncrypt");
        kms_usage_note(rc, &dst, "ReEncrypt");
    }
fail:
    buf_free(&pt);
    buf_free(&blob);
    buf_free(&out_blob);
    key_rec_free(&src);
    key_rec_free(&dst);
    return r;
}

/* GenerateDataKey and GenerateDataKeyWithoutPlaintext: a data key sealed
 * under the key, and -- unless the row is KMS_OP_NO_PLAINTEXT -- in the
 * clear. */
KMS_HANDLER(op_generate_data_key)
{
    const char *id, *spec;
    json_t *ctx_json;
    bool present, dry;
    int64_t nbytes = 0;
    struct buf pt = BUF_SECRET(KMS_DATA_KEY_MAX + 8);
    struct buf blob = BUF_INIT(KMS_CT_MAX + 1024);
    struct key_rec k;
    char mid[65];
    const char *action = rc->op->action;     /* GenerateDataKey[WithoutPlaintext] */
    bool with_plaintext = !(rc->op->flags & KMS_OP_NO_PLAINTEXT);
    tr_result r;

    memset(&k, 0, sizeof k);
    r = json_get_str(in, "KeyId", true, 1, KMS_ARN_MAX, &id);
    if (tr_ok(r)) r = json_get_str_map(in, "EncryptionContext", &ctx_json);
    if (tr_ok(r)) r = json_get_int(in, "NumberOfBytes", false, 1, KMS_DATA_KEY_MAX, &present, &nbytes);
    if (tr_ok(r)) r = kms_get_enum(in, "KeySpec", DATA_KEY_SPECS, &spec);
    if (tr_ok(r)) r = kms_grant_tokens(in);
    if (tr_ok(r) && with_plaintext) r = kms_refuse_recipient(in);
    if (tr_ok(r)) r = kms_get_flag(in, "DryRun", &dry);
    if (tr_failed(r)) goto fail;
    if (present == (spec != NULL)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION,
                       "Please specify either number of bytes or key spec.");
        goto fail;
    }
    size_t n = spec ? (strcmp(spec, "AES_128") == 0 ? 16 : 32) : (size_t)nbytes;

    if (dry) {
        r = usable_key(rc, id, action, ctx_json, NULL, action + 4, &k);
        if (tr_ok(r)) r = kms_dry_run();
        goto fail;
    }
    r = kms_data_key_new(rc, id, action, ctx_json, n, &pt, &blob, &k);
    if (tr_ok(r)) r = kms_material_id(k.key_id, k.current_material, mid);
    if (tr_ok(r) && rc->json_reply) {
        /* The hot path: straight into the reply buffer (core/json.h json_w). */
        struct json_w w;
        json_w_begin(&w, rc->json_reply);
        json_w_str(&w, "KeyId", k.arn, strlen(k.arn));
        json_w_str(&w, "KeyMaterialId", mid, strlen(mid));
        json_w_b64(&w, "CiphertextBlob", blob.data, blob.len);
        if (with_plaintext) json_w_b64(&w, "Plaintext", pt.data, pt.len);
        r = json_w_end(&w);
        rc->reply_written = tr_ok(r);
    } else if (tr_ok(r)) {
        const struct kms_blob_member m[] = { { "CiphertextBlob", &blob }, { "Plaintext", &pt } };
        r = kms_reply_with_blobs(json_pack("{s:s, s:s}", "KeyId", k.arn, "KeyMaterialId", mid),
                                 m, with_plaintext ? 2 : 1, out);
    }
fail:
    buf_free(&pt);
    buf_free(&blob);
    key_rec_free(&k);
    return r;
}

/* ---------------------------------------------------------------------- */
/* GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext                */

static const char *const PAIR_SPECS[] = { "RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256",
                                          "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1",
                                          "SM2", NULL };

/* A key pair of KeyPairSpec (crypto/pkey.c, as for asymmetric KMS keys):
 * the private key as PKCS#8 DER sealed under a symmetric encryption key
 * with the encryption context (an ordinary ciphertext blob: Decrypt opens
 * it), the public key as SubjectPublicKeyInfo DER, and -- unless the row
 * is KMS_OP_NO_PLAINTEXT -- the private key in the clear, built in wiped
 * memory. */
KMS_HANDLER(op_generate_data_key_pair)
{
    const char *id, *spec;
    json_t *ctx_json;
    bool dry;
    struct buf priv = BUF_SECRET(KMS_MATERIAL_MAX);
    struct buf pub = BUF_INIT(8192);
    struct buf blob = BUF_INIT(KMS_CT_MAX + 1024);
    struct key_rec k;
    char mid[65];
    const char *action = rc->op->action;
    bool with_plaintext = !(rc->op->flags & KMS_OP_NO_PLAINTEXT);
    tr_result r;

    memset(&k, 0, sizeof k);
    r = json_get_str_map(in, "EncryptionContext", &ctx_json);
    if (tr_ok(r)) r = json_get_str(in, "KeyId", true, 1, KMS_ARN_MAX, &id);
    if (tr_ok(r)) r = kms_get_enum(in, "KeyPairSpec", PAIR_SPECS, &spec);
    if (tr_ok(r) && !spec) r = json_invalid("KeyPairSpec", "null", "Member must not be null");
    if (tr_ok(r)) r = kms_grant_tokens(in);
    if (tr_ok(r) && with_plaintext) r = kms_refuse_recipient(in);
    if (tr_ok(r)) r = kms_get_flag(in, "DryRun", &dry);
    if (tr_failed(r)) goto fail;
    const struct kms_spec *s = kms_spec_find(spec);
    if (!s) {   /* SM2: China Regions only */
        r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_UNSUPPORTED, "KeyPairSpec %s is not supported",
                       spec);
        goto fail;
    }
    r = kms_resolve(rc, id, KR_ALIAS | KR_XACCT, &k);
    if (tr_failed(r)) goto fail;
    struct kms_authz_in az = crypto_in(id, ctx_json, NULL);
    az.pair_spec = spec;
    r = kms_authorize_in(rc, action, &k, &az);
    if (tr_ok(r)) r = kms_check_state(&k, KS_USABLE);
    if (tr_ok(r)) r = check_usage(&k, NULL, action + 4);
    if (tr_ok(r) && dry) r = kms_dry_run();
    if (tr_failed(r)) goto fail;

    r = kms_material_generate(s, &priv, &pub);
    if (tr_ok(r)) r = seal_with_context(rc, &k, ctx_json, priv.data, priv.len, &blob);
    if (tr_ok(r)) r = kms_material_id(k.key_id, k.current_material, mid);
    if (tr_ok(r)) {
        const struct kms_blob_member m[] = { { "PrivateKeyCiphertextBlob", &blob },
                                             { "PublicKey", &pub },
                                             { "PrivateKeyPlaintext", &priv } };
        r = kms_reply_with_blobs(json_pack("{s:s, s:s, s:s}", "KeyId", k.arn, "KeyPairSpec", spec,
                                           "KeyMaterialId", mid),
                                 m, with_plaintext ? 3 : 2, out);
    }
    if (tr_ok(r)) kms_usage_note(rc, &k, rc->op->name);
fail:
    buf_free(&priv);
    buf_free(&pub);
    buf_free(&blob);
    key_rec_free(&k);
    return r;
}

KMS_HANDLER(op_generate_random)
{
    const char *cks;
    bool present;
    int64_t n = 0;
    struct buf b = BUF_SECRET(KMS_DATA_KEY_MAX + 8);
    tr_result r;

    GUARD(json_get_int(in, "NumberOfBytes", false, 1, KMS_DATA_KEY_MAX, &present, &n));
    GUARD(json_get_str(in, "CustomKeyStoreId", false, 1, 64, &cks));
    GUARD(kms_refuse_recipient(in));
    if (!present) BAIL(TR_E_VALIDATION, "NumberOfBytes is required.");
    GUARD(kms_authorize(rc, rc->op->action, NULL, NULL));
    /* Random bytes from a custom key store's HSM: tresor has none. */
    if (cks) return kms_custom_key_store_not_found(cks, NULL);

    r = buf_reserve(&b, (size_t)n);
    if (tr_failed(r)) goto fail;
    r = rand_bytes(b.data, (size_t)n);
    if (tr_failed(r)) goto fail;
    b.len = (uint32_t)n;
    r = kms_reply_with_blob(json_object(), "Plaintext", &b, out);
fail:
    buf_free(&b);
    return r;
}
