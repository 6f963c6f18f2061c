/*
 * sigv4_date.c -- SigV4 timestamps: ISO-8601 basic / HTTP-date parsing,
 * formatting, and the clock-skew window (sigv4_check_time).
 *
 * Dates are attacker-controlled, so the parsers take an explicit length,
 * read only digits at fixed offsets and range-check every field before
 * doing arithmetic.  The conversion is Howard Hinnant's days_from_civil /
 * civil_from_days (proleptic Gregorian, exact for any 64-bit day count),
 * which avoids timegm() and anything that depends on TZ or the locale.
 *
 * The window (AWS behaviour, "Signature Version 4 signing process"):
 *   header auth  |now - X-Amz-Date| <= 15 minutes
 *   presigned    X-Amz-Date - 15 min <= now <= X-Amz-Date + X-Amz-Expires
 *   sigv4_check_time_skew: the header rule for every request, presigned
 *                or not (STS and IAM: see sigv4.h)
 * and the credential-scope date must equal the first 8 characters of
 * X-Amz-Date.  Failures are InvalidSignatureException with AWS's wording:
 *   Signature expired: 20150830T123600Z is now earlier than
 *     20150830T125100Z (20150830T130600Z - 15 min.)
 *   Signature not yet current: 20150830T130000Z is still later than
 *     20150830T125100Z (20150830T123600Z + 15 min.)
 */
#include "auth/sigv4_date.h"
#include "auth/sigv4.h"

#include <stdint.h>
#include <string.h>

#define SKEW_SECONDS (15 * 60)

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
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

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
    static const int len[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && is_leap(y) ? 29 : len[m - 1];
}

/* n decimal digits at s, or -1 if any is not a digit. */
static int digits(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static bool to_epoch(int y, int mo, int d, int h, int mi, int s, time_t *out)
{
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo)) return false;
    if (h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59) return false;
    *out = (time_t)(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s);
    return true;
}

bool sigv4_date_parse_iso(const char *s, size_t n, time_t *out)
{
    if (!s || n != 16 || s[8] != 'T' || s[15] != 'Z') return false;
    return to_epoch(digits(s, 4), digits(s + 4, 2), digits(s + 6, 2),
                    digits(s + 9, 2), digits(s + 11, 2), digits(s + 13, 2), out);
}

bool sigv4_date_parse_http(const char *s, size_t n, time_t *out)
{
    /* "Sun, 30 Aug 2015 12:36:00 GMT": fixed offsets, 29 bytes. */
    static const char wdays[] = "MonTueWedThuFriSatSun";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (!s || n != 29) return false;
    if (memcmp(s + 3, ", ", 2) != 0 || s[7] != ' ' || s[11] != ' ' || s[16] != ' '
        || s[19] != ':' || s[22] != ':' || memcmp(s + 25, " GMT", 4) != 0)
        return false;
    bool wday_ok = false;
    for (int i = 0; i < 7; i++)
        if (memcmp(s, wdays + 3 * i, 3) == 0) wday_ok = true;
    if (!wday_ok) return false;
    int mo = 0;
    for (int i = 0; i < 12; i++)
        if (memcmp(s + 8, months + 3 * i, 3) == 0) mo = i + 1;
    if (mo == 0) return false;
    return to_epoch(digits(s + 12, 4), mo, digits(s + 5, 2),
                    digits(s + 17, 2), digits(s + 20, 2), digits(s + 23, 2), out);
}

static void put_digits(char *p, int64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

void sigv4_date_format(time_t t, char out[17])
{
    const int64_t lo = days_from_civil(0, 1, 1) * 86400;
    const int64_t hi = days_from_civil(9999, 12, 31) * 86400 + 86399;
    int64_t v = (int64_t)t;
    if (v < lo) v = lo;
    if (v > hi) v = hi;
    int64_t days = v >= 0 ? v / 86400 : -((-v + 86399) / 86400);
    int64_t secs = v - days * 86400;
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    put_digits(out, y, 4);
    put_digits(out + 4, m, 2);
    put_digits(out + 6, d, 2);
    out[8] = 'T';
    put_digits(out + 9, secs / 3600, 2);
    put_digits(out + 11, secs / 60 % 60, 2);
    put_digits(out + 13, secs % 60, 2);
    out[15] = 'Z';
    out[16] = '\0';
}

static TR_RESULT check_time(const struct sigv4_auth *a, time_t now, bool honor_expires)
{
    ENSURE_REF(a);
    char lim[17], nows[17];
    if (strlen(a->date) != 8 || memcmp(a->date, a->amz_date, 8) != 0)
        BAIL(TR_E_INVALID_SIGNATURE,
             "Date in Credential scope does not match YYYYMMDD from ISO-8601 version "
             "of date from HTTP: '%s' != '%.8s', from '%s'.",
             a->date, a->amz_date, a->amz_date);
    sigv4_date_format(now, nows);
    if (a->presigned && honor_expires) {
        ENSURE(a->expires >= 0, TR_E_INTERNAL);
        if ((int64_t)now - a->expires > (int64_t)a->request_time) {
            sigv4_date_format((time_t)((int64_t)now - a->expires), lim);
            BAIL(TR_E_INVALID_SIGNATURE,
                 "Signature expired: %s is now earlier than %s (%s - %lld sec.)",
                 a->amz_date, lim, nows, (long long)a->expires);
        }
    } else if ((int64_t)a->request_time < (int64_t)now - SKEW_SECONDS) {
        sigv4_date_format(now - SKEW_SECONDS, lim);
        BAIL(TR_E_INVALID_SIGNATURE,
             "Signature expired: %s is now earlier than %s (%s - 15 min.)",
             a->amz_date, lim, nows);
    }
    if ((int64_t)a->request_time > (int64_t)now + SKEW_SECONDS) {
        sigv4_date_format(now + SKEW_SECONDS, lim);
        BAIL(TR_E_INVALID_SIGNATURE,
             "Signature not yet current: %s is still later than %s (%s + 15 min.)",
             a->amz_date, lim, nows);
    }
    return TR_OK;
}

TR_RESULT sigv4_check_time(const struct sigv4_auth *a, time_t now)
{
    return check_time(a, now, true);
}

TR_RESULT sigv4_check_time_skew(const struct sigv4_auth *a, time_t now)
{
    return check_time(a, now, false);
}
