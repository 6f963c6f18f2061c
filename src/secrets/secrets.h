/*
 * secrets.h -- the secret record every Secrets Manager operation shares:
 * the record in C, its versions and staging labels, and its load/save over
 * the store's generic entities and relations (secrets.c).  Beside it:
 * lookup.h (a secret by SecretId), authz.h (authorization and condition
 * keys), params.h (names, ARNs, members), describe.h (the DescribeSecret
 * shape), cache.h (the request path's caches).
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
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/result.h"
#include "op/op.h"
#include "store/store.h"

#define SM_KIND            "secret"
#define SM_VER_KIND        "secret-ver"
#define SM_SEQ_KIND        "secret-seq"   /* the versions in creation order (secrets.c) */
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
/* A write without the ClientRequestToken the SDKs fill in: CreateSecret,
 * PutSecretValue and UpdateSecret with a value (InvalidRequestException),
 * RotateSecret (InvalidParameterException). */
#define SM_MSG_NEED_TOKEN    "You must provide a ClientRequestToken value. We recommend a " \
                             "UUID-type value."

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
    bool stub;                  /* only id and stages are known (sm_load_labeled): saving it
                                   sets its stages alone */
};

/* What a struct secret holds of its versions (secrets.c, "The version
 * index"): every version; only the labeled ones and the one asked for
 * (sm_load_labeled); or none (sm_load_entity), when a save leaves the
 * entity's version index as it was. */
enum sm_versions_held { SM_HELD_NONE, SM_HELD_ALL, SM_HELD_LABELED };

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
    enum sm_versions_held held; /* which versions `versions` holds */
    bool index_ok;              /* the stored version index was current when loaded */
    int64_t nall;               /* SM_HELD_LABELED: how many versions the secret has */
    int64_t last_seq;           /* SM_HELD_LABELED: the highest seq of its versions */
    struct secret_share *share; /* non-NULL: this is a view of a shared secret (below): its
                                   pointers are the share's; read it, never change it */
};

/* A secret shared by reference (secrets/cache.c): immutable once made; the
 * per-thread cache holds one reference and each view (a struct secret
 * whose `share` points here, filled by secret_view) one more.  It never
 * leaves the thread that made it, but the count is atomic anyway. */
struct secret_share {
    atomic_uint refs;
    struct secret s;            /* owned; its own share is NULL */
};

/* *to = a view of sh (one more reference); secret_free releases it. */
void secret_view(struct secret_share *sh, struct secret *to);
/* Drop one reference; the last frees the secret. */
void secret_share_release(struct secret_share *sh);

/* Free what s owns, or release the share s is a view of; zeroes s. */
void secret_free(struct secret *s);
/* A deep copy (docs included): release with secret_free. */
TR_RESULT secret_copy(const struct secret *from, struct secret *to);

/* Set obj[name] = v (stealing v); TR_E_INTERNAL when v is NULL. */
TR_RESULT sm_set(json_t *obj, const char *name, json_t *v);
/* {"ARN": arn, "Name": name} into *out: the reply of most operations on
 * one secret, or what it starts from. */
TR_RESULT sm_reply_arn_name(const char *arn, const char *name, json_t **out);
/* A member of a stored document: its number (0 when absent or not a
 * number) or its string (NULL when absent or not a string). */
double sm_doc_num(json_t *doc, const char *k);
const char *sm_doc_str(json_t *doc, const char *k);

/* ---- persistence ------------------------------------------------------- */

/* Fill *out from a stored entity (and load its versions). */
TR_RESULT sm_load(store_t st, const struct ent_rec *e, struct secret *out);
/* What a new version needs, read without touching the other versions:
 * the entity, its labeled versions and the version `version_id` (when it
 * exists; may be NULL), with held = SM_HELD_LABELED.  When the entity's
 * version index is missing or disagrees with a version it names, every
 * version is loaded instead (held = SM_HELD_ALL), so the result is
 * always right.  Never cached: for writers only. */
TR_RESULT sm_load_labeled(store_t st, const struct ent_rec *e, const char *version_id,
                          struct secret *out);
/* For tresor check: NULL when s (loaded with sm_load) agrees with its
 * stored version index and creation order, or has no current index;
 * else what disagrees (static text). */
const char *sm_version_index_problem(store_t st, const struct secret *s);
/* Replace what s holds of its versions with every version, as stored
 * (held = SM_HELD_ALL); the next sm_save rewrites the version index. */
TR_RESULT sm_load_all_versions(store_t st, struct secret *s);
/* The same without the versions (nversions 0): what ListSecrets sorts
 * and filters on. */
TR_RESULT sm_load_entity(store_t st, const struct ent_rec *e, struct secret *out);
/* Write the entity: insert when `insert`, else update by ARN.  Unknown
 * fields of s->doc are preserved. */
TR_RESULT sm_save(store_t st, const struct secret *s, bool insert);
/* Insert or replace one version's relation. */
TR_RESULT sm_version_save(store_t st, const struct secret *s, const struct secret_version *v);
/* Two stubs' stages (sm_version_save of each) in one store call. */
TR_RESULT sm_stubs_save(store_t st, const struct secret *s, const struct secret_version *a,
                        const struct secret_version *b);
/* A new version: its relation and its place in the creation order, in
 * one store call (rel_put_pair). */
TR_RESULT sm_version_insert(store_t st, const struct secret *s, const struct secret_version *v);
/* Remove a version: its relation and its place in the creation order. */
TR_RESULT sm_version_delete(store_t st, const struct secret *s, const struct secret_version *v);
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
/* v's labels as a JSON array into *out (a new reference): what replies
 * and the stored doc hold. */
TR_RESULT sm_stages_json(const struct secret_version *v, json_t **out);
/* Versions ordered by creation (seq), oldest first: sm_load sorts them. */
/* Append a fresh version to s->versions (all fields NULL/0, id copied,
 * seq = the highest of the secret + 1; the caller inserts it);
 * returns it in *out (a pointer into s->versions, valid until the next
 * append). */
TR_RESULT sm_version_append(struct secret *s, const char *id, struct secret_version **out);

/* ---- dates --------------------------------------------------------------- */

/* Day precision (midnight UTC) of an epoch time, as LastAccessedDate is. */
int64_t sm_day(int64_t t);
/* "Now" for the dates of a secret: rc->now (the business clock, with
 * TRESOR_CLOCK_OFFSET) plus the wall clock's milliseconds. */
double sm_now(const struct req_ctx *rc);

#endif
