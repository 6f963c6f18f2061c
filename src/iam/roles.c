/*
 * roles.c -- CreateRole, GetRole, ListRoles, DeleteRole,
 * UpdateAssumeRolePolicy, UpdateRole, UpdateRoleDescription.
 *
 * A role is an entity of kind "role" (AROA..., IAM_STORE.md) whose doc is
 * {"trust": "<trust policy text>", "trust_ids": {<binding>}, "description": "...",
 *  "max_session": 3600, "boundary": "<policy arn>"?}.  The trust policy is
 * stored and returned as given (URL-encoded in replies, docs/WIRE.md 1.2;
 * "AWS": "111122223333" is not rewritten), after policy_compile as
 * POLICY_TRUST and a check that every AWS principal exists, and every
 * Federated OIDC provider ARN of the role's account (MalformedPolicyDocument
 * "Invalid principal in policy: ..."); the user
 * and role ARNs it names are bound to their unique ids (iam/bindings.h),
 * so a principal deleted since reads as its id in replies.  Its size
 * is capped at 2048 non-white-space characters, AWS's default
 * (LimitExceeded "Cannot exceed quota for ACLSizePerRole: 2048").
 *
 * A Path under /aws-service-role/ is AWS's InvalidInput "Path prefix
 * '/aws-service-role/' can only be used for AWS Service linked Roles",
 * before any authorization: that path is CreateServiceLinkedRole's
 * (service_linked_roles.c), and a role there is protected.  No other
 * role operation takes a Path.
 *
 * MaxSessionDuration is 3600..43200 (default 3600); Description 0..1000
 * characters of the model's pattern.  CreateRole's reply carries the trust
 * policy, Description, PermissionsBoundary and Tags when set; GetRole adds
 * MaxSessionDuration and an empty RoleLastUsed; ListRoles returns
 * MaxSessionDuration but no boundary, tags or RoleLastUsed (as AWS).
 * DeleteRole refuses while the role is in an instance profile ("Cannot
 * delete entity, must remove roles from instance profile first.",
 * instance_profiles.c), while policies are attached ("Cannot delete entity,
 * must detach all policies first.") or inline ("... must delete policies
 * first."); the boundary relation and tags go with the role.
 */
#include "iam/iam_ops.h"

#include <stdio.h>
#include <string.h>

#include "core/utf8.h"
#include "iam/bindings.h"
#include "iam/iam_util.h"
#include "iam/records.h"

#define TRUST_SIZE_MAX 2048

static TR_RESULT write_role_listed(struct req_ctx *rc, struct xml *x, const struct ent_rec *e)
{
    return iam_xml_role_fields(rc, x, e, IAMX_MAX_SESSION | IAMX_DESCRIPTION);
}

/* Size quota and validation of a trust policy; *ids its binding
 * (malloc'd). */
static TR_RESULT check_trust(struct req_ctx *rc, const char *text, char **ids)
{
    *ids = NULL;
    if (iam_policy_size(text) > TRUST_SIZE_MAX)
        BAIL(TR_E_IAM_LIMIT_EXCEEDED, "Cannot exceed quota for ACLSizePerRole: %d", TRUST_SIZE_MAX);
    GUARD(iam_policy_validate(rc->st, rc->who.account_id, text, POLICY_TRUST));
    return iam_bind_policy(rc->st, text, POLICY_TRUST, ids);
}

TR_RESULT iam_param_role_description(const struct form *in, const char **out)
{
    GUARD(form_str(in, "Description", false, 0, 1000, out));
    if (!*out) return TR_OK;
    static const struct utf8_range CHARS[] = {
        { 0x09, 0x0A }, { 0x0D, 0x0D }, { 0x20, 0x7E }, { 0xA1, 0xFF },
    };
    if (!utf8_in_class(*out, CHARS, sizeof CHARS / sizeof CHARS[0]))
        return iam_invalid("Description", *out, "Member must satisfy regular expression pattern: "
                           "[\\u0009\\u000A\\u000D\\u0020-\\u007E\\u00A1-\\u00FF]*");
    return TR_OK;
}

/* iam:PermissionsBoundary: the role's boundary, on every operation the
 * Service Authorization Reference lists the key for (GetRole, DeleteRole,
 * UpdateRole, UpdateAssumeRolePolicy). */
static const struct iam_authz TARGET_BOUNDARY = { .target_boundary = true };

TR_RESULT iam_create_role(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *name, *path, *trust, *desc, *boundary;
    int64_t max_session = 3600;
    struct iam_tags tags;
    char arn[IAM_ARN_MAX], *doc = NULL, *ids = NULL;
    struct ent_rec role = { 0 };
    tr_result r;

    GUARD(iam_param_name(in, "RoleName", true, 64, &name));
    GUARD(iam_param_document(in, "AssumeRolePolicyDocument", &trust));
    GUARD(iam_param_path(in, "Path", true, &path));
    GUARD(iam_param_role_description(in, &desc));
    GUARD(form_int(in, "MaxSessionDuration", false, 3600, 43200, NULL, &max_session));
    if (strncmp(path, IAM_SLR_PATH, strlen(IAM_SLR_PATH)) == 0)
        BAIL(TR_E_IAM_INVALID_INPUT, "Path prefix '%s' can only be used for AWS Service linked Roles",
             IAM_SLR_PATH);
    GUARD(iam_create_checks(rc, in, IAM_ROLE, path, name, arn, &boundary, &tags));
    GUARD(check_trust(rc, trust, &ids));
    r = iam_rec_role_doc(trust, ids, desc, max_session, NULL, &doc);
    free(ids);
    GUARD(r);

    r = iam_create_insert(rc, IAM_ROLE, "Role", name, path, doc, boundary, &tags, &role);
    free(doc);
    if (tr_ok(r)) r = iam_xml_role(rc, out, "Role", &role, IAMX_BOUNDARY | IAMX_TAGS | IAMX_DESCRIPTION);
    ent_rec_free(&role);
    return r;
}

TR_RESULT iam_get_role(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *name;
    struct ent_rec role = { 0 };
    GUARD(iam_param_name(in, "RoleName", true, 64, &name));
    GUARD(iam_load(rc, rc->op->action, IAM_ROLE, name, &TARGET_BOUNDARY, &role));
    tr_result r = iam_xml_role(rc, out, "Role", &role,
                               IAMX_BOUNDARY | IAMX_TAGS | IAMX_MAX_SESSION | IAMX_LAST_USED |
                               IAMX_DESCRIPTION);
    ent_rec_free(&role);
    return r;
}

TR_RESULT iam_list_roles(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    return iam_list_entities(rc, in, out, IAM_ROLE, rc->op->action, "Roles", write_role_listed);
}

TR_RESULT iam_delete_role(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *name;
    struct ent_rec role = { 0 };
    (void)out;
    GUARD(iam_param_name(in, "RoleName", true, 64, &name));
    GUARD(iam_load(rc, rc->op->action, IAM_ROLE, name, &TARGET_BOUNDARY, &role));
    tr_result r = iam_role_in_profile_conflict(rc, role.arn);
    if (tr_ok(r)) r = iam_policies_conflict(rc, role.arn);
    if (tr_ok(r)) r = iam_ent_remove(rc, &role);
    ent_rec_free(&role);
    return r;
}

/* Set doc members of a role (NULL values are left alone) and store it. */
static TR_RESULT update_role_doc(struct req_ctx *rc, struct ent_rec *role, const char *trust,
                                 const char *ids, const char *desc, const int64_t *max_session)
{
    json_t *d = iam_doc(role);
    ENSURE(d != NULL, TR_E_INTERNAL);
    int bad = 0;
    if (trust) bad |= json_object_set_new(d, "trust", json_string(trust));
    if (trust) bad |= json_object_set_new(d, "trust_ids", json_string(ids));
    if (desc) bad |= json_object_set_new(d, "description", json_string(desc));
    if (max_session) bad |= json_object_set_new(d, "max_session", json_integer(*max_session));
    tr_result r = bad ? tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL) : iam_doc_store(role, d);
    json_decref(d);
    GUARD(r);
    return rc->st[0]->ent_update(rc->st, role);
}

TR_RESULT iam_update_assume_role_policy(struct req_ctx *rc, const struct form *in,
                                        struct xml *out)
{
    const char *name, *trust;
    struct ent_rec role = { 0 };
    (void)out;
    GUARD(iam_param_name(in, "RoleName", true, 64, &name));
    GUARD(iam_param_document(in, "PolicyDocument", &trust));
    GUARD(iam_load(rc, rc->op->action, IAM_ROLE, name, &TARGET_BOUNDARY, &role));
    char *ids = NULL;
    tr_result r = check_trust(rc, trust, &ids);
    if (tr_ok(r)) r = update_role_doc(rc, &role, trust, ids, NULL, NULL);
    free(ids);
    ent_rec_free(&role);
    return r;
}

TR_RESULT iam_update_role(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *name, *desc;
    bool has_max = false;
    int64_t max_session = 0;
    struct ent_rec role = { 0 };
    (void)out;
    GUARD(iam_param_name(in, "RoleName", true, 64, &name));
    GUARD(iam_param_role_description(in, &desc));
    GUARD(form_int(in, "MaxSessionDuration", false, 3600, 43200, &has_max, &max_session));
    GUARD(iam_load(rc, rc->op->action, IAM_ROLE, name, &TARGET_BOUNDARY, &role));
    /* A service-linked role's description may change, not its sessions. */
    tr_result r = has_max ? iam_role_protected(&role) : TR_OK;
    if (tr_ok(r)) r = update_role_doc(rc, &role, NULL, NULL, desc, has_max ? &max_session : NULL);
    ent_rec_free(&role);
    return r;
}

/* UpdateRoleDescription: Description is required (it may be empty) and the
 * reply is the Role as GetRole shows it. */
TR_RESULT iam_update_role_description(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *name, *desc;
    struct ent_rec role = { 0 };
    GUARD(iam_param_name(in, "RoleName", true, 64, &name));
    GUARD(iam_param_role_description(in, &desc));
    if (!desc) return iam_invalid_repr("description", "null", "Member must not be null");
    GUARD(iam_load(rc, rc->op->action, IAM_ROLE, name, &TARGET_BOUNDARY, &role));
    tr_result r = update_role_doc(rc, &role, NULL, NULL, desc, NULL);
    if (tr_ok(r))
        r = iam_xml_role(rc, out, "Role", &role,
                         IAMX_BOUNDARY | IAMX_TAGS | IAMX_MAX_SESSION | IAMX_LAST_USED | IAMX_DESCRIPTION);
    ent_rec_free(&role);
    return r;
}
