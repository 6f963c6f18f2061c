/*
 * policy_test.c -- the policy engine (src/iam/policy*.c, conditions.c,
 * arn.c) against docs/AUTHORIZATION.md sections 2, 3, 4.1, 6.1 and 8.1.
 *
 * The core is a table of evaluation cases: each names the rule it tests (the
 * section of docs/AUTHORIZATION.md that states it), the policies (JSON
 * written with single quotes, turned into double quotes before compiling),
 * the request (a caller from a fixed cast, action, resource, context keys)
 * and the expected decision, plus deny_type / resource_match / deciding Sid /
 * conditional where they matter.  Every case is chosen so that a wrong
 * implementation of its rule fails it.  Then: validation messages, the cache
 * (identity, kinds, four threads, eviction), AccessDenied messages,
 * glob edge cases including pathological patterns, value parsers, and a
 * timing of policy_evaluate.
 *
 * Context string syntax in the table: "key=value;key2[]=a|b;key3[]=;?key4;!key5=v"
 * ("[]" a multi-valued key, "?" a key whose value is unknown, "!" a key
 * that identity policies see and the resource policy does not).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/result.h"
#include "crypto/hash.h"
#include "iam/arn.h"
#include "iam/authz.h"
#include "iam/conditions.h"
#include "iam/policy.h"

#define A_ACCT "111122223333"
#define B_ACCT "444455556666"
#define KEY_A "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
#define KEY_B "arn:aws:kms:us-east-1:444455556666:key/0000abcd-12ab-34cd-56ef-1234567890ab"
#define SEC_A "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf"
#define SEC_A2 "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/dbx-AbCdEf"
#define ROLE_APP "arn:aws:iam::111122223333:role/svc/App"
#define ROLE_TGT "arn:aws:iam::111122223333:role/Target"

/* ---- the cast ------------------------------------------------------------ */

enum who_id { ALICE = 0, BOB, SESS, SESS2, OTHER, ROOT_A, CAROL, SESS_B, ROOT_B, ANON, NWHO };

struct who_def {
    enum eval_principal_type type;
    const char *arn, *account, *role_arn, *username, *userid, *ptype;
};

static const struct who_def CAST[NWHO] = {
    [ALICE] = { EP_USER, "arn:aws:iam::111122223333:user/alice", A_ACCT, NULL, "alice",
                "AIDAALICEEXAMPLE00001", "User" },
    [BOB] = { EP_USER, "arn:aws:iam::111122223333:user/dev/bob", A_ACCT, NULL, "bob",
              "AIDABOBEXAMPLE0000001", "User" },
    [SESS] = { EP_ROLE_SESSION, "arn:aws:sts::111122223333:assumed-role/App/s1", A_ACCT, ROLE_APP,
               NULL, "AROAAPPEXAMPLE000001:s1", "AssumedRole" },
    [SESS2] = { EP_ROLE_SESSION, "arn:aws:sts::111122223333:assumed-role/App/s2", A_ACCT, ROLE_APP,
                NULL, "AROAAPPEXAMPLE000001:s2", "AssumedRole" },
    [OTHER] = { EP_ROLE_SESSION, "arn:aws:sts::111122223333:assumed-role/Other/s1", A_ACCT,
                "arn:aws:iam::111122223333:role/Other", NULL, "AROAOTHEREXAMPLE0001:s1", "AssumedRole" },
    [ROOT_A] = { EP_ROOT, "arn:aws:iam::111122223333:root", A_ACCT, NULL, NULL, A_ACCT, "Account" },
    [CAROL] = { EP_USER, "arn:aws:iam::444455556666:user/carol", B_ACCT, NULL, "carol",
                "AIDACAROLEXAMPLE00001", "User" },
    [SESS_B] = { EP_ROLE_SESSION, "arn:aws:sts::444455556666:assumed-role/Ext/x", B_ACCT,
                 "arn:aws:iam::444455556666:role/Ext", NULL, "AROAEXTEXAMPLE000001:x", "AssumedRole" },
    [ROOT_B] = { EP_ROOT, "arn:aws:iam::444455556666:root", B_ACCT, NULL, NULL, B_ACCT, "Account" },
    [ANON] = { EP_ANONYMOUS, NULL, NULL, NULL, NULL, NULL, "Anonymous" },
};

/* ---- policy text helpers (single quotes become double quotes) ------------ */

#define P12(...) "{'Version':'2012-10-17','Statement':[" __VA_ARGS__ "]}"
#define P08(...) "{'Version':'2008-10-17','Statement':[" __VA_ARGS__ "]}"
#define PNOV(...) "{'Statement':[" __VA_ARGS__ "]}"
/* Identity statements. */
#define A(act) "{'Effect':'Allow','Action':'" act "','Resource':'*'}"
#define D(act) "{'Effect':'Deny','Action':'" act "','Resource':'*'}"
#define AR(act, res) "{'Effect':'Allow','Action':'" act "','Resource':'" res "'}"
#define DR(act, res) "{'Effect':'Deny','Action':'" act "','Resource':'" res "'}"
#define AC(act, cond) "{'Effect':'Allow','Action':'" act "','Resource':'*','Condition':" cond "}"
#define DC(act, cond) "{'Effect':'Deny','Action':'" act "','Resource':'*','Condition':" cond "}"
#define SID_A(sid, act) "{'Sid':'" sid "','Effect':'Allow','Action':'" act "','Resource':'*'}"
#define SID_D(sid, act) "{'Sid':'" sid "','Effect':'Deny','Action':'" act "','Resource':'*'}"
#define SID_AC(sid, act, cond) \
    "{'Sid':'" sid "','Effect':'Allow','Action':'" act "','Resource':'*','Condition':" cond "}"
#define SID_DC(sid, act, cond) \
    "{'Sid':'" sid "','Effect':'Deny','Action':'" act "','Resource':'*','Condition':" cond "}"
/* Resource-policy statements: p is a principal JSON value. */
#define AP(p, act) "{'Effect':'Allow','Principal':" p ",'Action':'" act "','Resource':'*'}"
#define DP(p, act) "{'Effect':'Deny','Principal':" p ",'Action':'" act "','Resource':'*'}"
#define SID_AP(sid, p, act) "{'Sid':'" sid "','Effect':'Allow','Principal':" p ",'Action':'" act "','Resource':'*'}"
#define SID_DP(sid, p, act) "{'Sid':'" sid "','Effect':'Deny','Principal':" p ",'Action':'" act "','Resource':'*'}"
#define APC(p, act, cond) \
    "{'Effect':'Allow','Principal':" p ",'Action':'" act "','Resource':'*','Condition':" cond "}"
#define DPC(p, act, cond) \
    "{'Effect':'Deny','Principal':" p ",'Action':'" act "','Resource':'*','Condition':" cond "}"
#define DNP(p, act) "{'Effect':'Deny','NotPrincipal':" p ",'Action':'" act "','Resource':'*'}"
/* Trust statements (no Resource). */
#define TP(p) "{'Effect':'Allow','Principal':" p ",'Action':'sts:AssumeRole'}"
#define TPC(p, cond) "{'Effect':'Allow','Principal':" p ",'Action':'sts:AssumeRole','Condition':" cond "}"
#define AWS(x) "{'AWS':'" x "'}"
#define AWS2(x, y) "{'AWS':['" x "','" y "']}"
#define U_ALICE "arn:aws:iam::111122223333:user/alice"
#define U_BOB "arn:aws:iam::111122223333:user/dev/bob"
#define U_CAROL "arn:aws:iam::444455556666:user/carol"
#define S_S1 "arn:aws:sts::111122223333:assumed-role/App/s1"
#define ROOT_ARN_A "arn:aws:iam::111122223333:root"
#define ROOT_ARN_B "arn:aws:iam::444455556666:root"
#define C1(op, key, val) "{'" op "':{'" key "':" val "}}"

#define DEFAULT_KEY_POLICY \
    "{'Version':'2012-10-17','Id':'key-default-1','Statement':[{'Sid':'Enable IAM User Permissions'," \
    "'Effect':'Allow','Principal':{'AWS':'arn:aws:iam::111122223333:root'},'Action':'kms:*','Resource':'*'}]}"
#define SM_MANAGED_KEY_POLICY \
    "{'Id':'auto-secretsmanager-2','Version':'2012-10-17','Statement':[" \
    "{'Sid':'Via SM','Effect':'Allow','Principal':{'AWS':['*']}," \
    "'Action':['kms:Encrypt','kms:Decrypt','kms:ReEncrypt*','kms:CreateGrant','kms:DescribeKey'],'Resource':'*'," \
    "'Condition':{'StringEquals':{'kms:CallerAccount':'111122223333'," \
    "'kms:ViaService':'secretsmanager.us-west-2.amazonaws.com'}}}," \
    "{'Sid':'Via SM','Effect':'Allow','Principal':{'AWS':['*']},'Action':'kms:GenerateDataKey*','Resource':'*'," \
    "'Condition':{'StringEquals':{'kms:CallerAccount':'111122223333'}," \
    "'StringLike':{'kms:ViaService':'secretsmanager.*.amazonaws.com'}}}," \
    "{'Sid':'Metadata','Effect':'Allow','Principal':{'AWS':['arn:aws:iam::111122223333:root']}," \
    "'Action':['kms:Describe*','kms:Get*','kms:List*','kms:RevokeGrant'],'Resource':'*'}]}"
#define VIA_SM "kms:ViaService=secretsmanager.us-west-2.amazonaws.com"

/* ---- cases --------------------------------------------------------------- */

/* want_type / want_pm: 0 = not checked; PMX(x) to check x. */
#define PMX(x) ((int)(x) + 1)
enum { COND_ANY = 0, COND_NO = 1, COND_YES = 2 };

struct ecase {
    const char *desc;
    const char *rule;
    const char *id[3];
    const char *pb;
    const char *sp[2];
    const char *rp;
    const char *rp_ids;           /* the resource policy's binding (policy.h), or NULL */
    enum resource_mode mode;
    enum policy_kind rkind;       /* 0 (POLICY_IDENTITY) = from the action */
    enum who_id who;
    const char *action;
    const char *res;
    const char *ctx;
    enum decision want;
    enum policy_type_word want_type;
    int want_pm;
    const char *want_sid;
    int want_cond;
};

#define ALLOW_ DECISION_ALLOW
#define IMPL DECISION_IMPLICIT_DENY
#define EXPL DECISION_EXPLICIT_DENY
static const struct ecase CASES[] = {
    /* ---- 2.2 the decision, same account ---- */
    { .desc = "no policy at all: implicit deny", .rule = "2.2",
      .who = ALICE, .action = "kms:Decrypt", .res = KEY_A, .want = IMPL, .want_type = PT_IDENTITY },
    { .desc = "identity Allow suffices without a resource policy", .rule = "2.2",
      .id = { P12(SID_A("Id1", "kms:Decrypt")) }, .who = ALICE, .action = "kms:Decrypt", .res = KEY_A,
      .want = ALLOW_, .want_sid = "Id1" },
    { .desc = "Deny beats Allow in the same policy", .rule = "2.2",
      .id = { P12(A("kms:*") "," SID_D("No", "kms:Decrypt")) }, .who = ALICE, .action = "kms:Decrypt",
      .res = KEY_A, .want = EXPL, .want_type = PT_IDENTITY, .want_sid = "No" },
    { .desc = "Deny in a second identity policy beats an Allow in the first", .rule = "2.2",
      .id = { P12(A("kms:*")), P12(D("kms:Decrypt")) }, .who = ALICE, .action = "kms:Decrypt",
      .res = KEY_A, .want = EXPL, .want_type = PT_IDENTITY },
    { .desc = "resource-policy Deny beats an identity Allow", .rule = "2.2",
      .id = { P12(A("secretsmanager:*")) }, .rp = P12(SID_DP("RpNo", AWS(U_ALICE), "secretsmanager:*")),
      .mode = RES_UNION, .who = ALICE, .action = "secretsmanager:GetSecretValue", .res = SEC_A,
      .want = EXPL, .want_type = PT_RESOURCE, .want_sid = "RpNo" },
    { .desc = "boundary Deny is explicit even though the boundary also allows", .rule = "2.5",
      .id = { P12(A("kms:*")) }, .pb = P12(A("kms:*") "," D("kms:Decrypt")), .who = ALICE,
      .action = "kms:Decrypt", .res = KEY_A, .want = EXPL, .want_type = PT_BOUNDARY },
    { .desc = "session-policy Deny is explicit", .rule = "2.5",
      .id = { P12(A("kms:*")) }, .sp = { P12(A("kms:*") "," D("kms:Decrypt")) }, .who = SESS,
      .action = "kms:Decrypt", .res = KEY_A, .want = EXPL, .want_type = PT_SESSION },
    { .desc = "a Deny for another action does not apply", .rule = "2.2",
      .id = { P12(A("kms:*") "," D("kms:Encrypt")) }, .who = ALICE, .action = "kms:Decrypt",
      .res = KEY_A, .want = ALLOW_ },
    { .desc = "an Allow for another action does not allow", .rule = "2.2",
      .id = { P12(A("kms:Encrypt")) }, .who = ALICE, .action = "kms:Decrypt", .res = KEY_A,
      .want = IMPL, .want_type = PT_IDENTITY },
    { .desc = "Secrets Manager: identity Allow alone suffices (union)", .rule = "2.2",
      .id = { P12(A("secretsmanager:GetSecretValue")) }, .mode = RES_UNION, .who = ALICE,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_, .want_pm = PMX(PM_NONE) },
    { .desc = "Secrets Manager: resource policy naming the user alone suffices", .rule = "2.2",
      .rp = P12(SID_AP("RpYes", AWS(U_ALICE), "secretsmanager:GetSecretValue")), .mode = RES_UNION,
      .who = ALICE, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_,
      .want_pm = PMX(PM_DIRECT), .want_sid = "RpYes" },
    { .desc = "Secrets Manager: resource policy naming another user does not help", .rule = "2.2",
      .rp = P12(AP(AWS(U_BOB), "secretsmanager:GetSecretValue")), .mode = RES_UNION, .who = ALICE,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = IMPL, .want_type = PT_IDENTITY },
    { .desc = "KMS: identity Allow without key-policy delegation is ignored", .rule = "4.1",
      .id = { P12(A("kms:*")) }, .rp = P12(AP(AWS(U_BOB), "kms:*")), .mode = RES_REQUIRED, .who = ALICE,
      .action = "kms:Decrypt", .res = KEY_A, .want = IMPL, .want_type = PT_RESOURCE },
    { .desc = "KMS: delegation to the account plus identity Allow", .rule = "4.1",
      .id = { P12(SID_A("Iam", "kms:Decrypt")) }, .rp = DEFAULT_KEY_POLICY, .mode = RES_REQUIRED,
      .who = ALICE, .action = "kms:Decrypt", .res = KEY_A, .want = ALLOW_, .want_pm = PMX(PM_ACCOUNT),
      .want_sid = "Enable IAM User Permissions" },
    { .desc = "KMS: delegation without identity Allow", .rule = "4.1",
      .rp = DEFAULT_KEY_POLICY, .mode = RES_REQUIRED, .who = ALICE, .action = "kms:Decrypt", .res = KEY_A,
      .want = IMPL, .want_type = PT_IDENTITY },
    { .desc = "KMS: no key policy at all", .rule = "4.1",
      .id = { P12(A("kms:*")) }, .mode = RES_REQUIRED, .who = ALICE, .action = "kms:Decrypt", .res = KEY_A,
      .want = IMPL, .want_type = PT_RESOURCE },
    { .desc = "boundary without the action: implicit deny by the boundary", .rule = "2.5",
      .id = { P12(A("kms:*")) }, .pb = P12(A("kms:Encrypt")), .who = ALICE, .action = "kms:Decrypt",
      .res = KEY_A, .want = IMPL, .want_type = PT_BOUNDARY },
    { .desc = "session policy without the action: implicit deny by the session", .rule = "2.5",
      .id = { P12(A("kms:*")) }, .sp = { P12(A("kms:Encrypt")) }, .who = SESS, .action = "kms:Decrypt",
      .res = KEY_A, .want = IMPL, .want_type = PT_SESSION },
    { .desc = "role session without session policies is not limited", .rule = "2.5",
      .id = { P12(A("kms:*")) }, .who = SESS, .action = "kms:Decrypt", .res = KEY_A, .want = ALLOW_ },
    { .desc = "RES_NONE ignores resource-policy Allows", .rule = "2.2",
      .rp = P12(AP(AWS(U_ALICE), "iam:*")), .mode = RES_NONE, .who = ALICE, .action = "iam:GetUser",
      .res = "arn:aws:iam::111122223333:user/alice", .want = IMPL, .want_type = PT_IDENTITY },
    { .desc = "RES_NONE still honours a resource-policy Deny", .rule = "2.2",
      .id = { P12(A("iam:*")) }, .rp = P12(DP("'*'", "iam:*")), .mode = RES_NONE, .who = ALICE,
      .action = "iam:GetUser", .res = "arn:aws:iam::111122223333:user/alice", .want = EXPL,
      .want_type = PT_RESOURCE },
    { .desc = "a resource-policy Deny for another principal does not apply", .rule = "3.3",
      .id = { P12(A("secretsmanager:*")) }, .rp = P12(DP(AWS(U_BOB), "secretsmanager:*")), .mode = RES_UNION,
      .who = ALICE, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_ },
    { .desc = "boundary Deny is explicit even when identity has no Allow", .rule = "2.2",
      .pb = P12(D("kms:*")), .who = ALICE, .action = "kms:Decrypt", .res = KEY_A, .want = EXPL,
      .want_type = PT_BOUNDARY },
    { .desc = "root: own account, no resource policy: allowed", .rule = "2.2",
      .who = ROOT_A, .action = "iam:CreateUser", .res = "arn:aws:iam::111122223333:user/x", .want = ALLOW_ },
    { .desc = "root of another account gets nothing without a resource policy", .rule = "2.2",
      .who = ROOT_B, .action = "iam:CreateUser", .res = "arn:aws:iam::111122223333:user/x", .want = IMPL,
      .want_type = PT_RESOURCE },
    { .desc = "root is still bound by a resource-policy Deny", .rule = "2.2",
      .rp = P12(DP("'*'", "secretsmanager:*")), .mode = RES_UNION, .who = ROOT_A,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = EXPL, .want_type = PT_RESOURCE },
    { .desc = "root: account-level action (resource *)", .rule = "2.2",
      .who = ROOT_A, .action = "kms:CreateKey", .res = "*", .want = ALLOW_ },
    { .desc = "Deny in both resource and identity policies: resource reported first", .rule = "2.2",
      .id = { P12(D("secretsmanager:*")) }, .rp = P12(DP("'*'", "secretsmanager:*")), .mode = RES_UNION,
      .who = ALICE, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = EXPL,
      .want_type = PT_RESOURCE },
    { .desc = "Allow in the resource policy does not survive an identity Deny", .rule = "2.2",
      .id = { P12(SID_D("IdNo", "secretsmanager:GetSecretValue")) },
      .rp = P12(AP(AWS(U_ALICE), "secretsmanager:*")), .mode = RES_UNION, .who = ALICE,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = EXPL, .want_type = PT_IDENTITY,
      .want_sid = "IdNo" },

    /* ---- 2.3 how the resource policy names the caller ---- */
    { .desc = "user ARN in resource policy bypasses the boundary's implicit deny", .rule = "2.3",
      .pb = P12(A("s3:*")), .rp = P12(AP(AWS(U_ALICE), "secretsmanager:GetSecretValue")), .mode = RES_UNION,
      .who = ALICE, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_,
      .want_pm = PMX(PM_DIRECT) },
    { .desc = "user ARN in key policy bypasses the boundary", .rule = "2.3",
      .pb = P12(A("s3:*")), .rp = P12(AP(AWS(U_ALICE), "kms:Decrypt")), .mode = RES_REQUIRED, .who = ALICE,
      .action = "kms:Decrypt", .res = KEY_A, .want = ALLOW_, .want_pm = PMX(PM_DIRECT) },
    { .desc = "user ARN in resource policy: no identity policy needed", .rule = "2.3",
      .id = { P12(A("s3:*")) }, .rp = P12(AP(AWS(U_ALICE), "secretsmanager:*")), .mode = RES_UNION,
      .who = ALICE, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_ },
    { .desc = "role ARN in resource policy, no boundary or session policy", .rule = "2.3",
      .rp = P12(AP(AWS(ROLE_APP), "secretsmanager:*")), .mode = RES_UNION, .who = SESS,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_, .want_pm = PMX(PM_ROLE) },
    { .desc = "role ARN in resource policy is limited by the role's boundary", .rule = "2.3",
      .pb = P12(A("s3:*")), .rp = P12(AP(AWS(ROLE_APP), "secretsmanager:*")), .mode = RES_UNION, .who = SESS,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = IMPL, .want_type = PT_BOUNDARY },
    { .desc = "role ARN in resource policy: boundary that allows", .rule = "2.3",
      .pb = P12(A("secretsmanager:*")), .rp = P12(AP(AWS(ROLE_APP), "secretsmanager:*")), .mode = RES_UNION,
      .who = SESS, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_,
      .want_pm = PMX(PM_ROLE) },
    { .desc = "role ARN in resource policy is limited by the session policy", .rule = "2.3",
      .sp = { P12(A("s3:*")) }, .rp = P12(AP(AWS(ROLE_APP), "secretsmanager:*")), .mode = RES_UNION,
      .who = SESS, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = IMPL,
      .want_type = PT_SESSION },
    { .desc = "role ARN in resource policy: session policy that allows", .rule = "2.3",
      .sp = { P12(A("secretsmanager:Get*")) }, .rp = P12(AP(AWS(ROLE_APP), "secretsmanager:*")),
      .mode = RES_UNION, .who = SESS, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_ },
    { .desc = "session ARN in resource policy bypasses the boundary", .rule = "2.3",
      .pb = P12(A("s3:*")), .rp = P12(AP(AWS(S_S1), "secretsmanager:*")), .mode = RES_UNION, .who = SESS,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_, .want_pm = PMX(PM_DIRECT) },
    { .desc = "session ARN in resource policy bypasses the session policy", .rule = "2.3",
      .sp = { P12(A("s3:*")) }, .rp = P12(AP(AWS(S_S1), "secretsmanager:*")), .mode = RES_UNION, .who = SESS,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_, .want_pm = PMX(PM_DIRECT) },
    { .desc = "role ARN in key policy: no IAM policy needed", .rule = "2.3",
      .rp = P12(AP(AWS(ROLE_APP), "kms:Decrypt")), .mode = RES_REQUIRED, .who = SESS, .action = "kms:Decrypt",
      .res = KEY_A, .want = ALLOW_, .want_pm = PMX(PM_ROLE) },
    { .desc = "role ARN in key policy still limited by the boundary", .rule = "2.3",
      .pb = P12(A("s3:*")), .rp = P12(AP(AWS(ROLE_APP), "kms:Decrypt")), .mode = RES_REQUIRED, .who = SESS,
      .action = "kms:Decrypt", .res = KEY_A, .want = IMPL, .want_type = PT_BOUNDARY },
    { .desc = "session ARN in key policy not limited by the session policy", .rule = "2.3",
      .sp = { P12(A("s3:*")) }, .rp = P12(AP(AWS(S_S1), "kms:Decrypt")), .mode = RES_REQUIRED, .who = SESS,
      .action = "kms:Decrypt", .res = KEY_A, .want = ALLOW_ },
    { .desc = "role ARN in key policy limited by the session policy", .rule = "2.3",
      .sp = { P12(A("s3:*")) }, .rp = P12(AP(AWS(ROLE_APP), "kms:Decrypt")), .mode = RES_REQUIRED, .who = SESS,
      .action = "kms:Decrypt", .res = KEY_A, .want = IMPL, .want_type = PT_SESSION },
    { .desc = "\"*\" in a resource policy: not limited by a user's boundary", .rule = "2.3",
      .pb = P12(A("s3:*")), .rp = P12(AP("'*'", "secretsmanager:*")), .mode = RES_UNION, .who = ALICE,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_, .want_pm = PMX(PM_EVERYONE) },
    { .desc = "\"*\" in a resource policy: not limited by a session's boundary", .rule = "2.3",
      .pb = P12(A("s3:*")), .rp = P12(AP("'*'", "secretsmanager:*")), .mode = RES_UNION, .who = SESS,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_, .want_pm = PMX(PM_EVERYONE) },
    { .desc = "\"*\" in a key policy: not limited by the session policy", .rule = "2.3",
      .sp = { P12(A("s3:*")) }, .rp = P12(AP("'*'", "kms:Decrypt")), .mode = RES_REQUIRED, .who = SESS,
      .action = "kms:Decrypt", .res = KEY_A, .want = ALLOW_, .want_pm = PMX(PM_EVERYONE) },
    { .desc = "\"*\" and the role in one statement: \"*\" counts (not limited)", .rule = "2.3",
      .pb = P12(A("s3:*")), .rp = P12(AP(AWS2(ROLE_APP, "*"), "kms:Decrypt")),
      .mode = RES_REQUIRED, .who = SESS, .action = "kms:Decrypt", .res = KEY_A, .want = ALLOW_,
      .want_pm = PMX(PM_EVERYONE) },
    { .desc = "\"*\" across accounts still needs the caller's boundary", .rule = "2.4",
      .id = { P12(A("secretsmanager:*")) }, .pb = P12(A("s3:*")), .rp = P12(AP("'*'", "secretsmanager:*")),
      .mode = RES_UNION, .who = CAROL, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = IMPL,
      .want_type = PT_BOUNDARY },
    { .desc = "aws/secretsmanager key: a user's boundary without kms:Decrypt does not limit it", .rule = "2.3",
      .id = { P12(A("secretsmanager:GetSecretValue")) }, .pb = P12(A("secretsmanager:GetSecretValue")),
      .rp = SM_MANAGED_KEY_POLICY, .mode = RES_REQUIRED, .who = ALICE, .action = "kms:Decrypt", .res = KEY_A,
      .ctx = VIA_SM ";kms:CallerAccount=111122223333", .want = ALLOW_, .want_pm = PMX(PM_EVERYONE),
      .want_sid = "Via SM" },
    { .desc = "\"*\" does not bypass an explicit Deny in the boundary", .rule = "2.3",
      .pb = P12(D("kms:Decrypt")), .rp = P12(AP("'*'", "kms:Decrypt")), .mode = RES_REQUIRED, .who = ALICE,
      .action = "kms:Decrypt", .res = KEY_A, .want = EXPL, .want_type = PT_BOUNDARY },
    { .desc = "\"*\" in a key policy allows without IAM policies", .rule = "2.3",
      .rp = P12(APC("{'AWS':'*'}", "kms:Decrypt", C1("StringEquals", "kms:CallerAccount", "'111122223333'"))),
      .mode = RES_REQUIRED, .who = ALICE, .action = "kms:Decrypt", .res = KEY_A,
      .ctx = "kms:CallerAccount=111122223333", .want = ALLOW_, .want_pm = PMX(PM_EVERYONE) },
    { .desc = "direct naming wins over delegation when both match", .rule = "2.3",
      .pb = P12(A("s3:*")), .rp = P12(AP(AWS2(ROOT_ARN_A, U_ALICE), "kms:Decrypt")), .mode = RES_REQUIRED,
      .who = ALICE, .action = "kms:Decrypt", .res = KEY_A, .want = ALLOW_, .want_pm = PMX(PM_DIRECT) },
    { .desc = "explicit deny in the boundary still beats a direct resource-policy Allow", .rule = "2.3",
      .pb = P12(D("secretsmanager:*")), .rp = P12(AP(AWS(U_ALICE), "secretsmanager:*")), .mode = RES_UNION,
      .who = ALICE, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = EXPL,
      .want_type = PT_BOUNDARY },

    /* ---- 2.4 cross-account ---- */
    { .desc = "cross-account: resource policy names the user and identity allows", .rule = "2.4",
      .id = { P12(A("secretsmanager:GetSecretValue")) }, .rp = P12(AP(AWS(U_CAROL), "secretsmanager:*")),
      .mode = RES_UNION, .who = CAROL, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_,
      .want_pm = PMX(PM_DIRECT) },
    { .desc = "cross-account: naming the user does not remove the identity requirement", .rule = "2.4",
      .rp = P12(AP(AWS(U_CAROL), "secretsmanager:*")), .mode = RES_UNION, .who = CAROL,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = IMPL, .want_type = PT_IDENTITY },
    { .desc = "cross-account: identity Allow without resource policy", .rule = "2.4",
      .id = { P12(A("secretsmanager:*")) }, .mode = RES_UNION, .who = CAROL,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = IMPL, .want_type = PT_RESOURCE },
    { .desc = "cross-account: account root ARN delegates to account B", .rule = "2.4",
      .id = { P12(A("secretsmanager:*")) }, .rp = P12(AP(AWS(ROOT_ARN_B), "secretsmanager:*")),
      .mode = RES_UNION, .who = CAROL, .action = "secretsmanager:GetSecretValue", .res = SEC_A,
      .want = ALLOW_, .want_pm = PMX(PM_ACCOUNT) },
    { .desc = "cross-account: bare account id delegates to account B", .rule = "2.4",
      .id = { P12(A("secretsmanager:*")) }, .rp = P12(AP(AWS(B_ACCT), "secretsmanager:*")), .mode = RES_UNION,
      .who = CAROL, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_ },
    { .desc = "cross-account: delegation without identity Allow", .rule = "2.4",
      .rp = P12(AP(AWS(B_ACCT), "secretsmanager:*")), .mode = RES_UNION, .who = CAROL,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = IMPL, .want_type = PT_IDENTITY },
    { .desc = "cross-account KMS: key policy names account B, IAM in B allows", .rule = "4.1",
      .id = { P12(A("kms:Decrypt")) }, .rp = P12(AP(AWS(ROOT_ARN_B), "kms:Decrypt")), .mode = RES_REQUIRED,
      .who = CAROL, .action = "kms:Decrypt", .res = KEY_A, .want = ALLOW_ },
    { .desc = "cross-account KMS: key policy names only account A", .rule = "4.1",
      .id = { P12(A("kms:Decrypt")) }, .rp = DEFAULT_KEY_POLICY, .mode = RES_REQUIRED, .who = CAROL,
      .action = "kms:Decrypt", .res = KEY_A, .want = IMPL, .want_type = PT_RESOURCE },
    { .desc = "cross-account KMS: key policy names Carol, no IAM policy in B", .rule = "2.4",
      .rp = P12(AP(AWS(U_CAROL), "kms:Decrypt")), .mode = RES_REQUIRED, .who = CAROL, .action = "kms:Decrypt",
      .res = KEY_A, .want = IMPL, .want_type = PT_IDENTITY },
    { .desc = "cross-account role session: role named, identity allows", .rule = "2.4",
      .id = { P12(A("secretsmanager:*")) }, .rp = P12(AP(AWS("arn:aws:iam::444455556666:role/Ext"), "secr"
          "etsmanager:*")),
      .mode = RES_UNION, .who = SESS_B, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_,
      .want_pm = PMX(PM_ROLE) },
    { .desc = "cross-account role session: the caller's boundary still applies", .rule = "2.4",
      .id = { P12(A("secretsmanager:*")) }, .pb = P12(A("s3:*")),
      .rp = P12(AP(AWS("arn:aws:sts::444455556666:assumed-role/Ext/x"), "secretsmanager:*")), .mode = RES_UNION,
      .who = SESS_B, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = IMPL,
      .want_type = PT_BOUNDARY },
    { .desc = "cross-account root: resource policy names its account", .rule = "2.4",
      .rp = P12(AP(AWS(B_ACCT), "secretsmanager:*")), .mode = RES_UNION, .who = ROOT_B,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_ },
    { .desc = "cross-account root: resource policy names another account", .rule = "2.4",
      .rp = P12(AP(AWS(A_ACCT), "secretsmanager:*")), .mode = RES_UNION, .who = ROOT_B,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = IMPL, .want_type = PT_RESOURCE },
    { .desc = "cross-account with RES_NONE: nothing", .rule = "2.4",
      .id = { P12(A("iam:*")) }, .who = CAROL, .action = "iam:GetUser",
      .res = "arn:aws:iam::111122223333:user/alice", .want = IMPL, .want_type = PT_RESOURCE },
    { .desc = "cross-account: \"*\" resource policy plus identity Allow", .rule = "2.4",
      .id = { P12(A("secretsmanager:*")) }, .rp = P12(AP("'*'", "secretsmanager:*")), .mode = RES_UNION,
      .who = CAROL, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_,
      .want_pm = PMX(PM_EVERYONE) },
    { .desc = "cross-account: \"*\" resource policy without identity Allow", .rule = "2.4",
      .rp = P12(AP("'*'", "secretsmanager:*")), .mode = RES_UNION, .who = CAROL,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = IMPL, .want_type = PT_IDENTITY },
    { .desc = "cross-account trust naming account B plus identity Allow", .rule = "6.1",
      .id = { P12(AR("sts:AssumeRole", ROLE_TGT)) }, .rp = P12(TP(AWS(ROOT_ARN_B))), .mode = RES_REQUIRED,
      .who = CAROL, .action = "sts:AssumeRole", .res = ROLE_TGT, .want = ALLOW_ },
    { .desc = "cross-account trust naming Carol directly still needs B's identity Allow", .rule = "6.1",
      .rp = P12(TP(AWS(U_CAROL))), .mode = RES_REQUIRED, .who = CAROL, .action = "sts:AssumeRole",
      .res = ROLE_TGT, .want = IMPL, .want_type = PT_IDENTITY },
    { .desc = "a user of account A with a resource in account B is cross-account", .rule = "2.4",
      .id = { P12(A("kms:*")) }, .rp = P12(AP(AWS(U_ALICE), "kms:*")), .mode = RES_REQUIRED, .who = ALICE,
      .action = "kms:Decrypt", .res = KEY_B, .want = ALLOW_ },
    { .desc = "same user, resource in B, no identity Allow", .rule = "2.4",
      .rp = P12(AP(AWS(U_ALICE), "kms:*")), .mode = RES_REQUIRED, .who = ALICE, .action = "kms:Decrypt",
      .res = KEY_B, .want = IMPL, .want_type = PT_IDENTITY },

    /* ---- 2.5 boundaries and session policies ---- */
    { .desc = "boundary narrows identity: allowed action", .rule = "2.5",
      .id = { P12(SID_A("Id", "kms:*")) }, .pb = P12(SID_A("Pb", "kms:Decrypt")), .who = ALICE,
      .action = "kms:Decrypt", .res = KEY_A, .want = ALLOW_, .want_sid = "Pb" },
    { .desc = "boundary narrows identity: other action", .rule = "2.5",
      .id = { P12(A("kms:*")) }, .pb = P12(A("kms:Decrypt")), .who = ALICE, .action = "kms:Encrypt",
      .res = KEY_A, .want = IMPL, .want_type = PT_BOUNDARY },
    { .desc = "a boundary grants nothing by itself", .rule = "2.5",
      .pb = P12(A("kms:*")), .who = ALICE, .action = "kms:Decrypt", .res = KEY_A, .want = IMPL,
      .want_type = PT_IDENTITY },
    { .desc = "a session policy grants nothing by itself", .rule = "2.5",
      .sp = { P12(A("kms:*")) }, .who = SESS, .action = "kms:Decrypt", .res = KEY_A, .want = IMPL,
      .want_type = PT_IDENTITY },
    { .desc = "two session policies (inline + ARN): either may allow", .rule = "2.5",
      .id = { P12(A("kms:*")) }, .sp = { P12(A("kms:Encrypt")), P12(SID_A("Sp2", "kms:Decrypt")) }, .who = SESS,
      .action = "kms:Decrypt", .res = KEY_A, .want = ALLOW_, .want_sid = "Sp2" },
    { .desc = "identity, boundary and session all allow", .rule = "2.5",
      .id = { P12(SID_A("I", "kms:*")) }, .pb = P12(SID_A("B", "kms:*")), .sp = { P12(SID_A("S", "kms:*")) },
      .who = SESS, .action = "kms:Decrypt", .res = KEY_A, .want = ALLOW_, .want_sid = "S" },
    { .desc = "key delegation: boundary also has to allow", .rule = "2.5",
      .id = { P12(A("kms:*")) }, .pb = P12(A("s3:*")), .rp = DEFAULT_KEY_POLICY, .mode = RES_REQUIRED,
      .who = ALICE, .action = "kms:Decrypt", .res = KEY_A, .want = IMPL, .want_type = PT_BOUNDARY },
    { .desc = "Secrets Manager union: identity path limited by session policy", .rule = "2.5",
      .id = { P12(A("secretsmanager:*")) }, .sp = { P12(A("kms:*")) }, .mode = RES_UNION, .who = SESS,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = IMPL, .want_type = PT_SESSION },

    /* ---- 3.3 principal matching ---- */
    { .desc = "root ARN principal means the whole account (a user)", .rule = "3.3",
      .id = { P12(A("secretsmanager:*")) }, .rp = P12(AP(AWS(ROOT_ARN_A), "secretsmanager:*")),
      .mode = RES_REQUIRED, .rkind = POLICY_RESOURCE, .who = BOB, .action = "secretsmanager:GetSecretValue",
      .res = SEC_A, .want = ALLOW_, .want_pm = PMX(PM_ACCOUNT) },
    { .desc = "bare account id is the same as the root ARN", .rule = "3.3",
      .id = { P12(A("kms:*")) }, .rp = P12(AP(AWS(A_ACCT), "kms:*")), .mode = RES_REQUIRED, .who = ALICE,
      .action = "kms:Decrypt", .res = KEY_A, .want = ALLOW_, .want_pm = PMX(PM_ACCOUNT) },
    { .desc = "account principal is delegation, not a grant: no identity, no access", .rule = "3.3",
      .rp = P12(AP(AWS(A_ACCT), "kms:*")), .mode = RES_REQUIRED, .who = SESS, .action = "kms:Decrypt",
      .res = KEY_A, .want = IMPL, .want_type = PT_IDENTITY },
    { .desc = "role ARN matches the role's first session", .rule = "3.3",
      .rp = P12(AP(AWS(ROLE_APP), "kms:*")), .mode = RES_REQUIRED, .who = SESS, .action = "kms:Decrypt",
      .res = KEY_A, .want = ALLOW_ },
    { .desc = "role ARN matches the role's other session", .rule = "3.3",
      .rp = P12(AP(AWS(ROLE_APP), "kms:*")), .mode = RES_REQUIRED, .who = SESS2, .action = "kms:Decrypt",
      .res = KEY_A, .want = ALLOW_ },
    { .desc = "session ARN matches only that session", .rule = "3.3",
      .rp = P12(AP(AWS(S_S1), "kms:*")), .mode = RES_REQUIRED, .who = SESS2, .action = "kms:Decrypt",
      .res = KEY_A, .want = IMPL, .want_type = PT_RESOURCE },
    { .desc = "role ARN does not match another role's session", .rule = "3.3",
      .rp = P12(AP(AWS(ROLE_APP), "kms:*")), .mode = RES_REQUIRED, .who = OTHER, .action = "kms:Decrypt",
      .res = KEY_A, .want = IMPL, .want_type = PT_RESOURCE },
    { .desc = "role ARN must carry the role's path", .rule = "3.3",
      .rp = P12(AP(AWS("arn:aws:iam::111122223333:role/App"), "kms:*")), .mode = RES_REQUIRED, .who = SESS,
      .action = "kms:Decrypt", .res = KEY_A, .want = IMPL, .want_type = PT_RESOURCE },
    { .desc = "user name in a principal ARN is case-sensitive", .rule = "3.3",
      .rp = P12(AP(AWS("arn:aws:iam::111122223333:user/Alice"), "kms:*")), .mode = RES_REQUIRED, .who = ALICE,
      .action = "kms:Decrypt", .res = KEY_A, .want = IMPL, .want_type = PT_RESOURCE },
    { .desc = "string principal \"*\" matches a user", .rule = "3.3",
      .rp = P12(AP("'*'", "kms:*")), .mode = RES_REQUIRED, .who = ALICE, .action = "kms:Decrypt", .res = KEY_A,
      .want = ALLOW_, .want_pm = PMX(PM_EVERYONE) },
    { .desc = "{AWS:*} matches anonymous", .rule = "3.3",
      .rp = P12(AP(AWS("*"), "secretsmanager:*")), .mode = RES_UNION, .who = ANON,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_ },
    { .desc = "anonymous is not matched by an account principal", .rule = "3.3",
      .rp = P12(AP(AWS(A_ACCT), "secretsmanager:*")), .mode = RES_UNION, .who = ANON,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = IMPL, .want_type = PT_RESOURCE },
    { .desc = "anonymous gets nothing from identity-only evaluation", .rule = "3.3",
      .id = { P12(A("*")) }, .who = ANON, .action = "iam:GetUser", .res = "*", .want = IMPL },
    { .desc = "a service principal does not match a user", .rule = "3.3",
      .rp = P12(AP("{'Service':'ec2.amazonaws.com'}", "kms:*")), .mode = RES_REQUIRED, .who = ALICE,
      .action = "kms:Decrypt", .res = KEY_A, .want = IMPL, .want_type = PT_RESOURCE },
    { .desc = "a user's unique id names that user", .rule = "3.3",
      .rp = P12(AP(AWS("AIDAALICEEXAMPLE00001"), "kms:*")), .mode = RES_REQUIRED, .who = ALICE,
      .action = "kms:Decrypt", .res = KEY_A, .want = ALLOW_, .want_pm = PMX(PM_DIRECT) },
    { .desc = "a unique id (deleted entity) matches nobody else", .rule = "1.6",
      .rp = P12(AP(AWS("AIDAGONEEXAMPLE000001"), "kms:*")), .mode = RES_REQUIRED, .who = ALICE,
      .action = "kms:Decrypt", .res = KEY_A, .want = IMPL, .want_type = PT_RESOURCE },
    { .desc = "a Deny naming a user's unique id denies that user", .rule = "3.3",
      .rp = P12(AP(AWS(A_ACCT), "kms:*") "," "{'Effect':'Deny','Principal':{'AWS':'AIDAALICEEXAMPLE00001'},"
                "'Action':'kms:Decrypt','Resource':'*'}"), .mode = RES_REQUIRED, .who = ALICE,
      .id = { P12(A("kms:*")) }, .action = "kms:Decrypt", .res = KEY_A, .want = EXPL,
      .want_type = PT_RESOURCE },
    { .desc = "a role's unique id names its sessions, as its ARN does", .rule = "3.3, 2.3",
      .rp = P12(AP(AWS("AROAAPPEXAMPLE000001"), "secretsmanager:*")), .mode = RES_UNION, .who = SESS2,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_, .want_pm = PMX(PM_ROLE) },
    { .desc = "a user's unique id is not a role's", .rule = "3.3",
      .rp = P12(AP(AWS("AIDAALICEEXAMPLE00001"), "secretsmanager:*")), .mode = RES_UNION, .who = SESS,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = IMPL },
    /* Bound policies (policy.h): a user or role ARN matches on the id it was
     * bound to when the policy was saved, never on the name. */
    { .desc = "a bound user ARN matches the user of that id", .rule = "3.3",
      .rp = P12(AP(AWS(U_ALICE), "kms:*")), .rp_ids = "{'" U_ALICE "':'AIDAALICEEXAMPLE00001'}",
      .mode = RES_REQUIRED, .who = ALICE, .action = "kms:Decrypt", .res = KEY_A, .want = ALLOW_ },
    { .desc = "a bound user ARN does not match a new user of that name", .rule = "3.3",
      .rp = P12(AP(AWS(U_ALICE), "kms:*")), .rp_ids = "{'" U_ALICE "':'AIDAOLDALICE000000001'}",
      .mode = RES_REQUIRED, .who = ALICE, .action = "kms:Decrypt", .res = KEY_A, .want = IMPL,
      .want_type = PT_RESOURCE },
    { .desc = "a bound user ARN follows its user when renamed", .rule = "3.3",
      .rp = P12(AP(AWS("arn:aws:iam::111122223333:user/old-name"), "kms:*")),
      .rp_ids = "{'arn:aws:iam::111122223333:user/old-name':'AIDAALICEEXAMPLE00001'}",
      .mode = RES_REQUIRED, .who = ALICE, .action = "kms:Decrypt", .res = KEY_A, .want = ALLOW_ },
    { .desc = "a user ARN left out of a binding names nothing", .rule = "3.3",
      .rp = P12(AP(AWS(U_ALICE), "kms:*")), .rp_ids = "{}",
      .mode = RES_REQUIRED, .who = ALICE, .action = "kms:Decrypt", .res = KEY_A, .want = IMPL,
      .want_type = PT_RESOURCE },
    { .desc = "a bound role ARN matches the sessions of the role of that id", .rule = "3.3",
      .rp = P12(AP(AWS(ROLE_APP), "secretsmanager:*")), .rp_ids = "{'" ROLE_APP "':'AROAAPPEXAMPLE000001'}",
      .mode = RES_UNION, .who = SESS, .action = "secretsmanager:GetSecretValue", .res = SEC_A,
      .want = ALLOW_, .want_pm = PMX(PM_ROLE) },
    { .desc = "a bound role ARN: not the sessions of a new role of that name", .rule = "3.3",
      .rp = P12(AP(AWS(ROLE_APP), "secretsmanager:*")), .rp_ids = "{'" ROLE_APP "':'AROAOLDAPP0000000001'}",
      .mode = RES_UNION, .who = SESS, .action = "secretsmanager:GetSecretValue", .res = SEC_A,
      .want = IMPL },
    { .desc = "NotPrincipal with a bound ARN exempts only the bound user", .rule = "3.3",
      .rp = P12(AP(AWS(A_ACCT), "kms:*") "," "{'Effect':'Deny','NotPrincipal':{'AWS':['" U_ALICE "','"
                A_ACCT "']},'Action':'kms:*','Resource':'*'}"),
      .rp_ids = "{'" U_ALICE "':'AIDAOLDALICE000000001'}", .mode = RES_REQUIRED, .who = ALICE,
      .id = { P12(A("kms:*")) }, .action = "kms:Decrypt", .res = KEY_A, .want = EXPL },
    { .desc = "user ARN does not match a same-named user of another account", .rule = "3.3",
      .rp = P12(AP(AWS("arn:aws:iam::444455556666:user/alice"), "kms:*")), .mode = RES_REQUIRED, .who = ALICE,
      .action = "kms:Decrypt", .res = KEY_A, .want = IMPL, .want_type = PT_RESOURCE },
    { .desc = "principal list: any entry may match", .rule = "3.3",
      .rp = P12(AP(AWS2(U_BOB, U_ALICE), "kms:*")), .mode = RES_REQUIRED, .who = ALICE,
      .action = "kms:Decrypt", .res = KEY_A, .want = ALLOW_ },
    { .desc = "session ARN has no role path; aws:PrincipalArn is the role ARN with path", .rule = "1.1",
      .rp = P12(APC("'*'", "kms:*", C1("StringEquals", "aws:PrincipalArn", "'" ROLE_APP "'"))),
      .mode = RES_REQUIRED, .who = SESS, .action = "kms:Decrypt", .res = KEY_A, .want = ALLOW_ },
    { .desc = "a user ARN principal does not match a role session of the same name", .rule = "3.3",
      .rp = P12(AP(AWS("arn:aws:iam::111122223333:user/App"), "kms:*")), .mode = RES_REQUIRED, .who = SESS,
      .action = "kms:Decrypt", .res = KEY_A, .want = IMPL, .want_type = PT_RESOURCE },

    /* ---- 4.1 KMS key policies ---- */
    { .desc = "default key policy: root is allowed through delegation", .rule = "4.1",
      .rp = DEFAULT_KEY_POLICY, .mode = RES_REQUIRED, .who = ROOT_A, .action = "kms:ScheduleKeyDeletion",
      .res = KEY_A, .want = ALLOW_ },
    { .desc = "root has no implicit access to a key whose policy omits the account", .rule = "4.1",
      .rp = P12(AP(AWS(U_ALICE), "kms:*")), .mode = RES_REQUIRED, .who = ROOT_A, .action = "kms:Decrypt",
      .res = KEY_A, .want = IMPL, .want_type = PT_RESOURCE },
    /* A key policy's Resource and NotResource are matched against the key's
     * ARN, "*" being "this key" (policy_eval.c, stmt_resource). */
    { .desc = "key policy Resource naming another key does not apply", .rule = "4.1",
      .rp = P12("{'Effect':'Allow','Principal':{'AWS':'" U_ALICE "'},'Action':'kms:*','Resource':'arn:aws"
          ":kms:us-east-1:111122223333:key/other'}"),
      .mode = RES_REQUIRED, .who = ALICE, .action = "kms:Decrypt", .res = KEY_A, .want = IMPL,
      .want_type = PT_RESOURCE },
    { .desc = "key policy Resource naming the key itself applies", .rule = "4.1",
      .rp = P12("{'Effect':'Allow','Principal':{'AWS':'" U_ALICE "'},'Action':'kms:*','Resource':'" KEY_A "'}"),
      .mode = RES_REQUIRED, .who = ALICE, .action = "kms:Decrypt", .res = KEY_A, .want = ALLOW_ },
    { .desc = "key policy NotResource naming another key applies", .rule = "4.1",
      .rp = P12("{'Effect':'Allow','Principal':{'AWS':'" U_ALICE "'},'Action':'kms:*','NotResource':'arn:aws"
          ":kms:us-east-1:111122223333:key/other'}"),
      .mode = RES_REQUIRED, .who = ALICE, .action = "kms:Decrypt", .res = KEY_A, .want = ALLOW_ },
    { .desc = "key policy Deny with NotResource naming the key itself does not apply", .rule = "4.1",
      .rp = P12(AP(AWS(U_ALICE), "kms:*") ",{'Effect':'Deny','Principal':'*','Action':'kms:*','NotResource':'"
          KEY_A "'}"),
      .mode = RES_REQUIRED, .who = ALICE, .action = "kms:Decrypt", .res = KEY_A, .want = ALLOW_ },
    /* KMS's aws:ResourceTag/<k> and kms:ResourceAliases are for IAM policies
     * only: the key policy evaluates without them. */
    { .desc = "identity-only key: a key policy Deny on it does not see it", .rule = "4.1",
      .rp = P12(AP(AWS(U_ALICE), "kms:*") ",{'Effect':'Deny','Principal':'*','Action':'kms:*','Resource':'*',"
          "'Condition':{'StringEquals':{'aws:ResourceTag/class':'restricted'}}}"),
      .mode = RES_REQUIRED, .who = ALICE, .action = "kms:Decrypt", .res = KEY_A,
      .ctx = "!aws:ResourceTag/class=restricted", .want = ALLOW_ },
    { .desc = "identity-only key: an IAM Deny on it applies", .rule = "4.1",
      .id = { P12("{'Effect':'Deny','Action':'kms:*','Resource':'*','Condition':{'StringEquals':"
          "{'aws:ResourceTag/class':'restricted'}}}") },
      .rp = P12(AP(AWS(U_ALICE), "kms:*")), .mode = RES_REQUIRED, .who = ALICE, .action = "kms:Decrypt",
      .res = KEY_A, .ctx = "!aws:ResourceTag/class=restricted", .want = EXPL, .want_type = PT_IDENTITY },
    { .desc = "identity-only key: absent from the key policy, so a negated condition holds", .rule = "4.1",
      .rp = P12(AP(AWS(U_ALICE), "kms:*") ",{'Effect':'Deny','Principal':'*','Action':'kms:*','Resource':'*',"
          "'Condition':{'StringNotEquals':{'aws:ResourceTag/class':'public'}}}"),
      .mode = RES_REQUIRED, .who = ALICE, .action = "kms:Decrypt", .res = KEY_A,
      .ctx = "!aws:ResourceTag/class=public", .want = EXPL, .want_type = PT_RESOURCE },
    { .desc = "identity-only key: an IAM Allow conditioned on it allows", .rule = "4.1",
      .id = { P12("{'Effect':'Allow','Action':'kms:Decrypt','Resource':'*','Condition':"
          "{'ForAnyValue:StringEquals':{'kms:ResourceAliases':'alias/app'}}}") },
      .rp = DEFAULT_KEY_POLICY, .mode = RES_REQUIRED, .who = ALICE, .action = "kms:Decrypt", .res = KEY_A,
      .ctx = "!kms:ResourceAliases[]=alias/app|alias/other", .want = ALLOW_ },
    { .desc = "IAM Deny still counts against a direct key-policy Allow", .rule = "4.1",
      .id = { P12(D("kms:Decrypt")) }, .rp = P12(AP(AWS(U_ALICE), "kms:*")), .mode = RES_REQUIRED, .who = ALICE,
      .action = "kms:Decrypt", .res = KEY_A, .want = EXPL, .want_type = PT_IDENTITY },
    { .desc = "aws/secretsmanager key: usable through Secrets Manager with no IAM policy", .rule = "4.1",
      .rp = SM_MANAGED_KEY_POLICY, .mode = RES_REQUIRED, .who = ALICE, .action = "kms:Decrypt", .res = KEY_A,
      .ctx = VIA_SM ";kms:CallerAccount=111122223333", .want = ALLOW_, .want_sid = "Via SM" },
    { .desc = "aws/secretsmanager key: direct Decrypt refused even to an admin", .rule = "4.1",
      .id = { P12(A("*")) }, .rp = SM_MANAGED_KEY_POLICY, .mode = RES_REQUIRED, .who = ALICE,
      .action = "kms:Decrypt", .res = KEY_A, .ctx = "kms:CallerAccount=111122223333", .want = IMPL,
      .want_type = PT_RESOURCE },
    { .desc = "aws/secretsmanager key: another account's caller refused", .rule = "4.1",
      .id = { P12(A("*")) }, .rp = SM_MANAGED_KEY_POLICY, .mode = RES_REQUIRED, .who = CAROL,
      .action = "kms:Decrypt", .res = KEY_A, .ctx = VIA_SM ";kms:CallerAccount=444455556666", .want = IMPL,
      .want_type = PT_RESOURCE },
    { .desc = "aws/secretsmanager key: GenerateDataKey via any region's SM", .rule = "4.1",
      .rp = SM_MANAGED_KEY_POLICY, .mode = RES_REQUIRED, .who = ALICE, .action = "kms:GenerateDataKey",
      .res = KEY_A, .ctx = "kms:ViaService=secretsmanager.eu-west-1.amazonaws.com;kms:CallerAccount=111122223333",
      .want = ALLOW_ },
    { .desc = "aws/secretsmanager key: metadata via delegation needs IAM", .rule = "4.1",
      .rp = SM_MANAGED_KEY_POLICY, .mode = RES_REQUIRED, .who = ALICE, .action = "kms:DescribeKey",
      .res = KEY_A, .ctx = "kms:CallerAccount=111122223333", .want = IMPL, .want_type = PT_IDENTITY },
    { .desc = "aws/secretsmanager key: metadata via delegation with IAM", .rule = "4.1",
      .id = { P12(A("kms:Describe*")) }, .rp = SM_MANAGED_KEY_POLICY, .mode = RES_REQUIRED, .who = ALICE,
      .action = "kms:DescribeKey", .res = KEY_A, .ctx = "kms:CallerAccount=111122223333", .want = ALLOW_,
      .want_pm = PMX(PM_ACCOUNT), .want_sid = "Metadata" },

    /* ---- 1.10 trust policies ---- */
    { .desc = "trust naming the user: no identity policy needed (T35)", .rule = "6.1",
      .rp = P12(TP(AWS(U_ALICE))), .mode = RES_REQUIRED, .who = ALICE, .action = "sts:AssumeRole",
      .res = ROLE_TGT, .want = ALLOW_, .want_pm = PMX(PM_DIRECT) },
    { .desc = "trust naming the account: identity Allow needed", .rule = "6.1",
      .rp = P12(TP(AWS(A_ACCT))), .mode = RES_REQUIRED, .who = ALICE, .action = "sts:AssumeRole",
      .res = ROLE_TGT, .want = IMPL, .want_type = PT_IDENTITY },
    { .desc = "trust naming the account, identity allows", .rule = "6.1",
      .id = { P12(AR("sts:AssumeRole", "arn:aws:iam::111122223333:role/*")) }, .rp = P12(TP(AWS(A_ACCT))),
      .mode = RES_REQUIRED, .who = ALICE, .action = "sts:AssumeRole", .res = ROLE_TGT, .want = ALLOW_ },
    { .desc = "identity Allow without trust is not enough", .rule = "6.1",
      .id = { P12(A("sts:AssumeRole")) }, .rp = P12(TP(AWS(U_BOB))), .mode = RES_REQUIRED, .who = ALICE,
      .action = "sts:AssumeRole", .res = ROLE_TGT, .want = IMPL, .want_type = PT_RESOURCE },
    { .desc = "a role does not implicitly trust itself", .rule = "6.1",
      .id = { P12(A("sts:AssumeRole")) }, .rp = P12(TP(AWS(U_ALICE))), .mode = RES_REQUIRED, .who = SESS,
      .action = "sts:AssumeRole", .res = ROLE_APP, .want = IMPL, .want_type = PT_RESOURCE },
    { .desc = "trust with sts:ExternalId that matches", .rule = "6.1",
      .rp = P12(TPC(AWS(U_ALICE), C1("StringEquals", "sts:ExternalId", "'xyz'"))), .mode = RES_REQUIRED,
      .who = ALICE, .action = "sts:AssumeRole", .res = ROLE_TGT, .ctx = "sts:ExternalId=xyz", .want = ALLOW_ },
    { .desc = "trust with sts:ExternalId missing", .rule = "6.1",
      .rp = P12(TPC(AWS(U_ALICE), C1("StringEquals", "sts:ExternalId", "'xyz'"))), .mode = RES_REQUIRED,
      .who = ALICE, .action = "sts:AssumeRole", .res = ROLE_TGT, .want = IMPL, .want_type = PT_RESOURCE },
    { .desc = "service-only trust refuses users", .rule = "6.1",
      .id = { P12(A("sts:*")) }, .rp = P12(TP("{'Service':'lambda.amazonaws.com'}")), .mode = RES_REQUIRED,
      .who = ALICE, .action = "sts:AssumeRole", .res = ROLE_TGT, .want = IMPL, .want_type = PT_RESOURCE },
    { .desc = "trust for sts:AssumeRole does not cover sts:TagSession", .rule = "6.1",
      .rp = P12(TP(AWS(U_ALICE))), .mode = RES_REQUIRED, .who = ALICE, .action = "sts:TagSession",
      .res = ROLE_TGT, .want = IMPL, .want_type = PT_RESOURCE },
    { .desc = "trust naming the role of the caller's session, session policy limits", .rule = "6.1",
      .sp = { P12(A("s3:*")) }, .rp = P12(TP(AWS(ROLE_APP))), .mode = RES_REQUIRED, .who = SESS,
      .action = "sts:AssumeRole", .res = ROLE_TGT, .want = IMPL, .want_type = PT_SESSION },
    { .desc = "trust with aws:PrincipalTag condition", .rule = "6.1",
      .rp = P12(TPC(AWS(A_ACCT), C1("StringEquals", "aws:PrincipalTag/team", "'blue'"))),
      .id = { P12(A("sts:AssumeRole")) }, .mode = RES_REQUIRED, .who = ALICE, .action = "sts:AssumeRole",
      .res = ROLE_TGT, .ctx = "aws:PrincipalTag/team=blue", .want = ALLOW_ },

    /* ---- 3.4 condition structure and combination ---- */
#define CC(d, r, cond, ctxs, w) \
    { .desc = d, .rule = r, .id = { P12(AC("kms:Decrypt", cond)) }, .who = ALICE, .action = "kms:Decrypt", \
      .res = KEY_A, .ctx = ctxs, .want = w }
#define CC08(d, r, cond, ctxs, w) \
    { .desc = d, .rule = r, .id = { P08(AC("kms:Decrypt", cond)) }, .who = ALICE, .action = "kms:Decrypt", \
      .res = KEY_A, .ctx = ctxs, .want = w }
#define DCC(d, r, cond, ctxs, w) \
    { .desc = d, .rule = r, .id = { P12(A("kms:*") "," DC("kms:Decrypt", cond)) }, .who = ALICE, \
      .action = "kms:Decrypt", .res = KEY_A, .ctx = ctxs, .want = w }
    CC("two keys under one operator: both must hold", "3.4",
       "{'StringEquals':{'aws:RequestedRegion':'us-east-1','kms:CallerAccount':'111122223333'}}",
       "aws:RequestedRegion=us-east-1;kms:CallerAccount=444455556666", IMPL),
    CC("two keys under one operator: both hold", "3.4",
       "{'StringEquals':{'aws:RequestedRegion':'us-east-1','kms:CallerAccount':'111122223333'}}",
       "aws:RequestedRegion=us-east-1;kms:CallerAccount=111122223333", ALLOW_),
    CC("two operators: AND", "3.4",
       "{'StringEquals':{'aws:RequestedRegion':'us-east-1'},'Bool':{'aws:SecureTransport':'true'}}",
       "aws:RequestedRegion=us-east-1;aws:SecureTransport=false", IMPL),
    CC("values of one key: OR (second value)", "3.4",
       C1("StringEquals", "aws:RequestedRegion", "['eu-west-1','us-east-1']"), "aws:RequestedRegion=us-east-1", ALLOW_),
    CC("values of one key: OR, none", "3.4",
       C1("StringEquals", "aws:RequestedRegion", "['eu-west-1','us-east-2']"), "aws:RequestedRegion=us-east-1", IMPL),
    CC("negated operator with several values: NOR, one listed", "3.4",
       C1("StringNotEquals", "aws:RequestedRegion", "['eu-west-1','us-east-1']"), "aws:RequestedRegion=us"
           "-east-1", IMPL),
    CC("negated operator with several values: NOR, none listed", "3.4",
       C1("StringNotEquals", "aws:RequestedRegion", "['eu-west-1','us-east-1']"), "aws:RequestedRegion=ap-south-1",
       ALLOW_),
    CC("condition key names are case-insensitive", "3.4",
       C1("IpAddress", "AWS:SOURCEIP", "'203.0.113.0/24'"), "aws:SourceIp=203.0.113.9", ALLOW_),
    CC("kms:EncryptionContext:<k> suffix is case-insensitive", "3.4",
       C1("StringEquals", "kms:encryptioncontext:DEPT", "'10'"), "kms:EncryptionContext:Dept=10", ALLOW_),
    CC("the value stays case-sensitive under StringEquals", "3.4",
       C1("StringEquals", "kms:EncryptionContext:Dept", "'Ten'"), "kms:EncryptionContext:Dept=ten", IMPL),
    CC("missing key: positive operator is false", "3.4",
       C1("StringEquals", "kms:ViaService", "'secretsmanager.us-east-1.amazonaws.com'"), "", IMPL),
    CC("missing key: StringNotEquals is true", "3.4",
       C1("StringNotEquals", "kms:ViaService", "'ec2.us-east-1.amazonaws.com'"), "", ALLOW_),
    CC("missing key: NumericNotEquals is true", "3.4",
       C1("NumericNotEquals", "aws:MultiFactorAuthAge", "'0'"), "", ALLOW_),
    CC("missing key: NotIpAddress is true", "3.4", C1("NotIpAddress", "aws:SourceIp", "'10.0.0.0/8'"), "", ALLOW_),
    CC("missing key: ArnNotLike is true", "3.4",
       C1("ArnNotLike", "aws:SourceArn", "'arn:aws:s3:::x'"), "", ALLOW_),
    CC("missing key: DateNotEquals is true", "3.4",
       C1("DateNotEquals", "aws:TokenIssueTime", "'2020-01-01T00:00:00Z'"), "", ALLOW_),
    CC("missing key: NumericLessThan is false", "3.4",
       C1("NumericLessThan", "aws:MultiFactorAuthAge", "'3600'"), "", IMPL),
    CC("missing key: Bool is false", "3.4", C1("Bool", "aws:MultiFactorAuthPresent", "'true'"), "", IMPL),
    CC("missing key: IfExists is true", "3.4",
       C1("StringEqualsIfExists", "kms:ViaService", "'secretsmanager.us-east-1.amazonaws.com'"), "", ALLOW_),
    CC("IfExists with the key present and not matching", "3.4",
       C1("StringEqualsIfExists", "kms:ViaService", "'secretsmanager.us-east-1.amazonaws.com'"),
       "kms:ViaService=ec2.us-east-1.amazonaws.com", IMPL),
    CC("IfExists with the key present and matching", "3.4",
       C1("StringLikeIfExists", "kms:ViaService", "'secretsmanager.*'"),
       "kms:ViaService=secretsmanager.us-east-1.amazonaws.com", ALLOW_),
    CC("NumericLessThanIfExists on a missing key", "3.4",
       C1("NumericLessThanIfExists", "aws:MultiFactorAuthAge", "'3600'"), "", ALLOW_),
    CC("Null true: key absent", "3.4", C1("Null", "kms:ViaService", "'true'"), "", ALLOW_),
    CC("Null true: key present", "3.4", C1("Null", "kms:ViaService", "'true'"), VIA_SM, IMPL),
    CC("Null false: key present", "3.4", C1("Null", "kms:ViaService", "'false'"), VIA_SM, ALLOW_),
    CC("Null false: key absent", "3.4", C1("Null", "kms:ViaService", "'false'"), "", IMPL),
    CC("Null false: empty multi-valued key counts as absent", "3.4",
       C1("Null", "kms:EncryptionContextKeys", "'false'"), "kms:EncryptionContextKeys[]=", IMPL),
    CC("Null with a JSON boolean value", "3.4", C1("Null", "kms:ViaService", "true"), "", ALLOW_),
    DCC("Deny with StringNotEquals applies when the key is missing", "3.4",
        C1("StringNotEquals", "aws:PrincipalTag/team", "'blue'"), "", EXPL),
    DCC("Deny with StringEqualsIfExists applies when the key is missing", "3.4",
        C1("StringEqualsIfExists", "aws:PrincipalTag/team", "'red'"), "", EXPL),
    DCC("Deny with StringEqualsIfExists: present key that does not match", "3.4",
        C1("StringEqualsIfExists", "aws:PrincipalTag/team", "'red'"), "aws:PrincipalTag/team=blue", ALLOW_),
    DCC("Deny with StringEquals does not apply when the key is missing", "3.4",
        C1("StringEquals", "aws:PrincipalTag/team", "'red'"), "", ALLOW_),
    CC("an empty Condition object imposes nothing", "3.4", "{}", "", ALLOW_),
    CC("operator names are matched case-insensitively", "3.4",
       C1("stringequals", "aws:RequestedRegion", "'us-east-1'"), "aws:RequestedRegion=us-east-1", ALLOW_),

    /* ---- 3.5 operators ---- */
    CC("StringEquals is case-sensitive", "3.5", C1("StringEquals", "aws:username", "'Alice'"), "", IMPL),
    CC("StringEqualsIgnoreCase folds case", "3.5", C1("StringEqualsIgnoreCase", "aws:username", "'ALICE'"), "", ALLOW_),
    CC("StringNotEqualsIgnoreCase folds case", "3.5",
       C1("StringNotEqualsIgnoreCase", "aws:username", "'ALICE'"), "", IMPL),
    CC("StringEquals treats * literally", "3.5", C1("StringEquals", "aws:username", "'al*'"), "", IMPL),
    CC("StringLike with *", "3.5", C1("StringLike", "aws:username", "'al*'"), "", ALLOW_),
    CC("StringLike with ? needs exactly one character", "3.5", C1("StringLike", "aws:username", "'alic?'"), "", ALLOW_),
    CC("StringLike ? does not match two characters", "3.5", C1("StringLike", "aws:username", "'ali?'"), "", IMPL),
    CC("StringLike is case-sensitive", "3.5", C1("StringLike", "aws:username", "'AL*'"), "", IMPL),
    CC("StringNotLike", "3.5", C1("StringNotLike", "aws:username", "['b*','c*']"), "", ALLOW_),
    CC("StringNotLike matching one pattern", "3.5", C1("StringNotLike", "aws:username", "['b*','a*']"), "", IMPL),
    CC("StringEquals with a JSON number value", "3.5",
       C1("StringEquals", "kms:CallerAccount", "111122223333"), "kms:CallerAccount=111122223333", ALLOW_),
    CC("NumericEquals compares numbers, not text", "3.5",
       C1("NumericEquals", "s3:max-keys", "'10'"), "s3:max-keys=10.0", ALLOW_),
    CC("NumericNotEquals", "3.5", C1("NumericNotEquals", "s3:max-keys", "'10'"), "s3:max-keys=11", ALLOW_),
    CC("NumericLessThan true", "3.5", C1("NumericLessThan", "aws:MultiFactorAuthAge", "3600"),
       "aws:MultiFactorAuthAge=120", ALLOW_),
    CC("NumericLessThan at the boundary", "3.5", C1("NumericLessThan", "aws:MultiFactorAuthAge", "'3600'"),
       "aws:MultiFactorAuthAge=3600", IMPL),
    CC("NumericLessThanEquals at the boundary", "3.5",
       C1("NumericLessThanEquals", "aws:MultiFactorAuthAge", "'3600'"), "aws:MultiFactorAuthAge=3600", ALLOW_),
    CC("NumericGreaterThan", "3.5", C1("NumericGreaterThan", "s3:max-keys", "'-5'"), "s3:max-keys=-4.5", ALLOW_),
    CC("NumericGreaterThanEquals below", "3.5", C1("NumericGreaterThanEquals", "s3:max-keys", "'10'"),
       "s3:max-keys=9", IMPL),
    CC("Numeric with a request value that is not a number", "3.5",
       C1("NumericLessThan", "s3:max-keys", "'10'"), "s3:max-keys=abc", IMPL),
    CC("numbers 1e3 and 1000 are equal", "3.5", C1("NumericEquals", "s3:max-keys", "'1e3'"), "s3:max-keys"
        "=1000", ALLOW_),
    CC("DateLessThan with ISO 8601", "3.5", C1("DateLessThan", "aws:CurrentTime", "'2030-01-01T00:00:00Z'"),
       "aws:CurrentTime=2026-06-01T12:00:00Z", ALLOW_),
    CC("DateGreaterThan with ISO 8601", "3.5", C1("DateGreaterThan", "aws:CurrentTime", "'2030-01-01T00:00:00Z'"),
       "aws:CurrentTime=2026-06-01T12:00:00Z", IMPL),
    CC("Date policy value in epoch seconds vs ISO request value", "3.5",
       C1("DateGreaterThan", "aws:CurrentTime", "'1767225600'"), "aws:CurrentTime=2026-06-01T12:00:00Z", ALLOW_),
    CC("DateEquals across time zones", "3.5", C1("DateEquals", "aws:TokenIssueTime", "'2026-01-01T01:00:00+01:00'"),
       "aws:TokenIssueTime=2026-01-01T00:00:00Z", ALLOW_),
    CC("DateNotEquals", "3.5", C1("DateNotEquals", "aws:TokenIssueTime", "'2026-01-01T00:00:00Z'"),
       "aws:TokenIssueTime=2026-01-01T00:00:01Z", ALLOW_),
    CC("DateLessThanEquals with fractional seconds", "3.5",
       C1("DateLessThanEquals", "aws:CurrentTime", "'2026-01-01T00:00:00.500Z'"),
       "aws:CurrentTime=2026-01-01T00:00:00.499Z", ALLOW_),
    CC("Date on aws:EpochTime (epoch request value)", "3.5",
       C1("DateLessThan", "aws:EpochTime", "'2026-01-01'"), "aws:EpochTime=1767225599", ALLOW_),
    CC("DateGreaterThanEquals with a date-only value", "3.5",
       C1("DateGreaterThanEquals", "aws:CurrentTime", "'2026-01-02'"), "aws:CurrentTime=2026-01-01T23:59:59Z", IMPL),
    CC("a date that does not parse never matches", "3.5",
       C1("DateLessThan", "aws:CurrentTime", "'next tuesday'"), "aws:CurrentTime=2026-01-01T00:00:00Z", IMPL),
    CC("Bool true", "3.5", C1("Bool", "aws:SecureTransport", "'true'"), "aws:SecureTransport=true", ALLOW_),
    CC("Bool is case-insensitive", "3.5", C1("Bool", "aws:SecureTransport", "'TRUE'"), "aws:SecureTranspo"
        "rt=true", ALLOW_),
    CC("Bool with a JSON boolean", "3.5", C1("Bool", "kms:GrantIsForAWSResource", "true"),
       "kms:GrantIsForAWSResource=true", ALLOW_),
    CC("Bool false does not match true", "3.5", C1("Bool", "aws:SecureTransport", "'false'"),
       "aws:SecureTransport=true", IMPL),
    CC("BoolIfExists on a missing key", "3.5", C1("BoolIfExists", "aws:MultiFactorAuthPresent", "'true'"), "", ALLOW_),
    CC("BinaryEquals compares decoded bytes", "3.5", C1("BinaryEquals", "s3:x-bin", "'QmluYXJ5VmFsdWU='"),
       "s3:x-bin=QmluYXJ5VmFsdWU=", ALLOW_),
    CC("BinaryEquals accepts an unpadded request value", "3.5", C1("BinaryEquals", "s3:x-bin", "'QmluYXJ5VmFsdWU='"),
       "s3:x-bin=QmluYXJ5VmFsdWU", ALLOW_),
    CC("BinaryEquals mismatch", "3.5", C1("BinaryEquals", "s3:x-bin", "'QmluYXJ5VmFsdWU='"),
       "s3:x-bin=QmluYXJ5VmFsdWF=", IMPL),
    CC("IpAddress IPv4 CIDR inside", "3.5", C1("IpAddress", "aws:SourceIp", "'203.0.113.0/24'"),
       "aws:SourceIp=203.0.113.200", ALLOW_),
    CC("IpAddress IPv4 CIDR outside", "3.5", C1("IpAddress", "aws:SourceIp", "'203.0.113.0/24'"),
       "aws:SourceIp=203.0.114.1", IMPL),
    CC("IpAddress odd prefix /23", "3.5", C1("IpAddress", "aws:SourceIp", "'10.0.2.0/23'"),
       "aws:SourceIp=10.0.3.255", ALLOW_),
    CC("IpAddress single address without prefix", "3.5", C1("IpAddress", "aws:SourceIp", "'192.0.2.7'"),
       "aws:SourceIp=192.0.2.8", IMPL),
    CC("IpAddress IPv6 CIDR inside", "3.5", C1("IpAddress", "aws:SourceIp", "'2001:DB8:1234:5678::/64'"),
       "aws:SourceIp=2001:db8:1234:5678:abcd::1", ALLOW_),
    CC("IpAddress IPv6 CIDR outside", "3.5", C1("IpAddress", "aws:SourceIp", "'2001:DB8:1234:5678::/64'"),
       "aws:SourceIp=2001:db8:1234:5679::1", IMPL),
    CC("IPv4 address against an IPv6 CIDR", "3.5", C1("IpAddress", "aws:SourceIp", "'::/0'"),
       "aws:SourceIp=192.0.2.1", IMPL),
    CC("NotIpAddress outside", "3.5", C1("NotIpAddress", "aws:SourceIp", "['10.0.0.0/8','192.168.0.0/16']"),
       "aws:SourceIp=203.0.113.5", ALLOW_),
    CC("NotIpAddress inside one of the CIDRs", "3.5",
       C1("NotIpAddress", "aws:SourceIp", "['10.0.0.0/8','192.168.0.0/16']"), "aws:SourceIp=192.168.1.1", IMPL),
    CC("ArnLike per segment", "3.5", C1("ArnLike", "aws:SourceArn", "'arn:aws:s3:::bucket-*'"),
       "aws:SourceArn=arn:aws:s3:::bucket-1", ALLOW_),
    CC("ArnEquals behaves like ArnLike (wildcards)", "3.5",
       C1("ArnEquals", "aws:SourceArn", "'arn:aws:lambda:*:111122223333:function:*'"),
       "aws:SourceArn=arn:aws:lambda:us-east-1:111122223333:function:f", ALLOW_),
    CC("ArnLike: an extra colon shifts segments, no match", "3.5",
       C1("ArnLike", "aws:SourceArn", "'arn:aws:someservice:*:111122223333:finance/*'"),
       "aws:SourceArn=arn:aws:someservice:us-east-1:extra:111122223333:finance/x", IMPL),
    CC("StringLike over the whole string matches the same value", "3.5",
       C1("StringLike", "aws:SourceArn", "'arn:aws:someservice:*:111122223333:finance/*'"),
       "aws:SourceArn=arn:aws:someservice:us-east-1:extra:111122223333:finance/x", ALLOW_),
    CC("ArnLike: * in the resource segment spans colons", "3.5",
       C1("ArnLike", "aws:SourceArn", "'arn:aws:logs:us-east-1:111122223333:log-group:*'"),
       "aws:SourceArn=arn:aws:logs:us-east-1:111122223333:log-group:g:log-stream:s", ALLOW_),
    CC("ArnLike is case-sensitive", "3.5", C1("ArnLike", "aws:SourceArn", "'arn:aws:s3:::Bucket'"),
       "aws:SourceArn=arn:aws:s3:::bucket", IMPL),
    CC("ArnLike with a malformed request ARN is false", "3.5", C1("ArnLike", "aws:SourceArn", "'*'"),
       "aws:SourceArn=not-an-arn", IMPL),
    CC("ArnNotLike with a matching ARN", "3.5", C1("ArnNotLike", "aws:PrincipalArn", "'arn:aws:iam::*:user/*'"),
       "", IMPL),
    CC("ArnNotEquals with a different ARN", "3.5",
       C1("ArnNotEquals", "aws:PrincipalArn", "'arn:aws:iam::111122223333:user/bob'"), "", ALLOW_),
    CC("ArnLike with a malformed policy value never matches", "3.5",
       C1("ArnLike", "aws:PrincipalArn", "'arn:aws:iam'"), "", IMPL),

    /* ---- 3.6 multi-valued keys ---- */
    CC("ForAnyValue: one request value matches", "3.6",
       C1("ForAnyValue:StringEquals", "aws:TagKeys", "['env','team']"), "aws:TagKeys[]=team|cost", ALLOW_),
    CC("ForAnyValue: no request value matches", "3.6",
       C1("ForAnyValue:StringEquals", "aws:TagKeys", "['env','team']"), "aws:TagKeys[]=owner|cost", IMPL),
    CC("ForAnyValue: missing key is false", "3.6",
       C1("ForAnyValue:StringEquals", "aws:TagKeys", "['env']"), "", IMPL),
    CC("ForAnyValue: empty key is false", "3.6",
       C1("ForAnyValue:StringEquals", "aws:TagKeys", "['env']"), "aws:TagKeys[]=", IMPL),
    CC("ForAllValues: every request value listed", "3.6",
       C1("ForAllValues:StringEquals", "aws:TagKeys", "['env','team']"), "aws:TagKeys[]=team|env", ALLOW_),
    CC("ForAllValues: one request value not listed", "3.6",
       C1("ForAllValues:StringEquals", "aws:TagKeys", "['env','team']"), "aws:TagKeys[]=team|cost", IMPL),
    CC("ForAllValues: missing key is vacuously true", "3.6",
       C1("ForAllValues:StringEquals", "aws:TagKeys", "['env']"), "", ALLOW_),
    CC("ForAllValues: empty key is vacuously true", "3.6",
       C1("ForAllValues:StringEquals", "aws:TagKeys", "['env']"), "aws:TagKeys[]=", ALLOW_),
    CC("ForAllValues paired with Null false refuses the missing key", "3.6",
       "{'ForAllValues:StringEquals':{'aws:TagKeys':['env']},'Null':{'aws:TagKeys':'false'}}", "", IMPL),
    CC("ForAnyValue:StringNotEquals: one value outside the list", "3.6",
       C1("ForAnyValue:StringNotEquals", "aws:TagKeys", "['env','team']"), "aws:TagKeys[]=env|cost", ALLOW_),
    CC("ForAnyValue:StringNotEquals: all values inside the list", "3.6",
       C1("ForAnyValue:StringNotEquals", "aws:TagKeys", "['env','team']"), "aws:TagKeys[]=env|team", IMPL),
    CC("ForAnyValue:StringNotEquals: missing key is false", "3.6",
       C1("ForAnyValue:StringNotEquals", "aws:TagKeys", "['env']"), "", IMPL),
    CC("ForAllValues:StringNotEquals: no value in the list", "3.6",
       C1("ForAllValues:StringNotEquals", "aws:TagKeys", "['env','team']"), "aws:TagKeys[]=cost|owner", ALLOW_),
    CC("ForAllValues:StringNotEquals: one value in the list", "3.6",
       C1("ForAllValues:StringNotEquals", "aws:TagKeys", "['env','team']"), "aws:TagKeys[]=cost|team", IMPL),
    CC("ForAllValues:StringNotEquals: missing key is true", "3.6",
       C1("ForAllValues:StringNotEquals", "aws:TagKeys", "['env']"), "", ALLOW_),
    CC("ForAnyValue:StringLike", "3.6", C1("ForAnyValue:StringLike", "kms:ResourceAliases", "'alias/finance-*'"),
       "kms:ResourceAliases[]=alias/ops|alias/finance-key", ALLOW_),
    CC("ForAllValues with EncryptionContextKeys: SM's two keys", "5.3",
       C1("ForAllValues:StringEquals", "kms:EncryptionContextKeys", "['SecretARN','SecretVersionId']"),
       "kms:EncryptionContextKeys[]=SecretARN|SecretVersionId", ALLOW_),
    CC("plain StringEquals on a multi-valued key: any value (our choice)", "3.6",
       C1("StringEquals", "aws:TagKeys", "'team'"), "aws:TagKeys[]=env|team", ALLOW_),
    CC("plain StringNotEquals on a multi-valued key: no value may match (our choice)", "3.6",
       C1("StringNotEquals", "aws:TagKeys", "'team'"), "aws:TagKeys[]=env|team", IMPL),
    CC("set operator names are case-insensitive", "3.6",
       C1("forallvalues:StringEquals", "aws:TagKeys", "['env']"), "aws:TagKeys[]=cost", IMPL),

    /* ---- 3.7 policy variables ---- */
    { .desc = "${aws:username} in Resource: own resource", .rule = "3.7",
      .id = { P12(AR("iam:ChangePassword", "arn:aws:iam::111122223333:user/${aws:username}")) }, .who = ALICE,
      .action = "iam:ChangePassword", .res = "arn:aws:iam::111122223333:user/alice", .want = ALLOW_ },
    { .desc = "${aws:username} in Resource: another user's resource", .rule = "3.7",
      .id = { P12(AR("iam:ChangePassword", "arn:aws:iam::111122223333:user/${aws:username}")) }, .who = ALICE,
      .action = "iam:ChangePassword", .res = "arn:aws:iam::111122223333:user/bob", .want = IMPL },
    { .desc = "Version 2008-10-17: variables are literal text", .rule = "3.7",
      .id = { P08(AR("iam:ChangePassword", "arn:aws:iam::111122223333:user/${aws:username}")) }, .who = ALICE,
      .action = "iam:ChangePassword", .res = "arn:aws:iam::111122223333:user/alice", .want = IMPL },
    { .desc = "Version 2008-10-17: the literal text matches itself", .rule = "3.7",
      .id = { P08(AR("iam:ChangePassword", "arn:aws:iam::111122223333:user/${aws:username}")) }, .who = ALICE,
      .action = "iam:ChangePassword", .res = "arn:aws:iam::111122223333:user/${aws:username}", .want = ALLOW_ },
    { .desc = "no Version: variables are literal text", .rule = "3.7",
      .id = { PNOV(AR("iam:ChangePassword", "arn:aws:iam::111122223333:user/${aws:username}")) }, .who = ALICE,
      .action = "iam:ChangePassword", .res = "arn:aws:iam::111122223333:user/alice", .want = IMPL },
    { .desc = "aws:username is absent for role sessions: Resource matches nothing", .rule = "3.7",
      .id = { P12(AR("secretsmanager:*", "arn:aws:secretsmanager:us-east-1:111122223333:secret:${aws:username}*")) },
      .who = SESS, .action = "secretsmanager:GetSecretValue",
      .res = "arn:aws:secretsmanager:us-east-1:111122223333:secret:-AbCdEf", .want = IMPL },
    CC("${aws:PrincipalTag/team} in a condition value", "3.7",
       C1("StringEquals", "kms:EncryptionContext:team", "'${aws:PrincipalTag/team}'"),
       "kms:EncryptionContext:team=blue;aws:PrincipalTag/team=blue", ALLOW_),
    CC("default value when the tag is missing", "3.7",
       C1("StringEquals", "kms:EncryptionContext:team", "'${aws:PrincipalTag/team, \\u0027company-wide\\u0027}'"),
       "kms:EncryptionContext:team=company-wide", ALLOW_),
    CC("default value not used when the tag is present", "3.7",
       C1("StringEquals", "kms:EncryptionContext:team", "'${aws:PrincipalTag/team, \\u0027company-wide\\u0027}'"),
       "kms:EncryptionContext:team=company-wide;aws:PrincipalTag/team=red", IMPL),
    CC("missing variable: positive string condition false", "3.7",
       C1("StringEquals", "kms:EncryptionContext:team", "'${aws:PrincipalTag/team}'"),
       "kms:EncryptionContext:team=", IMPL),
    CC("missing variable: a negated condition with it is false", "3.7",
       C1("StringNotEquals", "kms:EncryptionContext:team", "'${aws:PrincipalTag/team}'"),
       "kms:EncryptionContext:team=blue", IMPL),
    CC("missing variable: false for a negated condition whatever the other values", "3.7",
       C1("StringNotLike", "kms:EncryptionContext:team", "['red','${aws:PrincipalTag/team}']"),
       "kms:EncryptionContext:team=blue", IMPL),
    CC("missing variable in ArnNotLike: false", "3.7",
       C1("ArnNotLike", "aws:PrincipalArn", "'arn:aws:iam::*:user/${aws:PrincipalTag/team}'"), "", IMPL),
    CC("missing variable: a negated condition on an absent key is still true", "3.7",
       C1("StringNotEquals", "kms:EncryptionContext:team", "'${aws:PrincipalTag/team}'"), "", ALLOW_),
    CC("missing variable: a positive condition's other values still match", "3.7",
       C1("StringEquals", "kms:EncryptionContext:team", "['${aws:PrincipalTag/team}','blue']"),
       "kms:EncryptionContext:team=blue", ALLOW_),
    CC08("2008 policy: the variable is compared literally", "3.7",
         C1("StringEquals", "kms:EncryptionContext:team", "'${aws:PrincipalTag/team}'"),
         "kms:EncryptionContext:team=blue;aws:PrincipalTag/team=blue", IMPL),
    { .desc = "${*} is a literal star", .rule = "3.7",
      .id = { P12(AR("secretsmanager:*", "arn:aws:secretsmanager:us-east-1:111122223333:secret:a${*}b")) },
      .who = ALICE, .action = "secretsmanager:GetSecretValue",
      .res = "arn:aws:secretsmanager:us-east-1:111122223333:secret:a*b", .want = ALLOW_ },
    { .desc = "${*} is not a wildcard", .rule = "3.7",
      .id = { P12(AR("secretsmanager:*", "arn:aws:secretsmanager:us-east-1:111122223333:secret:a${*}b")) },
      .who = ALICE, .action = "secretsmanager:GetSecretValue",
      .res = "arn:aws:secretsmanager:us-east-1:111122223333:secret:axxb", .want = IMPL },
    CC("${?} and ${$} are literals", "3.7", C1("StringLike", "s3:prefix", "'a${?}${$}*'"), "s3:prefix=a?$xyz", ALLOW_),
    CC("${?} does not match any character", "3.7", C1("StringLike", "s3:prefix", "'a${?}*'"), "s3:prefix=ab", IMPL),
    CC("variable names are case-insensitive", "3.7", C1("StringEquals", "s3:prefix", "'home/${AWS:UserName}'"),
       "s3:prefix=home/alice", ALLOW_),
    CC("no variables in Numeric values", "3.7", C1("NumericEquals", "s3:max-keys", "'${s3:other}'"),
       "s3:max-keys=5;s3:other=5", IMPL),
    CC("variables in ArnLike values", "3.7",
       C1("ArnLike", "aws:PrincipalArn", "'arn:aws:iam::${aws:PrincipalAccount}:user/*'"), "", ALLOW_),
    CC("variables in Bool values", "3.7", C1("Bool", "aws:SecureTransport", "'${s3:flag}'"),
       "aws:SecureTransport=true;s3:flag=TRUE", ALLOW_),
    CC("a variable's value is literal, never a wildcard", "3.7",
       C1("StringLike", "kms:EncryptionContext:team", "'${aws:PrincipalTag/team}'"),
       "kms:EncryptionContext:team=blue;aws:PrincipalTag/team=*", IMPL),
    CC("a variable inside StringLike next to a wildcard", "3.7",
       C1("StringLike", "s3:prefix", "'home/${aws:username}/*'"), "s3:prefix=home/alice/docs/x", ALLOW_),
    CC("a variable naming a multi-valued key is missing (our choice)", "3.7",
       C1("StringEquals", "s3:prefix", "'${aws:TagKeys}'"), "s3:prefix=a;aws:TagKeys[]=a", IMPL),
    CC("variables in Null values are not substituted", "3.7", C1("Null", "s3:prefix", "'${s3:flag}'"),
       "s3:flag=true", IMPL),
    { .desc = "variable in a resource policy's Resource (the resource part)", .rule = "3.7",
      .rp = P12("{'Effect':'Allow','Principal':'*','Action':'secretsmanager:*','Resource':'arn:aws:secret"
          "smanager:*:111122223333:secret:${aws:PrincipalTag/team}-*'}"),
      .mode = RES_UNION, .who = ALICE, .action = "secretsmanager:GetSecretValue",
      .res = "arn:aws:secretsmanager:us-east-1:111122223333:secret:red-AbCdEf", .ctx = "aws:PrincipalTag/team=red",
      .want = ALLOW_ },
    { .desc = "variable in a resource policy's Resource: another value", .rule = "3.7",
      .rp = P12("{'Effect':'Allow','Principal':'*','Action':'secretsmanager:*','Resource':'arn:aws:secret"
          "smanager:*:111122223333:secret:${aws:PrincipalTag/team}-*'}"),
      .mode = RES_UNION, .who = ALICE, .action = "secretsmanager:GetSecretValue",
      .res = "arn:aws:secretsmanager:us-east-1:111122223333:secret:blue-AbCdEf", .ctx = "aws:PrincipalTag/team=red",
      .want = IMPL },
    { .desc = "Allow NotResource with a variable that has no value: the statement does not apply", .rule = "3.7",
      .id = { P12("{'Effect':'Allow','Action':'secretsmanager:*','NotResource':'arn:aws:secretsmanager:*:*:"
          "secret:${aws:username}-*'}") },
      .who = SESS, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = IMPL },
    { .desc = "Deny NotResource with a variable that has no value: the statement does not apply", .rule = "3.7",
      .id = { P12(A("secretsmanager:*") ",{'Effect':'Deny','Action':'secretsmanager:*','NotResource':"
          "['arn:aws:secretsmanager:*:*:secret:prod/*','arn:aws:secretsmanager:*:*:secret:${aws:username}-*']}") },
      .who = SESS, .action = "secretsmanager:GetSecretValue", .res = SEC_A2, .want = ALLOW_ },
    { .desc = "NotResource with the variable's value: applies outside it", .rule = "3.7",
      .id = { P12("{'Effect':'Allow','Action':'secretsmanager:*','NotResource':'arn:aws:secretsmanager:*:*:"
          "secret:${aws:username}-*'}") },
      .who = ALICE, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_ },
    { .desc = "NotResource with a default value is resolvable", .rule = "3.7",
      .id = { P12("{'Effect':'Allow','Action':'secretsmanager:*','NotResource':'arn:aws:secretsmanager:*:*:"
          "secret:${aws:username, \\u0027nobody\\u0027}-*'}") },
      .who = SESS, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_ },
    { .desc = "2008 policy: ${...} in the account field is literal text, matching nothing", .rule = "3.7",
      .id = { P08(AR("secretsmanager:*", "arn:aws:secretsmanager:*:${aws:PrincipalAccount}:secret:*")) },
      .who = ALICE, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = IMPL },

    /* ---- 3.2 Action / Resource / NotX matching ---- */
#define ACT(d, pat, act, w) \
    { .desc = d, .rule = "3.2", .id = { P12(A(pat)) }, .who = ALICE, .action = act, .res = KEY_A, .want = w }
#define RES(d, pat, res_, w) \
    { .desc = d, .rule = "3.2", .id = { P12(AR("secretsmanager:*", pat)) }, .who = ALICE, \
      .action = "secretsmanager:GetSecretValue", .res = res_, .want = w }
    ACT("action match is case-insensitive (pattern case)", "KMS:decrypt", "kms:Decrypt", ALLOW_),
    ACT("action match is case-insensitive (request case)", "kms:Decrypt", "KMS:DECRYPT", ALLOW_),
    ACT("GenerateDataKey* covers GenerateDataKeyWithoutPlaintext", "kms:GenerateDataKey*",
        "kms:GenerateDataKeyWithoutPlaintext", ALLOW_),
    ACT("GenerateDataKey* covers GenerateDataKey itself", "kms:GenerateDataKey*", "kms:GenerateDataKey", ALLOW_),
    ACT("GenerateDataKey* does not cover Decrypt", "kms:GenerateDataKey*", "kms:Decrypt", IMPL),
    ACT("? matches one character in an action", "kms:?ncrypt", "kms:Encrypt", ALLOW_),
    ACT("? does not match ReEncrypt", "kms:?ncrypt", "kms:ReEncrypt", IMPL),
    ACT("\"*\" matches every action", "*", "iam:CreateUser", ALLOW_),
    ACT("service prefix must match", "secretsmanager:*", "kms:Decrypt", IMPL),
    ACT("service prefix is not a prefix match", "km:*", "kms:Decrypt", IMPL),
    ACT("a wildcard in the middle of an action", "kms:*Key*", "kms:ScheduleKeyDeletion", ALLOW_),
    ACT("action patterns are anchored", "kms:Decrypt", "kms:DecryptMore", IMPL),
    { .desc = "NotAction + Allow: every other action", .rule = "3.2",
      .id = { P12("{'Effect':'Allow','NotAction':'iam:*','Resource':'*'}") }, .who = ALICE, .action = "kms:Decrypt",
      .res = KEY_A, .want = ALLOW_ },
    { .desc = "NotAction + Allow: the excluded action", .rule = "3.2",
      .id = { P12("{'Effect':'Allow','NotAction':['iam:*','kms:Decrypt'],'Resource':'*'}") }, .who = ALICE,
      .action = "kms:Decrypt", .res = KEY_A, .want = IMPL },
    { .desc = "NotAction + Deny: denies everything but the listed actions", .rule = "3.2",
      .id = { P12(A("*") ",{'Effect':'Deny','NotAction':'kms:Describe*','Resource':'*'}") }, .who = ALICE,
      .action = "kms:Decrypt", .res = KEY_A, .want = EXPL },
    { .desc = "NotAction + Deny: the listed action is spared", .rule = "3.2",
      .id = { P12(A("*") ",{'Effect':'Deny','NotAction':'kms:Describe*','Resource':'*'}") }, .who = ALICE,
      .action = "kms:DescribeKey", .res = KEY_A, .want = ALLOW_ },
    RES("resource match is case-sensitive", "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/DB-*",
        SEC_A, IMPL),
    RES("* in a resource spans / and :", "arn:aws:secretsmanager:us-east-1:111122223333:*", SEC_A, ALLOW_),
    RES("NAME-?????? matches the six-character suffix", "arn:aws:secretsmanager:us-east-1:111122223333:se"
        "cret:prod/db-??????",
        SEC_A, ALLOW_),
    RES("NAME-?????? does not match another secret sharing the prefix",
        "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-??????", SEC_A2, IMPL),
    RES("NAME* also matches another secret sharing the prefix",
        "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db*", SEC_A2, ALLOW_),
    RES("Resource * matches everything", "*", SEC_A, ALLOW_),
    RES("account-level request (resource *) needs Resource *", "arn:aws:secretsmanager:*:*:*", "*", IMPL),
    RES("a resource pattern with no wildcard is exact", SEC_A, SEC_A "x", IMPL),
    RES("regex metacharacters in a resource are literal", "arn:aws:secretsmanager:*:*:secret:a+b(c)[d]-*",
        "arn:aws:secretsmanager:us-east-1:111122223333:secret:a+b(c)[d]-AbCdEf", ALLOW_),
    RES("regex metacharacters do not act as regex", "arn:aws:secretsmanager:*:*:secret:a.b-*",
        "arn:aws:secretsmanager:us-east-1:111122223333:secret:axb-AbCdEf", IMPL),
    { .desc = "Resource list: any entry may match", .rule = "3.2",
      .id = { P12("{'Effect':'Allow','Action':'secretsmanager:*','Resource':['arn:aws:s3:::x','" SEC_A "']}") },
      .who = ALICE, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_ },
    { .desc = "NotResource + Allow: other resources", .rule = "3.2",
      .id = { P12("{'Effect':'Allow','Action':'secretsmanager:*','NotResource':'" SEC_A2 "'}") }, .who = ALICE,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_ },
    { .desc = "NotResource + Allow: the excluded resource", .rule = "3.2",
      .id = { P12("{'Effect':'Allow','Action':'secretsmanager:*','NotResource':'" SEC_A "'}") }, .who = ALICE,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = IMPL },
    { .desc = "NotResource + Deny: everything outside the list is denied", .rule = "3.2",
      .id = { P12(A("secretsmanager:*") ",{'Effect':'Deny','Action':'secretsmanager:*','NotResource':'arn"
          ":aws:secretsmanager:*:*:secret:dev/*'}") },
      .who = ALICE, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = EXPL },
    { .desc = "NotPrincipal + Deny exempts the listed user", .rule = "3.3",
      .rp = P12(AP(AWS(A_ACCT), "secretsmanager:*") "," DNP(AWS2(U_ALICE, ROOT_ARN_A), "secretsmanager:*")),
      .id = { P12(A("secretsmanager:*")) }, .mode = RES_UNION, .who = ALICE,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_ },
    { .desc = "NotPrincipal + Deny: another user of the listed account is denied", .rule = "3.3",
      .rp = P12(DNP(AWS2(U_ALICE, ROOT_ARN_A), "secretsmanager:*")), .id = { P12(A("secretsmanager:*")) },
      .mode = RES_UNION, .who = BOB, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = EXPL,
      .want_type = PT_RESOURCE },
    { .desc = "NotPrincipal + Deny: listing the account exempts its root user", .rule = "3.3",
      .rp = P12(DNP(AWS(ROOT_ARN_A), "secretsmanager:*")), .mode = RES_UNION, .who = ROOT_A,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_ },
    { .desc = "NotPrincipal + Deny: listing the role exempts its sessions", .rule = "3.3",
      .rp = P12(DNP(AWS2(ROLE_APP, ROOT_ARN_A), "secretsmanager:*")), .id = { P12(A("secretsmanager:*")) },
      .mode = RES_UNION, .who = SESS2, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_ },
    { .desc = "NotPrincipal + Deny: listing a session exempts only that session", .rule = "3.3",
      .rp = P12(DNP(AWS2(S_S1, ROOT_ARN_A), "secretsmanager:*")), .id = { P12(A("secretsmanager:*")) },
      .mode = RES_UNION, .who = SESS2, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = EXPL },
    { .desc = "NotPrincipal + Deny: the listed session itself", .rule = "3.3",
      .rp = P12(DNP(AWS2(S_S1, ROOT_ARN_A), "secretsmanager:*")), .id = { P12(A("secretsmanager:*")) },
      .mode = RES_UNION, .who = SESS, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = ALLOW_ },
    { .desc = "NotPrincipal + Deny: anonymous is denied", .rule = "3.3",
      .rp = P12(AP("'*'", "secretsmanager:*") "," DNP(AWS(U_ALICE), "secretsmanager:*")), .mode = RES_UNION,
      .who = ANON, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = EXPL },
    { .desc = "NotPrincipal + Deny: a listed user with a boundary is denied all the same", .rule = "3.3",
      .rp = P12(AP(AWS(A_ACCT), "secretsmanager:*") "," DNP(AWS2(U_ALICE, ROOT_ARN_A), "secretsmanager:*")),
      .id = { P12(A("secretsmanager:*")) }, .pb = P12(A("secretsmanager:*")), .mode = RES_UNION, .who = ALICE,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = EXPL, .want_type = PT_RESOURCE },
    { .desc = "NotPrincipal + Deny: a listed session whose role has a boundary is denied", .rule = "3.3",
      .rp = P12(DNP(AWS2(S_S1, ROOT_ARN_A), "kms:*") "," AP(AWS(S_S1), "kms:*")), .pb = P12(A("kms:*")),
      .mode = RES_REQUIRED, .who = SESS, .action = "kms:Decrypt", .res = KEY_A, .want = EXPL,
      .want_type = PT_RESOURCE },
    { .desc = "NotPrincipal + Deny: a listed role's session with a boundary is denied", .rule = "3.3",
      .rp = P12(DNP(AWS2(ROLE_APP, ROOT_ARN_A), "secretsmanager:*")), .id = { P12(A("secretsmanager:*")) },
      .pb = P12(A("*")), .mode = RES_UNION, .who = SESS2, .action = "secretsmanager:GetSecretValue",
      .res = SEC_A, .want = EXPL, .want_type = PT_RESOURCE },
    { .desc = "NotPrincipal + Deny: a boundary does not matter to a statement for another action", .rule = "3.3",
      .rp = P12(DNP(AWS(U_ALICE), "secretsmanager:DeleteSecret")), .id = { P12(A("secretsmanager:*")) },
      .pb = P12(A("*")), .mode = RES_UNION, .who = ALICE, .action = "secretsmanager:GetSecretValue",
      .res = SEC_A, .want = ALLOW_ },
    { .desc = "NotPrincipal + Deny: other account's users are denied", .rule = "3.3",
      .rp = P12(AP(AWS(B_ACCT), "secretsmanager:*") "," DNP(AWS(ROOT_ARN_A), "secretsmanager:*")),
      .id = { P12(A("secretsmanager:*")) }, .mode = RES_UNION, .who = CAROL,
      .action = "secretsmanager:GetSecretValue", .res = SEC_A, .want = EXPL },

    /* ---- unknown context keys (static analysis) ---- */
    { .desc = "unknown key in an Allow: allowed, conditionally", .rule = "2.8",
      .id = { P12(SID_AC("MaybeIp", "kms:Decrypt", C1("IpAddress", "aws:SourceIp", "'10.0.0.0/8'"))) }, .who = ALICE,
      .action = "kms:Decrypt", .res = KEY_A, .ctx = "?aws:SourceIp", .want = ALLOW_, .want_sid = "MaybeIp",
      .want_cond = COND_YES },
    { .desc = "unknown key in a Deny: assumed not to apply, reported", .rule = "2.8",
      .id = { P12(A("kms:*") "," SID_DC("MaybeNo", "kms:Decrypt", C1("NotIpAddress", "aws:SourceIp", "'10"
          ".0.0.0/8'"))) },
      .who = ALICE, .action = "kms:Decrypt", .res = KEY_A, .ctx = "?aws:SourceIp", .want = ALLOW_,
      .want_sid = "MaybeNo", .want_cond = COND_YES },
    { .desc = "unknown Deny without any Allow: implicit deny, not conditional", .rule = "2.8",
      .id = { P12(DC("kms:Decrypt", C1("Bool", "aws:SecureTransport", "'false'"))) }, .who = ALICE,
      .action = "kms:Decrypt", .res = KEY_A, .ctx = "?aws:SecureTransport", .want = IMPL, .want_cond = COND_NO },
    { .desc = "a definite Allow makes an unknown Allow irrelevant", .rule = "2.8",
      .id = { P12(SID_A("Sure", "kms:Decrypt") "," AC("kms:Decrypt", C1("Bool", "aws:SecureTransport", "'true'"))) },
      .who = ALICE, .action = "kms:Decrypt", .res = KEY_A, .ctx = "?aws:SecureTransport", .want = ALLOW_,
      .want_sid = "Sure", .want_cond = COND_NO },
    { .desc = "a definite Deny beats an unknown Allow", .rule = "2.8",
      .id = { P12(D("kms:Decrypt") "," AC("kms:Decrypt", C1("Bool", "aws:SecureTransport", "'true'"))) },
      .who = ALICE, .action = "kms:Decrypt", .res = KEY_A, .ctx = "?aws:SecureTransport", .want = EXPL,
      .want_cond = COND_NO },
    { .desc = "unknown key under Null is unknown too", .rule = "2.8",
      .id = { P12(AC("kms:Decrypt", C1("Null", "kms:ViaService", "'false'"))) }, .who = ALICE,
      .action = "kms:Decrypt", .res = KEY_A, .ctx = "?kms:ViaService", .want = ALLOW_, .want_cond = COND_YES },
    { .desc = "unknown variable in Resource is unknown", .rule = "2.8",
      .id = { P12(AR("secretsmanager:*", "arn:aws:secretsmanager:*:*:secret:${aws:PrincipalTag/app}-*")) },
      .who = ALICE, .action = "secretsmanager:GetSecretValue", .res = SEC_A, .ctx = "?aws:PrincipalTag/app",
      .want = ALLOW_, .want_cond = COND_YES },
    { .desc = "unknown condition on the delegating key-policy statement", .rule = "2.8",
      .id = { P12(A("kms:*")) },
      .rp = P12(SID_AP("Deleg", AWS(A_ACCT), "kms:*") ","
                APC(AWS(A_ACCT), "kms:Decrypt", C1("StringEquals", "kms:ViaService", "'x'"))),
      .mode = RES_REQUIRED, .who = ALICE, .action = "kms:Decrypt", .res = KEY_A, .ctx = "?kms:ViaService",
      .want = ALLOW_, .want_sid = "Deleg", .want_cond = COND_NO },
    { .desc = "unknown key decides between allow and implicit deny: key policy", .rule = "2.8",
      .rp = SM_MANAGED_KEY_POLICY, .mode = RES_REQUIRED, .who = ALICE, .action = "kms:Decrypt", .res = KEY_A,
      .ctx = "?kms:ViaService;kms:CallerAccount=111122223333", .want = ALLOW_, .want_sid = "Via SM",
      .want_cond = COND_YES },
    { .desc = "an unknown key that cannot change a false condition", .rule = "2.8",
      .id = { P12(AC("kms:Decrypt", "{'StringEquals':{'aws:RequestedRegion':'eu-west-1'},'Bool':{'aws:Sec"
          "ureTransport':'true'}}")) },
      .who = ALICE, .action = "kms:Decrypt", .res = KEY_A, .ctx = "aws:RequestedRegion=us-east-1;?aws:SecureTransport",
      .want = IMPL },
    { .desc = "ForAllValues on an unknown key is unknown, not vacuous", .rule = "2.8",
      .id = { P12(AC("kms:Decrypt", C1("ForAllValues:StringEquals", "aws:TagKeys", "['a']"))) }, .who = ALICE,
      .action = "kms:Decrypt", .res = KEY_A, .ctx = "?aws:TagKeys", .want = ALLOW_, .want_cond = COND_YES },
};

#define NCASES (sizeof CASES / sizeof CASES[0])

/* ---- the harness --------------------------------------------------------- */

/* Double quotes for single quotes; caller frees. */
static char *json_of(const char *s)
{
    char *d = strdup(s);
    assert_non_null(d);
    for (char *p = d; *p; p++)
        if (*p == '\'') *p = '"';
    return d;
}

static struct policy *compile_bound_or_die(const char *text, enum policy_kind kind, const char *ids,
                                           const char *desc)
{
    char *j = json_of(text), *b = ids ? json_of(ids) : NULL;
    struct policy *p = NULL;
    tr_result r = policy_compile_bound(j, strlen(j), kind, b, &p);
    if (tr_failed(r)) print_error("case \"%s\": policy did not compile: %s\n  %s\n", desc, tr_last_error()->message, j);
    free(j);
    free(b);
    assert_true(tr_ok(r));
    return p;
}

static struct policy *compile_or_die(const char *text, enum policy_kind kind, const char *desc)
{
    return compile_bound_or_die(text, kind, NULL, desc);
}

#define MAX_CTX 24

struct ctx_store {
    struct ctx_entry e[MAX_CTX];
    size_t n;
    char *buf;
    const char *vals[MAX_CTX][8];
};

static void ctx_add1(struct ctx_store *cs, const char *key, const char *val)
{
    if (!val) return;
    assert_true(cs->n < MAX_CTX);
    cs->vals[cs->n][0] = val;
    cs->e[cs->n] = (struct ctx_entry){ .key = key, .values = cs->vals[cs->n], .n = 1 };
    cs->n++;
}

/* Parse "k=v;k[]=a|b;?k" into cs (keys and values point into cs->buf). */
static void ctx_parse(struct ctx_store *cs, const char *spec)
{
    cs->buf = strdup(spec ? spec : "");
    char *save = NULL;
    for (char *item = strtok_r(cs->buf, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
        assert_true(cs->n < MAX_CTX);
        struct ctx_entry *e = &cs->e[cs->n];
        const char **vals = cs->vals[cs->n];
        *e = (struct ctx_entry){ .values = vals };
        if (item[0] == '!') {
            e->identity_only = true;
            item++;
        }
        if (item[0] == '?') {
            e->key = item + 1;
            e->unknown = true;
            cs->n++;
            continue;
        }
        char *eq = strchr(item, '=');
        assert_non_null(eq);
        *eq = '\0';
        e->key = item;
        size_t kl = strlen(item);
        if (kl > 2 && strcmp(item + kl - 2, "[]") == 0) {
            item[kl - 2] = '\0';
            e->multi = true;
            char *s2 = NULL;
            for (char *v = strtok_r(eq + 1, "|", &s2); v; v = strtok_r(NULL, "|", &s2)) {
                assert_true(e->n < 8);
                vals[e->n++] = v;
            }
        } else {
            vals[0] = eq + 1;
            e->n = 1;
        }
        cs->n++;
    }
}

static void ctx_auto(struct ctx_store *cs, const struct who_def *w)
{
    ctx_add1(cs, "aws:PrincipalArn", w->role_arn ? w->role_arn : w->arn);
    ctx_add1(cs, "aws:PrincipalAccount", w->account);
    ctx_add1(cs, "aws:username", w->username);
    ctx_add1(cs, "aws:userid", w->userid);
    ctx_add1(cs, "aws:PrincipalType", w->ptype);
}

static const char *account_of(const char *arn)
{
    static char acct[13];
    struct arn_parts ap;
    if (!arn || !arn_split(arn, strlen(arn), &ap) || ap.len[4] != 12) return NULL;
    memcpy(acct, ap.part[4], 12);
    acct[12] = '\0';
    return acct;
}

static enum policy_kind resource_kind(const struct ecase *c)
{
    if (c->rkind != POLICY_IDENTITY) return c->rkind;
    if (c->mode == RES_REQUIRED) return strncmp(c->action, "sts:", 4) == 0 ? POLICY_TRUST : POLICY_KEY;
    return POLICY_RESOURCE;
}

static bool refs_have_sid(const struct stmt_ref *refs, size_t n, const char *sid)
{
    for (size_t i = 0; i < n; i++)
        if (refs[i].sid && strcmp(refs[i].sid, sid) == 0) return true;
    return false;
}

static const char *const DECISION_NAME[] = { "IMPLICIT_DENY", "ALLOW", "EXPLICIT_DENY" };

/* Run one case; print what went wrong and return false on a mismatch. */
static bool run_case(const struct ecase *c)
{
    struct named_policy id[3], pb = { 0 }, sp[2], rp = { 0 };
    size_t nid = 0, nsp = 0;
    for (; nid < 3 && c->id[nid]; nid++)
        id[nid] = (struct named_policy){ compile_or_die(c->id[nid], POLICY_IDENTITY, c->desc), "identity" };
    for (; nsp < 2 && c->sp[nsp]; nsp++)
        sp[nsp] = (struct named_policy){ compile_or_die(c->sp[nsp], POLICY_IDENTITY, c->desc), "session" };
    if (c->pb) pb = (struct named_policy){ compile_or_die(c->pb, POLICY_IDENTITY, c->desc), "boundary" };
    if (c->rp)
        rp = (struct named_policy){ compile_bound_or_die(c->rp, resource_kind(c), c->rp_ids, c->desc),
                                    "resource" };

    const struct who_def *w = &CAST[c->who];
    struct ctx_store cs = { 0 };
    ctx_parse(&cs, c->ctx);
    ctx_auto(&cs, w);
    struct eval_request rq = {
        .who = { w->type, w->arn, w->account, w->role_arn, NULL, 0 },
        .action = c->action, .resource = c->res, .resource_account = account_of(c->res),
        .ctx = cs.e, .nctx = cs.n,
    };
    if (w->type == EP_USER || w->type == EP_ROLE_SESSION) {   /* a session's: its role's */
        rq.who.unique_id = w->userid;
        rq.who.unique_id_len = strcspn(w->userid, ":");
    }
    struct policy_set ps = {
        .identity = id, .nidentity = nid, .boundary = c->pb ? &pb : NULL,
        .session = sp, .nsession = nsp, .session_present = nsp > 0,
        .resource = c->rp ? &rp : NULL, .mode = c->mode, .root_identity = w->type == EP_ROOT,
    };
    struct eval_result r;
    bool ok = tr_ok(policy_evaluate(&rq, &ps, &r));
    ok = ok && r.decision == c->want;
    if (ok && c->want_type) ok = r.deny_type == c->want_type;
    if (ok && c->want_pm) ok = (int)r.resource_match + 1 == c->want_pm;
    if (ok && c->want_cond) ok = r.conditional == (c->want_cond == COND_YES);
    if (ok && c->want_sid)
        ok = c->want_cond == COND_YES ? refs_have_sid(r.cond_refs, r.ncond_refs, c->want_sid)
                                      : refs_have_sid(r.refs, r.nrefs, c->want_sid);
    if (!ok)
        print_error("FAIL [%s] %s: got %s type=%d pm=%d cond=%d nrefs=%zu sid0=%s; want %s type=%d pm=%d\n",
                    c->rule, c->desc, DECISION_NAME[r.decision], r.deny_type, r.resource_match, r.conditional,
                    r.nrefs, r.nrefs && r.refs[0].sid ? r.refs[0].sid : "-", DECISION_NAME[c->want],
                    c->want_type, c->want_pm - 1);
    for (size_t i = 0; i < nid; i++) policy_unref((struct policy *)id[i].p);
    for (size_t i = 0; i < nsp; i++) policy_unref((struct policy *)sp[i].p);
    if (c->pb) policy_unref((struct policy *)pb.p);
    if (c->rp) policy_unref((struct policy *)rp.p);
    free(cs.buf);
    return ok;
}

static void test_evaluation_table(void **state)
{
    (void)state;
    size_t failed = 0;
    for (size_t i = 0; i < NCASES; i++)
        if (!run_case(&CASES[i])) failed++;
    print_message("evaluation cases: %zu, failed: %zu\n", NCASES, failed);
    /* Tally by rule (a section of docs/AUTHORIZATION.md). */
    for (size_t i = 0; i < NCASES; i++) {
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++) seen = strcmp(CASES[k].rule, CASES[i].rule) == 0;
        if (seen) continue;
        size_t n = 0;
        for (size_t k = i; k < NCASES; k++) n += strcmp(CASES[k].rule, CASES[i].rule) == 0;
        print_message("  %-8s %zu\n", CASES[i].rule, n);
    }
    assert_true(NCASES >= 180);
    assert_int_equal(failed, 0);
}

/* ---- validation ---------------------------------------------------------- */

struct vcase {
    enum policy_kind kind;
    const char *text;
    const char *msg;    /* NULL: must compile */
};

static const struct vcase VCASES[] = {
    { POLICY_IDENTITY, "{not json", "This policy contains invalid Json" },
    { POLICY_IDENTITY, "{'Version':'2012-10-17','Version':'2012-10-17','Statement':[]}", "This policy con"
        "tains invalid Json" },
    { POLICY_IDENTITY, "{}", "Syntax errors in policy." },
    { POLICY_IDENTITY, "[]", "Syntax errors in policy." },
    { POLICY_IDENTITY, "{'Version':'2020-01-01','Statement':" A("s3:GetObject") "}", "Syntax errors in policy." },
    { POLICY_IDENTITY, "{'Version':'2012-10-17'}", "Syntax errors in policy." },
    { POLICY_IDENTITY, "{'Version':'2012-10-17','Statement':null}", "Syntax errors in policy." },
    { POLICY_IDENTITY, "{'Version':'2012-10-17','Statement':[]}", "Syntax errors in policy." },
    { POLICY_IDENTITY, "{'Version':'2012-10-17','Statement':'hello'}", "Syntax errors in policy." },
    { POLICY_IDENTITY, "{'Version':'2012-10-17','Statement':[" A("s3:x") "],'Foo':1}", "Syntax errors in policy." },
    { POLICY_IDENTITY, P12("{'Action':'s3:GetObject','Resource':'*'}"), "Syntax errors in policy." },
    { POLICY_IDENTITY, P12("{'Effect':'Maybe','Action':'s3:GetObject','Resource':'*'}"), "Syntax errors in policy." },
    { POLICY_IDENTITY, P12("{'Effect':'allow','Action':'s3:GetObject','Resource':'*'}"), "Syntax errors in policy." },
    { POLICY_IDENTITY, P12("{'Effect':'Allow','Action':'s3:GetObject','NotAction':'s3:Put','Resource':'*'}"),
      "Syntax errors in policy." },
    { POLICY_IDENTITY, P12("{'Effect':'Allow','Action':'s3:GetObject','Resource':'*','NotResource':'*'}"),
      "Syntax errors in policy." },
    { POLICY_IDENTITY, P12("{'Effect':'Allow','Action':123,'Resource':'*'}"), "Syntax errors in policy." },
    { POLICY_IDENTITY, P12("{'Effect':'Allow','Action':'s3:x','Resource':'*','Extra':1}"), "Syntax errors in policy." },
    { POLICY_IDENTITY, P12("{'Effect':'Allow','Resource':'*'}"), "Policy statement must contain actions." },
    { POLICY_IDENTITY, P12("{'Effect':'Allow','Action':[],'Resource':'*'}"), "Policy statement must contain actions." },
    { POLICY_IDENTITY, P12("{'Effect':'Allow','Action':'s3:GetObject'}"), "Policy statement must contain resources." },
    { POLICY_KEY, P12("{'Effect':'Allow','Principal':'*','Action':'kms:*'}"), "Policy statement must cont"
        "ain resources." },
    { POLICY_IDENTITY, P12("{'Effect':'Allow','Action':'s3:GetObject','Resource':[]}"),
      "Policy statement must contain resources." },
    { POLICY_IDENTITY, P12(A("")), "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc." },
    { POLICY_IDENTITY, P12(A("GetObject")), "Actions/Conditions must be prefaced by a vendor, e.g., iam, "
        "sdb, ec2, etc." },
    { POLICY_IDENTITY, P12(A(":GetObject")), "Vendor  is not valid" },
    { POLICY_IDENTITY, P12(A("iam :Get")), "Vendor iam  is not valid" },
    { POLICY_IDENTITY, P12(AR("s3:GetObject", "invalid")), "Resource invalid must be in ARN format or \"*\"." },
    { POLICY_IDENTITY, P12(AR("s3:GetObject", "arn:awss3::example-bucket/*")), "The policy failed legacy parsing" },
    { POLICY_IDENTITY, P12(AR("s3:x", "arn:${aws:partition}:s3:::b/${aws:username}/*")),
      "The policy failed legacy parsing" },
    { POLICY_IDENTITY, P12(AR("kms:x", "arn:aws:kms:*:${aws:PrincipalAccount}:key/*")),
      "The policy failed legacy parsing" },
    { POLICY_IDENTITY, P12("{'Effect':'Deny','Action':'kms:x','NotResource':'arn:aws:kms:${aws:RequestedRegion}"
        ":111122223333:key/*'}"), "The policy failed legacy parsing" },
    { POLICY_IDENTITY, P12(AR("kms:x", "arn:aws:${aws:x}:*:*:key/*")), "The policy failed legacy parsing" },
    { POLICY_RESOURCE, P12("{'Effect':'Allow','Principal':'*','Action':'secretsmanager:*','Resource':'arn:aws:"
        "secretsmanager:*:${aws:PrincipalAccount}:secret:*'}"), "The policy failed legacy parsing" },
    { POLICY_KEY, P12("{'Effect':'Deny','Principal':'*','Action':'kms:*','Resource':'arn:aws:kms:*:"
        "${aws:PrincipalAccount}:key/*'}"), "The policy failed legacy parsing" },
    { POLICY_IDENTITY, P12(AR("s3:GetObject", "arn:aws2:s3:::example-bucket/*")),
      "Partition \"aws2\" is not valid for resource \"arn:aws2:s3:::example-bucket/*\"." },
    { POLICY_IDENTITY, P12(SID_A("Dup", "s3:GetObject") "," SID_A("Dup", "s3:PutObject")),
      "Statement IDs (SID) in a single policy must be unique." },
    { POLICY_IDENTITY, P12(SID_A("Has space", "s3:GetObject")),
      "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression "
          "[0-9A-Za-z]*" },
    { POLICY_IDENTITY, P12(AP("'*'", "s3:GetObject")), "Policy document should not specify a principal." },
    { POLICY_IDENTITY, P12(DNP("'*'", "s3:GetObject")), "Policy document should not specify a principal." },
    { POLICY_RESOURCE, P12(A("secretsmanager:*")), "Missing required field Principal" },
    { POLICY_TRUST, P12("{'Effect':'Allow','Action':'sts:AssumeRole'}"), "Missing required field Principal" },
    { POLICY_KEY, P12(A("kms:*")), "Missing required field Principal" },
    { POLICY_TRUST, P12("{'Effect':'Deny','NotPrincipal':{'AWS':'111122223333'},'Action':'sts:AssumeRole'}"),
      "Has prohibited field NotPrincipal" },
    { POLICY_RESOURCE, P12("{'Effect':'Allow','NotPrincipal':{'AWS':'111122223333'},'Action':'s3:x','Resource':'*'}"),
      "NotPrincipal with Allow is not supported: use Principal, or NotPrincipal with Deny." },
    { POLICY_RESOURCE, P12("{'Effect':'Deny','Principal':'*','NotPrincipal':'*','Action':'s3:x','Resource':'*'}"),
      "Syntax errors in policy." },
    { POLICY_KEY, P12(AP(AWS("arn:aws:iam::111122223333:user/*"), "kms:*")),
      "Invalid principal in policy: \"AWS\":\"arn:aws:iam::111122223333:user/*\"" },
    { POLICY_KEY, P12(AP(AWS("arn:aws:iam::*:root"), "kms:*")),
      "Invalid principal in policy: \"AWS\":\"arn:aws:iam::*:root\"" },
    { POLICY_KEY, P12(AP(AWS("bob"), "kms:*")), "Invalid principal in policy: \"AWS\":\"bob\"" },
    { POLICY_KEY, P12(AP(AWS("11112222333"), "kms:*")), "Invalid principal in policy: \"AWS\":\"11112222333\"" },
    { POLICY_KEY, P12(AP("{'Foo':'x'}", "kms:*")), "Invalid principal in policy: \"Foo\"" },
    { POLICY_KEY, P12(AP("'arn:aws:iam::111122223333:root'", "kms:*")),
      "Invalid principal in policy: \"arn:aws:iam::111122223333:root\"" },
    { POLICY_KEY, P12(AP("{}", "kms:*")), "Syntax errors in policy." },
    { POLICY_KEY, P12(AP("{'AWS':[]}", "kms:*")), "Syntax errors in policy." },
    { POLICY_IDENTITY, P12(AC("s3:x", C1("StringEqualz", "aws:username", "'a'"))), "Invalid Condition typ"
        "e : StringEqualz" },
    { POLICY_IDENTITY, P12(AC("s3:x", C1("NullIfExists", "aws:username", "'true'"))),
      "Invalid Condition type : NullIfExists" },
    { POLICY_IDENTITY, P12(AC("s3:x", C1("ForSomeValues:StringEquals", "aws:username", "'a'"))),
      "Invalid Condition type : ForSomeValues:StringEquals" },
    { POLICY_IDENTITY, P12(AC("s3:x", "{'aws:username':'a'}")), "Syntax errors in policy." },
    { POLICY_IDENTITY, P12(AC("s3:x", "'x'")), "Syntax errors in policy." },
    { POLICY_IDENTITY, P12(AC("s3:x", C1("StringEquals", "username", "'a'"))),
      "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc." },
    { POLICY_IDENTITY, P12(AC("s3:x", C1("StringEquals", "aws:username", "{'a':1}"))), "Syntax errors in policy." },
    { POLICY_IDENTITY, P12(AC("s3:x", C1("StringEquals", "aws:username", "[['a']]"))), "Syntax errors in policy." },
    { POLICY_IDENTITY, P12(AC("s3:x", C1("StringEquals", "aws:username", "null"))), "Syntax errors in policy." },
    { POLICY_IDENTITY, P12("{'Sid':5,'Effect':'Allow','Action':'s3:x','Resource':'*'}"), "Syntax errors in policy." },
    { POLICY_IDENTITY, "{'Version':'2012-10-17','Id':7,'Statement':" A("s3:x") "}", "Syntax errors in policy." },
    /* accepted */
    { POLICY_IDENTITY, "{'Version':'2012-10-17','Statement':" A("s3:GetObject") "}", NULL },
    { POLICY_IDENTITY, PNOV(A("s3:GetObject")), NULL },
    { POLICY_IDENTITY, P12(AC("s3:x", C1("StringEquals", "aws:username", "[1, 2.5, true, 'x']"))), NULL },
    { POLICY_IDENTITY, P12(AC("s3:x", C1("StringEquals", "aws:username", "[]"))), NULL },
    { POLICY_KEY, DEFAULT_KEY_POLICY, NULL },
    { POLICY_KEY, SM_MANAGED_KEY_POLICY, NULL },
    { POLICY_KEY, P12(SID_AP("Same", "'*'", "kms:x") "," SID_AP("Same", "'*'", "kms:y")), NULL },
    { POLICY_TRUST, P12(TP("{'Service':['ec2.amazonaws.com','lambda.amazonaws.com']}")), NULL },
    { POLICY_TRUST, P12(TP("{'Federated':'arn:aws:iam::111122223333:oidc-provider/x'}")), NULL },
    { POLICY_RESOURCE, P12(AP(AWS("arn:aws:sts::111122223333:assumed-role/R/s") , "secretsmanager:*")), NULL },
    { POLICY_RESOURCE, P12(AP(AWS("arn:aws:sts::111122223333:federated-user/f") , "secretsmanager:*")), NULL },
    { POLICY_RESOURCE, P12(AP(AWS("AROAEXAMPLEID0000001"), "secretsmanager:*")), NULL },
    { POLICY_RESOURCE, P12(AP(AWS("arn:aws-cn:iam::111122223333:role/a/b/c"), "secretsmanager:*")), NULL },
    { POLICY_RESOURCE, P12(DNP(AWS2(U_ALICE, ROOT_ARN_A), "secretsmanager:*")), NULL },
    { POLICY_IDENTITY, P12(AR("s3:x", "arn:aws:s3:::b/${aws:username}/*")), NULL },
    { POLICY_IDENTITY, P12(AR("s3:x", "arn:aws:s3:::${aws:username}:${aws:userid}")), NULL },
    { POLICY_IDENTITY, P08(AR("s3:x", "arn:aws:kms:*:${aws:PrincipalAccount}:key/*")), NULL },
    { POLICY_IDENTITY, P12(AC("s3:x", C1("ForAnyValue:StringLikeIfExists", "aws:TagKeys", "'a*'"))), NULL },
    { POLICY_IDENTITY, P12(AC("s3:x", C1("DateLessThan", "aws:CurrentTime", "'bad date'"))), NULL },
};

static void test_validation(void **state)
{
    (void)state;
    size_t failed = 0;
    for (size_t i = 0; i < sizeof VCASES / sizeof VCASES[0]; i++) {
        const struct vcase *v = &VCASES[i];
        char *j = json_of(v->text);
        struct policy *p = NULL;
        tr_clear_error();
        tr_result r = policy_compile(j, strlen(j), v->kind, &p);
        bool ok;
        if (v->msg) {
            ok = tr_code(r) == TR_E_POLICY_MALFORMED && p == NULL &&
                 strcmp(tr_last_error()->message, v->msg) == 0;
        } else {
            ok = tr_ok(r) && p != NULL;
        }
        if (!ok) {
            print_error("validation %zu: %s\n  want: %s\n  got: %s (%d)\n", i, j, v->msg ? v->msg : "(ok)",
                        tr_last_error()->message, tr_code(r));
            failed++;
        }
        policy_unref(p);
        free(j);
    }
    assert_int_equal(failed, 0);
}

static TR_RESULT collect_principal(void *arg, const char *principal)
{
    char *buf = arg;
    size_t n = strlen(buf);
    snprintf(buf + n, 512 - n, "%s;", principal);
    return TR_OK;
}

static void test_accessors(void **state)
{
    (void)state;
    struct policy *p = compile_or_die(P12(SID_AP("One", AWS2(U_ALICE, A_ACCT), "kms:*") ","
                                          AP("{'Service':'x.amazonaws.com','AWS':'*'}", "kms:*")),
                                      POLICY_KEY, "accessors");
    assert_int_equal(policy_statement_count(p), 2);
    assert_string_equal(policy_statement_sid(p, 0), "One");
    assert_null(policy_statement_sid(p, 1));
    assert_null(policy_statement_sid(p, 2));
    assert_string_equal(policy_version(p), "2012-10-17");
    char buf[512] = "";
    assert_true(tr_ok(policy_each_aws_principal(p, collect_principal, buf)));
    assert_string_equal(buf, U_ALICE ";" A_ACCT ";*;");
    policy_unref(p);
    p = compile_or_die(P12(AP("{'Federated':['arn:aws:iam::" A_ACCT ":oidc-provider/idp.example',"
                              "'cognito-identity.amazonaws.com'],'AWS':'" U_ALICE "'}",
                              "sts:AssumeRoleWithWebIdentity")), POLICY_TRUST, "accessors");
    buf[0] = '\0';
    assert_true(tr_ok(policy_each_federated_principal(p, collect_principal, buf)));
    assert_string_equal(buf, "arn:aws:iam::" A_ACCT ":oidc-provider/idp.example;cognito-identity.amazonaws.com;");
    buf[0] = '\0';
    assert_true(tr_ok(policy_each_aws_principal(p, collect_principal, buf)));
    assert_string_equal(buf, U_ALICE ";");
    policy_unref(p);
    p = compile_or_die(PNOV(A("s3:x")), POLICY_IDENTITY, "accessors");
    assert_string_equal(policy_version(p), "");
    policy_unref(p);
}

/* policy_may_allow: a necessary condition, never a decision. */
static void test_may_allow(void **state)
{
    (void)state;
    const char *s1 = "arn:aws:secretsmanager:us-east-1:" A_ACCT ":secret:app/db-AbCdEf";
    const char *s2 = "arn:aws:secretsmanager:us-east-1:" A_ACCT ":secret:other-AbCdEf";
    struct policy *p = compile_or_die(P12(AR("secretsmanager:Get*",
                                             "arn:aws:secretsmanager:*:*:secret:app/*") ","
                                          D("secretsmanager:GetSecretValue") ","
                                          AC("kms:Decrypt", C1("IpAddress", "aws:SourceIp", "'10.0.0.0/8'"))),
                                      POLICY_IDENTITY, "may");
    assert_true(policy_may_allow(p, NULL, "secretsmanager:GetSecretValue", s1));
    assert_false(policy_may_allow(p, NULL, "secretsmanager:GetSecretValue", s2));  /* resource */
    assert_true(policy_may_allow(p, NULL, "secretsmanager:GetSecretValue", NULL));  /* anywhere */
    assert_true(policy_may_allow(p, NULL, "kms:Decrypt", "*"));                    /* conditions ignored */
    assert_false(policy_may_allow(p, NULL, "kms:Encrypt", NULL));                  /* Deny never allows */
    policy_unref(p);
    /* NotResource, and a variable in Resource (counts as matching). */
    p = compile_or_die(P12("{'Effect':'Allow','Action':'secretsmanager:*',"
                           "'NotResource':'arn:aws:secretsmanager:*:*:secret:app/*'},"
                           AR("kms:Decrypt", "arn:aws:kms:*:*:key/${aws:PrincipalTag/key}")),
                       POLICY_IDENTITY, "may-not");
    assert_false(policy_may_allow(p, NULL, "secretsmanager:GetSecretValue", s1));
    assert_true(policy_may_allow(p, NULL, "secretsmanager:GetSecretValue", s2));
    assert_true(policy_may_allow(p, NULL, "kms:Decrypt", "arn:aws:kms:us-east-1:" A_ACCT ":key/k"));
    policy_unref(p);
    /* Principals: a user, its account, another account; "*". */
    p = compile_or_die(P12(AP(AWS(U_ALICE), "kms:Decrypt") "," AP(AWS("444455556666"), "kms:Encrypt")),
                       POLICY_KEY, "may-principal");
    struct eval_principal alice = { .type = EP_USER, .arn = U_ALICE, .account = A_ACCT };
    struct eval_principal bob = { .type = EP_USER, .arn = "arn:aws:iam::" A_ACCT ":user/bob",
                                  .account = A_ACCT };
    assert_true(policy_may_allow(p, &alice, "kms:Decrypt", "k"));
    assert_false(policy_may_allow(p, &bob, "kms:Decrypt", "k"));
    assert_false(policy_may_allow(p, &alice, "kms:Encrypt", "k"));
    assert_true(policy_may_allow(p, NULL, "kms:Encrypt", "k"));
    policy_unref(p);
}

/* ---- the cache ----------------------------------------------------------- */

static void test_cache_identity_and_kinds(void **state)
{
    (void)state;
    policy_cache_clear();
    char *j = json_of(P12(AP("'*'", "kms:*")));
    struct policy *a, *b, *c;
    assert_true(tr_ok(policy_cache_get(j, strlen(j), POLICY_KEY, &a)));
    assert_true(tr_ok(policy_cache_get(j, strlen(j), POLICY_KEY, &b)));
    assert_ptr_equal(a, b);
    assert_true(tr_ok(policy_cache_get(j, strlen(j), POLICY_RESOURCE, &c)));
    assert_ptr_not_equal(a, c);
    assert_int_equal(policy_cache_size(), 2);
    /* A text that does not compile is an error, and not cached. */
    struct policy *bad = (struct policy *)1;
    tr_result r = policy_cache_get(j, strlen(j), POLICY_IDENTITY, &bad);
    assert_int_equal(tr_code(r), TR_E_POLICY_MALFORMED);
    assert_null(bad);
    assert_int_equal(policy_cache_size(), 2);
    /* The same document with one more byte is another entry. */
    char *j2 = json_of(P12(AP("'*'", "kms:*")) " ");
    struct policy *d;
    assert_true(tr_ok(policy_cache_get(j2, strlen(j2), POLICY_KEY, &d)));
    assert_ptr_not_equal(a, d);
    free(j2);
    /* Clearing keeps the holders' references valid. */
    policy_cache_clear();
    assert_int_equal(policy_statement_count(a), 1);
    policy_unref(a);
    policy_unref(b);
    policy_unref(c);
    policy_unref(d);
    free(j);
}

/* docs/AUTHORIZATION.md 2.9: a stored policy that no longer compiles
 * becomes one explicit Deny of everything, for every kind, whoever asks
 * (the root user too), whatever the other policies allow; a document that
 * compiles is returned as policy_cache_get_bound returns it. */
static void test_cache_stored_fails_closed(void **state)
{
    (void)state;
    static const char *const broken[] = { "{broken", "[]", "{\"Statement\":[]}",
                                          "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\"}}" };
    static const enum policy_kind kinds[] = { POLICY_IDENTITY, POLICY_RESOURCE, POLICY_TRUST,
                                              POLICY_KEY };
    struct policy *allow_all = compile_or_die(P12(A("*")), POLICY_IDENTITY, "allow-all");
    struct named_policy id = { allow_all, "allow-all" };
    for (size_t b = 0; b < sizeof broken / sizeof broken[0]; b++) {
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            struct policy *p = NULL;
            tr_clear_error();
            assert_true(tr_ok(policy_cache_get_stored(broken[b], strlen(broken[b]), kinds[k],
                                                      NULL, "arn:test", &p)));
            assert_non_null(p);
            /* The engine's message (it may quote the text) is not kept. */
            assert_int_equal(tr_last_error()->code, TR_E_OK);
            assert_int_equal(policy_statement_count(p), 1);
            assert_string_equal(policy_statement_sid(p, 0), "StoredPolicyDoesNotCompile");
            assert_false(policy_may_allow(p, NULL, "kms:Decrypt", NULL));
            for (int root = 0; root < 2; root++) {
                struct eval_request rq = {
                    .who = { .type = root ? EP_ROOT : EP_USER,
                             .arn = root ? "arn:aws:iam::" A_ACCT ":root" : U_ALICE,
                             .account = A_ACCT },
                    .action = "kms:Decrypt", .resource = KEY_A, .resource_account = A_ACCT,
                };
                struct named_policy np = { p, "stored" };
                struct policy_set ps = { .identity = &id, .nidentity = 1, .root_identity = root };
                if (kinds[k] == POLICY_IDENTITY) {
                    ps.boundary = &np;      /* as a boundary: still a Deny */
                } else {
                    ps.resource = &np;
                    ps.mode = kinds[k] == POLICY_RESOURCE ? RES_UNION : RES_REQUIRED;
                }
                struct eval_result r;
                assert_true(tr_ok(policy_evaluate(&rq, &ps, &r)));
                assert_int_equal(r.decision, DECISION_EXPLICIT_DENY);
                assert_int_equal(r.deny_type, kinds[k] == POLICY_IDENTITY ? PT_BOUNDARY : PT_RESOURCE);
            }
            policy_unref(p);
        }
    }
    /* A document that compiles is itself. */
    char *j = json_of(P12(AP("'*'", "kms:*")));
    struct policy *a = NULL, *c = NULL;
    assert_true(tr_ok(policy_cache_get_stored(j, strlen(j), POLICY_KEY, NULL, "arn:test", &a)));
    assert_true(tr_ok(policy_cache_get(j, strlen(j), POLICY_KEY, &c)));
    assert_ptr_equal(a, c);
    assert_true(policy_may_allow(a, NULL, "kms:Decrypt", NULL));
    policy_unref(a);
    policy_unref(c);
    free(j);

    /* With a binding: a document that compiles is the bound policy, one
     * that does not is the same Deny whatever its binding, and a binding
     * that is not an object stays an internal error (no Deny made up). */
    char *bj = json_of(P12(AP(AWS(U_ALICE), "kms:*")));
    char *ids = json_of("{'" U_ALICE "':'AIDAALICEEXAMPLE00001'}");
    struct policy *bound = NULL, *plain = NULL, *deny = NULL;
    assert_true(tr_ok(policy_cache_get_stored(bj, strlen(bj), POLICY_KEY, ids, "arn:test", &a)));
    assert_true(tr_ok(policy_cache_get_bound(bj, strlen(bj), POLICY_KEY, ids, &bound)));
    assert_true(tr_ok(policy_cache_get(bj, strlen(bj), POLICY_KEY, &plain)));
    assert_ptr_equal(a, bound);
    assert_ptr_not_equal(a, plain);
    policy_unref(a);
    policy_unref(bound);
    policy_unref(plain);
    tr_clear_error();
    assert_true(tr_ok(policy_cache_get_stored("{broken", 7, POLICY_KEY, ids, "arn:test", &deny)));
    assert_int_equal(tr_last_error()->code, TR_E_OK);
    assert_int_equal(policy_statement_count(deny), 1);
    assert_string_equal(policy_statement_sid(deny, 0), "StoredPolicyDoesNotCompile");
    policy_unref(deny);
    a = NULL;
    tr_result r = policy_cache_get_stored(bj, strlen(bj), POLICY_KEY, "[]", "arn:test", &a);
    assert_int_equal(tr_code(r), TR_E_INTERNAL);
    assert_null(a);
    tr_clear_error();
    free(ids);
    free(bj);
    policy_unref(allow_all);
}

static void test_cache_eviction(void **state)
{
    (void)state;
    policy_cache_clear();
    char text[128];
    struct policy *first;
    for (int i = 0; i < 1500; i++) {
        snprintf(text, sizeof text, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"s3:A%d\",\"Resourc"
            "e\":\"*\"}}", i);
        struct policy *p;
        assert_true(tr_ok(policy_cache_get(text, strlen(text), POLICY_IDENTITY, &p)));
        if (i == 0) first = p;
        else policy_unref(p);
    }
    assert_true(policy_cache_size() <= 1024);
    assert_int_equal(policy_statement_count(first), 1);   /* evicted or not, still ours */
    policy_unref(first);
    policy_cache_clear();
}

#define NTHREADS 4
#define NDOCS 40

static void *cache_worker(void *arg)
{
    int seed = *(int *)arg;
    char text[160];
    for (int i = 0; i < 4000; i++) {
        int k = (i * 7 + seed) % NDOCS;
        snprintf(text, sizeof text,
                 "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"kms:Op%d\""
                     ",\"Resource\":\"*\"}}", k);
        struct policy *p = NULL;
        if (tr_failed(policy_cache_get(text, strlen(text), POLICY_IDENTITY, &p)) || !p) return (void *)1;
        char act[32];
        snprintf(act, sizeof act, "kms:op%d", k);
        struct named_policy np = { p, "t" };
        struct policy_set ps = { .identity = &np, .nidentity = 1 };
        struct eval_request rq = { .who = { EP_USER, "arn:aws:iam::111122223333:user/t", A_ACCT, NULL },
                                   .action = act, .resource = "*" };
        struct eval_result r;
        bool ok = tr_ok(policy_evaluate(&rq, &ps, &r)) && r.decision == DECISION_ALLOW;
        policy_unref(p);
        if (!ok) return (void *)1;
        if (i % 1000 == 999 && seed == 0) policy_cache_clear();
    }
    crypto_thread_cleanup();
    return NULL;
}

static void test_cache_threads(void **state)
{
    (void)state;
    policy_cache_clear();
    pthread_t t[NTHREADS];
    int seeds[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        seeds[i] = i;
        assert_int_equal(pthread_create(&t[i], NULL, cache_worker, &seeds[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        void *ret;
        assert_int_equal(pthread_join(t[i], &ret), 0);
        assert_null(ret);
    }
    assert_true(policy_cache_size() <= NDOCS);
    policy_cache_clear();
}

/* ---- AccessDenied messages ------------------------------------------------ */

static void test_denied_messages(void **state)
{
    (void)state;
    struct eval_request rq = { .who = { EP_USER, "arn:aws:iam::111122223333:user/alice", A_ACCT, NULL },
                               .action = "kms:Decrypt", .resource = KEY_A };
    struct eval_result r = { .decision = DECISION_IMPLICIT_DENY, .deny_type = PT_IDENTITY };
    char m[512];
    policy_denied_message(&rq, &r, NULL, m, sizeof m);
    assert_string_equal(m, "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Decrypt "
                           "on resource: " KEY_A " because no identity-based policy allows the kms:Decrypt action");
    r.deny_type = PT_RESOURCE;
    policy_denied_message(&rq, &r, NULL, m, sizeof m);
    assert_string_equal(m, "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Decrypt "
                           "on resource: " KEY_A " because no resource-based policy allows the kms:Decrypt action");
    r.deny_type = PT_BOUNDARY;
    policy_denied_message(&rq, &r, "myapp/top-secret", m, sizeof m);
    assert_string_equal(m, "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Decrypt "
                           "on resource: myapp/top-secret because no permissions boundary allows the kms:"
                               "Decrypt action");
    r.deny_type = PT_SESSION;
    policy_denied_message(&rq, &r, NULL, m, sizeof m);
    assert_non_null(strstr(m, " because no session policy allows the kms:Decrypt action"));
    r = (struct eval_result){ .decision = DECISION_EXPLICIT_DENY, .deny_type = PT_IDENTITY };
    policy_denied_message(&rq, &r, NULL, m, sizeof m);
    assert_string_equal(m, "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Decrypt "
                           "on resource: " KEY_A " with an explicit deny in an identity-based policy");
    r.deny_type = PT_RESOURCE;
    policy_denied_message(&rq, &r, NULL, m, sizeof m);
    assert_non_null(strstr(m, " with an explicit deny in a resource-based policy"));
    r.deny_type = PT_BOUNDARY;
    policy_denied_message(&rq, &r, NULL, m, sizeof m);
    assert_non_null(strstr(m, " with an explicit deny in a permissions boundary"));
    r.deny_type = PT_SESSION;
    policy_denied_message(&rq, &r, NULL, m, sizeof m);
    assert_non_null(strstr(m, " with an explicit deny in a session policy"));
    /* Truncation is safe. */
    char small[16];
    policy_denied_message(&rq, &r, NULL, small, sizeof small);
    assert_int_equal(strlen(small), 15);
    /* The message of a real evaluation. */
    struct policy *p = compile_or_die(DEFAULT_KEY_POLICY, POLICY_KEY, "message");
    struct named_policy np = { p, "key-policy" };
    struct policy_set ps = { .resource = &np, .mode = RES_REQUIRED };
    assert_true(tr_ok(policy_evaluate(&rq, &ps, &r)));
    policy_denied_message(&rq, &r, NULL, m, sizeof m);
    assert_non_null(strstr(m, "because no identity-based policy allows the kms:Decrypt action"));
    policy_unref(p);
}

/* Denies that name the request but whose conditions are false are noted
 * (checked_denies); an unknown Deny is assumed not to apply (cond_refs);
 * a Deny of another action is neither.  The evidence line says an
 * Allow's conditions must hold and a Deny's must not. */
static void test_checked_denies(void **state)
{
    (void)state;
    const char *doc =
        "{\"Version\":\"2012-10-17\",\"Statement\":["
        "{\"Effect\":\"Allow\",\"Action\":\"kms:Decrypt\",\"Resource\":\"*\","
        " \"Condition\":{\"Bool\":{\"aws:SecureTransport\":\"true\"}}},"
        "{\"Sid\":\"Tagged\",\"Effect\":\"Deny\",\"Action\":\"kms:Decrypt\",\"Resource\":\"*\","
        " \"Condition\":{\"StringEquals\":{\"aws:PrincipalTag/team\":\"x\"}}},"
        "{\"Effect\":\"Deny\",\"Action\":\"kms:Encrypt\",\"Resource\":\"*\"},"
        "{\"Sid\":\"Ip\",\"Effect\":\"Deny\",\"Action\":\"kms:Decrypt\",\"Resource\":\"*\","
        " \"Condition\":{\"IpAddress\":{\"aws:SourceIp\":\"10.0.0.0/8\"}}}]}";
    struct policy *p = compile_or_die(doc, POLICY_IDENTITY, "checked denies");
    struct named_policy np = { p, "id" };
    static const char *const any[] = { "" };
    struct ctx_entry ctx[] = {
        { .key = "aws:SourceIp", .values = any, .n = 1, .unknown = true },
        { .key = "aws:SecureTransport", .values = any, .n = 1, .unknown = true },
    };
    struct eval_request rq = { .who = { EP_USER, "arn:aws:iam::111122223333:user/alice", A_ACCT, NULL },
                               .action = "kms:Decrypt", .resource = KEY_A, .ctx = ctx, .nctx = 2 };
    struct policy_set ps = { .identity = &np, .nidentity = 1, .mode = RES_NONE };
    struct eval_result r;
    assert_true(tr_ok(policy_evaluate(&rq, &ps, &r)));
    assert_int_equal(r.decision, DECISION_ALLOW);
    assert_true(r.conditional);
    assert_int_equal(r.nchecked_denies, 1);
    assert_int_equal(r.checked_denies[0].index, 1);
    char ev[1024];
    iam_result_evidence(&r, ev, sizeof ev);
    assert_string_equal(ev, "Allow identity id #0; only if the conditions of: identity id #0 hold, "
                            "and those of: Deny identity id #3 (Sid Ip) do not hold; denies checked, "
                            "not applying (their conditions are false): Deny identity id #1 (Sid Tagged)");
    /* Cut short, the line stays a string. */
    char small[40];
    iam_result_evidence(&r, small, sizeof small);
    assert_int_equal(strlen(small), sizeof small - 1);
    /* Only the unknown Deny: its conditions must not hold. */
    ctx[1] = (struct ctx_entry){ .key = "aws:SecureTransport", .values = (const char *[]){ "true" },
                                 .n = 1 };
    assert_true(tr_ok(policy_evaluate(&rq, &ps, &r)));
    iam_result_evidence(&r, ev, sizeof ev);
    assert_string_equal(ev, "Allow identity id #0; only if the conditions of: Deny identity id #3 "
                            "(Sid Ip) do not hold; denies checked, not applying (their conditions are "
                            "false): Deny identity id #1 (Sid Tagged)");
    /* The tag present: the Deny applies, nothing is "checked, not applying". */
    struct ctx_entry tagged[] = {
        ctx[0], ctx[1],
        { .key = "aws:PrincipalTag/team", .values = (const char *[]){ "x" }, .n = 1 },
    };
    rq.ctx = tagged;
    rq.nctx = 3;
    assert_true(tr_ok(policy_evaluate(&rq, &ps, &r)));
    assert_int_equal(r.decision, DECISION_EXPLICIT_DENY);
    assert_int_equal(r.nchecked_denies, 0);
    policy_unref(p);
}

/* ---- glob and parsers ----------------------------------------------------- */

static bool g(const char *p, const char *s, bool ci)
{
    return glob_match(p, strlen(p), s, strlen(s), ci);
}

static void test_glob_edges(void **state)
{
    (void)state;
    assert_true(g("", "", false));
    assert_false(g("", "a", false));
    assert_true(g("*", "", false));
    assert_true(g("**", "abc", false));
    assert_false(g("?", "", false));
    assert_true(g("?", "x", false));
    assert_true(g("a*", "a", false));
    assert_true(g("*a", "bbba", false));
    assert_false(g("*a", "bbbab", false));
    assert_true(g("a*b*c", "aXbYc", false));
    assert_true(g("a*b*c", "abbbbc", false));
    assert_false(g("a*b*c", "acb", false));
    assert_true(g("*?*", "x", false));
    assert_false(g("?*?", "x", false));
    assert_true(g("a*?", "ab", false));
    assert_true(g("*/*", "a:b/c:d", false));
    assert_false(g("ABC", "abc", false));
    assert_true(g("ABC", "abc", true));
    assert_true(g("a*ssc", "ab-abssc", false));   /* needs the backtrack */
    assert_true(g("*aab", "aaab", false));
    assert_true(policy_action_match("kms:Get*", "KMS:GETKEYPOLICY"));
    assert_false(policy_action_match(NULL, "x"));
    assert_true(policy_arn_match("arn:aws:kms:*:*:key/*", KEY_A));
    assert_false(policy_arn_match("arn:aws:kms:*:*:KEY/*", KEY_A));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Patterns that send a backtracking matcher into exponential time, over
 * 100k characters: the right answers, each match restarting at most once
 * per subject character (glob_restarts, arn.h) -- with at most
 * len(pattern) steps per restart, the len(pattern) * len(subject) bound of
 * docs/AUTHORIZATION.md 3.2 -- through glob_match and through the
 * variables-aware matcher of a Resource.  Counted, not timed: the bound
 * holds on any machine, however loaded. */
static void test_glob_pathological(void **state)
{
    (void)state;
    static char s[100001];
    const size_t n = sizeof s - 1;
    memset(s, 'a', n);
    s[n] = '\0';
    glob_restarts = 0;
    assert_false(g("a*a*a*a*a*a*a*a*a*a*a*a*b", s, false));
    assert_in_range(glob_restarts, n / 2, n);       /* the b is looked for everywhere */
    glob_restarts = 0;
    assert_false(g("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b*", s, true));
    assert_in_range(glob_restarts, n / 2, n);
    glob_restarts = 0;
    assert_true(g("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*", s, false));
    assert_in_range(glob_restarts, 0, n);
    /* Through the variables-aware matcher, in a Resource. */
    struct policy *p = compile_or_die(P12(AR("s3:x", "arn:aws:s3:::a*a*a*a*a*a*a*a*a*a*${s3:v}*b")),
                                      POLICY_IDENTITY, "patho");
    static char res[100020];
    snprintf(res, sizeof res, "arn:aws:s3:::%s", s);
    const char *vals[1] = { "a" };
    struct ctx_entry ce = { .key = "s3:v", .values = vals, .n = 1 };
    struct named_policy np = { p, "patho" };
    struct policy_set ps = { .identity = &np, .nidentity = 1 };
    struct eval_request rq = { .who = { EP_USER, CAST[ALICE].arn, A_ACCT, NULL }, .action = "s3:x",
                               .resource = res, .ctx = &ce, .nctx = 1 };
    struct eval_result r;
    glob_restarts = 0;
    assert_true(tr_ok(policy_evaluate(&rq, &ps, &r)));
    assert_int_equal(r.decision, DECISION_IMPLICIT_DENY);
    assert_in_range(glob_restarts, n / 2, strlen(res));
    policy_unref(p);
}

static void test_parsers(void **state)
{
    (void)state;
    int64_t ms;
    assert_true(cond_parse_date("1970-01-01T00:00:00Z", 20, &ms));
    assert_int_equal(ms, 0);
    assert_true(cond_parse_date("2026-01-01T00:00:00Z", 20, &ms));
    assert_int_equal(ms, 1767225600000LL);
    assert_true(cond_parse_date("1767225600", 10, &ms));
    assert_int_equal(ms, 1767225600000LL);
    assert_true(cond_parse_date("2024-02-29", 10, &ms));
    assert_false(cond_parse_date("2023-02-29", 10, &ms));
    assert_true(cond_parse_date("2026-01-01T05:30:00+05:30", 25, &ms));
    assert_int_equal(ms, 1767225600000LL);
    assert_true(cond_parse_date("1969-12-31T23:59:59Z", 20, &ms));
    assert_int_equal(ms, -1000);
    assert_false(cond_parse_date("2026-13-01", 10, &ms));
    assert_false(cond_parse_date("", 0, &ms));
    assert_false(cond_parse_date("2026-01-01T25:00:00Z", 20, &ms));
    double d;
    assert_true(cond_parse_number("-1.5e2", 6, &d));
    assert_true(d == -150.0);
    assert_false(cond_parse_number("0x10", 4, &d));
    assert_false(cond_parse_number("inf", 3, &d));
    assert_false(cond_parse_number(" 1", 2, &d));
    assert_false(cond_parse_number("1e999", 5, &d));
    struct cidr c;
    assert_true(cond_parse_cidr("10.1.2.3/8", 10, &c));
    assert_int_equal(c.family, 4);
    assert_int_equal(c.prefix, 8);
    assert_true(cond_parse_cidr("::1", 3, &c));
    assert_int_equal(c.prefix, 128);
    assert_false(cond_parse_cidr("10.0.0.0/33", 11, &c));
    assert_false(cond_parse_cidr("10.0.0.0/", 9, &c));
    assert_false(cond_parse_cidr("300.0.0.1", 9, &c));
    struct arn_parts ap;
    assert_true(arn_split("arn:aws:s3:::b/k:x", 18, &ap));
    assert_int_equal(ap.len[3], 0);
    assert_int_equal(ap.len[5], 5);
    assert_false(arn_split("arn:aws:s3::", 12, &ap));
}

/* ---- cost ------------------------------------------------------------------ */

/* Five statements in three policies: identity (3), boundary (1), key (1). */
static void test_evaluation_cost(void **state)
{
    (void)state;
    struct policy *id = compile_or_die(P12(A("s3:*") "," AR("kms:Encrypt", "arn:aws:kms:*:111122223333:key/*") ","
                                           AC("kms:Decrypt", C1("StringEquals", "kms:ViaService",
                                                                "'secretsmanager.us-west-2.amazonaws.com'"))),
                                       POLICY_IDENTITY, "cost");
    struct policy *pb = compile_or_die(P12(A("kms:*")), POLICY_IDENTITY, "cost");
    struct policy *kp = compile_or_die(DEFAULT_KEY_POLICY, POLICY_KEY, "cost");
    struct named_policy nid = { id, "id" }, npb = { pb, "pb" }, nkp = { kp, "kp" };
    struct policy_set ps = { .identity = &nid, .nidentity = 1, .boundary = &npb, .resource = &nkp,
                             .mode = RES_REQUIRED };
    struct ctx_store cs = { 0 };
    ctx_parse(&cs, VIA_SM ";kms:CallerAccount=111122223333;aws:SecureTransport=true");
    ctx_auto(&cs, &CAST[ALICE]);
    struct eval_request rq = { .who = { EP_USER, CAST[ALICE].arn, A_ACCT, NULL }, .action = "kms:Decrypt",
                               .resource = KEY_A, .resource_account = A_ACCT, .ctx = cs.e, .nctx = cs.n };
    struct eval_result r;
    const int N = 200000;
    double t0 = now_s();
    for (int i = 0; i < N; i++) assert_true(tr_ok(policy_evaluate(&rq, &ps, &r)));
    double ns = (now_s() - t0) / N * 1e9;
    assert_int_equal(r.decision, DECISION_ALLOW);
    print_message("policy_evaluate, 5 statements in 3 policies, %zu context keys: %.0f ns\n", cs.n, ns);
    free(cs.buf);
    policy_unref(id);
    policy_unref(pb);
    policy_unref(kp);
}

/* AWS Organizations (docs/AUTHORIZATION.md 2.10): every SCP level must
 * allow, a Deny at any level is final, an unknown condition makes the
 * answer conditional; RCPs likewise over the resource.  Without them
 * (NULL, as for tresor's own store) nothing changes. */
static void test_org_policies(void **state)
{
    (void)state;
    struct policy *id = compile_or_die("{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
                                       "\"Action\":\"kms:*\",\"Resource\":\"*\"}]}", POLICY_IDENTITY, "id");
    struct policy *kp = compile_or_die(DEFAULT_KEY_POLICY, POLICY_KEY, "key");
    struct policy *full = compile_or_die("{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
                                         "\"Action\":\"*\",\"Resource\":\"*\"}]}", POLICY_IDENTITY, "full");
    struct policy *sm_only = compile_or_die("{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
                                            "\"Action\":\"secretsmanager:*\",\"Resource\":\"*\"}]}",
                                            POLICY_IDENTITY, "sm only");
    struct policy *deny = compile_or_die("{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"NoDecrypt\","
                                         "\"Effect\":\"Deny\",\"Action\":\"kms:Decrypt\",\"Resource\":\"*\"}]}",
                                         POLICY_IDENTITY, "deny");
    struct policy *cond = compile_or_die("{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"Tagged\","
                                         "\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":"
                                         "{\"StringEquals\":{\"aws:PrincipalTag/team\":\"a\"}}}]}",
                                         POLICY_IDENTITY, "cond");
    struct policy *rcp_full = compile_or_die("{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
                                             "\"Principal\":\"*\",\"Action\":\"*\",\"Resource\":\"*\"}]}",
                                             POLICY_RESOURCE, "rcp full");
    struct policy *rcp_org = compile_or_die("{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"OrgOnly\","
                                            "\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"kms:*\","
                                            "\"Resource\":\"*\",\"Condition\":{\"StringNotEqualsIfExists\":"
                                            "{\"aws:PrincipalOrgID\":\"o-a\"}}}]}", POLICY_RESOURCE, "rcp org");
    struct named_policy nid = { id, "id" }, nkp = { kp, "key-policy" };
    struct named_policy nfull = { full, "p-full at r" }, nsm = { sm_only, "p-sm at r/ou" };
    struct named_policy ndeny = { deny, "p-deny at r/ou" }, ncond = { cond, "p-cond at r/ou" };
    struct named_policy nrfull = { rcp_full, "p-rfull at r" }, nrorg = { rcp_org, "p-rorg at r" };
    struct named_policy both[2] = { nfull, ndeny };
    struct named_policy rboth[2] = { nrfull, nrorg };
    struct org_level lv[2] = { { "r", &nfull, 1 }, { "r/ou", &nfull, 1 } };
    struct org_limits scp = { lv, 2 };
    struct eval_request rq = { .who = { EP_USER, "arn:aws:iam::111122223333:user/alice", A_ACCT, NULL },
                               .action = "kms:Decrypt", .resource = KEY_A, .resource_account = A_ACCT };
    struct policy_set ps = { .identity = &nid, .nidentity = 1, .resource = &nkp, .mode = RES_REQUIRED };
    struct eval_result r;
    char ev[1024];

    /* No organization, and full access at every level: allowed. */
    assert_true(tr_ok(policy_evaluate(&rq, &ps, &r)));
    assert_int_equal(r.decision, DECISION_ALLOW);
    ps.scp = &scp;
    assert_true(tr_ok(policy_evaluate(&rq, &ps, &r)));
    assert_int_equal(r.decision, DECISION_ALLOW);
    assert_false(r.conditional);

    /* A level whose policies do not allow the action: denied, and the
     * level named (not the first, which allows). */
    lv[1].pols = &nsm;
    assert_true(tr_ok(policy_evaluate(&rq, &ps, &r)));
    assert_int_equal(r.decision, DECISION_EXPLICIT_DENY);
    assert_int_equal(r.deny_type, PT_SCP);
    assert_string_equal(r.org_target, "r/ou");
    iam_result_evidence(&r, ev, sizeof ev);
    assert_string_equal(ev, "denied by SCP: no service control policy at r/ou allows it");
    policy_denied_message(&rq, &r, NULL, ev, sizeof ev);
    assert_non_null(strstr(ev, " with an explicit deny in a service control policy"));
    /* A level with no policy at all allows nothing. */
    lv[1].n = 0;
    assert_true(tr_ok(policy_evaluate(&rq, &ps, &r)));
    assert_int_equal(r.decision, DECISION_EXPLICIT_DENY);
    assert_string_equal(r.org_target, "r/ou");

    /* A Deny at a level that also allows: final, named. */
    lv[1] = (struct org_level){ "r/ou", both, 2 };
    assert_true(tr_ok(policy_evaluate(&rq, &ps, &r)));
    assert_int_equal(r.decision, DECISION_EXPLICIT_DENY);
    assert_int_equal(r.deny_type, PT_SCP);
    assert_int_equal(r.nrefs, 1);
    iam_result_evidence(&r, ev, sizeof ev);
    assert_string_equal(ev, "Deny scp p-deny at r/ou #0 (Sid NoDecrypt)");
    /* Even for the account root user, whose identity side allows all. */
    struct policy_set root = { .resource = &nkp, .mode = RES_REQUIRED, .root_identity = true, .scp = &scp };
    struct eval_request rrq = rq;
    rrq.who = (struct eval_principal){ .type = EP_ROOT, .arn = "arn:aws:iam::111122223333:root",
                                      .account = A_ACCT };
    assert_true(tr_ok(policy_evaluate(&rrq, &root, &r)));
    assert_int_equal(r.decision, DECISION_EXPLICIT_DENY);
    root.scp = NULL;
    assert_true(tr_ok(policy_evaluate(&rrq, &root, &r)));
    assert_int_equal(r.decision, DECISION_ALLOW);
    /* The Deny is of kms:Decrypt only. */
    rq.action = "kms:Encrypt";
    assert_true(tr_ok(policy_evaluate(&rq, &ps, &r)));
    assert_int_equal(r.decision, DECISION_ALLOW);
    rq.action = "kms:Decrypt";

    /* SCPs grant nothing: an identity side that does not allow stays denied. */
    lv[1] = (struct org_level){ "r/ou", &nfull, 1 };
    struct policy_set none = { .resource = &nkp, .mode = RES_REQUIRED, .scp = &scp };
    assert_true(tr_ok(policy_evaluate(&rq, &none, &r)));
    assert_int_equal(r.decision, DECISION_IMPLICIT_DENY);
    assert_int_equal(r.deny_type, PT_IDENTITY);

    /* A condition on a key the analysis does not know: allowed only if. */
    static const char *const any[] = { "" };
    struct ctx_entry unk = { .key = "aws:PrincipalTag/team", .values = any, .n = 1, .unknown = true };
    rq.ctx = &unk;
    rq.nctx = 1;
    lv[1].pols = &ncond;
    assert_true(tr_ok(policy_evaluate(&rq, &ps, &r)));
    assert_int_equal(r.decision, DECISION_ALLOW);
    assert_true(r.conditional);
    iam_result_evidence(&r, ev, sizeof ev);
    assert_non_null(strstr(ev, "only if the conditions of: scp p-cond at r/ou #0 (Sid Tagged) hold"));
    /* ... and denied when the key is known and does not match. */
    static const char *const b[] = { "b" };
    struct ctx_entry known = { .key = "aws:PrincipalTag/team", .values = b, .n = 1 };
    rq.ctx = &known;
    assert_true(tr_ok(policy_evaluate(&rq, &ps, &r)));
    assert_int_equal(r.decision, DECISION_EXPLICIT_DENY);
    rq.ctx = NULL;
    rq.nctx = 0;
    ps.scp = NULL;

    /* RCPs: over the resource, whoever calls. */
    struct org_level rl[1] = { { "r", rboth, 2 } };
    struct org_limits rcp = { rl, 1 };
    ps.rcp = &rcp;
    static const char *const org_a[] = { "o-a" };
    struct ctx_entry in_org = { .key = "aws:PrincipalOrgID", .values = org_a, .n = 1 };
    rq.ctx = &in_org;
    rq.nctx = 1;
    assert_true(tr_ok(policy_evaluate(&rq, &ps, &r)));
    assert_int_equal(r.decision, DECISION_ALLOW);
    rq.ctx = NULL;      /* outside any organization: the Deny applies */
    rq.nctx = 0;
    assert_true(tr_ok(policy_evaluate(&rq, &ps, &r)));
    assert_int_equal(r.decision, DECISION_EXPLICIT_DENY);
    assert_int_equal(r.deny_type, PT_RCP);
    iam_result_evidence(&r, ev, sizeof ev);
    assert_string_equal(ev, "Deny rcp p-rorg at r #0 (Sid OrgOnly)");
    policy_denied_message(&rq, &r, NULL, ev, sizeof ev);
    assert_non_null(strstr(ev, " with an explicit deny in a resource control policy"));
    /* An RCP level without an Allow: denied, named. */
    rl[0] = (struct org_level){ "r", &nrorg, 1 };
    rq.ctx = &in_org;
    rq.nctx = 1;
    assert_true(tr_ok(policy_evaluate(&rq, &ps, &r)));
    assert_int_equal(r.decision, DECISION_EXPLICIT_DENY);
    assert_int_equal(r.deny_type, PT_RCP);
    iam_result_evidence(&r, ev, sizeof ev);
    assert_string_equal(ev, "denied by RCP: no resource control policy at r allows it; denies checked, not "
                            "applying (their conditions are false): Deny rcp p-rorg at r #0 (Sid OrgOnly)");

    policy_unref(id);
    policy_unref(kp);
    policy_unref(full);
    policy_unref(sm_only);
    policy_unref(deny);
    policy_unref(cond);
    policy_unref(rcp_full);
    policy_unref(rcp_org);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evaluation_table),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_may_allow),
        cmocka_unit_test(test_cache_identity_and_kinds),
        cmocka_unit_test(test_cache_eviction),
        cmocka_unit_test(test_cache_stored_fails_closed),
        cmocka_unit_test(test_cache_threads),
        cmocka_unit_test(test_denied_messages),
        cmocka_unit_test(test_checked_denies),
        cmocka_unit_test(test_glob_edges),
        cmocka_unit_test(test_glob_pathological),
        cmocka_unit_test(test_parsers),
        cmocka_unit_test(test_evaluation_cost),
        cmocka_unit_test(test_org_policies),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    policy_cache_clear();
    crypto_thread_cleanup();
    return rc;
}
