/*
 * policy.c -- a secret's resource policy: PutResourcePolicy,
 * GetResourcePolicy, DeleteResourcePolicy, ValidateResourcePolicy.
 *
 * The document (1..20480 characters, stored exactly as given in the
 * secret's doc, "policy") is compiled by the policy engine as a resource
 * policy (policy_compile, POLICY_RESOURCE); sm_authorize joins it to every
 * later decision on the secret (RES_UNION, docs/AUTHORIZATION.md 5.1).  Secrets
 * Manager's own checks and wording (user guide, "Managing a resource-based
 * policy": the errors the service reports):
 *   - a document the engine refuses:          MalformedPolicyDocumentException
 *       "This resource policy contains a syntax error."
 *   - an AWS principal that is not an account, or not an existing user,
 *     role or role session (the rule KMS applies, kms_principal_valid):
 *       "This resource policy contains an unsupported principal."
 *   - a Service principal not of the form <name>.amazonaws.com:
 *       "This resource policy contains an invalid service principal."
 *   - BlockPublicPolicy (default false: "By default, public policies
 *     aren't blocked", the model) and a public policy (below):
 *       PublicPolicyException "You can't attach a resource-based policy
 *       that allows broad access to the secret." (the user guide's text)
 *   - ValidateResourcePolicy refuses a document that does not compile
 *     as PutResourcePolicy does (the model lists
 *     MalformedPolicyDocumentException for it); every other check is
 *     answered, not failed: PolicyValidationPassed and one ValidationErrors
 *     entry per failed check, CheckName PRINCIPAL_CHECK, BROAD_ACCESS_CHECK
 *     or LOCKOUT_CHECK (our names: AWS does not publish its own), with
 *     the user guide's messages.  The lockout check fails when the policy
 *     would explicitly
 *     deny the caller secretsmanager:PutResourcePolicy on the secret
 *     ("Your requested changes will not allow you to manage this secret in
 *     the future.").
 *
 * When a policy is public (our reading of the Zelkova check; the user
 * guide: access must be limited to "fixed values" of aws:SourceArn,
 * aws:SourceVpc, aws:SourceVpce, aws:SourceAccount, and S3's Block Public
 * Access rules which the guide points to): some statement with Effect
 * Allow has Principal "*", or an AWS/Service/Federated principal list
 * containing "*" or any wildcard, or NotPrincipal; and its Condition does
 * not pin the caller.  A condition pins the caller when, under a positive
 * operator (StringEquals, StringEqualsIgnoreCase, StringLike, ArnEquals,
 * ArnLike, IpAddress -- alone or with ForAnyValue:, never ...IfExists,
 * ForAllValues: or a negated operator, which all hold when the key is
 * absent or for everyone else), one of aws:PrincipalAccount,
 * aws:PrincipalArn, aws:PrincipalOrgID, aws:PrincipalOrgPaths,
 * aws:SourceAccount, aws:SourceArn, aws:SourceOwner, aws:SourceVpc,
 * aws:SourceVpce, aws:userid or aws:SourceIp has only fixed values: no '*'
 * or '?' (for ARNs: no wildcard up to and including the account field;
 * for aws:SourceIp: a CIDR no wider than /8 for IPv4 or /32 for IPv6).
 * Deny statements never make a policy public.
 *
 * Authorization: secretsmanager:<Op> on the secret (docs/AUTHORIZATION.md
 * 5.2 order);
 * ValidateResourcePolicy without a SecretId on "*".  Put and Delete need
 * the secret not pending deletion; Get works on it too.  PutResourcePolicy
 * has secretsmanager:BlockPublicPolicy when the request has the member.
 */
#include "secrets/manage.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "iam/authz.h"
#include "iam/bindings.h"
#include "iam/policy.h"
#include "kms/kms.h"
#include "secrets/authz.h"
#include "secrets/describe.h"
#include "secrets/params.h"
#include "secrets/secrets.h"

#define MSG_SYNTAX    "This resource policy contains a syntax error."
#define MSG_PRINCIPAL "This resource policy contains an unsupported principal."
#define MSG_SERVICE   "This resource policy contains an invalid service principal."
#define MSG_PUBLIC    "You can't attach a resource-based policy that allows broad access to the secret."
#define MSG_LOCKOUT   "Your requested changes will not allow you to manage this secret in the future."

/* ---- the public-policy rule ------------------------------------------------- */

static bool has_wildcard(const char *s)
{
    return strchr(s, '*') || strchr(s, '?');
}

/* Apply fn to each string of a string-or-array value; false if fn says so
 * for any, or the value is neither. */
static bool all_strings(json_t *v, bool (*fn)(const char *))
{
    if (json_is_string(v)) return fn(json_string_value(v));
    if (!json_is_array(v) || json_array_size(v) == 0) return false;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
        if (!json_is_string(e) || !fn(json_string_value(e))) return false;
    return true;
}

static bool fixed_plain(const char *v)
{
    return *v && !has_wildcard(v);
}

/* An ARN is fixed when no wildcard appears before the end of its account
 * field (arn:partition:service:region:account:...). */
static bool fixed_arn(const char *v)
{
    const char *p = v;
    for (int colons = 0; *p && colons < 5; p++)
        if (*p == ':') colons++;
    if (!*v || strncmp(v, "arn:", 4) != 0) return false;
    for (const char *q = v; q < p; q++)
        if (*q == '*' || *q == '?') return false;
    return true;
}

static bool fixed_cidr(const char *v)
{
    const char *slash = strchr(v, '/');
    if (!*v || has_wildcard(v)) return false;
    if (!slash) return true;
    char *end;
    long bits = strtol(slash + 1, &end, 10);
    if (*end || end == slash + 1) return false;
    return strchr(v, ':') ? bits >= 32 : bits >= 8;
}

static const char *const PIN_KEYS[] = {
    "aws:PrincipalAccount", "aws:PrincipalArn", "aws:PrincipalOrgID", "aws:PrincipalOrgPaths",
    "aws:SourceAccount", "aws:SourceArn", "aws:SourceOwner", "aws:SourceVpc", "aws:SourceVpce",
    "aws:userid", "aws:SourceIp", NULL
};

static bool pins(const char *op, const char *key, json_t *values)
{
    static const char *const POSITIVE[] = {
        "StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike",
        "IpAddress", NULL
    };
    if (strncasecmp(op, "ForAnyValue:", 12) == 0) op += 12;
    bool positive = false;
    for (int i = 0; POSITIVE[i]; i++) positive |= strcmp(op, POSITIVE[i]) == 0;
    if (!positive) return false;   /* IfExists, ForAllValues:, Not*, others */
    bool known = false;
    for (int i = 0; PIN_KEYS[i]; i++) known |= strcasecmp(key, PIN_KEYS[i]) == 0;
    if (!known) return false;
    if (strcasecmp(key, "aws:SourceIp") == 0)
        return strcmp(op, "IpAddress") == 0 && all_strings(values, fixed_cidr);
    if (strcmp(op, "IpAddress") == 0) return false;
    if (strcasecmp(key, "aws:PrincipalArn") == 0 || strcasecmp(key, "aws:SourceArn") == 0)
        return all_strings(values, fixed_arn);
    return all_strings(values, fixed_plain);
}

static bool condition_pins(json_t *cond)
{
    const char *op, *key;
    json_t *block, *values;
    if (!json_is_object(cond)) return false;
    json_object_foreach(cond, op, block) {
        if (!json_is_object(block)) continue;
        json_object_foreach(block, key, values)
            if (pins(op, key, values)) return true;
    }
    return false;
}

static bool any_wildcard(json_t *v)
{
    if (json_is_string(v)) return has_wildcard(json_string_value(v));
    size_t i;
    json_t *e;
    if (json_is_array(v))
        json_array_foreach(v, i, e)
            if (json_is_string(e) && has_wildcard(json_string_value(e))) return true;
    return false;
}

static bool principal_public(json_t *p)
{
    const char *k;
    json_t *v;
    if (json_is_string(p)) return true;   /* only "*" compiles */
    if (!json_is_object(p)) return false;
    json_object_foreach(p, k, v)
        if (any_wildcard(v)) return true;
    return false;
}

static bool statement_public(json_t *st)
{
    if (!json_is_object(st)) return false;
    json_t *eff = json_object_get(st, "Effect");
    if (!json_is_string(eff) || strcmp(json_string_value(eff), "Allow") != 0) return false;
    bool everyone = json_object_get(st, "NotPrincipal") != NULL ||
                    principal_public(json_object_get(st, "Principal"));
    return everyone && !condition_pins(json_object_get(st, "Condition"));
}

TR_RESULT sm_policy_is_public(const char *text, bool *is_public)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    *is_public = false;
    if (!json_is_object(doc)) {
        json_decref(doc);
        BAIL(TR_E_SM_MALFORMED_POLICY, MSG_SYNTAX);
    }
    json_t *sts = json_object_get(doc, "Statement");
    if (json_is_array(sts)) {
        size_t i;
        json_t *st;
        json_array_foreach(sts, i, st)
            if (statement_public(st)) *is_public = true;
    } else {
        *is_public = statement_public(sts);
    }
    json_decref(doc);
    return TR_OK;
}

/* ---- validation --------------------------------------------------------------- */

/* Service principals must name a service: <name>.amazonaws.com. */
static bool service_ok(const char *s)
{
    static const char SUFFIX[] = ".amazonaws.com";
    size_t n = strlen(s), m = sizeof SUFFIX - 1;
    if (strcmp(s, "*") == 0) return true;   /* public, not invalid */
    if (n <= m || strcmp(s + n - m, SUFFIX) != 0) return false;
    for (size_t i = 0; i < n - m; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.') return false;
    return true;
}

static bool services_ok(json_t *doc)
{
    json_t *sts = json_object_get(doc, "Statement");
    size_t n = json_is_array(sts) ? json_array_size(sts) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *st = json_is_array(sts) ? json_array_get(sts, i) : sts;
        const char *k;
        json_t *p, *v;
        if (!json_is_object(st)) continue;
        for (int which = 0; which < 2; which++) {
            p = json_object_get(st, which ? "NotPrincipal" : "Principal");
            if (!json_is_object(p)) continue;
            json_object_foreach(p, k, v)
                if (strcmp(k, "Service") == 0 && !all_strings(v, service_ok)) return false;
        }
    }
    return true;
}

static TR_RESULT principal_exists(void *arg, const char *p)
{
    bool ok = false;
    GUARD(kms_principal_valid((store_t)arg, p, &ok));
    if (!ok) BAIL(TR_E_SM_MALFORMED_POLICY, MSG_PRINCIPAL);
    return TR_OK;
}

/* The outcome of the checks on one document. */
struct check {
    bool syntax_ok, principals_ok, is_public, lockout;
    const char *principal_msg;
};

/* Would `p` as the secret's policy explicitly deny the caller
 * secretsmanager:PutResourcePolicy on it? */
static TR_RESULT lockout_check(struct req_ctx *rc, const struct secret *s, const struct policy *p,
                               bool *locked)
{
    struct eval_result er;
    struct named_policy np = { .p = p, .name = "new-resource-policy" };
    const char *arn = s ? s->arn : "*";
    const char *const id[1] = { arn };
    struct ctx_entry extra = { .key = "secretsmanager:SecretId", .values = id, .n = 1 };
    struct authz_req ar = {
        .action = "secretsmanager:PutResourcePolicy",
        .resource = arn,
        .resource_account = s ? s->account : rc->who.account_id,
        .resource_policy = &np,
        .mode = RES_UNION,
        .extra = &extra,
        .nextra = 1,
        .no_fail = true,
        .what_if = true,
    };
    memset(&er, 0, sizeof er);
    GUARD(iam_authorize(rc, &ar, &er));
    *locked = er.decision == DECISION_EXPLICIT_DENY && er.deny_type == PT_RESOURCE;
    return TR_OK;
}

/* Run every check; failures of the document are recorded in *c, only
 * internal faults are returned. */
static TR_RESULT check_policy(struct req_ctx *rc, const struct secret *s, const char *text,
                              bool want_lockout, struct check *c)
{
    struct policy *p = NULL;
    json_error_t jerr;
    json_t *doc = NULL;
    tr_result r;

    memset(c, 0, sizeof *c);
    c->principals_ok = true;
    r = policy_compile(text, strlen(text), POLICY_RESOURCE, &p);
    if (tr_failed(r)) {
        if (tr_code(r) != TR_E_POLICY_MALFORMED) return r;
        const struct tr_error_info *e = tr_last_error();
        if (e->has_message && strncmp(e->message, "Invalid principal", 17) == 0) {
            c->syntax_ok = true;
            c->principals_ok = false;
            c->principal_msg = MSG_PRINCIPAL;
        }
        tr_clear_error();
        return TR_OK;
    }
    c->syntax_ok = true;
    doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    r = doc ? TR_OK : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    if (tr_ok(r) && !services_ok(doc)) {
        c->principals_ok = false;
        c->principal_msg = MSG_SERVICE;
    }
    if (tr_ok(r) && c->principals_ok) {
        r = policy_each_aws_principal(p, principal_exists, (void *)rc->st);
        if (tr_failed(r) && tr_code(r) == TR_E_SM_MALFORMED_POLICY) {
            c->principals_ok = false;
            c->principal_msg = MSG_PRINCIPAL;
            tr_clear_error();
            r = TR_OK;
        }
    }
    if (tr_ok(r)) r = sm_policy_is_public(text, &c->is_public);
    if (tr_ok(r) && want_lockout) r = lockout_check(rc, s, p, &c->lockout);
    json_decref(doc);
    policy_unref(p);
    return r;
}

/* ---- handlers ------------------------------------------------------------------ */

SM_HANDLER(sm_op_put_resource_policy)
{
    const char *id, *text;
    bool block = false, has_block = false;
    struct secret s;
    struct check c;
    char *copy = NULL;
    tr_result r;

    GUARD(sm_get_secret_id(in, &id));
    GUARD(json_get_str(in, "ResourcePolicy", true, 1, SM_POLICY_MAX, &text));
    GUARD(json_get_bool(in, "BlockPublicPolicy", &has_block, &block));
    /* secretsmanager:BlockPublicPolicy when the request has the member:
     * the permissions reference's recommended Allow requires it true. */
    static const char *const yes[] = { "true" }, *const no[] = { "false" };
    struct ctx_entry bpp = { .key = "secretsmanager:BlockPublicPolicy", .values = block ? yes : no,
                             .n = 1 };
    GUARD(sm_find_authorized(rc, rc->op->action, id, &bpp, has_block ? 1 : 0,
                             true, &s));
    r = check_policy(rc, &s, text, false, &c);
    if (tr_failed(r)) goto fail;
    if (!c.syntax_ok) { r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_MALFORMED_POLICY, MSG_SYNTAX); goto fail; }
    if (!c.principals_ok) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_MALFORMED_POLICY, "%s", c.principal_msg);
        goto fail;
    }
    if (block && c.is_public) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_PUBLIC_POLICY, MSG_PUBLIC);
        goto fail;
    }
    copy = strdup(text);
    if (!copy) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    free(s.policy);
    s.policy = copy;
    /* Its principals, bound as it is saved (iam/bindings.h). */
    free(s.policy_ids);
    s.policy_ids = NULL;
    r = iam_bind_policy(rc->st, text, POLICY_RESOURCE, &s.policy_ids);
    if (tr_failed(r)) goto fail;
    s.last_changed = sm_now(rc);
    r = sm_save(rc->st, &s, false);
    if (tr_ok(r)) r = sm_reply_arn_name(s.arn, s.name, out);
fail:
    secret_free(&s);
    return r;
}

SM_HANDLER(sm_op_get_resource_policy)
{
    struct secret s;
    GUARD(sm_find_for_op(rc, in, false, &s));
    tr_result r = sm_reply_arn_name(s.arn, s.name, out);
    if (tr_ok(r) && s.policy && *s.policy) {
        /* A bound principal gone since reads as its unique id (AWS). */
        char *shown = NULL;
        r = iam_policy_shown(rc->st, s.policy, s.policy_ids, &shown);
        if (tr_ok(r)) r = sm_set(*out, "ResourcePolicy", json_string(shown ? shown : s.policy));
        free(shown);
        if (tr_failed(r)) { json_decref(*out); *out = NULL; }
    }
    secret_free(&s);
    return r;
}

SM_HANDLER(sm_op_delete_resource_policy)
{
    struct secret s;
    tr_result r = TR_OK;

    GUARD(sm_find_for_op(rc, in, true, &s));
    if (s.policy) {
        free(s.policy);
        free(s.policy_ids);
        s.policy = s.policy_ids = NULL;
        s.last_changed = sm_now(rc);
        r = sm_save(rc->st, &s, false);
    }
    if (tr_ok(r)) r = sm_reply_arn_name(s.arn, s.name, out);
    secret_free(&s);
    return r;
}

static TR_RESULT add_error(json_t *errs, const char *check, const char *msg)
{
    json_t *e = json_pack("{s:s, s:s}", "CheckName", check, "ErrorMessage", msg);
    if (!e || json_array_append_new(errs, e) != 0) BAIL0(TR_E_INTERNAL);
    return TR_OK;
}

SM_HANDLER(sm_op_validate_resource_policy)
{
    const char *id = NULL, *text;
    struct secret s;
    bool have = false;
    struct check *c = calloc(1, sizeof *c);
    json_t *reply = NULL, *errs = NULL;
    tr_result r;

    ENSURE_REF(c);
    memset(&s, 0, sizeof s);
    r = json_get_str(in, "SecretId", false, 1, SM_ID_MAX, &id);
    if (tr_ok(r) && id) r = sm_get_secret_id(in, &id);
    if (tr_ok(r)) r = json_get_str(in, "ResourcePolicy", true, 1, SM_POLICY_MAX, &text);
    if (tr_failed(r)) goto fail;
    if (id) {
        r = sm_find_authorized(rc, rc->op->action, id, NULL, 0, false, &s);
        have = tr_ok(r);
    } else {
        r = sm_authorize_account(rc, rc->op->action, NULL, NULL, 0);
    }
    if (tr_ok(r)) r = check_policy(rc, have ? &s : NULL, text, true, c);
    if (tr_ok(r) && !c->syntax_ok) r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_MALFORMED_POLICY, MSG_SYNTAX);
    if (tr_failed(r)) goto fail;
    reply = json_object();
    errs = json_array();
    if (!reply || !errs) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    if (!c->principals_ok) r = add_error(errs, "PRINCIPAL_CHECK", c->principal_msg);
    if (tr_ok(r) && c->is_public)
        r = add_error(errs, "BROAD_ACCESS_CHECK",
                      "This resource policy grants broad access to your secret.");
    if (tr_ok(r) && c->lockout) r = add_error(errs, "LOCKOUT_CHECK", MSG_LOCKOUT);
    if (tr_ok(r)) r = sm_set(reply, "PolicyValidationPassed", json_boolean(json_array_size(errs) == 0));
    if (tr_ok(r)) {
        r = sm_set(reply, "ValidationErrors", errs);   /* steals errs */
        errs = NULL;
    }
    if (tr_failed(r)) goto fail;
    *out = reply;
    reply = NULL;
fail:
    json_decref(errs);
    json_decref(reply);
    if (have) secret_free(&s);
    free(c);
    return r;
}
