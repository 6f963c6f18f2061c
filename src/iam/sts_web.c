/*
 * sts_web.c -- AssumeRoleWithWebIdentity: temporary credentials of a role
 * for the holder of an OpenID Connect token (a Kubernetes service
 * account's, a CI job's), with no AWS credentials at all -- the request is
 * unsigned (OP_UNSIGNED), as on AWS.  docs/OIDC.md.
 *
 * In order:
 *   1. parameters, the members of the operation's shape only (AssumeRole's
 *      validation: RoleArn, RoleSessionName 2..64 [\w+=,.@-]*,
 *      DurationSeconds 900..43200, Policy, PolicyArns), then
 *      WebIdentityToken 4..20000 and ProviderId 4..2048 (OAuth 2.0
 *      providers only: accepted, unused).  AssumeRole's other members
 *      (ExternalId, Tags, TransitiveTagKeys, SourceIdentity, SerialNumber,
 *      TokenCode) are not read: like any parameter a query operation does
 *      not take, they are ignored, so session tags and a source identity
 *      come from the token alone;
 *   2. the session policy compiles (MalformedPolicyDocument);
 *   3. the token (web_identity.c: format, issuer, signature, audience,
 *      times), against the providers of the role's account;
 *   4. the source identity from the token's
 *      https://aws.amazon.com/source_identity claim (IAM User Guide,
 *      "Monitor and control actions taken with assumed roles"): a string
 *      of SourceIdentity's pattern, else IDPRejectedClaim (403; the
 *      message is ours: AWS documents the error only as "the claim is
 *      invalid"); a SourceIdentity request parameter, which the operation
 *      does not have, is ignored;
 *      session tags from the token's https://aws.amazon.com/tags claim
 *      (principal_tags: {key: [value]}, transitive_tag_keys), then the
 *      packed size;
 *   5. the role's trust policy -- the only policy that counts -- must allow
 *      sts:AssumeRoleWithWebIdentity for {"Federated": <provider ARN>} with
 *      the token's condition keys and sts:SourceIdentity (and
 *      sts:TagSession when the token carries tags, sts:SetSourceIdentity
 *      when it carries a source identity); an unknown role is refused the same way: AccessDenied
 *      "Not authorized to perform sts:AssumeRoleWithWebIdentity";
 *   6. DurationSeconds against the role's MaxSessionDuration;
 *   7. the session, issued by sts.c's code: arn:aws:sts::A:assumed-role/
 *      ROLE/SESSION, its doc recording the provider, subject and audience.
 * A refusal at 3 or 5 logs one info line saying which check failed, or
 * which statement's condition did not hold on which claim; the audit log
 * records the same.  The token itself is never logged.
 */
#include "iam/sts_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/log.h"
#include "iam/arn.h"
#include "iam/iam_util.h"
#include "iam/web_identity.h"

#define DENIED_MSG "Not authorized to perform sts:AssumeRoleWithWebIdentity"
#define TAGS_CLAIM "https://aws.amazon.com/tags"
#define SOURCE_IDENTITY_CLAIM "https://aws.amazon.com/source_identity"
#define BAD_CLAIM_WHY "the " SOURCE_IDENTITY_CLAIM " claim is not 2..64 characters of [\\w+=,.@-]"
#define REJECTED_MSG "The source identity claim of the web identity token is not a valid source identity."

/* The refusal's line in the log and the audit record. */
static void explain(struct req_ctx *rc, const char *role_arn, const struct web_identity *w,
                    const char *check, const char *why)
{
    log_msg("info", "AssumeRoleWithWebIdentity refused: role %.700s, iss %.300s, sub %.300s, check %s: %s",
            role_arn, w->iss ? w->iss : "-", w->sub ? w->sub : "-", check, why);
    if (rc->audit) {
        json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?}", "action", "sts:AssumeRoleWithWebIdentity",
                              "decision", "deny", "check", check, "explanation", why, "iss", w->iss,
                              "sub", w->sub);
        if (d) audit_req_note(rc->audit, d, false, role_arn);
    }
}

/* Session tags from the token's tags claim into a. */
static TR_RESULT token_tags(const struct web_identity *w, struct sts_assume *a)
{
    json_t *c = json_object_get(w->t.claims, TAGS_CLAIM), *v;
    json_t *pt = json_object_get(c, "principal_tags"), *tk = json_object_get(c, "transitive_tag_keys");
    const char *k;
    size_t i;
    json_object_foreach(pt, k, v) {
        json_t *first = json_is_array(v) ? json_array_get(v, 0) : v;
        if (!json_is_string(first)) continue;
        if (a->ntags == STS_MAX_TAGS)
            BAIL(TR_E_QUERY_VALIDATION, "1 validation error detected: Value at 'tags' failed to satisfy "
                 "constraint: Member must have length less than or equal to 50");
        a->tag_keys[a->ntags] = k;
        a->tag_values[a->ntags++] = json_string_value(first);
    }
    json_array_foreach(tk, i, v) if (json_is_string(v) && a->ntransitive < STS_MAX_TAGS)
        a->transitive[a->ntransitive++] = json_string_value(v);
    return TR_OK;
}

/* The token's source identity claim into a->source_identity (none: NULL).
 * A claim that is not a string of AWS's SourceIdentity pattern is
 * IDPRejectedClaim, with w->why saying so. */
static TR_RESULT token_source_identity(struct web_identity *w, struct sts_assume *a)
{
    json_t *c = json_object_get(w->t.claims, SOURCE_IDENTITY_CLAIM);
    a->source_identity = NULL;
    if (!c) return TR_OK;
    const char *v = json_string_value(c);
    if (!v || !sts_source_identity_ok(v)) {
        snprintf(w->why, sizeof w->why, "%s", BAD_CLAIM_WHY);   /* fits: a fixed text */
        BAIL(TR_E_STS_IDP_REJECTED_CLAIM, REJECTED_MSG);
    }
    a->source_identity = v;
    return TR_OK;
}

TR_RESULT op_assume_role_with_web_identity(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    struct sts_assume a;
    struct web_identity w = { 0 };
    struct ent_rec role = { 0 };
    struct policy *trust = NULL;
    struct ctx_builder *cb = NULL;
    json_t *rdoc = NULL, *extra = NULL;
    const char *token, *provider_id;
    char *explanation = NULL;
    tr_result r;

    GUARD(sts_parse_web_assume(in, &a));
    GUARD(form_str(in, "WebIdentityToken", true, 4, 20000, &token));
    GUARD(form_str(in, "ProviderId", false, 4, 2048, &provider_id));
    if (a.policy) {
        struct policy *sp = NULL;
        GUARD(policy_compile(a.policy, strlen(a.policy), POLICY_IDENTITY, &sp));
        policy_unref(sp);
    }
    r = web_identity_verify(rc->st, a.role_account, token, rc->now, &w);
    if (tr_failed(r)) {
        explain(rc, a.role_arn, &w, w.check ? w.check : "store", w.why);
        goto fail;
    }
    r = token_source_identity(&w, &a);
    if (tr_failed(r)) {
        explain(rc, a.role_arn, &w, "source_identity", w.why);
        goto fail;
    }
    r = token_tags(&w, &a);
    if (tr_ok(r)) r = sts_packed_size(&a);
    if (tr_failed(r)) goto fail;

    r = rc->st[0]->ent_get_arn(rc->st, IAM_ROLE, a.role_arn, &role);
    bool found = tr_ok(r);
    if (!found && tr_code(r) != TR_E_STORE_NOT_FOUND) goto fail;
    if (!found) {
        explain(rc, a.role_arn, &w, "role", "no such role");
        r = tr_fail_at(__FILE__, __LINE__, TR_E_IAM_ACCESS_DENIED, DENIED_MSG);
        goto fail;
    }
    rdoc = iam_doc(&role);
    const char *text = json_string_value(json_object_get(rdoc, "trust"));
    const char *ids = json_string_value(json_object_get(rdoc, "trust_ids"));
    if (!text) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "role without a trust policy"); goto fail; }
    r = policy_cache_get_stored(text, strlen(text), POLICY_TRUST, ids, role.arn, &trust);
    if (tr_failed(r)) goto fail;
    struct named_policy np = { .p = trust, .name = "trust" };

    cb = calloc(1, sizeof *cb);
    explanation = malloc(WEB_EXPLAIN_MAX);
    if (!cb || !explanation) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    r = sts_assume_context(&a, cb);
    if (tr_ok(r)) r = web_identity_context(&w, cb);
    if (tr_ok(r)) r = sts_role_tags_context(rc, role.arn, cb);
    if (tr_failed(r)) goto fail;
    bool allowed = false;
    r = web_identity_trust(&w, rc->op->action, role.arn, role.account_id, &np, text, cb, &allowed,
                           explanation);
    if (tr_ok(r) && allowed && a.ntags)
        r = web_identity_trust(&w, "sts:TagSession", role.arn, role.account_id, &np, text, cb, &allowed,
                               explanation);
    if (tr_ok(r) && allowed && a.source_identity)
        r = web_identity_trust(&w, "sts:SetSourceIdentity", role.arn, role.account_id, &np, text, cb,
                               &allowed, explanation);
    if (tr_failed(r)) goto fail;
    if (!allowed) {
        explain(rc, role.arn, &w, "trust", explanation);
        r = tr_fail_at(__FILE__, __LINE__, TR_E_IAM_ACCESS_DENIED, DENIED_MSG);
        goto fail;
    }
    r = sts_max_session_check(rdoc, a.duration);
    if (tr_failed(r)) goto fail;

    extra = json_pack("{s:{s:s, s:s, s:s}}", "web_identity", "provider", w.provider_arn, "sub", w.sub,
                      "aud", w.aud);
    if (!extra) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    r = sts_issue_session(rc, &a, &role, false, NULL, extra, out);
    if (tr_failed(r)) goto fail;
    xml_text(out, "SubjectFromWebIdentityToken", w.sub);
    xml_text(out, "Provider", w.iss);
    xml_text(out, "Audience", w.aud);
fail:
    free(explanation);
    json_decref(extra);
    json_decref(rdoc);
    if (cb) {
        iam_ctx_free(cb);
        free(cb);
    }
    if (trust) policy_unref(trust);
    ent_rec_free(&role);
    web_identity_free(&w);
    return r;
}
