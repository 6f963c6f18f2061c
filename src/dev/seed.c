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
 *                    "ClientRequestToken": "<the first VersionId>" } ],
 *     "policies": [ { "PolicyName": "app", "Path": "/", "PolicyDocument": {..} } ],
 *     "users": [ { "UserName": "alice", "Path": "/", "Policies": { "name": {..} },
 *                  "ManagedPolicies": ["arn:aws:iam::<acct>:policy/app"],
 *                  "AccessKeys": [ { "AccessKeyId": "AKIA...",
 *                                    "SecretAccessKey": "..." } ] } ],
 *     "roles": [ { "RoleName": "app", "AssumeRolePolicyDocument": {..},
 *                  "Path": "/", "Policies": {..}, "ManagedPolicies": [..] } ] }
 * Region defaults to the server's region.  A fixed KeyId and Material make
 * a key reproducible: a ciphertext made in one run decrypts in the next.
 *
 * Variables (README, "Use it in your test suite"): everything a seed makes
 * lives in the default account, so an entry says "this account" with
 * ${AccountId}, and "this entry's region" with ${Region} (a key's or a
 * secret's Region, else the server's), in any string value of the entry --
 * ARNs in policies, ManagedPolicies, KmsKeyId, descriptions.  Member names
 * are not expanded, and neither are the members that are data, kept byte
 * for byte: SecretString, SecretBinary, Material, SecretAccessKey.  A
 * ${Name} of letters and digits that is neither variable is a mistake
 * (${AcountId}) and stops the seed naming it; anything else in ${...} --
 * IAM's policy variables ${aws:username}, ${*}, ${?}, ${$} -- is left for
 * the policy engine.  An ARN with another account id names that account,
 * a foreign one, as on AWS.
 *
 * Keys are created directly (kms_key_create with the given id and
 * material), and so are users' fixed access keys (wrapped like
 * CreateAccessKey's); aliases, key policies, secrets and every IAM entity
 * go through the operations themselves (op_run, op/op.h, as a request
 * does) as the default account's root, so every rule the API applies
 * (names, policy checks, envelope encryption) applies to the seed too.
 * Order: policies, keys, secrets, users, roles.  Errors name the entry
 * that failed (the message becomes "seed: keys[0]: ...").  Material is
 * decoded into a secret buffer and wiped once wrapped; the form bodies
 * that carry secret access keys are secret buffers too.
 */
#include "dev/dev.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/hex.h"
#include "core/str.h"
#include "core/json.h"
#include "core/secmem.h"
#include "crypto/keyring.h"
#include "crypto/rand.h"
#include "iam/iam_ops.h"
#include "kms/kms.h"
#include "op/clock.h"
#include "op/query_proto.h"
#include "secrets/ops.h"

#define SEED_FILE_MAX (64u << 20)

/* A request context for the default account's root in `region`. */
static TR_RESULT root_ctx(const struct server_env *env, const char *account, const char *region,
                          const char *service, struct req_ctx *rc)
{
    memset(rc, 0, sizeof *rc);
    rc->env = env;
    rc->st = env->st;
    rc->kr = env->kr;
    GUARD(str_copy(rc->region, sizeof rc->region, region, "the region"));
    GUARD(str_copy(rc->service, sizeof rc->service, service, "the service name"));
    rc->who.type = PRINCIPAL_ROOT;
    GUARD(str_copy(rc->who.account_id, sizeof rc->who.account_id, account, "the account id"));
    GUARD(str_format(rc->who.arn, sizeof rc->who.arn, "the root ARN", "arn:aws:iam::%s:root", account));
    GUARD(str_copy(rc->who.id, sizeof rc->who.id, account, "the account id"));
    STR_SET(rc->request_id, "00000000-0000-4000-8000-000000000000");
    rc->now = tr_now();
    rc->source_ip = "127.0.0.1";
    return TR_OK;
}

/* Run operation `name` of `svc` with `in` (op_run: inside a transaction,
 * as the API would); the reply is dropped.  Replies can carry secrets
 * (CreateAccessKey's secret key): the buffer is a secret one. */
static TR_RESULT run(struct req_ctx *rc, const struct op_service *svc, const char *name,
                     const struct op_input *in)
{
    const struct op_def *op = op_find(svc, name);
    ENSURE(op != NULL, TR_E_INTERNAL);
    struct buf reply = BUF_SECRET(OP_REPLY_MAX);
    tr_result r = op_run(rc, svc, op, in, &reply);
    buf_free(&reply);
    return r;
}

/* run with a JSON input (NULL: json_pack failed, an internal error). */
static TR_RESULT run_json(struct req_ctx *rc, const struct op_service *svc, const char *name, json_t *in)
{
    ENSURE(in != NULL, TR_E_INTERNAL);
    return run(rc, svc, name, &(struct op_input){ .json = in });
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

    r = root_ctx(env, account, region, "kms", &rc);
    if (tr_failed(r)) goto fail;
    if (pol) {
        policy = json_is_string(pol) ? strdup(json_string_value(pol)) : json_dumps(pol, JSON_COMPACT);
        json_t *in = json_pack("{s:s, s:s, s:s}", "KeyId", k.key_id, "PolicyName", "default",
                               "Policy", policy ? policy : "");
        r = run_json(&rc, &kms_service, "PutKeyPolicy", in);
        json_decref(in);
        if (tr_failed(r)) goto fail;
    }
    size_t i;
    json_t *a;
    json_array_foreach(aliases, i, a) {
        json_t *in = json_pack("{s:O, s:s}", "AliasName", a, "TargetKeyId", k.key_id);
        r = run_json(&rc, &kms_service, "CreateAlias", in);
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
    r = root_ctx(env, account, region, "secretsmanager", &rc);
    if (tr_failed(r)) goto fail;
    r = run_json(&rc, &sm_service, "CreateSecret", in);
fail:
    json_decref(in);
    return r;
}

/* ---- IAM: through the query handlers -------------------------------------- */

/* Append k=v to an x-www-form-urlencoded body (RFC 3986 unreserved kept). */
static TR_RESULT form_add(struct buf *b, const char *k, const char *v)
{
    if (b->len) GUARD(buf_append(b, "&", 1));
    GUARD(buf_append_str(b, k));
    GUARD(buf_append(b, "=", 1));
    return pct_encode(b, v, strlen(v), NULL);
}

/* Run IAM action `name` with the form `body` (op_run, as run above); the
 * XML reply is dropped. */
static TR_RESULT run_iam(struct req_ctx *rc, const char *name, const struct buf *body)
{
    struct form f;
    tr_result r = form_parse(body->data, body->len, &f);
    if (tr_ok(r)) r = run(rc, &iam_service, name, &(struct op_input){ .form = &f });
    form_free(&f);
    return r;
}

/* One IAM call with up to three parameters (NULL values are left out). */
static TR_RESULT iam_call(struct req_ctx *rc, const char *action, const char *k1, const char *v1,
                          const char *k2, const char *v2, const char *k3, const char *v3)
{
    struct buf b = BUF_SECRET(256 * 1024);
    tr_result r = form_add(&b, "Action", action);
    if (tr_ok(r)) r = form_add(&b, "Version", "2010-05-08");
    if (tr_ok(r) && v1) r = form_add(&b, k1, v1);
    if (tr_ok(r) && v2) r = form_add(&b, k2, v2);
    if (tr_ok(r) && v3) r = form_add(&b, k3, v3);
    if (tr_ok(r)) r = run_iam(rc, action, &b);
    buf_free(&b);
    return r;
}

/* A policy document member: an object (serialized) or a string (copied).
 * *out is NULL when the member is absent; free() it. */
static TR_RESULT doc_text(json_t *e, const char *name, bool required, char **out)
{
    json_t *v = json_object_get(e, name);
    *out = NULL;
    if (!v && !required) return TR_OK;
    if (json_is_object(v)) *out = json_dumps(v, JSON_COMPACT);
    else if (json_is_string(v)) *out = strdup(json_string_value(v));
    else BAIL(TR_E_VALIDATION, "seed: %s must be a policy (an object or a string)", name);
    ENSURE(*out != NULL, TR_E_INTERNAL);
    return TR_OK;
}

/* Inline ("Policies": {name: doc}) and attached ("ManagedPolicies": [arn])
 * policies of a user or role. */
static TR_RESULT entity_policies(struct req_ctx *rc, json_t *e, const char *kind, const char *name)
{
    json_t *pols = json_object_get(e, "Policies"), *managed = json_object_get(e, "ManagedPolicies");
    const char *pname;
    json_t *v;
    size_t i;
    bool user = strcmp(kind, "User") == 0;

    if ((pols && !json_is_object(pols)) || (managed && !json_is_array(managed)))
        BAIL(TR_E_VALIDATION, "seed: Policies must map names to policies, ManagedPolicies be a list");
    json_object_foreach(pols, pname, v) {
        json_t *holder = json_pack("{s:O}", "d", v);
        char *text = NULL;
        tr_result r = holder ? doc_text(holder, "d", true, &text)
                             : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        json_decref(holder);
        if (tr_ok(r))
            r = iam_call(rc, user ? "PutUserPolicy" : "PutRolePolicy", user ? "UserName" : "RoleName",
                         name, "PolicyName", pname, "PolicyDocument", text);
        free(text);
        GUARD(r);
    }
    json_array_foreach(managed, i, v) {
        if (!json_is_string(v)) BAIL(TR_E_VALIDATION, "seed: ManagedPolicies must list policy ARNs");
        GUARD(iam_call(rc, user ? "AttachUserPolicy" : "AttachRolePolicy", user ? "UserName" : "RoleName",
                       name, "PolicyArn", json_string_value(v), NULL, NULL));
    }
    return TR_OK;
}

static bool akid_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 16 || n > 32) return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9'))) return false;
    return true;
}

/* A fixed access key for user `e` (stored as CreateAccessKey stores one). */
static TR_RESULT user_key(struct req_ctx *rc, const struct ent_rec *u, json_t *ak)
{
    const char *id = str_member(ak, "AccessKeyId"), *secret = str_member(ak, "SecretAccessKey");
    struct access_key_rec k;
    char label[KEYRING_LABEL_MAX], *doc = NULL;
    tr_result r;

    if (!akid_ok(id) || !secret || !*secret || strlen(secret) > 128)
        BAIL(TR_E_VALIDATION, "seed: AccessKeys need an AccessKeyId of 16-32 characters A-Z 0-9 "
                              "and a SecretAccessKey of 1-128 characters");
    memset(&k, 0, sizeof k);
    GUARD(keyring_label_access_key(label, id));
    snprintf(k.access_key_id, sizeof k.access_key_id, "%s", id);    /* fits: as above */
    GUARD(str_copy(k.account_id, sizeof k.account_id, u->account_id, "the account id"));
    k.principal_type = PRINCIPAL_USER;
    k.principal_arn = u->arn;
    k.principal_id = u->id;
    k.active = true;
    k.created = rc->now;
    json_t *d = json_pack("{s:s}", "user_name", u->name);
    doc = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    ENSURE(doc != NULL, TR_E_INTERNAL);
    k.doc = doc;
    k.wrapped_secret = BUF_INIT(512);
    r = keyring_wrap(rc->kr, label, (const uint8_t *)secret, strlen(secret), &k.wrapped_secret);
    if (tr_ok(r)) r = rc->st[0]->tx_begin(rc->st);
    if (tr_ok(r)) {
        r = rc->st[0]->access_key_put(rc->st, &k);
        if (tr_ok(r)) r = rc->st[0]->tx_commit(rc->st);
        else rc->st[0]->tx_rollback(rc->st);
    }
    buf_free(&k.wrapped_secret);
    free(doc);
    return r;
}

static TR_RESULT seed_user(const struct server_env *env, const char *account, json_t *e)
{
    struct req_ctx rc;
    struct ent_rec u;
    const char *name = str_member(e, "UserName");
    json_t *keys = json_object_get(e, "AccessKeys"), *ak;
    size_t i;

    if (!name) BAIL(TR_E_VALIDATION, "seed: a user needs a UserName");
    if (keys && !json_is_array(keys)) BAIL(TR_E_VALIDATION, "seed: AccessKeys must be a list");
    GUARD(root_ctx(env, account, env->default_region, "iam", &rc));
    GUARD(iam_call(&rc, "CreateUser", "UserName", name, "Path", str_member(e, "Path"), NULL, NULL));
    GUARD(entity_policies(&rc, e, "User", name));
    memset(&u, 0, sizeof u);
    GUARD(env->st[0]->ent_get(env->st, "user", account, name, &u));
    tr_result r = TR_OK;
    json_array_foreach(keys, i, ak) {
        r = json_is_object(ak) ? user_key(&rc, &u, ak)
                               : tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION,
                                            "seed: AccessKeys must list objects");
        if (tr_failed(r)) break;
    }
    ent_rec_free(&u);
    return r;
}

/* An IAM entity made from a name and one policy document: a role (its
 * trust policy; then its own policies) or a managed policy. */
struct doc_entity {
    const char *what;           /* for messages: "role" */
    const char *name;           /* the name member, and CreateX's parameter */
    const char *action;         /* CreateRole */
    const char *doc;            /* the document member, and CreateX's parameter */
    const char *policies_of;    /* entity_policies' kind, or NULL: none */
};

static TR_RESULT seed_doc_entity(const struct server_env *env, const char *account, json_t *e,
                                 const struct doc_entity *k)
{
    struct req_ctx rc;
    const char *name = str_member(e, k->name);
    char *text = NULL;

    if (!name) BAIL(TR_E_VALIDATION, "seed: a %s needs a %s", k->what, k->name);
    GUARD(root_ctx(env, account, env->default_region, "iam", &rc));
    GUARD(doc_text(e, k->doc, true, &text));
    tr_result r = iam_call(&rc, k->action, k->name, name, k->doc, text, "Path", str_member(e, "Path"));
    free(text);
    GUARD(r);
    return k->policies_of ? entity_policies(&rc, e, k->policies_of, name) : TR_OK;
}

static TR_RESULT seed_role(const struct server_env *env, const char *account, json_t *e)
{
    static const struct doc_entity role = {
        "role", "RoleName", "CreateRole", "AssumeRolePolicyDocument", "Role",
    };
    return seed_doc_entity(env, account, e, &role);
}

static TR_RESULT seed_policy(const struct server_env *env, const char *account, json_t *e)
{
    static const struct doc_entity policy = {
        "policy", "PolicyName", "CreatePolicy", "PolicyDocument", NULL,
    };
    return seed_doc_entity(env, account, e, &policy);
}

/* ---- ${AccountId} and ${Region} ------------------------------------------ */

struct seed_vars { const char *account; const char *region; };

/* Members whose values are data, stored exactly as written. */
static bool opaque_member(const char *name)
{
    return strcmp(name, "SecretString") == 0 || strcmp(name, "SecretBinary") == 0 ||
           strcmp(name, "Material") == 0 || strcmp(name, "SecretAccessKey") == 0;
}

/* True for a seed variable's shape: a letter, then letters and digits.
 * IAM's policy variables all have a colon (aws:username) or are one of
 * * ? $, so they never take this shape. */
static bool var_name_shape(const char *p, size_t n)
{
    if (n == 0 || !((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))) return false;
    for (size_t i = 1; i < n; i++)
        if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9')))
            return false;
    return true;
}

/* The string value v with the variables replaced (in place; untouched when
 * it holds none).  TR_E_VALIDATION for an unknown ${Name}. */
static TR_RESULT expand_string(json_t *v, const struct seed_vars *vars)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v), i = 0;
    struct buf out = BUF_INIT(SEED_FILE_MAX);
    tr_result r = TR_OK;

    if (!memmem(s, n, "${", 2)) return TR_OK;
    while (tr_ok(r) && i < n) {
        const char *open = memmem(s + i, n - i, "${", 2);
        const char *close = open ? memchr(open + 2, '}', (size_t)(s + n - open - 2)) : NULL;
        if (!close) {                       /* no more variables: the rest as is */
            r = buf_append(&out, s + i, n - i);
            break;
        }
        const char *name = open + 2;
        size_t nlen = (size_t)(close - name);
        const char *val = NULL;
        if (var_name_shape(name, nlen)) {
            if (nlen == 9 && memcmp(name, "AccountId", 9) == 0) val = vars->account;
            else if (nlen == 6 && memcmp(name, "Region", 6) == 0) val = vars->region;
            else {
                r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION,
                               "unknown variable ${%.*s} (a seed knows ${AccountId} and ${Region})",
                               (int)(nlen > 64 ? 64 : nlen), name);
                break;
            }
        }
        r = buf_append(&out, s + i, (size_t)(open - (s + i)));
        if (tr_ok(r)) r = val ? buf_append_str(&out, val) : buf_append(&out, open, nlen + 3);
        i = (size_t)(close + 1 - s);
    }
    if (tr_ok(r) && json_string_setn(v, out.len ? (const char *)out.data : "", out.len) != 0)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    buf_free(&out);
    return r;
}

/* Expand every string value under v but the opaque members' (a JSON
 * document nests at most JSON_PARSER_MAX_DEPTH levels). */
static TR_RESULT expand_value(json_t *v, const struct seed_vars *vars)
{
    const char *k;
    json_t *m;
    size_t i;

    if (json_is_string(v)) return expand_string(v, vars);
    json_object_foreach(v, k, m)
        if (!opaque_member(k)) GUARD(expand_value(m, vars));
    json_array_foreach(v, i, m) GUARD(expand_value(m, vars));
    return TR_OK;
}

/* Expand entry e of a section: ${Region} is the entry's own Region (itself
 * expanded against the server's) for keys and secrets, the server's for
 * the IAM entries, which have none. */
static TR_RESULT expand_entry(const struct server_env *env, const char *account, json_t *e)
{
    struct seed_vars vars = { account, env->default_region };
    json_t *region = json_object_get(e, "Region");
    if (json_is_string(region)) {
        GUARD(expand_string(region, &vars));
        vars.region = json_string_value(region);
    }
    return expand_value(e, &vars);
}

typedef TR_RESULT (*seed_fn)(const struct server_env *, const char *, json_t *);

/* The failure r of entry `section`[i], its message prefixed with the entry
 * ("seed: keys[0]: ..."), the error code kept. */
static tr_result entry_failed(const char *section, size_t i, tr_result r)
{
    const struct tr_error_info *e = tr_last_error();
    char msg[TR_ERR_MSG_MAX];
    const char *m = e->has_message ? e->message : tr_err_type(tr_code(r));
    if (strncmp(m, "seed: ", 6) == 0) m += 6;        /* the checks above say "seed: " too */
    snprintf(msg, sizeof msg, "%s", m);     /* fits: a message, no larger than msg */
    return tr_fail_at(__FILE__, __LINE__, tr_code(r), "seed: %s[%zu]: %s", section, i, msg);
}

TR_RESULT dev_seed_apply_json(const struct server_env *env, const char *account, json_t *doc)
{
    static const struct { const char *name; seed_fn fn; } sections[] = {
        { "policies", seed_policy }, { "keys", seed_key }, { "secrets", seed_secret },
        { "users", seed_user }, { "roles", seed_role },
    };
    const size_t nsec = sizeof sections / sizeof sections[0];
    const char *name;
    json_t *v, *e;
    size_t i, j;

    if (!json_is_object(doc)) BAIL(TR_E_VALIDATION, "seed: the file must hold a JSON object");
    json_object_foreach(doc, name, v) {
        for (j = 0; j < nsec && strcmp(name, sections[j].name) != 0; j++) continue;
        if (j == nsec)
            BAIL(TR_E_VALIDATION, "seed: unknown section '%.64s' (policies, keys, secrets, users, roles)",
                 name);
        if (!json_is_array(v)) BAIL(TR_E_VALIDATION, "seed: '%.64s' must be a list", name);
    }
    for (j = 0; j < nsec; j++) {
        json_array_foreach(json_object_get(doc, sections[j].name), i, e) {
            if (!json_is_object(e)) BAIL(TR_E_VALIDATION, "seed: %s[%zu] must be an object", sections[j].name, i);
            tr_result r = expand_entry(env, account, e);
            if (tr_ok(r)) r = sections[j].fn(env, account, e);
            if (tr_failed(r)) return entry_failed(sections[j].name, i, r);
        }
    }
    return TR_OK;
}

/* The seed file, read into a secret buf: it holds key material and secret
 * values, and json_load_file would pass them through stdio's buffer, which
 * fclose frees without wiping. */
static TR_RESULT read_seed(const char *path, struct buf *out)
{
    uint8_t chunk[4096];
    tr_result r = TR_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) BAIL(TR_E_VALIDATION, "seed %.200s: %s", path, strerror(errno));
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION, "seed %.200s: %s", path, strerror(errno));
            break;
        }
        if (n == 0) break;
        r = buf_append(out, chunk, (size_t)n);
        if (tr_failed(r)) {
            r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION, "seed %.200s: larger than %u bytes",
                           path, out->max);
            break;
        }
    }
    secure_zero(chunk, sizeof chunk);
    close(fd);
    return r;
}

TR_RESULT dev_seed_apply(const struct server_env *env, const char *account, const char *path)
{
    struct buf text = BUF_SECRET(SEED_FILE_MAX);
    json_error_t err;
    json_t *doc = NULL;
    tr_result r = read_seed(path, &text);
    if (tr_ok(r)) {
        doc = json_loadb((const char *)text.data, text.len, JSON_REJECT_DUPLICATES, &err);
        if (!doc)
            r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION, "seed %.200s: line %d: %.120s",
                           path, err.line, err.text);
    }
    buf_free(&text);
    if (tr_failed(r)) return r;
    r = dev_seed_apply_json(env, account, doc);
    json_decref(doc);
    return r;
}
