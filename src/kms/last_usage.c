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
 * updates one entry of an in-memory table -- 32 stripes of 128 slots,
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
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "iam/arn.h"

#define LU_STRIPES 32          /* power of two */
#define LU_SLOTS   128         /* per stripe, power of two */
#define LU_WINDOW  8           /* slots probed from a key's home slot */
#define LU_ARN_MAX 160         /* a key ARN: arn:aws:kms:<region>:<account>:key/<id> */

#define USAGE_KIND "kms-key-usage"
#define START_KIND "kms-usage-start"
#define START_ARN  "tresor:kms:usage-tracking-start"

/* The operations GetKeyLastUsage reports (KeyLastUsageTrackingOperation),
 * which are also the static strings an entry points to. */
static const char *const USAGE_OPS[] = {
    "Decrypt", "DeriveSharedSecret", "Encrypt", "GenerateDataKey", "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext", "GenerateDataKeyWithoutPlaintext", "GenerateMac",
    "ReEncrypt", "Sign", "Verify", "VerifyMac", NULL,
};

struct lu_entry {
    uint32_t hash;
    const char *op;            /* NULL: a free slot */
    int64_t ts;
    char request_id[37];
    char arn[LU_ARN_MAX];
};

struct lu_stripe {
    pthread_mutex_t mu;
    struct lu_entry e[LU_SLOTS];
};

static struct lu_stripe table[LU_STRIPES];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static atomic_uint_fast64_t dropped;

static void table_init(void)
{
    for (size_t i = 0; i < LU_STRIPES; i++) pthread_mutex_init(&table[i].mu, NULL);
}

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

static struct lu_stripe *stripe_of(uint32_t h)
{
    return &table[(h >> 24) & (LU_STRIPES - 1)];
}

/* The slot of arn in s (its lock held), or NULL. */
static struct lu_entry *find(struct lu_stripe *s, uint32_t h, const char *arn)
{
    for (size_t i = 0; i < LU_WINDOW; i++) {
        struct lu_entry *e = &s->e[(h + i) & (LU_SLOTS - 1)];
        if (e->op && e->hash == h && strcmp(e->arn, arn) == 0) return e;
    }
    return NULL;
}

void kms_usage_note_arn(const char *arn, const char *op, int64_t ts, const char *request_id)
{
    size_t n = strlen(arn);
    if (NEVER(n >= LU_ARN_MAX) || NEVER(op == NULL)) return;
    pthread_once(&table_once, table_init);
    uint32_t h = arn_hash(arn, n);
    struct lu_stripe *s = stripe_of(h);
    pthread_mutex_lock(&s->mu);
    struct lu_entry *hit = NULL, *free_slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < LU_WINDOW; i++) {
        struct lu_entry *e = &s->e[(h + i) & (LU_SLOTS - 1)];
        if (!e->op) {
            if (!free_slot) free_slot = e;
        } else if (e->hash == h && strcmp(e->arn, arn) == 0) {
            hit = e;
            break;
        } else if (!oldest || e->ts < oldest->ts) {
            oldest = e;
        }
    }
    if (hit) {
        /* Newest wins; of two in the same second, the later call. */
        if (ts >= hit->ts) {
            hit->op = op;
            hit->ts = ts;
            memcpy(hit->request_id, request_id, sizeof hit->request_id - 1);
        }
    } else {
        struct lu_entry *e = free_slot ? free_slot : oldest;
        if (!free_slot) atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
        e->hash = h;
        e->op = op;
        e->ts = ts;
        memcpy(e->request_id, request_id, sizeof e->request_id - 1);
        memcpy(e->arn, arn, n + 1);
    }
    pthread_mutex_unlock(&s->mu);
}

void kms_usage_note(const struct req_ctx *rc, const struct key_rec *k, const char *op)
{
    if (!k->arn || !op) return;
    kms_usage_note_arn(k->arn, op, rc->now, rc->request_id);
}

bool kms_usage_peek(const char *arn, struct kms_usage *out)
{
    size_t n = strlen(arn);
    bool found = false;
    memset(out, 0, sizeof *out);
    if (n >= LU_ARN_MAX) return false;
    pthread_once(&table_once, table_init);
    uint32_t h = arn_hash(arn, n);
    struct lu_stripe *s = stripe_of(h);
    pthread_mutex_lock(&s->mu);
    struct lu_entry *e = find(s, h, arn);
    if (e) {
        out->op = e->op;
        out->ts = e->ts;
        memcpy(out->request_id, e->request_id, sizeof out->request_id);
        found = true;
    }
    pthread_mutex_unlock(&s->mu);
    return found;
}

/* Take arn's entry out of the table when it still says exactly u (it was
 * written; a newer use stays for the next flush).  NULL u: whatever it
 * says. */
static void take_out(const char *arn, const struct kms_usage *u)
{
    size_t n = strlen(arn);
    if (n >= LU_ARN_MAX) return;
    pthread_once(&table_once, table_init);
    uint32_t h = arn_hash(arn, n);
    struct lu_stripe *s = stripe_of(h);
    pthread_mutex_lock(&s->mu);
    struct lu_entry *e = find(s, h, arn);
    if (e && (!u || (e->op == u->op && e->ts == u->ts &&
                     strcmp(e->request_id, u->request_id) == 0)))
        memset(e, 0, sizeof *e);
    pthread_mutex_unlock(&s->mu);
}

size_t kms_usage_pending(void)
{
    size_t n = 0;
    pthread_once(&table_once, table_init);
    for (size_t i = 0; i < LU_STRIPES; i++) {
        pthread_mutex_lock(&table[i].mu);
        for (size_t j = 0; j < LU_SLOTS; j++) n += table[i].e[j].op != NULL;
        pthread_mutex_unlock(&table[i].mu);
    }
    return n;
}

uint64_t kms_usage_dropped(void)
{
    return atomic_load_explicit(&dropped, memory_order_relaxed);
}

void kms_usage_reset(void)
{
    pthread_once(&table_once, table_init);
    for (size_t i = 0; i < LU_STRIPES; i++) {
        pthread_mutex_lock(&table[i].mu);
        memset(table[i].e, 0, sizeof table[i].e);
        pthread_mutex_unlock(&table[i].mu);
    }
    atomic_store_explicit(&dropped, 0, memory_order_relaxed);
}

/* ---- the store ---------------------------------------------------------- */

/* A stored record's doc -> *out; false when it is not one (then ignored). */
static bool usage_parse(const char *doc, struct kms_usage *out)
{
    json_error_t err;
    json_t *d = json_loads(doc, 0, &err);
    bool ok = false;
    memset(out, 0, sizeof *out);
    if (json_is_object(d)) {
        json_t *op = json_object_get(d, "Operation"), *ts = json_object_get(d, "Timestamp");
        json_t *id = json_object_get(d, "KmsRequestId");
        out->op = kms_usage_op_name(json_string_value(op));
        if (out->op && json_is_integer(ts) && json_is_string(id) &&
            strlen(json_string_value(id)) < sizeof out->request_id) {
            out->ts = json_integer_value(ts);
            memcpy(out->request_id, json_string_value(id), strlen(json_string_value(id)) + 1);
            ok = true;
        }
    }
    json_decref(d);
    if (!ok) memset(out, 0, sizeof *out);
    return ok;
}

/* The stored record of arn into *out; *found false when none or not one
 * (*exists: whether there is a row, even one that is not a record). */
static TR_RESULT stored_get(store_t st, const char *arn, struct kms_usage *out, bool *found,
                            bool *exists)
{
    struct ent_rec e;
    memset(&e, 0, sizeof e);
    *found = *exists = false;
    memset(out, 0, sizeof *out);
    tr_result r = st[0]->ent_get_arn(st, USAGE_KIND, arn, &e);
    if (tr_failed(r)) {
        if (tr_code(r) != TR_E_STORE_NOT_FOUND) return r;
        tr_clear_error();
        return TR_OK;
    }
    *exists = true;
    *found = usage_parse(e.doc, out);
    ent_rec_free(&e);
    return TR_OK;
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

/* Write u as arn's record unless the store has a newer one, inside the
 * caller's transaction; nothing for a key that no longer exists. */
static TR_RESULT stored_put(store_t st, const char *arn, const struct kms_usage *u)
{
    char region[REGION_MAX], account[ACCOUNT_ID_LEN + 1], key_id[37], path[] = "/";
    struct kms_usage old;
    struct key_rec k;
    bool found, exists;
    tr_result r;

    if (!arn_parts(arn, region, account, key_id)) return TR_OK;
    memset(&k, 0, sizeof k);
    r = st[0]->key_get(st, key_id, region, &k);
    if (tr_failed(r)) {
        if (tr_code(r) != TR_E_STORE_NOT_FOUND) return r;
        tr_clear_error();
        return TR_OK;                          /* deleted: its use goes with it */
    }
    bool same = k.arn && strcmp(k.arn, arn) == 0;
    key_rec_free(&k);
    if (!same) return TR_OK;
    GUARD(stored_get(st, arn, &old, &found, &exists));
    if (found && old.ts > u->ts) return TR_OK;  /* another node's newer use */

    json_t *d = json_pack("{s:s, s:I, s:s, s:s}", "Operation", u->op, "Timestamp", (json_int_t)u->ts,
                          "KmsRequestId", u->request_id, "CloudTrailEventId", u->request_id);
    char *doc = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    ENSURE(doc != NULL, TR_E_INTERNAL);
    char *a = (char *)(uintptr_t)arn;
    struct ent_rec e = { .name = a, .id = a, .arn = a, .path = path, .doc = doc, .created = u->ts };
    STR_SET(e.kind, USAGE_KIND);
    STR_COPY_ARRAY(e.account_id, account);
    r = exists ? st[0]->ent_update(st, &e) : st[0]->ent_put(st, &e);
    free(doc);
    return r;
}

/* One stripe's entries, copied out under its lock. */
static size_t stripe_copy(struct lu_stripe *s, struct lu_entry *out)
{
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t j = 0; j < LU_SLOTS; j++)
        if (s->e[j].op) out[n++] = s->e[j];
    pthread_mutex_unlock(&s->mu);
    return n;
}

TR_RESULT kms_usage_flush(store_t st, size_t *written)
{
    struct lu_entry *batch = malloc(sizeof (struct lu_entry) * LU_SLOTS);
    tr_result first = TR_OK;

    *written = 0;
    ENSURE(batch != NULL, TR_E_INTERNAL);
    pthread_once(&table_once, table_init);
    /* Flushes run on one thread (maintenance, then the shutdown). */
    static uint64_t reported;
    uint64_t lost = kms_usage_dropped();
    if (lost < reported) reported = 0;             /* reset since */
    if (lost > reported)
        log_msg("warn", "kms: the key usage table was full: %" PRIu64 " use%s of keys dropped since "
                "the last pass (more than %d keys used in one maintenance period)", lost - reported,
                lost - reported == 1 ? "" : "s", LU_STRIPES * LU_SLOTS);
    reported = lost;
    for (size_t i = 0; i < LU_STRIPES; i++) {
        size_t n = stripe_copy(&table[i], batch);
        if (n == 0) continue;
        tr_result r = st[0]->tx_begin(st);
        for (size_t j = 0; j < n && tr_ok(r); j++) {
            struct kms_usage u = { .op = batch[j].op, .ts = batch[j].ts };
            memcpy(u.request_id, batch[j].request_id, sizeof u.request_id);
            r = stored_put(st, batch[j].arn, &u);
        }
        if (tr_ok(r)) r = st[0]->tx_commit(st);
        if (tr_failed(r)) {
            st[0]->tx_rollback(st);
            if (tr_ok(first)) first = r;
            continue;                          /* kept for the next pass */
        }
        for (size_t j = 0; j < n; j++) {
            struct kms_usage u = { .op = batch[j].op, .ts = batch[j].ts };
            memcpy(u.request_id, batch[j].request_id, sizeof u.request_id);
            take_out(batch[j].arn, &u);
        }
        *written += n;
    }
    free(batch);
    return first;
}

TR_RESULT kms_usage_get(store_t st, const struct key_rec *k, struct kms_usage *out)
{
    struct kms_usage mem, stored;
    bool found, exists;
    memset(out, 0, sizeof *out);
    ENSURE_REF(k->arn);
    bool in_mem = kms_usage_peek(k->arn, &mem);
    GUARD(stored_get(st, k->arn, &stored, &found, &exists));
    if (in_mem && (!found || mem.ts >= stored.ts)) *out = mem;
    else if (found) *out = stored;
    return TR_OK;
}

TR_RESULT kms_usage_forget(store_t st, const char *key_arn)
{
    take_out(key_arn, NULL);
    tr_result r = st[0]->ent_delete(st, USAGE_KIND, key_arn);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND) {
        tr_clear_error();
        r = TR_OK;
    }
    return r;
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
