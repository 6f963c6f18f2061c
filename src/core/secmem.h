/*
 * secmem.h -- wiping and locked memory for secrets (libsodium, s2n_mem),
 * process hardening, and the wipe checks of the debug build.
 *
 * secure_zero() is the only way this code base clears a secret: the
 * compiler cannot elide it.  secmem_alloc() returns zeroed memory that is
 * mlock()ed (best effort: a failed mlock is not fatal, so the server runs
 * under a low RLIMIT_MEMLOCK, but the first failure is logged once as a
 * warning) and excluded from core dumps; secmem_free() wipes it before
 * unmapping.  Use it for long-lived keys (the root key, cached signing
 * keys), not for per-request buffers.
 *
 * secmem_wiping_free() is the free() of the wiping allocators (jansson,
 * OpenSSL; core/json.c, crypto/mem.c): it wipes the whole block
 * (malloc_usable_size) before releasing it.
 *
 * Wipe checks (the debug build `make CONF=wipecheck`, -DTR_WIPE_CHECK):
 * every release path of memory that carried secrets -- secret bufs (grown,
 * reset, freed), the wiping allocators' blocks, the reply buffers
 * libmicrohttpd releases, secmem pages -- calls WIPE_CHECK on the region
 * right before handing it back to the allocator.  The region must be all
 * zero by then; otherwise the process prints which site failed and aborts.
 * Every verified region is counted per site, and `tresor serve` logs the
 * counts when it stops (wipe_check_summary).  In other builds WIPE_CHECK
 * compiles to nothing and the counts stay 0.
 */
#ifndef TR_SECMEM_H
#define TR_SECMEM_H

#include <stdbool.h>
#include <stddef.h>

#include "core/result.h"

void secure_zero(void *p, size_t n);
void *secmem_alloc(size_t n);
void secmem_free(void *p, size_t n);
/* free(p) after wiping all malloc_usable_size(p) bytes; the site is the
 * wipe-check counter it adds to (WIPE_SITE_JSON, WIPE_SITE_OPENSSL, ...). */
void secmem_wiping_free(void *p, int site);

/* Refuse core dumps: RLIMIT_CORE 0 and PR_SET_DUMPABLE 0 (which also keeps
 * other processes of the same user from ptrace-attaching or reading
 * /proc/<pid>/mem).  `tresor serve` calls it first thing. */
TR_RESULT process_harden(void);

enum wipe_site {
    WIPE_SITE_BUF,       /* secret struct buf: growth, reset, free */
    WIPE_SITE_JSON,      /* jansson's blocks (core/json.c) */
    WIPE_SITE_REPLY,     /* reply bodies released by libmicrohttpd (http/server.c) */
    WIPE_SITE_OPENSSL,   /* OpenSSL's blocks (crypto/mem.c) */
    WIPE_SITE_SECMEM,    /* locked pages (secmem_free) */
    WIPE_SITES
};

#ifdef TR_WIPE_CHECK
/* Abort unless p[0..n) is all zero; count one region for `site`. */
void wipe_check(enum wipe_site site, const void *p, size_t n);
#define WIPE_CHECK(site, p, n) wipe_check((site), (p), (n))
#else
#define WIPE_CHECK(site, p, n) ((void)(site), (void)(p), (void)(n))
#endif

/* True in the wipe-check build. */
bool wipe_check_enabled(void);
/* Regions verified zero at `site` so far (0 outside the wipe-check build). */
unsigned long long wipe_check_count(enum wipe_site site);
/* "wipe check: N regions verified zero (buf N, json N, reply N, openssl N,
 * secmem N), 0 failed" -- failures abort, so a line is always "0 failed". */
void wipe_check_summary(char *out, size_t n);

#endif
