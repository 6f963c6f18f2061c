/*
 * query_proto.c -- form decoding and XML writing for the query protocol
 * (IAM, STS).  See query_proto.h.
 *
 * The form body and the query string are attacker-controlled: decoding is
 * one linear pass over each into a capped buffer, parameter count is
 * capped, and every value handed to a handler is NUL-terminated and
 * decoded exactly once.  Values may carry policy documents and passwords,
 * so the storage is a secret buf.
 */
#include "op/query_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/date.h"
#include "core/hex.h"
#include "core/json.h"
#include "core/utf8.h"

/* Decode [p, e) into storage; returns the offset of the NUL-terminated
 * result.  The decoded bytes must be UTF-8: every value reaches handlers,
 * the store and XML replies as text.  `where` names the source in
 * messages ("request body", "query string"). */
static TR_RESULT decode_part(struct buf *st, const uint8_t *p, const uint8_t *e,
                             const char *where, uint32_t *off)
{
    *off = st->len;
    while (p < e) {
        uint8_t c = *p++;
        if (c == '+') c = ' ';
        else if (c == '%') {
            if (e - p < 2) BAIL(TR_E_QUERY_VALIDATION, "Malformed percent-encoding in the %s", where);
            int hi = hex_digit(p[0]), lo = hex_digit(p[1]);
            if (hi < 0 || lo < 0) BAIL(TR_E_QUERY_VALIDATION, "Malformed percent-encoding in the %s", where);
            c = (uint8_t)(hi * 16 + lo);
            p += 2;
        }
        if (c == 0) BAIL(TR_E_QUERY_VALIDATION, "NUL character in the %s", where);
        GUARD(buf_append(st, &c, 1));
    }
    /* An empty first part leaves storage unallocated: no NULL + 0. */
    if (st->len > *off && !utf8_valid(st->data + *off, st->len - *off))
        BAIL(TR_E_QUERY_VALIDATION, "Request parameters must be valid UTF-8");
    uint8_t z = 0;
    return buf_append(st, &z, 1);
}

/* Append the parameters of one '&'-separated source to out: names and
 * values into out->storage, their offsets into koff[] / voff[]. */
static TR_RESULT form_add(struct form *out, const uint8_t *src, size_t len, const char *where,
                          uint32_t *koff, uint32_t *voff)
{
    const uint8_t *p = src, *end = src + len;
    while (p < end) {
        const uint8_t *amp = memchr(p, '&', (size_t)(end - p));
        const uint8_t *pe = amp ? amp : end;
        if (pe > p) {
            if (out->n >= FORM_MAX_PARAMS)
                BAIL(TR_E_QUERY_VALIDATION, "Too many parameters in the request (at most %d)", FORM_MAX_PARAMS);
            const uint8_t *eq = memchr(p, '=', (size_t)(pe - p));
            GUARD(decode_part(&out->storage, p, eq ? eq : pe, where, &koff[out->n]));
            GUARD(decode_part(&out->storage, eq ? eq + 1 : pe, pe, where, &voff[out->n]));
            out->n++;
        }
        p = pe + (amp ? 1 : 0);
    }
    return TR_OK;
}

TR_RESULT form_parse_request(const uint8_t *query, size_t qlen, const uint8_t *body, size_t blen,
                             struct form *out)
{
    /* Zeroed, though only [0, out->n) is ever read: clang's analyzer loses
     * out->n across the memset of the 8 KiB form and would report the
     * loop below reading offsets form_add never wrote (make scan). */
    uint32_t koff[FORM_MAX_PARAMS] = { 0 }, voff[FORM_MAX_PARAMS] = { 0 };
    memset(out, 0, sizeof *out);
    out->storage = BUF_SECRET((uint32_t)(qlen + blen) + 2 * FORM_MAX_PARAMS + 16);
    if (qlen) GUARD(form_add(out, query, qlen, "query string", koff, voff));
    size_t nq = out->n;
    if (blen) GUARD(form_add(out, body, blen, "request body", koff, voff));
    /* Pointers only once storage stopped moving. */
    for (size_t i = 0; i < out->n; i++) {
        out->kv[i].key = (const char *)out->storage.data + koff[i];
        out->kv[i].value = (const char *)out->storage.data + voff[i];
    }
    /* One name in both places would leave the value to a rule nobody
     * can see: refused (at most 256 x 512 comparisons: sigv4.c caps the
     * query string at 256 parameters). */
    for (size_t i = nq; i < out->n; i++)
        for (size_t j = 0; j < nq; j++)
            if (strcmp(out->kv[i].key, out->kv[j].key) == 0)
                BAIL(TR_E_QUERY_VALIDATION, "The parameter %.64s is given both in the query "
                     "string and in the request body", out->kv[i].key);
    return TR_OK;
}

TR_RESULT form_parse(const uint8_t *body, size_t len, struct form *out)
{
    return form_parse_request(NULL, 0, body, len, out);
}

void form_free(struct form *f)
{
    if (!f) return;
    buf_free(&f->storage);
    f->n = 0;
}

const char *form_get(const struct form *f, const char *key)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->kv[i].key, key) == 0) return f->kv[i].value;
    return NULL;
}

/* json_invalid's wording, under the query protocol's ValidationError code. */
static tr_result invalid(const char *key, const char *value_repr, const char *constraint)
{
    char msg[TR_ERR_MSG_MAX];
    tr_result r = json_invalid(key, value_repr, constraint);
    (void)r;
    snprintf(msg, sizeof msg, "%s", tr_last_error()->message);     /* fits: a message, as large */
    return tr_fail_at(__FILE__, __LINE__, TR_E_QUERY_VALIDATION, "%s", msg);
}

TR_RESULT form_str(const struct form *f, const char *key, bool required,
                   size_t min_len, size_t max_len, const char **out)
{
    *out = form_get(f, key);
    if (!*out) {
        if (required) return invalid(key, "null", "Member must not be null");
        return TR_OK;
    }
    size_t n = utf8_strlen(*out);
    char q[80], c[128];
    if (n < min_len || n > max_len) {
        snprintf(q, sizeof q, "'%.64s'", *out);                    /* fits: 64 and two quotes */
        snprintf(c, sizeof c, n < min_len ? "Member must have length greater than or equal to %zu" /* fits: 72 */
                                          : "Member must have length less than or equal to %zu",
                 n < min_len ? min_len : max_len);
        *out = NULL;
        return invalid(key, q, c);
    }
    return TR_OK;
}

TR_RESULT form_int(const struct form *f, const char *key, bool required,
                   int64_t min, int64_t max, bool *present, int64_t *out)
{
    if (present) *present = false;
    const char *s = form_get(f, key);
    if (!s) {
        if (required) return invalid(key, "null", "Member must not be null");
        return TR_OK;
    }
    char *end;
    long long v = strtoll(s, &end, 10);
    char q[80], c[128];
    snprintf(q, sizeof q, "'%.32s'", s);                            /* fits: 32 and two quotes */
    if (!*s || *end) return invalid(key, q, "Member must be an integer");
    if (v < min || v > max) {
        snprintf(c, sizeof c, v < min ? "Member must have value greater than or equal to %lld" /* fits: 75 */
                                      : "Member must have value less than or equal to %lld",
                 (long long)(v < min ? min : max));
        return invalid(key, q, c);
    }
    if (present) *present = true;
    *out = v;
    return TR_OK;
}

TR_RESULT form_bool(const struct form *f, const char *key, bool *present, bool *out)
{
    if (present) *present = false;
    const char *s = form_get(f, key);
    if (!s) return TR_OK;
    if (strcasecmp(s, "true") == 0) *out = true;
    else if (strcasecmp(s, "false") == 0) *out = false;
    else {
        char q[80];
        snprintf(q, sizeof q, "'%.32s'", s);                        /* fits: 32 and two quotes */
        return invalid(key, q, "Member must be a boolean");
    }
    if (present) *present = true;
    return TR_OK;
}

size_t form_list(const struct form *f, const char *name, const char **out, size_t max)
{
    char key[256];
    size_t n = 0;
    for (size_t i = 1; n < max; i++) {
        /* fits: name is a handler's literal member name, short */
        snprintf(key, sizeof key, "%s.member.%zu", name, i);
        const char *v = form_get(f, key);
        if (!v) break;
        out[n++] = v;
    }
    return n;
}

/* ---- XML ----------------------------------------------------------- */

static void put(struct xml *x, const char *s, size_t n)
{
    if (tr_ok(x->r)) x->r = buf_append(x->b, s, n);
}

/* Text content: the five XML escapes and CR; what XML 1.0 cannot carry
 * at all -- control characters other than tab and newline, and bytes that
 * are not UTF-8 (a value quoted in a message may be cut mid-character) --
 * becomes U+FFFD, so every reply parses. */
static void put_escaped(struct xml *x, const char *text)
{
    static const char REPLACEMENT[] = "\xEF\xBF\xBD";
    const uint8_t *s = (const uint8_t *)text, *run = s;
    size_t left = strlen(text);
    while (left) {
        const char *rep = NULL;
        size_t n = 1;
        switch (*s) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&apos;"; break;
        case '\r': rep = "&#xD;"; break;
        case '\t': case '\n': break;
        default:
            if (*s < 0x20) rep = REPLACEMENT;
            else if (*s >= 0x80 && (n = utf8_seq(s, left)) == 0) { rep = REPLACEMENT; n = 1; }
            break;
        }
        if (rep) {
            put(x, (const char *)run, (size_t)(s - run));
            put(x, rep, strlen(rep));
            run = s + n;
        }
        s += n;
        left -= n;
    }
    put(x, (const char *)run, (size_t)(s - run));
}

void xml_open(struct xml *x, const char *tag)
{
    put(x, "<", 1); put(x, tag, strlen(tag)); put(x, ">", 1);
}

void xml_close(struct xml *x, const char *tag)
{
    put(x, "</", 2); put(x, tag, strlen(tag)); put(x, ">", 1);
}

void xml_text(struct xml *x, const char *tag, const char *text)
{
    xml_open(x, tag);
    put_escaped(x, text ? text : "");
    xml_close(x, tag);
}

void xml_int(struct xml *x, const char *tag, int64_t v)
{
    char n[32];
    snprintf(n, sizeof n, "%lld", (long long)v);   /* fits: a long long in n[32] */
    xml_text(x, tag, n);
}

void xml_bool(struct xml *x, const char *tag, bool v)
{
    xml_text(x, tag, v ? "true" : "false");
}

void xml_time(struct xml *x, const char *tag, int64_t epoch)
{
    char t[DATE_ISO8601_LEN];
    date_iso8601(epoch, t);
    xml_text(x, tag, t);
}

void xml_policy(struct xml *x, const char *tag, const char *doc)
{
    xml_open(x, tag);
    /* Only unreserved characters and %XX: nothing left to XML-escape. */
    if (doc && tr_ok(x->r)) x->r = pct_encode(x->b, doc, strlen(doc), NULL);
    xml_close(x, tag);
}
