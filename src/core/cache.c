/*
 * cache.c -- the per-thread caches (contract in cache.h; the design,
 * with what each class holds, in docs/internals/CACHES.md).
 *
 * Layout.  Each thread has one struct cache_thread (core/tlocal.h: made at
 * first use, retired when the thread exits), holding one table per class
 * it has used.  A table is `slots` entries split into sets of `ways`; a key
 * lives in the set its hash picks, and a lookup compares at most `ways`
 * entries (hash first, then the key bytes).  Values sit in one array
 * beside the entries, secrets in one secmem region (locked, not dumped)
 * beside that, entry i's at i * secret_size.
 *
 * Counters.  A table's counters are written by its own thread only
 * (relaxed atomic loads and stores, no read-modify-write: plain moves on
 * x86) and read by cache_stats under the registry lock, which also keeps
 * a table from going away while it is read.  When a thread exits, its
 * counts are added to its classes' `retired` totals.
 *
 * Registry.  Classes get an index (c->id) at their first use; threads
 * link their cache_thread into a list (<sys/queue.h>'s LIST), both under
 * reg_mu.  Neither happens on a hot path.
 */
#include "core/cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "core/secmem.h"
#include "core/tlocal.h"

/* ---- the generation ---------------------------------------------------- */

static atomic_uint_fast64_t last_epoch;

uint64_t cache_epoch_new(void)
{
    return atomic_fetch_add_explicit(&last_epoch, 1, memory_order_relaxed) + 1;
}

/* ---- keys ---------------------------------------------------------------- */

/* Eight bytes at a time; the last word of a key of 8 bytes or more is its
 * last 8 bytes (overlapping the one before).  Not a defence against chosen
 * collisions: a collision only costs an eviction, since keys are compared
 * whole. */
static uint64_t key_hash(const unsigned char *p, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w = 0;
    if (n < 8) {
        for (size_t i = 0; i < n; i++) w |= (uint64_t)p[i] << (8 * i);
    } else {
        const unsigned char *end = p + n - 8;
        for (; p < end; p += 8) {
            memcpy(&w, p, 8);
            h = (h ^ w) * 0xff51afd7ed558ccdull;
            h ^= h >> 32;
        }
        memcpy(&w, end, 8);
    }
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}

/* ---- tables ---------------------------------------------------------------- */

struct entry {
    uint64_t hash;
    uint64_t used;              /* tick of the last use; 0: empty */
    uint64_t serial;            /* unique to this entry in the process (cache_again) */
    struct cache_gen gen;       /* CACHE_BY_GENERATION */
    unsigned char *bytes;       /* the key, then the content (CACHE_BY_CONTENT) */
    uint32_t klen, clen;
};

struct table {
    struct cache_class *cls;
    struct entry *e;            /* slots */
    unsigned char *values;      /* slots * stride */
    unsigned char *secret;      /* secmem: slots * secret_size, or NULL */
    size_t stride, secret_bytes;
    unsigned sets_mask, ways;
    size_t last;                /* the entry found or made last: looked at first */
    uint64_t tick;
    uint64_t flushes;           /* c->flushes when last synced */
    atomic_uint_fast64_t count[4];
};

struct cache_thread {
    LIST_ENTRY(cache_thread) link;      /* the registry, under reg_mu */
    bool linked;                        /* on the registry */
    struct table *t[CACHE_CLASSES_MAX];
};

static atomic_bool enabled;
static atomic_uint_fast64_t serials;    /* entries made: put, the slow path */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cache_class *classes[CACHE_CLASSES_MAX];
static unsigned nclasses;
static LIST_HEAD(, cache_thread) threads = LIST_HEAD_INITIALIZER(threads);
static _Thread_local struct cache_thread *me;   /* this thread's, once made */

void cache_enable(bool on)
{
    atomic_store(&enabled, on);
}

bool cache_enabled(void)
{
    return atomic_load_explicit(&enabled, memory_order_relaxed);
}

static void count(struct table *t, enum cache_counter what)
{
    uint64_t v = atomic_load_explicit(&t->count[what], memory_order_relaxed);
    atomic_store_explicit(&t->count[what], v + 1, memory_order_relaxed);
}

static void *value_at(const struct table *t, size_t i)
{
    return t->values + i * t->stride;
}

/* Release entry i: its value's heap memory, its key and content, and its
 * secret, wiped. */
static void entry_clear(struct table *t, size_t i)
{
    struct entry *e = &t->e[i];
    if (!e->used) return;
    if (t->cls->release) t->cls->release(value_at(t, i));
    memset(value_at(t, i), 0, t->stride);
    if (t->secret) secure_zero(t->secret + i * t->cls->secret_size, t->cls->secret_size);
    free(e->bytes);
    memset(e, 0, sizeof *e);
}

static void table_free(struct table *t)
{
    if (!t) return;
    for (size_t i = 0; t->e && i < t->cls->slots; i++) entry_clear(t, i);
    if (t->secret) secmem_free(t->secret, t->secret_bytes);
    free(t->e);
    free(t->values);
    free(t);
}

/* Unlink a thread's tables from the registry, fold their counters into
 * their classes' totals, and free them: the tlocal drop of cache_thread. */
static void thread_retire(void *p)
{
    struct cache_thread *th = p;
    if (me == th) me = NULL;
    pthread_mutex_lock(&reg_mu);
    if (th->linked) LIST_REMOVE(th, link);
    for (unsigned i = 0; i < CACHE_CLASSES_MAX; i++) {
        struct table *t = th->t[i];
        for (int k = 0; t && k < 4; k++)
            atomic_fetch_add_explicit(&t->cls->retired[k],
                                      atomic_load_explicit(&t->count[k], memory_order_relaxed),
                                      memory_order_relaxed);
    }
    pthread_mutex_unlock(&reg_mu);
    for (unsigned i = 0; i < CACHE_CLASSES_MAX; i++) table_free(th->t[i]);
    free(th);
}

static struct tlocal_slot thread_slot = TLOCAL_SLOT(thread_retire);

/* This thread's cache_thread, made and put on the registry at first use;
 * NULL when memory ran out. */
static struct cache_thread *this_thread(void)
{
    if (me) return me;
    struct cache_thread *th = tlocal_get(&thread_slot, sizeof *th);
    if (th && !th->linked) {
        pthread_mutex_lock(&reg_mu);
        LIST_INSERT_HEAD(&threads, th, link);
        th->linked = true;
        pthread_mutex_unlock(&reg_mu);
    }
    me = th;
    return th;
}

void cache_thread_release(void)
{
    tlocal_release(&thread_slot);
}

/* c's index, registering c at its first use; -1 when the registry is full. */
static int class_index(struct cache_class *c)
{
    unsigned id = atomic_load_explicit(&c->id, memory_order_acquire);
    if (id) return (int)id - 1;
    pthread_mutex_lock(&reg_mu);
    id = atomic_load_explicit(&c->id, memory_order_relaxed);
    if (!id && nclasses < CACHE_CLASSES_MAX) {
        classes[nclasses++] = c;
        id = nclasses;
        atomic_store_explicit(&c->id, id, memory_order_release);
    }
    pthread_mutex_unlock(&reg_mu);
    return (int)id - 1;
}

static struct table *table_new(struct cache_class *c)
{
    struct table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->cls = c;
    t->flushes = atomic_load_explicit(&c->flushes, memory_order_acquire);
    if (c->slots == 0) return t;                /* counters only */
    t->ways = c->ways ? c->ways : c->slots;
    t->sets_mask = c->slots / t->ways - 1;
    t->stride = (c->value_size + 15) / 16 * 16;
    if (t->stride == 0) t->stride = 16;
    t->e = calloc(c->slots, sizeof *t->e);
    t->values = calloc(c->slots, t->stride);
    if (c->secret_size) {
        t->secret_bytes = (size_t)c->slots * c->secret_size;
        t->secret = secmem_alloc(t->secret_bytes);
    }
    if (!t->e || !t->values || (c->secret_size && !t->secret)) {
        table_free(t);
        return NULL;
    }
    return t;
}

/* This thread's table of c, made (with this thread's cache_thread) at
 * first use; NULL when memory ran out or the registry is full. */
static struct table *table_make(struct cache_class *c)
{
    int i = class_index(c);
    struct cache_thread *th = i >= 0 ? this_thread() : NULL;
    if (!th) return NULL;
    if (th->t[i]) return th->t[i];
    struct table *t = table_new(c);
    if (!t) return NULL;
    pthread_mutex_lock(&reg_mu);               /* cache_stats reads th->t */
    th->t[i] = t;
    pthread_mutex_unlock(&reg_mu);
    return t;
}

/* This thread's table of c: at once when it has one, else made. */
static inline struct table *table_of(struct cache_class *c)
{
    unsigned id = atomic_load_explicit(&c->id, memory_order_acquire);
    struct cache_thread *th = me;
    if (id && th && th->t[id - 1]) return th->t[id - 1];
    return table_make(c);
}

/* This thread's table of c when caching is on, with any flush of c
 * since its last use applied. */
static inline struct table *table_for(struct cache_class *c)
{
    if (!cache_enabled()) return NULL;
    struct table *t = table_of(c);
    if (!t) return NULL;
    uint64_t f = atomic_load_explicit(&c->flushes, memory_order_acquire);
    if (t->flushes != f) {
        for (size_t i = 0; t->e && i < c->slots; i++) {
            if (!t->e[i].used) continue;
            entry_clear(t, i);
            count(t, CACHE_STALE);
        }
        t->flushes = f;
    }
    return t;
}

/* The staleness rule (cache.h). */
static bool fresh(const struct table *t, const struct entry *e, struct cache_gen now,
                  const void *content, size_t clen)
{
    if (t->cls->validity == CACHE_BY_CONTENT)
        return e->clen == clen && (clen == 0 || memcmp(e->bytes + e->klen, content, clen) == 0);
    return cache_gen_known(now) && cache_gen_same(e->gen, now);
}

/* Entry index of k in t, or -1. */
static long find(const struct table *t, const struct cache_key *k, uint64_t h)
{
    size_t base = (size_t)(h & t->sets_mask) * t->ways;
    for (size_t w = 0; w < t->ways; w++) {
        const struct entry *e = &t->e[base + w];
        if (e->used && e->hash == h && e->klen == k->len && memcmp(e->bytes, k->b, k->len) == 0)
            return (long)(base + w);
    }
    return -1;
}

static inline bool is_last(const struct table *t, const struct cache_key *k)
{
    const struct entry *e = &t->e[t->last];
    return e->used && e->klen == k->len && memcmp(e->bytes, k->b, k->len) == 0;
}

static inline __attribute__((always_inline)) void *
get(struct cache_class *c, const struct cache_key *k, struct cache_gen now, const void *content,
    size_t clen)
{
    struct table *t = table_for(c);
    if (!t || !t->e) return NULL;
    if (k->too_long || (c->validity == CACHE_BY_GENERATION && !cache_gen_known(now))) {
        count(t, CACHE_MISSES);
        return NULL;
    }
    /* A request asks for the same key several times (a KMS key: record,
     * policy, aliases and tags, material), and a steady client for the
     * same key request after request: the last entry first, by its key
     * bytes alone. */
    long i = is_last(t, k) ? (long)t->last : find(t, k, key_hash(k->b, k->len));
    if (i >= 0 && fresh(t, &t->e[i], now, content, clen)) {
        t->e[i].used = ++t->tick;
        t->last = (size_t)i;
        count(t, CACHE_HITS);
        return value_at(t, (size_t)i);
    }
    if (i >= 0) {
        entry_clear(t, (size_t)i);
        count(t, CACHE_STALE);
    }
    count(t, CACHE_MISSES);
    return NULL;
}

static void *put(struct cache_class *c, const struct cache_key *k, struct cache_gen gen,
                 const void *content, size_t clen)
{
    struct table *t = table_for(c);
    if (!t || !t->e || k->too_long || clen > UINT32_MAX) return NULL;
    if (c->validity == CACHE_BY_GENERATION && !cache_gen_known(gen)) return NULL;
    uint64_t h = key_hash(k->b, k->len);
    size_t base = (size_t)(h & t->sets_mask) * t->ways, victim = base;
    int why = -1;               /* -1: k's own entry or a free one; else the counter */
    long own = find(t, k, h);
    if (own >= 0) {
        victim = (size_t)own;
    } else {
        /* A free entry, else one made under another generation (stale, or
         * about to be: generations only move on), else the least recently
         * used. */
        why = CACHE_EVICTIONS;
        for (size_t w = 0; w < t->ways; w++) {
            struct entry *e = &t->e[base + w];
            if (!e->used) { victim = base + w; why = -1; break; }
            if (c->validity == CACHE_BY_GENERATION && !cache_gen_same(e->gen, gen)) {
                victim = base + w;
                why = CACHE_STALE;
                break;
            }
            if (e->used < t->e[victim].used) victim = base + w;
        }
    }
    unsigned char *bytes = malloc(k->len + clen > 0 ? k->len + clen : 1);
    if (!bytes) return NULL;
    entry_clear(t, victim);
    if (why >= 0) count(t, (enum cache_counter)why);
    memcpy(bytes, k->b, k->len);
    if (clen) memcpy(bytes + k->len, content, clen);
    struct entry *e = &t->e[victim];
    *e = (struct entry){ .hash = h, .used = ++t->tick, .gen = gen, .bytes = bytes,
                         .klen = (uint32_t)k->len, .clen = (uint32_t)clen,
                         .serial = atomic_fetch_add_explicit(&serials, 1, memory_order_relaxed) + 1 };
    t->last = victim;
    return value_at(t, victim);
}

void *cache_get(struct cache_class *c, const struct cache_key *k, struct cache_gen now)
{
    return get(c, k, now, NULL, 0);
}

void *cache_put(struct cache_class *c, const struct cache_key *k, struct cache_gen gen)
{
    return put(c, k, gen, NULL, 0);
}

void *cache_get_by_content(struct cache_class *c, const struct cache_key *k,
                           const void *content, size_t len)
{
    return get(c, k, CACHE_GEN_NONE, content, len);
}

void *cache_put_by_content(struct cache_class *c, const struct cache_key *k,
                           const void *content, size_t len)
{
    return put(c, k, CACHE_GEN_NONE, content, len);
}

/* The entry index of a value of t, or -1. */
static long index_of(const struct table *t, const void *value)
{
    const unsigned char *v = value;
    if (!t || !t->values || !v || v < t->values) return -1;
    size_t off = (size_t)(v - t->values);
    if (off % t->stride != 0 || off / t->stride >= t->cls->slots) return -1;
    return (long)(off / t->stride);
}

/* This thread's table of c if it has one. */
static struct table *table_if_any(struct cache_class *c)
{
    unsigned id = atomic_load_explicit(&c->id, memory_order_acquire);
    return id && me ? me->t[id - 1] : NULL;
}

void cache_drop(struct cache_class *c, void *value)
{
    struct table *t = table_if_any(c);
    long at = index_of(t, value);
    if (at >= 0) entry_clear(t, (size_t)at);
}

struct cache_ref cache_ref_of(struct cache_class *c, void *value)
{
    struct table *t = table_if_any(c);
    long at = index_of(t, value);
    if (at < 0 || !t->e[at].used) return (struct cache_ref){ NULL, 0, 0 };
    return (struct cache_ref){ value, t->e[at].serial, (size_t)at };
}

void *cache_again(struct cache_class *c, struct cache_ref r, struct cache_gen now)
{
    if (!r.value || c->validity != CACHE_BY_GENERATION) return NULL;
    struct table *t = table_for(c);
    if (!t || !t->e || r.at >= c->slots) return NULL;
    struct entry *e = &t->e[r.at];
    /* The serial is unique to one entry ever made: the value is its. */
    if (!e->used || e->serial != r.serial || !cache_gen_known(now) || !cache_gen_same(e->gen, now))
        return NULL;
    e->used = ++t->tick;
    t->last = r.at;
    count(t, CACHE_HITS);
    return value_at(t, r.at);
}

void *cache_secret(struct cache_class *c, void *value)
{
    struct table *t = table_if_any(c);
    long at = index_of(t, value);
    if (at < 0 || !t->secret) return NULL;
    return t->secret + (size_t)at * c->secret_size;
}

void cache_flush(struct cache_class *c)
{
    atomic_fetch_add_explicit(&c->flushes, 1, memory_order_acq_rel);
    struct table *t = table_if_any(c);
    if (!t) return;
    for (size_t k = 0; t->e && k < c->slots; k++) {
        if (!t->e[k].used) continue;
        entry_clear(t, k);
        count(t, CACHE_STALE);
    }
    t->flushes = atomic_load_explicit(&c->flushes, memory_order_acquire);
}

void cache_wipe_all_threads(void)
{
    pthread_mutex_lock(&reg_mu);
    struct cache_thread *ct;
    LIST_FOREACH(ct, &threads, link)
        for (size_t c = 0; c < CACHE_CLASSES_MAX; c++) {
            struct table *t = ct->t[c];
            for (size_t k = 0; t && t->e && k < t->cls->slots; k++) entry_clear(t, k);
        }
    pthread_mutex_unlock(&reg_mu);
}

/* ---- counters ------------------------------------------------------------------ */

void cache_note(struct cache_class *c, enum cache_counter what)
{
    struct table *t = table_of(c);
    if (t) count(t, what);
}

size_t cache_stats(struct cache_stats *out, size_t max)
{
    pthread_mutex_lock(&reg_mu);
    size_t n = nclasses;
    for (size_t i = 0; i < n && i < max; i++) {
        struct cache_class *c = classes[i];
        uint64_t v[4];
        for (int k = 0; k < 4; k++)
            v[k] = atomic_load_explicit(&c->retired[k], memory_order_relaxed);
        struct cache_thread *th;
        LIST_FOREACH(th, &threads, link) {
            struct table *t = th->t[i];
            for (int k = 0; t && k < 4; k++)
                v[k] += atomic_load_explicit(&t->count[k], memory_order_relaxed);
        }
        out[i] = (struct cache_stats){ .name = c->name, .hits = v[CACHE_HITS],
                                       .misses = v[CACHE_MISSES], .stale = v[CACHE_STALE],
                                       .evictions = v[CACHE_EVICTIONS] };
    }
    pthread_mutex_unlock(&reg_mu);
    return n;
}
