/*
 * ciphertext.h -- the KMS ciphertext blob and the encryption-context AAD.
 *
 * Spec: docs/internals/CIPHERTEXT.md.  The blob names its key (the 16 raw
 * bytes of the key UUID, or of a multi-Region key's 32 hex digits, told
 * apart by the version byte) and the key-material version; the encryption
 * context is authenticated as AAD in a canonical form and never stored in
 * the blob.  Every parse failure and every authentication failure returns
 * TR_E_KMS_INVALID_CIPHERTEXT with no message, so a wrong key, a wrong
 * context and a corrupt blob look the same to the caller.
 */
#ifndef TR_CIPHERTEXT_H
#define TR_CIPHERTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/result.h"

#define CT_KEY_ID_LEN 16          /* raw key id bytes */
/* The version byte says how the 16 key-id bytes are written as a key id. */
#define CT_V1      0x01           /* a UUID key id */
#define CT_V1_MRK  0x02           /* a multi-Region key id, "mrk-" + 32 hex */
#define CT_MAX_PLAINTEXT 4096     /* KMS Encrypt limit */

/* One encryption-context pair; both strings are borrowed. */
struct enc_pair { const char *key; const char *value; };
struct enc_ctx { const struct enc_pair *pairs; size_t n; };

/* A parsed blob: pointers borrow from the input bytes. */
struct ct_blob {
    uint8_t version;                  /* CT_V1 or CT_V1_MRK */
    uint8_t key_id[CT_KEY_ID_LEN];
    uint32_t material_version;        /* which key material sealed it */
    const uint8_t *header; size_t header_len;   /* authenticated as AAD */
    const uint8_t *body;   size_t body_len;     /* ciphertext */
    const uint8_t *tag;                          /* 16 bytes */
    const uint8_t *salt; const uint8_t *iv;
};

/* UUID text <-> the 16 raw bytes carried in the blob. */
TR_RESULT uuid_to_bytes(const char *uuid, uint8_t out[CT_KEY_ID_LEN]);
void uuid_from_bytes(const uint8_t in[CT_KEY_ID_LEN], char out[37]);

/* Any key id (a UUID, or "mrk-" + 32 hex) <-> the version byte of its
 * blobs and its 16 raw bytes.  A malformed id is NotFoundException
 * "Invalid keyId '<id>'"; out is the 37-byte text form. */
TR_RESULT ct_key_id_to_bytes(const char *key_id, uint8_t *version, uint8_t out[CT_KEY_ID_LEN]);
void ct_key_id_from_bytes(uint8_t version, const uint8_t in[CT_KEY_ID_LEN], char out[37]);

/* Bounds-checked parse; TR_E_KMS_INVALID_CIPHERTEXT on any malformation. */
TR_RESULT ciphertext_parse(const uint8_t *blob, size_t len, struct ct_blob *out);

/* Canonical AAD form of an encryption context (order-independent); an
 * empty or NULL context gives a fixed encoding.  Appends to out. */
TR_RESULT enc_ctx_canonical(const struct enc_ctx *ctx, struct buf *out);

/* Seal pt (<= CT_MAX_PLAINTEXT... callers enforce API limits) under one
 * version of a key's 32-byte material; appends the whole blob to out.
 * ciphertext_seal writes a CT_V1 blob (a UUID key); ciphertext_seal_as
 * the version `version` (CT_V1 or CT_V1_MRK) that ct_key_id_to_bytes
 * gave. */
TR_RESULT ciphertext_seal_as(uint8_t version, const uint8_t key_id[CT_KEY_ID_LEN],
                             uint32_t material_version, const uint8_t material[32],
                             const struct enc_ctx *ctx, const uint8_t *pt, size_t pt_len,
                             struct buf *out);
TR_RESULT ciphertext_seal(const uint8_t key_id[CT_KEY_ID_LEN], uint32_t material_version,
                          const uint8_t material[32], const struct enc_ctx *ctx,
                          const uint8_t *pt, size_t pt_len, struct buf *out);

/* Open a parsed blob with the material it names; appends the plaintext to
 * pt_out (which should be a secret buf).  On failure pt_out gains nothing. */
TR_RESULT ciphertext_open(const struct ct_blob *ct, const uint8_t material[32],
                          const struct enc_ctx *ctx, struct buf *pt_out);

/* Wipe and drop the derived blob keys ciphertext_open cached: this
 * thread's now, every other thread's at its next open (cache_flush).
 * For a key that can no longer be used (kms_forget_unwrapped). */
void ciphertext_forget_keys(void);

#endif
