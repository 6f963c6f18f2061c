/*
 * sigv4_date.c -- SigV4 timestamps: ISO-8601 basic / HTTP-date parsing,
 * formatting, and the clock-skew window (sigv4_check_time).
 *
 * Dates are attacker-controlled, so the parsers take an explicit length,
 * read only digits at fixed offsets and range-check every field before
 * doing arithmetic.  The conversion is core/date.h's (proleptic
 * Gregorian, exact for any 64-bit day count), which avoids timegm() and
 * anything that depends on TZ or the locale.
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

#include "core/date.h"

#define SKEW_SECONDS (15 * 60)

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
    if (y < 0 || !date_valid(y, mo, d)) return false;
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

void sigv4_date_format(time_t t, char out[17])
{
    date_iso8601_basic((int64_t)t, out);
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
