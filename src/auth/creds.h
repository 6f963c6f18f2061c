/*
 * creds.h -- authenticate a request: SigV4 + access-key lookup -> principal.
 */
#ifndef TR_CREDS_H
#define TR_CREDS_H

#include <stdbool.h>
#include <time.h>

#include "auth/sigv4.h"
#include "op/op.h"

/* Verify rq's signature for `service` in the server's region and fill
 * *who with the caller.  Order of checks: signature parameters present
 * and well formed -> credential scope (service, region) -> clock window ->
 * access key known and active -> signature.  `now` is the real time.
 * A presigned request to IAM or STS must come within 15 minutes of its
 * X-Amz-Date whatever its X-Amz-Expires says (sigv4_check_time_skew); to
 * KMS and Secrets Manager, before X-Amz-Date + X-Amz-Expires. */
TR_RESULT auth_request(const struct server_env *env, const struct sigv4_request *rq,
                       const char *service, time_t now, struct principal *who,
                       struct sigv4_auth *a);

#endif
