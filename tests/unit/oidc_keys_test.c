/*
 * oidc_keys_test.c -- the --oidc-jwks key sets (oidc/keys.c) and the
 * policy engine's {"Federated": ARN} principal for a web identity
 * (iam/policy_eval.c, EP_WEB_IDENTITY).
 *
 * Keys: ISSUER=FILE parsed and refused as the server refuses it at start
 * (no '=', an issuer that is no https URL, a missing file, a file that is
 * no JWKS, an issuer given twice); a known issuer's set returned, an
 * unknown one's UNAVAILABLE (the stub fetches nothing).  Federated: only
 * a web identity of that provider matches, never a user, a session or
 * another provider.
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

#include "iam/policy.h"
#include "oidc/keys.h"

#define ISS "https://token.actions.githubusercontent.com"

static char jwks_path[64], bad_path[64];

static int setup(void **state)
{
    (void)state;
    snprintf(jwks_path, sizeof jwks_path, "/tmp/oidc-keys-test-%d.json", (int)getpid());
    snprintf(bad_path, sizeof bad_path, "/tmp/oidc-keys-test-%d-bad.json", (int)getpid());
    FILE *f = fopen(jwks_path, "w");
    fputs("{\"keys\": [{\"kty\": \"EC\", \"kid\": \"a\"}]}", f);
    fclose(f);
    f = fopen(bad_path, "w");
    fputs("{\"nokeys\": []}", f);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(jwks_path);
    unlink(bad_path);
    oidc_keys_clear();
    return 0;
}

static void test_specs(void **state)
{
    (void)state;
    char why[512], spec[256];
    assert_int_equal(oidc_keys_add("no-equals-sign", why, sizeof why), -1);
    assert_non_null(strstr(why, "is not ISSUER=FILE"));
    snprintf(spec, sizeof spec, "http://insecure.example=%s", jwks_path);
    assert_int_equal(oidc_keys_add(spec, why, sizeof why), -1);
    assert_non_null(strstr(why, "https:// URL"));
    assert_int_equal(oidc_keys_add(ISS "=/nonexistent/jwks.json", why, sizeof why), -1);
    snprintf(spec, sizeof spec, ISS "=%s", bad_path);
    assert_int_equal(oidc_keys_add(spec, why, sizeof why), -1);
    assert_non_null(strstr(why, "no \"keys\" array"));
    snprintf(spec, sizeof spec, ISS "=%s", jwks_path);
    assert_int_equal(oidc_keys_add(spec, why, sizeof why), 0);
    assert_int_equal(oidc_keys_add(spec, why, sizeof why), -1);
    assert_non_null(strstr(why, "given twice"));

    json_t *j = NULL;
    assert_int_equal(oidc_keys_get(ISS, 0, &j, why, sizeof why), OIDC_KEYS_OK);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "keys"), 0), "kid")), "a");
    json_decref(j);
    j = NULL;
    assert_int_equal(oidc_keys_get(ISS "/other", 1, &j, why, sizeof why), OIDC_KEYS_UNAVAILABLE);
    assert_null(j);
    oidc_keys_clear();
    assert_int_equal(oidc_keys_get(ISS, 0, &j, why, sizeof why), OIDC_KEYS_UNAVAILABLE);
    char list[300];
    snprintf(list, sizeof list, "https://a.example=%s,https://b.example=%s", jwks_path, jwks_path);
    assert_int_equal(oidc_keys_add_list(list, why, sizeof why), 0);
    assert_int_equal(oidc_keys_get("https://b.example", 0, &j, why, sizeof why), OIDC_KEYS_OK);
    json_decref(j);
    oidc_keys_clear();
}

#define PROVIDER "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"
#define ROLE "arn:aws:iam::111122223333:role/ci"

static enum decision decide(const struct policy *p, enum eval_principal_type type, const char *arn)
{
    struct named_policy np = { .p = p, .name = "trust" };
    struct eval_request rq = {
        .who = { .type = type, .arn = arn, .account = "111122223333",
                 .role_arn = type == EP_ROLE_SESSION ? ROLE : NULL },
        .action = "sts:AssumeRoleWithWebIdentity", .resource = ROLE, .resource_account = "111122223333",
    };
    struct policy_set ps = { .resource = &np, .mode = RES_REQUIRED };
    struct eval_result res;
    assert_true(tr_ok(policy_evaluate(&rq, &ps, &res)));
    return res.decision;
}

static void test_federated_principal(void **state)
{
    (void)state;
    static const char trust[] =
        "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", "
        "\"Principal\": {\"Federated\": \"" PROVIDER "\"}, \"Action\": \"sts:AssumeRoleWithWebIdentity\"}]}";
    struct policy *p = NULL;
    assert_true(tr_ok(policy_compile(trust, strlen(trust), POLICY_TRUST, &p)));
    assert_int_equal(decide(p, EP_WEB_IDENTITY, PROVIDER), DECISION_ALLOW);
    assert_int_equal(decide(p, EP_WEB_IDENTITY, PROVIDER "x"), DECISION_IMPLICIT_DENY);
    assert_int_equal(decide(p, EP_WEB_IDENTITY,
                            "arn:aws:iam::111122223333:oidc-provider/kubernetes.default.svc"),
                     DECISION_IMPLICIT_DENY);
    /* the provider's ARN as a user or a session's is no web identity */
    assert_int_equal(decide(p, EP_USER, PROVIDER), DECISION_IMPLICIT_DENY);
    assert_int_equal(decide(p, EP_ROLE_SESSION, PROVIDER), DECISION_IMPLICIT_DENY);
    assert_int_equal(decide(p, EP_ANONYMOUS, PROVIDER), DECISION_IMPLICIT_DENY);
    policy_unref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_specs),
        cmocka_unit_test(test_federated_principal),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
