/*
 * seal_migrate.c -- writing a given root key under a given seal, and
 * moving a stopped data dir from one seal to another (contract in seal.h).
 *
 * The migration keeps the root key: only the file that holds it changes
 * (root.key, root.seal or root.p11), so nothing in the store is touched.
 * Its order of writes, each step durable before the next:
 *
 *   0. the new sealed form is made in memory and unwrapped again (it must
 *      give the same root key back): a wrong PIN, a full token, a missing
 *      module all fail here, with nothing on disk changed;
 *   1. DIR/seal.migrating, naming both seals (keyring_create_file: written,
 *      fsync'ed, linked in, the directory fsync'ed);
 *   2. the new seal file, the same way;
 *   3. the old seal file unlinked, the directory fsync'ed;
 *   4. seal.migrating unlinked, the directory fsync'ed.
 *
 * A root.key is overwritten with zeros before it is unlinked (best effort).
 *
 * A crash leaves one of: nothing changed (before 1); seal.migrating and
 * the old file (1-2); both seal files and seal.migrating (2-3); the new
 * file and seal.migrating (3-4); the new file alone.  seal_migrate_recover
 * (run by seal_recorded, so by every start and every command that opens a
 * data dir) decides from the files alone, no secret needed: the new file
 * present means step 2 completed, and it holds the verified sealed form
 * of the same key (step 0; keyring_create_file never shows a partial
 * file), so the old file goes; absent, the migration never reached step 2
 * and only seal.migrating goes.  Either way exactly one seal file is
 * left.  Two seal files without seal.migrating are not a migration's and
 * stay refused (seal_recorded).
 *
 * A running server holds a shared flock on the data dir for its life;
 * the command (cli/seal.c) takes it exclusively, without waiting, also
 * refuses when a control socket answers (cli_stopped_dir_lock), and
 * settles a root key rotation cut short before calling seal_migrate, so
 * that no root.*.next of the old seal is left behind.
 *
 * TRESOR_TEST_MIGRATE_STOP=PHASE (tests only; inert unless set): stop the
 * process with _exit(3) right after step 1 (record-written), 2
 * (new-written) or 3 (old-removed), as a crash there would.  The naming
 * follows rotate-root-key's TRESOR_TEST_ROTATE_PAUSE.
 */
#include "crypto/seal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/secmem.h"
#include "crypto/internal.h"

#define ROOT_LEN 32
#define INTENT_MAX 128

TR_RESULT seal_wrap_how(const uint8_t root[32], const struct seal_how *how, uint8_t out[SEAL_FORM_MAX],
                        size_t *len, bool *wrong)
{
    uint8_t back[ROOT_LEN];
    ENSURE(root && how && out && len && wrong, TR_E_INTERNAL);
    *wrong = false;
    switch (how->kind) {
    case SEAL_FILE:
        memcpy(out, root, ROOT_LEN);
        *len = ROOT_LEN;
        return TR_OK;
    case SEAL_PASSPHRASE: {
        ENSURE(how->secret, TR_E_INTERNAL);
        GUARD(seal_wrap(root, how->secret, how->secret_len, how->prm, out));
        tr_result r = seal_unwrap(out, SEAL_FILE_LEN, how->secret, how->secret_len, wrong, back);
        if (tr_ok(r) && memcmp(back, root, ROOT_LEN) != 0)
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "the sealed root key did not unwrap to itself");
        secure_zero(back, sizeof back);
        if (tr_failed(r)) secure_zero(out, SEAL_FORM_MAX);
        GUARD(r);
        *len = SEAL_FILE_LEN;
        return TR_OK;
    }
    case SEAL_PKCS11:
        ENSURE(how->secret, TR_E_INTERNAL);
        return seal_p11_wrap_root(&how->p11, how->secret, how->secret_len, !how->p11_key_exists, root, out, len,
                                  wrong);
    default:
        BAIL(TR_E_INTERNAL, "no seal given");
    }
}

TR_RESULT seal_write_root(const char *dir, const uint8_t root[32], const struct seal_how *how)
{
    uint8_t form[SEAL_FORM_MAX];
    size_t len = 0;
    bool wrong;
    ENSURE(dir && root && how, TR_E_INTERNAL);
    GUARD(seal_wrap_how(root, how, form, &len, &wrong));
    tr_result r = keyring_create_file(dir, seal_file_name(how->kind), form, len, false);
    secure_zero(form, sizeof form);
    return r;
}

TR_RESULT seal_dir_lock(const char *dir, bool exclusive, int *fd)
{
    ENSURE(dir && fd, TR_E_INTERNAL);
    *fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0) BAIL(TR_E_INTERNAL, "cannot open %s: %s", dir, strerror(errno));
    if (flock(*fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0) return TR_OK;
    int e = errno;
    close(*fd);
    *fd = -1;
    if (e != EWOULDBLOCK) BAIL(TR_E_INTERNAL, "cannot lock %s: %s", dir, strerror(e));
    if (exclusive)
        BAIL(TR_E_INTERNAL, "a tresor server is running on %s (it holds the data dir's lock, or a tresor seal "
             "migrate or rotate-root-key does): stop it first", dir);
    BAIL(TR_E_INTERNAL, "tresor seal migrate or tresor rotate-root-key is running on %s (it holds the data dir's "
         "lock)", dir);
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

static TR_RESULT path_in(char *out, size_t n, const char *dir, const char *name)
{
    int k = snprintf(out, n, "%s/%s", dir, name);
    if (k < 0 || (size_t)k >= n) BAIL(TR_E_INTERNAL, "data directory path is too long");
    return TR_OK;
}

/* Overwrite a root.key with zeros before it is unlinked: its blocks then
 * do not keep the key in the clear on a file system that writes in place
 * (best effort: a copy-on-write or log-structured file system, or an SSD's
 * remapping, may keep the old blocks; the docs say so). */
static void zero_file(const char *path)
{
    uint8_t zero[64] = { 0 };
    struct stat st;
    int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= (off_t)sizeof zero &&
        pwrite(fd, zero, (size_t)st.st_size, 0) == st.st_size)
        (void)fsync(fd);
    close(fd);
}

static TR_RESULT unlink_durably(const char *dir, const char *name)
{
    char p[PATH_MAX + 64];
    GUARD(path_in(p, sizeof p, dir, name));
    if (strcmp(name, seal_file_name(SEAL_FILE)) == 0) zero_file(p);
    if (unlink(p) != 0 && errno != ENOENT) BAIL(TR_E_INTERNAL, "cannot remove %s: %s", p, strerror(errno));
    fsync_dir(dir);
    return TR_OK;
}

static void stop_here(const char *phase)
{
    const char *s = getenv("TRESOR_TEST_MIGRATE_STOP");
    if (s && strcmp(s, phase) == 0) _exit(3);
}

TR_RESULT seal_migrate_recover(const char *dir)
{
    char p[PATH_MAX + 64], line[INTENT_MAX + 1], from_s[16], to_s[16];
    struct stat st;
    enum seal_kind from, to;
    ENSURE(dir, TR_E_INTERNAL);
    GUARD(path_in(p, sizeof p, dir, SEAL_MIGRATE_FILE_NAME));
    if (lstat(p, &st) != 0) return TR_OK;
    FILE *f = fopen(p, "re");
    size_t got = f ? fread(line, 1, INTENT_MAX, f) : 0;
    if (f) fclose(f);
    line[got] = '\0';
    if (sscanf(line, "tresor seal migrate v1\nfrom %15s\nto %15s\n", from_s, to_s) != 2 ||
        !seal_kind_parse(from_s, &from) || !seal_kind_parse(to_s, &to) || from == to)
        BAIL(TR_E_INTERNAL, "%s is not a migration record: remove it once you know which seal file %s holds its "
             "root key", p, dir);
    char np[PATH_MAX + 64];
    GUARD(path_in(np, sizeof np, dir, seal_file_name(to)));
    if (lstat(np, &st) == 0) {
        GUARD(unlink_durably(dir, seal_file_name(from)));
        GUARD(unlink_durably(dir, SEAL_MIGRATE_FILE_NAME));
        log_msg("warn", "%s: finished a seal migrate that stopped half way: %s seal (%s), %s removed", dir,
                seal_kind_name(to), seal_file_name(to), seal_file_name(from));
    } else {
        GUARD(unlink_durably(dir, SEAL_MIGRATE_FILE_NAME));
        log_msg("warn", "%s: undid a seal migrate that stopped before writing %s: still the %s seal", dir,
                seal_file_name(to), seal_kind_name(from));
    }
    return TR_OK;
}

TR_RESULT seal_migrate(const char *dir, const struct seal_how *from, const struct seal_how *to)
{
    struct keyring *kr = NULL;
    uint8_t root[ROOT_LEN], form[SEAL_FORM_MAX];
    size_t len = 0;
    bool wrong = false;
    enum seal_kind have;
    char intent[INTENT_MAX];
    tr_result r;

    ENSURE(dir && from && to, TR_E_INTERNAL);
    secure_zero(root, sizeof root);
    secure_zero(form, sizeof form);
    r = seal_recorded(dir, &have);
    if (tr_ok(r) && have == SEAL_NONE)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "%s has no root key (root.key, root.seal or root.p11)",
                       dir);
    if (tr_ok(r) && have != from->kind)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "internal: %s has the %s seal", dir, seal_kind_name(have));
    if (tr_ok(r) && to->kind == have)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "%s already has the %s seal (%s)", dir,
                       seal_kind_name(have), seal_file_name(have));
    if (tr_failed(r)) goto done;
    /* 0: the key, and its new form, checked -- nothing on disk yet. */
    r = seal_open_how(dir, from, &wrong, &kr);
    if (tr_failed(r)) goto done;
    keyring_root_copy(kr, root);
    r = seal_wrap_how(root, to, form, &len, &wrong);
    if (tr_failed(r)) goto done;
    /* 1: the record of what is under way. */
    int k = snprintf(intent, sizeof intent, "tresor seal migrate v1\nfrom %s\nto %s\n", seal_kind_name(have),
                     seal_kind_name(to->kind));
    if (k < 0 || (size_t)k >= sizeof intent) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "internal: migration record too long");
        goto done;
    }
    r = keyring_create_file(dir, SEAL_MIGRATE_FILE_NAME, (const uint8_t *)intent, (size_t)k, false);
    if (tr_failed(r)) goto done;
    stop_here("record-written");
    /* 2: the new seal file, whole and durable. */
    r = keyring_create_file(dir, seal_file_name(to->kind), form, len, false);
    if (tr_failed(r)) {
        if (tr_failed(unlink_durably(dir, SEAL_MIGRATE_FILE_NAME)))     /* nothing else was written */
            log_msg("warn", "%s: %s left behind: the next start removes it", dir, SEAL_MIGRATE_FILE_NAME);
        goto done;
    }
    stop_here("new-written");
    /* 3 and 4: the old seal file, then the record. */
    r = unlink_durably(dir, seal_file_name(have));
    if (tr_failed(r)) goto done;                /* the next start finishes it (recover) */
    stop_here("old-removed");
    r = unlink_durably(dir, SEAL_MIGRATE_FILE_NAME);
done:
    secure_zero(root, sizeof root);
    secure_zero(form, sizeof form);
    keyring_free(kr);
    return r;
}
