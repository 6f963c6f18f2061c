/*
 * internal.h -- what the files of src/crypto share with each other and with
 * nobody else.
 *
 * hash.c owns start-up: crypto_init() fetches every algorithm once (SHA-256,
 * HMAC, AES-256-GCM) and crypto_thread_cleanup() frees every per-thread
 * context, including aead.c's.  Code outside src/crypto includes only the
 * public headers (hash.h, aead.h, rand.h).
 */
#ifndef TR_CRYPTO_INTERNAL_H
#define TR_CRYPTO_INTERNAL_H

#include <openssl/evp.h>

#include "core/buf.h"
#include "core/result.h"

/* The AES-256-GCM implementation fetched by crypto_init(); NULL before a
 * successful crypto_init().  Borrowed: never freed by the caller. */
const EVP_CIPHER *crypto_aes256gcm(void);

/* Free aead.c's context of the calling thread (from crypto_thread_cleanup). */
void aead_thread_cleanup(void);
/* Free pkey.c's digest and MAC contexts of the calling thread. */
void pkey_thread_cleanup(void);

/* Called whenever a per-thread context is created: arranges for
 * crypto_thread_cleanup() to run when the thread exits (a pthread key
 * destructor), so worker threads that libmicrohttpd starts and joins do not
 * leak their contexts. */
void crypto_thread_track(void);

/* seal.c: read path (a regular file no one but its owner may access, at
 * most cap bytes) into out; what names it in messages. */
TR_RESULT seal_read_private_file(const char *path, const char *what, struct buf *out, size_t cap);
/* seal.c: a passphrase or PIN from file, else from the environment
 * variable env (wiped and unset); one trailing newline dropped; empty
 * refused; what names it ("passphrase", "PIN"). */
TR_RESULT seal_secret_load(const char *file, const char *env, const char *what, struct buf *out);

/* v at p as 4 bytes big-endian (the seal files' integers; core/rd.h's
 * rd_u32be reads them back). */
static inline void put_u32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#endif
