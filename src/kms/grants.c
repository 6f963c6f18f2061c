/*
 * grants.c -- KMS grants: CreateGrant, ListGrants, ListRetirableGrants,
 * RetireGrant, RevokeGrant; and the two questions authz.c and the key
 * lifecycle ask of them (does a grant allow this request?  remove a
 * deleted key's grants).
 *
 * What a grant is (docs/AUTHORIZATION.md 4.3; KMS grants.md,
 * create-grant-overview.md; the botocore model's CreateGrant,
 * GrantConstraints, GrantListEntry):
 *  - one key, one grantee principal (a user, a role -- which covers its
 *    sessions -- a role session, or an account), a list of grant operations,
 *    an optional retiring principal, an optional constraint
 *    EncryptionContextEquals (the request's context must be exactly the
 *    constraint's pairs) or EncryptionContextSubset (all of its pairs
 *    present, others allowed); at most 8 pairs, values of at most 384
 *    characters.  Keys and values compare case-sensitively
 *    (docs/AUTHORIZATION.md 4.3; the model's documentation calls constraint
 *    keys case-insensitive, but our reference and tests follow the exact
 *    match).
 *  - Grants only allow, never deny: authz.c consults them after an
 *    implicit deny, never after an explicit one.  DescribeKey and
 *    RetireGrant ignore constraints.  A grant that allows CreateGrant lets
 *    its grantee create grants for a subset of its own operations with a
 *    constraint at least as strict (every context the new grant allows,
 *    the old one allows).
 *  - A grant to an account, or to a principal of another account than the
 *    key's, also needs the caller's own IAM policies
 *    (docs/AUTHORIZATION.md 8.1).
 *  - Grants take effect at once (no eventual consistency), so grant
 *    tokens are accepted and need not be presented.
 *  - Operations the key cannot perform are refused with
 *    ValidationException: a symmetric encryption key no Sign, Verify,
 *    GetPublicKey, GenerateMac, VerifyMac, DeriveSharedSecret (its
 *    GenerateDataKeyPair* are accepted, as on AWS); an RSA encryption key
 *    only Encrypt, Decrypt, ReEncrypt*, GetPublicKey; a signing key only
 *    Sign, Verify, GetPublicKey; a key agreement key only
 *    DeriveSharedSecret, GetPublicKey; an HMAC key only GenerateMac, VerifyMac
 *    (each with CreateGrant, RetireGrant and DescribeKey).  A grant of CreateGrant alone is
 *    refused ("Grants must not contain only the CreateGrant operation.",
 *    seen from real KMS).
 *
 * Storage (docs/internals/IAM_STORE.md): relation "grant" from the key
 * ARN to the grant id (64 lowercase hex), doc the grant as JSON
 *   {"key_id", "name", "grantee", "retiring"?, "operations": [...],
 *    "constraints": {"EncryptionContextEquals"|"EncryptionContextSubset":
 *    {...}} | null, "issuing_account", "creation_date"};
 * plus, for ListRetirableGrants, relation "retirable" from the retiring
 * principal (as written) to the grant id, doc the key ARN.  Both are
 * removed together (RetireGrant, RevokeGrant, key deletion).
 *
 * Grant tokens are opaque: base64 of 0x01 | the 32 bytes of the grant id |
 * 16 random bytes, so each CreateGrant returns a new token and RetireGrant
 * can find the grant from the token alone.  Name makes CreateGrant
 * idempotent: the same name with the same grantee, retiring principal,
 * operations and constraint returns the existing GrantId.
 *
 * Authorization: CreateGrant kms:CreateGrant (with kms:Grant* condition
 * keys; the constraint's pairs as kms:EncryptionContext:*), ListGrants
 * kms:ListGrants, RevokeGrant kms:RevokeGrant, all usable across accounts
 * by key ARN; ListRetirableGrants kms:ListRetirableGrants (IAM only, the
 * caller's account); RetireGrant as the grant decides (authz.c,
 * kms_authorize_retire): its retiring principal, its grantee when the
 * grant includes RetireGrant, or a principal of an account the grant
 * names, of the account that created it or of the key's account whose
 * IAM policies allow kms:RetireGrant -- never by the key policy.
 * Unknown grant ids: NotFoundException "Grant ID
 * <id> not found"; ids that are not 64 hex characters:
 * InvalidGrantIdException.  Our wording where AWS's is not public.
 */
#include "kms/kms.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hex.h"
#include "core/json.h"
#include "core/str.h"
#include "crypto/rand.h"
#include "iam/authz.h"
#include "iam/bindings.h"

#define GRANT_REL "grant"
#define RETIRABLE_REL "retirable"
#define GRANT_ID_HEX 64
#define GRANT_PAGE 500
#define TOKEN_RAW (1 + 32 + 16)
#define CONSTRAINT_PAIRS_MAX 8
#define CONSTRAINT_VALUE_MAX 384
#define EQUALS "EncryptionContextEquals"
#define SUBSET "EncryptionContextSubset"

static const char *const GRANT_OPS[] = {
    "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom", "ReEncryptTo", "Sign", "Verify", "GetPublicKey", "CreateGrant",
    "RetireGrant", "DescribeKey", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext",
    "GenerateMac", "VerifyMac", "DeriveSharedSecret", NULL
};
/* The grant operations each kind of key can perform (the KMS developer
 * guide's "Grant operations" table); any other is refused. */
static const char *const OPS_SYMMETRIC[] = {
    "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "ReEncryptFrom",
    "ReEncryptTo", "CreateGrant", "RetireGrant", "DescribeKey", NULL
};
static const char *const OPS_RSA_ENCRYPT[] = {
    "Decrypt", "Encrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey", "CreateGrant",
    "RetireGrant", "DescribeKey", NULL
};
static const char *const OPS_SIGN[] = {
    "Sign", "Verify", "GetPublicKey", "CreateGrant", "RetireGrant", "DescribeKey", NULL
};
static const char *const OPS_AGREE[] = {
    "DeriveSharedSecret", "GetPublicKey", "CreateGrant", "RetireGrant", "DescribeKey", NULL
};
static const char *const OPS_MAC[] = {
    "GenerateMac", "VerifyMac", "CreateGrant", "RetireGrant", "DescribeKey", NULL
};

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0) return true;
    return false;
}

static bool json_list_has(json_t *list, const char *s)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
        if (json_is_string(e) && strcmp(json_string_value(e), s) == 0) return true;
    return false;
}

static bool is_grant_id(const char *s)
{
    if (strlen(s) != GRANT_ID_HEX) return false;
    for (const char *c = s; *c; c++)
        if (!isxdigit((unsigned char)*c) || isupper((unsigned char)*c)) return false;
    return true;
}

/* InvalidGrantIdException unless s is a grant id. */
static TR_RESULT check_grant_id(const char *s)
{
    if (!is_grant_id(s))
        BAIL(TR_E_KMS_INVALID_GRANT_ID,
             "The request was rejected because the specified GrantId is not valid.");
    return TR_OK;
}

static tr_result grant_not_found(const char *id)
{
    return tr_fail_at(__FILE__, __LINE__, TR_E_KMS_NOT_FOUND, "Grant ID %.128s not found", id);
}

/* ---- principals ------------------------------------------------------- */

enum kms_grant_match kms_grant_principal_match(const char *named, const char *named_id,
                                               const struct principal *who)
{
    char root[64];
    if (!named || !named[0]) return KG_NONE;
    if (named_id) {
        struct eval_principal ep;
        iam_eval_principal(who, &ep);
        size_t n = strlen(named_id);
        bool same = ep.unique_id && ep.unique_id_len == n && memcmp(ep.unique_id, named_id, n) == 0;
        return same ? KG_DIRECT : KG_NONE;
    }
    if (strcmp(named, who->arn) == 0) return KG_DIRECT;
    if (who->role_arn[0] && strcmp(named, who->role_arn) == 0) return KG_DIRECT;
    _Static_assert(sizeof root >= sizeof "arn:aws:iam:::root" + sizeof who->account_id, "root fits");
    snprintf(root, sizeof root, "arn:aws:iam::%s:root", who->account_id);     /* fits: asserted above */
    if (strcmp(named, root) == 0 || strcmp(named, who->account_id) == 0) return KG_ACCOUNT;
    return KG_NONE;
}

/* The account a principal string belongs to, into out[13]; "" if none. */
static void principal_account(const char *p, char out[ACCOUNT_ID_LEN + 1])
{
    out[0] = '\0';
    size_t n = strlen(p);
    if (n == ACCOUNT_ID_LEN && strspn(p, "0123456789") == n) {
        memcpy(out, p, n + 1);
        return;
    }
    const char *c = p;
    for (int i = 0; i < 4 && c; i++) {
        c = strchr(c, ':');
        if (c) c++;
    }
    if (c && strspn(c, "0123456789") == ACCOUNT_ID_LEN && c[ACCOUNT_ID_LEN] == ':') {
        memcpy(out, c, ACCOUNT_ID_LEN);
        out[ACCOUNT_ID_LEN] = '\0';
    }
}

/* A PrincipalIdType member: 1..256 of ^[\w+=,.@:/-]+$. */
static TR_RESULT principal_member(json_t *in, const char *name, bool required, const char **out)
{
    GUARD(json_get_str(in, name, required, 1, 256, out));
    if (!*out) return TR_OK;
    for (const char *c = *out; *c; c++) {
        if (!isalnum((unsigned char)*c) && !strchr("_+=,.@:/-", *c)) {
            char q[300];
            snprintf(q, sizeof q, "'%s'", *out);     /* fits: 256 at most, checked above */
            return json_invalid(name, q,
                                "Member must satisfy regular expression pattern: ^[\\w+=,.@:/-]+$");
        }
    }
    return TR_OK;
}

/* ---- constraints -------------------------------------------------------- */

/* Does the request's encryption context (object or NULL) meet the grant's
 * constraints (object, null or NULL)? */
static bool context_meets(json_t *constraints, json_t *ctx)
{
    json_t *eq = json_object_get(constraints, EQUALS);
    json_t *sub = json_object_get(constraints, SUBSET);
    json_t *need = eq ? eq : sub;
    if (!json_is_object(need)) return true;
    size_t have = json_is_object(ctx) ? json_object_size(ctx) : 0;
    if (eq && have != json_object_size(eq)) return false;
    const char *k;
    json_t *v;
    json_object_foreach(need, k, v) {
        json_t *got = json_is_object(ctx) ? json_object_get(ctx, k) : NULL;
        if (!json_is_string(got) || !json_equal(got, v)) return false;
    }
    return true;
}

/* Is every pair of a also in b? */
static bool pairs_within(json_t *a, json_t *b)
{
    const char *k;
    json_t *v;
    json_object_foreach(a, k, v)
        if (!json_equal(json_object_get(b, k), v)) return false;
    return true;
}

/* May a grantee holding a grant with `parent` constraints create a grant
 * with the requested constraint?  Only if every context the new grant
 * allows, the parent allows. */
static bool constraint_as_strict(json_t *parent, const struct kms_grant_req *g)
{
    json_t *peq = json_object_get(parent, EQUALS), *psub = json_object_get(parent, SUBSET);
    if (!json_is_object(peq) && !json_is_object(psub)) return true;
    if (!g->constraint_type || !g->constraint) return false;
    bool child_eq = strcmp(g->constraint_type, EQUALS) == 0;
    if (json_is_object(peq))
        return child_eq && json_equal(peq, g->constraint);
    /* Parent Subset S: the child's pairs must include S. */
    return pairs_within(psub, g->constraint);
}

/* ---- reading grants ----------------------------------------------------- */

/* A grant relation's document, parsed; NULL when it does not parse. */
static json_t *grant_doc(const struct rel_rec *g)
{
    return json_loads(g->doc ? g->doc : "", 0, NULL);
}

/* The grants of a key, one page after `after`. */
static TR_RESULT grant_page(store_t st, const char *key_arn, const char *after,
                            struct rel_rec **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    return st[0]->rel_list_from(st, GRANT_REL, key_arn, after, GRANT_PAGE, out, n);
}

/* What grant_walk calls for each grant: g its relation, doc its parsed
 * document (NULL when it does not parse); *stop ends the walk. */
typedef TR_RESULT (*grant_visit)(const struct rel_rec *g, json_t *doc, void *arg, bool *stop);

/* Visit the grants of key_arn in id order, a page at a time, until visit
 * stops or fails.  Continuing after the last id seen, a visit may delete
 * the grant it is given. */
static TR_RESULT grant_walk(store_t st, const char *key_arn, grant_visit visit, void *arg)
{
    char after[GRANT_ID_HEX + 1] = "";
    bool stop = false;
    for (;;) {
        struct rel_rec *page;
        size_t n;
        tr_result r = grant_page(st, key_arn, after[0] ? after : NULL, &page, &n);
        for (size_t i = 0; tr_ok(r) && i < n && !stop; i++) {
            json_t *doc = grant_doc(&page[i]);
            r = visit(&page[i], doc, arg, &stop);
            json_decref(doc);
        }
        bool more = tr_ok(r) && !stop && n == GRANT_PAGE;
        if (more) r = str_copy(after, sizeof after, page[n - 1].to, "the grant id");
        rel_list_free(page, n);
        if (!more || tr_failed(r)) return r;
    }
}

/* Does this grant (doc) let rc->who do op with the request in `in`? */
static enum kms_grant_match grant_permits(json_t *doc, const struct principal *who,
                                          const char *op, const struct kms_authz_in *in)
{
    if (!json_list_has(json_object_get(doc, "operations"), op)) return KG_NONE;
    enum kms_grant_match m =
        kms_grant_principal_match(json_string_value(json_object_get(doc, "grantee")),
                                  json_string_value(json_object_get(doc, "grantee_id")), who);
    if (m == KG_NONE) return KG_NONE;
    json_t *cons = json_object_get(doc, "constraints");
    if (strcmp(op, "DescribeKey") == 0 || strcmp(op, "RetireGrant") == 0) return m;
    if (strcmp(op, "CreateGrant") == 0) {
        const struct kms_grant_req *g = in ? in->grant : NULL;
        if (!g) return KG_NONE;
        json_t *ops = json_object_get(doc, "operations");
        for (size_t i = 0; i < g->nops; i++)
            if (!json_list_has(ops, g->ops[i])) return KG_NONE;
        return constraint_as_strict(cons, g) ? m : KG_NONE;
    }
    return context_meets(cons, in ? in->ctx : NULL) ? m : KG_NONE;
}

TR_RESULT kms_grants_allow(struct req_ctx *rc, const char *action, const struct key_rec *k,
                           const struct kms_authz_in *in, enum kms_grant_match *out)
{
    char id[GRANT_ID_HEX + 1];
    return kms_grants_allow_id(rc, action, k, in, out, id);
}

struct best_grant {
    const struct principal *who;
    const char *op;
    const struct kms_authz_in *in;
    enum kms_grant_match *out;
    char *grant_id;
};

static TR_RESULT visit_best(const struct rel_rec *g, json_t *doc, void *arg, bool *stop)
{
    struct best_grant *b = arg;
    enum kms_grant_match m = doc ? grant_permits(doc, b->who, b->op, b->in) : KG_NONE;
    if (m > *b->out) {
        *b->out = m;
        GUARD(str_copy(b->grant_id, GRANT_ID_HEX + 1, g->to, "the grant id"));
    }
    *stop = *b->out == KG_DIRECT;
    return TR_OK;
}

TR_RESULT kms_grants_allow_id(struct req_ctx *rc, const char *action, const struct key_rec *k,
                              const struct kms_authz_in *in, enum kms_grant_match *out,
                              char grant_id[GRANT_ID_HEX + 1])
{
    *out = KG_NONE;
    grant_id[0] = '\0';
    if (strncmp(action, "kms:", 4) != 0 || !in_list(action + 4, GRANT_OPS)) return TR_OK;
    struct best_grant b = { .who = &rc->who, .op = action + 4, .in = in, .out = out,
                            .grant_id = grant_id };
    return grant_walk(rc->st, k->arn, visit_best, &b);
}

/* Delete one grant's relations. */
static TR_RESULT grant_delete(store_t st, const char *key_arn, const char *grant_id, json_t *doc)
{
    const char *retiring = json_string_value(json_object_get(doc, "retiring"));
    GUARD(st[0]->rel_delete(st, GRANT_REL, key_arn, grant_id));
    if (retiring) {
        tr_result r = st[0]->rel_delete(st, RETIRABLE_REL, retiring, grant_id);
        if (tr_failed(r) && tr_code(r) != TR_E_STORE_NOT_FOUND) return r;
    }
    return TR_OK;
}

struct key_grants {
    store_t st;
    const char *key_arn;
};

static TR_RESULT visit_delete(const struct rel_rec *g, json_t *doc, void *arg, bool *stop)
{
    const struct key_grants *kg = arg;
    (void)stop;
    return grant_delete(kg->st, kg->key_arn, g->to, doc);
}

struct grantee_walk {
    TR_RESULT (*fn)(void *arg, const char *grantee);
    void *arg;
};

static TR_RESULT visit_grantee(const struct rel_rec *g, json_t *doc, void *arg, bool *stop)
{
    struct grantee_walk *w = arg;
    const char *who = json_string_value(json_object_get(doc, "grantee"));
    (void)g;
    (void)stop;
    return who ? w->fn(w->arg, who) : TR_OK;
}

TR_RESULT kms_grants_each_grantee(store_t st, const char *key_arn,
                                  TR_RESULT (*fn)(void *arg, const char *grantee), void *arg)
{
    struct grantee_walk w = { .fn = fn, .arg = arg };
    return grant_walk(st, key_arn, visit_grantee, &w);
}

TR_RESULT kms_grants_delete_key(store_t st, const char *key_arn)
{
    struct key_grants kg = { .st = st, .key_arn = key_arn };
    return grant_walk(st, key_arn, visit_delete, &kg);
}

/* ---- list entries --------------------------------------------------------- */

/* A GrantListEntry from a grant relation. */
static TR_RESULT grant_entry(const struct rel_rec *rel, json_t **out)
{
    json_t *doc = grant_doc(rel);
    json_t *e = NULL;
    char issuing[64];
    tr_result r = TR_OK;

    *out = NULL;
    if (!json_is_object(doc)) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    const char *name = json_string_value(json_object_get(doc, "name"));
    const char *retiring = json_string_value(json_object_get(doc, "retiring"));
    json_t *cons = json_object_get(doc, "constraints");
    r = str_format(issuing, sizeof issuing, "the issuing account's ARN", "arn:aws:iam::%s:root",
                   json_string_value(json_object_get(doc, "issuing_account")) ?
                   json_string_value(json_object_get(doc, "issuing_account")) : "");
    if (tr_failed(r)) goto fail;
    e = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:O?}", "KeyId", rel->from, "GrantId", rel->to,
                  "Name", name ? name : "", "GranteePrincipal",
                  json_string_value(json_object_get(doc, "grantee")),
                  "IssuingAccount", issuing, "Operations", json_object_get(doc, "operations"));
    if (!e) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    r = json_set_time(e, "CreationDate", rel->created);
    if (tr_failed(r)) goto fail;
    if (retiring) {
        r = kms_set(e, "RetiringPrincipal", json_string(retiring));
        if (tr_failed(r)) goto fail;
    }
    if (json_is_object(cons)) {
        r = kms_set(e, "Constraints", json_deep_copy(cons));
        if (tr_failed(r)) goto fail;
    }
    *out = e;
    e = NULL;
fail:
    json_decref(e);
    json_decref(doc);
    return r;
}

/* The grant token of a grant: base64(0x01 | id bytes | 16 random bytes). */
static TR_RESULT grant_token(const char *grant_id, json_t *reply)
{
    uint8_t raw[TOKEN_RAW];
    struct buf b = BUF_INIT(128);
    tr_result r = TR_OK;

    raw[0] = 1;
    if (!hex_decode(grant_id, 64, raw + 1)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        goto fail;
    }
    r = rand_bytes(raw + 33, 16);
    if (tr_ok(r)) r = b64_encode(raw, sizeof raw, &b);
    if (tr_ok(r)) r = kms_set(reply, "GrantToken", json_stringn((const char *)b.data, b.len));
fail:
    buf_free(&b);
    return r;
}

/* The grant id inside a grant token, or InvalidGrantTokenException. */
static TR_RESULT token_grant_id(const char *token, char out[GRANT_ID_HEX + 1])
{
    struct buf b = BUF_INIT(TOKEN_RAW + 8);   /* room for the decoder's rounding */
    tr_result r = b64_decode(token, strlen(token), &b);
    bool ok = tr_ok(r) && b.len == TOKEN_RAW && b.data[0] == 1;
    if (ok) hex_encode(b.data + 1, 32, out);
    buf_free(&b);
    if (!ok)
        BAIL(TR_E_KMS_INVALID_GRANT_TOKEN,
             "The request was rejected because the specified grant token is not valid.");
    return TR_OK;
}

/* ---- CreateGrant ------------------------------------------------------------ */

/* Name: 1..256 of ^[a-zA-Z0-9:/_-]+$. */
static TR_RESULT grant_name(json_t *in, const char **out)
{
    GUARD(json_get_str(in, "Name", false, 1, 256, out));
    if (!*out) return TR_OK;
    for (const char *c = *out; *c; c++) {
        if (!isalnum((unsigned char)*c) && !strchr(":/_-", *c)) {
            char q[300];
            snprintf(q, sizeof q, "'%s'", *out);     /* fits: 256 at most, checked above */
            return json_invalid("Name", q,
                                "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$");
        }
    }
    return TR_OK;
}

/* Operations: a list of GrantOperation values, deduplicated into ops[]
 * (pointers into GRANT_OPS). */
static TR_RESULT grant_operations(json_t *in, const char **ops, size_t *nops)
{
    json_t *list;
    *nops = 0;
    GUARD(json_get_str_list(in, "Operations", true, (size_t)-1, 0, (size_t)-1, &list));
    char bad[512];
    size_t used = 0;
    bad[0] = '\0';
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        const char *s = json_string_value(e);
        const char *const *known = GRANT_OPS;
        while (*known && strcmp(*known, s) != 0) known++;
        if (!*known) {
            int w = snprintf(bad + used, sizeof bad - used, "%s%.64s", used ? ", " : "", s);
            if (w > 0 && (size_t)w < sizeof bad - used) used += (size_t)w;
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < *nops; j++) dup = dup || ops[j] == *known;
        if (!dup) ops[(*nops)++] = *known;
    }
    if (used) {
        char q[600], c[700];
        _Static_assert(sizeof q >= sizeof bad + 4, "q holds bad, quoted");
        snprintf(q, sizeof q, "'[%s]'", bad);     /* fits: asserted above */
        /* fits: the enum set, 330 characters */
        snprintf(c, sizeof c, "Member must satisfy constraint: [Member must satisfy enum value "
                 "set: [Decrypt, Encrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext, "
                 "ReEncryptFrom, ReEncryptTo, Sign, Verify, GetPublicKey, CreateGrant, "
                 "RetireGrant, DescribeKey, GenerateDataKeyPair, "
                 "GenerateDataKeyPairWithoutPlaintext, GenerateMac, VerifyMac, "
                 "DeriveSharedSecret]]");
        return json_invalid("Operations", q, c);
    }
    if (*nops == 0)
        return json_invalid("Operations", "'[]'",
                            "Member must have length greater than or equal to 1");
    return TR_OK;
}

/* Constraints: at most one of the two maps, each at most 8 pairs with
 * values of at most 384 characters. */
static TR_RESULT grant_constraints(json_t *in, const char **type, json_t **map)
{
    static const char *const MEMBERS[] = { EQUALS, SUBSET, NULL };
    json_t *c = json_object_get(in, "Constraints"), *eq, *sub;
    *type = NULL;
    *map = NULL;
    if (!c || json_is_null(c)) return TR_OK;
    if (!json_is_object(c))
        BAIL(TR_E_SERIALIZATION, "Unexpected value for member 'Constraints': expected structure");
    GUARD(json_check_members(c, MEMBERS));
    GUARD(json_get_str_map(c, EQUALS, &eq));
    GUARD(json_get_str_map(c, SUBSET, &sub));
    if (eq && sub)
        BAIL(TR_E_VALIDATION, "A grant can have only one constraint: EncryptionContextEquals "
             "or EncryptionContextSubset.");
    json_t *m = eq ? eq : sub;
    if (!m) return TR_OK;
    if (json_object_size(m) > CONSTRAINT_PAIRS_MAX)
        BAIL(TR_E_VALIDATION, "A grant constraint can include up to %d encryption context pairs.",
             CONSTRAINT_PAIRS_MAX);
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v) {
        if (json_string_length(v) > CONSTRAINT_VALUE_MAX)
            BAIL(TR_E_VALIDATION, "An encryption context value in a grant constraint cannot "
                 "exceed %d characters.", CONSTRAINT_VALUE_MAX);
    }
    *type = eq ? EQUALS : SUBSET;
    *map = m;
    return TR_OK;
}

/* The operations fit the key's spec and usage. */
static TR_RESULT check_ops_for_key(const struct key_rec *k, const char *const *ops, size_t n)
{
    char bad[256];
    size_t used = 0;
    const char *const *fit = strcmp(k->key_usage, "SIGN_VERIFY") == 0 ? OPS_SIGN
                           : strcmp(k->key_usage, "GENERATE_VERIFY_MAC") == 0 ? OPS_MAC
                           : strcmp(k->key_usage, "KEY_AGREEMENT") == 0 ? OPS_AGREE
                           : kms_key_is_symmetric(k) ? OPS_SYMMETRIC : OPS_RSA_ENCRYPT;
    bad[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (in_list(ops[i], fit)) continue;
        int w = snprintf(bad + used, sizeof bad - used, "%s%s", used ? "," : "", ops[i]);
        if (w > 0 && (size_t)w < sizeof bad - used) used += (size_t)w;
    }
    if (used)
        BAIL(TR_E_VALIDATION, "Grant operations %s are not supported for a KMS key with key "
             "spec %s and key usage %s.", bad, k->key_spec, k->key_usage);
    if (n == 1 && strcmp(ops[0], "CreateGrant") == 0)
        BAIL(TR_E_VALIDATION, "Grants must not contain only the CreateGrant operation.");
    return TR_OK;
}

/* A grantee or retiring principal must name something that exists. */
static TR_RESULT check_principal(store_t st, const char *p)
{
    bool ok = false;
    if (!p) return TR_OK;
    GUARD(kms_principal_valid(st, p, &ok));
    if (!ok) BAIL(TR_E_KMS_INVALID_ARN, "ARN %.256s is not a valid principal.", p);
    return TR_OK;
}

static bool same_ops(json_t *list, const char *const *ops, size_t n)
{
    if (json_array_size(list) != n) return false;
    for (size_t i = 0; i < n; i++)
        if (!json_list_has(list, ops[i])) return false;
    return true;
}

struct same_grant {
    const char *name;
    const struct kms_grant_req *g;
    char *found;
};

/* Is this grant (doc) one with the name and the parameters asked for? */
static TR_RESULT visit_same(const struct rel_rec *rel, json_t *doc, void *arg, bool *stop)
{
    const struct same_grant *sg = arg;
    const struct kms_grant_req *g = sg->g;
    json_t *cons = json_object_get(doc, "constraints");
    json_t *want = g->constraint_type ? json_pack("{s:O}", g->constraint_type, g->constraint) : NULL;
    const char *dn = json_string_value(json_object_get(doc, "name"));
    const char *dr = json_string_value(json_object_get(doc, "retiring"));
    /* A grant to a user or role since deleted names another principal
     * than the one of the same ARN now. */
    const char *gi = json_string_value(json_object_get(doc, "grantee_id"));
    const char *ri = json_string_value(json_object_get(doc, "retiring_id"));
    bool same_ids = (!gi == !g->grantee_id) && (!gi || strcmp(gi, g->grantee_id) == 0) &&
                    (!ri == !g->retiring_id) && (!ri || strcmp(ri, g->retiring_id) == 0);
    bool same = dn && strcmp(dn, sg->name) == 0 && same_ids &&
        strcmp(json_string_value(json_object_get(doc, "grantee")) ?
               json_string_value(json_object_get(doc, "grantee")) : "", g->grantee) == 0 &&
        ((!dr && !g->retiring) || (dr && g->retiring && strcmp(dr, g->retiring) == 0)) &&
        same_ops(json_object_get(doc, "operations"), g->ops, g->nops) &&
        (want ? json_equal(want, cons) : !json_is_object(cons));
    json_decref(want);
    *stop = same;
    return same ? str_copy(sg->found, GRANT_ID_HEX + 1, rel->to, "the grant id") : TR_OK;
}

/* An existing grant with this name and the same parameters: its id into
 * found[] ("" when none). */
static TR_RESULT find_same_grant(store_t st, const char *key_arn, const char *name,
                                 const struct kms_grant_req *g, char found[GRANT_ID_HEX + 1])
{
    struct same_grant sg = { .name = name, .g = g, .found = found };
    found[0] = '\0';
    return grant_walk(st, key_arn, visit_same, &sg);
}

/* Store a new grant; its id into id[]. */
static TR_RESULT grant_store(struct req_ctx *rc, const struct key_rec *k, const char *name,
                             const struct kms_grant_req *g, char id[GRANT_ID_HEX + 1])
{
    uint8_t raw[32];
    json_t *doc = NULL, *ops = NULL;
    char *text = NULL;
    tr_result r;

    r = rand_bytes(raw, sizeof raw);
    if (tr_failed(r)) goto fail;
    hex_encode(raw, sizeof raw, id);
    ops = json_array();
    if (!ops) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    for (size_t i = 0; i < g->nops; i++) {
        r = kms_append(ops, json_string(g->ops[i]));
        if (tr_failed(r)) goto fail;
    }
    doc = json_pack("{s:s, s:s?, s:s, s:s?, s:O, s:n, s:s, s:I}", "key_id", k->key_id,
                    "name", name, "grantee", g->grantee, "retiring", g->retiring,
                    "operations", ops, "constraints", "issuing_account", rc->who.account_id,
                    "creation_date", (json_int_t)rc->now);
    if (!doc) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    if (g->constraint_type) {
        r = kms_set(doc, "constraints", json_pack("{s:O}", g->constraint_type, g->constraint));
        if (tr_failed(r)) goto fail;
    }
    if (g->grantee_id) r = kms_set(doc, "grantee_id", json_string(g->grantee_id));
    if (tr_ok(r) && g->retiring_id) r = kms_set(doc, "retiring_id", json_string(g->retiring_id));
    if (tr_failed(r)) goto fail;
    text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    struct rel_rec rel = { .kind = GRANT_REL, .from = k->arn, .to = id, .doc = text,
                           .created = rc->now };
    r = rc->st[0]->rel_put(rc->st, &rel);
    if (tr_failed(r)) goto fail;
    if (g->retiring) {
        struct rel_rec ret = { .kind = RETIRABLE_REL, .from = (char *)g->retiring, .to = id,
                               .doc = k->arn, .created = rc->now };
        r = rc->st[0]->rel_put(rc->st, &ret);
    }
fail:
    free(text);
    json_decref(doc);
    json_decref(ops);
    return r;
}

KMS_HANDLER(op_create_grant)
{
    const char *id, *name;
    const char *ops[sizeof GRANT_OPS / sizeof GRANT_OPS[0]];
    struct kms_grant_req g = { .ops = ops };
    bool dry;
    char gid[GRANT_ID_HEX + 1], *grantee_id = NULL, *retiring_id = NULL;
    struct key_rec k;
    json_t *reply = NULL;
    tr_result r;

    memset(&k, 0, sizeof k);
    GUARD(json_get_str(in, "KeyId", true, 1, KMS_ARN_MAX, &id));
    GUARD(principal_member(in, "GranteePrincipal", true, &g.grantee));
    GUARD(principal_member(in, "RetiringPrincipal", false, &g.retiring));
    GUARD(grant_operations(in, ops, &g.nops));
    GUARD(grant_constraints(in, &g.constraint_type, &g.constraint));
    GUARD(kms_grant_tokens(in));
    GUARD(grant_name(in, &name));
    GUARD(kms_get_flag(in, "DryRun", &dry));

    GUARD(kms_resolve(rc, id, KR_KEY_ONLY | KR_XACCT, &k));
    struct kms_authz_in az = { .ctx = g.constraint, .key_id_given = id, .grant = &g };
    r = kms_authorize_in(rc, rc->op->action, &k, &az);
    if (tr_ok(r)) r = kms_check_state(&k, KS_USABLE);
    if (tr_ok(r)) r = check_ops_for_key(&k, ops, g.nops);
    if (tr_ok(r)) r = check_principal(rc->st, g.grantee);
    if (tr_ok(r)) r = check_principal(rc->st, g.retiring);
    /* Bound to the users or roles they name now (iam/bindings.h). */
    if (tr_ok(r)) r = iam_bind_principal(rc->st, g.grantee, &grantee_id);
    if (tr_ok(r)) r = iam_bind_principal(rc->st, g.retiring, &retiring_id);
    g.grantee_id = grantee_id;
    g.retiring_id = retiring_id;
    if (tr_failed(r)) goto fail;
    if (dry) { r = kms_dry_run(); goto fail; }

    gid[0] = '\0';
    if (name) {
        r = find_same_grant(rc->st, k.arn, name, &g, gid);
        if (tr_failed(r)) goto fail;
    }
    if (!gid[0]) {
        r = grant_store(rc, &k, name, &g, gid);
        if (tr_failed(r)) goto fail;
    }
    reply = json_pack("{s:s}", "GrantId", gid);
    if (!reply) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    r = grant_token(gid, reply);
    if (tr_failed(r)) goto fail;
    *out = reply;
    reply = NULL;
fail:
    json_decref(reply);
    key_rec_free(&k);
    free(grantee_id);
    free(retiring_id);
    return r;
}

/* ---- ListGrants, ListRetirableGrants --------------------------------------- */

/* Marker: a grant id. */
static TR_RESULT grant_marker(json_t *in, char after[GRANT_ID_HEX + 1], bool *present)
{
    char m[GRANT_ID_HEX + 8];   /* room for the decoder's rounding */
    GUARD(kms_marker_decode(in, m, sizeof m, present));
    if (*present && !is_grant_id(m)) BAIL(TR_E_KMS_INVALID_MARKER, "Invalid marker");
    after[0] = '\0';
    if (*present) memcpy(after, m, GRANT_ID_HEX + 1);
    return TR_OK;
}

KMS_HANDLER(op_list_grants)
{
    const char *id, *grant_id, *grantee;
    size_t limit, n = 0;
    bool has_marker;
    char after[GRANT_ID_HEX + 1], next[GRANT_ID_HEX + 1] = "";
    struct rel_rec *page = NULL;
    struct key_rec k;
    json_t *list = NULL;
    tr_result r;

    memset(&k, 0, sizeof k);
    GUARD(kms_get_limit(in, 50, 100, &limit));
    GUARD(grant_marker(in, after, &has_marker));
    GUARD(json_get_str(in, "KeyId", true, 1, KMS_ARN_MAX, &id));
    GUARD(json_get_str(in, "GrantId", false, 1, 128, &grant_id));
    GUARD(principal_member(in, "GranteePrincipal", false, &grantee));
    GUARD(kms_resolve(rc, id, KR_KEY_ONLY | KR_XACCT, &k));
    struct kms_authz_in az = { .key_id_given = id };
    r = kms_authorize_in(rc, rc->op->action, &k, &az);
    if (tr_ok(r) && grant_id) r = check_grant_id(grant_id);
    if (tr_failed(r)) goto fail;

    list = json_array();
    if (!list) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    bool more = true;
    while (more && !next[0]) {
        r = grant_page(rc->st, k.arn, after[0] ? after : NULL, &page, &n);
        if (tr_failed(r)) goto fail;
        more = n == GRANT_PAGE;
        for (size_t i = 0; i < n && !next[0]; i++) {
            if (grant_id && strcmp(grant_id, page[i].to) != 0) continue;
            if (grantee) {
                json_t *doc = grant_doc(&page[i]);
                const char *g = json_string_value(json_object_get(doc, "grantee"));
                bool match = g && strcmp(g, grantee) == 0;
                json_decref(doc);
                if (!match) continue;
            }
            if (json_array_size(list) == limit) {
                /* One more match exists: the page ends at the last one shown. */
                json_t *last = json_array_get(list, limit - 1);
                r = str_copy(next, sizeof next, json_string_value(json_object_get(last, "GrantId")),
                             "the grant id");
                if (tr_failed(r)) goto fail;
                break;
            }
            json_t *e;
            r = grant_entry(&page[i], &e);
            if (tr_failed(r)) goto fail;
            r = kms_append(list, e);
            if (tr_failed(r)) goto fail;
        }
        if (n > 0) r = str_copy(after, sizeof after, page[n - 1].to, "the grant id");
        if (tr_failed(r)) goto fail;
        rel_list_free(page, n);
        page = NULL;
        n = 0;
    }
    r = kms_list_reply("Grants", list, next[0] ? next : NULL, out);
    list = NULL;
fail:
    json_decref(list);
    rel_list_free(page, n);
    key_rec_free(&k);
    return r;
}

/* The entry of the grant that retirable relation i names; none when the
 * grant was retired meanwhile. */
static TR_RESULT write_retirable(struct req_ctx *rc, json_t *list, void *arg, size_t i,
                                 const char **key)
{
    const struct rel_rec *rel = (const struct rel_rec *)arg + i;
    struct rel_rec g;
    json_t *e;
    memset(&g, 0, sizeof g);
    *key = rel->to;
    tr_result r = rc->st[0]->rel_get(rc->st, GRANT_REL, rel->doc, rel->to, &g);
    if (tr_failed(r)) return tr_code(r) == TR_E_STORE_NOT_FOUND ? TR_OK : r;
    r = grant_entry(&g, &e);
    rel_rec_free(&g);
    GUARD(r);
    return kms_append(list, e);
}

KMS_HANDLER(op_list_retirable_grants)
{
    const char *retiring;
    size_t limit, n = 0;
    bool has_marker;
    char after[GRANT_ID_HEX + 1], acct[ACCOUNT_ID_LEN + 1];
    struct rel_rec *rels = NULL;
    tr_result r = TR_OK;

    GUARD(kms_get_limit(in, 50, 100, &limit));
    GUARD(grant_marker(in, after, &has_marker));
    GUARD(principal_member(in, "RetiringPrincipal", true, &retiring));
    GUARD(kms_authorize_in(rc, rc->op->action, NULL, NULL));

    /* Only principals of the caller's account can be asked about (an
     * empty page for the others). */
    principal_account(retiring, acct);
    if (strcmp(acct, rc->who.account_id) == 0)
        r = rc->st[0]->rel_list_from(rc->st, RETIRABLE_REL, retiring, has_marker ? after : NULL,
                                     limit + 1, &rels, &n);
    if (tr_ok(r)) r = kms_page_write(rc, "Grants", limit, 0, n, write_retirable, rels, out);
    rel_list_free(rels, n);
    return r;
}

/* ---- RetireGrant, RevokeGrant ----------------------------------------------- */

/* The grant `grant_id` of key k: its relation into *rel. */
static TR_RESULT grant_get(struct req_ctx *rc, const struct key_rec *k, const char *grant_id,
                           struct rel_rec *rel)
{
    memset(rel, 0, sizeof *rel);
    tr_result r = rc->st[0]->rel_get(rc->st, GRANT_REL, k->arn, grant_id, rel);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND) return grant_not_found(grant_id);
    return r;
}

/* The key and grant a grant token names. */
static TR_RESULT grant_by_token(struct req_ctx *rc, const char *token, struct key_rec *k,
                                struct rel_rec *rel)
{
    char gid[GRANT_ID_HEX + 1];
    struct rel_rec *rels = NULL;
    size_t n = 0;
    json_t *doc = NULL;
    tr_result r;

    memset(k, 0, sizeof *k);
    memset(rel, 0, sizeof *rel);
    GUARD(token_grant_id(token, gid));
    r = rc->st[0]->rel_list_to(rc->st, GRANT_REL, gid, &rels, &n);
    if (tr_failed(r)) goto fail;
    if (n == 0) { r = grant_not_found(gid); goto fail; }
    doc = grant_doc(&rels[0]);
    const char *key_id = json_string_value(json_object_get(doc, "key_id"));
    r = key_id ? kms_key_lookup(rc->st, key_id, rc->region, k) : grant_not_found(gid);
    if (tr_failed(r) || strcmp(k->region, rc->region) != 0 || strcmp(k->arn, rels[0].from) != 0) {
        if (tr_ok(r) || tr_code(r) == TR_E_STORE_NOT_FOUND) r = grant_not_found(gid);
        key_rec_free(k);
        goto fail;
    }
    r = grant_get(rc, k, gid, rel);
    if (tr_failed(r)) key_rec_free(k);
fail:
    json_decref(doc);
    rel_list_free(rels, n);
    return r;
}

/* The grant a RetireGrant or RevokeGrant request names: its key, its
 * relation and the relation's parsed document. */
struct named_grant {
    struct key_rec k;
    struct rel_rec rel;
    json_t *doc;
};

static void named_grant_free(struct named_grant *g)
{
    json_decref(g->doc);
    rel_rec_free(&g->rel);
    key_rec_free(&g->k);
}

/* Delete the named grant -- or, for a dry run, only say it would have
 * succeeded (DryRunOperationException). */
static TR_RESULT grant_drop(struct req_ctx *rc, const struct named_grant *g, bool dry)
{
    if (dry) return kms_dry_run();
    return grant_delete(rc->st, g->k.arn, g->rel.to, g->doc);
}

/* RetireGrant's own rule (authz.c, kms_authorize_retire): how the grant
 * names the caller -- as its retiring principal, or as its grantee when
 * it includes RetireGrant -- and the account that issued it.  The
 * grant's constraint is the request's kms:EncryptionContext:<k> and
 * kms:GrantConstraintType (the Service Authorization Reference lists
 * both for RetireGrant). */
static TR_RESULT may_retire(struct req_ctx *rc, const struct key_rec *k, json_t *doc)
{
    enum kms_grant_match m =
        kms_grant_principal_match(json_string_value(json_object_get(doc, "retiring")),
                                  json_string_value(json_object_get(doc, "retiring_id")), &rc->who);
    if (json_list_has(json_object_get(doc, "operations"), "RetireGrant")) {
        enum kms_grant_match g =
            kms_grant_principal_match(json_string_value(json_object_get(doc, "grantee")),
                                      json_string_value(json_object_get(doc, "grantee_id")), &rc->who);
        if (g > m) m = g;
    }
    struct kms_authz_in az = { 0 };
    json_t *cons = json_object_get(doc, "constraints");
    const char *type = json_object_get(cons, EQUALS) ? EQUALS
                     : json_object_get(cons, SUBSET) ? SUBSET : NULL;
    if (type) {
        az.ctx = json_object_get(cons, type);
        az.constraint_type = type;
    }
    return kms_authorize_retire(rc, k, &az, m,
                                json_string_value(json_object_get(doc, "issuing_account")));
}

KMS_HANDLER(op_retire_grant)
{
    const char *token, *id, *grant_id;
    bool dry;
    struct named_grant g = { 0 };
    tr_result r;
    (void)out;

    GUARD(json_get_str(in, "GrantToken", false, 1, 8192, &token));
    GUARD(json_get_str(in, "KeyId", false, 1, KMS_ARN_MAX, &id));
    GUARD(json_get_str(in, "GrantId", false, 1, 128, &grant_id));
    GUARD(kms_get_flag(in, "DryRun", &dry));
    if (!token && !(id && grant_id))
        BAIL(TR_E_VALIDATION, "Either GrantToken, or both KeyId and GrantId, must be specified.");

    if (token) {
        r = grant_by_token(rc, token, &g.k, &g.rel);
    } else {
        r = kms_resolve(rc, id, KR_KEY_ONLY | KR_XACCT, &g.k);
        if (tr_ok(r)) r = check_grant_id(grant_id);
        if (tr_ok(r)) r = grant_get(rc, &g.k, grant_id, &g.rel);
    }
    if (tr_ok(r)) g.doc = grant_doc(&g.rel);
    if (tr_ok(r) && !g.doc) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    if (tr_ok(r)) r = may_retire(rc, &g.k, g.doc);
    if (tr_ok(r)) r = grant_drop(rc, &g, dry);
    named_grant_free(&g);
    return r;
}

KMS_HANDLER(op_revoke_grant)
{
    const char *id, *grant_id;
    bool dry;
    struct named_grant g = { 0 };
    (void)out;

    GUARD(json_get_str(in, "KeyId", true, 1, KMS_ARN_MAX, &id));
    GUARD(json_get_str(in, "GrantId", true, 1, 128, &grant_id));
    GUARD(kms_get_flag(in, "DryRun", &dry));
    GUARD(kms_resolve(rc, id, KR_KEY_ONLY | KR_XACCT, &g.k));
    struct kms_authz_in az = { .key_id_given = id };
    tr_result r = kms_authorize_in(rc, rc->op->action, &g.k, &az);
    if (tr_ok(r)) r = check_grant_id(grant_id);
    if (tr_ok(r)) r = grant_get(rc, &g.k, grant_id, &g.rel);
    /* A document that does not parse still revokes: only the retiring
     * principal's relation, which it would name, stays behind. */
    if (tr_ok(r)) g.doc = grant_doc(&g.rel);
    if (tr_ok(r)) r = grant_drop(rc, &g, dry);
    named_grant_free(&g);
    return r;
}
