/*
 * check.h -- the store's integrity check (`tresor check`).
 *
 * What it checks, in order (docs/internals/IAM_STORE.md fixes the layout
 * the invariants come from):
 *   store     the backend's own checks (SQLite integrity_check and
 *             foreign_key_check: materials and aliases name existing
 *             keys) and the schema version;
 *   access    every access key's secret unwraps under the root key;
 *   keys      every KMS key: a known state, an ARN that is its own, an
 *             account that exists, a policy that is JSON, material
 *             versions 1..current all present and each unwrapping under
 *             the root key to 32 bytes; aliases in the key's own account
 *             and region;
 *   grants    every grant names an existing key (its ARN and its doc's
 *             key_id agree), its "retirable" twin exists when it has a
 *             retiring principal, and every "retirable" has its grant;
 *   secrets   every version's envelope opens (the data key through KMS
 *             with no caller, the value with AES-256-GCM: the server's
 *             own code, kms_blob_open_offline and sm_open_offline), under
 *             the managed key or a customer key alike, and the key it
 *             records (key_arn) is the one its data key names; staging labels:
 *             exactly one AWSCURRENT when there are versions, no label on
 *             two versions or twice on one; every "secret-ver" relation
 *             belongs to a secret; a secret pending deletion has its
 *             "secret-due" entry and every entry has its secret;
 *   policies  every managed policy's default version exists;
 *   bindings  every principal binding saved with a key policy, a secret's
 *             resource policy or a role's trust policy binds only ARNs the
 *             policy names, user ARNs to AIDA... and role ARNs to
 *             AROA... (iam/bindings.h), and so does a grant's bound
 *             grantee and retiring principal.  Policies saved by an older
 *             tresor, not yet bound, are counted (the server binds them
 *             at its next start), not problems.
 * Plaintext is wiped as soon as it has opened, and no problem line carries
 * a secret byte: ids, ARNs and the step that failed only.
 */
#ifndef TR_CHECK_H
#define TR_CHECK_H

#include <stddef.h>

#include "core/result.h"
#include "store/store.h"

struct keyring;

#define CHECK_SHOW_MAX 20     /* problem lines kept */
#define CHECK_LINE_MAX 400

struct check_report {
    int schema_version;       /* migrations applied, as found */
    size_t accounts, access_keys, keys, materials, aliases, grants;
    size_t secrets, versions, values, policies, roles;
    size_t unbound;           /* policies saved before bindings, not bound yet */
    size_t problems;          /* every problem found */
    size_t shown;             /* lines in line[] (the first problems) */
    char line[CHECK_SHOW_MAX][CHECK_LINE_MAX];
};

/* Run every check over st with the root key kr and fill *rep (zeroed
 * here).  Problems are counted, never returned as failures: TR_OK unless
 * an argument is NULL.  A part of the store that cannot be read is itself
 * a problem, and the check goes on with the next part. */
TR_RESULT store_check(store_t st, const struct keyring *kr, struct check_report *rep);

#endif
