/*
 * core_test.c -- struct buf, the error slot, and the JSON getters with
 * AWS's validation wording.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/array.h"
#include "core/buf.h"
#include "core/ct.h"
#include "core/json.h"
#include "core/log.h"
#include "core/result.h"
#include "core/secmem.h"
#include "core/str.h"
#include "core/utf8.h"
#include "http/router.h"
#include "iam/iam_ops.h"
#include "iam/sts.h"
#include "kms/kms.h"
#include "secrets/ops.h"

static void test_buf_caps(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(8);
    assert_true(tr_ok(buf_append(&b, "12345678", 8)));
    assert_true(buf_validate(&b));
    tr_result r = buf_append(&b, "9", 1);
    assert_int_equal(tr_code(r), TR_E_VALIDATION);
    assert_int_equal(b.len, 8);
    const char *s;
    assert_true(tr_ok(buf_cstr(&b, &s)));
    assert_string_equal(s, "12345678");
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_true(tr_ok(buf_printf(&b, "%d-%s", 42, "x")));
    assert_memory_equal(b.data, "42-x", 4);
    buf_free(&b);
    assert_null(b.data);
}

/* buf_printf formats in place when the text fits the free room, and
 * grows (measure, reserve, format again) when it does not: the same
 * bytes either way, the cap honoured, and a secret buffer's room wiped
 * after a text that did not fit. */
static void test_buf_printf_room(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(4096);
    assert_true(tr_ok(buf_reserve(&b, 16)));
    uint8_t *block = b.data;
    uint32_t cap = b.cap;
    assert_true(tr_ok(buf_printf(&b, "%s|%d", "abc", 7)));      /* in place */
    assert_ptr_equal(b.data, block);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "abc|7", 5);
    char fill[64];
    memset(fill, 'x', sizeof fill);
    size_t exact = cap - b.len - 1;                              /* text + NUL == room */
    assert_true(tr_ok(buf_printf(&b, "%.*s", (int)exact, fill)));
    assert_ptr_equal(b.data, block);
    assert_int_equal(b.len, cap - 1);
    assert_true(tr_ok(buf_printf(&b, "%s", "yz")));              /* grows */
    assert_int_equal(b.len, cap + 1);
    assert_memory_equal(b.data, "abc|7", 5);
    assert_memory_equal(b.data + cap - 1, "yz", 2);
    buf_free(&b);

    struct buf m = BUF_INIT(8);                                  /* cap: max + 1 */
    assert_true(tr_ok(buf_append(&m, "1234", 4)));
    assert_int_equal(tr_code(buf_printf(&m, "%s", "56789")), TR_E_VALIDATION);
    assert_int_equal(m.len, 4);
    assert_true(tr_ok(buf_printf(&m, "%s", "5678")));
    assert_int_equal(m.len, 8);
    assert_memory_equal(m.data, "12345678", 8);
    assert_int_equal(tr_code(buf_printf(&m, "%s", "9")), TR_E_VALIDATION);
    assert_int_equal(m.len, 8);
    buf_free(&m);

    struct buf s = BUF_SECRET(64);
    assert_true(tr_ok(buf_append(&s, "ab", 2)));
    assert_int_equal(tr_code(buf_printf(&s, "%.*s%.*s", 64, fill, 64, fill)), TR_E_VALIDATION);
    assert_int_equal(s.len, 2);
    for (uint32_t i = 2; i < s.cap; i++) assert_int_equal(s.data[i], 0);
    buf_free(&s);

    struct buf e = BUF_INIT(64);                                 /* no block yet */
    assert_true(tr_ok(buf_printf(&e, "%d", 42)));
    assert_memory_equal(e.data, "42", 2);
    assert_int_equal(e.len, 2);
    buf_free(&e);
}

static void test_buf_secret_wiped_on_reset(void **state)
{
    (void)state;
    struct buf b = BUF_SECRET(64);
    assert_true(tr_ok(buf_append(&b, "topsecret", 9)));
    uint8_t *p = b.data;
    buf_reset(&b);
    for (int i = 0; i < 9; i++) assert_int_equal(p[i], 0);
    buf_free(&b);
}

static void test_buf_view(void **state)
{
    (void)state;
    const char *s = "abc";
    struct buf v = buf_view(s, 3);
    assert_int_equal(v.cap, 0);
    buf_free(&v); /* forgets, never frees */
    assert_null(v.data);
}

static void test_ct_memeq(void **state)
{
    (void)state;
    assert_true(ct_memeq("abcd", "abcd", 4));
    assert_false(ct_memeq("abcd", "abce", 4));
    assert_true(ct_memeq("", "", 0));
}

static void test_secmem(void **state)
{
    (void)state;
    uint8_t *p = secmem_alloc(100);
    assert_non_null(p);
    for (int i = 0; i < 100; i++) assert_int_equal(p[i], 0);
    memset(p, 0xAA, 100);
    secmem_free(p, 100);
    uint8_t x[4] = { 1, 2, 3, 4 };
    secure_zero(x, sizeof x);
    for (int i = 0; i < 4; i++) assert_int_equal(x[i], 0);
}

static void test_error_slot(void **state)
{
    (void)state;
    tr_result r = tr_fail_at("f.c", 7, TR_E_KMS_DISABLED, "%s is disabled.", "arn:x");
    assert_int_equal(tr_code(r), TR_E_KMS_DISABLED);
    const struct tr_error_info *e = tr_last_error();
    assert_string_equal(e->message, "arn:x is disabled.");
    assert_true(e->has_message);
    assert_string_equal(tr_err_type(e->code), "DisabledException");
    assert_int_equal(tr_err_status(e->code), 400);
    r = tr_fail_at("f.c", 8, TR_E_KMS_INVALID_CIPHERTEXT, NULL);
    assert_int_equal(tr_code(r), TR_E_KMS_INVALID_CIPHERTEXT);
    assert_false(tr_last_error()->has_message);
    assert_string_equal(tr_err_type(TR_E_INTERNAL), "InternalFailure");
    assert_int_equal(tr_err_status(TR_E_INTERNAL), 500);
    tr_clear_error();
    assert_int_equal(tr_last_error()->code, TR_E_OK);
}

/* One table (errors.def): every code has both protocols' spellings; the
 * query protocol's are those IAM and STS send (they were a switch in the
 * router before); each service spells internal errors, and the store's
 * not-found and exists, its own way. */

/* The services as main.c registers them, by signing name. */
static const struct op_service *service_named(const char *name)
{
    static const struct op_service *const all[] = { &kms_service, &sm_service, &iam_service,
                                                    &sts_service };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->name, name) == 0) return all[i];
    return NULL;
}

static void test_error_table(void **state)
{
    (void)state;
    for (int c = 1; c < TR_E__COUNT; c++) {
        assert_true(tr_err_type((enum tr_err)c)[0] != '\0');
        assert_true(tr_err_query_code((enum tr_err)c)[0] != '\0');
        assert_in_range(tr_err_status((enum tr_err)c), 400, 599);
        assert_in_range(tr_err_query_status((enum tr_err)c), 400, 599);
    }
    static const struct { enum tr_err code; const char *qcode; int qstatus; } query[] = {
        { TR_E_MISSING_AUTH, "MissingAuthenticationToken", 403 },
        { TR_E_INCOMPLETE_SIGNATURE, "IncompleteSignature", 400 },
        { TR_E_INVALID_SIGNATURE, "SignatureDoesNotMatch", 403 },
        { TR_E_UNRECOGNIZED_CLIENT, "InvalidClientTokenId", 403 },
        { TR_E_EXPIRED_TOKEN, "ExpiredToken", 400 },
        { TR_E_ACCESS_DENIED, "AccessDenied", 403 },
        { TR_E_SERIALIZATION, "ValidationError", 400 },
        { TR_E_VALIDATION, "ValidationError", 400 },
        { TR_E_UNKNOWN_OPERATION, "InvalidAction", 400 },
        { TR_E_REQUEST_TOO_LARGE, "RequestEntityTooLarge", 413 },
        { TR_E_KMS_MALFORMED_POLICY, "MalformedPolicyDocument", 400 },
        { TR_E_IAM_NO_SUCH_ENTITY, "NoSuchEntity", 404 },
        { TR_E_STS_INVALID_PARAMETER_VALUE, "InvalidParameterValue", 400 },
        { TR_E_KMS_DISABLED, "DisabledException", 400 },    /* as awsJson spells it */
    };
    for (size_t i = 0; i < sizeof query / sizeof query[0]; i++) {
        assert_string_equal(tr_err_query_code(query[i].code), query[i].qcode);
        assert_int_equal(tr_err_query_status(query[i].code), query[i].qstatus);
    }
    static const struct { const char *svc; enum tr_err code; const char *type; int status; } wire[] = {
        { "kms", TR_E_INTERNAL, "KMSInternalException", 500 },
        { "secretsmanager", TR_E_INTERNAL, "InternalServiceError", 500 },
        { "iam", TR_E_INTERNAL, "ServiceFailure", 500 },
        { "sts", TR_E_INTERNAL, "InternalFailure", 500 },
        { "kms", TR_E_STORE_FULL, "KMSInternalException", 500 },
        { "secretsmanager", TR_E_STORE_CORRUPT, "InternalServiceError", 500 },
        { "iam", TR_E_STORE_BUSY, "ServiceFailure", 500 },
        { "sts", TR_E_STORE_IO, "InternalFailure", 500 },
        { "kms", TR_E_STORE_NOT_FOUND, "NotFoundException", 400 },
        { "secretsmanager", TR_E_STORE_NOT_FOUND, "ResourceNotFoundException", 400 },
        { "iam", TR_E_STORE_NOT_FOUND, "NoSuchEntity", 404 },
        { "kms", TR_E_STORE_EXISTS, "AlreadyExistsException", 400 },
        { "secretsmanager", TR_E_STORE_EXISTS, "ResourceExistsException", 400 },
        { "iam", TR_E_STORE_EXISTS, "EntityAlreadyExists", 409 },
        { "kms", TR_E_ACCESS_DENIED, "AccessDeniedException", 400 },
        { "sts", TR_E_ACCESS_DENIED, "AccessDenied", 403 },
        { "secretsmanager", TR_E_KMS_DISABLED, "DisabledException", 400 },
        { "iam", TR_E_QUERY_VALIDATION, "ValidationError", 400 },
    };
    for (size_t i = 0; i < sizeof wire / sizeof wire[0]; i++) {
        const char *type = NULL;
        int status = 0;
        router_error_spelling(service_named(wire[i].svc), wire[i].code, &type, &status);
        assert_string_equal(type, wire[i].type);
        assert_int_equal(status, wire[i].status);
    }
}

static int invariant_zero(void) { return 0; }

/* What a child process says on stderr and how it ends (for the debug
 * builds' aborts). */
static int in_child(void (*fn)(void), char *err, size_t n)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        fn();
        _exit(0);
    }
    close(fds[1]);
    ssize_t got = read(fds[0], err, n - 1);
    err[got > 0 ? got : 0] = '\0';
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void false_always(void) { if (!ALWAYS(invariant_zero() == 1)) _exit(3); }
static void true_never(void) { if (NEVER(invariant_zero() == 0)) _exit(3); }
static void ok_failure(void)
{
    tr_result r = TR_FAILURE(TR_OK);
    _exit(tr_code(r) == TR_E_INTERNAL ? 3 : 4);
}

/* ALWAYS/NEVER and the failure guarantees of result.h: a held invariant
 * is the condition's value in every build; a broken one aborts with
 * file:line in debug builds (TR_DEBUG) and is the condition's value in
 * release builds; a failure is never TR_OK, even one made with TR_E_OK. */
static void test_invariants(void **state)
{
    (void)state;
    assert_int_equal(ALWAYS(invariant_zero() == 0), 1);
    assert_int_equal(NEVER(invariant_zero() == 1), 0);
    tr_result r = tr_fail_at("f.c", 1, TR_E_OK, NULL);
    assert_int_equal(tr_code(r), TR_E_INTERNAL);
    assert_int_equal(tr_last_error()->code, TR_E_INTERNAL);
    r = TR_FAILURE(tr_fail_at("f.c", 2, TR_E_KMS_DISABLED, NULL));
    assert_int_equal(tr_code(r), TR_E_KMS_DISABLED);
    tr_clear_error();

    char err[512];
    void (*const broken[])(void) = { false_always, true_never, ok_failure };
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        int status = in_child(broken[i], err, sizeof err);
#if defined(TR_COVERAGE)
        /* The constants 1 and 0: nothing is checked, nothing aborts. */
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), i < 2 ? 0 : 4);
#elif defined(TR_DEBUG)
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGABRT);
        assert_non_null(strstr(err, "tests/unit/core_test.c:"));
        assert_non_null(strstr(err, ": invariant failed: "));
#else
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 3);
#endif
    }
}

/* str_copy / str_format: whole or a loud failure, never a cut value. */
static void test_str_copy(void **state)
{
    (void)state;
    char b[8];
    assert_true(tr_ok(str_copy(b, sizeof b, "1234567", "x")));
    assert_string_equal(b, "1234567");
    assert_true(tr_ok(str_copy(b, sizeof b, NULL, "x")));
    assert_string_equal(b, "");
    tr_result r = str_copy(b, sizeof b, "12345678", "the ARN");
    assert_int_equal(tr_code(r), TR_E_INTERNAL);
    assert_string_equal(b, "");
    assert_non_null(strstr(tr_last_error()->message, "the ARN is 8 bytes"));
    assert_true(tr_ok(str_format(b, sizeof b, "x", "%s:%d", "ab", 12)));
    assert_string_equal(b, "ab:12");
    r = str_format(b, sizeof b, "the id", "%s:%s", "abcd", "efgh");
    assert_int_equal(tr_code(r), TR_E_INTERNAL);
    assert_string_equal(b, "");
}

/* The edges: an exact fit, one byte over, no room at all, NULL. */
static void test_str_edges(void **state)
{
    (void)state;
    char b[8];
    tr_clear_error();
    assert_true(tr_ok(str_format(b, sizeof b, "x", "%s%d", "abcdef", 7)));     /* 7 + NUL */
    assert_string_equal(b, "abcdef7");
    memcpy(b, "garbage", 8);
    tr_result r = str_format(b, sizeof b, "the label", "%s%d", "abcdef", 78);  /* 8 + NUL */
    assert_int_equal(tr_code(r), TR_E_INTERNAL);
    assert_string_equal(b, "");
    assert_non_null(strstr(tr_last_error()->message, "the label is 8 bytes, longer than the 7"));
    memcpy(b, "garbage", 8);
    assert_int_equal(tr_code(str_copy(b, 1, "a", "x")), TR_E_INTERNAL);      /* room for "" only */
    assert_string_equal(b, "");
    assert_true(tr_ok(str_copy(b, 1, "", "x")));
    assert_int_equal(tr_code(str_copy(b, 0, "", "x")), TR_E_INTERNAL);
    assert_int_equal(tr_code(str_copy(NULL, 8, "a", "x")), TR_E_INTERNAL);
    assert_int_equal(tr_code(str_format(NULL, 8, "x", "%d", 1)), TR_E_INTERNAL);
    assert_int_equal(tr_code(str_format(b, 0, "x", "%d", 1)), TR_E_INTERNAL);
    tr_clear_error();
}

/* STR_SET and STR_COPY_ARRAY: proved at compile time (a literal or an
 * array that could not fit does not build); at run time, whole copies. */
static void test_str_macros(void **state)
{
    (void)state;
    char small[8], big[16], exact[sizeof "Enabled"];
    memset(big, 'x', sizeof big);
    STR_SET(exact, "Enabled");
    assert_string_equal(exact, "Enabled");
    STR_SET(small, "");
    assert_string_equal(small, "");
    STR_SET(small, "1234567");
    STR_COPY_ARRAY(big, small);
    assert_string_equal(big, "1234567");
    STR_COPY_ARRAY(big, exact);
    assert_string_equal(big, "Enabled");
    /* Each argument is evaluated once. */
    char rows[3][8] = { "", "", "" };
    size_t k = 0, j = 0;
    STR_COPY_ARRAY(rows[k++], exact);
    STR_SET(rows[k++], "two");
    STR_COPY_ARRAY(rows[k++], rows[j++]);
    assert_int_equal(k, 3);
    assert_int_equal(j, 1);
    assert_string_equal(rows[0], "Enabled");
    assert_string_equal(rows[1], "two");
    assert_string_equal(rows[2], "Enabled");
    /* An unterminated source (never one of ours) still ends in dst. */
    memset(small, 'y', sizeof small);
    STR_COPY_ARRAY(big, small);
    assert_int_equal(strlen(big), sizeof small - 1);
    assert_true(STR_DEC_MAX >= sizeof "-9223372036854775808" && STR_DEC_MAX >= sizeof "18446744073709551615");
    char num[STR_DEC_MAX];
    assert_int_equal(snprintf(num, sizeof num, "%lld", (long long)INT64_MIN), (int)sizeof num - 2);
    assert_int_equal(snprintf(num, sizeof num, "%llu", (unsigned long long)UINT64_MAX), (int)sizeof num - 2);
}

/* The request log's escapes: one line, no field passing for another, no
 * terminal control byte. */
static void test_log_escapes(void **state)
{
    (void)state;
    char b[64];
    log_escape_text("TrentService.X arn:aws:iam::1:root\n\x1b[2J\\\xc3\xa9", b, sizeof b);
    assert_string_equal(b, "TrentService.X\\x20arn:aws:iam::1:root\\x0a\\x1b[2J\\x5c\\xc3\\xa9");
    log_escape_json("a\"b\\c\n\x1b\xc3\xa9\xe2\x80\xae\xf0\x9f\x98\x80\xff\x7f", b, sizeof b);
    assert_string_equal(b, "a\\\"b\\\\c\\u000a\\u001b\\u00e9\\u202e\\ud83d\\ude00\\ufffd\\u007f");
    /* Cut at a whole escape, marked. */
    char s8[8];
    log_escape_text("\x01\x02\x03", s8, sizeof s8);
    assert_string_equal(s8, "\\x01...");
    log_escape_text("abcdefghij", s8, sizeof s8);
    assert_string_equal(s8, "abcd...");
    log_escape_json(NULL, s8, sizeof s8);
    assert_string_equal(s8, "");
}

static json_t *parse(const char *s)
{
    json_error_t e;
    json_t *v = json_loads(s, 0, &e);
    assert_non_null(v);
    return v;
}

static void test_json_str(void **state)
{
    (void)state;
    json_t *in = parse("{\"KeyId\":\"abc\",\"Num\":5,\"Long\":\"\\u00e9\\u00e9\"}");
    const char *s;
    assert_true(tr_ok(json_get_str(in, "KeyId", true, 1, 2048, &s)));
    assert_string_equal(s, "abc");
    assert_true(tr_ok(json_get_str(in, "Missing", false, 1, 10, &s)));
    assert_null(s);
    tr_result r = json_get_str(in, "Missing", true, 1, 10, &s);
    assert_int_equal(tr_code(r), TR_E_VALIDATION);
    assert_string_equal(tr_last_error()->message,
        "1 validation error detected: Value null at 'missing' failed to satisfy constraint: "
        "Member must not be null");
    r = json_get_str(in, "Num", true, 1, 10, &s);
    assert_int_equal(tr_code(r), TR_E_SERIALIZATION);
    r = json_get_str(in, "KeyId", true, 1, 2, &s);
    assert_int_equal(tr_code(r), TR_E_VALIDATION);
    assert_string_equal(tr_last_error()->message,
        "1 validation error detected: Value 'abc' at 'keyId' failed to satisfy constraint: "
        "Member must have length less than or equal to 2");
    /* two code points, four bytes: length counts characters */
    assert_true(tr_ok(json_get_str(in, "Long", true, 2, 2, &s)));
    json_decref(in);
}

static void test_json_int_bool(void **state)
{
    (void)state;
    json_t *in = parse("{\"NumberOfBytes\":0,\"B\":true,\"S\":\"1\"}");
    int64_t x;
    bool present, b;
    tr_result r = json_get_int(in, "NumberOfBytes", false, 1, 1024, &present, &x);
    assert_int_equal(tr_code(r), TR_E_VALIDATION);
    assert_string_equal(tr_last_error()->message,
        "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1");
    r = json_get_int(in, "S", false, 1, 1024, &present, &x);
    assert_int_equal(tr_code(r), TR_E_SERIALIZATION);
    assert_true(tr_ok(json_get_int(in, "Absent", false, 1, 2, &present, &x)));
    assert_false(present);
    assert_true(tr_ok(json_get_bool(in, "B", &present, &b)));
    assert_true(present && b);
    r = json_get_bool(in, "S", &present, &b);
    assert_int_equal(tr_code(r), TR_E_SERIALIZATION);
    json_decref(in);
}

static void test_json_members(void **state)
{
    (void)state;
    json_t *in = parse("{\"KeyId\":\"a\",\"Bogus\":1}");
    static const char *const ok[] = { "KeyId", "Bogus", NULL };
    static const char *const strict[] = { "KeyId", NULL };
    assert_true(tr_ok(json_check_members(in, ok)));
    tr_result r = json_check_members(in, strict);
    assert_int_equal(tr_code(r), TR_E_SERIALIZATION);
    assert_non_null(strstr(tr_last_error()->message, "Bogus"));
    json_decref(in);
}

static void test_b64(void **state)
{
    (void)state;
    static const struct { const char *raw, *enc; } v[] = {
        { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
        { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        struct buf e = BUF_INIT(64), d = BUF_INIT(64);
        assert_true(tr_ok(b64_encode((const uint8_t *)v[i].raw, strlen(v[i].raw), &e)));
        assert_int_equal(e.len, strlen(v[i].enc));
        if (e.len) assert_memory_equal(e.data, v[i].enc, e.len);
        assert_true(tr_ok(b64_decode(v[i].enc, strlen(v[i].enc), &d)));
        assert_int_equal(d.len, strlen(v[i].raw));
        if (d.len) assert_memory_equal(d.data, v[i].raw, d.len);
        buf_free(&e);
        buf_free(&d);
    }
    static const char *bad[] = { "Zg=", "Z===", "Zm9v!A==", "Zg==Zg==", "=Zg=", "Zm 9" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct buf d = BUF_INIT(64);
        assert_true(tr_failed(b64_decode(bad[i], strlen(bad[i]), &d)));
        buf_free(&d);
    }
}

static void test_json_blob(void **state)
{
    (void)state;
    json_t *in = parse("{\"Plaintext\":\"Zm9vYmFy\",\"Empty\":\"\",\"Bad\":\"@@@@\",\"N\":3}");
    struct buf b = BUF_SECRET(4096);
    assert_true(tr_ok(json_get_blob(in, "Plaintext", true, 1, 4096, &b)));
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, "foobar", 6);
    buf_reset(&b);
    tr_result r = json_get_blob(in, "Plaintext", true, 1, 5, &b);
    assert_int_equal(tr_code(r), TR_E_VALIDATION);
    /* the message names the member but never echoes the secret value */
    assert_null(strstr(tr_last_error()->message, "Zm9v"));
    assert_non_null(strstr(tr_last_error()->message, "'plaintext'"));
    assert_int_equal(b.len, 0);
    r = json_get_blob(in, "Empty", true, 1, 10, &b);
    assert_int_equal(tr_code(r), TR_E_VALIDATION);
    r = json_get_blob(in, "Bad", true, 1, 10, &b);
    assert_int_equal(tr_code(r), TR_E_SERIALIZATION);
    r = json_get_blob(in, "N", true, 1, 10, &b);
    assert_int_equal(tr_code(r), TR_E_SERIALIZATION);
    buf_free(&b);
    json_decref(in);
}

static void test_json_lists_maps(void **state)
{
    (void)state;
    json_t *in = parse("{\"L\":[\"a\",\"bb\"],\"M\":{\"k\":\"v\"},\"BadM\":{\"k\":1},\"BadL\":[1]}");
    json_t *o;
    assert_true(tr_ok(json_get_str_list(in, "L", true, 10, 1, 5, &o)));
    assert_int_equal(json_array_size(o), 2);
    assert_int_equal(tr_code(json_get_str_list(in, "L", true, 1, 1, 5, &o)), TR_E_VALIDATION);
    assert_string_equal(tr_last_error()->message,
        "1 validation error detected: Value at 'l' failed to satisfy constraint: "
        "Member must have length less than or equal to 1");
    assert_int_equal(tr_code(json_get_str_list(in, "L", true, 10, 1, 1, &o)), TR_E_VALIDATION);
    assert_int_equal(tr_code(json_get_str_list(in, "BadL", true, 10, 1, 5, &o)), TR_E_SERIALIZATION);
    assert_true(tr_ok(json_get_str_map(in, "M", &o)));
    assert_string_equal(json_string_value(json_object_get(o, "k")), "v");
    assert_int_equal(tr_code(json_get_str_map(in, "BadM", &o)), TR_E_SERIALIZATION);
    assert_true(tr_ok(json_get_str_map(in, "Absent", &o)));
    assert_null(o);
    json_decref(in);
}

static void test_json_sensitive_str(void **state)
{
    (void)state;
    json_t *in = parse("{\"RotationToken\":\"tok-SECRET-tok\"}");
    const char *s;
    tr_result r = json_get_sensitive_str(in, "RotationToken", false, 1, 5, &s);
    assert_int_equal(tr_code(r), TR_E_VALIDATION);
    assert_string_equal(tr_last_error()->message,
        "1 validation error detected: Value at 'rotationToken' failed to satisfy constraint: "
        "Member must have length less than or equal to 5");
    r = json_get_sensitive_str(in, "RotationToken", false, 20, 50, &s);
    assert_int_equal(tr_code(r), TR_E_VALIDATION);
    assert_null(strstr(tr_last_error()->message, "SECRET"));
    assert_true(tr_ok(json_get_sensitive_str(in, "RotationToken", true, 1, 50, &s)));
    assert_string_equal(s, "tok-SECRET-tok");
    json_decref(in);
}

static void test_json_struct_list(void **state)
{
    (void)state;
    static const struct json_field f[] = { { "Region", 1, 8 }, { "KmsKeyId", 0, 4 }, { NULL, 0, 0 } };
    json_t *in = parse("{\"Ok\":[{\"Region\":\"us-x-1\"},{\"Region\":\"eu-x-1\",\"KmsKeyId\":\"\"}],"
                       "\"Empty\":[],\"Long\":[{\"Region\":\"123456789\"}],\"Short\":[{\"Region\":\"\"}],"
                       "\"Unknown\":[{\"Bogus\":\"x\"}],\"NotObj\":[\"us-x-1\"],\"NotStr\":[{\"Region\":1}],"
                       "\"NotList\":{}}");
    json_t *o;
    assert_true(tr_ok(json_get_struct_list(in, "Ok", true, 1, f, &o)));
    assert_int_equal(json_array_size(o), 2);
    assert_true(tr_ok(json_get_struct_list(in, "Absent", false, 1, f, &o)));
    assert_null(o);
    assert_int_equal(tr_code(json_get_struct_list(in, "Absent", true, 1, f, &o)), TR_E_VALIDATION);
    assert_int_equal(tr_code(json_get_struct_list(in, "Empty", false, 1, f, &o)), TR_E_VALIDATION);
    assert_string_equal(tr_last_error()->message,
        "1 validation error detected: Value at 'empty' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1");
    assert_true(tr_ok(json_get_struct_list(in, "Empty", false, 0, f, &o)));
    assert_int_equal(tr_code(json_get_struct_list(in, "Long", false, 1, f, &o)), TR_E_VALIDATION);
    assert_int_equal(tr_code(json_get_struct_list(in, "Short", false, 1, f, &o)), TR_E_VALIDATION);
    assert_int_equal(tr_code(json_get_struct_list(in, "Unknown", false, 1, f, &o)), TR_E_SERIALIZATION);
    assert_int_equal(tr_code(json_get_struct_list(in, "NotObj", false, 1, f, &o)), TR_E_SERIALIZATION);
    assert_int_equal(tr_code(json_get_struct_list(in, "NotStr", false, 1, f, &o)), TR_E_SERIALIZATION);
    assert_int_equal(tr_code(json_get_struct_list(in, "NotList", false, 1, f, &o)), TR_E_SERIALIZATION);
    json_decref(in);
}

static void test_utf8(void **state)
{
    (void)state;
    static const struct { const char *s; bool ok; } v[] = {
        { "", true }, { "plain", true }, { "caf\xC3\xA9", true }, { "\xF0\x9F\x94\x91", true },
        { "\xEF\xBF\xBD", true }, { "\xFF", false }, { "\xC3(", false }, { "\xC0\xAF", false },
        { "\xE0\x80\xAF", false }, { "\xED\xA0\x80", false }, { "\xF4\x90\x80\x80", false },
        { "\xE2\x82", false }, { "\x80", false },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        assert_int_equal(utf8_valid((const uint8_t *)v[i].s, strlen(v[i].s)), v[i].ok);
    char b[32] = "ab\xFF" "c\xE2\x82";
    utf8_repair(b, sizeof b);
    assert_string_equal(b, "ab\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD");
    /* cut at a character boundary when the repair does not fit */
    char t[8] = "a\xFF\xFF";
    utf8_repair(t, 6);
    assert_string_equal(t, "a\xEF\xBF\xBD");
    /* a message quoting a value cut mid-character is repaired */
    tr_result r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION, "Value '%.4s' at 'x'", "ab\xE2\x82\xAC");
    (void)r;
    assert_string_equal(tr_last_error()->message, "Value 'ab\xEF\xBF\xBD\xEF\xBF\xBD' at 'x'");
}

/* utf8_decode: the code point and length of one well-formed sequence;
 * overlong forms, surrogates, values above U+10FFFF, stray continuation
 * bytes and sequences cut short are refused. */
static void test_utf8_decode(void **state)
{
    (void)state;
    static const struct { const char *s; size_t n; int32_t cp; size_t len; } v[] = {
        { "A", 1, 'A', 1 }, { "\x7F", 1, 0x7F, 1 }, { "\xC2\x80", 2, 0x80, 2 },
        { "\xC3\xBF", 2, 0xFF, 2 }, { "\xDF\xBF", 2, 0x7FF, 2 }, { "\xE0\xA0\x80", 3, 0x800, 3 },
        { "\xEF\xBF\xBD", 3, 0xFFFD, 3 }, { "\xF0\x90\x80\x80", 4, 0x10000, 4 },
        { "\xF4\x8F\xBF\xBF", 4, 0x10FFFF, 4 },
        /* overlong: U+002F as two, three and four bytes; U+07FF as three */
        { "\xC0\xAF", 2, -1, 0 }, { "\xC1\xBF", 2, -1, 0 }, { "\xE0\x80\xAF", 3, -1, 0 },
        { "\xF0\x80\x80\xAF", 4, -1, 0 }, { "\xE0\x9F\xBF", 3, -1, 0 },
        /* surrogates, above U+10FFFF, bytes that never start a sequence */
        { "\xED\xA0\x80", 3, -1, 0 }, { "\xED\xBF\xBF", 3, -1, 0 }, { "\xF4\x90\x80\x80", 4, -1, 0 },
        { "\xF5\x80\x80\x80", 4, -1, 0 }, { "\xFF", 1, -1, 0 }, { "\x80", 1, -1, 0 },
        /* cut short by n, or by a byte that does not continue */
        { "\xC3\xA9", 1, -1, 0 }, { "\xE2\x82\xAC", 2, -1, 0 }, { "\xE2(\xAC", 3, -1, 0 },
        { "", 0, -1, 0 },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        size_t len = 99;
        assert_int_equal(utf8_decode((const uint8_t *)v[i].s, v[i].n, &len), v[i].cp);
        assert_int_equal(len, v[i].len);
        assert_int_equal(utf8_seq((const uint8_t *)v[i].s, v[i].n), v[i].len);
    }
}

/* utf8_count counts the bytes that do not continue a sequence, as the
 * models count characters; malformed bytes count as they come. */
static void test_utf8_count(void **state)
{
    (void)state;
    assert_int_equal(utf8_strlen(""), 0);
    assert_int_equal(utf8_strlen("plain"), 5);
    assert_int_equal(utf8_strlen("caf\xC3\xA9"), 4);
    assert_int_equal(utf8_strlen("\xF0\x9F\x94\x91!"), 2);
    assert_int_equal(utf8_count("\xE2\x82\xAC\xE2\x82\xAC", 3), 1);   /* stops at n */
    assert_int_equal(utf8_count("a\0b", 3), 3);                           /* NUL is a character */
    assert_int_equal(utf8_strlen("\xFF\xFE"), 2);                         /* stray lead bytes */
    assert_int_equal(utf8_strlen("\x80\xBF"), 0);                         /* stray continuations */
    assert_int_equal(utf8_strlen("\xC0\xAF"), 1);                         /* overlong: one */
}

/* utf8_in_class: every code point in one of the ranges, and well-formed. */
static void test_utf8_in_class(void **state)
{
    (void)state;
    static const struct utf8_range doc[] = { { 0x09, 0x0A }, { 0x0D, 0x0D }, { 0x20, 0xFF } };
    static const struct utf8_range desc[] = { { 0x09, 0x0A }, { 0x0D, 0x0D }, { 0x20, 0x7E }, { 0xA1, 0xFF } };
    size_t nd = sizeof doc / sizeof doc[0], ne = sizeof desc / sizeof desc[0];
    assert_true(utf8_in_class("", doc, nd));
    assert_true(utf8_in_class("{\"a\":\t1}\r\n", doc, nd));
    assert_true(utf8_in_class("caf\xC3\xA9 \xC2\x80 \xC3\xBF \x7F", doc, nd));
    assert_false(utf8_in_class("\x01", doc, nd));
    assert_false(utf8_in_class("\x0B", doc, nd));
    assert_false(utf8_in_class("\xC4\x80", doc, nd));                 /* U+0100 */
    assert_false(utf8_in_class("\xE2\x82\xAC", doc, nd));             /* U+20AC */
    assert_false(utf8_in_class("\xC3", doc, nd));                       /* cut */
    assert_false(utf8_in_class("\xC1\x81", doc, nd));                   /* overlong 'A' */
    assert_false(utf8_in_class("\xE0\x81\x81", doc, nd));              /* overlong 'A' */
    assert_true(utf8_in_class("a~\xC2\xA1\xC3\xBF", desc, ne));
    assert_false(utf8_in_class("\x7F", desc, ne));
    assert_false(utf8_in_class("\xC2\xA0", desc, ne));                   /* U+00A0 */
    assert_false(utf8_in_class("\xC2\x80", desc, ne));
    assert_false(utf8_in_class("x", desc, 0));
}

/* region_valid: AWS's region shape, and nothing that could be mistaken
 * for one. */
static void test_region_valid(void **state)
{
    (void)state;
    static const char *ok[] = {
        "us-east-1", "eu-central-2", "ap-southeast-3", "us-gov-west-1", "cn-north-1",
        "a-b-ccccc1", "x-y-12345678901234567890123456",
    };
    static const char *bad[] = {
        "", "moon", "us-east", "useast-1", "us-east-", "-us-east-1", "us--east-1", "us-east-a",
        "US-EAST-1", "us_east_1", "us-east-1 ", "us-east-1/", "a-b-1", "x-y-123456789012345678901234567",
        "us-e\xC3\xA9st-1",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) assert_true(region_valid(ok[i]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_false(region_valid(bad[i]));
}

/* array_grow: doubling from `first`, the array untouched below its
 * capacity, and no size that overflows. */
static void test_array_grow(void **state)
{
    (void)state;
    size_t cap = 0;
    uint32_t *v = array_grow(NULL, &cap, 0, sizeof *v, 4);
    assert_non_null(v);
    assert_int_equal(cap, 4);
    for (uint32_t i = 0; i < 4; i++) v[i] = i;
    assert_ptr_equal(array_grow(v, &cap, 3, sizeof *v, 4), v);     /* room already */
    assert_int_equal(cap, 4);
    v = array_grow(v, &cap, 4, sizeof *v, 4);
    assert_non_null(v);
    assert_int_equal(cap, 8);
    for (uint32_t i = 0; i < 4; i++) assert_int_equal(v[i], i);   /* kept */
    v = array_grow(v, &cap, 8, sizeof *v, 4);
    assert_int_equal(cap, 16);
    /* Too large: NULL, the array and its capacity as they were. */
    size_t big = SIZE_MAX / 2 + 1;
    assert_null(array_grow(v, &big, big, 1, 4));
    assert_int_equal(big, SIZE_MAX / 2 + 1);
    size_t c2 = 16;
    assert_null(array_grow(v, &c2, 16, SIZE_MAX / 16, 4));
    assert_int_equal(c2, 16);
    size_t c3 = 0;
    assert_null(array_grow(v, &c3, 0, sizeof *v, 0));             /* no first size */
    assert_null(array_grow(v, &c3, 0, 0, 4));                     /* no element size */
    assert_int_equal(c3, 0);
    assert_int_equal(v[3], 3);
    free(v);
}

/* strs_add_unique: copies, in order, each string once; strs_free frees
 * them all (ASan checks). */
static void test_strs_add_unique(void **state)
{
    (void)state;
    char **v = NULL;
    size_t n = 0, cap = 0;
    char word[8];
    for (int i = 0; i < 40; i++) {
        snprintf(word, sizeof word, "w%d", i % 20);
        assert_true(tr_ok(strs_add_unique(&v, &n, &cap, word)));
    }
    assert_int_equal(n, 20);
    assert_true(cap >= n);
    assert_string_equal(v[0], "w0");
    assert_string_equal(v[19], "w19");
    assert_ptr_not_equal(v[0], word);
    assert_true(tr_ok(strs_add_unique(&v, &n, &cap, "")));
    assert_int_equal(n, 21);
    strs_free(v, n);
    strs_free(NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_caps),
        cmocka_unit_test(test_buf_printf_room),
        cmocka_unit_test(test_buf_secret_wiped_on_reset),
        cmocka_unit_test(test_buf_view),
        cmocka_unit_test(test_ct_memeq),
        cmocka_unit_test(test_secmem),
        cmocka_unit_test(test_error_slot),
        cmocka_unit_test(test_error_table),
        cmocka_unit_test(test_invariants),
        cmocka_unit_test(test_str_copy),
        cmocka_unit_test(test_str_edges),
        cmocka_unit_test(test_str_macros),
        cmocka_unit_test(test_log_escapes),
        cmocka_unit_test(test_json_str),
        cmocka_unit_test(test_json_int_bool),
        cmocka_unit_test(test_json_members),
        cmocka_unit_test(test_b64),
        cmocka_unit_test(test_json_blob),
        cmocka_unit_test(test_json_lists_maps),
        cmocka_unit_test(test_json_sensitive_str),
        cmocka_unit_test(test_json_struct_list),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_utf8_decode),
        cmocka_unit_test(test_utf8_count),
        cmocka_unit_test(test_utf8_in_class),
        cmocka_unit_test(test_region_valid),
        cmocka_unit_test(test_array_grow),
        cmocka_unit_test(test_strs_add_unique),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
