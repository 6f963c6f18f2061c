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

#endif
