/*
 * tlocal.h -- thread-local objects: one object per thread, created on
 * first use and freed when the thread exits: what the request path's
 * per-thread caches are built on (core/cache.c).  (Named so that it is
 * not taken for transport TLS.)
 *
 *   static void my_drop(void *p) { ...; free(p); }
 *   static struct tlocal_slot my_slot = TLOCAL_SLOT(my_drop);
 *   struct my_cache *c = tlocal_get(&my_slot, sizeof *c);   (zeroed the first time)
 *
 * The pthread key is made the first time any thread asks; a thread's
 * object is handed to `drop` when that thread exits (not for the main
 * thread, whose objects live until the process ends, or until
 * tlocal_release).
 */
#ifndef TR_TLOCAL_H
#define TR_TLOCAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct tlocal_slot {
    atomic_bool ready;          /* key made (or failed: ok false) */
    bool ok;
    pthread_key_t key;
    void (*drop)(void *);
};

#define TLOCAL_SLOT(drop_fn) { false, false, 0, (drop_fn) }

/* The calling thread's object (size bytes, zeroed when created); NULL when
 * memory or keys ran out -- callers then go without a cache. */
void *tlocal_get(struct tlocal_slot *s, size_t size);
/* Hand the calling thread's object (if any) to `drop` now, as its exit
 * would: for the main thread, whose objects no exit hook releases. */
void tlocal_release(struct tlocal_slot *s);

#endif
