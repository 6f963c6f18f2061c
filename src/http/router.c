/*
 * router.c -- one request from bytes to reply: route, authenticate, decode,
 * run the operation, render, log.
 *
 * The services are those main.c registered (server_env.services, op.h
 * struct op_service); this file knows nothing else of them.
 *
 * Order of work for a POST (awsJson1_1):
 *   X-Amz-Target prefix -> service (TrentService -> kms)
 *   SigV4 -> principal                              (auth/creds.c)
 *   operation lookup  -> UnknownOperationException
 *   JSON decode       -> SerializationException
 *   op_run: the handler, inside a store transaction when the op writes,
 *   and the reply rendered                          (op/op.c)
 *   or the AWS error body; x-amzn-RequestId, one log line
 * A request to "/" without X-Amz-Target, GET or POST, is a query-protocol
 * request (IAM, STS: the credential scope says which, from the
 * Authorization header or a presigned URL's X-Amz-Credential): SigV4, then
 * Action, Version and the parameters from the query string and the form
 * body (op/query_proto.c), XML reply.  Unless the scope names KMS or
 * Secrets Manager: they take only POST with X-Amz-Target, and anything
 * else is their UnknownOperationException.
 * No handler touches HTTP; this file never touches key material.
 */
#include "http/router.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "audit/audit.h"
#include "auth/creds.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/str.h"
#include "crypto/rand.h"
#include "op/clock.h"
#include "op/query_proto.h"

/* The services are those main registered in env->services (op.h struct
 * op_service): this file knows them by their descriptors alone. */

/* The registered service of protocol `proto` whose signing name is
 * `name`, or NULL. */
static const struct op_service *service_named(const struct server_env *env, enum op_proto proto,
                                              const char *name)
{
    for (size_t i = 0; i < env->nservices; i++)
        if (env->services[i]->proto == proto && strcmp(env->services[i]->name, name) == 0)
            return env->services[i];
    return NULL;
}

/* The namespace of a query-protocol error whose credential scope names no
 * query service: the first registered one's (IAM's). */
static const char *default_xmlns(const struct server_env *env)
{
    for (size_t i = 0; i < env->nservices; i++)
        if (env->services[i]->proto == OP_QUERY) return env->services[i]->xmlns;
    return "";
}

/* What AWS's awsJson front end says of a request it cannot map to an
 * operation (a missing or unknown X-Amz-Target, a method other than POST). */
#define UNKNOWN_OPERATION_MSG "The requested operation is not recognized by the service."

const char *http_header(const struct http_request *rq, const char *name)
{
    for (size_t i = 0; i < rq->nheaders; i++)
        if (strcasecmp(rq->headers[i].name, name) == 0) return rq->headers[i].value;
    return NULL;
}

/* The awsJson1_1 service whose X-Amz-Target prefix target has, or NULL. */
static const struct op_service *find_service(const struct server_env *env, const char *target)
{
    if (!target) return NULL;
    for (size_t i = 0; i < env->nservices; i++) {
        const struct op_service *svc = env->services[i];
        if (svc->proto != OP_JSON) continue;
        size_t n = strlen(svc->target_prefix);
        if (strncmp(target, svc->target_prefix, n) == 0) return svc;
    }
    return NULL;
}

/* The awsJson spelling of an error: errors.def's, with the service's own
 * internal error for 5xx and its own not-found and exists for the store's. */
static const char *json_error_type(const struct op_service *svc, enum tr_err code)
{
    if (!svc) return tr_err_type(code);
    if (tr_err_status(code) >= 500) return svc->internal_error;
    if (code == TR_E_STORE_NOT_FOUND) return svc->not_found_type;
    if (code == TR_E_STORE_EXISTS) return svc->exists_type;
    return tr_err_type(code);
}

/* Render the last error as an awsJson1_1 error reply. */
static void render_error(const struct op_service *svc, struct http_response *resp)
{
    const struct tr_error_info *e = tr_last_error();
    enum tr_err code = e->code ? e->code : TR_E_INTERNAL;
    const char *type = json_error_type(svc, code);
    resp->status = tr_err_status(code);
    resp->error_type = type;
    resp->content_type = "application/x-amz-json-1.1";

    json_t *o = json_object();
    if (o) {
        json_object_set_new(o, "__type", json_string(type));
        if (e->has_message && tr_err_status(code) < 500)
            json_object_set_new(o, svc ? svc->message_member : "message",
                                json_string(e->message));
        else if (tr_err_status(code) >= 500)
            json_object_set_new(o, svc ? svc->message_member : "message",
                                json_string("An internal error occurred."));
        buf_reset(&resp->body);
        if (tr_failed(json_dump_buf(o, JSON_COMPACT, &resp->body))) buf_reset(&resp->body);
        json_decref(o);
    }
}

static TR_RESULT decode_body(const struct http_request *rq, json_t **out)
{
    *out = NULL;
    if (rq->body_len == 0) {
        *out = json_object();
        ENSURE(*out != NULL, TR_E_INTERNAL);
        return TR_OK;
    }
    json_error_t jerr;
    json_t *v = json_loadb((const char *)rq->body, rq->body_len,
                           JSON_REJECT_DUPLICATES, &jerr);
    if (!v) BAIL(TR_E_SERIALIZATION, "Could not parse the request body as JSON");
    if (!json_is_object(v)) {
        json_decref(v);
        BAIL(TR_E_SERIALIZATION, "Start of structure or map expected");
    }
    *out = v;
    return TR_OK;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- metrics (core/metrics.h) -------------------------------------------- */

/* The series of each registered service's operations: base[i] + the
 * operation's place in its table; unknown[i] for the service's requests
 * that name no operation of it; none_* for requests of no service. */
#define ROUTER_SERVICES_MAX 16
static unsigned m_base[ROUTER_SERVICES_MAX], m_unknown[ROUTER_SERVICES_MAX], m_nops[ROUTER_SERVICES_MAX];
static unsigned m_health, m_metrics, m_none;

TR_RESULT router_metrics_init(const struct server_env *env)
{
    ENSURE(env->nservices <= ROUTER_SERVICES_MAX, TR_E_INTERNAL);
    GUARD(metrics_add_series("none", "health", &m_health));
    GUARD(metrics_add_series("none", "metrics", &m_metrics));
    GUARD(metrics_add_series("none", "unknown", &m_none));
    for (size_t i = 0; i < env->nservices; i++) {
        const struct op_service *svc = env->services[i];
        unsigned n = 0, idx;
        for (const struct op_def *op = svc->ops; op->name; op++, n++) {
            GUARD(metrics_add_series(svc->name, op->name, &idx));
            if (n == 0) m_base[i] = idx;
        }
        m_nops[i] = n;
        GUARD(metrics_add_series(svc->name, "unknown", &m_unknown[i]));
    }
    metrics_enable(true);
    return TR_OK;
}

/* The series of a request of service svc (NULL: none) and operation op
 * (NULL: none found); `none` for requests of no service. */
static unsigned metric_series(const struct server_env *env, const struct op_service *svc,
                              const struct op_def *op, unsigned none)
{
    for (size_t i = 0; svc && i < env->nservices && i < ROUTER_SERVICES_MAX; i++) {
        if (env->services[i] != svc) continue;
        if (op && op >= svc->ops && (size_t)(op - svc->ops) < m_nops[i])
            return m_base[i] + (unsigned)(op - svc->ops);
        return m_unknown[i];
    }
    return none;
}

/* The end of a request: its metrics (when on) and its log line. */
static void log_request(const struct server_env *env, const struct op_service *svc, const struct op_def *op,
                        unsigned none, const struct http_request *rq, const char *target,
                        const struct principal *who, struct http_response *resp, int64_t start_us)
{
    int64_t latency = mono_us() - start_us;
    if (metrics_enabled()) metrics_request(metric_series(env, svc, op, none), resp->status, latency);
    if (!log_requests()) return;
    if (resp->sync_ticket) {
        /* Held until its commit is durable, and replaced by a 500 if it
         * never is: the line waits for the status actually sent. */
        resp->held_log.pending = true;
        resp->held_log.method = rq->method;
        resp->held_log.path = rq->path;
        /* cut: an operation's name; the log cuts the field shorter anyway */
        snprintf(resp->held_log.target, sizeof resp->held_log.target, "%s", target ? target : "");
        resp->held_log.principal[0] = '\0';
        if (who) STR_COPY_ARRAY(resp->held_log.principal, who->arn);
        resp->held_log.start_us = start_us;
        return;
    }
    const struct tr_error_info *e = tr_last_error();
    /* Internal faults carry file:line for the operator, never the client.
     * Everything from the request is escaped by log_write_request. */
    struct log_request r = {
        .method = rq->method, .path = rq->path, .target = target,
        .principal = who && who->arn[0] ? who->arn : NULL,
        .status = resp->status, .latency_us = latency,
        .request_id = resp->request_id, .error = resp->error_type,
        .fault_file = resp->status >= 500 ? e->file : NULL, .fault_line = e->line,
    };
    log_write_request(&r);
}

/* The query protocol's spelling of an error (code, HTTP status): its
 * columns of errors.def, and the service's own internal error for 5xx. */
static void query_error_code(const struct op_service *qs, enum tr_err code,
                             const char **type, int *status)
{
    *type = tr_err_query_code(code);
    *status = tr_err_query_status(code);
    if (*status >= 500) *type = qs ? qs->internal_error : "InternalFailure";
}

void router_error_spelling(const struct op_service *svc, enum tr_err code, const char **type,
                           int *status)
{
    if (svc && svc->proto == OP_JSON) {
        *type = json_error_type(svc, code);
        *status = tr_err_status(code);
        return;
    }
    query_error_code(svc, code, type, status);
}

/* Render failure r (its message in the last-error slot) as a query-protocol
 * error reply. */
static void render_query_error(const struct server_env *env, const struct op_service *qs, tr_result r,
                               struct http_response *resp)
{
    const struct tr_error_info *e = tr_last_error();
    enum tr_err code = e->code ? e->code : tr_failed(r) ? tr_code(r) : TR_E_INTERNAL;
    const char *type;
    int status;
    query_error_code(qs, code, &type, &status);
    resp->status = status;
    resp->error_type = type;
    resp->content_type = "text/xml";
    buf_reset(&resp->body);
    struct xml x = { .b = &resp->body, .r = TR_OK };
    if (tr_failed(buf_printf(&resp->body, "<ErrorResponse xmlns=\"%s\">",
                             qs ? qs->xmlns : default_xmlns(env)))) return;
    xml_open(&x, "Error");
    xml_text(&x, "Type", status >= 500 ? "Receiver" : "Sender");
    xml_text(&x, "Code", type);
    if (status >= 500) xml_text(&x, "Message", "An internal error occurred.");
    else if (e->has_message) xml_text(&x, "Message", e->message);
    xml_close(&x, "Error");
    xml_text(&x, "RequestId", resp->request_id);
    xml_close(&x, "ErrorResponse");
    if (tr_failed(x.r)) buf_reset(&resp->body);
}

/* The service name of a request's credential scope, read without checking
 * the signature (for errors raised before it can be checked); false when
 * there is none.  May overwrite the last error: call before setting one. */
static bool scope_service(const struct http_request *rq, char name[64])
{
    struct sigv4_request sreq = {
        .method = rq->method, .path = rq->path, .query = rq->query,
        .headers = rq->headers, .nheaders = rq->nheaders,
    };
    struct sigv4_auth auth;
    bool ok = tr_ok(sigv4_parse(&sreq, &auth));
    _Static_assert(sizeof auth.service <= 64, "name holds the scope's service");
    if (ok) snprintf(name, 64, "%s", auth.service);     /* fits: asserted above */
    return ok;
}

/* The query service the credential scope names, or NULL. */
static const struct op_service *scope_qservice(const struct server_env *env,
                                               const struct http_request *rq)
{
    char name[64];
    if (!scope_service(rq, name)) return NULL;
    return service_named(env, OP_QUERY, name);
}

/* The awsJson1_1 service the credential scope names, or NULL: a request
 * signed for KMS or Secrets Manager that lacks X-Amz-Target is that
 * service's unknown operation, not a query-protocol request. */
static const struct op_service *scope_json_service(const struct server_env *env,
                                                   const struct http_request *rq)
{
    char name[64];
    if (!scope_service(rq, name)) return NULL;
    return service_named(env, OP_JSON, name);
}

/* A query-protocol request with no signature: its form, and in *qs the
 * service whose OP_UNSIGNED operation its Action and Version name (NULL,
 * and the form released, for any other request, which is then refused
 * as unsigned). */
static TR_RESULT unsigned_query(const struct server_env *env, const struct http_request *rq,
                                struct form *form, const struct op_service **qs)
{
    *qs = NULL;
    GUARD(form_parse_request((const uint8_t *)rq->query, strlen(rq->query), rq->body,
                             rq->body_len, form));
    const char *action = form_get(form, "Action"), *version = form_get(form, "Version");
    for (size_t i = 0; action && version && i < env->nservices; i++) {
        const struct op_service *s = env->services[i];
        if (s->proto != OP_QUERY || strcmp(version, s->version) != 0) continue;
        const struct op_def *op = op_find(s, action);
        if (op && (op->flags & OP_UNSIGNED)) *qs = s;
    }
    if (!*qs) form_free(form);
    return TR_OK;
}

/* A query-protocol request (GET or POST): the service comes from the
 * credential scope, the parameters from the query string and the body. */
/* target[] receives the Action name for the log line (copied: the form
 * that holds it is released before the line is written). */
static void handle_query(const struct server_env *env, const struct http_request *rq,
                         struct http_response *resp, struct req_ctx *rc, char target[96],
                         const struct op_service **msvc, const struct op_def **mop)
{
    const struct op_service *qs = NULL;
    struct form form;
    tr_result r;
    bool have_form = false;

    resp->content_type = "text/xml";
    struct sigv4_request sreq = {
        .method = rq->method, .path = rq->path, .query = rq->query,
        .headers = rq->headers, .nheaders = rq->nheaders,
        .body = rq->body, .body_len = rq->body_len,
    };
    struct sigv4_auth auth;
    if (rc->audit) rc->audit->reached = true;      /* refused or not, it gets a line */
    r = sigv4_parse(&sreq, &auth);
    bool unsigned_rq = false;
    if (tr_failed(r) && tr_code(r) == TR_E_MISSING_AUTH) {
        /* No signature at all: only an OP_UNSIGNED operation is served. */
        tr_result missing = r;
        r = unsigned_query(env, rq, &form, &qs);
        have_form = tr_ok(r);
        if (tr_failed(r) || !qs) {
            r = missing;
            goto fail;
        }
        unsigned_rq = true;
        *msvc = qs;
        memset(&rc->who, 0, sizeof rc->who);
        rc->who.type = PRINCIPAL_ANONYMOUS;
        snprintf(auth.region, sizeof auth.region, "%s", env->default_region);   /* fits: a region name */
    }
    if (tr_failed(r)) goto fail;
    if (!unsigned_rq) {
        if (rc->audit) STR_COPY_ARRAY(rc->audit->access_key_id, auth.access_key_id);
        qs = service_named(env, OP_QUERY, auth.service);
        *msvc = qs;
        if (!qs) {
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INVALID_SIGNATURE,
                           "Credential should be scoped to correct service. ");
            goto fail;
        }
        r = auth_request(env, &sreq, qs->name, time(NULL), &rc->who, &auth);
        if (tr_failed(r)) goto fail;
        r = form_parse_request((const uint8_t *)rq->query, strlen(rq->query), rq->body,
                               rq->body_len, &form);
        have_form = true;
        if (tr_failed(r)) goto fail;
    }
    const char *action = form_get(&form, "Action");
    if (!action || !*action) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_QUERY_MISSING_ACTION, "Missing Action");
        goto fail;
    }
    snprintf(target, 96, "%.95s", action);     /* cut: the log line's action, at most 95 */
    const char *version = form_get(&form, "Version");
    const struct op_def *op = op_find(qs, action);
    if (rc->audit && op) rc->audit->action = op->action;
    *mop = op;
    if (!op || !version || strcmp(version, qs->version) != 0) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_UNKNOWN_OPERATION,
                       "Could not find operation %.64s for version %.32s", action,
                       version ? version : "NO_VERSION_SPECIFIED");
        goto fail;
    }
    rc->env = env;
    rc->st = env->st;
    rc->kr = env->kr;
    STR_COPY_ARRAY(rc->region, auth.region);
    memcpy(rc->request_id, resp->request_id, sizeof rc->request_id);
    rc->now = tr_now();
    rc->source_ip = rq->source_ip;
    rc->secure_transport = rq->secure;
    rc->user_agent = http_header(rq, "User-Agent");
    rc->referer = http_header(rq, "Referer");
    r = op_run(rc, qs, op, &(struct op_input){ .form = &form }, &resp->body);
    resp->sync_ticket = rc->sync_ticket;
    resp->svc = qs;
    resp->query = true;
    if (tr_failed(r)) goto fail;
    form_free(&form);
    return;
fail:
    if (have_form) form_free(&form);
    render_query_error(env, qs, r, resp);
}

/* The audit line of a request that reached authentication (audit/audit.h),
 * before its reply leaves: the reply's error code, or none.  A line that
 * cannot be written turns the reply into the service's internal error
 * (fail closed): a read's plaintext never leaves unlogged, and a write
 * was already rolled back when its line failed before the commit.  svc:
 * the awsJson service, NULL for a query-protocol request.  Releases the
 * record. */
static void audit_finish(const struct server_env *env, const struct http_request *rq,
                         const struct op_service *svc, struct audit_req *aq, struct http_response *resp)
{
    if (!aq->log) return;
    tr_result r = aq->reached ? audit_req_write(aq, resp->status == 200 ? NULL : resp->error_type) : TR_OK;
    audit_req_free(aq);
    if (tr_ok(r)) return;
    buf_reset(&resp->body);
    const struct op_service *qs = svc ? NULL : scope_qservice(env, rq);
    r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "audit log write failed");
    if (svc) render_error(svc, resp);
    else render_query_error(env, qs, r, resp);
}

static void route(const struct server_env *env, const struct http_request *rq,
                  struct http_response *resp)
{
    int64_t start = mono_us();
    const struct op_service *svc = NULL;
    const struct op_def *op = NULL;
    const char *target = NULL;
    struct req_ctx rc;
    json_t *in = NULL;
    tr_result r = TR_OK;

    memset(&rc, 0, sizeof rc);
    /* The reply may wait for its commit's sync without this thread --
     * unless an audit line must record how the request ended: a sync
     * that fails after the line said "success" would make it lie. */
    rc.defer_sync = rq->can_defer && !env->audit;
    resp->sync_ticket = 0;
    tr_clear_error();
    resp->status = 200;
    resp->error_type = NULL;
    resp->content_type = "application/x-amz-json-1.1";
    if (tr_failed(rand_uuid(resp->request_id)))
        STR_SET(resp->request_id, "00000000-0000-4000-8000-000000000000");
    struct audit_req aq = { .log = env->audit, .request_id = resp->request_id, .source_ip = rq->source_ip,
                            .who = &rc.who };

    if (strcmp(rq->method, "GET") == 0 && strcmp(rq->path, "/health") == 0) {
        resp->content_type = "application/json";
        if (tr_failed(buf_append_str(&resp->body, "{\"status\":\"ok\"}"))) resp->status = 500;
        log_request(env, NULL, NULL, m_health, rq, NULL, NULL, resp, start);
        return;
    }
    /* --metrics: the exposition, unauthenticated like /health (README:
     * keep the server on loopback, or filter the path, if that matters).
     * Without --metrics the path is what it always was: an unknown
     * operation. */
    if (strcmp(rq->method, "GET") == 0 && strcmp(rq->path, "/metrics") == 0 && metrics_enabled()) {
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        if (tr_failed(metrics_render(&resp->body))) {
            buf_reset(&resp->body);
            resp->status = 500;
        }
        log_request(env, NULL, NULL, m_metrics, rq, NULL, NULL, resp, start);
        return;
    }

    /* What other processes committed since this thread's last request
     * invalidates its caches (store.h generation). */
    if (env->st) env->st[0]->refresh(env->st);

    target = http_header(rq, "X-Amz-Target");
    bool query = !target && strcmp(rq->path, "/") == 0 &&
                 (strcmp(rq->method, "POST") == 0 || strcmp(rq->method, "GET") == 0);
    if (rq->too_large || rq->head_too_large) {
        /* In the shape of the protocol the request speaks: XML for a
         * query-protocol request, else JSON with the service's own
         * message member. */
        const struct op_service *qs = query ? scope_qservice(env, rq) : NULL;
        if (rq->head_too_large)
            r = tr_fail_at(__FILE__, __LINE__, TR_E_REQUEST_TOO_LARGE,
                           "Request headers exceed the limit of %u headers and %u bytes",
                           REQUEST_HEADERS_MAX, REQUEST_HEAD_MAX);
        else
            r = tr_fail_at(__FILE__, __LINE__, TR_E_REQUEST_TOO_LARGE,
                           "Request body exceeds the limit of %u bytes", REQUEST_BODY_MAX);
        if (query) {
            render_query_error(env, qs, r, resp);
            log_request(env, qs, NULL, m_none, rq, NULL, NULL, resp, start);
            return;
        }
        svc = find_service(env, target);
        goto fail;
    }
    if (query && (svc = scope_json_service(env, rq)) != NULL) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_UNKNOWN_OPERATION, UNKNOWN_OPERATION_MSG);
        goto fail;
    }
    if (query) {
        char action[96] = "";
        const struct op_service *qs = NULL;
        if (aq.log) {
            aq.operation = action;
            rc.audit = &aq;
            rc.before_commit = audit_before_commit;
        }
        handle_query(env, rq, resp, &rc, action, &qs, &op);
        audit_finish(env, rq, NULL, &aq, resp);
        log_request(env, qs, op, m_none, rq, action[0] ? action : NULL, rc.who.arn[0] ? &rc.who : NULL,
                    resp, start);
        return;
    }
    svc = find_service(env, target);
    if (strcmp(rq->method, "POST") != 0 || strcmp(rq->path, "/") != 0 || !svc) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_UNKNOWN_OPERATION, UNKNOWN_OPERATION_MSG);
        goto fail;
    }

    struct sigv4_request sreq = {
        .method = rq->method, .path = rq->path, .query = rq->query,
        .headers = rq->headers, .nheaders = rq->nheaders,
        .body = rq->body, .body_len = rq->body_len,
    };
    struct sigv4_auth auth;
    auth.access_key_id[0] = '\0';
    if (aq.log) {
        aq.reached = true;
        aq.operation = target;
        rc.audit = &aq;
        rc.before_commit = audit_before_commit;
    }
    /* Looked up before the signature is checked for the metrics' label
     * alone: an unknown operation is still refused after it. */
    op = op_find(svc, target + strlen(svc->target_prefix));
    r = auth_request(env, &sreq, svc->name, time(NULL), &rc.who, &auth);
    if (aq.log) STR_COPY_ARRAY(aq.access_key_id, auth.access_key_id);
    if (tr_failed(r)) goto fail;

    if (!op) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_UNKNOWN_OPERATION, UNKNOWN_OPERATION_MSG);
        goto fail;
    }
    aq.action = op->action;
    r = decode_body(rq, &in);
    if (tr_failed(r)) goto fail;
    aq.input = in;

    rc.env = env;
    rc.st = env->st;
    rc.kr = env->kr;
    STR_COPY_ARRAY(rc.region, auth.region);
    memcpy(rc.request_id, resp->request_id, sizeof rc.request_id);
    rc.now = tr_now();
    rc.source_ip = rq->source_ip;
    rc.secure_transport = rq->secure;
    rc.user_agent = http_header(rq, "User-Agent");
    rc.referer = http_header(rq, "Referer");

    r = op_run(&rc, svc, op, &(struct op_input){ .json = in }, &resp->body);
    resp->sync_ticket = rc.sync_ticket;
    resp->svc = svc;
    if (tr_failed(r)) goto fail;
    audit_finish(env, rq, svc, &aq, resp);
    json_decref(in);
    log_request(env, svc, op, m_none, rq, target, &rc.who, resp, start);
    return;

fail:
    (void)r;
    buf_reset(&resp->body);
    render_error(svc, resp);
    audit_finish(env, rq, svc, &aq, resp);
    if (in) json_decref(in);
    log_request(env, svc, op, m_none, rq, target, rc.who.arn[0] ? &rc.who : NULL, resp, start);
}

void router_log_held(struct http_response *resp)
{
    if (!resp->held_log.pending) return;
    resp->held_log.pending = false;
    const struct tr_error_info *e = tr_last_error();
    struct log_request r = {
        .method = resp->held_log.method, .path = resp->held_log.path,
        .target = resp->held_log.target[0] ? resp->held_log.target : NULL,
        .principal = resp->held_log.principal[0] ? resp->held_log.principal : NULL,
        .status = resp->status, .latency_us = mono_us() - resp->held_log.start_us,
        .request_id = resp->request_id, .error = resp->error_type,
        .fault_file = resp->status >= 500 ? e->file : NULL, .fault_line = e->line,
    };
    log_write_request(&r);
}

void router_sync_failed(const struct server_env *env, struct http_response *resp)
{
    tr_result r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_IO, NULL);
    buf_reset(&resp->body);
    resp->sync_ticket = 0;
    if (resp->query) render_query_error(env, resp->svc, r, resp);
    else render_error(resp->svc, resp);
}

/* dev mode (op.h dev_hooks, set by dev/dev.c): the unsigned reset paths,
 * and every other request inside the shared hold that a reset waits for.
 * Outside dev mode: no lock, straight to route(). */
static void dev_reset_reply(const struct server_env *env, const struct http_request *rq,
                            struct http_response *resp)
{
    int64_t start = mono_us();
    tr_clear_error();
    resp->error_type = NULL;
    resp->content_type = "application/json";
    if (tr_failed(rand_uuid(resp->request_id)))
        STR_SET(resp->request_id, "00000000-0000-4000-8000-000000000000");
    tr_result r = env->dev->reset(env->dev->state);
    resp->status = tr_ok(r) ? 200 : tr_err_status(tr_code(r));
    const char *msg = tr_ok(r) ? "{\"status\":\"reset\"}" : "{\"status\":\"refused\"}";
    if (tr_failed(buf_append_str(&resp->body, msg))) resp->status = 500;
    log_request(env, NULL, NULL, m_none, rq, NULL, NULL, resp, start);
}

/*
 * The sealed state (op.h seal_lock; http/control.h): no root key, so
 * nothing can be decrypted -- not even an access key's secret, so no
 * request can be authenticated either.  /health says {"sealed": true}
 * with 503, and every other request gets 503 in the shape of the protocol
 * it speaks, with the code ServiceUnavailable -- the error every AWS
 * service lists among its common errors for "the request has failed due
 * to a temporary failure of the server", HTTP 503, which SDKs retry --
 * and the message "tresor is sealed": the service's own internal error
 * (KMSInternalException, InternalServiceError, ServiceFailure,
 * InternalFailure) would claim a fault, and a client cannot tell it from
 * one.  Nothing of the request is read beyond what picks the shape.
 */
#define SEALED_MSG "tresor is sealed"

static void sealed_reply(const struct server_env *env, const struct http_request *rq,
                         struct http_response *resp)
{
    int64_t start = mono_us();
    const char *target = http_header(rq, "X-Amz-Target");
    tr_clear_error();
    resp->status = 503;
    resp->error_type = "ServiceUnavailable";
    if (tr_failed(rand_uuid(resp->request_id)))
        STR_SET(resp->request_id, "00000000-0000-4000-8000-000000000000");
    buf_reset(&resp->body);
    if (strcmp(rq->method, "GET") == 0 && strcmp(rq->path, "/health") == 0) {
        resp->content_type = "application/json";
        resp->error_type = NULL;
        if (tr_failed(buf_append_str(&resp->body, "{\"sealed\": true}"))) buf_reset(&resp->body);
    } else if (!target && strcmp(rq->path, "/") == 0 && !scope_json_service(env, rq)) {
        const struct op_service *qs = scope_qservice(env, rq);
        struct xml x = { .b = &resp->body, .r = TR_OK };
        resp->content_type = "text/xml";
        if (tr_failed(buf_printf(&resp->body, "<ErrorResponse xmlns=\"%s\">",
                                 qs ? qs->xmlns : default_xmlns(env)))) return;
        xml_open(&x, "Error");
        xml_text(&x, "Type", "Receiver");
        xml_text(&x, "Code", "ServiceUnavailable");
        xml_text(&x, "Message", SEALED_MSG);
        xml_close(&x, "Error");
        xml_text(&x, "RequestId", resp->request_id);
        xml_close(&x, "ErrorResponse");
        if (tr_failed(x.r)) buf_reset(&resp->body);
    } else {
        const struct op_service *svc = find_service(env, target);
        if (!svc) svc = scope_json_service(env, rq);
        resp->content_type = "application/x-amz-json-1.1";
        json_t *o = json_object();
        if (o) {
            json_object_set_new(o, "__type", json_string("ServiceUnavailable"));
            json_object_set_new(o, svc ? svc->message_member : "message", json_string(SEALED_MSG));
            if (tr_failed(json_dump_buf(o, JSON_COMPACT, &resp->body))) buf_reset(&resp->body);
            json_decref(o);
        }
    }
    bool health = strcmp(rq->method, "GET") == 0 && strcmp(rq->path, "/health") == 0;
    log_request(env, NULL, NULL, health ? m_health : m_none, rq, target, NULL, resp, start);
}

void router_handle(const struct server_env *env, const struct http_request *rq,
                   struct http_response *resp)
{
    if (env->seal_lock) {               /* shared for the whole request: a seal waits for it */
        pthread_rwlock_rdlock(env->seal_lock);
        /* /metrics needs no key, and tresor_sealed is worth seeing sealed */
        bool metrics = metrics_enabled() && strcmp(rq->method, "GET") == 0 &&
                       strcmp(rq->path, "/metrics") == 0;
        if (!env->kr && !metrics) sealed_reply(env, rq, resp);
        else route(env, rq, resp);
        pthread_rwlock_unlock(env->seal_lock);
        return;
    }
    if (!env->dev) { route(env, rq, resp); return; }
    if (strcmp(rq->method, "POST") == 0 && env->dev->is_reset_path(rq->path)) {
        dev_reset_reply(env, rq, resp);
        return;
    }
    env->dev->enter(env->dev->state);
    route(env, rq, resp);
    env->dev->leave(env->dev->state);
}
