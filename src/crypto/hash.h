/*
 * hash.h -- SHA-256, HMAC-SHA256 and HKDF-SHA256, over OpenSSL 3 (digests
 * are written in hex: core/hex.h, included here).
 *
 * Algorithms are fetched once (crypto_init) and each thread reuses its own
 * digest / MAC contexts, created on first use: OpenSSL 3's one-shot helpers
 * (EVP_sha256() lookups, HMAC(), a new context per call) cost two to four
 * times more and stop scaling across threads.  Nothing here allocates per
 * call.  Keys passed in are never copied anywhere but OpenSSL's context,
 * which is reset after each use.
 */
#ifndef TR_HASH_H
#define TR_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "core/hex.h"
#include "core/result.h"

#define SHA256_LEN 32

/* Fetch the algorithms once, at start-up, before threads run.  Idempotent. */
TR_RESULT crypto_init(void);
/* Free this thread's contexts (called by worker threads as they exit, and
 * by tests; safe to call when none exist). */
void crypto_thread_cleanup(void);

TR_RESULT sha256(const void *data, size_t len, uint8_t out[SHA256_LEN]);
TR_RESULT hmac_sha256(const void *key, size_t key_len, const void *data,
                      size_t len, uint8_t out[SHA256_LEN]);
/* A key HMAC-SHA256 is keyed with once and used many times: an OpenSSL MAC
 * context keyed at hmac_key_new, so each hmac_with pays only the hashing
 * of its data (keying costs two compression rounds plus OpenSSL's context
 * set-up, more than the MAC of a short message).  For long-lived keys
 * (auth/sigv4_cache.c: a cached signing key).  The key's copy and its
 * keyed inner/outer states live in locked, non-dumpable memory (the
 * locked arena of crypto/mem.h, with the wiping allocator installed, as
 * `tresor serve` does), wiped by hmac_key_free.  One thread at a time may
 * use a key.  hmac_key_new: *out NULL on failure (the arena full, too). */
struct hmac_key;
TR_RESULT hmac_key_new(const void *key, size_t key_len, struct hmac_key **out);
TR_RESULT hmac_with(struct hmac_key *k, const void *data, size_t len, uint8_t out[SHA256_LEN]);
void hmac_key_free(struct hmac_key *k);
/* RFC 5869 HKDF-SHA256 (extract + expand), out_len <= 255*32. */
TR_RESULT hkdf_sha256(const void *ikm, size_t ikm_len, const void *salt,
                      size_t salt_len, const void *info, size_t info_len,
                      uint8_t *out, size_t out_len);

#endif
