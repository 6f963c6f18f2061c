/*
 * identity.c -- the caller's identity side: its policies, boundary,
 * session policies and tags, loaded from the store once per request (or
 * shared with this thread's identity cache), and the analyzer's memo for
 * loading many identities in one pass (contract in identity.h).
 *
 * What the identity side is (docs/AUTHORIZATION.md 2.1, 2.5, 6.2; the records
 * are those of docs/internals/IAM_STORE.md):
 *  - root user: no policies; its identity side allows everything in its
 *    own account (policy_set.root_identity);
 *  - IAM user: its inline policies (rel "inline" from the user ARN), its
 *    attached managed policies (rel "attached" -> the policy entity's
 *    default_version -> rel "version" doc.document), and the same two for
 *    every group it is a member of (rel "member" group -> user); the
 *    permissions boundary named by the user doc's "boundary"; its tags;
 *  - role session: the role's inline and attached policies and boundary;
 *    the session policies kept in the session access key's doc ("policy"
 *    text and "policy_arns"); tags = role tags, then session tags (which
 *    win); the issue time and MFA flag of the session; its source
 *    identity (aws:SourceIdentity in every request of the session);
 *  - GetSessionToken sessions act as their user (or root) with the issue
 *    time set.
 * A user or role that no longer exists makes its credentials invalid:
 * TR_E_UNRECOGNIZED_CLIENT, "The security token included in the request
 * is invalid." (what AWS answers for the keys of a deleted user) -- and
 * so does one deleted and created again under the same name: the
 * credentials name the unique id they were issued to, which the new
 * entity does not have (the sessions of a deleted role stay dead).
 *
 * Documents are compiled through policy_cache_get, so a policy is parsed
 * once per process, not per request.  A stored document that no longer
 * compiles denies every request of its principal (policy_cache_get_stored,
 * docs/AUTHORIZATION.md 2.9: skipping it could drop a Deny).  A managed
 * policy that has disappeared is skipped when attached, and allows
 * nothing when it is a boundary or session policy.
 *
 * The identity is loaded once per request into rc->identity, or shared
 * with this thread's identity cache (below), and iam_identity_release is
 * set as the request's release (op.h rc->release): op_run lets it go when
 * the operation ends.
 */
#include "iam/identity.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/array.h"
#include "core/cache.h"
#include "core/str.h"

#define UNRECOGNIZED "The security token included in the request is invalid."
#define REL_PAGE 256

/* ---- small helpers ------------------------------------------------------ */

static bool is_not_found(tr_result r)
{
    return tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND;
}

/* A JSON object from a stored document; NULL when absent or not an object. */
json_t *iam_stored_doc(const char *text)
{
    if (!text || !*text) return NULL;
    json_t *d = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    if (d && !json_is_object(d)) {
        json_decref(d);
        d = NULL;
    }
    return d;
}

static TR_RESULT np_push(struct named_policy **v, size_t *n, struct policy *p, const char *name)
{
    char *nm = strdup(name);
    struct named_policy *nv = nm ? realloc(*v, (*n + 1) * sizeof **v) : NULL;
    if (!nv) {
        free(nm);
        if (p) policy_unref(p);
        BAIL0(TR_E_INTERNAL);
    }
    *v = nv;
    nv[*n] = (struct named_policy){ .p = p, .name = nm };
    (*n)++;
    return TR_OK;
}

static void np_release(struct named_policy *np)
{
    if (np->p) policy_unref((struct policy *)np->p);
    free((char *)np->name);
    np->p = NULL;
    np->name = NULL;
}

/* Compile a stored identity-policy document (through the cache; one that
 * no longer compiles denies everything, docs/AUTHORIZATION.md 2.9). */
static TR_RESULT compile_stored(const char *text, const char *name, struct policy **out)
{
    return policy_cache_get_stored(text, strlen(text), POLICY_IDENTITY, NULL, name, out);
}

TR_RESULT iam_managed_document(store_t st, const char *arn, char **out)
{
    struct ent_rec e = { 0 };
    struct rel_rec v = { 0 };
    json_t *ed = NULL, *vd = NULL;
    tr_result r;

    *out = NULL;
    r = st[0]->ent_get_arn(st, "policy", arn, &e);
    if (tr_failed(r)) goto fail;
    ed = iam_stored_doc(e.doc);
    const char *ver = json_string_value(json_object_get(ed, "default_version"));
    if (!ver) { r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_NOT_FOUND, NULL); goto fail; }
    r = st[0]->rel_get(st, "version", arn, ver, &v);
    if (tr_failed(r)) goto fail;
    vd = iam_stored_doc(v.doc);
    const char *text = json_string_value(json_object_get(vd, "document"));
    if (!text) { r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_NOT_FOUND, NULL); goto fail; }
    *out = strdup(text);
    if (!*out) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    r = TR_OK;
fail:
    json_decref(vd);
    json_decref(ed);
    rel_rec_free(&v);
    ent_rec_free(&e);
    return r;
}

/* ---- the analyzer's memo ---------------------------------------------------- */

/* For one read-only pass over many identities (the analyzer): managed
 * policies by ARN and each group's policies, loaded once.  Set for the
 * duration of iam_identity_load_memo on this thread only. */
struct memo_managed {
    char *arn;
    struct policy *p;         /* NULL: the policy or its version is gone */
};
struct memo_group {
    char *arn;
    struct named_policy *v;
    size_t n;
};
struct iam_load_memo {
    struct memo_managed *m;
    size_t nm, capm;
    struct memo_group *g;
    size_t ng, capg;
};
static _Thread_local struct iam_load_memo *memo;

struct iam_load_memo *iam_load_memo_new(void)
{
    return calloc(1, sizeof(struct iam_load_memo));
}

void iam_load_memo_free(struct iam_load_memo *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->nm; i++) {
        free(m->m[i].arn);
        if (m->m[i].p) policy_unref(m->m[i].p);
    }
    for (size_t i = 0; i < m->ng; i++) {
        free(m->g[i].arn);
        for (size_t k = 0; k < m->g[i].n; k++) np_release(&m->g[i].v[k]);
        free(m->g[i].v);
    }
    free(m->m);
    free(m->g);
    free(m);
}

/* Remember managed policy arn (p may be NULL: gone); takes a reference. */
static TR_RESULT memo_put_managed(const char *arn, struct policy *p)
{
    struct memo_managed *v = array_grow(memo->m, &memo->capm, memo->nm, sizeof *v, 16);
    char *a = strdup(arn);
    if (v) memo->m = v;
    if (!v || !a) {
        free(a);
        BAIL0(TR_E_INTERNAL);
    }
    memo->m[memo->nm++] = (struct memo_managed){ .arn = a, .p = p ? policy_ref(p) : NULL };
    return TR_OK;
}

/* Append copies (new references) of v[0..n) to a list. */
static TR_RESULT np_copy(const struct named_policy *v, size_t n, struct named_policy **to,
                         size_t *nto)
{
    for (size_t i = 0; i < n; i++)
        GUARD(np_push(to, nto, v[i].p ? policy_ref((struct policy *)v[i].p) : NULL, v[i].name));
    return TR_OK;
}

/* Append managed policy `arn` (named by its ARN) to a list.  A policy
 * that is gone is skipped, or added with no document (allows nothing)
 * when keep_missing. */
static TR_RESULT push_managed(store_t st, const char *arn, bool keep_missing,
                              struct named_policy **v, size_t *n)
{
    char *text = NULL;
    struct policy *p = NULL;
    for (size_t i = 0; memo && i < memo->nm; i++) {
        if (strcmp(memo->m[i].arn, arn) != 0) continue;
        if (!memo->m[i].p) return keep_missing ? np_push(v, n, NULL, arn) : TR_OK;
        return np_push(v, n, policy_ref(memo->m[i].p), arn);
    }
    tr_result r = iam_managed_document(st, arn, &text);
    if (is_not_found(r)) {
        if (memo) GUARD(memo_put_managed(arn, NULL));
        return keep_missing ? np_push(v, n, NULL, arn) : TR_OK;
    }
    GUARD(r);
    r = compile_stored(text, arn, &p);
    free(text);
    GUARD(r);
    if (memo && tr_failed(r = memo_put_managed(arn, p))) {
        policy_unref(p);
        return r;
    }
    return np_push(v, n, p, arn);
}

/* Inline and attached policies of a user, group or role. */
static TR_RESULT push_entity_policies(store_t st, const char *entity_arn, struct identity *id)
{
    static const char *const kinds[] = { "inline", "attached" };
    for (size_t k = 0; k < 2; k++) {
        char *after = NULL;
        for (;;) {
            struct rel_rec *v = NULL;
            size_t n = 0;
            tr_result r = st[0]->rel_list_from(st, kinds[k], entity_arn, after, REL_PAGE, &v, &n);
            for (size_t i = 0; tr_ok(r) && i < n; i++) {
                if (k == 1) {
                    r = push_managed(st, v[i].to, false, &id->identity, &id->nidentity);
                    continue;
                }
                char name[1024];
                struct policy *p = NULL;
                r = str_format(name, sizeof name, "the inline policy's name", "inline:%s:%s", entity_arn, v[i].to);
                if (tr_ok(r)) r = compile_stored(v[i].doc ? v[i].doc : "", name, &p);
                if (tr_ok(r)) r = np_push(&id->identity, &id->nidentity, p, name);
            }
            free(after);
            after = NULL;
            if (tr_ok(r) && n == REL_PAGE) {
                after = strdup(v[n - 1].to);
                if (!after) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
            }
            rel_list_free(v, n);
            GUARD(r);
            if (!after) break;
        }
    }
    return TR_OK;
}

/* A group's inline and attached policies (from the memo when there is one). */
static TR_RESULT push_group_policies(store_t st, const char *group_arn, struct identity *id)
{
    for (size_t i = 0; memo && i < memo->ng; i++)
        if (strcmp(memo->g[i].arn, group_arn) == 0)
            return np_copy(memo->g[i].v, memo->g[i].n, &id->identity, &id->nidentity);
    size_t start = id->nidentity;
    GUARD(push_entity_policies(st, group_arn, id));
    if (!memo) return TR_OK;
    struct memo_group *v = array_grow(memo->g, &memo->capg, memo->ng, sizeof *v, 16);
    ENSURE(v != NULL, TR_E_INTERNAL);
    memo->g = v;
    struct memo_group *mg = &v[memo->ng];
    *mg = (struct memo_group){ .arn = strdup(group_arn) };
    ENSURE(mg->arn != NULL, TR_E_INTERNAL);
    memo->ng++;
    return np_copy(id->identity + start, id->nidentity - start, &mg->v, &mg->n);
}

/* Set principal tag k = val, replacing an earlier value (session tags
 * come after the entity's, so they win). */
static TR_RESULT tag_put(struct identity *id, const char *k, const char *val)
{
    for (size_t i = 0; i < id->ntags; i++) {
        if (strcmp(id->tag_keys[i], k) != 0) continue;
        char *nv = strdup(val);
        ENSURE(nv != NULL, TR_E_INTERNAL);
        free(id->tag_values[i]);
        id->tag_values[i] = nv;
        return TR_OK;
    }
    char **nk = realloc(id->tag_keys, (id->ntags + 1) * sizeof *nk);
    ENSURE(nk != NULL, TR_E_INTERNAL);
    id->tag_keys = nk;
    char **nvs = realloc(id->tag_values, (id->ntags + 1) * sizeof *nvs);
    ENSURE(nvs != NULL, TR_E_INTERNAL);
    id->tag_values = nvs;
    char *ks = strdup(k), *vs = strdup(val);
    if (!ks || !vs) {
        free(ks);
        free(vs);
        BAIL0(TR_E_INTERNAL);
    }
    id->tag_keys[id->ntags] = ks;
    id->tag_values[id->ntags] = vs;
    id->ntags++;
    return TR_OK;
}

static TR_RESULT load_tags(store_t st, const char *arn, struct identity *id)
{
    struct tag_rec *t = NULL;
    size_t n = 0;
    GUARD(st[0]->tag_list(st, arn, &t, &n));
    tr_result r = TR_OK;
    for (size_t i = 0; i < n && tr_ok(r); i++) r = tag_put(id, t[i].key, t[i].value ? t[i].value : "");
    tag_list_free(t, n);
    return r;
}

/* The boundary named in an entity doc ({"boundary": "<arn>"}), if any. */
static TR_RESULT load_boundary(store_t st, json_t *doc, struct identity *id)
{
    const char *arn = json_string_value(json_object_get(doc, "boundary"));
    if (!arn || !*arn) return TR_OK;
    struct named_policy *v = NULL;
    size_t n = 0;
    GUARD(push_managed(st, arn, true, &v, &n));
    id->boundary = v[0];
    id->has_boundary = true;
    free(v);
    return TR_OK;
}

/* The session part of a temporary credential's access-key doc: issue
 * time, MFA, and for role sessions the session policies and tags. */
static TR_RESULT load_session(store_t st, json_t *doc, bool role_session, struct identity *id)
{
    json_t *issued = json_object_get(doc, "issued");
    id->token_issued = json_is_integer(issued) ? (int64_t)json_integer_value(issued) : 0;
    id->mfa = json_is_true(json_object_get(doc, "mfa"));
    if (!role_session) return TR_OK;

    const char *text = json_string_value(json_object_get(doc, "policy"));
    if (text && *text) {
        struct policy *p = NULL;
        GUARD(compile_stored(text, "session-policy", &p));
        GUARD(np_push(&id->session, &id->nsession, p, "session-policy"));
        id->session_present = true;
    }
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(doc, "policy_arns"), i, e) {
        if (!json_is_string(e)) continue;
        GUARD(push_managed(st, json_string_value(e), true, &id->session, &id->nsession));
        id->session_present = true;
    }
    const char *k;
    json_object_foreach(json_object_get(doc, "tags"), k, e) {
        if (json_is_string(e)) GUARD(tag_put(id, k, json_string_value(e)));
    }
    const char *si = json_string_value(json_object_get(doc, "source_identity"));
    if (si) {
        id->source_identity = strdup(si);
        ENSURE(id->source_identity != NULL, TR_E_INTERNAL);
    }
    /* Only the session AssumeRoleWithWebIdentity made: a session chained
     * from it is an AssumeRole session, which has no federated provider. */
    const char *fp = json_string_value(json_object_get(json_object_get(doc, "web_identity"), "provider"));
    if (fp) {
        id->federated_provider = strdup(fp);
        ENSURE(id->federated_provider != NULL, TR_E_INTERNAL);
    }
    return TR_OK;
}

static bool temporary_key(const struct principal *who)
{
    return strncmp(who->access_key_id, "ASIA", 4) == 0;
}

/* The doc of the caller's access key when it is a temporary credential;
 * *out NULL otherwise (permanent keys, simulated principals). */
static TR_RESULT session_doc(store_t st, const struct principal *who, json_t **out)
{
    struct access_key_rec k = { 0 };
    *out = NULL;
    if (!temporary_key(who)) return TR_OK;
    tr_result r = st[0]->access_key_get(st, who->access_key_id, &k);
    if (is_not_found(r)) BAIL(TR_E_UNRECOGNIZED_CLIENT, UNRECOGNIZED);
    GUARD(r);
    *out = iam_stored_doc(k.doc);
    access_key_rec_free(&k);
    return TR_OK;
}

/* The user or role whose credentials these are: the entity with this ARN
 * and the unique id the credentials were issued to (who->id, up to the
 * ':' of a session).  A user or role deleted and created again under the
 * same name is another entity: the old credentials stay invalid. */
static TR_RESULT load_entity(store_t st, const char *kind, const char *arn, const char *id,
                             struct ent_rec *e)
{
    tr_result r = st[0]->ent_get_arn(st, kind, arn, e);
    if (is_not_found(r)) BAIL(TR_E_UNRECOGNIZED_CLIENT, UNRECOGNIZED);
    GUARD(r);
    size_t n = strcspn(id, ":");
    if (strlen(e->id) != n || strncmp(e->id, id, n) != 0) {
        ent_rec_free(e);
        BAIL(TR_E_UNRECOGNIZED_CLIENT, UNRECOGNIZED);
    }
    return TR_OK;
}

TR_RESULT iam_identity_load(store_t st, const struct principal *who, struct identity *out)
{
    struct ent_rec e = { 0 };
    struct rel_rec *groups = NULL;
    size_t ngroups = 0;
    json_t *edoc = NULL, *sdoc = NULL;
    tr_result r;

    ENSURE_REF(st);
    ENSURE_REF(who);
    ENSURE_REF(out);
    memset(out, 0, sizeof *out);
    r = session_doc(st, who, &sdoc);
    if (tr_failed(r)) goto fail;

    switch (who->type) {
    case PRINCIPAL_ROOT:
        out->root = true;
        break;
    case PRINCIPAL_USER:
        r = load_entity(st, "user", who->arn, who->id, &e);
        if (tr_failed(r)) goto fail;
        out->username = strdup(e.name);
        if (!out->username) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
        r = push_entity_policies(st, e.arn, out);
        if (tr_failed(r)) goto fail;
        r = st[0]->rel_list_to(st, "member", e.arn, &groups, &ngroups);
        for (size_t i = 0; tr_ok(r) && i < ngroups; i++) r = push_group_policies(st, groups[i].from, out);
        if (tr_failed(r)) goto fail;
        break;
    case PRINCIPAL_ROLE_SESSION:
        r = who->role_arn[0] ? load_entity(st, "role", who->role_arn, who->id, &e)
                             : tr_fail_at(__FILE__, __LINE__, TR_E_UNRECOGNIZED_CLIENT, UNRECOGNIZED);
        if (tr_failed(r)) goto fail;
        r = push_entity_policies(st, e.arn, out);
        if (tr_failed(r)) goto fail;
        break;
    default:
        r = tr_fail_at(__FILE__, __LINE__, TR_E_UNRECOGNIZED_CLIENT, UNRECOGNIZED);
        goto fail;
    }
    if (!out->root) {
        edoc = iam_stored_doc(e.doc);
        r = load_boundary(st, edoc, out);
        if (tr_ok(r)) r = load_tags(st, e.arn, out);
        if (tr_failed(r)) goto fail;
    }
    if (sdoc) {
        r = load_session(st, sdoc, who->type == PRINCIPAL_ROLE_SESSION, out);
        if (tr_failed(r)) goto fail;
    }
    r = TR_OK;
fail:
    if (tr_failed(r)) iam_identity_free(out);
    json_decref(sdoc);
    json_decref(edoc);
    rel_list_free(groups, ngroups);
    ent_rec_free(&e);
    return r;
}

TR_RESULT iam_identity_load_memo(store_t st, const struct principal *who,
                                 struct iam_load_memo *m, struct identity *out)
{
    memo = m;
    tr_result r = iam_identity_load(st, who, out);
    memo = NULL;
    return r;
}

void iam_identity_free(struct identity *id)
{
    if (!id) return;
    for (size_t i = 0; i < id->nidentity; i++) np_release(&id->identity[i]);
    free(id->identity);
    if (id->has_boundary) np_release(&id->boundary);
    for (size_t i = 0; i < id->nsession; i++) np_release(&id->session[i]);
    free(id->session);
    strs_free(id->tag_keys, id->ntags);
    strs_free(id->tag_values, id->ntags);
    free(id->username);
    free(id->source_identity);
    free(id->federated_provider);
    free(id->owned);
    memset(id, 0, sizeof *id);
}

/* ---- the identity cache --------------------------------------------------- */

/* A core/cache.h class, per thread: the identity by (principal type,
 * access key id, ARN, role ARN, unique id) -- the key id because a
 * session's policies and tags live on its key; the account is in the ARN
 * -- valid while the store generation read before it was loaded is
 * current.  The cache and the requests it lends an identity to each hold
 * a reference (id->refs; one thread only, so a plain count), so an entry
 * evicted while a request uses its identity lives on until the request
 * lets go. */
static void identity_destroy(struct identity *id)
{
    iam_identity_free(id);
    free(id);
}

static void identity_unref(struct identity *id)
{
    if (id && --id->refs == 0) identity_destroy(id);
}

struct idc_value {
    struct identity *id;             /* the cache's reference */
};

static void idc_release(void *value)
{
    struct idc_value *v = value;
    identity_unref(v->id);
}

static struct cache_class identities =
    CACHE_CLASS("identities", CACHE_BY_GENERATION, .slots = 8,
                .value_size = sizeof(struct idc_value), .release = idc_release);

static void principal_key(const struct principal *who, struct cache_key *k)
{
    cache_key_init(k);
    cache_key_u64(k, (uint64_t)who->type);
    cache_key_str(k, who->access_key_id);
    cache_key_str(k, who->arn);
    cache_key_str(k, who->role_arn);
    cache_key_str(k, who->id);
}

/* rc->identity for rc->who, a reference the request holds: shared with
 * the cache when current, else loaded (and cached when the generation is
 * known). */
static TR_RESULT identity_for(struct req_ctx *rc)
{
    struct cache_key key;
    struct cache_gen gen = cache_enabled() ? rc->st[0]->generation_of(rc->st, STORE_DOM_IAM) : CACHE_GEN_NONE;
    principal_key(&rc->who, &key);
    struct idc_value *hit = cache_get(&identities, &key, gen);
    if (hit) {
        hit->id->refs++;
        rc->identity = hit->id;
        rc->identity_borrowed = false;
        rc->release = iam_identity_release;
        return TR_OK;
    }
    struct identity *id = calloc(1, sizeof *id);
    ENSURE(id != NULL, TR_E_INTERNAL);
    tr_result r = iam_identity_load(rc->st, &rc->who, id);
    if (tr_failed(r)) {
        free(id);                    /* iam_identity_load released what it loaded */
        return r;
    }
    id->refs = 1;                    /* the request's */
    rc->identity = id;
    rc->identity_borrowed = false;
    rc->release = iam_identity_release;
    struct idc_value *v = cache_put(&identities, &key, gen);
    if (v) {
        id->refs++;
        v->id = id;
    }
    return TR_OK;
}

void iam_identity_release(struct req_ctx *rc)
{
    if (rc && rc->release == iam_identity_release) rc->release = NULL;
    if (!rc || !rc->identity) return;
    if (!rc->identity_borrowed) {           /* else its owner's (the analyzer's) */
        if (rc->identity->refs) identity_unref(rc->identity);
        else identity_destroy(rc->identity);    /* made and loaded by the caller */
    }
    rc->identity = NULL;
    rc->identity_borrowed = false;
}

TR_RESULT iam_identity_get(struct req_ctx *rc)
{
    ENSURE_REF(rc);
    if (rc->identity) return TR_OK;
    return identity_for(rc);
}

TR_RESULT iam_identity_add_session(store_t st, json_t *doc, bool role_session, struct identity *id)
{
    ENSURE_REF(st);
    ENSURE_REF(doc);
    ENSURE_REF(id);
    return load_session(st, doc, role_session, id);
}
