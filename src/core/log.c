/*
 * log.c -- stderr logging, one write(2) per record.  See log.h.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static int requests_on = 1;

void log_set_requests(int on) { requests_on = on; }
int log_requests(void) { return requests_on; }

void log_line(const char *line, int len)
{
    if (len <= 0) return;
    ssize_t w = write(STDERR_FILENO, line, (size_t)len);
    (void)w;
}

void log_msg(const char *level, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = (int)strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ ", &tm);
    n += snprintf(line + n, sizeof line - (size_t)n, "%s ", level);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) return;
    n += m;
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    log_line(line, n);
}
