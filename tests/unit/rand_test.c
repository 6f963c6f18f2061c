/*
 * rand_test.c -- random bytes and v4 UUIDs (crypto/rand.c).
 *
 * Randomness cannot be proved by a unit test; these check the plumbing:
 * every byte gets written, lengths are honoured, and a UUID has the exact
 * RFC 9562 v4 shape (lowercase, dashed, version 4, variant 10).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "crypto/hash.h"
#include "crypto/rand.h"

static void bytes_fill(void **state)
{
    (void)state;
    uint8_t a[64], b[64], zero[64] = { 0 };
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    assert_true(tr_ok(rand_bytes(a, sizeof a)));
    assert_true(tr_ok(rand_bytes(b, sizeof b)));
    assert_memory_not_equal(a, zero, sizeof a);
    assert_memory_not_equal(a, b, sizeof a);
    /* Only the requested bytes are written. */
    memset(a, 0x5a, sizeof a);
    assert_true(tr_ok(rand_bytes(a, 10)));
    for (size_t i = 10; i < sizeof a; i++) assert_int_equal(a[i], 0x5a);
    assert_true(tr_ok(rand_bytes(NULL, 0)));
    assert_int_equal(tr_code(rand_bytes(NULL, 1)), TR_E_INTERNAL);
}

/* Every bit position takes both values over 256 draws (a stuck bit
 * would mean a plumbing bug, e.g. a length off by one). */
static void bytes_no_stuck_bits(void **state)
{
    (void)state;
    uint8_t ones[32] = { 0 }, zeros[32] = { 0 };
    for (int i = 0; i < 256; i++) {
        uint8_t r[32];
        assert_true(tr_ok(rand_bytes(r, sizeof r)));
        for (size_t j = 0; j < sizeof r; j++) {
            ones[j] |= r[j];
            zeros[j] |= (uint8_t)~r[j];
        }
    }
    for (size_t j = 0; j < sizeof ones; j++) {
        assert_int_equal(ones[j], 0xff);
        assert_int_equal(zeros[j], 0xff);
    }
}

/* 200 UUIDs span several refills of the per-thread pool (32 per fill);
 * all must be distinct, not only consecutive ones. */
static void uuid_shape(void **state)
{
    (void)state;
    static char seen[200][37];
    char prev[37] = "";
    for (int n = 0; n < 200; n++) {
        char u[37];
        memset(u, 'X', sizeof u);
        assert_true(tr_ok(rand_uuid(u)));
        assert_int_equal(strlen(u), 36);
        for (size_t i = 0; i < 36; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23) {
                assert_int_equal(u[i], '-');
            } else {
                assert_non_null(strchr("0123456789abcdef", u[i]));
            }
        }
        assert_int_equal(u[14], '4');                      /* version */
        assert_non_null(strchr("89ab", u[19]));           /* variant 10 */
        assert_string_not_equal(u, prev);
        memcpy(prev, u, sizeof prev);
        for (int m = 0; m < n; m++) assert_string_not_equal(u, seen[m]);
        memcpy(seen[n], u, sizeof seen[n]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bytes_fill),
        cmocka_unit_test(bytes_no_stuck_bits),
        cmocka_unit_test(uuid_shape),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    crypto_thread_cleanup();
    return rc;
}
