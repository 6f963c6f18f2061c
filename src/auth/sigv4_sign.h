/*
 * sigv4_sign.h -- SigV4 on the client side (sigv4_sign.c): the load
 * generator, the unit tests and the fuzz targets sign requests with the
 * server's own canonicalization.  The server never signs.
 */
#ifndef TR_SIGV4_SIGN_H
#define TR_SIGV4_SIGN_H

#include <stddef.h>

#include "auth/sigv4.h"

/* Client side (load generator, tests): sign a request, producing the
 * Authorization header value into out (NUL-terminated).  amz_date is
 * YYYYMMDDTHHMMSSZ; signed_headers lists lowercase names, sorted, ';'-joined,
 * each present in rq->headers. */
TR_RESULT sigv4_sign(const struct sigv4_request *rq, const char *access_key_id,
                     const char *secret, const char *amz_date, const char *region,
                     const char *service, const char *signed_headers,
                     char *out, size_t out_len);

#endif
