/*
 * sigv4_cache.c -- the per-thread cache of SigV4 signing keys (contract in
 * sigv4_cache.h).
 *
 * Secrets: a cached kSigning lives in the entry's locked, non-dumpable
 * memory (core/cache.h secret_size), wiped when the entry goes.  Beside it
 * the entry keeps kSigning keyed into an HMAC context (crypto/hash.h
 * struct hmac_key), so a request's signature costs the MAC of its string
 * to sign and no keying; that context is OpenSSL's heap, freed (and so
 * cleansed and wiped) when the entry goes -- evicted, replaced, flushed,
 * or its thread exits.
 */
#include "auth/sigv4_cache.h"

#include <string.h>

#include "core/cache.h"
#include "crypto/hash.h"

/* An entry's value: the signing key keyed into an HMAC context (NULL: the
 * keying failed; the entry then serves sigv4_cache_get only). */
struct signing_value {
    struct hmac_key *mac;
};

static void signing_release(void *value)
{
    struct signing_value *v = value;
    hmac_key_free(v->mac);
    v->mac = NULL;
}

/* ---- per-thread signing-key cache ------------------------------------ */

/* A core/cache.h class: the key is (access key id, date, region, service),
 * the content the wrapped secret the signing key was derived from, the
 * signing key itself the entry's locked memory.  8 per thread, least
 * recently used evicted. */
static struct cache_class signing_keys =
    CACHE_CLASS("signing-keys", CACHE_BY_CONTENT, .slots = 8, .secret_size = SHA256_LEN,
                .value_size = sizeof(struct signing_value), .release = signing_release);

static bool cache_key_of(const struct sigv4_auth *a, const uint8_t *source, size_t source_len,
                         struct cache_key *k)
{
    if (!a || (!source && source_len) || source_len > SIGV4_CACHE_SOURCE_MAX) return false;
    cache_key_init(k);
    cache_key_str(k, a->access_key_id);
    cache_key_str(k, a->date);
    cache_key_str(k, a->region);
    cache_key_str(k, a->service);
    return true;
}

bool sigv4_cache_get(const struct sigv4_auth *a, const uint8_t *source, size_t source_len,
                     uint8_t out[32])
{
    struct cache_key k;
    if (!out || !cache_key_of(a, source, source_len, &k)) return false;
    void *v = cache_get_by_content(&signing_keys, &k, source, source_len);
    const uint8_t *key = v ? cache_secret(&signing_keys, v) : NULL;
    if (!key) return false;
    memcpy(out, key, SHA256_LEN);
    return true;
}

struct hmac_key *sigv4_cache_get_mac(const struct sigv4_auth *a, const uint8_t *source,
                                     size_t source_len)
{
    struct cache_key k;
    if (!cache_key_of(a, source, source_len, &k)) return NULL;
    struct signing_value *v = cache_get_by_content(&signing_keys, &k, source, source_len);
    return v ? v->mac : NULL;
}

struct hmac_key *sigv4_cache_put(const struct sigv4_auth *a, const uint8_t *source,
                                 size_t source_len, const uint8_t key[32])
{
    struct cache_key k;
    if (!key || !cache_key_of(a, source, source_len, &k)) return NULL;
    struct signing_value *v = cache_put_by_content(&signing_keys, &k, source, source_len);
    uint8_t *slot = v ? cache_secret(&signing_keys, v) : NULL;
    if (!slot) {
        if (v) cache_drop(&signing_keys, v);
        return NULL;
    }
    memcpy(slot, key, SHA256_LEN);
    if (tr_failed(hmac_key_new(key, SHA256_LEN, &v->mac))) tr_clear_error();
    return v->mac;
}

void sigv4_cache_clear(void)
{
    cache_flush(&signing_keys);
}
