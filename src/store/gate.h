/*
 * gate.h -- the write gate of a store (store/gate.c): a FIFO lock with a
 * direct hand-off to the oldest waiter, and the counters, one per domain
 * (store/domains.h), the store's generation is made of.
 */
#ifndef TR_STORE_GATE_H
#define TR_STORE_GATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/result.h"
#include "store/domains.h"

/* How long a writer waits for the gate before TR_E_STORE_BUSY. */
#define GATE_TIMEOUT_MS 5000

struct gate_waiter { struct gate_waiter *next; bool granted; };

struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;              /* CLOCK_MONOTONIC */
    bool held;
    struct gate_waiter *head, **tail;
    /* Per domain: +1 at each write statement of the domain, and when a
     * writer that wrote in it leaves the gate. */
    atomic_uint_fast64_t gen[STORE_DOMAINS];
};

/* False when a mutex or condition variable cannot be made. */
bool gate_init(struct gate *g);
void gate_destroy(struct gate *g);
/* Wait (up to GATE_TIMEOUT_MS) for the gate: TR_E_STORE_BUSY, logged,
 * when it does not come. */
TR_RESULT gate_enter(struct gate *g);
/* Move the counters of the domains in mask (a write, or a writer leaving). */
void gate_bump(struct gate *g, unsigned mask);
/* The sum of the counters of the domains in mask: it moves whenever one
 * of them does. */
uint64_t gate_count(struct gate *g, unsigned mask);
/* Move the counters of the domains in mask (what the holder wrote), then
 * give the gate to the oldest waiter, or free it. */
void gate_leave(struct gate *g, unsigned mask);

#endif
