/*
 * query_harness.h -- what the unit tests of query-protocol handlers (IAM,
 * STS) share: an in-memory store with two accounts, a request context,
 * callers, and a driver that form-encodes parameters, runs one operation
 * through op_harness.h's oh_query (op_run: inside a store transaction when
 * it writes, rolled back on failure, the reply rendered) and keeps the
 * result element's XML.
 *
 * Before including it, a test defines NOW (epoch seconds of the request),
 * QH_SVC (the service: &iam_service, &sts_service), QH_VERSION (the API
 * version sent) and QH_SERVICE ("iam", "sts").  Everything here is static
 * and may go unused.
 */
#ifndef TR_QUERY_HARNESS_H
#define TR_QUERY_HARNESS_H

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sigv4.h"
#include "auth/sigv4_cache.h"
#include "crypto/hash.h"
#include "crypto/keyring.h"
#include "iam/authz.h"
#include "iam/policy.h"
#include "op/op.h"
#include "op/query_proto.h"
#include "op_harness.h"
#include "store/store.h"
#include "test_text.h"

#define QH_UNUSED __attribute__((unused))

static struct server_env ENV;
static struct req_ctx RC;
static char XML[262144];                /* the last reply's result element */

static QH_UNUSED void reset_identity(void)
{
    iam_identity_free(RC.identity);
    free(RC.identity);
    RC.identity = NULL;
}

/* Become the root user of `acct`. */
static QH_UNUSED void qh_as_root(const char *acct)
{
    reset_identity();
    memset(&RC.who, 0, sizeof RC.who);
    RC.who.type = PRINCIPAL_ROOT;
    snprintf(RC.who.account_id, sizeof RC.who.account_id, "%s", acct);
    snprintf(RC.who.arn, sizeof RC.who.arn, "arn:aws:iam::%s:root", acct);
    snprintf(RC.who.id, sizeof RC.who.id, "%s", acct);
}

/* The store, keyring and context, with accounts a (created a_created) and
 * b; the caller is a's root user.  Returns 0, or -1 (cmocka setup). */
static QH_UNUSED int qh_setup(const uint8_t root_key[32], const char *a, int64_t a_created,
                              const char *b)
{
    if (tr_failed(crypto_init())) return -1;
    memset(&ENV, 0, sizeof ENV);
    if (tr_failed(store_sqlite_open_memory(&ENV.st))) return -1;
    if (tr_failed(keyring_from_bytes(root_key, &ENV.kr))) return -1;
    ENV.default_region = "us-east-1";
    memset(&RC, 0, sizeof RC);
    RC.env = &ENV;
    RC.st = ENV.st;
    RC.kr = ENV.kr;
    RC.now = NOW;
    RC.source_ip = "192.0.2.10";
    snprintf(RC.region, sizeof RC.region, "us-east-1");
    snprintf(RC.service, sizeof RC.service, "%s", QH_SERVICE);
    struct account_rec ra = { .created = a_created }, rb = { .created = NOW };
    snprintf(ra.id, sizeof ra.id, "%s", a);
    snprintf(rb.id, sizeof rb.id, "%s", b);
    if (tr_failed(ENV.st[0]->account_put(ENV.st, &ra))) return -1;
    if (tr_failed(ENV.st[0]->account_put(ENV.st, &rb))) return -1;
    qh_as_root(a);
    return 0;
}

static QH_UNUSED int teardown(void **state)
{
    (void)state;
    reset_identity();
    ENV.st[0]->close(ENV.st);
    keyring_free(ENV.kr);
    policy_cache_clear();
    sigv4_cache_clear();
    crypto_thread_cleanup();
    return 0;
}

static QH_UNUSED const struct op_def *find_op(const char *name)
{
    return oh_find(QH_SVC, name);
}

static QH_UNUSED void urlencode(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || strchr("-_.~", *p)) {
            ok(buf_append(b, p, 1));
        } else {
            char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };
            ok(buf_append(b, e, 3));
        }
    }
}

/* Run operation `name` with parameters kv (key, value, ..., NULL); the
 * result element's content lands in XML (empty on failure).  The caller's
 * identity is reloaded per call, as per request. */
static QH_UNUSED tr_result call(const char *name, const char *const *kv)
{
    struct buf body = BUF_INIT(1 << 20);
    ok(buf_printf(&body, "Action=%s&Version=%s", name, QH_VERSION));
    for (size_t i = 0; kv && kv[i]; i += 2) {
        ok(buf_append_str(&body, "&"));
        urlencode(&body, kv[i]);
        ok(buf_append_str(&body, "="));
        urlencode(&body, kv[i + 1]);
    }
    reset_identity();
    tr_result r = oh_query(&RC, QH_SVC, name, &body, XML, sizeof XML);
    reset_identity();
    buf_free(&body);
    return r;
}

/* A parameter list: P("UserName", "bob", "Path", "/x/"). */
#define P(...) ((const char *const[]){ __VA_ARGS__, NULL })

static QH_UNUSED void call_ok(const char *name, const char *const *kv)
{
    tr_result r = call(name, kv);
    if (tr_failed(r))
        fail_msg("%s failed: %s: %s", name, tr_err_type(tr_code(r)),
                 tr_last_error()->has_message ? tr_last_error()->message : "(no message)");
}

static QH_UNUSED void call_err(const char *name, const char *const *kv, enum tr_err code,
                               const char *msg)
{
    tr_result r = call(name, kv);
    if (tr_ok(r)) fail_msg("%s succeeded, expected %s", name, tr_err_type(code));
    if (tr_code(r) != code)
        fail_msg("%s: expected %s, got %s: %s", name, tr_err_type(code), tr_err_type(tr_code(r)),
                 tr_last_error()->message);
    if (msg) assert_string_equal(tr_last_error()->message, msg);
}

/* Text of the first <tag> in XML, or NULL. */
static QH_UNUSED const char *get(const char *tag)
{
    static char out[4][16384];
    static int next;
    char open[96], close[96];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *s = strstr(XML, open);
    if (!s) return NULL;
    s += strlen(open);
    const char *e = strstr(s, close);
    if (!e) return NULL;
    char *o = out[next++ % 4];
    snprintf(o, sizeof out[0], "%.*s", (int)(e - s), s);
    return o;
}

static QH_UNUSED bool has(const char *fragment)
{
    return strstr(XML, fragment) != NULL;
}

#endif
