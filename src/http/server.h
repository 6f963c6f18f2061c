/*
 * server.h -- the HTTP listener (libmicrohttpd).
 */
#ifndef TR_SERVER_H
#define TR_SERVER_H

#include "core/result.h"
#include "http/op.h"

struct http_server;

/* Parse "ADDR:PORT" ("127.0.0.1:8737", "[::1]:8737", ":8737"). */
TR_RESULT listen_addr_parse(const char *s, void *sockaddr_storage, unsigned *len);
/* True when s parses to a loopback address (127.0.0.0/8, ::1, localhost):
 * the only addresses `tresor serve --dev` listens on. */
bool listen_is_loopback(const char *s);

/* Start listening with a worker-thread pool of `threads` threads. */
TR_RESULT http_server_start(const struct server_env *env, const char *listen,
                            unsigned threads, struct http_server **out);
/* The port actually bound (useful with port 0). */
unsigned http_server_port(const struct http_server *s);
/* Stop accepting, let in-flight requests finish, join the workers. */
void http_server_stop(struct http_server *s);

/* The free callback of every reply body handed to libmicrohttpd: the body
 * (a secret buf's block: replies carry plaintext) is wiped whole, then
 * freed (wipe-check site "reply"). */
void http_reply_free(void *p);

#endif
