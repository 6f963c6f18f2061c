/*
 * report_html_test.c -- the page of who-can-decrypt --format html
 * (analyze/report_html.c): the escapes that keep names and policy text
 * inert, and the page's shape.
 *
 *   - az_html_json: the same JSON value back, and none of the characters
 *     that could end a <script> element, open a comment or end a
 *     JavaScript line, for every hostile string (a tamper loop: each of
 *     them at every position of a name);
 *   - az_html_text: &, <, >, " and ' as references, nothing else touched;
 *   - a whole page: the markers replaced, the Content-Security-Policy's
 *     hashes those of the script and style the page holds, the answer's
 *     block and noscript list present, and a write failure reported.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/report_html.h"
#include "core/b64.h"
#include "core/buf.h"
#include "crypto/hash.h"

static const char *const HOSTILE[] = {
    "</script><script>alert(1)</script>", "</SCRIPT >", "<!--", "-->", "<script>",
    "\xe2\x80\xa8", "\xe2\x80\xa9",     /* U+2028, U+2029 */
    "<img src=x onerror=alert(1)>", "&lt;", "\"'`", "\\u003c", "]]>", "\x01\x1f",
};
#define NHOSTILE (sizeof HOSTILE / sizeof HOSTILE[0])

/* No byte of s could end the block or start markup, and s is ASCII. */
static void assert_inert(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        assert_true(*p < 0x80);
        assert_true(*p != '<' && *p != '>' && *p != '&');
    }
}

static void test_json_escapes_every_hostile_string_at_every_position(void **state)
{
    (void)state;
    const char base[] = "arn:aws:iam::111122223333:role/app";
    for (size_t h = 0; h < NHOSTILE; h++) {
        for (size_t at = 0; at <= sizeof base - 1; at++) {
            char name[256];
            snprintf(name, sizeof name, "%.*s%s%s", (int)at, base, HOSTILE[h], base + at);  /* fits: 256 */
            json_t *v = json_pack("{s:s, s:[s, {s:s}], s:b}", "principal", name, "path", "x", "evidence",
                                  name, "conditional", 1);
            assert_non_null(v);
            char *s = az_html_json(v);
            assert_non_null(s);
            assert_inert(s);
            assert_null(strstr(s, "</"));
            json_error_t err;
            json_t *back = json_loads(s, 0, &err);
            assert_non_null(back);
            assert_true(json_equal(v, back));
            json_decref(back);
            json_decref(v);
            free(s);
        }
    }
}

static void test_json_of_plain_values_is_unchanged(void **state)
{
    (void)state;
    json_t *v = json_pack("{s:s, s:i, s:n}", "a", "b/c", "n", 3, "z");
    char *s = az_html_json(v);
    assert_string_equal(s, "{\"a\":\"b/c\",\"n\":3,\"z\":null}");
    free(s);
    json_decref(v);
    v = json_string("a<b>&c\xe2\x80\xa8");
    s = az_html_json(v);
    assert_string_equal(s, "\"a\\u003cb\\u003e\\u0026c\\u2028\"");
    free(s);
    json_decref(v);
}

static char *text_of(const char *in)
{
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    assert_non_null(f);
    az_html_text(f, in);
    assert_int_equal(fclose(f), 0);
    return out;
}

static void test_text_references(void **state)
{
    (void)state;
    char *s = text_of("a&b<c>d\"e'f\xe2\x80\xa8g");
    assert_string_equal(s, "a&amp;b&lt;c&gt;d&quot;e&#39;f\xe2\x80\xa8g");
    free(s);
    s = text_of("");
    assert_string_equal(s, "");
    free(s);
    s = text_of(NULL);
    assert_string_equal(s, "");
    free(s);
    for (size_t h = 0; h < NHOSTILE; h++) {
        s = text_of(HOSTILE[h]);
        assert_null(strchr(s, '<'));
        assert_null(strchr(s, '>'));
        assert_null(strchr(s, '"'));
        free(s);
    }
}

/* The text between `open` and the next `close` after it, in page. */
static char *between(const char *page, const char *open, const char *close)
{
    const char *a = strstr(page, open);
    assert_non_null(a);
    a += strlen(open);
    const char *b = strstr(a, close);
    assert_non_null(b);
    return strndup(a, (size_t)(b - a));
}

static void assert_hash_in(const char *csp, const char *text)
{
    uint8_t h[SHA256_LEN];
    struct buf b = BUF_INIT(128);
    assert_true(tr_ok(sha256(text, strlen(text), h)));
    assert_true(tr_ok(buf_append_str(&b, "'sha256-")));
    assert_true(tr_ok(b64_encode(h, sizeof h, &b)));
    assert_true(tr_ok(buf_append_str(&b, "'")));
    const char *want;
    assert_true(tr_ok(buf_cstr(&b, &want)));
    assert_non_null(strstr(csp, want));
    buf_free(&b);
}

static char *page_of(const json_t *meta, const json_t *answer)
{
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    assert_non_null(f);
    assert_true(tr_ok(az_html_begin(f, meta)));
    assert_true(tr_ok(az_html_answer(f, answer)));
    assert_true(tr_ok(az_html_end(f)));
    assert_int_equal(fclose(f), 0);
    return out;
}

static void test_page_shape_and_policy(void **state)
{
    (void)state;
    json_t *meta = json_pack("{s:s}", "view", "who-can-decrypt");
    json_t *ans = json_pack("{s:{s:s, s:s, s:s}, s:[{s:s, s:s, s:b, s:s, s:[{s:s, s:s}]}]}",
        "secret", "arn", "arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf", "name",
        "db<!--", "keyArn", "arn:aws:kms:us-east-1:111122223333:key/k",
        "principals", "principal", "arn:aws:iam::111122223333:role/</script>", "keyPermission", "grant",
        "conditional", 1, "access", "via-role", "path", "step", "sts:AssumeRole", "role",
        "arn:aws:iam::111122223333:role/r");
    char *page = page_of(meta, ans);
    assert_null(strstr(page, "@CSP@"));
    assert_null(strstr(page, "@ANSWERS@"));
    assert_true(strncmp(page, "<!DOCTYPE html>\n", 16) == 0);
    char *csp = between(page, "<meta http-equiv=\"Content-Security-Policy\" content=\"", "\">");
    assert_true(strncmp(csp, "default-src 'none'; script-src 'sha256-", 39) == 0);
    assert_null(strstr(csp, "unsafe"));
    char *script = between(page, "\n<script>", "</script>");
    char *style = between(page, "\n<style>", "</style>");
    assert_hash_in(csp, script);
    assert_hash_in(csp, style);
    /* The blocks, in <main>, and the names only as escapes or references. */
    char *body = between(page, "<main id=\"answers\">", "</main>");
    char *block = between(body, "<script type=\"application/json\" class=\"tresor-answer\">", "</script>");
    assert_inert(block);
    json_t *back = json_loads(block, 0, NULL);
    assert_true(json_equal(back, ans));
    assert_non_null(strstr(body, "<noscript><section class=\"secret\"><h2>Secret db&lt;!--</h2>"));
    assert_non_null(strstr(body, "<li><code>arn:aws:iam::111122223333:role/&lt;/script&gt;</code> &mdash; "
                                 "via role r, key: grant, conditional"));
    assert_null(strstr(body, "</script><"));
    assert_non_null(strstr(page, "<script type=\"application/json\" id=\"tresor-page\">"
                                 "{\"view\":\"who-can-decrypt\"}</script>"));
    json_decref(back);
    free(body);
    free(block);
    free(script);
    free(style);
    free(csp);
    free(page);
    json_decref(ans);
    json_decref(meta);
}

static void test_write_failure_is_reported(void **state)
{
    (void)state;
    FILE *f = fopen("/dev/full", "w");
    if (!f) skip();
    json_t *meta = json_pack("{s:s}", "view", "who-can-decrypt");
    tr_result r = az_html_begin(f, meta);
    if (tr_ok(r)) r = az_html_end(f);
    assert_true(tr_failed(r));
    fclose(f);
    json_decref(meta);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_escapes_every_hostile_string_at_every_position),
        cmocka_unit_test(test_json_of_plain_values_is_unchanged),
        cmocka_unit_test(test_text_references),
        cmocka_unit_test(test_page_shape_and_policy),
        cmocka_unit_test(test_write_failure_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
