/*
 * tags.c -- TagResource, UntagResource, ListResourceTags, and the Tags
 * member of CreateKey.
 *
 * Tags are stored through the store's tag_* calls keyed by the key ARN
 * (the same table holds the tags of secrets and IAM entities), and go away
 * with the key (key_delete).  Rules (botocore model, Tag shape; KMS
 * "Tagging keys"):
 *  - TagKey 1..128 and TagValue 0..256 characters, both required
 *      -> ValidationException naming 'tags.<n>.member.tagKey' (n from 1);
 *  - a key beginning with "aws:" (any case) is reserved
 *      -> TagException "Tags beginning with aws: are reserved";
 *  - the same key twice in one request -> TagException "Duplicate tag keys";
 *  - at most 50 tags per key after the change -> TagException "Too many
 *      tags" (these three messages are LocalStack's; AWS's are unpublished);
 *  - an existing key gets the new value; untagging an absent key is not an
 *      error.
 * Tagging needs the key not pending deletion; listing works in any state.
 * ListResourceTags: Limit 1..50 (default 50), ordered by tag key.
 * Authorization: TagResource with aws:RequestTag/<k> and aws:TagKeys,
 * UntagResource with aws:TagKeys, each also with the key's own tags
 * (aws:ResourceTag/<k>, for IAM policies only: authz.c).
 */
#include "kms/kms.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "core/utf8.h"

static tr_result length_error(const char *member, size_t idx, const char *field,
                              const char *value, bool too_long, size_t bound)
{
    char name[96], q[300], c[128];
    snprintf(name, sizeof name, "%s.%zu.member.%s", member, idx, field);    /* fits: our literals, a count */
    name[0] = (char)(name[0] | 0x20);   /* "Tags" -> "tags" */
    snprintf(q, sizeof q, "'%.256s'", value);     /* fits: 256 and two quotes */
    snprintf(c, sizeof c, "Member must have length %s %zu",   /* fits: 48 + a number */
             too_long ? "less than or equal to" : "greater than or equal to", bound);
    return json_invalid(name, q, c);
}

static tr_result missing_field(const char *member, size_t idx, const char *field)
{
    char name[96];
    snprintf(name, sizeof name, "%s.%zu.member.%s", member, idx, field);    /* fits: our literals, a count */
    name[0] = (char)(name[0] | 0x20);
    return json_invalid(name, "null", "Member must not be null");
}

static bool reserved(const char *key)
{
    return strncasecmp(key, "aws:", 4) == 0;
}

TR_RESULT kms_tags_apply(struct req_ctx *rc, json_t *in, const char *member,
                         bool required, const char *arn)
{
    json_t *tags = json_object_get(in, member);
    struct tag_rec *have = NULL;
    size_t nhave = 0;
    tr_result r = TR_OK;

    if (!tags || json_is_null(tags)) {
        if (required) return json_invalid(member, "null", "Member must not be null");
        return TR_OK;
    }
    if (!json_is_array(tags))
        BAIL(TR_E_SERIALIZATION, "Unexpected value for member '%s': expected list", member);

    /* 1. Shape and lengths, in order. */
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t) {
        if (!json_is_object(t))
            BAIL(TR_E_SERIALIZATION, "Unexpected value in member '%s': expected structure", member);
        json_t *k = json_object_get(t, "TagKey"), *v = json_object_get(t, "TagValue");
        if (!k || json_is_null(k)) return missing_field(member, i + 1, "tagKey");
        if (!v || json_is_null(v)) return missing_field(member, i + 1, "tagValue");
        if (!json_is_string(k) || !json_is_string(v))
            BAIL(TR_E_SERIALIZATION, "Unexpected value in member '%s': expected string", member);
        if (strlen(json_string_value(k)) != json_string_length(k) ||
            strlen(json_string_value(v)) != json_string_length(v))
            BAIL(TR_E_SERIALIZATION, "Member '%s' contains a NUL character", member);
        size_t kl = utf8_strlen(json_string_value(k)), vl = utf8_strlen(json_string_value(v));
        if (kl < 1) return length_error(member, i + 1, "tagKey", "", false, 1);
        if (kl > 128) return length_error(member, i + 1, "tagKey", json_string_value(k), true, 128);
        if (vl > 256) return length_error(member, i + 1, "tagValue", json_string_value(v), true, 256);
    }
    /* 2. KMS's own rules. */
    json_array_foreach(tags, i, t) {
        const char *k = json_string_value(json_object_get(t, "TagKey"));
        if (reserved(k)) BAIL(TR_E_KMS_TAG, "Tags beginning with aws: are reserved");
        for (size_t j = 0; j < i; j++)
            if (strcmp(k, json_string_value(json_object_get(json_array_get(tags, j),
                                                            "TagKey"))) == 0)
                BAIL(TR_E_KMS_TAG, "Duplicate tag keys");
    }
    if (json_array_size(tags) > KMS_MAX_TAGS) BAIL(TR_E_KMS_TAG, "Too many tags");
    if (!arn) return TR_OK;

    /* 3. The count after the change, then the writes. */
    GUARD(rc->st[0]->tag_list(rc->st, arn, &have, &nhave));
    size_t total = nhave;
    json_array_foreach(tags, i, t) {
        const char *k = json_string_value(json_object_get(t, "TagKey"));
        bool known = false;
        for (size_t j = 0; j < nhave && !known; j++) known = strcmp(have[j].key, k) == 0;
        if (!known) total++;
    }
    if (total > KMS_MAX_TAGS) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_TAG, "Too many tags");
        goto fail;
    }
    json_array_foreach(tags, i, t) {
        r = rc->st[0]->tag_set(rc->st, arn, json_string_value(json_object_get(t, "TagKey")),
                               json_string_value(json_object_get(t, "TagValue")));
        if (tr_failed(r)) goto fail;
    }
fail:
    tag_list_free(have, nhave);
    return r;
}

KMS_HANDLER(op_tag_resource)
{
    struct key_rec k;
    (void)out;
    GUARD(kms_tags_apply(rc, in, "Tags", true, NULL));
    struct kms_authz_in az = { .request_tags = json_object_get(in, "Tags") };
    GUARD(kms_key_for(rc, in, KR_KEY_ONLY, rc->op->action, KS_NOT_PENDING, &az, &k));
    tr_result r = kms_tags_apply(rc, in, "Tags", true, k.arn);
    key_rec_free(&k);
    return r;
}

KMS_HANDLER(op_untag_resource)
{
    json_t *keys;
    struct key_rec k;
    (void)out;
    GUARD(json_get_str_list(in, "TagKeys", true, (size_t)-1, 1, 128, &keys));
    size_t i;
    json_t *e;
    json_array_foreach(keys, i, e)
        if (reserved(json_string_value(e)))
            BAIL(TR_E_KMS_TAG, "Tags beginning with aws: are reserved");
    struct kms_authz_in az = { .tag_keys = keys };
    GUARD(kms_key_for(rc, in, KR_KEY_ONLY, rc->op->action, KS_NOT_PENDING, &az, &k));
    tr_result r = TR_OK;
    json_array_foreach(keys, i, e) {
        r = rc->st[0]->tag_delete(rc->st, k.arn, json_string_value(e));
        if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND) r = TR_OK;
        if (tr_failed(r)) break;
    }
    key_rec_free(&k);
    return r;
}

static TR_RESULT write_tag(struct req_ctx *rc, json_t *list, void *arg, size_t i,
                           const char **key)
{
    const struct tag_rec *t = (const struct tag_rec *)arg + i;
    (void)rc;
    *key = t->key;
    return kms_append(list, json_pack("{s:s, s:s}", "TagKey", t->key, "TagValue", t->value));
}

KMS_HANDLER(op_list_resource_tags)
{
    size_t limit, n = 0, first = 0;
    bool has_marker;
    char after[600];
    struct key_rec k;
    struct tag_rec *tags = NULL;

    GUARD(kms_get_limit(in, 50, 50, &limit));
    GUARD(kms_marker_decode(in, after, sizeof after, &has_marker));
    GUARD(kms_key_for(rc, in, KR_KEY_ONLY, rc->op->action, KS_ANY, NULL, &k));
    tr_result r = rc->st[0]->tag_list(rc->st, k.arn, &tags, &n);
    /* The tags come ordered by key: the page starts after the marker's. */
    while (tr_ok(r) && has_marker && first < n && strcmp(tags[first].key, after) <= 0) first++;
    if (tr_ok(r)) r = kms_page_write(rc, "Tags", limit, first, n, write_tag, tags, out);
    tag_list_free(tags, n);
    key_rec_free(&k);
    return r;
}
