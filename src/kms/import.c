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
 *   token   = 0x01 | keyring_wrap(root key, "kms-import-token:<region>:<key-id>", payload)
 *   payload = 0x01 | valid_to:u64 | alg:u8 | bits:u16 | wrapping private key (PKCS#8 DER)
 *
 * (big-endian integers).  keyring_wrap is AES-256-GCM under the root key
 * with the label as AAD, so a token is opaque, cannot be altered, and
 * opens only for the key it was made for (a multi-Region replica shares
 * the key id but is another key: the region is in the label too); nothing
 * is stored for it.  A
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
 * becomes a material version, wrapped like every key's (keys.c).  Each
 * import also keeps keyring_wrap(root key, "kms-import-check:<key-id>",
 * SHA-256(material), or of a key pair's public key) in a "kms-import"
 * relation of the key's ARN to "material" (version 1) or
 * "material:<version>", so that a later import of that material is checked
 * to be the same bytes, and new material to be new
 * (IncorrectKeyMaterialException otherwise), as AWS requires.
 *
 * Several materials (single-Region symmetric keys): ImportType
 * NEW_KEY_MATERIAL adds a version waiting in PENDING_ROTATION (rotation
 * type "PENDING") that RotateKeyOnDemand makes current (kms_import_rotate);
 * EXISTING_KEY_MATERIAL imports a material named by KeyMaterialId (or the
 * current one) again.  Deleted or expired material keeps its row without
 * bytes (ImportState PENDING_IMPORT) unless it was waiting for rotation;
 * only the current material's loss makes the key PendingImport.  Each
 * material has its own ValidTo (the row's valid_to); key_rec.next_rotation
 * of an EXTERNAL key (which never rotates automatically) is the earliest
 * of them, the index kms_maintenance (rotation.c) finds the key by before
 * kms_import_expire deletes what is due.
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

TR_RESULT kms_import_token_seal(const struct keyring *kr, const char *region, const char *key_id,
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
    r = keyring_label_import_token(label, region, key_id);
    if (tr_ok(r)) r = buf_append(&pl, hdr, sizeof hdr);
    if (tr_ok(r)) r = buf_append(&pl, priv->data, priv->len);
    if (tr_ok(r)) r = buf_append(out, &fmt, 1);
    if (tr_ok(r)) r = keyring_wrap(kr, label, pl.data, pl.len, out);
    buf_free(&pl);
    return r;
}

TR_RESULT kms_import_token_open(const struct keyring *kr, const char *region, const char *key_id,
                                const uint8_t *tok, size_t n, struct kms_import_params *p,
                                struct buf *priv)
{
    char label[KEYRING_LABEL_MAX];
    struct buf pl = BUF_SECRET(KMS_MATERIAL_MAX + PAYLOAD_HDR);
    tr_result r;

    memset(p, 0, sizeof *p);
    if (!tok || n < 2 || tok[0] != TOKEN_FORMAT) return invalid_token();
    GUARD(keyring_label_import_token(label, region, key_id));
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
    if (tr_ok(r)) r = kms_import_token_seal(rc->kr, k.region, k.key_id, &p, &priv, &tok);
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

/* KeyMaterialDescription: 0..256 characters of ^[a-zA-Z0-9:/_\s.-]+$
 * (the model's; \s is ASCII white space). */
static TR_RESULT get_description(json_t *in, const char **out)
{
    GUARD(json_get_str(in, "KeyMaterialDescription", false, 0, 256, out));
    for (const char *c = *out; c && *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            strchr(":/_.- \t\n\v\f\r", *c)) continue;
        char q[264];
        snprintf(q, sizeof q, "'%.256s'", *out);         /* fits: 256 and two quotes */
        return json_invalid("KeyMaterialDescription", q,
                            "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_\\s.-]+$");
    }
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

/* The relation that keeps material `version`'s check: "material" for
 * version 1 (as before a key could hold several), "material:<v>" after. */
static void check_to(uint32_t version, char out[24])
{
    if (version <= 1) snprintf(out, 24, "%s", IMPORT_REL_TO);                /* fits: 8 */
    else snprintf(out, 24, "%s:%u", IMPORT_REL_TO, version);        /* fits: 10 digits */
}

/* Material `version`'s recorded digest, unwrapped into old (a secret
 * buf); TR_E_STORE_NOT_FOUND when none was recorded. */
static TR_RESULT check_load(struct req_ctx *rc, const struct key_rec *k, uint32_t version,
                            struct buf *old)
{
    char label[KEYRING_LABEL_MAX], to[24];
    struct rel_rec rel;
    struct buf w = BUF_INIT(256);
    tr_result r;

    memset(&rel, 0, sizeof rel);
    check_to(version, to);
    GUARD(keyring_label_import_check(label, k->key_id));
    r = rc->st[0]->rel_get(rc->st, IMPORT_REL, k->arn, to, &rel);
    if (tr_failed(r)) goto done;
    /* rel.doc: {"check": "<hex of the wrapped digest>"} */
    json_t *doc = json_loads(rel.doc ? rel.doc : "", 0, NULL);
    const char *h = json_string_value(json_object_get(doc, "check"));
    size_t hl = h ? strlen(h) : 0;
    r = (h && hl % 2 == 0 && hl / 2 <= w.max) ? buf_reserve(&w, hl / 2)
                                              : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    if (tr_ok(r) && !hex_decode(h, hl, w.data)) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    if (tr_ok(r)) w.len = (uint32_t)(hl / 2);
    json_decref(doc);
    if (tr_ok(r)) r = keyring_unwrap(rc->kr, label, w.data, w.len, old);
done:
    rel_rec_free(&rel);
    buf_free(&w);
    return r;
}

/* Does material `version` have digest d?  *found false when no digest
 * was recorded for it. */
static TR_RESULT check_matches(struct req_ctx *rc, const struct key_rec *k, uint32_t version,
                               const uint8_t d[SHA256_LEN], bool *found, bool *match)
{
    struct buf old = BUF_SECRET(64);
    tr_result r = check_load(rc, k, version, &old);
    *found = *match = false;
    if (tr_ok(r)) {
        *found = true;
        *match = old.len == SHA256_LEN && ct_memeq(old.data, d, SHA256_LEN);
    } else if (tr_code(r) == TR_E_STORE_NOT_FOUND) {
        tr_clear_error();
        r = TR_OK;
    }
    buf_free(&old);
    return r;
}

/* Record digest d as material `version`'s, wrapped. */
static TR_RESULT check_record(struct req_ctx *rc, const struct key_rec *k, uint32_t version,
                              const uint8_t d[SHA256_LEN])
{
    char label[KEYRING_LABEL_MAX], to[24];
    struct buf w = BUF_INIT(256);
    char *hex = NULL, *text = NULL;
    tr_result r;

    check_to(version, to);
    GUARD(keyring_label_import_check(label, k->key_id));
    r = keyring_wrap(rc->kr, label, d, SHA256_LEN, &w);
    if (tr_failed(r)) goto done;
    hex = malloc(2 * (size_t)w.len + 1);
    if (!hex) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto done; }
    hex_encode(w.data, w.len, hex);
    json_t *doc = json_pack("{s:s}", "check", hex);
    text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto done; }
    struct rel_rec nr = { .from = (char *)k->arn, .to = to, .doc = text, .created = rc->now };
    STR_SET(nr.kind, IMPORT_REL);
    r = rc->st[0]->rel_put(rc->st, &nr);
done:
    free(hex);
    free(text);
    buf_free(&w);
    return r;
}

static TR_RESULT check_forget(store_t st, const char *key_arn, uint32_t version)
{
    char to[24];
    check_to(version, to);
    tr_result r = st[0]->rel_delete(st, IMPORT_REL, key_arn, to);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND) {
        tr_clear_error();
        return TR_OK;
    }
    return r;
}

/* The version of the key's CURRENT material: current_material, or while
 * that material is deleted or expired (current_material 0) the newest
 * material not waiting for rotation; 0 when the key never had any row. */
uint32_t kms_import_current(const struct key_rec *k, const struct material_rec *m, size_t n)
{
    uint32_t v = k->current_material;
    for (size_t i = 0; v == 0 && i < n; i++)
        if (strcmp(m[n - 1 - i].rotation_type, KMS_MAT_PENDING) != 0) v = m[n - 1 - i].version;
    return v;
}

/* key.next_rotation of an EXTERNAL key: the earliest ValidTo of its
 * materials still imported, 0 when none expires (the maintenance index). */
static int64_t next_expiry(const struct material_rec *m, size_t n)
{
    int64_t t = 0;
    for (size_t i = 0; i < n; i++)
        if (m[i].wrapped.len > 0 && m[i].valid_to > 0 && (t == 0 || m[i].valid_to < t))
            t = m[i].valid_to;
    return t;
}

static const struct material_rec *find_version(const struct material_rec *m, size_t n, uint32_t v)
{
    for (size_t i = 0; i < n; i++)
        if (m[i].version == v) return &m[i];
    return NULL;
}

/* The materials of k again, and k.next_rotation from them. */
static TR_RESULT refresh_expiry(store_t st, struct key_rec *k)
{
    struct material_rec *m = NULL;
    size_t n = 0;
    GUARD(st[0]->material_list(st, k->key_id, &m, &n));
    k->next_rotation = next_expiry(m, n);
    material_list_free(m, n);
    return TR_OK;
}

/* What ImportKeyMaterial was asked, after the model's checks. */
struct import_req {
    const char *type;               /* ImportType, NULL when absent */
    const char *mid;                /* KeyMaterialId */
    const char *desc;               /* KeyMaterialDescription */
    bool expires;
    int64_t valid_to;
};

static tr_result import_invalid(const char *fmt, const char *a)
{
    return tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION, fmt, a);
}

/* Which material the import is, its version in *version and whether it is
 * new: the checks of ImportType and KeyMaterialId against the key and the
 * digest of the material (docs/internals/IMPORT.md, "Several
 * materials"). */
static TR_RESULT import_target(struct req_ctx *rc, const struct key_rec *k,
                               const struct import_req *q, const struct material_rec *m, size_t n,
                               const uint8_t d[SHA256_LEN], uint32_t *version, bool *is_new)
{
    bool sym = kms_key_is_symmetric(k);
    bool found, match;
    /* A key never imported into has no row and no recorded digest; one
     * imported into before several materials existed may have the digest
     * of version 1 and no row (its material deleted). */
    GUARD(check_matches(rc, k, 1, d, &found, &match));
    bool ever = n > 0 || found;
    const char *type = q->type ? q->type : ever ? "EXISTING_KEY_MATERIAL" : "NEW_KEY_MATERIAL";
    if (!sym && (q->mid || q->desc || q->type)) {
        const char *name = q->type ? "ImportType" : q->mid ? "KeyMaterialId" : "KeyMaterialDescription";
        return import_invalid("%s is only valid for symmetric encryption KMS keys.", name);
    }
    if (strcmp(type, "NEW_KEY_MATERIAL") == 0) {
        if (!ever) {
            *version = 1;
            *is_new = true;
            return TR_OK;
        }
        if (kms_key_is_multi_region(k))
            BAIL(TR_E_KMS_UNSUPPORTED, "%s is a multi-Region key: its key material cannot change "
                 "after the first import.", k->arn);
        /* New material: none of the key's, only one waiting, and an
         * on-demand rotation left for it. */
        size_t on_demand = 0;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(m[i].rotation_type, "ON_DEMAND") == 0) on_demand++;
            if (strcmp(m[i].rotation_type, KMS_MAT_PENDING) == 0)
                BAIL(TR_E_KMS_INVALID_STATE, "%s already has key material in PENDING_ROTATION "
                     "state.", k->arn);
            GUARD(check_matches(rc, k, m[i].version, d, &found, &match));
            if (match) return incorrect_material();
        }
        if (on_demand >= KMS_ON_DEMAND_MAX)
            BAIL(TR_E_KMS_LIMIT_EXCEEDED, "%s has reached the maximum number of on-demand "
                 "rotations (%d).", k->arn, KMS_ON_DEMAND_MAX);
        *version = n > 0 ? m[n - 1].version + 1 : 2;
        *is_new = true;
        return TR_OK;
    }
    /* EXISTING_KEY_MATERIAL: the material named (or the current one)
     * again, the same bytes. */
    if (!ever) return incorrect_material();
    uint32_t v = 0;
    if (q->mid) {
        char id[65];
        for (size_t i = 0; v == 0 && i < n; i++) {
            GUARD(kms_material_id(k->key_id, m[i].version, id));
            if (strcmp(id, q->mid) == 0) v = m[i].version;
        }
        if (v == 0 && n == 0) {
            GUARD(kms_material_id(k->key_id, 1, id));
            if (strcmp(id, q->mid) == 0) v = 1;
        }
        if (v == 0) return incorrect_material();
    } else {
        v = kms_import_current(k, m, n);
        if (v == 0) v = 1;
    }
    GUARD(check_matches(rc, k, v, d, &found, &match));
    if (!found || !match) return incorrect_material();
    *version = v;
    *is_new = false;
    return TR_OK;
}

/* Store the material of an import as version v of k and bring the key
 * and its expiry index up to date. */
static TR_RESULT import_store(struct req_ctx *rc, struct key_rec *k, const struct import_req *q,
                              const struct material_rec *m, size_t n, uint32_t v, bool is_new,
                              const struct buf *bytes, const uint8_t d[SHA256_LEN])
{
    const struct material_rec *old = find_version(m, n, v);
    uint32_t cur = kms_import_current(k, m, n);
    struct material_rec meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.key_id, sizeof meta.key_id, "%s", k->key_id);          /* fits: same size */
    meta.version = v;
    meta.created = old ? old->created : rc->now;
    /* A multi-Region key's regions share the row: each keeps its own
     * expiry in its record's next_rotation. */
    bool mr = kms_key_is_multi_region(k);
    meta.valid_to = q->expires && !mr ? q->valid_to : 0;
    /* The first material has no rotation type; new material waits for
     * RotateKeyOnDemand; a re-import keeps what the row says. */
    snprintf(meta.rotation_type, sizeof meta.rotation_type, "%s",        /* fits: same size */
             old ? old->rotation_type : v == 1 ? "" : KMS_MAT_PENDING);
    const char *desc = q->desc ? q->desc : old ? old->description : "";
    GUARD(str_copy(meta.description, sizeof meta.description, desc, "the description"));
    GUARD(kms_material_import(rc->st, rc->kr, &meta, old != NULL, bytes->data, bytes->len));
    if (is_new) GUARD(check_record(rc, k, v, d));
    /* The current material back: the key is usable again. */
    if (v == cur || cur == 0) {
        k->current_material = v;
        if (strcmp(k->key_state, KEY_STATE_PENDING_IMPORT) == 0) STR_SET(k->key_state, KEY_STATE_ENABLED);
    }
    if (mr) k->next_rotation = q->expires ? q->valid_to : 0;
    else GUARD(refresh_expiry(rc->st, k));
    return rc->st[0]->key_update(rc->st, k);
}

KMS_HANDLER(op_import_key_material)
{
    static const char *const IMPORT_TYPES[] = { "NEW_KEY_MATERIAL", "EXISTING_KEY_MATERIAL", NULL };
    const char *model;
    bool has_valid_to;
    struct import_req q;
    struct key_rec k;
    struct buf tok = BUF_INIT(KMS_CT_MAX), enc = BUF_INIT(KMS_CT_MAX);
    struct buf priv = BUF_SECRET(KMS_MATERIAL_MAX), mat = BUF_SECRET(KMS_MATERIAL_MAX);
    struct kms_import_params p;
    struct material_rec *mats = NULL;
    size_t nm = 0;
    uint8_t digest[SHA256_LEN];
    tr_result r;

    memset(&k, 0, sizeof k);
    memset(&q, 0, sizeof q);
    /* Every member against the model first, then what they mean together. */
    const char *key_id;
    r = json_get_str(in, "KeyId", true, 1, KMS_ARN_MAX, &key_id);
    if (tr_ok(r)) r = json_get_blob(in, "ImportToken", true, 1, KMS_CT_MAX, &tok);
    if (tr_ok(r)) r = json_get_blob(in, "EncryptedKeyMaterial", true, 1, KMS_CT_MAX, &enc);
    if (tr_ok(r)) r = get_time(in, "ValidTo", &has_valid_to, &q.valid_to);
    if (tr_ok(r)) r = kms_get_enum(in, "ExpirationModel", EXP_MODELS, &model);
    if (tr_ok(r)) r = kms_get_enum(in, "ImportType", IMPORT_TYPES, &q.type);
    if (tr_ok(r)) r = kms_get_material_id(in, &q.mid);
    if (tr_ok(r)) r = get_description(in, &q.desc);
    if (tr_failed(r)) goto fail;
    q.expires = !model || strcmp(model, "KEY_MATERIAL_EXPIRES") == 0;
    if (q.mid && q.type && strcmp(q.type, "NEW_KEY_MATERIAL") == 0) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION,
                       "KeyMaterialId must not be set when the ImportType is NEW_KEY_MATERIAL");
        goto fail;
    }
    if (q.expires && !has_valid_to) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION,
                       "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES");
        goto fail;
    }
    if (!q.expires && has_valid_to) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION,
                       "ValidTo must not be set when the ExpirationModel is "
                       "KEY_MATERIAL_DOES_NOT_EXPIRE");
        goto fail;
    }
    if (q.expires && (q.valid_to <= rc->now || q.valid_to > rc->now + VALID_TO_MAX)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION,
                       "ValidTo must be a future date no more than 365 days from now");
        goto fail;
    }
    struct kms_authz_in az = { .expiration_model = model ? model : "KEY_MATERIAL_EXPIRES",
                               .valid_to = q.expires ? q.valid_to : 0 };
    r = kms_key_for(rc, in, KR_KEY_ONLY, rc->op->action, KS_ANY, &az, &k);
    if (tr_failed(r)) goto fail;
    if (strcmp(k.origin, "EXTERNAL") != 0) {
        r = kms_origin_error(&k);
        goto fail;
    }
    r = kms_check_state(&k, KS_NOT_PENDING);
    if (tr_failed(r)) goto fail;

    /* The token: this key's, and still valid; then the material. */
    r = kms_import_token_open(rc->kr, k.region, k.key_id, tok.data, tok.len, &p, &priv);
    if (tr_failed(r)) goto fail;
    if (rc->now > p.valid_to) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_EXPIRED_IMPORT_TOKEN,
                       "The request was rejected because the specified import token is expired. "
                       "Use GetParametersForImport to get a new import token and public key, use "
                       "the new public key to encrypt the key material, and then try the request "
                       "again.");
        goto fail;
    }
    r = unwrap_material(&p, &priv, &enc, &mat);
    buf_free(&priv);
    if (tr_failed(r)) goto fail;
    const struct kms_spec *spec = kms_spec_find(k.key_spec);
    if (!spec) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    r = material_fits(spec, &mat, digest);
    if (tr_ok(r)) r = rc->st[0]->material_list(rc->st, k.key_id, &mats, &nm);
    if (tr_failed(r)) goto fail;
    uint32_t v = 0;
    bool is_new = false;
    r = import_target(rc, &k, &q, mats, nm, digest, &v, &is_new);
    if (tr_ok(r)) r = import_store(rc, &k, &q, mats, nm, v, is_new, &mat, digest);
    if (tr_failed(r)) goto fail;
    json_t *reply = json_pack("{s:s}", "KeyId", k.arn);
    char id[65];
    if (reply && kms_key_is_symmetric(&k)) {
        r = kms_material_id(k.key_id, v, id);
        if (tr_ok(r)) r = kms_set(reply, "KeyMaterialId", json_string(id));
    }
    if (!reply) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    if (tr_ok(r)) *out = reply;
    else json_decref(reply);
fail:
    secure_zero(digest, sizeof digest);
    material_list_free(mats, nm);
    buf_free(&tok);
    buf_free(&enc);
    buf_free(&priv);
    buf_free(&mat);
    key_rec_free(&k);
    return r;
}

TR_RESULT kms_import_valid_to(store_t st, const struct key_rec *k, int64_t *out)
{
    struct material_rec cm;
    *out = 0;
    if (kms_key_is_multi_region(k)) {
        *out = k->current_material > 0 ? k->next_rotation : 0;
        return TR_OK;
    }
    memset(&cm, 0, sizeof cm);
    tr_result r = st[0]->material_get(st, k->key_id, k->current_material, &cm);
    if (tr_ok(r)) *out = cm.valid_to;
    material_rec_free(&cm);
    return r;
}

TR_RESULT kms_import_copy_check(store_t st, const struct key_rec *primary,
                                const struct key_rec *replica)
{
    struct rel_rec rel;
    memset(&rel, 0, sizeof rel);
    tr_result r = st[0]->rel_get(st, IMPORT_REL, primary->arn, IMPORT_REL_TO, &rel);
    if (tr_ok(r)) {
        struct rel_rec nr = rel;
        nr.from = replica->arn;
        r = st[0]->rel_put(st, &nr);
    } else if (tr_code(r) == TR_E_STORE_NOT_FOUND) {
        tr_clear_error();
        r = TR_OK;
    }
    rel_rec_free(&rel);
    return r;
}

/* ---------------------------------------------------------------------- */
/* DeleteImportedKeyMaterial, expiry, rotation                              */

/* Delete material `version` of k: material waiting for rotation goes
 * altogether (with its digest: other material may take its place);
 * other material keeps its row without bytes (ImportState
 * PENDING_IMPORT), and the key without its current material is
 * PendingImport (unless PendingDeletion). */
/* A multi-Region key's region loses its one material: its record says
 * so; the shared row loses its bytes once no region has them. */
static TR_RESULT delete_in_region(store_t st, struct key_rec *k, const struct material_rec *m)
{
    struct key_rec *rel = NULL;
    size_t n = 0;
    bool held = false;
    k->current_material = 0;
    k->next_rotation = 0;
    if (strcmp(k->key_state, KEY_STATE_PENDING_DELETION) != 0)
        STR_SET(k->key_state, KEY_STATE_PENDING_IMPORT);
    GUARD(st[0]->key_update(st, k));
    GUARD(st[0]->key_list_related(st, k->key_id, &rel, &n));
    for (size_t i = 0; i < n; i++)
        if (strcmp(rel[i].region, k->region) != 0 && rel[i].current_material > 0) held = true;
    key_list_free(rel, n);
    if (held || m->wrapped.len == 0) return TR_OK;
    struct material_rec e = *m;
    e.wrapped = BUF_INIT(0);
    return st[0]->material_update(st, &e);
}

static TR_RESULT delete_version(store_t st, struct key_rec *k, const struct material_rec *m)
{
    if (kms_key_is_multi_region(k)) {
        GUARD(delete_in_region(st, k, m));
        kms_forget_unwrapped();
        return TR_OK;
    }
    if (strcmp(m->rotation_type, KMS_MAT_PENDING) == 0) {
        tr_result r = st[0]->material_delete(st, k->key_id, m->version);
        if (tr_failed(r) && tr_code(r) != TR_E_STORE_NOT_FOUND) return r;
        tr_clear_error();
        GUARD(check_forget(st, k->arn, m->version));
    } else if (m->wrapped.len > 0) {
        struct material_rec e = *m;
        e.wrapped = BUF_INIT(0);
        e.valid_to = 0;
        GUARD(st[0]->material_update(st, &e));
    }
    if (m->version == k->current_material) {
        k->current_material = 0;
        if (strcmp(k->key_state, KEY_STATE_PENDING_DELETION) != 0)
            STR_SET(k->key_state, KEY_STATE_PENDING_IMPORT);
    }
    GUARD(refresh_expiry(st, k));
    GUARD(st[0]->key_update(st, k));
    kms_forget_unwrapped();
    return TR_OK;
}

TR_RESULT kms_import_material_delete(store_t st, struct key_rec *k)
{
    struct material_rec m;
    if (k->current_material == 0) return TR_OK;
    memset(&m, 0, sizeof m);
    tr_result r = st[0]->material_get(st, k->key_id, k->current_material, &m);
    if (tr_ok(r)) r = delete_version(st, k, &m);
    material_rec_free(&m);
    return r;
}

TR_RESULT kms_import_expire(store_t st, struct key_rec *k, int64_t now, size_t *expired)
{
    struct material_rec *m = NULL;
    size_t n = 0;
    bool mr = kms_key_is_multi_region(k);
    tr_result r = st[0]->material_list(st, k->key_id, &m, &n);
    for (size_t i = 0; tr_ok(r) && i < n; i++) {
        /* A multi-Region key: the region's one material, its expiry in
         * the record. */
        int64_t valid_to = mr ? (k->current_material == m[i].version ? k->next_rotation : 0)
                              : m[i].wrapped.len > 0 ? m[i].valid_to : 0;
        if (valid_to == 0 || valid_to > now) continue;
        r = delete_version(st, k, &m[i]);
        if (tr_ok(r)) ++*expired;
    }
    material_list_free(m, n);
    return r;
}

TR_RESULT kms_import_forget(store_t st, const char *key_arn)
{
    /* Every check of the key ("material", "material:<v>"), a page at a
     * time: what is deleted leaves the list. */
    for (;;) {
        struct rel_rec *v = NULL;
        size_t n = 0;
        tr_result r = st[0]->rel_list_from(st, IMPORT_REL, key_arn, NULL, 100, &v, &n);
        for (size_t i = 0; tr_ok(r) && i < n; i++)
            r = st[0]->rel_delete(st, IMPORT_REL, key_arn, v[i].to);
        rel_list_free(v, n);
        if (tr_failed(r) || n < 100) return r;
    }
}

KMS_HANDLER(op_delete_imported_key_material)
{
    const char *mid;
    struct key_rec k;
    struct material_rec *m = NULL;
    size_t n = 0;
    char id[65];
    GUARD(kms_get_material_id(in, &mid));
    GUARD(kms_key_for(rc, in, KR_KEY_ONLY, rc->op->action, KS_ANY, NULL, &k));
    tr_result r = strcmp(k.origin, "EXTERNAL") != 0 ? kms_origin_error(&k)
                                                    : rc->st[0]->material_list(rc->st, k.key_id, &m, &n);
    if (tr_failed(r)) goto fail;
    /* The material named, else the current one. */
    const struct material_rec *target = NULL;
    for (size_t i = 0; mid && i < n && !target; i++) {
        r = kms_material_id(k.key_id, m[i].version, id);
        if (tr_failed(r)) goto fail;
        if (strcmp(id, mid) == 0 && kms_key_is_symmetric(&k)) target = &m[i];
    }
    if (mid && !target) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_NOT_FOUND,
                       "Key material with ID %s is not associated with %s.", mid, k.arn);
        goto fail;
    }
    if (!target) target = find_version(m, n, kms_import_current(&k, m, n));
    if (target) r = delete_version(rc->st, &k, target);
    if (tr_failed(r)) goto fail;
    json_t *reply = json_pack("{s:s}", "KeyId", k.arn);
    if (reply && target && kms_key_is_symmetric(&k)) {
        r = kms_material_id(k.key_id, target->version, id);
        if (tr_ok(r)) r = kms_set(reply, "KeyMaterialId", json_string(id));
    }
    if (!reply) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    if (tr_ok(r)) *out = reply;
    else json_decref(reply);
fail:
    material_list_free(m, n);
    key_rec_free(&k);
    return r;
}

TR_RESULT kms_import_rotate(struct req_ctx *rc, struct key_rec *k)
{
    struct material_rec *m = NULL;
    size_t n = 0;
    GUARD(rc->st[0]->material_list(rc->st, k->key_id, &m, &n));
    const struct material_rec *p = NULL;
    for (size_t i = 0; i < n && !p; i++)
        if (strcmp(m[i].rotation_type, KMS_MAT_PENDING) == 0) p = &m[i];
    tr_result r;
    if (!p) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_INVALID_STATE,
                       "%s has no imported key material in PENDING_ROTATION state.", k->arn);
    } else {
        struct material_rec e = *p;
        STR_SET(e.rotation_type, "ON_DEMAND");
        e.created = rc->now;
        r = rc->st[0]->material_update(rc->st, &e);
        if (tr_ok(r)) {
            k->current_material = p->version;
            r = rc->st[0]->key_update(rc->st, k);
        }
    }
    material_list_free(m, n);
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
