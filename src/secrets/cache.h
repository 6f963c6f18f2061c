/*
 * cache.h -- the request path's per-thread caches of Secrets Manager
 * (cache.c): looked-up secrets and their tags.
 */
#ifndef TR_SECRETS_CACHE_H
#define TR_SECRETS_CACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cache.h"
#include "core/result.h"
#include "op/op.h"
#include "secrets/secrets.h"
#include "store/store.h"

/* The request path's per-thread cache of looked-up secrets (cache.c):
 * sm_lookup's result by (account, region, SecretId as given), valid while
 * the store generation (store.h) is unchanged; on when core/cache.h's
 * caches are (`tresor serve`).  _get gives a current entry in *out (true)
 * -- with share, a view of the cached secret (secret_view: read it, do
 * not change it), else a deep copy -- and else the generation to tag a
 * fresh load with; _put keeps s: with share it moves s into the entry and
 * makes s a view of it, else it keeps a copy.  Either way *out and s are
 * released with secret_free. */
/* tag_list of a secret ARN through the same kind of cache (a copy:
 * release with tag_list_free). */
TR_RESULT sm_cached_tags(store_t st, const char *arn, struct tag_rec **out, size_t *n);
bool sm_cache_get(const struct req_ctx *rc, const char *secret_id, bool share, struct secret *out,
                  struct cache_gen *gen);
void sm_cache_put(const struct req_ctx *rc, const char *secret_id, struct cache_gen gen, bool share,
                  struct secret *s);

#endif
