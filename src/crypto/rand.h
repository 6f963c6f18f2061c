/*
 * rand.h -- cryptographically secure random bytes (OpenSSL RAND_bytes).
 */
#ifndef TR_RAND_H
#define TR_RAND_H

#include <stddef.h>
#include <stdint.h>

#include "core/result.h"

TR_RESULT rand_bytes(void *out, size_t n);
/* n characters drawn uniformly from `alphabet` (its length a power of two,
 * at most 256) into out, NUL-terminated (out holds n + 1). */
TR_RESULT rand_chars(char *out, size_t n, const char *alphabet);
/* n (1..RAND_PUBLIC_MAX) random bytes for a value that is stored or sent
 * in the clear (a salt, an IV, an id), from this thread's pool of DRBG
 * output: one DRBG call per ~500 bytes.  Never for key material. */
#define RAND_PUBLIC_MAX 64
TR_RESULT rand_public(void *out, size_t n);
/* A random UUID v4, lowercase with dashes, into out[37]. */
TR_RESULT rand_uuid(char out[37]);

#endif
