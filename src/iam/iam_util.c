/*
 * iam_util.c -- unique ids, ARNs, request parameters, entity documents,
 * policy-document checks and paging for the IAM operations (iam_util.h).
 *
 * Parameters are attacker-controlled form values: every length and
 * pattern of the botocore model is checked here before a handler uses a
 * value, with AWS's ValidationError wording ("1 validation error
 * detected: Value 'x' at 'userName' failed to satisfy constraint: Member
 * must satisfy regular expression pattern: [\w+=,.@-]+").  The patterns
 * are matched by hand (no regex engine): each is a small character class
 * plus a structural rule.
 *
 * Unique ids are AWS's shape (IAM reference_identifiers: a 4-letter type
 * prefix and 17 characters of [A-Z2-7]).
 */
#include "iam/iam_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/secmem.h"
#include "core/str.h"
#include "core/utf8.h"
#include "crypto/rand.h"
#include "iam/authz.h"
#include "iam/policy.h"
#include "iam/principals.h"

#define BASE32 "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

/* ---- ids and ARNs ------------------------------------------------------ */

TR_RESULT iam_new_id(const char *prefix, char out[IAM_ID_LEN + 1])
{
    ENSURE(strlen(prefix) == 4, TR_E_INTERNAL);
    memcpy(out, prefix, 4);
    return rand_chars(out + 4, IAM_ID_LEN - 4, BASE32);
}

TR_RESULT iam_arn(const char *account, const char *type, const char *path, const char *name,
                  char out[IAM_ARN_MAX])
{
    /* The store's kinds are at most 15 bytes; the ARN says "instance-profile". */
    if (strcmp(type, IAM_INSTANCE_PROFILE) == 0) type = "instance-profile";
    int n = snprintf(out, IAM_ARN_MAX, "arn:aws:iam::%s:%s%s%s", account, type,
                     path && *path ? path : "/", name);
    ENSURE(n > 0 && n < IAM_ARN_MAX, TR_E_INTERNAL);
    return TR_OK;
}

const char *iam_arn_name(const char *arn)
{
    const char *slash = strrchr(arn, '/');
    return slash ? slash + 1 : arn;
}

/* ---- parameters -------------------------------------------------------- */

tr_result (iam_invalid_repr)(const char *key, const char *repr, const char *constraint)
{
    char msg[TR_ERR_MSG_MAX];
    tr_result r = json_invalid(key, repr, constraint);
    (void)r;
    snprintf(msg, sizeof msg, "%s", tr_last_error()->message);     /* fits: a message, as large */
    return tr_fail_at(__FILE__, __LINE__, TR_E_QUERY_VALIDATION, "%s", msg);
}

tr_result (iam_invalid)(const char *key, const char *value, const char *constraint)
{
    char q[300];
    snprintf(q, sizeof q, "'%.256s'", value);  /* fits: 256 and two quotes */
    return iam_invalid_repr(key, q, constraint);
}

static bool name_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           strchr("_+=,.@-", c) != NULL;
}

TR_RESULT iam_param_name(const struct form *in, const char *key, bool required, size_t max_len,
                         const char **out)
{
    GUARD(form_str(in, key, required, 1, max_len, out));
    if (!*out) return TR_OK;
    for (const unsigned char *p = (const unsigned char *)*out; *p; p++)
        if (!name_char(*p))
            return iam_invalid(key, *out, "Member must satisfy regular expression pattern: "
                                          "[\\w+=,.@-]+");
    return TR_OK;
}

/* (\u002F)|(\u002F[\u0021-\u007E]+\u002F) */
static bool path_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 1) return s[0] == '/';
    if (n < 3 || s[0] != '/' || s[n - 1] != '/') return false;
    for (size_t i = 1; i + 1 < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7E) return false;
    return true;
}

/* \u002F[\u0021-\u007F]* */
static bool path_prefix_ok(const char *s)
{
    bool ok = s[0] == '/';
    for (const unsigned char *p = (const unsigned char *)s; ok && *p; p++)
        ok = *p >= 0x21 && *p <= 0x7F;
    return ok;
}

/* An optional path parameter of 1..512 characters: "/" when absent and
 * dflt, else NULL; one that ok() refuses is a ValidationError citing
 * `pattern`. */
static TR_RESULT path_param(const struct form *in, const char *key, bool dflt,
                            bool (*ok)(const char *s), const char *pattern, const char **out)
{
    GUARD(form_str(in, key, false, 1, 512, out));
    if (!*out) {
        if (dflt) *out = "/";
        return TR_OK;
    }
    if (!ok(*out)) return iam_invalid(key, *out, pattern);
    return TR_OK;
}

TR_RESULT iam_param_path(const struct form *in, const char *key, bool dflt, const char **out)
{
    return path_param(in, key, dflt, path_ok, "Member must satisfy regular expression pattern: "
                      "(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)", out);
}

TR_RESULT iam_param_path_prefix(const struct form *in, const char *key, const char **out)
{
    return path_param(in, key, false, path_prefix_ok, "Member must satisfy regular expression "
                      "pattern: \\u002F[\\u0021-\\u007F]*", out);
}

/* ((/[A-Za-z0-9\.,\+@=_-]+)*)/ : non-empty segments between slashes. */
static bool policy_path_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || s[0] != '/' || s[n - 1] != '/') return false;
    for (size_t i = 0; i + 1 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '/') {
            if (s[i + 1] == '/') return false;
            continue;
        }
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  strchr(".,+@=_-", c) != NULL;
        if (!ok) return false;
    }
    return true;
}

TR_RESULT iam_param_policy_path(const struct form *in, const char *key, bool dflt,
                                const char **out)
{
    return path_param(in, key, dflt, policy_path_ok, "Member must satisfy regular expression "
                      "pattern: ((/[A-Za-z0-9\\.,\\+@=_-]+)*)/", out);
}

TR_RESULT iam_check_document_chars(const char *key, const char *doc)
{
    static const struct utf8_range DOC_CHARS[] = { { 0x09, 0x0A }, { 0x0D, 0x0D }, { 0x20, 0xFF } };
    if (!utf8_in_class(doc, DOC_CHARS, sizeof DOC_CHARS / sizeof DOC_CHARS[0]))
        return iam_invalid(key, doc, "Member must satisfy regular expression pattern: "
                                     "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+");
    return TR_OK;
}

TR_RESULT iam_param_document(const struct form *in, const char *key, const char **out)
{
    GUARD(form_str(in, key, true, 1, 131072, out));
    return iam_check_document_chars(key, *out);
}

TR_RESULT iam_param_arn(const struct form *in, const char *key, bool required, const char **out)
{
    return form_str(in, key, required, 20, 2048, out);
}

TR_RESULT iam_param_policy_arn(const struct form *in, const char *key, const char **out)
{
    GUARD(iam_param_arn(in, key, true, out));
    const char *s = *out, *rest = s + 13;
    bool ok = strncmp(s, "arn:aws:iam::", 13) == 0;
    if (ok && strncmp(rest, "aws:", 4) == 0) {
        rest += 4;
    } else if (ok) {
        for (int i = 0; i < ACCOUNT_ID_LEN && ok; i++) ok = rest[i] >= '0' && rest[i] <= '9';
        ok = ok && rest[ACCOUNT_ID_LEN] == ':';
        rest += ok ? ACCOUNT_ID_LEN + 1 : 0;
    }
    if (!ok || strncmp(rest, "policy/", 7) != 0 || !rest[7])
        BAIL(TR_E_IAM_INVALID_INPUT, "ARN %s is not valid.", s);
    return TR_OK;
}

/* v[1-9][0-9]*(\.[A-Za-z0-9-]*)? */
static bool version_ok(const char *s)
{
    if (s[0] != 'v' || s[1] < '1' || s[1] > '9') return false;
    const char *p = s + 2;
    while (*p >= '0' && *p <= '9') p++;
    if (!*p) return true;
    if (*p++ != '.') return false;
    for (; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '-'))
            return false;
    return true;
}

TR_RESULT iam_param_version(const struct form *in, const char *key, const char **out)
{
    GUARD(form_str(in, key, true, 0, 128, out));
    if (!version_ok(*out))
        return iam_invalid(key, *out, "Member must satisfy regular expression pattern: "
                                      "v[1-9][0-9]*(\\.[A-Za-z0-9-]*)?");
    return TR_OK;
}

/* ---- policy documents -------------------------------------------------- */

size_t iam_policy_size(const char *text)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') continue;
        if ((*p & 0xC0) != 0x80) n++;
    }
    return n;
}

static TR_RESULT check_principal(void *arg, const char *principal)
{
    bool exists = strcmp(principal, "*") == 0;
    if (!exists) GUARD(iam_principal_exists((store_t)arg, principal, &exists));
    if (!exists)
        BAIL(TR_E_POLICY_MALFORMED, "Invalid principal in policy: \"AWS\":\"%s\"", principal);
    return TR_OK;
}

struct federated_check {
    store_t st;
    const char *account;
};

/* A Federated principal that is an OIDC provider ARN of the role's own
 * account must name a provider that exists (AWS refuses the trust policy
 * otherwise, as it does an AWS principal that names nothing).  Providers
 * of other accounts, SAML providers and domain names are not looked up. */
static TR_RESULT check_federated(void *arg, const char *principal)
{
    const struct federated_check *c = arg;
    char prefix[IAM_ARN_MAX];
    GUARD(str_format(prefix, sizeof prefix, "the provider ARN prefix", "arn:aws:iam::%s:%s/",
                     c->account, IAM_OIDC_PROVIDER));
    if (strncmp(principal, prefix, strlen(prefix)) != 0) return TR_OK;
    struct ent_rec e = { 0 };
    tr_result r = c->st[0]->ent_get_arn(c->st, IAM_OIDC_PROVIDER, principal, &e);
    ent_rec_free(&e);
    if (tr_ok(r)) return TR_OK;
    if (tr_code(r) != TR_E_STORE_NOT_FOUND) return r;
    BAIL(TR_E_POLICY_MALFORMED, "Invalid principal in policy: \"Federated\":\"%s\"", principal);
}

TR_RESULT iam_policy_validate(store_t st, const char *account, const char *text, enum policy_kind kind)
{
    struct policy *p = NULL;
    GUARD(policy_compile(text, strlen(text), kind, &p));
    tr_result r = TR_OK;
    if (kind == POLICY_TRUST) r = policy_each_aws_principal(p, check_principal, (void *)st);
    struct federated_check fc = { st, account };
    if (tr_ok(r) && kind == POLICY_TRUST && account)
        r = policy_each_federated_principal(p, check_federated, &fc);
    policy_unref(p);
    return r;
}

/* ---- entity documents -------------------------------------------------- */

json_t *iam_doc(const struct ent_rec *e)
{
    json_t *d = NULL;
    if (e->doc && *e->doc) d = json_loads(e->doc, 0, NULL);
    if (d && !json_is_object(d)) {
        json_decref(d);
        d = NULL;
    }
    return d ? d : json_object();
}

const char *iam_doc_str(json_t *doc, const char *key)
{
    json_t *v = doc ? json_object_get(doc, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

TR_RESULT iam_doc_store(struct ent_rec *e, json_t *doc)
{
    char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    ENSURE(s != NULL, TR_E_INTERNAL);
    free(e->doc);
    e->doc = s;
    return TR_OK;
}

TR_RESULT iam_boundary_of(const struct ent_rec *e, char out[IAM_ARN_MAX])
{
    out[0] = '\0';
    json_t *d = iam_doc(e);
    const char *b = iam_doc_str(d, "boundary");
    tr_result r = b ? str_copy(out, IAM_ARN_MAX, b, "the permissions boundary") : TR_OK;
    json_decref(d);
    return r;
}

/* ---- paging ------------------------------------------------------------ */

TR_RESULT iam_page_params(const struct form *in, struct iam_page *pg)
{
    bool present = false;
    int64_t max = 100;
    GUARD(form_int(in, "MaxItems", false, 1, 1000, &present, &max));
    pg->max = (size_t)max;
    GUARD(form_str(in, "Marker", false, 1, 320, &pg->marker));
    /* The model's markerType pattern [\u0020-\u00FF]+. */
    static const struct utf8_range MARKER_CHARS[] = { { 0x20, 0xFF } };
    if (pg->marker && !utf8_in_class(pg->marker, MARKER_CHARS, 1))
        return iam_invalid("Marker", pg->marker,
                           "Member must satisfy regular expression pattern: [\\u0020-\\u00FF]+");
    return TR_OK;
}

void iam_page_end(struct xml *x, bool truncated, const char *next)
{
    xml_bool(x, "IsTruncated", truncated);
    if (truncated && next) xml_text(x, "Marker", next);
}

TR_RESULT iam_page_write(struct req_ctx *rc, struct xml *x, const char *tag,
                         const struct iam_page *pg, size_t first, size_t n, iam_item_writer fn,
                         void *arg)
{
    const char *last = NULL;
    size_t i = first, shown = 0;
    tr_result r = TR_OK;
    xml_open(x, tag);
    for (; i < n && shown < pg->max && tr_ok(r); i++, shown++) r = fn(rc, x, arg, i, &last);
    xml_close(x, tag);
    GUARD(r);
    iam_page_end(x, i < n, last);
    return TR_OK;
}
