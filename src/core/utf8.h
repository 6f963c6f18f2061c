/*
 * utf8.h -- well-formed UTF-8 (RFC 3629): no overlong forms, no
 * surrogates, nothing above U+10FFFF.
 */
#ifndef TR_UTF8_H
#define TR_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length (1..4) of the well-formed sequence at s, reading at most n
 * bytes; 0 when s does not start one. */
size_t utf8_seq(const uint8_t *s, size_t n);
/* Whether [s, s + n) is well-formed UTF-8. */
bool utf8_valid(const uint8_t *s, size_t n);
/* Rewrite the NUL-terminated s (buffer of cap bytes) so that it is
 * well-formed: each byte that starts no sequence becomes U+FFFD; the
 * result is cut at a character boundary if it does not fit. */
void utf8_repair(char *s, size_t cap);

#endif
