/*
 * sts.c -- the STS operations (query protocol): GetCallerIdentity,
 * AssumeRole, GetSessionToken; and the purge of expired sessions.
 *
 * Spec: docs/AUTHORIZATION.md 6.1 - 6.3 (trust policies, sessions),
 * docs/WIRE.md 5.5 (errors); the botocore STS model (2011-06-15) for
 * parameter limits and patterns; docs/internals/IAM_STORE.md for the session
 * records.
 *
 * GetCallerIdentity needs no permission and cannot be denied: it reports
 * the authenticated principal.
 *
 * AssumeRole, in order:
 *   1. parameters, with AWS's validation wording (ValidationError) -- before
 *      any authorization, as AWS's front end validates against the model
 *      first (so a one-character RoleSessionName is a ValidationError even
 *      for a caller who may not assume the role); the first failing member
 *      is reported (AWS lists all of them: "2 validation errors ...");
 *   2. the account root user may not assume roles;
 *   3. the session policy compiles (MalformedPolicyDocument) and the
 *      packed size of session policies and tags fits (PackedPolicyTooLarge);
 *   4. a session of a role asking for more than an hour: the role-chaining
 *      limit (says nothing about the target role);
 *   5. sts:AssumeRole on the role ARN against the role's trust policy in
 *      RES_REQUIRED mode (the trust policy must allow the caller, directly
 *      or by naming its account, which then needs an identity policy too;
 *      cross-account callers always need both).  An unknown role is
 *      refused with the same AccessDenied, so existence does not leak.
 *      STS's message has no "because ..." clause.  sts:TagSession when
 *      tags are passed or transitive tags are carried, sts:SetSourceIdentity
 *      when a source identity is passed or carried (role chaining: the
 *      new session's source identity is set by the call either way);
 *   6. DurationSeconds against the role's MaxSessionDuration (only now:
 *      the role's settings are not told to unauthorized callers);
 *   7. new credentials: ASIA key id, 40-character secret, a random
 *      session token.  The secret is stored wrapped under the root key
 *      ("access-key:<AKID>"), the token only as its SHA-256, and both are
 *      wiped from memory once the reply is written.
 * Session tags marked transitive, and the source identity, carry over to
 * sessions of roles assumed from the session (role chaining), and neither
 * can be changed down the chain (IAM User Guide, "Chaining roles with
 * session tags" and "Monitor and control actions taken with assumed
 * roles"): a Tags key equal, in any case, to a carried transitive key is
 * InvalidParameterValue "One of the specified transitive tag keys can't be
 * set because it conflicts with a transitive tag key from the calling
 * session."; a SourceIdentity other than the carried one is ValidationError
 * "The source identity is already set for this assume role session" (the
 * same one is accepted).  Both checks come right after validation, before
 * authorization: they are about the request, not the role.  The carried
 * source identity is sts:SourceIdentity in the call's request context, and
 * the calling session's aws:SourceIdentity (iam/context.c) is there too.
 *
 * GetSessionToken: temporary credentials that act as the calling user
 * (or root), 900 s .. 36 h (root: at most one hour), not from session
 * credentials.  No permission is needed (as in AWS).  Like AWS's, they
 * call no IAM operation without MFA (auth/creds.c answers
 * InvalidClientTokenId), and of STS only AssumeRole and GetCallerIdentity
 * (GetSessionToken from them is refused below).
 *
 * MFA: no MFA devices exist, so SerialNumber/TokenCode are checked for
 * shape only and aws:MultiFactorAuthPresent is always false.
 */
#include "iam/accounts.h"
#include "iam/sts.h"
#include "iam/sts_internal.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/key_last_used.h"
#include "core/json.h"
#include "core/log.h"
#include "core/secmem.h"
#include "core/str.h"
#include "core/utf8.h"
#include "crypto/hash.h"
#include "crypto/keyring.h"
#include "crypto/rand.h"
#include "iam/arn.h"
#include "iam/authz.h"
#include "iam/bindings.h"
#include "iam/iam_util.h"
#include "op/query_proto.h"

#define ROLE_CHAINING_MSG "The requested DurationSeconds exceeds the 1 hour session limit for roles " \
                          "assumed by role chaining."
#define MAX_SESSION_MSG "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
#define SESSION_CREDS_MSG "Cannot call GetSessionToken with session credentials"
#define ROOT_ASSUME_MSG "Roles may not be assumed by root accounts."
#define DUP_TAGS_MSG "Duplicate tag keys found. Please note that Tag keys are case insensitive."
#define TRANSITIVE_MSG "One of the specified transitive tag keys can't be set because it conflicts " \
                       "with a transitive tag key from the calling session."
#define SOURCE_SET_MSG "The source identity is already set for this assume role session"

#define MAX_TAGS STS_MAX_TAGS
#define MAX_POLICY_ARNS STS_MAX_POLICY_ARNS
#define PACKED_BUDGET 2048          /* "packed" bytes that make 100 percent */
#define SECRET_LEN 40
#define TOKEN_RAW 192               /* random bytes in a session token: 256 base64 chars */
#define DEFAULT_DURATION 3600
#define CHAINED_MAX 3600
#define ROOT_SESSION_MAX 3600
#define GST_DEFAULT 43200


/* ---- GetCallerIdentity ------------------------------------------------- */

static TR_RESULT op_get_caller_identity(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    (void)in;
    /* No permission is needed, but a user or role session must still
     * exist: the session of a deleted role is as invalid here as
     * everywhere else.  (An account root always exists; in dev mode it
     * stands for any unknown key.) */
    if (rc->who.type != PRINCIPAL_ROOT) GUARD(iam_identity_get(rc));
    xml_text(out, "UserId", rc->who.id);
    xml_text(out, "Account", rc->who.account_id);
    xml_text(out, "Arn", rc->who.arn);
    return TR_OK;
}

/* ---- validation -------------------------------------------------------- */

/* AWS's one-member ValidationError; member in wire lower camel case. */
static tr_result invalid(const char *member, const char *value, const char *constraint)
{
    if (!value)
        return tr_fail_at(__FILE__, __LINE__, TR_E_QUERY_VALIDATION,
                          "1 validation error detected: Value null at '%s' failed to satisfy "
                          "constraint: %s", member, constraint);
    return tr_fail_at(__FILE__, __LINE__, TR_E_QUERY_VALIDATION,
                      "1 validation error detected: Value '%.512s' at '%s' failed to satisfy "
                      "constraint: %s", value, member, constraint);
}

static bool word_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Every character is \w or one of `extra` (ASCII patterns of the model). */
static bool pattern_ok(const char *s, const char *extra)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!word_char(*p) && !strchr(extra, *p)) return false;
    return true;
}

bool sts_source_identity_ok(const char *s)
{
    size_t n = strlen(s);
    return n >= 2 && n <= 64 && pattern_ok(s, "+=,.@-");
}

/* Tag keys and values: [\p{L}\p{Z}\p{N}_.:/=+\-@]; non-ASCII letters are
 * let through (UTF-8 bytes), ASCII is checked exactly. */
static bool tag_chars_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x80 && !word_char(*p) && !strchr(" _.:/=+-@", *p)) return false;
    return true;
}

/* An optional string parameter: length min..max (characters) and the
 * model's pattern (`extra` characters besides \w; NULL: no pattern). */
static TR_RESULT opt_str(const struct form *in, const char *key, const char *member, size_t min,
                         size_t max, const char *extra, const char *pattern, const char **out)
{
    const char *v = form_get(in, key);
    char c[160];
    *out = NULL;
    if (!v) return TR_OK;
    size_t n = utf8_strlen(v);
    if (n < min) {
        snprintf(c, sizeof c, "Member must have length greater than or equal to %zu", min);     /* fits: 72 */
        return invalid(member, v, c);
    }
    if (n > max) {
        snprintf(c, sizeof c, "Member must have length less than or equal to %zu", max);        /* fits: 69 */
        return invalid(member, v, c);
    }
    if (extra && !pattern_ok(v, extra)) {
        /* fits: pattern is one of our short literals */
        snprintf(c, sizeof c, "Member must satisfy regular expression pattern: %s", pattern);
        return invalid(member, v, c);
    }
    *out = v;
    return TR_OK;
}

static TR_RESULT req_str(const struct form *in, const char *key, const char *member, size_t min,
                         size_t max, const char *extra, const char *pattern, const char **out)
{
    GUARD(opt_str(in, key, member, min, max, extra, pattern, out));
    if (!*out) return invalid(member, NULL, "Member must not be null");
    return TR_OK;
}

/* SerialNumber and TokenCode: shape only, and both or neither. */
static TR_RESULT mfa_params(const struct form *in)
{
    const char *serial, *code;
    GUARD(opt_str(in, "SerialNumber", "serialNumber", 9, 256, "+=/:,.@-", "[\\w+=/:,.@-]*", &serial));
    GUARD(opt_str(in, "TokenCode", "tokenCode", 6, 6, NULL, NULL, &code));
    if (code && strspn(code, "0123456789") != strlen(code))
        return invalid("tokenCode", code, "Member must satisfy regular expression pattern: [\\d]*");
    if ((serial == NULL) != (code == NULL))
        BAIL(TR_E_QUERY_VALIDATION, "%s", serial ? "MFA token code is required when a serial number is given."
                                                 : "A serial number is required when an MFA token code is given.");
    return TR_OK;
}

/* arn:<partition>:iam::<account>:role/<path><name>; the account out. */
static bool role_arn_valid(const char *arn, char account[ACCOUNT_ID_LEN + 1])
{
    struct arn_parts p;
    size_t len = strlen(arn);
    if (!arn_split(arn, len, &p)) return false;
    if (p.len[0] != 3 || memcmp(p.part[0], "arn", 3) != 0) return false;
    if (!arn_partition_valid(p.part[1], p.len[1])) return false;
    if (p.len[2] != 3 || memcmp(p.part[2], "iam", 3) != 0 || p.len[3] != 0) return false;
    if (!arn_account_id(p.part[4], p.len[4])) return false;
    if (p.len[5] <= 5 || memcmp(p.part[5], "role/", 5) != 0 || p.part[5][p.len[5] - 1] == '/') return false;
    memcpy(account, p.part[4], ACCOUNT_ID_LEN);
    account[ACCOUNT_ID_LEN] = '\0';
    return true;
}

/* Characters that are not white space (how IAM sizes policies). */
static size_t packed_len(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') n++;
    return n;
}

/* ---- AssumeRole parameters ------------------------------------------- */



static TR_RESULT parse_tags(const struct form *in, struct sts_assume *a)
{
    const char *keys[MAX_TAGS + 1], *values[MAX_TAGS + 1];
    char member[64];
    size_t n = 0;
    /* Tags.member.N.Key / .Value up to the first N with neither; both
     * are required members of a Tag. */
    for (size_t i = 1; n <= MAX_TAGS; i++) {
        snprintf(member, sizeof member, "Tags.member.%zu.Key", i);   /* fits: a literal and a count */
        keys[n] = form_get(in, member);
        snprintf(member, sizeof member, "Tags.member.%zu.Value", i);   /* fits: a literal and a count */
        values[n] = form_get(in, member);
        if (!keys[n] && !values[n]) break;
        n++;
    }
    if (n > MAX_TAGS)
        BAIL(TR_E_QUERY_VALIDATION, "1 validation error detected: Value at 'tags' failed to satisfy "
             "constraint: Member must have length less than or equal to 50");
    for (size_t i = 0; i < n; i++) {
        snprintf(member, sizeof member, "tags.%zu.member.key", i + 1);   /* fits: a literal and a count */
        if (!keys[i]) return invalid(member, NULL, "Member must not be null");
        snprintf(member, sizeof member, "tags.%zu.member.value", i + 1);   /* fits: a literal and a count */
        if (!values[i]) return invalid(member, NULL, "Member must not be null");
        size_t kl = utf8_strlen(keys[i]), vl = utf8_strlen(values[i]);
        snprintf(member, sizeof member, "tags.%zu.member.key", i + 1);   /* fits: a literal and a count */
        if (kl < 1) return invalid(member, keys[i], "Member must have length greater than or equal to 1");
        if (kl > 128) return invalid(member, keys[i], "Member must have length less than or equal to 128");
        if (!tag_chars_ok(keys[i]))
            return invalid(member, keys[i], "Member must satisfy regular expression pattern: "
                                            "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+");
        snprintf(member, sizeof member, "tags.%zu.member.value", i + 1);   /* fits: a literal and a count */
        if (vl > 256) return invalid(member, values[i], "Member must have length less than or equal to 256");
        if (!tag_chars_ok(values[i]))
            return invalid(member, values[i], "Member must satisfy regular expression pattern: "
                                              "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*");
        for (size_t j = 0; j < i; j++)
            if (strcasecmp(keys[j], keys[i]) == 0) BAIL(TR_E_QUERY_VALIDATION, "%s", DUP_TAGS_MSG);
        a->tag_keys[i] = keys[i];
        a->tag_values[i] = values[i];
    }
    a->ntags = n;

    const char *tk[MAX_TAGS + 1];
    n = form_list(in, "TransitiveTagKeys", tk, MAX_TAGS + 1);
    if (n > MAX_TAGS)
        BAIL(TR_E_QUERY_VALIDATION, "1 validation error detected: Value at 'transitiveTagKeys' failed to "
             "satisfy constraint: Member must have length less than or equal to 50");
    for (size_t i = 0; i < n; i++) {
        size_t kl = utf8_strlen(tk[i]);
        snprintf(member, sizeof member, "transitiveTagKeys.%zu.member", i + 1);   /* fits: a literal and a count */
        if (kl < 1 || kl > 128 || !tag_chars_ok(tk[i]))
            return invalid(member, tk[i], kl < 1 ? "Member must have length greater than or equal to 1"
                                          : kl > 128 ? "Member must have length less than or equal to 128"
                                          : "Member must satisfy regular expression pattern: "
                                            "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+");
        a->transitive[i] = tk[i];
    }
    a->ntransitive = n;
    return TR_OK;
}

static TR_RESULT parse_policy_arns(const struct form *in, struct sts_assume *a)
{
    char key[64], member[64];
    for (size_t i = 1;; i++) {
        snprintf(key, sizeof key, "PolicyArns.member.%zu.arn", i);   /* fits: a literal and a count */
        const char *v = form_get(in, key);
        if (!v) break;
        if (i > MAX_POLICY_ARNS)
            BAIL(TR_E_QUERY_VALIDATION, "1 validation error detected: Value at 'policyArns' failed to "
                 "satisfy constraint: Member must have length less than or equal to 10");
        snprintf(member, sizeof member, "policyArns.%zu.member.arn", i);   /* fits: a literal and a count */
        size_t n = utf8_strlen(v);
        if (n < 20) return invalid(member, v, "Member must have length greater than or equal to 20");
        if (n > 2048) return invalid(member, v, "Member must have length less than or equal to 2048");
        a->policy_arns[a->npolicy_arns++] = v;
    }
    return TR_OK;
}

/* The members both requests have, in the models' order. */
static TR_RESULT parse_session_members(const struct form *in, struct sts_assume *a)
{
    memset(a, 0, sizeof *a);
    GUARD(req_str(in, "RoleArn", "roleArn", 20, 2048, NULL, NULL, &a->role_arn));
    GUARD(req_str(in, "RoleSessionName", "roleSessionName", 2, 64, "+=,.@-", "[\\w+=,.@-]*",
                  &a->session_name));
    GUARD(form_int(in, "DurationSeconds", false, 900, 43200, &a->has_duration, &a->duration));
    GUARD(opt_str(in, "Policy", "policy", 1, 2048, NULL, NULL, &a->policy));
    if (a->policy) GUARD(iam_check_document_chars("Policy", a->policy));
    return parse_policy_arns(in, a);
}

/* After the members: RoleArn's form, and the default duration. */
static TR_RESULT finish_session_members(struct sts_assume *a)
{
    if (!role_arn_valid(a->role_arn, a->role_account))
        BAIL(TR_E_QUERY_VALIDATION, "%.2048s is invalid", a->role_arn);
    if (!a->has_duration) a->duration = DEFAULT_DURATION;
    return TR_OK;
}

TR_RESULT sts_parse_assume(const struct form *in, struct sts_assume *a)
{
    GUARD(parse_session_members(in, a));
    GUARD(opt_str(in, "ExternalId", "externalId", 2, 1224, "+=,.@:/-", "[\\w+=,.@:\\/-]*", &a->external_id));
    GUARD(parse_tags(in, a));
    GUARD(opt_str(in, "SourceIdentity", "sourceIdentity", 2, 64, "+=,.@-", "[\\w+=,.@-]*",
                  &a->source_identity));
    GUARD(mfa_params(in));
    return finish_session_members(a);
}

TR_RESULT sts_parse_web_assume(const struct form *in, struct sts_assume *a)
{
    GUARD(parse_session_members(in, a));
    return finish_session_members(a);
}

/* The packed size of session policies and tags, in percent of what a
 * session can carry.  AWS's packing (compression) is not public; our
 * measure is non-blank policy characters + policy ARNs + tag keys and
 * values against PACKED_BUDGET, so the largest inline policy the model
 * allows (2048 characters) alone fits.  Reported (PackedPolicySize) when
 * a session policy, a policy ARN or a tag was passed, as AWS describes
 * the member ("the packed size of the session policies and session tags
 * combined"). */
TR_RESULT sts_packed_size(struct sts_assume *a)
{
    if (!a->policy && !a->npolicy_arns && !a->ntags) return TR_OK;
    size_t bytes = packed_len(a->policy);
    for (size_t i = 0; i < a->npolicy_arns; i++) bytes += strlen(a->policy_arns[i]);
    for (size_t i = 0; i < a->ntags; i++) bytes += strlen(a->tag_keys[i]) + strlen(a->tag_values[i]);
    size_t pct = (bytes * 100 + PACKED_BUDGET - 1) / PACKED_BUDGET;
    if (pct == 0) pct = 1;
    if (pct > 100)
        BAIL(TR_E_STS_PACKED_POLICY_TOO_LARGE,
             "Packed policy consumes %zu%% of allotted space, please use smaller policy.", pct);
    a->packed_percent = (int)pct;
    return TR_OK;
}

/* ---- credentials --------------------------------------------------------- */

_Static_assert(STS_SECRET_LEN == SECRET_LEN, "sts.h and sts.c agree on the secret's length");
#define creds sts_creds           /* sts.h: the service sessions hand them out too */

static void creds_wipe(struct creds *c)
{
    secure_zero(c->secret, sizeof c->secret);
    buf_free(&c->token);
}

/* New temporary credentials; wipe with creds_wipe. */
static TR_RESULT creds_new(struct creds *c)
{
    uint8_t raw[TOKEN_RAW], digest[SHA256_LEN];
    const char *tok;
    memset(c, 0, sizeof *c);
    c->token = BUF_SECRET(4 * TOKEN_RAW / 3 + 8);
    GUARD(access_key_generate("ASIA", c->akid, c->secret));
    tr_result r = rand_bytes(raw, sizeof raw);
    if (tr_ok(r)) r = b64_encode(raw, sizeof raw, &c->token);
    secure_zero(raw, sizeof raw);
    if (tr_ok(r)) r = buf_cstr(&c->token, &tok);
    if (tr_ok(r)) r = sha256(tok, c->token.len, digest);
    if (tr_ok(r)) hex_encode(digest, sizeof digest, c->token_sha256);
    return r;
}

/* Store the session's access key: the secret wrapped under the root key,
 * the doc as given (it holds the token's hash, never the token). */
static TR_RESULT creds_store(struct req_ctx *rc, const struct creds *c, const char *account,
                             int type, const char *arn, const char *id, int64_t expires, json_t *doc)
{
    struct access_key_rec k = { 0 };
    char label[KEYRING_LABEL_MAX];
    tr_result r;

    GUARD(keyring_label_access_key(label, c->akid));
    STR_COPY_ARRAY(k.access_key_id, c->akid);
    GUARD(str_copy(k.account_id, sizeof k.account_id, account, "the account id"));
    k.principal_type = type;
    k.principal_arn = (char *)arn;
    k.principal_id = (char *)id;
    k.active = true;
    k.created = rc->now;
    k.expires = expires;
    k.wrapped_secret = BUF_INIT(512);
    k.doc = json_dumps(doc, JSON_COMPACT);
    if (!k.doc) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    r = keyring_wrap(rc->kr, label, (const uint8_t *)c->secret, SECRET_LEN, &k.wrapped_secret);
    if (tr_failed(r)) goto fail;
    r = rc->st[0]->access_key_put(rc->st, &k);
fail:
    free(k.doc);
    buf_free(&k.wrapped_secret);
    return r;
}

static void creds_xml(struct xml *out, const struct creds *c, int64_t expires)
{
    xml_open(out, "Credentials");
    xml_text(out, "AccessKeyId", c->akid);
    xml_text(out, "SecretAccessKey", c->secret);
    xml_text(out, "SessionToken", (const char *)c->token.data);
    xml_time(out, "Expiration", expires);
    xml_close(out, "Credentials");
}

/* ---- AssumeRole ---------------------------------------------------------- */

static bool temporary_caller(const struct req_ctx *rc)
{
    return rc->who.type == PRINCIPAL_ROLE_SESSION || strncmp(rc->who.access_key_id, "ASIA", 4) == 0;
}

/* The doc of the caller's session key (role chaining); NULL when none. */
static json_t *caller_session_doc(const struct req_ctx *rc)
{
    struct access_key_rec k = { 0 };
    if (rc->who.type != PRINCIPAL_ROLE_SESSION || !rc->who.access_key_id[0]) return NULL;
    if (tr_failed(rc->st[0]->access_key_get(rc->st, rc->who.access_key_id, &k))) return NULL;
    json_t *d = k.doc ? json_loads(k.doc, 0, NULL) : NULL;
    access_key_rec_free(&k);
    if (d && !json_is_object(d)) {
        json_decref(d);
        d = NULL;
    }
    return d;
}

/* Role chaining: what the calling session carries cannot be changed (see
 * the file comment).  a->source_identity becomes the carried one, which
 * points into `inherited` (the caller keeps it alive). */
static TR_RESULT chain_rules(struct sts_assume *a, json_t *inherited)
{
    size_t i;
    json_t *e, *itags = json_object_get(inherited, "tags");
    json_array_foreach(json_object_get(inherited, "transitive_tag_keys"), i, e) {
        const char *k = json_string_value(e);
        if (!k || !json_is_string(json_object_get(itags, k))) continue;
        a->carries_tags = true;
        for (size_t j = 0; j < a->ntags; j++)
            if (strcasecmp(a->tag_keys[j], k) == 0)
                BAIL(TR_E_STS_INVALID_PARAMETER_VALUE, "%s", TRANSITIVE_MSG);
    }
    const char *si = json_string_value(json_object_get(inherited, "source_identity"));
    if (!si) return TR_OK;
    if (a->source_identity && strcmp(a->source_identity, si) != 0)
        BAIL(TR_E_QUERY_VALIDATION, "%s", SOURCE_SET_MSG);
    a->source_identity = si;
    return TR_OK;
}

/* The condition keys AssumeRole adds (docs/AUTHORIZATION.md 6.1). */
TR_RESULT sts_assume_context(const struct sts_assume *a, struct ctx_builder *cb)
{
    GUARD(iam_ctx_add(cb, "sts:RoleSessionName", a->session_name));
    if (a->external_id) GUARD(iam_ctx_add(cb, "sts:ExternalId", a->external_id));
    if (a->source_identity) GUARD(iam_ctx_add(cb, "sts:SourceIdentity", a->source_identity));
    if (a->ntransitive) GUARD(iam_ctx_add_multi(cb, "sts:TransitiveTagKeys", a->transitive, a->ntransitive));
    for (size_t i = 0; i < a->ntags; i++)
        GUARD(iam_ctx_add_tag(cb, "aws:RequestTag/", a->tag_keys[i], a->tag_values[i]));
    if (a->ntags) GUARD(iam_ctx_add_multi(cb, "aws:TagKeys", a->tag_keys, a->ntags));
    return TR_OK;
}

/* The role's tags, as the Service Authorization Reference lists them for
 * its role resource type: aws:ResourceTag/<k> and iam:ResourceTag/<k>. */
TR_RESULT sts_role_tags_context(struct req_ctx *rc, const char *role_arn, struct ctx_builder *cb)
{
    struct tag_rec *tags = NULL;
    size_t n = 0;
    GUARD(rc->st[0]->tag_list(rc->st, role_arn, &tags, &n));
    tr_result r = iam_ctx_add_resource_tags(cb, tags, n, "aws:ResourceTag/", "iam:ResourceTag/");
    tag_list_free(tags, n);
    return r;
}

/* Authorize `action` on the role; STS's AccessDenied has no "because"
 * clause.  trust NULL: the role does not exist (deny, the same way). */
static TR_RESULT authorize_on_role(struct req_ctx *rc, const struct sts_assume *a, const char *action,
                                   const struct named_policy *trust, const struct ctx_builder *cb)
{
    struct eval_result res = { .decision = DECISION_IMPLICIT_DENY };
    if (trust) {
        struct authz_req ar = {
            .action = action, .resource = a->role_arn, .resource_account = a->role_account,
            .resource_policy = trust, .mode = RES_REQUIRED, .extra = cb->e, .nextra = cb->n,
            .no_fail = true,
        };
        GUARD(iam_authorize(rc, &ar, &res));
    }
    if (res.decision == DECISION_ALLOW) return TR_OK;
    BAIL(TR_E_IAM_ACCESS_DENIED, "User: %s is not authorized to perform: %s on resource: %.2048s",
         rc->who.arn, action, a->role_arn);
}

/* The session's access-key doc (IAM_STORE.md). */
static json_t *session_doc(const struct sts_assume *a, const struct creds *c, int64_t now,
                           bool chained, json_t *inherited)
{
    json_t *d = json_pack("{s:s, s:s, s:s, s:I, s:b, s:b}", "token_sha256", c->token_sha256,
                          "role_arn", a->role_arn, "session_name", a->session_name,
                          "issued", (json_int_t)now, "chained", chained, "mfa", 0);
    if (!d) return NULL;
    bool ok = true;
    if (a->policy) ok &= json_object_set_new(d, "policy", json_string(a->policy)) == 0;
    if (a->npolicy_arns) {
        json_t *v = json_array();
        for (size_t i = 0; v && i < a->npolicy_arns; i++)
            ok &= json_array_append_new(v, json_string(a->policy_arns[i])) == 0;
        ok &= v && json_object_set_new(d, "policy_arns", v) == 0;
    }
    /* Tags: inherited transitive tags first (they cannot be changed down
     * the chain, so they win over tags of the same key), then ours. */
    json_t *tags = json_object(), *trans = json_array();
    json_t *itags = json_object_get(inherited, "tags"), *itrans = json_object_get(inherited, "transitive_tag_keys");
    size_t i;
    json_t *e;
    json_array_foreach(itrans, i, e) {
        json_t *v = json_object_get(itags, json_string_value(e));
        if (!json_is_string(v) || !tags || !trans) continue;
        ok &= json_object_set(tags, json_string_value(e), v) == 0;
        ok &= json_array_append(trans, e) == 0;
    }
    for (i = 0; tags && i < a->ntags; i++)       /* none is carried: chain_rules */
        ok &= json_object_set_new(tags, a->tag_keys[i], json_string(a->tag_values[i])) == 0;
    for (i = 0; trans && i < a->ntransitive; i++)
        ok &= json_array_append_new(trans, json_string(a->transitive[i])) == 0;
    if (tags && json_object_size(tags)) ok &= json_object_set(d, "tags", tags) == 0;
    if (trans && json_array_size(trans)) ok &= json_object_set(d, "transitive_tag_keys", trans) == 0;
    json_decref(tags);
    json_decref(trans);
    ok &= tags && trans;
    if (a->source_identity)
        ok &= json_object_set_new(d, "source_identity", json_string(a->source_identity)) == 0;
    if (!ok) {
        json_decref(d);
        return NULL;
    }
    return d;
}

TR_RESULT sts_max_session_check(json_t *role_doc, int64_t duration)
{
    json_t *ms = json_object_get(role_doc, "max_session");
    int64_t max_session = json_is_integer(ms) ? (int64_t)json_integer_value(ms) : DEFAULT_DURATION;
    if (duration > max_session) BAIL(TR_E_QUERY_VALIDATION, "%s", MAX_SESSION_MSG);
    return TR_OK;
}

TR_RESULT sts_issue_session(struct req_ctx *rc, const struct sts_assume *a, const struct ent_rec *role,
                            bool chained, json_t *inherited, json_t *extra, struct xml *out)
{
    struct creds c = { 0 };
    json_t *doc = NULL;
    char session_arn[600], session_id[300];
    const char *key;
    json_t *v;
    tr_result r = str_format(session_arn, sizeof session_arn, "session ARN", "arn:aws:sts::%s:assumed-role/%s/%s",
                             role->account_id, role->name, a->session_name);
    if (tr_ok(r))
        r = str_format(session_id, sizeof session_id, "session id", "%s:%s", role->id, a->session_name);
    if (tr_ok(r)) r = creds_new(&c);
    if (tr_failed(r)) goto fail;
    doc = session_doc(a, &c, rc->now, chained, inherited);
    json_object_foreach(extra, key, v) if (doc && json_object_set(doc, key, v) != 0) {
        json_decref(doc);
        doc = NULL;
    }
    if (!doc) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    int64_t expires = rc->now + a->duration;
    r = creds_store(rc, &c, role->account_id, PRINCIPAL_ROLE_SESSION, session_arn, session_id, expires, doc);
    if (tr_failed(r)) goto fail;

    creds_xml(out, &c, expires);
    xml_open(out, "AssumedRoleUser");
    xml_text(out, "AssumedRoleId", session_id);
    xml_text(out, "Arn", session_arn);
    xml_close(out, "AssumedRoleUser");
    if (a->packed_percent) xml_int(out, "PackedPolicySize", a->packed_percent);
    if (a->source_identity) xml_text(out, "SourceIdentity", a->source_identity);
fail:
    creds_wipe(&c);
    json_decref(doc);
    return r;
}

static TR_RESULT op_assume_role(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    struct sts_assume a;
    struct ent_rec role = { 0 };
    struct policy *session_policy = NULL, *trust = NULL;
    struct named_policy trust_np = { 0 };
    struct ctx_builder *cb = NULL;
    json_t *rdoc = NULL, *inherited = NULL;
    char trust_name[2100];
    bool found = false;
    tr_result r;

    GUARD(sts_parse_assume(in, &a));
    if (rc->who.type == PRINCIPAL_ROOT) BAIL(TR_E_IAM_ACCESS_DENIED, "%s", ROOT_ASSUME_MSG);
    if (a.policy) {
        GUARD(policy_compile(a.policy, strlen(a.policy), POLICY_IDENTITY, &session_policy));
        policy_unref(session_policy);
        session_policy = NULL;
    }
    GUARD(sts_packed_size(&a));
    bool chained = rc->who.type == PRINCIPAL_ROLE_SESSION;
    if (chained && a.duration > CHAINED_MAX) BAIL(TR_E_QUERY_VALIDATION, "%s", ROLE_CHAINING_MSG);
    inherited = caller_session_doc(rc);
    r = chain_rules(&a, inherited);
    if (tr_failed(r)) goto fail;

    /* The role and its trust policy. */
    r = rc->st[0]->ent_get_arn(rc->st, "role", a.role_arn, &role);
    found = tr_ok(r);
    if (tr_failed(r) && tr_code(r) != TR_E_STORE_NOT_FOUND) goto fail;
    if (found) {
        rdoc = json_loads(role.doc ? role.doc : "{}", 0, NULL);
        const char *text = json_string_value(json_object_get(rdoc, "trust"));
        const char *ids = json_string_value(json_object_get(rdoc, "trust_ids"));
        if (!text) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "role without a trust policy"); goto fail; }
        /* One that no longer compiles denies (docs/AUTHORIZATION.md 2.9). */
        r = policy_cache_get_stored(text, strlen(text), POLICY_TRUST, ids, role.arn, &trust);
        if (tr_failed(r)) goto fail;
        snprintf(trust_name, sizeof trust_name, "trust:%s", role.arn);    /* fits: a role ARN, 606 at most */
        trust_np = (struct named_policy){ .p = trust, .name = trust_name };
    }

    /* Authorization: the trust policy and the caller's identity side. */
    cb = calloc(1, sizeof *cb);
    if (!cb) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    r = sts_assume_context(&a, cb);
    if (tr_ok(r) && found) r = sts_role_tags_context(rc, role.arn, cb);
    if (tr_failed(r)) goto fail;
    const struct named_policy *tp = found ? &trust_np : NULL;
    r = authorize_on_role(rc, &a, rc->op->action, tp, cb);
    if (tr_ok(r) && (a.ntags || a.carries_tags)) r = authorize_on_role(rc, &a, "sts:TagSession", tp, cb);
    if (tr_ok(r) && a.source_identity) r = authorize_on_role(rc, &a, "sts:SetSourceIdentity", tp, cb);
    if (tr_failed(r)) goto fail;

    r = sts_max_session_check(rdoc, a.duration);
    if (tr_failed(r)) goto fail;

    /* The session. */
    r = sts_issue_session(rc, &a, &role, chained, inherited, NULL, out);
    if (tr_failed(r)) goto fail;
    r = TR_OK;
fail:
    json_decref(inherited);
    json_decref(rdoc);
    if (cb) {
        iam_ctx_free(cb);
        free(cb);
    }
    if (trust) policy_unref(trust);
    ent_rec_free(&role);
    return r;
}

/* ---- GetSessionToken ------------------------------------------------------ */

static TR_RESULT op_get_session_token(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    struct creds c = { 0 };
    json_t *doc = NULL;
    bool has_duration = false;
    int64_t duration = 0;
    tr_result r;

    GUARD(form_int(in, "DurationSeconds", false, 900, 129600, &has_duration, &duration));
    GUARD(mfa_params(in));
    if (temporary_caller(rc)) BAIL(TR_E_IAM_ACCESS_DENIED, "%s", SESSION_CREDS_MSG);
    bool root = rc->who.type == PRINCIPAL_ROOT;
    if (!has_duration) duration = root ? ROOT_SESSION_MAX : GST_DEFAULT;
    /* Root sessions are capped at an hour, silently (AWS). */
    if (root && duration > ROOT_SESSION_MAX) duration = ROOT_SESSION_MAX;

    r = creds_new(&c);
    if (tr_failed(r)) goto fail;
    doc = json_pack("{s:s, s:I, s:b}", "token_sha256", c.token_sha256, "issued", (json_int_t)rc->now,
                    "mfa", 0);
    if (!doc) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    int64_t expires = rc->now + duration;
    r = creds_store(rc, &c, rc->who.account_id, rc->who.type, rc->who.arn, rc->who.id, expires, doc);
    if (tr_failed(r)) goto fail;
    creds_xml(out, &c, expires);
    r = TR_OK;
fail:
    creds_wipe(&c);
    json_decref(doc);
    return r;
}

/* ---- sessions for a service ------------------------------------------------ */

/* Does the statement's Principal name the service (a string or a list
 * under "Service"), or everyone ("*")? */
static bool names_service(json_t *st, const char *service)
{
    json_t *p = json_object_get(st, "Principal"), *v, *e;
    size_t i;
    if (json_is_string(p)) return strcmp(json_string_value(p), "*") == 0;
    v = json_object_get(p, "Service");
    if (json_is_string(v)) return strcmp(json_string_value(v), service) == 0;
    json_array_foreach(v, i, e)
        if (json_is_string(e) && strcmp(json_string_value(e), service) == 0) return true;
    return false;
}

static bool names_action(json_t *st, const char *action)
{
    json_t *a = json_object_get(st, "Action"), *e;
    size_t i;
    if (json_is_string(a)) return policy_action_match(json_string_value(a), action);
    json_array_foreach(a, i, e)
        if (json_is_string(e) && policy_action_match(json_string_value(e), action)) return true;
    return false;
}

/* The trust policy's answer for `service` asking sts:AssumeRole: allowed
 * by a statement without conditions (the service's request carries none
 * of the caller's keys), and denied by none. */
static bool trust_allows_service(const char *trust, const char *service)
{
    json_t *doc = json_loads(trust, 0, NULL), *sts = json_object_get(doc, "Statement"), *st;
    bool allow = false, deny = false;
    size_t i;
    if (json_is_object(sts)) {
        json_t *one = json_array();
        json_array_append(one, sts);
        sts = one;
    } else {
        json_incref(sts);
    }
    json_array_foreach(sts, i, st) {
        const char *eff = json_string_value(json_object_get(st, "Effect"));
        if (!eff || !names_service(st, service) || !names_action(st, "sts:AssumeRole")) continue;
        if (strcmp(eff, "Deny") == 0) deny = true;
        else if (strcmp(eff, "Allow") == 0 && !json_object_get(st, "Condition")) allow = true;
    }
    json_decref(sts);
    json_decref(doc);
    return allow && !deny;
}

TR_RESULT sts_service_session(struct req_ctx *rc, const char *role_arn, const char *service,
                              const char *session_name, int64_t duration, struct sts_creds *out)
{
    struct ent_rec role = { 0 };
    json_t *rdoc = NULL, *doc = NULL;
    char session_arn[600], session_id[300];
    tr_result r;

    memset(out, 0, sizeof *out);
    r = rc->st[0]->ent_get_arn(rc->st, "role", role_arn, &role);
    if (tr_failed(r)) goto fail;
    rdoc = json_loads(role.doc ? role.doc : "{}", 0, NULL);
    const char *text = json_string_value(json_object_get(rdoc, "trust"));
    if (!text || !trust_allows_service(text, service)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_ACCESS_DENIED, "the trust policy of %s does not allow %s",
                       role_arn, service);
        goto fail;
    }
    r = str_format(session_arn, sizeof session_arn, "session ARN", "arn:aws:sts::%s:assumed-role/%s/%s",
                   role.account_id, role.name, session_name);
    if (tr_ok(r)) r = str_format(session_id, sizeof session_id, "session id", "%s:%s", role.id, session_name);
    if (tr_ok(r)) r = creds_new(out);
    if (tr_failed(r)) goto fail;
    doc = json_pack("{s:s, s:s, s:s, s:I, s:b, s:b, s:s}", "token_sha256", out->token_sha256,
                    "role_arn", role.arn, "session_name", session_name, "issued", (json_int_t)rc->now,
                    "chained", 0, "mfa", 0, "service", service);
    if (!doc) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    r = creds_store(rc, out, role.account_id, PRINCIPAL_ROLE_SESSION, session_arn, session_id,
                    rc->now + duration, doc);
fail:
    if (tr_failed(r)) creds_wipe(out);
    json_decref(doc);
    json_decref(rdoc);
    ent_rec_free(&role);
    return r;
}

void sts_creds_wipe(struct sts_creds *c)
{
    creds_wipe(c);
}

/* ---- maintenance ---------------------------------------------------------- */

TR_RESULT iam_maintenance(const struct server_env *env, int64_t now)
{
    store_t st = env->st;
    /* Once per process, before the server serves: bind the principals of
     * policies and grants saved before bindings existed
     * (docs/internals/IAM_STORE.md); retried at the next pass if it fails. */
    static atomic_bool bound_stored;
    if (!atomic_load(&bound_stored)) {
        size_t n = 0;
        GUARD(iam_bind_stored(st, &n));
        if (n) log_msg("info", "bound the principals of %zu policies and grants saved by an older tresor", n);
        atomic_store(&bound_stored, true);
    }
    GUARD(st[0]->tx_begin(st));
    tr_result r = st[0]->access_key_purge_expired(st, now - STS_EXPIRED_GRACE, now - STS_TOMBSTONE_KEEP);
    if (tr_ok(r)) r = st[0]->tx_commit(st);
    if (tr_failed(r)) st[0]->tx_rollback(st);
    /* GetAccessKeyLastUsed's records of the last period (key_last_used.c). */
    size_t written = 0;
    tr_result u = key_used_flush(st, &written);
    return tr_ok(r) ? u : r;
}

/* ---- the operation table (sts_ops.def) and the service -------------------- */

const struct op_def sts_ops[] = {
#define OP(name, handler, flags) OP_QUERY_ROW(#name, "sts:" #name, handler, flags),
#include "iam/sts_ops.def"
    { 0 },
};

const struct op_service sts_service = {
    .name = "sts", .proto = OP_QUERY, .ops = sts_ops, .internal_error = "InternalFailure",
    .xmlns = "https://sts.amazonaws.com/doc/2011-06-15/", .version = "2011-06-15",
};
