/*
 * jwt.c -- parse a JWT and verify its signature with a JWKS (jwt.h).
 *
 * Spec: RFC 7515 (JWS compact serialization), RFC 7517 (JWK), RFC 7518
 * 3.3 (RS256), 3.4 (ES256: r||s, 32 bytes each for P-256).  The token is
 * attacker-controlled: every length is checked before use, the decoded
 * parts must be JSON objects, and the algorithm is taken from the header
 * only to be checked against an allow-list and the key's type -- never to
 * choose a key type (no "alg confusion": HS256 with an RSA key's bytes as
 * the secret is refused as an algorithm, before any key is looked at).
 */
#include "oidc/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/b64.h"
#include "core/tlocal.h"

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_sha256;

static void md_fetch(void)
{
    md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    ERR_clear_error();
}

struct md_ctx { EVP_MD_CTX *c; };

static void md_drop(void *p)
{
    EVP_MD_CTX_free(((struct md_ctx *)p)->c);
    free(p);
}

static struct tlocal_slot md_slot = TLOCAL_SLOT(md_drop);

/* The thread's digest context, reset; NULL when out of memory. */
static EVP_MD_CTX *md_ctx(void)
{
    struct md_ctx *m = tlocal_get(&md_slot, sizeof *m);
    if (!m) return NULL;
    if (!m->c) m->c = EVP_MD_CTX_new();
    else EVP_MD_CTX_reset(m->c);
    return m->c;
}

const char *jwt_rc_name(enum jwt_rc rc)
{
    switch (rc) {
    case JWT_OK: return "ok";
    case JWT_MALFORMED: return "format";
    case JWT_TOO_LARGE: return "size";
    case JWT_ALG: return "algorithm";
    case JWT_NO_KEY: return "kid";
    case JWT_KEY_TYPE: return "key";
    case JWT_SIGNATURE: return "signature";
    }
    return "?";
}

static enum jwt_rc fail(enum jwt_rc rc, char why[JWT_WHY_MAX], const char *msg)
{
    snprintf(why, JWT_WHY_MAX, "%s", msg);   /* cut: text for people */
    return rc;
}

int jwt_b64url_decode(const char *s, size_t len, unsigned char *out, size_t cap, size_t *n)
{
    /* To the standard alphabet with padding, then the strict decoder. */
    if (len % 4 == 1 || len > 4 * JWT_MAX_LEN) return 0;
    size_t plen = (len + 3) / 4 * 4;
    char *std = malloc(plen + 1);
    struct buf b = BUF_INIT(plen / 4 * 3 + 3);
    int ok = std != NULL;
    for (size_t i = 0; ok && i < len; i++) {
        char c = s[i];
        if (c == '+' || c == '/' || c == '=') ok = 0;
        std[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    for (size_t i = len; ok && i < plen; i++) std[i] = '=';
    ok = ok && tr_ok(b64_decode(std, plen, &b)) && b.len <= cap;
    if (ok) {
        if (b.len) memcpy(out, b.data, b.len);
        *n = b.len;
    }
    free(std);
    buf_free(&b);
    return ok;
}

/* A base64url part that decodes to a JSON object. */
static json_t *json_part(const char *s, size_t len)
{
    size_t cap = len / 4 * 3 + 3, n = 0;
    unsigned char *raw = malloc(cap);
    json_t *j = NULL;
    if (raw && jwt_b64url_decode(s, len, raw, cap, &n))
        j = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

void jwt_free(struct jwt *t)
{
    json_decref(t->header);
    json_decref(t->claims);
    free(t->sig);
    memset(t, 0, sizeof *t);
}

enum jwt_rc jwt_parse(const char *token, size_t len, struct jwt *t, char why[JWT_WHY_MAX])
{
    memset(t, 0, sizeof *t);
    if (len > JWT_MAX_LEN) return fail(JWT_TOO_LARGE, why, "token longer than 20000 characters");
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
        return fail(JWT_MALFORMED, why, "not three dot-separated parts");
    t->header = json_part(token, (size_t)(d1 - token));
    t->claims = t->header ? json_part(d1 + 1, (size_t)(d2 - d1 - 1)) : NULL;
    if (!t->header || !t->claims) {
        jwt_free(t);
        return fail(JWT_MALFORMED, why, "header or payload is not a base64url JSON object");
    }
    size_t slen = len - (size_t)(d2 + 1 - token);
    t->sig = malloc(slen / 4 * 3 + 3);
    if (!t->sig || !jwt_b64url_decode(d2 + 1, slen, t->sig, slen / 4 * 3 + 3, &t->sig_len)) {
        jwt_free(t);
        return fail(JWT_MALFORMED, why, "signature is not base64url");
    }
    t->alg = json_string_value(json_object_get(t->header, "alg"));
    t->kid = json_string_value(json_object_get(t->header, "kid"));
    t->text = token;
    t->signed_len = (size_t)(d2 - token);
    if (!t->alg || (strcmp(t->alg, "RS256") != 0 && strcmp(t->alg, "ES256") != 0)) {
        char msg[JWT_WHY_MAX];
        /* cut: text for people */
        snprintf(msg, sizeof msg, "algorithm %.32s is not RS256 or ES256", t->alg ? t->alg : "(none)");
        jwt_free(t);
        return fail(JWT_ALG, why, msg);
    }
    return JWT_OK;
}

/* A big-endian base64url member of a JWK as an OSSL_PARAM_BLD BIGNUM. */
static BIGNUM *jwk_bn(json_t *jwk, const char *name)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    unsigned char raw[1024];
    size_t n = 0;
    if (!s || !jwt_b64url_decode(s, strlen(s), raw, sizeof raw, &n) || n == 0) return NULL;
    return BN_bin2bn(raw, (int)n, NULL);
}

/* The EVP_PKEY of a JWK: RSA (n, e) for RS256, EC P-256 (x, y) for ES256. */
static EVP_PKEY *jwk_pkey(json_t *jwk, int ec)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pk = NULL;
    BIGNUM *a = NULL, *b = NULL;
    unsigned char pub[65];
    int ok = bld != NULL && kty;
    if (ok && !ec) {
        ok = strcmp(kty, "RSA") == 0 && (a = jwk_bn(jwk, "n")) && (b = jwk_bn(jwk, "e")) &&
             BN_num_bits(a) >= 2048 &&
             OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, a) &&
             OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, b);
    } else if (ok) {
        const char *crv = json_string_value(json_object_get(jwk, "crv"));
        ok = strcmp(kty, "EC") == 0 && crv && strcmp(crv, "P-256") == 0 &&
             (a = jwk_bn(jwk, "x")) && (b = jwk_bn(jwk, "y")) &&
             BN_num_bytes(a) <= 32 && BN_num_bytes(b) <= 32;
        if (ok) {
            pub[0] = 0x04;      /* uncompressed point */
            ok = BN_bn2binpad(a, pub + 1, 32) == 32 && BN_bn2binpad(b, pub + 33, 32) == 32 &&
                 OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) &&
                 OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub);
        }
    }
    if (ok) ok = (params = OSSL_PARAM_BLD_to_param(bld)) != NULL;
    if (ok) ok = (ctx = EVP_PKEY_CTX_new_from_name(NULL, ec ? "EC" : "RSA", NULL)) != NULL;
    if (ok) ok = EVP_PKEY_fromdata_init(ctx) == 1 &&
                 EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) == 1;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(a);
    BN_free(b);
    ERR_clear_error();
    return ok ? pk : (EVP_PKEY_free(pk), NULL);
}

size_t jwt_es256_to_der(const unsigned char *rs, size_t n, unsigned char *der, size_t cap)
{
    if (n != 64) return 0;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(rs, 32, NULL), *s = BN_bin2bn(rs + 32, 32, NULL);
    size_t out = 0;
    if (sig && r && s && ECDSA_SIG_set0(sig, r, s) == 1) {
        r = s = NULL;       /* owned by sig now */
        int len = i2d_ECDSA_SIG(sig, NULL);
        if (len > 0 && (size_t)len <= cap) {
            unsigned char *p = der;
            out = i2d_ECDSA_SIG(sig, &p) == len ? (size_t)len : 0;
        }
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    ERR_clear_error();
    return out;
}

/* The key of the set for t: its kid, or the only key when t has none. */
static json_t *find_key(const struct jwt *t, json_t *jwks)
{
    json_t *keys = json_object_get(jwks, "keys"), *k;
    size_t i;
    if (!json_is_array(keys)) return NULL;
    if (!t->kid) return json_array_size(keys) == 1 ? json_array_get(keys, 0) : NULL;
    json_array_foreach(keys, i, k) {
        const char *kid = json_string_value(json_object_get(k, "kid"));
        if (kid && strcmp(kid, t->kid) == 0) return k;
    }
    return NULL;
}

enum jwt_rc jwt_verify(const struct jwt *t, json_t *jwks, char why[JWT_WHY_MAX])
{
    int ec = strcmp(t->alg, "ES256") == 0;
    json_t *jwk = find_key(t, jwks);
    if (!jwk) return fail(JWT_NO_KEY, why, t->kid ? "no key with the token's kid" : "token has no kid");
    const char *use = json_string_value(json_object_get(jwk, "use"));
    const char *kalg = json_string_value(json_object_get(jwk, "alg"));
    if ((use && strcmp(use, "sig") != 0) || (kalg && strcmp(kalg, t->alg) != 0))
        return fail(JWT_KEY_TYPE, why, "the key is not for this algorithm");
    EVP_PKEY *pk = jwk_pkey(jwk, ec);
    if (!pk) return fail(JWT_KEY_TYPE, why, ec ? "the key is not an EC P-256 key" : "the key is not an RSA key");
    unsigned char der[80];
    const unsigned char *sig = t->sig;
    size_t sig_len = t->sig_len;
    enum jwt_rc rc = JWT_SIGNATURE;
    if (ec) {
        sig_len = jwt_es256_to_der(t->sig, t->sig_len, der, sizeof der);
        sig = der;
    }
    pthread_once(&md_once, md_fetch);
    EVP_MD_CTX *m = md_ctx();
    if (sig_len && md_sha256 && m && EVP_DigestVerifyInit(m, NULL, md_sha256, NULL, pk) == 1 &&
        EVP_DigestVerify(m, sig, sig_len, (const unsigned char *)t->text, t->signed_len) == 1)
        rc = JWT_OK;
    ERR_clear_error();
    EVP_PKEY_free(pk);
    return rc == JWT_OK ? JWT_OK : fail(rc, why, "signature does not verify");
}
