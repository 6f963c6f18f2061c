/*
 * cache_test.c -- core/cache.h: keys, the staleness rule (generation,
 * epoch, content, flush), the switch, eviction within a set, the entry
 * lifecycle (release on replace, drop, eviction, flush, thread exit),
 * coming back to an entry by reference,
 * secrets zeroed when an entry is made and wiped when it goes, and the
 * counters summed over live and exited threads, whatever place in the
 * registry list an exiting thread held.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cache.h"
#include "core/secmem.h"

/* A value that counts its releases. */
struct val {
    int n;
    char *owned;                /* heap memory the value owns */
};

static int released;

static void val_release(void *p)
{
    struct val *v = p;
    free(v->owned);
    released++;
}

static struct cache_class by_gen =
    CACHE_CLASS("test-by-generation", CACHE_BY_GENERATION, .slots = 4,
                .value_size = sizeof(struct val), .release = val_release);
static struct cache_class by_content =
    CACHE_CLASS("test-by-content", CACHE_BY_CONTENT, .slots = 8, .ways = 2,
                .value_size = sizeof(struct val), .release = val_release);
static struct cache_class with_secret =
    CACHE_CLASS("test-secret", CACHE_BY_GENERATION, .slots = 2, .secret_size = 32);
static struct cache_class counters_only = CACHE_CLASS("test-counters", CACHE_BY_GENERATION, .slots = 0);

static const struct cache_gen G1 = { 7, 1 }, G2 = { 7, 2 }, OTHER_STORE = { 8, 1 };

static void key1(struct cache_key *k, const char *a)
{
    cache_key_init(k);
    cache_key_str(k, a);
}

static struct val *put_n(struct cache_class *c, const char *name, struct cache_gen g, int n)
{
    struct cache_key k;
    key1(&k, name);
    struct val *v = cache_put(c, &k, g);
    assert_non_null(v);
    assert_int_equal(v->n, 0);                  /* zeroed */
    v->n = n;
    v->owned = strdup(name);
    return v;
}

static int get_n(struct cache_class *c, const char *name, struct cache_gen g)
{
    struct cache_key k;
    key1(&k, name);
    struct val *v = cache_get(c, &k, g);
    return v ? v->n : -1;
}

static struct cache_stats stats_of(const struct cache_class *c)
{
    struct cache_stats s[CACHE_CLASSES_MAX];
    size_t n = cache_stats(s, CACHE_CLASSES_MAX);
    for (size_t i = 0; i < n && i < CACHE_CLASSES_MAX; i++)
        if (strcmp(s[i].name, c->name) == 0) return s[i];
    fail_msg("no counters for %s", c->name);
    return s[0];
}

static int setup(void **state)
{
    (void)state;
    cache_enable(true);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cache_thread_release();                     /* every class's entries go */
    cache_enable(false);
    return 0;
}

static void test_epochs_are_unique(void **state)
{
    (void)state;
    uint64_t a = cache_epoch_new(), b = cache_epoch_new();
    assert_true(a != 0 && b != 0 && a != b);
    assert_false(cache_gen_known(CACHE_GEN_NONE));
    assert_true(cache_gen_same(G1, G1));
    assert_false(cache_gen_same(G1, G2));
    assert_false(cache_gen_same(G1, OTHER_STORE));
}

static void test_keys(void **state)
{
    (void)state;
    struct cache_key k1, k2, big;
    cache_key_init(&k1);
    cache_key_str(&k1, "ab");
    cache_key_str(&k1, "c");
    cache_key_init(&k2);
    cache_key_str(&k2, "a");
    cache_key_str(&k2, "bc");
    assert_non_null(cache_put(&by_gen, &k1, G1));
    assert_null(cache_get(&by_gen, &k2, G1));   /* fields do not run together */
    assert_non_null(cache_get(&by_gen, &k1, G1));
    cache_key_init(&k2);
    cache_key_str(&k2, NULL);
    cache_key_init(&k1);
    cache_key_str(&k1, "");
    assert_non_null(cache_put(&by_gen, &k2, G1));
    assert_non_null(cache_get(&by_gen, &k1, G1)); /* NULL is "" */
    /* A key too long for CACHE_KEY_MAX is never cached. */
    cache_key_init(&big);
    for (int i = 0; i < 64; i++) cache_key_str(&big, "0123456789012345678901234567890123456789");
    assert_true(big.too_long);
    assert_null(cache_put(&by_gen, &big, G1));
    assert_null(cache_get(&by_gen, &big, G1));
}

static void test_generation_rule(void **state)
{
    (void)state;
    struct cache_stats before = stats_of(&by_gen);
    put_n(&by_gen, "k", G1, 1);
    assert_int_equal(get_n(&by_gen, "k", G1), 1);
    assert_int_equal(get_n(&by_gen, "k", OTHER_STORE), -1);   /* another store: stale */
    assert_int_equal(get_n(&by_gen, "k", G1), -1);            /* ... and dropped */
    put_n(&by_gen, "k", G1, 2);
    assert_int_equal(get_n(&by_gen, "k", G2), -1);            /* the store moved on */
    assert_int_equal(get_n(&by_gen, "k", CACHE_GEN_NONE), -1);
    struct cache_key k;
    key1(&k, "k");
    assert_null(cache_put(&by_gen, &k, CACHE_GEN_NONE));      /* unknown: cache nothing */
    struct cache_stats after = stats_of(&by_gen);
    assert_int_equal(after.hits - before.hits, 1);
    assert_int_equal(after.stale - before.stale, 2);
    assert_int_equal(after.misses - before.misses, 4);
}

static void test_content_rule(void **state)
{
    (void)state;
    struct cache_key k;
    key1(&k, "arn|v1");
    struct val *v = cache_put_by_content(&by_content, &k, "text", 4);
    assert_non_null(v);
    v->n = 5;
    /* Right in any generation, while the content is the same bytes. */
    v = cache_get_by_content(&by_content, &k, "text", 4);
    assert_true(v && v->n == 5);
    assert_null(cache_get_by_content(&by_content, &k, "texT", 4));
    assert_null(cache_get_by_content(&by_content, &k, "text", 4));   /* dropped */
    assert_non_null(cache_put_by_content(&by_content, &k, "", 0));
    assert_null(cache_get_by_content(&by_content, &k, "t", 1));
}

static void test_switch(void **state)
{
    (void)state;
    put_n(&by_gen, "on", G1, 3);
    cache_enable(false);
    struct cache_key k;
    key1(&k, "on");
    assert_null(cache_get(&by_gen, &k, G1));
    assert_null(cache_put(&by_gen, &k, G1));
    cache_enable(true);
    assert_int_equal(get_n(&by_gen, "on", G1), 3);
}

static void test_eviction_and_lifecycle(void **state)
{
    (void)state;
    struct cache_stats before = stats_of(&by_gen);
    released = 0;
    put_n(&by_gen, "a", G1, 1);
    put_n(&by_gen, "b", G1, 2);
    put_n(&by_gen, "c", G1, 3);
    put_n(&by_gen, "d", G1, 4);
    assert_int_equal(get_n(&by_gen, "a", G1), 1);            /* a is now the freshest */
    put_n(&by_gen, "e", G1, 5);                              /* 4 slots: b, least recently used, goes */
    assert_int_equal(released, 1);
    assert_int_equal(get_n(&by_gen, "b", G1), -1);
    assert_int_equal(get_n(&by_gen, "a", G1), 1);
    put_n(&by_gen, "a", G1, 6);                              /* replaces a's own entry */
    assert_int_equal(released, 2);
    assert_int_equal(get_n(&by_gen, "a", G1), 6);
    /* A new generation takes an entry of another generation before
     * evicting a current one: counted stale, not evicted. */
    put_n(&by_gen, "f", G2, 7);
    assert_int_equal(released, 3);
    struct cache_stats after = stats_of(&by_gen);
    assert_int_equal(after.evictions - before.evictions, 1);
    assert_int_equal(after.stale - before.stale, 1);
    /* A fill that failed is dropped. */
    struct val *v = put_n(&by_gen, "g", G2, 8);
    cache_drop(&by_gen, v);
    assert_int_equal(released, 5);                           /* g, and the entry g replaced */
    assert_int_equal(get_n(&by_gen, "g", G2), -1);
    /* The thread's release frees every value. */
    cache_thread_release();
    assert_int_equal(get_n(&by_gen, "f", G2), -1);
    assert_true(released >= 6);
}

static void test_sets(void **state)
{
    (void)state;
    /* 8 slots in sets of 2: many keys, each found again while its set
     * keeps it, and never more than 8 at once. */
    char name[16];
    for (int i = 0; i < 64; i++) {
        struct cache_key k;
        snprintf(name, sizeof name, "v%d", i);
        key1(&k, name);
        struct val *v = cache_put_by_content(&by_content, &k, name, strlen(name));
        assert_non_null(v);
        v->n = i;
    }
    int kept = 0;
    for (int i = 0; i < 64; i++) {
        struct cache_key k;
        snprintf(name, sizeof name, "v%d", i);
        key1(&k, name);
        struct val *v = cache_get_by_content(&by_content, &k, name, strlen(name));
        if (v) {
            assert_int_equal(v->n, i);
            kept++;
        }
    }
    assert_true(kept >= 2 && kept <= 8);
}

static void test_again(void **state)
{
    (void)state;
    struct val *v = put_n(&by_gen, "r", G1, 1);
    struct cache_ref r = cache_ref_of(&by_gen, v);
    assert_ptr_equal(cache_again(&by_gen, r, G1), v);
    assert_null(cache_again(&by_gen, r, G2));                /* not fresh */
    put_n(&by_gen, "r", G1, 2);                              /* another entry, maybe the same slot */
    assert_null(cache_again(&by_gen, r, G1));
    r = cache_ref_of(&by_gen, cache_get(&by_gen, &(struct cache_key){ 0 }, G1));
    assert_null(r.value);                                    /* nothing to come back to */
    assert_null(cache_again(&by_gen, r, G1));
    v = put_n(&by_gen, "s", G1, 3);
    r = cache_ref_of(&by_gen, v);
    cache_flush(&by_gen);
    assert_null(cache_again(&by_gen, r, G1));
    struct cache_key k;
    key1(&k, "c");
    void *c = cache_put_by_content(&by_content, &k, "x", 1);
    assert_null(cache_again(&by_content, cache_ref_of(&by_content, c), G1)); /* by generation only */
}

static void test_secrets(void **state)
{
    (void)state;
    struct cache_key k;
    key1(&k, "key-1");
    void *v = cache_put(&with_secret, &k, G1);
    uint8_t *s = cache_secret(&with_secret, v);
    assert_non_null(s);
    for (int i = 0; i < 32; i++) assert_int_equal(s[i], 0);  /* zeroed when made */
    memset(s, 0xa5, 32);
    v = cache_get(&with_secret, &k, G1);
    assert_int_equal(((uint8_t *)cache_secret(&with_secret, v))[31], 0xa5);
    /* Replaced (same key, new generation): the new entry's secret is
     * zero, the old one was wiped. */
    v = cache_put(&with_secret, &k, G2);
    s = cache_secret(&with_secret, v);
    for (int i = 0; i < 32; i++) assert_int_equal(s[i], 0);
    memset(s, 0x5a, 32);
    cache_drop(&with_secret, v);
    for (int i = 0; i < 32; i++) assert_int_equal(s[i], 0);  /* wiped in place */
    assert_null(cache_secret(&with_secret, NULL));
}

/* A flush and an eviction wipe the secret in place, like a drop: what
 * kms_forget_unwrapped relies on for unwrapped material and blob keys. */
static void test_flush_and_eviction_wipe(void **state)
{
    (void)state;
    struct cache_key k;
    key1(&k, "flushed");
    uint8_t *s = cache_secret(&with_secret, cache_put(&with_secret, &k, G1));
    memset(s, 0xa5, 32);
    cache_flush(&with_secret);
    for (int i = 0; i < 32; i++) assert_int_equal(s[i], 0);  /* wiped in place */
    assert_null(cache_get(&with_secret, &k, G1));

    /* Two slots: a third key evicts the least recently used. */
    uint8_t *first = NULL;
    const char *names[] = { "e-1", "e-2", "e-3" };
    for (int n = 0; n < 3; n++) {
        key1(&k, names[n]);
        s = cache_secret(&with_secret, cache_put(&with_secret, &k, G1));
        for (int i = 0; i < 32; i++) assert_int_equal(s[i], 0);  /* zeroed when made */
        if (n < 2) memset(s, 0xa5, 32);
        if (n == 0) first = s;
        if (n == 2) assert_ptr_equal(s, first);   /* e-1's slot, wiped for e-3 */
    }
    key1(&k, "e-1");
    assert_null(cache_get(&with_secret, &k, G1));
    cache_flush(&with_secret);
}

static void *other_thread(void *arg)
{
    struct cache_class *c = arg;
    int *out = malloc(2 * sizeof *out);
    out[0] = get_n(c, "shared", G1);            /* its own table: empty */
    put_n(c, "shared", G1, 2);
    out[1] = get_n(c, "shared", G1);
    cache_flush(c);                             /* ours too, at our next use */
    return out;
}

static void test_threads_and_flush(void **state)
{
    (void)state;
    struct cache_stats before = stats_of(&by_gen);
    put_n(&by_gen, "shared", G1, 1);
    pthread_t t;
    void *res;
    assert_int_equal(pthread_create(&t, NULL, other_thread, &by_gen), 0);
    assert_int_equal(pthread_join(t, &res), 0);
    int *got = res;
    assert_int_equal(got[0], -1);
    assert_int_equal(got[1], 2);
    free(got);
    assert_int_equal(get_n(&by_gen, "shared", G1), -1);      /* flushed by the other thread */
    /* The exited thread's counts are kept: a miss and a hit there. */
    struct cache_stats after = stats_of(&by_gen);
    assert_true(after.hits - before.hits >= 1);
    assert_true(after.misses - before.misses >= 2);
    assert_true(after.stale - before.stale >= 2);            /* its entry, and ours */
}

static void test_counters_only(void **state)
{
    (void)state;
    struct cache_key k;
    key1(&k, "x");
    assert_null(cache_put(&counters_only, &k, G1));
    cache_note(&counters_only, CACHE_HITS);
    cache_note(&counters_only, CACHE_HITS);
    cache_note(&counters_only, CACHE_MISSES);
    cache_note(&counters_only, CACHE_EVICTIONS);
    struct cache_stats s = stats_of(&counters_only);
    assert_int_equal(s.hits, 2);
    assert_int_equal(s.misses, 1);
    assert_int_equal(s.evictions, 1);
    assert_int_equal(s.stale, 0);
}

/* A thread that notes one hit on counters_only, says so, and exits when
 * told. */
struct held { sem_t counted, go; };

static void *held_worker(void *arg)
{
    struct held *h = arg;
    cache_note(&counters_only, CACHE_HITS);
    sem_post(&h->counted);
    sem_wait(&h->go);
    return NULL;
}

static void test_retire_from_any_place(void **state)
{
    (void)state;
    enum { N = 4 };
    struct held h[N];
    pthread_t t[N];
    uint64_t before = stats_of(&counters_only).hits;
    for (int i = 0; i < N; i++) {            /* linked one after another: t[3] is the head */
        assert_int_equal(sem_init(&h[i].counted, 0, 0), 0);
        assert_int_equal(sem_init(&h[i].go, 0, 0), 0);
        assert_int_equal(pthread_create(&t[i], NULL, held_worker, &h[i]), 0);
        sem_wait(&h[i].counted);
    }
    assert_int_equal(stats_of(&counters_only).hits - before, N);
    static const int order[N] = { 1, 3, 0, 2 };   /* middle, head, tail, the last one */
    for (int k = 0; k < N; k++) {
        int i = order[k];
        sem_post(&h[i].go);
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(stats_of(&counters_only).hits - before, N);
    }
    for (int i = 0; i < N; i++) {
        sem_destroy(&h[i].counted);
        sem_destroy(&h[i].go);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_epochs_are_unique),
        cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generation_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_content_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_switch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eviction_and_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_and_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_and_eviction_wipe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counters_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retire_from_any_place, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
