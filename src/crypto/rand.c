/*
 * rand.c -- cryptographically secure random bytes and v4 UUIDs.
 *
 * Everything comes from OpenSSL's RAND_bytes (its per-thread DRBG, seeded
 * from the operating system).  A failure is TR_E_INTERNAL, never a silent
 * fallback: a KMS that hands out predictable keys or IVs is worse than one
 * that refuses the request.  On failure the output is wiped.
 * UUID layout: RFC 9562, section 5.4 (version 4, variant 10).  UUIDs name
 * things (keys, requests) and are public, so each thread draws their bytes
 * from RAND_bytes 512 at a time: one DRBG call per 32 UUIDs, where a call
 * per UUID cost as much as the rest of a request id's work.
 * rand_public draws from the same pool for the other public values of
 * the hot paths: a ciphertext blob's salt and IV, a secret box's IV --
 * written in the clear next to what they protect, so holding them a
 * moment in an unlocked pool reveals nothing.  Each pool byte is handed
 * out once and zeroed as it goes.  A fork() child starts with its
 * parent's pool copied, which would hand both processes the same IVs:
 * a pthread_atfork handler empties the pool of the thread that forks (the
 * only thread in the child).  Key material never comes from the pool:
 * rand_bytes, straight from the DRBG into the caller's (locked) buffer.
 */
#include "crypto/rand.h"

#include "core/hex.h"
#include "core/secmem.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rand.h>

TR_RESULT rand_bytes(void *out, size_t n)
{
    uint8_t *p = out;
    ENSURE(p != NULL || n == 0, TR_E_INTERNAL);
    for (size_t done = 0; done < n;) {
        size_t take = n - done > INT_MAX ? INT_MAX : n - done;
        if (RAND_bytes(p + done, (int)take) != 1) {
            secure_zero(p, n);
            ERR_clear_error();
            BAIL0(TR_E_INTERNAL);
        }
        done += take;
    }
    return TR_OK;
}

#define UUID_POOL 512

static _Thread_local struct {
    uint8_t b[UUID_POOL];
    size_t at;                  /* next unused byte */
    bool filled;
} uuid_pool;

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* In a fork() child: the pool is the parent's; never hand it out twice. */
static void pool_forget(void)
{
    secure_zero(&uuid_pool, sizeof uuid_pool);
}

static void register_atfork(void)
{
    (void)pthread_atfork(NULL, NULL, pool_forget);
}

TR_RESULT rand_public(void *out, size_t n)
{
    ENSURE(out != NULL && n > 0 && n <= RAND_PUBLIC_MAX, TR_E_INTERNAL);
    ENSURE(pthread_once(&atfork_once, register_atfork) == 0, TR_E_INTERNAL);
    if (!uuid_pool.filled || uuid_pool.at + n > UUID_POOL) {
        uuid_pool.filled = false;
        GUARD(rand_bytes(uuid_pool.b, UUID_POOL));
        uuid_pool.filled = true;
        uuid_pool.at = 0;
    }
    memcpy(out, uuid_pool.b + uuid_pool.at, n);
    memset(uuid_pool.b + uuid_pool.at, 0, n);           /* each byte used once */
    uuid_pool.at += n;
    return TR_OK;
}

TR_RESULT rand_uuid(char out[37])
{
    uint8_t b[16];
    char hex[33];
    /* Where each of the 32 hex digits goes in 8-4-4-4-12. */
    static const uint8_t at[5][2] = { { 0, 8 }, { 9, 4 }, { 14, 4 }, { 19, 4 }, { 24, 12 } };

    ENSURE_REF(out);
    GUARD(rand_public(b, sizeof b));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);   /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);   /* variant 10 */
    hex_encode(b, sizeof b, hex);
    for (size_t g = 0, h = 0; g < 5; g++) {
        for (size_t i = 0; i < at[g][1]; i++) out[at[g][0] + i] = hex[h++];
        if (g < 4) out[at[g][0] + at[g][1]] = '-';
    }
    out[36] = '\0';
    return TR_OK;
}

TR_RESULT rand_chars(char *out, size_t n, const char *alphabet)
{
    size_t len = strlen(alphabet);
    ENSURE(len > 0 && len <= 256 && (len & (len - 1)) == 0, TR_E_INTERNAL);
    uint8_t r[64];
    size_t done = 0;
    while (done < n) {
        size_t chunk = n - done < sizeof r ? n - done : sizeof r;
        GUARD(rand_bytes(r, chunk));
        for (size_t i = 0; i < chunk; i++) out[done + i] = alphabet[r[i] & (len - 1)];
        done += chunk;
    }
    out[n] = '\0';
    secure_zero(r, sizeof r);
    return TR_OK;
}
