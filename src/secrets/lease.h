/*
 * lease.h -- the rotation lease: which node runs a secret's rotation,
 * kept in the store so that the nodes sharing one (PostgreSQL) run one
 * rotation of a secret at a time between them (lease.c says how;
 * rotation.c takes and releases it).  Times are epoch seconds of the real
 * clock.  Every function works inside the caller's transaction.
 */
#ifndef TR_SECRETS_LEASE_H
#define TR_SECRETS_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/result.h"
#include "store/store.h"

#define SM_LEASE_KIND "rotation-lease"

/* Does a node other than `node` hold a live lease (its "until" after
 * `now`) on the secret arn?  A lease that cannot be read or parsed counts
 * as held: better no rotation than two at once. */
bool sm_lease_foreign(store_t st, const char *arn, const char *node, int64_t now);

/* Take (or take over) the secret's lease for `node`'s rotation of the
 * version `token`, valid until `until`.  The caller checked
 * sm_lease_foreign in the same write transaction. */
TR_RESULT sm_lease_take(store_t st, const char *arn, const char *node, const char *token, int64_t until);

/* Release the secret's lease if it is still `node`'s rotation of `token`
 * (another rotation of this node may have taken it over); no lease, or
 * another's, is no error and changes nothing. */
TR_RESULT sm_lease_release(store_t st, const char *arn, const char *node, const char *token);

#endif
