/*
 * log.h -- one-line log records on stderr.
 *
 * log_msg() is for start-up, shutdown and internal faults; the request
 * log line is written by the router (http/router.c) through log_line().
 * Neither ever receives secret bytes: callers pass identifiers, codes and
 * counts only: no secret buf is ever handed to the log.  Each record is
 * written with a single write(2) so lines from worker threads never
 * interleave.
 */
#ifndef TR_LOG_H
#define TR_LOG_H

void log_msg(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_line(const char *line, int len);
/* Quiet mode drops request lines (TRESOR_LOG=quiet). */
void log_set_requests(int on);
int log_requests(void);

#endif
