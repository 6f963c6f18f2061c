/*
 * cache.h -- the store generation the request path's caches are keyed by.
 *
 * A generation says which state of one store a value was read from: an
 * epoch, unique to that store instance in this process, and a counter
 * that moves whenever the stored data may have changed (store/store.h).
 * Two stores never share an epoch, so a value read from one store can
 * never pass for a value of another -- dev mode's reset replaces its
 * in-memory store with a fresh one whose counter starts again from the
 * same place.  Epoch 0 means "unknown": cache nothing.
 */
#ifndef TR_CACHE_H
#define TR_CACHE_H

#include <stdbool.h>
#include <stdint.h>

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

#endif
