/*
 * root_record.h -- which root key the store is wrapped under, and what
 * every open of a data dir does so that a root key rotation (tresor
 * rotate-root-key, cli/rotate.h) cut short at any point leaves a data dir
 * that opens with one root key that wraps all of it.
 *
 * The design and the argument, phase by phase: docs/internals/SEAL.md
 * ("Rotating the root key").  In short:
 *  - the store keeps a *root record* (a relation row, kind "root-key"):
 *    the key-check value of the root key its records are wrapped under
 *    (keyring_check_value) and, for each file a rotation wrote beside the
 *    current one as NAME.next, the digest of that file's bytes;
 *  - a rotation writes the new key under the seal as root.key.next or
 *    root.seal.next (and audit.key.next), durably; then re-wraps the store
 *    and writes the new root record in ONE transaction; then renames each
 *    .next over its file;
 *  - at every open, a NAME.next whose digest the root record names was
 *    written by the rotation that committed: it is renamed over NAME (the
 *    rotation finished); any other NAME.next is the leftover of one that
 *    did not commit, and is removed.  This decision needs no key, so a
 *    server that starts sealed makes it too;
 *  - once the store is open, the root key must have the record's check
 *    value (root_verify): a server never runs with a key that does not
 *    wrap the store.
 * The rotation itself is cli/rotate.c (it reaches the audit log's keys,
 * a layer above the store).
 */
#ifndef TR_ROOT_RECORD_H
#define TR_ROOT_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/result.h"
#include "crypto/keyring.h"
#include "crypto/seal.h"
#include "store/store.h"

#define ROOT_DIGEST_LEN 32
#define ROOT_FILES_MAX 2              /* the seal's file and audit.key */
#define ROOT_NAME_MAX 32

/* The store's root record.  present false: the store has never been
 * rotated (no check value yet: any key that unwraps it is accepted). */
struct root_record {
    bool present;
    uint8_t check[KEYRING_CHECK_LEN];
    size_t nfiles;
    struct {
        char name[ROOT_NAME_MAX];     /* "root.key", "root.seal", "audit.key" */
        uint8_t digest[ROOT_DIGEST_LEN];
    } file[ROOT_FILES_MAX];
};

TR_RESULT root_record_get(store_t st, struct root_record *out);
/* Inside the caller's transaction. */
TR_RESULT root_record_put(store_t st, const struct root_record *rec);

/* The digest that names a file's bytes: SHA-256("tresor-root-file-v1\0" |
 * bytes). */
TR_RESULT root_file_digest(const uint8_t *data, size_t n, uint8_t out[ROOT_DIGEST_LEN]);

/* What to do with NAME.next (pure: the unit tests cover every case). */
enum root_settle { ROOT_SETTLE_NONE, ROOT_SETTLE_FINISH, ROOT_SETTLE_DROP };
enum root_settle root_settle_decide(const struct root_record *rec, const char *name, bool next_exists,
                                    const uint8_t next_digest[ROOT_DIGEST_LEN]);

/* The digest of dir/name.next; *exists false when there is none. */
TR_RESULT root_next_digest(const char *dir, const char *name, bool *exists, uint8_t d[ROOT_DIGEST_LEN]);
/* Rename dir/name.next over dir/name (FINISH) or remove it (DROP), then
 * sync dir.  Either can be repeated: a crash in between is settled again
 * by the next open. */
TR_RESULT root_settle_apply(const char *dir, const char *name, enum root_settle what);

struct root_settle_report {
    unsigned finished, dropped;       /* .next files renamed in, removed */
    /* The file that holds the current root key: the seal's own, or with
     * dry its .next when a committed rotation has not renamed it yet. */
    char seal_current[ROOT_NAME_MAX + 8];
};
/* Settle what a rotation cut short left in dir (the seal kind's file and
 * audit.key): nothing to do when no .next exists.  st: the store, or NULL
 * to open it read-only here for the record (only when a .next exists).
 * dry: change nothing, only say which file holds the current key
 * (tresor check, on a data dir that may be read-only).  Each rename or
 * removal is followed by an fsync of dir; each step can be repeated, so a
 * crash during settling is settled by the next open. */
TR_RESULT root_settle(const char *dir, enum seal_kind kind, store_t st, bool dry,
                      struct root_settle_report *rep);

/* ---- the root key's sealed form in the store (PostgreSQL) ----
 *
 * A PostgreSQL store shared by several nodes keeps the bytes of the seal's
 * file (root.seal or root.p11: the root key wrapped, never in the clear)
 * in the relation ("root-key", "tresor", "sealed"), so that a node with an
 * empty data dir and the same seal configuration unseals the store's key
 * (docs/internals/SEAL.md, "The sealed form in PostgreSQL").  The file
 * seal's key is never stored. */

/* The sealed form the store holds: *kind SEAL_NONE (form left empty) when
 * it holds none; a damaged relation fails with TR_E_STORE_CORRUPT. */
TR_RESULT root_sealed_get(store_t st, enum seal_kind *kind, struct buf *form);
/* Store form (len bytes) as the sealed form under kind (passphrase or
 * pkcs11); inside the caller's transaction. */
TR_RESULT root_sealed_put(store_t st, enum seal_kind kind, const uint8_t *form, size_t len);
/* The bytes of dir's seal file for kind (with next, its rotation's
 * NAME.next) into out; *exists false when there is none. */
TR_RESULT root_sealed_read(const char *dir, enum seal_kind kind, bool next, struct buf *out, bool *exists);
/* Make dir's seal file for kind hold exactly form: nothing when it does
 * already (*changed false); else written whole under a temporary name,
 * fsync'ed, renamed over the file and the directory fsync'ed. */
TR_RESULT root_sealed_adopt(const char *dir, enum seal_kind kind, const uint8_t *form, size_t len,
                            bool *changed);

/* Refuse kr unless it is the key the store's root record names (constant
 * time); a store without a record accepts any key. */
TR_RESULT root_verify(store_t st, const struct keyring *kr);

#endif
