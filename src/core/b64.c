/*
 * b64.c -- base64 encoding and the one decoder (b64.h).
 */
#include "core/b64.h"

#include <string.h>

#include <openssl/evp.h>

/* The 6-bit value of each ASCII byte of the alphabet, -1 for the others. */
static const int8_t VALUE[128] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,     /* + / */
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,     /* 0-9 */
    -1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,     /* A-O */
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,     /* P-Z */
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,     /* a-o */
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,     /* p-z */
};

static int value(char c)
{
    unsigned char u = (unsigned char)c;
    return u < 128 ? VALUE[u] : -1;
}

/*
 * The decoder.  Reads [s, s + n) up to the first '=' (or the end), and
 * sets *stop there; each whole byte of the bits read goes to out (when
 * not NULL) and is compared with want (when not NULL), at most cap of
 * them; *len gets the count.  false on a byte outside the alphabet
 * before *stop, more than cap bytes, or a mismatch with want.  Whole
 * groups of four go at once; the bit accumulator takes the rest.
 */
static bool walk(const char *s, size_t n, uint8_t *out, const uint8_t *want, size_t cap,
                 size_t *stop, size_t *len)
{
    size_t k = 0, i = 0;
    for (; i + 4 <= n && k + 3 <= cap; i += 4) {
        int a = value(s[i]), b = value(s[i + 1]), c = value(s[i + 2]), d = value(s[i + 3]);
        if ((a | b | c | d) < 0) break;                 /* '=', or bad: byte by byte */
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        uint8_t g[3] = { (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
        if (out) memcpy(out + k, g, 3);
        if (want && memcmp(want + k, g, 3) != 0) return false;
        k += 3;
    }
    uint32_t acc = 0;
    int bits = 0;
    for (; i < n && s[i] != '='; i++) {
        int v = value(s[i]);
        if (v < 0) return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits < 8) continue;
        bits -= 8;
        uint8_t byte = (uint8_t)(acc >> bits);
        if (k >= cap) return false;
        if (out) out[k] = byte;
        if (want && want[k] != byte) return false;
        k++;
    }
    *stop = i;
    *len = k;
    return true;
}

/* The loose grammar: after the first '=', only '='. */
static bool walk_loose(const char *s, size_t n, uint8_t *out, const uint8_t *want, size_t cap,
                       size_t *len)
{
    size_t i = 0;
    if (!walk(s, n, out, want, cap, &i, len)) return false;
    for (; i < n; i++)
        if (s[i] != '=') return false;
    return true;
}

TR_RESULT b64_encode(const uint8_t *in, size_t n, struct buf *out)
{
    ENSURE(n <= 0x30000000u, TR_E_INTERNAL);
    size_t need = 4 * ((n + 2) / 3);
    GUARD(buf_reserve(out, need));
    int w = EVP_EncodeBlock(out->data + out->len, in, (int)n);
    ENSURE(w >= 0 && (size_t)w == need, TR_E_INTERNAL);
    out->len += (uint32_t)w;
    return TR_OK;
}

/*
 * The strict grammar: the text is a multiple of 4 long, and its last one
 * or two bytes may be '=' and no other may.  Bad text fails before the
 * reservation can (the check walk of a failed reservation tells which).
 */
TR_RESULT b64_decode(const char *in, size_t n, struct buf *out)
{
    ENSURE(n % 4 == 0, TR_E_SERIALIZATION);
    if (n == 0) return TR_OK;
    size_t body = n - (in[n - 1] == '=') - (in[n - 1] == '=' && in[n - 2] == '='), stop = 0;
    size_t raw = n / 4 * 3, got = 0;
    tr_result r = buf_reserve(out, raw);
    bool ok = walk(in, body, tr_ok(r) ? out->data + out->len : NULL, NULL, raw, &stop, &got);
    ENSURE(ok && stop == body, TR_E_SERIALIZATION);
    GUARD(r);
    out->len += (uint32_t)got;
    return TR_OK;
}

bool b64_decode_loose(const char *s, size_t n, uint8_t *out, size_t cap, size_t *len)
{
    return walk_loose(s, n, out, NULL, cap, len);
}

bool b64_equal_loose(const char *s, size_t n, const uint8_t *want, size_t wn)
{
    size_t len = 0;
    return walk_loose(s, n, NULL, want, wn, &len) && len == wn;
}
