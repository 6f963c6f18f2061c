/*
 * fuzz_sigv4.c -- libFuzzer target for SigV4 verification (src/auth/sigv4.c)
 * and its date parsers (src/auth/sigv4_date.c).
 *
 * The input is one HTTP request as text, in the layout of the AWS test
 * suite's signed requests (tests/data/sigv4: header-signed-request.txt,
 * query-signed-request.txt, classic .sreq; the seeds corpus/sigv4/v4-* are
 * copies of some of them, under the suite's Apache-2.0 licence, see
 * tests/data/sigv4/README.md):
 *   METHOD SP target [SP HTTP/1.1] LF
 *   Name:value LF ...          (a line starting with SP/HT continues the
 *                               previous value, newline included)
 *   LF
 *   body
 * CR before LF is dropped.  The target splits at the first '?' into path
 * and query.  Headers carry Authorization, X-Amz-Date, X-Amz-Security-Token,
 * x-amz-content-sha256; the query carries presigned X-Amz-* parameters.
 *
 * Each request is parsed (sigv4_parse); one that parses has its clock
 * checked, its canonical request and string to sign built, and is verified
 * with and without path normalization against the test suite's secret key
 * (the scope's date, region and service are taken as given), so a seed
 * from the suite reaches the constant-time signature compare and passes.
 * Invariants checked:
 *   - the signing-key cache returns the key just put;
 *   - header-signed requests re-signed with sigv4_sign (same key id, date,
 *     scope and SignedHeaders) verify, unless the body hash header is wrong;
 *   - a date that sigv4_date_parse_iso accepts formats back to the same
 *     16 bytes.
 * The X-Amz-Date and Date header values and the first bytes of the input
 * also go to both date parsers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/sigv4.h"
#include "auth/sigv4_cache.h"
#include "auth/sigv4_date.h"
#include "auth/sigv4_sign.h"
#include "core/buf.h"
#include "core/cache.h"
#include "core/errors.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define T0 ((time_t)1440938160)     /* 2015-08-30T12:36:00Z, the suite's clock */
#define MAX_HEADERS 96

struct req {
    char *text;                     /* NUL-terminated copy of the input */
    struct sigv4_header hdr[MAX_HEADERS + 1];
    size_t nhdr;
    struct sigv4_request rq;
};

/* Cut the copy in place into method, path, query, headers and body. */
static void split_request(struct req *q, size_t size)
{
    char *p = q->text, *end = q->text + size;
    char *nl = memchr(p, '\n', (size_t)(end - p));
    char *line_end = nl ? nl : end;
    if (line_end > p && line_end[-1] == '\r') line_end[-1] = '\0';
    *line_end = '\0';
    q->rq.method = p;
    char *sp = strchr(p, ' ');
    char *target = "";
    if (sp) {
        *sp = '\0';
        target = sp + 1;
        size_t tl = strlen(target);
        if (tl >= 9 && strcmp(target + tl - 9, " HTTP/1.1") == 0) target[tl - 9] = '\0';
    }
    char *qm = strchr(target, '?');
    q->rq.query = "";
    if (qm) {
        *qm = '\0';
        q->rq.query = qm + 1;
    }
    q->rq.path = target;
    p = nl ? nl + 1 : end;

    /* Headers up to a blank line. */
    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        line_end = nl ? nl : end;
        size_t n = (size_t)(line_end - p);
        if (n == 0 || (n == 1 && p[0] == '\r')) { p = nl ? nl + 1 : end; break; }
        if ((p[0] == ' ' || p[0] == '\t') && q->nhdr > 0) {
            /* obs-fold: the previous value runs on through this line. */
            p[-1] = '\n';
        } else if (q->nhdr < MAX_HEADERS) {
            char *colon = memchr(p, ':', n);
            q->hdr[q->nhdr].name = p;
            q->hdr[q->nhdr].value = colon ? colon + 1 : line_end;
            if (colon) *colon = '\0';
            q->nhdr++;
        }
        if (line_end > p && line_end[-1] == '\r') line_end[-1] = '\0';
        *line_end = '\0';
        p = nl ? nl + 1 : end;
    }
    q->rq.headers = q->hdr;
    q->rq.nheaders = q->nhdr;
    q->rq.body = (const uint8_t *)p;
    q->rq.body_len = (size_t)(end - p);
}

static void date_checks(const char *s, size_t n)
{
    time_t t;
    if (sigv4_date_parse_iso(s, n, &t)) {
        char back[17];
        if (n != 16) __builtin_trap();
        sigv4_date_format(t, back);
        if (memcmp(back, s, 16) != 0) __builtin_trap();
    }
    (void)sigv4_date_parse_http(s, n, &t);
}

/* Re-sign a header-authenticated request and check that it verifies. */
static void resign_check(const struct req *q, const struct sigv4_auth *a)
{
    struct sigv4_header hdr[MAX_HEADERS + 1];
    char authz[2048];
    struct sigv4_request rq = q->rq;
    if (tr_failed(sigv4_sign(&q->rq, a->access_key_id, SECRET, a->amz_date, a->region, a->service,
                             a->signed_headers, authz, sizeof authz)))
        return;
    size_t n = 0;
    for (size_t i = 0; i < q->nhdr; i++)
        if (strcasecmp(q->hdr[i].name, "authorization") != 0) hdr[n++] = q->hdr[i];
    hdr[n].name = "Authorization";
    hdr[n].value = authz;
    rq.headers = hdr;
    rq.nheaders = n + 1;

    struct sigv4_auth *b = malloc(sizeof *b);
    if (!b) return;
    uint8_t key[32];
    if (tr_ok(sigv4_parse(&rq, b)) && strcmp(a->amz_date, b->amz_date) == 0
        && strcmp(a->signed_headers, b->signed_headers) == 0
        && tr_ok(sigv4_signing_key(SECRET, strlen(SECRET), b->date, b->region, b->service, key))) {
        tr_result r = sigv4_verify(&rq, b, key, true);
        if (tr_failed(r)) {
            const struct tr_error_info *e = tr_last_error();
            bool payload = e->has_message && strstr(e->message, "x-amz-content-sha256") != NULL;
            /* Limits the verifier enforces and the signer does not. */
            bool limit = tr_code(r) != TR_E_INVALID_SIGNATURE || !e->has_message
                         || strstr(e->message, "does not match the signature") == NULL;
            if (!payload && !limit) __builtin_trap();
        }
    }
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sigv4_auth a;     /* large (token buffer): not on the stack */
    struct req q;
    cache_enable(true);             /* the signing-key cache is exercised below */
    if (size > 64 * 1024) return 0;
    memset(&q, 0, sizeof q);
    q.text = malloc(size + 1);
    if (!q.text) return 0;
    memcpy(q.text, data, size);
    q.text[size] = '\0';

    date_checks((const char *)data, size < 16 ? size : 16);
    date_checks((const char *)data, size < 29 ? size : 29);
    split_request(&q, size);
    for (size_t i = 0; i < q.nhdr; i++)
        if (strcasecmp(q.hdr[i].name, "x-amz-date") == 0 || strcasecmp(q.hdr[i].name, "date") == 0)
            date_checks(q.hdr[i].value, strlen(q.hdr[i].value));

    tr_clear_error();
    if (tr_ok(sigv4_parse(&q.rq, &a))) {
        uint8_t key[32], cached[32];
        struct buf creq = BUF_INIT(1 << 20), sts = BUF_INIT(4096);
        (void)sigv4_check_time(&a, T0);
        (void)sigv4_check_time(&a, a.request_time);
        (void)sigv4_check_time(&a, a.request_time + 86400);
        (void)sigv4_check_time(&a, a.request_time - 86400);
        if (tr_ok(sigv4_signing_key(SECRET, strlen(SECRET), a.date, a.region, a.service, key))) {
            const uint8_t *src = (const uint8_t *)SECRET;
            sigv4_cache_put(&a, src, strlen(SECRET), key);
            if (sigv4_cache_get(&a, src, strlen(SECRET), cached) && memcmp(cached, key, 32) != 0)
                __builtin_trap();
            for (int norm = 0; norm <= 1; norm++) {
                buf_reset(&creq);
                buf_reset(&sts);
                if (tr_ok(sigv4_canonical_request(&q.rq, &a, norm, &creq)))
                    (void)sigv4_string_to_sign(&a, &creq, &sts);
                (void)sigv4_verify(&q.rq, &a, key, norm);
            }
            if (!a.presigned) resign_check(&q, &a);
        }
        buf_free(&creq);
        buf_free(&sts);
    }
    if (size & 1) sigv4_cache_clear();
    free(q.text);
    return 0;
}
