/*
 * rotate.c -- `tresor rotate-root-key`: a new root key for a stopped
 * server's data dir, every record wrapped under the old one wrapped again
 * under it (crypto/rotate.h; the crash-safety argument in
 * docs/internals/SEAL.md, "Rotating the root key").
 *
 * It runs only on a stopped server's data dir, and detects a running one
 * the way tresor seal migrate does (cli_stopped_dir_lock): the data dir's
 * flock, which every server holds shared for its life, taken exclusively,
 * and the control socket asked; then, as a second guard, the store is
 * opened in SQLite's exclusive locking mode (a running server's
 * connections hold a shared lock on tresor.db).  Both locks are held to
 * the end, so no server starts, no seal migrate runs and no other command
 * opens the store while the rotation runs.  A seal migrate cut short is
 * finished or undone first (seal_recorded), so the rotation writes the
 * .next of the one seal file left.  An online rotation (through the
 * control socket) is not built.  With TRESOR_STORE (a PostgreSQL store)
 * every node must be stopped: each serving node holds a session lock
 * shared, which the rotation takes exclusively to the end
 * (store_pg_nodes_exclusive); the data dir is a node's (its root key
 * file, or the store's sealed form written into it), and the store's
 * sealed form is replaced in the rotation's transaction
 * (docs/internals/SEAL.md, "Rotating a PostgreSQL store's root key").
 *
 * Prints what it re-wrapped, counted per kind; never a key.  Exit status:
 * 0 rotated, 1 refused or failed (nothing changed, or -- after the commit
 * -- the next open finishes it), 2 usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "audit/audit.h"
#include "core/buf.h"
#include "core/ct.h"
#include "crypto/hash.h"
#include "cli/rotate.h"
#include "core/secmem.h"
#include "core/str.h"
#include "crypto/rand.h"
#include "crypto/seal.h"
#include "http/control.h"
#include "kms/kms.h"
#include "store/postgres.h"
#include "store/root_record.h"
#include "store/walk.h"

/*
 * What is wrapped under the root key, and so re-wrapped here:
 *  - every KMS key material (kms_key_materials.wrapped, label
 *    keyring_label_material: "kms-material:<key-id>:<version>");
 *  - every access key's secret: the account roots', IAM users', STS
 *    sessions' (access_keys.wrapped_secret, label keyring_label_access_key:
 *    "access-key:<AKID>");
 * the labels come from crypto/keyring.h, the one home every wrapper and
 * unwrapper of these records uses, so the rotation cannot disagree;
 *  - the digest of each EXTERNAL key's imported material (a "kms-import"
 *    relation, label keyring_label_import_check; kms/import.c), counted
 *    with the materials;
 *  - the audit log's two keys in DIR/audit.key (audit/audit_keys.c).
 * Secret values are not: they are sealed under data keys that KMS key
 * materials seal, so re-wrapping the materials covers them.  Every
 * plaintext (a material, a secret access key, the new root key) is in a
 * secret buf or locked page and wiped as soon as it is wrapped again.
 */
#define AUDIT_KEY "audit.key"
#define FILE_MAX 4096

/* Tests only (rotate.h): stop at phase when TRESOR_TEST_ROTATE_PAUSE names it. */
static void pause_at(const char *phase)
{
    const char *want = getenv("TRESOR_TEST_ROTATE_PAUSE");
    if (!want || strcmp(want, phase) != 0) return;
    fprintf(stderr, "rotate-root-key: paused at %s\n", phase);
    fflush(stderr);
    for (;;) pause();
}

/* Unwrap wrapped (label) under old and wrap it under new_kr into out. */
/* The largest plaintext re-wrapped: a KMS key material of any spec (an
 * RSA-4096 private key as PKCS#8 is about 2.4 KiB; kms.h KMS_MATERIAL_MAX),
 * and the room its wrapping adds. */
#define REWRAP_MAX 8192
#define WRAPPED_MAX (REWRAP_MAX + 256)

static TR_RESULT rewrap(const struct keyring *old, const struct keyring *new_kr, const char *label,
                        const struct buf *wrapped, struct buf *out)
{
    struct buf pt = BUF_SECRET(REWRAP_MAX);
    tr_result r = keyring_unwrap(old, label, wrapped->data, wrapped->len, &pt);
    if (tr_ok(r)) r = keyring_wrap(new_kr, label, pt.data, pt.len, out);
    buf_free(&pt);
    return r;
}

/* The walks of the store (store/walk.h): the two root keys, and the
 * count of records re-wrapped so far that the current walk adds to. */
struct rewrap_walk {
    const struct keyring *old, *new_kr;
    size_t *count;
};

/* Every material of key k re-wrapped. */
static TR_RESULT rewrap_key_materials(store_t st, struct key_rec *k, void *arg)
{
    const struct rewrap_walk *rw = arg;
    char label[KEYRING_LABEL_MAX];
    struct material_rec *m = NULL;
    size_t nm = 0;
    tr_result r = st[0]->material_list(st, k->key_id, &m, &nm);
    for (size_t j = 0; tr_ok(r) && j < nm; j++) {
        /* Imported material deleted or expired keeps an empty row. */
        if (m[j].wrapped.len == 0) continue;
        struct buf w = BUF_INIT(WRAPPED_MAX);
        r = keyring_label_material(label, m[j].key_id, m[j].version);
        if (tr_ok(r)) r = rewrap(rw->old, rw->new_kr, label, &m[j].wrapped, &w);
        if (tr_ok(r)) r = st[0]->material_rewrap(st, m[j].key_id, m[j].version, &w);
        buf_free(&w);
        if (tr_ok(r) && ++*rw->count == 1) pause_at("rewrapping");
    }
    material_list_free(m, nm);
    return r;
}

/* Access key k's secret re-wrapped. */
static TR_RESULT rewrap_access_key(store_t st, struct access_key_rec *k, void *arg)
{
    const struct rewrap_walk *rw = arg;
    char label[KEYRING_LABEL_MAX];
    struct buf w = BUF_INIT(512);
    tr_result r = keyring_label_access_key(label, k->access_key_id);
    if (tr_ok(r)) r = rewrap(rw->old, rw->new_kr, label, &k->wrapped_secret, &w);
    if (tr_ok(r)) r = st[0]->access_key_rewrap(st, k->access_key_id, &w);
    buf_free(&w);
    if (tr_ok(r)) ++*rw->count;
    return r;
}

/* Write text as dir/audit.key.next (0600, durably), a stale one replaced. */
static TR_RESULT write_audit_next(const char *dir, const struct buf *text)
{
    char path[PATH_MAX + 64];
    GUARD(str_format(path, sizeof path, "data directory path", "%s/%s.next", dir, AUDIT_KEY));
    if (unlink(path) != 0 && errno != ENOENT) BAIL(TR_E_INTERNAL, "cannot remove %s: %s", path, strerror(errno));
    return keyring_create_file(dir, AUDIT_KEY ".next", text->data, text->len, false);
}

/* The new key as the seal's .next, checked: it opens under the seal and
 * is new_kr's key; *rec gets its digest. */
static TR_RESULT write_seal_next(const char *dir, const struct seal_how *how, const uint8_t root[32],
                                 const uint8_t want[KEYRING_CHECK_LEN], struct root_record *rec)
{
    char nx[ROOT_NAME_MAX + 8];
    uint8_t got[KEYRING_CHECK_LEN];
    struct keyring *back = NULL;
    bool wrong, exists;
    enum seal_kind kind = how->kind;
    GUARD(seal_write_next(dir, how, root));
    GUARD(str_format(nx, sizeof nx, "file name", "%s.next", seal_file_name(kind)));
    GUARD(seal_open_how_named(dir, how, nx, &wrong, &back));
    tr_result r = keyring_check_value(back, got);
    keyring_free(back);
    GUARD(r);
    if (!ct_memeq(got, want, sizeof got)) BAIL(TR_E_INTERNAL, "%s/%s does not hold the new root key", dir, nx);
    size_t i = rec->nfiles++;
    GUARD(str_copy(rec->file[i].name, sizeof rec->file[i].name, seal_file_name(kind), "file name"));
    GUARD(root_next_digest(dir, seal_file_name(kind), &exists, rec->file[i].digest));
    ENSURE(exists, TR_E_INTERNAL);
    return TR_OK;
}

/* The rotation's .next files, removed after a failure before COMMIT. */
static void drop_next(const char *dir, enum seal_kind kind)
{
    char p[PATH_MAX + 64];
    int k = snprintf(p, sizeof p, "%s/%s.next", dir, seal_file_name(kind));
    if (k > 0 && (size_t)k < sizeof p) (void)unlink(p);
    k = snprintf(p, sizeof p, "%s/%s.next", dir, AUDIT_KEY);
    if (k > 0 && (size_t)k < sizeof p) (void)unlink(p);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* The new key's sealed form (dir's NAME.next, just written and checked)
 * as the store's, inside the rotation's transaction. */
static TR_RESULT keep_next_sealed(const char *dir, enum seal_kind kind, store_t st)
{
    struct buf form = BUF_INIT(FILE_MAX);
    bool exists = false;
    tr_result r = root_sealed_read(dir, kind, true, &form, &exists);
    if (tr_ok(r) && !exists) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "the new sealed root key is gone");
    if (tr_ok(r)) r = root_sealed_put(st, kind, form.data, form.len);
    buf_free(&form);
    return r;
}

TR_RESULT root_rotate(const char *dir, const struct seal_how *how, store_t st, const struct keyring *old,
                      bool keep_sealed, struct root_rotate_counts *out)
{
    struct buf root = BUF_SECRET(32), audit = BUF_SECRET(1024);
    struct keyring *new_kr = NULL;
    struct root_record rec;
    struct rewrap_walk rw;
    bool audit_present = false, in_tx = false, committed = false;
    tr_result r;

    ENSURE(dir && how && st && old && out && seal_file_name(how->kind), TR_E_INTERNAL);
    enum seal_kind kind = how->kind;
    memset(out, 0, sizeof *out);
    memset(&rec, 0, sizeof rec);
    rec.present = true;
    r = buf_reserve(&root, 32);
    if (tr_ok(r)) r = rand_bytes(root.data, 32);
    if (tr_failed(r)) goto fail;
    root.len = 32;
    r = keyring_from_bytes(root.data, &new_kr);
    if (tr_ok(r)) r = keyring_check_value(new_kr, rec.check);
    /* 1. the new key under the seal, beside the old one, durably */
    if (tr_ok(r)) r = write_seal_next(dir, how, root.data, rec.check, &rec);
    buf_free(&root);                    /* from here on only in new_kr's locked page */
    if (tr_ok(r)) r = audit_keys_rewrap(dir, old, new_kr, &audit, &audit_present);
    if (tr_ok(r) && audit_present) {
        size_t i = rec.nfiles++;
        bool exists;
        STR_SET(rec.file[i].name, AUDIT_KEY);
        r = write_audit_next(dir, &audit);
        if (tr_ok(r)) r = root_next_digest(dir, AUDIT_KEY, &exists, rec.file[i].digest);
        out->audit_keys = 2;
    }
    if (tr_failed(r)) goto fail;
    pause_at("next-written");
    /* 2. the store re-wrapped, with the new root record: one transaction */
    r = st[0]->tx_begin(st);
    if (tr_failed(r)) goto fail;
    in_tx = true;
    rw = (struct rewrap_walk){ old, new_kr, &out->materials };
    r = store_each_key(st, rewrap_key_materials, &rw);
    rw.count = &out->access_keys;
    if (tr_ok(r)) r = store_each_access_key(st, rewrap_access_key, &rw);
    /* The digests that tell a re-import of the same material (kms/import.c):
     * counted with the materials. */
    if (tr_ok(r)) r = kms_import_rewrap(st, old, new_kr, &out->materials);
    if (tr_ok(r) && keep_sealed) r = keep_next_sealed(dir, kind, st);
    if (tr_ok(r)) r = root_record_put(st, &rec);
    /* A COMMIT that fails may still have reached the disk (a failed sync):
     * from here on the .next files are left for the next open to settle
     * from what the store holds, never removed here. */
    if (tr_ok(r)) committed = true;
    if (tr_ok(r)) r = st[0]->tx_commit(st);
    if (tr_failed(r)) goto fail;
    in_tx = false;
    pause_at("committed");
    /* 3. the .next files renamed over the old ones */
    r = root_settle_apply(dir, seal_file_name(kind), ROOT_SETTLE_FINISH);
    if (tr_failed(r)) goto fail;
    pause_at("renamed");
    if (audit_present) r = root_settle_apply(dir, AUDIT_KEY, ROOT_SETTLE_FINISH);
    if (tr_failed(r)) goto fail;
    buf_free(&audit);
    keyring_free(new_kr);
    return TR_OK;
fail:
    if (in_tx) st[0]->tx_rollback(st);
    if (!committed) drop_next(dir, kind);
    buf_free(&root);
    buf_free(&audit);
    keyring_free(new_kr);
    return r;
}

/* ---- the command ------------------------------------------------------------ */

static const struct cli_opt rotate_opts[] = {
    CLI_OPT_DATA_DIR("the data dir of the stopped server"),
    { "passphrase-file", 'p', "FILE", NULL, NULL,
      "with the passphrase seal: the passphrase from FILE (mode 0600), else from TRESOR_PASSPHRASE; the new "
      "root key is sealed under the same passphrase" },
    CLI_OPTS_PKCS11,
    { 0 },
};

static const struct cli_cmd rotate_cmd = {
    "rotate-root-key", "[--data-dir DIR] [--passphrase-file FILE] [--pkcs11-module PATH] [--pkcs11-token LABEL] "
    "[--pkcs11-key LABEL] [--pkcs11-pin-file FILE]",
    "Make a new root key for the data dir of a stopped server and wrap again under\n"
    "it everything the old one wrapped: every KMS key material, every access key's\n"
    "secret (account roots, IAM users, STS sessions) and the audit log's keys.  The\n"
    "new key is kept under the data dir's seal (root.key; root.seal under the same\n"
    "passphrase with a fresh salt; root.p11 wrapped by the same token key) and the\n"
    "old one is gone.  Crash-safe: cut short at any point, the data dir opens with\n"
    "the old or the new key.  A seal migrate cut short is finished first.  Refused\n"
    "while a server runs on DIR.  Backups made before it need the old root key.\n",
    rotate_opts,
    "Exit status: 0 rotated, 1 refused or failed, 2 usage error.\n", NULL,
};

static int fail(const char *what)
{
    const struct tr_error_info *e = tr_last_error();
    fprintf(stderr, "tresor rotate-root-key: %s: %s\n", what, e->has_message ? e->message : tr_err_type(e->code));
    return 1;
}

/* A flag for another seal than dir's: a usage error (2), said so. */
static int wrong_seal_flag(const char *dir, enum seal_kind kind, const char *flag, const char *for_seal)
{
    fprintf(stderr, "tresor rotate-root-key: %s has the %s seal: %s is for the %s seal\n", dir,
            seal_kind_name(kind), flag, for_seal);
    return 2;
}

int cmd_rotate_root_key(int argc, char **argv)
{
    const char *data_dir = env_or(CLI_DATA_DIR_ENV, CLI_DATA_DIR_DEFAULT), *file = NULL, *pin_file = NULL,
               *module = NULL, *token = NULL, *key = NULL;
    char dir[PATH_MAX];
    const struct cli_value vals[] = { { 'd', &data_dir }, { 'p', &file },   { 'N', &pin_file },
                                      { 'y', &module },   { 'T', &token }, { 'K', &key } };
    int c = cli_parse(&rotate_cmd, argc, argv, vals, 6, 0), rc = 1;
    if (c < 0) return cli_exit(c);

    struct buf pass = BUF_SECRET(SEAL_PASSPHRASE_MAX + 2), pin = BUF_SECRET(SEAL_PASSPHRASE_MAX + 2);
    struct keyring *old = NULL;
    store_t st = NULL;
    enum seal_kind kind;
    struct seal_how how;
    struct root_rotate_counts n;
    bool wrong = false;
    int lock = -1;
    struct store_pg_nodes *nodes = NULL;

    if (!realpath(data_dir, dir)) {
        fprintf(stderr, "tresor rotate-root-key: %s: %s\n", data_dir, strerror(errno));
        goto out;
    }
    /* TRESOR_STORE: a PostgreSQL store, which every node must leave first
     * (store_pg_nodes_exclusive, held to the end). */
    const char *pg = env_or(CLI_STORE_ENV, NULL);
    if (pg && !*pg) pg = NULL;
    if (tr_failed(crypto_init())) { rc = fail("crypto init"); goto out; }
    /* A running server first; the lock is held to the end, so neither a
     * server nor a seal migrate starts meanwhile. */
    if (tr_failed(cli_stopped_dir_lock(dir, &lock))) { rc = fail("data dir"); goto out; }
    if (pg && tr_failed(store_pg_nodes_exclusive(pg, &nodes))) { rc = fail("store"); goto out; }
    /* A seal migrate cut short is finished or undone here (seal_recorded). */
    if (tr_failed(seal_recorded(dir, &kind))) { rc = fail("root key"); goto out; }
    if (pg) {
        struct account_rec acct;
        if (tr_failed(store_pg_open(pg, STORE_PG_WRITE, &st))) { rc = fail("store"); goto out; }
        tr_result a = st[0]->account_first(st, &acct);
        if (tr_failed(a) && tr_code(a) != TR_E_STORE_NOT_FOUND) { rc = fail("store"); goto out; }
        if (tr_failed(a)) {
            fprintf(stderr, "tresor rotate-root-key: the PostgreSQL store holds nothing yet\n");
            goto out;
        }
        /* The store's sealed form, if it keeps one, is the key to rotate. */
        if (tr_failed(cli_adopt_sealed_form(st, dir, &kind))) { rc = fail("root key"); goto out; }
        if (kind == SEAL_NONE) {
            fprintf(stderr, "tresor rotate-root-key: %s has no root key (root.key, root.seal or root.p11), and "
                    "the PostgreSQL store keeps no sealed one: give the data dir of a node\n", dir);
            goto out;
        }
    } else if (kind == SEAL_NONE || !file_exists(dir, "tresor.db")) {
        fprintf(stderr, "tresor rotate-root-key: %s is not an initialized data dir\n", dir);
        goto out;
    }
    if (file && kind != SEAL_PASSPHRASE) {
        rc = wrong_seal_flag(dir, kind, "--passphrase-file", "passphrase");
        goto out;
    }
    if ((pin_file || module || token || key) && kind != SEAL_PKCS11) {
        rc = wrong_seal_flag(dir, kind, pin_file ? "--pkcs11-pin-file" : module ? "--pkcs11-module"
                                      : token ? "--pkcs11-token" : "--pkcs11-key", "pkcs11");
        goto out;
    }
    tr_result r = pg ? TR_OK : store_sqlite_open_exclusive(dir, &st);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_BUSY) {
        fprintf(stderr, "tresor rotate-root-key: the store %s/tresor.db is locked: a server is running on "
                "%s (or another tresor command has it open): stop it first\n", dir, dir);
        goto out;
    }
    if (tr_failed(r)) { rc = fail("store"); goto out; }
    /* Under the lock: what an earlier rotation cut short left, settled. */
    if (cli_settle_rotation("rotate-root-key", dir, kind, st) != 0) goto out;
    struct seal_p11_conf conf = seal_p11_conf_env(module, token, key);
    if (cli_seal_how("rotate-root-key", kind, file, pin_file, &pass, &pin, &conf, false, &how) != 0) goto out;
    how.p11.token = conf.token;         /* given: must be root.p11's (seal_open_pkcs11) */
    how.p11.key = conf.key;
    if (tr_failed(seal_open_how(dir, &how, &wrong, &old))) { rc = fail("root key"); goto out; }
    if (tr_failed(root_verify(st, old))) { rc = fail("root key"); goto out; }
    bool keep_sealed = pg && (kind == SEAL_PASSPHRASE || kind == SEAL_PKCS11);
    if (tr_failed(root_rotate(dir, &how, st, old, keep_sealed, &n))) { rc = fail("rotation"); goto out; }
    printf("tresor rotate-root-key %s\n", dir);
    printf("  re-wrapped under the new root key: kms key materials %zu, access keys %zu, audit keys %zu\n",
           n.materials, n.access_keys, n.audit_keys);
    printf("  the new root key is in %s/%s (%s seal); the old one is gone\n", dir, seal_file_name(kind),
           seal_kind_name(kind));
    if (keep_sealed)
        printf("  the PostgreSQL store keeps its sealed form: each node takes it at its next start\n");
    else if (pg)
        printf("  copy %s/root.key to every other node's data dir before it starts\n", dir);
    rc = 0;
out:
    buf_free(&pass);
    buf_free(&pin);
    keyring_free(old);
    if (st) st[0]->close(st);
    store_pg_nodes_release(nodes);
    if (lock >= 0) close(lock);
    crypto_thread_cleanup();
    return rc;
}
