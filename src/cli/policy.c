/*
 * policy.c -- `tresor policy simulate`: would the server allow this
 * request, and why?  Reads the store (the server may be running) and
 * decides with the server's own code, the request context included
 * (docs/AUTHORIZATION.md 7.1):
 *
 *   a KMS key or alias ARN  kms_authorize_explain: the key policy, IAM by
 *                           delegation, grants, every KMS condition key the
 *                           live path sets (kms:CallerAccount, the key's
 *                           properties, kms:EncryptionAlgorithm for the
 *                           cryptographic operations, kms:RequestAlias,
 *                           kms:ResourceAliases, the encryption context);
 *                           an operation KMS does not allow across accounts
 *                           is denied for a key of another account (the
 *                           server answers NotFoundException);
 *   "*" with a kms: action  the same, account-level (IAM alone);
 *   a secret ARN            sm_authorize_id_explain: looked up as a request
 *                           looks it up, the secret's resource policy, its
 *                           tags, secretsmanager:SecretId, the secret's own
 *                           account (a missing secret as the server decides
 *                           one, against the ARN as given);
 *   a role ARN, sts:AssumeRole (TagSession, SetSourceIdentity)
 *                           the trust policy as STS asks it;
 *   anything else           the identity side alone (IAM's own actions get
 *                           the target user's or role's aws:ResourceTag).
 *
 * The principal is an ARN (a role ARN means a session of it) or a real
 * access key (--access-key-id: a real session's policies, tags and issue
 * time).  Session policies and tags may be given by hand.  --context keys
 * are added last (a key given twice has both values; multi-valued keys
 * are multi-valued).  What the request would have but the command cannot
 * know -- the caller's address -- is marked unknown unless given, and
 * the decision then says what it depends on.  Every assumption is printed.
 *
 * Exit status: 0 allowed, 1 denied, 2 usage or lookup error.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "iam/authz.h"
#include "iam/policy.h"
#include "iam/principals.h"
#include "iam/web_identity.h"
#include "oidc/keys.h"
#include "kms/kms.h"
#include "op/clock.h"
#include "op/op.h"
#include "secrets/authz.h"
#include "secrets/secrets.h"

#define MAX_ARGS 64
#define MAX_NOTES 24
#define TXT_MAX TR_ERR_MSG_MAX

static const struct cli_opt policy_opts[] = {
    { "principal", 'p', "ARN", NULL, NULL,
      "who asks: arn:aws:iam::A:root, a user ARN, a role ARN (a session of the role) or a session ARN" },
    { "access-key-id", 'k', "AKID", NULL, NULL,
      "who asks, by real credentials: a real session's policies, tags and issue time as stored" },
    { "action", 'a', "ACTION", NULL, NULL, "what is asked, such as kms:Decrypt or sts:AssumeRole" },
    { "resource", 'r', "ARN", NULL, "*",
      "on what: a KMS key or alias ARN brings in the key policy and grants, a secret ARN the secret's "
      "resource policy, a role ARN with sts:AssumeRole the trust policy" },
    { "context", 'c', "KEY=VALUE", NULL, NULL,
      "a request context key added or replaced; a key given twice has both values (up to 64)" },
    { "encryption-context", 'e', "KEY=VALUE", NULL, NULL, "a pair of the request's encryption context" },
    { "source-ip", 'i', "ADDR", NULL, NULL, "the caller's address (aws:SourceIp; unknown when absent)" },
    { "secure-transport", 'T', NULL, NULL, NULL,
      "the request came over TLS (aws:SecureTransport true; false, plain HTTP, when absent)" },
    { "via-service", 'v', "SERVICE", NULL, NULL,
      "secretsmanager: the request is Secrets Manager's KMS call for the caller" },
    { "session-policy", 's', "JSON", NULL, NULL, "the session policy (JSON, or file://PATH) of a role session" },
    { "session-policy-arn", 'S', "ARN", NULL, NULL, "a managed session policy of a role session" },
    { "session-tag", 't', "KEY=VALUE", NULL, NULL, "a session tag of a role session" },
    { "format", 'f', "FORMAT", NULL, "text", "text or json" },
    { "web-identity-token", 'w', "FILE", NULL, NULL,
      "instead of a principal: check the OpenID Connect token in FILE as AssumeRoleWithWebIdentity does "
      "(signature, issuer, audience, expiry, then the trust policy of --role) and print allowed, or what "
      "refused it; the issuers' keys are TRESOR_OIDC_JWKS's files (as tresor serve's), else fetched "
      "(docs/OIDC.md)" },
    { "role", 'o', "ARN", NULL, NULL, "with --web-identity-token: the role the token would assume" },
    CLI_OPTS_SNAPSHOT_OR_STORE('N', "decide over"),
    CLI_OPT_REGION('g', "the region of the request"),
    { 0 },
};

static const struct cli_cmd policy_cmd = {
    "policy simulate",
    "(--principal ARN | --access-key-id AKID) --action ACTION [--resource ARN] "
    "| --web-identity-token FILE --role ARN "
    "[--context KEY=VALUE ...] [--encryption-context KEY=VALUE ...] [--source-ip ADDR] [--secure-transport] "
    "[--via-service secretsmanager] [--session-policy JSON ...] [--session-policy-arn ARN ...] "
    "[--session-tag KEY=VALUE ...] [--format text|json] [--data-dir DIR] [--store URL | --snapshot FILE ...] "
    "[--region REGION]",
    "Decide one request as the server would, with its code, over the store of DIR\n"
    "(the server may be running), and print the decision (allowed, implicitDeny or\n"
    "explicitDeny), what decided it and what was assumed.\n",
    policy_opts,
    "Exit status: 0 allowed, 1 denied, 2 usage or lookup error.\n", NULL,
};

/* ---- what the command was told ------------------------------------------ */

struct opts {
    const char *principal, *access_key, *action, *resource, *format, *data_dir, *region, *store;
    const char *source_ip, *via, *web_token, *role;
    bool secure;
    const char *ctx[MAX_ARGS], *ec[MAX_ARGS], *sp[MAX_ARGS], *sparn[MAX_ARGS], *stag[MAX_ARGS];
    const char *snap[MAX_SNAPSHOTS];
    size_t nctx, nec, nsp, nsparn, nstag, nsnap;
};

struct notes {
    char *v[MAX_NOTES];
    size_t n;
};

static void note(struct notes *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct notes *n, const char *fmt, ...)
{
    char buf[TXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);    /* cut: a note for people */
    va_end(ap);
    if (n->n < MAX_NOTES && (n->v[n->n] = strdup(buf)) != NULL) n->n++;
}

static void notes_free(struct notes *n)
{
    for (size_t i = 0; i < n->n; i++) free(n->v[i]);
    n->n = 0;
}

/* The decision, however it was reached. */
struct sim_result {
    enum decision decision;
    bool conditional;
    enum policy_type_word deny_type;
    char evidence[TXT_MAX];
    char message[TXT_MAX];
    json_t *stmts;               /* deciding statements (where the engine's refs survive) */
};

static bool add_push(const char **v, size_t *n, const char *s)
{
    if (*n >= MAX_ARGS) return false;
    v[(*n)++] = s;
    return true;
}

static bool kv_split(const char *s, char *key, size_t keylen, const char **val)
{
    const char *eq = strchr(s, '=');
    if (!eq || eq == s || (size_t)(eq - s) >= keylen) return false;
    snprintf(key, keylen, "%.*s", (int)(eq - s), s);      /* fits: checked above */
    *val = eq + 1;
    return true;
}

/* ---- the request context given by hand ----------------------------------- */

static bool known_multi(const char *key)
{
    static const char *const MULTI[] = {
        "kms:EncryptionContextKeys", "kms:GrantOperations", "kms:ResourceAliases", "aws:TagKeys",
        "sts:TransitiveTagKeys", "aws:CalledVia", "aws:PrincipalOrgPaths",
    };
    for (size_t i = 0; i < sizeof MULTI / sizeof MULTI[0]; i++)
        if (strcasecmp(key, MULTI[i]) == 0) return true;
    return false;
}

static bool ctx_given(const struct opts *o, const char *key)
{
    char k[256];
    const char *v;
    for (size_t i = 0; i < o->nctx; i++)
        if (kv_split(o->ctx[i], k, sizeof k, &v) && strcasecmp(k, key) == 0) return true;
    return false;
}

/* --context, grouped by key (case-insensitive): a key given twice, or a
 * multi-valued one, becomes multi-valued. */
static TR_RESULT build_extra(const struct opts *o, struct ctx_builder *cb)
{
    bool used[MAX_ARGS] = { false };
    for (size_t i = 0; i < o->nctx; i++) {
        if (used[i]) continue;
        char key[256], k2[256];
        const char *vals[MAX_ARGS];
        size_t n = 0;
        const char *v;
        if (!kv_split(o->ctx[i], key, sizeof key, &v)) BAIL(TR_E_VALIDATION, "bad --context %s", o->ctx[i]);
        for (size_t j = i; j < o->nctx; j++) {
            if (used[j] || !kv_split(o->ctx[j], k2, sizeof k2, &v) || strcasecmp(key, k2) != 0) continue;
            used[j] = true;
            vals[n++] = v;
        }
        if (n > 1 || known_multi(key)) GUARD(iam_ctx_add_multi(cb, key, vals, n));
        else GUARD(iam_ctx_add(cb, key, vals[0]));
    }
    return TR_OK;
}

/* ---- the principal and its identity side --------------------------------- */

static TR_RESULT read_text(const char *arg, char **out)
{
    *out = NULL;
    if (strncmp(arg, "file://", 7) != 0) {
        *out = strdup(arg);
        ENSURE(*out != NULL, TR_E_INTERNAL);
        return TR_OK;
    }
    FILE *f = fopen(arg + 7, "rb");
    if (!f) BAIL(TR_E_VALIDATION, "cannot read %s", arg + 7);
    char *buf = calloc(1, 1 << 17);
    size_t n = buf ? fread(buf, 1, (1 << 17) - 1, f) : 0;
    fclose(f);
    ENSURE(buf != NULL, TR_E_INTERNAL);
    buf[n] = '\0';
    *out = buf;
    return TR_OK;
}

/* The session part given by hand, in the shape AssumeRole stores
 * (iam_identity_add_session); each inline policy validated first, as
 * AssumeRole validates it. */
static TR_RESULT session_by_hand(const struct opts *o, struct req_ctx *rc, struct identity *id,
                                 struct notes *nt)
{
    json_t *doc = json_object(), *arns = json_array(), *tags = json_object();
    tr_result r = TR_OK;
    char *text = NULL;
    bool session = rc->who.type == PRINCIPAL_ROLE_SESSION;
    if (!doc || !arns || !tags) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        goto out;
    }
    if ((o->nsp || o->nsparn || o->nstag) && !session) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION, "session policies and tags need a role "
                       "session (a role or session ARN)");
        goto out;
    }
    if (rc->who.access_key_id[0] && (o->nsp || o->nsparn || o->nstag)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION, "real credentials have their own session "
                       "policies and tags: give them for a session named by ARN");
        goto out;
    }
    if (o->nsp > 1) {   /* AssumeRole takes one inline policy */
        r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION, "AssumeRole takes one inline session policy");
        goto out;
    }
    if (o->nsp) {
        struct policy *p = NULL;
        r = read_text(o->sp[0], &text);
        if (tr_ok(r)) r = policy_compile(text, strlen(text), POLICY_IDENTITY, &p);
        policy_unref(p);
        if (tr_failed(r)) goto out;
        json_object_set_new(doc, "policy", json_string(text));
    }
    for (size_t i = 0; i < o->nsparn; i++) json_array_append_new(arns, json_string(o->sparn[i]));
    for (size_t i = 0; i < o->nstag; i++) {
        char k[256];
        const char *v;
        if (!kv_split(o->stag[i], k, sizeof k, &v)) {
            r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION, "bad --session-tag %s", o->stag[i]);
            goto out;
        }
        json_object_set_new(tags, k, json_string(v));
    }
    json_object_set(doc, "policy_arns", arns);
    json_object_set(doc, "tags", tags);
    if (!rc->who.access_key_id[0] && session) {
        /* A live session always has its issue time. */
        json_object_set_new(doc, "issued", json_integer((json_int_t)rc->now));
        note(nt, "a session issued now, without MFA (aws:TokenIssueTime, aws:MultiFactorAuthPresent)");
    } else if (!o->nsp && !o->nsparn && !o->nstag) {
        goto out;
    }
    r = iam_identity_add_session(rc->st, doc, session, id);
    if (o->nsp || o->nsparn) note(nt, "the session policies given: %zu inline, %zu managed", o->nsp, o->nsparn);
    if (o->nstag) note(nt, "the session tags given (over the role's tags of the same key)");
out:
    free(text);
    json_decref(doc);
    json_decref(arns);
    json_decref(tags);
    return r;
}

/* rc->who and rc->identity. */
static TR_RESULT load_principal(const struct opts *o, struct req_ctx *rc, struct notes *nt)
{
    if (o->access_key) {
        GUARD(iam_principal_from_access_key(rc->st, o->access_key, &rc->who));
        if (o->principal && strcmp(o->principal, rc->who.arn) != 0 &&
            strcmp(o->principal, rc->who.role_arn) != 0)
            BAIL(TR_E_VALIDATION, "access key %s belongs to %s, not %s", o->access_key, rc->who.arn,
                 o->principal);
        note(nt, "the credentials %s of %s, as stored (a session's policies, tags, issue time)",
             o->access_key, rc->who.arn);
    } else {
        GUARD(iam_principal_from_arn(rc->st, o->principal, &rc->who));
        if (rc->who.type == PRINCIPAL_ROLE_SESSION)
            note(nt, "%s: a session %s%s", o->principal, rc->who.arn,
                 o->nsp || o->nsparn ? "" : " without session policies");
    }
    struct identity *id = calloc(1, sizeof *id);
    ENSURE(id != NULL, TR_E_INTERNAL);
    tr_result r = iam_identity_load(rc->st, &rc->who, id);
    if (tr_ok(r)) r = session_by_hand(o, rc, id, nt);
    if (tr_failed(r)) {
        iam_identity_free(id);
        free(id);
        return r;
    }
    rc->identity = id;
    rc->identity_borrowed = false;
    return TR_OK;
}

/* ---- deciding ------------------------------------------------------------- */

static json_t *stmts_json(const struct eval_result *res)
{
    static const char *const TYPE[] = { "", "identity", "resource", "boundary", "session", "scp", "rcp" };
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < res->nrefs; i++) {
        const struct stmt_ref *s = &res->refs[i];
        json_t *e = json_object();
        json_object_set_new(e, "policy", json_string(s->policy && s->policy->name ? s->policy->name : ""));
        json_object_set_new(e, "index", json_integer((json_int_t)s->index));
        json_object_set_new(e, "sid", s->sid ? json_string(s->sid) : json_null());
        json_object_set_new(e, "effect", json_string(s->effect == EFFECT_DENY ? "Deny" : "Allow"));
        json_object_set_new(e, "type", json_string(TYPE[s->type <= PT_RCP ? s->type : 0]));
        json_array_append_new(arr, e);
    }
    return arr;
}

/* An engine result whose policies are alive: statements, evidence, message. */
static void take_result(struct sim_result *out, const struct eval_request *rq,
                        const struct eval_result *res, const char *resource_as_given)
{
    out->decision = res->decision;
    out->conditional = res->conditional;
    out->deny_type = res->deny_type;
    json_decref(out->stmts);
    out->stmts = stmts_json(res);
    iam_result_evidence(res, out->evidence, sizeof out->evidence);
    if (res->decision != DECISION_ALLOW)
        policy_denied_message(rq, res, resource_as_given, out->message, sizeof out->message);
}

static TR_RESULT decide_iam(struct req_ctx *rc, const char *action, const char *resource,
                            const char *resource_account, const struct named_policy *rp,
                            enum resource_mode mode, const struct ctx_builder *extra,
                            struct sim_result *out)
{
    struct eval_result res;
    struct authz_req ar = {
        .action = action, .resource = resource, .resource_account = resource_account,
        .resource_policy = rp, .mode = mode, .extra = extra->e, .nextra = extra->n, .no_fail = true,
    };
    GUARD(iam_authorize(rc, &ar, &res));
    struct eval_request rq = { .action = action, .resource = resource };
    iam_eval_principal(&rc->who, &rq.who);
    take_result(out, &rq, &res, NULL);
    return TR_OK;
}

/* The account field of an ARN when it is one (12 digits), else NULL. */
static const char *arn_account(const char *arn, char out[ACCOUNT_ID_LEN + 1])
{
    const char *p = arn;
    for (int i = 0; i < 4 && p; i++) {
        p = strchr(p, ':');
        if (p) p++;
    }
    if (strncmp(arn, "arn:", 4) != 0 || !p || strspn(p, "0123456789") != ACCOUNT_ID_LEN ||
        p[ACCOUNT_ID_LEN] != ':')
        return NULL;
    snprintf(out, ACCOUNT_ID_LEN + 1, "%.12s", p);        /* fits: 12 digits, checked above */
    return out;
}

static bool crypto_action(const char *action)
{
    static const char *const CRYPTO[] = {
        "kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext",
    };
    for (size_t i = 0; i < sizeof CRYPTO / sizeof CRYPTO[0]; i++)
        if (strcasecmp(action, CRYPTO[i]) == 0) return true;
    return false;
}

static void take_kms(struct sim_result *out, const struct kms_explain *x)
{
    out->decision = x->allowed ? DECISION_ALLOW
                  : x->res.decision == DECISION_ALLOW ? DECISION_IMPLICIT_DENY : x->res.decision;
    out->conditional = x->conditional;
    out->deny_type = x->res.deny_type;
    json_decref(out->stmts);
    out->stmts = json_array();
    STR_COPY_ARRAY(out->evidence, x->evidence);
    STR_COPY_ARRAY(out->message, x->message);
}

/* A KMS key or alias ARN, or "*" with a kms: action. */
static int decide_kms(struct req_ctx *rc, const struct opts *o, const struct ctx_builder *extra,
                      json_t *enc_ctx, struct sim_result *out, struct notes *nt)
{
    struct kms_explain x;
    struct kms_authz_in in = { .ctx = enc_ctx, .extra = extra->e, .nextra = extra->n };
    if (crypto_action(o->action)) {
        in.enc_alg = "SYMMETRIC_DEFAULT";
        note(nt, "kms:EncryptionAlgorithm SYMMETRIC_DEFAULT, the algorithm of a request that names none");
    }
    if (strcmp(o->resource, "*") == 0) {
        struct key_rec proto;
        memset(&proto, 0, sizeof proto);
        if (strcasecmp(o->action, "kms:CreateKey") == 0) {
            /* CreateKey's keys: the key asked for (as keys.c builds it). */
            STR_SET(proto.key_usage, "ENCRYPT_DECRYPT");
            STR_SET(proto.key_spec, "SYMMETRIC_DEFAULT");
            STR_SET(proto.origin, "AWS_KMS");
            in.props = &proto;
            in.has_bypass = true;
            note(nt, "the key asked for is the default one (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT, AWS_KMS), "
                 "without BypassPolicyLockoutSafetyCheck");
        }
        if (tr_failed(kms_authorize_explain(rc, o->action, NULL, &in, &x))) return die("evaluate");
        take_kms(out, &x);
        return 0;
    }
    char region[64], acct[16], rest[400];
    if (sscanf(o->resource, "arn:aws:kms:%63[^:]:%15[^:]:%399s", region, acct, rest) != 3 ||
        strcmp(region, rc->region) != 0) {
        fprintf(stderr, "tresor policy simulate: no key %s in %s\n", o->resource, rc->region);
        return 2;
    }
    char key_id[80] = "";
    if (strncmp(rest, "alias/", 6) == 0) {
        struct alias_rec a = { 0 };
        if (tr_failed(rc->st[0]->alias_get(rc->st, acct, region, rest, &a))) {
            fprintf(stderr, "tresor policy simulate: no alias %s\n", o->resource);
            return 2;
        }
        STR_COPY_ARRAY(key_id, a.target_key_id);
        in.key_id_given = o->resource;
    } else if (strncmp(rest, "key/", 4) == 0) {
        if (tr_failed(str_copy(key_id, sizeof key_id, rest + 4, "key id"))) tr_clear_error(); /* "": no key */
    }
    struct key_rec k = { 0 };
    if (!key_id[0] || tr_failed(kms_key_lookup(rc->st, key_id, region, &k)) || strcmp(k.account_id, acct) != 0 ||
        strcmp(k.region, region) != 0) {
        key_rec_free(&k);
        fprintf(stderr, "tresor policy simulate: no key %s\n", o->resource);
        return 2;
    }
    if (strcmp(k.account_id, rc->who.account_id) != 0 && !kms_action_cross_account(o->action)) {
        out->decision = DECISION_IMPLICIT_DENY;
        out->deny_type = PT_RESOURCE;
        out->stmts = json_array();
        /* cut: a message for people */
        snprintf(out->message, sizeof out->message, "%s cannot name a key of another account: the "
                 "server answers NotFoundException \"Key '%s' does not exist\"", o->action, k.arn);
        key_rec_free(&k);
        return 0;
    }
    if (strcmp(k.key_state, KEY_STATE_ENABLED) != 0)
        note(nt, "the key is %s: authorization is decided first, then the key state (a usable key "
             "is needed by the cryptographic operations)", k.key_state);
    tr_result r = kms_authorize_explain(rc, o->action, &k, &in, &x);
    key_rec_free(&k);
    if (tr_failed(r)) return die("evaluate");
    take_kms(out, &x);
    return 0;
}

static bool account_level_sm(const char *action)
{
    static const char *const ACCT[] = {
        "secretsmanager:CreateSecret", "secretsmanager:ListSecrets", "secretsmanager:GetRandomPassword",
        "secretsmanager:BatchGetSecretValue",
    };
    for (size_t i = 0; i < sizeof ACCT / sizeof ACCT[0]; i++)
        if (strcasecmp(action, ACCT[i]) == 0) return true;
    return false;
}

static int decide_secret(struct req_ctx *rc, const struct opts *o, const struct ctx_builder *extra,
                         struct sim_result *out, struct notes *nt)
{
    if (account_level_sm(o->action)) {
        if (tr_failed(decide_iam(rc, o->action, o->resource, rc->who.account_id, NULL, RES_NONE, extra, out)))
            return die("evaluate");
        note(nt, "%s is decided by the caller's identity side, in its own account", o->action);
        return 0;
    }
    struct eval_result res;
    char ev[TXT_MAX] = "";
    bool found = false;
    if (tr_failed(sm_authorize_id_explain(rc, o->action, o->resource, extra->e, extra->n, &found, &res,
                                          ev, sizeof ev)))
        return die("evaluate");
    out->decision = res.decision;
    out->conditional = res.conditional;
    out->deny_type = res.deny_type;
    out->stmts = json_array();
    _Static_assert(sizeof ev <= TXT_MAX, "ev fits");
    snprintf(res.decision == DECISION_ALLOW ? out->evidence : out->message, TXT_MAX, "%s", ev); /* fits: above */
    if (found) note(nt, "the secret's resource policy and tags, as stored");
    else note(nt, "no such secret: decided against the ARN as given, as the server decides a missing "
              "secret (an allowed caller then gets ResourceNotFoundException)");
    if (strcasecmp(o->action, "secretsmanager:GetSecretValue") == 0 ||
        strcasecmp(o->action, "secretsmanager:PutSecretValue") == 0)
        note(nt, "only %s itself: Secrets Manager then calls KMS as the caller (simulate kms:Decrypt "
             "or kms:GenerateDataKey on the secret's key with --via-service secretsmanager and the "
             "context SecretARN, SecretVersionId)", o->action);
    return 0;
}

static int decide_trust(struct req_ctx *rc, const struct opts *o, struct ctx_builder *extra,
                        struct sim_result *out, struct notes *nt)
{
    out->stmts = json_array();
    out->decision = DECISION_IMPLICIT_DENY;
    if (rc->who.type == PRINCIPAL_ROOT) {
        STR_SET(out->message, "Roles may not be assumed by root accounts.");
        return 0;
    }
    struct ent_rec e = { 0 };
    if (tr_failed(rc->st[0]->ent_get_arn(rc->st, "role", o->resource, &e))) {
        /* cut: a message for people */
        snprintf(out->message, sizeof out->message, "User: %s is not authorized to perform: %s on "
                 "resource: %s", rc->who.arn, o->action, o->resource);
        note(nt, "no such role: STS denies it as it denies a forbidden one");
        return 0;
    }
    json_t *doc = json_loads(e.doc ? e.doc : "{}", 0, NULL);
    const char *trust = json_string_value(json_object_get(doc, "trust"));
    struct policy *pol = NULL;
    const char *ids = json_string_value(json_object_get(doc, "trust_ids"));
    char label[700];
    int rcode = 0;
    /* As AssumeRole reads it: bound, and denying when it no longer
     * compiles (docs/AUTHORIZATION.md 2.9). */
    if (!trust || tr_failed(policy_cache_get_stored(trust, strlen(trust), POLICY_TRUST, ids, e.arn, &pol))) {
        rcode = die("trust policy");
        goto out;
    }
    if (!ctx_given(o, "sts:RoleSessionName")) {
        if (tr_failed(iam_ctx_add_unknown(extra, "sts:RoleSessionName"))) { rcode = die("context"); goto out; }
        note(nt, "sts:RoleSessionName unknown (give it with --context)");
    }
    snprintf(label, sizeof label, "trust:%s", e.arn);     /* fits: a role ARN is at most 606 */
    struct named_policy np = { .p = pol, .name = label };
    if (tr_failed(decide_iam(rc, o->action, o->resource, e.account_id, &np, RES_REQUIRED, extra, out)))
        rcode = die("evaluate");
    if (out->decision != DECISION_ALLOW)   /* cut: STS's message (no "because" clause), for people */
        snprintf(out->message, sizeof out->message, "User: %s is not authorized to perform: %s on "
                 "resource: %s", rc->who.arn, o->action, o->resource);
out:
    policy_unref(pol);
    json_decref(doc);
    ent_rec_free(&e);
    return rcode;
}

static bool ctx_builder_has(const struct ctx_builder *cb, const char *key)
{
    for (size_t i = 0; i < cb->n; i++)
        if (strcasecmp(cb->e[i].key, key) == 0) return true;
    return false;
}

/* IAM's own actions: the target user's or role's tags as aws:ResourceTag. */
static TR_RESULT iam_target_tags(struct req_ctx *rc, const char *resource, struct ctx_builder *extra)
{
    if (!strstr(resource, ":user/") && !strstr(resource, ":role/")) return TR_OK;
    struct tag_rec *t = NULL;
    size_t n = 0;
    GUARD(rc->st[0]->tag_list(rc->st, resource, &t, &n));
    tr_result r = TR_OK;
    for (size_t i = 0; i < n && tr_ok(r); i++) {
        char key[32 + 4 * 128];     /* a prefix and a 128-character UTF-8 tag key */
        r = str_format(key, sizeof key, "the tag's condition key", "aws:ResourceTag/%s", t[i].key);
        if (tr_ok(r) && !ctx_builder_has(extra, key)) r = iam_ctx_add(extra, key, t[i].value ? t[i].value : "");
    }
    tag_list_free(t, n);
    return r;
}

/* ---- printing -------------------------------------------------------------- */

static const char *decision_word(enum decision d)
{
    return d == DECISION_ALLOW ? "allowed" : d == DECISION_EXPLICIT_DENY ? "explicitDeny" : "implicitDeny";
}

static const char *type_word(enum policy_type_word t)
{
    switch (t) {
    case PT_IDENTITY: return "identity";
    case PT_RESOURCE: return "resource";
    case PT_BOUNDARY: return "boundary";
    case PT_SESSION: return "session";
    case PT_SCP: return "scp";
    case PT_RCP: return "rcp";
    default: return "";
    }
}

static void print_result(const struct sim_result *r, const struct notes *nt, bool json_out,
                         const struct principal *who, const char *action, const char *resource)
{
    if (json_out) {
        json_t *o = json_object(), *as = json_array();
        json_object_set_new(o, "decision", json_string(decision_word(r->decision)));
        json_object_set_new(o, "principal", json_string(who->arn));
        json_object_set_new(o, "action", json_string(action));
        json_object_set_new(o, "resource", json_string(resource));
        json_object_set(o, "matchedStatements", r->stmts);
        json_object_set_new(o, "evidence", json_string(r->evidence));
        json_object_set_new(o, "conditional", json_boolean(r->conditional));
        if (r->decision != DECISION_ALLOW) {
            json_object_set_new(o, "denyType", json_string(type_word(r->deny_type)));
            json_object_set_new(o, "message", json_string(r->message));
        }
        for (size_t i = 0; i < nt->n; i++) json_array_append_new(as, json_string(nt->v[i]));
        json_object_set_new(o, "assumptions", as);
        char *s = json_dumps(o, JSON_INDENT(2));
        if (s) { puts(s); free(s); }
        json_decref(o);
        return;
    }
    printf("decision:  %s%s\nprincipal: %s\naction:    %s\nresource:  %s\n", decision_word(r->decision),
           r->conditional ? " (only if the conditions named below hold)" : "", who->arn, action, resource);
    if (r->decision != DECISION_ALLOW) printf("why:       %s\n", r->message);
    if (r->evidence[0]) printf("evidence:  %s\n", r->evidence);
    size_t i;
    json_t *e;
    if (json_array_size(r->stmts)) printf("deciding statements:\n");
    json_array_foreach(r->stmts, i, e) {
        const char *sid = json_string_value(json_object_get(e, "sid"));
        printf("  %-5s %-9s %s statement %lld%s%s%s\n", json_string_value(json_object_get(e, "effect")),
               json_string_value(json_object_get(e, "type")), json_string_value(json_object_get(e, "policy")),
               (long long)json_integer_value(json_object_get(e, "index")), sid ? " (Sid " : "",
               sid ? sid : "", sid ? ")" : "");
    }
    if (nt->n) printf("assumed:\n");
    for (i = 0; i < nt->n; i++) printf("  - %s\n", nt->v[i]);
}

/* ---- the command ----------------------------------------------------------- */

/* parse_args stops: the command exits with `code`. */
static bool stop(int *status, int code)
{
    *status = code;
    return false;
}

/* true: o is complete (a principal or an access key, an action, a known
 * format) and the command goes on; false: it exits with *status (--help
 * printed: 0; a usage error: 2).  The answer is the boolean, not a range
 * of statuses, so no status a helper returns can read as "go on". */
static bool parse_args(int argc, char **argv, struct opts *o, int *status)
{
    struct cli_parser p;
    int c;
    cli_parser_init(&p, &policy_cmd, argc - 1, argv + 1);
    while ((c = cli_next(&p)) > 0) {
        bool ok = true;
        switch (c) {
        case 'p': o->principal = optarg; break;
        case 'k': o->access_key = optarg; break;
        case 'a': o->action = optarg; break;
        case 'r': o->resource = optarg; break;
        case 'c': case 'e': case 't':
            if (!strchr(optarg, '='))
                return stop(status, cli_usage_error(NULL, &policy_cmd, "%s must be KEY=VALUE, not '%s'",
                                                    c == 'c' ? "--context"
                                                    : c == 'e' ? "--encryption-context" : "--session-tag",
                                                    optarg));
            ok = add_push(c == 'c' ? o->ctx : c == 'e' ? o->ec : o->stag,
                          c == 'c' ? &o->nctx : c == 'e' ? &o->nec : &o->nstag, optarg);
            break;
        case 'i': o->source_ip = optarg; break;
        case 'T': o->secure = true; break;
        case 'v': o->via = optarg; break;
        case 's': ok = add_push(o->sp, &o->nsp, optarg); break;
        case 'S': ok = add_push(o->sparn, &o->nsparn, optarg); break;
        case 'f': o->format = optarg; break;
        case 'w': o->web_token = optarg; break;
        case 'o': o->role = optarg; break;
        case 'd': o->data_dir = optarg; break;
        case 'B': o->store = optarg; break;
        case 'g': o->region = optarg; break;
        case 'N':
            ok = o->nsnap < MAX_SNAPSHOTS;
            if (ok) o->snap[o->nsnap++] = optarg;
            break;
        }
        if (!ok)
            return stop(status, cli_usage_error(NULL, &policy_cmd, "at most %d of each repeated option",
                                                MAX_ARGS));
    }
    if (c < 0) return stop(status, cli_exit(c));
    if (optind < argc - 1)
        return stop(status, cli_usage_error(NULL, &policy_cmd, "unexpected argument '%s'",
                                            argv[optind + 1]));
    if (o->web_token || o->role) {
        if (!o->web_token || !o->role || o->principal || o->access_key)
            return stop(status, cli_usage_error(NULL, &policy_cmd, "--web-identity-token and --role go "
                                                "together, without --principal or --access-key-id"));
        if (!o->action) o->action = "sts:AssumeRoleWithWebIdentity";
    }
    if (!o->principal && !o->access_key && !o->web_token)
        return stop(status, cli_usage_error(NULL, &policy_cmd,
                                            "--principal or --access-key-id is required"));
    if (!o->action) return stop(status, cli_usage_error(NULL, &policy_cmd, "--action is required"));
    if (strcmp(o->format, "text") != 0 && strcmp(o->format, "json") != 0)
        return stop(status, cli_usage_error(NULL, &policy_cmd, "--format must be text or json, not '%s'",
                                            o->format));
    if (o->via && strcmp(o->via, "secretsmanager") != 0)
        return stop(status, cli_usage_error(NULL, &policy_cmd,
                                            "--via-service must be secretsmanager, not '%s'", o->via));
    return true;
}

/* Over snapshots: the gaps that touch the decision (the resource, the
 * principal, the account's IAM) as notes, so an answer built on a
 * snapshot that lacks a part says so. */
static void snapshot_gap_notes(const struct snapset *ss, const struct opts *o, const struct req_ctx *r,
                               struct notes *nt)
{
    const char *key = strstr(o->resource, ":key/");
    const char *names[4] = { o->resource, key ? key + 5 : NULL, o->principal, r->who.arn };
    for (size_t i = 0; ss && i < ss->n; i++)
        for (size_t j = 0; j < ss->s[i].ngaps; j++)
            if (snapshot_gap_touches(&ss->s[i].gaps[j], names, 4))
                note(nt, "gap: %s (the snapshot lacks it: the decision may be incomplete)",
                     ss->s[i].gaps[j].what);
}

/* --web-identity-token FILE --role ARN: the checks of AssumeRoleWithWebIdentity
 * (iam/web_identity.c, the server's code), printed as the server's log
 * explains a refusal.  0 allowed, 1 refused, 2 when the token cannot be read. */
static int simulate_web_identity(const struct opts *o, store_t st)
{
    char acct[ACCOUNT_ID_LEN + 1], token[JWT_MAX_LEN + 2];
    FILE *f = fopen(o->web_token, "r");
    if (!f) return die("cannot read --web-identity-token");
    size_t n = fread(token, 1, sizeof token - 1, f);
    fclose(f);
    while (n && (token[n - 1] == '\n' || token[n - 1] == '\r' || token[n - 1] == ' ')) n--;
    token[n] = 0;
    if (!strstr(o->role, ":role/") || !arn_account(o->role, acct)) return die("--role must be a role ARN");
    struct web_identity w = { 0 };
    struct ent_rec role = { 0 };
    struct policy *trust = NULL;
    struct ctx_builder *cb = calloc(1, sizeof *cb);
    char *explain = malloc(WEB_EXPLAIN_MAX);
    int rc = 2;
    char why[512];
    const char *keys = getenv("TRESOR_OIDC_JWKS");
    if (!cb || !explain) { rc = die("memory"); goto out; }
    if (keys && *keys && oidc_keys_add_list(keys, why, sizeof why) != 0) {
        fprintf(stderr, "tresor policy simulate: TRESOR_OIDC_JWKS: %s\n", why);
        goto out;
    }
    tr_result r = web_identity_verify(st, acct, token, tr_now(), &w);
    if (tr_failed(r)) {
        if (!w.check) { rc = die("store"); goto out; }
        printf("denied: %s: %s\n  check %s: %s\n", tr_err_query_code(tr_code(r)), tr_last_error()->message,
               w.check, w.why);
        rc = 1;
        goto out;
    }
    if (tr_failed(st[0]->ent_get_arn(st, "role", o->role, &role))) {
        printf("denied: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity\n"
               "  check role: no such role\n");
        rc = 1;
        goto out;
    }
    json_t *doc = json_loads(role.doc ? role.doc : "{}", 0, NULL);
    const char *text = json_string_value(json_object_get(doc, "trust"));
    const char *ids = json_string_value(json_object_get(doc, "trust_ids"));
    const char *session = "simulate";
    for (size_t i = 0; i < o->nctx; i++)
        if (strncmp(o->ctx[i], "sts:RoleSessionName=", 20) == 0) session = o->ctx[i] + 20;
    bool allowed = false;
    r = text ? policy_cache_get_stored(text, strlen(text), POLICY_TRUST, ids, role.arn, &trust)
             : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    if (tr_ok(r)) r = iam_ctx_add(cb, "sts:RoleSessionName", session);
    if (tr_ok(r)) r = web_identity_context(&w, cb);
    struct named_policy np = { .p = trust, .name = "trust" };
    if (tr_ok(r)) r = web_identity_trust(&w, o->action, role.arn, role.account_id, &np, text, cb, &allowed, explain);
    if (tr_failed(r)) rc = die("evaluate");
    else if (allowed) {
        printf("allowed: %s assumes %s (sub %s, aud %s)\n", w.provider_arn, role.arn, w.sub, w.aud);
        rc = 0;
    } else {
        printf("denied: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity\n"
               "  check trust: %s\n", explain);
        rc = 1;
    }
    json_decref(doc);
out:
    if (trust) policy_unref(trust);
    ent_rec_free(&role);
    web_identity_free(&w);
    if (cb) iam_ctx_free(cb);
    free(cb);
    free(explain);
    oidc_keys_clear();
    return rc;
}

int cmd_policy(int argc, char **argv)
{
    int rc;
    if (!cli_one_command(argc, argv, "policy", "simulate", &policy_cmd, &rc)) return rc;
    struct opts o = { .resource = "*", .format = "text",
                      .data_dir = env_or(CLI_DATA_DIR_ENV, CLI_DATA_DIR_DEFAULT),
                      .region = env_or(CLI_REGION_ENV, CLI_REGION_DEFAULT),
                      .store = env_or(CLI_STORE_ENV, NULL) };
    if (!parse_args(argc, argv, &o, &rc)) return rc;
    const char *store = NULL;
    if (o.nsnap == 0 && cli_store_arg(&policy_cmd, o.store, &store)) return 2;

    char via[128];
    struct data_dir dd = { 0 };
    struct snapset *snaps = NULL;
    if (o.nsnap > 0) {
        if (cli_open_snapshots(o.snap, o.nsnap, NULL, &dd, &snaps)) return 2;
    } else if (open_data_dir(o.data_dir, store, false, &dd)) {
        return 2;
    }

    if (o.web_token) {
        rc = simulate_web_identity(&o, dd.st);
        if (snaps) cli_close_snapshots(&dd, snaps);
        else close_data_dir(&dd);
        return rc;
    }
    rc = 2;
    struct req_ctx r = { 0 };
    struct server_env env = { .st = dd.st, .kr = dd.kr, .default_region = o.region,
                              .orgs = cli_snapshot_orgs(snaps) };
    struct ctx_builder *extra = calloc(1, sizeof *extra);
    struct notes nt = { 0 };
    struct sim_result res = { 0 };
    json_t *enc_ctx = NULL;
    if (!extra) { rc = die("memory"); goto out; }

    r.env = &env;
    r.st = dd.st;
    r.kr = dd.kr;
    r.now = tr_now();
    if (tr_failed(str_copy(r.region, sizeof r.region, o.region, "--region"))) { rc = die("--region"); goto out; }
    if (tr_failed(str_format(r.service, sizeof r.service, "the action's service", "%.*s",
                             (int)strcspn(o.action, ":"), o.action))) { rc = die("--action"); goto out; }
    if (o.via) {    /* fits: r.region, as checked above */
        snprintf(via, sizeof via, "secretsmanager.%s.amazonaws.com", o.region);
        r.via_service = via;
        note(&nt, "called by Secrets Manager for the caller (kms:ViaService %s, aws:ViaAWSService true, "
             "no aws:SourceIp)", via);
    }
    if (o.source_ip) r.source_ip = o.source_ip;
    r.secure_transport = o.secure;
    if (tr_failed(load_principal(&o, &r, &nt))) {
        fprintf(stderr, "tresor policy simulate: %s\n", tr_last_error()->message);
        goto out;
    }
    if (tr_failed(build_extra(&o, extra))) { rc = die("context"); goto out; }
    /* A KMS key's tags and aliases are for IAM policies only, as the
     * server decides them (kms/authz.c). */
    for (size_t j = 0; j < extra->n && strncmp(o.resource, "arn:aws:kms:", 12) == 0; j++)
        if (strncasecmp(extra->e[j].key, "aws:ResourceTag/", 16) == 0 ||
            strcasecmp(extra->e[j].key, "kms:ResourceAliases") == 0)
            extra->e[j].identity_only = true;
    if (!o.via && !o.source_ip && !ctx_given(&o, "aws:SourceIp")) {
        if (tr_failed(iam_ctx_add_unknown(extra, "aws:SourceIp"))) { rc = die("context"); goto out; }
        note(&nt, "aws:SourceIp unknown (give it with --source-ip)");
    }
    if (!o.secure && !ctx_given(&o, "aws:SecureTransport"))
        note(&nt, "aws:SecureTransport false: a request over plain HTTP (--secure-transport: over TLS)");
    if (o.nctx) note(&nt, "the %zu --context value(s) given, over the keys the request would have", o.nctx);
    if (o.nec) {
        enc_ctx = json_object();
        for (size_t i = 0; enc_ctx && i < o.nec; i++) {
            char k[256];
            const char *v;
            if (kv_split(o.ec[i], k, sizeof k, &v)) json_object_set_new(enc_ctx, k, json_string(v));
        }
    }

    bool kms_res = strncmp(o.resource, "arn:aws:kms:", 12) == 0 ||
                   (strcmp(o.resource, "*") == 0 && strncasecmp(o.action, "kms:", 4) == 0);
    bool trust = strstr(o.resource, ":role/") && strncasecmp(o.action, "sts:", 4) == 0 &&
                 (strcasecmp(o.action, "sts:AssumeRole") == 0 || strcasecmp(o.action, "sts:TagSession") == 0 ||
                  strcasecmp(o.action, "sts:SetSourceIdentity") == 0);
    int d;
    if (kms_res) {
        d = decide_kms(&r, &o, extra, enc_ctx, &res, &nt);
    } else if (strncmp(o.resource, "arn:aws:secretsmanager:", 23) == 0 ||
               (strcmp(o.resource, "*") == 0 && account_level_sm(o.action))) {
        d = decide_secret(&r, &o, extra, &res, &nt);
    } else if (trust) {
        d = decide_trust(&r, &o, extra, &res, &nt);
    } else {
        char acct[ACCOUNT_ID_LEN + 1];
        const char *ra = arn_account(o.resource, acct);
        d = 0;
        if (strncasecmp(o.action, "iam:", 4) == 0) {
            ra = NULL;   /* IAM acts in the caller's own account */
            if (tr_failed(iam_target_tags(&r, o.resource, extra))) d = die("tags");
        }
        if (!d && tr_failed(decide_iam(&r, o.action, o.resource, ra ? ra : r.who.account_id, NULL, RES_NONE,
                                       extra, &res)))
            d = die("evaluate");
        if (!d) note(&nt, "no resource policy: the identity side alone decides");
    }
    if (d) { rc = d; goto out; }
    snapshot_gap_notes(snaps, &o, &r, &nt);
    print_result(&res, &nt, strcmp(o.format, "json") == 0, &r.who, o.action, o.resource);
    rc = res.decision == DECISION_ALLOW ? 0 : 1;
out:
    json_decref(res.stmts);
    json_decref(enc_ctx);
    notes_free(&nt);
    if (extra) iam_ctx_free(extra);
    free(extra);
    iam_identity_release(&r);
    if (snaps) cli_close_snapshots(&dd, snaps);
    else close_data_dir(&dd);
    return rc;
}
