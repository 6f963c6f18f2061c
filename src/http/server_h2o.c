/*
 * server_h2o.c -- SPIKE: the same request interface (router.h) served by
 * h2o's library (Debian libh2o-evloop-dev, h2o 2.2.5 built with its own
 * event loop), plain or over TLS through OpenSSL.
 *
 * Built only in the spike build (make CONF=spike, -DTR_HTTP_SPIKE) and
 * chosen at run time with TRESOR_HTTP_ENGINE=h2o; the default build does
 * not contain it.  It exists to measure the engine (bench/README.md, "The
 * HTTP engine"), not to serve: what it keeps of server.c and what it does
 * not yet is listed there, item by item, with the h2o API each maps onto.
 *
 * Shape: one thread per core, each with its own h2o event loop (epoll),
 * h2o context and a dup of the listening socket (every loop accepts from
 * it; the kernel hands each connection to one of them).  h2o parses the
 * HTTP/1.1 request (picohttpparser) and buffers the whole body (capped by
 * max_request_entity_size) before the handler runs; the handler turns it
 * into struct http_request, calls router_handle on the loop's thread, and
 * hands the reply body to h2o by reference (h2o_send), wiped and freed
 * when the request's pool is released.  The request body is wiped in
 * h2o's input buffer once the router is done with it, and the header
 * copies (NUL-terminated, as router.h wants them) are wiped too.
 *
 * TLS (TRESOR_TLS_CERT, TRESOR_TLS_KEY: PEM files): an OpenSSL SSL_CTX,
 * TLS 1.2 and 1.3 with AEAD suites only, ALPN http/1.1; h2o runs the
 * handshake and the record layer on the same loop.
 *
 * Not in the spike (phase 2): the clean stop's drain of keep-alive
 * connections, the per-connection log lines of server.c, the AWS-shaped
 * 413 for a body over the cap (h2o answers its own), source-IP of IPv6.
 */
#ifdef TR_HTTP_SPIKE
#define H2O_USE_LIBUV 0
#include "http/server_h2o.h"

#include <arpa/inet.h>
#include <h2o.h>
#include <h2o/socket/evloop.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/secmem.h"
#include "http/router.h"
#include "http/server.h"

#define MAX_HEADERS 128

struct h2o_worker {
    pthread_t th;
    struct h2o_engine *eng;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    int fd;                             /* dup of the listening socket */
};

struct h2o_engine {
    const struct server_env *env;
    h2o_globalconf_t conf;
    SSL_CTX *ssl;
    int listen_fd;
    unsigned nworkers;
    struct h2o_worker *workers;
    atomic_int accepting;               /* cleared by the quiesce */
    atomic_int stopping;                /* the loops return */
    atomic_uint inflight;
};

/* The handler h2o calls with the whole request (body included). */
struct tr_handler {
    h2o_handler_t super;
    struct h2o_engine *eng;
};

/* The reply body's slot in the request's pool: wiped and freed with it. */
static void reply_dispose(void *p)
{
    uint8_t **slot = p;
    if (*slot) http_reply_free(*slot);
    *slot = NULL;
}

static void source_ip(h2o_req_t *req, char *out, size_t n)
{
    struct sockaddr_storage ss;
    out[0] = '\0';
    socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    if (len == 0) return;
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)n);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)n);
}

/* NUL-terminated copies of method, path, query and the headers, in one
 * block (wiped after the request: a session token may be among them). */
struct req_strings {
    char *block;
    size_t size;
};

static char *put(struct req_strings *rs, size_t *at, const char *p, size_t n)
{
    char *s = rs->block + *at;
    memcpy(s, p, n);
    s[n] = '\0';
    *at += n + 1;
    return s;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct h2o_engine *eng = ((struct tr_handler *)self)->eng;
    struct sigv4_header headers[MAX_HEADERS];
    struct req_strings rs = { 0 };
    /* h2o keeps Host apart (req->input.authority) and Content-Length
     * (as the entity's length), not in the header list; SigV4 signs both
     * when the client did, so they go back in, as sent. */
    bool overflow = req->headers.size + 2 > MAX_HEADERS;
    size_t nh = overflow ? MAX_HEADERS - 2 : req->headers.size;
    char clen[24] = "";
    if (req->entity.base) snprintf(clen, sizeof clen, "%zu", req->entity.len);
    size_t pathlen = req->query_at == SIZE_MAX ? req->path.len : req->query_at;
    size_t qlen = req->query_at == SIZE_MAX ? 0 : req->path.len - req->query_at - 1;

    atomic_fetch_add(&eng->inflight, 1);
    rs.size = req->method.len + 1 + pathlen + 1 + qlen + 1;
    for (size_t i = 0; i < nh; i++)
        rs.size += req->headers.entries[i].name->len + 1 + req->headers.entries[i].value.len + 1;
    rs.size += req->input.authority.len + 1;
    rs.block = malloc(rs.size);
    if (!rs.block) {
        atomic_fetch_sub(&eng->inflight, 1);
        return -1;
    }
    size_t at = 0;
    const char *method = put(&rs, &at, req->method.base, req->method.len);
    const char *path = put(&rs, &at, req->path.base, pathlen);
    const char *query = put(&rs, &at, qlen ? req->path.base + req->query_at + 1 : "", qlen);
    for (size_t i = 0; i < nh; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        headers[i].name = put(&rs, &at, h->orig_name ? h->orig_name : h->name->base, h->name->len);
        headers[i].value = put(&rs, &at, h->value.base, h->value.len);
    }
    if (req->input.authority.len) {
        headers[nh].name = "host";
        headers[nh++].value = put(&rs, &at, req->input.authority.base, req->input.authority.len);
    }
    if (clen[0]) {
        bool have = false;
        for (size_t i = 0; i < nh; i++) have |= strcasecmp(headers[i].name, "content-length") == 0;
        if (!have) { headers[nh].name = "content-length"; headers[nh++].value = clen; }
    }

    char ip[INET6_ADDRSTRLEN];
    source_ip(req, ip, sizeof ip);
    struct http_request rq = {
        .method = method, .path = path, .query = query,
        .headers = headers, .nheaders = nh,
        .body = (const uint8_t *)req->entity.base, .body_len = req->entity.base ? req->entity.len : 0,
        .too_large = overflow,
        .source_ip = ip,
    };
    struct http_response resp = { .body = BUF_SECRET(RESPONSE_BODY_MAX) };
    router_handle(eng->env, &rq, &resp);

    /* The body (plaintext, secret values) sits in h2o's input buffer,
     * which h2o recycles without wiping: wipe it now. */
    if (req->entity.base) secure_zero(req->entity.base, req->entity.len);
    secure_zero(rs.block, rs.size);
    free(rs.block);

    uint8_t **slot = h2o_mem_alloc_shared(&req->pool, sizeof *slot, reply_dispose);
    *slot = resp.body.data;
    size_t len = resp.body.len;
    resp.body.data = NULL;
    resp.body.len = resp.body.cap = 0;

    req->res.status = resp.status;
    req->res.reason = resp.status < 300 ? "OK" : resp.status < 500 ? "Bad Request" : "Internal Server Error";
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, resp.content_type,
                   strlen(resp.content_type));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-amzn-RequestId"), 0, NULL,
                          resp.request_id, strlen(resp.request_id));
    if (resp.error_type)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("X-Amzn-ErrorType"), 0, NULL,
                              resp.error_type, strlen(resp.error_type));
    static h2o_generator_t generator = { NULL, NULL };
    h2o_start_response(req, &generator);
    h2o_iovec_t body = h2o_iovec_init(*slot ? (char *)*slot : "", len);
    h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
    buf_free(&resp.body);
    atomic_fetch_sub(&eng->inflight, 1);
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    struct h2o_worker *w = listener->data;
    if (err) return;
    for (int i = 0; i < 16; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (!sock) break;
        h2o_accept(&w->accept_ctx, sock);
    }
}

static void *worker_main(void *arg)
{
    struct h2o_worker *w = arg;
    while (!atomic_load(&w->eng->stopping)) {
        if (w->listener && !atomic_load(&w->eng->accepting)) {
            h2o_socket_read_stop(w->listener);
            h2o_socket_close(w->listener);
            w->listener = NULL;
        }
        h2o_evloop_run(w->loop, 50);
    }
    return NULL;
}

static SSL_CTX *tls_setup(const char *cert, const char *key)
{
    static const h2o_iovec_t alpn[] = { { H2O_STRLIT("http/1.1") }, { NULL, 0 } };
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                      "TLS_CHACHA20_POLY1305_SHA256") != 1
        || SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") != 1
        || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1
        || SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1
        || SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return NULL;
    }
    h2o_ssl_register_alpn_protocols(ctx, alpn);
    return ctx;
}

TR_RESULT h2o_engine_start(const struct server_env *env, int listen_fd, unsigned threads,
                           struct h2o_engine **out)
{
    struct h2o_engine *e = calloc(1, sizeof *e);
    if (!e) { close(listen_fd); BAIL(TR_E_INTERNAL, "out of memory"); }
    e->env = env;
    e->listen_fd = listen_fd;
    atomic_store(&e->accepting, 1);
    const char *cert = getenv("TRESOR_TLS_CERT"), *key = getenv("TRESOR_TLS_KEY");
    if (cert && *cert && key && *key) {
        e->ssl = tls_setup(cert, key);
        if (!e->ssl) {
            close(listen_fd);
            free(e);
            BAIL(TR_E_VALIDATION, "cannot load the TLS certificate or key");
        }
    }
    h2o_config_init(&e->conf);
    e->conf.server_name = h2o_iovec_init(H2O_STRLIT("tresor"));
    e->conf.max_request_entity_size = REQUEST_BODY_MAX;
    e->conf.http1.req_timeout = 60000;
    e->conf.handshake_timeout = 10000;
    h2o_hostconf_t *host = h2o_config_register_host(&e->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
    struct tr_handler *h = (struct tr_handler *)h2o_create_handler(pc, sizeof *h);
    h->super.on_req = on_req;
    h->eng = e;

    e->nworkers = threads ? threads : 1;
    e->workers = calloc(e->nworkers, sizeof *e->workers);
    if (!e->workers) { close(listen_fd); free(e); BAIL(TR_E_INTERNAL, "out of memory"); }
    for (unsigned i = 0; i < e->nworkers; i++) {
        struct h2o_worker *w = &e->workers[i];
        w->eng = e;
        w->loop = h2o_evloop_create();
        h2o_context_init(&w->ctx, w->loop, &e->conf);
        w->accept_ctx.ctx = &w->ctx;
        w->accept_ctx.hosts = e->conf.hosts;
        w->accept_ctx.ssl_ctx = e->ssl;
        w->fd = dup(listen_fd);
        w->listener = h2o_evloop_socket_create(w->loop, w->fd, H2O_SOCKET_FLAG_DONT_READ);
        w->listener->data = w;
        h2o_socket_read_start(w->listener, on_accept);
        if (pthread_create(&w->th, NULL, worker_main, w) != 0)
            BAIL(TR_E_INTERNAL, "cannot start an HTTP thread");
    }
    log_msg("info", "http: engine h2o %s (spike), %u loops%s", H2O_VERSION, e->nworkers,
            e->ssl ? ", TLS through OpenSSL" : "");
    *out = e;
    return TR_OK;
}

unsigned h2o_engine_port(const struct h2o_engine *e)
{
    struct sockaddr_storage ss = { 0 };
    socklen_t len = sizeof ss;
    if (getsockname(e->listen_fd, (struct sockaddr *)&ss, &len) != 0) return 0;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

unsigned h2o_engine_quiesce(struct h2o_engine *e, unsigned *idle_closed)
{
    atomic_store(&e->accepting, 0);
    (void)shutdown(e->listen_fd, SHUT_RDWR);
    for (unsigned i = 0; i < e->nworkers; i++) h2o_context_request_shutdown(&e->workers[i].ctx);
    if (idle_closed) *idle_closed = 0;
    return atomic_load(&e->inflight);
}

bool h2o_engine_drain(struct h2o_engine *e, unsigned ms, unsigned *left)
{
    for (unsigned waited = 0; atomic_load(&e->inflight) && waited < ms; waited += 5) usleep(5000);
    *left = atomic_load(&e->inflight);
    return *left == 0;
}

unsigned h2o_engine_stop(struct h2o_engine *e)
{
    if (!e) return 0;
    atomic_store(&e->accepting, 0);
    atomic_store(&e->stopping, 1);
    for (unsigned i = 0; i < e->nworkers; i++) pthread_join(e->workers[i].th, NULL);
    /* Spike: connections still open are dropped with the process; the
     * loops and contexts are not disposed (h2o asserts on a loop with
     * sockets left).  Phase 2 closes them first. */
    close(e->listen_fd);
    if (e->ssl) SSL_CTX_free(e->ssl);
    return 0;
}

#else
typedef int tr_server_h2o_not_built;
#endif
