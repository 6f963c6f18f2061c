/*
 * jwt.h -- a JSON Web Token (RFC 7519) in compact JWS form, parsed and its
 * signature verified against a JSON Web Key Set (RFC 7517): what
 * AssumeRoleWithWebIdentity checks before it looks at any claim.
 *
 * Algorithms: RS256 (RSASSA-PKCS1-v1_5 with SHA-256) and ES256 (ECDSA on
 * P-256 with SHA-256, the signature as raw r||s, RFC 7518 3.4).  Anything
 * else -- "none", HS256 and the other HMACs above all (a public key is no
 * secret) -- is refused.  The key must have the token's "kid" (a token
 * without one may use the set's only key) and a type that fits the
 * algorithm ("RSA" for RS256, "EC" with crv "P-256" for ES256).
 *
 * Every failure is a jwt_rc with a short reason for the server's log (no
 * token text in it); the caller maps it to AWS's error.  The header and
 * the claims are parsed with jansson, the base64url text with the
 * project's base64 decoder, the signature checked with OpenSSL 3
 * (SHA-256 fetched once, a digest context per thread).
 */
#ifndef TR_OIDC_JWT_H
#define TR_OIDC_JWT_H

#include <jansson.h>
#include <stddef.h>

#define JWT_MAX_LEN 20000       /* WebIdentityToken: clientTokenType max */
#define JWT_WHY_MAX 160

enum jwt_rc {
    JWT_OK = 0,
    JWT_MALFORMED,              /* not three base64url parts of JSON objects */
    JWT_TOO_LARGE,              /* longer than JWT_MAX_LEN */
    JWT_ALG,                    /* alg missing or not RS256/ES256 */
    JWT_NO_KEY,                 /* no key in the set has the token's kid */
    JWT_KEY_TYPE,               /* the key does not fit the algorithm, or is bad */
    JWT_SIGNATURE,              /* the signature does not verify */
};

struct jwt {
    json_t *header;             /* owned */
    json_t *claims;             /* owned */
    const char *alg, *kid;      /* in header; kid NULL when absent */
    const char *text;           /* the token (borrowed) */
    size_t signed_len;          /* bytes of "header.payload" */
    unsigned char *sig;         /* decoded signature (owned) */
    size_t sig_len;
};

/* Parse `token` (len bytes).  On JWT_OK t owns its parts (jwt_free);
 * otherwise t holds nothing and why says what is wrong. */
enum jwt_rc jwt_parse(const char *token, size_t len, struct jwt *t, char why[JWT_WHY_MAX]);
/* Verify t's signature with the key of `jwks` ({"keys": [...]}) that has
 * its kid.  JWT_NO_KEY lets the caller fetch the set again. */
enum jwt_rc jwt_verify(const struct jwt *t, json_t *jwks, char why[JWT_WHY_MAX]);
void jwt_free(struct jwt *t);
/* The name of a jwt_rc for the log: "signature", "kid", ... */
const char *jwt_rc_name(enum jwt_rc rc);

/* Exposed for the unit tests: base64url (no padding) into out[0, cap),
 * *n its length; false on a bad character or when it does not fit. */
int jwt_b64url_decode(const char *s, size_t len, unsigned char *out, size_t cap, size_t *n);
/* A raw ES256 signature r||s (64 bytes) as DER ECDSA-Sig-Value into
 * der[0, cap); 0 on failure, else its length. */
size_t jwt_es256_to_der(const unsigned char *rs, size_t n, unsigned char *der, size_t cap);

#endif
