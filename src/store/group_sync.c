/*
 * group_sync.c -- group commit: a leader/follower sync shared by every
 * committing thread (contract in group_sync.h).
 *
 * One mutex and one condition variable.  A committing thread numbers its
 * commit (gsync_begin) and marks it written (gsync_written) under the
 * store's write lock, so commits are written in the order of their
 * numbers; it then waits (gsync_wait) outside that lock, so the next
 * writer can write while it waits.  A waiter whose commit is not synced
 * yet and finds no sync running leads: it takes `written` as its target,
 * runs the sync without the mutex, and publishes `synced = target` (or the
 * failure) to everyone.  Every commit up to target had returned from its
 * write before the sync started, so the sync covers it; commits written
 * during the sync have higher numbers and wait for the next leader, who
 * is one of them.  So one sync covers every commit that piled up while the
 * previous one ran, and under load the number of syncs per second is
 * bounded by the disk's sync latency, not by the request rate.
 *
 * No waiter hangs: a waiter either leads, or a sync is running (whose end
 * broadcasts), or its commit is not written yet (readers in gsync_barrier:
 * gsync_written broadcasts when anyone waits).  Nothing here times out: a
 * sync that never returns holds its waiters, as it would hold the
 * committing thread itself without grouping.
 *
 * begun, synced and failed are atomics written under the mutex, so that
 * gsync_barrier's common case -- nothing pending -- takes no lock.
 */
#include "store/group_sync.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static uint64_t ld(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

static void st(uint64_t *p, uint64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_SEQ_CST);
}

bool gsync_init(struct group_sync *g, gsync_fn sync, void *arg)
{
    memset(g, 0, sizeof *g);
    g->sync = sync;
    g->arg = arg;
    if (pthread_mutex_init(&g->mu, NULL) != 0) return false;
    if (pthread_cond_init(&g->cv, NULL) != 0) {
        pthread_mutex_destroy(&g->mu);
        return false;
    }
    return true;
}

void gsync_destroy(struct group_sync *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

bool gsync_broken(struct group_sync *g)
{
    return __atomic_load_n(&g->failed, __ATOMIC_SEQ_CST) != 0;
}

TR_RESULT gsync_begin(struct group_sync *g, uint64_t *seq)
{
    ENSURE(!gsync_broken(g), TR_E_STORE_IO);
    pthread_mutex_lock(&g->mu);
    *seq = g->begun + 1;
    st(&g->begun, *seq);
    pthread_mutex_unlock(&g->mu);
    return TR_OK;
}

void gsync_written(struct group_sync *g, uint64_t seq)
{
    pthread_mutex_lock(&g->mu);
    if (seq > g->written) g->written = seq;
    if (g->waiters) pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* Lead one sync of everything written so far.  Called and returns with
 * g->mu held; releases it while the sync runs. */
static void lead(struct group_sync *g)
{
    uint64_t target = g->written;
    g->syncing = true;
    pthread_mutex_unlock(&g->mu);
    int e = g->sync(g->arg);
    pthread_mutex_lock(&g->mu);
    g->syncing = false;
    g->syncs++;
    if (e != 0) {
        if (!g->failed) {
            fprintf(stderr, "tresor: store: sync of the write-ahead log failed: %s; the store "
                    "refuses every request that writes or reads from now on: restart tresor "
                    "once the disk is fixed\n", strerror(e));
            __atomic_store_n(&g->failed, e, __ATOMIC_SEQ_CST);
        }
    } else if (!g->failed && target > g->synced) {
        st(&g->synced, target);
    }
    pthread_cond_broadcast(&g->cv);
}

/* Wait, mu held, until synced >= seq (true) or that cannot happen (false). */
static bool wait_for(struct group_sync *g, uint64_t seq)
{
    bool ok = false;
    g->waiters++;
    for (;;) {
        if (g->synced >= seq) { ok = true; break; }
        if (g->failed) break;
        if (!g->syncing && g->written >= seq) {
            lead(g);
            continue;
        }
        pthread_cond_wait(&g->cv, &g->mu);
    }
    g->waiters--;
    return ok;
}

TR_RESULT gsync_wait(struct group_sync *g, uint64_t seq)
{
    pthread_mutex_lock(&g->mu);
    bool ok = wait_for(g, seq);
    pthread_mutex_unlock(&g->mu);
    ENSURE(ok, TR_E_STORE_IO);
    return TR_OK;
}

TR_RESULT gsync_barrier(struct group_sync *g)
{
    uint64_t want = ld(&g->begun);
    if (TR_LIKELY(ld(&g->synced) >= want && !gsync_broken(g))) return TR_OK;
    pthread_mutex_lock(&g->mu);
    bool ok = wait_for(g, want) && !g->failed;
    pthread_mutex_unlock(&g->mu);
    ENSURE(ok, TR_E_STORE_IO);
    return TR_OK;
}
