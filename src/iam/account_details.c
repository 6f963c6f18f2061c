/*
 * account_details.c -- GetAccountAuthorizationDetails: every user, group,
 * role and customer managed policy of the caller's account with the
 * policies that apply to it (botocore shapes UserDetail, GroupDetail,
 * RoleDetail, ManagedPolicyDetail).
 *
 * Filter.member.N (User, Group, Role, LocalManagedPolicy,
 * AWSManagedPolicy) picks the lists; no filter means all of them.  tresor
 * has no AWS managed policies, so AWSManagedPolicy adds nothing.  The four
 * lists are always present (empty when filtered out or empty).
 *
 * Paging: MaxItems counts entities across the lists, which are walked in
 * the order users, groups, roles, policies, each by name.  The Marker is
 * "<U|G|R|P>:<name>", the list and the name of the last entity returned.
 * Policy documents (inline, versions, trust) are URL-encoded, as
 * everywhere in IAM.  The call is authorized with resource "*" (it is an
 * account-wide read).
 */
#include "iam/iam_ops.h"

#include <stdio.h>
#include <string.h>

#include "core/str.h"
#include "iam/iam_util.h"

static void inline_member(struct xml *x, const struct rel_rec *r)
{
    xml_text(x, "PolicyName", r->to);
    xml_policy(x, "PolicyDocument", r->doc);
}

/* <tag> of the inline policies of arn: PolicyName, PolicyDocument. */
static TR_RESULT write_inline(struct req_ctx *rc, struct xml *x, const char *tag, const char *arn)
{
    return iam_xml_relations(rc, x, tag, "inline", arn, inline_member);
}

static TR_RESULT user_detail(struct req_ctx *rc, struct xml *x, const struct ent_rec *u)
{
    struct rel_rec *g = NULL;
    size_t n = 0;
    GUARD(iam_xml_user_fields(rc, x, u, IAMX_BOUNDARY | IAMX_TAGS));
    GUARD(write_inline(rc, x, "UserPolicyList", u->arn));
    GUARD(rc->st[0]->rel_list_to(rc->st, "member", u->arn, &g, &n));
    xml_open(x, "GroupList");
    for (size_t i = 0; i < n; i++) xml_text(x, "member", iam_arn_name(g[i].from));
    xml_close(x, "GroupList");
    rel_list_free(g, n);
    return iam_xml_attached(rc, x, "AttachedManagedPolicies", u->arn);
}

static TR_RESULT group_detail(struct req_ctx *rc, struct xml *x, const struct ent_rec *g)
{
    iam_xml_group_fields(x, g);
    GUARD(write_inline(rc, x, "GroupPolicyList", g->arn));
    return iam_xml_attached(rc, x, "AttachedManagedPolicies", g->arn);
}

static TR_RESULT role_detail(struct req_ctx *rc, struct xml *x, const struct ent_rec *r)
{
    GUARD(iam_xml_role_fields(rc, x, r, IAMX_BOUNDARY | IAMX_TAGS | IAMX_LAST_USED));
    GUARD(iam_xml_role_profiles(rc, x, r->arn));
    GUARD(write_inline(rc, x, "RolePolicyList", r->arn));
    return iam_xml_attached(rc, x, "AttachedManagedPolicies", r->arn);
}

struct phase {
    char letter;
    const char *kind;
    const char *filter;            /* the EntityType naming it */
    const char *list_tag;
    iam_ent_writer write;
};

static const struct phase PHASES[] = {
    { 'U', IAM_USER, "User", "UserDetailList", user_detail },
    { 'G', IAM_GROUP, "Group", "GroupDetailList", group_detail },
    { 'R', IAM_ROLE, "Role", "RoleDetailList", role_detail },
    { 'P', IAM_POLICY, "LocalManagedPolicy", "Policies", iam_xml_policy_detail },
};
#define NPHASES (sizeof PHASES / sizeof PHASES[0])
/* The longest position a marker carries: the whole Marker (markerType)
 * less its "X:", so any marker's is copied whole. */
#define NAME_POS_MAX (IAM_MARKER_MAX + 1)

struct walk {
    bool want[NPHASES];
    size_t start;                  /* phase of the marker */
    const char *after;             /* name in that phase, or NULL */
    size_t left;                   /* entities still to write */
    bool truncated;
    char next[2 + NAME_POS_MAX];   /* marker of the last entity written */
};

static TR_RESULT parse_filter(const struct form *in, struct walk *w)
{
    static const char *const TYPES[] = { "User", "Role", "Group", "LocalManagedPolicy",
                                         "AWSManagedPolicy" };
    const char *f[8];
    size_t n = form_list(in, "Filter", f, 8);
    for (size_t p = 0; p < NPHASES; p++) w->want[p] = n == 0;
    for (size_t i = 0; i < n; i++) {
        bool known = false;
        for (size_t t = 0; t < sizeof TYPES / sizeof TYPES[0]; t++) known |= strcmp(f[i], TYPES[t]) == 0;
        if (!known)
            return iam_invalid("Filter", f[i], "Member must satisfy enum value set: [User, Role, "
                                               "Group, LocalManagedPolicy, AWSManagedPolicy]");
        for (size_t p = 0; p < NPHASES; p++) w->want[p] |= strcmp(f[i], PHASES[p].filter) == 0;
    }
    return TR_OK;
}

static TR_RESULT parse_marker(const char *marker, struct walk *w)
{
    w->start = 0;
    w->after = NULL;
    if (!marker) return TR_OK;
    for (size_t p = 0; p < NPHASES; p++)
        if (marker[0] == PHASES[p].letter && marker[1] == ':') {
            w->start = p;
            w->after = marker + 2;
            return TR_OK;
        }
    BAIL(TR_E_IAM_INVALID_INPUT, "Invalid Marker.");
}

/* Write the entities of phase p that fit; notice whether more follow. */
static TR_RESULT walk_phase(struct req_ctx *rc, struct xml *x, size_t p, struct walk *w)
{
    const struct phase *ph = &PHASES[p];
    char after[NAME_POS_MAX];
    GUARD(str_copy(after, sizeof after, p == w->start && w->after ? w->after : "", "the marker's name"));
    while (!w->truncated) {
        struct ent_rec *v = NULL;
        size_t n = 0;
        size_t want = w->left + 1 < 100 ? w->left + 1 : 100;
        GUARD(rc->st[0]->ent_list(rc->st, ph->kind, rc->who.account_id, NULL, after, want, &v, &n));
        tr_result r = TR_OK;
        for (size_t i = 0; i < n && tr_ok(r); i++) {
            if (w->left == 0) { w->truncated = true; break; }
            xml_open(x, "member");
            r = ph->write(rc, x, &v[i]);
            xml_close(x, "member");
            if (tr_ok(r)) r = str_format(w->next, sizeof w->next, "the marker", "%c:%s", ph->letter, v[i].name);
            w->left--;
        }
        bool more = tr_ok(r) && !w->truncated && n == want;
        if (more) r = str_copy(after, sizeof after, v[n - 1].name, "the list's position");
        ent_list_free(v, n);
        GUARD(r);
        if (!more) break;
    }
    return TR_OK;
}

TR_RESULT iam_get_account_authorization_details(struct req_ctx *rc, const struct form *in,
                                                struct xml *out)
{
    struct iam_page pg;
    struct walk w = { 0 };

    GUARD(parse_filter(in, &w));
    GUARD(iam_page_params(in, &pg));
    GUARD(parse_marker(pg.marker, &w));
    GUARD(iam_authz(rc, rc->op->action, "*", NULL, NULL));
    w.left = pg.max;
    for (size_t p = 0; p < NPHASES; p++) {
        xml_open(out, PHASES[p].list_tag);
        if (w.want[p] && p >= w.start && !w.truncated) GUARD(walk_phase(rc, out, p, &w));
        xml_close(out, PHASES[p].list_tag);
    }
    iam_page_end(out, w.truncated, w.next);
    return TR_OK;
}
