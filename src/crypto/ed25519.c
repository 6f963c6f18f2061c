/*
 * ed25519.c -- Ed25519 sign and verify with OpenSSL's EVP (one-shot
 * EVP_DigestSign / EVP_DigestVerify, as Ed25519 has no separate digest).
 * The seed passes into an EVP_PKEY for the call only and is freed with
 * it (OpenSSL clears private key material on free).
 */
#include "crypto/ed25519.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

static EVP_PKEY *private_key(const uint8_t seed[ED25519_SEED_LEN])
{
    return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, ED25519_SEED_LEN);
}

TR_RESULT ed25519_sign(const uint8_t seed[ED25519_SEED_LEN], const void *msg, size_t n,
                       uint8_t sig[ED25519_SIG_LEN])
{
    EVP_PKEY *k = private_key(seed);
    EVP_MD_CTX *md = k ? EVP_MD_CTX_new() : NULL;
    size_t len = ED25519_SIG_LEN;
    bool ok = md && EVP_DigestSignInit(md, NULL, NULL, NULL, k) == 1 &&
              EVP_DigestSign(md, sig, &len, msg, n) == 1 && len == ED25519_SIG_LEN;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
    ENSURE(ok, TR_E_INTERNAL);
    return TR_OK;
}

TR_RESULT ed25519_public_pem(const uint8_t seed[ED25519_SEED_LEN], struct buf *out)
{
    EVP_PKEY *k = private_key(seed);
    BIO *b = k ? BIO_new(BIO_s_mem()) : NULL;
    char *p = NULL;
    long n = 0;
    bool ok = b && PEM_write_bio_PUBKEY(b, k) == 1 && (n = BIO_get_mem_data(b, &p)) > 0;
    tr_result r = ok ? buf_append(out, p, (size_t)n) : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    BIO_free(b);
    EVP_PKEY_free(k);
    return r;
}

bool ed25519_verify_pem(const char *pem, size_t pem_len, const void *msg, size_t n,
                        const uint8_t sig[ED25519_SIG_LEN])
{
    BIO *b = BIO_new_mem_buf(pem, (int)pem_len);
    EVP_PKEY *k = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
    EVP_MD_CTX *md = k && EVP_PKEY_id(k) == EVP_PKEY_ED25519 ? EVP_MD_CTX_new() : NULL;
    bool ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, k) == 1 &&
              EVP_DigestVerify(md, sig, ED25519_SIG_LEN, msg, n) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
    BIO_free(b);
    return ok;
}
