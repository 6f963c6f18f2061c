/*
 * dev.h -- `tresor serve --dev`: a local AWS KMS / Secrets Manager for
 * test suites and CI.
 *
 * What dev mode changes, and nothing else (see README, "Use it in your
 * test suite"):
 *   - state lives in memory (store_sqlite_open_memory, a random root key
 *     from keyring_from_bytes) unless --data-dir is given;
 *   - a request signed with an access key tresor never knew acts as the
 *     root user of the default account; its signature is not checked
 *     (there is no secret to check it with).  Known keys are verified as
 *     usual, and their principals are authorized as usual; keys it knew
 *     (deleted, inactive, expired sessions: auth/creds.c) are refused as
 *     outside dev mode;
 *   - the SigV4 clock window is not enforced; any valid region of the
 *     credential scope is served (each region's resources stay apart);
 *   - POST /moto-api/reset and POST /_tresor/reset (unsigned) swap in a
 *     fresh store: the default account re-created, the seed re-applied.
 *
 * The layers below dev/ (authentication, the router) reach it through
 * the hooks dev_start puts in env->dev (op.h struct dev_hooks), which
 * call the functions below.
 *
 * Concurrency of reset: a pthread rwlock.  Every request holds it shared
 * (uncontended in a test suite: one atomic increment and decrement), the
 * reset holds it exclusively while it swaps env->st and closes the old
 * store.  Outside dev mode env->dev is NULL and no lock is taken at all.
 */
#ifndef TR_DEV_H
#define TR_DEV_H

#include <jansson.h>
#include <stdbool.h>

#include "core/result.h"
#include "op/op.h"

struct dev_opts {
    const char *account_id;    /* the default account (000000000000 allowed) */
    const char *seed_path;     /* --seed FILE, or NULL */
    bool in_memory;            /* false when --data-dir was given */
};

/* Set up dev mode over env (env->kr, env->default_region set; env->st set
 * when !in_memory).  For in_memory, creates the root key, the store, the
 * default account and applies the seed.  On success env->dev points to
 * dev mode's hooks (op.h), whose state is the struct dev_state the
 * functions below take.
 * With a data dir, the caller has already opened store and account. */
TR_RESULT dev_start(struct server_env *env, const struct dev_opts *o);
/* Release what dev_start made (the store when in memory, the keyring when
 * it made it) and clear env->dev. */
void dev_stop(struct server_env *env);

/* The default account's id. */
const char *dev_account(const struct dev_state *d);

/* Shared hold for one request or one maintenance pass. */
void dev_enter(struct dev_state *d);
void dev_leave(struct dev_state *d);

/* Wipe all state back to a fresh start: swaps the env->st of the env
 * given to dev_start (the one writer of it), under the exclusive lock.
 * TR_E_VALIDATION when the server runs over a data dir. */
TR_RESULT dev_reset(struct dev_state *d);

/* True for the reset paths ("/moto-api/reset", "/_tresor/reset"). */
bool dev_is_reset_path(const char *path);

/* True for a region name of AWS's shape ("eu-west-1"): region_valid. */
bool dev_region_ok(const char *region);

/* Apply a seed file (seed.c) to st as the default account's root.  The
 * file is JSON (see README, "Seeding"); material given in it is wiped
 * from memory once wrapped. */
TR_RESULT dev_seed_apply(const struct server_env *env, const char *account,
                         const char *path);
/* Apply a seed document already parsed (tests, dev_seed_apply).  doc is
 * modified: ${AccountId} and ${Region} are replaced as its entries are
 * applied (seed.c).  A failure's message names the entry. */
TR_RESULT dev_seed_apply_json(const struct server_env *env, const char *account,
                              json_t *doc);

#endif
