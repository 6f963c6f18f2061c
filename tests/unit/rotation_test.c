/*
 * rotation_test.c -- the pieces of secret rotation that run without a
 * server: RotationRules' schedule parser and next window
 * (secrets/schedule.c), and the hook runner (secrets/hook.c) with hooks
 * that succeed, fail, time out, ignore their input, spawn children and
 * flood standard error; function ARNs and names that must not reach the
 * file system; the rotation lease (secrets/lease.c) in a store in memory,
 * with leases of other nodes, lapsed ones, taken-over ones and damaged
 * docs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/errors.h"
#include "core/str.h"
#include "secrets/hook.h"
#include "secrets/lease.h"
#include "secrets/schedule.h"
#include "store/store.h"

#define DAY 86400
/* 2026-12-07 00:00:00 UTC, a Monday. */
#define MON 1796601600LL

static void parses(int64_t days, const char *expr, const char *dur, struct sm_schedule *s)
{
    tr_result r = sm_schedule_parse(days, expr, dur, s);
    if (tr_failed(r)) fail_msg("%s: %s", expr ? expr : "(days)", tr_last_error()->message);
}

static void refused(int64_t days, const char *expr, const char *dur, const char *msg)
{
    struct sm_schedule s;
    tr_result r = sm_schedule_parse(days, expr, dur, &s);
    if (tr_ok(r)) fail_msg("accepted: %s %s", expr ? expr : "(days)", dur ? dur : "");
    assert_int_equal(tr_code(r), TR_E_SM_INVALID_PARAMETER);
    if (msg) assert_string_equal(tr_last_error()->message, msg);
}

static void test_schedule_accepts(void **state)
{
    (void)state;
    struct sm_schedule s;
    parses(30, NULL, NULL, &s);
    assert_int_equal(s.kind, SM_SCHED_DAYS);
    assert_int_equal(s.every, 30);
    parses(0, "rate(10 days)", NULL, &s);
    assert_int_equal(s.kind, SM_SCHED_DAYS);
    assert_int_equal(s.every, 10);
    parses(0, "rate(1 day)", NULL, &s);
    assert_int_equal(s.every, 1);
    parses(0, "rate(4 hours)", "2h", &s);
    assert_int_equal(s.kind, SM_SCHED_HOURS);
    assert_int_equal(s.window, 2 * 3600);
    parses(0, "rate(1000 days)", NULL, &s);
    parses(0, "cron(0 16 1,15 * ? *)", "2h", &s);
    assert_int_equal(s.kind, SM_SCHED_CRON);
    parses(0, "cron(0 8 ? * MON-FRI *)", NULL, &s);
    parses(0, "cron(30 0/6 ? * SUN 2026-2030)", "1h", &s);
    assert_true(s.hourly);
    parses(0, "cron(0 4 ? JAN,JUL MON *)", "20h", &s);
    refused(0, "cron(0 4 ? JAN,JUL MON *)", "21h", "The rotation window must not extend into the next UTC day.");
}

static void test_schedule_refuses(void **state)
{
    (void)state;
    refused(3, "rate(3 days)", NULL, "You can't specify both AutomaticallyAfterDays and ScheduleExpression.");
    refused(0, NULL, NULL, "You must specify either AutomaticallyAfterDays or ScheduleExpression.");
    refused(0, "rate(3 hours)", NULL,
            "Invalid ScheduleExpression: a secret can be rotated at most every four hours");
    refused(0, "rate(1 hours)", NULL, NULL);
    refused(0, "rate(2 day)", NULL, NULL);
    refused(0, "rate(0 days)", NULL, NULL);
    refused(0, "rate(1001 days)", NULL, "Invalid ScheduleExpression: the interval is at most 1000 days");
    refused(0, "rate(10 weeks)", NULL, NULL);
    refused(0, "rate(-1 days)", NULL, NULL);
    refused(0, "rate(10days)", NULL, NULL);
    refused(0, "rate(10 days", NULL, NULL);
    refused(0, "every 10 days", NULL, "Invalid ScheduleExpression: use rate() or cron()");
    refused(0, "cron(0 4 * * * *)", NULL,
            "Invalid ScheduleExpression: one of day-of-month and day-of-week must be '?'");
    refused(0, "cron(0 4 ? * ? *)", NULL, NULL);
    refused(0, "cron(0 4 ? * MON)", NULL, "Invalid ScheduleExpression: a cron expression has six fields");
    refused(0, "cron(0 4 ? * MON * *)", NULL, NULL);
    refused(0, "cron(60 4 ? * MON *)", NULL, NULL);
    refused(0, "cron(0 24 ? * MON *)", NULL, NULL);
    refused(0, "cron(0 4 32 * ? *)", NULL, NULL);
    refused(0, "cron(0 4 ? 13 ? *)", NULL, NULL);
    refused(0, "cron(0 4 ? * 8 *)", NULL, NULL);
    refused(0, "cron(0 4 ? * XYZ *)", NULL, NULL);
    refused(0, "cron(0 4 L * ? *)", NULL, NULL);
    refused(0, "cron(0 4 ? * MON#2 *)", NULL, NULL);
    refused(0, "cron(0 4 ? * MON 1969)", NULL, NULL);
    refused(0, "cron(0 5-3 ? * MON *)", NULL, NULL);
    refused(0, "cron(0/30 4 ? * MON *)", NULL,
            "Invalid ScheduleExpression: a secret can be rotated at most every four hours");
    refused(0, "cron(0 4,6 ? * MON *)", NULL, NULL);
    refused(0, "cron(0 22 ? * MON *)", "4h", "The rotation window must not extend into the next UTC day.");
    refused(0, "rate(4 hours)", "5h", "The rotation window must not extend into the next rotation window.");
    refused(0, "rate(10 days)", "0h", NULL);
    refused(0, "rate(10 days)", "25h", NULL);
    refused(0, "rate(10 days)", "3", NULL);
    refused(0, "rate(10 days)", "h3", NULL);
}

static void test_schedule_next(void **state)
{
    (void)state;
    struct sm_schedule s;
    parses(30, NULL, NULL, &s);
    /* Days count from the UTC midnight of the last rotation. */
    assert_int_equal(sm_schedule_next(&s, MON + 13 * 3600), MON + 30 * DAY);
    parses(0, "rate(6 hours)", NULL, &s);
    assert_int_equal(sm_schedule_next(&s, MON + 13 * 3600), MON + 18 * 3600);
    assert_int_equal(sm_schedule_next(&s, MON + 18 * 3600), MON + 24 * 3600);
    parses(0, "cron(0 4 ? * WED *)", NULL, &s);
    assert_int_equal(sm_schedule_next(&s, MON), MON + 2 * DAY + 4 * 3600);
    parses(0, "cron(15 10 1 * ? *)", NULL, &s);           /* the 1st of each month, 10:15 */
    assert_int_equal(sm_schedule_next(&s, MON), 1798761600LL + 10 * 3600 + 15 * 60);   /* 2027-01-01 */
    parses(0, "cron(0 4 ? * MON 2020)", NULL, &s);          /* never again */
    assert_int_equal(sm_schedule_next(&s, MON), 0);
}

/* ---- hooks ------------------------------------------------------------------------ */

static char dir[] = "/tmp/tresor-hook-test-XXXXXX";

static void hook(const char *name, const char *body)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(body, f);
    fclose(f);
    assert_int_equal(chmod(path, 0755), 0);
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir)) return -1;
    hook("ok", "#!/bin/sh\nread line\n[ \"$line\" = '{\"Step\":\"x\"}' ] || exit 9\n"
               "[ \"$AWS_REGION\" = eu-west-1 ] || exit 8\n[ -z \"$HOME_LEAK\" ] || exit 7\n"
               "echo \"step done\" >&2\nexit 0\n");
    hook("fails", "#!/bin/sh\ncat >/dev/null\necho boom >&2\nexit 3\n");
    char slow[700];
    snprintf(slow, sizeof slow, "#!/bin/sh\nsleep 30 &\necho $! > %s/slow.pid\nsleep 30\n", dir);
    hook("slow", slow);
    hook("deaf", "#!/bin/sh\nexit 0\n");
    hook("loud", "#!/bin/sh\nhead -c 100000 /dev/zero | tr '\\0' x >&2\nexit 0\n");
    hook("killed", "#!/bin/sh\nkill -9 $$\n");
    hook("noexec", "#!/bin/sh\nexit 0\n");
    char path[512];
    snprintf(path, sizeof path, "%s/noexec", dir);
    assert_int_equal(chmod(path, 0644), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *const ENV[] = { "PATH=/usr/bin:/bin", "AWS_REGION=eu-west-1", NULL };
static const char EVENT[] = "{\"Step\":\"x\"}\n";

static void test_hook_runs(void **state)
{
    (void)state;
    struct sm_hook_result r;
    setenv("HOME_LEAK", "1", 1);                  /* not passed on: the environment is ENV alone */
    assert_true(tr_ok(sm_hook_run(dir, "ok", EVENT, strlen(EVENT), ENV, 10000, &r)));
    unsetenv("HOME_LEAK");
    assert_int_equal(r.exit_code, 0);
    assert_false(r.timed_out);
    assert_string_equal(r.err, "step done\n");
    assert_true(tr_ok(sm_hook_run(dir, "fails", EVENT, strlen(EVENT), ENV, 10000, &r)));
    assert_int_equal(r.exit_code, 3);
    assert_string_equal(r.err, "boom\n");
    /* A hook that never reads its input still ends cleanly -- even with
     * more input than the socket holds: no SIGPIPE for this process
     * (which, unlike the server, does not ignore it). */
    assert_true(tr_ok(sm_hook_run(dir, "deaf", EVENT, strlen(EVENT), ENV, 10000, &r)));
    assert_int_equal(r.exit_code, 0);
    size_t big = 4u << 20;
    char *flood = malloc(big);
    assert_non_null(flood);
    memset(flood, ' ', big);
    assert_true(tr_ok(sm_hook_run(dir, "deaf", flood, big, ENV, 10000, &r)));
    assert_int_equal(r.exit_code, 0);
    free(flood);
    assert_true(tr_ok(sm_hook_run(dir, "killed", EVENT, strlen(EVENT), ENV, 10000, &r)));
    assert_int_equal(r.exit_code, -1);
    assert_int_equal(r.signal, 9);
    /* Standard error is capped, and counted. */
    assert_true(tr_ok(sm_hook_run(dir, "loud", EVENT, strlen(EVENT), ENV, 10000, &r)));
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(strlen(r.err), SM_HOOK_STDERR_MAX);
    assert_int_equal(r.err_total, 100000);
}

static void test_hook_time_limit(void **state)
{
    (void)state;
    struct sm_hook_result r;
    assert_true(tr_ok(sm_hook_run(dir, "slow", EVENT, strlen(EVENT), ENV, 1500, &r)));
    assert_true(r.timed_out);
    assert_int_equal(r.exit_code, -1);
    /* The background sleep of its group died with it: gone, or a zombie
     * waiting for init to reap it. */
    char path[600], stat[600] = "";
    long pid = 0;
    snprintf(path, sizeof path, "%s/slow.pid", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%ld", &pid), 1);
    fclose(f);
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    /* SIGKILL is delivered asynchronously: give it up to five seconds. */
    char ps = 'R';
    for (int tries = 0; tries < 500 && ps != 'Z' && ps != 'X'; tries++) {
        f = fopen(path, "r");
        if (!f) {
            ps = 'X';                    /* reaped: gone */
            break;
        }
        char *ok = fgets(stat, sizeof stat, f);
        fclose(f);
        char *close_paren = ok ? strrchr(stat, ')') : NULL;
        ps = close_paren && close_paren[1] ? close_paren[2] : 'X';
        if (ps != 'Z') usleep(10000);
    }
    assert_true(ps == 'Z' || ps == 'X');
}

static void test_hook_refuses(void **state)
{
    (void)state;
    struct sm_hook_result r;
    assert_false(sm_hook_exists(dir, "missing"));
    assert_false(sm_hook_exists(dir, "noexec"));
    assert_true(sm_hook_exists(dir, "ok"));
    assert_false(sm_hook_exists(dir, "../ok"));
    assert_false(sm_hook_exists(NULL, "ok"));
    assert_true(tr_failed(sm_hook_run(dir, "missing", EVENT, strlen(EVENT), ENV, 1000, &r)));
    assert_true(tr_failed(sm_hook_run(dir, "../tmp", EVENT, strlen(EVENT), ENV, 1000, &r)));
    assert_true(tr_failed(sm_hook_run(dir, "", EVENT, strlen(EVENT), ENV, 1000, &r)));
}

static void test_hook_names(void **state)
{
    (void)state;
    char name[SM_HOOK_NAME_MAX + 1], region[64], account[13];
    assert_true(sm_hook_parse_arn("arn:aws:lambda:us-east-1:111122223333:function:rot-1_x", name, region,
                                  account));
    assert_string_equal(name, "rot-1_x");
    assert_string_equal(region, "us-east-1");
    assert_string_equal(account, "111122223333");
    assert_true(sm_hook_parse_arn("arn:aws:lambda:us-east-1:111122223333:function:f:live", name, region,
                                  account));
    assert_string_equal(name, "f");
    static const char *const BAD[] = {
        "arn:aws:lambda:us-east-1:111122223333:function:",
        "arn:aws:lambda:us-east-1:111122223333:function:../../bin/sh",
        "arn:aws:lambda:us-east-1:111122223333:function:a/b",
        "arn:aws:lambda:us-east-1:111122223333:function:f:1:2",
        "arn:aws:lambda:us-east-1:111122223333:function:f:",
        "arn:aws:lambda:us-east-1:11112222333:function:f",
        "arn:aws:lambda:us-east-1:11112222333x:function:f",
        "arn:aws:lambda::111122223333:function:f",
        "arn:aws:lambda:us-east-1:111122223333:layer:f",
        "arn:aws:s3:::bucket",
        "f",
        "",
        "arn:aws:lambda:us-east-1:111122223333:function:"
        "a234567890123456789012345678901234567890123456789012345678901234x",
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++)
        if (sm_hook_parse_arn(BAD[i], name, region, account)) fail_msg("accepted %s", BAD[i]);
    assert_false(sm_hook_name_ok(".."));
    assert_false(sm_hook_name_ok("a.b"));
    assert_false(sm_hook_name_ok(NULL));
    assert_true(sm_hook_name_ok("A-z_09"));
}

#define ARN "arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf"

/* The lease's doc as stored, or NULL when there is none (caller frees). */
static char *lease_doc(store_t st)
{
    struct rel_rec rel;
    memset(&rel, 0, sizeof rel);
    tr_result r = st[0]->rel_get(st, SM_LEASE_KIND, ARN, "node", &rel);
    if (tr_failed(r)) {
        assert_int_equal(tr_code(r), TR_E_STORE_NOT_FOUND);
        return NULL;
    }
    char *doc = strdup(rel.doc);
    rel_rec_free(&rel);
    return doc;
}

static void put_doc(store_t st, const char *doc)
{
    struct rel_rec rel = { .from = ARN, .to = "node", .doc = (char *)doc, .created = 1 };
    STR_SET(rel.kind, SM_LEASE_KIND);
    assert_true(tr_ok(st[0]->rel_put(st, &rel)));
}

static void test_lease(void **state)
{
    (void)state;
    store_t st;
    assert_true(tr_ok(store_sqlite_open_memory(&st)));
    assert_true(tr_ok(st[0]->tx_begin(st)));
    /* None: nobody holds it; releasing it is no error. */
    assert_false(sm_lease_foreign(st, ARN, "aaaa", 1000));
    assert_true(tr_ok(sm_lease_release(st, ARN, "aaaa", "t1")));
    /* Node aaaa takes it until 1300: held for bbbb before then, not at or
     * after it (it lapsed), and never for aaaa itself. */
    assert_true(tr_ok(sm_lease_take(st, ARN, "aaaa", "t1", 1300)));
    char *doc = lease_doc(st);
    assert_non_null(doc);
    assert_string_equal(doc, "{\"node\":\"aaaa\",\"until\":1300,\"token\":\"t1\"}");
    free(doc);
    assert_true(sm_lease_foreign(st, ARN, "bbbb", 1000));
    assert_true(sm_lease_foreign(st, ARN, "bbbb", 1299));
    assert_false(sm_lease_foreign(st, ARN, "bbbb", 1300));
    assert_false(sm_lease_foreign(st, ARN, "aaaa", 1000));
    /* Another secret's lease is its own. */
    assert_false(sm_lease_foreign(st, ARN "x", "bbbb", 1000));
    /* Released only by the same node and token. */
    assert_true(tr_ok(sm_lease_release(st, ARN, "bbbb", "t1")));
    assert_true(tr_ok(sm_lease_release(st, ARN, "aaaa", "t2")));
    assert_true(sm_lease_foreign(st, ARN, "bbbb", 1000));
    /* Taken over by aaaa's next rotation: the first one's end leaves it. */
    assert_true(tr_ok(sm_lease_take(st, ARN, "aaaa", "t2", 1400)));
    assert_true(tr_ok(sm_lease_release(st, ARN, "aaaa", "t1")));
    assert_true(sm_lease_foreign(st, ARN, "bbbb", 1350));
    assert_true(tr_ok(sm_lease_release(st, ARN, "aaaa", "t2")));
    assert_null(lease_doc(st));
    assert_false(sm_lease_foreign(st, ARN, "bbbb", 1000));
    /* A lapsed lease of another node is taken over. */
    assert_true(tr_ok(sm_lease_take(st, ARN, "bbbb", "t3", 1100)));
    assert_false(sm_lease_foreign(st, ARN, "cccc", 1200));
    assert_true(tr_ok(sm_lease_take(st, ARN, "cccc", "t4", 1500)));
    assert_true(sm_lease_foreign(st, ARN, "bbbb", 1200));
    /* Damaged docs count as held, by anyone, and another node does not
     * release them. */
    static const char *const bad[] = {
        "", "not json", "[]", "{}", "{\"node\":\"aaaa\"}", "{\"node\":7,\"until\":9999,\"token\":\"t\"}",
        "{\"node\":\"aaaa\",\"until\":\"9999\",\"token\":\"t\"}", "{\"until\":1,\"token\":\"t\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put_doc(st, bad[i]);
        assert_true(sm_lease_foreign(st, ARN, "aaaa", 1000));
        assert_true(sm_lease_foreign(st, ARN, "bbbb", 1000));
        assert_true(tr_ok(sm_lease_release(st, ARN, "bbbb", "t")));
        doc = lease_doc(st);
        assert_non_null(doc);
        assert_string_equal(doc, bad[i]);
        free(doc);
    }
    /* No arguments: refused, nothing written. */
    assert_true(tr_failed(sm_lease_take(st, ARN, NULL, "t", 1)));
    assert_true(tr_failed(sm_lease_take(st, ARN, "aaaa", NULL, 1)));
    assert_true(tr_failed(sm_lease_release(st, ARN, "aaaa", NULL)));
    tr_clear_error();
    assert_true(tr_ok(st[0]->tx_commit(st)));
    st[0]->close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule_accepts),
        cmocka_unit_test(test_schedule_refuses),
        cmocka_unit_test(test_schedule_next),
        cmocka_unit_test(test_hook_runs),
        cmocka_unit_test(test_hook_time_limit),
        cmocka_unit_test(test_hook_refuses),
        cmocka_unit_test(test_hook_names),
        cmocka_unit_test(test_lease),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
