/*
 * remote_stub.c -- oidc_remote_jwks (oidc/remote.h) when fetching an
 * issuer's keys over HTTPS is not built in: always UNAVAILABLE, so only
 * the keys given with --oidc-jwks ISSUER=FILE verify tokens.
 */
#include "oidc/remote.h"

#include <stdio.h>

int oidc_remote_jwks(const char *issuer, int refresh, json_t **jwks, char *why, size_t why_len)
{
    (void)issuer;
    (void)refresh;
    *jwks = NULL;
    /* cut: text for people */
    if (why && why_len) snprintf(why, why_len, "fetching issuers' keys is not built in");
    return OIDC_REMOTE_UNAVAILABLE;
}
