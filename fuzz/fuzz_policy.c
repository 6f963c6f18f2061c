/*
 * fuzz_policy.c -- libFuzzer target for the policy engine: the input is a
 * policy document; it is compiled as each of the four kinds and every
 * policy that compiles is evaluated against a few fixed requests (users,
 * sessions, root, anonymous, other account; contexts with single-valued,
 * multi-valued, empty and unknown keys), in each place a policy can take
 * (identity, boundary, session, resource under every mode).  The bytes are
 * also fed to the glob as pattern and subject.
 *
 * Build (see the report / Makefile `fuzz` target):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
 *     fuzz/fuzz_policy.c src/iam/policy_parse.c src/iam/policy_eval.c \
 *     src/iam/policy_cache.c src/iam/conditions.c src/iam/arn.c \
 *     src/crypto/hash.c src/crypto/aead.c src/crypto/rand.c src/core/[a-z]*.c \
 *     -ljansson -lcrypto -lpthread -lm -o build/fuzz_policy
 * Run: build/fuzz_policy fuzz/corpus/policy
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "iam/arn.h"
#include "iam/policy.h"

static const char *const V_USER[] = { "alice" };
static const char *const V_IP[] = { "203.0.113.7" };
static const char *const V_IP6[] = { "2001:db8::1" };
static const char *const V_TIME[] = { "2026-01-01T00:00:00Z" };
static const char *const V_TAGS[] = { "team", "env", "a*b" };
static const char *const V_EC[] = { "arn:aws:secretsmanager:us-east-1:111122223333:secret:x-AbCdEf" };
static const char *const V_TEAM[] = { "blue" };
static const char *const V_VIA[] = { "secretsmanager.us-east-1.amazonaws.com" };
static const char *const V_ACCT[] = { "111122223333" };
static const char *const V_NUM[] = { "42" };
static const char *const V_BOOL[] = { "true" };
static const char *const V_ARN[] = { "arn:aws:iam::111122223333:role/svc/App" };

static const struct ctx_entry CTX[] = {
    { "aws:username", V_USER, 1, false, false },
    { "aws:SourceIp", V_IP, 1, false, false },
    { "aws:CurrentTime", V_TIME, 1, false, false },
    { "aws:TagKeys", V_TAGS, 3, true, false },
    { "kms:EncryptionContextKeys", NULL, 0, true, false },
    { "kms:EncryptionContext:SecretARN", V_EC, 1, false, false },
    { "aws:PrincipalTag/team", V_TEAM, 1, false, false },
    { "kms:ViaService", V_VIA, 1, false, false },
    { "kms:CallerAccount", V_ACCT, 1, false, false },
    { "s3:max-keys", V_NUM, 1, false, false },
    { "aws:SecureTransport", V_BOOL, 1, false, false },
    { "aws:PrincipalArn", V_ARN, 1, false, false },
    { "aws:MultiFactorAuthAge", NULL, 0, false, true },
};
static const struct ctx_entry CTX6[] = {
    { "aws:SourceIp", V_IP6, 1, false, false },
    { "aws:EpochTime", V_NUM, 1, false, false },
    { "aws:PrincipalTag/team", NULL, 0, false, true },
};

static const struct eval_principal WHO[] = {
    { EP_USER, "arn:aws:iam::111122223333:user/alice", "111122223333", NULL },
    { EP_ROLE_SESSION, "arn:aws:sts::111122223333:assumed-role/App/s1", "111122223333",
      "arn:aws:iam::111122223333:role/svc/App" },
    { EP_ROOT, "arn:aws:iam::111122223333:root", "111122223333", NULL },
    { EP_ANONYMOUS, NULL, NULL, NULL },
    { EP_USER, "arn:aws:iam::444455556666:user/carol", "444455556666", NULL },
};

static const struct { const char *action, *resource; } REQ[] = {
    { "kms:Decrypt", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab" },
    { "secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf" },
    { "sts:AssumeRole", "arn:aws:iam::111122223333:role/Target" },
    { "iam:CreateUser", "*" },
};

static void evaluate_all(struct policy *p, enum policy_kind kind, struct policy *other)
{
    struct named_policy np = { p, "fuzz" }, no = { other, "other" };
    char msg[512];
    for (size_t w = 0; w < sizeof WHO / sizeof WHO[0]; w++) {
        for (size_t q = 0; q < sizeof REQ / sizeof REQ[0]; q++) {
            struct eval_request rq = { .who = WHO[w], .action = REQ[q].action, .resource = REQ[q].resource,
                                       .resource_account = "111122223333",
                                       .ctx = (w & 1) ? CTX6 : CTX,
                                       .nctx = (w & 1) ? sizeof CTX6 / sizeof CTX6[0] : sizeof CTX / sizeof CTX[0] };
            struct policy_set ps = { 0 };
            if (kind == POLICY_IDENTITY) {
                ps.identity = &np;
                ps.nidentity = 1;
                ps.boundary = (q & 1) ? &np : NULL;
                ps.session = &np;
                ps.nsession = 1;
                ps.session_present = WHO[w].type == EP_ROLE_SESSION;
                ps.resource = other ? &no : NULL;
                ps.mode = (enum resource_mode)(q % 3);
            } else {
                ps.resource = &np;
                ps.identity = other ? &no : NULL;
                ps.nidentity = other ? 1 : 0;
                ps.mode = q == 1 ? RES_UNION : RES_REQUIRED;
            }
            ps.root_identity = WHO[w].type == EP_ROOT;
            struct eval_result r;
            if (tr_failed(policy_evaluate(&rq, &ps, &r))) __builtin_trap();
            if (r.nrefs > EVAL_MAX_REFS || r.ncond_refs > EVAL_MAX_REFS) __builtin_trap();
            if (r.decision != DECISION_ALLOW) policy_denied_message(&rq, &r, NULL, msg, sizeof msg);
        }
    }
}

static TR_RESULT count_principal(void *arg, const char *principal)
{
    *(size_t *)arg += strlen(principal);
    return TR_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const ALLOW_ALL =
        "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}}";
    static struct policy *allow_all;
    if (!allow_all && tr_failed(policy_compile(ALLOW_ALL, strlen(ALLOW_ALL), POLICY_IDENTITY, &allow_all)))
        __builtin_trap();
    const char *text = (const char *)data;
    for (int k = POLICY_IDENTITY; k <= POLICY_KEY; k++) {
        struct policy *p = NULL;
        if (tr_failed(policy_compile(text, size, (enum policy_kind)k, &p))) {
            if (p) __builtin_trap();
            continue;
        }
        size_t total = 0;
        (void)policy_each_aws_principal(p, count_principal, &total);
        for (size_t i = 0; i < policy_statement_count(p); i++) (void)policy_statement_sid(p, i);
        (void)policy_version(p);
        evaluate_all(p, (enum policy_kind)k, NULL);
        evaluate_all(p, (enum policy_kind)k, allow_all);
        policy_unref(p);
    }
    size_t half = size / 2;
    (void)glob_match(text, half, text + half, size - half, size & 1);
    return 0;
}
