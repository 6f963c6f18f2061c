/*
 * pkcs11.h -- a PKCS#11 token, as far as the pkcs11 seal needs one
 * (crypto/seal.h, docs/internals/SEAL.md).
 *
 * The module (a shared library such as SoftHSM2's libsofthsm2.so) is
 * loaded with dlopen and called through C_GetFunctionList; the header is
 * p11-kit's <p11-kit/pkcs11.h>.  A struct p11 is one logged-in session on
 * the token with a given label, and the AES key with a given label found
 * (or made) in it.  The token does the AES-256-GCM: the key never leaves
 * it (CKA_SENSITIVE, not CKA_EXTRACTABLE), and nothing here is crypto of
 * our own.  The PIN is the caller's, wiped by the caller.  p11_close logs
 * out, closes the session, finalizes the module and unloads it: a session
 * lives for one wrap or unwrap, never longer.
 */
#ifndef TR_PKCS11_H
#define TR_PKCS11_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/result.h"

#define P11_LABEL_MAX 32            /* a token label: CK_TOKEN_INFO's 32 bytes */
#define P11_KEY_LABEL_MAX 128       /* a key label: our bound, not PKCS#11's */
#define P11_IV_LEN 12
#define P11_TAG_LEN 16

struct p11;

/* Why p11_open failed, for the caller's message and counting. */
enum p11_fail { P11_FAIL_OTHER = 0, P11_FAIL_PIN, P11_FAIL_TOKEN };

/* Load module, find the token labelled token (present in a slot), open a
 * read-write session and log in as the user with pin.  *why says what
 * failed: P11_FAIL_PIN for a wrong PIN (CKR_PIN_INCORRECT, or a PIN of a
 * length the token refuses), P11_FAIL_TOKEN for no such token; messages
 * name the module, the token and the PKCS#11 return code. */
TR_RESULT p11_open(const char *module, const char *token, const uint8_t *pin, size_t n, enum p11_fail *why,
                   struct p11 **out);
/* C_Logout, C_CloseSession, C_Finalize, dlclose.  NULL: nothing. */
void p11_close(struct p11 *p);

/* Find the AES secret key labelled label on the token: *found false when
 * there is none (not an error); more than one is refused. */
TR_RESULT p11_find_key(struct p11 *p, const char *label, bool *found);
/* Generate it in the token: AES, 256 bits, CKA_TOKEN, CKA_PRIVATE,
 * CKA_SENSITIVE true, CKA_EXTRACTABLE false, CKA_ENCRYPT and CKA_DECRYPT
 * only.  The session's key from then on. */
TR_RESULT p11_generate_key(struct p11 *p, const char *label);

/* AES-256-GCM (CKM_AES_GCM, 128-bit tag) by the token under the session's
 * key: ct (n bytes) and tag of pt, aad authenticated. */
TR_RESULT p11_gcm_seal(struct p11 *p, const uint8_t iv[P11_IV_LEN], const uint8_t *aad, size_t naad,
                       const uint8_t *pt, size_t n, uint8_t *ct, uint8_t tag[P11_TAG_LEN]);
/* The inverse: pt (n bytes), or *auth true when the token refused the tag
 * (wrong key or changed bytes); pt is wiped on any failure. */
TR_RESULT p11_gcm_open(struct p11 *p, const uint8_t iv[P11_IV_LEN], const uint8_t *aad, size_t naad,
                       const uint8_t *ct, size_t n, const uint8_t tag[P11_TAG_LEN], uint8_t *pt, bool *auth);

/* A PKCS#11 return code's name ("CKR_PIN_INCORRECT"), or "CKR_0x..." */
const char *p11_rv_name(unsigned long rv, char *tmp, size_t n);

#endif
