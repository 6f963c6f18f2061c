/*
 * records.h -- the formats of IAM's stored records, written without a
 * request: the role and managed-policy entity documents, a policy
 * version, the boundary relation (docs/internals/IAM_STORE.md).
 *
 * IAM's operations (roles.c, managed_policies.c, iam_entity.c) and the
 * snapshot loader (src/analyze/snapshot_store.c), which writes a real AWS
 * account's IAM as the records tresor keeps, both write through these,
 * so there is one copy of each format.
 */
#ifndef TR_IAM_RECORDS_H
#define TR_IAM_RECORDS_H

#include <stdint.h>

#include "core/result.h"
#include "store/store.h"

/* A role's entity document: {"trust": <trust policy text>, "trust_ids":
 * <its binding, iam/bindings.h> (left out when NULL: bound later),
 * "description", "max_session", "boundary": <policy ARN> (only when
 * boundary is not NULL)}, keys sorted.  *out malloc'd. */
TR_RESULT iam_rec_role_doc(const char *trust, const char *trust_ids, const char *desc, int64_t max_session,
                           const char *boundary, char **out);
/* A user's entity document: {"boundary": <policy ARN>} when it has one,
 * else {}.  *out malloc'd. */
TR_RESULT iam_rec_user_doc(const char *boundary, char **out);
/* A managed policy's entity document: {"default_version", "description",
 * "next_version", "updated": epoch seconds}, keys sorted.  *out malloc'd. */
TR_RESULT iam_rec_policy_doc(const char *default_version, const char *desc, int next_version,
                             int64_t updated, char **out);
/* Version vid of the managed policy arn, with its document text: the
 * relation "version" arn -> vid, doc {"document": text}. */
TR_RESULT iam_rec_put_version(store_t st, const char *arn, const char *vid, const char *text,
                              int64_t created);
/* The relation "boundary" policy_arn -> entity_arn (the entity's document
 * names the boundary too: iam_boundary_set, iam_rec_role_doc). */
TR_RESULT iam_rec_put_boundary(store_t st, const char *policy_arn, const char *entity_arn, int64_t created);

#endif
