/*
 * authz.c -- authorization of one request: the caller's identity side
 * loaded from the store, the request context of global condition keys,
 * the policy engine's decision, and AWS's AccessDenied on a denial.
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
 * with this thread's identity cache (below); the router releases it when
 * the request ends (iam_identity_release).
 */
#include "iam/authz.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/cache.h"
#include "core/date.h"
#include "core/str.h"
#include "iam/arn.h"

#define UNRECOGNIZED "The security token included in the request is invalid."
#define REL_PAGE 256
#define CTX_STRINGS_MAX (256 * 1024)

/* ---- small helpers ------------------------------------------------------ */

static bool is_not_found(tr_result r)
{
    return tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND;
}

/* A JSON object from a stored document; NULL when absent or not an object. */
static json_t *doc_object(const char *text)
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

/* The default version's document of managed policy `arn` (malloc'd).
 * TR_E_STORE_NOT_FOUND (no message) when the policy or version is gone. */
static TR_RESULT managed_document(store_t st, const char *arn, char **out)
{
    struct ent_rec e = { 0 };
    struct rel_rec v = { 0 };
    json_t *ed = NULL, *vd = NULL;
    tr_result r;

    *out = NULL;
    r = st[0]->ent_get_arn(st, "policy", arn, &e);
    if (tr_failed(r)) goto fail;
    ed = doc_object(e.doc);
    const char *ver = json_string_value(json_object_get(ed, "default_version"));
    if (!ver) { r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_NOT_FOUND, NULL); goto fail; }
    r = st[0]->rel_get(st, "version", arn, ver, &v);
    if (tr_failed(r)) goto fail;
    vd = doc_object(v.doc);
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
    size_t nm;
    struct memo_group *g;
    size_t ng;
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
    struct memo_managed *v = realloc(memo->m, (memo->nm + 1) * sizeof *v);
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
    tr_result r = managed_document(st, arn, &text);
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
                snprintf(name, sizeof name, "inline:%s:%s", entity_arn, v[i].to);
                r = compile_stored(v[i].doc ? v[i].doc : "", name, &p);
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
    struct memo_group *v = realloc(memo->g, (memo->ng + 1) * sizeof *v);
    ENSURE(v != NULL, TR_E_INTERNAL);
    memo->g = v;
    struct memo_group *mg = &memo->g[memo->ng];
    memset(mg, 0, sizeof *mg);
    mg->arn = strdup(group_arn);
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
    *out = doc_object(k.doc);
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
        edoc = doc_object(e.doc);
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
    for (size_t i = 0; i < id->ntags; i++) {
        free(id->tag_keys[i]);
        free(id->tag_values[i]);
    }
    free(id->tag_keys);
    free(id->tag_values);
    free(id->username);
    free(id->source_identity);
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
    struct cache_gen gen = cache_enabled() ? rc->st[0]->generation(rc->st) : CACHE_GEN_NONE;
    principal_key(&rc->who, &key);
    struct idc_value *hit = cache_get(&identities, &key, gen);
    if (hit) {
        hit->id->refs++;
        rc->identity = hit->id;
        rc->identity_borrowed = false;
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
    struct idc_value *v = cache_put(&identities, &key, gen);
    if (v) {
        id->refs++;
        v->id = id;
    }
    return TR_OK;
}

void iam_identity_release(struct req_ctx *rc)
{
    if (!rc || !rc->identity) return;
    if (!rc->identity_borrowed) {           /* else its owner's (the analyzer's) */
        if (rc->identity->refs) identity_unref(rc->identity);
        else identity_destroy(rc->identity);    /* made and loaded by the caller */
    }
    rc->identity = NULL;
    rc->identity_borrowed = false;
}

/* ---- the request context ------------------------------------------------ */

/* The string arena: a chain of chunks, so copies never move and a small
 * context costs one small allocation, not a reservation of the maximum. */
struct ctx_chunk {
    struct ctx_chunk *next;
    size_t used, cap;
    char data[];
};

#define CTX_CHUNK 2048

/* Copy s into the builder's string arena. */
static TR_RESULT ctx_str(struct ctx_builder *cb, const char *s, const char **out)
{
    size_t n = strlen(s) + 1;
    if (cb->strings_len + n > CTX_STRINGS_MAX)
        BAIL(TR_E_VALIDATION, "The request has too many encryption context pairs or tags to "
             "authorize.");
    struct ctx_chunk *c = cb->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > CTX_CHUNK ? n : CTX_CHUNK;
        c = malloc(sizeof *c + cap);
        ENSURE(c != NULL, TR_E_INTERNAL);
        c->next = cb->chunks;
        c->used = 0;
        c->cap = cap;
        cb->chunks = c;
    }
    memcpy(c->data + c->used, s, n);
    *out = c->data + c->used;
    c->used += n;
    cb->strings_len += n;
    return TR_OK;
}

/* The entry for key (case-insensitive), a new one at the end if absent
 * (or, when `fresh`, at once: the caller knows it is absent).  The global
 * keys all begin with "aws:", so a service key ("kms:...") is looked for
 * among the keys added after them only. */
static TR_RESULT ctx_slot(struct ctx_builder *cb, const char *key, bool fresh, struct ctx_entry **out)
{
    size_t from = strncasecmp(key, "aws:", 4) == 0 ? 0 : cb->nglobal;
    for (size_t i = from; !fresh && i < cb->n; i++) {
        if (strcasecmp(cb->e[i].key, key) == 0) {
            *out = &cb->e[i];
            return TR_OK;
        }
    }
    if (cb->n >= CTX_MAX)
        BAIL(TR_E_VALIDATION, "The request has too many encryption context pairs or tags to "
             "authorize (at most %d condition keys).", CTX_MAX);
    struct ctx_entry *e = &cb->e[cb->n];
    memset(e, 0, sizeof *e);
    GUARD(ctx_str(cb, key, &e->key));
    cb->n++;
    *out = e;
    return TR_OK;
}

/* fresh: key is known not to be in cb yet (iam_ctx_init's global keys,
 * distinct by construction), so the search for it is skipped. */
static TR_RESULT ctx_put_in(struct ctx_builder *cb, const char *key, const char *const *values,
                            size_t n, bool multi, bool unknown, bool identity_only, bool fresh)
{
    ENSURE_REF(cb);
    ENSURE_REF(key);
    ENSURE(n > 0 || multi, TR_E_INTERNAL);
    if (cb->nptrs + n > sizeof cb->ptrs / sizeof cb->ptrs[0])
        BAIL(TR_E_VALIDATION, "The request has too many encryption context pairs or tags to "
             "authorize.");
    size_t first = cb->nptrs;
    for (size_t i = 0; i < n; i++) {
        ENSURE_REF(values[i]);
        GUARD(ctx_str(cb, values[i], &cb->ptrs[first + i]));
    }
    struct ctx_entry *e = NULL;
    GUARD(ctx_slot(cb, key, fresh, &e));
    cb->nptrs += n;
    e->values = &cb->ptrs[first];
    e->n = n;
    e->multi = multi;
    e->unknown = unknown;
    e->identity_only = identity_only;
    return TR_OK;
}

static TR_RESULT ctx_put(struct ctx_builder *cb, const char *key, const char *const *values,
                         size_t n, bool multi, bool unknown)
{
    return ctx_put_in(cb, key, values, n, multi, unknown, false, false);
}

/* A global key of iam_ctx_init: single-valued, not yet present. */
static TR_RESULT ctx_global(struct ctx_builder *cb, const char *key, const char *value)
{
    return ctx_put_in(cb, key, &value, 1, false, false, false, true);
}

void iam_ctx_reset(struct ctx_builder *cb)
{
    /* Only the counters: entries and value pointers are written before
     * they are read (ctx_slot, ctx_put), and the arrays are 18 KiB. */
    cb->n = 0;
    cb->nglobal = 0;
    cb->chunks = NULL;
    cb->strings_len = 0;
    cb->nptrs = 0;
}

TR_RESULT iam_ctx_add(struct ctx_builder *cb, const char *key, const char *value)
{
    return ctx_put(cb, key, &value, 1, false, false);
}

TR_RESULT iam_ctx_add_multi(struct ctx_builder *cb, const char *key,
                            const char *const *values, size_t n)
{
    return ctx_put(cb, key, values, n, true, false);
}

TR_RESULT iam_ctx_add_unknown(struct ctx_builder *cb, const char *key)
{
    static const char *const none[] = { "" };
    return ctx_put(cb, key, none, 1, false, true);
}

void iam_ctx_free(struct ctx_builder *cb)
{
    if (!cb) return;
    while (cb->chunks) {
        struct ctx_chunk *next = cb->chunks->next;
        free(cb->chunks);
        cb->chunks = next;
    }
    cb->strings_len = 0;
    cb->n = 0;
    cb->nglobal = 0;
    cb->nptrs = 0;
}

static void iso8601(int64_t epoch, char out[32])
{
    date_iso8601(epoch, out);
}

/* aws:UserAgent: the client's User-Agent header ("" without one); on a
 * call one service makes for another, the calling service's principal
 * name ("secretsmanager.amazonaws.com" for "secretsmanager.<region>.
 * amazonaws.com"), as CloudTrail records such calls. */
static const char *user_agent(const struct req_ctx *rc, char out[96])
{
    if (!rc->via_service) return rc->user_agent ? rc->user_agent : "";
    size_t n = strcspn(rc->via_service, ".");
    snprintf(out, 96, "%.*s.amazonaws.com", (int)(n < 64 ? n : 64), rc->via_service);
    return out;
}

TR_RESULT iam_ctx_init(struct ctx_builder *cb, const struct req_ctx *rc, const struct identity *id)
{
    ENSURE_REF(cb);
    ENSURE_REF(rc);
    iam_ctx_reset(cb);
    const struct principal *who = &rc->who;
    bool session = who->type == PRINCIPAL_ROLE_SESSION;
    char num[32];
    tr_result r;

    r = ctx_global(cb, "aws:PrincipalArn", session && who->role_arn[0] ? who->role_arn : who->arn);
    if (tr_ok(r)) r = ctx_global(cb, "aws:PrincipalAccount", who->account_id);
    if (tr_ok(r)) r = ctx_global(cb, "aws:userid", who->id);
    if (tr_ok(r) && who->type == PRINCIPAL_USER && id && id->username)
        r = ctx_global(cb, "aws:username", id->username);
    if (tr_ok(r))
        r = ctx_global(cb, "aws:PrincipalType", who->type == PRINCIPAL_ROOT ? "Account"
                                                 : session ? "AssumedRole" : "User");
    for (size_t i = 0; id && tr_ok(r) && i < id->ntags; i++) {
        char key[32 + 4 * 128];     /* a prefix and a 128-character UTF-8 tag key */
        snprintf(key, sizeof key, "aws:PrincipalTag/%s", id->tag_keys[i]);
        r = iam_ctx_add(cb, key, id->tag_values[i]);   /* tags: searched */
    }
    /* Not on service-to-service calls (docs/AUTHORIZATION.md 1.2, 5.3). */
    if (tr_ok(r) && rc->source_ip && *rc->source_ip && !rc->via_service)
        r = ctx_global(cb, "aws:SourceIp", rc->source_ip);
    if (tr_ok(r)) r = ctx_global(cb, "aws:SecureTransport", rc->secure_transport ? "true" : "false");
    iso8601(rc->now, num);
    if (tr_ok(r)) r = ctx_global(cb, "aws:CurrentTime", num);
    snprintf(num, sizeof num, "%lld", (long long)rc->now);
    if (tr_ok(r)) r = ctx_global(cb, "aws:EpochTime", num);
    if (tr_ok(r) && rc->region[0]) r = ctx_global(cb, "aws:RequestedRegion", rc->region);
    if (tr_ok(r)) r = ctx_global(cb, "aws:ViaAWSService", rc->via_service ? "true" : "false");
    /* Callers are never AWS service principals. */
    if (tr_ok(r)) r = ctx_global(cb, "aws:PrincipalIsAWSService", "false");
    char ua[96];
    if (tr_ok(r)) r = ctx_global(cb, "aws:UserAgent", user_agent(rc, ua));
    if (tr_ok(r) && rc->referer && !rc->via_service) r = ctx_global(cb, "aws:referer", rc->referer);
    if (tr_ok(r) && id && id->token_issued) {
        iso8601(id->token_issued, num);
        r = ctx_global(cb, "aws:TokenIssueTime", num);
    }
    /* Temporary credentials, and a service's call for the caller, which
     * AWS makes with temporary credentials (docs/AUTHORIZATION.md 1.2). */
    if (tr_ok(r) && id && (id->token_issued || rc->via_service))
        r = ctx_global(cb, "aws:MultiFactorAuthPresent", id->mfa ? "true" : "false");
    if (tr_ok(r) && id && id->source_identity)
        r = ctx_global(cb, "aws:SourceIdentity", id->source_identity);
    if (tr_failed(r)) iam_ctx_free(cb);
    else cb->nglobal = cb->n;
    return r;
}

/* ---- the decision ------------------------------------------------------- */

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

TR_RESULT iam_identity_get(struct req_ctx *rc)
{
    ENSURE_REF(rc);
    if (rc->identity) return TR_OK;
    return identity_for(rc);
}

static iam_authz_observer observer;

void iam_authz_observe(iam_authz_observer fn)
{
    observer = fn;
}

TR_RESULT iam_authorize(struct req_ctx *rc, const struct authz_req *ar, struct eval_result *out)
{
    struct ctx_builder *cb = NULL;
    struct eval_result res;
    tr_result r;

    ENSURE_REF(rc);
    ENSURE_REF(ar);
    ENSURE_REF(ar->action);
    ENSURE_REF(ar->resource);
    GUARD(iam_identity_get(rc));
    const struct identity *id = rc->identity;

    cb = malloc(sizeof *cb);
    if (!cb) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    r = iam_ctx_init(cb, rc, id);
    if (tr_failed(r)) { free(cb); cb = NULL; goto fail; }
    /* The resource's account: a global key, known only here. */
    if (ar->resource_account) {
        r = ctx_put_in(cb, "aws:ResourceAccount", &ar->resource_account, 1, false, false, false, true);
        if (tr_failed(r)) goto fail;
        cb->nglobal = cb->n;
    }
    for (size_t i = 0; i < ar->nextra; i++) {
        const struct ctx_entry *x = &ar->extra[i];
        r = ctx_put_in(cb, x->key, x->values, x->n, x->multi, x->unknown, x->identity_only,
                       false);
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
    };
    r = policy_evaluate(&rq, &ps, &res);
    if (tr_failed(r)) goto fail;
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
        free(cb);
    }
    return r;
}

static const char *pt_word(enum policy_type_word t)
{
    switch (t) {
    case PT_IDENTITY: return "identity";
    case PT_RESOURCE: return "resource";
    case PT_BOUNDARY: return "boundary";
    case PT_SESSION: return "session";
    default: return "policy";
    }
}

static size_t ref_text(const struct stmt_ref *s, char *out, size_t n, size_t at, bool effect,
                       const char *sep)
{
    if (at >= n) return at;
    int k = snprintf(out + at, n - at, "%s%s%s %s #%zu%s%s%s", at ? sep : "",
                     effect ? (s->effect == EFFECT_DENY ? "Deny " : "Allow ") : "",
                     pt_word(s->type), s->policy && s->policy->name ? s->policy->name : "?",
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
    for (size_t i = 0; i < r->nrefs; i++) at = ref_text(&r->refs[i], out, n, at, true, "; ");
    if (r->conditional && at < n) {
        int k = snprintf(out + at, n - at, "%sonly if the conditions of:", at ? "; " : "");
        if (k > 0) at += (size_t)k;
        for (size_t i = 0; i < r->ncond_refs && at < n; i++)
            at = ref_text(&r->cond_refs[i], out, n, at, false, i ? ", " : " ");
        if (at < n) snprintf(out + at, n - at, " hold");
    }
}

/* ---- principals by ARN --------------------------------------------------- */

/* What an ARN names (only the shapes principals take). */
enum arn_kind { AK_NONE, AK_ACCOUNT, AK_ROOT, AK_USER, AK_ROLE, AK_SESSION };

struct parsed_arn {
    enum arn_kind kind;
    char account[ACCOUNT_ID_LEN + 1];
    char role_name[128];          /* AK_SESSION */
    char session[128];            /* AK_SESSION */
};

static enum arn_kind classify(const char *arn, struct parsed_arn *pa)
{
    struct arn_parts p;
    memset(pa, 0, sizeof *pa);
    size_t len = strlen(arn);
    if (arn_account_id(arn, len)) {
        memcpy(pa->account, arn, ACCOUNT_ID_LEN);
        return pa->kind = AK_ACCOUNT;
    }
    if (!arn_split(arn, len, &p) || p.len[0] != 3 || memcmp(p.part[0], "arn", 3) != 0) return AK_NONE;
    if (!arn_partition_valid(p.part[1], p.len[1]) || p.len[3] != 0) return AK_NONE;
    if (!arn_account_id(p.part[4], p.len[4])) return AK_NONE;
    memcpy(pa->account, p.part[4], ACCOUNT_ID_LEN);
    const char *res = p.part[5];
    size_t rl = p.len[5];
    bool iam = p.len[2] == 3 && memcmp(p.part[2], "iam", 3) == 0;
    bool sts = p.len[2] == 3 && memcmp(p.part[2], "sts", 3) == 0;
    if (iam && rl == 4 && memcmp(res, "root", 4) == 0) return pa->kind = AK_ROOT;
    if (iam && rl > 5 && memcmp(res, "user/", 5) == 0 && res[rl - 1] != '/') return pa->kind = AK_USER;
    if (iam && rl > 5 && memcmp(res, "role/", 5) == 0 && res[rl - 1] != '/') return pa->kind = AK_ROLE;
    static const char ar[] = "assumed-role/";
    if (sts && rl > sizeof ar - 1 && memcmp(res, ar, sizeof ar - 1) == 0) {
        const char *name = res + sizeof ar - 1;
        const char *slash = strchr(name, '/');
        if (!slash || slash == name || !slash[1] || strchr(slash + 1, '/')) return AK_NONE;
        size_t nl = (size_t)(slash - name), sl = strlen(slash + 1);
        if (nl >= sizeof pa->role_name || sl >= sizeof pa->session) return AK_NONE;
        memcpy(pa->role_name, name, nl);
        memcpy(pa->session, slash + 1, sl);
        return pa->kind = AK_SESSION;
    }
    return AK_NONE;
}

/* found = false on not-found; other store errors propagate. */
static TR_RESULT lookup(tr_result r, bool *found)
{
    *found = tr_ok(r);
    if (is_not_found(r)) return TR_OK;
    return r;
}

TR_RESULT iam_principal_exists(store_t st, const char *arn, bool *out)
{
    struct parsed_arn pa;
    struct account_rec a;
    struct ent_rec e = { 0 };
    tr_result r = TR_OK;

    ENSURE_REF(st);
    ENSURE_REF(arn);
    ENSURE_REF(out);
    *out = false;
    /* A unique id: what IAM stores for a principal named by ARN. */
    if (strncmp(arn, "AIDA", 4) == 0 || strncmp(arn, "AROA", 4) == 0) {
        r = lookup(st[0]->ent_get_id(st, arn[1] == 'I' ? "user" : "role", arn, &e), out);
        ent_rec_free(&e);
        return r;
    }
    switch (classify(arn, &pa)) {
    case AK_ACCOUNT:
    case AK_ROOT:
        return lookup(st[0]->account_get(st, pa.account, &a), out);
    case AK_USER:
        r = lookup(st[0]->ent_get_arn(st, "user", arn, &e), out);
        break;
    case AK_ROLE:
        r = lookup(st[0]->ent_get_arn(st, "role", arn, &e), out);
        break;
    case AK_SESSION:
        r = lookup(st[0]->ent_get(st, "role", pa.account, pa.role_name, &e), out);
        break;
    default:
        return TR_OK;
    }
    ent_rec_free(&e);
    return r;
}

TR_RESULT iam_principal_from_arn(store_t st, const char *arn, struct principal *out)
{
    struct parsed_arn pa;
    struct account_rec a;
    struct ent_rec e = { 0 };
    bool found = false;
    tr_result r = TR_OK;

    ENSURE_REF(st);
    ENSURE_REF(arn);
    ENSURE_REF(out);
    memset(out, 0, sizeof *out);
    enum arn_kind kind = classify(arn, &pa);
    switch (kind) {
    case AK_ROOT:
        r = lookup(st[0]->account_get(st, pa.account, &a), &found);
        if (tr_failed(r) || !found) break;
        out->type = PRINCIPAL_ROOT;
        r = str_copy(out->arn, sizeof out->arn, arn, "principal ARN");
        if (tr_ok(r)) r = str_copy(out->id, sizeof out->id, pa.account, "account id");
        break;
    case AK_USER:
        r = lookup(st[0]->ent_get_arn(st, "user", arn, &e), &found);
        if (tr_failed(r) || !found) break;
        out->type = PRINCIPAL_USER;
        r = str_copy(out->arn, sizeof out->arn, e.arn, "user ARN");
        if (tr_ok(r)) r = str_copy(out->id, sizeof out->id, e.id, "user id");
        break;
    case AK_ROLE:
    case AK_SESSION:
        if (kind == AK_ROLE) r = lookup(st[0]->ent_get_arn(st, "role", arn, &e), &found);
        else r = lookup(st[0]->ent_get(st, "role", pa.account, pa.role_name, &e), &found);
        if (tr_failed(r) || !found) break;
        out->type = PRINCIPAL_ROLE_SESSION;
        const char *sess = kind == AK_ROLE ? "simulated" : pa.session;
        r = str_format(out->arn, sizeof out->arn, "session ARN", "arn:aws:sts::%s:assumed-role/%s/%s",
                       pa.account, e.name, sess);
        if (tr_ok(r)) r = str_format(out->id, sizeof out->id, "session id", "%s:%s", e.id, sess);
        if (tr_ok(r)) r = str_copy(out->role_arn, sizeof out->role_arn, e.arn, "role ARN");
        break;
    default:
        break;
    }
    ent_rec_free(&e);
    GUARD(r);
    if (!found) {
        memset(out, 0, sizeof *out);
        BAIL(TR_E_IAM_NO_SUCH_ENTITY, "The principal %.512s does not exist.", arn);
    }
    snprintf(out->account_id, sizeof out->account_id, "%s", pa.account);
    return TR_OK;
}

TR_RESULT iam_principal_from_access_key(store_t st, const char *akid, struct principal *out)
{
    struct access_key_rec k = { 0 };
    ENSURE_REF(st);
    ENSURE_REF(akid);
    ENSURE_REF(out);
    memset(out, 0, sizeof *out);
    tr_result r = st[0]->access_key_get(st, akid, &k);
    if (is_not_found(r)) BAIL(TR_E_IAM_NO_SUCH_ENTITY, "The access key %.64s does not exist.", akid);
    GUARD(r);
    out->type = k.principal_type;
    snprintf(out->account_id, sizeof out->account_id, "%s", k.account_id);
    snprintf(out->arn, sizeof out->arn, "%s", k.principal_arn ? k.principal_arn : "");
    snprintf(out->id, sizeof out->id, "%s", k.principal_id ? k.principal_id : "");
    snprintf(out->access_key_id, sizeof out->access_key_id, "%s", k.access_key_id);
    json_t *doc = doc_object(k.doc);
    const char *ra = json_string_value(json_object_get(doc, "role_arn"));
    if (k.principal_type == PRINCIPAL_ROLE_SESSION && ra)
        snprintf(out->role_arn, sizeof out->role_arn, "%s", ra);
    json_decref(doc);
    access_key_rec_free(&k);
    return TR_OK;
}

TR_RESULT iam_identity_add_session(store_t st, json_t *doc, bool role_session, struct identity *id)
{
    ENSURE_REF(st);
    ENSURE_REF(doc);
    ENSURE_REF(id);
    return load_session(st, doc, role_session, id);
}
