/*
 * sigv4_vectors.h -- loader for the SigV4 test suite in tests/data/sigv4
 * (override with $SIGV4_TESTDATA), following its README: a tolerant
 * request parser (method up to the first space, target up to a trailing
 * " HTTP/1.1", so literal spaces and raw UTF-8 survive;
 * obs-fold continuation lines appended to the previous header with their
 * newline; a blank line or end of file ends the headers; the body is
 * truncated to Content-Length), a context.json reader for the handful of
 * flat keys the suite uses, and helpers to mutate a loaded request for the
 * tamper tests.  Test-only code: it aborts the test on allocation failure.
 */
#ifndef TR_SIGV4_VECTORS_H
#define TR_SIGV4_VECTORS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "auth/sigv4.h"

#define VEC_MAX_HEADERS 96

struct vec_req {
    char *method, *path, *query;
    char *names[VEC_MAX_HEADERS], *values[VEC_MAX_HEADERS];
    size_t nhdr;
    uint8_t *body;
    size_t body_len;
    struct sigv4_header hdr[VEC_MAX_HEADERS];
    struct sigv4_request rq;       /* view over the fields above (vec_sync) */
};

struct vec_ctx {
    char akid[64], secret[128], region[64], service[64], token[2048];
    bool normalize, omit_token, unsigned_payload;
};

static void *vec_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) { fprintf(stderr, "out of memory\n"); abort(); }
    return p;
}

static char *vec_strndup(const char *s, size_t n)
{
    char *p = vec_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static char *vec_strdup(const char *s) { return vec_strndup(s, strlen(s)); }

/* Where the repository's test data lives: the Makefile passes the absolute
 * path of tests/data, so the tests find it from any current directory; a
 * build outside the Makefile falls back to the path relative to the
 * repository root. */
#ifndef TR_TESTDATA_DIR
#define TR_TESTDATA_DIR "tests/data"
#endif

/* The test data directory (no trailing slash): $SIGV4_TESTDATA when set,
 * else tests/data/sigv4 of the repository. */
static const char *vec_root(void)
{
    const char *e = getenv("SIGV4_TESTDATA");
    return e && *e ? e : TR_TESTDATA_DIR "/sigv4";
}

static bool vec_is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool vec_is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Whole file, NUL-terminated (so text files are C strings); NULL if absent. */
static char *vec_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = vec_xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) { free(buf); fclose(f); abort(); }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        if (got == 0) break;
        n += got;
    }
    fclose(f);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

/* Point the sigv4_request view at the current fields. */
static void vec_sync(struct vec_req *v)
{
    for (size_t i = 0; i < v->nhdr; i++) {
        v->hdr[i].name = v->names[i];
        v->hdr[i].value = v->values[i];
    }
    v->rq = (struct sigv4_request){
        .method = v->method, .path = v->path, .query = v->query,
        .headers = v->hdr, .nheaders = v->nhdr, .body = v->body, .body_len = v->body_len,
    };
}

static void vec_free(struct vec_req *v)
{
    free(v->method);
    free(v->path);
    free(v->query);
    for (size_t i = 0; i < v->nhdr; i++) { free(v->names[i]); free(v->values[i]); }
    free(v->body);
    memset(v, 0, sizeof *v);
}

static bool vec_ws(char c) { return c == ' ' || c == '\t'; }

/* Tolerant parse of a signed request (see the file comment). */
static bool vec_parse(const char *text, size_t len, struct vec_req *v)
{
    memset(v, 0, sizeof *v);
    const char *end = text + len;
    const char *nl = memchr(text, '\n', len);
    const char *le = nl ? nl : end;
    const char *sp = memchr(text, ' ', (size_t)(le - text));
    if (!sp) return false;
    v->method = vec_strndup(text, (size_t)(sp - text));
    const char *t = sp + 1, *te = le;
    if (te - t >= 9 && memcmp(te - 9, " HTTP/1.1", 9) == 0) te -= 9;
    const char *q = memchr(t, '?', (size_t)(te - t));
    v->path = vec_strndup(t, (size_t)((q ? q : te) - t));
    v->query = q ? vec_strndup(q + 1, (size_t)(te - q - 1)) : vec_strdup("");

    const char *p = nl ? nl + 1 : end;
    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        le = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        if (le == p) { p = next; break; }                     /* blank line */
        if (vec_ws(*p) && v->nhdr) {                          /* obs-fold */
            char *prev = v->values[v->nhdr - 1];
            size_t a = strlen(prev), b = (size_t)(le - p);
            char *joined = vec_xmalloc(a + 1 + b + 1);
            memcpy(joined, prev, a);
            joined[a] = '\n';
            memcpy(joined + a + 1, p, b);
            joined[a + 1 + b] = '\0';
            free(prev);
            v->values[v->nhdr - 1] = joined;
        } else {
            const char *colon = memchr(p, ':', (size_t)(le - p));
            if (!colon || v->nhdr == VEC_MAX_HEADERS) return false;
            const char *vs = colon + 1, *ve = le;
            while (vs < ve && vec_ws(*vs)) vs++;
            while (ve > vs && vec_ws(ve[-1])) ve--;
            v->names[v->nhdr] = vec_strndup(p, (size_t)(colon - p));
            v->values[v->nhdr] = vec_strndup(vs, (size_t)(ve - vs));
            v->nhdr++;
        }
        p = next;
    }
    v->body_len = (size_t)(end - p);
    v->body = (uint8_t *)vec_strndup(p, v->body_len);
    for (size_t i = 0; i < v->nhdr; i++) {
        if (strcasecmp(v->names[i], "content-length") != 0) continue;
        char *e;
        unsigned long cl = strtoul(v->values[i], &e, 10);
        if (*e == '\0' && cl < v->body_len) v->body_len = cl;
    }
    vec_sync(v);
    return true;
}

static bool vec_load(const char *path, struct vec_req *v)
{
    size_t n;
    char *text = vec_read(path, &n);
    if (!text) return false;
    bool ok = vec_parse(text, n, v);
    free(text);
    if (!ok) vec_free(v);
    return ok;
}

/* First value of a header (any case), or NULL. */
static const char *vec_header(const struct vec_req *v, const char *name)
{
    for (size_t i = 0; i < v->nhdr; i++)
        if (strcasecmp(v->names[i], name) == 0) return v->values[i];
    return NULL;
}

/* Replace the first header called name (any case), or append it. */
static void vec_set_header(struct vec_req *v, const char *name, const char *value)
{
    for (size_t i = 0; i < v->nhdr; i++) {
        if (strcasecmp(v->names[i], name) != 0) continue;
        free(v->values[i]);
        v->values[i] = vec_strdup(value);
        vec_sync(v);
        return;
    }
    if (v->nhdr == VEC_MAX_HEADERS) abort();
    v->names[v->nhdr] = vec_strdup(name);
    v->values[v->nhdr] = vec_strdup(value);
    v->nhdr++;
    vec_sync(v);
}

/* Append a header even if one of that name exists. */
static void vec_add_header(struct vec_req *v, const char *name, const char *value)
{
    if (v->nhdr == VEC_MAX_HEADERS) abort();
    v->names[v->nhdr] = vec_strdup(name);
    v->values[v->nhdr] = vec_strdup(value);
    v->nhdr++;
    vec_sync(v);
}

/* Remove every header called name (any case). */
static void vec_remove_header(struct vec_req *v, const char *name)
{
    size_t o = 0;
    for (size_t i = 0; i < v->nhdr; i++) {
        if (strcasecmp(v->names[i], name) == 0) { free(v->names[i]); free(v->values[i]); continue; }
        v->names[o] = v->names[i];
        v->values[o] = v->values[i];
        o++;
    }
    v->nhdr = o;
    vec_sync(v);
}

static void vec_set_query(struct vec_req *v, const char *q)
{
    free(v->query);
    v->query = vec_strdup(q);
    vec_sync(v);
}

static void vec_set_path(struct vec_req *v, const char *p)
{
    free(v->path);
    v->path = vec_strdup(p);
    vec_sync(v);
}

static void vec_set_body(struct vec_req *v, const char *b)
{
    free(v->body);
    v->body_len = strlen(b);
    v->body = (uint8_t *)vec_strdup(b);
    vec_sync(v);
}

/* "key": "value" in a flat JSON text (the suite has no escapes). */
static bool vec_json_str(const char *json, const char *key, char *out, size_t cap)
{
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(json, pat);
    if (!p) return false;
    p = strchr(p + strlen(pat), ':');
    if (!p) return false;
    p = strchr(p, '"');
    if (!p) return false;
    const char *e = strchr(p + 1, '"');
    if (!e || (size_t)(e - p - 1) >= cap) return false;
    memcpy(out, p + 1, (size_t)(e - p - 1));
    out[e - p - 1] = '\0';
    return true;
}

static bool vec_json_bool(const char *json, const char *key, bool dflt)
{
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(json, pat);
    if (!p) return dflt;
    p = strchr(p + strlen(pat), ':');
    if (!p) return dflt;
    p++;
    while (*p == ' ') p++;
    if (strncmp(p, "true", 4) == 0) return true;
    if (strncmp(p, "false", 5) == 0) return false;
    return dflt;
}

static bool vec_load_ctx(const char *path, struct vec_ctx *c)
{
    char *json = vec_read(path, NULL);
    memset(c, 0, sizeof *c);
    if (!json) return false;
    bool ok = vec_json_str(json, "access_key_id", c->akid, sizeof c->akid)
           && vec_json_str(json, "secret_access_key", c->secret, sizeof c->secret)
           && vec_json_str(json, "region", c->region, sizeof c->region)
           && vec_json_str(json, "service", c->service, sizeof c->service);
    (void)vec_json_str(json, "token", c->token, sizeof c->token);
    c->normalize = vec_json_bool(json, "normalize", true);
    c->omit_token = vec_json_bool(json, "omit_session_token", false);
    char sbv[64];
    c->unsigned_payload = vec_json_str(json, "signed_body_value", sbv, sizeof sbv)
                       && strcmp(sbv, "UNSIGNED-PAYLOAD") == 0;
    free(json);
    return ok;
}

/* The classic suite's fixed inputs (README). */
static void vec_classic_ctx(struct vec_ctx *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->akid, sizeof c->akid, "AKIDEXAMPLE");
    snprintf(c->secret, sizeof c->secret, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    snprintf(c->region, sizeof c->region, "us-east-1");
    snprintf(c->service, sizeof c->service, "service");
    c->normalize = true;
}

/* Text file with surrounding whitespace stripped (for *-signature.txt). */
static char *vec_read_trim(const char *path)
{
    char *s = vec_read(path, NULL);
    if (!s) return NULL;
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r' || s[n - 1] == '\t')) n--;
    s[n] = '\0';
    size_t b = 0;
    while (s[b] == ' ' || s[b] == '\n' || s[b] == '\t') b++;
    memmove(s, s + b, n - b + 1);
    return s;
}

#endif
