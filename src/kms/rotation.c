/*
 * rotation.c -- key-material rotation: EnableKeyRotation,
 * DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand,
 * ListKeyRotations; and kms_maintenance(), the periodic job that deletes
 * keys whose waiting period is over (with their grants and usage record)
 * and rotates keys whose rotation date has come, then writes the key usage
 * table (last_usage.c).
 *
 * A rotation adds material version current+1 (rotation_type AUTOMATIC or
 * ON_DEMAND) and makes it current.  Older versions stay: every blob names
 * the version that sealed it, so old ciphertexts still decrypt.
 *
 * Automatic rotation (API reference, EnableKeyRotation /
 * GetKeyRotationStatus):
 *  - RotationPeriodInDays 90..2560, default 365; the first rotation is one
 *    period after EnableKeyRotation.  Calling it again on an enabled key
 *    keeps the schedule's base and applies the new period.
 *  - Disabled keys are not rotated; once re-enabled, an overdue key is
 *    rotated at the next maintenance run, then every period.
 *  - A key pending deletion reports KeyRotationEnabled false and is not
 *    rotated; CancelKeyDeletion brings the old status back (the flag is
 *    kept in the record).
 *  - When the server was down for more than one period, the key rotates
 *    once and the next date is one period from now (no burst of rotations).
 * On-demand rotation (RotateKeyOnDemand) leaves the automatic schedule
 * alone; at most 25 per key (LimitExceededException).  A key of imported
 * material rotates on demand to the material imported for it (import.c).  Ours completes
 * inside the request, so OnDemandRotationStartDate is never reported.
 */
#include "kms/kms.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"

TR_RESULT kms_key_rotate(store_t st, const struct keyring *kr, struct key_rec *k,
                         int64_t now, const char *rotation_type)
{
    uint32_t v = k->current_material + 1;
    GUARD(kms_material_add(st, kr, k->key_id, v, now, rotation_type));
    k->current_material = v;
    GUARD(st[0]->key_update(st, k));
    return kms_key_sync_related(st, k);
}

/* Rotation is for symmetric encryption keys only: an asymmetric or HMAC
 * key is refused with AWS's UnsupportedOperationException. */
static tr_result rotation_unsupported(struct key_rec *k)
{
    key_rec_free(k);
    return tr_fail_at(__FILE__, __LINE__, TR_E_KMS_UNSUPPORTED,
                      "You cannot perform this operation on a non-symmetric key or a key with "
                      "non-ENCRYPT_DECRYPT key usage.");
}

/* The checks of the rotation operations after authorization: imported
 * material never rotates automatically (UnsupportedOperationException
 * "... origin is EXTERNAL ...", the key-state table's answer for every
 * state; RotateKeyOnDemand of a single-Region EXTERNAL key goes to
 * rotate_imported instead); then, as before, the key state (Enabled) and
 * the key spec.  k is released on failure. */
static TR_RESULT rotation_allowed(struct key_rec *k)
{
    /* Related multi-Region keys share their material and rotation status,
     * which only the primary changes (a replica follows it). */
    if (kms_key_is_replica(k)) {
        tr_result nr = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_UNSUPPORTED,
                                  "%s is not a multi-Region primary key.", k->arn);
        key_rec_free(k);
        return nr;
    }
    tr_result r = strcmp(k->origin, "EXTERNAL") == 0 ? kms_origin_error(k)
                                                     : kms_check_state(k, KS_USABLE);
    if (tr_failed(r)) {
        key_rec_free(k);
        return r;
    }
    if (!kms_key_is_symmetric(k)) return rotation_unsupported(k);
    return TR_OK;
}

KMS_HANDLER(op_enable_key_rotation)
{
    bool present;
    int64_t period = 365;
    struct key_rec k;
    (void)out;
    GUARD(json_get_int(in, "RotationPeriodInDays", false, 90, 2560, &present, &period));
    if (!present) period = 365;
    struct kms_authz_in az = { .rotation_period_days = (int)period };
    GUARD(kms_key_for(rc, in, KR_KEY_ONLY, rc->op->action, KS_ANY, &az, &k));
    GUARD(rotation_allowed(&k));
    if (k.rotation_enabled && strcmp(k.origin, "EXTERNAL") != 0 && k.next_rotation > 0)
        k.next_rotation += (period - k.rotation_period_days) * (int64_t)KMS_DAY;
    else
        k.next_rotation = rc->now + period * KMS_DAY;
    k.rotation_enabled = true;
    k.rotation_period_days = (int)period;
    tr_result r = rc->st[0]->key_update(rc->st, &k);
    if (tr_ok(r)) r = kms_key_sync_related(rc->st, &k);
    key_rec_free(&k);
    return r;
}

KMS_HANDLER(op_disable_key_rotation)
{
    struct key_rec k;
    (void)out;
    GUARD(kms_key_for(rc, in, KR_KEY_ONLY, rc->op->action, KS_ANY, NULL, &k));
    GUARD(rotation_allowed(&k));
    tr_result r = TR_OK;
    if (k.rotation_enabled) {
        k.rotation_enabled = false;
        k.next_rotation = 0;
        r = rc->st[0]->key_update(rc->st, &k);
        if (tr_ok(r)) r = kms_key_sync_related(rc->st, &k);
    }
    key_rec_free(&k);
    return r;
}

KMS_HANDLER(op_get_key_rotation_status)
{
    struct key_rec k;
    tr_result r;
    GUARD(kms_key_for(rc, in, KR_XACCT, rc->op->action, KS_ANY, NULL, &k));
    bool on = k.rotation_enabled && strcmp(k.key_state, KEY_STATE_PENDING_DELETION) != 0 &&
              strcmp(k.key_state, KEY_STATE_PENDING_REPLICA_DELETION) != 0;
    if (on)
        r = kms_reply_with_time(json_pack("{s:b, s:s, s:i}", "KeyRotationEnabled", true, "KeyId", k.arn,
                                          "RotationPeriodInDays", k.rotation_period_days),
                                "NextRotationDate", k.next_rotation, out);
    else
        r = kms_reply_with_blobs(json_pack("{s:b, s:s}", "KeyRotationEnabled", false, "KeyId", k.arn),
                                 NULL, 0, out);
    key_rec_free(&k);
    return r;
}

/* RotateKeyOnDemand of a single-Region symmetric key of imported
 * material: to the material imported for it (import.c).  k is released
 * on failure. */
static TR_RESULT rotate_imported(struct req_ctx *rc, struct key_rec *k)
{
    tr_result r = kms_key_is_multi_region(k) ? kms_origin_error(k) : kms_check_state(k, KS_USABLE);
    if (tr_ok(r) && !kms_key_is_symmetric(k)) return rotation_unsupported(k);
    if (tr_ok(r)) r = kms_import_rotate(rc, k);
    if (tr_failed(r)) key_rec_free(k);
    return r;
}

KMS_HANDLER(op_rotate_key_on_demand)
{
    struct key_rec k;
    struct material_rec *mats = NULL;
    size_t n = 0, on_demand = 0;
    tr_result r = TR_OK;

    GUARD(kms_key_for(rc, in, KR_KEY_ONLY, rc->op->action, KS_ANY, NULL, &k));
    if (strcmp(k.origin, "EXTERNAL") == 0 && !kms_key_is_replica(&k)) {
        GUARD(rotate_imported(rc, &k));
        goto done;
    }
    GUARD(rotation_allowed(&k));
    r = rc->st[0]->material_list(rc->st, k.key_id, &mats, &n);
    if (tr_failed(r)) goto fail;
    for (size_t i = 0; i < n; i++)
        if (strcmp(mats[i].rotation_type, "ON_DEMAND") == 0) on_demand++;
    if (on_demand >= KMS_ON_DEMAND_MAX) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_LIMIT_EXCEEDED,
                       "%s has reached the maximum number of on-demand rotations (%d).",
                       k.arn, KMS_ON_DEMAND_MAX);
        goto fail;
    }
    r = kms_key_rotate(rc->st, rc->kr, &k, rc->now, "ON_DEMAND");
    if (tr_failed(r)) goto fail;
done:
    *out = json_pack("{s:s}", "KeyId", k.key_id);
    if (!*out) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
fail:
    material_list_free(mats, n);
    key_rec_free(&k);
    return r;
}

/* What write_rotation reads: the key, its materials, its CURRENT
 * version, the marker text. */
struct rotations {
    const struct key_rec *k;
    const struct material_rec *mats;
    uint32_t current;
    char marker[16];
};

/* What an imported material of a symmetric key adds to its entry; a
 * multi-Region key's region has its one material when its record says so,
 * with the record's expiry. */
static TR_RESULT write_import(json_t *e, const struct key_rec *k, const struct material_rec *m)
{
    bool mr = kms_key_is_multi_region(k);
    bool imported = mr ? k->current_material == m->version : m->wrapped.len > 0;
    int64_t valid_to = mr ? k->next_rotation : m->valid_to;
    if (m->description[0]) GUARD(kms_set(e, "KeyMaterialDescription", json_string(m->description)));
    GUARD(kms_set(e, "ImportState", json_string(imported ? "IMPORTED" : "PENDING_IMPORT")));
    if (!imported) return TR_OK;
    GUARD(kms_set(e, "ExpirationModel", json_string(valid_to > 0 ? "KEY_MATERIAL_EXPIRES"
                                                                   : "KEY_MATERIAL_DOES_NOT_EXPIRE")));
    if (valid_to > 0) GUARD(json_set_time(e, "ValidTo", valid_to));
    return TR_OK;
}

static TR_RESULT write_rotation(struct req_ctx *rc, json_t *list, void *arg, size_t i,
                                const char **key)
{
    struct rotations *rs = arg;
    const struct material_rec *m = &rs->mats[i];
    char mid[65];
    (void)rc;
    snprintf(rs->marker, sizeof rs->marker, "%" PRIu32, m->version);     /* fits: 10 digits */
    *key = rs->marker;
    GUARD(kms_material_id(rs->k->key_id, m->version, mid));
    bool pending = strcmp(m->rotation_type, KMS_MAT_PENDING) == 0;
    json_t *e = json_pack("{s:s, s:s, s:s}", "KeyId", rs->k->key_id, "KeyMaterialId", mid,
                          "KeyMaterialState", pending ? "PENDING_ROTATION"
                          : m->version == rs->current ? "CURRENT" : "NON_CURRENT");
    GUARD(kms_append(list, e));
    if (strcmp(rs->k->origin, "EXTERNAL") == 0 && kms_key_is_symmetric(rs->k))
        GUARD(write_import(e, rs->k, m));
    if (m->rotation_type[0] == '\0' || pending) return TR_OK;
    GUARD(json_set_time(e, "RotationDate", m->created));
    return kms_set(e, "RotationType", json_string(m->rotation_type));
}

KMS_HANDLER(op_list_key_rotations)
{
    static const char *const INCLUDE[] = { "ALL_KEY_MATERIAL", "ROTATIONS_ONLY", NULL };
    const char *include;
    size_t limit, n = 0, first = 0;
    bool has_marker;
    char after[32];
    uint32_t after_v = 0;
    struct key_rec k;
    struct material_rec *mats = NULL;

    GUARD(kms_get_enum(in, "IncludeKeyMaterial", INCLUDE, &include));
    GUARD(kms_get_limit(in, 100, 1000, &limit));
    GUARD(kms_marker_decode(in, after, sizeof after, &has_marker));
    if (has_marker) {
        char *end;
        unsigned long v = strtoul(after, &end, 10);
        if (*end || v == 0 || v > UINT32_MAX) BAIL(TR_E_KMS_INVALID_MARKER, "Invalid marker");
        after_v = (uint32_t)v;
    }
    bool all = include && strcmp(include, "ALL_KEY_MATERIAL") == 0;
    GUARD(kms_key_for(rc, in, KR_KEY_ONLY, rc->op->action, KS_ANY, NULL, &k));

    tr_result r = rc->st[0]->material_list(rc->st, k.key_id, &mats, &n);
    /* The materials come ordered by version, the initial one (version 1,
     * no rotation type) first: the page starts after the marker's version
     * and, unless ALL_KEY_MATERIAL, after the initial material. */
    while (tr_ok(r) && first < n &&
           (mats[first].version <= after_v || (!all && mats[first].rotation_type[0] == '\0')))
        first++;
    /* Imported material waiting for rotation is the newest: a rotation
     * only once rotated to. */
    size_t end = n;
    if (tr_ok(r) && !all && end > first && strcmp(mats[end - 1].rotation_type, KMS_MAT_PENDING) == 0)
        end--;
    struct rotations rs = { .k = &k, .mats = mats, .current = kms_import_current(&k, mats, n) };
    if (tr_ok(r)) r = kms_page_write(rc, "Rotations", limit, first, end, write_rotation, &rs, out);
    material_list_free(mats, n);
    key_rec_free(&k);
    return r;
}

/* ---------------------------------------------------------------------- */
/* Maintenance                                                             */

/* One due key, in its own transaction.  The record is read again inside
 * the transaction: another node (or a request) may have changed it. */
static TR_RESULT maintain_one(const struct server_env *env, const char *key_id,
                              const char *region, int64_t now, bool *deleted, bool *rotated)
{
    store_t st = env->st;
    struct key_rec k;
    tr_result r;

    *deleted = *rotated = false;
    memset(&k, 0, sizeof k);
    GUARD(st[0]->tx_begin(st));
    r = kms_key_lookup(st, key_id, region, &k);
    if (tr_failed(r)) {
        if (tr_code(r) == TR_E_STORE_NOT_FOUND) r = TR_OK;   /* gone already */
        goto done;
    }
    /* Imported material whose ValidTo has passed is deleted (without its
     * current material the key goes to PendingImport); an EXTERNAL key
     * keeps its materials' earliest ValidTo in next_rotation and never
     * rotates automatically. */
    if (strcmp(k.origin, "EXTERNAL") == 0 && k.next_rotation > 0 && k.next_rotation <= now) {
        size_t expired = 0;
        r = kms_import_expire(st, &k, now, &expired);
        if (tr_failed(r)) goto done;
        if (expired)
            log_msg("info", "kms maintenance: %zu imported key material(s) of %s expired", expired,
                    k.arn);
    }
    if (strcmp(k.key_state, KEY_STATE_PENDING_DELETION) == 0) {
        if (k.deletion_date > 0 && k.deletion_date <= now) {
            /* Its grants go with it (grants.c); the store removes the
             * materials, aliases and tags; import.c what imports left. */
            r = kms_grants_delete_key(st, k.arn);
            if (tr_ok(r)) r = kms_import_forget(st, k.arn);
            if (tr_ok(r)) r = kms_usage_forget(st, k.arn);
            if (tr_ok(r)) r = st[0]->key_delete(st, k.key_id, k.region);
            if (tr_ok(r)) kms_forget_unwrapped();
            if (tr_ok(r) && kms_key_is_replica(&k)) r = kms_replica_deleted(st, k.key_id, now);
            *deleted = tr_ok(r);
        }
        goto done;
    }
    /* A replica rotates with its primary (kms_key_sync_related). */
    if (k.rotation_enabled && strcmp(k.origin, "EXTERNAL") != 0 && !kms_key_is_replica(&k) &&
        k.next_rotation > 0 && k.next_rotation <= now &&
        strcmp(k.key_state, KEY_STATE_ENABLED) == 0) {
        int64_t period = (int64_t)k.rotation_period_days * KMS_DAY;
        k.next_rotation += period;
        if (k.next_rotation <= now) k.next_rotation = now + period;
        r = kms_key_rotate(st, env->kr, &k, now, "AUTOMATIC");
        *rotated = tr_ok(r);
    }
done:
    if (tr_ok(r)) r = st[0]->tx_commit(st);
    if (tr_failed(r)) {
        st[0]->tx_rollback(st);
        *deleted = *rotated = false;
    }
    key_rec_free(&k);
    return r;
}

TR_RESULT kms_maintenance(const struct server_env *env, int64_t now)
{
    struct key_rec *due = NULL;
    size_t n = 0;
    tr_result first = TR_OK;

    ENSURE_REF(env);
    GUARD(env->st[0]->key_list_due(env->st, now, &due, &n));
    for (size_t i = 0; i < n; i++) {
        bool deleted, rotated;
        tr_result r = maintain_one(env, due[i].key_id, due[i].region, now, &deleted, &rotated);
        if (tr_failed(r)) {
            log_msg("error", "kms maintenance: key %s: %s", due[i].key_id,
                    tr_err_type(tr_code(r)));
            if (tr_ok(first)) first = r;
        } else if (deleted) {
            log_msg("info", "kms maintenance: deleted key %s", due[i].arn);
        } else if (rotated) {
            log_msg("info", "kms maintenance: rotated key %s", due[i].arn);
        }
    }
    key_list_free(due, n);

    /* GetKeyLastUsage (last_usage.c): the tracking start, recorded once
     * per store, then the uses since the last pass. */
    int64_t start;
    size_t written = 0;
    tr_result r = kms_usage_tracking_start(env->st, now, &start);
    if (tr_ok(r)) r = kms_usage_flush(env->st, &written);
    if (tr_failed(r)) {
        log_msg("error", "kms maintenance: key usage: %s", tr_err_type(tr_code(r)));
        if (tr_ok(first)) first = r;
    }
    return first;
}
