/*
 * authz.c -- the one place KMS operations ask "may the caller do this?".
 *
 * Every handler calls kms_authorize() once the target key is known to
 * exist and before it looks at the key state, so the order of checks is
 * the one SEMANTICS section 7 fixes: exists -> authorized -> state ->
 * ciphertext.  The router does not authorize KMS operations itself: the
 * resource (the key ARN) is only known after resolution, and for Decrypt
 * it comes out of the ciphertext blob.
 *
 * Until the policy evaluator of src/iam/ lands, this is a conservative
 * stand-in that approximates the policies tresor itself writes:
 *  - a customer managed key of the caller's account: allowed (the default
 *    key policy delegates to IAM, and every principal is, for now,
 *    allowed by IAM);
 *  - a key of another account: denied (no cross-account grant can exist
 *    without key-policy evaluation);
 *  - an AWS managed key (aws/secretsmanager): its AWS-set policy lets the
 *    account read metadata (Describe*, Get*, List*, RevokeGrant) and use
 *    the key for cryptography only through Secrets Manager, i.e. when the
 *    request context says the call is made by the secretsmanager service.
 * Denials use IAM's wording (SEMANTICS 3.4).  The encryption context is
 * passed along for the evaluator's kms:EncryptionContext: condition keys.
 */
#include "kms/kms.h"

#include <string.h>

static bool is_metadata_action(const char *a)
{
    static const char *const pats[] = { "kms:Describe*", "kms:Get*", "kms:List*",
                                        "kms:RevokeGrant", NULL };
    for (const char *const *p = pats; *p; p++)
        if (kms_glob_ci(*p, a)) return true;
    return false;
}

static bool is_via_secrets_action(const char *a)
{
    static const char *const pats[] = { "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                                        "kms:GenerateDataKey*", "kms:CreateGrant",
                                        "kms:DescribeKey", NULL };
    for (const char *const *p = pats; *p; p++)
        if (kms_glob_ci(*p, a)) return true;
    return false;
}

TR_RESULT kms_authorize(struct req_ctx *rc, const char *action,
                        const struct key_rec *k, json_t *ctx)
{
    (void)ctx;
    if (!k) return TR_OK;   /* account-level actions: IAM only, allowed for now */

    bool allowed;
    if (strcmp(k->account_id, rc->who.account_id) != 0)
        allowed = false;
    else if (strcmp(k->key_manager, "AWS") == 0)
        allowed = is_metadata_action(action) ||
                  (strcmp(rc->service, "secretsmanager") == 0 && is_via_secrets_action(action));
    else
        allowed = true;

    if (!allowed)
        BAIL(TR_E_ACCESS_DENIED,
             "User: %s is not authorized to perform: %s on resource: %s because no "
             "resource-based policy allows the %s action",
             rc->who.arn, action, k->arn, action);
    return TR_OK;
}
