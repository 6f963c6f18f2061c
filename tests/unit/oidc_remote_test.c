/*
 * oidc_remote_test.c -- oidc/remote.c without the network: the discovery
 * URL (https only, trailing slash, no query or fragment), Cache-Control to
 * a lifetime (max-age, its floor and cap, no-store, no-cache, malformed
 * values), the discovery document's checks (issuer exactly, https
 * jwks_uri), the JWKS document's (an object with a keys array), the size
 * caps, --oidc-ca-file's start-up checks, and a non-https issuer refused
 * before any request.  The fetches themselves: oidc_remote_net_test.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oidc/remote.h"
#include "oidc/remote_config.h"

static void test_discovery_url(void **state)
{
    (void)state;
    char url[256];
    assert_int_equal(oidc_remote_discovery_url("https://idp.example.com", url, sizeof url), 0);
    assert_string_equal(url, "https://idp.example.com/.well-known/openid-configuration");
    assert_int_equal(oidc_remote_discovery_url("https://idp.example.com/", url, sizeof url), 0);
    assert_string_equal(url, "https://idp.example.com/.well-known/openid-configuration");
    assert_int_equal(oidc_remote_discovery_url("https://idp.example.com:8443/tenant/", url, sizeof url), 0);
    assert_string_equal(url, "https://idp.example.com:8443/tenant/.well-known/openid-configuration");
    /* not https, no host, query, fragment, user info, spaces, too long */
    const char *bad[] = {
        "http://idp.example.com", "HTTPS://idp.example.com", "ftp://idp.example.com", "idp.example.com",
        "https://", "https:///path", "https://idp.example.com/?x=1", "https://idp.example.com/#f",
        "https://user:pw@idp.example.com", "https://idp.example.com/a b", "https://idp.example.com/\n", "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(oidc_remote_discovery_url(bad[i], url, sizeof url), -1);
    char *longer = malloc(OIDC_REMOTE_URL_MAX + 32);
    assert_non_null(longer);
    memcpy(longer, "https://a.example/", 18);
    memset(longer + 18, 'p', OIDC_REMOTE_URL_MAX);
    longer[18 + OIDC_REMOTE_URL_MAX] = '\0';
    assert_int_equal(oidc_remote_discovery_url(longer, url, sizeof url), -1);
    free(longer);
    /* a buffer too small is refused, never cut */
    char tiny[20];
    assert_int_equal(oidc_remote_discovery_url("https://idp.example.com", tiny, sizeof tiny), -1);
}

static void test_cache_control(void **state)
{
    (void)state;
    assert_int_equal(oidc_remote_ttl(NULL), OIDC_REMOTE_TTL_DEFAULT);
    assert_int_equal(oidc_remote_ttl(""), OIDC_REMOTE_TTL_DEFAULT);
    assert_int_equal(oidc_remote_ttl("public"), OIDC_REMOTE_TTL_DEFAULT);
    assert_int_equal(oidc_remote_ttl("max-age=300"), 300);
    assert_int_equal(oidc_remote_ttl("public, max-age=7200, must-revalidate"), 7200);
    assert_int_equal(oidc_remote_ttl("MAX-AGE=600"), 600);
    assert_int_equal(oidc_remote_ttl("max-age=\"900\""), 900);
    assert_int_equal(oidc_remote_ttl("max-age = 120"), 120);
    /* the floor and the cap */
    assert_int_equal(oidc_remote_ttl("max-age=0"), OIDC_REMOTE_TTL_MIN);
    assert_int_equal(oidc_remote_ttl("max-age=5"), OIDC_REMOTE_TTL_MIN);
    assert_int_equal(oidc_remote_ttl("max-age=86401"), OIDC_REMOTE_TTL_MAX);
    assert_int_equal(oidc_remote_ttl("max-age=99999999999999999999999999"), OIDC_REMOTE_TTL_MAX);
    /* refetch each time */
    assert_int_equal(oidc_remote_ttl("no-store"), 0);
    assert_int_equal(oidc_remote_ttl("max-age=300, no-cache"), 0);
    assert_int_equal(oidc_remote_ttl("private, No-Store"), 0);
    /* malformed max-age: as if absent; the first one counts */
    assert_int_equal(oidc_remote_ttl("max-age=-5"), OIDC_REMOTE_TTL_DEFAULT);
    assert_int_equal(oidc_remote_ttl("max-age=12x"), OIDC_REMOTE_TTL_DEFAULT);
    assert_int_equal(oidc_remote_ttl("max-age="), OIDC_REMOTE_TTL_DEFAULT);
    assert_int_equal(oidc_remote_ttl("max-age"), OIDC_REMOTE_TTL_DEFAULT);
    assert_int_equal(oidc_remote_ttl("max-age=400, max-age=500"), 400);
    /* names that only begin like a directive */
    assert_int_equal(oidc_remote_ttl("no-store-please, max-age=300"), 300);
    assert_int_equal(oidc_remote_ttl("s-maxage=100"), OIDC_REMOTE_TTL_DEFAULT);
}

#define ISS "https://idp.example.com"

static int discovery(const char *doc, char *uri, char *why)
{
    return oidc_remote_parse_discovery(doc, strlen(doc), ISS, uri, 256, why, 256);
}

static void test_discovery_document(void **state)
{
    (void)state;
    char uri[256], why[256];
    assert_int_equal(discovery("{\"issuer\":\"" ISS "\",\"jwks_uri\":\"https://keys.example.com/jwks\"}", uri, why), 0);
    assert_string_equal(uri, "https://keys.example.com/jwks");
    assert_int_equal(discovery("{\"issuer\":\"" ISS "\",\"jwks_uri\":\"https://k.example.com/j?v=2\"}", uri, why), 0);
    assert_string_equal(uri, "https://k.example.com/j?v=2");
    struct { const char *doc, *why; } bad[] = {
        { "{\"issuer\":\"" ISS "/\",\"jwks_uri\":\"https://k.example.com/\"}", "issuer is not the token's" },
        { "{\"issuer\":\"https://IDP.example.com\",\"jwks_uri\":\"https://k.example.com/\"}",
          "issuer is not the token's" },
        { "{\"jwks_uri\":\"https://k.example.com/\"}", "no \"issuer\"" },
        { "{\"issuer\":5,\"jwks_uri\":\"https://k.example.com/\"}", "no \"issuer\"" },
        { "{\"issuer\":\"" ISS "\"}", "no \"jwks_uri\"" },
        { "{\"issuer\":\"" ISS "\",\"jwks_uri\":\"http://k.example.com/jwks\"}", "not an https URL" },
        { "{\"issuer\":\"" ISS "\",\"jwks_uri\":\"https://\"}", "not an https URL" },
        { "{\"issuer\":\"" ISS "\",\"jwks_uri\":\"file:///etc/passwd\"}", "not an https URL" },
        { "[\"" ISS "\"]", "not a JSON object" },
        { "{\"issuer\":", "not JSON" },
        { "{\"issuer\":\"" ISS "\",\"issuer\":\"" ISS "\",\"jwks_uri\":\"https://k.example.com/\"}", "not JSON" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        assert_int_equal(discovery(bad[i].doc, uri, why), -1);
        if (!strstr(why, bad[i].why)) fail_msg("case %zu: \"%s\" lacks \"%s\"", i, why, bad[i].why);
    }
    /* a jwks_uri that does not fit the caller's buffer is refused, not cut */
    const char *doc = "{\"issuer\":\"" ISS "\",\"jwks_uri\":\"https://keys.example.com/jwks\"}";
    assert_int_equal(oidc_remote_parse_discovery(doc, strlen(doc), ISS, uri, 10, why, sizeof why), -1);
    assert_non_null(strstr(why, "too long"));
}

static void test_jwks_document(void **state)
{
    (void)state;
    char why[256];
    json_t *jwks = NULL;
    const char *good = "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}";
    assert_int_equal(oidc_remote_parse_jwks(good, strlen(good), &jwks, why, sizeof why), 0);
    assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 1);
    json_decref(jwks);
    const char *empty = "{\"keys\":[]}";
    assert_int_equal(oidc_remote_parse_jwks(empty, strlen(empty), &jwks, why, sizeof why), 0);
    json_decref(jwks);
    struct { const char *doc, *why; } bad[] = {
        { "{}", "no \"keys\" array" },
        { "{\"keys\":{}}", "no \"keys\" array" },
        { "[]", "not a JSON object" },
        { "keys", "not JSON" },
        { "", "not JSON" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jwks = NULL;
        assert_int_equal(oidc_remote_parse_jwks(bad[i].doc, strlen(bad[i].doc), &jwks, why, sizeof why), -1);
        assert_null(jwks);
        if (!strstr(why, bad[i].why)) fail_msg("case %zu: \"%s\" lacks \"%s\"", i, why, bad[i].why);
    }
}

/* {"keys":[],"pad":"xxx..."} of exactly n bytes. */
static char *padded(size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    const char *head = "{\"keys\":[],\"pad\":\"";
    size_t h = strlen(head);
    memcpy(s, head, h);
    memset(s + h, 'x', n - h - 2);
    memcpy(s + n - 2, "\"}", 3);
    return s;
}

static void test_size_caps(void **state)
{
    (void)state;
    char why[256], uri[256];
    json_t *jwks = NULL;
    char *at = padded(OIDC_REMOTE_JWKS_MAX);
    assert_int_equal(oidc_remote_parse_jwks(at, OIDC_REMOTE_JWKS_MAX, &jwks, why, sizeof why), 0);
    json_decref(jwks);
    free(at);
    char *over = padded(OIDC_REMOTE_JWKS_MAX + 1);
    assert_int_equal(oidc_remote_parse_jwks(over, OIDC_REMOTE_JWKS_MAX + 1, &jwks, why, sizeof why), -1);
    assert_non_null(strstr(why, "larger than 1048576 bytes"));
    free(over);
    /* the discovery document's cap is 64 KiB */
    char *disc = padded(OIDC_REMOTE_DISCOVERY_MAX + 1);
    assert_int_equal(oidc_remote_parse_discovery(disc, OIDC_REMOTE_DISCOVERY_MAX + 1, ISS, uri, sizeof uri, why,
                                                 sizeof why), -1);
    assert_non_null(strstr(why, "larger than 65536 bytes"));
    free(disc);
}

static void test_ca_file(void **state)
{
    (void)state;
    char err[512];
    assert_int_equal(oidc_remote_init("/nonexistent/ca.pem", err, sizeof err), -1);
    assert_string_equal(err, "/nonexistent/ca.pem: cannot read it: No such file or directory");
    char path[] = "/tmp/oidc_remote_test.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not a certificate\n", 18), 18);
    close(fd);
    assert_int_equal(oidc_remote_init(path, err, sizeof err), -1);
    assert_non_null(strstr(err, "no PEM certificate in it"));
    unlink(path);
    /* the system store only */
    assert_int_equal(oidc_remote_init(NULL, err, sizeof err), 0);
    oidc_remote_shutdown();
}

static void test_refused_without_request(void **state)
{
    (void)state;
    char err[256], why[256];
    json_t *jwks = (json_t *)1;
    /* not set up: refused */
    assert_int_equal(oidc_remote_jwks("https://idp.example.com", 0, &jwks, why, sizeof why),
                     OIDC_REMOTE_UNAVAILABLE);
    assert_null(jwks);
    assert_int_equal(oidc_remote_init(NULL, err, sizeof err), 0);
    const char *bad[] = { "http://127.0.0.1:1/", "https://idp.example.com/?q", "file:///etc/passwd", "" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(oidc_remote_jwks(bad[i], 0, &jwks, why, sizeof why), OIDC_REMOTE_UNAVAILABLE);
        assert_null(jwks);
        assert_non_null(strstr(why, "not an https URL"));
    }
    assert_int_equal(oidc_remote_jwks(NULL, 1, &jwks, why, sizeof why), OIDC_REMOTE_UNAVAILABLE);
    assert_int_equal(oidc_remote_fetches(), 0);
    oidc_remote_shutdown();
}

/* --oidc-allowed-issuers: what a list may hold, and what it admits. */
static void test_allowed_list(void **state)
{
    (void)state;
    char why[512];
    const char *good[] = { "https://idp.example.com", "https://idp.example.com/tenant/",
                           "idp.example.com", "localhost:8443", "*.example.com", "*.example.com:8443",
                           "a-b.example.com,https://x.example/y", "10.0.0.1" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (oidc_remote_allowed_check(good[i], why, sizeof why) != 0) fail_msg("%s: %s", good[i], why);
    const char *bad[] = { "", ",", "idp.example.com,", "http://idp.example.com", "https://u@idp.example.com",
                          "https://idp.example.com/?q", "idp.example.com/path", "*", "*.", "a.*.com",
                          "idp..example.com", ".example.com", "example.com.", "host:0", "host:65536",
                          "host:", "host:12a", "ho st", "https://" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (oidc_remote_allowed_check(bad[i], why, sizeof why) == 0) fail_msg("accepted '%s'", bad[i]);
    assert_int_equal(oidc_remote_allowed_check("ok.example,bad/x", why, sizeof why), -1);
    assert_non_null(strstr(why, "'bad/x' is neither an https:// issuer URL nor a host pattern"));

    const char *list = "https://idp.example.com/t1/,*.corp.example,localhost:8443,Token.Example.org";
    const struct { const char *iss; bool ok; } cases[] = {
        { "https://idp.example.com/t1", true },          /* one trailing slash either way */
        { "https://idp.example.com/t1/", true },
        { "https://idp.example.com/t2", false },         /* a URL entry is the issuer, not its host */
        { "https://idp.example.com/t1/x", false },
        { "https://idp.example.com", false },
        { "https://a.corp.example", true },              /* *.: one or more labels */
        { "https://a.b.corp.example/x", true },
        { "https://corp.example", false },
        { "https://evilcorp.example", false },
        { "https://a.corp.example.evil", false },
        { "https://a.corp.example:8443", false },        /* no port in the pattern: 443 only */
        { "https://a.corp.example:443", true },
        { "https://localhost:8443/ci", true },
        { "https://localhost/ci", false },
        { "https://localhost:84431/ci", false },
        { "https://token.example.org/", true },          /* hosts without case */
        { "https://TOKEN.example.ORG", true },
        { "https://token.example.org@169.254.169.254/", false },   /* user info: never */
        { "https://169.254.169.254/latest", false },
        { "http://token.example.org", false },
        { NULL, false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (oidc_remote_allowed_match(list, cases[i].iss) != cases[i].ok)
            fail_msg("%s: expected %s", cases[i].iss ? cases[i].iss : "(null)", cases[i].ok ? "admitted" : "refused");
    assert_true(oidc_remote_allowed_match(NULL, "https://anything.example"));
}

/* What the list lets the server fetch besides the issuer: a jwks_uri or a
 * redirect's target, on a host a pattern admits or on an issuer URL's
 * host and port, whatever the path. */
static void test_allowed_fetch(void **state)
{
    (void)state;
    const char *list = "https://idp.example.com/t1/,*.corp.example,localhost:8443,https://Keys.Example.net:8443/a";
    const struct { const char *url; bool ok; } cases[] = {
        { "https://idp.example.com/other/jwks", true },  /* an issuer URL's host, any path */
        { "https://IDP.example.com:443/k?x=1", true },
        { "https://idp.example.com:8443/k", false },     /* ... and its port */
        { "https://keys.example.net:8443/jwks", true },
        { "https://keys.example.net/jwks", false },
        { "https://a.corp.example/jwks", true },
        { "https://corp.example/jwks", false },
        { "https://localhost:8443/x", true },
        { "https://localhost/x", false },
        { "https://127.0.0.1:8443/x", false },
        { "https://169.254.169.254/latest/meta-data", false },
        { "https://idp.example.com@169.254.169.254/", false },   /* user info: never */
        { "http://idp.example.com/jwks", false },
        { "https://idp.example.com.evil/jwks", false },
        { "not a url", false },
        { NULL, false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (oidc_remote_allowed_fetch(list, cases[i].url) != cases[i].ok)
            fail_msg("%s: expected %s", cases[i].url ? cases[i].url : "(null)", cases[i].ok ? "admitted" : "refused");
    assert_true(oidc_remote_allowed_fetch(NULL, "http://anything.example/"));   /* no list: as before */
}

/* An issuer the allow-list does not admit is refused before the cache or
 * the network: no fetch is counted, and why names the list. */
static void test_allowed_refused_without_request(void **state)
{
    (void)state;
    char err[256], why[256];
    json_t *jwks = (json_t *)1;
    assert_int_equal(oidc_remote_init(NULL, err, sizeof err), 0);
    assert_int_equal(oidc_remote_set_allowed("bad/x", why, sizeof why), -1);
    assert_int_equal(oidc_remote_set_allowed("idp.example.com", why, sizeof why), 0);
    /* 127.0.0.1:1 would be a fetch (a connection refused) were it let through */
    assert_int_equal(oidc_remote_jwks("https://127.0.0.1:1/ci", 0, &jwks, why, sizeof why),
                     OIDC_REMOTE_UNAVAILABLE);
    assert_null(jwks);
    assert_string_equal(why, "the issuer is not in --oidc-allowed-issuers");
    assert_int_equal(oidc_remote_fetches(), 0);
    oidc_remote_shutdown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_discovery_url),
        cmocka_unit_test(test_cache_control),
        cmocka_unit_test(test_discovery_document),
        cmocka_unit_test(test_jwks_document),
        cmocka_unit_test(test_size_caps),
        cmocka_unit_test(test_ca_file),
        cmocka_unit_test(test_refused_without_request),
        cmocka_unit_test(test_allowed_list),
        cmocka_unit_test(test_allowed_fetch),
        cmocka_unit_test(test_allowed_refused_without_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
