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
 * and string run: ~50 for a GetSecretValue), so the piece that fits --
 * nearly all of them once the buffer has grown -- is copied in place;
 * growing, the cap and the wipe of the old block stay buf_append's. */
static int dump_append(const char *p, size_t n, void *out)
{
    struct buf *b = out;
    if (b->cap && (size_t)b->cap - b->len > n && b->len + n <= b->max) {
        memcpy(b->data + b->len, p, n);
        b->len += (uint32_t)n;
        return 0;
    }
    return tr_ok(buf_append(b, p, n)) ? 0 : -1;
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

TR_RESULT json_w_escape(struct buf *b, const char *s, size_t n)
{
    static const char hexd[] = "0123456789ABCDEF";   /* jansson: "\\u%04X" */
    const uint8_t *p = (const uint8_t *)s;
    ENSURE(b != NULL && (s != NULL || n == 0), TR_E_INTERNAL);
    ENSURE(utf8_valid(p, n), TR_E_INTERNAL);
    uint32_t start = b->len;
    tr_result r = buf_append(b, "\"", 1);
    size_t run = 0;                     /* bytes of p[run, i) still to append as they are */
    for (size_t i = 0; tr_ok(r) && i < n; i++) {
        uint8_t c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        char e[6] = { '\\', 0 };
        size_t en = 2;
        switch (c) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        default:
            memcpy(e + 1, "u00", 3);
            e[4] = hexd[c >> 4];
            e[5] = hexd[c & 15];
            en = 6;
        }
        r = buf_append(b, p + run, i - run);
        if (tr_ok(r)) r = buf_append(b, e, en);
        run = i + 1;
    }
    if (tr_ok(r)) r = buf_append(b, p + run, n - run);
    if (tr_ok(r)) r = buf_append(b, "\"", 1);
    if (tr_failed(r)) buf_truncate(b, start);
    return r;
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
    if (!w->first) w->r = buf_append(w->b, ",", 1);
    w->first = false;
    if (tr_ok(w->r)) w->r = buf_append(w->b, "\"", 1);
    if (tr_ok(w->r)) w->r = buf_append_str(w->b, name);
    if (tr_ok(w->r)) w->r = buf_append(w->b, "\":", 2);
    return tr_ok(w->r);
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

void json_w_num(struct json_w *w, const char *name, double t)
{
    char num[40];
    int k;
    if (!w_name(w, name)) return;
    if (t > -9e18 && t < 9e18 && t == (double)(int64_t)t) {
        k = snprintf(num, sizeof num, "%" PRId64, (int64_t)t);
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
