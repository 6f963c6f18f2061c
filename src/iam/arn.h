/*
 * arn.h -- ARN splitting and the wildcard matchers of the policy engine.
 *
 * Spec: docs/AUTHORIZATION.md 3.5 (Arn* operators compare per colon
 * segment), 3.2 (actions case-insensitive, resources case-sensitive, `*`
 * is any sequence including `/` and `:`, `?` exactly one character).
 * The glob is the two-pointer algorithm with a single backtrack point:
 * O(len(pattern) * len(subject)) in the worst case, never exponential,
 * and it allocates nothing.
 */
#ifndef TR_IAM_ARN_H
#define TR_IAM_ARN_H

#include <stdbool.h>
#include <stddef.h>

/* Anchored glob of pattern[0..plen) over s[0..slen): `*` any run, `?` one
 * character, everything else literal; ci folds ASCII case. */
bool glob_match(const char *pat, size_t plen, const char *s, size_t slen, bool ci);

/* This thread's count of glob restarts (a literal failed after a `*`, and
 * the match resumes one subject character further after that star), in
 * glob_match and the variables-aware matcher of conditions.c.  The mark
 * a restart resumes from only moves forward, so a match restarts at most
 * len(subject) times, and each restart scans at most len(pattern): the
 * O(len(pattern) * len(subject)) bound, which policy_test checks with it.
 * Counted in the restart branch only, off the matching fast path. */
extern _Thread_local size_t glob_restarts;

/* arn:partition:service:region:account:resource, split at the first five
 * colons (the resource part keeps any further colons). */
#define ARN_PARTS 6
struct arn_parts {
    const char *part[ARN_PARTS];
    size_t len[ARN_PARTS];
};

/* Split s; false when it has fewer than five colons. */
bool arn_split(const char *s, size_t n, struct arn_parts *out);

/* A partition AWS knows (aws, aws-cn, aws-us-gov, aws-iso*, aws-eusc). */
bool arn_partition_valid(const char *s, size_t n);

/* Exactly 12 ASCII digits. */
bool arn_account_id(const char *s, size_t n);

#endif
