/*
 * envelope.c -- seal and open secret values with per-version data keys
 * from KMS, calling KMS as the caller through Secrets Manager.
 *
 * Seal (docs/ARCHITECTURE.md 2; docs/AUTHORIZATION.md 5.3):
 *   1. GenerateDataKey (AES_256, 32 bytes) on the secret's key, context
 *      {"SecretARN": arn, "SecretVersionId": version id}, with
 *      rc->via_service set for the call only;
 *   2. AES-256-GCM over the value with a random 96-bit IV and the AAD
 *      "tresor-secret-v1|<arn>|<version id>" -- the AAD binds a ct to its
 *      secret and version, so swapping ct between versions or secrets in
 *      the store fails to open;
 *   3. the plaintext data key is wiped right after the seal; the version
 *      doc keeps base64 of the KMS blob (edk) and of iv|ct|tag (ct).
 * Open: KMS Decrypt of edk (the key comes from the blob; same context),
 * then AES-256-GCM open; the data key is wiped at once.
 *
 * Errors (envelope.h has the table).  Choices where AWS is not public
 * (docs/AUTHORIZATION.md 8.1): a Disabled or PendingDeletion key gives
 * DecryptionFailure on reads and EncryptionFailure on writes, each
 * followed by KMS's sentence on the key state ("<key ARN> is disabled.");
 * a tampered edk or ct gives DecryptionFailure (the value cannot be
 * decrypted: one answer for both, as KMS blinds its own failures); an
 * unknown KmsKeyId given by the caller is InvalidParameterException
 * (boto3 issue #1533 reports that code for an invalid key id or alias).
 *
 * Which key: the secret's KmsKeyId, a key id or an alias name meaning a
 * key of the secret's own account and region whoever writes
 * (qualified_key_id), else the AWS managed key of the secret's account.
 * Each version records the ARN of the key that sealed it (key_arn).
 *
 * Nothing here logs, and no message carries a value or key byte.
 */
#include "secrets/envelope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cache.h"
#include "core/json.h"
#include "core/tlocal.h"
#include "crypto/aead.h"
#include "crypto/rand.h"
#include "kms/kms.h"
#include "secrets/describe.h"

#define AAD_PREFIX "tresor-secret-v1|"
#define VALIDATE_VERSION "RequestToValidateKeyAccess"

static const char *const ENC_FAIL_MSG =
    "Secrets Manager can't encrypt the protected secret text using the provided KMS key. "
    "Check that the KMS key is available, enabled, and not in an invalid state.";
static const char *const DEC_FAIL_MSG =
    "Secrets Manager can't decrypt the protected secret text using the provided KMS key.";

/* rc->via_service for the duration of one KMS call. */
struct via {
    char name[96];
    const char *saved;
};

static void via_enter(struct req_ctx *rc, struct via *v)
{
    _Static_assert(sizeof v->name >= sizeof "secretsmanager..amazonaws.com" + sizeof rc->region, "name");
    size_t n = strnlen(rc->region, sizeof rc->region - 1);
    memcpy(v->name, "secretsmanager.", 15);                             /* fits: asserted */
    memcpy(v->name + 15, rc->region, n);
    memcpy(v->name + 15 + n, ".amazonaws.com", sizeof ".amazonaws.com");
    v->saved = rc->via_service;
    rc->via_service = v->name;
}

static void via_leave(struct req_ctx *rc, const struct via *v)
{
    rc->via_service = v->saved;
}

/* A KMS failure as Secrets Manager reports it.  `sealing` picks
 * EncryptionFailure over DecryptionFailure. */
static tr_result kms_failure(tr_result r, bool sealing)
{
    const struct tr_error_info *e = tr_last_error();
    char kms_msg[TR_ERR_MSG_MAX];
    snprintf(kms_msg, sizeof kms_msg, "%s", e->has_message ? e->message : "");    /* fits: as large */
    switch (tr_code(r)) {
    case TR_E_ACCESS_DENIED:
        return tr_fail_at(__FILE__, __LINE__, TR_E_ACCESS_DENIED, "%s", SM_MSG_KMS_DENIED);
    case TR_E_KMS_DISABLED:
    case TR_E_KMS_INVALID_STATE:
        if (sealing)
            return tr_fail_at(__FILE__, __LINE__, TR_E_SM_ENCRYPTION_FAILURE, "%s %s",
                              ENC_FAIL_MSG, kms_msg);
        return tr_fail_at(__FILE__, __LINE__, TR_E_SM_DECRYPTION_FAILURE, "%s %s",
                          DEC_FAIL_MSG, kms_msg);
    case TR_E_KMS_NOT_FOUND:
    case TR_E_STORE_NOT_FOUND:
    case TR_E_KMS_INVALID_KEY_USAGE:
    case TR_E_KMS_INCORRECT_KEY:
    case TR_E_KMS_INVALID_ARN:
    case TR_E_KMS_INVALID_CIPHERTEXT:
        if (sealing)
            return tr_fail_at(__FILE__, __LINE__, TR_E_SM_ENCRYPTION_FAILURE, "%s", ENC_FAIL_MSG);
        return tr_fail_at(__FILE__, __LINE__, TR_E_SM_DECRYPTION_FAILURE, "%s", DEC_FAIL_MSG);
    default:
        return r;   /* internal and validation failures pass unchanged */
    }
}

/* {"SecretARN": arn, "SecretVersionId": version_id} (NULL when memory or
 * UTF-8 fails), member by member rather than through json_pack's format. */
static json_t *enc_context(const char *arn, const char *version_id)
{
    json_t *o = json_object();
    if (o && (json_object_set_new(o, "SecretARN", json_string(arn)) != 0
              || json_object_set_new(o, "SecretVersionId", json_string(version_id)) != 0)) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* sm_open's encryption context, kept by each thread for its next read of
 * the same version (a GetSecretValue built and freed a jansson object of
 * two strings every time: ~3.3 k instructions).  The object is never
 * changed once made -- KMS only reads it -- and holds the ARN and the
 * version id, nothing secret; a thread's is released when it exits.  It
 * follows the caches' switch (core/cache.h), and is listed with them
 * (docs/internals/CACHES.md). */
struct ctx_memo {
    json_t *ctx;
};

static void ctx_memo_drop(void *p)
{
    struct ctx_memo *m = p;
    json_decref(m->ctx);
    free(m);
}

static struct tlocal_slot ctx_memo_slot = TLOCAL_SLOT(ctx_memo_drop);

/* enc_context(arn, version_id) as a new reference: this thread's last one
 * when it names the same version, else made (and kept in its place). */
static json_t *enc_context_memo(const char *arn, const char *version_id)
{
    if (!cache_enabled()) return enc_context(arn, version_id);      /* the switch */
    struct ctx_memo *m = tlocal_get(&ctx_memo_slot, sizeof *m);
    if (m && m->ctx) {
        const char *a = json_string_value(json_object_get(m->ctx, "SecretARN"));
        const char *v = json_string_value(json_object_get(m->ctx, "SecretVersionId"));
        if (a && v && strcmp(v, version_id) == 0 && strcmp(a, arn) == 0)
            return json_incref(m->ctx);
    }
    json_t *o = enc_context(arn, version_id);
    if (o && m) {
        json_decref(m->ctx);
        m->ctx = json_incref(o);
    }
    return o;
}

/* "tresor-secret-v1|<arn>|<version id>" into aad (a plain buf). */
static TR_RESULT make_aad(const char *arn, const char *version_id, struct buf *aad)
{
    size_t na = strlen(arn), nv = strlen(version_id);
    GUARD(buf_reserve(aad, sizeof AAD_PREFIX + na + nv));
    GUARD(buf_append(aad, AAD_PREFIX, sizeof AAD_PREFIX - 1));
    GUARD(buf_append(aad, arn, na));
    GUARD(buf_append(aad, "|", 1));
    return buf_append(aad, version_id, nv);
}

static bool is_managed_alias(const char *id)
{
    if (strcmp(id, SM_MANAGED_ALIAS) == 0) return true;
    /* arn:aws:kms:<region>:<account>:alias/aws/secretsmanager */
    size_t n = strlen(id), m = strlen(SM_MANAGED_ALIAS);
    return strncmp(id, "arn:aws:kms:", 12) == 0 && n > m && id[n - m - 1] == ':' &&
           strcmp(id + n - m, SM_MANAGED_ALIAS) == 0;
}

/* A secret's KmsKeyId as KMS must be asked: a key id or an alias name
 * means a key of the secret's own account and region, whoever calls --
 * handed to KMS as is it would resolve in the caller's account, and a
 * writer of another account would seal the owner's new versions under a
 * key of its own -- so it becomes the key ARN or alias ARN there.  ARNs
 * are kept.  malloc'd into *out. */
static TR_RESULT qualified_key_id(const char *account, const char *region, const char *id,
                                  char **out)
{
    *out = NULL;
    size_t n = strlen(id) + strlen(account) + strlen(region) + 32;
    char *q = malloc(n);
    ENSURE(q != NULL, TR_E_INTERNAL);
    /* fits: n is measured above, with 32 to spare for the literals */
    if (strncmp(id, "arn:", 4) == 0) snprintf(q, n, "%s", id);  /* fits: as above */
    else if (strncmp(id, "alias/", 6) == 0)     /* fits: as above */
        snprintf(q, n, "arn:aws:kms:%s:%s:%s", region, account, id);
    else snprintf(q, n, "arn:aws:kms:%s:%s:key/%s", region, account, id);   /* fits: as above */
    *out = q;
    return TR_OK;
}

TR_RESULT sm_key_check(struct req_ctx *rc, const char *account, const char *region,
                       const char *key_id, bool *managed, char **key_arn)
{
    struct key_rec k;
    char *q = NULL;
    tr_result r;
    *managed = false;
    *key_arn = NULL;
    memset(&k, 0, sizeof k);
    if (!*key_id || is_managed_alias(key_id)) {
        *managed = true;
        /* The managed key of another account's secret cannot serve this
         * caller: its key policy admits only callers of that account
         * (kms:CallerAccount), so the KMS step would be refused. */
        if (strcmp(account, rc->who.account_id) != 0)
            BAIL(TR_E_ACCESS_DENIED, "%s", SM_MSG_KMS_DENIED);
        r = kms_managed_key(rc, "secretsmanager", &k);
    } else {
        r = qualified_key_id(account, region, key_id, &q);
        if (tr_ok(r)) r = kms_resolve(rc, q, KR_ALIAS | KR_XACCT, &k);
        if (tr_failed(r) && tr_err_status(tr_code(r)) < 500)   /* not internal (the store's too) */
            r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_INVALID_PARAMETER,
                           "The KMS key %.200s is not valid or does not exist.", key_id);
    }
    free(q);
    if (tr_ok(r)) {
        *key_arn = strdup(k.arn);
        if (!*key_arn) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    key_rec_free(&k);
    return r;
}

char *sm_key_arn_peek(struct req_ctx *rc, const char *account, const char *region,
                      const char *key_id)
{
    struct key_rec k;
    char *q = NULL, *arn = NULL;
    memset(&k, 0, sizeof k);
    if (!key_id || !*key_id) return NULL;
    if (tr_ok(qualified_key_id(account, region, key_id, &q)) &&
        tr_ok(kms_resolve(rc, q, KR_ALIAS | KR_XACCT, &k)))
        arn = strdup(k.arn);
    tr_clear_error();
    key_rec_free(&k);
    free(q);
    return arn;
}

/* The key id to hand KMS for a new version of s (malloc'd): its KmsKeyId
 * in its own account (qualified_key_id), or the key it was last sealed
 * under when it uses the managed key. */
static TR_RESULT write_key(struct req_ctx *rc, struct secret *s, char **key_id)
{
    *key_id = NULL;
    if (s->kms_key_id && !is_managed_alias(s->kms_key_id))
        return qualified_key_id(s->account, s->region, s->kms_key_id, key_id);
    if (s->kms_key_arn) {
        *key_id = strdup(s->kms_key_arn);
        ENSURE(*key_id != NULL, TR_E_INTERNAL);
        return TR_OK;
    }
    /* aws/secretsmanager is created in the caller's account: it cannot
     * protect another account's secret (its policy admits only
     * kms:CallerAccount = the owner), so that call is the KMS denial. */
    if (strcmp(s->account, rc->who.account_id) != 0)
        BAIL(TR_E_ACCESS_DENIED, "%s", SM_MSG_KMS_DENIED);
    struct key_rec k;
    GUARD(kms_managed_key(rc, "secretsmanager", &k));
    *key_id = strdup(k.arn);
    key_rec_free(&k);
    ENSURE(*key_id != NULL, TR_E_INTERNAL);
    return TR_OK;
}

static TR_RESULT set_str(char **dst, const char *src)
{
    char *d = strdup(src);
    ENSURE(d != NULL, TR_E_INTERNAL);
    free(*dst);
    *dst = d;
    return TR_OK;
}

TR_RESULT sm_seal(struct req_ctx *rc, struct secret *s, struct secret_version *v,
                  const uint8_t *pt, size_t n, bool binary)
{
    struct buf dk = BUF_SECRET(64);
    struct buf blob = BUF_INIT(KMS_CT_MAX);
    struct buf aad = BUF_INIT(SM_ID_MAX + 256);
    struct buf box = BUF_INIT(SM_VALUE_MAX + AEAD_IV_LEN + AEAD_TAG_LEN);
    struct buf b64 = BUF_INIT(2 * (SM_VALUE_MAX + 64));
    struct key_rec key;
    struct via via;
    char *key_id = NULL;
    const char *txt;
    json_t *ctx = NULL;
    tr_result r;

    memset(&key, 0, sizeof key);
    ENSURE(n <= SM_VALUE_MAX, TR_E_INTERNAL);
    r = write_key(rc, s, &key_id);
    if (tr_failed(r)) goto fail;
    ctx = enc_context(s->arn, v->id);
    if (!ctx) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }

    via_enter(rc, &via);
    r = kms_data_key_new(rc, key_id, "kms:GenerateDataKey", ctx, AEAD_KEY_LEN, &dk, &blob, &key);
    via_leave(rc, &via);
    if (tr_failed(r)) { r = kms_failure(r, true); goto fail; }
    if (dk.len != AEAD_KEY_LEN) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }

    r = make_aad(s->arn, v->id, &aad);
    if (tr_ok(r)) r = buf_reserve(&box, n + AEAD_IV_LEN + AEAD_TAG_LEN);
    if (tr_ok(r)) r = rand_public(box.data, AEAD_IV_LEN);     /* stored beside the box */
    if (tr_ok(r))
        r = aead_seal(dk.data, box.data, aad.data, aad.len, pt, n, box.data + AEAD_IV_LEN,
                      box.data + AEAD_IV_LEN + n);
    buf_free(&dk);   /* the data key is used up */
    if (tr_failed(r)) goto fail;
    box.len = (uint32_t)(n + AEAD_IV_LEN + AEAD_TAG_LEN);

    r = b64_encode(box.data, box.len, &b64);
    if (tr_ok(r)) r = buf_cstr(&b64, &txt);
    if (tr_ok(r)) r = set_str(&v->ct, txt);
    if (tr_failed(r)) goto fail;
    buf_reset(&b64);
    r = b64_encode(blob.data, blob.len, &b64);
    if (tr_ok(r)) r = buf_cstr(&b64, &txt);
    if (tr_ok(r)) r = set_str(&v->edk, txt);
    if (tr_ok(r)) r = set_str(&v->key_arn, key.arn);
    if (tr_ok(r)) r = set_str(&s->kms_key_arn, key.arn);
    if (tr_failed(r)) goto fail;
    v->binary = binary;
    /* What ListSecretVersionIds shows as the version's key. */
    /* Copy before changing: a loaded version's doc may be shared with the
     * version memo (secrets.c, version_copy). */
    json_t *own = v->doc ? json_deep_copy(v->doc) : json_object();
    if (!own) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    json_decref(v->doc);
    v->doc = own;
    r = sm_set(v->doc, "key_id", s->kms_key_id && !is_managed_alias(s->kms_key_id)
                                     ? json_string(s->kms_key_id) : json_null());
fail:
    buf_free(&dk);
    buf_free(&blob);
    buf_free(&aad);
    buf_free(&box);
    buf_free(&b64);
    key_rec_free(&key);
    json_decref(ctx);
    free(key_id);
    return r;
}

/* The parts of a stored version: the KMS blob of its data key and
 * iv | ciphertext | tag, decoded from base64.  DecryptionFailure when
 * either does not decode or the box is too short. */
static TR_RESULT decode_version(const struct secret_version *v, struct buf *blob, struct buf *box)
{
    ENSURE(v->edk && v->ct, TR_E_INTERNAL);
    tr_result r = b64_decode(v->edk, strlen(v->edk), blob);
    if (tr_ok(r)) r = b64_decode(v->ct, strlen(v->ct), box);
    if (tr_failed(r) || box->len < AEAD_IV_LEN + AEAD_TAG_LEN)
        BAIL(TR_E_SM_DECRYPTION_FAILURE, "%s", DEC_FAIL_MSG);
    return TR_OK;
}

/* AES-256-GCM open of box with the data key dk (wiped here, success or
 * not) and the version's AAD; the plaintext is appended to out. */
static TR_RESULT open_box(struct buf *dk, const struct secret *s, const struct secret_version *v,
                          const struct buf *box, struct buf *out)
{
    struct buf aad = BUF_INIT(SM_ID_MAX + 256);
    tr_result r = TR_OK;
    if (dk->len != AEAD_KEY_LEN) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_DECRYPTION_FAILURE, "%s", DEC_FAIL_MSG);
        goto fail;
    }
    size_t n = box->len - AEAD_IV_LEN - AEAD_TAG_LEN;
    r = make_aad(s->arn, v->id, &aad);
    if (tr_ok(r)) r = buf_reserve(out, n ? n : 1);
    if (tr_failed(r)) goto fail;
    r = aead_open(dk->data, box->data, aad.data, aad.len, box->data + AEAD_IV_LEN, n,
                  box->data + AEAD_IV_LEN + n, out->data + out->len);
    if (tr_failed(r)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_DECRYPTION_FAILURE, "%s", DEC_FAIL_MSG);
        goto fail;
    }
    out->len += (uint32_t)n;
fail:
    buf_free(dk);
    buf_free(&aad);
    return r;
}

TR_RESULT sm_open(struct req_ctx *rc, const struct secret *s, const struct secret_version *v,
                  struct buf *out)
{
    struct buf dk = BUF_SECRET(64);
    struct buf blob = BUF_INIT(KMS_CT_MAX);
    /* b64_decode reserves for the padded length: a few bytes of slack. */
    struct buf box = BUF_INIT(SM_VALUE_MAX + AEAD_IV_LEN + AEAD_TAG_LEN + 8);
    struct key_rec key;
    struct via via;
    uint32_t material = 0;
    json_t *ctx = NULL;
    tr_result r;

    memset(&key, 0, sizeof key);
    r = decode_version(v, &blob, &box);
    if (tr_failed(r)) goto fail;
    ctx = enc_context_memo(s->arn, v->id);
    if (!ctx) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }

    via_enter(rc, &via);
    r = kms_blob_open(rc, NULL, "kms:Decrypt", blob.data, blob.len, ctx, &dk, &key, &material);
    via_leave(rc, &via);
    if (tr_failed(r)) { r = kms_failure(r, false); goto fail; }
    r = open_box(&dk, s, v, &box, out);
fail:
    buf_free(&dk);
    buf_free(&blob);
    buf_free(&box);
    key_rec_free(&key);
    json_decref(ctx);
    return r;
}

TR_RESULT sm_open_offline(store_t st, const struct keyring *kr, const struct secret *s,
                          const struct secret_version *v, struct buf *out, char key_id[37])
{
    struct buf dk = BUF_SECRET(64);
    struct buf blob = BUF_INIT(KMS_CT_MAX);
    struct buf box = BUF_INIT(SM_VALUE_MAX + AEAD_IV_LEN + AEAD_TAG_LEN + 8);
    uint32_t material = 0;
    json_t *ctx = NULL;
    tr_result r;

    key_id[0] = '\0';
    r = decode_version(v, &blob, &box);
    if (tr_failed(r)) goto fail;
    ctx = enc_context(s->arn, v->id);
    if (!ctx) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    r = kms_blob_open_offline(st, kr, blob.data, blob.len, ctx, &dk, key_id, &material);
    if (tr_failed(r)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_DECRYPTION_FAILURE,
                       "the data key does not decrypt under KMS key %s", key_id[0] ? key_id : "?");
        goto fail;
    }
    r = open_box(&dk, s, v, &box, out);
    if (tr_failed(r))
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_DECRYPTION_FAILURE,
                       "the data key opens, the value does not (ciphertext or AAD changed)");
fail:
    buf_free(&dk);
    buf_free(&blob);
    buf_free(&box);
    json_decref(ctx);
    return r;
}

TR_RESULT sm_key_validate(struct req_ctx *rc, const struct secret *s, const char *key_id)
{
    struct buf dk = BUF_SECRET(64);
    struct buf dk2 = BUF_SECRET(64);
    struct buf blob = BUF_INIT(KMS_CT_MAX);
    struct key_rec key, key2;
    struct via via;
    uint32_t material = 0;
    json_t *ctx = enc_context(s->arn, VALIDATE_VERSION);
    tr_result r;

    memset(&key, 0, sizeof key);
    memset(&key2, 0, sizeof key2);
    ENSURE(ctx != NULL, TR_E_INTERNAL);
    via_enter(rc, &via);
    r = kms_data_key_new(rc, key_id, "kms:GenerateDataKey", ctx, AEAD_KEY_LEN, &dk, &blob, &key);
    buf_free(&dk);
    if (tr_ok(r))
        r = kms_blob_open(rc, NULL, "kms:Decrypt", blob.data, blob.len, ctx, &dk2, &key2,
                          &material);
    via_leave(rc, &via);
    buf_free(&dk2);
    if (tr_failed(r)) r = kms_failure(r, true);
    buf_free(&blob);
    key_rec_free(&key);
    key_rec_free(&key2);
    json_decref(ctx);
    return r;
}

TR_RESULT sm_key_authorize_encrypt(struct req_ctx *rc, struct secret *s, const char *version_id)
{
    struct key_rec key;
    struct via via;
    char *key_id = NULL;
    json_t *ctx = NULL;
    tr_result r;
    memset(&key, 0, sizeof key);
    if (!s->kms_key_id || is_managed_alias(s->kms_key_id)) return TR_OK;
    r = write_key(rc, s, &key_id);
    if (tr_ok(r)) r = kms_resolve(rc, key_id, KR_ALIAS | KR_XACCT, &key);
    if (tr_ok(r)) {
        ctx = enc_context(s->arn, version_id);
        if (!ctx) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    if (tr_ok(r)) {
        via_enter(rc, &via);
        r = kms_authorize(rc, "kms:Encrypt", &key, ctx);
        via_leave(rc, &via);
    }
    if (tr_failed(r)) r = kms_failure(r, true);
    key_rec_free(&key);
    json_decref(ctx);
    free(key_id);
    return r;
}

const char *sm_version_key_label(const struct secret_version *v)
{
    json_t *k = v->doc ? json_object_get(v->doc, "key_id") : NULL;
    if (json_is_string(k)) return json_string_value(k);
    if (json_is_null(k) || !v->key_arn) return SM_DEFAULT_KEY_LABEL;
    return v->key_arn;
}
