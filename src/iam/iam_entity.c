/*
 * iam_entity.c -- finding, naming, creating and authorizing IAM entities
 * (iam_util.h).
 *
 * Every entity lives in the caller's account: lookups pass
 * rc->who.account_id, and a policy ARN of another account is "not found"
 * (customer managed policies cannot be used across accounts).
 *
 * Names: IAM names differ by more than case ("User names are not
 * distinguished by case"), while the store compares names byte for byte
 * (IAM_STORE.md).  iam_name_free therefore scans the account's entities
 * of the kind, case-insensitively, before a create or rename; lookups by
 * name stay exact.
 *
 * Authorization (iam_authz): every IAM call is one iam_authorize() with
 * the action "iam:<Op>", the resource ARN AWS uses -- the target user,
 * role, group or policy ARN; for a listing "arn:aws:iam::A:user/" (the
 * type and the PathPrefix, "/" by default), for
 * GetAccountAuthorizationDetails "*" -- resource_account = the caller's
 * account, no resource policy (RES_NONE), and the IAM condition keys:
 * iam:PolicyARN, iam:PermissionsBoundary, aws:RequestTag/k, aws:TagKeys,
 * aws:ResourceTag/k of an existing target user, role or managed policy, and
 * iam:ResourceTag/k of a user or role (src/iam/authz_table.def).  The order is
 * AWS's: parameters are validated first, then the caller is authorized
 * (on the ARN the target has, or would have under "/" when it does not
 * exist), and only then does a missing target give NoSuchEntity.
 */
#include "iam/iam_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/str.h"
#include "iam/authz.h"
#include "iam/iam_ops.h"
#include "iam/records.h"

struct kind_info {
    const char *kind;
    const char *id_prefix;
    const char *exists_fmt;
    const char *missing_fmt;
};

static const struct kind_info kinds[] = {
    { IAM_USER, "AIDA", "User with name %s already exists.", "The user with name %s cannot be found." },
    { IAM_ROLE, "AROA", "Role with name %s already exists.", "The role with name %s cannot be found." },
    { IAM_GROUP, "AGPA", "Group with name %s already exists.", "The group with name %s cannot be found." },
    { IAM_POLICY, "ANPA", "A policy called %s already exists. Duplicate names are not allowed.",
      "Policy %s was not found." },
    { IAM_INSTANCE_PROFILE, "AIPA", "Instance Profile %s already exists.",
      "Instance Profile %s cannot be found." },
    { IAM_OIDC_PROVIDER, "AOPA", "Provider with url https://%s already exists.",
      "OpenIDConnect Provider not found for arn %s" },
};

static const struct kind_info *kind_info(const char *kind)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i].kind, kind) == 0) return &kinds[i];
    return NULL;
}

tr_result (iam_no_such)(const char *kind, const char *name)
{
    const struct kind_info *k = kind_info(kind);
    if (!k) return tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    return tr_fail_at(__FILE__, __LINE__, TR_E_IAM_NO_SUCH_ENTITY, k->missing_fmt, name);
}

/* A store lookup: not-found becomes *found = false. */
static TR_RESULT found_or_not(tr_result r, struct ent_rec *out, bool *found)
{
    *found = tr_ok(r);
    if (tr_ok(r)) return TR_OK;
    ent_rec_free(out);
    if (tr_code(r) == TR_E_STORE_NOT_FOUND) return TR_OK;
    return r;
}

TR_RESULT iam_find(struct req_ctx *rc, const char *kind, const char *name, struct ent_rec *out,
                   bool *found)
{
    memset(out, 0, sizeof *out);
    return found_or_not(rc->st[0]->ent_get(rc->st, kind, rc->who.account_id, name, out), out,
                        found);
}

TR_RESULT iam_find_policy(struct req_ctx *rc, const char *arn, struct ent_rec *out, bool *found)
{
    memset(out, 0, sizeof *out);
    GUARD(found_or_not(rc->st[0]->ent_get_arn(rc->st, IAM_POLICY, arn, out), out, found));
    if (*found && strcmp(out->account_id, rc->who.account_id) != 0) {
        ent_rec_free(out);
        *found = false;
    }
    return TR_OK;
}

TR_RESULT iam_name_free(struct req_ctx *rc, const char *kind, const char *name,
                        const char *self_arn)
{
    const struct kind_info *k = kind_info(kind);
    struct ent_rec *v = NULL;
    size_t n = 0;
    char after[256] = "";
    tr_result r = TR_OK;
    ENSURE_REF(k);
    for (;;) {
        r = rc->st[0]->ent_list(rc->st, kind, rc->who.account_id, NULL, after, 500, &v, &n);
        if (tr_failed(r)) return r;
        for (size_t i = 0; i < n; i++) {
            if (strcasecmp(v[i].name, name) != 0) continue;
            if (self_arn && strcmp(v[i].arn, self_arn) == 0) continue;
            r = tr_fail_at(__FILE__, __LINE__, TR_E_IAM_ENTITY_EXISTS, k->exists_fmt, name);
            break;
        }
        bool more = n == 500 && tr_ok(r);
        if (more) r = str_copy(after, sizeof after, v[n - 1].name, "the list's position");
        ent_list_free(v, n);
        if (!more || tr_failed(r)) return r;
    }
}

TR_RESULT iam_ent_insert(struct req_ctx *rc, const char *kind, const char *name,
                         const char *path, const char *doc, struct ent_rec *out)
{
    const struct kind_info *k = kind_info(kind);
    char id[IAM_ID_LEN + 1], arn[IAM_ARN_MAX];
    tr_result r = TR_OK;
    ENSURE_REF(k);
    memset(out, 0, sizeof *out);
    GUARD(iam_name_free(rc, kind, name, NULL));
    GUARD(iam_arn(rc->who.account_id, kind, path, name, arn));
    struct ent_rec e = { .name = (char *)name, .id = id, .arn = arn, .path = (char *)path,
                         .doc = (char *)(doc ? doc : "{}"), .created = rc->now };
    GUARD(str_copy(e.kind, sizeof e.kind, kind, "the entity kind"));
    STR_COPY_ARRAY(e.account_id, rc->who.account_id);
    /* A fresh id collides with probability ~2^-85; try again anyway. */
    for (int attempt = 0; attempt < 3; attempt++) {
        GUARD(iam_new_id(k->id_prefix, id));
        r = rc->st[0]->ent_put(rc->st, &e);
        if (tr_ok(r) || tr_code(r) != TR_E_STORE_EXISTS) break;
    }
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_EXISTS)
        return tr_fail_at(__FILE__, __LINE__, TR_E_IAM_ENTITY_EXISTS, k->exists_fmt, name);
    GUARD(r);
    return rc->st[0]->ent_get_arn(rc->st, kind, arn, out);
}

/* ---- authorization ----------------------------------------------------- */

#define CTX_EXTRA (3 * IAM_MAX_TAGS + 5)    /* aws: and iam:ResourceTag, aws:RequestTag */

/* The extra condition keys of one call; key strings live in `names`. */
struct extra_ctx {
    struct ctx_entry e[CTX_EXTRA];
    const char *one[CTX_EXTRA];
    char names[CTX_EXTRA][16 + 4 * 128 + 1];   /* "aws:ResourceTag/" + a UTF-8 tag key */
    const char *tag_keys[IAM_MAX_TAGS];
    size_t n;
};

/* A condition key prefix+suffix is copied whole, or the call fails: a cut
 * key would be another key. */
static TR_RESULT add1(struct extra_ctx *c, const char *prefix, const char *suffix, const char *value)
{
    if (c->n >= CTX_EXTRA || !value) return TR_OK;
    size_t i = c->n;
    GUARD(str_format(c->names[i], sizeof c->names[i], "a condition key", "%s%s", prefix, suffix ? suffix : ""));
    c->n++;
    c->one[i] = value;
    c->e[i] = (struct ctx_entry){ .key = c->names[i], .values = &c->one[i], .n = 1 };
    return TR_OK;
}

/* key: a literal of ours, far shorter than names[] holds. */
static void add_multi(struct extra_ctx *c, const char *key, const char *const *values, size_t n)
{
    if (c->n >= CTX_EXTRA) return;
    size_t i = c->n++;
    snprintf(c->names[i], sizeof c->names[i], "%s", key);      /* fits: as above */
    c->e[i] = (struct ctx_entry){ .key = c->names[i], .values = values, .n = n, .multi = true };
}

static TR_RESULT add_request_keys(struct extra_ctx *c, const struct iam_authz *x, const char *boundary)
{
    GUARD(add1(c, "iam:PolicyARN", NULL, x->policy_arn));
    GUARD(add1(c, "iam:PermissionsBoundary", NULL, boundary));
    GUARD(add1(c, "iam:AWSServiceName", NULL, x->service_name));
    GUARD(add1(c, "iam:PassedToService", NULL, x->passed_to));
    GUARD(add1(c, "iam:AssociatedResourceArn", NULL, x->associated));
    if (x->request_tags) {
        const struct iam_tags *t = x->request_tags;
        for (size_t i = 0; i < t->n; i++) {
            GUARD(add1(c, "aws:RequestTag/", t->keys[i], t->values[i]));
            c->tag_keys[i] = t->keys[i];
        }
        if (t->n) add_multi(c, "aws:TagKeys", c->tag_keys, t->n);
    }
    if (x->tag_keys && x->ntag_keys) add_multi(c, "aws:TagKeys", x->tag_keys, x->ntag_keys);
    return TR_OK;
}

/* The resource types whose tags the Service Authorization Reference lists:
 * user and role (aws:ResourceTag/k, iam:ResourceTag/k), policy and
 * instance-profile and oidc-provider (aws:ResourceTag/k).  Groups have no tags. */
static bool user_or_role(const struct ent_rec *e)
{
    return e && (strcmp(e->kind, IAM_USER) == 0 || strcmp(e->kind, IAM_ROLE) == 0);
}

static bool tagged_kind(const struct ent_rec *e)
{
    return user_or_role(e) ||
           (e && (strcmp(e->kind, IAM_POLICY) == 0 || strcmp(e->kind, IAM_INSTANCE_PROFILE) == 0 ||
                  strcmp(e->kind, IAM_OIDC_PROVIDER) == 0));
}

TR_RESULT iam_authz(struct req_ctx *rc, const char *action, const char *resource,
                    const struct ent_rec *target, const struct iam_authz *x)
{
    struct extra_ctx *c = calloc(1, sizeof *c);
    struct tag_rec *tags = NULL;
    size_t ntags = 0;
    char boundary[IAM_ARN_PARAM_MAX + 1] = "";     /* as given (arnType), or as stored */
    tr_result r = TR_OK;

    ENSURE(c != NULL, TR_E_INTERNAL);
    if (tagged_kind(target)) {
        r = rc->st[0]->tag_list(rc->st, target->arn, &tags, &ntags);
        if (tr_failed(r)) goto done;
        for (size_t i = 0; i < ntags && tr_ok(r); i++) {
            r = add1(c, "aws:ResourceTag/", tags[i].key, tags[i].value);
            if (tr_ok(r) && user_or_role(target)) r = add1(c, "iam:ResourceTag/", tags[i].key, tags[i].value);
        }
        if (tr_failed(r)) goto done;
    }
    if (x) {
        if (x->boundary) r = str_copy(boundary, sizeof boundary, x->boundary, "the permissions boundary");
        else if (x->target_boundary && target) r = iam_boundary_of(target, boundary);
        if (tr_ok(r)) r = add_request_keys(c, x, boundary[0] ? boundary : NULL);
        if (tr_failed(r)) goto done;
    }
    struct authz_req ar = {
        .action = action,
        .resource = resource,
        .resource_account = rc->who.account_id,
        .mode = RES_NONE,
        .extra = c->e,
        .nextra = c->n,
    };
    r = iam_authorize(rc, &ar, NULL);
done:
    tag_list_free(tags, ntags);
    free(c);
    return r;
}

bool iam_role_service_linked(const struct ent_rec *role)
{
    return role->path && strncmp(role->path, IAM_SLR_PATH, strlen(IAM_SLR_PATH)) == 0;
}

TR_RESULT iam_role_protected(const struct ent_rec *role)
{
    if (!iam_role_service_linked(role)) return TR_OK;
    BAIL(TR_E_IAM_UNMODIFIABLE, "Cannot perform the operation on the protected role '%s' - this role "
         "is only modifiable by AWS", role->name);
}

TR_RESULT iam_load(struct req_ctx *rc, const char *action, const char *kind, const char *name,
                   const struct iam_authz *x, struct ent_rec *out)
{
    bool found = false;
    char arn[IAM_ARN_MAX];
    GUARD(iam_find(rc, kind, name, out, &found));
    if (!found) GUARD(iam_arn(rc->who.account_id, kind, "/", name, arn));
    tr_result r = iam_authz(rc, action, found ? out->arn : arn, found ? out : NULL, x);
    if (tr_ok(r) && !found) r = iam_no_such(kind, name);
    /* After the decision, as AWS answers AccessDenied first. */
    if (tr_ok(r) && rc->op && (rc->op->flags & IAM_OP_CHANGES_ROLE) && strcmp(kind, IAM_ROLE) == 0)
        r = iam_role_protected(out);
    if (tr_failed(r)) ent_rec_free(out);
    return r;
}

TR_RESULT iam_load_policy(struct req_ctx *rc, const char *action, const char *arn,
                          const struct iam_authz *x, struct ent_rec *out)
{
    bool found = false;
    GUARD(iam_find_policy(rc, arn, out, &found));
    tr_result r = iam_authz(rc, action, arn, found ? out : NULL, x);
    if (tr_ok(r) && !found) r = iam_no_such(IAM_POLICY, arn);
    if (tr_failed(r)) ent_rec_free(out);
    return r;
}

TR_RESULT iam_list_resource(struct req_ctx *rc, const char *type, const char *prefix,
                            char out[IAM_ARN_MAX])
{
    return iam_arn(rc->who.account_id, type, prefix ? prefix : "/", "", out);
}

/* ---- helpers shared by the handlers ------------------------------------ */

const struct iam_kind_param IAM_P_USER = { IAM_USER, "UserName", 128, "User" };
const struct iam_kind_param IAM_P_USER64 = { IAM_USER, "UserName", 64, "User" };
const struct iam_kind_param IAM_P_GROUP = { IAM_GROUP, "GroupName", 128, "Group" };
const struct iam_kind_param IAM_P_ROLE = { IAM_ROLE, "RoleName", 64, "Role" };

TR_RESULT iam_param_entity(const struct form *in, const struct iam_kind_param *k,
                           const char **name)
{
    return iam_param_name(in, k->param, true, k->max_len, name);
}

TR_RESULT iam_load_listing(struct req_ctx *rc, const struct form *in,
                           const struct iam_kind_param *k, struct iam_page *pg,
                           struct ent_rec *e)
{
    const char *name;
    GUARD(iam_param_entity(in, k, &name));
    GUARD(iam_page_params(in, pg));
    return iam_load(rc, rc->op->action, k->kind, name, NULL, e);
}

TR_RESULT iam_kind_run(struct req_ctx *rc, const struct form *in, struct xml *out,
                       const struct iam_kind_param *k, iam_kind_fn fn)
{
    struct ent_rec e = { 0 };
    tr_result r = fn(rc, in, out, k, &e);
    ent_rec_free(&e);
    return r;
}

/* The entities of a listing and the writer of one's fields. */
struct ent_list { const struct ent_rec *v; iam_ent_writer fn; };

static TR_RESULT write_listed(struct req_ctx *rc, struct xml *x, void *arg, size_t i,
                              const char **key)
{
    const struct ent_list *l = arg;
    xml_open(x, "member");
    tr_result r = l->fn(rc, x, &l->v[i]);
    xml_close(x, "member");
    *key = l->v[i].name;
    return r;
}

TR_RESULT iam_list_entities(struct req_ctx *rc, const struct form *in, struct xml *out,
                            const char *kind, const char *action, const char *list_tag,
                            iam_ent_writer fn)
{
    struct iam_page pg;
    const char *prefix = NULL;
    char resource[IAM_ARN_MAX];
    struct ent_rec *v = NULL;
    size_t n = 0;

    GUARD(iam_param_path_prefix(in, "PathPrefix", &prefix));
    GUARD(iam_page_params(in, &pg));
    GUARD(iam_list_resource(rc, kind, prefix, resource));
    GUARD(iam_authz(rc, action, resource, NULL, NULL));
    GUARD(rc->st[0]->ent_list(rc->st, kind, rc->who.account_id, prefix, pg.marker, pg.max + 1,
                              &v, &n));
    struct ent_list l = { v, fn };
    tr_result r = iam_page_write(rc, out, list_tag, &pg, 0, n, write_listed, &l);
    ent_list_free(v, n);
    return r;
}

TR_RESULT iam_rel_any(struct req_ctx *rc, const char *rel, const char *from, bool *any)
{
    struct rel_rec *v = NULL;
    size_t n = 0;
    GUARD(rc->st[0]->rel_list_from(rc->st, rel, from, NULL, 1, &v, &n));
    rel_list_free(v, n);
    *any = n > 0;
    return TR_OK;
}

TR_RESULT iam_policies_conflict(struct req_ctx *rc, const char *arn)
{
    bool any = false;
    GUARD(iam_rel_any(rc, "attached", arn, &any));
    if (any) BAIL(TR_E_IAM_DELETE_CONFLICT, "Cannot delete entity, must detach all policies first.");
    GUARD(iam_rel_any(rc, "inline", arn, &any));
    if (any) BAIL(TR_E_IAM_DELETE_CONFLICT, "Cannot delete entity, must delete policies first.");
    return TR_OK;
}

TR_RESULT iam_ent_remove(struct req_ctx *rc, const struct ent_rec *e)
{
    char b[IAM_ARN_MAX];
    GUARD(iam_boundary_of(e, b));
    if (b[0]) {
        tr_result r = rc->st[0]->rel_delete(rc->st, "boundary", b, e->arn);
        if (tr_failed(r) && tr_code(r) != TR_E_STORE_NOT_FOUND) return r;
    }
    GUARD(iam_tags_clear(rc, e->arn));
    return rc->st[0]->ent_delete(rc->st, e->kind, e->arn);
}

TR_RESULT iam_create_checks(struct req_ctx *rc, const struct form *in, const char *kind,
                            const char *path, const char *name,
                            char arn[IAM_ARN_MAX], const char **boundary, struct iam_tags *tags)
{
    GUARD(iam_param_arn(in, "PermissionsBoundary", false, boundary));
    GUARD(iam_param_tags(in, "Tags", false, tags));
    GUARD(iam_arn(rc->who.account_id, kind, path, name, arn));
    struct iam_authz x = { .boundary = *boundary, .request_tags = tags };
    GUARD(iam_authz(rc, rc->op->action, arn, NULL, &x));
    if (*boundary) GUARD(iam_boundary_check(rc, *boundary));
    return TR_OK;
}

TR_RESULT iam_create_insert(struct req_ctx *rc, const char *kind, const char *kind_word,
                            const char *name, const char *path, const char *doc,
                            const char *boundary, const struct iam_tags *tags, struct ent_rec *out)
{
    tr_result r = iam_ent_insert(rc, kind, name, path, doc, out);
    if (tr_ok(r) && boundary) r = iam_boundary_set(rc, out, boundary);
    if (tr_ok(r)) r = iam_tags_apply(rc, out->arn, kind_word, tags);
    return r;
}

TR_RESULT iam_boundary_check(struct req_ctx *rc, const char *arn)
{
    struct ent_rec p;
    bool found = false;
    GUARD(iam_find_policy(rc, arn, &p, &found));
    ent_rec_free(&p);
    if (!found)
        BAIL(TR_E_IAM_NO_SUCH_ENTITY, "Scope ARN: %s does not exist or is not attachable.", arn);
    return TR_OK;
}

TR_RESULT iam_boundary_rel(struct req_ctx *rc, const char *policy_arn, const char *entity_arn)
{
    return iam_rec_put_boundary(rc->st, policy_arn, entity_arn, rc->now);
}

TR_RESULT iam_boundary_set(struct req_ctx *rc, struct ent_rec *e, const char *arn)
{
    char old[IAM_ARN_MAX];
    json_t *d = iam_doc(e);
    tr_result r = TR_OK;
    ENSURE(d != NULL, TR_E_INTERNAL);
    r = iam_boundary_of(e, old);
    if (tr_failed(r)) goto done;
    if (old[0]) {
        r = rc->st[0]->rel_delete(rc->st, "boundary", old, e->arn);
        if (tr_failed(r) && tr_code(r) != TR_E_STORE_NOT_FOUND) goto done;
    }
    if (arn) {
        r = iam_boundary_rel(rc, arn, e->arn);
        if (tr_failed(r)) goto done;
        if (json_object_set_new(d, "boundary", json_string(arn)) != 0) {
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
            goto done;
        }
    } else {
        json_object_del(d, "boundary");
    }
    r = iam_doc_store(e, d);
    if (tr_ok(r)) r = rc->st[0]->ent_update(rc->st, e);
done:
    json_decref(d);
    return r;
}
