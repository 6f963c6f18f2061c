/*
 * creds.c -- from a signed request to an authenticated principal.
 *
 * The secret access key is stored wrapped under the root key
 * ("access-key:<AKID>" label).  It is unwrapped only to derive the SigV4
 * signing key, then wiped; the signing key is kept in the per-thread cache
 * of sigv4_cache.c (locked memory, and keyed into an HMAC context), bound
 * to the wrapped secret it came from, so a steady client costs one HMAC of
 * its string to sign per request, not an unwrap nor a keying, and a
 * key id whose secret is another one (a store replaced by dev mode's
 * reset) never meets a signing key of the old secret.  What the access
 * key's record says (principal, state, expiry, session-token digest, the
 * wrapped secret) is kept per thread while the store generation is
 * unchanged (ak_info_get), so a steady client costs no store read either.
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
 * GetSessionToken's credentials are refused by IAM the same way unless
 * MFA was included when they were made (never, here: there are no MFA
 * devices), as AWS refuses them.
 *
 * A key that is gone -- deleted, or a session purged some time after it
 * expired -- leaves a tombstone in the store, and is refused as AWS would
 * refuse it (refuse_known), never taken for a key tresor does not know:
 * in dev mode those act as the account root.
 */
#include "auth/creds.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/key_last_used.h"
#include "auth/sigv4_cache.h"
#include "core/buf.h"
#include "core/cache.h"
#include "core/ct.h"
#include "core/secmem.h"
#include "core/str.h"
#include "crypto/hash.h"
#include "crypto/keyring.h"
#include "op/clock.h"

#define UNRECOGNIZED "The security token included in the request is invalid."

static TR_RESULT check_scope(const struct server_env *env, const struct sigv4_auth *a,
                             const char *service)
{
    if (strcmp(a->service, service) != 0)
        BAIL(TR_E_INVALID_SIGNATURE,
             "Credential should be scoped to correct service: '%s'. ", service);
    /* the regions served, each kept apart (op.h server_env.regions; dev
     * mode: any region unless --regions) */
    if (!server_region_served(env, a->region))
        BAIL(TR_E_INVALID_SIGNATURE, "Credential should be scoped to a valid region, not '%s'. ",
             a->region);
    return TR_OK;
}

/* IAM and STS: the services that speak the query protocol. */
static bool query_service(const char *service)
{
    return strcmp(service, "iam") == 0 || strcmp(service, "sts") == 0;
}

/* What authentication needs of an access key, read from its record and
 * doc.  Kept per thread (below), so a steady client costs no store read
 * and no JSON parse per request. */
enum { TOK_NONE, TOK_HASH, TOK_BAD };

struct ak_info {
    char akid[33];
    char account_id[ACCOUNT_ID_LEN + 1];
    int type;
    char arn[PRINCIPAL_ARN_MAX];
    char id[256];
    bool active;
    int64_t expires;
    int token;                       /* TOK_NONE: a permanent key; TOK_HASH: a session,
                                        token_hash set; TOK_BAD: a stored hash that does
                                        not decode (no token can match) */
    uint8_t token_hash[SHA256_LEN];
    bool mfa;                        /* sessions: MFA was included when it was made */
    char role_arn[PRINCIPAL_ARN_MAX]; /* sessions: the role's ARN; else "" */
    uint8_t wrapped[SIGV4_CACHE_SOURCE_MAX]; /* the wrapped secret (ciphertext) */
    size_t wrapped_len;
    /* GetAccessKeyLastUsed (auth/key_last_used.c): the minute, service and
     * Region this thread last noted for the key; a use that matches them
     * notes nothing. */
    int64_t noted_minute;
    char noted_service[24];
    char noted_region[32];
};

/* *found false when the store has no such key.  Every identifier is
 * copied whole or the lookup fails (core/str.h): a cut ARN would name
 * another principal. */
static TR_RESULT ak_info_load(store_t st, const char *akid, struct ak_info *out, bool *found)
{
    struct access_key_rec k = { 0 };
    json_t *doc = NULL;
    memset(out, 0, sizeof *out);
    *found = false;
    tr_result r = st[0]->access_key_get(st, akid, &k);
    if (tr_failed(r)) return tr_code(r) == TR_E_STORE_NOT_FOUND ? TR_OK : r;
    r = str_copy(out->akid, sizeof out->akid, k.access_key_id, "access key id");
    if (tr_ok(r)) r = str_copy(out->account_id, sizeof out->account_id, k.account_id, "account id");
    if (tr_ok(r)) r = str_copy(out->arn, sizeof out->arn, k.principal_arn, "principal ARN");
    if (tr_ok(r)) r = str_copy(out->id, sizeof out->id, k.principal_id, "principal id");
    if (tr_failed(r)) goto fail;
    if (k.wrapped_secret.len > sizeof out->wrapped) {
        /* never written by tresor: it wraps at most 128 bytes of secret */
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        goto fail;
    }
    memcpy(out->wrapped, k.wrapped_secret.data, k.wrapped_secret.len);
    out->wrapped_len = k.wrapped_secret.len;
    out->type = k.principal_type;
    out->active = k.active;
    out->expires = k.expires;
    doc = k.doc ? json_loads(k.doc, 0, NULL) : NULL;
    const char *hex = json_string_value(json_object_get(doc, "token_sha256"));
    if (hex) {
        bool ok = strlen(hex) == 2 * SHA256_LEN && hex_decode(hex, 2 * SHA256_LEN, out->token_hash);
        out->token = ok ? TOK_HASH : TOK_BAD;
        out->mfa = json_is_true(json_object_get(doc, "mfa"));
        const char *ra = json_string_value(json_object_get(doc, "role_arn"));
        r = str_copy(out->role_arn, sizeof out->role_arn, ra, "session role ARN");
        if (tr_failed(r)) goto fail;
    }
    *found = true;
fail:
    json_decref(doc);
    access_key_rec_free(&k);
    return r;
}

/* ak_info_load through this thread's cache (core/cache.h), by access key
 * id: entries are valid while the store generation is unchanged, so a key
 * deactivated, deleted or expired-and-purged is seen by the next request.
 * Absent keys are not cached.  *out is the cache's entry (valid until this
 * thread's next ak_info_get) or `scratch`. */
static struct cache_class access_keys =
    CACHE_CLASS("access-keys", CACHE_BY_GENERATION, .slots = 8, .value_size = sizeof(struct ak_info));

static TR_RESULT ak_info_get(store_t st, const char *akid, struct ak_info *scratch,
                             struct ak_info **out, bool *found)
{
    struct cache_key key;
    struct cache_gen gen = cache_enabled() ? st[0]->generation_of(st, STORE_DOM_IAM) : CACHE_GEN_NONE;
    cache_key_init(&key);
    cache_key_str(&key, akid);
    *out = cache_get(&access_keys, &key, gen);
    *found = *out != NULL;
    if (*out) return TR_OK;
    *out = scratch;
    GUARD(ak_info_load(st, akid, scratch, found));
    struct ak_info *v = *found ? cache_put(&access_keys, &key, gen) : NULL;
    if (v) *v = *scratch;
    return TR_OK;
}

/* A long-term key signed a request of service in region: note it for
 * GetAccessKeyLastUsed once per minute, service and Region (the
 * comparison is all a steady client costs; key_last_used.c). */
static void note_use(struct ak_info *k, const char *service, const char *region, time_t now)
{
    int64_t minute = (int64_t)now / KEY_USED_GRANULARITY;
    if (minute == k->noted_minute && strcmp(k->noted_service, service) == 0 &&
        strcmp(k->noted_region, region) == 0)
        return;
    key_used_note(k->akid, tr_now(), service, region);
    k->noted_minute = minute;
    if (tr_failed(str_copy(k->noted_service, sizeof k->noted_service, service, "service")) ||
        tr_failed(str_copy(k->noted_region, sizeof k->noted_region, region, "region"))) {
        k->noted_minute = 0;                   /* never matches: noted each time */
        tr_clear_error();
    }
}

/* Check the request's signature with the signing key of its scope: the
 * one sigv4_cache.c keeps, keyed, when it was derived from this wrapped
 * secret; else the secret is unwrapped, kSigning derived (and cached), the
 * secret and kSigning wiped. */
static TR_RESULT verify_signature(const struct server_env *env, const struct ak_info *k,
                                  const struct sigv4_request *rq, const struct sigv4_auth *a)
{
    struct hmac_key *mac = sigv4_cache_get_mac(a, k->wrapped, k->wrapped_len);
    if (mac) return sigv4_verify_mac(rq, a, mac, true);
    char label[KEYRING_LABEL_MAX];
    uint8_t key[SHA256_LEN];
    GUARD(keyring_label_access_key(label, k->akid));
    struct buf secret = BUF_SECRET(256);
    tr_result r = keyring_unwrap(env->kr, label, k->wrapped, k->wrapped_len, &secret);
    if (tr_ok(r))
        r = sigv4_signing_key((const char *)secret.data, secret.len, a->date,
                              a->region, a->service, key);
    buf_free(&secret);
    if (tr_ok(r)) {
        mac = sigv4_cache_put(a, k->wrapped, k->wrapped_len, key);
        r = mac ? sigv4_verify_mac(rq, a, mac, true) : sigv4_verify(rq, a, key, true);
    }
    secure_zero(key, sizeof key);
    return r;
}

/* The session-token rule (see the file comment). */
static TR_RESULT check_token(const struct ak_info *k, const char *token)
{
    uint8_t got[SHA256_LEN];
    bool has_token = token && *token;

    if (k->token == TOK_NONE) {
        if (has_token) BAIL(TR_E_UNRECOGNIZED_CLIENT, UNRECOGNIZED);
        return TR_OK;
    }
    if (k->token == TOK_BAD || !has_token) BAIL(TR_E_UNRECOGNIZED_CLIENT, UNRECOGNIZED);
    GUARD(sha256(token, strlen(token), got));
    if (!ct_memeq(k->token_hash, got, SHA256_LEN)) BAIL(TR_E_UNRECOGNIZED_CLIENT, UNRECOGNIZED);
    return TR_OK;
}

/* An access key the store does not hold: one that existed once (its
 * tombstone, store.h) is refused as AWS refuses it -- a session past its
 * expiry that presents its own token is ExpiredToken, anything else
 * "invalid" -- in dev mode too: such a key never falls through to the
 * account root.  TR_OK when tresor never knew the key. */
static TR_RESULT refuse_known(const struct server_env *env, const struct sigv4_auth *a, time_t now)
{
    int64_t expires = 0;
    char hex[2 * SHA256_LEN + 1];
    uint8_t want[SHA256_LEN], got[SHA256_LEN];
    tr_result r = env->st[0]->access_key_tombstone_get(env->st, a->access_key_id, &expires, hex);
    if (tr_failed(r)) return tr_code(r) == TR_E_STORE_NOT_FOUND ? TR_OK : r;
    const char *token = a->security_token;
    bool expired = expires && expires <= (int64_t)now + (tr_now() - (int64_t)time(NULL));
    if (expired && hex[0] && token && *token && hex_decode(hex, 2 * SHA256_LEN, want)) {
        GUARD(sha256(token, strlen(token), got));
        if (ct_memeq(want, got, SHA256_LEN))
            BAIL(TR_E_EXPIRED_TOKEN, "The security token included in the request is expired");
    }
    BAIL(TR_E_UNRECOGNIZED_CLIENT, UNRECOGNIZED);
}

/* dev mode (op.h dev_hooks): an access key tresor never knew acts as the
 * default account's root user.  There is no secret, so no signature to
 * check; the scope (region, service) was checked by the caller. */
static TR_RESULT dev_root(const struct server_env *env, const struct sigv4_auth *a,
                          struct principal *who)
{
    const char *acct = env->dev->account;
    memset(who, 0, sizeof *who);
    who->type = PRINCIPAL_ROOT;
    GUARD(str_copy(who->account_id, sizeof who->account_id, acct, "the dev account id"));
    GUARD(str_format(who->arn, sizeof who->arn, "the root ARN", "arn:aws:iam::%s:root", acct));
    GUARD(str_copy(who->id, sizeof who->id, acct, "the dev account id"));
    STR_COPY_ARRAY(who->access_key_id, a->access_key_id);
    return TR_OK;
}

TR_RESULT auth_request(const struct server_env *env, const struct sigv4_request *rq,
                       const char *service, time_t now, struct principal *who,
                       struct sigv4_auth *a)
{
    struct ak_info scratch;
    struct ak_info *k;
    bool found = false;

    GUARD(sigv4_parse(rq, a));
    GUARD(check_scope(env, a, service));
    /* dev: test suites freeze time.  The query-protocol services hold a
     * presigned request to the 15-minute window of its X-Amz-Date, as STS
     * does (sigv4.h); KMS and Secrets Manager honour X-Amz-Expires. */
    if (!env->dev)
        GUARD(query_service(service) ? sigv4_check_time_skew(a, now) : sigv4_check_time(a, now));

    GUARD(ak_info_get(env->st, a->access_key_id, &scratch, &k, &found));
    if (!found) {
        GUARD(refuse_known(env, a, now));
        if (env->dev) return dev_root(env, a, who);
        BAIL(TR_E_UNRECOGNIZED_CLIENT, UNRECOGNIZED);
    }
    if (!k->active) BAIL(TR_E_UNRECOGNIZED_CLIENT, UNRECOGNIZED);
    GUARD(check_token(k, a->security_token));
    /* `now` shifted by the business clock's offset (tr_now() - real time). */
    if (k->expires && k->expires <= (int64_t)now + (tr_now() - (int64_t)time(NULL)))
        BAIL(TR_E_EXPIRED_TOKEN, "The security token included in the request is expired");
    /* GetSessionToken's credentials (a session that is not a role's) call
     * no IAM operation unless MFA was included (STS API reference,
     * GetSessionToken); IAM answers as for any token it does not accept. */
    if (k->token == TOK_HASH && k->type != PRINCIPAL_ROLE_SESSION && !k->mfa && strcmp(service, "iam") == 0)
        BAIL(TR_E_UNRECOGNIZED_CLIENT, UNRECOGNIZED);
    GUARD(verify_signature(env, k, rq, a));
    if (k->token == TOK_NONE) note_use(k, service, a->region, now);

    /* ak_info's buffers are the principal's sizes: these copies fit. */
    memset(who, 0, sizeof *who);
    who->type = k->type;
    GUARD(str_copy(who->account_id, sizeof who->account_id, k->account_id, "account id"));
    GUARD(str_copy(who->arn, sizeof who->arn, k->arn, "principal ARN"));
    GUARD(str_copy(who->id, sizeof who->id, k->id, "principal id"));
    GUARD(str_copy(who->role_arn, sizeof who->role_arn, k->role_arn, "session role ARN"));
    GUARD(str_copy(who->access_key_id, sizeof who->access_key_id, k->akid, "access key id"));
    return TR_OK;
}
