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
 */
#ifndef TR_STR_H
#define TR_STR_H

#include <stdbool.h>
#include <stddef.h>

#include "core/result.h"

/* Copy src (NULL: "") into dst[cap], NUL-terminated, or fail as above. */
TR_RESULT str_copy(char *dst, size_t cap, const char *src, const char *what);

/* As snprintf into dst[cap], or fail as above when the result is cut. */
TR_RESULT str_format(char *dst, size_t cap, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Whether r has the shape of an AWS region name (us-east-1, eu-central-2,
 * ap-southeast-3, us-gov-west-1): 9..30 characters, lowercase letters and
 * digits in three or more words joined by single dashes, ending in a
 * digit.  The CLI's --region, dev mode's any-region signing and seed
 * files all check with it. */
bool region_valid(const char *r);

#endif
