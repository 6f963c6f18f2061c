/*
 * secmem.h -- wiping and locked memory for secrets (libsodium, s2n_mem).
 *
 * secure_zero() is the only way this code base clears a secret: the
 * compiler cannot elide it.  secmem_alloc() returns zeroed memory that is
 * mlock()ed (best effort: a failed mlock is not fatal, so the server runs
 * under a low RLIMIT_MEMLOCK) and excluded from core dumps; secmem_free()
 * wipes it before unmapping.  Use it for long-lived keys (the root key,
 * cached signing keys), not for per-request buffers.
 */
#ifndef TR_SECMEM_H
#define TR_SECMEM_H

#include <stddef.h>

void secure_zero(void *p, size_t n);
void *secmem_alloc(size_t n);
void secmem_free(void *p, size_t n);

#endif
