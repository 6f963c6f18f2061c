/*
 * asym.c -- KMS's asymmetric and HMAC keys: the key specs and what each
 * allows (KeyUsage, algorithms), their material, and the operations only
 * they perform: GetPublicKey, Sign, Verify, GenerateMac, VerifyMac,
 * DeriveSharedSecret; plus RSAES-OAEP for crypt.c's Encrypt, Decrypt and
 * ReEncrypt.
 *
 * Material.  An RSA or EC key's material is its private key as PKCS#8 DER
 * (crypto/pkey.c generates it), an HMAC key's is random bytes as long as
 * its digest; both are stored wrapped under the root key exactly like a
 * symmetric key's 32 bytes (keys.c, label "kms-material:<key-id>:1"), and
 * unwrapped into a secret buf for one operation.  These keys never rotate,
 * so version 1 is the only one.
 *
 * The answers, as AWS gives them (checked against the KMS API reference;
 * docs/WIRE.md):
 *  - an operation the key's usage does not allow: InvalidKeyUsageException
 *    "<key ARN> key usage is <usage> which is not valid for <Operation>.";
 *  - an algorithm the key spec does not list: InvalidKeyUsageException
 *    "Algorithm <alg> is incompatible with key spec <spec>.";
 *  - MessageType DIGEST whose length is not the algorithm's digest's:
 *    ValidationException "Digest is invalid length for algorithm <alg>.";
 *  - Verify of a signature that does not verify: KMSInvalidSignatureException,
 *    VerifyMac of a MAC that does not: KMSInvalidMacException, both without
 *    a message (AWS sends none);
 *  - GetPublicKey of a symmetric or HMAC key: UnsupportedOperationException;
 *  - DeriveSharedSecret (KEY_AGREEMENT keys, ECDH on the NIST curves): a
 *    PublicKey that is not an SPKI of a valid point on the key's curve is
 *    a ValidationException (AWS documents the exception, not its text, so
 *    the wording is tresor's); Recipient is refused as crypt.c refuses it.
 * The shared secret is the raw ECDH output (the x-coordinate, as AWS
 * returns it), in a secret buf wiped once the reply holds it; it is a
 * reply member, never logged.
 * The MAC comparison is constant time (ct_memeq); signature verification
 * is OpenSSL's.  Messages, signatures and MACs are request members the
 * audit log records only as their HMAC (audit/audit_keys.c).
 */
#include "kms/kms.h"

#include <stdio.h>
#include <string.h>

#include "core/ct.h"
#include "core/json.h"
#include "core/secmem.h"
#include "crypto/pkey.h"
#include "crypto/rand.h"

/* ---------------------------------------------------------------------- */
/* Key specs                                                               */

static const char *const RSA_ENC_ALGS[] = { "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", NULL };
static const char *const SYM_ENC_ALGS[] = { "SYMMETRIC_DEFAULT", NULL };
/* DescribeKey's order (the KMS API reference's example). */
static const char *const RSA_SIGN_ALGS[] = {
    "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512", NULL };
static const char *const ECDSA_256[] = { "ECDSA_SHA_256", NULL };
static const char *const ECDSA_384[] = { "ECDSA_SHA_384", NULL };
static const char *const ECDSA_512[] = { "ECDSA_SHA_512", NULL };
static const char *const MAC_224[] = { "HMAC_SHA_224", NULL };
static const char *const MAC_256[] = { "HMAC_SHA_256", NULL };
static const char *const MAC_384[] = { "HMAC_SHA_384", NULL };
static const char *const MAC_512[] = { "HMAC_SHA_512", NULL };
static const char *const AGREE_ALGS[] = { "ECDH", NULL };

/* usages: the KeyUsage values CreateKey accepts for the spec, as AWS
 * documents them: KEY_AGREEMENT (ECDH) for the NIST curves only, not for
 * ECC_SECG_P256K1 and not for RSA (SM2's is China Regions only). */
static const struct kms_spec SPECS[] = {
    { "SYMMETRIC_DEFAULT", KSK_SYMMETRIC, 0, NULL, PK_SHA256, { "ENCRYPT_DECRYPT" },
      SYM_ENC_ALGS, NULL, NULL },
    { "RSA_2048", KSK_RSA, 2048, NULL, PK_SHA256, { "ENCRYPT_DECRYPT", "SIGN_VERIFY" },
      RSA_ENC_ALGS, RSA_SIGN_ALGS, NULL },
    { "RSA_3072", KSK_RSA, 3072, NULL, PK_SHA256, { "ENCRYPT_DECRYPT", "SIGN_VERIFY" },
      RSA_ENC_ALGS, RSA_SIGN_ALGS, NULL },
    { "RSA_4096", KSK_RSA, 4096, NULL, PK_SHA256, { "ENCRYPT_DECRYPT", "SIGN_VERIFY" },
      RSA_ENC_ALGS, RSA_SIGN_ALGS, NULL },
    { "ECC_NIST_P256", KSK_EC, 0, "P-256", PK_SHA256, { "SIGN_VERIFY", "KEY_AGREEMENT" }, NULL, ECDSA_256, NULL },
    { "ECC_NIST_P384", KSK_EC, 0, "P-384", PK_SHA384, { "SIGN_VERIFY", "KEY_AGREEMENT" }, NULL, ECDSA_384, NULL },
    { "ECC_NIST_P521", KSK_EC, 0, "P-521", PK_SHA512, { "SIGN_VERIFY", "KEY_AGREEMENT" }, NULL, ECDSA_512, NULL },
    { "ECC_SECG_P256K1", KSK_EC, 0, "secp256k1", PK_SHA256, { "SIGN_VERIFY" }, NULL, ECDSA_256,
      NULL },
    { "HMAC_224", KSK_HMAC, 0, NULL, PK_SHA224, { "GENERATE_VERIFY_MAC" }, NULL, NULL, MAC_224 },
    { "HMAC_256", KSK_HMAC, 0, NULL, PK_SHA256, { "GENERATE_VERIFY_MAC" }, NULL, NULL, MAC_256 },
    { "HMAC_384", KSK_HMAC, 0, NULL, PK_SHA384, { "GENERATE_VERIFY_MAC" }, NULL, NULL, MAC_384 },
    { "HMAC_512", KSK_HMAC, 0, NULL, PK_SHA512, { "GENERATE_VERIFY_MAC" }, NULL, NULL, MAC_512 },
};

const struct kms_spec *kms_spec_find(const char *name)
{
    for (size_t i = 0; i < sizeof SPECS / sizeof SPECS[0]; i++)
        if (strcmp(SPECS[i].name, name) == 0) return &SPECS[i];
    return NULL;
}

bool kms_spec_allows_usage(const struct kms_spec *s, const char *usage)
{
    for (size_t i = 0; i < sizeof s->usages / sizeof s->usages[0] && s->usages[i]; i++)
        if (strcmp(s->usages[i], usage) == 0) return true;
    return false;
}

bool kms_key_is_symmetric(const struct key_rec *k)
{
    return strcmp(k->key_spec, "SYMMETRIC_DEFAULT") == 0;
}

static bool in_list(const char *const *l, const char *s)
{
    for (; l && *l; l++)
        if (strcmp(*l, s) == 0) return true;
    return false;
}

static json_t *str_array(const char *const *l)
{
    json_t *a = json_array();
    for (; a && l && *l; l++)
        if (json_array_append_new(a, json_string(*l)) != 0) { json_decref(a); return NULL; }
    return a;
}

TR_RESULT kms_key_algorithms(const struct key_rec *k, json_t *md)
{
    const struct kms_spec *s = kms_spec_find(k->key_spec);
    ENSURE(s != NULL, TR_E_INTERNAL);
    if (strcmp(k->key_usage, "ENCRYPT_DECRYPT") == 0)
        GUARD(kms_set(md, "EncryptionAlgorithms", str_array(s->enc_algs)));
    if (strcmp(k->key_usage, "SIGN_VERIFY") == 0)
        GUARD(kms_set(md, "SigningAlgorithms", str_array(s->sign_algs)));
    if (strcmp(k->key_usage, "GENERATE_VERIFY_MAC") == 0)
        GUARD(kms_set(md, "MacAlgorithms", str_array(s->mac_algs)));
    if (strcmp(k->key_usage, "KEY_AGREEMENT") == 0)
        GUARD(kms_set(md, "KeyAgreementAlgorithms", str_array(AGREE_ALGS)));
    return TR_OK;
}

TR_RESULT kms_material_generate(const struct kms_spec *s, struct buf *out, struct buf *pub)
{
    switch (s->kind) {
    case KSK_SYMMETRIC:
        GUARD(buf_reserve(out, KMS_MATERIAL_LEN));
        GUARD(rand_bytes(out->data + out->len, KMS_MATERIAL_LEN));
        out->len += KMS_MATERIAL_LEN;
        return TR_OK;
    case KSK_HMAC: {
        size_t n = pk_md_len(s->md);
        GUARD(buf_reserve(out, n));
        GUARD(rand_bytes(out->data + out->len, n));
        out->len += (uint32_t)n;
        return TR_OK;
    }
    case KSK_RSA:
    case KSK_EC: {
        struct pk_params p = { .bits = s->bits, .curve = s->curve };
        return pk_generate(&p, out, pub);
    }
    }
    BAIL0(TR_E_INTERNAL);
}

/* ---------------------------------------------------------------------- */
/* Shared checks                                                           */

tr_result kms_usage_error(const struct key_rec *k, const char *op)
{
    return tr_fail_at(__FILE__, __LINE__, TR_E_KMS_INVALID_KEY_USAGE,
                      "%s key usage is %s which is not valid for %s.", k->arn, k->key_usage, op);
}

tr_result kms_alg_error(const struct key_rec *k, const char *alg)
{
    return tr_fail_at(__FILE__, __LINE__, TR_E_KMS_INVALID_KEY_USAGE,
                      "Algorithm %s is incompatible with key spec %s.", alg, k->key_spec);
}

/* The key's current (and only) material, unwrapped into out. */
static TR_RESULT material(struct req_ctx *rc, const struct key_rec *k, struct buf *out)
{
    return kms_material_load_any(rc->st, rc->kr, k->key_id, k->current_material, out);
}

/* The digest an algorithm name ends with ("..._SHA_256", "..._SHA_1"). */
static enum pk_md alg_md(const char *alg)
{
    size_t n = strlen(alg);
    if (n >= 4 && strcmp(alg + n - 4, "_224") == 0) return PK_SHA224;
    if (n >= 4 && strcmp(alg + n - 4, "_256") == 0) return PK_SHA256;
    if (n >= 4 && strcmp(alg + n - 4, "_384") == 0) return PK_SHA384;
    if (n >= 4 && strcmp(alg + n - 4, "_512") == 0) return PK_SHA512;
    return PK_SHA1;
}

/* ---------------------------------------------------------------------- */
/* RSAES-OAEP (crypt.c)                                                    */

/* The most bytes OAEP with md seals under a modulus of k bytes
 * (RFC 8017 7.1.1: k - 2 hLen - 2). */
static size_t oaep_max(size_t k, enum pk_md md)
{
    return k - 2 * pk_md_len(md) - 2;
}

TR_RESULT kms_rsa_encrypt(struct req_ctx *rc, const struct key_rec *k, const char *alg,
                          const uint8_t *pt, size_t n, struct buf *out)
{
    const struct kms_spec *s = kms_spec_find(k->key_spec);
    struct buf m = BUF_SECRET(8192);
    tr_result r;
    ENSURE(s != NULL && s->kind == KSK_RSA, TR_E_INTERNAL);
    enum pk_md md = alg_md(alg);
    size_t max = oaep_max((size_t)s->bits / 8, md);
    if (n > max)
        BAIL(TR_E_VALIDATION, "Algorithm %s and key spec %s cannot encrypt data larger than "
             "%zu bytes.", alg, k->key_spec, max);
    r = material(rc, k, &m);
    if (tr_ok(r)) r = pk_rsa_encrypt(m.data, m.len, md, pt, n, out);
    buf_free(&m);
    return r;
}

TR_RESULT kms_rsa_decrypt(struct req_ctx *rc, const struct key_rec *k, const char *alg,
                          const uint8_t *ct, size_t n, struct buf *pt)
{
    struct buf m = BUF_SECRET(8192);
    tr_result r = material(rc, k, &m);
    if (tr_ok(r)) r = pk_rsa_decrypt(m.data, m.len, alg_md(alg), ct, n, pt);
    buf_free(&m);
    return r;
}

/* ---------------------------------------------------------------------- */
/* GetPublicKey                                                            */

KMS_HANDLER(op_get_public_key)
{
    struct key_rec k;
    struct buf m = BUF_SECRET(8192);
    struct buf pub = BUF_INIT(8192);
    json_t *reply = NULL;
    tr_result r;

    GUARD(kms_grant_tokens(in));
    struct kms_authz_in az = { .key_id_given = json_string_value(json_object_get(in, "KeyId")) };
    GUARD(kms_key_for(rc, in, KR_ALIAS | KR_XACCT, rc->op->action, KS_USABLE, &az, &k));
    const struct kms_spec *s = kms_spec_find(k.key_spec);
    if (!s || (s->kind != KSK_RSA && s->kind != KSK_EC)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_UNSUPPORTED,
                       "%s key usage is %s which is not valid for GetPublicKey.", k.arn,
                       k.key_usage);
        goto fail;
    }
    r = material(rc, &k, &m);
    if (tr_ok(r)) r = pk_public_der(m.data, m.len, &pub);
    buf_free(&m);
    if (tr_failed(r)) goto fail;
    reply = json_pack("{s:s, s:s, s:s, s:s}", "KeyId", k.arn, "CustomerMasterKeySpec", k.key_spec,
                      "KeySpec", k.key_spec, "KeyUsage", k.key_usage);
    if (!reply) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    r = json_set_blob(reply, "PublicKey", pub.data, pub.len);
    if (tr_ok(r)) r = kms_key_algorithms(&k, reply);
    if (tr_failed(r)) goto fail;
    *out = reply;
    reply = NULL;
fail:
    json_decref(reply);
    buf_free(&pub);
    key_rec_free(&k);
    return r;
}

/* ---------------------------------------------------------------------- */
/* Sign, Verify                                                            */

static const char *const SIGN_ALGS[] = {
    "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
    "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
    "ECDSA_SHA_256", "ECDSA_SHA_384", "ECDSA_SHA_512", "SM2DSA", NULL };
static const char *const MESSAGE_TYPES[] = { "RAW", "DIGEST", NULL };

/* What Sign and Verify share: the request, the key, the digest to sign. */
struct sig_req {
    const char *alg, *type;
    bool dry;
    struct buf msg;          /* Message (secret) */
    struct buf sig;          /* Verify: Signature */
    uint8_t digest[64];
    size_t dlen;
    enum pk_md md;
    enum pk_sig scheme;
    struct key_rec k;
};

static TR_RESULT sig_prepare(struct req_ctx *rc, json_t *in, bool verify, struct sig_req *q)
{
    const char *id;
    GUARD(json_get_str(in, "KeyId", true, 1, KMS_ARN_MAX, &id));
    GUARD(json_get_blob(in, "Message", true, 1, 4096, &q->msg));
    GUARD(kms_get_enum(in, "MessageType", MESSAGE_TYPES, &q->type));
    if (verify) GUARD(json_get_blob(in, "Signature", true, 1, KMS_CT_MAX, &q->sig));
    GUARD(kms_grant_tokens(in));
    GUARD(kms_get_enum(in, "SigningAlgorithm", SIGN_ALGS, &q->alg));
    if (!q->alg) return json_invalid("SigningAlgorithm", "null", "Member must not be null");
    GUARD(kms_get_flag(in, "DryRun", &q->dry));
    if (!q->type) q->type = "RAW";
    const char *op = verify ? "Verify" : "Sign";

    GUARD(kms_resolve(rc, id, KR_ALIAS | KR_XACCT, &q->k));
    struct kms_authz_in az = { .key_id_given = id, .sign_alg = q->alg,
                               .message_type = q->type };
    GUARD(kms_authorize_in(rc, rc->op->action, &q->k, &az));
    GUARD(kms_check_state(&q->k, KS_USABLE));
    if (strcmp(q->k.key_usage, "SIGN_VERIFY") != 0) return kms_usage_error(&q->k, op);
    const struct kms_spec *s = kms_spec_find(q->k.key_spec);
    ENSURE(s != NULL, TR_E_INTERNAL);
    if (!in_list(s->sign_algs, q->alg)) return kms_alg_error(&q->k, q->alg);
    q->md = alg_md(q->alg);
    q->scheme = strncmp(q->alg, "ECDSA", 5) == 0 ? PK_SIG_ECDSA
              : strncmp(q->alg, "RSASSA_PSS", 10) == 0 ? PK_SIG_PSS : PK_SIG_PKCS1;
    q->dlen = pk_md_len(q->md);
    if (strcmp(q->type, "DIGEST") == 0) {
        if (q->msg.len != q->dlen)
            BAIL(TR_E_VALIDATION, "Digest is invalid length for algorithm %s.", q->alg);
        memcpy(q->digest, q->msg.data, q->dlen);
    } else {
        GUARD(pk_digest(q->md, q->msg.data, q->msg.len, q->digest));
    }
    if (q->dry) return kms_dry_run();
    return TR_OK;
}

static void sig_free(struct sig_req *q)
{
    buf_free(&q->msg);
    buf_free(&q->sig);
    secure_zero(q->digest, sizeof q->digest);
    key_rec_free(&q->k);
}

KMS_HANDLER(op_sign)
{
    struct sig_req q = { .msg = BUF_SECRET(4096 + 8), .sig = BUF_INIT(KMS_CT_MAX + 8) };
    struct buf m = BUF_SECRET(8192), sig = BUF_INIT(1024);
    tr_result r;

    r = sig_prepare(rc, in, false, &q);
    if (tr_ok(r)) r = material(rc, &q.k, &m);
    if (tr_ok(r)) r = pk_sign(m.data, m.len, q.scheme, q.md, q.digest, q.dlen, &sig);
    buf_free(&m);
    if (tr_ok(r))
        r = kms_reply_with_blob(json_pack("{s:s, s:s}", "KeyId", q.k.arn, "SigningAlgorithm", q.alg),
                                "Signature", &sig, out);
    if (tr_ok(r)) kms_usage_note(rc, &q.k, "Sign");
    buf_free(&sig);
    sig_free(&q);
    return r;
}

KMS_HANDLER(op_verify)
{
    struct sig_req q = { .msg = BUF_SECRET(4096 + 8), .sig = BUF_INIT(KMS_CT_MAX + 8) };
    struct buf m = BUF_SECRET(8192);
    bool ok = false;
    tr_result r;

    r = sig_prepare(rc, in, true, &q);
    if (tr_ok(r)) r = material(rc, &q.k, &m);
    if (tr_ok(r))
        r = pk_verify(m.data, m.len, q.scheme, q.md, q.digest, q.dlen, q.sig.data, q.sig.len,
                      &ok);
    buf_free(&m);
    if (tr_ok(r) && !ok) r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_INVALID_SIGNATURE, NULL);
    if (tr_ok(r)) {
        *out = json_pack("{s:s, s:b, s:s}", "KeyId", q.k.arn, "SignatureValid", 1,
                         "SigningAlgorithm", q.alg);
        if (!*out) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    if (tr_ok(r)) kms_usage_note(rc, &q.k, "Verify");
    sig_free(&q);
    return r;
}

/* ---------------------------------------------------------------------- */
/* GenerateMac, VerifyMac                                                  */

/* In the order AWS's ValidationException lists them ("Member must satisfy
 * enum value set: [...]"), which is not the model's: LocalStack's
 * AWS-recorded snapshot test_invalid_generate_mac. */
static const char *const MAC_ALGS[] = { "HMAC_SHA_384", "HMAC_SHA_256", "HMAC_SHA_224",
                                        "HMAC_SHA_512", NULL };

/* What GenerateMac and VerifyMac share: the request, the key, the MAC
 * computed over the Message. */
struct mac_req {
    const char *alg;
    struct buf msg;          /* Message (secret) */
    struct buf given;        /* VerifyMac: Mac */
    uint8_t mac[64];
    size_t mlen;
    struct key_rec k;
};

/* Parse and authorize the request, then compute the MAC of its Message
 * under its key into q->mac (q->mlen bytes). */
static TR_RESULT mac_compute(struct req_ctx *rc, json_t *in, bool verify, struct mac_req *q)
{
    const char *id;
    bool dry;
    GUARD(json_get_blob(in, "Message", true, 1, 4096, &q->msg));
    GUARD(json_get_str(in, "KeyId", true, 1, KMS_ARN_MAX, &id));
    GUARD(kms_get_enum(in, "MacAlgorithm", MAC_ALGS, &q->alg));
    if (!q->alg) return json_invalid("MacAlgorithm", "null", "Member must not be null");
    if (verify) GUARD(json_get_blob(in, "Mac", true, 1, KMS_CT_MAX, &q->given));
    GUARD(kms_grant_tokens(in));
    GUARD(kms_get_flag(in, "DryRun", &dry));

    GUARD(kms_resolve(rc, id, KR_ALIAS | KR_XACCT, &q->k));
    struct kms_authz_in az = { .key_id_given = id, .mac_alg = q->alg };
    GUARD(kms_authorize_in(rc, rc->op->action, &q->k, &az));
    GUARD(kms_check_state(&q->k, KS_USABLE));
    if (strcmp(q->k.key_usage, "GENERATE_VERIFY_MAC") != 0)
        return kms_usage_error(&q->k, verify ? "VerifyMac" : "GenerateMac");
    const struct kms_spec *s = kms_spec_find(q->k.key_spec);
    ENSURE(s != NULL, TR_E_INTERNAL);
    if (!in_list(s->mac_algs, q->alg)) return kms_alg_error(&q->k, q->alg);
    if (dry) return kms_dry_run();

    struct buf m = BUF_SECRET(256);
    tr_result r = material(rc, &q->k, &m);
    q->mlen = pk_md_len(s->md);
    if (tr_ok(r)) r = pk_hmac(s->md, m.data, m.len, q->msg.data, q->msg.len, q->mac);
    buf_free(&m);
    return r;
}

static void mac_free(struct mac_req *q)
{
    secure_zero(q->mac, sizeof q->mac);
    buf_free(&q->msg);
    buf_free(&q->given);
    key_rec_free(&q->k);
}

KMS_HANDLER(op_generate_mac)
{
    struct mac_req q = { .msg = BUF_SECRET(4096 + 8), .given = BUF_INIT(8) };
    tr_result r = mac_compute(rc, in, false, &q);
    if (tr_ok(r)) {
        struct buf mac = buf_view(q.mac, q.mlen);
        r = kms_reply_with_blob(json_pack("{s:s, s:s}", "KeyId", q.k.arn, "MacAlgorithm", q.alg),
                                "Mac", &mac, out);
    }
    if (tr_ok(r)) kms_usage_note(rc, &q.k, "GenerateMac");
    mac_free(&q);
    return r;
}

KMS_HANDLER(op_verify_mac)
{
    struct mac_req q = { .msg = BUF_SECRET(4096 + 8), .given = BUF_INIT(KMS_CT_MAX + 8) };
    tr_result r = mac_compute(rc, in, true, &q);
    /* Constant time over the MAC's own length; a wrong length differs. */
    if (tr_ok(r) && (q.given.len != q.mlen || !ct_memeq(q.given.data, q.mac, q.mlen)))
        r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_INVALID_MAC, NULL);
    if (tr_ok(r)) {
        *out = json_pack("{s:s, s:b, s:s}", "KeyId", q.k.arn, "MacValid", 1, "MacAlgorithm", q.alg);
        if (!*out) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    if (tr_ok(r)) kms_usage_note(rc, &q.k, "VerifyMac");
    mac_free(&q);
    return r;
}

/* ---------------------------------------------------------------------- */
/* DeriveSharedSecret                                                      */

/* The peer's PublicKey is checked against the key's curve before DryRun
 * answers, so a DryRun tells whether the real request would succeed. */
KMS_HANDLER(op_derive_shared_secret)
{
    const char *id, *alg;
    bool dry, recipient, ok = false;
    struct key_rec k;
    struct buf peer = BUF_INIT(8192 + 8), m = BUF_SECRET(8192), secret = BUF_SECRET(256);
    tr_result r;

    memset(&k, 0, sizeof k);
    /* 1. The model's constraints, member by member. */
    r = json_get_str(in, "KeyId", true, 1, KMS_ARN_MAX, &id);
    if (tr_ok(r)) r = kms_get_enum(in, "KeyAgreementAlgorithm", AGREE_ALGS, &alg);
    if (tr_ok(r) && !alg) r = json_invalid("KeyAgreementAlgorithm", "null", "Member must not be null");
    if (tr_ok(r)) r = json_get_blob(in, "PublicKey", true, 1, 8192, &peer);
    if (tr_ok(r)) r = kms_grant_tokens(in);
    if (tr_ok(r)) r = kms_get_flag(in, "DryRun", &dry);
    if (tr_ok(r)) r = kms_recipient_member(in, &recipient);
    if (tr_failed(r)) goto fail;

    /* 2. The key, its authorization, state and usage. */
    r = kms_resolve(rc, id, KR_ALIAS | KR_XACCT, &k);
    if (tr_failed(r)) goto fail;
    struct kms_authz_in az = { .key_id_given = id, .agree_alg = alg };
    r = kms_authorize_in(rc, rc->op->action, &k, &az);
    if (tr_ok(r)) r = kms_check_state(&k, KS_USABLE);
    if (tr_ok(r) && strcmp(k.key_usage, "KEY_AGREEMENT") != 0)
        r = kms_usage_error(&k, "DeriveSharedSecret");
    const struct kms_spec *s = kms_spec_find(k.key_spec);
    if (tr_ok(r) && (!s || s->kind != KSK_EC)) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    if (tr_ok(r) && recipient) r = kms_recipient_error();
    /* 3. The peer's key: an EC public key on this key's curve. */
    if (tr_ok(r)) r = pk_ec_public_on(peer.data, peer.len, s->curve, &ok);
    if (tr_ok(r) && !ok)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION, "PublicKey must be a DER-encoded "
                       "SubjectPublicKeyInfo of an elliptic curve public key on the curve of "
                       "key spec %s.", k.key_spec);
    if (tr_ok(r) && dry) r = kms_dry_run();
    if (tr_failed(r)) goto fail;

    /* 4. The shared secret: wiped with its buf once the reply holds it. */
    r = material(rc, &k, &m);
    if (tr_ok(r)) r = pk_ecdh(m.data, m.len, peer.data, peer.len, &secret, &ok);
    buf_free(&m);
    if (tr_ok(r) && !ok) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    if (tr_ok(r))
        r = kms_reply_with_blob(json_pack("{s:s, s:s, s:s}", "KeyId", k.arn,
                                          "KeyAgreementAlgorithm", alg, "KeyOrigin", k.origin),
                                "SharedSecret", &secret, out);
    if (tr_ok(r)) kms_usage_note(rc, &k, "DeriveSharedSecret");
fail:
    buf_free(&secret);
    buf_free(&m);
    buf_free(&peer);
    key_rec_free(&k);
    return r;
}
