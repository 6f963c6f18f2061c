/*
 * replication.c -- Secrets Manager replication between the regions this
 * server serves: ReplicateSecretToRegions, RemoveRegionsFromReplication,
 * StopReplicationToReplica, CreateSecret's AddReplicaRegions (through
 * sm_replicate_add), and the propagation of every later write.
 *
 * AWS replicates asynchronously and reports InProgress until a replica
 * catches up.  tresor serves every region from one store, so it does the
 * work in the transaction of the write itself: when a request that
 * replicates or writes to a primary returns, each replica holds the
 * primary's versions (same VersionIds, labels, creation dates),
 * description, tags and resource policy -- or is marked Failed with the
 * reason, and keeps what it had.  That is why a status is InSync or
 * Failed here, never InProgress.
 *
 * A replica is a secret of its own region (name, random suffix and
 * account of the primary; its region in the ARN) sealed under its own
 * region's key: the KmsKeyId given for that region, or aws/secretsmanager
 * of that region, made on first use.  Each value is opened under the
 * primary's key and sealed again under the replica's, with the replica's
 * ARN in the encryption context, both KMS calls made as the caller
 * through Secrets Manager of the key's region (kms:ViaService
 * secretsmanager.<region>.amazonaws.com): the caller needs what a
 * secret created in that region would need.  A version the replica
 * already holds keeps its ciphertext (values never change once written:
 * only labels move), so a write costs one seal per replica per new
 * version.
 *
 * Replicas are read-only: authz.c refuses a writing operation on one once
 * the caller is authorized (SM_MSG_REPLICA_WRITE), except
 * StopReplicationToReplica, which turns it into a standalone secret.  A
 * primary with replicas cannot be deleted (manage.c).
 *
 * Where AWS's behaviour is not documented the choices are recorded in
 * docs/REPLICATION.md (the errors for a region that is not served, the
 * primary's own or already a replica; the StatusMessage of a KMS
 * failure).
 */
#include "secrets/replication.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hex.h"
#include "core/json.h"
#include "core/str.h"
#include "crypto/rand.h"
#include "iam/bindings.h"
#include "secrets/authz.h"
#include "secrets/envelope.h"
#include "secrets/lookup.h"
#include "secrets/manage.h"
#include "secrets/params.h"

#define F_REPLICAS "replicas"
#define F_PRIMARY  "primary_region"
#define ST_INSYNC  "InSync"
#define ST_FAILED  "Failed"
#define MSG_OK     "Replication succeeded"

/* The model's ReplicaRegionType. */
const struct json_field sm_replica_fields[] = {
    { "Region", 1, 128 }, { "KmsKeyId", 0, 2048 }, { NULL, 0, 0 },
};

/* ---- the stored state ---------------------------------------------------- */

const char *sm_replica_primary(const struct secret *s)
{
    return s->doc ? sm_doc_str(s->doc, F_PRIMARY) : NULL;
}

json_t *sm_replicas(const struct secret *s)
{
    json_t *a = s->doc ? json_object_get(s->doc, F_REPLICAS) : NULL;
    return json_array_size(a) > 0 ? a : NULL;
}

TR_RESULT sm_check_not_replica(const struct secret *s)
{
    if (sm_replica_primary(s)) BAIL(TR_E_SM_INVALID_PARAMETER, "%s", SM_MSG_REPLICA_WRITE);
    return TR_OK;
}

static json_t *replica_entry(json_t *replicas, const char *region)
{
    for (size_t i = 0; i < json_array_size(replicas); i++) {
        json_t *e = json_array_get(replicas, i);
        const char *r = json_string_value(json_object_get(e, "region"));
        if (r && strcmp(r, region) == 0) return e;
    }
    return NULL;
}

static TR_RESULT set_status(json_t *entry, const char *status, const char *msg)
{
    GUARD(sm_set(entry, "status", json_string(status)));
    return sm_set(entry, "message", json_string(msg));
}

/* The ARN of the replica of `arn` in `region` (malloc'd). */
static TR_RESULT replica_arn(const char *arn, const char *region, char **out)
{
    struct sm_arn_parts p;
    *out = NULL;
    ENSURE(sm_parse_arn(arn, &p), TR_E_INTERNAL);
    size_t n = strlen(arn) + strlen(region) + 1;
    char *a = malloc(n);
    ENSURE(a != NULL, TR_E_INTERNAL);
    snprintf(a, n, "arn:aws:secretsmanager:%s:%s:secret:%s", region, p.account, p.rest);   /* fits: n */
    *out = a;
    return TR_OK;
}

/* When the replica of s in `region` was last read (day precision; 0 =
 * never or not found): its entity's doc, without loading its versions. */
static double replica_accessed(struct req_ctx *rc, const struct secret *s, const char *region)
{
    struct ent_rec e;
    char *arn = NULL;
    double t = 0;
    memset(&e, 0, sizeof e);
    if (tr_ok(replica_arn(s->arn, region, &arn)) && tr_ok(rc->st[0]->ent_get_arn(rc->st, SM_KIND, arn, &e))) {
        json_t *d = e.doc ? json_loads(e.doc, 0, NULL) : NULL;
        t = d ? sm_doc_num(d, "last_accessed") : 0;
        json_decref(d);
    }
    tr_clear_error();
    ent_rec_free(&e);
    free(arn);
    return t;
}

TR_RESULT sm_describe_replication(struct req_ctx *rc, const struct secret *s, json_t *obj)
{
    const char *primary = sm_replica_primary(s);
    if (primary) return sm_set(obj, "PrimaryRegion", json_string(primary));
    json_t *reps = sm_replicas(s);
    if (!reps) return TR_OK;
    json_t *a = json_array();
    ENSURE(a != NULL, TR_E_INTERNAL);
    tr_result r = sm_set(obj, "PrimaryRegion", json_string(s->region));
    if (tr_ok(r)) r = sm_set(obj, "ReplicationStatus", a);
    else json_decref(a);
    for (size_t i = 0; tr_ok(r) && i < json_array_size(reps); i++) {
        json_t *e = json_array_get(reps, i);
        const char *region = sm_doc_str(e, "region");
        const char *key = sm_doc_str(e, "kms_key_id");
        const char *msg = sm_doc_str(e, "message");
        json_t *o = json_pack("{s:s?, s:s, s:s?}", "Region", region, "KmsKeyId",
                              key ? key : SM_MANAGED_ALIAS, "Status", sm_doc_str(e, "status"));
        if (!o || json_array_append_new(a, o) != 0) {
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
            break;
        }
        if (msg) r = sm_set(o, "StatusMessage", json_string(msg));
        double seen = region ? replica_accessed(rc, s, region) : 0;
        if (tr_ok(r) && seen) r = sm_set(o, "LastAccessedDate", json_integer((json_int_t)seen));
    }
    return r;
}

/* ---- one replica --------------------------------------------------------- */

static TR_RESULT dup_str(char **dst, const char *src)
{
    free(*dst);
    *dst = NULL;
    if (!src) return TR_OK;
    *dst = strdup(src);
    ENSURE(*dst != NULL, TR_E_INTERNAL);
    return TR_OK;
}

/* Seal version i of rep (a copy of p's) under rep's key, from p's value,
 * with rc->region switched to the replica's for the KMS call (the
 * managed key of that region, kms:ViaService of that region). */
static TR_RESULT reseal(struct req_ctx *rc, const struct secret *p, struct secret *rep, size_t i)
{
    struct buf pt = BUF_SECRET(SM_VALUE_MAX + 64);
    char saved[sizeof rc->region];
    struct secret_version *v = &rep->versions[i];
    tr_result r = sm_open(rc, p, &p->versions[i], &pt);
    if (tr_ok(r)) {
        memcpy(saved, rc->region, sizeof saved);
        STR_COPY_ARRAY(rc->region, rep->region);
        r = sm_key_authorize_encrypt(rc, rep, v->id);
        if (tr_ok(r)) r = sm_seal(rc, rep, v, pt.data, pt.len, p->versions[i].binary);
        memcpy(rc->region, saved, sizeof saved);
    }
    buf_free(&pt);
    return r;
}

/* rep, built from p for `entry`'s region, reusing what `old` (the
 * replica as stored, when `has_old`) already sealed. */
static TR_RESULT build(struct req_ctx *rc, const struct secret *p, json_t *entry,
                       const struct secret *old, bool has_old, struct secret *rep)
{
    const char *region = sm_doc_str(entry, "region");
    const char *key = sm_doc_str(entry, "kms_key_id");
    uint8_t idb[16];
    char id[33];
    ENSURE(region != NULL, TR_E_INTERNAL);
    GUARD(secret_copy(p, rep));
    tr_result r = TR_OK;
    if (has_old) r = dup_str(&rep->id, old->id);
    else {
        r = rand_bytes(idb, sizeof idb);
        hex_encode(idb, sizeof idb, id);
        if (tr_ok(r)) r = dup_str(&rep->id, id);
    }
    free(rep->arn);
    rep->arn = NULL;
    if (tr_ok(r)) r = replica_arn(p->arn, region, &rep->arn);
    if (tr_ok(r)) r = str_copy(rep->region, sizeof rep->region, region, "the region");
    if (tr_ok(r)) r = dup_str(&rep->kms_key_id, key);
    /* What the stored replica sealed is kept only under the same key (a
     * Failed region asked again may name another). */
    bool reuse = has_old && ((!key && !old->kms_key_id) ||
                             (key && old->kms_key_id && strcmp(key, old->kms_key_id) == 0));
    if (tr_ok(r)) r = dup_str(&rep->kms_key_arn, reuse ? old->kms_key_arn : NULL);
    if (tr_ok(r)) {
        rep->last_accessed = has_old ? old->last_accessed : 0;
        json_object_del(rep->doc, F_REPLICAS);
        r = sm_set(rep->doc, F_PRIMARY, json_string(p->region));
    }
    if (tr_ok(r) && rep->policy) {
        free(rep->policy_ids);
        rep->policy_ids = NULL;
        r = iam_bind_policy(rc->st, rep->policy, POLICY_RESOURCE, &rep->policy_ids);
    }
    for (size_t i = 0; tr_ok(r) && i < rep->nversions; i++) {
        struct secret_version *v = &rep->versions[i];
        const struct secret_version *ov = has_old ? sm_version_by_id(old, v->id) : NULL;
        v->last_accessed = ov ? ov->last_accessed : 0;
        if (!v->ct) continue;
        if (reuse && ov && ov->ct && ov->edk) {
            r = dup_str(&v->ct, ov->ct);
            if (tr_ok(r)) r = dup_str(&v->edk, ov->edk);
            if (tr_ok(r)) r = dup_str(&v->key_arn, ov->key_arn);
            if (tr_ok(r) && ov->doc) {
                json_decref(v->doc);
                v->doc = json_deep_copy(ov->doc);
                if (!v->doc) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
            }
            continue;
        }
        r = reseal(rc, p, rep, i);
    }
    return r;
}

/* Write rep in place of old (when has_old): the entity, its versions in
 * creation order, its tags (p's). */
static TR_RESULT write_replica(struct req_ctx *rc, const struct secret *p, const struct secret *old,
                               bool has_old, const struct secret *rep)
{
    struct tag_rec *tags = NULL;
    size_t nt = 0;
    if (has_old) GUARD(sm_purge(rc->st, old));
    GUARD(sm_save(rc->st, rep, true));
    for (size_t i = 0; i < rep->nversions; i++) GUARD(sm_version_insert(rc->st, rep, &rep->versions[i]));
    GUARD(rc->st[0]->tag_list(rc->st, p->arn, &tags, &nt));
    tr_result r = TR_OK;
    for (size_t i = 0; i < nt && tr_ok(r); i++)
        r = rc->st[0]->tag_set(rc->st, rep->arn, tags[i].key, tags[i].value ? tags[i].value : "");
    tag_list_free(tags, nt);
    return r;
}

/* Is `s` (found by name in a replica region) p's own replica? */
static bool is_replica_of(const struct secret *s, const struct secret *p)
{
    const char *pr = sm_replica_primary(s);
    struct sm_arn_parts a, b;
    return pr && strcmp(pr, p->region) == 0 && sm_parse_arn(s->arn, &a) && sm_parse_arn(p->arn, &b) &&
           strcmp(a.rest, b.rest) == 0;
}

/* Bring the replica `entry` names up to date with p (all versions held);
 * the outcome goes into entry's status.  Only store failures fail. */
static TR_RESULT sync_one(struct req_ctx *rc, const struct secret *p, json_t *entry, bool force)
{
    const char *region = sm_doc_str(entry, "region");
    struct secret old, rep;
    bool found = false;
    char msg[TR_ERR_MSG_MAX + 64];
    memset(&old, 0, sizeof old);
    memset(&rep, 0, sizeof rep);
    ENSURE(region != NULL, TR_E_INTERNAL);
    tr_result r = sm_lookup_name(rc->st, p->account, region, p->name, &old, &found);
    if (tr_ok(r) && found && old.held != SM_HELD_ALL) r = sm_load_all_versions(rc->st, &old);
    if (tr_failed(r)) goto fail;
    bool ours = found && is_replica_of(&old, p);
    if (found && !ours && !force) {
        /* fits: a name of SM_NAME_MAX and a region of 64 leave room */
        snprintf(msg, sizeof msg, "Replication failed: Secret name %s already exists in region %s.",
                 p->name, region);
        r = set_status(entry, ST_FAILED, msg);
        goto fail;
    }
    /* ForceOverwriteReplicaSecret replaces a standalone secret only: one
     * that is itself a primary with replicas, or another primary's
     * replica, would leave the links of its replication set dangling.
     * AWS does not say what it does there; the replica fails and the
     * secret there is untouched (docs/REPLICATION.md). */
    const char *other_primary = found && !ours ? sm_replica_primary(&old) : NULL;
    if (other_primary) {
        /* fits: a name of SM_NAME_MAX and two regions of 64 leave room */
        snprintf(msg, sizeof msg, "Replication failed: Secret name %s in region %s is a replica of a secret in "
                 "region %s and can't be overwritten.", p->name, region, other_primary);
        r = set_status(entry, ST_FAILED, msg);
        goto fail;
    }
    if (found && !ours && sm_replicas(&old)) {
        /* fits: a name of SM_NAME_MAX and a region of 64 leave room */
        snprintf(msg, sizeof msg, "Replication failed: Secret name %s in region %s is a primary secret with "
                 "replicas and can't be overwritten.", p->name, region);
        r = set_status(entry, ST_FAILED, msg);
        goto fail;
    }
    r = build(rc, p, entry, &old, ours, &rep);
    if (tr_failed(r)) {
        if (tr_err_status(tr_code(r)) >= 500) goto fail;
        /* KMS refused (denied, disabled, pending deletion, not found):
         * the replica keeps what it had. */
        const struct tr_error_info *e = tr_last_error();
        snprintf(msg, sizeof msg, "Replication failed: %s",         /* fits: truncated */
                 e->has_message ? e->message : "the replica's KMS key cannot be used");
        tr_clear_error();
        r = set_status(entry, ST_FAILED, msg);
        goto fail;
    }
    if (found && !ours) {
        /* Overwritten (ForceOverwriteReplicaSecret): every version of the
         * secret that was there goes. */
        r = sm_purge(rc->st, &old);
        if (tr_ok(r)) r = write_replica(rc, p, NULL, false, &rep);
    } else {
        r = write_replica(rc, p, &old, ours, &rep);
    }
    if (tr_ok(r)) r = set_status(entry, ST_INSYNC, MSG_OK);
fail:
    secret_free(&old);
    secret_free(&rep);
    return r;
}

/* The primary `arn` of rc->region, as stored now, every version held;
 * *found false when gone. */
static TR_RESULT load_primary(struct req_ctx *rc, const char *arn, struct secret *p, bool *found)
{
    struct ent_rec e;
    memset(&e, 0, sizeof e);
    memset(p, 0, sizeof *p);
    *found = false;
    tr_result r = rc->st[0]->ent_get_arn(rc->st, SM_KIND, arn, &e);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND) {
        tr_clear_error();
        return TR_OK;
    }
    if (tr_ok(r)) r = sm_load(rc->st, &e, p);
    if (tr_ok(r) && p->held != SM_HELD_ALL) r = sm_load_all_versions(rc->st, p);
    ent_rec_free(&e);
    if (tr_ok(r)) *found = true;
    else secret_free(p);
    return r;
}

/* Sync the replicas of p whose region is in `only` (NULL: all), then save
 * p's statuses. */
static TR_RESULT sync_all(struct req_ctx *rc, struct secret *p, json_t *only, bool force)
{
    json_t *reps = sm_replicas(p);
    tr_result r = TR_OK;
    for (size_t i = 0; tr_ok(r) && i < json_array_size(reps); i++) {
        json_t *e = json_array_get(reps, i);
        const char *region = sm_doc_str(e, "region");
        bool pick = !only;
        for (size_t j = 0; !pick && j < json_array_size(only); j++)
            pick = region && strcmp(json_string_value(json_object_get(json_array_get(only, j), "Region")),
                                    region) == 0;
        if (pick) r = sync_one(rc, p, e, force);
    }
    if (tr_ok(r)) r = sm_save(rc->st, p, false);
    return r;
}

TR_RESULT sm_replicas_sync(struct req_ctx *rc, const char *arn)
{
    struct secret p;
    bool found;
    GUARD(load_primary(rc, arn, &p, &found));
    if (!found) return TR_OK;
    tr_result r = sm_replicas(&p) && !sm_replica_primary(&p) ? sync_all(rc, &p, NULL, false) : TR_OK;
    secret_free(&p);
    return r;
}

TR_RESULT sm_replicate_add(struct req_ctx *rc, const char *arn, json_t *replicas, bool force)
{
    struct secret p;
    bool found;
    GUARD(load_primary(rc, arn, &p, &found));
    tr_result r = found ? TR_OK : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    json_t *reps = found ? json_object_get(p.doc, F_REPLICAS) : NULL;
    if (tr_ok(r) && !json_is_array(reps)) {
        reps = json_array();
        r = sm_set(p.doc, F_REPLICAS, reps);
    }
    /* Every region checked before anything is written. */
    for (size_t i = 0; tr_ok(r) && i < json_array_size(replicas); i++) {
        json_t *q = json_array_get(replicas, i);
        const char *region = json_string_value(json_object_get(q, "Region"));
        bool twice = false;
        for (size_t j = 0; j < i; j++)
            twice |= strcmp(region, json_string_value(json_object_get(json_array_get(replicas, j),
                                                                      "Region"))) == 0;
        /* A region replicated to already may be asked again only when
         * its replication failed (a retry, e.g. with ForceOverwrite). */
        const char *was = sm_doc_str(replica_entry(reps, region), "status");
        if (twice || strcmp(region, p.region) == 0 || (was && strcmp(was, ST_FAILED) != 0) ||
            !server_region_served(rc->env, region))
            r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_INVALID_PARAMETER, "%s", SM_MSG_BAD_REPLICA_REGION);
    }
    for (size_t i = 0; tr_ok(r) && i < json_array_size(replicas); i++) {
        json_t *q = json_array_get(replicas, i);
        const char *key = json_string_value(json_object_get(q, "KmsKeyId"));
        json_t *e = replica_entry(reps, json_string_value(json_object_get(q, "Region")));
        if (e) json_object_del(e, "kms_key_id");
        else {
            e = json_pack("{s:O}", "region", json_object_get(q, "Region"));
            if (!e || json_array_append_new(reps, e) != 0) {
                r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
                break;
            }
        }
        if (key && *key) r = sm_set(e, "kms_key_id", json_string(key));
    }
    if (tr_ok(r)) r = sync_all(rc, &p, replicas, force);
    if (found) secret_free(&p);
    return r;
}

/* ---- the operations ------------------------------------------------------- */

TR_RESULT sm_reply_replication(struct req_ctx *rc, const char *arn, json_t *obj)
{
    struct secret p;
    bool found;
    GUARD(load_primary(rc, arn, &p, &found));
    ENSURE(found, TR_E_INTERNAL);
    json_t *tmp = json_object();
    tr_result r = tmp ? sm_describe_replication(rc, &p, tmp) : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    json_t *st = tmp ? json_object_get(tmp, "ReplicationStatus") : NULL;
    if (tr_ok(r)) r = sm_set(obj, "ReplicationStatus", st ? json_incref(st) : json_array());
    json_decref(tmp);
    secret_free(&p);
    return r;
}

/* {"ARN", "ReplicationStatus"} of the primary `arn` as stored now. */
static TR_RESULT reply_status(struct req_ctx *rc, const char *arn, json_t **out)
{
    json_t *o = json_pack("{s:s}", "ARN", arn);
    ENSURE(o != NULL, TR_E_INTERNAL);
    tr_result r = sm_reply_replication(rc, arn, o);
    if (tr_failed(r)) { json_decref(o); return r; }
    *out = o;
    return TR_OK;
}

SM_HANDLER(sm_op_replicate_secret_to_regions)
{
    const char *id;
    bool force = false, has_force = false;
    json_t *regions;
    struct ctx_builder c;
    struct secret s;
    tr_result r;
    memset(&s, 0, sizeof s);
    GUARD(sm_get_secret_id(in, &id));
    GUARD(json_get_struct_list(in, "AddReplicaRegions", true, 1, sm_replica_fields, &regions));
    GUARD(json_get_bool(in, "ForceOverwriteReplicaSecret", &has_force, &force));
    sm_ctx_init(&c);
    r = sm_ctx_add_replica_regions(&c, regions);
    if (tr_ok(r) && has_force)
        r = iam_ctx_add(&c, "secretsmanager:ForceOverwriteReplicaSecret", force ? "true" : "false");
    if (tr_ok(r)) r = sm_find_authorized(rc, rc->op->action, id, c.e, c.n, true, &s);
    iam_ctx_free(&c);
    if (tr_failed(r)) return r;
    r = sm_replicate_add(rc, s.arn, regions, force);
    if (tr_ok(r)) r = reply_status(rc, s.arn, out);
    secret_free(&s);
    return r;
}

SM_HANDLER(sm_op_remove_regions_from_replication)
{
    const char *id;
    json_t *regions;
    struct secret s, p;
    bool found = false;
    tr_result r;
    GUARD(sm_get_secret_id(in, &id));
    GUARD(json_get_str_list(in, "RemoveReplicaRegions", true, SIZE_MAX, 1, 128, &regions));
    if (json_array_size(regions) < 1)
        return json_invalid("RemoveReplicaRegions", NULL, "Member must have length greater than or equal to 1");
    GUARD(sm_find_authorized(rc, rc->op->action, id, NULL, 0, true, &s));
    r = load_primary(rc, s.arn, &p, &found);
    if (tr_ok(r) && !found) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    json_t *reps = found ? sm_replicas(&p) : NULL;
    /* Every region must be a replica of the secret; then each goes. */
    for (size_t i = 0; tr_ok(r) && i < json_array_size(regions); i++)
        if (!replica_entry(reps, json_string_value(json_array_get(regions, i))))
            r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_INVALID_PARAMETER, "%s", SM_MSG_BAD_REPLICA_REGION);
    for (size_t i = 0; tr_ok(r) && i < json_array_size(regions); i++) {
        const char *region = json_string_value(json_array_get(regions, i));
        struct secret rep;
        bool there = false;
        r = sm_lookup_name(rc->st, p.account, region, p.name, &rep, &there);
        if (tr_ok(r) && there && is_replica_of(&rep, &p)) {
            if (rep.held != SM_HELD_ALL) r = sm_load_all_versions(rc->st, &rep);
            if (tr_ok(r)) r = sm_purge(rc->st, &rep);
        }
        if (there) secret_free(&rep);
        for (size_t j = 0; tr_ok(r) && j < json_array_size(reps); j++) {
            const char *rr = sm_doc_str(json_array_get(reps, j), "region");
            if (rr && strcmp(rr, region) == 0) {
                json_array_remove(reps, j);
                break;
            }
        }
    }
    if (tr_ok(r)) r = sm_save(rc->st, &p, false);
    if (tr_ok(r)) r = reply_status(rc, s.arn, out);
    if (found) secret_free(&p);
    secret_free(&s);
    return r;
}

SM_HANDLER(sm_op_stop_replication_to_replica)
{
    struct secret s, p;
    bool found = false;
    GUARD(sm_find_for_op(rc, in, true, &s));
    const char *primary = sm_replica_primary(&s);
    tr_result r = TR_OK;
    if (!primary)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_INVALID_PARAMETER, "The secret %s is not a "
                       "replica secret.", s.arn);
    /* The primary forgets this region... */
    if (tr_ok(r)) r = sm_lookup_name(rc->st, s.account, primary, s.name, &p, &found);
    if (tr_ok(r) && found && is_replica_of(&s, &p)) {
        json_t *reps = sm_replicas(&p);
        for (size_t j = 0; j < json_array_size(reps); j++) {
            const char *rr = sm_doc_str(json_array_get(reps, j), "region");
            if (rr && strcmp(rr, s.region) == 0) {
                json_array_remove(reps, j);
                break;
            }
        }
        r = sm_save(rc->st, &p, false);
    }
    if (found) secret_free(&p);
    /* ... and the replica stands alone. */
    if (tr_ok(r)) {
        json_object_del(s.doc, F_PRIMARY);
        s.last_changed = sm_now(rc);
        r = sm_save(rc->st, &s, false);
    }
    if (tr_ok(r)) {
        *out = json_pack("{s:s}", "ARN", s.arn);
        if (!*out) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    secret_free(&s);
    return r;
}

/* ---- the runner ------------------------------------------------------------ */

/* The primary with replicas the running write found (sm_replica_note),
 * malloc'd; NULL when none.  Per thread: a request runs on one thread,
 * from sm_run_op's start to its end. */
static _Thread_local char *noted_arn;
static _Thread_local bool noted_failed;

void sm_replica_note(const struct secret *s)
{
    if (noted_arn || !sm_replicas(s) || sm_replica_primary(s)) return;
    noted_arn = strdup(s->arn);     /* NULL (out of memory) is caught by sm_run_op */
    noted_failed = noted_arn == NULL;
}

TR_RESULT sm_run_op(struct req_ctx *rc, json_t *in, json_t **out,
                    TR_RESULT (*handler)(struct req_ctx *, json_t *, json_t **), bool write)
{
    free(noted_arn);
    noted_arn = NULL;
    noted_failed = false;
    tr_result r = handler(rc, in, out);
    char *arn = noted_arn;
    noted_arn = NULL;
    if (tr_ok(r) && write && noted_failed) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    if (tr_ok(r) && write && arn) r = sm_replicas_sync(rc, arn);
    free(arn);
    if (tr_failed(r) && out) {
        json_decref(*out);
        *out = NULL;
    }
    return r;
}
