/*
 * hex.c -- hex digits and percent-encoding (hex.h).
 */
#include "core/hex.h"

#include <string.h>

#include "core/secmem.h"

static const char lower[] = "0123456789abcdef";
static const char upper[] = "0123456789ABCDEF";

int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

void hex_encode(const uint8_t *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = lower[in[i] >> 4];
        out[2 * i + 1] = lower[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

bool hex_decode(const char *in, size_t hex_len, uint8_t *out)
{
    if (!in || hex_len % 2 != 0 || (!out && hex_len)) return false;
    for (size_t i = 0; i < hex_len; i += 2) {
        int hi = hex_digit((unsigned char)in[i]);
        int lo = hi < 0 ? -1 : hex_digit((unsigned char)in[i + 1]);   /* not past a NUL */
        if (lo < 0) {
            secure_zero(out, i / 2);
            return false;
        }
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static bool kept(unsigned char c, const char *keep)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~' || (keep && c && strchr(keep, c));
}

TR_RESULT pct_encode(struct buf *b, const char *s, size_t n, const char *keep)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t need = 0;
    ENSURE_REF(b);
    ENSURE(s != NULL || n == 0, TR_E_INTERNAL);
    for (size_t i = 0; i < n; i++) need += kept(p[i], keep) ? 1 : 3;
    if (need == 0) return TR_OK;
    GUARD(buf_reserve(b, need));
    uint8_t *o = b->data + b->len;
    for (size_t i = 0; i < n; i++) {
        if (kept(p[i], keep)) {
            *o++ = p[i];
        } else {
            *o++ = '%';
            *o++ = (uint8_t)upper[p[i] >> 4];
            *o++ = (uint8_t)upper[p[i] & 15];
        }
    }
    b->len += (uint32_t)need;
    return TR_OK;
}
