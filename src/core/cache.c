/*
 * cache.c -- see cache.h.
 */
#include "core/cache.h"

#include <stdatomic.h>

static atomic_uint_fast64_t last_epoch;

uint64_t cache_epoch_new(void)
{
    return atomic_fetch_add_explicit(&last_epoch, 1, memory_order_relaxed) + 1;
}
