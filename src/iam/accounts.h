/*
 * accounts.h -- accounts, their root users' access keys, and the AWS
 * shared-credentials files written for them.
 */
#ifndef TR_ACCOUNTS_H
#define TR_ACCOUNTS_H

#include <stdbool.h>

#include "core/result.h"
#include "store/store.h"

struct keyring;

struct root_credentials {
    char account_id[ACCOUNT_ID_LEN + 1];
    char access_key_id[21];
    char secret[41];            /* wipe with secure_zero after use */
};

/* A new access key: prefix ("AKIA" permanent, "ASIA" temporary) and 16
 * characters of [A-Z2-7] into akid, 40 characters of [A-Za-z0-9+/] into
 * secret (wipe it after use). */
TR_RESULT access_key_generate(const char *prefix, char akid[21], char secret[41]);

/* A 12-digit account id that does not start with 0. */
TR_RESULT account_random_id(char out[ACCOUNT_ID_LEN + 1]);
/* True when s is exactly 12 ASCII digits. */
bool account_id_valid(const char *s);

/* Create an account and an access key for its root user, in one
 * transaction.  account_id may be NULL (random).  The secret is stored
 * only wrapped under the root key; *out receives it in the clear once, so
 * the caller can write the credentials file. */
TR_RESULT account_create(store_t st, const struct keyring *kr, const char *account_id,
                         int64_t now, struct root_credentials *out);

/* The same, calling before_commit(arg, the new credentials) inside the
 * transaction, after the rows are written and before COMMIT; its failure
 * rolls the account back.  Writing the credentials file there makes the
 * pair crash-safe: a crash leaves no account (and perhaps a profile naming
 * none, replaced by the next try), or an account whose credentials are on
 * disk -- never an account no one has the credentials of. */
typedef TR_RESULT (*account_hook)(void *arg, const struct root_credentials *c);
TR_RESULT account_create_then(store_t st, const struct keyring *kr, const char *account_id,
                              int64_t now, account_hook before_commit, void *arg,
                              struct root_credentials *out);

/* The store's first account, as account_create_then makes it, unless the
 * store has one already: checked inside the write transaction, so of
 * several processes initializing one store at once (nodes on one
 * PostgreSQL database, whose write transactions run one at a time under
 * an advisory lock) exactly one creates it.  *created says which:
 * false, with TR_OK, when another had (nothing written, before_commit
 * not called, *out zeroed). */
TR_RESULT account_create_first(store_t st, const struct keyring *kr, const char *account_id, int64_t now,
                               account_hook before_commit, void *arg, struct root_credentials *out,
                               bool *created);

/* Append (or replace) profile `profile` in DIR/credentials (mode 0600)
 * and DIR/config (region), each replaced atomically (temp file, fsync,
 * rename, directory fsync). */
TR_RESULT credfile_write(const char *data_dir, const char *profile,
                         const struct root_credentials *c, const char *region);

/* Make DIR/config name `region` in every profile tresor writes there
 * ("tresor", and "tresor-<ID>" of tresor account create), so that they
 * work against a server restarted with another --region.  Only the region
 * lines change (one is added to a section that lacks it, and the section
 * [profile tresor] is added back if it is gone); the file is replaced
 * atomically, and only when something changed.  was: the region profile
 * tresor named before ("" if none); *changed: how many lines changed. */
TR_RESULT credfile_set_region(const char *data_dir, const char *region,
                              char *was, size_t was_size, unsigned *changed);

/* The same for "ca_bundle = CA_PATH" (tresor serve --tls-generate): the
 * AWS CLI and boto3 with these profiles verify the server against it. */
TR_RESULT credfile_set_ca_bundle(const char *data_dir, const char *ca_path, unsigned *changed);

#endif
