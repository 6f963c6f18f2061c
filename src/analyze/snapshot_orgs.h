/*
 * snapshot_orgs.h -- the Organizations member of snapshots (docs/SNAPSHOTS.md,
 * "Organizations"): checked, and made the table of SCPs and RCPs over
 * each account that iam_authorize applies (iam/orgs.h).
 */
#ifndef TR_SNAPSHOT_ORGS_H
#define TR_SNAPSHOT_ORGS_H

#include "analyze/snapshot.h"
#include "iam/orgs.h"

struct snapshot_orgs;

/* The table for the n snapshots s[]: every account they hold, in its
 * organization (Organizations.DescribeOrganization) or none, with the
 * policies of each level of Organizations.Targets compiled (SCPs as
 * identity policies, RCPs as resource policies, through the stored
 * policies' fail-closed rule).  *out NULL when no snapshot has an
 * Organizations member (nothing then changes).  Fails with
 * TR_E_VALIDATION and "NAME: Organizations...: what is wrong" for a
 * member not of AWS's shapes, a policy it names without its
 * DescribePolicy, or a policy type listed at some levels and not at
 * others. */
TR_RESULT snapshot_orgs_build(const struct snapshot *s, size_t n, struct snapshot_orgs **out);
/* The table iam_authorize reads (NULL for o NULL). */
const struct iam_orgs *snapshot_orgs_view(const struct snapshot_orgs *o);
void snapshot_orgs_free(struct snapshot_orgs *o);

#endif
