/*
 * sigv4_sign.c -- the client-side SigV4 signer (sigv4_sign.h), built on
 * the verifier's public steps (sigv4.h): what it signs is what
 * sigv4_verify checks.  The signing key is wiped before return.
 */
#include "auth/sigv4_sign.h"

#include <stdio.h>
#include <string.h>

#include "auth/sigv4_date.h"
#include "core/secmem.h"
#include "crypto/hash.h"

/* In a function with a `fail:` exit: record the error in r and jump. */
#define FAIL(code, ...) do { r = tr_fail_at(__FILE__, __LINE__, (code), __VA_ARGS__); goto fail; } while (0)

/* ---- client-side signer ---------------------------------------------- */

TR_RESULT sigv4_sign(const struct sigv4_request *rq, const char *access_key_id,
                     const char *secret, const char *amz_date, const char *region,
                     const char *service, const char *signed_headers,
                     char *out, size_t out_len)
{
    struct sigv4_auth a;
    struct buf creq = BUF_INIT(SIGV4_MAX_CANONICAL), sts = BUF_INIT(512);
    uint8_t key[SHA256_LEN], mac[SHA256_LEN];
    char hex[65];
    tr_result r = TR_OK;

    ENSURE_REF(rq); ENSURE_REF(rq->method); ENSURE_REF(rq->path);
    ENSURE_REF(access_key_id); ENSURE_REF(secret); ENSURE_REF(amz_date);
    ENSURE_REF(region); ENSURE_REF(service); ENSURE_REF(signed_headers); ENSURE_REF(out);
    memset(&a, 0, sizeof a);
    secure_zero(key, sizeof key);
    if (out_len) out[0] = '\0';
    size_t nid = strlen(access_key_id), nreg = strlen(region), nsvc = strlen(service);
    if (nid == 0 || nid >= sizeof a.access_key_id || nreg == 0 || nreg >= sizeof a.region
        || nsvc == 0 || nsvc >= sizeof a.service
        || strnlen(signed_headers, sizeof a.signed_headers) >= sizeof a.signed_headers)
        FAIL(TR_E_VALIDATION, "sigv4_sign: credential scope or SignedHeaders out of range");
    if (strnlen(amz_date, 17) != 16 || !sigv4_date_parse_iso(amz_date, 16, &a.request_time))
        FAIL(TR_E_INCOMPLETE_SIGNATURE, "sigv4_sign: the date must be YYYYMMDDTHHMMSSZ");
    memcpy(a.amz_date, amz_date, 16);
    memcpy(a.access_key_id, access_key_id, nid);
    memcpy(a.date, amz_date, 8);
    memcpy(a.region, region, nreg);
    memcpy(a.service, service, nsvc);
    memcpy(a.signed_headers, signed_headers, strlen(signed_headers));

    /* The verifier's own canonicalization, string to sign and key. */
    r = sigv4_canonical_request(rq, &a, true, &creq);
    if (tr_failed(r)) goto fail;
    r = sigv4_string_to_sign(&a, &creq, &sts);
    if (tr_failed(r)) goto fail;
    r = sigv4_signing_key(secret, strlen(secret), a.date, a.region, a.service, key);
    if (tr_failed(r)) goto fail;
    r = hmac_sha256(key, sizeof key, sts.data, sts.len, mac);
    if (tr_failed(r)) goto fail;
    hex_encode(mac, sizeof mac, hex);
    int n = snprintf(out, out_len, "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request"
                     ", SignedHeaders=%s, Signature=%s",
                     a.access_key_id, a.date, a.region, a.service, a.signed_headers, hex);
    if (n < 0 || (size_t)n >= out_len) {
        if (out_len) out[0] = '\0';
        FAIL(TR_E_VALIDATION, "sigv4_sign: output buffer too small (%d bytes needed)", n + 1);
    }
fail:
    secure_zero(key, sizeof key);
    buf_free(&creq);
    buf_free(&sts);
    return r;
}
