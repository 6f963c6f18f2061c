/*
 * authz.c -- the one place KMS operations ask "may the caller do this?",
 * and a compact evaluator of key policies to answer it until the full
 * evaluator of src/iam/ replaces it.
 *
 * Every handler calls kms_authorize() once the target key is known to
 * exist and before it looks at the key state, so the order of checks is
 * the one SEMANTICS section 7 fixes: exists -> authorized -> state ->
 * ciphertext.  The router does not authorize KMS operations itself: the
 * resource (the key ARN) is only known after resolution, and for Decrypt
 * it comes out of the ciphertext blob.
 *
 * What is evaluated (SEMANTICS 1.2, 1.6, 1.7, 2.x), against the key's own
 * policy only:
 *  - an explicit Deny that applies wins: "User: <caller> is not
 *    authorized to perform: <action> on resource: <key ARN> with an
 *    explicit deny in a resource-based policy";
 *  - else an Allow that applies allows;
 *  - else "... because no resource-based policy allows the <action>
 *    action".
 * A statement applies when its Principal (or NotPrincipal), Action (or
 * NotAction), Resource (or NotResource) and Condition all match.
 * Principals: "*"; an account ("<id>" or arn:aws:iam::<id>:root) means
 * every principal of that account *if IAM allows it* -- IAM identity
 * policies do not exist in tresor yet, so that delegation is granted
 * (the account root user has every IAM permission anyway); a user or
 * session ARN matches exactly; a role ARN matches its sessions.
 * Actions match case-insensitively with * and ?; resources are "*" or a
 * pattern over the key ARN (case-sensitive).
 * Conditions: String{Equals,NotEquals,EqualsIgnoreCase,NotEqualsIgnoreCase,
 * Like,NotLike}, Arn{Equals,Like,NotEquals,NotLike}, Bool, Null, each with
 * ...IfExists and ForAnyValue:/ForAllValues:, over the context keys
 * kms:CallerAccount, kms:ViaService, kms:EncryptionContext:<k>,
 * kms:EncryptionContextKeys, aws:PrincipalArn, aws:PrincipalAccount,
 * aws:ViaAWSService.  A key not in the context is missing (positive
 * operators false, negated true, IfExists true).  An operator this file
 * does not know fails closed: the Allow does not apply, the Deny does.
 * Account-level actions (CreateKey, ListKeys, ListAliases,
 * GenerateRandom: k == NULL) are IAM-only and allowed for now.
 */
#include "kms/kms.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

struct az {
    const struct req_ctx *rc;
    const char *action;
    const struct key_rec *k;
    json_t *ctx;          /* encryption context (object) or NULL */
    char via[96];         /* kms:ViaService, "" when absent */
};

enum tri { T_FALSE = 0, T_TRUE = 1, T_UNKNOWN = 2 };

/* ---- principals, actions, resources ---------------------------------- */

static bool one_principal(const char *p, const struct principal *who)
{
    char root[64];
    if (strcmp(p, "*") == 0) return true;
    snprintf(root, sizeof root, "arn:aws:iam::%s:root", who->account_id);
    if (strcmp(p, root) == 0 || strcmp(p, who->account_id) == 0) return true;
    if (strcmp(p, who->arn) == 0) return true;
    /* A role ARN (any path) names every session of that role. */
    char prefix[64];
    int n = snprintf(prefix, sizeof prefix, "arn:aws:sts::%s:assumed-role/", who->account_id);
    if (n <= 0 || strncmp(who->arn, prefix, (size_t)n) != 0) return false;
    const char *name = who->arn + n;
    const char *slash = strchr(name, '/');
    size_t len = slash ? (size_t)(slash - name) : strlen(name);
    n = snprintf(prefix, sizeof prefix, "arn:aws:iam::%s:role/", who->account_id);
    if (n <= 0 || strncmp(p, prefix, (size_t)n) != 0) return false;
    const char *last = strrchr(p, '/');
    return last && strlen(last + 1) == len && strncmp(last + 1, name, len) == 0;
}

static bool principal_matches(json_t *p, const struct principal *who)
{
    if (json_is_string(p)) return strcmp(json_string_value(p), "*") == 0;
    json_t *aws = json_object_get(p, "AWS");
    if (json_is_string(aws)) return one_principal(json_string_value(aws), who);
    size_t i;
    json_t *e;
    json_array_foreach(aws, i, e)
        if (json_is_string(e) && one_principal(json_string_value(e), who)) return true;
    return false;
}

static bool list_matches(json_t *v, const char *s, bool ci)
{
    if (json_is_string(v)) return kms_glob(json_string_value(v), s, ci);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
        if (json_is_string(e) && kms_glob(json_string_value(e), s, ci)) return true;
    return false;
}

/* Element `pos` or its Not-form: whether the statement covers `s`. */
static bool element_matches(json_t *st, const char *pos, const char *neg, const char *s, bool ci)
{
    json_t *v = json_object_get(st, pos);
    if (v) return list_matches(v, s, ci);
    v = json_object_get(st, neg);
    return v ? !list_matches(v, s, ci) : false;
}

/* ---- conditions --------------------------------------------------------- */

/* The values of a context key (case-insensitive name); -1 when missing. */
static int ctx_values(const struct az *z, const char *key, const char **vals, int max)
{
    const struct principal *who = &z->rc->who;
    if (strcasecmp(key, "kms:CallerAccount") == 0 || strcasecmp(key, "aws:PrincipalAccount") == 0) {
        vals[0] = who->account_id;
        return 1;
    }
    if (strcasecmp(key, "aws:PrincipalArn") == 0) { vals[0] = who->arn; return 1; }
    if (strcasecmp(key, "kms:ViaService") == 0) {
        if (!z->via[0]) return -1;
        vals[0] = z->via;
        return 1;
    }
    if (strcasecmp(key, "aws:ViaAWSService") == 0) {
        vals[0] = z->via[0] ? "true" : "false";
        return 1;
    }
    const char *k;
    json_t *v;
    if (strcasecmp(key, "kms:EncryptionContextKeys") == 0) {
        int n = 0;
        if (!z->ctx || json_object_size(z->ctx) == 0) return -1;
        json_object_foreach(z->ctx, k, v) {
            if (n < max) vals[n++] = k;
        }
        return n;
    }
    static const char ec[] = "kms:EncryptionContext:";
    if (strncasecmp(key, ec, sizeof ec - 1) == 0 && z->ctx) {
        json_object_foreach(z->ctx, k, v) {
            if (strcasecmp(k, key + sizeof ec - 1) == 0) {
                vals[0] = json_string_value(v);
                return 1;
            }
        }
    }
    return -1;
}

enum cmp { C_EQ, C_EQ_CI, C_LIKE, C_BOOL };

/* Does context value `c` match one policy value `p`? */
static bool value_match(enum cmp how, const char *p, const char *c)
{
    switch (how) {
    case C_EQ:    return strcmp(p, c) == 0;
    case C_EQ_CI: case C_BOOL: return strcasecmp(p, c) == 0;
    case C_LIKE:  return kms_glob(p, c, false);
    }
    return false;
}

static bool any_value_matches(enum cmp how, json_t *pv, const char *c)
{
    if (json_is_string(pv)) return value_match(how, json_string_value(pv), c);
    if (json_is_boolean(pv)) return value_match(how, json_is_true(pv) ? "true" : "false", c);
    size_t i;
    json_t *e;
    json_array_foreach(pv, i, e) {
        if (json_is_string(e) && value_match(how, json_string_value(e), c)) return true;
        if (json_is_boolean(e) && value_match(how, json_is_true(e) ? "true" : "false", c))
            return true;
    }
    return false;
}

/* One operator block ({"StringEquals": {key: values, ...}}): AND over keys. */
static enum tri eval_operator(const struct az *z, const char *op_in, json_t *block)
{
    char op[64];
    snprintf(op, sizeof op, "%s", op_in);
    int set = 0;   /* 0 none, 1 ForAnyValue, 2 ForAllValues */
    if (strncasecmp(op, "ForAnyValue:", 12) == 0) { set = 1; memmove(op, op + 12, strlen(op + 12) + 1); }
    else if (strncasecmp(op, "ForAllValues:", 13) == 0) { set = 2; memmove(op, op + 13, strlen(op + 13) + 1); }
    bool if_exists = false;
    size_t ol = strlen(op);
    if (ol > 8 && strcmp(op + ol - 8, "IfExists") == 0) { if_exists = true; op[ol - 8] = '\0'; }

    static const struct { const char *name; enum cmp how; bool neg; } ops[] = {
        { "StringEquals", C_EQ, false },       { "StringNotEquals", C_EQ, true },
        { "StringEqualsIgnoreCase", C_EQ_CI, false },
        { "StringNotEqualsIgnoreCase", C_EQ_CI, true },
        { "StringLike", C_LIKE, false },       { "StringNotLike", C_LIKE, true },
        { "ArnEquals", C_LIKE, false },        { "ArnLike", C_LIKE, false },
        { "ArnNotEquals", C_LIKE, true },      { "ArnNotLike", C_LIKE, true },
        { "Bool", C_BOOL, false },
    };
    bool is_null = strcmp(op, "Null") == 0;
    int found = -1;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(ops[i].name, op) == 0) found = (int)i;
    if (!is_null && found < 0) return T_UNKNOWN;
    if (!json_is_object(block)) return T_UNKNOWN;

    const char *key;
    json_t *pv;
    json_object_foreach(block, key, pv) {
        const char *vals[64];
        int n = ctx_values(z, key, vals, 64);
        if (is_null) {
            bool want_missing = any_value_matches(C_BOOL, pv, "true");
            if (want_missing != (n < 0)) return T_FALSE;
            continue;
        }
        enum cmp how = ops[found].how;
        bool neg = ops[found].neg;
        bool ok;
        if (n <= 0) {
            /* Missing (or empty for set operators). */
            ok = set == 2 ? true : set == 1 ? false : (if_exists || neg);
        } else if (set == 2) {
            ok = true;
            for (int i = 0; i < n && ok; i++) ok = any_value_matches(how, pv, vals[i]) != neg;
        } else {
            ok = false;
            for (int i = 0; i < n && !ok; i++) ok = any_value_matches(how, pv, vals[i]) != neg;
            if (neg && set == 0) {
                /* Single-valued negation: no value may match. */
                ok = true;
                for (int i = 0; i < n && ok; i++) ok = !any_value_matches(how, pv, vals[i]);
            }
        }
        if (!ok) return T_FALSE;
    }
    return T_TRUE;
}

static enum tri eval_condition(const struct az *z, json_t *cond)
{
    if (!cond) return T_TRUE;
    if (!json_is_object(cond)) return T_UNKNOWN;
    enum tri res = T_TRUE;
    const char *op;
    json_t *block;
    json_object_foreach(cond, op, block) {
        enum tri t = eval_operator(z, op, block);
        if (t == T_FALSE) return T_FALSE;
        if (t == T_UNKNOWN) res = T_UNKNOWN;
    }
    return res;
}

/* ---- the decision ------------------------------------------------------- */

enum decision { D_NO_ALLOW, D_ALLOW, D_DENY };

static enum decision evaluate(const struct az *z)
{
    json_t *doc = json_loads(z->k->policy ? z->k->policy : "", 0, NULL);
    json_t *stmts = json_object_get(doc, "Statement");
    json_t *one = NULL;
    if (json_is_object(stmts)) {
        one = json_array();
        if (one) json_array_append(one, stmts);
        stmts = one;
    }
    bool allow = false, deny = false;
    size_t i;
    json_t *st;
    json_array_foreach(stmts, i, st) {
        if (!json_is_object(st)) continue;
        const char *eff = json_string_value(json_object_get(st, "Effect"));
        if (!eff) continue;
        bool is_deny = strcmp(eff, "Deny") == 0;
        if (!is_deny && strcmp(eff, "Allow") != 0) continue;
        json_t *p = json_object_get(st, "Principal"), *np = json_object_get(st, "NotPrincipal");
        bool who_ok = p ? principal_matches(p, &z->rc->who)
                        : np ? !principal_matches(np, &z->rc->who) : false;
        if (!who_ok) continue;
        if (!element_matches(st, "Action", "NotAction", z->action, true)) continue;
        if (!element_matches(st, "Resource", "NotResource", z->k->arn, false)) continue;
        enum tri c = eval_condition(z, json_object_get(st, "Condition"));
        if (is_deny && c != T_FALSE) deny = true;
        if (!is_deny && c == T_TRUE) allow = true;
    }
    json_decref(one);
    json_decref(doc);
    return deny ? D_DENY : allow ? D_ALLOW : D_NO_ALLOW;
}

TR_RESULT kms_authorize(struct req_ctx *rc, const char *action,
                        const struct key_rec *k, json_t *ctx)
{
    if (!k) return TR_OK;   /* account-level actions: IAM only, allowed for now */
    struct az z = { .rc = rc, .action = action, .k = k,
                    .ctx = json_is_object(ctx) ? ctx : NULL };
    if (strcmp(rc->service, "secretsmanager") == 0)
        snprintf(z.via, sizeof z.via, "secretsmanager.%s.amazonaws.com", rc->region);

    switch (evaluate(&z)) {
    case D_ALLOW:
        return TR_OK;
    case D_DENY:
        BAIL(TR_E_ACCESS_DENIED, "User: %s is not authorized to perform: %s on resource: %s "
             "with an explicit deny in a resource-based policy", rc->who.arn, action, k->arn);
    case D_NO_ALLOW:
        break;
    }
    BAIL(TR_E_ACCESS_DENIED, "User: %s is not authorized to perform: %s on resource: %s "
         "because no resource-based policy allows the %s action",
         rc->who.arn, action, k->arn, action);
}
