/*
 * rand_test.c -- random bytes and v4 UUIDs (crypto/rand.c).
 *
 * Randomness cannot be proved by a unit test; these check the plumbing:
 * every byte gets written, lengths are honoured, and a UUID has the exact
 * RFC 9562 v4 shape (lowercase, dashed, version 4, variant 10); the
 * pool of public bytes is never shared with a fork() child.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* rand_public: public values from the thread's pool -- all distinct over
 * several refills, exactly n bytes written, the bounds refused. */
static void public_bytes(void **state)
{
    (void)state;
    static uint8_t seen[100][28];
    for (int n = 0; n < 100; n++) {                    /* ~5.5 pool fills */
        uint8_t b[32];
        memset(b, 0x5a, sizeof b);
        assert_true(tr_ok(rand_public(b, 28)));
        for (size_t i = 28; i < sizeof b; i++) assert_int_equal(b[i], 0x5a);
        for (int m = 0; m < n; m++) assert_memory_not_equal(b, seen[m], 28);
        memcpy(seen[n], b, 28);
    }
    uint8_t big[RAND_PUBLIC_MAX + 1];
    assert_true(tr_ok(rand_public(big, RAND_PUBLIC_MAX)));
    assert_int_equal(tr_code(rand_public(big, RAND_PUBLIC_MAX + 1)), TR_E_INTERNAL);
    assert_int_equal(tr_code(rand_public(big, 0)), TR_E_INTERNAL);
    assert_int_equal(tr_code(rand_public(NULL, 4)), TR_E_INTERNAL);
}

/* A fork() child must not hand out the bytes its parent's pool holds
 * next: the same salt and IV in two processes would repeat a GCM nonce.
 * Sixteen 4-byte draws on each side, compared pairwise: a shared pool
 * would repeat every draw until one of them crossed a refill (the
 * refill's DRBG output differs after a fork). */
static void public_not_shared_with_fork_child(void **state)
{
    (void)state;
    uint8_t mine[16][4], theirs[16][4];
    int fds[2];
    assert_true(tr_ok(rand_public(mine[0], 4)));       /* the pool is filled */
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        uint8_t b[16][4];
        int ok = 1;
        for (int i = 0; i < 16; i++) ok = ok && tr_ok(rand_public(b[i], 4));
        ssize_t w = write(fds[1], b, sizeof b);
        _exit(ok && w == (ssize_t)sizeof b ? 0 : 1);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], theirs, sizeof theirs), (ssize_t)sizeof theirs);
    close(fds[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    for (int i = 0; i < 16; i++) assert_true(tr_ok(rand_public(mine[i], 4)));
    for (int i = 0; i < 16; i++) assert_memory_not_equal(mine[i], theirs[i], 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bytes_fill),
        cmocka_unit_test(bytes_no_stuck_bits),
        cmocka_unit_test(uuid_shape),
        cmocka_unit_test(public_bytes),
        cmocka_unit_test(public_not_shared_with_fork_child),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    crypto_thread_cleanup();
    return rc;
}
