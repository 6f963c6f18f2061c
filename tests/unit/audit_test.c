/*
 * audit_test.c -- the audit log (src/audit/): Ed25519 signing, the keys
 * wrapped under the root key, the HMAC of sensitive members, the writer's
 * chain and checkpoints, and audit_verify's tamper cases: every byte of a
 * line flipped, lines removed, swapped, duplicated, a cut tail, an
 * unsigned tail, a signature under another key.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "core/hex.h"
#include "crypto/ed25519.h"
#include "crypto/keyring.h"

static char dir[64];
static char logpath[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/audit_test.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(logpath, sizeof logpath, "%s/audit.log", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct keyring *test_keyring(uint8_t fill)
{
    uint8_t root[32];
    memset(root, fill, sizeof root);
    struct keyring *kr = NULL;
    assert_true(tr_ok(keyring_from_bytes(root, &kr)));
    return kr;
}

static void ed25519_sign_verify(void **state)
{
    (void)state;
    uint8_t seed[32], sig[64];
    memset(seed, 7, sizeof seed);
    struct buf pem = BUF_INIT(4096);
    assert_true(tr_ok(ed25519_public_pem(seed, &pem)));
    assert_true(tr_ok(ed25519_sign(seed, "hello", 5, sig)));
    assert_true(ed25519_verify_pem((char *)pem.data, pem.len, "hello", 5, sig));
    assert_false(ed25519_verify_pem((char *)pem.data, pem.len, "hellp", 5, sig));
    for (size_t i = 0; i < sizeof sig; i++) {
        sig[i] ^= 1;
        assert_false(ed25519_verify_pem((char *)pem.data, pem.len, "hello", 5, sig));
        sig[i] ^= 1;
    }
    assert_false(ed25519_verify_pem("not a key", 9, "hello", 5, sig));
    buf_free(&pem);
}

static void keys_wrapped_and_reloaded(void **state)
{
    (void)state;
    struct keyring *kr = test_keyring(1), *other = test_keyring(2);
    struct audit_keys *a = NULL, *b = NULL, *c = NULL;
    assert_true(tr_failed(audit_keys_load(dir, kr, false, &a)));      /* none yet, not asked to make */
    assert_true(tr_ok(audit_keys_load(dir, kr, true, &a)));
    assert_true(tr_ok(audit_keys_load(dir, kr, false, &b)));
    assert_memory_equal(a->sign, b->sign, 32);
    assert_memory_equal(a->hmac, b->hmac, 32);
    assert_memory_not_equal(a->sign, a->hmac, 32);
    assert_true(tr_failed(audit_keys_load(dir, other, false, &c)));   /* another root key */
    assert_null(c);
    audit_keys_free(a);
    audit_keys_free(b);
    keyring_free(kr);
    keyring_free(other);
}

static void hmac_text(void **state)
{
    (void)state;
    uint8_t key[32], mac[32];
    char out[AUDIT_HMAC_TEXT_LEN], want[AUDIT_HMAC_TEXT_LEN];
    memset(key, 3, sizeof key);
    assert_true(tr_ok(audit_hmac_text(key, "v", 1, out)));
    assert_true(tr_ok(hmac_sha256(key, 32, "v", 1, mac)));
    memcpy(want, "hmac-sha256:", 12);
    hex_encode(mac, 32, want + 12);
    assert_string_equal(out, want);
    assert_true(audit_member_is_blob("Plaintext"));
    assert_false(audit_member_is_blob("SecretString"));
}

/* A log of `n` request lines written through the writer, closed cleanly;
 * returns its lines (NUL-separated copies in a malloc'd array). */
static size_t write_log(unsigned n, unsigned every, char ***lines)
{
    unlink(logpath);
    struct keyring *kr = test_keyring(1);
    struct audit_log *log = NULL;
    struct audit_opts o = { .path = logpath, .data_dir = dir, .checkpoint_every = every };
    char head[160];
    snprintf(head, sizeof head, "%s/audit.head", dir);
    unlink(head);
    assert_true(tr_ok(audit_open(&o, kr, &log)));
    for (unsigned i = 0; i < n; i++) {
        json_t *in = json_pack("{s:s, s:s}", "SecretId", "s", "SecretString", "hunter2");
        struct audit_req q = { .log = log, .request_id = "r", .source_ip = "127.0.0.1", .operation = "op",
                               .action = "secretsmanager:PutSecretValue", .input = in, .reached = true };
        audit_req_note(&q, json_pack("{s:s}", "decision", "allow"), false, "arn:x");
        assert_true(tr_ok(audit_req_write(&q, NULL)));
        audit_req_free(&q);
        json_decref(in);
    }
    audit_close(log);
    keyring_free(kr);
    FILE *f = fopen(logpath, "r");
    assert_non_null(f);
    size_t cnt = 0, cap = 0;
    char *line = NULL;
    *lines = NULL;
    while (getline(&line, &cap, f) > 0) {
        *lines = realloc(*lines, (cnt + 1) * sizeof **lines);
        (*lines)[cnt++] = strdup(line);
    }
    free(line);
    fclose(f);
    return cnt;
}

static void put(const char *path, char **lines, size_t n)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++) fputs(lines[i], f);
    fclose(f);
}

static int check(const char *path, char *why, size_t nwhy)
{
    char pubpath[160];
    snprintf(pubpath, sizeof pubpath, "%s/audit.pub", dir);
    FILE *f = fopen(pubpath, "r");
    assert_non_null(f);
    char pem[1024];
    size_t n = fread(pem, 1, sizeof pem, f);
    fclose(f);
    uint64_t lines = 0;
    const char *files[] = { path };
    return audit_verify(files, 1, pem, n, why, nwhy, &lines);
}

static void free_lines(char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++) free(lines[i]);
    free(lines);
}

static void chain_and_tamper(void **state)
{
    (void)state;
    char **l;
    char why[1400], path[160];
    size_t n = write_log(7, 3, &l);
    /* start, 3 requests, interval, 3 requests, interval, 1 request, stop */
    assert_int_equal(n, 11);
    assert_non_null(strstr(l[0], "\"reason\":\"start\""));
    assert_non_null(strstr(l[4], "\"reason\":\"interval\""));
    assert_non_null(strstr(l[10], "\"reason\":\"stop\""));
    assert_null(strstr(l[1], "hunter2"));
    assert_non_null(strstr(l[1], "\"SecretString\":\"hmac-sha256:"));
    snprintf(path, sizeof path, "%s/t.log", dir);
    put(path, l, n);
    assert_int_equal(check(path, why, sizeof why), 0);

    /* every byte of every line, flipped (newlines excepted): caught */
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(l[i]);
        for (size_t k = 0; k + 1 < len; k++) {
            l[i][k] ^= 0x01;
            put(path, l, n);
            assert_int_equal(check(path, why, sizeof why), 1);
            l[i][k] ^= 0x01;
        }
    }
    /* removed, swapped, duplicated */
    for (size_t i = 1; i < n; i++) {
        char *saved[16];
        memcpy(saved, l, n * sizeof *l);
        memmove(saved + i, saved + i + 1, (n - i - 1) * sizeof *l);
        put(path, saved, n - 1);
        assert_int_equal(check(path, why, sizeof why), 1);
    }
    for (size_t i = 0; i + 1 < n; i++) {
        char *t = l[i];
        l[i] = l[i + 1];
        l[i + 1] = t;
        put(path, l, n);
        assert_int_equal(check(path, why, sizeof why), 1);
        l[i + 1] = l[i];
        l[i] = t;
    }
    char *dup[16];
    memcpy(dup, l, 3 * sizeof *l);
    memcpy(dup + 3, l + 2, (n - 2) * sizeof *l);
    put(path, dup, n + 1);
    assert_int_equal(check(path, why, sizeof why), 1);
    assert_non_null(strstr(why, "inserted or reordered"));
    /* unsigned tail; cut tail */
    put(path, l, n - 1);
    assert_int_equal(check(path, why, sizeof why), 1);
    assert_non_null(strstr(why, "unsigned tail"));
    char *cut = strdup(l[n - 1]);
    cut[strlen(cut) - 3] = '\0';
    char *cl[16];
    memcpy(cl, l, (n - 1) * sizeof *l);
    cl[n - 1] = cut;
    put(path, cl, n);
    assert_int_equal(check(path, why, sizeof why), 1);
    assert_non_null(strstr(why, "cut line"));
    free(cut);
    free_lines(l, n);
}

static void continues_after_restart(void **state)
{
    (void)state;
    char **l;
    size_t n = write_log(2, 1000, &l);
    free_lines(l, n);
    /* a second run appends: the chain continues from the file's last line */
    struct keyring *kr = test_keyring(1);
    struct audit_log *log = NULL;
    struct audit_opts o = { .path = logpath, .data_dir = dir, .checkpoint_every = 1000 };
    tr_result r = audit_open(&o, kr, &log);
    if (tr_failed(r)) fprintf(stderr, "%s\n", tr_last_error()->message);
    assert_true(tr_ok(r));
    audit_close(log);
    keyring_free(kr);
    char why[1400];
    assert_int_equal(check(logpath, why, sizeof why), 0);
    /* a cut last line is refused at start */
    FILE *f = fopen(logpath, "a");
    fputs("{\"seq\":", f);
    fclose(f);
    kr = test_keyring(1);
    assert_true(tr_failed(audit_open(&o, kr, &log)));
    keyring_free(kr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ed25519_sign_verify),
        cmocka_unit_test(keys_wrapped_and_reloaded),
        cmocka_unit_test(hmac_text),
        cmocka_unit_test(chain_and_tamper),
        cmocka_unit_test(continues_after_restart),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    crypto_thread_cleanup();
    return rc;
}
