/*
 * secmem_test.c -- process hardening, locked memory, and the wipe checks.
 *
 * In the wipe-check build (make CONF=wipecheck unit) every release path of
 * secret memory verifies that the region is zero and counts it: these
 * tests check that secret bufs (growth, reset, free), jansson's wiping
 * allocator, OpenSSL's wiping allocator, secmem pages and the server's
 * reply-buffer free callback each run their check, that non-secret bufs
 * do not, and that a region left non-zero aborts the process.  In other
 * builds the counting tests are skipped (WIPE_CHECK compiles to nothing);
 * hardening, json_dump_buf and the allocators' behaviour are tested in
 * every build.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/secmem.h"
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "crypto/mem.h"
#include "http/server.h"

#define COUNT(site) wipe_check_count(WIPE_SITE_##site)

static void need_wipe_check(void)
{
    if (!wipe_check_enabled()) skip();
}

static void test_process_harden(void **state)
{
    (void)state;
    assert_true(tr_ok(process_harden()));
    assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
    assert_int_equal(rl.rlim_cur, 0);
    assert_int_equal(rl.rlim_max, 0);
    /* Idempotent: a second call (no privilege needed to lower limits). */
    assert_true(tr_ok(process_harden()));
    assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
}

static void test_secmem_counted(void **state)
{
    (void)state;
    need_wipe_check();
    unsigned long long before = COUNT(SECMEM);
    uint8_t *p = secmem_alloc(40);
    assert_non_null(p);
    memset(p, 0x5A, 40);
    secmem_free(p, 40);
    assert_int_equal(COUNT(SECMEM), before + 1);
}

/* Growth (the old block), reset (the content) and free each check once. */
static void test_secret_buf_checked(void **state)
{
    (void)state;
    need_wipe_check();
    struct buf b = BUF_SECRET(4096);
    unsigned long long before = COUNT(BUF);
    assert_true(tr_ok(buf_append(&b, "plaintext", 9)));      /* first block: nothing released */
    assert_int_equal(COUNT(BUF), before);
    uint8_t big[200];
    memset(big, 0x41, sizeof big);
    assert_true(tr_ok(buf_append(&b, big, sizeof big)));     /* grows: old block checked */
    assert_int_equal(COUNT(BUF), before + 1);
    buf_reset(&b);                                           /* content checked */
    assert_int_equal(COUNT(BUF), before + 2);
    for (uint32_t i = 0; i < b.cap; i++) assert_int_equal(b.data[i], 0);
    buf_reset(&b);                                           /* empty: nothing to check */
    assert_int_equal(COUNT(BUF), before + 2);
    assert_true(tr_ok(buf_append(&b, "again", 5)));
    buf_free(&b);                                            /* block checked */
    assert_int_equal(COUNT(BUF), before + 3);
    assert_null(b.data);
}

static void test_plain_buf_not_checked(void **state)
{
    (void)state;
    need_wipe_check();
    struct buf b = BUF_INIT(4096);
    unsigned long long before = COUNT(BUF);
    uint8_t big[300];
    memset(big, 0x42, sizeof big);
    assert_true(tr_ok(buf_append(&b, big, 10)));
    assert_true(tr_ok(buf_append(&b, big, sizeof big)));
    buf_reset(&b);
    buf_free(&b);
    assert_int_equal(COUNT(BUF), before);
}

/* Every jansson block goes back through the wiping free. */
static void test_json_wiping_allocator(void **state)
{
    (void)state;
    json_use_wiping_allocator();
    unsigned long long before = COUNT(JSON);
    json_t *o = json_pack("{s:s, s:s}", "SecretString", "hunter2-hunter2", "Plaintext", "cGxhaW4=");
    assert_non_null(o);
    struct buf out = BUF_SECRET(1024);
    assert_true(tr_ok(json_dump_buf(o, JSON_COMPACT, &out)));
    assert_int_equal(out.len, strlen("{\"SecretString\":\"hunter2-hunter2\",\"Plaintext\":\"cGxhaW4=\"}"));
    assert_memory_equal(out.data, "{\"SecretString\":\"hunter2-hunter2\"", 33);
    json_decref(o);
    buf_free(&out);
    /* A direct call, as jansson makes it. */
    char *p = malloc(32);
    assert_non_null(p);
    memset(p, 'k', 32);
    json_wiping_release(p);
    json_wiping_release(NULL);
    if (wipe_check_enabled())
        assert_true(COUNT(JSON) >= before + 4);   /* object, two strings' values, the direct block */
}

/* The plain allocator (who-can-decrypt from snapshots) frees through
 * free(), no wipe counted; the wiping one is back after it. */
static void test_json_plain_allocator(void **state)
{
    (void)state;
    json_malloc_t m = NULL;
    json_free_t f = NULL;
    json_use_plain_allocator();
    json_get_alloc_funcs(&m, &f);
    assert_ptr_equal(m, malloc);
    assert_ptr_equal(f, free);
    unsigned long long before = COUNT(JSON);
    json_t *o = json_pack("{s:s}", "PolicyName", "not-secret");
    assert_non_null(o);
    json_decref(o);
    assert_int_equal(COUNT(JSON), before);
    json_use_wiping_allocator();
    json_get_alloc_funcs(&m, &f);
    assert_ptr_equal(f, json_wiping_release);
}

/* json_dump_buf reserves a reply's usual size at once and copies the
 * pieces that fit in place: what it writes is the same whatever the
 * buffer's state -- empty, holding bytes already, grown past the
 * reservation, or capped at exactly the document's length. */
static void test_json_dump_buf_growth(void **state)
{
    (void)state;
    char big[3001];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    json_t *o = json_pack("{s:s, s:[s,s], s:f}", "SecretString", big, "VersionStages", "AWSCURRENT",
                          "AWSPENDING", "CreatedDate", 1.5);
    assert_non_null(o);
    char *want = json_dumps(o, JSON_COMPACT);
    assert_non_null(want);
    size_t wn = strlen(want);

    struct buf a = BUF_SECRET(1 << 20);           /* empty: reserved, then grown */
    assert_true(tr_ok(json_dump_buf(o, JSON_COMPACT, &a)));
    assert_int_equal(a.len, wn);
    assert_memory_equal(a.data, want, wn);
    buf_free(&a);

    struct buf b = BUF_SECRET(1 << 20);           /* after bytes already there */
    assert_true(tr_ok(buf_append(&b, "prefix:", 7)));
    assert_true(tr_ok(json_dump_buf(o, JSON_COMPACT, &b)));
    assert_int_equal(b.len, 7 + wn);
    assert_memory_equal(b.data, "prefix:", 7);
    assert_memory_equal(b.data + 7, want, wn);
    buf_free(&b);

    struct buf c = BUF_SECRET((uint32_t)wn);      /* a cap of exactly the document */
    assert_true(tr_ok(json_dump_buf(o, JSON_COMPACT, &c)));
    assert_int_equal(c.len, wn);
    assert_memory_equal(c.data, want, wn);
    buf_free(&c);

    struct buf d = BUF_SECRET((uint32_t)wn - 1);  /* one byte short: fails, leaves nothing */
    assert_true(tr_failed(json_dump_buf(o, JSON_COMPACT, &d)));
    assert_int_equal(d.len, 0);
    buf_free(&d);

    json_t *small = json_pack("{s:s}", "k", "v");  /* a cap under the reservation */
    assert_non_null(small);
    struct buf e = BUF_SECRET(9);
    assert_true(tr_ok(json_dump_buf(small, JSON_COMPACT, &e)));
    assert_int_equal(e.len, 9);
    assert_memory_equal(e.data, "{\"k\":\"v\"}", 9);
    buf_free(&e);

    json_decref(small);
    free(want);
    json_decref(o);
}

/* json_dump_buf past the buffer's cap fails and leaves nothing behind. */
static void test_json_dump_buf_overflow(void **state)
{
    (void)state;
    json_t *o = json_pack("{s:s}", "SecretString", "0123456789012345678901234567890123456789");
    assert_non_null(o);
    struct buf out = BUF_SECRET(16);
    assert_true(tr_ok(buf_append(&out, "xxxxxxxxxxxxxxxx", 16)));
    buf_reset(&out);                       /* every byte up to max written, then wiped */
    assert_true(tr_ok(buf_append(&out, "ab", 2)));
    assert_true(tr_failed(json_dump_buf(o, JSON_COMPACT, &out)));
    assert_int_equal(out.len, 2);
    for (uint32_t i = 2; i < out.max; i++) assert_int_equal(out.data[i], 0);
    buf_free(&out);
    json_decref(o);
}

/* The reply buffer libmicrohttpd releases is wiped whole and checked. */
static void test_reply_free_callback(void **state)
{
    (void)state;
    need_wipe_check();
    unsigned long long before = COUNT(REPLY);
    struct buf body = BUF_SECRET(1 << 20);
    assert_true(tr_ok(buf_append_str(&body, "{\"Plaintext\":\"c2VjcmV0IGRhdGEga2V5IGJ5dGVzISEhISEhIQ==\"}")));
    uint8_t *data = body.data;             /* handed over, as send_reply does */
    body.data = NULL;
    body.len = body.cap = 0;
    http_reply_free(data);
    http_reply_free(NULL);
    assert_int_equal(COUNT(REPLY), before + 1);
}

/* OpenSSL's blocks (the GCM and HMAC contexts that held keys) go back
 * through the wiping free when the thread's contexts are released. */
static void test_openssl_wiping_allocator(void **state)
{
    (void)state;
    need_wipe_check();
    unsigned long long before = COUNT(OPENSSL);
    uint8_t key[AEAD_KEY_LEN], iv[AEAD_IV_LEN] = { 0 }, tag[AEAD_TAG_LEN], ct[5], mac[SHA256_LEN];
    memset(key, 7, sizeof key);
    assert_true(tr_ok(aead_seal(key, iv, NULL, 0, (const uint8_t *)"hello", 5, ct, tag)));
    assert_true(tr_ok(hmac_sha256(key, sizeof key, "msg", 3, mac)));
    crypto_thread_cleanup();
    assert_true(COUNT(OPENSSL) > before);
}

/* The locked arena (crypto/mem.h): a keyed HMAC key's blocks are taken
 * from it and all given back by hmac_key_free, from any thread; scopes
 * serve at most a block per allocation, fail when full, and what is
 * allocated outside a scope never lands there. */
static void *free_key_elsewhere(void *k)
{
    hmac_key_free(k);
    return NULL;
}

static void test_locked_arena(void **state)
{
    (void)state;
    uint8_t mac[SHA256_LEN], want[SHA256_LEN];
    size_t base = crypto_locked_in_use();
    struct hmac_key *k = NULL;
    assert_true(tr_ok(hmac_key_new("Jefe", 4, &k)));
    assert_true(crypto_locked_in_use() > base);
    assert_true(tr_ok(hmac_with(k, "what do ya want for nothing?", 28, mac)));
    assert_true(tr_ok(hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, want)));
    assert_memory_equal(mac, want, sizeof mac);
    assert_true(crypto_locked_in_use() > base);         /* the keyed states stay locked */
    hmac_key_free(k);
    assert_int_equal(crypto_locked_in_use(), base);

    /* Freed by another thread (a cache flush). */
    assert_true(tr_ok(hmac_key_new("Jefe", 4, &k)));
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, free_key_elsewhere, k), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(crypto_locked_in_use(), base);

    /* Outside a scope nothing is taken; inside, a block at most. */
    void *heap = OPENSSL_malloc(64);
    assert_non_null(heap);
    assert_int_equal(crypto_locked_in_use(), base);
    crypto_locked_begin();
    void *big = OPENSSL_malloc(257);
    void *p = OPENSSL_malloc(100);
    crypto_locked_end();
    assert_null(big);
    assert_non_null(p);
    assert_int_equal(crypto_locked_in_use(), base + 1);
    memset(p, 0x5a, 100);
    crypto_locked_begin();
    p = OPENSSL_realloc(p, 200);                        /* stays in the arena */
    crypto_locked_end();
    assert_non_null(p);
    assert_int_equal(((uint8_t *)p)[99], 0x5a);
    assert_int_equal(crypto_locked_in_use(), base + 1);
    OPENSSL_free(p);
    OPENSSL_free(heap);
    assert_int_equal(crypto_locked_in_use(), base);

    /* Full: allocations fail, and so does keying an HMAC key, cleanly. */
    static void *held[512];
    size_t n = 0;
    crypto_locked_begin();
    while (n < 512 && (held[n] = OPENSSL_malloc(16)) != NULL) n++;
    crypto_locked_end();
    assert_true(n > 0 && n < 512);
    assert_int_equal(crypto_locked_in_use(), base + n);
    k = (struct hmac_key *)&n;
    assert_int_equal(tr_code(hmac_key_new("Jefe", 4, &k)), TR_E_INTERNAL);
    assert_null(k);
    assert_int_equal(crypto_locked_in_use(), base + n);
    while (n) OPENSSL_free(held[--n]);
    assert_int_equal(crypto_locked_in_use(), base);
    assert_true(tr_ok(hmac_key_new("Jefe", 4, &k)));
    hmac_key_free(k);
    assert_int_equal(crypto_locked_in_use(), base);
}

/* A region that still holds a non-zero byte aborts the process. */
static void test_unwiped_region_aborts(void **state)
{
    (void)state;
    need_wipe_check();
#ifdef TR_WIPE_CHECK
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        uint8_t region[16] = { 0 };
        region[9] = 0x01;
        (void)!freopen("/dev/null", "w", stderr);
        wipe_check(WIPE_SITE_BUF, region, sizeof region);
        _exit(0);                          /* not reached */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
#endif
}

static void test_summary_line(void **state)
{
    (void)state;
    char line[256];
    wipe_check_summary(line, sizeof line);
    assert_non_null(strstr(line, "wipe check: "));
    assert_non_null(strstr(line, "(buf "));
    assert_non_null(strstr(line, ", 0 failed"));
}

int main(void)
{
    /* As main.c does: before OpenSSL allocates anything. */
    if (tr_failed(crypto_use_wiping_allocator())) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_process_harden),
        cmocka_unit_test(test_secmem_counted),
        cmocka_unit_test(test_secret_buf_checked),
        cmocka_unit_test(test_plain_buf_not_checked),
        cmocka_unit_test(test_json_wiping_allocator),
        cmocka_unit_test(test_json_plain_allocator),
        cmocka_unit_test(test_json_dump_buf_growth),
        cmocka_unit_test(test_json_dump_buf_overflow),
        cmocka_unit_test(test_reply_free_callback),
        cmocka_unit_test(test_openssl_wiping_allocator),
        cmocka_unit_test(test_locked_arena),
        cmocka_unit_test(test_unwiped_region_aborts),
        cmocka_unit_test(test_summary_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
