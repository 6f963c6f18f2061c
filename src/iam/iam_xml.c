/*
 * iam_xml.c -- the XML of IAM's User, Role, Group and Policy shapes
 * (botocore model), written from the entity records of IAM_STORE.md.
 *
 * What each operation includes follows AWS: CreateUser/GetUser add
 * PermissionsBoundary and Tags when set, ListUsers does not; GetRole adds
 * MaxSessionDuration and an empty RoleLastUsed, ListRoles
 * MaxSessionDuration only; policy documents (AssumeRolePolicyDocument) are
 * URL-encoded (xml_policy, docs/WIRE.md 1.2).  Callers pick with IAMX_*.
 */
#include "iam/iam_util.h"

#include <string.h>

#include "iam/bindings.h"

static void common_fields(struct xml *x, const struct ent_rec *e, const char *name_tag,
                          const char *id_tag)
{
    xml_text(x, "Path", e->path);
    xml_text(x, name_tag, e->name);
    xml_text(x, id_tag, e->id);
    xml_text(x, "Arn", e->arn);
    xml_time(x, "CreateDate", e->created);
}

void iam_xml_boundary(struct xml *x, const struct ent_rec *e)
{
    json_t *d = iam_doc(e);
    const char *b = iam_doc_str(d, "boundary");
    if (b && b[0]) {
        xml_open(x, "PermissionsBoundary");
        xml_text(x, "PermissionsBoundaryType", IAM_BOUNDARY_TYPE);
        xml_text(x, "PermissionsBoundaryArn", b);
        xml_close(x, "PermissionsBoundary");
    }
    json_decref(d);
}

TR_RESULT iam_xml_user_fields(struct req_ctx *rc, struct xml *x, const struct ent_rec *u,
                              unsigned flags)
{
    common_fields(x, u, "UserName", "UserId");
    if (flags & IAMX_BOUNDARY) iam_xml_boundary(x, u);
    if (flags & IAMX_TAGS) GUARD(iam_xml_tags(rc, x, u->arn, false));
    return TR_OK;
}

TR_RESULT iam_xml_role_fields(struct req_ctx *rc, struct xml *x, const struct ent_rec *r,
                              unsigned flags)
{
    json_t *d = iam_doc(r);
    ENSURE(d != NULL, TR_E_INTERNAL);
    common_fields(x, r, "RoleName", "RoleId");
    /* A bound principal gone since reads as its unique id (AWS). */
    char *shown = NULL;
    tr_result res = iam_policy_shown(rc->st, iam_doc_str(d, "trust"), iam_doc_str(d, "trust_ids"), &shown);
    if (tr_failed(res)) {
        json_decref(d);
        return res;
    }
    xml_policy(x, "AssumeRolePolicyDocument", shown ? shown : iam_doc_str(d, "trust"));
    free(shown);
    const char *desc = iam_doc_str(d, "description");
    if ((flags & IAMX_DESCRIPTION) && desc && *desc) xml_text(x, "Description", desc);
    if (flags & IAMX_MAX_SESSION) {
        json_t *ms = json_object_get(d, "max_session");
        xml_int(x, "MaxSessionDuration", json_is_integer(ms) ? json_integer_value(ms) : 3600);
    }
    json_decref(d);
    if (flags & IAMX_BOUNDARY) iam_xml_boundary(x, r);
    if (flags & IAMX_TAGS) GUARD(iam_xml_tags(rc, x, r->arn, false));
    if (flags & IAMX_LAST_USED) {
        xml_open(x, "RoleLastUsed");
        xml_close(x, "RoleLastUsed");
    }
    return TR_OK;
}

void iam_xml_group_fields(struct xml *x, const struct ent_rec *g)
{
    common_fields(x, g, "GroupName", "GroupId");
}

TR_RESULT iam_policy_counts(struct req_ctx *rc, const char *arn, size_t *attached,
                            size_t *boundary)
{
    struct rel_rec *v = NULL;
    size_t n = 0;
    if (attached) {
        GUARD(rc->st[0]->rel_list_to(rc->st, "attached", arn, &v, &n));
        rel_list_free(v, n);
        *attached = n;
    }
    if (boundary) {
        GUARD(rc->st[0]->rel_list_from(rc->st, "boundary", arn, NULL, IAM_ALL, &v, &n));
        rel_list_free(v, n);
        *boundary = n;
    }
    return TR_OK;
}

TR_RESULT iam_xml_policy_fields(struct req_ctx *rc, struct xml *x, const struct ent_rec *p,
                                unsigned flags)
{
    size_t attached = 0, boundary = 0;
    GUARD(iam_policy_counts(rc, p->arn, &attached, &boundary));
    json_t *d = iam_doc(p);
    ENSURE(d != NULL, TR_E_INTERNAL);
    xml_text(x, "PolicyName", p->name);
    xml_text(x, "PolicyId", p->id);
    xml_text(x, "Arn", p->arn);
    xml_text(x, "Path", p->path);
    const char *dv = iam_doc_str(d, "default_version");
    xml_text(x, "DefaultVersionId", dv ? dv : "v1");
    xml_int(x, "AttachmentCount", (int64_t)attached);
    xml_int(x, "PermissionsBoundaryUsageCount", (int64_t)boundary);
    xml_bool(x, "IsAttachable", true);
    const char *desc = iam_doc_str(d, "description");
    if ((flags & IAMX_DESCRIPTION) && desc && *desc) xml_text(x, "Description", desc);
    xml_time(x, "CreateDate", p->created);
    json_t *up = json_object_get(d, "updated");
    xml_time(x, "UpdateDate", json_is_integer(up) ? json_integer_value(up) : p->created);
    json_decref(d);
    if (flags & IAMX_TAGS) GUARD(iam_xml_tags(rc, x, p->arn, false));
    return TR_OK;
}

typedef TR_RESULT (*fields_fn)(struct req_ctx *rc, struct xml *x, const struct ent_rec *e,
                               unsigned flags);

/* <tag>fields of e</tag>. */
static TR_RESULT element(struct req_ctx *rc, struct xml *x, const char *tag, fields_fn fields,
                         const struct ent_rec *e, unsigned flags)
{
    xml_open(x, tag);
    GUARD(fields(rc, x, e, flags));
    xml_close(x, tag);
    return TR_OK;
}

TR_RESULT iam_xml_user(struct req_ctx *rc, struct xml *x, const char *tag,
                       const struct ent_rec *u, unsigned flags)
{
    return element(rc, x, tag, iam_xml_user_fields, u, flags);
}

TR_RESULT iam_xml_role(struct req_ctx *rc, struct xml *x, const char *tag,
                       const struct ent_rec *r, unsigned flags)
{
    return element(rc, x, tag, iam_xml_role_fields, r, flags);
}

TR_RESULT iam_xml_relations(struct req_ctx *rc, struct xml *x, const char *tag, const char *kind,
                            const char *arn, void (*member)(struct xml *x, const struct rel_rec *r))
{
    struct rel_rec *v = NULL;
    size_t n = 0;
    GUARD(rc->st[0]->rel_list_from(rc->st, kind, arn, NULL, IAM_ALL, &v, &n));
    xml_open(x, tag);
    for (size_t i = 0; i < n; i++) {
        xml_open(x, "member");
        member(x, &v[i]);
        xml_close(x, "member");
    }
    xml_close(x, tag);
    rel_list_free(v, n);
    return TR_OK;
}

static void attached_member(struct xml *x, const struct rel_rec *r)
{
    xml_text(x, "PolicyName", iam_arn_name(r->to));
    xml_text(x, "PolicyArn", r->to);
}

TR_RESULT iam_xml_attached(struct req_ctx *rc, struct xml *x, const char *tag,
                           const char *entity_arn)
{
    return iam_xml_relations(rc, x, tag, "attached", entity_arn, attached_member);
}
