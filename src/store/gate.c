/*
 * gate.c -- the write gate of a store: the FIFO lock that the threads of
 * one process queue on before they write (store/gate.h).
 *
 * Shared by the SQLite and PostgreSQL backends: both let one writer of the
 * process in at a time, from tx_begin to commit or rollback, or for one
 * statement outside a transaction (docs/internals/STORE.md, "The write
 * gate").  The holder hands the gate straight to the oldest waiter, so a
 * thread that writes in a loop cannot starve the others; waiting times out
 * after GATE_TIMEOUT_MS (TR_E_STORE_BUSY), so a transaction left open by
 * mistake does not hang every writer.  The gate also counts, one counter
 * per domain (store/domains.h), the process's part of the store's
 * generation (core/cache.h): the backends move a domain's counter at each
 * write statement of it, and when a writer that wrote in it leaves.
 */
#include "store/gate.h"

#include <errno.h>
#include <stdio.h>

#include "core/date.h"

bool gate_init(struct gate *g)
{
    pthread_condattr_t ca;
    bool ok = false;
    if (pthread_condattr_init(&ca) != 0) return false;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
        pthread_cond_init(&g->cv, &ca) == 0) {
        if (pthread_mutex_init(&g->mu, NULL) == 0) ok = true;
        else pthread_cond_destroy(&g->cv);
    }
    pthread_condattr_destroy(&ca);
    g->held = false;
    g->head = NULL;
    g->tail = &g->head;
    return ok;
}

void gate_destroy(struct gate *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

/* Wait (up to GATE_TIMEOUT_MS) for the gate. */
TR_RESULT gate_enter(struct gate *g)
{
    struct gate_waiter w = { NULL, false };
    struct timespec dl;
    date_deadline(CLOCK_MONOTONIC, GATE_TIMEOUT_MS, &dl);

    pthread_mutex_lock(&g->mu);
    if (!g->held && !g->head) {
        g->held = true;
        pthread_mutex_unlock(&g->mu);
        return TR_OK;
    }
    *g->tail = &w;
    g->tail = &w.next;
    while (!w.granted) {
        if (pthread_cond_timedwait(&g->cv, &g->mu, &dl) == ETIMEDOUT && !w.granted) {
            struct gate_waiter **pp = &g->head;
            while (*pp != &w) pp = &(*pp)->next;
            *pp = w.next;
            if (!w.next) g->tail = pp;
            pthread_mutex_unlock(&g->mu);
            fprintf(stderr, "tresor: store: no write lock after %d ms\n", GATE_TIMEOUT_MS);
            BAIL0(TR_E_STORE_BUSY);
        }
    }
    pthread_mutex_unlock(&g->mu);
    return TR_OK;
}

void gate_bump(struct gate *g, unsigned mask)
{
    for (unsigned d = 0; d < STORE_DOMAINS; d++)
        if (mask & (1u << d)) atomic_fetch_add_explicit(&g->gen[d], 1, memory_order_release);
}

uint64_t gate_count(struct gate *g, unsigned mask)
{
    uint64_t n = 0;
    for (unsigned d = 0; d < STORE_DOMAINS; d++)
        if (mask & (1u << d)) n += atomic_load_explicit(&g->gen[d], memory_order_acquire);
    return n;
}

void gate_leave(struct gate *g, unsigned mask)
{
    gate_bump(g, mask);
    pthread_mutex_lock(&g->mu);
    struct gate_waiter *w = g->head;
    if (w) {
        g->head = w->next;
        if (!g->head) g->tail = &g->head;
        w->granted = true;          /* held passes to w */
        pthread_cond_broadcast(&g->cv);
    } else {
        g->held = false;
    }
    pthread_mutex_unlock(&g->mu);
}
