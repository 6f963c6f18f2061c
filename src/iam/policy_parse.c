/*
 * policy_parse.c -- policy documents (JSON, via jansson) to the compiled
 * form of policy_internal.h, with IAM's validation and messages.
 *
 * Spec: docs/AUTHORIZATION.md 3.1 (documents), 3.2 (actions, resources),
 * 3.3 (principals, NotPrincipal), 3.4 - 3.7 (conditions, variables), 4.1
 * (key policies);
 * messages from IAM's MalformedPolicyDocument replies as captured in
 * public test suites and issue threads:
 *   invalid JSON, duplicate members  "This policy contains invalid Json"
 *   structure, unknown elements,
 *   bad Version/Effect, both X and NotX  "Syntax errors in policy."
 *   Principal in an identity policy  "Policy document should not specify a principal."
 *   no Principal elsewhere           "Missing required field Principal"
 *   no Action                        "Policy statement must contain actions."
 *   no Resource                      "Policy statement must contain resources."
 *   action/condition key w/o vendor  "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
 *   bad vendor                       "Vendor <v> is not valid"
 *   resource not an ARN              "Resource <r> must be in ARN format or \"*\"."
 *   ARN with too few fields          "The policy failed legacy parsing"
 *   unknown partition                "Partition \"<p>\" is not valid for resource \"<r>\"."
 *   bad AWS principal                "Invalid principal in policy: \"AWS\":\"<p>\""
 *   unknown condition operator       "Invalid Condition type : <op>"
 *   IAM Sid rules (identity, trust)  "Statement IDs (SID) must be alpha-numeric. ..." /
 *                                    "Statement IDs (SID) in a single policy must be unique."
 * Our own wording where AWS's is not public: NotPrincipal in a trust
 * policy ("Has prohibited field NotPrincipal", the console's phrasing),
 * NotPrincipal with Allow.  Size limits are the callers' (they differ per
 * service).  The compiled form lives in one arena freed with the policy.
 */
#include "iam/policy_internal.h"

#include <jansson.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "iam/arn.h"

#define MALFORMED(...) BAIL(TR_E_POLICY_MALFORMED, __VA_ARGS__)
#define MSG_SYNTAX "Syntax errors in policy."
#define MSG_VENDOR "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."

/* ---- arena --------------------------------------------------------------- */

struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
};

struct arena {
    struct arena_block *head;
};

#define ARENA_BLOCK 4096

void *arena_alloc(struct arena *a, size_t n)
{
    const size_t al = alignof(max_align_t);
    n = (n + al - 1) & ~(al - 1);
    if (n == 0) n = al;
    struct arena_block *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        b = calloc(1, sizeof *b + cap);
        if (!b) return NULL;
        b->cap = cap;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n, bool lower)
{
    char *d = arena_alloc(a, n + 1);
    if (!d) return NULL;
    for (size_t i = 0; i < n; i++)
        d[i] = (lower && s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
    d[n] = '\0';
    return d;
}

static void arena_free(struct arena *a)
{
    if (!a) return;
    struct arena_block *b = a->head;
    while (b) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

/* ---- helpers ------------------------------------------------------------- */

static bool only_members(json_t *obj, const char *const *allowed)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++) ok = strcmp(*a, k) == 0;
        if (!ok) return false;
    }
    return true;
}

/* A string or a non-empty array of strings; *n elements.  Empty arrays
 * give *n == 0 (callers word that error). */
static TR_RESULT str_list(json_t *v, size_t *n)
{
    if (json_is_string(v)) {
        *n = 1;
        return TR_OK;
    }
    if (!json_is_array(v)) MALFORMED(MSG_SYNTAX);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
        if (!json_is_string(e)) MALFORMED(MSG_SYNTAX);
    *n = json_array_size(v);
    return TR_OK;
}

static json_t *list_at(json_t *v, size_t i)
{
    return json_is_array(v) ? json_array_get(v, i) : v;
}

/* A statement's Action or Resource list v: n strings, at least one (else
 * "Policy statement must contain <what>."), and room in the arena for n
 * compiled elements of `size` bytes each. */
static TR_RESULT stmt_list(struct arena *a, json_t *v, const char *what, size_t size, size_t *n,
                           void **elems)
{
    GUARD(str_list(v, n));
    if (*n == 0) MALFORMED("Policy statement must contain %s.", what);
    *elems = arena_alloc(a, *n * size);
    ENSURE(*elems, TR_E_INTERNAL);
    return TR_OK;
}

/* ---- actions ------------------------------------------------------------- */

static bool vendor_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '*' || c == '?';
}

static TR_RESULT compile_action(struct arena *a, const char *s, size_t n, struct action_pat *out)
{
    if (n == 1 && s[0] == '*') {
        out->all = true;
        return TR_OK;
    }
    const char *colon = memchr(s, ':', n);
    if (!colon) MALFORMED(MSG_VENDOR);
    size_t vl = (size_t)(colon - s);
    for (size_t i = 0; i < vl; i++)
        if (!vendor_char(s[i])) MALFORMED("Vendor %.*s is not valid", (int)vl, s);
    if (vl == 0) MALFORMED("Vendor  is not valid");
    ENSURE(n < UINT32_MAX, TR_E_POLICY_MALFORMED);
    char *low = arena_strndup(a, s, n, true);
    ENSURE(low, TR_E_INTERNAL);
    out->svc = low;
    out->svclen = (uint32_t)vl;
    out->name = low + vl + 1;
    out->namelen = (uint32_t)(n - vl - 1);
    out->svc_wild = memchr(s, '*', vl) || memchr(s, '?', vl);
    return TR_OK;
}

static TR_RESULT compile_actions(struct arena *a, json_t *v, struct stmt *st)
{
    size_t n;
    void *elems;
    GUARD(stmt_list(a, v, "actions", sizeof *st->actions, &n, &elems));
    st->actions = elems;
    for (size_t i = 0; i < n; i++) {
        json_t *e = list_at(v, i);
        GUARD(compile_action(a, json_string_value(e), json_string_length(e), &st->actions[i]));
    }
    st->nactions = n;
    return TR_OK;
}

/* ---- resources ----------------------------------------------------------- */

/* vars: the document substitutes policy variables (Version 2012-10-17).
 * A variable may stand only in the resource part, after the fifth colon
 * (IAM guide, policy variables: "You can't use a variable to replace parts
 * of the ARN before the fifth colon, such as the service or account");
 * IAM refuses a document with one before it as "The policy failed legacy
 * parsing", and so does tresor, for every kind of document
 * (docs/AUTHORIZATION.md 3.7).  Splitting at colons finds it whatever the
 * variable's own colons do: "${aws:PrincipalAccount}" leaves "${aws" in
 * one of the first five parts. */
static TR_RESULT check_resource(const char *s, size_t n, bool vars)
{
    if (n == 1 && s[0] == '*') return TR_OK;
    if (!memchr(s, ':', n) || n < 4 || memcmp(s, "arn:", 4) != 0)
        MALFORMED("Resource %s must be in ARN format or \"*\".", s);
    struct arn_parts ap;
    if (!arn_split(s, n, &ap)) MALFORMED("The policy failed legacy parsing");
    for (size_t i = 0; vars && i < 5; i++)
        if (memmem(ap.part[i], ap.len[i], "${", 2)) MALFORMED("The policy failed legacy parsing");
    const char *p = ap.part[1];
    size_t pl = ap.len[1];
    bool wild = memchr(p, '*', pl) || memchr(p, '?', pl) || memchr(p, '$', pl);
    if (!wild && !arn_partition_valid(p, pl))
        MALFORMED("Partition \"%.*s\" is not valid for resource \"%s\".", (int)pl, p, s);
    return TR_OK;
}

static TR_RESULT compile_resources(struct arena *a, json_t *v, bool vars, struct stmt *st)
{
    size_t n;
    void *elems;
    GUARD(stmt_list(a, v, "resources", sizeof *st->resources, &n, &elems));
    st->resources = elems;
    for (size_t i = 0; i < n; i++) {
        json_t *e = list_at(v, i);
        const char *s = json_string_value(e);
        size_t len = json_string_length(e);
        GUARD(check_resource(s, len, vars));
        GUARD(pat_compile(a, s, len, true, vars, &st->resources[i]));
    }
    st->nresources = n;
    st->has_resource = true;
    return TR_OK;
}

/* ---- principals ---------------------------------------------------------- */

static bool unique_id(const char *s, size_t n)
{
    if (n < 16 || n > 128 || s[0] != 'A') return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9'))) return false;
    return true;
}

static bool has_prefix(const char *s, size_t n, const char *pre)
{
    size_t k = strlen(pre);
    return n >= k && memcmp(s, pre, k) == 0;
}

/* Components "a/b" after the prefix: both non-empty, no further '/'. */
static bool two_names(const char *s, size_t n)
{
    const char *slash = memchr(s, '/', n);
    if (!slash || slash == s) return false;
    size_t rest = n - (size_t)(slash - s) - 1;
    return rest > 0 && !memchr(slash + 1, '/', rest);
}

/* Classify an ARN principal; false when it is not one. */
static bool classify_arn(const char *s, size_t n, struct principal_ent *pe)
{
    struct arn_parts ap;
    if (memchr(s, '*', n) || memchr(s, '?', n)) return false;
    if (!arn_split(s, n, &ap) || ap.len[0] != 3 || memcmp(ap.part[0], "arn", 3) != 0) return false;
    if (!arn_partition_valid(ap.part[1], ap.len[1]) || ap.len[3] != 0) return false;
    if (!arn_account_id(ap.part[4], ap.len[4])) return false;
    memcpy(pe->account, ap.part[4], 12);
    pe->account[12] = '\0';
    const char *r = ap.part[5];
    size_t rl = ap.len[5];
    bool iam = ap.len[2] == 3 && memcmp(ap.part[2], "iam", 3) == 0;
    bool sts = ap.len[2] == 3 && memcmp(ap.part[2], "sts", 3) == 0;
    if (iam && rl == 4 && memcmp(r, "root", 4) == 0) pe->kind = PE_ACCOUNT;
    else if (iam && has_prefix(r, rl, "user/") && rl > 5) pe->kind = PE_USER;
    else if (iam && has_prefix(r, rl, "role/") && rl > 5) pe->kind = PE_ROLE;
    else if (sts && has_prefix(r, rl, "assumed-role/") && two_names(r + 13, rl - 13)) pe->kind = PE_SESSION;
    else if (sts && has_prefix(r, rl, "federated-user/") && rl > 15) pe->kind = PE_FEDERATED_USER;
    else return false;
    return true;
}

static TR_RESULT classify_aws(const char *s, size_t n, struct principal_ent *pe)
{
    if (n == 1 && s[0] == '*') {
        pe->kind = PE_EVERYONE;
    } else if (arn_account_id(s, n)) {
        pe->kind = PE_ACCOUNT;
        memcpy(pe->account, s, 12);
    } else if (unique_id(s, n)) {
        pe->kind = PE_UNIQUE_ID;
    } else if (!classify_arn(s, n, pe)) {
        MALFORMED("Invalid principal in policy: \"AWS\":\"%s\"", s);
    }
    return TR_OK;
}

static TR_RESULT principal_type(const char *k, enum pe_kind *kind)
{
    if (strcmp(k, "AWS") == 0) *kind = PE_ACCOUNT;   /* refined per value */
    else if (strcmp(k, "Service") == 0) *kind = PE_SERVICE;
    else if (strcmp(k, "Federated") == 0) *kind = PE_FEDERATED;
    else if (strcmp(k, "CanonicalUser") == 0) *kind = PE_CANONICAL;
    else MALFORMED("Invalid principal in policy: \"%s\"", k);
    return TR_OK;
}

static TR_RESULT count_principals(json_t *v, size_t *total)
{
    const char *k;
    json_t *vals;
    size_t n;
    *total = 0;
    if (json_is_string(v)) {
        if (strcmp(json_string_value(v), "*") != 0)
            MALFORMED("Invalid principal in policy: \"%s\"", json_string_value(v));
        *total = 1;
        return TR_OK;
    }
    if (!json_is_object(v) || json_object_size(v) == 0) MALFORMED(MSG_SYNTAX);
    json_object_foreach(v, k, vals) {
        enum pe_kind kind;
        GUARD(principal_type(k, &kind));
        GUARD(str_list(vals, &n));
        if (n == 0) MALFORMED(MSG_SYNTAX);
        *total += n;
    }
    return TR_OK;
}

static TR_RESULT compile_principals(struct arena *a, json_t *v, struct stmt *st)
{
    size_t total, k = 0, n;
    const char *key;
    json_t *vals;
    GUARD(count_principals(v, &total));
    st->principals = arena_alloc(a, total * sizeof *st->principals);
    ENSURE(st->principals, TR_E_INTERNAL);
    st->nprincipals = total;
    if (json_is_string(v)) {
        st->principals[0] = (struct principal_ent){ .kind = PE_EVERYONE, .value = "*" };
        return TR_OK;
    }
    json_object_foreach(v, key, vals) {
        enum pe_kind kind;
        GUARD(principal_type(key, &kind));
        GUARD(str_list(vals, &n));
        for (size_t i = 0; i < n; i++, k++) {
            json_t *e = list_at(vals, i);
            struct principal_ent *pe = &st->principals[k];
            const char *s = json_string_value(e);
            size_t len = json_string_length(e);
            if (len == 0) MALFORMED("Invalid principal in policy: \"%s\":\"\"", key);
            pe->kind = kind;
            if (kind == PE_ACCOUNT) GUARD(classify_aws(s, len, pe));
            pe->value = arena_strndup(a, s, len, false);
            ENSURE(pe->value, TR_E_INTERNAL);
        }
    }
    return TR_OK;
}

static TR_RESULT statement_principal(struct arena *a, json_t *js, enum policy_kind kind,
                                     struct stmt *st)
{
    json_t *p = json_object_get(js, "Principal");
    json_t *np = json_object_get(js, "NotPrincipal");
    if (kind == POLICY_IDENTITY) {
        if (p || np) MALFORMED("Policy document should not specify a principal.");
        return TR_OK;
    }
    if (p && np) MALFORMED(MSG_SYNTAX);
    if (!p && !np) MALFORMED("Missing required field Principal");
    if (np && kind == POLICY_TRUST) MALFORMED("Has prohibited field NotPrincipal");
    if (np && st->effect == EFFECT_ALLOW)
        MALFORMED("NotPrincipal with Allow is not supported: use Principal, or NotPrincipal with Deny.");
    st->has_principal = true;
    st->not_principal = np != NULL;
    return compile_principals(a, p ? p : np, st);
}

/* ---- statements ---------------------------------------------------------- */

static const char *const STMT_MEMBERS[] = {
    "Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
    "Resource", "NotResource", "Condition", NULL,
};

static TR_RESULT statement_sid(struct arena *a, json_t *js, enum policy_kind kind, struct stmt *st)
{
    json_t *sid = json_object_get(js, "Sid");
    if (!sid) return TR_OK;
    if (!json_is_string(sid)) MALFORMED(MSG_SYNTAX);
    const char *s = json_string_value(sid);
    size_t n = json_string_length(sid);
    if (kind == POLICY_IDENTITY || kind == POLICY_TRUST) {
        for (size_t i = 0; i < n; i++) {
            char c = s[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
                MALFORMED("Statement IDs (SID) must be alpha-numeric. Check that your input "
                          "satisfies the regular expression [0-9A-Za-z]*");
        }
    }
    st->sid = arena_strndup(a, s, n, false);
    ENSURE(st->sid, TR_E_INTERNAL);
    return TR_OK;
}

static TR_RESULT statement_effect(json_t *js, struct stmt *st)
{
    json_t *e = json_object_get(js, "Effect");
    const char *s = json_is_string(e) ? json_string_value(e) : "";
    if (strcmp(s, "Allow") == 0) st->effect = EFFECT_ALLOW;
    else if (strcmp(s, "Deny") == 0) st->effect = EFFECT_DENY;
    else MALFORMED(MSG_SYNTAX);
    return TR_OK;
}

static TR_RESULT statement_action(struct arena *a, json_t *js, struct stmt *st)
{
    json_t *ac = json_object_get(js, "Action");
    json_t *nac = json_object_get(js, "NotAction");
    if (ac && nac) MALFORMED(MSG_SYNTAX);
    if (!ac && !nac) MALFORMED("Policy statement must contain actions.");
    st->not_action = nac != NULL;
    return compile_actions(a, ac ? ac : nac, st);
}

static TR_RESULT statement_resource(struct arena *a, json_t *js, const struct policy *p,
                                    struct stmt *st)
{
    json_t *r = json_object_get(js, "Resource");
    json_t *nr = json_object_get(js, "NotResource");
    if (r && nr) MALFORMED(MSG_SYNTAX);
    if (!r && !nr) {
        if (p->kind == POLICY_TRUST) return TR_OK;
        MALFORMED("Policy statement must contain resources.");
    }
    st->not_resource = nr != NULL;
    return compile_resources(a, r ? r : nr, p->vars, st);
}

static TR_RESULT compile_statement(struct policy *p, json_t *js, struct stmt *st)
{
    struct arena *a = p->arena;
    if (!json_is_object(js) || !only_members(js, STMT_MEMBERS)) MALFORMED(MSG_SYNTAX);
    GUARD(statement_effect(js, st));
    GUARD(statement_sid(a, js, p->kind, st));
    GUARD(statement_principal(a, js, p->kind, st));
    GUARD(statement_action(a, js, st));
    GUARD(statement_resource(a, js, p, st));
    json_t *c = json_object_get(js, "Condition");
    if (c) GUARD(cond_compile_block(a, c, p->vars, &st->conds, &st->nconds));
    return TR_OK;
}

static TR_RESULT check_unique_sids(const struct policy *p)
{
    if (p->kind != POLICY_IDENTITY && p->kind != POLICY_TRUST) return TR_OK;
    for (size_t i = 0; i < p->nstmts; i++) {
        const char *a = p->stmts[i].sid;
        if (!a || !*a) continue;
        for (size_t j = i + 1; j < p->nstmts; j++)
            if (p->stmts[j].sid && strcmp(a, p->stmts[j].sid) == 0)
                MALFORMED("Statement IDs (SID) in a single policy must be unique.");
    }
    return TR_OK;
}

/* ---- documents ----------------------------------------------------------- */

static const char *const DOC_MEMBERS[] = { "Version", "Id", "Statement", NULL };

static TR_RESULT document_version(json_t *doc, struct policy *p)
{
    json_t *v = json_object_get(doc, "Version");
    if (!v) return TR_OK;
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    if (strcmp(s, "2012-10-17") != 0 && strcmp(s, "2008-10-17") != 0) MALFORMED(MSG_SYNTAX);
    memcpy(p->version, s, 11);
    p->vars = strcmp(s, "2012-10-17") == 0;
    return TR_OK;
}

static TR_RESULT compile_document(json_t *doc, struct policy *p)
{
    if (!json_is_object(doc) || !only_members(doc, DOC_MEMBERS)) MALFORMED(MSG_SYNTAX);
    GUARD(document_version(doc, p));
    json_t *id = json_object_get(doc, "Id");
    if (id && !json_is_string(id)) MALFORMED(MSG_SYNTAX);
    json_t *sts = json_object_get(doc, "Statement");
    size_t n = json_is_array(sts) ? json_array_size(sts) : 1;
    if (!json_is_array(sts) && !json_is_object(sts)) MALFORMED(MSG_SYNTAX);
    if (n == 0) MALFORMED(MSG_SYNTAX);
    p->stmts = arena_alloc(p->arena, n * sizeof *p->stmts);
    ENSURE(p->stmts, TR_E_INTERNAL);
    p->nstmts = n;
    for (size_t i = 0; i < n; i++)
        GUARD(compile_statement(p, list_at(sts, i), &p->stmts[i]));
    return check_unique_sids(p);
}

void policy_free(struct policy *p)
{
    if (!p) return;
    arena_free(p->arena);
    free(p);
}

/* Give each user and role principal of p its bound id from `ids` (a JSON
 * object text; see policy.h), or "" when the binding has none for it. */
static TR_RESULT apply_binding(struct policy *p, const char *ids)
{
    json_t *b = json_loads(ids, JSON_REJECT_DUPLICATES, NULL);
    tr_result r = TR_OK;
    if (!json_is_object(b)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "a stored principal binding is not an object");
        goto fail;
    }
    for (size_t i = 0; i < p->nstmts; i++) {
        struct stmt *st = &p->stmts[i];
        for (size_t k = 0; k < st->nprincipals; k++) {
            struct principal_ent *pe = &st->principals[k];
            if (pe->kind != PE_USER && pe->kind != PE_ROLE) continue;
            json_t *v = json_object_get(b, pe->value);
            const char *id = json_string_value(v);
            const char *prefix = pe->kind == PE_USER ? "AIDA" : "AROA";
            if (v && (!id || strncmp(id, prefix, 4) != 0 || strlen(id) > 128)) {
                r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL,
                               "a stored principal binding names no %s id for %.256s",
                               pe->kind == PE_USER ? "user" : "role", pe->value);
                goto fail;
            }
            pe->id = arena_strndup(p->arena, id ? id : "", id ? strlen(id) : 0, false);
            if (!pe->id) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
        }
    }
fail:
    json_decref(b);
    return r;
}

TR_RESULT policy_compile(const char *text, size_t len, enum policy_kind kind,
                         struct policy **out)
{
    return policy_compile_bound(text, len, kind, NULL, out);
}

TR_RESULT policy_compile_bound(const char *text, size_t len, enum policy_kind kind,
                               const char *ids, struct policy **out)
{
    tr_result r = TR_OK;
    json_t *doc = NULL;
    struct policy *p = NULL;
    ENSURE_REF(out);
    *out = NULL;
    ENSURE_REF(text);
    p = calloc(1, sizeof *p);
    if (!p || !(p->arena = calloc(1, sizeof *p->arena))) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        goto fail;
    }
    atomic_init(&p->refs, 1);
    p->kind = kind;
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (!doc) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_POLICY_MALFORMED, "This policy contains invalid Json");
        goto fail;
    }
    r = compile_document(doc, p);
    if (tr_failed(r)) goto fail;
    if (ids && *ids) {
        r = apply_binding(p, ids);
        if (tr_failed(r)) goto fail;
    }
    json_decref(doc);
    *out = p;
    return TR_OK;
fail:
    json_decref(doc);
    policy_free(p);
    return r;
}

struct policy *policy_ref(struct policy *p)
{
    if (p) atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    return p;
}

void policy_unref(struct policy *p)
{
    if (p && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1) policy_free(p);
}

size_t policy_statement_count(const struct policy *p)
{
    return p ? p->nstmts : 0;
}

const char *policy_statement_sid(const struct policy *p, size_t i)
{
    return (p && i < p->nstmts) ? p->stmts[i].sid : NULL;
}

const char *policy_version(const struct policy *p)
{
    return p ? p->version : "";
}

TR_RESULT policy_each_aws_principal_bound(const struct policy *p,
                                          TR_RESULT (*fn)(void *arg, const char *principal,
                                                          const char *bound_id),
                                          void *arg)
{
    ENSURE_REF(p);
    ENSURE_REF(fn);
    for (size_t i = 0; i < p->nstmts; i++) {
        const struct stmt *st = &p->stmts[i];
        for (size_t k = 0; k < st->nprincipals; k++) {
            const struct principal_ent *pe = &st->principals[k];
            if (pe->kind == PE_SERVICE || pe->kind == PE_FEDERATED || pe->kind == PE_CANONICAL) continue;
            GUARD(fn(arg, pe->value, pe->id));
        }
    }
    return TR_OK;
}

TR_RESULT policy_each_federated_principal(const struct policy *p,
                                          TR_RESULT (*fn)(void *arg, const char *principal),
                                          void *arg)
{
    ENSURE_REF(p);
    ENSURE_REF(fn);
    for (size_t i = 0; i < p->nstmts; i++) {
        const struct stmt *st = &p->stmts[i];
        for (size_t k = 0; k < st->nprincipals; k++)
            if (st->principals[k].kind == PE_FEDERATED) GUARD(fn(arg, st->principals[k].value));
    }
    return TR_OK;
}

/* policy_each_aws_principal's callback and its argument, carried through
 * policy_each_aws_principal_bound, whose bound id it drops. */
struct principal_visit {
    TR_RESULT (*fn)(void *arg, const char *principal);
    void *arg;
};

static TR_RESULT visit_unbound(void *arg, const char *principal, const char *bound_id)
{
    const struct principal_visit *v = arg;
    (void)bound_id;
    return v->fn(v->arg, principal);
}

TR_RESULT policy_each_aws_principal(const struct policy *p,
                                    TR_RESULT (*fn)(void *arg, const char *principal),
                                    void *arg)
{
    ENSURE_REF(fn);
    struct principal_visit v = { fn, arg };
    return policy_each_aws_principal_bound(p, visit_unbound, &v);
}
