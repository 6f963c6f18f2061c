/*
 * walk.c -- every KMS key and every access key of a store, page by page.
 *
 * tresor check reads them to verify that each one unwraps, rotate-root-key
 * to re-wrap each under the new root key, and the principal binding of
 * an upgraded store to bind each key policy: each asks key_list_all or
 * access_key_list_all for STORE_WALK_PAGE records after the last one it
 * saw (a key by its id and region: a multi-Region key has a record in
 * each region that holds it), so memory follows the page, not the store.  A record changed by fn
 * through the store keeps its id, so the cursor is unaffected.
 */
#include "store/walk.h"

#include "core/str.h"

TR_RESULT store_each_key(store_t st, store_key_fn fn, void *arg)
{
    char after[sizeof ((struct key_rec *)0)->key_id] = "";
    char after_region[sizeof ((struct key_rec *)0)->region] = "";
    size_t n = STORE_WALK_PAGE;
    ENSURE(st && fn, TR_E_INTERNAL);
    while (n == STORE_WALK_PAGE) {
        struct key_rec *v = NULL;
        GUARD(st[0]->key_list_all(st, after, after_region, STORE_WALK_PAGE, &v, &n));
        tr_result r = TR_OK;
        for (size_t i = 0; tr_ok(r) && i < n; i++) r = fn(st, &v[i], arg);
        if (n) {
            STR_COPY_ARRAY(after, v[n - 1].key_id);
            STR_COPY_ARRAY(after_region, v[n - 1].region);
        }
        key_list_free(v, n);
        GUARD(r);
    }
    return TR_OK;
}

TR_RESULT store_each_access_key(store_t st, store_access_key_fn fn, void *arg)
{
    char after[sizeof ((struct access_key_rec *)0)->access_key_id] = "";
    size_t n = STORE_WALK_PAGE;
    ENSURE(st && fn, TR_E_INTERNAL);
    while (n == STORE_WALK_PAGE) {
        struct access_key_rec *v = NULL;
        GUARD(st[0]->access_key_list_all(st, after, STORE_WALK_PAGE, &v, &n));
        tr_result r = TR_OK;
        for (size_t i = 0; tr_ok(r) && i < n; i++) r = fn(st, &v[i], arg);
        if (n) STR_COPY_ARRAY(after, v[n - 1].access_key_id);
        access_key_list_free(v, n);
        GUARD(r);
    }
    return TR_OK;
}
