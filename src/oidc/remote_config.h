/*
 * remote_config.h -- start, stop and tune the fetching of OIDC issuers'
 * signing keys (oidc/remote.c); the fetch itself is oidc/remote.h.
 *
 * `tresor serve` calls oidc_remote_init once at start, before any worker
 * thread runs, and oidc_remote_shutdown once at the end, after the last
 * one stopped.  The pieces below the two are exposed for the unit tests
 * (tests/unit/oidc_remote_test.c); the server uses none of them.
 * docs/OIDC.md, "Fetching an issuer's keys", describes the behaviour.
 */
#ifndef TRESOR_OIDC_REMOTE_CONFIG_H
#define TRESOR_OIDC_REMOTE_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* libcurl's global state, and the private CA certificates of `ca_file`
 * (PEM, one or more certificates) trusted besides the system's CA store;
 * ca_file NULL: the system's store only.  0, or -1 with a message in err
 * ("FILE: cannot read it: ..." or "FILE: no PEM certificate in it"; a
 * libcurl built without OpenSSL): the caller refuses to start. */
int oidc_remote_init(const char *ca_file, char *err, size_t errlen);
/* Drops the cache, the CA certificates, the allow-list and libcurl's
 * global state. */
void oidc_remote_shutdown(void);
/* --oidc-allowed-issuers: fetch keys only for the issuers `list` admits
 * (comma-separated: https:// issuer URLs, compared but for one trailing
 * slash, or host patterns HOST, HOST:PORT, *.DOMAIN; a pattern without a
 * port means 443; hosts without case); NULL: every issuer, as before.
 * Called once at start, before any worker thread.  0, or -1 with the
 * offending entry in why (the caller refuses to start). */
int oidc_remote_set_allowed(const char *list, char *why, size_t why_len);

/* ---- exposed for tests ---- */

#define OIDC_REMOTE_DISCOVERY_MAX (64u * 1024u)    /* bytes of the discovery document */
#define OIDC_REMOTE_JWKS_MAX (1024u * 1024u)       /* bytes of the JWKS document */
#define OIDC_REMOTE_URL_MAX 2048                   /* an issuer's or jwks_uri's length */
#define OIDC_REMOTE_TTL_DEFAULT 3600               /* no Cache-Control max-age */
#define OIDC_REMOTE_TTL_MIN 60                     /* max-age floor */
#define OIDC_REMOTE_TTL_MAX 86400                  /* max-age cap, and the oldest stale copy used */
#define OIDC_REMOTE_REFETCH_GAP 10                 /* seconds between two fetches for one issuer */
#define OIDC_REMOTE_ISSUERS_MAX 256                /* issuers cached at once */

/* The discovery URL of `issuer`: the issuer without one trailing slash,
 * then "/.well-known/openid-configuration".  0, or -1 when the issuer is
 * no https URL with a host and without query or fragment, or too long. */
int oidc_remote_discovery_url(const char *issuer, char *url, size_t len);
/* How long a response may be kept, in seconds, from its Cache-Control
 * value (NULL: absent): max-age clamped to [TTL_MIN, TTL_MAX], TTL_DEFAULT
 * without one, 0 for no-store or no-cache (fetched again each time, as
 * often as REFETCH_GAP allows). */
long oidc_remote_ttl(const char *cache_control);
/* The discovery document `body` (len bytes) checked against `issuer`:
 * a JSON object whose "issuer" equals it exactly and whose "jwks_uri" is
 * an https URL, copied to jwks_uri.  0, or -1 with the reason in why. */
int oidc_remote_parse_discovery(const char *body, size_t len, const char *issuer, char *jwks_uri,
                                size_t uri_len, char *why, size_t why_len);
/* The JWKS document `body` checked: a JSON object with a "keys" array,
 * at most JWKS_MAX bytes.  0 and a new reference in *jwks, or -1 with
 * the reason in why. */
int oidc_remote_parse_jwks(const char *body, size_t len, json_t **jwks, char *why, size_t why_len);
/* The clock of the cache, in seconds (NULL: CLOCK_MONOTONIC), so that
 * tests make time pass without waiting. */
void oidc_remote_set_clock(int64_t (*now)(void));
/* The transfer's limits in milliseconds (0, 0: the defaults, 3 s to
 * connect and 5 s in all), so that tests under valgrind or on a loaded
 * machine do not fail on time; kept across init and shutdown. */
void oidc_remote_set_timeouts(long connect_ms, long total_ms);
/* 0 when every entry of `list` is an issuer URL or a host pattern, else
 * -1 with why naming the first one that is not (an empty list too). */
int oidc_remote_allowed_check(const char *list, char *why, size_t why_len);
/* `list` (checked, or NULL: anything) admits `issuer`. */
bool oidc_remote_allowed_match(const char *list, const char *issuer);
/* `list` (checked, or NULL: anything) lets the server fetch `url`, a
 * jwks_uri or a redirect's target: an https URL without user info on a
 * host a pattern of the list admits, or on the host and port of one of
 * its issuer URLs (any path). */
bool oidc_remote_allowed_fetch(const char *list, const char *url);
/* Fetches made since init (successful or not), for tests and metrics. */
unsigned long oidc_remote_fetches(void);

#endif
