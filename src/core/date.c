/*
 * date.c -- the proleptic Gregorian calendar and UTC timestamps (date.h).
 *
 * No timegm, gmtime or strftime: those read TZ and the locale, take
 * glibc's time-zone lock, and gmtime fails for years it cannot hold;
 * this arithmetic is exact, lock-free and total.
 */
#include "core/date.h"

bool date_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int date_month_days(int64_t y, int m)
{
    static const int len[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && date_leap(y) ? 29 : len[m - 1];
}

bool date_valid(int64_t y, int64_t m, int64_t d)
{
    return m >= 1 && m <= 12 && d >= 1 && d <= date_month_days(y, (int)m);
}

int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

void date_split(int64_t epoch, struct date_civil *out)
{
    const int64_t lo = days_from_civil(0, 1, 1) * 86400;
    const int64_t hi = days_from_civil(9999, 12, 31) * 86400 + 86399;
    int64_t v = epoch < lo ? lo : epoch > hi ? hi : epoch;
    int64_t days = v >= 0 ? v / 86400 : -((-v + 86399) / 86400);
    int64_t secs = v - days * 86400;
    civil_from_days(days, &out->year, &out->month, &out->day);
    out->hour = (int)(secs / 3600);
    out->minute = (int)(secs / 60 % 60);
    out->second = (int)(secs % 60);
}

/* width decimal digits of v (>= 0) at p. */
static char *put_digits(char *p, int64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

/* The fields of epoch, year to second, with sep[i] before field i + 1
 * (NUL: nothing) and sep[5] at the end: "--T::Z" or "\0\0T\0\0Z". */
static void format(int64_t epoch, const char sep[6], char *out)
{
    struct date_civil c;
    date_split(epoch, &c);
    char *p = put_digits(out, c.year, 4);
    const int64_t v[5] = { c.month, c.day, c.hour, c.minute, c.second };
    for (int i = 0; i < 5; i++) {
        if (sep[i]) *p++ = sep[i];
        p = put_digits(p, v[i], 2);
    }
    *p++ = sep[5];
    *p = '\0';
}

void date_deadline(clockid_t clock, unsigned long ms, struct timespec *out)
{
    clock_gettime(clock, out);
    out->tv_sec += (time_t)(ms / 1000);
    out->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (out->tv_nsec >= 1000000000L) {
        out->tv_sec++;
        out->tv_nsec -= 1000000000L;
    }
}

void date_iso8601(int64_t epoch, char out[DATE_ISO8601_LEN])
{
    format(epoch, "--T::Z", out);
}

void date_iso8601_basic(int64_t epoch, char out[DATE_BASIC_LEN])
{
    format(epoch, "\0\0T\0\0Z", out);
}
