/*
 * ciphertext.c -- serialize, parse, seal and open the KMS ciphertext blob.
 *
 * Layout (v1), 65 bytes of overhead:
 *   ver:u8 = 0x01 (UUID key) or 0x02 (mrk- key) | key_id:16 | material_version:u32 BE | salt:16 | iv:12
 *   | body:N | tag:16
 * The 49 bytes before the body are the header.  Each blob is sealed with
 * its own AES-256-GCM key,
 *   HKDF-SHA256(ikm = key material, salt,
 *               info = "tresor/kms/v1" | key_id | material_version BE),
 * so the GCM limits of one key under random IVs never come into play, and
 * the key id and material version are bound into the key itself.  The AAD
 * is header | canonical(encryption context); the context is never stored.
 *
 * Attacker-controlled on Decrypt: the blob is read through a bounds-checked
 * cursor, every length is checked before use, and every failure of parse
 * or open -- malformed, wrong key, wrong context, forged -- returns
 * TR_E_KMS_INVALID_CIPHERTEXT with no message, the same as a tag mismatch.
 * The derived key is wiped right after the AEAD call; plaintext reaches the
 * caller's buffer only once the tag has verified.
 * Spec: docs/internals/CIPHERTEXT.md.
 */
#include "kms/ciphertext.h"

#include "core/cache.h"
#include "core/ct.h"
#include "core/rd.h"
#include "core/secmem.h"
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "crypto/rand.h"

#include <stdlib.h>
#include <string.h>

#define CT_SALT_LEN 16
#define CT_HEADER_LEN (1 + CT_KEY_ID_LEN + 4 + CT_SALT_LEN + AEAD_IV_LEN)   /* 49 */
#define CT_AAD_MAX (1u << 20)   /* header + canonical context; requests are capped far lower */

static const char kdf_label[] = "tresor/kms/v1";   /* 13 bytes, no NUL */
#define KDF_INFO_LEN (sizeof kdf_label - 1 + CT_KEY_ID_LEN + 4)

/* ---- writing ---- */

static void put_u32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static TR_RESULT buf_u32be(struct buf *b, uint32_t v)
{
    uint8_t p[4];
    put_u32be(p, v);
    return buf_append(b, p, sizeof p);
}

/* ---- key ids ---- */

/* Offsets of the dashes in the 36-character text form. */
static bool uuid_dash_at(size_t i)
{
    return i == 8 || i == 13 || i == 18 || i == 23;
}

TR_RESULT uuid_to_bytes(const char *uuid, uint8_t out[CT_KEY_ID_LEN])
{
    char hex[2 * CT_KEY_ID_LEN];
    size_t h = 0;
    ENSURE(uuid != NULL && out != NULL, TR_E_INTERNAL);
    bool ok = strnlen(uuid, 37) == 36;
    for (size_t i = 0; ok && i < 36; i++) {
        if (uuid_dash_at(i)) ok = uuid[i] == '-';
        else hex[h++] = uuid[i];
    }
    if (!ok || !hex_decode(hex, sizeof hex, out))
        BAIL(TR_E_KMS_NOT_FOUND, "Invalid keyId '%s'", uuid);
    return TR_OK;
}

void uuid_from_bytes(const uint8_t in[CT_KEY_ID_LEN], char out[37])
{
    char hex[2 * CT_KEY_ID_LEN + 1];
    hex_encode(in, CT_KEY_ID_LEN, hex);
    for (size_t i = 0, h = 0; i < 36; i++) out[i] = uuid_dash_at(i) ? '-' : hex[h++];
    out[36] = '\0';
}

TR_RESULT ct_key_id_to_bytes(const char *key_id, uint8_t *version, uint8_t out[CT_KEY_ID_LEN])
{
    ENSURE(key_id != NULL && version != NULL && out != NULL, TR_E_INTERNAL);
    if (strncmp(key_id, "mrk-", 4) != 0) {
        GUARD(uuid_to_bytes(key_id, out));
        *version = CT_V1;
        return TR_OK;
    }
    /* Lowercase only: the text form comes back from the bytes. */
    bool ok = strnlen(key_id, 37) == 4 + 2 * CT_KEY_ID_LEN;
    for (size_t i = 4; ok && i < 4 + 2 * CT_KEY_ID_LEN; i++)
        ok = (key_id[i] >= '0' && key_id[i] <= '9') || (key_id[i] >= 'a' && key_id[i] <= 'f');
    if (!ok || !hex_decode(key_id + 4, 2 * CT_KEY_ID_LEN, out))
        BAIL(TR_E_KMS_NOT_FOUND, "Invalid keyId '%s'", key_id);
    *version = CT_V1_MRK;
    return TR_OK;
}

void ct_key_id_from_bytes(uint8_t version, const uint8_t in[CT_KEY_ID_LEN], char out[37])
{
    if (version != CT_V1_MRK) {
        uuid_from_bytes(in, out);
        return;
    }
    memcpy(out, "mrk-", 4);
    hex_encode(in, CT_KEY_ID_LEN, out + 4);
    out[4 + 2 * CT_KEY_ID_LEN] = '\0';
}

/* ---- the blob ---- */

TR_RESULT ciphertext_parse(const uint8_t *blob, size_t len, struct ct_blob *out)
{
    struct ct_blob ct = { 0 };
    /* Every short read is a bad ciphertext. */
    struct rd r = rd_init(blob, len, TR_E_KMS_INVALID_CIPHERTEXT);
    ENSURE(out != NULL && (blob != NULL || len == 0), TR_E_KMS_INVALID_CIPHERTEXT);

    GUARD(rd_u8(&r, &ct.version));
    ENSURE(ct.version == CT_V1 || ct.version == CT_V1_MRK, TR_E_KMS_INVALID_CIPHERTEXT);
    GUARD(rd_bytes(&r, ct.key_id, CT_KEY_ID_LEN));
    GUARD(rd_u32be(&r, &ct.material_version));
    GUARD(rd_ptr(&r, CT_SALT_LEN, &ct.salt));
    GUARD(rd_ptr(&r, AEAD_IV_LEN, &ct.iv));
    ct.header = blob;
    ct.header_len = CT_HEADER_LEN;
    ENSURE(r.left >= AEAD_TAG_LEN, TR_E_KMS_INVALID_CIPHERTEXT);
    ct.body_len = r.left - AEAD_TAG_LEN;
    ENSURE(ct.body_len <= CT_MAX_PLAINTEXT, TR_E_KMS_INVALID_CIPHERTEXT);
    GUARD(rd_ptr(&r, ct.body_len, &ct.body));
    GUARD(rd_ptr(&r, AEAD_TAG_LEN, &ct.tag));
    GUARD(rd_end(&r));
    *out = ct;
    return TR_OK;
}

static int pair_cmp(const void *a, const void *b)
{
    const struct enc_pair *x = *(const struct enc_pair *const *)a;
    const struct enc_pair *y = *(const struct enc_pair *const *)b;
    return strcmp(x->key, y->key);   /* compares as unsigned char: byte order */
}

static TR_RESULT put_str(struct buf *out, const char *s)
{
    size_t n = strlen(s);
    ENSURE(n <= UINT32_MAX, TR_E_VALIDATION);
    GUARD(buf_u32be(out, (uint32_t)n));
    return buf_append(out, s, n);
}

/*
 * count:u32 BE, then for each pair sorted by key (byte order):
 * key_len:u32 BE | key | value_len:u32 BE | value.  Two contexts encode
 * alike exactly when they hold the same pairs.  Duplicate keys cannot come
 * from a JSON object and are refused rather than given an arbitrary order.
 * On failure out keeps its old length.
 */
TR_RESULT enc_ctx_canonical(const struct enc_ctx *ctx, struct buf *out)
{
    const struct enc_pair **sorted = NULL;
    size_t n = ctx ? ctx->n : 0;
    uint32_t start;
    tr_result r = TR_OK;

    ENSURE_REF(out);
    ENSURE(n == 0 || ctx->pairs != NULL, TR_E_INTERNAL);
    ENSURE(n <= UINT32_MAX && n <= SIZE_MAX / sizeof *sorted, TR_E_VALIDATION);
    start = out->len;
    if (n) {
        sorted = malloc(n * sizeof *sorted);
        ENSURE(sorted != NULL, TR_E_INTERNAL);
    }
    for (size_t i = 0; i < n; i++) {
        if (!ctx->pairs[i].key || !ctx->pairs[i].value) {
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
            goto fail;
        }
        sorted[i] = &ctx->pairs[i];
    }
    if (n > 1) qsort(sorted, n, sizeof *sorted, pair_cmp);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(sorted[i - 1]->key, sorted[i]->key) == 0) {
            r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION,
                           "EncryptionContext contains a duplicate key");
            goto fail;
        }
    }
    r = buf_u32be(out, (uint32_t)n);
    for (size_t i = 0; tr_ok(r) && i < n; i++) {
        r = put_str(out, sorted[i]->key);
        if (tr_ok(r)) r = put_str(out, sorted[i]->value);
    }
    if (tr_failed(r)) goto fail;
    free(sorted);
    return TR_OK;
fail:
    free(sorted);
    out->len = start;
    return r;
}

/* info = "tresor/kms/v1" | key_id | material_version BE, then the key. */
static TR_RESULT derive_key(const uint8_t material[32], const uint8_t *salt,
                            const uint8_t key_id[CT_KEY_ID_LEN],
                            uint32_t material_version, uint8_t key[AEAD_KEY_LEN])
{
    uint8_t info[KDF_INFO_LEN];
    memcpy(info, kdf_label, sizeof kdf_label - 1);
    memcpy(info + sizeof kdf_label - 1, key_id, CT_KEY_ID_LEN);
    put_u32be(info + sizeof kdf_label - 1 + CT_KEY_ID_LEN, material_version);
    return hkdf_sha256(material, 32, salt, CT_SALT_LEN, info, sizeof info,
                       key, AEAD_KEY_LEN);
}

/* aad = header | canonical(ctx), in a fresh buffer the caller frees. */
static TR_RESULT build_aad(const uint8_t *header, const struct enc_ctx *ctx,
                           struct buf *aad)
{
    GUARD(buf_append(aad, header, CT_HEADER_LEN));
    return enc_ctx_canonical(ctx, aad);
}

/*
 * Appends ver | key_id | material_version | salt | iv | body | tag to out.
 * Salt and IV are fresh random bytes.  On failure out keeps its old length.
 * The derived key is wiped on every path.
 */
TR_RESULT ciphertext_seal(const uint8_t key_id[CT_KEY_ID_LEN], uint32_t material_version,
                          const uint8_t material[32], const struct enc_ctx *ctx,
                          const uint8_t *pt, size_t pt_len, struct buf *out)
{
    return ciphertext_seal_as(CT_V1, key_id, material_version, material, ctx, pt, pt_len, out);
}

TR_RESULT ciphertext_seal_as(uint8_t version, const uint8_t key_id[CT_KEY_ID_LEN],
                             uint32_t material_version, const uint8_t material[32],
                             const struct enc_ctx *ctx, const uint8_t *pt, size_t pt_len,
                             struct buf *out)
{
    uint8_t hdr[CT_HEADER_LEN], key[AEAD_KEY_LEN];
    uint8_t *salt = hdr + 1 + CT_KEY_ID_LEN + 4, *iv = salt + CT_SALT_LEN;
    struct buf aad = BUF_INIT(CT_AAD_MAX);
    uint8_t *p;
    tr_result r;

    ENSURE(key_id && material && out && (pt || pt_len == 0), TR_E_INTERNAL);
    ENSURE(pt_len <= CT_MAX_PLAINTEXT, TR_E_INTERNAL);   /* callers enforce API limits */
    ENSURE(version == CT_V1 || version == CT_V1_MRK, TR_E_INTERNAL);

    hdr[0] = version;
    memcpy(hdr + 1, key_id, CT_KEY_ID_LEN);
    put_u32be(hdr + 1 + CT_KEY_ID_LEN, material_version);
    r = rand_public(salt, CT_SALT_LEN + AEAD_IV_LEN);    /* public: written in the blob */
    if (tr_failed(r)) goto fail;
    r = build_aad(hdr, ctx, &aad);
    if (tr_failed(r)) goto fail;
    r = buf_reserve(out, CT_HEADER_LEN + pt_len + AEAD_TAG_LEN);
    if (tr_failed(r)) goto fail;
    p = out->data + out->len;
    memcpy(p, hdr, CT_HEADER_LEN);
    r = derive_key(material, salt, key_id, material_version, key);
    if (tr_failed(r)) goto fail;
    r = aead_seal(key, iv, aad.data, aad.len, pt, pt_len,
                  p + CT_HEADER_LEN, p + CT_HEADER_LEN + pt_len);
    secure_zero(key, sizeof key);
    if (tr_failed(r)) goto fail;
    out->len += (uint32_t)(CT_HEADER_LEN + pt_len + AEAD_TAG_LEN);
    buf_free(&aad);
    return TR_OK;
fail:
    secure_zero(key, sizeof key);
    buf_free(&aad);
    return r;
}

/* True when the parsed fields are those of a v1 header (a hand-built
 * struct must not authenticate one key id and derive from another). */
static bool blob_consistent(const struct ct_blob *ct)
{
    uint8_t mv[4];
    if ((ct->version != CT_V1 && ct->version != CT_V1_MRK) || !ct->header || ct->header_len != CT_HEADER_LEN
        || !ct->salt || !ct->iv || !ct->tag || (!ct->body && ct->body_len)
        || ct->body_len > CT_MAX_PLAINTEXT)
        return false;
    put_u32be(mv, ct->material_version);
    return ct->header[0] == ct->version
           && memcmp(ct->header + 1, ct->key_id, CT_KEY_ID_LEN) == 0
           && memcmp(ct->header + 1 + CT_KEY_ID_LEN, mv, 4) == 0
           && ct->salt == ct->header + 1 + CT_KEY_ID_LEN + 4
           && ct->iv == ct->salt + CT_SALT_LEN;
}

/* ---- the derived keys a thread opened blobs with ----------------------------
 * A blob's key K is a pure function of (material, salt, key id, material
 * version).  Reading the same blob again -- GetSecretValue of one secret
 * version opens its data-key blob every time -- would derive the same K
 * with two HMAC keyings (~30 k instructions, a tenth of the request).
 * So each thread keeps the K of the last blobs it opened (the core/cache.h
 * class "kms-blob-keys"), keyed by key id, material version and salt,
 * in the class's locked, non-dumpable memory beside the material it was
 * derived from: a hit is used only when the caller's material is the
 * same bytes (ct_memeq), so it is right in any store and generation.  An
 * entry is made only after the tag verified (a forged blob never takes a
 * slot), wiped when it goes (evicted, thread exit, seal).  It holds no
 * more than the KMS key cache already holds: the material itself, from
 * which every K of the key can be derived. */
#define BK_MATERIAL 32
static struct cache_class blob_keys =
    CACHE_CLASS("kms-blob-keys", CACHE_BY_CONTENT, .slots = 64, .ways = 4, .value_size = 1,
                .secret_size = BK_MATERIAL + AEAD_KEY_LEN);

static void blob_key_id(const struct ct_blob *ct, struct cache_key *k)
{
    cache_key_init(k);
    cache_key_bytes(k, ct->key_id, CT_KEY_ID_LEN);
    cache_key_u64(k, ct->material_version);
    cache_key_bytes(k, ct->salt, CT_SALT_LEN);
}

/* K of ct from this thread's cache: true with key filled, else false. */
static bool blob_key_get(const struct ct_blob *ct, const uint8_t material[32],
                         uint8_t key[AEAD_KEY_LEN])
{
    struct cache_key k;
    blob_key_id(ct, &k);
    void *v = cache_get_by_content(&blob_keys, &k, ct->salt, CT_SALT_LEN);
    const uint8_t *sec = v ? cache_secret(&blob_keys, v) : NULL;
    if (!sec) return false;
    if (!ct_memeq(sec, material, BK_MATERIAL)) {    /* other material: not this K */
        cache_drop(&blob_keys, v);
        return false;
    }
    memcpy(key, sec + BK_MATERIAL, AEAD_KEY_LEN);
    return true;
}

static void blob_key_put(const struct ct_blob *ct, const uint8_t material[32],
                         const uint8_t key[AEAD_KEY_LEN])
{
    struct cache_key k;
    blob_key_id(ct, &k);
    void *v = cache_put_by_content(&blob_keys, &k, ct->salt, CT_SALT_LEN);
    uint8_t *sec = v ? cache_secret(&blob_keys, v) : NULL;
    if (!sec) {
        if (v) cache_drop(&blob_keys, v);
        return;
    }
    memcpy(sec, material, BK_MATERIAL);
    memcpy(sec + BK_MATERIAL, key, AEAD_KEY_LEN);
}

void ciphertext_forget_keys(void)
{
    cache_flush(&blob_keys);
}

/*
 * Decrypts into the spare room of pt_out and counts the bytes in only
 * once the tag verifies (aead_open wipes that room when it does not).
 * The derived key, from this thread's cache or derived, is wiped on every
 * path; derived, it is cached once the tag verified.
 */
TR_RESULT ciphertext_open(const struct ct_blob *ct, const uint8_t material[32],
                          const struct enc_ctx *ctx, struct buf *pt_out)
{
    uint8_t key[AEAD_KEY_LEN] = { 0 };
    struct buf aad = BUF_INIT(CT_AAD_MAX);
    tr_result r;

    if (!ct || !material || !pt_out || !blob_consistent(ct)) goto fail;
    if (tr_failed(build_aad(ct->header, ctx, &aad))) goto fail;
    if (tr_failed(buf_reserve(pt_out, ct->body_len))) goto fail;
    bool cached = blob_key_get(ct, material, key);
    if (!cached && tr_failed(derive_key(material, ct->salt, ct->key_id, ct->material_version, key)))
        goto fail;
    r = aead_open(key, ct->iv, aad.data, aad.len, ct->body, ct->body_len,
                  ct->tag, pt_out->data + pt_out->len);
    if (tr_ok(r) && !cached) blob_key_put(ct, material, key);
    secure_zero(key, sizeof key);
    if (tr_failed(r)) goto fail;
    pt_out->len += (uint32_t)ct->body_len;
    buf_free(&aad);
    return TR_OK;
fail:
    secure_zero(key, sizeof key);
    buf_free(&aad);
    BAIL0(TR_E_KMS_INVALID_CIPHERTEXT);
}
