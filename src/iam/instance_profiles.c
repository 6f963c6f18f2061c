/*
 * instance_profiles.c -- CreateInstanceProfile, GetInstanceProfile,
 * ListInstanceProfiles, DeleteInstanceProfile, AddRoleToInstanceProfile,
 * RemoveRoleFromInstanceProfile, ListInstanceProfilesForRole.
 *
 * An instance profile is an entity of kind "inst-profile" (AIPA...,
 * arn:aws:iam::A:instance-profile<path><name>, doc {}); the role in it is
 * a relation "profile-role" from the profile ARN to the role ARN
 * (IAM_STORE.md).  Tags are the tag calls keyed by the profile ARN
 * (entity_tags.c serves Tag/Untag/ListInstanceProfileTags).
 *
 * AWS's rules, and its messages:
 *  - a profile holds at most one role (LimitExceeded "Cannot exceed quota
 *    for InstanceSessionsPerInstanceProfile: 1");
 *  - DeleteInstanceProfile with a role in it, and DeleteRole of a role in
 *    a profile, are DeleteConflict "Cannot delete entity, must remove
 *    roles from instance profile first.";
 *  - a missing profile is NoSuchEntity "Instance Profile NAME cannot be
 *    found."; a name taken (case-insensitively) is EntityAlreadyExists
 *    "Instance Profile NAME already exists.";
 *  - RemoveRoleFromInstanceProfile of a role that is not in the profile
 *    is NoSuchEntity "The role with name R cannot be found." (our choice:
 *    the role, as the profile names it, is not there);
 *  - a service-linked role (path /aws-service-role/) can be neither added
 *    to nor removed from a profile: UnmodifiableEntity "Cannot perform the
 *    operation on the protected role 'R' - this role is only modifiable by
 *    AWS" (iam_role_protected, as for the role's other changes), after
 *    the caller is authorized (on the profile, and for PassRole on the
 *    role), before the profile's one-role quota.
 * Every call is decided on the profile's ARN, but
 * ListInstanceProfilesForRole, decided on the role (Service Authorization
 * Reference), and ListInstanceProfiles, on arn:aws:iam::A:instance-profile
 * <PathPrefix> like the other listings.  The Roles of a profile carry the
 * role's Path, RoleName, RoleId, Arn, CreateDate and
 * AssumeRolePolicyDocument.  Create and GetInstanceProfile show the
 * profile's Tags; the listings do not (AWS: listings return a subset of
 * the attributes, tags not among them).
 */
#include "iam/iam_ops.h"

#include <string.h>

#include "core/str.h"
#include "iam/iam_util.h"

#define PROFILE_ROLE "profile-role"

const struct iam_kind_param IAM_P_PROFILE = { IAM_INSTANCE_PROFILE, "InstanceProfileName", 128,
                                              "InstanceProfile" };

static const char CONFLICT[] = "Cannot delete entity, must remove roles from instance profile first.";

/* The roles of profile_arn as <Roles> (always present). */
static TR_RESULT write_roles(struct req_ctx *rc, struct xml *x, const char *profile_arn)
{
    struct rel_rec *v = NULL;
    size_t n = 0;
    tr_result r = rc->st[0]->rel_list_from(rc->st, PROFILE_ROLE, profile_arn, NULL, IAM_ALL, &v, &n);
    GUARD(r);
    xml_open(x, "Roles");
    for (size_t i = 0; i < n && tr_ok(r); i++) {
        struct ent_rec role = { 0 };
        r = rc->st[0]->ent_get_arn(rc->st, IAM_ROLE, v[i].to, &role);
        if (tr_ok(r)) r = iam_xml_role(rc, x, "member", &role, 0);
        ent_rec_free(&role);
    }
    xml_close(x, "Roles");
    rel_list_free(v, n);
    return r;
}

TR_RESULT iam_xml_instance_profile_fields(struct req_ctx *rc, struct xml *x,
                                          const struct ent_rec *p, unsigned flags)
{
    xml_text(x, "Path", p->path);
    xml_text(x, "InstanceProfileName", p->name);
    xml_text(x, "InstanceProfileId", p->id);
    xml_text(x, "Arn", p->arn);
    xml_time(x, "CreateDate", p->created);
    GUARD(write_roles(rc, x, p->arn));
    if (flags & IAMX_TAGS) GUARD(iam_xml_tags(rc, x, p->arn, false));
    return TR_OK;
}

static TR_RESULT write_profile(struct req_ctx *rc, struct xml *x, const char *tag,
                               const struct ent_rec *p, unsigned flags)
{
    xml_open(x, tag);
    tr_result r = iam_xml_instance_profile_fields(rc, x, p, flags);
    xml_close(x, tag);
    return r;
}

static TR_RESULT write_listed(struct req_ctx *rc, struct xml *x, const struct ent_rec *p)
{
    return iam_xml_instance_profile_fields(rc, x, p, 0);
}

TR_RESULT iam_create_instance_profile(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *name, *path;
    struct iam_tags tags;
    char arn[IAM_ARN_MAX];
    struct ent_rec p = { 0 };

    GUARD(iam_param_entity(in, &IAM_P_PROFILE, &name));
    GUARD(iam_param_path(in, "Path", true, &path));
    GUARD(iam_param_tags(in, "Tags", false, &tags));
    GUARD(iam_arn(rc->who.account_id, IAM_INSTANCE_PROFILE, path, name, arn));
    struct iam_authz x = { .request_tags = &tags };
    GUARD(iam_authz(rc, rc->op->action, arn, NULL, &x));
    tr_result r = iam_create_insert(rc, IAM_INSTANCE_PROFILE, IAM_P_PROFILE.word, name, path, "{}",
                                    NULL, &tags, &p);
    if (tr_ok(r)) r = write_profile(rc, out, "InstanceProfile", &p, IAMX_TAGS);
    ent_rec_free(&p);
    return r;
}

TR_RESULT iam_get_instance_profile(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *name;
    struct ent_rec p = { 0 };
    GUARD(iam_param_entity(in, &IAM_P_PROFILE, &name));
    GUARD(iam_load(rc, rc->op->action, IAM_INSTANCE_PROFILE, name, NULL, &p));
    tr_result r = write_profile(rc, out, "InstanceProfile", &p, IAMX_TAGS);
    ent_rec_free(&p);
    return r;
}

TR_RESULT iam_list_instance_profiles(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    return iam_list_entities(rc, in, out, IAM_INSTANCE_PROFILE, rc->op->action, "InstanceProfiles",
                             write_listed);
}

TR_RESULT iam_delete_instance_profile(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *name;
    struct ent_rec p = { 0 };
    bool any = false;
    (void)out;
    GUARD(iam_param_entity(in, &IAM_P_PROFILE, &name));
    GUARD(iam_load(rc, rc->op->action, IAM_INSTANCE_PROFILE, name, NULL, &p));
    tr_result r = iam_rel_any(rc, PROFILE_ROLE, p.arn, &any);
    if (tr_ok(r) && any) r = tr_fail_at(__FILE__, __LINE__, TR_E_IAM_DELETE_CONFLICT, "%s", CONFLICT);
    if (tr_ok(r)) r = iam_ent_remove(rc, &p);
    ent_rec_free(&p);
    return r;
}

/* The profile and role of Add/RemoveRoleFromInstanceProfile: both names
 * checked, the caller authorized on the profile, then both looked up. */
static TR_RESULT load_pair(struct req_ctx *rc, const struct form *in, struct ent_rec *p,
                           struct ent_rec *role)
{
    const char *pname, *rname;
    bool found = false;
    GUARD(iam_param_entity(in, &IAM_P_PROFILE, &pname));
    GUARD(iam_param_entity(in, &IAM_P_ROLE, &rname));
    GUARD(iam_load(rc, rc->op->action, IAM_INSTANCE_PROFILE, pname, NULL, p));
    GUARD(iam_find(rc, IAM_ROLE, rname, role, &found));
    if (!found) return iam_no_such(IAM_ROLE, rname);
    return TR_OK;
}

static TR_RESULT add_role(struct req_ctx *rc, const struct form *in, struct ent_rec *p,
                          struct ent_rec *role)
{
    bool any = false;
    char instances[64];
    GUARD(load_pair(rc, in, p, role));
    /* The role is passed to EC2 (API reference, AddRoleToInstanceProfile:
     * "The caller of this operation must be granted the PassRole
     * permission on the IAM role"); the instance is any of the account's,
     * the only AssociatedResourceArn the reference allows here. */
    GUARD(str_format(instances, sizeof instances, "the instances' ARN", "arn:aws:ec2:*:%s:instance/*",
                     rc->who.account_id));
    struct iam_authz pass = { .passed_to = "ec2.amazonaws.com", .associated = instances };
    GUARD(iam_authz(rc, "iam:PassRole", role->arn, role, &pass));
    GUARD(iam_role_protected(role));
    GUARD(iam_rel_any(rc, PROFILE_ROLE, p->arn, &any));
    if (any)
        BAIL(TR_E_IAM_LIMIT_EXCEEDED, "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1");
    struct rel_rec rel = { .from = p->arn, .to = role->arn, .doc = "", .created = rc->now };
    STR_SET(rel.kind, PROFILE_ROLE);
    return rc->st[0]->rel_put(rc->st, &rel);
}

static TR_RESULT remove_role(struct req_ctx *rc, const struct form *in, struct ent_rec *p,
                             struct ent_rec *role)
{
    GUARD(load_pair(rc, in, p, role));
    GUARD(iam_role_protected(role));
    tr_result r = rc->st[0]->rel_delete(rc->st, PROFILE_ROLE, p->arn, role->arn);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND) return iam_no_such(IAM_ROLE, role->name);
    return r;
}

typedef TR_RESULT (*pair_fn)(struct req_ctx *rc, const struct form *in, struct ent_rec *p,
                             struct ent_rec *role);

static TR_RESULT run_pair(struct req_ctx *rc, const struct form *in, pair_fn fn)
{
    struct ent_rec p = { 0 }, role = { 0 };
    tr_result r = fn(rc, in, &p, &role);
    ent_rec_free(&p);
    ent_rec_free(&role);
    return r;
}

TR_RESULT iam_add_role_to_instance_profile(struct req_ctx *rc, const struct form *in,
                                           struct xml *out)
{
    (void)out;
    return run_pair(rc, in, add_role);
}

TR_RESULT iam_remove_role_from_instance_profile(struct req_ctx *rc, const struct form *in,
                                                struct xml *out)
{
    (void)out;
    return run_pair(rc, in, remove_role);
}

/* The profiles a role is in, for a page of ListInstanceProfilesForRole. */
struct for_role { struct rel_rec *v; };

static TR_RESULT write_for_role(struct req_ctx *rc, struct xml *x, void *arg, size_t i,
                                const char **key)
{
    const struct for_role *l = arg;
    struct ent_rec p = { 0 };
    *key = l->v[i].from;
    GUARD(rc->st[0]->ent_get_arn(rc->st, IAM_INSTANCE_PROFILE, l->v[i].from, &p));
    tr_result r = write_profile(rc, x, "member", &p, 0);
    ent_rec_free(&p);
    return r;
}

static TR_RESULT for_role(struct req_ctx *rc, const struct form *in, struct xml *out,
                          const struct iam_kind_param *k, struct ent_rec *role)
{
    struct iam_page pg;
    struct rel_rec *v = NULL;
    size_t n = 0, first = 0;
    GUARD(iam_load_listing(rc, in, k, &pg, role));
    GUARD(rc->st[0]->rel_list_to(rc->st, PROFILE_ROLE, role->arn, &v, &n));
    /* The order is the store's (by profile ARN); Marker is the last ARN. */
    if (pg.marker)
        while (first < n && strcmp(v[first].from, pg.marker) <= 0) first++;
    struct for_role l = { v };
    tr_result r = iam_page_write(rc, out, "InstanceProfiles", &pg, first, n, write_for_role, &l);
    rel_list_free(v, n);
    return r;
}

IAM_KIND_HANDLER(iam_list_instance_profiles_for_role, for_role, IAM_P_ROLE)

TR_RESULT iam_xml_role_profiles(struct req_ctx *rc, struct xml *x, const char *role_arn)
{
    struct rel_rec *v = NULL;
    size_t n = 0;
    const char *last;
    GUARD(rc->st[0]->rel_list_to(rc->st, PROFILE_ROLE, role_arn, &v, &n));
    struct for_role l = { v };
    tr_result r = TR_OK;
    xml_open(x, "InstanceProfileList");
    for (size_t i = 0; i < n && tr_ok(r); i++) r = write_for_role(rc, x, &l, i, &last);
    xml_close(x, "InstanceProfileList");
    rel_list_free(v, n);
    return r;
}

TR_RESULT iam_role_in_profile_conflict(struct req_ctx *rc, const char *role_arn)
{
    struct rel_rec *v = NULL;
    size_t n = 0;
    GUARD(rc->st[0]->rel_list_to(rc->st, PROFILE_ROLE, role_arn, &v, &n));
    rel_list_free(v, n);
    if (n) BAIL(TR_E_IAM_DELETE_CONFLICT, "%s", CONFLICT);
    return TR_OK;
}
