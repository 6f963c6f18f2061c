/*
 * opts.h -- the subcommands' options and their help, from one table per
 * command.
 *
 * A command's table lists every flag it accepts: the value's name, the
 * environment variable read when the flag is absent, the default, and one
 * sentence of help.  cli_next() builds getopt_long's option list from that
 * table, so no flag can be accepted without appearing in --help, and
 * cli_help() prints the table with every description starting in one
 * column.  Every usage error is one line, "tresor CMD: what is wrong",
 * then the synopsis, on stderr, and exit status 2.
 *
 *     struct cli_parser p;
 *     int c;
 *     cli_parser_init(&p, &check_cmd, argc, argv);
 *     while ((c = cli_next(&p)) > 0)
 *         switch (c) { case 'd': data_dir = optarg; break; }
 *     if (c < 0) return cli_exit(c);      (--help printed: 0; an error: 2)
 *     ... operands are argv[optind] .. argv[argc - 1]
 *
 * A command whose flags only name values (a data dir, a file) runs that
 * loop as one call, which also refuses operands it does not take:
 *
 *     const struct cli_value vals[] = { { 'd', &data_dir } };
 *     int c = cli_parse(&check_cmd, argc, argv, vals, 1, 0);
 *     if (c < 0) return cli_exit(c);
 */
#ifndef TR_CLI_OPTS_H
#define TR_CLI_OPTS_H

#include <getopt.h>

#ifdef __clang_analyzer__
/* getopt_long sets optarg for every flag that takes a value, and cli_next
 * returns such a flag's val only with it; the analyser cannot know that,
 * and would take optarg for NULL in every `case` that reads it. */
#define optarg (optarg ? optarg : (char *)"")
#endif
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* What cli_next returns besides an option's val. */
#define CLI_END   0     /* no more options; operands start at optind */
#define CLI_HELP  (-1)  /* --help was printed to stdout: exit 0 */
#define CLI_ERROR (-2)  /* an error line and the synopsis went to stderr: exit 2 */

/* The most rows (flags and operands) a command's table may have.  A table
 * with more is refused whole, never cut short: cli_next fails with
 * "tresor CMD: N options, more than the CLI_MAX_OPTS (48) the option
 * parser holds" and cli_help prints that line instead of the options
 * (tests/unit/opts_test.c; test_cli_help.py runs --help of every
 * command). */
#define CLI_MAX_OPTS 48

struct cli_opt {
    const char *name;   /* long flag without "--"; NULL for an operand (SECRET) */
    int val;            /* what cli_next returns for the flag, > 0 */
    const char *arg;    /* the value's name ("DIR"), the operand's; NULL for a switch */
    const char *env;    /* environment variable read when the flag is absent, or NULL */
    const char *dflt;   /* the default the help shows, or NULL */
    const char *help;   /* one sentence, wrapped by cli_help; NULL ends the table */
};

/* The data dir and region every command that reads a store shares: each
 * one's environment variable and default, and its row in a table. */
#define CLI_DATA_DIR_ENV     "TRESOR_DATA_DIR"
#define CLI_DATA_DIR_DEFAULT "./tresor-data"
#define CLI_REGION_ENV       "TRESOR_REGION"
#define CLI_REGION_DEFAULT   "us-east-1"
#define CLI_OPT_DATA_DIR(help) \
    { "data-dir", 'd', "DIR", CLI_DATA_DIR_ENV, CLI_DATA_DIR_DEFAULT, help }
/* The store, when it is not the data dir's SQLite file: a PostgreSQL
 * connection string (store/postgres.h). */
#define CLI_STORE_ENV        "TRESOR_STORE"
#define CLI_OPT_STORE(help) \
    { "store", 'B', "URL", CLI_STORE_ENV, "DIR/tresor.db", help }
#define CLI_OPT_REGION(val, help) \
    { "region", val, "REGION", CLI_REGION_ENV, CLI_REGION_DEFAULT, help }
/* Where the analysis commands (who-can-decrypt, what-can-decrypt, policy
 * simulate) read the account from: AWS account snapshots (repeatable,
 * flag val; verb "answer from", "decide over"), else the store of the
 * data dir or of a PostgreSQL database. */
#define CLI_OPTS_SNAPSHOT_OR_STORE(val, verb) \
    { "snapshot", val, "FILE", NULL, NULL, \
      verb " this AWS account snapshot (docs/SNAPSHOTS.md) instead of the store; " \
      "repeatable, one file per account; or one prepared snapshot (tresor snapshot prepare), alone" }, \
    CLI_OPT_DATA_DIR("the data dir of the store"), \
    CLI_OPT_STORE("the PostgreSQL database of the store, instead of the data dir's SQLite file")
/* The pkcs11 seal's flags, the same for serve, seal migrate and
 * rotate-root-key (vals 'y', 'T', 'K', 'N'). */
#define CLI_OPTS_PKCS11 \
    { "pkcs11-module", 'y', "PATH", "TRESOR_PKCS11_MODULE", NULL, \
      "with the pkcs11 seal: the token's PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so" }, \
    { "pkcs11-token", 'T', "LABEL", "TRESOR_PKCS11_TOKEN", NULL, \
      "with the pkcs11 seal: the token's label; needed where DIR/root.p11 is made, later read from it" }, \
    { "pkcs11-key", 'K', "LABEL", "TRESOR_PKCS11_KEY", NULL, \
      "with the pkcs11 seal: the label of the AES-256 key in the token (sensitive, not extractable), made " \
      "there if absent where DIR/root.p11 is made; later read from it" }, \
    { "pkcs11-pin-file", 'N', "FILE", NULL, NULL, \
      "with the pkcs11 seal: read the token's user PIN from FILE (mode 0600), else from TRESOR_PKCS11_PIN" }

/* A row of a two-column list: a flag, a command, a variable, and its text. */
struct cli_row { const char *left, *right; };

struct cli_cmd {
    const char *name;       /* "serve", "policy simulate": follows "tresor " */
    const char *synopsis;   /* the forms of use without "tresor NAME", '\n' between (wrapped) */
    const char *about;      /* what the command does, lines of at most 79 columns */
    const struct cli_opt *opts;
    const char *more;       /* printed after the options (exit status...), or NULL */
    const struct cli_row *envs;   /* other environment variables, { 0 }-terminated, or NULL */
};

struct cli_parser {
    const struct cli_cmd *cmd;
    int argc;
    char **argv;
    FILE *out, *err;        /* stdout and stderr; tests capture them */
    bool started;
    struct option lo[CLI_MAX_OPTS + 2];   /* cmd's flags and --help, built on the first cli_next */
};

void cli_parser_init(struct cli_parser *p, const struct cli_cmd *cmd, int argc, char **argv);
/* The next option's val; CLI_END, CLI_HELP or CLI_ERROR (messages printed).
 * optarg holds a flag's value.  An unknown or ambiguous flag, a missing
 * value and a value given to a switch are errors that name the flag. */
int cli_next(struct cli_parser *p);
/* The exit status for CLI_HELP (0) and CLI_ERROR (2). */
int cli_exit(int c);

/* A flag whose value the command only keeps: its val and the variable. */
struct cli_value { int val; const char **to; };
/* The whole option loop of a command whose flags all take a value and are
 * only kept: parse argv against cmd (cli_next, on stdout and stderr),
 * storing each flag's value in the variable its row of vals (n rows)
 * names -- the last one given wins, an absent flag leaves the variable as
 * it was -- then refuse more than max_operands operands ("unexpected
 * argument", a usage error).  Returns CLI_END (operands start at optind),
 * CLI_HELP or CLI_ERROR, for cli_exit. */
int cli_parse(const struct cli_cmd *cmd, int argc, char **argv, const struct cli_value *vals, size_t n,
              size_t max_operands);

/* The whole help of cmd: synopsis, about, the options in one column, more. */
void cli_help(FILE *f, const struct cli_cmd *cmd);
/* The synopsis: "usage: tresor NAME ..." and its other lines. */
void cli_synopsis(FILE *f, const struct cli_cmd *cmd);
/* "tresor NAME: <fmt>" then the synopsis and a pointer to --help, on err
 * (stderr when NULL).  Returns 2, the exit status of a usage error. */
int cli_usage_error(FILE *err, const struct cli_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A command group of one command (`tresor account create`): true when
 * argv[1] names it; else false, with *status the exit status after the
 * group's help (--help, -h: 0) or a usage error (no command, another
 * one: 2). */
bool cli_one_command(int argc, char **argv, const char *group, const char *command,
                     const struct cli_cmd *cmd, int *status);

/* Two columns, the right one starting in one column for every row and
 * wrapped to 79 columns (cli_help's options; the list of commands). */
void cli_columns(FILE *f, const struct cli_row *rows, size_t n);

/* s as a decimal number in lo..hi, nothing else around it. */
bool cli_uint(const char *s, unsigned lo, unsigned hi, unsigned *out);
/* Which of flag and env supplied value: env when value is getenv(env)'s
 * own string (env_or returns it), flag otherwise -- for error lines. */
const char *cli_source(const char *value, const char *env, const char *flag);

#endif
