/*
 * core_codec_test.c -- the small codecs of src/core: calendar arithmetic
 * and timestamps (date.c), hex and percent-encoding (hex.c), base64
 * (b64.c), the bounds-checked read cursor (rd.c).
 *
 * Edge cases first: leap years (every fourth, not every hundredth, every
 * four hundredth), month ends, the days around the epoch and before it,
 * the clamp to four-digit years, then a sweep against the C library's
 * gmtime_r as an oracle; odd-length and non-digit hex, a NUL inside it;
 * percent-encoding of every byte value, and at a buffer's cap; base64
 * padding, bytes outside the alphabet (and above 0x7F), '=' inside the
 * text, the reservation at a buffer's cap, the loose grammar of policy
 * conditions, and OpenSSL's EVP_DecodeBlock as an oracle; reads up to
 * and past the end of a cursor, which fail with its code and move
 * nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "core/b64.h"
#include "core/date.h"
#include "core/hex.h"
#include "core/rd.h"

/* ---- date.c ---------------------------------------------------------------- */

static void test_date_leap_and_month_ends(void **state)
{
    (void)state;
    assert_true(date_leap(2024));
    assert_false(date_leap(2023));
    assert_false(date_leap(1900));
    assert_false(date_leap(2100));
    assert_true(date_leap(2000));
    assert_true(date_leap(1600));
    assert_true(date_leap(0));
    assert_false(date_leap(-1));
    assert_true(date_leap(-4));
    static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    for (int m = 1; m <= 12; m++) {
        assert_int_equal(date_month_days(2023, m), days[m - 1]);
        assert_int_equal(date_month_days(2024, m), m == 2 ? 29 : days[m - 1]);
        assert_true(date_valid(2023, m, days[m - 1]));
        assert_false(date_valid(2023, m, days[m - 1] + (m == 2 ? 2 : 1)));
        assert_false(date_valid(2023, m, 0));
    }
    assert_true(date_valid(2024, 2, 29));
    assert_false(date_valid(2023, 2, 29));
    assert_false(date_valid(1900, 2, 29));
    assert_true(date_valid(2000, 2, 29));
    assert_false(date_valid(2023, 0, 1));
    assert_false(date_valid(2023, 13, 1));
    assert_false(date_valid(2023, -1, 1));
    assert_false(date_valid(2023, 1, 32));
}

static void test_date_days(void **state)
{
    (void)state;
    static const struct { int64_t y; int m, d; int64_t days; } v[] = {
        { 1970, 1, 1, 0 }, { 1969, 12, 31, -1 }, { 1970, 3, 1, 59 }, { 1972, 3, 1, 790 },
        { 2000, 2, 29, 11016 }, { 2000, 3, 1, 11017 }, { 2038, 1, 19, 24855 },
        { 0, 1, 1, -719528 }, { 9999, 12, 31, 2932896 }, { 1600, 2, 29, -135081 },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        assert_int_equal(days_from_civil(v[i].y, v[i].m, v[i].d), v[i].days);
        int64_t y;
        int m, d;
        civil_from_days(v[i].days, &y, &m, &d);
        assert_int_equal(y, v[i].y);
        assert_int_equal(m, v[i].m);
        assert_int_equal(d, v[i].d);
    }
    /* Every day of 1896..2104, both ways, and consecutive. */
    int64_t z = days_from_civil(1896, 1, 1);
    for (int64_t y = 1896; y <= 2104; y++)
        for (int m = 1; m <= 12; m++)
            for (int d = 1; d <= date_month_days(y, m); d++, z++) {
                assert_int_equal(days_from_civil(y, m, d), z);
                int64_t yy;
                int mm, dd;
                civil_from_days(z, &yy, &mm, &dd);
                assert_true(yy == y && mm == m && dd == d);
            }
}

static void test_date_format(void **state)
{
    (void)state;
    static const struct { int64_t t; const char *ext, *basic; } v[] = {
        { 0, "1970-01-01T00:00:00Z", "19700101T000000Z" },
        { -1, "1969-12-31T23:59:59Z", "19691231T235959Z" },
        { 951782400, "2000-02-29T00:00:00Z", "20000229T000000Z" },
        { 1440938160, "2015-08-30T12:36:00Z", "20150830T123600Z" },
        { 1709251199, "2024-02-29T23:59:59Z", "20240229T235959Z" },
        { 4102444800, "2100-01-01T00:00:00Z", "21000101T000000Z" },
        /* four-digit years only: clamped to 0000-01-01 .. 9999-12-31 */
        { -62167219200, "0000-01-01T00:00:00Z", "00000101T000000Z" },
        { -62167219201, "0000-01-01T00:00:00Z", "00000101T000000Z" },
        { INT64_MIN, "0000-01-01T00:00:00Z", "00000101T000000Z" },
        { 253402300799, "9999-12-31T23:59:59Z", "99991231T235959Z" },
        { 253402300800, "9999-12-31T23:59:59Z", "99991231T235959Z" },
        { INT64_MAX, "9999-12-31T23:59:59Z", "99991231T235959Z" },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char ext[DATE_ISO8601_LEN], basic[DATE_BASIC_LEN];
        memset(ext, 'x', sizeof ext);
        memset(basic, 'x', sizeof basic);
        date_iso8601(v[i].t, ext);
        date_iso8601_basic(v[i].t, basic);
        assert_string_equal(ext, v[i].ext);
        assert_string_equal(basic, v[i].basic);
    }
    struct date_civil c;
    date_split(-86400 - 3723, &c);         /* 1969-12-30T22:57:57Z */
    assert_true(c.year == 1969 && c.month == 12 && c.day == 30);
    assert_true(c.hour == 22 && c.minute == 57 && c.second == 57);
}

static void test_date_deadline(void **state)
{
    (void)state;
    static const unsigned long ms[] = { 0, 1, 999, 1000, 1001, 5000, 86400001 };
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        struct timespec before, dl, after;
        clock_gettime(CLOCK_MONOTONIC, &before);
        date_deadline(CLOCK_MONOTONIC, ms[i], &dl);
        clock_gettime(CLOCK_MONOTONIC, &after);
        assert_true(dl.tv_nsec >= 0 && dl.tv_nsec < 1000000000L);
        int64_t lo = (int64_t)before.tv_sec * 1000000000 + before.tv_nsec + (int64_t)ms[i] * 1000000;
        int64_t hi = (int64_t)after.tv_sec * 1000000000 + after.tv_nsec + (int64_t)ms[i] * 1000000;
        int64_t got = (int64_t)dl.tv_sec * 1000000000 + dl.tv_nsec;
        assert_true(got >= lo && got <= hi);
    }
}

/* What strftime writes for the years the C library holds. */
static void test_date_matches_libc(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t t = (int64_t)(x % (253402300800u + 62167219200u)) - 62167219200;
        if (i < 2000) t = (int64_t)(x % 4102444800u);      /* 1970..2100, densely */
        time_t tt = (time_t)t;
        struct tm tm;
        char want[32], got[DATE_ISO8601_LEN];
        assert_non_null(gmtime_r(&tt, &tm));
        strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%SZ", &tm);
        date_iso8601(t, got);
        if (tm.tm_year + 1900 >= 1000) assert_string_equal(got, want);   /* %Y does not pad */
        assert_int_equal(days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday) * 86400 +
                         tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec, t);
    }
}

/* ---- hex.c ----------------------------------------------------------------- */

static void test_hex(void **state)
{
    (void)state;
    for (int c = 0; c < 256; c++) {
        int want = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        assert_int_equal(hex_digit((unsigned char)c), want);
    }
    uint8_t all[256], back[256];
    char text[513];
    for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
    hex_encode(all, sizeof all, text);
    assert_int_equal(strlen(text), 512);
    assert_memory_equal(text, "000102", 6);
    assert_string_equal(text + 506, "fdfeff");
    assert_true(hex_decode(text, 512, back));
    assert_memory_equal(back, all, sizeof all);
    hex_encode(all, 0, text);
    assert_string_equal(text, "");

    uint8_t out[4] = { 0 };
    assert_true(hex_decode("DeadBEEF", 8, out));
    assert_memory_equal(out, "\xde\xad\xbe\xef", 4);
    assert_true(hex_decode("", 0, NULL));
    assert_false(hex_decode("abc", 3, out));            /* odd length */
    assert_false(hex_decode("a", 1, out));
    assert_false(hex_decode(NULL, 2, out));
    assert_false(hex_decode("ab", 2, NULL));
    memset(out, 0x55, sizeof out);
    assert_false(hex_decode("abcdxg00", 8, out));       /* a non-digit: what came before is wiped */
    assert_memory_equal(out, "\0\0\x55\x55", 4);
    assert_false(hex_decode("ab\0d", 4, out));          /* a NUL, and nothing past it read */
    assert_false(hex_decode("ab 1", 4, out));
    assert_false(hex_decode("0x12", 4, out));
    assert_false(hex_decode("+1", 2, out));
}

static void test_pct_encode(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(1024);
    assert_true(tr_ok(pct_encode(&b, "AZaz09-._~", 10, NULL)));
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.data, "AZaz09-._~", 10);
    buf_reset(&b);
    assert_true(tr_ok(pct_encode(&b, "a b/c%\xC3\xA9\n", 9, NULL)));
    assert_int_equal(b.len, 21);
    assert_memory_equal(b.data, "a%20b%2Fc%25%C3%A9%0A", 21);
    buf_reset(&b);
    assert_true(tr_ok(pct_encode(&b, "/tmp/a b?", 9, "/")));
    assert_int_equal(b.len, 13);
    assert_memory_equal(b.data, "/tmp/a%20b%3F", 13);
    buf_reset(&b);
    assert_true(tr_ok(pct_encode(&b, "a\0b", 3, "/")));    /* NUL is encoded, never kept */
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "a%00b", 5);
    buf_reset(&b);
    assert_true(tr_ok(pct_encode(&b, NULL, 0, NULL)));
    assert_int_equal(b.len, 0);
    /* Every byte: unreserved kept, the rest %XX in uppercase. */
    char all[256];
    for (int i = 0; i < 256; i++) all[i] = (char)i;
    assert_true(tr_ok(pct_encode(&b, all, 256, NULL)));
    assert_int_equal(b.len, 66 + 3 * 190);
    assert_memory_equal(b.data, "%00%01", 6);
    assert_memory_equal(b.data + b.len - 3, "%FF", 3);
    buf_free(&b);

    /* Exactly what it writes is reserved: "a b" (5 bytes) fits a cap of 5. */
    struct buf small = BUF_INIT(5);
    assert_true(tr_ok(pct_encode(&small, "a b", 3, NULL)));
    assert_int_equal(small.len, 5);
    tr_result r = pct_encode(&small, "x", 1, NULL);
    assert_true(tr_failed(r));
    assert_int_equal(small.len, 5);
    buf_free(&small);
}

/* ---- b64.c ----------------------------------------------------------------- */

static void test_b64_strict(void **state)
{
    (void)state;
    static const struct { const char *enc; const char *raw; size_t n; } good[] = {
        { "", "", 0 }, { "AA==", "\0", 1 }, { "AAA=", "\0\0", 2 }, { "AAAA", "\0\0\0", 3 },
        { "+/+/", "\xfb\xff\xbf", 3 }, { "Zm9vYmFy", "foobar", 6 },
        { "Zh==", "f", 1 },                     /* bits past the last byte are ignored */
        { "Zm9=", "fo", 2 },
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct buf d = BUF_INIT(64);
        assert_true(tr_ok(b64_decode(good[i].enc, strlen(good[i].enc), &d)));
        assert_int_equal(d.len, good[i].n);
        if (d.len) assert_memory_equal(d.data, good[i].raw, d.len);
        buf_free(&d);
    }
    static const char *bad[] = {
        "Z", "Zg", "Zg=", "Zm9vY", "=", "====", "Z===", "=Zg=", "Zg=A", "Zg==Zg==", "Zm9v!A==",
        "Zm 9", "Zm9v\n", "Zm-_", "Zm9\xC3", "Zm9\xFF", "Zg==\0\0\0\0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct buf d = BUF_INIT(64);
        size_t n = strlen(bad[i]);
        if (i == sizeof bad / sizeof bad[0] - 1) n = 8;      /* NULs inside the text */
        tr_result r = b64_decode(bad[i], n, &d);
        assert_int_equal(tr_code(r), TR_E_SERIALIZATION);
        assert_int_equal(d.len, 0);
        buf_free(&d);
    }
    /* A NUL length is nothing; n / 4 * 3 bytes are reserved, so "Zg==" (one
     * byte) needs a cap of three, and bad text fails before the cap does. */
    struct buf d = BUF_INIT(2);
    assert_true(tr_ok(b64_decode("Zg==", 0, &d)));
    assert_int_equal(tr_code(b64_decode("Zg==", 4, &d)), TR_E_VALIDATION);
    assert_int_equal(tr_code(b64_decode("Z!==", 4, &d)), TR_E_SERIALIZATION);
    assert_int_equal(d.len, 0);
    buf_free(&d);
    d = BUF_INIT(3);
    assert_true(tr_ok(b64_decode("Zg==", 4, &d)));
    assert_int_equal(d.len, 1);
    assert_int_equal(tr_code(b64_decode("Zg==", 4, &d)), TR_E_VALIDATION);   /* appends */
    buf_free(&d);
}

/* Encoding, and decoding against OpenSSL's decoder, for every length up
 * to 200 bytes of pseudo-random data. */
static void test_b64_round_trip(void **state)
{
    (void)state;
    uint8_t raw[200], want[200];
    uint32_t x = 2463534242u;
    for (size_t n = 0; n <= sizeof raw; n++) {
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13; x ^= x >> 17; x ^= x << 5;
            raw[i] = (uint8_t)x;
        }
        struct buf e = BUF_INIT(400), d = BUF_INIT(202);   /* n / 4 * 3 is reserved */
        assert_true(tr_ok(b64_encode(raw, n, &e)));
        assert_int_equal(e.len, 4 * ((n + 2) / 3));
        assert_true(tr_ok(b64_decode((const char *)e.data, e.len, &d)));
        assert_int_equal(d.len, n);
        if (n) assert_memory_equal(d.data, raw, n);
        if (n) {
            int w = EVP_DecodeBlock(want, e.data, (int)e.len);
            assert_true(w >= (int)n);
            assert_memory_equal(want, d.data, n);
        }
        size_t len = 0;
        uint8_t loose[200];
        assert_true(b64_decode_loose((const char *)e.data, e.len, loose, sizeof loose, &len));
        assert_int_equal(len, n);
        if (n) assert_memory_equal(loose, raw, n);
        assert_true(b64_equal_loose((const char *)e.data, e.len, raw, n));
        buf_free(&e);
        buf_free(&d);
    }
}

/* The loose grammar of Binary conditions: padding optional. */
static void test_b64_loose(void **state)
{
    (void)state;
    uint8_t out[8];
    size_t len = 99;
    assert_true(b64_decode_loose("Zg", 2, out, sizeof out, &len));
    assert_int_equal(len, 1);
    assert_int_equal(out[0], 'f');
    assert_true(b64_decode_loose("Zg=", 3, out, sizeof out, &len));
    assert_int_equal(len, 1);
    assert_true(b64_decode_loose("Zg===", 5, out, sizeof out, &len));
    assert_int_equal(len, 1);
    assert_true(b64_decode_loose("Zm9v", 4, out, sizeof out, &len));
    assert_int_equal(len, 3);
    assert_true(b64_decode_loose("Z", 1, out, sizeof out, &len));     /* six bits: no byte */
    assert_int_equal(len, 0);
    assert_true(b64_decode_loose("", 0, out, sizeof out, &len));
    assert_int_equal(len, 0);
    assert_true(b64_decode_loose("===", 3, out, sizeof out, &len));
    assert_int_equal(len, 0);
    assert_false(b64_decode_loose("Zg=A", 4, out, sizeof out, &len));
    assert_false(b64_decode_loose("Z g", 3, out, sizeof out, &len));
    assert_false(b64_decode_loose("Z\xC3\xA9", 3, out, sizeof out, &len));
    assert_false(b64_decode_loose("Zm9vYmFy", 8, out, 5, &len));       /* past cap */
    assert_true(b64_decode_loose("Zm9vYmFy", 8, out, 6, &len));
    assert_int_equal(len, 6);

    assert_true(b64_equal_loose("Zm9v", 4, (const uint8_t *)"foo", 3));
    assert_true(b64_equal_loose("Zm9v==", 6, (const uint8_t *)"foo", 3));
    assert_false(b64_equal_loose("Zm9v", 4, (const uint8_t *)"fo", 2));  /* longer */
    assert_false(b64_equal_loose("Zm8", 3, (const uint8_t *)"foo", 3));  /* shorter */
    assert_false(b64_equal_loose("Zm9w", 4, (const uint8_t *)"foo", 3)); /* differs */
    assert_false(b64_equal_loose("Zm9!", 4, (const uint8_t *)"foo", 3));
    assert_true(b64_equal_loose("", 0, NULL, 0));
}

/* ---- rd.c ------------------------------------------------------------------ */

static void test_rd(void **state)
{
    (void)state;
    static const uint8_t blob[] = { 0x01, 0xde, 0xad, 0xbe, 0xef, 'a', 'b', 'c' };
    struct rd r = rd_init(blob, sizeof blob, TR_E_KMS_INVALID_CIPHERTEXT);
    uint8_t v8 = 0;
    uint32_t v32 = 0;
    uint8_t two[2];
    const uint8_t *p = NULL;
    assert_true(tr_ok(rd_u8(&r, &v8)));
    assert_int_equal(v8, 1);
    assert_true(tr_ok(rd_u32be(&r, &v32)));
    assert_int_equal(v32, 0xdeadbeefu);
    assert_int_equal(r.left, 3);
    assert_true(tr_ok(rd_ptr(&r, 0, &p)));                  /* an empty read */
    assert_ptr_equal(p, blob + 5);
    /* Past the end: the cursor's code, no message, nothing moved. */
    tr_result e = rd_u32be(&r, &v32);
    assert_int_equal(tr_code(e), TR_E_KMS_INVALID_CIPHERTEXT);
    assert_false(tr_last_error()->has_message);
    assert_int_equal(v32, 0xdeadbeefu);
    assert_int_equal(tr_code(rd_ptr(&r, 4, &p)), TR_E_KMS_INVALID_CIPHERTEXT);
    assert_ptr_equal(p, blob + 5);
    assert_int_equal(tr_code(rd_ptr(&r, SIZE_MAX, &p)), TR_E_KMS_INVALID_CIPHERTEXT);
    assert_int_equal(tr_code(rd_end(&r)), TR_E_KMS_INVALID_CIPHERTEXT);
    assert_int_equal(r.left, 3);
    assert_ptr_equal(r.p, blob + 5);
    assert_true(tr_ok(rd_bytes(&r, two, 2)));
    assert_memory_equal(two, "ab", 2);
    assert_int_equal(tr_code(rd_bytes(&r, two, 2)), TR_E_KMS_INVALID_CIPHERTEXT);
    assert_memory_equal(two, "ab", 2);
    assert_true(tr_ok(rd_u8(&r, &v8)));
    assert_int_equal(v8, 'c');
    assert_true(tr_ok(rd_end(&r)));
    assert_int_equal(tr_code(rd_u8(&r, &v8)), TR_E_KMS_INVALID_CIPHERTEXT);
    assert_int_equal(v8, 'c');

    /* An empty cursor, and none at all: every read but an empty one fails. */
    r = rd_init(NULL, 5, TR_E_SERIALIZATION);
    assert_int_equal(r.left, 0);
    assert_true(tr_ok(rd_end(&r)));
    assert_int_equal(tr_code(rd_u8(&r, &v8)), TR_E_SERIALIZATION);
    assert_true(tr_ok(rd_bytes(&r, two, 0)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_date_leap_and_month_ends),
        cmocka_unit_test(test_date_days),
        cmocka_unit_test(test_date_format),
        cmocka_unit_test(test_date_matches_libc),
        cmocka_unit_test(test_date_deadline),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_pct_encode),
        cmocka_unit_test(test_b64_strict),
        cmocka_unit_test(test_b64_round_trip),
        cmocka_unit_test(test_b64_loose),
        cmocka_unit_test(test_rd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
