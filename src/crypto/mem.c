/*
 * mem.c -- OpenSSL's wiping allocator, and its locked arena.  See mem.h.
 *
 * realloc is malloc + copy + wiping free: the block a realloc leaves
 * behind would otherwise keep a copy of what it held.
 *
 * The locked arena: LOCKED_BLOCKS blocks of LOCKED_BLOCK bytes in one
 * region of locked, non-dumpable memory (core/secmem.h), made at its first
 * use and kept for the life of the process.  A block is taken by an
 * allocation of at most LOCKED_BLOCK bytes made inside a locked scope;
 * any free of an address inside the region wipes the block and gives it
 * back, from whichever thread (a cache flush frees another thread's
 * entries).  A mutex guards the used-block map; the region's address is
 * set once, so the free path tells arena blocks from heap blocks without
 * it.  Full arena, or a larger allocation: NULL, which OpenSSL reports as
 * a failure -- the caller goes without (crypto/hash.h hmac_key_new).
 */
#include "crypto/mem.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/secmem.h"

/* ---- the locked arena ------------------------------------------------ */

#define LOCKED_BLOCK 256
#define LOCKED_BLOCKS 256                       /* 64 KiB */
#define LOCKED_SIZE ((size_t)LOCKED_BLOCK * LOCKED_BLOCKS)

static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(unsigned char *) arena;          /* set once, never freed */
static bool arena_used[LOCKED_BLOCKS];          /* under arena_lock */
static size_t arena_in_use;                     /* under arena_lock */
static _Thread_local unsigned t_locked;         /* locked scopes open on this thread */

static bool in_arena(const void *p)
{
    const unsigned char *a = atomic_load_explicit(&arena, memory_order_acquire);
    const unsigned char *q = p;
    return a && q >= a && q < a + LOCKED_SIZE;
}

static void *arena_alloc(size_t n)
{
    void *out = NULL;
    if (n > LOCKED_BLOCK) return NULL;
    pthread_mutex_lock(&arena_lock);
    unsigned char *a = atomic_load_explicit(&arena, memory_order_relaxed);
    if (!a) {
        a = secmem_alloc(LOCKED_SIZE);          /* zeroed */
        if (a) atomic_store_explicit(&arena, a, memory_order_release);
    }
    for (size_t i = 0; a && i < LOCKED_BLOCKS; i++) {
        if (arena_used[i]) continue;
        arena_used[i] = true;
        arena_in_use++;
        out = a + i * LOCKED_BLOCK;
        break;
    }
    pthread_mutex_unlock(&arena_lock);
    return out;
}

/* p is inside the arena: wipe its block and give it back. */
static void arena_free(void *p)
{
    unsigned char *a = atomic_load_explicit(&arena, memory_order_acquire);
    size_t i = (size_t)((unsigned char *)p - a) / LOCKED_BLOCK;
    secure_zero(a + i * LOCKED_BLOCK, LOCKED_BLOCK);
    WIPE_CHECK(WIPE_SITE_OPENSSL, a + i * LOCKED_BLOCK, LOCKED_BLOCK);
    pthread_mutex_lock(&arena_lock);
    if (arena_used[i]) {
        arena_used[i] = false;
        arena_in_use--;
    }
    pthread_mutex_unlock(&arena_lock);
}

void crypto_locked_begin(void)
{
    t_locked++;
}

void crypto_locked_end(void)
{
    if (t_locked) t_locked--;
}

size_t crypto_locked_in_use(void)
{
    pthread_mutex_lock(&arena_lock);
    size_t n = arena_in_use;
    pthread_mutex_unlock(&arena_lock);
    return n;
}

/* ---- OpenSSL's allocator ---------------------------------------------- */

static void *ossl_malloc(size_t n, const char *file, int line)
{
    (void)file; (void)line;
    if (t_locked) return arena_alloc(n);
    return malloc(n ? n : 1);
}

static void ossl_free(void *p, const char *file, int line)
{
    (void)file; (void)line;
    if (p && in_arena(p)) arena_free(p);
    else secmem_wiping_free(p, WIPE_SITE_OPENSSL);
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
    if (!p) return ossl_malloc(n, file, line);
    if (n == 0) {
        ossl_free(p, file, line);
        return NULL;
    }
    size_t old = in_arena(p) ? LOCKED_BLOCK : malloc_usable_size(p);
    void *q = ossl_malloc(n, file, line);
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
