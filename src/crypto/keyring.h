/*
 * keyring.h -- the root key and wrapping of everything secret at rest.
 *
 * The root key is 32 random bytes in DATA_DIR/root.key (mode 0600, created
 * on first start) with the file seal, or wrapped in DATA_DIR/root.seal
 * under a passphrase (crypto/seal.h, docs/internals/SEAL.md).  In memory it lives in locked,
 * non-dumpable pages (secmem).  keyring_wrap seals a secret (KMS key
 * material, an IAM secret access key) with AES-256-GCM under the root key,
 * binding a label (e.g. "kms-material:<key-id>:<version>") as AAD, so a
 * wrapped value cannot be moved to another record.
 */
#ifndef TR_KEYRING_H
#define TR_KEYRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/result.h"

struct keyring;

/* Load DATA_DIR/root.key, or create it (0600) when absent and create is
 * true.  Refuses a root.key that is not exactly 32 bytes or that others
 * can read. */
TR_RESULT keyring_open(const char *data_dir, bool create, struct keyring **out);
/* Load a root key kept outside a data dir (`tresor restore --root-key`):
 * the same checks as keyring_open's (a regular file of exactly 32 bytes,
 * no access for group or others). */
TR_RESULT keyring_load_file(const char *path, struct keyring **out);
/* Write kr's root key as DATA_DIR/root.key (0600, atomically, fsync'ed);
 * fails when one exists. */
TR_RESULT keyring_install(const struct keyring *kr, const char *data_dir);
/* Create dir/name (mode 0600) holding data, atomically and durably: a
 * crash leaves no file or the whole one.  An existing file is left as it
 * is (TR_OK, the caller loads it) when exist_ok, else refused.  Used for
 * root.key and root.seal. */
TR_RESULT keyring_create_file(const char *dir, const char *name, const uint8_t *data, size_t len,
                              bool exist_ok);
/* A keyring over given bytes (tests, and crypto/seal.c once it unwrapped
 * a sealed root key). */
TR_RESULT keyring_from_bytes(const uint8_t root[32], struct keyring **out);
void keyring_free(struct keyring *kr);
/* The root key's bytes into out, to seal it another way (crypto/seal.h
 * seal_migrate); the caller wipes out. */
void keyring_root_copy(const struct keyring *kr, uint8_t out[32]);

/* The key-check value of kr's root key: HMAC-SHA256(root key,
 * "tresor-root-key-check-v1").  It names the key without revealing it
 * (HMAC is a PRF: without the key the value is random, and it gives no
 * way back to the key); the store keeps the current key's
 * (crypto/rotate.h) so that a key that does not wrap the store is refused
 * at open.  Compare with ct_memeq. */
#define KEYRING_CHECK_LEN 32
TR_RESULT keyring_check_value(const struct keyring *kr, uint8_t out[KEYRING_CHECK_LEN]);

/* The labels wrapped records are bound to (the AAD of keyring_wrap): one
 * home for each, so that whatever wraps a record and whatever unwraps or
 * re-wraps it (tresor rotate-root-key) agree.  The whole label, or a
 * failure for an id too long for KEYRING_LABEL_MAX. */
#define KEYRING_LABEL_MAX 96
/* "kms-material:<key-id>:<version>": a KMS key's material. */
TR_RESULT keyring_label_material(char out[KEYRING_LABEL_MAX], const char *key_id, uint32_t version);
/* "access-key:<AKID>": an access key's secret (root, IAM user, session). */
TR_RESULT keyring_label_access_key(char out[KEYRING_LABEL_MAX], const char *akid);
/* "kms-import-token:<key-id>": an import token of KMS key key_id
 * (kms/import.c), so a token opens only for the key it was made for. */
TR_RESULT keyring_label_import_token(char out[KEYRING_LABEL_MAX], const char *region,
                                    const char *key_id);
/* "kms-import-check:<key-id>": the digest of a key's imported material,
 * kept to tell a re-import of the same material from different material. */
TR_RESULT keyring_label_import_check(char out[KEYRING_LABEL_MAX], const char *key_id);

/* Appends the wrapped form (format byte | iv | ct | tag) to out. */
TR_RESULT keyring_wrap(const struct keyring *kr, const char *label,
                       const uint8_t *pt, size_t n, struct buf *out);
/* Appends the plaintext to out (a secret buf); TR_E_INTERNAL when the
 * label or bytes do not authenticate (corrupt store or wrong root key). */
TR_RESULT keyring_unwrap(const struct keyring *kr, const char *label,
                         const uint8_t *wrapped, size_t n, struct buf *out);

#endif
