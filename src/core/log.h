/*
 * log.h -- one-line log records on stderr.
 *
 * log_msg() is for start-up, shutdown and internal faults; the request
 * log line is written by the router (http/router.c) through
 * log_write_request().  Neither ever receives secret bytes: callers pass
 * identifiers, codes and counts only: no secret buf is ever handed to the
 * log.  Each record is written with a single
 * write(2) so lines from worker threads never interleave.
 *
 * Values taken from a request (method, path, X-Amz-Target or the query
 * Action) are the attacker's bytes, and they are escaped here, so that a
 * record is always exactly one line and no field can pass for another:
 *   text  fields separated by one space; every byte outside printable
 *         ASCII, and space and backslash, as \xHH; an absent field "-";
 *   json  one object per line (TRESOR_LOG_FORMAT=json in the server's
 *         environment); strings escaped as JSON with \uXXXX for every
 *         character outside printable ASCII (a byte that starts no
 *         well-formed UTF-8 sequence becomes U+FFFD), absent fields null.
 * The fields of a request record, in order: time, method, path, target,
 * principal, status, latency (µs), request id, error type; and, for an
 * internal fault, where it was raised (file:line, never sent to the
 * client).  docs/internals/REQUEST.md shows both formats.
 */
#ifndef TR_LOG_H
#define TR_LOG_H

#include <stddef.h>
#include <stdint.h>

void log_msg(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_line(const char *line, int len);
/* Quiet mode drops request lines (TRESOR_LOG=quiet). */
void log_set_requests(int on);
int log_requests(void);

enum log_format { LOG_TEXT = 0, LOG_JSON = 1 };
/* The format (default: TRESOR_LOG_FORMAT, read at the first record). */
void log_set_format(enum log_format f);
enum log_format log_format(void);

struct log_request {
    const char *method;          /* NULL: absent */
    const char *path;
    const char *target;          /* X-Amz-Target or the query Action */
    const char *principal;       /* the authenticated caller's ARN */
    int status;
    int64_t latency_us;
    const char *request_id;
    const char *error;           /* the error type, NULL on success */
    const char *fault_file;      /* internal faults only */
    int fault_line;
};
void log_write_request(const struct log_request *r);

/* The escapes above into out (cap bytes, NUL-terminated; a value that
 * does not fit is cut at a whole escape and ends in "..."), exposed for
 * tests.  log_escape_json writes the string's contents, without quotes. */
void log_escape_text(const char *s, char *out, size_t cap);
void log_escape_json(const char *s, char *out, size_t cap);

#endif
