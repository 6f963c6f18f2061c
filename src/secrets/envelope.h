/*
 * envelope.h -- envelope encryption of secret values through KMS, as the
 * caller (docs/ARCHITECTURE.md 2; docs/AUTHORIZATION.md 5.3).
 *
 * Every KMS call runs with rc->via_service =
 * "secretsmanager.<region>.amazonaws.com" (kms:ViaService,
 * aws:ViaAWSService) and the encryption context {"SecretARN": <arn>,
 * "SecretVersionId": <version id>}; KMS authorizes rc->who (key policy,
 * IAM, grants).  Failures come back as Secrets Manager errors:
 *   KMS AccessDenied                 -> AccessDeniedException
 *                                       "Access to KMS is not allowed"
 *   key Disabled / PendingDeletion   -> DecryptionFailure (opening) or
 *                                       EncryptionFailure (sealing), with
 *                                       KMS's sentence on the key state
 *   tampered edk or ct               -> DecryptionFailure
 *   key gone while sealing           -> EncryptionFailure
 * Plaintext values and data keys live in secret bufs only, wiped at once.
 */
#ifndef TR_SM_ENVELOPE_H
#define TR_SM_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/result.h"
#include "op/op.h"
#include "secrets/secrets.h"
#include "store/store.h"

struct keyring;

#define SM_MANAGED_ALIAS "alias/aws/secretsmanager"
#define SM_DEFAULT_KEY_LABEL "DefaultEncryptionKey"   /* ListSecretVersionIds KmsKeyIds */

/* Check a KmsKeyId the caller gave (CreateSecret, UpdateSecret) for a
 * secret of (account, region): it must name a key (id, ARN, alias or
 * alias ARN; another account's ARN is allowed).  A key id or an alias
 * name is looked up in the secret's account, not the caller's (as every
 * later write does: see sm_seal).  Unknown -> InvalidParameterException.
 * "" or the managed alias name the managed key (created if needed: a
 * write transaction); for a caller of another account that is the KMS
 * denial (AccessDeniedException "Access to KMS is not allowed"), as the
 * managed key admits only its own account.  *managed tells which;
 * *key_arn (malloc'd) receives the key ARN. */
TR_RESULT sm_key_check(struct req_ctx *rc, const char *account, const char *region,
                       const char *key_id, bool *managed, char **key_arn);
/* The ARN of the key key_id names for a secret of (account, region), as
 * sm_key_check would resolve it, for secretsmanager:KmsKeyArn; NULL (no
 * error) when it names none or is "" (malloc'd; free()). */
char *sm_key_arn_peek(struct req_ctx *rc, const char *account, const char *region,
                      const char *key_id);

/* Seal `pt` (n bytes) as version v of s: GenerateDataKey on the secret's
 * key (s->kms_key_id -- a key id or alias name meaning the key or alias of
 * the secret's account, whoever writes -- or aws/secretsmanager when NULL,
 * created on first use), AES-256-GCM with a random IV and AAD
 * "tresor-secret-v1|<arn>|<version id>".  Fills v->edk, v->ct (base64),
 * v->key_arn, v->binary, and s->kms_key_arn.  Needs a write transaction
 * when the managed key may have to be created. */
TR_RESULT sm_seal(struct req_ctx *rc, struct secret *s, struct secret_version *v,
                  const uint8_t *pt, size_t n, bool binary);

/* Open version v of s into out (a BUF_SECRET the caller frees with
 * buf_free, which wipes it): KMS Decrypt of edk as rc->who, then
 * AES-256-GCM.  A version without a value is an internal error (callers
 * check v->ct first). */
TR_RESULT sm_open(struct req_ctx *rc, const struct secret *s, const struct secret_version *v,
                  struct buf *out);

/* The same with no caller, for the offline integrity check (`tresor
 * check`): KMS opens the data key without authorization and in any key
 * state (kms_blob_open_offline), then AES-256-GCM as above.  key_id
 * receives the id of the KMS key the data key's blob names ("" when it
 * does not parse).  The message of a failure says which step failed,
 * never a byte of the value. */
TR_RESULT sm_open_offline(store_t st, const struct keyring *kr, const struct secret *s,
                          const struct secret_version *v, struct buf *out, char key_id[37]);

/* UpdateSecret with a new KmsKeyId: prove rc->who can use key_id through
 * Secrets Manager -- GenerateDataKey then Decrypt with SecretVersionId
 * "RequestToValidateKeyAccess" -- before anything is re-encrypted. */
TR_RESULT sm_key_validate(struct req_ctx *rc, const struct secret *s, const char *key_id);

/* Replication to a KmsKeyId other than aws/secretsmanager also needs
 * kms:Encrypt on that key (the ReplicateSecretToRegions reference): is
 * rc->who allowed it, through Secrets Manager of rc->region, with s's
 * encryption context for version_id?  Nothing for the managed key.
 * Failures as sm_seal's. */
TR_RESULT sm_key_authorize_encrypt(struct req_ctx *rc, struct secret *s, const char *version_id);
/* The KmsKeyIds entry of a version (ListSecretVersionIds):
 * "DefaultEncryptionKey" for aws/secretsmanager, else the key as given
 * when the version was sealed (its ARN when unknown). */
const char *sm_version_key_label(const struct secret_version *v);

#endif
