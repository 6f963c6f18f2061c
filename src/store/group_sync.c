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
 * Waiters without a thread (gsync_notify) are on a list that the sync
 * thread serves: it sleeps on the same condition variable, and whenever
 * a queued commit is written and no sync runs it leads one (lead() is the
 * same code a waiting thread runs), then calls done for every queued
 * waiter the published `synced` covers -- or, after a failure, for all of
 * them, with durable false.  done runs under the mutex, so gsync_cancel
 * can promise that a waiter it returns is not touched afterwards.  The
 * thread starts with the first notify, so a store nobody notifies (the
 * CLI, a server with suspension off) runs no extra thread.
 *
 * begun, synced and failed are atomics written under the mutex, so that
 * gsync_barrier's common case -- nothing pending -- takes no lock.
 *
 * A retrying group (gsync_init_retry) records in `lost` every point marked
 * before a failed sync ended, instead of breaking for good: each of them
 * that no earlier sync covered fails, and a later point leads a new sync.
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

bool gsync_init_retry(struct group_sync *g, gsync_fn sync, void *arg)
{
    if (!gsync_init(g, sync, arg)) return false;
    g->retry = true;
    return true;
}

void gsync_destroy(struct group_sync *g)
{
    if (g->thread_on) {
        pthread_mutex_lock(&g->mu);
        g->stopping = true;
        pthread_cond_broadcast(&g->cv);
        pthread_mutex_unlock(&g->mu);
        pthread_join(g->thread, NULL);
    }
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

void gsync_mark(struct group_sync *g, uint64_t *seq)
{
    pthread_mutex_lock(&g->mu);
    *seq = g->begun + 1;
    st(&g->begun, *seq);
    g->written = *seq;
    if (g->waiters) pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

void gsync_fail_marked(struct group_sync *g)
{
    pthread_mutex_lock(&g->mu);
    if (g->retry && g->begun > g->lost) g->lost = g->begun;
    pthread_cond_broadcast(&g->cv);     /* waiting threads see it; the sync thread fires its waiters */
    pthread_mutex_unlock(&g->mu);
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
    if (e != 0 && g->retry) {
        /* Every point marked so far, the ones after target too: the
         * session that failed vouched for none of them (group_sync.h). */
        if (g->begun > g->lost) g->lost = g->begun;
    } else if (e != 0) {
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
        if (g->failed || g->lost >= seq) break;
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
    if (!ok && g->retry) {
        /* This reader fails (what it saw may be lost); the next one's
         * point is past the failed sync, so it leads a new one rather
         * than failing on the same `lost` forever. */
        st(&g->begun, g->begun + 1);
        g->written = g->begun;
    }
    pthread_mutex_unlock(&g->mu);
    ENSURE(ok, TR_E_STORE_IO);
    return TR_OK;
}

/* Under mu: call done for every queued waiter that is settled (covered,
 * or lost to a failed sync), and unlink it. */
static void fire(struct group_sync *g)
{
    struct gsync_waiter **pp = &g->pending;
    while (*pp) {
        struct gsync_waiter *w = *pp;
        bool durable = g->synced >= w->seq;
        if (g->failed || durable || g->lost >= w->seq) {
            *pp = w->next;
            w->next = NULL;
            w->done(w, durable && !g->failed);
        } else {
            pp = &w->next;
        }
    }
}

/* Under mu: does a queued waiter need a sync that could start now? */
static bool sync_due(const struct group_sync *g)
{
    if (g->syncing || g->failed) return false;
    for (const struct gsync_waiter *w = g->pending; w; w = w->next)
        if (w->seq > g->synced && w->seq > g->lost && w->seq <= g->written) return true;
    return false;
}

static void *sync_thread(void *arg)
{
    struct group_sync *g = arg;
    pthread_mutex_lock(&g->mu);
    g->waiters++;                       /* gsync_written wakes us */
    for (;;) {
        fire(g);
        if (g->stopping) break;
        if (sync_due(g)) {
            lead(g);
            continue;
        }
        pthread_cond_wait(&g->cv, &g->mu);
    }
    g->waiters--;
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

int gsync_notify(struct group_sync *g, struct gsync_waiter *w)
{
    int ret = 0;
    pthread_mutex_lock(&g->mu);
    if (g->failed || (g->lost >= w->seq && g->synced < w->seq)) {
        ret = -1;
    } else if (g->synced >= w->seq) {
        ret = 1;
    } else if (!g->thread_on && pthread_create(&g->thread, NULL, sync_thread, g) != 0) {
        ret = -1;
    } else {
        g->thread_on = true;
        w->next = g->pending;
        g->pending = w;
        pthread_cond_broadcast(&g->cv);
    }
    pthread_mutex_unlock(&g->mu);
    return ret;
}

bool gsync_cancel(struct group_sync *g, struct gsync_waiter *w)
{
    bool found = false;
    pthread_mutex_lock(&g->mu);
    for (struct gsync_waiter **pp = &g->pending; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            w->next = NULL;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&g->mu);
    return found;
}
