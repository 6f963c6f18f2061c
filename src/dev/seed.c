/*
 * seed.c -- `tresor serve --dev --seed FILE`: preload keys and secrets
 * from a JSON file, so a test suite starts from a known state.
 *
 * The file (JSON only: YAML would need another library):
 *   { "keys": [ { "KeyId": "<uuid>", "Region": "eu-west-1",
 *                 "Description": "...", "Material": "<base64 of 32 bytes>",
 *                 "Aliases": ["alias/app"], "Policy": {..} or "<text>" } ],
 *     "secrets": [ { "Name": "db/password", "Region": "eu-west-1",
 *                    "SecretString": "..." | "SecretBinary": "<base64>",
 *                    "KmsKeyId": "alias/app", "Description": "...",
 *                    "ClientRequestToken": "<the first VersionId>" } ] }
 * Region defaults to the server's region.  A fixed KeyId and Material make
 * a key reproducible: a ciphertext made in one run decrypts in the next.
 *
 * Keys are created directly (kms_key_create with the given id and
 * material); aliases, policies and secrets go through the operation
 * handlers themselves (kms_ops, sm_ops) as the default account's root, so
 * every rule the API applies (names, policy checks, envelope encryption)
 * applies to the seed too.  Errors name the entry that failed.  Material
 * is decoded into a secret buffer and wiped once wrapped.
 */
#include "dev/dev.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/secmem.h"
#include "crypto/rand.h"
#include "iam/authz.h"
#include "kms/kms.h"

/* A request context for the default account's root in `region`. */
static void root_ctx(const struct server_env *env, const char *account, const char *region,
                     const char *service, struct req_ctx *rc)
{
    memset(rc, 0, sizeof *rc);
    rc->env = env;
    rc->st = env->st;
    rc->kr = env->kr;
    snprintf(rc->region, sizeof rc->region, "%s", region);
    snprintf(rc->service, sizeof rc->service, "%s", service);
    rc->who.type = PRINCIPAL_ROOT;
    snprintf(rc->who.account_id, sizeof rc->who.account_id, "%s", account);
    snprintf(rc->who.arn, sizeof rc->who.arn, "arn:aws:iam::%s:root", account);
    snprintf(rc->who.id, sizeof rc->who.id, "%s", account);
    snprintf(rc->request_id, sizeof rc->request_id, "00000000-0000-4000-8000-000000000000");
    rc->now = tr_now();
    rc->source_ip = "127.0.0.1";
}

/* Run operation `name` of `ops` with `in` inside a transaction, as the
 * API would; the reply is dropped. */
static TR_RESULT run(struct req_ctx *rc, const struct op_def *ops, const char *name, json_t *in)
{
    const struct op_def *op = ops;
    while (op->name && strcmp(op->name, name) != 0) op++;
    ENSURE(op->name != NULL, TR_E_INTERNAL);
    json_t *out = NULL;
    GUARD(rc->st[0]->tx_begin(rc->st));
    tr_result r = op->fn(rc, in, &out);
    if (tr_ok(r)) r = rc->st[0]->tx_commit(rc->st);
    else rc->st[0]->tx_rollback(rc->st);
    json_decref(out);
    if (rc->identity) {
        iam_identity_free(rc->identity);
        free(rc->identity);
        rc->identity = NULL;
    }
    return r;
}

static const char *str_member(json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}

static TR_RESULT region_of(const struct server_env *env, json_t *entry, const char **out)
{
    json_t *v = json_object_get(entry, "Region");
    *out = env->default_region;
    if (!v) return TR_OK;
    if (!json_is_string(v) || !dev_region_ok(json_string_value(v)))
        BAIL(TR_E_VALIDATION, "seed: Region must be a region name like eu-west-1");
    *out = json_string_value(v);
    return TR_OK;
}

/* Decode Material (base64 of exactly 32 bytes) into m (a secret buf). */
static TR_RESULT material_of(json_t *entry, struct buf *m, bool *given)
{
    json_t *v = json_object_get(entry, "Material");
    *given = false;
    if (!v) return TR_OK;
    const char *s = json_string_value(v);
    if (!s || tr_failed(b64_decode(s, strlen(s), m)) || m->len != KMS_MATERIAL_LEN) {
        buf_reset(m);
        BAIL(TR_E_VALIDATION, "seed: Material must be base64 of exactly 32 bytes");
    }
    *given = true;
    return TR_OK;
}

static TR_RESULT seed_key(const struct server_env *env, const char *account, json_t *e)
{
    struct buf m = BUF_SECRET(64);
    struct key_rec k;
    struct req_ctx rc;
    const char *region, *id = str_member(e, "KeyId");
    json_t *aliases = json_object_get(e, "Aliases"), *pol = json_object_get(e, "Policy");
    char *policy = NULL;
    bool given = false;
    tr_result r;

    memset(&k, 0, sizeof k);
    r = region_of(env, e, &region);
    if (tr_failed(r)) goto fail;
    if (json_object_get(e, "KeyId") && (!id || !kms_is_key_id(id))) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION, "seed: KeyId must be a key id (a UUID)");
        goto fail;
    }
    if ((aliases && !json_is_array(aliases)) || (pol && !json_is_object(pol) && !json_is_string(pol))) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION,
                       "seed: Aliases must be a list, Policy an object or a string");
        goto fail;
    }
    r = material_of(e, &m, &given);
    if (tr_failed(r)) goto fail;

    struct kms_new_key nk = {
        .account = account, .region = region, .description = str_member(e, "Description"),
        .key_manager = "CUSTOMER", .now = tr_now(), .key_id = id,
        .material = given ? m.data : NULL,
    };
    r = env->st[0]->tx_begin(env->st);
    if (tr_failed(r)) goto fail;
    r = kms_key_create(env->st, env->kr, &nk, &k);
    if (tr_ok(r)) r = env->st[0]->tx_commit(env->st);
    else env->st[0]->tx_rollback(env->st);
    buf_free(&m);                       /* wrapped now: wipe the clear copy */
    if (tr_failed(r)) goto fail;

    root_ctx(env, account, region, "kms", &rc);
    if (pol) {
        policy = json_is_string(pol) ? strdup(json_string_value(pol)) : json_dumps(pol, JSON_COMPACT);
        json_t *in = json_pack("{s:s, s:s, s:s}", "KeyId", k.key_id, "PolicyName", "default",
                               "Policy", policy ? policy : "");
        r = in ? run(&rc, kms_ops, "PutKeyPolicy", in) : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        json_decref(in);
        if (tr_failed(r)) goto fail;
    }
    size_t i;
    json_t *a;
    json_array_foreach(aliases, i, a) {
        json_t *in = json_pack("{s:O, s:s}", "AliasName", a, "TargetKeyId", k.key_id);
        r = in ? run(&rc, kms_ops, "CreateAlias", in) : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        json_decref(in);
        if (tr_failed(r)) goto fail;
    }
fail:
    buf_free(&m);
    free(policy);
    key_rec_free(&k);
    return r;
}

static TR_RESULT seed_secret(const struct server_env *env, const char *account, json_t *e)
{
    static const char *const members[] = {
        "Name", "SecretString", "SecretBinary", "KmsKeyId", "Description", "ClientRequestToken",
    };
    char token[37];
    struct req_ctx rc;
    const char *region;
    json_t *in = json_object();

    ENSURE(in != NULL, TR_E_INTERNAL);
    tr_result r = region_of(env, e, &region);
    if (tr_failed(r)) goto fail;
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
        json_t *v = json_object_get(e, members[i]);
        if (v) json_object_set(in, members[i], v);
    }
    if (!json_object_get(in, "ClientRequestToken")) {   /* the SDKs make one up too */
        r = rand_uuid(token);
        if (tr_ok(r) && json_object_set_new(in, "ClientRequestToken", json_string(token)) != 0)
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        if (tr_failed(r)) goto fail;
    }
    root_ctx(env, account, region, "secretsmanager", &rc);
    r = run(&rc, sm_ops, "CreateSecret", in);
fail:
    json_decref(in);
    return r;
}

TR_RESULT dev_seed_apply_json(const struct server_env *env, const char *account, json_t *doc)
{
    static const char *const known[] = { "keys", "secrets" };
    const char *name;
    json_t *v, *e;
    size_t i;

    if (!json_is_object(doc)) BAIL(TR_E_VALIDATION, "seed: the file must hold a JSON object");
    json_object_foreach(doc, name, v) {
        bool ok = false;
        for (i = 0; i < sizeof known / sizeof known[0]; i++) ok |= strcmp(name, known[i]) == 0;
        if (!ok) BAIL(TR_E_VALIDATION, "seed: unknown section '%.64s' (keys, secrets)", name);
        if (!json_is_array(v)) BAIL(TR_E_VALIDATION, "seed: '%.64s' must be a list", name);
    }
    json_array_foreach(json_object_get(doc, "keys"), i, e) {
        if (!json_is_object(e)) BAIL(TR_E_VALIDATION, "seed: keys[%zu] must be an object", i);
        tr_result r = seed_key(env, account, e);
        if (tr_failed(r)) {
            log_msg("error", "seed: keys[%zu]: %s", i, tr_last_error()->message);
            return r;
        }
    }
    json_array_foreach(json_object_get(doc, "secrets"), i, e) {
        if (!json_is_object(e)) BAIL(TR_E_VALIDATION, "seed: secrets[%zu] must be an object", i);
        tr_result r = seed_secret(env, account, e);
        if (tr_failed(r)) {
            log_msg("error", "seed: secrets[%zu]: %s", i, tr_last_error()->message);
            return r;
        }
    }
    return TR_OK;
}

TR_RESULT dev_seed_apply(const struct server_env *env, const char *account, const char *path)
{
    json_error_t err;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!doc) BAIL(TR_E_VALIDATION, "seed %.200s: line %d: %.120s", path, err.line, err.text);
    tr_result r = dev_seed_apply_json(env, account, doc);
    json_decref(doc);
    return r;
}
