/*
 * hex.h -- hexadecimal digits: bytes to hex and back, and percent-encoding
 * (RFC 3986), the one place each is written.
 *
 * Digests and ids are written in lowercase (hex_encode); parsing takes
 * either case.  Percent-encoding writes uppercase digits, as RFC 3986
 * 2.1 recommends and as SigV4's canonical form, IAM's policy documents
 * and SQLite's URI filenames expect.
 */
#ifndef TR_HEX_H
#define TR_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/result.h"

/* The value (0..15) of the hex digit c, either case; -1 for any other byte. */
int hex_digit(unsigned char c);
/* Lowercase hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void hex_encode(const uint8_t *in, size_t n, char *out);
/* Parse exactly hex_len digits (either case; hex_len even) into
 * hex_len / 2 bytes of out.  false on an odd length, a byte that is not a
 * digit (a NUL included: nothing past it is read), or a NULL argument;
 * the bytes written before the bad digit are wiped then. */
bool hex_decode(const char *in, size_t hex_len, uint8_t *out);

/* Append [s, s + n) to b percent-encoded: the RFC 3986 unreserved
 * characters (A-Z a-z 0-9 - . _ ~) and the bytes of keep (NULL: none;
 * e.g. "/") as they are, every other byte as %XX.  Reserves exactly what
 * it writes; on failure (b's cap) b keeps its old length. */
TR_RESULT pct_encode(struct buf *b, const char *s, size_t n, const char *keep);

#endif
