/*
 * fuzz_regress_test.c -- inputs the libFuzzer targets (fuzz/) found, each
 * replayed at the function that mishandled it, with what must happen now.
 * The full inputs are also in the targets' seed corpora (fuzz/corpus/).
 *
 * 1. fuzz_query, AssumeRole as an IAM user with a policy ARN holding bytes
 *    that are not UTF-8 (fuzz/corpus/query/crash-assumerole-utf8): the
 *    session document could not be built (jansson refuses such strings)
 *    and the call failed with InternalFailure (HTTP 500).  The same run
 *    found CreatePolicy with such a Description failing the same way
 *    (fuzz/corpus/query/crash-createpolicy-utf8).  Fixed by 6832301
 *    (form_parse refuses parameters that are not UTF-8), which landed
 *    while the run went on; these cases pin it.
 * 2. fuzz_query (make fuzz), a body whose first parameter has an empty
 *    name ("=x"): the UTF-8 check computed NULL + 0 on the still
 *    unallocated storage, undefined behaviour that clang's UBSan reports
 *    (GCC's, in CONF=asan, does not: this test pins the behaviour, the
 *    fuzz build checks the arithmetic).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "core/errors.h"
#include "op/query_proto.h"

static tr_result parse(const char *body, struct form *f)
{
    tr_clear_error();
    return form_parse((const uint8_t *)body, strlen(body), f);
}

static void refused(const char *body)
{
    struct form f;
    tr_result r = parse(body, &f);
    if (tr_code(r) != TR_E_QUERY_VALIDATION) fail_msg("accepted: %s", body);
    assert_string_equal(tr_last_error()->message, "Request parameters must be valid UTF-8");
    form_free(&f);
}

static void accepted(const char *body, const char *key, const char *value)
{
    struct form f;
    assert_true(tr_ok(parse(body, &f)));
    assert_string_equal(form_get(&f, key), value);
    form_free(&f);
}

/* The fuzz input, reduced to the parameters that mattered. */
static void test_assume_role_policy_arn_not_utf8(void **state)
{
    (void)state;
    refused("Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fsvc%2FApp"
            "&RoleSessionName=s1&PolicyArns.member.1.arn=RolCCCCCCCCCCSCCCCCCCC%FF%FF%FFh3FP%9C");
    /* The same bytes raw (not percent-encoded), in a key, and in a tag. */
    refused("Action=AssumeRole&PolicyArns.member.1.arn=arn:aws:iam::111122223333:policy/\xff\xff");
    refused("Tags.memb\xff\xff=x");
    refused("Tags.member.1.Key=team&Tags.member.1.Value=r%C3");
    /* CreatePolicy's Description. */
    refused("Action=CreatePolicy&Version=2010-05-08&PolicyName=P2&Description=d%DC&Tags.member.1.Key=k");
}

static void test_utf8_forms(void **state)
{
    (void)state;
    refused("v=%80");                  /* lone continuation byte */
    refused("v=%C0%AF");               /* overlong '/' */
    refused("v=%E0%80%AF");            /* overlong, three bytes */
    refused("v=%ED%A0%80");            /* a surrogate (U+D800) */
    refused("v=%F4%90%80%80");         /* above U+10FFFF */
    refused("v=%E2%82");               /* truncated */
    refused("v=%F8%88%80%80%80");      /* five-byte form */
    accepted("v=caf%C3%A9", "v", "caf\xc3\xa9");
    accepted("v=%E2%82%AC", "v", "\xe2\x82\xac");
    accepted("v=%F0%9F%94%91", "v", "\xf0\x9f\x94\x91");
    accepted("v=%F4%8F%BF%BF", "v", "\xf4\x8f\xbf\xbf");   /* U+10FFFF */
    accepted("v=", "v", "");
}

static void test_empty_first_name(void **state)
{
    (void)state;
    accepted("=x", "", "x");
    accepted("&=&v=1", "v", "1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assume_role_policy_arn_not_utf8),
        cmocka_unit_test(test_utf8_forms),
        cmocka_unit_test(test_empty_first_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
