/*
 * common.c -- helpers shared by the subcommands (cli.h).
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analyze/analyze.h"
#include "analyze/snapshot.h"
#include "core/log.h"
#include "crypto/hash.h"
#include "crypto/keyring.h"
#include "http/control.h"
#include "store/root_record.h"
#include "crypto/seal.h"
#include "cli/opts.h"
#include "store/postgres.h"

const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

int die(const char *what)
{
    const struct tr_error_info *e = tr_last_error();
    fprintf(stderr, "tresor: %s: %s\n", what, e->has_message ? e->message : tr_err_type(e->code));
    return 1;
}

int file_exists(const char *dir, const char *name)
{
    char p[PATH_MAX + 64];
    int n = snprintf(p, sizeof p, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof p) return 0;
    struct stat st;
    return stat(p, &st) == 0;
}

int cli_store_arg(const struct cli_cmd *cmd, const char *s, const char **out)
{
    *out = NULL;
    if (!s || !*s) return 0;
    if (!store_pg_named(s))
        return cli_usage_error(NULL, cmd, "%s must be a PostgreSQL connection string (postgres://USER@HOST/DB?..., "
                               "postgresql://..., or libpq key=value pairs)",
                               cli_source(s, CLI_STORE_ENV, "--store"));
    *out = s;
    return 0;
}

/* Close what open_data_dir opened, before it fails. */
static void rc_close(struct data_dir *d)
{
    if (d->st) d->st[0]->close(d->st);
    d->st = NULL;
    keyring_free(d->kr);
    d->kr = NULL;
}

int open_data_dir(const char *data_dir, const char *store, bool readonly, struct data_dir *d)
{
    d->kr = NULL;
    d->st = NULL;
    if (!realpath(data_dir, d->path)) {
        fprintf(stderr, "tresor: %s: %s\n", data_dir, strerror(errno));
        return 1;
    }
    if ((!file_exists(d->path, "root.key") && !file_exists(d->path, "root.seal") &&
         !file_exists(d->path, "root.p11")) ||
        (!store && !file_exists(d->path, "tresor.db"))) {
        fprintf(stderr, "tresor: %s is not an initialized data dir (run tresor serve first)\n",
                d->path);
        return 1;
    }
    if (tr_failed(crypto_init())) return die("crypto init");
    /* A PostgreSQL store is opened first: it holds the root record the
     * settling reads.  The data dir's SQLite store is opened after, by
     * which time a .next renamed in has become the current key. */
    if (store && tr_failed(store_pg_open(store, readonly ? STORE_PG_READONLY : STORE_PG_WRITE, &d->st)))
        return die("store");
    /* A root key rotation cut short (crypto/rotate.h): settled, or with
     * readonly only looked at (the current key may still be in a .next). */
    enum seal_kind kind;
    struct root_settle_report rep;
    if (tr_failed(seal_recorded(d->path, &kind)) || tr_failed(root_settle(d->path, kind, d->st, readonly, &rep))) {
        rc_close(d);
        return die("root key");
    }
    if (rep.finished || rep.dropped)
        fprintf(stderr, "tresor: %s: a root key rotation was cut short: %s\n", d->path,
                rep.finished ? "it had committed, and is now finished" : "it had not committed, and is undone");
    bool pending = strcmp(rep.seal_current, seal_file_name(kind)) != 0;
    if (pending)
        fprintf(stderr, "tresor: %s: a root key rotation committed but was cut short before %s was renamed "
                "in; read with it (the next tresor serve finishes it)\n", d->path, rep.seal_current);
    if (tr_failed(seal_open_any_named(d->path, pending ? rep.seal_current : NULL, &d->kr))) {
        rc_close(d);
        return die("root key");
    }
    if (!store) {
        tr_result r = readonly ? store_sqlite_open_readonly(d->path, &d->st) : store_sqlite_open(d->path, &d->st);
        if (tr_failed(r)) {
            rc_close(d);
            return die("store");
        }
    }
    if (tr_failed(root_verify(d->st, d->kr))) {
        rc_close(d);
        return die("root key");
    }
    return 0;
}

void close_data_dir(struct data_dir *d)
{
    if (d->st) d->st[0]->close(d->st);
    keyring_free(d->kr);
    crypto_thread_cleanup();
}

TR_RESULT cli_stopped_dir_lock(const char *dir, int *fd)
{
    GUARD(seal_dir_lock(dir, true, fd));
    if (!control_answers(dir)) return TR_OK;        /* a server of a version without the lock */
    close(*fd);
    *fd = -1;
    BAIL(TR_E_INTERNAL, "a tresor server is running on %s (its control socket answers): stop it first", dir);
}

int cli_settle_rotation(const char *cmd, const char *dir, enum seal_kind kind, store_t st)
{
    struct root_settle_report rep;
    if (tr_failed(root_settle(dir, kind, st, false, &rep))) {
        fprintf(stderr, "tresor %s: %s\n", cmd, tr_last_error()->message);
        return 1;
    }
    if (rep.finished || rep.dropped)
        printf("an earlier rotation cut short: %u file%s renamed in, %u leftover%s removed\n", rep.finished,
               rep.finished == 1 ? "" : "s", rep.dropped, rep.dropped == 1 ? "" : "s");
    return 0;
}

int cli_seal_how(const char *cmd, enum seal_kind k, const char *pass_file, const char *pin_file, struct buf *pass,
                 struct buf *pin, const struct seal_p11_conf *conf, bool target, struct seal_how *how)
{
    *how = (struct seal_how){ .kind = k, .prm = SEAL_PARAMS_DEFAULT, .p11 = *conf };
    if (!target) how->p11.token = how->p11.key = NULL;      /* root.p11 names them */
    if (k == SEAL_PASSPHRASE) {
        if (!pass->len && tr_failed(seal_passphrase_load(pass_file, pass))) return die("passphrase");
        if (!pass->len) {
            fprintf(stderr, "tresor %s: the passphrase seal needs its passphrase: give --passphrase-file FILE "
                    "or TRESOR_PASSPHRASE\n", cmd);
            return 1;
        }
        how->secret = pass->data;
        how->secret_len = pass->len;
    } else if (k == SEAL_PKCS11) {
        if (!pin->len && tr_failed(seal_pin_load(pin_file, pin))) return die("PIN");
        if (!pin->len || !conf->module || (target && (!conf->token || !conf->key))) {
            fprintf(stderr, "tresor %s: the pkcs11 seal needs the token's PIN (--pkcs11-pin-file or "
                    "TRESOR_PKCS11_PIN) and its module (--pkcs11-module or TRESOR_PKCS11_MODULE)%s\n", cmd,
                    target ? ", and --to pkcs11 the token's and the key's labels (--pkcs11-token, --pkcs11-key)" : "");
            return 1;
        }
        how->secret = pin->data;
        how->secret_len = pin->len;
    }
    return 0;
}

int cli_open_snapshots(const char *const *files, size_t n, const char *only_secret, struct data_dir *d,
                       struct snapset **out)
{
    struct snapset *ss = calloc(1, sizeof *ss);
    *out = NULL;
    if (!ss || tr_failed(crypto_init())) {
        free(ss);
        (void)die("snapshot");
        return 2;
    }
    /* A prepared snapshot (tresor snapshot prepare) is the store itself,
     * opened read-only: nothing to parse or load. */
    bool prepared = false;
    for (size_t i = 0; i < n && !prepared; i++) {
        if (!snapshot_is_prepared(files[i])) continue;
        if (n > 1) {
            fprintf(stderr, "tresor: snapshot: %s is a prepared snapshot: give it alone (prepare the files "
                    "together: tresor snapshot prepare FILE... --out PREPARED)\n", files[i]);
            free(ss);
            return 2;
        }
        if (tr_failed(snapshot_prepared_open(files[i], only_secret == NULL, &d->st, ss->s, MAX_SNAPSHOTS,
                                             &ss->n))) {
            (void)die("snapshot");
            free(ss);
            return 2;
        }
        prepared = true;
        /* One secret: its principals' identities loaded as the answer
         * needs them (docs/SNAPSHOTS.md, "Principal facts"). */
        if (only_secret && tr_failed(snapshot_prepared_facts(d->st, files[i], &ss->facts))) {
            (void)die("snapshot");
            cli_close_snapshots(d, ss);
            return 2;
        }
    }
    if (prepared) {
        /* Prepared: its stubs carry each snapshot's Organizations member. */
        if (tr_failed(snapshot_orgs_build(ss->s, ss->n, &ss->orgs))) {
            (void)die("snapshot");
            cli_close_snapshots(d, ss);
            return 2;
        }
        *out = ss;
        return 0;
    }
    for (; ss->n < n; ss->n++) {
        if (tr_failed(snapshot_load(files[ss->n], &ss->s[ss->n]))) {
            (void)die("snapshot");
            goto fail;
        }
    }
    if (tr_failed(store_sqlite_open_memory(&d->st))) { (void)die("in-memory store"); goto fail; }
    if (tr_failed(snapshot_store_load(d->st, ss->s, ss->n, only_secret))) {
        (void)die("snapshot");
        d->st[0]->close(d->st);
        d->st = NULL;
        goto fail;
    }
    if (tr_failed(snapshot_orgs_build(ss->s, ss->n, &ss->orgs))) {
        (void)die("snapshot");
        d->st[0]->close(d->st);
        d->st = NULL;
        goto fail;
    }
    *out = ss;
    return 0;
fail:
    for (size_t i = 0; i < ss->n; i++) snapshot_free(&ss->s[i]);
    free(ss);
    return 2;
}

void cli_close_snapshots(struct data_dir *d, struct snapset *ss)
{
    if (d->st) d->st[0]->close(d->st);
    d->st = NULL;
    for (size_t i = 0; ss && i < ss->n; i++) snapshot_free(&ss->s[i]);
    if (ss) snapshot_orgs_free(ss->orgs);
    if (ss) az_facts_free(ss->facts);
    free(ss);
}

const struct iam_orgs *cli_snapshot_orgs(const struct snapset *ss)
{
    return ss ? snapshot_orgs_view(ss->orgs) : NULL;
}

/* The sealed form the PostgreSQL store holds, as dir's seal file: written
 * when dir has none (a new node), or in place of a copy of the same seal
 * that differs (the store is the source of truth).  A data dir of another
 * seal (a tresor seal migrate of this node) keeps its file: its key is
 * checked against the store's, then published (publish_sealed_form).
 * *have: dir's seal, updated. */
TR_RESULT cli_adopt_sealed_form(store_t st, const char *dir, enum seal_kind *have)
{
    enum seal_kind in_db = SEAL_NONE;
    struct buf form = BUF_INIT(4096);
    bool changed = false;
    tr_result r = root_sealed_get(st, &in_db, &form);
    if (tr_ok(r) && in_db != SEAL_NONE && (*have == SEAL_NONE || *have == in_db))
        r = root_sealed_adopt(dir, in_db, form.data, form.len, &changed);
    buf_free(&form);
    GUARD(r);
    if (changed)
        log_msg(*have == SEAL_NONE ? "info" : "warn", "%s/%s: %s the root key's sealed form kept in the store",
                dir, seal_file_name(in_db), *have == SEAL_NONE ? "written from" : "replaced by");
    else if (in_db != SEAL_NONE && *have != in_db)
        log_msg("warn", "%s has the %s seal (%s), the store's sealed form the %s seal: once its key is checked "
                "against the store's, the store keeps this node's", dir, seal_kind_name(*have),
                seal_file_name(*have), seal_kind_name(in_db));
    if (*have == SEAL_NONE) *have = in_db;
    return TR_OK;
}
