/*
 * keyring_test.c -- root key file and wrapping (crypto/keyring.c).
 *
 * Works in a fresh mkdtemp directory per test.  Covers: creation (mode
 * 0600, 32 bytes, never overwritten, atomic: no temp file left), reopening gives a keyring that
 * unwraps earlier wraps, refusal of a group/other-accessible, short, long,
 * missing or symlinked root.key, and the tamper cases: wrong label, every
 * byte of a wrap flipped, truncation, another root key.  keyring_load_file
 * and keyring_install (tresor restore): a key moved from one dir to another
 * unwraps the first dir's wraps; install never replaces a root.key; a
 * loose, short or missing key file is refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "crypto/hash.h"
#include "crypto/keyring.h"

#define WRAP_OVERHEAD (1 + 12 + 16)

static const char label[] = "kms-material:1234abcd-12ab-34cd-56ef-1234567890ab:1";
static const uint8_t secret[32] = "0123456789abcdef0123456789abcde";

struct tmp { char dir[64]; char key[96]; };

static int tmp_setup(void **state)
{
    struct tmp *t = calloc(1, sizeof *t);
    if (!t) return -1;
    snprintf(t->dir, sizeof t->dir, "/tmp/keyring_test.XXXXXX");
    if (!mkdtemp(t->dir)) {
        free(t);
        return -1;
    }
    snprintf(t->key, sizeof t->key, "%s/root.key", t->dir);
    *state = t;
    return 0;
}

static int tmp_teardown(void **state)
{
    struct tmp *t = *state;
    (void)unlink(t->key);
    (void)rmdir(t->dir);
    free(t);
    return 0;
}

static void write_file(const char *path, const void *p, size_t n, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    assert_int_equal(fchmod(fd, mode), 0);   /* not subject to umask */
    close(fd);
}

static size_t read_file(const char *path, uint8_t *p, size_t cap)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(p, 1, cap, f);
    fclose(f);
    return n;
}

/* A refused keyring_open: TR_E_INTERNAL, a message naming the problem. */
static void assert_refused(const char *dir, bool create, const char *why)
{
    struct keyring *kr = NULL;
    assert_int_equal(tr_code(keyring_open(dir, create, &kr)), TR_E_INTERNAL);
    assert_null(kr);
    assert_true(tr_last_error()->has_message);
    if (!strstr(tr_last_error()->message, why))
        fail_msg("message '%s' lacks '%s'", tr_last_error()->message, why);
}

static void create_and_reopen(void **state)
{
    struct tmp *t = *state;
    struct keyring *kr = NULL;
    struct buf w1 = BUF_INIT(256), w2 = BUF_INIT(256), pt = BUF_SECRET(256);
    struct stat st;
    uint8_t on_disk[64], again[64];

    assert_true(tr_ok(keyring_open(t->dir, true, &kr)));
    assert_int_equal(stat(t->key, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, 32);
    assert_int_equal(read_file(t->key, on_disk, sizeof on_disk), 32);

    assert_true(tr_ok(keyring_wrap(kr, label, secret, sizeof secret, &w1)));
    assert_int_equal(w1.len, sizeof secret + WRAP_OVERHEAD);
    assert_int_equal(w1.data[0], 0x01);
    assert_memory_not_equal(w1.data + 13, secret, sizeof secret);
    /* Random IV: wrapping twice gives two different wraps. */
    assert_true(tr_ok(keyring_wrap(kr, label, secret, sizeof secret, &w2)));
    assert_memory_not_equal(w1.data, w2.data, w1.len);
    keyring_free(kr);

    /* Reopen without create: same key, both wraps still open. */
    kr = NULL;
    assert_true(tr_ok(keyring_open(t->dir, false, &kr)));
    assert_true(tr_ok(keyring_unwrap(kr, label, w1.data, w1.len, &pt)));
    assert_int_equal(pt.len, sizeof secret);
    assert_memory_equal(pt.data, secret, sizeof secret);
    buf_reset(&pt);
    assert_true(tr_ok(keyring_unwrap(kr, label, w2.data, w2.len, &pt)));
    assert_memory_equal(pt.data, secret, sizeof secret);
    keyring_free(kr);

    /* Reopen with create: the existing key is kept, not replaced. */
    kr = NULL;
    assert_true(tr_ok(keyring_open(t->dir, true, &kr)));
    assert_int_equal(read_file(t->key, again, sizeof again), 32);
    assert_memory_equal(on_disk, again, 32);
    buf_reset(&pt);
    assert_true(tr_ok(keyring_unwrap(kr, label, w1.data, w1.len, &pt)));
    assert_memory_equal(pt.data, secret, sizeof secret);

    /* The same bytes through keyring_from_bytes are the same keyring. */
    struct keyring *kb = NULL;
    assert_true(tr_ok(keyring_from_bytes(on_disk, &kb)));
    buf_reset(&pt);
    assert_true(tr_ok(keyring_unwrap(kb, label, w1.data, w1.len, &pt)));
    assert_memory_equal(pt.data, secret, sizeof secret);
    keyring_free(kb);

    keyring_free(kr);
    buf_free(&w1);
    buf_free(&w2);
    buf_free(&pt);
}

static void two_fresh_dirs_differ(void **state)
{
    struct tmp *t = *state;
    struct keyring *a = NULL, *b = NULL;
    struct buf w = BUF_INIT(256), pt = BUF_SECRET(256);
    char dir2[64];
    snprintf(dir2, sizeof dir2, "/tmp/keyring_test.XXXXXX");
    assert_non_null(mkdtemp(dir2));
    assert_true(tr_ok(keyring_open(t->dir, true, &a)));
    assert_true(tr_ok(keyring_open(dir2, true, &b)));
    assert_true(tr_ok(keyring_wrap(a, label, secret, sizeof secret, &w)));
    assert_int_equal(tr_code(keyring_unwrap(b, label, w.data, w.len, &pt)), TR_E_INTERNAL);
    assert_int_equal(pt.len, 0);
    keyring_free(a);
    keyring_free(b);
    buf_free(&w);
    buf_free(&pt);
    char k2[96];
    snprintf(k2, sizeof k2, "%s/root.key", dir2);
    unlink(k2);
    rmdir(dir2);
}

/* Creation leaves root.key and nothing else (no temp file), and a
 * root.key that appears first (another process won) is loaded, not
 * replaced. */
static void creation_is_atomic(void **state)
{
    struct tmp *t = *state;
    struct keyring *kr = NULL;
    assert_true(tr_ok(keyring_open(t->dir, true, &kr)));
    keyring_free(kr);
    DIR *d = opendir(t->dir);
    assert_non_null(d);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        assert_string_equal(e->d_name, "root.key");
        files++;
    }
    closedir(d);
    assert_int_equal(files, 1);

    uint8_t theirs[32];
    memset(theirs, 0x5a, sizeof theirs);
    assert_int_equal(unlink(t->key), 0);
    write_file(t->key, theirs, sizeof theirs, 0600);
    struct buf w = BUF_INIT(256), out = BUF_SECRET(64);
    struct keyring *mine = NULL;
    assert_true(tr_ok(keyring_open(t->dir, true, &kr)));
    assert_true(tr_ok(keyring_from_bytes(theirs, &mine)));
    assert_true(tr_ok(keyring_wrap(mine, label, secret, sizeof secret, &w)));
    assert_true(tr_ok(keyring_unwrap(kr, label, w.data, w.len, &out)));
    buf_free(&w);
    buf_free(&out);
    keyring_free(kr);
    keyring_free(mine);
}

static void refuses_bad_root_key(void **state)
{
    struct tmp *t = *state;
    uint8_t bytes[33] = { 1 };

    /* Absent and create == false. */
    assert_refused(t->dir, false, "root.key");

    write_file(t->key, bytes, 32, 0644);
    assert_refused(t->dir, false, "0644");
    assert_refused(t->dir, true, "group and other");
    write_file(t->key, bytes, 32, 0640);
    assert_refused(t->dir, false, "group and other");
    write_file(t->key, bytes, 32, 0602);
    assert_refused(t->dir, false, "group and other");

    write_file(t->key, bytes, 31, 0600);
    assert_refused(t->dir, false, "31 bytes");
    assert_refused(t->dir, true, "31 bytes");   /* never "repaired" by create */
    write_file(t->key, bytes, 33, 0600);
    assert_refused(t->dir, false, "33 bytes");
    write_file(t->key, bytes, 0, 0600);
    assert_refused(t->dir, true, "0 bytes");

    /* The good case, for contrast: 32 bytes, 0600 (0400 is fine too). */
    struct keyring *kr = NULL;
    write_file(t->key, bytes, 32, 0400);
    assert_true(tr_ok(keyring_open(t->dir, false, &kr)));
    keyring_free(kr);
    assert_int_equal(unlink(t->key), 0);

    /* A symlink is not followed, whatever it points to. */
    char target[96];
    snprintf(target, sizeof target, "%s/real.key", t->dir);
    write_file(target, bytes, 32, 0600);
    assert_int_equal(symlink(target, t->key), 0);
    assert_refused(t->dir, false, "root.key");
    assert_refused(t->dir, true, "root.key");
    unlink(target);

    /* A directory that does not exist. */
    assert_refused("/nonexistent/tresor-test", true, "/nonexistent/tresor-test/root.key");
}

static void wrong_label_and_tamper(void **state)
{
    (void)state;
    uint8_t root[32];
    struct keyring *kr = NULL;
    struct buf w = BUF_INIT(256), pt = BUF_SECRET(256);
    for (int i = 0; i < 32; i++) root[i] = (uint8_t)(i + 100);
    assert_true(tr_ok(keyring_from_bytes(root, &kr)));
    assert_true(tr_ok(keyring_wrap(kr, label, secret, sizeof secret, &w)));

    /* Another record's label. */
    static const char *labels[] = {
        "kms-material:1234abcd-12ab-34cd-56ef-1234567890ab:2",
        "kms-material:1234abcd-12ab-34cd-56ef-1234567890ac:1",
        "access-key:AKIAIOSFODNN7EXAMPLE", "",
        "kms-material:1234abcd-12ab-34cd-56ef-1234567890ab:1 ",
    };
    for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++) {
        assert_int_equal(tr_code(keyring_unwrap(kr, labels[i], w.data, w.len, &pt)),
                         TR_E_INTERNAL);
        assert_non_null(strstr(tr_last_error()->message, "does not authenticate"));
        assert_int_equal(pt.len, 0);
    }

    /* Every byte flipped. */
    uint8_t b[sizeof secret + WRAP_OVERHEAD];
    assert_int_equal(w.len, sizeof b);
    for (size_t i = 0; i < sizeof b; i++) {
        memcpy(b, w.data, sizeof b);
        b[i] ^= 0x04;
        assert_int_equal(tr_code(keyring_unwrap(kr, label, b, sizeof b, &pt)), TR_E_INTERNAL);
        assert_int_equal(pt.len, 0);
    }
    /* Every truncation, and one extra byte. */
    for (size_t n = 0; n < w.len; n++) {
        assert_int_equal(tr_code(keyring_unwrap(kr, label, w.data, n, &pt)), TR_E_INTERNAL);
        assert_int_equal(pt.len, 0);
    }
    uint8_t longer[sizeof b + 1];
    memcpy(longer, w.data, sizeof b);
    longer[sizeof b] = 0;
    assert_int_equal(tr_code(keyring_unwrap(kr, label, longer, sizeof longer, &pt)),
                     TR_E_INTERNAL);

    /* Another root key. */
    struct keyring *other = NULL;
    root[0] ^= 1;
    assert_true(tr_ok(keyring_from_bytes(root, &other)));
    assert_int_equal(tr_code(keyring_unwrap(other, label, w.data, w.len, &pt)), TR_E_INTERNAL);
    keyring_free(other);

    /* Still fine with everything right, appended after existing bytes. */
    assert_true(tr_ok(buf_append(&pt, "x", 1)));
    assert_true(tr_ok(keyring_unwrap(kr, label, w.data, w.len, &pt)));
    assert_int_equal(pt.len, 1 + sizeof secret);
    assert_memory_equal(pt.data + 1, secret, sizeof secret);

    keyring_free(kr);
    buf_free(&w);
    buf_free(&pt);
}

static void empty_secret_and_bad_args(void **state)
{
    (void)state;
    uint8_t root[32] = { 9 };
    struct keyring *kr = NULL;
    struct buf w = BUF_INIT(256), pt = BUF_SECRET(256), tiny = BUF_INIT(WRAP_OVERHEAD + 3);
    assert_true(tr_ok(keyring_from_bytes(root, &kr)));
    assert_true(tr_ok(keyring_wrap(kr, label, NULL, 0, &w)));
    assert_int_equal(w.len, WRAP_OVERHEAD);
    assert_true(tr_ok(keyring_unwrap(kr, label, w.data, w.len, &pt)));
    assert_int_equal(pt.len, 0);

    assert_int_equal(tr_code(keyring_wrap(kr, NULL, secret, 4, &w)), TR_E_INTERNAL);
    assert_int_equal(tr_code(keyring_wrap(NULL, label, secret, 4, &w)), TR_E_INTERNAL);
    assert_int_equal(tr_code(keyring_wrap(kr, label, NULL, 4, &w)), TR_E_INTERNAL);
    assert_int_equal(tr_code(keyring_unwrap(kr, label, NULL, 4, &pt)), TR_E_INTERNAL);
    assert_int_equal(tr_code(keyring_from_bytes(NULL, &kr)), TR_E_INTERNAL);
    /* Output cap respected, nothing appended. */
    assert_int_equal(tr_code(keyring_wrap(kr, label, secret, 4, &tiny)), TR_E_VALIDATION);
    assert_int_equal(tiny.len, 0);
    assert_true(tr_ok(keyring_wrap(kr, label, secret, 3, &tiny)));
    keyring_free(kr);
    keyring_free(NULL);
    buf_free(&w);
    buf_free(&pt);
    buf_free(&tiny);
}

/* keyring_load_file + keyring_install: the key of one data dir, kept
 * elsewhere, installed into another unwraps what the first wrapped; the
 * file is 0600; an existing root.key is never replaced; a key file that
 * is loose (0644), short or missing is refused. */
static void load_file_and_install(void **state)
{
    struct tmp *t = *state;
    struct keyring *a = NULL, *b = NULL, *c = NULL;
    struct buf w = BUF_INIT(256), pt = BUF_SECRET(256);
    char dir2[64], k2[96], kept[96];
    uint8_t raw[64], raw2[64];
    snprintf(dir2, sizeof dir2, "/tmp/keyring_test.XXXXXX");
    assert_non_null(mkdtemp(dir2));
    snprintf(k2, sizeof k2, "%s/root.key", dir2);
    snprintf(kept, sizeof kept, "%s/kept.key", dir2);
    assert_true(tr_ok(keyring_open(t->dir, true, &a)));
    assert_true(tr_ok(keyring_wrap(a, label, secret, sizeof secret, &w)));

    assert_true(tr_ok(keyring_load_file(t->key, &b)));
    assert_true(tr_ok(keyring_install(b, dir2)));
    struct stat sb;
    assert_int_equal(lstat(k2, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_int_equal(read_file(t->key, raw, sizeof raw), 32);
    assert_int_equal(read_file(k2, raw2, sizeof raw2), 32);
    assert_memory_equal(raw, raw2, 32);
    /* never over an existing root.key */
    assert_int_equal(tr_code(keyring_install(b, dir2)), TR_E_INTERNAL);
    assert_non_null(strstr(tr_last_error()->message, "File exists"));
    assert_true(tr_ok(keyring_open(dir2, false, &c)));
    assert_true(tr_ok(keyring_unwrap(c, label, w.data, w.len, &pt)));
    assert_memory_equal(pt.data, secret, sizeof secret);

    /* refused key files */
    struct keyring *x = NULL;
    write_file(kept, raw, 32, 0644);
    assert_int_equal(tr_code(keyring_load_file(kept, &x)), TR_E_INTERNAL);
    assert_non_null(strstr(tr_last_error()->message, "has mode 0644"));
    write_file(kept, raw, 31, 0600);
    assert_int_equal(tr_code(keyring_load_file(kept, &x)), TR_E_INTERNAL);
    assert_non_null(strstr(tr_last_error()->message, "31 bytes"));
    unlink(kept);
    assert_int_equal(tr_code(keyring_load_file(kept, &x)), TR_E_INTERNAL);
    assert_null(x);

    keyring_free(a);
    keyring_free(b);
    keyring_free(c);
    buf_free(&w);
    buf_free(&pt);
    unlink(k2);
    rmdir(dir2);
}

/* The records' labels, exactly as wrapped records were always bound to
 * them (changing one would orphan every stored record); an id too long
 * for the label is a failure, never a cut label. */
static void record_labels(void **state)
{
    (void)state;
    char lbl[KEYRING_LABEL_MAX], id[KEYRING_LABEL_MAX + 8];
    assert_true(tr_ok(keyring_label_material(lbl, "1234abcd-12ab-34cd-56ef-1234567890ab", 7)));
    assert_string_equal(lbl, "kms-material:1234abcd-12ab-34cd-56ef-1234567890ab:7");
    assert_true(tr_ok(keyring_label_access_key(lbl, "AKIAIOSFODNN7EXAMPLE")));
    assert_string_equal(lbl, "access-key:AKIAIOSFODNN7EXAMPLE");
    memset(id, 'A', sizeof id - 1);
    id[sizeof id - 1] = 0;
    assert_true(tr_failed(keyring_label_access_key(lbl, id)));
    tr_clear_error();
    assert_true(tr_failed(keyring_label_material(lbl, id, 1)));
    tr_clear_error();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(create_and_reopen, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(two_fresh_dirs_differ, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(creation_is_atomic, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(refuses_bad_root_key, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(load_file_and_install, tmp_setup, tmp_teardown),
        cmocka_unit_test(wrong_label_and_tamper),
        cmocka_unit_test(empty_secret_and_bad_args),
        cmocka_unit_test(record_labels),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    crypto_thread_cleanup();
    return rc;
}
