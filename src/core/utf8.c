/*
 * utf8.c -- checking, counting and repairing UTF-8 (see utf8.h).
 *
 * Attacker text reaches replies through messages that quote it ("Value
 * '%.64s' at ..."): a quote cut mid-character, or bytes that were never
 * UTF-8, would make a JSON string jansson refuses or XML no parser reads.
 * tr_fail_at repairs every message with utf8_repair, so replies never
 * carry broken text.
 */
#include "core/utf8.h"

#include <string.h>

int32_t utf8_decode(const uint8_t *s, size_t n, size_t *len)
{
    *len = 0;
    if (n == 0) return -1;
    uint8_t c = s[0];
    size_t more;
    uint32_t cp;
    if (c < 0x80) { *len = 1; return c; }
    if (c >= 0xC2 && c <= 0xDF) { more = 1; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { more = 2; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { more = 3; cp = c & 0x07; }
    else return -1;
    if (n - 1 < more) return -1;
    for (size_t k = 1; k <= more; k++) {
        if ((s[k] & 0xC0) != 0x80) return -1;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    if ((more == 2 && cp < 0x800) || (more == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    *len = more + 1;
    return (int32_t)cp;
}

size_t utf8_seq(const uint8_t *s, size_t n)
{
    size_t len;
    (void)utf8_decode(s, n, &len);
    return len;
}

bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {      /* ASCII, nearly all text here: no decoding */
            i++;
            continue;
        }
        size_t k = utf8_seq(s + i, n - i);
        if (k == 0) return false;
        i += k;
    }
    return true;
}

size_t utf8_count(const char *s, size_t n)
{
    size_t chars = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) chars++;
    return chars;
}

size_t utf8_strlen(const char *s)
{
    return utf8_count(s, strlen(s));
}

bool utf8_in_class(const char *s, const struct utf8_range *ranges, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t left = strlen(s);
    while (left) {
        size_t k;
        int32_t cp = utf8_decode(p, left, &k);
        if (cp < 0) return false;
        size_t i = 0;
        while (i < n && ((uint32_t)cp < ranges[i].lo || (uint32_t)cp > ranges[i].hi)) i++;
        if (i == n) return false;
        p += k;
        left -= k;
    }
    return true;
}

void utf8_repair(char *s, size_t cap)
{
    size_t n = strlen(s);
    if (cap == 0 || utf8_valid((const uint8_t *)s, n)) return;
    char out[4096];
    size_t o = 0, i = 0, lim = (cap < sizeof out ? cap : sizeof out) - 1;
    while (i < n) {
        size_t k = utf8_seq((const uint8_t *)s + i, n - i);
        const char *piece = k ? s + i : "\xEF\xBF\xBD";
        size_t plen = k ? k : 3;
        if (o + plen > lim) break;
        memcpy(out + o, piece, plen);
        o += plen;
        i += k ? k : 1;
    }
    memcpy(s, out, o);
    s[o] = '\0';
}
