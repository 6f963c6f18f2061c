/*
 * context.c -- the request context under construction: the global
 * condition keys of docs/AUTHORIZATION.md 1.2 that apply to a request,
 * then the keys each service adds (contract in context.h).  Keys and
 * values are copied into the builder's own chunks, so a context outlives
 * the strings it was built from -- except string literals (iam_ctx_init's
 * key names and its "true"/"false"/"User"-style values), which outlive
 * every context and are pointed at rather than copied (the request path
 * builds two contexts per GetSecretValue; copying a literal is a strlen
 * and a memcpy for nothing), and what iam_ctx_add_entry_ref is given.
 */
#include "iam/context.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/date.h"
#include "core/str.h"

#define CTX_STRINGS_MAX (256 * 1024)

/* ---- the request context ------------------------------------------------ */

/* The string arena: a chain of chunks, so copies never move and a small
 * context costs one small allocation, not a reservation of the maximum. */
struct ctx_chunk {
    struct ctx_chunk *next;
    size_t used, cap;
    char data[];
};

#define CTX_CHUNK 2048

/* Copy s into the builder's string arena. */
static TR_RESULT ctx_str(struct ctx_builder *cb, const char *s, const char **out)
{
    size_t n = strlen(s) + 1;
    if (cb->strings_len + n > CTX_STRINGS_MAX)
        BAIL(TR_E_VALIDATION, "The request has too many encryption context pairs or tags to "
             "authorize.");
    struct ctx_chunk *c = cb->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > CTX_CHUNK ? n : CTX_CHUNK;
        c = malloc(sizeof *c + cap);
        ENSURE(c != NULL, TR_E_INTERNAL);
        c->next = cb->chunks;
        c->used = 0;
        c->cap = cap;
        cb->chunks = c;
    }
    memcpy(c->data + c->used, s, n);
    *out = c->data + c->used;
    c->used += n;
    cb->strings_len += n;
    return TR_OK;
}

/* The entry for key (case-insensitive), a new one at the end if absent
 * (or, when `fresh`, at once: the caller knows it is absent).  The global
 * keys all begin with "aws:", so a service key ("kms:...") is looked for
 * among the keys added after them only. */
static TR_RESULT ctx_slot(struct ctx_builder *cb, const char *key, bool fresh, bool borrowed,
                          struct ctx_entry **out)
{
    size_t from = strncasecmp(key, "aws:", 4) == 0 ? 0 : cb->nglobal;
    for (size_t i = from; !fresh && i < cb->n; i++) {
        if (strcasecmp(cb->e[i].key, key) == 0) {
            *out = &cb->e[i];
            return TR_OK;
        }
    }
    if (cb->n >= CTX_MAX)
        BAIL(TR_E_VALIDATION, "The request has too many encryption context pairs or tags to "
             "authorize (at most %d condition keys).", CTX_MAX);
    struct ctx_entry *e = &cb->e[cb->n];
    memset(e, 0, sizeof *e);
    if (borrowed) e->key = key;         /* outlives the context (ctx_put_own) */
    else GUARD(ctx_str(cb, key, &e->key));
    cb->n++;
    *out = e;
    return TR_OK;
}

/* How ctx_put_own takes its strings: copies, unless told they outlive the
 * builder (string literals; an authz_req's extra keys, which its caller
 * keeps until iam_authorize returns), which it points at. */
enum ctx_own { CTX_COPY = 0, CTX_KEY_BORROWED = 1, CTX_VALUE_BORROWED = 2 };

/* fresh: key is known not to be in cb yet (iam_ctx_init's global keys,
 * distinct by construction), so the search for it is skipped.  own: which
 * of key and values outlive the builder (enum ctx_own), kept as pointers. */
static TR_RESULT ctx_put_own(struct ctx_builder *cb, const char *key, const char *const *values,
                             size_t n, bool multi, bool unknown, bool identity_only, bool fresh,
                             unsigned own)
{
    ENSURE_REF(cb);
    ENSURE_REF(key);
    ENSURE(n > 0 || multi, TR_E_INTERNAL);
    if (cb->nptrs + n > sizeof cb->ptrs / sizeof cb->ptrs[0])
        BAIL(TR_E_VALIDATION, "The request has too many encryption context pairs or tags to "
             "authorize.");
    size_t first = cb->nptrs;
    for (size_t i = 0; i < n; i++) {
        ENSURE_REF(values[i]);
        if (own & CTX_VALUE_BORROWED) cb->ptrs[first + i] = values[i];
        else GUARD(ctx_str(cb, values[i], &cb->ptrs[first + i]));
    }
    struct ctx_entry *e = NULL;
    GUARD(ctx_slot(cb, key, fresh, (own & CTX_KEY_BORROWED) != 0, &e));
    cb->nptrs += n;
    e->values = &cb->ptrs[first];
    e->n = n;
    e->multi = multi;
    e->unknown = unknown;
    e->identity_only = identity_only;
    return TR_OK;
}

static TR_RESULT ctx_put_in(struct ctx_builder *cb, const char *key, const char *const *values,
                            size_t n, bool multi, bool unknown, bool identity_only, bool fresh)
{
    return ctx_put_own(cb, key, values, n, multi, unknown, identity_only, fresh, CTX_COPY);
}

static TR_RESULT ctx_put(struct ctx_builder *cb, const char *key, const char *const *values,
                         size_t n, bool multi, bool unknown)
{
    return ctx_put_in(cb, key, values, n, multi, unknown, false, false);
}

/* A global key of iam_ctx_init (always a string literal): single-valued,
 * not yet present; value copied. */
static TR_RESULT ctx_global(struct ctx_builder *cb, const char *key, const char *value)
{
    return ctx_put_own(cb, key, &value, 1, false, false, false, true, CTX_KEY_BORROWED);
}

/* The same with a value of rc or id (iam_ctx_init's contract: both outlive
 * the builder's use), pointed at, not copied. */
static TR_RESULT ctx_global_ref(struct ctx_builder *cb, const char *key, const char *value)
{
    return ctx_put_own(cb, key, &value, 1, false, false, false, true,
                       CTX_KEY_BORROWED | CTX_VALUE_BORROWED);
}

/* The same with a value that is a string literal too ("true", "User"). */
static TR_RESULT ctx_global_lit(struct ctx_builder *cb, const char *key, const char *value)
{
    return ctx_put_own(cb, key, &value, 1, false, false, false, true,
                       CTX_KEY_BORROWED | CTX_VALUE_BORROWED);
}

void iam_ctx_reset(struct ctx_builder *cb)
{
    /* Only the counters: entries and value pointers are written before
     * they are read (ctx_slot, ctx_put), and the arrays are 18 KiB. */
    cb->n = 0;
    cb->nglobal = 0;
    cb->chunks = NULL;
    cb->strings_len = 0;
    cb->nptrs = 0;
}

TR_RESULT iam_ctx_add(struct ctx_builder *cb, const char *key, const char *value)
{
    return ctx_put(cb, key, &value, 1, false, false);
}

TR_RESULT iam_ctx_add_multi(struct ctx_builder *cb, const char *key,
                            const char *const *values, size_t n)
{
    return ctx_put(cb, key, values, n, true, false);
}

TR_RESULT iam_ctx_add_tag(struct ctx_builder *cb, const char *prefix, const char *tag_key,
                          const char *value)
{
    char key[32 + 4 * 128];     /* a prefix and a 128-character UTF-8 tag key */
    GUARD(str_format(key, sizeof key, "the tag's condition key", "%s%s", prefix, tag_key));
    return iam_ctx_add(cb, key, value ? value : "");
}

TR_RESULT iam_ctx_add_resource_tags(struct ctx_builder *cb, const struct tag_rec *tags,
                                    size_t n, const char *prefix1, const char *prefix2)
{
    for (size_t i = 0; i < n; i++) {
        GUARD(iam_ctx_add_tag(cb, prefix1, tags[i].key, tags[i].value));
        GUARD(iam_ctx_add_tag(cb, prefix2, tags[i].key, tags[i].value));
    }
    return TR_OK;
}

TR_RESULT iam_ctx_add_unknown(struct ctx_builder *cb, const char *key)
{
    static const char *const none[] = { "" };
    return ctx_put(cb, key, none, 1, false, true);
}

TR_RESULT iam_ctx_add_global(struct ctx_builder *cb, const char *key, const char *value)
{
    ENSURE_REF(cb);
    ENSURE(cb->nglobal == cb->n, TR_E_INTERNAL);
    GUARD(ctx_put_in(cb, key, &value, 1, false, false, false, true));
    cb->nglobal = cb->n;
    return TR_OK;
}

TR_RESULT iam_ctx_add_entry(struct ctx_builder *cb, const struct ctx_entry *x)
{
    ENSURE_REF(x);
    return ctx_put_in(cb, x->key, x->values, x->n, x->multi, x->unknown, x->identity_only, false);
}

TR_RESULT iam_ctx_add_entry_ref(struct ctx_builder *cb, const struct ctx_entry *x)
{
    ENSURE_REF(x);
    return ctx_put_own(cb, x->key, x->values, x->n, x->multi, x->unknown, x->identity_only, false,
                       CTX_KEY_BORROWED | CTX_VALUE_BORROWED);
}

void iam_ctx_free(struct ctx_builder *cb)
{
    if (!cb) return;
    while (cb->chunks) {
        struct ctx_chunk *next = cb->chunks->next;
        free(cb->chunks);
        cb->chunks = next;
    }
    cb->strings_len = 0;
    cb->n = 0;
    cb->nglobal = 0;
    cb->nptrs = 0;
}

static void iso8601(int64_t epoch, char out[32])
{
    date_iso8601(epoch, out);
}

/* aws:UserAgent: the client's User-Agent header ("" without one); on a
 * call one service makes for another, the calling service's principal
 * name ("secretsmanager.amazonaws.com" for "secretsmanager.<region>.
 * amazonaws.com"), as CloudTrail records such calls. */
static const char *user_agent(const struct req_ctx *rc, char out[96])
{
    if (!rc->via_service) return rc->user_agent ? rc->user_agent : "";
    size_t n = strcspn(rc->via_service, ".");
    if (n > 64) n = 64;
    memcpy(out, rc->via_service, n);                                   /* fits: 64 + 15 */
    memcpy(out + n, ".amazonaws.com", sizeof ".amazonaws.com");
    return out;
}

/* The decimal text of v (aws:EpochTime); out holds any 64-bit value. */
static const char *decimal(int64_t v, char out[STR_DEC_MAX])
{
    char *o = out + STR_DEC_MAX - 1;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    *o = '\0';
    do { *--o = (char)('0' + u % 10); u /= 10; } while (u);
    if (v < 0) *--o = '-';
    return o;
}

TR_RESULT iam_ctx_init(struct ctx_builder *cb, const struct req_ctx *rc, const struct identity *id)
{
    ENSURE_REF(cb);
    ENSURE_REF(rc);
    iam_ctx_reset(cb);
    const struct principal *who = &rc->who;
    bool session = who->type == PRINCIPAL_ROLE_SESSION;
    char num[32];
    tr_result r;

    r = ctx_global_ref(cb, "aws:PrincipalArn", session && who->role_arn[0] ? who->role_arn : who->arn);
    if (tr_ok(r)) r = ctx_global_ref(cb, "aws:PrincipalAccount", who->account_id);
    if (tr_ok(r)) r = ctx_global_ref(cb, "aws:userid", who->id);
    if (tr_ok(r) && who->type == PRINCIPAL_USER && id && id->username)
        r = ctx_global_ref(cb, "aws:username", id->username);
    if (tr_ok(r))
        r = ctx_global_lit(cb, "aws:PrincipalType", who->type == PRINCIPAL_ROOT ? "Account"
                                                 : session ? "AssumedRole" : "User");
    for (size_t i = 0; id && tr_ok(r) && i < id->ntags; i++)   /* tags: searched */
        r = iam_ctx_add_tag(cb, "aws:PrincipalTag/", id->tag_keys[i], id->tag_values[i]);
    /* Not on service-to-service calls (docs/AUTHORIZATION.md 1.2, 5.3). */
    if (tr_ok(r) && rc->source_ip && *rc->source_ip && !rc->via_service)
        r = ctx_global_ref(cb, "aws:SourceIp", rc->source_ip);
    if (tr_ok(r)) r = ctx_global_lit(cb, "aws:SecureTransport", rc->secure_transport ? "true" : "false");
    iso8601(rc->now, num);
    if (tr_ok(r)) r = ctx_global(cb, "aws:CurrentTime", num);
    if (tr_ok(r)) r = ctx_global(cb, "aws:EpochTime", decimal(rc->now, num));
    if (tr_ok(r) && rc->region[0]) r = ctx_global_ref(cb, "aws:RequestedRegion", rc->region);
    if (tr_ok(r)) r = ctx_global_lit(cb, "aws:ViaAWSService", rc->via_service ? "true" : "false");
    /* Callers are never AWS service principals. */
    if (tr_ok(r)) r = ctx_global_lit(cb, "aws:PrincipalIsAWSService", "false");
    char ua[96];
    if (tr_ok(r))
        r = rc->via_service ? ctx_global(cb, "aws:UserAgent", user_agent(rc, ua))
                            : ctx_global_ref(cb, "aws:UserAgent", user_agent(rc, ua));
    if (tr_ok(r) && rc->referer && !rc->via_service) r = ctx_global_ref(cb, "aws:referer", rc->referer);
    if (tr_ok(r) && id && id->token_issued) {
        iso8601(id->token_issued, num);
        r = ctx_global(cb, "aws:TokenIssueTime", num);
    }
    /* Temporary credentials, and a service's call for the caller, which
     * AWS makes with temporary credentials (docs/AUTHORIZATION.md 1.2). */
    if (tr_ok(r) && id && (id->token_issued || rc->via_service))
        r = ctx_global_lit(cb, "aws:MultiFactorAuthPresent", id->mfa ? "true" : "false");
    if (tr_ok(r) && id && id->source_identity)
        r = ctx_global_ref(cb, "aws:SourceIdentity", id->source_identity);
    if (tr_ok(r) && id && id->federated_provider)
        r = ctx_global_ref(cb, "aws:FederatedProvider", id->federated_provider);
    if (tr_failed(r)) iam_ctx_free(cb);
    else cb->nglobal = cb->n;
    return r;
}
