/*
 * policy_check.c -- validate a key policy document at CreateKey and
 * PutKeyPolicy, and the policy lockout safety check.
 *
 * This is deliberately small and self-contained: the full policy parser
 * and the evaluator come later in src/iam/.  What is checked:
 *   - at most 32768 bytes (the KMS quota; LimitExceededException, as the
 *     API reference says for an over-long key policy);
 *   - a JSON object (no duplicate members), else
 *     MalformedPolicyDocumentException;
 *   - top level: Version ("2008-10-17" | "2012-10-17", optional), Id,
 *     Statement (an object or a non-empty array of objects); nothing else;
 *   - each statement: Sid, Effect (Allow | Deny), exactly one of
 *     Principal/NotPrincipal, Action/NotAction, Resource/NotResource, and
 *     an optional Condition (an object of objects); nothing else;
 *   - principals: "*", or an object whose members are AWS, Service,
 *     Federated or CanonicalUser with a string or a non-empty array of
 *     strings; an AWS principal must be "*", an account id,
 *     arn:aws:iam::<acct>:root, or the ARN of an IAM user, role or session
 *     that exists -- none can yet, as tresor has no IAM entities; else
 *     "Policy contains a statement with one or more invalid principals."
 *     (SEMANTICS 1.7).
 * Lockout safety check (unless BypassPolicyLockoutSafetyCheck): some Allow
 * statement without a Condition must name the caller (its ARN, the role of
 * an assumed-role session, arn:aws:iam::<acct>:root, the bare account id,
 * or "*") in Principal, and have an Action matching kms:PutKeyPolicy
 * (case-insensitive glob).  Else: "The new key policy will not allow you to
 * update the key policy in the future."
 * The text is stored as given; only the default policy is generated here,
 * pretty-printed the way KMS prints the policies it writes (botocore's
 * GetKeyPolicy example).
 */
#include "kms/kms.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MALFORMED(...) BAIL(TR_E_KMS_MALFORMED_POLICY, __VA_ARGS__)

static const char *const LOCKOUT_MSG =
    "The new key policy will not allow you to update the key policy in the future.";
static const char *const BAD_PRINCIPAL_MSG =
    "Policy contains a statement with one or more invalid principals.";

bool kms_glob(const char *p, const char *s, bool ci)
{
    /* Iterative glob with one backtrack point: linear in practice. */
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*p == '*') { star = p++; resume = s; continue; }
        if (*p && (*p == '?' || *p == *s ||
                   (ci && tolower((unsigned char)*p) == tolower((unsigned char)*s)))) {
            p++; s++;
            continue;
        }
        if (!star) return false;
        p = star + 1;
        s = ++resume;
    }
    while (*p == '*') p++;
    return *p == '\0';
}

bool kms_glob_ci(const char *p, const char *s)
{
    return kms_glob(p, s, true);
}

static bool member_in(const char *k, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(*set, k) == 0) return true;
    return false;
}

/* A string or a non-empty array of strings. */
static bool str_or_list(json_t *v)
{
    if (json_is_string(v)) return true;
    if (!json_is_array(v) || json_array_size(v) == 0) return false;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
        if (!json_is_string(e)) return false;
    return true;
}

static bool all_digits(const char *s, size_t n)
{
    if (strlen(s) != n) return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return false;
    return true;
}

/* Does the IAM user, role or session `arn` exist?  tresor has no IAM
 * users or roles yet (only account root credentials), so none does; the
 * IAM entity store of src/iam/ answers here once it exists. */
static bool iam_entity_exists(store_t st, const char *arn)
{
    (void)st;
    (void)arn;
    return false;
}

/* An AWS principal value: "*", a 12-digit account, arn:aws:iam::<acct>:root,
 * or the ARN of an IAM entity that exists. */
static bool aws_principal_ok(store_t st, const char *s)
{
    if (strcmp(s, "*") == 0 || all_digits(s, ACCOUNT_ID_LEN)) return true;
    const char *rest;
    if (strncmp(s, "arn:aws:iam::", 13) == 0) rest = s + 13;
    else if (strncmp(s, "arn:aws:sts::", 13) == 0) rest = s + 13;
    else return false;
    if (strlen(rest) < ACCOUNT_ID_LEN + 2 || rest[ACCOUNT_ID_LEN] != ':') return false;
    for (int i = 0; i < ACCOUNT_ID_LEN; i++)
        if (!isdigit((unsigned char)rest[i])) return false;
    if (s[8] == 'i' && strcmp(rest + ACCOUNT_ID_LEN + 1, "root") == 0) return true;
    return iam_entity_exists(st, s);
}

static TR_RESULT check_principal(store_t st, json_t *v)
{
    if (json_is_string(v)) {
        if (strcmp(json_string_value(v), "*") != 0) MALFORMED("%s", BAD_PRINCIPAL_MSG);
        return TR_OK;
    }
    if (!json_is_object(v) || json_object_size(v) == 0) MALFORMED("%s", BAD_PRINCIPAL_MSG);
    static const char *const kinds[] = { "AWS", "Service", "Federated", "CanonicalUser", NULL };
    const char *k;
    json_t *e;
    json_object_foreach(v, k, e) {
        if (!member_in(k, kinds) || !str_or_list(e)) MALFORMED("%s", BAD_PRINCIPAL_MSG);
        if (strcmp(k, "AWS") != 0) continue;
        if (json_is_string(e)) {
            if (!aws_principal_ok(st, json_string_value(e))) MALFORMED("%s", BAD_PRINCIPAL_MSG);
            continue;
        }
        size_t i;
        json_t *x;
        json_array_foreach(e, i, x)
            if (!aws_principal_ok(st, json_string_value(x))) MALFORMED("%s", BAD_PRINCIPAL_MSG);
    }
    return TR_OK;
}

static TR_RESULT check_condition(json_t *v)
{
    if (!json_is_object(v)) MALFORMED("Policy contains a malformed Condition element.");
    const char *k;
    json_t *e;
    json_object_foreach(v, k, e)
        if (!json_is_object(e)) MALFORMED("Policy contains a malformed Condition element.");
    return TR_OK;
}

/* Exactly one of `a` / `not_a` present, each a string or non-empty list. */
static TR_RESULT check_pair(json_t *st, const char *a, const char *not_a)
{
    json_t *x = json_object_get(st, a), *y = json_object_get(st, not_a);
    if ((x != NULL) == (y != NULL))
        MALFORMED("Policy statement must contain exactly one of %s or %s.", a, not_a);
    if (!str_or_list(x ? x : y))
        MALFORMED("Policy contains a malformed %s element.", x ? a : not_a);
    return TR_OK;
}

static TR_RESULT check_statement(store_t store, json_t *st)
{
    static const char *const allowed[] = { "Sid", "Effect", "Principal", "NotPrincipal",
                                           "Action", "NotAction", "Resource", "NotResource",
                                           "Condition", NULL };
    if (!json_is_object(st)) MALFORMED("Policy contains a statement that is not a JSON object.");
    const char *k;
    json_t *v;
    json_object_foreach(st, k, v)
        if (!member_in(k, allowed))
            MALFORMED("Policy statement contains an unknown element '%.64s'.", k);

    json_t *sid = json_object_get(st, "Sid");
    if (sid && !json_is_string(sid)) MALFORMED("Policy contains a malformed Sid element.");
    json_t *eff = json_object_get(st, "Effect");
    if (!json_is_string(eff) || (strcmp(json_string_value(eff), "Allow") != 0 &&
                                 strcmp(json_string_value(eff), "Deny") != 0))
        MALFORMED("Policy statement Effect must be Allow or Deny.");

    json_t *p = json_object_get(st, "Principal"), *np = json_object_get(st, "NotPrincipal");
    if ((p != NULL) == (np != NULL))
        MALFORMED("Policy statement must contain exactly one of Principal or NotPrincipal.");
    GUARD(check_principal(store, p ? p : np));
    GUARD(check_pair(st, "Action", "NotAction"));
    GUARD(check_pair(st, "Resource", "NotResource"));
    json_t *cond = json_object_get(st, "Condition");
    if (cond) GUARD(check_condition(cond));
    return TR_OK;
}

static bool value_matches(json_t *v, const char *s, bool glob)
{
    if (json_is_string(v))
        return glob ? kms_glob_ci(json_string_value(v), s)
                    : strcmp(json_string_value(v), s) == 0;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
        if (json_is_string(e) && (glob ? kms_glob_ci(json_string_value(e), s)
                                       : strcmp(json_string_value(e), s) == 0))
            return true;
    return false;
}

/* Does the Principal element name the caller? */
static bool names_caller(json_t *p, const struct principal *who)
{
    if (json_is_string(p)) return strcmp(json_string_value(p), "*") == 0;
    json_t *aws = json_object_get(p, "AWS");
    if (!aws) return false;
    char root[64], role[600];
    snprintf(root, sizeof root, "arn:aws:iam::%s:root", who->account_id);
    if (value_matches(aws, "*", false) || value_matches(aws, root, false) ||
        value_matches(aws, who->account_id, false) || value_matches(aws, who->arn, false))
        return true;
    /* An assumed-role session is also named by its role's ARN. */
    char prefix[64];
    int n = snprintf(prefix, sizeof prefix, "arn:aws:sts::%s:assumed-role/", who->account_id);
    if (n > 0 && strncmp(who->arn, prefix, (size_t)n) == 0) {
        const char *name = who->arn + n;
        const char *slash = strchr(name, '/');
        size_t len = slash ? (size_t)(slash - name) : strlen(name);
        snprintf(role, sizeof role, "arn:aws:iam::%s:role/%.*s", who->account_id,
                 (int)len, name);
        if (value_matches(aws, role, false)) return true;
    }
    return false;
}

static bool lets_caller_put_policy(json_t *stmts, const struct principal *who)
{
    size_t i;
    json_t *st;
    json_array_foreach(stmts, i, st) {
        if (strcmp(json_string_value(json_object_get(st, "Effect")), "Allow") != 0) continue;
        if (json_object_get(st, "Condition")) continue;
        json_t *p = json_object_get(st, "Principal");
        json_t *a = json_object_get(st, "Action");
        if (!p || !a) continue;
        if (names_caller(p, who) && value_matches(a, "kms:PutKeyPolicy", true)) return true;
    }
    return false;
}

TR_RESULT kms_policy_check(store_t store, const char *text, const struct principal *who,
                           bool bypass)
{
    json_t *doc = NULL, *list = NULL;
    tr_result r = TR_OK;

    if (strlen(text) > KMS_POLICY_MAX)
        BAIL(TR_E_KMS_LIMIT_EXCEEDED,
             "Policy document exceeds the maximum allowed size of %d bytes.", KMS_POLICY_MAX);
    json_error_t jerr;
    doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_MALFORMED_POLICY,
                       "The policy is not a valid JSON object.");
        goto fail;
    }
    static const char *const top[] = { "Version", "Id", "Statement", NULL };
    const char *k;
    json_t *v;
    json_object_foreach(doc, k, v) {
        if (!member_in(k, top)) {
            r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_MALFORMED_POLICY,
                           "Policy contains an unknown element '%.64s'.", k);
            goto fail;
        }
    }
    json_t *ver = json_object_get(doc, "Version");
    if (ver && (!json_is_string(ver) || (strcmp(json_string_value(ver), "2012-10-17") != 0 &&
                                         strcmp(json_string_value(ver), "2008-10-17") != 0))) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_MALFORMED_POLICY,
                       "Policy Version must be 2012-10-17 or 2008-10-17.");
        goto fail;
    }
    json_t *id = json_object_get(doc, "Id");
    if (id && !json_is_string(id)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_MALFORMED_POLICY,
                       "Policy contains a malformed Id element.");
        goto fail;
    }
    json_t *st = json_object_get(doc, "Statement");
    if (json_is_object(st)) {
        list = json_array();
        if (!list || json_array_append(list, st) != 0) {
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
            goto fail;
        }
    } else if (json_is_array(st) && json_array_size(st) > 0) {
        list = json_incref(st);
    } else {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_MALFORMED_POLICY,
                       "Policy must contain a Statement: an object or a non-empty array.");
        goto fail;
    }
    size_t i;
    json_array_foreach(list, i, v) {
        r = check_statement(store, v);
        if (tr_failed(r)) goto fail;
    }
    if (!bypass && !lets_caller_put_policy(list, who)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_MALFORMED_POLICY, "%s", LOCKOUT_MSG);
        goto fail;
    }
fail:
    json_decref(list);
    json_decref(doc);
    return r;
}

char *kms_default_policy(const char *account)
{
    static const char fmt[] =
        "{\n"
        "  \"Version\" : \"2012-10-17\",\n"
        "  \"Id\" : \"key-default-1\",\n"
        "  \"Statement\" : [ {\n"
        "    \"Sid\" : \"Enable IAM User Permissions\",\n"
        "    \"Effect\" : \"Allow\",\n"
        "    \"Principal\" : {\n"
        "      \"AWS\" : \"arn:aws:iam::%s:root\"\n"
        "    },\n"
        "    \"Action\" : \"kms:*\",\n"
        "    \"Resource\" : \"*\"\n"
        "  } ]\n"
        "}";
    int n = snprintf(NULL, 0, fmt, account);
    if (n < 0) return NULL;
    char *s = malloc((size_t)n + 1);
    if (s) snprintf(s, (size_t)n + 1, fmt, account);
    return s;
}
