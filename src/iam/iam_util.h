/*
 * iam_util.h -- what every IAM operation shares: unique ids, ARNs,
 * request parameters with AWS's validation wording, entity lookups with
 * AWS's NoSuchEntity / EntityAlreadyExists messages, the authorization
 * of one IAM call (iam_authz), paging, tags, entity documents and the
 * XML of a User, Role, Group and managed Policy.
 *
 * The data model is docs/internals/IAM_STORE.md: entity kinds "user",
 * "role", "group", "policy" in the store's generic entity table, scoped to
 * the caller's account (rc->who.account_id); relations "member",
 * "attached", "inline", "version", "boundary"; tags keyed by ARN.
 * Shapes, limits and patterns are the botocore IAM model's
 * (iam/2010-05-08/service-2.json); messages are docs/WIRE.md 5.4's.
 */
#ifndef TR_IAM_UTIL_H
#define TR_IAM_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iam/policy.h"
#include "op/op.h"
#include "op/query_proto.h"
#include "store/store.h"

#define IAM_ID_LEN   21            /* AIDA + 17 of [A-Z2-7] */
#define IAM_ARN_MAX  704           /* arn:aws:iam::A:policy + 512 path + 128 name */
#define IAM_ARN_PARAM_MAX 2048     /* an ARN parameter as given (arnType: 20..2048) */
#define IAM_MARKER_MAX 640         /* bytes: markerType's 320 characters of U+0020..U+00FF */
#define IAM_MAX_TAGS 50
#define IAM_ALL      SIZE_MAX      /* "no limit" for store list calls */

/* Entity kinds (IAM_STORE.md). */
#define IAM_USER   "user"
#define IAM_ROLE   "role"
#define IAM_GROUP  "group"
#define IAM_POLICY "policy"
#define IAM_INSTANCE_PROFILE "inst-profile"   /* ARN type "instance-profile" (iam_arn) */
#define IAM_OIDC_PROVIDER "oidc-provider"     /* name: the issuer URL without https:// */

/* AttachedPermissionsBoundary.PermissionsBoundaryType: the one value of
 * the model's PermissionsBoundaryAttachmentType enum. */
#define IAM_BOUNDARY_TYPE "PermissionsBoundaryPolicy"

/* ---- ids and ARNs ------------------------------------------------------ */

/* prefix ("AIDA") + 17 random characters of [A-Z2-7]. */
TR_RESULT iam_new_id(const char *prefix, char out[IAM_ID_LEN + 1]);
/* arn:aws:iam::<account>:<type><path><name>; path "/" gives type/name. */
TR_RESULT iam_arn(const char *account, const char *type, const char *path, const char *name,
                  char out[IAM_ARN_MAX]);
/* The last path segment of an IAM ARN (the entity name). */
const char *iam_arn_name(const char *arn);

/* ---- request parameters ------------------------------------------------ */

/* A name ([\w+=,.@-]+, 1..max_len). */
TR_RESULT iam_param_name(const struct form *in, const char *key, bool required, size_t max_len,
                         const char **out);
/* Path of a user, role or group ((\u002F)|(\u002F[\u0021-\u007E]+\u002F));
 * *out is "/" when absent and dflt. */
TR_RESULT iam_param_path(const struct form *in, const char *key, bool dflt, const char **out);
/* PathPrefix of a listing (\u002F[\u0021-\u007F]*); NULL when absent. */
TR_RESULT iam_param_path_prefix(const struct form *in, const char *key, const char **out);
/* Path of a managed policy (((/[A-Za-z0-9\.,\+@=_-]+)*)/); "/" when absent
 * and dflt, else NULL when absent. */
TR_RESULT iam_param_policy_path(const struct form *in, const char *key, bool dflt,
                                const char **out);
/* A policy document's characters: the model's policyDocumentType pattern
 * [\u0009\u000A\u000D\u0020-\u00FF]+ (ValidationError naming key). */
TR_RESULT iam_check_document_chars(const char *key, const char *doc);
/* A policy document (1..131072 of [\u0009\u000A\u000D\u0020-\u00FF]). */
TR_RESULT iam_param_document(const struct form *in, const char *key, const char **out);
/* An ARN parameter (20..2048 characters). */
TR_RESULT iam_param_arn(const struct form *in, const char *key, bool required, const char **out);
/* A managed policy ARN (arn:aws:iam::<account>|aws:policy/...), else
 * InvalidInput "ARN <arn> is not valid.". */
TR_RESULT iam_param_policy_arn(const struct form *in, const char *key, const char **out);
/* Policy version id (v[1-9][0-9]*(\.[A-Za-z0-9-]*)?). */
TR_RESULT iam_param_version(const struct form *in, const char *key, const char **out);
/* A ValidationError for `key` (AWS's wording, member in lower camel case,
 * the value quoted), under the query protocol's code as form_str's. */
tr_result iam_invalid(const char *key, const char *value, const char *constraint)
    __attribute__((warn_unused_result));
/* The same with the value's representation as given ("null", or NULL for
 * none: "Value at 'tags' failed ..."). */
tr_result iam_invalid_repr(const char *key, const char *repr, const char *constraint)
    __attribute__((warn_unused_result));
/* Both always fail, and are known to (TR_FAILURE, core/result.h). */
#define iam_invalid(...) TR_FAILURE(iam_invalid(__VA_ARGS__))
#define iam_invalid_repr(...) TR_FAILURE(iam_invalid_repr(__VA_ARGS__))

/* ---- policy documents ------------------------------------------------- */

/* Compile `text` as `kind` (POLICY_IDENTITY, POLICY_TRUST) to validate it:
 * TR_E_POLICY_MALFORMED with IAM's message.  Trust policies also have
 * every AWS principal other than "*" checked for existence
 * (iam_principal_exists of authz.h): "Invalid principal in policy: ...";
 * and, given the role's `account`, every Federated OIDC provider ARN of
 * that account (one store read each; none for a policy without one). */
TR_RESULT iam_policy_validate(store_t st, const char *account, const char *text,
                              enum policy_kind kind);
/* Characters of `text` that are not white space (IAM's size quotas). */
size_t iam_policy_size(const char *text);

/* ---- entities ---------------------------------------------------------- */

/* Find kind/name in the caller's account.  *found false (and TR_OK) when
 * there is none; out then holds nothing to free. */
TR_RESULT iam_find(struct req_ctx *rc, const char *kind, const char *name, struct ent_rec *out,
                   bool *found);
/* A managed policy by ARN, only in the caller's account. */
TR_RESULT iam_find_policy(struct req_ctx *rc, const char *arn, struct ent_rec *out, bool *found);
/* NoSuchEntity for kind/name: "The user with name bob cannot be found.",
 * for a policy (name = ARN) "Policy <arn> was not found." */
tr_result iam_no_such(const char *kind, const char *name) __attribute__((warn_unused_result));
#define iam_no_such(...) TR_FAILURE(iam_no_such(__VA_ARGS__))   /* always fails */
/* A role's Description (optional): 0..1000 characters of
 * [\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF] (roles.c). */
TR_RESULT iam_param_role_description(const struct form *in, const char **out);
/* EntityAlreadyExists unless no other entity of the kind in the account
 * has `name` (IAM names differ by more than case); self_arn (or NULL) is
 * the entity being renamed. */
TR_RESULT iam_name_free(struct req_ctx *rc, const char *kind, const char *name,
                        const char *self_arn);
/* Insert a new entity (a fresh unique id, its ARN, created now) after
 * iam_name_free; *out is the stored record (free with ent_rec_free). */
TR_RESULT iam_ent_insert(struct req_ctx *rc, const char *kind, const char *name,
                         const char *path, const char *doc, struct ent_rec *out);

/* ---- entity documents (JSON objects) ----------------------------------- */

/* The doc of e as a JSON object (an empty one when none); NULL on OOM. */
json_t *iam_doc(const struct ent_rec *e);
/* A string member, or NULL. */
const char *iam_doc_str(json_t *doc, const char *key);
/* Replace e->doc with `doc` serialized; frees the old text. */
TR_RESULT iam_doc_store(struct ent_rec *e, json_t *doc);
/* e's permissions boundary ARN into out ("" when none); fails when the
 * stored one is longer than a policy ARN can be. */
TR_RESULT iam_boundary_of(const struct ent_rec *e, char out[IAM_ARN_MAX]);

/* ---- authorization ----------------------------------------------------- */

struct iam_tags {
    const char *keys[IAM_MAX_TAGS];
    const char *values[IAM_MAX_TAGS];
    size_t n;
};

/* Condition keys an IAM call sets besides the global ones. */
struct iam_authz {
    const char *policy_arn;             /* iam:PolicyARN (Attach*, Detach*) */
    const char *boundary;               /* iam:PermissionsBoundary: the requested one */
    bool target_boundary;               /* ... or the target's current one */
    const struct iam_tags *request_tags;/* aws:RequestTag/k and aws:TagKeys */
    const char *const *tag_keys;        /* aws:TagKeys alone (Untag*) */
    size_t ntag_keys;
    const char *service_name;           /* iam:AWSServiceName (CreateServiceLinkedRole) */
    const char *passed_to;              /* iam:PassedToService (iam:PassRole) */
    const char *associated;             /* iam:AssociatedResourceArn (iam:PassRole) */
};

/* Authorize `action` on `resource` for the caller (its account owns every
 * IAM resource it can name; no resource policy).  target, when it is an
 * existing user or role, adds aws:ResourceTag/k; x (or NULL) adds the
 * keys above.  Denial: AccessDenied (403) with AWS's message. */
TR_RESULT iam_authz(struct req_ctx *rc, const char *action, const char *resource,
                    const struct ent_rec *target, const struct iam_authz *x);
/* The usual start of a handler: find kind/name in the caller's account,
 * authorize action on its ARN (or, when it does not exist, on the ARN it
 * would have under path "/"), then fail NoSuchEntity if it is missing. */
TR_RESULT iam_load(struct req_ctx *rc, const char *action, const char *kind, const char *name,
                   const struct iam_authz *x, struct ent_rec *out);
/* The path of service-linked roles: /aws-service-role/<service>/. */
#define IAM_SLR_PATH "/aws-service-role/"
/* role is a service-linked role (its path is under IAM_SLR_PATH). */
bool iam_role_service_linked(const struct ent_rec *role);
/* UnmodifiableEntity "Cannot perform the operation on the protected role
 * 'NAME' - this role is only modifiable by AWS" for a service-linked role;
 * TR_OK for any other.  iam_load calls it for the operations flagged
 * IAM_OP_CHANGES_ROLE (iam_ops.h). */
TR_RESULT iam_role_protected(const struct ent_rec *role);
/* The same for a managed policy by ARN. */
TR_RESULT iam_load_policy(struct req_ctx *rc, const char *action, const char *arn,
                          const struct iam_authz *x, struct ent_rec *out);
/* The resource of a listing: arn:aws:iam::A:<type><prefix or "/">; fails
 * when it does not fit (a prefix longer than IAM's 512). */
TR_RESULT iam_list_resource(struct req_ctx *rc, const char *type, const char *prefix,
                            char out[IAM_ARN_MAX]);

/* ---- paging ------------------------------------------------------------ */

struct iam_page {
    size_t max;                 /* MaxItems, 1..1000, default 100 */
    const char *marker;         /* Marker or NULL: list items after it */
};

TR_RESULT iam_page_params(const struct form *in, struct iam_page *pg);
/* <IsTruncated> and, when truncated, <Marker>next</Marker>. */
void iam_page_end(struct xml *x, bool truncated, const char *next);
/* Writes the <member> element of item i of the list that arg holds, and
 * sets *key to what a Marker resuming after it names. */
typedef TR_RESULT (*iam_item_writer)(struct req_ctx *rc, struct xml *x, void *arg, size_t i,
                                     const char **key);
/* One page of an ordered list of n items, from item `first` (the first
 * after the marker): <tag> with the <member> of each of at most pg->max
 * items, written by fn, then IsTruncated -- true when items remain -- and
 * the Marker of the last one shown.  A list read from the store with a
 * limit of pg->max + 1 pages the same way (first 0). */
TR_RESULT iam_page_write(struct req_ctx *rc, struct xml *x, const char *tag,
                         const struct iam_page *pg, size_t first, size_t n, iam_item_writer fn,
                         void *arg);

/* ---- tags -------------------------------------------------------------- */

/* Tags.member.N.Key/Value: at most 50, lengths and patterns, no "aws:"
 * prefix, no key twice (case-insensitively). */
TR_RESULT iam_param_tags(const struct form *in, const char *name, bool required,
                         struct iam_tags *out);
/* TagKeys.member.N: 1..50 keys. */
TR_RESULT iam_param_tag_keys(const struct form *in, const char *name, const char **keys,
                             size_t *n);
/* Set t on arn (a key equal but for case replaces the old one); at most
 * 50 tags in all ("Cannot exceed quota for TagsPer<Kind>: 50"). */
TR_RESULT iam_tags_apply(struct req_ctx *rc, const char *arn, const char *kind_word,
                         const struct iam_tags *t);
/* Remove the tags named by keys (case-insensitively); absent keys are fine. */
TR_RESULT iam_tags_remove(struct req_ctx *rc, const char *arn, const char *const *keys, size_t n);
/* Remove every tag of arn / move them to another ARN. */
TR_RESULT iam_tags_clear(struct req_ctx *rc, const char *arn);
TR_RESULT iam_tags_move(struct req_ctx *rc, const char *from, const char *to);
/* <Tags><member><Key/><Value/></member>...</Tags>; nothing when arn has no
 * tags unless always. */
TR_RESULT iam_xml_tags(struct req_ctx *rc, struct xml *x, const char *arn, bool always);

/* ---- XML of entities --------------------------------------------------- */

#define IAMX_BOUNDARY    0x1    /* PermissionsBoundary when set */
#define IAMX_TAGS        0x2    /* Tags when any */
#define IAMX_LAST_USED   0x4    /* Role.RoleLastUsed (empty) */
#define IAMX_MAX_SESSION 0x8    /* Role.MaxSessionDuration */
#define IAMX_DESCRIPTION 0x10   /* Description when set (Role, Policy) */

/* The members of a User/Role/Group/Policy (no enclosing element). */
TR_RESULT iam_xml_user_fields(struct req_ctx *rc, struct xml *x, const struct ent_rec *u,
                              unsigned flags);
TR_RESULT iam_xml_role_fields(struct req_ctx *rc, struct xml *x, const struct ent_rec *r,
                              unsigned flags);
void iam_xml_group_fields(struct xml *x, const struct ent_rec *g);
TR_RESULT iam_xml_policy_fields(struct req_ctx *rc, struct xml *x, const struct ent_rec *p,
                                unsigned flags);
/* <tag>fields</tag> wrappers. */
TR_RESULT iam_xml_user(struct req_ctx *rc, struct xml *x, const char *tag,
                       const struct ent_rec *u, unsigned flags);
TR_RESULT iam_xml_role(struct req_ctx *rc, struct xml *x, const char *tag,
                       const struct ent_rec *r, unsigned flags);
/* <PermissionsBoundary> of e when it has one. */
void iam_xml_boundary(struct xml *x, const struct ent_rec *e);
/* <tag> with a <member> for each relation of `kind` from arn (all of
 * them), its content written by member(). */
TR_RESULT iam_xml_relations(struct req_ctx *rc, struct xml *x, const char *tag, const char *kind,
                            const char *arn, void (*member)(struct xml *x, const struct rel_rec *r));
/* <AttachedPolicies>/<AttachedManagedPolicies> list of entity_arn, all of
 * them (details) -- PolicyName, PolicyArn members. */
TR_RESULT iam_xml_attached(struct req_ctx *rc, struct xml *x, const char *tag,
                           const char *entity_arn);

/* Counts of a managed policy: attachments and boundary uses. */
TR_RESULT iam_policy_counts(struct req_ctx *rc, const char *arn, size_t *attached,
                            size_t *boundary);

/* The members of an InstanceProfile (Roles always; Tags with IAMX_TAGS). */
TR_RESULT iam_xml_instance_profile_fields(struct req_ctx *rc, struct xml *x,
                                          const struct ent_rec *p, unsigned flags);
/* The OpenID Connect provider `arn` of the caller's account, the caller
 * authorized for the operation's action on it (with x's keys), else
 * NoSuchEntity (oidc_providers.c). */
TR_RESULT iam_oidc_load(struct req_ctx *rc, const char *arn, const struct iam_authz *x,
                        struct ent_rec *e);
/* <InstanceProfileList> of a role: the profiles it is in (RoleDetail). */
TR_RESULT iam_xml_role_profiles(struct req_ctx *rc, struct xml *x, const char *role_arn);
/* The user an operation with an optional UserName is about: that user, or
 * the caller (an IAM user, or the root user, authorized on its own ARN;
 * other callers: ValidationError "Must specify userName when calling with
 * non-User credentials"); authorized for `action` (access_keys.c).
 * max_len: the UserName's (128 existingUserNameType, 64 userNameType). */
struct iam_owner {
    struct ent_rec user;        /* the user (empty for the root user) */
    bool root;
    const char *arn;            /* the user's or the root user's ARN */
    const char *name;           /* UserName in replies; NULL for the root user */
};
TR_RESULT iam_owner_load(struct req_ctx *rc, const struct form *in, size_t max_len,
                         const char *action, struct iam_owner *o);
void iam_owner_free(struct iam_owner *o);
/* DeleteConflict when the user has a login profile (login_profiles.c). */
TR_RESULT iam_login_profile_conflict(const struct ent_rec *u);
/* DeleteConflict when the role is in an instance profile. */
TR_RESULT iam_role_in_profile_conflict(struct req_ctx *rc, const char *role_arn);

/* ---- shared by the handlers ------------------------------------------- */

/* The entity an operation names with a parameter: UserName, GroupName or
 * RoleName, its length limit, and the word of quota names ("User"). */
struct iam_kind_param {
    const char *kind;
    const char *param;
    size_t max_len;
    const char *word;
};
extern const struct iam_kind_param IAM_P_USER;     /* existingUserNameType: 1..128 */
extern const struct iam_kind_param IAM_P_USER64;   /* userNameType: 1..64 */
extern const struct iam_kind_param IAM_P_GROUP;    /* 1..128 */
extern const struct iam_kind_param IAM_P_ROLE;     /* 1..64 */
extern const struct iam_kind_param IAM_P_PROFILE;  /* InstanceProfileName: 1..128 */
/* The name parameter of k from `in`. */
TR_RESULT iam_param_entity(const struct form *in, const struct iam_kind_param *k,
                           const char **name);
/* The start of a listing of one entity's relations: the name parameter of
 * k and MaxItems/Marker, then the entity loaded as iam_load does for the
 * operation's action (no extra condition keys). */
TR_RESULT iam_load_listing(struct req_ctx *rc, const struct form *in,
                           const struct iam_kind_param *k, struct iam_page *pg,
                           struct ent_rec *e);
/* The body of one operation of a family that differs only by the entity
 * kind it names (AttachUserPolicy, AttachGroupPolicy, ...): k is the
 * kind's parameter, and e an empty record that the body loads the target
 * into (iam_load, iam_load_listing) at the point its order of validation
 * wants; the caller frees e whatever the body returns. */
typedef TR_RESULT (*iam_kind_fn)(struct req_ctx *rc, const struct form *in, struct xml *out,
                                 const struct iam_kind_param *k, struct ent_rec *e);
/* Run fn for kind k with an entity record it owns, freed after. */
TR_RESULT iam_kind_run(struct req_ctx *rc, const struct form *in, struct xml *out,
                       const struct iam_kind_param *k, iam_kind_fn fn);
/* The handler of such an operation: fn run for the kind's parameter. */
#define IAM_KIND_HANDLER(handler, fn, param) \
    OP_QUERY_HANDLER(handler) { return iam_kind_run(rc, in, out, &(param), fn); }

/* ListUsers / ListGroups / ListRoles: PathPrefix, Marker, MaxItems; the
 * entities of `kind` ordered by name, each written by fn inside
 * <list_tag><member>. */
typedef TR_RESULT (*iam_ent_writer)(struct req_ctx *rc, struct xml *x, const struct ent_rec *e);
TR_RESULT iam_list_entities(struct req_ctx *rc, const struct form *in, struct xml *out,
                            const char *kind, const char *action, const char *list_tag,
                            iam_ent_writer fn);
/* Whether any relation `rel` leaves `from`. */
TR_RESULT iam_rel_any(struct req_ctx *rc, const char *rel, const char *from, bool *any);
/* DeleteConflict when an entity still has managed policies attached
 * ("Cannot delete entity, must detach all policies first.") or inline
 * policies ("... must delete policies first."). */
TR_RESULT iam_policies_conflict(struct req_ctx *rc, const char *arn);
/* Remove an entity that passed its conflict checks: its boundary
 * relation, its tags, then the record. */
TR_RESULT iam_ent_remove(struct req_ctx *rc, const struct ent_rec *e);
/* The common end of CreateUser's and CreateRole's checks, after their own
 * parameters: PermissionsBoundary and Tags, the new entity's ARN (kind,
 * path, name), its row's action authorized on it with the boundary and the
 * request's tags, and the boundary policy's existence. */
TR_RESULT iam_create_checks(struct req_ctx *rc, const struct form *in, const char *kind,
                            const char *path, const char *name,
                            char arn[IAM_ARN_MAX], const char **boundary, struct iam_tags *tags);
/* Insert the user or role that passed iam_create_checks, then set its
 * boundary (when given) and tags (kind_word: "User", "Role"); *out as
 * iam_ent_insert's. */
TR_RESULT iam_create_insert(struct req_ctx *rc, const char *kind, const char *kind_word,
                            const char *name, const char *path, const char *doc,
                            const char *boundary, const struct iam_tags *tags, struct ent_rec *out);
/* A permissions-boundary policy must be a managed policy of the account:
 * NoSuchEntity "Scope ARN: <arn> does not exist or is not attachable." */
TR_RESULT iam_boundary_check(struct req_ctx *rc, const char *arn);
/* A ManagedPolicyDetail (GetAccountAuthorizationDetails): the Policy
 * members and PolicyVersionList with every version's document. */
TR_RESULT iam_xml_policy_detail(struct req_ctx *rc, struct xml *x, const struct ent_rec *p);
/* The "boundary" relation policy ARN -> user or role ARN. */
TR_RESULT iam_boundary_rel(struct req_ctx *rc, const char *policy_arn, const char *entity_arn);
/* Set (arn) or remove (NULL) e's permissions boundary: the entity doc,
 * the "boundary" relation, and the stored record (ent_update). */
TR_RESULT iam_boundary_set(struct req_ctx *rc, struct ent_rec *e, const char *arn);

#endif
