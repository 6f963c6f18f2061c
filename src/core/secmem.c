/*
 * secmem.c -- secure_zero and the locked, non-dumpable allocator.
 */
#include "core/secmem.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void secure_zero(void *p, size_t n)
{
    if (p && n) explicit_bzero(p, n);
}

static size_t page_round(size_t n)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    return (n + pg - 1) / pg * pg;
}

void *secmem_alloc(size_t n)
{
    if (n == 0) return NULL;
    size_t len = page_round(n);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    (void)mlock(p, len);
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
    (void)munlock(p, len);
    munmap(p, len);
}
