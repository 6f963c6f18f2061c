/*
 * aliases.c -- CreateAlias, UpdateAlias, DeleteAlias, ListAliases, and the
 * AWS managed key "aws/<service>" that Secrets Manager asks for.
 *
 * Naming rules (API reference, CreateAlias "AliasName"; messages from
 * real KMS where known):
 *  - 1..256 characters of ^[a-zA-Z0-9:/_-]+$ (the model's pattern)
 *      -> ValidationException, the model's wording;
 *  - must begin with "alias/" -> ValidationException 'Alias must start with
 *      the prefix "alias/". Please see https://docs.aws.amazon.com/kms/
 *      latest/developerguide/kms-alias.html' (seen from real KMS);
 *  - ':' is allowed by the pattern (for ARNs elsewhere) but not in a name
 *      -> ValidationException "<name> contains invalid characters for an
 *      alias" (moto's wording, uncertain);
 *  - "alias/aws/..." is reserved for AWS managed keys -> a customer gets
 *      NotAuthorizedException with no message (moto's behaviour, uncertain).
 * An alias lives in one account and region and must point at a key of the
 * same account and region, never at another alias ("Aliases must refer to
 * keys. Not aliases", moto's wording).  A key pending deletion cannot gain
 * or be given an alias (KMSInvalidStateException); DeleteAlias works in
 * every state.  An alias that exists -> AlreadyExistsException "An alias
 * with the name <alias ARN> already exists"; an unknown one ->
 * NotFoundException "Alias <alias ARN> is not found." (docs/AUTHORIZATION.md
 * 8.1).
 * ListAliases (API reference: "The response might also include aliases
 * that have no TargetKeyId field.  These are predefined aliases that AWS
 * has created but has not yet associated with a KMS key") lists the
 * stored aliases and, without KeyId, the predefined AWS aliases of
 * PREDEFINED below that have no key yet: AliasName and AliasArn only, no
 * TargetKeyId and no dates.  Once tresor creates an AWS managed key for
 * one (aws/secretsmanager, kms_managed_key) the stored alias takes its
 * place, with its target and dates.  With KeyId only that key's aliases.
 * One list in name order, paged by name: Limit 1..100 (default 50),
 * NextMarker the last name shown.  The set AWS predefines is not
 * documented; PREDEFINED is the set real accounts show (docs/WIRE.md 5.2).
 *
 * Authorization (KMS developer guide, "Controlling access to aliases"):
 * each alias operation needs its permission on the alias -- the alias ARN
 * in IAM policies, which alone decide since an alias has no key policy
 * (kms_authorize_alias) -- and on the key: CreateAlias on the target key,
 * UpdateAlias on the new target and on the key the alias leaves,
 * DeleteAlias on the key it points to.  The alias is checked first, after
 * its existence (UpdateAlias, DeleteAlias: NotFoundException before
 * AccessDeniedException, as for keys) and before CreateAlias learns
 * whether the name is taken.
 */
#include "kms/kms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/str.h"

#define RESERVED_PREFIX "alias/aws/"

static TR_RESULT alias_name(json_t *in, const char **out)
{
    const char *s;
    GUARD(json_get_str(in, "AliasName", true, 1, 256, &s));
    for (const char *c = s; *c; c++) {
        if (!(*c == ':' || *c == '/' || *c == '_' || *c == '-' || (*c >= '0' && *c <= '9') ||
              (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z'))) {
            char q[300];
            snprintf(q, sizeof q, "'%s'", s);     /* fits: AliasName is 256 at most, checked above */
            return json_invalid("AliasName", q,
                "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$");
        }
    }
    if (strncmp(s, "alias/", 6) != 0)
        BAIL(TR_E_VALIDATION, "Alias must start with the prefix \"alias/\". Please see "
             "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html");
    if (strchr(s, ':'))
        BAIL(TR_E_VALIDATION, "%s contains invalid characters for an alias", s);
    if (s[6] == '\0')
        BAIL(TR_E_KMS_INVALID_ALIAS_NAME, "Alias name must not be empty after the prefix "
             "\"alias/\".");
    if (strncmp(s, RESERVED_PREFIX, strlen(RESERVED_PREFIX)) == 0)
        BAIL0(TR_E_KMS_NOT_AUTHORIZED);
    *out = s;
    return TR_OK;
}

/* TargetKeyId, checked against the model before anything is looked up
 * (AWS validates the whole request first). */
static TR_RESULT target_key_id(json_t *in, const char **id)
{
    return json_get_str(in, "TargetKeyId", true, 1, KMS_ARN_MAX, id);
}

/* The key TargetKeyId names: a key id or key ARN of the caller's account
 * and region. */
static TR_RESULT target_key(struct req_ctx *rc, const char *id, const char *action,
                            struct key_rec *k)
{
    memset(k, 0, sizeof *k);
    if (strncmp(id, "alias/", 6) == 0 ||
        (strncmp(id, "arn:", 4) == 0 && strstr(id, ":alias/")))
        BAIL(TR_E_VALIDATION, "Aliases must refer to keys. Not aliases");
    GUARD(kms_resolve(rc, id, KR_KEY_ONLY, k));
    tr_result r = kms_authorize(rc, action, k, NULL);
    if (tr_ok(r)) r = kms_check_state(k, KS_NOT_PENDING);
    if (tr_failed(r)) key_rec_free(k);
    return r;
}

static tr_result alias_not_found(struct req_ctx *rc, const char *name)
{
    return tr_fail_at(__FILE__, __LINE__, TR_E_KMS_NOT_FOUND,
                      "Alias arn:aws:kms:%s:%s:%s is not found.", rc->region,
                      rc->who.account_id, name);
}

/* The alias record of `name` in the caller's account and region. */
static TR_RESULT alias_get(struct req_ctx *rc, const char *name, struct alias_rec *a)
{
    memset(a, 0, sizeof *a);
    tr_result r = rc->st[0]->alias_get(rc->st, rc->who.account_id, rc->region, name, a);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND) return alias_not_found(rc, name);
    return r;
}

KMS_HANDLER(op_create_alias)
{
    const char *name, *tid;
    struct alias_rec a;
    struct key_rec k;
    tr_result r;
    (void)out;

    GUARD(target_key_id(in, &tid));
    GUARD(alias_name(in, &name));
    GUARD(kms_authorize_alias(rc, rc->op->action, name));
    r = rc->st[0]->alias_get(rc->st, rc->who.account_id, rc->region, name, &a);
    if (tr_ok(r))
        BAIL(TR_E_KMS_ALREADY_EXISTS, "An alias with the name arn:aws:kms:%s:%s:%s already exists",
             rc->region, rc->who.account_id, name);
    if (tr_code(r) != TR_E_STORE_NOT_FOUND) return r;
    GUARD(target_key(rc, tid, rc->op->action, &k));

    memset(&a, 0, sizeof a);
    STR_COPY_ARRAY(a.account_id, rc->who.account_id);
    STR_COPY_ARRAY(a.target_key_id, k.key_id);
    a.created = a.updated = rc->now;
    r = str_copy(a.region, sizeof a.region, rc->region, "the region");
    if (tr_ok(r)) r = str_copy(a.name, sizeof a.name, name, "the alias name");
    if (tr_ok(r)) r = rc->st[0]->alias_put(rc->st, &a);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_EXISTS)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_ALREADY_EXISTS,
                       "An alias with the name arn:aws:kms:%s:%s:%s already exists",
                       rc->region, rc->who.account_id, name);
    key_rec_free(&k);
    return r;
}

KMS_HANDLER(op_update_alias)
{
    const char *name, *tid;
    struct alias_rec a;
    struct key_rec k, old;
    tr_result r;
    (void)out;

    memset(&old, 0, sizeof old);
    GUARD(target_key_id(in, &tid));
    GUARD(alias_name(in, &name));
    GUARD(alias_get(rc, name, &a));
    GUARD(kms_authorize_alias(rc, rc->op->action, name));
    GUARD(target_key(rc, tid, rc->op->action, &k));
    /* Moving an alias needs the permission on the key it leaves, too. */
    r = kms_key_lookup(rc->st, a.target_key_id, a.region, &old);
    if (tr_ok(r)) r = kms_authorize(rc, rc->op->action, &old, NULL);
    else if (tr_code(r) == TR_E_STORE_NOT_FOUND) r = TR_OK;
    if (tr_ok(r)) {
        STR_COPY_ARRAY(a.target_key_id, k.key_id);
        a.updated = rc->now;
        r = rc->st[0]->alias_update(rc->st, &a);
    }
    key_rec_free(&old);
    key_rec_free(&k);
    return r;
}

KMS_HANDLER(op_delete_alias)
{
    const char *name;
    struct alias_rec a;
    struct key_rec k;
    tr_result r;
    (void)out;

    memset(&k, 0, sizeof k);
    GUARD(alias_name(in, &name));
    GUARD(alias_get(rc, name, &a));
    GUARD(kms_authorize_alias(rc, rc->op->action, name));
    r = kms_key_lookup(rc->st, a.target_key_id, a.region, &k);
    if (tr_ok(r)) r = kms_authorize(rc, rc->op->action, &k, NULL);
    else if (tr_code(r) == TR_E_STORE_NOT_FOUND) r = TR_OK;
    if (tr_ok(r)) r = rc->st[0]->alias_delete(rc->st, rc->who.account_id, rc->region, name);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND) r = alias_not_found(rc, name);
    key_rec_free(&k);
    return r;
}

/* The aliases AWS predefines in every account and region, in name order:
 * the aws/<service> aliases of the AWS managed keys that services create
 * on first use.  ListAliases shows each without a target until its key
 * exists. */
static const char *const PREDEFINED[] = {
    "alias/aws/acm", "alias/aws/dynamodb", "alias/aws/ebs", "alias/aws/elasticfilesystem",
    "alias/aws/es", "alias/aws/glue", "alias/aws/kinesisvideo", "alias/aws/lambda",
    "alias/aws/rds", "alias/aws/redshift", "alias/aws/s3", "alias/aws/secretsmanager",
    "alias/aws/ssm", "alias/aws/xray",
};
#define NPREDEFINED (sizeof PREDEFINED / sizeof PREDEFINED[0])

static TR_RESULT write_alias(struct req_ctx *rc, json_t *list, void *arg, size_t i,
                             const char **key)
{
    const struct alias_rec *a = (const struct alias_rec *)arg + i;
    char arn[KMS_ARN_MAX + 1];
    (void)rc;
    *key = a->name;
    GUARD(kms_arn(arn, sizeof arn, a->region, a->account_id, a->name));
    json_t *e = json_pack("{s:s, s:s}", "AliasName", a->name, "AliasArn", arn);
    GUARD(kms_append(list, e));
    if (a->target_key_id[0] == '\0') return TR_OK;     /* predefined, no key yet */
    GUARD(kms_set(e, "TargetKeyId", json_string(a->target_key_id)));
    GUARD(json_set_time(e, "CreationDate", a->created));
    return json_set_time(e, "LastUpdatedDate", a->updated);
}

static int alias_cmp(const void *x, const void *y)
{
    return strcmp(((const struct alias_rec *)x)->name, ((const struct alias_rec *)y)->name);
}

/* Add to *al (n stored aliases after `after`, in name order, at most
 * `want`) the predefined aliases after `after` that are not stored, and
 * keep the first `want` of the whole in name order.  A predefined alias
 * missing from a full page may still be stored further on, but then it
 * sorts after the page and is cut. */
static TR_RESULT add_predefined(struct req_ctx *rc, const char *after, size_t want,
                                struct alias_rec **al, size_t *n)
{
    struct alias_rec *v = realloc(*al, (*n + NPREDEFINED) * sizeof *v);
    ENSURE(v != NULL, TR_E_INTERNAL);
    *al = v;
    size_t stored = *n;
    for (size_t i = 0; i < NPREDEFINED; i++) {
        const char *name = PREDEFINED[i];
        bool have = after && strcmp(name, after) <= 0;
        for (size_t j = 0; j < stored && !have; j++) have = strcmp(v[j].name, name) == 0;
        if (have) continue;
        struct alias_rec *a = &v[(*n)++];
        memset(a, 0, sizeof *a);
        STR_COPY_ARRAY(a->account_id, rc->who.account_id);
        GUARD(str_copy(a->name, sizeof a->name, name, "the alias name"));
        GUARD(str_copy(a->region, sizeof a->region, rc->region, "the region"));
    }
    qsort(v, *n, sizeof *v, alias_cmp);
    if (*n > want) *n = want;
    return TR_OK;
}

KMS_HANDLER(op_list_aliases)
{
    const char *id;
    size_t limit, n = 0;
    bool has_marker;
    char after[260];
    struct key_rec k;
    struct alias_rec *al = NULL;

    memset(&k, 0, sizeof k);
    GUARD(json_get_str(in, "KeyId", false, 1, KMS_ARN_MAX, &id));
    GUARD(kms_get_limit(in, 50, 100, &limit));
    GUARD(kms_marker_decode(in, after, sizeof after, &has_marker));
    if (has_marker && strncmp(after, "alias/", 6) != 0)
        BAIL(TR_E_KMS_INVALID_MARKER, "Invalid marker");
    GUARD(kms_authorize(rc, rc->op->action, NULL, NULL));
    if (id) GUARD(kms_resolve(rc, id, KR_KEY_ONLY, &k));

    tr_result r = rc->st[0]->alias_list(rc->st, rc->who.account_id, rc->region,
                                        id ? k.key_id : NULL, has_marker ? after : NULL,
                                        limit + 1, &al, &n);
    if (tr_ok(r) && !id) r = add_predefined(rc, has_marker ? after : NULL, limit + 1, &al, &n);
    if (tr_ok(r)) r = kms_page_write(rc, "Aliases", limit, 0, n, write_alias, al, out);
    alias_list_free(al, n);
    key_rec_free(&k);
    return r;
}

/* ---------------------------------------------------------------------- */
/* AWS managed keys                                                        */

/* The Sid, Effect and Principal the first two statements of that policy
 * share (AWS gives both the same Sid). */
#define SM_VIA_STATEMENT \
    "    \"Sid\" : \"Allow access through AWS Secrets Manager for all principals in the " \
    "account that are authorized to use AWS Secrets Manager\",\n" \
    "    \"Effect\" : \"Allow\",\n" \
    "    \"Principal\" : {\n" \
    "      \"AWS\" : \"*\"\n" \
    "    },\n"

/* The policy AWS sets on aws/secretsmanager (Id auto-secretsmanager-2,
 * docs/AUTHORIZATION.md 4.7), pretty-printed as KMS prints the policies it
 * writes. */
static char *secretsmanager_policy(const char *account, const char *region)
{
    static const char fmt[] =
        "{\n"
        "  \"Version\" : \"2012-10-17\",\n"
        "  \"Id\" : \"auto-secretsmanager-2\",\n"
        "  \"Statement\" : [ {\n"
        SM_VIA_STATEMENT
        "    \"Action\" : [ \"kms:Encrypt\", \"kms:Decrypt\", \"kms:ReEncrypt*\", "
        "\"kms:CreateGrant\", \"kms:DescribeKey\" ],\n"
        "    \"Resource\" : \"*\",\n"
        "    \"Condition\" : {\n"
        "      \"StringEquals\" : {\n"
        "        \"kms:CallerAccount\" : \"%1$s\",\n"
        "        \"kms:ViaService\" : \"secretsmanager.%2$s.amazonaws.com\"\n"
        "      }\n"
        "    }\n"
        "  }, {\n"
        SM_VIA_STATEMENT
        "    \"Action\" : \"kms:GenerateDataKey*\",\n"
        "    \"Resource\" : \"*\",\n"
        "    \"Condition\" : {\n"
        "      \"StringEquals\" : {\n"
        "        \"kms:CallerAccount\" : \"%1$s\"\n"
        "      },\n"
        "      \"StringLike\" : {\n"
        "        \"kms:ViaService\" : \"secretsmanager.%2$s.amazonaws.com\"\n"
        "      }\n"
        "    }\n"
        "  }, {\n"
        "    \"Sid\" : \"Allow direct access to key metadata to the account\",\n"
        "    \"Effect\" : \"Allow\",\n"
        "    \"Principal\" : {\n"
        "      \"AWS\" : \"arn:aws:iam::%1$s:root\"\n"
        "    },\n"
        "    \"Action\" : [ \"kms:Describe*\", \"kms:Get*\", \"kms:List*\", "
        "\"kms:RevokeGrant\" ],\n"
        "    \"Resource\" : \"*\"\n"
        "  } ]\n"
        "}";
    int n = snprintf(NULL, 0, fmt, account, region);
    if (n < 0) return NULL;
    char *s = malloc((size_t)n + 1);
    if (s) snprintf(s, (size_t)n + 1, fmt, account, region);     /* fits: measured above */
    return s;
}

TR_RESULT kms_managed_key(struct req_ctx *rc, const char *service, struct key_rec *out)
{
    char name[257];
    struct alias_rec a;
    char *policy = NULL;
    tr_result r;

    memset(out, 0, sizeof *out);
    ENSURE(strcmp(service, "secretsmanager") == 0, TR_E_INTERNAL);
    snprintf(name, sizeof name, RESERVED_PREFIX "%s", service);     /* fits: "secretsmanager", checked above */
    r = kms_cached_alias_get(rc->st, rc->who.account_id, rc->region, name, &a);
    if (tr_ok(r)) return kms_key_lookup(rc->st, a.target_key_id, a.region, out);
    if (tr_code(r) != TR_E_STORE_NOT_FOUND) return r;

    policy = secretsmanager_policy(rc->who.account_id, rc->region);
    ENSURE(policy != NULL, TR_E_INTERNAL);
    struct kms_new_key nk = {
        .account = rc->who.account_id, .region = rc->region,
        .description = "Default key that protects my Secrets Manager data when no other key "
                       "is defined",
        .policy = policy, .key_manager = "AWS", .rotation = true, .now = rc->now,
    };
    r = kms_key_create(rc->st, rc->kr, &nk, out);
    free(policy);
    GUARD(r);
    memset(&a, 0, sizeof a);
    STR_COPY_ARRAY(a.account_id, rc->who.account_id);
    STR_COPY_ARRAY(a.name, name);
    STR_COPY_ARRAY(a.target_key_id, out->key_id);
    a.created = a.updated = rc->now;
    r = str_copy(a.region, sizeof a.region, rc->region, "the region");
    if (tr_ok(r)) r = rc->st[0]->alias_put(rc->st, &a);
    if (tr_failed(r)) key_rec_free(out);
    return r;
}
