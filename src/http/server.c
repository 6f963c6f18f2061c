/*
 * server.c -- libmicrohttpd glue: connections, body collection with a
 * hard cap, and the hand-off to router.c.
 *
 * MHD runs an internal thread pool (one poller per core) with keep-alive.
 * The URL and the query arguments are taken raw (a no-op unescape
 * callback): SigV4 canonicalizes the bytes that were on the wire, and
 * MHD's own unescaping would lose them.  The request body is collected
 * into a capped secret buffer (it may carry plaintext), wiped when the
 * request completes, and each piece is wiped in MHD's own buffer once
 * copied; the reply buffer is wiped when MHD releases it.
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/secmem.h"
#include "http/router.h"

#define MAX_HEADERS 128

struct http_server {
    struct MHD_Daemon *d;
    const struct server_env *env;
};

struct conn_state {
    struct buf body;
    bool too_large;
};

TR_RESULT listen_addr_parse(const char *s, void *ss, unsigned *len)
{
    char host[256];
    const char *colon;
    if (!s || !*s) BAIL(TR_E_VALIDATION, "empty listen address");
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':') BAIL(TR_E_VALIDATION, "bad listen address '%s'", s);
        snprintf(host, sizeof host, "%.*s", (int)(rb - s - 1), s + 1);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) BAIL(TR_E_VALIDATION, "listen address needs ADDR:PORT, got '%s'", s);
        snprintf(host, sizeof host, "%.*s", (int)(colon - s), s);
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535)
        BAIL(TR_E_VALIDATION, "bad port in listen address '%s'", s);
    memset(ss, 0, sizeof(struct sockaddr_storage));
    struct sockaddr_in *v4 = ss;
    struct sockaddr_in6 *v6 = ss;
    if (host[0] == '\0') {
        v4->sin_family = AF_INET;
        v4->sin_addr.s_addr = htonl(INADDR_ANY);
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof *v4;
    } else if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof *v6;
    } else if (strcmp(host, "localhost") == 0) {
        v4->sin_family = AF_INET;
        v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof *v4;
    } else {
        BAIL(TR_E_VALIDATION, "listen address must be a numeric IP, got '%s'", host);
    }
    return TR_OK;
}

bool listen_is_loopback(const char *s)
{
    struct sockaddr_storage ss;
    unsigned len = 0;
    if (tr_failed(listen_addr_parse(s, &ss, &len))) return false;
    if (ss.ss_family == AF_INET)
        return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss.ss_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr);
    return false;
}

/* Keep URL and arguments exactly as they arrived. */
static size_t raw_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls; (void)c;
    return strlen(s);
}

struct collect {
    struct sigv4_header *h;
    size_t n;
    bool overflow;
    struct buf *query;
    bool query_fail;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind,
                                      const char *key, const char *value)
{
    (void)kind;
    struct collect *c = cls;
    if (c->n >= MAX_HEADERS) { c->overflow = true; return MHD_NO; }
    c->h[c->n].name = key;
    c->h[c->n].value = value ? value : "";
    c->n++;
    return MHD_YES;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind,
                                   const char *key, const char *value)
{
    (void)kind;
    struct collect *c = cls;
    tr_result r = TR_OK;
    if (c->query->len) r = buf_append(c->query, "&", 1);
    if (tr_ok(r)) r = buf_append_str(c->query, key);
    if (tr_ok(r) && value) r = buf_append(c->query, "=", 1);
    if (tr_ok(r) && value) r = buf_append_str(c->query, value);
    if (tr_failed(r)) { c->query_fail = true; return MHD_NO; }
    return MHD_YES;
}

void http_reply_free(void *p)
{
    secmem_wiping_free(p, WIPE_SITE_REPLY);
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct http_response *resp)
{
    /* Hand the buffer to MHD; it is wiped when MHD lets go of it. */
    uint8_t *data = resp->body.data;
    size_t len = resp->body.len;
    if (!data) { data = malloc(1); if (!data) return MHD_NO; len = 0; }
    resp->body.data = NULL;
    resp->body.len = resp->body.cap = 0;
    struct MHD_Response *r =
        MHD_create_response_from_buffer_with_free_callback(len, data, http_reply_free);
    if (!r) { http_reply_free(data); return MHD_NO; }
    MHD_add_response_header(r, "Content-Type", resp->content_type);
    MHD_add_response_header(r, "x-amzn-RequestId", resp->request_id);
    if (resp->error_type) MHD_add_response_header(r, "X-Amzn-ErrorType", resp->error_type);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static void source_ip(struct MHD_Connection *c, char *out, size_t n)
{
    out[0] = '\0';
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)n);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    struct http_server *srv = cls;
    struct conn_state *cs = *con_cls;

    if (!cs) {
        cs = calloc(1, sizeof *cs);
        if (!cs) return MHD_NO;
        cs->body = BUF_SECRET(REQUEST_BODY_MAX);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > REQUEST_BODY_MAX) cs->too_large = true;
        *con_cls = cs;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!cs->too_large && tr_failed(buf_append(&cs->body, upload, *upload_size))) {
            cs->too_large = true;
            buf_free(&cs->body);
        }
        /* These bytes (plaintext, secret values) sit in libmicrohttpd's
         * connection buffer, reused for the next request and released at
         * the end of the connection by code that makes no promise to wipe
         * it; all of them are consumed here (size 0 below), so MHD never
         * reads them again. */
        secure_zero((void *)upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }

    struct sigv4_header headers[MAX_HEADERS];
    /* Secret: a presigned URL carries its session token in the query. */
    struct buf query = BUF_SECRET(64 * 1024);
    struct collect col = { .h = headers, .query = &query };
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, &col);
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &col);
    const char *q = "";
    if (query.len && tr_failed(buf_cstr(&query, &q))) col.query_fail = true;

    char ip[INET6_ADDRSTRLEN];
    source_ip(c, ip, sizeof ip);
    struct http_request rq = {
        .method = method, .path = url, .query = q,
        .headers = headers, .nheaders = col.n,
        .body = cs->body.data, .body_len = cs->body.len,
        .too_large = cs->too_large || col.overflow || col.query_fail,
        .source_ip = ip,
    };
    struct http_response resp = { .body = BUF_SECRET(RESPONSE_BODY_MAX) };
    router_handle(srv->env, &rq, &resp);
    enum MHD_Result ret = send_reply(c, &resp);
    buf_free(&resp.body);
    buf_free(&query);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls; (void)c; (void)toe;
    struct conn_state *cs = *con_cls;
    if (!cs) return;
    buf_free(&cs->body);
    free(cs);
    *con_cls = NULL;
}

TR_RESULT http_server_start(const struct server_env *env, const char *listen,
                            unsigned threads, struct http_server **out)
{
    struct sockaddr_storage ss;
    unsigned sslen = 0;
    GUARD(listen_addr_parse(listen, &ss, &sslen));
    struct http_server *s = calloc(1, sizeof *s);
    ENSURE(s != NULL, TR_E_INTERNAL);
    s->env = env;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (((struct sockaddr *)&ss)->sa_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_THREAD_POOL_SIZE, threads ? threads : 1u,
                            MHD_OPTION_CONNECTION_LIMIT, 4096u,
                            MHD_OPTION_CONNECTION_TIMEOUT, 60u,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_UNESCAPE_CALLBACK, raw_unescape, s,
                            MHD_OPTION_END);
    if (!s->d) {
        free(s);
        BAIL(TR_E_INTERNAL, "cannot listen on %s", listen);
    }
    *out = s;
    return TR_OK;
}

unsigned http_server_port(const struct http_server *s)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    return di ? di->port : 0;
}

void http_server_stop(struct http_server *s)
{
    if (!s) return;
    MHD_stop_daemon(s->d);
    free(s);
}
