/*
 * principals.h -- the principal an ARN or an access key names, and
 * whether one exists (principals.c).
 */
#ifndef TR_IAM_PRINCIPALS_H
#define TR_IAM_PRINCIPALS_H

#include <stdbool.h>

#include "op/op.h"
#include "store/store.h"

/* The principal an ARN names, as the authenticated caller would be
 * (`tresor policy simulate`):
 *   arn:aws:iam::A:root              the root user of known account A;
 *   arn:aws:iam::A:user/path/name    an existing user;
 *   arn:aws:iam::A:role/path/name    a synthetic session of an existing role,
 *                                    arn:aws:sts::A:assumed-role/name/simulated
 *                                    (role_arn set, no session policies);
 *   arn:aws:sts::A:assumed-role/R/S  a session S of existing role R.
 * Anything else: TR_E_IAM_NO_SUCH_ENTITY with a message naming the ARN. */
TR_RESULT iam_principal_from_arn(store_t st, const char *arn, struct principal *out);
/* The same from a user or role record already read (ent_list, ent_get):
 * a user as itself, a role as its session `session` ("simulated" for the
 * role ARN), without reading the store again. */
TR_RESULT iam_principal_from_ent(const struct ent_rec *e, const char *session, struct principal *out);

/* The principal access key `akid` authenticates, as a request signed with
 * it would be (`tresor policy simulate --access-key-id`): type, account,
 * ARN, id, the role of a session, the key id (so iam_identity_load reads a
 * session's policies, tags and issue time).  TR_E_IAM_NO_SUCH_ENTITY when
 * the store has no such key. */
TR_RESULT iam_principal_from_access_key(store_t st, const char *akid, struct principal *out);


/* Whether `arn` names an existing principal (KMS key-policy principal
 * validation): a known account ("A" or arn:aws:iam::A:root), an existing
 * user or role ARN or unique id (AIDA..., AROA...), or a session ARN of an
 * existing role.  *out false for anything else ("*" included: the caller
 * decides about it); errors only for store failures. */
TR_RESULT iam_principal_exists(store_t st, const char *arn, bool *out);

#endif
