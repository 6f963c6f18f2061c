/*
 * creds.c -- from a signed request to an authenticated principal.
 *
 * The secret access key is stored wrapped under the root key
 * ("access-key:<AKID>" label).  It is unwrapped only to derive the SigV4
 * signing key, then wiped; the signing key is kept in the per-thread cache
 * of sigv4.c (locked memory), so a steady client costs one store read and
 * one HMAC chain per request, not an unwrap.
 *
 * Temporary credentials (STS sessions, docs/internals/IAM_STORE.md) carry
 * the SHA-256 of their session token in the access key's doc: the request
 * must present X-Amz-Security-Token (header, or the presigned query's
 * parameter) and its digest must match, compared in constant time.  A
 * missing or wrong token, and any token sent with a permanent key, is
 * "The security token included in the request is invalid." (AWS's
 * InvalidClientTokenId / UnrecognizedClientException).  Expiry is judged
 * by the server's business clock (tr_now(), as STS stamped it), so
 * TRESOR_CLOCK_OFFSET moves it like every other recorded date.
 */
#include "auth/creds.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/ct.h"
#include "core/secmem.h"
#include "crypto/hash.h"
#include "dev/dev.h"
#include "kms/keyring.h"

#define UNRECOGNIZED "The security token included in the request is invalid."

static TR_RESULT check_scope(const struct server_env *env, const struct sigv4_auth *a,
                             const char *service)
{
    if (strcmp(a->service, service) != 0)
        BAIL(TR_E_INVALID_SIGNATURE,
             "Credential should be scoped to correct service: '%s'. ", service);
    /* dev mode: any region, each kept apart (dev/dev.h) */
    if (env->dev ? !dev_region_ok(a->region) : strcmp(a->region, env->default_region) != 0)
        BAIL(TR_E_INVALID_SIGNATURE, "Credential should be scoped to a valid region, not '%s'. ",
             a->region);
    return TR_OK;
}

static TR_RESULT signing_key(const struct server_env *env, const struct access_key_rec *k,
                             const struct sigv4_auth *a, uint8_t key[32])
{
    if (sigv4_cache_get(a, key)) return TR_OK;
    char label[64];
    snprintf(label, sizeof label, "access-key:%s", k->access_key_id);
    struct buf secret = BUF_SECRET(256);
    tr_result r = keyring_unwrap(env->kr, label, k->wrapped_secret.data,
                                 k->wrapped_secret.len, &secret);
    if (tr_ok(r))
        r = sigv4_signing_key((const char *)secret.data, secret.len, a->date,
                              a->region, a->service, key);
    buf_free(&secret);
    if (tr_ok(r)) sigv4_cache_put(a, key);
    return r;
}

/* The session-token rule for key k (see the file comment).  *role_arn
 * receives the session's role ARN from the doc ("" when none). */
static TR_RESULT check_token(const struct access_key_rec *k, const char *token,
                             char *role_arn, size_t role_arn_len)
{
    uint8_t want[SHA256_LEN], got[SHA256_LEN];
    json_t *doc = k->doc ? json_loads(k->doc, 0, NULL) : NULL;
    const char *hex = json_string_value(json_object_get(doc, "token_sha256"));
    bool has_token = token && *token;
    tr_result r = TR_OK;

    role_arn[0] = '\0';
    if (!hex) {
        if (has_token) r = tr_fail_at(__FILE__, __LINE__, TR_E_UNRECOGNIZED_CLIENT, UNRECOGNIZED);
        goto fail;
    }
    if (!has_token || strlen(hex) != 2 * SHA256_LEN || !hex_decode(hex, 2 * SHA256_LEN, want)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_UNRECOGNIZED_CLIENT, UNRECOGNIZED);
        goto fail;
    }
    r = sha256(token, strlen(token), got);
    if (tr_failed(r)) goto fail;
    if (!ct_memeq(want, got, SHA256_LEN)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_UNRECOGNIZED_CLIENT, UNRECOGNIZED);
        goto fail;
    }
    const char *ra = json_string_value(json_object_get(doc, "role_arn"));
    snprintf(role_arn, role_arn_len, "%s", ra ? ra : "");
fail:
    json_decref(doc);
    return r;
}

/* dev mode (dev/dev.h): an access key the store does not know acts as the
 * default account's root user.  There is no secret, so no signature to
 * check; the scope (region, service) was checked by the caller. */
static TR_RESULT dev_root(const struct server_env *env, const struct sigv4_auth *a,
                          struct principal *who)
{
    const char *acct = dev_account(env->dev);
    memset(who, 0, sizeof *who);
    who->type = PRINCIPAL_ROOT;
    snprintf(who->account_id, sizeof who->account_id, "%s", acct);
    snprintf(who->arn, sizeof who->arn, "arn:aws:iam::%s:root", acct);
    snprintf(who->id, sizeof who->id, "%s", acct);
    snprintf(who->access_key_id, sizeof who->access_key_id, "%.32s", a->access_key_id);
    return TR_OK;
}

TR_RESULT auth_request(const struct server_env *env, const struct sigv4_request *rq,
                       const char *service, time_t now, struct principal *who,
                       struct sigv4_auth *a)
{
    struct access_key_rec k = { 0 };
    uint8_t key[32];
    char role_arn[sizeof who->role_arn];
    tr_result r;

    GUARD(sigv4_parse(rq, a));
    GUARD(check_scope(env, a, service));
    if (!env->dev) GUARD(sigv4_check_time(a, now));   /* dev: test suites freeze time */

    r = env->st[0]->access_key_get(env->st, a->access_key_id, &k);
    if (tr_failed(r)) {
        if (tr_code(r) == TR_E_KMS_NOT_FOUND && env->dev) return dev_root(env, a, who);
        if (tr_code(r) == TR_E_KMS_NOT_FOUND) BAIL(TR_E_UNRECOGNIZED_CLIENT, UNRECOGNIZED);
        return r;
    }
    if (!k.active) { r = tr_fail_at(__FILE__, __LINE__, TR_E_UNRECOGNIZED_CLIENT, UNRECOGNIZED); goto fail; }
    r = check_token(&k, a->security_token, role_arn, sizeof role_arn);
    if (tr_failed(r)) goto fail;
    /* `now` shifted by the business clock's offset (tr_now() - real time). */
    if (k.expires && k.expires <= (int64_t)now + (tr_now() - (int64_t)time(NULL))) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_EXPIRED_TOKEN,
                       "The security token included in the request is expired");
        goto fail;
    }
    r = signing_key(env, &k, a, key);
    if (tr_failed(r)) goto fail;
    r = sigv4_verify(rq, a, key, true);
    secure_zero(key, sizeof key);
    if (tr_failed(r)) goto fail;

    memset(who, 0, sizeof *who);
    who->type = k.principal_type;
    snprintf(who->account_id, sizeof who->account_id, "%s", k.account_id);
    snprintf(who->arn, sizeof who->arn, "%s", k.principal_arn ? k.principal_arn : "");
    snprintf(who->id, sizeof who->id, "%s", k.principal_id ? k.principal_id : "");
    snprintf(who->role_arn, sizeof who->role_arn, "%s", role_arn);
    snprintf(who->access_key_id, sizeof who->access_key_id, "%s", k.access_key_id);
    access_key_rec_free(&k);
    return TR_OK;
fail:
    access_key_rec_free(&k);
    return r;
}
