/*
 * sts.h -- the STS service as the rest of tresor sees it: its operation
 * table (sts_ops.def; the handlers are sts.c's own) and its housekeeping.
 */
#ifndef TR_IAM_STS_H
#define TR_IAM_STS_H

#include "op/op.h"

/* Seconds an expired session key is kept, so that its holder is told
 * ExpiredToken rather than "invalid" for a while. */
#define STS_EXPIRED_GRACE 86400
/* Seconds the tombstone of a purged session is kept after its expiry:
 * ExpiredToken for that long, rather than "invalid" (or, in dev mode, the
 * account root).  Long-term keys' tombstones are kept for good. */
#define STS_TOMBSTONE_KEEP (90 * 86400)

/* The operation table (NULL-name terminated), made from sts_ops.def, and
 * the service main.c registers. */
extern const struct op_def sts_ops[];
extern const struct op_service sts_service;

/* Periodic maintenance: delete temporary access keys (sessions) that
 * expired more than STS_EXPIRED_GRACE seconds before `now` (tr_now()).
 * Called at start-up and every minute by the server, like
 * kms_maintenance.  The first call of a process also binds the
 * principals of policies saved by an older tresor (iam/bindings.h). */
TR_RESULT iam_maintenance(const struct server_env *env, int64_t now);

#endif
