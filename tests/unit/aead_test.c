/*
 * aead_test.c -- AES-256-GCM (crypto/aead.c).
 *
 * Known answers: test cases 13, 14 and 16 of the GCM specification
 * (McGrew & Viega, the AES-256 ones; also in NIST's GCM validation
 * examples).  Tamper loops: every byte of ciphertext, tag, AAD, IV and key
 * flipped in turn must fail with TR_E_KMS_INVALID_CIPHERTEXT, no message,
 * and a fully wiped output buffer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "crypto/aead.h"
#include "crypto/hash.h"

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2;
    assert_true(n <= cap);
    assert_true(hex_decode(hex, 2 * n, out));
    return n;
}

/* Test case 16: AES-256, 60-byte plaintext, 20-byte AAD. */
static const char tc16_key[] = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
static const char tc16_iv[] = "cafebabefacedbaddecaf888";
static const char tc16_pt[] =
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
static const char tc16_aad[] = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
static const char tc16_ct[] =
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662";
static const char tc16_tag[] = "76fc6ece0f4e1768cddf8853bb2d551b";

struct vec {
    uint8_t key[AEAD_KEY_LEN], iv[AEAD_IV_LEN], tag[AEAD_TAG_LEN];
    uint8_t pt[64], aad[32], ct[64];
    size_t pt_len, aad_len;
};

static void load_tc16(struct vec *v)
{
    unhex(tc16_key, v->key, sizeof v->key);
    unhex(tc16_iv, v->iv, sizeof v->iv);
    v->pt_len = unhex(tc16_pt, v->pt, sizeof v->pt);
    v->aad_len = unhex(tc16_aad, v->aad, sizeof v->aad);
    assert_int_equal(unhex(tc16_ct, v->ct, sizeof v->ct), v->pt_len);
    unhex(tc16_tag, v->tag, sizeof v->tag);
}

static void known_answers(void **state)
{
    (void)state;
    struct vec v;
    uint8_t ct[64], tag[AEAD_TAG_LEN], pt[64];
    load_tc16(&v);
    assert_true(tr_ok(aead_seal(v.key, v.iv, v.aad, v.aad_len, v.pt, v.pt_len, ct, tag)));
    assert_memory_equal(ct, v.ct, v.pt_len);
    assert_memory_equal(tag, v.tag, AEAD_TAG_LEN);
    assert_true(tr_ok(aead_open(v.key, v.iv, v.aad, v.aad_len, v.ct, v.pt_len, v.tag, pt)));
    assert_memory_equal(pt, v.pt, v.pt_len);

    /* Test case 13: zero key and IV, nothing to encrypt: the tag alone. */
    uint8_t zk[AEAD_KEY_LEN] = { 0 }, ziv[AEAD_IV_LEN] = { 0 }, want[AEAD_TAG_LEN];
    unhex("530f8afbc74536b9a963b4f1c4cb738b", want, sizeof want);
    assert_true(tr_ok(aead_seal(zk, ziv, NULL, 0, NULL, 0, NULL, tag)));
    assert_memory_equal(tag, want, AEAD_TAG_LEN);
    assert_true(tr_ok(aead_open(zk, ziv, NULL, 0, NULL, 0, tag, NULL)));

    /* Test case 14: one zero block. */
    uint8_t zb[16] = { 0 }, wct[16];
    unhex("cea7403d4d606b6e074ec5d3baf39d18", wct, sizeof wct);
    unhex("d0d1c8a799996bf0265b98b5d48ab919", want, sizeof want);
    assert_true(tr_ok(aead_seal(zk, ziv, NULL, 0, zb, 16, ct, tag)));
    assert_memory_equal(ct, wct, 16);
    assert_memory_equal(tag, want, AEAD_TAG_LEN);
}

static void round_trip_in_place(void **state)
{
    (void)state;
    uint8_t key[AEAD_KEY_LEN], iv[AEAD_IV_LEN], tag[AEAD_TAG_LEN], data[1000], orig[1000];
    for (size_t i = 0; i < sizeof key; i++) key[i] = (uint8_t)(i * 5 + 1);
    for (size_t i = 0; i < sizeof iv; i++) iv[i] = (uint8_t)(i * 3);
    for (size_t i = 0; i < sizeof data; i++) orig[i] = (uint8_t)(i * 7);
    for (size_t len = 0; len <= sizeof data; len += 37) {
        memcpy(data, orig, sizeof data);
        assert_true(tr_ok(aead_seal(key, iv, (const uint8_t *)"ctx", 3, data, len, data, tag)));
        if (len > 16) assert_memory_not_equal(data, orig, len);
        assert_true(tr_ok(aead_open(key, iv, (const uint8_t *)"ctx", 3, data, len, tag, data)));
        assert_memory_equal(data, orig, len);
    }
}

/* Open that must fail: right error, no message, whole output wiped. */
static void assert_forged(const struct vec *v, const uint8_t *key, const uint8_t *iv,
                          const uint8_t *aad, const uint8_t *ct, const uint8_t *tag)
{
    uint8_t out[64];
    memset(out, 0xa5, sizeof out);
    tr_result r = aead_open(key, iv, aad, v->aad_len, ct, v->pt_len, tag, out);
    assert_int_equal(tr_code(r), TR_E_KMS_INVALID_CIPHERTEXT);
    assert_false(tr_last_error()->has_message);
    for (size_t i = 0; i < v->pt_len; i++) assert_int_equal(out[i], 0);
}

static void tamper_every_byte(void **state)
{
    (void)state;
    struct vec v;
    load_tc16(&v);
    for (size_t i = 0; i < v.pt_len; i++) {
        uint8_t ct[64];
        memcpy(ct, v.ct, v.pt_len);
        ct[i] ^= 0x01;
        assert_forged(&v, v.key, v.iv, v.aad, ct, v.tag);
        ct[i] ^= 0x81;
        assert_forged(&v, v.key, v.iv, v.aad, ct, v.tag);
    }
    for (size_t i = 0; i < AEAD_TAG_LEN; i++) {
        uint8_t tag[AEAD_TAG_LEN];
        memcpy(tag, v.tag, sizeof tag);
        tag[i] ^= 0x80;
        assert_forged(&v, v.key, v.iv, v.aad, v.ct, tag);
    }
    for (size_t i = 0; i < v.aad_len; i++) {
        uint8_t aad[32];
        memcpy(aad, v.aad, v.aad_len);
        aad[i] ^= 0x01;
        assert_forged(&v, v.key, v.iv, aad, v.ct, v.tag);
    }
    for (size_t i = 0; i < AEAD_IV_LEN; i++) {
        uint8_t iv[AEAD_IV_LEN];
        memcpy(iv, v.iv, sizeof iv);
        iv[i] ^= 0x10;
        assert_forged(&v, v.key, iv, v.aad, v.ct, v.tag);
    }
    for (size_t i = 0; i < AEAD_KEY_LEN; i++) {
        uint8_t key[AEAD_KEY_LEN];
        memcpy(key, v.key, sizeof key);
        key[i] ^= 0x02;
        assert_forged(&v, key, v.iv, v.aad, v.ct, v.tag);
    }
    /* AAD dropped or shortened, ciphertext shortened. */
    uint8_t out[64];
    assert_int_equal(tr_code(aead_open(v.key, v.iv, NULL, 0, v.ct, v.pt_len, v.tag, out)),
                     TR_E_KMS_INVALID_CIPHERTEXT);
    assert_int_equal(tr_code(aead_open(v.key, v.iv, v.aad, v.aad_len - 1, v.ct, v.pt_len,
                                       v.tag, out)), TR_E_KMS_INVALID_CIPHERTEXT);
    assert_int_equal(tr_code(aead_open(v.key, v.iv, v.aad, v.aad_len, v.ct, v.pt_len - 1,
                                       v.tag, out)), TR_E_KMS_INVALID_CIPHERTEXT);
    /* And the context still works after all those failures. */
    assert_true(tr_ok(aead_open(v.key, v.iv, v.aad, v.aad_len, v.ct, v.pt_len, v.tag, out)));
    assert_memory_equal(out, v.pt, v.pt_len);
}

static void in_place_forgery_wipes(void **state)
{
    (void)state;
    struct vec v;
    uint8_t buf[64];
    load_tc16(&v);
    memcpy(buf, v.ct, v.pt_len);
    buf[0] ^= 1;
    assert_int_equal(tr_code(aead_open(v.key, v.iv, v.aad, v.aad_len, buf, v.pt_len, v.tag, buf)),
                     TR_E_KMS_INVALID_CIPHERTEXT);
    for (size_t i = 0; i < v.pt_len; i++) assert_int_equal(buf[i], 0);
}

static void bad_args(void **state)
{
    (void)state;
    uint8_t key[AEAD_KEY_LEN] = { 0 }, iv[AEAD_IV_LEN] = { 0 }, tag[AEAD_TAG_LEN], b[4] = { 0 };
    assert_int_equal(tr_code(aead_seal(NULL, iv, NULL, 0, b, 4, b, tag)), TR_E_INTERNAL);
    assert_int_equal(tr_code(aead_seal(key, NULL, NULL, 0, b, 4, b, tag)), TR_E_INTERNAL);
    assert_int_equal(tr_code(aead_seal(key, iv, NULL, 3, b, 4, b, tag)), TR_E_INTERNAL);
    assert_int_equal(tr_code(aead_seal(key, iv, NULL, 0, NULL, 4, b, tag)), TR_E_INTERNAL);
    assert_int_equal(tr_code(aead_seal(key, iv, NULL, 0, b, 4, b, NULL)), TR_E_INTERNAL);
    assert_int_equal(tr_code(aead_open(key, iv, NULL, 0, b, 4, NULL, b)), TR_E_INTERNAL);
    assert_int_equal(tr_code(aead_open(key, iv, NULL, 0, b, 4, tag, NULL)), TR_E_INTERNAL);
}

static void *aead_worker(void *arg)
{
    const struct vec *v = arg;
    for (int i = 0; i < 2000; i++) {
        uint8_t ct[64], tag[AEAD_TAG_LEN], pt[64];
        if (tr_failed(aead_seal(v->key, v->iv, v->aad, v->aad_len, v->pt, v->pt_len, ct, tag))
            || memcmp(ct, v->ct, v->pt_len) || memcmp(tag, v->tag, AEAD_TAG_LEN)
            || tr_failed(aead_open(v->key, v->iv, v->aad, v->aad_len, ct, v->pt_len, tag, pt))
            || memcmp(pt, v->pt, v->pt_len))
            return (void *)1;
    }
    crypto_thread_cleanup();
    return NULL;
}

static void threads_agree(void **state)
{
    (void)state;
    struct vec v;
    pthread_t t[8];
    load_tc16(&v);
    for (int i = 0; i < 8; i++) assert_int_equal(pthread_create(&t[i], NULL, aead_worker, &v), 0);
    for (int i = 0; i < 8; i++) {
        void *rv;
        assert_int_equal(pthread_join(t[i], &rv), 0);
        assert_null(rv);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_answers),
        cmocka_unit_test(round_trip_in_place),
        cmocka_unit_test(tamper_every_byte),
        cmocka_unit_test(in_place_forgery_wipes),
        cmocka_unit_test(bad_args),
        cmocka_unit_test(threads_agree),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    crypto_thread_cleanup();
    return rc;
}
