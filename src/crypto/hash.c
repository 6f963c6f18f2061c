/*
 * hash.c -- SHA-256, HMAC-SHA256 and HKDF-SHA256, over OpenSSL 3.
 *
 * Why it looks like this: in OpenSSL 3 every EVP_sha256()-style lookup,
 * one-shot HMAC() and fresh context goes through the provider machinery
 * (a locked algorithm-store lookup, then allocating and freeing a context),
 * which costs two to four times the hashing itself on short inputs and
 * serialises threads on the store lock.  So crypto_init() fetches each
 * algorithm once (SHA256, HMAC and, for aead.c, AES-256-GCM), and every
 * thread keeps one EVP_MD_CTX and one EVP_MAC_CTX in _Thread_local
 * pointers, created on first use and re-initialised for each call.
 * crypto_thread_cleanup() frees them (and aead.c's cipher context).
 * Our code allocates nothing per call; OpenSSL 3.0 itself still rebuilds a
 * small provider context inside EVP_DigestInit_ex2 and each HMAC keying
 * (measured: 1 malloc per sha256, ~4 per HMAC key; later OpenSSL releases
 * reuse them).  Even so, on 200-byte inputs this runs at about half the
 * cost of EVP_Digest(EVP_sha256()) and HMAC() one-shots.
 *
 * HKDF (RFC 5869) is written over our own HMAC context rather than
 * EVP_KDF "HKDF": the KDF takes its digest by name as a parameter, which
 * means a fresh fetch on every call.  Extract and expand are two lines of
 * RFC 5869 each; all the cryptography is still OpenSSL's HMAC.
 *
 * Secrets: an HMAC key lives only inside OpenSSL's MAC context (which keeps
 * a copy of it plus the keyed inner/outer hash states).  After every use we
 * re-key that context with a fixed all-zero key, which overwrites both, so
 * no key outlives the call that used it -- except in a struct hmac_key,
 * whose purpose is to keep one keyed (a cached signing key), until
 * hmac_key_free: its keying runs in a locked scope (crypto/mem.h), so the
 * key's copy and the keyed inner/outer states OpenSSL keeps are in locked,
 * non-dumpable memory, wiped when freed.  hmac_with's transient copies of
 * a keyed state are ordinary OpenSSL blocks, wiped when freed, as every
 * keying's are.  The HKDF pseudo-random key and
 * the running T(i) block are wiped with secure_zero before returning.
 *
 * Every function may be called before crypto_init(): each one runs it
 * through pthread_once.  Failures of OpenSSL are TR_E_INTERNAL with no
 * client-visible message (file:line goes to the log).
 */
#include "crypto/hash.h"
#include "crypto/internal.h"
#include "crypto/mem.h"

#include "core/secmem.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static EVP_MD *alg_sha256;
static EVP_MAC *alg_hmac;
static EVP_CIPHER *alg_gcm;
static bool alg_ready;

static pthread_key_t exit_key;
static bool exit_key_ready;

static _Thread_local EVP_MD_CTX *t_md;
static _Thread_local EVP_MAC_CTX *t_mac;

/* Replaces the caller's key after each use; also stands in for an empty
 * key, to which it is equivalent (HMAC pads keys with zeros to 64 bytes). */
static const uint8_t zero_key[SHA256_LEN];

static void on_thread_exit(void *unused)
{
    (void)unused;
    crypto_thread_cleanup();
}

static void fetch_algorithms(void)
{
    exit_key_ready = pthread_key_create(&exit_key, on_thread_exit) == 0;
    alg_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    alg_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    alg_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    alg_ready = alg_sha256 && alg_hmac && alg_gcm;
    if (!alg_ready) {
        EVP_MD_free(alg_sha256);
        EVP_MAC_free(alg_hmac);
        EVP_CIPHER_free(alg_gcm);
        alg_sha256 = NULL;
        alg_hmac = NULL;
        alg_gcm = NULL;
        ERR_clear_error();
    }
}

TR_RESULT crypto_init(void)
{
    ENSURE(pthread_once(&init_once, fetch_algorithms) == 0, TR_E_INTERNAL);
    ENSURE(alg_ready, TR_E_INTERNAL);
    return TR_OK;
}

const EVP_CIPHER *crypto_aes256gcm(void)
{
    return alg_ready ? alg_gcm : NULL;
}

void crypto_thread_track(void)
{
    if (exit_key_ready) (void)pthread_setspecific(exit_key, (void *)1);
}

void crypto_thread_cleanup(void)
{
    EVP_MD_CTX_free(t_md);
    t_md = NULL;
    EVP_MAC_CTX_free(t_mac);   /* OpenSSL clears the key copy it holds */
    t_mac = NULL;
    aead_thread_cleanup();
    pkey_thread_cleanup();
}

/* An OpenSSL call failed: drop its error queue, report an internal error. */
static tr_result openssl_failed(const char *file, int line)
{
    ERR_clear_error();
    return tr_fail_at(file, line, TR_E_INTERNAL, NULL);
}
#define OPENSSL_FAILED() openssl_failed(__FILE__, __LINE__)

/* This thread's digest context, created on first use. */
static TR_RESULT md_ctx(EVP_MD_CTX **out)
{
    if (!t_md) {
        GUARD(crypto_init());
        t_md = EVP_MD_CTX_new();
        if (!t_md) return OPENSSL_FAILED();
        crypto_thread_track();
    }
    *out = t_md;
    return TR_OK;
}

/* This thread's HMAC-SHA256 context, created on first use.  The digest is
 * bound once here; each use only sets a key. */
static TR_RESULT mac_ctx(EVP_MAC_CTX **out)
{
    if (!t_mac) {
        GUARD(crypto_init());
        EVP_MAC_CTX *c = EVP_MAC_CTX_new(alg_hmac);
        if (!c) return OPENSSL_FAILED();
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
            OSSL_PARAM_construct_end(),
        };
        if (EVP_MAC_CTX_set_params(c, params) != 1) {
            EVP_MAC_CTX_free(c);
            return OPENSSL_FAILED();
        }
        t_mac = c;
        crypto_thread_track();
    }
    *out = t_mac;
    return TR_OK;
}

/* Key the MAC context (an empty key becomes the equivalent zero key, so
 * OpenSSL never sees a zero length or a NULL key, which means "reuse the
 * previous key" to EVP_MAC_init). */
static bool mac_key(EVP_MAC_CTX *c, const void *key, size_t key_len)
{
    if (key_len == 0) {
        key = zero_key;
        key_len = sizeof zero_key;
    }
    return EVP_MAC_init(c, key, key_len, NULL) == 1;
}

/* Overwrite the key copy and keyed states left in the context. */
static void mac_scrub(EVP_MAC_CTX *c)
{
    if (EVP_MAC_init(c, zero_key, sizeof zero_key, NULL) != 1) ERR_clear_error();
}

static bool mac_update(EVP_MAC_CTX *c, const void *data, size_t len)
{
    return len == 0 || EVP_MAC_update(c, data, len) == 1;
}

static bool mac_final(EVP_MAC_CTX *c, uint8_t out[SHA256_LEN])
{
    size_t n = 0;
    return EVP_MAC_final(c, out, &n, SHA256_LEN) == 1 && n == SHA256_LEN;
}

TR_RESULT sha256(const void *data, size_t len, uint8_t out[SHA256_LEN])
{
    EVP_MD_CTX *c = NULL;
    unsigned int n = 0;
    ENSURE(out != NULL && (data != NULL || len == 0), TR_E_INTERNAL);
    GUARD(md_ctx(&c));
    if (EVP_DigestInit_ex2(c, alg_sha256, NULL) != 1
        || (len && EVP_DigestUpdate(c, data, len) != 1)
        || EVP_DigestFinal_ex(c, out, &n) != 1 || n != SHA256_LEN)
        return OPENSSL_FAILED();
    return TR_OK;
}

TR_RESULT hmac_sha256(const void *key, size_t key_len, const void *data,
                      size_t len, uint8_t out[SHA256_LEN])
{
    EVP_MAC_CTX *c = NULL;
    ENSURE(out != NULL && (key != NULL || key_len == 0)
           && (data != NULL || len == 0), TR_E_INTERNAL);
    GUARD(mac_ctx(&c));
    bool ok = mac_key(c, key, key_len) && mac_update(c, data, len)
              && mac_final(c, out);
    mac_scrub(c);
    if (!ok) {
        secure_zero(out, SHA256_LEN);
        return OPENSSL_FAILED();
    }
    return TR_OK;
}

/* A key keyed once (hash.h).  EVP_MAC_init with a NULL key re-initialises
 * the context under the key it holds: OpenSSL 3's HMAC copies its saved
 * inner state, no keying. */
struct hmac_key {
    EVP_MAC_CTX *c;
};

TR_RESULT hmac_key_new(const void *key, size_t key_len, struct hmac_key **out)
{
    EVP_MAC_CTX *c = NULL;
    struct hmac_key *k = NULL;
    ENSURE(out != NULL && (key != NULL || key_len == 0), TR_E_INTERNAL);
    *out = NULL;
    GUARD(crypto_init());
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    c = EVP_MAC_CTX_new(alg_hmac);
    k = malloc(sizeof *k);
    bool ok = c && k && EVP_MAC_CTX_set_params(c, params) == 1;
    if (ok) {
        /* The key's copy and its keyed states: in locked memory. */
        crypto_locked_begin();
        ok = mac_key(c, key, key_len);
        crypto_locked_end();
    }
    if (!ok) {
        EVP_MAC_CTX_free(c);    /* clears the key copy it holds */
        free(k);
        return OPENSSL_FAILED();
    }
    k->c = c;
    *out = k;
    return TR_OK;
}

TR_RESULT hmac_with(struct hmac_key *k, const void *data, size_t len, uint8_t out[SHA256_LEN])
{
    ENSURE(k != NULL && out != NULL && (data != NULL || len == 0), TR_E_INTERNAL);
    if (EVP_MAC_init(k->c, NULL, 0, NULL) != 1 || !mac_update(k->c, data, len)
        || !mac_final(k->c, out)) {
        secure_zero(out, SHA256_LEN);
        return OPENSSL_FAILED();
    }
    return TR_OK;
}

void hmac_key_free(struct hmac_key *k)
{
    if (!k) return;
    EVP_MAC_CTX_free(k->c);     /* wipes the key copy and the keyed states */
    free(k);
}

/*
 * RFC 5869, with HashLen = 32:
 *   PRK  = HMAC(salt, IKM)                     (no salt: 32 zero bytes)
 *   T(i) = HMAC(PRK, T(i-1) | info | i),  T(0) = empty,  i = 1..ceil(L/32)
 *   OKM  = first L bytes of T(1) | T(2) | ...
 * On failure out is wiped; prk and t are wiped on every path.
 */
TR_RESULT hkdf_sha256(const void *ikm, size_t ikm_len, const void *salt,
                      size_t salt_len, const void *info, size_t info_len,
                      uint8_t *out, size_t out_len)
{
    uint8_t prk[SHA256_LEN] = { 0 }, t[SHA256_LEN] = { 0 };
    EVP_MAC_CTX *c = NULL;
    bool ok;

    ENSURE(out_len <= 255 * SHA256_LEN, TR_E_INTERNAL);
    ENSURE((out != NULL || out_len == 0) && (ikm != NULL || ikm_len == 0)
           && (salt != NULL || salt_len == 0)
           && (info != NULL || info_len == 0), TR_E_INTERNAL);
    GUARD(mac_ctx(&c));

    ok = mac_key(c, salt, salt_len) && mac_update(c, ikm, ikm_len)
         && mac_final(c, prk);
    for (size_t done = 0, i = 1; ok && done < out_len; i++) {
        uint8_t ctr = (uint8_t)i;
        size_t take = out_len - done < SHA256_LEN ? out_len - done : SHA256_LEN;
        ok = mac_key(c, prk, sizeof prk)
             && mac_update(c, t, i > 1 ? sizeof t : 0)
             && mac_update(c, info, info_len) && mac_update(c, &ctr, 1)
             && mac_final(c, t);
        if (ok) memcpy(out + done, t, take);
        done += take;
    }
    mac_scrub(c);
    secure_zero(prk, sizeof prk);
    secure_zero(t, sizeof t);
    if (!ok) {
        secure_zero(out, out_len);
        return OPENSSL_FAILED();
    }
    return TR_OK;
}
