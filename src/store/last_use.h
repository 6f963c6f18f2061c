/*
 * last_use.h -- a bounded in-memory table of "last use" records, one per
 * key string, flushed to the store's generic entities by the periodic
 * maintenance (last_use.c).  GetAccessKeyLastUsed (auth/key_last_used.c)
 * and GetKeyLastUsage (kms/last_usage.c) each keep one.
 */
#ifndef TR_LAST_USE_H
#define TR_LAST_USE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/result.h"
#include "store/store.h"

#define LAST_USE_KEY_MAX 160   /* the longest key + 1: a KMS key ARN */
#define LAST_USE_REC_MAX 64    /* the largest record (the caller's struct) */

struct last_use_entry {
    uint32_t hash;
    bool used;                 /* false: a free slot */
    int64_t ts;
    char key[LAST_USE_KEY_MAX];
    unsigned char rec[LAST_USE_REC_MAX];
};

struct last_use_stripe {
    pthread_mutex_t mu;
    struct last_use_entry *e;  /* slots entries */
};

/* What one table keeps and how it is stored.  A record is the caller's
 * struct of `rec_size` bytes, copied whole: the caller zeroes it before
 * filling it (two records are the same when their bytes are). */
struct last_use_kind {
    const char *ent_kind;      /* the entities' kind: "iam-key-used", ... */
    const char *full_msg;      /* the log line's start when uses were dropped */
    size_t rec_size;
    size_t key_max;            /* a key of key_max characters or more is refused */
    uint32_t (*hash)(const char *key, size_t n);
    /* A stored doc into *rec and *ts; false: not a record (ignored). */
    bool (*parse)(const char *doc, void *rec, int64_t *ts);
    /* The doc of rec (malloc'd) or NULL. */
    char *(*dump)(const void *rec, int64_t ts);
    /* Whether key's owner still exists (*exists), and its account. */
    TR_RESULT (*owner)(store_t st, const char *key, char account[ACCOUNT_ID_LEN + 1], bool *exists);
};

struct last_use_table {
    const struct last_use_kind *kind;
    size_t stripes, slots, window;     /* powers of two (window: slots probed) */
    struct last_use_stripe *s;
    struct last_use_entry *entries;    /* stripes * slots */
    atomic_bool ready;
    atomic_uint_fast64_t dropped;
    uint64_t reported;                 /* dropped uses logged (flush's thread) */
};

/* A table of `stripes` stripes of `slots` slots, statically allocated. */
#define LAST_USE_TABLE(name, kind_, stripes_, slots_, window_)                                  \
    static struct last_use_entry name##_entries[(stripes_) * (slots_)];                         \
    static struct last_use_stripe name##_stripes[stripes_];                                     \
    static struct last_use_table name = { .kind = (kind_), .stripes = (stripes_),               \
                                          .slots = (slots_), .window = (window_),               \
                                          .s = name##_stripes, .entries = name##_entries }

/* Record key's use rec at ts unless the table holds a newer one; a full
 * window drops its oldest entry (counted).  false: key refused (too long),
 * or a table without slots. */
bool last_use_note(struct last_use_table *t, const char *key, int64_t ts, const void *rec);
/* This node's unwritten record of key into *rec (zeroed when none). */
bool last_use_peek(struct last_use_table *t, const char *key, void *rec);
/* The newer of the stored record and this node's entry; *found false: none. */
TR_RESULT last_use_get(struct last_use_table *t, store_t st, const char *key, void *rec,
                       bool *found);
/* Write the entries to the store, one transaction a stripe, a newer stored
 * record kept, entries of owners that are gone dropped; *written how many.
 * Entries that fail to write stay for the next call (the first error). */
TR_RESULT last_use_flush(struct last_use_table *t, store_t st, size_t *written);
/* key's owner is deleted: its stored record (caller's transaction) and entry. */
TR_RESULT last_use_forget(struct last_use_table *t, store_t st, const char *key);
size_t last_use_pending(struct last_use_table *t);
uint64_t last_use_dropped(struct last_use_table *t);
void last_use_reset(struct last_use_table *t);

#endif
