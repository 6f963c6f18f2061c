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
 * Not done: the role is not protected -- DeleteRole, UpdateAssumeRolePolicy
 * and the policy calls act on it as on any role, where AWS answers
 * UnmodifiableEntity -- and DeleteServiceLinkedRole and
 * GetServiceLinkedRoleDeletionStatus are not served.
 */
#include "iam/iam_ops.h"

#include <stdio.h>
#include <string.h>

#include "core/str.h"
#include "iam/bindings.h"
#include "iam/iam_util.h"
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
    GUARD(str_format(path, sizeof path, "the role's path", "/aws-service-role/%s/", service));
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
