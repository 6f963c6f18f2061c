/*
 * certgen.h -- a local CA and a server certificate (ECDSA P-256), for
 * `tresor serve --tls-generate`.  certgen.c describes the certificates.
 */
#ifndef TR_CERTGEN_H
#define TR_CERTGEN_H

#include "core/result.h"

/* Make a new CA and a server certificate for san (OpenSSL's
 * subjectAltName syntax, "DNS:localhost,IP:127.0.0.1") with subject CN cn,
 * and write dir/ca.key, dir/ca.pem, dir/server.key, dir/server.pem (keys
 * 0600), each atomically, server.pem last.  dir must exist.  Every
 * failure is TR_E_INTERNAL with the file or the step. */
TR_RESULT certgen_write(const char *dir, const char *cn, const char *san);

#endif
