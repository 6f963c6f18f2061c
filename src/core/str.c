/*
 * str.c -- checked string copies (str.h).
 */
#include "core/str.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

TR_RESULT str_copy(char *dst, size_t cap, const char *src, const char *what)
{
    ENSURE_REF(dst);
    ENSURE(cap > 0, TR_E_INTERNAL);
    size_t n = src ? strlen(src) : 0;
    if (n >= cap) {
        dst[0] = '\0';
        BAIL(TR_E_INTERNAL, "%s is %zu bytes, longer than the %zu this buffer holds", what, n, cap - 1);
    }
    memcpy(dst, src ? src : "", n + 1);
    return TR_OK;
}

bool region_valid(const char *r)
{
    size_t n = strlen(r);
    if (n < 9 || n > 30) return false;
    int dashes = 0;
    for (size_t i = 0; i < n; i++) {
        char c = r[i];
        if (c == '-') { if (i == 0 || r[i - 1] == '-') return false; dashes++; }
        else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
    }
    return dashes >= 2 && r[n - 1] >= '0' && r[n - 1] <= '9';
}

TR_RESULT str_format(char *dst, size_t cap, const char *what, const char *fmt, ...)
{
    ENSURE_REF(dst);
    ENSURE(cap > 0, TR_E_INTERNAL);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap) {
        dst[0] = '\0';
        BAIL(TR_E_INTERNAL, "%s is %d bytes, longer than the %zu this buffer holds", what, n, cap - 1);
    }
    return TR_OK;
}
