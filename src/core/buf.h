/*
 * buf.h -- one type for owned and borrowed bytes, with a hard cap
 * (s2n blob, curl dynbuf).
 *
 * Invariant (buf_validate): no data means nothing (len == cap == 0); an
 * owned buffer has len <= cap <= max + 1 (the +1 for buf_cstr's NUL); a
 * borrowed view has cap == 0, len <= max, and is never freed.  buf_reserve
 * checks it with NEVER (core/result.h) before it grows a buffer.  A buffer
 * marked secret is wiped whenever it is reset, grown (the old block) or
 * freed.
 */
#ifndef TR_BUF_H
#define TR_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/result.h"

struct buf {
    uint8_t *data;
    uint32_t len;       /* bytes in use */
    uint32_t cap;       /* bytes allocated; 0 = borrowed view, never freed */
    uint32_t max;       /* growth ceiling */
    unsigned secret:1;  /* wiped on free, reset and growth */
};

#define BUF_INIT(maxbytes)   ((struct buf){ .max = (maxbytes) })
#define BUF_SECRET(maxbytes) ((struct buf){ .max = (maxbytes), .secret = 1 })

/* A borrowed view of existing bytes. */
static inline struct buf buf_view(const void *p, size_t n)
{
    return (struct buf){ .data = (uint8_t *)p, .len = (uint32_t)n, .max = (uint32_t)n };
}

bool buf_validate(const struct buf *b);
/* Make room for `extra` more bytes; TR_E_VALIDATION past max. */
TR_RESULT buf_reserve(struct buf *b, size_t extra);
/* Append [p, p + n).  The usual case -- it fits the block as it is -- is
 * copied here, inline (a reply or an answer is written in many small
 * pieces); growing, the cap and the wipe of a secret buffer's old block
 * are buf_append_grow's. */
TR_RESULT buf_append_grow(struct buf *b, const void *p, size_t n);
static inline TR_RESULT buf_append(struct buf *b, const void *p, size_t n)
{
    if (b && b->cap && (size_t)b->cap - b->len > n && b->len + n <= b->max) {
        if (n) memcpy(b->data + b->len, p, n);
        b->len += (uint32_t)n;
        return TR_OK;
    }
    return buf_append_grow(b, p, n);
}
TR_RESULT buf_append_str(struct buf *b, const char *s);
TR_RESULT buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Keep the allocation, drop the content (wiped when secret). */
void buf_reset(struct buf *b);
/* Drop the bytes past len (wiped when secret): undo appends that failed
 * part-way.  Nothing when len >= b->len. */
void buf_truncate(struct buf *b, uint32_t len);
/* Release (wiped when secret); a borrowed view is only forgotten. */
void buf_free(struct buf *b);
/* NUL-terminate without counting the NUL in len. */
TR_RESULT buf_cstr(struct buf *b, const char **out);

#endif
