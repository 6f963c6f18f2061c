/*
 * opts.c -- option tables to getopt_long, --help and usage errors (opts.h).
 *
 * getopt_long's own messages are off (opterr = 0): each error becomes one
 * line naming the command and the flag.  A flag's getopt val is 256 + its
 * index in the command's table, so an error about a known long flag
 * (optopt >= 256) is told apart from an unknown short one (optopt < 256).
 */
#include "cli/opts.h"

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define WIDTH 79            /* help lines end at column 79 */
#define MAX_LEFT 28         /* a longer left column pushes its text to the next line */
#define LONG_BASE 256

/* Words of text from column `col` on (the cursor is there), wrapped to
 * WIDTH with continuation lines indented to `col`.  NBSP joins words that
 * stay on one line (cli_help's "(ENV, default X)") and prints as a space. */
#define NBSP '\x01'

static void wrap(FILE *f, const char *text, int col)
{
    int at = col;
    bool first = true;
    const char *p = text;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        int n = (int)strcspn(p, " ");
        if (!first && at + 1 + n > WIDTH) {
            fprintf(f, "\n%*s", col, "");
            at = col;
            first = true;
        }
        if (!first) fputc(' ', f);
        for (int i = 0; i < n; i++) fputc(p[i] == NBSP ? ' ' : p[i], f);
        at += (first ? 0 : 1) + n;
        first = false;
        p += n;
    }
    fputc('\n', f);
}

void cli_columns(FILE *f, const struct cli_row *rows, size_t n)
{
    int left = 0;
    for (size_t i = 0; i < n; i++) {
        int w = (int)strlen(rows[i].left);
        if (w <= MAX_LEFT && w > left) left = w;
    }
    int col = 2 + left + 2;
    for (size_t i = 0; i < n; i++) {
        int w = (int)strlen(rows[i].left);
        if (w > left) fprintf(f, "  %s\n%*s", rows[i].left, col, "");
        else fprintf(f, "  %-*s  ", left, rows[i].left);
        wrap(f, rows[i].right, col);
    }
}

/* "usage: tresor NAME FORM" for the synopsis' first form, "       tresor
 * NAME FORM" for the others, each wrapped to WIDTH under its first word,
 * breaking only between bracket groups ("[--with-key KEY [--diff]]" stays
 * whole). */
void cli_synopsis(FILE *f, const struct cli_cmd *cmd)
{
    const char *p = cmd->synopsis;
    int head = (int)strlen("usage: tresor ") + (int)strlen(cmd->name) + 1;
    bool first_form = true;
    while (*p) {
        int n = (int)strcspn(p, "\n");
        fprintf(f, "%s%s", first_form ? "usage: tresor " : "       tresor ", cmd->name);
        int at = head - 1;
        for (int i = 0; i < n;) {
            while (i < n && p[i] == ' ') i++;
            int depth = 0, w = 0;
            while (i + w < n && (depth > 0 || p[i + w] != ' ')) {
                depth += p[i + w] == '[' ? 1 : p[i + w] == ']' ? -1 : 0;
                w++;
            }
            if (w == 0) break;
            if (at + 1 + w > WIDTH && at > head) {
                fprintf(f, "\n%*s", head - 1, "");
                at = head - 1;
            }
            fprintf(f, " %.*s", w, p + i);
            at += 1 + w;
            i += w;
        }
        fputc('\n', f);
        first_form = false;
        p += n;
        if (*p == '\n') p++;
    }
}

/* The rows of cmd's table; more than CLI_MAX_OPTS is a table the parser
 * cannot hold: its line goes to f, and false. */
static bool table_fits(FILE *f, const struct cli_cmd *cmd)
{
    size_t n = 0;
    while (cmd->opts[n].help) n++;
    if (n <= CLI_MAX_OPTS) return true;
    fprintf(f, "tresor %s: %zu options, more than the CLI_MAX_OPTS (%d) the option parser holds\n",
            cmd->name, n, CLI_MAX_OPTS);
    return false;
}

void cli_help(FILE *f, const struct cli_cmd *cmd)
{
    struct cli_row rows[CLI_MAX_OPTS + 2];
    char left[CLI_MAX_OPTS + 2][64], right[CLI_MAX_OPTS + 2][512];
    size_t n = 0;

    cli_synopsis(f, cmd);
    fprintf(f, "\n%s", cmd->about);
    if (!table_fits(f, cmd)) return;
    for (const struct cli_opt *o = cmd->opts; o->help && n < CLI_MAX_OPTS; o++, n++) {
        /* cut: help text from the option tables, for people (two columns) */
        if (o->name) snprintf(left[n], sizeof left[n], "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        else snprintf(left[n], sizeof left[n], "%s", o->arg);   /* cut: as above */
        int k = snprintf(right[n], sizeof right[n], "%s", o->help);
        if ((o->env || o->dflt) && k > 0 && (size_t)k < sizeof right[n]) {
            /* cut: as above */
            snprintf(right[n] + k, sizeof right[n] - (size_t)k, " (%s%s%s%s)", o->env ? o->env : "",
                     o->env && o->dflt ? ", " : "", o->dflt ? "default " : "", o->dflt ? o->dflt : "");
            for (char *q = right[n] + k + 1; *q; q++)       /* "(ENV, default X)" stays one unit */
                if (*q == ' ') *q = NBSP;
        }
        rows[n] = (struct cli_row){ left[n], right[n] };
    }
    rows[n++] = (struct cli_row){ "-h, --help", "this text" };
    fprintf(f, "\n%s:\n", cmd->opts[0].help && !cmd->opts[0].name ? "arguments and options" : "options");
    cli_columns(f, rows, n);
    if (cmd->envs) {
        size_t ne = 0;
        while (cmd->envs[ne].left) ne++;
        fprintf(f, "\nenvironment:\n");
        cli_columns(f, cmd->envs, ne);
    }
    if (cmd->more) fprintf(f, "\n%s", cmd->more);
}

int cli_usage_error(FILE *err, const struct cli_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    if (!err) err = stderr;
    fprintf(err, "tresor %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(err, fmt, ap);
    va_end(ap);
    fputc('\n', err);
    cli_synopsis(err, cmd);
    fprintf(err, "(tresor %s --help describes every option)\n", cmd->name);
    return 2;
}

bool cli_one_command(int argc, char **argv, const char *group, const char *command,
                     const struct cli_cmd *cmd, int *status)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        cli_help(stdout, cmd);
        *status = 0;
        return false;
    }
    if (argc >= 2 && strcmp(argv[1], command) == 0) return true;
    if (argc < 2) fprintf(stderr, "tresor %s: missing command '%s'\n", group, command);
    else fprintf(stderr, "tresor %s: unknown command '%s'\n", group, argv[1]);
    cli_synopsis(stderr, cmd);
    *status = 2;
    return false;
}

void cli_parser_init(struct cli_parser *p, const struct cli_cmd *cmd, int argc, char **argv)
{
    memset(p, 0, sizeof *p);
    p->cmd = cmd;
    p->argc = argc;
    p->argv = argv;
    p->out = stdout;
    p->err = stderr;
}

/* An unknown or ambiguous long flag: argv[optind - 1]. */
static int unknown_long(struct cli_parser *p)
{
    const char *a = optind >= 1 && optind - 1 < p->argc ? p->argv[optind - 1] : "?";
    const char *name = a + strspn(a, "-");
    int n = (int)strcspn(name, "=");
    char alts[256] = "";
    size_t used = 0;
    int hits = 0;
    for (const struct option *o = p->lo; o->name; o++) {
        if (n == 0 || strncmp(o->name, name, (size_t)n) != 0) continue;
        hits++;
        int w = snprintf(alts + used, sizeof alts - used, "%s--%s", used ? ", " : "", o->name);
        if (w > 0 && used + (size_t)w < sizeof alts) used += (size_t)w;
    }
    if (hits > 1) cli_usage_error(p->err, p->cmd, "ambiguous option '--%.*s' (%s)", n, name, alts);
    else cli_usage_error(p->err, p->cmd, "unknown option '%.*s'", (int)(name - a) + n, a);
    return CLI_ERROR;
}

int cli_next(struct cli_parser *p)
{
    if (!p->started) {
        size_t k = 0;
        if (!table_fits(p->err, p->cmd)) return CLI_ERROR;
        for (size_t i = 0; p->cmd->opts[i].help && k < CLI_MAX_OPTS; i++) {
            const struct cli_opt *o = &p->cmd->opts[i];
            if (!o->name) continue;
            p->lo[k++] = (struct option){ o->name, o->arg ? required_argument : no_argument, NULL,
                                          LONG_BASE + (int)i };
        }
        p->lo[k++] = (struct option){ "help", no_argument, NULL, 'h' };
        p->lo[k] = (struct option){ 0 };
        p->started = true;
        optind = 0;                 /* glibc: start over, whatever parsed before */
        opterr = 0;                 /* our messages, not getopt's */
    }
    int c = getopt_long(p->argc, p->argv, ":h", p->lo, NULL);
    if (c == -1) return CLI_END;
    if (c == 'h') {
        cli_help(p->out, p->cmd);
        return CLI_HELP;
    }
    if (c >= LONG_BASE) return p->cmd->opts[c - LONG_BASE].val;
    if (optopt >= LONG_BASE) {
        const struct cli_opt *o = &p->cmd->opts[optopt - LONG_BASE];
        if (c == ':') cli_usage_error(p->err, p->cmd, "--%s needs a value (%s)", o->name, o->arg);
        else cli_usage_error(p->err, p->cmd, "--%s takes no value", o->name);
        return CLI_ERROR;
    }
    if (optopt > 0) {
        cli_usage_error(p->err, p->cmd, "unknown option '-%c'", optopt);
        return CLI_ERROR;
    }
    return unknown_long(p);
}

int cli_exit(int c) { return c == CLI_HELP ? 0 : 2; }

int cli_parse(const struct cli_cmd *cmd, int argc, char **argv, const struct cli_value *vals, size_t n,
              size_t max_operands)
{
    struct cli_parser p;
    int c;
    cli_parser_init(&p, cmd, argc, argv);
    while ((c = cli_next(&p)) > 0)
        for (size_t i = 0; i < n; i++)
            if (vals[i].val == c) *vals[i].to = optarg;
    if (c < 0) return c;
    if (optind < argc && (size_t)(argc - optind) > max_operands) {
        cli_usage_error(p.err, cmd, "unexpected argument '%s'", argv[(size_t)optind + max_operands]);
        return CLI_ERROR;
    }
    return CLI_END;
}

bool cli_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    unsigned long v = 0;
    if (!s || !*s || strlen(s) > 10) return false;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return false;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v < lo || v > hi) return false;
    *out = (unsigned)v;
    return true;
}

const char *cli_source(const char *value, const char *env, const char *flag)
{
    const char *e = env ? getenv(env) : NULL;
    return e && value == e ? env : flag;
}
