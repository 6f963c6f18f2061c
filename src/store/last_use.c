/*
 * last_use.c -- a "last use" table: one record per key string (an access
 * key id, a KMS key ARN), kept in memory off the request path and written
 * to the store by the periodic maintenance.
 *
 * The table: `stripes` stripes of `slots` slots, each stripe under its own
 * mutex, an entry found by the kind's hash of the key within a window of
 * `window` slots from its home slot.  A note replaces the entry's record
 * when it is not older (of two in the same second, the later call).  When
 * a window is full of other keys' entries, the oldest of them is dropped
 * (counted, and logged by the next flush): the table holds only what is
 * not yet in the store.
 *
 * The store: last_use_flush writes each entry as an entity of the kind's
 * ent_kind (the generic entities table, no schema of its own) keyed by the
 * key, its doc the kind's dump, `created` the use's time, one transaction
 * a stripe.  A stored record newer than the entry is kept (several nodes
 * on one PostgreSQL store: the latest use wins); an entry whose owner no
 * longer exists is dropped.  An entry leaves the table once written, and
 * only if no newer use replaced it meanwhile.  What a crash loses: the
 * uses of the last maintenance period at most.  last_use_get answers the
 * newer of the stored record and this node's entry.
 */
#include "store/last_use.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/str.h"

static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;

static void table_init(struct last_use_table *t)
{
    if (atomic_load_explicit(&t->ready, memory_order_acquire)) return;
    pthread_mutex_lock(&init_mu);
    if (!atomic_load_explicit(&t->ready, memory_order_relaxed)) {
        for (size_t i = 0; i < t->stripes; i++) {
            pthread_mutex_init(&t->s[i].mu, NULL);
            t->s[i].e = t->entries + i * t->slots;
        }
        atomic_store_explicit(&t->ready, true, memory_order_release);
    }
    pthread_mutex_unlock(&init_mu);
}

/* key's stripe (initialised) and hash; NULL when key is refused. */
static struct last_use_stripe *stripe_of(struct last_use_table *t, const char *key, uint32_t *h)
{
    size_t n = strlen(key);
    if (n >= t->kind->key_max || n >= LAST_USE_KEY_MAX) return NULL;
    table_init(t);
    *h = t->kind->hash(key, n);
    return &t->s[(*h >> 24) & (t->stripes - 1)];
}

/* The slot of key in s (its lock held), or NULL. */
static struct last_use_entry *find(struct last_use_table *t, struct last_use_stripe *s, uint32_t h,
                                   const char *key)
{
    for (size_t i = 0; i < t->window; i++) {
        struct last_use_entry *e = &s->e[(h + i) & (t->slots - 1)];
        if (e->used && e->hash == h && strcmp(e->key, key) == 0) return e;
    }
    return NULL;
}

bool last_use_note(struct last_use_table *t, const char *key, int64_t ts, const void *rec)
{
    uint32_t h;
    struct last_use_stripe *s = stripe_of(t, key, &h);
    if (!s) return false;
    size_t size = t->kind->rec_size;
    pthread_mutex_lock(&s->mu);
    struct last_use_entry *hit = NULL, *free_slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < t->window; i++) {
        struct last_use_entry *e = &s->e[(h + i) & (t->slots - 1)];
        if (!e->used) {
            if (!free_slot) free_slot = e;
        } else if (e->hash == h && strcmp(e->key, key) == 0) {
            hit = e;
            break;
        } else if (!oldest || e->ts < oldest->ts) {
            oldest = e;
        }
    }
    if (hit) {
        if (ts >= hit->ts) {
            hit->ts = ts;
            memcpy(hit->rec, rec, size);
        }
    } else {
        struct last_use_entry *e = free_slot ? free_slot : oldest;
        if (!e) {                       /* a window of no slots: nothing is kept */
            pthread_mutex_unlock(&s->mu);
            return false;
        }
        if (!free_slot) atomic_fetch_add_explicit(&t->dropped, 1, memory_order_relaxed);
        memset(e, 0, sizeof *e);
        e->used = true;
        e->hash = h;
        e->ts = ts;
        memcpy(e->key, key, strlen(key) + 1);
        memcpy(e->rec, rec, size);
    }
    pthread_mutex_unlock(&s->mu);
    return true;
}

bool last_use_peek(struct last_use_table *t, const char *key, void *rec)
{
    uint32_t h;
    bool found = false;
    memset(rec, 0, t->kind->rec_size);
    struct last_use_stripe *s = stripe_of(t, key, &h);
    if (!s) return false;
    pthread_mutex_lock(&s->mu);
    struct last_use_entry *e = find(t, s, h, key);
    if (e) {
        memcpy(rec, e->rec, t->kind->rec_size);
        found = true;
    }
    pthread_mutex_unlock(&s->mu);
    return found;
}

/* Take key's entry out when it still says exactly ts and rec (it was
 * written; a newer use stays for the next flush).  NULL rec: whatever. */
static void take_out(struct last_use_table *t, const char *key, int64_t ts, const void *rec)
{
    uint32_t h;
    struct last_use_stripe *s = stripe_of(t, key, &h);
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    struct last_use_entry *e = find(t, s, h, key);
    if (e && (!rec || (e->ts == ts && memcmp(e->rec, rec, t->kind->rec_size) == 0)))
        memset(e, 0, sizeof *e);
    pthread_mutex_unlock(&s->mu);
}

size_t last_use_pending(struct last_use_table *t)
{
    size_t n = 0;
    table_init(t);
    for (size_t i = 0; i < t->stripes; i++) {
        pthread_mutex_lock(&t->s[i].mu);
        for (size_t j = 0; j < t->slots; j++) n += t->s[i].e[j].used;
        pthread_mutex_unlock(&t->s[i].mu);
    }
    return n;
}

uint64_t last_use_dropped(struct last_use_table *t)
{
    return atomic_load_explicit(&t->dropped, memory_order_relaxed);
}

void last_use_reset(struct last_use_table *t)
{
    table_init(t);
    for (size_t i = 0; i < t->stripes; i++) {
        pthread_mutex_lock(&t->s[i].mu);
        memset(t->s[i].e, 0, sizeof *t->s[i].e * t->slots);
        pthread_mutex_unlock(&t->s[i].mu);
    }
    atomic_store_explicit(&t->dropped, 0, memory_order_relaxed);
}

/* ---- the store ---------------------------------------------------------- */

/* key's stored record into rec and *ts; *found false when none or not one
 * (*exists: whether there is a row, even one that is not a record). */
static TR_RESULT stored_get(struct last_use_table *t, store_t st, const char *key, void *rec,
                            int64_t *ts, bool *found, bool *exists)
{
    struct ent_rec e;
    memset(&e, 0, sizeof e);
    memset(rec, 0, t->kind->rec_size);
    *ts = 0;
    *found = *exists = false;
    tr_result r = st[0]->ent_get_arn(st, t->kind->ent_kind, key, &e);
    if (tr_failed(r)) {
        if (tr_code(r) != TR_E_STORE_NOT_FOUND) return r;
        tr_clear_error();
        return TR_OK;
    }
    *exists = true;
    *found = t->kind->parse(e.doc, rec, ts);
    if (!*found) memset(rec, 0, t->kind->rec_size);
    ent_rec_free(&e);
    return TR_OK;
}

/* Write the entry e as its key's record unless the store has a newer one,
 * inside the caller's transaction; nothing when its owner is gone. */
static TR_RESULT stored_put(struct last_use_table *t, store_t st, const struct last_use_entry *e)
{
    unsigned char old[LAST_USE_REC_MAX];
    char account[ACCOUNT_ID_LEN + 1], path[] = "/";
    int64_t old_ts;
    bool alive = false, found, exists;

    GUARD(t->kind->owner(st, e->key, account, &alive));
    if (!alive) return TR_OK;                  /* deleted: its use goes with it */
    GUARD(stored_get(t, st, e->key, old, &old_ts, &found, &exists));
    if (found && old_ts > e->ts) return TR_OK; /* another node's newer use */

    char *doc = t->kind->dump(e->rec, e->ts);
    ENSURE(doc != NULL, TR_E_INTERNAL);
    char *k = (char *)(uintptr_t)e->key;
    struct ent_rec w = { .name = k, .id = k, .arn = k, .path = path, .doc = doc, .created = e->ts };
    STR_COPY_ARRAY(w.account_id, account);
    tr_result r = str_copy(w.kind, sizeof w.kind, t->kind->ent_kind, "entity kind");
    if (tr_ok(r)) r = exists ? st[0]->ent_update(st, &w) : st[0]->ent_put(st, &w);
    free(doc);
    return r;
}

/* One stripe's entries, copied out under its lock. */
static size_t stripe_copy(struct last_use_table *t, struct last_use_stripe *s,
                          struct last_use_entry *out)
{
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t j = 0; j < t->slots; j++)
        if (s->e[j].used) out[n++] = s->e[j];
    pthread_mutex_unlock(&s->mu);
    return n;
}

TR_RESULT last_use_flush(struct last_use_table *t, store_t st, size_t *written)
{
    struct last_use_entry *batch = malloc(sizeof *batch * t->slots);
    tr_result first = TR_OK;

    *written = 0;
    ENSURE(batch != NULL, TR_E_INTERNAL);
    table_init(t);
    /* Flushes run on one thread (maintenance, then the shutdown). */
    uint64_t lost = last_use_dropped(t);
    if (lost < t->reported) t->reported = 0;   /* reset since */
    if (lost > t->reported)
        log_msg("warn", "%s table was full: %" PRIu64 " use%s dropped since the last pass "
                "(more than %zu keys used in one maintenance period)", t->kind->full_msg,
                lost - t->reported, lost - t->reported == 1 ? "" : "s", t->stripes * t->slots);
    t->reported = lost;
    for (size_t i = 0; i < t->stripes; i++) {
        size_t n = stripe_copy(t, &t->s[i], batch);
        if (n == 0) continue;
        tr_result r = st[0]->tx_begin(st);
        for (size_t j = 0; j < n && tr_ok(r); j++) r = stored_put(t, st, &batch[j]);
        if (tr_ok(r)) r = st[0]->tx_commit(st);
        if (tr_failed(r)) {
            st[0]->tx_rollback(st);
            if (tr_ok(first)) first = r;
            continue;                          /* kept for the next pass */
        }
        for (size_t j = 0; j < n; j++) take_out(t, batch[j].key, batch[j].ts, batch[j].rec);
        *written += n;
    }
    free(batch);
    return first;
}

TR_RESULT last_use_get(struct last_use_table *t, store_t st, const char *key, void *rec,
                       bool *found)
{
    unsigned char mem[LAST_USE_REC_MAX], stored[LAST_USE_REC_MAX];
    int64_t mem_ts = 0, stored_ts;
    bool in_store, exists;

    memset(rec, 0, t->kind->rec_size);
    *found = false;
    uint32_t h;
    struct last_use_stripe *s = stripe_of(t, key, &h);
    bool in_mem = false;
    if (s) {
        pthread_mutex_lock(&s->mu);
        struct last_use_entry *e = find(t, s, h, key);
        if (e) {
            memcpy(mem, e->rec, t->kind->rec_size);
            mem_ts = e->ts;
            in_mem = true;
        }
        pthread_mutex_unlock(&s->mu);
    }
    GUARD(stored_get(t, st, key, stored, &stored_ts, &in_store, &exists));
    if (in_mem && (!in_store || mem_ts >= stored_ts)) memcpy(rec, mem, t->kind->rec_size);
    else if (in_store) memcpy(rec, stored, t->kind->rec_size);
    *found = in_mem || in_store;
    return TR_OK;
}

TR_RESULT last_use_forget(struct last_use_table *t, store_t st, const char *key)
{
    take_out(t, key, 0, NULL);
    tr_result r = st[0]->ent_delete(st, t->kind->ent_kind, key);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND) {
        tr_clear_error();
        r = TR_OK;
    }
    return r;
}
