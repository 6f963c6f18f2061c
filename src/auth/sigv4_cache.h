/*
 * sigv4_cache.h -- the per-thread cache of SigV4 signing keys (sigv4_cache.c),
 * which spares a steady client's requests the unwrap of its secret access
 * key and the derivation of kSigning (auth/creds.c).
 */
#ifndef TR_SIGV4_CACHE_H
#define TR_SIGV4_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/sigv4.h"
#include "crypto/hash.h"

/* Per-thread cache of signing keys (locked memory, core/cache.h), keyed by
 * access key id, date, region and service, and bound to `source`: the
 * bytes the key was derived from stand for -- the wrapped secret access
 * key, ciphertext, at most SIGV4_CACHE_SOURCE_MAX bytes (longer: not
 * cached) -- so a key derived from another secret under the same access
 * key id (a store replaced by dev mode's reset, a seed that changed) is
 * never handed out.  get copies the key out and returns true on a hit;
 * get_mac returns the entry's key keyed into an HMAC context
 * (crypto/hash.h), for sigv4_verify_mac, or NULL on a miss; put replaces
 * the oldest entry and returns the new entry's keyed context (NULL: not
 * cached, or the keying failed -- use the key itself).  A returned
 * context is valid until this thread's next get, get_mac, put or clear
 * (a lookup that finds the entry stale drops it).  sigv4_cache_clear wipes this thread's
 * cache (e.g. when an access key is deleted; entries also never outlive a
 * date change since the date is part of the key) and makes every other
 * thread drop its entries at its next get/put.  Off unless cache_enable
 * turned the caches on (TRESOR_CACHE). */
#define SIGV4_CACHE_SOURCE_MAX 192
bool sigv4_cache_get(const struct sigv4_auth *a, const uint8_t *source, size_t source_len,
                     uint8_t out[32]);
struct hmac_key *sigv4_cache_get_mac(const struct sigv4_auth *a, const uint8_t *source,
                                     size_t source_len);
struct hmac_key *sigv4_cache_put(const struct sigv4_auth *a, const uint8_t *source,
                                 size_t source_len, const uint8_t key[32]);
void sigv4_cache_clear(void);

#endif
