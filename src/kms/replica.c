/*
 * replica.c -- replicas of multi-Region keys: ReplicateKey and
 * UpdatePrimaryRegion, and what related keys share.
 *
 * A multi-Region key (CreateKey MultiRegion=true, id "mrk-" and 32 hex
 * digits) is a primary in its region; ReplicateKey makes a replica in
 * another region this server serves: a record with the same key id in that
 * region (the store keys kms_keys by (key_id, region)), its own policy
 * (the default key policy when none is given), description, tags, aliases,
 * grants and key state, and the primary's key spec, usage, origin,
 * rotation status and key material -- the material rows are the key id's,
 * so a ciphertext made under one related key decrypts under every other
 * in its own region, and a rotation of the primary is every replica's
 * (kms_key_sync_related).  Every related record names the primary's
 * region (key_rec.primary_region); UpdatePrimaryRegion moves it.
 *
 * AWS (API reference, ReplicateKey): "Cross-account use: No"; the
 * permissions are kms:ReplicateKey on the primary key in its region (key
 * policy), kms:CreateKey in an IAM policy in the replica region, and
 * kms:TagResource there when Tags is given; kms:ReplicaRegion is the
 * request's region.  UpdatePrimaryRegion needs kms:UpdatePrimaryRegion on
 * the current primary and on the replica in the new primary region, with
 * kms:PrimaryRegion.  A replica AWS creates is "Creating" for a few
 * seconds; tresor's is Enabled at once (nothing is copied in the
 * background).  A replica of a key with imported material (Origin
 * EXTERNAL) is made as AWS makes it: PendingImport, without material,
 * until the primary's material is imported into it (import.c); it gets
 * the primary's record of that material's digest, so other material is
 * refused.
 *
 * Errors (docs/KMS_MULTI_REGION.md has the table): a key that is not a
 * multi-Region primary, UnsupportedOperationException "<arn> is not a
 * multi-Region primary key."; a disabled or pending primary, the usual
 * DisabledException / KMSInvalidStateException; a region this server does
 * not serve or the key's own, UnsupportedOperationException; a replica
 * already in the region, AlreadyExistsException.
 *
 * Deletion (API reference, ScheduleKeyDeletion): a replica is deleted on
 * its own schedule; a primary with replicas goes to PendingReplicaDeletion
 * (no DeletionDate, PendingDeletionWindowInDays kept), and once its last
 * replica is deleted to PendingDeletion, its waiting period beginning
 * then (kms_replica_deleted, from the maintenance run that deleted it).
 */
#include "kms/kms.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/str.h"

/* RegionType: 1..32 characters matching ^([a-z]+-){2,3}\d+$ (model); the
 * pattern is checked apart (check_region), after every member's type and
 * length, as the other members' patterns are. */
static TR_RESULT check_region(const char *member, const char *value)
{
    const char *s = value;
    int groups = 0;
    for (;;) {
        const char *start = s;
        while (*s >= 'a' && *s <= 'z') s++;
        if (s == start || *s != '-') break;
        s++;
        groups++;
    }
    bool digits = isdigit((unsigned char)*s) != 0;
    while (isdigit((unsigned char)*s)) s++;
    /* A failed group scan stops at its start: only digits may follow. */
    if (groups < 2 || groups > 3 || !digits || *s) {
        char q[48];
        snprintf(q, sizeof q, "'%.32s'", value);    /* fits: 32 and two quotes */
        return json_invalid(member, q,
                            "Member must satisfy regular expression pattern: ^([a-z]+-){2,3}\\d+$");
    }
    return TR_OK;
}

static tr_result not_primary(const struct key_rec *k)
{
    return tr_fail_at(__FILE__, __LINE__, TR_E_KMS_UNSUPPORTED,
                      "%s is not a multi-Region primary key.", k->arn);
}

TR_RESULT kms_key_sync_related(store_t st, const struct key_rec *k)
{
    struct key_rec *rel = NULL;
    size_t n = 0;
    if (!kms_key_is_multi_region(k)) return TR_OK;
    GUARD(st[0]->key_list_related(st, k->key_id, &rel, &n));
    tr_result r = TR_OK;
    for (size_t i = 0; tr_ok(r) && i < n; i++) {
        if (strcmp(rel[i].region, k->region) == 0) continue;
        rel[i].current_material = k->current_material;
        rel[i].rotation_enabled = k->rotation_enabled;
        rel[i].rotation_period_days = k->rotation_period_days;
        rel[i].next_rotation = k->next_rotation;
        r = st[0]->key_update(st, &rel[i]);
    }
    key_list_free(rel, n);
    return r;
}

TR_RESULT kms_key_has_replicas(store_t st, const struct key_rec *k, bool *out)
{
    struct key_rec *rel = NULL;
    size_t n = 0;
    *out = false;
    if (!kms_key_is_multi_region(k) || kms_key_is_replica(k)) return TR_OK;
    GUARD(st[0]->key_list_related(st, k->key_id, &rel, &n));
    *out = n > 1;
    key_list_free(rel, n);
    return TR_OK;
}

TR_RESULT kms_replica_deleted(store_t st, const char *key_id, int64_t now)
{
    struct key_rec *rel = NULL;
    size_t n = 0;
    tr_result r = TR_OK;
    GUARD(st[0]->key_list_related(st, key_id, &rel, &n));
    /* Only the primary left, waiting for its replicas. */
    if (n == 1 && strcmp(rel[0].key_state, KEY_STATE_PENDING_REPLICA_DELETION) == 0) {
        STR_SET(rel[0].key_state, KEY_STATE_PENDING_DELETION);
        rel[0].deletion_date = now + (int64_t)rel[0].pending_window_days * KMS_DAY;
        r = st[0]->key_update(st, &rel[0]);
    }
    key_list_free(rel, n);
    return r;
}

/* ReplicaTags: the replica's tags as a TagList ([] when none). */
static TR_RESULT tag_list_json(store_t st, const char *arn, json_t **out)
{
    struct tag_rec *t = NULL;
    size_t n = 0;
    json_t *list = json_array();
    ENSURE(list != NULL, TR_E_INTERNAL);
    tr_result r = st[0]->tag_list(st, arn, &t, &n);
    for (size_t i = 0; tr_ok(r) && i < n; i++)
        r = kms_append(list, json_pack("{s:s, s:s}", "TagKey", t[i].key, "TagValue", t[i].value));
    tag_list_free(t, n);
    if (tr_failed(r)) {
        json_decref(list);
        return r;
    }
    *out = list;
    return TR_OK;
}

/* Authorize the replica region's part of ReplicateKey: kms:CreateKey (and
 * kms:TagResource with Tags) for the replica asked for, from IAM policies,
 * as a request in that region; then check the policy given for it there
 * (*ids: its principal binding), lockout safety check included. */
static TR_RESULT authorize_in_replica_region(struct req_ctx *rc, const struct key_rec *proto,
                                             json_t *in, const char *policy, bool bypass,
                                             char **ids)
{
    char home[sizeof rc->region];
    json_t *tags = json_object_get(in, "Tags");
    STR_COPY_ARRAY(home, rc->region);
    snprintf(rc->region, sizeof rc->region, "%s", proto->region);  /* fits: 32 < 64 */
    struct kms_authz_in az = { .props = proto, .request_tags = tags,
                               .has_bypass = kms_has_member(in, "BypassPolicyLockoutSafetyCheck"),
                               .bypass = bypass };
    tr_result r = kms_authorize_in(rc, "kms:CreateKey", NULL, &az);
    if (tr_ok(r) && tags && json_is_array(tags) && json_array_size(tags) > 0) {
        struct kms_authz_in tz = { .props = proto, .request_tags = tags };
        r = kms_authorize_in(rc, "kms:TagResource", NULL, &tz);
    }
    if (tr_ok(r) && policy) r = kms_policy_check(rc, policy, proto, bypass, ids);
    STR_COPY_ARRAY(rc->region, home);
    return r;
}

KMS_HANDLER(op_replicate_key)
{
    const char *id, *region, *policy, *desc;
    bool bypass;
    struct key_rec pk, rk, exist, proto;
    char *ids = NULL;
    char res[64], arn[KMS_ARN_MAX + 1];
    json_t *md = NULL, *tags = NULL;
    tr_result r;

    memset(&pk, 0, sizeof pk);
    memset(&rk, 0, sizeof rk);
    memset(&exist, 0, sizeof exist);
    /* 1. The model's constraints. */
    GUARD(json_get_str(in, "KeyId", true, 1, KMS_ARN_MAX, &id));
    GUARD(json_get_str(in, "ReplicaRegion", true, 1, 32, &region));
    GUARD(kms_get_policy(in, false, &policy));
    GUARD(kms_get_flag(in, "BypassPolicyLockoutSafetyCheck", &bypass));
    GUARD(json_get_str(in, "Description", false, 0, 8192, &desc));
    GUARD(kms_tags_apply(rc, in, "Tags", false, NULL));
    GUARD(check_region("ReplicaRegion", region));
    /* The document itself (grammar, principals) before the key: the
     * lockout check, which needs the replica, comes with it below. */
    if (policy) {
        struct key_rec none;
        memset(&none, 0, sizeof none);
        GUARD(kms_policy_check(rc, policy, &none, true, NULL));
    }

    /* 2. The primary: exists, may be replicated by the caller, is one. */
    struct kms_authz_in az = { .key_id_given = id, .replica_region = region };
    GUARD(kms_resolve(rc, id, KR_KEY_ONLY, &pk));
    r = kms_authorize_in(rc, rc->op->action, &pk, &az);
    if (tr_ok(r) && (!kms_key_is_multi_region(&pk) || kms_key_is_replica(&pk))) r = not_primary(&pk);
    if (tr_ok(r)) r = kms_check_state(&pk, KS_USABLE);
    if (tr_failed(r)) goto fail;

    /* 3. The replica region: served, not the primary's, free. */
    if (strcmp(region, pk.region) == 0) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_UNSUPPORTED,
                       "%s is already the Region of the primary key %s.", region, pk.arn);
        goto fail;
    }
    if (!server_region_served(rc->env, region)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_UNSUPPORTED,
                       "The Region %s is not served here: a replica can only be made in a "
                       "Region this server serves.", region);
        goto fail;
    }
    r = rc->st[0]->key_get(rc->st, pk.key_id, region, &exist);
    if (tr_ok(r)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_ALREADY_EXISTS,
                       "A replica of %s already exists in %s: %s", pk.key_id, region, exist.arn);
        goto fail;
    }
    if (tr_code(r) != TR_E_STORE_NOT_FOUND) goto fail;
    tr_clear_error();

    /* 4. The replica asked for, authorized in its region; its policy. */
    memset(&proto, 0, sizeof proto);
    proto = pk;
    proto.policy = proto.description = proto.policy_ids = NULL;
    snprintf(res, sizeof res, "key/%s", pk.key_id);     /* fits: a key id in res[64] */
    r = kms_arn(arn, sizeof arn, region, pk.account_id, res);
    if (tr_failed(r)) goto fail;
    proto.arn = arn;
    r = str_copy(proto.region, sizeof proto.region, region, "the region");
    if (tr_failed(r)) goto fail;
    STR_SET(proto.key_state, KEY_STATE_ENABLED);
    r = authorize_in_replica_region(rc, &proto, in, policy, bypass, &ids);
    if (tr_failed(r)) goto fail;

    /* 5. Write: the replica record (the material is the primary's), its tags. */
    struct kms_new_key nk = {
        .account = pk.account_id, .region = region, .description = desc, .policy = policy,
        .policy_ids = ids, .key_manager = pk.key_manager, .now = rc->now, .replica_of = &pk,
    };
    r = kms_key_create(rc->st, rc->kr, &nk, &rk);
    if (tr_ok(r) && strcmp(pk.origin, "EXTERNAL") == 0) r = kms_import_copy_check(rc->st, &pk, &rk);
    if (tr_ok(r)) r = kms_tags_apply(rc, in, "Tags", false, rk.arn);
    if (tr_ok(r)) r = kms_key_metadata(rc->st, &rk, &md);
    if (tr_ok(r)) r = tag_list_json(rc->st, rk.arn, &tags);
    if (tr_failed(r)) goto fail;
    *out = json_pack("{s:o, s:s, s:o}", "ReplicaKeyMetadata", md, "ReplicaPolicy", rk.policy,
                     "ReplicaTags", tags);
    md = tags = NULL;
    if (!*out) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
fail:
    json_decref(md);
    json_decref(tags);
    free(ids);
    key_rec_free(&exist);
    key_rec_free(&rk);
    key_rec_free(&pk);
    return r;
}

KMS_HANDLER(op_update_primary_region)
{
    const char *id, *region;
    struct key_rec pk, nk;
    struct key_rec *rel = NULL;
    size_t n = 0;
    tr_result r;
    (void)out;

    memset(&pk, 0, sizeof pk);
    memset(&nk, 0, sizeof nk);
    GUARD(json_get_str(in, "KeyId", true, 1, KMS_ARN_MAX, &id));
    GUARD(json_get_str(in, "PrimaryRegion", true, 1, 32, &region));
    GUARD(check_region("PrimaryRegion", region));

    /* The current primary, in the request's region. */
    struct kms_authz_in az = { .key_id_given = id, .primary_region = region };
    GUARD(kms_resolve(rc, id, KR_KEY_ONLY, &pk));
    r = kms_authorize_in(rc, rc->op->action, &pk, &az);
    if (tr_ok(r) && (!kms_key_is_multi_region(&pk) || kms_key_is_replica(&pk))) r = not_primary(&pk);
    if (tr_ok(r)) r = kms_check_state(&pk, KS_USABLE);
    if (tr_failed(r)) goto fail;
    if (strcmp(region, pk.region) == 0) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_UNSUPPORTED,
                       "%s is already the primary key in %s.", pk.arn, region);
        goto fail;
    }
    /* The replica in the new primary region: exists, and the caller may
     * make it the primary (kms:UpdatePrimaryRegion on it too). */
    r = rc->st[0]->key_get(rc->st, pk.key_id, region, &nk);
    if (tr_ok(r) && strcmp(nk.account_id, pk.account_id) != 0) {
        key_rec_free(&nk);
        r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_NOT_FOUND, NULL);
    }
    if (tr_failed(r)) {
        if (tr_code(r) == TR_E_STORE_NOT_FOUND)
            r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_NOT_FOUND,
                           "Key 'arn:aws:kms:%s:%s:key/%s' does not exist", region, pk.account_id,
                           pk.key_id);
        goto fail;
    }
    {
        char home[sizeof rc->region];
        STR_COPY_ARRAY(home, rc->region);
        snprintf(rc->region, sizeof rc->region, "%s", region);  /* fits: 32 < 64 */
        r = kms_authorize_in(rc, rc->op->action, &nk, &az);
        STR_COPY_ARRAY(rc->region, home);
    }
    if (tr_ok(r)) r = kms_check_state(&nk, KS_USABLE);
    if (tr_failed(r)) goto fail;

    /* Every related record names the new primary region; the old primary
     * keeps the rotation schedule's date, now the new primary's. */
    r = rc->st[0]->key_list_related(rc->st, pk.key_id, &rel, &n);
    for (size_t i = 0; tr_ok(r) && i < n; i++) {
        r = str_copy(rel[i].primary_region, sizeof rel[i].primary_region, region, "the region");
        if (tr_ok(r)) r = rc->st[0]->key_update(rc->st, &rel[i]);
    }
fail:
    key_list_free(rel, n);
    key_rec_free(&nk);
    key_rec_free(&pk);
    return r;
}
