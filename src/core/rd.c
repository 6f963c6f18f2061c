/*
 * rd.c -- the bounds-checked read cursor (rd.h).
 */
#include "core/rd.h"

#include <string.h>

TR_RESULT rd_ptr(struct rd *r, size_t n, const uint8_t **out)
{
    ENSURE(r->left >= n, r->err);
    *out = r->p;
    r->p += n;
    r->left -= n;
    return TR_OK;
}

TR_RESULT rd_bytes(struct rd *r, void *dst, size_t n)
{
    const uint8_t *p = NULL;
    GUARD(rd_ptr(r, n, &p));
    if (n) memcpy(dst, p, n);
    return TR_OK;
}

TR_RESULT rd_u8(struct rd *r, uint8_t *v)
{
    return rd_bytes(r, v, 1);
}

TR_RESULT rd_u32be(struct rd *r, uint32_t *v)
{
    const uint8_t *p = NULL;
    GUARD(rd_ptr(r, 4, &p));
    *v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    return TR_OK;
}

TR_RESULT rd_end(const struct rd *r)
{
    ENSURE(r->left == 0, r->err);
    return TR_OK;
}
