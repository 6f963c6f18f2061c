/*
 * policy_text_test.c -- statement positions and condition keys read from
 * a policy's text (src/iam/policy_text.c): multi-line and one-line
 * documents, braces and quotes inside strings, UTF-8 columns, the
 * action filter, policy variables; and texts that are not policies
 * (truncated, a statement that is not an object) refused, never read
 * past their end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "iam/policy.h"
#include "iam/policy_text.h"

static void spans(const char *text, struct stmt_span *out, size_t max, size_t *n)
{
    assert_true(tr_ok(policy_text_spans(text, strlen(text), out, max, n)));
}

static void assert_span(const struct stmt_span *s, int l1, int c1, int l2, int c2)
{
    assert_int_equal(s->start.line, l1);
    assert_int_equal(s->start.column, c1);
    assert_int_equal(s->end.line, l2);
    assert_int_equal(s->end.column, c2);
}

static void test_spans_multi_line(void **state)
{
    (void)state;
    const char *text =
        "{\n"
        "  \"Version\": \"2012-10-17\",\n"
        "  \"Statement\": [\n"
        "    {\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\"},\n"
        "    {\n"
        "      \"Sid\": \"x}{\\\"\",\n"
        "      \"Effect\": \"Deny\", \"Action\": \"s3:Delete*\", \"Resource\": \"*\",\n"
        "      \"Condition\": {\"Bool\": {\"aws:SecureTransport\": [\"false\"]}}\n"
        "    }\n"
        "  ]\n"
        "}\n";
    struct stmt_span s[4];
    size_t n = 0;
    spans(text, s, 4, &n);
    assert_int_equal(n, 2);
    assert_span(&s[0], 4, 5, 4, 58);
    assert_span(&s[1], 5, 5, 9, 5);
    /* Fewer slots than statements: the count is still whole. */
    spans(text, s, 1, &n);
    assert_int_equal(n, 2);
    assert_span(&s[0], 4, 5, 4, 58);
    spans(text, NULL, 0, &n);
    assert_int_equal(n, 2);
}

static void test_spans_one_statement_and_utf8(void **state)
{
    (void)state;
    /* "é" is two bytes and one column. */
    const char *text = "{\"Id\":\"\xc3\xa9\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"},"
                       "\"Version\":\"2012-10-17\"}";
    struct stmt_span s[2];
    size_t n = 0;
    spans(text, s, 2, &n);
    assert_int_equal(n, 1);
    assert_span(&s[0], 1, 23, 1, 68);
}

static void test_spans_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "[]", "{", "{\"Statement\":", "{\"Statement\":[{\"Effect\":\"Allow\"}",
        "{\"Statement\":[1]}", "{\"Statement\":\"x\"}", "{\"Version\":\"2012-10-17\"}",
        "{\"Statement\":{\"Sid\":\"unterminated}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct stmt_span s[2];
        size_t n = 0;
        assert_int_equal(tr_code(policy_text_spans(bad[i], strlen(bad[i]), s, 2, &n)), TR_E_INTERNAL);
    }
    /* Every prefix of a good document is refused or read within it. */
    const char *good = "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}";
    for (size_t len = 0; len < strlen(good); len++) {
        char *cut = malloc(len ? len : 1);
        assert_non_null(cut);
        memcpy(cut, good, len);
        struct stmt_span s[2];
        size_t n = 0;
        tr_result r = policy_text_spans(cut, len, s, 2, &n);
        assert_true(tr_failed(r));
        free(cut);
    }
}

struct keys {
    char v[16][64];
    size_t n;
};

static TR_RESULT collect(void *arg, const char *key, size_t len)
{
    struct keys *k = arg;
    assert_true(k->n < 16 && len < 64);
    memcpy(k->v[k->n], key, len);
    k->v[k->n][len] = '\0';
    k->n++;
    return TR_OK;
}

static TR_RESULT refuse(void *arg, const char *key, size_t len)
{
    (void)arg, (void)key, (void)len;
    BAIL(TR_E_VALIDATION, "stop");
}

static const char KEYS_DOC[] =
    "{\"Version\":\"2012-10-17\",\"Statement\":["
    "{\"Effect\":\"Allow\",\"Action\":\"dynamodb:*\","
    "\"Resource\":\"arn:aws:dynamodb:us-west-2:123456789012:table/${aws:username}\","
    "\"Condition\":{\"DateGreaterThan\":{\"aws:CurrentTime\":\"2015-08-16T12:00:00Z\"}}},"
    "{\"Effect\":\"Allow\",\"NotAction\":[\"s3:*\"],\"Resource\":\"${*}-${aws:userid, 'none'}\","
    "\"Condition\":{\"StringLike\":{\"ec2:ResourceTag/Team\":[\"${aws:PrincipalTag/team}\",\"${$}\"]}}}]}";

static void test_keys(void **state)
{
    (void)state;
    struct keys k = { 0 };
    assert_true(tr_ok(policy_text_keys(KEYS_DOC, strlen(KEYS_DOC), NULL, collect, &k)));
    assert_int_equal(k.n, 5);
    assert_string_equal(k.v[0], "aws:username");
    assert_string_equal(k.v[1], "aws:CurrentTime");
    assert_string_equal(k.v[2], "aws:userid");
    assert_string_equal(k.v[3], "ec2:ResourceTag/Team");
    assert_string_equal(k.v[4], "aws:PrincipalTag/team");
    /* The action filter: Action patterns are case-insensitive; NotAction
     * covers every action but its own. */
    memset(&k, 0, sizeof k);
    assert_true(tr_ok(policy_text_keys(KEYS_DOC, strlen(KEYS_DOC), "DynamoDB:GetItem", collect, &k)));
    assert_int_equal(k.n, 5);
    memset(&k, 0, sizeof k);
    assert_true(tr_ok(policy_text_keys(KEYS_DOC, strlen(KEYS_DOC), "s3:GetObject", collect, &k)));
    assert_int_equal(k.n, 0);
    memset(&k, 0, sizeof k);
    assert_true(tr_ok(policy_text_keys(KEYS_DOC, strlen(KEYS_DOC), "ec2:RunInstances", collect, &k)));
    assert_int_equal(k.n, 3);
    assert_string_equal(k.v[0], "aws:userid");
    /* The callback's failure is the result. */
    assert_int_equal(tr_code(policy_text_keys(KEYS_DOC, strlen(KEYS_DOC), NULL, refuse, NULL)), TR_E_VALIDATION);
}

static void test_keys_version_2008_and_bad_text(void **state)
{
    (void)state;
    const char *text = "{\"Version\":\"2008-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"s3:*\","
                       "\"Resource\":\"${aws:username}\",\"Condition\":{\"Bool\":{\"aws:SecureTransport\":"
                       "\"${aws:x}\"}}}}";
    struct keys k = { 0 };
    assert_true(tr_ok(policy_text_keys(text, strlen(text), NULL, collect, &k)));
    assert_int_equal(k.n, 1);
    assert_string_equal(k.v[0], "aws:SecureTransport");
    assert_int_equal(tr_code(policy_text_keys("{x", 2, NULL, collect, &k)), TR_E_INTERNAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spans_multi_line),
        cmocka_unit_test(test_spans_one_statement_and_utf8),
        cmocka_unit_test(test_spans_refused),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_keys_version_2008_and_bad_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
