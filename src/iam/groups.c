/*
 * groups.c -- CreateGroup, GetGroup, ListGroups, DeleteGroup,
 * AddUserToGroup, RemoveUserFromGroup, ListGroupsForUser.
 *
 * A group is an entity of kind "group" (AGPA..., doc {}); membership is
 * the relation "member" group ARN -> user ARN (IAM_STORE.md), which the
 * authorization of a member reads to collect the group's policies.
 *
 * Limits and messages: a user is in at most 10 groups (LimitExceeded
 * "Cannot exceed quota for GroupsPerUser: 10"); DeleteGroup refuses while
 * the group has members ("Cannot delete entity, must remove users from
 * group first.") or policies (attached, then inline); removing a user who
 * is not a member is NoSuchEntity "User <u> is not in group <g>." (our
 * wording).  AddUserToGroup and RemoveUserFromGroup are authorized on the
 * group's ARN; GetGroup pages through members ordered by user ARN,
 * ListGroupsForUser through groups ordered by group ARN.
 */
#include "iam/iam_ops.h"

#include <stdio.h>
#include <string.h>

#include "core/str.h"
#include "iam/iam_util.h"

#define GROUPS_PER_USER 10

static TR_RESULT write_group(struct req_ctx *rc, struct xml *x, const struct ent_rec *e)
{
    (void)rc;
    iam_xml_group_fields(x, e);
    return TR_OK;
}

TR_RESULT iam_create_group(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *name, *path;
    char arn[IAM_ARN_MAX];
    struct ent_rec g = { 0 };

    GUARD(iam_param_name(in, "GroupName", true, 128, &name));
    GUARD(iam_param_path(in, "Path", true, &path));
    GUARD(iam_arn(rc->who.account_id, IAM_GROUP, path, name, arn));
    GUARD(iam_authz(rc, rc->op->action, arn, NULL, NULL));
    GUARD(iam_ent_insert(rc, IAM_GROUP, name, path, "{}", &g));
    xml_open(out, "Group");
    iam_xml_group_fields(out, &g);
    xml_close(out, "Group");
    ent_rec_free(&g);
    return TR_OK;
}

/* Memberships, each written as the entity at one of its ends: the user
 * (a group's members) or the group (a user's groups). */
struct memberships { const struct rel_rec *v; bool groups; };

static TR_RESULT write_membership(struct req_ctx *rc, struct xml *x, void *arg, size_t i,
                                  const char **key)
{
    const struct memberships *m = arg;
    const char *arn = m->groups ? m->v[i].from : m->v[i].to;
    struct ent_rec e = { 0 };
    tr_result r = rc->st[0]->ent_get_arn(rc->st, m->groups ? IAM_GROUP : IAM_USER, arn, &e);
    if (tr_ok(r)) {
        xml_open(x, "member");
        r = m->groups ? write_group(rc, x, &e) : iam_xml_user_fields(rc, x, &e, 0);
        xml_close(x, "member");
    }
    ent_rec_free(&e);
    *key = arn;
    return r;
}

/* Users of g after the marker (a user ARN), up to pg->max. */
static TR_RESULT write_members(struct req_ctx *rc, struct xml *out, const struct ent_rec *g,
                               const struct iam_page *pg)
{
    struct rel_rec *v = NULL;
    size_t n = 0;
    GUARD(rc->st[0]->rel_list_from(rc->st, "member", g->arn, pg->marker, pg->max + 1, &v, &n));
    struct memberships m = { v, false };
    tr_result r = iam_page_write(rc, out, "Users", pg, 0, n, write_membership, &m);
    rel_list_free(v, n);
    return r;
}

TR_RESULT iam_get_group(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    struct iam_page pg;
    struct ent_rec g = { 0 };

    GUARD(iam_load_listing(rc, in, &IAM_P_GROUP, &pg, &g));
    xml_open(out, "Group");
    iam_xml_group_fields(out, &g);
    xml_close(out, "Group");
    tr_result r = write_members(rc, out, &g, &pg);
    ent_rec_free(&g);
    return r;
}

TR_RESULT iam_list_groups(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    return iam_list_entities(rc, in, out, IAM_GROUP, rc->op->action, "Groups", write_group);
}

TR_RESULT iam_delete_group(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *name;
    struct ent_rec g = { 0 };
    bool members = false;
    (void)out;

    GUARD(iam_param_name(in, "GroupName", true, 128, &name));
    GUARD(iam_load(rc, rc->op->action, IAM_GROUP, name, NULL, &g));
    tr_result r = iam_rel_any(rc, "member", g.arn, &members);
    if (tr_ok(r) && members)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_IAM_DELETE_CONFLICT,
                       "Cannot delete entity, must remove users from group first.");
    if (tr_ok(r)) r = iam_policies_conflict(rc, g.arn);
    if (tr_ok(r)) r = iam_ent_remove(rc, &g);
    ent_rec_free(&g);
    return r;
}

/* The group (authorized for action) and the user of a membership call. */
static TR_RESULT group_and_user(struct req_ctx *rc, const struct form *in, const char *action,
                                struct ent_rec *g, struct ent_rec *u)
{
    const char *gname, *uname;
    bool found = false;
    GUARD(iam_param_name(in, "GroupName", true, 128, &gname));
    GUARD(iam_param_name(in, "UserName", true, 128, &uname));
    GUARD(iam_load(rc, action, IAM_GROUP, gname, NULL, g));
    tr_result r = iam_find(rc, IAM_USER, uname, u, &found);
    if (tr_ok(r) && !found) r = iam_no_such(IAM_USER, uname);
    if (tr_failed(r)) ent_rec_free(g);
    return r;
}

TR_RESULT iam_add_user_to_group(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    struct ent_rec g = { 0 }, u = { 0 };
    struct rel_rec *groups = NULL, have = { 0 };
    size_t n = 0;
    (void)out;

    GUARD(group_and_user(rc, in, rc->op->action, &g, &u));
    tr_result r = rc->st[0]->rel_get(rc->st, "member", g.arn, u.arn, &have);
    rel_rec_free(&have);
    if (tr_ok(r)) goto done;                         /* already a member */
    if (tr_code(r) != TR_E_STORE_NOT_FOUND) goto done;
    r = rc->st[0]->rel_list_to(rc->st, "member", u.arn, &groups, &n);
    rel_list_free(groups, n);
    if (tr_ok(r) && n >= GROUPS_PER_USER)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_IAM_LIMIT_EXCEEDED,
                       "Cannot exceed quota for GroupsPerUser: %d", GROUPS_PER_USER);
    if (tr_ok(r)) {
        struct rel_rec rel = { .from = g.arn, .to = u.arn, .doc = "", .created = rc->now };
        STR_SET(rel.kind, "member");
        r = rc->st[0]->rel_put(rc->st, &rel);
    }
done:
    ent_rec_free(&g);
    ent_rec_free(&u);
    return r;
}

TR_RESULT iam_remove_user_from_group(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    struct ent_rec g = { 0 }, u = { 0 };
    (void)out;

    GUARD(group_and_user(rc, in, rc->op->action, &g, &u));
    tr_result r = rc->st[0]->rel_delete(rc->st, "member", g.arn, u.arn);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_IAM_NO_SUCH_ENTITY, "User %s is not in group %s.",
                       u.name, g.name);
    ent_rec_free(&g);
    ent_rec_free(&u);
    return r;
}

TR_RESULT iam_list_groups_for_user(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    struct iam_page pg;
    struct ent_rec u = { 0 };
    struct rel_rec *v = NULL;
    size_t n = 0, first = 0;

    GUARD(iam_load_listing(rc, in, &IAM_P_USER, &pg, &u));
    tr_result r = rc->st[0]->rel_list_to(rc->st, "member", u.arn, &v, &n);
    if (pg.marker)
        while (first < n && strcmp(v[first].from, pg.marker) <= 0) first++;
    struct memberships m = { v, true };
    if (tr_ok(r)) r = iam_page_write(rc, out, "Groups", &pg, first, n, write_membership, &m);
    rel_list_free(v, n);
    ent_rec_free(&u);
    return r;
}
