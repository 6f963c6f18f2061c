/*
 * store.h -- the one storage interface (BearSSL-style vtable in the first
 * field).  SQLite (store/sqlite.c) is the embedded default; PostgreSQL
 * joins later behind the same class.
 *
 * Contract for every backend:
 *  - Every function may be called from any worker thread at once.  Reads
 *    must not serialize the threads (SQLite: one connection per thread,
 *    WAL mode).
 *  - Writes happen inside tx_begin/tx_commit on the calling thread; on any
 *    failure the caller calls tx_rollback and nothing is left behind.
 *    tx_commit returns once the commit is durable (a group sync of the
 *    WAL, or synchronous=FULL: enum store_commit).
 *  - Secret columns (wrapped key material, wrapped secret access keys) are
 *    stored exactly as given: the caller has already wrapped them under the
 *    root key (crypto/keyring.h).  The store never sees plaintext secrets.
 *  - Failures carry the store's own codes (errors.def), never a service's:
 *    lookups that find nothing return TR_E_STORE_NOT_FOUND with NO
 *    message, and the caller writes its service's error and AWS's
 *    message; unique-constraint violations return TR_E_STORE_EXISTS with
 *    no message.  Other failures are logged with the backend's message
 *    (never sent) and name their kind: TR_E_STORE_BUSY (no lock in time),
 *    TR_E_STORE_FULL (no space), TR_E_STORE_CORRUPT (a damaged database),
 *    TR_E_STORE_READONLY (a write to a store opened read-only),
 *    TR_E_STORE_IO (the files cannot be read or written), TR_E_INTERNAL
 *    (anything else); clients see their service's internal error.
 *  - Records filled by get/list own their heap strings; release with the
 *    matching *_rec_free / *_list_free.
 */
#ifndef TR_STORE_H
#define TR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/cache.h"
#include "core/result.h"
#include "store/domains.h"
#include "store/group_sync.h"

#define ACCOUNT_ID_LEN 12
/* The most items rel_prune_order keeps (its statement's parameters). */
#define STORE_PRUNE_KEEP_MAX 16

struct account_rec {
    char id[ACCOUNT_ID_LEN + 1];
    int64_t created;            /* epoch seconds */
};

enum principal_type { PRINCIPAL_ROOT = 0, PRINCIPAL_USER = 1, PRINCIPAL_ROLE_SESSION = 2,
                      PRINCIPAL_ANONYMOUS = 3 /* an unsigned request (OP_UNSIGNED); never stored */ };

struct access_key_rec {
    char access_key_id[33];     /* AKIA... (20 chars) or ASIA... */
    char account_id[ACCOUNT_ID_LEN + 1];
    int principal_type;         /* enum principal_type */
    char *principal_arn;        /* arn:aws:iam::A:root, ... */
    char *principal_id;         /* account id for root, AIDA... for users */
    bool active;
    int64_t created;
    int64_t expires;            /* 0 = never */
    struct buf wrapped_secret;  /* keyring_wrap'd secret access key */
    char *doc;                  /* JSON, NULL when none: for users {"user_name"}, for
                                   sessions the token hash, role, session policies, tags */
};

/* KMS key states, spelled as AWS spells them in KeyMetadata.KeyState. */
#define KEY_STATE_ENABLED          "Enabled"
#define KEY_STATE_DISABLED         "Disabled"
#define KEY_STATE_PENDING_DELETION "PendingDeletion"
#define KEY_STATE_PENDING_IMPORT   "PendingImport"     /* Origin EXTERNAL, no material */
/* A multi-Region primary scheduled for deletion while it has replicas:
 * deletion_date 0, pending_window_days the waiting period, which begins
 * when the last replica is deleted (then PendingDeletion). */
#define KEY_STATE_PENDING_REPLICA_DELETION "PendingReplicaDeletion"

struct key_rec {
    char key_id[37];            /* UUID, or mrk- and 32 hex digits (multi-Region) */
    char account_id[ACCOUNT_ID_LEN + 1];
    char region[32];
    char *arn;
    char *description;          /* "" when none */
    char *policy;               /* the key policy document, as stored */
    char *policy_ids;           /* its principal binding (iam/bindings.h): a JSON object
                                   of ARN -> unique id; NULL: saved before bindings */
    char key_state[24];         /* KEY_STATE_* */
    char key_usage[24];         /* ENCRYPT_DECRYPT */
    char key_spec[32];          /* SYMMETRIC_DEFAULT */
    char origin[16];            /* AWS_KMS */
    char key_manager[16];       /* CUSTOMER | AWS */
    int64_t created;            /* epoch seconds */
    int64_t deletion_date;      /* 0 unless PendingDeletion */
    int pending_window_days;    /* 0 unless PendingDeletion */
    bool rotation_enabled;
    int rotation_period_days;   /* 90..2560; 365 default */
    int64_t next_rotation;      /* 0 when rotation is off */
    uint32_t current_material;  /* version of the material that encrypts */
    char primary_region[32];    /* multi-Region keys: the primary's region, the same in
                                   every related record; "" for a single-Region key */
};

/* Materials are a key id's, shared by the records of every region that
 * holds that id (a multi-Region key and its replicas). */
struct material_rec {
    char key_id[37];
    uint32_t version;           /* 1 = the initial material */
    int64_t created;
    char rotation_type[16];     /* "" for the initial one, AUTOMATIC, ON_DEMAND; PENDING for
                                   imported material waiting for RotateKeyOnDemand */
    struct buf wrapped;         /* keyring_wrap'd material: 32 bytes (symmetric), a PKCS#8
                                   private key or an HMAC key (kms/asym.c); empty for
                                   imported material deleted or expired (PENDING_IMPORT) */
    int64_t valid_to;           /* imported material's expiry; 0: it does not expire */
    char description[257];      /* imported material's KeyMaterialDescription, "" if none */
};

struct alias_rec {
    char account_id[ACCOUNT_ID_LEN + 1];
    char region[32];
    char name[257];             /* alias/... */
    char target_key_id[37];
    int64_t created;
    int64_t updated;
};

struct tag_rec { char *key; char *value; };

/*
 * Generic entities and relations, for IAM (users, roles, groups, managed
 * policies), STS sessions and KMS grants: a few indexed columns plus a
 * JSON document with the rest, so new kinds need no new store functions
 * (and the PostgreSQL backend implements the same dozen calls).
 *
 *   entity kinds: "user", "role", "group", "policy", ...
 *     unique: (kind, account_id, name), (kind, arn), (kind, id)
 *   relation kinds (from -> to, ordered by `to`):
 *     "member"   group ARN  -> user ARN
 *     "attached" entity ARN -> managed policy ARN
 *     "inline"   entity ARN -> policy name          (doc: the document)
 *     "version"  policy ARN -> "v1", "v2", ...      (doc: document, dates)
 *     "grant"    key ARN    -> grant id             (doc: the grant)
 *   Deleting an entity does not cascade: callers check and delete
 *   relations first (IAM refuses with DeleteConflict anyway).
 */
struct ent_rec {
    char kind[16];
    char account_id[ACCOUNT_ID_LEN + 1];
    char *name;
    char *id;                   /* unique id: AIDA..., AROA..., ANPA..., AGPA... */
    char *arn;
    char *path;                 /* "/" by default */
    char *doc;                  /* JSON object: the kind's other fields */
    int64_t created;
};

struct rel_rec {
    char kind[16];
    char *from;
    char *to;
    char *doc;                  /* JSON, "" when none */
    int64_t created;
};

struct store_class {
    const char *name;
    void (*close)(const struct store_class **st);
    /* The generation (core/cache.h): this store's epoch, unique among
     * the stores of the process, and a number that changes whenever the
     * stored data may have changed (any write of this process, committed
     * or not; a commit by another process once refresh() has noticed it)
     * -- the key of the request path's per-thread caches: what was read
     * under generation G is still current while generation() is G.  Read
     * it BEFORE reading the data it tags.  Cheap (an atomic load).
     * CACHE_GEN_NONE: unknown, cache nothing. */
    struct cache_gen (*generation)(const struct store_class **st);
    /* The same for the data of the domains in `domains` (store/domains.h)
     * alone: it moves with every write of those domains (and with every
     * write the store cannot place), not with the others' -- what a cache
     * class whose data all lies in those domains is keyed by.
     * generation() is generation_of(STORE_DOM_ALL). */
    struct cache_gen (*generation_of)(const struct store_class **st, unsigned domains);
    /* Notice commits of other processes since the calling thread's last
     * refresh (the router calls it as each request starts). */
    void (*refresh)(const struct store_class **st);

    TR_RESULT (*tx_begin)(const struct store_class **st);
    TR_RESULT (*tx_commit)(const struct store_class **st);
    /* Wait until every write committed so far (by any thread) is
     * durable; a request that only read calls it before it answers, so it
     * never hands out what a crash could take back.  Returns at once when
     * nothing is pending, and always for a store whose commits are
     * durable when they return. */
    TR_RESULT (*sync_barrier)(const struct store_class **st);
    /* A commit that does not wait for its sync (the HTTP server suspends
     * the request meanwhile, docs/internals/CRASH_SAFETY.md): tx_commit,
     * except that under group commit it returns once the commit is
     * written, with its number in *ticket; 0 when the commit is durable
     * already (a store without group commit: PostgreSQL, TRESOR_COMMIT=each).
     * A nonzero ticket is not acknowledged until sync_notify says so. */
    TR_RESULT (*tx_commit_ticket)(const struct store_class **st, uint64_t *ticket);
    /* Ask for w->done once commit w->seq (a ticket) is durable, or cannot
     * be; return values as gsync_notify (store/group_sync.h): 1 durable
     * now, -1 failed now (done not called), 0 queued. */
    int (*sync_notify)(const struct store_class **st, struct gsync_waiter *w);
    /* Take a queued waiter back (gsync_cancel). */
    bool (*sync_cancel)(const struct store_class **st, struct gsync_waiter *w);
    void (*tx_rollback)(const struct store_class **st);
    /* A long read-only pass on this thread (the analyzer): one consistent
     * snapshot from read_begin to read_end, with no write in between. */
    TR_RESULT (*read_begin)(const struct store_class **st);
    void (*read_end)(const struct store_class **st);

    TR_RESULT (*account_put)(const struct store_class **st, const struct account_rec *a);
    TR_RESULT (*account_get)(const struct store_class **st, const char *id, struct account_rec *out);
    /* The first account created (the server's default account). */
    TR_RESULT (*account_first)(const struct store_class **st, struct account_rec *out);
    /* Every account, oldest first (the analyzer); release *out with free(). */
    TR_RESULT (*account_list)(const struct store_class **st, struct account_rec **out, size_t *n);

    TR_RESULT (*access_key_put)(const struct store_class **st, const struct access_key_rec *k);
    TR_RESULT (*access_key_get)(const struct store_class **st, const char *akid, struct access_key_rec *out);

    /* A key is a (key_id, region) pair: the records of a multi-Region key
     * and of its replicas share the id, one in each region. */
    TR_RESULT (*key_put)(const struct store_class **st, const struct key_rec *k);      /* insert */
    TR_RESULT (*key_update)(const struct store_class **st, const struct key_rec *k);   /* by key_id, region */
    TR_RESULT (*key_get)(const struct store_class **st, const char *key_id, const char *region,
                         struct key_rec *out);
    /* Every region's record of one key id, ordered by region (a
     * multi-Region key and its replicas; one record for any other key). */
    TR_RESULT (*key_list_related)(const struct store_class **st, const char *key_id,
                                  struct key_rec **out, size_t *n);
    /* Keys of one account and region, ordered by key_id, those after
     * `after` (NULL: from the start), at most `limit`. */
    TR_RESULT (*key_list)(const struct store_class **st, const char *account, const char *region,
                          const char *after, size_t limit, struct key_rec **out, size_t *n);
    /* Keys, any account, whose deletion_date (PendingDeletion) or
     * next_rotation is at or before `now`: the maintenance work list. */
    TR_RESULT (*key_list_due)(const struct store_class **st, int64_t now,
                              struct key_rec **out, size_t *n);
    /* Delete one region's key with its aliases and tags, and the key id's
     * materials when no other region's record of the id remains. */
    TR_RESULT (*key_delete)(const struct store_class **st, const char *key_id, const char *region);

    TR_RESULT (*material_put)(const struct store_class **st, const struct material_rec *m);
    TR_RESULT (*material_get)(const struct store_class **st, const char *key_id, uint32_t version,
                              struct material_rec *out);
    /* All versions of a key's material, oldest first. */
    TR_RESULT (*material_list)(const struct store_class **st, const char *key_id,
                               struct material_rec **out, size_t *n);
    /* Replace the wrapped bytes of one material (tresor rotate-root-key:
     * the same material, wrapped under a new root key). */
    TR_RESULT (*material_rewrap)(const struct store_class **st, const char *key_id, uint32_t version,
                                 const struct buf *wrapped);
    /* Replace every column of an existing material row but its key id and
     * version (imported material re-imported, deleted or rotated to:
     * kms/import.c).  TR_E_STORE_NOT_FOUND when there is no such row. */
    TR_RESULT (*material_update)(const struct store_class **st, const struct material_rec *m);
    /* Delete one material version (DeleteImportedKeyMaterial, and imported
     * material whose ValidTo has passed).  TR_E_STORE_NOT_FOUND when
     * there is no such version. */
    TR_RESULT (*material_delete)(const struct store_class **st, const char *key_id, uint32_t version);

    TR_RESULT (*alias_put)(const struct store_class **st, const struct alias_rec *a);    /* insert */
    TR_RESULT (*alias_update)(const struct store_class **st, const struct alias_rec *a); /* by name */
    TR_RESULT (*alias_get)(const struct store_class **st, const char *account, const char *region,
                           const char *name, struct alias_rec *out);
    TR_RESULT (*alias_delete)(const struct store_class **st, const char *account, const char *region,
                              const char *name);
    /* Aliases of an account and region (only those of key_id when it is
     * not NULL), ordered by name, after `after`, at most `limit`. */
    TR_RESULT (*alias_list)(const struct store_class **st, const char *account, const char *region,
                            const char *key_id, const char *after, size_t limit,
                            struct alias_rec **out, size_t *n);

    /* Tags of any resource, by ARN.  tag_set inserts or replaces. */
    TR_RESULT (*tag_set)(const struct store_class **st, const char *arn, const char *key, const char *value);
    TR_RESULT (*tag_delete)(const struct store_class **st, const char *arn, const char *key);
    /* Ordered by key. */
    TR_RESULT (*tag_list)(const struct store_class **st, const char *arn, struct tag_rec **out, size_t *n);

    /* Access keys of one principal (IAM ListAccessKeys), oldest first;
     * update replaces active/expires/doc; delete by id. */
    TR_RESULT (*access_key_list)(const struct store_class **st, const char *principal_arn,
                                 struct access_key_rec **out, size_t *n);
    TR_RESULT (*access_key_update)(const struct store_class **st, const struct access_key_rec *k);
    /* Replace an access key's wrapped secret (tresor rotate-root-key). */
    TR_RESULT (*access_key_rewrap)(const struct store_class **st, const char *akid,
                                   const struct buf *wrapped);
    /* Deleting a key leaves a tombstone of it (access_key_tombstone_get);
     * putting a key removes its tombstone (UpdateUser re-puts keys). */
    TR_RESULT (*access_key_delete)(const struct store_class **st, const char *akid);
    /* Delete temporary keys (expires != 0) that expired before `now`,
     * leaving tombstones; drop the tombstones of sessions that expired
     * before `tombstones_before`. */
    TR_RESULT (*access_key_purge_expired)(const struct store_class **st, int64_t now,
                                          int64_t tombstones_before);
    /* The tombstone of an access key that existed once: *expires 0 for a
     * long-term key, else the session's expiry; token_sha256 its token's
     * digest in hex ("" when none).  TR_E_STORE_NOT_FOUND when there is
     * none (never known, or pruned). */
    TR_RESULT (*access_key_tombstone_get)(const struct store_class **st, const char *akid,
                                          int64_t *expires, char token_sha256[65]);

    TR_RESULT (*ent_put)(const struct store_class **st, const struct ent_rec *e);     /* insert */
    TR_RESULT (*ent_update)(const struct store_class **st, const struct ent_rec *e);  /* by kind+arn: name, path, doc */
    TR_RESULT (*ent_get)(const struct store_class **st, const char *kind, const char *account,
                         const char *name, struct ent_rec *out);
    TR_RESULT (*ent_get_arn)(const struct store_class **st, const char *kind, const char *arn,
                             struct ent_rec *out);
    TR_RESULT (*ent_get_id)(const struct store_class **st, const char *kind, const char *id,
                            struct ent_rec *out);
    TR_RESULT (*ent_delete)(const struct store_class **st, const char *kind, const char *arn);
    /* Entities of a kind in an account whose path starts with path_prefix
     * (NULL: any), ordered by name, after `after` (NULL: from the start),
     * at most `limit`. */
    TR_RESULT (*ent_list)(const struct store_class **st, const char *kind, const char *account,
                          const char *path_prefix, const char *after, size_t limit,
                          struct ent_rec **out, size_t *n);

    TR_RESULT (*rel_put)(const struct store_class **st, const struct rel_rec *r);  /* insert or replace */
    TR_RESULT (*rel_get)(const struct store_class **st, const char *kind, const char *from,
                         const char *to, struct rel_rec *out);
    /* One member of a relation's JSON doc without the rest: *out as
     * rel_get fills it, but out->doc is the member's JSON text ("null"
     * when the doc has no such member).  `member`: [a-z_], 1..32. */
    TR_RESULT (*rel_member_get)(const struct store_class **st, const char *kind, const char *from,
                                const char *to, const char *member, struct rel_rec *out);
    /* Set one member of a relation's JSON doc to the JSON text `json`,
     * leaving the other members as stored (a label move need not rewrite
     * a whole secret version).  TR_E_STORE_NOT_FOUND when there is no
     * such relation. */
    TR_RESULT (*rel_member_set)(const struct store_class **st, const char *kind, const char *from,
                                const char *to, const char *member, const char *json);
    /* rel_member_get of two relations of one kind and `from` in one
     * statement: the rows found (0, 1 or 2; one when to1 == to2), ordered
     * by to, as a list (rel_list_free). */
    TR_RESULT (*rel_member_get_pair)(const struct store_class **st, const char *kind,
                                     const char *from, const char *member, const char *to1,
                                     const char *to2, struct rel_rec **out, size_t *n);
    /* rel_put of two relations (not the same one) in one statement. */
    TR_RESULT (*rel_put_pair)(const struct store_class **st, const struct rel_rec *a,
                              const struct rel_rec *b);
    /* rel_member_set of the same member of two relations of one kind and
     * `from` (to1 != to2), each to its own JSON text, in one statement;
     * TR_E_STORE_NOT_FOUND unless both are there (the one that is may be
     * set all the same: call it in a transaction, rolled back on failure). */
    TR_RESULT (*rel_member_set_pair)(const struct store_class **st, const char *kind,
                                     const char *from, const char *member, const char *to1,
                                     const char *json1, const char *to2, const char *json2);
    TR_RESULT (*rel_delete)(const struct store_class **st, const char *kind, const char *from,
                            const char *to);
    /* Prune a creation order in one statement (a secret's versions past
     * the limit): delete the first `count` relations, ordered by `to`, of
     * kind order_kind from `from` whose item -- `to` past its first 21
     * characters, a 20-character key and '|' -- is none of keep[0..nkeep)
     * (nkeep <= STORE_PRUNE_KEEP_MAX), and with each the relation of kind
     * item_kind from `from` to its item.  *deleted: the relations deleted,
     * of both kinds (2 x count when every one had its item). */
    TR_RESULT (*rel_prune_order)(const struct store_class **st, const char *order_kind,
                                 const char *item_kind, const char *from, size_t count,
                                 const char *const *keep, size_t nkeep, int *deleted);
    /* Relations of a kind from `from` (ordered by to), after `after`, at most limit. */
    TR_RESULT (*rel_list_from)(const struct store_class **st, const char *kind, const char *from,
                               const char *after, size_t limit, struct rel_rec **out, size_t *n);
    /* Relations of a kind pointing to `to` (ordered by from). */
    TR_RESULT (*rel_list_to)(const struct store_class **st, const char *kind, const char *to,
                             struct rel_rec **out, size_t *n);

    /* Whole-store listings and the database's own checks, for `tresor
     * check` (analyze/check.h).  Listings are paged: the records after
     * `after` in their order, at most `limit`. */
    /* Every key of every account and region, ordered by (key_id, region),
     * after the pair (after_id, after_region) (after_id NULL: from the start). */
    TR_RESULT (*key_list_all)(const struct store_class **st, const char *after_id,
                              const char *after_region, size_t limit,
                              struct key_rec **out, size_t *n);
    /* Every access key, ordered by access_key_id. */
    TR_RESULT (*access_key_list_all)(const struct store_class **st, const char *after,
                                     size_t limit, struct access_key_rec **out, size_t *n);
    /* Every relation of a kind, ordered by (from, to), after the pair
     * (after_from, after_to) (after_from NULL: from the start). */
    TR_RESULT (*rel_list_kind)(const struct store_class **st, const char *kind,
                               const char *after_from, const char *after_to, size_t limit,
                               struct rel_rec **out, size_t *n);
    /* The backend's own consistency checks (SQLite: PRAGMA integrity_check
     * and foreign_key_check) and *schema_version, the migrations applied;
     * a schema version other than this build's is a problem too.  Each
     * problem goes to problem(arg, one line, no secret).  Fails only when
     * the checks cannot run. */
    TR_RESULT (*self_check)(const struct store_class **st,
                            void (*problem)(void *arg, const char *text), void *arg,
                            int *schema_version);
};

typedef const struct store_class **store_t;

/* How a commit of a file store becomes durable (docs/internals/CRASH_SAFETY.md):
 * GROUP, WAL with synchronous=NORMAL and one fdatasync of the -wal file
 * covering every commit written while the previous one ran; EACH,
 * synchronous=FULL, one sync inside every COMMIT.  Either way tx_commit
 * returns once the commit is durable. */
enum store_commit { STORE_COMMIT_GROUP, STORE_COMMIT_EACH };

/* Open (creating and migrating as needed) DATA_DIR/tresor.db, grouped. */
TR_RESULT store_sqlite_open(const char *data_dir, store_t *out);
/* The same with the commit mode given. */
TR_RESULT store_sqlite_open_commit(const char *data_dir, enum store_commit commit, store_t *out);
/* DATA_DIR/tresor.db read-only (`tresor check`): nothing is changed or
 * migrated, and it works on a read-only copy (files 0444, a directory
 * 0555, a read-only mount).  Without -wal and -shm files (a clean stop, a
 * copy of a stopped data dir: every commit is in the file) it is opened
 * immutable=1, so nothing is created beside it either; with them (a
 * running server, a crash) mode=ro, which reads the WAL when the -shm
 * file exists or the directory lets SQLite create it.  A -wal that cannot
 * be read, a schema version other than this build's: TR_E_INTERNAL after
 * a line on stderr saying which.  Writes fail (TR_E_STORE_READONLY). */
TR_RESULT store_sqlite_open_readonly(const char *data_dir, store_t *out);
/* DATA_DIR/tresor.db (which must exist) for one thread that must be
 * alone on it (tresor rotate-root-key): one connection, synchronous=FULL,
 * holding SQLite's exclusive lock from the open to the close.  Fails with
 * TR_E_STORE_BUSY when another process has the database open -- a running
 * server's connections hold a shared lock for as long as it runs -- and
 * while it is open, no other process can read or write the store. */
TR_RESULT store_sqlite_open_exclusive(const char *data_dir, store_t *out);
/* An in-memory store shared by all threads of the process (tests). */
TR_RESULT store_sqlite_open_memory(store_t *out);
/* Write SQLite store st (a memory one too) to a new database file at
 * path, page for page (SQLite's backup API: rows keep their rowids, so
 * what reads them in rowid order reads them in the same order), mode 0600, with n notes (keys[i] ->
 * vals[i], text: what the file is, for store_sqlite_note) in a table of
 * their own; written to path.tmp first and renamed, so path is whole or
 * untouched.  Fails with TR_E_STORE_IO (after a line on stderr) when the
 * file cannot be made. */
TR_RESULT store_sqlite_save_file(store_t st, const char *path, const char *const *keys, const char *const *vals,
                                 size_t n);
/* A database file (one store_sqlite_save_file wrote) read-only, as
 * store_sqlite_open_readonly opens a data dir's: immutable when it has no
 * -wal, nothing created beside it; the same failures, but for a file of
 * another schema version (nothing migrates it): TR_E_STORE_CORRUPT with
 * the message STORE_SCHEMA_OTHER " N, this build's is M". */
TR_RESULT store_sqlite_open_file(const char *path, store_t *out);
#define STORE_SCHEMA_OTHER "store schema version"
/* The note `key` of a store store_sqlite_save_file wrote, malloc'd;
 * TR_E_STORE_NOT_FOUND when it has none (or is another store). */
TR_RESULT store_sqlite_note(store_t st, const char *key, char **out);

void access_key_rec_free(struct access_key_rec *k);
void key_rec_free(struct key_rec *k);
void key_list_free(struct key_rec *v, size_t n);
void material_rec_free(struct material_rec *m);
void material_list_free(struct material_rec *v, size_t n);
void alias_list_free(struct alias_rec *v, size_t n);
void tag_rec_free(struct tag_rec *t);
void tag_list_free(struct tag_rec *v, size_t n);
void access_key_list_free(struct access_key_rec *v, size_t n);
void ent_rec_free(struct ent_rec *e);
void ent_list_free(struct ent_rec *v, size_t n);
void rel_rec_free(struct rel_rec *r);
void rel_list_free(struct rel_rec *v, size_t n);

#endif
