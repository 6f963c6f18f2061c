/*
 * analyze_fixture.h -- the IAM records the analysis tests build graphs
 * over, written straight into an in-memory store (docs/internals/
 * IAM_STORE.md): users, roles' inline policies, and policy text written
 * with single quotes (q) through the DOC/ALLOW/TRUST macros.  ENV is the
 * including test's server environment; everything here is static and may
 * go unused.
 */
#ifndef TR_ANALYZE_FIXTURE_H
#define TR_ANALYZE_FIXTURE_H

#include <stdio.h>
#include <string.h>

#include "core/errors.h"
#include "crypto/keyring.h"
#include "iam/policy.h"
#include "op/op.h"
#include "store/store.h"
#include "test_text.h"

#define ACCT "111122223333"
#define ACCT2 "444455556666"
#define FOREIGN "999988887777"
#define NOW 1700000000

static struct server_env ENV;

#define DOC(...) "{'Version':'2012-10-17','Statement':[" __VA_ARGS__ "]}"
#define ALLOW(act, res) "{'Effect':'Allow','Action':'" act "','Resource':'" res "'}"
#define TRUST(p) "{'Effect':'Allow','Principal':{'AWS':'" p "'},'Action':'sts:AssumeRole'}"
#define TRUST_DENY(p) "{'Effect':'Deny','Principal':{'AWS':'" p "'},'Action':'sts:AssumeRole'}"
#define TRUST_IF(p, cond) \
    "{'Effect':'Allow','Principal':{'AWS':'" p "'},'Action':'sts:AssumeRole','Condition':" cond "}"

static void put_entity(const char *kind, const char *acct, const char *name, const char *id,
                       const char *arn, const char *doc)
{
    struct ent_rec e = { 0 };
    snprintf(e.kind, sizeof e.kind, "%s", kind);
    snprintf(e.account_id, sizeof e.account_id, "%s", acct);
    e.name = (char *)name;
    e.id = (char *)id;
    e.arn = (char *)arn;
    e.path = (char *)"/";
    e.doc = (char *)doc;
    e.created = NOW;
    ok(ENV.st[0]->ent_put(ENV.st, &e));
}

static void put_inline(const char *arn, const char *policy)
{
    struct rel_rec r = { 0 };
    snprintf(r.kind, sizeof r.kind, "inline");
    r.from = (char *)arn;
    r.to = (char *)"inline";
    r.doc = q(policy);
    r.created = NOW;
    ok(ENV.st[0]->rel_put(ENV.st, &r));
}

static void put_user(const char *acct, const char *name, const char *id, const char *policy)
{
    char arn[256];
    snprintf(arn, sizeof arn, "arn:aws:iam::%s:user/%s", acct, name);
    put_entity("user", acct, name, id, arn, "{}");
    if (policy) put_inline(arn, policy);
}

/* An in-memory store with accounts ACCT and ACCT2, and a keyring. */
static int setup(void **state)
{
    static const uint8_t root[32] = "tresor-analyze-test-root-key-32";
    (void)state;
    if (tr_failed(crypto_init())) return -1;
    memset(&ENV, 0, sizeof ENV);
    if (tr_failed(store_sqlite_open_memory(&ENV.st))) return -1;
    if (tr_failed(keyring_from_bytes(root, &ENV.kr))) return -1;
    ENV.default_region = "us-east-1";
    struct account_rec a = { .id = ACCT, .created = NOW }, b = { .id = ACCT2, .created = NOW };
    if (tr_failed(ENV.st[0]->account_put(ENV.st, &a))) return -1;
    if (tr_failed(ENV.st[0]->account_put(ENV.st, &b))) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ENV.st[0]->close(ENV.st);
    keyring_free(ENV.kr);
    policy_cache_clear();
    return 0;
}

#endif
