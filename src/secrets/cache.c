/*
 * cache.c -- the secrets a thread looked up last, so that a read of the
 * same secret does not reload and re-parse its entity and version
 * documents from the store each time (bench/README.md has the figures).
 *
 * Key: the caller's account and region and the SecretId exactly as given
 * (a name, a full or a partial ARN all resolve in sm_lookup; the cache
 * sits in front of it).  Two classes of core/cache.h, 16 entries per
 * thread each: "secrets" and "secret-tags" (by ARN).  Validity: the store
 * generation (store.h) read before the secret was loaded; any write moves
 * it on, so an entry is never used after the secret (or anything else)
 * changed.  Per thread: a hit takes no lock; entries are freed when the
 * thread exits.  Write operations (rc->writing) neither use nor fill the
 * secrets: what they read is stale at their first statement, and they
 * change the copies they get.  An entry is a struct secret_share
 * (secrets.h), immutable once made: a caller that only reads the secret
 * (GetSecretValue, BatchGetSecretValue, the authorization checks: share
 * true) gets a view of it -- one more reference, no copy -- and the others
 * a deep copy they may change.  Either way the caller secret_frees it; a
 * view keeps the secret alive after its entry is evicted or dropped.  A
 * secret loaded on a miss is moved into the entry, not copied, when the
 * caller takes a view.
 *
 * No plaintext is ever here: a struct secret holds only sealed values
 * (envelope.c).
 */
#include "secrets/secrets.h"

#include <stdlib.h>
#include <string.h>

#include "core/cache.h"
#include "secrets/cache.h"

struct sc_value {
    struct secret_share *sh;        /* the cache's reference */
};

static void sc_release(void *value)
{
    struct sc_value *v = value;
    secret_share_release(v->sh);
    v->sh = NULL;
}

static struct cache_class secrets =
    CACHE_CLASS("secrets", CACHE_BY_GENERATION, .slots = 16, .value_size = sizeof(struct sc_value),
                .release = sc_release);

static void secret_key(const struct req_ctx *rc, const char *secret_id, struct cache_key *k)
{
    cache_key_init(k);
    cache_key_str(k, rc->who.account_id);
    cache_key_str(k, rc->region);
    cache_key_str(k, secret_id);
}

bool sm_cache_get(const struct req_ctx *rc, const char *secret_id, bool share, struct secret *out,
                  struct cache_gen *gen)
{
    struct cache_key k;
    *gen = CACHE_GEN_NONE;
    if (rc->writing || !cache_enabled()) return false;
    *gen = rc->st[0]->generation_of(rc->st, STORE_DOM_SECRETS);
    secret_key(rc, secret_id, &k);
    const struct sc_value *hit = cache_get(&secrets, &k, *gen);
    if (!hit) return false;
    if (!share) return tr_ok(secret_copy(&hit->sh->s, out));
    secret_view(hit->sh, out);
    return true;
}

void sm_cache_put(const struct req_ctx *rc, const char *secret_id, struct cache_gen gen, bool share,
                  struct secret *s)
{
    struct cache_key k;
    if (rc->writing || s->share) return;
    secret_key(rc, secret_id, &k);
    struct sc_value *v = cache_put(&secrets, &k, gen);
    if (!v) return;
    struct secret_share *sh = calloc(1, sizeof *sh);
    if (!sh || (!share && tr_failed(secret_copy(s, &sh->s)))) {
        free(sh);
        cache_drop(&secrets, v);
        return;
    }
    atomic_init(&sh->refs, 1);
    v->sh = sh;
    if (share) {                    /* moved in; the caller's becomes a view */
        sh->s = *s;
        secret_view(sh, s);
    }
}

/* ---- tags ------------------------------------------------------------------
 * The tags of a secret ARN (secretsmanager:ResourceTag/<k> in every
 * authorization, Tags in DescribeSecret), kept the same way but under the
 * generation of the secrets' tags alone (STORE_DOM_SECRET_TAGS,
 * store/domains.h): only a tag write moves it, so the tags stay cached
 * across the writes of a secret's versions and the authorization of a
 * PutSecretValue reads them from here, not the store. */
struct tc_value {
    struct tag_rec *tags;
    size_t n;
};

static void tc_release(void *value)
{
    struct tc_value *v = value;
    tag_list_free(v->tags, v->n);
}

static struct cache_class secret_tags =
    CACHE_CLASS("secret-tags", CACHE_BY_GENERATION, .slots = 16, .value_size = sizeof(struct tc_value),
                .release = tc_release);

static TR_RESULT tags_copy(const struct tag_rec *from, size_t n, struct tag_rec **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (!n) return TR_OK;
    struct tag_rec *v = calloc(n, sizeof *v);
    ENSURE(v != NULL, TR_E_INTERNAL);
    for (size_t i = 0; i < n; i++) {
        v[i].key = strdup(from[i].key ? from[i].key : "");
        v[i].value = strdup(from[i].value ? from[i].value : "");
        if (!v[i].key || !v[i].value) {
            tag_list_free(v, i + 1);
            BAIL0(TR_E_INTERNAL);
        }
    }
    *out = v;
    *nout = n;
    return TR_OK;
}

TR_RESULT sm_cached_tags(store_t st, const char *arn, struct tag_rec **out, size_t *n)
{
    struct cache_key k;
    struct cache_gen gen = cache_enabled() ? st[0]->generation_of(st, STORE_DOM_SECRET_TAGS) : CACHE_GEN_NONE;
    *out = NULL;
    *n = 0;
    cache_key_init(&k);
    cache_key_str(&k, arn);
    const struct tc_value *hit = cache_get(&secret_tags, &k, gen);
    if (hit) return tags_copy(hit->tags, hit->n, out, n);
    GUARD(st[0]->tag_list(st, arn, out, n));
    struct tc_value *v = cache_put(&secret_tags, &k, gen);
    if (v && tr_failed(tags_copy(*out, *n, &v->tags, &v->n))) cache_drop(&secret_tags, v);
    return TR_OK;
}
