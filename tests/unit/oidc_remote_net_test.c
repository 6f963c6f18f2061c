/*
 * oidc_remote_net_test.c -- oidc/remote.c against a real HTTPS issuer on
 * loopback: tests/e2e/oidc_issuer.py, started here with Debian's python3
 * (python3-cryptography), which makes its own CA and serves one issuer
 * per case (its scenarios()), logging every request it answers.
 *
 * Cases: the happy path (trusted through --oidc-ca-file alone: the CA is
 * in no system store), an issuer with a trailing slash, the discovery
 * document naming another issuer, an http jwks_uri, a redirect to http,
 * an untrusted certificate, a certificate for another name, 404, a JWKS
 * over 1 MiB, a JWKS that is not JSON or has no keys, max-age honoured
 * (the server counts requests), no-store, refresh rate-limited, a failure
 * not retried within the gap, one fetch for many threads, and the stale
 * copy kept (then dropped) once the server is gone; with
 * --oidc-allowed-issuers, a jwks_uri or a redirect on a host off the list
 * refused, a redirect within it followed, at most 3 redirects.  Time passes through
 * the cache's clock hook, never by waiting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "oidc/remote.h"
#include "oidc/remote_config.h"

#define ISSUER_PY TR_TESTDATA_DIR "/../e2e/oidc_issuer.py"

static char dir[64];
static char ca[128];
static int port;
static pid_t server = -1;
static int64_t fake_now;

static int64_t fake_clock(void) { return fake_now; }

static void path_in_dir(char *out, size_t cap, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    assert_true(n > 0 && (size_t)n < cap);
}

static int start_server(void **state)
{
    (void)state;
    memcpy(dir, "/tmp/oidc_net_test.XXXXXX", 26);
    if (!mkdtemp(dir)) return -1;
    server = fork();
    if (server < 0) return -1;
    if (server == 0) {
        execl("/usr/bin/python3", "python3", ISSUER_PY, dir, (char *)NULL);
        _exit(127);
    }
    char port_path[128];
    path_in_dir(port_path, sizeof port_path, "port");
    /* Ready when it has written its port: up to 60 s on a loaded machine. */
    for (int i = 0; i < 600; i++) {
        FILE *f = fopen(port_path, "r");
        if (f) {
            int ok = fscanf(f, "%d", &port) == 1;
            fclose(f);
            if (ok) break;
        }
        int st;
        if (waitpid(server, &st, WNOHANG) == server) { server = -1; return -1; }
        struct timespec ts = { 0, 100 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    if (port <= 0) return -1;
    path_in_dir(ca, sizeof ca, "ca.pem");
    return 0;
}

static void stop_server(void)
{
    if (server > 0) {
        kill(server, SIGTERM);
        waitpid(server, NULL, 0);
        server = -1;
    }
}

static int cleanup(void **state)
{
    (void)state;
    stop_server();
    oidc_remote_shutdown();
    char cmd[128];
    int n = snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (n > 0 && (size_t)n < sizeof cmd && system(cmd) != 0) return -1;
    return 0;
}

/* Each case: a fresh cache trusting the issuer's CA, the clock at 1000. */
static int fresh(void **state)
{
    (void)state;
    char err[256];
    oidc_remote_shutdown();
    if (oidc_remote_init(ca, err, sizeof err) != 0) return -1;
    fake_now = 1000;
    oidc_remote_set_clock(fake_clock);
    oidc_remote_set_timeouts(60000, 120000);       /* under valgrind a handshake takes seconds */
    return 0;
}

/* The requests the server answered for path. */
static int count(const char *path)
{
    char log[128], line[512], want[512];
    path_in_dir(log, sizeof log, "requests.log");
    int n = snprintf(want, sizeof want, "GET %s\n", path);
    assert_true(n > 0 && (size_t)n < sizeof want);
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    int c = 0;
    while (fgets(line, sizeof line, f))
        if (strcmp(line, want) == 0) c++;
    fclose(f);
    return c;
}

static const char *issuer(const char *host, const char *name)
{
    static char buf[256];
    int n = snprintf(buf, sizeof buf, "https://%s:%d/%s", host, port, name);
    assert_true(n > 0 && (size_t)n < sizeof buf);
    return buf;
}

/* oidc_remote_jwks of localhost's issuer `name`: OK with one key. */
static void get_ok(const char *name, int refresh)
{
    json_t *jwks = NULL;
    char why[512] = "";
    int rc = oidc_remote_jwks(issuer("localhost", name), refresh, &jwks, why, sizeof why);
    if (rc != OIDC_REMOTE_OK) fail_msg("%s: %s", name, why);
    assert_non_null(jwks);
    json_t *keys = json_object_get(jwks, "keys");
    assert_int_equal(json_array_size(keys), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(keys, 0), "kid")), "key-1");
    json_decref(jwks);
}

/* UNAVAILABLE, with `expect` in why. */
static void get_fails(const char *iss, const char *expect)
{
    json_t *jwks = NULL;
    char why[512] = "";
    assert_int_equal(oidc_remote_jwks(iss, 0, &jwks, why, sizeof why), OIDC_REMOTE_UNAVAILABLE);
    assert_null(jwks);
    if (!strstr(why, expect)) fail_msg("%s: \"%s\" lacks \"%s\"", iss, why, expect);
}

static void test_happy_path_private_ca(void **state)
{
    (void)state;
    get_ok("ok", 0);
    assert_int_equal(count("/ok/.well-known/openid-configuration"), 1);
    assert_int_equal(count("/ok/jwks"), 1);
    /* the caller owns its copy: changing it changes nothing cached */
    json_t *jwks = NULL;
    char why[256];
    assert_int_equal(oidc_remote_jwks(issuer("localhost", "ok"), 0, &jwks, why, sizeof why), OIDC_REMOTE_OK);
    json_array_clear(json_object_get(jwks, "keys"));
    json_decref(jwks);
    get_ok("ok", 0);
}

static void test_trailing_slash(void **state)
{
    (void)state;
    char iss[256];
    int n = snprintf(iss, sizeof iss, "%s/", issuer("localhost", "slash"));
    assert_true(n > 0 && (size_t)n < sizeof iss);
    json_t *jwks = NULL;
    char why[256] = "";
    if (oidc_remote_jwks(iss, 0, &jwks, why, sizeof why) != OIDC_REMOTE_OK) fail_msg("%s", why);
    json_decref(jwks);
    assert_int_equal(count("/slash/.well-known/openid-configuration"), 1);
    /* without the slash the discovery document's issuer is not the token's */
    get_fails(issuer("localhost", "slash"), "issuer is not the token's");
}

static void test_issuer_mismatch(void **state)
{
    (void)state;
    get_fails(issuer("localhost", "mismatch"), "the discovery document's issuer is not the token's");
    assert_int_equal(count("/mismatch/jwks"), 0);
}

static void test_http_jwks_uri_refused(void **state)
{
    (void)state;
    get_fails(issuer("localhost", "httpjwks"), "jwks_uri is not an https URL");
    assert_int_equal(count("/httpjwks/jwks"), 0);
}

static void test_redirect_to_http_refused(void **state)
{
    (void)state;
    int before = count("/ok/jwks");
    get_fails(issuer("localhost", "redirect"), "/redirect/jwks");
    assert_int_equal(count("/redirect/jwks"), 1);
    assert_int_equal(count("/ok/jwks"), before);
}

static void test_untrusted_certificate_refused(void **state)
{
    (void)state;
    char err[256];
    oidc_remote_shutdown();
    assert_int_equal(oidc_remote_init(NULL, err, sizeof err), 0);      /* the system's store only */
    int before = count("/ok/.well-known/openid-configuration");
    get_fails(issuer("localhost", "ok"), "certificate");
    assert_int_equal(count("/ok/.well-known/openid-configuration"), before);
}

static void test_wrong_hostname_refused(void **state)
{
    (void)state;
    int before = count("/ok/.well-known/openid-configuration");
    get_fails(issuer("127.0.0.1", "ok"), "127.0.0.1");
    assert_int_equal(count("/ok/.well-known/openid-configuration"), before);
}

static void test_not_found(void **state)
{
    (void)state;
    get_fails(issuer("localhost", "missing"), "HTTP status 404, not 200");
    assert_int_equal(count("/missing/.well-known/openid-configuration"), 1);
    /* not asked again within the gap, however often asked */
    get_fails(issuer("localhost", "missing"), "HTTP status 404, not 200");
    json_t *jwks = NULL;
    char why[256];
    assert_int_equal(oidc_remote_jwks(issuer("localhost", "missing"), 1, &jwks, why, sizeof why),
                     OIDC_REMOTE_UNAVAILABLE);
    assert_int_equal(count("/missing/.well-known/openid-configuration"), 1);
    fake_now += OIDC_REMOTE_REFETCH_GAP;
    get_fails(issuer("localhost", "missing"), "HTTP status 404, not 200");
    assert_int_equal(count("/missing/.well-known/openid-configuration"), 2);
}

static void test_oversized_body(void **state)
{
    (void)state;
    get_fails(issuer("localhost", "big"), "the response is larger than 1048576 bytes");
}

static void test_not_json(void **state)
{
    (void)state;
    get_fails(issuer("localhost", "notjson"), "the JWKS document is not JSON");
    get_fails(issuer("localhost", "nokeys"), "the JWKS document has no \"keys\" array");
}

static void test_max_age_honoured(void **state)
{
    (void)state;
    int before = count("/ok/jwks");
    get_ok("ok", 0);
    assert_int_equal(count("/ok/jwks"), before + 1);
    fake_now += 299;
    get_ok("ok", 0);                                    /* max-age=300: from the cache */
    assert_int_equal(count("/ok/jwks"), before + 1);
    fake_now += 1;
    get_ok("ok", 0);                                    /* expired: fetched */
    assert_int_equal(count("/ok/jwks"), before + 2);
    /* no Cache-Control: an hour */
    get_ok("nocc", 0);
    fake_now += OIDC_REMOTE_TTL_DEFAULT - 1;
    get_ok("nocc", 0);
    assert_int_equal(count("/nocc/jwks"), 1);
    fake_now += 1;
    get_ok("nocc", 0);
    assert_int_equal(count("/nocc/jwks"), 2);
}

static void test_no_store(void **state)
{
    (void)state;
    get_ok("nostore", 0);
    get_ok("nostore", 0);                               /* within the gap: the copy */
    assert_int_equal(count("/nostore/jwks"), 1);
    fake_now += OIDC_REMOTE_REFETCH_GAP;
    get_ok("nostore", 0);                               /* every time the gap allows */
    assert_int_equal(count("/nostore/jwks"), 2);
}

static void test_refresh_rate_limited(void **state)
{
    (void)state;
    int before = count("/ok/jwks");
    get_ok("ok", 0);
    for (int i = 0; i < 20; i++) get_ok("ok", 1);      /* an unknown kid, over and over */
    assert_int_equal(count("/ok/jwks"), before + 1);
    fake_now += OIDC_REMOTE_REFETCH_GAP - 1;
    get_ok("ok", 1);
    assert_int_equal(count("/ok/jwks"), before + 1);
    fake_now += 1;
    get_ok("ok", 1);                                    /* 10 s later: fetched again */
    get_ok("ok", 1);
    assert_int_equal(count("/ok/jwks"), before + 2);
}

static void *fetch_ok(void *arg)
{
    json_t *jwks = NULL;
    char why[256];
    int rc = oidc_remote_jwks((const char *)arg, 0, &jwks, why, sizeof why);
    json_decref(jwks);
    return (void *)(intptr_t)rc;
}

static void test_one_fetch_for_many_threads(void **state)
{
    (void)state;
    char iss[256];
    int n = snprintf(iss, sizeof iss, "%s", issuer("localhost", "nocc"));
    assert_true(n > 0 && (size_t)n < sizeof iss);
    int before = count("/nocc/jwks");
    pthread_t t[8];
    for (int i = 0; i < 8; i++) assert_int_equal(pthread_create(&t[i], NULL, fetch_ok, iss), 0);
    for (int i = 0; i < 8; i++) {
        void *rc;
        pthread_join(t[i], &rc);
        assert_int_equal((intptr_t)rc, OIDC_REMOTE_OK);
    }
    assert_int_equal(count("/nocc/jwks"), before + 1);
    assert_int_equal(oidc_remote_fetches(), 1);
}

/* Last: the server goes away. */
static void test_stale_copy_kept(void **state)
{
    (void)state;
    get_ok("ok", 0);
    stop_server();
    fake_now += 301;                                    /* expired: the fetch fails, the copy stays */
    get_ok("ok", 0);
    get_ok("ok", 1);
    fake_now += OIDC_REMOTE_TTL_MAX - 301;              /* a day after it was fetched: still */
    get_ok("ok", 0);
    fake_now += 1;                                      /* older than a day: dropped */
    get_fails(issuer("localhost", "ok"), "/ok/.well-known/openid-configuration");
    fake_now += OIDC_REMOTE_REFETCH_GAP;
    get_fails(issuer("localhost", "ok"), "/ok/.well-known/openid-configuration");
}

/* --oidc-allowed-issuers localhost:PORT, set as `tresor serve` does. */
static void allow_localhost(void)
{
    char list[64], why[256];
    int n = snprintf(list, sizeof list, "localhost:%d", port);
    assert_true(n > 0 && (size_t)n < sizeof list);
    if (oidc_remote_set_allowed(list, why, sizeof why) != 0) fail_msg("%s", why);
}

static void test_allowed_jwks_uri_elsewhere_refused(void **state)
{
    (void)state;
    allow_localhost();
    int before = count("/ok/jwks");
    get_fails(issuer("localhost", "jwksaway"),
              "its jwks_uri https://127.0.0.1:");
    get_fails(issuer("localhost", "jwksaway"), "is on a host --oidc-allowed-issuers does not admit");
    assert_int_equal(count("/jwksaway/.well-known/openid-configuration"), 1);   /* the second: too soon */
    assert_int_equal(count("/ok/jwks"), before);
}

static void test_allowed_redirect_elsewhere_refused(void **state)
{
    (void)state;
    allow_localhost();
    int before = count("/ok/jwks");
    get_fails(issuer("localhost", "redirectaway"), "/redirectaway/jwks: redirected to https://127.0.0.1:");
    get_fails(issuer("localhost", "redirectaway"), "which --oidc-allowed-issuers does not admit");
    assert_int_equal(count("/redirectaway/jwks"), 1);
    assert_int_equal(count("/ok/jwks"), before);
}

static void test_allowed_redirect_to_http_refused(void **state)
{
    (void)state;
    allow_localhost();
    get_fails(issuer("localhost", "redirect"), "which --oidc-allowed-issuers does not admit");
}

static void test_allowed_redirect_within_followed(void **state)
{
    (void)state;
    allow_localhost();
    int before = count("/ok/jwks");
    get_ok("redirectok", 0);
    assert_int_equal(count("/redirectok/jwks"), 1);
    assert_int_equal(count("/ok/jwks"), before + 1);
}

static void test_allowed_redirects_at_most_3(void **state)
{
    (void)state;
    allow_localhost();
    get_fails(issuer("localhost", "redirectloop"), "/redirectloop/jwks: more than 3 redirects");
    assert_int_equal(count("/redirectloop/jwks"), 4);      /* the first request, then 3 redirects */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_happy_path_private_ca, fresh),
        cmocka_unit_test_setup(test_trailing_slash, fresh),
        cmocka_unit_test_setup(test_issuer_mismatch, fresh),
        cmocka_unit_test_setup(test_http_jwks_uri_refused, fresh),
        cmocka_unit_test_setup(test_redirect_to_http_refused, fresh),
        cmocka_unit_test_setup(test_untrusted_certificate_refused, fresh),
        cmocka_unit_test_setup(test_wrong_hostname_refused, fresh),
        cmocka_unit_test_setup(test_not_found, fresh),
        cmocka_unit_test_setup(test_oversized_body, fresh),
        cmocka_unit_test_setup(test_not_json, fresh),
        cmocka_unit_test_setup(test_max_age_honoured, fresh),
        cmocka_unit_test_setup(test_no_store, fresh),
        cmocka_unit_test_setup(test_refresh_rate_limited, fresh),
        cmocka_unit_test_setup(test_one_fetch_for_many_threads, fresh),
        cmocka_unit_test_setup(test_allowed_jwks_uri_elsewhere_refused, fresh),
        cmocka_unit_test_setup(test_allowed_redirect_elsewhere_refused, fresh),
        cmocka_unit_test_setup(test_allowed_redirect_to_http_refused, fresh),
        cmocka_unit_test_setup(test_allowed_redirect_within_followed, fresh),
        cmocka_unit_test_setup(test_allowed_redirects_at_most_3, fresh),
        /* last: it stops the server */
        cmocka_unit_test_setup(test_stale_copy_kept, fresh),
    };
    return cmocka_run_group_tests(tests, start_server, cleanup);
}
