/*
 * snapshot_diff.c -- `tresor snapshot diff OLD NEW`: who gained and who
 * lost the ability to decrypt each secret between two snapshots of an
 * account (docs/SNAPSHOTS.md, "Diff as a gate"); or between two sets of
 * snapshots, one file per account on each side: `--old A.json --old
 * B.json --new A2.json --new B2.json`.
 *
 * Each side is loaded into its own in-memory store (cli_open_snapshots)
 * and answered by the unchanged analysis, secret by secret, over one
 * principal graph per side: the who-can-decrypt --all answer of every
 * secret either side holds (or of those --secret names).  A principal is
 * compared by ARN: one listed as a reader on NEW and not on OLD gained
 * (with NEW's statements that allow each step of its path), one listed on
 * OLD and not on NEW lost (with OLD's).  A reader whose answer changed
 * between "allowed" and "allowed only if" is listed as changed, neither
 * gained nor lost.  A secret only one side holds counts whole: created,
 * its readers gained; deleted, lost.
 *
 * The exit status is the gate: 1 when anyone gained, 0 otherwise, 2 on a
 * usage error or a snapshot that cannot be read.  Output: text, JSON, or
 * SARIF 2.1.0 (one result per gained or lost reader, located at the
 * secret's ARN as a logical location) for code-scanning tools.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "analyze/analyze.h"
#include "analyze/snapshot.h"
#include "cli/cli.h"
#include "cli/opts.h"
#include "op/clock.h"

#define MAX_SECRETS_ASKED 256
#define SARIF_SCHEMA "https://json.schemastore.org/sarif-2.1.0.json"
#define RULE_GAINED "tresor/decrypt-access-gained"
#define RULE_LOST "tresor/decrypt-access-lost"

static const struct cli_opt diff_opts[] = {
    { NULL, 0, "OLD NEW", NULL, NULL, "two snapshots of one account (docs/SNAPSHOTS.md): before and after" },
    { "old", 'o', "FILE", NULL, NULL, "a snapshot of the before side; repeatable, one per account "
                                      "(instead of OLD NEW)" },
    { "new", 'n', "FILE", NULL, NULL, "a snapshot of the after side; repeatable, one per account" },
    { "secret", 's', "S", NULL, NULL, "only this secret (a name or ARN); repeatable (default: every secret)" },
    { "format", 'f', "FORMAT", NULL, "text", "text, json or sarif (SARIF 2.1.0, for code scanning)" },
    { 0 },
};

static const struct cli_cmd diff_cmd = {
    "snapshot diff", "(OLD NEW | --old FILE ... --new FILE ...) [--secret S ...] [--format text|json|sarif]",
    "For each secret, the principals who gained and who lost the ability to\n"
    "decrypt it between snapshot OLD and snapshot NEW, each with the statements\n"
    "that allow (or allowed) every step of its path: a gate for CI, run on the\n"
    "snapshots before and after a policy change.  Several accounts: one\n"
    "--old and one --new per account's snapshot, read together per side.\n",
    diff_opts,
    "Exit status: 0 nobody gained, 1 someone gained, 2 usage error or a snapshot\n"
    "that cannot be read.\n",
    NULL,
};

/* One side: its snapshot in a store, the graph built once. */
struct side {
    struct data_dir dd;
    struct snapset *snaps;
    struct server_env env;
    struct az_graph g;
    struct az_access *acc;
    struct az_answer *ans;
    size_t cap;
};

static int side_open(struct side *sd, const char *const *files, size_t nfiles)
{
    memset(sd, 0, sizeof *sd);
    if (cli_open_snapshots(files, nfiles, NULL, &sd->dd, &sd->snaps)) return 2;
    sd->env = (struct server_env){ .st = sd->dd.st, .default_region = "us-east-1",
                                   .orgs = cli_snapshot_orgs(sd->snaps) };
    char (*ids)[ACCOUNT_ID_LEN + 1] = NULL;
    size_t nids = 0;
    const char **accts = NULL;
    tr_result r = az_accounts(sd->dd.st, NULL, 0, &ids, &nids);
    if (tr_ok(r)) accts = calloc(nids + 1, sizeof *accts);
    if (!accts) {
        free(ids);
        return die("accounts") + 1;
    }
    for (size_t i = 0; i < nids; i++) accts[i] = ids[i];
    r = az_graph_build_opts(&sd->env, accts, nids, true, &sd->g);
    free(accts);
    free(ids);
    if (tr_failed(r)) return die("principals") + 1;
    sd->g.uncollected = true;
    return 0;
}

static void side_close(struct side *sd)
{
    free(sd->acc);
    free(sd->ans);
    az_graph_free(&sd->g);
    if (sd->snaps) cli_close_snapshots(&sd->dd, sd->snaps);
}

/* The who-can-decrypt answer of the secret `arn` on side sd (JSON as
 * --format json prints it), or *out NULL when the side has no such
 * secret. */
static TR_RESULT side_answer(struct side *sd, const char *arn, json_t **out)
{
    struct ent_rec e;
    struct az_target t;
    *out = NULL;
    tr_result r = sd->dd.st[0]->ent_get_arn(sd->dd.st, "secret", arn, &e);
    if (tr_failed(r)) return tr_code(r) == TR_E_STORE_NOT_FOUND ? TR_OK : r;
    r = az_target_from_ent(&sd->env, &e, &t);
    ent_rec_free(&e);
    GUARD(r);
    /* Accounts the policies name that no snapshot holds: foreign nodes. */
    for (size_t k = 0; tr_ok(r) && k < t.nnamed; k++)
        if (strcmp(t.named[k], "*") != 0 && az_graph_find(&sd->g, t.named[k]) == SIZE_MAX) {
            char root[64];
            /* fits: a named account is 12 digits */
            snprintf(root, sizeof root, "arn:aws:iam::%s:root", t.named[k]);
            if (az_graph_find(&sd->g, root) == SIZE_MAX) r = az_graph_add_foreign(&sd->g, t.named[k]);
        }
    if (tr_ok(r) && sd->g.nn > sd->cap) {
        free(sd->acc);
        free(sd->ans);
        sd->cap = sd->g.nn + 16;
        sd->acc = calloc(sd->cap, sizeof *sd->acc);
        sd->ans = calloc(sd->cap, sizeof *sd->ans);
        if (!sd->acc || !sd->ans) {
            sd->cap = 0;
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        }
    }
    if (tr_ok(r)) r = az_who_can(&sd->env, &sd->g, &t, true, sd->acc, sd->ans);
    if (tr_ok(r)) {
        *out = az_report_json(&sd->g, &t, sd->acc, sd->ans);
        if (!*out) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    az_target_free(&t);
    return r;
}

/* The statements of a reader's path: each step's evidence, in order. */
static json_t *statements(const json_t *reader)
{
    json_t *out = json_array();
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(reader, "path"), i, st) {
        const char *ev = json_string_value(json_object_get(st, "evidence"));
        if (ev && *ev) json_array_append_new(out, json_string(ev));
    }
    return out;
}

static json_t *find_reader(const json_t *answer, const char *principal)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(answer, "principals"), i, p)
        if (strcmp(json_string_value(json_object_get(p, "principal")), principal) == 0) return p;
    return NULL;
}

static json_t *change(const json_t *reader)
{
    return json_pack("{s:O, s:O, s:O, s:O, s:o}", "principal", json_object_get(reader, "principal"),
                     "type", json_object_get(reader, "type"), "access", json_object_get(reader, "access"),
                     "conditional", json_object_get(reader, "conditional"), "statements",
                     statements(reader));
}

/* The readers of `from` that `to` does not list, as changes; and (when
 * changed is not NULL) those whose conditional flag differs. */
static void readers_not_in(const json_t *from, const json_t *to, json_t *list, json_t *changed)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(from, "principals"), i, p) {
        const char *who = json_string_value(json_object_get(p, "principal"));
        json_t *q = to ? find_reader(to, who) : NULL;
        if (!q) {
            json_array_append_new(list, change(p));
        } else if (changed && json_is_true(json_object_get(p, "conditional")) !=
                                  json_is_true(json_object_get(q, "conditional"))) {
            json_t *c = change(p);
            json_object_set(c, "wasConditional", json_object_get(q, "conditional"));
            json_array_append_new(changed, c);
        }
    }
}

/* The diff of one secret, or NULL when nothing changed. */
static json_t *diff_one(const char *arn, const json_t *old, const json_t *new)
{
    json_t *gained = json_array(), *lost = json_array(), *changed = json_array();
    if (new) readers_not_in(new, old, gained, old ? changed : NULL);
    if (old) readers_not_in(old, new, lost, NULL);
    if (!json_array_size(gained) && !json_array_size(lost) && !json_array_size(changed)) {
        json_decref(gained);
        json_decref(lost);
        json_decref(changed);
        return NULL;
    }
    const json_t *any = new ? new : old;
    return json_pack("{s:s, s:O, s:s, s:o, s:o, s:o}", "secret", arn, "name",
                     json_object_get(json_object_get(any, "secret"), "name"), "state",
                     !old ? "created" : !new ? "deleted" : "changed", "gained", gained, "lost", lost,
                     "changed", changed);
}

static int by_string(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Every secret ARN of either side, sorted, or those --secret names (a
 * name or ARN; a name matches a secret of that name in either side). */
static int secret_list(const struct side *a, const struct side *b, const char *const *asked, size_t nasked,
                       json_t *out)
{
    const struct side *sides[2] = { a, b };
    json_t *seen = json_object();
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; i < sides[k]->snaps->n; i++) {
            const struct snapshot *s = &sides[k]->snaps->s[i];
            for (size_t j = 0; j < s->nsecrets; j++) {
                const char *arn = s->secrets[j].arn;
                const char *name = json_string_value(json_object_get(s->secrets[j].entry, "Name"));
                bool want = nasked == 0;
                for (size_t q = 0; !want && q < nasked; q++)
                    want = strcmp(asked[q], arn) == 0 || (name && strcmp(asked[q], name) == 0);
                if (want) json_object_set_new(seen, arn, json_true());
            }
        }
    for (size_t q = 0; q < nasked; q++) {
        bool found = false;
        const char *key;
        json_t *v;
        json_object_foreach(seen, key, v) {
            (void)v;
            const char *dash = strrchr(key, '-');
            const char *colon = strstr(key, ":secret:");
            if (strcmp(key, asked[q]) == 0 ||
                (colon && dash && (size_t)(dash - colon - 8) == strlen(asked[q]) &&
                 strncmp(colon + 8, asked[q], strlen(asked[q])) == 0))
                found = true;
        }
        if (!found) {
            fprintf(stderr, "tresor snapshot diff: --secret %s: neither snapshot has such a secret\n",
                    asked[q]);
            json_decref(seen);
            return 2;
        }
    }
    /* In ARN order, so the output is the same run to run. */
    size_t n = json_object_size(seen), k = 0;
    const char **v = calloc(n + 1, sizeof *v);
    const char *key;
    json_t *val;
    if (!v) {
        json_decref(seen);
        return die("memory") + 1;
    }
    json_object_foreach(seen, key, val) v[k++] = key;
    qsort(v, k, sizeof *v, by_string);
    for (size_t q = 0; q < k; q++) json_array_append_new(out, json_string(v[q]));
    free(v);
    json_decref(seen);
    return 0;
}

static void print_changes(const char *sign, const char *word, const json_t *list)
{
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c) {
        char who[128] = "";
        const char *arn = json_string_value(json_object_get(c, "principal"));
        /* An account no snapshot holds (arn:aws:iam::ACCOUNT:root): as
         * who-can-decrypt words it. */
        if (strcmp(json_string_value(json_object_get(c, "type")), "account") == 0 && strlen(arn) > 13)
            snprintf(who, sizeof who,  /* fits: 68 characters */
                     "account %.12s (not collected): anyone that account allows", arn + 13);
        printf("  %s %-7s %s (%s%s)\n", sign, word, who[0] ? who : arn,
               json_string_value(json_object_get(c, "access")),
               json_is_true(json_object_get(c, "conditional")) ? ", allowed only if" : "");
        size_t j;
        json_t *s;
        json_array_foreach(json_object_get(c, "statements"), j, s)
            printf("        %s\n", json_string_value(s));
    }
}

static void print_text(const json_t *diffs, size_t nsecrets, size_t gained, size_t lost)
{
    size_t i;
    json_t *d;
    json_array_foreach(diffs, i, d) {
        printf("%s (%s)\n", json_string_value(json_object_get(d, "secret")),
               json_string_value(json_object_get(d, "state")));
        print_changes("+", "gained", json_object_get(d, "gained"));
        print_changes("-", "lost", json_object_get(d, "lost"));
        size_t j;
        json_t *c;
        json_array_foreach(json_object_get(d, "changed"), j, c)
            printf("  ~ changed %s: now %s\n", json_string_value(json_object_get(c, "principal")),
                   json_is_true(json_object_get(c, "conditional")) ? "allowed only if (conditional)"
                                                                   : "allowed (unconditional)");
        printf("\n");
    }
    printf("%zu secret(s) compared: %zu principal(s) gained access, %zu lost it\n", nsecrets, gained, lost);
}

static json_t *sarif_result(const char *rule, const char *level, const json_t *d, const json_t *c)
{
    const char *who = json_string_value(json_object_get(c, "principal"));
    const char *arn = json_string_value(json_object_get(d, "secret"));
    char text[2048];
    snprintf(text, sizeof text, "%s %s the ability to decrypt %s%s", who,      /* cut: a message */
             strcmp(rule, RULE_GAINED) == 0 ? "gained" : "lost", arn,
             json_is_true(json_object_get(c, "conditional")) ? " (allowed only if its conditions hold)" : "");
    json_t *loc = json_pack("{s:[{s:O, s:s, s:s}]}", "logicalLocations", "name", json_object_get(d, "name"),
                            "fullyQualifiedName", arn, "kind", "resource");
    return json_pack("{s:s, s:s, s:{s:s}, s:[o], s:{s:O, s:O}}", "ruleId", rule, "level", level, "message",
                     "text", text, "locations", loc, "properties", "principal",
                     json_object_get(c, "principal"), "statements", json_object_get(c, "statements"));
}

static json_t *sarif(const json_t *diffs)
{
    json_t *results = json_array();
    size_t i;
    json_t *d;
    json_array_foreach(diffs, i, d) {
        size_t j;
        json_t *c;
        json_array_foreach(json_object_get(d, "gained"), j, c)
            json_array_append_new(results, sarif_result(RULE_GAINED, "error", d, c));
        json_array_foreach(json_object_get(d, "lost"), j, c)
            json_array_append_new(results, sarif_result(RULE_LOST, "note", d, c));
    }
    json_t *rules = json_pack(
        "[{s:s, s:s, s:{s:s}, s:{s:s}}, {s:s, s:s, s:{s:s}, s:{s:s}}]",
        "id", RULE_GAINED, "name", "DecryptAccessGained", "shortDescription", "text",
        "A principal gained the ability to decrypt a secret", "defaultConfiguration", "level", "error",
        "id", RULE_LOST, "name", "DecryptAccessLost", "shortDescription", "text",
        "A principal lost the ability to decrypt a secret", "defaultConfiguration", "level", "note");
    return json_pack("{s:s, s:s, s:[{s:{s:{s:s, s:o}}, s:o}]}", "$schema", SARIF_SCHEMA, "version",
                     "2.1.0", "runs", "tool", "driver", "name", "tresor", "rules", rules, "results", results);
}

/* The files of one side as the JSON output names them: the file itself
 * when there is one (as before --old and --new existed), else the list. */
static json_t *side_files(const char *const *files, size_t n)
{
    if (n == 1) return json_string(files[0]);
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) json_array_append_new(a, json_string(files[i]));
    return a;
}

int cmd_snapshot_diff(int argc, char **argv)
{
    const char *format = "text", *asked[MAX_SECRETS_ASKED];
    const char *old_files[MAX_SNAPSHOTS], *new_files[MAX_SNAPSHOTS];
    size_t nasked = 0, nold = 0, nnew = 0;
    struct cli_parser p;
    int c;
    tr_clock_init();
    cli_parser_init(&p, &diff_cmd, argc, argv);
    while ((c = cli_next(&p)) > 0) {
        if (c == 'f') format = optarg;
        if (c == 's') {
            if (nasked == MAX_SECRETS_ASKED)
                return cli_usage_error(NULL, &diff_cmd, "at most %d --secret", MAX_SECRETS_ASKED);
            asked[nasked++] = optarg;
        }
        if (c == 'o' || c == 'n') {
            size_t *k = c == 'o' ? &nold : &nnew;
            if (*k == MAX_SNAPSHOTS)
                return cli_usage_error(NULL, &diff_cmd, "at most %d --%s", MAX_SNAPSHOTS, c == 'o' ? "old" : "new");
            (c == 'o' ? old_files : new_files)[(*k)++] = optarg;
        }
    }
    if (c < 0) return cli_exit(c);
    bool json = strcmp(format, "json") == 0, sar = strcmp(format, "sarif") == 0;
    if (!json && !sar && strcmp(format, "text") != 0)
        return cli_usage_error(NULL, &diff_cmd, "--format must be text, json or sarif, not '%s'", format);
    if (nold || nnew) {
        if (argc - optind > 0)
            return cli_usage_error(NULL, &diff_cmd, "give OLD NEW or --old and --new, not both ('%s')",
                                   argv[optind]);
        if (!nold || !nnew)
            return cli_usage_error(NULL, &diff_cmd, "--%s is required with --%s", nold ? "new" : "old",
                                   nold ? "old" : "new");
    } else if (argc - optind != 2) {
        return cli_usage_error(NULL, &diff_cmd, argc - optind < 2 ? "two snapshots, OLD and NEW, are required"
                                                                  : "unexpected argument '%s'",
                               argv[optind + 2 < argc ? optind + 2 : 0]);
    } else {
        old_files[nold++] = argv[optind];
        new_files[nnew++] = argv[optind + 1];
    }
    struct side a, b;
    memset(&b, 0, sizeof b);
    json_t *secrets = json_array(), *diffs = json_array();
    size_t gained = 0, lost = 0;
    int rc = side_open(&a, old_files, nold);
    if (rc == 0) rc = side_open(&b, new_files, nnew);
    if (rc == 0) rc = secret_list(&a, &b, asked, nasked, secrets);
    size_t i;
    json_t *s;
    json_array_foreach(secrets, i, s) {
        if (rc) break;
        json_t *old = NULL, *new = NULL;
        const char *arn = json_string_value(s);
        if (tr_failed(side_answer(&a, arn, &old)) || tr_failed(side_answer(&b, arn, &new))) {
            rc = die("analysis") + 1;
        } else {
            json_t *d = diff_one(arn, old, new);
            if (d) {
                gained += json_array_size(json_object_get(d, "gained"));
                lost += json_array_size(json_object_get(d, "lost"));
                json_array_append_new(diffs, d);
            }
        }
        json_decref(old);
        json_decref(new);
    }
    if (rc == 0) {
        if (json || sar) {
            json_t *o = sar ? sarif(diffs)
                            : json_pack("{s:o, s:o, s:I, s:I, s:I, s:O}", "old", side_files(old_files, nold),
                                        "new", side_files(new_files, nnew),
                                        "compared", (json_int_t)json_array_size(secrets),
                                        "gained", (json_int_t)gained, "lost", (json_int_t)lost, "secrets",
                                        diffs);
            char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
            if (text) puts(text);
            free(text);
            json_decref(o);
        } else {
            print_text(diffs, json_array_size(secrets), gained, lost);
        }
        rc = gained > 0 ? 1 : 0;
    }
    json_decref(secrets);
    json_decref(diffs);
    side_close(&a);
    side_close(&b);
    return rc;
}
