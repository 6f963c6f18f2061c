/*
 * attachments.c -- managed policies attached to users, groups and roles:
 * Attach/Detach User/Group/RolePolicy, ListAttachedUser/Group/RolePolicies.
 *
 * An attachment is the relation "attached" entity ARN -> policy ARN
 * (IAM_STORE.md); the policy's AttachmentCount is counted from it.  The
 * calls are authorized on the entity's ARN with iam:PolicyARN set (and,
 * for users and roles, iam:PermissionsBoundary = the entity's current
 * boundary, as AWS's service authorization reference lists).
 *
 * AWS's messages: a policy that is not a managed policy of the account
 * (missing, or AWS managed, which tresor has none of) is NoSuchEntity
 * "Policy <arn> does not exist or is not attachable."; detaching one that
 * is not attached is NoSuchEntity "Policy <arn> was not found."; at most
 * 10 managed policies per entity ("Cannot exceed quota for
 * PoliciesPerUser: 10", PoliciesPerGroup, PoliciesPerRole).  Attaching
 * twice is one attachment.  Listings are ordered by policy ARN, filtered
 * by the PathPrefix of the policy's path.
 */
#include "iam/iam_ops.h"

#include <stdio.h>
#include <string.h>

#include "core/str.h"
#include "iam/iam_util.h"

#define POLICIES_PER_ENTITY 10

/* The entity named by k, authorized for the operation with iam:PolicyARN. */
static TR_RESULT load_target(struct req_ctx *rc, const struct form *in,
                             const struct iam_kind_param *k, const char **policy_arn,
                             struct ent_rec *e)
{
    const char *name;
    GUARD(iam_param_entity(in, k, &name));
    GUARD(iam_param_policy_arn(in, "PolicyArn", policy_arn));
    struct iam_authz x = { .policy_arn = *policy_arn,
                           .target_boundary = strcmp(k->kind, IAM_GROUP) != 0 };
    return iam_load(rc, rc->op->action, k->kind, name, &x, e);
}

static TR_RESULT attach(struct req_ctx *rc, const struct form *in, struct xml *out,
                        const struct iam_kind_param *k, struct ent_rec *e)
{
    const char *arn;
    struct ent_rec p = { 0 };
    struct rel_rec *v = NULL;
    size_t n = 0;
    bool found = false, already = false;
    (void)out;

    GUARD(load_target(rc, in, k, &arn, e));
    tr_result r = iam_find_policy(rc, arn, &p, &found);
    if (tr_ok(r) && !found)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_IAM_NO_SUCH_ENTITY,
                       "Policy %s does not exist or is not attachable.", arn);
    if (tr_ok(r)) r = rc->st[0]->rel_list_from(rc->st, "attached", e->arn, NULL, IAM_ALL, &v, &n);
    for (size_t i = 0; tr_ok(r) && i < n; i++) already |= strcmp(v[i].to, p.arn) == 0;
    if (tr_ok(r) && !already && n >= POLICIES_PER_ENTITY)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_IAM_LIMIT_EXCEEDED,
                       "Cannot exceed quota for PoliciesPer%s: %d", k->word, POLICIES_PER_ENTITY);
    if (tr_ok(r) && !already) {
        struct rel_rec rel = { .from = e->arn, .to = p.arn, .doc = "", .created = rc->now };
        STR_SET(rel.kind, "attached");
        r = rc->st[0]->rel_put(rc->st, &rel);
    }
    rel_list_free(v, n);
    ent_rec_free(&p);
    return r;
}

static TR_RESULT detach(struct req_ctx *rc, const struct form *in, struct xml *out,
                        const struct iam_kind_param *k, struct ent_rec *e)
{
    const char *arn;
    (void)out;
    GUARD(load_target(rc, in, k, &arn, e));
    tr_result r = rc->st[0]->rel_delete(rc->st, "attached", e->arn, arn);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_IAM_NO_SUCH_ENTITY, "Policy %s was not found.", arn);
    return r;
}

/* Whether a policy ARN's path starts with prefix. */
static bool path_matches(const char *policy_arn, const char *prefix)
{
    const char *p = strstr(policy_arn, ":policy/");
    return !prefix || (p && strncmp(p + 7, prefix, strlen(prefix)) == 0);
}

/* Move the attachments whose policy path starts with prefix to the front
 * of v, in their order; returns how many. */
static size_t keep_matching(struct rel_rec *v, size_t n, const char *prefix)
{
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (!path_matches(v[i].to, prefix)) continue;
        struct rel_rec t = v[kept];
        v[kept++] = v[i];
        v[i] = t;
    }
    return kept;
}

static TR_RESULT write_attached(struct req_ctx *rc, struct xml *x, void *arg, size_t i,
                                const char **key)
{
    const struct rel_rec *a = (const struct rel_rec *)arg + i;
    (void)rc;
    xml_open(x, "member");
    xml_text(x, "PolicyName", iam_arn_name(a->to));
    xml_text(x, "PolicyArn", a->to);
    xml_close(x, "member");
    *key = a->to;
    return TR_OK;
}

static TR_RESULT list_attached(struct req_ctx *rc, const struct form *in, struct xml *out,
                               const struct iam_kind_param *k, struct ent_rec *e)
{
    const char *name, *prefix;
    struct iam_page pg;
    struct rel_rec *v = NULL;
    size_t n = 0;

    GUARD(iam_param_entity(in, k, &name));
    GUARD(iam_param_policy_path(in, "PathPrefix", false, &prefix));
    GUARD(iam_page_params(in, &pg));
    GUARD(iam_load(rc, rc->op->action, k->kind, name, NULL, e));
    tr_result r = rc->st[0]->rel_list_from(rc->st, "attached", e->arn, pg.marker, IAM_ALL, &v, &n);
    if (tr_ok(r))
        r = iam_page_write(rc, out, "AttachedPolicies", &pg, 0, keep_matching(v, n, prefix),
                           write_attached, v);
    rel_list_free(v, n);
    return r;
}

#define ATTACH_OPS(X) \
    X(user, IAM_P_USER64) \
    X(group, IAM_P_GROUP) \
    X(role, IAM_P_ROLE)

#define X(lower, param) \
    IAM_KIND_HANDLER(iam_attach_##lower##_policy, attach, param) \
    IAM_KIND_HANDLER(iam_detach_##lower##_policy, detach, param) \
    IAM_KIND_HANDLER(iam_list_attached_##lower##_policies, list_attached, param)
ATTACH_OPS(X)
#undef X
