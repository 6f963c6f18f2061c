/*
 * versions.c -- DescribeSecret, ListSecretVersionIds and
 * UpdateSecretVersionStage, and the staging-label rules shared with
 * values.c.
 *
 * Labels (AWS API reference; AWS-recorded LocalStack snapshots of
 * test_secretsmanager.py, 2022-2023):
 *  - a label is on at most one version of a secret; attaching it to a
 *    version takes it off the other;
 *  - labels come back sorted ("AWSCURRENT", "AWSPENDING", "PUT1", ...);
 *  - when a new value takes AWSCURRENT (PutSecretValue, UpdateSecret), the
 *    version that held it gets AWSPREVIOUS (taken off its previous holder)
 *    and loses AWSPENDING: recorded [AWSCURRENT, AWSPENDING] ->
 *    [AWSPREVIOUS];
 *  - UpdateSecretVersionStage moving AWSCURRENT gives the version it left
 *    AWSPREVIOUS; the target keeps its other labels (recorded
 *    [AWSPENDING] -> [AWSCURRENT, AWSPENDING]);
 *  - a label attached elsewhere can only be moved by naming that version
 *    in RemoveFromVersionId: InvalidParameterException "The parameter
 *    RemoveFromVersionId can't be empty. Staging label <L> is currently
 *    attached to version <id>, so you must explicitly reference that
 *    version in RemoveFromVersionId." (wording from AWS's own error as
 *    quoted by the Terraform AWS provider changelog);
 *  - AWSCURRENT cannot be removed without a new home: "You can only move
 *    staging label AWSCURRENT to a different secret version. It can't be
 *    completely removed." (InvalidParameterException);
 *  - versions without labels are deprecated: ListSecretVersionIds shows
 *    them only with IncludeDeprecated, DescribeSecret never.  AWS keeps at
 *    most 100 versions; we delete the oldest unlabeled versions beyond 100
 *    whenever a version is added (AWS also spares versions younger than
 *    24 hours; we do not: the count is the rule here).
 *  - ListSecretVersionIds: oldest first; KmsKeyIds is
 *    ["DefaultEncryptionKey"] for versions under aws/secretsmanager
 *    (recorded), else the key as the caller named it.
 * DescribeSecret and ListSecretVersionIds also answer for a secret pending
 * deletion (DescribeSecret then shows DeletedDate); UpdateSecretVersionStage
 * refuses it (InvalidRequestException "...marked for deletion.").
 * Choices: an unknown MoveToVersionId/RemoveFromVersionId is
 * InvalidParameterException "Not a valid version: <id>"; a
 * RemoveFromVersionId that does not carry the label is
 * InvalidParameterException "Version stage <L> not found in version <id>";
 * neither id given is InvalidParameterException.
 */
#include "secrets/values.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/str.h"
#include "secrets/authz.h"
#include "secrets/describe.h"
#include "secrets/envelope.h"
#include "secrets/params.h"

/* ---- label rules ------------------------------------------------------------ */

static void mark(bool *changed, const struct secret *s, const struct secret_version *v)
{
    changed[v - s->versions] = true;
}

/* Save the changed versions but skip.  Two stubs -- what a new AWSCURRENT
 * changes of a secret read through its index: the old current (now
 * AWSPREVIOUS) and the old AWSPREVIOUS (no label) -- go in one store
 * call, one statement; every other version on its own. */
static TR_RESULT save_changed(store_t st, const struct secret *s, const bool *changed,
                              const struct secret_version *skip)
{
    const struct secret_version *stub[2];
    size_t nstub = 0, nother = 0;
    for (size_t i = 0; i < s->nversions; i++) {
        if (!changed[i] || &s->versions[i] == skip) continue;
        if (s->versions[i].stub && nstub < 2) stub[nstub++] = &s->versions[i];
        else nother++;
    }
    if (nstub == 2 && nother == 0) return sm_stubs_save(st, s, stub[0], stub[1]);
    for (size_t i = 0; i < s->nversions; i++)
        if (changed[i] && &s->versions[i] != skip) GUARD(sm_version_save(st, s, &s->versions[i]));
    return TR_OK;
}

/* AWSCURRENT left `from` for another version: `from` becomes AWSPREVIOUS. */
static TR_RESULT demote_current(struct secret *s, struct secret_version *from, bool *changed)
{
    for (size_t i = 0; i < s->nversions; i++) {
        struct secret_version *p = &s->versions[i];
        if (p != from && sm_version_has_stage(p, SM_PREVIOUS)) {
            sm_stage_remove(p, SM_PREVIOUS);
            mark(changed, s, p);
        }
    }
    GUARD(sm_stage_add(from, SM_PREVIOUS));
    mark(changed, s, from);
    return TR_OK;
}

TR_RESULT sm_labels_attach(store_t st, struct secret *s, struct secret_version *v,
                           const char *const *labels, size_t n)
{
    ENSURE_REF(v);
    bool *changed = calloc(s->nversions ? s->nversions : 1, sizeof *changed);
    struct secret_version *old_current = NULL;
    bool takes_pending = false;
    tr_result r = TR_OK;
    ENSURE(changed != NULL, TR_E_INTERNAL);
    for (size_t k = 0; k < n && tr_ok(r); k++) {
        if (strcmp(labels[k], SM_PENDING) == 0) takes_pending = true;
        for (size_t i = 0; i < s->nversions; i++) {
            struct secret_version *o = &s->versions[i];
            if (o == v || !sm_version_has_stage(o, labels[k])) continue;
            sm_stage_remove(o, labels[k]);
            mark(changed, s, o);
            if (strcmp(labels[k], SM_CURRENT) == 0) old_current = o;
        }
        r = sm_stage_add(v, labels[k]);
    }
    if (tr_ok(r) && old_current) {
        r = demote_current(s, old_current, changed);
        if (!takes_pending && sm_version_has_stage(old_current, SM_PENDING))
            sm_stage_remove(old_current, SM_PENDING);
    }
    if (tr_ok(r) && v->nstages > SM_STAGES_MAX)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_LIMIT_EXCEEDED,
                       "A version can have at most %d staging labels.", SM_STAGES_MAX);
    if (tr_ok(r)) r = save_changed(st, s, changed, v);
    free(changed);
    return r;
}

/* Take s->versions[i] out of memory (it is gone from the store). */
static void version_drop(struct secret *s, size_t i)
{
    struct secret_version gone = s->versions[i];
    memmove(&s->versions[i], &s->versions[i + 1], (s->nversions - i - 1) * sizeof *s->versions);
    s->nversions--;
    free(gone.id);
    for (size_t j = 0; j < gone.nstages; j++) free(gone.stages[j]);
    free(gone.stages);
    free(gone.key_arn);
    free(gone.edk);
    free(gone.ct);
    json_decref(gone.doc);
}

/* Pruning a secret that holds only its labeled versions (secrets.c, "The
 * version index"): one statement deletes the oldest versions in the
 * creation order that are none of those in memory -- every labeled one,
 * and the new one -- with their places (rel_prune_order).  *short_ set
 * when that cannot be the answer: more versions in memory than the
 * statement keeps, or fewer rows deleted than the count asks (the order
 * disagrees with the count, or the versions that could go are the ones
 * in memory, such as an unlabeled new one): the caller then prunes from
 * every version, which sees what this deleted. */
static TR_RESULT prune_in_order(store_t st, struct secret *s, bool *short_)
{
    const char *keep[STORE_PRUNE_KEEP_MAX];
    int deleted = 0;
    *short_ = false;
    if (s->nall <= SM_MAX_VERSIONS) return TR_OK;
    if (s->nversions > STORE_PRUNE_KEEP_MAX) {
        *short_ = true;
        return TR_OK;
    }
    for (size_t i = 0; i < s->nversions; i++) keep[i] = s->versions[i].id;
    size_t want = (size_t)(s->nall - SM_MAX_VERSIONS);
    GUARD(st[0]->rel_prune_order(st, SM_SEQ_KIND, SM_VER_KIND, s->arn, want, keep, s->nversions,
                                 &deleted));
    s->nall -= deleted / 2;
    if (deleted < 0 || (size_t)deleted != 2 * want) *short_ = true;
    return TR_OK;
}

TR_RESULT sm_versions_prune(store_t st, struct secret *s)
{
    if (s->held == SM_HELD_LABELED) {
        bool short_;
        GUARD(prune_in_order(st, s, &short_));
        if (!short_) return TR_OK;
        GUARD(sm_load_all_versions(st, s));
    }
    while (s->nversions > SM_MAX_VERSIONS) {
        size_t i = 0;
        while (i < s->nversions && s->versions[i].nstages > 0) i++;   /* oldest first */
        if (i == s->nversions) break;
        GUARD(sm_version_delete(st, s, &s->versions[i]));
        version_drop(s, i);
    }
    return TR_OK;
}

/* ---- DescribeSecret ----------------------------------------------------------- */

SM_VALUE_HANDLER(sm_op_describe_secret)
{
    struct secret s;
    GUARD(sm_find_for_op(rc, in, false, &s));
    json_t *o = json_object();
    tr_result r = o ? sm_describe_fill(rc, &s, true, o)
                    : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    secret_free(&s);
    if (tr_failed(r)) { json_decref(o); return r; }
    *out = o;
    return TR_OK;
}

/* ---- ListSecretVersionIds ------------------------------------------------------- */

/* NextToken: base64 of "v:<seq>" of the last version returned. */
static TR_RESULT seq_token_decode(const char *tok, int64_t *seq)
{
    struct buf b = BUF_INIT(64);
    const char *txt = NULL;
    tr_result r = b64_decode(tok, strlen(tok), &b);
    if (tr_ok(r)) r = buf_cstr(&b, &txt);
    long long v = -1;
    char tail = 0;
    if (tr_ok(r) && (sscanf(txt, "v:%lld%c", &v, &tail) != 1 || v < 0))
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_INVALID_NEXT_TOKEN, NULL);
    buf_free(&b);
    if (tr_failed(r)) BAIL(TR_E_SM_INVALID_NEXT_TOKEN, "The NextToken value is invalid.");
    *seq = v;
    return TR_OK;
}

static TR_RESULT seq_token_set(json_t *reply, int64_t seq)
{
    char txt[40];
    struct buf b = BUF_INIT(64);
    const char *t;
    snprintf(txt, sizeof txt, "v:%lld", (long long)seq);   /* fits: v: and a long long */
    tr_result r = b64_encode((const uint8_t *)txt, strlen(txt), &b);
    if (tr_ok(r)) r = buf_cstr(&b, &t);
    if (tr_ok(r)) r = sm_set(reply, "NextToken", json_string(t));
    buf_free(&b);
    return r;
}

static TR_RESULT version_entry(const struct secret_version *v, json_t **out)
{
    json_t *o = json_pack("{s:s}", "VersionId", v->id);
    ENSURE(o != NULL, TR_E_INTERNAL);
    tr_result r = TR_OK;
    if (v->nstages) {
        json_t *a = json_array();
        r = sm_set(o, "VersionStages", a);
        for (size_t i = 0; tr_ok(r) && i < v->nstages; i++)
            if (json_array_append_new(a, json_string(v->stages[i])) != 0)
                r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    if (tr_ok(r) && v->last_accessed)
        r = sm_set_date(o, "LastAccessedDate", (double)v->last_accessed);
    if (tr_ok(r) && v->created) r = sm_set_date(o, "CreatedDate", v->created);
    if (tr_ok(r) && v->ct)
        r = sm_set(o, "KmsKeyIds", json_pack("[s]", sm_version_key_label(v)));
    if (tr_failed(r)) { json_decref(o); return r; }
    *out = o;
    return TR_OK;
}

SM_VALUE_HANDLER(sm_op_list_secret_version_ids)
{
    struct secret s;
    const char *id, *next;
    int64_t max = 100, after = 0;
    bool has_max, deprecated = false;
    json_t *reply = NULL, *list = NULL;
    tr_result r;

    GUARD(sm_get_secret_id(in, &id));
    GUARD(json_get_int(in, "MaxResults", false, 1, 100, &has_max, &max));
    GUARD(json_get_str(in, "NextToken", false, 1, 4096, &next));
    GUARD(json_get_bool(in, "IncludeDeprecated", NULL, &deprecated));
    if (next) GUARD(seq_token_decode(next, &after));
    GUARD(sm_find_authorized(rc, rc->op->action, id, NULL, 0, false, &s));

    r = sm_reply_arn_name(s.arn, s.name, &reply);
    if (tr_failed(r)) goto fail;
    list = json_array();
    if (!list) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    int64_t got = 0, last = 0;
    bool more = false;
    for (size_t i = 0; i < s.nversions && tr_ok(r); i++) {
        const struct secret_version *v = &s.versions[i];
        if (v->seq <= after || (!deprecated && v->nstages == 0)) continue;
        if (got == max) { more = true; break; }
        json_t *e = NULL;
        r = version_entry(v, &e);
        if (tr_ok(r) && json_array_append_new(list, e) != 0)
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        got++;
        last = v->seq;
    }
    if (tr_ok(r)) { r = sm_set(reply, "Versions", list); list = NULL; }
    if (tr_ok(r) && more) r = seq_token_set(reply, last);
    if (tr_failed(r)) goto fail;
    *out = reply;
    reply = NULL;
fail:
    json_decref(reply);
    json_decref(list);
    secret_free(&s);
    return r;
}

/* ---- UpdateSecretVersionStage ---------------------------------------------------- */

SM_VALUE_HANDLER(sm_op_update_secret_version_stage)
{
    struct secret s;
    struct ctx_builder *c = NULL;
    const char *id, *label, *from_id, *to_id;
    bool *changed = NULL;
    tr_result r;

    memset(&s, 0, sizeof s);
    GUARD(sm_get_secret_id(in, &id));
    GUARD(json_get_str(in, "VersionStage", true, 1, SM_STAGE_MAX, &label));
    GUARD(json_get_str(in, "RemoveFromVersionId", false, SM_TOKEN_MIN, SM_TOKEN_MAX, &from_id));
    GUARD(json_get_str(in, "MoveToVersionId", false, SM_TOKEN_MIN, SM_TOKEN_MAX, &to_id));
    c = malloc(sizeof *c);
    ENSURE(c != NULL, TR_E_INTERNAL);
    sm_ctx_init(c);
    r = iam_ctx_add(c, "secretsmanager:VersionStage", label);
    if (tr_ok(r))
        r = sm_find_authorized(rc, rc->op->action, id, c->e, c->n,
                               true, &s);
    if (tr_failed(r)) goto fail;

    struct secret_version *from = NULL, *to = NULL, *holder = sm_version_by_stage(&s, label);
    if (!from_id && !to_id) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_INVALID_PARAMETER,
                       "You must specify MoveToVersionId, RemoveFromVersionId, or both.");
        goto fail;
    }
    if (from_id && !(from = sm_version_by_id(&s, from_id))) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_INVALID_PARAMETER,
                       "Not a valid version: %s", from_id);
        goto fail;
    }
    if (to_id && !(to = sm_version_by_id(&s, to_id))) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_INVALID_PARAMETER,
                       "Not a valid version: %s", to_id);
        goto fail;
    }
    if (from && !sm_version_has_stage(from, label)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_INVALID_PARAMETER,
                       "Version stage %s not found in version %s", label, from_id);
        goto fail;
    }
    if (to && holder && holder != to && !from) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_INVALID_PARAMETER,
                       "The parameter RemoveFromVersionId can't be empty. Staging label %s is "
                       "currently attached to version %s, so you must explicitly reference "
                       "that version in RemoveFromVersionId.", label, holder->id);
        goto fail;
    }
    if (!to && strcmp(label, SM_CURRENT) == 0) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_INVALID_PARAMETER,
                       "You can only move staging label AWSCURRENT to a different secret "
                       "version. It can't be completely removed.");
        goto fail;
    }

    changed = calloc(s.nversions, sizeof *changed);
    if (!changed) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    if (from && from != to) {
        sm_stage_remove(from, label);
        mark(changed, &s, from);
    }
    if (to && !sm_version_has_stage(to, label)) {
        r = sm_stage_add(to, label);
        mark(changed, &s, to);
        if (tr_ok(r) && to->nstages > SM_STAGES_MAX)
            r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_LIMIT_EXCEEDED,
                           "A version can have at most %d staging labels.", SM_STAGES_MAX);
        if (tr_ok(r) && strcmp(label, SM_CURRENT) == 0 && from && from != to) {
            r = demote_current(&s, from, changed);
            if (tr_ok(r) && sm_version_has_stage(to, SM_PREVIOUS)) sm_stage_remove(to, SM_PREVIOUS);
        }
    }
    if (tr_ok(r)) r = save_changed(rc->st, &s, changed, NULL);
    if (tr_failed(r)) goto fail;
    s.last_changed = sm_now(rc);
    r = sm_save(rc->st, &s, false);
    if (tr_ok(r)) r = sm_reply_arn_name(s.arn, s.name, out);
fail:
    free(changed);
    secret_free(&s);
    iam_ctx_free(c);
    free(c);
    return r;
}
