/*
 * server.c -- libmicrohttpd glue: connections, body collection with a
 * hard cap, and the hand-off to router.c.
 *
 * MHD runs an internal thread pool (one poll(2) loop per core) with
 * keep-alive.
 * The URL and the query arguments are taken raw (a no-op unescape
 * callback): SigV4 canonicalizes the bytes that were on the wire, and
 * MHD's own unescaping would lose them.  The request body is collected
 * into a capped secret buffer (it may carry plaintext), wiped when the
 * request completes, and each piece is wiped in MHD's own buffer once
 * copied; the reply buffer is wiped when MHD releases it.
 *
 * The listening socket is opened here, before main.c touches the data dir
 * (http_listen), so that a port in use fails the start with the address
 * and the reason and leaves nothing behind; MHD is handed the socket.
 *
 * MHD's own messages go through MHD_OPTION_EXTERNAL_LOGGER into tresor's
 * log, one line each.  Its messages about one client's bad or broken
 * request (the one for a malformed request carries MHD's HTML error page)
 * are left out, and tresor reports the connection instead, with the
 * peer's address, when it closes: one that sent data but never a request
 * line is "not HTTP" (typically a TLS client on the plain-HTTP port); one
 * that sent a request line but no request that reached tresor was
 * malformed or cut short; a request that reached tresor but ended without
 * its reply sent (the client went away, a timeout) is "cut short".
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/secmem.h"
#include "http/router.h"

#define MAX_HEADERS 128
#define PEER_MAX (INET6_ADDRSTRLEN + 8)        /* "[addr]:port" */

struct http_server {
    struct MHD_Daemon *d;
    const struct server_env *env;
    int listen_fd;
};

struct conn_state {
    struct buf body;
    bool too_large;
};

/* One TCP connection (MHD's socket context): who is on the other end,
 * how many request lines MHD parsed on it and how many requests reached
 * the access handler (both counted by the connection's worker thread). */
struct conn_info {
    char peer[PEER_MAX];
    unsigned lines;
    unsigned requests;
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

TR_RESULT http_listen(const char *listen_at, int *fd_out)
{
    struct sockaddr_storage ss;
    unsigned sslen = 0;
    int one = 1, fd = -1, err;
    *fd_out = -1;
    GUARD(listen_addr_parse(listen_at, &ss, &sslen));
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) goto fail;
    /* As MHD does for the sockets it opens: a restart binds at once
     * despite connections of the last run in TIME_WAIT; an IPv6 address
     * is IPv6 only. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) goto fail;
    if (ss.ss_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) goto fail;
    if (bind(fd, (struct sockaddr *)&ss, sslen) != 0) goto fail;
    if (listen(fd, SOMAXCONN) != 0) goto fail;
    *fd_out = fd;
    return TR_OK;
fail:
    err = errno;
    if (fd >= 0) close(fd);
    BAIL(TR_E_INTERNAL, "cannot listen on %s: %s", listen_at, strerror(err));
}

/* The peer of connection c as "addr:port" ("[addr]:port" for IPv6). */
static void peer_name(struct MHD_Connection *c, char out[PEER_MAX])
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    out[0] = '\0';
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip);
        port = ntohs(v4->sin_port);
        snprintf(out, PEER_MAX, "%s:%u", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip);
        port = ntohs(v6->sin6_port);
        snprintf(out, PEER_MAX, "[%s]:%u", ip, port);
    }
}

/* True when the peer sent data on connection c (TCP_INFO's count of
 * segments with data, Linux 4.6 and later; a bare FIN is not data, so a
 * port probe that connects and closes is not counted); false when unknown. */
static bool peer_sent_data(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    if (!ci) return false;
    memset(&ti, 0, sizeof ti);
    if (getsockopt(ci->connect_fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return false;
    if (len < offsetof(struct tcp_info, tcpi_data_segs_in) + sizeof ti.tcpi_data_segs_in) return false;
    return ti.tcpi_data_segs_in > 0;
}

static struct conn_info *conn_info_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* MHD_OPTION_NOTIFY_CONNECTION: a TCP connection opens or closes.  At the
 * close, a connection that sent data but no request line, or a request
 * line but no request the access handler saw, gets one log line (MHD's
 * own message about it is left out, see mhd_log). */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn_info *info = calloc(1, sizeof *info);
        if (info) peer_name(c, info->peer);
        *socket_context = info;
        return;
    }
    struct conn_info *info = *socket_context;
    if (!info) return;
    if (info->lines == 0) {
        if (peer_sent_data(c))
            log_msg("warn", "%s: not HTTP (no request line; a TLS client on the plain-HTTP port?); "
                    "connection closed", info->peer);
    } else if (info->lines > info->requests) {
        log_msg("warn", "%s: bad HTTP request (malformed, too large or incomplete), refused before "
                "processing; connection closed", info->peer);
    }
    free(info);
    *socket_context = NULL;
}

/* MHD_OPTION_URI_LOG_CALLBACK: MHD parsed a request line on c.  The
 * return value is the request's initial *con_cls, which must stay NULL
 * (on_request allocates its state on the first call). */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls; (void)uri;
    struct conn_info *info = conn_info_of(c);
    if (info) info->lines++;
    return NULL;
}

/* MHD's messages (libmicrohttpd 0.9.75) about one client's bad or broken
 * request, which on_connection and on_completed report instead, naming
 * the peer.  The first carries MHD's HTML error page: "Error processing
 * request (HTTP response code is 400 ('<html><head><title>Request
 * malformed</title>...')). Closing connection." */
static const char *const client_faults[] = {
    "Error processing request",
    "Received HTTP/1.1 request without",
    "Too large value of 'Content-Length'",
    "Failed to parse `Content-Length'",
    "Not enough memory in pool to",
    "Connection was closed by remote side",
    "Connection socket is closed when reading request",
    "Socket has been disconnected when reading request",
    "Failed to send ",
};

/* MHD_OPTION_EXTERNAL_LOGGER: MHD's messages, one log line each. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    for (size_t i = 0; i < sizeof client_faults / sizeof client_faults[0]; i++)
        if (strncmp(fmt, client_faults[i], strlen(client_faults[i])) == 0) return;
    char msg[512];
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    if (n < 0) return;
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
    size_t len = strlen(msg);
    while (len > 0 && msg[len - 1] == ' ') msg[--len] = '\0';
    if (len) log_msg("warn", "http: %s", msg);
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
        struct conn_info *info = conn_info_of(c);
        if (info) info->requests++;
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
    struct buf query = BUF_INIT(64 * 1024);
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

/* MHD_OPTION_NOTIFY_COMPLETED: a request that reached on_request is over.
 * One that ended without its reply sent gets a log line (except at a
 * stop). */
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    struct conn_state *cs = *con_cls;
    if (!cs) return;
    const char *why = toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT ? "the client closed the connection"
                    : toe == MHD_REQUEST_TERMINATED_READ_ERROR ? "read error"
                    : toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timed out"
                    : toe == MHD_REQUEST_TERMINATED_WITH_ERROR ? "closed by the HTTP layer after an error"
                    : NULL;
    struct conn_info *info = conn_info_of(c);
    if (why) log_msg("warn", "%s: request cut short (%s); connection closed", info ? info->peer : "?", why);
    buf_free(&cs->body);
    free(cs);
    *con_cls = NULL;
}

TR_RESULT http_server_start(const struct server_env *env, int listen_fd,
                            unsigned threads, struct http_server **out)
{
    struct http_server *s = calloc(1, sizeof *s);
    if (!s) {
        close(listen_fd);
        BAIL(TR_E_INTERNAL, "out of memory");
    }
    s->env = env;
    s->listen_fd = listen_fd;
    /* poll(2), not epoll: libmicrohttpd 0.9.75's epoll loop can miss a
     * client's end of stream after a partial request line (garbage, a TLS
     * client giving up), keeping the connection -- and its log line --
     * until the 60 s timeout.  At tens to hundreds of keep-alive
     * connections poll costs nothing (bench/README.md). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,     /* first: MHD asks */
                            MHD_OPTION_LISTEN_SOCKET, listen_fd,
                            MHD_OPTION_THREAD_POOL_SIZE, threads ? threads : 1u,
                            MHD_OPTION_CONNECTION_LIMIT, 4096u,
                            MHD_OPTION_CONNECTION_TIMEOUT, 60u,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                            MHD_OPTION_URI_LOG_CALLBACK, on_request_line, s,
                            MHD_OPTION_UNESCAPE_CALLBACK, raw_unescape, s,
                            MHD_OPTION_END);
    if (!s->d) {
        if (fcntl(listen_fd, F_GETFD) != -1) close(listen_fd);   /* unless MHD did */
        free(s);
        BAIL(TR_E_INTERNAL, "cannot start the HTTP server");
    }
    *out = s;
    return TR_OK;
}

unsigned http_server_port(const struct http_server *s)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(s->listen_fd, (struct sockaddr *)&ss, &len) != 0) return 0;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

void http_server_stop(struct http_server *s)
{
    if (!s) return;
    MHD_stop_daemon(s->d);
    free(s);
}
