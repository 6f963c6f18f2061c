/*
 * schedule.h -- a secret's rotation schedule: RotationRules
 * (AutomaticallyAfterDays, or ScheduleExpression rate()/cron(), and
 * Duration) parsed and checked, and the next rotation window computed
 * from it (schedule.c; what AWS documents: docs/ROTATION.md, "Schedules").
 * Times are epoch seconds, UTC.
 */
#ifndef TR_SECRETS_SCHEDULE_H
#define TR_SECRETS_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/result.h"

enum sm_sched_kind { SM_SCHED_DAYS, SM_SCHED_HOURS, SM_SCHED_CRON };

struct sm_schedule {
    enum sm_sched_kind kind;
    int64_t every;              /* DAYS: days; HOURS: hours (rate() and AutomaticallyAfterDays) */
    /* CRON: the allowed values of each field, as bit sets */
    uint64_t minutes;           /* bits 0..59 */
    uint32_t hours;             /* bits 0..23 */
    uint32_t mdays;             /* bits 1..31 */
    uint16_t months;            /* bits 1..12 */
    uint8_t wdays;              /* bits 1..7, 1 = Sunday (AWS's cron) */
    bool any_mday, any_wday;    /* the field is '?' or '*' */
    int years_from, years_to;   /* 1970..2199 */
    bool hourly;                /* a cron schedule with more than one hour a day */
    int64_t window;             /* seconds: Duration, or its default */
};

/* Parse RotationRules' members: days (0 when absent), expr and duration
 * (NULL when absent).  Fails with InvalidParameterException and a
 * message saying what is wrong: both or neither of days and expr, a
 * malformed expression, an interval under four hours, a window that is
 * too long for the schedule or reaches into the next UTC day. */
TR_RESULT sm_schedule_parse(int64_t days, const char *expr, const char *duration,
                            struct sm_schedule *out);

/* The start of the first rotation window that begins after `after`
 * (rate and days: counted from the UTC midnight of `after`'s day, which
 * is the last rotation's); 0 when none begins within five years. */
int64_t sm_schedule_next(const struct sm_schedule *s, int64_t after);

#endif
