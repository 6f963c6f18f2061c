/*
 * key_last_used.c -- GetAccessKeyLastUsed's record of each long-term
 * access key's last use, kept off the request path's store writes.
 *
 * What AWS records (IAM API reference, AccessKeyLastUsed): the date, the
 * service and the Region of the last request signed with the key; "N/A"
 * for the service and Region, and no date, before the first.  tresor
 * records every authenticated request signed with a long-term key (AKIA),
 * the service and Region being those of its SigV4 credential scope.  A
 * request signed with temporary credentials (ASIA) records nothing on the
 * long-term key that obtained them: on AWS, GetAccessKeyLastUsed reports
 * the key's own requests (the GetSessionToken or AssumeRole call that made
 * the session is one of them).
 *
 * Granularity: LastUsedDate is the minute of the use (seconds zero).
 * auth/creds.c keeps, in its per-thread cache entry of the key, the minute,
 * service and Region it last noted, and calls key_used_note only when one
 * of them differs: a steady client costs one comparison per request and
 * one note per key, thread and minute.
 *
 * The table: KU_SLOTS entries under one mutex, an entry found by a hash of
 * the key id within a window of KU_WINDOW slots; when the window is full
 * of other keys, the oldest of them is dropped (counted).  It holds only
 * what is not yet in the store.
 *
 * The store: key_used_flush, called by the periodic maintenance (every
 * minute) and at a clean shutdown, writes each entry as an entity of kind
 * "iam-key-used" (the generic entities table, no schema of its own) keyed
 * by the access key id, its doc {"ts", "service", "region"}.  A stored
 * record newer than the entry is kept (several nodes on one PostgreSQL
 * store: the latest use wins); an entry of a key that no longer exists is
 * dropped.  An entry leaves the table once written, and only if no newer
 * use replaced it meanwhile.  What a crash loses: the uses of the last
 * maintenance period at most.  GetAccessKeyLastUsed answers the newer of
 * the stored record and this node's entry.
 */
#include "auth/key_last_used.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/str.h"

#define KU_SLOTS  1024          /* power of two */
#define KU_WINDOW 8             /* slots probed from a key's home slot */
#define KU_AKID   33            /* a long-term key id: AKIA + 16 (tresor), up to 32 */
#define USED_KIND "iam-key-used"

struct ku_entry {
    char akid[KU_AKID];         /* "": a free slot */
    struct key_used u;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct ku_entry table[KU_SLOTS];
static atomic_uint_fast64_t dropped;

/* FNV-1a over the key id (random characters after the prefix). */
static uint32_t akid_hash(const char *akid)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)akid; *p; p++) h = (h ^ *p) * 16777619u;
    return h;
}

/* The slot of akid (mu held), or NULL. */
static struct ku_entry *find(const char *akid, uint32_t h)
{
    for (size_t i = 0; i < KU_WINDOW; i++) {
        struct ku_entry *e = &table[(h + i) & (KU_SLOTS - 1)];
        if (e->akid[0] && strcmp(e->akid, akid) == 0) return e;
    }
    return NULL;
}

static void set_use(struct key_used *u, int64_t ts, const char *service, const char *region)
{
    u->ts = ts;
    if (tr_failed(str_copy(u->service, sizeof u->service, service, "service"))) u->service[0] = '\0';
    if (tr_failed(str_copy(u->region, sizeof u->region, region, "region"))) u->region[0] = '\0';
    tr_clear_error();
}

void key_used_note(const char *akid, int64_t ts, const char *service, const char *region)
{
    if (strlen(akid) >= KU_AKID) return;       /* no tresor key id is: refused, never cut */
    ts -= ts % KEY_USED_GRANULARITY;
    uint32_t h = akid_hash(akid);
    pthread_mutex_lock(&mu);
    struct ku_entry *hit = NULL, *free_slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < KU_WINDOW; i++) {
        struct ku_entry *e = &table[(h + i) & (KU_SLOTS - 1)];
        if (!e->akid[0]) {
            if (!free_slot) free_slot = e;
        } else if (strcmp(e->akid, akid) == 0) {
            hit = e;
            break;
        } else if (!oldest || e->u.ts < oldest->u.ts) {
            oldest = e;
        }
    }
    if (hit) {
        if (ts >= hit->u.ts) set_use(&hit->u, ts, service, region);
    } else {
        struct ku_entry *e = free_slot ? free_slot : oldest;
        if (!free_slot) atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
        memset(e, 0, sizeof *e);
        memcpy(e->akid, akid, strlen(akid) + 1);
        set_use(&e->u, ts, service, region);
    }
    pthread_mutex_unlock(&mu);
}

static bool peek(const char *akid, struct key_used *out)
{
    bool found = false;
    memset(out, 0, sizeof *out);
    if (strlen(akid) >= KU_AKID) return false;
    uint32_t h = akid_hash(akid);
    pthread_mutex_lock(&mu);
    struct ku_entry *e = find(akid, h);
    if (e) {
        *out = e->u;
        found = true;
    }
    pthread_mutex_unlock(&mu);
    return found;
}

/* Take akid's entry out when it still says exactly u (NULL: whatever). */
static void take_out(const char *akid, const struct key_used *u)
{
    if (strlen(akid) >= KU_AKID) return;
    uint32_t h = akid_hash(akid);
    pthread_mutex_lock(&mu);
    struct ku_entry *e = find(akid, h);
    if (e && (!u || memcmp(&e->u, u, sizeof *u) == 0)) memset(e, 0, sizeof *e);
    pthread_mutex_unlock(&mu);
}

size_t key_used_pending(void)
{
    size_t n = 0;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < KU_SLOTS; i++) n += table[i].akid[0] != '\0';
    pthread_mutex_unlock(&mu);
    return n;
}

uint64_t key_used_dropped(void)
{
    return atomic_load_explicit(&dropped, memory_order_relaxed);
}

void key_used_reset(void)
{
    pthread_mutex_lock(&mu);
    memset(table, 0, sizeof table);
    pthread_mutex_unlock(&mu);
    atomic_store_explicit(&dropped, 0, memory_order_relaxed);
}

/* ---- the store ---------------------------------------------------------- */

/* akid's stored record into *out (*found false: none, or not one); *exists
 * whether there is a row at all. */
static TR_RESULT stored_get(store_t st, const char *akid, struct key_used *out, bool *found,
                            bool *exists)
{
    struct ent_rec e;
    memset(&e, 0, sizeof e);
    memset(out, 0, sizeof *out);
    *found = *exists = false;
    tr_result r = st[0]->ent_get_arn(st, USED_KIND, akid, &e);
    if (tr_failed(r)) {
        if (tr_code(r) != TR_E_STORE_NOT_FOUND) return r;
        tr_clear_error();
        return TR_OK;
    }
    *exists = true;
    json_t *d = json_loads(e.doc, 0, NULL);
    json_t *ts = json_object_get(d, "ts");
    const char *svc = json_string_value(json_object_get(d, "service"));
    const char *reg = json_string_value(json_object_get(d, "region"));
    if (json_is_integer(ts) && svc && reg) {
        set_use(out, json_integer_value(ts), svc, reg);
        *found = true;
    }
    json_decref(d);
    ent_rec_free(&e);
    return TR_OK;
}

/* Write u as akid's record unless the store has a newer one, inside the
 * caller's transaction; nothing for a key that no longer exists. */
static TR_RESULT stored_put(store_t st, const char *akid, const struct key_used *u)
{
    struct access_key_rec k = { 0 };
    struct key_used old;
    bool found, exists;
    char path[] = "/";
    char account[ACCOUNT_ID_LEN + 1];

    tr_result r = st[0]->access_key_get(st, akid, &k);
    if (tr_failed(r)) {
        if (tr_code(r) != TR_E_STORE_NOT_FOUND) return r;
        tr_clear_error();
        return TR_OK;                          /* deleted: its use goes with it */
    }
    r = str_copy(account, sizeof account, k.account_id, "account id");
    access_key_rec_free(&k);
    GUARD(r);
    GUARD(stored_get(st, akid, &old, &found, &exists));
    if (found && old.ts > u->ts) return TR_OK;  /* another node's newer use */

    json_t *d = json_pack("{s:I, s:s, s:s}", "ts", (json_int_t)u->ts, "service", u->service,
                          "region", u->region);
    char *doc = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    ENSURE(doc != NULL, TR_E_INTERNAL);
    char *a = (char *)(uintptr_t)akid;
    struct ent_rec e = { .name = a, .id = a, .arn = a, .path = path, .doc = doc, .created = u->ts };
    STR_SET(e.kind, USED_KIND);
    STR_COPY_ARRAY(e.account_id, account);
    r = exists ? st[0]->ent_update(st, &e) : st[0]->ent_put(st, &e);
    free(doc);
    return r;
}

TR_RESULT key_used_flush(store_t st, size_t *written)
{
    struct ku_entry *batch = malloc(sizeof table);
    size_t n = 0;
    *written = 0;
    ENSURE(batch != NULL, TR_E_INTERNAL);
    /* Flushes run on one thread (maintenance, then the shutdown). */
    static uint64_t reported;
    uint64_t lost = key_used_dropped();
    if (lost < reported) reported = 0;
    if (lost > reported)
        log_msg("warn", "iam: the access key last-use table was full: %" PRIu64 " use%s dropped "
                "(more than %d keys used in one maintenance period)", lost - reported,
                lost - reported == 1 ? "" : "s", KU_SLOTS);
    reported = lost;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < KU_SLOTS; i++)
        if (table[i].akid[0]) batch[n++] = table[i];
    pthread_mutex_unlock(&mu);
    tr_result r = TR_OK;
    if (n) {
        r = st[0]->tx_begin(st);
        for (size_t j = 0; j < n && tr_ok(r); j++) r = stored_put(st, batch[j].akid, &batch[j].u);
        if (tr_ok(r)) r = st[0]->tx_commit(st);
        if (tr_failed(r)) {
            st[0]->tx_rollback(st);            /* kept for the next pass */
        } else {
            for (size_t j = 0; j < n; j++) take_out(batch[j].akid, &batch[j].u);
            *written = n;
        }
    }
    free(batch);
    return r;
}

TR_RESULT key_used_get(store_t st, const char *akid, struct key_used *out)
{
    struct key_used mem, stored;
    bool found, exists;
    memset(out, 0, sizeof *out);
    bool in_mem = peek(akid, &mem);
    GUARD(stored_get(st, akid, &stored, &found, &exists));
    if (in_mem && (!found || mem.ts >= stored.ts)) *out = mem;
    else if (found) *out = stored;
    return TR_OK;
}

TR_RESULT key_used_forget(store_t st, const char *akid)
{
    take_out(akid, NULL);
    tr_result r = st[0]->ent_delete(st, USED_KIND, akid);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND) {
        tr_clear_error();
        r = TR_OK;
    }
    return r;
}
