/*
 * tls_test.c -- the TLS credentials (http/tls.c) and the local CA
 * (crypto/certgen.c).
 *
 * The priority strings: GnuTLS accepts them, and every suite they enable
 * is AEAD with ECDHE (TLS 1.2) or a TLS 1.3 suite -- no CBC, no SHA-1
 * MAC, no static RSA or finite-field DHE.  Loading: a generated pair
 * loads, and each way a pair can be wrong is refused with its message: the
 * key file's mode (every group and other bit), a key of another
 * certificate, garbage, an empty file, a missing file.  Reload: the
 * generation moves on success, stays on failure, and the callback hands
 * out the current pair; retired pairs are freed only below the oldest
 * open connection's generation.
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

#include "core/errors.h"
#include "crypto/certgen.h"
#include "crypto/hash.h"
#include "http/tls.h"

static char root[64];
static char a_dir[128], b_dir[128];
static char a_cert[160], a_key[160], b_cert[160], b_key[160];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/tresor-tls-test.XXXXXX");
    if (!mkdtemp(root)) return -1;
    snprintf(a_dir, sizeof a_dir, "%s/a", root);
    snprintf(b_dir, sizeof b_dir, "%s/b", root);
    if (mkdir(a_dir, 0700) || mkdir(b_dir, 0700)) return -1;
    if (tr_failed(crypto_init())) return -1;
    if (tr_failed(certgen_write(a_dir, "localhost", "DNS:localhost,IP:127.0.0.1,IP:::1"))) return -1;
    if (tr_failed(certgen_write(b_dir, "b.example", "DNS:b.example"))) return -1;
    snprintf(a_cert, sizeof a_cert, "%s/server.pem", a_dir);
    snprintf(a_key, sizeof a_key, "%s/server.key", a_dir);
    snprintf(b_cert, sizeof b_cert, "%s/server.pem", b_dir);
    snprintf(b_key, sizeof b_key, "%s/server.key", b_dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    chmod(path, mode);
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
    char buf[8192];
    FILE *f = fopen(from, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    write_file(to, buf, mode);
}

static void priorities(void **state)
{
    (void)state;
    assert_null(tls_priorities(11));
    assert_null(tls_priorities(14));
    for (unsigned v = 12; v <= 13; v++) {
        gnutls_priority_t p = NULL;
        const char *err = NULL;
        assert_int_equal(gnutls_priority_init(&p, tls_priorities(v), &err), 0);
        unsigned n = 0, tls12 = 0;
        for (unsigned i = 0;; i++) {
            unsigned idx;
            int rc = gnutls_priority_get_cipher_suite_index(p, i, &idx);
            if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) break;
            if (rc < 0) continue;
            unsigned char id[2];
            gnutls_kx_algorithm_t kx;
            gnutls_cipher_algorithm_t c;
            gnutls_mac_algorithm_t mac;
            gnutls_protocol_t minv;
            const char *name = gnutls_cipher_suite_info(idx, id, &kx, &c, &mac, &minv);
            assert_non_null(name);
            n++;
            /* AEAD only: GCM or ChaCha20-Poly1305, never CBC */
            assert_true(c == GNUTLS_CIPHER_AES_128_GCM || c == GNUTLS_CIPHER_AES_256_GCM ||
                        c == GNUTLS_CIPHER_CHACHA20_POLY1305);
            assert_null(strstr(name, "CBC"));
            if (minv == GNUTLS_TLS1_3) continue;
            tls12++;
            assert_int_equal(v, 12);            /* no TLS 1.2 suite under 1.3 only */
            assert_true(kx == GNUTLS_KX_ECDHE_ECDSA || kx == GNUTLS_KX_ECDHE_RSA);
            assert_int_equal(mac, GNUTLS_MAC_AEAD);
        }
        assert_true(n >= 3);
        if (v == 12) assert_true(tls12 >= 4);
        gnutls_priority_deinit(p);
    }
}

static void loads_a_generated_pair(void **state)
{
    (void)state;
    struct tls_ctx *t = NULL;
    assert_true(tr_ok(tls_open(a_cert, a_key, 12, &t)));
    assert_int_equal(tls_min_version(t), 12);
    assert_int_equal(tls_generation(t), 1);
    char line[512];
    tls_describe(t, line, sizeof line);
    assert_non_null(strstr(line, "certificate CN=localhost, valid until "));
    assert_non_null(strstr(line, "chain of 1"));
    assert_null(strstr(line, "EXPIRED"));
    gnutls_pcert_st *pc = NULL;
    unsigned npc = 0;
    gnutls_privkey_t pk = NULL;
    assert_int_equal(tls_cert_callback(NULL, NULL, 0, NULL, 0, &pc, &npc, &pk), 0);
    assert_non_null(pc);
    assert_int_equal(npc, 1);
    assert_non_null(pk);
    tls_free(t);
    /* No context: the callback refuses rather than hand out freed memory. */
    assert_int_equal(tls_cert_callback(NULL, NULL, 0, NULL, 0, &pc, &npc, &pk), -1);
}

static void chain_in_the_cert_file(void **state)
{
    (void)state;
    char chain[200], ca[160], text[8192] = "";
    snprintf(chain, sizeof chain, "%s/chain.pem", root);
    snprintf(ca, sizeof ca, "%s/ca.pem", a_dir);
    const char *parts[] = { a_cert, ca };
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(parts[i], "rb");
        assert_non_null(f);
        size_t len = strlen(text);
        len += fread(text + len, 1, sizeof text - 1 - len, f);
        text[len] = '\0';
        fclose(f);
    }
    write_file(chain, text, 0644);
    struct tls_ctx *t = NULL;
    assert_true(tr_ok(tls_open(chain, a_key, 13, &t)));
    char line[512];
    tls_describe(t, line, sizeof line);
    assert_non_null(strstr(line, "chain of 2"));
    tls_free(t);
}

static void key_mode_refused(void **state)
{
    (void)state;
    char key[200], want[512];
    snprintf(key, sizeof key, "%s/mode.key", root);
    const mode_t modes[] = { 0640, 0604, 0620, 0602, 0610, 0601, 0644, 0660, 0666 };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        copy_file(a_key, key, modes[i]);
        struct tls_ctx *t = NULL;
        tr_result r = tls_open(a_cert, key, 12, &t);
        assert_int_equal(tr_code(r), TR_E_VALIDATION);
        assert_null(t);
        snprintf(want, sizeof want, "the TLS key file %s is accessible by group or others (mode %04o): "
                 "refusing to use it; chmod 600 %s", key, (unsigned)modes[i], key);
        assert_string_equal(tr_last_error()->message, want);
    }
    copy_file(a_key, key, 0400);            /* owner read-only is fine */
    struct tls_ctx *t = NULL;
    assert_true(tr_ok(tls_open(a_cert, key, 12, &t)));
    tls_free(t);
}

static void bad_pairs_refused(void **state)
{
    (void)state;
    char junk[200], empty[200], badkey[200], want[512];
    snprintf(junk, sizeof junk, "%s/junk.pem", root);
    snprintf(empty, sizeof empty, "%s/empty.pem", root);
    snprintf(badkey, sizeof badkey, "%s/bad.key", root);
    write_file(junk, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 0644);
    write_file(empty, "", 0600);
    write_file(badkey, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 0600);
    struct tls_ctx *t = NULL;

    assert_int_equal(tr_code(tls_open(a_cert, b_key, 12, &t)), TR_E_VALIDATION);
    snprintf(want, sizeof want, "the TLS key in %s is not the key of the certificate in %s (the first "
             "certificate of the file)", b_key, a_cert);
    assert_string_equal(tr_last_error()->message, want);

    assert_int_equal(tr_code(tls_open(junk, a_key, 12, &t)), TR_E_VALIDATION);
    assert_non_null(strstr(tr_last_error()->message, "holds no usable PEM certificate chain"));
    assert_int_equal(tr_code(tls_open(a_cert, badkey, 12, &t)), TR_E_VALIDATION);
    assert_non_null(strstr(tr_last_error()->message, "holds no usable unencrypted PEM private key"));
    assert_int_equal(tr_code(tls_open(empty, a_key, 12, &t)), TR_E_VALIDATION);
    snprintf(want, sizeof want, "the TLS certificate file %s is empty", empty);
    assert_string_equal(tr_last_error()->message, want);
    assert_int_equal(tr_code(tls_open("/nonexistent/c.pem", a_key, 12, &t)), TR_E_VALIDATION);
    assert_string_equal(tr_last_error()->message,
                        "cannot read the TLS certificate file /nonexistent/c.pem: No such file or directory");
    assert_int_equal(tr_code(tls_open(a_cert, root, 12, &t)), TR_E_VALIDATION);   /* a directory */
    assert_int_equal(tr_code(tls_open(a_cert, a_key, 11, &t)), TR_E_INTERNAL);
    assert_null(t);
}

static void reload_and_release(void **state)
{
    (void)state;
    char cert[200], key[200];
    snprintf(cert, sizeof cert, "%s/live.pem", root);
    snprintf(key, sizeof key, "%s/live.key", root);
    copy_file(a_cert, cert, 0644);
    copy_file(a_key, key, 0600);
    struct tls_ctx *t = NULL;
    assert_true(tr_ok(tls_open(cert, key, 12, &t)));
    gnutls_pcert_st *first = NULL, *pc = NULL;
    unsigned npc = 0;
    gnutls_privkey_t pk = NULL;
    assert_int_equal(tls_cert_callback(NULL, NULL, 0, NULL, 0, &first, &npc, &pk), 0);

    /* A failed reload (the new cert with the old key) changes nothing. */
    copy_file(b_cert, cert, 0644);
    assert_int_equal(tr_code(tls_reload(t)), TR_E_VALIDATION);
    assert_int_equal(tls_generation(t), 1);
    assert_false(tls_has_retired(t));
    assert_int_equal(tls_cert_callback(NULL, NULL, 0, NULL, 0, &pc, &npc, &pk), 0);
    assert_ptr_equal(pc, first);

    /* Both files replaced: the new pair serves, the old one is retired. */
    copy_file(b_key, key, 0600);
    assert_true(tr_ok(tls_reload(t)));
    assert_int_equal(tls_generation(t), 2);
    assert_true(tls_has_retired(t));
    assert_int_equal(tls_cert_callback(NULL, NULL, 0, NULL, 0, &pc, &npc, &pk), 0);
    assert_ptr_not_equal(pc, first);
    char line[512];
    tls_describe(t, line, sizeof line);
    assert_non_null(strstr(line, "CN=b.example"));

    /* A connection opened under generation 1 is open: generation 1 stays. */
    tls_release(t, 1);
    assert_true(tls_has_retired(t));
    /* Once the oldest open connection is of generation 2, it goes. */
    tls_release(t, 2);
    assert_false(tls_has_retired(t));
    /* A key file made group-readable is refused at reload too. */
    chmod(key, 0640);
    assert_int_equal(tr_code(tls_reload(t)), TR_E_VALIDATION);
    assert_int_equal(tls_generation(t), 2);
    tls_free(t);                            /* frees the current pair */
}

static void certgen_files(void **state)
{
    (void)state;
    const char *names[] = { "ca.key", "ca.pem", "server.key", "server.pem" };
    const mode_t modes[] = { 0600, 0644, 0600, 0644 };
    for (int i = 0; i < 4; i++) {
        char p[200];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", a_dir, names[i]);
        assert_int_equal(stat(p, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, modes[i]);
    }
    /* A directory that does not exist: an error naming the file. */
    assert_int_equal(tr_code(certgen_write("/nonexistent/dir", "x", "DNS:x")), TR_E_INTERNAL);
    assert_non_null(strstr(tr_last_error()->message, "/nonexistent/dir/.ca.key.tmp"));
    /* A subject alternative name OpenSSL cannot parse. */
    assert_int_equal(tr_code(certgen_write(b_dir, "x", "NOTATYPE:x")), TR_E_INTERNAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(priorities),
        cmocka_unit_test(loads_a_generated_pair),
        cmocka_unit_test(chain_in_the_cert_file),
        cmocka_unit_test(key_mode_refused),
        cmocka_unit_test(bad_pairs_refused),
        cmocka_unit_test(reload_and_release),
        cmocka_unit_test(certgen_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
