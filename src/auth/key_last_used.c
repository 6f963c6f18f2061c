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
 * The table (store/last_use.c, shared with GetKeyLastUsage): KU_SLOTS
 * entries under one mutex, an entry found by a hash of the key id within a
 * window of KU_WINDOW slots; when the window is full of other keys, the
 * oldest of them is dropped (counted).  It holds only what is not yet in
 * the store.
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

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "store/last_use.h"

#define KU_SLOTS  1024          /* power of two */
#define KU_WINDOW 8             /* slots probed from a key's home slot */
#define KU_AKID   33            /* a long-term key id: AKIA + 16 (tresor), up to 32 */

_Static_assert(sizeof(struct key_used) <= LAST_USE_REC_MAX, "struct key_used fits a last_use record");

/* FNV-1a over the key id (random characters after the prefix). */
static uint32_t akid_hash(const char *akid, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)akid[i]) * 16777619u;
    return h;
}

static void set_use(struct key_used *u, int64_t ts, const char *service, const char *region)
{
    memset(u, 0, sizeof *u);
    u->ts = ts;
    if (tr_failed(str_copy(u->service, sizeof u->service, service, "service"))) u->service[0] = '\0';
    if (tr_failed(str_copy(u->region, sizeof u->region, region, "region"))) u->region[0] = '\0';
    tr_clear_error();
}

static bool used_parse(const char *doc, void *rec, int64_t *ts)
{
    json_t *d = json_loads(doc, 0, NULL);
    json_t *t = json_object_get(d, "ts");
    const char *svc = json_string_value(json_object_get(d, "service"));
    const char *reg = json_string_value(json_object_get(d, "region"));
    bool ok = json_is_integer(t) && svc && reg;
    if (ok) {
        set_use(rec, json_integer_value(t), svc, reg);
        *ts = json_integer_value(t);
    }
    json_decref(d);
    return ok;
}

static char *used_dump(const void *rec, int64_t ts)
{
    const struct key_used *u = rec;
    json_t *d = json_pack("{s:I, s:s, s:s}", "ts", (json_int_t)ts, "service", u->service,
                          "region", u->region);
    char *doc = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    return doc;
}

/* The access key still exists: its account. */
static TR_RESULT used_owner(store_t st, const char *akid, char account[ACCOUNT_ID_LEN + 1], bool *exists)
{
    struct access_key_rec k = { 0 };
    *exists = false;
    tr_result r = st[0]->access_key_get(st, akid, &k);
    if (tr_failed(r)) {
        if (tr_code(r) != TR_E_STORE_NOT_FOUND) return r;
        tr_clear_error();
        return TR_OK;
    }
    r = str_copy(account, ACCOUNT_ID_LEN + 1, k.account_id, "account id");
    access_key_rec_free(&k);
    GUARD(r);
    *exists = true;
    return TR_OK;
}

static const struct last_use_kind used_kind = {
    .ent_kind = "iam-key-used",
    .full_msg = "iam: the access key last-use",
    .rec_size = sizeof(struct key_used),
    .key_max = KU_AKID,
    .hash = akid_hash,
    .parse = used_parse,
    .dump = used_dump,
    .owner = used_owner,
};

LAST_USE_TABLE(table, &used_kind, 1, KU_SLOTS, KU_WINDOW);

void key_used_note(const char *akid, int64_t ts, const char *service, const char *region)
{
    struct key_used u;
    ts -= ts % KEY_USED_GRANULARITY;
    set_use(&u, ts, service, region);
    (void)last_use_note(&table, akid, ts, &u);  /* no tresor key id is refused: never cut */
}

size_t key_used_pending(void)
{
    return last_use_pending(&table);
}

uint64_t key_used_dropped(void)
{
    return last_use_dropped(&table);
}

void key_used_reset(void)
{
    last_use_reset(&table);
}

TR_RESULT key_used_flush(store_t st, size_t *written)
{
    return last_use_flush(&table, st, written);
}

TR_RESULT key_used_get(store_t st, const char *akid, struct key_used *out)
{
    bool found;
    return last_use_get(&table, st, akid, out, &found);
}

TR_RESULT key_used_forget(store_t st, const char *akid)
{
    return last_use_forget(&table, st, akid);
}
