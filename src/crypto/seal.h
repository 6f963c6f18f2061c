/*
 * seal.h -- how the root key is kept at rest: the seal.
 *
 * A data dir is sealed one way, chosen at its first start and recorded by
 * the file that holds the root key:
 *  - file: DIR/root.key, the 32 bytes in the clear (mode 0600), for local
 *    use (crypto/keyring.h);
 *  - passphrase: DIR/root.seal, the root key wrapped with AES-256-GCM
 *    under a key derived from a passphrase with Argon2id; the parameters
 *    and the salt are stored beside it.  Layout and rationale:
 *    docs/internals/SEAL.md.
 * Nothing here keeps a passphrase or a derived key: both are wiped before
 * a function returns.
 */
#ifndef TR_SEAL_H
#define TR_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/result.h"
#include "crypto/keyring.h"

enum seal_kind { SEAL_NONE = 0, SEAL_FILE, SEAL_PASSPHRASE };

/* Argon2id's costs: memory in KiB, passes, lanes. */
struct seal_params {
    uint32_t m_kib, t, p;
};

/* Near OWASP's recommendation for Argon2id: 64 MiB, 3 passes, 1 lane. */
#define SEAL_PARAMS_DEFAULT ((struct seal_params){ 65536, 3, 1 })
#define SEAL_FILE_LEN 98            /* root.seal, format v1 */
#define SEAL_PASSPHRASE_MAX 1024    /* bytes */
#define SEAL_FILE_NAME "root.seal"

const char *seal_kind_name(enum seal_kind k);
/* "file" or "passphrase"; false for anything else. */
bool seal_kind_parse(const char *s, enum seal_kind *out);

/* The seal dir was created with: SEAL_NONE when it has no root key yet.
 * Fails when it holds both root.key and root.seal (a careless copy: which
 * key is the store's cannot be told). */
TR_RESULT seal_recorded(const char *dir, enum seal_kind *out);

/* The sealed form of root under pass (out: SEAL_FILE_LEN bytes): fresh
 * salt and IV.  Refuses parameters outside the bounds seal_unwrap
 * accepts. */
TR_RESULT seal_wrap(const uint8_t root[32], const uint8_t *pass, size_t n, struct seal_params prm,
                    uint8_t out[SEAL_FILE_LEN]);
/* The root key of a sealed form.  A file that is not a sealed form v1
 * (length, magic, version, KDF, parameters out of bounds) fails with
 * *wrong false; one that does not authenticate -- the wrong passphrase,
 * or any byte of the file changed -- with *wrong true.  root is wiped on
 * failure. */
TR_RESULT seal_unwrap(const uint8_t *file, size_t len, const uint8_t *pass, size_t n, bool *wrong,
                      uint8_t root[32]);

/* First start under a passphrase: a new root key, sealed into
 * DIR/root.seal (atomically, mode 0600), and its keyring. */
TR_RESULT seal_create_passphrase(const char *dir, const uint8_t *pass, size_t n, struct seal_params prm,
                                 struct keyring **out);
/* Unseal DIR/root.seal with pass into a keyring; *wrong as seal_unwrap. */
TR_RESULT seal_open_passphrase(const char *dir, const uint8_t *pass, size_t n, bool *wrong,
                               struct keyring **out);

/* The passphrase from file (refused when group or others may access it),
 * else from TRESOR_PASSPHRASE (which is then wiped and unset); out (a
 * secret buf) stays empty when neither is given.  One trailing newline is
 * not part of it; an empty one is refused. */
TR_RESULT seal_passphrase_load(const char *file, struct buf *out);
/* The passphrase read from fd to its end (standard input of tresor
 * unseal), the same way. */
TR_RESULT seal_passphrase_read_fd(int fd, struct buf *out);

/* The file that holds the root key under seal k: "root.key" (file),
 * "root.seal" (passphrase); NULL for SEAL_NONE. */
const char *seal_file_name(enum seal_kind k);

/* Write root under dir's seal kind, as "<seal_file_name(kind)>.next"
 * beside the current one (atomically, durably, mode 0600; a stale .next
 * is replaced): root.key.next holds the 32 bytes, root.seal.next the
 * sealed form under pass with a fresh salt and IV and the Argon2id
 * parameters of the current root.seal.  The step of tresor rotate-root-key
 * that depends on the seal (crypto/rotate.h, which renames the .next over
 * the current file once the store is committed); a new seal kind adds its
 * case here.  The caller wipes root. */
TR_RESULT seal_write_next(const char *dir, enum seal_kind kind, const uint8_t root[32], const uint8_t *pass,
                          size_t n);
/* The keyring of dir/name, a root key file of seal kind (its current file
 * or a rotation's .next); pass is the passphrase for the passphrase seal,
 * *wrong as seal_unwrap. */
TR_RESULT seal_open_named(const char *dir, enum seal_kind kind, const char *name, const uint8_t *pass, size_t n,
                          bool *wrong, struct keyring **out);

/* The keyring of an initialized data dir, whatever its seal, for the
 * commands that open a data dir themselves (check, account, who-can-
 * decrypt, audit hmac): a passphrase seal takes TRESOR_PASSPHRASE. */
TR_RESULT seal_open_any(const char *dir, struct keyring **out);
/* The same from the root key file name (NULL: the seal's own file). */
TR_RESULT seal_open_any_named(const char *dir, const char *name, struct keyring **out);

#endif
