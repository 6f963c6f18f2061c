/*
 * authz.c -- the one place KMS operations ask "may the caller do this?",
 * answered by the policy engine of src/iam/ (iam_authorize) the way KMS
 * answers it.
 *
 * Every handler calls kms_authorize_in() once the target key is known to
 * exist and before it looks at the key state, so the order of checks is
 * the one docs/AUTHORIZATION.md 4.6 fixes: exists -> authorized -> state ->
 * ciphertext.  The router does not authorize KMS operations itself: the
 * resource (the key ARN) is only known after resolution, and for Decrypt
 * it comes out of the ciphertext blob.
 *
 * The decision (docs/AUTHORIZATION.md 2.2, 4.1 - 4.4):
 *  1. The request context: the global keys (iam_ctx_init, inside
 *     iam_authorize) plus KMS's own and the tag keys, built here
 *     (kctx_build; the list per operation is at "the KMS condition keys"
 *     below).  The key's tags (aws:ResourceTag/<k>) and aliases
 *     (kms:ResourceAliases) are visible to IAM policies only, as KMS
 *     documents: a key policy evaluates without them.
 *  2. Key operations: iam_authorize with the key policy (compiled through
 *     the policy cache) in mode RES_REQUIRED: the key policy must allow,
 *     directly or by naming the account, which delegates to the caller's
 *     IAM policies; a caller of another account needs both.  The root
 *     user gets no implicit access: its identity side allows everything,
 *     but only where the key policy names its account.
 *  3. An explicit deny anywhere fails at once; grants cannot override it.
 *  4. An implicit deny consults the key's grants (grants.c).  A grant to
 *     the caller itself (user, session, or the role of its session) in
 *     the key's account suffices; a grant to an account, or to a caller of
 *     another account, also needs the caller's identity side to allow
 *     (docs/AUTHORIZATION.md 4.3, 8.1).
 *  5. Still denied: AccessDeniedException with the engine's wording
 *     (policy_denied_message), e.g. "... because no resource-based policy
 *     allows the kms:Decrypt action" when the key policy did not allow,
 *     "... because no identity-based policy allows ..." when it delegated
 *     to IAM and IAM did not allow.
 * Account-level actions (k == NULL) are decided by IAM policies alone
 * (RES_NONE, resource "*").  A stored key policy that no longer compiles
 * denies every request on its key (logged; docs/AUTHORIZATION.md 2.9).
 * No policy rule lives here: the engine has the only copy.
 */
#include "kms/kms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/str.h"
#include "core/tlocal.h"
#include "audit/audit.h"
#include "iam/authz.h"

/* ---- the KMS condition keys ------------------------------------------- */

/* Which keys each operation gets, from the Service Authorization
 * Reference (kms actions and the "key" resource type) and the KMS
 * developer guide's condition-key pages:
 *  - every operation on a key ("KMS key resource operations"):
 *    kms:CallerAccount, kms:ViaService (only when a service calls on the
 *    caller's behalf), kms:KeySpec, kms:KeyUsage (and their deprecated
 *    names kms:CustomerMasterKeySpec, kms:CustomerMasterKeyUsage),
 *    kms:KeyOrigin, kms:MultiRegion of the key (and for a multi-Region
 *    key kms:MultiRegionKeyType), and -- "IAM policies
 *    only", so absent when the key policy is evaluated (identity_only) --
 *    kms:ResourceAliases (multi-valued) and aws:ResourceTag/<k> for each
 *    of the key's tags;
 *  - CreateKey: the same kms:Key* and kms:MultiRegion[KeyType] of the key asked
 *    for (its defaults when a member is omitted), kms:CallerAccount,
 *    (ReplicateKey asks for CreateKey and, with Tags, TagResource with
 *    these keys of the replica asked for, in the replica region;
 *    kms:ReplicaRegion on the primary, UpdatePrimaryRegion
 *    kms:PrimaryRegion on both keys),
 *    aws:RequestTag/<k> and aws:TagKeys for its Tags, and
 *    kms:BypassPolicyLockoutSafetyCheck when the member is in the request
 *    (the guide's own example allows PutKeyPolicy only under
 *    "Null": {"kms:BypassPolicyLockoutSafetyCheck": true});
 *  - Encrypt, Decrypt, ReEncrypt (From and To), GenerateDataKey*:
 *    kms:EncryptionAlgorithm (SYMMETRIC_DEFAULT when omitted),
 *    kms:EncryptionContext:<k> and kms:EncryptionContextKeys when a context
 *    is given, kms:RequestAlias when KeyId was an alias name or alias ARN
 *    (DescribeKey too; the other operations take no alias);
 *    ReEncrypt also kms:ReEncryptOnSameKey;
 *  - GenerateDataKeyPair*: those of GenerateDataKey and kms:DataKeyPairSpec;
 *  - Sign, Verify: kms:SigningAlgorithm and kms:MessageType (RAW when
 *    omitted); GenerateMac, VerifyMac: kms:MacAlgorithm;
 *    DeriveSharedSecret: kms:KeyAgreementAlgorithm; these and
 *    GetPublicKey kms:RequestAlias when KeyId was an alias;
 *  - CreateGrant: kms:GrantOperations, kms:GranteePrincipal,
 *    kms:RetiringPrincipal, kms:GrantConstraintType and the constraint's
 *    pairs as kms:EncryptionContext:<k>; CreateGrant, ListGrants and
 *    RevokeGrant kms:GrantIsForAWSResource; RetireGrant the retired
 *    grant's constraint (kms:GrantConstraintType, its pairs);
 *  - TagResource aws:RequestTag/<k> and aws:TagKeys, UntagResource
 *    aws:TagKeys; PutKeyPolicy kms:BypassPolicyLockoutSafetyCheck as for
 *    CreateKey; ScheduleKeyDeletion kms:ScheduleKeyDeletionPendingWindowInDays
 *    and EnableKeyRotation kms:RotationPeriodInDays (the defaults, 30 and
 *    365, when omitted: "This type of condition works even when the
 *    parameter doesn't appear in the request", KMS condition keys page);
 *  - GetParametersForImport: kms:WrappingAlgorithm, kms:WrappingKeySpec;
 *    ImportKeyMaterial: kms:ExpirationModel (KEY_MATERIAL_EXPIRES when
 *    omitted, as the request means) and kms:ValidTo (epoch seconds) when
 *    the request has one;
 *  - ListKeys, ListAliases, ListRetirableGrants, GenerateRandom: none.
 * src/iam/authz_table.def has them per operation, and the ones deliberately
 * not set with the reason. */

/* One allocation holds the entries, the value pointers and the composed
 * key names; values point into vals[], which never moves. */
struct kctx {
    struct ctx_entry *e;
    size_t n, cap;
    const char **vals;
    size_t nvals, capv;
    char *names;                  /* "kms:EncryptionContext:<k>", "aws:ResourceTag/<k>", ... */
    size_t nnames, capnames;
    void *block;
    const struct alias_rec *aliases;  /* the key's aliases (kms:ResourceAliases) */
    size_t naliases;
    const struct tag_rec *tags;   /* the key's tags (aws:ResourceTag/<k>), one block */
    size_t ntags;
    bool what_if;                 /* a lockout check (authz_req.what_if) */
    struct alias_rec *own_aliases;    /* what kctx_build read (freed), or NULL */
    struct tag_rec *own_tags;
    char request_alias[260];
    char num[3][24];
};

static void kctx_free(struct kctx *c)
{
    free(c->block);
    free(c->own_aliases);
    free(c->own_tags);
    memset(c, 0, sizeof *c);
}

/* Room for n more values; NULL when the sizing below was wrong. */
static const char **kctx_vals(struct kctx *c, size_t n)
{
    if (c->nvals + n > c->capv) return NULL;
    const char **d = c->vals + c->nvals;
    c->nvals += n;
    return d;
}

/* Add key with the n values v (already in vals[] when v points there). */
static TR_RESULT kctx_add(struct kctx *c, const char *key, const char **v, size_t n,
                          bool multi, bool identity_only)
{
    ENSURE(c->n < c->cap, TR_E_INTERNAL);
    c->e[c->n++] = (struct ctx_entry){ .key = key, .values = v, .n = n, .multi = multi,
                                       .identity_only = identity_only };
    return TR_OK;
}

static TR_RESULT kctx_one(struct kctx *c, const char *key, const char *value)
{
    if (!value) return TR_OK;
    const char **v = kctx_vals(c, 1);
    ENSURE(v != NULL, TR_E_INTERNAL);
    v[0] = value;
    return kctx_add(c, key, v, 1, false, false);
}

/* prefix + suffix, in names[]. */
static const char *kctx_name(struct kctx *c, const char *prefix, const char *suffix)
{
    size_t pl = strlen(prefix), sl = strlen(suffix);
    if (c->nnames + pl + sl + 1 > c->capnames) return NULL;
    char *d = c->names + c->nnames;
    memcpy(d, prefix, pl);
    memcpy(d + pl, suffix, sl + 1);
    c->nnames += pl + sl + 1;
    return d;
}

/* kms:RequestAlias: the alias name ("alias/x") when KeyId was an alias
 * name or an alias ARN. */
static TR_RESULT request_alias(const char *given, char *out, size_t n)
{
    out[0] = '\0';
    if (!given) return TR_OK;
    if (strncmp(given, "alias/", 6) == 0) return str_copy(out, n, given, "kms:RequestAlias");
    if (strncmp(given, "arn:", 4) != 0) return TR_OK;
    const char *p = given;
    for (int i = 0; i < 5 && p; i++) {
        p = strchr(p, ':');
        if (p) p++;
    }
    if (p && strncmp(p, "alias/", 6) == 0) return str_copy(out, n, p, "kms:RequestAlias");
    return TR_OK;
}

static bool grant_action(const char *action)
{
    return strcmp(action, "kms:CreateGrant") == 0 || strcmp(action, "kms:ListGrants") == 0 ||
           strcmp(action, "kms:RevokeGrant") == 0;
}

#define EC_PREFIX "kms:EncryptionContext:"
#define RESOURCE_TAG "aws:ResourceTag/"
#define REQUEST_TAG "aws:RequestTag/"

/* The request's tags: aws:RequestTag/<k> for each, aws:TagKeys (all
 * keys: the list of Tags, or TagKeys). */
static TR_RESULT add_request_tags(struct kctx *c, json_t *tags, json_t *tag_keys)
{
    json_t *list = tags ? tags : tag_keys;
    size_t n = json_array_size(list), i;
    json_t *t;
    if (!list) return TR_OK;
    const char **keys = kctx_vals(c, n);
    ENSURE(keys != NULL || n == 0, TR_E_INTERNAL);
    json_array_foreach(list, i, t) {
        const char *k = tags ? json_string_value(json_object_get(t, "TagKey"))
                             : json_string_value(t);
        ENSURE(k != NULL, TR_E_INTERNAL);
        keys[i] = k;
        if (!tags) continue;
        const char *name = kctx_name(c, REQUEST_TAG, k);
        ENSURE(name != NULL, TR_E_INTERNAL);
        GUARD(kctx_one(c, name, json_string_value(json_object_get(t, "TagValue"))));
    }
    return kctx_add(c, "aws:TagKeys", keys, n, true, false);
}

static size_t tag_list_names(json_t *tags)
{
    size_t bytes = 0, i;
    json_t *t;
    json_array_foreach(tags, i, t)
        bytes += sizeof REQUEST_TAG + strlen(json_string_value(json_object_get(t, "TagKey")) ?
                                             json_string_value(json_object_get(t, "TagKey")) : "");
    return bytes;
}

static TR_RESULT kctx_build(struct kctx *c, struct req_ctx *rc, const char *action,
                            const struct key_rec *k, const struct kms_authz_in *in)
{
    json_t *ctx = in && json_is_object(in->ctx) ? in->ctx : NULL;
    const struct kms_grant_req *g = in ? in->grant : NULL;
    json_t *rtags = in && json_is_array(in->request_tags) ? in->request_tags : NULL;
    json_t *rkeys = !rtags && in && json_is_array(in->tag_keys) ? in->tag_keys : NULL;
    size_t npairs = ctx ? json_object_size(ctx) : 0;
    size_t nreq = json_array_size(rtags) + json_array_size(rkeys);
    size_t nunknown = in ? in->nunknown : 0;
    const char *key;
    json_t *v;

    memset(c, 0, sizeof *c);
    if (k && in && in->key_attrs) {
        c->aliases = in->key_attrs->aliases;
        c->naliases = in->key_attrs->naliases;
        c->tags = in->key_attrs->tags;
        c->ntags = in->key_attrs->ntags;
    } else if (k) {
        GUARD(kms_cached_key_attrs(rc->st, k, &c->own_aliases, &c->naliases, &c->own_tags,
                                   &c->ntags));
        c->aliases = c->own_aliases;
        c->tags = c->own_tags;
    }
    size_t nextra = in ? in->nextra : 0, nextra_vals = 0;
    for (size_t i = 0; i < nextra; i++) nextra_vals += in->extra[i].n;
    /* 32: room for every fixed key (fewer than 30). */
    c->cap = 32 + npairs + c->ntags + nreq + nunknown + nextra;
    c->capv = 32 + 2 * npairs + c->naliases + c->ntags + 2 * nreq + (g ? g->nops : 0) + nunknown +
              nextra_vals;
    json_object_foreach(ctx, key, v) c->capnames += sizeof EC_PREFIX + strlen(key);
    for (size_t i = 0; i < c->ntags; i++) c->capnames += sizeof RESOURCE_TAG + strlen(c->tags[i].key);
    c->capnames += tag_list_names(rtags);
    size_t ebytes = c->cap * sizeof *c->e, vbytes = c->capv * sizeof *c->vals;
    c->block = calloc(1, ebytes + vbytes + c->capnames + 1);
    ENSURE(c->block != NULL, TR_E_INTERNAL);
    c->e = c->block;
    c->vals = (const char **)((char *)c->block + ebytes);
    c->names = (char *)c->block + ebytes + vbytes;

    /* CreateKey, and ReplicateKey's kms:TagResource for the replica
     * asked for (in->props): an operation on a key that is not yet; the
     * custom key store operations (in->caller_account), on none. */
    if (k || strcmp(action, "kms:CreateKey") == 0 || (in && (in->props || in->caller_account)))
        GUARD(kctx_one(c, "kms:CallerAccount", rc->who.account_id));
    GUARD(kctx_one(c, "kms:ViaService", rc->via_service));

    if (npairs > 0) {
        json_object_foreach(ctx, key, v) {
            const char *name = kctx_name(c, EC_PREFIX, key);
            ENSURE(name != NULL, TR_E_INTERNAL);
            GUARD(kctx_one(c, name, json_string_value(v)));
        }
        /* The keys, gathered as one multi-valued entry. */
        const char **keys = kctx_vals(c, npairs);
        ENSURE(keys != NULL, TR_E_INTERNAL);
        size_t i = 0;
        json_object_foreach(ctx, key, v) keys[i++] = key;
        GUARD(kctx_add(c, "kms:EncryptionContextKeys", keys, npairs, true, false));
    }

    const struct key_rec *props = k ? k : in ? in->props : NULL;
    if (props) {
        GUARD(kctx_one(c, "kms:KeySpec", props->key_spec));
        GUARD(kctx_one(c, "kms:KeyUsage", props->key_usage));
        /* The deprecated names, which KMS still supports "to avoid
         * breaking changes" (KMS condition keys page). */
        GUARD(kctx_one(c, "kms:CustomerMasterKeySpec", props->key_spec));
        GUARD(kctx_one(c, "kms:CustomerMasterKeyUsage", props->key_usage));
        GUARD(kctx_one(c, "kms:KeyOrigin", props->origin));
        bool multi = kms_key_is_multi_region(props);
        GUARD(kctx_one(c, "kms:MultiRegion", multi ? "true" : "false"));
        /* Only a multi-Region key has a type: PRIMARY or REPLICA. */
        if (multi)
            GUARD(kctx_one(c, "kms:MultiRegionKeyType",
                           kms_key_is_replica(props) ? "REPLICA" : "PRIMARY"));
    }
    if (in) GUARD(kctx_one(c, "kms:ReplicaRegion", in->replica_region));
    if (in) GUARD(kctx_one(c, "kms:PrimaryRegion", in->primary_region));
    if (in) GUARD(kctx_one(c, "kms:EncryptionAlgorithm", in->enc_alg));
    if (in) GUARD(kctx_one(c, "kms:SigningAlgorithm", in->sign_alg));
    if (in) GUARD(kctx_one(c, "kms:MessageType", in->message_type));
    if (in) GUARD(kctx_one(c, "kms:MacAlgorithm", in->mac_alg));
    if (in) GUARD(kctx_one(c, "kms:KeyAgreementAlgorithm", in->agree_alg));
    if (in) GUARD(kctx_one(c, "kms:DataKeyPairSpec", in->pair_spec));
    if (in) GUARD(kctx_one(c, "kms:WrappingAlgorithm", in->wrapping_alg));
    if (in) GUARD(kctx_one(c, "kms:WrappingKeySpec", in->wrapping_spec));
    if (in) GUARD(kctx_one(c, "kms:ExpirationModel", in->expiration_model));

    GUARD(request_alias(in ? in->key_id_given : NULL, c->request_alias, sizeof c->request_alias));
    if (c->request_alias[0]) GUARD(kctx_one(c, "kms:RequestAlias", c->request_alias));
    if (k) {
        /* The key's own attributes: IAM policies only. */
        const char **names = kctx_vals(c, c->naliases);
        ENSURE(names != NULL || c->naliases == 0, TR_E_INTERNAL);
        for (size_t i = 0; i < c->naliases; i++) names[i] = c->aliases[i].name;
        if (c->naliases > 0)
            GUARD(kctx_add(c, "kms:ResourceAliases", names, c->naliases, true, true));
        for (size_t i = 0; i < c->ntags; i++) {
            const char *name = kctx_name(c, RESOURCE_TAG, c->tags[i].key);
            const char **tv = kctx_vals(c, 1);
            ENSURE(name != NULL && tv != NULL, TR_E_INTERNAL);
            tv[0] = c->tags[i].value;
            GUARD(kctx_add(c, name, tv, 1, false, true));
        }
    }

    if (g) {
        const char **ops = kctx_vals(c, g->nops);
        ENSURE(ops != NULL || g->nops == 0, TR_E_INTERNAL);
        for (size_t i = 0; i < g->nops; i++) ops[i] = g->ops[i];
        GUARD(kctx_add(c, "kms:GrantOperations", ops, g->nops, true, false));
        GUARD(kctx_one(c, "kms:GranteePrincipal", g->grantee));
        GUARD(kctx_one(c, "kms:RetiringPrincipal", g->retiring));
        GUARD(kctx_one(c, "kms:GrantConstraintType", g->constraint_type));
    }
    if (in) GUARD(kctx_one(c, "kms:GrantConstraintType", in->constraint_type));
    if (grant_action(action))
        GUARD(kctx_one(c, "kms:GrantIsForAWSResource", rc->via_service ? "true" : "false"));
    if (in && in->has_bypass)
        GUARD(kctx_one(c, "kms:BypassPolicyLockoutSafetyCheck", in->bypass ? "true" : "false"));
    if (rtags || rkeys) GUARD(add_request_tags(c, rtags, rkeys));
    if (in && in->pending_window_days > 0) {
        snprintf(c->num[0], sizeof c->num[0], "%d", in->pending_window_days);     /* fits: an int in 24 */
        GUARD(kctx_one(c, "kms:ScheduleKeyDeletionPendingWindowInDays", c->num[0]));
    }
    if (in && in->rotation_period_days > 0) {
        snprintf(c->num[1], sizeof c->num[1], "%d", in->rotation_period_days);    /* fits: an int in 24 */
        GUARD(kctx_one(c, "kms:RotationPeriodInDays", c->num[1]));
    }
    if (in && in->valid_to > 0) {
        snprintf(c->num[2], sizeof c->num[2], "%lld", (long long)in->valid_to);  /* fits: an int64 in 24 */
        GUARD(kctx_one(c, "kms:ValidTo", c->num[2]));
    }
    if (in && in->reencrypt_same)
        GUARD(kctx_one(c, "kms:ReEncryptOnSameKey", in->reencrypt_same > 0 ? "true" : "false"));
    for (size_t i = 0; i < nunknown; i++) {
        GUARD(kctx_one(c, in->unknown[i], ""));
        c->e[c->n - 1].unknown = true;
    }
    for (size_t i = 0; i < nextra; i++) {
        const struct ctx_entry *x = &in->extra[i];
        const char **vals = kctx_vals(c, x->n);
        ENSURE(vals != NULL, TR_E_INTERNAL);
        for (size_t j = 0; j < x->n; j++) vals[j] = x->values[j];
        GUARD(kctx_add(c, x->key, vals, x->n, x->multi, x->identity_only));
        c->e[c->n - 1].unknown = x->unknown;
    }
    return TR_OK;
}

/* ---- evaluation ----------------------------------------------------------- */

/* Evaluate against key policy `text` (NULL: IAM only, RES_NONE) without
 * failing; *res is the engine's result. */
static TR_RESULT evaluate(struct req_ctx *rc, const char *action, const struct key_rec *k,
                          const char *text, const struct kctx *c, struct eval_result *res,
                          char *ev, size_t nev)
{
    struct policy *pol = NULL;
    char name[KMS_ARN_MAX + 16];
    struct named_policy np;
    tr_result r = TR_OK;

    if (text) {
        /* A stored policy that no longer compiles denies everything
         * (docs/AUTHORIZATION.md 2.9), grants included. */
        GUARD(kms_cached_key_policy(rc->st, k, text, &pol));
    }
    /* "key-policy:<ARN>", without printf (every KMS authorization) */
    static const char prefix[] = "key-policy:";
    memcpy(name, prefix, sizeof prefix - 1);
    GUARD(str_copy(name + sizeof prefix - 1, sizeof name - (sizeof prefix - 1), k->arn,
                   "the key policy's name"));
    np = (struct named_policy){ .p = pol, .name = name };
    struct authz_req ar = {
        .action = action,
        .resource = k->arn,
        .resource_account = text ? k->account_id : rc->who.account_id,
        .resource_policy = text ? &np : NULL,
        .mode = text ? RES_REQUIRED : RES_NONE,
        .extra = c->e,
        .nextra = c->n,
        .no_fail = true,
        .what_if = c->what_if,
        .no_rcp = strcmp(k->key_manager, "AWS") == 0,
    };
    r = iam_authorize(rc, &ar, res);
    /* The evidence names np, which dies here: format it now. */
    if (tr_ok(r) && ev) iam_result_evidence(res, ev, nev);
    policy_unref(pol);
    return r;
}

static tr_result denied(struct req_ctx *rc, const char *action, const char *resource,
                        const struct eval_result *res)
{
    char msg[TR_ERR_MSG_MAX];
    struct eval_request rq = {
        .who = { .arn = rc->who.arn, .account = rc->who.account_id },
        .action = action,
        .resource = resource,
    };
    policy_denied_message(&rq, res, NULL, msg, sizeof msg);
    return tr_fail_at(__FILE__, __LINE__, TR_E_ACCESS_DENIED, "%s", msg);
}

TR_RESULT kms_identity_allows(struct req_ctx *rc, const char *action, const struct key_rec *k,
                              const struct kms_authz_in *in, bool *allowed)
{
    struct kctx c;
    struct eval_result res;
    tr_result r;

    *allowed = false;
    r = kctx_build(&c, rc, action, k, in);
    if (tr_ok(r)) r = evaluate(rc, action, k, NULL, &c, &res, NULL, 0);
    if (tr_ok(r)) *allowed = res.decision == DECISION_ALLOW;
    kctx_free(&c);
    return r;
}

TR_RESULT kms_policy_allows(struct req_ctx *rc, const char *action, const struct key_rec *k,
                            const char *policy_text, const struct kms_authz_in *in,
                            bool *allowed)
{
    struct kctx c;
    struct eval_result res;
    tr_result r;

    *allowed = false;
    ENSURE_REF(policy_text);
    r = kctx_build(&c, rc, action, k, in);
    c.what_if = true;                  /* the lockout check's question */
    if (tr_ok(r)) r = evaluate(rc, action, k, policy_text, &c, &res, NULL, 0);
    if (tr_ok(r)) *allowed = res.decision == DECISION_ALLOW;
    kctx_free(&c);
    return r;
}

/* An implicit deny: may a grant still allow?  *m how the grant named the
 * caller; ev (may be NULL) the IAM evidence when the caller's identity
 * side had to allow too. */
static TR_RESULT grant_allows(struct req_ctx *rc, const char *action, const struct key_rec *k,
                              const struct kms_authz_in *in, const struct kctx *c, bool *allowed,
                              bool *conditional, enum kms_grant_match *m, char grant_id[65],
                              char *ev, size_t nev)
{
    struct eval_result res;

    *allowed = *conditional = false;
    *m = KG_NONE;
    grant_id[0] = '\0';
    if (in && in->no_grants) return TR_OK;
    GUARD(kms_grants_allow_id(rc, action, k, in, m, grant_id));
    if (*m == KG_NONE) return TR_OK;
    if (*m == KG_DIRECT && strcmp(k->account_id, rc->who.account_id) == 0) {
        *allowed = true;
        return TR_OK;
    }
    /* A grant to an account, or to a caller of another account: the
     * caller's own IAM side must allow as well. */
    GUARD(evaluate(rc, action, k, NULL, c, &res, ev, nev));
    *allowed = res.decision == DECISION_ALLOW;
    *conditional = *allowed && res.conditional;   /* (static analysis: the IAM side's "only if") */
    return TR_OK;
}

/* The decision for a key operation (k non-NULL), shared by the server
 * (kms_authorize_in) and the analyzer (kms_authorize_explain). */
/* want_ev: fill x->evidence (the analyzer; the server only decides). */
static TR_RESULT decide(struct req_ctx *rc, const char *action, const struct key_rec *k,
                        const struct kms_authz_in *in, const struct kctx *c,
                        struct kms_explain *x, bool want_ev)
{
    enum kms_grant_match m = KG_NONE;
    bool ok = false, cond = false;

    GUARD(evaluate(rc, action, k, k->policy ? k->policy : "", c, &x->res,
                   want_ev ? x->evidence : NULL, want_ev ? sizeof x->evidence : 0));
    x->conditional = x->res.conditional;
    if (x->res.decision == DECISION_ALLOW) {
        x->allowed = true;
        x->source = KX_KEY_POLICY;
        return TR_OK;
    }
    if (x->res.decision != DECISION_IMPLICIT_DENY) return TR_OK;
    char gev[sizeof x->evidence] = "";
    GUARD(grant_allows(rc, action, k, in, c, &ok, &cond, &m, x->grant_id, want_ev ? gev : NULL,
                       want_ev ? sizeof gev : 0));
    if (!ok) return TR_OK;
    x->allowed = true;
    x->source = KX_GRANT;
    /* Static analysis: the grant path holds only if the IAM side it
     * needed holds, and only if no key-policy Deny whose conditions were
     * unknown (res.cond_refs on an implicit deny) applies. */
    x->conditional = cond || x->res.ncond_refs > 0;
    if (rc->audit)  /* the audit record: a grant, not a statement, allowed it */
        audit_req_note(rc->audit, json_pack("{s:s, s:s, s:s, s:s}", "action", action, "resource", k->arn,
                                            "decision", "allow", "grant", x->grant_id),
                       rc->via_service != NULL, k->arn);
    if (!want_ev) return TR_OK;
    /* Evidence is for people: each part is bounded (64 + 300 + 500 and 41
     * more), so the line always fits. */
    _Static_assert(sizeof x->evidence > 64 + 300 + 500 + 41 + sizeof "grant  on  to ", "evidence fits");
    /* fits: asserted above */
    snprintf(x->evidence, sizeof x->evidence, "grant %.64s on %.300s to %s%s%.500s", x->grant_id,
             k->arn, m == KG_DIRECT ? "the caller" : "the caller's account",
             gev[0] ? "; IAM: " : "", gev);
    return TR_OK;
}

TR_RESULT kms_authorize_explain(struct req_ctx *rc, const char *action, const struct key_rec *k,
                                const struct kms_authz_in *in, struct kms_explain *out)
{
    struct kctx c;
    tr_result r;

    memset(out, 0, sizeof *out);
    r = kctx_build(&c, rc, action, k, in);
    if (tr_ok(r) && !k) {
        /* Account-level actions: IAM policies alone decide (as in
         * kms_authorize_in). */
        struct authz_req ar = {
            .action = action, .resource = "*", .resource_account = rc->who.account_id,
            .mode = RES_NONE, .extra = c.e, .nextra = c.n, .no_fail = true,
        };
        r = iam_authorize(rc, &ar, &out->res);
        if (tr_ok(r)) iam_result_evidence(&out->res, out->evidence, sizeof out->evidence);
        out->allowed = out->res.decision == DECISION_ALLOW;
        out->conditional = out->res.conditional;
    } else if (tr_ok(r)) {
        r = decide(rc, action, k, in, &c, out, true);
    }
    if (tr_ok(r) && !out->allowed) {
        struct eval_request rq = {
            .who = { .arn = rc->who.arn, .account = rc->who.account_id },
            .action = action,
            .resource = k ? k->arn : "*",
        };
        policy_denied_message(&rq, &out->res, NULL, out->message, sizeof out->message);
    }
    /* The refs named policies that are gone now. */
    out->res.nrefs = 0;
    out->res.ncond_refs = 0;
    out->res.nchecked_denies = 0;
    kctx_free(&c);
    return r;
}

/* The decision record of kms_authorize_in (3.7 KiB): each thread keeps
 * one, as iam_authorize keeps its context builder, instead of a calloc
 * and free per KMS request; a nested decision (busy) gets a fresh one.
 * It holds statement references and messages, never key material. */
struct explain_scratch {
    struct kms_explain x;
    bool busy;
};

static struct tlocal_slot explain_slot = TLOCAL_SLOT(free);

static struct kms_explain *explain_take(struct explain_scratch **scratch)
{
    struct explain_scratch *s = tlocal_get(&explain_slot, sizeof *s);
    if (s && !s->busy) {
        s->busy = true;
        memset(&s->x, 0, sizeof s->x);
        *scratch = s;
        return &s->x;
    }
    *scratch = NULL;
    return calloc(1, sizeof(struct kms_explain));
}

static void explain_put(struct kms_explain *x, struct explain_scratch *scratch)
{
    if (scratch) scratch->busy = false;
    else free(x);
}

TR_RESULT kms_authorize_in(struct req_ctx *rc, const char *action, const struct key_rec *k,
                           const struct kms_authz_in *in)
{
    struct kctx c;
    struct kms_explain *x = NULL;
    struct explain_scratch *scratch = NULL;
    tr_result r;

    r = kctx_build(&c, rc, action, k, in);
    if (tr_failed(r)) goto fail;
    if (!k) {
        /* Account-level actions: IAM policies alone decide. */
        struct authz_req ar = {
            .action = action, .resource = "*", .resource_account = rc->who.account_id,
            .mode = RES_NONE, .extra = c.e, .nextra = c.n,
        };
        r = iam_authorize(rc, &ar, NULL);
        goto fail;
    }
    x = explain_take(&scratch);
    if (!x) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    r = decide(rc, action, k, in, &c, x, false);
    if (tr_failed(r) || x->allowed) goto fail;
    r = denied(rc, action, k->arn, &x->res);
fail:
    if (x) explain_put(x, scratch);
    kctx_free(&c);
    return r;
}

TR_RESULT kms_authorize(struct req_ctx *rc, const char *action,
                        const struct key_rec *k, json_t *ctx)
{
    struct kms_authz_in in = { .ctx = ctx };
    return kms_authorize_in(rc, action, k, &in);
}

/* ---- aliases and RetireGrant --------------------------------------------- */

TR_RESULT kms_authorize_alias(struct req_ctx *rc, const char *action, const char *alias_name)
{
    char arn[KMS_ARN_MAX + 1];
    ENSURE_REF(alias_name);
    GUARD(kms_arn(arn, sizeof arn, rc->region, rc->who.account_id, alias_name));
    /* The KMS permissions table lists no condition key "when controlling
     * access to the alias": the global keys only. */
    struct authz_req ar = {
        .action = action, .resource = arn, .resource_account = rc->who.account_id,
        .mode = RES_NONE,
    };
    return iam_authorize(rc, &ar, NULL);
}

TR_RESULT kms_authorize_retire(struct req_ctx *rc, const struct key_rec *k,
                               const struct kms_authz_in *in, enum kms_grant_match named,
                               const char *issuing_account)
{
    static const char ACTION[] = "kms:RetireGrant";
    struct kctx c;
    struct eval_result res;
    tr_result r;

    ENSURE_REF(k);
    /* The caller's IAM side, for its explicit denies and for the accounts
     * that delegate with kms:RetireGrant ("Retiring and revoking grants"). */
    r = kctx_build(&c, rc, ACTION, k, in);
    if (tr_ok(r)) r = evaluate(rc, ACTION, k, NULL, &c, &res, NULL, 0);
    kctx_free(&c);
    GUARD(r);
    if (res.decision == DECISION_EXPLICIT_DENY) return denied(rc, ACTION, k->arn, &res);
    if (named == KG_DIRECT) return TR_OK;
    /* "As a backup, the AWS account in which the grant was created can
     * retire the grant"; "the AWS account that owns the KMS key can
     * delegate the kms:RetireGrant permission to an IAM principal in the
     * account"; an account the grant names delegates the same way. */
    bool delegates = named == KG_ACCOUNT || strcmp(k->account_id, rc->who.account_id) == 0 ||
                     (issuing_account && strcmp(issuing_account, rc->who.account_id) == 0);
    if (delegates && res.decision == DECISION_ALLOW) return TR_OK;
    if (!delegates) {
        /* Neither named by the grant nor of its account: the grant, which
         * stands where a resource policy would, does not allow. */
        res.decision = DECISION_IMPLICIT_DENY;
        res.deny_type = PT_RESOURCE;
        res.nrefs = 0;
    }
    return denied(rc, ACTION, k->arn, &res);
}
