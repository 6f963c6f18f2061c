/*
 * cache.c -- the secrets a thread looked up last, so that a read of the
 * same secret does not reload and re-parse its entity and version
 * documents from the store each time (bench/README.md has the figures).
 *
 * Key: the caller's account and region and the SecretId exactly as given
 * (a name, a full or a partial ARN all resolve in sm_lookup; the cache
 * sits in front of it).  Validity: the store generation (store.h) read
 * before the secret was loaded; any write moves it on, so an entry is
 * never used after the secret (or anything else) changed.  Per thread: a
 * hit takes no lock; entries are freed when the thread exits.  Write
 * operations (rc->writing) neither use nor fill it.  Callers get
 * deep copies, which they may change and must secret_free.
 *
 * No plaintext is ever here: a struct secret holds only sealed values
 * (envelope.c).
 */
#include "secrets/secrets.h"

#include "core/tlocal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define SC_SLOTS 16
#define SC_ID_MAX 256      /* longer SecretIds are not cached */

struct sc_entry {
    bool used_slot;
    struct cache_gen gen;
    uint64_t tick;
    char account[ACCOUNT_ID_LEN + 1];
    char region[64];
    char id[SC_ID_MAX];
    struct secret s;
};

struct sc {
    struct sc_entry e[SC_SLOTS];
    uint64_t tick;
};

static atomic_bool sc_on;

static void sc_drop(void *p)
{
    struct sc *c = p;
    for (size_t i = 0; i < SC_SLOTS; i++) secret_free(&c->e[i].s);
    free(c);
}

static struct tlocal_slot sc_slot = TLOCAL_SLOT(sc_drop);

void sm_cache_enable(bool on)
{
    atomic_store(&sc_on, on);
}

bool sm_cache_enabled(void)
{
    return atomic_load_explicit(&sc_on, memory_order_relaxed);
}

static struct sc *sc_get(void)
{
    if (!atomic_load_explicit(&sc_on, memory_order_relaxed)) return NULL;
    return tlocal_get(&sc_slot, sizeof(struct sc));
}

static bool same_key(const struct sc_entry *e, const struct req_ctx *rc, const char *id)
{
    return strcmp(e->id, id) == 0 && strcmp(e->account, rc->who.account_id) == 0 &&
           strcmp(e->region, rc->region) == 0;
}

bool sm_cache_get(const struct req_ctx *rc, const char *secret_id, struct secret *out,
                  struct cache_gen *gen)
{
    struct sc *c = rc->writing ? NULL : sc_get();
    *gen = CACHE_GEN_NONE;
    if (!c || strlen(secret_id) >= SC_ID_MAX) return false;
    *gen = rc->st[0]->generation(rc->st);
    if (!cache_gen_known(*gen)) return false;
    for (size_t i = 0; i < SC_SLOTS; i++) {
        struct sc_entry *e = &c->e[i];
        if (!e->used_slot || !cache_gen_same(e->gen, *gen) || !same_key(e, rc, secret_id)) continue;
        if (tr_failed(secret_copy(&e->s, out))) return false;
        e->tick = ++c->tick;
        return true;
    }
    return false;
}

void sm_cache_put(const struct req_ctx *rc, const char *secret_id, struct cache_gen gen,
                  const struct secret *s)
{
    struct sc *c = rc->writing ? NULL : sc_get();
    if (!c || !cache_gen_known(gen) || strlen(secret_id) >= SC_ID_MAX) return;
    size_t victim = 0;
    for (size_t i = 0; i < SC_SLOTS; i++) {
        struct sc_entry *e = &c->e[i];
        if (!e->used_slot || !cache_gen_same(e->gen, gen) || same_key(e, rc, secret_id)) {
            victim = i;
            break;
        }
        if (e->tick < c->e[victim].tick) victim = i;
    }
    struct sc_entry *e = &c->e[victim];
    secret_free(&e->s);
    memset(e, 0, sizeof *e);
    if (tr_failed(secret_copy(s, &e->s))) return;
    snprintf(e->account, sizeof e->account, "%s", rc->who.account_id);
    snprintf(e->region, sizeof e->region, "%s", rc->region);
    snprintf(e->id, sizeof e->id, "%s", secret_id);
    e->gen = gen;
    e->tick = ++c->tick;
    e->used_slot = true;
}

/* ---- tags ------------------------------------------------------------------
 * The tags of a secret ARN (secretsmanager:ResourceTag/<k> in every
 * authorization, Tags in DescribeSecret), kept the same way. */
#define TC_SLOTS 16

struct tc_entry {
    bool used_slot;
    struct cache_gen gen;
    uint64_t tick;
    char *arn;
    struct tag_rec *tags;
    size_t n;
};

struct tc {
    struct tc_entry e[TC_SLOTS];
    uint64_t tick;
};


static void tc_clear(struct tc_entry *e)
{
    free(e->arn);
    tag_list_free(e->tags, e->n);
    memset(e, 0, sizeof *e);
}

static void tc_drop(void *p)
{
    struct tc *c = p;
    for (size_t i = 0; i < TC_SLOTS; i++) tc_clear(&c->e[i]);
    free(c);
}

static struct tlocal_slot tc_slot = TLOCAL_SLOT(tc_drop);

static struct tc *tc_get(void)
{
    return sm_cache_enabled() ? tlocal_get(&tc_slot, sizeof(struct tc)) : NULL;
}

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
    struct tc *c = tc_get();
    struct cache_gen gen = c ? st[0]->generation(st) : CACHE_GEN_NONE;
    *out = NULL;
    *n = 0;
    if (c && cache_gen_known(gen)) {
        for (size_t i = 0; i < TC_SLOTS; i++) {
            struct tc_entry *e = &c->e[i];
            if (e->used_slot && cache_gen_same(e->gen, gen) && strcmp(e->arn, arn) == 0) {
                e->tick = ++c->tick;
                return tags_copy(e->tags, e->n, out, n);
            }
        }
    }
    GUARD(st[0]->tag_list(st, arn, out, n));
    if (!c || !cache_gen_known(gen)) return TR_OK;
    size_t victim = 0;
    for (size_t i = 0; i < TC_SLOTS; i++) {
        struct tc_entry *e = &c->e[i];
        if (!e->used_slot || !cache_gen_same(e->gen, gen)) { victim = i; break; }
        if (e->tick < c->e[victim].tick) victim = i;
    }
    struct tc_entry *e = &c->e[victim];
    tc_clear(e);
    e->arn = strdup(arn);
    if (!e->arn || tr_failed(tags_copy(*out, *n, &e->tags, &e->n))) {
        tc_clear(e);
        return TR_OK;
    }
    e->used_slot = true;
    e->gen = gen;
    e->tick = ++c->tick;
    return TR_OK;
}
