/*
 * policy_eval.c -- the decision: one request against the policies that
 * apply to it.  Pure (reads its arguments only) and allocation-free.
 *
 * Spec: docs/AUTHORIZATION.md 2 (the decision), 3.2 - 3.3 (matching,
 * principals, NotPrincipal), 4.1 and 6.1 (delegation).  In order:
 *  1. Every policy is scanned once.  A statement applies when its Action
 *     (NotAction), Resource (NotResource; matched against the resource
 *     ARN in key policies too, see stmt_resource), Principal (NotPrincipal;
 *     never an exemption from a Deny for a caller with a boundary) and
 *     Condition all match -- in the resource policy, without the context
 *     keys marked identity_only.  An
 *     applying Deny anywhere -- identity, boundary, session, resource --
 *     is final (EXPLICIT_DENY, deny_type = the first one's policy type;
 *     the resource policy is consulted first).
 *  2. Allows are recorded per policy type and, in the resource policy, per
 *     how the principal was named (enum principal_match).
 *  3. The identity side is identity AND boundary (when present) AND
 *     session policies (when passed); a root caller's identity side allows
 *     everything and is not limited by boundaries or sessions.
 *  4. Same account:
 *       RES_NONE      identity side;
 *       RES_UNION     resource policy naming the caller (PM_DIRECT) or
 *                     everyone ("*", PM_EVERYONE), or naming its role while
 *                     boundary and session allow (2.3 table), or the
 *                     identity side;
 *       RES_REQUIRED  the same, except that the identity side counts only
 *                     when the resource policy allows the caller's account
 *                     (PM_ACCOUNT, delegation: 4.1, 6.1).
 *     Cross account (resource_account != caller's account): the resource
 *     policy must allow the caller, its role, its account or everyone, AND
 *     the identity side must allow (2.4); RES_NONE allows nothing.
 *     Anonymous callers: only a resource-policy Allow for "*".
 *  "*" (PM_EVERYONE) names whoever calls, so in the caller's own account
 *  it grants as directly as the caller's own ARN: no identity policy
 *  needed, and an implicit deny in a boundary or session policy does not
 *  limit it (docs/AUTHORIZATION.md 2.3, where the reading is argued; the
 *  AWS managed key aws/secretsmanager relies on it).
 *  Organizations (2.10): the SCPs over the caller's account and the RCPs
 *  over the resource's (ps->scp, ps->rcp; NULL for tresor's own store)
 *  join the deny pass, and each of their levels, root to account, must
 *  have an applying Allow, else EXPLICIT_DENY (deny_type PT_SCP/PT_RCP).
 * Three-valued conditions: a statement whose conditions read an unknown
 * key is assumed to apply when it is an Allow and not to apply when it is
 * a Deny; both are listed in cond_refs and an ALLOW that depends on them
 * is marked conditional.
 */
#include "iam/policy_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "iam/arn.h"

#define NLEVELS 5   /* enum principal_match */

struct side {
    enum tri allow;
    struct stmt_ref ref;      /* the first definite Allow, else the first unknown one */
    bool has_ref;
    bool ref_definite;
};

struct scan {
    struct side lvl[NLEVELS];
};

struct evaluator {
    const struct eval_request *rq;
    struct eval_env env;
    size_t svclen;            /* length of the request action's service prefix */
    size_t actlen;
    size_t reslen;
    struct eval_result *out;
    bool has_boundary;        /* the caller has a permissions boundary (NotPrincipal, 3.3) */
    bool deny;                /* a definite Deny applied */
    bool unknown_deny;        /* a Deny that might apply was assumed not to */
};

/* ---- matching ------------------------------------------------------------ */

static bool action_matches(const struct evaluator *ev, const struct action_pat *a)
{
    const char *act = ev->rq->action;
    if (a->all) return true;
    if (a->svc_wild || ev->svclen == ev->actlen)
        return glob_match(a->svc, a->svclen + 1u + a->namelen, act, ev->actlen, true);
    if (a->svclen != ev->svclen || strncasecmp(a->svc, act, ev->svclen) != 0) return false;
    return glob_match(a->name, a->namelen, act + ev->svclen + 1, ev->actlen - ev->svclen - 1, true);
}

static bool stmt_action(const struct evaluator *ev, const struct stmt *st)
{
    bool m = false;
    for (size_t i = 0; i < st->nactions && !m; i++) m = action_matches(ev, &st->actions[i]);
    return m != st->not_action;
}

/* Resource / NotResource against the request's resource.  Key policies
 * are no exception: their "Resource": "*" is "this key" because "*"
 * matches every ARN, and any other value is matched against the key's
 * ARN like NotResource is, so Resource X and NotResource X never both
 * apply.  That is how KMS reads them: the KMS developer guide ("Key
 * policies", Resource element) calls "*" the value that means "this KMS
 * key", and a key policy whose statement names some other ARN in
 * Resource does not grant through that statement -- KMS's lockout
 * safety check refuses such a policy ("The new key policy will not allow
 * you to update the key policy in the future."), which it could not do
 * if the statement applied to the key. */
static enum tri stmt_resource(const struct evaluator *ev, const struct stmt *st)
{
    if (!st->has_resource) return TRI_TRUE;
    enum tri m = TRI_FALSE;
    for (size_t i = 0; i < st->nresources && m != TRI_TRUE; i++)
        m = tri_or(m, pat_match(&st->resources[i], ev->rq->resource, ev->reslen, false, &ev->env));
    if (!st->not_resource) return m;
    /* A variable without a value makes the statement invalid (IAM guide:
     * "any attempt to match it fails"), not its NotResource true
     * (docs/AUTHORIZATION.md 3.7). */
    enum tri ok = TRI_TRUE;
    for (size_t i = 0; i < st->nresources && ok != TRI_FALSE; i++)
        if (st->resources[i].pieces || st->resources[i].bad)
            ok = tri_and(ok, pat_resolvable(&st->resources[i], &ev->env));
    return tri_and(ok, tri_not(m));
}

static bool str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* The caller's unique id (the user's, or its session's role's) is id. */
static bool id_is(const char *id, const struct eval_principal *who)
{
    size_t n = strlen(id);
    return who->unique_id && n > 0 && n == who->unique_id_len && memcmp(id, who->unique_id, n) == 0;
}

/* How one Principal entry names the caller (docs/AUTHORIZATION.md 3.3).  A user or
 * role ARN of a bound policy (policy.h) matches on the unique id it was
 * bound to; so does a principal written as a unique id (AIDA...: the user;
 * AROA...: the role, so any of its sessions).  Unbound ARNs match by ARN. */
static enum principal_match entry_match(const struct principal_ent *pe, const struct eval_principal *who)
{
    if (pe->kind == PE_EVERYONE) return PM_EVERYONE;
    if (who->type == EP_ANONYMOUS) return PM_NONE;
    switch (pe->kind) {
    case PE_ACCOUNT: return str_eq(pe->account, who->account) ? PM_ACCOUNT : PM_NONE;
    case PE_USER:
        if (who->type != EP_USER) return PM_NONE;
        return (pe->id ? id_is(pe->id, who) : str_eq(pe->value, who->arn)) ? PM_DIRECT : PM_NONE;
    case PE_SESSION:
        return who->type == EP_ROLE_SESSION && str_eq(pe->value, who->arn) ? PM_DIRECT : PM_NONE;
    case PE_ROLE:
        if (who->type != EP_ROLE_SESSION) return PM_NONE;
        return (pe->id ? id_is(pe->id, who) : str_eq(pe->value, who->role_arn)) ? PM_ROLE : PM_NONE;
    case PE_UNIQUE_ID:
        if (!id_is(pe->value, who)) return PM_NONE;
        return who->type == EP_USER ? PM_DIRECT : who->type == EP_ROLE_SESSION ? PM_ROLE : PM_NONE;
    case PE_FEDERATED_USER: return str_eq(pe->value, who->arn) ? PM_DIRECT : PM_NONE;
    case PE_FEDERATED:
        return who->type == EP_WEB_IDENTITY && str_eq(pe->value, who->arn) ? PM_DIRECT : PM_NONE;
    default: return PM_NONE;
    }
}

static int pm_rank(enum principal_match m)
{
    static const int rank[NLEVELS] = { [PM_NONE] = 0, [PM_ACCOUNT] = 1, [PM_ROLE] = 2,
                                       [PM_EVERYONE] = 3, [PM_DIRECT] = 4 };
    return rank[m];
}

/* NotPrincipal exempts the caller only when it is named itself (user or
 * session ARN), by its role, or -- for the account root user only -- by
 * its account (docs/AUTHORIZATION.md 3.3, 8.1).  A caller with a
 * permissions boundary is never exempted from a Deny: AWS's boundaries
 * page says such a Deny "will always deny any IAM principal that has a
 * permissions boundary policy attached, regardless of the values specified
 * in the NotPrincipal element" (docs/AUTHORIZATION.md 3.3). */
static bool exempted(const struct stmt *st, const struct eval_principal *who, bool has_boundary)
{
    if (has_boundary && st->effect == EFFECT_DENY) return false;
    for (size_t i = 0; i < st->nprincipals; i++) {
        const struct principal_ent *pe = &st->principals[i];
        enum principal_match m = entry_match(pe, who);
        if (m == PM_EVERYONE || m == PM_DIRECT || m == PM_ROLE) return true;
        if (m == PM_ACCOUNT && who->type == EP_ROOT) return true;
    }
    return false;
}

/* has_boundary: the caller has a permissions boundary (NotPrincipal). */
static enum principal_match stmt_principal_b(const struct stmt *st, const struct eval_principal *who,
                                             bool has_boundary)
{
    if (st->not_principal) return exempted(st, who, has_boundary) ? PM_NONE : PM_EVERYONE;
    enum principal_match best = PM_NONE;
    for (size_t i = 0; i < st->nprincipals; i++) {
        enum principal_match m = entry_match(&st->principals[i], who);
        if (pm_rank(m) > pm_rank(best)) best = m;
    }
    return best;
}

static enum principal_match stmt_principal(const struct stmt *st, const struct eval_principal *who)
{
    return stmt_principal_b(st, who, false);
}

/* Whether statement st applies; *pm = how it named the caller. */
/* *by_conds: the statement names the request (action, principal,
 * resource) and only its conditions are false. */
static enum tri stmt_applies(const struct evaluator *ev, const struct stmt *st,
                             enum principal_match *pm, bool *by_conds)
{
    *pm = PM_NONE;
    *by_conds = false;
    if (!stmt_action(ev, st)) return TRI_FALSE;
    if (st->has_principal) {
        *pm = stmt_principal_b(st, &ev->rq->who, ev->has_boundary);
        if (*pm == PM_NONE) return TRI_FALSE;
    }
    enum tri t = stmt_resource(ev, st);
    if (t == TRI_FALSE) return t;
    enum tri c = conds_eval(st->conds, st->nconds, &ev->env);
    *by_conds = c == TRI_FALSE;
    return tri_and(t, c);
}

/* ---- scanning ------------------------------------------------------------ */

static void add_ref(struct stmt_ref *refs, size_t *n, const struct stmt_ref *r)
{
    if (*n < EVAL_MAX_REFS) refs[(*n)++] = *r;
}

static void note_allow(struct side *sd, enum tri t, const struct stmt_ref *ref)
{
    sd->allow = tri_or(sd->allow, t);
    if (!sd->has_ref || (t == TRI_TRUE && !sd->ref_definite)) {
        sd->ref = *ref;
        sd->has_ref = true;
        sd->ref_definite = t == TRI_TRUE;
    }
}

static void scan_policy(struct evaluator *ev, const struct named_policy *np,
                        enum policy_type_word type, struct scan *sc)
{
    memset(sc, 0, sizeof *sc);
    if (!np || !np->p) return;
    const struct policy *p = np->p;
    ev->env.resource_policy = type == PT_RESOURCE;
    for (size_t i = 0; i < p->nstmts; i++) {
        const struct stmt *st = &p->stmts[i];
        enum principal_match pm;
        bool by_conds;
        enum tri t = stmt_applies(ev, st, &pm, &by_conds);
        if (t == TRI_FALSE && by_conds && st->effect == EFFECT_DENY) {
            /* A Deny checked that does not apply: the explanations name it. */
            struct stmt_ref ref = { np, i, st->sid, st->effect, type };
            add_ref(ev->out->checked_denies, &ev->out->nchecked_denies, &ref);
        }
        if (t == TRI_FALSE) continue;
        struct stmt_ref ref = { np, i, st->sid, st->effect, type };
        if (st->effect == EFFECT_ALLOW) {
            note_allow(&sc->lvl[pm], t, &ref);
        } else if (t == TRI_TRUE) {
            if (!ev->deny) ev->out->deny_type = type;
            ev->deny = true;
            add_ref(ev->out->refs, &ev->out->nrefs, &ref);
        } else {
            ev->unknown_deny = true;
            add_ref(ev->out->cond_refs, &ev->out->ncond_refs, &ref);
        }
    }
    ev->env.resource_policy = false;
}

/* Several policies of one type: their allows OR together. */
static void scan_list(struct evaluator *ev, const struct named_policy *list, size_t n,
                      enum policy_type_word type, struct side *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        struct scan sc;
        scan_policy(ev, &list[i], type, &sc);
        if (sc.lvl[PM_NONE].has_ref) note_allow(out, sc.lvl[PM_NONE].allow, &sc.lvl[PM_NONE].ref);
    }
}

/* ---- Organizations: SCPs and RCPs ----------------------------------------- */

/* One level of SCPs or RCPs: its policies' Allows OR together (an RCP
 * names its principals, "*" in practice: an Allow at any principal level
 * counts); Denies are recorded by scan_policy like any other. */
static void scan_level(struct evaluator *ev, const struct org_level *lv, enum policy_type_word type,
                       struct side *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < lv->n; i++) {
        struct scan sc;
        scan_policy(ev, &lv->pols[i], type, &sc);
        for (size_t k = 0; k < NLEVELS; k++)
            if (sc.lvl[k].has_ref) note_allow(out, sc.lvl[k].allow, &sc.lvl[k].ref);
    }
}

/* The Organizations gate (docs/AUTHORIZATION.md 2.10): every level of
 * lim must allow.  Returns TRI_FALSE with *missing the first level that
 * does not, TRI_UNKNOWN when one allows only under unknown conditions
 * (its statement added to *unk, up to EVAL_MAX_REFS), else TRI_TRUE. */
static enum tri org_gate(struct evaluator *ev, const struct org_limits *lim, enum policy_type_word type,
                         const char **missing, struct stmt_ref *unk, size_t *nunk)
{
    enum tri all = TRI_TRUE;
    for (size_t i = 0; lim && i < lim->n; i++) {
        struct side sd;
        scan_level(ev, &lim->levels[i], type, &sd);
        if (sd.allow == TRI_FALSE && all != TRI_FALSE) *missing = lim->levels[i].target;
        if (sd.allow == TRI_UNKNOWN && sd.has_ref) add_ref(unk, nunk, &sd.ref);
        all = tri_and(all, sd.allow);
    }
    return all;
}

/* ---- deciding ------------------------------------------------------------ */

/* A way to be allowed: the AND of its parts. */
struct path {
    enum tri t;
    const struct side *parts[4];
    size_t nparts;
    enum principal_match pm;
};

static void path_start(struct path *pa, enum principal_match pm)
{
    *pa = (struct path){ .t = TRI_TRUE, .pm = pm };
}

/* AND one more side into the path; sd NULL = "allows, no statement" (root,
 * an absent boundary or session policy). */
static void path_and(struct path *pa, const struct side *sd)
{
    if (!sd) return;
    pa->t = tri_and(pa->t, sd->allow);
    if (sd->has_ref && pa->nparts < 4) pa->parts[pa->nparts++] = sd;
}

struct sides {
    struct side id, pb, sp;
    struct scan rs;
    bool has_pb, has_sp, root;
};

static const struct side *opt(const struct side *s, bool present)
{
    return present ? s : NULL;
}

static void path_identity(struct path *pa, const struct sides *s)
{
    if (s->root) return;
    path_and(pa, &s->id);
    path_and(pa, opt(&s->pb, s->has_pb));
    path_and(pa, opt(&s->sp, s->has_sp));
}

static void path_limits(struct path *pa, const struct sides *s)
{
    if (s->root) return;
    path_and(pa, opt(&s->pb, s->has_pb));
    path_and(pa, opt(&s->sp, s->has_sp));
}

/* The best resource-policy level that may allow: rank, definite first. */
static enum principal_match best_level(const struct scan *rs, bool definite)
{
    static const enum principal_match order[] = { PM_DIRECT, PM_EVERYONE, PM_ROLE, PM_ACCOUNT };
    for (size_t i = 0; i < 4; i++) {
        enum tri t = rs->lvl[order[i]].allow;
        if (t == TRI_TRUE || (!definite && t == TRI_UNKNOWN)) return order[i];
    }
    return PM_NONE;
}

static size_t candidate_paths(const struct evaluator *ev, const struct policy_set *ps,
                              const struct sides *s, struct path *pa)
{
    const struct eval_principal *who = &ev->rq->who;
    const char *ra = ev->rq->resource_account;
    bool same = !ra || !*ra || str_eq(ra, who->account);
    size_t n = 0;
    if (who->type == EP_ANONYMOUS) {
        if (ps->mode == RES_NONE) return 0;
        path_start(&pa[n], PM_EVERYONE);
        path_and(&pa[n++], &s->rs.lvl[PM_EVERYONE]);
        return n;
    }
    if (!same) {
        if (ps->mode == RES_NONE) return 0;
        enum principal_match m = best_level(&s->rs, true);
        if (m == PM_NONE) m = best_level(&s->rs, false);
        if (m == PM_NONE) return 0;
        path_start(&pa[n], m);
        path_and(&pa[n], &s->rs.lvl[m]);
        path_identity(&pa[n++], s);
        return n;
    }
    if (ps->mode != RES_NONE) {
        /* Named itself, or by "*" (which names whoever calls): final
         * (2.3 table). */
        path_start(&pa[n], PM_DIRECT);
        path_and(&pa[n++], &s->rs.lvl[PM_DIRECT]);
        path_start(&pa[n], PM_EVERYONE);
        path_and(&pa[n++], &s->rs.lvl[PM_EVERYONE]);
        /* Named by its role: still limited (2.3 table). */
        path_start(&pa[n], PM_ROLE);
        path_and(&pa[n], &s->rs.lvl[PM_ROLE]);
        path_limits(&pa[n++], s);
    }
    path_start(&pa[n], ps->mode == RES_REQUIRED ? PM_ACCOUNT : PM_NONE);
    if (ps->mode == RES_REQUIRED) path_and(&pa[n], &s->rs.lvl[PM_ACCOUNT]);
    path_identity(&pa[n++], s);
    return n;
}

static enum policy_type_word identity_failure(const struct sides *s)
{
    if (!s->root && s->id.allow == TRI_FALSE) return PT_IDENTITY;
    if (!s->root && s->has_pb && s->pb.allow == TRI_FALSE) return PT_BOUNDARY;
    if (!s->root && s->has_sp && s->sp.allow == TRI_FALSE) return PT_SESSION;
    return PT_IDENTITY;
}

/* Which kind of policy lacked an Allow (implicit deny). */
static enum policy_type_word implicit_type(const struct evaluator *ev, const struct policy_set *ps,
                                           const struct sides *s)
{
    const struct eval_principal *who = &ev->rq->who;
    const char *ra = ev->rq->resource_account;
    bool same = !ra || !*ra || str_eq(ra, who->account);
    bool any_rp = best_level(&s->rs, false) != PM_NONE;
    bool limited_rp = s->rs.lvl[PM_ROLE].allow != TRI_FALSE;
    if (who->type == EP_ANONYMOUS) return PT_RESOURCE;
    if (!same) return any_rp ? identity_failure(s) : PT_RESOURCE;
    if (ps->mode == RES_NONE) return identity_failure(s);
    if (ps->mode == RES_REQUIRED && !any_rp) return PT_RESOURCE;
    bool delegated = ps->mode == RES_REQUIRED && s->rs.lvl[PM_ACCOUNT].allow != TRI_FALSE;
    if (limited_rp && !delegated && !s->root) {
        if (s->has_pb && s->pb.allow == TRI_FALSE) return PT_BOUNDARY;
        if (s->has_sp && s->sp.allow == TRI_FALSE) return PT_SESSION;
    }
    return identity_failure(s);
}

static void take_path(struct eval_result *out, const struct path *pa)
{
    out->nrefs = 0;
    for (size_t i = 0; i < pa->nparts; i++) {
        add_ref(out->refs, &out->nrefs, &pa->parts[i]->ref);
        if (!pa->parts[i]->ref_definite) add_ref(out->cond_refs, &out->ncond_refs, &pa->parts[i]->ref);
    }
    out->resource_match = pa->pm;
}

static void decide(struct evaluator *ev, const struct policy_set *ps, const struct sides *s)
{
    struct eval_result *out = ev->out;
    struct path pa[4];
    size_t n = candidate_paths(ev, ps, s, pa);
    const struct path *chosen = NULL;
    for (size_t i = 0; i < n && !chosen; i++)
        if (pa[i].t == TRI_TRUE) chosen = &pa[i];
    for (size_t i = 0; i < n && !chosen; i++)
        if (pa[i].t == TRI_UNKNOWN) chosen = &pa[i];
    if (!chosen) {
        out->decision = DECISION_IMPLICIT_DENY;
        out->deny_type = implicit_type(ev, ps, s);
        out->nrefs = 0;
        out->resource_match = best_level(&s->rs, false);
        return;
    }
    out->decision = DECISION_ALLOW;
    take_path(out, chosen);
    out->conditional = chosen->t == TRI_UNKNOWN || ev->unknown_deny;
}

TR_RESULT policy_evaluate(const struct eval_request *rq, const struct policy_set *ps,
                          struct eval_result *out)
{
    ENSURE_REF(rq);
    ENSURE_REF(ps);
    ENSURE_REF(out);
    ENSURE_REF(rq->action);
    ENSURE_REF(rq->resource);
    memset(out, 0, sizeof *out);
    struct evaluator ev = { .rq = rq, .env = { rq->ctx, rq->nctx }, .out = out,
                            .has_boundary = ps->boundary != NULL };
    ev.actlen = strlen(rq->action);
    const char *colon = memchr(rq->action, ':', ev.actlen);
    ev.svclen = colon ? (size_t)(colon - rq->action) : ev.actlen;
    ev.reslen = strlen(rq->resource);

    struct sides s = { .root = ps->root_identity, .has_pb = ps->boundary != NULL,
                       .has_sp = ps->session_present };
    if (ps->mode != RES_NONE || ps->resource) scan_policy(&ev, ps->resource, PT_RESOURCE, &s.rs);
    if (ps->mode == RES_NONE) memset(&s.rs, 0, sizeof s.rs);
    scan_list(&ev, ps->identity, ps->nidentity, PT_IDENTITY, &s.id);
    scan_list(&ev, ps->boundary, ps->boundary ? 1 : 0, PT_BOUNDARY, &s.pb);
    scan_list(&ev, ps->session, ps->session_present ? ps->nsession : 0, PT_SESSION, &s.sp);
    if (s.root) s.id.allow = s.pb.allow = s.sp.allow = TRI_TRUE;
    /* The control policies over the caller's and the resource's account
     * (2.10): their Denies join the deny pass; a level without an Allow
     * denies before any other policy is asked. */
    const char *scp_missing = NULL, *rcp_missing = NULL;
    struct stmt_ref org_unk[EVAL_MAX_REFS];
    size_t norg_unk = 0;
    enum tri scp = org_gate(&ev, ps->scp, PT_SCP, &scp_missing, org_unk, &norg_unk);
    enum tri rcp = org_gate(&ev, ps->rcp, PT_RCP, &rcp_missing, org_unk, &norg_unk);

    if (ev.deny) {
        out->decision = DECISION_EXPLICIT_DENY;
        out->resource_match = best_level(&s.rs, false);
        return TR_OK;
    }
    if (scp == TRI_FALSE || rcp == TRI_FALSE) {
        /* AWS reports a missing Allow in an SCP as an explicit deny in
         * one (2.10). */
        out->decision = DECISION_EXPLICIT_DENY;
        out->deny_type = scp == TRI_FALSE ? PT_SCP : PT_RCP;
        out->org_target = scp == TRI_FALSE ? scp_missing : rcp_missing;
        out->resource_match = best_level(&s.rs, false);
        return TR_OK;
    }
    decide(&ev, ps, &s);
    if (out->decision == DECISION_ALLOW && norg_unk > 0) {
        /* Allowed only if the control policies' conditions hold too. */
        for (size_t i = 0; i < norg_unk; i++) {
            add_ref(out->refs, &out->nrefs, &org_unk[i]);
            add_ref(out->cond_refs, &out->ncond_refs, &org_unk[i]);
        }
        out->conditional = true;
    }
    return TR_OK;
}

/* ---- static prefilter ------------------------------------------------------ */

/* Whether resource pattern r could match `resource` for some context:
 * patterns with variables count as matching (their value is not known
 * here). */
static bool pat_may_match(const struct pat *r, const char *resource, size_t n)
{
    if (r->pieces) return true;
    return pat_match(r, resource, n, false, NULL) == TRI_TRUE;
}

bool policy_may_allow(const struct policy *p, const struct eval_principal *who,
                      const char *action, const char *resource)
{
    if (!p || !action) return false;
    struct eval_request rq = { .action = action, .resource = resource ? resource : "*" };
    if (who) rq.who = *who;
    struct evaluator ev = { .rq = &rq };
    ev.actlen = strlen(action);
    const char *colon = memchr(action, ':', ev.actlen);
    ev.svclen = colon ? (size_t)(colon - action) : ev.actlen;
    size_t rlen = resource ? strlen(resource) : 0;
    for (size_t i = 0; i < p->nstmts; i++) {
        const struct stmt *st = &p->stmts[i];
        if (st->effect != EFFECT_ALLOW || !stmt_action(&ev, st)) continue;
        if (who && st->has_principal && stmt_principal(st, who) == PM_NONE) continue;
        if (!resource || !st->has_resource) return true;
        bool any = false, vars = false;
        for (size_t k = 0; k < st->nresources && !any; k++) {
            vars |= st->resources[k].pieces != NULL;
            any = pat_may_match(&st->resources[k], resource, rlen);
        }
        if (st->not_resource ? (vars || !any) : any) return true;
    }
    return false;
}

bool policy_may_allow_heads(const struct policy *p, const char *action,
                            void (*fn)(void *arg, const char *head, size_t len), void *arg)
{
    if (!p || !action) return true;
    struct eval_request rq = { .action = action, .resource = "*" };
    struct evaluator ev = { .rq = &rq };
    ev.actlen = strlen(action);
    const char *colon = memchr(action, ':', ev.actlen);
    ev.svclen = colon ? (size_t)(colon - action) : ev.actlen;
    for (size_t i = 0; i < p->nstmts; i++) {
        const struct stmt *st = &p->stmts[i];
        if (st->effect != EFFECT_ALLOW || !stmt_action(&ev, st)) continue;
        /* No Resource, NotResource: any resource may be the one. */
        if (!st->has_resource || st->not_resource) return false;
        for (size_t k = 0; k < st->nresources; k++) {
            const struct pat *r = &st->resources[k];
            /* Variables (pat_may_match takes them as matching) and
             * patterns that match nothing: no head to index by. */
            if (r->pieces || r->bad) return false;
            size_t n = 0;
            while (n < r->len && !(r->wild && (r->s[n] == '*' || r->s[n] == '?'))) n++;
            if (n == 0) return false;
            fn(arg, r->s, n);
        }
    }
    return true;
}

/* Does pattern r read a variable whose key starts with prefix (lowercase)? */
static bool pat_reads(const struct pat *r, const char *prefix, size_t n)
{
    for (size_t k = 0; r->pieces && k < r->npieces; k++)
        if (r->pieces[k].kind == PIECE_VAR && r->pieces[k].len >= n &&
            strncasecmp(r->pieces[k].s, prefix, n) == 0)
            return true;
    return false;
}

bool policy_mentions_key(const struct policy *p, const char *prefix)
{
    if (!p || !prefix) return false;
    size_t n = strlen(prefix);
    for (size_t i = 0; i < p->nstmts; i++) {
        const struct stmt *st = &p->stmts[i];
        for (size_t k = 0; k < st->nresources; k++)
            if (pat_reads(&st->resources[k], prefix, n)) return true;
        for (size_t c = 0; c < st->nconds; c++) {
            const struct cond *cd = &st->conds[c];
            if (cd->keylen >= n && strncasecmp(cd->key, prefix, n) == 0) return true;
            for (size_t v = 0; v < cd->nvals; v++) {
                const struct cond_value *cv = &cd->vals[v];
                if (!cv->ok) continue;
                if ((cd->fam == CF_STRING || cd->fam == CF_BOOL) && pat_reads(&cv->u.str, prefix, n))
                    return true;
                for (size_t a = 0; cd->fam == CF_ARN && a < 6; a++)
                    if (pat_reads(&cv->u.arn[a], prefix, n)) return true;
            }
        }
    }
    return false;
}

/* ---- messages ------------------------------------------------------------ */

static const char *type_words(enum policy_type_word t, bool with_article)
{
    switch (t) {
    case PT_RESOURCE: return with_article ? "a resource-based policy" : "resource-based policy";
    case PT_BOUNDARY: return with_article ? "a permissions boundary" : "permissions boundary";
    case PT_SESSION: return with_article ? "a session policy" : "session policy";
    case PT_SCP: return with_article ? "a service control policy" : "service control policy";
    case PT_RCP: return with_article ? "a resource control policy" : "resource control policy";
    default: return with_article ? "an identity-based policy" : "identity-based policy";
    }
}

void policy_denied_message(const struct eval_request *rq, const struct eval_result *r,
                           const char *resource_as_given, char *out, size_t n)
{
    if (!out || n == 0) return;
    const char *who = rq && rq->who.arn ? rq->who.arn : "anonymous";
    const char *act = rq && rq->action ? rq->action : "";
    const char *res = resource_as_given ? resource_as_given : (rq && rq->resource ? rq->resource : "");
    /* AWS's AccessDenied sentence, for people: the caller's buffer bounds it */
    if (r && r->decision == DECISION_EXPLICIT_DENY)    /* cut: as said above */
        snprintf(out, n, "User: %s is not authorized to perform: %s on resource: %s "
                 "with an explicit deny in %s", who, act, res, type_words(r->deny_type, true));
    else    /* cut: as above */
        snprintf(out, n, "User: %s is not authorized to perform: %s on resource: %s "
                 "because no %s allows the %s action", who, act, res,
                 type_words(r ? r->deny_type : PT_IDENTITY, false), act);
}

const char *policy_type_name(enum policy_type_word t)
{
    switch (t) {
    case PT_IDENTITY: return "identity";
    case PT_RESOURCE: return "resource";
    case PT_BOUNDARY: return "boundary";
    case PT_SESSION: return "session";
    case PT_SCP: return "scp";
    case PT_RCP: return "rcp";
    default: return "policy";
    }
}
