/*
 * policy_cache.c -- compiled policies keyed by (kind, document text, and
 * the principal binding saved with it, if any), so a policy is parsed once
 * per process, not once per request.
 *
 * Why: every authorized request evaluates a handful of policies whose
 * text rarely changes; compiling JSON each time would dominate the cost
 * of a decision (policy.h).  Keys are SHA-256 of the text (crypto/hash.h)
 * plus the kind, confirmed by comparing the text itself, so a collision
 * can never hand out the wrong policy.
 *
 * Concurrency: a pthread rwlock.  A hit takes the read lock, sets the
 * entry's "referenced" bit (atomic) and takes a reference on the policy
 * (atomic): no writes to shared structure, so hits scale across threads.
 * A miss compiles outside any lock, then inserts under the write lock
 * (re-checking: another thread may have inserted the same text).
 * Bounded: at most POLICY_CACHE_MAX entries; when full, the CLOCK hand
 * evicts the first entry not referenced since its last pass (an LRU
 * approximation that needs no list update on hits).  An evicted policy
 * lives on until its last holder drops its reference.
 *
 * Why it is not one of core/cache.h's per-thread caches: a compiled
 * policy is immutable and reference-counted, and the same texts are used
 * by every thread, so one shared copy saves a compile and the memory per
 * thread; its key is the content itself, so it is never stale in any
 * generation or store, and TRESOR_CACHE does not turn it off (every
 * command compiles through it).  It counts its hits, misses and evictions
 * in core/cache.h's counters ("policies"), per thread, like the others
 * (docs/internals/CACHES.md).
 */
#include "iam/policy_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/cache.h"
#include "core/log.h"
#include "crypto/hash.h"

#define POLICY_CACHE_MAX 1024
#define CACHE_BUCKETS 2048            /* power of two */

struct centry {
    struct centry *next;              /* bucket chain */
    uint8_t digest[SHA256_LEN];
    enum policy_kind kind;
    size_t len;
    char *text;
    struct policy *p;                 /* the cache's reference */
    atomic_bool referenced;
    size_t slot;                      /* index in slots[] */
};

static pthread_rwlock_t cache_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct centry *buckets[CACHE_BUCKETS];
static struct centry *slots[POLICY_CACHE_MAX];
static size_t nslots, hand;
static struct cache_class counters = CACHE_CLASS("policies", CACHE_BY_CONTENT, .slots = 0);

static size_t bucket_of(const uint8_t *d, enum policy_kind kind)
{
    size_t h = ((size_t)d[0] << 8 | d[1]) ^ ((size_t)d[2] << 16) ^ (size_t)kind * 0x9e37u;
    return h & (CACHE_BUCKETS - 1);
}

static struct centry *find(const uint8_t *d, enum policy_kind kind, const char *text, size_t len)
{
    for (struct centry *e = buckets[bucket_of(d, kind)]; e; e = e->next)
        if (e->kind == kind && e->len == len && memcmp(e->digest, d, SHA256_LEN) == 0 &&
            memcmp(e->text, text, len) == 0)
            return e;
    return NULL;
}

static void entry_free(struct centry *e)
{
    policy_unref(e->p);
    free(e->text);
    free(e);
}

static void unlink_entry(struct centry *e)
{
    struct centry **pp = &buckets[bucket_of(e->digest, e->kind)];
    while (*pp && *pp != e) pp = &(*pp)->next;
    if (*pp) *pp = e->next;
}

/* Under the write lock: a free slot, evicting with the CLOCK hand. */
static size_t take_slot(void)
{
    if (nslots < POLICY_CACHE_MAX) return nslots++;
    for (;;) {
        struct centry *e = slots[hand];
        size_t s = hand;
        hand = (hand + 1) % POLICY_CACHE_MAX;
        if (atomic_exchange(&e->referenced, false)) continue;
        cache_note(&counters, CACHE_EVICTIONS);
        unlink_entry(e);
        entry_free(e);
        slots[s] = NULL;
        return s;
    }
}

/* A new reference to the cached policy, or NULL. */
static struct policy *lookup(const uint8_t *d, enum policy_kind kind, const char *text, size_t len)
{
    struct policy *p = NULL;
    pthread_rwlock_rdlock(&cache_lock);
    struct centry *e = find(d, kind, text, len);
    if (e) {
        atomic_store_explicit(&e->referenced, true, memory_order_relaxed);
        p = policy_ref(e->p);
    }
    pthread_rwlock_unlock(&cache_lock);
    return p;
}

/* Insert compiled (taking over the caller's reference on success) and
 * return the policy to hand out (a new reference). */
static struct policy *insert(const uint8_t *d, enum policy_kind kind, const char *text, size_t len,
                             struct policy *compiled)
{
    struct centry *e = calloc(1, sizeof *e);
    char *copy = malloc(len ? len : 1);
    if (!e || !copy) {
        free(e);
        free(copy);
        return compiled;   /* uncached, still usable */
    }
    memcpy(copy, text, len);
    pthread_rwlock_wrlock(&cache_lock);
    struct centry *old = find(d, kind, text, len);
    if (old) {
        struct policy *p = policy_ref(old->p);
        pthread_rwlock_unlock(&cache_lock);
        free(e);
        free(copy);
        policy_unref(compiled);
        return p;
    }
    memcpy(e->digest, d, SHA256_LEN);
    e->kind = kind;
    e->len = len;
    e->text = copy;
    e->p = compiled;
    atomic_init(&e->referenced, true);
    e->slot = take_slot();
    slots[e->slot] = e;
    size_t b = bucket_of(d, kind);
    e->next = buckets[b];
    buckets[b] = e;
    struct policy *p = policy_ref(compiled);
    pthread_rwlock_unlock(&cache_lock);
    return p;
}

TR_RESULT policy_cache_get(const char *text, size_t len, enum policy_kind kind,
                           struct policy **out)
{
    return policy_cache_get_bound(text, len, kind, NULL, out);
}

/* With a binding, the cache key is the text, a NUL, and the binding:
 * the same text bound differently is a different compiled policy. */
TR_RESULT policy_cache_get_bound(const char *text, size_t len, enum policy_kind kind,
                                 const char *ids, struct policy **out)
{
    uint8_t d[SHA256_LEN];
    char *key = NULL;
    const char *k = text;
    size_t klen = len;
    tr_result r = TR_OK;
    ENSURE_REF(out);
    *out = NULL;
    ENSURE_REF(text);
    if (ids && *ids) {
        size_t ilen = strlen(ids);
        key = malloc(len + 1 + ilen);
        ENSURE(key != NULL, TR_E_INTERNAL);
        memcpy(key, text, len);
        key[len] = '\0';
        memcpy(key + len + 1, ids, ilen);
        k = key;
        klen = len + 1 + ilen;
    }
    r = sha256(k, klen, d);
    if (tr_failed(r)) goto fail;
    struct policy *p = lookup(d, kind, k, klen);
    cache_note(&counters, p ? CACHE_HITS : CACHE_MISSES);
    if (!p) {
        struct policy *compiled;
        r = policy_compile_bound(text, len, kind, ids, &compiled);
        if (tr_failed(r)) goto fail;
        p = insert(d, kind, k, klen, compiled);
    }
    *out = p;
fail:
    free(key);
    return r;
}

/* What a stored policy that no longer compiles becomes (2.9): one
 * statement that denies every action on every resource; the kinds that
 * require a Principal get "*", which matches every caller. */
#define DENY_ALL_STMT(principal) \
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"StoredPolicyDoesNotCompile\"," \
    "\"Effect\":\"Deny\"," principal "\"Action\":\"*\",\"Resource\":\"*\"}]}"
static const char *const deny_all[] = {
    [POLICY_IDENTITY] = DENY_ALL_STMT(""),
    [POLICY_RESOURCE] = DENY_ALL_STMT("\"Principal\":\"*\","),
    [POLICY_TRUST] = DENY_ALL_STMT("\"Principal\":\"*\","),
    [POLICY_KEY] = DENY_ALL_STMT("\"Principal\":\"*\","),
};
static const char *const kind_words[] = {
    [POLICY_IDENTITY] = "identity policy",
    [POLICY_RESOURCE] = "resource policy of",
    [POLICY_TRUST] = "trust policy of",
    [POLICY_KEY] = "key policy of",
};

TR_RESULT policy_cache_get_stored(const char *text, size_t len, enum policy_kind kind,
                                  const char *ids, const char *name, struct policy **out)
{
    ENSURE((unsigned)kind < sizeof deny_all / sizeof deny_all[0], TR_E_INTERNAL);
    tr_result r = policy_cache_get_bound(text, len, kind, ids, out);
    if (tr_ok(r) || tr_code(r) != TR_E_POLICY_MALFORMED) return r;
    /* The engine's message may quote the document: it stays out of the log. */
    tr_clear_error();
    log_msg("warn", "stored %s %.512s does not compile: it denies every request it takes part in",
            kind_words[kind], name ? name : "?");
    return policy_cache_get(deny_all[kind], strlen(deny_all[kind]), kind, out);
}

void policy_cache_clear(void)
{
    pthread_rwlock_wrlock(&cache_lock);
    for (size_t i = 0; i < nslots; i++) {
        if (slots[i]) entry_free(slots[i]);
        slots[i] = NULL;
    }
    memset(buckets, 0, sizeof buckets);
    nslots = 0;
    hand = 0;
    pthread_rwlock_unlock(&cache_lock);
}

size_t policy_cache_size(void)
{
    pthread_rwlock_rdlock(&cache_lock);
    size_t n = nslots;
    pthread_rwlock_unlock(&cache_lock);
    return n;
}
