/*
 * arn.c -- the wildcard matchers and ARN splitting used by the policy
 * engine, and the two matching primitives policy.h exports.
 *
 * Why a hand-written glob: a regex built from a policy pattern breaks on
 * `+ ( ) [ ]` and can backtrack exponentially on `a*a*a*...b`
 * (docs/AUTHORIZATION.md 3.2).  The two-pointer glob
 * remembers only the last `*` seen: when a literal fails it retries one
 * character further after that star.  This is correct for `*`/`?` globs
 * (a later star can always absorb what an earlier one would have) and
 * bounded by len(pattern) * len(subject) steps.
 *
 * Case: actions compare case-insensitively, ARNs case-sensitively
 * (docs/AUTHORIZATION.md 3.2); only ASCII is folded, as AWS folds
 * service prefixes and action names, which are ASCII.
 */
#include "iam/arn.h"

#include <string.h>

#include "iam/policy.h"

static inline unsigned char fold(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static inline bool char_eq(char a, char b, bool ci)
{
    return a == b || (ci && fold((unsigned char)a) == fold((unsigned char)b));
}

_Thread_local size_t glob_restarts;

bool glob_match(const char *pat, size_t plen, const char *s, size_t slen, bool ci)
{
    size_t p = 0, i = 0;
    size_t star = (size_t)-1, mark = 0;
    while (i < slen) {
        if (p < plen && pat[p] == '*') {
            star = p++;
            mark = i;
            continue;
        }
        if (p < plen && (pat[p] == '?' || char_eq(pat[p], s[i], ci))) {
            p++;
            i++;
            continue;
        }
        if (star == (size_t)-1) return false;
        glob_restarts++;
        p = star + 1;
        i = ++mark;
    }
    while (p < plen && pat[p] == '*') p++;
    return p == plen;
}

bool arn_split(const char *s, size_t n, struct arn_parts *out)
{
    size_t start = 0;
    int k = 0;
    for (size_t i = 0; i < n && k < ARN_PARTS - 1; i++) {
        if (s[i] != ':') continue;
        out->part[k] = s + start;
        out->len[k] = i - start;
        k++;
        start = i + 1;
    }
    if (k < ARN_PARTS - 1) return false;
    out->part[ARN_PARTS - 1] = s + start;
    out->len[ARN_PARTS - 1] = n - start;
    return true;
}

bool arn_partition_valid(const char *s, size_t n)
{
    static const char *const known[] = {
        "aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e",
        "aws-iso-f", "aws-eusc",
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i]) == n && memcmp(known[i], s, n) == 0) return true;
    return false;
}

bool arn_account_id(const char *s, size_t n)
{
    if (n != 12) return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

bool policy_action_match(const char *pattern, const char *action)
{
    if (!pattern || !action) return false;
    return glob_match(pattern, strlen(pattern), action, strlen(action), true);
}

bool policy_arn_match(const char *pattern, const char *arn)
{
    if (!pattern || !arn) return false;
    return glob_match(pattern, strlen(pattern), arn, strlen(arn), false);
}
