/*
 * entity_tags.c -- TagUser, UntagUser, ListUserTags, TagRole, UntagRole,
 * ListRoleTags.
 *
 * Tags are stored by entity ARN (iam_tags.c has the rules: at most 50,
 * "aws:" reserved, keys case-insensitive).  Tag* calls are authorized on
 * the entity with aws:RequestTag/k and aws:TagKeys, Untag* with
 * aws:TagKeys, and all of them with the entity's own aws:ResourceTag/k.
 * List*Tags pages through the tags ordered by key (Marker = the last key
 * returned) and always returns a Tags element.
 */
#include "iam/iam_ops.h"

#include <string.h>

#include "iam/iam_util.h"

static TR_RESULT tag(struct req_ctx *rc, const struct form *in, const struct iam_kind_param *k,
                     const char *action)
{
    const char *name;
    struct iam_tags tags;
    struct ent_rec e = { 0 };
    GUARD(iam_param_entity(in, k, &name));
    GUARD(iam_param_tags(in, "Tags", true, &tags));
    struct iam_authz x = { .request_tags = &tags };
    GUARD(iam_load(rc, action, k->kind, name, &x, &e));
    tr_result r = iam_tags_apply(rc, e.arn, k->word, &tags);
    ent_rec_free(&e);
    return r;
}

static TR_RESULT untag(struct req_ctx *rc, const struct form *in, const struct iam_kind_param *k,
                       const char *action)
{
    const char *name, *keys[IAM_MAX_TAGS];
    size_t n = 0;
    struct ent_rec e = { 0 };
    GUARD(iam_param_entity(in, k, &name));
    GUARD(iam_param_tag_keys(in, "TagKeys", keys, &n));
    struct iam_authz x = { .tag_keys = keys, .ntag_keys = n };
    GUARD(iam_load(rc, action, k->kind, name, &x, &e));
    tr_result r = iam_tags_remove(rc, e.arn, keys, n);
    ent_rec_free(&e);
    return r;
}

static TR_RESULT list_tags(struct req_ctx *rc, const struct form *in, struct xml *out,
                           const struct iam_kind_param *k, const char *action)
{
    const char *name;
    struct iam_page pg;
    struct ent_rec e = { 0 };
    struct tag_rec *tags = NULL;
    size_t n = 0, i = 0, shown = 0;
    GUARD(iam_param_entity(in, k, &name));
    GUARD(iam_page_params(in, &pg));
    GUARD(iam_load(rc, action, k->kind, name, NULL, &e));
    tr_result r = rc->st[0]->tag_list(rc->st, e.arn, &tags, &n);
    if (pg.marker)
        while (i < n && strcmp(tags[i].key, pg.marker) <= 0) i++;
    xml_open(out, "Tags");
    for (; tr_ok(r) && i < n && shown < pg.max; i++, shown++) {
        xml_open(out, "member");
        xml_text(out, "Key", tags[i].key);
        xml_text(out, "Value", tags[i].value);
        xml_close(out, "member");
    }
    xml_close(out, "Tags");
    if (tr_ok(r)) iam_page_end(out, i < n, shown ? tags[i - 1].key : NULL);
    tag_list_free(tags, n);
    ent_rec_free(&e);
    return r;
}

#define TAG_OPS(X) \
    X(user, IAM_P_USER) \
    X(role, IAM_P_ROLE)

#define X(lower, param) \
    TR_RESULT iam_tag_##lower(struct req_ctx *rc, const struct form *in, struct xml *out) \
    { \
        (void)out; \
        return tag(rc, in, &param, rc->op->action); \
    } \
    TR_RESULT iam_untag_##lower(struct req_ctx *rc, const struct form *in, struct xml *out) \
    { \
        (void)out; \
        return untag(rc, in, &param, rc->op->action); \
    } \
    TR_RESULT iam_list_##lower##_tags(struct req_ctx *rc, const struct form *in, struct xml *out) \
    { \
        return list_tags(rc, in, out, &param, rc->op->action); \
    }
TAG_OPS(X)
#undef X
