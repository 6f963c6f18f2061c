/*
 * orgs.c -- which AWS Organizations limits apply to one request
 * (orgs.h; docs/AUTHORIZATION.md 2.10, after the IAM User Guide's
 * "Policy evaluation logic" and the Organizations guide's SCP and RCP
 * pages):
 *  - SCPs limit the principals of member accounts, their root users
 *    included; the management account and service-linked roles (role
 *    path /aws-service-role/) are exempt;
 *  - RCPs limit the resources of member accounts, whoever calls; the
 *    management account's resources are exempt, and so are AWS managed
 *    KMS keys and services RCPs do not cover.
 * The evaluator (policy_eval.c) then requires an Allow at every level and
 * lets a Deny at any level decide.
 */
#include "iam/orgs.h"

#include <string.h>
#include <strings.h>

const struct iam_org_account *iam_orgs_find(const struct iam_orgs *o, const char *account)
{
    for (size_t i = 0; o && account && i < o->n; i++)
        if (strcmp(o->acc[i].account, account) == 0) return &o->acc[i];
    return NULL;
}

bool iam_orgs_mention_key(const struct iam_orgs *o, const char *prefix)
{
    for (size_t i = 0; o && i < o->n; i++) {
        const struct org_limits *lim[2] = { &o->acc[i].scp, &o->acc[i].rcp };
        for (size_t k = 0; k < 2; k++)
            for (size_t l = 0; l < lim[k]->n; l++)
                for (size_t j = 0; j < lim[k]->levels[l].n; j++)
                    if (policy_mentions_key(lim[k]->levels[l].pols[j].p, prefix)) return true;
    }
    return false;
}

/* A service-linked role: its ARN's path is /aws-service-role/. */
static bool service_linked(const struct principal *who)
{
    return who->role_arn[0] && strstr(who->role_arn, ":role/aws-service-role/") != NULL;
}

/* Whether RCPs can cover the action's service (the services AWS lists
 * for RCPs that tresor's actions can name). */
static bool rcp_service(const char *action)
{
    static const char *const SVC[] = { "kms:", "secretsmanager:", "sts:", "s3:", "sqs:" };
    for (size_t i = 0; i < sizeof SVC / sizeof SVC[0]; i++)
        if (strncasecmp(action, SVC[i], strlen(SVC[i])) == 0) return true;
    return false;
}

/* An organization key: a global key with the account's organization
 * (pass 0: global keys come before the others), or unknown when the
 * account's organization is not known (pass 1). */
static TR_RESULT org_key(struct ctx_builder *cb, int pass, const char *key, const struct iam_org_account *a)
{
    bool known = a && a->known;
    if (pass == 1 && !known) return iam_ctx_add_unknown(cb, key);
    if (pass == 0 && known && a->org_id) return iam_ctx_add_global(cb, key, a->org_id);
    return TR_OK;
}

/* The multi-valued path key (pass 1): the account's path, unknown when
 * not known, absent for an account in no organization. */
static TR_RESULT org_paths_key(struct ctx_builder *cb, const char *key, const struct iam_org_account *a)
{
    if (!a || !a->known || (a->org_id && !a->org_path)) return iam_ctx_add_unknown(cb, key);
    if (a->org_id) return iam_ctx_add_multi(cb, key, &a->org_path, 1);
    return TR_OK;
}

TR_RESULT iam_orgs_apply(const struct iam_orgs *o, const struct principal *who, const char *action,
                         const char *resource_account, bool no_rcp, struct ctx_builder *cb,
                         const struct org_limits **scp, const struct org_limits **rcp)
{
    *scp = *rcp = NULL;
    if (!o) return TR_OK;
    const struct iam_org_account *ca = iam_orgs_find(o, who->account_id);
    const struct iam_org_account *ra = iam_orgs_find(o, resource_account);
    for (int pass = 0; pass < 2; pass++) {
        GUARD(org_key(cb, pass, "aws:PrincipalOrgID", ca));
        if (resource_account && *resource_account) GUARD(org_key(cb, pass, "aws:ResourceOrgID", ra));
    }
    GUARD(org_paths_key(cb, "aws:PrincipalOrgPaths", ca));
    if (resource_account && *resource_account) GUARD(org_paths_key(cb, "aws:ResourceOrgPaths", ra));
    if (ca && ca->org_id && !ca->management && ca->scp.n && !service_linked(who)) *scp = &ca->scp;
    if (ra && ra->org_id && !ra->management && ra->rcp.n && !no_rcp && rcp_service(action)) *rcp = &ra->rcp;
    return TR_OK;
}
