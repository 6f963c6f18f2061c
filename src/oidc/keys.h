/*
 * keys.h -- where the keys that verify an issuer's tokens come from: a
 * JWKS file given at start for that issuer (`tresor serve --oidc-jwks
 * ISSUER=FILE`, repeatable; TRESOR_OIDC_JWKS holds the same, separated by
 * commas), else the issuer's own, fetched over HTTPS (oidc/remote.h).
 *
 * The files are read once, at start (oidc_keys_add), and never change
 * while the server runs: lookups take no lock.
 */
#ifndef TR_OIDC_KEYS_H
#define TR_OIDC_KEYS_H

#include <jansson.h>
#include <stddef.h>

#define OIDC_ISSUERS_MAX 32

/* Add "ISSUER=FILE": FILE must hold a JSON object with a "keys" array.
 * 0 on success; -1 with why[0, why_len) saying what is wrong. */
int oidc_keys_add(const char *spec, char *why, size_t why_len);
/* Every "ISSUER=FILE" of a comma-separated list (the environment twin). */
int oidc_keys_add_list(const char *list, char *why, size_t why_len);
/* Forget every issuer (tests, and the end of the process). */
void oidc_keys_clear(void);

enum oidc_keys_rc { OIDC_KEYS_OK = 0, OIDC_KEYS_UNAVAILABLE = 1 };
/* The key set of `issuer`: the file's (refresh changes nothing) or the
 * remote one (refresh: fetch again, for a kid the cached set lacks).  On
 * OK *jwks is a new reference to json_decref. */
int oidc_keys_get(const char *issuer, int refresh, json_t **jwks, char *why, size_t why_len);

#endif
