/*
 * fuzz_policy.c -- libFuzzer target for the policy engine: the input is a
 * policy document; it is compiled as each of the four kinds and every
 * policy that compiles is evaluated against a few fixed requests (users,
 * sessions, root, anonymous, other account; contexts with single-valued,
 * multi-valued, empty and unknown keys), in each place a policy can take
 * (identity, boundary, session, resource under every mode).  The bytes are
 * also fed to the glob as pattern and subject.
 *
 * An input may carry a request of its own after the document, past a NUL
 * byte: "policy NUL w action LF resource LF resource-account LF ctx...",
 * where w (one byte) picks the caller from WHO (low 3 bits), ctx lines are
 * "key=v1,v2" (a leading '+' on the key: multi-valued, "key=" then has no
 * value; the value "?" alone: unknown), and a line "@arn" replaces the
 * caller's ARN (its account taken from the ARN's fifth field).  Such a
 * request is evaluated in every place as well, so random actions,
 * resources, principals and condition keys meet the compiled policy.
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
#include <stdlib.h>
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

/* Evaluate rq with p in the places of its kind (q varies the mode). */
static void evaluate_one(struct policy *p, enum policy_kind kind, struct policy *other,
                         const struct eval_request *rq, size_t q)
{
    struct named_policy np = { p, "fuzz" }, no = { other, "other" };
    char msg[512];
    struct policy_set ps = { 0 };
    if (kind == POLICY_IDENTITY) {
        ps.identity = &np;
        ps.nidentity = 1;
        ps.boundary = (q & 1) ? &np : NULL;
        ps.session = &np;
        ps.nsession = 1;
        ps.session_present = rq->who.type == EP_ROLE_SESSION;
        ps.resource = other ? &no : NULL;
        ps.mode = (enum resource_mode)(q % 3);
    } else {
        ps.resource = &np;
        ps.identity = other ? &no : NULL;
        ps.nidentity = other ? 1 : 0;
        ps.mode = q == 1 ? RES_UNION : RES_REQUIRED;
    }
    ps.root_identity = rq->who.type == EP_ROOT;
    struct eval_result r;
    if (tr_failed(policy_evaluate(rq, &ps, &r))) __builtin_trap();
    if (r.nrefs > EVAL_MAX_REFS || r.ncond_refs > EVAL_MAX_REFS) __builtin_trap();
    if (r.decision != DECISION_ALLOW) policy_denied_message(rq, &r, NULL, msg, sizeof msg);
}

static void evaluate_all(struct policy *p, enum policy_kind kind, struct policy *other)
{
    for (size_t w = 0; w < sizeof WHO / sizeof WHO[0]; w++) {
        for (size_t q = 0; q < sizeof REQ / sizeof REQ[0]; q++) {
            struct eval_request rq = { .who = WHO[w], .action = REQ[q].action, .resource = REQ[q].resource,
                                       .resource_account = "111122223333",
                                       .ctx = (w & 1) ? CTX6 : CTX,
                                       .nctx = (w & 1) ? sizeof CTX6 / sizeof CTX6[0] : sizeof CTX / sizeof CTX[0] };
            evaluate_one(p, kind, other, &rq, q);
        }
    }
}

/* The request an input carries after its NUL (see the header). */
#define SPEC_CTX 16
#define SPEC_VALUES 8
struct spec {
    char *text;
    struct eval_request rq;
    struct ctx_entry ctx[SPEC_CTX];
    const char *values[SPEC_CTX][SPEC_VALUES];
    char account[13];
};

/* Next line of *p (NUL-terminated in place), or NULL at the end. */
static char *next_line(char **p)
{
    if (!*p) return NULL;
    char *line = *p, *nl = strchr(line, '\n');
    if (nl) {
        *nl = '\0';
        *p = nl + 1;
    } else {
        *p = NULL;
    }
    return line;
}

static bool parse_spec(const uint8_t *data, size_t size, struct spec *sp)
{
    memset(sp, 0, sizeof *sp);
    if (size < 1) return false;
    sp->text = malloc(size);
    if (!sp->text) return false;
    memcpy(sp->text, data + 1, size - 1);
    sp->text[size - 1] = '\0';
    char *p = sp->text;
    sp->rq.who = WHO[(data[0] & 7) % (sizeof WHO / sizeof WHO[0])];
    const char *action = next_line(&p), *resource = next_line(&p), *racct = next_line(&p);
    sp->rq.action = action ? action : "kms:Decrypt";
    sp->rq.resource = resource ? resource : "*";
    sp->rq.resource_account = racct ? racct : "111122223333";
    char *line;
    while ((line = next_line(&p)) != NULL) {
        if (line[0] == '@') {
            struct arn_parts a;
            sp->rq.who.arn = line + 1;
            if (arn_split(line + 1, strlen(line + 1), &a) && a.len[4] == 12) {
                memcpy(sp->account, a.part[4], 12);
                sp->rq.who.account = sp->account;
            }
            continue;
        }
        if (sp->rq.nctx == SPEC_CTX) continue;
        struct ctx_entry *e = &sp->ctx[sp->rq.nctx];
        const char **vals = sp->values[sp->rq.nctx];
        if (line[0] == '+') {
            e->multi = true;
            line++;
        }
        char *eq = strchr(line, '=');
        e->key = line;
        e->values = vals;
        if (eq) {
            *eq = '\0';
            char *v = eq + 1;
            if (strcmp(v, "?") == 0) {
                e->unknown = true;
            } else if (*v || !e->multi) {
                for (;;) {
                    char *comma = strchr(v, ',');
                    if (comma) *comma = '\0';
                    if (e->n < SPEC_VALUES) vals[e->n++] = v;
                    if (!comma) break;
                    v = comma + 1;
                }
            }
        } else {
            vals[e->n++] = "";
        }
        if (e->n > 1) e->multi = true;
        sp->rq.nctx++;
    }
    sp->rq.ctx = sp->ctx;
    return true;
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
    const uint8_t *nul = memchr(data, '\0', size);
    size_t psize = nul ? (size_t)(nul - data) : size;
    struct spec sp;
    bool have_spec = nul && parse_spec(nul + 1, size - psize - 1, &sp);
    for (int k = POLICY_IDENTITY; k <= POLICY_KEY; k++) {
        struct policy *p = NULL;
        if (tr_failed(policy_compile(text, psize, (enum policy_kind)k, &p))) {
            if (p) __builtin_trap();
            continue;
        }
        size_t total = 0;
        (void)policy_each_aws_principal(p, count_principal, &total);
        for (size_t i = 0; i < policy_statement_count(p); i++) (void)policy_statement_sid(p, i);
        (void)policy_version(p);
        evaluate_all(p, (enum policy_kind)k, NULL);
        evaluate_all(p, (enum policy_kind)k, allow_all);
        if (have_spec) {
            for (size_t q = 0; q < 3; q++) {
                evaluate_one(p, (enum policy_kind)k, NULL, &sp.rq, q);
                evaluate_one(p, (enum policy_kind)k, allow_all, &sp.rq, q);
            }
        }
        policy_unref(p);
    }
    if (have_spec) free(sp.text);
    size_t half = size / 2;
    (void)glob_match(text, half, text + half, size - half, size & 1);
    return 0;
}
