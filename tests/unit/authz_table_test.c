/*
 * authz_table_test.c -- src/iam/authz_table.def against the operation
 * tables: every operation tresor serves (kms_ops, sm_ops, iam_ops, sts_ops)
 * has its rows (AUTHZ, or NO_AUTHZ for one never decided), every row's
 * action is an operation's or one another operation decides (ASKED_BY),
 * and every key is written as the table's header says.  The checks
 * against AWS's reference and against the running code are
 * tests/e2e/test_authz_table.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "iam/iam_ops.h"
#include "iam/sts.h"
#include "kms/kms.h"
#include "op/op.h"
#include "op/query_proto.h"
#include "secrets/ops.h"

struct row {
    const char *action, *resource, *keys;
};

static const struct row rows[] = {
#define AUTHZ(action, resource, keys) { action, resource, keys },
#include "iam/authz_table.def"
};

static const char *const never[] = {
#define NO_AUTHZ(action, why) action,
#include "iam/authz_table.def"
};

static const char *const asked[] = {
#define ASKED_BY(action, by) action,
#include "iam/authz_table.def"
};

struct global {
    const char *key, *presence;
};

static const struct global globals[] = {
#define GLOBAL(key, presence, what) { key, presence },
#include "iam/authz_table.def"
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static bool has_row(const char *action)
{
    for (size_t i = 0; i < NELEM(rows); i++)
        if (strcmp(rows[i].action, action) == 0) return true;
    for (size_t i = 0; i < NELEM(never); i++)
        if (strcmp(never[i], action) == 0) return true;
    return false;
}

static bool is_op_action(const char *action)
{
    for (const struct op_def *o = kms_ops; o->name; o++)
        if (strcmp(o->action, action) == 0) return true;
    for (const struct op_def *o = sm_ops; o->name; o++)
        if (strcmp(o->action, action) == 0) return true;
    for (const struct op_def *o = iam_ops; o->name; o++)
        if (strcmp(o->action, action) == 0) return true;
    for (const struct op_def *o = sts_ops; o->name; o++)
        if (strcmp(o->action, action) == 0) return true;
    return false;
}

static bool is_asked(const char *action)
{
    for (size_t i = 0; i < NELEM(asked); i++)
        if (strcmp(asked[i], action) == 0) return true;
    return false;
}

static void test_every_operation_has_rows(void **state)
{
    (void)state;
    size_t n = 0;
    for (const struct op_def *o = kms_ops; o->name; o++, n++)
        if (!has_row(o->action)) fail_msg("kms %s (%s): no row in authz_table.def", o->name, o->action);
    for (const struct op_def *o = sm_ops; o->name; o++, n++)
        if (!has_row(o->action)) fail_msg("secretsmanager %s: no row in authz_table.def", o->name);
    for (const struct op_def *o = iam_ops; o->name; o++, n++)
        if (!has_row(o->action)) fail_msg("iam %s: no row in authz_table.def", o->name);
    for (const struct op_def *o = sts_ops; o->name; o++, n++)
        if (!has_row(o->action)) fail_msg("sts %s: no row in authz_table.def", o->name);
    assert_true(n > 120);
}

static void test_every_row_is_served(void **state)
{
    (void)state;
    for (size_t i = 0; i < NELEM(rows); i++)
        if (!is_op_action(rows[i].action) && !is_asked(rows[i].action))
            fail_msg("%s: a row, but no operation serves it and no ASKED_BY says who decides it",
                     rows[i].action);
    for (size_t i = 0; i < NELEM(never); i++)
        if (!is_op_action(never[i])) fail_msg("NO_AUTHZ %s: not an operation", never[i]);
    for (size_t i = 0; i < NELEM(asked); i++) {
        bool found = false;
        for (size_t j = 0; j < NELEM(rows); j++) found |= strcmp(rows[j].action, asked[i]) == 0;
        if (!found) fail_msg("ASKED_BY %s: no AUTHZ row", asked[i]);
    }
}

/* One key as the header says: prefix:name, then at most "?" and "^". */
static bool key_ok(const char *k, size_t n)
{
    size_t end = n;
    while (end > 0 && (k[end - 1] == '?' || k[end - 1] == '^')) end--;
    if (n - end > 2 || end == 0) return false;
    const char *colon = memchr(k, ':', end);
    if (!colon || colon == k || colon == k + end - 1) return false;
    for (size_t i = 0; i < end; i++)
        if (k[i] == '?' || k[i] == '^' || k[i] == ' ') return false;
    return true;
}

static void test_rows_are_well_formed(void **state)
{
    (void)state;
    for (size_t i = 0; i < NELEM(rows); i++) {
        const struct row *r = &rows[i];
        assert_non_null(strchr(r->action, ':'));
        assert_true(r->resource[0] != '\0');
        for (size_t j = 0; j < i; j++)
            if (strcmp(rows[j].action, r->action) == 0 && strcmp(rows[j].resource, r->resource) == 0)
                fail_msg("(%s, %s): two rows", r->action, r->resource);
        for (const char *p = r->keys; *p;) {
            size_t n = strcspn(p, " ");
            if (n && !key_ok(p, n)) fail_msg("%s: key '%.*s' is not name[?][^]", r->action, (int)n, p);
            p += n;
            p += strspn(p, " ");
        }
    }
    static const char *const presences[] = { "always", "user", "temporary", "temporary-or-via",
                                             "direct", "when" };
    for (size_t i = 0; i < NELEM(globals); i++) {
        bool ok = false;
        for (size_t j = 0; j < NELEM(presences); j++) ok |= strcmp(globals[i].presence, presences[j]) == 0;
        if (!ok) fail_msg("GLOBAL %s: presence '%s'", globals[i].key, globals[i].presence);
        assert_int_equal(strncmp(globals[i].key, "aws:", 4), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_operation_has_rows),
        cmocka_unit_test(test_every_row_is_served),
        cmocka_unit_test(test_rows_are_well_formed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
