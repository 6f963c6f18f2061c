/*
 * secrets.c -- the secret record shared by every Secrets Manager operation:
 * load/save over the store's generic entities and relations, lookup by
 * SecretId, authorization in docs/AUTHORIZATION.md 5.2's order, stages, the
 * ARN builder, parameter checks and the DescribeSecret-shaped reply.
 *
 * Storage (docs/internals/IAM_STORE.md "Secrets"): an entity of kind
 * "secret" named "<region>:<name>" under path "/<region>/", whose doc holds
 * name, description, kms_key_id, kms_key_arn, last_changed, last_accessed,
 * deleted_date and policy; one "secret-ver" relation per version from the
 * secret ARN to the version id, whose doc holds stages, created, key_arn,
 * edk, ct and binary (plus seq, the creation order, and last_accessed).
 * Fields of either doc that this file does not know are kept on save.
 *
 * Lookup (docs/AUTHORIZATION.md 5.1): a SecretId is a name (in the
 * caller's account and region), a full ARN, or a partial ARN (the ARN
 * without "-XXXXXX").  Names that are not ARNs must match
 * [A-Za-z0-9/_+=.@-]: anything else is AWS's ValidationException "Invalid
 * name. Must be a valid name containing alphanumeric characters, or any of
 * the following: -/_+=.@!" (AWS-validated LocalStack test), for every
 * operation that takes a SecretId.
 *
 * Authorization (docs/AUTHORIZATION.md 5.2): the caller's identity side is
 * asked first, against the id as given when the secret does not exist, so an
 * unauthorized caller cannot tell a missing secret from a forbidden one; a
 * found secret is authorized against its ARN with its resource policy joined
 * RES_UNION.
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
#include "core/utf8.h"
#include "crypto/rand.h"
#include "iam/authz.h"

static const char *const NAME_INVALID_MSG =
    "Invalid name. Must be a valid name containing alphanumeric characters, or any of the "
    "following: -/_+=.@!";

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

TR_RESULT sm_set_date(json_t *obj, const char *name, double t)
{
    /* Whole seconds go out as integers (what json_set_time does), others
     * with their milliseconds. */
    if (t == (double)(int64_t)t) return sm_set(obj, name, json_integer((json_int_t)t));
    return sm_set(obj, name, json_real(t));
}

static double doc_num(json_t *doc, const char *k)
{
    json_t *v = json_object_get(doc, k);
    return json_is_number(v) ? json_number_value(v) : 0;
}

static const char *doc_str(json_t *doc, const char *k)
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
    v->created = doc_num(v->doc, "created");
    v->seq = (int64_t)doc_num(v->doc, "seq");
    v->last_accessed = (int64_t)doc_num(v->doc, "last_accessed");
    v->binary = json_is_true(json_object_get(v->doc, "binary"));
    GUARD(dup_into(&v->key_arn, doc_str(v->doc, "key_arn")));
    GUARD(dup_into(&v->edk, doc_str(v->doc, "edk")));
    GUARD(dup_into(&v->ct, doc_str(v->doc, "ct")));
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
    snprintf(out->region, sizeof out->region, "%.*s", (int)(colon - e->name), e->name);
    snprintf(out->account, sizeof out->account, "%s", e->account_id);
    out->id = dup_or_null(e->id);
    out->arn = dup_or_null(e->arn);
    out->name = dup_or_null(colon + 1);
    if (!out->arn || !out->name) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    json_t *d = out->doc;
    const char *kid = json_is_string(json_object_get(d, "kms_key_id"))
                          ? json_string_value(json_object_get(d, "kms_key_id")) : NULL;
    if (kid && !*kid) kid = NULL;
    r = dup_into(&out->description, doc_str(d, "description"));
    if (tr_ok(r)) r = dup_into(&out->kms_key_id, kid);
    if (tr_ok(r)) r = dup_into(&out->kms_key_arn, doc_str(d, "kms_key_arn"));
    if (tr_ok(r)) r = dup_into(&out->policy, doc_str(d, "policy"));
    if (tr_ok(r)) r = dup_into(&out->policy_ids, doc_str(d, "policy_ids"));
    if (tr_failed(r)) goto fail;
    out->created = json_is_number(json_object_get(d, "created")) ? doc_num(d, "created")
                                                                 : (double)e->created;
    out->last_changed = doc_num(d, "last_changed");
    out->last_accessed = (int64_t)doc_num(d, "last_accessed");
    out->deleted_date = doc_num(d, "deleted_date");
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
    snprintf(name, sizeof name, "%s:%s", s->region, s->name);
    snprintf(path, sizeof path, "/%s/", s->region);
    struct ent_rec e = {
        .name = name, .id = s->id, .arn = s->arn, .path = path, .doc = text,
        .created = (int64_t)s->created,
    };
    snprintf(e.kind, sizeof e.kind, "%s", SM_KIND);
    snprintf(e.account_id, sizeof e.account_id, "%s", s->account);
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
    snprintf(rel.kind, sizeof rel.kind, "%s", SM_VER_KIND);
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

/* ---- lookup ----------------------------------------------------------------- */

TR_RESULT sm_lookup_name(store_t st, const char *account, const char *region,
                         const char *name, struct secret *out, bool *found)
{
    struct ent_rec e;
    char key[SM_ID_MAX + 80];
    *found = false;
    memset(out, 0, sizeof *out);
    if (strlen(name) > SM_NAME_MAX || strchr(name, ':')) return TR_OK;
    snprintf(key, sizeof key, "%s:%s", region, name);
    memset(&e, 0, sizeof e);
    tr_result r = st[0]->ent_get(st, SM_KIND, account, key, &e);
    if (tr_failed(r)) return tr_code(r) == TR_E_STORE_NOT_FOUND ? TR_OK : r;
    r = sm_load(st, &e, out);
    ent_rec_free(&e);
    GUARD(r);
    *found = true;
    return TR_OK;
}

/* The parts of arn:aws:secretsmanager:<region>:<account>:secret:<rest>. */
struct sm_arn_parts {
    char region[64];
    char account[ACCOUNT_ID_LEN + 1];
    const char *rest;
};

static bool parse_arn(const char *arn, struct sm_arn_parts *p)
{
    static const char PFX[] = "arn:aws:secretsmanager:";
    if (strncmp(arn, PFX, sizeof PFX - 1) != 0) return false;
    const char *reg = arn + sizeof PFX - 1;
    const char *c1 = strchr(reg, ':');
    if (!c1 || c1 == reg || (size_t)(c1 - reg) >= sizeof p->region) return false;
    const char *acct = c1 + 1;
    const char *c2 = strchr(acct, ':');
    if (!c2 || c2 - acct != ACCOUNT_ID_LEN) return false;
    if (strncmp(c2 + 1, "secret:", 7) != 0) return false;
    snprintf(p->region, sizeof p->region, "%.*s", (int)(c1 - reg), reg);
    snprintf(p->account, sizeof p->account, "%.*s", ACCOUNT_ID_LEN, acct);
    p->rest = c2 + 8;
    return *p->rest != '\0';
}

static TR_RESULT lookup_store(struct req_ctx *rc, const char *secret_id, struct secret *out,
                              bool *found);

TR_RESULT sm_lookup(struct req_ctx *rc, const char *secret_id, struct secret *out, bool *found)
{
    struct cache_gen gen = CACHE_GEN_NONE;
    if (sm_cache_get(rc, secret_id, out, &gen)) {
        *found = true;
        return TR_OK;
    }
    GUARD(lookup_store(rc, secret_id, out, found));
    if (*found) sm_cache_put(rc, secret_id, gen, out);
    return TR_OK;
}

static TR_RESULT lookup_store(struct req_ctx *rc, const char *secret_id, struct secret *out,
                              bool *found)
{
    *found = false;
    memset(out, 0, sizeof *out);
    if (strncmp(secret_id, "arn:", 4) != 0)
        return sm_lookup_name(rc->st, rc->who.account_id, rc->region, secret_id, out, found);
    struct sm_arn_parts p;
    if (!parse_arn(secret_id, &p) || strcmp(p.region, rc->region) != 0) return TR_OK;
    struct ent_rec e;
    memset(&e, 0, sizeof e);
    tr_result r = rc->st[0]->ent_get_arn(rc->st, SM_KIND, secret_id, &e);
    if (tr_ok(r)) {
        r = sm_load(rc->st, &e, out);
        ent_rec_free(&e);
        GUARD(r);
        *found = true;
        return TR_OK;
    }
    if (tr_code(r) != TR_E_STORE_NOT_FOUND) return r;
    /* A partial ARN is the ARN without "-XXXXXX".  An ARN whose seventh
     * character from the end is '-' is taken as a full ARN (AWS: the
     * partial ARN of a name like "x-a1b2c3" is not found). */
    size_t n = strlen(p.rest);
    if (n >= SM_SUFFIX_LEN + 1 && p.rest[n - SM_SUFFIX_LEN - 1] == '-') return TR_OK;
    return sm_lookup_name(rc->st, p.account, p.region, p.rest, out, found);
}

TR_RESULT sm_find(struct req_ctx *rc, const char *secret_id, struct secret *out)
{
    bool found;
    GUARD(sm_lookup(rc, secret_id, out, &found));
    if (!found) BAIL(TR_E_SM_RESOURCE_NOT_FOUND, "%s", SM_MSG_NOT_FOUND);
    return TR_OK;
}

TR_RESULT sm_check_live(const struct secret *s)
{
    if (s->deleted_date != 0) BAIL(TR_E_SM_INVALID_REQUEST, "%s", SM_MSG_MARKED);
    return TR_OK;
}

/* ---- condition keys ---------------------------------------------------------- */

void sm_ctx_init(struct ctx_builder *c)
{
    iam_ctx_reset(c);
}

TR_RESULT sm_ctx_add_request_tags(struct ctx_builder *c, json_t *tags)
{
    if (!tags) return TR_OK;
    const char *keys[SM_MAX_TAGS];
    size_t n = 0, i;
    json_t *t;
    json_array_foreach(tags, i, t) {
        const char *k = json_string_value(json_object_get(t, "Key"));
        const char *v = json_string_value(json_object_get(t, "Value"));
        if (!k) continue;
        char key[32 + 4 * 128];     /* a prefix and a 128-character UTF-8 tag key */
        snprintf(key, sizeof key, "aws:RequestTag/%s", k);
        GUARD(iam_ctx_add(c, key, v ? v : ""));
        if (n < SM_MAX_TAGS) keys[n++] = k;
    }
    return iam_ctx_add_multi(c, "aws:TagKeys", keys, n);
}

TR_RESULT sm_ctx_add_request_keys(struct ctx_builder *c, const char *description,
                                  const char *kms_key_id, const char *kms_key_arn,
                                  const char *type)
{
    tr_result r = TR_OK;
    if (description) r = iam_ctx_add(c, "secretsmanager:Description", description);
    if (tr_ok(r) && kms_key_id) r = iam_ctx_add(c, "secretsmanager:KmsKeyId", kms_key_id);
    if (tr_ok(r) && kms_key_arn) r = iam_ctx_add(c, "secretsmanager:KmsKeyArn", kms_key_arn);
    if (tr_ok(r) && type) r = iam_ctx_add(c, "secretsmanager:Type", type);
    return r;
}

TR_RESULT sm_ctx_add_replica_regions(struct ctx_builder *c, json_t *replicas)
{
    const char *regions[64];
    size_t n = 0, i;
    json_t *e;
    if (!replicas) return TR_OK;
    json_array_foreach(replicas, i, e) {
        const char *r = json_string_value(json_object_get(e, "Region"));
        if (r && n < sizeof regions / sizeof regions[0]) regions[n++] = r;
    }
    return iam_ctx_add_multi(c, "secretsmanager:AddReplicaRegions", regions, n);
}

/* ---- authorization ------------------------------------------------------------ */

static TR_RESULT add_resource_tags(store_t st, const char *arn, struct ctx_builder *c)
{
    struct tag_rec *tags = NULL;
    size_t n = 0;
    GUARD(sm_cached_tags(st, arn, &tags, &n));
    tr_result r = TR_OK;
    for (size_t i = 0; i < n && tr_ok(r); i++) {
        char key[32 + 4 * 128];     /* a prefix and a 128-character UTF-8 tag key */
        snprintf(key, sizeof key, "secretsmanager:ResourceTag/%s", tags[i].key);
        r = iam_ctx_add(c, key, tags[i].value ? tags[i].value : "");
        snprintf(key, sizeof key, "aws:ResourceTag/%s", tags[i].key);
        if (tr_ok(r)) r = iam_ctx_add(c, key, tags[i].value ? tags[i].value : "");
    }
    tag_list_free(tags, n);
    return r;
}

/* The secret's own attributes as the Service Authorization Reference's
 * "Secret" resource type lists them: its tags (above),
 * secretsmanager:resource/Type (the Type it was created or updated with)
 * and secretsmanager:resource/AllowRotationLambdaArn (its rotation
 * function, when one is recorded). */
static TR_RESULT add_resource_keys(store_t st, const struct secret *s, struct ctx_builder *c)
{
    GUARD(add_resource_tags(st, s->arn, c));
    const char *type = doc_str(s->doc, "type");
    const char *lambda = doc_str(s->doc, "rotation_lambda_arn");
    if (type) GUARD(iam_ctx_add(c, "secretsmanager:resource/Type", type));
    if (lambda) GUARD(iam_ctx_add(c, "secretsmanager:resource/AllowRotationLambdaArn", lambda));
    return TR_OK;
}

/* sm_authorize, and when res is non-NULL the analyzer's variant: the
 * decision in *res, the deciding statements in ev, no failure on deny. */
static TR_RESULT authorize(struct req_ctx *rc, const char *action, const char *secret_id_as_given,
                           const struct secret *s, const struct ctx_entry *extra, size_t nextra,
                           struct eval_result *res, char *ev, size_t nev)
{
    struct ctx_builder *c = malloc(sizeof *c);
    struct policy *pol = NULL;
    struct named_policy np;
    char name_arn[SM_ID_MAX + 128];
    char label[SM_ID_MAX + 32];
    tr_result r = TR_OK;

    ENSURE(c != NULL, TR_E_INTERNAL);
    sm_ctx_init(c);
    for (size_t i = 0; i < nextra && tr_ok(r); i++)
        r = extra[i].unknown ? iam_ctx_add_unknown(c, extra[i].key)
            : extra[i].multi ? iam_ctx_add_multi(c, extra[i].key, extra[i].values, extra[i].n)
                             : iam_ctx_add(c, extra[i].key, extra[i].values[0]);
    if (tr_failed(r)) goto fail;

    struct authz_req ar = {
        .action = action,
        .resource_as_given = secret_id_as_given,
        .mode = RES_UNION,
    };
    if (s) {
        ar.resource = s->arn;
        ar.resource_account = s->account;
        r = iam_ctx_add(c, "secretsmanager:SecretId", s->arn);
        if (tr_ok(r)) r = add_resource_keys(rc->st, s, c);
        if (tr_failed(r)) goto fail;
        if (s->policy && *s->policy) {
            /* Validated when put; one that no longer compiles denies every
             * request on the secret, Deny statements never dropped
             * (docs/AUTHORIZATION.md 2.9).  (A broken binding is an
             * internal error: failing closed.) */
            r = policy_cache_get_stored(s->policy, strlen(s->policy), POLICY_RESOURCE, s->policy_ids,
                                        s->arn, &pol);
            if (tr_failed(r)) goto fail;
            snprintf(label, sizeof label, "resource-policy:%s", s->arn);
            np.p = pol;
            np.name = label;
            ar.resource_policy = &np;
        }
    } else {
        /* Not found: the identity side against the id as given.  A name
         * is evaluated as the partial ARN it would have in the caller's
         * account and region; an ARN keeps its own account, so a caller
         * of another account gets AccessDenied, not NotFound. */
        if (strncmp(secret_id_as_given, "arn:", 4) == 0) {
            struct sm_arn_parts p;
            ar.resource = secret_id_as_given;
            snprintf(name_arn, sizeof name_arn, "%s",
                     parse_arn(secret_id_as_given, &p) ? p.account : rc->who.account_id);
            ar.resource_account = name_arn;
        } else {
            snprintf(name_arn, sizeof name_arn, "arn:aws:secretsmanager:%s:%s:secret:%s",
                     rc->region, rc->who.account_id, secret_id_as_given);
            ar.resource = name_arn;
            ar.resource_account = rc->who.account_id;
        }
        r = iam_ctx_add(c, "secretsmanager:SecretId", secret_id_as_given);
        if (tr_failed(r)) goto fail;
    }
    ar.extra = c->e;
    ar.nextra = c->n;
    ar.no_fail = res != NULL;
    r = iam_authorize(rc, &ar, res);
    if (tr_ok(r) && res && ev) iam_result_evidence(res, ev, nev);
    if (tr_ok(r) && res && res->decision != DECISION_ALLOW && ev) {
        struct eval_request rq = {
            .who = { .arn = rc->who.arn, .account = rc->who.account_id },
            .action = action, .resource = ar.resource, .resource_account = ar.resource_account,
        };
        policy_denied_message(&rq, res, secret_id_as_given, ev, nev);
    }
    if (res) res->nrefs = res->ncond_refs = 0;   /* np dies here */
fail:
    if (pol) policy_unref(pol);
    iam_ctx_free(c);
    free(c);
    return r;
}

TR_RESULT sm_authorize(struct req_ctx *rc, const char *action, const char *secret_id_as_given,
                       const struct secret *s, const struct ctx_entry *extra, size_t nextra)
{
    return authorize(rc, action, secret_id_as_given, s, extra, nextra, NULL, NULL, 0);
}

TR_RESULT sm_authorize_explain(struct req_ctx *rc, const char *action, const struct secret *s,
                               const struct ctx_entry *extra, size_t nextra,
                               struct eval_result *res, char *ev, size_t nev)
{
    ENSURE_REF(s);
    ENSURE_REF(res);
    return authorize(rc, action, s->arn, s, extra, nextra, res, ev, nev);
}

TR_RESULT sm_authorize_id_explain(struct req_ctx *rc, const char *action, const char *secret_id,
                                  const struct ctx_entry *extra, size_t nextra, bool *found,
                                  struct eval_result *res, char *ev, size_t nev)
{
    struct secret s;
    ENSURE_REF(secret_id);
    ENSURE_REF(res);
    GUARD(sm_lookup(rc, secret_id, &s, found));
    tr_result r = authorize(rc, action, secret_id, *found ? &s : NULL, extra, nextra, res, ev, nev);
    if (*found) secret_free(&s);
    return r;
}

TR_RESULT sm_find_authorized(struct req_ctx *rc, const char *action, const char *secret_id,
                             const struct ctx_entry *extra, size_t nextra, bool must_be_live,
                             struct secret *out)
{
    bool found;
    GUARD(sm_lookup(rc, secret_id, out, &found));
    tr_result r = sm_authorize(rc, action, secret_id, found ? out : NULL, extra, nextra);
    if (tr_ok(r) && !found) r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_RESOURCE_NOT_FOUND, "%s",
                                           SM_MSG_NOT_FOUND);
    if (tr_ok(r) && must_be_live) r = sm_check_live(out);
    if (tr_failed(r)) secret_free(out);
    return r;
}

TR_RESULT sm_authorize_account(struct req_ctx *rc, const char *action, const char *resource,
                               const struct ctx_entry *extra, size_t nextra)
{
    struct authz_req ar = {
        .action = action,
        .resource = resource ? resource : "*",
        .resource_account = rc->who.account_id,
        .mode = RES_NONE,
        .extra = extra,
        .nextra = nextra,
    };
    return iam_authorize(rc, &ar, NULL);
}

/* ---- names, ARNs, parameters ---------------------------------------------------- */

TR_RESULT sm_arn_new(const char *region, const char *account, const char *name, char **out)
{
    static const char ALNUM[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    char suffix[SM_SUFFIX_LEN + 1];
    size_t have = 0;
    *out = NULL;
    while (have < SM_SUFFIX_LEN) {
        uint8_t b[16];
        GUARD(rand_bytes(b, sizeof b));
        for (size_t i = 0; i < sizeof b && have < SM_SUFFIX_LEN; i++)
            if (b[i] < 248) suffix[have++] = ALNUM[b[i] % 62];   /* 248 = 4 * 62: no bias */
    }
    suffix[SM_SUFFIX_LEN] = '\0';
    size_t n = strlen(region) + strlen(account) + strlen(name) + 64;
    char *s = malloc(n);
    ENSURE(s != NULL, TR_E_INTERNAL);
    snprintf(s, n, "arn:aws:secretsmanager:%s:%s:secret:%s-%s", region, account, name, suffix);
    *out = s;
    return TR_OK;
}

static bool name_char_ok(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           strchr("/_+=.@-", c) != NULL;
}

TR_RESULT sm_check_name(const char *name)
{
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (!name_char_ok(*p)) BAIL(TR_E_VALIDATION, "%s", NAME_INVALID_MSG);
    return TR_OK;
}

TR_RESULT sm_get_secret_id(json_t *in, const char **out)
{
    GUARD(json_get_str(in, "SecretId", true, 1, SM_ID_MAX, out));
    if (strncmp(*out, "arn:", 4) != 0) GUARD(sm_check_name(*out));
    return TR_OK;
}

TR_RESULT sm_check_members(json_t *in, const char *const *allowed)
{
    return json_check_members(in, allowed);
}

static size_t utf8_chars(const char *s)
{
    return utf8_strlen(s);
}

TR_RESULT sm_get_tags(json_t *in, const char *member, json_t **out)
{
    *out = NULL;
    json_t *l = json_object_get(in, member);
    if (!l || json_is_null(l)) return TR_OK;
    if (!json_is_array(l))
        BAIL(TR_E_SERIALIZATION, "Unexpected %s for member '%s': expected list",
             json_is_object(l) ? "structure or map" : "value", member);
    if (json_array_size(l) > SM_MAX_TAGS)
        BAIL(TR_E_SM_INVALID_PARAMETER, "Number of tags exceeds Secrets Manager's limit of %d "
             "tags.", SM_MAX_TAGS);
    size_t i;
    json_t *t;
    json_array_foreach(l, i, t) {
        if (!json_is_object(t))
            BAIL(TR_E_SERIALIZATION, "Unexpected value for member '%s': expected structure",
                 member);
        json_t *k = json_object_get(t, "Key"), *v = json_object_get(t, "Value");
        if ((k && !json_is_string(k) && !json_is_null(k)) ||
            (v && !json_is_string(v) && !json_is_null(v)))
            BAIL(TR_E_SERIALIZATION, "Unexpected value for member 'Key': expected string");
        const char *ks = json_string_value(k), *vs = json_string_value(v);
        char where[64];
        snprintf(where, sizeof where, "tags.%zu.member.key", i + 1);
        if (!ks) return json_invalid(where, "null", "Member must not be null");
        size_t kn = utf8_chars(ks);
        if (kn < 1 || kn > 128)
            return json_invalid(where, NULL, kn < 1 ? "Member must have length greater than or equal to 1"
                                                    : "Member must have length less than or equal to 128");
        if (vs && utf8_chars(vs) > 256) {
            snprintf(where, sizeof where, "tags.%zu.member.value", i + 1);
            return json_invalid(where, NULL, "Member must have length less than or equal to 256");
        }
        if (strncasecmp(ks, "aws:", 4) == 0)
            BAIL(TR_E_SM_INVALID_PARAMETER, "You can't modify system tags. Tag key: '%s'.", ks);
        for (size_t j = 0; j < i; j++) {
            const char *kj = json_string_value(json_object_get(json_array_get(l, j), "Key"));
            if (kj && strcmp(kj, ks) == 0)
                BAIL(TR_E_SM_INVALID_PARAMETER, "Duplicate tag keys are not allowed.");
        }
    }
    *out = l;
    return TR_OK;
}

/* ---- replies ------------------------------------------------------------------ */

TR_RESULT sm_tags_json(store_t st, const char *arn, json_t **out)
{
    struct tag_rec *tags = NULL;
    size_t n = 0;
    *out = NULL;
    GUARD(sm_cached_tags(st, arn, &tags, &n));
    json_t *a = json_array();
    tr_result r = a ? TR_OK : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    for (size_t i = 0; i < n && tr_ok(r); i++) {
        json_t *t = json_pack("{s:s, s:s}", "Key", tags[i].key, "Value",
                              tags[i].value ? tags[i].value : "");
        if (!t || json_array_append_new(a, t) != 0)
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    tag_list_free(tags, n);
    if (tr_failed(r)) { json_decref(a); return r; }
    *out = a;
    return TR_OK;
}

TR_RESULT sm_versions_to_stages(const struct secret *s, json_t **out)
{
    *out = NULL;
    json_t *m = NULL;
    for (size_t i = 0; i < s->nversions; i++) {
        const struct secret_version *v = &s->versions[i];
        if (v->nstages == 0) continue;
        if (!m) {
            m = json_object();
            ENSURE(m != NULL, TR_E_INTERNAL);
        }
        json_t *a = json_array();
        if (!a || json_object_set_new(m, v->id, a) != 0) {
            json_decref(m);
            BAIL0(TR_E_INTERNAL);
        }
        for (size_t j = 0; j < v->nstages; j++)
            if (json_array_append_new(a, json_string(v->stages[j])) != 0) {
                json_decref(m);
                BAIL0(TR_E_INTERNAL);
            }
    }
    *out = m;
    return TR_OK;
}

TR_RESULT sm_describe_fill(struct req_ctx *rc, const struct secret *s, bool versions, json_t *obj)
{
    json_t *tags = NULL;
    GUARD(sm_set(obj, "ARN", json_string(s->arn)));
    GUARD(sm_set(obj, "Name", json_string(s->name)));
    if (s->description) GUARD(sm_set(obj, "Description", json_string(s->description)));
    /* KmsKeyId is omitted when the secret uses aws/secretsmanager
     * (docs/AUTHORIZATION.md 5.3); otherwise AWS returns the key as it was given. */
    if (s->kms_key_id) GUARD(sm_set(obj, "KmsKeyId", json_string(s->kms_key_id)));
    json_t *d = s->doc;
    /* RotationEnabled only once rotation was configured (AWS omits it
     * for a secret that never had rotation: recorded DescribeSecret). */
    json_t *rot = json_object_get(d, "rotation_enabled");
    if (json_is_boolean(rot)) GUARD(sm_set(obj, "RotationEnabled", json_boolean(json_is_true(rot))));
    const char *lambda = doc_str(d, "rotation_lambda_arn");
    if (lambda) GUARD(sm_set(obj, "RotationLambdaARN", json_string(lambda)));
    json_t *rules = json_object_get(d, "rotation_rules");
    if (json_is_object(rules)) GUARD(sm_set(obj, "RotationRules", json_deep_copy(rules)));
    if (doc_num(d, "last_rotated")) GUARD(sm_set_date(obj, "LastRotatedDate", doc_num(d, "last_rotated")));
    if (s->last_changed) GUARD(sm_set_date(obj, "LastChangedDate", s->last_changed));
    if (s->last_accessed) GUARD(sm_set_date(obj, "LastAccessedDate", (double)s->last_accessed));
    /* DescribeSecret's DeletedDate is "the date the secret is scheduled
     * for deletion" (model): the doc's deletion_date that DeleteSecret
     * records (manage.c), else the request time.  ListSecrets documents
     * its DeletedDate as when the deletion occurred: manage.c sets that
     * one itself after this fill when it wants the other date. */
    if (s->deleted_date) {
        double when = doc_num(d, "deletion_date");
        GUARD(sm_set_date(obj, "DeletedDate", when ? when : s->deleted_date));
    }
    if (doc_num(d, "next_rotation")) GUARD(sm_set_date(obj, "NextRotationDate", doc_num(d, "next_rotation")));
    GUARD(sm_tags_json(rc->st, s->arn, &tags));
    if (json_array_size(tags) > 0) GUARD(sm_set(obj, "Tags", tags));
    else json_decref(tags);
    if (versions) {
        json_t *m = NULL;
        GUARD(sm_versions_to_stages(s, &m));
        if (m) GUARD(sm_set(obj, "VersionIdsToStages", m));
    }
    if (s->created) GUARD(sm_set_date(obj, "CreatedDate", s->created));
    return TR_OK;
}
