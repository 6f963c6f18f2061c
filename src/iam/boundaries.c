/*
 * boundaries.c -- permissions boundaries of users and roles:
 * Put/Delete User/RolePermissionsBoundary.
 *
 * The boundary is the entity doc's "boundary" (the managed policy ARN) plus
 * the relation "boundary" policy ARN -> entity ARN that gives the policy its
 * PermissionsBoundaryUsageCount (IAM_STORE.md); the caller's authorization
 * caps the entity's identity policies with it (docs/AUTHORIZATION.md 2.5).
 * The policy must be a managed policy of the account: NoSuchEntity "Scope
 * ARN: <arn> does not exist or is not attachable." (AWS's text).
 * The calls are authorized on the entity with iam:PermissionsBoundary =
 * the requested boundary (Put) or the current one (Delete).  Deleting a
 * boundary that is not set succeeds and changes nothing.
 */
#include "iam/iam_ops.h"

#include "iam/iam_util.h"

static TR_RESULT put_boundary(struct req_ctx *rc, const struct form *in, struct xml *out,
                              const struct iam_kind_param *k, struct ent_rec *e)
{
    const char *name, *arn;
    (void)out;
    GUARD(iam_param_entity(in, k, &name));
    GUARD(iam_param_arn(in, "PermissionsBoundary", true, &arn));
    struct iam_authz x = { .boundary = arn };
    GUARD(iam_load(rc, rc->op->action, k->kind, name, &x, e));
    GUARD(iam_boundary_check(rc, arn));
    return iam_boundary_set(rc, e, arn);
}

static TR_RESULT delete_boundary(struct req_ctx *rc, const struct form *in, struct xml *out,
                                 const struct iam_kind_param *k, struct ent_rec *e)
{
    const char *name;
    char current[IAM_ARN_MAX];
    (void)out;
    GUARD(iam_param_entity(in, k, &name));
    struct iam_authz x = { .target_boundary = true };
    GUARD(iam_load(rc, rc->op->action, k->kind, name, &x, e));
    GUARD(iam_boundary_of(e, current));
    if (current[0]) GUARD(iam_boundary_set(rc, e, NULL));
    return TR_OK;
}

IAM_KIND_HANDLER(iam_put_user_permissions_boundary, put_boundary, IAM_P_USER64)
IAM_KIND_HANDLER(iam_delete_user_permissions_boundary, delete_boundary, IAM_P_USER64)
IAM_KIND_HANDLER(iam_put_role_permissions_boundary, put_boundary, IAM_P_ROLE)
IAM_KIND_HANDLER(iam_delete_role_permissions_boundary, delete_boundary, IAM_P_ROLE)
