/*
 * sigv4.h -- AWS Signature Version 4 verification (server side).
 *
 * Spec: AWS "Signature Version 4 signing process", docs/WIRE.md 2; test
 * vectors in tests/data/sigv4 (see its README).  The request is described by
 * struct sigv4_request, which borrows everything (the HTTP layer fills it);
 * nothing here touches libmicrohttpd.
 *
 * Flow used by the server:
 *   sigv4_parse()        Authorization header or presigned X-Amz-* query
 *                        parameters -> struct sigv4_auth  (MissingAuthenticationToken,
 *                        IncompleteSignature)
 *   sigv4_check_time()   +-15 min skew (header) / X-Amz-Expires (query);
 *                        sigv4_check_time_skew(): +-15 min for both (STS, IAM)
 *                        ("Signature expired: ..." InvalidSignatureException)
 *   (caller looks up the access key, checks the scope's region/service)
 *   sigv4_signing_key()  kSigning; intermediates wiped.  A per-thread cache
 *                        (sigv4_cache.h) keeps kSigning per access key,
 *                        date, region and service in locked memory.
 *   sigv4_verify()       canonical request -> string to sign -> HMAC,
 *                        compared in constant time; also checks that a hex
 *                        x-amz-content-sha256 equals SHA-256(body).
 */
#ifndef TR_SIGV4_H
#define TR_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"
#include "core/result.h"

struct sigv4_header { const char *name; const char *value; };

struct sigv4_request {
    const char *method;            /* "POST" */
    const char *path;              /* raw path as on the wire, without '?' and query */
    const char *query;             /* raw query string after '?', "" when none */
    const struct sigv4_header *headers;  /* in arrival order; names any case */
    size_t nheaders;
    const uint8_t *body;
    size_t body_len;
};

#define SIGV4_MAX_SIGNED_HEADERS 64
#define SIGV4_MAX_CANONICAL (512 * 1024)  /* bytes of a canonical request */
#define SIGV4_MAX_TOKEN_LEN 4096   /* decoded X-Amz-Security-Token from the query */

struct sigv4_auth {
    bool presigned;                /* from query parameters */
    char access_key_id[129];
    char date[9];                  /* YYYYMMDD from the credential scope */
    char region[64];
    char service[64];
    char amz_date[17];             /* YYYYMMDDTHHMMSSZ (X-Amz-Date) */
    time_t request_time;           /* amz_date as epoch seconds */
    int64_t expires;               /* X-Amz-Expires (presigned), else 0 */
    char signed_headers[1024];     /* as sent: "host;x-amz-date" */
    char signature[65];            /* 64 lowercase hex */
    const char *security_token;    /* X-Amz-Security-Token (borrowed), or NULL */
    /* A token that arrived as a (percent-encoded) query parameter is decoded
     * here and security_token points into it: do not copy a sigv4_auth by
     * value and use the copy's security_token. */
    char security_token_buf[SIGV4_MAX_TOKEN_LEN + 1];
};

/* Extract the authentication parameters.  Errors (with AWS's messages):
 *  TR_E_MISSING_AUTH            no Authorization header and no X-Amz-Algorithm query
 *  TR_E_INCOMPLETE_SIGNATURE    malformed header, missing Credential/SignedHeaders/
 *                               Signature, bad credential scope, missing/bad X-Amz-Date
 *  TR_E_INVALID_SIGNATURE       host not among SignedHeaders, or an x-amz-* header the
 *                               request carries that is not ("'X-Amz-Target' must be a
 *                               'SignedHeader' in the AWS Authorization.") -- except
 *                               X-Amz-Security-Token and X-Amz-Content-SHA256
 */
TR_RESULT sigv4_parse(const struct sigv4_request *rq, struct sigv4_auth *out);

/* Header auth: |now - request_time| <= 15 minutes.  Presigned: now within
 * [request_time - 15 min, request_time + expires].  Otherwise
 * TR_E_INVALID_SIGNATURE "Signature expired: <amz> is now earlier than <now-15m> (<now> - 15 min.)"
 * (or "Signature not yet current: <amz> is still later than <now+15m> (<now> + 15 min.)"
 * for dates in the future).  The scope date must equal the first 8
 * characters of X-Amz-Date. */
TR_RESULT sigv4_check_time(const struct sigv4_auth *a, time_t now);

/* The header rule, |now - X-Amz-Date| <= 15 minutes, for a presigned
 * request too: X-Amz-Expires (already checked to be a number of at most a
 * week by sigv4_parse) neither shortens nor lengthens the window.  This is
 * how STS judges a presigned GetCallerIdentity: `aws eks get-token` and
 * the Kubernetes AWS IAM authenticator presign with X-Amz-Expires=60 and
 * hand the URL out as a token good for 14 minutes.  An expired request
 * gets the header rule's message ("... (<now> - 15 min.)"). */
TR_RESULT sigv4_check_time_skew(const struct sigv4_auth *a, time_t now);

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request");
 * every intermediate is wiped. */
TR_RESULT sigv4_signing_key(const char *secret, size_t secret_len, const char *date,
                            const char *region, const char *service, uint8_t out[32]);

/* The canonical request and the string to sign (exposed for tests). */
TR_RESULT sigv4_canonical_request(const struct sigv4_request *rq, const struct sigv4_auth *a,
                                  bool normalize_path, struct buf *out);
TR_RESULT sigv4_string_to_sign(const struct sigv4_auth *a, const struct buf *canonical_request,
                               struct buf *out);

/* Verify the signature with kSigning.  normalize_path is true for every
 * service tresor serves (false only for the S3-style test vectors).
 * TR_E_INVALID_SIGNATURE "The request signature we calculated does not match the
 * signature you provided. Check your AWS Secret Access Key and signing method.
 * Consult the service documentation for details." on mismatch. */
TR_RESULT sigv4_verify(const struct sigv4_request *rq, const struct sigv4_auth *a,
                       const uint8_t signing_key[32], bool normalize_path);
/* The same with kSigning already keyed into an HMAC context (a cached
 * signing key, sigv4_cache_get_mac): no keying per request. */
struct hmac_key;
TR_RESULT sigv4_verify_mac(const struct sigv4_request *rq, const struct sigv4_auth *a,
                           struct hmac_key *signing_mac, bool normalize_path);

/* Whether sigv4_verify accepts "x-amz-content-sha256: UNSIGNED-PAYLOAD"
 * (the body is then not covered by the signature).  Off by default: KMS
 * bodies carry the whole operation, so tresor rejects it with
 * InvalidSignatureException "The provided 'x-amz-content-sha256' header does
 * not match what was computed."  Process-wide; set at start-up. */
void sigv4_allow_unsigned_payload(bool allow);

#endif
