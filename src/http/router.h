/*
 * router.h -- the per-request coordinator, independent of the HTTP
 * library: server.c turns a libmicrohttpd request into struct
 * http_request and sends back struct http_response.
 */
#ifndef TR_ROUTER_H
#define TR_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/sigv4.h"
#include "core/buf.h"
#include "op/op.h"

#define REQUEST_BODY_MAX (1u << 20)     /* 1 MiB */
#define REQUEST_HEAD_MAX (16u << 10)    /* request line and headers: 16 KiB (docs/WIRE.md 1.4) */
#define REQUEST_HEADERS_MAX 128u        /* headers (docs/WIRE.md 1.4) */
#define RESPONSE_BODY_MAX OP_REPLY_MAX  /* op_run renders into it */

struct http_request {
    const char *method;
    const char *path;                   /* raw, without the query */
    const char *query;                  /* raw, "" when none */
    const struct sigv4_header *headers; /* arrival order */
    size_t nheaders;
    const uint8_t *body;
    size_t body_len;
    bool too_large;                     /* body exceeded REQUEST_BODY_MAX */
    bool head_too_large;                /* head exceeded REQUEST_HEAD_MAX or REQUEST_HEADERS_MAX */
    const char *source_ip;
    bool secure;                        /* came over TLS (aws:SecureTransport) */
    bool can_defer;                     /* the server can hold the reply until its commit's
                                           sync (http_response.sync_ticket) */
};

struct http_response {
    int status;
    struct buf body;                    /* secret: wiped on release */
    const char *content_type;
    char request_id[37];
    const char *error_type;             /* X-Amzn-ErrorType, or NULL */
    /* can_defer: nonzero when the request's commit is not durable yet --
     * the reply must not leave before the store's sync_notify says the
     * ticket is durable, and when it cannot be, router_sync_failed
     * replaces it.  svc/query say how to spell that error. */
    uint64_t sync_ticket;
    const struct op_service *svc;
    bool query;
    /* The access-log line of a held reply (sync_ticket), kept until the
     * status actually sent is known: router_log_held writes it. */
    struct {
        bool pending;
        const char *method, *path;      /* the request's: libmicrohttpd's, alive while it is */
        char target[96];
        char principal[PRINCIPAL_ARN_MAX];
        int64_t start_us;
    } held_log;
};

/* Handle one request.  resp->body must be released with buf_free (it is
 * a secret buf: replies can carry plaintext). */
void router_handle(const struct server_env *env, const struct http_request *rq,
                   struct http_response *resp);

/* The commit of resp's request did not become durable (its sync
 * failed): replace the reply, wiping it, with the service's internal
 * error (500), as the request would have got had it waited for the sync
 * itself. */
void router_sync_failed(const struct server_env *env, struct http_response *resp);

/* The held reply resp is about to be sent (after router_sync_failed when
 * its sync failed): write its access-log line now, with the status it is
 * sent with and the latency up to now.  Once; nothing when none pends. */
void router_log_held(struct http_response *resp);

/* tresor serve --metrics: register a metrics series (core/metrics.h) for
 * each of env's services' operations, then turn metrics on; GET /metrics
 * answers the exposition from then on.  Before the workers start. */
TR_RESULT router_metrics_init(const struct server_env *env);

/* The error a reply of service svc carries for code (docs/WIRE.md 5): its
 * __type (awsJson1_1: KMS, Secrets Manager) or query Code (IAM, STS) and
 * HTTP status.  svc NULL: errors.def's query spelling. */
void router_error_spelling(const struct op_service *svc, enum tr_err code, const char **type,
                           int *status);

/* Case-insensitive header lookup: the first occurrence, or NULL. */
const char *http_header(const struct http_request *rq, const char *name);

#endif
