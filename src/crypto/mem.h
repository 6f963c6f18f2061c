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

#include "core/result.h"

/* Install the wiping allocator.  Must run before OpenSSL allocates
 * anything (first thing in main); fails (TR_E_INTERNAL) after that. */
TR_RESULT crypto_use_wiping_allocator(void);

#endif
