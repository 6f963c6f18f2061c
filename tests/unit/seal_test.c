/*
 * seal_test.c -- the passphrase seal of the root key (crypto/seal.c).
 *
 * Cheap Argon2id parameters (256 KiB, t=1) keep it fast; the format is the
 * same.  Covers: wrap and unwrap, fresh salt and IV each time, the wrong
 * passphrase, every byte of the file changed (each must fail, and the
 * output must be wiped), every truncation and an extension, parameters out
 * of bounds, root.seal created 0600 and reopened (unwrapping what the first
 * keyring wrapped), which seal a dir has, and the passphrase sources (file,
 * its mode, TRESOR_PASSPHRASE wiped and unset, standard input's one line).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "crypto/hash.h"
#include "crypto/keyring.h"
#include "crypto/seal.h"

static const struct seal_params cheap = { 256, 1, 1 };
static const uint8_t root[32] = "root-key-bytes-0123456789abcdef";
#define PASS "correct horse battery staple"
#define PASS_LEN (sizeof PASS - 1)

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= p[i];
    return acc == 0;
}

static void wrap_unwrap(void **state)
{
    (void)state;
    uint8_t f1[SEAL_FILE_LEN], f2[SEAL_FILE_LEN], out[32];
    bool wrong = true;
    assert_true(tr_ok(seal_wrap(root, (const uint8_t *)PASS, PASS_LEN, cheap, f1)));
    assert_true(tr_ok(seal_wrap(root, (const uint8_t *)PASS, PASS_LEN, cheap, f2)));
    assert_memory_not_equal(f1, f2, SEAL_FILE_LEN);             /* fresh salt and IV */
    assert_memory_equal(f1, "tresorRK\x01\x01", 10);
    assert_null(memmem(f1, sizeof f1, root, sizeof root));      /* never in the clear */
    assert_true(tr_ok(seal_unwrap(f1, sizeof f1, (const uint8_t *)PASS, PASS_LEN, &wrong, out)));
    assert_false(wrong);
    assert_memory_equal(out, root, 32);
    memset(out, 0x55, sizeof out);
    assert_true(tr_failed(seal_unwrap(f1, sizeof f1, (const uint8_t *)"correct horse", 13, &wrong, out)));
    assert_true(wrong);
    assert_true(all_zero(out, sizeof out));
    /* A passphrase one byte longer, and none at all, are wrong too. */
    assert_true(tr_failed(seal_unwrap(f1, sizeof f1, (const uint8_t *)PASS "!", PASS_LEN + 1, &wrong, out)));
    assert_true(wrong);
    assert_true(tr_failed(seal_unwrap(f1, sizeof f1, (const uint8_t *)"", 0, &wrong, out)));
    assert_true(wrong);
}

static void every_byte_changed(void **state)
{
    (void)state;
    uint8_t f[SEAL_FILE_LEN], out[32];
    bool wrong;
    assert_true(tr_ok(seal_wrap(root, (const uint8_t *)PASS, PASS_LEN, cheap, f)));
    for (size_t i = 0; i < SEAL_FILE_LEN; i++) {
        for (unsigned bit = 0; bit < 8; bit += 7) {             /* the low and the high bit */
            f[i] ^= (uint8_t)(1u << bit);
            memset(out, 0x55, sizeof out);
            assert_true(tr_failed(seal_unwrap(f, sizeof f, (const uint8_t *)PASS, PASS_LEN, &wrong, out)));
            assert_true(all_zero(out, sizeof out) || !wrong);
            f[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_true(tr_ok(seal_unwrap(f, sizeof f, (const uint8_t *)PASS, PASS_LEN, &wrong, out)));
    assert_memory_equal(out, root, 32);
}

static void truncated_and_extended(void **state)
{
    (void)state;
    uint8_t f[SEAL_FILE_LEN + 1] = { 0 }, out[32];
    bool wrong = true;
    assert_true(tr_ok(seal_wrap(root, (const uint8_t *)PASS, PASS_LEN, cheap, f)));
    for (size_t n = 0; n < SEAL_FILE_LEN; n++) {
        assert_true(tr_failed(seal_unwrap(f, n, (const uint8_t *)PASS, PASS_LEN, &wrong, out)));
        assert_false(wrong);                                    /* not a sealed form: not counted */
    }
    assert_true(tr_failed(seal_unwrap(f, SEAL_FILE_LEN + 1, (const uint8_t *)PASS, PASS_LEN, &wrong, out)));
    assert_false(wrong);
    assert_true(tr_failed(seal_unwrap(NULL, 0, (const uint8_t *)PASS, PASS_LEN, &wrong, out)));
}

static void params_bounded(void **state)
{
    (void)state;
    uint8_t f[SEAL_FILE_LEN], out[32];
    bool wrong;
    const struct seal_params bad[] = {
        { 4, 1, 1 }, { 8 * 1024 * 1024, 1, 1 }, { 256, 0, 1 }, { 256, 65, 1 }, { 256, 1, 0 }, { 256, 1, 17 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_true(tr_failed(seal_wrap(root, (const uint8_t *)PASS, PASS_LEN, bad[i], f)));
    assert_true(tr_failed(seal_wrap(root, (const uint8_t *)"", 0, cheap, f)));
    /* A file claiming huge costs is refused before anything is derived. */
    assert_true(tr_ok(seal_wrap(root, (const uint8_t *)PASS, PASS_LEN, cheap, f)));
    f[10] = 0x7f;                                               /* m_kib ~ 2 TiB */
    assert_true(tr_failed(seal_unwrap(f, sizeof f, (const uint8_t *)PASS, PASS_LEN, &wrong, out)));
    assert_false(wrong);
}

static char dir[64];

static int dir_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/seal_test.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int dir_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *name, const char *text, mode_t mode)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(chmod(p, mode), 0);
}

static void create_reopen_and_detect(void **state)
{
    (void)state;
    struct keyring *kr = NULL, *kr2 = NULL;
    struct buf w = BUF_INIT(1024), pt = BUF_SECRET(1024);
    enum seal_kind k;
    bool wrong;
    char p[128];
    struct stat st;

    assert_true(tr_ok(seal_recorded(dir, &k)));
    assert_int_equal(k, SEAL_NONE);
    assert_true(tr_ok(seal_create_passphrase(dir, (const uint8_t *)PASS, PASS_LEN, cheap, &kr)));
    snprintf(p, sizeof p, "%s/root.seal", dir);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, SEAL_FILE_LEN);
    assert_true(tr_ok(seal_recorded(dir, &k)));
    assert_int_equal(k, SEAL_PASSPHRASE);
    assert_true(tr_ok(keyring_wrap(kr, "label", (const uint8_t *)"hello", 5, &w)));

    assert_true(tr_failed(seal_open_passphrase(dir, (const uint8_t *)"nope", 4, &wrong, &kr2)));
    assert_true(wrong);
    assert_null(kr2);
    assert_true(tr_ok(seal_open_passphrase(dir, (const uint8_t *)PASS, PASS_LEN, &wrong, &kr2)));
    assert_true(tr_ok(keyring_unwrap(kr2, "label", w.data, w.len, &pt)));
    assert_memory_equal(pt.data, "hello", 5);
    /* Created again: the existing file is kept (same root key). */
    keyring_free(kr2);
    kr2 = NULL;
    assert_true(tr_ok(seal_create_passphrase(dir, (const uint8_t *)PASS, PASS_LEN, cheap, &kr2)));
    buf_reset(&pt);
    assert_true(tr_ok(keyring_unwrap(kr2, "label", w.data, w.len, &pt)));

    /* Others may read it: refused. */
    assert_int_equal(chmod(p, 0640), 0);
    assert_true(tr_failed(seal_open_passphrase(dir, (const uint8_t *)PASS, PASS_LEN, &wrong, &kr2)));
    assert_int_equal(chmod(p, 0600), 0);

    /* Both root.key and root.seal: which one is unknown, refused. */
    write_file("root.key", "0123456789abcdef0123456789abcdef", 0600);
    assert_true(tr_failed(seal_recorded(dir, &k)));
    snprintf(p, sizeof p, "%s/root.seal", dir);
    assert_int_equal(unlink(p), 0);
    assert_true(tr_ok(seal_recorded(dir, &k)));
    assert_int_equal(k, SEAL_FILE);

    keyring_free(kr);
    keyring_free(kr2);
    buf_free(&w);
    buf_free(&pt);
}

static void passphrase_sources(void **state)
{
    (void)state;
    struct buf b = BUF_SECRET(SEAL_PASSPHRASE_MAX + 2);
    char p[128];
    snprintf(p, sizeof p, "%s/pass", dir);

    write_file("pass", "s3cret phrase\n", 0600);
    assert_true(tr_ok(seal_passphrase_load(p, &b)));
    assert_int_equal(b.len, 13);
    assert_memory_equal(b.data, "s3cret phrase", 13);
    buf_reset(&b);
    write_file("pass", "s3cret phrase\r\n", 0644);
    assert_true(tr_failed(seal_passphrase_load(p, &b)));       /* others may read it */
    buf_reset(&b);
    write_file("pass", "\n", 0600);
    assert_true(tr_failed(seal_passphrase_load(p, &b)));       /* empty */
    buf_reset(&b);

    unsetenv("TRESOR_PASSPHRASE");
    assert_true(tr_ok(seal_passphrase_load(NULL, &b)));
    assert_int_equal(b.len, 0);                                 /* neither: sealed */
    setenv("TRESOR_PASSPHRASE", "from the environment", 1);
    assert_true(tr_ok(seal_passphrase_load(NULL, &b)));
    assert_int_equal(b.len, 20);
    assert_memory_equal(b.data, "from the environment", 20);
    assert_null(getenv("TRESOR_PASSPHRASE"));
    buf_reset(&b);

    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], "line one\nline two\n", 18), 18);
    close(fds[1]);
    assert_true(tr_ok(seal_passphrase_read_fd(fds[0], &b)));
    close(fds[0]);
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.data, "line one", 8);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wrap_unwrap),
        cmocka_unit_test(every_byte_changed),
        cmocka_unit_test(truncated_and_extended),
        cmocka_unit_test(params_bounded),
        cmocka_unit_test_setup_teardown(create_reopen_and_detect, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(passphrase_sources, dir_setup, dir_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    crypto_thread_cleanup();
    return rc;
}
