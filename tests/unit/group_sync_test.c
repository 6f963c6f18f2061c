/*
 * group_sync_test.c -- unit tests of group commit (src/store/group_sync.c).
 *
 * The sync function is a fake the test drives: each call counts itself
 * and blocks until the test releases it, with the result the test chose.
 * So the interleavings are forced, not hoped for: a leader is held inside
 * its sync while other commits are written and queue behind it, and the
 * test checks how many syncs ran and who got what.  Covered: one commit,
 * one sync; commits written during a sync share the next one; an
 * fdatasync failure fails every commit it covered and every later one
 * (begin, wait, the readers' barrier), while a commit synced before it
 * stays a success; the barrier returns at once with nothing pending,
 * leads a sync for a written commit, and waits for a commit still being
 * written; many threads with a real (instant) sync all finish, each
 * commit covered.  Waiters without a thread (gsync_notify): the sync
 * thread leads one sync for every commit written before it and calls
 * each waiter's done once, durable; a commit already durable, or a store
 * already broken, is answered at once without done; a failed sync calls
 * done(false) for every waiter, the ones it did not cover too; a waiter
 * taken back (gsync_cancel) is never called, and one already done cannot
 * be taken back.  Nothing here measures time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "store/group_sync.h"

/* ---- the fake sync ------------------------------------------------------- */

struct fake {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned calls;         /* syncs started */
    unsigned released;      /* syncs allowed to return */
    int result;             /* what the released syncs return */
    bool free_run;          /* never block */
};

static int fake_sync(void *arg)
{
    struct fake *f = arg;
    pthread_mutex_lock(&f->mu);
    unsigned me = ++f->calls;
    pthread_cond_broadcast(&f->cv);
    while (!f->free_run && f->released < me) pthread_cond_wait(&f->cv, &f->mu);
    int r = f->result;
    pthread_mutex_unlock(&f->mu);
    return r;
}

static void fake_release(struct fake *f, int result)
{
    pthread_mutex_lock(&f->mu);
    f->result = result;
    f->released++;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* Block until `n` syncs have started. */
static void fake_await_calls(struct fake *f, unsigned n)
{
    pthread_mutex_lock(&f->mu);
    while (f->calls < n) pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
}

struct fx {
    struct fake fake;
    struct group_sync g;
    pthread_mutex_t gate;   /* the store's write lock */
};

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof *x);
    if (!x) return -1;
    pthread_mutex_init(&x->fake.mu, NULL);
    pthread_cond_init(&x->fake.cv, NULL);
    pthread_mutex_init(&x->gate, NULL);
    if (!gsync_init(&x->g, fake_sync, &x->fake)) return -1;
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    gsync_destroy(&x->g);
    pthread_mutex_destroy(&x->gate);
    pthread_cond_destroy(&x->fake.cv);
    pthread_mutex_destroy(&x->fake.mu);
    free(x);
    return 0;
}

static unsigned waiters(struct group_sync *g)
{
    pthread_mutex_lock(&g->mu);
    unsigned n = g->waiters;
    pthread_mutex_unlock(&g->mu);
    return n;
}

/* Spin (yielding) until `n` threads wait in g. */
static void await_waiters(struct group_sync *g, unsigned n)
{
    while (waiters(g) < n) sched_yield();
}

static uint64_t syncs(struct group_sync *g)
{
    pthread_mutex_lock(&g->mu);
    uint64_t n = g->syncs;
    pthread_mutex_unlock(&g->mu);
    return n;
}

/* ---- a committing thread ------------------------------------------------- */

struct committer {
    pthread_t t;
    struct fx *x;
    uint64_t seq;
    int code;               /* tr_code of the commit's wait (or begin) */
    bool barrier;           /* a reader: gsync_barrier instead */
};

/* What a store's tx_commit does: number and write under the gate, then
 * wait outside it. */
static int commit_one(struct fx *x, uint64_t *seq)
{
    pthread_mutex_lock(&x->gate);
    tr_result r = gsync_begin(&x->g, seq);
    if (tr_ok(r)) gsync_written(&x->g, *seq);
    pthread_mutex_unlock(&x->gate);
    if (tr_ok(r)) r = gsync_wait(&x->g, *seq);
    return (int)tr_code(r);
}

static void *committer_main(void *arg)
{
    struct committer *c = arg;
    if (c->barrier) c->code = (int)tr_code(gsync_barrier(&c->x->g));
    else c->code = commit_one(c->x, &c->seq);
    return NULL;
}

static void start(struct committer *c, struct fx *x, bool barrier)
{
    memset(c, 0, sizeof *c);
    c->x = x;
    c->barrier = barrier;
    assert_int_equal(pthread_create(&c->t, NULL, committer_main, c), 0);
}

static void join(struct committer *c)
{
    assert_int_equal(pthread_join(c->t, NULL), 0);
}

/* ---- tests --------------------------------------------------------------- */

static void one_commit_one_sync(void **state)
{
    struct fx *x = *state;
    struct committer a;
    start(&a, x, false);
    fake_await_calls(&x->fake, 1);
    fake_release(&x->fake, 0);
    join(&a);
    assert_int_equal(a.code, TR_E_OK);
    assert_int_equal(a.seq, 1);
    assert_int_equal(syncs(&x->g), 1);
    assert_int_equal(x->g.synced, 1);
    assert_false(gsync_broken(&x->g));
}

/* A holds the sync; B, C, D write meanwhile: one more sync covers all three. */
static void commits_during_a_sync_share_the_next(void **state)
{
    struct fx *x = *state;
    struct committer a, more[3];
    start(&a, x, false);
    fake_await_calls(&x->fake, 1);              /* a leads, held in its sync */
    for (int i = 0; i < 3; i++) start(&more[i], x, false);
    await_waiters(&x->g, 4);                    /* a and the three behind it */
    assert_int_equal(x->fake.calls, 1);         /* nobody else syncs meanwhile */
    fake_release(&x->fake, 0);                  /* a's sync: commit 1 only */
    fake_await_calls(&x->fake, 2);              /* one of them leads for all */
    fake_release(&x->fake, 0);
    join(&a);
    for (int i = 0; i < 3; i++) join(&more[i]);
    assert_int_equal(a.code, TR_E_OK);
    assert_int_equal(a.seq, 1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(more[i].code, TR_E_OK);
        assert_true(more[i].seq >= 2 && more[i].seq <= 4);
    }
    assert_int_equal(syncs(&x->g), 2);          /* four commits, two syncs */
    assert_int_equal(x->g.synced, 4);
}

/* A's sync succeeds; B's (covering B and C) fails: B and C fail, A does
 * not, and from then on nothing commits and the barrier fails. */
static void a_failed_sync_fails_what_it_covers_and_after(void **state)
{
    struct fx *x = *state;
    struct committer a, b, c, r;
    uint64_t seq = 0;
    start(&a, x, false);
    fake_await_calls(&x->fake, 1);
    start(&b, x, false);
    start(&c, x, false);
    await_waiters(&x->g, 3);
    fake_release(&x->fake, 0);
    join(&a);
    assert_int_equal(a.code, TR_E_OK);
    fake_await_calls(&x->fake, 2);
    fake_release(&x->fake, EIO);
    join(&b);
    join(&c);
    assert_int_equal(b.code, TR_E_STORE_IO);
    assert_int_equal(c.code, TR_E_STORE_IO);
    assert_true(gsync_broken(&x->g));
    assert_int_equal(x->g.failed, EIO);
    assert_int_equal(x->g.synced, 1);
    /* Later: begin refuses, a wait for what was synced still succeeds,
     * a wait for anything else and the barrier fail -- without a sync. */
    assert_int_equal(tr_code(gsync_begin(&x->g, &seq)), TR_E_STORE_IO);
    assert_int_equal(tr_code(gsync_wait(&x->g, 1)), TR_E_OK);
    assert_int_equal(tr_code(gsync_wait(&x->g, 2)), TR_E_STORE_IO);
    start(&r, x, true);
    join(&r);
    assert_int_equal(r.code, TR_E_STORE_IO);
    assert_int_equal(syncs(&x->g), 2);
}

/* ---- a retrying group (gsync_init_retry: PostgreSQL's flush rounds) ------ */

static int setup_retry(void **state)
{
    if (setup(state) != 0) return -1;
    struct fx *x = *state;
    gsync_destroy(&x->g);
    return gsync_init_retry(&x->g, fake_sync, &x->fake) ? 0 : -1;
}

/* Points numbered after the fact (gsync_mark): one sync covers every
 * point marked before it began; a later mark waits for the next. */
static void retry_marks_share_a_sync(void **state)
{
    struct fx *x = *state;
    uint64_t a = 0, b = 0, c = 0;
    x->fake.free_run = true;
    gsync_mark(&x->g, &a);
    gsync_mark(&x->g, &b);
    assert_int_equal(a, 1);
    assert_int_equal(b, 2);
    assert_int_equal(tr_code(gsync_wait(&x->g, b)), TR_E_OK);
    assert_int_equal(tr_code(gsync_wait(&x->g, a)), TR_E_OK);
    assert_int_equal(syncs(&x->g), 1);
    gsync_mark(&x->g, &c);
    assert_int_equal(tr_code(gsync_barrier(&x->g)), TR_E_OK);
    assert_int_equal(syncs(&x->g), 2);
    assert_int_equal(tr_code(gsync_barrier(&x->g)), TR_E_OK);     /* nothing pending: no sync */
    assert_int_equal(syncs(&x->g), 2);
}

/* A failed sync fails exactly the points it should have covered; the
 * group is not broken: a later point leads a new sync and succeeds, and
 * a wait for a failed point keeps failing (its fate stays unknown), even
 * after a later sync succeeds. */
static void retry_a_failed_sync_fails_only_its_points(void **state)
{
    struct fx *x = *state;
    uint64_t a = 0, b = 0, c = 0;
    struct committer r;
    gsync_mark(&x->g, &a);
    gsync_mark(&x->g, &b);
    x->fake.result = EIO;
    x->fake.free_run = true;
    assert_int_equal(tr_code(gsync_wait(&x->g, b)), TR_E_STORE_IO);
    assert_int_equal(tr_code(gsync_wait(&x->g, a)), TR_E_STORE_IO);
    assert_false(gsync_broken(&x->g));
    assert_int_equal(x->g.lost, 2);
    /* A reader that may have seen them fails too, once; the next one
     * leads a new sync instead of failing on the same points forever. */
    x->fake.result = 0;
    start(&r, x, true);
    join(&r);
    assert_int_equal(r.code, TR_E_STORE_IO);
    start(&r, x, true);
    join(&r);
    assert_int_equal(r.code, TR_E_OK);
    gsync_mark(&x->g, &c);
    assert_int_equal(tr_code(gsync_begin(&x->g, &b)), TR_E_OK);    /* never refused */
    gsync_written(&x->g, b);
    assert_int_equal(tr_code(gsync_wait(&x->g, c)), TR_E_OK);
    assert_int_equal(tr_code(gsync_wait(&x->g, a)), TR_E_OK);      /* covered since: synced >= a */
}

/* The first sync already fails: its only commit fails. */
static void the_first_sync_fails(void **state)
{
    struct fx *x = *state;
    struct committer a;
    start(&a, x, false);
    fake_await_calls(&x->fake, 1);
    fake_release(&x->fake, ENOSPC);
    join(&a);
    assert_int_equal(a.code, TR_E_STORE_IO);
    assert_int_equal(x->g.synced, 0);
    assert_int_equal(x->g.failed, ENOSPC);
}

/* Nothing pending: no sync, no wait. */
static void barrier_with_nothing_pending(void **state)
{
    struct fx *x = *state;
    assert_int_equal(tr_code(gsync_barrier(&x->g)), TR_E_OK);
    assert_int_equal(syncs(&x->g), 0);
    x->fake.free_run = true;
    uint64_t seq = 0;
    assert_int_equal(commit_one(x, &seq), TR_E_OK);
    assert_int_equal(tr_code(gsync_barrier(&x->g)), TR_E_OK);
    assert_int_equal(syncs(&x->g), 1);          /* the commit's own only */
}

/* A commit written, not synced (its thread has not waited yet): a reader
 * leads the sync itself. */
static void barrier_leads_a_sync_for_a_written_commit(void **state)
{
    struct fx *x = *state;
    struct committer r;
    uint64_t seq = 0;
    assert_true(tr_ok(gsync_begin(&x->g, &seq)));
    gsync_written(&x->g, seq);
    start(&r, x, true);
    fake_await_calls(&x->fake, 1);
    fake_release(&x->fake, 0);
    join(&r);
    assert_int_equal(r.code, TR_E_OK);
    assert_int_equal(x->g.synced, 1);
    /* The committer's own wait finds it done: no second sync. */
    assert_int_equal(tr_code(gsync_wait(&x->g, seq)), TR_E_OK);
    assert_int_equal(syncs(&x->g), 1);
}

/* A commit begun and still writing: the reader waits for the write (it
 * may already see the data), then for a sync that covers it. */
static void barrier_waits_for_a_commit_being_written(void **state)
{
    struct fx *x = *state;
    struct committer r;
    uint64_t seq = 0;
    assert_true(tr_ok(gsync_begin(&x->g, &seq)));
    start(&r, x, true);
    await_waiters(&x->g, 1);
    assert_int_equal(x->fake.calls, 0);         /* nothing to sync yet */
    gsync_written(&x->g, seq);                  /* wakes the reader: it leads */
    fake_await_calls(&x->fake, 1);
    fake_release(&x->fake, 0);
    join(&r);
    assert_int_equal(r.code, TR_E_OK);
    assert_int_equal(x->g.synced, seq);
}

/* A commit whose write failed still uses its number: waiters behind it
 * are not stuck. */
static void a_failed_write_does_not_block_the_barrier(void **state)
{
    struct fx *x = *state;
    struct committer r;
    uint64_t seq = 0;
    x->fake.free_run = true;
    assert_true(tr_ok(gsync_begin(&x->g, &seq)));
    start(&r, x, true);
    await_waiters(&x->g, 1);
    gsync_written(&x->g, seq);                  /* the COMMIT failed; no wait follows */
    join(&r);
    assert_int_equal(r.code, TR_E_OK);
}

/* Many threads, many commits each, an instant sync: all succeed, each
 * commit numbered once, everything synced at the end. */
#define THREADS 8
#define PER_THREAD 200

struct loop { pthread_t t; struct fx *x; int bad; };

static void *loop_main(void *arg)
{
    struct loop *l = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        uint64_t seq = 0;
        if (commit_one(l->x, &seq) != TR_E_OK) l->bad++;
        if (i % 10 == 0 && tr_failed(gsync_barrier(&l->x->g))) l->bad++;
    }
    return NULL;
}

static void many_threads(void **state)
{
    struct fx *x = *state;
    struct loop l[THREADS];
    x->fake.free_run = true;
    for (int i = 0; i < THREADS; i++) {
        l[i] = (struct loop){ .x = x };
        assert_int_equal(pthread_create(&l[i].t, NULL, loop_main, &l[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(l[i].t, NULL), 0);
        assert_int_equal(l[i].bad, 0);
    }
    assert_int_equal(x->g.begun, THREADS * PER_THREAD);
    assert_int_equal(x->g.written, THREADS * PER_THREAD);
    assert_int_equal(x->g.synced, THREADS * PER_THREAD);
    assert_true(syncs(&x->g) >= 1 && syncs(&x->g) <= THREADS * PER_THREAD + THREADS * PER_THREAD / 10);
    assert_int_equal(x->g.waiters, 0);
}

/* ---- waiters without a thread (gsync_notify) ----------------------------- */

struct note {
    struct gsync_waiter w;
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
    unsigned *done_count;
    int calls;              /* done calls: must end at 0 or 1 */
    bool durable;
};

static pthread_mutex_t note_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t note_cv = PTHREAD_COND_INITIALIZER;
static unsigned notes_done;

static void note_done(struct gsync_waiter *w, bool durable)
{
    struct note *n = (struct note *)(void *)w;     /* w is the first member */
    pthread_mutex_lock(&note_mu);
    n->calls++;
    n->durable = durable;
    notes_done++;
    pthread_cond_broadcast(&note_cv);
    pthread_mutex_unlock(&note_mu);
}

static void await_notes(unsigned n)
{
    pthread_mutex_lock(&note_mu);
    while (notes_done < n) pthread_cond_wait(&note_cv, &note_mu);
    pthread_mutex_unlock(&note_mu);
}

/* Number and write one commit (the store's tx_commit_ticket). */
static uint64_t write_one(struct fx *x)
{
    uint64_t seq = 0;
    assert_true(tr_ok(gsync_begin(&x->g, &seq)));
    gsync_written(&x->g, seq);
    return seq;
}

static void note_init(struct note *n, uint64_t seq)
{
    memset(n, 0, sizeof *n);
    n->w.seq = seq;
    n->w.done = note_done;
}

/* Three commits written, three waiters: the sync thread leads one sync
 * covering all three and calls each done once, durable. */
static void notify_waiters_share_one_sync(void **state)
{
    struct fx *x = *state;
    struct note n[3];
    notes_done = 0;
    for (int i = 0; i < 3; i++) note_init(&n[i], write_one(x));
    for (int i = 0; i < 3; i++) assert_int_equal(gsync_notify(&x->g, &n[i].w), 0);
    fake_await_calls(&x->fake, 1);
    fake_release(&x->fake, 0);
    await_notes(3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(n[i].calls, 1);
        assert_true(n[i].durable);
    }
    assert_int_equal(syncs(&x->g), 1);
    assert_int_equal(x->g.synced, 3);
    /* Durable already: answered at once, done not called. */
    struct note late;
    note_init(&late, 2);
    assert_int_equal(gsync_notify(&x->g, &late.w), 1);
    assert_int_equal(late.calls, 0);
    assert_false(gsync_cancel(&x->g, &n[0].w));     /* done: nothing to take back */
}

/* The sync covering the first waiter fails: every waiter, covered or
 * not, gets done(false); a later notify fails at once. */
static void notify_a_failed_sync_fails_every_waiter(void **state)
{
    struct fx *x = *state;
    struct note a, b;
    notes_done = 0;
    note_init(&a, write_one(x));
    assert_int_equal(gsync_notify(&x->g, &a.w), 0);
    fake_await_calls(&x->fake, 1);                  /* held: covers a only */
    note_init(&b, write_one(x));
    assert_int_equal(gsync_notify(&x->g, &b.w), 0);
    fake_release(&x->fake, EIO);
    await_notes(2);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_false(a.durable);
    assert_false(b.durable);
    assert_true(gsync_broken(&x->g));
    assert_int_equal(x->g.synced, 0);
    struct note c;
    note_init(&c, 3);
    assert_int_equal(gsync_notify(&x->g, &c.w), -1);
    assert_int_equal(c.calls, 0);
}

/* A waiter taken back while its sync runs is never called; the others
 * are. */
static void notify_cancel_takes_a_waiter_back(void **state)
{
    struct fx *x = *state;
    struct note a, b;
    notes_done = 0;
    note_init(&a, write_one(x));
    note_init(&b, write_one(x));
    assert_int_equal(gsync_notify(&x->g, &a.w), 0);
    assert_int_equal(gsync_notify(&x->g, &b.w), 0);
    fake_await_calls(&x->fake, 1);
    assert_true(gsync_cancel(&x->g, &a.w));
    assert_false(gsync_cancel(&x->g, &a.w));        /* once */
    fake_release(&x->fake, 0);
    await_notes(1);
    assert_int_equal(a.calls, 0);
    assert_int_equal(b.calls, 1);
    assert_true(b.durable);
}

/* A waiter of a commit written by a thread that waits itself: whoever
 * leads, both learn the outcome, and the sync thread does not sync
 * again for a commit already covered. */
static void notify_beside_a_waiting_thread(void **state)
{
    struct fx *x = *state;
    struct committer t;
    struct note n;
    notes_done = 0;
    note_init(&n, write_one(x));
    start(&t, x, false);                            /* commit 2, waits itself */
    assert_int_equal(gsync_notify(&x->g, &n.w), 0);
    fake_await_calls(&x->fake, 1);
    /* From here every sync returns at once: whether the first covered
     * commit 2 depends on who led it, and a second one may follow. */
    pthread_mutex_lock(&x->fake.mu);
    x->fake.free_run = true;
    pthread_cond_broadcast(&x->fake.cv);
    pthread_mutex_unlock(&x->fake.mu);
    join(&t);
    assert_int_equal(t.code, TR_E_OK);
    await_notes(1);
    assert_int_equal(n.calls, 1);
    assert_true(n.durable);
    assert_int_equal(x->g.synced, 2);
    assert_true(syncs(&x->g) <= 2);
}

/* Waiters without a thread in a retrying group: a failed sync calls done
 * (false) for the points it covered, and a point marked after it gets a
 * new sync of its own (durable). */
static void retry_notify_after_a_failure(void **state)
{
    struct fx *x = *state;
    struct note one, two, again;
    uint64_t seq = 0;
    notes_done = 0;
    gsync_mark(&x->g, &seq);
    note_init(&one, seq);
    assert_int_equal(gsync_notify(&x->g, &one.w), 0);
    fake_await_calls(&x->fake, 1);
    fake_release(&x->fake, EIO);
    await_notes(1);
    assert_int_equal(one.calls, 1);
    assert_false(one.durable);
    assert_false(gsync_broken(&x->g));
    gsync_mark(&x->g, &seq);
    note_init(&two, seq);
    x->fake.result = 0;
    assert_int_equal(gsync_notify(&x->g, &two.w), 0);
    fake_await_calls(&x->fake, 2);
    fake_release(&x->fake, 0);
    await_notes(2);
    assert_int_equal(two.calls, 1);
    assert_true(two.durable);
    note_init(&again, one.w.seq);
    assert_int_equal(gsync_notify(&x->g, &again.w), 1);   /* a later sync covered it since */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(one_commit_one_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(commits_during_a_sync_share_the_next, setup, teardown),
        cmocka_unit_test_setup_teardown(a_failed_sync_fails_what_it_covers_and_after, setup, teardown),
        cmocka_unit_test_setup_teardown(the_first_sync_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(barrier_with_nothing_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(barrier_leads_a_sync_for_a_written_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(barrier_waits_for_a_commit_being_written, setup, teardown),
        cmocka_unit_test_setup_teardown(a_failed_write_does_not_block_the_barrier, setup, teardown),
        cmocka_unit_test_setup_teardown(many_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(notify_waiters_share_one_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(notify_a_failed_sync_fails_every_waiter, setup, teardown),
        cmocka_unit_test_setup_teardown(notify_cancel_takes_a_waiter_back, setup, teardown),
        cmocka_unit_test_setup_teardown(notify_beside_a_waiting_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(retry_marks_share_a_sync, setup_retry, teardown),
        cmocka_unit_test_setup_teardown(retry_a_failed_sync_fails_only_its_points, setup_retry, teardown),
        cmocka_unit_test_setup_teardown(retry_notify_after_a_failure, setup_retry, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
