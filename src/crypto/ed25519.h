/*
 * ed25519.h -- Ed25519 signatures (RFC 8032) through OpenSSL, for the
 * audit log's checkpoints (audit/audit.c).  A key is its 32-byte seed;
 * the public key is exported as PEM (SubjectPublicKeyInfo), the form
 * `openssl pkey -pubin` and Python's cryptography read.
 */
#ifndef TR_ED25519_H
#define TR_ED25519_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/result.h"

#define ED25519_SEED_LEN 32
#define ED25519_SIG_LEN 64

/* sig = Ed25519(seed, msg). */
TR_RESULT ed25519_sign(const uint8_t seed[ED25519_SEED_LEN], const void *msg, size_t n,
                       uint8_t sig[ED25519_SIG_LEN]);
/* Append the PEM public key of seed to out. */
TR_RESULT ed25519_public_pem(const uint8_t seed[ED25519_SEED_LEN], struct buf *out);
/* Whether sig is a valid signature of msg under the PEM public key pem. */
bool ed25519_verify_pem(const char *pem, size_t pem_len, const void *msg, size_t n,
                        const uint8_t sig[ED25519_SIG_LEN]);

#endif
