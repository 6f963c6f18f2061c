/*
 * mem.h -- OpenSSL's allocator: every block OpenSSL frees is wiped first.
 *
 * OpenSSL clears what it knows to be key material (OPENSSL_clear_free of
 * cipher and MAC contexts), but provider contexts, parameter copies and
 * the buffers it grows pass key and data-key bytes through blocks it frees
 * with a plain free.  Installing this allocator makes every OpenSSL free
 * go through secmem_wiping_free (wipe-check site "openssl").
 */
#ifndef TR_CRYPTO_MEM_H
#define TR_CRYPTO_MEM_H

#include <stddef.h>

#include "core/result.h"

/* Install the wiping allocator.  Must run before OpenSSL allocates
 * anything (first thing in main); fails (TR_E_INTERNAL) after that. */
TR_RESULT crypto_use_wiping_allocator(void);

/* A locked scope: between crypto_locked_begin and crypto_locked_end, what
 * OpenSSL allocates on this thread comes from a small arena of locked,
 * non-dumpable memory (64 KiB of 256-byte blocks, core/secmem.h), wiped
 * when freed -- for key material meant to stay in OpenSSL's contexts (a
 * keyed HMAC context, crypto/hash.h hmac_key_new).  An allocation the
 * arena cannot serve (full, or larger than a block) fails.  Scopes nest.
 * Without the wiping allocator installed, the scope changes nothing.
 * crypto_locked_in_use: blocks taken (tests). */
void crypto_locked_begin(void);
void crypto_locked_end(void);
size_t crypto_locked_in_use(void);

#endif
