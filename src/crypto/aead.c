/*
 * aead.c -- AES-256-GCM (96-bit IV, 128-bit tag) over OpenSSL 3.
 *
 * The cipher is fetched once by crypto_init() (hash.c).  Each thread keeps
 * one EVP_CIPHER_CTX, bound to that cipher when it is created; a call only
 * re-keys it (EVP_CipherInit_ex2 with a NULL cipher reuses the provider
 * context), so nothing is allocated per call.  After every call the context
 * is re-keyed with an all-zero key, which overwrites the caller's AES key
 * schedule and GHASH key: no key outlives the call that used it.
 *
 * aead_open never releases unauthenticated plaintext (libsodium, BearSSL):
 * when the tag does not verify, the whole output range is wiped and the
 * result is TR_E_KMS_INVALID_CIPHERTEXT with no message.  OpenSSL compares
 * the tag in constant time.  Any other OpenSSL failure is TR_E_INTERNAL.
 *
 * GCM with a random 96-bit IV is safe for at most 2^32 messages per key
 * (NIST SP 800-38D, 8.3); callers that seal many messages under one key
 * derive a fresh key per message (kms/ciphertext.c).
 * Spec: docs/internals/CIPHERTEXT.md.
 */
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "crypto/internal.h"

#include "core/secmem.h"

#include <limits.h>
#include <stdbool.h>

#include <openssl/err.h>
#include <openssl/evp.h>

static _Thread_local EVP_CIPHER_CTX *t_gcm;

static const uint8_t zero_key[AEAD_KEY_LEN];

void aead_thread_cleanup(void)
{
    EVP_CIPHER_CTX_free(t_gcm);   /* OpenSSL clears the key schedule */
    t_gcm = NULL;
}

/* This thread's GCM context, bound to the fetched cipher on first use. */
static TR_RESULT gcm_ctx(EVP_CIPHER_CTX **out)
{
    if (!t_gcm) {
        GUARD(crypto_init());
        EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        if (!c || EVP_CipherInit_ex2(c, crypto_aes256gcm(), NULL, NULL, 1, NULL) != 1) {
            EVP_CIPHER_CTX_free(c);
            ERR_clear_error();
            BAIL0(TR_E_INTERNAL);
        }
        t_gcm = c;
        crypto_thread_track();
    }
    *out = t_gcm;
    return TR_OK;
}

/* Overwrite the key schedule left in the context by the last call. */
static void gcm_scrub(EVP_CIPHER_CTX *c)
{
    if (EVP_CipherInit_ex2(c, NULL, zero_key, NULL, 1, NULL) != 1) ERR_clear_error();
}

static bool gcm_aad(EVP_CIPHER_CTX *c, const uint8_t *aad, size_t aad_len)
{
    int n = 0;
    return aad_len == 0 || EVP_CipherUpdate(c, NULL, &n, aad, (int)aad_len) == 1;
}

static bool gcm_body(EVP_CIPHER_CTX *c, const uint8_t *in, size_t len, uint8_t *out)
{
    int n = 0;
    return len == 0 || (EVP_CipherUpdate(c, out, &n, in, (int)len) == 1 && n == (int)len);
}

/* GCM's final step writes no bytes; `spare` only satisfies the API. */
static bool gcm_final(EVP_CIPHER_CTX *c)
{
    uint8_t spare[AEAD_TAG_LEN];
    int n = 0;
    return EVP_CipherFinal_ex(c, spare, &n) == 1 && n == 0;
}

/* The checks aead_seal and aead_open share (every pointer present where
 * its length is not zero; lengths that fit an int), then this thread's
 * context.  in and out: the len bytes read and written (pt and ct when
 * sealing, ct and pt when opening).  Nothing is written on failure. */
static TR_RESULT gcm_ctx_for(const uint8_t *key, const uint8_t *iv, const uint8_t *tag, const uint8_t *aad,
                             size_t aad_len, const uint8_t *in, size_t len, const uint8_t *out,
                             EVP_CIPHER_CTX **c)
{
    ENSURE(key && iv && tag && (aad || aad_len == 0) && ((in && out) || len == 0), TR_E_INTERNAL);
    ENSURE(aad_len <= INT_MAX && len <= INT_MAX, TR_E_INTERNAL);
    return gcm_ctx(c);
}

/* Key c with key and iv (enc 1: seal, 0: open), then run the AAD and the
 * len bytes of in through it into out; the tag step is the caller's. */
static bool gcm_run(EVP_CIPHER_CTX *c, const uint8_t *key, const uint8_t *iv, int enc, const uint8_t *aad,
                    size_t aad_len, const uint8_t *in, size_t len, uint8_t *out)
{
    return EVP_CipherInit_ex2(c, NULL, key, iv, enc, NULL) == 1 && gcm_aad(c, aad, aad_len)
           && gcm_body(c, in, len, out);
}

TR_RESULT aead_seal(const uint8_t key[AEAD_KEY_LEN], const uint8_t iv[AEAD_IV_LEN],
                    const uint8_t *aad, size_t aad_len,
                    const uint8_t *pt, size_t pt_len,
                    uint8_t *ct, uint8_t tag[AEAD_TAG_LEN])
{
    EVP_CIPHER_CTX *c = NULL;
    GUARD(gcm_ctx_for(key, iv, tag, aad, aad_len, pt, pt_len, ct, &c));

    bool ok = gcm_run(c, key, iv, 1, aad, aad_len, pt, pt_len, ct)
              && gcm_final(c)
              && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, AEAD_TAG_LEN, tag) == 1;
    gcm_scrub(c);
    if (!ok) {
        if (pt_len) secure_zero(ct, pt_len);
        secure_zero(tag, AEAD_TAG_LEN);
        ERR_clear_error();
        BAIL0(TR_E_INTERNAL);
    }
    return TR_OK;
}

TR_RESULT aead_open(const uint8_t key[AEAD_KEY_LEN], const uint8_t iv[AEAD_IV_LEN],
                    const uint8_t *aad, size_t aad_len,
                    const uint8_t *ct, size_t ct_len,
                    const uint8_t tag[AEAD_TAG_LEN], uint8_t *pt)
{
    EVP_CIPHER_CTX *c = NULL;
    GUARD(gcm_ctx_for(key, iv, tag, aad, aad_len, ct, ct_len, pt, &c));

    bool ok = gcm_run(c, key, iv, 0, aad, aad_len, ct, ct_len, pt)
              && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, AEAD_TAG_LEN,
                                     (void *)tag) == 1;
    /* The tag check: only a context that got this far can say "forged". */
    bool authentic = ok && gcm_final(c);
    gcm_scrub(c);
    if (!authentic) {
        if (ct_len) secure_zero(pt, ct_len);
        ERR_clear_error();
        if (!ok) BAIL0(TR_E_INTERNAL);
        BAIL0(TR_E_KMS_INVALID_CIPHERTEXT);
    }
    return TR_OK;
}
