/*
 * server.c -- libmicrohttpd glue: the listening socket, connections, body
 * collection with a hard cap, the hand-off to router.c, and the clean stop.
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
 * A clean stop answers what it took: a request whose processing started
 * gets its reply before its connection closes.  A request is "in flight"
 * from the first access-handler call (its headers are in) to MHD's
 * completion callback (its reply is written to the socket, or its
 * connection is gone).  Every connection is on a list (MHD's connection
 * notices), marked busy from its request line to that request's end.
 * The stop (main.c) runs in three steps:
 *   1. http_server_quiesce: MHD stops accepting; connections already in
 *      the kernel's backlog (their clients may have sent a request) are
 *      accepted and handed to MHD like the others, and the listening
 *      socket is shut down, so new connections are refused at once.
 *      Idle keep-alive connections -- not busy, no
 *      byte of a next request waiting in the kernel -- are shut down now,
 *      while their clients are between requests: they see the end of the
 *      stream and reconnect, to a refusal.  Every reply from now on says
 *      "Connection: close", and each connection is shut down as soon as
 *      its request is answered; a request that arrives on a connection
 *      still open is taken and answered, so this is bounded by the
 *      connections open at the signal;
 *   2. http_server_drain: wait until no request is in flight and every
 *      connection is shut down or gone (a connection still receiving a
 *      request counts: its client has sent it; so does one handed to MHD
 *      that MHD has not started yet).  Under the lock that
 *      guards these counts, the drain closes a gate: a request whose
 *      headers arrive after it, or on a connection the stop shut down
 *      (its bytes crossed the shutdown), is refused unread -- MHD closes
 *      the connection, nothing is processed.  So a request is either
 *      counted and answered, or never processed;
 *   3. http_server_stop: MHD closes whatever is left (when main.c gave up
 *      waiting: connections whose requests are still running, whose
 *      replies are lost) and joins its threads.
 * The client's side of the keep-alive race remains, as with any HTTP/1.1
 * server: a request sent on an idle connection just as the stop shuts it
 * down fails with a closed connection -- and is never processed.  A write
 * acknowledged by a reply is durable before the reply is queued: its
 * request waits for the sync suspended, holding no worker thread ("suspension"
 * below; docs/internals/CRASH_SAFETY.md), and stays in flight meanwhile;
 * the store is closed by main.c after step 3.
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
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/date.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/secmem.h"
#include "http/router.h"
#include "http/tls.h"

#define MAX_HEADERS REQUEST_HEADERS_MAX

/* libmicrohttpd's per-connection memory pool (MHD_OPTION_CONNECTION_MEMORY_LIMIT).
 * libmicrohttpd 0.9.75 keeps in it the request line and the header lines
 * as they were read (parsed in place), one 64-byte record per header and
 * per query parameter (taken from the pool's other end), the read buffer
 * the body passes through in pieces (on_request copies each piece out),
 * and the reply's status line and headers; the reply body is sent from
 * our buffer, never copied into the pool.  A head larger than the pool
 * can hold is refused by libmicrohttpd itself (431, or 414 when the
 * request line alone does not fit) and the connection closed.
 *
 * The size is a cost on every request: libmicrohttpd zeroes the whole
 * pool after each request and the unused half of its read buffer before
 * each reply, ~1.5 times the pool in memset per request.  It is the
 * smallest size that holds the largest head tresor promises to read
 * (REQUEST_HEAD_MAX with REQUEST_HEADERS_MAX headers and 64 query
 * parameters, docs/WIRE.md 1.4) with its reply, with room to spare, and
 * holds the 200 small headers a flood test sends, so that too many
 * headers get tresor's own 413 rather than libmicrohttpd's 431
 * (bench/README.md, "The connection pool"). */
#define CONN_POOL_SIZE (32u * 1024)
#define PEER_MAX (INET6_ADDRSTRLEN + 8)        /* "[addr]:port" */

/* Where the server is in its life (see the header essay). */
enum phase {
    PHASE_SERVING,      /* normal service */
    PHASE_DRAINING,     /* stopping: not accepting; replies close their connection */
    PHASE_CLOSED,       /* drained: requests arriving now are refused unread */
};

/* One TCP connection (MHD's socket context), on the server's list from
 * MHD's "started" notice to its "closed" notice (which comes before MHD
 * closes the socket, so fd stays valid while on the list).  Counts and
 * flags are guarded by the server's lock. */
struct conn_info {
    struct conn_info *prev, *next;
    int fd;
    char peer[PEER_MAX];
    char ip[INET6_ADDRSTRLEN];          /* the peer's address alone (a request's source IP) */
    unsigned lines;                     /* request lines MHD parsed */
    unsigned requests;                  /* requests that reached on_request */
    bool busy;                          /* a request line parsed, its request not over */
    bool closing;                       /* shut down by the stop while idle */
    uint64_t tls_gen;                   /* TLS: the credentials' generation at the open (tls.h) */
};

/* Is info's connection idle: no request line parsed since its last
 * request ended, and no byte waiting in the kernel?  A request that has
 * arrived but that MHD has not read yet is on its way, not idle.  (MHD
 * parses what it reads at once, so a request read but not yet parsed is
 * a window of microseconds; a request caught in it is refused unread.) */
static bool conn_idle(const struct conn_info *info)
{
    int waiting = 0;
    return !info->busy && ioctl(info->fd, FIONREAD, &waiting) == 0 && waiting == 0;
}

/* Where a request's reply is while its commit waits for the sync. */
enum hold {
    HOLD_NONE,          /* not held */
    HOLD_WAITING,       /* suspended, on the server's held list, the waiter queued */
    HOLD_TAKEN,         /* the stop is taking it back from the store */
    HOLD_SETTLED,       /* resumed: durable says which reply goes out */
};

/* One request: its body, and the reply held while its commit waits for
 * the sync (suspension).  Every request that has one is counted in
 * flight (on_request), until on_completed frees it. */
struct http_server;
struct conn_state {
    struct buf body;
    bool too_large;
    struct http_response kept;          /* the reply held; its body a secret buf */
    struct gsync_waiter w;              /* the store's waiter for kept.sync_ticket */
    enum hold hold;                     /* guarded by the server's lock */
    bool durable;
    int64_t held_at;                    /* --metrics: when the commit was written (us) */
    struct MHD_Connection *c;
    struct http_server *srv;
    struct conn_state *hprev, *hnext;   /* the server's held list */
};

struct http_server {
    struct MHD_Daemon *d;
    const struct server_env *env;
    int listen_fd;                      /* ours again once MHD is quiesced */
    bool quiesced;
    pthread_mutex_t lock;               /* guards phase, the counts, the list and its entries */
    pthread_cond_t idle;                /* signalled when the stop may have drained */
    enum phase phase;
    unsigned inflight;                  /* requests between first call and completion */
    unsigned open;                      /* listed connections not shut down by the stop */
    unsigned refused;                   /* requests refused unread during the stop */
    unsigned adopting;                  /* backlog connections handed to MHD, not started yet */
    struct conn_info conns;             /* list head of the open connections */
    struct tls_ctx *tls;                /* TLS credentials, or NULL: plain HTTP (borrowed) */
    bool suspend;                       /* hold replies for their sync without a thread */
    struct conn_state held;             /* list head: requests suspended for their sync */
};

/* Under the lock, while stopping: shut info's connection down if it is
 * idle.  Its client sees the end of the stream before it sends another
 * request, and reconnects, to a refusal; a request that still crosses
 * the shutdown is refused unread (on_request).  MHD sees the peer go
 * away and closes the connection.  (The shutdown keeps the descriptor,
 * which MHD closes after its "closed" notice takes info off the list.) */
static void close_if_idle(struct http_server *s, struct conn_info *info)
{
    if (info->closing || !conn_idle(info)) return;
    info->closing = true;
    s->open--;
    (void)shutdown(info->fd, SHUT_RDWR);
}

/* Under the lock: has the stop drained -- no request in flight, and every
 * connection shut down by it or gone? */
static bool drained(const struct http_server *s)
{
    return s->inflight == 0 && s->open == 0 && s->adopting == 0;
}

/* A request counted in flight is over (its reply is written to the
 * socket, or its connection is gone); its connection, info, is idle
 * again, and is shut down if the server is stopping (a reply sent before
 * the stop began did not close it). */
static void request_done(struct http_server *s, struct conn_info *info)
{
    pthread_mutex_lock(&s->lock);
    if (s->inflight > 0) s->inflight--;
    if (info) info->busy = false;
    if (info && s->phase == PHASE_DRAINING) close_if_idle(s, info);
    if (s->phase != PHASE_SERVING && drained(s)) pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->lock);
}



TR_RESULT listen_addr_parse(const char *s, void *ss, unsigned *len)
{
    char host[256];
    const char *colon;
    if (!s || !*s) BAIL(TR_E_VALIDATION, "empty listen address");
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':') BAIL(TR_E_VALIDATION, "bad listen address '%s'", s);
        if (snprintf(host, sizeof host, "%.*s", (int)(rb - s - 1), s + 1) >= (int)sizeof host)
            BAIL(TR_E_VALIDATION, "bad listen address '%.300s': the host is too long", s);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) BAIL(TR_E_VALIDATION, "listen address needs ADDR:PORT, got '%s'", s);
        if (snprintf(host, sizeof host, "%.*s", (int)(colon - s), s) >= (int)sizeof host)
            BAIL(TR_E_VALIDATION, "bad listen address '%.300s': the host is too long", s);
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

/* The peer of connection c as "addr:port" ("[addr]:port" for IPv6) into
 * out, and its address alone into ip ("" when unknown).  Once per
 * connection: formatting the address cost ~1.7 k instructions, which each
 * request paid when on_request formatted it (bench/README.md). */
static void peer_name(struct MHD_Connection *c, char out[PEER_MAX], char ip[INET6_ADDRSTRLEN])
{
    unsigned port = 0;
    out[0] = '\0';
    ip[0] = '\0';
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
        if (!inet_ntop(AF_INET, &v4->sin_addr, ip, INET6_ADDRSTRLEN)) ip[0] = '\0';
        port = ntohs(v4->sin_port);
        snprintf(out, PEER_MAX, "%s:%u", ip[0] ? ip : "?", port);        /* fits: PEER_MAX is sized for it */
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
        if (!inet_ntop(AF_INET6, &v6->sin6_addr, ip, INET6_ADDRSTRLEN)) ip[0] = '\0';
        port = ntohs(v6->sin6_port);
        snprintf(out, PEER_MAX, "[%s]:%u", ip[0] ? ip : "?", port);      /* fits: PEER_MAX is sized for it */
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
 * own message about it is left out, see mhd_log) -- unless the stop shut
 * it down. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http_server *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn_info *info = calloc(1, sizeof *info);
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (info && ci) {
            info->fd = ci->connect_fd;
            peer_name(c, info->peer, info->ip);
            if (srv->tls) info->tls_gen = tls_generation(srv->tls);
            pthread_mutex_lock(&srv->lock);
            info->next = srv->conns.next;
            info->prev = &srv->conns;
            srv->conns.next->prev = info;
            srv->conns.next = info;
            srv->open++;
            if (srv->adopting > 0) srv->adopting--;      /* see http_server_quiesce */
            pthread_mutex_unlock(&srv->lock);
        } else {
            free(info);
            info = NULL;
        }
        *socket_context = info;
        return;
    }
    struct conn_info *info = *socket_context;
    if (!info) return;
    pthread_mutex_lock(&srv->lock);
    info->prev->next = info->next;
    info->next->prev = info->prev;
    bool quiet = info->closing;
    if (!info->closing) srv->open--;
    if (srv->phase != PHASE_SERVING && drained(srv)) pthread_cond_broadcast(&srv->idle);
    /* Retired TLS credentials that no open connection can hold go now. */
    uint64_t oldest = UINT64_MAX;
    bool release = srv->tls && tls_has_retired(srv->tls);
    for (struct conn_info *o = srv->conns.next; release && o != &srv->conns; o = o->next)
        if (o->tls_gen < oldest) oldest = o->tls_gen;
    pthread_mutex_unlock(&srv->lock);
    if (release) tls_release(srv->tls, oldest);
    if (quiet) {
    } else if (info->lines == 0) {
        if (peer_sent_data(c) && srv->tls)
            log_msg("warn", "%s: no request (not TLS, or the TLS handshake failed: a plain-HTTP client "
                    "on the TLS port?); connection closed", info->peer);
        else if (peer_sent_data(c))
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
    (void)uri;
    struct http_server *srv = cls;
    struct conn_info *info = conn_info_of(c);
    if (info) {
        pthread_mutex_lock(&srv->lock);
        info->lines++;
        info->busy = true;
        pthread_mutex_unlock(&srv->lock);
    }
    return NULL;
}

/* Set while on_request refuses a request unread (the server is stopping):
 * MHD then closes the connection and says "Application reported internal
 * error", which is not what happened. */
static _Thread_local bool refusing;

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
    "Error: received handshake message out of context",  /* TLS: a failed handshake, reported at the close */
};

/* MHD_OPTION_EXTERNAL_LOGGER: MHD's messages, one log line each. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    if (refusing && strncmp(fmt, "Application reported internal error", 35) == 0) {
        refusing = false;
        return;
    }
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
    size_t head;                        /* bytes of the header lines: name, value, ": ", CRLF */
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
    c->head += strlen(key) + strlen(c->h[c->n].value) + 4;
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

/* Queue resp on c.  close_after: the server is stopping, so the reply
 * says "Connection: close" and MHD closes the connection once it is sent. */
static enum MHD_Result send_reply(struct MHD_Connection *c, struct http_response *resp, bool close_after)
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
    if (close_after) MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---- suspension: a reply held until its commit is durable ----------------
 *
 * A write's commit under group commit is written at once and made
 * durable by a later sync of the log (store/group_sync.h).  Rather than
 * hold a worker thread until then (each worker serves many connections),
 * on_request keeps the rendered reply in the request's state, suspends
 * the connection (MHD_suspend_connection: MHD stops polling it) and asks
 * the store to call back once the commit's ticket is durable.  The
 * store's sync thread makes that call (on_durable): it marks the reply
 * settled and resumes the connection; MHD then calls on_request again,
 * which queues the held reply -- or, when the sync failed, the service's
 * internal error in its place (router_sync_failed), so no reply ever
 * acknowledges a write a crash could take back.
 *
 * Locks: the store calls on_durable with its group's mutex held, and
 * on_durable takes the server's lock; so nothing here calls the store's
 * sync_notify or sync_cancel with the server's lock held.  A held
 * request stays counted in flight, and its connection busy, so the
 * stop's drain waits for it; one still held when the drain gives up is
 * taken back from the store (sync_cancel) and resumed before
 * MHD_stop_daemon, which requires that no connection be suspended; its
 * reply is dropped, as any reply still running at that point is. */

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void held_link(struct http_server *s, struct conn_state *cs)
{
    cs->hnext = s->held.hnext;
    cs->hprev = &s->held;
    s->held.hnext->hprev = cs;
    s->held.hnext = cs;
}

static void held_unlink(struct conn_state *cs)
{
    cs->hprev->hnext = cs->hnext;
    cs->hnext->hprev = cs->hprev;
    cs->hprev = cs->hnext = NULL;
}

/* Settle a held reply: durable or not, resume its connection.  Under the
 * server's lock; only a reply still waiting is settled. */
static void settle_locked(struct conn_state *cs, bool durable)
{
    if (cs->hold != HOLD_WAITING) return;
    /* The store's commit time (core/metrics.h): the wait is over here,
     * not in the store, when the request is suspended. */
    if (durable && cs->held_at) metrics_commit(mono_us() - cs->held_at);
    held_unlink(cs);
    cs->hold = HOLD_SETTLED;
    cs->durable = durable;
    MHD_resume_connection(cs->c);
}

static void settle(struct conn_state *cs, bool durable)
{
    pthread_mutex_lock(&cs->srv->lock);
    settle_locked(cs, durable);
    pthread_mutex_unlock(&cs->srv->lock);
}

/* The store's callback (from its sync thread, its group's mutex held). */
static void on_durable(struct gsync_waiter *w, bool durable)
{
    struct conn_state *cs = (struct conn_state *)(void *)((char *)w - offsetof(struct conn_state, w));
    settle(cs, durable);
}

/* Hold resp (moved into cs: resp is empty afterwards) until its ticket
 * is durable, and suspend c meanwhile. */
static void hold_reply(struct http_server *srv, struct MHD_Connection *c, struct conn_state *cs,
                       struct http_response *resp)
{
    cs->kept = *resp;
    resp->body = (struct buf){ 0 };
    cs->c = c;
    cs->srv = srv;
    cs->w = (struct gsync_waiter){ .seq = cs->kept.sync_ticket, .done = on_durable };
    cs->held_at = metrics_enabled() ? mono_us() : 0;
    MHD_suspend_connection(c);
    pthread_mutex_lock(&srv->lock);
    cs->hold = HOLD_WAITING;
    held_link(srv, cs);
    pthread_mutex_unlock(&srv->lock);
    store_t st = srv->env->st;
    int now = st[0]->sync_notify(st, &cs->w);
    if (now != 0) settle(cs, now > 0);  /* decided already: resume at once */
}

/* on_request, resumed: queue the held reply, or the internal error when
 * its commit did not become durable.  The held body is MHD's from here
 * (wiped when it lets go, http_reply_free). */
static enum MHD_Result send_held(struct http_server *srv, struct MHD_Connection *c,
                                 struct conn_state *cs)
{
    cs->hold = HOLD_NONE;
    if (!cs->durable) router_sync_failed(srv->env, &cs->kept);
    router_log_held(&cs->kept);
    pthread_mutex_lock(&srv->lock);
    bool stopping = srv->phase != PHASE_SERVING;
    pthread_mutex_unlock(&srv->lock);
    enum MHD_Result ret = send_reply(c, &cs->kept, stopping);
    buf_free(&cs->kept.body);
    return ret;
}

/* The stop gave up waiting: take every held request back from the store
 * and resume its connection, so that MHD_stop_daemon finds none
 * suspended; the replies are dropped (their commits' outcome unknown to
 * the clients, as for any request cut short by a stop). */
static void release_held(struct http_server *s)
{
    for (;;) {
        pthread_mutex_lock(&s->lock);
        struct conn_state *cs = s->held.hnext != &s->held ? s->held.hnext : NULL;
        if (cs) {
            held_unlink(cs);
            cs->hold = HOLD_TAKEN;      /* on_durable leaves it alone now */
        }
        pthread_mutex_unlock(&s->lock);
        if (!cs) break;
        (void)s->env->st[0]->sync_cancel(s->env->st, &cs->w);  /* the store lets go of w */
        pthread_mutex_lock(&s->lock);
        cs->hold = HOLD_SETTLED;
        cs->durable = false;
        MHD_resume_connection(cs->c);
        pthread_mutex_unlock(&s->lock);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    struct http_server *srv = cls;
    struct conn_state *cs = *con_cls;

    refusing = false;
    if (!cs) {
        /* A new request (its headers are in): counted in flight until
         * on_completed, or refused unread once the stop has drained or
         * shut its connection down. */
        struct conn_info *info = conn_info_of(c);
        pthread_mutex_lock(&srv->lock);
        bool closed = srv->phase == PHASE_CLOSED || (info && info->closing);
        if (closed) srv->refused++;
        else srv->inflight++;
        if (info) info->requests++;
        pthread_mutex_unlock(&srv->lock);
        if (closed) {
            refusing = true;            /* mhd_log: MHD's message about it is not news */
            return MHD_NO;              /* MHD closes the connection */
        }
        cs = calloc(1, sizeof *cs);
        if (!cs) { request_done(srv, info); return MHD_NO; }
        cs->body = BUF_SECRET(REQUEST_BODY_MAX);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > REQUEST_BODY_MAX) cs->too_large = true;
        *con_cls = cs;
        return MHD_YES;
    }
    if (cs->hold == HOLD_SETTLED) return send_held(srv, c, cs);
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
    /* The head as counted against REQUEST_HEAD_MAX: the request line
     * ("METHOD PATH?QUERY VERSION" and CRLF), the header lines, the
     * blank line -- the bytes on the wire for headers written the usual
     * way ("Name: value"). */
    size_t head = strlen(method) + 1 + strlen(url) + (query.len ? 1 + query.len : 0) + 1 +
                  strlen(version) + 2 + col.head + 2;

    /* The source IP as formatted when the connection opened (peer_name);
     * formatted here only if that connection's record could not be made. */
    const struct conn_info *ci_rq = conn_info_of(c);
    char ip_buf[INET6_ADDRSTRLEN], peer_buf[PEER_MAX];
    const char *ip = ci_rq ? ci_rq->ip : ip_buf;
    if (!ci_rq) peer_name(c, peer_buf, ip_buf);
    struct http_request rq = {
        .method = method, .path = url, .query = q,
        .headers = headers, .nheaders = col.n,
        .body = cs->body.data, .body_len = cs->body.len,
        .too_large = cs->too_large,
        .head_too_large = col.overflow || col.query_fail || head > REQUEST_HEAD_MAX,
        .source_ip = ip,
        .secure = srv->tls != NULL,     /* every connection of a TLS server is TLS */
        .can_defer = srv->suspend,
    };
    struct http_response resp = { .body = BUF_SECRET(RESPONSE_BODY_MAX) };
    router_handle(srv->env, &rq, &resp);
    if (resp.sync_ticket) {
        /* The commit is written, not yet durable: hold the reply; the
         * request's own buffers (query, body: plaintext) are wiped now,
         * not when the reply has gone. */
        buf_free(&query);
        buf_free(&cs->body);
        hold_reply(srv, c, cs, &resp);
        return MHD_YES;
    }
    pthread_mutex_lock(&srv->lock);
    bool stopping = srv->phase != PHASE_SERVING;
    pthread_mutex_unlock(&srv->lock);
    enum MHD_Result ret = send_reply(c, &resp, stopping);
    buf_free(&resp.body);
    buf_free(&query);
    return ret;
}

/* MHD_OPTION_NOTIFY_COMPLETED: a request that reached on_request is over.
 * One that ended without its reply sent gets a log line (except at a
 * stop, which counts them itself). */
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct conn_state *cs = *con_cls;
    if (!cs) return;
    const char *why = toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT ? "the client closed the connection"
                    : toe == MHD_REQUEST_TERMINATED_READ_ERROR ? "read error"
                    : toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timed out"
                    : toe == MHD_REQUEST_TERMINATED_WITH_ERROR ? "closed by the HTTP layer after an error"
                    : NULL;
    struct conn_info *info = conn_info_of(c);
    if (why) log_msg("warn", "%s: request cut short (%s); connection closed", info ? info->peer : "?", why);
    buf_free(&cs->kept.body);           /* a reply held and never sent (a stop) */
    buf_free(&cs->body);
    free(cs);
    *con_cls = NULL;
    request_done(cls, info);
}

/* Whether writes' replies wait for their sync suspended (the default) or
 * on their worker thread (TRESOR_COMMIT_WAIT=thread, the way before
 * suspension, kept to measure against). */
static bool commit_suspend(void)
{
    const char *v = getenv("TRESOR_COMMIT_WAIT");
    return !(v && strcmp(v, "thread") == 0);
}

TR_RESULT http_server_start(const struct server_env *env, int listen_fd,
                            unsigned threads, struct tls_ctx *tls, struct http_server **out)
{
    struct http_server *s = calloc(1, sizeof *s);
    if (!s) {
        close(listen_fd);
        BAIL(TR_E_INTERNAL, "out of memory");
    }
    s->env = env;
    s->listen_fd = listen_fd;
    s->phase = PHASE_SERVING;
    s->conns.next = s->conns.prev = &s->conns;
    s->held.hnext = s->held.hprev = &s->held;
    s->suspend = commit_suspend();
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->idle, NULL);
    /* poll(2), not epoll, for two defects of libmicrohttpd 0.9.75's epoll
     * loop: it can miss a client's end of stream after a partial request
     * line (garbage, a TLS client giving up), keeping the connection until
     * the 60 s timeout; and MHD_quiesce_daemon removes the listening
     * socket from each worker's epoll set while the worker may be removing
     * it too, and whichever loses calls MHD_PANIC (abort) -- a race any
     * stop under load can lose.  With poll, MHD_quiesce_daemon only
     * signals each worker (MHD_USE_ITC), which stops polling the socket.
     * At tens to hundreds of keep-alive connections poll costs nothing
     * (bench/README.md). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    /* TLS (tls.c): MHD asks tls_cert_callback for the current credentials
     * at each handshake, so SIGHUP can swap them; the priority string
     * restricts versions and suites.  MHD offers ALPN http/1.1 itself. */
    s->tls = tls;
    struct MHD_OptionItem tls_opts[] = {
        { MHD_OPTION_HTTPS_CERT_CALLBACK, 0, (void *)tls_cert_callback },
        { MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)(tls ? tls_priorities(tls_min_version(tls)) : "") },
        { MHD_OPTION_END, 0, NULL },
    };
    if (tls) flags |= MHD_USE_TLS;
    if (s->suspend) flags |= MHD_ALLOW_SUSPEND_RESUME;
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,     /* first: MHD asks */
                            MHD_OPTION_LISTEN_SOCKET, listen_fd,
                            MHD_OPTION_THREAD_POOL_SIZE, threads ? threads : 1u,
                            MHD_OPTION_CONNECTION_LIMIT, 4096u,
                            MHD_OPTION_CONNECTION_TIMEOUT, 60u,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_POOL_SIZE,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                            MHD_OPTION_URI_LOG_CALLBACK, on_request_line, s,
                            MHD_OPTION_UNESCAPE_CALLBACK, raw_unescape, s,
                            MHD_OPTION_ARRAY, tls ? tls_opts : tls_opts + 2,
                            MHD_OPTION_END);
    if (!s->d) {
        if (fcntl(listen_fd, F_GETFD) != -1) close(listen_fd);   /* unless MHD did */
        pthread_cond_destroy(&s->idle);
        pthread_mutex_destroy(&s->lock);
        free(s);
        BAIL(TR_E_INTERNAL, "cannot start the HTTP server");
    }
    *out = s;
    return TR_OK;
}

unsigned http_server_port(const struct http_server *s)
{
    struct sockaddr_storage ss = { 0 };   /* filled by getsockname; zeroed for the analyser */
    socklen_t len = sizeof ss;
    if (getsockname(s->listen_fd, (struct sockaddr *)&ss, &len) != 0) return 0;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

unsigned http_server_quiesce(struct http_server *s, unsigned *idle_closed)
{
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    /* MHD no longer polls the listening socket.  Connections the kernel
     * completed but MHD did not accept yet have clients that sent their
     * requests: they are accepted here and handed to MHD, like the others.
     * Then the socket is shut down, so new connections are refused; its
     * descriptor is closed after MHD_stop_daemon (MHD's threads may still
     * hold it until then). */
    if (fd != MHD_INVALID_SOCKET) {
        s->listen_fd = fd;
        s->quiesced = true;
        for (;;) {
            struct sockaddr_storage peer;
            socklen_t plen = sizeof peer;
            int cfd = accept4(fd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (cfd < 0 && (errno == ECONNABORTED || errno == EINTR)) continue;
            if (cfd < 0) break;                 /* EAGAIN: the backlog is empty */
            pthread_mutex_lock(&s->lock);
            s->adopting++;
            pthread_mutex_unlock(&s->lock);
            if (MHD_add_connection(s->d, cfd, (struct sockaddr *)&peer, plen) != MHD_YES) {
                pthread_mutex_lock(&s->lock);    /* MHD closed it */
                s->adopting--;
                pthread_mutex_unlock(&s->lock);
            }
        }
        (void)shutdown(fd, SHUT_RDWR);
    } else {
        log_msg("warn", "stopping: the HTTP library would not stop accepting; new connections "
                "wait until the stop ends");
    }
    /* Idle keep-alive connections are shut down now (close_if_idle),
     * rather than when the stop ends, while their clients are between
     * requests; the others are shut down as their requests are answered. */
    unsigned idle = 0;
    pthread_mutex_lock(&s->lock);
    if (s->phase == PHASE_SERVING) s->phase = PHASE_DRAINING;
    for (struct conn_info *ci = s->conns.next; ci != &s->conns; ci = ci->next) {
        bool was = ci->closing;
        close_if_idle(s, ci);
        if (ci->closing && !was) idle++;
    }
    unsigned n = s->inflight > s->open ? s->inflight : s->open;
    pthread_mutex_unlock(&s->lock);
    if (idle_closed) *idle_closed = idle;
    return n;
}

bool http_server_drain(struct http_server *s, unsigned ms, unsigned *left)
{
    struct timespec until;
    date_deadline(CLOCK_REALTIME, ms, &until);
    pthread_mutex_lock(&s->lock);
    while (!drained(s))
        if (pthread_cond_timedwait(&s->idle, &s->lock, &until) != 0) break;
    bool done = drained(s);
    if (done) s->phase = PHASE_CLOSED;          /* the gate closes with nothing in flight */
    *left = s->inflight > s->open ? s->inflight : s->open;
    pthread_mutex_unlock(&s->lock);
    return done;
}

unsigned http_server_stop(struct http_server *s)
{
    if (!s) return 0;
    pthread_mutex_lock(&s->lock);
    s->phase = PHASE_CLOSED;
    pthread_mutex_unlock(&s->lock);
    release_held(s);
    MHD_stop_daemon(s->d);
    /* After a quiesce the listening socket is ours to close; otherwise
     * MHD_stop_daemon closed it. */
    if (s->quiesced) close(s->listen_fd);
    unsigned refused = s->refused;
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return refused;
}
