/*
 * web_identity.c -- a web identity token's checks and the trust decision
 * on it (web_identity.h).  The order is docs/OIDC.md's:
 *   1. size and shape: three base64url parts, header and claims JSON
 *      objects, alg RS256 or ES256 (InvalidIdentityToken, MALFORMED_MSG);
 *   2. iss names an OpenID Connect provider of the role's account
 *      (InvalidIdentityToken "No OpenIDConnect provider found in your
 *      account for ISS");
 *   3. the signature, with the issuer's key of the token's kid: the
 *      --oidc-jwks file's, else fetched (fetched once more for an unknown
 *      kid); no key set at all is IDPCommunicationError, no key of that kid
 *      InvalidIdentityToken KEY_MSG, a bad signature InvalidIdentityToken
 *      INVALID_MSG;
 *   4. aud (a string or a list) holds one of the provider's client ids, or
 *      azp is one (InvalidIdentityToken "Incorrect token audience");
 *   5. exp is in the future (ExpiredTokenException "Token expired: current
 *      date/time N must be before the expiration date/time M", AWS's text
 *      with its missing space); nbf and iat may be at most 5 minutes ahead
 *      of our clock (InvalidIdentityToken INVALID_MSG).
 * The refusal's reason goes to w->why (claims only: the token is a bearer
 * credential and is never logged).
 */
#include "iam/web_identity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/str.h"
#include "oidc/keys.h"

#define CLOCK_SKEW 300          /* seconds nbf/iat may be ahead */

static const char MALFORMED_MSG[] = "The ID Token provided is not a valid JWT. (You may see this error if "
                                    "you sent an Access Token)";
static const char KEY_MSG[] = "Couldn't retrieve verification key from your identity provider,  please "
                              "reference AssumeRoleWithWebIdentity documentation for requirements";
static const char INVALID_MSG[] = "The web identity token that was passed could not be validated by AWS. "
                                  "Get a new identity token from the identity provider and then retry the "
                                  "request.";

void web_identity_free(struct web_identity *w)
{
    if (w->parsed) jwt_free(&w->t);
    w->parsed = false;
}

static tr_result refuse(struct web_identity *w, const char *check, enum tr_err code, const char *msg,
                        const char *why)
{
    w->check = check;
    snprintf(w->why, sizeof w->why, "%s", why);   /* cut: text for people */
    return tr_fail_at(__FILE__, __LINE__, code, "%s", msg);
}

/* Whether the JSON string v is one of the ids. */
static bool among(json_t *ids, const char *v)
{
    size_t i;
    json_t *e;
    json_array_foreach(ids, i, e) if (v && json_is_string(e) && strcmp(json_string_value(e), v) == 0) return true;
    return false;
}

static TR_RESULT check_signature(struct web_identity *w)
{
    json_t *jwks = NULL;
    char why[JWT_WHY_MAX], fetch[256] = "";
    if (oidc_keys_get(w->iss, 0, &jwks, fetch, sizeof fetch) != OIDC_KEYS_OK) {
        snprintf(why, sizeof why, "no keys for %.60s: %.80s", w->host, fetch);   /* cut: text for people */
        return refuse(w, "keys", TR_E_STS_IDP_COMMUNICATION, KEY_MSG, why);
    }
    enum jwt_rc rc = jwt_verify(&w->t, jwks, why);
    json_decref(jwks);
    if (rc == JWT_NO_KEY && oidc_keys_get(w->iss, 1, &jwks, fetch, sizeof fetch) == OIDC_KEYS_OK) {
        rc = jwt_verify(&w->t, jwks, why);
        json_decref(jwks);
    }
    if (rc == JWT_OK) return TR_OK;
    if (rc == JWT_NO_KEY) return refuse(w, "kid", TR_E_STS_INVALID_IDENTITY_TOKEN, KEY_MSG, why);
    return refuse(w, "signature", TR_E_STS_INVALID_IDENTITY_TOKEN, INVALID_MSG, why);
}

static TR_RESULT check_audience(struct web_identity *w, json_t *client_ids)
{
    json_t *aud = json_object_get(w->t.claims, "aud");
    const char *azp = json_string_value(json_object_get(w->t.claims, "azp"));
    char why[512];
    if (json_is_string(aud) && among(client_ids, json_string_value(aud))) {
        w->aud = json_string_value(aud);
        return TR_OK;
    }
    size_t i;
    json_t *e;
    if (json_is_array(aud))
        json_array_foreach(aud, i, e) if (json_is_string(e) && among(client_ids, json_string_value(e))) {
            w->aud = json_string_value(e);
            return TR_OK;
        }
    if (azp && among(client_ids, azp)) {       /* AWS: azp is the audience when it is a client id */
        w->aud = azp;
        w->oaud = aud;
        return TR_OK;
    }
    char *a = aud ? json_dumps(aud, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    char *c = json_dumps(client_ids, JSON_COMPACT);
    /* cut: text for people */
    snprintf(why, sizeof why, "aud %.200s is none of the provider's client ids %.200s", a ? a : "(none)",
             c ? c : "[]");
    free(a);
    free(c);
    return refuse(w, "audience", TR_E_STS_INVALID_IDENTITY_TOKEN, "Incorrect token audience", why);
}

static TR_RESULT check_times(struct web_identity *w, int64_t now)
{
    json_t *exp = json_object_get(w->t.claims, "exp"), *nbf = json_object_get(w->t.claims, "nbf"),
           *iat = json_object_get(w->t.claims, "iat");
    char why[200];
    if (!json_is_integer(exp) && !json_is_real(exp))
        return refuse(w, "expiry", TR_E_STS_INVALID_IDENTITY_TOKEN, MALFORMED_MSG, "no exp claim");
    int64_t e = (int64_t)json_number_value(exp);
    if (now >= e) {
        char msg[160];
        /* cut: text for people */
        snprintf(why, sizeof why, "exp %lld is not after now %lld", (long long)e, (long long)now);
        /* cut: text for people */
        snprintf(msg, sizeof msg, "Token expired: current date/time %lld must be before the expiration "
                 "date/time%lld", (long long)now, (long long)e);
        return refuse(w, "expiry", TR_E_STS_EXPIRED_WEB_TOKEN, msg, why);
    }
    if (json_is_number(nbf) && (int64_t)json_number_value(nbf) > now + CLOCK_SKEW) {
        snprintf(why, sizeof why, "nbf %lld is more than %d s after now %lld",   /* cut: text for people */
                 (long long)json_number_value(nbf), CLOCK_SKEW, (long long)now);
        return refuse(w, "expiry", TR_E_STS_INVALID_IDENTITY_TOKEN, INVALID_MSG, why);
    }
    if (json_is_number(iat) && (int64_t)json_number_value(iat) > now + CLOCK_SKEW) {
        snprintf(why, sizeof why, "iat %lld is more than %d s after now %lld",   /* cut: text for people */
                 (long long)json_number_value(iat), CLOCK_SKEW, (long long)now);
        return refuse(w, "expiry", TR_E_STS_INVALID_IDENTITY_TOKEN, INVALID_MSG, why);
    }
    return TR_OK;
}

TR_RESULT web_identity_verify(store_t st, const char *account, const char *token, int64_t now,
                              struct web_identity *w)
{
    char why[JWT_WHY_MAX];
    memset(w, 0, sizeof *w);
    enum jwt_rc rc = jwt_parse(token, strlen(token), &w->t, why);
    if (rc != JWT_OK)
        return refuse(w, rc == JWT_TOO_LARGE ? "size" : "format", TR_E_STS_INVALID_IDENTITY_TOKEN,
                      MALFORMED_MSG, why);
    w->parsed = true;
    w->iss = json_string_value(json_object_get(w->t.claims, "iss"));
    w->sub = json_string_value(json_object_get(w->t.claims, "sub"));
    if (!w->iss || !w->sub)
        return refuse(w, "format", TR_E_STS_INVALID_IDENTITY_TOKEN, MALFORMED_MSG, "no iss or sub claim");
    /* The provider: iss without https://, in the role's account. */
    struct ent_rec p = { 0 };
    bool found = false;
    if (strncmp(w->iss, "https://", 8) == 0 && strlen(w->iss + 8) < sizeof w->host) {
        snprintf(w->host, sizeof w->host, "%s", w->iss + 8);   /* cut: text for people */
        tr_result r = st[0]->ent_get(st, IAM_OIDC_PROVIDER, account, w->host, &p);
        found = tr_ok(r);
        if (tr_failed(r) && tr_code(r) != TR_E_STORE_NOT_FOUND) return r;
    }
    if (!found) {
        char msg[400], detail[400];
        /* cut: text for people */
        snprintf(msg, sizeof msg, "No OpenIDConnect provider found in your account for %.300s", w->iss);
        /* cut: text for people */
        snprintf(detail, sizeof detail, "iss %.300s is no OpenID Connect provider of account %s", w->iss,
                 account);
        return refuse(w, "issuer", TR_E_STS_INVALID_IDENTITY_TOKEN, msg, detail);
    }
    snprintf(w->provider_arn, sizeof w->provider_arn, "%s", p.arn);   /* cut: text for people */
    json_t *doc = iam_doc(&p);
    ent_rec_free(&p);
    ENSURE(doc != NULL, TR_E_INTERNAL);
    tr_result r = check_signature(w);
    if (tr_ok(r)) r = check_audience(w, json_object_get(doc, "client_ids"));
    if (tr_ok(r)) r = check_times(w, now);
    if (w->oaud) json_incref(w->oaud);      /* doc goes; the claims stay */
    json_decref(w->oaud);
    json_decref(doc);
    return r;
}

/* ---- the trust policy --------------------------------------------------- */

TR_RESULT web_identity_context(const struct web_identity *w, struct ctx_builder *cb)
{
    char key[360];
    GUARD(str_format(key, sizeof key, "a condition key", "%s:aud", w->host));
    GUARD(iam_ctx_add(cb, key, w->aud));
    GUARD(str_format(key, sizeof key, "a condition key", "%s:sub", w->host));
    GUARD(iam_ctx_add(cb, key, w->sub));
    json_t *amr = json_object_get(w->t.claims, "amr");
    const char *vals[16];
    size_t n = 0, i;
    json_t *e;
    if (json_is_string(amr)) vals[n++] = json_string_value(amr);
    json_array_foreach(amr, i, e) if (json_is_string(e) && n < 16) vals[n++] = json_string_value(e);
    if (n) {
        GUARD(str_format(key, sizeof key, "a condition key", "%s:amr", w->host));
        GUARD(iam_ctx_add_multi(cb, key, vals, n));
    }
    n = 0;
    if (json_is_string(w->oaud)) vals[n++] = json_string_value(w->oaud);
    json_array_foreach(w->oaud, i, e) if (json_is_string(e) && n < 16) vals[n++] = json_string_value(e);
    if (n) {
        GUARD(str_format(key, sizeof key, "a condition key", "%s:oaud", w->host));
        GUARD(iam_ctx_add_multi(cb, key, vals, n));
    }
    GUARD(iam_ctx_add(cb, "aws:FederatedProvider", w->provider_arn));
    return TR_OK;
}

/* Decide `action` with policy p alone. */
static TR_RESULT decide(const struct web_identity *w, const char *action, const char *role_arn,
                        const char *role_account, const struct named_policy *np,
                        const struct ctx_builder *cb, bool *allowed)
{
    struct eval_request rq = {
        .who = { .type = EP_WEB_IDENTITY, .arn = w->provider_arn, .account = role_account },
        .action = action, .resource = role_arn, .resource_account = role_account,
        .ctx = cb->e, .nctx = cb->n,
    };
    struct policy_set ps = { .resource = np, .mode = RES_REQUIRED };
    struct eval_result res;
    GUARD(policy_evaluate(&rq, &ps, &res));
    *allowed = res.decision == DECISION_ALLOW;
    return TR_OK;
}

/* Whether statement st names this provider as a Federated principal. */
static bool names_provider(json_t *st, const char *arn)
{
    json_t *fed = json_object_get(json_object_get(st, "Principal"), "Federated");
    const char *one = json_string_value(fed);
    if (one) return strcmp(one, arn) == 0;
    return among(fed, arn);
}

/* The context's values of key, as text ("(absent)" when none). */
static void ctx_values(const struct ctx_builder *cb, const char *key, char *out, size_t n)
{
    snprintf(out, n, "(absent)");   /* cut: text for people */
    for (size_t i = 0; i < cb->n; i++) {
        if (strcasecmp(cb->e[i].key, key) != 0) continue;
        size_t len = 0;
        out[0] = 0;
        for (size_t j = 0; j < cb->e[i].n && len < n; j++)
            len += (size_t)snprintf(out + len, n - len, "%s%s", j ? "," : "", cb->e[i].values[j]);
        return;
    }
}

/* Append one failed condition of statement `idx` to explain[]. */
static void explain_statement(const struct web_identity *w, const char *action, const char *role_arn,
                              const char *role_account, json_t *st, size_t idx,
                              const struct ctx_builder *cb, char *explain, size_t *len)
{
    const char *sid = json_string_value(json_object_get(st, "Sid"));
    json_t *cond = json_object_get(st, "Condition"), *keys, *vals;
    const char *op, *key;
    size_t before = *len;
    json_object_foreach(cond, op, keys) json_object_foreach(keys, key, vals) {
        json_t *doc = json_pack("{s:s, s:[{s:s, s:{s:s}, s:s, s:{s:{s:O}}}]}", "Version", "2012-10-17",
                                "Statement", "Effect", "Allow", "Principal", "Federated", w->provider_arn,
                                "Action", action, "Condition", op, key, vals);
        char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        struct policy *p = NULL;
        bool ok = true;
        if (text && tr_ok(policy_compile(text, strlen(text), POLICY_TRUST, &p))) {
            struct named_policy np = { .p = p, .name = "condition" };
            if (tr_failed(decide(w, action, role_arn, role_account, &np, cb, &ok))) ok = true;
            policy_unref(p);
        }
        if (!ok && *len < WEB_EXPLAIN_MAX) {
            char want[300], got[300];
            char *v = json_dumps(vals, JSON_COMPACT | JSON_ENCODE_ANY);
            snprintf(want, sizeof want, "%s", v ? v : "?");   /* cut: text for people */
            free(v);
            ctx_values(cb, key, got, sizeof got);
            *len += (size_t)snprintf(explain + *len, WEB_EXPLAIN_MAX - *len,
                                     "; statement %zu%s%s%s: %s %s %s does not hold for the token's %s",
                                     idx, sid ? " (" : "", sid ? sid : "", sid ? ")" : "", op, key, want, got);
        }
        free(text);
        json_decref(doc);
    }
    if (*len == before && *len < WEB_EXPLAIN_MAX)
        *len += (size_t)snprintf(explain + *len, WEB_EXPLAIN_MAX - *len,
                                 "; statement %zu%s%s%s names the provider but does not allow %s%s", idx,
                                 sid ? " (" : "", sid ? sid : "", sid ? ")" : "", action,
                                 strcmp(json_string_value(json_object_get(st, "Effect")) ?
                                        json_string_value(json_object_get(st, "Effect")) : "", "Deny") == 0
                                     ? " (it is a Deny)" : "");
}

TR_RESULT web_identity_trust(const struct web_identity *w, const char *action, const char *role_arn,
                             const char *role_account, const struct named_policy *trust,
                             const char *trust_text, const struct ctx_builder *cb, bool *allowed,
                             char explain[WEB_EXPLAIN_MAX])
{
    ENSURE_REF(w);
    GUARD(decide(w, action, role_arn, role_account, trust, cb, allowed));
    if (*allowed) return TR_OK;
    size_t len = (size_t)snprintf(explain, WEB_EXPLAIN_MAX, "trust policy of %s refuses %s for %s",
                                  role_arn, action, w->provider_arn);
    json_t *doc = json_loads(trust_text, 0, NULL), *sts = json_object_get(doc, "Statement"), *st;
    size_t i, named = 0;
    if (json_is_object(sts)) {
        if (names_provider(sts, w->provider_arn))
            explain_statement(w, action, role_arn, role_account, sts, 0, cb, explain, &len), named++;
    } else {
        json_array_foreach(sts, i, st) if (names_provider(st, w->provider_arn)) {
            explain_statement(w, action, role_arn, role_account, st, i, cb, explain, &len);
            named++;
        }
    }
    if (!named && len < WEB_EXPLAIN_MAX)
        /* cut: text for people */
        snprintf(explain + len, WEB_EXPLAIN_MAX - len, "; no statement names this provider");
    json_decref(doc);
    return TR_OK;
}
