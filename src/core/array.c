/*
 * array.c -- doubling growth of malloc'd arrays (array.h).
 */
#include "core/array.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

TR_RESULT strs_add_unique(char ***v, size_t *n, size_t *cap, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*v)[i], s) == 0) return TR_OK;
    char **nv = array_grow(*v, cap, *n, sizeof *nv, 16);
    ENSURE(nv != NULL, TR_E_INTERNAL);
    *v = nv;
    nv[*n] = strdup(s);
    ENSURE(nv[*n] != NULL, TR_E_INTERNAL);
    (*n)++;
    return TR_OK;
}

void strs_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}
