/*
 * jwt_test.c -- JWT parse and signature verification with a JWKS
 * (oidc/jwt.c).  Keys are generated here with OpenSSL, their JWKs built
 * from the raw numbers, tokens signed with OpenSSL directly (our code out
 * of the signing loop).  Tamper cases: every byte of a signature flipped,
 * a changed payload, alg none, alg HS256 with the RSA public key as the
 * secret, a kid the set lacks, an ES256 token whose kid names an RSA key,
 * header and payload not JSON, an oversized token; and ES256's r||s to
 * DER.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "oidc/jwt.h"

static EVP_PKEY *rsa_key, *ec_key;
static json_t *jwks;

static char *b64u(const unsigned char *in, size_t n)
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = malloc(4 * n / 3 + 4), *o = out;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        *o++ = A[v >> 18]; *o++ = A[(v >> 12) & 63]; *o++ = A[(v >> 6) & 63]; *o++ = A[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        *o++ = A[v >> 18]; *o++ = A[(v >> 12) & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        *o++ = A[v >> 18]; *o++ = A[(v >> 12) & 63]; *o++ = A[(v >> 6) & 63];
    }
    *o = 0;
    return out;
}

static char *bn_b64u(EVP_PKEY *k, const char *name, int pad)
{
    BIGNUM *bn = NULL;
    unsigned char raw[512];
    assert_int_equal(EVP_PKEY_get_bn_param(k, name, &bn), 1);
    int n = pad ? BN_bn2binpad(bn, raw, pad) : BN_bn2bin(bn, raw);
    BN_free(bn);
    return b64u(raw, (size_t)n);
}

static json_t *jwk_set(const char *rsa_kid, const char *ec_kid)
{
    char *n = bn_b64u(rsa_key, OSSL_PKEY_PARAM_RSA_N, 0), *e = bn_b64u(rsa_key, OSSL_PKEY_PARAM_RSA_E, 0);
    char *x = bn_b64u(ec_key, OSSL_PKEY_PARAM_EC_PUB_X, 32), *y = bn_b64u(ec_key, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    json_t *j = json_pack("{s:[{s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s, s:s}]}", "keys",
                          "kty", "RSA", "kid", rsa_kid, "n", n, "e", e,
                          "kty", "EC", "kid", ec_kid, "crv", "P-256", "x", x, "y", y);
    free(n); free(e); free(x); free(y);
    return j;
}

static int setup(void **state)
{
    (void)state;
    rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(rsa_key);
    assert_non_null(ec_key);
    jwks = jwk_set("r1", "e1");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(rsa_key);
    EVP_PKEY_free(ec_key);
    json_decref(jwks);
    return 0;
}

/* header.payload.signature, signed with OpenSSL directly. */
static char *mint(const char *header, const char *payload, int ec)
{
    char *h = b64u((const unsigned char *)header, strlen(header));
    char *p = b64u((const unsigned char *)payload, strlen(payload));
    size_t slen = strlen(h) + strlen(p) + 2;
    char *signing = malloc(slen);
    snprintf(signing, slen, "%s.%s", h, p);
    unsigned char sig[512], raw[64];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, ec ? ec_key : rsa_key), 1);
    assert_int_equal(EVP_DigestSign(m, sig, &siglen, (unsigned char *)signing, strlen(signing)), 1);
    EVP_MD_CTX_free(m);
    char *s;
    if (ec) {
        const unsigned char *q = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)siglen);
        BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32);
        ECDSA_SIG_free(es);
        s = b64u(raw, 64);
    } else {
        s = b64u(sig, siglen);
    }
    size_t tlen = slen + strlen(s) + 1;
    char *tok = malloc(tlen);
    snprintf(tok, tlen, "%s.%s", signing, s);
    free(h); free(p); free(s); free(signing);
    return tok;
}

static enum jwt_rc check(const char *tok, json_t *set)
{
    struct jwt t;
    char why[JWT_WHY_MAX];
    enum jwt_rc rc = jwt_parse(tok, strlen(tok), &t, why);
    if (rc != JWT_OK) return rc;
    rc = jwt_verify(&t, set, why);
    jwt_free(&t);
    return rc;
}

static const char PAYLOAD[] = "{\"iss\":\"https://issuer.example\",\"sub\":\"system:serviceaccount:ns:sa\"}";

static void test_rs256_and_es256_verify(void **state)
{
    (void)state;
    char *r = mint("{\"alg\":\"RS256\",\"kid\":\"r1\"}", PAYLOAD, 0);
    char *e = mint("{\"alg\":\"ES256\",\"kid\":\"e1\"}", PAYLOAD, 1);
    assert_int_equal(check(r, jwks), JWT_OK);
    assert_int_equal(check(e, jwks), JWT_OK);
    struct jwt t;
    char why[JWT_WHY_MAX];
    assert_int_equal(jwt_parse(r, strlen(r), &t, why), JWT_OK);
    assert_string_equal(json_string_value(json_object_get(t.claims, "sub")), "system:serviceaccount:ns:sa");
    jwt_free(&t);
    free(r);
    free(e);
}

static void test_flipped_signature_bytes(void **state)
{
    (void)state;
    for (int ec = 0; ec < 2; ec++) {
        char *tok = mint(ec ? "{\"alg\":\"ES256\",\"kid\":\"e1\"}" : "{\"alg\":\"RS256\",\"kid\":\"r1\"}",
                         PAYLOAD, ec);
        char *sig = strrchr(tok, '.') + 1;
        size_t n = strlen(sig);
        for (size_t i = 0; i + 1 < n; i += 3) {     /* the last char may carry padding bits only */
            char was = sig[i];
            sig[i] = was == 'A' ? 'B' : 'A';
            enum jwt_rc rc = check(tok, jwks);
            assert_true(rc == JWT_SIGNATURE || rc == JWT_MALFORMED);
            sig[i] = was;
        }
        assert_int_equal(check(tok, jwks), JWT_OK);
        free(tok);
    }
}

static void test_changed_payload(void **state)
{
    (void)state;
    char *tok = mint("{\"alg\":\"RS256\",\"kid\":\"r1\"}", PAYLOAD, 0);
    char *p = strchr(tok, '.') + 1;
    p[3] = p[3] == 'x' ? 'y' : 'x';
    assert_int_not_equal(check(tok, jwks), JWT_OK);
    free(tok);
}

static void test_alg_none_and_hs256(void **state)
{
    (void)state;
    char *h = b64u((const unsigned char *)"{\"alg\":\"none\"}", 14);
    char *p = b64u((const unsigned char *)PAYLOAD, strlen(PAYLOAD));
    char tok[2048];
    snprintf(tok, sizeof tok, "%s.%s.", h, p);
    assert_int_equal(check(tok, jwks), JWT_ALG);
    free(h);
    /* HS256 keyed with the RSA key's public modulus text: refused as an
     * algorithm before any key is looked at. */
    h = b64u((const unsigned char *)"{\"alg\":\"HS256\",\"kid\":\"r1\"}", 26);
    char signing[1024];
    snprintf(signing, sizeof signing, "%s.%s", h, p);
    const char *secret = json_string_value(json_object_get(json_array_get(json_object_get(jwks, "keys"), 0), "n"));
    unsigned char mac[32];
    unsigned int mlen = sizeof mac;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)signing, strlen(signing), mac, &mlen);
    char *s = b64u(mac, mlen);
    snprintf(tok, sizeof tok, "%s.%s", signing, s);
    assert_int_equal(check(tok, jwks), JWT_ALG);
    free(h); free(p); free(s);
}

static void test_kid_mismatch_and_wrong_key_type(void **state)
{
    (void)state;
    char *tok = mint("{\"alg\":\"RS256\",\"kid\":\"rotated\"}", PAYLOAD, 0);
    assert_int_equal(check(tok, jwks), JWT_NO_KEY);
    free(tok);
    /* An ES256 token whose kid names the RSA key. */
    tok = mint("{\"alg\":\"ES256\",\"kid\":\"r1\"}", PAYLOAD, 1);
    assert_int_equal(check(tok, jwks), JWT_KEY_TYPE);
    free(tok);
    /* An RS256 token whose kid names the EC key. */
    tok = mint("{\"alg\":\"RS256\",\"kid\":\"e1\"}", PAYLOAD, 0);
    assert_int_equal(check(tok, jwks), JWT_KEY_TYPE);
    free(tok);
    /* Without a kid: only a set of one key will do. */
    tok = mint("{\"alg\":\"RS256\"}", PAYLOAD, 0);
    assert_int_equal(check(tok, jwks), JWT_NO_KEY);
    json_t *one = json_pack("{s:[O]}", "keys", json_array_get(json_object_get(jwks, "keys"), 0));
    assert_int_equal(check(tok, one), JWT_OK);
    json_decref(one);
    free(tok);
}

static void test_not_json_and_oversized(void **state)
{
    (void)state;
    char *bad = b64u((const unsigned char *)"not json", 8);
    char *obj = b64u((const unsigned char *)"{}", 2), *arr = b64u((const unsigned char *)"[1]", 3);
    char tok[256];
    snprintf(tok, sizeof tok, "%s.%s.AAAA", bad, obj);
    assert_int_equal(check(tok, jwks), JWT_MALFORMED);
    snprintf(tok, sizeof tok, "%s.%s.AAAA", obj, bad);
    assert_int_equal(check(tok, jwks), JWT_MALFORMED);
    snprintf(tok, sizeof tok, "%s.%s.AAAA", obj, arr);
    assert_int_equal(check(tok, jwks), JWT_MALFORMED);
    assert_int_equal(check("a.b", jwks), JWT_MALFORMED);
    assert_int_equal(check("a.b.c.d", jwks), JWT_MALFORMED);
    snprintf(tok, sizeof tok, "%s.%s.A+/=", obj, obj);   /* base64, not base64url */
    assert_int_equal(check(tok, jwks), JWT_MALFORMED);
    free(bad); free(obj); free(arr);
    char *big = malloc(JWT_MAX_LEN + 2);
    memset(big, 'A', JWT_MAX_LEN + 1);
    big[JWT_MAX_LEN + 1] = 0;
    assert_int_equal(check(big, jwks), JWT_TOO_LARGE);
    free(big);
}

static void test_es256_der(void **state)
{
    (void)state;
    unsigned char rs[64], der[80];
    memset(rs, 0, 32);
    rs[31] = 1;                     /* r = 1 */
    memset(rs + 32, 0xff, 32);      /* s = 2^256 - 1: needs a 0x00 pad */
    size_t n = jwt_es256_to_der(rs, 64, der, sizeof der);
    assert_int_equal(n, 2 + 3 + 35);
    assert_int_equal(der[0], 0x30);
    assert_int_equal(der[2], 0x02);
    assert_int_equal(der[3], 1);
    assert_int_equal(der[4], 1);
    assert_int_equal(der[6], 33);
    assert_int_equal(der[7], 0);
    assert_int_equal(jwt_es256_to_der(rs, 63, der, sizeof der), 0);
    assert_int_equal(jwt_es256_to_der(rs, 64, der, 10), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rs256_and_es256_verify),
        cmocka_unit_test(test_flipped_signature_bytes),
        cmocka_unit_test(test_changed_payload),
        cmocka_unit_test(test_alg_none_and_hs256),
        cmocka_unit_test(test_kid_mismatch_and_wrong_key_type),
        cmocka_unit_test(test_not_json_and_oversized),
        cmocka_unit_test(test_es256_der),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
