/*
 * b64.h -- base64 (RFC 4648 section 4: the standard alphabet, '=' padding).
 *
 * One decoder serves two grammars:
 *  - strict (b64_decode), the blobs of the awsJson protocols and tresor's
 *    own tokens and stored values: a length that is a multiple of 4,
 *    '=' only as the last one or two characters;
 *  - loose (b64_decode_loose, b64_equal_loose), the values of the policy
 *    language's Binary conditions: padding optional, anything after the
 *    first '=' must be '='.
 * Both ignore the bits that do not fill a byte, as RFC 4648 3.5 allows a
 * decoder to.  Decoding reads each byte through a table, as OpenSSL's
 * EVP_DecodeBlock (which b64_decode used before) does.
 */
#ifndef TR_B64_H
#define TR_B64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/result.h"

/* Append the padded base64 text of n bytes to out (4 * ceil(n / 3)
 * bytes, no NUL).  Use a secret buf for the text of secret bytes. */
TR_RESULT b64_encode(const uint8_t *in, size_t n, struct buf *out);

/* Append the bytes of the strict base64 text [in, in + n) to out.  Bad
 * text is TR_E_SERIALIZATION (no message), checked before anything is
 * written; then n / 4 * 3 bytes are reserved (so out's cap must allow
 * that, one or two more than the padded text decodes to) and the decoded
 * length appended. */
TR_RESULT b64_decode(const char *in, size_t n, struct buf *out);

/* Decode the loose base64 text [s, s + n) into out[0, cap): *len gets the
 * decoded length.  false on a byte outside the alphabet, a non-'=' after
 * a '=', or more than cap bytes. */
bool b64_decode_loose(const char *s, size_t n, uint8_t *out, size_t cap, size_t *len);
/* Whether the loose base64 text [s, s + n) decodes to exactly want[0, wn),
 * compared as it decodes (nothing is written anywhere). */
bool b64_equal_loose(const char *s, size_t n, const uint8_t *want, size_t wn);

#endif
