/*
 * authz.c -- the decision on one request: the caller's identity side
 * (identity.c) and the request context (context.c) handed to the policy
 * engine (policy_eval.c), and AWS's AccessDenied on a denial; the
 * observer that the authorization table's tests watch it through; the
 * evidence line of a decision for the analyzer.
 */
#include "iam/authz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tlocal.h"
#include "iam/orgs.h"

/* ---- the decision ------------------------------------------------------- */

/* The context builder is 16 KiB of arrays (CTX_MAX entries and their value
 * pointers); iam_authorize used to malloc and free one per decision, two
 * per GetSecretValue (Secrets Manager's, then KMS's for the secret's data
 * key), and freeing a block that size makes glibc consolidate its free
 * lists each time.  Each thread keeps one instead; only its counters are
 * reset per use (iam_ctx_init), and the strings of a context are still
 * freed when the decision is made (iam_ctx_free).  `busy` covers a
 * decision made while another is in progress on the same thread (an
 * observer that authorizes): that one gets a builder of its own. */
struct authz_scratch {
    struct ctx_builder cb;
    bool busy;
};

static void scratch_drop(void *p)
{
    struct authz_scratch *s = p;
    iam_ctx_free(&s->cb);
    free(s);
}

static struct tlocal_slot scratch_slot = TLOCAL_SLOT(scratch_drop);

/* A builder for one decision: the thread's, else a fresh one (NULL when
 * memory ran out).  *scratch says which, for builder_put. */
static struct ctx_builder *builder_take(struct authz_scratch **scratch)
{
    struct authz_scratch *s = tlocal_get(&scratch_slot, sizeof *s);
    if (s && !s->busy) {
        s->busy = true;
        *scratch = s;
        return &s->cb;
    }
    *scratch = NULL;
    return malloc(sizeof(struct ctx_builder));
}

static void builder_put(struct ctx_builder *cb, struct authz_scratch *scratch)
{
    if (!cb) return;
    if (scratch) scratch->busy = false;
    else free(cb);
}

static enum eval_principal_type eval_type(int t)
{
    switch (t) {
    case PRINCIPAL_ROOT: return EP_ROOT;
    case PRINCIPAL_USER: return EP_USER;
    case PRINCIPAL_ROLE_SESSION: return EP_ROLE_SESSION;
    default: return EP_ANONYMOUS;
    }
}

static enum tr_err denied_code(const char *service)
{
    if (strcmp(service, "iam") == 0 || strcmp(service, "sts") == 0) return TR_E_IAM_ACCESS_DENIED;
    return TR_E_ACCESS_DENIED;
}

void iam_eval_principal(const struct principal *who, struct eval_principal *out)
{
    *out = (struct eval_principal){
        .type = eval_type(who->type),
        .arn = who->arn,
        .account = who->account_id,
        .role_arn = who->role_arn[0] ? who->role_arn : NULL,
    };
    if (who->type != PRINCIPAL_USER && who->type != PRINCIPAL_ROLE_SESSION) return;
    size_t n = strlen(who->id);
    const char *colon = who->type == PRINCIPAL_ROLE_SESSION ? strchr(who->id, ':') : NULL;
    if (colon) n = (size_t)(colon - who->id);
    if (n == 0) return;
    out->unique_id = who->id;
    out->unique_id_len = n;
}

static iam_authz_observer observer;

void iam_authz_observe(iam_authz_observer fn)
{
    observer = fn;
}

static iam_authz_result_observer result_observer;

void iam_authz_observe_result(iam_authz_result_observer fn)
{
    result_observer = fn;
}

TR_RESULT iam_authorize(struct req_ctx *rc, const struct authz_req *ar, struct eval_result *out)
{
    struct ctx_builder *cb = NULL;
    struct authz_scratch *scratch = NULL;
    struct eval_result res;
    tr_result r;

    ENSURE_REF(rc);
    ENSURE_REF(ar);
    ENSURE_REF(ar->action);
    ENSURE_REF(ar->resource);
    GUARD(iam_identity_get(rc));
    const struct identity *id = rc->identity;

    cb = builder_take(&scratch);
    if (!cb) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    r = iam_ctx_init(cb, rc, id);
    if (tr_failed(r)) { builder_put(cb, scratch); cb = NULL; goto fail; }
    /* The resource's account: a global key, known only here. */
    if (ar->resource_account) {
        r = iam_ctx_add_global(cb, "aws:ResourceAccount", ar->resource_account);
        if (tr_failed(r)) goto fail;
    }
    /* AWS Organizations, when the accounts have one (snapshots only):
     * the organization keys, and the SCPs and RCPs that apply. */
    const struct org_limits *scp = NULL, *rcp = NULL;
    r = iam_orgs_apply(rc->env ? rc->env->orgs : NULL, &rc->who, ar->action, ar->resource_account,
                       ar->no_rcp, cb, &scp, &rcp);
    if (tr_failed(r)) goto fail;
    for (size_t i = 0; i < ar->nextra; i++) {
        r = iam_ctx_add_entry_ref(cb, &ar->extra[i]);   /* ar outlives cb */
        if (tr_failed(r)) goto fail;
    }

    struct eval_request rq = {
        .action = ar->action,
        .resource = ar->resource,
        .resource_account = ar->resource_account,
        .ctx = cb->e,
        .nctx = cb->n,
    };
    iam_eval_principal(&rc->who, &rq.who);
    if (observer) observer(rc, ar, cb->e, cb->n);
    struct policy_set ps = {
        .identity = id->identity,
        .nidentity = id->nidentity,
        .boundary = id->has_boundary ? &id->boundary : NULL,
        .session = id->session,
        .nsession = id->nsession,
        .session_present = id->session_present,
        .resource = ar->resource_policy,
        .mode = ar->mode,
        .root_identity = id->root,
        .scp = scp,
        .rcp = rcp,
    };
    r = policy_evaluate(&rq, &ps, &res);
    if (tr_failed(r)) goto fail;
    if (result_observer) result_observer(rc, ar, &res);
    if (out) *out = res;
    if (res.decision != DECISION_ALLOW && !ar->no_fail) {
        char msg[TR_ERR_MSG_MAX];
        policy_denied_message(&rq, &res, ar->resource_as_given, msg, sizeof msg);
        r = tr_fail_at(__FILE__, __LINE__, denied_code(rc->service), "%s", msg);
        goto fail;
    }
    r = TR_OK;
fail:
    if (cb) {
        iam_ctx_free(cb);
        builder_put(cb, scratch);
    }
    return r;
}

static size_t ref_text(const struct stmt_ref *s, char *out, size_t n, size_t at, bool effect,
                       const char *sep)
{
    if (at >= n) return at;
    int k = snprintf(out + at, n - at, "%s%s%s %s #%zu%s%s%s", at ? sep : "",
                     effect ? (s->effect == EFFECT_DENY ? "Deny " : "Allow ") : "",
                     policy_type_name(s->type), s->policy && s->policy->name ? s->policy->name : "?",
                     s->index, s->sid ? " (Sid " : "", s->sid ? s->sid : "", s->sid ? ")" : "");
    return k < 0 ? at : at + (size_t)k;
}

void iam_result_evidence(const struct eval_result *r, char *out, size_t n)
{
    size_t at = 0;
    if (n == 0) return;
    out[0] = '\0';
    if (r->decision == DECISION_ALLOW && r->nrefs == 0) {
        int k = snprintf(out, n, "no statement needed: an account root user in its own account");
        at = k > 0 ? (size_t)k : 0;
    }
    if (r->decision == DECISION_EXPLICIT_DENY && r->nrefs == 0 && r->org_target) {
        /* A level of the organization without an Allow (2.10). */
        int k = snprintf(out, n, "denied by %s: no %s at %s allows it",
                         r->deny_type == PT_RCP ? "RCP" : "SCP",
                         r->deny_type == PT_RCP ? "resource control policy" : "service control policy",
                         r->org_target);
        at = k > 0 ? (size_t)k : 0;
    }
    for (size_t i = 0; i < r->nrefs; i++) at = ref_text(&r->refs[i], out, n, at, true, "; ");
    if (r->conditional && at < n) {
        /* An Allow's conditions must hold; a Deny's must not (it was
         * assumed not to apply). */
        size_t nallow = 0, ndeny = 0;
        for (size_t i = 0; i < r->ncond_refs; i++)
            r->cond_refs[i].effect == EFFECT_DENY ? ndeny++ : nallow++;
        int k = snprintf(out + at, n - at, "%sonly if the conditions of:", at ? "; " : "");
        if (k > 0) at += (size_t)k;
        for (size_t i = 0, j = 0; i < r->ncond_refs && at < n; i++)
            if (r->cond_refs[i].effect != EFFECT_DENY)
                at = ref_text(&r->cond_refs[i], out, n, at, false, j++ ? ", " : " ");
        if (nallow && at < n) {
            k = snprintf(out + at, n - at, " hold%s", ndeny ? ", and those of:" : "");
            if (k > 0) at += (size_t)k;
        }
        for (size_t i = 0, j = 0; i < r->ncond_refs && at < n; i++)
            if (r->cond_refs[i].effect == EFFECT_DENY)
                at = ref_text(&r->cond_refs[i], out, n, at, true, j++ ? ", " : " ");
        if ((ndeny || !nallow) && at < n) {
            k = snprintf(out + at, n - at, ndeny ? " do not hold" : " hold");
            if (k > 0) at += (size_t)k;
        }
    }
    /* Denies that name the request but whose conditions are false. */
    for (size_t i = 0; i < r->nchecked_denies && at < n; i++) {
        if (i == 0) {
            int k = snprintf(out + at, n - at, "%sdenies checked, not applying (their conditions "
                             "are false):", at ? "; " : "");
            if (k > 0) at += (size_t)k;
        }
        at = ref_text(&r->checked_denies[i], out, n, at, true, i ? ", " : " ");
    }
}
