/*
 * seal.h -- how the root key is kept at rest: the seal.
 *
 * A data dir is sealed one way, chosen at its first start and recorded by
 * the file that holds the root key:
 *  - file: DIR/root.key, the 32 bytes in the clear (mode 0600), for local
 *    use (crypto/keyring.h);
 *  - passphrase: DIR/root.seal, the root key wrapped with AES-256-GCM
 *    under a key derived from a passphrase with Argon2id; the parameters
 *    and the salt are stored beside it;
 *  - pkcs11: DIR/root.p11, the root key wrapped with AES-256-GCM by an
 *    AES key that never leaves a PKCS#11 token (crypto/pkcs11.h); the
 *    token's and the key's labels are stored beside it (seal_p11.c).
 * Layouts and rationale: docs/internals/SEAL.md.
 * Nothing here keeps a passphrase, a PIN or a derived key: each is wiped
 * before a function returns.
 */
#ifndef TR_SEAL_H
#define TR_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/result.h"
#include "crypto/keyring.h"

enum seal_kind { SEAL_NONE = 0, SEAL_FILE, SEAL_PASSPHRASE, SEAL_PKCS11 };

/* Argon2id's costs: memory in KiB, passes, lanes. */
struct seal_params {
    uint32_t m_kib, t, p;
};

/* Near OWASP's recommendation for Argon2id: 64 MiB, 3 passes, 1 lane. */
#define SEAL_PARAMS_DEFAULT ((struct seal_params){ 65536, 3, 1 })
#define SEAL_FILE_LEN 98            /* root.seal, format v1 */
#define SEAL_PASSPHRASE_MAX 1024    /* bytes */
#define SEAL_FILE_NAME "root.seal"
#define SEAL_P11_FILE_NAME "root.p11"
#define SEAL_MIGRATE_FILE_NAME "seal.migrating"

const char *seal_kind_name(enum seal_kind k);
/* The file that holds the root key under seal k: root.key, root.seal,
 * root.p11 (NULL for SEAL_NONE). */
const char *seal_file_name(enum seal_kind k);
/* "file", "passphrase" or "pkcs11"; false for anything else. */
bool seal_kind_parse(const char *s, enum seal_kind *out);

/* The seal dir was created with: SEAL_NONE when it has no root key yet.
 * First finishes or undoes a `tresor seal migrate` that stopped half way
 * (DIR/seal.migrating; seal_migrate.c), so that one seal file is left.
 * Fails when it holds two seal files otherwise (a careless copy: which
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

/* The keyring of an initialized data dir, whatever its seal, for the
 * commands that open a data dir themselves (check, account, who-can-
 * decrypt, audit hmac): a passphrase seal takes TRESOR_PASSPHRASE, a
 * pkcs11 seal TRESOR_PKCS11_PIN and TRESOR_PKCS11_MODULE. */
TR_RESULT seal_open_any(const char *dir, struct keyring **out);
/* The same from the root key file name (NULL: the seal's own file; a
 * rotation's committed .next for tresor check). */
TR_RESULT seal_open_any_named(const char *dir, const char *name, struct keyring **out);

/* ---- the pkcs11 seal (seal_p11.c) ---- */

/* Where its wrapping key is: the module (a path for dlopen), the token's
 * label and the key's label.  Labels: 1 to P11_LABEL_MAX (token) or
 * P11_KEY_LABEL_MAX (key) bytes of printable ASCII, no trailing space. */
struct seal_p11_conf {
    const char *module, *token, *key;
};

/* --pkcs11-module/--pkcs11-token/--pkcs11-key, else the environment
 * (TRESOR_PKCS11_MODULE, TRESOR_PKCS11_TOKEN, TRESOR_PKCS11_KEY): the
 * flags' values are taken as given (NULL: not given). */
struct seal_p11_conf seal_p11_conf_env(const char *module, const char *token, const char *key);

#define SEAL_P11_MECH_AES_GCM 0x1087u       /* CKM_AES_GCM */
#define SEAL_P11_MAX_LEN (8 + 1 + 4 + 1 + 32 + 1 + 128 + 12 + 32 + 16)

/* root.p11 parsed: views into the file's bytes. */
struct seal_p11_file {
    char token[33], key[129];
    uint32_t mech;
    const uint8_t *iv, *ct, *tag;   /* 12, 32 and 16 bytes */
    size_t header_len;              /* the AAD: every byte before ct */
};

/* Parse root.p11 format v1 (layout in seal_p11.c and SEAL.md): refuses a
 * wrong length, magic, version or mechanism, a label out of bounds and
 * trailing bytes, with "not a PKCS#11-sealed root key ...". */
TR_RESULT seal_p11_parse(const uint8_t *file, size_t len, struct seal_p11_file *out);

/* The AES-256-GCM of the token, as the format code sees it: the real one
 * is a PKCS#11 session (crypto/pkcs11.h); the unit tests plug in
 * OpenSSL's to test the format without a token. */
struct seal_p11_cipher {
    void *ctx;
    TR_RESULT (*seal)(void *ctx, const uint8_t iv[12], const uint8_t *aad, size_t naad, const uint8_t pt[32],
                      uint8_t ct[32], uint8_t tag[16]);
    TR_RESULT (*open)(void *ctx, const uint8_t iv[12], const uint8_t *aad, size_t naad, const uint8_t ct[32],
                      const uint8_t tag[16], uint8_t pt[32], bool *auth);
};

/* root.p11's bytes for root (a fresh IV) under c, naming token and key;
 * *len receives its length (at most SEAL_P11_MAX_LEN). */
TR_RESULT seal_p11_encode(const struct seal_p11_cipher *c, const char *token, const char *key,
                          const uint8_t root[32], uint8_t out[SEAL_P11_MAX_LEN], size_t *len);
/* The root key of root.p11's bytes under c; *wrong true when the tag does
 * not verify (another key, or a byte of the file changed).  root is wiped
 * on failure. */
TR_RESULT seal_p11_decode(const struct seal_p11_cipher *c, const uint8_t *file, size_t len, bool *wrong,
                          uint8_t root[32]);

/* root.p11's bytes for root under conf's token key (made when absent and
 * make_key; else its absence is an error), checked by unwrapping them
 * again in the token. */
TR_RESULT seal_p11_wrap_root(const struct seal_p11_conf *conf, const uint8_t *pin, size_t n, bool make_key,
                             const uint8_t root[32], uint8_t out[SEAL_P11_MAX_LEN], size_t *len, bool *wrong);
/* First start: the token's key (made when absent), a new root key sealed
 * into DIR/root.p11, and its keyring.  A wrong PIN: *wrong true. */
TR_RESULT seal_create_pkcs11(const char *dir, const struct seal_p11_conf *conf, const uint8_t *pin, size_t n,
                             bool *wrong, struct keyring **out);
/* Open DIR/name (NULL: root.p11; a rotation's root.p11.next) with the
 * token's key; never makes a key.  conf's token and key, when given, must
 * be the file's; module is required.  *wrong true for a wrong PIN (or a
 * file that does not authenticate under the token's key -- then the
 * message says so). */
TR_RESULT seal_open_pkcs11(const char *dir, const char *name, const struct seal_p11_conf *conf,
                           const uint8_t *pin, size_t n, bool *wrong, struct keyring **out);
/* The token's and the key's labels of DIR/root.p11, into token (33
 * bytes) and key (129 bytes). */
TR_RESULT seal_p11_labels(const char *dir, char token[33], char key[129]);
/* The PIN from file (mode 0600), else TRESOR_PKCS11_PIN (wiped and
 * unset), like seal_passphrase_load. */
TR_RESULT seal_pin_load(const char *file, struct buf *out);

/* ---- any seal: writing a given root key, opening (seal_migrate.c) ---- */

/* A seal with what it needs: the passphrase or the PIN (the caller's,
 * wiped by the caller), Argon2id's costs for a new root.seal, and the
 * token for pkcs11. */
struct seal_how {
    enum seal_kind kind;
    const uint8_t *secret;
    size_t secret_len;
    struct seal_params prm;
    struct seal_p11_conf p11;
    bool p11_key_exists;            /* pkcs11: the token's key must be there; never make one */
};

#define SEAL_FORM_MAX SEAL_P11_MAX_LEN  /* the longest of root.key, root.seal, root.p11 */

/* The bytes of the seal file for root under how (root.key's are root
 * itself), checked by unwrapping them again and comparing: no I/O but the
 * token's.  *len receives their length; *wrong true for a wrong PIN. */
TR_RESULT seal_wrap_how(const uint8_t root[32], const struct seal_how *how, uint8_t out[SEAL_FORM_MAX],
                        size_t *len, bool *wrong);
/* Write root under how as DIR's seal file (seal_file_name(how->kind)),
 * durably and atomically (keyring_create_file: mode 0600, fsync'ed,
 * linked in, the directory fsync'ed), after unwrapping the sealed form
 * again and checking it gives root back.  Refuses when that file exists.
 * For pkcs11 the token's key is made when absent.  Touches no other file;
 * root stays the caller's to wipe. */
TR_RESULT seal_write_root(const char *dir, const uint8_t root[32], const struct seal_how *how);
/* The keyring of DIR's seal file for how->kind, with how's secret;
 * *wrong true for a wrong passphrase or PIN. */
TR_RESULT seal_open_how(const char *dir, const struct seal_how *how, bool *wrong, struct keyring **out);
/* The same from DIR/name, a root key file of how->kind: its seal file
 * (name NULL) or a rotation's .next.  The one switch over the seal kinds
 * for opening; a new seal kind adds its case here. */
TR_RESULT seal_open_how_named(const char *dir, const struct seal_how *how, const char *name, bool *wrong,
                              struct keyring **out);

/* Write root under DIR's seal as "<seal_file_name(how->kind)>.next",
 * beside the current file (atomically, durably, mode 0600; a stale .next
 * is replaced), after checking the sealed form unwraps to root
 * (seal_wrap_how): root.key.next holds the 32 bytes; root.seal.next is
 * sealed under how's passphrase with a fresh salt and IV and the Argon2id
 * parameters of the current root.seal (how->prm is not used);
 * root.p11.next is wrapped by the same key of the same token as the
 * current root.p11 (its labels; how->p11 gives the module), with a fresh
 * IV -- the token's key is never made here.  The step of tresor
 * rotate-root-key that depends on the seal (cli/rotate.h, which renames
 * the .next over the current file once the store is committed).  The
 * caller wipes root. */
TR_RESULT seal_write_next(const char *dir, const struct seal_how *how, const uint8_t root[32]);

/* Exclusion between servers and the commands that change a stopped data
 * dir's root key files (`tresor seal migrate`, `tresor rotate-root-key`):
 * a flock on the data dir itself, shared by a server for its life,
 * exclusive for those commands (through cli_stopped_dir_lock, which also
 * asks the control socket).  Non-blocking: fails with a message naming
 * the holder.  *fd is the lock's (close to release). */
TR_RESULT seal_dir_lock(const char *dir, bool exclusive, int *fd);

/* `tresor seal migrate`: move DIR (a stopped server's, whose exclusive
 * seal_dir_lock the caller holds, and whose rotation cut short, if any,
 * the caller has settled) from its seal to to's, the same root key.
 * from: the secret of the current seal (and its token).  Crash-safe, in this order: DIR/seal.migrating (naming both
 * seals) durable; the new seal file durable; the old one removed; the
 * directory fsync'ed; seal.migrating removed.  seal_recorded finishes or
 * undoes a migration that stopped in between. */
TR_RESULT seal_migrate(const char *dir, const struct seal_how *from, const struct seal_how *to);
/* Finish or undo a migration that stopped half way, from what is on disk
 * (no secret needed): with DIR/seal.migrating present, the new seal file
 * present means it was written whole and checked -- the old one is
 * removed; absent, the migration never got that far -- nothing else was
 * touched.  Then seal.migrating goes.  Nothing to do: TR_OK. */
TR_RESULT seal_migrate_recover(const char *dir);

#endif
