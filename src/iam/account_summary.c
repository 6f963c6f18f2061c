/*
 * account_summary.c -- GetAccountSummary: the counts of the caller's
 * account and IAM's quotas.
 *
 * The SummaryMap carries the keys of the botocore model's summaryKeyType
 * and the ones AWS's reply adds (Roles, InstanceProfiles, Providers and
 * their quotas, RolePolicySizeQuota, AssumeRolePolicySizeQuota).  Counts
 * come from the store: Users, Groups, Roles, Policies (customer managed),
 * InstanceProfiles, PolicyVersionsInUse (managed policies attached to the
 * account's users, groups and roles, one per attachment), and
 * AccountAccessKeysPresent (1 when the root user has an access key, as
 * tresor's always has).  What tresor does not serve counts 0: MFA devices,
 * server and signing certificates, identity providers.  The quotas are
 * AWS's defaults (IAM "IAM and AWS STS quotas"); tresor enforces some of
 * them (trust policy size, tags), not all.  Decided as iam:GetAccountSummary
 * on "*".
 */
#include "iam/iam_ops.h"

#include <stdio.h>
#include <string.h>

#include "core/str.h"
#include "iam/iam_util.h"

#define PAGE 500

/* How many entities of `kind` the account has; with `attached`, also adds
 * the managed policies attached to each. */
static TR_RESULT count_kind(struct req_ctx *rc, const char *kind, int64_t *count, int64_t *attached)
{
    char after[256] = "";
    *count = 0;
    for (;;) {
        struct ent_rec *v = NULL;
        size_t n = 0;
        GUARD(rc->st[0]->ent_list(rc->st, kind, rc->who.account_id, NULL, after, PAGE, &v, &n));
        tr_result r = TR_OK;
        for (size_t i = 0; i < n && attached && tr_ok(r); i++) {
            struct rel_rec *a = NULL;
            size_t na = 0;
            r = rc->st[0]->rel_list_from(rc->st, "attached", v[i].arn, NULL, IAM_ALL, &a, &na);
            rel_list_free(a, na);
            *attached += (int64_t)na;
        }
        *count += (int64_t)n;
        bool more = n == PAGE && tr_ok(r);
        if (more) r = str_copy(after, sizeof after, v[n - 1].name, "the list's position");
        ent_list_free(v, n);
        if (!more || tr_failed(r)) return r;
    }
}

static void entry(struct xml *x, const char *key, int64_t value)
{
    xml_open(x, "entry");
    xml_text(x, "key", key);
    xml_int(x, "value", value);
    xml_close(x, "entry");
}

TR_RESULT iam_get_account_summary(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    int64_t users, groups, roles, policies, profiles, in_use = 0;
    char root[IAM_ARN_MAX];
    struct access_key_rec *keys = NULL;
    size_t nkeys = 0;
    (void)in;
    GUARD(iam_authz(rc, rc->op->action, "*", NULL, NULL));
    GUARD(count_kind(rc, IAM_USER, &users, &in_use));
    GUARD(count_kind(rc, IAM_GROUP, &groups, &in_use));
    GUARD(count_kind(rc, IAM_ROLE, &roles, &in_use));
    GUARD(count_kind(rc, IAM_POLICY, &policies, NULL));
    GUARD(count_kind(rc, IAM_INSTANCE_PROFILE, &profiles, NULL));
    GUARD(str_format(root, sizeof root, "the root ARN", "arn:aws:iam::%s:root", rc->who.account_id));
    GUARD(rc->st[0]->access_key_list(rc->st, root, &keys, &nkeys));
    access_key_list_free(keys, nkeys);

    const struct { const char *key; int64_t value; } map[] = {
        { "Users", users }, { "UsersQuota", 5000 },
        { "Groups", groups }, { "GroupsQuota", 300 },
        { "Roles", roles }, { "RolesQuota", 1000 },
        { "Policies", policies }, { "PoliciesQuota", 1500 },
        { "InstanceProfiles", profiles }, { "InstanceProfilesQuota", 1000 },
        { "ServerCertificates", 0 }, { "ServerCertificatesQuota", 20 },
        { "Providers", 0 },
        { "MFADevices", 0 }, { "MFADevicesInUse", 0 }, { "AccountMFAEnabled", 0 },
        { "AccountAccessKeysPresent", nkeys ? 1 : 0 },
        { "AccountSigningCertificatesPresent", 0 },
        { "AccessKeysPerUserQuota", 2 }, { "SigningCertificatesPerUserQuota", 2 },
        { "GroupsPerUserQuota", 10 },
        { "AttachedPoliciesPerUserQuota", 10 }, { "AttachedPoliciesPerGroupQuota", 10 },
        { "AttachedPoliciesPerRoleQuota", 10 },
        { "UserPolicySizeQuota", 2048 }, { "GroupPolicySizeQuota", 5120 },
        { "RolePolicySizeQuota", 10240 }, { "AssumeRolePolicySizeQuota", 2048 },
        { "PolicySizeQuota", 6144 },
        { "PolicyVersionsInUse", in_use }, { "PolicyVersionsInUseQuota", 10000 },
        { "VersionsPerPolicyQuota", 5 },
        { "GlobalEndpointTokenVersion", 1 },
    };
    xml_open(out, "SummaryMap");
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) entry(out, map[i].key, map[i].value);
    xml_close(out, "SummaryMap");
    return TR_OK;
}
