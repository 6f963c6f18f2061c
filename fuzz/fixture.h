/*
 * fixture.h -- what the libFuzzer targets that drive operation handlers
 * share (fuzz_json_ops, fuzz_query, fuzz_ciphertext): one in-memory SQLite
 * store and a keyring over fixed bytes, built once per process, holding a
 * KMS key with a fixed id and fixed material (so seeds can carry blobs
 * sealed under it), and a request context for the root user of an account.
 * The same setup as the unit tests (tests/unit/kms_test.c).
 *
 * Each input runs the way the router runs it (store refresh, then op_run:
 * the handler, inside a transaction when it writes, and the reply
 * rendered), with the request path's per-thread caches on as `tresor
 * serve` has them, except that a writing operation's transaction is
 * always rolled back (op_dry_run): the store holds the same rows before
 * every input, so inputs replay, and no input pays for a fresh database.
 * (Commit-time checks, the deferred foreign keys, are thus not reached;
 * the unit tests cover them.)
 *
 * fx_caches(false) turns the caches off: the targets run an input both
 * ways and require the same outcome, so a cache that answers from stale
 * data shows up as a difference.
 */
#ifndef TR_FUZZ_FIXTURE_H
#define TR_FUZZ_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cache.h"
#include "crypto/hash.h"
#include "crypto/keyring.h"
#include "iam/authz.h"
#include "kms/kms.h"
#include "op/op.h"
#include "secrets/secrets.h"
#include "store/store.h"

#define FX_ACCT "111122223333"
#define FX_ACCT2 "444455556666"
#define FX_REGION "us-east-1"
#define FX_NOW 1700000000
#define FX_UNUSED __attribute__((unused))
#define FX_KEY_ID "1234abcd-12ab-34cd-56ef-1234567890ab"

/* The KMS key's material (version 1): fuzz/corpus blobs are sealed under it. */
static const uint8_t FX_MATERIAL[32] = "tresor-fuzz-kms-key-material-32b";

static struct server_env FX_ENV;
static struct req_ctx FX_RC;

/* Drop the identity a handler loaded lazily (the router does it per request). */
static FX_UNUSED void fx_release_identity(void)
{
    iam_identity_release(&FX_RC);
}

/* Become the root user of acct. */
static FX_UNUSED void fx_as_root(const char *acct)
{
    fx_release_identity();
    memset(&FX_RC.who, 0, sizeof FX_RC.who);
    FX_RC.who.type = PRINCIPAL_ROOT;
    snprintf(FX_RC.who.account_id, sizeof FX_RC.who.account_id, "%s", acct);
    snprintf(FX_RC.who.arn, sizeof FX_RC.who.arn, "arn:aws:iam::%s:root", acct);
    snprintf(FX_RC.who.id, sizeof FX_RC.who.id, "%s", acct);
}

static FX_UNUSED void fx_die(const char *what)
{
    fprintf(stderr, "fuzz fixture: %s failed\n", what);
    abort();
}

/* The request path's caches (main.c turns them on for `tresor serve`). */
static FX_UNUSED void fx_caches(bool on)
{
    cache_enable(on);
}

/* Build the store, keyring, context and the fixed key (once). */
static FX_UNUSED void fx_init(const char *service)
{
    static const uint8_t root[32] = "tresor-fuzz-root-key-32-bytes!!!";
    if (tr_failed(crypto_init())) fx_die("crypto_init");
    if (tr_failed(store_sqlite_open_memory(&FX_ENV.st))) fx_die("store");
    if (tr_failed(keyring_from_bytes(root, &FX_ENV.kr))) fx_die("keyring");
    FX_ENV.default_region = FX_REGION;
    FX_RC.env = &FX_ENV;
    FX_RC.st = FX_ENV.st;
    FX_RC.kr = FX_ENV.kr;
    FX_RC.now = FX_NOW;
    FX_RC.source_ip = "192.0.2.10";
    snprintf(FX_RC.region, sizeof FX_RC.region, FX_REGION);
    snprintf(FX_RC.service, sizeof FX_RC.service, "%s", service);
    fx_as_root(FX_ACCT);

    store_t st = FX_ENV.st;
    struct account_rec a1 = { .created = FX_NOW }, a2 = { .created = FX_NOW };
    snprintf(a1.id, sizeof a1.id, FX_ACCT);
    snprintf(a2.id, sizeof a2.id, FX_ACCT2);
    struct kms_new_key nk = { .account = FX_ACCT, .region = FX_REGION, .description = "fuzz",
                              .key_manager = "CUSTOMER", .now = FX_NOW, .key_id = FX_KEY_ID,
                              .material = FX_MATERIAL };
    struct key_rec k;
    if (tr_failed(st[0]->tx_begin(st))) fx_die("tx_begin");
    if (tr_failed(st[0]->account_put(st, &a1))) fx_die("account_put");
    if (tr_failed(st[0]->account_put(st, &a2))) fx_die("account_put");
    if (tr_failed(kms_key_create(st, FX_ENV.kr, &nk, &k))) fx_die("kms_key_create");
    key_rec_free(&k);
    if (tr_failed(st[0]->tx_commit(st))) fx_die("tx_commit");
    fx_caches(true);
}

/* Run one operation as the router does; keep: commit what it writes,
 * else roll it back (op_dry_run).  The query protocol's operations take a
 * form and leave the XML reply in reply; JSON ones take in, and *out is
 * the reply parsed back (the reply must be a JSON object). */
static FX_UNUSED tr_result fx_op(const struct op_service *svc, const struct op_def *op,
                                 const struct op_input *in, struct buf *reply, bool keep)
{
    store_t st = FX_RC.st;
    tr_clear_error();
    fx_release_identity();
    st[0]->refresh(st);
    tr_result r = (keep ? op_run : op_dry_run)(&FX_RC, svc, op, in, reply);
    fx_release_identity();
    return r;
}

static FX_UNUSED tr_result fx_run(const struct op_service *svc, const struct op_def *op, json_t *in,
                                  json_t **out, bool keep)
{
    struct buf reply = BUF_SECRET(OP_REPLY_MAX);
    *out = NULL;
    tr_result r = fx_op(svc, op, &(struct op_input){ .json = in }, &reply, keep);
    if (tr_ok(r)) {
        *out = json_loadb((const char *)reply.data, reply.len, 0, NULL);
        if (!json_is_object(*out)) __builtin_trap();
    }
    buf_free(&reply);
    return r;
}

#endif
