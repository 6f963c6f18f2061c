/*
 * tlocal.c -- see tlocal.h.
 */
#include "core/tlocal.h"

#include <stdlib.h>

static pthread_mutex_t tlocal_mu = PTHREAD_MUTEX_INITIALIZER;

void *tlocal_get(struct tlocal_slot *s, size_t size)
{
    if (!atomic_load_explicit(&s->ready, memory_order_acquire)) {
        pthread_mutex_lock(&tlocal_mu);
        if (!atomic_load_explicit(&s->ready, memory_order_relaxed)) {
            s->ok = pthread_key_create(&s->key, s->drop) == 0;
            atomic_store_explicit(&s->ready, true, memory_order_release);
        }
        pthread_mutex_unlock(&tlocal_mu);
    }
    if (!s->ok) return NULL;
    void *p = pthread_getspecific(s->key);
    if (p) return p;
    p = calloc(1, size);
    if (p && pthread_setspecific(s->key, p) != 0) {
        free(p);
        p = NULL;
    }
    return p;
}

void tlocal_release(struct tlocal_slot *s)
{
    if (!atomic_load_explicit(&s->ready, memory_order_acquire) || !s->ok) return;
    void *p = pthread_getspecific(s->key);
    if (!p) return;
    (void)pthread_setspecific(s->key, NULL);
    s->drop(p);
}
