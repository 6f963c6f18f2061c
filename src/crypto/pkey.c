/*
 * pkey.c -- RSA and EC key pairs, signatures, RSAES-OAEP and HMAC for KMS's
 * asymmetric and HMAC keys, over OpenSSL 3 (contract: pkey.h).
 *
 * As hash.c does, the digests (SHA-1, SHA-224/256/384/512) and the HMAC
 * implementation are fetched once (pthread_once), and each thread keeps one
 * EVP_MD_CTX and one EVP_MAC_CTX, re-initialised per call and freed by
 * crypto_thread_cleanup().  A private key is parsed from its PKCS#8 DER for
 * each call (d2i_AutoPrivateKey) and freed at once: OpenSSL clears the key
 * components when it frees them.
 *
 * Parsed keys are cached per thread.  OpenSSL 3.0 parses a PKCS#8 key
 * through its decoder machinery, which costs more than the signature
 * itself (measured: ~600 us for a P-256 key against ~40 us to sign, ~380
 * us for RSA-2048 against ~650 us).  So each thread keeps its last 8
 * parsed keys in the core/cache.h class "private-keys", addressed by the
 * SHA-256 of their DER: an entry can never be stale (other bytes are
 * another entry), needs no invalidation when a key is deleted or the root
 * key rotates, and is freed -- OpenSSL's wiping allocator clears it --
 * when evicted, at thread exit, and when the server is sealed
 * (cache_wipe_all_threads), like every other value derived from the root
 * key; never shared between threads.  The process refuses core dumps
 * (core/secmem.h).  Off when the caches are off (TRESOR_CACHE=off, the
 * unit tests).
 *
 * Signing always works on a digest: a RAW message is hashed first by the
 * caller (pk_digest), a DIGEST message is used as given, and EVP_PKEY_sign
 * with the signature digest set produces what KMS produces -- PKCS#1 v1.5
 * over the DigestInfo of that digest, PSS with MGF1 of the same digest and
 * a salt of the digest's length, ECDSA as DER (RFC 3279 Ecdsa-Sig-Value).
 *
 * An HMAC key lives inside the thread's MAC context only while it is used:
 * the context is re-keyed with a zero key afterwards, as hash.c does.
 */
#include "crypto/pkey.h"
#include "crypto/internal.h"

#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "core/cache.h"
#include "core/secmem.h"

static const char *const MD_NAMES[PK_MD_COUNT] = { "SHA1", "SHA224", "SHA256", "SHA384",
                                                   "SHA512" };
static const size_t MD_LENS[PK_MD_COUNT] = { 20, 28, 32, 48, 64 };

static pthread_once_t pk_once = PTHREAD_ONCE_INIT;
static EVP_MD *pk_mds[PK_MD_COUNT];
static EVP_MAC *pk_hmac_alg;
static bool pk_ready;

static _Thread_local EVP_MD_CTX *t_md;
static _Thread_local EVP_MAC_CTX *t_mac;

static const uint8_t zero_key[64];

/* A parsed private key of the thread's cache (a reference of its own). */
struct pk_cached { EVP_PKEY *pk; };

static void pk_cached_release(void *value)
{
    EVP_PKEY_free(((struct pk_cached *)value)->pk);
}

static struct cache_class pk_cache = CACHE_CLASS("private-keys", CACHE_BY_CONTENT, .slots = 8,
                                                 .value_size = sizeof(struct pk_cached),
                                                 .release = pk_cached_release);

static void pk_fetch(void)
{
    bool ok = true;
    for (int i = 0; i < PK_MD_COUNT; i++) {
        pk_mds[i] = EVP_MD_fetch(NULL, MD_NAMES[i], NULL);
        ok = ok && pk_mds[i];
    }
    pk_hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    pk_ready = ok && pk_hmac_alg;
    ERR_clear_error();
}

static TR_RESULT pk_init(void)
{
    ENSURE(pthread_once(&pk_once, pk_fetch) == 0, TR_E_INTERNAL);
    ENSURE(pk_ready, TR_E_INTERNAL);
    return TR_OK;
}

void pkey_thread_cleanup(void)
{
    EVP_MD_CTX_free(t_md);
    t_md = NULL;
    EVP_MAC_CTX_free(t_mac);
    t_mac = NULL;
}

static tr_result openssl_failed(const char *file, int line)
{
    ERR_clear_error();
    return tr_fail_at(file, line, TR_E_INTERNAL, NULL);
}
#define OPENSSL_FAILED() openssl_failed(__FILE__, __LINE__)

size_t pk_md_len(enum pk_md md)
{
    return (unsigned)md < PK_MD_COUNT ? MD_LENS[md] : 0;
}

TR_RESULT pk_digest(enum pk_md md, const uint8_t *msg, size_t n, uint8_t *out)
{
    unsigned int len = 0;
    ENSURE((unsigned)md < PK_MD_COUNT, TR_E_INTERNAL);
    GUARD(pk_init());
    if (!t_md) {
        t_md = EVP_MD_CTX_new();
        if (!t_md) return OPENSSL_FAILED();
        crypto_thread_track();
    }
    if (EVP_DigestInit_ex2(t_md, pk_mds[md], NULL) != 1 ||
        EVP_DigestUpdate(t_md, msg, n) != 1 || EVP_DigestFinal_ex(t_md, out, &len) != 1)
        return OPENSSL_FAILED();
    ENSURE(len == MD_LENS[md], TR_E_INTERNAL);
    return TR_OK;
}

TR_RESULT pk_hmac(enum pk_md md, const uint8_t *key, size_t klen, const uint8_t *msg,
                  size_t n, uint8_t *out)
{
    size_t len = 0;
    tr_result r = TR_OK;
    ENSURE((unsigned)md < PK_MD_COUNT, TR_E_INTERNAL);
    GUARD(pk_init());
    if (!t_mac) {
        t_mac = EVP_MAC_CTX_new(pk_hmac_alg);
        if (!t_mac) return OPENSSL_FAILED();
        crypto_thread_track();
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)MD_NAMES[md], 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_init(t_mac, key, klen, params) != 1 || EVP_MAC_update(t_mac, msg, n) != 1 ||
        EVP_MAC_final(t_mac, out, &len, MD_LENS[md]) != 1 || len != MD_LENS[md])
        r = OPENSSL_FAILED();
    /* Overwrite the key copy and the keyed states the context holds. */
    if (EVP_MAC_init(t_mac, zero_key, sizeof zero_key, NULL) != 1) {
        EVP_MAC_CTX_free(t_mac);
        t_mac = NULL;
        ERR_clear_error();
    }
    return r;
}

TR_RESULT pk_generate(const struct pk_params *p, struct buf *out, struct buf *pub)
{
    EVP_PKEY *pk = NULL;
    uint8_t *der = NULL;
    int len = 0;
    tr_result r = TR_OK;

    GUARD(pk_init());
    if (p->curve)
        pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", p->curve);
    else
        pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)p->bits);
    if (!pk) return OPENSSL_FAILED();
    /* PKCS#8 PrivateKeyInfo, DER. */
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(pk);
    if (!p8) { r = OPENSSL_FAILED(); goto fail; }
    len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
    PKCS8_PRIV_KEY_INFO_free(p8);
    if (len <= 0) { r = OPENSSL_FAILED(); goto fail; }
    r = buf_append(out, der, (size_t)len);
    if (tr_ok(r) && pub) {
        /* From the key in hand: parsing the DER back would cost more and
         * put a one-use key in the thread's cache. */
        uint8_t *spki = NULL;
        int n = i2d_PUBKEY(pk, &spki);
        r = n > 0 ? buf_append(pub, spki, (size_t)n) : OPENSSL_FAILED();
        OPENSSL_free(spki);
    }
fail:
    if (der) OPENSSL_clear_free(der, len > 0 ? (size_t)len : 0);
    EVP_PKEY_free(pk);
    return r;
}

/* Parse a PKCS#8 DER private key, or take it from the thread's cache;
 * *out is a reference the caller releases with EVP_PKEY_free. */
static TR_RESULT load(const uint8_t *priv, size_t n, EVP_PKEY **out)
{
    const unsigned char *p = priv;
    uint8_t id[32];
    struct cache_key k;
    ENSURE(n > 0 && n < (1u << 20), TR_E_INTERNAL);
    GUARD(pk_init());
    bool cached = cache_enabled();
    if (cached) {
        GUARD(pk_digest(PK_SHA256, priv, n, id));
        cache_key_init(&k);
        cache_key_bytes(&k, id, sizeof id);
        struct pk_cached *c = cache_get_by_content(&pk_cache, &k, id, sizeof id);
        if (c) {
            if (EVP_PKEY_up_ref(c->pk) != 1) return OPENSSL_FAILED();
            *out = c->pk;
            return TR_OK;
        }
    }
    *out = d2i_AutoPrivateKey(NULL, &p, (long)n);
    if (!*out) return OPENSSL_FAILED();
    if (cached) {
        struct pk_cached *c = cache_put_by_content(&pk_cache, &k, id, sizeof id);
        if (c && EVP_PKEY_up_ref(*out) == 1) c->pk = *out;
        else if (c) cache_drop(&pk_cache, c);
    }
    ERR_clear_error();
    return TR_OK;
}

TR_RESULT pk_public_der(const uint8_t *priv, size_t n, struct buf *out)
{
    EVP_PKEY *pk = NULL;
    uint8_t *der = NULL;
    GUARD(load(priv, n, &pk));
    int len = i2d_PUBKEY(pk, &der);
    EVP_PKEY_free(pk);
    if (len <= 0) return OPENSSL_FAILED();
    tr_result r = buf_append(out, der, (size_t)len);
    OPENSSL_free(der);
    return r;
}

TR_RESULT pk_rsa_size(const uint8_t *priv, size_t n, size_t *out)
{
    EVP_PKEY *pk = NULL;
    GUARD(load(priv, n, &pk));
    int sz = EVP_PKEY_get_size(pk);
    EVP_PKEY_free(pk);
    ENSURE(sz > 0, TR_E_INTERNAL);
    *out = (size_t)sz;
    return TR_OK;
}

/* A context for operation `op` (sign, verify, encrypt, decrypt) on the
 * key, with the padding and digests of the scheme set. */
enum pk_op { OP_SIGN, OP_VERIFY, OP_ENC, OP_DEC };
static TR_RESULT op_ctx(EVP_PKEY *pk, enum pk_op op, enum pk_sig scheme, enum pk_md md,
                        bool oaep, EVP_PKEY_CTX **out)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    int ok = c != NULL;
    if (ok) {
        switch (op) {
        case OP_SIGN: ok = EVP_PKEY_sign_init(c) == 1; break;
        case OP_VERIFY: ok = EVP_PKEY_verify_init(c) == 1; break;
        case OP_ENC: ok = EVP_PKEY_encrypt_init(c) == 1; break;
        case OP_DEC: ok = EVP_PKEY_decrypt_init(c) == 1; break;
        }
    }
    if (ok && oaep) {
        ok = EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_oaep_md(c, pk_mds[md]) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(c, pk_mds[md]) == 1;
    } else if (ok) {
        ok = EVP_PKEY_CTX_set_signature_md(c, pk_mds[md]) == 1;
        if (ok && scheme == PK_SIG_PKCS1)
            ok = EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1;
        if (ok && scheme == PK_SIG_PSS)
            ok = EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING) == 1 &&
                 EVP_PKEY_CTX_set_rsa_mgf1_md(c, pk_mds[md]) == 1 &&
                 EVP_PKEY_CTX_set_rsa_pss_saltlen(c, RSA_PSS_SALTLEN_DIGEST) == 1;
    }
    if (!ok) {
        EVP_PKEY_CTX_free(c);
        return OPENSSL_FAILED();
    }
    *out = c;
    return TR_OK;
}

/* Sign (OP_SIGN), RSAES-OAEP encrypt (OP_ENC) or decrypt (OP_DEC) `in`
 * with the key, appending the output to out: OpenSSL gives its size, then
 * the bytes.  Decrypt's input is the caller's ciphertext, exactly the
 * modulus long: whatever is wrong with it is InvalidCiphertextException;
 * any other failure is internal.  Output of a failed run is wiped. */
static TR_RESULT op_to_buf(const uint8_t *priv, size_t n, enum pk_op op, enum pk_sig scheme,
                           enum pk_md md, const uint8_t *in, size_t inlen, struct buf *out)
{
    int (*const run)(EVP_PKEY_CTX *, unsigned char *, size_t *, const unsigned char *, size_t) =
        op == OP_SIGN ? EVP_PKEY_sign : op == OP_ENC ? EVP_PKEY_encrypt : EVP_PKEY_decrypt;
    const enum tr_err bad = op == OP_DEC ? TR_E_KMS_INVALID_CIPHERTEXT : TR_E_INTERNAL;
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *c = NULL;
    size_t len = 0, room;
    tr_result r;

    ENSURE(op == OP_SIGN || op == OP_ENC || op == OP_DEC, TR_E_INTERNAL);
    GUARD(load(priv, n, &pk));
    r = op_ctx(pk, op, scheme, md, op != OP_SIGN, &c);
    if (tr_failed(r)) goto fail;
    if ((op == OP_DEC && inlen != (size_t)EVP_PKEY_get_size(pk)) ||
        run(c, NULL, &len, in, inlen) != 1) {
        ERR_clear_error();
        r = tr_fail_at(__FILE__, __LINE__, bad, NULL);
        goto fail;
    }
    r = buf_reserve(out, len);
    if (tr_failed(r)) goto fail;
    room = len;
    if (run(c, out->data + out->len, &len, in, inlen) != 1) {
        ERR_clear_error();
        secure_zero(out->data + out->len, room);
        r = tr_fail_at(__FILE__, __LINE__, bad, NULL);
        goto fail;
    }
    out->len += (uint32_t)len;
fail:
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(pk);
    return r;
}

TR_RESULT pk_sign(const uint8_t *priv, size_t n, enum pk_sig scheme, enum pk_md md,
                  const uint8_t *digest, size_t dlen, struct buf *out)
{
    ENSURE((unsigned)md < PK_MD_COUNT && dlen == MD_LENS[md], TR_E_INTERNAL);
    return op_to_buf(priv, n, OP_SIGN, scheme, md, digest, dlen, out);
}

TR_RESULT pk_verify(const uint8_t *priv, size_t n, enum pk_sig scheme, enum pk_md md,
                    const uint8_t *digest, size_t dlen, const uint8_t *sig, size_t slen,
                    bool *ok)
{
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *c = NULL;
    tr_result r;

    *ok = false;
    ENSURE((unsigned)md < PK_MD_COUNT && dlen == MD_LENS[md], TR_E_INTERNAL);
    GUARD(load(priv, n, &pk));
    r = op_ctx(pk, OP_VERIFY, scheme, md, false, &c);
    if (tr_ok(r)) {
        /* 1: valid; 0 or negative: not a valid signature (malformed DER,
         * wrong length, wrong value all alike). */
        *ok = EVP_PKEY_verify(c, sig, slen, digest, dlen) == 1;
        ERR_clear_error();
    }
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(pk);
    return r;
}

TR_RESULT pk_rsa_encrypt(const uint8_t *priv, size_t n, enum pk_md md, const uint8_t *pt,
                         size_t ptlen, struct buf *out)
{
    ENSURE((unsigned)md < PK_MD_COUNT, TR_E_INTERNAL);
    return op_to_buf(priv, n, OP_ENC, PK_SIG_PKCS1, md, pt, ptlen, out);
}

TR_RESULT pk_rsa_decrypt(const uint8_t *priv, size_t n, enum pk_md md, const uint8_t *ct,
                         size_t ctlen, struct buf *out)
{
    ENSURE((unsigned)md < PK_MD_COUNT, TR_E_INTERNAL);
    return op_to_buf(priv, n, OP_DEC, PK_SIG_PKCS1, md, ct, ctlen, out);
}

TR_RESULT pk_aes_kwp_unwrap(const uint8_t *kek, size_t klen, const uint8_t *in, size_t inlen,
                            struct buf *out)
{
    EVP_CIPHER_CTX *c = NULL;
    int len = 0, fin = 0;
    tr_result r = TR_OK;

    ENSURE(klen == 32, TR_E_INTERNAL);
    /* RFC 5649 output is a multiple of 8 bytes, at least 16. */
    if (inlen < 16 || inlen % 8 != 0 || inlen > (1u << 16))
        return tr_fail_at(__FILE__, __LINE__, TR_E_KMS_INVALID_CIPHERTEXT, NULL);
    GUARD(buf_reserve(out, inlen));
    c = EVP_CIPHER_CTX_new();
    if (!c) return OPENSSL_FAILED();
    EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    if (EVP_DecryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, kek, NULL) != 1) {
        r = OPENSSL_FAILED();
        goto fail;
    }
    if (EVP_DecryptUpdate(c, out->data + out->len, &len, in, (int)inlen) != 1 || len < 0 ||
        EVP_DecryptFinal_ex(c, out->data + out->len + len, &fin) != 1) {
        ERR_clear_error();
        secure_zero(out->data + out->len, inlen);
        r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_INVALID_CIPHERTEXT, NULL);
        goto fail;
    }
    out->len += (uint32_t)(len + fin);
fail:
    EVP_CIPHER_CTX_free(c);
    return r;
}

/* The NID of a curve by the names pk_params takes ("P-256", "secp256k1"). */
static int curve_nid(const char *name)
{
    int nid = EC_curve_nist2nid(name);
    return nid != NID_undef ? nid : OBJ_sn2nid(name);
}

TR_RESULT pk_matches(const uint8_t *priv, size_t n, const struct pk_params *p, bool *ok)
{
    const unsigned char *q = priv;
    EVP_PKEY *pk = NULL;
    *ok = false;
    ENSURE_REF(p);
    GUARD(pk_init());
    if (n == 0 || n > (1u << 16)) return TR_OK;
    /* Not load(): untrusted bytes are parsed once, never cached. */
    PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &q, (long)n);
    if (p8 && q == priv + n) pk = EVP_PKCS82PKEY(p8);
    PKCS8_PRIV_KEY_INFO_free(p8);
    ERR_clear_error();
    if (!pk) return TR_OK;
    if (p->curve == NULL) {
        *ok = EVP_PKEY_is_a(pk, "RSA") && EVP_PKEY_get_bits(pk) == p->bits;
    } else if (EVP_PKEY_is_a(pk, "EC")) {
        char g[64];
        size_t gl = 0;
        *ok = EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, g, sizeof g, &gl) == 1 &&
              OBJ_sn2nid(g) != NID_undef && OBJ_sn2nid(g) == curve_nid(p->curve);
    }
    if (*ok) {
        /* The private and public halves must belong together. */
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
        *ok = c && EVP_PKEY_pairwise_check(c) == 1;
        EVP_PKEY_CTX_free(c);
    }
    ERR_clear_error();
    EVP_PKEY_free(pk);
    return TR_OK;
}

/* The peer's public key parsed from SPKI DER when it is EC on the curve
 * of NID `nid` (named curves only), canonically encoded, and its point passes OpenSSL's
 * public-key check (on the curve, not the point at infinity); NULL for
 * anything else, with OpenSSL's error queue cleared. */
static EVP_PKEY *peer_on_curve(const uint8_t *peer, size_t plen, int nid)
{
    const unsigned char *q = peer;
    EVP_PKEY *pub = NULL;
    char g[64];
    size_t gl = 0;
    if (plen == 0 || plen > (1u << 16) || nid == NID_undef) return NULL;
    pub = d2i_PUBKEY(NULL, &q, (long)plen);
    bool ok = pub && q == peer + plen && EVP_PKEY_is_a(pub, "EC") &&
              EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, g, sizeof g,
                                              &gl) == 1 &&
              OBJ_sn2nid(g) == nid;
    if (ok) {
        /* DER, exactly: what OpenSSL parses it writes back byte for byte
         * (a BIT STRING claiming unused bits, which d2i masks away, or any
         * other non-canonical form, is refused). */
        unsigned char *der = NULL;
        int len = i2d_PUBKEY(pub, &der);
        ok = len > 0 && (size_t)len == plen && memcmp(der, peer, plen) == 0;
        OPENSSL_free(der);
    }
    if (ok) {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
        ok = c && EVP_PKEY_public_check(c) == 1;
        EVP_PKEY_CTX_free(c);
    }
    ERR_clear_error();
    if (!ok) {
        EVP_PKEY_free(pub);
        return NULL;
    }
    return pub;
}

TR_RESULT pk_ec_public_on(const uint8_t *peer, size_t plen, const char *curve, bool *ok)
{
    ENSURE_REF(curve);
    GUARD(pk_init());
    EVP_PKEY *pub = peer_on_curve(peer, plen, curve_nid(curve));
    *ok = pub != NULL;
    EVP_PKEY_free(pub);
    return TR_OK;
}

TR_RESULT pk_ecdh(const uint8_t *priv, size_t n, const uint8_t *peer, size_t plen,
                  struct buf *out, bool *ok)
{
    EVP_PKEY *pk = NULL, *pub = NULL;
    EVP_PKEY_CTX *c = NULL;
    size_t len = 0, room;
    char g[64];
    size_t gl = 0;
    tr_result r = TR_OK;

    *ok = false;
    GUARD(load(priv, n, &pk));
    if (!EVP_PKEY_is_a(pk, "EC") ||
        EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, g, sizeof g, &gl) != 1) {
        r = OPENSSL_FAILED();
        goto fail;
    }
    pub = peer_on_curve(peer, plen, OBJ_sn2nid(g));
    if (!pub) goto fail;                    /* r TR_OK, *ok false: the caller answers */
    c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    if (!c || EVP_PKEY_derive_init(c) != 1 || EVP_PKEY_derive_set_peer(c, pub) != 1 ||
        EVP_PKEY_derive(c, NULL, &len) != 1) {
        r = OPENSSL_FAILED();
        goto fail;
    }
    r = buf_reserve(out, len);
    if (tr_failed(r)) goto fail;
    room = len;
    if (EVP_PKEY_derive(c, out->data + out->len, &len) != 1 || len != room) {
        secure_zero(out->data + out->len, room);
        r = OPENSSL_FAILED();
        goto fail;
    }
    out->len += (uint32_t)len;
    *ok = true;
fail:
    ERR_clear_error();
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(pk);
    return r;
}
