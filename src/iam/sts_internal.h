/*
 * sts_internal.h -- what AssumeRole (sts.c) and AssumeRoleWithWebIdentity
 * (sts_web.c) share: the request's session parameters, their checks, the
 * request context they set, and the issue of the session's credentials.
 */
#ifndef TR_IAM_STS_INTERNAL_H
#define TR_IAM_STS_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "iam/context.h"
#include "op/op.h"
#include "op/query_proto.h"
#include "store/store.h"

#define STS_MAX_TAGS 50
#define STS_MAX_POLICY_ARNS 10

struct sts_assume {
    const char *role_arn;
    char role_account[ACCOUNT_ID_LEN + 1];
    const char *session_name;
    bool has_duration;
    int64_t duration;
    const char *policy;
    const char *policy_arns[STS_MAX_POLICY_ARNS];
    size_t npolicy_arns;
    const char *external_id;
    const char *tag_keys[STS_MAX_TAGS];
    const char *tag_values[STS_MAX_TAGS];
    size_t ntags;
    const char *transitive[STS_MAX_TAGS];
    size_t ntransitive;
    const char *source_identity;   /* passed, or carried from the calling session */
    bool carries_tags;        /* the calling session has transitive tags (role chaining) */
    int packed_percent;       /* 0 when no session policy or tag was passed */
};

/* RoleArn, RoleSessionName, DurationSeconds, Policy, PolicyArns,
 * ExternalId, Tags, TransitiveTagKeys, SourceIdentity, SerialNumber and
 * TokenCode with AWS's validation (AssumeRole's shape). */
TR_RESULT sts_parse_assume(const struct form *in, struct sts_assume *a);
/* The members of those that AssumeRoleWithWebIdentity's shape has --
 * RoleArn, RoleSessionName, DurationSeconds, Policy, PolicyArns -- with
 * the same validation; AssumeRole's others are not read, so they are
 * ignored as any parameter an operation does not take is on the query
 * protocol (no session tag, external id or MFA from the request). */
TR_RESULT sts_parse_web_assume(const struct form *in, struct sts_assume *a);
/* s is a source identity of AWS's model: 2..64 characters of
 * [\w+=,.@-] (so never the reserved "aws:" prefix either). */
bool sts_source_identity_ok(const char *s);
/* PackedPolicyTooLarge, else a->packed_percent set. */
TR_RESULT sts_packed_size(struct sts_assume *a);
/* sts:RoleSessionName, sts:ExternalId, sts:SourceIdentity,
 * sts:TransitiveTagKeys, aws:RequestTag/k, aws:TagKeys of a. */
TR_RESULT sts_assume_context(const struct sts_assume *a, struct ctx_builder *cb);
/* The role's aws:ResourceTag/k and iam:ResourceTag/k. */
TR_RESULT sts_role_tags_context(struct req_ctx *rc, const char *role_arn, struct ctx_builder *cb);
/* ValidationError "The requested DurationSeconds exceeds the
 * MaxSessionDuration set for this role." unless duration fits the role's
 * (its entity doc's max_session, 3600 by default). */
TR_RESULT sts_max_session_check(json_t *role_doc, int64_t duration);
/* New credentials of a session of `role` for a, stored (IAM_STORE.md; the
 * members of `extra`, or NULL, added to the session's doc), and the reply's
 * Credentials, AssumedRoleUser, PackedPolicySize and SourceIdentity. */
TR_RESULT sts_issue_session(struct req_ctx *rc, const struct sts_assume *a, const struct ent_rec *role,
                            bool chained, json_t *inherited, json_t *extra, struct xml *out);

/* sts_web.c */
TR_RESULT op_assume_role_with_web_identity(struct req_ctx *rc, const struct form *in, struct xml *out);

#endif
