/*
 * policy_check.c -- validate a key policy document at CreateKey and
 * PutKeyPolicy, and the policy lockout safety check; the default key
 * policy.
 *
 * Everything about the grammar and the meaning of a policy is the policy
 * engine's (src/iam/policy.h): the document is compiled as a key policy
 * (policy_compile, POLICY_KEY) and the lockout check evaluates it.  What
 * is KMS's own (docs/AUTHORIZATION.md 4.5; docs/WIRE.md 5.2):
 *   - at most 32768 bytes (the KMS quota): LimitExceededException, as the
 *     API reference says for an over-long key policy;
 *   - a document the engine refuses: MalformedPolicyDocumentException
 *     with the engine's message, except that a bad AWS principal gets
 *     KMS's wording, "Policy contains a statement with one or more invalid
 *     principals.";
 *   - every AWS principal must exist: "*", an account id and
 *     arn:aws:iam::<acct>:root always do; a user, a role, or a role
 *     session (its role) must exist in the store (iam_principal_exists);
 *     else the same invalid-principals message;
 *   - unless BypassPolicyLockoutSafetyCheck, the caller must be able to
 *     call kms:PutKeyPolicy on the key under the new policy, exactly as a
 *     later request would be evaluated (kms_policy_allows: the key policy
 *     naming the caller, its role or everyone, or naming its account and
 *     the caller's IAM policies allowing): else "The new key policy will
 *     not allow you to update the key policy in the future."
 *   - each user or role ARN it names is bound to that entity's unique id
 *     (iam/bindings.h); the caller stores the binding with the text, and
 *     the lockout check evaluates the policy as bound.
 * The text is stored as given; only the default policy is generated here,
 * pretty-printed the way KMS prints the policies it writes (botocore's
 * GetKeyPolicy example).
 */
#include "kms/kms.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "iam/authz.h"
#include "iam/bindings.h"
#include "iam/policy.h"
#include "iam/principals.h"

static const char *const LOCKOUT_MSG =
    "The new key policy will not allow you to update the key policy in the future.";
static const char *const BAD_PRINCIPAL_MSG =
    "Policy contains a statement with one or more invalid principals.";

static bool all_digits(const char *s, size_t n)
{
    if (strlen(s) != n) return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return false;
    return true;
}

/* arn:<partition>:iam::<12 digits>:root */
static bool is_root_arn(const char *s)
{
    if (strncmp(s, "arn:", 4) != 0) return false;
    const char *c = strchr(s + 4, ':');
    if (!c || strncmp(c, ":iam::", 6) != 0) return false;
    c += 6;
    return strspn(c, "0123456789") == ACCOUNT_ID_LEN && strcmp(c + ACCOUNT_ID_LEN, ":root") == 0;
}

TR_RESULT kms_principal_valid(store_t st, const char *p, bool *ok)
{
    *ok = strcmp(p, "*") == 0 || all_digits(p, ACCOUNT_ID_LEN) || is_root_arn(p);
    if (*ok) return TR_OK;
    return iam_principal_exists(st, p, ok);
}

static TR_RESULT principal_exists(void *arg, const char *p)
{
    bool ok = false;
    GUARD(kms_principal_valid((store_t)arg, p, &ok));
    if (!ok) BAIL(TR_E_KMS_MALFORMED_POLICY, "%s", BAD_PRINCIPAL_MSG);
    return TR_OK;
}

/* The engine's refusal as KMS reports it. */
static tr_result malformed(void)
{
    const struct tr_error_info *e = tr_last_error();
    if (!e->has_message || strncmp(e->message, "Invalid principal", 17) == 0)
        return tr_fail_at(__FILE__, __LINE__, TR_E_KMS_MALFORMED_POLICY, "%s", BAD_PRINCIPAL_MSG);
    char msg[TR_ERR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s", e->message);    /* fits: a message, as large */
    return tr_fail_at(__FILE__, __LINE__, TR_E_KMS_MALFORMED_POLICY, "%s", msg);
}

TR_RESULT kms_policy_check(struct req_ctx *rc, const char *text, const struct key_rec *k,
                           bool bypass, char **ids)
{
    struct policy *p = NULL;
    char *bound = NULL;
    bool allowed = false;
    tr_result r;

    if (ids) *ids = NULL;
    size_t len = strlen(text);
    if (len > KMS_POLICY_MAX)
        BAIL(TR_E_KMS_LIMIT_EXCEEDED,
             "Policy document exceeds the maximum allowed size of %d bytes.", KMS_POLICY_MAX);
    r = policy_compile(text, len, POLICY_KEY, &p);
    if (tr_failed(r)) {
        if (tr_code(r) == TR_E_POLICY_MALFORMED) r = malformed();
        return r;
    }
    r = policy_each_aws_principal(p, principal_exists, (void *)rc->st);
    if (tr_ok(r)) r = iam_bind_policy(rc->st, text, POLICY_KEY, &bound);
    if (tr_failed(r) || bypass) goto fail;
    /* The key as it would be: the new policy with its binding; and the
     * later PutKeyPolicy this check is about: a plain one, without
     * BypassPolicyLockoutSafetyCheck (so no such condition key). */
    struct key_rec would = *k;
    would.policy = (char *)text;
    would.policy_ids = bound;
    struct kms_authz_in in = { 0 };
    r = kms_policy_allows(rc, "kms:PutKeyPolicy", &would, text, &in, &allowed);
    if (tr_ok(r) && !allowed)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_MALFORMED_POLICY, "%s", LOCKOUT_MSG);
fail:
    policy_unref(p);
    if (tr_ok(r) && ids) *ids = bound;
    else free(bound);
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
    if (s) snprintf(s, (size_t)n + 1, fmt, account);   /* fits: measured above */
    return s;
}
