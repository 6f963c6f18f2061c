/*
 * who_can.c -- `tresor who-can-decrypt SECRET`: every principal that can
 * obtain a secret's plaintext, and why (docs/AUTHORIZATION.md 7; output
 * schema in docs/WHO_CAN_DECRYPT.md).  Reads the store directly (the server
 * may be running) and decides with the server's own authorization code
 * through src/analyze/.
 */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "analyze/analyze.h"
#include "analyze/report_html.h"
#include "analyze/snapshot.h"
#include "cli/cli.h"
#include "cli/opts.h"
#include "core/array.h"
#include "core/json.h"
#include "crypto/hash.h"
#include "iam/authz.h"
#include "op/clock.h"

static const struct cli_opt who_opts[] = {
    { NULL, 0, "SECRET", NULL, NULL, "a secret name (in --account and --region) or ARN" },
    { "all", 'A', NULL, NULL, NULL, "every secret of the account and region instead, the graph built once" },
    { "format", 'f', "FORMAT", NULL, "text",
      "text, json (docs/WHO_CAN_DECRYPT.md), dot (Graphviz, one SECRET) or html (one self-contained "
      "page, filterable; no --explain or --diff)" },
    { "explain", 'e', "PRINCIPAL", NULL, NULL,
      "one principal (a user, role or root ARN): each step's decision, allowed or not; an OIDC "
      "provider ARN: its federated readers, each with its role's steps" },
    { "with-key", 'k', "KEY", NULL, NULL,
      "the answer as if SECRET were sealed under KEY (a key id, key ARN, alias name or "
      "alias ARN, in the secret's account and region), as update-secret --kms-key-id "
      "would make it" },
    { "diff", 'D', NULL, NULL, NULL, "with --with-key: who gains and who loses access" },
    { "account", 'a', "ID", NULL, NULL,
      "the account of a SECRET given by name, and of --all; by default the store's first" },
    CLI_OPT_REGION('g', "the region of a SECRET given by name, and of --all (with --snapshot: the "
                        "first snapshot's first region)"),
    { "threads", 'j', "N", NULL, "one per core",
      "with --all from --snapshot: answer on N worker processes (the output is one process's, "
      "byte for byte)" },
    CLI_OPTS_SNAPSHOT_OR_STORE('S', "answer from"),
    { 0 },
};

static const struct cli_cmd who_cmd = {
    "who-can-decrypt",
    "SECRET [--format text|json|dot|html] [--explain PRINCIPAL] [--with-key KEY [--diff]] "
    "[--account ID] [--region REGION] [--data-dir DIR] [--store URL | --snapshot FILE ...]\n"
    "--all [--format text|json|html] [--account ID] [--region REGION] [--data-dir DIR] "
    "[--store URL | --snapshot FILE ... [--threads N]]",
    "Every principal that can obtain SECRET's plaintext -- GetSecretValue on the\n"
    "secret and kms:Decrypt on its key as Secrets Manager asks it -- directly or\n"
    "through sts:AssumeRole, with the statements that allow each step; answers\n"
    "that hang on request-time conditions are \"allowed only if\"; then who could\n"
    "gain access by changing permissions they hold.  Reads the store of DIR (the\n"
    "server may be running) and decides with the server's own authorization code.\n",
    who_opts, NULL, NULL,
};

static const struct cli_opt what_opts[] = {
    { NULL, 0, "PRINCIPAL", NULL, NULL, "a user, role or root ARN of the store" },
    { "format", 'f', "FORMAT", NULL, "text", "text, json or html (one self-contained page)" },
    CLI_OPTS_SNAPSHOT_OR_STORE('S', "answer from"),
    { 0 },
};

static const struct cli_cmd what_cmd = {
    "what-can-decrypt", "PRINCIPAL [--format text|json|html] [--data-dir DIR] [--store URL | --snapshot FILE ...]",
    "Every secret of the store, in every account and region, that PRINCIPAL can\n"
    "read, with the same evidence as who-can-decrypt.  Reads the store of DIR\n"
    "(the server may be running).  PRINCIPAL may be an OpenID Connect provider's\n"
    "ARN: the secrets its tokens can read through the roles that trust it, each\n"
    "with the role, trust statement and conditions (text or json).\n",
    what_opts, NULL, NULL,
};

/* Answering from snapshots: the files, loaded, with their gaps. */
static struct snapset *g_snaps;     /* NULL: answering from the store */
/* --threads: the workers of --all (answering from snapshots). */
static long g_threads = 1;

/* The snapshots' gaps, numbered in order (every gap of the first
 * snapshot, then of the second, ...). */
static size_t gaps_count(void)
{
    size_t n = 0;
    for (size_t i = 0; g_snaps && i < g_snaps->n; i++) n += g_snaps->s[i].ngaps;
    return n;
}

/* Mark in seen[] (gaps_count() flags) the gaps that touch secret t (its
 * ARN and name, its key's ARN and id). */
static void gaps_mark(const struct az_target *t, unsigned char *seen)
{
    const char *names[4] = { t->s.arn, t->s.name, t->have_key ? t->key.arn : NULL,
                             t->have_key ? t->key.key_id : NULL };
    for (size_t i = 0, k = 0; g_snaps && i < g_snaps->n; i++)
        for (size_t j = 0; j < g_snaps->s[i].ngaps; j++, k++)
            if (snapshot_gap_touches(&g_snaps->s[i].gaps[j], names, 4)) seen[k] = 1;
}

/* The marked gaps as JSON strings; NULL when not answering from
 * snapshots. */
static json_t *gaps_marked(const unsigned char *seen)
{
    if (!g_snaps) return NULL;
    json_t *a = json_array();
    for (size_t i = 0, k = 0; a && i < g_snaps->n; i++)
        for (size_t j = 0; j < g_snaps->s[i].ngaps; j++, k++)
            if (seen[k]) json_array_append_new(a, json_string(g_snaps->s[i].gaps[j].what));
    return a;
}

/* The gaps that touch secret t, as JSON strings; NULL when not
 * answering from snapshots. */
static json_t *gaps_json(const struct az_target *t)
{
    if (!g_snaps) return NULL;
    unsigned char *seen = calloc(gaps_count() + 1, 1);
    if (!seen) return json_array();     /* out of memory: json_array fails too, almost surely */
    gaps_mark(t, seen);
    json_t *a = gaps_marked(seen);
    free(seen);
    return a;
}

/* Text: the gaps under the answer, saying it may be incomplete. */
static void print_gaps(const struct az_target *t)
{
    json_t *a = gaps_json(t);
    size_t i;
    json_t *v;
    if (json_array_size(a) > 0)
        printf("\nGAPS: the snapshot lacks what this answer may depend on; it may be incomplete:\n");
    json_array_foreach(a, i, v) printf("  %s\n", json_string_value(v));
    json_decref(a);
}

/* JSON: "gaps" in the answer object o, when answering from snapshots. */
static void add_gaps(json_t *o, const struct az_target *t)
{
    json_t *a = gaps_json(t);
    if (a && o) json_object_set_new(o, "gaps", a);
    else json_decref(a);
}

/* The principal graph over every account the store holds (lazy: edges
 * built on demand), marked uncollected when answering from snapshots.
 * *ids, *nids: those accounts (the caller frees *ids, also on failure).
 * Returns 0, or the exit status of a failure: 1 after saying what failed
 * (die), 2 when memory ran out. */
static int graph_of_store(const struct server_env *env, char (**ids)[ACCOUNT_ID_LEN + 1], size_t *nids,
                          struct az_graph *g)
{
    if (tr_failed(az_accounts(env->st, NULL, 0, ids, nids))) return die("accounts");
    const char **accts = calloc(*nids + 1, sizeof *accts);
    if (!accts) return 2;
    for (size_t i = 0; i < *nids; i++) accts[i] = (*ids)[i];
    tr_result r = az_graph_build_opts(env, accts, *nids, true, g);
    free(accts);
    if (tr_failed(r)) return die("principals");
    g->uncollected = g_snaps != NULL;
    return 0;
}

/* what-can-decrypt PRINCIPAL: every secret of every account, decided
 * for the one principal (the graph built once).  Streamed: one secret is
 * loaded, decided and printed at a time, with one access array for the
 * graph reused, so memory follows the graph and the answer (text keeps
 * the readable secrets' paths to print after the table), not principals
 * times secrets. */
/* An OpenID Connect provider's ARN, arn:PARTITION:iam::ACCOUNT:oidc-provider/...:
 * not a principal of its own -- its tokens read through the roles that
 * trust it -- so what-can-decrypt answers it with what_can_provider. */
static bool oidc_provider_arn(const char *s)
{
    const char *iam = strncmp(s, "arn:", 4) == 0 ? strstr(s + 4, ":iam::") : NULL;
    const char *kind = iam ? strchr(iam + 6, ':') : NULL;
    return kind && (size_t)(kind - (iam + 6)) == ACCOUNT_ID_LEN && strncmp(kind + 1, "oidc-provider/", 14) == 0;
}

/* One secret of what_can_provider: the federated readers of `provider`
 * among ans's -- text: the secret, then one line each (and the note of a
 * provider that does not exist); JSON: {"secret", "federatedReaders"}
 * appended to out.  *count counts the secrets with any. */
static TR_RESULT provider_one(const struct az_graph *g, const struct az_target *t,
                              const struct az_answer *ans, const char *provider, enum az_format f,
                              json_t *out, size_t *count)
{
    struct az_fed *v = NULL;
    size_t n = 0, shown = 0;
    char line[2048];
    GUARD(az_federated(g, ans, &v, &n));
    json_t *arr = f == AZ_JSON ? json_array() : NULL;
    tr_result r = f == AZ_JSON && !arr ? tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL) : TR_OK;
    for (size_t i = 0; i < n && tr_ok(r); i++) {
        if (strcmp(v[i].provider, provider) != 0) continue;
        if (shown++ == 0 && f != AZ_JSON) printf("%ssecret: %s\n", *count ? "\n" : "", t->s.arn);
        if (f == AZ_JSON) {
            if (json_array_append_new(arr, az_federated_json(g, &v[i])) != 0)
                r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
            continue;
        }
        az_federated_words(g, &v[i], line, sizeof line);
        printf("  %s\n", line);
        if (!v[i].provider_exists)
            printf("  (provider %s does not exist: no token is accepted until it is created)\n", provider);
    }
    if (tr_ok(r) && shown && f == AZ_JSON) {
        json_t *o = json_pack("{s:s, s:O}", "secret", t->s.arn, "federatedReaders", arr);
        if (!o || json_array_append_new(out, o) != 0) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    if (shown) (*count)++;
    json_decref(arr);
    az_federated_free(v, n);
    return r;
}

/* Every secret of the accounts ids[0..nids), decided on graph g (acc,
 * all: sized for it) and handed to `one` with its answers.  0, or the
 * exit status after saying what failed. */
typedef TR_RESULT (*secret_fn)(void *ctx, const struct az_target *t);

static int each_secret(const struct server_env *env, char (*ids)[ACCOUNT_ID_LEN + 1], size_t nids,
                       struct az_graph *g, struct az_access *acc, struct az_answer *all,
                       secret_fn one, void *ctx)
{
    store_t st = env->st;
    for (size_t a = 0; a < nids; a++) {
        struct ent_rec *v = NULL;
        size_t nv = 0;
        if (tr_failed(st[0]->ent_list(st, "secret", ids[a], NULL, NULL, 100000, &v, &nv)))
            return die("secrets");
        for (size_t i = 0; i < nv; i++) {
            struct az_target t;
            if (tr_failed(az_target_from_ent(env, &v[i], &t))) {
                ent_list_free(v, nv);
                return die("secret");
            }
            tr_result r = az_who_can(env, g, &t, true, acc, all);
            bool analysed = tr_ok(r);
            if (analysed) r = one(ctx, &t);
            az_target_free(&t);
            if (tr_failed(r)) {
                ent_list_free(v, nv);
                return die(analysed ? "writing the answer" : "analysis");
            }
        }
        ent_list_free(v, nv);
    }
    return 0;
}

/* what_can_provider's per-secret step. */
struct provider_run {
    const struct az_graph *g;
    const struct az_answer *all;
    const char *provider;
    enum az_format f;
    json_t *secrets;
    size_t count;
};

static TR_RESULT provider_step(void *ctx, const struct az_target *t)
{
    struct provider_run *p = ctx;
    return provider_one(p->g, t, p->all, p->provider, p->f, p->secrets, &p->count);
}

/* what_can's per-secret step: the principal's answer, and the snapshot
 * gaps that touch the secret. */
struct principal_run {
    const struct az_graph *g;
    const struct az_access *acc;
    const struct az_answer *mine;
    enum az_format f;
    FILE *pf;
    unsigned char *seen;
    size_t count;
};

static TR_RESULT principal_step(void *ctx, const struct az_target *t)
{
    struct principal_run *p = ctx;
    tr_result r = az_report_principal_one(p->g, t, p->acc, p->mine, p->f, p->pf, &p->count);
    gaps_mark(t, p->seen);
    return r;
}

/* what-can-decrypt PROVIDER_ARN: every secret of the store that tokens of
 * the provider can read, the union over the roles whose trust policy
 * admits them (az_federated: each with the statement and its conditions,
 * as who-can-decrypt lists federated readers).  Text: a head line, then
 * per secret its readers; JSON: {"provider", "secrets": [{"secret",
 * "federatedReaders"}]}.  The html page is for principals: refused. */
static int what_can_provider(const struct server_env *env, const char *provider, enum az_format f)
{
    char (*ids)[ACCOUNT_ID_LEN + 1] = NULL;
    size_t nids = 0, count = 0;
    struct az_graph g = { 0 };
    struct az_access *acc = NULL;
    struct az_answer *all = NULL;
    json_t *secrets = NULL;
    int rc = 2;

    if (f != AZ_TEXT && f != AZ_JSON) {
        fprintf(stderr, "tresor what-can-decrypt: an OpenID Connect provider's answer is text or json\n");
        return 2;
    }
    rc = graph_of_store(env, &ids, &nids, &g);
    if (rc != 0) goto out;
    acc = calloc(g.nn + 1, sizeof *acc);
    all = calloc(g.nn + 1, sizeof *all);
    secrets = json_array();
    if (!acc || !all || !secrets) {
        rc = die("memory");
        goto out;
    }
    if (f == AZ_TEXT) printf("secrets that tokens of %s can read, through the roles that trust it:\n\n", provider);
    struct provider_run run = { .g = &g, .all = all, .provider = provider, .f = f, .secrets = secrets };
    rc = each_secret(env, ids, nids, &g, acc, all, provider_step, &run);
    if (rc != 0) goto out;
    count = run.count;
    if (f == AZ_JSON) {
        json_t *o = json_pack("{s:s, s:O}", "provider", provider, "secrets", secrets);
        char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        json_decref(o);
        if (!text) {
            rc = die("writing the answer");
            goto out;
        }
        puts(text);
        free(text);
    } else if (!count) {
        printf("(none)\n");
    }
    rc = 0;
out:
    json_decref(secrets);
    free(acc);
    free(all);
    free(ids);
    az_graph_free(&g);
    return rc;
}

static int what_can(const struct server_env *env, const char *principal, enum az_format f)
{
    char (*ids)[ACCOUNT_ID_LEN + 1] = NULL;
    size_t nids = 0, count = 0, npaths = 0;
    struct az_graph g = { 0 };
    struct az_access *acc = NULL;
    struct az_answer *all = NULL;
    char *paths = NULL;
    FILE *pf = NULL;
    json_t *gaps = NULL;
    int rc = 2;
    /* Answering from snapshots: the gaps that touch any secret decided
     * (one may hide a reader), listed once under the answer. */
    if (oidc_provider_arn(principal)) return what_can_provider(env, principal, f);
    unsigned char *seen = calloc(gaps_count() + 1, 1);
    if (!seen) return die("memory");

    rc = graph_of_store(env, &ids, &nids, &g);
    if (rc != 0) goto out;
    rc = 2;
    size_t node = az_graph_find(&g, principal);
    if (node == SIZE_MAX) {
        fprintf(stderr, "tresor what-can-decrypt: %s is not a user, role or root ARN of the "
                        "store\n", principal);
        goto out;
    }
    acc = calloc(g.nn + 1, sizeof *acc);
    all = calloc(g.nn + 1, sizeof *all);
    if (f == AZ_TEXT) pf = open_memstream(&paths, &npaths);
    if (!acc || !all || (f == AZ_TEXT && !pf)) goto out;
    if (tr_failed(az_report_principal_begin(&g, node, f))) {
        rc = die("writing the answer");
        goto out;
    }
    struct principal_run run = { .g = &g, .acc = acc, .mine = &all[node], .f = f, .pf = pf, .seen = seen };
    rc = each_secret(env, ids, nids, &g, acc, all, principal_step, &run);
    if (rc != 0) goto out;
    rc = 2;
    count = run.count;
    if (pf && fclose(pf) != 0) {
        pf = NULL;
        goto out;
    }
    pf = NULL;
    gaps = gaps_marked(seen);
    if (tr_failed(az_report_principal_end(count, f, paths, npaths, gaps))) {
        rc = die("writing the answer");
        goto out;
    }
    rc = 0;
out:
    /* (A failure mid-way leaves the JSON document open: not a whole answer.) */
    if (pf) fclose(pf);
    free(paths);
    free(acc);
    free(all);
    free(ids);
    free(seen);
    json_decref(gaps);
    az_graph_free(&g);
    return rc;
}

/* --all: every secret of `account` in `region`, the graph built once
 * (accounts named by a secret's policies that the store does not hold
 * join it as foreign principals). */
/* --all's run over the secrets v[0..nv) with graph g: one answer after
 * another, printed as --format f prints each (the separator before all
 * but the first). */
struct all_run {
    const struct server_env *env;
    struct az_graph *g;
    const struct ent_rec *v;
    size_t nv;
    enum az_format f;
    struct az_access *acc;      /* sized for the graph, cap nodes */
    struct az_answer *ans;
    size_t cap;
    struct buf out;             /* JSON: one secret's answer, reused (az_report_json_buf) */
};

/* The answer of secret i, printed.  0, or the exit status after saying
 * what failed. */
/* The accounts t's policies name that g does not hold yet, added as
 * foreign nodes, in the order they are named. */
static TR_RESULT add_named(struct az_graph *g, const struct az_target *t)
{
    for (size_t k = 0; k < t->nnamed; k++)
        if (strcmp(t->named[k], "*") != 0 && az_graph_find(g, t->named[k]) == SIZE_MAX) {
            char root[64];
            /* fits: a named account is 12 digits (who_can.c's on_named) */
            snprintf(root, sizeof root, "arn:aws:iam::%s:root", t->named[k]);
            if (az_graph_find(g, root) == SIZE_MAX) GUARD(az_graph_add_foreign(g, t->named[k]));
        }
    return TR_OK;
}

/* One secret's JSON answer at most: every principal of the store with a
 * path of AZ_MAX_HOPS steps (a few KB each) stays far below it. */
#define ALL_OUT_MAX (1u << 30)

static int all_one(struct all_run *run, size_t i)
{
    const struct server_env *env = run->env;
    struct az_graph *g = run->g;
    enum az_format f = run->f;
    struct az_target t;
    if (tr_failed(az_target_from_ent(env, &run->v[i], &t))) return die("secret");
    tr_result r = add_named(g, &t);
    if (tr_ok(r) && g->nn > run->cap) {
        free(run->acc);
        free(run->ans);
        run->cap = g->nn + 16;
        run->acc = calloc(run->cap, sizeof *run->acc);
        run->ans = calloc(run->cap, sizeof *run->ans);
        if (!run->acc || !run->ans) {
            run->cap = 0;
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        }
    }
    if (tr_ok(r)) r = az_who_can(env, g, &t, true, run->acc, run->ans);
    bool analysed = tr_ok(r);
    if (tr_ok(r) && f == AZ_JSON) {
        /* Written straight, not through a tree: the bytes json_dumps
         * (JSON_COMPACT | JSON_PRESERVE_ORDER) of az_report_json plus
         * add_gaps's member would print. */
        json_t *gaps = gaps_json(&t);
        buf_truncate(&run->out, 0);
        r = buf_append(&run->out, ",\n", 2);
        if (tr_ok(r)) r = az_report_json_buf(g, &t, run->acc, run->ans, gaps, &run->out);
        json_decref(gaps);
        size_t skip = i ? 0 : 1;        /* the first answer has no "," before it */
        if (tr_ok(r) && fwrite(run->out.data + skip, 1, run->out.len - skip, stdout) != run->out.len - skip)
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    if (tr_ok(r) && f == AZ_HTML) {
        json_t *o = az_report_json(g, &t, run->acc, run->ans);
        add_gaps(o, &t);
        r = o ? az_html_answer(stdout, o) : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        json_decref(o);
    }
    if (tr_ok(r) && f == AZ_TEXT) {
        if (i) printf("\n----\n\n");
        az_report(g, &t, run->acc, run->ans, f);
        print_gaps(&t);
    }
    az_target_free(&t);
    if (tr_failed(r)) return die(analysed ? "writing the answer" : "analysis");
    return 0;
}

/* Secrets from, from + step, ... below to... in batches of ALL_BATCH:
 * every step-th batch, starting with batch from / ALL_BATCH. */
#define ALL_BATCH 16
static int all_range(struct all_run *run, size_t from, size_t to, size_t step)
{
    for (size_t b = from; b < to; b += step * ALL_BATCH) {
        for (size_t i = b; i < b + ALL_BATCH && i < to; i++) {
            int rc = all_one(run, i);
            if (rc != 0) return rc;
        }
        if (step > 1) putchar('\0');   /* the batch's end, for all_parallel */
    }
    return 0;
}

/* One worker's output as it arrives, until its turn to be printed. */
struct wbuf {
    int fd;
    pid_t pid;
    char *d;
    size_t off, n, cap;         /* d[off, n): read, not printed yet */
    bool eof;
};

/* Read what worker w has written (up to 1 MiB).  false: a read failed.
 * What was printed is dropped here, when room is wanted, not after each
 * batch: a worker ahead of its turn leaves many batches in d. */
static bool wbuf_fill(struct wbuf *w)
{
    if (w->off && w->cap - w->n < (1 << 20)) {
        memmove(w->d, w->d + w->off, w->n - w->off);
        w->n -= w->off;
        w->off = 0;
    }
    if (w->cap - w->n < (1 << 20)) {
        size_t ncap = w->cap * 2 + (2 << 20);
        char *d = realloc(w->d, ncap);
        if (!d) return false;
        w->d = d;
        w->cap = ncap;
    }
    ssize_t got = read(w->fd, w->d + w->n, 1 << 20);
    if (got < 0) return errno == EINTR;
    if (got == 0) w->eof = true;
    w->n += (size_t)got;
    return true;
}

/* --all on nworkers processes (--threads): the graph is built, so each
 * worker forked from here holds it as it is (copy on write: the lazy
 * edges and the KMS memo each worker fills are its own).  Worker k
 * answers batches k, k + nworkers, ... of ALL_BATCH secrets each, writing
 * each batch's output then a NUL (which no output holds) to its pipe;
 * this process prints the batches in order as they arrive: one
 * process's output, byte for byte (among equally short paths the one
 * shown follows the order of the edges out of a node, graph.c add_edge,
 * not the secrets answered before).  Only answering from snapshots (a
 * memory or prepared store: no file lock, no server connection to share
 * across the fork). */
#define MAX_WORKERS 64
#define READ_AHEAD (32u << 20)  /* bytes held of a worker ahead of its turn */
static int all_parallel(struct all_run *run, long nworkers)
{
    struct wbuf w[MAX_WORKERS];
    size_t k, nw = nworkers > MAX_WORKERS ? MAX_WORKERS : (size_t)nworkers;
    size_t nb = (run->nv + ALL_BATCH - 1) / ALL_BATCH, b = 0;
    int rc = 0;
    if (nw > nb) nw = nb;
    memset(w, 0, sizeof w);
    /* The nodes of the accounts the secrets name, added as one process
     * adds them, secret after secret: the node order (which orders the
     * answers' principals) is the serial run's in every worker. */
    for (size_t i = 0; i < run->nv; i++) {
        struct az_target t;
        if (tr_failed(az_target_from_ent(run->env, &run->v[i], &t))) return die("secret");
        tr_result r = add_named(run->g, &t);
        az_target_free(&t);
        if (tr_failed(r)) return die("analysis");
    }
    fflush(stdout);
    for (k = 0; k < nw; k++) {
        int p[2];
        if (pipe(p) != 0) break;
        pid_t pid = fork();
        if (pid == 0) {
            for (size_t j = 0; j < k; j++) close(w[j].fd);
            close(p[0]);
            if (dup2(p[1], STDOUT_FILENO) < 0) _exit(2);
            close(p[1]);
            int crc = all_range(run, k * ALL_BATCH, run->nv, nw);
            if (fflush(stdout) != 0 && crc == 0) crc = 1;
            _exit(crc);
        }
        close(p[1]);
        if (pid < 0) {
            close(p[0]);
            break;
        }
        w[k] = (struct wbuf){ .fd = p[0], .pid = pid };
    }
    if (k < nw) {
        fprintf(stderr, "tresor: --threads: cannot start worker %zu: %s\n", k + 1, strerror(errno));
        rc = 2;
    }
    while (rc == 0 && b < nb) {
        struct wbuf *cur = &w[b % nw];
        char *at = cur->d + cur->off;
        size_t have = cur->n - cur->off;
        char *z = have ? memchr(at, '\0', have) : NULL;
        size_t upto = z ? (size_t)(z - at) : have, used = upto + (z != NULL);
        if (upto && fwrite(at, 1, upto, stdout) != upto) rc = 1;
        cur->off += used;
        if (cur->off == cur->n) cur->off = cur->n = 0;
        if (z) {
            b++;
            continue;
        }
        if (cur->eof) {
            rc = 2;             /* the worker stopped early: it said why */
            break;
        }
        /* A worker ahead of its turn is read up to READ_AHEAD, then left
         * to wait on its pipe: unbounded, the parent held hundreds of MB
         * once the workers outran the reader of the output. */
        struct pollfd pf[MAX_WORKERS];
        for (k = 0; k < nw; k++) {
            bool full = k != b % nw && w[k].n - w[k].off >= READ_AHEAD;
            pf[k] = (struct pollfd){ .fd = w[k].eof || full ? -1 : w[k].fd, .events = POLLIN };
        }
        if (poll(pf, nw, -1) < 0 && errno != EINTR) rc = 2;
        for (k = 0; rc == 0 && k < nw; k++)
            if (pf[k].revents && !wbuf_fill(&w[k])) rc = 2;
    }
    for (k = 0; k < nw; k++) {
        int status = 0;
        if (!w[k].pid) continue;
        close(w[k].fd);
        if (rc != 0) kill(w[k].pid, SIGTERM);
        if (waitpid(w[k].pid, &status, 0) == w[k].pid && rc == 0 && status != 0)
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : 2;
        free(w[k].d);
    }
    return rc;
}

static int all_secrets(const struct server_env *env, const char *account, const char *region,
                       enum az_format f)
{
    store_t st = env->st;
    char (*ids)[ACCOUNT_ID_LEN + 1] = NULL;
    size_t nids = 0, nv = 0;
    struct ent_rec *v = NULL;
    struct az_graph g = { 0 };
    char prefix[80];
    int rc = 2;

    if (tr_failed(str_format(prefix, sizeof prefix, "--region", "/%s/", region)) ||
        tr_failed(st[0]->ent_list(st, "secret", account, prefix, NULL, 100000, &v, &nv))) {
        rc = die("secrets");
        goto out;
    }
    rc = graph_of_store(env, &ids, &nids, &g);
    if (rc != 0) goto out;
    /* JSON is streamed, one compact object per secret: the answers of ten
     * thousand secrets are far too big to hold as one document.  So is the
     * page: one data block per secret. */
    if (f == AZ_HTML) {
        json_t *m = json_pack("{s:s, s:s, s:s}", "view", "who-can-decrypt", "account", account,
                              "region", region);
        tr_result r = m ? az_html_begin(stdout, m) : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        json_decref(m);
        if (tr_failed(r)) { rc = die("writing the answer"); goto out; }
    }
    if (f == AZ_JSON) {
        json_t *acct = json_string(account), *reg = json_string(region);
        char *a = acct ? json_dumps(acct, JSON_ENCODE_ANY) : NULL;
        char *rg = reg ? json_dumps(reg, JSON_ENCODE_ANY) : NULL;
        printf("{\"account\": %s, \"region\": %s, \"secrets\": [", a ? a : "null", rg ? rg : "null");
        free(a);
        free(rg);
        json_decref(acct);
        json_decref(reg);
    }
    struct all_run run = { .env = env, .g = &g, .v = v, .nv = nv, .f = f, .out = BUF_INIT(ALL_OUT_MAX) };
    rc = g_threads > 1 && g_snaps && nv > ALL_BATCH ? all_parallel(&run, g_threads) : all_range(&run, 0, nv, 1);
    free(run.acc);
    free(run.ans);
    buf_free(&run.out);
    if (rc != 0) goto out;
    if (f == AZ_HTML && tr_failed(az_html_end(stdout))) { rc = die("writing the answer"); goto out; }
    if (f == AZ_JSON) printf("]}\n");
    else if (f == AZ_TEXT && nv == 0) printf("no secrets in account %s, region %s\n", account, region);
    rc = 0;
out:
    ent_list_free(v, nv);
    free(ids);
    az_graph_free(&g);
    return rc;
}

/* --with-key KEY names no key: KMS's message ("Alias arn:... is not
 * found.", "Key '...' does not exist", "Invalid keyId '...'"), and exit
 * status 2, as for any input that names nothing. */
static int die_with_key(const char *key)
{
    char what[600];
    snprintf(what, sizeof what, "--with-key %s", key);     /* cut: an error message for people */
    (void)die(what);
    return 2;
}

/* --with-key KEY --diff: the answer for the secret as if sealed under KEY,
 * against `ans` (the answer as it is), over the same graph. */
/* --explain PROVIDER_ARN (an OpenID Connect provider): its federated
 * readers of the secret, each followed (text) by its role's own
 * explanation -- the path after the token exchange; JSON: the readers
 * (as federatedReaders lists them).  Exit status 0; 2 when none. */
static int explain_provider(const struct az_graph *g, const struct az_target *t,
                            const struct az_access *acc, const struct az_answer *ans,
                            const char *provider, enum az_format f)
{
    struct az_fed *v = NULL;
    size_t n = 0, shown = 0;
    char line[2048];
    if (tr_failed(az_federated(g, ans, &v, &n))) return die("federated readers");
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i].provider, provider) != 0) continue;
        shown++;
        if (f == AZ_JSON) {
            json_array_append_new(arr, az_federated_json(g, &v[i]));
            continue;
        }
        az_federated_words(g, &v[i], line, sizeof line);
        printf("%s%s\n", shown > 1 ? "\n" : "", line);
        if (!v[i].provider_exists)
            printf("(provider %s does not exist: no token is accepted until it is created)\n", provider);
        printf("then, as a session of the role:\n");
        az_explain(g, t, acc, ans, v[i].role, f);
    }
    if (f == AZ_JSON && shown) {
        json_t *o = json_pack("{s:s, s:s, s:o}", "secret", t->s.arn, "provider", provider,
                              "federatedReaders", arr);
        char *s = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        if (s) puts(s);
        free(s);
        json_decref(o);
    } else {
        json_decref(arr);
    }
    az_federated_free(v, n);
    if (!shown)
        fprintf(stderr, "tresor who-can-decrypt: no role that can read %s trusts tokens of %s\n",
                t->s.arn, provider);
    return shown ? 0 : 2;
}

static int diff_with_key(const struct server_env *env, struct az_graph *g,
                         const struct az_target *t, const struct az_answer *ans,
                         const char *secret, const char *account, const char *region,
                         const char *key, enum az_format f)
{
    struct az_target t2;
    struct az_access *acc2 = calloc(g->nn + 1, sizeof *acc2);
    struct az_answer *ans2 = calloc(g->nn + 1, sizeof *ans2);
    bool loaded = false;
    int rc = 2;

    if (!acc2 || !ans2) goto out;
    if (tr_failed(az_target_load(env, secret, account, region, &t2))) { rc = die(secret); goto out; }
    loaded = true;
    if (tr_failed(az_target_with_key(env, &t2, key))) { rc = die_with_key(key); goto out; }
    if (tr_failed(az_who_can(env, g, &t2, true, acc2, ans2))) { rc = die("analysis"); goto out; }
    az_report_diff(g, t, ans, &t2, ans2, f);
    rc = 0;
out:
    if (loaded) az_target_free(&t2);
    free(acc2);
    free(ans2);
    return rc;
}

int cmd_who_can(int argc, char **argv)
{
    bool what = strcmp(argv[0], "what-can-decrypt") == 0;
    const struct cli_cmd *cmd = what ? &what_cmd : &who_cmd;
    tr_clock_init();
    const char *data_dir = env_or(CLI_DATA_DIR_ENV, CLI_DATA_DIR_DEFAULT);
    const char *region = env_or(CLI_REGION_ENV, CLI_REGION_DEFAULT);
    const char *account = NULL, *format = "text", *explain = NULL, *secret = NULL;
    const char *region_env = getenv(CLI_REGION_ENV);
    bool all = false, diff = false, region_given = region_env && *region_env;
    const char *with_key = NULL;
    const char *snap_files[MAX_SNAPSHOTS];
    size_t nsnap = 0;
    const char *store_arg = env_or(CLI_STORE_ENV, NULL), *store = NULL;
    long threads = 0;      /* not given: one per core */
    struct cli_parser p;
    int c;
    cli_parser_init(&p, cmd, argc, argv);
    while ((c = cli_next(&p)) > 0) {
        switch (c) {
        case 'a': account = optarg; break;
        case 'g': region = optarg; region_given = true; break;
        case 'd': data_dir = optarg; break;
        case 'f': format = optarg; break;
        case 'e': explain = optarg; break;
        case 'A': all = true; break;
        case 'k': with_key = optarg; break;
        case 'D': diff = true; break;
        case 'B': store_arg = optarg; break;
        case 'j': {
            char *end = NULL;
            errno = 0;
            long n = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || n < 1 || n > MAX_WORKERS)
                return cli_usage_error(NULL, cmd, "--threads must be a number from 1 to %d, not '%s'", MAX_WORKERS,
                                       optarg);
            threads = n;
            break;
        }
        case 'S':
            if (nsnap == MAX_SNAPSHOTS)
                return cli_usage_error(NULL, cmd, "at most %d --snapshot files", MAX_SNAPSHOTS);
            snap_files[nsnap++] = optarg;
            break;
        }
    }
    if (c < 0) return cli_exit(c);
    bool dot = !what && strcmp(format, "dot") == 0, html = strcmp(format, "html") == 0;
    int nargs = argc - optind;
    if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0 && !dot && !html)
        return cli_usage_error(NULL, cmd, "--format must be text, json%s or html, not '%s'",
                               what ? "" : ", dot", format);
    if (all && nargs > 0) return cli_usage_error(NULL, cmd, "--all takes no SECRET, not '%s'", argv[optind]);
    if (!all && nargs == 0)
        return cli_usage_error(NULL, cmd, what ? "missing PRINCIPAL (a user, role or root ARN)"
                                               : "missing SECRET (a secret name or ARN), or --all");
    if (nargs > 1) return cli_usage_error(NULL, cmd, "unexpected argument '%s'", argv[optind + 1]);
    if (all && (explain || with_key))
        return cli_usage_error(NULL, cmd, "%s needs one SECRET, not --all", explain ? "--explain" : "--with-key");
    if (dot && (all || explain))
        return cli_usage_error(NULL, cmd, "--format dot draws one SECRET, not with %s",
                               all ? "--all" : "--explain");
    if (diff && !with_key) return cli_usage_error(NULL, cmd, "--diff needs --with-key");
    if (diff && (explain || dot))
        return cli_usage_error(NULL, cmd, "--diff does not combine with %s", explain ? "--explain" : "--format dot");
    if (html && (explain || diff))
        return cli_usage_error(NULL, cmd, "--format html shows the readers; not with %s",
                               explain ? "--explain" : "--diff");
    secret = all ? NULL : argv[optind];
    if (nsnap > 0 && store_arg && *store_arg && strcmp(store_arg, env_or(CLI_STORE_ENV, "")) != 0)
        return cli_usage_error(NULL, cmd, "--snapshot answers from snapshots, not with --store");
    if (nsnap == 0 && cli_store_arg(cmd, store_arg, &store)) return 2;

    struct data_dir dd = { 0 };
    struct snapset *snaps = NULL;
    if (nsnap > 0) {
        /* Snapshots hold no secret: their JSON is freed unwiped. */
        json_use_plain_allocator();
        if (cli_open_snapshots(snap_files, nsnap, what || all ? NULL : secret, &dd, &snaps)) return 2;
    } else if (open_data_dir(data_dir, store, false, &dd)) {
        return 2;
    }
    g_snaps = snaps;
    if (threads < 1) {
        long nproc = sysconf(_SC_NPROCESSORS_ONLN);
        threads = nproc < 1 ? 1 : nproc > MAX_WORKERS ? MAX_WORKERS : nproc;
    }
    g_threads = threads;
    /* From snapshots, the region of a SECRET given by name and of --all is
     * by default the first one the first snapshot read. */
    if (snaps && !region_given && snaps->s[0].nregions > 0) region = snaps->s[0].regions[0];

    int rc = 2;
    store_t st = dd.st;
    struct server_env env = { .st = st, .kr = dd.kr, .default_region = region,
                              .orgs = cli_snapshot_orgs(snaps) };
    /* One snapshot for the whole answer (the server may be writing). */
    bool snap = st[0]->read_begin && tr_ok(st[0]->read_begin(st));
    struct az_target t;
    struct az_graph g = { 0 };
    struct az_access *acc = NULL;
    struct az_answer *ans = NULL;
    struct account_rec first;
    enum az_format f = strcmp(format, "json") == 0 ? AZ_JSON : dot ? AZ_DOT : html ? AZ_HTML : AZ_TEXT;
    bool have_target = false;

    if (what) {
        rc = what_can(&env, secret, f);
        goto out;
    }
    if (!account) {
        if (tr_failed(st[0]->account_first(st, &first))) { rc = die("no account"); goto out; }
        account = first.id;
    }
    if (all) {
        rc = all_secrets(&env, account, region, f);
        goto out;
    }
    if (tr_failed(az_target_load(&env, secret, account, region, &t))) { rc = die(secret); goto out; }
    have_target = true;
    if (with_key && !diff && tr_failed(az_target_with_key(&env, &t, with_key))) {
        rc = die_with_key(with_key);
        goto out;
    }
    /* The accounts to consider: every account of the store, and the ones
     * the resource and key policies name that the store does not hold
     * (graph.c adds those trust policies name). */
    char (*ids)[ACCOUNT_ID_LEN + 1] = NULL;
    size_t nids = 0;
    tr_result r = az_accounts(st, t.named, t.nnamed, &ids, &nids);
    const char **accts = tr_ok(r) ? calloc(nids + 1, sizeof *accts) : NULL;
    if (!accts) { free(ids); rc = die("accounts"); goto out; }
    for (size_t i = 0; i < nids; i++) accts[i] = ids[i];
    /* --explain lists every role the principal can assume and each
     * step's own decision: the whole graph, full decisions.  Otherwise the
     * edges a reader's path needs, and quick denials. */
    if (!explain && g_snaps && g_snaps->facts)
        r = az_graph_build_facts(&env, accts, nids, g_snaps->facts, &g);
    else
        r = az_graph_build_opts(&env, accts, nids, !explain, &g);
    free(accts);
    free(ids);
    if (tr_failed(r)) { rc = die("principals"); goto out; }
    g.uncollected = g_snaps != NULL;
    acc = calloc(g.nn + 1, sizeof *acc);
    ans = calloc(g.nn + 1, sizeof *ans);
    if (!acc || !ans) goto out;
    if (tr_failed(az_who_can(&env, &g, &t, !explain, acc, ans))) { rc = die("analysis"); goto out; }
    if (diff) {
        rc = diff_with_key(&env, &g, &t, ans, secret, account, region, with_key, f);
        goto out;
    }
    if (explain) {
        size_t node = az_graph_find(&g, explain);
        if (node == SIZE_MAX && strstr(explain, ":oidc-provider/")) {
            rc = explain_provider(&g, &t, acc, ans, explain, f);
            goto out;
        }
        if (node == SIZE_MAX) {
            fprintf(stderr, "tresor who-can-decrypt: %s is not a principal the analysis knows "
                            "(a user, role or root ARN of an account involved)\n", explain);
            goto out;
        }
        az_explain(&g, &t, acc, ans, node, f);
    } else if (f == AZ_DOT) {
        az_report(&g, &t, acc, ans, f);
    } else {
        struct az_escalation *esc = NULL;
        size_t nesc = 0;
        if (tr_failed(az_escalations(&env, &g, &t, ans, &esc, &nesc))) {
            rc = die("escalations");
            goto out;
        }
        if (f == AZ_JSON) {
            json_t *o = az_report_json(&g, &t, acc, ans);
            az_report_escalations(&g, esc, nesc, f, o);
            add_gaps(o, &t);
            char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            if (s) puts(s);
            free(s);
            json_decref(o);
        } else if (f == AZ_HTML) {
            /* The page holds the --format json answer as it is. */
            json_t *o = az_report_json(&g, &t, acc, ans);
            az_report_escalations(&g, esc, nesc, AZ_JSON, o);
            add_gaps(o, &t);
            json_t *m = json_pack("{s:s}", "view", "who-can-decrypt");
            tr_result wr = o && m ? az_html_begin(stdout, m) : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
            if (tr_ok(wr)) wr = az_html_answer(stdout, o);
            if (tr_ok(wr)) wr = az_html_end(stdout);
            json_decref(m);
            json_decref(o);
            if (tr_failed(wr)) {
                free(esc);
                rc = die("writing the answer");
                goto out;
            }
        } else {
            az_report(&g, &t, acc, ans, f);
            az_report_escalations(&g, esc, nesc, f, NULL);
            print_gaps(&t);
        }
        free(esc);
    }
    rc = 0;
out:
    free(acc);
    free(ans);
    az_graph_free(&g);
    if (have_target) az_target_free(&t);
    if (snap) st[0]->read_end(st);
    if (snaps) {
        cli_close_snapshots(&dd, snaps);
        g_snaps = NULL;
    } else {
        close_data_dir(&dd);
    }
    return rc;
}
