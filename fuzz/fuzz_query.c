/*
 * fuzz_query.c -- libFuzzer target for the query protocol (IAM, STS):
 * the form decoding of src/op/query_proto.c and the IAM and STS
 * operation handlers behind it.
 *
 * The input: byte 0 picks the operation (low 7 bits, modulo the number of
 * IAM + STS operations, IAM first in table order); its high bit picks the
 * caller (clear: the root user of the account that owns the fixture's
 * entities; set: the IAM user alice of that account, whose policies allow
 * iam:* and sts:* but deny access-key operations on other users).  The rest is an
 * application/x-www-form-urlencoded body ("UserName=alice&Tags.member.1.Key=k"),
 * decoded by form_parse (and, split at its first '?', by
 * form_parse_request as a query string and a body, which must agree with
 * form_parse on the joined bytes); the typed getters and lists are run over
 * it, and the decoded form goes to the handler as the router hands it
 * (Action and Version are not needed: byte 0 chose the operation).  Each
 * form runs twice, with the request path's caches on (as `tresor serve`
 * runs) and off, and both runs must end with the same result code; a
 * failure must be a client (4xx) error.
 *
 * The store (fixture.h) holds, besides the KMS key, the user alice (in
 * group devs, with an attached managed policy P1, an inline policy and a
 * tag, and the inline policy "admin" above), and the role App (trusting the account, path /svc/).  Writing
 * operations are rolled back after each input.
 */
#include <stddef.h>
#include <stdint.h>

#include "fixture.h"
#include "iam/iam_ops.h"
#include "iam/sts.h"
#include "op/query_proto.h"

static size_t n_iam, n_sts;

static const struct op_def *op_at(size_t i)
{
    return i < n_iam ? &iam_ops[i] : &sts_ops[i - n_iam];
}

static const struct op_def *op_named(const struct op_service *svc, const char *name)
{
    const struct op_def *op = op_find(svc, name);
    if (!op) fx_die(name);
    return op;
}

static char alice_id[64];

static void setup_call(const struct op_service *svc, const char *name, const char *body)
{
    struct form f;
    struct buf res = BUF_INIT(OP_REPLY_MAX);
    const char *id;
    if (tr_failed(form_parse((const uint8_t *)body, strlen(body), &f))) fx_die(body);
    if (tr_failed(fx_op(svc, op_named(svc, name), &(struct op_input){ .form = &f }, &res, true))) {
        fprintf(stderr, "%s: %s\n", name, tr_last_error()->message);
        fx_die(name);
    }
    if (strcmp(name, "CreateUser") == 0 && tr_ok(buf_cstr(&res, &id)) && (id = strstr(id, "<UserId>")))
        snprintf(alice_id, sizeof alice_id, "%.*s", (int)strcspn(id + 8, "<"), id + 8);
    form_free(&f);
    buf_free(&res);
}

/* Become alice (an IAM user, so every handler's authorization reads her
 * policies). */
static void as_alice(void)
{
    fx_as_root(FX_ACCT);
    FX_RC.who.type = PRINCIPAL_USER;
    snprintf(FX_RC.who.arn, sizeof FX_RC.who.arn, "arn:aws:iam::" FX_ACCT ":user/alice");
    snprintf(FX_RC.who.id, sizeof FX_RC.who.id, "%s", alice_id);
    snprintf(FX_RC.who.access_key_id, sizeof FX_RC.who.access_key_id, "AKIAALICEALICEALICE1");
}

#define TRUST "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C" \
    "%22Principal%22%3A%7B%22AWS%22%3A%22arn%3Aaws%3Aiam%3A%3A111122223333%3Aroot%22%7D%2C" \
    "%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D"
/* iam:* and sts:*, except access keys for anyone but oneself. */
#define ADMIN "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C" \
    "%22Action%22%3A%5B%22iam%3A*%22%2C%22sts%3A*%22%5D%2C%22Resource%22%3A%22*%22%7D%2C%7B%22Effect%22%3A" \
    "%22Deny%22%2C%22Action%22%3A%22iam%3A*AccessKey*%22%2C%22NotResource%22%3A" \
    "%22arn%3Aaws%3Aiam%3A%3A*%3Auser%2F%24%7Baws%3Ausername%7D%22%7D%5D%7D"
#define ALLOW "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C" \
    "%22Action%22%3A%22kms%3ADecrypt%22%2C%22Resource%22%3A%22*%22%7D%5D%7D"

static void init(void)
{
    fx_init("iam");
    while (iam_ops[n_iam].name) n_iam++;
    while (sts_ops[n_sts].name) n_sts++;
    setup_call(&iam_service, "CreateUser", "UserName=alice&Tags.member.1.Key=team&Tags.member.1.Value=blue");
    setup_call(&iam_service, "CreateGroup", "GroupName=devs");
    setup_call(&iam_service, "AddUserToGroup", "GroupName=devs&UserName=alice");
    setup_call(&iam_service, "CreateRole", "RoleName=App&Path=%2Fsvc%2F&AssumeRolePolicyDocument=" TRUST);
    setup_call(&iam_service, "CreatePolicy", "PolicyName=P1&PolicyDocument=" ALLOW);
    setup_call(&iam_service, "AttachUserPolicy",
               "UserName=alice&PolicyArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Apolicy%2FP1");
    setup_call(&iam_service, "PutUserPolicy", "UserName=alice&PolicyName=inline&PolicyDocument=" ALLOW);
    setup_call(&iam_service, "PutUserPolicy", "UserName=alice&PolicyName=admin&PolicyDocument=" ADMIN);
    if (!alice_id[0]) fx_die("alice's UserId");
}

/* Run the getters over whatever the form holds. */
static void exercise_form(const struct form *f)
{
    static const char *const names[] = { "UserName", "RoleName", "PolicyArn", "MaxItems", "Marker",
                                         "DurationSeconds", "Tags", "TagKeys", "PolicyArns" };
    const char *list[32], *s;
    int64_t v;
    bool present, b;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        (void)form_get(f, names[i]);
        (void)form_str(f, names[i], i & 1, 1, 128, &s);
        (void)form_int(f, names[i], false, 1, 1000, &present, &v);
        (void)form_bool(f, names[i], &present, &b);
        size_t n = form_list(f, names[i], list, 32);
        if (n > 32) __builtin_trap();
    }
    tr_clear_error();
}

/* form_parse_request (a GET's or POST's query string with the body) on
 * the same bytes split at their first '?': the query part, then the body
 * part.  When it succeeds it must hold exactly the parameters, in order,
 * that form_parse finds in "query&body"; it may fail only as client
 * input (a name in both parts among the reasons). */
static void check_split(const uint8_t *p, size_t n)
{
    const uint8_t *qm = memchr(p, '?', n);
    if (!qm) return;
    size_t qlen = (size_t)(qm - p), blen = n - qlen - 1;
    struct form a, b;
    struct buf joined = BUF_INIT(1 << 21);
    tr_result ra = form_parse_request(p, qlen, qm + 1, blen, &a);
    if (tr_failed(ra) && tr_code(ra) != TR_E_QUERY_VALIDATION) __builtin_trap();
    if (tr_ok(ra)) {
        if (tr_failed(buf_append(&joined, p, qlen)) || tr_failed(buf_append(&joined, "&", 1)) ||
            tr_failed(buf_append(&joined, qm + 1, blen)))
            __builtin_trap();
        if (tr_failed(form_parse(joined.data, joined.len, &b)) || a.n != b.n) __builtin_trap();
        for (size_t i = 0; i < a.n; i++)
            if (strcmp(a.kv[i].key, b.kv[i].key) != 0 || strcmp(a.kv[i].value, b.kv[i].value) != 0)
                __builtin_trap();
        form_free(&b);
    }
    form_free(&a);
    buf_free(&joined);
    tr_clear_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        init();
        ready = true;
    }
    if (size < 1) return 0;
    check_split(data + 1, size - 1);
    size_t i = (data[0] & 0x7f) % (n_iam + n_sts);
    const struct op_def *op = op_at(i);
    struct form f;
    if (tr_failed(form_parse(data + 1, size - 1, &f))) {
        form_free(&f);
        return 0;
    }
    if (f.n > FORM_MAX_PARAMS) __builtin_trap();
    exercise_form(&f);
    if (data[0] & 0x80) as_alice();
    else fx_as_root(FX_ACCT);
    const struct op_service *svc = i < n_iam ? &iam_service : &sts_service;

    struct buf res = BUF_INIT(OP_REPLY_MAX), res2 = BUF_INIT(OP_REPLY_MAX);
    tr_result r = fx_op(svc, op, &(struct op_input){ .form = &f }, &res, false);
    /* The same request with the caches off must end the same way. */
    fx_caches(false);
    tr_result r2 = fx_op(svc, op, &(struct op_input){ .form = &f }, &res2, false);
    fx_caches(true);
    buf_free(&res2);
    if (tr_code(r) != tr_code(r2)) {
        fprintf(stderr, "%s: caches on: %s, off: %s\n", op->name, tr_err_type(tr_code(r)),
                tr_err_type(tr_code(r2)));
        __builtin_trap();
    }
    if (tr_failed(r) && (tr_err_status(tr_code(r)) >= 500 || tr_err_status(tr_code(r)) < 400)) {
        /* Client input must give a client error, never an internal one. */
        fprintf(stderr, "%s: %s %s at %s:%d\n", op->name, tr_err_type(tr_code(r)),
                tr_last_error()->has_message ? tr_last_error()->message : "",
                tr_last_error()->file ? tr_last_error()->file : "?", tr_last_error()->line);
        __builtin_trap();
    }
    buf_free(&res);
    form_free(&f);
    return 0;
}
