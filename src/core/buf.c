/*
 * buf.c -- capped, optionally secret byte buffers.  See buf.h.
 *
 * A secret buffer's bytes are wiped on every path that gives them up:
 * buf_reset (the content), buf_reserve (the old block when it moves) and
 * buf_free; the wipe-check build verifies each of those regions is zero
 * right before it is reused or freed (core/secmem.h).
 */
#include "core/buf.h"
#include "core/secmem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool buf_validate(const struct buf *b)
{
    if (!b) return false;
    if (b->data == NULL) return b->len == 0 && b->cap == 0;
    if (b->cap == 0) return b->len <= b->max;
    return b->len <= b->cap && b->cap <= (uint64_t)b->max + 1;
}

/* Free b's block (an owned one: cap != 0), wiped first when secret. */
static void release_block(struct buf *b)
{
    if (!b->cap) return;
    if (b->secret) {
        secure_zero(b->data, b->cap);
        WIPE_CHECK(WIPE_SITE_BUF, b->data, b->cap);
    }
    free(b->data);
}

TR_RESULT buf_reserve(struct buf *b, size_t extra)
{
    ENSURE_REF(b);
    ENSURE(b->cap != 0 || b->len == 0 || b->data == NULL, TR_E_INTERNAL);
    if ((uint64_t)b->len + extra > b->max)
        BAIL(TR_E_VALIDATION, "value exceeds the maximum length of %u bytes", b->max);
    /* +1 keeps room for the NUL of buf_cstr. */
    size_t need = (size_t)b->len + extra + 1;
    if (need <= b->cap) return TR_OK;
    /* Growing moves the bytes: the buffer must be what it says it is
     * (checked here, off the path of an append that fits). */
    if (NEVER(!buf_validate(b))) BAIL0(TR_E_INTERNAL);
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need) ncap *= 2;
    if (ncap > (size_t)b->max + 1) ncap = (size_t)b->max + 1;
    uint8_t *n = malloc(ncap);
    ENSURE(n != NULL, TR_E_INTERNAL);
    if (b->len) memcpy(n, b->data, b->len);
    release_block(b);
    b->data = n;
    b->cap = (uint32_t)ncap;
    return TR_OK;
}

TR_RESULT buf_append_grow(struct buf *b, const void *p, size_t n)
{
    ENSURE_REF(b);
    if (n == 0) return TR_OK;
    GUARD(buf_reserve(b, n));
    memcpy(b->data + b->len, p, n);
    b->len += (uint32_t)n;
    return TR_OK;
}

TR_RESULT buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

/* One formatting pass when the text fits the block's free room (the
 * usual case: a reply's next element, an AAD); else the bytes it wrote
 * there are dropped (wiped when secret), the text is measured, the block
 * grown, and formatted again.  The room counts the NUL vsnprintf writes
 * and stops at max, so a text that fits is one buf_reserve would accept. */
TR_RESULT buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    ENSURE_REF(b);
    va_start(ap, fmt);
    va_copy(ap2, ap);
    size_t room = 0;
    if (b->cap && b->len < b->cap && b->len <= b->max) {
        room = (size_t)b->cap - b->len;                       /* NUL included */
        if (room > (size_t)b->max - b->len + 1) room = (size_t)b->max - b->len + 1;
    }
    /* fits: a cut text is never kept (n >= room falls through) */
    int n = vsnprintf(room ? (char *)b->data + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < room) {
        va_end(ap2);
        b->len += (uint32_t)n;
        return TR_OK;
    }
    if (room && b->secret) secure_zero(b->data + b->len, room);
    if (n < 0) { va_end(ap2); BAIL0(TR_E_INTERNAL); }
    tr_result r = buf_reserve(b, (size_t)n);
    if (tr_failed(r)) { va_end(ap2); return r; }
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap2);   /* fits: measured above */
    va_end(ap2);
    b->len += (uint32_t)n;
    return TR_OK;
}

void buf_reset(struct buf *b)
{
    if (!b) return;
    if (b->secret && b->data && b->len) {
        secure_zero(b->data, b->len);
        WIPE_CHECK(WIPE_SITE_BUF, b->data, b->len);
    }
    if (b->cap) b->len = 0;
}

void buf_truncate(struct buf *b, uint32_t len)
{
    if (!b || !b->data || len >= b->len) return;
    if (b->secret) secure_zero(b->data + len, b->len - len);
    b->len = len;
}

void buf_free(struct buf *b)
{
    if (!b) return;
    release_block(b);
    b->data = NULL;
    b->len = b->cap = 0;
}

TR_RESULT buf_cstr(struct buf *b, const char **out)
{
    GUARD(buf_reserve(b, 0));
    b->data[b->len] = '\0';
    *out = (const char *)b->data;
    return TR_OK;
}
