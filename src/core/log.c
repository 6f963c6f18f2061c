/*
 * log.c -- stderr logging, one write(2) per record; the request record in
 * text or JSON with every request-supplied value escaped.  See log.h.
 */
#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/date.h"
#include "core/utf8.h"

#define FIELD_MAX 2048       /* escaped bytes of one field (a raw byte takes up to 6) */
#define LOG_LINE_MAX 8192

static int requests_on = 1;
static int format_set = -1;  /* -1: from the environment, at first use */
static pthread_once_t format_once = PTHREAD_ONCE_INIT;
static enum log_format env_format = LOG_TEXT;

void log_set_requests(int on) { requests_on = on; }
int log_requests(void) { return requests_on; }

static void read_env_format(void)
{
    const char *f = getenv("TRESOR_LOG_FORMAT");
    env_format = f && strcmp(f, "json") == 0 ? LOG_JSON : LOG_TEXT;
}

void log_set_format(enum log_format f) { format_set = (int)f; }

enum log_format log_format(void)
{
    if (format_set >= 0) return (enum log_format)format_set;
    pthread_once(&format_once, read_env_format);
    return env_format;
}

void log_line(const char *line, int len)
{
    if (len <= 0) return;
    ssize_t w = write(STDERR_FILENO, line, (size_t)len);
    (void)w;
}

/* ---- escaping ------------------------------------------------------------ */

/* Append piece (n bytes) when it fits with room for "..." and the NUL;
 * false once the output is full (then "..." ends it). */
static bool put(char *out, size_t cap, size_t *at, bool *cut, const char *piece, size_t n)
{
    if (*cut) return false;
    if (*at + n + 4 > cap) {       /* every put leaves room for "..." and the NUL */
        if (*at + 4 <= cap) {
            memcpy(out + *at, "...", 3);
            *at += 3;
        }
        *cut = true;
        return false;
    }
    memcpy(out + *at, piece, n);
    *at += n;
    return true;
}

void log_escape_text(const char *s, char *out, size_t cap)
{
    static const char hx[] = "0123456789abcdef";
    size_t at = 0;
    bool cut = false;
    if (cap == 0) return;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        char e[4] = { '\\', 'x', hx[*p >> 4], hx[*p & 15] };
        bool plain = *p > 0x20 && *p < 0x7f && *p != '\\';
        if (!put(out, cap, &at, &cut, plain ? (const char *)p : e, plain ? 1 : 4)) break;
    }
    out[at < cap ? at : cap - 1] = '\0';
}

static size_t u_escape(uint32_t cp, char e[13])
{
    if (cp < 0x10000) return (size_t)snprintf(e, 13, "\\u%04x", (unsigned)cp);
    cp -= 0x10000;
    return (size_t)snprintf(e, 13, "\\u%04x\\u%04x", (unsigned)(0xd800 + (cp >> 10)),
                            (unsigned)(0xdc00 + (cp & 0x3ff)));
}

void log_escape_json(const char *s, char *out, size_t cap)
{
    size_t at = 0;
    bool cut = false;
    if (cap == 0) return;
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p);
    for (size_t i = 0; i < n;) {
        char e[13];
        size_t len;
        unsigned char c = p[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            e[0] = (char)c;
            len = 1;
            i++;
        } else if (c == '"' || c == '\\') {
            e[0] = '\\';
            e[1] = (char)c;
            len = 2;
            i++;
        } else if (c < 0x80) {
            len = u_escape(c, e);
            i++;
        } else {
            size_t k = utf8_seq(p + i, n - i);
            uint32_t cp = 0xfffd;
            if (k == 2) cp = (uint32_t)(p[i] & 0x1f) << 6 | (p[i + 1] & 0x3f);
            else if (k == 3) cp = (uint32_t)(p[i] & 0x0f) << 12 | (uint32_t)(p[i + 1] & 0x3f) << 6 | (p[i + 2] & 0x3f);
            else if (k == 4)
                cp = (uint32_t)(p[i] & 0x07) << 18 | (uint32_t)(p[i + 1] & 0x3f) << 12
                   | (uint32_t)(p[i + 2] & 0x3f) << 6 | (p[i + 3] & 0x3f);
            len = u_escape(cp, e);
            i += k ? k : 1;
        }
        if (!put(out, cap, &at, &cut, e, len)) break;
    }
    out[at < cap ? at : cap - 1] = '\0';
}

/* ---- records ---------------------------------------------------------------- */

static void timestamp(char out[DATE_ISO8601_LEN])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    date_iso8601((int64_t)ts.tv_sec, out);
}

/* Append "key":"escaped" or "key":null to a JSON line. */
static int json_field(char *line, int n, const char *key, const char *v, bool first)
{
    char esc[FIELD_MAX];
    if (n < 0 || n >= LOG_LINE_MAX) return n;
    if (v) log_escape_json(v, esc, sizeof esc);
    int k = snprintf(line + n, LOG_LINE_MAX - (size_t)n, "%s\"%s\":%s%s%s", first ? "" : ",", key,
                     v ? "\"" : "", v ? esc : "null", v ? "\"" : "");
    return k < 0 ? n : n + k;
}

static void finish(char *line, int n)
{
    if (n < 0) return;
    if (n > LOG_LINE_MAX - 2) n = LOG_LINE_MAX - 2;
    line[n++] = '\n';
    log_line(line, n);
}

void log_msg(const char *level, const char *fmt, ...)
{
    char msg[2048], ts[DATE_ISO8601_LEN];
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (m < 0) return;
    timestamp(ts);
    char line[LOG_LINE_MAX];
    int n;
    if (log_format() == LOG_JSON) {
        n = snprintf(line, sizeof line, "{");
        n = json_field(line, n, "time", ts, true);
        n = json_field(line, n, "level", level, false);
        n = json_field(line, n, "message", msg, false);
        if (n >= 0 && n < LOG_LINE_MAX - 1) line[n++] = '}';
    } else {
        n = snprintf(line, sizeof line, "%s %s %s", ts, level, msg);
    }
    finish(line, n);
}

void log_write_request(const struct log_request *r)
{
    char line[LOG_LINE_MAX], ts[DATE_ISO8601_LEN], num[32];
    int n;
    if (!requests_on || !r) return;
    timestamp(ts);
    if (log_format() == LOG_JSON) {
        n = snprintf(line, sizeof line, "{");
        n = json_field(line, n, "time", ts, true);
        n = json_field(line, n, "method", r->method, false);
        n = json_field(line, n, "path", r->path, false);
        n = json_field(line, n, "target", r->target, false);
        n = json_field(line, n, "principal", r->principal, false);
        if (n >= 0 && n < LOG_LINE_MAX)
            n += snprintf(line + n, LOG_LINE_MAX - (size_t)n, ",\"status\":%d,\"latency_us\":%lld",
                          r->status, (long long)r->latency_us);
        n = json_field(line, n, "request_id", r->request_id, false);
        n = json_field(line, n, "error", r->error, false);
        if (r->fault_file) {
            snprintf(num, sizeof num, "%d", r->fault_line);     /* fits: an int in num[32] */
            n = json_field(line, n, "fault_file", r->fault_file, false);
            if (n >= 0 && n < LOG_LINE_MAX)
                n += snprintf(line + n, LOG_LINE_MAX - (size_t)n, ",\"fault_line\":%s", num);
        }
        if (n >= 0 && n < LOG_LINE_MAX - 1) line[n++] = '}';
        finish(line, n);
        return;
    }
    char method[64], path[FIELD_MAX], target[FIELD_MAX / 4], who[FIELD_MAX], rid[64], err[128];
    log_escape_text(r->method ? r->method : "-", method, sizeof method);
    log_escape_text(r->path ? r->path : "-", path, sizeof path);
    log_escape_text(r->target ? r->target : "-", target, sizeof target);
    log_escape_text(r->principal ? r->principal : "-", who, sizeof who);
    log_escape_text(r->request_id ? r->request_id : "-", rid, sizeof rid);
    log_escape_text(r->error ? r->error : "", err, sizeof err);
    n = snprintf(line, sizeof line, "%s %s %s %s %s %d %lldus %s%s%s", ts, method, path, target,
                 who, r->status, (long long)r->latency_us, rid, err[0] ? " " : "", err);
    if (r->fault_file && n >= 0 && n < LOG_LINE_MAX)
        n += snprintf(line + n, LOG_LINE_MAX - (size_t)n, " at %s:%d", r->fault_file, r->fault_line);
    finish(line, n);
}
