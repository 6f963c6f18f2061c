/*
 * escalate.c -- who cannot read a secret now but may give themselves
 * access (docs/AUTHORIZATION.md 7, "could gain access").
 *
 * For each principal that cannot read S, the permissions that would let it
 * change the answer, each decided by the server's own code as the real
 * call would be:
 *   secretsmanager:PutResourcePolicy on S    (sm_authorize_explain)
 *   kms:PutKeyPolicy, kms:CreateGrant on K   (kms_authorize_explain; customer keys)
 *   iam:PutUserPolicy, iam:AttachUserPolicy  on itself (a user)
 *   iam:PutRolePolicy, iam:AttachRolePolicy  on its own role (a role)
 *   iam:PutGroupPolicy, iam:AttachGroupPolicy on a group it is a member of
 *   iam:CreatePolicyVersion on a managed policy attached to itself
 *                            (directly or through a group) or its boundary
 *   iam:SetDefaultPolicyVersion on such a policy, when another stored
 *                            version of it would let it read
 *   iam:DeleteUserPermissionsBoundary, iam:DeleteRolePermissionsBoundary
 *                            on itself, when it would read without it
 *   iam:CreateAccessKey on a user that can read S
 *   iam:UpdateAssumeRolePolicy on a role that can read S
 * IAM actions are authorized with the identity policies alone (RES_NONE,
 * the target's ARN), as the IAM handlers do.  A principal that can assume
 * (in at most AZ_MAX_HOPS hops) a role holding such a permission is listed
 * with the role's permissions, "via" the nearest such role.
 *
 * These are the principal's own calls: the request-time keys (source
 * address, TLS, MFA, time) are unknown, so a permission that depends on
 * them is listed as conditional, as is a "via" entry whose assume-role
 * hops are.  kms:PutKeyPolicy is not a cross-account call (KMS refuses
 * it for a caller of another account whatever the policies say); and a
 * secret or key pending deletion gives no entries: no permission change
 * makes it readable.
 *
 * The actions are escalate_actions.def's rows, named here only by index
 * (ACT): a prepared snapshot's "escalate" fact asks the same rows, so a
 * deferred principal is loaded for every check that could list it.
 */
#include "analyze/analyze.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "iam/authz.h"
#include "kms/kms.h"
#include "op/clock.h"
#include "secrets/authz.h"

const char *const AZ_ESCALATION_ACTIONS[AZ_NESC + 1] = {
#define ESC(id, action, where) [AZ_ESC_##id] = action,
#include "analyze/escalate_actions.def"
    [AZ_NESC] = NULL,
};
const enum az_esc_where AZ_ESCALATION_WHERE[AZ_NESC] = {
#define ESC(id, action, where) [AZ_ESC_##id] = where,
#include "analyze/escalate_actions.def"
};
#define ACT(id) AZ_ESCALATION_ACTIONS[AZ_ESC_##id]

/* Unknown in a principal's own call (who_can.c's UNKNOWN_CALL). */
static const char *const UNKNOWN[] = {
    "aws:SourceIp", "aws:SourceVpc", "aws:SourceVpce", "aws:CurrentTime", "aws:EpochTime",
    "aws:SecureTransport", "aws:MultiFactorAuthPresent", "aws:MultiFactorAuthAge",
    "aws:TokenIssueTime", "aws:UserAgent", "aws:referer",
};
#define NUNKNOWN (sizeof UNKNOWN / sizeof UNKNOWN[0])
static const char *const ANY[] = { "" };

static void unknown_ctx(struct ctx_entry out[NUNKNOWN])
{
    for (size_t i = 0; i < NUNKNOWN; i++)
        out[i] = (struct ctx_entry){ .key = UNKNOWN[i], .values = ANY, .n = 1, .unknown = true };
}

/* The last pushed entry is conditional. */
static void mark_conditional(struct az_escalation *v, size_t n, bool cond)
{
    if (n) v[n - 1].conditional = cond;
}

static TR_RESULT push(struct az_escalation **v, size_t *n, size_t node, const char *action,
                      const char *resource, const char *ev)
{
    struct az_escalation *nv = realloc(*v, (*n + 1) * sizeof *nv);
    ENSURE(nv != NULL, TR_E_INTERNAL);
    *v = nv;
    struct az_escalation *e = &nv[(*n)++];
    memset(e, 0, sizeof *e);
    e->node = node;
    e->via = SIZE_MAX;
    GUARD(str_copy(e->action, sizeof e->action, action, "escalation action"));
    GUARD(str_copy(e->resource, sizeof e->resource, resource, "escalation resource"));
    GUARD(str_copy(e->evidence, sizeof e->evidence, ev, "escalation evidence"));
    return TR_OK;
}

/* Could n's identity policies allow action on arn (NULL: any)?  A
 * necessary condition (policy_may_allow); root users: always. */
static bool id_may(const struct az_node *n, const char *action, const char *arn)
{
    const struct identity *id = n->id;
    if (!id || id->root) return true;
    for (size_t k = 0; k < id->nidentity; k++)
        if (policy_may_allow(id->identity[k].p, NULL, action, arn)) return true;
    return false;
}

static struct eval_principal ep_of(const struct az_node *n)
{
    struct eval_principal who;
    iam_eval_principal(&n->who, &who);
    return who;
}

/* An IAM action on `arn` by rc->who: identity policies alone.  *cond:
 * allowed only if request-time conditions hold (their keys unknown). */
static TR_RESULT iam_allows(struct req_ctx *rc, const char *action, const char *arn,
                            const char *account, bool *ok, bool *cond, char *ev, size_t nev)
{
    struct eval_result res;
    struct ctx_entry unknown[NUNKNOWN];
    unknown_ctx(unknown);
    struct authz_req ar = {
        .action = action, .resource = arn, .resource_account = account, .mode = RES_NONE,
        .extra = unknown, .nextra = NUNKNOWN, .no_fail = true,
    };
    STR_SET(rc->service, "iam");
    GUARD(iam_authorize(rc, &ar, &res));
    *ok = res.decision == DECISION_ALLOW;
    *cond = *ok && res.conditional;
    if (*ok) iam_result_evidence(&res, ev, nev);
    return TR_OK;
}

static bool is_managed_arn(const char *name)
{
    return name && strncmp(name, "arn:aws:iam::", 13) == 0 && strstr(name, ":policy/") != NULL;
}

/* Put `to` in every place of p's identity that holds the managed policy
 * named `arn` (attached directly, through groups, and the boundary when it
 * is the same policy), saving what was there in saved[nidentity + 1]; with
 * to NULL, put saved back.  A policy's default version is one document
 * wherever the policy is used. */
static void swap_managed(struct identity *id, const char *arn, const struct policy *to,
                         const struct policy **saved)
{
    for (size_t j = 0; j <= id->nidentity; j++) {
        struct named_policy *np = j < id->nidentity ? &id->identity[j]
                                : id->has_boundary ? &id->boundary : NULL;
        /* Every loaded policy is named (np_push, authz.c). */
        if (!np || NEVER(!np->name) || strcmp(np->name, arn) != 0) continue;
        if (to) saved[j] = np->p;
        np->p = to ? to : saved[j];
    }
}

/* iam:SetDefaultPolicyVersion on the managed policy p->id->identity[k]:
 * listed when some other stored version of it, made the default, would
 * let p read (the same decision with that version in every place p holds
 * the policy).  A version that no longer compiles would deny everything
 * as the default (docs/AUTHORIZATION.md 2.9), so it cannot be one: it is
 * skipped, with no warning about a document nothing evaluates. */
static TR_RESULT other_version_reads(const struct server_env *env, const struct az_target *t,
                                     struct az_node *p, size_t i, size_t k, const char *ev,
                                     bool cond, struct az_escalation **out, size_t *n)
{
    struct identity *id = p->id;
    const char *arn = id->identity[k].name;
    const struct policy *cur = id->identity[k].p;
    struct rel_rec *v = NULL;
    size_t nv = 0;
    struct az_access *a = calloc(1, sizeof *a);
    const struct policy **saved = calloc(id->nidentity + 1, sizeof *saved);
    tr_result r = a && saved ? env->st[0]->rel_list_from(env->st, "version", arn, NULL, 100, &v, &nv)
                             : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    bool found = false;
    for (size_t j = 0; tr_ok(r) && j < nv && !found; j++) {
        json_t *d = json_loads(v[j].doc ? v[j].doc : "", 0, NULL);
        const char *text = json_string_value(json_object_get(d, "document"));
        struct policy *alt = NULL;
        if (text && tr_ok(policy_cache_get(text, strlen(text), POLICY_IDENTITY, &alt)) &&
            alt != cur) {
            swap_managed(id, arn, alt, saved);
            r = az_decide(env, p, t, true, a);
            swap_managed(id, arn, NULL, saved);
            found = tr_ok(r) && a->ok;
            cond |= found && a->conditional;
        }
        policy_unref(alt);
        json_decref(d);
    }
    if (found) r = push(out, n, i, ACT(SET_DEFAULT_POLICY_VERSION), arn, ev);
    if (found && tr_ok(r)) mark_conditional(*out, *n, cond);
    rel_list_free(v, nv);
    free(saved);
    free(a);
    return r;
}

/* The managed policies that shape p (attached, its groups', its boundary):
 * a new default version (iam:CreatePolicyVersion) rewrites them; and its
 * boundary, which p may delete when p would read without it. */
static TR_RESULT own_policies(const struct server_env *env, struct req_ctx *rc,
                              const struct az_target *t, struct az_node *p, size_t i,
                              struct az_escalation **out, size_t *n)
{
    struct identity *id = p->id;
    char ev[AZ_EV_MAX];
    bool ok = false, cond = false;
    size_t total = id->nidentity + (id->has_boundary ? 1 : 0);
    for (size_t k = 0; k < total; k++) {
        const char *arn = k < id->nidentity ? id->identity[k].name : id->boundary.name;
        bool seen = false;
        for (size_t j = 0; j < k && j < id->nidentity && !seen; j++)
            seen = id->identity[j].name && strcmp(id->identity[j].name, arn) == 0;
        if (!is_managed_arn(arn) || seen || !id_may(p, ACT(CREATE_POLICY_VERSION), arn)) continue;
        GUARD(iam_allows(rc, ACT(CREATE_POLICY_VERSION), arn, p->account, &ok, &cond, ev, sizeof ev));
        if (ok) GUARD(push(out, n, i, ACT(CREATE_POLICY_VERSION), arn, ev));
        if (ok) mark_conditional(*out, *n, cond);
    }
    for (size_t k = 0; k < id->nidentity; k++) {
        const char *arn = id->identity[k].name;
        bool seen = false;
        for (size_t j = 0; j < k && !seen; j++)
            seen = id->identity[j].name && strcmp(id->identity[j].name, arn) == 0;
        if (!is_managed_arn(arn) || seen || !id_may(p, ACT(SET_DEFAULT_POLICY_VERSION), arn)) continue;
        GUARD(iam_allows(rc, ACT(SET_DEFAULT_POLICY_VERSION), arn, p->account, &ok, &cond, ev, sizeof ev));
        if (ok) GUARD(other_version_reads(env, t, p, i, k, ev, cond, out, n));
    }
    if (!id->has_boundary) return TR_OK;
    const char *act = p->kind == AZ_USER ? ACT(DELETE_USER_BOUNDARY) : ACT(DELETE_ROLE_BOUNDARY);
    if (!id_may(p, act, p->arn)) return TR_OK;
    GUARD(iam_allows(rc, act, p->arn, p->account, &ok, &cond, ev, sizeof ev));
    if (!ok) return TR_OK;
    /* Would it read without the boundary?  The same decision with it gone. */
    struct az_access *a = calloc(1, sizeof *a);
    ENSURE(a != NULL, TR_E_INTERNAL);
    id->has_boundary = false;
    tr_result r = az_decide(env, p, t, true, a);
    id->has_boundary = true;
    if (tr_ok(r) && a->ok) r = push(out, n, i, act, p->arn, ev);
    if (tr_ok(r) && a->ok) mark_conditional(*out, *n, cond || a->conditional);
    free(a);
    return r;
}

/* The groups user p is a member of: iam:PutGroupPolicy and
 * iam:AttachGroupPolicy on one of them rewrite p's own permissions. */
static TR_RESULT own_groups(const struct server_env *env, struct req_ctx *rc, struct az_node *p,
                            size_t i, struct az_escalation **out, size_t *n)
{
    const char *const acts[] = { ACT(PUT_GROUP_POLICY), ACT(ATTACH_GROUP_POLICY) };
    struct rel_rec *groups = NULL;
    size_t ng = 0;
    char ev[AZ_EV_MAX];
    bool ok = false, cond = false;
    if (!id_may(p, acts[0], NULL) && !id_may(p, acts[1], NULL)) return TR_OK;
    tr_result r = env->st[0]->rel_list_to(env->st, "member", p->arn, &groups, &ng);
    for (size_t g = 0; tr_ok(r) && g < ng; g++) {
        for (int k = 0; k < 2 && tr_ok(r); k++) {
            if (!id_may(p, acts[k], groups[g].from)) continue;
            r = iam_allows(rc, acts[k], groups[g].from, p->account, &ok, &cond, ev, sizeof ev);
            if (tr_ok(r) && ok) r = push(out, n, i, acts[k], groups[g].from, ev);
            if (tr_ok(r) && ok) mark_conditional(*out, *n, cond);
        }
    }
    rel_list_free(groups, ng);
    return r;
}

/* Each check is skipped when no policy that could decide it has a
 * statement that could allow it (policy_may_allow): the answers are those
 * of the full decisions, which run for the rest. */
static TR_RESULT one(const struct server_env *env, struct az_graph *g,
                     const struct az_target *t, const struct az_answer *ans, size_t i,
                     struct az_escalation **out, size_t *n)
{
    struct az_node *p = &g->n[i];
    struct req_ctx rc = { 0 };
    struct eval_result res;
    struct kms_explain *x = calloc(1, sizeof *x);
    struct ctx_entry unknown[NUNKNOWN];
    char ev[AZ_EV_MAX];
    bool ok = false, cond = false;
    tr_result r = TR_OK;

    if (!x) BAIL0(TR_E_INTERNAL);
    unknown_ctx(unknown);
    r = az_ctx_init(&rc, env, p, t->s.region, "secretsmanager");
    if (tr_failed(r)) { free(x); return r; }
    struct eval_principal who = ep_of(p), direct = who;
    direct.account = "";         /* matches no account principal */

    const char *prp = ACT(PUT_RESOURCE_POLICY);
    if (id_may(p, prp, t->s.arn) || (t->rp && policy_may_allow(t->rp, &who, prp, t->s.arn))) {
        r = sm_authorize_explain(&rc, prp, &t->s, unknown, NUNKNOWN, &res, ev, sizeof ev);
        if (tr_ok(r) && res.decision == DECISION_ALLOW) r = push(out, n, i, prp, t->s.arn, ev);
        if (tr_ok(r) && res.decision == DECISION_ALLOW) mark_conditional(*out, *n, res.conditional);
    }
    if (tr_ok(r) && t->have_key && strcmp(t->key.key_manager, "AWS") != 0) {
        const char *acts[] = { ACT(PUT_KEY_POLICY), ACT(CREATE_GRANT) };
        STR_SET(rc.service, "kms");
        /* kms:PutKeyPolicy is not a cross-account call: only a caller of
         * the key's account may make it. */
        bool same = strcmp(p->account, t->key.account_id) == 0;
        for (int k = same ? 0 : 1; k < 2 && tr_ok(r); k++) {
            struct kms_authz_in in = { .key_attrs = &t->attrs, .unknown = UNKNOWN,
                                       .nunknown = NUNKNOWN };
            /* The key policy must allow (grants cannot give these here:
             * kms_authz_in names no grant request): naming the caller, or
             * its account, which delegates to its identity policies. */
            if (!policy_may_allow(t->kp, &direct, acts[k], t->key.arn) &&
                !(policy_may_allow(t->kp, &who, acts[k], t->key.arn) &&
                  id_may(p, acts[k], t->key.arn)))
                continue;
            r = kms_authorize_explain(&rc, acts[k], &t->key, &in, x);
            if (tr_ok(r) && x->allowed) r = push(out, n, i, acts[k], t->key.arn, x->evidence);
            if (tr_ok(r) && x->allowed) mark_conditional(*out, *n, x->conditional);
        }
    }
    if (tr_ok(r) && (p->kind == AZ_USER || p->kind == AZ_ROLE)) {
        const char *acts[2] = { ACT(PUT_USER_POLICY), ACT(ATTACH_USER_POLICY) };
        if (p->kind == AZ_ROLE) { acts[0] = ACT(PUT_ROLE_POLICY); acts[1] = ACT(ATTACH_ROLE_POLICY); }
        for (int k = 0; k < 2 && tr_ok(r); k++) {
            if (!id_may(p, acts[k], p->arn)) continue;
            r = iam_allows(&rc, acts[k], p->arn, p->account, &ok, &cond, ev, sizeof ev);
            if (tr_ok(r) && ok) r = push(out, n, i, acts[k], p->arn, ev);
            if (tr_ok(r) && ok) mark_conditional(*out, *n, cond);
        }
    }
    if (tr_ok(r) && p->kind == AZ_USER) r = own_groups(env, &rc, p, i, out, n);
    if (tr_ok(r) && (p->kind == AZ_USER || p->kind == AZ_ROLE) && p->id)
        r = own_policies(env, &rc, t, p, i, out, n);
    bool may_ak = id_may(p, ACT(CREATE_ACCESS_KEY), NULL);
    bool may_tp = id_may(p, ACT(UPDATE_ASSUME_ROLE_POLICY), NULL);
    for (size_t u = 0; tr_ok(r) && (may_ak || may_tp) && u < g->nn; u++) {
        if (u == i || !ans[u].can || ans[u].npath != 1) continue;
        const char *act = g->n[u].kind == AZ_USER && may_ak ? ACT(CREATE_ACCESS_KEY)
                        : g->n[u].kind == AZ_ROLE && may_tp ? ACT(UPDATE_ASSUME_ROLE_POLICY) : NULL;
        if (!act || !id_may(p, act, g->n[u].arn)) continue;
        r = iam_allows(&rc, act, g->n[u].arn, g->n[u].account, &ok, &cond, ev, sizeof ev);
        if (tr_ok(r) && ok) r = push(out, n, i, act, g->n[u].arn, ev);
        if (tr_ok(r) && ok) mark_conditional(*out, *n, cond || ans[u].conditional);
    }
    iam_identity_release(&rc);
    free(x);
    return r;
}

/* Principals that reach a role with escalations of its own: the nearest
 * such role's, "via" it (backwards from those roles over assume-role
 * edges, at most AZ_MAX_HOPS). */
static TR_RESULT via_roles(struct az_graph *g, const struct az_answer *ans,
                           struct az_escalation **out, size_t *n)
{
    size_t *src = calloc(g->nn + 1, sizeof *src), *depth = calloc(g->nn + 1, sizeof *depth);
    size_t *queue = calloc(g->nn + 1, sizeof *queue), head = 0, tail = 0, nown = *n;
    bool *cond = calloc(g->nn + 1, sizeof *cond);   /* a conditional hop on f's way */
    tr_result r = TR_OK;

    if (!src || !depth || !queue || !cond) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    for (size_t i = 0; i < g->nn; i++) src[i] = depth[i] = SIZE_MAX;
    for (size_t k = 0; k < nown; k++) {
        size_t u = (*out)[k].node;
        if (g->n[u].kind != AZ_ROLE || src[u] != SIZE_MAX) continue;
        src[u] = u;
        depth[u] = 0;
        queue[tail++] = u;
    }
    while (head < tail && tr_ok(r)) {
        size_t u = queue[head++];
        if (depth[u] == AZ_MAX_HOPS) continue;
        r = az_graph_edges_into(g, u);
        for (size_t e = g->n[u].first_in; tr_ok(r) && e != SIZE_MAX; e = g->e[e].next_in) {
            size_t f = g->e[e].from;
            if (depth[f] != SIZE_MAX) continue;
            depth[f] = depth[u] + 1;
            src[f] = src[u];
            cond[f] = cond[u] || g->e[e].conditional;
            queue[tail++] = f;
        }
    }
    for (size_t f = 0; tr_ok(r) && f < g->nn; f++) {
        if (depth[f] == SIZE_MAX || depth[f] == 0 || ans[f].can || g->n[f].kind == AZ_FOREIGN ||
            g->n[f].kind == AZ_ANYONE)
            continue;
        for (size_t k = 0; tr_ok(r) && k < nown; k++) {
            if ((*out)[k].node != src[f]) continue;
            struct az_escalation e = (*out)[k];
            r = push(out, n, f, e.action, e.resource, e.evidence);
            if (tr_ok(r)) (*out)[*n - 1].via = src[f];
            if (tr_ok(r)) (*out)[*n - 1].conditional = e.conditional || cond[f];
        }
    }
fail:
    free(src);
    free(depth);
    free(queue);
    free(cond);
    return r;
}

/* Could `one` find anything for deferred node n (az_graph_build_facts)?
 * Its every check asks id_may of an AZ_ESCALATION_ACTIONS action, which
 * its facts answer ("escalate"); the rows whose check also consults the
 * secret's resource policy or the key policy (their `where`,
 * escalate_actions.def) ask that policy here, the principal as itself.
 * false: it holds none (so it is not loaded). */
static bool deferred_may(const struct az_node *n, const struct az_target *t)
{
    if (n->facts->escalate) return true;
    struct eval_principal who = ep_of(n), direct = who;
    direct.account = "";
    bool customer_key = t->have_key && strcmp(t->key.key_manager, "AWS") != 0;
    for (size_t a = 0; a < AZ_NESC; a++) {
        const char *act = AZ_ESCALATION_ACTIONS[a];
        if (AZ_ESCALATION_WHERE[a] == AZ_ESC_SECRET_RP && t->rp &&
            policy_may_allow(t->rp, &who, act, t->s.arn))
            return true;
        if (AZ_ESCALATION_WHERE[a] == AZ_ESC_KEY_POLICY && customer_key &&
            policy_may_allow(t->kp, &direct, act, t->key.arn))
            return true;
    }
    return false;
}

TR_RESULT az_escalations(const struct server_env *env, struct az_graph *g,
                         const struct az_target *t, const struct az_answer *ans,
                         struct az_escalation **out, size_t *n)
{
    tr_result r = TR_OK;
    *out = NULL;
    *n = 0;
    /* Going away: no permission change makes it readable. */
    if (t->s.deleted_date != 0 ||
        (t->have_key && strcmp(t->key.key_state, KEY_STATE_PENDING_DELETION) == 0))
        return TR_OK;
    for (size_t i = 0; i < g->nn && tr_ok(r); i++) {
        /* Principals the store does not hold: their own permissions are
         * not visible (the stand-in for "anyone" is allowed everything). */
        if (ans[i].can || g->n[i].kind == AZ_FOREIGN || g->n[i].kind == AZ_ANYONE) continue;
        if (g->n[i].deferred && !deferred_may(&g->n[i], t)) continue;
        r = az_graph_load(g, i);
        if (tr_ok(r)) r = one(env, g, t, ans, i, out, n);
    }
    if (tr_ok(r)) r = via_roles(g, ans, out, n);
    if (tr_failed(r)) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return r;
}
