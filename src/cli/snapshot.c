/*
 * snapshot.c -- `tresor snapshot collect`: an account's IAM, KMS and
 * Secrets Manager authorization state, read with the caller's own
 * credentials and kept as AWS returned it, in one file that the analysis
 * answers from offline (docs/SNAPSHOTS.md).
 *
 * The collector is a Python program on boto3, the AWS SDK the AWS CLI is
 * built on (src/cli/snapshot_collect.py): profiles, SSO, credential
 * processes, the shared config and retries with backoff behave exactly as
 * they do for the AWS CLI, which a hand-written client would have to
 * re-implement.  It is compiled into the binary as a string (the Makefile
 * generates build/gen/cli/snapshot_collect_py.inc), so an installed tresor
 * needs no file beside it, and run with `python3 -c SCRIPT ARGS...`
 * (TRESOR_PYTHON names another interpreter).  This file checks the flags,
 * so a usage error reads like every other command's, and execs it; the
 * script's exit status is the command's.
 *
 * `tresor snapshot check FILE...` reads snapshots as the analysis will
 * (analyze/snapshot.c): every shape checked, what each holds counted, and
 * every gap listed -- the ones the manifest records and the ones the file
 * shows by what it lacks.  For a snapshot assembled by hand, before an
 * answer is built on it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "analyze/snapshot.h"
#include "cli/cli.h"
#include "cli/opts.h"
#include "crypto/hash.h"

static const char collect_py[] =
#include "cli/snapshot_collect_py.inc"
    ;

#define MAX_REGIONS 32

static const struct cli_opt collect_opts[] = {
    { "out", 'o', "FILE", NULL, NULL, "the snapshot to write (JSON, mode 0600; docs/SNAPSHOTS.md)" },
    { "profile", 'p', "P", "AWS_PROFILE", NULL, "the AWS CLI profile whose credentials and region to use" },
    { "endpoint-url", 'e', "URL", NULL, NULL,
      "one endpoint for every service (a tresor server), instead of AWS's own" },
    { "region", 'g', "R", "AWS_REGION", NULL,
      "a region to read KMS and Secrets Manager in; repeatable (default: the profile's region)" },
    { 0 },
};

static const struct cli_row collect_envs[] = {
    { "TRESOR_PYTHON", "the Python 3 interpreter that runs the collector (default python3; needs boto3)" },
    { 0 },
};

static const struct cli_cmd collect_cmd = {
    "snapshot collect", "--out FILE [--profile P] [--endpoint-url URL] [--region R ...]",
    "Read an account's users, groups, roles, policies, KMS keys, key policies,\n"
    "grants, aliases, tags, secrets and secret resource policies with read-only\n"
    "calls, every page, and write them as AWS returned them to FILE, with a\n"
    "manifest: the account, the regions, the time and the gaps (calls refused\n"
    "with AccessDenied).  who-can-decrypt, what-can-decrypt and policy simulate\n"
    "answer from it with --snapshot FILE.\n",
    collect_opts,
    "Exit status: 0 written, 1 a call failed (other than AccessDenied, which is a\n"
    "gap) or the file could not be written, 2 usage error.\n",
    collect_envs,
};

static int snapshot_collect(int argc, char **argv)
{
    const char *out = NULL, *profile = NULL, *endpoint = NULL;
    const char *regions[MAX_REGIONS];
    size_t nregions = 0;
    struct cli_parser p;
    int c;
    cli_parser_init(&p, &collect_cmd, argc, argv);
    while ((c = cli_next(&p)) > 0) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'p': profile = optarg; break;
        case 'e': endpoint = optarg; break;
        case 'g':
            if (nregions == MAX_REGIONS)
                return cli_usage_error(NULL, &collect_cmd, "at most %d --region", MAX_REGIONS);
            regions[nregions++] = optarg;
            break;
        default: break;
        }
    }
    if (c < 0) return cli_exit(c);
    if (optind < argc) return cli_usage_error(NULL, &collect_cmd, "unexpected argument '%s'", argv[optind]);
    if (!out || !*out) return cli_usage_error(NULL, &collect_cmd, "--out FILE is required");
    for (size_t i = 0; i < nregions; i++)
        if (!region_valid(regions[i]))
            return cli_usage_error(NULL, &collect_cmd, "--region: not a region: '%s'", regions[i]);

    const char *py = env_or("TRESOR_PYTHON", "python3");
    const char *args[8 + 2 * MAX_REGIONS + 1];
    size_t n = 0;
    args[n++] = py;
    args[n++] = "-c";
    args[n++] = collect_py;
    args[n++] = "--out";
    args[n++] = out;
    if (profile && *profile) {
        args[n++] = "--profile";
        args[n++] = profile;
    }
    if (endpoint && *endpoint) {
        args[n++] = "--endpoint-url";
        args[n++] = endpoint;
    }
    for (size_t i = 0; i < nregions; i++) {
        args[n++] = "--region";
        args[n++] = regions[i];
    }
    args[n] = NULL;
    fflush(NULL);
    execvp(py, (char *const *)args);
    fprintf(stderr, "tresor snapshot collect: cannot run %s: %s\n", py, strerror(errno));
    return 1;
}

static const struct cli_opt check_opts[] = {
    { NULL, 0, "FILE", NULL, NULL, "a snapshot (docs/SNAPSHOTS.md); several may be given" },
    { "format", 'f', "FORMAT", NULL, "text", "text or json" },
    { 0 },
};

static const struct cli_cmd check_cmd = {
    "snapshot check", "FILE... [--format text|json]",
    "Read each snapshot as who-can-decrypt reads it: every response checked for\n"
    "AWS's shape, what it holds counted (users, groups, roles, managed policies,\n"
    "keys, grants, aliases, secrets, resource policies), and every gap listed:\n"
    "the calls the manifest records as refused and the responses the file lacks.\n",
    check_opts,
    "Exit status: 0 every snapshot read (gaps or not), 1 one could not be read\n"
    "(the error names the file and the place in it), 2 usage error.\n",
    NULL,
};

static size_t with_policy(const struct snapshot *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nsecrets; i++) n += s->secrets[i].resource_policy != NULL;
    return n;
}

static size_t grants(const struct snapshot *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nkeys; i++) n += s->keys[i].ngrants;
    return n;
}

/* The account's organization as the snapshot says it (o: its table,
 * snapshot_orgs_build of this snapshot alone; NULL without the member). */
static const struct iam_org_account *org_of(const struct snapshot_orgs *o)
{
    const struct iam_orgs *v = snapshot_orgs_view(o);
    return v && v->n ? &v->acc[0] : NULL;
}

static json_t *org_json(const struct iam_org_account *a)
{
    return json_pack("{s:s?,s:b,s:I,s:I}", "Id", a->org_id, "Management", a->management,
                     "ScpLevels", (json_int_t)a->scp.n, "RcpLevels", (json_int_t)a->rcp.n);
}

static json_t *check_json(const char *file, const struct snapshot *s)
{
    json_t *regs = json_array(), *gaps = json_array();
    for (size_t i = 0; i < s->nregions; i++) json_array_append_new(regs, json_string(s->regions[i]));
    for (size_t i = 0; i < s->ngaps; i++)
        json_array_append_new(gaps, json_pack("{s:s,s:b}", "What", s->gaps[i].what, "InManifest",
                                              s->gaps[i].listed));
    return json_pack("{s:s,s:s,s:o,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "File", file,
                     "Account", s->account, "Regions", regs, "CollectedAt", s->collected_at,
                     "Users", (json_int_t)s->nusers, "Groups", (json_int_t)s->ngroups,
                     "Roles", (json_int_t)s->nroles, "Policies", (json_int_t)s->npolicies,
                     "Keys", (json_int_t)s->nkeys, "Grants", (json_int_t)grants(s),
                     "Aliases", (json_int_t)s->naliases, "Secrets", (json_int_t)s->nsecrets,
                     "ResourcePolicies", (json_int_t)with_policy(s), "Gaps", gaps);
}

/* check_json, with "Organization" when the snapshot has the member. */
static json_t *check_json_all(const char *file, const struct snapshot *s, const struct snapshot_orgs *o)
{
    json_t *j = check_json(file, s);
    const struct iam_org_account *a = org_of(o);
    if (j && a) json_object_set_new(j, "Organization", org_json(a));
    return j;
}

static void check_text(const char *file, const struct snapshot *s, const struct snapshot_orgs *o)
{
    const struct iam_org_account *a = org_of(o);
    printf("%s: account %s, collected %s, region%s", file, s->account, s->collected_at,
           s->nregions == 1 ? "" : "s");
    for (size_t i = 0; i < s->nregions; i++) printf("%s%s", i ? ", " : " ", s->regions[i]);
    printf("\n  iam: %zu user(s), %zu group(s), %zu role(s), %zu managed polic%s\n", s->nusers, s->ngroups,
           s->nroles, s->npolicies, s->npolicies == 1 ? "y" : "ies");
    printf("  kms: %zu key(s), %zu grant(s), %zu alias(es)\n", s->nkeys, grants(s), s->naliases);
    printf("  secretsmanager: %zu secret(s), %zu with a resource policy\n", s->nsecrets, with_policy(s));
    if (a && a->org_id)
        printf("  organizations: %s, %s account, SCPs at %zu level(s), RCPs at %zu level(s)\n", a->org_id,
               a->management ? "the management" : "a member", a->scp.n, a->rcp.n);
    else if (a)
        printf("  organizations: in no organization\n");
    printf("  gaps: %zu%s\n", s->ngaps, s->ngaps ? " (answers that need these parts are incomplete)" : "");
    for (size_t i = 0; i < s->ngaps; i++)
        printf("    %s%s\n", s->gaps[i].what, s->gaps[i].listed ? " (in the manifest)" : "");
}

static int snapshot_check(int argc, char **argv)
{
    const char *format = "text";
    const struct cli_value vals[] = { { 'f', &format } };
    int c = cli_parse(&check_cmd, argc, argv, vals, 1, 64);
    if (c < 0) return cli_exit(c);
    bool json = strcmp(format, "json") == 0;
    if (!json && strcmp(format, "text") != 0)
        return cli_usage_error(NULL, &check_cmd, "--format must be text or json, not '%s'", format);
    if (optind >= argc) return cli_usage_error(NULL, &check_cmd, "a snapshot FILE is required");
    if (tr_failed(crypto_init())) return die("crypto init");   /* the control policies compile */
    json_t *all = json ? json_array() : NULL;
    int status = 0;
    for (int i = optind; i < argc; i++) {
        struct snapshot s;
        struct snapshot_orgs *o = NULL;
        bool read = tr_ok(snapshot_load(argv[i], &s));
        if (read && !tr_ok(snapshot_orgs_build(&s, 1, &o))) {
            snapshot_free(&s);
            read = false;
        }
        if (!read) {
            const struct tr_error_info *e = tr_last_error();
            fprintf(stderr, "tresor snapshot check: %s\n", e->has_message ? e->message : tr_err_type(e->code));
            status = 1;
            continue;
        }
        if (json) json_array_append_new(all, check_json_all(argv[i], &s, o));
        else check_text(argv[i], &s, o);
        snapshot_orgs_free(o);
        snapshot_free(&s);
    }
    if (json) {
        json_dumpf(all, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(all);
    }
    return status;
}

static const struct cli_opt prepare_opts[] = {
    { NULL, 0, "FILE...", NULL, NULL, "snapshots (JSON, one per account), as --snapshot takes them" },
    { "out", 'o', "PREPARED", NULL, NULL, "the prepared snapshot to write (an SQLite file, mode 0600)" },
    { 0 },
};

static const struct cli_cmd prepare_cmd = {
    "snapshot prepare", "FILE... --out PREPARED",
    "Read the snapshots and load them into a store once, kept in PREPARED, so\n"
    "that who-can-decrypt, what-can-decrypt, policy simulate and snapshot diff\n"
    "answer from it (--snapshot PREPARED) without reading the JSON again: the same\n"
    "answers, byte for byte.  PREPARED records each FILE's SHA-256; an answer from\n"
    "it after a FILE changed is refused (prepare again).\n",
    prepare_opts,
    "Exit status: 0 written, 1 a snapshot could not be read or PREPARED written,\n"
    "2 usage error.\n",
    NULL,
};

static int snapshot_prepare_cmd(int argc, char **argv)
{
    const char *out = NULL;
    const struct cli_value vals[] = { { 'o', &out } };
    int c = cli_parse(&prepare_cmd, argc, argv, vals, 1, MAX_SNAPSHOTS);
    if (c < 0) return cli_exit(c);
    if (!out || !*out) return cli_usage_error(NULL, &prepare_cmd, "--out PREPARED is required");
    if (optind >= argc) return cli_usage_error(NULL, &prepare_cmd, "a snapshot FILE is required");
    for (int i = optind; i < argc; i++)
        if (snapshot_is_prepared(argv[i]))
            return cli_usage_error(NULL, &prepare_cmd, "%s is prepared already: give the JSON snapshots", argv[i]);
    if (tr_failed(crypto_init()) ||
        tr_failed(snapshot_prepare((const char *const *)argv + optind, (size_t)(argc - optind), out))) {
        const struct tr_error_info *e = tr_last_error();
        fprintf(stderr, "tresor snapshot prepare: %s\n", e->has_message ? e->message : tr_err_type(e->code));
        return 1;
    }
    return 0;
}

int cmd_snapshot(int argc, char **argv)
{
    static const struct cli_row subs[] = {
        { "collect", "an account's policies, read-only, into one file" },
        { "check", "read snapshots as the analysis does: shapes, counts, gaps" },
        { "diff", "who gained and who lost the ability to decrypt each secret between two" },
        { "prepare", "load snapshots once into a file that answers read without parsing them" },
    };
    if (argc >= 2 && strcmp(argv[1], "collect") == 0) return snapshot_collect(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "check") == 0) return snapshot_check(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "diff") == 0) return cmd_snapshot_diff(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "prepare") == 0) return snapshot_prepare_cmd(argc - 1, argv + 1);
    FILE *f = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) ? stdout : stderr;
    if (f == stderr) {
        if (argc < 2) fprintf(stderr, "tresor snapshot: missing command (collect, check, diff or prepare)\n");
        else fprintf(stderr, "tresor snapshot: unknown command '%s'\n", argv[1]);
    }
    fprintf(f, "usage: tresor snapshot collect|check|diff|prepare ...\n");
    cli_columns(f, subs, 4);
    return f == stdout ? 0 : 2;
}
