/*
 * service_linked_roles.c -- CreateServiceLinkedRole for the AWS services
 * tresor stands in for.
 *
 * A service-linked role is a role whose path is
 * /aws-service-role/<service principal>/ and whose trust policy lets that
 * service, and only it, assume it (IAM User Guide, "Using service-linked
 * roles").  Of the services tresor serves, KMS has two (KMS Developer
 * Guide, "Authorizing AWS KMS to synchronize multi-Region keys" and
 * "Using service-linked roles for AWS KMS" -- custom key stores):
 *
 *   mrk.kms.amazonaws.com  AWSServiceRoleForKeyManagementServiceMultiRegionKeys
 *   cks.kms.amazonaws.com  AWSServiceRoleForKeyManagementServiceCustomKeyStores
 *
 * Secrets Manager, IAM and STS have none.  Any other service name is
 * InvalidInput "Service <name> is not a valid service name." (our
 * wording).  Neither KMS role takes a CustomSuffix (InvalidInput "Custom
 * suffix is not allowed for <service>.", our wording).  The role name
 * taken, in any case (the role exists already), is AWS's InvalidInput
 * "Service role name <name> has been taken in this account, please try a
 * different suffix.".
 *
 * The role is created as CreateRole would make it: a fresh AROA id,
 * MaxSessionDuration 3600, the Description given (none by default), the
 * trust policy {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
 * "Principal": {"Service": "<service>"}, "Action": "sts:AssumeRole"}]}.
 * The AWS managed permissions policy AWS attaches to it is not, as tresor
 * holds no AWS managed policies.  Authorized as
 * iam:CreateServiceLinkedRole on the new role's ARN with
 * iam:AWSServiceName set to the service.
 *
 * The role is protected, as AWS protects it: the operations flagged
 * IAM_OP_CHANGES_ROLE in iam_ops.def (DeleteRole, UpdateAssumeRolePolicy,
 * Put/DeleteRolePolicy, Attach/DetachRolePolicy,
 * Put/DeleteRolePermissionsBoundary), UpdateRole with a
 * MaxSessionDuration, and Add/RemoveRoleFromInstanceProfile
 * (instance_profiles.c), answer UnmodifiableEntity "Cannot perform the
 * operation on the protected role 'NAME' - this role is only modifiable by
 * AWS" (iam_load, iam_role_protected).  Its description and tags may
 * change.  CreateRole refuses a Path under /aws-service-role/ (roles.c).
 *
 * DeleteServiceLinkedRole deletes the role at once (AWS deletes it in the
 * background, after asking the service whether the role is in use; no
 * service here holds one) and answers the DeletionTaskId AWS's model gives,
 * task/aws-service-role/<service>/<role>/<uuid>.  The task is kept as a
 * relation "slr-deletion" from its id to the role's ARN, so
 * GetServiceLinkedRoleDeletionStatus answers SUCCEEDED for it; NOT_STARTED,
 * IN_PROGRESS and FAILED (with Reason) never occur.  Errors (the messages
 * of the last three are ours; AWS's are not documented): an unknown role,
 * NoSuchEntity "The role with name NAME cannot be found."; a role that is
 * not service-linked, InvalidInput "Role NAME is not a service-linked
 * role."; a task id not of that form, InvalidInput "Invalid deletion task
 * id: ID"; one of that form that names no task of the caller's account,
 * NoSuchEntity "Deletion task ID cannot be found.".  Both are authorized
 * on the role's ARN.
 */
#include "iam/iam_ops.h"

#include <stdio.h>
#include <string.h>

#include "core/str.h"
#include "crypto/rand.h"
#include "iam/bindings.h"
#include "iam/iam_util.h"
#include "iam/identity.h"
#include "iam/records.h"

struct slr_service {
    const char *service;        /* the service principal: AWSServiceName */
    const char *role;           /* the role's name */
};

static const struct slr_service SERVICES[] = {
    { "cks.kms.amazonaws.com", "AWSServiceRoleForKeyManagementServiceCustomKeyStores" },
    { "mrk.kms.amazonaws.com", "AWSServiceRoleForKeyManagementServiceMultiRegionKeys" },
};

static const struct slr_service *slr_find(const char *service)
{
    for (size_t i = 0; i < sizeof SERVICES / sizeof SERVICES[0]; i++)
        if (strcmp(SERVICES[i].service, service) == 0) return &SERVICES[i];
    return NULL;
}

TR_RESULT iam_create_service_linked_role(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *service, *desc, *suffix;
    char path[160], arn[IAM_ARN_MAX], trust[320];
    char *ids = NULL, *doc = NULL;
    struct ent_rec role = { 0 };

    GUARD(iam_param_name(in, "AWSServiceName", true, 128, &service));
    GUARD(iam_param_role_description(in, &desc));
    GUARD(iam_param_name(in, "CustomSuffix", false, 64, &suffix));
    const struct slr_service *s = slr_find(service);
    if (!s) BAIL(TR_E_IAM_INVALID_INPUT, "Service %s is not a valid service name.", service);
    if (suffix) BAIL(TR_E_IAM_INVALID_INPUT, "Custom suffix is not allowed for %s.", service);
    GUARD(str_format(path, sizeof path, "the role's path", IAM_SLR_PATH "%s/", service));
    GUARD(iam_arn(rc->who.account_id, IAM_ROLE, path, s->role, arn));
    struct iam_authz x = { .service_name = service };
    GUARD(iam_authz(rc, rc->op->action, arn, NULL, &x));
    tr_result r = iam_name_free(rc, IAM_ROLE, s->role, NULL);
    if (tr_failed(r)) {
        if (tr_code(r) != TR_E_IAM_ENTITY_EXISTS) return r;
        BAIL(TR_E_IAM_INVALID_INPUT,
             "Service role name %s has been taken in this account, please try a different suffix.", s->role);
    }
    GUARD(str_format(trust, sizeof trust, "the trust policy",
                     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
                     "\"Principal\":{\"Service\":\"%s\"},\"Action\":\"sts:AssumeRole\"}]}", service));
    GUARD(iam_bind_policy(rc->st, trust, POLICY_TRUST, &ids));
    r = iam_rec_role_doc(trust, ids, desc, 3600, NULL, &doc);
    free(ids);
    GUARD(r);
    r = iam_ent_insert(rc, IAM_ROLE, s->role, path, doc, &role);
    free(doc);
    if (tr_ok(r)) r = iam_xml_role(rc, out, "Role", &role, IAMX_DESCRIPTION);
    ent_rec_free(&role);
    return r;
}

/* ---- deletion ---------------------------------------------------------------- */

#define SLR_DELETION "slr-deletion"     /* relation: task id -> role ARN */
#define TASK_PREFIX "task" IAM_SLR_PATH

TR_RESULT iam_delete_service_linked_role(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *name;
    char task[IAM_ARN_MAX + 48], uuid[37];
    struct ent_rec role = { 0 };
    GUARD(iam_param_name(in, "RoleName", true, 64, &name));
    GUARD(iam_load(rc, rc->op->action, IAM_ROLE, name, NULL, &role));
    tr_result r = TR_OK;
    if (!iam_role_service_linked(&role))
        r = tr_fail_at(__FILE__, __LINE__, TR_E_IAM_INVALID_INPUT, "Role %s is not a service-linked role.",
                       role.name);
    /* the role's path is /aws-service-role/<service>/ */
    if (tr_ok(r)) r = rand_uuid(uuid);
    if (tr_ok(r))
        r = str_format(task, sizeof task, "the deletion task id", "task%s%s/%s", role.path, role.name, uuid);
    if (tr_ok(r)) r = iam_role_in_profile_conflict(rc, role.arn);
    if (tr_ok(r)) r = iam_ent_remove(rc, &role);
    if (tr_ok(r)) {
        struct rel_rec rel = { .from = task, .to = role.arn, .doc = "{\"status\":\"SUCCEEDED\"}",
                               .created = rc->now };
        STR_SET(rel.kind, SLR_DELETION);
        r = rc->st[0]->rel_put(rc->st, &rel);
    }
    if (tr_ok(r)) xml_text(out, "DeletionTaskId", task);
    ent_rec_free(&role);
    return r;
}

/* The role ARN a task id task/aws-service-role/<service>/<role>/<uuid>
 * names in the caller's account; InvalidInput when it is not of that form. */
static TR_RESULT task_role_arn(struct req_ctx *rc, const char *task, char arn[IAM_ARN_MAX])
{
    const char *rest = strncmp(task, TASK_PREFIX, strlen(TASK_PREFIX)) == 0 ? task + strlen(TASK_PREFIX) : NULL;
    const char *svc_end = rest ? strchr(rest, '/') : NULL;
    const char *name_end = svc_end ? strchr(svc_end + 1, '/') : NULL;
    if (!svc_end || svc_end == rest || !name_end || name_end == svc_end + 1 || !name_end[1] ||
        strchr(name_end + 1, '/'))
        BAIL(TR_E_IAM_INVALID_INPUT, "Invalid deletion task id: %.1000s", task);
    char path[IAM_ARN_MAX], name[IAM_ARN_MAX];
    GUARD(str_format(path, sizeof path, "the task's role path", IAM_SLR_PATH "%.*s/", (int)(svc_end - rest),
                     rest));
    GUARD(str_format(name, sizeof name, "the task's role name", "%.*s", (int)(name_end - svc_end - 1),
                     svc_end + 1));
    return iam_arn(rc->who.account_id, IAM_ROLE, path, name, arn);
}

TR_RESULT iam_get_service_linked_role_deletion_status(struct req_ctx *rc, const struct form *in,
                                                      struct xml *out)
{
    const char *task;
    char arn[IAM_ARN_MAX];
    struct rel_rec rel = { 0 };
    GUARD(form_str(in, "DeletionTaskId", true, 1, 1000, &task));
    GUARD(task_role_arn(rc, task, arn));
    GUARD(iam_authz(rc, rc->op->action, arn, NULL, NULL));
    tr_result r = rc->st[0]->rel_get(rc->st, SLR_DELETION, task, arn, &rel);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND)
        BAIL(TR_E_IAM_NO_SUCH_ENTITY, "Deletion task %.1000s cannot be found.", task);
    GUARD(r);
    json_t *d = iam_stored_doc(rel.doc);
    const char *status = json_string_value(json_object_get(d, "status"));
    xml_text(out, "Status", status ? status : "SUCCEEDED");
    json_decref(d);
    rel_rec_free(&rel);
    return TR_OK;
}
