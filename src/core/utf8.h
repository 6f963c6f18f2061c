/*
 * utf8.h -- well-formed UTF-8 (RFC 3629): no overlong forms, no
 * surrogates, nothing above U+10FFFF; and the character counts and
 * character classes of the service models.
 *
 * The models count lengths in characters, and every request value has
 * been checked to be UTF-8 before a handler sees it (a JSON body by
 * jansson, a form by query_proto.c), so counting is counting the bytes
 * that do not continue a sequence.  The classes are the models' regular
 * expressions of one character class, "[\u0009\u000A\u000D\u0020-\u00FF]+",
 * written as a table of code point ranges.
 */
#ifndef TR_UTF8_H
#define TR_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length (1..4) of the well-formed sequence at s, reading at most n
 * bytes; 0 when s does not start one. */
size_t utf8_seq(const uint8_t *s, size_t n);
/* The code point of the well-formed sequence at s (at most n bytes) and
 * its length in *len; -1 with *len 0 when s does not start one. */
int32_t utf8_decode(const uint8_t *s, size_t n, size_t *len);
/* Whether [s, s + n) is well-formed UTF-8. */
bool utf8_valid(const uint8_t *s, size_t n);
/* Characters in [s, s + n): the bytes that are not continuation bytes
 * (10xxxxxx).  For well-formed text, the number of code points; a stray
 * byte of malformed text counts as one, a stray continuation byte as
 * none. */
size_t utf8_count(const char *s, size_t n);
/* utf8_count of the NUL-terminated s. */
size_t utf8_strlen(const char *s);
/* Rewrite the NUL-terminated s (buffer of cap bytes) so that it is
 * well-formed: each byte that starts no sequence becomes U+FFFD; the
 * result is cut at a character boundary if it does not fit. */
void utf8_repair(char *s, size_t cap);

/* An inclusive range of code points: one piece of a character class. */
struct utf8_range { uint32_t lo, hi; };
/* Whether the NUL-terminated s is well-formed and each of its code
 * points lies in one of the n ranges (an empty s does). */
bool utf8_in_class(const char *s, const struct utf8_range *ranges, size_t n);

#endif
