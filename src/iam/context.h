/*
 * context.h -- the request context a decision is made with: the global
 * condition keys of docs/AUTHORIZATION.md 1.2, then the service's own
 * (context.c).
 */
#ifndef TR_IAM_CONTEXT_H
#define TR_IAM_CONTEXT_H

#include <stddef.h>

#include "iam/identity.h"
#include "iam/policy.h"
#include "op/op.h"

/* The request context under construction: global keys plus service keys.
 * Its strings are its own copies, except string literals and what
 * iam_ctx_add_entry_ref is given (context.c).
 * A zeroed builder is an empty one (service code that only collects extra
 * keys for iam_authorize starts from memset 0). */
struct ctx_chunk;
#define CTX_MAX 256          /* 50 tags give 100 keys (aws: and service ResourceTag) */
struct ctx_builder {
    struct ctx_entry e[CTX_MAX];
    size_t n;
    size_t nglobal;                  /* e[0..nglobal): iam_ctx_init's keys, every one
                                        "aws:"-prefixed (ctx_slot relies on it to look
                                        for a service key among the later keys only) */
    struct ctx_chunk *chunks;        /* owned copies of keys and values (never move) */
    size_t strings_len;              /* bytes used in all chunks */
    const char *ptrs[CTX_MAX * 4];   /* value arrays, pointing into strings */
    size_t nptrs;
};

/* Start a context with the global keys of docs/AUTHORIZATION.md 1.2 that
 * apply to rc (aws:PrincipalArn, aws:PrincipalAccount, aws:userid,
 * aws:username, aws:PrincipalType, aws:PrincipalTag/<key>,
 * aws:PrincipalIsAWSService, aws:SourceIp and aws:referer (not on
 * service-to-service calls), aws:SecureTransport, aws:CurrentTime,
 * aws:EpochTime, aws:RequestedRegion, aws:ViaAWSService, aws:UserAgent,
 * aws:TokenIssueTime for temporary credentials, aws:MultiFactorAuthPresent
 * for those and service-to-service calls, aws:SourceIdentity for a role
 * session that has one, aws:FederatedProvider for a session of
 * AssumeRoleWithWebIdentity).  iam_authorize adds aws:ResourceAccount.  The
 * list, with each key's presence, is src/iam/authz_table.def's GLOBAL rows.
 * The values that are strings of rc and id (the principal's ARN, account
 * and id, the user name, SourceIp, the region, the User-Agent, referer,
 * SourceIdentity, FederatedProvider) are pointed at, not copied: rc and id
 * must outlive the builder's use (iam_authorize frees it before it
 * returns); the values made here (the times, a service's User-Agent) are
 * copied. */
TR_RESULT iam_ctx_init(struct ctx_builder *cb, const struct req_ctx *rc, const struct identity *id);
/* Make cb an empty builder (as zeroing it would, without touching the
 * arrays).  Do not use on a builder that holds strings: iam_ctx_free. */
void iam_ctx_reset(struct ctx_builder *cb);
TR_RESULT iam_ctx_add(struct ctx_builder *cb, const char *key, const char *value);
TR_RESULT iam_ctx_add_multi(struct ctx_builder *cb, const char *key,
                            const char *const *values, size_t n);
/* The key of a tag, <prefix><tag_key> ("aws:ResourceTag/" + "team"), with
 * the tag's value ("" for NULL). */
TR_RESULT iam_ctx_add_tag(struct ctx_builder *cb, const char *prefix, const char *tag_key,
                          const char *value);
/* A resource's n tags, each as <prefix1><key> then <prefix2><key>: the
 * global aws:ResourceTag/ and the service's own (iam:ResourceTag/,
 * secretsmanager:ResourceTag/). */
TR_RESULT iam_ctx_add_resource_tags(struct ctx_builder *cb, const struct tag_rec *tags,
                                    size_t n, const char *prefix1, const char *prefix2);
/* key with an unknown value (static analysis, policy.h ctx_entry.unknown):
 * replaces a value iam_ctx_init gave it. */
TR_RESULT iam_ctx_add_unknown(struct ctx_builder *cb, const char *key);
/* A global key after iam_ctx_init's, before any service key (iam_authorize:
 * aws:ResourceAccount); not already present. */
TR_RESULT iam_ctx_add_global(struct ctx_builder *cb, const char *key, const char *value);
/* A copy of entry x, with its flags (an authz_req's extra keys). */
TR_RESULT iam_ctx_add_entry(struct ctx_builder *cb, const struct ctx_entry *x);
/* Entry x by reference: its key and value strings are pointed at, not
 * copied, so they must outlive cb (iam_authorize: an authz_req's extra
 * keys, which its caller keeps until the decision is made).  The value
 * array itself is copied. */
TR_RESULT iam_ctx_add_entry_ref(struct ctx_builder *cb, const struct ctx_entry *x);
void iam_ctx_free(struct ctx_builder *cb);

#endif
