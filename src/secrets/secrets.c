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
 * The version index.  A new version (PutSecretValue, the hot write) needs
 * only the labels and who holds them (to move them), the version its
 * token names (an idempotent retry), the highest seq, the count, and --
 * beyond SM_MAX_VERSIONS -- the oldest unlabeled versions.  So that it
 * reads and writes those rows alone, whatever the secret's number of
 * versions (docs/internals/IAM_STORE.md "Secrets"):
 *  - the entity doc's "version_index" holds {"labels": {label: version
 *    id}, "count": versions, "seq": highest seq, "at": last_changed when
 *    written}; sm_save writes it from the versions in memory whenever they
 *    include every labeled one (held ALL or LABELED), and leaves it alone
 *    otherwise; CreateSecret writes none, so creating a secret costs what
 *    it did (the first new version writes it);
 *  - one "secret-seq" relation per version, from the secret ARN to
 *    "<seq as 20 digits>|<version id>" (doc ""): the versions in creation
 *    order, pruned oldest first through the primary key in one statement
 *    (rel_prune_order, versions.c);
 *    sm_version_insert and sm_version_delete keep it with the versions;
 *  - sm_load_labeled reads the version the token names in full and each
 *    labeled version as a stub: its "stages" member alone (rel_member_get),
 *    checked against the index both ways; a stub is saved by setting that
 *    member alone (rel_member_set), so a label move neither parses nor
 *    rewrites the version's document.
 * An index whose "at" is not the doc's last_changed was written before
 * the last save by a build that does not know it (every label change
 * moves last_changed), and one that disagrees with a version it names is
 * wrong: either way sm_load_labeled loads every version instead, and the
 * next save rewrites the index and the creation order (that is also how
 * secrets stored before the index get one).  The creation order is
 * trusted as the index is -- both are written in the transaction that
 * changes the versions -- but an order that runs out before the count
 * says sends the prune back to every version.
 *
 * No secret value passes through this file.
 */
#include "secrets/secrets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/array.h"
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

/* {"ARN": arn, "Name": name}, built member by member: json_pack would
 * parse its format string on every reply of every read. */
TR_RESULT sm_reply_arn_name(const char *arn, const char *name, json_t **out)
{
    json_t *o = json_object();
    ENSURE(o != NULL, TR_E_INTERNAL);
    if (json_object_set_new(o, "ARN", json_string(arn)) != 0
        || json_object_set_new(o, "Name", json_string(name)) != 0) {
        json_decref(o);
        BAIL0(TR_E_INTERNAL);
    }
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
    strs_free(v->stages, v->nstages);
    free(v->key_arn);
    free(v->edk);
    free(v->ct);
    json_decref(v->doc);
    memset(v, 0, sizeof *v);
}

void secret_view(struct secret_share *sh, struct secret *to)
{
    atomic_fetch_add_explicit(&sh->refs, 1, memory_order_relaxed);
    *to = sh->s;
    to->share = sh;
}

void secret_share_release(struct secret_share *sh)
{
    if (!sh || atomic_fetch_sub_explicit(&sh->refs, 1, memory_order_acq_rel) != 1) return;
    secret_free(&sh->s);
    free(sh);
}

void secret_free(struct secret *s)
{
    if (!s) return;
    if (s->share) {                 /* a view: its pointers are the share's */
        secret_share_release(s->share);
        memset(s, 0, sizeof *s);
        return;
    }
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
    to->stub = from->stub;
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
    to->held = from->held;
    to->index_ok = from->index_ok;
    to->nall = from->nall;
    to->last_seq = from->last_seq;
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
static int64_t max_seq(const struct secret *s);

/* ---- the version memo ----------------------------------------------------
 * Most operations load every version of a secret (up to SM_MAX_VERSIONS;
 * a new version reads only the rows it needs: "The version index" at the top),
 * and parsing their JSON documents would be most of their work.  Each
 * thread remembers the versions it parsed (the core/cache.h class
 * "secret-versions", CACHE_BY_CONTENT), keyed by
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

TR_RESULT sm_stages_json(const struct secret_version *v, json_t **out)
{
    json_t *a = json_array();
    ENSURE(a != NULL, TR_E_INTERNAL);
    for (size_t i = 0; i < v->nstages; i++)
        if (json_array_append_new(a, json_string(v->stages[i])) != 0) {
            json_decref(a);
            BAIL0(TR_E_INTERNAL);
        }
    *out = a;
    return TR_OK;
}

TR_RESULT sm_version_append(struct secret *s, const char *id, struct secret_version **out)
{
    int64_t seq = max_seq(s);
    if (s->held == SM_HELD_LABELED && s->last_seq > seq) seq = s->last_seq;
    struct secret_version *n = realloc(s->versions, (s->nversions + 1) * sizeof *n);
    ENSURE(n != NULL, TR_E_INTERNAL);
    s->versions = n;
    struct secret_version *v = &s->versions[s->nversions];
    memset(v, 0, sizeof *v);
    v->id = strdup(id);
    ENSURE(v->id != NULL, TR_E_INTERNAL);
    v->seq = seq + 1;
    s->nversions++;
    if (s->held == SM_HELD_LABELED) {
        s->last_seq = v->seq;
        s->nall++;
    }
    *out = v;
    return TR_OK;
}

/* ---- the version index (see the top of the file) -------------------------- */

#define INDEX_KEY "version_index"
#define SEQ_KEY_MAX (20 + 1 + SM_TOKEN_MAX + 1)

/* "<seq as 20 digits>|<version id>": ordered by seq as text. */
static TR_RESULT seq_key(const struct secret_version *v, char *out)
{
    return str_format(out, SEQ_KEY_MAX, "a version's place", "%020lld|%s", (long long)v->seq, v->id);
}

static int64_t max_seq(const struct secret *s)
{
    int64_t seq = 0;
    for (size_t i = 0; i < s->nversions; i++)
        if (s->versions[i].seq > seq) seq = s->versions[i].seq;
    return seq;
}

/* Is the doc's index the one the last save wrote? */
static bool index_current(json_t *doc)
{
    json_t *ix = json_object_get(doc, INDEX_KEY);
    return json_is_object(ix) && json_is_object(json_object_get(ix, "labels")) &&
           json_is_integer(json_object_get(ix, "count")) &&
           json_is_integer(json_object_get(ix, "seq")) &&
           sm_doc_num(ix, "at") == sm_doc_num(doc, "last_changed");
}

static TR_RESULT set_or_del_num(json_t *d, const char *k, double v);

/* The index of s (which holds every labeled version) into the doc d. */
static TR_RESULT index_set(json_t *d, const struct secret *s)
{
    json_t *ix = json_object(), *labels = json_object();
    tr_result r = TR_OK;
    if (!ix || !labels) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    for (size_t i = 0; tr_ok(r) && i < s->nversions; i++)
        for (size_t j = 0; tr_ok(r) && j < s->versions[i].nstages; j++)
            r = sm_set(labels, s->versions[i].stages[j], json_string(s->versions[i].id));
    bool all = s->held == SM_HELD_ALL;
    int64_t seq = max_seq(s);
    if (!all && s->last_seq > seq) seq = s->last_seq;
    if (tr_ok(r)) { r = sm_set(ix, "labels", labels); labels = NULL; }
    if (tr_ok(r)) r = sm_set(ix, "count", json_integer(all ? (json_int_t)s->nversions : s->nall));
    if (tr_ok(r)) r = sm_set(ix, "seq", json_integer(seq));
    if (tr_ok(r)) r = set_or_del_num(ix, "at", s->last_changed);
    if (tr_ok(r)) { r = sm_set(d, INDEX_KEY, ix); ix = NULL; }
    json_decref(labels);
    json_decref(ix);
    return r;
}

/* Rewrite the creation order of s (held ALL) from scratch: what the
 * first save after a missing or stale index does. */
static TR_RESULT order_rewrite(store_t st, const struct secret *s)
{
    struct rel_rec *rows = NULL;
    size_t n = 0;
    char key[SEQ_KEY_MAX];
    GUARD(st[0]->rel_list_from(st, SM_SEQ_KIND, s->arn, NULL, 100000, &rows, &n));
    tr_result r = TR_OK;
    for (size_t i = 0; tr_ok(r) && i < n; i++)
        r = st[0]->rel_delete(st, SM_SEQ_KIND, s->arn, rows[i].to);
    rel_list_free(rows, n);
    for (size_t i = 0; tr_ok(r) && i < s->nversions; i++) {
        r = seq_key(&s->versions[i], key);
        struct rel_rec rel = { .from = s->arn, .to = key, .doc = "",
                               .created = (int64_t)s->versions[i].created };
        STR_SET(rel.kind, SM_SEQ_KIND);
        if (tr_ok(r)) r = st[0]->rel_put(st, &rel);
    }
    return r;
}

/* v as the stub of version `id` whose stored stages are the JSON text
 * `stages`.  On failure v may hold its id (the caller counts it, so that
 * the secret's free releases it). */
static TR_RESULT stub_from(const char *id, const char *stages, struct secret_version *v)
{
    json_error_t jerr;
    memset(v, 0, sizeof *v);
    json_t *a = json_loads(stages ? stages : "", JSON_DECODE_ANY, &jerr);
    v->stub = true;
    tr_result r = dup_into(&v->id, id);
    if (tr_ok(r) && json_array_size(a) > 0) {
        v->stages = calloc(json_array_size(a), sizeof *v->stages);
        if (!v->stages) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    for (size_t i = 0; tr_ok(r) && i < json_array_size(a); i++) {
        json_t *e = json_array_get(a, i);
        if (!json_is_string(e)) continue;
        r = dup_into(&v->stages[v->nstages], json_string_value(e));
        if (tr_ok(r)) v->nstages++;
    }
    json_decref(a);
    return r;
}

/* A labeled version as a stub: its id and its stages, read from the
 * store without the rest of its doc.  *found false when it is gone. */
static TR_RESULT load_stub(store_t st, const struct secret *s, const char *id,
                           struct secret_version *v, bool *found)
{
    struct rel_rec rel;
    *found = false;
    memset(v, 0, sizeof *v);
    tr_result r = st[0]->rel_member_get(st, SM_VER_KIND, s->arn, id, "stages", &rel);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND) {
        tr_clear_error();
        return TR_OK;
    }
    GUARD(r);
    r = stub_from(id, rel.doc, v);
    rel_rec_free(&rel);
    *found = tr_ok(r);
    return r;
}

/* The stubs of the two versions ids[0], ids[1] (neither held yet) in one
 * read, appended to s->versions (room for both); one that is gone is
 * not added, and the caller's walk of the index finds it missing. */
static TR_RESULT load_stub_pair(store_t st, struct secret *s, const char *const *ids)
{
    struct rel_rec *rows = NULL;
    size_t n = 0;
    GUARD(st[0]->rel_member_get_pair(st, SM_VER_KIND, s->arn, "stages", ids[0], ids[1], &rows, &n));
    tr_result r = TR_OK;
    for (size_t i = 0; i < n && i < 2 && tr_ok(r); i++) {
        struct secret_version *v = &s->versions[s->nversions];
        r = stub_from(rows[i].to, rows[i].doc, v);
        if (v->id) s->nversions++;
    }
    rel_list_free(rows, n);
    return r;
}

/* The versions the index names that are not held yet: when there are
 * exactly two (AWSCURRENT's and AWSPREVIOUS's, the usual case), read
 * their stubs in one statement.  Anything odd (a version id that is not
 * a string, more versions) is left to the caller's walk, one by one. */
static TR_RESULT prefetch_stubs(store_t st, struct secret *s, json_t *labels)
{
    const char *want[2] = { NULL, NULL }, *label;
    size_t nwant = 0;
    json_t *id;
    json_object_foreach(labels, label, id) {   /* label: the iteration's, unused */
        const char *vid = json_string_value(id);
        if (!vid) return TR_OK;                     /* the walk refuses the index */
        if (sm_version_by_id(s, vid)) continue;
        if ((nwant > 0 && strcmp(want[0], vid) == 0) || (nwant > 1 && strcmp(want[1], vid) == 0))
            continue;
        if (nwant == 2) return TR_OK;               /* more than two: one by one */
        want[nwant++] = vid;
    }
    (void)label;
    if (nwant != 2) return TR_OK;
    return load_stub_pair(st, s, want);
}

/* Load version_id in full and the versions the index names as stubs;
 * *usable false when the index is missing or wrong (the caller then
 * loads everything). */
static TR_RESULT load_indexed(store_t st, struct secret *s, const char *version_id, bool *usable)
{
    json_t *ix = json_object_get(s->doc, INDEX_KEY), *labels = json_object_get(ix, "labels");
    const char *label;
    json_t *id;
    bool found;
    *usable = false;
    if (!s->index_ok) return TR_OK;
    size_t cap = json_object_size(labels) + 1;
    ENSURE(!s->versions && s->nversions == 0, TR_E_INTERNAL);   /* a freshly loaded entity */
    s->versions = calloc(cap, sizeof *s->versions);
    ENSURE(s->versions != NULL, TR_E_INTERNAL);
    if (version_id) {
        struct rel_rec rel;
        tr_result r = st[0]->rel_get(st, SM_VER_KIND, s->arn, version_id, &rel);
        if (tr_ok(r)) {
            r = version_from_rel(&rel, &s->versions[s->nversions++]);
            rel_rec_free(&rel);
        } else if (tr_code(r) == TR_E_STORE_NOT_FOUND) {
            tr_clear_error();
            r = TR_OK;
        }
        GUARD(r);
    }
    GUARD(prefetch_stubs(st, s, labels));
    json_object_foreach(labels, label, id) {
        if (!json_is_string(id)) return TR_OK;
        struct secret_version *v = sm_version_by_id(s, json_string_value(id));
        if (!v) {
            v = &s->versions[s->nversions];
            tr_result r = load_stub(st, s, json_string_value(id), v, &found);
            /* Counted when it holds anything (the secret's free releases
             * it); a version that is gone stays out: no entry without id. */
            if (found || tr_failed(r)) s->nversions++;
            GUARD(r);
            if (!found) return TR_OK;
        }
        if (!sm_version_has_stage(v, label)) return TR_OK;
    }
    /* Every label of a loaded version is in the index, under that version. */
    for (size_t i = 0; i < s->nversions; i++)
        for (size_t j = 0; j < s->versions[i].nstages; j++) {
            const char *named = sm_doc_str(labels, s->versions[i].stages[j]);
            if (!named || strcmp(named, s->versions[i].id) != 0) return TR_OK;
        }
    s->nall = (int64_t)json_integer_value(json_object_get(ix, "count"));
    s->last_seq = (int64_t)json_integer_value(json_object_get(ix, "seq"));
    if (s->nall < (int64_t)s->nversions || s->last_seq < max_seq(s)) return TR_OK;
    *usable = true;
    return TR_OK;
}

const char *sm_version_index_problem(store_t st, const struct secret *s)
{
    json_t *ix = json_object_get(s->doc, INDEX_KEY), *labels = json_object_get(ix, "labels");
    size_t nlabels = 0, n = 0;
    struct rel_rec *rows = NULL;
    const char *why = NULL;
    char key[SEQ_KEY_MAX];
    if (!s->index_ok || s->held != SM_HELD_ALL) return NULL;
    for (size_t i = 0; i < s->nversions && !why; i++)
        for (size_t j = 0; j < s->versions[i].nstages && !why; j++) {
            const char *named = sm_doc_str(labels, s->versions[i].stages[j]);
            if (!named || strcmp(named, s->versions[i].id) != 0)
                why = "the version index does not name a label's version";
            nlabels++;
        }
    if (!why && nlabels != json_object_size(labels))
        why = "the version index names a label no version has";
    if (!why && json_integer_value(json_object_get(ix, "count")) != (json_int_t)s->nversions)
        why = "the version index counts another number of versions";
    if (!why && json_integer_value(json_object_get(ix, "seq")) != max_seq(s))
        why = "the version index has another highest seq";
    if (why) return why;
    if (tr_failed(st[0]->rel_list_from(st, SM_SEQ_KIND, s->arn, NULL, 100000, &rows, &n))) {
        tr_clear_error();
        return "the creation order does not load";
    }
    if (n != s->nversions) why = "the creation order has another number of versions";
    for (size_t i = 0; i < n && !why; i++) {
        const char *bar = strchr(rows[i].to, '|');
        const struct secret_version *v = bar ? sm_version_by_id(s, bar + 1) : NULL;
        if (!v || tr_failed(seq_key(v, key)) || strcmp(key, rows[i].to) != 0)
            why = "the creation order names a version that is not there";
    }
    tr_clear_error();
    rel_list_free(rows, n);
    return why;
}

static void versions_free(struct secret *s)
{
    for (size_t i = 0; i < s->nversions; i++) version_free(&s->versions[i]);
    free(s->versions);
    s->versions = NULL;
    s->nversions = 0;
}

TR_RESULT sm_load_labeled(store_t st, const struct ent_rec *e, const char *version_id,
                          struct secret *out)
{
    bool usable = false;
    GUARD(sm_load_entity(st, e, out));
    tr_result r = load_indexed(st, out, version_id, &usable);
    if (tr_ok(r) && usable) {
        out->held = SM_HELD_LABELED;
        return TR_OK;
    }
    versions_free(out);
    out->index_ok = false;
    if (tr_ok(r)) r = load_versions(st, out);
    if (tr_ok(r)) out->held = SM_HELD_ALL;
    if (tr_failed(r)) secret_free(out);
    return r;
}

TR_RESULT sm_load_all_versions(store_t st, struct secret *s)
{
    versions_free(s);
    s->held = SM_HELD_NONE;
    s->index_ok = false;
    GUARD(load_versions(st, s));
    s->held = SM_HELD_ALL;
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
    out->index_ok = index_current(d);
fail:
    if (tr_failed(r)) secret_free(out);
    return r;
}

TR_RESULT sm_load(store_t st, const struct ent_rec *e, struct secret *out)
{
    GUARD(sm_load_entity(st, e, out));
    tr_result r = load_versions(st, out);
    if (tr_failed(r)) secret_free(out);
    else out->held = SM_HELD_ALL;
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
    /* The version index, when s holds every labeled version; the first
     * save after a missing or stale one also rewrites the creation order. */
    if (tr_ok(r) && s->held != SM_HELD_NONE) r = index_set(d, s);
    if (tr_ok(r) && s->held == SM_HELD_ALL && !s->index_ok) r = order_rewrite(st, s);
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

/* A stub (only its stages known): set its stored stages alone. */
static TR_RESULT stub_save(store_t st, const struct secret *s, const struct secret_version *v)
{
    json_t *a;
    GUARD(sm_stages_json(v, &a));
    char *text = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    ENSURE(text != NULL, TR_E_INTERNAL);
    tr_result r = st[0]->rel_member_set(st, SM_VER_KIND, s->arn, v->id, "stages", text);
    free(text);
    return r;
}

/* The stored doc of v (not a stub), malloc'd into *out. */
static TR_RESULT version_text(const struct secret_version *v, char **out)
{
    json_t *d = v->doc ? json_deep_copy(v->doc) : json_object();
    json_t *stages = NULL;
    char *text = NULL;
    tr_result r = TR_OK;

    *out = NULL;
    if (!d) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    r = sm_stages_json(v, &stages);
    if (tr_failed(r)) goto fail;
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
    if (!text) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
fail:
    json_decref(stages);
    json_decref(d);
    if (tr_ok(r)) *out = text;
    return r;
}

TR_RESULT sm_version_save(store_t st, const struct secret *s, const struct secret_version *v)
{
    char *text = NULL;
    if (v->stub) return stub_save(st, s, v);
    GUARD(version_text(v, &text));
    struct rel_rec rel = { .from = s->arn, .to = v->id, .doc = text, .created = (int64_t)v->created };
    STR_SET(rel.kind, SM_VER_KIND);
    tr_result r = st[0]->rel_put(st, &rel);
    free(text);
    return r;
}

TR_RESULT sm_stubs_save(store_t st, const struct secret *s, const struct secret_version *a,
                        const struct secret_version *b)
{
    json_t *ja = NULL, *jb = NULL;
    char *ta = NULL, *tb = NULL;
    ENSURE(a->stub && b->stub, TR_E_INTERNAL);
    tr_result r = sm_stages_json(a, &ja);
    if (tr_ok(r)) r = sm_stages_json(b, &jb);
    if (tr_ok(r)) {
        ta = json_dumps(ja, JSON_COMPACT);
        tb = json_dumps(jb, JSON_COMPACT);
        if (!ta || !tb) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    if (tr_ok(r)) r = st[0]->rel_member_set_pair(st, SM_VER_KIND, s->arn, "stages", a->id, ta, b->id, tb);
    free(ta);
    free(tb);
    json_decref(ja);
    json_decref(jb);
    return r;
}

/* The version's row and its place in the creation order: one statement. */
TR_RESULT sm_version_insert(store_t st, const struct secret *s, const struct secret_version *v)
{
    char key[SEQ_KEY_MAX];
    char *text = NULL;
    ENSURE(!v->stub, TR_E_INTERNAL);
    GUARD(seq_key(v, key));
    GUARD(version_text(v, &text));
    struct rel_rec ver = { .from = s->arn, .to = v->id, .doc = text, .created = (int64_t)v->created };
    struct rel_rec seq = { .from = s->arn, .to = key, .doc = "", .created = (int64_t)v->created };
    STR_SET(ver.kind, SM_VER_KIND);
    STR_SET(seq.kind, SM_SEQ_KIND);
    tr_result r = st[0]->rel_put_pair(st, &ver, &seq);
    free(text);
    return r;
}

TR_RESULT sm_version_delete(store_t st, const struct secret *s, const struct secret_version *v)
{
    char key[SEQ_KEY_MAX];
    GUARD(st[0]->rel_delete(st, SM_VER_KIND, s->arn, v->id));
    GUARD(seq_key(v, key));
    tr_result r = st[0]->rel_delete(st, SM_SEQ_KIND, s->arn, key);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND) {   /* stored before the index */
        tr_clear_error();
        r = TR_OK;
    }
    return r;
}

TR_RESULT sm_purge(store_t st, const struct secret *s)
{
    struct tag_rec *tags = NULL;
    size_t nt = 0;
    struct rel_rec *rows = NULL;
    size_t nrows = 0;
    for (size_t i = 0; i < s->nversions; i++) {
        tr_result r = sm_version_delete(st, s, &s->versions[i]);
        if (tr_failed(r) && tr_code(r) != TR_E_STORE_NOT_FOUND) return r;
    }
    /* Whatever is left of the creation order (s may hold fewer versions). */
    GUARD(st[0]->rel_list_from(st, SM_SEQ_KIND, s->arn, NULL, 100000, &rows, &nrows));
    tr_result r = TR_OK;
    for (size_t i = 0; i < nrows && tr_ok(r); i++)
        r = st[0]->rel_delete(st, SM_SEQ_KIND, s->arn, rows[i].to);
    rel_list_free(rows, nrows);
    GUARD(r);
    GUARD(st[0]->tag_list(st, s->arn, &tags, &nt));
    for (size_t i = 0; i < nt && tr_ok(r); i++) r = st[0]->tag_delete(st, s->arn, tags[i].key);
    tag_list_free(tags, nt);
    GUARD(r);
    return st[0]->ent_delete(st, SM_KIND, s->arn);
}
