/*
 * array.c -- doubling growth of malloc'd arrays (array.h).
 */
#include "core/array.h"

#include <stdint.h>
#include <stdlib.h>

void *array_grow(void *p, size_t *cap, size_t n, size_t elem, size_t first)
{
    if (n < *cap) return p;
    if (*cap > SIZE_MAX / 2) return NULL;
    size_t ncap = *cap ? 2 * *cap : first;
    if (elem == 0 || ncap == 0 || ncap > SIZE_MAX / elem) return NULL;
    void *v = realloc(p, ncap * elem);
    if (!v) return NULL;
    *cap = ncap;
    return v;
}
