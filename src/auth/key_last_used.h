/*
 * key_last_used.h -- GetAccessKeyLastUsed's record: when, with which
 * service and in which region each long-term access key was last used
 * (key_last_used.c).
 */
#ifndef TR_KEY_LAST_USED_H
#define TR_KEY_LAST_USED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/result.h"
#include "store/store.h"

/* The granularity of LastUsedDate: a key's record changes at most once a
 * minute per service and region (and per thread's cached view of it). */
#define KEY_USED_GRANULARITY 60

struct key_used {
    int64_t ts;                /* epoch seconds, a multiple of KEY_USED_GRANULARITY; 0: never */
    char service[24];          /* the SigV4 scope's service: "kms", "iam", ... */
    char region[32];           /* the SigV4 scope's region */
};

/* Record that the long-term key akid signed a request at ts (business
 * clock) for service in region: an in-memory table under one mutex, no
 * store write (auth/creds.c calls it at most once a minute per key and
 * thread).  A full table drops its oldest entry (counted). */
void key_used_note(const char *akid, int64_t ts, const char *service, const char *region);
/* akid's last use: the newer of the stored record and this node's
 * unwritten entry (out->ts 0: never used). */
TR_RESULT key_used_get(store_t st, const char *akid, struct key_used *out);
/* Write the table's entries to the store (maintenance, clean shutdown),
 * a newer stored record kept; entries of keys that are gone dropped.
 * *written how many; entries that fail to write stay for the next call. */
TR_RESULT key_used_flush(store_t st, size_t *written);
/* A key is deleted: its stored record (caller's transaction) and entry. */
TR_RESULT key_used_forget(store_t st, const char *akid);
/* Entries in the table, dropped entries, and a reset (dev mode, tests). */
size_t key_used_pending(void);
uint64_t key_used_dropped(void);
void key_used_reset(void);

#endif
