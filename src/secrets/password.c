/*
 * password.c -- GetRandomPassword.
 *
 * What AWS documents (botocore model, GetRandomPassword and its members):
 * PasswordLength 1..4096 (default 32; out of range is the front end's
 * ValidationException), ExcludeCharacters 0..4096 characters, the
 * switches ExcludeNumbers/ExcludePunctuation/ExcludeUppercase/
 * ExcludeLowercase (default: every class included), IncludeSpace (default
 * off), RequireEachIncludedType (default on: "at least one upper and
 * lowercase letter, one number, and one punctuation").  The punctuation
 * class is the 32 characters !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~.
 *
 * The refusals are InvalidParameterException with the messages users
 * report from the service (CloudFormation deploys and CDK issues quote
 * the first two; the third is recorded from the same probes):
 *   - an included class that ExcludeCharacters empties while
 *     RequireEachIncludedType is on:
 *       "All characters of the desired type have been excluded."
 *   - PasswordLength below the number of required classes:
 *       "Password length is too short based on the required types."
 *   - nothing left to draw from at all:
 *       "All characters have been excluded from selection."
 * The space is never a required class, only admitted.
 *
 * Drawing: every character is an index into its class chosen uniformly
 * by rejection sampling over 32-bit draws from crypto/rand.h (a draw at or
 * above the largest multiple of n below 2^32 is thrown away), so no index
 * is favoured by a modulo.  With RequireEachIncludedType the required
 * classes take k distinct random positions (a partial Fisher-Yates
 * shuffle of the positions), one character of its class each; the other
 * positions draw from the whole pool.  The random bytes and the password
 * live in wiped memory: the pool of draws is secure_zero'd, the reply's
 * buffer is a secret buf freed (wiped) once the JSON string is made, and
 * jansson's allocator wipes its copy when the reply is freed (main.c).
 *
 * Authorization: secretsmanager:GetRandomPassword on "*".
 */
#include "secrets/manage.h"

#include <string.h>

#include "core/json.h"
#include "core/secmem.h"
#include "crypto/rand.h"
#include "secrets/authz.h"
#include "secrets/describe.h"
#include "secrets/params.h"
#include "secrets/secrets.h"

const char SM_PUNCTUATION[] = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

#define MSG_TYPE_EXCLUDED "All characters of the desired type have been excluded."
#define MSG_TOO_SHORT     "Password length is too short based on the required types."
#define MSG_ALL_EXCLUDED  "All characters have been excluded from selection."

#define PW_MAX 4096
#define EXCLUDE_MAX 4096

void sm_password_defaults(struct sm_password_opts *o)
{
    memset(o, 0, sizeof *o);
    o->length = 32;
    o->exclude = "";
    o->require_each = true;
}

/* A buffered source of random 32-bit draws; wiped by rng_done. */
struct rng {
    uint8_t pool[256];
    size_t pos;
};

static TR_RESULT rng_u32(struct rng *g, uint32_t *out)
{
    if (g->pos + 4 > sizeof g->pool) {
        GUARD(rand_bytes(g->pool, sizeof g->pool));
        g->pos = 0;
    }
    const uint8_t *p = g->pool + g->pos;
    *out = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    g->pos += 4;
    return TR_OK;
}

/* Uniform in [0, n), n >= 1: rejection above the largest multiple of n. */
static TR_RESULT rng_below(struct rng *g, uint32_t n, uint32_t *out)
{
    ENSURE(n > 0, TR_E_INTERNAL);
    uint64_t limit = (UINT64_C(1) << 32) / n * n;
    uint32_t x;
    do {
        GUARD(rng_u32(g, &x));
    } while ((uint64_t)x >= limit);
    *out = x % n;
    return TR_OK;
}

static void rng_done(struct rng *g)
{
    secure_zero(g, sizeof *g);
}

/* Append to dst[*n] the characters of `set` not excluded. */
static void add_class(char *dst, size_t *n, const char *set, const bool excluded[128])
{
    for (const char *c = set; *c; c++)
        if (!excluded[(unsigned char)*c]) dst[(*n)++] = *c;
}

TR_RESULT sm_password_generate(const struct sm_password_opts *o, struct buf *out)
{
    static const char LOWER[] = "abcdefghijklmnopqrstuvwxyz";
    static const char UPPER[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    static const char DIGITS[] = "0123456789";
    bool excluded[128] = { false };
    /* The classes after ExcludeCharacters, and the pool (their union). */
    char cls[4][40];
    size_t ncls[4] = { 0 }, nreq = 0;
    char pool[128];
    size_t npool = 0;
    uint16_t pos[PW_MAX];
    struct rng g = { .pos = sizeof g.pool };
    tr_result r = TR_OK;

    ENSURE_REF(o);
    ENSURE_REF(out);
    ENSURE(o->length >= 1 && o->length <= PW_MAX, TR_E_INTERNAL);
    for (const char *c = o->exclude ? o->exclude : ""; *c; c++)
        if ((unsigned char)*c < 128) excluded[(unsigned char)*c] = true;

    const char *sets[4] = { LOWER, UPPER, DIGITS, SM_PUNCTUATION };
    const bool off[4] = { o->exclude_lowercase, o->exclude_uppercase, o->exclude_numbers,
                          o->exclude_punctuation };
    for (int i = 0; i < 4; i++) {
        if (off[i]) continue;
        add_class(cls[i], &ncls[i], sets[i], excluded);
        if (o->require_each && ncls[i] == 0) BAIL(TR_E_SM_INVALID_PARAMETER, MSG_TYPE_EXCLUDED);
        add_class(pool, &npool, sets[i], excluded);
        if (o->require_each) nreq++;
    }
    if (o->include_space && !excluded[' ']) pool[npool++] = ' ';
    if (npool == 0) BAIL(TR_E_SM_INVALID_PARAMETER, MSG_ALL_EXCLUDED);
    if ((int64_t)nreq > o->length) BAIL(TR_E_SM_INVALID_PARAMETER, MSG_TOO_SHORT);

    size_t len = (size_t)o->length;
    buf_reset(out);
    r = buf_reserve(out, len + 1);
    if (tr_failed(r)) goto fail;
    for (size_t i = 0; i < len; i++) {
        uint32_t k;
        r = rng_below(&g, (uint32_t)npool, &k);
        if (tr_failed(r)) goto fail;
        out->data[i] = (uint8_t)pool[k];
    }
    out->len = (uint32_t)len;
    if (nreq > 0) {
        /* The first nreq entries of a partial shuffle are distinct random
         * positions; position j gets a character of the j-th class. */
        for (size_t i = 0; i < len; i++) pos[i] = (uint16_t)i;
        size_t j = 0;
        for (int c = 0; c < 4; c++) {
            if (off[c]) continue;
            uint32_t k, x;
            r = rng_below(&g, (uint32_t)(len - j), &k);
            if (tr_failed(r)) goto fail;
            uint16_t t = pos[j];
            pos[j] = pos[j + k];
            pos[j + k] = t;
            r = rng_below(&g, (uint32_t)ncls[c], &x);
            if (tr_failed(r)) goto fail;
            out->data[pos[j]] = (uint8_t)cls[c][x];
            j++;
        }
    }
fail:
    if (tr_failed(r)) buf_reset(out);
    rng_done(&g);
    secure_zero(cls, sizeof cls);
    secure_zero(pos, sizeof pos);
    return r;
}

/* The boolean members, in the order they are read. */
static TR_RESULT get_flag(json_t *in, const char *name, bool *v)
{
    bool present = false, b = false;
    GUARD(json_get_bool(in, name, &present, &b));
    if (present) *v = b;
    return TR_OK;
}

SM_HANDLER(sm_op_get_random_password)
{
    struct sm_password_opts o;
    struct buf pw = BUF_SECRET(PW_MAX + 1);
    const char *s = NULL, *exclude = NULL;
    json_t *reply = NULL;
    bool present = false;
    int64_t len = 32;
    tr_result r;

    sm_password_defaults(&o);
    GUARD(json_get_int(in, "PasswordLength", false, 1, PW_MAX, &present, &len));
    if (present) o.length = len;
    GUARD(json_get_str(in, "ExcludeCharacters", false, 0, EXCLUDE_MAX, &exclude));
    if (exclude) o.exclude = exclude;
    GUARD(get_flag(in, "ExcludeNumbers", &o.exclude_numbers));
    GUARD(get_flag(in, "ExcludePunctuation", &o.exclude_punctuation));
    GUARD(get_flag(in, "ExcludeUppercase", &o.exclude_uppercase));
    GUARD(get_flag(in, "ExcludeLowercase", &o.exclude_lowercase));
    GUARD(get_flag(in, "IncludeSpace", &o.include_space));
    GUARD(get_flag(in, "RequireEachIncludedType", &o.require_each));
    GUARD(sm_authorize_account(rc, rc->op->action, NULL, NULL, 0));

    r = sm_password_generate(&o, &pw);
    if (tr_ok(r)) r = buf_cstr(&pw, &s);
    if (tr_failed(r)) goto fail;
    reply = json_object();
    if (!reply) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    r = sm_set(reply, "RandomPassword", json_stringn(s, pw.len));
    if (tr_failed(r)) goto fail;
    *out = reply;
    reply = NULL;
fail:
    json_decref(reply);
    buf_free(&pw);
    return r;
}
