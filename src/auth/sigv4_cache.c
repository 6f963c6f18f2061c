/*
 * sigv4_cache.c -- the per-thread cache of SigV4 signing keys (contract in
 * sigv4_cache.h).
 *
 * Secrets: a cached kSigning lives in the entry's locked, non-dumpable
 * memory (core/cache.h secret_size), wiped when the entry goes.
 */
#include "auth/sigv4_cache.h"

#include <string.h>

#include "core/cache.h"
#include "crypto/hash.h"

/* ---- per-thread signing-key cache ------------------------------------ */

/* A core/cache.h class: the key is (access key id, date, region, service),
 * the content the wrapped secret the signing key was derived from, the
 * signing key itself the entry's locked memory.  8 per thread, least
 * recently used evicted. */
static struct cache_class signing_keys =
    CACHE_CLASS("signing-keys", CACHE_BY_CONTENT, .slots = 8, .secret_size = SHA256_LEN);

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

void sigv4_cache_put(const struct sigv4_auth *a, const uint8_t *source, size_t source_len,
                     const uint8_t key[32])
{
    struct cache_key k;
    if (!key || !cache_key_of(a, source, source_len, &k)) return;
    void *v = cache_put_by_content(&signing_keys, &k, source, source_len);
    uint8_t *slot = v ? cache_secret(&signing_keys, v) : NULL;
    if (slot) memcpy(slot, key, SHA256_LEN);
    else if (v) cache_drop(&signing_keys, v);
}

void sigv4_cache_clear(void)
{
    cache_flush(&signing_keys);
}
