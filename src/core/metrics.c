/*
 * metrics.c -- per-thread counters summed on scrape (contract in
 * metrics.h; what is exported, docs/internals/METRICS.md).
 *
 * Layout.  Each thread that counts has one shard (core/tlocal.h: made at
 * its first count, put on the registry list (<sys/queue.h>'s LIST) under
 * reg_mu; retired when the
 * thread exits: its counts are added to the `retired` shard, then it is
 * freed).  A shard holds, for every registered series, a count per status
 * class (status_slot: the codes tresor answers, and "other"), a count per
 * latency bucket (not cumulative: render makes them so), and the sum of the
 * latencies in microseconds; then the same histogram for store commits.
 *
 * Counters.  Only the owner thread writes its shard, with a relaxed load
 * and a relaxed store (plain moves on x86-64, no lock prefix); the scrape
 * reads them with relaxed loads under reg_mu, which also keeps a shard
 * from being freed while it is read.  A scrape may see one request's count
 * and not yet its latency: each counter is exact, the set is not a
 * snapshot, as with any Prometheus client library.
 *
 * The exposition follows the text format 0.0.4: one # HELP and # TYPE
 * per family, histograms as _bucket{le=...} (cumulative, ending with
 * +Inf), _sum (seconds) and _count.
 */
#include "core/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "core/cache.h"
#include "core/tlocal.h"

/* Latency buckets' upper bounds, microseconds (0.1 ms .. 10 s). */
static const int64_t bounds_us[] = { 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000,
                                     100000, 250000, 500000, 1000000, 2500000, 10000000 };
#define NBOUNDS (sizeof bounds_us / sizeof bounds_us[0])
#define NBUCKETS (NBOUNDS + 1)                 /* the last one: +Inf */

/* The HTTP statuses tresor answers, each its own row; anything else "other". */
static const int statuses[] = { 200, 400, 403, 404, 409, 413, 500, 503 };
#define NSTATUS (sizeof statuses / sizeof statuses[0] + 1)

typedef atomic_uint_fast64_t counter;

struct hist {
    counter bucket[NBUCKETS];
    counter sum_us;
};

struct series_counts {
    counter status[NSTATUS];
    struct hist lat;
};

struct shard {
    LIST_ENTRY(shard) link;         /* the registry, under reg_mu */
    bool linked;                    /* on the registry */
    struct hist commit;
    struct series_counts s[];       /* nseries of them */
};

struct series { const char *service, *operation; };

static atomic_bool enabled;
static atomic_int sealed_state;     /* tresor_sealed */
static struct series series[METRICS_SERIES_MAX];
static unsigned nseries;
static metrics_collector collectors[8];
static unsigned ncollectors;

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static LIST_HEAD(, shard) shards = LIST_HEAD_INITIALIZER(shards);     /* live threads' */
static struct shard *retired;       /* exited threads' counts; sized for nseries */

static size_t shard_size(void)
{
    return sizeof(struct shard) + (size_t)nseries * sizeof(struct series_counts);
}

/* Add src's counts to dst's (both nseries long); dst is under reg_mu. */
static void add_hist(struct hist *dst, const struct hist *src)
{
    for (size_t b = 0; b < NBUCKETS; b++)
        atomic_fetch_add_explicit(&dst->bucket[b], atomic_load_explicit(&src->bucket[b], memory_order_relaxed),
                                  memory_order_relaxed);
    atomic_fetch_add_explicit(&dst->sum_us, atomic_load_explicit(&src->sum_us, memory_order_relaxed),
                              memory_order_relaxed);
}

static void shard_fold(struct shard *dst, const struct shard *src)
{
    add_hist(&dst->commit, &src->commit);
    for (unsigned i = 0; i < nseries; i++) {
        for (size_t k = 0; k < NSTATUS; k++)
            atomic_fetch_add_explicit(&dst->s[i].status[k],
                                      atomic_load_explicit(&src->s[i].status[k], memory_order_relaxed),
                                      memory_order_relaxed);
        add_hist(&dst->s[i].lat, &src->s[i].lat);
    }
}

/* The tlocal drop: unlink the thread's shard, keep its counts, free it. */
static void shard_retire(void *p)
{
    struct shard *sh = p;
    pthread_mutex_lock(&reg_mu);
    if (sh->linked) {
        LIST_REMOVE(sh, link);
        if (!retired) retired = calloc(1, shard_size());
        if (retired) shard_fold(retired, sh);
    }
    pthread_mutex_unlock(&reg_mu);
    free(sh);
}

static struct tlocal_slot shard_slot = TLOCAL_SLOT(shard_retire);

/* This thread's shard, linked at first use; NULL when memory ran out (the
 * thread then counts nothing). */
static struct shard *this_shard(void)
{
    struct shard *sh = tlocal_get(&shard_slot, shard_size());
    if (sh && !sh->linked) {
        pthread_mutex_lock(&reg_mu);
        LIST_INSERT_HEAD(&shards, sh, link);
        sh->linked = true;
        pthread_mutex_unlock(&reg_mu);
    }
    return sh;
}

/* One more, by the owner thread only: a load and a store, no RMW. */
static inline void bump(counter *c, uint64_t by)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by, memory_order_relaxed);
}

static void observe(struct hist *h, int64_t us)
{
    if (us < 0) us = 0;
    size_t b = 0;
    while (b < NBOUNDS && us > bounds_us[b]) b++;
    bump(&h->bucket[b], 1);
    bump(&h->sum_us, (uint64_t)us);
}

static size_t status_slot(int status)
{
    for (size_t k = 0; k < NSTATUS - 1; k++)
        if (statuses[k] == status) return k;
    return NSTATUS - 1;
}

void metrics_enable(bool on)
{
    atomic_store_explicit(&enabled, on, memory_order_release);
}

bool metrics_enabled(void)
{
    return atomic_load_explicit(&enabled, memory_order_relaxed);
}

/* A label value we write without escaping: the names are ours, but the
 * check keeps the exposition well formed whatever is registered. */
static bool plain_name(const char *s)
{
    if (!s || !*s) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return false;
    return true;
}

TR_RESULT metrics_add_series(const char *service, const char *operation, unsigned *index)
{
    ENSURE(index && plain_name(service) && plain_name(operation), TR_E_INTERNAL);
    ENSURE(nseries < METRICS_SERIES_MAX, TR_E_INTERNAL);
    /* The shards are sized for nseries: no thread may have one yet. */
    ENSURE(LIST_EMPTY(&shards) && retired == NULL, TR_E_INTERNAL);
    series[nseries] = (struct series){ service, operation };
    *index = nseries++;
    return TR_OK;
}

void metrics_set_sealed(bool sealed)
{
    atomic_store_explicit(&sealed_state, sealed ? 1 : 0, memory_order_relaxed);
}

TR_RESULT metrics_add_collector(metrics_collector fn)
{
    ENSURE(fn && ncollectors < sizeof collectors / sizeof collectors[0], TR_E_INTERNAL);
    collectors[ncollectors++] = fn;
    return TR_OK;
}

void metrics_request(unsigned index, int status, int64_t latency_us)
{
    if (!metrics_enabled() || index >= nseries) return;
    struct shard *sh = this_shard();
    if (!sh) return;
    bump(&sh->s[index].status[status_slot(status)], 1);
    observe(&sh->s[index].lat, latency_us);
}

void metrics_commit(int64_t latency_us)
{
    if (!metrics_enabled()) return;
    struct shard *sh = this_shard();
    if (sh) observe(&sh->commit, latency_us);
}

/* ---- the exposition ---------------------------------------------------- */

/* The sum of every shard, live and retired, into a fresh one (reg_mu held). */
static struct shard *sum_shards(void)
{
    struct shard *total = calloc(1, shard_size());
    if (!total) return NULL;
    if (retired) shard_fold(total, retired);
    struct shard *sh;
    LIST_FOREACH(sh, &shards, link) shard_fold(total, sh);
    return total;
}

static uint64_t load(const counter *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static uint64_t hist_count(const struct hist *h)
{
    uint64_t n = 0;
    for (size_t b = 0; b < NBUCKETS; b++) n += load(&h->bucket[b]);
    return n;
}

/* name_bucket{labels,le="..."} (cumulative), name_sum, name_count;
 * labels is "" or `a="b",c="d"`. */
static TR_RESULT render_hist(struct buf *out, const char *name, const char *labels, const struct hist *h)
{
    uint64_t cum = 0;
    const char *sep = labels[0] ? "," : "";
    for (size_t b = 0; b < NBUCKETS; b++) {
        cum += load(&h->bucket[b]);
        if (b < NBOUNDS)
            GUARD(buf_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
                             (double)bounds_us[b] / 1e6, (unsigned long long)cum));
        else
            GUARD(buf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
                             (unsigned long long)cum));
    }
    const char *open = labels[0] ? "{" : "", *close = labels[0] ? "}" : "";
    GUARD(buf_printf(out, "%s_sum%s%s%s %.6f\n", name, open, labels, close, (double)load(&h->sum_us) / 1e6));
    return buf_printf(out, "%s_count%s%s%s %llu\n", name, open, labels, close, (unsigned long long)cum);
}

static TR_RESULT render_requests(struct buf *out, const struct shard *t)
{
    char labels[256];
    GUARD(buf_append_str(out, "# HELP tresor_requests_total Requests answered, by service, operation "
                              "and HTTP status code.\n# TYPE tresor_requests_total counter\n"));
    for (unsigned i = 0; i < nseries; i++)
        for (size_t k = 0; k < NSTATUS; k++) {
            uint64_t n = load(&t->s[i].status[k]);
            if (!n) continue;
            if (k < NSTATUS - 1)
                GUARD(buf_printf(out, "tresor_requests_total{service=\"%s\",operation=\"%s\",code=\"%d\"} %llu\n",
                                 series[i].service, series[i].operation, statuses[k], (unsigned long long)n));
            else
                GUARD(buf_printf(out, "tresor_requests_total{service=\"%s\",operation=\"%s\",code=\"other\"} "
                                 "%llu\n", series[i].service, series[i].operation, (unsigned long long)n));
        }
    GUARD(buf_append_str(out, "# HELP tresor_request_duration_seconds Time from a request's arrival at the "
                              "router to its reply, by service and operation.\n"
                              "# TYPE tresor_request_duration_seconds histogram\n"));
    for (unsigned i = 0; i < nseries; i++) {
        if (!hist_count(&t->s[i].lat)) continue;
        int n = snprintf(labels, sizeof labels, "service=\"%s\",operation=\"%s\"", series[i].service,
                         series[i].operation);
        ENSURE(n > 0 && (size_t)n < sizeof labels, TR_E_INTERNAL);
        GUARD(render_hist(out, "tresor_request_duration_seconds", labels, &t->s[i].lat));
    }
    return TR_OK;
}

static TR_RESULT render_caches(struct buf *out)
{
    struct cache_stats cs[32];
    size_t n = cache_stats(cs, sizeof cs / sizeof cs[0]);
    if (n > sizeof cs / sizeof cs[0]) n = sizeof cs / sizeof cs[0];
    static const struct { const char *name, *help; } fam[] = {
        { "tresor_cache_hits_total", "Lookups answered from a per-thread cache, by cache." },
        { "tresor_cache_misses_total", "Lookups a per-thread cache could not answer, by cache." },
        { "tresor_cache_invalidations_total", "Entries dropped because their data changed or the "
                                              "cache was flushed, by cache." },
        { "tresor_cache_evictions_total", "Fresh entries pushed out for room, by cache." },
    };
    for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++) {
        GUARD(buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n", fam[f].name, fam[f].help, fam[f].name));
        for (size_t i = 0; i < n; i++) {
            if (!plain_name(cs[i].name)) continue;
            uint64_t v = f == 0 ? cs[i].hits : f == 1 ? cs[i].misses : f == 2 ? cs[i].stale : cs[i].evictions;
            GUARD(buf_printf(out, "%s{cache=\"%s\"} %llu\n", fam[f].name, cs[i].name, (unsigned long long)v));
        }
    }
    return TR_OK;
}

TR_RESULT metrics_render(struct buf *out)
{
    ENSURE_REF(out);
    pthread_mutex_lock(&reg_mu);
    struct shard *t = sum_shards();
    pthread_mutex_unlock(&reg_mu);
    ENSURE(t != NULL, TR_E_INTERNAL);
    tr_result r = render_requests(out, t);
    if (tr_ok(r))
        r = buf_append_str(out, "# HELP tresor_store_commit_duration_seconds Time to commit a write "
                                "transaction and make it durable.\n"
                                "# TYPE tresor_store_commit_duration_seconds histogram\n");
    if (tr_ok(r)) r = render_hist(out, "tresor_store_commit_duration_seconds", "", &t->commit);
    free(t);
    if (tr_ok(r)) r = render_caches(out);
    if (tr_ok(r))
        r = buf_printf(out, "# HELP tresor_sealed 1 when the root key is sealed and the server cannot "
                            "decrypt, 0 when it is unsealed.\n# TYPE tresor_sealed gauge\ntresor_sealed %d\n",
                       atomic_load_explicit(&sealed_state, memory_order_relaxed));
    /* Other sources (metrics_add_collector), e.g. the audit log's lines
     * written (tresor_audit_lines_written_total). */
    for (unsigned i = 0; tr_ok(r) && i < ncollectors; i++) r = collectors[i](out);
    return r;
}

void metrics_reset(void)
{
    metrics_enable(false);
    tlocal_release(&shard_slot);            /* the calling thread's */
    pthread_mutex_lock(&reg_mu);
    for (struct shard *sh; (sh = LIST_FIRST(&shards));) {
        LIST_REMOVE(sh, link);
        sh->linked = false;                 /* its thread's exit frees it (or has) */
    }
    free(retired);
    retired = NULL;
    nseries = 0;
    ncollectors = 0;
    atomic_store_explicit(&sealed_state, 0, memory_order_relaxed);
    pthread_mutex_unlock(&reg_mu);
}
