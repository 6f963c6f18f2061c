/*
 * root_record_test.c -- the root key's check value (crypto/keyring.c), the
 * store's root record and the settling of a rotation cut short
 * (store/root_record.c), the seal's .next files (crypto/seal.c), and the
 * rotation itself (cli/rotate.c).
 *
 * Covers: the check value is HMAC-SHA256(key, label), differs per key; the
 * record round-trips, is absent on a new store, and a damaged one is
 * refused; the settling decision in every state (no .next; a .next and no
 * record; a record that names another file; the digest matching; every
 * byte of the digest changed); settling on disk (finish, drop, dry, both
 * files, repeated); root_verify (no record, the key, another key); the
 * rotation: every material and access key re-wrapped (the new key opens
 * them, the old one no longer does), audit.key's keys unchanged under the
 * new key, the record naming the new key, no .next left; a failure before
 * the commit leaving nothing; the passphrase seal's next file opening
 * under the same passphrase; the sealed form kept in the store
 * (round trip, absent, each kind of damage refused, the file seal's
 * refused) and adopted into a data dir (written, left alone when the same,
 * replaced when it differs, no temporary file left).
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

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "audit/audit.h"
#include "cli/rotate.h"
#include "core/buf.h"
#include "core/str.h"
#include "crypto/hash.h"
#include "crypto/keyring.h"
#include "crypto/seal.h"
#include "store/root_record.h"
#include "store/store.h"

static const uint8_t K1[32] = "root-key-one-0123456789abcdefghi";
static const uint8_t K2[32] = "root-key-two-0123456789abcdefghi";
#define ACCT "111122223333"
#define KEY_ID "11111111-2222-4333-8444-555555555555"

static char dir[64];
static store_t st;

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/root_record_test.XXXXXX");
    if (!mkdtemp(dir) || tr_failed(crypto_init()) || tr_failed(store_sqlite_open(dir, &st))) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    st[0]->close(st);
    st = NULL;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void put_file(const char *name, const void *data, size_t n)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
}

static bool has_file(const char *name)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static size_t get_file(const char *name, uint8_t *out, size_t cap)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, out, cap);
    close(fd);
    assert_true(n >= 0);
    return (size_t)n;
}

static void check_value(void **state)
{
    (void)state;
    struct keyring *a = NULL, *b = NULL;
    uint8_t ca[KEYRING_CHECK_LEN], ca2[KEYRING_CHECK_LEN], cb[KEYRING_CHECK_LEN], want[32];
    unsigned wl = 0;
    assert_true(tr_ok(crypto_init()));
    assert_true(tr_ok(keyring_from_bytes(K1, &a)));
    assert_true(tr_ok(keyring_from_bytes(K2, &b)));
    assert_true(tr_ok(keyring_check_value(a, ca)));
    assert_true(tr_ok(keyring_check_value(a, ca2)));
    assert_true(tr_ok(keyring_check_value(b, cb)));
    assert_memory_equal(ca, ca2, sizeof ca);                    /* deterministic */
    assert_memory_not_equal(ca, cb, sizeof ca);                 /* names its key */
    /* HMAC-SHA256(key, "tresor-root-key-check-v1"), computed apart. */
    assert_non_null(HMAC(EVP_sha256(), K1, 32, (const unsigned char *)"tresor-root-key-check-v1", 24, want, &wl));
    assert_int_equal(wl, 32);
    assert_memory_equal(ca, want, 32);
    assert_null(memmem(ca, sizeof ca, K1, 8));
    keyring_free(a);
    keyring_free(b);
}

static void record_round_trip(void **state)
{
    (void)state;
    struct root_record rec, got;
    assert_true(tr_ok(root_record_get(st, &got)));
    assert_false(got.present);                                   /* never rotated */
    memset(&rec, 0, sizeof rec);
    rec.present = true;
    memset(rec.check, 0xA5, sizeof rec.check);
    rec.nfiles = 2;
    STR_SET(rec.file[0].name, "root.key");
    memset(rec.file[0].digest, 1, ROOT_DIGEST_LEN);
    STR_SET(rec.file[1].name, "audit.key");
    memset(rec.file[1].digest, 2, ROOT_DIGEST_LEN);
    assert_true(tr_ok(st[0]->tx_begin(st)));
    assert_true(tr_ok(root_record_put(st, &rec)));
    assert_true(tr_ok(st[0]->tx_commit(st)));
    assert_true(tr_ok(root_record_get(st, &got)));
    assert_true(got.present);
    assert_memory_equal(got.check, rec.check, sizeof rec.check);
    assert_int_equal(got.nfiles, 2);
    for (size_t i = 0; i < 2; i++) {
        bool audit = strcmp(got.file[i].name, "audit.key") == 0;
        assert_true(audit || strcmp(got.file[i].name, "root.key") == 0);
        assert_memory_equal(got.file[i].digest, rec.file[audit ? 1 : 0].digest, ROOT_DIGEST_LEN);
    }
    /* Damaged: refused, not taken as "no record". */
    static const char *const bad[] = { "", "[]", "{}", "{\"check\":\"abc\"}",
                                       "{\"check\":\"zz\",\"next\":{}}", NULL };
    for (size_t i = 0; bad[i]; i++) {
        struct rel_rec rel = { .from = "tresor", .to = "current", .doc = (char *)bad[i] };
        STR_SET(rel.kind, "root-key");
        assert_true(tr_ok(st[0]->rel_put(st, &rel)));
        tr_result r = root_record_get(st, &got);
        assert_true(tr_failed(r));
        assert_int_equal(tr_code(r), TR_E_STORE_CORRUPT);
        assert_false(got.present);
    }
}

static void sealed_form(void **state)
{
    (void)state;
    uint8_t form[98], other[98], got[256];
    enum seal_kind kind = SEAL_FILE;
    struct buf b = BUF_INIT(4096);
    bool changed = true, exists = false;
    memset(form, 0x5A, sizeof form);
    memset(other, 0xC3, sizeof other);
    assert_true(tr_ok(root_sealed_get(st, &kind, &b)));
    assert_int_equal(kind, SEAL_NONE);                           /* none kept */
    assert_int_equal(b.len, 0);
    assert_true(tr_failed(root_sealed_put(st, SEAL_FILE, form, sizeof form)));  /* never the clear key */
    assert_true(tr_failed(root_sealed_put(st, SEAL_PASSPHRASE, form, 0)));
    assert_true(tr_ok(st[0]->tx_begin(st)));
    assert_true(tr_ok(root_sealed_put(st, SEAL_PASSPHRASE, form, sizeof form)));
    assert_true(tr_ok(st[0]->tx_commit(st)));
    assert_true(tr_ok(root_sealed_get(st, &kind, &b)));
    assert_int_equal(kind, SEAL_PASSPHRASE);
    assert_int_equal(b.len, sizeof form);
    assert_memory_equal(b.data, form, sizeof form);
    /* Damaged: refused, not taken as "none kept". */
    static const char *const bad[] = { "", "[]", "{}", "{\"seal\":\"passphrase\"}",
                                       "{\"seal\":\"file\",\"form\":\"00\"}",
                                       "{\"seal\":\"passphrase\",\"form\":\"\"}",
                                       "{\"seal\":\"passphrase\",\"form\":\"0\"}",
                                       "{\"seal\":\"passphrase\",\"form\":\"zz\"}",
                                       "{\"seal\":\"hsm\",\"form\":\"00\"}", NULL };
    for (size_t i = 0; bad[i]; i++) {
        struct rel_rec rel = { .from = "tresor", .to = "sealed", .doc = (char *)bad[i] };
        STR_SET(rel.kind, "root-key");
        assert_true(tr_ok(st[0]->rel_put(st, &rel)));
        buf_reset(&b);
        tr_result r = root_sealed_get(st, &kind, &b);
        assert_true(tr_failed(r));
        assert_int_equal(tr_code(r), TR_E_STORE_CORRUPT);
        assert_int_equal(kind, SEAL_NONE);
    }
    buf_free(&b);

    /* Adopted: written where none was, kept when the same, replaced. */
    assert_true(tr_ok(root_sealed_adopt(dir, SEAL_PASSPHRASE, form, sizeof form, &changed)));
    assert_true(changed);
    assert_int_equal(get_file("root.seal", got, sizeof got), sizeof form);
    assert_memory_equal(got, form, sizeof form);
    assert_true(tr_ok(root_sealed_adopt(dir, SEAL_PASSPHRASE, form, sizeof form, &changed)));
    assert_false(changed);
    put_file("root.seal.store", "stale", 5);                       /* a crash's leftover */
    assert_true(tr_ok(root_sealed_adopt(dir, SEAL_PASSPHRASE, other, sizeof other, &changed)));
    assert_true(changed);
    assert_int_equal(get_file("root.seal", got, sizeof got), sizeof other);
    assert_memory_equal(got, other, sizeof other);
    assert_false(has_file("root.seal.store"));
    struct buf rd = BUF_INIT(4096);
    assert_true(tr_ok(root_sealed_read(dir, SEAL_PASSPHRASE, false, &rd, &exists)));
    assert_true(exists);
    assert_memory_equal(rd.data, other, sizeof other);
    buf_reset(&rd);
    assert_true(tr_ok(root_sealed_read(dir, SEAL_PKCS11, false, &rd, &exists)));
    assert_false(exists);
    buf_free(&rd);
    assert_true(tr_failed(root_sealed_adopt(dir, SEAL_FILE, form, 32, &changed)));
    assert_false(has_file("root.key"));
}

static void settle_decisions(void **state)
{
    (void)state;
    struct root_record rec;
    uint8_t d[ROOT_DIGEST_LEN];
    memset(&rec, 0, sizeof rec);
    memset(d, 7, sizeof d);
    assert_int_equal(root_settle_decide(&rec, "root.key", false, d), ROOT_SETTLE_NONE);
    assert_int_equal(root_settle_decide(NULL, "root.key", false, d), ROOT_SETTLE_NONE);
    /* A .next and no record: the rotation never committed. */
    assert_int_equal(root_settle_decide(&rec, "root.key", true, d), ROOT_SETTLE_DROP);
    assert_int_equal(root_settle_decide(NULL, "root.key", true, d), ROOT_SETTLE_DROP);
    rec.present = true;
    rec.nfiles = 1;
    STR_SET(rec.file[0].name, "root.key");
    memcpy(rec.file[0].digest, d, sizeof d);
    assert_int_equal(root_settle_decide(&rec, "root.key", true, d), ROOT_SETTLE_FINISH);
    assert_int_equal(root_settle_decide(&rec, "root.key", false, d), ROOT_SETTLE_NONE);
    /* A record that names another file only. */
    assert_int_equal(root_settle_decide(&rec, "audit.key", true, d), ROOT_SETTLE_DROP);
    /* Every byte of the digest changed: a .next the record does not name. */
    for (size_t i = 0; i < sizeof d; i++) {
        d[i] ^= 0x01;
        assert_int_equal(root_settle_decide(&rec, "root.key", true, d), ROOT_SETTLE_DROP);
        d[i] ^= 0x01;
    }
}

/* A record naming the files name.next hold now. */
static void record_names(const char *const *names, size_t n, const uint8_t check[KEYRING_CHECK_LEN])
{
    struct root_record rec;
    bool exists;
    memset(&rec, 0, sizeof rec);
    rec.present = true;
    memcpy(rec.check, check, KEYRING_CHECK_LEN);
    for (size_t i = 0; i < n; i++) {
        assert_true(tr_ok(str_copy(rec.file[i].name, sizeof rec.file[i].name, names[i], "name")));
        assert_true(tr_ok(root_next_digest(dir, names[i], &exists, rec.file[i].digest)));
        assert_true(exists);
    }
    rec.nfiles = n;
    assert_true(tr_ok(st[0]->tx_begin(st)));
    assert_true(tr_ok(root_record_put(st, &rec)));
    assert_true(tr_ok(st[0]->tx_commit(st)));
}

static void settle_on_disk(void **state)
{
    (void)state;
    struct root_settle_report rep;
    uint8_t got[64], check[KEYRING_CHECK_LEN] = { 0 };
    const char *names[] = { "root.key", "audit.key" };
    put_file("root.key", K1, 32);
    put_file("audit.key", "old audit\n", 10);

    /* Nothing to settle: no store read, no change. */
    assert_true(tr_ok(root_settle(dir, SEAL_FILE, NULL, false, &rep)));
    assert_int_equal(rep.finished + rep.dropped, 0);
    assert_string_equal(rep.seal_current, "root.key");

    /* .next files and no record: a rotation that did not commit. */
    put_file("root.key.next", K2, 32);
    put_file("audit.key.next", "new audit\n", 10);
    assert_true(tr_ok(root_settle(dir, SEAL_FILE, NULL, true, &rep)));      /* dry: looks only */
    assert_string_equal(rep.seal_current, "root.key");
    assert_true(has_file("root.key.next"));
    assert_true(tr_ok(root_settle(dir, SEAL_FILE, NULL, false, &rep)));
    assert_int_equal(rep.dropped, 2);
    assert_false(has_file("root.key.next"));
    assert_false(has_file("audit.key.next"));
    assert_int_equal(get_file("root.key", got, sizeof got), 32);
    assert_memory_equal(got, K1, 32);

    /* Committed: the record names both .next files. */
    put_file("root.key.next", K2, 32);
    put_file("audit.key.next", "new audit\n", 10);
    record_names(names, 2, check);
    assert_true(tr_ok(root_settle(dir, SEAL_FILE, st, true, &rep)));
    assert_string_equal(rep.seal_current, "root.key.next");                 /* dry: read the .next */
    assert_true(has_file("root.key.next"));
    /* The seal file renamed, then a crash: audit.key.next is still named. */
    assert_true(tr_ok(root_settle_apply(dir, "root.key", ROOT_SETTLE_FINISH)));
    assert_true(tr_ok(root_settle(dir, SEAL_FILE, NULL, false, &rep)));
    assert_int_equal(rep.finished, 1);
    assert_int_equal(rep.dropped, 0);
    assert_int_equal(get_file("root.key", got, sizeof got), 32);
    assert_memory_equal(got, K2, 32);
    assert_int_equal(get_file("audit.key", got, sizeof got), 10);
    assert_memory_equal(got, "new audit\n", 10);
    assert_false(has_file("root.key.next"));
    assert_false(has_file("audit.key.next"));

    /* Tampered: a .next whose bytes the record does not name is removed,
     * never renamed in (each byte of a 32-byte key changed in turn). */
    for (size_t i = 0; i < 32; i += 7) {
        uint8_t t[32];
        memcpy(t, K2, 32);
        put_file("root.key.next", t, 32);
        record_names(names, 1, check);
        t[i] ^= 0x80;
        put_file("root.key.next", t, 32);
        assert_true(tr_ok(root_settle(dir, SEAL_FILE, st, false, &rep)));
        assert_int_equal(rep.finished, 0);
        assert_int_equal(rep.dropped, 1);
        assert_int_equal(get_file("root.key", got, sizeof got), 32);
        assert_memory_equal(got, K2, 32);
    }
}

static void verify_key(void **state)
{
    (void)state;
    struct keyring *a = NULL, *b = NULL;
    uint8_t ca[KEYRING_CHECK_LEN];
    assert_true(tr_ok(keyring_from_bytes(K1, &a)));
    assert_true(tr_ok(keyring_from_bytes(K2, &b)));
    assert_true(tr_ok(root_verify(st, a)));                      /* no record: any key */
    assert_true(tr_ok(keyring_check_value(a, ca)));
    put_file("root.key.next", K1, 32);
    const char *names[] = { "root.key" };
    record_names(names, 1, ca);
    assert_true(tr_ok(root_verify(st, a)));
    tr_result r = root_verify(st, b);
    assert_true(tr_failed(r));
    assert_non_null(strstr(tr_last_error()->message, "not the one the store is wrapped under"));
    keyring_free(a);
    keyring_free(b);
}

/* A key with `versions` materials and one access key, wrapped under kr. */
static void populate(const struct keyring *kr, uint32_t versions)
{
    struct key_rec k;
    memset(&k, 0, sizeof k);
    STR_SET(k.key_id, KEY_ID);
    STR_SET(k.account_id, ACCT);
    STR_SET(k.region, "us-east-1");
    k.arn = (char *)"arn:aws:kms:us-east-1:" ACCT ":key/" KEY_ID;
    STR_SET(k.key_state, KEY_STATE_ENABLED);
    STR_SET(k.key_usage, "ENCRYPT_DECRYPT");
    STR_SET(k.key_spec, "SYMMETRIC_DEFAULT");
    STR_SET(k.origin, "AWS_KMS");
    STR_SET(k.key_manager, "CUSTOMER");
    k.rotation_period_days = 365;
    k.current_material = versions;
    assert_true(tr_ok(st[0]->tx_begin(st)));
    assert_true(tr_ok(st[0]->key_put(st, &k)));
    for (uint32_t v = 1; v <= versions; v++) {
        char label[96];
        uint8_t m[32];
        memset(m, (int)v, sizeof m);
        struct material_rec rec = { .version = v, .wrapped = BUF_INIT(256) };
        STR_SET(rec.key_id, KEY_ID);
        snprintf(label, sizeof label, "kms-material:%s:%u", KEY_ID, v);
        assert_true(tr_ok(keyring_wrap(kr, label, m, sizeof m, &rec.wrapped)));
        assert_true(tr_ok(st[0]->material_put(st, &rec)));
        buf_free(&rec.wrapped);
    }
    struct access_key_rec a = { .access_key_id = "AKIAROTATETEST000001", .account_id = ACCT,
                                .principal_type = PRINCIPAL_ROOT,
                                .principal_arn = (char *)"arn:aws:iam::" ACCT ":root",
                                .principal_id = (char *)ACCT, .active = true,
                                .wrapped_secret = BUF_INIT(256) };
    assert_true(tr_ok(keyring_wrap(kr, "access-key:AKIAROTATETEST000001", (const uint8_t *)"sekrit", 6,
                                   &a.wrapped_secret)));
    assert_true(tr_ok(st[0]->access_key_put(st, &a)));
    buf_free(&a.wrapped_secret);
    assert_true(tr_ok(st[0]->tx_commit(st)));
}

/* Whether every record unwraps under kr. */
static bool all_unwrap(const struct keyring *kr, uint32_t versions)
{
    bool ok = true;
    for (uint32_t v = 1; v <= versions; v++) {
        char label[96];
        struct material_rec rec;
        struct buf pt = BUF_SECRET(64);
        snprintf(label, sizeof label, "kms-material:%s:%u", KEY_ID, v);
        assert_true(tr_ok(st[0]->material_get(st, KEY_ID, v, &rec)));
        ok = ok && tr_ok(keyring_unwrap(kr, label, rec.wrapped.data, rec.wrapped.len, &pt)) && pt.len == 32 &&
             pt.data[0] == v;
        buf_free(&pt);
        material_rec_free(&rec);
    }
    struct access_key_rec a;
    struct buf s = BUF_SECRET(64);
    assert_true(tr_ok(st[0]->access_key_get(st, "AKIAROTATETEST000001", &a)));
    ok = ok && tr_ok(keyring_unwrap(kr, "access-key:AKIAROTATETEST000001", a.wrapped_secret.data,
                                    a.wrapped_secret.len, &s)) && s.len == 6 && memcmp(s.data, "sekrit", 6) == 0;
    buf_free(&s);
    access_key_rec_free(&a);
    tr_clear_error();
    return ok;
}

static void rotation(void **state)
{
    (void)state;
    struct keyring *old = NULL, *now = NULL;
    struct audit_keys *ak_before = NULL, *ak_after = NULL;
    struct root_rotate_counts n;
    uint8_t got[64];
    put_file("root.key", K1, 32);
    assert_true(tr_ok(keyring_open(dir, false, &old)));
    populate(old, 3);
    assert_true(tr_ok(audit_keys_load(dir, old, true, &ak_before)));

    const struct seal_how file_seal = { .kind = SEAL_FILE };
    assert_true(tr_ok(root_rotate(dir, &file_seal, st, old, false, &n)));
    assert_int_equal(n.materials, 3);
    assert_int_equal(n.access_keys, 1);
    assert_int_equal(n.audit_keys, 2);
    assert_false(has_file("root.key.next"));
    assert_false(has_file("audit.key.next"));
    assert_int_equal(get_file("root.key", got, sizeof got), 32);
    assert_memory_not_equal(got, K1, 32);
    assert_true(tr_ok(keyring_open(dir, false, &now)));
    assert_true(all_unwrap(now, 3));
    assert_false(all_unwrap(old, 3));
    assert_true(tr_ok(root_verify(st, now)));
    assert_true(tr_failed(root_verify(st, old)));
    /* The audit keys: the same keys, now under the new root key only. */
    assert_true(tr_ok(audit_keys_load(dir, now, false, &ak_after)));
    assert_memory_equal(ak_before, ak_after, sizeof *ak_before);
    audit_keys_free(ak_after);
    ak_after = NULL;
    assert_true(tr_failed(audit_keys_load(dir, old, false, &ak_after)));
    tr_clear_error();

    /* A failure before the commit leaves nothing: the old key given is not
     * the store's any more, so the first unwrap fails. */
    uint8_t before[32];
    memcpy(before, got, 32);
    assert_true(tr_failed(root_rotate(dir, &file_seal, st, old, false, &n)));
    tr_clear_error();
    assert_false(has_file("root.key.next"));
    assert_false(has_file("audit.key.next"));
    assert_int_equal(get_file("root.key", got, sizeof got), 32);
    assert_memory_equal(got, before, 32);
    assert_true(all_unwrap(now, 3));
    assert_true(tr_ok(root_verify(st, now)));
    audit_keys_free(ak_before);
    keyring_free(old);
    keyring_free(now);
}

static void passphrase_next(void **state)
{
    (void)state;
    struct keyring *kr = NULL, *k1 = NULL;
    uint8_t want[KEYRING_CHECK_LEN], got[KEYRING_CHECK_LEN];
    bool wrong;
    static const struct seal_params cheap = { 256, 1, 1 };
    uint8_t sealed[SEAL_FILE_LEN];
    /* The current root.seal's cheap parameters are kept by the next one. */
    assert_true(tr_ok(seal_wrap(K1, (const uint8_t *)"pw", 2, cheap, sealed)));
    put_file("root.seal", sealed, sizeof sealed);
    struct seal_how pw = { .kind = SEAL_PASSPHRASE, .secret = (const uint8_t *)"pw", .secret_len = 2,
                           .prm = SEAL_PARAMS_DEFAULT };        /* not used: root.seal's are */
    assert_true(tr_ok(seal_write_next(dir, &pw, K2)));
    uint8_t next[SEAL_FILE_LEN + 1];
    assert_int_equal(get_file("root.seal.next", next, sizeof next), SEAL_FILE_LEN);
    assert_memory_equal(next + 10, sealed + 10, 12);                         /* m, t, p */
    assert_memory_not_equal(next + 22, sealed + 22, 16);                     /* fresh salt */
    assert_null(memmem(next, SEAL_FILE_LEN, K2, 32));
    assert_true(tr_ok(seal_open_how_named(dir, &pw, "root.seal.next", &wrong, &kr)));
    assert_true(tr_ok(keyring_from_bytes(K2, &k1)));
    assert_true(tr_ok(keyring_check_value(kr, got)));
    assert_true(tr_ok(keyring_check_value(k1, want)));
    assert_memory_equal(got, want, sizeof got);
    keyring_free(kr);
    kr = NULL;
    pw.secret = (const uint8_t *)"px";
    assert_true(tr_failed(seal_open_how_named(dir, &pw, "root.seal.next", &wrong, &kr)));
    assert_true(wrong);
    tr_clear_error();
    /* The file seal's next holds the key itself; no seal: refused. */
    const struct seal_how file_seal = { .kind = SEAL_FILE }, none = { .kind = SEAL_NONE };
    assert_true(tr_ok(seal_write_next(dir, &file_seal, K2)));
    assert_int_equal(get_file("root.key.next", next, sizeof next), 32);
    assert_memory_equal(next, K2, 32);
    assert_true(tr_failed(seal_write_next(dir, &none, K2)));
    tr_clear_error();
    /* The pkcs11 seal's next: the current root.p11 names the token; with
     * none there is nothing to wrap under, and nothing is written. */
    const struct seal_how p11 = { .kind = SEAL_PKCS11, .secret = (const uint8_t *)"1234", .secret_len = 4 };
    assert_true(tr_failed(seal_write_next(dir, &p11, K2)));
    tr_clear_error();
    assert_false(has_file("root.p11.next"));
    /* A root.p11 that names a token, without a module: refused, nothing written. */
    static const uint8_t p11_file[] = "tresorTK\x01\x00\x00\x10\x87\x01T\x01K"
                                      "iviviviviviv" "ctctctctctctctctctctctctctctctct" "tagtagtagtagtagt";
    put_file("root.p11", p11_file, sizeof p11_file - 1);
    char tok[33], key[129];
    assert_true(tr_ok(seal_p11_labels(dir, tok, key)));
    assert_string_equal(tok, "T");
    assert_string_equal(key, "K");
    assert_true(tr_failed(seal_write_next(dir, &p11, K2)));
    assert_non_null(strstr(tr_last_error()->message, "module"));
    tr_clear_error();
    assert_false(has_file("root.p11.next"));
    assert_string_equal(seal_file_name(SEAL_FILE), "root.key");
    assert_string_equal(seal_file_name(SEAL_PASSPHRASE), "root.seal");
    assert_null(seal_file_name(SEAL_NONE));
    keyring_free(k1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(check_value),
        cmocka_unit_test_setup_teardown(record_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(sealed_form, setup, teardown),
        cmocka_unit_test(settle_decisions),
        cmocka_unit_test_setup_teardown(settle_on_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(verify_key, setup, teardown),
        cmocka_unit_test_setup_teardown(rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(passphrase_next, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
