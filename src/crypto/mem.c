/*
 * mem.c -- OpenSSL's wiping allocator.  See mem.h.
 *
 * realloc is malloc + copy + wiping free: the block a realloc leaves
 * behind would otherwise keep a copy of what it held.
 */
#include "crypto/mem.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/secmem.h"

static void *ossl_malloc(size_t n, const char *file, int line)
{
    (void)file; (void)line;
    return malloc(n ? n : 1);
}

static void ossl_free(void *p, const char *file, int line)
{
    (void)file; (void)line;
    secmem_wiping_free(p, WIPE_SITE_OPENSSL);
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
    if (!p) return ossl_malloc(n, file, line);
    if (n == 0) {
        ossl_free(p, file, line);
        return NULL;
    }
    size_t old = malloc_usable_size(p);
    void *q = malloc(n);
    if (!q) return NULL;
    memcpy(q, p, old < n ? old : n);
    ossl_free(p, file, line);
    return q;
}

TR_RESULT crypto_use_wiping_allocator(void)
{
    ENSURE(CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free) == 1, TR_E_INTERNAL);
    return TR_OK;
}
