/*
 * iam_ops.h -- every IAM operation tresor serves, as one X-macro list:
 *   X(wire name, handler, flags)
 * sorted by name.  iam_ops.c expands it into the query_op table (the IAM
 * action is "iam:" + the wire name); this header also declares the
 * handlers, which live in users.c, access_keys.c, groups.c, roles.c,
 * managed_policies.c, attachments.c, inline_policies.c, boundaries.c,
 * entity_tags.c and account_details.c.
 *
 * Flags: IAM_W mutates (OP_WRITE: one store transaction, rolled back on
 * failure) and has no output (QOP_NO_RESULT); IAM_WR mutates and returns a
 * result; IAM_R only reads.
 */
#ifndef TR_IAM_OPS_H
#define TR_IAM_OPS_H

#include "op/query_proto.h"

#define IAM_W  (OP_WRITE | QOP_NO_RESULT)
#define IAM_WR OP_WRITE
#define IAM_R  0

#define IAM_OPS(X) \
    X(AddUserToGroup, iam_add_user_to_group, IAM_W) \
    X(AttachGroupPolicy, iam_attach_group_policy, IAM_W) \
    X(AttachRolePolicy, iam_attach_role_policy, IAM_W) \
    X(AttachUserPolicy, iam_attach_user_policy, IAM_W) \
    X(CreateAccessKey, iam_create_access_key, IAM_WR) \
    X(CreateGroup, iam_create_group, IAM_WR) \
    X(CreatePolicy, iam_create_policy, IAM_WR) \
    X(CreatePolicyVersion, iam_create_policy_version, IAM_WR) \
    X(CreateRole, iam_create_role, IAM_WR) \
    X(CreateUser, iam_create_user, IAM_WR) \
    X(DeleteAccessKey, iam_delete_access_key, IAM_W) \
    X(DeleteGroup, iam_delete_group, IAM_W) \
    X(DeleteGroupPolicy, iam_delete_group_policy, IAM_W) \
    X(DeletePolicy, iam_delete_policy, IAM_W) \
    X(DeletePolicyVersion, iam_delete_policy_version, IAM_W) \
    X(DeleteRole, iam_delete_role, IAM_W) \
    X(DeleteRolePermissionsBoundary, iam_delete_role_permissions_boundary, IAM_W) \
    X(DeleteRolePolicy, iam_delete_role_policy, IAM_W) \
    X(DeleteUser, iam_delete_user, IAM_W) \
    X(DeleteUserPermissionsBoundary, iam_delete_user_permissions_boundary, IAM_W) \
    X(DeleteUserPolicy, iam_delete_user_policy, IAM_W) \
    X(DetachGroupPolicy, iam_detach_group_policy, IAM_W) \
    X(DetachRolePolicy, iam_detach_role_policy, IAM_W) \
    X(DetachUserPolicy, iam_detach_user_policy, IAM_W) \
    X(GetAccountAuthorizationDetails, iam_get_account_authorization_details, IAM_R) \
    X(GetGroup, iam_get_group, IAM_R) \
    X(GetGroupPolicy, iam_get_group_policy, IAM_R) \
    X(GetPolicy, iam_get_policy, IAM_R) \
    X(GetPolicyVersion, iam_get_policy_version, IAM_R) \
    X(GetRole, iam_get_role, IAM_R) \
    X(GetRolePolicy, iam_get_role_policy, IAM_R) \
    X(GetUser, iam_get_user, IAM_R) \
    X(GetUserPolicy, iam_get_user_policy, IAM_R) \
    X(ListAccessKeys, iam_list_access_keys, IAM_R) \
    X(ListAttachedGroupPolicies, iam_list_attached_group_policies, IAM_R) \
    X(ListAttachedRolePolicies, iam_list_attached_role_policies, IAM_R) \
    X(ListAttachedUserPolicies, iam_list_attached_user_policies, IAM_R) \
    X(ListEntitiesForPolicy, iam_list_entities_for_policy, IAM_R) \
    X(ListGroupPolicies, iam_list_group_policies, IAM_R) \
    X(ListGroups, iam_list_groups, IAM_R) \
    X(ListGroupsForUser, iam_list_groups_for_user, IAM_R) \
    X(ListPolicies, iam_list_policies, IAM_R) \
    X(ListPolicyVersions, iam_list_policy_versions, IAM_R) \
    X(ListRolePolicies, iam_list_role_policies, IAM_R) \
    X(ListRoleTags, iam_list_role_tags, IAM_R) \
    X(ListRoles, iam_list_roles, IAM_R) \
    X(ListUserPolicies, iam_list_user_policies, IAM_R) \
    X(ListUserTags, iam_list_user_tags, IAM_R) \
    X(ListUsers, iam_list_users, IAM_R) \
    X(PutGroupPolicy, iam_put_group_policy, IAM_W) \
    X(PutRolePermissionsBoundary, iam_put_role_permissions_boundary, IAM_W) \
    X(PutRolePolicy, iam_put_role_policy, IAM_W) \
    X(PutUserPermissionsBoundary, iam_put_user_permissions_boundary, IAM_W) \
    X(PutUserPolicy, iam_put_user_policy, IAM_W) \
    X(RemoveUserFromGroup, iam_remove_user_from_group, IAM_W) \
    X(SetDefaultPolicyVersion, iam_set_default_policy_version, IAM_W) \
    X(TagRole, iam_tag_role, IAM_W) \
    X(TagUser, iam_tag_user, IAM_W) \
    X(UntagRole, iam_untag_role, IAM_W) \
    X(UntagUser, iam_untag_user, IAM_W) \
    X(UpdateAccessKey, iam_update_access_key, IAM_W) \
    X(UpdateAssumeRolePolicy, iam_update_assume_role_policy, IAM_W) \
    X(UpdateRole, iam_update_role, IAM_WR) \
    X(UpdateUser, iam_update_user, IAM_W)

#define X(name, fn, flags) TR_RESULT fn(struct req_ctx *rc, const struct form *in, struct xml *out);
IAM_OPS(X)
#undef X

#endif
