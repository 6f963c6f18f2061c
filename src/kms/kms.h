/*
 * kms.h -- what the KMS operation files share (resolve.c, keys.c,
 * crypt.c, aliases.c, tags.c, grants.c, policy_check.c, authz.c, util.c,
 * ops.c).
 *
 * The handlers themselves are reached through kms_ops[] (ops.def); the
 * declarations below are the internal seams between the files, plus the
 * few C-level entry points Secrets Manager uses (kms_data_key_new,
 * kms_blob_open, kms_managed_key) so that plaintext data keys never pass
 * through JSON.  The layout of the whole directory is described at the
 * top of keys.c.
 */
#ifndef TR_KMS_H
#define TR_KMS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/result.h"
#include "iam/policy.h"
#include "kms/ciphertext.h"
#include "op/op.h"
#include "store/store.h"

#define KMS_ARN_MAX        2048     /* KeyIdType / ArnType max */
#define KMS_MATERIAL_LEN   32       /* bytes of one symmetric key-material version */
#define KMS_MATERIAL_MAX   8192     /* bytes of any material (an RSA-4096 PKCS#8 key
                                       is about 2.4 KiB) */
#define KMS_CT_MAX         6144     /* CiphertextType max */
#define KMS_DATA_KEY_MAX   1024     /* NumberOfBytesType max */
#define KMS_POLICY_MAX     32768    /* bytes; the real KMS key-policy quota */
#define KMS_MAX_TAGS       50
#define KMS_ON_DEMAND_MAX  25       /* on-demand rotations per key */
#define KMS_DAY            86400

/* ---------- resolve.c: KeyId in any form -> key record ---------------- */

/* Which forms kms_resolve accepts besides a bare key id and a key ARN.
 * The API reference says, per operation, whether KeyId may be an alias:
 * only DescribeKey and the cryptographic operations take one. */
#define KR_KEY_ONLY 0x0 /* key id or key ARN of the caller's account */
#define KR_ALIAS  0x1   /* "alias/name" and alias ARNs */
#define KR_XACCT  0x2   /* ARNs naming another account (cross-account ops) */

/* Resolve a KeyId as the caller gave it.  Fills *out (release with
 * key_rec_free) or fails with AWS's NotFoundException wording:
 *   "Invalid keyId '<id>'", "Key '<arn>' does not exist",
 *   "Alias <alias arn> is not found.", "Invalid arn <region>". */
TR_RESULT kms_resolve(struct req_ctx *rc, const char *id, unsigned flags,
                      struct key_rec *out);
/* A key named by its bare id in `region` (the key of a ciphertext, of an
 * alias, of a grant): the region's record of the id, whatever its account
 * (the caller checks).  TR_E_STORE_NOT_FOUND with no message when absent. */
TR_RESULT kms_key_lookup(store_t st, const char *key_id, const char *region, struct key_rec *out);

/* ---------- cache.c: the request path's per-thread key cache ----------- */

/* On when core/cache.h's caches are (`tresor serve`); off, every call
 * reads the store.  key_get through the cache (a copy: release with
 * key_rec_free). */
TR_RESULT kms_cached_key_get(store_t st, const char *key_id, const char *region,
                             struct key_rec *out);
/* The compiled form of `text`, a key policy of k (a reference: release
 * with policy_unref); compiled once while k's entry is current. */
TR_RESULT kms_cached_key_policy(store_t st, const struct key_rec *k, const char *text,
                                struct policy **out);
/* k's aliases, as alias_list would give them (release with free()), and
 * its tags, as tag_list would give them (ordered by key) but in one block
 * with their strings (release with free(); values are never NULL). */
TR_RESULT kms_cached_key_attrs(store_t st, const struct key_rec *k, struct alias_rec **aliases,
                               size_t *naliases, struct tag_rec **tags, size_t *ntags);
/* alias_get through the cache: the alias `name` of (account, region),
 * TR_E_STORE_NOT_FOUND (never cached) when there is none. */
TR_RESULT kms_cached_alias_get(store_t st, const char *account, const char *region, const char *name,
                               struct alias_rec *out);
/* Unwrapped material `version` of key_id into out (a secret buf), when
 * cached: true.  _put caches what kms_material_load unwrapped. */
bool kms_cached_material_get(store_t st, const char *key_id, uint32_t version, struct buf *out);
void kms_cached_material_put(store_t st, const char *key_id, uint32_t version, const struct buf *m);
/* A key became unusable (disabled, pending deletion, its material
 * deleted, purged): wipe every unwrapped material and derived blob key
 * the caches hold -- this thread's now, the other threads' at their next
 * use of those caches -- instead of when each entry is next met or
 * evicted.  Every key's, not only this one's: such changes are rare, and
 * the next use of any other key unwraps its material again. */
void kms_forget_unwrapped(void);

/* True for a well-formed key id (UUID; "mrk-" + 32 hex also parses). */
bool kms_is_key_id(const char *s);
/* Whether `action` ("kms:Decrypt") may name a key of another account: the
 * operations that resolve with KR_XACCT (docs/AUTHORIZATION.md 4.4).  The
 * others answer NotFoundException for a foreign key ARN. */
bool kms_action_cross_account(const char *action);
/* "arn:aws:kms:<region>:<account>:<resource>" into out[n] (KMS_ARN_MAX+1),
 * or TR_E_INTERNAL when it does not fit: never a cut ARN. */
TR_RESULT kms_arn(char *out, size_t n, const char *region, const char *account,
                  const char *resource);

/* Key-state rules (AWS "Key states of KMS keys" table). */
enum kms_state_rule {
    KS_ANY,            /* DescribeKey, List*, Get*, DeleteAlias */
    KS_USABLE,         /* Enabled only: Disabled -> DisabledException */
    KS_NOT_PENDING,    /* not PendingDeletion (PendingImport included) */
    KS_TOGGLE,         /* EnableKey, DisableKey: Enabled or Disabled */
    KS_PENDING         /* PendingDeletion only (CancelKeyDeletion) */
};
TR_RESULT kms_check_state(const struct key_rec *k, enum kms_state_rule rule);
struct kms_authz_in;
/* The prologue of most handlers (resolve.c): the key the request's KeyId
 * member names (kms_resolve with flags), authorized for `action` with az's
 * request keys (NULL: none; kms:RequestAlias from the KeyId as given) and
 * in a state `rule` allows.  Fills *k (release with key_rec_free) only on
 * success. */
TR_RESULT kms_key_for(struct req_ctx *rc, json_t *in, unsigned flags, const char *action,
                      enum kms_state_rule rule, const struct kms_authz_in *az, struct key_rec *k);

/* ---------- authz.c: authorization with the policy engine ------------ */

/* A CreateGrant request, for its condition keys (kms:GrantOperations,
 * kms:GranteePrincipal, kms:RetiringPrincipal, kms:GrantConstraintType)
 * and for a grantee that delegates through a grant of its own. */
struct kms_grant_req {
    const char *grantee;
    const char *retiring;              /* NULL when none */
    /* The unique ids grantee and retiring name now when they are user or
     * role ARNs, bound into the grant (iam/bindings.h); else NULL. */
    const char *grantee_id;
    const char *retiring_id;
    const char *const *ops;            /* "Encrypt", ... */
    size_t nops;
    const char *constraint_type;       /* NULL, "EncryptionContextEquals" or
                                          "EncryptionContextSubset" */
    json_t *constraint;                /* its map; NULL when none */
};

/* A key's aliases and tags, loaded once by a caller that decides many
 * requests on the same key (the analyzer); borrowed. */
struct kms_key_attrs {
    const struct alias_rec *aliases;
    size_t naliases;
    const struct tag_rec *tags;
    size_t ntags;
};

/* What a request brings to its authorization besides the action and the
 * key.  Zero-initialise and fill what applies: each member sets the
 * condition keys named beside it, and nothing else does (authz.c lists
 * which keys each operation gets). */
struct kms_authz_in {
    json_t *ctx;                       /* EncryptionContext (object) or NULL:
                                          kms:EncryptionContext:<k>, kms:EncryptionContextKeys */
    const char *key_id_given;          /* KeyId as written: an alias sets kms:RequestAlias */
    const char *enc_alg;               /* kms:EncryptionAlgorithm; NULL: not a crypto op */
    const char *sign_alg;              /* Sign, Verify: kms:SigningAlgorithm */
    const char *message_type;          /*   and kms:MessageType (RAW when omitted) */
    const char *mac_alg;               /* GenerateMac, VerifyMac: kms:MacAlgorithm */
    const char *agree_alg;             /* DeriveSharedSecret: kms:KeyAgreementAlgorithm */
    const char *pair_spec;             /* GenerateDataKeyPair*: kms:DataKeyPairSpec */
    bool has_bypass;                   /* CreateKey, PutKeyPolicy, only when the request
                                          has BypassPolicyLockoutSafetyCheck: */
    bool bypass;                       /*   kms:BypassPolicyLockoutSafetyCheck */
    const struct key_rec *props;       /* CreateKey (k == NULL): the key asked for, whose
                                          KeySpec/KeyUsage/Origin set the kms:Key* keys */
    const struct kms_grant_req *grant; /* CreateGrant */
    const char *constraint_type;       /* RetireGrant: the grant's constraint, for
                                          kms:GrantConstraintType (its pairs come in ctx) */
    json_t *request_tags;              /* CreateKey, TagResource: the validated Tags list
                                          ([{TagKey, TagValue}]): aws:RequestTag/<k>, aws:TagKeys */
    json_t *tag_keys;                  /* UntagResource: the validated TagKeys: aws:TagKeys */
    int pending_window_days;           /* ScheduleKeyDeletion (0: not it):
                                          kms:ScheduleKeyDeletionPendingWindowInDays */
    int rotation_period_days;          /* EnableKeyRotation (0: not it): kms:RotationPeriodInDays */
    const char *replica_region;        /* ReplicateKey: kms:ReplicaRegion */
    const char *primary_region;        /* UpdatePrimaryRegion: kms:PrimaryRegion */
    bool caller_account;               /* the custom key store operations, on no key:
                                          kms:CallerAccount */
    const char *wrapping_alg;          /* GetParametersForImport: kms:WrappingAlgorithm */
    const char *wrapping_spec;         /*   and kms:WrappingKeySpec */
    const char *expiration_model;      /* ImportKeyMaterial: kms:ExpirationModel */
    int64_t valid_to;                  /*   and kms:ValidTo (0: no ValidTo) */
    int reencrypt_same;                /* ReEncrypt: kms:ReEncryptOnSameKey, 1 true, -1 false,
                                          0 not a ReEncrypt */
    bool no_grants;                    /* do not consult grants */
    const struct kms_key_attrs *key_attrs; /* the key's aliases and tags when the caller
                                          has them (NULL: read through the cache) */
    const char *const *unknown;        /* the analyzer: context keys whose value is
                                          unknown (policy.h ctx_entry.unknown) */
    size_t nunknown;
    const struct ctx_entry *extra;     /* `tresor policy simulate`: keys given by hand,
                                          added last (they replace keys of the same name) */
    size_t nextra;
};

/* Decide whether rc->who may perform `action` (e.g. "kms:Decrypt") on key
 * k, as KMS does (docs/AUTHORIZATION.md 4.1 - 4.3): the key policy must
 * allow, directly or by naming the account, which delegates to IAM policies;
 * an explicit deny anywhere is final; on an implicit deny the key's grants
 * may still allow.  k NULL: the account-level actions (CreateKey, ListKeys,
 * ListAliases, ListRetirableGrants, GenerateRandom), decided by IAM policies
 * alone.  Every handler calls it after the key is known to exist and before
 * the key state is checked (docs/AUTHORIZATION.md 4.6).  Fails with
 * AccessDeniedException and AWS's message. */
TR_RESULT kms_authorize_in(struct req_ctx *rc, const char *action, const struct key_rec *k,
                           const struct kms_authz_in *in);
/* The same with only an encryption context (or NULL). */
TR_RESULT kms_authorize(struct req_ctx *rc, const char *action,
                        const struct key_rec *k, json_t *ctx);
/* Would the key policy `policy_text` (compiled as a key policy; it must
 * compile) let rc->who perform `action` on k, IAM policies included when
 * it names the account?  Grants are not consulted: the lockout safety
 * check of PutKeyPolicy/CreateKey (policy_check.c). */
TR_RESULT kms_policy_allows(struct req_ctx *rc, const char *action, const struct key_rec *k,
                            const char *policy_text, const struct kms_authz_in *in,
                            bool *allowed);
/* Does rc->who's identity side (its IAM policies, boundary and session
 * policies; everything for a root user) allow `action` on k?  For grants to
 * an account, and for grantees in another account (docs/AUTHORIZATION.md
 * 4.3). */
TR_RESULT kms_identity_allows(struct req_ctx *rc, const char *action, const struct key_rec *k,
                              const struct kms_authz_in *in, bool *allowed);
/* CreateAlias, UpdateAlias and DeleteAlias on the alias itself: the
 * alias ARN arn:aws:kms:<region>:<caller's account>:<alias_name>, decided
 * by IAM policies alone (an alias has no key policy).  The operations
 * authorize the key(s) too, with kms_authorize.  AccessDeniedException
 * naming the alias ARN. */
TR_RESULT kms_authorize_alias(struct req_ctx *rc, const char *action, const char *alias_name);

/* The same decision as kms_authorize_in, told rather than enforced (the
 * analyzer, `tresor who-can-decrypt`, `tresor policy simulate`): never
 * fails on a denial.  k NULL: an account-level action (IAM alone). */
enum kms_source { KX_NONE = 0, KX_KEY_POLICY, KX_GRANT };
struct kms_explain {
    bool allowed;
    enum kms_source source;            /* KX_KEY_POLICY: the key policy (with IAM when it
                                          names the account); KX_GRANT: a grant */
    bool conditional;                  /* depends on context keys marked unknown */
    struct eval_result res;            /* the key-policy evaluation (refs cleared) */
    char evidence[1024];               /* the deciding statements */
    char message[1024];                /* denied: AWS's AccessDenied wording */
    char grant_id[65];                 /* KX_GRANT: the grant that allowed (64 hex) */
};
TR_RESULT kms_authorize_explain(struct req_ctx *rc, const char *action, const struct key_rec *k,
                                const struct kms_authz_in *in, struct kms_explain *out);

/* ---------- grants.c ------------------------------------------------- */

/* How a principal named in a grant (grantee or retiring principal) names
 * the caller. */
enum kms_grant_match {
    KG_NONE = 0,
    KG_ACCOUNT,   /* the caller's account: IAM must allow too (docs/AUTHORIZATION.md 4.3) */
    KG_DIRECT,    /* the caller's user or session ARN, or the role of its session */
};
/* named_id: the unique id `named` was bound to when the grant was made
 * (a user or role ARN; iam/bindings.h): then only that user, or that
 * role's sessions, match -- whatever ARN they have now.  NULL: by ARN
 * (session and account principals, and grants made before bindings). */
enum kms_grant_match kms_grant_principal_match(const char *named, const char *named_id,
                                               const struct principal *who);
/* (authz.c) RetireGrant on a grant of key k.  The grant decides, not the key
 * policy ("kms:RetireGrant ... is not effective in a key policy"):
 * `named` is how the grant names the caller as its retiring principal,
 * or as its grantee when it includes RetireGrant; issuing_account the
 * account that created it.  Allowed: a caller named directly; a caller
 * of an account the grant names, of the issuing account or of the key's
 * account whose IAM policies allow kms:RetireGrant.  An explicit deny in
 * the caller's IAM policies refuses in every case.  in: the grant's
 * constraint (ctx, constraint_type). */
TR_RESULT kms_authorize_retire(struct req_ctx *rc, const struct key_rec *k,
                               const struct kms_authz_in *in, enum kms_grant_match named,
                               const char *issuing_account);
/* Does a grant on k allow rc->who to perform `action` with the request in
 * `in` (operations, encryption-context constraints, the subset rule of
 * CreateGrant)?  *out the best match found (KG_ACCOUNT: the caller still
 * needs an identity-side allow, and so does any caller of another
 * account). */
TR_RESULT kms_grants_allow(struct req_ctx *rc, const char *action, const struct key_rec *k,
                           const struct kms_authz_in *in, enum kms_grant_match *out);
/* The same, and the id of the best matching grant in grant_id (64 hex
 * digits and a NUL; "" when none). */
TR_RESULT kms_grants_allow_id(struct req_ctx *rc, const char *action, const struct key_rec *k,
                              const struct kms_authz_in *in, enum kms_grant_match *out,
                              char grant_id[65]);
/* Call fn with the grantee principal of every grant of key_arn, as the
 * grant names it (who-can-decrypt: the sessions and accounts grants name). */
TR_RESULT kms_grants_each_grantee(store_t st, const char *key_arn,
                                  TR_RESULT (*fn)(void *arg, const char *grantee), void *arg);
/* Remove every grant of a key (the key is being deleted). */
TR_RESULT kms_grants_delete_key(store_t st, const char *key_arn);

/* ---------- keys.c: key records, materials, metadata ----------------- */

/* A new key's properties (CreateKey and kms_managed_key). */
struct kms_new_key {
    const char *account;
    const char *region;
    const char *description;   /* NULL -> "" */
    const char *policy;        /* NULL -> the default key policy */
    const char *policy_ids;    /* its principal binding (iam/bindings.h); NULL: made here */
    const char *key_manager;   /* "CUSTOMER" or "AWS" */
    bool rotation;             /* automatic rotation on at creation */
    int64_t now;
    const char *key_id;        /* NULL: a fresh random id */
    const uint8_t *material;   /* KMS_MATERIAL_LEN bytes (dev seed), NULL: random */
    const char *key_spec;      /* NULL: SYMMETRIC_DEFAULT (then material applies) */
    const char *key_usage;     /* NULL: ENCRYPT_DECRYPT */
    bool external;             /* Origin EXTERNAL: PendingImport, no material
                                  (current_material 0) until ImportKeyMaterial */
    const struct key_rec *replica_of; /* ReplicateKey: a replica of this primary in
                                  `region`: its id, spec, usage, origin, rotation
                                  status and current material (shared, none
                                  written); the fields above for those are unused */
};
/* Create a key with its first material version (inside the caller's
 * transaction).  *out receives the stored record (key_rec_free). */
TR_RESULT kms_key_create(store_t st, const struct keyring *kr,
                         const struct kms_new_key *nk, struct key_rec *out);
/* Add material `version` (fresh random bytes, wrapped under the root key
 * with the label "kms-material:<key-id>:<version>"). */
TR_RESULT kms_material_add(store_t st, const struct keyring *kr, const char *key_id,
                           uint32_t version, int64_t now, const char *rotation_type);
/* Store imported material (n bytes, checked for the key's spec by the
 * caller, and the caller's to wipe) as material meta->version of the
 * EXTERNAL key meta->key_id, with meta's created, rotation type, expiry
 * and description, wrapped like any material; replace: that version's row
 * exists (a re-import) and is replaced. */
TR_RESULT kms_material_import(store_t st, const struct keyring *kr, const struct material_rec *meta,
                              bool replace, const uint8_t *material, size_t n);
/* Unwrap material `version` of a key into out (a secret buf the caller
 * frees with buf_free, which wipes it).  TR_E_STORE_NOT_FOUND (no message)
 * when the version does not exist. */
TR_RESULT kms_material_load(store_t st, const struct keyring *kr, const char *key_id,
                            uint32_t version, struct buf *out);
/* Rotate: new material version current+1 of the given type, current
 * bumped, record updated in the store.  k is updated in place. */
TR_RESULT kms_key_rotate(store_t st, const struct keyring *kr, struct key_rec *k,
                         int64_t now, const char *rotation_type);
/* The same for a key of any spec: 1..8192 bytes (a PKCS#8 private key,
 * an HMAC key, 32 bytes); never cached. */
TR_RESULT kms_material_load_any(store_t st, const struct keyring *kr, const char *key_id,
                                uint32_t version, struct buf *out);
/* KeyMaterialId of a material version: 64 lowercase hex characters. */
TR_RESULT kms_material_id(const char *key_id, uint32_t version, char out[65]);
/* A multi-Region key: its id is "mrk-" + 32 hex (CreateKey MultiRegion). */
bool kms_key_is_multi_region(const struct key_rec *k);
/* The Policy member: 1..131072 characters of [\t\n\r\u0020-\u00FF]
 * (model); *out NULL when absent and not required. */
TR_RESULT kms_get_policy(json_t *in, bool required, const char **out);
/* Copy the properties related multi-Region keys share (current material,
 * rotation status, period and date) from k to its other regions' records:
 * after a rotation or a change of the rotation status of the primary. */
TR_RESULT kms_key_sync_related(store_t st, const struct key_rec *k);
/* Whether k is a multi-Region primary with replicas in other regions. */
TR_RESULT kms_key_has_replicas(store_t st, const struct key_rec *k, bool *out);
/* After the replica of key_id in `region` was deleted: a primary in
 * PendingReplicaDeletion whose last replica that was goes to
 * PendingDeletion, its waiting period beginning `now`. */
TR_RESULT kms_replica_deleted(store_t st, const char *key_id, int64_t now);
/* A multi-Region replica: a multi-Region key outside its primary region. */
bool kms_key_is_replica(const struct key_rec *k);
/* The KeyMetadata structure of DescribeKey/CreateKey; a multi-Region
 * key's MultiRegionConfiguration lists its related keys from st. */
TR_RESULT kms_key_metadata(store_t st, const struct key_rec *k, json_t **out);

/* ---------- crypt.c: the C-level crypto entry points ------------------ */

/* Seal pt under the key's current material; appends the blob to *blob. */
TR_RESULT kms_blob_seal(struct req_ctx *rc, const struct key_rec *k,
                        const struct enc_ctx *ctx, const uint8_t *pt, size_t n,
                        struct buf *blob);
/* Decrypt a ciphertext blob for rc->who: the key comes from the blob;
 * key_id (any KeyId form, may be NULL) must name that same key.  Checks
 * existence, authorization (`action`), key state, then the ciphertext.
 * On success pt (a secret buf) holds the plaintext and *key the key record
 * (key_rec_free); *material the material version that opened it. */
TR_RESULT kms_blob_open(struct req_ctx *rc, const char *key_id, const char *action,
                        const uint8_t *blob, size_t blob_len, json_t *ctx_json,
                        struct buf *pt, struct key_rec *key, uint32_t *material);
/* The same with the request's EncryptionAlgorithm (NULL: the default),
 * for kms:EncryptionAlgorithm. */
TR_RESULT kms_blob_open_alg(struct req_ctx *rc, const char *key_id, const char *action,
                            const char *alg, const uint8_t *blob, size_t blob_len,
                            json_t *ctx_json, struct buf *pt, struct key_rec *key,
                            uint32_t *material);
/* Open a ciphertext blob of this store with no caller: no authorization
 * and any key state -- for the offline integrity check (`tresor check`,
 * analyze/check.h), never for a request.  key_id receives the blob's key
 * ("" when the blob does not parse); the same answers as Decrypt's last
 * step otherwise (InvalidCiphertextException for a bad blob, context or
 * tag, TR_E_INTERNAL for material that does not unwrap). */
TR_RESULT kms_blob_open_offline(store_t st, const struct keyring *kr, const uint8_t *blob,
                                size_t blob_len, json_t *ctx_json, struct buf *pt,
                                char key_id[37], uint32_t *material);
/* GenerateDataKey without JSON: n random bytes into pt (secret buf) and
 * their blob under key_id (any KeyId form) into blob; *key filled. */
TR_RESULT kms_data_key_new(struct req_ctx *rc, const char *key_id, const char *action,
                           json_t *ctx_json, size_t n, struct buf *pt,
                           struct buf *blob, struct key_rec *key);

/* Build an enc_ctx over a JSON map (borrowed strings).  *pairs is heap
 * memory the caller frees (free()); NULL map -> empty context. */
TR_RESULT kms_enc_ctx(json_t *map, struct enc_pair **pairs, struct enc_ctx *out);

/* ---------- asym.c: asymmetric and HMAC keys ------------------------- */

enum kms_spec_kind { KSK_SYMMETRIC, KSK_RSA, KSK_EC, KSK_HMAC };
/* A key spec tresor creates: what it is, the KeyUsage values it allows and
 * the algorithms it lists (NULL-terminated; NULL: none). */
struct kms_spec {
    const char *name;                  /* "RSA_2048" */
    enum kms_spec_kind kind;
    int bits;                          /* RSA modulus bits */
    const char *curve;                 /* EC: OpenSSL's group name */
    int md;                            /* enum pk_md: HMAC's and ECDSA's digest */
    const char *usages[2];
    const char *const *enc_algs;
    const char *const *sign_algs;
    const char *const *mac_algs;
};
/* The spec of that name, or NULL for one tresor does not create. */
const struct kms_spec *kms_spec_find(const char *name);
bool kms_spec_allows_usage(const struct kms_spec *s, const char *usage);
bool kms_key_is_symmetric(const struct key_rec *k);
/* EncryptionAlgorithms / SigningAlgorithms / MacAlgorithms of k into md
 * (DescribeKey, GetPublicKey), as AWS lists them for its spec and usage. */
TR_RESULT kms_key_algorithms(const struct key_rec *k, json_t *md);
/* New material for a key of spec s, appended to out (a secret buf); for
 * an RSA or EC spec, when pub is not NULL, its public key DER too. */
TR_RESULT kms_material_generate(const struct kms_spec *s, struct buf *out, struct buf *pub);
/* InvalidKeyUsageException "<arn> key usage is <usage> which is not valid
 * for <op>." and "Algorithm <alg> is incompatible with key spec <spec>." */
tr_result kms_usage_error(const struct key_rec *k, const char *op);
tr_result kms_alg_error(const struct key_rec *k, const char *alg);
/* RSAES-OAEP under an RSA key (alg RSAES_OAEP_SHA_1 or _256, checked by
 * the caller): the raw RSA ciphertext, as AWS returns it.  Encrypt refuses
 * plaintext past the OAEP limit of the key size (ValidationException);
 * decrypt answers InvalidCiphertextException for anything that does not
 * decrypt. */
TR_RESULT kms_rsa_encrypt(struct req_ctx *rc, const struct key_rec *k, const char *alg,
                          const uint8_t *pt, size_t n, struct buf *out);
TR_RESULT kms_rsa_decrypt(struct req_ctx *rc, const struct key_rec *k, const char *alg,
                          const uint8_t *ct, size_t n, struct buf *pt);

/* ---------- import.c: imported key material -------------------------- */

/* An import token's contents (import.c; docs/internals/IMPORT.md). */
enum kms_wrap_alg { KWA_OAEP_SHA1, KWA_OAEP_SHA256, KWA_AES_KW_SHA1, KWA_AES_KW_SHA256,
                    KWA_COUNT };
struct kms_import_params {
    int64_t valid_to;          /* ParametersValidTo, epoch seconds */
    enum kms_wrap_alg alg;
    int bits;                  /* the wrapping key's modulus: 2048, 3072, 4096 */
};
/* Seal an import token for the key key_id in region: a format byte, then
 * keyring_wrap under the label "kms-import-token:<region>:<key-id>" of the
 * parameters and the wrapping
 * private key (PKCS#8 DER), appended to out.  priv stays the caller's to
 * wipe. */
TR_RESULT kms_import_token_seal(const struct keyring *kr, const char *region, const char *key_id,
                                const struct kms_import_params *p, const struct buf *priv,
                                struct buf *out);
/* Open a token given for the key key_id in region: *p and the wrapping private key (into
 * priv, a secret buf).  InvalidImportTokenException for anything that is
 * not a token this server made for this key (tampered, truncated, another
 * key's or another region's replica's, made under another root key); the expiry is the caller's to
 * check. */
TR_RESULT kms_import_token_open(const struct keyring *kr, const char *region, const char *key_id,
                                const uint8_t *tok, size_t n, struct kms_import_params *p,
                                struct buf *priv);
/* Delete an EXTERNAL key's imported material (DeleteImportedKeyMaterial,
 * and maintenance when ValidTo has passed): the material row goes, the key
 * has no current material and, unless PendingDeletion, is PendingImport.
 * k is updated in place and in the store.  Nothing when it has none. */
TR_RESULT kms_import_material_delete(store_t st, struct key_rec *k);
/* Maintenance: every material of the EXTERNAL key k whose ValidTo is at
 * or before now deleted as DeleteImportedKeyMaterial deletes it;
 * *expired += how many. */
TR_RESULT kms_import_expire(store_t st, struct key_rec *k, int64_t now, size_t *expired);
/* RotateKeyOnDemand of an EXTERNAL symmetric key: its material waiting in
 * PENDING_ROTATION becomes current (KMSInvalidStateException without). */
TR_RESULT kms_import_rotate(struct req_ctx *rc, struct key_rec *k);
/* The version of k's CURRENT material among its materials m (n of them,
 * by version): current_material, or while that material is deleted or
 * expired the newest one not waiting for rotation; 0 for none. */
uint32_t kms_import_current(const struct key_rec *k, const struct material_rec *m, size_t n);
/* The ValidTo of k's current imported material (0: it does not expire):
 * its row's, or for a multi-Region key, whose every region imports the
 * one material with its own expiry, the record's next_rotation. */
TR_RESULT kms_import_valid_to(store_t st, const struct key_rec *k, int64_t *out);
/* ReplicateKey of an EXTERNAL primary: the replica gets the primary's
 * record of its material's digest (the same key id: the same label). */
TR_RESULT kms_import_copy_check(store_t st, const struct key_rec *primary,
                                const struct key_rec *replica);
/* The rotation type of imported material waiting for RotateKeyOnDemand
 * (KeyMaterialState PENDING_ROTATION); never on the wire. */
#define KMS_MAT_PENDING "PENDING"
/* KeyMaterialId member: absent, or 64 characters of ^[a-f0-9]+$. */
TR_RESULT kms_get_material_id(json_t *in, const char **out);
/* Forget what a key's imports left behind (the key is being purged). */
TR_RESULT kms_import_forget(store_t st, const char *key_arn);
/* tresor rotate-root-key: every import check (the wrapped digest of a key's
 * imported material) wrapped again from old to new_kr; *count += how many. */
TR_RESULT kms_import_rewrap(store_t st, const struct keyring *old, const struct keyring *new_kr,
                            size_t *count);
/* UnsupportedOperationException "<arn> origin is <origin> which is not
 * valid for this operation." */
tr_result kms_origin_error(const struct key_rec *k);

/* ---------- aliases.c ------------------------------------------------ */

/* The AWS managed key "alias/aws/<service>" of rc's account and region,
 * created (with its AWS-set policy) the first time it is asked for.
 * Must run inside a store transaction (an OP_WRITE operation). */
TR_RESULT kms_managed_key(struct req_ctx *rc, const char *service, struct key_rec *out);

/* ---------- tags.c --------------------------------------------------- */

/* Validate a TagList member (CreateKey "Tags", TagResource "Tags") and
 * store it on `arn`: at most 50 tags on the resource afterwards, no
 * duplicate keys, no "aws:" prefix (tags already on the resource are
 * counted from the store).  Only validates when arn is NULL. */
TR_RESULT kms_tags_apply(struct req_ctx *rc, json_t *in, const char *member,
                         bool required, const char *arn);

/* ---------- policy_check.c ------------------------------------------- */

/* Validate a key policy document for key k (for CreateKey, the key about
 * to be created): size, grammar (policy_compile, POLICY_KEY), principals
 * that exist, and unless bypass the lockout safety check: rc->who must
 * be able to call PutKeyPolicy under the new policy.  Failures are
 * MalformedPolicyDocumentException (LimitExceededException past 32 KiB).
 * *ids (when ids is not NULL): the policy's principal binding to store
 * with it (iam/bindings.h), malloc'd. */
TR_RESULT kms_policy_check(struct req_ctx *rc, const char *text, const struct key_rec *k,
                           bool bypass, char **ids);
/* An AWS principal of a key policy or a grant: "*", an account id,
 * arn:aws:iam::<acct>:root, or an IAM user, role or role session that
 * exists.  *ok false otherwise. */
TR_RESULT kms_principal_valid(store_t st, const char *principal, bool *ok);
/* The default key policy of a new key, pretty-printed as KMS prints it;
 * malloc'd, NUL-terminated (free()). */
char *kms_default_policy(const char *account);

/* ---------- custom_key_stores.c -------------------------------------- */

/* CustomKeyStoreNotFoundException for the store with this id (or, id
 * NULL, this name): tresor has no custom key store. */
tr_result kms_custom_key_store_not_found(const char *id, const char *name)
    __attribute__((warn_unused_result));

/* ---------- util.c: request helpers ---------------------------------- */

/* An enum member: absent -> *out NULL; not in `allowed` (NULL-terminated)
 * -> ValidationException "... Member must satisfy enum value set: [..]". */
TR_RESULT kms_get_enum(json_t *in, const char *name, const char *const *allowed,
                       const char **out);
/* GrantTokens: accepted (0..10 tokens of 1..8192 chars) and ignored. */
TR_RESULT kms_grant_tokens(json_t *in);
/* DryRunOperationException, the end of a DryRun request whose checks all
 * passed. */
tr_result kms_dry_run(void);
/* Recipient (attested enclave encryption, crypt.c).  kms_recipient_member:
 * *given whether the request has one (present, not null); one that is not
 * an object is a SerializationException, as any mistyped member.
 * kms_recipient_error: UnsupportedOperationException, no attestation
 * document can be checked here.  kms_refuse_recipient: both in one. */
TR_RESULT kms_recipient_member(json_t *in, bool *given);
tr_result kms_recipient_error(void);
TR_RESULT kms_refuse_recipient(json_t *in);
/* Optional NullableBoolean member, false when absent. */
TR_RESULT kms_get_flag(json_t *in, const char *name, bool *out);
/* Whether the request has member `name` (present and not null). */
bool kms_has_member(json_t *in, const char *name);
/* Pagination markers: an opaque base64 text of the last item's sort key. */
TR_RESULT kms_marker_encode(const char *key, json_t *obj);
/* The reply of a List operation: {member: list, "Truncated": false}, or
 * with next (the sort key of the last item shown, when more follow)
 * {member: list, "NextMarker": <next's marker>, "Truncated": true}.  list
 * is taken, whatever the result. */
TR_RESULT kms_list_reply(const char *member, json_t *list, const char *next, json_t **out);
/* Appends the entry of item i of the list that arg holds to `list` (or
 * nothing, to leave the item out) and sets *key to the sort key a marker
 * resuming after it names. */
typedef TR_RESULT (*kms_item_writer)(struct req_ctx *rc, json_t *list, void *arg, size_t i,
                                     const char **key);
/* The reply of a List operation over an ordered list of n items, from
 * item `first` (the first after the marker): the entries fn writes for at
 * most `limit` items, then kms_list_reply with the key of the last of them
 * when items remain.  A list read from the store with a limit of limit + 1
 * pages the same way (first 0). */
TR_RESULT kms_page_write(struct req_ctx *rc, const char *member, size_t limit, size_t first,
                         size_t n, kms_item_writer fn, void *arg, json_t **out);
/* Decode a Marker member into out (NUL-terminated, at most n-1 bytes);
 * *present false when absent.  InvalidMarkerException when malformed. */
TR_RESULT kms_marker_decode(json_t *in, char *out, size_t n, bool *present);
/* Limit member: 1..1000 per the model, default `def`, clamped to `cap`. */
TR_RESULT kms_get_limit(json_t *in, size_t def, size_t cap, size_t *out);
/* Set a base64 member from secret bytes: the base64 text is built in a
 * secret buffer and wiped; jansson keeps its own copy (see README). */
TR_RESULT kms_set_secret_blob(json_t *obj, const char *name, const uint8_t *p, size_t n);
/* One base64 member of a reply: its name and its bytes (a secret buf is
 * encoded in wiped memory, kms_set_secret_blob). */
struct kms_blob_member {
    const char *name;
    const struct buf *b;
};
/* Hand out reply (as json_pack made it: NULL when out of memory) with the
 * n members of m added in order; reply is taken, whatever the result, and
 * *out is set only on success. */
TR_RESULT kms_reply_with_blobs(json_t *reply, const struct kms_blob_member *m, size_t n,
                               json_t **out);
/* kms_reply_with_blobs with one member. */
TR_RESULT kms_reply_with_blob(json_t *reply, const char *name, const struct buf *b, json_t **out);
/* Hand out reply (as json_pack made it) with one more member, the time
 * epoch under name (json_set_time); reply is taken, whatever the result,
 * and *out is set only on success, as kms_reply_with_blobs. */
TR_RESULT kms_reply_with_time(json_t *reply, const char *name, int64_t epoch, json_t **out);
/* Put a new JSON value under name; TR_E_INTERNAL when v is NULL. */
TR_RESULT kms_set(json_t *obj, const char *name, json_t *v);
/* Append a new JSON value to list; TR_E_INTERNAL when v is NULL. */
TR_RESULT kms_append(json_t *list, json_t *v);

/* ---------- last_usage.c: GetKeyLastUsage ---------------------------- */

/* The last successful cryptographic operation of a key (last_usage.c). */
struct kms_usage {
    const char *op;            /* "Decrypt", ... (static); NULL: none recorded */
    int64_t ts;                /* epoch seconds (rc->now) */
    char request_id[37];       /* the request's id: KmsRequestId and CloudTrailEventId */
};
/* Record that rc just used key k for a successful `op` (a name of
 * KeyLastUsageTrackingOperation, a static string): an in-memory table,
 * no store write.  Called once the operation has succeeded. */
void kms_usage_note(const struct req_ctx *rc, const struct key_rec *k, const char *op);
/* The same by key ARN (the unit tests). */
void kms_usage_note_arn(const char *arn, const char *op, int64_t ts, const char *request_id);
/* This node's unwritten entry of arn (false: none). */
bool kms_usage_peek(const char *arn, struct kms_usage *out);
/* k's last use: the newer of the stored record and this node's entry
 * (out->op NULL: none). */
TR_RESULT kms_usage_get(store_t st, const struct key_rec *k, struct kms_usage *out);
/* Write the table's entries to the store (maintenance, clean shutdown);
 * *written how many.  Entries that fail to write stay for the next call. */
TR_RESULT kms_usage_flush(store_t st, size_t *written);
/* A key is deleted: its stored record (inside the caller's transaction)
 * and its entry go. */
TR_RESULT kms_usage_forget(store_t st, const char *key_arn);
/* The date this store began tracking usage into *start; recorded as now
 * when absent and now > 0 (its own transaction), else 0 when absent. */
TR_RESULT kms_usage_tracking_start(store_t st, int64_t now, int64_t *start);
/* The static name of a tracked operation, or NULL for another. */
const char *kms_usage_op_name(const char *op);
/* Entries in the table, entries dropped because it was full, and a reset
 * (dev mode's reset, the unit tests). */
size_t kms_usage_pending(void);
uint64_t kms_usage_dropped(void);
void kms_usage_reset(void);

/* ---------- the service: ops.def, ops.c ------------------------------ */

/* The operation table (NULL-name terminated), made from ops.def, and the
 * service main.c registers. */
extern const struct op_def kms_ops[];
extern const struct op_service kms_service;
/* Periodic maintenance (rotation.c): purge keys whose deletion date has
 * passed, rotate keys whose rotation date has passed, write the key usage
 * table (last_usage.c).  Called at start-up and every minute by the
 * server (TRESOR_MAINTENANCE_INTERVAL). */
TR_RESULT kms_maintenance(const struct server_env *env, int64_t now);

/* A row flag of ops.def (within OP_SERVICE_FLAGS): GenerateDataKey* and
 * GenerateDataKeyPair* without the plaintext in the reply. */
#define KMS_OP_NO_PLAINTEXT 0x100

/* The handlers, declared from the rows of ops.def (a ...WithoutPlaintext
 * row shares its twin's); KMS_HANDLER(op_x) { ... } defines one. */
#define KMS_HANDLER(fn) OP_JSON_HANDLER(fn)
#define OP(name, handler, flags, members) KMS_HANDLER(handler);
#include "kms/ops.def"

#endif
