/*
 * last_usage.c -- GetKeyLastUsage: the last successful cryptographic
 * operation of each KMS key, kept off the request path's store writes.
 *
 * What counts as a use (API reference, GetKeyLastUsage): a successful
 * Decrypt, DeriveSharedSecret, Encrypt, GenerateDataKey,
 * GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext,
 * GenerateDataKeyWithoutPlaintext, GenerateMac, ReEncrypt (recorded on both
 * the source and the destination key), Sign, Verify or VerifyMac -- the
 * enum KeyLastUsageTrackingOperation.  A request that fails (a tampered
 * ciphertext, a wrong encryption context, a bad signature or MAC, a DryRun)
 * records nothing.  Secrets Manager's own KMS calls count as what they are
 * on AWS: GetSecretValue's Decrypt, a new version's GenerateDataKey; they
 * carry the Secrets Manager request's id.
 *
 * The hot path: each successful operation calls kms_usage_note, which
 * updates one entry of an in-memory table (store/last_use.c, shared with
 * GetAccessKeyLastUsed) -- 32 stripes of 128 slots,
 * each stripe under its own mutex, an entry found by a hash of the key
 * ARN's key id within a window of 8 slots -- and writes nothing to the
 * store.  The table is bounded: when a window is full of other keys'
 * entries, the oldest of them is dropped (counted: kms_usage_dropped) --
 * it holds only what is not yet in the store, 4096 keys used between two
 * maintenance passes.
 *
 * The store: kms_usage_flush, called by the periodic maintenance
 * (kms_maintenance, every minute; TRESOR_MAINTENANCE_INTERVAL) and at a
 * clean shutdown, writes each entry as an entity of kind "kms-key-usage"
 * (the generic entities table: no schema of its own), keyed by the key
 * ARN, its doc {"Operation", "Timestamp", "KmsRequestId",
 * "CloudTrailEventId"}.  A stored record newer than the entry is kept
 * (several nodes on one PostgreSQL store each write their own newer
 * record: the last use by timestamp wins); an entry of a key that no
 * longer exists is dropped.  An entry leaves the table only once written,
 * and only if no newer use replaced it meanwhile, so GetKeyLastUsage never
 * misses a use this node made.  What a crash loses: the uses of the last
 * maintenance period at most.
 *
 * GetKeyLastUsage answers the newer of the stored record and this node's
 * entry.  Deleting a key (its purge, kms_maintenance) deletes its record
 * and entry (kms_usage_forget).
 *
 * CloudTrailEventId: tresor's audit log (--audit-log) identifies a
 * request's line by the request id, so the event id is the request id,
 * the x-amzn-RequestId of the reply.
 *
 * TrackingStartDate: the later of the key's creation and the day this
 * store began tracking -- one entity of kind "kms-usage-start" that the
 * first maintenance pass of a tresor that tracks records once
 * (kms_usage_tracking_start).  A key created since then reports its
 * creation date; an older key the start date.
 */
#include "kms/kms.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "iam/arn.h"
#include "store/last_use.h"

#define LU_STRIPES 32          /* power of two */
#define LU_SLOTS   128         /* per stripe, power of two */
#define LU_WINDOW  8           /* slots probed from a key's home slot */
#define LU_ARN_MAX 160         /* a key ARN: arn:aws:kms:<region>:<account>:key/<id> */

#define START_KIND "kms-usage-start"
#define START_ARN  "tresor:kms:usage-tracking-start"

_Static_assert(sizeof(struct kms_usage) <= LAST_USE_REC_MAX, "struct kms_usage fits a last_use record");
_Static_assert(LU_ARN_MAX <= LAST_USE_KEY_MAX, "a key ARN fits a last_use key");

/* The operations GetKeyLastUsage reports (KeyLastUsageTrackingOperation),
 * which are also the static strings an entry points to. */
static const char *const USAGE_OPS[] = {
    "Decrypt", "DeriveSharedSecret", "Encrypt", "GenerateDataKey", "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext", "GenerateDataKeyWithoutPlaintext", "GenerateMac",
    "ReEncrypt", "Sign", "Verify", "VerifyMac", NULL,
};

const char *kms_usage_op_name(const char *op)
{
    for (const char *const *o = USAGE_OPS; op && *o; o++)
        if (strcmp(*o, op) == 0) return *o;
    return NULL;
}

/* A key ARN ends in its key id (36 characters), which is random: 16 of its
 * characters make the hash (a multi-Region key's replicas share the id,
 * and are told apart by the whole ARN). */
static uint32_t arn_hash(const char *arn, size_t n)
{
    uint64_t a = 0, b = 0;
    if (n >= 16) {
        memcpy(&a, arn + n - 16, 8);
        memcpy(&b, arn + n - 8, 8);
    } else {
        memcpy(&a, arn, n < 8 ? n : 8);
    }
    uint64_t h = (a ^ (b * 0x9E3779B97F4A7C15ull)) * 0xFF51AFD7ED558CCDull;
    return (uint32_t)(h >> 32);
}

/* A stored record's doc -> *rec; false when it is not one (then ignored). */
static bool usage_parse(const char *doc, void *rec, int64_t *ts)
{
    struct kms_usage *out = rec;
    json_error_t err;
    json_t *d = json_loads(doc, 0, &err);
    bool ok = false;
    memset(out, 0, sizeof *out);
    if (json_is_object(d)) {
        json_t *op = json_object_get(d, "Operation"), *t = json_object_get(d, "Timestamp");
        json_t *id = json_object_get(d, "KmsRequestId");
        out->op = kms_usage_op_name(json_string_value(op));
        if (out->op && json_is_integer(t) && json_is_string(id) &&
            strlen(json_string_value(id)) < sizeof out->request_id) {
            out->ts = *ts = json_integer_value(t);
            memcpy(out->request_id, json_string_value(id), strlen(json_string_value(id)) + 1);
            ok = true;
        }
    }
    json_decref(d);
    return ok;
}

static char *usage_dump(const void *rec, int64_t ts)
{
    const struct kms_usage *u = rec;
    json_t *d = json_pack("{s:s, s:I, s:s, s:s}", "Operation", u->op, "Timestamp", (json_int_t)ts,
                          "KmsRequestId", u->request_id, "CloudTrailEventId", u->request_id);
    char *doc = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    return doc;
}

/* The region, account and key id of a key ARN (arn_split), into
 * region[REGION_MAX], account[13] and key_id[37]. */
enum { REGION_MAX = 32 };

static bool arn_parts(const char *arn, char *region, char *account, char *key_id)
{
    struct arn_parts p;
    if (!arn_split(arn, strlen(arn), &p) || p.len[3] == 0 || p.len[3] >= REGION_MAX ||
        !arn_account_id(p.part[4], p.len[4]) || p.len[5] <= 4 || p.len[5] > 4 + 36 ||
        strncmp(p.part[5], "key/", 4) != 0)
        return false;
    memcpy(region, p.part[3], p.len[3]);
    region[p.len[3]] = '\0';
    memcpy(account, p.part[4], ACCOUNT_ID_LEN);
    account[ACCOUNT_ID_LEN] = '\0';
    memcpy(key_id, p.part[5] + 4, p.len[5] - 4);
    key_id[p.len[5] - 4] = '\0';
    return true;
}

/* The key of arn still exists (the same ARN): its account. */
static TR_RESULT usage_owner(store_t st, const char *arn, char account[ACCOUNT_ID_LEN + 1], bool *exists)
{
    char region[REGION_MAX], key_id[37];
    struct key_rec k;

    *exists = false;
    if (!arn_parts(arn, region, account, key_id)) return TR_OK;
    memset(&k, 0, sizeof k);
    tr_result r = st[0]->key_get(st, key_id, region, &k);
    if (tr_failed(r)) {
        if (tr_code(r) != TR_E_STORE_NOT_FOUND) return r;
        tr_clear_error();
        return TR_OK;
    }
    *exists = k.arn && strcmp(k.arn, arn) == 0;
    key_rec_free(&k);
    return TR_OK;
}

static const struct last_use_kind usage_kind = {
    .ent_kind = "kms-key-usage",
    .full_msg = "kms: the key usage",
    .rec_size = sizeof(struct kms_usage),
    .key_max = LU_ARN_MAX,
    .hash = arn_hash,
    .parse = usage_parse,
    .dump = usage_dump,
    .owner = usage_owner,
};

LAST_USE_TABLE(table, &usage_kind, LU_STRIPES, LU_SLOTS, LU_WINDOW);

void kms_usage_note_arn(const char *arn, const char *op, int64_t ts, const char *request_id)
{
    struct kms_usage u;
    if (NEVER(strlen(arn) >= LU_ARN_MAX) || NEVER(op == NULL)) return;
    memset(&u, 0, sizeof u);
    u.op = op;
    u.ts = ts;
    memcpy(u.request_id, request_id, strnlen(request_id, sizeof u.request_id - 1));
    (void)last_use_note(&table, arn, ts, &u);
}

void kms_usage_note(const struct req_ctx *rc, const struct key_rec *k, const char *op)
{
    if (!k->arn || !op) return;
    kms_usage_note_arn(k->arn, op, rc->now, rc->request_id);
}

bool kms_usage_peek(const char *arn, struct kms_usage *out)
{
    return last_use_peek(&table, arn, out);
}

size_t kms_usage_pending(void)
{
    return last_use_pending(&table);
}

uint64_t kms_usage_dropped(void)
{
    return last_use_dropped(&table);
}

void kms_usage_reset(void)
{
    last_use_reset(&table);
}

/* ---- the store ---------------------------------------------------------- */

TR_RESULT kms_usage_flush(store_t st, size_t *written)
{
    return last_use_flush(&table, st, written);
}

TR_RESULT kms_usage_get(store_t st, const struct key_rec *k, struct kms_usage *out)
{
    bool found;
    memset(out, 0, sizeof *out);
    ENSURE_REF(k->arn);
    return last_use_get(&table, st, k->arn, out, &found);
}

TR_RESULT kms_usage_forget(store_t st, const char *key_arn)
{
    return last_use_forget(&table, st, key_arn);
}

TR_RESULT kms_usage_tracking_start(store_t st, int64_t now, int64_t *start)
{
    struct ent_rec e;
    char empty[] = "", name[] = "tracking", arn[] = START_ARN, path[] = "/", doc[] = "{}";
    memset(&e, 0, sizeof e);
    *start = 0;
    tr_result r = st[0]->ent_get_arn(st, START_KIND, START_ARN, &e);
    if (tr_ok(r)) {
        *start = e.created;
        ent_rec_free(&e);
        return TR_OK;
    }
    if (tr_code(r) != TR_E_STORE_NOT_FOUND) return r;
    tr_clear_error();
    if (now <= 0) return TR_OK;                /* not recorded yet: not asked to */

    struct ent_rec w = { .name = name, .id = name, .arn = arn, .path = path, .doc = doc, .created = now };
    STR_SET(w.kind, START_KIND);
    STR_COPY_ARRAY(w.account_id, empty);
    GUARD(st[0]->tx_begin(st));
    r = st[0]->ent_put(st, &w);
    if (tr_ok(r)) r = st[0]->tx_commit(st);
    if (tr_ok(r)) {
        *start = now;
        log_msg("info", "kms: key usage tracking (GetKeyLastUsage) starts now, %" PRId64, now);
        return TR_OK;
    }
    st[0]->tx_rollback(st);
    /* Another node recorded it first: its date stands. */
    memset(&e, 0, sizeof e);
    if (tr_failed(st[0]->ent_get_arn(st, START_KIND, START_ARN, &e))) return r;
    tr_clear_error();
    *start = e.created;
    ent_rec_free(&e);
    return TR_OK;
}

/* ---- the operation ------------------------------------------------------ */

KMS_HANDLER(op_get_key_last_usage)
{
    struct key_rec k;
    struct kms_usage u;
    int64_t start = 0;
    json_t *reply = NULL;
    tr_result r;

    /* Key id or key ARN of the caller's account: no alias, no other account. */
    GUARD(kms_key_for(rc, in, KR_KEY_ONLY, rc->op->action, KS_ANY, NULL, &k));
    r = kms_usage_get(rc->st, &k, &u);
    if (tr_ok(r)) r = kms_usage_tracking_start(rc->st, 0, &start);
    if (tr_failed(r)) goto fail;
    if (start < k.created) start = k.created;

    reply = json_pack("{s:s, s:o}", "KeyId", k.key_id, "KeyLastUsage", json_object());
    if (!reply) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    if (u.op) {
        json_t *d = json_object_get(reply, "KeyLastUsage");
        r = kms_set(d, "Operation", json_string(u.op));
        if (tr_ok(r)) r = json_set_time(d, "Timestamp", u.ts);
        if (tr_ok(r)) r = kms_set(d, "CloudTrailEventId", json_string(u.request_id));
        if (tr_ok(r)) r = kms_set(d, "KmsRequestId", json_string(u.request_id));
    }
    if (tr_ok(r)) r = json_set_time(reply, "TrackingStartDate", start);
    if (tr_ok(r)) r = json_set_time(reply, "KeyCreationDate", k.created);
    if (tr_ok(r)) {
        *out = reply;
        reply = NULL;
    }
fail:
    json_decref(reply);
    key_rec_free(&k);
    return r;
}
