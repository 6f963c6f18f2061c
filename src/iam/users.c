/*
 * users.c -- CreateUser, GetUser, ListUsers, DeleteUser, UpdateUser.
 *
 * A user is an entity of kind "user" (IAM_STORE.md): id AIDA..., ARN
 * arn:aws:iam::A:user<path><name>, doc {"boundary": "<policy arn>"?}.
 *
 * GetUser without UserName describes the caller: an IAM user is itself;
 * the root user gets what AWS returns for it (UserId = the account id,
 * Arn = arn:aws:iam::A:root, the account's creation date, no Path or
 * UserName); a role session gets AWS's ValidationError "Must specify
 * userName when calling with non-User credentials".
 *
 * DeleteUser refuses, as AWS does, while the user has access keys, group
 * memberships, attached or inline policies (DeleteConflict); a
 * permissions boundary and tags go with the user, and so do temporary
 * (GetSessionToken) keys.
 *
 * UpdateUser renames and moves: the ARN changes, and everything keyed by
 * it moves in the same transaction -- access keys (principal_arn and the
 * {"user_name"} doc), group memberships, attached and inline policies,
 * the boundary relation and the tags.  Like AWS, the caller needs
 * iam:UpdateUser on both the old and the new ARN.
 */
#include "iam/iam_ops.h"

#include <stdio.h>
#include <string.h>

#include "iam/iam_util.h"

static TR_RESULT write_user_listed(struct req_ctx *rc, struct xml *x, const struct ent_rec *e)
{
    return iam_xml_user_fields(rc, x, e, 0);
}

TR_RESULT iam_create_user(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *name, *path, *boundary = NULL;
    struct iam_tags tags;
    char arn[IAM_ARN_MAX];
    struct ent_rec u = { 0 };
    tr_result r;

    GUARD(iam_param_name(in, "UserName", true, 64, &name));
    GUARD(iam_param_path(in, "Path", true, &path));
    GUARD(iam_create_checks(rc, in, IAM_USER, path, name, arn, &boundary, &tags));

    r = iam_create_insert(rc, IAM_USER, "User", name, path, "{}", boundary, &tags, &u);
    if (tr_ok(r)) r = iam_xml_user(rc, out, "User", &u, IAMX_BOUNDARY | IAMX_TAGS);
    ent_rec_free(&u);
    return r;
}

/* GetUser of the root user: the account itself. */
static TR_RESULT get_root(struct req_ctx *rc, struct xml *out)
{
    struct account_rec a;
    GUARD(iam_authz(rc, rc->op->action, rc->who.arn, NULL, NULL));
    GUARD(rc->st[0]->account_get(rc->st, rc->who.account_id, &a));
    xml_open(out, "User");
    xml_text(out, "UserId", rc->who.account_id);
    xml_text(out, "Arn", rc->who.arn);
    xml_time(out, "CreateDate", a.created);
    xml_close(out, "User");
    return TR_OK;
}

/* The calling IAM user's record, authorized for `action`. */
static TR_RESULT caller_user(struct req_ctx *rc, const char *action, struct ent_rec *out)
{
    if (rc->who.type != PRINCIPAL_USER)
        BAIL(TR_E_QUERY_VALIDATION, "Must specify userName when calling with non-User credentials");
    tr_result r = rc->st[0]->ent_get_arn(rc->st, IAM_USER, rc->who.arn, out);
    if (tr_failed(r)) {
        ent_rec_free(out);
        if (tr_code(r) == TR_E_STORE_NOT_FOUND) return iam_no_such(IAM_USER, iam_arn_name(rc->who.arn));
        return r;
    }
    r = iam_authz(rc, action, out->arn, out, NULL);
    if (tr_failed(r)) ent_rec_free(out);
    return r;
}

TR_RESULT iam_get_user(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *name;
    struct ent_rec u = { 0 };
    GUARD(iam_param_name(in, "UserName", false, 128, &name));
    if (name) GUARD(iam_load(rc, rc->op->action, IAM_USER, name, NULL, &u));
    else if (rc->who.type == PRINCIPAL_ROOT) return get_root(rc, out);
    else GUARD(caller_user(rc, rc->op->action, &u));
    tr_result r = iam_xml_user(rc, out, "User", &u, IAMX_BOUNDARY | IAMX_TAGS);
    ent_rec_free(&u);
    return r;
}

TR_RESULT iam_list_users(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    return iam_list_entities(rc, in, out, IAM_USER, rc->op->action, "Users", write_user_listed);
}

/* DeleteConflict checks of DeleteUser, in this order: long-term access
 * keys, group memberships, attached policies, inline policies. */
static TR_RESULT user_conflicts(struct req_ctx *rc, const struct ent_rec *u)
{
    struct access_key_rec *keys = NULL;
    struct rel_rec *groups = NULL;
    size_t nkeys = 0, ngroups = 0, longterm = 0;
    GUARD(iam_login_profile_conflict(u));
    GUARD(rc->st[0]->access_key_list(rc->st, u->arn, &keys, &nkeys));
    for (size_t i = 0; i < nkeys; i++)
        if (keys[i].expires == 0) longterm++;
    access_key_list_free(keys, nkeys);
    if (longterm) BAIL(TR_E_IAM_DELETE_CONFLICT, "Cannot delete entity, must delete access keys first.");
    GUARD(rc->st[0]->rel_list_to(rc->st, "member", u->arn, &groups, &ngroups));
    rel_list_free(groups, ngroups);
    if (ngroups)
        BAIL(TR_E_IAM_DELETE_CONFLICT, "Cannot delete entity, must remove user from all groups first.");
    return iam_policies_conflict(rc, u->arn);
}

/* Delete the (temporary) access keys left on a user being deleted. */
static TR_RESULT drop_keys(struct req_ctx *rc, const char *arn)
{
    struct access_key_rec *keys = NULL;
    size_t n = 0;
    GUARD(rc->st[0]->access_key_list(rc->st, arn, &keys, &n));
    tr_result r = TR_OK;
    for (size_t i = 0; i < n && tr_ok(r); i++)
        r = rc->st[0]->access_key_delete(rc->st, keys[i].access_key_id);
    access_key_list_free(keys, n);
    return r;
}

TR_RESULT iam_delete_user(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *name;
    struct ent_rec u = { 0 };
    (void)out;
    GUARD(iam_param_name(in, "UserName", true, 128, &name));
    GUARD(iam_load(rc, rc->op->action, IAM_USER, name, NULL, &u));
    tr_result r = user_conflicts(rc, &u);
    if (tr_ok(r)) r = drop_keys(rc, u.arn);
    if (tr_ok(r)) r = iam_ent_remove(rc, &u);
    ent_rec_free(&u);
    return r;
}

/* ---- UpdateUser: renaming and moving ------------------------------------ */

/* Relations `kind` leaving `from` (or, when to_side, arriving at it) are
 * re-pointed from old_arn to new_arn. */
static TR_RESULT move_rels(struct req_ctx *rc, const char *kind, bool to_side,
                           const char *old_arn, const char *new_arn)
{
    struct rel_rec *v = NULL;
    size_t n = 0;
    if (to_side) GUARD(rc->st[0]->rel_list_to(rc->st, kind, old_arn, &v, &n));
    else GUARD(rc->st[0]->rel_list_from(rc->st, kind, old_arn, NULL, IAM_ALL, &v, &n));
    tr_result r = TR_OK;
    for (size_t i = 0; i < n && tr_ok(r); i++) {
        struct rel_rec moved = v[i];
        if (to_side) moved.to = (char *)new_arn;
        else moved.from = (char *)new_arn;
        r = rc->st[0]->rel_delete(rc->st, kind, v[i].from, v[i].to);
        if (tr_ok(r)) r = rc->st[0]->rel_put(rc->st, &moved);
    }
    rel_list_free(v, n);
    return r;
}

/* Access keys of the user: principal_arn and, for long-term keys, the
 * {"user_name"} doc.  The store updates neither in place, so each key is
 * deleted and put again (same id, wrapped secret and dates). */
static TR_RESULT move_keys(struct req_ctx *rc, const char *old_arn, const char *new_arn,
                           const char *new_name)
{
    struct access_key_rec *keys = NULL;
    size_t n = 0;
    GUARD(rc->st[0]->access_key_list(rc->st, old_arn, &keys, &n));
    json_t *doc = json_pack("{s:s}", "user_name", new_name);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    tr_result r = text ? TR_OK : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    for (size_t i = 0; i < n && tr_ok(r); i++) {
        struct access_key_rec k = keys[i];
        k.principal_arn = (char *)new_arn;
        if (k.expires == 0) k.doc = text;
        r = rc->st[0]->access_key_delete(rc->st, k.access_key_id);
        if (tr_ok(r)) r = rc->st[0]->access_key_put(rc->st, &k);
    }
    free(text);
    access_key_list_free(keys, n);
    return r;
}

/* Replace the record of u by one named name under path (same id, created,
 * doc), and move what hangs off the old ARN. */
static TR_RESULT rename_user(struct req_ctx *rc, const struct ent_rec *u, const char *name,
                             const char *path, const char *new_arn)
{
    struct ent_rec moved = *u;
    char b[IAM_ARN_MAX];
    moved.name = (char *)name;
    moved.path = (char *)path;
    moved.arn = (char *)new_arn;
    GUARD(rc->st[0]->ent_delete(rc->st, IAM_USER, u->arn));
    GUARD(rc->st[0]->ent_put(rc->st, &moved));
    GUARD(move_keys(rc, u->arn, new_arn, name));
    GUARD(move_rels(rc, "member", true, u->arn, new_arn));
    GUARD(move_rels(rc, "attached", false, u->arn, new_arn));
    GUARD(move_rels(rc, "inline", false, u->arn, new_arn));
    GUARD(iam_boundary_of(u, b));
    if (b[0]) {
        GUARD(rc->st[0]->rel_delete(rc->st, "boundary", b, u->arn));
        GUARD(iam_boundary_rel(rc, b, new_arn));
    }
    return iam_tags_move(rc, u->arn, new_arn);
}

TR_RESULT iam_update_user(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *name, *new_name, *new_path;
    struct ent_rec u = { 0 };
    char new_arn[IAM_ARN_MAX];
    tr_result r;
    (void)out;

    GUARD(iam_param_name(in, "UserName", true, 128, &name));
    GUARD(iam_param_path(in, "NewPath", false, &new_path));
    GUARD(iam_param_name(in, "NewUserName", false, 64, &new_name));
    GUARD(iam_load(rc, rc->op->action, IAM_USER, name, NULL, &u));
    if (!new_name) new_name = u.name;
    if (!new_path) new_path = u.path;
    r = iam_arn(rc->who.account_id, IAM_USER, new_path, new_name, new_arn);
    if (tr_ok(r) && strcmp(new_arn, u.arn) != 0) {
        r = iam_authz(rc, rc->op->action, new_arn, NULL, NULL);
        if (tr_ok(r)) r = iam_name_free(rc, IAM_USER, new_name, u.arn);
        if (tr_ok(r)) r = rename_user(rc, &u, new_name, new_path, new_arn);
    }
    ent_rec_free(&u);
    return r;
}
