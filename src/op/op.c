/*
 * op.c -- op_run: one operation of any service, run the same way by every
 * caller -- the router for a request, dev mode's seed, the unit tests'
 * harness (contract in op.h; docs/internals/OPERATIONS.md).
 *
 * The order is the one a request needs: the transaction of a writing
 * operation is committed before anything of the reply is known to be
 * good, and nothing the handler wrote survives a failure -- the handler's,
 * the commit's, or the rendering's of a query reply (whose envelope
 * surrounds the handler's output).  An operation that commits nothing (a
 * read, a dry run, any failure) passes the store's sync barrier before its
 * reply is rendered: under group commit another request's write is visible before
 * it is durable, and a reply must not carry what a crash could take back
 * (docs/internals/CRASH_SAFETY.md).  With rc->defer_sync the commit does
 * not wait for its sync: its ticket goes back to the caller, which holds
 * the rendered reply until the ticket is durable.  The reply of a JSON operation is
 * rendered straight into the caller's secret buffer (json_dump_buf):
 * json_dumps would make a malloc'd copy of a reply that may carry
 * plaintext, freed with free() -- never wiped.  The hot reads write their
 * reply there themselves (rc->json_reply, core/json.h json_w); whatever a
 * handler wrote is wiped and dropped if the operation fails after all.
 */
#include "op/op.h"

#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/str.h"
#include "op/query_proto.h"

bool server_region_served(const struct server_env *env, const char *region)
{
    if (env->nregions == 0)
        return env->dev ? env->dev->region_ok(region) : strcmp(region, env->default_region) == 0;
    for (size_t i = 0; i < env->nregions; i++)
        if (strcmp(env->regions[i], region) == 0) return true;
    return false;
}

const struct op_def *op_find(const struct op_service *svc, const char *name)
{
    for (const struct op_def *op = svc->ops; op->name; op++)
        if (strcmp(op->name, name) == 0) return op;
    return NULL;
}

void op_release(struct req_ctx *rc)
{
    void (*release)(struct req_ctx *) = rc->release;
    rc->release = NULL;
    if (release) release(rc);
}

/* An operation that committed nothing read only durable data: wait for
 * the sync of whatever it may have seen.  A commit waited for its own (or
 * holds its ticket).  A failure too: its error may rest on another
 * request's commit that is not durable yet -- ResourceExistsException for
 * a name a crash could free again, ResourceNotFoundException for a delete
 * a crash could take back -- and must not leave before it is.  When the
 * barrier fails (a failed sync) its 500 replaces the error, which may rest
 * on a commit that is lost. */
static tr_result settle(struct req_ctx *rc, tr_result r, bool commit)
{
    if (!rc->st || (tr_ok(r) && rc->writing && commit)) return r;
    tr_result b = rc->st[0]->sync_barrier(rc->st);
    return tr_failed(b) ? b : r;
}

/* The end of a writing operation's transaction: commit when r is a
 * success and commit is asked for, else roll back.  The first failure is
 * the one returned: rollback's never replaces the handler's. */
static tr_result tx_end(struct req_ctx *rc, tr_result r, bool commit)
{
    store_t st = rc->st;
    if (tr_ok(r) && commit && rc->before_commit) r = rc->before_commit(rc);
    /* A write that starts something once committed (a rotation) waits for
     * the commit to be durable first: the ticket is only for replies. */
    if (tr_ok(r) && commit && rc->defer_sync && !rc->after_commit_arg)
        r = st[0]->tx_commit_ticket(st, &rc->sync_ticket);
    else if (tr_ok(r) && commit)
        r = st[0]->tx_commit(st);
    if (tr_failed(r) || !commit) st[0]->tx_rollback(st);
    if (rc->after_commit_arg) {
        void *arg = rc->after_commit_arg;
        rc->after_commit_arg = NULL;
        if (tr_ok(r) && commit && rc->after_commit) rc->after_commit(arg);
        else if (rc->after_commit_drop) rc->after_commit_drop(arg);
    }
    return r;
}

static TR_RESULT run_json(struct req_ctx *rc, const struct op_def *op, json_t *in, bool commit,
                          struct buf *reply)
{
    json_t *out = NULL;
    ENSURE_REF(op->members);
    GUARD(json_check_members(in, op->members));
    tr_result r = TR_OK;
    uint32_t start = reply->len;
    rc->json_reply = reply;
    rc->reply_written = false;
    if (rc->writing) r = rc->st[0]->tx_begin(rc->st);
    if (tr_ok(r)) {
        r = op->fn.json(rc, in, &out);
        if (rc->writing) r = tx_end(rc, r, commit);
        r = settle(rc, r, commit);
    }
    if (tr_ok(r) && !rc->reply_written)
        r = out ? json_dump_buf(out, JSON_COMPACT, reply) : buf_append_str(reply, "{}");
    if (tr_failed(r)) buf_truncate(reply, start);
    rc->json_reply = NULL;
    json_decref(out);
    return r;
}

static TR_RESULT run_query(struct req_ctx *rc, const struct op_service *svc, const struct op_def *op,
                           const struct form *in, bool commit, struct buf *reply)
{
    struct xml x = { .b = reply, .r = TR_OK };
    bool result = !(op->flags & OP_NO_RESULT);
    GUARD(buf_printf(reply, "<%sResponse xmlns=\"%s\">", op->name, svc->xmlns));
    if (result) GUARD(buf_printf(reply, "<%sResult>", op->name));
    if (rc->writing) GUARD(rc->st[0]->tx_begin(rc->st));
    tr_result r = op->fn.query(rc, in, &x);
    if (tr_ok(r)) r = x.r;
    if (rc->writing) r = tx_end(rc, r, commit);
    GUARD(settle(rc, r, commit));
    if (result) GUARD(buf_printf(reply, "</%sResult>", op->name));
    return buf_printf(reply, "<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>",
                      rc->request_id, op->name);
}

static TR_RESULT run(struct req_ctx *rc, const struct op_service *svc, const struct op_def *op,
                     const struct op_input *in, bool commit, struct buf *reply)
{
    ENSURE_REF(rc); ENSURE_REF(svc); ENSURE_REF(op); ENSURE_REF(in); ENSURE_REF(reply);
    ENSURE(op->proto == svc->proto, TR_E_INTERNAL);
    ENSURE(op->proto == OP_JSON ? in->json != NULL : in->form != NULL, TR_E_INTERNAL);
    rc->op = op;
    GUARD(str_copy(rc->service, sizeof rc->service, svc->name, "the service name"));
    rc->writing = (op->flags & OP_WRITE) != 0;
    tr_result r = op->proto == OP_JSON ? run_json(rc, op, in->json, commit, reply)
                                       : run_query(rc, svc, op, in->form, commit, reply);
    op_release(rc);
    return r;
}

TR_RESULT op_run(struct req_ctx *rc, const struct op_service *svc, const struct op_def *op,
                 const struct op_input *in, struct buf *reply)
{
    return run(rc, svc, op, in, true, reply);
}

TR_RESULT op_dry_run(struct req_ctx *rc, const struct op_service *svc, const struct op_def *op,
                     const struct op_input *in, struct buf *reply)
{
    return run(rc, svc, op, in, false, reply);
}
