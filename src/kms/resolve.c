/*
 * resolve.c -- a KeyId as the caller wrote it -> the key record, and the
 * key-state rules every operation applies.
 *
 * KMS accepts four spellings of a key (API reference, "KeyId"):
 *   1234abcd-12ab-34cd-56ef-1234567890ab                  key id
 *   arn:aws:kms:us-east-2:111122223333:key/1234abcd-...   key ARN
 *   alias/ExampleAlias                                    alias name
 *   arn:aws:kms:us-east-2:111122223333:alias/ExampleAlias alias ARN
 * Bare ids and alias names are looked up in the caller's account and the
 * region of the request's signature: an alias name always means the
 * caller's own alias.  ARNs may name another account only for the
 * operations AWS allows across accounts (docs/AUTHORIZATION.md 4.4; KMS
 * key-policy-modifying-external-accounts): KR_XACCT is passed by the
 * cryptographic operations (Encrypt, Decrypt, ReEncrypt, GenerateDataKey*),
 * DescribeKey, GetKeyRotationStatus, CreateGrant, ListGrants, RetireGrant
 * and RevokeGrant, and by no one else; elsewhere a foreign ARN is simply
 * "not found" (the key is not in the caller's account), as is a key of
 * another region.  A foreign alias ARN is honoured where aliases are
 * (the cryptographic operations and DescribeKey: the model's KeyId
 * documentation, "To specify a KMS key in a different Amazon Web Services
 * account, you must use the key ARN or alias ARN").
 *
 * Errors (docs/WIRE.md 5.2), all NotFoundException:
 *   malformed id        Invalid keyId '<id>'
 *   unknown key         Key 'arn:aws:kms:R:A:key/<id>' does not exist
 *   unknown alias       Alias arn:aws:kms:R:A:alias/<name> is not found.
 *   ARN of other region Invalid arn <region>      (LocalStack's wording)
 * The key-state messages (DisabledException "<arn> is disabled.",
 * KMSInvalidStateException "<arn> is pending deletion.") live here too.
 */
#include "kms/kms.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "core/str.h"

static bool all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i])) return false;
    return true;
}

bool kms_is_key_id(const char *s)
{
    size_t n = strlen(s);
    /* "mrk-" and 32 hex digits is 36 characters too: test it first. */
    if (n == 4 + 32 && strncmp(s, "mrk-", 4) == 0) return all_hex(s + 4, 32);
    if (n == 36) {
        for (size_t i = 0; i < 36; i++) {
            bool dash = i == 8 || i == 13 || i == 18 || i == 23;
            if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i])) return false;
        }
        return true;
    }
    return false;
}

bool kms_action_cross_account(const char *action)
{
    static const char *const XACCT[] = {
        "kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey", "kms:GetKeyRotationStatus",
        "kms:CreateGrant", "kms:ListGrants", "kms:RetireGrant", "kms:RevokeGrant",
    };
    for (size_t i = 0; action && i < sizeof XACCT / sizeof XACCT[0]; i++)
        if (strcasecmp(action, XACCT[i]) == 0) return true;
    return false;
}

TR_RESULT kms_arn(char *out, size_t n, const char *region, const char *account,
                  const char *resource)
{
    return str_format(out, n, "the key ARN", "arn:aws:kms:%s:%s:%s", region, account, resource);
}

/* An ARN split into its parts; pointers into `buf`. */
struct kms_arn_parts {
    char buf[KMS_ARN_MAX + 1];
    const char *region, *account, *resource;
};

static bool arn_split(const char *s, struct kms_arn_parts *p)
{
    if (strlen(s) > KMS_ARN_MAX) return false;
    snprintf(p->buf, sizeof p->buf, "%s", s);     /* fits: checked above */
    char *f[6];
    char *c = p->buf;
    for (int i = 0; i < 5; i++) {
        f[i] = c;
        c = strchr(c, ':');
        if (!c) return false;
        *c++ = '\0';
    }
    f[5] = c;
    if (strcmp(f[0], "arn") != 0 || !f[1][0] || strcmp(f[2], "kms") != 0) return false;
    if (!f[3][0] || strlen(f[4]) != ACCOUNT_ID_LEN) return false;
    for (const char *d = f[4]; *d; d++)
        if (!isdigit((unsigned char)*d)) return false;
    p->region = f[3];
    p->account = f[4];
    p->resource = f[5];
    return true;
}

static tr_result key_not_found(const char *region, const char *account, const char *key_id)
{
    return tr_fail_at(__FILE__, __LINE__, TR_E_KMS_NOT_FOUND,
                      "Key 'arn:aws:kms:%s:%s:key/%s' does not exist", region, account, key_id);
}

TR_RESULT kms_key_lookup(store_t st, const char *key_id, const char *region, struct key_rec *out)
{
    return kms_cached_key_get(st, key_id, region, out);
}

/* The key `key_id` of (account, region), or NotFoundException. */
static TR_RESULT get_key_in(struct req_ctx *rc, const char *region, const char *account,
                            const char *key_id, struct key_rec *out)
{
    if (!kms_is_key_id(key_id))
        BAIL(TR_E_KMS_NOT_FOUND, "Invalid keyId '%s'", key_id);
    tr_result r = kms_key_lookup(rc->st, key_id, region, out);
    if (tr_failed(r)) {
        key_rec_free(out);
        if (tr_code(r) == TR_E_STORE_NOT_FOUND) return key_not_found(region, account, key_id);
        return r;
    }
    if (strcmp(out->account_id, account) != 0 || strcmp(out->region, region) != 0) {
        key_rec_free(out);
        return key_not_found(region, account, key_id);
    }
    return TR_OK;
}

static TR_RESULT get_alias_in(struct req_ctx *rc, const char *region, const char *account,
                              const char *name, struct key_rec *out)
{
    struct alias_rec a;
    memset(&a, 0, sizeof a);
    tr_result r = kms_cached_alias_get(rc->st, account, region, name, &a);
    if (tr_failed(r)) {
        if (tr_code(r) == TR_E_STORE_NOT_FOUND)
            BAIL(TR_E_KMS_NOT_FOUND, "Alias arn:aws:kms:%s:%s:%s is not found.",
                 region, account, name);
        return r;
    }
    return get_key_in(rc, region, account, a.target_key_id, out);
}

TR_RESULT kms_resolve(struct req_ctx *rc, const char *id, unsigned flags,
                      struct key_rec *out)
{
    memset(out, 0, sizeof *out);
    ENSURE_REF(id);
    const char *account = rc->who.account_id;

    if (strncmp(id, "arn:", 4) == 0) {
        struct kms_arn_parts p;
        if (!arn_split(id, &p)) BAIL(TR_E_KMS_NOT_FOUND, "Invalid keyId '%s'", id);
        bool is_key = strncmp(p.resource, "key/", 4) == 0;
        bool is_alias = strncmp(p.resource, "alias/", 6) == 0;
        if (!is_key && !(is_alias && (flags & KR_ALIAS)))
            BAIL(TR_E_KMS_NOT_FOUND, "Invalid keyId '%s'", id);
        if (strcmp(p.region, rc->region) != 0)
            BAIL(TR_E_KMS_NOT_FOUND, "Invalid arn %s", p.region);
        bool foreign = strcmp(p.account, account) != 0;
        if (is_key) {
            if (foreign && !(flags & KR_XACCT)) {
                if (!kms_is_key_id(p.resource + 4))
                    BAIL(TR_E_KMS_NOT_FOUND, "Invalid keyId '%s'", p.resource + 4);
                return key_not_found(p.region, p.account, p.resource + 4);
            }
            return get_key_in(rc, p.region, p.account, p.resource + 4, out);
        }
        if (foreign && !(flags & KR_XACCT))
            BAIL(TR_E_KMS_NOT_FOUND, "Alias %s is not found.", id);
        return get_alias_in(rc, p.region, p.account, p.resource, out);
    }
    if (strncmp(id, "alias/", 6) == 0) {
        if (!(flags & KR_ALIAS)) BAIL(TR_E_KMS_NOT_FOUND, "Invalid keyId '%s'", id);
        return get_alias_in(rc, rc->region, account, id, out);
    }
    return get_key_in(rc, rc->region, account, id, out);
}

TR_RESULT kms_key_for(struct req_ctx *rc, json_t *in, unsigned flags, const char *action,
                      enum kms_state_rule rule, const struct kms_authz_in *az, struct key_rec *k)
{
    const char *id;
    memset(k, 0, sizeof *k);
    GUARD(json_get_str(in, "KeyId", true, 1, KMS_ARN_MAX, &id));
    GUARD(kms_resolve(rc, id, flags, k));
    struct kms_authz_in a = az ? *az : (struct kms_authz_in){ 0 };
    a.key_id_given = id;
    tr_result r = kms_authorize_in(rc, action, k, &a);
    if (tr_ok(r)) r = kms_check_state(k, rule);
    if (tr_failed(r)) key_rec_free(k);
    return r;
}

/* InvalidState for a key pending deletion, as a primary or as a replica;
 * KS_USABLE, KS_NOT_PENDING and KS_TOGGLE all refuse both. */
static TR_RESULT check_not_pending(const struct key_rec *k, bool pending, bool replica_pending)
{
    if (pending) BAIL(TR_E_KMS_INVALID_STATE, "%s is pending deletion.", k->arn);
    if (replica_pending) BAIL(TR_E_KMS_INVALID_STATE, "%s is pending replica deletion.", k->arn);
    return TR_OK;
}

TR_RESULT kms_check_state(const struct key_rec *k, enum kms_state_rule rule)
{
    bool disabled = strcmp(k->key_state, KEY_STATE_DISABLED) == 0;
    bool pending = strcmp(k->key_state, KEY_STATE_PENDING_DELETION) == 0;
    bool replica_pending = strcmp(k->key_state, KEY_STATE_PENDING_REPLICA_DELETION) == 0;
    bool no_material = strcmp(k->key_state, KEY_STATE_PENDING_IMPORT) == 0;
    switch (rule) {
    case KS_ANY:
        return TR_OK;
    case KS_USABLE:
        if (disabled) BAIL(TR_E_KMS_DISABLED, "%s is disabled.", k->arn);
        GUARD(check_not_pending(k, pending, replica_pending));
        if (no_material) BAIL(TR_E_KMS_INVALID_STATE, "%s is pending import.", k->arn);
        return TR_OK;
    case KS_NOT_PENDING:
        return check_not_pending(k, pending, replica_pending);
    case KS_TOGGLE:
        GUARD(check_not_pending(k, pending, replica_pending));
        if (no_material) BAIL(TR_E_KMS_INVALID_STATE, "%s is pending import.", k->arn);
        return TR_OK;
    case KS_PENDING:
        if (!pending && !replica_pending)
            BAIL(TR_E_KMS_INVALID_STATE, "%s is not pending deletion.", k->arn);
        return TR_OK;
    }
    BAIL0(TR_E_INTERNAL);
}
