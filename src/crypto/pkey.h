/*
 * pkey.h -- the asymmetric and HMAC primitives of KMS's non-symmetric keys,
 * over OpenSSL 3: key-pair generation (PKCS#8 DER), the public key
 * (SubjectPublicKeyInfo DER), RSA and ECDSA signatures over a digest,
 * RSAES-OAEP, ECDH key agreement, and HMAC.
 *
 * Private keys travel as PKCS#8 DER in secret bufs (the caller's, wiped on
 * free); the parsed EVP_PKEY lives only for one call.  Every failure of
 * OpenSSL is TR_E_INTERNAL with no client-visible message, except the
 * answers a caller must tell apart: a signature or MAC that does not verify
 * (*ok = false), and an RSA ciphertext that does not decrypt
 * (TR_E_KMS_INVALID_CIPHERTEXT, one answer for every cause).
 */
#ifndef TR_CRYPTO_PKEY_H
#define TR_CRYPTO_PKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/result.h"

/* The digests the algorithms use. */
enum pk_md { PK_SHA1, PK_SHA224, PK_SHA256, PK_SHA384, PK_SHA512, PK_MD_COUNT };
/* Bytes of a digest. */
size_t pk_md_len(enum pk_md md);

/* Key-pair kinds: RSA of `bits`, or an EC curve by OpenSSL group name
 * ("P-256", "P-384", "P-521", "secp256k1"). */
struct pk_params {
    int bits;                 /* RSA modulus bits, 0 for EC */
    const char *curve;        /* EC group name, NULL for RSA */
};

/* A new private key as PKCS#8 DER, appended to out (a secret buf); and
 * when pub is not NULL its SubjectPublicKeyInfo DER, appended to pub. */
TR_RESULT pk_generate(const struct pk_params *p, struct buf *out, struct buf *pub);
/* The SubjectPublicKeyInfo DER of a PKCS#8 private key, appended to out. */
TR_RESULT pk_public_der(const uint8_t *priv, size_t n, struct buf *out);
/* Digest `msg` with md into out (pk_md_len(md) bytes). */
TR_RESULT pk_digest(enum pk_md md, const uint8_t *msg, size_t n, uint8_t *out);

/* Signature schemes. */
enum pk_sig { PK_SIG_PKCS1, PK_SIG_PSS, PK_SIG_ECDSA };
/* Sign a digest (dlen must be pk_md_len(md)) with the PKCS#8 key; appends
 * the signature to out: RSA the modulus size, ECDSA DER (RFC 3279).
 * PSS uses MGF1 with md and a salt as long as the digest. */
TR_RESULT pk_sign(const uint8_t *priv, size_t n, enum pk_sig scheme, enum pk_md md,
                  const uint8_t *digest, size_t dlen, struct buf *out);
/* Verify sig over a digest; *ok false for any signature that does not
 * verify (malformed included).  Fails only when OpenSSL cannot run. */
TR_RESULT pk_verify(const uint8_t *priv, size_t n, enum pk_sig scheme, enum pk_md md,
                    const uint8_t *digest, size_t dlen, const uint8_t *sig, size_t slen,
                    bool *ok);

/* RSAES-OAEP with md for both the label hash and MGF1 (no label). */
TR_RESULT pk_rsa_encrypt(const uint8_t *priv, size_t n, enum pk_md md, const uint8_t *pt,
                         size_t ptlen, struct buf *out);
/* Appends the plaintext to out (a secret buf); TR_E_KMS_INVALID_CIPHERTEXT
 * for a ciphertext that does not decrypt (any cause). */
TR_RESULT pk_rsa_decrypt(const uint8_t *priv, size_t n, enum pk_md md, const uint8_t *ct,
                         size_t ctlen, struct buf *out);
/* AES key wrap with padding (RFC 5649, OpenSSL's aes-256-wrap-pad) under
 * a 32-byte key: the unwrapped bytes appended to out (a secret buf);
 * TR_E_KMS_INVALID_CIPHERTEXT for input that does not unwrap (any cause),
 * the output wiped.  The second half of KMS's RSA_AES_KEY_WRAP import. */
TR_RESULT pk_aes_kwp_unwrap(const uint8_t *kek, size_t klen, const uint8_t *in, size_t inlen,
                            struct buf *out);
/* Whether priv (PKCS#8 DER, untrusted: imported material) is a private
 * key of the kind p names: RSA of p->bits, or EC on curve p->curve (the
 * names pk_params takes).  *ok false for anything else, a key that does
 * not parse included; fails only when OpenSSL cannot run. */
TR_RESULT pk_matches(const uint8_t *priv, size_t n, const struct pk_params *p, bool *ok);
/* Bytes of the RSA modulus of a PKCS#8 key. */
TR_RESULT pk_rsa_size(const uint8_t *priv, size_t n, size_t *out);

/* Whether peer (untrusted: a request's bytes) is the DER
 * SubjectPublicKeyInfo of an EC public key on `curve` (pk_params' names),
 * the whole of peer, its point valid.  *ok false for anything else;
 * fails only when OpenSSL cannot run. */
TR_RESULT pk_ec_public_on(const uint8_t *peer, size_t plen, const char *curve, bool *ok);
/* ECDH (SP 800-56A's ECC CDH primitive; the NIST curves' cofactor is 1)
 * between the EC private key priv (PKCS#8 DER) and the peer's public key
 * (SubjectPublicKeyInfo DER, untrusted): the x-coordinate of the shared
 * point, as long as the field, appended to out (a secret buf).  *ok false,
 * out unchanged, when the peer key is not a valid point on priv's curve;
 * a failure of the derivation itself is internal and wipes what it wrote. */
TR_RESULT pk_ecdh(const uint8_t *priv, size_t n, const uint8_t *peer, size_t plen,
                  struct buf *out, bool *ok);

/* HMAC with md over msg, keyed with key; out gets pk_md_len(md) bytes. */
TR_RESULT pk_hmac(enum pk_md md, const uint8_t *key, size_t klen, const uint8_t *msg,
                  size_t n, uint8_t *out);

#endif
