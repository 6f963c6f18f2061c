/*
 * ops.c -- the KMS operation table (X-Amz-Target "TrentService.<Op>").
 *
 * One row per operation, sorted by wire name (strcmp order; kms_test.c
 * checks it, so the router may binary-search): the name, the IAM action
 * recorded for the request, the handler, and OP_WRITE when the handler
 * writes -- the router then runs it inside one store transaction, rolled
 * back on failure.  Every other handler only reads.
 *
 * The handlers authorize themselves (kms_authorize, authz.c) once the key
 * is known, because the resource is the key ARN, which for Decrypt comes
 * out of the ciphertext.  ReEncrypt authorizes kms:ReEncryptFrom on the
 * source key and kms:ReEncryptTo on the destination; its row names the
 * first.  Spec: botocore kms/2014-11-01/service-2.json (operations).
 */
#include "kms/kms.h"

/* Wire name and IAM action "kms:<name>" from one token. */
#define KMS_OP(name, fn, flags) { #name, "kms:" #name, fn, flags }

const struct op_def kms_ops[] = {
    KMS_OP(CancelKeyDeletion, op_cancel_key_deletion, OP_WRITE),
    KMS_OP(CreateAlias, op_create_alias, OP_WRITE),
    KMS_OP(CreateGrant, op_create_grant, OP_WRITE),
    KMS_OP(CreateKey, op_create_key, OP_WRITE),
    KMS_OP(Decrypt, op_decrypt, 0),
    KMS_OP(DeleteAlias, op_delete_alias, OP_WRITE),
    KMS_OP(DescribeKey, op_describe_key, 0),
    KMS_OP(DisableKey, op_disable_key, OP_WRITE),
    KMS_OP(DisableKeyRotation, op_disable_key_rotation, OP_WRITE),
    KMS_OP(EnableKey, op_enable_key, OP_WRITE),
    KMS_OP(EnableKeyRotation, op_enable_key_rotation, OP_WRITE),
    KMS_OP(Encrypt, op_encrypt, 0),
    KMS_OP(GenerateDataKey, op_generate_data_key, 0),
    KMS_OP(GenerateDataKeyWithoutPlaintext, op_generate_data_key_without_plaintext, 0),
    KMS_OP(GenerateRandom, op_generate_random, 0),
    KMS_OP(GetKeyPolicy, op_get_key_policy, 0),
    KMS_OP(GetKeyRotationStatus, op_get_key_rotation_status, 0),
    KMS_OP(ListAliases, op_list_aliases, 0),
    KMS_OP(ListGrants, op_list_grants, 0),
    KMS_OP(ListKeyPolicies, op_list_key_policies, 0),
    KMS_OP(ListKeyRotations, op_list_key_rotations, 0),
    KMS_OP(ListKeys, op_list_keys, 0),
    KMS_OP(ListResourceTags, op_list_resource_tags, 0),
    KMS_OP(ListRetirableGrants, op_list_retirable_grants, 0),
    KMS_OP(PutKeyPolicy, op_put_key_policy, OP_WRITE),
    { "ReEncrypt", "kms:ReEncryptFrom", op_re_encrypt, 0 },
    KMS_OP(RetireGrant, op_retire_grant, OP_WRITE),
    KMS_OP(RevokeGrant, op_revoke_grant, OP_WRITE),
    KMS_OP(RotateKeyOnDemand, op_rotate_key_on_demand, OP_WRITE),
    KMS_OP(ScheduleKeyDeletion, op_schedule_key_deletion, OP_WRITE),
    KMS_OP(TagResource, op_tag_resource, OP_WRITE),
    KMS_OP(UntagResource, op_untag_resource, OP_WRITE),
    KMS_OP(UpdateAlias, op_update_alias, OP_WRITE),
    KMS_OP(UpdateKeyDescription, op_update_key_description, OP_WRITE),
    { NULL, NULL, NULL, 0 },
};
