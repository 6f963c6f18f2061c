/*
 * tags.c -- TagResource and UntagResource for secrets.
 *
 * Tags live in the store's tag table keyed by the secret ARN (the table
 * KMS keys and IAM entities use too) and go away with the secret
 * (sm_purge).  The request rules (botocore model, Tag shape; Secrets
 * Manager quotas):
 *   - Tags is required; each Key 1..128 and Value 0..256 characters, no
 *     "aws:" prefix, no key twice: sm_get_tags (params.c), shared with
 *     CreateSecret so both say the same thing;
 *   - TagKeys is required, each 1..128 characters (ValidationException in
 *     the front end's wording);
 *   - at most 50 tags on a secret once the request is applied: a key the
 *     secret already has is replaced, not counted twice; past 50 the
 *     request is refused with LimitExceededException "You can't add more
 *     than 50 tags to a secret." (the model lists no limit error for
 *     TagResource; AWS's tagging quota error for Secrets Manager is not
 *     public, so this is our wording);
 *   - untagging a key the secret does not have is not an error (the API
 *     reference: "This operation is idempotent").
 *
 * Order of checks: the members, then sm_find_authorized (identity side on
 * the SecretId as given, existence, the resource policy), then the secret
 * must not be pending deletion, then the count.  The request context gets
 * aws:RequestTag/<key> for every tag and aws:TagKeys (TagResource: the
 * keys of Tags; UntagResource: TagKeys), so policies can govern tagging.
 */
#include "secrets/manage.h"

#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "secrets/authz.h"
#include "secrets/params.h"
#include "secrets/secrets.h"

#define TAG_KEY_MAX 128

/* Keys in `tags` the secret does not already have. */
static size_t new_keys(json_t *tags, const struct tag_rec *have, size_t nhave)
{
    size_t i, fresh = 0;
    json_t *t;
    json_array_foreach(tags, i, t) {
        const char *k = json_string_value(json_object_get(t, "Key"));
        bool known = false;
        for (size_t j = 0; j < nhave && !known; j++) known = strcmp(have[j].key, k) == 0;
        if (!known) fresh++;
    }
    return fresh;
}

SM_HANDLER(sm_op_tag_resource)
{
    const char *id;
    json_t *tags = NULL;
    struct ctx_builder c;
    struct secret s;
    struct tag_rec *have = NULL;
    size_t nhave = 0, i;
    json_t *t;
    tr_result r;

    (void)out;
    memset(&s, 0, sizeof s);
    GUARD(sm_get_secret_id(in, &id));
    GUARD(sm_get_tags(in, "Tags", &tags));
    if (!tags) return json_invalid("Tags", "null", "Member must not be null");
    sm_ctx_init(&c);
    r = sm_ctx_add_request_tags(&c, tags);
    if (tr_ok(r))
        r = sm_find_authorized(rc, rc->op->action, id, c.e, c.n, true, &s);
    iam_ctx_free(&c);
    if (tr_failed(r)) goto fail;

    r = rc->st[0]->tag_list(rc->st, s.arn, &have, &nhave);
    if (tr_failed(r)) goto fail;
    if (nhave + new_keys(tags, have, nhave) > SM_MAX_TAGS) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_LIMIT_EXCEEDED,
                       "You can't add more than %d tags to a secret.", SM_MAX_TAGS);
        goto fail;
    }
    json_array_foreach(tags, i, t) {
        r = rc->st[0]->tag_set(rc->st, s.arn, json_string_value(json_object_get(t, "Key")),
                               json_string_value(json_object_get(t, "Value")));
        if (tr_failed(r)) goto fail;
    }
fail:
    tag_list_free(have, nhave);
    secret_free(&s);
    return r;
}

SM_HANDLER(sm_op_untag_resource)
{
    const char *id;
    json_t *keys = NULL, *e;
    const char **vals = NULL;
    struct ctx_builder c;
    struct secret s;
    size_t i, n;
    tr_result r;

    (void)out;
    memset(&s, 0, sizeof s);
    GUARD(sm_get_secret_id(in, &id));
    GUARD(json_get_str_list(in, "TagKeys", true, (size_t)-1, 1, TAG_KEY_MAX, &keys));
    n = json_array_size(keys);
    vals = calloc(n ? n : 1, sizeof *vals);
    ENSURE_REF(vals);
    json_array_foreach(keys, i, e) vals[i] = json_string_value(e);
    sm_ctx_init(&c);
    r = iam_ctx_add_multi(&c, "aws:TagKeys", vals, n);
    if (tr_ok(r))
        r = sm_find_authorized(rc, rc->op->action, id, c.e, c.n, true, &s);
    iam_ctx_free(&c);
    if (tr_failed(r)) goto fail;
    for (i = 0; i < n; i++) {
        r = rc->st[0]->tag_delete(rc->st, s.arn, vals[i]);
        if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND) r = TR_OK;
        if (tr_failed(r)) goto fail;
    }
fail:
    free(vals);
    secret_free(&s);
    return r;
}
