/*
 * hash_test.c -- SHA-256, HMAC-SHA256, HKDF-SHA256 and hex (crypto/hash.c).
 *
 * Known answers: SHA-256 from FIPS 180-2 appendix B / NIST CAVS examples,
 * HMAC-SHA256 from RFC 4231 test cases 1-7, HKDF-SHA256 from RFC 5869 test
 * cases 1-3.  HKDF is also cross-checked against OpenSSL's own EVP_KDF
 * "HKDF" for every output length from 0 to 300 bytes.  The first test runs
 * before crypto_init() on purpose: every entry point must init lazily.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "crypto/hash.h"

/* Test-side hex parser (independent of hex_decode, which is under test). */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2;
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

static void assert_hex(const uint8_t *got, size_t n, const char *want)
{
    char hex[2 * 512 + 1];
    assert_true(n <= 512);
    hex_encode(got, n, hex);
    assert_string_equal(hex, want);
}

/* ---- SHA-256 ---- */

static void sha256_before_init(void **state)
{
    (void)state;
    uint8_t md[SHA256_LEN];
    /* No crypto_init() yet in this process. */
    assert_true(tr_ok(sha256("abc", 3, md)));
    assert_hex(md, sizeof md, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_true(tr_ok(crypto_init()));
    assert_true(tr_ok(crypto_init()));   /* idempotent */
}

static void sha256_vectors(void **state)
{
    (void)state;
    uint8_t md[SHA256_LEN];
    assert_true(tr_ok(sha256("", 0, md)));
    assert_hex(md, sizeof md, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_true(tr_ok(sha256(NULL, 0, md)));
    assert_hex(md, sizeof md, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    assert_true(tr_ok(sha256(m, strlen(m), md)));
    assert_hex(md, sizeof md, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

    size_t n = 1000000;
    char *a = malloc(n);
    assert_non_null(a);
    memset(a, 'a', n);
    assert_true(tr_ok(sha256(a, n, md)));
    assert_hex(md, sizeof md, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);

    /* The reused context leaves nothing behind between calls. */
    assert_true(tr_ok(sha256("abc", 3, md)));
    assert_hex(md, sizeof md, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void sha256_bad_args(void **state)
{
    (void)state;
    uint8_t md[SHA256_LEN];
    assert_int_equal(tr_code(sha256(NULL, 1, md)), TR_E_INTERNAL);
    assert_int_equal(tr_code(sha256("x", 1, NULL)), TR_E_INTERNAL);
}

/* ---- HMAC-SHA256, RFC 4231 ---- */

struct hmac_case { const char *key_hex; const char *data; const char *data_hex; const char *mac; };

static void hmac_rfc4231(void **state)
{
    (void)state;
    static const struct hmac_case cases[] = {
        /* 1 */ { "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "Hi There", NULL,
                  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
        /* 2 */ { "4a656665", "what do ya want for nothing?", NULL,
                  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
        /* 3 */ { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL,
                  "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
                  "dddddddddddddddddddddddddddddddddddd",
                  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
        /* 4 */ { "0102030405060708090a0b0c0d0e0f10111213141516171819", NULL,
                  "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
                  "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
                  "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
        /* 5: truncated to 128 bits */
        { "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c", "Test With Truncation", NULL,
          "a3b6167473100ee06e0c796c2955552b" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t key[256], data[256], mac[SHA256_LEN];
        size_t kn = unhex(cases[i].key_hex, key, sizeof key);
        size_t dn;
        if (cases[i].data) {
            dn = strlen(cases[i].data);
            memcpy(data, cases[i].data, dn);
        } else {
            dn = unhex(cases[i].data_hex, data, sizeof data);
        }
        assert_true(tr_ok(hmac_sha256(key, kn, data, dn, mac)));
        assert_hex(mac, strlen(cases[i].mac) / 2, cases[i].mac);
    }

    /* 6 and 7: a 131-byte key, longer than the block, is hashed first. */
    uint8_t big[131], mac[SHA256_LEN];
    memset(big, 0xaa, sizeof big);
    const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    assert_true(tr_ok(hmac_sha256(big, sizeof big, d6, strlen(d6), mac)));
    assert_hex(mac, sizeof mac, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    const char *d7 = "This is a test using a larger than block-size key and a larger "
                     "than block-size data. The key needs to be hashed before being "
                     "used by the HMAC algorithm.";
    assert_true(tr_ok(hmac_sha256(big, sizeof big, d7, strlen(d7), mac)));
    assert_hex(mac, sizeof mac, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

static void hmac_empty_key_and_rekey(void **state)
{
    (void)state;
    uint8_t mac[SHA256_LEN], zeros[SHA256_LEN] = { 0 };
    /* HMAC-SHA256("", "") */
    assert_true(tr_ok(hmac_sha256(NULL, 0, NULL, 0, mac)));
    assert_hex(mac, sizeof mac, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    assert_true(tr_ok(hmac_sha256("", 0, "", 0, mac)));
    assert_hex(mac, sizeof mac, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    /* Equivalent to 32 zero bytes (keys are zero-padded to the block). */
    assert_true(tr_ok(hmac_sha256(zeros, sizeof zeros, "", 0, mac)));
    assert_hex(mac, sizeof mac, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    /* Alternate keys on the reused context: each call uses only its key. */
    for (int i = 0; i < 3; i++) {
        assert_true(tr_ok(hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac)));
        assert_hex(mac, sizeof mac, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert_true(tr_ok(hmac_sha256(NULL, 0, NULL, 0, mac)));
        assert_hex(mac, sizeof mac, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    }
    assert_int_equal(tr_code(hmac_sha256(NULL, 3, "x", 1, mac)), TR_E_INTERNAL);
    assert_int_equal(tr_code(hmac_sha256("k", 1, NULL, 1, mac)), TR_E_INTERNAL);
}

/* A key keyed once (struct hmac_key): the RFC 4231 vectors, several MACs
 * per key, interleaved with the thread's one-shot context, and keys of
 * every length class (empty, short, block-size, longer than the block). */
static void hmac_keyed_once(void **state)
{
    (void)state;
    struct hmac_key *jefe = NULL, *empty = NULL, *big = NULL;
    uint8_t mac[SHA256_LEN], want[SHA256_LEN], bigkey[131];
    memset(bigkey, 0xaa, sizeof bigkey);
    assert_true(tr_ok(hmac_key_new("Jefe", 4, &jefe)));
    assert_true(tr_ok(hmac_key_new(NULL, 0, &empty)));
    assert_true(tr_ok(hmac_key_new(bigkey, sizeof bigkey, &big)));
    for (int i = 0; i < 3; i++) {
        assert_true(tr_ok(hmac_with(jefe, "what do ya want for nothing?", 28, mac)));
        assert_hex(mac, sizeof mac, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert_true(tr_ok(hmac_sha256("other", 5, "data", 4, mac)));   /* the thread's context */
        assert_true(tr_ok(hmac_with(empty, NULL, 0, mac)));
        assert_hex(mac, sizeof mac, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
        const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
        assert_true(tr_ok(hmac_with(big, d6, strlen(d6), mac)));
        assert_hex(mac, sizeof mac, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }
    /* Messages of every length up to three blocks agree with the one-shot. */
    uint8_t key[64], msg[200];
    for (size_t i = 0; i < sizeof key; i++) key[i] = (uint8_t)(i * 7 + 1);
    for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)(i * 13 + 5);
    for (size_t kn = 1; kn <= sizeof key; kn += 21) {
        struct hmac_key *k = NULL;
        assert_true(tr_ok(hmac_key_new(key, kn, &k)));
        for (size_t n = 0; n <= sizeof msg; n++) {
            assert_true(tr_ok(hmac_with(k, msg, n, mac)));
            assert_true(tr_ok(hmac_sha256(key, kn, msg, n, want)));
            assert_memory_equal(mac, want, sizeof mac);
        }
        hmac_key_free(k);
    }
    /* Bad arguments; hmac_key_free(NULL) is a no-op. */
    struct hmac_key *k = (struct hmac_key *)&mac;
    assert_int_equal(tr_code(hmac_key_new(NULL, 3, &k)), TR_E_INTERNAL);
    assert_int_equal(tr_code(hmac_key_new("k", 1, NULL)), TR_E_INTERNAL);
    assert_int_equal(tr_code(hmac_with(NULL, "x", 1, mac)), TR_E_INTERNAL);
    assert_int_equal(tr_code(hmac_with(jefe, NULL, 1, mac)), TR_E_INTERNAL);
    assert_int_equal(tr_code(hmac_with(jefe, "x", 1, NULL)), TR_E_INTERNAL);
    hmac_key_free(NULL);
    hmac_key_free(jefe);
    hmac_key_free(empty);
    hmac_key_free(big);
}

/* ---- HKDF-SHA256, RFC 5869 ---- */

static void hkdf_rfc5869(void **state)
{
    (void)state;
    uint8_t ikm[80], salt[80], info[80], okm[82];

    /* Test case 1 */
    memset(ikm, 0x0b, 22);
    for (int i = 0; i < 13; i++) salt[i] = (uint8_t)i;
    for (int i = 0; i < 10; i++) info[i] = (uint8_t)(0xf0 + i);
    assert_true(tr_ok(hkdf_sha256(ikm, 22, salt, 13, info, 10, okm, 42)));
    assert_hex(okm, 42, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                        "34007208d5b887185865");

    /* Test case 2: long inputs, 82 bytes of output (three blocks) */
    for (int i = 0; i < 80; i++) {
        ikm[i] = (uint8_t)i;
        salt[i] = (uint8_t)(0x60 + i);
        info[i] = (uint8_t)(0xb0 + i);
    }
    assert_true(tr_ok(hkdf_sha256(ikm, 80, salt, 80, info, 80, okm, 82)));
    assert_hex(okm, 82, "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
                        "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
                        "cc30c58179ec3e87c14c01d5c1f3434f1d87");

    /* Test case 3: no salt, no info */
    memset(ikm, 0x0b, 22);
    assert_true(tr_ok(hkdf_sha256(ikm, 22, NULL, 0, NULL, 0, okm, 42)));
    assert_hex(okm, 42, "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
                        "9d201395faa4b61a96c8");
}

static void hkdf_limits(void **state)
{
    (void)state;
    uint8_t ikm[32] = { 1 }, okm[8] = { 0 };
    static uint8_t big[255 * SHA256_LEN + 1];
    assert_true(tr_ok(hkdf_sha256(ikm, sizeof ikm, NULL, 0, NULL, 0, okm, 0)));
    assert_true(tr_ok(hkdf_sha256(ikm, sizeof ikm, NULL, 0, NULL, 0, big, 255 * SHA256_LEN)));
    assert_int_equal(tr_code(hkdf_sha256(ikm, sizeof ikm, NULL, 0, NULL, 0, big, sizeof big)),
                     TR_E_INTERNAL);
    assert_int_equal(tr_code(hkdf_sha256(ikm, sizeof ikm, NULL, 0, NULL, 0, NULL, 8)),
                     TR_E_INTERNAL);
    assert_int_equal(tr_code(hkdf_sha256(NULL, 4, NULL, 0, NULL, 0, okm, 8)), TR_E_INTERNAL);
}

/* Compare with OpenSSL's own HKDF for every length up to 300 bytes. */
static void hkdf_matches_openssl(void **state)
{
    (void)state;
    uint8_t ikm[32], salt[16], info[33], ours[300], theirs[300];
    for (size_t i = 0; i < sizeof ikm; i++) ikm[i] = (uint8_t)(7 * i + 1);
    for (size_t i = 0; i < sizeof salt; i++) salt[i] = (uint8_t)(3 * i + 5);
    for (size_t i = 0; i < sizeof info; i++) info[i] = (uint8_t)(11 * i);

    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    assert_non_null(kdf);
    EVP_KDF_CTX *kc = EVP_KDF_CTX_new(kdf);
    assert_non_null(kc);
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm, sizeof ikm),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, sizeof salt),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof info),
        OSSL_PARAM_construct_end(),
    };
    for (size_t len = 1; len <= sizeof ours; len++) {
        assert_int_equal(EVP_KDF_derive(kc, theirs, len, p), 1);
        assert_true(tr_ok(hkdf_sha256(ikm, sizeof ikm, salt, sizeof salt, info, sizeof info,
                                      ours, len)));
        assert_memory_equal(ours, theirs, len);
    }
    EVP_KDF_CTX_free(kc);
    EVP_KDF_free(kdf);
}

/* ---- hex ---- */

static void hex_round_trip(void **state)
{
    (void)state;
    uint8_t all[256], back[256];
    char hex[513];
    for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
    hex_encode(all, sizeof all, hex);
    assert_int_equal(strlen(hex), 512);
    assert_memory_equal(hex, "000102030405060708090a0b0c0d0e0f", 32);
    assert_string_equal(hex + 480, "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
    assert_true(hex_decode(hex, 512, back));
    assert_memory_equal(all, back, sizeof all);

    hex_encode(all, 0, hex);
    assert_string_equal(hex, "");
    assert_true(hex_decode("", 0, back));

    /* Either case decodes. */
    assert_true(hex_decode("DEADbeefA0", 10, back));
    assert_memory_equal(back, "\xde\xad\xbe\xef\xa0", 5);
}

static void hex_bad(void **state)
{
    (void)state;
    uint8_t out[8];
    static const char *bad[] = { "0g", "g0", "0 ", " 0", "0x", "-1", "+1", "0G", "ZZ", "0:", "/0", "@A", "`a" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(hex_decode(bad[i], 2, out));
    assert_false(hex_decode("abc", 3, out));            /* odd length */
    assert_false(hex_decode("ab\0d", 4, out));          /* embedded NUL */
    assert_false(hex_decode(NULL, 2, out));
    /* A failure wipes what was decoded so far. */
    memset(out, 0x55, sizeof out);
    assert_false(hex_decode("a1b2c3zz", 8, out));
    assert_memory_equal(out, "\0\0\0", 3);
}

/* ---- threads: each has its own contexts ---- */

static void *hash_worker(void *arg)
{
    (void)arg;
    uint8_t mac[SHA256_LEN], md[SHA256_LEN];
    char hex[65];
    for (int i = 0; i < 2000; i++) {
        if (tr_failed(hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac)))
            return (void *)1;
        hex_encode(mac, sizeof mac, hex);
        if (strcmp(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"))
            return (void *)1;
        if (tr_failed(sha256("abc", 3, md))) return (void *)1;
        hex_encode(md, sizeof md, hex);
        if (strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
            return (void *)1;
    }
    crypto_thread_cleanup();
    crypto_thread_cleanup();   /* safe twice */
    return NULL;
}

static void threads_agree(void **state)
{
    (void)state;
    pthread_t t[8];
    for (int i = 0; i < 8; i++) assert_int_equal(pthread_create(&t[i], NULL, hash_worker, NULL), 0);
    for (int i = 0; i < 8; i++) {
        void *rv;
        assert_int_equal(pthread_join(t[i], &rv), 0);
        assert_null(rv);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sha256_before_init),
        cmocka_unit_test(sha256_vectors),
        cmocka_unit_test(sha256_bad_args),
        cmocka_unit_test(hmac_rfc4231),
        cmocka_unit_test(hmac_empty_key_and_rekey),
        cmocka_unit_test(hmac_keyed_once),
        cmocka_unit_test(hkdf_rfc5869),
        cmocka_unit_test(hkdf_limits),
        cmocka_unit_test(hkdf_matches_openssl),
        cmocka_unit_test(hex_round_trip),
        cmocka_unit_test(hex_bad),
        cmocka_unit_test(threads_agree),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    crypto_thread_cleanup();
    return rc;
}
