/*
 * managed_policies.c -- customer managed policies and their versions:
 * CreatePolicy, GetPolicy, ListPolicies, DeletePolicy, CreatePolicyVersion,
 * GetPolicyVersion, ListPolicyVersions, DeletePolicyVersion,
 * SetDefaultPolicyVersion, ListEntitiesForPolicy.
 *
 * Records (IAM_STORE.md): the entity of kind "policy" (ANPA..., ARN
 * arn:aws:iam::A:policy<path><name>, doc {"default_version": "v1",
 * "description": "...", "next_version": 2, "updated": <epoch>}) and one
 * relation "version" policy ARN -> "vN" per version, doc {"document":
 * "<text>"}, created = the version's CreateDate.  Attachment and boundary
 * counts are counted from the "attached" and "boundary" relations, never
 * stored.
 *
 * AWS's rules and messages: documents are POLICY_IDENTITY policies of at
 * most 6144 non-white-space characters ("Cannot exceed quota for
 * PolicySize: 6144"); at most 5 versions ("A managed policy can have up
 * to 5 versions. Before you create a new version, you must delete an
 * existing version."); the default version cannot be deleted; a policy
 * cannot be deleted while attached or used as a boundary ("Cannot delete
 * a policy attached to entities.") or while it has versions besides the
 * default one.  Version ids count up and are never reused.  A PolicyArn
 * that is not an IAM policy ARN is InvalidInput "ARN <arn> is not
 * valid."; AWS managed policies (arn:aws:iam::aws:policy/...) do not
 * exist here, so ListPolicies Scope=AWS is empty.  ListPolicyVersions
 * lists the newest version first, as AWS's examples show.
 */
#include "iam/iam_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "core/str.h"
#include "iam/iam_util.h"
#include "iam/records.h"

#define POLICY_SIZE_MAX 6144
#define VERSIONS_MAX 5

/* ---- helpers ----------------------------------------------------------- */

static TR_RESULT check_document(struct req_ctx *rc, const char *text)
{
    if (iam_policy_size(text) > POLICY_SIZE_MAX)
        BAIL(TR_E_IAM_LIMIT_EXCEEDED, "Cannot exceed quota for PolicySize: %d", POLICY_SIZE_MAX);
    return iam_policy_validate(rc->st, NULL, text, POLICY_IDENTITY);
}

static long version_number(const char *vid)
{
    return strtol(vid + 1, NULL, 10);
}

static int newest_first(const void *a, const void *b)
{
    long x = version_number(((const struct rel_rec *)a)->to);
    long y = version_number(((const struct rel_rec *)b)->to);
    return (x < y) - (x > y);
}

/* Every version of policy arn, newest first. */
static TR_RESULT versions(struct req_ctx *rc, const char *arn, struct rel_rec **v, size_t *n)
{
    GUARD(rc->st[0]->rel_list_from(rc->st, "version", arn, NULL, IAM_ALL, v, n));
    if (*n > 1) qsort(*v, *n, sizeof **v, newest_first);
    return TR_OK;
}

/* Put version vid of arn with `text`. */
static TR_RESULT put_version(struct req_ctx *rc, const char *arn, const char *vid,
                             const char *text)
{
    return iam_rec_put_version(rc->st, arn, vid, text, rc->now);
}

/* The document text of a version rel (malloc'd copy into *out). */
static TR_RESULT version_text(const struct rel_rec *v, char **out)
{
    json_t *d = json_loads(v->doc ? v->doc : "", 0, NULL);
    const char *t = iam_doc_str(d, "document");
    *out = t ? strdup(t) : NULL;
    json_decref(d);
    ENSURE(*out != NULL, TR_E_INTERNAL);
    return TR_OK;
}

/* A version of policy p, or NoSuchEntity. */
static TR_RESULT get_version(struct req_ctx *rc, const struct ent_rec *p, const char *vid,
                             struct rel_rec *out)
{
    tr_result r = rc->st[0]->rel_get(rc->st, "version", p->arn, vid, out);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND)
        BAIL(TR_E_IAM_NO_SUCH_ENTITY, "Policy %s version %s does not exist or is not attachable.",
             p->arn, vid);
    return r;
}

/* The policy and version a request's PolicyArn and VersionId name, the
 * policy loaded for the operation's action: *p and *v, both freed when it
 * fails. */
static TR_RESULT load_version(struct req_ctx *rc, const struct form *in, struct ent_rec *p,
                              const char **vid, struct rel_rec *v)
{
    const char *arn;
    GUARD(iam_param_policy_arn(in, "PolicyArn", &arn));
    GUARD(iam_param_version(in, "VersionId", vid));
    GUARD(iam_load_policy(rc, rc->op->action, arn, NULL, p));
    tr_result r = get_version(rc, p, *vid, v);
    if (tr_failed(r)) {
        rel_rec_free(v);
        ent_rec_free(p);
    }
    return r;
}

/* Default version id of p into out. */
static void default_version(const struct ent_rec *p, char out[32])
{
    json_t *d = iam_doc(p);
    const char *dv = iam_doc_str(d, "default_version");
    snprintf(out, 32, "%s", dv ? dv : "v1");   /* fits: a version id we made (new_version's vid[32]) */
    json_decref(d);
}

/* <PolicyVersion> members; the document only when text != NULL. */
static void xml_version(struct xml *x, const char *vid, bool is_default, int64_t created,
                        const char *text)
{
    if (text) xml_policy(x, "Document", text);
    xml_text(x, "VersionId", vid);
    xml_bool(x, "IsDefaultVersion", is_default);
    xml_time(x, "CreateDate", created);
}

/* ---- operations -------------------------------------------------------- */

/* The Policy element CreatePolicy and GetPolicy answer with: the policy's
 * fields with its description and tags. */
static TR_RESULT write_policy(struct req_ctx *rc, struct xml *out, const struct ent_rec *p)
{
    xml_open(out, "Policy");
    tr_result r = iam_xml_policy_fields(rc, out, p, IAMX_DESCRIPTION | IAMX_TAGS);
    xml_close(out, "Policy");
    return r;
}

TR_RESULT iam_create_policy(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *name, *path, *text, *desc;
    struct iam_tags tags;
    char arn[IAM_ARN_MAX], *doc = NULL;
    struct ent_rec p = { 0 };

    GUARD(iam_param_name(in, "PolicyName", true, 128, &name));
    GUARD(iam_param_policy_path(in, "Path", true, &path));
    GUARD(iam_param_document(in, "PolicyDocument", &text));
    GUARD(form_str(in, "Description", false, 0, 1000, &desc));
    GUARD(iam_param_tags(in, "Tags", false, &tags));
    GUARD(iam_arn(rc->who.account_id, IAM_POLICY, path, name, arn));
    struct iam_authz x = { .request_tags = &tags };
    GUARD(iam_authz(rc, rc->op->action, arn, NULL, &x));
    GUARD(check_document(rc, text));
    GUARD(iam_rec_policy_doc("v1", desc, 2, rc->now, &doc));
    tr_result r = iam_ent_insert(rc, IAM_POLICY, name, path, doc, &p);
    free(doc);
    if (tr_ok(r)) r = put_version(rc, p.arn, "v1", text);
    if (tr_ok(r)) r = iam_tags_apply(rc, p.arn, "Policy", &tags);
    if (tr_ok(r)) r = write_policy(rc, out, &p);
    ent_rec_free(&p);
    return r;
}

TR_RESULT iam_get_policy(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *arn;
    struct ent_rec p = { 0 };
    GUARD(iam_param_policy_arn(in, "PolicyArn", &arn));
    GUARD(iam_load_policy(rc, rc->op->action, arn, NULL, &p));
    tr_result r = write_policy(rc, out, &p);
    ent_rec_free(&p);
    return r;
}

TR_RESULT iam_delete_policy(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *arn;
    struct ent_rec p = { 0 };
    struct rel_rec *v = NULL;
    size_t n = 0, attached = 0, bound = 0;
    (void)out;

    GUARD(iam_param_policy_arn(in, "PolicyArn", &arn));
    GUARD(iam_load_policy(rc, rc->op->action, arn, NULL, &p));
    tr_result r = iam_policy_counts(rc, p.arn, &attached, &bound);
    if (tr_ok(r) && (attached || bound))
        r = tr_fail_at(__FILE__, __LINE__, TR_E_IAM_DELETE_CONFLICT,
                       "Cannot delete a policy attached to entities.");
    if (tr_ok(r)) r = versions(rc, p.arn, &v, &n);
    if (tr_ok(r) && n > 1)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_IAM_DELETE_CONFLICT,
                       "This policy has more than one version. Before you delete a policy, you must "
                       "delete the policy's versions. The default version is deleted with the policy.");
    for (size_t i = 0; i < n && tr_ok(r); i++)
        r = rc->st[0]->rel_delete(rc->st, "version", p.arn, v[i].to);
    if (tr_ok(r)) r = iam_tags_clear(rc, p.arn);
    if (tr_ok(r)) r = rc->st[0]->ent_delete(rc->st, IAM_POLICY, p.arn);
    rel_list_free(v, n);
    ent_rec_free(&p);
    return r;
}

/* Allocate the next version id of p and, when make_default, make it the
 * default; the policy record is updated. */
static TR_RESULT next_version(struct req_ctx *rc, struct ent_rec *p, bool make_default,
                              char vid[32])
{
    json_t *d = iam_doc(p);
    ENSURE(d != NULL, TR_E_INTERNAL);
    json_t *nv = json_object_get(d, "next_version");
    json_int_t next = json_is_integer(nv) ? json_integer_value(nv) : 2;
    snprintf(vid, 32, "v%lld", (long long)next);   /* fits: v and a long long */
    int bad = json_object_set_new(d, "next_version", json_integer(next + 1));
    if (make_default) {
        bad |= json_object_set_new(d, "default_version", json_string(vid));
        bad |= json_object_set_new(d, "updated", json_integer(rc->now));
    }
    tr_result r = bad ? tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL) : iam_doc_store(p, d);
    json_decref(d);
    GUARD(r);
    return rc->st[0]->ent_update(rc->st, p);
}

TR_RESULT iam_create_policy_version(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *arn, *text;
    bool set_default = false;
    struct ent_rec p = { 0 };
    struct rel_rec *v = NULL;
    size_t n = 0;
    char vid[32];

    GUARD(iam_param_policy_arn(in, "PolicyArn", &arn));
    GUARD(iam_param_document(in, "PolicyDocument", &text));
    GUARD(form_bool(in, "SetAsDefault", NULL, &set_default));
    GUARD(iam_load_policy(rc, rc->op->action, arn, NULL, &p));
    tr_result r = check_document(rc, text);
    if (tr_ok(r)) r = versions(rc, p.arn, &v, &n);
    rel_list_free(v, n);
    if (tr_ok(r) && n >= VERSIONS_MAX)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_IAM_LIMIT_EXCEEDED,
                       "A managed policy can have up to %d versions. Before you create a new "
                       "version, you must delete an existing version.", VERSIONS_MAX);
    if (tr_ok(r)) r = next_version(rc, &p, set_default, vid);
    if (tr_ok(r)) r = put_version(rc, p.arn, vid, text);
    if (tr_ok(r)) {
        xml_open(out, "PolicyVersion");
        xml_version(out, vid, set_default, rc->now, NULL);
        xml_close(out, "PolicyVersion");
    }
    ent_rec_free(&p);
    return r;
}

TR_RESULT iam_get_policy_version(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *vid;
    struct ent_rec p = { 0 };
    struct rel_rec v = { 0 };
    char dv[32], *text = NULL;

    GUARD(load_version(rc, in, &p, &vid, &v));
    tr_result r = version_text(&v, &text);
    if (tr_ok(r)) {
        default_version(&p, dv);
        xml_open(out, "PolicyVersion");
        xml_version(out, vid, strcmp(dv, vid) == 0, v.created, text);
        xml_close(out, "PolicyVersion");
    }
    free(text);
    rel_rec_free(&v);
    ent_rec_free(&p);
    return r;
}

/* A policy's versions (newest first) and its default version's id. */
struct version_list { const struct rel_rec *v; char default_version[32]; };

static TR_RESULT write_version(struct req_ctx *rc, struct xml *x, void *arg, size_t i,
                               const char **key)
{
    const struct version_list *l = arg;
    const char *vid = l->v[i].to;
    bool is_default = strcmp(l->default_version, vid) == 0;
    (void)rc;
    xml_open(x, "member");
    xml_version(x, vid, is_default, l->v[i].created, NULL);
    xml_close(x, "member");
    *key = vid;
    return TR_OK;
}

TR_RESULT iam_list_policy_versions(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *arn;
    struct iam_page pg;
    struct ent_rec p = { 0 };
    struct rel_rec *v = NULL;
    size_t n = 0, first = 0;
    struct version_list l = { NULL, "" };

    GUARD(iam_param_policy_arn(in, "PolicyArn", &arn));
    GUARD(iam_page_params(in, &pg));
    GUARD(iam_load_policy(rc, rc->op->action, arn, NULL, &p));
    tr_result r = versions(rc, p.arn, &v, &n);
    default_version(&p, l.default_version);
    if (pg.marker)      /* newest first: resume below the marker's number */
        while (first < n && version_number(v[first].to) >= version_number(pg.marker)) first++;
    l.v = v;
    if (tr_ok(r)) r = iam_page_write(rc, out, "Versions", &pg, first, n, write_version, &l);
    rel_list_free(v, n);
    ent_rec_free(&p);
    return r;
}

TR_RESULT iam_delete_policy_version(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *vid;
    struct ent_rec p = { 0 };
    struct rel_rec v = { 0 };
    char dv[32];
    tr_result r = TR_OK;
    (void)out;

    GUARD(load_version(rc, in, &p, &vid, &v));
    default_version(&p, dv);
    if (strcmp(dv, vid) == 0)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_IAM_DELETE_CONFLICT,
                       "Cannot delete the default version of a policy.");
    if (tr_ok(r)) r = rc->st[0]->rel_delete(rc->st, "version", p.arn, vid);
    rel_rec_free(&v);
    ent_rec_free(&p);
    return r;
}

TR_RESULT iam_set_default_policy_version(struct req_ctx *rc, const struct form *in,
                                         struct xml *out)
{
    const char *vid;
    struct ent_rec p = { 0 };
    struct rel_rec v = { 0 };
    tr_result r = TR_OK;
    (void)out;

    GUARD(load_version(rc, in, &p, &vid, &v));
    json_t *d = iam_doc(&p);
    if (!d || json_object_set_new(d, "default_version", json_string(vid)) != 0 ||
        json_object_set_new(d, "updated", json_integer(rc->now)) != 0)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    if (tr_ok(r)) r = iam_doc_store(&p, d);
    if (tr_ok(r)) r = rc->st[0]->ent_update(rc->st, &p);
    json_decref(d);
    rel_rec_free(&v);
    ent_rec_free(&p);
    return r;
}

TR_RESULT iam_xml_policy_detail(struct req_ctx *rc, struct xml *x, const struct ent_rec *p)
{
    struct rel_rec *v = NULL;
    size_t n = 0;
    char dv[32];
    GUARD(iam_xml_policy_fields(rc, x, p, IAMX_DESCRIPTION));
    GUARD(versions(rc, p->arn, &v, &n));
    default_version(p, dv);
    tr_result r = TR_OK;
    xml_open(x, "PolicyVersionList");
    for (size_t i = 0; i < n && tr_ok(r); i++) {
        char *text = NULL;
        r = version_text(&v[i], &text);
        if (tr_failed(r)) break;
        xml_open(x, "member");
        xml_version(x, v[i].to, strcmp(dv, v[i].to) == 0, v[i].created, text);
        xml_close(x, "member");
        free(text);
    }
    xml_close(x, "PolicyVersionList");
    rel_list_free(v, n);
    return r;
}

/* ---- ListPolicies ------------------------------------------------------ */

struct policy_filter {
    bool only_attached;
    bool boundary_usage;          /* PolicyUsageFilter=PermissionsBoundary */
};

/* An enum parameter: *out is NULL when absent; else one of `values`. */
static TR_RESULT param_enum(const struct form *in, const char *key, const char *const *values,
                            const char *set, const char **out)
{
    GUARD(form_str(in, key, false, 0, 64, out));
    if (!*out) return TR_OK;
    for (size_t i = 0; values[i]; i++)
        if (strcmp(values[i], *out) == 0) return TR_OK;
    char c[160];
    snprintf(c, sizeof c, "Member must satisfy enum value set: [%s]", set);  /* fits: set is our short literal */
    return iam_invalid(key, *out, c);
}

static const char *const USAGE[] = { "PermissionsPolicy", "PermissionsBoundary", NULL };

static TR_RESULT keep_policy(struct req_ctx *rc, const struct ent_rec *p,
                             const struct policy_filter *f, bool *keep)
{
    size_t attached = 0, bound = 0;
    *keep = true;
    if (!f->only_attached) return TR_OK;
    GUARD(iam_policy_counts(rc, p->arn, &attached, &bound));
    *keep = f->boundary_usage ? bound > 0 : attached > 0;
    return TR_OK;
}

/* Write up to pg->max matching policies after the marker; *next gets the
 * last written name when more follow. */
static TR_RESULT write_policies(struct req_ctx *rc, struct xml *out, const char *prefix,
                                const struct policy_filter *f, const struct iam_page *pg,
                                char next[256], bool *truncated)
{
    char after[IAM_MARKER_MAX + 1];
    size_t shown = 0;
    GUARD(str_copy(after, sizeof after, pg->marker, "the marker"));
    *truncated = false;
    for (;;) {
        struct ent_rec *v = NULL;
        size_t n = 0;
        GUARD(rc->st[0]->ent_list(rc->st, IAM_POLICY, rc->who.account_id, prefix, after, 100,
                                  &v, &n));
        tr_result r = TR_OK;
        for (size_t i = 0; i < n && tr_ok(r) && !*truncated; i++) {
            bool keep = false;
            r = keep_policy(rc, &v[i], f, &keep);
            if (tr_failed(r) || !keep) continue;
            if (shown == pg->max) { *truncated = true; break; }
            xml_open(out, "member");
            r = iam_xml_policy_fields(rc, out, &v[i], 0);
            xml_close(out, "member");
            if (tr_ok(r)) r = str_copy(next, 256, v[i].name, "the next marker");
            shown++;
        }
        bool more = tr_ok(r) && !*truncated && n == 100;
        if (more) r = str_copy(after, sizeof after, v[n - 1].name, "the list's position");
        ent_list_free(v, n);
        if (!more || tr_failed(r)) return r;
    }
}

TR_RESULT iam_list_policies(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    static const char *const SCOPES[] = { "All", "AWS", "Local", NULL };
    const char *scope, *prefix, *usage;
    struct policy_filter f = { 0 };
    struct iam_page pg;
    char resource[IAM_ARN_MAX], next[256] = "";
    bool truncated = false;

    GUARD(param_enum(in, "Scope", SCOPES, "All, AWS, Local", &scope));
    GUARD(form_bool(in, "OnlyAttached", NULL, &f.only_attached));
    GUARD(iam_param_policy_path(in, "PathPrefix", false, &prefix));
    GUARD(param_enum(in, "PolicyUsageFilter", USAGE, "PermissionsPolicy, PermissionsBoundary", &usage));
    GUARD(iam_page_params(in, &pg));
    f.boundary_usage = usage && strcmp(usage, "PermissionsBoundary") == 0;
    GUARD(iam_list_resource(rc, IAM_POLICY, prefix, resource));
    GUARD(iam_authz(rc, rc->op->action, resource, NULL, NULL));
    tr_result r = TR_OK;
    xml_open(out, "Policies");
    if (!scope || strcmp(scope, "AWS") != 0)
        r = write_policies(rc, out, prefix, &f, &pg, next, &truncated);
    xml_close(out, "Policies");
    if (tr_ok(r)) iam_page_end(out, truncated, next);
    return r;
}

/* ---- ListEntitiesForPolicy --------------------------------------------- */

struct arn_list {
    char **v;
    size_t n, cap;
};

static void arn_list_free(struct arn_list *l)
{
    strs_free(l->v, l->n);
    memset(l, 0, sizeof *l);
}

/* Add s unless present. */
static TR_RESULT arn_list_add(struct arn_list *l, const char *s)
{
    return strs_add_unique(&l->v, &l->n, &l->cap, s);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ARNs of the entities using policy arn -- attached ("PermissionsPolicy"),
 * as a boundary ("PermissionsBoundary") or both (usage NULL) -- sorted. */
static TR_RESULT policy_users(struct req_ctx *rc, const char *arn, const char *usage,
                              struct arn_list *out)
{
    struct rel_rec *v = NULL;
    size_t n = 0;
    tr_result r = TR_OK;
    if (!usage || strcmp(usage, "PermissionsPolicy") == 0) {
        GUARD(rc->st[0]->rel_list_to(rc->st, "attached", arn, &v, &n));
        for (size_t i = 0; i < n && tr_ok(r); i++) r = arn_list_add(out, v[i].from);
        rel_list_free(v, n);
        GUARD(r);
    }
    if (!usage || strcmp(usage, "PermissionsBoundary") == 0) {
        GUARD(rc->st[0]->rel_list_from(rc->st, "boundary", arn, NULL, IAM_ALL, &v, &n));
        for (size_t i = 0; i < n && tr_ok(r); i++) r = arn_list_add(out, v[i].to);
        rel_list_free(v, n);
        GUARD(r);
    }
    if (out->n > 1) qsort(out->v, out->n, sizeof *out->v, cmp_str);
    return TR_OK;
}

/* The entity kind of an IAM ARN, as the EntityFilter spells it. */
static const char *arn_kind(const char *arn, const char **filter_word)
{
    static const char *const k[][2] = { { IAM_USER, "User" }, { IAM_GROUP, "Group" }, { IAM_ROLE, "Role" } };
    const char *colon = strrchr(arn, ':');
    for (size_t i = 0; colon && i < 3; i++) {
        size_t l = strlen(k[i][0]);
        if (strncmp(colon + 1, k[i][0], l) == 0 && colon[1 + l] == '/') {
            *filter_word = k[i][1];
            return k[i][0];
        }
    }
    return NULL;
}

/* <tag><member><NameTag/><IdTag/></member>...</tag> for the selected
 * entities of one kind. */
static void write_policy_entities(struct xml *out, const struct ent_rec *sel, size_t n,
                                  const char *kind, const char *tag, const char *name_tag,
                                  const char *id_tag)
{
    xml_open(out, tag);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(sel[i].kind, kind) != 0) continue;
        xml_open(out, "member");
        xml_text(out, name_tag, sel[i].name);
        xml_text(out, id_tag, sel[i].id);
        xml_close(out, "member");
    }
    xml_close(out, tag);
}

struct entity_query {
    const char *filter;           /* EntityFilter or NULL */
    const char *prefix;           /* PathPrefix or NULL */
    struct iam_page pg;
};

/* Select up to q->pg.max entities of `arns` after the marker that pass the
 * filters; *next is the ARN to resume after when more follow. */
static TR_RESULT select_entities(struct req_ctx *rc, const struct arn_list *arns,
                                 const struct entity_query *q, struct ent_rec *sel, size_t *nsel,
                                 const char **next)
{
    *nsel = 0;
    *next = NULL;
    for (size_t i = 0; i < arns->n; i++) {
        const char *word = NULL, *kind = arn_kind(arns->v[i], &word);
        if (q->pg.marker && strcmp(arns->v[i], q->pg.marker) <= 0) continue;
        if (!kind || (q->filter && strcmp(q->filter, word) != 0)) continue;
        struct ent_rec e = { 0 };
        tr_result r = rc->st[0]->ent_get_arn(rc->st, kind, arns->v[i], &e);
        if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND) continue;
        GUARD(r);
        if (q->prefix && strncmp(e.path, q->prefix, strlen(q->prefix)) != 0) {
            ent_rec_free(&e);
            continue;
        }
        if (*nsel == q->pg.max) {
            ent_rec_free(&e);
            *next = sel[*nsel - 1].arn;
            return TR_OK;
        }
        sel[(*nsel)++] = e;
    }
    return TR_OK;
}

TR_RESULT iam_list_entities_for_policy(struct req_ctx *rc, const struct form *in,
                                       struct xml *out)
{
    static const char *const ENTITIES[] = { "User", "Role", "Group", "LocalManagedPolicy",
                                            "AWSManagedPolicy", NULL };
    const char *arn, *usage, *next = NULL;
    struct entity_query q = { 0 };
    struct ent_rec p = { 0 }, *sel = NULL;
    struct arn_list arns = { 0 };
    size_t nsel = 0;

    GUARD(iam_param_policy_arn(in, "PolicyArn", &arn));
    GUARD(param_enum(in, "EntityFilter", ENTITIES,
                     "User, Role, Group, LocalManagedPolicy, AWSManagedPolicy", &q.filter));
    GUARD(iam_param_path(in, "PathPrefix", false, &q.prefix));
    GUARD(param_enum(in, "PolicyUsageFilter", USAGE, "PermissionsPolicy, PermissionsBoundary", &usage));
    GUARD(iam_page_params(in, &q.pg));
    GUARD(iam_load_policy(rc, rc->op->action, arn, NULL, &p));
    tr_result r = policy_users(rc, p.arn, usage, &arns);
    sel = tr_ok(r) ? calloc(q.pg.max, sizeof *sel) : NULL;
    if (tr_ok(r) && !sel) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    if (tr_ok(r)) r = select_entities(rc, &arns, &q, sel, &nsel, &next);
    if (tr_ok(r)) {
        write_policy_entities(out, sel, nsel, IAM_GROUP, "PolicyGroups", "GroupName", "GroupId");
        write_policy_entities(out, sel, nsel, IAM_USER, "PolicyUsers", "UserName", "UserId");
        write_policy_entities(out, sel, nsel, IAM_ROLE, "PolicyRoles", "RoleName", "RoleId");
        iam_page_end(out, next != NULL, next);
    }
    for (size_t i = 0; i < nsel; i++) ent_rec_free(&sel[i]);
    free(sel);
    arn_list_free(&arns);
    ent_rec_free(&p);
    return r;
}
