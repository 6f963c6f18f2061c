/*
 * values.h -- the Secrets Manager operations on a secret's value and
 * versions: values.c (CreateSecret, GetSecretValue, BatchGetSecretValue,
 * PutSecretValue, UpdateSecret) and versions.c (DescribeSecret,
 * ListSecretVersionIds, UpdateSecretVersionStage, and the label rules
 * they share with values.c).
 *
 * Every handler validates its input with AWS's wording, authorizes
 * through sm_authorize (authz.h, docs/AUTHORIZATION.md 5.2 order), checks
 * the state of the secret, and only then touches KMS (envelope.h).  Wire
 * shapes: botocore secretsmanager/2017-10-17; recorded AWS behaviour of
 * labels and dates: the comments in versions.c.
 */
#ifndef TR_SECRETS_VALUES_H
#define TR_SECRETS_VALUES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/result.h"
#include "op/op.h"
#include "secrets/ops.h"
#include "secrets/secrets.h"

/* The handlers of values.c and versions.c are declared, with every other,
 * by secrets/ops.h; SM_VALUE_HANDLER(sm_op_x) { ... } defines one. */
#define SM_VALUE_HANDLER(fn) SM_HANDLER(fn)

/* ---- versions.c: label rules shared with values.c ------------------------ */

/* Attach `labels` (n, distinct) to version v, taking each off whichever
 * other version holds it (PutSecretValue, UpdateSecret, CreateSecret).
 * When AWSCURRENT moves: the version that held it gets AWSPREVIOUS (the
 * old AWSPREVIOUS holder loses it) and loses AWSPENDING, as AWS records.
 * Changed versions other than v are saved. */
TR_RESULT sm_labels_attach(store_t st, struct secret *s, struct secret_version *v,
                           const char *const *labels, size_t n);
/* Delete the oldest unlabeled versions while the secret has more than
 * SM_MAX_VERSIONS (AWS keeps at most 100 versions and removes deprecated
 * ones beyond that). */
TR_RESULT sm_versions_prune(store_t st, struct secret *s);

#endif
