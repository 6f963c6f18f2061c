/*
 * secrets.c -- the secret record shared by every Secrets Manager operation:
 * in memory (freeing, copying, versions and their staging labels) and in
 * the store (load and save over the store's generic entities and
 * relations).  Looking a secret up by SecretId is lookup.c; authorizing
 * on it authz.c; names and parameters params.c; the DescribeSecret-shaped
 * reply describe.c.
 *
 * Storage (docs/internals/IAM_STORE.md "Secrets"): an entity of kind
 * "secret" named "<region>:<name>" under path "/<region>/", whose doc holds
 * name, description, kms_key_id, kms_key_arn, last_changed, last_accessed,
 * deleted_date and policy; one "secret-ver" relation per version from the
 * secret ARN to the version id, whose doc holds stages, created, key_arn,
 * edk, ct and binary (plus seq, the creation order, and last_accessed).
 * Fields of either doc that this file does not know are kept on save.
 *
 * No secret value passes through this file.
 */
#include "secrets/secrets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/cache.h"
#include "core/json.h"
#include "core/str.h"

/* ---- small helpers ------------------------------------------------------ */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static TR_RESULT dup_into(char **dst, const char *s)
{
    *dst = NULL;
    if (!s) return TR_OK;
    *dst = strdup(s);
    ENSURE(*dst != NULL, TR_E_INTERNAL);
    return TR_OK;
}

int64_t sm_day(int64_t t)
{
    return t - (t % SM_DAY + SM_DAY) % SM_DAY;
}

double sm_now(const struct req_ctx *rc)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)rc->now + (double)(ts.tv_nsec / 1000000) / 1000.0;
}

TR_RESULT sm_set(json_t *obj, const char *name, json_t *v)
{
    ENSURE(v != NULL, TR_E_INTERNAL);
    ENSURE(json_object_set_new(obj, name, v) == 0, TR_E_INTERNAL);
    return TR_OK;
}

TR_RESULT sm_reply_arn_name(const char *arn, const char *name, json_t **out)
{
    json_t *o = json_pack("{s:s, s:s}", "ARN", arn, "Name", name);
    ENSURE(o != NULL, TR_E_INTERNAL);
    *out = o;
    return TR_OK;
}

double sm_doc_num(json_t *doc, const char *k)
{
    json_t *v = json_object_get(doc, k);
    return json_is_number(v) ? json_number_value(v) : 0;
}

const char *sm_doc_str(json_t *doc, const char *k)
{
    json_t *v = json_object_get(doc, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* ---- freeing ------------------------------------------------------------ */

static void version_free(struct secret_version *v)
{
    free(v->id);
    for (size_t i = 0; i < v->nstages; i++) free(v->stages[i]);
    free(v->stages);
    free(v->key_arn);
    free(v->edk);
    free(v->ct);
    json_decref(v->doc);
    memset(v, 0, sizeof *v);
}

void secret_free(struct secret *s)
{
    if (!s) return;
    free(s->id);
    free(s->arn);
    free(s->name);
    free(s->description);
    free(s->kms_key_id);
    free(s->kms_key_arn);
    free(s->policy);
    free(s->policy_ids);
    for (size_t i = 0; i < s->nversions; i++) version_free(&s->versions[i]);
    free(s->versions);
    json_decref(s->doc);
    memset(s, 0, sizeof *s);
}

/* ---- copying ------------------------------------------------------------- */

static TR_RESULT doc_copy(json_t *from, json_t **to)
{
    *to = NULL;
    if (!from) return TR_OK;
    *to = json_deep_copy(from);
    ENSURE(*to != NULL, TR_E_INTERNAL);
    return TR_OK;
}

static TR_RESULT version_copy(const struct secret_version *from, struct secret_version *to)
{
    memset(to, 0, sizeof *to);
    to->created = from->created;
    to->seq = from->seq;
    to->last_accessed = from->last_accessed;
    to->binary = from->binary;
    GUARD(dup_into(&to->id, from->id));
    GUARD(dup_into(&to->key_arn, from->key_arn));
    GUARD(dup_into(&to->edk, from->edk));
    GUARD(dup_into(&to->ct, from->ct));
    /* Shared, not copied: a version's doc is never changed in place
     * (sm_version_save copies it; envelope.c replaces it). */
    to->doc = json_incref(from->doc);
    if (from->nstages) {
        to->stages = calloc(from->nstages, sizeof *to->stages);
        ENSURE(to->stages != NULL, TR_E_INTERNAL);
        for (; to->nstages < from->nstages; to->nstages++)
            GUARD(dup_into(&to->stages[to->nstages], from->stages[to->nstages]));
    }
    return TR_OK;
}

TR_RESULT secret_copy(const struct secret *from, struct secret *to)
{
    memset(to, 0, sizeof *to);
    memcpy(to->region, from->region, sizeof to->region);
    memcpy(to->account, from->account, sizeof to->account);
    to->created = from->created;
    to->last_changed = from->last_changed;
    to->last_accessed = from->last_accessed;
    to->deleted_date = from->deleted_date;
    tr_result r = dup_into(&to->id, from->id);
    if (tr_ok(r)) r = dup_into(&to->arn, from->arn);
    if (tr_ok(r)) r = dup_into(&to->name, from->name);
    if (tr_ok(r)) r = dup_into(&to->description, from->description);
    if (tr_ok(r)) r = dup_into(&to->kms_key_id, from->kms_key_id);
    if (tr_ok(r)) r = dup_into(&to->kms_key_arn, from->kms_key_arn);
    if (tr_ok(r)) r = dup_into(&to->policy, from->policy);
    if (tr_ok(r)) r = dup_into(&to->policy_ids, from->policy_ids);
    if (tr_ok(r)) r = doc_copy(from->doc, &to->doc);
    if (tr_ok(r) && from->nversions) {
        to->versions = calloc(from->nversions, sizeof *to->versions);
        if (!to->versions) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    for (size_t i = 0; tr_ok(r) && i < from->nversions; i++) {
        r = version_copy(&from->versions[i], &to->versions[i]);
        to->nversions++;
    }
    if (tr_failed(r)) secret_free(to);
    return r;
}

/* ---- versions ------------------------------------------------------------ */

static TR_RESULT version_parse(const struct rel_rec *r, struct secret_version *v);

/* ---- the version memo ----------------------------------------------------
 * A secret loads every version (up to SM_MAX_VERSIONS) to find labels and
 * prune, and parsing their JSON documents was most of a PutSecretValue on
 * a much-written secret.  Each thread remembers the versions it parsed
 * (the core/cache.h class "secret-versions", CACHE_BY_CONTENT), keyed by
 * (secret ARN, version id) and confirmed by the document text itself: the
 * same text always parses to the same version, so a hit is correct
 * whatever was written since, in this store or any other, and writes need
 * not invalidate it.  4096 per thread, two ways per set; freed when the
 * thread exits. */
static void version_free(struct secret_version *v);

struct vm_value {
    struct secret_version v;    /* parsed; v.id is the version id */
};

static void vm_release(void *value)
{
    struct vm_value *m = value;
    version_free(&m->v);
}

static struct cache_class parsed_versions =
    CACHE_CLASS("secret-versions", CACHE_BY_CONTENT, .slots = 4096, .ways = 2,
                .value_size = sizeof(struct vm_value), .release = vm_release);

static TR_RESULT version_from_rel(const struct rel_rec *r, struct secret_version *v)
{
    const char *text = r->doc ? r->doc : "";
    if (!r->from || !r->to || !cache_enabled()) return version_parse(r, v);
    struct cache_key k;
    size_t len = strlen(text);
    cache_key_init(&k);
    cache_key_str(&k, r->from);
    cache_key_str(&k, r->to);
    const struct vm_value *hit = cache_get_by_content(&parsed_versions, &k, text, len);
    if (hit) return version_copy(&hit->v, v);
    GUARD(version_parse(r, v));
    struct vm_value *m = cache_put_by_content(&parsed_versions, &k, text, len);
    if (m && tr_failed(version_copy(v, &m->v))) cache_drop(&parsed_versions, m);
    return TR_OK;
}

static TR_RESULT version_parse(const struct rel_rec *r, struct secret_version *v)
{
    memset(v, 0, sizeof *v);
    GUARD(dup_into(&v->id, r->to));
    json_error_t jerr;
    v->doc = (r->doc && *r->doc) ? json_loads(r->doc, 0, &jerr) : json_object();
    ENSURE(json_is_object(v->doc), TR_E_INTERNAL);
    json_t *st = json_object_get(v->doc, "stages");
    if (json_is_array(st) && json_array_size(st) > 0) {
        v->stages = calloc(json_array_size(st), sizeof *v->stages);
        ENSURE(v->stages != NULL, TR_E_INTERNAL);
        size_t i;
        json_t *e;
        json_array_foreach(st, i, e) {
            if (!json_is_string(e)) continue;
            v->stages[v->nstages] = strdup(json_string_value(e));
            ENSURE(v->stages[v->nstages] != NULL, TR_E_INTERNAL);
            v->nstages++;
        }
    }
    v->created = sm_doc_num(v->doc, "created");
    v->seq = (int64_t)sm_doc_num(v->doc, "seq");
    v->last_accessed = (int64_t)sm_doc_num(v->doc, "last_accessed");
    v->binary = json_is_true(json_object_get(v->doc, "binary"));
    GUARD(dup_into(&v->key_arn, sm_doc_str(v->doc, "key_arn")));
    GUARD(dup_into(&v->edk, sm_doc_str(v->doc, "edk")));
    GUARD(dup_into(&v->ct, sm_doc_str(v->doc, "ct")));
    return TR_OK;
}

static int version_cmp(const void *a, const void *b)
{
    const struct secret_version *x = a, *y = b;
    if (x->seq != y->seq) return x->seq < y->seq ? -1 : 1;
    if (x->created != y->created) return x->created < y->created ? -1 : 1;
    return strcmp(x->id, y->id);
}

static TR_RESULT load_versions(store_t st, struct secret *s)
{
    struct rel_rec *rels = NULL;
    size_t n = 0;
    GUARD(st[0]->rel_list_from(st, SM_VER_KIND, s->arn, NULL, 100000, &rels, &n));
    tr_result r = TR_OK;
    if (n) {
        s->versions = calloc(n, sizeof *s->versions);
        if (!s->versions) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    }
    for (size_t i = 0; i < n; i++) {
        r = version_from_rel(&rels[i], &s->versions[i]);
        s->nversions++;
        if (tr_failed(r)) goto fail;
    }
    if (s->nversions > 1) qsort(s->versions, s->nversions, sizeof *s->versions, version_cmp);
fail:
    rel_list_free(rels, n);
    return r;
}

struct secret_version *sm_version_by_id(const struct secret *s, const char *id)
{
    for (size_t i = 0; id && i < s->nversions; i++)
        if (strcmp(s->versions[i].id, id) == 0) return &s->versions[i];
    return NULL;
}

bool sm_version_has_stage(const struct secret_version *v, const char *stage)
{
    for (size_t i = 0; i < v->nstages; i++)
        if (strcmp(v->stages[i], stage) == 0) return true;
    return false;
}

struct secret_version *sm_version_by_stage(const struct secret *s, const char *stage)
{
    for (size_t i = 0; i < s->nversions; i++)
        if (sm_version_has_stage(&s->versions[i], stage)) return &s->versions[i];
    return NULL;
}

TR_RESULT sm_stage_add(struct secret_version *v, const char *stage)
{
    if (sm_version_has_stage(v, stage)) return TR_OK;
    char **n = realloc(v->stages, (v->nstages + 1) * sizeof *n);
    ENSURE(n != NULL, TR_E_INTERNAL);
    v->stages = n;
    char *d = strdup(stage);
    ENSURE(d != NULL, TR_E_INTERNAL);
    /* Labels are kept sorted: AWS returns them in that order. */
    size_t at = 0;
    while (at < v->nstages && strcmp(v->stages[at], stage) < 0) at++;
    memmove(&v->stages[at + 1], &v->stages[at], (v->nstages - at) * sizeof *v->stages);
    v->stages[at] = d;
    v->nstages++;
    return TR_OK;
}

void sm_stage_remove(struct secret_version *v, const char *stage)
{
    for (size_t i = 0; i < v->nstages; i++) {
        if (strcmp(v->stages[i], stage) != 0) continue;
        free(v->stages[i]);
        memmove(&v->stages[i], &v->stages[i + 1], (v->nstages - i - 1) * sizeof *v->stages);
        v->nstages--;
        return;
    }
}

TR_RESULT sm_version_append(struct secret *s, const char *id, struct secret_version **out)
{
    int64_t seq = 0;
    for (size_t i = 0; i < s->nversions; i++)
        if (s->versions[i].seq > seq) seq = s->versions[i].seq;
    struct secret_version *n = realloc(s->versions, (s->nversions + 1) * sizeof *n);
    ENSURE(n != NULL, TR_E_INTERNAL);
    s->versions = n;
    struct secret_version *v = &s->versions[s->nversions];
    memset(v, 0, sizeof *v);
    v->id = strdup(id);
    ENSURE(v->id != NULL, TR_E_INTERNAL);
    v->seq = seq + 1;
    s->nversions++;
    *out = v;
    return TR_OK;
}

/* ---- load / save ---------------------------------------------------------- */

TR_RESULT sm_load_entity(store_t st, const struct ent_rec *e, struct secret *out)
{
    (void)st;
    memset(out, 0, sizeof *out);
    tr_result r = TR_OK;
    json_error_t jerr;
    out->doc = (e->doc && *e->doc) ? json_loads(e->doc, 0, &jerr) : json_object();
    if (!json_is_object(out->doc)) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    const char *colon = strchr(e->name, ':');
    if (!colon || (size_t)(colon - e->name) >= sizeof out->region) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        goto fail;
    }
    snprintf(out->region, sizeof out->region, "%.*s", (int)(colon - e->name), e->name);  /* fits: checked */
    STR_COPY_ARRAY(out->account, e->account_id);
    out->id = dup_or_null(e->id);
    out->arn = dup_or_null(e->arn);
    out->name = dup_or_null(colon + 1);
    if (!out->arn || !out->name) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    json_t *d = out->doc;
    const char *kid = json_is_string(json_object_get(d, "kms_key_id"))
                          ? json_string_value(json_object_get(d, "kms_key_id")) : NULL;
    if (kid && !*kid) kid = NULL;
    r = dup_into(&out->description, sm_doc_str(d, "description"));
    if (tr_ok(r)) r = dup_into(&out->kms_key_id, kid);
    if (tr_ok(r)) r = dup_into(&out->kms_key_arn, sm_doc_str(d, "kms_key_arn"));
    if (tr_ok(r)) r = dup_into(&out->policy, sm_doc_str(d, "policy"));
    if (tr_ok(r)) r = dup_into(&out->policy_ids, sm_doc_str(d, "policy_ids"));
    if (tr_failed(r)) goto fail;
    out->created = json_is_number(json_object_get(d, "created")) ? sm_doc_num(d, "created")
                                                                 : (double)e->created;
    out->last_changed = sm_doc_num(d, "last_changed");
    out->last_accessed = (int64_t)sm_doc_num(d, "last_accessed");
    out->deleted_date = sm_doc_num(d, "deleted_date");
fail:
    if (tr_failed(r)) secret_free(out);
    return r;
}

TR_RESULT sm_load(store_t st, const struct ent_rec *e, struct secret *out)
{
    GUARD(sm_load_entity(st, e, out));
    tr_result r = load_versions(st, out);
    if (tr_failed(r)) secret_free(out);
    return r;
}

static TR_RESULT set_or_del_str(json_t *d, const char *k, const char *v)
{
    if (!v) { json_object_del(d, k); return TR_OK; }
    return sm_set(d, k, json_string(v));
}

static TR_RESULT set_or_del_num(json_t *d, const char *k, double v)
{
    if (v == 0) { json_object_del(d, k); return TR_OK; }
    if (v == (double)(int64_t)v) return sm_set(d, k, json_integer((json_int_t)v));
    return sm_set(d, k, json_real(v));
}

TR_RESULT sm_save(store_t st, const struct secret *s, bool insert)
{
    json_t *d = s->doc ? json_deep_copy(s->doc) : json_object();
    char *text = NULL;
    char name[SM_NAME_MAX + 80], path[80];
    tr_result r = TR_OK;

    if (!d) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    r = sm_set(d, "name", json_string(s->name));
    if (tr_ok(r)) r = set_or_del_str(d, "description", s->description);
    if (tr_ok(r)) r = sm_set(d, "kms_key_id", s->kms_key_id ? json_string(s->kms_key_id) : json_null());
    if (tr_ok(r)) r = set_or_del_str(d, "kms_key_arn", s->kms_key_arn);
    if (tr_ok(r)) r = set_or_del_num(d, "created", s->created);
    if (tr_ok(r)) r = set_or_del_num(d, "last_changed", s->last_changed);
    if (tr_ok(r)) r = set_or_del_num(d, "last_accessed", (double)s->last_accessed);
    if (tr_ok(r)) r = set_or_del_num(d, "deleted_date", s->deleted_date);
    if (tr_ok(r)) r = set_or_del_str(d, "policy", s->policy);
    if (tr_ok(r)) r = set_or_del_str(d, "policy_ids", s->policy ? s->policy_ids : NULL);
    if (tr_failed(r)) goto fail;
    text = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    r = str_format(name, sizeof name, "the secret's key", "%s:%s", s->region, s->name);
    if (tr_failed(r)) goto fail;
    _Static_assert(sizeof path >= sizeof s->region + 2, "path holds /region/");
    snprintf(path, sizeof path, "/%s/", s->region);   /* fits: asserted above */
    struct ent_rec e = {
        .name = name, .id = s->id, .arn = s->arn, .path = path, .doc = text,
        .created = (int64_t)s->created,
    };
    STR_SET(e.kind, SM_KIND);
    STR_COPY_ARRAY(e.account_id, s->account);
    r = insert ? st[0]->ent_put(st, &e) : st[0]->ent_update(st, &e);
fail:
    free(text);
    json_decref(d);
    return r;
}

TR_RESULT sm_version_save(store_t st, const struct secret *s, const struct secret_version *v)
{
    json_t *d = v->doc ? json_deep_copy(v->doc) : json_object();
    json_t *stages = json_array();
    char *text = NULL;
    tr_result r = TR_OK;

    if (!d || !stages) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    for (size_t i = 0; i < v->nstages; i++)
        if (json_array_append_new(stages, json_string(v->stages[i])) != 0) {
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
            goto fail;
        }
    r = sm_set(d, "stages", stages);
    stages = NULL;
    if (tr_ok(r)) r = set_or_del_num(d, "created", v->created);
    if (tr_ok(r)) r = set_or_del_num(d, "seq", (double)v->seq);
    if (tr_ok(r)) r = set_or_del_num(d, "last_accessed", (double)v->last_accessed);
    if (tr_ok(r)) r = set_or_del_str(d, "key_arn", v->key_arn);
    if (tr_ok(r)) r = set_or_del_str(d, "edk", v->edk);
    if (tr_ok(r)) r = set_or_del_str(d, "ct", v->ct);
    if (tr_ok(r)) r = sm_set(d, "binary", json_boolean(v->binary));
    if (tr_failed(r)) goto fail;
    text = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    struct rel_rec rel = { .from = s->arn, .to = v->id, .doc = text, .created = (int64_t)v->created };
    STR_SET(rel.kind, SM_VER_KIND);
    r = st[0]->rel_put(st, &rel);
fail:
    free(text);
    json_decref(stages);
    json_decref(d);
    return r;
}

TR_RESULT sm_version_delete(store_t st, const struct secret *s, const char *version_id)
{
    return st[0]->rel_delete(st, SM_VER_KIND, s->arn, version_id);
}

TR_RESULT sm_purge(store_t st, const struct secret *s)
{
    struct tag_rec *tags = NULL;
    size_t nt = 0;
    for (size_t i = 0; i < s->nversions; i++) {
        tr_result r = sm_version_delete(st, s, s->versions[i].id);
        if (tr_failed(r) && tr_code(r) != TR_E_STORE_NOT_FOUND) return r;
    }
    GUARD(st[0]->tag_list(st, s->arn, &tags, &nt));
    tr_result r = TR_OK;
    for (size_t i = 0; i < nt && tr_ok(r); i++) r = st[0]->tag_delete(st, s->arn, tags[i].key);
    tag_list_free(tags, nt);
    GUARD(r);
    return st[0]->ent_delete(st, SM_KIND, s->arn);
}
