/*
 * ct.h -- constant-time helpers (BearSSL / libsodium style).
 * ct_memeq compares two equal-length byte strings without an early exit,
 * for MAC tags and SigV4 signatures.
 */
#ifndef TR_CT_H
#define TR_CT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

static inline bool ct_memeq(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *x = a, *y = b;
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++) d |= (uint8_t)(x[i] ^ y[i]);
    return d == 0;
}

#endif
