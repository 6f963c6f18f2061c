/*
 * entity_tags.c -- TagUser, UntagUser, ListUserTags, TagRole, UntagRole,
 * ListRoleTags, TagInstanceProfile, UntagInstanceProfile,
 * ListInstanceProfileTags, TagPolicy, UntagPolicy, ListPolicyTags (a
 * customer managed policy, named by PolicyArn: "Policy ARN was not
 * found." when it is not one of the caller's account), and
 * Tag/Untag/ListOpenIDConnectProviderTags (by OpenIDConnectProviderArn).
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

/* A managed policy is named by its ARN (PolicyArn), the others by name. */
static const struct iam_kind_param P_POLICY = { IAM_POLICY, "PolicyArn", IAM_ARN_PARAM_MAX, "Policy" };
/* An OpenID Connect provider, by its ARN too (oidc_providers.c). */
static const struct iam_kind_param P_OIDC = { IAM_OIDC_PROVIDER, "OpenIDConnectProviderArn",
                                              IAM_ARN_PARAM_MAX, "OpenIdConnectProvider" };

static TR_RESULT target_param(const struct form *in, const struct iam_kind_param *k, const char **name)
{
    if (k == &P_POLICY) return iam_param_policy_arn(in, k->param, name);
    if (k == &P_OIDC) return iam_param_arn(in, k->param, true, name);
    return iam_param_entity(in, k, name);
}

static TR_RESULT target_load(struct req_ctx *rc, const struct iam_kind_param *k, const char *name,
                             const struct iam_authz *x, struct ent_rec *e)
{
    if (k == &P_POLICY) return iam_load_policy(rc, rc->op->action, name, x, e);
    if (k == &P_OIDC) return iam_oidc_load(rc, name, x, e);
    return iam_load(rc, rc->op->action, k->kind, name, x, e);
}

static TR_RESULT tag(struct req_ctx *rc, const struct form *in, struct xml *out,
                     const struct iam_kind_param *k, struct ent_rec *e)
{
    const char *name;
    struct iam_tags tags;
    (void)out;
    GUARD(target_param(in, k, &name));
    GUARD(iam_param_tags(in, "Tags", true, &tags));
    struct iam_authz x = { .request_tags = &tags };
    GUARD(target_load(rc, k, name, &x, e));
    return iam_tags_apply(rc, e->arn, k->word, &tags);
}

static TR_RESULT untag(struct req_ctx *rc, const struct form *in, struct xml *out,
                       const struct iam_kind_param *k, struct ent_rec *e)
{
    const char *name, *keys[IAM_MAX_TAGS];
    size_t n = 0;
    (void)out;
    GUARD(target_param(in, k, &name));
    GUARD(iam_param_tag_keys(in, "TagKeys", keys, &n));
    struct iam_authz x = { .tag_keys = keys, .ntag_keys = n };
    GUARD(target_load(rc, k, name, &x, e));
    return iam_tags_remove(rc, e->arn, keys, n);
}

static TR_RESULT write_tag(struct req_ctx *rc, struct xml *x, void *arg, size_t i,
                           const char **key)
{
    const struct tag_rec *t = (const struct tag_rec *)arg + i;
    (void)rc;
    xml_open(x, "member");
    xml_text(x, "Key", t->key);
    xml_text(x, "Value", t->value);
    xml_close(x, "member");
    *key = t->key;
    return TR_OK;
}

static TR_RESULT list_tags(struct req_ctx *rc, const struct form *in, struct xml *out,
                           const struct iam_kind_param *k, struct ent_rec *e)
{
    struct iam_page pg;
    struct tag_rec *tags = NULL;
    size_t n = 0, first = 0;
    const char *name;
    GUARD(target_param(in, k, &name));
    GUARD(iam_page_params(in, &pg));
    GUARD(target_load(rc, k, name, NULL, e));
    tr_result r = rc->st[0]->tag_list(rc->st, e->arn, &tags, &n);
    if (pg.marker)
        while (first < n && strcmp(tags[first].key, pg.marker) <= 0) first++;
    if (tr_ok(r)) r = iam_page_write(rc, out, "Tags", &pg, first, n, write_tag, tags);
    tag_list_free(tags, n);
    return r;
}

#define TAG_OPS(X) \
    X(user, IAM_P_USER) \
    X(role, IAM_P_ROLE) \
    X(instance_profile, IAM_P_PROFILE) \
    X(policy, P_POLICY) \
    X(open_id_connect_provider, P_OIDC)

#define X(lower, param) \
    IAM_KIND_HANDLER(iam_tag_##lower, tag, param) \
    IAM_KIND_HANDLER(iam_untag_##lower, untag, param) \
    IAM_KIND_HANDLER(iam_list_##lower##_tags, list_tags, param)
TAG_OPS(X)
#undef X
