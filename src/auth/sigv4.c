/*
 * sigv4.c -- AWS Signature Version 4 (AWS4-HMAC-SHA256), server side:
 * parse the Authorization header or the presigned X-Amz-* query
 * parameters, rebuild the canonical request and the string to sign,
 * derive kSigning, compare signatures in constant time; plus the
 * client-side signer.  The per-thread cache of signing keys is
 * sigv4_cache.c.
 *
 * Spec: AWS "Signature Version 4 signing process"; docs/WIRE.md 2.  The
 * canonicalization below passes every vector of AWS's SigV4 test suite
 * (tests/data/sigv4, run by tests/unit/sigv4_test.c):
 *   URI      raw wire path; with normalize_path, "." / ".." segments are
 *            removed and empty segments collapsed (a trailing '/' kept when
 *            the input had one); then every byte but A-Za-z0-9-._~ and '/'
 *            becomes %XX (uppercase).  The path is not decoded first.
 *   query    split on '&' (empty pieces dropped) and the first '='; each
 *            key and value percent-decoded ('+' stays '+'), re-encoded
 *            ('/' too), sorted by key then value in byte order;
 *            X-Amz-Signature dropped when presigned.
 *   headers  the SignedHeaders names in order; every occurrence of a name
 *            in arrival order, value trimmed with whitespace runs (folded
 *            lines included) collapsed to one space, joined with ','.
 *            host must be signed, and so must every x-amz-* header sent
 *            (check_unsigned has the two exceptions).
 *   payload  the x-amz-content-sha256 value when present, else
 *            hex(SHA-256(body)).  sigv4_verify checks that a hex value
 *            equals SHA-256(body); UNSIGNED-PAYLOAD is refused unless
 *            sigv4_allow_unsigned_payload(true).
 *
 * Everything parsed here is attacker-controlled.  Parsing works on
 * (pointer, length) spans over the caller's strings, never writes into
 * them, and caps every size before doing work proportional to it: query
 * string <= 32 KiB and <= 256 parameters, path <= 8 KiB, Authorization
 * <= 4 KiB, SIGV4_MAX_SIGNED_HEADERS names, canonical request <= 512 KiB.
 * The query sort is a merge sort over a fixed stack array; the header
 * scan is O(signed names x headers) with at most 64 names.  A request
 * costs one heap buffer (the canonical request) plus one scratch buffer
 * when it has a query string.  Messages echo attacker text only
 * sanitized (printable ASCII) and truncated, and never echo a signature.
 *
 * Secrets: the "AWS4"+secret block and kDate/kRegion/kService are wiped
 * as soon as kSigning exists; cached signing keys live in locked,
 * non-dumpable memory (sigv4_cache.c).
 */
#include "auth/sigv4.h"
#include "auth/sigv4_date.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/ct.h"
#include "core/secmem.h"
#include "crypto/hash.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define TERMINATOR "aws4_request"
#define MAX_QUERY_LEN (32 * 1024)
#define MAX_QUERY_PARAMS 256
#define MAX_PATH_LEN (8 * 1024)
#define MAX_AUTHZ_LEN 4096
#define MAX_CANONICAL SIGV4_MAX_CANONICAL
#define MAX_SECRET_LEN 256
#define MAX_EXPIRES 604800
#define ECHO_MAX 128          /* attacker bytes quoted in one message field */
#define STS_MAX 384

#define MSG_MISMATCH "The request signature we calculated does not match the signature you " \
    "provided. Check your AWS Secret Access Key and signing method. Consult the service " \
    "documentation for details."
#define MSG_MUST_SIGN "'%s' must be a 'SignedHeader' in the AWS Authorization."
#define MSG_PAYLOAD "The provided 'x-amz-content-sha256' header does not match what was computed."
#define MSG_DATE "Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601"
#define MSG_QUERY_MISSING "AWS query-string parameters must include 'X-Amz-Algorithm', " \
    "'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', " \
    "'X-Amz-Expires'. Re-examine the query-string parameters."

/* In a function with a `fail:` exit: record the error in r and jump. */
#define FAIL(code, ...) do { r = tr_fail_at(__FILE__, __LINE__, (code), __VA_ARGS__); goto fail; } while (0)

static atomic_bool allow_unsigned_payload;

void sigv4_allow_unsigned_payload(bool allow)
{
    atomic_store(&allow_unsigned_payload, allow);
}

/* ---- spans and small character helpers ------------------------------ */

struct span { const char *p; size_t n; };

static struct span span_of(const char *s)
{
    return (struct span){ s ? s : "", s ? strlen(s) : 0 };
}

static bool span_is(struct span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

static int span_cmp(struct span a, struct span b)
{
    int c = memcmp(a.p, b.p, a.n < b.n ? a.n : b.n);
    if (c) return c;
    return a.n < b.n ? -1 : a.n > b.n;
}

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static struct span trim(struct span s)
{
    while (s.n && is_ws((unsigned char)s.p[0])) { s.p++; s.n--; }
    while (s.n && is_ws((unsigned char)s.p[s.n - 1])) s.n--;
    return s;
}

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
        || c == '-' || c == '.' || c == '_' || c == '~';
}

static bool is_printable(struct span s)
{
    for (size_t i = 0; i < s.n; i++)
        if ((unsigned char)s.p[i] < 0x21 || (unsigned char)s.p[i] > 0x7e) return false;
    return true;
}

static int hexval(unsigned char c)
{
    return hex_digit(c);
}

/* Attacker text for a message: at most ECHO_MAX bytes, anything outside
 * printable ASCII shown as '?', "..." when cut.  Nothing from "Signature"
 * on is shown, and any run of 32 or more hex digits becomes "<redacted>",
 * so no signature is echoed even when a missing comma glued it to another
 * field (found by the mutation test). */
static const char *echo(struct span s, char out[ECHO_MAX + 4])
{
    for (size_t i = 0; i + 9 <= s.n; i++)
        if (memcmp(s.p + i, "Signature", 9) == 0) { s.n = i; break; }
    size_t n = s.n < ECHO_MAX ? s.n : ECHO_MAX, o = 0, run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        out[o++] = (c >= 0x20 && c <= 0x7e) ? (char)c : '?';
        run = hexval(c) >= 0 ? run + 1 : 0;
        if (run == 32) { o -= 32; memcpy(out + o, "<redacted>", 10); o += 10; }
        else if (run > 32) o--;
    }
    if (s.n > n) { memcpy(out + o, "...", 3); o += 3; }
    out[o] = '\0';
    return out;
}

/* Header name (any case, NUL-terminated) equals the lowercase span. */
static bool name_eq(const char *name, struct span lname)
{
    if (!name) return false;
    for (size_t i = 0; i < lname.n; i++) {
        char c = name[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != lname.p[i]) return false;     /* also stops at name's NUL */
    }
    return name[lname.n] == '\0';
}

/* Number of headers called lname; *first gets the first one's value. */
static size_t header_find(const struct sigv4_request *rq, const char *lname, const char **first)
{
    struct span ln = span_of(lname);
    size_t count = 0;
    for (size_t i = 0; i < rq->nheaders; i++) {
        if (!name_eq(rq->headers[i].name, ln)) continue;
        if (count++ == 0 && first) *first = rq->headers[i].value ? rq->headers[i].value : "";
    }
    return count;
}

/* ---- query strings --------------------------------------------------- */

struct qiter { const char *p, *end; };

/* Next non-empty '&'-separated piece, split at its first '='. */
static bool qnext(struct qiter *it, struct span *k, struct span *v)
{
    while (it->p < it->end) {
        const char *s = it->p;
        const char *amp = memchr(s, '&', (size_t)(it->end - s));
        const char *e = amp ? amp : it->end;
        it->p = amp ? amp + 1 : it->end;
        if (e == s) continue;
        const char *eq = memchr(s, '=', (size_t)(e - s));
        *k = (struct span){ s, (size_t)((eq ? eq : e) - s) };
        *v = eq ? (struct span){ eq + 1, (size_t)(e - eq - 1) } : (struct span){ e, 0 };
        return true;
    }
    return false;
}

/* Percent-decode s into out (cap bytes including the NUL).  An invalid
 * escape stays literal.  false when it does not fit or decodes a NUL. */
static bool pct_decode(struct span s, char *out, size_t cap, size_t *len)
{
    size_t o = 0;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c == '%' && i + 2 < s.n) {
            int hi = hexval((unsigned char)s.p[i + 1]), lo = hexval((unsigned char)s.p[i + 2]);
            if (hi >= 0 && lo >= 0) { c = (unsigned char)(hi << 4 | lo); i += 2; }
        }
        if (c == 0 || o + 1 >= cap) return false;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    if (len) *len = o;
    return true;
}

/* Append s percent-encoded (uppercase hex; '/' kept when keep_slash),
 * percent-decoding it first when decode is set. */
static TR_RESULT append_encoded(struct buf *b, struct span s, bool decode, bool keep_slash)
{
    static const char hx[] = "0123456789ABCDEF";
    GUARD(buf_reserve(b, s.n * 3));
    uint8_t *o = b->data + b->len;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (decode && c == '%' && i + 2 < s.n) {
            int hi = hexval((unsigned char)s.p[i + 1]), lo = hexval((unsigned char)s.p[i + 2]);
            if (hi >= 0 && lo >= 0) { c = (unsigned char)(hi << 4 | lo); i += 2; }
        }
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            *o++ = c;
        } else {
            *o++ = '%';
            *o++ = (uint8_t)hx[c >> 4];
            *o++ = (uint8_t)hx[c & 15];
        }
    }
    b->len = (uint32_t)(o - b->data);
    return TR_OK;
}

/* The X-Amz-* parameters of a query string, as raw (still encoded) spans. */
struct qauth {
    struct span alg, cred, date, expires, sh, sig, token;
    bool has_alg, dup;
    size_t count;              /* non-empty pieces */
};

static void qauth_scan(const char *query, size_t qlen, struct qauth *q)
{
    static const char *const names[] = {
        "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
        "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token",
    };
    struct span *slots[] = { &q->alg, &q->cred, &q->date, &q->expires, &q->sh, &q->sig, &q->token };
    memset(q, 0, sizeof *q);
    struct qiter it = { query, query + qlen };
    struct span k, v;
    while (qnext(&it, &k, &v)) {
        char key[32];
        q->count++;
        if (k.n > 3 * sizeof key || !pct_decode(k, key, sizeof key, NULL)) continue;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            if (strcmp(key, names[i]) != 0) continue;
            if (slots[i]->p) q->dup = true;
            *slots[i] = v;
            if (i == 0) q->has_alg = true;
        }
    }
}

/* ---- canonical request ---------------------------------------------- */

static TR_RESULT canonical_path(const char *path, bool normalize, struct buf *out)
{
    struct span p = span_of(path);
    if (p.n > MAX_PATH_LEN)
        BAIL(TR_E_INVALID_SIGNATURE, "The request path is too long (at most %d bytes).", MAX_PATH_LEN);
    if (p.n == 0) return buf_append(out, "/", 1);
    if (!normalize) return append_encoded(out, p, false, true);

    /* Segments are written as "/" + encoded bytes; an encoded segment
     * holds no '/', so ".." pops back to the previous '/'. */
    uint32_t start = out->len;
    size_t i = 0;
    while (i <= p.n) {
        const char *sl = memchr(p.p + i, '/', p.n - i);
        size_t e = sl ? (size_t)(sl - p.p) : p.n;
        struct span seg = { p.p + i, e - i };
        if (seg.n == 0 || span_is(seg, ".")) {
            /* skip */
        } else if (span_is(seg, "..")) {
            while (out->len > start && out->data[out->len - 1] != '/') out->len--;
            if (out->len > start) out->len--;
        } else {
            GUARD(buf_append(out, "/", 1));
            GUARD(append_encoded(out, seg, false, false));
        }
        i = e + 1;
    }
    if (out->len == start || p.p[p.n - 1] == '/') GUARD(buf_append(out, "/", 1));
    return TR_OK;
}

struct qparam { uint32_t k, kn, v, vn; };

static int qparam_cmp(const uint8_t *base, const struct qparam *a, const struct qparam *b)
{
    int c = span_cmp((struct span){ (const char *)base + a->k, a->kn },
                     (struct span){ (const char *)base + b->k, b->kn });
    if (c) return c;
    return span_cmp((struct span){ (const char *)base + a->v, a->vn },
                    (struct span){ (const char *)base + b->v, b->vn });
}

/* Bottom-up merge sort (stable, O(n log n), no allocation). */
static void qparam_sort(const uint8_t *base, struct qparam *p, struct qparam *tmp, size_t n)
{
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = qparam_cmp(base, &p[j], &p[i]) < 0 ? p[j++] : p[i++];
            while (i < mid) tmp[k++] = p[i++];
            while (j < hi) tmp[k++] = p[j++];
        }
        memcpy(p, tmp, n * sizeof *p);
    }
}

static TR_RESULT canonical_query(const char *query, bool presigned, struct buf *out)
{
    struct qparam ps[MAX_QUERY_PARAMS], tmp[MAX_QUERY_PARAMS];
    struct buf sc = BUF_INIT(3 * MAX_QUERY_LEN);
    struct span q = span_of(query), k, v;
    size_t np = 0;
    tr_result r = TR_OK;

    if (q.n == 0) return TR_OK;
    if (q.n > MAX_QUERY_LEN)
        FAIL(TR_E_INVALID_SIGNATURE, "The query string is too long (at most %d bytes).", MAX_QUERY_LEN);
    r = buf_reserve(&sc, 3 * q.n);
    if (tr_failed(r)) goto fail;
    struct qiter it = { q.p, q.p + q.n };
    while (qnext(&it, &k, &v)) {
        if (np == MAX_QUERY_PARAMS)
            FAIL(TR_E_INVALID_SIGNATURE, "The query string has too many parameters (at most %d).",
                 MAX_QUERY_PARAMS);
        struct qparam e = { .k = sc.len };
        r = append_encoded(&sc, k, true, false);
        if (tr_failed(r)) goto fail;
        e.kn = sc.len - e.k;
        e.v = sc.len;
        r = append_encoded(&sc, v, true, false);
        if (tr_failed(r)) goto fail;
        e.vn = sc.len - e.v;
        if (presigned && e.kn == 15 && memcmp(sc.data + e.k, "X-Amz-Signature", 15) == 0) {
            sc.len = e.k;
            continue;
        }
        ps[np++] = e;
    }
    qparam_sort(sc.data, ps, tmp, np);
    r = buf_reserve(out, sc.len + 2 * np);
    if (tr_failed(r)) goto fail;
    for (size_t i = 0; i < np; i++) {
        if (i) out->data[out->len++] = '&';
        memcpy(out->data + out->len, sc.data + ps[i].k, ps[i].kn);
        out->len += ps[i].kn;
        out->data[out->len++] = '=';
        memcpy(out->data + out->len, sc.data + ps[i].v, ps[i].vn);
        out->len += ps[i].vn;
    }
fail:
    buf_free(&sc);
    return r;
}

/* Append v trimmed, each run of whitespace collapsed to one space. */
static TR_RESULT append_trimmed(struct buf *b, const char *v)
{
    struct span s = trim(span_of(v));
    GUARD(buf_reserve(b, s.n));
    uint8_t *o = b->data + b->len;
    bool gap = false;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (is_ws(c)) { gap = true; continue; }
        if (gap) { *o++ = ' '; gap = false; }
        *o++ = c;
    }
    b->len = (uint32_t)(o - b->data);
    return TR_OK;
}

/* A signed header absent from the request: AWS answers with the plain
 * signature mismatch (no hint about which header), and so do we. */
static TR_RESULT canonical_headers(const struct sigv4_request *rq, const char *sh, struct buf *out)
{
    const char *p = sh;
    for (;;) {
        const char *e = strchr(p, ';');
        struct span name = { p, e ? (size_t)(e - p) : strlen(p) };
        bool found = false;
        GUARD(buf_append(out, name.p, name.n));
        GUARD(buf_append(out, ":", 1));
        for (size_t i = 0; i < rq->nheaders; i++) {
            if (!name_eq(rq->headers[i].name, name)) continue;
            if (found) GUARD(buf_append(out, ",", 1));
            GUARD(append_trimmed(out, rq->headers[i].value));
            found = true;
        }
        if (!found) BAIL(TR_E_INVALID_SIGNATURE, MSG_MISMATCH);
        GUARD(buf_append(out, "\n", 1));
        if (!e) return TR_OK;
        p = e + 1;
    }
}

/* SignedHeaders: 1..64 lowercase token names, strictly ascending, "host"
 * among them. */
static TR_RESULT check_signed_headers(const char *sh)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~";
    char eb[ECHO_MAX + 4];
    struct span all = span_of(sh), prev = { NULL, 0 };
    size_t count = 0;
    bool host = false;
    if (all.n == 0 || all.n >= sizeof ((struct sigv4_auth *)0)->signed_headers)
        BAIL(TR_E_INCOMPLETE_SIGNATURE, "SignedHeaders must list between 1 and %d header names.",
             SIGV4_MAX_SIGNED_HEADERS);
    const char *p = sh;
    for (;;) {
        const char *e = strchr(p, ';');
        struct span nm = { p, e ? (size_t)(e - p) : strlen(p) };
        bool ok = nm.n > 0;
        for (size_t i = 0; ok && i < nm.n; i++) {
            char c = nm.p[i];
            ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c && strchr(tchar, c));
        }
        if (!ok)
            BAIL(TR_E_INCOMPLETE_SIGNATURE,
                 "SignedHeaders must be lowercase header names separated by ';'. Got '%s'.",
                 echo(all, eb));
        if (++count > SIGV4_MAX_SIGNED_HEADERS)
            BAIL(TR_E_INCOMPLETE_SIGNATURE, "SignedHeaders must list between 1 and %d header names.",
                 SIGV4_MAX_SIGNED_HEADERS);
        if (prev.p && span_cmp(prev, nm) >= 0)
            BAIL(TR_E_INCOMPLETE_SIGNATURE,
                 "SignedHeaders must be sorted and must not repeat a name. Got '%s'.", echo(all, eb));
        if (span_is(nm, "host")) host = true;
        prev = nm;
        if (!e) break;
        p = e + 1;
    }
    if (!host) BAIL(TR_E_INVALID_SIGNATURE, MSG_MUST_SIGN, "Host' or ':authority");
    return TR_OK;
}

/* Whether the ';'-list sh (lowercase, checked) names header `name` (any case). */
static bool signed_has(const char *sh, const char *name)
{
    const char *p = sh;
    for (;;) {
        const char *e = strchr(p, ';');
        if (name_eq(name, (struct span){ p, e ? (size_t)(e - p) : strlen(p) })) return true;
        if (!e) return false;
        p = e + 1;
    }
}

/* Every x-amz-* header of the request must be signed (AWS SigV4: "host"
 * and every x-amz-* header the request includes), so that none can be
 * added to or changed in a captured request -- X-Amz-Target chooses the
 * operation.  Two exceptions, both as AWS makes them: X-Amz-Security-Token,
 * which AWS lets a client add after signing (its test suite's
 * post-sts-header-after; the token is checked against the session's
 * digest anyway), and X-Amz-Content-SHA256, which sigv4_verify requires
 * to equal the body's hash (AWS S3 leaves it unsigned too). */
static TR_RESULT check_unsigned(const struct sigv4_request *rq, const struct sigv4_auth *a)
{
    char eb[ECHO_MAX + 4];
    for (size_t i = 0; i < rq->nheaders; i++) {
        const char *name = rq->headers[i].name;
        if (!name || strncasecmp(name, "x-amz-", 6) != 0) continue;
        if (name_eq(name, span_of("x-amz-security-token"))
            || name_eq(name, span_of("x-amz-content-sha256")))
            continue;
        if (!signed_has(a->signed_headers, name))
            BAIL(TR_E_INVALID_SIGNATURE, MSG_MUST_SIGN, echo(span_of(name), eb));
    }
    return TR_OK;
}

/* The payload-hash line into *line (borrowed from the header or hex).
 * With check (the verifier): one x-amz-content-sha256 at most, and a
 * value equal to SHA-256(body) or, when allowed, UNSIGNED-PAYLOAD. */
static TR_RESULT payload_line(const struct sigv4_request *rq, bool check, char hex[65],
                              struct span *line)
{
    const char *v = NULL;
    uint8_t body_hash[SHA256_LEN], sent[SHA256_LEN];
    ENSURE(rq->headers != NULL || rq->nheaders == 0, TR_E_INTERNAL);
    size_t n = header_find(rq, "x-amz-content-sha256", &v);
    bool need_hash = n == 0 || check;
    if (need_hash) {
        GUARD(sha256(rq->body_len ? rq->body : (const uint8_t *)"", rq->body_len, body_hash));
        hex_encode(body_hash, SHA256_LEN, hex);
    }
    if (n == 0) {
        *line = (struct span){ hex, 64 };
        return TR_OK;
    }
    *line = trim(span_of(v));
    if (!check) return TR_OK;
    if (n != 1) BAIL(TR_E_INVALID_SIGNATURE, MSG_PAYLOAD);
    if (span_is(*line, "UNSIGNED-PAYLOAD") && atomic_load(&allow_unsigned_payload)) return TR_OK;
    if (line->n != 64 || !hex_decode(line->p, 64, sent) || memcmp(sent, body_hash, SHA256_LEN) != 0)
        BAIL(TR_E_INVALID_SIGNATURE, MSG_PAYLOAD);
    return TR_OK;
}

static TR_RESULT build_canonical(const struct sigv4_request *rq, const struct sigv4_auth *a,
                                 bool normalize, struct span payload, struct buf *out)
{
    ENSURE(rq->headers != NULL || rq->nheaders == 0, TR_E_INTERNAL);
    GUARD(check_signed_headers(a->signed_headers));
    GUARD(buf_append_str(out, rq->method));
    GUARD(buf_append(out, "\n", 1));
    GUARD(canonical_path(rq->path, normalize, out));
    GUARD(buf_append(out, "\n", 1));
    GUARD(canonical_query(rq->query, a->presigned, out));
    GUARD(buf_append(out, "\n", 1));
    GUARD(canonical_headers(rq, a->signed_headers, out));
    GUARD(buf_append(out, "\n", 1));
    GUARD(buf_append_str(out, a->signed_headers));
    GUARD(buf_append(out, "\n", 1));
    GUARD(buf_append(out, payload.p, payload.n));
    return TR_OK;
}

/* A buffer size that holds the canonical request of rq in one allocation. */
static size_t canonical_estimate(const struct sigv4_request *rq, const struct sigv4_auth *a)
{
    size_t n = 256 + strlen(rq->method) + strlen(a->signed_headers) * 2
             + 3 * (strlen(rq->path) + (rq->query ? strlen(rq->query) : 0));
    for (size_t i = 0; i < rq->nheaders && n < MAX_CANONICAL; i++)
        n += (rq->headers[i].name ? strlen(rq->headers[i].name) : 0)
           + (rq->headers[i].value ? strlen(rq->headers[i].value) : 0) + 2;
    return n < MAX_CANONICAL ? n : MAX_CANONICAL;
}

/* A canonical request that outgrew its cap is a client error, not ours. */
static tr_result map_size_error(tr_result r)
{
    if (tr_failed(r) && tr_code(r) == TR_E_VALIDATION)
        return tr_fail_at(__FILE__, __LINE__, TR_E_INVALID_SIGNATURE,
                          "The request is too large to verify its signature.");
    return r;
}

TR_RESULT sigv4_canonical_request(const struct sigv4_request *rq, const struct sigv4_auth *a,
                                  bool normalize_path, struct buf *out)
{
    char hex[65];
    struct span payload;
    ENSURE_REF(rq); ENSURE_REF(a); ENSURE_REF(out);
    ENSURE_REF(rq->method); ENSURE_REF(rq->path);
    GUARD(payload_line(rq, false, hex, &payload));
    return build_canonical(rq, a, normalize_path, payload, out);
}

/* Append the first n bytes of s (at most max, stopping at a NUL). */
static char *put_field(char *o, const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    memcpy(o, s, n);
    return o + n;
}

/* The string to sign into out (cap bytes), NUL-terminated:
 *   AWS4-HMAC-SHA256 \n amz_date \n date/region/service/aws4_request \n hex(SHA-256(creq))
 * Written piece by piece (a format string cost as much as the pieces'
 * hashing); each field is cut at its struct's size as "%.Ns" was. */
static TR_RESULT sts_build(const struct sigv4_auth *a, const struct buf *creq, char *out,
                           size_t cap, size_t *len)
{
    uint8_t h[SHA256_LEN];
    _Static_assert(STS_MAX >= sizeof ALGORITHM + 16 + 8 + 63 + 63 + sizeof TERMINATOR + 64 + 8,
                   "the longest string to sign fits");
    ENSURE(cap >= STS_MAX, TR_E_INTERNAL);
    GUARD(sha256(creq->data, creq->len, h));
    char *o = out;
    memcpy(o, ALGORITHM "\n", sizeof ALGORITHM);
    o += sizeof ALGORITHM;
    o = put_field(o, a->amz_date, 16);
    *o++ = '\n';
    o = put_field(o, a->date, 8);
    *o++ = '/';
    o = put_field(o, a->region, 63);
    *o++ = '/';
    o = put_field(o, a->service, 63);
    memcpy(o, "/" TERMINATOR "\n", sizeof TERMINATOR + 1);
    o += sizeof TERMINATOR + 1;
    hex_encode(h, SHA256_LEN, o);      /* 64 digits and a NUL */
    *len = (size_t)(o - out) + 64;
    return TR_OK;
}

TR_RESULT sigv4_string_to_sign(const struct sigv4_auth *a, const struct buf *canonical_request,
                               struct buf *out)
{
    char sts[STS_MAX];
    size_t n;
    ENSURE_REF(a); ENSURE_REF(canonical_request); ENSURE_REF(out);
    GUARD(sts_build(a, canonical_request, sts, sizeof sts, &n));
    return buf_append(out, sts, n);
}

TR_RESULT sigv4_signing_key(const char *secret, size_t secret_len, const char *date,
                            const char *region, const char *service, uint8_t out[32])
{
    uint8_t k[4 + MAX_SECRET_LEN], kdate[SHA256_LEN], kregion[SHA256_LEN], kservice[SHA256_LEN];
    ENSURE_REF(secret); ENSURE_REF(date); ENSURE_REF(region); ENSURE_REF(service); ENSURE_REF(out);
    ENSURE(secret_len <= MAX_SECRET_LEN, TR_E_INTERNAL);
    memcpy(k, "AWS4", 4);
    memcpy(k + 4, secret, secret_len);
    tr_result r = hmac_sha256(k, 4 + secret_len, date, strlen(date), kdate);
    if (tr_ok(r)) r = hmac_sha256(kdate, sizeof kdate, region, strlen(region), kregion);
    if (tr_ok(r)) r = hmac_sha256(kregion, sizeof kregion, service, strlen(service), kservice);
    if (tr_ok(r)) r = hmac_sha256(kservice, sizeof kservice, TERMINATOR, strlen(TERMINATOR), out);
    secure_zero(k, sizeof k);
    secure_zero(kdate, sizeof kdate);
    secure_zero(kregion, sizeof kregion);
    secure_zero(kservice, sizeof kservice);
    if (tr_failed(r)) secure_zero(out, SHA256_LEN);
    return r;
}

/* sigv4_verify and sigv4_verify_mac: the signature is the HMAC of the
 * string to sign under signing_key, or under signing_mac when not NULL. */
static TR_RESULT verify(const struct sigv4_request *rq, const struct sigv4_auth *a,
                        const uint8_t *signing_key, struct hmac_key *signing_mac,
                        bool normalize_path)
{
    struct buf creq = BUF_INIT(MAX_CANONICAL);
    uint8_t want[SHA256_LEN], got[SHA256_LEN];
    char hex[65], sts[STS_MAX];
    struct span payload;
    size_t sts_len;
    tr_result r;

    ENSURE_REF(rq); ENSURE_REF(a); ENSURE(signing_key || signing_mac, TR_E_INTERNAL);
    ENSURE_REF(rq->method); ENSURE_REF(rq->path);
    if (strnlen(a->signature, sizeof a->signature) != 64 || !hex_decode(a->signature, 64, want))
        BAIL(TR_E_INVALID_SIGNATURE, MSG_MISMATCH);
    GUARD(payload_line(rq, true, hex, &payload));

    r = buf_reserve(&creq, canonical_estimate(rq, a));
    if (tr_failed(r)) goto fail;
    r = map_size_error(build_canonical(rq, a, normalize_path, payload, &creq));
    if (tr_failed(r)) goto fail;
    r = sts_build(a, &creq, sts, sizeof sts, &sts_len);
    if (tr_failed(r)) goto fail;
    r = signing_mac ? hmac_with(signing_mac, sts, sts_len, got)
                    : hmac_sha256(signing_key, SHA256_LEN, sts, sts_len, got);
    if (tr_failed(r)) goto fail;
    if (!ct_memeq(got, want, SHA256_LEN)) FAIL(TR_E_INVALID_SIGNATURE, MSG_MISMATCH);
fail:
    secure_zero(got, sizeof got);
    buf_free(&creq);
    return r;
}

TR_RESULT sigv4_verify(const struct sigv4_request *rq, const struct sigv4_auth *a,
                       const uint8_t signing_key[32], bool normalize_path)
{
    ENSURE_REF(signing_key);
    return verify(rq, a, signing_key, NULL, normalize_path);
}

TR_RESULT sigv4_verify_mac(const struct sigv4_request *rq, const struct sigv4_auth *a,
                           struct hmac_key *signing_mac, bool normalize_path)
{
    ENSURE_REF(signing_mac);
    return verify(rq, a, NULL, signing_mac, normalize_path);
}

/* ---- parsing the signature parameters -------------------------------- */

static TR_RESULT set_iso_date(struct span d, struct sigv4_auth *out)
{
    char eb[ECHO_MAX + 4];
    time_t t;
    if (!sigv4_date_parse_iso(d.p, d.n, &t)) BAIL(TR_E_INCOMPLETE_SIGNATURE, MSG_DATE, echo(d, eb));
    memcpy(out->amz_date, d.p, 16);
    out->amz_date[16] = '\0';
    out->request_time = t;
    return TR_OK;
}

static TR_RESULT set_credential(struct span cred, struct sigv4_auth *out)
{
    char eb[ECHO_MAX + 4];
    struct span part[5];
    const char *s = cred.p, *end = cred.p + cred.n;
    size_t np = 0;
    while (np < 6) {
        const char *sl = memchr(s, '/', (size_t)(end - s));
        const char *e = sl ? sl : end;
        if (np < 5) part[np] = (struct span){ s, (size_t)(e - s) };
        np++;
        if (!sl) break;
        s = sl + 1;
    }
    if (np != 5)
        BAIL(TR_E_INCOMPLETE_SIGNATURE, "Credential must have exactly 5 slash-delimited elements, "
             "e.g. keyid/date/region/service/term, got '%s'", echo(cred, eb));
    if (!span_is(part[4], TERMINATOR))
        BAIL(TR_E_INCOMPLETE_SIGNATURE,
             "Credential should be scoped with a valid terminator: 'aws4_request', not '%s'.",
             echo(part[4], eb));
    if (part[0].n == 0 || part[0].n >= sizeof out->access_key_id || !is_printable(part[0]))
        BAIL(TR_E_INCOMPLETE_SIGNATURE, "Credential should contain a valid access key id. Got '%s'.",
             echo(part[0], eb));
    if (part[1].n != 8)
        BAIL(TR_E_INVALID_SIGNATURE,
             "Date in Credential scope does not match YYYYMMDD from ISO-8601 version "
             "of date from HTTP: '%s' != '%.8s', from '%s'.",
             echo(part[1], eb), out->amz_date, out->amz_date);
    if (part[2].n == 0 || part[2].n >= sizeof out->region || !is_printable(part[2]))
        BAIL(TR_E_INCOMPLETE_SIGNATURE, "Credential should be scoped to a valid region.");
    if (part[3].n == 0 || part[3].n >= sizeof out->service || !is_printable(part[3]))
        BAIL(TR_E_INCOMPLETE_SIGNATURE, "Credential should be scoped to a valid service.");
    memcpy(out->access_key_id, part[0].p, part[0].n);
    memcpy(out->date, part[1].p, 8);
    memcpy(out->region, part[2].p, part[2].n);
    memcpy(out->service, part[3].p, part[3].n);
    return TR_OK;
}

static TR_RESULT set_signed_headers(struct span sh, struct sigv4_auth *out)
{
    if (sh.n >= sizeof out->signed_headers)
        BAIL(TR_E_INCOMPLETE_SIGNATURE, "SignedHeaders must list between 1 and %d header names.",
             SIGV4_MAX_SIGNED_HEADERS);
    memcpy(out->signed_headers, sh.p, sh.n);
    out->signed_headers[sh.n] = '\0';
    return check_signed_headers(out->signed_headers);
}

static TR_RESULT set_signature(struct span sig, struct sigv4_auth *out)
{
    bool ok = sig.n == 64;
    for (size_t i = 0; ok && i < 64; i++) ok = hexval((unsigned char)sig.p[i]) >= 0;
    if (!ok) BAIL(TR_E_INCOMPLETE_SIGNATURE, "Signature must be 64 hexadecimal characters.");
    for (size_t i = 0; i < 64; i++) {
        char c = sig.p[i];
        out->signature[i] = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
    }
    out->signature[64] = '\0';
    return TR_OK;
}

/* X-Amz-Security-Token: the header if present, else the query parameter
 * (decoded into out->security_token_buf). */
static TR_RESULT set_token(const struct sigv4_request *rq, const struct qauth *q,
                           struct sigv4_auth *out)
{
    const char *v = NULL;
    size_t n = header_find(rq, "x-amz-security-token", &v);
    if (n > 1)
        BAIL(TR_E_INCOMPLETE_SIGNATURE, "Request contains more than one X-Amz-Security-Token header.");
    if (n == 1) {
        out->security_token = trim(span_of(v)).p;
        return TR_OK;
    }
    if (!q->token.p) return TR_OK;
    if (!pct_decode(q->token, out->security_token_buf, sizeof out->security_token_buf, NULL))
        BAIL(TR_E_INCOMPLETE_SIGNATURE, "The X-Amz-Security-Token query parameter is not valid.");
    out->security_token = out->security_token_buf;
    return TR_OK;
}

/* Append the sentence when the part is missing; returns the new length. */
static size_t msg_add(char *m, size_t cap, size_t len, bool missing, const char *sentence)
{
    if (!missing || len >= cap) return len;
    int n = snprintf(m + len, cap - len, "%s ", sentence);
    return n < 0 ? len : len + (size_t)n < cap ? len + (size_t)n : cap - 1;
}

static TR_RESULT parse_header_auth(const struct sigv4_request *rq, const char *authz,
                                   const struct qauth *q, struct sigv4_auth *out)
{
    char eb[ECHO_MAX + 4], eb2[ECHO_MAX + 4];
    struct span v = trim(span_of(authz));
    if (v.n > MAX_AUTHZ_LEN) BAIL(TR_E_INCOMPLETE_SIGNATURE, "Authorization header is too long.");

    size_t i = 0;
    while (i < v.n && !is_ws((unsigned char)v.p[i]) && v.p[i] != '=') i++;
    struct span alg = { v.p, i };
    if (!span_is(alg, ALGORITHM))
        BAIL(TR_E_INCOMPLETE_SIGNATURE, "Unsupported AWS 'algorithm': '%s'", echo(alg, eb));

    /* "Credential=..., SignedHeaders=..., Signature=..." in any order. */
    struct span cred = { NULL, 0 }, sh = { NULL, 0 }, sig = { NULL, 0 };
    struct qiter it = { v.p + i, v.p + v.n };
    while (it.p < it.end) {
        const char *comma = memchr(it.p, ',', (size_t)(it.end - it.p));
        const char *e = comma ? comma : it.end;
        struct span c = trim((struct span){ it.p, (size_t)(e - it.p) });
        it.p = comma ? comma + 1 : it.end;
        const char *eq = c.n ? memchr(c.p, '=', c.n) : NULL;
        if (!eq) continue;
        struct span name = trim((struct span){ c.p, (size_t)(eq - c.p) });
        struct span val = trim((struct span){ eq + 1, (size_t)(c.p + c.n - eq - 1) });
        struct span *slot = span_is(name, "Credential") ? &cred
                          : span_is(name, "SignedHeaders") ? &sh
                          : span_is(name, "Signature") ? &sig : NULL;
        if (!slot) continue;
        if (slot->p)
            BAIL(TR_E_INCOMPLETE_SIGNATURE, "Authorization header has more than one '%s' parameter.",
                 echo(name, eb));
        *slot = val;
    }

    const char *xdate = NULL, *hdate = NULL;
    size_t nx = header_find(rq, "x-amz-date", &xdate);
    size_t nd = header_find(rq, "date", &hdate);
    if (!cred.n || !sh.n || !sig.n || (nx == 0 && nd == 0)) {
        /* AWS's sentences, then the header as we understood it, without
         * its Signature (never echoed). */
        char m[TR_ERR_MSG_MAX];
        size_t len = 0;
        m[0] = '\0';
        len = msg_add(m, sizeof m, len, !cred.n, "Authorization header requires 'Credential' parameter.");
        len = msg_add(m, sizeof m, len, !sig.n, "Authorization header requires 'Signature' parameter.");
        len = msg_add(m, sizeof m, len, !sh.n, "Authorization header requires 'SignedHeaders' parameter.");
        len = msg_add(m, sizeof m, len, nx == 0 && nd == 0, "Authorization header requires existence "
                      "of either a 'X-Amz-Date' or a 'Date' header.");
        (void)len;
        BAIL(TR_E_INCOMPLETE_SIGNATURE, "%sAuthorization=" ALGORITHM "%s%s%s%s", m,
             cred.n ? " Credential=" : "", cred.n ? echo(cred, eb) : "",
             sh.n ? (cred.n ? ", SignedHeaders=" : " SignedHeaders=") : "",
             sh.n ? echo(sh, eb2) : "");
    }

    if (nx > 1) BAIL(TR_E_INCOMPLETE_SIGNATURE, "Request contains more than one X-Amz-Date header.");
    if (nx == 1) {
        GUARD(set_iso_date(trim(span_of(xdate)), out));
    } else {
        struct span d = trim(span_of(hdate));
        time_t t;
        if (nd > 1) BAIL(TR_E_INCOMPLETE_SIGNATURE, "Request contains more than one Date header.");
        if (!sigv4_date_parse_http(d.p, d.n, &t)) BAIL(TR_E_INCOMPLETE_SIGNATURE, MSG_DATE, echo(d, eb));
        out->request_time = t;
        sigv4_date_format(t, out->amz_date);
    }
    GUARD(set_credential(cred, out));
    GUARD(set_signed_headers(sh, out));
    GUARD(set_signature(sig, out));
    return set_token(rq, q, out);
}

static TR_RESULT parse_query_auth(const struct sigv4_request *rq, const struct qauth *q,
                                  struct sigv4_auth *out)
{
    char eb[ECHO_MAX + 4], alg[32], date[32], exp[16], cred[400], sh[sizeof out->signed_headers],
         sig[80];
    size_t cred_n = 0, sh_n = 0, sig_n = 0, date_n = 0;

    out->presigned = true;
    if (!q->cred.n || !q->date.n || !q->expires.n || !q->sh.n || !q->sig.n)
        BAIL(TR_E_INCOMPLETE_SIGNATURE, MSG_QUERY_MISSING);
    if (q->dup)
        BAIL(TR_E_INCOMPLETE_SIGNATURE, "AWS query-string parameters must not be repeated.");
    if (!pct_decode(q->alg, alg, sizeof alg, NULL) || strcmp(alg, ALGORITHM) != 0)
        BAIL(TR_E_INCOMPLETE_SIGNATURE, "Unsupported AWS 'algorithm': '%s'", echo(q->alg, eb));
    if (!pct_decode(q->date, date, sizeof date, &date_n))
        BAIL(TR_E_INCOMPLETE_SIGNATURE, MSG_DATE, echo(q->date, eb));
    GUARD(set_iso_date((struct span){ date, date_n }, out));

    size_t exp_n = 0;
    bool num = pct_decode(q->expires, exp, sizeof exp, &exp_n) && exp_n > 0 && exp_n <= 7;
    int64_t expires = 0;
    for (size_t i = 0; num && i < exp_n; i++) {
        num = exp[i] >= '0' && exp[i] <= '9';
        expires = expires * 10 + (exp[i] - '0');
    }
    if (!num) BAIL(TR_E_INCOMPLETE_SIGNATURE, "X-Amz-Expires should be a number");
    if (expires > MAX_EXPIRES)
        BAIL(TR_E_INCOMPLETE_SIGNATURE,
             "X-Amz-Expires must be less than a week (in seconds) that is %d", MAX_EXPIRES);
    out->expires = expires;

    if (!pct_decode(q->cred, cred, sizeof cred, &cred_n))
        BAIL(TR_E_INCOMPLETE_SIGNATURE, "Credential must have exactly 5 slash-delimited elements, "
             "e.g. keyid/date/region/service/term, got '%s'", echo(q->cred, eb));
    GUARD(set_credential((struct span){ cred, cred_n }, out));
    if (!pct_decode(q->sh, sh, sizeof sh, &sh_n))
        BAIL(TR_E_INCOMPLETE_SIGNATURE, "SignedHeaders must list between 1 and %d header names.",
             SIGV4_MAX_SIGNED_HEADERS);
    GUARD(set_signed_headers((struct span){ sh, sh_n }, out));
    if (!pct_decode(q->sig, sig, sizeof sig, &sig_n))
        BAIL(TR_E_INCOMPLETE_SIGNATURE, "Signature must be 64 hexadecimal characters.");
    GUARD(set_signature((struct span){ sig, sig_n }, out));
    return set_token(rq, q, out);
}

TR_RESULT sigv4_parse(const struct sigv4_request *rq, struct sigv4_auth *out)
{
    struct qauth q;
    const char *authz = NULL;
    ENSURE_REF(rq); ENSURE_REF(out);
    ENSURE(rq->headers != NULL || rq->nheaders == 0, TR_E_INTERNAL);
    memset(out, 0, sizeof *out);

    struct span query = span_of(rq->query);
    if (query.n > MAX_QUERY_LEN)
        BAIL(TR_E_INCOMPLETE_SIGNATURE, "The query string is too long (at most %d bytes).",
             MAX_QUERY_LEN);
    qauth_scan(query.p, query.n, &q);
    if (q.count > MAX_QUERY_PARAMS)
        BAIL(TR_E_INCOMPLETE_SIGNATURE, "The query string has too many parameters (at most %d).",
             MAX_QUERY_PARAMS);
    if (span_of(rq->path).n > MAX_PATH_LEN)
        BAIL(TR_E_INCOMPLETE_SIGNATURE, "The request path is too long (at most %d bytes).",
             MAX_PATH_LEN);

    size_t na = header_find(rq, "authorization", &authz);
    if (na > 1) BAIL(TR_E_INCOMPLETE_SIGNATURE, "Request contains more than one Authorization header.");
    bool by_header = na == 1 && trim(span_of(authz)).n > 0;
    if (!by_header && !q.has_alg) BAIL(TR_E_MISSING_AUTH, "Request is missing Authentication Token");
    if (by_header && q.has_alg)
        BAIL(TR_E_INCOMPLETE_SIGNATURE, "Only one auth mechanism allowed; only the X-Amz-Algorithm "
             "query parameter or the Authorization header should be specified");
    GUARD(by_header ? parse_header_auth(rq, authz, &q, out) : parse_query_auth(rq, &q, out));
    return check_unsigned(rq, out);
}
