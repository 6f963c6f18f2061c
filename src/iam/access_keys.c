/*
 * access_keys.c -- CreateAccessKey, ListAccessKeys, UpdateAccessKey,
 * DeleteAccessKey.
 *
 * Keys are the store's access-key records (IAM_STORE.md): for a user,
 * principal_type USER, principal_arn/id the user's ARN and id, doc
 * {"user_name": "<name>"}, expires 0.  The secret access key (40
 * characters of [A-Za-z0-9+/], as AWS's) is wrapped under the root key
 * with the label "access-key:<AKID>" before it reaches the store, is
 * returned once by CreateAccessKey, and is wiped right after the reply is
 * written.  Key ids are AKIA + 16 characters of [A-Z2-7].
 *
 * UserName is optional everywhere: it defaults to the calling user; for
 * the root user it means the root user's own keys (as on AWS); a role
 * session must name a user ("Must specify userName when calling with
 * non-User credentials").  A user has at most 2 keys (LimitExceeded
 * "Cannot exceed quota for AccessKeysPerUser: 2").  Temporary keys
 * (GetSessionToken, expires != 0) are not listed nor counted.
 *
 * GetAccessKeyLastUsed answers the key's owner (UserName; none for a root
 * user's key) and its last use (auth/key_last_used.c: the minute, the
 * service and the Region of the last request signed with it; "N/A" and no
 * date before the first), authorized on the owner as iam:GetAccessKeyLastUsed.
 * A temporary key, or one that does not exist, is NoSuchEntity.
 *
 * UpdateAccessKey takes Active or Inactive; "Expired" (in the model's
 * enum, not settable) is InvalidInput with our wording.
 *
 * An Inactive key stops authenticating at once (auth/creds.c checks
 * `active` on every request); after any change to a key the per-thread
 * signing-key caches are cleared (sigv4_cache_clear) so nothing derived
 * from a changed or deleted key is reused.
 */
#include "iam/iam_ops.h"

#include <stdio.h>
#include <string.h>

#include "auth/key_last_used.h"
#include "auth/sigv4.h"
#include "auth/sigv4_cache.h"
#include "core/buf.h"
#include "core/secmem.h"
#include "core/str.h"
#include "crypto/keyring.h"
#include "iam/accounts.h"
#include "iam/iam_util.h"

#define KEYS_PER_USER 2

void iam_owner_free(struct iam_owner *o)
{
    ent_rec_free(&o->user);
}

TR_RESULT iam_owner_load(struct req_ctx *rc, const struct form *in, size_t max_len,
                         const char *action, struct iam_owner *o)
{
    const char *name;
    tr_result r;
    memset(o, 0, sizeof *o);
    GUARD(iam_param_name(in, "UserName", false, max_len, &name));
    if (name) {
        GUARD(iam_load(rc, action, IAM_USER, name, NULL, &o->user));
    } else if (rc->who.type == PRINCIPAL_ROOT) {
        GUARD(iam_authz(rc, action, rc->who.arn, NULL, NULL));
        o->root = true;
        o->arn = rc->who.arn;
        return TR_OK;
    } else if (rc->who.type != PRINCIPAL_USER) {
        BAIL(TR_E_QUERY_VALIDATION, "Must specify userName when calling with non-User credentials");
    } else {
        r = rc->st[0]->ent_get_arn(rc->st, IAM_USER, rc->who.arn, &o->user);
        if (tr_ok(r)) r = iam_authz(rc, action, o->user.arn, &o->user, NULL);
        if (tr_failed(r)) {
            iam_owner_free(o);
            if (tr_code(r) == TR_E_STORE_NOT_FOUND) return iam_no_such(IAM_USER, iam_arn_name(rc->who.arn));
            return r;
        }
    }
    o->arn = o->user.arn;
    o->name = o->user.name;
    return TR_OK;
}

/* The owner's long-term keys, oldest first. */
static TR_RESULT owner_keys(struct req_ctx *rc, const struct iam_owner *o,
                            struct access_key_rec **out, size_t *n)
{
    GUARD(rc->st[0]->access_key_list(rc->st, o->arn, out, n));
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++) {
        if ((*out)[i].expires != 0) {
            access_key_rec_free(&(*out)[i]);
            continue;
        }
        if (kept != i) (*out)[kept] = (*out)[i];
        kept++;
    }
    *n = kept;
    return TR_OK;
}

/* Make, wrap and store a new key for o; the secret lands in secret[41]. */
static TR_RESULT new_key(struct req_ctx *rc, const struct iam_owner *o, char akid[21],
                         char secret[41])
{
    struct access_key_rec k = { 0 };
    char label[KEYRING_LABEL_MAX], doc[256];
    tr_result r;

    GUARD(access_key_generate("AKIA", akid, secret));
    GUARD(keyring_label_access_key(label, akid));
    snprintf(k.access_key_id, sizeof k.access_key_id, "%s", akid);     /* fits: as above */
    STR_COPY_ARRAY(k.account_id, rc->who.account_id);
    k.principal_type = o->root ? PRINCIPAL_ROOT : PRINCIPAL_USER;
    k.principal_arn = (char *)o->arn;
    k.principal_id = o->root ? rc->who.account_id : o->user.id;
    k.active = true;
    k.created = rc->now;
    if (!o->root) {
        json_t *d = json_pack("{s:s}", "user_name", o->name);
        char *s = d ? json_dumps(d, JSON_COMPACT) : NULL;
        json_decref(d);
        if (!s) {
            secure_zero(secret, 41);
            BAIL0(TR_E_INTERNAL);
        }
        r = str_copy(doc, sizeof doc, s, "the access key's document");
        free(s);
        if (tr_failed(r)) {
            secure_zero(secret, 41);
            return r;
        }
        k.doc = doc;
    }
    k.wrapped_secret = BUF_INIT(512);
    r = keyring_wrap(rc->kr, label, (const uint8_t *)secret, 40, &k.wrapped_secret);
    if (tr_ok(r)) r = rc->st[0]->access_key_put(rc->st, &k);
    buf_free(&k.wrapped_secret);
    if (tr_failed(r)) secure_zero(secret, 41);
    return r;
}

TR_RESULT iam_create_access_key(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    struct iam_owner o;
    struct access_key_rec *keys = NULL;
    size_t n = 0;
    char akid[21], secret[41];
    tr_result r;

    GUARD(iam_owner_load(rc, in, 128, rc->op->action, &o));
    r = owner_keys(rc, &o, &keys, &n);
    access_key_list_free(keys, n);
    if (tr_ok(r) && n >= KEYS_PER_USER)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_IAM_LIMIT_EXCEEDED,
                       "Cannot exceed quota for AccessKeysPerUser: %d", KEYS_PER_USER);
    if (tr_ok(r)) r = new_key(rc, &o, akid, secret);
    if (tr_ok(r)) {
        xml_open(out, "AccessKey");
        if (o.name) xml_text(out, "UserName", o.name);
        xml_text(out, "AccessKeyId", akid);
        xml_text(out, "Status", "Active");
        xml_text(out, "SecretAccessKey", secret);
        xml_time(out, "CreateDate", rc->now);
        xml_close(out, "AccessKey");
        secure_zero(secret, sizeof secret);
    }
    iam_owner_free(&o);
    return r;
}

/* The keys of a listing and their owner's name (NULL: the root user). */
struct key_list { const struct access_key_rec *keys; const char *user_name; };

static TR_RESULT write_key(struct req_ctx *rc, struct xml *x, void *arg, size_t i,
                           const char **key)
{
    const struct key_list *l = arg;
    const struct access_key_rec *k = &l->keys[i];
    (void)rc;
    xml_open(x, "member");
    if (l->user_name) xml_text(x, "UserName", l->user_name);
    xml_text(x, "AccessKeyId", k->access_key_id);
    xml_text(x, "Status", k->active ? "Active" : "Inactive");
    xml_time(x, "CreateDate", k->created);
    xml_close(x, "member");
    *key = k->access_key_id;
    return TR_OK;
}

TR_RESULT iam_list_access_keys(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    struct iam_page pg;
    struct iam_owner o;
    struct access_key_rec *keys = NULL;
    size_t n = 0, first = 0;

    GUARD(iam_page_params(in, &pg));
    GUARD(iam_owner_load(rc, in, 128, rc->op->action, &o));
    tr_result r = owner_keys(rc, &o, &keys, &n);
    if (pg.marker)
        while (first < n && strcmp(keys[first].access_key_id, pg.marker) != 0) first++;
    if (pg.marker && first < n) first++;       /* resume after the marker's key */
    struct key_list l = { keys, o.name };
    if (tr_ok(r)) r = iam_page_write(rc, out, "AccessKeyMetadata", &pg, first, n, write_key, &l);
    access_key_list_free(keys, n);
    iam_owner_free(&o);
    return r;
}

/* The owner's long-term key `akid`, or NoSuchEntity. */
static TR_RESULT owned_key(struct req_ctx *rc, const struct iam_owner *o, const char *akid,
                           struct access_key_rec *k)
{
    tr_result r = rc->st[0]->access_key_get(rc->st, akid, k);
    if (tr_ok(r) && (k->expires != 0 || !k->principal_arn || strcmp(k->principal_arn, o->arn) != 0))
        r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_NOT_FOUND, NULL);
    if (tr_failed(r)) {
        access_key_rec_free(k);
        if (tr_code(r) == TR_E_STORE_NOT_FOUND)
            BAIL(TR_E_IAM_NO_SUCH_ENTITY, "The Access Key with id %s cannot be found.", akid);
    }
    return r;
}

static TR_RESULT param_key_id(const struct form *in, const char **akid)
{
    GUARD(form_str(in, "AccessKeyId", true, 16, 128, akid));
    for (const char *p = *akid; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return iam_invalid("AccessKeyId", *akid,
                               "Member must satisfy regular expression pattern: [\\w]+");
    return TR_OK;
}

TR_RESULT iam_update_access_key(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *akid, *status;
    struct iam_owner o;
    struct access_key_rec k = { 0 };
    (void)out;

    GUARD(param_key_id(in, &akid));
    GUARD(form_str(in, "Status", true, 0, 16, &status));
    bool active = strcmp(status, "Active") == 0;
    if (strcmp(status, "Expired") == 0)
        BAIL(TR_E_IAM_INVALID_INPUT, "An access key cannot be set to Expired.");
    if (!active && strcmp(status, "Inactive") != 0)
        return iam_invalid("Status", status,
                           "Member must satisfy enum value set: [Active, Inactive, Expired]");
    GUARD(iam_owner_load(rc, in, 128, rc->op->action, &o));
    tr_result r = owned_key(rc, &o, akid, &k);
    if (tr_ok(r)) {
        k.active = active;
        r = rc->st[0]->access_key_update(rc->st, &k);
    }
    if (tr_ok(r)) sigv4_cache_clear();
    access_key_rec_free(&k);
    iam_owner_free(&o);
    return r;
}

TR_RESULT iam_delete_access_key(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *akid;
    struct iam_owner o;
    struct access_key_rec k = { 0 };
    (void)out;

    GUARD(param_key_id(in, &akid));
    GUARD(iam_owner_load(rc, in, 128, rc->op->action, &o));
    tr_result r = owned_key(rc, &o, akid, &k);
    if (tr_ok(r)) r = rc->st[0]->access_key_delete(rc->st, akid);
    if (tr_ok(r)) r = key_used_forget(rc->st, akid);
    if (tr_ok(r)) sigv4_cache_clear();
    access_key_rec_free(&k);
    iam_owner_free(&o);
    return r;
}

TR_RESULT iam_get_access_key_last_used(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    const char *akid;
    struct access_key_rec k = { 0 };
    struct ent_rec user;
    struct key_used u;
    bool is_user = false;

    memset(&user, 0, sizeof user);
    GUARD(param_key_id(in, &akid));
    tr_result r = rc->st[0]->access_key_get(rc->st, akid, &k);
    if (tr_ok(r) && (k.expires != 0 || !k.principal_arn ||
                     (k.principal_type != PRINCIPAL_USER && k.principal_type != PRINCIPAL_ROOT)))
        r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_NOT_FOUND, NULL);
    if (tr_ok(r) && k.principal_type == PRINCIPAL_USER) {
        r = rc->st[0]->ent_get_arn(rc->st, IAM_USER, k.principal_arn, &user);
        is_user = tr_ok(r);
    }
    if (tr_failed(r)) {
        access_key_rec_free(&k);
        ent_rec_free(&user);
        if (tr_code(r) == TR_E_STORE_NOT_FOUND)
            BAIL(TR_E_IAM_NO_SUCH_ENTITY, "The Access Key with id %s cannot be found.", akid);
        return r;
    }
    r = iam_authz(rc, rc->op->action, k.principal_arn, is_user ? &user : NULL, NULL);
    if (tr_ok(r)) r = key_used_get(rc->st, akid, &u);
    if (tr_ok(r)) {
        if (is_user) xml_text(out, "UserName", user.name);
        xml_open(out, "AccessKeyLastUsed");
        if (u.ts) xml_time(out, "LastUsedDate", u.ts);
        xml_text(out, "ServiceName", u.ts ? u.service : "N/A");
        xml_text(out, "Region", u.ts ? u.region : "N/A");
        xml_close(out, "AccessKeyLastUsed");
    }
    access_key_rec_free(&k);
    ent_rec_free(&user);
    return r;
}
