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

#include "iam/iam_util.h"

#define POLICIES_PER_ENTITY 10

/* The entity named by k, authorized for action with iam:PolicyARN. */
static TR_RESULT load_target(struct req_ctx *rc, const struct form *in,
                             const struct iam_kind_param *k, const char *action,
                             const char **policy_arn, struct ent_rec *e)
{
    const char *name;
    GUARD(iam_param_entity(in, k, &name));
    GUARD(iam_param_policy_arn(in, "PolicyArn", policy_arn));
    struct iam_authz x = { .policy_arn = *policy_arn,
                           .target_boundary = strcmp(k->kind, IAM_GROUP) != 0 };
    return iam_load(rc, action, k->kind, name, &x, e);
}

static TR_RESULT attach(struct req_ctx *rc, const struct form *in,
                        const struct iam_kind_param *k, const char *action)
{
    const char *arn;
    struct ent_rec e = { 0 }, p = { 0 };
    struct rel_rec *v = NULL;
    size_t n = 0;
    bool found = false, already = false;

    GUARD(load_target(rc, in, k, action, &arn, &e));
    tr_result r = iam_find_policy(rc, arn, &p, &found);
    if (tr_ok(r) && !found)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_IAM_NO_SUCH_ENTITY,
                       "Policy %s does not exist or is not attachable.", arn);
    if (tr_ok(r)) r = rc->st[0]->rel_list_from(rc->st, "attached", e.arn, NULL, IAM_ALL, &v, &n);
    for (size_t i = 0; tr_ok(r) && i < n; i++) already |= strcmp(v[i].to, p.arn) == 0;
    if (tr_ok(r) && !already && n >= POLICIES_PER_ENTITY)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_IAM_LIMIT_EXCEEDED,
                       "Cannot exceed quota for PoliciesPer%s: %d", k->word, POLICIES_PER_ENTITY);
    if (tr_ok(r) && !already) {
        struct rel_rec rel = { .from = e.arn, .to = p.arn, .doc = "", .created = rc->now };
        snprintf(rel.kind, sizeof rel.kind, "attached");
        r = rc->st[0]->rel_put(rc->st, &rel);
    }
    rel_list_free(v, n);
    ent_rec_free(&p);
    ent_rec_free(&e);
    return r;
}

static TR_RESULT detach(struct req_ctx *rc, const struct form *in,
                        const struct iam_kind_param *k, const char *action)
{
    const char *arn;
    struct ent_rec e = { 0 };
    GUARD(load_target(rc, in, k, action, &arn, &e));
    tr_result r = rc->st[0]->rel_delete(rc->st, "attached", e.arn, arn);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_IAM_NO_SUCH_ENTITY, "Policy %s was not found.", arn);
    ent_rec_free(&e);
    return r;
}

/* Whether a policy ARN's path starts with prefix. */
static bool path_matches(const char *policy_arn, const char *prefix)
{
    const char *p = strstr(policy_arn, ":policy/");
    return !prefix || (p && strncmp(p + 7, prefix, strlen(prefix)) == 0);
}

static TR_RESULT list_attached(struct req_ctx *rc, const struct form *in, struct xml *out,
                               const struct iam_kind_param *k, const char *action)
{
    const char *name, *prefix;
    struct iam_page pg;
    struct ent_rec e = { 0 };
    struct rel_rec *v = NULL;
    size_t n = 0, shown = 0, i = 0;

    GUARD(iam_param_entity(in, k, &name));
    GUARD(iam_param_policy_path(in, "PathPrefix", false, &prefix));
    GUARD(iam_page_params(in, &pg));
    GUARD(iam_load(rc, action, k->kind, name, NULL, &e));
    tr_result r = rc->st[0]->rel_list_from(rc->st, "attached", e.arn, pg.marker, IAM_ALL, &v, &n);
    xml_open(out, "AttachedPolicies");
    for (; tr_ok(r) && i < n; i++) {
        if (!path_matches(v[i].to, prefix)) continue;
        if (shown == pg.max) break;
        xml_open(out, "member");
        xml_text(out, "PolicyName", iam_arn_name(v[i].to));
        xml_text(out, "PolicyArn", v[i].to);
        xml_close(out, "member");
        shown++;
    }
    xml_close(out, "AttachedPolicies");
    /* Stopped at a match beyond the page: resume after the last shown. */
    if (tr_ok(r)) iam_page_end(out, i < n, shown ? v[i - 1].to : NULL);
    rel_list_free(v, n);
    ent_rec_free(&e);
    return r;
}

#define ATTACH_OPS(X) \
    X(user, IAM_P_USER64) \
    X(group, IAM_P_GROUP) \
    X(role, IAM_P_ROLE)

#define X(lower, param) \
    TR_RESULT iam_attach_##lower##_policy(struct req_ctx *rc, const struct form *in, struct xml *out) \
    { \
        (void)out; \
        return attach(rc, in, &param, rc->op->action); \
    } \
    TR_RESULT iam_detach_##lower##_policy(struct req_ctx *rc, const struct form *in, struct xml *out) \
    { \
        (void)out; \
        return detach(rc, in, &param, rc->op->action); \
    } \
    TR_RESULT iam_list_attached_##lower##_policies(struct req_ctx *rc, const struct form *in, \
                                                   struct xml *out) \
    { \
        return list_attached(rc, in, out, &param, rc->op->action); \
    }
ATTACH_OPS(X)
#undef X
