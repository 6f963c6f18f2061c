/* src/oidc/remote.h -- an issuer's JWKS fetched over HTTPS (oidc/remote.c). */
#ifndef TRESOR_OIDC_REMOTE_H
#define TRESOR_OIDC_REMOTE_H
#include <jansson.h>
#include <stddef.h>
enum oidc_remote_rc { OIDC_REMOTE_OK = 0, OIDC_REMOTE_UNAVAILABLE = 1 };
/* The JWKS document of `issuer` (the token's "iss", an https URL), from the cache unless `refresh` is set or the
 * cached copy has expired; `refresh` is rate-limited inside (at most once per 10 s per issuer). On OK *jwks is a
 * new reference the caller json_decref()s; on UNAVAILABLE `why` says what failed (no secret in it). Thread-safe. */
int oidc_remote_jwks(const char *issuer, int refresh, json_t **jwks, char *why, size_t why_len);
#endif
