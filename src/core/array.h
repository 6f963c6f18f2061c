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

#include "core/result.h"

/* Room for element n of the array p (elements of elem bytes, *cap of them
 * allocated, n <= *cap): p itself when n < *cap; else p reallocated to
 * twice *cap elements (first when *cap is 0) and *cap updated.  NULL when
 * the size would overflow or memory runs out: p and *cap are then left
 * as they were (p is still the caller's to free). */
void *array_grow(void *p, size_t *cap, size_t n, size_t elem, size_t first);

/* A set of strings as a growing array: add a copy of s to the *n strings
 * of *v (*cap allocated, grown by array_grow) unless one equals it. */
TR_RESULT strs_add_unique(char ***v, size_t *n, size_t *cap, const char *s);
/* Free the n strings of v, then v. */
void strs_free(char **v, size_t n);

#endif
