/*
 * clock.c -- the server's business clock (clock.h: tr_now).
 *
 * Dates the server records or compares (key creation, deletion, rotation)
 * come from tr_now(): the wall clock plus TRESOR_CLOCK_OFFSET seconds,
 * read once at start-up.  The offset exists so tests can make a deletion
 * or rotation date pass without waiting days; it never shifts the SigV4
 * clock window, which always uses the real time.
 */
#include "op/clock.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

static int64_t offset;

void tr_clock_init(void)
{
    const char *s = getenv("TRESOR_CLOCK_OFFSET");
    if (!s || !*s) return;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno == 0 && *end == '\0') offset = v;
}

int64_t tr_now(void)
{
    return (int64_t)time(NULL) + offset;
}
