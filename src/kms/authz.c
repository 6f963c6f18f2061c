/*
 * authz.c -- the one place KMS operations ask "may the caller do this?",
 * answered by the policy engine of src/iam/ (iam_authorize) the way KMS
 * answers it.
 *
 * Every handler calls kms_authorize_in() once the target key is known to
 * exist and before it looks at the key state, so the order of checks is
 * the one docs/AUTHORIZATION.md 4.6 fixes: exists -> authorized -> state ->
 * ciphertext.  The router does not authorize KMS operations itself: the
 * resource (the key ARN) is only known after resolution, and for Decrypt
 * it comes out of the ciphertext blob.
 *
 * The decision (docs/AUTHORIZATION.md 2.2, 4.1 - 4.4):
 *  1. The request context: the global keys (iam_ctx_init, inside
 *     iam_authorize) plus KMS's own (docs/AUTHORIZATION.md 4.2) built here --
 *     kms:CallerAccount; kms:ViaService only when another service calls
 *     on the caller's behalf (rc->via_service); kms:EncryptionContext:<k>
 *     per pair and kms:EncryptionContextKeys (multi-valued) when a context
 *     is given; kms:KeySpec, kms:KeyUsage, kms:KeyOrigin, kms:MultiRegion
 *     from the key (from the request for CreateKey); kms:EncryptionAlgorithm
 *     for cryptographic operations; kms:RequestAlias when the caller named
 *     the key by an alias; kms:ResourceAliases (multi-valued) the key's
 *     aliases; for CreateGrant kms:GrantOperations, kms:GranteePrincipal,
 *     kms:RetiringPrincipal, kms:GrantConstraintType and, for the grant
 *     operations, kms:GrantIsForAWSResource (false on direct calls);
 *     kms:BypassPolicyLockoutSafetyCheck for CreateKey and PutKeyPolicy.
 *  2. Key operations: iam_authorize with the key policy (compiled through
 *     the policy cache) in mode RES_REQUIRED: the key policy must allow,
 *     directly or by naming the account, which delegates to the caller's
 *     IAM policies; a caller of another account needs both.  The root
 *     user gets no implicit access: its identity side allows everything,
 *     but only where the key policy names its account.
 *  3. An explicit deny anywhere fails at once; grants cannot override it.
 *  4. An implicit deny consults the key's grants (grants.c).  A grant to
 *     the caller itself (user, session, or the role of its session) in
 *     the key's account suffices; a grant to an account, or to a caller of
 *     another account, also needs the caller's identity side to allow
 *     (docs/AUTHORIZATION.md 4.3, 8.1).
 *  5. Still denied: AccessDeniedException with the engine's wording
 *     (policy_denied_message), e.g. "... because no resource-based policy
 *     allows the kms:Decrypt action" when the key policy did not allow,
 *     "... because no identity-based policy allows ..." when it delegated
 *     to IAM and IAM did not allow.
 * Account-level actions (k == NULL) are decided by IAM policies alone
 * (RES_NONE, resource "*").  A stored key policy that no longer compiles
 * allows nothing (logged).  No policy rule lives here: the engine has
 * the only copy.
 */
#include "kms/kms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "iam/authz.h"

/* ---- the KMS condition keys ------------------------------------------- */

/* Entries and value arrays sized once, up front: values point into
 * vals[], which never moves. */
struct kctx {
    struct ctx_entry *e;
    size_t n, cap;
    const char **vals;
    size_t nvals, capv;
    char **owned;                 /* "kms:EncryptionContext:<k>" names */
    size_t nowned;
    struct alias_rec *aliases;    /* the key's aliases (kms:ResourceAliases) */
    size_t naliases;
    char request_alias[260];
};

static void kctx_free(struct kctx *c)
{
    for (size_t i = 0; i < c->nowned; i++) free(c->owned[i]);
    free(c->owned);
    free(c->e);
    free(c->vals);
    alias_list_free(c->aliases, c->naliases);
    memset(c, 0, sizeof *c);
}

/* Add key with the n values v (multi: a multi-valued key). */
static TR_RESULT kctx_put(struct kctx *c, const char *key, const char *const *v, size_t n,
                          bool multi)
{
    ENSURE(c->n < c->cap && c->nvals + n <= c->capv, TR_E_INTERNAL);
    const char **dst = c->vals + c->nvals;
    for (size_t i = 0; i < n; i++) dst[i] = v[i];
    c->nvals += n;
    c->e[c->n++] = (struct ctx_entry){ .key = key, .values = dst, .n = n, .multi = multi };
    return TR_OK;
}

static TR_RESULT kctx_one(struct kctx *c, const char *key, const char *value)
{
    if (!value) return TR_OK;
    return kctx_put(c, key, &value, 1, false);
}

/* kms:RequestAlias: the alias name ("alias/x") when KeyId was an alias
 * name or an alias ARN. */
static void request_alias(const char *given, char *out, size_t n)
{
    out[0] = '\0';
    if (!given) return;
    if (strncmp(given, "alias/", 6) == 0) {
        snprintf(out, n, "%s", given);
        return;
    }
    if (strncmp(given, "arn:", 4) != 0) return;
    const char *p = given;
    for (int i = 0; i < 5 && p; i++) {
        p = strchr(p, ':');
        if (p) p++;
    }
    if (p && strncmp(p, "alias/", 6) == 0) snprintf(out, n, "%s", p);
}

static bool grant_action(const char *action)
{
    return strcmp(action, "kms:CreateGrant") == 0 || strcmp(action, "kms:ListGrants") == 0 ||
           strcmp(action, "kms:RevokeGrant") == 0;
}

static TR_RESULT kctx_build(struct kctx *c, struct req_ctx *rc, const char *action,
                            const struct key_rec *k, const struct kms_authz_in *in)
{
    json_t *ctx = in && json_is_object(in->ctx) ? in->ctx : NULL;
    const struct kms_grant_req *g = in ? in->grant : NULL;
    size_t npairs = ctx ? json_object_size(ctx) : 0;
    tr_result r = TR_OK;

    memset(c, 0, sizeof *c);
    if (k) {
        r = kms_cached_key_aliases(rc->st, k, &c->aliases, &c->naliases);
        if (tr_failed(r)) return r;
    }
    size_t nextra_vals = 0;
    for (size_t i = 0; in && i < in->nextra; i++) nextra_vals += in->extra[i].n;
    c->cap = 24 + npairs + (in ? in->nunknown + in->nextra : 0);
    c->capv = 24 + 2 * npairs + c->naliases + (g ? g->nops : 0) + (in ? in->nunknown : 0) +
              nextra_vals;
    c->e = calloc(c->cap, sizeof *c->e);
    c->vals = calloc(c->capv, sizeof *c->vals);
    c->owned = calloc(npairs + 1, sizeof *c->owned);
    ENSURE(c->e && c->vals && c->owned, TR_E_INTERNAL);

    GUARD(kctx_one(c, "kms:CallerAccount", rc->who.account_id));
    GUARD(kctx_one(c, "kms:ViaService", rc->via_service));

    if (npairs > 0) {
        const char *key;
        json_t *v;
        json_object_foreach(ctx, key, v) {
            size_t len = strlen(key) + sizeof "kms:EncryptionContext:";
            char *name = malloc(len);
            ENSURE(name != NULL, TR_E_INTERNAL);
            snprintf(name, len, "kms:EncryptionContext:%s", key);
            c->owned[c->nowned++] = name;
            GUARD(kctx_one(c, name, json_string_value(v)));
        }
        /* The keys, gathered as one multi-valued entry. */
        const char **keys = calloc(npairs, sizeof *keys);
        ENSURE(keys != NULL, TR_E_INTERNAL);
        size_t i = 0;
        json_object_foreach(ctx, key, v) keys[i++] = key;
        r = kctx_put(c, "kms:EncryptionContextKeys", keys, npairs, true);
        free(keys);
        GUARD(r);
    }

    const struct key_rec *props = k ? k : in ? in->props : NULL;
    if (props) {
        GUARD(kctx_one(c, "kms:KeySpec", props->key_spec));
        GUARD(kctx_one(c, "kms:KeyUsage", props->key_usage));
        GUARD(kctx_one(c, "kms:KeyOrigin", props->origin));
        GUARD(kctx_one(c, "kms:MultiRegion", "false"));
    }
    if (in) GUARD(kctx_one(c, "kms:EncryptionAlgorithm", in->enc_alg));

    request_alias(in ? in->key_id_given : NULL, c->request_alias, sizeof c->request_alias);
    if (c->request_alias[0]) GUARD(kctx_one(c, "kms:RequestAlias", c->request_alias));
    if (c->naliases > 0) {
        const char **names = calloc(c->naliases, sizeof *names);
        ENSURE(names != NULL, TR_E_INTERNAL);
        for (size_t i = 0; i < c->naliases; i++) names[i] = c->aliases[i].name;
        r = kctx_put(c, "kms:ResourceAliases", names, c->naliases, true);
        free(names);
        GUARD(r);
    }

    if (g) {
        GUARD(kctx_put(c, "kms:GrantOperations", g->ops, g->nops, true));
        GUARD(kctx_one(c, "kms:GranteePrincipal", g->grantee));
        GUARD(kctx_one(c, "kms:RetiringPrincipal", g->retiring));
        GUARD(kctx_one(c, "kms:GrantConstraintType", g->constraint_type));
    }
    if (grant_action(action))
        GUARD(kctx_one(c, "kms:GrantIsForAWSResource", rc->via_service ? "true" : "false"));
    if (in && in->has_bypass)
        GUARD(kctx_one(c, "kms:BypassPolicyLockoutSafetyCheck", in->bypass ? "true" : "false"));
    for (size_t i = 0; in && i < in->nunknown; i++) {
        GUARD(kctx_one(c, in->unknown[i], ""));
        c->e[c->n - 1].unknown = true;
    }
    for (size_t i = 0; in && i < in->nextra; i++) {
        const struct ctx_entry *x = &in->extra[i];
        GUARD(kctx_put(c, x->key, x->values, x->n, x->multi));
        c->e[c->n - 1].unknown = x->unknown;
    }
    return TR_OK;
}

/* ---- evaluation ----------------------------------------------------------- */

/* Evaluate against key policy `text` (NULL: IAM only, RES_NONE) without
 * failing; *res is the engine's result. */
static TR_RESULT evaluate(struct req_ctx *rc, const char *action, const struct key_rec *k,
                          const char *text, const struct kctx *c, struct eval_result *res,
                          char *ev, size_t nev)
{
    struct policy *pol = NULL;
    char name[KMS_ARN_MAX + 16];
    struct named_policy np;
    tr_result r = TR_OK;

    if (text) {
        r = kms_cached_key_policy(rc->st, k, text, &pol);
        if (tr_failed(r)) {
            if (tr_code(r) != TR_E_POLICY_MALFORMED) return r;
            /* Stored before the engine existed and refused by it now:
             * the policy allows nothing, rather than everything. */
            log_msg("warn", "kms authz: key policy of %s does not compile; it allows nothing",
                    k->arn);
            pol = NULL;
        }
    }
    snprintf(name, sizeof name, "key-policy:%s", k->arn);
    np = (struct named_policy){ .p = pol, .name = name };
    struct authz_req ar = {
        .action = action,
        .resource = k->arn,
        .resource_account = text ? k->account_id : rc->who.account_id,
        .resource_policy = text ? &np : NULL,
        .mode = text ? RES_REQUIRED : RES_NONE,
        .extra = c->e,
        .nextra = c->n,
        .no_fail = true,
    };
    r = iam_authorize(rc, &ar, res);
    /* The evidence names np, which dies here: format it now. */
    if (tr_ok(r) && ev) iam_result_evidence(res, ev, nev);
    policy_unref(pol);
    return r;
}

static tr_result denied(struct req_ctx *rc, const char *action, const char *resource,
                        const struct eval_result *res)
{
    char msg[TR_ERR_MSG_MAX];
    struct eval_request rq = {
        .who = { .arn = rc->who.arn, .account = rc->who.account_id },
        .action = action,
        .resource = resource,
    };
    policy_denied_message(&rq, res, NULL, msg, sizeof msg);
    return tr_fail_at(__FILE__, __LINE__, TR_E_ACCESS_DENIED, "%s", msg);
}

TR_RESULT kms_identity_allows(struct req_ctx *rc, const char *action, const struct key_rec *k,
                              const struct kms_authz_in *in, bool *allowed)
{
    struct kctx c;
    struct eval_result res;
    tr_result r;

    *allowed = false;
    r = kctx_build(&c, rc, action, k, in);
    if (tr_ok(r)) r = evaluate(rc, action, k, NULL, &c, &res, NULL, 0);
    if (tr_ok(r)) *allowed = res.decision == DECISION_ALLOW;
    kctx_free(&c);
    return r;
}

TR_RESULT kms_policy_allows(struct req_ctx *rc, const char *action, const struct key_rec *k,
                            const char *policy_text, const struct kms_authz_in *in,
                            bool *allowed)
{
    struct kctx c;
    struct eval_result res;
    tr_result r;

    *allowed = false;
    ENSURE_REF(policy_text);
    r = kctx_build(&c, rc, action, k, in);
    if (tr_ok(r)) r = evaluate(rc, action, k, policy_text, &c, &res, NULL, 0);
    if (tr_ok(r)) *allowed = res.decision == DECISION_ALLOW;
    kctx_free(&c);
    return r;
}

/* An implicit deny: may a grant still allow?  *m how the grant named the
 * caller; ev (may be NULL) the IAM evidence when the caller's identity
 * side had to allow too. */
static TR_RESULT grant_allows(struct req_ctx *rc, const char *action, const struct key_rec *k,
                              const struct kms_authz_in *in, const struct kctx *c, bool *allowed,
                              enum kms_grant_match *m, char grant_id[65], char *ev, size_t nev)
{
    struct eval_result res;

    *allowed = false;
    *m = KG_NONE;
    grant_id[0] = '\0';
    if (in && in->no_grants) return TR_OK;
    GUARD(kms_grants_allow_id(rc, action, k, in, m, grant_id));
    if (*m == KG_NONE) return TR_OK;
    if (*m == KG_DIRECT && strcmp(k->account_id, rc->who.account_id) == 0) {
        *allowed = true;
        return TR_OK;
    }
    /* A grant to an account, or to a caller of another account: the
     * caller's own IAM side must allow as well. */
    GUARD(evaluate(rc, action, k, NULL, c, &res, ev, nev));
    *allowed = res.decision == DECISION_ALLOW;
    return TR_OK;
}

/* The decision for a key operation (k non-NULL), shared by the server
 * (kms_authorize_in) and the analyzer (kms_authorize_explain). */
/* want_ev: fill x->evidence (the analyzer; the server only decides). */
static TR_RESULT decide(struct req_ctx *rc, const char *action, const struct key_rec *k,
                        const struct kms_authz_in *in, const struct kctx *c,
                        struct kms_explain *x, bool want_ev)
{
    enum kms_grant_match m = KG_NONE;
    bool ok = false;

    GUARD(evaluate(rc, action, k, k->policy ? k->policy : "", c, &x->res,
                   want_ev ? x->evidence : NULL, want_ev ? sizeof x->evidence : 0));
    x->conditional = x->res.conditional;
    if (x->res.decision == DECISION_ALLOW) {
        x->allowed = true;
        x->source = KX_KEY_POLICY;
        return TR_OK;
    }
    if (x->res.decision != DECISION_IMPLICIT_DENY) return TR_OK;
    char gev[sizeof x->evidence] = "";
    GUARD(grant_allows(rc, action, k, in, c, &ok, &m, x->grant_id, want_ev ? gev : NULL,
                       want_ev ? sizeof gev : 0));
    if (!ok) return TR_OK;
    x->allowed = true;
    x->source = KX_GRANT;
    if (!want_ev) return TR_OK;
    /* Evidence is for people: a long grant line is cut, never overflowed. */
    snprintf(x->evidence, sizeof x->evidence, "grant %.64s on %.300s to %s%s%.500s", x->grant_id,
             k->arn, m == KG_DIRECT ? "the caller" : "the caller's account",
             gev[0] ? "; IAM: " : "", gev);
    return TR_OK;
}

TR_RESULT kms_authorize_explain(struct req_ctx *rc, const char *action, const struct key_rec *k,
                                const struct kms_authz_in *in, struct kms_explain *out)
{
    struct kctx c;
    tr_result r;

    memset(out, 0, sizeof *out);
    r = kctx_build(&c, rc, action, k, in);
    if (tr_ok(r) && !k) {
        /* Account-level actions: IAM policies alone decide (as in
         * kms_authorize_in). */
        struct authz_req ar = {
            .action = action, .resource = "*", .resource_account = rc->who.account_id,
            .mode = RES_NONE, .extra = c.e, .nextra = c.n, .no_fail = true,
        };
        r = iam_authorize(rc, &ar, &out->res);
        if (tr_ok(r)) iam_result_evidence(&out->res, out->evidence, sizeof out->evidence);
        out->allowed = out->res.decision == DECISION_ALLOW;
        out->conditional = out->res.conditional;
        if (tr_ok(r) && !out->allowed) {
            struct eval_request rq = { .who = { .arn = rc->who.arn, .account = rc->who.account_id },
                                       .action = action, .resource = "*" };
            policy_denied_message(&rq, &out->res, NULL, out->message, sizeof out->message);
        }
        out->res.nrefs = 0;
        out->res.ncond_refs = 0;
        kctx_free(&c);
        return r;
    }
    if (tr_ok(r)) r = decide(rc, action, k, in, &c, out, true);
    if (tr_ok(r) && !out->allowed) {
        struct eval_request rq = {
            .who = { .arn = rc->who.arn, .account = rc->who.account_id },
            .action = action,
            .resource = k->arn,
        };
        policy_denied_message(&rq, &out->res, NULL, out->message, sizeof out->message);
    }
    /* The refs named policies that are gone now. */
    out->res.nrefs = 0;
    out->res.ncond_refs = 0;
    kctx_free(&c);
    return r;
}

TR_RESULT kms_authorize_in(struct req_ctx *rc, const char *action, const struct key_rec *k,
                           const struct kms_authz_in *in)
{
    struct kctx c;
    struct kms_explain *x = NULL;
    tr_result r;

    r = kctx_build(&c, rc, action, k, in);
    if (tr_failed(r)) goto fail;
    if (!k) {
        /* Account-level actions: IAM policies alone decide. */
        struct authz_req ar = {
            .action = action, .resource = "*", .resource_account = rc->who.account_id,
            .mode = RES_NONE, .extra = c.e, .nextra = c.n,
        };
        r = iam_authorize(rc, &ar, NULL);
        goto fail;
    }
    x = calloc(1, sizeof *x);
    if (!x) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    r = decide(rc, action, k, in, &c, x, false);
    if (tr_failed(r) || x->allowed) goto fail;
    r = denied(rc, action, k->arn, &x->res);
fail:
    free(x);
    kctx_free(&c);
    return r;
}

TR_RESULT kms_authorize(struct req_ctx *rc, const char *action,
                        const struct key_rec *k, json_t *ctx)
{
    struct kms_authz_in in = { .ctx = ctx };
    return kms_authorize_in(rc, action, k, &in);
}
