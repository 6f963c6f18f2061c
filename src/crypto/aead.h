/*
 * aead.h -- AES-256-GCM with a 96-bit IV and a 128-bit tag.
 *
 * Pure functions over caller-owned buffers: nothing is allocated per call
 * (each thread keeps one EVP_CIPHER_CTX, created on first use and reset
 * after every call).  aead_open never releases unauthenticated plaintext:
 * when the tag does not match, `pt` is wiped and the result is
 * TR_E_KMS_INVALID_CIPHERTEXT with no message.  The tag is compared by
 * OpenSSL (constant time).
 */
#ifndef TR_AEAD_H
#define TR_AEAD_H

#include <stddef.h>
#include <stdint.h>

#include "core/result.h"

#define AEAD_KEY_LEN 32
#define AEAD_IV_LEN  12
#define AEAD_TAG_LEN 16

/* ct receives pt_len bytes (may alias pt). */
TR_RESULT aead_seal(const uint8_t key[AEAD_KEY_LEN], const uint8_t iv[AEAD_IV_LEN],
                    const uint8_t *aad, size_t aad_len,
                    const uint8_t *pt, size_t pt_len,
                    uint8_t *ct, uint8_t tag[AEAD_TAG_LEN]);

/* pt receives ct_len bytes (may alias ct). */
TR_RESULT aead_open(const uint8_t key[AEAD_KEY_LEN], const uint8_t iv[AEAD_IV_LEN],
                    const uint8_t *aad, size_t aad_len,
                    const uint8_t *ct, size_t ct_len,
                    const uint8_t tag[AEAD_TAG_LEN], uint8_t *pt);

#endif
