/*
 * server.h -- the HTTP listener (libmicrohttpd).
 */
#ifndef TR_SERVER_H
#define TR_SERVER_H

#include "core/result.h"
#include "op/op.h"

struct http_server;
struct tls_ctx;

/* Parse "ADDR:PORT" ("127.0.0.1:8737", "[::1]:8737", ":8737"). */
TR_RESULT listen_addr_parse(const char *s, void *sockaddr_storage, unsigned *len);
/* True when s parses to a loopback address (127.0.0.0/8, ::1, localhost):
 * the only addresses `tresor serve --dev` listens on. */
bool listen_is_loopback(const char *s);

/* Open, bind and listen on "ADDR:PORT" (close-on-exec, non-blocking).
 * main.c calls it before it touches the data dir, so that a port in use
 * fails the start with one line naming the address and the reason
 * ("cannot listen on 127.0.0.1:8737: Address already in use") and leaves
 * nothing behind. */
TR_RESULT http_listen(const char *listen, int *fd);

/* Serve on listen_fd (from http_listen) with a worker-thread pool of
 * `threads` threads, over TLS with tls's credentials (http/tls.h; the
 * caller keeps it, and frees it after http_server_stop) or plain HTTP
 * when tls is NULL.  The server owns listen_fd from here on, even when
 * this fails. */
TR_RESULT http_server_start(const struct server_env *env, int listen_fd,
                            unsigned threads, struct tls_ctx *tls, struct http_server **out);
/* The port actually bound (useful with port 0). */
unsigned http_server_port(const struct http_server *s);

/* A clean stop, in three steps (server.c explains the protocol).
 * quiesce: stop accepting (new connections are refused), shut idle
 * keep-alive connections down (*idle_closed: how many); every reply from
 * now on closes its connection.  Returns the requests in flight.
 * drain: wait up to ms for the requests in flight to be answered; true
 * when none is left, and from then on a request that arrives on an idle
 * keep-alive connection is refused unread.  *left: those still in flight.
 * stop: close every connection (answered or not), join the workers, free;
 * returns the number of requests refused unread since the quiesce.
 * stop alone (no quiesce) is the immediate stop of an error path. */
unsigned http_server_quiesce(struct http_server *s, unsigned *idle_closed);
bool http_server_drain(struct http_server *s, unsigned ms, unsigned *left);
unsigned http_server_stop(struct http_server *s);

/* The free callback of every reply body handed to libmicrohttpd: the body
 * (a secret buf's block: replies carry plaintext) is wiped whole, then
 * freed (wipe-check site "reply"). */
void http_reply_free(void *p);

#endif
