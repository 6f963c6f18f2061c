/*
 * secmem.c -- secure_zero, the locked, non-dumpable allocator, the wiping
 * free of the wiping allocators, process hardening and the wipe checks.
 * See secmem.h.
 */
#include "core/secmem.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/log.h"

void secure_zero(void *p, size_t n)
{
    if (p && n) explicit_bzero(p, n);
}

static size_t page_round(size_t n)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    return (n + pg - 1) / pg * pg;
}

static atomic_bool mlock_warned;

void *secmem_alloc(size_t n)
{
    if (n == 0) return NULL;
    size_t len = page_round(n);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    if (mlock(p, len) != 0 && !atomic_exchange(&mlock_warned, true)) {
        struct rlimit rl = { 0, 0 };
        (void)getrlimit(RLIMIT_MEMLOCK, &rl);
        log_msg("warn", "mlock failed (%s, RLIMIT_MEMLOCK %llu bytes): key material is not "
                "locked in memory and may be swapped out; raise the limit (ulimit -l)",
                strerror(errno), (unsigned long long)rl.rlim_cur);
    }
#ifdef MADV_DONTDUMP
    (void)madvise(p, len, MADV_DONTDUMP);
#endif
    return p;
}

void secmem_free(void *p, size_t n)
{
    if (!p) return;
    size_t len = page_round(n);
    secure_zero(p, len);
    WIPE_CHECK(WIPE_SITE_SECMEM, p, len);
    (void)munlock(p, len);
    munmap(p, len);
}

void secmem_wiping_free(void *p, int site)
{
    if (!p) return;
    size_t n = malloc_usable_size(p);
    secure_zero(p, n);
    WIPE_CHECK((enum wipe_site)site, p, n);
    (void)site;
    free(p);
}

TR_RESULT process_harden(void)
{
    struct rlimit no_core = { 0, 0 };
    ENSURE(setrlimit(RLIMIT_CORE, &no_core) == 0, TR_E_INTERNAL);
    ENSURE(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0, TR_E_INTERNAL);
    return TR_OK;
}

/* ---- wipe checks ------------------------------------------------------- */

static const char *const SITE_NAMES[WIPE_SITES] = { "buf", "json", "reply", "openssl", "secmem" };
static atomic_ullong checked[WIPE_SITES];

#ifdef TR_WIPE_CHECK
void wipe_check(enum wipe_site site, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        if (b[i] != 0) {
            char msg[200];
            int len = snprintf(msg, sizeof msg, "tresor: wipe check failed: a %zu-byte %s region "
                               "holds a non-zero byte at offset %zu when released\n",
                               n, site < WIPE_SITES ? SITE_NAMES[site] : "?", i);
            if (len > 0) (void)!write(2, msg, (size_t)len < sizeof msg ? (size_t)len : sizeof msg - 1);
            abort();
        }
    }
    if (site < WIPE_SITES) atomic_fetch_add_explicit(&checked[site], 1, memory_order_relaxed);
}
#endif

bool wipe_check_enabled(void)
{
#ifdef TR_WIPE_CHECK
    return true;
#else
    return false;
#endif
}

unsigned long long wipe_check_count(enum wipe_site site)
{
    if (site >= WIPE_SITES) return 0;
    return atomic_load_explicit(&checked[site], memory_order_relaxed);
}

void wipe_check_summary(char *out, size_t n)
{
    unsigned long long c[WIPE_SITES], total = 0;
    for (int i = 0; i < WIPE_SITES; i++) {
        c[i] = wipe_check_count((enum wipe_site)i);
        total += c[i];
    }
    /* cut: a line for people */
    snprintf(out, n, "wipe check: %llu regions verified zero (%s %llu, %s %llu, %s %llu, %s %llu, "
             "%s %llu), 0 failed", total, SITE_NAMES[0], c[0], SITE_NAMES[1], c[1], SITE_NAMES[2], c[2],
             SITE_NAMES[3], c[3], SITE_NAMES[4], c[4]);
}
