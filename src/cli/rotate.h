/*
 * rotate.h -- tresor rotate-root-key: a new root key, every record wrapped
 * under the old one wrapped again under it, crash-safe (store/root_record.h
 * has the record and the settling every open does; the argument is in
 * docs/internals/SEAL.md, "Rotating the root key").
 */
#ifndef TR_CLI_ROTATE_H
#define TR_CLI_ROTATE_H

#include <stddef.h>
#include <stdint.h>

#include "core/result.h"
#include "crypto/keyring.h"
#include "crypto/seal.h"
#include "store/store.h"

struct root_rotate_counts {
    size_t materials, access_keys, audit_keys;
};
/* The rotation, on a store opened with store_sqlite_open_exclusive and
 * settled, whose root key old has been verified.  how: the data dir's
 * seal with its secret (the passphrase, or the token's PIN and module):
 * the new key is sealed the same way (seal_write_next).  On a failure
 * before COMMIT, nothing changed (the .next files are removed); from
 * COMMIT on (a failed COMMIT included: its sync may have reached the
 * disk), the .next files stay and the next open settles them from what
 * the store holds.  The new key is wiped before it
 * returns.
 * keep_sealed (a PostgreSQL store, the passphrase or pkcs11 seal): the
 * store's sealed form of the root key (store/root_record.h) is replaced by
 * the new key's in the same transaction.
 * TRESOR_TEST_ROTATE_PAUSE=PHASE (tests only; inert unless set): stop at
 * PHASE -- next-written, rewrapping, committed, renamed -- after saying
 * "rotate-root-key: paused at PHASE" on stderr, until killed. */
TR_RESULT root_rotate(const char *dir, const struct seal_how *how, store_t st, const struct keyring *old,
                      bool keep_sealed, struct root_rotate_counts *out);

#endif
