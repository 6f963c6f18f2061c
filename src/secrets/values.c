/*
 * values.c -- CreateSecret, GetSecretValue, BatchGetSecretValue,
 * PutSecretValue and UpdateSecret: the operations that write or read a
 * secret's value.
 *
 * Order in every handler: members and their AWS validation; authorization
 * (sm_authorize, docs/AUTHORIZATION.md 5.2: identity first, then existence,
 * then the resource policy); the secret's state (pending deletion); the KMS
 * hop (envelope.c) last.  Writers run in the router's transaction (OP_WRITE):
 * a KMS refusal half-way leaves nothing behind.
 *
 * Versions (botocore docs of ClientRequestToken; AWS-recorded LocalStack
 * snapshots):
 *  - the ClientRequestToken (32..64 chars; the SDKs fill it) becomes the
 *    VersionId; a raw request with a value and no token is
 *    InvalidRequestException "You must provide a ClientRequestToken value.
 *    We recommend a UUID-type value.", answered before the secret is looked
 *    up (AWS answers it for a secret that does not exist: LocalStack's
 *    AWS-recorded test_no_client_request_token);
 *  - the same token again with the same value (and type) is an idempotent
 *    retry: nothing changes and the reply is the same; with another value
 *    it is ResourceExistsException "You can't use ClientRequestToken <token>
 *    because that value is already in use for a version of secret <ARN>."
 *    (the code is the model's for an existing version; the message as SDK
 *    users and the peer suites report it).  Comparing needs the stored
 *    value, so a retry also needs kms:Decrypt (as AWS documents);
 *  - labels move with sm_labels_attach (versions.c).
 *
 * LastAccessedDate (day precision): GetSecretValue is a read operation.
 * The date is written only when it changes -- the first read of a secret
 * (or version) on a given day -- in a small transaction of its own, after
 * the value was read; a failure of that write is ignored (the read already
 * succeeded).  So the hot path stays read-only.
 *
 * Values: SecretString is 1..65536 characters (never echoed in a
 * validation message), SecretBinary 1..65536 bytes; both at once is
 * InvalidParameterException.  Plaintext lives in BUF_SECRET buffers only,
 * wiped by buf_free; the JSON copies belong to jansson, whose allocator
 * wipes on free (main.c).
 *
 * Choices where AWS is not public (recorded here and in the final report):
 *  - AddReplicaRegions: the replicas are made in the same transaction,
 *    after the secret (replication.c, docs/REPLICATION.md);
 *  - CreateSecret with Tags also needs secretsmanager:TagResource, as the
 *    API reference says; BatchGetSecretValue with Filters also needs
 *    secretsmanager:ListSecrets (the API reference again), on "*": the
 *    whole call is refused without it;
 *  - UpdateSecret with a new KmsKeyId re-encrypts the AWSCURRENT,
 *    AWSPENDING and AWSPREVIOUS versions in the same transaction; if any of
 *    them cannot be opened (old key unusable) or sealed, the whole update
 *    fails (AWS may skip the re-encryption; we prefer all or nothing).
 */
#include "secrets/values.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ct.h"
#include "core/hex.h"
#include "core/json.h"
#include "core/str.h"
#include "core/utf8.h"
#include "crypto/rand.h"
#include "kms/kms.h"
#include "secrets/authz.h"
#include "secrets/describe.h"
#include "secrets/envelope.h"
#include "secrets/lookup.h"
#include "secrets/manage.h"
#include "secrets/params.h"
#include "secrets/replication.h"

/* Request values: b64_decode reserves for the padded length, so the
 * buffer has a few bytes of slack over the 65536-byte limit (the limit
 * itself is checked by json_get_blob). */
#define VALUE_BUF (SM_VALUE_MAX + 8)

/* A token in use with another value (docs/WIRE.md 5.3): the token, then
 * the secret's ARN. */
#define MSG_TOKEN_IN_USE \
    "You can't use ClientRequestToken %s because that value is already in use for a version " \
    "of secret %s."
static const char *const MSG_BOTH_VALUES =
    "You can't specify both a binary secret value and a string secret value in the same secret.";

/* ---- request pieces ------------------------------------------------------ */

/* A value of the request: SecretString or SecretBinary into pt (a
 * BUF_SECRET(SM_VALUE_MAX)); *present false when neither. */
static TR_RESULT get_value(json_t *in, struct buf *pt, bool *present, bool *binary)
{
    json_t *s = json_object_get(in, "SecretString");
    json_t *b = json_object_get(in, "SecretBinary");
    if (s && json_is_null(s)) s = NULL;
    if (b && json_is_null(b)) b = NULL;
    *present = false;
    *binary = false;
    if (s && b) BAIL(TR_E_SM_INVALID_PARAMETER, "%s", MSG_BOTH_VALUES);
    if (s) {
        if (!json_is_string(s))
            BAIL(TR_E_SERIALIZATION, "Unexpected value for member 'SecretString': expected string");
        const char *p = json_string_value(s);
        size_t bytes = json_string_length(s), chars = utf8_count(p, bytes);
        /* The value is never quoted back. */
        if (chars < 1)
            return json_invalid("SecretString", NULL,
                                "Member must have length greater than or equal to 1");
        /* AWS's quota is 65,536 bytes per value; the model counts
         * characters.  Both are enforced, with the model's message. */
        if (chars > SM_VALUE_MAX || bytes > SM_VALUE_MAX)
            return json_invalid("SecretString", NULL,
                                "Member must have length less than or equal to 65536");
        GUARD(buf_append(pt, p, bytes));
        *present = true;
        return TR_OK;
    }
    if (b) {
        GUARD(json_get_blob(in, "SecretBinary", false, 1, SM_VALUE_MAX, pt));
        *present = true;
        *binary = true;
    }
    return TR_OK;
}

static TR_RESULT get_token(json_t *in, const char **out)
{
    return json_get_str(in, "ClientRequestToken", false, SM_TOKEN_MIN, SM_TOKEN_MAX, out);
}

/* VersionStages: 1..20 labels of 1..256 characters; duplicates collapse. */
static TR_RESULT get_stages(json_t *in, const char **labels, size_t *n)
{
    json_t *l;
    *n = 0;
    GUARD(json_get_str_list(in, "VersionStages", false, SM_STAGES_MAX, 1, SM_STAGE_MAX, &l));
    if (!l) {
        labels[(*n)++] = SM_CURRENT;
        return TR_OK;
    }
    if (json_array_size(l) == 0)
        return json_invalid("VersionStages", "'[]'",
                            "Member must have length greater than or equal to 1");
    size_t i;
    json_t *e;
    json_array_foreach(l, i, e) {
        const char *s = json_string_value(e);
        bool dup = false;
        for (size_t j = 0; j < *n; j++)
            if (strcmp(labels[j], s) == 0) dup = true;
        if (!dup) labels[(*n)++] = s;
    }
    return TR_OK;
}

/* ---- replies ------------------------------------------------------------- */

/* The reply of an operation that writes a version (CreateSecret's retry,
 * PutSecretValue, UpdateSecret): ARN and Name, the VersionId when v is
 * not NULL, and with `stages` v's VersionStages. */
static TR_RESULT reply_version(const struct secret *s, const struct secret_version *v, bool stages,
                               json_t **out)
{
    json_t *o = NULL, *st = NULL;
    tr_result r = sm_reply_arn_name(s->arn, s->name, &o);
    if (tr_ok(r) && v) r = sm_set(o, "VersionId", json_string(v->id));
    if (tr_ok(r) && v && stages) r = sm_stages_json(v, &st);
    if (tr_ok(r) && v && stages) r = sm_set(o, "VersionStages", st);
    if (tr_failed(r)) { json_decref(o); return r; }
    *out = o;
    return TR_OK;
}

/* ---- a new version -------------------------------------------------------- */

/* Is the stored version v's value the same as (pt, binary)?  Opens v as
 * the caller (kms:Decrypt). */
static TR_RESULT same_value(struct req_ctx *rc, const struct secret *s,
                            const struct secret_version *v, const struct buf *pt, bool binary,
                            bool *same)
{
    struct buf old = BUF_SECRET(VALUE_BUF);
    *same = false;
    if (!v->ct) return TR_OK;
    tr_result r = sm_open(rc, s, v, &old);
    if (tr_ok(r))
        *same = v->binary == binary && old.len == pt->len && ct_memeq(old.data, pt->data, pt->len);
    buf_free(&old);
    return r;
}

/* Write a new version `token` holding pt with `labels` (PutSecretValue,
 * UpdateSecret, CreateSecret on an existing entity).  *out points into
 * s->versions.  *existed tells an idempotent retry (nothing written). */
static TR_RESULT new_version(struct req_ctx *rc, struct secret *s, const char *token,
                             const struct buf *pt, bool binary, const char *const *labels,
                             size_t nlabels, struct secret_version **out, bool *existed)
{
    struct secret_version *v = sm_version_by_id(s, token);
    *existed = false;
    if (v && !v->ct && !v->stub) {
        /* The version a rotation made (rotation.c): labeled, no value yet.
         * The rotation function's createSecret fills it. */
        GUARD(sm_seal(rc, s, v, pt->data, pt->len, binary));
        GUARD(sm_labels_attach(rc->st, s, v, labels, nlabels));
        GUARD(sm_version_save(rc->st, s, v));
        s->last_changed = sm_now(rc);
        *out = v;
        return TR_OK;
    }
    if (v) {
        bool same;
        GUARD(same_value(rc, s, v, pt, binary, &same));
        if (!same) BAIL(TR_E_SM_RESOURCE_EXISTS, MSG_TOKEN_IN_USE, token, s->arn);
        *existed = true;
        *out = v;
        return TR_OK;
    }
    GUARD(sm_version_append(s, token, &v));
    double created = v->created = sm_now(rc);
    GUARD(sm_seal(rc, s, v, pt->data, pt->len, binary));
    GUARD(sm_labels_attach(rc->st, s, v, labels, nlabels));
    GUARD(sm_version_insert(rc->st, s, v));
    /* Pruning removes entries of s->versions: v is looked up again. */
    GUARD(sm_versions_prune(rc->st, s));
    *out = sm_version_by_id(s, token);
    ENSURE(*out != NULL, TR_E_INTERNAL);
    s->last_changed = created;
    return TR_OK;
}

/* ---- CreateSecret ----------------------------------------------------------- */

/* AddReplicaRegions, checked against the model with the other members;
 * the replicas are made once the secret is (replication.c). */
static TR_RESULT get_replicas(json_t *in, json_t **out)
{
    return json_get_struct_list(in, "AddReplicaRegions", false, 1, sm_replica_fields, out);
}

SM_VALUE_HANDLER(sm_op_create_secret)
{
    struct buf pt = BUF_SECRET(VALUE_BUF);
    struct secret s, old;
    struct secret_version *nv = NULL;     /* the first version, in s */
    struct ctx_builder *c = NULL;
    const char *name, *token, *desc, *kms_id, *type;
    json_t *tags, *replicas, *reply = NULL;
    bool has_value, binary, found = false, force = false, has_force = false, managed = false;
    char *arn = NULL, *key_arn = NULL, *peek_arn = NULL;
    tr_result r;

    memset(&s, 0, sizeof s);
    memset(&old, 0, sizeof old);
    GUARD(json_get_str(in, "Name", true, 1, SM_NAME_MAX, &name));
    GUARD(sm_check_name(name));
    GUARD(get_token(in, &token));
    GUARD(json_get_str(in, "Description", false, 0, SM_DESC_MAX, &desc));
    GUARD(json_get_str(in, "KmsKeyId", false, 0, 2048, &kms_id));
    GUARD(json_get_str(in, "Type", false, 0, 256, &type));
    GUARD(json_get_bool(in, "ForceOverwriteReplicaSecret", &has_force, &force));
    GUARD(sm_get_tags(in, "Tags", &tags));
    GUARD(get_replicas(in, &replicas));
    r = get_value(in, &pt, &has_value, &binary);
    if (tr_ok(r) && has_value && !token)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_INVALID_REQUEST, "%s", SM_MSG_NEED_TOKEN);
    if (tr_failed(r)) goto fail;

    /* Authorization against the ARN the secret would get. */
    r = sm_arn_new(rc->region, rc->who.account_id, name, &arn);
    if (tr_failed(r)) goto fail;
    c = malloc(sizeof *c);
    if (!c) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    sm_ctx_init(c);
    peek_arn = kms_id ? sm_key_arn_peek(rc, rc->who.account_id, rc->region, kms_id) : NULL;
    r = iam_ctx_add(c, "secretsmanager:Name", name);
    if (tr_ok(r)) r = sm_ctx_add_request_keys(c, desc, kms_id, peek_arn, type);
    if (tr_ok(r) && has_force)
        r = iam_ctx_add(c, "secretsmanager:ForceOverwriteReplicaSecret", force ? "true" : "false");
    if (tr_ok(r)) r = sm_ctx_add_replica_regions(c, replicas);
    if (tr_ok(r)) r = sm_ctx_add_request_tags(c, tags);
    if (tr_ok(r)) r = sm_authorize_account(rc, rc->op->action, arn, c->e, c->n);
    if (tr_ok(r) && json_array_size(tags) > 0)
        r = sm_authorize_account(rc, "secretsmanager:TagResource", arn, c->e, c->n);
    if (tr_failed(r)) goto fail;

    /* The name: free, pending deletion, or an idempotent retry. */
    r = sm_lookup_name(rc->st, rc->who.account_id, rc->region, name, &old, &found);
    if (tr_failed(r)) goto fail;
    if (found) {
        struct secret_version *v = token ? sm_version_by_id(&old, token) : NULL;
        bool same = false;
        if (old.deleted_date != 0) {
            r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_INVALID_REQUEST, "You can't create this "
                           "secret because a secret with this name is already scheduled for "
                           "deletion.");
            goto fail;
        }
        if (v && has_value) {
            r = same_value(rc, &old, v, &pt, binary, &same);
            if (tr_failed(r)) goto fail;
            if (!same) {
                r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_RESOURCE_EXISTS, MSG_TOKEN_IN_USE,
                               token, old.arn);
                goto fail;
            }
            r = reply_version(&old, v, false, &reply);
            if (tr_failed(r)) goto fail;
            goto done;
        }
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_RESOURCE_EXISTS,
                       "The operation failed because the secret %s already exists.", name);
        goto fail;
    }

    /* The key, when one was named: it must exist ("" is aws/secretsmanager). */
    if (kms_id) {
        r = sm_key_check(rc, rc->who.account_id, rc->region, kms_id, &managed, &key_arn);
        if (tr_failed(r)) goto fail;
    }

    uint8_t idb[16];
    char id[33];
    r = rand_bytes(idb, sizeof idb);
    if (tr_failed(r)) goto fail;
    hex_encode(idb, sizeof idb, id);
    s.id = strdup(id);
    s.arn = arn;
    arn = NULL;
    s.name = strdup(name);
    STR_COPY_ARRAY(s.region, rc->region);
    STR_COPY_ARRAY(s.account, rc->who.account_id);
    s.description = desc ? strdup(desc) : NULL;
    s.kms_key_id = (kms_id && *kms_id) ? strdup(kms_id) : NULL;
    s.kms_key_arn = key_arn;
    key_arn = NULL;
    s.created = s.last_changed = sm_now(rc);
    s.doc = json_object();
    if (!s.id || !s.name || (desc && !s.description) || (kms_id && *kms_id && !s.kms_key_id) ||
        !s.doc) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        goto fail;
    }
    if (type) r = sm_set(s.doc, "type", json_string(type));
    /* The value is sealed first, so that the entity is written once, with
     * the managed key's ARN that sealing records.  (Writers run one at a
     * time and the name was looked up above, so the insert below cannot
     * meet another secret of that name: sealing before it changes no
     * error a caller can see.) */
    if (tr_ok(r) && has_value) {
        static const char *const current[] = { SM_CURRENT };
        r = sm_version_append(&s, token, &nv);
        if (tr_ok(r)) {
            nv->created = s.created;   /* GetSecretValue's CreatedDate == LastChangedDate */
            r = sm_seal(rc, &s, nv, pt.data, pt.len, binary);
        }
        if (tr_ok(r)) r = sm_labels_attach(rc->st, &s, nv, current, 1);
    }
    if (tr_ok(r)) r = sm_save(rc->st, &s, true);
    if (tr_failed(r)) {
        if (tr_code(r) == TR_E_STORE_EXISTS)
            r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_RESOURCE_EXISTS,
                           "The operation failed because the secret %s already exists.", name);
        goto fail;
    }
    for (size_t i = 0; i < json_array_size(tags) && tr_ok(r); i++) {
        json_t *t = json_array_get(tags, i);
        const char *v = json_string_value(json_object_get(t, "Value"));
        r = rc->st[0]->tag_set(rc->st, s.arn, json_string_value(json_object_get(t, "Key")),
                               v ? v : "");
    }
    /* No version index: the first new version writes it (secrets.c), so a
     * new secret is two rows, as before the index. */
    if (tr_ok(r) && nv) r = sm_version_save(rc->st, &s, nv);
    if (tr_ok(r) && replicas) r = sm_replicate_add(rc, s.arn, replicas, force);
    if (tr_ok(r)) r = sm_reply_arn_name(s.arn, s.name, &reply);
    if (tr_ok(r) && nv) r = sm_set(reply, "VersionId", json_string(token));
    if (tr_ok(r) && replicas) r = sm_reply_replication(rc, s.arn, reply);
    if (tr_failed(r)) goto fail;
done:
    *out = reply;
    reply = NULL;
fail:
    json_decref(reply);
    buf_free(&pt);
    secret_free(&s);
    secret_free(&old);
    if (c) { iam_ctx_free(c); free(c); }
    free(arn);
    free(key_arn);
    free(peek_arn);
    return r;
}

/* ---- GetSecretValue -------------------------------------------------------- */

/* LastAccessedDate: the first read of the day writes it, in a transaction
 * of its own (see the file comment).  Failures are ignored. */
static void touch_accessed(struct req_ctx *rc, const struct secret *s,
                           const struct secret_version *v)
{
    int64_t day = sm_day(rc->now);
    if (s->last_accessed == day && v->last_accessed == day) return;
    struct ent_rec e;
    struct secret cur;
    memset(&e, 0, sizeof e);
    memset(&cur, 0, sizeof cur);
    if (tr_failed(rc->st[0]->tx_begin(rc->st))) { tr_clear_error(); return; }
    tr_result r = rc->st[0]->ent_get_arn(rc->st, SM_KIND, s->arn, &e);
    if (tr_ok(r)) r = sm_load(rc->st, &e, &cur);
    if (tr_ok(r)) {
        struct secret_version *cv = sm_version_by_id(&cur, v->id);
        cur.last_accessed = day;
        r = sm_save(rc->st, &cur, false);
        if (tr_ok(r) && cv) {
            cv->last_accessed = day;
            r = sm_version_save(rc->st, &cur, cv);
        }
    }
    if (tr_ok(r)) r = rc->st[0]->tx_commit(rc->st);
    if (tr_failed(r)) {
        rc->st[0]->tx_rollback(rc->st);
        tr_clear_error();
    }
    ent_rec_free(&e);
    secret_free(&cur);
}

/* The version a GetSecretValue-like request names. */
static TR_RESULT pick_version(const struct secret *s, const char *vid, const char *stage,
                              struct secret_version **out)
{
    *out = NULL;
    if (vid) {
        struct secret_version *v = sm_version_by_id(s, vid);
        if (!v)
            BAIL(TR_E_SM_RESOURCE_NOT_FOUND,
                 "Secrets Manager can't find the specified secret value for VersionId: %s", vid);
        if (stage && !sm_version_has_stage(v, stage))
            BAIL(TR_E_SM_INVALID_REQUEST,
                 "You provided a VersionStage that is not associated to the provided VersionId.");
        *out = v;
    } else {
        const char *st = stage ? stage : SM_CURRENT;
        *out = sm_version_by_stage(s, st);
        if (!*out)
            BAIL(TR_E_SM_RESOURCE_NOT_FOUND,
                 "Secrets Manager can't find the specified secret value for staging label: %s", st);
    }
    if (!(*out)->ct)
        BAIL(TR_E_SM_RESOURCE_NOT_FOUND,
             "Secrets Manager can't find the specified secret value for staging label: %s",
             stage ? stage : SM_CURRENT);
    return TR_OK;
}

/* The GetSecretValue reply for version v of s (a found, authorized, live
 * secret).  Opens the value as the caller.  With `direct` (the reply
 * buffer, rc->json_reply) the reply is written there and *out is NULL;
 * else *out is the reply's tree. */
static TR_RESULT value_reply(struct req_ctx *rc, const struct secret *s,
                             const struct secret_version *v, struct buf *direct, json_t **out)
{
    struct buf pt = BUF_SECRET(VALUE_BUF);
    json_t *o = NULL, *st = NULL;
    tr_result r = sm_open(rc, s, v, &pt);
    if (tr_ok(r) && direct) {
        /* Straight into the reply buffer: the same members, no tree. */
        struct json_w w;
        json_w_begin(&w, direct);
        json_w_str(&w, "ARN", s->arn, strlen(s->arn));
        json_w_str(&w, "Name", s->name, strlen(s->name));
        json_w_str(&w, "VersionId", v->id, strlen(v->id));
        if (v->binary) json_w_b64(&w, "SecretBinary", pt.data, pt.len);
        else json_w_str(&w, "SecretString", (const char *)pt.data, pt.len);
        json_w_strs(&w, "VersionStages", v->stages, v->nstages);
        if (v->created) json_w_num(&w, "CreatedDate", v->created);
        r = json_w_end(&w);
        rc->reply_written = tr_ok(r) && direct == rc->json_reply;
        buf_free(&pt);
        *out = NULL;
        return r;
    }
    if (tr_ok(r)) r = sm_reply_arn_name(s->arn, s->name, &o);
    if (tr_ok(r)) r = sm_set(o, "VersionId", json_string(v->id));
    if (tr_ok(r)) {
        if (v->binary) r = kms_set_secret_blob(o, "SecretBinary", pt.data, pt.len);
        else r = sm_set(o, "SecretString", json_stringn((const char *)pt.data, pt.len));
    }
    if (tr_ok(r)) r = sm_stages_json(v, &st);
    if (tr_ok(r)) { r = sm_set(o, "VersionStages", st); st = NULL; }
    if (tr_ok(r) && v->created) r = sm_set_date(o, "CreatedDate", v->created);
    buf_free(&pt);
    if (tr_failed(r)) { json_decref(o); return r; }
    *out = o;
    return TR_OK;
}

SM_VALUE_HANDLER(sm_op_get_secret_value)
{
    struct ctx_builder *c = NULL;
    struct secret s;
    struct secret_version *v;
    const char *id, *vid, *stage;
    tr_result r;

    memset(&s, 0, sizeof s);
    GUARD(sm_get_secret_id(in, &id));
    GUARD(json_get_str(in, "VersionId", false, SM_TOKEN_MIN, SM_TOKEN_MAX, &vid));
    GUARD(json_get_str(in, "VersionStage", false, 1, SM_STAGE_MAX, &stage));
    c = malloc(sizeof *c);
    ENSURE(c != NULL, TR_E_INTERNAL);
    sm_ctx_init(c);
    r = TR_OK;
    if (vid) r = iam_ctx_add(c, "secretsmanager:VersionId", vid);
    if (tr_ok(r) && stage) r = iam_ctx_add(c, "secretsmanager:VersionStage", stage);
    if (tr_ok(r))
        r = sm_find_authorized_shared(rc, rc->op->action, id, c->e, c->n, &s);
    if (tr_ok(r)) r = pick_version(&s, vid, stage, &v);
    if (tr_ok(r)) r = value_reply(rc, &s, v, rc->json_reply, out);
    if (tr_ok(r)) touch_accessed(rc, &s, v);
    secret_free(&s);
    iam_ctx_free(c);
    free(c);
    return r;
}

/* ---- BatchGetSecretValue ---------------------------------------------------- */

/* One per-secret failure into Errors[]: {SecretId, ErrorCode, Message}. */
static TR_RESULT add_error(json_t *errors, const char *secret_id)
{
    const struct tr_error_info *e = tr_last_error();
    enum tr_err code = e->code ? e->code : TR_E_INTERNAL;
    const char *type = tr_err_status(code) >= 500 ? "InternalServiceError" : tr_err_type(code);
    json_t *o = json_pack("{s:s, s:s}", "SecretId", secret_id, "ErrorCode", type);
    ENSURE(o != NULL, TR_E_INTERNAL);
    if (e->has_message && tr_err_status(code) < 500)
        json_object_set_new(o, "Message", json_string(e->message));
    ENSURE(json_array_append_new(errors, o) == 0, TR_E_INTERNAL);
    tr_clear_error();
    return TR_OK;
}

/* GetSecretValue of one secret for BatchGetSecretValue; per-secret
 * failures (authorization, not found, deleted, KMS) land in errors. */
static TR_RESULT batch_one(struct req_ctx *rc, const char *id, json_t *values, json_t *errors)
{
    struct secret s;
    struct secret_version *v = NULL;
    json_t *o = NULL;
    memset(&s, 0, sizeof s);
    tr_result r = sm_find_authorized_shared(rc, "secretsmanager:GetSecretValue", id, NULL, 0, &s);
    if (tr_ok(r)) r = pick_version(&s, NULL, NULL, &v);
    if (tr_ok(r)) r = value_reply(rc, &s, v, NULL, &o);
    if (tr_ok(r)) {
        touch_accessed(rc, &s, v);
        secret_free(&s);
        ENSURE(json_array_append_new(values, o) == 0, TR_E_INTERNAL);
        return TR_OK;
    }
    secret_free(&s);
    if (tr_err_status(tr_code(r)) >= 500) return r;   /* internal: the store's too */
    return add_error(errors, id);
}

/* The attributes of a stored secret for sm_filter_match. */
static TR_RESULT filter_selects(store_t st, const struct secret *s, json_t *filters, bool *yes)
{
    struct tag_rec *tags = NULL;
    size_t nt = 0;
    const char **keys = NULL, **vals = NULL;
    *yes = true;
    GUARD(st[0]->tag_list(st, s->arn, &tags, &nt));
    tr_result r = TR_OK;
    if (nt) {
        keys = calloc(nt, sizeof *keys);
        vals = calloc(nt, sizeof *vals);
        if (!keys || !vals) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
        for (size_t i = 0; i < nt; i++) {
            keys[i] = tags[i].key;
            vals[i] = tags[i].value ? tags[i].value : "";
        }
    }
    struct sm_filter_subject subj = {
        .name = s->name, .description = s->description,
        .tag_keys = keys, .tag_values = vals, .ntags = nt,
    };
    size_t i;
    json_t *f;
    json_array_foreach(filters, i, f) {
        const char *key = json_string_value(json_object_get(f, "Key"));
        json_t *vl = json_object_get(f, "Values");
        const char *v[10];
        size_t nv = 0, j;
        json_t *e;
        json_array_foreach(vl, j, e)
            if (nv < 10 && json_is_string(e)) v[nv++] = json_string_value(e);
        if (!key || !sm_filter_match(key, v, nv, &subj)) { *yes = false; break; }
    }
fail:
    free(keys);
    free(vals);
    tag_list_free(tags, nt);
    return r;
}

/* NextToken: base64 of the stored name ("<region>:<name>") of the last
 * secret returned. */
static TR_RESULT token_decode(const char *tok, char *out, size_t n)
{
    struct buf b = BUF_INIT(SM_NAME_MAX + 80);
    tr_result r = b64_decode(tok, strlen(tok), &b);
    if (tr_ok(r) && (b.len == 0 || b.len >= n || memchr(b.data, 0, b.len)))
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_INVALID_NEXT_TOKEN, NULL);
    if (tr_ok(r)) {
        memcpy(out, b.data, b.len);
        out[b.len] = '\0';
    }
    buf_free(&b);
    if (tr_failed(r))
        BAIL(TR_E_SM_INVALID_NEXT_TOKEN, "The NextToken value is invalid.");
    return TR_OK;
}

static TR_RESULT batch_filtered(struct req_ctx *rc, json_t *filters, size_t max,
                                const char *next, json_t *values, json_t *errors, json_t *reply)
{
    char after[SM_NAME_MAX + 80] = "", prefix[80], last[SM_NAME_MAX + 80] = "";
    size_t got = 0;
    bool more = true;
    if (next) GUARD(token_decode(next, after, sizeof after));
    _Static_assert(sizeof prefix >= sizeof rc->region + 2, "prefix holds /region/");
    snprintf(prefix, sizeof prefix, "/%s/", rc->region);     /* fits: asserted above */
    while (got < max && more) {
        struct ent_rec *ents = NULL;
        size_t n = 0;
        GUARD(rc->st[0]->ent_list(rc->st, SM_KIND, rc->who.account_id, prefix,
                                  after[0] ? after : NULL, 100, &ents, &n));
        more = n == 100;
        tr_result r = TR_OK;
        for (size_t i = 0; i < n && tr_ok(r); i++) {
            r = str_copy(after, sizeof after, ents[i].name, "the list's position");
            if (tr_failed(r)) break;
            struct secret s;
            bool yes = false;
            r = sm_load(rc->st, &ents[i], &s);
            if (tr_failed(r)) break;
            if (s.deleted_date == 0) r = filter_selects(rc->st, &s, filters, &yes);
            if (tr_ok(r) && yes) {
                if (got == max) {
                    more = true;
                    secret_free(&s);
                    goto page_full;
                }
                r = batch_one(rc, s.arn, values, errors);
                got++;
                STR_COPY_ARRAY(last, after);     /* after holds ents[i].name, above */
            }
            secret_free(&s);
        }
        ent_list_free(ents, n);
        GUARD(r);
        continue;
page_full:
        ent_list_free(ents, n);
        break;
    }
    if (more && last[0]) {
        struct buf b = BUF_INIT(2 * sizeof last);
        const char *t;
        tr_result r = b64_encode((const uint8_t *)last, strlen(last), &b);
        if (tr_ok(r)) r = buf_cstr(&b, &t);
        if (tr_ok(r)) r = sm_set(reply, "NextToken", json_string(t));
        buf_free(&b);
        GUARD(r);
    }
    return TR_OK;
}

SM_VALUE_HANDLER(sm_op_batch_get_secret_value)
{
    json_t *ids, *filters = json_object_get(in, "Filters");
    json_t *reply = NULL, *values = NULL, *errors = NULL;
    const char *next;
    int64_t max = 20;
    bool has_max;
    tr_result r;

    GUARD(json_get_str_list(in, "SecretIdList", false, 20, 1, SM_ID_MAX, &ids));
    if (ids && json_array_size(ids) == 0)
        return json_invalid("SecretIdList", "'[]'", "Member must have length greater than or equal to 1");
    if (filters && json_is_null(filters)) filters = NULL;
    if (filters) GUARD(sm_check_filters(filters));
    GUARD(json_get_int(in, "MaxResults", false, 1, 20, &has_max, &max));
    GUARD(json_get_str(in, "NextToken", false, 1, 4096, &next));
    if (ids && filters)
        BAIL(TR_E_SM_INVALID_PARAMETER,
             "Either 'SecretIdList' or 'Filters' must be provided, but not both.");
    if (!ids && !filters)
        BAIL(TR_E_SM_INVALID_PARAMETER,
             "Either 'SecretIdList' or 'Filters' must be provided, but not both.");
    if (has_max && !filters)
        BAIL(TR_E_SM_INVALID_PARAMETER, "'Filters' not specified. 'Filters' must also be "
             "specified when 'MaxResults' is provided.");
    GUARD(sm_authorize_account(rc, rc->op->action, NULL, NULL, 0));
    /* "If you use filters, you must also have secretsmanager:ListSecrets"
     * (API reference): the filter form lists the account's secrets, and
     * without it a caller would learn names, descriptions and tags. */
    if (filters) GUARD(sm_authorize_account(rc, "secretsmanager:ListSecrets", NULL, NULL, 0));

    reply = json_object();
    values = json_array();
    errors = json_array();
    if (!reply || !values || !errors) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    if (ids) {
        size_t i;
        json_t *e;
        json_array_foreach(ids, i, e) {
            const char *id = json_string_value(e);
            r = sm_check_name(strncmp(id, "arn:", 4) == 0 ? "" : id);
            if (tr_failed(r)) r = add_error(errors, id);
            else r = batch_one(rc, id, values, errors);
            if (tr_failed(r)) goto fail;
        }
    } else {
        r = batch_filtered(rc, filters, (size_t)max, next, values, errors, reply);
        if (tr_failed(r)) goto fail;
    }
    r = sm_set(reply, "SecretValues", values);
    values = NULL;
    if (tr_ok(r)) { r = sm_set(reply, "Errors", errors); errors = NULL; }
    if (tr_failed(r)) goto fail;
    *out = reply;
    reply = NULL;
fail:
    json_decref(reply);
    json_decref(values);
    json_decref(errors);
    return r;
}

/* ---- PutSecretValue ----------------------------------------------------------- */

SM_VALUE_HANDLER(sm_op_put_secret_value)
{
    struct buf pt = BUF_SECRET(VALUE_BUF);
    struct secret s;
    struct secret_version *v;
    const char *id, *token, *rot, *labels[SM_STAGES_MAX + 1];
    size_t nlabels;
    bool has_value, binary, existed;
    tr_result r;

    memset(&s, 0, sizeof s);
    GUARD(sm_get_secret_id(in, &id));
    GUARD(get_token(in, &token));
    GUARD(get_stages(in, labels, &nlabels));
    GUARD(json_get_sensitive_str(in, "RotationToken", false, 36, 256, &rot));
    r = get_value(in, &pt, &has_value, &binary);
    if (tr_ok(r) && has_value && !token)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_INVALID_REQUEST, "%s", SM_MSG_NEED_TOKEN);
    if (tr_failed(r)) goto fail;
    /* Only the versions a new one touches (secrets.c, "The version index"). */
    r = sm_find_authorized_for_version(rc, rc->op->action, id, token, &s);
    if (tr_failed(r)) goto fail;
    if (!has_value) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_INVALID_REQUEST,
                       "You must provide either SecretString or SecretBinary.");
        goto fail;
    }
    r = new_version(rc, &s, token, &pt, binary, labels, nlabels, &v, &existed);
    if (tr_ok(r) && !existed) r = sm_save(rc->st, &s, false);
    if (tr_ok(r)) r = reply_version(&s, v, true, out);
fail:
    buf_free(&pt);
    secret_free(&s);
    return r;
}

/* ---- UpdateSecret --------------------------------------------------------------- */

/* Move s to the key `kms_id` ("" = aws/secretsmanager): validate access,
 * then re-encrypt the AWSCURRENT, AWSPENDING and AWSPREVIOUS versions
 * (open with the old key as the caller, seal under the new one). */
static TR_RESULT change_key(struct req_ctx *rc, struct secret *s, const char *kms_id)
{
    struct buf pt = BUF_SECRET(VALUE_BUF);
    char *key_arn = NULL, *new_id = NULL;
    bool managed;
    tr_result r = sm_key_check(rc, s->account, s->region, kms_id, &managed, &key_arn);
    if (tr_failed(r)) goto fail;
    if (!managed) {
        new_id = strdup(kms_id);
        if (!new_id) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    }
    /* Nothing to do when the key does not change. */
    if (s->kms_key_arn && strcmp(s->kms_key_arn, key_arn) == 0 &&
        ((!new_id && !s->kms_key_id) || (new_id && s->kms_key_id &&
                                         strcmp(new_id, s->kms_key_id) == 0)))
        goto fail;
    r = sm_key_validate(rc, s, key_arn);
    if (tr_failed(r)) goto fail;

    /* Open everything first, under the old key... */
    static const char *const LABELS[] = { SM_CURRENT, SM_PENDING, SM_PREVIOUS };
    struct secret_version *todo[3];
    size_t ntodo = 0;
    for (size_t i = 0; i < 3; i++) {
        struct secret_version *v = sm_version_by_stage(s, LABELS[i]);
        bool dup = false;
        for (size_t j = 0; j < ntodo; j++) dup |= todo[j] == v;
        if (v && v->ct && !dup) todo[ntodo++] = v;
    }
    free(s->kms_key_id);
    s->kms_key_id = new_id;
    new_id = NULL;
    free(s->kms_key_arn);
    s->kms_key_arn = key_arn;
    key_arn = NULL;
    /* ...and seal each under the new one (s->kms_key_* now name it). */
    for (size_t i = 0; i < ntodo && tr_ok(r); i++) {
        struct secret_version *v = todo[i];
        buf_reset(&pt);
        /* sm_open needs the version's own edk, which names the old key. */
        r = sm_open(rc, s, v, &pt);
        if (tr_ok(r)) r = sm_seal(rc, s, v, pt.data, pt.len, v->binary);
        if (tr_ok(r)) r = sm_version_save(rc->st, s, v);
    }
fail:
    buf_free(&pt);
    free(key_arn);
    free(new_id);
    return r;
}

SM_VALUE_HANDLER(sm_op_update_secret)
{
    static const char *const current[] = { SM_CURRENT };
    struct buf pt = BUF_SECRET(VALUE_BUF);
    struct secret s;
    struct secret_version *v = NULL;
    struct ctx_builder *c = NULL;
    const char *id, *token, *desc, *kms_id, *type;
    bool has_value, binary, existed = false, changed = false, found = false;
    char *peek_arn = NULL;
    tr_result r;

    memset(&s, 0, sizeof s);
    GUARD(sm_get_secret_id(in, &id));
    GUARD(get_token(in, &token));
    GUARD(json_get_str(in, "Description", false, 0, SM_DESC_MAX, &desc));
    GUARD(json_get_str(in, "KmsKeyId", false, 0, 2048, &kms_id));
    GUARD(json_get_str(in, "Type", false, 0, 256, &type));
    r = get_value(in, &pt, &has_value, &binary);
    if (tr_ok(r) && has_value && !token)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_INVALID_REQUEST, "%s", SM_MSG_NEED_TOKEN);
    if (tr_failed(r)) goto fail;
    c = malloc(sizeof *c);
    if (!c) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    sm_ctx_init(c);
    /* sm_find_authorized's steps, with the secret's account known for
     * secretsmanager:KmsKeyArn in between. */
    r = sm_lookup(rc, id, &s, &found);
    if (tr_failed(r)) goto fail;
    if (kms_id)
        peek_arn = sm_key_arn_peek(rc, found ? s.account : rc->who.account_id,
                                   found ? s.region : rc->region, kms_id);
    r = sm_ctx_add_request_keys(c, desc, kms_id, peek_arn, type);
    if (tr_ok(r)) r = sm_authorize(rc, rc->op->action, id, found ? &s : NULL,
                                   c->e, c->n);
    if (tr_ok(r) && !found)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_RESOURCE_NOT_FOUND, "%s", SM_MSG_NOT_FOUND);
    if (tr_ok(r)) r = sm_check_not_replica(&s);
    if (tr_ok(r)) sm_replica_note(&s);
    if (tr_ok(r)) r = sm_check_live(&s);
    if (tr_failed(r)) goto fail;
    if (kms_id) {
        r = change_key(rc, &s, kms_id);
        if (tr_failed(r)) goto fail;
        changed = true;
    }
    if (desc) {
        char *d = strdup(desc);
        if (!d) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
        free(s.description);
        s.description = d;
        changed = true;
    }
    if (type) {
        r = sm_set(s.doc, "type", json_string(type));
        if (tr_failed(r)) goto fail;
        changed = true;
    }
    if (has_value) {
        r = new_version(rc, &s, token, &pt, binary, current, 1, &v, &existed);
        if (tr_failed(r)) goto fail;
        changed |= !existed;
    }
    if (changed) {
        s.last_changed = sm_now(rc);
        r = sm_save(rc->st, &s, false);
        if (tr_failed(r)) goto fail;
    }
    r = reply_version(&s, v, false, out);
fail:
    buf_free(&pt);
    secret_free(&s);
    if (c) { iam_ctx_free(c); free(c); }
    free(peek_arn);
    return r;
}
