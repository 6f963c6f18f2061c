/*
 * ciphertext_test.c -- the KMS ciphertext blob (kms/ciphertext.c).
 *
 * Besides round trips, tamper cases: every byte of a blob flipped, every
 * truncation, every wrong context, wrong material and wrong key id must all
 * fail the same way (TR_E_KMS_INVALID_CIPHERTEXT, no message) and leave the
 * output buffer as it was.  Two conformance tests rebuild the format from
 * docs/internals/CIPHERTEXT.md with hkdf_sha256 and aead_* directly, so the
 * document and the code cannot drift apart.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "core/buf.h"
#include "core/cache.h"
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "kms/ciphertext.h"

#define HDR 49      /* ver 1 + key_id 16 + material_version 4 + salt 16 + iv 12 */
#define OVERHEAD (HDR + 16)

static const char key_uuid[] = "1234abcd-12ab-34cd-56ef-1234567890ab";
static const char other_uuid[] = "1234abcd-12ab-34cd-56ef-1234567890ac";

static const struct enc_pair sm_pairs[] = {
    { "SecretARN", "arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf" },
    { "SecretVersionId", "0f6a7e5c-6a3a-4d8f-9a4e-2b9c1d0e7f11" },
};
static const struct enc_ctx sm_ctx = { sm_pairs, 2 };
static const struct enc_ctx no_ctx = { NULL, 0 };

struct fixture {
    uint8_t key_id[CT_KEY_ID_LEN];
    uint8_t material[32];
    uint8_t pt[100];
    struct buf blob;
};

static struct fixture fx;

static int setup(void **state)
{
    (void)state;
    if (tr_failed(uuid_to_bytes(key_uuid, fx.key_id))) return -1;
    for (size_t i = 0; i < sizeof fx.material; i++) fx.material[i] = (uint8_t)(0x40 + i);
    for (size_t i = 0; i < sizeof fx.pt; i++) fx.pt[i] = (uint8_t)(i * 13 + 7);
    fx.blob = BUF_INIT(8192);
    if (tr_failed(ciphertext_seal(fx.key_id, 7, fx.material, &sm_ctx, fx.pt, sizeof fx.pt,
                                  &fx.blob)))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    buf_free(&fx.blob);
    return 0;
}

/* parse + open; the output keeps a 3-byte prefix to check appending. */
static tr_result parse_open(const uint8_t *blob, size_t len, const uint8_t *material,
                            const struct enc_ctx *ctx, struct buf *pt)
{
    struct ct_blob ct;
    tr_result r = ciphertext_parse(blob, len, &ct);
    if (tr_failed(r)) return r;
    return ciphertext_open(&ct, material, ctx, pt);
}

/* Must fail as InvalidCiphertext, without a message, output untouched. */
static void assert_rejected(const uint8_t *blob, size_t len, const uint8_t *material,
                            const struct enc_ctx *ctx)
{
    struct buf pt = BUF_SECRET(8192);
    assert_true(tr_ok(buf_append(&pt, "pre", 3)));
    tr_clear_error();
    tr_result r = parse_open(blob, len, material, ctx, &pt);
    assert_int_equal(tr_code(r), TR_E_KMS_INVALID_CIPHERTEXT);
    assert_int_equal(tr_last_error()->code, TR_E_KMS_INVALID_CIPHERTEXT);
    assert_false(tr_last_error()->has_message);
    assert_int_equal(pt.len, 3);
    assert_memory_equal(pt.data, "pre", 3);
    buf_free(&pt);
}

static void assert_opens(const uint8_t *blob, size_t len, const struct enc_ctx *ctx,
                         const uint8_t *want, size_t want_len)
{
    struct buf pt = BUF_SECRET(8192);
    assert_true(tr_ok(buf_append(&pt, "pre", 3)));
    assert_true(tr_ok(parse_open(blob, len, fx.material, ctx, &pt)));
    assert_int_equal(pt.len, 3 + want_len);
    assert_memory_equal(pt.data, "pre", 3);
    if (want_len) assert_memory_equal(pt.data + 3, want, want_len);
    buf_free(&pt);
}

/* ---- round trips and layout ---- */

static void round_trip(void **state)
{
    (void)state;
    struct ct_blob ct;
    assert_int_equal(fx.blob.len, sizeof fx.pt + OVERHEAD);
    assert_true(tr_ok(ciphertext_parse(fx.blob.data, fx.blob.len, &ct)));
    assert_int_equal(ct.version, 1);
    assert_memory_equal(ct.key_id, fx.key_id, CT_KEY_ID_LEN);
    assert_int_equal(ct.material_version, 7);
    assert_ptr_equal(ct.header, fx.blob.data);
    assert_int_equal(ct.header_len, HDR);
    assert_ptr_equal(ct.salt, fx.blob.data + 21);
    assert_ptr_equal(ct.iv, fx.blob.data + 37);
    assert_ptr_equal(ct.body, fx.blob.data + HDR);
    assert_int_equal(ct.body_len, sizeof fx.pt);
    assert_ptr_equal(ct.tag, fx.blob.data + fx.blob.len - 16);
    /* Raw layout: version byte, key id, big-endian material version. */
    assert_int_equal(fx.blob.data[0], 0x01);
    assert_memory_equal(fx.blob.data + 1, fx.key_id, 16);
    assert_memory_equal(fx.blob.data + 17, "\0\0\0\x07", 4);
    /* The plaintext is not in the clear. */
    assert_memory_not_equal(fx.blob.data + HDR, fx.pt, sizeof fx.pt);
    assert_opens(fx.blob.data, fx.blob.len, &sm_ctx, fx.pt, sizeof fx.pt);
}

static void round_trip_sizes_and_contexts(void **state)
{
    (void)state;
    static uint8_t big[CT_MAX_PLAINTEXT];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)i;
    size_t sizes[] = { 0, 1, 15, 16, 17, 32, 1024, CT_MAX_PLAINTEXT };
    struct enc_ctx empty = { NULL, 0 };
    const struct enc_ctx *ctxs[] = { NULL, &empty, &sm_ctx };
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (size_t c = 0; c < 3; c++) {
            struct buf blob = BUF_INIT(8192);
            assert_true(tr_ok(ciphertext_seal(fx.key_id, 1, fx.material, ctxs[c], big,
                                              sizes[s], &blob)));
            assert_int_equal(blob.len, sizes[s] + OVERHEAD);
            assert_opens(blob.data, blob.len, ctxs[c], big, sizes[s]);
            buf_free(&blob);
        }
    }
    /* NULL and empty contexts are the same context. */
    struct buf blob = BUF_INIT(8192);
    assert_true(tr_ok(ciphertext_seal(fx.key_id, 1, fx.material, NULL, big, 10, &blob)));
    assert_opens(blob.data, blob.len, &empty, big, 10);
    assert_rejected(blob.data, blob.len, fx.material, &sm_ctx);
    buf_free(&blob);
}

static void seal_is_randomized_and_appends(void **state)
{
    (void)state;
    struct buf a = BUF_INIT(8192), b = BUF_INIT(8192);
    assert_true(tr_ok(buf_append(&a, "xy", 2)));
    assert_true(tr_ok(ciphertext_seal(fx.key_id, 7, fx.material, &sm_ctx, fx.pt, 20, &a)));
    assert_true(tr_ok(ciphertext_seal(fx.key_id, 7, fx.material, &sm_ctx, fx.pt, 20, &b)));
    assert_int_equal(a.len, 2 + b.len);
    assert_memory_equal(a.data, "xy", 2);
    /* Same header prefix, different salt, iv and body. */
    assert_memory_equal(a.data + 2, b.data, 21);
    assert_memory_not_equal(a.data + 2 + 21, b.data + 21, 16);
    assert_memory_not_equal(a.data + 2 + 37, b.data + 37, 12);
    assert_memory_not_equal(a.data + 2 + HDR, b.data + HDR, 20);
    assert_opens(a.data + 2, a.len - 2, &sm_ctx, fx.pt, 20);
    buf_free(&a);
    buf_free(&b);
}

static void seal_limits(void **state)
{
    (void)state;
    static uint8_t big[CT_MAX_PLAINTEXT + 1];
    struct buf blob = BUF_INIT(8192), small = BUF_INIT(OVERHEAD + 9);
    assert_int_equal(tr_code(ciphertext_seal(fx.key_id, 1, fx.material, NULL, big, sizeof big,
                                             &blob)), TR_E_INTERNAL);
    assert_int_equal(blob.len, 0);
    assert_int_equal(tr_code(ciphertext_seal(NULL, 1, fx.material, NULL, big, 1, &blob)),
                     TR_E_INTERNAL);
    assert_int_equal(tr_code(ciphertext_seal(fx.key_id, 1, NULL, NULL, big, 1, &blob)),
                     TR_E_INTERNAL);
    assert_int_equal(tr_code(ciphertext_seal(fx.key_id, 1, fx.material, NULL, NULL, 1, &blob)),
                     TR_E_INTERNAL);
    /* The output's cap is respected and nothing is appended on failure. */
    assert_int_equal(tr_code(ciphertext_seal(fx.key_id, 1, fx.material, NULL, big, 10, &small)),
                     TR_E_VALIDATION);
    assert_int_equal(small.len, 0);
    assert_true(tr_ok(ciphertext_seal(fx.key_id, 1, fx.material, NULL, big, 9, &small)));
    buf_free(&blob);
    buf_free(&small);
}

/* ---- tampering ---- */

static void flip_every_byte(void **state)
{
    (void)state;
    uint8_t b[sizeof fx.pt + OVERHEAD];
    assert_int_equal(fx.blob.len, sizeof b);
    for (size_t i = 0; i < sizeof b; i++) {
        static const uint8_t masks[] = { 0x01, 0x80, 0xff };
        for (size_t m = 0; m < sizeof masks; m++) {
            memcpy(b, fx.blob.data, sizeof b);
            b[i] ^= masks[m];
            assert_rejected(b, sizeof b, fx.material, &sm_ctx);
        }
    }
    assert_opens(fx.blob.data, fx.blob.len, &sm_ctx, fx.pt, sizeof fx.pt);
}

/* The counters of the per-thread cache of blob keys (ciphertext.c). */
static struct cache_stats blob_key_stats(void)
{
    struct cache_stats st[CACHE_CLASSES_MAX + 4];
    size_t n = cache_stats(st, sizeof st / sizeof st[0]);
    for (size_t i = 0; i < n; i++)
        if (strcmp(st[i].name, "kms-blob-keys") == 0) return st[i];
    return (struct cache_stats){ 0 };
}

/* With the caches on (tresor serve), a blob opened once has its key
 * cached: the second open is a hit, and the cached key changes nothing
 * else -- every flipped byte is still refused (a flipped salt or key id is
 * another entry), other material is refused (the entry is bound to the
 * material it came from), a forged blob never makes an entry, and a
 * wrong context is refused. */
static void cached_blob_keys(void **state)
{
    (void)state;
    uint8_t b[sizeof fx.pt + OVERHEAD], other[32];
    cache_enable(true);
    struct cache_stats s0 = blob_key_stats();
    assert_opens(fx.blob.data, fx.blob.len, &sm_ctx, fx.pt, sizeof fx.pt);
    assert_opens(fx.blob.data, fx.blob.len, &sm_ctx, fx.pt, sizeof fx.pt);
    struct cache_stats s1 = blob_key_stats();
    assert_int_equal(s1.misses - s0.misses, 1);
    assert_int_equal(s1.hits - s0.hits, 1);

    memcpy(other, fx.material, sizeof other);
    other[31] ^= 1;
    assert_rejected(fx.blob.data, fx.blob.len, other, &sm_ctx);
    assert_opens(fx.blob.data, fx.blob.len, &sm_ctx, fx.pt, sizeof fx.pt);
    assert_rejected(fx.blob.data, fx.blob.len, fx.material, &no_ctx);
    for (size_t i = 0; i < sizeof b; i++) {
        memcpy(b, fx.blob.data, sizeof b);
        b[i] ^= 0x01;
        assert_rejected(b, sizeof b, fx.material, &sm_ctx);
    }

    /* A forged blob (another salt: its own entry) is refused twice, both
     * times a miss: nothing was cached from it. */
    memcpy(b, fx.blob.data, sizeof b);
    b[1 + CT_KEY_ID_LEN + 4] ^= 0x01;
    s1 = blob_key_stats();
    assert_rejected(b, sizeof b, fx.material, &sm_ctx);
    assert_rejected(b, sizeof b, fx.material, &sm_ctx);
    struct cache_stats s2 = blob_key_stats();
    assert_int_equal(s2.misses - s1.misses, 2);
    assert_int_equal(s2.hits - s1.hits, 0);
    assert_opens(fx.blob.data, fx.blob.len, &sm_ctx, fx.pt, sizeof fx.pt);
    assert_int_equal(blob_key_stats().hits - s2.hits, 1);
    cache_thread_release();
    cache_enable(false);
}

static pthread_barrier_t forget_sync;

/* Opens the blob (a miss: its own table), waits while the main thread
 * forgets, opens again: a miss, not a hit. */
static void *open_across_a_forget(void *arg)
{
    (void)arg;
    assert_opens(fx.blob.data, fx.blob.len, &sm_ctx, fx.pt, sizeof fx.pt);
    pthread_barrier_wait(&forget_sync);
    pthread_barrier_wait(&forget_sync);         /* forgotten meanwhile */
    struct cache_stats s0 = blob_key_stats();
    assert_opens(fx.blob.data, fx.blob.len, &sm_ctx, fx.pt, sizeof fx.pt);
    struct cache_stats s1 = blob_key_stats();
    assert_int_equal(s1.misses - s0.misses, 1);
    assert_int_equal(s1.hits - s0.hits, 0);
    return NULL;
}

/* ciphertext_forget_keys (a key disabled, scheduled for deletion, its
 * material deleted): the cached blob key is dropped -- wiped, as every
 * dropped entry's secret is (cache_test) -- on this thread at once and on
 * another at its next open, so the next open derives again (a miss). */
static void forgotten_blob_keys(void **state)
{
    (void)state;
    cache_enable(true);
    assert_opens(fx.blob.data, fx.blob.len, &sm_ctx, fx.pt, sizeof fx.pt);
    struct cache_stats s0 = blob_key_stats();
    assert_opens(fx.blob.data, fx.blob.len, &sm_ctx, fx.pt, sizeof fx.pt);
    assert_int_equal(blob_key_stats().hits - s0.hits, 1);
    ciphertext_forget_keys();
    struct cache_stats s1 = blob_key_stats();
    assert_int_equal(s1.stale - s0.stale, 1);
    assert_opens(fx.blob.data, fx.blob.len, &sm_ctx, fx.pt, sizeof fx.pt);
    struct cache_stats s2 = blob_key_stats();
    assert_int_equal(s2.misses - s1.misses, 1);
    assert_int_equal(s2.hits - s1.hits, 0);

    /* Another thread's entry, forgotten from here: its next open misses. */
    pthread_t t;
    assert_int_equal(pthread_barrier_init(&forget_sync, NULL, 2), 0);
    assert_int_equal(pthread_create(&t, NULL, open_across_a_forget, NULL), 0);
    pthread_barrier_wait(&forget_sync);
    ciphertext_forget_keys();
    pthread_barrier_wait(&forget_sync);
    assert_int_equal(pthread_join(t, NULL), 0);
    pthread_barrier_destroy(&forget_sync);
    cache_thread_release();
    cache_enable(false);
}

static void truncate_and_extend(void **state)
{
    (void)state;
    uint8_t b[sizeof fx.pt + OVERHEAD + 1];
    memcpy(b, fx.blob.data, fx.blob.len);
    for (size_t len = 0; len < fx.blob.len; len++)
        assert_rejected(b, len, fx.material, &sm_ctx);
    /* Trailing garbage, and the front cut instead of the back. */
    b[fx.blob.len] = 0;
    assert_rejected(b, fx.blob.len + 1, fx.material, &sm_ctx);
    for (size_t cut = 1; cut < fx.blob.len; cut++)
        assert_rejected(fx.blob.data + cut, fx.blob.len - cut, fx.material, &sm_ctx);
    assert_rejected(NULL, 0, fx.material, &sm_ctx);
}

static void wrong_context(void **state)
{
    (void)state;
    const uint8_t *b = fx.blob.data;
    size_t n = fx.blob.len;

    /* Same pairs in another order: the same canonical context. */
    struct enc_pair swapped[] = { sm_pairs[1], sm_pairs[0] };
    struct enc_ctx reordered = { swapped, 2 };
    assert_opens(b, n, &reordered, fx.pt, sizeof fx.pt);

    struct enc_pair changed[] = { sm_pairs[0], { "SecretVersionId", "0f6a7e5c-6a3a-4d8f-9a4e-2b9c1d0e7f12" } };
    assert_rejected(b, n, fx.material, &(struct enc_ctx){ changed, 2 });

    struct enc_pair extra[] = { sm_pairs[0], sm_pairs[1], { "Purpose", "test" } };
    assert_rejected(b, n, fx.material, &(struct enc_ctx){ extra, 3 });

    assert_rejected(b, n, fx.material, &(struct enc_ctx){ sm_pairs, 1 });
    assert_rejected(b, n, fx.material, &(struct enc_ctx){ sm_pairs + 1, 1 });
    assert_rejected(b, n, fx.material, NULL);
    assert_rejected(b, n, fx.material, &(struct enc_ctx){ NULL, 0 });

    /* A value moved into a key, case changed, an empty value. */
    struct enc_pair renamed[] = { { "SecretArn", sm_pairs[0].value }, sm_pairs[1] };
    assert_rejected(b, n, fx.material, &(struct enc_ctx){ renamed, 2 });
    struct enc_pair emptyv[] = { sm_pairs[0], { "SecretVersionId", "" } };
    assert_rejected(b, n, fx.material, &(struct enc_ctx){ emptyv, 2 });

    /* Duplicate keys cannot be canonical: refused, still InvalidCiphertext. */
    struct enc_pair dup[] = { sm_pairs[0], sm_pairs[1], sm_pairs[1] };
    assert_rejected(b, n, fx.material, &(struct enc_ctx){ dup, 3 });
}

/* Boundaries between pairs are unambiguous: {"ab":"c"} != {"a":"bc"}. */
static void context_boundaries(void **state)
{
    (void)state;
    struct enc_pair p1[] = { { "ab", "c" } }, p2[] = { { "a", "bc" } };
    struct enc_pair p3[] = { { "a", "b" }, { "c", "" } }, p4[] = { { "a", "bc" }, { "", "" } };
    struct buf blob = BUF_INIT(8192);
    assert_true(tr_ok(ciphertext_seal(fx.key_id, 1, fx.material, &(struct enc_ctx){ p1, 1 },
                                      fx.pt, 5, &blob)));
    assert_rejected(blob.data, blob.len, fx.material, &(struct enc_ctx){ p2, 1 });
    buf_free(&blob);
    assert_true(tr_ok(ciphertext_seal(fx.key_id, 1, fx.material, &(struct enc_ctx){ p3, 2 },
                                      fx.pt, 5, &blob)));
    assert_rejected(blob.data, blob.len, fx.material, &(struct enc_ctx){ p4, 2 });
    assert_opens(blob.data, blob.len, &(struct enc_ctx){ p3, 2 }, fx.pt, 5);
    buf_free(&blob);
}

static void wrong_material_and_key_id(void **state)
{
    (void)state;
    uint8_t other[32];
    memcpy(other, fx.material, sizeof other);
    for (size_t i = 0; i < sizeof other; i++) {
        other[i] ^= 0x01;
        assert_rejected(fx.blob.data, fx.blob.len, other, &sm_ctx);
        other[i] ^= 0x01;
    }

    /* The header names another (valid) key id. */
    uint8_t b[sizeof fx.pt + OVERHEAD], other_id[CT_KEY_ID_LEN];
    assert_true(tr_ok(uuid_to_bytes(other_uuid, other_id)));
    memcpy(b, fx.blob.data, sizeof b);
    memcpy(b + 1, other_id, CT_KEY_ID_LEN);
    assert_rejected(b, sizeof b, fx.material, &sm_ctx);

    /* Another material version number. */
    memcpy(b, fx.blob.data, sizeof b);
    b[20] = 8;
    assert_rejected(b, sizeof b, fx.material, &sm_ctx);

    /* Sealed under another key id with the same material: a different key. */
    struct buf blob = BUF_INIT(8192);
    assert_true(tr_ok(ciphertext_seal(other_id, 7, fx.material, &sm_ctx, fx.pt, 10, &blob)));
    memcpy(blob.data + 1, fx.key_id, CT_KEY_ID_LEN);
    assert_rejected(blob.data, blob.len, fx.material, &sm_ctx);
    buf_free(&blob);
}

/* A hand-edited struct ct_blob whose fields disagree with its header. */
static void inconsistent_struct(void **state)
{
    (void)state;
    struct ct_blob ct;
    struct buf pt = BUF_SECRET(8192);
    assert_true(tr_ok(ciphertext_parse(fx.blob.data, fx.blob.len, &ct)));

    struct ct_blob bad = ct;
    bad.key_id[0] ^= 1;
    assert_int_equal(tr_code(ciphertext_open(&bad, fx.material, &sm_ctx, &pt)),
                     TR_E_KMS_INVALID_CIPHERTEXT);
    bad = ct;
    bad.material_version++;
    assert_int_equal(tr_code(ciphertext_open(&bad, fx.material, &sm_ctx, &pt)),
                     TR_E_KMS_INVALID_CIPHERTEXT);
    bad = ct;
    bad.version = 2;
    assert_int_equal(tr_code(ciphertext_open(&bad, fx.material, &sm_ctx, &pt)),
                     TR_E_KMS_INVALID_CIPHERTEXT);
    bad = ct;
    bad.tag = NULL;
    assert_int_equal(tr_code(ciphertext_open(&bad, fx.material, &sm_ctx, &pt)),
                     TR_E_KMS_INVALID_CIPHERTEXT);
    assert_int_equal(tr_code(ciphertext_open(NULL, fx.material, &sm_ctx, &pt)),
                     TR_E_KMS_INVALID_CIPHERTEXT);
    assert_int_equal(tr_code(ciphertext_open(&ct, NULL, &sm_ctx, &pt)),
                     TR_E_KMS_INVALID_CIPHERTEXT);
    assert_int_equal(pt.len, 0);

    /* An output too small for the plaintext is the same failure. */
    struct buf tiny = BUF_SECRET(10);
    assert_int_equal(tr_code(ciphertext_open(&ct, fx.material, &sm_ctx, &tiny)),
                     TR_E_KMS_INVALID_CIPHERTEXT);
    assert_int_equal(tiny.len, 0);
    assert_true(tr_ok(ciphertext_open(&ct, fx.material, &sm_ctx, &pt)));
    assert_int_equal(pt.len, sizeof fx.pt);
    buf_free(&tiny);
    buf_free(&pt);
}

static void parse_limits(void **state)
{
    (void)state;
    static uint8_t b[OVERHEAD + CT_MAX_PLAINTEXT + 1];
    struct ct_blob ct;
    b[0] = 1;
    assert_true(tr_ok(ciphertext_parse(b, OVERHEAD, &ct)));       /* empty body parses */
    assert_int_equal(ct.body_len, 0);
    assert_true(tr_ok(ciphertext_parse(b, OVERHEAD + CT_MAX_PLAINTEXT, &ct)));
    assert_int_equal(tr_code(ciphertext_parse(b, sizeof b, &ct)), TR_E_KMS_INVALID_CIPHERTEXT);
    assert_int_equal(tr_code(ciphertext_parse(b, OVERHEAD - 1, &ct)),
                     TR_E_KMS_INVALID_CIPHERTEXT);
    for (int v = 0; v < 256; v++) {
        if (v == CT_V1 || v == CT_V1_MRK) continue;
        b[0] = (uint8_t)v;
        assert_int_equal(tr_code(ciphertext_parse(b, OVERHEAD + 1, &ct)),
                         TR_E_KMS_INVALID_CIPHERTEXT);
    }
    assert_int_equal(tr_code(ciphertext_parse(b, 1, NULL)), TR_E_KMS_INVALID_CIPHERTEXT);
}

/* ---- the canonical context, byte for byte ---- */

static void canonical_encoding(void **state)
{
    (void)state;
    struct buf out = BUF_INIT(1024);
    assert_true(tr_ok(enc_ctx_canonical(NULL, &out)));
    assert_int_equal(out.len, 4);
    assert_memory_equal(out.data, "\0\0\0\0", 4);
    buf_reset(&out);

    struct enc_pair p[] = { { "b", "2" }, { "a", "11" }, { "B", "" } };
    assert_true(tr_ok(enc_ctx_canonical(&(struct enc_ctx){ p, 3 }, &out)));
    static const uint8_t want[] = {
        0, 0, 0, 3,
        0, 0, 0, 1, 'B', 0, 0, 0, 0,
        0, 0, 0, 1, 'a', 0, 0, 0, 2, '1', '1',
        0, 0, 0, 1, 'b', 0, 0, 0, 1, '2',
    };
    assert_int_equal(out.len, sizeof want);
    assert_memory_equal(out.data, want, sizeof want);

    /* Appends; byte order, so a UTF-8 key sorts after ASCII. */
    struct enc_pair q[] = { { "\xc3\xa9", "x" }, { "z", "y" } };
    assert_true(tr_ok(enc_ctx_canonical(&(struct enc_ctx){ q, 2 }, &out)));
    assert_int_equal(out.len, sizeof want + 4 + 10 + 11);
    assert_memory_equal(out.data + sizeof want + 4, "\0\0\0\x01z\0\0\0\x01y", 10);

    /* Duplicate keys and NULL strings are refused; out keeps its length. */
    uint32_t len = out.len;
    struct enc_pair d[] = { { "k", "1" }, { "k", "2" } };
    assert_int_equal(tr_code(enc_ctx_canonical(&(struct enc_ctx){ d, 2 }, &out)), TR_E_VALIDATION);
    assert_int_equal(out.len, len);
    struct enc_pair nul[] = { { "k", NULL } };
    assert_int_equal(tr_code(enc_ctx_canonical(&(struct enc_ctx){ nul, 1 }, &out)), TR_E_INTERNAL);
    assert_int_equal(tr_code(enc_ctx_canonical(&(struct enc_ctx){ NULL, 1 }, &out)), TR_E_INTERNAL);
    assert_int_equal(out.len, len);
    buf_free(&out);
}

/* ---- conformance with docs/internals/CIPHERTEXT.md ---- */

static void derive_by_spec(const uint8_t *hdr, uint8_t key[32])
{
    uint8_t info[13 + 16 + 4];
    memcpy(info, "tresor/kms/v1", 13);
    memcpy(info + 13, hdr + 1, 20);              /* key_id | material_version */
    assert_true(tr_ok(hkdf_sha256(fx.material, 32, hdr + 21, 16, info, sizeof info, key, 32)));
}

/* Build a blob by hand from the spec; ciphertext_open must accept it. */
static void spec_blob_opens(void **state)
{
    (void)state;
    uint8_t blob[HDR + 5 + 16], key[32];
    struct buf aad = BUF_INIT(4096);
    blob[0] = 0x01;
    memcpy(blob + 1, fx.key_id, 16);
    memcpy(blob + 17, "\x00\x01\x02\x03", 4);
    for (int i = 0; i < 28; i++) blob[21 + i] = (uint8_t)(0xa0 + i);   /* salt | iv */
    derive_by_spec(blob, key);
    assert_true(tr_ok(buf_append(&aad, blob, HDR)));
    assert_true(tr_ok(enc_ctx_canonical(&sm_ctx, &aad)));
    assert_true(tr_ok(aead_seal(key, blob + 37, aad.data, aad.len, (const uint8_t *)"hello", 5,
                                blob + HDR, blob + HDR + 5)));
    assert_opens(blob, sizeof blob, &sm_ctx, (const uint8_t *)"hello", 5);

    struct ct_blob ct;
    assert_true(tr_ok(ciphertext_parse(blob, sizeof blob, &ct)));
    assert_int_equal(ct.material_version, 0x00010203);
    buf_free(&aad);
}

/* And a blob from ciphertext_seal opens by hand from the spec. */
static void sealed_blob_opens_by_spec(void **state)
{
    (void)state;
    const uint8_t *b = fx.blob.data;
    uint8_t key[32], pt[sizeof fx.pt];
    struct buf aad = BUF_INIT(4096);
    derive_by_spec(b, key);
    assert_true(tr_ok(buf_append(&aad, b, HDR)));
    assert_true(tr_ok(enc_ctx_canonical(&sm_ctx, &aad)));
    assert_true(tr_ok(aead_open(key, b + 37, aad.data, aad.len, b + HDR, sizeof fx.pt,
                                b + fx.blob.len - 16, pt)));
    assert_memory_equal(pt, fx.pt, sizeof pt);
    buf_free(&aad);
}

/* ---- key ids ---- */

static void uuid_conversions(void **state)
{
    (void)state;
    uint8_t raw[CT_KEY_ID_LEN];
    char text[37];
    assert_true(tr_ok(uuid_to_bytes(key_uuid, raw)));
    assert_memory_equal(raw, "\x12\x34\xab\xcd\x12\xab\x34\xcd\x56\xef\x12\x34\x56\x78\x90\xab", 16);
    uuid_from_bytes(raw, text);
    assert_string_equal(text, key_uuid);

    /* Upper case is read; output is always lower case. */
    assert_true(tr_ok(uuid_to_bytes("1234ABCD-12AB-34CD-56EF-1234567890AB", raw)));
    uuid_from_bytes(raw, text);
    assert_string_equal(text, key_uuid);

    uint8_t zero[CT_KEY_ID_LEN] = { 0 };
    uuid_from_bytes(zero, text);
    assert_string_equal(text, "00000000-0000-0000-0000-000000000000");

    static const char *bad[] = {
        "", "1234abcd", "1234abcd-12ab-34cd-56ef-1234567890a",
        "1234abcd-12ab-34cd-56ef-1234567890abc", "1234abcd12ab-34cd-56ef-1234567890ab0",
        "1234abcd-12ab-34cd-56ef_1234567890ab", "1234abcg-12ab-34cd-56ef-1234567890ab",
        " 234abcd-12ab-34cd-56ef-1234567890ab", "1234abcd-12ab-34cd-56ef-1234567890a ",
        "alias/aws/secretsmanager", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "{1234abcd-12ab-34cd-56ef-1234567890ab}", "1234abcd-12ab-34cd-56ef-12345678-0ab",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tr_result r = uuid_to_bytes(bad[i], raw);
        assert_int_equal(tr_code(r), TR_E_KMS_NOT_FOUND);
        assert_true(tr_last_error()->has_message);
        assert_non_null(strstr(tr_last_error()->message, "Invalid keyId"));
    }
    assert_int_equal(tr_code(uuid_to_bytes(NULL, raw)), TR_E_INTERNAL);
}

/* A multi-Region key id: "mrk-" + 32 lowercase hex <-> CT_V1_MRK and its
 * 16 bytes; a blob sealed with it says CT_V1_MRK, opens, and does not
 * open once its version byte claims a UUID key (the header is AAD). */
static void mrk_key_ids(void **state)
{
    (void)state;
    static const char mrk[] = "mrk-1234abcd12ab34cd56ef1234567890ab";
    uint8_t raw[CT_KEY_ID_LEN], ver = 0;
    char text[37];
    assert_true(tr_ok(ct_key_id_to_bytes(mrk, &ver, raw)));
    assert_int_equal(ver, CT_V1_MRK);
    assert_memory_equal(raw, "\x12\x34\xab\xcd\x12\xab\x34\xcd\x56\xef\x12\x34\x56\x78\x90\xab", 16);
    ct_key_id_from_bytes(ver, raw, text);
    assert_string_equal(text, mrk);
    /* The same bytes as a UUID key: the version tells them apart. */
    ct_key_id_from_bytes(CT_V1, raw, text);
    assert_string_equal(text, key_uuid);
    assert_true(tr_ok(ct_key_id_to_bytes(key_uuid, &ver, raw)));
    assert_int_equal(ver, CT_V1);

    static const char *bad[] = {
        "mrk-", "mrk-1234abcd12ab34cd56ef1234567890a", "mrk-1234abcd12ab34cd56ef1234567890abc",
        "mrk-1234ABCD12ab34cd56ef1234567890ab", "mrk-1234abcd12ab34cd56ef1234567890ag",
        "mrk_1234abcd12ab34cd56ef1234567890ab", "mrk-1234abcd-12ab-34cd-56ef-1234567890",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(tr_code(ct_key_id_to_bytes(bad[i], &ver, raw)), TR_E_KMS_NOT_FOUND);
        assert_non_null(strstr(tr_last_error()->message, "Invalid keyId"));
    }
    assert_int_equal(tr_code(ct_key_id_to_bytes(NULL, &ver, raw)), TR_E_INTERNAL);

    struct buf blob = BUF_INIT(1 << 16), pt = BUF_SECRET(64);
    assert_true(tr_ok(ct_key_id_to_bytes(mrk, &ver, raw)));
    assert_true(tr_ok(ciphertext_seal_as(ver, raw, 3, fx.material, &sm_ctx, fx.pt, 10, &blob)));
    struct ct_blob ct;
    assert_true(tr_ok(ciphertext_parse(blob.data, blob.len, &ct)));
    assert_int_equal(ct.version, CT_V1_MRK);
    ct_key_id_from_bytes(ct.version, ct.key_id, text);
    assert_string_equal(text, mrk);
    assert_true(tr_ok(ciphertext_open(&ct, fx.material, &sm_ctx, &pt)));
    assert_memory_equal(pt.data, fx.pt, 10);
    pt.len = 0;
    /* Tamper: the version byte flipped to a UUID key's, or to one unknown. */
    blob.data[0] = CT_V1;
    assert_true(tr_ok(ciphertext_parse(blob.data, blob.len, &ct)));
    assert_int_equal(tr_code(ciphertext_open(&ct, fx.material, &sm_ctx, &pt)),
                     TR_E_KMS_INVALID_CIPHERTEXT);
    assert_int_equal(pt.len, 0);
    blob.data[0] = 0x03;
    assert_int_equal(tr_code(ciphertext_parse(blob.data, blob.len, &ct)), TR_E_KMS_INVALID_CIPHERTEXT);
    /* An unknown version is refused by the sealer too. */
    assert_int_equal(tr_code(ciphertext_seal_as(0x03, raw, 1, fx.material, NULL, fx.pt, 1, &blob)),
                     TR_E_INTERNAL);
    buf_free(&blob);
    buf_free(&pt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(mrk_key_ids),
        cmocka_unit_test(round_trip_sizes_and_contexts),
        cmocka_unit_test(seal_is_randomized_and_appends),
        cmocka_unit_test(seal_limits),
        cmocka_unit_test(flip_every_byte),
        cmocka_unit_test(cached_blob_keys),
        cmocka_unit_test(forgotten_blob_keys),
        cmocka_unit_test(truncate_and_extend),
        cmocka_unit_test(wrong_context),
        cmocka_unit_test(context_boundaries),
        cmocka_unit_test(wrong_material_and_key_id),
        cmocka_unit_test(inconsistent_struct),
        cmocka_unit_test(parse_limits),
        cmocka_unit_test(canonical_encoding),
        cmocka_unit_test(spec_blob_opens),
        cmocka_unit_test(sealed_blob_opens_by_spec),
        cmocka_unit_test(uuid_conversions),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    crypto_thread_cleanup();
    return rc;
}
