/*
 * str.h -- checked copies of C strings into fixed buffers, and the
 * shape of a region name.
 *
 * snprintf("%s") into a fixed buffer cuts a value that does not fit and
 * says nothing; for an identifier (an ARN, a unique id, an access key id)
 * a cut value is a different identifier, which then fails to match -- or
 * matches something else.  str_copy copies the whole value or fails
 * loudly: TR_E_INTERNAL, with a message naming what did not fit (for the
 * log; the client sees only an internal error), and dst left empty.
 *
 * Where a value provably fits, the proof is made by the compiler rather
 * than at run time: STR_SET copies a string literal into an array and
 * STR_COPY_ARRAY one array into another no smaller, each refused at
 * compile time when the sizes say it could be cut.  A bare snprintf whose
 * value is dropped is refused by scripts/check-src unless its line (or
 * the comment line above) carries a comment opening with "fits:" that
 * says why (bounded integers, a precision-bounded %.Ns, a buffer sized
 * for its inputs).
 */
#ifndef TR_STR_H
#define TR_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "core/result.h"

/* Copy src (NULL: "") into dst[cap], NUL-terminated, or fail as above. */
TR_RESULT str_copy(char *dst, size_t cap, const char *src, const char *what);

/* As snprintf into dst[cap], or fail as above when the result is cut. */
TR_RESULT str_format(char *dst, size_t cap, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Is a an array (not a pointer it decayed to)?  For the macros below. */
#define STR_IS_ARRAY_(a) (!__builtin_types_compatible_p(__typeof__(a), __typeof__(&(a)[0])))

/* Copy the string literal lit into the char array dst; a literal longer
 * than dst holds does not compile.  dst is evaluated once. */
#define STR_SET(dst, lit) do { \
        _Static_assert(STR_IS_ARRAY_(dst), #dst " is not an array"); \
        _Static_assert(sizeof("" lit) <= sizeof(dst), #lit " does not fit in " #dst); \
        memcpy((dst), "" lit, sizeof("" lit)); \
    } while (0)

/* Copy the NUL-terminated string in the char array src into the char
 * array dst, which is at least as large (else it does not compile): the
 * whole string always fits.  src and dst must not overlap.  Each is
 * evaluated once (the sizes are read without evaluating). */
#define STR_COPY_ARRAY(dst, src) do { \
        _Static_assert(STR_IS_ARRAY_(dst) && STR_IS_ARRAY_(src), #dst " and " #src " must be arrays"); \
        _Static_assert(sizeof(src) <= sizeof(dst), #src " may not fit in " #dst); \
        char *d_ = (dst); \
        const char *s_ = (src); \
        size_t n_ = strnlen(s_, sizeof(src) - 1); \
        memcpy(d_, s_, n_); \
        d_[n_] = '\0'; \
    } while (0)

/* The longest decimal text of any integer up to 64 bits, sign and NUL
 * included: an array this large holds any %lld, %llu, %zu, %d. */
#define STR_DEC_MAX sizeof "-18446744073709551615"

/* Whether r has the shape of an AWS region name (us-east-1, eu-central-2,
 * ap-southeast-3, us-gov-west-1): 9..30 characters, lowercase letters and
 * digits in three or more words joined by single dashes, ending in a
 * digit.  The CLI's --region, dev mode's any-region signing and seed
 * files all check with it. */
bool region_valid(const char *r);

#endif
