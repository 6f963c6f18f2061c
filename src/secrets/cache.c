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

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define SC_SLOTS 16
#define SC_ID_MAX 256      /* longer SecretIds are not cached */

struct sc_entry {
    bool used_slot;
    uint64_t gen;
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
static pthread_key_t sc_key;
static pthread_once_t sc_once = PTHREAD_ONCE_INIT;
static bool sc_key_ok;

static void sc_drop(void *p)
{
    struct sc *c = p;
    for (size_t i = 0; i < SC_SLOTS; i++) secret_free(&c->e[i].s);
    free(c);
}

static void sc_init(void)
{
    sc_key_ok = pthread_key_create(&sc_key, sc_drop) == 0;
}

void sm_cache_enable(bool on)
{
    pthread_once(&sc_once, sc_init);
    atomic_store(&sc_on, on && sc_key_ok);
}

bool sm_cache_enabled(void)
{
    return atomic_load_explicit(&sc_on, memory_order_relaxed);
}

static struct sc *sc_get(void)
{
    if (!atomic_load_explicit(&sc_on, memory_order_relaxed)) return NULL;
    struct sc *c = pthread_getspecific(sc_key);
    if (c) return c;
    c = calloc(1, sizeof *c);
    if (c && pthread_setspecific(sc_key, c) != 0) {
        free(c);
        c = NULL;
    }
    return c;
}

static bool same_key(const struct sc_entry *e, const struct req_ctx *rc, const char *id)
{
    return strcmp(e->id, id) == 0 && strcmp(e->account, rc->who.account_id) == 0 &&
           strcmp(e->region, rc->region) == 0;
}

bool sm_cache_get(const struct req_ctx *rc, const char *secret_id, struct secret *out, uint64_t *gen)
{
    struct sc *c = rc->writing ? NULL : sc_get();
    *gen = STORE_GEN_NONE;
    if (!c || strlen(secret_id) >= SC_ID_MAX) return false;
    *gen = rc->st[0]->generation(rc->st);
    if (*gen == STORE_GEN_NONE) return false;
    for (size_t i = 0; i < SC_SLOTS; i++) {
        struct sc_entry *e = &c->e[i];
        if (!e->used_slot || e->gen != *gen || !same_key(e, rc, secret_id)) continue;
        if (tr_failed(secret_copy(&e->s, out))) return false;
        e->tick = ++c->tick;
        return true;
    }
    return false;
}

void sm_cache_put(const struct req_ctx *rc, const char *secret_id, uint64_t gen, const struct secret *s)
{
    struct sc *c = rc->writing ? NULL : sc_get();
    if (!c || gen == STORE_GEN_NONE || strlen(secret_id) >= SC_ID_MAX) return;
    size_t victim = 0;
    for (size_t i = 0; i < SC_SLOTS; i++) {
        struct sc_entry *e = &c->e[i];
        if (!e->used_slot || e->gen != gen || same_key(e, rc, secret_id)) {
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
