/*
 * describe.c -- the DescribeSecret shape of a secret and the JSON pieces
 * every Secrets Manager reply builds from (contract in describe.h).
 */
#include "secrets/describe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "secrets/cache.h"
#include "secrets/replication.h"

/* ---- members ------------------------------------------------------------ */

TR_RESULT sm_set_date(json_t *obj, const char *name, double t)
{
    /* Whole seconds go out as integers (what json_set_time does), others
     * with their milliseconds. */
    if (t == (double)(int64_t)t) return sm_set(obj, name, json_integer((json_int_t)t));
    return sm_set(obj, name, json_real(t));
}

/* ---- replies ------------------------------------------------------------------ */

TR_RESULT sm_tags_json(store_t st, const char *arn, json_t **out)
{
    struct tag_rec *tags = NULL;
    size_t n = 0;
    *out = NULL;
    GUARD(sm_cached_tags(st, arn, &tags, &n));
    json_t *a = json_array();
    tr_result r = a ? TR_OK : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    for (size_t i = 0; i < n && tr_ok(r); i++) {
        json_t *t = json_pack("{s:s, s:s}", "Key", tags[i].key, "Value",
                              tags[i].value ? tags[i].value : "");
        if (!t || json_array_append_new(a, t) != 0)
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    tag_list_free(tags, n);
    if (tr_failed(r)) { json_decref(a); return r; }
    *out = a;
    return TR_OK;
}

TR_RESULT sm_versions_to_stages(const struct secret *s, json_t **out)
{
    *out = NULL;
    json_t *m = NULL;
    for (size_t i = 0; i < s->nversions; i++) {
        const struct secret_version *v = &s->versions[i];
        if (v->nstages == 0) continue;
        if (!m) {
            m = json_object();
            ENSURE(m != NULL, TR_E_INTERNAL);
        }
        json_t *a = json_array();
        if (!a || json_object_set_new(m, v->id, a) != 0) {
            json_decref(m);
            BAIL0(TR_E_INTERNAL);
        }
        for (size_t j = 0; j < v->nstages; j++)
            if (json_array_append_new(a, json_string(v->stages[j])) != 0) {
                json_decref(m);
                BAIL0(TR_E_INTERNAL);
            }
    }
    *out = m;
    return TR_OK;
}

TR_RESULT sm_describe_fill(struct req_ctx *rc, const struct secret *s, bool versions, json_t *obj)
{
    json_t *tags = NULL;
    GUARD(sm_set(obj, "ARN", json_string(s->arn)));
    GUARD(sm_set(obj, "Name", json_string(s->name)));
    if (s->description) GUARD(sm_set(obj, "Description", json_string(s->description)));
    /* KmsKeyId is omitted when the secret uses aws/secretsmanager
     * (docs/AUTHORIZATION.md 5.3); otherwise AWS returns the key as it was given. */
    if (s->kms_key_id) GUARD(sm_set(obj, "KmsKeyId", json_string(s->kms_key_id)));
    json_t *d = s->doc;
    /* RotationEnabled only once rotation was configured (AWS omits it
     * for a secret that never had rotation: recorded DescribeSecret). */
    json_t *rot = json_object_get(d, "rotation_enabled");
    if (json_is_boolean(rot)) GUARD(sm_set(obj, "RotationEnabled", json_boolean(json_is_true(rot))));
    const char *lambda = sm_doc_str(d, "rotation_lambda_arn");
    if (lambda) GUARD(sm_set(obj, "RotationLambdaARN", json_string(lambda)));
    json_t *rules = json_object_get(d, "rotation_rules");
    if (json_is_object(rules)) GUARD(sm_set(obj, "RotationRules", json_deep_copy(rules)));
    if (sm_doc_num(d, "last_rotated")) GUARD(sm_set_date(obj, "LastRotatedDate", sm_doc_num(d, "last_rotated")));
    if (s->last_changed) GUARD(sm_set_date(obj, "LastChangedDate", s->last_changed));
    if (s->last_accessed) GUARD(sm_set_date(obj, "LastAccessedDate", (double)s->last_accessed));
    /* DescribeSecret's DeletedDate is "the date the secret is scheduled
     * for deletion" (model): the doc's deletion_date that DeleteSecret
     * records (manage.c), else the request time.  ListSecrets documents
     * its DeletedDate as when the deletion occurred: manage.c sets that
     * one itself after this fill when it wants the other date. */
    if (s->deleted_date) {
        double when = sm_doc_num(d, "deletion_date");
        GUARD(sm_set_date(obj, "DeletedDate", when ? when : s->deleted_date));
    }
    if (sm_doc_num(d, "next_rotation")) GUARD(sm_set_date(obj, "NextRotationDate", sm_doc_num(d, "next_rotation")));
    GUARD(sm_tags_json(rc->st, s->arn, &tags));
    if (json_array_size(tags) > 0) GUARD(sm_set(obj, "Tags", tags));
    else json_decref(tags);
    if (versions) {
        json_t *m = NULL;
        GUARD(sm_versions_to_stages(s, &m));
        if (m) GUARD(sm_set(obj, "VersionIdsToStages", m));
    }
    if (s->created) GUARD(sm_set_date(obj, "CreatedDate", s->created));
    return sm_describe_replication(rc, s, obj);
}
