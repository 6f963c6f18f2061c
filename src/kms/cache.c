/*
 * cache.c -- what the KMS request path reads of a key, kept per thread:
 * the key record, its compiled key policy, its aliases and its unwrapped
 * material versions.
 *
 * Why: a Decrypt or a Secrets Manager read otherwise reads the key record
 * and the wrapped material from SQLite, unwraps the material with the
 * root key, hashes the key-policy text to find its compiled form and lists
 * the key's aliases (kms:ResourceAliases) and tags (aws:ResourceTag/<k>)
 * -- on every request, for data that changes only when somebody writes.
 * bench/README.md has the figures.
 *
 * One class of core/cache.h ("kms-keys"), by key id and region (the
 * records of a multi-Region key and its replicas share the id), 16 keys
 * per thread.  The material is the key id's, the same in every region's
 * record: a material lookup, which names no region, is served by the
 * entry the thread looked up last when it has that id.
 * Validity: every entry carries the store generation (store.h) read
 * before its key record was read, and is used only while the generation
 * is the same; any write of this process (or another process's commit,
 * seen at the next request) moves it on.  The policy, aliases, tags and
 * material are read into a current entry when first asked for, under the
 * same generation.  Entries are per thread, so a hit takes no lock; a
 * thread's entries are freed when it exits.
 *
 * Aliases ("kms-aliases", by account, region and name, 16 per thread):
 * what an alias names, for the request path's lookups by alias
 * (kms_resolve, and the aws/secretsmanager alias every CreateSecret and
 * PutSecretValue of a secret under the managed key resolves).  Valid under
 * the same generation (aliases are KMS data); only an alias found is kept.
 *
 * Secrets: unwrapped material lives in the entry's locked memory (secmem:
 * locked, not dumped), wiped when the entry is dropped or replaced and
 * when the thread exits.  Callers get copies in their own secret buffers.
 */
#include "kms/kms.h"

#include <stdlib.h>
#include <string.h>

#include "core/cache.h"

#define KC_MATS 4                       /* material versions kept per key */

struct kc_value {
    struct key_rec key;                 /* owned strings */
    struct policy *pol;                 /* compiled key policy (a reference), or NULL */
    bool pol_done;                      /* pol is known */
    struct alias_rec *aliases;
    size_t naliases;
    bool aliases_done;
    struct tag_rec *tags;               /* one block (tags_flatten), or NULL */
    size_t ntags, tags_bytes;
    bool tags_done;
    uint32_t mat_version[KC_MATS];      /* 0: empty; the material is the entry's secret */
};

static void kc_release(void *value)
{
    struct kc_value *v = value;
    key_rec_free(&v->key);
    if (v->pol) policy_unref(v->pol);
    free(v->aliases);
    free(v->tags);
}

/* The entry's locked memory: KC_MATS materials, mat_version[i]'s at i. */
static struct cache_class kms_keys =
    CACHE_CLASS("kms-keys", CACHE_BY_GENERATION, .slots = 16, .value_size = sizeof(struct kc_value),
                .secret_size = (size_t)KC_MATS * KMS_MATERIAL_LEN, .release = kc_release);

/* See kms.h. */
void kms_forget_unwrapped(void)
{
    cache_flush(&kms_keys);
    ciphertext_forget_keys();
}

/* The entry this thread looked up last: a request asks for one key's
 * record, then its policy, aliases and tags, and material. */
static _Thread_local struct cache_ref last_key;

static void key_of(const char *key_id, const char *region, struct cache_key *k)
{
    cache_key_init(k);
    cache_key_str(k, key_id);
    cache_key_str(k, region);
}

/* The current entry of (key_id, region), or NULL; region NULL: the last
 * entry looked up when it is key_id's (the material, shared by region). */
static struct kc_value *kc_find(store_t st, const char *key_id, const char *region)
{
    if (!cache_enabled()) return NULL;
    struct cache_gen now = st[0]->generation_of(st, STORE_DOM_KMS);
    struct kc_value *v = cache_again(&kms_keys, last_key, now);
    if (v && strcmp(v->key.key_id, key_id) == 0 && (!region || strcmp(v->key.region, region) == 0))
        return v;
    if (!region) return NULL;
    struct cache_key k;
    key_of(key_id, region, &k);
    v = cache_get(&kms_keys, &k, now);
    if (v) last_key = cache_ref_of(&kms_keys, v);
    return v;
}

static TR_RESULT dup_str(const char *s, char **out)
{
    *out = NULL;
    if (!s) return TR_OK;
    *out = strdup(s);
    ENSURE(*out != NULL, TR_E_INTERNAL);
    return TR_OK;
}

static TR_RESULT key_copy(const struct key_rec *from, struct key_rec *to)
{
    *to = *from;
    to->arn = to->description = to->policy = to->policy_ids = NULL;
    tr_result r = dup_str(from->arn, &to->arn);
    if (tr_ok(r)) r = dup_str(from->description, &to->description);
    if (tr_ok(r)) r = dup_str(from->policy, &to->policy);
    if (tr_ok(r)) r = dup_str(from->policy_ids, &to->policy_ids);
    if (tr_failed(r)) key_rec_free(to);
    return r;
}

TR_RESULT kms_cached_key_get(store_t st, const char *key_id, const char *region,
                             struct key_rec *out)
{
    struct cache_key k;
    struct cache_gen gen = cache_enabled() ? st[0]->generation_of(st, STORE_DOM_KMS) : CACHE_GEN_NONE;
    memset(out, 0, sizeof *out);
    ENSURE_REF(key_id);
    ENSURE_REF(region);
    key_of(key_id, region, &k);
    struct kc_value *hit = cache_get(&kms_keys, &k, gen);
    if (hit) {
        last_key = cache_ref_of(&kms_keys, hit);
        return key_copy(&hit->key, out);
    }
    GUARD(st[0]->key_get(st, key_id, region, out));
    struct kc_value *v = cache_put(&kms_keys, &k, gen);
    if (v && tr_failed(key_copy(out, &v->key))) {
        memset(&v->key, 0, sizeof v->key);      /* key_copy released what it made */
        cache_drop(&kms_keys, v);                /* failure to copy only means no caching */
    } else if (v) {
        last_key = cache_ref_of(&kms_keys, v);
    }
    return TR_OK;
}

/* The entry of k when current and holding the same policy text. */
static struct kc_value *entry_for(store_t st, const struct key_rec *k)
{
    struct kc_value *e = kc_find(st, k->key_id, k->region);
    if (!e) return NULL;
    const char *a = e->key.policy ? e->key.policy : "";
    const char *b = k->policy ? k->policy : "";
    return strcmp(a, b) == 0 ? e : NULL;
}

TR_RESULT kms_cached_key_policy(store_t st, const struct key_rec *k, const char *text,
                                struct policy **out)
{
    struct kc_value *e = entry_for(st, k);
    *out = NULL;
    /* The key's own policy is compiled with its binding; another text
     * (PutKeyPolicy's checks pass the new one in a copy of k) with k's
     * binding when k carries that text.  Only the key's own policy text
     * is cached here.  A stored policy that no longer compiles denies
     * everything (docs/AUTHORIZATION.md 2.9). */
    const char *ids = k->policy && strcmp(text, k->policy) == 0 ? k->policy_ids : NULL;
    if (!e || strcmp(text, e->key.policy ? e->key.policy : "") != 0)
        return policy_cache_get_stored(text, strlen(text), POLICY_KEY, ids, k->arn, out);
    if (!e->pol_done) {
        GUARD(policy_cache_get_stored(text, strlen(text), POLICY_KEY, e->key.policy_ids, k->arn,
                                      &e->pol));
        e->pol_done = true;
    }
    *out = policy_ref(e->pol);
    return TR_OK;
}

/* The tags of list v[0..n) in one allocation: the array, then the
 * strings it points to, so that a copy is one malloc and a release one
 * free.  v is released.  *bytes: the block's size. */
static TR_RESULT tags_flatten(struct tag_rec *v, size_t n, struct tag_rec **out, size_t *bytes)
{
    size_t need = n * sizeof *v;
    *out = NULL;
    *bytes = 0;
    if (n == 0) {
        tag_list_free(v, n);
        return TR_OK;
    }
    for (size_t i = 0; i < n; i++)
        need += strlen(v[i].key) + 1 + strlen(v[i].value ? v[i].value : "") + 1;
    struct tag_rec *b = malloc(need);
    if (!b) {
        tag_list_free(v, n);
        BAIL0(TR_E_INTERNAL);
    }
    char *p = (char *)(b + n);
    for (size_t i = 0; i < n; i++) {
        const char *val = v[i].value ? v[i].value : "";
        size_t kl = strlen(v[i].key) + 1, vl = strlen(val) + 1;
        b[i].key = memcpy(p, v[i].key, kl);
        p += kl;
        b[i].value = memcpy(p, val, vl);
        p += vl;
    }
    tag_list_free(v, n);
    *out = b;
    *bytes = need;
    return TR_OK;
}

/* A copy of the block `from` (n tags, `bytes` long) with its pointers
 * moved to the copy. */
static TR_RESULT tags_copy(const struct tag_rec *from, size_t n, size_t bytes,
                           struct tag_rec **out)
{
    *out = NULL;
    if (n == 0) return TR_OK;
    struct tag_rec *b = malloc(bytes);
    ENSURE(b != NULL, TR_E_INTERNAL);
    memcpy(b, from, bytes);
    for (size_t i = 0; i < n; i++) {
        b[i].key = (char *)b + (from[i].key - (const char *)from);
        b[i].value = (char *)b + (from[i].value - (const char *)from);
    }
    *out = b;
    return TR_OK;
}

/* The aliases and tags of e's key, read into e once. */
static TR_RESULT entry_attrs(struct kc_value *e, store_t st)
{
    const struct key_rec *k = &e->key;
    if (!e->aliases_done) {
        GUARD(st[0]->alias_list(st, k->account_id, k->region, k->key_id, NULL, 1000,
                                &e->aliases, &e->naliases));
        e->aliases_done = true;
    }
    if (!e->tags_done) {
        struct tag_rec *v = NULL;
        size_t nv = 0;
        GUARD(st[0]->tag_list(st, k->arn, &v, &nv));
        GUARD(tags_flatten(v, nv, &e->tags, &e->tags_bytes));
        e->ntags = nv;
        e->tags_done = true;
    }
    return TR_OK;
}

TR_RESULT kms_cached_key_attrs(store_t st, const struct key_rec *k, struct alias_rec **aliases,
                               size_t *naliases, struct tag_rec **tags, size_t *ntags)
{
    struct kc_value *e = entry_for(st, k);
    struct tag_rec *v = NULL;
    size_t nv = 0, bytes;
    tr_result r;
    *aliases = NULL;
    *tags = NULL;
    *naliases = *ntags = 0;
    if (!e) {
        GUARD(st[0]->alias_list(st, k->account_id, k->region, k->key_id, NULL, 1000, aliases,
                                naliases));
        r = st[0]->tag_list(st, k->arn, &v, &nv);
        if (tr_ok(r)) r = tags_flatten(v, nv, tags, &bytes);
        if (tr_ok(r)) *ntags = nv;
        goto done;
    }
    GUARD(entry_attrs(e, st));
    r = TR_OK;
    if (e->naliases) {
        *aliases = malloc(e->naliases * sizeof **aliases);
        if (!*aliases) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        else memcpy(*aliases, e->aliases, e->naliases * sizeof **aliases);
        *naliases = *aliases ? e->naliases : 0;
    }
    if (tr_ok(r)) r = tags_copy(e->tags, e->ntags, e->tags_bytes, tags);
    if (tr_ok(r)) *ntags = e->ntags;
done:
    if (tr_failed(r)) {
        alias_list_free(*aliases, *naliases);
        *aliases = NULL;
        *naliases = 0;
    }
    return r;
}

bool kms_cached_material_get(store_t st, const char *key_id, uint32_t version, struct buf *out)
{
    struct kc_value *e = kc_find(st, key_id, NULL);
    const uint8_t *mat = e ? cache_secret(&kms_keys, e) : NULL;
    if (!mat || version == 0) return false;
    for (size_t i = 0; i < KC_MATS; i++) {
        if (e->mat_version[i] != version) continue;
        buf_reset(out);
        return tr_ok(buf_append(out, mat + i * KMS_MATERIAL_LEN, KMS_MATERIAL_LEN));
    }
    return false;
}

void kms_cached_material_put(store_t st, const char *key_id, uint32_t version, const struct buf *m)
{
    struct kc_value *e = kc_find(st, key_id, NULL);
    uint8_t *mat = e ? cache_secret(&kms_keys, e) : NULL;
    if (!mat || version == 0 || m->len != KMS_MATERIAL_LEN) return;
    size_t at = version % KC_MATS;
    for (size_t i = 0; i < KC_MATS; i++) {
        if (e->mat_version[i] == 0 || e->mat_version[i] == version) {
            at = i;
            break;
        }
    }
    memcpy(mat + at * KMS_MATERIAL_LEN, m->data, KMS_MATERIAL_LEN);
    e->mat_version[at] = version;
}

/* ---- aliases ---------------------------------------------------------------- */

static struct cache_class kms_aliases =
    CACHE_CLASS("kms-aliases", CACHE_BY_GENERATION, .slots = 16, .value_size = sizeof(struct alias_rec));

TR_RESULT kms_cached_alias_get(store_t st, const char *account, const char *region, const char *name,
                               struct alias_rec *out)
{
    struct cache_key k;
    struct cache_gen gen = cache_enabled() ? st[0]->generation_of(st, STORE_DOM_KMS) : CACHE_GEN_NONE;
    memset(out, 0, sizeof *out);
    ENSURE_REF(account);
    ENSURE_REF(region);
    ENSURE_REF(name);
    cache_key_init(&k);
    cache_key_str(&k, account);
    cache_key_str(&k, region);
    cache_key_str(&k, name);
    const struct alias_rec *hit = cache_get(&kms_aliases, &k, gen);
    if (hit) {
        *out = *hit;
        return TR_OK;
    }
    GUARD(st[0]->alias_get(st, account, region, name, out));
    struct alias_rec *v = cache_put(&kms_aliases, &k, gen);
    if (v) *v = *out;
    return TR_OK;
}
