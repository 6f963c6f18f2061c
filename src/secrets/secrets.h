/*
 * secrets.h -- what the Secrets Manager operation files share: the secret
 * record in C, its load/save over the store's generic entities and
 * relations, lookup by SecretId, authorization, the live check, the ARN
 * builder, and the DescribeSecret-shaped JSON.
 *
 * Storage layout: docs/internals/IAM_STORE.md, section "Secrets" (entity
 * kind "secret", name "<region>:<name>", path "/<region>/"; one relation of
 * kind "secret-ver" per version, from the secret ARN to the version id).
 * Semantics: docs/AUTHORIZATION.md 5; errors: docs/WIRE.md 5.3.  Wire
 * shapes: the botocore model secretsmanager/2017-10-17.
 *
 * Ownership: a struct secret filled by sm_find/sm_load owns every string
 * and its versions; release with secret_free.  The entity doc as loaded is
 * kept in `doc`, so fields this header does not know (added by other
 * operations: rotation, replication) survive a load/modify/save.
 *
 * Secret values never pass through this file: envelope.c seals and opens
 * them, and only base64 of ciphertext (edk, ct) is held here.
 */
#ifndef TR_SECRETS_H
#define TR_SECRETS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/result.h"
#include "iam/authz.h"
#include "iam/policy.h"
#include "op/op.h"
#include "store/store.h"

#define SM_KIND            "secret"
#define SM_VER_KIND        "secret-ver"
#define SM_NAME_MAX        512
#define SM_ID_MAX          2048      /* SecretIdType */
#define SM_VALUE_MAX       65536     /* SecretStringType chars / SecretBinaryType bytes */
#define SM_DESC_MAX        2048
#define SM_TOKEN_MIN       32        /* ClientRequestTokenType / SecretVersionIdType */
#define SM_TOKEN_MAX       64
#define SM_STAGE_MAX       256
#define SM_STAGES_MAX      20        /* labels per version (SecretVersionStagesType) */
#define SM_MAX_TAGS        50
#define SM_POLICY_MAX      20480     /* resource policy size limit (20 KB) */
#define SM_MAX_VERSIONS    100       /* unlabeled versions beyond this are pruned */
#define SM_SUFFIX_LEN      6         /* "-" + 6 random [A-Za-z0-9] after the name */
#define SM_DAY             86400

#define SM_CURRENT  "AWSCURRENT"
#define SM_PREVIOUS "AWSPREVIOUS"
#define SM_PENDING  "AWSPENDING"

/* The messages every operation uses (docs/WIRE.md 5.3). */
#define SM_MSG_NOT_FOUND     "Secrets Manager can't find the specified secret."
#define SM_MSG_MARKED        "You can't perform this operation on the secret because it " \
                             "was marked for deletion."
#define SM_MSG_KMS_DENIED    "Access to KMS is not allowed"

struct secret_version {
    char *id;                   /* VersionId (the ClientRequestToken that made it) */
    char **stages;              /* staging labels, in the order stored */
    size_t nstages;
    double created;             /* epoch seconds, millisecond precision */
    int64_t seq;                /* creation order within the secret (1, 2, ...) */
    int64_t last_accessed;      /* day precision; 0 = never */
    char *key_arn;              /* the KMS key that sealed edk */
    char *edk;                  /* base64 KMS ciphertext of the data key */
    char *ct;                   /* base64 iv | ciphertext | tag */
    bool binary;                /* SecretBinary (else SecretString) */
    json_t *doc;                /* the relation doc as loaded (other fields kept); may be NULL */
};

struct secret {
    char *id;                   /* entity id: 32 hex */
    char *arn;                  /* arn:aws:secretsmanager:R:A:secret:NAME-XXXXXX */
    char *name;                 /* the secret name (without "<region>:") */
    char region[64];
    char account[ACCOUNT_ID_LEN + 1];
    char *description;          /* NULL when none */
    char *kms_key_id;           /* as the caller gave it; NULL: aws/secretsmanager */
    char *kms_key_arn;          /* the resolved key ARN; NULL until a value is written
                                   under the managed key */
    double created;             /* epoch seconds, millisecond precision (AWS sends
                                   fractional timestamps; tests compare them) */
    double last_changed;
    int64_t last_accessed;      /* day precision; 0 = never */
    double deleted_date;        /* 0 unless pending deletion */
    char *policy;               /* resource policy text, NULL when none */
    char *policy_ids;           /* its principal binding (iam/bindings.h); NULL when none
                                   or saved before bindings */
    struct secret_version *versions;
    size_t nversions;
    json_t *doc;                /* the entity doc as loaded (other fields kept); may be NULL */
};

void secret_free(struct secret *s);
/* A deep copy (docs included): release with secret_free. */
TR_RESULT secret_copy(const struct secret *from, struct secret *to);

/* The request path's per-thread cache of looked-up secrets (cache.c):
 * sm_lookup's result by (account, region, SecretId as given), valid while
 * the store generation (store.h) is unchanged; on when core/cache.h's
 * caches are (`tresor serve`).  _get copies a current entry into *out
 * (true) and else gives the generation to tag a fresh load with; _put
 * keeps a copy of s. */
/* tag_list of a secret ARN through the same kind of cache (a copy:
 * release with tag_list_free). */
TR_RESULT sm_cached_tags(store_t st, const char *arn, struct tag_rec **out, size_t *n);
bool sm_cache_get(const struct req_ctx *rc, const char *secret_id, struct secret *out,
                  struct cache_gen *gen);
void sm_cache_put(const struct req_ctx *rc, const char *secret_id, struct cache_gen gen,
                  const struct secret *s);

/* A member of a stored document: its number (0 when absent or not a
 * number) or its string (NULL when absent or not a string). */
double sm_doc_num(json_t *doc, const char *k);
const char *sm_doc_str(json_t *doc, const char *k);

/* ---- lookup and persistence -------------------------------------------- */

/* Find a secret by SecretId as the caller gave it: a name (looked up in the
 * caller's account and region), a full ARN, or a partial ARN (the ARN
 * without the "-XXXXXX" suffix).  An ARN of another region is not found.
 * Not found: TR_E_SM_RESOURCE_NOT_FOUND with SM_MSG_NOT_FOUND.  Secrets
 * pending deletion ARE found (callers decide with sm_check_live). */
TR_RESULT sm_find(struct req_ctx *rc, const char *secret_id, struct secret *out);
/* The same without setting an error message when absent: *found false.
 * Other failures are returned. */
TR_RESULT sm_lookup(struct req_ctx *rc, const char *secret_id, struct secret *out, bool *found);
/* The parts of arn:aws:secretsmanager:<region>:<account>:secret:<rest>. */
struct sm_arn_parts {
    char region[64];
    char account[ACCOUNT_ID_LEN + 1];
    const char *rest;
};
/* Split a secret ARN (rest non-empty); false when arn is not one. */
bool sm_parse_arn(const char *arn, struct sm_arn_parts *p);
/* A secret by name in (account, region); *found false when absent. */
TR_RESULT sm_lookup_name(store_t st, const char *account, const char *region,
                         const char *name, struct secret *out, bool *found);
/* Fill *out from a stored entity (and load its versions). */
TR_RESULT sm_load(store_t st, const struct ent_rec *e, struct secret *out);
/* The same without the versions (nversions 0): what ListSecrets sorts
 * and filters on. */
TR_RESULT sm_load_entity(store_t st, const struct ent_rec *e, struct secret *out);
/* Write the entity: insert when `insert`, else update by ARN.  Unknown
 * fields of s->doc are preserved. */
TR_RESULT sm_save(store_t st, const struct secret *s, bool insert);
/* Insert or replace one version's relation. */
TR_RESULT sm_version_save(store_t st, const struct secret *s, const struct secret_version *v);
TR_RESULT sm_version_delete(store_t st, const struct secret *s, const char *version_id);
/* Remove a secret entirely: its versions, tags and the entity (the purge
 * at the end of the recovery window, ForceDeleteWithoutRecovery). */
TR_RESULT sm_purge(store_t st, const struct secret *s);

/* ---- versions and stages ------------------------------------------------ */

struct secret_version *sm_version_by_id(const struct secret *s, const char *id);
struct secret_version *sm_version_by_stage(const struct secret *s, const char *stage);
bool sm_version_has_stage(const struct secret_version *v, const char *stage);
/* Add/remove one label on a version in memory (the caller saves).  Labels
 * are kept sorted, the order AWS returns them in. */
TR_RESULT sm_stage_add(struct secret_version *v, const char *stage);
void sm_stage_remove(struct secret_version *v, const char *stage);
/* Versions ordered by creation (seq), oldest first: sm_load sorts them. */
/* Append a fresh version to s->versions (all fields NULL/0, id copied,
 * seq = the highest + 1);
 * returns it in *out (a pointer into s->versions, valid until the next
 * append). */
TR_RESULT sm_version_append(struct secret *s, const char *id, struct secret_version **out);

/* ---- authorization ------------------------------------------------------ */

/* Authorize rc->who for `action` ("secretsmanager:GetSecretValue") on the
 * secret named by `secret_id_as_given`, in the order docs/AUTHORIZATION.md
 * 5.2 fixes:
 *  - s NULL (not found): the identity side is evaluated against the id as
 *    given (resource account: the ARN's, else the caller's); a denial is
 *    AccessDeniedException, an allow lets the caller go on to
 *    ResourceNotFoundException -- so an unauthorized caller learns nothing;
 *  - s found: the secret's ARN with its resource policy (POLICY_RESOURCE)
 *    joined RES_UNION (same account: identity OR resource policy; another
 *    account: both).
 * Adds secretsmanager:SecretId (the ARN, or the id as given), and for a
 * found secret secretsmanager:ResourceTag/<k> and aws:ResourceTag/<k>,
 * secretsmanager:resource/Type and resource/AllowRotationLambdaArn when
 * the secret has them;
 * `extra` adds operation keys (secretsmanager:VersionId, VersionStage,
 * KmsKeyId, Name, aws:RequestTag/<k>, aws:TagKeys...: see sm_ctx_init and iam_ctx_add).  The
 * message echoes the SecretId exactly as passed. */
TR_RESULT sm_authorize(struct req_ctx *rc, const char *action, const char *secret_id_as_given,
                       const struct secret *s, const struct ctx_entry *extra, size_t nextra);
/* The same decision for a found secret, told rather than enforced (the
 * analyzer): *res the decision (statement refs cleared), ev the deciding
 * statements when allowed, AWS's AccessDenied wording when denied.
 * extra: as for sm_authorize; entries marked unknown stay unknown. */
TR_RESULT sm_authorize_explain(struct req_ctx *rc, const char *action, const struct secret *s,
                               const struct ctx_entry *extra, size_t nextra,
                               struct eval_result *res, char *ev, size_t nev);
/* The same for a secret as named in a request (`tresor policy simulate`):
 * looked up as the request would look it up (sm_lookup); a secret that is
 * not found is decided as sm_authorize decides it, against the id as
 * given.  *found tells which. */
TR_RESULT sm_authorize_id_explain(struct req_ctx *rc, const char *action, const char *secret_id,
                                  const struct ctx_entry *extra, size_t nextra, bool *found,
                                  struct eval_result *res, char *ev, size_t nev);
/* The usual pair: authorize, then exists (sm_find's error).  When
 * `must_be_live`, also sm_check_live.  On success *out is loaded. */
TR_RESULT sm_find_authorized(struct req_ctx *rc, const char *action, const char *secret_id,
                             const struct ctx_entry *extra, size_t nextra, bool must_be_live,
                             struct secret *out);
/* Authorization for actions without a secret (CreateSecret, ListSecrets,
 * GetRandomPassword, BatchGetSecretValue): resource "*" except CreateSecret,
 * whose resource is the ARN it would get (`resource` non-NULL). */
TR_RESULT sm_authorize_account(struct req_ctx *rc, const char *action, const char *resource,
                               const struct ctx_entry *extra, size_t nextra);

/* Condition keys of a request, built up by the operation: the request
 * context builder of iam/authz.h (iam_ctx_add, iam_ctx_add_multi,
 * iam_ctx_free), started empty by sm_ctx_init. */
void sm_ctx_init(struct ctx_builder *c);
/* aws:RequestTag/<k> for each tag and aws:TagKeys from a validated Tags
 * array (NULL: nothing). */
TR_RESULT sm_ctx_add_request_tags(struct ctx_builder *c, json_t *tags);
/* CreateSecret, UpdateSecret: secretsmanager:Description, KmsKeyId,
 * KmsKeyArn (the key KmsKeyId names, resolved in the secret's account)
 * and Type, each when given (NULL: absent, as when the member is not in
 * the request). */
TR_RESULT sm_ctx_add_request_keys(struct ctx_builder *c, const char *description,
                                  const char *kms_key_id, const char *kms_key_arn,
                                  const char *type);
/* secretsmanager:AddReplicaRegions (multi-valued) from a validated
 * AddReplicaRegions list (NULL: nothing). */
TR_RESULT sm_ctx_add_replica_regions(struct ctx_builder *c, json_t *replicas);

/* Pending deletion -> InvalidRequestException SM_MSG_MARKED. */
TR_RESULT sm_check_live(const struct secret *s);

/* ---- names, ARNs, parameters ------------------------------------------- */

/* arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 random
 * [A-Za-z0-9]>, malloc'd into *out. */
TR_RESULT sm_arn_new(const char *region, const char *account, const char *name, char **out);
/* Name: 1..512 chars of [A-Za-z0-9/_+=.@-] (ValidationException on the
 * length, InvalidParameterException on the characters). */
TR_RESULT sm_check_name(const char *name);
/* A required SecretId member (1..2048). */
TR_RESULT sm_get_secret_id(json_t *in, const char **out);
/* Refuse members not in `allowed` (SerializationException, as the KMS
 * handlers do). */
TR_RESULT sm_check_members(json_t *in, const char *const *allowed);
/* Tags member: a list of {Key, Value}, at most 50, key 1..128, value
 * 0..256, no "aws:" prefix, no duplicate keys.  *out NULL when absent. */
TR_RESULT sm_get_tags(json_t *in, const char *member, json_t **out);
/* The fields of an AddReplicaRegions element (unsupported.c). */
extern const struct json_field sm_replica_fields[];

/* ---- replies ------------------------------------------------------------ */

/* The DescribeSecret shape of s into obj, as AWS records it: ARN, Name,
 * Description (when set), KmsKeyId (omitted for aws/secretsmanager),
 * RotationEnabled/RotationLambdaARN/RotationRules/LastRotatedDate/
 * NextRotationDate (only when the doc holds rotation_enabled,
 * rotation_lambda_arn, rotation_rules, last_rotated, next_rotation),
 * LastChangedDate, LastAccessedDate, DeletedDate (when set), Tags (only
 * when non-empty), VersionIdsToStages (when `versions` and some version
 * has a label), CreatedDate. */
TR_RESULT sm_describe_fill(struct req_ctx *rc, const struct secret *s, bool versions, json_t *obj);
/* {version id: [labels]} of the labelled versions; *out NULL when none
 * (ListSecrets sets it as SecretVersionsToStages). */
TR_RESULT sm_versions_to_stages(const struct secret *s, json_t **out);
/* Tags of a resource ARN as [{"Key","Value"}], ordered by key. */
TR_RESULT sm_tags_json(store_t st, const char *arn, json_t **out);
/* Set obj[name] = v (stealing v); TR_E_INTERNAL when v is NULL. */
TR_RESULT sm_set(json_t *obj, const char *name, json_t *v);

/* Day precision (midnight UTC) of an epoch time, as LastAccessedDate is. */
int64_t sm_day(int64_t t);
/* "Now" for the dates of a secret: rc->now (the business clock, with
 * TRESOR_CLOCK_OFFSET) plus the wall clock's milliseconds. */
double sm_now(const struct req_ctx *rc);
/* A date member as the JSON number AWS sends (epoch seconds, fractional). */
TR_RESULT sm_set_date(json_t *obj, const char *name, double t);

#endif
