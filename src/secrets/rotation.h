/*
 * rotation.h -- secret rotation with hooks in place of Lambda functions
 * (rotation.c; the interface and what differs from AWS: docs/ROTATION.md).
 *
 * RotateSecret and CancelRotateSecret are handlers of ops.def; this header
 * is what main.c configures and stops.
 */
#ifndef TR_SECRETS_ROTATION_H
#define TR_SECRETS_ROTATION_H

#include "core/result.h"
#include "op/op.h"

#define SM_ROTATION_TIMEOUT_DEFAULT 30      /* seconds per step, a Lambda's default limit */

/* `tresor serve --rotation-hooks DIR --rotation-timeout S`: dir NULL
 * leaves rotation off (RotateSecret then fails as for a function that
 * cannot be invoked).  endpoint is the server's own URL
 * (http://127.0.0.1:8737), given to hooks; ca_bundle, when not NULL, the
 * CA that signed its certificate (--tls-generate's), given to hooks as
 * AWS_CA_BUNDLE.  Copies the strings; env must outlive sm_rotation_stop. */
TR_RESULT sm_rotation_configure(const struct server_env *env, const char *dir, unsigned timeout_s,
                                const char *endpoint, const char *ca_bundle);
/* The scheduler, run by the server's maintenance (at start-up and every
 * minute): every secret whose next rotation is at or before `now`
 * (tr_now(), so TRESOR_CLOCK_OFFSET moves it) is rotated, each taken in a
 * transaction of its own (rotation.c, "the schedule's index"). */
TR_RESULT sm_rotation_due(const struct server_env *env, int64_t now);
/* Wait for the rotations running to end (their hooks have their time
 * limit), before the store and keyring go away. */
void sm_rotation_stop(void);

#endif
