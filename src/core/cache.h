/*
 * cache.h -- the request path's per-thread caches: one module for every
 * kind of cached data, one entry lifecycle, one staleness rule, one
 * switch, one set of counters.  docs/internals/CACHES.md says what is
 * cached where, and why it is never stale.
 *
 * A cache class is one kind of data (access keys, identities, KMS keys,
 * secrets, ...), declared once by the module that owns it:
 *
 *   static struct cache_class keys = CACHE_CLASS("kms-keys", CACHE_BY_GENERATION,
 *       .slots = 16, .value_size = sizeof(struct my_value), .release = my_release);
 *
 * Each thread has its own table of each class, made at its first use and
 * dropped when the thread exits, so a lookup takes no lock.  An entry is
 * a key (bytes, built with cache_key_*), a value of value_size bytes that
 * the caller fills and that may own heap memory (`release` frees it), and
 * optionally secret_size bytes of locked, non-dumpable memory (secmem)
 * for secrets, zeroed when the entry is made and wiped when it goes.
 *
 * Staleness, decided in one place (cache.c, fresh()):
 *  - CACHE_BY_GENERATION: an entry carries the store generation read
 *    BEFORE its data was read (store/store.h) and is fresh while the
 *    store's generation is still exactly that, and known.  Generations
 *    are unique across store instances (the epoch), so an entry never
 *    outlives its store either.
 *  - CACHE_BY_CONTENT: an entry carries the content it was made from
 *    (the stored text of a version, the wrapped secret a signing key was
 *    derived from) and is fresh while the caller's content is the same
 *    bytes: a value that is a pure function of that content, right in
 *    any generation and any store.
 *  - Either way, cache_flush makes every thread drop a class's entries.
 * A stale entry found by a lookup is dropped at once.
 *
 * Lifecycle: cache_get returns the value of a fresh entry; cache_put
 * makes a new entry (replacing the key's old one, else taking a free
 * slot, else evicting the least recently used entry of the key's set) and
 * returns its zeroed value to fill; cache_drop removes one that could not
 * be filled.  A value pointer stays valid until this thread's next
 * cache_put, cache_drop or cache_flush of the same class: copy out what
 * must live longer (or, as iam/identity.c does, keep a reference count in
 * the value).
 *
 * The switch: cache_enable(false) (TRESOR_CACHE=off, main.c) makes every
 * get miss and every put refuse, for every class; off is the default, so
 * only `tresor serve` caches.  Counters (hits, misses, stale drops,
 * evictions) are kept per thread without atomics on shared lines and
 * summed on demand by cache_stats, for GET /metrics (core/metrics.h).
 */
#ifndef TR_CACHE_H
#define TR_CACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- the generation ----------------------------------------------------
 * Which state of one store a value was read from: an epoch, unique to that
 * store instance in this process (cache_epoch_new), and a counter that
 * moves whenever the stored data may have changed.  Two stores never share
 * an epoch, so a value read from one store can never pass for another's
 * -- dev mode's reset replaces its in-memory store with a fresh one whose
 * counter starts again from the same place.  Epoch 0: unknown, cache
 * nothing. */
struct cache_gen {
    uint64_t epoch;             /* the store instance; 0: unknown */
    uint64_t n;                 /* moves on with every change */
};

#define CACHE_GEN_NONE ((struct cache_gen){ 0, 0 })

static inline bool cache_gen_known(struct cache_gen g)
{
    return g.epoch != 0;
}

static inline bool cache_gen_same(struct cache_gen a, struct cache_gen b)
{
    return a.epoch == b.epoch && a.n == b.n;
}

/* A new epoch for a store being opened: unique in this process, never 0. */
uint64_t cache_epoch_new(void);

/* ---- classes --------------------------------------------------------------- */

enum cache_validity {
    CACHE_BY_GENERATION,        /* fresh while the store generation is the entry's */
    CACHE_BY_CONTENT,           /* fresh while the caller's content is the entry's */
};

#define CACHE_CLASSES_MAX 16

struct cache_class {
    const char *name;           /* in the counters, e.g. "kms-keys" */
    enum cache_validity validity;
    unsigned slots;             /* entries per thread, a power of two; 0: counters only
                                   (a cache that keeps its own entries, cache_note) */
    unsigned ways;              /* entries one key may occupy, a power of two <= slots;
                                   0: slots (least recently used over the whole table) */
    size_t value_size;          /* bytes of a value (zeroed when its entry is made) */
    size_t secret_size;         /* bytes of locked memory per entry; 0: none */
    void (*release)(void *value); /* frees what a value owns, not the value; NULL: nothing */
    /* cache.c's own, zero to start with */
    atomic_uint id;             /* 1 + index in the registry; 0 until first use */
    atomic_uint_fast64_t flushes;
    atomic_uint_fast64_t retired[4]; /* counters of exited threads */
};

#define CACHE_CLASS(name_, validity_, ...) { .name = (name_), .validity = (validity_), __VA_ARGS__ }

/* ---- keys ------------------------------------------------------------------ */

#define CACHE_KEY_MAX 2048      /* longer keys are not cached */

struct cache_key {
    size_t len;
    bool too_long;
    unsigned char b[CACHE_KEY_MAX];
};

static inline void cache_key_init(struct cache_key *k)
{
    k->len = 0;
    k->too_long = false;
}

/* Append n bytes (inline: keys are built on every lookup). */
static inline void cache_key_bytes(struct cache_key *k, const void *p, size_t n)
{
    if (k->too_long || n > CACHE_KEY_MAX - k->len) {
        k->too_long = true;
        return;
    }
    memcpy(k->b + k->len, p, n);
    k->len += n;
}

/* Append s and its NUL (so ("ab", "c") and ("a", "bc") differ); NULL as "". */
static inline void cache_key_str(struct cache_key *k, const char *s)
{
    if (!s) s = "";
    cache_key_bytes(k, s, strlen(s) + 1);
}

/* Append a number (fixed width). */
static inline void cache_key_u64(struct cache_key *k, uint64_t v)
{
    cache_key_bytes(k, &v, sizeof v);
}

/* ---- entries --------------------------------------------------------------- */

/* The value of k's fresh entry in this thread's table of c (made under
 * generation `now`), or NULL: a miss, the cache off, `now` unknown.  A
 * stale entry of k is dropped. */
void *cache_get(struct cache_class *c, const struct cache_key *k, struct cache_gen now);
/* A new entry for k made under `gen` -- the generation read before the
 * data was read -- with its value zeroed for the caller to fill; NULL when
 * the cache is off, gen is unknown, the key is too long or memory is
 * short: go without. */
void *cache_put(struct cache_class *c, const struct cache_key *k, struct cache_gen gen);

/* The same for CACHE_BY_CONTENT classes: fresh while made from the same
 * `content` bytes (kept with the entry). */
void *cache_get_by_content(struct cache_class *c, const struct cache_key *k,
                           const void *content, size_t len);
void *cache_put_by_content(struct cache_class *c, const struct cache_key *k,
                           const void *content, size_t len);

/* A value to come back to without building its key again: what cache_get
 * or cache_put returned, and which entry it was.  cache_again gives the
 * value back while that entry is still there and fresh under `now`
 * (CACHE_BY_GENERATION classes), else NULL: for a caller that asks for
 * one entry several times in a request (kms/cache.c: a key's record,
 * policy, aliases and tags, material). */
struct cache_ref {
    void *value;
    uint64_t serial;
    size_t at;                  /* the entry's index */
};
struct cache_ref cache_ref_of(struct cache_class *c, void *value);
void *cache_again(struct cache_class *c, struct cache_ref r, struct cache_gen now);

/* Remove the entry whose value this is (a fill that failed). */
void cache_drop(struct cache_class *c, void *value);
/* The locked memory of value's entry (c->secret_size bytes). */
void *cache_secret(struct cache_class *c, void *value);
/* Every thread drops its entries of c: this one now, the others at their
 * next use of c. */
void cache_flush(struct cache_class *c);

/* ---- the switch -------------------------------------------------------------- */

/* Wipe and drop every entry of every class in every thread, now (the
 * seal: no value derived from the root key may outlive it).  The caller
 * guarantees that no other thread uses its caches meanwhile (http/control.c
 * holds the seal lock exclusively, which every request holds shared). */
void cache_wipe_all_threads(void);
void cache_enable(bool on);
bool cache_enabled(void);

/* ---- counters ---------------------------------------------------------------- */

enum cache_counter { CACHE_HITS, CACHE_MISSES, CACHE_STALE, CACHE_EVICTIONS };

/* Count one event of a cache that keeps its own entries (slots 0: the
 * policy cache), on this thread's counters of c. */
void cache_note(struct cache_class *c, enum cache_counter what);

struct cache_stats {
    const char *name;
    uint64_t hits, misses;
    uint64_t stale;             /* entries dropped: their data had moved on, or flushed */
    uint64_t evictions;         /* fresh entries pushed out for room */
};

/* The counters of every class used so far in this process, summed over
 * its threads, live and exited: fills out[0 .. min(n, max)) and returns
 * n, the number of classes. */
size_t cache_stats(struct cache_stats *out, size_t max);

/* Drop the calling thread's tables now (wiping their secrets), as its exit
 * would: for the main thread, whose thread-exit hooks never run. */
void cache_thread_release(void);

#endif
