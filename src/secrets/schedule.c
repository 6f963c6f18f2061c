/*
 * schedule.c -- RotationRules parsed and checked, and the next rotation
 * window (schedule.h).
 *
 * What AWS documents (RotationRulesType; "Schedule expressions in Secrets
 * Manager rotation"), and what is checked here:
 *  - AutomaticallyAfterDays (1..1000) or ScheduleExpression, not both,
 *    and one of them;
 *  - rate(N hours) or rate(N days) ("hour"/"day" when N is 1): a secret
 *    is rotated at most every four hours, at most 1000 days apart; the
 *    windows of a rate start at UTC midnight;
 *  - cron(Minutes Hours Day-of-month Month Day-of-week Year) in UTC, the
 *    EventBridge syntax: numbers, '*', ranges a-b, steps x/n, lists,
 *    JAN-DEC and SUN-SAT (1 = Sunday), '?' in one of the two day fields;
 *    the L, W and # forms are refused (not supported here);
 *  - Duration "Nh", 1..24: the window; by default an hour for a schedule
 *    in hours, the rest of the UTC day for one in days; it must not reach
 *    into the next UTC day or the next window.
 * The parser reads a bounded, NUL-terminated string (the model caps it at
 * 256 characters) and never writes outside `out`.
 */
#include "secrets/schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/errors.h"

#define DAY 86400
#define MSG_BOTH "You can't specify both AutomaticallyAfterDays and ScheduleExpression."
#define MSG_NONE "You must specify either AutomaticallyAfterDays or ScheduleExpression."

static TR_RESULT bad_expr(const char *why)
{
    BAIL(TR_E_SM_INVALID_PARAMETER, "Invalid ScheduleExpression: %s", why);
}

/* A whole number at *p, 0..max; advances *p. */
static bool number(const char **p, long max, long *out)
{
    char *end;
    if (**p < '0' || **p > '9') return false;
    long v = strtol(*p, &end, 10);
    if (v > max || end - *p > 4) return false;
    *out = v;
    *p = end;
    return true;
}

/* A value of a field: a number, or a name of MONTHS/DAYS when names is set. */
static bool value(const char **p, const char *const *names, long lo, long hi, long *out)
{
    if (names && **p >= 'A') {
        for (long i = 0; names[i]; i++)
            if (strncasecmp(*p, names[i], 3) == 0) {
                *out = lo + i;
                *p += 3;
                return true;
            }
        return false;
    }
    return number(p, hi, out) && *out >= lo;
}

/* One cron field (text of len n) into the bit set *bits over lo..hi;
 * *any when it is '*' or '?'. */
static TR_RESULT field(const char *text, size_t n, long lo, long hi, const char *const *names,
                       bool qmark_ok, uint64_t *bits, bool *any)
{
    char f[64];
    if (n == 0 || n >= sizeof f) return bad_expr("a cron field is empty or too long");
    memcpy(f, text, n);
    f[n] = '\0';
    *bits = 0;
    *any = false;
    if (strcmp(f, "?") == 0) {
        if (!qmark_ok) return bad_expr("'?' is allowed only in the day-of-month or day-of-week field");
        *any = true;
        for (long v = lo; v <= hi; v++) *bits |= 1ULL << v;
        return TR_OK;
    }
    const char *p = f;
    for (;;) {
        long a, b, step = 1;
        if (*p == '*') {
            a = lo;
            b = hi;
            p++;
            if (strcmp(f, "*") == 0) *any = true;
        } else {
            if (!value(&p, names, lo, hi, &a)) return bad_expr("a cron field has a value out of range");
            b = a;
            if (*p == '-') {
                p++;
                if (!value(&p, names, lo, hi, &b) || b < a)
                    return bad_expr("a cron field has a range out of order or out of range");
            }
        }
        if (*p == '/') {
            p++;
            if (!number(&p, hi, &step) || step < 1) return bad_expr("a cron field has a bad step");
            if (b == a) b = hi;
        }
        for (long v = a; v <= b; v += step) *bits |= 1ULL << v;
        if (*p == '\0') return TR_OK;
        if (*p != ',') return bad_expr("a cron field has an unsupported character (L, W and # are not supported)");
        p++;
    }
}

static int popcount64(uint64_t x)
{
    return __builtin_popcountll(x);
}

static TR_RESULT parse_cron(const char *body, size_t blen, struct sm_schedule *s)
{
    static const char *const MONTHS[] = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG",
                                          "SEP", "OCT", "NOV", "DEC", NULL };
    static const char *const DAYS[] = { "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL };
    const char *f[6];
    size_t fl[6], nf = 0, i = 0;
    while (i < blen) {
        while (i < blen && body[i] == ' ') i++;
        if (i >= blen) break;
        if (nf == 6) return bad_expr("a cron expression has six fields");
        f[nf] = body + i;
        while (i < blen && body[i] != ' ') i++;
        fl[nf] = (size_t)(body + i - f[nf]);
        nf++;
    }
    if (nf != 6) return bad_expr("a cron expression has six fields");
    uint64_t b;
    bool any, mday_q = fl[2] == 1 && f[2][0] == '?', wday_q = fl[4] == 1 && f[4][0] == '?';
    if (mday_q == wday_q) return bad_expr("one of day-of-month and day-of-week must be '?'");
    GUARD(field(f[0], fl[0], 0, 59, NULL, false, &s->minutes, &any));
    GUARD(field(f[1], fl[1], 0, 23, NULL, false, &b, &any));
    s->hours = (uint32_t)b;
    GUARD(field(f[2], fl[2], 1, 31, NULL, true, &b, &s->any_mday));
    s->mdays = (uint32_t)b;
    GUARD(field(f[3], fl[3], 1, 12, MONTHS, false, &b, &any));
    s->months = (uint16_t)b;
    GUARD(field(f[4], fl[4], 1, 7, DAYS, true, &b, &s->any_wday));
    s->wdays = (uint8_t)b;
    s->any_mday = mday_q;       /* '*' in one day field still restricts nothing, '?' defers */
    s->any_wday = wday_q;
    /* Years: '*' or a value or range in 1970..2199. */
    char y[16];
    if (fl[5] >= sizeof y) return bad_expr("a cron field is empty or too long");
    memcpy(y, f[5], fl[5]);
    y[fl[5]] = '\0';
    s->years_from = 1970;
    s->years_to = 2199;
    if (strcmp(y, "*") != 0) {
        const char *p = y;
        long a, c;
        if (!number(&p, 2199, &a) || a < 1970) return bad_expr("the year field is out of range");
        c = a;
        if (*p == '-' && (p++, !number(&p, 2199, &c) || c < a)) return bad_expr("the year field is out of range");
        if (*p) return bad_expr("the year field takes a year or a range of years");
        s->years_from = (int)a;
        s->years_to = (int)c;
    }
    /* More than once an hour, or more than six times a day, is more often
     * than every four hours. */
    int nh = popcount64(s->hours), nm = popcount64(s->minutes);
    if (nm > 1) return bad_expr("a secret can be rotated at most every four hours");
    for (int h = 0; h < 24; h++)
        for (int g = 1; g < 4 && h + g < 24; g++)
            if ((s->hours >> h & 1) && (s->hours >> (h + g) & 1))
                return bad_expr("a secret can be rotated at most every four hours");
    s->hourly = nh > 1;
    s->kind = SM_SCHED_CRON;
    return TR_OK;
}

static TR_RESULT parse_rate(const char *body, size_t blen, struct sm_schedule *s)
{
    char t[64];
    long n;
    char unit[16];
    int used = 0;
    if (blen >= sizeof t) return bad_expr("a rate expression is rate(N hours) or rate(N days)");
    memcpy(t, body, blen);
    t[blen] = '\0';
    const char *sp = strchr(t, ' ');
    if (!sp || sp[1] == ' ' || sscanf(t, "%ld %15s%n", &n, unit, &used) != 2 || (size_t)used != blen ||
        t[0] < '1' || t[0] > '9')
        return bad_expr("a rate expression is rate(N hours) or rate(N days)");
    for (const char *q = t; q < sp; q++)
        if (*q < '0' || *q > '9') return bad_expr("a rate expression is rate(N hours) or rate(N days)");
    bool one = n == 1;
    if (strcmp(unit, one ? "hour" : "hours") == 0) {
        if (n < 4) return bad_expr("a secret can be rotated at most every four hours");
        if (n > 1000 * 24) return bad_expr("the interval is at most 1000 days");
        s->kind = SM_SCHED_HOURS;
    } else if (strcmp(unit, one ? "day" : "days") == 0) {
        if (n > 1000) return bad_expr("the interval is at most 1000 days");
        s->kind = SM_SCHED_DAYS;
    } else {
        return bad_expr("a rate expression is rate(N hours) or rate(N days)");
    }
    s->every = n;
    return TR_OK;
}

/* The latest second of the day a window of the schedule starts at. */
static int64_t latest_start(const struct sm_schedule *s)
{
    if (s->kind == SM_SCHED_DAYS) return 0;
    if (s->kind == SM_SCHED_HOURS) return s->every < 24 ? (23 / s->every) * s->every * 3600 : 0;
    int h = 23, m = 59;
    while (h > 0 && !(s->hours >> h & 1)) h--;
    while (m > 0 && !(s->minutes >> m & 1)) m--;
    return (int64_t)h * 3600 + (int64_t)m * 60;
}

TR_RESULT sm_schedule_parse(int64_t days, const char *expr, const char *duration,
                            struct sm_schedule *out)
{
    memset(out, 0, sizeof *out);
    if (days && expr) BAIL(TR_E_SM_INVALID_PARAMETER, "%s", MSG_BOTH);
    if (!days && !expr) BAIL(TR_E_SM_INVALID_PARAMETER, "%s", MSG_NONE);
    if (days) {
        if (days < 1 || days > 1000) return bad_expr("the interval is at most 1000 days");
        out->kind = SM_SCHED_DAYS;
        out->every = days;
    } else {
        size_t n = strlen(expr);
        if (n > 6 && strncmp(expr, "rate(", 5) == 0 && expr[n - 1] == ')')
            GUARD(parse_rate(expr + 5, n - 6, out));
        else if (n > 6 && strncmp(expr, "cron(", 5) == 0 && expr[n - 1] == ')')
            GUARD(parse_cron(expr + 5, n - 6, out));
        else
            return bad_expr("use rate() or cron()");
    }
    bool in_hours = out->kind == SM_SCHED_HOURS || (out->kind == SM_SCHED_CRON && out->hourly);
    out->window = in_hours ? 3600 : 0;          /* 0: to the end of the UTC day */
    if (duration) {
        size_t n = strlen(duration);
        long h = 0;
        const char *p = duration;
        if (n < 2 || duration[n - 1] != 'h' || !number(&p, 24, &h) || p != duration + n - 1 || h < 1)
            BAIL(TR_E_SM_INVALID_PARAMETER, "Invalid Duration: it is a number of hours from 1 to 24, "
                 "such as 3h.");
        out->window = h * 3600;
        if (out->kind == SM_SCHED_HOURS && out->every < 24 && out->window > out->every * 3600)
            BAIL(TR_E_SM_INVALID_PARAMETER, "The rotation window must not extend into the next "
                 "rotation window.");
        if (latest_start(out) + out->window > DAY)
            BAIL(TR_E_SM_INVALID_PARAMETER, "The rotation window must not extend into the next UTC day.");
    }
    return TR_OK;
}

static bool cron_day(const struct sm_schedule *s, const struct tm *t)
{
    if (t->tm_year + 1900 < s->years_from || t->tm_year + 1900 > s->years_to) return false;
    if (!(s->months >> (t->tm_mon + 1) & 1)) return false;
    if (!s->any_mday && !(s->mdays >> t->tm_mday & 1)) return false;
    if (!s->any_wday && !(s->wdays >> (t->tm_wday + 1) & 1)) return false;
    return true;
}

int64_t sm_schedule_next(const struct sm_schedule *s, int64_t after)
{
    int64_t midnight = after - ((after % DAY) + DAY) % DAY;
    if (s->kind == SM_SCHED_DAYS) return midnight + s->every * DAY;
    if (s->kind == SM_SCHED_HOURS) {
        int64_t step = s->every * 3600, t = midnight;
        while (t <= after) t += step;
        return t;
    }
    for (int64_t d = 0; d < 5 * 366; d++) {
        time_t day = (time_t)(midnight + d * DAY);
        struct tm tm;
        if (!gmtime_r(&day, &tm) || !cron_day(s, &tm)) continue;
        for (int h = 0; h < 24; h++) {
            if (!(s->hours >> h & 1)) continue;
            for (int m = 0; m < 60; m++) {
                if (!(s->minutes >> m & 1)) continue;
                int64_t t = (int64_t)day + h * 3600 + m * 60;
                if (t > after) return t;
            }
        }
    }
    return 0;
}
