/*
 * backup.c -- `tresor backup` and `tresor restore` (store/backup.h).
 *
 * backup copies the store of a data dir -- the server may be running and
 * writing -- into one file, a consistent snapshot; it never reads the root
 * key, so the file holds wrapped material only.  restore makes a new data
 * dir from a backup and the root key the operator kept apart: it refuses
 * a directory that is not empty, copies the key in as root.key (0600),
 * copies the store, and runs the integrity check of `tresor check` on the
 * result; when the key does not unwrap the backup, or the check finds a
 * problem, it removes what it wrote and exits 1.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analyze/check.h"
#include "cli/cli.h"
#include "cli/opts.h"
#include "crypto/keyring.h"
#include "crypto/hash.h"
#include "crypto/seal.h"
#include "store/backup.h"
#include "store/schema.h"

static const struct cli_opt backup_opts[] = {
    CLI_OPT_DATA_DIR("the data dir whose store is copied (the server may be running)"),
    { "out", 'o', "FILE", NULL, NULL, "the backup file to write; must not exist (created 0600)" },
    { 0 },
};

static const struct cli_cmd backup_cmd = {
    "backup", "[--data-dir DIR] --out FILE",
    "Copy the store of DIR into FILE: a consistent snapshot taken with SQLite's\n"
    "online backup API while the server runs and writes.  Every secret, key\n"
    "material and access key in it is wrapped under the root key, which is NOT\n"
    "copied: keep DIR/root.key apart from the backups (restore needs both).\n",
    backup_opts, "Exit status: 0 written, 1 failed (nothing left at FILE), 2 usage error.\n", NULL,
};

static const struct cli_opt restore_opts[] = {
    { NULL, 0, "FILE", NULL, NULL, "a file written by tresor backup" },
    { "data-dir", 'd', "NEWDIR", NULL, NULL, "the data dir to create; if it exists it must be empty" },
    { "root-key", 'k', "KEYFILE", NULL, NULL,
      "the root key the backup's store was wrapped under: a copy of the original DIR/root.key "
      "(32 bytes), or of DIR/root.seal for a data dir with the passphrase seal (the check then "
      "takes the passphrase from TRESOR_PASSPHRASE), or of DIR/root.p11 with the pkcs11 seal (the "
      "PIN from TRESOR_PKCS11_PIN, the module from TRESOR_PKCS11_MODULE); no access for group or others" },
    { 0 },
};

static const struct cli_cmd restore_cmd = {
    "restore", "FILE --data-dir NEWDIR --root-key KEYFILE",
    "Make a new data dir NEWDIR from a backup FILE and the root key KEYFILE:\n"
    "NEWDIR/root.key (or root.seal, root.p11) and NEWDIR/tresor.db, then the\n"
    "integrity check of tresor check on it.  Refuses a NEWDIR that is not\n"
    "empty.  When the key does not unwrap the backup, or the check finds a\n"
    "problem, what was written is removed.  Then run tresor serve --data-dir\n"
    "NEWDIR.\n",
    restore_opts, "Exit status: 0 restored and clean, 1 failed (NEWDIR as it was), 2 usage error.\n", NULL,
};

int cmd_backup(int argc, char **argv)
{
    const char *data_dir = env_or(CLI_DATA_DIR_ENV, CLI_DATA_DIR_DEFAULT), *out = NULL;
    const struct cli_value vals[] = { { 'd', &data_dir }, { 'o', &out } };
    int c = cli_parse(&backup_cmd, argc, argv, vals, 2, 0);
    if (c < 0) return cli_exit(c);
    if (!out || !*out) return cli_usage_error(NULL, &backup_cmd, "--out FILE is required");

    struct backup_info info;
    if (tr_failed(store_backup(data_dir, out, &info))) return die("backup");
    printf("tresor backup %s: %lld bytes, schema version %d, written to %s\n"
           "The root key is not in it: keep %s/root.key apart; restore needs both.\n", data_dir,
           (long long)(info.pages * info.page_size), info.schema_version, out, data_dir);
    return 0;
}

/* 0 when dir is an empty directory (*made false) or did not exist and was
 * created 0700 (*made true); else 1 after saying why. */
static int new_dir(const char *dir, bool *made)
{
    *made = false;
    if (mkdir(dir, 0700) == 0) {
        *made = true;
        return 0;
    }
    if (errno != EEXIST) {
        fprintf(stderr, "tresor restore: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "tresor restore: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            fprintf(stderr, "tresor restore: %s is not empty (%s): restore makes a new data dir, "
                    "and never writes over one\n", dir, e->d_name);
            rc = 1;
            break;
        }
    closedir(d);
    return rc;
}

/* Remove what restore wrote into dir (and dir, when it made it). */
static void undo(const char *dir, bool made)
{
    static const char *const files[] = { "root.key", SEAL_FILE_NAME, SEAL_P11_FILE_NAME, "tresor.db", "tresor.db-wal",
                                         "tresor.db-shm", "tresor.db-journal" };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[PATH_MAX + 32];
        int n = snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        if (n > 0 && (size_t)n < sizeof p) (void)unlink(p);
    }
    if (made) (void)rmdir(dir);
}

/* KEYFILE as a kept copy of a root.seal (a regular file of exactly the
 * sealed form's length) or of a root.p11 (one that parses as it), no
 * access for group or others: *name receives the file name it is restored
 * as.  Whether it unwraps, with the passphrase or the token's PIN, the
 * check after the restore finds out (it opens NEWDIR as serve would). */
static bool read_seal_copy(const char *path, uint8_t out[SEAL_FORM_MAX], size_t *len, const char **name)
{
    struct stat st;
    struct seal_p11_file pf;
    FILE *f = fopen(path, "rb");
    bool ok = f && fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
              !(st.st_mode & (S_IRWXG | S_IRWXO)) && st.st_size > 0 && st.st_size <= SEAL_FORM_MAX &&
              fread(out, 1, (size_t)st.st_size, f) == (size_t)st.st_size;
    if (f) fclose(f);
    if (!ok) return false;
    *len = (size_t)st.st_size;
    if (*len == SEAL_FILE_LEN && memcmp(out, "tresorRK", 8) == 0) *name = SEAL_FILE_NAME;
    else if (*len >= 8 && memcmp(out, "tresorTK", 8) == 0 && tr_ok(seal_p11_parse(out, *len, &pf)))
        *name = SEAL_P11_FILE_NAME;
    else return false;          /* the error said is still the root.key check's, or the parser's */
    return true;
}

int cmd_restore(int argc, char **argv)
{
    const char *data_dir = NULL, *key_file = NULL, *in = NULL;
    const struct cli_value vals[] = { { 'd', &data_dir }, { 'k', &key_file } };
    int c = cli_parse(&restore_cmd, argc, argv, vals, 2, 1);
    if (c < 0) return cli_exit(c);
    if (optind < argc) in = argv[optind];
    if (!in || !*in) return cli_usage_error(NULL, &restore_cmd, "the backup FILE is required");
    if (!data_dir || !*data_dir) return cli_usage_error(NULL, &restore_cmd, "--data-dir NEWDIR is required");
    if (!key_file || !*key_file)
        return cli_usage_error(NULL, &restore_cmd, "--root-key KEYFILE is required: the backup holds no "
                               "root key, and nothing in it can be decrypted without one");

    if (tr_failed(crypto_init())) return die("crypto init");
    struct keyring *kr = NULL;
    uint8_t sealed[SEAL_FORM_MAX];
    size_t sealed_len = 0;
    const char *seal_name = NULL;
    bool is_seal = false;
    if (tr_failed(keyring_load_file(key_file, &kr))) {
        /* Not a root.key: a kept root.seal or root.p11 are the other kinds of root key. */
        if (!read_seal_copy(key_file, sealed, &sealed_len, &seal_name)) return die("root key");
        is_seal = true;
    }
    bool made = false;
    if (new_dir(data_dir, &made)) {
        keyring_free(kr);
        return 1;
    }
    struct backup_info info;
    tr_result r = store_restore(in, data_dir, &info);
    if (tr_ok(r))
        r = is_seal ? keyring_create_file(data_dir, seal_name, sealed, sealed_len, false)
                    : keyring_install(kr, data_dir);
    keyring_free(kr);
    if (tr_failed(r)) {
        int rc = die("restore");
        undo(data_dir, made);
        return rc;
    }
    if ((size_t)info.schema_version < store_schema_count) {
        /* An older tresor's backup: a read-only check cannot migrate it. */
        printf("tresor restore: %s restored into %s (schema version %d; this build migrates it to %zu "
               "when tresor serve first opens it: run tresor check after that)\n", in, data_dir,
               info.schema_version, store_schema_count);
        return 0;
    }
    struct data_dir dd;
    if (open_data_dir(data_dir, NULL, true /* read-only */, &dd)) {
        /* Most often the store's key-check value (root record) refusing the key. */
        fprintf(stderr, "tresor restore: either %s is not the root key this backup was made under, or "
                "the backup is damaged; nothing restored\n", key_file);
        undo(data_dir, made);
        return 1;
    }
    struct check_report rep;
    r = store_check(dd.st, dd.kr, &rep);
    close_data_dir(&dd);
    if (tr_failed(r)) {
        int rc = die("check");
        undo(data_dir, made);
        return rc;
    }
    if (rep.problems) {
        for (size_t i = 0; i < rep.shown; i++) fprintf(stderr, "PROBLEM %s\n", rep.line[i]);
        fprintf(stderr, "tresor restore: %zu problem%s in the restored store: either %s is not the root key "
                "this backup was made under, or the backup is damaged; nothing restored\n", rep.problems,
                rep.problems == 1 ? "" : "s", key_file);
        undo(data_dir, made);
        return 1;
    }
    printf("tresor restore: %s restored into %s: accounts %zu, kms keys %zu, secrets %zu, versions %zu, "
           "values decrypted %zu; check clean\n", in, dd.path, rep.accounts, rep.keys, rep.secrets,
           rep.versions, rep.values);
    return 0;
}
