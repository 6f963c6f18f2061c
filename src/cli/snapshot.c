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
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/opts.h"

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
            if (!region_valid(optarg))
                return cli_usage_error(NULL, &collect_cmd, "--region: not a region: '%s'", optarg);
            regions[nregions++] = optarg;
            break;
        default: break;
        }
    }
    if (c < 0) return cli_exit(c);
    if (optind < argc) return cli_usage_error(NULL, &collect_cmd, "unexpected argument '%s'", argv[optind]);
    if (!out || !*out) return cli_usage_error(NULL, &collect_cmd, "--out FILE is required");

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

int cmd_snapshot(int argc, char **argv)
{
    int status;
    if (cli_one_command(argc, argv, "snapshot", "collect", &collect_cmd, &status))
        return snapshot_collect(argc - 1, argv + 1);
    return status;
}
