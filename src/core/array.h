/*
 * array.h -- growing a malloc'd array by doubling, with the overflow
 * check every copy of the idiom needs and few had.
 *
 *     struct az_node *v = array_grow(g->n, &g->capn, g->nn, sizeof *v, 32);
 *     ENSURE(v != NULL, TR_E_INTERNAL);
 *     g->n = v;
 *     g->n[g->nn++] = node;
 */
#ifndef TR_ARRAY_H
#define TR_ARRAY_H

#include <stddef.h>

/* Room for element n of the array p (elements of elem bytes, *cap of them
 * allocated, n <= *cap): p itself when n < *cap; else p reallocated to
 * twice *cap elements (first when *cap is 0) and *cap updated.  NULL when
 * the size would overflow or memory runs out: p and *cap are then left
 * as they were (p is still the caller's to free). */
void *array_grow(void *p, size_t *cap, size_t n, size_t elem, size_t first);

#endif
