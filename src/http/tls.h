/*
 * tls.h -- the server's TLS credentials (GnuTLS, under libmicrohttpd):
 * load and check a PEM certificate chain and key, the priority string,
 * and the reload on SIGHUP.  docs/internals/TLS.md.
 */
#ifndef TR_TLS_H
#define TR_TLS_H

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/result.h"

struct tls_ctx;

/* The GnuTLS priority string for a minimum version of 12 (TLS 1.2 and
 * 1.3) or 13 (TLS 1.3 only): AEAD suites only, ECDHE only (tls.c says
 * why each part is there).  NULL for any other version. */
const char *tls_priorities(unsigned min_version);

/* Load cert_path (PEM: the server certificate first, then any
 * intermediates) and key_path (PEM, unencrypted), and check them: the key
 * file must not be accessible by group or others, both must parse, and
 * the key must be the certificate's.  Every failure is TR_E_VALIDATION
 * with a message naming the file and the reason (no key material).  The
 * key file's bytes are wiped once imported.  The context keeps the paths
 * for tls_reload, and becomes the one tls_cert_callback answers from (one
 * TLS server per process). */
TR_RESULT tls_open(const char *cert_path, const char *key_path, unsigned min_version,
                   struct tls_ctx **out);

/* Load the same two paths again with tls_open's checks; on success the
 * new credentials serve every handshake from now on, and the old ones are
 * retired (kept until no connection that may hold them is open:
 * tls_release).  On failure nothing changes and the error says why. */
TR_RESULT tls_reload(struct tls_ctx *t);

/* The current credentials' generation: a connection records it when it
 * opens, and can only ever be handed credentials of that generation or a
 * later one. */
uint64_t tls_generation(struct tls_ctx *t);
/* Is any retired credential waiting to be freed? */
bool tls_has_retired(struct tls_ctx *t);
/* Free the retired credentials that no open connection can hold:
 * oldest is the smallest generation recorded by an open connection
 * (UINT64_MAX when none is open). */
void tls_release(struct tls_ctx *t, uint64_t oldest);

/* The minimum version given to tls_open: 12 or 13. */
unsigned tls_min_version(const struct tls_ctx *t);

/* One line about the current certificate for the log: its subject, its
 * expiry, and how many certificates the chain has. */
void tls_describe(struct tls_ctx *t, char *out, size_t n);

/* Frees everything, current and retired; no handshake may be running. */
void tls_free(struct tls_ctx *t);

/* MHD_OPTION_HTTPS_CERT_CALLBACK: the current certificate chain and key
 * of the process's TLS context (GnuTLS neither frees nor changes them). */
int tls_cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
                      const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                      gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey);

#endif
