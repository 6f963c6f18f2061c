/*
 * opts_test.c -- the subcommands' option tables (src/cli/opts.c).
 *
 * Covered: cli_help lists every flag of the table with its value, its
 * environment variable and default, descriptions starting in one column
 * and no line past 79 columns (a long left column moves its text to the
 * next line); the synopsis wraps between bracket groups only; cli_next
 * returns the table's vals with optarg, permutes operands to the end,
 * prints --help to out; every usage error is one line naming the command
 * and the flag (unknown, ambiguous, missing value, value given to a
 * switch, unknown short flag), then the synopsis, on err; parsing twice in
 * one process starts over; cli_uint takes only plain decimal numbers in
 * range; cli_source tells the environment's value from a flag's;
 * cli_parse keeps each flag's value in its variable (the last one given
 * wins, an absent one leaves the default), allows operands up to its
 * limit and refuses the first one past it as "unexpected argument", and
 * passes --help and flag errors through unchanged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/opts.h"

static const struct cli_opt demo_opts[] = {
    { NULL, 0, "THING", NULL, NULL, "the thing to work on" },
    { "data-dir", 'd', "DIR", "DEMO_DIR", "./demo", "where the data lives" },
    { "dev", 'D', NULL, NULL, NULL, "a switch" },
    { "format", 'f', "FORMAT", NULL, "text", "text or json, and a sentence long enough to be wrapped "
                                           "onto a second line of the help" },
    { "a-very-long-flag-name", 'L', "VALUE", NULL, NULL, "pushed to the next line" },
    { 0 },
};

static const struct cli_cmd demo_cmd = {
    "demo", "THING [--data-dir DIR] [--dev] [--format text|json] [--a-very-long-flag-name VALUE] "
            "[--another [--nested GROUP]]",
    "What the demo does.\n", demo_opts, "Exit status: 0.\n", NULL,
};

struct capture { char *text; size_t len; FILE *f; };

static void cap_open(struct capture *c)
{
    c->text = NULL;
    c->len = 0;
    c->f = open_memstream(&c->text, &c->len);
    assert_non_null(c->f);
}

static const char *cap_close(struct capture *c)
{
    fclose(c->f);
    return c->text;
}

/* Every line at most 79 columns; the lines of the options list start
 * their description in one column (continuations too). */
static void check_layout(const char *text)
{
    int col = -1;
    bool in_opts = false;
    const char *p = text;
    while (*p) {
        size_t n = strcspn(p, "\n");
        if (n > 79) fail_msg("line over 79 columns: %.*s", (int)n, p);
        if (n == 8 && strncmp(p, "options:", 8) == 0) in_opts = true;
        else if (n == 22 && strncmp(p, "arguments and options:", 22) == 0) in_opts = true;
        else if (n == 0) in_opts = false;
        else if (in_opts) {
            /* "  left  text" or "  left" alone, or "<col spaces>text" */
            size_t lead = strspn(p, " ");
            if (lead == 2) {
                const char *gap = memmem(p + 2, n - 2, "  ", 2);
                if (gap) {
                    int c = (int)(gap - p) + (int)strspn(gap, " ");
                    if (col < 0) col = c;
                    assert_int_equal(c, col);
                }
            } else {
                if (col < 0) col = (int)lead;
                assert_int_equal((int)lead, col);
            }
        }
        p += n;
        if (*p) p++;
    }
    assert_true(col > 0);
}

static void test_help(void **state)
{
    (void)state;
    struct capture c;
    cap_open(&c);
    cli_help(c.f, &demo_cmd);
    const char *t = cap_close(&c);
    assert_non_null(strstr(t, "usage: tresor demo THING [--data-dir DIR] [--dev]"));
    assert_non_null(strstr(t, "\narguments and options:\n"));
    assert_non_null(strstr(t, "\n  THING "));
    assert_non_null(strstr(t, "\n  --data-dir DIR "));
    assert_non_null(strstr(t, "(DEMO_DIR, default ./demo)"));
    assert_non_null(strstr(t, "\n  --dev "));
    assert_non_null(strstr(t, "(default text)"));
    assert_non_null(strstr(t, "\n  --a-very-long-flag-name VALUE\n"));
    assert_non_null(strstr(t, "\n  -h, --help "));
    assert_non_null(strstr(t, "\nExit status: 0.\n"));
    assert_null(strchr(t, '\x01'));                      /* the non-breaking marks print as spaces */
    /* A bracket group is never split across lines. */
    assert_non_null(strstr(t, "[--another [--nested GROUP]]"));
    check_layout(t);
    free(c.text);
}

static void test_columns_wrap(void **state)
{
    (void)state;
    static const struct cli_row rows[] = {
        { "short", "one two three four five six seven eight nine ten eleven twelve thirteen "
                   "fourteen fifteen sixteen seventeen" },
        { "a-longer-left", "text" },
    };
    struct capture c;
    cap_open(&c);
    cli_columns(c.f, rows, 2);
    const char *t = cap_close(&c);
    assert_string_equal(t,
        "  short          one two three four five six seven eight nine ten eleven twelve\n"
        "                 thirteen fourteen fifteen sixteen seventeen\n"
        "  a-longer-left  text\n");
    free(c.text);
}

/* Parse argv (NULL-terminated) with demo_cmd; out and err captured. */
struct run { int vals[16]; const char *args[16]; int n, last, first_operand; char *out, *err; };

static void parse(struct run *r, char **argv)
{
    struct capture o, e;
    struct cli_parser p;
    int argc = 0, c;
    while (argv[argc]) argc++;
    memset(r, 0, sizeof *r);
    cap_open(&o);
    cap_open(&e);
    cli_parser_init(&p, &demo_cmd, argc, argv);
    p.out = o.f;
    p.err = e.f;
    while ((c = cli_next(&p)) > 0 && r->n < 16) {
        r->vals[r->n] = c;
        r->args[r->n++] = optarg;
    }
    r->last = c;
    r->first_operand = optind;
    cap_close(&o);
    cap_close(&e);
    r->out = o.text;
    r->err = e.text;
}

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

static void test_next(void **state)
{
    (void)state;
    struct run r;
    char *argv[] = { "demo", "thing", "--data-dir", "/d", "--dev", "--format=json", "more", NULL };
    parse(&r, argv);
    assert_int_equal(r.last, CLI_END);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.vals[0], 'd');
    assert_string_equal(r.args[0], "/d");
    assert_int_equal(r.vals[1], 'D');
    assert_int_equal(r.vals[2], 'f');
    assert_string_equal(r.args[2], "json");
    /* Operands are moved after the flags. */
    assert_int_equal(r.first_operand, 5);
    assert_string_equal(argv[5], "thing");
    assert_string_equal(argv[6], "more");
    assert_string_equal(r.err, "");
    run_free(&r);

    /* A second parse in the same process starts over. */
    char *again[] = { "demo", "--dev", NULL };
    parse(&r, again);
    assert_int_equal(r.last, CLI_END);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.first_operand, 2);
    run_free(&r);

    char *help[] = { "demo", "--dev", "--help", "--bogus", NULL };
    parse(&r, help);
    assert_int_equal(r.last, CLI_HELP);
    assert_int_equal(cli_exit(r.last), 0);
    assert_non_null(strstr(r.out, "usage: tresor demo"));
    assert_string_equal(r.err, "");
    run_free(&r);
}

/* One error line, then the synopsis, on err; nothing on out. */
static void error_is(char **argv, const char *line)
{
    struct run r;
    parse(&r, argv);
    assert_int_equal(r.last, CLI_ERROR);
    assert_int_equal(cli_exit(r.last), 2);
    size_t n = strcspn(r.err, "\n");
    if (n != strlen(line) || strncmp(r.err, line, n) != 0)
        fail_msg("expected '%s', got '%.*s'", line, (int)n, r.err);
    assert_true(strncmp(r.err + n + 1, "usage: tresor demo ", 19) == 0);
    assert_string_equal(r.out, "");
    run_free(&r);
}

static void test_errors(void **state)
{
    (void)state;
    error_is((char *[]){ "demo", "--bogus", NULL }, "tresor demo: unknown option '--bogus'");
    error_is((char *[]){ "demo", "--bogus=7", NULL }, "tresor demo: unknown option '--bogus'");
    error_is((char *[]){ "demo", "-x", NULL }, "tresor demo: unknown option '-x'");
    error_is((char *[]){ "demo", "-d", NULL }, "tresor demo: unknown option '-d'");
    error_is((char *[]){ "demo", "--data-dir", NULL }, "tresor demo: --data-dir needs a value (DIR)");
    error_is((char *[]){ "demo", "--dev=yes", NULL }, "tresor demo: --dev takes no value");
    error_is((char *[]){ "demo", "--d", NULL }, "tresor demo: ambiguous option '--d' (--data-dir, --dev)");
    /* An unambiguous prefix is the flag (getopt_long's rule). */
    struct run r;
    parse(&r, (char *[]){ "demo", "--form", "json", NULL });
    assert_int_equal(r.last, CLI_END);
    assert_int_equal(r.vals[0], 'f');
    run_free(&r);

    struct capture e;
    cap_open(&e);
    assert_int_equal(cli_usage_error(e.f, &demo_cmd, "--format must be text or json, not '%s'", "yaml"), 2);
    const char *t = cap_close(&e);
    static const char want[] = "tresor demo: --format must be text or json, not 'yaml'\nusage: tresor demo ";
    assert_true(strncmp(t, want, sizeof want - 1) == 0);
    assert_non_null(strstr(t, "tresor demo --help"));
    free(e.text);
}

/* A table of more rows than CLI_MAX_OPTS is refused whole, by cli_next
 * and by cli_help, with a line that says so -- never cut short, which
 * would drop the last flags from getopt and the help. */
static void test_too_many_options(void **state)
{
    (void)state;
    static struct cli_opt big[CLI_MAX_OPTS + 2];
    static char names[CLI_MAX_OPTS + 1][24];
    for (int i = 0; i <= CLI_MAX_OPTS; i++) {
        snprintf(names[i], sizeof names[i], "flag-%d", i);
        big[i] = (struct cli_opt){ names[i], 'a' + i % 26, NULL, NULL, NULL, "a switch" };
    }
    const struct cli_cmd cmd = { "big", "[--flag-N]", "Too many.\n", big, NULL, NULL };
    char want[128];
    snprintf(want, sizeof want, "tresor big: %d options, more than the CLI_MAX_OPTS (%d) the option parser holds\n",
             CLI_MAX_OPTS + 1, CLI_MAX_OPTS);

    struct capture o, e;
    struct cli_parser p;
    char *argv[] = { "big", "--flag-0", NULL };
    cap_open(&o);
    cap_open(&e);
    cli_parser_init(&p, &cmd, 2, argv);
    p.out = o.f;
    p.err = e.f;
    assert_int_equal(cli_next(&p), CLI_ERROR);
    assert_string_equal(cap_close(&e), want);
    assert_string_equal(cap_close(&o), "");
    free(o.text);
    free(e.text);

    cap_open(&o);
    cli_help(o.f, &cmd);
    const char *t = cap_close(&o);
    assert_non_null(strstr(t, want));
    assert_null(strstr(t, "--flag-0"));
    free(o.text);

    /* exactly CLI_MAX_OPTS rows: every flag parses, the last included */
    big[CLI_MAX_OPTS] = (struct cli_opt){ 0 };
    char *last[] = { "big", names[CLI_MAX_OPTS - 1], NULL };
    char flag[32];
    snprintf(flag, sizeof flag, "--%s", names[CLI_MAX_OPTS - 1]);
    last[1] = flag;
    cli_parser_init(&p, &cmd, 2, last);
    assert_int_equal(cli_next(&p), 'a' + (CLI_MAX_OPTS - 1) % 26);
    assert_int_equal(cli_next(&p), CLI_END);
}

static void test_uint_and_source(void **state)
{
    (void)state;
    unsigned v = 99;
    assert_true(cli_uint("1", 1, 256, &v) && v == 1);
    assert_true(cli_uint("256", 1, 256, &v) && v == 256);
    v = 99;
    assert_false(cli_uint("0", 1, 256, &v));
    assert_false(cli_uint("257", 1, 256, &v));
    assert_false(cli_uint("3x", 1, 256, &v));
    assert_false(cli_uint(" 3", 1, 256, &v));
    assert_false(cli_uint("-3", 1, 256, &v));
    assert_false(cli_uint("+3", 1, 256, &v));
    assert_false(cli_uint("", 1, 256, &v));
    assert_false(cli_uint(NULL, 1, 256, &v));
    assert_false(cli_uint("99999999999999999999", 1, 256, &v));
    assert_int_equal(v, 99);                                   /* untouched on refusal */

    setenv("OPTS_TEST_REGION", "moon", 1);
    const char *from_env = getenv("OPTS_TEST_REGION");
    assert_string_equal(cli_source(from_env, "OPTS_TEST_REGION", "--region"), "OPTS_TEST_REGION");
    char flag_value[] = "moon";
    assert_string_equal(cli_source(flag_value, "OPTS_TEST_REGION", "--region"), "--region");
    unsetenv("OPTS_TEST_REGION");
    assert_string_equal(cli_source(flag_value, "OPTS_TEST_REGION", "--region"), "--region");
}

/* cli_parse over a command whose flags all take a value; stdout and
 * stderr (where cli_parse prints) are captured through a temporary file. */
static const struct cli_opt value_opts[] = {
    { NULL, 0, "FILE", NULL, NULL, "a file" },
    { "data-dir", 'd', "DIR", NULL, "./demo", "where the data lives" },
    { "out", 'o', "FILE", NULL, NULL, "where it goes" },
    { 0 },
};
static const struct cli_cmd value_cmd = { "values", "[--data-dir DIR] [--out FILE] [FILE]",
                                          "Keeps values.\n", value_opts, NULL, NULL };

struct parsed { int c; const char *dir, *out; int first_operand; char text[4096]; };

static void run_parse(struct parsed *r, char **argv, size_t max_operands)
{
    int argc = 0;
    while (argv[argc]) argc++;
    memset(r, 0, sizeof *r);
    r->dir = "./demo";
    const struct cli_value vals[] = { { 'd', &r->dir }, { 'o', &r->out } };
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO);
    assert_true(saved_out >= 0 && saved_err >= 0);
    assert_true(dup2(fileno(tmp), STDOUT_FILENO) >= 0 && dup2(fileno(tmp), STDERR_FILENO) >= 0);
    r->c = cli_parse(&value_cmd, argc, argv, vals, 2, max_operands);
    r->first_operand = optind;
    fflush(stdout);
    fflush(stderr);
    assert_true(dup2(saved_out, STDOUT_FILENO) >= 0 && dup2(saved_err, STDERR_FILENO) >= 0);
    close(saved_out);
    close(saved_err);
    rewind(tmp);
    size_t n = fread(r->text, 1, sizeof r->text - 1, tmp);
    r->text[n] = '\0';
    fclose(tmp);
}

static void test_parse(void **state)
{
    (void)state;
    struct parsed r;

    /* Values kept, the last one given wins, operands allowed to the limit. */
    run_parse(&r, (char *[]){ "values", "--out", "a", "file", "--data-dir", "/x", "--out=b", NULL }, 1);
    assert_int_equal(r.c, CLI_END);
    assert_string_equal(r.dir, "/x");
    assert_string_equal(r.out, "b");
    assert_int_equal(r.first_operand, 6);
    assert_string_equal(r.text, "");

    /* An absent flag leaves the variable as it was; no operands is fine. */
    run_parse(&r, (char *[]){ "values", "--out", "a", NULL }, 0);
    assert_int_equal(r.c, CLI_END);
    assert_string_equal(r.dir, "./demo");
    assert_string_equal(r.out, "a");
    run_parse(&r, (char *[]){ "values", "one", "two", "three", NULL }, SIZE_MAX);
    assert_int_equal(r.c, CLI_END);
    assert_int_equal(r.first_operand, 1);

    /* The first operand past the limit is the one named. */
    run_parse(&r, (char *[]){ "values", "one", NULL }, 0);
    assert_int_equal(r.c, CLI_ERROR);
    assert_int_equal(cli_exit(r.c), 2);
    assert_true(strncmp(r.text, "tresor values: unexpected argument 'one'\nusage: tresor values ", 61) == 0);
    run_parse(&r, (char *[]){ "values", "one", "--data-dir", "/x", "two", "three", NULL }, 1);
    assert_int_equal(r.c, CLI_ERROR);
    assert_true(strncmp(r.text, "tresor values: unexpected argument 'two'\n", 41) == 0);

    /* Flag errors and --help come through as cli_next gives them. */
    run_parse(&r, (char *[]){ "values", "--out", NULL }, 0);
    assert_int_equal(r.c, CLI_ERROR);
    assert_true(strncmp(r.text, "tresor values: --out needs a value (FILE)\n", 42) == 0);
    assert_null(r.out);
    run_parse(&r, (char *[]){ "values", "--help", "extra", NULL }, 0);
    assert_int_equal(r.c, CLI_HELP);
    assert_int_equal(cli_exit(r.c), 0);
    assert_non_null(strstr(r.text, "usage: tresor values"));
    assert_null(strstr(r.text, "unexpected"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_columns_wrap),
        cmocka_unit_test(test_next),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_too_many_options),
        cmocka_unit_test(test_uint_and_source),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
