/*
 * op_harness.h -- how the unit tests run an operation handler: through
 * op_run (op/op.h), as the router and dev mode's seed do -- inside one
 * store transaction when it writes, rolled back on failure; the reply
 * rendered in its protocol's shape; the identity the handlers loaded
 * released -- for both protocols:
 *
 *   oh_json(rc, svc, name, in, &out)     awsJson1_1 (KMS, Secrets Manager):
 *                                        in borrowed; *out the reply as it
 *                                        would go on the wire, parsed back
 *   oh_query(rc, svc, name, body, xml)   query (IAM, STS): a form-encoded
 *                                        body; the content of the reply's
 *                                        result element lands in xml
 *
 * Each clears the last error first, as a request starts with none.  The
 * fixtures (store, keyring, callers) are the tests' own; query_harness.h
 * is the IAM and STS tests' fixture over oh_query.  Everything here is
 * static and may go unused.
 */
#ifndef TR_OP_HARNESS_H
#define TR_OP_HARNESS_H

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "op/op.h"
#include "op/query_proto.h"

#define OH_UNUSED __attribute__((unused))

/* The operation `name` of svc; fails the test when there is none. */
static OH_UNUSED const struct op_def *oh_find(const struct op_service *svc, const char *name)
{
    const struct op_def *op = op_find(svc, name);
    if (!op) fail_msg("%s: no operation %s", svc->name, name);
    return op;
}

/* Run JSON operation `name` of svc with `in`; on success *out is the
 * reply (release with json_decref), else NULL. */
static OH_UNUSED tr_result oh_json(struct req_ctx *rc, const struct op_service *svc, const char *name,
                                   json_t *in, json_t **out)
{
    const struct op_def *op = oh_find(svc, name);
    struct buf reply = BUF_SECRET(OP_REPLY_MAX);
    *out = NULL;
    tr_clear_error();
    tr_result r = op_run(rc, svc, op, &(struct op_input){ .json = in }, &reply);
    if (tr_ok(r)) {
        json_error_t e;
        *out = json_loadb((const char *)reply.data, reply.len, JSON_REJECT_DUPLICATES, &e);
        if (!json_is_object(*out)) fail_msg("%s: the reply is not a JSON object: %s", name, e.text);
    }
    buf_free(&reply);
    return r;
}

/* Run query operation `name` of svc with the form-encoded parameters
 * `body`.  On success xml (cap bytes, NUL-terminated, cut when longer)
 * holds what the handler wrote -- the reply between
 * <NameResponse xmlns="..."><NameResult> and </NameResult><ResponseMetadata>
 * (without the result tags for OP_NO_RESULT), an envelope checked here --
 * else "". */
static OH_UNUSED tr_result oh_query(struct req_ctx *rc, const struct op_service *svc, const char *name,
                                    const struct buf *body, char *xml, size_t cap)
{
    const struct op_def *op = oh_find(svc, name);
    struct buf reply = BUF_SECRET(OP_REPLY_MAX);
    struct form f;
    char head[512], tail[512];
    bool result = !(op->flags & OP_NO_RESULT);

    if (tr_failed(form_parse(body->data, body->len, &f)))
        fail_msg("%s: the parameters do not parse: %s", name, tr_last_error()->message);
    tr_clear_error();
    tr_result r = op_run(rc, svc, op, &(struct op_input){ .form = &f }, &reply);
    xml[0] = '\0';
    if (tr_ok(r)) {
        int h = snprintf(head, sizeof head, "<%sResponse xmlns=\"%s\">%s%s%s", name, svc->xmlns,
                         result ? "<" : "", result ? name : "", result ? "Result>" : "");
        int t = snprintf(tail, sizeof tail, "%s%s%s<ResponseMetadata><RequestId>%s</RequestId>"
                         "</ResponseMetadata></%sResponse>", result ? "</" : "", result ? name : "",
                         result ? "Result>" : "", rc->request_id, name);
        size_t n = reply.len;
        const char *p = (const char *)reply.data;
        if (n < (size_t)h + (size_t)t || memcmp(p, head, (size_t)h) != 0 ||
            memcmp(p + n - (size_t)t, tail, (size_t)t) != 0)
            fail_msg("%s: the reply's envelope is not the query protocol's: %.*s", name, (int)n, p);
        snprintf(xml, cap, "%.*s", (int)(n - (size_t)h - (size_t)t), p + h);
    }
    form_free(&f);
    buf_free(&reply);
    return r;
}

#endif
