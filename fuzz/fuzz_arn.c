/*
 * fuzz_arn.c -- libFuzzer target for ARN splitting and the policy
 * wildcard matcher (src/iam/arn.c).
 *
 * The input is "pattern LF subject" (no LF: the whole input is both).
 * Checked for every input, on both strings where it applies:
 *   - glob_match agrees with a plain dynamic-programming matcher (for
 *     inputs up to 256 bytes each), case-sensitive and case-insensitive;
 *   - a pattern without '*' or '?' matches exactly its own text (ASCII
 *     case folded when ci); "*" matches everything; every string matches
 *     itself; a case-sensitive match is also a case-insensitive one;
 *   - policy_action_match / policy_arn_match equal glob_match on the
 *     text up to the first NUL;
 *   - arn_split's six parts are the string cut at its first five colons
 *     (the first five hold no colon and the lengths add up), and
 *     arn_partition_valid / arn_account_id are consistent with their lists.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iam/arn.h"
#include "iam/policy.h"
#include "kms/kms.h"

#define REF_MAX 256

static unsigned char fold(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* Reference glob: d[i][j] = pattern[i..] matches subject[j..]. */
static bool ref_glob(const char *p, size_t pl, const char *s, size_t sl, bool ci)
{
    static bool d[REF_MAX + 1][REF_MAX + 1];
    for (size_t i = pl + 1; i-- > 0;) {
        for (size_t j = sl + 1; j-- > 0;) {
            bool v;
            if (i == pl) v = j == sl;
            else if (p[i] == '*') v = d[i + 1][j] || (j < sl && d[i][j + 1]);
            else if (j == sl) v = false;
            else if (p[i] == '?') v = d[i + 1][j + 1];
            else v = (p[i] == s[j] || (ci && fold((unsigned char)p[i]) == fold((unsigned char)s[j])))
                     && d[i + 1][j + 1];
            d[i][j] = v;
        }
    }
    return d[0][0];
}

static bool folded_eq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fold((unsigned char)a[i]) != fold((unsigned char)b[i])) return false;
    return true;
}

static void check_glob(const char *p, size_t pl, const char *s, size_t sl)
{
    for (int ci = 0; ci <= 1; ci++) {
        bool m = glob_match(p, pl, s, sl, ci);
        if (pl <= REF_MAX && sl <= REF_MAX && m != ref_glob(p, pl, s, sl, ci)) __builtin_trap();
        if (!memchr(p, '*', pl) && !memchr(p, '?', pl)) {
            bool eq = pl == sl && (ci ? folded_eq(p, s, pl) : memcmp(p, s, pl) == 0);
            if (m != eq) __builtin_trap();
        }
        if (!glob_match("*", 1, s, sl, ci) || !glob_match(s, sl, s, sl, ci)) __builtin_trap();
    }
    if (glob_match(p, pl, s, sl, false) && !glob_match(p, pl, s, sl, true)) __builtin_trap();

    /* The exported wrappers take NUL-terminated strings. */
    char *pz = strndup(p, pl), *sz = strndup(s, sl);
    if (!pz || !sz) abort();
    if (policy_action_match(pz, sz) != glob_match(pz, strlen(pz), sz, strlen(sz), true)) __builtin_trap();
    if (policy_arn_match(pz, sz) != glob_match(pz, strlen(pz), sz, strlen(sz), false)) __builtin_trap();
    (void)kms_is_key_id(sz);
    free(pz);
    free(sz);
}

static void check_arn(const char *s, size_t n)
{
    struct arn_parts a;
    size_t colons = 0;
    for (size_t i = 0; i < n; i++) colons += s[i] == ':';
    if (!arn_split(s, n, &a)) {
        if (colons >= ARN_PARTS - 1) __builtin_trap();
        return;
    }
    if (colons < ARN_PARTS - 1) __builtin_trap();
    size_t total = ARN_PARTS - 1;
    const char *at = s;
    for (int k = 0; k < ARN_PARTS; k++) {
        if (a.part[k] != at) __builtin_trap();
        if (k < ARN_PARTS - 1 && (memchr(a.part[k], ':', a.len[k]) || a.part[k][a.len[k]] != ':'))
            __builtin_trap();
        total += a.len[k];
        at = a.part[k] + a.len[k] + 1;
    }
    if (total != n) __builtin_trap();
    bool acct = arn_account_id(a.part[4], a.len[4]);
    if (acct && a.len[4] != 12) __builtin_trap();
    if (arn_partition_valid(a.part[1], a.len[1]) && (a.len[1] < 3 || memcmp(a.part[1], "aws", 3) != 0))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nl = memchr(text, '\n', size);
    const char *p = text, *s = text;
    size_t pl = size, sl = size;
    if (nl) {
        pl = (size_t)(nl - text);
        s = nl + 1;
        sl = size - pl - 1;
    }
    check_glob(p, pl, s, sl);
    check_arn(p, pl);
    if (nl) check_arn(s, sl);
    return 0;
}
