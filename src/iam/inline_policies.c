/*
 * inline_policies.c -- policies embedded in a user, group or role:
 * Put/Get/Delete/List User/Group/RolePolicy.
 *
 * An inline policy is the relation "inline" entity ARN -> policy name
 * whose doc is the document text as given (IAM_STORE.md); the caller's
 * authorization reads it from there.  Documents are POLICY_IDENTITY
 * policies (policy_compile: "This policy contains invalid Json", "Policy
 * document should not specify a principal.", ...), returned URL-encoded
 * by Get*Policy (xml_policy).  Putting a name that exists replaces the
 * document.
 *
 * AWS's quotas on the total of an entity's inline policies, counted in
 * non-white-space characters: users 2048, groups 5120, roles 10240
 * (LimitExceeded "Maximum policy size of 2048 bytes exceeded for user
 * <name>").  A missing policy is NoSuchEntity "The user policy with name
 * <p> cannot be found." (group policy, role policy).  Calls on users and
 * roles carry iam:PermissionsBoundary = the entity's current boundary.
 */
#include "iam/iam_ops.h"

#include <stdio.h>
#include <string.h>

#include "core/str.h"
#include "iam/iam_util.h"

static size_t quota_of(const char *kind)
{
    if (strcmp(kind, IAM_USER) == 0) return 2048;
    if (strcmp(kind, IAM_GROUP) == 0) return 5120;
    return 10240;
}

/* The entity of k (authorized for the operation) and PolicyName. */
static TR_RESULT load_target(struct req_ctx *rc, const struct form *in,
                             const struct iam_kind_param *k, const char **policy_name,
                             struct ent_rec *e)
{
    const char *action = rc->op->action, *name;
    GUARD(iam_param_entity(in, k, &name));
    GUARD(iam_param_name(in, "PolicyName", true, 128, policy_name));
    /* iam:PermissionsBoundary: the user's or role's boundary, for Put and
     * Delete (the Service Authorization Reference lists none for Get). */
    struct iam_authz x = { .target_boundary = strcmp(k->kind, IAM_GROUP) != 0 &&
                                              strncmp(action, "iam:Get", 7) != 0 };
    return iam_load(rc, action, k->kind, name, &x, e);
}

static tr_result no_such_policy(const struct ent_rec *e, const char *policy)
{
    return tr_fail_at(__FILE__, __LINE__, TR_E_IAM_NO_SUCH_ENTITY,
                      "The %s policy with name %s cannot be found.", e->kind, policy);
}

/* The size quota on e's inline policies with `text` as policy `name`. */
static TR_RESULT check_quota(struct req_ctx *rc, const struct ent_rec *e, const char *name,
                             const char *text)
{
    struct rel_rec *v = NULL;
    size_t n = 0, total = iam_policy_size(text), quota = quota_of(e->kind);
    GUARD(rc->st[0]->rel_list_from(rc->st, "inline", e->arn, NULL, IAM_ALL, &v, &n));
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].to, name) != 0) total += iam_policy_size(v[i].doc ? v[i].doc : "");
    rel_list_free(v, n);
    if (total > quota)
        BAIL(TR_E_IAM_LIMIT_EXCEEDED, "Maximum policy size of %zu bytes exceeded for %s %s", quota,
             e->kind, e->name);
    return TR_OK;
}

static TR_RESULT put_policy(struct req_ctx *rc, const struct form *in, struct xml *out,
                            const struct iam_kind_param *k, struct ent_rec *e)
{
    const char *policy, *text;
    (void)out;
    GUARD(iam_param_document(in, "PolicyDocument", &text));
    GUARD(load_target(rc, in, k, &policy, e));
    GUARD(iam_policy_validate(rc->st, NULL, text, POLICY_IDENTITY));
    GUARD(check_quota(rc, e, policy, text));
    struct rel_rec rel = { .from = e->arn, .to = (char *)policy, .doc = (char *)text,
                           .created = rc->now };
    STR_SET(rel.kind, "inline");
    return rc->st[0]->rel_put(rc->st, &rel);
}

static TR_RESULT get_policy(struct req_ctx *rc, const struct form *in, struct xml *out,
                            const struct iam_kind_param *k, struct ent_rec *e)
{
    const char *policy;
    struct rel_rec rel = { 0 };
    GUARD(load_target(rc, in, k, &policy, e));
    tr_result r = rc->st[0]->rel_get(rc->st, "inline", e->arn, policy, &rel);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND) r = no_such_policy(e, policy);
    if (tr_ok(r)) {
        xml_text(out, k->param, e->name);
        xml_text(out, "PolicyName", policy);
        xml_policy(out, "PolicyDocument", rel.doc);
    }
    rel_rec_free(&rel);
    return r;
}

static TR_RESULT delete_policy(struct req_ctx *rc, const struct form *in, struct xml *out,
                               const struct iam_kind_param *k, struct ent_rec *e)
{
    const char *policy;
    (void)out;
    GUARD(load_target(rc, in, k, &policy, e));
    tr_result r = rc->st[0]->rel_delete(rc->st, "inline", e->arn, policy);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND) r = no_such_policy(e, policy);
    return r;
}

static TR_RESULT write_name(struct req_ctx *rc, struct xml *x, void *arg, size_t i,
                            const char **key)
{
    const struct rel_rec *p = (const struct rel_rec *)arg + i;
    (void)rc;
    xml_text(x, "member", p->to);
    *key = p->to;
    return TR_OK;
}

static TR_RESULT list_policies(struct req_ctx *rc, const struct form *in, struct xml *out,
                               const struct iam_kind_param *k, struct ent_rec *e)
{
    struct iam_page pg;
    struct rel_rec *v = NULL;
    size_t n = 0;
    GUARD(iam_load_listing(rc, in, k, &pg, e));
    tr_result r = rc->st[0]->rel_list_from(rc->st, "inline", e->arn, pg.marker, pg.max + 1, &v, &n);
    if (tr_ok(r)) r = iam_page_write(rc, out, "PolicyNames", &pg, 0, n, write_name, v);
    rel_list_free(v, n);
    return r;
}

#define INLINE_OPS(X) \
    X(user, IAM_P_USER) \
    X(group, IAM_P_GROUP) \
    X(role, IAM_P_ROLE)

#define X(lower, param) \
    IAM_KIND_HANDLER(iam_put_##lower##_policy, put_policy, param) \
    IAM_KIND_HANDLER(iam_get_##lower##_policy, get_policy, param) \
    IAM_KIND_HANDLER(iam_delete_##lower##_policy, delete_policy, param) \
    IAM_KIND_HANDLER(iam_list_##lower##_policies, list_policies, param)
INLINE_OPS(X)
#undef X
