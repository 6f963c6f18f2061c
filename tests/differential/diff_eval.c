/*
 * diff_eval.c -- tresor's side of the differential test
 * (tests/differential/README.md): one JSON request per input line, one
 * JSON decision per output line, decided by the server's own functions.
 *
 * Input (from tests/differential/run.py):
 *   {"principal": {"type": "user"|"session"|"root", "arn", "account",
 *                  "role_arn"},
 *    "action", "resource", "resource_account",
 *    "mode": "none"|"union"|"required",
 *    "identity": [doc...], "boundary": doc|null, "session": [doc...]|null,
 *    "resource_policy": doc|null, "resource_kind": "resource"|"key"|"trust",
 *    "context": {key: value | [values]},
 *    "scp": [[doc...] per level, root first]|absent,
 *    "rcp": [[doc...] per level, root first]|absent}
 * Output: {"decision": "allowed"|"implicitDeny"|"explicitDeny"|"refused",
 *          "why": ...}.
 *
 * The documents are compiled with policy_compile (a document the engine
 * refuses is "refused", with its message) and decided by policy_evaluate,
 * as iam_authorize decides (the identity side of a root user allows
 * everything); the context is the one given, which the test builds as the
 * live path would (cases.py context_of).  Two service rules that come
 * before the engine: KMS answers NotFoundException for an operation it
 * keeps in the key's account on a key of another account
 * (kms_action_cross_account), and STS refuses sts:AssumeRole to a root
 * user (docs/AUTHORIZATION.md 4.4, 6.1).  SCPs and RCPs, when given, are
 * the engine's policy_set.scp and .rcp (docs/AUTHORIZATION.md 2.10): SCPs
 * compiled as identity policies, RCPs as resource policies.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "iam/policy.h"
#include "kms/kms.h"

#define MAXP 8
#define MAXCTX 96
#define MAXV 512
#define MAXLV 4             /* levels of SCPs or RCPs */

struct org {
    struct policy *p[MAXLV][MAXP];
    struct named_policy np[MAXLV][MAXP];
    struct org_level lv[MAXLV];
    struct org_limits lim;
};

struct req {
    struct policy *id[MAXP], *pb, *sp, *rp;
    struct org scp, rcp;
    size_t nid;
    struct named_policy nid_np[MAXP], pb_np, sp_np, rp_np;
    struct ctx_entry ctx[MAXCTX];
    const char *vals[MAXV];
    size_t nctx, nvals;
};

static void req_free(struct req *q)
{
    for (size_t i = 0; i < q->nid; i++) policy_unref(q->id[i]);
    policy_unref(q->pb);
    policy_unref(q->sp);
    policy_unref(q->rp);
    for (size_t l = 0; l < MAXLV; l++)
        for (size_t i = 0; i < MAXP; i++) {
            policy_unref(q->scp.p[l][i]);
            policy_unref(q->rcp.p[l][i]);
        }
}

/* Compile doc; false (and *why) when the engine refuses it. */
static bool compile(json_t *doc, enum policy_kind kind, struct policy **out, const char **why)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    tr_result r = text ? policy_compile(text, strlen(text), kind, out)
                       : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "out of memory");
    free(text);
    if (tr_ok(r)) return true;
    *why = tr_last_error()->message;
    return false;
}

/* The levels of SCPs or RCPs in `levels` (a list of lists of documents). */
static bool org_levels(json_t *levels, enum policy_kind kind, const char *name, struct org *o,
                       const char **why)
{
    size_t l, i;
    json_t *docs, *d;
    json_array_foreach(levels, l, docs) {
        if (l >= MAXLV) break;
        o->lv[l] = (struct org_level){ .target = name, .pols = o->np[l] };
        json_array_foreach(docs, i, d) {
            if (i >= MAXP) break;
            if (!compile(d, kind, &o->p[l][i], why)) return false;
            o->np[l][i] = (struct named_policy){ .p = o->p[l][i], .name = name };
            o->lv[l].n++;
        }
        o->lim.n = l + 1;
    }
    o->lim.levels = o->lv;
    return true;
}

static bool context(json_t *obj, struct req *q)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        if (q->nctx >= MAXCTX) return false;
        struct ctx_entry *e = &q->ctx[q->nctx++];
        e->key = k;
        e->values = &q->vals[q->nvals];
        if (json_is_array(v)) {
            size_t i;
            json_t *x;
            e->multi = true;
            json_array_foreach(v, i, x) {
                if (q->nvals >= MAXV) return false;
                q->vals[q->nvals++] = json_string_value(x);
                e->n++;
            }
        } else {
            if (q->nvals >= MAXV) return false;
            q->vals[q->nvals++] = json_string_value(v);
            e->n = 1;
        }
    }
    return true;
}

static const char *word(enum decision d)
{
    return d == DECISION_ALLOW ? "allowed" : d == DECISION_EXPLICIT_DENY ? "explicitDeny" : "implicitDeny";
}

static void answer(const char *decision, const char *why)
{
    json_t *o = json_pack("{s:s, s:s}", "decision", decision, "why", why ? why : "");
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    printf("%s\n", s ? s : "{\"decision\":\"error\"}");
    free(s);
    json_decref(o);
}

static void one(json_t *in)
{
    struct req q;
    memset(&q, 0, sizeof q);
    const char *why = NULL;
    json_t *pr = json_object_get(in, "principal");
    const char *type = json_string_value(json_object_get(pr, "type"));
    const char *action = json_string_value(json_object_get(in, "action"));
    const char *resource = json_string_value(json_object_get(in, "resource"));
    const char *racct = json_string_value(json_object_get(in, "resource_account"));
    const char *mode = json_string_value(json_object_get(in, "mode"));
    const char *rkind = json_string_value(json_object_get(in, "resource_kind"));
    if (!type || !action || !resource || !racct || !mode) {
        answer("error", "bad input");
        return;
    }
    struct eval_request rq = {
        .who = {
            .type = strcmp(type, "root") == 0 ? EP_ROOT : strcmp(type, "user") == 0 ? EP_USER
                                                                                   : EP_ROLE_SESSION,
            .arn = json_string_value(json_object_get(pr, "arn")),
            .account = json_string_value(json_object_get(pr, "account")),
            .role_arn = json_string_value(json_object_get(pr, "role_arn")),
        },
        .action = action, .resource = resource, .resource_account = racct,
    };
    /* Service rules that come before the engine. */
    if (strncasecmp(action, "kms:", 4) == 0 && strcmp(racct, rq.who.account) != 0 &&
        !kms_action_cross_account(action)) {
        answer("implicitDeny", "not available across accounts: NotFoundException");
        return;
    }
    if (strcasecmp(action, "sts:AssumeRole") == 0 && rq.who.type == EP_ROOT) {
        answer("implicitDeny", "Roles may not be assumed by root accounts.");
        return;
    }
    size_t i;
    json_t *d;
    bool ok = true;
    json_array_foreach(json_object_get(in, "identity"), i, d) {
        if (!ok || q.nid >= MAXP) break;
        ok = compile(d, POLICY_IDENTITY, &q.id[q.nid], &why);
        if (ok) q.nid_np[q.nid] = (struct named_policy){ .p = q.id[q.nid], .name = "identity" }, q.nid++;
    }
    json_t *pb = json_object_get(in, "boundary"), *sp = json_object_get(in, "session");
    json_t *rp = json_object_get(in, "resource_policy");
    if (ok && json_is_object(pb)) ok = compile(pb, POLICY_IDENTITY, &q.pb, &why);
    if (ok && json_is_object(sp)) ok = compile(sp, POLICY_IDENTITY, &q.sp, &why);
    enum policy_kind kind = rkind && strcmp(rkind, "key") == 0 ? POLICY_KEY
                          : rkind && strcmp(rkind, "trust") == 0 ? POLICY_TRUST : POLICY_RESOURCE;
    if (ok && json_is_object(rp)) ok = compile(rp, kind, &q.rp, &why);
    json_t *scp = json_object_get(in, "scp"), *rcp = json_object_get(in, "rcp");
    if (ok && json_is_array(scp)) ok = org_levels(scp, POLICY_IDENTITY, "scp", &q.scp, &why);
    if (ok && json_is_array(rcp)) ok = org_levels(rcp, POLICY_RESOURCE, "rcp", &q.rcp, &why);
    if (!ok) {
        answer("refused", why);
        req_free(&q);
        return;
    }
    if (!context(json_object_get(in, "context"), &q)) {
        answer("error", "context too large");
        req_free(&q);
        return;
    }
    q.pb_np = (struct named_policy){ .p = q.pb, .name = "boundary" };
    q.sp_np = (struct named_policy){ .p = q.sp, .name = "session" };
    q.rp_np = (struct named_policy){ .p = q.rp, .name = "resource" };
    rq.ctx = q.ctx;
    rq.nctx = q.nctx;
    struct policy_set ps = {
        .identity = q.nid_np, .nidentity = q.nid,
        .boundary = q.pb ? &q.pb_np : NULL,
        .session = q.sp ? &q.sp_np : NULL, .nsession = q.sp ? 1 : 0, .session_present = q.sp != NULL,
        .resource = q.rp ? &q.rp_np : NULL,
        .mode = strcmp(mode, "union") == 0 ? RES_UNION : strcmp(mode, "required") == 0 ? RES_REQUIRED
                                                                                       : RES_NONE,
        .root_identity = rq.who.type == EP_ROOT,
        .scp = json_is_array(scp) ? &q.scp.lim : NULL,
        .rcp = json_is_array(rcp) ? &q.rcp.lim : NULL,
    };
    struct eval_result res;
    if (tr_failed(policy_evaluate(&rq, &ps, &res))) {
        answer("error", tr_last_error()->message);
    } else {
        char msg[1024];
        policy_denied_message(&rq, &res, NULL, msg, sizeof msg);
        /* A level of SCPs or RCPs without an Allow: say so (run.py's
         * known classes tell it from a Deny statement). */
        size_t at = strlen(msg);
        if (res.org_target && at + 40 < sizeof msg)
            snprintf(msg + at, sizeof msg - at, " [no Allow at level %.20s]", res.org_target); /* fits: checked */
        answer(word(res.decision), res.decision == DECISION_ALLOW ? "" : msg);
    }
    req_free(&q);
}

int main(void)
{
    static char line[1 << 20];
    while (fgets(line, sizeof line, stdin)) {
        json_t *in = json_loads(line, 0, NULL);
        if (!in) {
            answer("error", "not JSON");
        } else {
            one(in);
            json_decref(in);
        }
        fflush(stdout);
    }
    return 0;
}
