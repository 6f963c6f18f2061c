/*
 * group_sync.h -- group commit: many commits made durable by one sync.
 *
 * A store that commits without syncing (SQLite in WAL mode with
 * synchronous=NORMAL: COMMIT appends the frames to the -wal file and
 * returns) numbers each commit and, before it tells its caller the commit
 * is done, waits until a sync that started after the commit's write has
 * finished.  The first waiter that finds no sync running becomes the
 * leader: it runs the sync for every commit written so far, publishes the
 * highest one it covered and wakes the others; commits written while a
 * sync runs are covered by the next one.  See
 * docs/internals/CRASH_SAFETY.md.
 *
 * A failed sync cannot be retried (after a failed fsync the kernel may
 * have dropped the dirty pages and marked them clean, so a second fsync
 * would "succeed" over lost data): the first failure is sticky.  Every
 * commit it did not cover fails, so do all later ones, and the barrier
 * that readers pass fails too, until the process restarts.
 *
 * A commit need not hold a thread while it waits: gsync_notify registers a
 * waiter whose `done` is called once the commit is covered (or cannot
 * be), from a small sync thread that leads the syncs such waiters need,
 * so that no request's worker thread leads or blocks (the HTTP server
 * suspends the request's connection meanwhile: docs/internals/CRASH_SAFETY.md,
 * "Suspended replies").
 *
 * Sequence numbers: `begun` counts commits that have started (the caller
 * holds its write lock from gsync_begin to gsync_written, so they are
 * written in order), `written` those whose write has returned, `synced`
 * the highest commit known durable.  synced <= written <= begun.
 *
 * A store whose sync is a question to a server rather than an fsync of
 * its own (PostgreSQL: postgres.c) numbers points already written instead
 * (gsync_mark: a commit that has returned, or a read that may have seen
 * another session's commit), and opens the group with gsync_init_retry:
 * a failed sync then fails the points marked before it ended -- those it
 * should have covered and those marked while it ran: their fate is
 * unknown, the server may have lost them -- and the next sync is tried
 * afresh: the server, not this process, owns the log and its fsync.  A
 * wait that starts only after a later sync succeeded cannot tell a point
 * the failed one lost from one an earlier sync covered; the store checks
 * that itself (postgres.c: the flush session's epoch).  A store uses one
 * numbering or the other, never both.
 */
#ifndef TR_STORE_GROUP_SYNC_H
#define TR_STORE_GROUP_SYNC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/result.h"

/* Make durable everything written before the call: 0, or an errno. */
typedef int (*gsync_fn)(void *arg);

/* A commit waiting without a thread (gsync_notify).  done(w, durable) is
 * called exactly once -- unless gsync_cancel took w back first -- from the
 * sync thread with the group's mutex held: it must be short and must not
 * call any gsync_* function. */
struct gsync_waiter {
    struct gsync_waiter *next;
    uint64_t seq;
    void (*done)(struct gsync_waiter *w, bool durable);
};

struct group_sync {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t begun, written, synced;
    unsigned waiters;               /* threads in gsync_wait/gsync_barrier */
    bool syncing;                   /* a leader's sync runs */
    int failed;                     /* errno of the first failed sync; sticky */
    bool retry;                     /* gsync_init_retry: failures are not sticky */
    uint64_t lost;                  /* retry: the last point marked before a sync failed */
    uint64_t syncs;                 /* syncs run (tests, measurements) */
    gsync_fn sync;
    void *arg;
    struct gsync_waiter *pending;   /* gsync_notify's waiters not yet done */
    pthread_t thread;               /* the sync thread, started by the first notify */
    bool thread_on;
    bool stopping;                  /* gsync_destroy: the sync thread ends */
};

/* Initialise g with its sync function.  False when out of resources. */
bool gsync_init(struct group_sync *g, gsync_fn sync, void *arg);
/* The same for a sync that may be tried again after a failure (see the
 * file comment): a failure fails the points up to the failed sync's
 * target, and gsync_begin/gsync_broken never refuse. */
bool gsync_init_retry(struct group_sync *g, gsync_fn sync, void *arg);
/* Destroy g; no thread may be inside a gsync_* call. */
void gsync_destroy(struct group_sync *g);

/* Number the commit about to be written (*seq).  Call with the store's
 * write lock held, right before the write.  Fails (TR_E_STORE_IO, no
 * message) when a sync has failed: the store takes no more writes. */
TR_RESULT gsync_begin(struct group_sync *g, uint64_t *seq);
/* The write of commit seq has returned (successfully or not: the number
 * is used up either way).  Still under the write lock. */
void gsync_written(struct group_sync *g, uint64_t seq);
/* Number a point already written (a commit that has returned, a read
 * done): *seq, which the next sync to start covers.  Never fails. */
void gsync_mark(struct group_sync *g, uint64_t *seq);
/* A retrying group: fail every point marked so far that no sync has
 * covered, as a failed sync would (the store found the session its syncs
 * run on gone before the next one began). */
void gsync_fail_marked(struct group_sync *g);
/* Wait until commit seq is durable, leading a sync when none runs.
 * TR_E_STORE_IO when the sync that should have covered it failed, or an
 * earlier one did. */
TR_RESULT gsync_wait(struct group_sync *g, uint64_t seq);
/* Wait until every commit begun so far is durable: a reader calls it
 * before it answers, so that it never hands out data a crash could still
 * take back.  Returns at once when nothing is pending. */
TR_RESULT gsync_barrier(struct group_sync *g);
/* Wait for commit seq without a thread: 1 when it is durable already, -1
 * when it cannot become durable (a sync failed) -- w->done is not called
 * in either case --, 0 when w is queued and w->done will be called (from
 * the sync thread, possibly before this returns).  -1 as well when the
 * sync thread cannot be started. */
int gsync_notify(struct group_sync *g, struct gsync_waiter *w);
/* Take back a queued waiter: true when w was still queued (done will not
 * be called), false when done has been called already.  After it
 * returns, the group no longer touches w. */
bool gsync_cancel(struct group_sync *g, struct gsync_waiter *w);
/* Whether a sync has failed (the store is broken). */
bool gsync_broken(struct group_sync *g);

#endif
