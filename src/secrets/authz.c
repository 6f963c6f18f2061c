/*
 * authz.c -- authorization of Secrets Manager requests, and the condition
 * keys of their request context (contract in authz.h).
 *
 * Authorization (docs/AUTHORIZATION.md 5.2): the caller's identity side is
 * asked first, against the id as given when the secret does not exist, so an
 * unauthorized caller cannot tell a missing secret from a forbidden one; a
 * found secret is authorized against its ARN with its resource policy joined
 * RES_UNION.
 */
#include "secrets/authz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "iam/authz.h"
#include "secrets/cache.h"
#include "secrets/lookup.h"
#include "secrets/params.h"
#include "secrets/replication.h"

/* ---- condition keys ---------------------------------------------------------- */

void sm_ctx_init(struct ctx_builder *c)
{
    iam_ctx_reset(c);
}

TR_RESULT sm_ctx_add_request_tags(struct ctx_builder *c, json_t *tags)
{
    if (!tags) return TR_OK;
    const char *keys[SM_MAX_TAGS];
    size_t n = 0, i;
    json_t *t;
    json_array_foreach(tags, i, t) {
        const char *k = json_string_value(json_object_get(t, "Key"));
        const char *v = json_string_value(json_object_get(t, "Value"));
        if (!k) continue;
        GUARD(iam_ctx_add_tag(c, "aws:RequestTag/", k, v));
        if (n < SM_MAX_TAGS) keys[n++] = k;
    }
    return iam_ctx_add_multi(c, "aws:TagKeys", keys, n);
}

TR_RESULT sm_ctx_add_request_keys(struct ctx_builder *c, const char *description,
                                  const char *kms_key_id, const char *kms_key_arn,
                                  const char *type)
{
    tr_result r = TR_OK;
    if (description) r = iam_ctx_add(c, "secretsmanager:Description", description);
    if (tr_ok(r) && kms_key_id) r = iam_ctx_add(c, "secretsmanager:KmsKeyId", kms_key_id);
    if (tr_ok(r) && kms_key_arn) r = iam_ctx_add(c, "secretsmanager:KmsKeyArn", kms_key_arn);
    if (tr_ok(r) && type) r = iam_ctx_add(c, "secretsmanager:Type", type);
    return r;
}

TR_RESULT sm_ctx_add_replica_regions(struct ctx_builder *c, json_t *replicas)
{
    const char *regions[64];
    size_t n = 0, i;
    json_t *e;
    if (!replicas) return TR_OK;
    json_array_foreach(replicas, i, e) {
        const char *r = json_string_value(json_object_get(e, "Region"));
        if (r && n < sizeof regions / sizeof regions[0]) regions[n++] = r;
    }
    return iam_ctx_add_multi(c, "secretsmanager:AddReplicaRegions", regions, n);
}

/* ---- authorization ------------------------------------------------------------ */

static TR_RESULT add_resource_tags(store_t st, const char *arn, struct ctx_builder *c)
{
    struct tag_rec *tags = NULL;
    size_t n = 0;
    GUARD(sm_cached_tags(st, arn, &tags, &n));
    tr_result r = iam_ctx_add_resource_tags(c, tags, n, "secretsmanager:ResourceTag/",
                                            "aws:ResourceTag/");
    tag_list_free(tags, n);
    return r;
}

/* The secret's own attributes as the Service Authorization Reference's
 * "Secret" resource type lists them: its tags (above),
 * secretsmanager:resource/Type (the Type it was created or updated with)
 * secretsmanager:resource/AllowRotationLambdaArn (its rotation
 * function, when one is recorded) and, for a multi-Region secret (a
 * primary with replicas, or a replica), secretsmanager:SecretPrimaryRegion
 * (replication.c). */
static TR_RESULT add_resource_keys(store_t st, const struct secret *s, struct ctx_builder *c)
{
    GUARD(add_resource_tags(st, s->arn, c));
    const char *type = sm_doc_str(s->doc, "type");
    const char *lambda = sm_doc_str(s->doc, "rotation_lambda_arn");
    if (type) GUARD(iam_ctx_add(c, "secretsmanager:resource/Type", type));
    if (lambda) GUARD(iam_ctx_add(c, "secretsmanager:resource/AllowRotationLambdaArn", lambda));
    const char *primary = sm_replica_primary(s);
    if (!primary && sm_replicas(s)) primary = s->region;
    if (primary) GUARD(iam_ctx_add(c, "secretsmanager:SecretPrimaryRegion", primary));
    return TR_OK;
}

/* sm_authorize, and when res is non-NULL the analyzer's variant: the
 * decision in *res, the deciding statements in ev, no failure on deny. */
static TR_RESULT authorize(struct req_ctx *rc, const char *action, const char *secret_id_as_given,
                           const struct secret *s, const struct ctx_entry *extra, size_t nextra,
                           struct eval_result *res, char *ev, size_t nev)
{
    struct ctx_builder *c = malloc(sizeof *c);
    struct policy *pol = NULL;
    struct named_policy np;
    char name_arn[SM_ID_MAX + 128];
    char label[SM_ID_MAX + 32];
    tr_result r = TR_OK;

    ENSURE(c != NULL, TR_E_INTERNAL);
    sm_ctx_init(c);
    for (size_t i = 0; i < nextra && tr_ok(r); i++)
        r = extra[i].unknown ? iam_ctx_add_unknown(c, extra[i].key)
            : extra[i].multi ? iam_ctx_add_multi(c, extra[i].key, extra[i].values, extra[i].n)
                             : iam_ctx_add(c, extra[i].key, extra[i].values[0]);
    if (tr_failed(r)) goto fail;

    struct authz_req ar = {
        .action = action,
        .resource_as_given = secret_id_as_given,
        .mode = RES_UNION,
    };
    if (s) {
        ar.resource = s->arn;
        ar.resource_account = s->account;
        r = iam_ctx_add(c, "secretsmanager:SecretId", s->arn);
        if (tr_ok(r)) r = add_resource_keys(rc->st, s, c);
        if (tr_failed(r)) goto fail;
        if (s->policy && *s->policy) {
            /* Validated when put; one that no longer compiles denies every
             * request on the secret, Deny statements never dropped
             * (docs/AUTHORIZATION.md 2.9).  (A broken binding is an
             * internal error: failing closed.) */
            r = policy_cache_get_stored(s->policy, strlen(s->policy), POLICY_RESOURCE, s->policy_ids,
                                        s->arn, &pol);
            if (tr_failed(r)) goto fail;
            r = str_format(label, sizeof label, "the resource policy's name", "resource-policy:%s", s->arn);
            if (tr_failed(r)) goto fail;
            np.p = pol;
            np.name = label;
            ar.resource_policy = &np;
        }
    } else {
        /* Not found: the identity side against the id as given.  A name
         * is evaluated as the partial ARN it would have in the caller's
         * account and region; an ARN keeps its own account, so a caller
         * of another account gets AccessDenied, not NotFound. */
        if (strncmp(secret_id_as_given, "arn:", 4) == 0) {
            struct sm_arn_parts p;
            ar.resource = secret_id_as_given;
            /* fits: an account id, 12 digits */
            snprintf(name_arn, sizeof name_arn, "%s",
                     sm_parse_arn(secret_id_as_given, &p) ? p.account : rc->who.account_id);
            ar.resource_account = name_arn;
        } else {
            r = str_format(name_arn, sizeof name_arn, "the secret's ARN", "arn:aws:secretsmanager:%s:%s:secret:%s",
                           rc->region, rc->who.account_id, secret_id_as_given);
            if (tr_failed(r)) goto fail;
            ar.resource = name_arn;
            ar.resource_account = rc->who.account_id;
        }
        r = iam_ctx_add(c, "secretsmanager:SecretId", secret_id_as_given);
        if (tr_failed(r)) goto fail;
    }
    ar.extra = c->e;
    ar.nextra = c->n;
    ar.no_fail = res != NULL;
    r = iam_authorize(rc, &ar, res);
    if (tr_ok(r) && res && ev) iam_result_evidence(res, ev, nev);
    if (tr_ok(r) && res && res->decision != DECISION_ALLOW && ev) {
        struct eval_request rq = {
            .who = { .arn = rc->who.arn, .account = rc->who.account_id },
            .action = action, .resource = ar.resource, .resource_account = ar.resource_account,
        };
        char why[512] = "";
        /* A denial by an organization's control policy: which one, and
         * where (the explanations; docs/AUTHORIZATION.md 2.10). */
        if (res->deny_type == PT_SCP || res->deny_type == PT_RCP) iam_result_evidence(res, why, sizeof why);
        policy_denied_message(&rq, res, secret_id_as_given, ev, nev);
        size_t at = strlen(ev);
        if (why[0] && at + 3 < nev) snprintf(ev + at, nev - at, ": %s", why);   /* cut: for people */
    }
    if (res) res->nrefs = res->ncond_refs = res->nchecked_denies = 0;   /* np dies here */
fail:
    if (pol) policy_unref(pol);
    iam_ctx_free(c);
    free(c);
    return r;
}

TR_RESULT sm_authorize(struct req_ctx *rc, const char *action, const char *secret_id_as_given,
                       const struct secret *s, const struct ctx_entry *extra, size_t nextra)
{
    return authorize(rc, action, secret_id_as_given, s, extra, nextra, NULL, NULL, 0);
}

TR_RESULT sm_authorize_explain(struct req_ctx *rc, const char *action, const struct secret *s,
                               const struct ctx_entry *extra, size_t nextra,
                               struct eval_result *res, char *ev, size_t nev)
{
    ENSURE_REF(s);
    ENSURE_REF(res);
    return authorize(rc, action, s->arn, s, extra, nextra, res, ev, nev);
}

TR_RESULT sm_authorize_id_explain(struct req_ctx *rc, const char *action, const char *secret_id,
                                  const struct ctx_entry *extra, size_t nextra, bool *found,
                                  struct eval_result *res, char *ev, size_t nev)
{
    struct secret s;
    ENSURE_REF(secret_id);
    ENSURE_REF(res);
    GUARD(sm_lookup_shared(rc, secret_id, &s, found));
    tr_result r = authorize(rc, action, secret_id, *found ? &s : NULL, extra, nextra, res, ev, nev);
    if (*found) secret_free(&s);
    return r;
}

/* sm_find_authorized, loading the secret as lookup_for_version does when
 * `version` is not NULL (*version: the version id, may be NULL); share:
 * a reader's, *out may be a view (sm_lookup_shared). */
static TR_RESULT find_authorized(struct req_ctx *rc, const char *action, const char *secret_id,
                                 const struct ctx_entry *extra, size_t nextra, bool must_be_live,
                                 const char *const *version, bool share, struct secret *out)
{
    bool found;
    if (version) GUARD(sm_lookup_for_version(rc, secret_id, *version, out, &found));
    else if (share) GUARD(sm_lookup_shared(rc, secret_id, out, &found));
    else GUARD(sm_lookup(rc, secret_id, out, &found));
    tr_result r = sm_authorize(rc, action, secret_id, found ? out : NULL, extra, nextra);
    if (tr_ok(r) && !found) r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_RESOURCE_NOT_FOUND, "%s",
                                           SM_MSG_NOT_FOUND);
    /* A replica is read-only: every writing operation but the one that
     * detaches it is made in the primary's region (replication.c). */
    if (tr_ok(r) && rc->writing && strcmp(action, "secretsmanager:StopReplicationToReplica") != 0)
        r = sm_check_not_replica(out);
    if (tr_ok(r) && rc->writing) sm_replica_note(out);
    if (tr_ok(r) && must_be_live) r = sm_check_live(out);
    if (tr_failed(r)) secret_free(out);
    return r;
}

TR_RESULT sm_find_authorized(struct req_ctx *rc, const char *action, const char *secret_id,
                             const struct ctx_entry *extra, size_t nextra, bool must_be_live,
                             struct secret *out)
{
    return find_authorized(rc, action, secret_id, extra, nextra, must_be_live, NULL, false, out);
}

TR_RESULT sm_find_authorized_shared(struct req_ctx *rc, const char *action, const char *secret_id,
                                    const struct ctx_entry *extra, size_t nextra, struct secret *out)
{
    return find_authorized(rc, action, secret_id, extra, nextra, true, NULL, true, out);
}

TR_RESULT sm_find_authorized_for_version(struct req_ctx *rc, const char *action,
                                         const char *secret_id, const char *version_id,
                                         struct secret *out)
{
    return find_authorized(rc, action, secret_id, NULL, 0, true, &version_id, false, out);
}

TR_RESULT sm_find_for_op(struct req_ctx *rc, json_t *in, bool must_be_live, struct secret *out)
{
    const char *id;
    GUARD(sm_get_secret_id(in, &id));
    return sm_find_authorized(rc, rc->op->action, id, NULL, 0, must_be_live, out);
}

TR_RESULT sm_authorize_account(struct req_ctx *rc, const char *action, const char *resource,
                               const struct ctx_entry *extra, size_t nextra)
{
    struct authz_req ar = {
        .action = action,
        .resource = resource ? resource : "*",
        .resource_account = rc->who.account_id,
        .mode = RES_NONE,
        .extra = extra,
        .nextra = nextra,
    };
    return iam_authorize(rc, &ar, NULL);
}
