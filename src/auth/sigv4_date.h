/*
 * sigv4_date.h -- date parsing and formatting for SigV4 (internal to auth/).
 *
 * SigV4 carries its timestamp as ISO-8601 "basic format" UTC,
 * YYYYMMDDTHHMMSSZ (X-Amz-Date), or, when X-Amz-Date is absent, as an HTTP
 * Date header (RFC 9110 IMF-fixdate, "Sun, 30 Aug 2015 12:36:00 GMT").
 * Both are converted with proleptic Gregorian arithmetic (no timegm, no
 * locale, no TZ), so the result does not depend on the process's time
 * zone.  sigv4_check_time() itself is declared in sigv4.h and lives in
 * sigv4_date.c.
 */
#ifndef TR_SIGV4_DATE_H
#define TR_SIGV4_DATE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Parse exactly n bytes of YYYYMMDDTHHMMSSZ (n must be 16; every field
 * range-checked, day against the month's length, no leap seconds) into
 * seconds since the epoch.  false on anything else. */
bool sigv4_date_parse_iso(const char *s, size_t n, time_t *out);

/* Parse exactly n bytes of an IMF-fixdate ("Sun, 30 Aug 2015 12:36:00 GMT";
 * the weekday name must be valid but is not checked against the date).
 * false on anything else (the obsolete RFC 850 and asctime forms are not
 * accepted). */
bool sigv4_date_parse_http(const char *s, size_t n, time_t *out);

/* Format t as YYYYMMDDTHHMMSSZ plus NUL.  Years outside 0..9999 are
 * clamped to the nearest representable instant. */
void sigv4_date_format(time_t t, char out[17]);

#endif
