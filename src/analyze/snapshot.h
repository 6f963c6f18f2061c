/*
 * snapshot.h -- read a snapshot file (docs/SNAPSHOTS.md): an account's
 * AWS responses, checked for the shapes the analysis relies on and
 * indexed, with its gaps (those the manifest lists and those the file
 * shows by what it lacks).
 *
 * Everything points into the parsed document (snap->doc), which the
 * snapshot owns: valid until snapshot_free.
 */
#ifndef TR_SNAPSHOT_H
#define TR_SNAPSHOT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/result.h"
#include "store/store.h"

#define SNAPSHOT_VERSION 1
#define SNAPSHOT_FILE_MAX ((size_t)2 << 30)   /* 2 GiB */

struct snap_gap {
    char *what;                 /* "kms GetKeyPolicy us-east-1 arn:...: AccessDeniedException" */
    int listed;                 /* 1: in Manifest.Gaps; 0: found missing from the file */
    const char *operation;      /* listed: its Operation and Resource (NULL: none) */
    const char *resource;
};

struct snap_key {
    const char *region;
    const char *key_id;
    json_t *metadata;           /* DescribeKey.KeyMetadata, or NULL (a gap) */
    const char *policy;         /* GetKeyPolicy.Policy (JSON text), or NULL (a gap) */
    json_t **grants;            /* every page's Grants, flattened (borrowed) */
    size_t ngrants;
    json_t **tags;              /* every page's Tags, flattened */
    size_t ntags;
    size_t capgrants, captags;  /* allocated */
};

struct snap_secret {
    const char *region;
    json_t *entry;              /* its ListSecrets entry (ARN, Name, KmsKeyId, ...) */
    const char *arn;
    const char *resource_policy;   /* GetResourcePolicy.ResourcePolicy, or NULL (none) */
};

struct snapshot {
    json_t *doc;
    char name[256];             /* the file as given, for messages */
    char account[ACCOUNT_ID_LEN + 1];
    const char *collected_at;
    const char **regions;
    size_t nregions;
    /* GetAccountAuthorizationDetails, every page's lists flattened. */
    json_t **users, **groups, **roles, **policies;
    size_t nusers, ngroups, nroles, npolicies;
    struct snap_key *keys;
    size_t nkeys;
    json_t **aliases;           /* ListAliases entries, with their region in ... */
    const char **alias_regions; /* ... alias_regions[i] */
    size_t naliases;
    struct snap_secret *secrets;
    size_t nsecrets;
    struct snap_gap *gaps;
    size_t ngaps;
    /* allocated */
    size_t capusers, capgroups, caproles, cappolicies, capkeys, capaliases, capsecrets, capgaps;
};

/* Parse the snapshot text (len bytes) named `name` into *out (zeroed
 * first; snapshot_free it on success; on failure it holds nothing).
 * Fails with TR_E_VALIDATION and a message "NAME: WHERE: what is wrong"
 * (WHERE a path like Regions.us-east-1.Keys.<id>.DescribeKey) for
 * malformed JSON (with its line and column), an unsupported version, a
 * missing or malformed manifest, and any response whose shape is not
 * AWS's. */
TR_RESULT snapshot_parse(const char *text, size_t len, const char *name, struct snapshot *out);
/* The same from the file at path (at most SNAPSHOT_FILE_MAX bytes). */
TR_RESULT snapshot_load(const char *path, struct snapshot *out);
void snapshot_free(struct snapshot *s);

/* Load the n snapshots s[] into the store st (an empty in-memory store,
 * store_sqlite_open_memory) as the records the server keeps for the same
 * IAM entities, keys, grants, aliases, tags and secrets, one account per
 * snapshot, then bind their policies' principals (iam_bind_stored), so
 * the analysis answers from them unchanged.  A key whose policy the
 * snapshot lacks gets one that allows nothing (a gap: snapshot_gap_touches
 * tells the answer).  only_secret, when not NULL, loads that one secret
 * alone (its ARN or name: every secret of that name) with everything
 * else: an answer about one secret needs no other (who-can-decrypt
 * SECRET), and twenty thousand secrets cost most of a load.  Fails
 * (TR_E_VALIDATION) when two snapshots are of one account; on failure the
 * store holds nothing of s. */
TR_RESULT snapshot_store_load(store_t st, const struct snapshot *s, size_t n, const char *only_secret);
/* Prepared snapshots (analyze/snapshot_prepared.c, docs/SNAPSHOTS.md):
 * the store snapshot_store_load makes of the n files (every secret),
 * saved as the SQLite file out (mode 0600, written whole or not at all)
 * with what the answers need of the snapshots besides it (their names,
 * accounts, regions, gaps and secrets) and the files' SHA-256, sizes and
 * modification times.  Fails as snapshot_load and snapshot_store_load do,
 * or TR_E_STORE_IO when out cannot be written. */
TR_RESULT snapshot_prepare(const char *const *files, size_t n, const char *out);
/* The "facts" note of a prepared snapshot st opened from path
 * (az_principal_facts, docs/SNAPSHOTS.md "Principal facts"), unpacked
 * (az_facts_unpack): az_facts_free it.  TR_E_VALIDATION when the note is
 * missing or not one. */
struct az_facts;
TR_RESULT snapshot_prepared_facts(store_t st, const char *path, struct az_facts **out);
/* Whether the file at path is an SQLite database (so, to the analysis, a
 * prepared snapshot rather than a JSON one). */
bool snapshot_is_prepared(const char *path);
/* Open the prepared snapshot at path read-only into *st and its
 * snapshots (at most cap) into s[0..*n) -- name, account, collected_at,
 * regions and gaps, and with_secrets their secrets (ARN, region, the
 * entry's Name); nothing else -- each freed with snapshot_free, *st
 * closed by the caller.  A source file that has changed since it was
 * prepared (size or modification time, then SHA-256) is refused
 * (TR_E_VALIDATION, "PATH: stale: FILE has changed since it was
 * prepared ..."), as is a file that is not one this tresor prepared; on
 * failure nothing is left open. */
TR_RESULT snapshot_prepared_open(const char *path, bool with_secrets, store_t *st, struct snapshot *s,
                                 size_t cap, size_t *n);
/* One ListGrants entry of key key_arn (id key_id) as the server's grant
 * relations. */
TR_RESULT snapshot_grant_put(store_t st, const char *key_arn, const char *key_id, const json_t *g);
/* Whether gap g may change an answer about the resources names[] (a
 * secret's ARN and name, its key's ARN and id): a gap about one of them,
 * or about the whole account (its IAM) or a region's listings. */
bool snapshot_gap_touches(const struct snap_gap *g, const char *const *names, size_t n);

#endif
