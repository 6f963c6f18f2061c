/*
 * date.h -- calendar arithmetic and UTC timestamps, without timegm(),
 * gmtime() or anything that depends on TZ or the locale.
 *
 * The calendar is the proleptic Gregorian one, converted with Howard
 * Hinnant's days_from_civil / civil_from_days ("chrono-Compatible
 * Low-Level Date Algorithms"), exact for any day count a 64-bit integer
 * holds.  Times are seconds since 1970-01-01T00:00:00Z, with no leap
 * seconds (POSIX time).  Used by the SigV4 date parsers, the policy
 * engine's date conditions, and every timestamp tresor writes (XML
 * replies, log lines, condition keys).  And deadlines, for the timed
 * waits of the store's write gate and the server's drain.
 */
#ifndef TR_DATE_H
#define TR_DATE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* Whether y is a leap year (every fourth, but not every hundredth,
 * except every four hundredth). */
bool date_leap(int64_t y);
/* Days in month m (1..12) of year y. */
int date_month_days(int64_t y, int m);
/* Whether y-m-d names a day: m in 1..12, d in 1..date_month_days. */
bool date_valid(int64_t y, int64_t m, int64_t d);
/* Days from 1970-01-01 to y-m-d (negative before); m 1..12, d 1..31. */
int64_t days_from_civil(int64_t y, int64_t m, int64_t d);
/* The date of day z counted from 1970-01-01. */
void civil_from_days(int64_t z, int64_t *y, int *m, int *d);

/* A UTC instant split into fields: month 1..12, day 1..31. */
struct date_civil {
    int64_t year;
    int month, day, hour, minute, second;
};
/* Split epoch seconds, the year clamped to 0..9999 (the instant becomes
 * the first or last second of that range), as four-digit years are all
 * the formats below can write. */
void date_split(int64_t epoch, struct date_civil *out);

/* "YYYY-MM-DDTHH:MM:SSZ" (ISO 8601 extended, as the XML replies and the
 * aws:CurrentTime condition key write it), NUL-terminated. */
#define DATE_ISO8601_LEN 21
void date_iso8601(int64_t epoch, char out[DATE_ISO8601_LEN]);
/* "YYYYMMDDTHHMMSSZ" (ISO 8601 basic, SigV4's X-Amz-Date), NUL-terminated. */
#define DATE_BASIC_LEN 17
void date_iso8601_basic(int64_t epoch, char out[DATE_BASIC_LEN]);

/* The instant ms milliseconds from now on `clock` (CLOCK_MONOTONIC,
 * CLOCK_REALTIME): the absolute deadline pthread_cond_timedwait takes. */
void date_deadline(clockid_t clock, unsigned long ms, struct timespec *out);

#endif
