/*
 * json_w_test.c -- the tree-less JSON writer (core/json.h json_w): its
 * bytes against jansson's dump of the same values, byte for byte, on every
 * control character, quotes, backslash, non-ASCII, random well-formed
 * text; invalid UTF-8 refused with nothing written; a failure wipes and
 * drops what the writer appended.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/errors.h"
#include "core/json.h"
#include "core/result.h"
#include "core/utf8.h"

/* jansson's dump of v (JSON_COMPACT, as op.c renders replies; a bare
 * string needs JSON_ENCODE_ANY) into out. */
static void dump(json_t *v, struct buf *out)
{
    assert_non_null(v);
    buf_reset(out);
    assert_true(tr_ok(json_dump_buf(v, JSON_COMPACT | JSON_ENCODE_ANY, out)));
}

/* json_w_escape of [s, s + n) is byte for byte jansson's dump of the same
 * string. */
static void same_as_jansson(const char *s, size_t n)
{
    struct buf ours = BUF_SECRET(1 << 20), theirs = BUF_INIT(1 << 20);
    json_t *j = json_stringn(s, n);
    assert_non_null(j);
    dump(j, &theirs);
    json_decref(j);
    assert_true(tr_ok(json_w_escape(&ours, s, n)));
    if (ours.len != theirs.len || memcmp(ours.data, theirs.data, ours.len) != 0)
        print_error("ours %.*s\ntheirs %.*s\n", (int)ours.len, (const char *)ours.data,
                    (int)theirs.len, (const char *)theirs.data);
    assert_int_equal(ours.len, theirs.len);
    assert_memory_equal(ours.data, theirs.data, ours.len);
    buf_free(&ours);
    buf_free(&theirs);
}

static void test_escape_every_ascii_byte(void **state)
{
    (void)state;
    char all[128];
    for (int c = 0; c < 128; c++) {
        char one[3] = { 'a', (char)c, 'z' };
        same_as_jansson(one, 3);
        same_as_jansson(one + 1, 1);
        all[c] = (char)c;
    }
    same_as_jansson(all, sizeof all);                  /* NUL included: lengths, not C strings */
    same_as_jansson("", 0);
    same_as_jansson("\"\\\"\\\\/\b\f\n\r\t\x1f\x7f", 12);
    same_as_jansson("{\"user\":\"admin\",\"password\":\"p@ss\\\"w0rd\"}", 40);
}

static void test_escape_non_ascii(void **state)
{
    (void)state;
    same_as_jansson("caf\xc3\xa9", 5);                          /* U+00E9 */
    same_as_jansson("\xe2\x82\xac 100", 7);                      /* U+20AC */
    same_as_jansson("\xf0\x9f\x94\x91 key", 8);                  /* U+1F511 */
    same_as_jansson("\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", 18);
    same_as_jansson("\xe2\x80\xa8\xe2\x80\xa9", 6);              /* U+2028, U+2029: as they are */
}

/* A random well-formed string of n code points drawn from every length
 * class, weighted toward the characters that need escaping. */
static size_t random_text(char *out, size_t n, unsigned *seed)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp;
        switch (rand_r(seed) % 6) {
        case 0: cp = (uint32_t)(rand_r(seed) % 0x20); break;
        case 1: cp = "\"\\/"[rand_r(seed) % 3]; break;
        case 2: cp = 0x20 + (uint32_t)(rand_r(seed) % 0x60); break;
        case 3: cp = 0x80 + (uint32_t)(rand_r(seed) % 0x780); break;
        case 4:
            cp = 0x800 + (uint32_t)(rand_r(seed) % 0xF800);
            if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xE000;
            break;
        default: cp = 0x10000 + (uint32_t)(rand_r(seed) % 0x100000); break;
        }
        if (cp < 0x80) {
            out[len++] = (char)cp;
        } else if (cp < 0x800) {
            out[len++] = (char)(0xC0 | (cp >> 6));
            out[len++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out[len++] = (char)(0xE0 | (cp >> 12));
            out[len++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[len++] = (char)(0x80 | (cp & 0x3F));
        } else {
            out[len++] = (char)(0xF0 | (cp >> 18));
            out[len++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            out[len++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[len++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    return len;
}

/* The plain-ASCII fast path scans 8 bytes at a time: each byte that needs
 * care (a control character, '"', '\\', the start of a multi-byte
 * character) at every position of strings of every length up to 40, in
 * and across the 8-byte words, and the bytes either side of the plain
 * range (0x1f, 0x20, 0x7e, 0x7f, 0x80), against jansson. */
static void test_escape_word_boundaries(void **state)
{
    (void)state;
    static const char *const special[] = { "\x1f", " ", "~", "\x7f", "\"", "\\", "\n",
                                           "\x01", "\xc3\xa9", "\xe2\x82\xac",
                                           "\xf0\x9f\x94\x91", "/" };
    char text[64];
    for (size_t len = 0; len <= 40; len++) {
        memset(text, 'k', len);
        same_as_jansson(text, len);
        for (size_t at = 0; at < len; at++) {
            for (size_t k = 0; k < sizeof special / sizeof special[0]; k++) {
                size_t sl = strlen(special[k]);
                if (at + sl > len) continue;
                memset(text, 'k', len);
                memcpy(text + at, special[k], sl);
                same_as_jansson(text, len);
            }
        }
    }
}

/* Malformed UTF-8 after a long plain prefix (the fast path's scan stops
 * there and the rest is checked): refused, nothing appended; and a plain
 * string, or one with escapes, that does not fit: refused, nothing
 * appended. */
static void test_escape_plain_then_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = { "abcdefghijklmnopq\xff", "abcdefgh\x80",
                                       "abcdefghijklmno\xc3", "abcdefg\xed\xa0\x80xyz" };
    struct buf b = BUF_SECRET(1024);
    assert_true(tr_ok(buf_append_str(&b, "keep")));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(tr_code(json_w_escape(&b, bad[i], strlen(bad[i]))), TR_E_INTERNAL);
        assert_int_equal(b.len, 4);
    }
    struct buf small = BUF_SECRET(12);
    assert_true(tr_ok(buf_append_str(&small, "xy")));
    assert_true(tr_failed(json_w_escape(&small, "plain ascii", 11)));   /* 2 + 13 > 12 */
    assert_int_equal(small.len, 2);
    assert_true(tr_failed(json_w_escape(&small, "q\"\x01", 3)));   /* 2 + 11 > 12 */
    assert_int_equal(small.len, 2);
    assert_true(tr_ok(json_w_escape(&small, "plain ", 6)));
    assert_int_equal(small.len, 10);
    assert_memory_equal(small.data, "xy\"plain \"", 10);
    buf_free(&small);
    buf_free(&b);
}

static void test_escape_random(void **state)
{
    (void)state;
    static char text[4 * 300];
    unsigned seed = 15;
    for (int round = 0; round < 2000; round++) {
        size_t len = random_text(text, (size_t)(rand_r(&seed) % 300), &seed);
        assert_true(utf8_valid((const uint8_t *)text, len));
        same_as_jansson(text, len);
    }
}

/* Malformed UTF-8: refused as jansson refuses to make the string, and
 * nothing is left in the buffer. */
static void test_escape_invalid_utf8(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\x80", "a\xbf", "\xc0\xaf", "\xc1\xbf", "\xc3", "\xe0\x80\xaf", "\xed\xa0\x80",
        "\xed\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "ok\xfe", "\xe2\x82",
    };
    struct buf b = BUF_SECRET(1024);
    assert_true(tr_ok(buf_append_str(&b, "keep")));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null(json_stringn(bad[i], strlen(bad[i])));
        assert_int_equal(tr_code(json_w_escape(&b, bad[i], strlen(bad[i]))), TR_E_INTERNAL);
        assert_int_equal(b.len, 4);
    }
    assert_int_equal(tr_code(json_w_escape(NULL, "x", 1)), TR_E_INTERNAL);
    assert_int_equal(tr_code(json_w_escape(&b, NULL, 1)), TR_E_INTERNAL);
    assert_true(tr_ok(json_w_escape(&b, NULL, 0)));
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, "keep\"\"", 6);
    buf_free(&b);
}

static char *const STAGES[] = { "AWSCURRENT", "custom \"stage\"", "AWSPENDING" };

/* A GetSecretValue-shaped object, by the writer and as a tree (the old
 * value_reply): the same bytes, and so the same object parsed. */
static void one_reply(const char *value, size_t n, const uint8_t *bin, size_t bn, size_t nstages,
                      double created)
{
    struct buf ours = BUF_SECRET(1 << 20), theirs = BUF_INIT(1 << 20);
    struct buf b64 = BUF_INIT(1 << 20);
    const char *arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:a/b-AbCdEf";
    struct json_w w;
    json_w_begin(&w, &ours);
    json_w_str(&w, "ARN", arn, strlen(arn));
    json_w_str(&w, "Name", "a/b", 3);
    json_w_str(&w, "VersionId", "EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE", 36);
    if (bin) json_w_b64(&w, "SecretBinary", bin, bn);
    else json_w_str(&w, "SecretString", value, n);
    json_w_strs(&w, "VersionStages", STAGES, nstages);
    if (created) json_w_num(&w, "CreatedDate", created);
    assert_true(tr_ok(json_w_end(&w)));

    json_t *o = json_object(), *st = json_array();
    json_object_set_new(o, "ARN", json_string(arn));
    json_object_set_new(o, "Name", json_string("a/b"));
    json_object_set_new(o, "VersionId", json_string("EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE"));
    if (bin) {
        assert_true(tr_ok(b64_encode(bin, bn, &b64)));
        json_object_set_new(o, "SecretBinary", json_stringn((const char *)b64.data, b64.len));
    } else {
        json_object_set_new(o, "SecretString", json_stringn(value, n));
    }
    for (size_t i = 0; i < nstages; i++) json_array_append_new(st, json_string(STAGES[i]));
    json_object_set_new(o, "VersionStages", st);
    if (created) {
        if (created == (double)(int64_t)created)
            json_object_set_new(o, "CreatedDate", json_integer((json_int_t)created));
        else
            json_object_set_new(o, "CreatedDate", json_real(created));
    }
    dump(o, &theirs);
    assert_int_equal(ours.len, theirs.len);
    assert_memory_equal(ours.data, theirs.data, ours.len);
    json_t *parsed = json_loadb((const char *)ours.data, ours.len, JSON_ALLOW_NUL, NULL);
    assert_non_null(parsed);
    assert_true(json_equal(parsed, o));
    json_decref(parsed);
    json_decref(o);
    buf_free(&ours);
    buf_free(&theirs);
    buf_free(&b64);
}

static void test_object_like_the_tree(void **state)
{
    (void)state;
    static char text[4 * 300];
    uint8_t bin[256];
    unsigned seed = 1533;
    static const double dates[] = { 0, 1733600000, 1733600000.123, 1733600000.5, 0.25,
                                    1e-7, 123456789.987654321, 1e21 + 0.5 };
    for (int round = 0; round < 500; round++) {
        size_t len = random_text(text, 1 + (size_t)(rand_r(&seed) % 300), &seed);
        one_reply(text, len, NULL, 0, (size_t)(rand_r(&seed) % 4),
                  dates[rand_r(&seed) % (sizeof dates / sizeof dates[0])]);
        size_t bn = 1 + (size_t)(rand_r(&seed) % sizeof bin);
        for (size_t i = 0; i < bn; i++) bin[i] = (uint8_t)rand_r(&seed);
        one_reply(NULL, 0, bin, bn, 1, 1733600000.001);
    }
    for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++) one_reply("v", 1, NULL, 0, 3, dates[i]);
}

/* json_w_num of t is jansson's dump of the number as the tree has it
 * (json_set_time: an integer when whole, else a real), byte for byte. */
static void num_same_as_jansson(double t)
{
    struct buf ours = BUF_INIT(256), theirs = BUF_INIT(256);
    json_t *o = t == (double)(int64_t)t ? json_pack("{s:I}", "D", (json_int_t)t)
                                        : json_pack("{s:f}", "D", t);
    dump(o, &theirs);
    json_decref(o);
    struct json_w w;
    json_w_begin(&w, &ours);
    json_w_num(&w, "D", t);
    assert_true(tr_ok(json_w_end(&w)));
    if (ours.len != theirs.len || memcmp(ours.data, theirs.data, ours.len) != 0)
        print_error("%.17g: ours %.*s theirs %.*s\n", t, (int)ours.len, (const char *)ours.data,
                    (int)theirs.len, (const char *)theirs.data);
    assert_int_equal(ours.len, theirs.len);
    assert_memory_equal(ours.data, theirs.data, ours.len);
    buf_free(&ours);
    buf_free(&theirs);
}

/* Dates in seconds (the printf-free path for 1e9 <= t < 9999999999 with a
 * fraction) against jansson: milliseconds, random doubles, the exact ties
 * of the 7th fraction digit (odd/256: rounded to even), the neighbours of
 * whole seconds and of the range's ends (which fall back to printf). */
static void test_num_dates(void **state)
{
    (void)state;
    unsigned seed = 77;
    for (int i = 0; i < 20000; i++) {
        double base = 1e9 + (double)rand_r(&seed) * 4.0;
        num_same_as_jansson(base + (double)(rand_r(&seed) % 1000) / 1000.0);
        num_same_as_jansson(base + (double)rand_r(&seed) / (double)RAND_MAX);
        num_same_as_jansson(1e9 + (double)rand_r(&seed) / (double)RAND_MAX * 8999999999.0);
    }
    for (int odd = 1; odd < 256; odd += 2) {
        num_same_as_jansson(1733600000.0 + odd / 256.0);
        num_same_as_jansson(1000000000.0 + odd / 256.0);
        num_same_as_jansson(9999999998.0 + odd / 256.0);
    }
    static const double edges[] = { 1e9, 999999999.5, 1000000000.0000001, 9999999999.0,
                                    9999999998.9999995, 9999999999.5, 1733600000.9999999,
                                    1733600000.0000001, 1073741824.0000001, 1073741823.9999999,
                                    -1733600000.5, 2147483648.25, 4294967296.75, 8589934592.125 };
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        num_same_as_jansson(edges[i]);
        num_same_as_jansson(nextafter(edges[i], 0));
        num_same_as_jansson(nextafter(edges[i], 1e300));
    }
}

/* Any failure -- malformed text midway, the buffer's cap -- wipes and
 * drops everything the writer appended, and sticks. */
static void test_failure_drops_everything(void **state)
{
    (void)state;
    struct buf b = BUF_SECRET(1024);
    assert_true(tr_ok(buf_append_str(&b, "prefix")));
    struct json_w w;
    json_w_begin(&w, &b);
    json_w_str(&w, "SecretString", "top secret", 10);
    json_w_str(&w, "Bad", "\xff", 1);
    json_w_str(&w, "After", "x", 1);                   /* ignored: the failure sticks */
    assert_int_equal(tr_code(json_w_end(&w)), TR_E_INTERNAL);
    assert_int_equal(b.len, 6);
    for (size_t i = 6; i < 40; i++) assert_int_equal(b.data[i], 0);   /* wiped, not just cut */

    /* The cap: '{"SecretString":' (16 bytes) is written, the value does
     * not fit; those 16 bytes are wiped. */
    struct buf small = BUF_SECRET(24);
    json_w_begin(&w, &small);
    json_w_str(&w, "SecretString", "does not fit in 24 bytes", 24);
    assert_true(tr_failed(json_w_end(&w)));
    assert_int_equal(small.len, 0);
    assert_non_null(small.data);
    for (size_t i = 0; i < 16; i++) assert_int_equal(small.data[i], 0);

    json_w_begin(&w, NULL);
    json_w_str(&w, "x", "y", 1);
    assert_int_equal(tr_code(json_w_end(&w)), TR_E_INTERNAL);

    /* buf_truncate: wipes what it drops; a longer length changes nothing. */
    buf_reset(&b);
    assert_true(tr_ok(buf_append_str(&b, "keepsecret")));
    buf_truncate(&b, 4);
    assert_int_equal(b.len, 4);
    for (size_t i = 4; i < 10; i++) assert_int_equal(b.data[i], 0);
    buf_truncate(&b, 9);
    assert_int_equal(b.len, 4);
    buf_truncate(NULL, 0);

    /* An empty object. */
    buf_reset(&b);
    json_w_begin(&w, &b);
    assert_true(tr_ok(json_w_end(&w)));
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.data, "{}", 2);
    buf_free(&b);
    buf_free(&small);
}

int main(void)
{
    json_use_wiping_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_every_ascii_byte),
        cmocka_unit_test(test_escape_non_ascii),
        cmocka_unit_test(test_escape_word_boundaries),
        cmocka_unit_test(test_escape_plain_then_invalid),
        cmocka_unit_test(test_escape_random),
        cmocka_unit_test(test_num_dates),
        cmocka_unit_test(test_escape_invalid_utf8),
        cmocka_unit_test(test_object_like_the_tree),
        cmocka_unit_test(test_failure_drops_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
