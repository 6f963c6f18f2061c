/*
 * bindings.h -- principals bound by identity, not by name.
 *
 * AWS binds a principal ARN naming an IAM user or role to that entity's
 * unique id when a trust policy, key policy or resource policy is saved
 * (IAM User Guide, "AWS JSON policy elements: Principal": deleting the
 * user or role and creating another of the same name does not give the
 * new one what the policy gave the old one; the policy then shows the
 * old unique id).  tresor stores, next to each such policy, its binding:
 * a JSON object from every user or role ARN the policy names to the id
 * it had when the policy was saved.  The policy engine matches those
 * principals on the id (policy.h, policy_cache_get_bound); policies read
 * back show the ARN while the entity exists, its ARN now if it was
 * renamed, and the unique id once it is gone.  KMS grants bind their
 * grantee and retiring principal the same way.  The whole design, and
 * what happens to policies saved before it, is in
 * docs/internals/IAM_STORE.md, "Principals bound by identity".
 */
#ifndef TR_IAM_BINDINGS_H
#define TR_IAM_BINDINGS_H

#include "core/result.h"
#include "iam/policy.h"
#include "store/store.h"

/* The binding for `text` (a policy of `kind` about to be saved): a compact
 * JSON object, keys sorted, from each user or role ARN it names to the
 * unique id of the user or role that has that ARN now.  ARNs that name
 * none are left out (they then match nothing).  *out is malloc'd; "{}"
 * when the policy names no user or role.  A text that does not compile
 * is the compiler's error. */
TR_RESULT iam_bind_policy(store_t st, const char *text, enum policy_kind kind, char **out);

/* The unique id of the user or role `arn` names now (a grantee), or NULL
 * (*out) when it names none: not a user or role ARN, or no such entity. */
TR_RESULT iam_bind_principal(store_t st, const char *arn, char **out);

/* How a stored policy reads (GetKeyPolicy, GetResourcePolicy, a role's
 * AssumeRolePolicyDocument): `text` as saved, unless some bound principal
 * no longer has the ARN it was written with -- then every such principal
 * reads as the ARN its id has now (renamed), or as the id (deleted), and
 * the document is written anew (2-space indentation).  *out NULL: show
 * `text` unchanged; else malloc'd.  ids NULL or "": *out NULL. */
TR_RESULT iam_policy_shown(store_t st, const char *text, const char *ids, char **out);

/* Whether `ids` is a well-formed binding for `text` (tresor check): an
 * object whose every member is a user ARN bound to AIDA... or a role ARN
 * to AROA..., each named by the policy.  *why says what is wrong. */
bool iam_binding_valid(const char *text, enum policy_kind kind, const char *ids, const char **why);

/* Bind what was saved before bindings existed, to the users and roles
 * that have those ARNs now: key policies without a binding, role trust
 * policies and secret resource policies without one, grants whose user
 * or role grantee (or retiring principal) has no bound id.  One store
 * transaction; a record whose policy no longer compiles is left as it is
 * (it denies everything: docs/AUTHORIZATION.md 2.9).  The server runs it once, in its first maintenance
 * pass, before it serves (iam_maintenance); *bound counts what changed. */
TR_RESULT iam_bind_stored(store_t st, size_t *bound);

#endif
