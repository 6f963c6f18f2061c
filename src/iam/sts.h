/*
 * sts.h -- the STS service as the rest of tresor sees it: its operation
 * table (sts_ops.def; the handlers are sts.c's own) and its housekeeping.
 */
#ifndef TR_IAM_STS_H
#define TR_IAM_STS_H

#include "core/buf.h"
#include "op/op.h"

/* Seconds an expired session key is kept, so that its holder is told
 * ExpiredToken rather than "invalid" for a while. */
#define STS_EXPIRED_GRACE 86400
/* Seconds the tombstone of a purged session is kept after its expiry:
 * ExpiredToken for that long, rather than "invalid" (or, in dev mode, the
 * account root).  Long-term keys' tombstones are kept for good. */
#define STS_TOMBSTONE_KEEP (90 * 86400)

/* Temporary credentials (an ASIA access key, its secret, the session
 * token); the secret and the token are secret: wipe with sts_creds_wipe. */
#define STS_SECRET_LEN 40
struct sts_creds {
    char akid[21];
    char secret[STS_SECRET_LEN + 1];
    struct buf token;             /* secret buf, NUL-terminated */
    char token_sha256[65];
};
void sts_creds_wipe(struct sts_creds *c);

/* A session of role_arn for an AWS service acting as the role (the
 * execution role of a rotation function: service "lambda.amazonaws.com"),
 * as the service's own AssumeRole would make it: the role's trust policy
 * must allow sts:AssumeRole to that service principal by a statement
 * without conditions, and no statement may deny it; else
 * TR_E_ACCESS_DENIED (and TR_E_STORE_NOT_FOUND when there is no such
 * role).  The session is stored like AssumeRole's (expiring `duration`
 * seconds after rc->now), named arn:aws:sts::A:assumed-role/ROLE/
 * session_name; *out holds its credentials.  rc needs st, kr and now
 * only, and a transaction open on st. */
TR_RESULT sts_service_session(struct req_ctx *rc, const char *role_arn, const char *service,
                              const char *session_name, int64_t duration, struct sts_creds *out);

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
