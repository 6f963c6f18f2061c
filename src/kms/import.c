/*
 * import.c -- imported key material: GetParametersForImport,
 * ImportKeyMaterial, DeleteImportedKeyMaterial, the import token, and the
 * expiry of imported material.
 *
 * A key made with Origin EXTERNAL starts in PendingImport with no material
 * (current_material 0, keys.c).  GetParametersForImport makes a fresh RSA
 * wrapping key pair for every call and hands out its public key with an
 * import token; the token is the only place the private key lives:
 *
 *   token   = 0x01 | keyring_wrap(root key, "kms-import-token:<key-id>", payload)
 *   payload = 0x01 | valid_to:u64 | alg:u8 | bits:u16 | wrapping private key (PKCS#8 DER)
 *
 * (big-endian integers).  keyring_wrap is AES-256-GCM under the root key
 * with the label as AAD, so a token is opaque, cannot be altered, and
 * opens only for the key it was made for; nothing is stored for it.  A
 * token made before `tresor rotate-root-key` no longer opens (ask again:
 * tokens last 24 hours anyway).
 *
 * ImportKeyMaterial opens the token (InvalidImportTokenException for
 * anything else), refuses it past its ParametersValidTo
 * (ExpiredImportTokenException), unwraps EncryptedKeyMaterial with the
 * token's algorithm -- RSAES-OAEP with SHA-1 or SHA-256, or RSA_AES_KEY_WRAP
 * (an AES-256 key under RSAES-OAEP, then the material under RFC 5649 AES key
 * wrap with padding) -- and answers InvalidCiphertextException, with no
 * message as Decrypt does, for anything that does not unwrap.  The
 * material must fit the key's spec (material_fits: 32 bytes, an HMAC key
 * of AWS's lengths, a PKCS#8 key pair of the spec's size or curve) and
 * becomes material version 1, wrapped like every key's (keys.c).  The first import also keeps
 * keyring_wrap(root key, "kms-import-check:<key-id>", SHA-256(material), or
 * of a key pair's public key) in
 * a "kms-import" relation of the key's ARN, so that a later import, after
 * the material was deleted or expired, is checked to be the same material
 * (IncorrectKeyMaterialException otherwise), as AWS requires.
 *
 * The expiry is kept in key_rec.next_rotation (an EXTERNAL key never
 * rotates): DescribeKey shows ExpirationModel and ValidTo from it, and
 * kms_maintenance (rotation.c) lists the key when it is due and deletes
 * the material.  DeleteImportedKeyMaterial does the same at once.
 *
 * Every private key and every unwrapped material is in a secret buf,
 * wiped on free.  Spec: botocore kms/2014-11-01 (GetParametersForImport,
 * ImportKeyMaterial, DeleteImportedKeyMaterial); the KMS developer guide's
 * "Importing key material" and "Key states" pages; docs/internals/IMPORT.md.
 */
#include "kms/kms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ct.h"
#include "core/hex.h"
#include "core/json.h"
#include "core/secmem.h"
#include "core/str.h"
#include "crypto/hash.h"
#include "crypto/keyring.h"
#include "crypto/pkey.h"
#include "crypto/rand.h"

#define TOKEN_FORMAT    0x01
#define PAYLOAD_V1      0x01
#define PAYLOAD_HDR     12                /* v | valid_to | alg | bits */
#define TOKEN_TTL       86400             /* ParametersValidTo: 24 hours */
#define VALID_TO_MAX    (365 * (int64_t)KMS_DAY)
#define IMPORT_REL      "kms-import"
#define IMPORT_REL_TO   "material"

static const char *const WRAP_ALGS[] = { "RSAES_PKCS1_V1_5", "RSAES_OAEP_SHA_1",
                                         "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1",
                                         "RSA_AES_KEY_WRAP_SHA_256", NULL };
static const char *const WRAP_SPECS[] = { "RSA_2048", "RSA_3072", "RSA_4096", NULL };
static const char *const EXP_MODELS[] = { "KEY_MATERIAL_EXPIRES",
                                          "KEY_MATERIAL_DOES_NOT_EXPIRE", NULL };

tr_result kms_origin_error(const struct key_rec *k)
{
    return tr_fail_at(__FILE__, __LINE__, TR_E_KMS_UNSUPPORTED,
                      "%s origin is %s which is not valid for this operation.", k->arn, k->origin);
}

static tr_result invalid_token(void)
{
    return tr_fail_at(__FILE__, __LINE__, TR_E_KMS_INVALID_IMPORT_TOKEN,
                      "The request was rejected because the provided import token is invalid "
                      "or is associated with a different KMS key.");
}

/* ---------------------------------------------------------------------- */
/* The token                                                               */

TR_RESULT kms_import_token_seal(const struct keyring *kr, const char *key_id,
                                const struct kms_import_params *p, const struct buf *priv,
                                struct buf *out)
{
    char label[KEYRING_LABEL_MAX];
    struct buf pl = BUF_SECRET(KMS_MATERIAL_MAX + PAYLOAD_HDR);
    uint8_t hdr[PAYLOAD_HDR];
    static const uint8_t fmt = TOKEN_FORMAT;
    tr_result r;

    ENSURE_REF(p);
    ENSURE_REF(priv);
    ENSURE((unsigned)p->alg < KWA_COUNT && p->valid_to > 0 && priv->len > 0, TR_E_INTERNAL);
    hdr[0] = PAYLOAD_V1;
    for (int i = 0; i < 8; i++) hdr[1 + i] = (uint8_t)((uint64_t)p->valid_to >> (56 - 8 * i));
    hdr[9] = (uint8_t)p->alg;
    hdr[10] = (uint8_t)(p->bits >> 8);
    hdr[11] = (uint8_t)p->bits;
    r = keyring_label_import_token(label, key_id);
    if (tr_ok(r)) r = buf_append(&pl, hdr, sizeof hdr);
    if (tr_ok(r)) r = buf_append(&pl, priv->data, priv->len);
    if (tr_ok(r)) r = buf_append(out, &fmt, 1);
    if (tr_ok(r)) r = keyring_wrap(kr, label, pl.data, pl.len, out);
    buf_free(&pl);
    return r;
}

TR_RESULT kms_import_token_open(const struct keyring *kr, const char *key_id,
                                const uint8_t *tok, size_t n, struct kms_import_params *p,
                                struct buf *priv)
{
    char label[KEYRING_LABEL_MAX];
    struct buf pl = BUF_SECRET(KMS_MATERIAL_MAX + PAYLOAD_HDR);
    tr_result r;

    memset(p, 0, sizeof *p);
    if (!tok || n < 2 || tok[0] != TOKEN_FORMAT) return invalid_token();
    GUARD(keyring_label_import_token(label, key_id));
    /* A wrong label (another key's token) and altered bytes fail alike. */
    if (tr_failed(keyring_unwrap(kr, label, tok + 1, n - 1, &pl))) {
        buf_free(&pl);
        return invalid_token();
    }
    if (pl.len <= PAYLOAD_HDR || pl.data[0] != PAYLOAD_V1 || pl.data[9] >= KWA_COUNT) {
        r = invalid_token();
        goto fail;
    }
    uint64_t vt = 0;
    for (int i = 0; i < 8; i++) vt = (vt << 8) | pl.data[1 + i];
    p->valid_to = (int64_t)vt;
    p->alg = (enum kms_wrap_alg)pl.data[9];
    p->bits = (pl.data[10] << 8) | pl.data[11];
    if (p->bits != 2048 && p->bits != 3072 && p->bits != 4096) {
        r = invalid_token();
        goto fail;
    }
    r = buf_append(priv, pl.data + PAYLOAD_HDR, pl.len - PAYLOAD_HDR);
fail:
    buf_free(&pl);
    return r;
}

/* ---------------------------------------------------------------------- */
/* GetParametersForImport                                                  */

/* A required enum member: AWS's "must not be null" when absent. */
static TR_RESULT get_required_enum(json_t *in, const char *name, const char *const *allowed,
                                   const char **out)
{
    const char *s;
    GUARD(json_get_str(in, name, true, 0, 1024, &s));
    return kms_get_enum(in, name, allowed, out);
}

static int enum_index(const char *const *v, const char *s)
{
    for (int i = 0; v[i]; i++)
        if (strcmp(v[i], s) == 0) return i;
    return -1;
}

KMS_HANDLER(op_get_parameters_for_import)
{
    const char *alg, *spec;
    struct key_rec k;
    struct buf priv = BUF_SECRET(KMS_MATERIAL_MAX);
    struct buf pub = BUF_INIT(KMS_MATERIAL_MAX);
    struct buf tok = BUF_INIT(KMS_CT_MAX);
    json_t *reply = NULL;
    tr_result r;

    GUARD(get_required_enum(in, "WrappingAlgorithm", WRAP_ALGS, &alg));
    GUARD(get_required_enum(in, "WrappingKeySpec", WRAP_SPECS, &spec));
    struct kms_authz_in az = { .wrapping_alg = alg, .wrapping_spec = spec };
    GUARD(kms_key_for(rc, in, KR_KEY_ONLY, rc->op->action, KS_ANY, &az, &k));
    if (strcmp(k.origin, "EXTERNAL") != 0) {
        r = kms_origin_error(&k);
        goto fail;
    }
    r = kms_check_state(&k, KS_NOT_PENDING);
    if (tr_failed(r)) goto fail;
    /* KMS stopped taking PKCS#1 v1.5 wrapped material on 10 October 2023;
     * the value stays in the API's enum. */
    if (strcmp(alg, "RSAES_PKCS1_V1_5") == 0) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION,
                       "The wrapping algorithm RSAES_PKCS1_V1_5 is no longer supported. Use "
                       "RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_1 or "
                       "RSA_AES_KEY_WRAP_SHA_256.");
        goto fail;
    }
    struct kms_import_params p = {
        .valid_to = rc->now + TOKEN_TTL,
        .alg = (enum kms_wrap_alg)(enum_index(WRAP_ALGS, alg) - 1),
        .bits = strcmp(spec, "RSA_2048") == 0 ? 2048 : strcmp(spec, "RSA_3072") == 0 ? 3072 : 4096,
    };
    struct pk_params pp = { .bits = p.bits, .curve = NULL };
    r = pk_generate(&pp, &priv, &pub);
    if (tr_ok(r)) r = kms_import_token_seal(rc->kr, k.key_id, &p, &priv, &tok);
    buf_free(&priv);          /* the private key now lives only in the token */
    if (tr_failed(r)) goto fail;
    const struct kms_blob_member m[] = { { "ImportToken", &tok }, { "PublicKey", &pub } };
    r = kms_reply_with_blobs(json_pack("{s:s}", "KeyId", k.arn), m, 2, &reply);
    if (tr_ok(r)) r = kms_reply_with_time(reply, "ParametersValidTo", p.valid_to, out);
fail:
    buf_free(&priv);
    buf_free(&pub);
    buf_free(&tok);
    key_rec_free(&k);
    return r;
}

/* ---------------------------------------------------------------------- */
/* ImportKeyMaterial                                                       */

/* A timestamp member (DateType: epoch seconds, a JSON number, fractions
 * dropped); *present false when absent. */
static TR_RESULT get_time(json_t *in, const char *name, bool *present, int64_t *out)
{
    json_t *v = json_object_get(in, name);
    *present = false;
    *out = 0;
    if (!v || json_is_null(v)) return TR_OK;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d > -1e15 && d < 1e15))
            BAIL(TR_E_SERIALIZATION, "Member '%s' is not a valid timestamp", name);
        *out = (int64_t)d;
    } else {
        BAIL(TR_E_SERIALIZATION, "Unexpected %s for member '%s': expected a timestamp",
             json_is_string(v) ? "string" : json_is_array(v) ? "array" : json_is_object(v)
             ? "object" : "value", name);
    }
    *present = true;
    return TR_OK;
}

/* The material in `enc` unwrapped with the token's algorithm and wrapping
 * key into m (a secret buf); InvalidCiphertextException for anything that
 * does not unwrap. */
static TR_RESULT unwrap_material(const struct kms_import_params *p, const struct buf *priv,
                                 const struct buf *enc, struct buf *m)
{
    enum pk_md md = (p->alg == KWA_OAEP_SHA1 || p->alg == KWA_AES_KW_SHA1) ? PK_SHA1 : PK_SHA256;
    if (p->alg == KWA_OAEP_SHA1 || p->alg == KWA_OAEP_SHA256)
        return pk_rsa_decrypt(priv->data, priv->len, md, enc->data, enc->len, m);
    /* RSA_AES_KEY_WRAP: the RSA ciphertext of an AES-256 key (the modulus
     * long), then the material under RFC 5649 with that key. */
    size_t mod = (size_t)p->bits / 8;
    if (enc->len <= mod) BAIL0(TR_E_KMS_INVALID_CIPHERTEXT);
    struct buf kek = BUF_SECRET(512);
    tr_result r = pk_rsa_decrypt(priv->data, priv->len, md, enc->data, mod, &kek);
    if (tr_ok(r) && kek.len != 32) r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_INVALID_CIPHERTEXT, NULL);
    if (tr_ok(r)) r = pk_aes_kwp_unwrap(kek.data, kek.len, enc->data + mod, enc->len - mod, m);
    buf_free(&kek);
    return r;
}

static tr_result incorrect_material(void)
{
    return tr_fail_at(__FILE__, __LINE__, TR_E_KMS_INCORRECT_KEY_MATERIAL,
                      "The request was rejected because the key material in the request is, "
                      "expired, invalid, or is not the same key material that was previously "
                      "imported into this KMS key.");
}

/* HMAC key material lengths KMS takes per key spec (bytes), as the
 * developer guide's "Requirements for imported key material" gives them:
 * at least the digest's length, at most the hash's block size. */
static bool hmac_len_ok(const struct kms_spec *s, size_t n)
{
    size_t min = pk_md_len(s->md);
    size_t max = (s->md == PK_SHA384 || s->md == PK_SHA512) ? 128 : 64;
    return n >= min && n <= max;
}

/* Is m material for a key of spec s?  32 bytes for SYMMETRIC_DEFAULT, an
 * HMAC key of an allowed length, a PKCS#8 private key of the spec's RSA
 * size or curve.  *d: what identifies the material for the re-import
 * check -- SHA-256 of the bytes, or for a key pair of its public key (the
 * same pair may come in another DER encoding). */
static TR_RESULT material_fits(const struct kms_spec *s, const struct buf *m,
                               uint8_t d[SHA256_LEN])
{
    bool ok = false;
    switch (s->kind) {
    case KSK_SYMMETRIC: ok = m->len == KMS_MATERIAL_LEN; break;
    case KSK_HMAC: ok = hmac_len_ok(s, m->len); break;
    case KSK_RSA:
    case KSK_EC: {
        struct pk_params pp = { .bits = s->bits, .curve = s->curve };
        GUARD(pk_matches(m->data, m->len, &pp, &ok));
        break;
    }
    }
    if (!ok) return incorrect_material();
    if (s->kind == KSK_RSA || s->kind == KSK_EC) {
        struct buf pub = BUF_INIT(KMS_MATERIAL_MAX);
        tr_result r = pk_public_der(m->data, m->len, &pub);
        if (tr_ok(r)) r = sha256(pub.data, pub.len, d);
        buf_free(&pub);
        return r;
    }
    return sha256(m->data, m->len, d);
}

/* The first import records the material's digest, wrapped; a later one
 * must match it. */
static TR_RESULT check_same_material(struct req_ctx *rc, const struct key_rec *k,
                                     uint8_t d[SHA256_LEN])
{
    char label[KEYRING_LABEL_MAX];
    struct rel_rec rel;
    struct buf w = BUF_INIT(256), old = BUF_SECRET(64);
    char *hex = NULL;
    tr_result r;

    memset(&rel, 0, sizeof rel);
    GUARD(keyring_label_import_check(label, k->key_id));
    r = rc->st[0]->rel_get(rc->st, IMPORT_REL, k->arn, IMPORT_REL_TO, &rel);
    if (tr_ok(r)) {
        /* rel.doc: {"check": "<hex of the wrapped digest>"} */
        json_t *doc = json_loads(rel.doc ? rel.doc : "", 0, NULL);
        const char *h = json_string_value(json_object_get(doc, "check"));
        size_t hl = h ? strlen(h) : 0;
        r = (h && hl % 2 == 0 && hl / 2 <= w.max) ? buf_reserve(&w, hl / 2)
                                                  : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        if (tr_ok(r) && !hex_decode(h, hl, w.data)) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        if (tr_ok(r)) w.len = (uint32_t)(hl / 2);
        json_decref(doc);
        if (tr_ok(r)) r = keyring_unwrap(rc->kr, label, w.data, w.len, &old);
        if (tr_ok(r) && (old.len != SHA256_LEN || !ct_memeq(old.data, d, SHA256_LEN)))
            r = incorrect_material();
        goto done;
    }
    if (tr_code(r) != TR_E_STORE_NOT_FOUND) goto done;
    r = keyring_wrap(rc->kr, label, d, SHA256_LEN, &w);
    if (tr_failed(r)) goto done;
    hex = malloc(2 * (size_t)w.len + 1);
    if (!hex) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto done; }
    hex_encode(w.data, w.len, hex);
    json_t *doc = json_pack("{s:s}", "check", hex);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto done; }
    struct rel_rec nr = { .from = (char *)k->arn, .to = (char *)IMPORT_REL_TO, .doc = text,
                          .created = rc->now };
    STR_SET(nr.kind, IMPORT_REL);
    r = rc->st[0]->rel_put(rc->st, &nr);
    free(text);
done:
    free(hex);
    rel_rec_free(&rel);
    buf_free(&w);
    buf_free(&old);
    return r;
}

KMS_HANDLER(op_import_key_material)
{
    const char *model;
    bool has_valid_to;
    int64_t valid_to;
    struct key_rec k;
    struct buf tok = BUF_INIT(KMS_CT_MAX), enc = BUF_INIT(KMS_CT_MAX);
    struct buf priv = BUF_SECRET(KMS_MATERIAL_MAX), m = BUF_SECRET(KMS_MATERIAL_MAX);
    struct kms_import_params p;
    uint8_t digest[SHA256_LEN];
    tr_result r;

    (void)out;
    memset(&k, 0, sizeof k);
    /* Every member against the model first, then what they mean together. */
    const char *key_id;
    r = json_get_str(in, "KeyId", true, 1, KMS_ARN_MAX, &key_id);
    if (tr_ok(r)) r = json_get_blob(in, "ImportToken", true, 1, KMS_CT_MAX, &tok);
    if (tr_ok(r)) r = json_get_blob(in, "EncryptedKeyMaterial", true, 1, KMS_CT_MAX, &enc);
    if (tr_ok(r)) r = get_time(in, "ValidTo", &has_valid_to, &valid_to);
    if (tr_ok(r)) r = kms_get_enum(in, "ExpirationModel", EXP_MODELS, &model);
    if (tr_failed(r)) goto fail;
    bool expires = !model || strcmp(model, "KEY_MATERIAL_EXPIRES") == 0;
    if (expires && !has_valid_to) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION,
                       "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES");
        goto fail;
    }
    if (!expires && has_valid_to) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION,
                       "ValidTo must not be set when the ExpirationModel is "
                       "KEY_MATERIAL_DOES_NOT_EXPIRE");
        goto fail;
    }
    if (expires && (valid_to <= rc->now || valid_to > rc->now + VALID_TO_MAX)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION,
                       "ValidTo must be a future date no more than 365 days from now");
        goto fail;
    }
    struct kms_authz_in az = { .expiration_model = model ? model : "KEY_MATERIAL_EXPIRES",
                               .valid_to = expires ? valid_to : 0 };
    r = kms_key_for(rc, in, KR_KEY_ONLY, rc->op->action, KS_ANY, &az, &k);
    if (tr_failed(r)) goto fail;
    if (strcmp(k.origin, "EXTERNAL") != 0) {
        r = kms_origin_error(&k);
        goto fail;
    }
    r = kms_check_state(&k, KS_NOT_PENDING);
    if (tr_failed(r)) goto fail;

    /* The token: this key's, and still valid; then the material. */
    r = kms_import_token_open(rc->kr, k.key_id, tok.data, tok.len, &p, &priv);
    if (tr_failed(r)) goto fail;
    if (rc->now > p.valid_to) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_EXPIRED_IMPORT_TOKEN,
                       "The request was rejected because the specified import token is expired. "
                       "Use GetParametersForImport to get a new import token and public key, use "
                       "the new public key to encrypt the key material, and then try the request "
                       "again.");
        goto fail;
    }
    r = unwrap_material(&p, &priv, &enc, &m);
    buf_free(&priv);
    if (tr_failed(r)) goto fail;
    const struct kms_spec *spec = kms_spec_find(k.key_spec);
    if (!spec) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    r = material_fits(spec, &m, digest);
    if (tr_ok(r)) r = check_same_material(rc, &k, digest);
    if (tr_failed(r)) goto fail;

    /* The material (when the key has none), the expiry, the state. */
    if (k.current_material == 0) {
        r = kms_material_import(rc->st, rc->kr, k.key_id, rc->now, m.data, m.len);
        if (tr_failed(r)) goto fail;
        k.current_material = 1;
    }
    k.next_rotation = expires ? valid_to : 0;
    if (strcmp(k.key_state, KEY_STATE_PENDING_IMPORT) == 0) STR_SET(k.key_state, KEY_STATE_ENABLED);
    r = rc->st[0]->key_update(rc->st, &k);
fail:
    secure_zero(digest, sizeof digest);
    buf_free(&tok);
    buf_free(&enc);
    buf_free(&priv);
    buf_free(&m);
    key_rec_free(&k);
    return r;
}

/* ---------------------------------------------------------------------- */
/* DeleteImportedKeyMaterial, expiry                                       */

TR_RESULT kms_import_material_delete(store_t st, struct key_rec *k)
{
    if (k->current_material == 0) return TR_OK;
    tr_result r = st[0]->material_delete(st, k->key_id, k->current_material);
    if (tr_failed(r) && tr_code(r) != TR_E_STORE_NOT_FOUND) return r;
    k->current_material = 0;
    k->next_rotation = 0;
    if (strcmp(k->key_state, KEY_STATE_PENDING_DELETION) != 0)
        STR_SET(k->key_state, KEY_STATE_PENDING_IMPORT);
    return st[0]->key_update(st, k);
}

TR_RESULT kms_import_forget(store_t st, const char *key_arn)
{
    tr_result r = st[0]->rel_delete(st, IMPORT_REL, key_arn, IMPORT_REL_TO);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND) return TR_OK;
    return r;
}

KMS_HANDLER(op_delete_imported_key_material)
{
    struct key_rec k;
    (void)out;
    GUARD(kms_key_for(rc, in, KR_KEY_ONLY, rc->op->action, KS_ANY, NULL, &k));
    tr_result r = strcmp(k.origin, "EXTERNAL") != 0 ? kms_origin_error(&k)
                                                    : kms_import_material_delete(rc->st, &k);
    key_rec_free(&k);
    return r;
}

/* ---------------------------------------------------------------------- */
/* tresor rotate-root-key                                                  */

/* One check's doc {"check": hex} re-wrapped from old to new_kr. */
static TR_RESULT rewrap_check(store_t st, const struct keyring *old, const struct keyring *new_kr,
                              const struct rel_rec *rel)
{
    char label[KEYRING_LABEL_MAX];
    struct buf w = BUF_INIT(256), d = BUF_SECRET(64), nw = BUF_INIT(256);
    char *hex = NULL, *text = NULL;
    json_t *doc = NULL;
    tr_result r;

    const char *slash = rel->from ? strrchr(rel->from, '/') : NULL;
    if (!slash || !kms_is_key_id(slash + 1)) BAIL(TR_E_INTERNAL, "a kms-import record names no key");
    doc = json_loads(rel->doc ? rel->doc : "", 0, NULL);
    const char *h = json_string_value(json_object_get(doc, "check"));
    size_t hl = h ? strlen(h) : 0;
    r = keyring_label_import_check(label, slash + 1);
    if (tr_ok(r) && (!h || hl % 2 != 0 || hl / 2 > w.max))
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "a kms-import record is malformed");
    if (tr_ok(r)) r = buf_reserve(&w, hl / 2);
    if (tr_ok(r) && !hex_decode(h, hl, w.data))
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "a kms-import record is malformed");
    if (tr_ok(r)) w.len = (uint32_t)(hl / 2);
    if (tr_ok(r)) r = keyring_unwrap(old, label, w.data, w.len, &d);
    if (tr_ok(r)) r = keyring_wrap(new_kr, label, d.data, d.len, &nw);
    if (tr_failed(r)) goto fail;
    hex = malloc(2 * (size_t)nw.len + 1);
    if (!hex) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    hex_encode(nw.data, nw.len, hex);
    if (json_object_set_new(doc, "check", json_string(hex)) != 0 ||
        !(text = json_dumps(doc, JSON_COMPACT))) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        goto fail;
    }
    struct rel_rec nr = *rel;
    nr.doc = text;
    r = st[0]->rel_put(st, &nr);
fail:
    json_decref(doc);
    free(hex);
    free(text);
    buf_free(&w);
    buf_free(&d);
    buf_free(&nw);
    return r;
}

TR_RESULT kms_import_rewrap(store_t st, const struct keyring *old, const struct keyring *new_kr,
                            size_t *count)
{
    char *after_from = NULL, *after_to = NULL;
    tr_result r = TR_OK;
    for (;;) {
        struct rel_rec *v = NULL;
        size_t n = 0;
        r = st[0]->rel_list_kind(st, IMPORT_REL, after_from, after_to, 100, &v, &n);
        for (size_t i = 0; tr_ok(r) && i < n; i++) {
            r = rewrap_check(st, old, new_kr, &v[i]);
            if (tr_ok(r)) ++*count;
        }
        free(after_from);
        free(after_to);
        after_from = after_to = NULL;
        if (tr_ok(r) && n) {
            after_from = strdup(v[n - 1].from);
            after_to = strdup(v[n - 1].to);
            if (!after_from || !after_to) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        }
        rel_list_free(v, n);
        if (tr_failed(r) || n < 100) break;
    }
    free(after_from);
    free(after_to);
    return r;
}
