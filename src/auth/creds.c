/*
 * creds.c -- from a signed request to an authenticated principal.
 *
 * The secret access key is stored wrapped under the root key
 * ("access-key:<AKID>" label).  It is unwrapped only to derive the SigV4
 * signing key, then wiped; the signing key is kept in the per-thread cache
 * of sigv4.c (locked memory), so a steady client costs one store read and
 * one HMAC chain per request, not an unwrap.
 */
#include "auth/creds.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/secmem.h"
#include "kms/keyring.h"

#define UNRECOGNIZED "The security token included in the request is invalid."

static TR_RESULT check_scope(const struct server_env *env, const struct sigv4_auth *a,
                             const char *service)
{
    if (strcmp(a->service, service) != 0)
        BAIL(TR_E_INVALID_SIGNATURE,
             "Credential should be scoped to correct service: '%s'. ", service);
    if (strcmp(a->region, env->default_region) != 0)
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

TR_RESULT auth_request(const struct server_env *env, const struct sigv4_request *rq,
                       const char *service, time_t now, struct principal *who,
                       struct sigv4_auth *a)
{
    struct access_key_rec k = { 0 };
    uint8_t key[32];
    tr_result r;

    GUARD(sigv4_parse(rq, a));
    GUARD(check_scope(env, a, service));
    GUARD(sigv4_check_time(a, now));

    r = env->st[0]->access_key_get(env->st, a->access_key_id, &k);
    if (tr_failed(r)) {
        if (tr_code(r) == TR_E_KMS_NOT_FOUND) BAIL(TR_E_UNRECOGNIZED_CLIENT, UNRECOGNIZED);
        return r;
    }
    if (!k.active) { r = tr_fail_at(__FILE__, __LINE__, TR_E_UNRECOGNIZED_CLIENT, UNRECOGNIZED); goto fail; }
    if (k.expires && k.expires <= (int64_t)now) {
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
    access_key_rec_free(&k);
    return TR_OK;
fail:
    access_key_rec_free(&k);
    return r;
}
