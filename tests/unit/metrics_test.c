/*
 * metrics_test.c -- per-thread counters and the exposition (core/metrics.c).
 *
 * Covers: nothing is counted while metrics are off; counts from threads
 * that exited (folded into the retired totals) and from live ones are
 * summed on render; a status tresor does not answer is "other"; latency
 * buckets are cumulative and end at +Inf with _count equal to it, _sum in
 * seconds; store commits; series with nothing counted are left out;
 * tresor_sealed 0; a collector's text is appended; names that would need
 * escaping, and registering once a thread counts, are refused; threads
 * that exit from the middle, the head and the tail of the registry list
 * leave every count summed once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"

#define OK(x) assert_int_equal(tr_code(x), TR_E_OK)

static unsigned s_get, s_put;

static int setup(void **state)
{
    (void)state;
    metrics_reset();
    if (tr_failed(metrics_add_series("secretsmanager", "GetSecretValue", &s_get))) return -1;
    if (tr_failed(metrics_add_series("secretsmanager", "PutSecretValue", &s_put))) return -1;
    metrics_enable(true);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    metrics_reset();
    return 0;
}

static const char *render(struct buf *b)
{
    const char *text = NULL;
    buf_reset(b);
    OK(metrics_render(b));
    OK(buf_cstr(b, &text));
    return text;
}

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++) metrics_request(s_get, 200, 300);   /* the 500 us bucket */
    metrics_commit(1500);
    return NULL;
}

static void counts_summed_over_threads(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(1 << 20);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, worker, NULL), 0);
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_join(t[i], NULL), 0);   /* retired */
    metrics_request(s_get, 200, 50);                 /* this (live) thread */
    metrics_request(s_get, 400, 20000000);          /* past every bound */
    metrics_request(s_get, 418, 10);                 /* not a status tresor answers */
    const char *text = render(&b);
    assert_non_null(strstr(text, "tresor_requests_total{service=\"secretsmanager\",operation=\"GetSecretValue\","
                                 "code=\"200\"} 4001\n"));
    assert_non_null(strstr(text, "operation=\"GetSecretValue\",code=\"400\"} 1\n"));
    assert_non_null(strstr(text, "operation=\"GetSecretValue\",code=\"other\"} 1\n"));
    /* nothing counted for PutSecretValue: no line */
    assert_null(strstr(text, "PutSecretValue"));
    const char *h = "tresor_request_duration_seconds_bucket{service=\"secretsmanager\",operation=\"GetSecretValue\",";
    char line[256];
    snprintf(line, sizeof line, "%sle=\"0.0001\"} 2\n", h);      /* 50 us and 10 us */
    assert_non_null(strstr(text, line));
    snprintf(line, sizeof line, "%sle=\"0.00025\"} 2\n", h);
    assert_non_null(strstr(text, line));
    snprintf(line, sizeof line, "%sle=\"0.0005\"} 4002\n", h);   /* cumulative */
    assert_non_null(strstr(text, line));
    snprintf(line, sizeof line, "%sle=\"10\"} 4002\n", h);
    assert_non_null(strstr(text, line));
    snprintf(line, sizeof line, "%sle=\"+Inf\"} 4003\n", h);
    assert_non_null(strstr(text, line));
    assert_non_null(strstr(text, "tresor_request_duration_seconds_count{service=\"secretsmanager\","
                                 "operation=\"GetSecretValue\"} 4003\n"));
    /* 4000 * 300 us + 50 + 20 s + 10 = 21.20006 s */
    assert_non_null(strstr(text, "tresor_request_duration_seconds_sum{service=\"secretsmanager\","
                                 "operation=\"GetSecretValue\"} 21.200060\n"));
    assert_non_null(strstr(text, "tresor_store_commit_duration_seconds_bucket{le=\"0.0025\"} 4\n"));
    assert_non_null(strstr(text, "tresor_store_commit_duration_seconds_count 4\n"));
    assert_non_null(strstr(text, "tresor_store_commit_duration_seconds_sum 0.006000\n"));
    assert_non_null(strstr(text, "# TYPE tresor_sealed gauge\ntresor_sealed 0\n"));
    assert_non_null(strstr(text, "# TYPE tresor_cache_hits_total counter\n"));
    /* a second render gives the same counts */
    char *first = strdup(text);
    assert_string_equal(render(&b), first);
    free(first);
    buf_free(&b);
}

static void off_counts_nothing(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(1 << 20);
    metrics_enable(false);
    metrics_request(s_get, 200, 10);
    metrics_commit(10);
    metrics_request(99999, 200, 10);                 /* out of range: ignored */
    metrics_enable(true);
    metrics_request(99999, 200, 10);
    const char *text = render(&b);
    assert_null(strstr(text, "tresor_requests_total{"));
    assert_non_null(strstr(text, "tresor_store_commit_duration_seconds_count 0\n"));
    buf_free(&b);
}

static TR_RESULT audit_collector(struct buf *out)
{
    return buf_append_str(out, "# HELP tresor_audit_lines_written_total x\n"
                               "# TYPE tresor_audit_lines_written_total counter\n"
                               "tresor_audit_lines_written_total 7\n");
}

static void collectors_and_refusals(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(1 << 20);
    unsigned idx;
    OK(metrics_add_collector(audit_collector));
    const char *text = render(&b);
    assert_non_null(strstr(text, "tresor_sealed 0\n# HELP tresor_audit_lines_written_total x\n"));
    /* names that would need escaping in a label value */
    assert_int_equal(tr_code(metrics_add_series("kms", "Bad\"Name", &idx)), TR_E_INTERNAL);
    assert_int_equal(tr_code(metrics_add_series("kms", "", &idx)), TR_E_INTERNAL);
    assert_int_equal(tr_code(metrics_add_series("k ms", "Decrypt", &idx)), TR_E_INTERNAL);
    assert_int_equal(tr_code(metrics_add_series(NULL, "Decrypt", &idx)), TR_E_INTERNAL);
    /* once a thread has counted, the shards are sized: no more series */
    metrics_request(s_put, 200, 1);
    assert_int_equal(tr_code(metrics_add_series("kms", "Decrypt", &idx)), TR_E_INTERNAL);
    text = render(&b);
    assert_non_null(strstr(text, "operation=\"PutSecretValue\",code=\"200\"} 1\n"));
    assert_int_equal(tr_code(metrics_render(NULL)), TR_E_INTERNAL);
    buf_free(&b);
}

/* A thread that counts one PutSecretValue, says so, and exits when told. */
struct held { sem_t counted, go; };

static void *held_worker(void *arg)
{
    struct held *h = arg;
    metrics_request(s_put, 200, 300);
    sem_post(&h->counted);
    sem_wait(&h->go);
    return NULL;
}

static void retire_from_any_place(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(1 << 20);
    enum { N = 4 };
    struct held h[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {            /* linked one after another: t[3] is the head */
        assert_int_equal(sem_init(&h[i].counted, 0, 0), 0);
        assert_int_equal(sem_init(&h[i].go, 0, 0), 0);
        assert_int_equal(pthread_create(&t[i], NULL, held_worker, &h[i]), 0);
        sem_wait(&h[i].counted);
    }
    static const int order[N] = { 1, 3, 0, 2 };   /* middle, head, tail, the last one */
    for (int k = 0; k < N; k++) {
        int i = order[k];
        sem_post(&h[i].go);
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_non_null(strstr(render(&b), "operation=\"PutSecretValue\",code=\"200\"} 4\n"));
    }
    for (int i = 0; i < N; i++) {
        sem_destroy(&h[i].counted);
        sem_destroy(&h[i].go);
    }
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(counts_summed_over_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(off_counts_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(collectors_and_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(retire_from_any_place, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
