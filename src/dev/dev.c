/*
 * dev.c -- dev mode's state: the in-memory store and root key, the
 * request lock, and reset (contract in dev.h).
 *
 * Reset swaps the store under the exclusive lock: no request is inside
 * the store while env->st changes, and the old store is closed only then,
 * so nothing in flight ever sees a closed handle.  Requests arriving
 * during a reset wait for it (they then see the fresh store).  Nothing
 * cached from the old store is ever taken for the new one's
 * (docs/internals/CACHES.md): the request path's caches are keyed by the
 * store generation, whose epoch is new with every store, or by the
 * content they were made from (a version's text, the wrapped secret a
 * signing key came from, a policy's text); the old store's entries are
 * dropped as each thread meets them.
 */
#include "dev/dev.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/key_last_used.h"
#include "core/log.h"
#include "core/secmem.h"
#include "core/str.h"
#include "crypto/keyring.h"
#include "crypto/rand.h"
#include "iam/accounts.h"
#include "kms/kms.h"
#include "op/clock.h"

struct dev_state {
    struct dev_hooks hooks;    /* env->dev: what the layers below call */
    pthread_rwlock_t lock;
    struct server_env *env;    /* main's; reset swaps env->st */
    char account[ACCOUNT_ID_LEN + 1];
    const char *seed_path;
    bool in_memory;
    bool owns_keyring;
};

const char *dev_account(const struct dev_state *d) { return d->account; }

void dev_enter(struct dev_state *d) { pthread_rwlock_rdlock(&d->lock); }
void dev_leave(struct dev_state *d) { pthread_rwlock_unlock(&d->lock); }

bool dev_is_reset_path(const char *path)
{
    return strcmp(path, "/moto-api/reset") == 0 || strcmp(path, "/_tresor/reset") == 0;
}

bool dev_region_ok(const char *r)
{
    return region_valid(r);
}

/* A fresh in-memory store with the default account (and the seed) in it. */
static TR_RESULT fresh_store(const struct server_env *env, const struct dev_state *d,
                             store_t *out)
{
    store_t st = NULL;
    struct root_credentials cred;
    struct server_env tmp = { .kr = env->kr, .default_region = env->default_region };
    tr_result r;

    *out = NULL;
    GUARD(store_sqlite_open_memory(&st));
    r = account_create(st, env->kr, d->account, tr_now(), &cred);
    secure_zero(&cred, sizeof cred);     /* nobody needs the root's secret in dev mode */
    if (tr_failed(r)) goto fail;
    tmp.st = st;
    if (d->seed_path) {
        r = dev_seed_apply(&tmp, d->account, d->seed_path);
        if (tr_failed(r)) goto fail;
    }
    *out = st;
    return TR_OK;
fail:
    st[0]->close(st);
    return r;
}

TR_RESULT dev_start(struct server_env *env, const struct dev_opts *o)
{
    struct dev_state *d = calloc(1, sizeof *d);
    uint8_t root[32];
    tr_result r = TR_OK;

    ENSURE(d != NULL, TR_E_INTERNAL);
    if (pthread_rwlock_init(&d->lock, NULL) != 0) { free(d); BAIL(TR_E_INTERNAL, NULL); }
    r = str_copy(d->account, sizeof d->account, o->account_id, "the dev account id");
    if (tr_failed(r)) { pthread_rwlock_destroy(&d->lock); free(d); return r; }
    d->seed_path = o->seed_path;
    d->in_memory = o->in_memory;
    d->env = env;
    d->hooks = (struct dev_hooks){
        .state = d, .account = d->account, .region_ok = dev_region_ok,
        .enter = dev_enter, .leave = dev_leave, .is_reset_path = dev_is_reset_path,
        .reset = dev_reset,
    };
    if (o->in_memory) {
        r = rand_bytes(root, sizeof root);
        if (tr_ok(r)) r = keyring_from_bytes(root, &env->kr);
        secure_zero(root, sizeof root);
        if (tr_failed(r)) goto fail;
        d->owns_keyring = true;
        r = fresh_store(env, d, &env->st);
        if (tr_failed(r)) goto fail;
    } else if (o->seed_path) {
        r = dev_seed_apply(env, d->account, o->seed_path);
        if (tr_failed(r)) goto fail;
    }
    env->dev = &d->hooks;
    return TR_OK;
fail:
    if (d->owns_keyring) { keyring_free(env->kr); env->kr = NULL; }
    pthread_rwlock_destroy(&d->lock);
    free(d);
    return r;
}

void dev_stop(struct server_env *env)
{
    struct dev_state *d = env->dev ? env->dev->state : NULL;
    if (!d) return;
    if (d->in_memory && env->st) { env->st[0]->close(env->st); env->st = NULL; }
    if (d->owns_keyring) { keyring_free(env->kr); env->kr = NULL; }
    pthread_rwlock_destroy(&d->lock);
    free(d);
    env->dev = NULL;
}

TR_RESULT dev_reset(struct dev_state *d)
{
    store_t fresh = NULL;

    ENSURE(d != NULL, TR_E_INTERNAL);
    struct server_env *env = d->env;
    if (!d->in_memory)
        BAIL(TR_E_VALIDATION, "reset needs the in-memory store (tresor serve --dev without --data-dir)");
    /* Build the new store before taking the lock: requests keep flowing. */
    GUARD(fresh_store(env, d, &fresh));
    pthread_rwlock_wrlock(&d->lock);
    store_t old = env->st;
    env->st = fresh;
    kms_usage_reset();                  /* the old store's keys' uses (GetKeyLastUsage) */
    key_used_reset();                   /* and its access keys' (GetAccessKeyLastUsed) */
    pthread_rwlock_unlock(&d->lock);
    old[0]->close(old);
    log_msg("info", "dev mode: state reset");
    return TR_OK;
}
