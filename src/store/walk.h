/*
 * walk.h -- every KMS key and every access key of a store, page by page.
 */
#ifndef TRESOR_STORE_WALK_H
#define TRESOR_STORE_WALK_H

#include "store/store.h"

/* Records asked for at a time. */
#define STORE_WALK_PAGE 200

/* Called once for each record; a failure stops the walk and is its
 * result.  The record is the walk's: fn may change it (to write it back
 * through the store) but not keep it. */
typedef TR_RESULT (*store_key_fn)(store_t st, struct key_rec *k, void *arg);
typedef TR_RESULT (*store_access_key_fn)(store_t st, struct access_key_rec *k, void *arg);

/* Every key of every account and region, in key_id order
 * (key_list_all), through fn: TR_OK, fn's first failure, or the
 * listing's. */
TR_RESULT store_each_key(store_t st, store_key_fn fn, void *arg);
/* Every access key, in access_key_id order (access_key_list_all),
 * through fn; the same results. */
TR_RESULT store_each_access_key(store_t st, store_access_key_fn fn, void *arg);

#endif
