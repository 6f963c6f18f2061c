/*
 * federated.c -- the federated readers of a secret (analyze.h, az_fed;
 * docs/WHO_CAN_DECRYPT.md, "Federated readers").
 *
 * A role whose trust policy allows sts:AssumeRoleWithWebIdentity to an
 * OpenID Connect provider ({"Federated": PROVIDER_ARN}, or "Principal":
 * "*") is one more way into the role: whoever holds a token of that
 * issuer that meets the statement's conditions becomes a session of the
 * role, and reads what the role reads (who_can.c decided that, with the
 * role's permissions, boundary and onward hops).  Each Allow statement
 * naming a provider is one reader; whether the trust policy as a whole
 * lets such a token in is the evaluator's decision (a web identity caller,
 * the token's claims unknown), so a Deny statement for the provider
 * removes it.
 */
#include "analyze/analyze.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/array.h"
#include "core/str.h"
#include "iam/iam_util.h"
#include "iam/policy.h"

static const char ACTION[] = "sts:AssumeRoleWithWebIdentity";

/* Does an Action element (a string or an array of them) cover ACTION?
 * (A NotAction statement is left to the evaluator: not listed here.) */
static bool covers_action(json_t *a)
{
    size_t i;
    json_t *e;
    if (json_is_string(a)) return policy_action_match(json_string_value(a), ACTION);
    json_array_foreach(a, i, e) if (covers_action(e)) return true;
    return false;
}

/* Add every ARN of a Federated element naming an OIDC provider to *v. */
static TR_RESULT providers_of(json_t *fed, char ***v, size_t *n, size_t *cap)
{
    size_t i;
    json_t *e;
    if (json_is_string(fed)) {
        const char *s = json_string_value(fed);
        if (strncmp(s, "arn:aws:iam::", 13) == 0 && strstr(s, ":oidc-provider/"))
            return strs_add_unique(v, n, cap, s);
        return TR_OK;
    }
    json_array_foreach(fed, i, e) GUARD(providers_of(e, v, n, cap));
    return TR_OK;
}

/* The statement's conditions as [{"key","operator","values"}]. */
static json_t *conditions_of(json_t *st)
{
    json_t *out = json_array(), *keys, *vals;
    const char *op, *key;
    json_object_foreach(json_object_get(st, "Condition"), op, keys) json_object_foreach(keys, key, vals) {
        json_t *list = json_is_array(vals) ? json_incref(vals) : json_pack("[O]", vals);
        json_array_append_new(out, json_pack("{s:s, s:s, s:o}", "key", key, "operator", op, "values",
                                             list));
    }
    return out;
}

/* Does a condition test the issuer's sub claim?  (An aud condition alone
 * does not pin a workload: GitHub's audience is the same for every
 * repository, which is why AWS's console warns about it.) */
static bool pins_token(json_t *conds, const char *issuer)
{
    size_t i, len = strlen(issuer);
    json_t *c;
    json_array_foreach(conds, i, c) {
        const char *k = json_string_value(json_object_get(c, "key"));
        const char *suffix = k && strcmp(issuer, "*") == 0 ? strrchr(k, ':') : NULL;
        if (!suffix && k && strncasecmp(k, issuer, len) == 0 && k[len] == ':') suffix = k + len;
        if (suffix && strcasecmp(suffix, ":sub") == 0) return true;
    }
    return false;
}

/* Would the trust policy let a token of `provider` in (its claims, and
 * every other key a condition names, unknown)? */
static TR_RESULT admits(const struct az_node *role, json_t *doc, const char *provider, bool *ok)
{
    const char *keys[64];
    size_t nkeys = 0, i;
    json_t *st, *sts = json_object_get(doc, "Statement"), *one = NULL;
    static const char *const any[] = { "" };
    struct ctx_entry ctx[65];
    const char *const fp[] = { provider };
    if (json_is_object(sts)) sts = one = json_pack("[O]", sts);
    json_array_foreach(sts, i, st) {
        const char *op, *key;
        json_t *ks, *v;
        json_object_foreach(json_object_get(st, "Condition"), op, ks) json_object_foreach(ks, key, v)
            if (nkeys < 64 && strcasecmp(key, "aws:FederatedProvider") != 0) keys[nkeys++] = key;
    }
    for (i = 0; i < nkeys; i++)
        ctx[i] = (struct ctx_entry){ .key = keys[i], .values = any, .n = 1, .unknown = true };
    size_t nctx = nkeys;
    if (strcmp(provider, "*") != 0)
        ctx[nctx++] = (struct ctx_entry){ .key = "aws:FederatedProvider", .values = fp, .n = 1 };
    else
        ctx[nctx++] = (struct ctx_entry){ .key = "aws:FederatedProvider", .values = any, .n = 1,
                                          .unknown = true };
    char fake[PRINCIPAL_ARN_MAX];
    /* "Principal": "*" admits any provider: one no policy names. */
    snprintf(fake, sizeof fake, "arn:aws:iam::%s:oidc-provider/*", role->account);  /* fits: 12 digits */
    struct eval_request rq = {
        .who = { .type = EP_WEB_IDENTITY, .arn = strcmp(provider, "*") ? provider : fake,
                 .account = role->account },
        .action = ACTION, .resource = role->arn, .resource_account = role->account,
        .ctx = ctx, .nctx = nctx,
    };
    struct named_policy np = { .p = role->trust, .name = "trust" };
    struct policy_set ps = { .resource = &np, .mode = RES_REQUIRED };
    struct eval_result res;
    tr_result r = policy_evaluate(&rq, &ps, &res);
    *ok = tr_ok(r) && res.decision == DECISION_ALLOW;
    json_decref(one);
    return r;
}

static TR_RESULT add(const struct az_graph *g, size_t role, const char *provider, json_t *st,
                     size_t idx, bool cond, struct az_fed **v, size_t *n, size_t *cap)
{
    struct az_fed *x = array_grow(*v, cap, *n, sizeof **v, 8);
    ENSURE(x != NULL, TR_E_INTERNAL);
    *v = x;
    struct az_fed *f = &x[*n];
    memset(f, 0, sizeof *f);
    f->role = role;
    f->conditional = cond;
    GUARD(str_copy(f->provider, sizeof f->provider, provider, "provider ARN"));
    const char *host = strstr(provider, ":oidc-provider/");
    GUARD(str_copy(f->issuer, sizeof f->issuer, host ? host + 15 : "*", "issuer"));
    const char *sid = json_string_value(json_object_get(st, "Sid"));
    if (sid && *sid) GUARD(str_copy(f->statement, sizeof f->statement, sid, "statement id"));
    else snprintf(f->statement, sizeof f->statement, "%zu", idx);   /* fits: a number */
    f->conditions = conditions_of(st);
    ENSURE(f->conditions != NULL, TR_E_INTERNAL);
    (*n)++;
    f->any_token = !pins_token(f->conditions, f->issuer);
    f->provider_exists = true;
    if (host) {
        struct ent_rec e;
        memset(&e, 0, sizeof e);
        store_t s = g->env->st;
        tr_result r = s[0]->ent_get_arn(s, IAM_OIDC_PROVIDER, provider, &e);
        if (tr_failed(r) && tr_code(r) != TR_E_STORE_NOT_FOUND) return r;
        f->provider_exists = tr_ok(r);
        if (tr_ok(r)) ent_rec_free(&e);
    }
    return TR_OK;
}

/* The readers of one role into *v. */
static TR_RESULT role_readers(const struct az_graph *g, size_t role, bool cond, struct az_fed **v,
                              size_t *n, size_t *cap)
{
    /* Only a statement whose Principal is "*" or names Federated
     * providers admits tokens: a trust policy whose text holds neither
     * (nor a \u escape, which could spell them) has no federated readers,
     * and is not parsed -- --all asks this of every reading role for
     * every secret. */
    const char *text = g->n[role].trust_doc;
    if (!strstr(text, "Federated") && !strstr(text, "\"*\"") && !strstr(text, "\\u")) return TR_OK;
    json_t *doc = json_loads(g->n[role].trust_doc, 0, NULL), *sts = json_object_get(doc, "Statement");
    json_t *one = json_is_object(sts) ? json_pack("[O]", sts) : NULL, *st;
    size_t i;
    tr_result r = TR_OK;
    if (one) sts = one;
    json_array_foreach(sts, i, st) {
        const char *eff = json_string_value(json_object_get(st, "Effect"));
        json_t *pr = json_object_get(st, "Principal");
        if (!eff || strcmp(eff, "Allow") != 0 || !covers_action(json_object_get(st, "Action"))) continue;
        char **prov = NULL;
        size_t np = 0, capp = 0;
        if (json_is_string(pr) && strcmp(json_string_value(pr), "*") == 0)
            r = strs_add_unique(&prov, &np, &capp, "*");
        else
            r = providers_of(json_object_get(pr, "Federated"), &prov, &np, &capp);
        for (size_t k = 0; tr_ok(r) && k < np; k++) {
            bool ok = false;
            r = admits(&g->n[role], doc, prov[k], &ok);
            if (tr_ok(r) && ok) r = add(g, role, prov[k], st, i, cond, v, n, cap);
        }
        strs_free(prov, np);
        if (tr_failed(r)) break;
    }
    json_decref(one);
    json_decref(doc);
    return r;
}

TR_RESULT az_federated(const struct az_graph *g, const struct az_answer *ans, struct az_fed **out,
                       size_t *n)
{
    struct az_fed *v = NULL;
    size_t nv = 0, cap = 0;
    tr_result r = TR_OK;
    for (size_t i = 0; i < g->nn && tr_ok(r); i++)
        /* ans[i] first: --all asks this of every node for every secret,
         * and the answers are packed closer than the nodes. */
        if (ans[i].can && g->n[i].kind == AZ_ROLE && g->n[i].trust && g->n[i].trust_doc)
            r = role_readers(g, i, ans[i].conditional, &v, &nv, &cap);
    if (tr_failed(r)) {
        az_federated_free(v, nv);
        return r;
    }
    *out = v;
    *n = nv;
    return TR_OK;
}

void az_federated_free(struct az_fed *v, size_t n)
{
    for (size_t i = 0; i < n; i++) json_decref(v[i].conditions);
    free(v);
}

/* A condition's values: "a", "a or b" (cut to fit). */
static void values_words(json_t *vals, char *out, size_t n)
{
    size_t i, at = 0;
    json_t *e;
    out[0] = '\0';
    json_array_foreach(vals, i, e) {
        char *s = json_is_string(e) ? NULL : json_dumps(e, JSON_ENCODE_ANY | JSON_COMPACT);
        int k = snprintf(out + at, n - at, "%s%s", i ? " or " : "", s ? s : json_string_value(e));
        free(s);
        if (k < 0 || (size_t)k >= n - at) break;      /* cut: text for people */
        at += (size_t)k;
    }
}

void az_federated_words(const struct az_graph *g, const struct az_fed *f, char *out, size_t n)
{
    size_t at = 0, i, len = strlen(f->issuer);
    json_t *c;
    int k;
    const char *rname = strrchr(g->n[f->role].arn, '/');
    if (strcmp(f->provider, "*") == 0)
        k = snprintf(out, n, "tokens of any issuer (\"Principal\": \"*\")");
    else
        k = snprintf(out, n, "tokens of issuer %s", f->issuer);
    if (k > 0 && (size_t)k < n) at = (size_t)k;
    json_array_foreach(f->conditions, i, c) {
        const char *key = json_string_value(json_object_get(c, "key"));
        const char *op = json_string_value(json_object_get(c, "operator"));
        char vals[512];
        values_words(json_object_get(c, "values"), vals, sizeof vals);
        if (strcmp(f->issuer, "*") != 0 && strncasecmp(key, f->issuer, len) == 0 && key[len] == ':')
            k = snprintf(out + at, n - at, "%s whose %s matches %s (%s)", i ? " and" : "", key + len + 1,
                         vals, op);
        else
            k = snprintf(out + at, n - at, "%s %s %s %s", i ? " and if" : " if", key, op, vals);
        if (k < 0 || (size_t)k >= n - at) return;     /* cut: text for people */
        at += (size_t)k;
    }
    snprintf(out + at, n - at, " can read, through role %s (statement %s)",    /* cut: as above */
             rname ? rname + 1 : g->n[f->role].arn, f->statement);
}

json_t *az_federated_json(const struct az_graph *g, const struct az_fed *f)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:O, s:b, s:b, s:b}", "kind", "federated", "provider",
                     f->provider, "issuer", f->issuer, "role", g->n[f->role].arn, "statement",
                     f->statement, "conditions", f->conditions, "anyToken", f->any_token,
                     "providerExists", f->provider_exists, "conditional", f->conditional);
}
