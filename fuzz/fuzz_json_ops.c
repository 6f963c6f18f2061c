/*
 * fuzz_json_ops.c -- libFuzzer target for the awsJson1_1 inputs of KMS and
 * Secrets Manager: every operation handler of kms_ops and sm_ops (the
 * router's tables) on attacker-chosen JSON.
 *
 * The input: byte 0 picks the operation (low 7 bits, modulo the number of
 * KMS + Secrets Manager operations, KMS first in table order) and the
 * caller (high bit clear: the root user of the account that owns the
 * fixture's rows; set: the root user of another account, for the
 * cross-account paths).  The rest is the request body, decoded as the
 * router decodes it (empty -> {}, duplicate keys refused, an object
 * required), then handed to the handler; a reply is rendered with
 * json_dumps as the router renders it.  Each body runs twice, with the
 * request path's caches on (as `tresor serve` runs) and off, and both runs
 * must end with the same result code; a failure must be a client (4xx)
 * error.
 *
 * The store (fixture.h) holds a key with a fixed id (FX_KEY_ID) and
 * material, alias/fuzz naming it, a grant on it, the secrets fuzz/secret
 * (under alias/fuzz, with a resource policy) and fuzz/managed (under
 * aws/secretsmanager), so ids in the seeds resolve and blobs in them
 * decrypt.  Writing operations are rolled back after each input.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "fixture.h"
#include "kms/kms.h"
#include "secrets/ops.h"

static size_t n_kms, n_sm;

static const struct op_def *op_at(size_t i)
{
    return i < n_kms ? &kms_ops[i] : &sm_ops[i - n_kms];
}

static const struct op_def *op_named(const struct op_service *svc, const char *name)
{
    const struct op_def *op = op_find(svc, name);
    if (!op) fx_die(name);
    return op;
}

/* Run an operation on a JSON text and keep what it writes (set-up only). */
static void setup_call(const struct op_service *svc, const char *name, const char *body)
{
    json_error_t jerr;
    json_t *in = json_loads(body, 0, &jerr), *out = NULL;
    if (!in) fx_die(body);
    if (tr_failed(fx_run(svc, op_named(svc, name), in, &out, true))) {
        fprintf(stderr, "%s: %s\n", name, tr_last_error()->message);
        fx_die(name);
    }
    json_decref(in);
    json_decref(out);
}

static void init(void)
{
    fx_init("kms");
    while (kms_ops[n_kms].name) n_kms++;
    while (sm_ops[n_sm].name) n_sm++;
    setup_call(&kms_service, "CreateAlias", "{\"AliasName\":\"alias/fuzz\",\"TargetKeyId\":\"" FX_KEY_ID "\"}");
    setup_call(&kms_service, "CreateGrant", "{\"KeyId\":\"" FX_KEY_ID "\",\"GranteePrincipal\":"
               "\"arn:aws:iam::" FX_ACCT2 ":root\",\"Operations\":[\"Decrypt\"],\"Name\":\"g1\"}");
    setup_call(&kms_service, "TagResource", "{\"KeyId\":\"" FX_KEY_ID "\",\"Tags\":"
               "[{\"TagKey\":\"team\",\"TagValue\":\"blue\"}]}");
    setup_call(&sm_service, "CreateSecret", "{\"Name\":\"fuzz/secret\",\"KmsKeyId\":\"alias/fuzz\","
               "\"SecretString\":\"hunter2\",\"ClientRequestToken\":\"11111111-1111-4111-8111-111111111111\"}");
    setup_call(&sm_service, "CreateSecret", "{\"Name\":\"fuzz/managed\",\"SecretBinary\":\"AAEC\","
               "\"ClientRequestToken\":\"44444444-4444-4444-8444-444444444444\"}");
    setup_call(&sm_service, "PutResourcePolicy", "{\"SecretId\":\"fuzz/secret\",\"ResourcePolicy\":"
               "\"{\\\"Version\\\":\\\"2012-10-17\\\",\\\"Statement\\\":[{\\\"Effect\\\":\\\"Allow\\\","
               "\\\"Principal\\\":{\\\"AWS\\\":\\\"arn:aws:iam::" FX_ACCT2 ":root\\\"},"
               "\\\"Action\\\":\\\"secretsmanager:GetSecretValue\\\",\\\"Resource\\\":\\\"*\\\"}]}\"}");
    /* Reads record the day of last access in a transaction of their own:
     * do it now, so that later reads leave the store as it is. */
    setup_call(&sm_service, "GetSecretValue", "{\"SecretId\":\"fuzz/secret\"}");
    setup_call(&sm_service, "GetSecretValue", "{\"SecretId\":\"fuzz/managed\"}");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        init();
        ready = true;
    }
    if (size < 1) return 0;
    size_t i = (data[0] & 0x7f) % (n_kms + n_sm);
    const struct op_def *op = op_at(i);
    const struct op_service *svc = i < n_kms ? &kms_service : &sm_service;
    fx_as_root(data[0] & 0x80 ? FX_ACCT2 : FX_ACCT);

    json_t *in, *out = NULL;
    if (size == 1) {
        in = json_object();
    } else {
        json_error_t jerr;
        in = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, &jerr);
    }
    if (!in) return 0;
    if (!json_is_object(in)) {
        json_decref(in);
        return 0;
    }
    tr_result r = fx_run(svc, op, in, &out, false);
    /* The same request with the caches off must end the same way. */
    json_t *out2 = NULL;
    fx_caches(false);
    tr_result r2 = fx_run(svc, op, in, &out2, false);
    fx_caches(true);
    json_decref(out2);
    if (tr_code(r) != tr_code(r2)) {
        fprintf(stderr, "%s: caches on: %s, off: %s\n", op->name, tr_err_type(tr_code(r)),
                tr_err_type(tr_code(r2)));
        __builtin_trap();
    }
    if (tr_ok(r)) {
        char *s = json_dumps(out ? out : in, JSON_COMPACT);
        free(s);
    } else if (!tr_err_type(tr_code(r)) || tr_err_status(tr_code(r)) >= 500
               || tr_err_status(tr_code(r)) < 400) {
        /* Client input must give a client error, never an internal one. */
        fprintf(stderr, "%s: %s %s at %s:%d\n", op->name, tr_err_type(tr_code(r)),
                tr_last_error()->has_message ? tr_last_error()->message : "",
                tr_last_error()->file ? tr_last_error()->file : "?", tr_last_error()->line);
        __builtin_trap();
    }
    json_decref(out);
    json_decref(in);
    return 0;
}
