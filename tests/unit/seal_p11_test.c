/*
 * seal_p11_test.c -- root.p11's format (crypto/seal_p11.c) and the
 * migration between seals (crypto/seal_migrate.c).
 *
 * The format is tested against a stand-in for the token: OpenSSL's
 * AES-256-GCM under a fixed key, plugged into struct seal_p11_cipher (the
 * real token is tests/e2e/test_seal_pkcs11.py's, SoftHSM2).  Covers: the
 * layout, a fresh IV each time, the root key never in the clear, every
 * truncation and an extension, a bad magic, version, mechanism and
 * labels, every byte of the file changed (each refused, the output
 * wiped), another key; writing a given root key under each seal and
 * opening it; which seal a dir has; the migration record: a migration
 * stopped after the new file (both seal files left) is finished, one
 * stopped before it is undone, a damaged record refused; a file-to-
 * passphrase-to-file migration keeping the key.
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
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "crypto/keyring.h"
#include "crypto/seal.h"

static const uint8_t root[32] = "root-key-bytes-0123456789abcdef";
static uint8_t token_key[32] = "token-key-bytes-0123456789abcde";

static TR_RESULT ossl_seal(void *ctx, const uint8_t iv[12], const uint8_t *aad, size_t naad, const uint8_t pt[32],
                           uint8_t ct[32], uint8_t tag[16])
{
    return aead_seal(ctx, iv, aad, naad, pt, 32, ct, tag);
}

static TR_RESULT ossl_open(void *ctx, const uint8_t iv[12], const uint8_t *aad, size_t naad, const uint8_t ct[32],
                           const uint8_t tag[16], uint8_t pt[32], bool *auth)
{
    tr_result r = aead_open(ctx, iv, aad, naad, ct, 32, tag, pt);
    *auth = tr_failed(r);
    return r;
}

static const struct seal_p11_cipher cipher = { token_key, ossl_seal, ossl_open };

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= p[i];
    return acc == 0;
}

static size_t make(uint8_t f[SEAL_P11_MAX_LEN])
{
    size_t len = 0;
    assert_true(tr_ok(seal_p11_encode(&cipher, "tok1", "tresor-root", root, f, &len)));
    return len;
}

static void layout_and_round_trip(void **state)
{
    (void)state;
    uint8_t f1[SEAL_P11_MAX_LEN], f2[SEAL_P11_MAX_LEN], out[32];
    struct seal_p11_file pf;
    bool wrong = true;
    size_t n = make(f1);
    assert_int_equal(n, 75 + 4 + 11);
    assert_memory_equal(f1, "tresorTK\x01\x00\x00\x10\x87\x04tok1\x0btresor-root", 30);
    assert_int_equal(make(f2), n);
    assert_memory_not_equal(f1 + 30, f2 + 30, 12);             /* a fresh IV */
    assert_null(memmem(f1, n, root, sizeof root));              /* never in the clear */
    assert_true(tr_ok(seal_p11_parse(f1, n, &pf)));
    assert_string_equal(pf.token, "tok1");
    assert_string_equal(pf.key, "tresor-root");
    assert_int_equal(pf.mech, 0x1087);
    assert_int_equal(pf.header_len, 42);
    assert_ptr_equal(pf.iv, f1 + 30);
    assert_true(tr_ok(seal_p11_decode(&cipher, f1, n, &wrong, out)));
    assert_false(wrong);
    assert_memory_equal(out, root, 32);
    /* The longest labels fit SEAL_P11_MAX_LEN exactly. */
    char tok[33], key[129];
    memset(tok, 'T', 32);
    tok[32] = 0;
    memset(key, 'k', 128);
    key[128] = 0;
    assert_true(tr_ok(seal_p11_encode(&cipher, tok, key, root, f1, &n)));
    assert_int_equal(n, SEAL_P11_MAX_LEN);
    assert_true(tr_ok(seal_p11_decode(&cipher, f1, n, &wrong, out)));
}

static void bad_labels_refused(void **state)
{
    (void)state;
    uint8_t f[SEAL_P11_MAX_LEN];
    size_t n;
    char long_tok[34], long_key[130];
    memset(long_tok, 'T', 33);
    long_tok[33] = 0;
    memset(long_key, 'k', 129);
    long_key[129] = 0;
    const char *bad[][2] = {
        { "", "k" }, { "t", "" }, { long_tok, "k" }, { "t", long_key }, { "tok ", "k" }, { "t", "key " },
        { "t\n", "k" }, { "t", "k\x01" }, { "t\xc3\xa9", "k" }, { NULL, "k" }, { "t", NULL },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_true(tr_failed(seal_p11_encode(&cipher, bad[i][0], bad[i][1], root, f, &n)));
}

static void truncated_extended_and_bad_fields(void **state)
{
    (void)state;
    uint8_t f[SEAL_P11_MAX_LEN + 1] = { 0 }, out[32];
    struct seal_p11_file pf;
    bool wrong = true;
    size_t n = make(f);
    for (size_t k = 0; k < n; k++) {
        assert_true(tr_failed(seal_p11_parse(f, k, &pf)));
        assert_true(tr_failed(seal_p11_decode(&cipher, f, k, &wrong, out)));
        assert_false(wrong);                                    /* not a sealed form: not a key question */
    }
    assert_true(tr_failed(seal_p11_parse(f, n + 1, &pf)));     /* trailing byte */
    assert_true(tr_failed(seal_p11_parse(NULL, 0, &pf)));
    /* magic, version, mechanism, label lengths: each refused by the parser */
    const struct { size_t off; uint8_t val; } bad[] = {
        { 0, 'T' }, { 7, 'k' }, { 8, 0 }, { 8, 2 }, { 12, 0x88 }, { 9, 1 }, { 13, 0 }, { 13, 33 },
        { 14, '\n' }, { 18, 0 }, { 18, 200 }, { 29, ' ' },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t was = f[bad[i].off];
        f[bad[i].off] = bad[i].val;
        assert_true(tr_failed(seal_p11_parse(f, n, &pf)));
        f[bad[i].off] = was;
    }
    assert_true(tr_ok(seal_p11_parse(f, n, &pf)));
}

static void every_byte_changed(void **state)
{
    (void)state;
    uint8_t f[SEAL_P11_MAX_LEN], out[32];
    bool wrong;
    size_t n = make(f);
    for (size_t i = 0; i < n; i++) {
        for (unsigned bit = 0; bit < 8; bit += 7) {
            f[i] ^= (uint8_t)(1u << bit);
            memset(out, 0x55, sizeof out);
            assert_true(tr_failed(seal_p11_decode(&cipher, f, n, &wrong, out)));
            assert_true(all_zero(out, sizeof out));
            f[i] ^= (uint8_t)(1u << bit);
        }
    }
    /* A changed label byte that still parses is caught by the tag (AAD). */
    f[15] = 'x';                                                /* "tok1" -> "txk1" */
    assert_true(tr_failed(seal_p11_decode(&cipher, f, n, &wrong, out)));
    assert_true(wrong);
    f[15] = 'o';
    assert_true(tr_ok(seal_p11_decode(&cipher, f, n, &wrong, out)));
    assert_memory_equal(out, root, 32);
}

static void another_key(void **state)
{
    (void)state;
    uint8_t f[SEAL_P11_MAX_LEN], out[32], other[32] = "another-token-key-0123456789abc";
    bool wrong = false;
    size_t n = make(f);
    struct seal_p11_cipher c2 = cipher;
    c2.ctx = other;
    memset(out, 0x55, sizeof out);
    assert_true(tr_failed(seal_p11_decode(&c2, f, n, &wrong, out)));
    assert_true(wrong);
    assert_true(all_zero(out, sizeof out));
}

static char dir[64];

static int dir_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/seal_p11_test.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int dir_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static bool has(const char *name)
{
    char p[128];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

static void put(const char *name, const char *text)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

#define PASS "a passphrase for the test"
static const struct seal_params cheap = { 256, 1, 1 };

static void write_root_under_each_seal(void **state)
{
    (void)state;
    struct seal_how file = { .kind = SEAL_FILE };
    struct seal_how pass = { .kind = SEAL_PASSPHRASE, .secret = (const uint8_t *)PASS,
                             .secret_len = sizeof PASS - 1, .prm = cheap };
    struct keyring *kr = NULL;
    uint8_t got[32];
    bool wrong;
    enum seal_kind k;

    assert_true(tr_ok(seal_write_root(dir, root, &pass)));
    assert_true(tr_failed(seal_write_root(dir, root, &pass)));     /* never over an existing one */
    assert_true(tr_ok(seal_recorded(dir, &k)));
    assert_int_equal(k, SEAL_PASSPHRASE);
    assert_true(tr_ok(seal_open_how(dir, &pass, &wrong, &kr)));
    keyring_root_copy(kr, got);
    assert_memory_equal(got, root, 32);
    keyring_free(kr);
    pass.secret_len--;
    assert_true(tr_failed(seal_open_how(dir, &pass, &wrong, &kr)));
    assert_true(wrong);
    pass.secret_len++;
    /* A second seal file beside it, with no migration record: refused. */
    assert_true(tr_ok(seal_write_root(dir, root, &file)));
    assert_true(tr_failed(seal_recorded(dir, &k)));
    assert_non_null(strstr(tr_last_error()->message, "holds both root.key and root.seal"));
}

static void recover_a_stopped_migration(void **state)
{
    (void)state;
    struct seal_how file = { .kind = SEAL_FILE };
    struct seal_how pass = { .kind = SEAL_PASSPHRASE, .secret = (const uint8_t *)PASS,
                             .secret_len = sizeof PASS - 1, .prm = cheap };
    enum seal_kind k;
    /* Stopped after the new file: both files and the record -> finished. */
    assert_true(tr_ok(seal_write_root(dir, root, &file)));
    assert_true(tr_ok(seal_write_root(dir, root, &pass)));
    put("seal.migrating", "tresor seal migrate v1\nfrom file\nto passphrase\n");
    assert_true(tr_ok(seal_recorded(dir, &k)));
    assert_int_equal(k, SEAL_PASSPHRASE);
    assert_false(has("root.key"));
    assert_false(has("seal.migrating"));
    assert_true(has("root.seal"));
    /* Stopped before the new file: the record alone goes. */
    put("seal.migrating", "tresor seal migrate v1\nfrom passphrase\nto pkcs11\n");
    assert_true(tr_ok(seal_recorded(dir, &k)));
    assert_int_equal(k, SEAL_PASSPHRASE);
    assert_false(has("seal.migrating"));
    assert_true(has("root.seal"));
    /* A record that is not one: refused, nothing removed. */
    put("seal.migrating", "tresor seal migrate v1\nfrom passphrase\nto passphrase\n");
    assert_true(tr_failed(seal_recorded(dir, &k)));
    put("seal.migrating", "garbage");
    assert_true(tr_failed(seal_recorded(dir, &k)));
    assert_true(has("seal.migrating") && has("root.seal"));
}

static void migrate_keeps_the_key(void **state)
{
    (void)state;
    struct seal_how file = { .kind = SEAL_FILE };
    struct seal_how pass = { .kind = SEAL_PASSPHRASE, .secret = (const uint8_t *)PASS,
                             .secret_len = sizeof PASS - 1, .prm = cheap };
    struct keyring *kr = NULL;
    uint8_t got[32];
    bool wrong;
    enum seal_kind k;
    assert_true(tr_ok(seal_write_root(dir, root, &file)));
    assert_true(tr_failed(seal_migrate(dir, &file, &file)));       /* already that seal */
    assert_true(tr_ok(seal_migrate(dir, &file, &pass)));
    assert_false(has("root.key"));
    assert_false(has("seal.migrating"));
    assert_true(tr_ok(seal_recorded(dir, &k)));
    assert_int_equal(k, SEAL_PASSPHRASE);
    assert_true(tr_ok(seal_open_how(dir, &pass, &wrong, &kr)));
    keyring_root_copy(kr, got);
    keyring_free(kr);
    assert_memory_equal(got, root, 32);
    /* A wrong passphrase for the source: refused, nothing changed. */
    pass.secret_len--;
    assert_true(tr_failed(seal_migrate(dir, &pass, &file)));
    assert_false(has("root.key"));
    pass.secret_len++;
    assert_true(tr_ok(seal_migrate(dir, &pass, &file)));
    assert_false(has("root.seal"));
    assert_true(tr_ok(seal_open_how(dir, &file, &wrong, &kr)));
    keyring_root_copy(kr, got);
    keyring_free(kr);
    assert_memory_equal(got, root, 32);
    /* A lock held by a "server": the command's exclusive lock is refused
     * (migrate's caller takes it); a held exclusive one refuses a server. */
    int fd = -1, fd2 = -1;
    assert_true(tr_ok(seal_dir_lock(dir, false, &fd)));
    assert_true(tr_failed(seal_dir_lock(dir, true, &fd2)));
    assert_non_null(strstr(tr_last_error()->message, "a tresor server is running on"));
    assert_int_equal(fd2, -1);
    close(fd);
    assert_true(tr_ok(seal_dir_lock(dir, true, &fd)));
    assert_true(tr_failed(seal_dir_lock(dir, false, &fd2)));
    assert_non_null(strstr(tr_last_error()->message, "rotate-root-key is running on"));
    close(fd);
    tr_clear_error();
    assert_true(has("root.key"));
}

int main(void)
{
    assert_true(tr_ok(crypto_init()));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layout_and_round_trip),
        cmocka_unit_test(bad_labels_refused),
        cmocka_unit_test(truncated_extended_and_bad_fields),
        cmocka_unit_test(every_byte_changed),
        cmocka_unit_test(another_key),
        cmocka_unit_test_setup_teardown(write_root_under_each_seal, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(recover_a_stopped_migration, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(migrate_keeps_the_key, dir_setup, dir_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    crypto_thread_cleanup();
    return rc;
}
