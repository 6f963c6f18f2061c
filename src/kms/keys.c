/*
 * keys.c -- KMS keys: CreateKey, DescribeKey, ListKeys, EnableKey,
 * DisableKey, ScheduleKeyDeletion, CancelKeyDeletion,
 * UpdateKeyDescription, GetKeyPolicy, PutKeyPolicy, ListKeyPolicies; and
 * the key/material primitives the other files build on.
 *
 * How src/kms/ is laid out
 * ------------------------
 *   ops.c          the operation table kms_ops[] (sorted by wire name):
 *                  wire name, IAM action, handler, OP_WRITE
 *   kms.h          what the files share
 *   resolve.c      KeyId in any of its four forms -> key record; key-state
 *                  rules and their messages
 *   authz.c        kms_authorize(): KMS's condition keys, the key policy
 *                  and IAM through the policy engine of src/iam/, then
 *                  grants (exists -> authorized -> state -> ciphertext)
 *   keys.c         this file: key lifecycle and key policies
 *   rotation.c     automatic and on-demand rotation, ListKeyRotations,
 *                  and kms_maintenance() (purge due keys, rotate due keys)
 *   crypt.c        Encrypt, Decrypt, ReEncrypt, GenerateDataKey*,
 *                  GenerateRandom, and their C entry points
 *   asym.c         asymmetric and HMAC keys: the key specs, their
 *                  material, GetPublicKey, Sign, Verify, GenerateMac,
 *                  VerifyMac, DeriveSharedSecret, RSAES-OAEP for crypt.c
 *   import.c       imported key material: GetParametersForImport,
 *                  ImportKeyMaterial, DeleteImportedKeyMaterial, the
 *                  import token, expiry (docs/internals/IMPORT.md)
 *   aliases.c      CreateAlias, UpdateAlias, DeleteAlias, ListAliases,
 *                  the AWS managed key aws/<service>
 *   tags.c         TagResource, UntagResource, ListResourceTags
 *   grants.c       CreateGrant, ListGrants, ListRetirableGrants,
 *                  RetireGrant, RevokeGrant; grants in authorization
 *   policy_check.c key-policy validation (engine grammar, principals that
 *                  exist) and the lockout safety check
 *   util.c         enums, markers, limits, secret base64 output
 *   ciphertext.c   the blob format (the root-key wrapping is
 *                  crypto/keyring.c)
 *
 * Keys and material
 * -----------------
 * A key is one store row (struct key_rec) plus one material row per
 * version: 32 random bytes for a symmetric key (an asymmetric key's
 * PKCS#8 private key, an HMAC key's bytes: asym.c), never stored in the clear, only as
 * keyring_wrap(root key, label "kms-material:<key-id>:<version>").  The
 * label is authenticated, so a wrapped material cannot be moved to another
 * key or version.  key_rec.current_material is the version that encrypts;
 * every version stays for decryption, because a ciphertext blob names the
 * version that sealed it (ciphertext.h).  Rotation adds version n+1.
 * Material is unwrapped into a secret buf for one operation and wiped at
 * once (buf_free).
 *
 * Multi-Region keys (CreateKey MultiRegion=true) differ only in their id,
 * "mrk-" and 32 lowercase hex digits (kms_key_is_multi_region), which
 * DescribeKey answers as MultiRegion true with a MultiRegionConfiguration
 * and which their ciphertext blobs carry (ciphertext.h, CT_V1_MRK).  A
 * primary's replicas (replica.c: ReplicateKey, UpdatePrimaryRegion) are
 * records of the same id in other regions, sharing the material rows; every
 * related record names the primary's region (key_rec.primary_region).
 *
 * Transactions: handlers flagged OP_WRITE run inside one store transaction
 * opened by the router, so a failure leaves nothing behind; read-only
 * handlers never write.  Dates are rc->now (tr_now: wall clock plus the
 * test offset).  Spec: the botocore KMS model (service-2.json) for
 * shapes and limits; docs/AUTHORIZATION.md 4 for policies and the order
 * of checks, docs/WIRE.md 5.2 for errors.
 */
#include "kms/kms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cache.h"
#include "core/hex.h"
#include "core/json.h"
#include "core/secmem.h"
#include "core/str.h"
#include "core/utf8.h"
#include "crypto/hash.h"
#include "crypto/keyring.h"
#include "crypto/rand.h"
#include "iam/bindings.h"

/* ---------------------------------------------------------------------- */
/* Material                                                                */

/* Wrap and store material version `version` of key_id: the given bytes
 * (dev mode's seed, imported material; given_len of them) or, when given is
 * NULL, fresh material of the spec (asym.c: 32 random bytes, an HMAC key,
 * a PKCS#8 private key).  meta, when not NULL, gives imported material's
 * expiry and description; replace: the version's row exists and is
 * replaced.  The local copy is wiped; `given` stays the
 * caller's to wipe. */
static TR_RESULT material_put(store_t st, const struct keyring *kr, const char *key_id,
                              uint32_t version, int64_t now, const char *rotation_type,
                              const uint8_t *given, size_t given_len, const struct kms_spec *spec,
                              const struct material_rec *meta, bool replace)
{
    struct buf m = BUF_SECRET(KMS_MATERIAL_MAX);
    char label[KEYRING_LABEL_MAX];
    struct material_rec rec;
    tr_result r = TR_OK;

    memset(&rec, 0, sizeof rec);
    rec.wrapped = BUF_INIT(KMS_MATERIAL_MAX + 256);
    if (given) r = buf_append(&m, given, given_len);
    else r = kms_material_generate(spec, &m, NULL);
    if (tr_failed(r)) goto fail;
    r = keyring_label_material(label, key_id, version);
    if (tr_ok(r)) r = keyring_wrap(kr, label, m.data, m.len, &rec.wrapped);
    if (tr_failed(r)) goto fail;
    rec.version = version;
    rec.created = now;
    rec.valid_to = meta ? meta->valid_to : 0;
    r = str_copy(rec.key_id, sizeof rec.key_id, key_id, "the key id");
    if (tr_ok(r)) r = str_copy(rec.rotation_type, sizeof rec.rotation_type, rotation_type, "the rotation type");
    if (tr_ok(r) && meta)
        r = str_copy(rec.description, sizeof rec.description, meta->description, "the description");
    if (tr_ok(r)) r = replace ? st[0]->material_update(st, &rec) : st[0]->material_put(st, &rec);
fail:
    buf_free(&m);
    buf_free(&rec.wrapped);
    return r;
}

TR_RESULT kms_material_add(store_t st, const struct keyring *kr, const char *key_id,
                           uint32_t version, int64_t now, const char *rotation_type)
{
    return material_put(st, kr, key_id, version, now, rotation_type, NULL, 0,
                        kms_spec_find("SYMMETRIC_DEFAULT"), NULL, false);
}

TR_RESULT kms_material_import(store_t st, const struct keyring *kr, const struct material_rec *meta,
                              bool replace, const uint8_t *material, size_t n)
{
    ENSURE_REF(meta);
    ENSURE_REF(material);
    ENSURE(n > 0 && n <= KMS_MATERIAL_MAX, TR_E_INTERNAL);
    return material_put(st, kr, meta->key_id, meta->version, meta->created, meta->rotation_type,
                        material, n, NULL, meta, replace);
}

/* Read material row `version` of key_id and unwrap it into out; no checks
 * on its length (the callers' own) and no cache. */
static TR_RESULT material_unwrap(store_t st, const struct keyring *kr, const char *key_id,
                                 uint32_t version, struct buf *out)
{
    struct material_rec rec;
    char label[KEYRING_LABEL_MAX];
    tr_result r;

    memset(&rec, 0, sizeof rec);
    r = st[0]->material_get(st, key_id, version, &rec);
    /* Imported material deleted or expired keeps its row, empty. */
    if (tr_ok(r) && rec.wrapped.len == 0) r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_NOT_FOUND, NULL);
    if (tr_ok(r)) r = keyring_label_material(label, key_id, version);
    if (tr_ok(r)) r = keyring_unwrap(kr, label, rec.wrapped.data, rec.wrapped.len, out);
    material_rec_free(&rec);
    return r;
}

TR_RESULT kms_material_load_any(store_t st, const struct keyring *kr, const char *key_id,
                                uint32_t version, struct buf *out)
{
    GUARD(material_unwrap(st, kr, key_id, version, out));
    if (out->len == 0 || out->len > KMS_MATERIAL_MAX) {
        buf_reset(out);
        BAIL0(TR_E_INTERNAL);
    }
    return TR_OK;
}

TR_RESULT kms_material_load(store_t st, const struct keyring *kr, const char *key_id,
                            uint32_t version, struct buf *out)
{
    if (kms_cached_material_get(st, key_id, version, out)) return TR_OK;
    GUARD(material_unwrap(st, kr, key_id, version, out));
    if (out->len != KMS_MATERIAL_LEN) {
        buf_reset(out);
        BAIL0(TR_E_INTERNAL);
    }
    kms_cached_material_put(st, key_id, version, out);
    return TR_OK;
}

/* KeyMaterialId is a pure function of (key id, version) -- public, never
 * stale -- and every Decrypt and GenerateDataKey reply carries one: each
 * thread keeps the last ones it computed (CACHES.md, `key-material-ids`),
 * addressed by the digest's input text, which is also the content. */
struct mid_cached {
    char id[65];
};

static struct cache_class mid_cache = CACHE_CLASS("key-material-ids", CACHE_BY_CONTENT,
                                                  .slots = 16,
                                                  .value_size = sizeof(struct mid_cached));

TR_RESULT kms_material_id(const char *key_id, uint32_t version, char out[65])
{
    /* Public and stable: a digest of the key id and the version, never of
     * the material itself. */
    char s[96];
    uint8_t d[SHA256_LEN];
    struct cache_key k;
    int n = snprintf(s, sizeof s, "tresor-key-material:%s:%u", key_id, (unsigned)version);
    ENSURE(n > 0 && (size_t)n < sizeof s, TR_E_INTERNAL);
    bool cached = cache_enabled();
    if (cached) {
        cache_key_init(&k);
        cache_key_bytes(&k, s, (size_t)n);
        const struct mid_cached *c = cache_get_by_content(&mid_cache, &k, s, (size_t)n);
        if (c) {
            memcpy(out, c->id, sizeof c->id);
            return TR_OK;
        }
    }
    GUARD(sha256(s, (size_t)n, d));
    hex_encode(d, sizeof d, out);
    if (cached) {
        struct mid_cached *c = cache_put_by_content(&mid_cache, &k, s, (size_t)n);
        if (c) memcpy(c->id, out, sizeof c->id);
    }
    return TR_OK;
}

/* ---------------------------------------------------------------------- */
/* Key records                                                             */

TR_RESULT kms_key_create(store_t st, const struct keyring *kr,
                         const struct kms_new_key *nk, struct key_rec *out)
{
    struct key_rec k;
    char arn[KMS_ARN_MAX + 1], res[64];
    char *dflt = NULL, *ids = NULL;
    tr_result r;

    memset(&k, 0, sizeof k);
    memset(out, 0, sizeof *out);
    const struct key_rec *pk = nk->replica_of;
    if (pk) {
        STR_COPY_ARRAY(k.key_id, pk->key_id);
    } else if (nk->key_id) {
        ENSURE(kms_is_key_id(nk->key_id), TR_E_INTERNAL);
        snprintf(k.key_id, sizeof k.key_id, "%s", nk->key_id);   /* fits: a key id, checked above */
    } else {
        r = rand_uuid(k.key_id);
        if (tr_failed(r)) goto fail;
    }
    snprintf(res, sizeof res, "key/%s", k.key_id);   /* fits: res[64] holds key/ and a key id */
    r = kms_arn(arn, sizeof arn, nk->region, nk->account, res);
    if (tr_failed(r)) goto fail;
    if (!nk->policy) {
        dflt = kms_default_policy(nk->account);
        if (!dflt) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    }
    r = str_copy(k.account_id, sizeof k.account_id, nk->account, "the account id");
    if (tr_ok(r)) r = str_copy(k.region, sizeof k.region, nk->region, "the region");
    if (tr_failed(r)) goto fail;
    k.arn = arn;
    k.description = (char *)(nk->description ? nk->description : "");
    k.policy = nk->policy ? (char *)nk->policy : dflt;
    /* The policy's principals, bound as it is saved (iam/bindings.h). */
    if (nk->policy_ids) {
        k.policy_ids = (char *)nk->policy_ids;
    } else {
        r = iam_bind_policy(st, k.policy, POLICY_KEY, &ids);
        if (tr_failed(r)) goto fail;
        k.policy_ids = ids;
    }
    const struct kms_spec *spec = kms_spec_find(pk ? pk->key_spec
                                                : nk->key_spec ? nk->key_spec : "SYMMETRIC_DEFAULT");
    if (!spec || (nk->material && spec->kind != KSK_SYMMETRIC) || (pk && (nk->material || nk->external))) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        goto fail;
    }
    if (nk->external && nk->material) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        goto fail;
    }
    if (nk->external) STR_SET(k.key_state, KEY_STATE_PENDING_IMPORT);
    else STR_SET(k.key_state, KEY_STATE_ENABLED);
    r = str_copy(k.key_usage, sizeof k.key_usage, nk->key_usage ? nk->key_usage : "ENCRYPT_DECRYPT",
                 "the key usage");
    if (tr_ok(r)) r = str_copy(k.key_spec, sizeof k.key_spec, spec->name, "the key spec");
    if (tr_failed(r)) goto fail;
    if (nk->external) STR_SET(k.origin, "EXTERNAL");
    else STR_SET(k.origin, "AWS_KMS");
    r = str_copy(k.key_manager, sizeof k.key_manager, nk->key_manager, "the key manager");
    if (tr_failed(r)) goto fail;
    k.created = nk->now;
    k.rotation_enabled = nk->rotation;
    k.rotation_period_days = 365;
    k.next_rotation = nk->rotation ? nk->now + 365 * (int64_t)KMS_DAY : 0;
    /* An EXTERNAL key has no material until ImportKeyMaterial: version 0
     * names none (import.c). */
    k.current_material = nk->external ? 0 : 1;
    /* A multi-Region key names its primary's region: its own for a new key. */
    if (kms_key_is_multi_region(&k)) STR_COPY_ARRAY(k.primary_region, k.region);
    if (pk) {
        /* A replica shares its primary's material, usage, origin and
         * rotation status; only the primary rotates (next_rotation 0). */
        STR_COPY_ARRAY(k.key_usage, pk->key_usage);
        STR_COPY_ARRAY(k.origin, pk->origin);
        STR_COPY_ARRAY(k.primary_region, pk->primary_region);
        k.rotation_enabled = pk->rotation_enabled;
        k.rotation_period_days = pk->rotation_period_days;
        k.next_rotation = 0;
        k.current_material = pk->current_material;
        /* Imported material is imported into each replica (import.c). */
        if (strcmp(pk->origin, "EXTERNAL") == 0) {
            k.current_material = 0;
            STR_SET(k.key_state, KEY_STATE_PENDING_IMPORT);
        }
    }

    r = st[0]->key_put(st, &k);
    if (tr_failed(r)) goto fail;
    if (!nk->external && !pk)
        r = material_put(st, kr, k.key_id, 1, nk->now, "", nk->material, KMS_MATERIAL_LEN, spec,
                         NULL, false);
    if (tr_failed(r)) goto fail;
    r = kms_key_lookup(st, k.key_id, k.region, out);
    if (tr_failed(r)) key_rec_free(out);
fail:
    free(dflt);
    free(ids);
    return r;
}

bool kms_key_is_multi_region(const struct key_rec *k)
{
    return strncmp(k->key_id, "mrk-", 4) == 0;
}

bool kms_key_is_replica(const struct key_rec *k)
{
    return kms_key_is_multi_region(k) && k->primary_region[0] &&
           strcmp(k->region, k->primary_region) != 0;
}

/* MultiRegionConfiguration of a multi-Region key (DescribeKey: "present
 * only when the value of the MultiRegion field is True"): its type,
 * PrimaryKey (the primary's ARN and region, the key itself when it is the
 * primary) and ReplicaKeys, every replica's -- the same list in every
 * related key, a replica's including itself (API reference,
 * MultiRegionConfiguration), ordered by region. */
static TR_RESULT multi_region_config(store_t st, const struct key_rec *k, json_t *md)
{
    struct key_rec *rel = NULL;
    size_t n = 0;
    const char *primary = k->primary_region[0] ? k->primary_region : k->region;
    char parn[KMS_ARN_MAX + 1], res[64];
    json_t *replicas = json_array();
    tr_result r = TR_OK;

    ENSURE(replicas != NULL, TR_E_INTERNAL);
    snprintf(res, sizeof res, "key/%s", k->key_id);     /* fits: a key id in res[64] */
    r = kms_arn(parn, sizeof parn, primary, k->account_id, res);
    if (tr_ok(r)) r = st[0]->key_list_related(st, k->key_id, &rel, &n);
    for (size_t i = 0; tr_ok(r) && i < n; i++) {
        if (strcmp(rel[i].region, primary) == 0 || strcmp(rel[i].account_id, k->account_id) != 0)
            continue;
        r = kms_append(replicas, json_pack("{s:s, s:s}", "Arn", rel[i].arn, "Region", rel[i].region));
    }
    key_list_free(rel, n);
    if (tr_failed(r)) {
        json_decref(replicas);
        return r;
    }
    json_t *conf = json_pack("{s:s, s:{s:s, s:s}, s:o}", "MultiRegionKeyType",
                             kms_key_is_replica(k) ? "REPLICA" : "PRIMARY", "PrimaryKey", "Arn",
                             parn, "Region", primary, "ReplicaKeys", replicas);
    return kms_set(md, "MultiRegionConfiguration", conf);
}

TR_RESULT kms_key_metadata(store_t st, const struct key_rec *k, json_t **out)
{
    json_t *md = json_object();
    char mid[65];
    tr_result r = TR_OK;
    bool pending = strcmp(k->key_state, KEY_STATE_PENDING_DELETION) == 0;
    bool replica_pending = strcmp(k->key_state, KEY_STATE_PENDING_REPLICA_DELETION) == 0;

    ENSURE(md != NULL, TR_E_INTERNAL);
#define SET(name, v) do { r = kms_set(md, name, v); if (tr_failed(r)) goto fail; } while (0)
    SET("AWSAccountId", json_string(k->account_id));
    SET("KeyId", json_string(k->key_id));
    SET("Arn", json_string(k->arn));
    r = json_set_time(md, "CreationDate", k->created);
    if (tr_failed(r)) goto fail;
    SET("Enabled", json_boolean(strcmp(k->key_state, KEY_STATE_ENABLED) == 0));
    SET("Description", json_string(k->description ? k->description : ""));
    SET("KeyUsage", json_string(k->key_usage));
    SET("KeyState", json_string(k->key_state));
    if (pending) {
        r = json_set_time(md, "DeletionDate", k->deletion_date);
        if (tr_failed(r)) goto fail;
    }
    SET("Origin", json_string(k->origin));
    /* Imported material: how the current material expires, while the key
     * has it (AWS omits both without material; import.c). */
    bool imported = strcmp(k->origin, "EXTERNAL") == 0 && k->current_material > 0;
    if (imported) {
        int64_t valid_to;
        r = kms_import_valid_to(st, k, &valid_to);
        if (tr_failed(r)) goto fail;
        SET("ExpirationModel", json_string(valid_to > 0 ? "KEY_MATERIAL_EXPIRES"
                                                        : "KEY_MATERIAL_DOES_NOT_EXPIRE"));
        if (valid_to > 0) {
            r = json_set_time(md, "ValidTo", valid_to);
            if (tr_failed(r)) goto fail;
        }
    }
    SET("KeyManager", json_string(k->key_manager));
    SET("CustomerMasterKeySpec", json_string(k->key_spec));
    SET("KeySpec", json_string(k->key_spec));
    r = kms_key_algorithms(k, md);
    if (tr_failed(r)) goto fail;
    SET("MultiRegion", json_boolean(kms_key_is_multi_region(k)));
    if (kms_key_is_multi_region(k)) {
        r = multi_region_config(st, k, md);
        if (tr_failed(r)) goto fail;
    }
    if (pending || replica_pending)
        SET("PendingDeletionWindowInDays", json_integer(k->pending_window_days));
    /* Symmetric encryption keys only, as AWS: key material ids name
     * rotatable material. */
    if (kms_key_is_symmetric(k) && k->current_material > 0) {
        r = kms_material_id(k->key_id, k->current_material, mid);
        if (tr_failed(r)) goto fail;
        SET("CurrentKeyMaterialId", json_string(mid));
    }
#undef SET
    *out = md;
    return TR_OK;
fail:
    json_decref(md);
    return r;
}

/* {"KeyMetadata": ...} */
static TR_RESULT metadata_reply(store_t st, const struct key_rec *k, json_t **out)
{
    json_t *md = NULL;
    GUARD(kms_key_metadata(st, k, &md));
    json_t *o = json_pack("{s:o}", "KeyMetadata", md);
    ENSURE(o != NULL, TR_E_INTERNAL);
    *out = o;
    return TR_OK;
}

TR_RESULT kms_get_policy(json_t *in, bool required, const char **out)
{
    GUARD(json_get_str(in, "Policy", required, 1, 131072, out));
    static const struct utf8_range CHARS[] = { { 0x09, 0x0A }, { 0x0D, 0x0D }, { 0x20, 0xFF } };
    if (*out && !utf8_in_class(*out, CHARS, sizeof CHARS / sizeof CHARS[0])) {
        char q[80];
        snprintf(q, sizeof q, "'%.64s'", *out);    /* fits: 64 and two quotes */
        return json_invalid("Policy", q,
            "Member must satisfy regular expression pattern: "
            "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+");
    }
    return TR_OK;
}

/* PolicyName member: optional, 1..128 word characters, must be "default". */
static TR_RESULT get_policy_name(json_t *in, bool *is_default)
{
    const char *s;
    GUARD(json_get_str(in, "PolicyName", false, 1, 128, &s));
    *is_default = true;
    if (!s) return TR_OK;
    for (const char *c = s; *c; c++) {
        if (!(*c == '_' || (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') ||
              (*c >= 'A' && *c <= 'Z'))) {
            char q[80];
            snprintf(q, sizeof q, "'%.64s'", s);    /* fits: 64 and two quotes */
            return json_invalid("PolicyName", q,
                                "Member must satisfy regular expression pattern: [\\w]+");
        }
    }
    *is_default = strcmp(s, "default") == 0;
    return TR_OK;
}

/* ---------------------------------------------------------------------- */
/* CreateKey                                                               */

static const char *const KEY_USAGES[] = { "SIGN_VERIFY", "ENCRYPT_DECRYPT",
                                          "GENERATE_VERIFY_MAC", "KEY_AGREEMENT", NULL };
static const char *const CMK_SPECS[] = { "RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256",
                                         "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1",
                                         "SYMMETRIC_DEFAULT", "HMAC_224", "HMAC_256",
                                         "HMAC_384", "HMAC_512", "SM2", NULL };
static const char *const KEY_SPECS[] = { "RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256",
                                         "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1",
                                         "SYMMETRIC_DEFAULT", "HMAC_224", "HMAC_256",
                                         "HMAC_384", "HMAC_512", "SM2", "ML_DSA_44",
                                         "ML_DSA_65", "ML_DSA_87", "ECC_NIST_EDWARDS25519",
                                         NULL };
static const char *const ORIGINS[] = { "AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM",
                                       "EXTERNAL_KEY_STORE", NULL };

static TR_RESULT check_xks_key_id(const char *s)
{
    for (const char *c = s; *c; c++) {
        if (!(*c == '-' || *c == '_' || *c == '.' || (*c >= '0' && *c <= '9') ||
              (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z'))) {
            char q[80];
            snprintf(q, sizeof q, "'%.64s'", s);    /* fits: 64 and two quotes */
            return json_invalid("XksKeyId", q,
                "Member must satisfy regular expression pattern: ^[a-zA-Z0-9-_.]+$");
        }
    }
    return TR_OK;
}

KMS_HANDLER(op_create_key)
{
    const char *policy, *desc, *usage, *cmk_spec, *spec, *origin, *cks, *xks;
    bool bypass, multi;
    struct key_rec k;
    json_t *reply = NULL;
    tr_result r;

    memset(&k, 0, sizeof k);
    /* 1. The model's constraints, member by member. */
    GUARD(kms_get_policy(in, false, &policy));
    GUARD(json_get_str(in, "Description", false, 0, 8192, &desc));
    GUARD(kms_get_enum(in, "KeyUsage", KEY_USAGES, &usage));
    GUARD(kms_get_enum(in, "CustomerMasterKeySpec", CMK_SPECS, &cmk_spec));
    GUARD(kms_get_enum(in, "KeySpec", KEY_SPECS, &spec));
    GUARD(kms_get_enum(in, "Origin", ORIGINS, &origin));
    GUARD(json_get_str(in, "CustomKeyStoreId", false, 1, 64, &cks));
    GUARD(kms_get_flag(in, "BypassPolicyLockoutSafetyCheck", &bypass));
    GUARD(kms_get_flag(in, "MultiRegion", &multi));
    GUARD(json_get_str(in, "XksKeyId", false, 1, 128, &xks));
    if (xks) GUARD(check_xks_key_id(xks));
    GUARD(kms_tags_apply(rc, in, "Tags", false, NULL));

    /* 2. What the combination means, and what tresor does not do yet. */
    if (spec && cmk_spec)
        BAIL(TR_E_VALIDATION, "You cannot specify KeySpec and CustomerMasterKeySpec in the "
             "same request. CustomerMasterKeySpec parameter is deprecated. Use KeySpec "
             "parameter instead.");
    const char *eff = spec ? spec : cmk_spec ? cmk_spec : "SYMMETRIC_DEFAULT";
    /* SM2 (China Regions only), ML-DSA and Ed25519 (OpenSSL 3.0 has no
     * ML-DSA and no Ed25519ph): AWS's answer for a spec a region does not
     * offer. */
    const struct kms_spec *ks = kms_spec_find(eff);
    if (!ks) BAIL(TR_E_KMS_UNSUPPORTED, "KeySpec %s is not supported", eff);
    if (!usage && ks->kind != KSK_SYMMETRIC)
        BAIL(TR_E_VALIDATION, "You must specify a KeyUsage value for all KMS keys except for "
             "symmetric encryption keys.");
    const char *eff_usage = usage ? usage : "ENCRYPT_DECRYPT";
    if (!kms_spec_allows_usage(ks, eff_usage))
        BAIL(TR_E_VALIDATION, "KeyUsage %s is not compatible with KeySpec %s", eff_usage, eff);
    bool external = origin && strcmp(origin, "EXTERNAL") == 0;
    /* A key in a custom key store: the origin names the store's type, the
     * CustomKeyStoreId the store, and an external key store's key its
     * external key (XksKeyId).  tresor has no custom key store, so a
     * well-formed request ends in CustomKeyStoreNotFoundException
     * (custom_key_stores.c) -- before the authorization below, whose
     * kms:KeyOrigin a key record cannot hold for EXTERNAL_KEY_STORE. */
    bool in_cks = origin && (strcmp(origin, "AWS_CLOUDHSM") == 0 ||
                             strcmp(origin, "EXTERNAL_KEY_STORE") == 0);
    bool xks_origin = in_cks && strcmp(origin, "EXTERNAL_KEY_STORE") == 0;
    /* A key in a custom key store is a symmetric encryption key in a
     * single Region (API reference, CreateKey: CustomKeyStoreId). */
    if ((in_cks || cks) && multi)
        BAIL(TR_E_KMS_UNSUPPORTED, "A multi-Region key cannot be created in a custom key store.");
    if ((in_cks || cks) && strcmp(ks->name, "SYMMETRIC_DEFAULT") != 0)
        BAIL(TR_E_KMS_UNSUPPORTED, "KeySpec %s cannot be created in a custom key store: only "
             "SYMMETRIC_DEFAULT.", ks->name);
    if (in_cks && !cks)
        BAIL(TR_E_VALIDATION, "CustomKeyStoreId is required when Origin is %s.", origin);
    if (!in_cks && cks)
        BAIL(TR_E_VALIDATION, "CustomKeyStoreId is valid only when Origin is AWS_CLOUDHSM or "
             "EXTERNAL_KEY_STORE.");
    if (xks_origin && !xks)
        BAIL(TR_E_VALIDATION, "XksKeyId is required when Origin is EXTERNAL_KEY_STORE.");
    if (!xks_origin && xks)
        BAIL(TR_E_VALIDATION, "XksKeyId is valid only when Origin is EXTERNAL_KEY_STORE.");
    if (cks) return kms_custom_key_store_not_found(cks, NULL);
    /* The key asked for, before it exists: its properties are condition
     * keys of CreateKey, and the lockout check evaluates PutKeyPolicy on
     * its ARN. */
    struct key_rec proto;
    char new_id[37], res[64], arn[KMS_ARN_MAX + 1];
    memset(&proto, 0, sizeof proto);
    /* A multi-Region key's id is "mrk-" and 32 lowercase hex digits,
     * the same in every region it is replicated to. */
    if (multi) {
        uint8_t raw[16];
        GUARD(rand_bytes(raw, sizeof raw));
        memcpy(new_id, "mrk-", 4);
        hex_encode(raw, sizeof raw, new_id + 4);
        new_id[4 + 2 * sizeof raw] = '\0';
    } else {
        GUARD(rand_uuid(new_id));
    }
    snprintf(res, sizeof res, "key/%s", new_id);     /* fits: new_id[37] in res[64] */
    GUARD(kms_arn(arn, sizeof arn, rc->region, rc->who.account_id, res));
    STR_COPY_ARRAY(proto.key_id, new_id);
    STR_COPY_ARRAY(proto.account_id, rc->who.account_id);
    GUARD(str_copy(proto.region, sizeof proto.region, rc->region, "the region"));
    proto.arn = arn;
    STR_SET(proto.key_state, KEY_STATE_ENABLED);
    GUARD(str_copy(proto.key_usage, sizeof proto.key_usage, eff_usage, "the key usage"));
    GUARD(str_copy(proto.key_spec, sizeof proto.key_spec, ks->name, "the key spec"));
    if (external) STR_SET(proto.origin, "EXTERNAL");
    else STR_SET(proto.origin, "AWS_KMS");
    STR_SET(proto.key_manager, "CUSTOMER");
    struct kms_authz_in az = { .props = &proto, .has_bypass = kms_has_member(in, "BypassPolicyLockoutSafetyCheck"),
                               .bypass = bypass, .request_tags = json_object_get(in, "Tags") };
    GUARD(kms_authorize_in(rc, rc->op->action, NULL, &az));
    char *ids = NULL;
    if (policy) GUARD(kms_policy_check(rc, policy, &proto, bypass, &ids));

    /* 3. Write: the key, its first material, its tags. */
    struct kms_new_key nk = {
        .account = rc->who.account_id, .region = rc->region, .description = desc,
        .policy = policy, .policy_ids = ids, .key_manager = "CUSTOMER", .rotation = false,
        .now = rc->now, .key_id = new_id, .key_spec = ks->name, .key_usage = eff_usage,
        .external = external,
    };
    r = kms_key_create(rc->st, rc->kr, &nk, &k);
    free(ids);
    if (tr_failed(r)) goto fail;
    r = kms_tags_apply(rc, in, "Tags", false, k.arn);
    if (tr_failed(r)) goto fail;
    r = metadata_reply(rc->st, &k, &reply);
    if (tr_failed(r)) goto fail;
    *out = reply;
fail:
    key_rec_free(&k);
    return r;
}

/* ---------------------------------------------------------------------- */
/* DescribeKey, ListKeys                                                   */

KMS_HANDLER(op_describe_key)
{
    struct key_rec k;
    GUARD(kms_grant_tokens(in));
    GUARD(kms_key_for(rc, in, KR_ALIAS | KR_XACCT, rc->op->action, KS_ANY, NULL, &k));
    tr_result r = metadata_reply(rc->st, &k, out);
    key_rec_free(&k);
    return r;
}

static TR_RESULT write_key(struct req_ctx *rc, json_t *list, void *arg, size_t i,
                           const char **key)
{
    const struct key_rec *k = (const struct key_rec *)arg + i;
    (void)rc;
    *key = k->key_id;
    return kms_append(list, json_pack("{s:s, s:s}", "KeyId", k->key_id, "KeyArn", k->arn));
}

KMS_HANDLER(op_list_keys)
{
    size_t limit, n = 0;
    bool has_marker;
    char after[64];
    struct key_rec *keys = NULL;

    GUARD(kms_get_limit(in, 100, 1000, &limit));
    GUARD(kms_marker_decode(in, after, sizeof after, &has_marker));
    if (has_marker && !kms_is_key_id(after)) BAIL(TR_E_KMS_INVALID_MARKER, "Invalid marker");
    GUARD(kms_authorize(rc, rc->op->action, NULL, NULL));

    tr_result r = rc->st[0]->key_list(rc->st, rc->who.account_id, rc->region,
                                      has_marker ? after : NULL, limit + 1, &keys, &n);
    if (tr_ok(r)) r = kms_page_write(rc, "Keys", limit, 0, n, write_key, keys, out);
    key_list_free(keys, n);
    return r;
}

/* ---------------------------------------------------------------------- */
/* EnableKey, DisableKey, ScheduleKeyDeletion, CancelKeyDeletion,          */
/* UpdateKeyDescription                                                    */

static TR_RESULT set_state(struct req_ctx *rc, json_t *in, const char *action,
                           const char *state)
{
    struct key_rec k;
    GUARD(kms_key_for(rc, in, KR_KEY_ONLY, action, KS_TOGGLE, NULL, &k));
    tr_result r = TR_OK;
    if (strcmp(k.key_state, state) != 0) {
        r = str_copy(k.key_state, sizeof k.key_state, state, "the key state");
        if (tr_ok(r)) r = rc->st[0]->key_update(rc->st, &k);
        if (tr_ok(r) && strcmp(state, KEY_STATE_ENABLED) != 0) kms_forget_unwrapped();
    }
    key_rec_free(&k);
    return r;
}

KMS_HANDLER(op_enable_key)
{
    (void)out;
    return set_state(rc, in, rc->op->action, KEY_STATE_ENABLED);
}

KMS_HANDLER(op_disable_key)
{
    (void)out;
    return set_state(rc, in, rc->op->action, KEY_STATE_DISABLED);
}

KMS_HANDLER(op_schedule_key_deletion)
{
    bool present;
    int64_t days = 30;
    struct key_rec k;

    GUARD(json_get_int(in, "PendingWindowInDays", false, 1, 365, &present, &days));
    if (!present) days = 30;
    if (days < 7 || days > 30)
        BAIL(TR_E_VALIDATION, "PendingWindowInDays should be between 7 and 30, but it is %lld",
             (long long)days);
    struct kms_authz_in az = { .pending_window_days = (int)days };
    GUARD(kms_key_for(rc, in, KR_KEY_ONLY, rc->op->action, KS_NOT_PENDING, &az, &k));

    /* A multi-Region primary with replicas waits for them: its waiting
     * period begins when the last is deleted (kms_replica_deleted), and
     * no DeletionDate is known until then. */
    bool replicas = false;
    tr_result r = kms_key_has_replicas(rc->st, &k, &replicas);
    if (tr_failed(r)) goto done;
    if (replicas) STR_SET(k.key_state, KEY_STATE_PENDING_REPLICA_DELETION);
    else STR_SET(k.key_state, KEY_STATE_PENDING_DELETION);
    k.deletion_date = replicas ? 0 : rc->now + days * KMS_DAY;
    k.pending_window_days = (int)days;
    r = rc->st[0]->key_update(rc->st, &k);
    if (tr_ok(r)) kms_forget_unwrapped();
    if (tr_ok(r) && replicas) {
        *out = json_pack("{s:s, s:s, s:I}", "KeyId", k.arn, "KeyState",
                         KEY_STATE_PENDING_REPLICA_DELETION, "PendingWindowInDays", (json_int_t)days);
        if (!*out) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    } else if (tr_ok(r)) {
        r = kms_reply_with_time(json_pack("{s:s, s:s, s:I}", "KeyId", k.arn, "KeyState",
                                          KEY_STATE_PENDING_DELETION, "PendingWindowInDays",
                                          (json_int_t)days),
                                "DeletionDate", k.deletion_date, out);
    }
done:
    key_rec_free(&k);
    return r;
}

KMS_HANDLER(op_cancel_key_deletion)
{
    struct key_rec k;
    GUARD(kms_key_for(rc, in, KR_KEY_ONLY, rc->op->action, KS_PENDING, NULL, &k));
    /* As AWS does: the key comes back Disabled; EnableKey turns it on.
     * A key without its imported material comes back PendingImport. */
    if (k.current_material == 0) STR_SET(k.key_state, KEY_STATE_PENDING_IMPORT);
    else STR_SET(k.key_state, KEY_STATE_DISABLED);
    k.deletion_date = 0;
    k.pending_window_days = 0;
    tr_result r = rc->st[0]->key_update(rc->st, &k);
    if (tr_ok(r)) {
        *out = json_pack("{s:s}", "KeyId", k.arn);
        if (!*out) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    key_rec_free(&k);
    return r;
}

KMS_HANDLER(op_update_key_description)
{
    const char *desc;
    struct key_rec k;
    (void)out;
    GUARD(json_get_str(in, "Description", true, 0, 8192, &desc));
    GUARD(kms_key_for(rc, in, KR_KEY_ONLY, rc->op->action, KS_NOT_PENDING, NULL, &k));
    char *old = k.description;
    k.description = (char *)desc;
    tr_result r = rc->st[0]->key_update(rc->st, &k);
    k.description = old;
    key_rec_free(&k);
    return r;
}

/* ---------------------------------------------------------------------- */
/* Key policies                                                            */

KMS_HANDLER(op_get_key_policy)
{
    bool is_default;
    struct key_rec k;
    GUARD(get_policy_name(in, &is_default));
    GUARD(kms_key_for(rc, in, KR_KEY_ONLY, rc->op->action, KS_ANY, NULL, &k));
    tr_result r = TR_OK;
    if (!is_default) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_NOT_FOUND, "No such policy exists");
    } else {
        /* A bound principal gone since reads as its unique id (AWS). */
        char *shown = NULL;
        r = iam_policy_shown(rc->st, k.policy, k.policy_ids, &shown);
        if (tr_ok(r)) *out = json_pack("{s:s, s:s}", "Policy", shown ? shown : k.policy, "PolicyName",
                                       "default");
        if (tr_ok(r) && !*out) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        free(shown);
    }
    key_rec_free(&k);
    return r;
}

KMS_HANDLER(op_put_key_policy)
{
    const char *policy;
    bool is_default, bypass;
    struct key_rec k;
    (void)out;
    GUARD(kms_get_policy(in, true, &policy));
    GUARD(get_policy_name(in, &is_default));
    GUARD(kms_get_flag(in, "BypassPolicyLockoutSafetyCheck", &bypass));
    struct kms_authz_in az = { .has_bypass = kms_has_member(in, "BypassPolicyLockoutSafetyCheck"),
                               .bypass = bypass };
    GUARD(kms_key_for(rc, in, KR_KEY_ONLY, rc->op->action, KS_ANY, &az, &k));
    tr_result r;
    if (!is_default) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_UNSUPPORTED,
                       "Only the default key policy is supported: PolicyName must be \"default\".");
        goto fail;
    }
    char *ids = NULL;
    r = kms_policy_check(rc, policy, &k, bypass, &ids);
    if (tr_failed(r)) goto fail;
    char *old = k.policy, *old_ids = k.policy_ids;
    k.policy = (char *)policy;
    k.policy_ids = ids;
    r = rc->st[0]->key_update(rc->st, &k);
    k.policy = old;
    k.policy_ids = old_ids;
    free(ids);
fail:
    key_rec_free(&k);
    return r;
}

KMS_HANDLER(op_list_key_policies)
{
    size_t limit;
    bool has_marker;
    char after[64];
    struct key_rec k;
    GUARD(kms_get_limit(in, 100, 1000, &limit));
    GUARD(kms_marker_decode(in, after, sizeof after, &has_marker));
    /* Only one policy exists and no marker is ever handed out. */
    if (has_marker) BAIL(TR_E_KMS_INVALID_MARKER, "Invalid marker");
    GUARD(kms_key_for(rc, in, KR_KEY_ONLY, rc->op->action, KS_ANY, NULL, &k));
    key_rec_free(&k);
    *out = json_pack("{s:[s], s:b}", "PolicyNames", "default", "Truncated", 0);
    ENSURE(*out != NULL, TR_E_INTERNAL);
    return TR_OK;
}
