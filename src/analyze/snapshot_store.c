/*
 * snapshot_store.c -- load snapshots (analyze/snapshot.h) into a store,
 * so the unchanged analysis answers from them (docs/SNAPSHOTS.md,
 * "Answering from a snapshot").
 *
 * The store is an in-memory one (store_sqlite_open_memory): a snapshot
 * holds no secret value and no key material, only names, ids, policies
 * and metadata, and nothing of it reaches the disk.  Each AWS response
 * becomes the record the server itself keeps for the same thing:
 *
 *   GetAccountAuthorizationDetails  users, groups, roles, managed policies
 *                                   (entities, their documents and the
 *                                   "version" and "boundary" relations by
 *                                   IAM's own record writers, iam/records.h),
 *                                   "member", "attached", "inline"
 *                                   relations, IAM tags
 *   DescribeKey + GetKeyPolicy      a key record (no material)
 *   ListGrants                      "grant" and "retirable" relations
 *   ListAliases, ListResourceTags   aliases, key tags
 *   ListSecrets + GetResourcePolicy secret entities written by the secrets
 *                                   service's own sm_save, secret tags
 *
 * and then the principals named by role trust policies, key policies,
 * secret resource policies and grants are bound to the unique ids the
 * snapshot's users and roles have, by the server's own binder
 * (iam_bind_stored) -- as AWS binds them when a policy is saved.
 *
 * What a snapshot lacks stays missing: a key whose policy could not be
 * read gets a policy that allows nothing (the answer then reports the
 * gap: snapshot_gaps_for), never one that allows something.  AWS managed
 * policies (arn:aws:iam::aws:policy/...) are kept under the pseudo
 * account "aws" so attachments to them resolve.
 */
#include "analyze/snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/date.h"
#include "core/str.h"
#include "crypto/hash.h"
#include "core/hex.h"
#include "iam/bindings.h"
#include "iam/iam_util.h"
#include "iam/records.h"
#include "secrets/secrets.h"

/* The stand-in for a key policy a snapshot lacks: one that compiles and
 * allows nothing (its one statement's condition never holds: every
 * request has aws:PrincipalArn), its Sid saying why, so every decision on
 * the key is an implicit deny -- never an allow the real policy might not
 * give, never an explicit deny it might not hold.  %s: the account. */
#define GAP_POLICY                                                                                   \
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"TresorSnapshotGapKeyPolicyNotRead\","      \
    "\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::%s:root\"},\"Action\":\"kms:DescribeKey\"," \
    "\"Resource\":\"*\",\"Condition\":{\"Null\":{\"aws:PrincipalArn\":\"true\"}}}]}"

static const char *jstr(const json_t *o, const char *m)
{
    return json_string_value(json_object_get(o, m));
}

/* An AWS timestamp (ISO 8601 text as the AWS CLI prints it, or epoch
 * seconds as the raw JSON protocols send it) in epoch seconds; 0 when
 * absent or unreadable. */
static int64_t when(const json_t *o, const char *m)
{
    json_t *v = json_object_get(o, m);
    if (json_is_number(v)) return (int64_t)json_number_value(v);
    const char *s = json_string_value(v);
    int y, mo, d, h = 0, mi = 0, se = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &se) < 3) return 0;
    if (!date_valid(y, mo, d)) return 0;
    return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
}

/* A policy document as the server stores it: JSON text.  AWS sends IAM
 * documents URL-encoded on the Query protocol; the AWS CLI prints them
 * decoded, as objects; key and resource policies are JSON strings.
 * *out malloc'd. */
static TR_RESULT doc_text(const json_t *v, char **out)
{
    *out = NULL;
    if (json_is_object(v)) {
        *out = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
        ENSURE(*out != NULL, TR_E_INTERNAL);
        return TR_OK;
    }
    const char *s = json_string_value(v);
    if (!(s != NULL)) BAIL(TR_E_VALIDATION, "a policy document must be an object or its JSON text");
    size_t n = strlen(s);
    char *t = malloc(n + 1);
    ENSURE(t != NULL, TR_E_INTERNAL);
    if (s[0] != '%') {
        memcpy(t, s, n + 1);
        *out = t;
        return TR_OK;
    }
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b;
        if (s[i] == '%' && i + 2 < n + 1 && hex_decode(s + i + 1, 2, &b)) {
            t[j++] = (char)b;
            i += 2;
        } else {
            t[j++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    t[j] = '\0';
    *out = t;
    return TR_OK;
}

/* An entity of `kind` from its AWS description. */
static TR_RESULT put_ent(store_t st, const char *kind, const char *account, const char *name,
                         const char *id, const char *arn, const char *path, const char *doc,
                         int64_t created)
{
    struct ent_rec e = { .name = (char *)name, .id = (char *)id, .arn = (char *)arn,
                         .path = (char *)(path ? path : "/"), .doc = (char *)doc,
                         .created = created };
    GUARD(str_copy(e.kind, sizeof e.kind, kind, "the entity kind"));
    GUARD(str_copy(e.account_id, sizeof e.account_id, account, "the account id"));
    tr_result r = st[0]->ent_put(st, &e);
    /* The same managed policy in two accounts' snapshots (an AWS managed
     * one): kept once. */
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_EXISTS) return TR_OK;
    return r;
}

static TR_RESULT put_rel(store_t st, const char *kind, const char *from, const char *to,
                         const char *doc)
{
    struct rel_rec r = { .from = (char *)from, .to = (char *)to, .doc = (char *)(doc ? doc : "") };
    GUARD(str_copy(r.kind, sizeof r.kind, kind, "the relation kind"));
    return st[0]->rel_put(st, &r);
}

/* IAM tags ([{Key, Value}]) of the entity arn. */
static TR_RESULT put_tags(store_t st, const char *arn, const json_t *tags, const char *k,
                          const char *v)
{
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t) {
        const char *key = jstr(t, k), *val = jstr(t, v);
        if (key) GUARD(st[0]->tag_set(st, arn, key, val ? val : ""));
    }
    return TR_OK;
}

/* An entity's inline policies (list member lm, each {name_m, PolicyDocument}),
 * attached managed policies and permissions boundary. */
static TR_RESULT put_policies(store_t st, const char *arn, const json_t *o, const char *lm,
                              const char *name_m)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(o, lm), i, p) {
        const char *name = jstr(p, name_m);
        if (!name) continue;
        char *text = NULL;
        GUARD(doc_text(json_object_get(p, "PolicyDocument"), &text));
        tr_result r = put_rel(st, "inline", arn, name, text);
        free(text);
        GUARD(r);
    }
    json_array_foreach(json_object_get(o, "AttachedManagedPolicies"), i, p) {
        const char *pa = jstr(p, "PolicyArn");
        if (pa) GUARD(put_rel(st, "attached", arn, pa, ""));
    }
    const char *b = jstr(json_object_get(o, "PermissionsBoundary"), "PermissionsBoundaryArn");
    if (b) GUARD(iam_rec_put_boundary(st, b, arn, 0));
    return TR_OK;
}

/* The doc of a user or role, by IAM's own record writers (iam/records.h):
 * its boundary, and a role's trust policy (bound later, with the other
 * policies: snapshot_store_load), description and session limit. */
static TR_RESULT ent_doc(const json_t *o, bool role, char **out)
{
    const char *b = jstr(json_object_get(o, "PermissionsBoundary"), "PermissionsBoundaryArn");
    *out = NULL;
    if (!role) return iam_rec_user_doc(b, out);
    char *trust = NULL;
    GUARD(doc_text(json_object_get(o, "AssumeRolePolicyDocument"), &trust));
    json_t *ms = json_object_get(o, "MaxSessionDuration");
    tr_result r = iam_rec_role_doc(trust, NULL, jstr(o, "Description"),
                                   json_is_integer(ms) ? json_integer_value(ms) : 3600, b, out);
    free(trust);
    return r;
}

/* The account of an IAM ARN ("aws" for AWS managed policies), into acct. */
static TR_RESULT arn_account(const char *arn, char acct[ACCOUNT_ID_LEN + 1])
{
    /* arn:aws:iam::ACCOUNT:... */
    const char *p = arn;
    for (int colons = 0; colons < 4; colons++) {
        p = strchr(p, ':');
        if (!(p != NULL)) BAIL(TR_E_VALIDATION, "%.200s is not an IAM ARN", arn);
        p++;
    }
    const char *e = strchr(p, ':');
    if (!(e != NULL && e > p && (size_t)(e - p) <= ACCOUNT_ID_LEN)) BAIL(TR_E_VALIDATION,
           "%.200s is not an IAM ARN", arn);
    memcpy(acct, p, (size_t)(e - p));
    acct[e - p] = '\0';
    return TR_OK;
}

/* Where a user and a role of GetAccountAuthorizationDetails differ: the
 * entity kind, the names of their name, id and inline policy list members,
 * and whether a trust policy comes with it (a role). */
struct principal_keys {
    const char *kind, *name, *id, *policies;
    bool role;
};
static const struct principal_keys user_keys = { "user", "UserName", "UserId", "UserPolicyList", false };
static const struct principal_keys role_keys = { "role", "RoleName", "RoleId", "RolePolicyList", true };

/* A user or role (o, as GetAccountAuthorizationDetails lists it) into the
 * store: the entity with its document, its inline policies and its tags. */
static TR_RESULT put_principal(store_t st, const char *account, const json_t *o, const struct principal_keys *k)
{
    char *doc = NULL;
    const char *arn = jstr(o, "Arn");
    tr_result r = ent_doc(o, k->role, &doc);
    if (tr_ok(r)) r = put_ent(st, k->kind, account, jstr(o, k->name), jstr(o, k->id), arn, jstr(o, "Path"), doc,
                              when(o, "CreateDate"));
    free(doc);
    if (tr_ok(r)) r = put_policies(st, arn, o, k->policies, "PolicyName");
    if (tr_ok(r)) r = put_tags(st, arn, json_object_get(o, "Tags"), "Key", "Value");
    return r;
}

static TR_RESULT load_iam(store_t st, const struct snapshot *s)
{
    tr_result r = TR_OK;
    for (size_t i = 0; tr_ok(r) && i < s->nusers; i++)
        r = put_principal(st, s->account, s->users[i], &user_keys);
    for (size_t i = 0; tr_ok(r) && i < s->ngroups; i++) {
        const json_t *g = s->groups[i];
        const char *arn = jstr(g, "Arn");
        r = put_ent(st, "group", s->account, jstr(g, "GroupName"), jstr(g, "GroupId"), arn,
                    jstr(g, "Path"), "{}", when(g, "CreateDate"));
        if (tr_ok(r)) r = put_policies(st, arn, g, "GroupPolicyList", "PolicyName");
    }
    /* Group membership: each user's GroupList names its groups. */
    for (size_t i = 0; tr_ok(r) && i < s->nusers; i++) {
        size_t j;
        json_t *gn;
        json_array_foreach(json_object_get(s->users[i], "GroupList"), j, gn) {
            const char *name = json_string_value(gn);
            for (size_t k = 0; tr_ok(r) && name && k < s->ngroups; k++)
                if (strcmp(jstr(s->groups[k], "GroupName"), name) == 0)
                    r = put_rel(st, "member", jstr(s->groups[k], "Arn"), jstr(s->users[i], "Arn"), "");
        }
    }
    for (size_t i = 0; tr_ok(r) && i < s->nroles; i++)
        r = put_principal(st, s->account, s->roles[i], &role_keys);
    for (size_t i = 0; tr_ok(r) && i < s->npolicies; i++) {
        const json_t *p = s->policies[i];
        const char *arn = jstr(p, "Arn"), *dv = jstr(p, "DefaultVersionId");
        char acct[ACCOUNT_ID_LEN + 1];
        char *dt = NULL;
        r = iam_rec_policy_doc(dv, jstr(p, "Description"), 2, 0, &dt);
        if (tr_ok(r)) r = arn_account(arn, acct);
        if (tr_ok(r)) r = put_ent(st, "policy", acct, jstr(p, "PolicyName"),
                                  jstr(p, "PolicyId") ? jstr(p, "PolicyId") : arn, arn, jstr(p, "Path"),
                                  dt, when(p, "CreateDate"));
        free(dt);
        size_t j;
        json_t *v;
        json_array_foreach(json_object_get(p, "PolicyVersionList"), j, v) {
            const char *vid = jstr(v, "VersionId");
            if (tr_failed(r) || !vid) continue;
            char *text = NULL;
            r = doc_text(json_object_get(v, "Document"), &text);
            if (tr_ok(r)) r = iam_rec_put_version(st, arn, vid, text, 0);
            free(text);
        }
    }
    return r;
}

/* Copy src (may be NULL: dflt) into a fixed field. */
static TR_RESULT field(char *dst, size_t cap, const char *src, const char *dflt)
{
    return str_copy(dst, cap, src ? src : dflt, "a key field");
}

static TR_RESULT load_key(store_t st, const struct snapshot *s, const struct snap_key *k)
{
    const json_t *m = k->metadata;
    if (!m) return TR_OK;       /* no DescribeKey: a gap, and no key */
    struct key_rec r = { 0 };
    GUARD(field(r.key_id, sizeof r.key_id, k->key_id, ""));
    GUARD(field(r.account_id, sizeof r.account_id, s->account, ""));
    GUARD(field(r.region, sizeof r.region, k->region, ""));
    r.arn = (char *)jstr(m, "Arn");
    if (!(r.arn != NULL)) BAIL(TR_E_VALIDATION, "%.200s: key %.40s: DescribeKey has no Arn", s->name, k->key_id);
    const char *desc = jstr(m, "Description");
    r.description = (char *)(desc ? desc : "");
    char gap[sizeof GAP_POLICY + ACCOUNT_ID_LEN];
    /* fits: the format with a 12-digit account */
    snprintf(gap, sizeof gap, GAP_POLICY, s->account);
    r.policy = (char *)(k->policy ? k->policy : gap);
    GUARD(field(r.key_state, sizeof r.key_state, jstr(m, "KeyState"), KEY_STATE_ENABLED));
    GUARD(field(r.key_usage, sizeof r.key_usage, jstr(m, "KeyUsage"), "ENCRYPT_DECRYPT"));
    const char *spec = jstr(m, "KeySpec");
    GUARD(field(r.key_spec, sizeof r.key_spec, spec ? spec : jstr(m, "CustomerMasterKeySpec"),
                "SYMMETRIC_DEFAULT"));
    GUARD(field(r.origin, sizeof r.origin, jstr(m, "Origin"), "AWS_KMS"));
    GUARD(field(r.key_manager, sizeof r.key_manager, jstr(m, "KeyManager"), "CUSTOMER"));
    r.created = when(m, "CreationDate");
    r.deletion_date = when(m, "DeletionDate");
    json_t *w = json_object_get(m, "PendingDeletionWindowInDays");
    r.pending_window_days = json_is_integer(w) ? (int)json_integer_value(w) : 0;
    r.rotation_period_days = 365;
    r.current_material = 1;
    GUARD(st[0]->key_put(st, &r));
    for (size_t i = 0; i < k->ntags; i++) {
        const char *tk = jstr(k->tags[i], "TagKey"), *tv = jstr(k->tags[i], "TagValue");
        if (tk) GUARD(st[0]->tag_set(st, r.arn, tk, tv ? tv : ""));
    }
    for (size_t i = 0; i < k->ngrants; i++) GUARD(snapshot_grant_put(st, r.arn, r.key_id, k->grants[i]));
    return TR_OK;
}

TR_RESULT snapshot_grant_put(store_t st, const char *key_arn, const char *key_id, const json_t *g)
{
    const char *id = jstr(g, "GrantId"), *grantee = jstr(g, "GranteePrincipal");
    const char *retiring = jstr(g, "RetiringPrincipal"), *issuing = jstr(g, "IssuingAccount");
    char acct[ACCOUNT_ID_LEN + 1] = "";
    json_t *doc = NULL, *cons = json_object_get(g, "Constraints");
    char *text = NULL;
    tr_result r = TR_OK;
    if (!id || !grantee) return TR_OK;      /* not a grant the analysis can use */
    /* IssuingAccount is "arn:aws:iam::111122223333:root". */
    if (issuing && tr_failed(arn_account(issuing, acct))) acct[0] = '\0';
    json_t *ops = json_object_get(g, "Operations"), *none = json_array();
    doc = none ? json_pack("{s:s, s:s?, s:s, s:s?, s:O, s:n, s:s, s:I}", "key_id", key_id, "name",
                    jstr(g, "Name"), "grantee", grantee, "retiring", retiring, "operations",
                    json_is_array(ops) ? ops : none,
                    "constraints", "issuing_account", acct, "creation_date",
                    (json_int_t)when(g, "CreationDate")) : NULL;
    json_decref(none);
    if (!doc) return tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    const char *ck;
    json_t *cv;
    json_object_foreach(cons, ck, cv) {
        /* The server keeps one constraint: {"EncryptionContextSubset": {...}}. */
        if (json_object_size(cv) == 0) continue;
        if (json_object_set_new(doc, "constraints", json_pack("{s:O}", ck, cv)) != 0)
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        break;
    }
    if (tr_ok(r)) {
        text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    if (tr_ok(r)) r = put_rel(st, "grant", key_arn, id, text);
    if (tr_ok(r) && retiring) r = put_rel(st, "retirable", retiring, id, key_arn);
    free(text);
    json_decref(doc);
    return r;
}

/* The ARN of the key a secret's KmsKeyId names (NULL: aws/secretsmanager),
 * as Secrets Manager resolves it in the secret's account and region: a
 * key id, key ARN, alias name or alias ARN.  *out malloc'd; NULL when the
 * snapshots hold no such key (the answer then says the key is missing). */
static TR_RESULT key_arn_of(store_t st, const struct snapshot *s, const char *region,
                            const char *kms_key_id, char **out)
{
    const char *k = kms_key_id ? kms_key_id : "alias/aws/secretsmanager";
    char acct[ACCOUNT_ID_LEN + 1], reg[32], name[257];
    struct alias_rec a;
    struct key_rec kr;
    *out = NULL;
    if (strncmp(k, "arn:", 4) == 0 && strstr(k, ":key/")) {
        *out = strdup(k);
        ENSURE(*out != NULL, TR_E_INTERNAL);
        return TR_OK;
    }
    GUARD(str_copy(acct, sizeof acct, s->account, "the account"));
    GUARD(str_copy(reg, sizeof reg, region, "the region"));
    const char *al = strncmp(k, "arn:", 4) == 0 ? strstr(k, ":alias/") : NULL;
    if (al) {
        /* arn:aws:kms:REGION:ACCOUNT:alias/NAME */
        int n = sscanf(k, "arn:%*[^:]:kms:%31[^:]:%12[^:]:", reg, acct);
        if (n != 2) return TR_OK;
        k = al + 1;
    }
    const char *key_id = k;
    if (strncmp(k, "alias/", 6) == 0) {
        GUARD(str_copy(name, sizeof name, k, "the alias"));
        tr_result r = st[0]->alias_get(st, acct, reg, name, &a);
        if (tr_failed(r)) return tr_code(r) == TR_E_STORE_NOT_FOUND ? TR_OK : r;
        key_id = a.target_key_id;
    }
    tr_result r = st[0]->key_get(st, key_id, reg, &kr);
    if (tr_failed(r)) return tr_code(r) == TR_E_STORE_NOT_FOUND ? TR_OK : r;
    *out = strdup(kr.arn);
    key_rec_free(&kr);
    ENSURE(*out != NULL, TR_E_INTERNAL);
    return TR_OK;
}

/* A secret from its ListSecrets entry and resource policy, with its
 * versions' ids and labels (SecretVersionsToStages) sealed under the key
 * its KmsKeyId names: the secrets service's own records (sm_save,
 * sm_version_insert), without any value. */
static TR_RESULT load_secret(store_t st, const struct snapshot *s, const struct snap_secret *x)
{
    const json_t *e = x->entry;
    uint8_t h[32];
    char id[65];
    struct secret sec = { 0 };
    char *karn = NULL;
    struct secret_version *v = NULL;
    tr_result r = TR_OK;
    /* The secret's entity id: the ARN's digest (unique as the ARN is). */
    GUARD(sha256((const uint8_t *)x->arn, strlen(x->arn), h));
    hex_encode(h, 16, id);
    sec.id = id;
    sec.arn = (char *)x->arn;
    sec.name = (char *)jstr(e, "Name");
    if (!sec.name) BAIL(TR_E_VALIDATION, "%.200s: secret %.300s has no Name", s->name, x->arn);
    GUARD(str_copy(sec.region, sizeof sec.region, x->region, "the region"));
    GUARD(str_copy(sec.account, sizeof sec.account, s->account, "the account"));
    sec.description = (char *)jstr(e, "Description");
    sec.kms_key_id = (char *)jstr(e, "KmsKeyId");
    sec.created = (double)when(e, "CreatedDate");
    sec.last_changed = (double)when(e, "LastChangedDate");
    sec.deleted_date = (double)when(e, "DeletedDate");
    sec.policy = (char *)x->resource_policy;
    json_t *vs = json_object_get(e, "SecretVersionsToStages");
    size_t nv = json_object_size(vs), i = 0;
    r = key_arn_of(st, s, x->region, sec.kms_key_id, &karn);
    v = tr_ok(r) ? calloc(nv + 1, sizeof *v) : NULL;
    if (tr_ok(r) && !v) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    const char *vid;
    json_t *stages;
    json_object_foreach(vs, vid, stages) {
        if (tr_failed(r)) break;
        size_t ns = json_array_size(stages);
        v[i].id = (char *)vid;
        v[i].stages = calloc(ns + 1, sizeof *v[i].stages);
        if (!v[i].stages) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); break; }
        for (size_t j = 0; j < ns; j++) {
            const char *lab = json_string_value(json_array_get(stages, j));
            if (lab) v[i].stages[v[i].nstages++] = (char *)lab;
        }
        v[i].seq = (int64_t)i + 1;
        v[i].created = sec.created;
        v[i].key_arn = karn;
        r = sm_version_save(st, &sec, &v[i]);
        i++;
    }
    /* One save: the entity with its version index, and the versions'
     * creation order (the secrets service's own order rewrite). */
    if (tr_ok(r)) {
        sec.versions = v;
        sec.nversions = i;
        sec.held = SM_HELD_ALL;
        r = sm_save(st, &sec, true);
    }
    for (size_t j = 0; v && j < nv; j++) free(v[j].stages);
    free(v);
    free(karn);
    GUARD(r);
    return put_tags(st, x->arn, json_object_get(e, "Tags"), "Key", "Value");
}

/* The account's OpenID Connect providers (OpenIDConnectProviders.Providers:
 * provider ARN -> its GetOpenIDConnectProvider response) as the records
 * the server keeps (docs/internals/IAM_STORE.md: the name is the issuer's
 * host/path, the doc its client ids and thumbprints), so that the
 * federated readers answer as from the store.  A provider of another
 * account, or a response of another shape, is left out. */
static TR_RESULT load_oidc(store_t st, const struct snapshot *s)
{
    json_t *all = json_object_get(json_object_get(s->doc, "OpenIDConnectProviders"), "Providers");
    const char *arn;
    json_t *o;
    json_object_foreach(all, arn, o) {
        char acct[ACCOUNT_ID_LEN + 1];
        const char *name = strstr(arn, ":oidc-provider/");
        if (!name || !json_is_object(o) || tr_failed(arn_account(arn, acct)) ||
            strcmp(acct, s->account) != 0)
            continue;
        json_t *ids = json_object_get(o, "ClientIDList"), *tp = json_object_get(o, "ThumbprintList");
        json_t *d = json_pack("{s:o, s:o}", "client_ids", json_is_array(ids) ? json_incref(ids) : json_array(),
                              "thumbprints", json_is_array(tp) ? json_incref(tp) : json_array());
        char *doc = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(d);
        ENSURE(doc != NULL, TR_E_INTERNAL);
        /* No unique id in AWS's reply: the ARN stands for one. */
        tr_result r = put_ent(st, IAM_OIDC_PROVIDER, s->account, name + 15, arn, arn, "/", doc,
                              when(o, "CreateDate"));
        free(doc);
        GUARD(r);
    }
    return TR_OK;
}

static TR_RESULT load_one(store_t st, const struct snapshot *s)
{
    struct account_rec a = { 0 };
    GUARD(str_copy(a.id, sizeof a.id, s->account, "the account id"));
    a.created = 1;
    tr_result r = st[0]->account_put(st, &a);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_EXISTS)
        BAIL(TR_E_VALIDATION, "%.200s: account %s is in two snapshots", s->name, s->account);
    GUARD(r);
    GUARD(load_iam(st, s));
    GUARD(load_oidc(st, s));
    for (size_t i = 0; i < s->nkeys; i++) GUARD(load_key(st, s, &s->keys[i]));
    for (size_t i = 0; i < s->naliases; i++) {
        const json_t *al = s->aliases[i];
        const char *name = jstr(al, "AliasName"), *target = jstr(al, "TargetKeyId");
        if (!name || !target) continue;         /* an AWS alias not yet created */
        struct alias_rec ar = { 0 };
        GUARD(str_copy(ar.account_id, sizeof ar.account_id, s->account, "the account id"));
        GUARD(str_copy(ar.region, sizeof ar.region, s->alias_regions[i], "the region"));
        GUARD(str_copy(ar.name, sizeof ar.name, name, "the alias name"));
        GUARD(str_copy(ar.target_key_id, sizeof ar.target_key_id, target, "the alias target"));
        ar.created = when(al, "CreationDate");
        ar.updated = when(al, "LastUpdatedDate");
        GUARD(st[0]->alias_put(st, &ar));
    }
    return TR_OK;
}

/* Whether secret x is one `only` names (its ARN or its name); every
 * secret when only is NULL. */
static bool wanted(const struct snap_secret *x, const char *only)
{
    if (!only) return true;
    const char *name = jstr(x->entry, "Name");
    return strcmp(x->arn, only) == 0 || (name && strcmp(name, only) == 0);
}

TR_RESULT snapshot_store_load(store_t st, const struct snapshot *s, size_t n, const char *only_secret)
{
    size_t bound = 0;
    GUARD(st[0]->tx_begin(st));
    tr_result r = TR_OK;
    for (size_t i = 0; tr_ok(r) && i < n; i++) r = load_one(st, &s[i]);
    /* Secrets last: a KmsKeyId may name a key of another snapshot. */
    for (size_t i = 0; tr_ok(r) && i < n; i++)
        for (size_t j = 0; tr_ok(r) && j < s[i].nsecrets; j++)
            if (wanted(&s[i].secrets[j], only_secret)) r = load_secret(st, &s[i], &s[i].secrets[j]);
    if (tr_ok(r)) r = st[0]->tx_commit(st);
    if (tr_failed(r)) {
        st[0]->tx_rollback(st);
        return r;
    }
    /* Bind the policies' principals to the snapshot's unique ids. */
    return iam_bind_stored(st, &bound);
}

bool snapshot_gap_touches(const struct snap_gap *g, const char *const *names, size_t n)
{
    /* What the missing part is about: the manifest's Resource, or the
     * text of a gap found in the file (which names the key or secret). */
    const char *about = g->listed && g->resource && *g->resource ? g->resource : g->what;
    for (size_t i = 0; i < n; i++)
        if (names[i] && *names[i] && strstr(about, names[i])) return true;
    /* The account's IAM, or a region's listings: every answer. */
    static const char *const wide[] = { "GetAccountAuthorizationDetails", "ListKeys", "ListSecrets",
                                        "ListAliases", "not read", "ListPoliciesForTarget",
                                        "ListParents", "DescribePolicy", "DescribeOrganization", NULL };
    const char *op = g->listed && g->operation ? g->operation : g->what;
    if (g->listed && (!g->resource || !*g->resource)) return true;
    for (size_t i = 0; wide[i]; i++)
        if (strstr(op, wide[i])) return true;
    return false;
}
