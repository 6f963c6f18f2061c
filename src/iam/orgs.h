/*
 * orgs.h -- AWS Organizations over a set of accounts: for each account
 * its organization (or none), whether it is the organization's
 * management account, and the service control policies (SCPs) and
 * resource control policies (RCPs) over it, level by level from the root
 * to the account (docs/AUTHORIZATION.md 2.10).
 *
 * tresor does not serve Organizations: its own store never has one, and
 * server_env.orgs stays NULL there, so nothing changes for the server.
 * The snapshots of real AWS accounts can hold their organization's
 * policies (docs/SNAPSHOTS.md); the snapshot loader fills a table, and
 * iam_authorize asks it, for each decision, which limits apply and which
 * organization condition keys the request has.
 */
#ifndef TR_IAM_ORGS_H
#define TR_IAM_ORGS_H

#include <stdbool.h>
#include <stddef.h>

#include "iam/context.h"
#include "iam/policy.h"
#include "op/op.h"

struct iam_org_account {
    char account[ACCOUNT_ID_LEN + 1];
    bool known;                  /* its organization is known (else: not collected) */
    const char *org_id;          /* "o-..." or NULL: in no organization (when known) */
    const char *org_path;        /* "o-.../r-.../ou-.../" (aws:PrincipalOrgPaths), or NULL:
                                    not known (its levels were not read) */
    bool management;             /* the organization's management account: no SCP or RCP */
    struct org_limits scp, rcp;  /* the levels, root first (n 0: none known) */
};

/* The accounts the snapshots hold (sorted or not: a few, scanned). */
struct iam_orgs {
    struct iam_org_account *acc;
    size_t n;
};

/* The entry of `account`, or NULL (an account no snapshot holds). */
const struct iam_org_account *iam_orgs_find(const struct iam_orgs *o, const char *account);

/* Does any SCP or RCP of any account in o read a condition key that
 * starts with prefix (policy_mentions_key)?  o NULL: false. */
bool iam_orgs_mention_key(const struct iam_orgs *o, const char *prefix);

/* For one decision of iam_authorize: the SCPs over the caller's account
 * (none for the management account, for a service-linked role, or when
 * the account is unknown) and the RCPs over the resource's account (none
 * for the management account, an unknown account, a service RCPs do not
 * cover -- only kms, secretsmanager, sts, s3 and sqs are, of those AWS
 * lists, the ones tresor's actions can name -- or no_rcp); and into cb
 * the organization keys: aws:PrincipalOrgID and aws:ResourceOrgID (and
 * aws:PrincipalOrgPaths, aws:ResourceOrgPaths: the account's path, or
 * unknown when its levels were not read) when the account is in an
 * organization, absent when it is known to be in none, unknown (static
 * analysis) when the account is not held or its snapshot does not say.
 * o NULL: nothing (tresor's own store). */
TR_RESULT iam_orgs_apply(const struct iam_orgs *o, const struct principal *who, const char *action,
                         const char *resource_account, bool no_rcp, struct ctx_builder *cb,
                         const struct org_limits **scp, const struct org_limits **rcp);

#endif
