/*
 * bindings.c -- principals bound by identity (bindings.h).
 *
 * A binding is made when a policy is saved and never changes afterwards:
 * the compiled-policy cache keys on (text, binding), so creating or
 * deleting users and roles needs no invalidation -- a request matches by
 * the caller's unique id, which a new entity of the same name does not
 * share.  Only reading a policy back looks at the entities as they are
 * now (iam_policy_shown).
 */
#include "iam/bindings.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "store/walk.h"


static bool is_not_found(tr_result r)
{
    return tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND;
}

/* The entity kind ("user", "role") an IAM principal ARN names, or NULL. */
static const char *arn_kind(const char *arn)
{
    const char *colon = arn;
    for (int i = 0; i < 5 && colon; i++) {
        colon = strchr(colon, ':');
        if (colon) colon++;
    }
    if (!colon || strncmp(arn, "arn:", 4) != 0) return NULL;
    const char *svc = strchr(arn + 4, ':');
    if (!svc || strncmp(svc, ":iam:", 5) != 0) return NULL;
    if (strncmp(colon, "user/", 5) == 0 && colon[5]) return "user";
    if (strncmp(colon, "role/", 5) == 0 && colon[5]) return "role";
    return NULL;
}

TR_RESULT iam_bind_principal(store_t st, const char *arn, char **out)
{
    struct ent_rec e = { 0 };
    *out = NULL;
    const char *kind = arn ? arn_kind(arn) : NULL;
    if (!kind) return TR_OK;
    tr_result r = st[0]->ent_get_arn(st, kind, arn, &e);
    if (is_not_found(r)) return TR_OK;
    GUARD(r);
    *out = strdup(e.id);
    ent_rec_free(&e);
    ENSURE(*out != NULL, TR_E_INTERNAL);
    return TR_OK;
}

struct bind_walk {
    store_t st;
    json_t *ids;
};

static TR_RESULT bind_one(void *arg, const char *principal)
{
    struct bind_walk *w = arg;
    char *id = NULL;
    if (json_object_get(w->ids, principal)) return TR_OK;
    GUARD(iam_bind_principal(w->st, principal, &id));
    if (!id) return TR_OK;
    int rc = json_object_set_new(w->ids, principal, json_string(id));
    free(id);
    ENSURE(rc == 0, TR_E_INTERNAL);
    return TR_OK;
}

TR_RESULT iam_bind_policy(store_t st, const char *text, enum policy_kind kind, char **out)
{
    struct policy *p = NULL;
    struct bind_walk w = { st, json_object() };
    *out = NULL;
    ENSURE(w.ids != NULL, TR_E_INTERNAL);
    tr_result r = policy_compile(text, strlen(text), kind, &p);
    if (tr_ok(r)) r = policy_each_aws_principal(p, bind_one, &w);
    if (tr_ok(r)) {
        *out = json_dumps(w.ids, JSON_COMPACT | JSON_SORT_KEYS);
        if (!*out) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    policy_unref(p);
    json_decref(w.ids);
    return r;
}

/* ---- reading a policy back ------------------------------------------------ */

/* What a bound ARN reads as now: NULL when unchanged (the entity still
 * has it), else a new string (its ARN now, or the id when it is gone). */
static TR_RESULT shown_as(store_t st, const char *arn, const char *id, char **out)
{
    struct ent_rec e = { 0 };
    *out = NULL;
    const char *kind = strncmp(id, "AIDA", 4) == 0 ? "user" : strncmp(id, "AROA", 4) == 0 ? "role" : NULL;
    ENSURE(kind != NULL, TR_E_INTERNAL);
    tr_result r = st[0]->ent_get_id(st, kind, id, &e);
    if (is_not_found(r)) {
        *out = strdup(id);
        ENSURE(*out != NULL, TR_E_INTERNAL);
        return TR_OK;
    }
    GUARD(r);
    if (strcmp(e.arn, arn) != 0) *out = strdup(e.arn);
    bool oom = strcmp(e.arn, arn) != 0 && !*out;
    ent_rec_free(&e);
    ENSURE(!oom, TR_E_INTERNAL);
    return TR_OK;
}

/* Replace, in one Principal/NotPrincipal value, the AWS strings found in
 * `now` (ARN -> what it reads as). */
static TR_RESULT rewrite_principal(json_t *pr, json_t *now)
{
    json_t *aws = json_is_object(pr) ? json_object_get(pr, "AWS") : NULL;
    if (json_is_string(aws)) {
        json_t *to = json_object_get(now, json_string_value(aws));
        if (to) ENSURE(json_object_set(pr, "AWS", to) == 0, TR_E_INTERNAL);
        return TR_OK;
    }
    size_t i;
    json_t *v;
    json_array_foreach(aws, i, v) {
        json_t *to = json_is_string(v) ? json_object_get(now, json_string_value(v)) : NULL;
        if (to) ENSURE(json_array_set(aws, i, to) == 0, TR_E_INTERNAL);
    }
    return TR_OK;
}

TR_RESULT iam_policy_shown(store_t st, const char *text, const char *ids, char **out)
{
    json_t *b = NULL, *now = NULL, *doc = NULL;
    tr_result r = TR_OK;
    *out = NULL;
    if (!text || !ids || !*ids) return TR_OK;
    b = json_loads(ids, 0, NULL);
    now = json_object();
    if (!json_is_object(b) || !now) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "a stored principal binding is not an object");
        goto fail;
    }
    const char *arn;
    json_t *id;
    json_object_foreach(b, arn, id) {
        char *to = NULL;
        if (!json_is_string(id)) continue;
        r = shown_as(st, arn, json_string_value(id), &to);
        if (tr_failed(r)) goto fail;
        if (to && json_object_set_new(now, arn, json_string(to)) != 0) r = tr_fail_at(__FILE__, __LINE__,
                                                                                      TR_E_INTERNAL, NULL);
        free(to);
        if (tr_failed(r)) goto fail;
    }
    if (json_object_size(now) == 0) goto fail;      /* reads as saved */
    doc = json_loads(text, 0, NULL);
    json_t *sts = json_object_get(doc, "Statement");
    json_t *one = json_is_object(sts) ? sts : NULL;
    size_t n = one ? 1 : json_array_size(sts);
    for (size_t i = 0; tr_ok(r) && i < n; i++) {
        json_t *s = one ? one : json_array_get(sts, i);
        r = rewrite_principal(json_object_get(s, "Principal"), now);
        if (tr_ok(r)) r = rewrite_principal(json_object_get(s, "NotPrincipal"), now);
    }
    if (tr_ok(r) && doc) {
        *out = json_dumps(doc, JSON_INDENT(2));
        if (!*out) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
fail:
    json_decref(doc);
    json_decref(now);
    json_decref(b);
    return r;
}

/* ---- checking a stored binding --------------------------------------------- */

struct named_walk {
    const char *arn;
    bool found;
};

static TR_RESULT find_named(void *arg, const char *principal)
{
    struct named_walk *w = arg;
    if (strcmp(principal, w->arn) == 0) w->found = true;
    return TR_OK;
}

bool iam_binding_valid(const char *text, enum policy_kind kind, const char *ids, const char **why)
{
    struct policy *p = NULL;
    json_t *b = json_loads(ids ? ids : "", JSON_REJECT_DUPLICATES, NULL);
    bool ok = json_is_object(b);
    *why = "it is not a JSON object";
    if (ok && tr_failed(policy_compile(text, strlen(text), kind, &p))) {
        *why = "its policy does not compile";
        ok = false;
    }
    const char *arn;
    json_t *id;
    json_object_foreach(ok ? b : NULL, arn, id) {
        const char *kindname = arn_kind(arn);
        const char *s = json_string_value(id);
        struct named_walk w = { arn, false };
        if (!kindname || !s || strncmp(s, strcmp(kindname, "user") == 0 ? "AIDA" : "AROA", 4) != 0) {
            *why = "it binds something other than a user ARN to a user id or a role ARN to a role id";
            ok = false;
            break;
        }
        if (tr_failed(policy_each_aws_principal(p, find_named, &w)) || !w.found) {
            *why = "it binds an ARN the policy does not name";
            ok = false;
            break;
        }
    }
    if (p) policy_unref(p);
    json_decref(b);
    tr_clear_error();
    return ok;
}

/* ---- binding what was saved before bindings ---------------------------------- */

#define PAGE 200

/* A policy that does not compile any more is left unbound (it denies
 * everything, docs/AUTHORIZATION.md 2.9); other failures stop the pass. */
static TR_RESULT bind_or_skip(store_t st, const char *text, enum policy_kind kind, char **out)
{
    tr_result r = iam_bind_policy(st, text, kind, out);
    if (tr_failed(r) && tr_code(r) == TR_E_POLICY_MALFORMED) {
        tr_clear_error();
        return TR_OK;
    }
    return r;
}

/* Key k's policy bound and k written back, when it has none yet
 * (arg: the count of records bound). */
static TR_RESULT bind_key(store_t st, struct key_rec *k, void *arg)
{
    size_t *bound = arg;
    if (k->policy_ids || !k->policy) return TR_OK;
    tr_result r = bind_or_skip(st, k->policy, POLICY_KEY, &k->policy_ids);
    if (tr_ok(r) && k->policy_ids) {
        r = st[0]->key_update(st, k);
        (*bound)++;
    }
    return r;
}

/* Entities of `kind` whose doc holds the policy `member` but no binding
 * `ids_member`. */
static TR_RESULT bind_entities(store_t st, const char *account, const char *kind,
                               enum policy_kind pkind, const char *member, const char *ids_member,
                               size_t *bound)
{
    char *after = NULL;
    tr_result r = TR_OK;
    for (;;) {
        struct ent_rec *v = NULL;
        size_t n = 0;
        r = st[0]->ent_list(st, kind, account, NULL, after, PAGE, &v, &n);
        for (size_t i = 0; i < n && tr_ok(r); i++) {
            json_t *d = json_loads(v[i].doc ? v[i].doc : "{}", 0, NULL);
            const char *text = json_string_value(json_object_get(d, member));
            char *ids = NULL, *doc = NULL;
            if (text && !json_object_get(d, ids_member)) r = bind_or_skip(st, text, pkind, &ids);
            if (tr_ok(r) && ids) {
                if (json_object_set_new(d, ids_member, json_string(ids)) == 0)
                    doc = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
                if (!doc) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
            }
            if (tr_ok(r) && doc) {
                char *old = v[i].doc;
                v[i].doc = doc;
                r = st[0]->ent_update(st, &v[i]);
                v[i].doc = old;
                (*bound)++;
            }
            free(doc);
            free(ids);
            json_decref(d);
        }
        free(after);
        after = NULL;
        if (tr_ok(r) && n == PAGE && !(after = strdup(v[n - 1].name)))
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        ent_list_free(v, n);
        GUARD(r);
        if (!after) return TR_OK;
    }
}

/* A grant's user or role principal `member` without `id_member`. */
static TR_RESULT bind_grant_member(store_t st, json_t *d, const char *member, const char *id_member,
                                   bool *changed)
{
    char *id = NULL;
    const char *arn = json_string_value(json_object_get(d, member));
    if (!arn || json_object_get(d, id_member)) return TR_OK;
    GUARD(iam_bind_principal(st, arn, &id));
    if (!id) return TR_OK;
    int rc = json_object_set_new(d, id_member, json_string(id));
    free(id);
    ENSURE(rc == 0, TR_E_INTERNAL);
    *changed = true;
    return TR_OK;
}

static TR_RESULT bind_grants(store_t st, size_t *bound)
{
    char *after_from = NULL, *after_to = NULL;
    tr_result r = TR_OK;
    for (;;) {
        struct rel_rec *v = NULL;
        size_t n = 0;
        r = st[0]->rel_list_kind(st, "grant", after_from, after_to, PAGE, &v, &n);
        for (size_t i = 0; i < n && tr_ok(r); i++) {
            json_t *d = json_loads(v[i].doc ? v[i].doc : "", 0, NULL);
            bool changed = false;
            char *doc = NULL;
            if (d) r = bind_grant_member(st, d, "grantee", "grantee_id", &changed);
            if (d && tr_ok(r)) r = bind_grant_member(st, d, "retiring", "retiring_id", &changed);
            if (tr_ok(r) && changed && !(doc = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS)))
                r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
            if (tr_ok(r) && doc) {
                char *old = v[i].doc;
                v[i].doc = doc;
                r = st[0]->rel_put(st, &v[i]);
                v[i].doc = old;
                (*bound)++;
            }
            free(doc);
            json_decref(d);
        }
        free(after_from);
        free(after_to);
        after_from = after_to = NULL;
        if (tr_ok(r) && n == PAGE) {
            after_from = strdup(v[n - 1].from);
            after_to = strdup(v[n - 1].to);
            if (!after_from || !after_to) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        }
        rel_list_free(v, n);
        if (tr_failed(r)) {
            free(after_from);
            free(after_to);
            return r;
        }
        if (!after_from) return TR_OK;
    }
}

TR_RESULT iam_bind_stored(store_t st, size_t *bound)
{
    struct account_rec *accts = NULL;
    size_t nacct = 0;
    *bound = 0;
    GUARD(st[0]->tx_begin(st));
    tr_result r = store_each_key(st, bind_key, bound);
    if (tr_ok(r)) r = bind_grants(st, bound);
    if (tr_ok(r)) r = st[0]->account_list(st, &accts, &nacct);
    for (size_t i = 0; i < nacct && tr_ok(r); i++) {
        r = bind_entities(st, accts[i].id, "role", POLICY_TRUST, "trust", "trust_ids", bound);
        if (tr_ok(r))
            r = bind_entities(st, accts[i].id, "secret", POLICY_RESOURCE, "policy", "policy_ids", bound);
    }
    free(accts);
    if (tr_ok(r)) r = st[0]->tx_commit(st);
    if (tr_failed(r)) st[0]->tx_rollback(st);
    return r;
}
