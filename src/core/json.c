/*
 * json.c -- typed getters over jansson with AWS's validation wording.
 *
 * The awsJson1_1 front end of AWS rejects a member of the wrong JSON type
 * before the service sees it (SerializationException), and the service
 * then checks the model's constraints (ValidationException, with the
 * member named in lower camel case).  These helpers reproduce both, so
 * handlers read their input in a few lines each.  Lengths are counted in
 * Unicode code points, as the model's min/max for strings are.
 */
#include "core/json.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/secmem.h"
#include "core/str.h"
#include "core/utf8.h"

/* "KeyId" -> "keyId" (AWS names members this way in validation errors). */
static void lower_camel(const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s", name);       /* cut: a member's name, in a message */
    if (out[0]) out[0] = (char)tolower((unsigned char)out[0]);
}

tr_result (json_invalid)(const char *name, const char *value_repr, const char *constraint)
{
    char member[128];
    lower_camel(name, member, sizeof member);
    if (value_repr)
        return tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION,
            "1 validation error detected: Value %s at '%s' failed to satisfy constraint: %s",
            value_repr, member, constraint);
    return tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION,
        "1 validation error detected: Value at '%s' failed to satisfy constraint: %s",
        member, constraint);
}

static tr_result missing(const char *name)
{
    return json_invalid(name, "null", "Member must not be null");
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "structure or map";
    case JSON_ARRAY: return "list";
    case JSON_STRING: return "string";
    case JSON_INTEGER: case JSON_REAL: return "number";
    case JSON_TRUE: case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

static tr_result wrong_type(const char *name, const json_t *v, const char *want)
{
    return tr_fail_at(__FILE__, __LINE__, TR_E_SERIALIZATION,
                      "Unexpected %s for member '%s': expected %s", type_name(v), name, want);
}

/* What a member must be. */
enum shape { SHAPE_STRING, SHAPE_INTEGER, SHAPE_BOOLEAN, SHAPE_ARRAY, SHAPE_OBJECT };

static bool has_shape(const json_t *v, enum shape s)
{
    switch (s) {
    case SHAPE_STRING: return json_is_string(v);
    case SHAPE_INTEGER: return json_is_integer(v);
    case SHAPE_BOOLEAN: return json_is_boolean(v);
    case SHAPE_ARRAY: return json_is_array(v);
    case SHAPE_OBJECT: return json_is_object(v);
    }
    return false;
}

/* in's member `name` into *v: NULL when it is absent or null (the
 * missing-member error when required), the wrong-type error (expected
 * `want`) when it is not of shape s. */
static TR_RESULT member(json_t *in, const char *name, bool required, enum shape s,
                        const char *want, json_t **v)
{
    *v = json_object_get(in, name);
    if (*v && json_is_null(*v)) *v = NULL;
    if (!*v) return required ? missing(name) : TR_OK;
    if (!has_shape(*v, s)) return wrong_type(name, *v, want);
    return TR_OK;
}

TR_RESULT json_check_members(json_t *in, const char *const *allowed)
{
    const char *k;
    json_t *v;
    json_object_foreach(in, k, v) {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, k) == 0) { ok = true; break; }
        if (!ok) {
            /* Never echo an arbitrarily long attacker string. */
            BAIL(TR_E_SERIALIZATION, "Unknown member '%.64s' in the request", k);
        }
    }
    return TR_OK;
}

/* Quote a value for a validation message: at most 64 characters. */
#define QUOTE_MAX (64 + 3)
static void quote_value(const char *s, char out[QUOTE_MAX])
{
    snprintf(out, QUOTE_MAX, "'%.64s'", s);     /* fits: 64 and two quotes */
}

static TR_RESULT get_str(json_t *in, const char *name, bool required, size_t min_len,
                         size_t max_len, bool sensitive, const char **out);

TR_RESULT json_get_str(json_t *in, const char *name, bool required,
                       size_t min_len, size_t max_len, const char **out)
{
    return get_str(in, name, required, min_len, max_len, false, out);
}

TR_RESULT json_get_sensitive_str(json_t *in, const char *name, bool required,
                                 size_t min_len, size_t max_len, const char **out)
{
    return get_str(in, name, required, min_len, max_len, true, out);
}

static TR_RESULT get_str(json_t *in, const char *name, bool required, size_t min_len,
                         size_t max_len, bool sensitive, const char **out)
{
    json_t *v;
    *out = NULL;
    GUARD(member(in, name, required, SHAPE_STRING, "string", &v));
    if (!v) return TR_OK;
    const char *s = json_string_value(v);
    size_t len = utf8_count(s, json_string_length(v));
    if (strlen(s) != json_string_length(v))
        BAIL(TR_E_SERIALIZATION, "Member '%s' contains a NUL character", name);
    /* fits: c holds each constraint sentence below (under 80) and a 20-digit number */
    char q[QUOTE_MAX], c[128];
    if (len < min_len) {
        quote_value(s, q);
        snprintf(c, sizeof c, "Member must have length greater than or equal to %zu", min_len); /* fits: above */
        return json_invalid(name, sensitive ? NULL : q, c);
    }
    if (len > max_len) {
        quote_value(s, q);
        snprintf(c, sizeof c, "Member must have length less than or equal to %zu", max_len);    /* fits: above */
        return json_invalid(name, sensitive ? NULL : q, c);
    }
    *out = s;
    return TR_OK;
}

TR_RESULT json_get_int(json_t *in, const char *name, bool required,
                       int64_t min, int64_t max, bool *present, int64_t *out)
{
    json_t *v;
    if (present) *present = false;
    GUARD(member(in, name, required, SHAPE_INTEGER, "integer", &v));
    if (!v) return TR_OK;
    int64_t x = (int64_t)json_integer_value(v);
    /* fits: q holds a quoted long long, c as above */
    _Static_assert(sizeof "''" + STR_DEC_MAX <= 40, "q");
    char q[40], c[128];
    if (x < min) {
        snprintf(q, sizeof q, "'%lld'", (long long)x);                                          /* fits: above */
        snprintf(c, sizeof c, "Member must have value greater than or equal to %lld", (long long)min); /* fits: above */
        return json_invalid(name, q, c);
    }
    if (x > max) {
        snprintf(q, sizeof q, "'%lld'", (long long)x);                                          /* fits: above */
        snprintf(c, sizeof c, "Member must have value less than or equal to %lld", (long long)max); /* fits: above */
        return json_invalid(name, q, c);
    }
    if (present) *present = true;
    *out = x;
    return TR_OK;
}

TR_RESULT json_get_bool(json_t *in, const char *name, bool *present, bool *out)
{
    json_t *v;
    if (present) *present = false;
    GUARD(member(in, name, false, SHAPE_BOOLEAN, "boolean", &v));
    if (!v) return TR_OK;
    if (present) *present = true;
    *out = json_is_true(v);
    return TR_OK;
}

TR_RESULT json_get_blob(json_t *in, const char *name, bool required,
                        size_t min_len, size_t max_len, struct buf *out)
{
    json_t *v;
    GUARD(member(in, name, required, SHAPE_STRING, "base64-encoded blob", &v));
    if (!v) return TR_OK;
    const char *s = json_string_value(v);
    size_t sl = json_string_length(v);
    /* Check the decoded size bound before decoding anything. */
    char c[128];
    if (sl / 4 * 3 > max_len + 2) {
        snprintf(c, sizeof c, "Member must have length less than or equal to %zu", max_len);    /* fits: above */
        return json_invalid(name, NULL, c);
    }
    uint32_t before = out->len;
    tr_result r = b64_decode(s, sl, out);
    if (tr_failed(r))
        BAIL(TR_E_SERIALIZATION, "Member '%s' is not valid base64", name);
    size_t got = out->len - before;
    if (got < min_len || got > max_len) {
        buf_reset(out);
        snprintf(c, sizeof c, got < min_len        /* fits: as above */
                 ? "Member must have length greater than or equal to %zu"
                 : "Member must have length less than or equal to %zu",
                 got < min_len ? min_len : max_len);
        return json_invalid(name, NULL, c);
    }
    return TR_OK;
}

/* The length of the string s, an element of the list `name` (or a member
 * of one of its structures), against min..max: the list's validation
 * error when outside. */
static TR_RESULT element_length(const char *name, const json_t *s, size_t min_len, size_t max_len)
{
    size_t len = utf8_count(json_string_value(s), json_string_length(s));
    if (len >= min_len && len <= max_len) return TR_OK;
    char c[128];
    snprintf(c, sizeof c, "Member must satisfy constraint: [Member must have length %s %zu]", /* fits: 108 */
             len < min_len ? "greater than or equal to" : "less than or equal to",
             len < min_len ? min_len : max_len);
    return json_invalid(name, NULL, c);
}

/* The list member `name` into *v (NULL when absent) with min_items ..
 * max_items elements: "Member must have length ... than or equal to N". */
static TR_RESULT list_member(json_t *in, const char *name, bool required, size_t min_items,
                             size_t max_items, json_t **v)
{
    GUARD(member(in, name, required, SHAPE_ARRAY, "list", v));
    if (!*v) return TR_OK;
    size_t n = json_array_size(*v);
    if (n >= min_items && n <= max_items) return TR_OK;
    char c[128];
    snprintf(c, sizeof c, "Member must have length %s than or equal to %zu",     /* fits: 70 */
             n < min_items ? "greater" : "less", n < min_items ? min_items : max_items);
    return json_invalid(name, NULL, c);
}

TR_RESULT json_get_str_list(json_t *in, const char *name, bool required,
                            size_t max_items, size_t min_len, size_t max_len,
                            json_t **out)
{
    json_t *v;
    *out = NULL;
    GUARD(list_member(in, name, required, 0, max_items, &v));
    if (!v) return TR_OK;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        if (!json_is_string(e)) return wrong_type(name, e, "string");
        GUARD(element_length(name, e, min_len, max_len));
    }
    *out = v;
    return TR_OK;
}

TR_RESULT json_get_struct_list(json_t *in, const char *name, bool required, size_t min_items,
                               const struct json_field *fields, json_t **out)
{
    json_t *v;
    *out = NULL;
    GUARD(list_member(in, name, required, min_items, SIZE_MAX, &v));
    if (!v) return TR_OK;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        if (!json_is_object(e)) return wrong_type(name, e, "structure");
        const char *k;
        json_t *m;
        json_object_foreach(e, k, m) {
            const struct json_field *f = fields;
            while (f->name && strcmp(f->name, k) != 0) f++;
            if (!f->name) BAIL(TR_E_SERIALIZATION, "Unknown member '%.64s' in the request", k);
            if (json_is_null(m)) continue;
            if (!json_is_string(m)) return wrong_type(f->name, m, "string");
            GUARD(element_length(name, m, f->min_len, f->max_len));
        }
    }
    *out = v;
    return TR_OK;
}

TR_RESULT json_get_str_map(json_t *in, const char *name, json_t **out)
{
    json_t *v;
    *out = NULL;
    GUARD(member(in, name, false, SHAPE_OBJECT, "map", &v));
    if (!v) return TR_OK;
    const char *k;
    json_t *e;
    json_object_foreach(v, k, e) {
        if (!json_is_string(e)) return wrong_type(name, e, "string");
    }
    *out = v;
    return TR_OK;
}

TR_RESULT json_set_blob(json_t *obj, const char *name, const uint8_t *p, size_t n)
{
    struct buf b = BUF_INIT(1u << 24);
    tr_result r = b64_encode(p, n, &b);
    if (tr_failed(r)) { buf_free(&b); return r; }
    json_t *s = json_stringn((const char *)b.data, b.len);
    buf_free(&b);
    ENSURE(s != NULL, TR_E_INTERNAL);
    ENSURE(json_object_set_new(obj, name, s) == 0, TR_E_INTERNAL);
    return TR_OK;
}

TR_RESULT json_set_time(json_t *obj, const char *name, int64_t epoch)
{
    ENSURE(json_object_set_new(obj, name, json_integer(epoch)) == 0, TR_E_INTERNAL);
    return TR_OK;
}

void json_wiping_release(void *p)
{
    secmem_wiping_free(p, WIPE_SITE_JSON);
}

void json_use_wiping_allocator(void)
{
    json_set_alloc_funcs(malloc, json_wiping_release);
}

void json_use_plain_allocator(void)
{
    json_set_alloc_funcs(malloc, free);
}

/* jansson hands a reply over in many small pieces (each key, quote, comma
 * and string run: ~50 for a GetSecretValue); buf_append copies the piece
 * that fits in place. */
static int dump_append(const char *p, size_t n, void *out)
{
    return tr_ok(buf_append(out, p, n)) ? 0 : -1;
}

/* A reply's usual size, reserved at once: growing 64 -> 128 -> 256 -> 512
 * costs a malloc, a copy, a wipe and a free at each step. */
#define DUMP_RESERVE 512

TR_RESULT json_dump_buf(const json_t *v, size_t flags, struct buf *out)
{
    ENSURE(v != NULL && out != NULL, TR_E_INTERNAL);
    uint32_t before = out->len;
    if (out->cap < DUMP_RESERVE && (out->cap || out->data == NULL) && out->max > out->len) {
        size_t room = out->max - out->len;
        GUARD(buf_reserve(out, room < DUMP_RESERVE ? room : DUMP_RESERVE));
    }
    if (json_dump_callback(v, dump_append, out, flags) != 0) {
        buf_truncate(out, before);
        BAIL0(TR_E_INTERNAL);
    }
    return TR_OK;
}

/* ---- writing an object without a tree ------------------------------------ */

/* Whether the 8 bytes of v hold one below 0x20, one of 0x80 or above, a
 * '"' or a '\\' (bit-twiddling "hasless" and "haszero": exact as a yes/no
 * for the word, which is all that is asked). */
static bool word_needs_care(uint64_t v)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t q = v ^ (ones * '"'), bs = v ^ (ones * '\\');
    uint64_t below = (v - ones * 0x20) & ~v;
    uint64_t quote = (q - ones) & ~q, slash = (bs - ones) & ~bs;
    return ((below | quote | slash) & highs) != 0 || (v & highs) != 0;
}

/* What json_w_escape adds to byte c: 0 (written as it is), 1 ('"', '\\'
 * and the control characters with a short escape), 5 (\u00XX). */
static size_t escape_extra(uint8_t c)
{
    if (c >= 0x20) return c == '"' || c == '\\' ? 1 : 0;
    return c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t' ? 1 : 5;
}

/* The length of the longest prefix of p[0, n) that json_w_escape writes as
 * it is: printable ASCII other than '"' and '\\' (so well-formed UTF-8
 * too), scanned 8 bytes at a time. */
static size_t plain_prefix(const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, sizeof v);
        if (word_needs_care(v)) break;
    }
    while (i < n && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\') i++;
    return i;
}

TR_RESULT json_w_escape(struct buf *b, const char *s, size_t n)
{
    static const char hexd[] = "0123456789ABCDEF";   /* jansson: "\\u%04X" */
    const uint8_t *p = (const uint8_t *)s;
    ENSURE(b != NULL && (s != NULL || n == 0), TR_E_INTERNAL);
    /* The usual string (an ARN, a name, a version id, most secrets): plain
     * ASCII throughout, written with its quotes in one copy. */
    size_t plain = plain_prefix(p, n);
    if (plain == n) {
        GUARD(buf_reserve(b, n + 2));
        uint8_t *d = b->data + b->len;
        d[0] = '"';
        if (n) memcpy(d + 1, p, n);
        d[n + 1] = '"';
        b->len += (uint32_t)(n + 2);
        return TR_OK;
    }
    /* The prefix is ASCII, so whole characters: only the rest is checked.
     * Then two passes: the escaped length, one reserve, and the bytes
     * written in place (nothing is written when the reserve fails). */
    ENSURE(utf8_valid(p + plain, n - plain), TR_E_INTERNAL);
    size_t extra = 0;
    for (size_t i = plain; i < n; i++) extra += escape_extra(p[i]);
    GUARD(buf_reserve(b, n + extra + 2));
    uint8_t *d = b->data + b->len;
    *d++ = '"';
    memcpy(d, p, plain);
    d += plain;
    for (size_t i = plain; i < n; i++) {
        uint8_t c = p[i];
        if (escape_extra(c) == 0) {
            *d++ = c;
            continue;
        }
        *d++ = '\\';
        switch (c) {
        case '"': *d++ = '"'; break;
        case '\\': *d++ = '\\'; break;
        case '\b': *d++ = 'b'; break;
        case '\f': *d++ = 'f'; break;
        case '\n': *d++ = 'n'; break;
        case '\r': *d++ = 'r'; break;
        case '\t': *d++ = 't'; break;
        default:
            memcpy(d, "u00", 3);
            d[3] = (uint8_t)hexd[c >> 4];
            d[4] = (uint8_t)hexd[c & 15];
            d += 5;
        }
    }
    *d = '"';
    b->len += (uint32_t)(n + extra + 2);
    return TR_OK;
}

void json_w_begin(struct json_w *w, struct buf *b)
{
    w->b = b;
    w->start = b ? b->len : 0;
    w->first = true;
    w->r = b ? buf_append(b, "{", 1) : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
}

/* The separator and "name": of the next member. */
static bool w_name(struct json_w *w, const char *name)
{
    if (tr_failed(w->r)) return false;
    size_t n = strlen(name), sep = w->first ? 0 : 1;
    w->r = buf_reserve(w->b, sep + n + 3);            /* [,]"name": */
    if (tr_failed(w->r)) return false;
    uint8_t *d = w->b->data + w->b->len;
    if (sep) *d++ = ',';
    *d++ = '"';
    memcpy(d, name, n);
    memcpy(d + n, "\":", 2);
    w->b->len += (uint32_t)(sep + n + 3);
    w->first = false;
    return true;
}

void json_w_str(struct json_w *w, const char *name, const char *s, size_t n)
{
    if (w_name(w, name)) w->r = json_w_escape(w->b, s, n);
}

void json_w_b64(struct json_w *w, const char *name, const uint8_t *p, size_t n)
{
    if (!w_name(w, name)) return;
    w->r = buf_append(w->b, "\"", 1);
    if (tr_ok(w->r)) w->r = b64_encode(p, n, w->b);
    if (tr_ok(w->r)) w->r = buf_append(w->b, "\"", 1);
}

void json_w_strs(struct json_w *w, const char *name, char *const *s, size_t n)
{
    if (!w_name(w, name)) return;
    w->r = buf_append(w->b, "[", 1);
    for (size_t i = 0; tr_ok(w->r) && i < n; i++) {
        if (i) w->r = buf_append(w->b, ",", 1);
        if (tr_ok(w->r)) w->r = json_w_escape(w->b, s[i], strlen(s[i]));
    }
    if (tr_ok(w->r)) w->r = buf_append(w->b, "]", 1);
}

/* "%.17g" of t, for 1e9 <= t < 9999999999 with a fraction (the AWS dates
 * of this era, in seconds with milliseconds), without printf: 10 integer
 * digits, so 7 fraction digits, rounded to nearest with ties to even as
 * glibc rounds the exact binary value, trailing zeros dropped.  t is at
 * least 2^29, so its fraction is a whole number of 2^-23 and exact in F;
 * F * 10^7 < 2^47.  False (nothing written) outside that range. */
static bool date_digits(double t, char out[40], int *len)
{
    if (!(t >= 1e9 && t < 9999999999.0)) return false;
    uint64_t ip = (uint64_t)t;
    uint64_t f = (uint64_t)((t - (double)ip) * 8388608.0);      /* t - ip: exact */
    uint64_t x = f * 10000000u, q = x >> 23, rem = x & 0x7fffff;
    if (rem > 0x400000 || (rem == 0x400000 && (q & 1))) q++;
    if (q == 10000000u) { ip++; q = 0; }
    int k = 0;
    char d[24];
    int nd = 0;
    do { d[nd++] = (char)('0' + ip % 10); ip /= 10; } while (ip);
    while (nd) out[k++] = d[--nd];
    if (q) {
        char fr[7];
        for (int i = 6; i >= 0; i--) { fr[i] = (char)('0' + q % 10); q /= 10; }
        int last = 6;
        while (fr[last] == '0') last--;
        out[k++] = '.';
        memcpy(out + k, fr, (size_t)last + 1);
        k += last + 1;
    } else {
        memcpy(out + k, ".0", 2);                               /* jansson's ".0" */
        k += 2;
    }
    out[k] = '\0';
    *len = k;
    return true;
}

void json_w_num(struct json_w *w, const char *name, double t)
{
    char num[40];
    int k;
    if (!w_name(w, name)) return;
    if (t > -9e18 && t < 9e18 && t == (double)(int64_t)t) {
        k = snprintf(num, sizeof num, "%" PRId64, (int64_t)t);
    } else if (date_digits(t, num, &k)) {
        /* written */
    } else {
        /* jansson's jsonp_dtostr: "%.17g", ".0" when there is neither a
         * dot nor an exponent, and the exponent without '+' or leading
         * zeros. */
        k = snprintf(num, sizeof num, "%.17g", t);
        char *e = k > 0 && (size_t)k < sizeof num ? strchr(num, 'e') : NULL;
        if (k > 0 && (size_t)k < sizeof num - 2 && !e && !strchr(num, '.')) {
            memcpy(num + k, ".0", 3);
            k += 2;
        }
        if (e) {
            char *from = e + 1, *to = e + 1;
            if (*from == '+') from++;
            else if (*from == '-') from = to = e + 2;
            while (*from == '0' && from[1]) from++;
            memmove(to, from, strlen(from) + 1);
            k = (int)strlen(num);
        }
    }
    if (k <= 0 || (size_t)k >= sizeof num) {
        w->r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        return;
    }
    w->r = buf_append(w->b, num, (size_t)k);
}

TR_RESULT json_w_end(struct json_w *w)
{
    if (tr_ok(w->r)) w->r = buf_append(w->b, "}", 1);
    if (tr_failed(w->r)) buf_truncate(w->b, w->start);
    return w->r;
}
