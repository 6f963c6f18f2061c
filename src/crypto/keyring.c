/*
 * keyring.c -- the root key, and wrapping of every secret kept at rest.
 *
 * Root key: DATA_DIR/root.key holds exactly 32 raw random bytes.  On first
 * start (create == true, file absent) it is written and fsync'ed, mode
 * 0600, in a file that is not yet root.key, then linked in as root.key
 * (a link fails when the name exists, so two starting processes cannot
 * both create one) and the directory fsync'ed, all before anything is
 * sealed under it: no secret is wrapped under a key that is not yet
 * durable, and a crash leaves no root.key or a whole one, never a short
 * file (which the next start would refuse).  A root.key of any
 * other size, or one that grants any permission to group or other, is
 * refused: either is a sign of corruption or a careless copy, and serving
 * with it would risk data we could never decrypt or a key others can read.
 * In memory the key lives in one secmem page (mlock'ed, not dumped) that
 * holds the whole struct keyring, and is wiped by keyring_free.
 *
 * Wrapped form (v1):  fmt:u8 = 0x01 | iv:12 | ct:n | tag:16
 * AES-256-GCM under the root key, random IV, AAD = "tresor-wrap-v1:" label.
 * The label names the record ("kms-material:<key-id>:<version>"), so a
 * wrapped value copied into another record does not unwrap.  A random
 * 96-bit IV allows 2^32 wraps per root key (NIST SP 800-38D, 8.3); a
 * keyring wraps one value per key version or access key, far below that.
 *
 * A failed unwrap is TR_E_INTERNAL: the bytes come from our own store, so a
 * mismatch means corruption or the wrong root key, never a client error.
 * No message ever contains key or plaintext bytes.
 */
#include "crypto/keyring.h"

#include "core/secmem.h"
#include "core/str.h"
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "crypto/rand.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ROOT_KEY_LEN 32
#define WRAP_V1 0x01
#define WRAP_OVERHEAD (1 + AEAD_IV_LEN + AEAD_TAG_LEN)
#define WRAP_AAD_PREFIX "tresor-wrap-v1:"
#define WRAP_LABEL_MAX 4096

struct keyring {
    uint8_t root[ROOT_KEY_LEN];
};

static TR_RESULT keyring_alloc(struct keyring **out)
{
    struct keyring *kr = secmem_alloc(sizeof *kr);
    if (!kr) BAIL(TR_E_INTERNAL, "cannot allocate locked memory for the root key");
    *out = kr;
    return TR_OK;
}

void keyring_free(struct keyring *kr)
{
    secmem_free(kr, sizeof *kr);   /* wipes before unmapping */
}

TR_RESULT keyring_from_bytes(const uint8_t root[32], struct keyring **out)
{
    struct keyring *kr = NULL;
    ENSURE(root != NULL && out != NULL, TR_E_INTERNAL);
    GUARD(keyring_alloc(&kr));
    memcpy(kr->root, root, ROOT_KEY_LEN);
    *out = kr;
    return TR_OK;
}

#define CHECK_LABEL "tresor-root-key-check-v1"

TR_RESULT keyring_check_value(const struct keyring *kr, uint8_t out[KEYRING_CHECK_LEN])
{
    ENSURE(kr != NULL && out != NULL, TR_E_INTERNAL);
    return hmac_sha256(kr->root, ROOT_KEY_LEN, CHECK_LABEL, sizeof CHECK_LABEL - 1, out);
}

/* Write all n bytes, retrying short writes and EINTR. */
static bool write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Read exactly n bytes; false on error or early end of file. */
static bool read_all(int fd, uint8_t *p, size_t n)
{
    while (n) {
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return false;
        p += got;
        n -= (size_t)got;
    }
    return true;
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* A new file in dir, not yet visible under its name: an unnamed one
 * (O_TMPFILE) where the file system has them, else a named temp file
 * (*tmp receives its name, "" for an unnamed one). */
static int open_new_key_file(const char *dir, const char *name, char *tmp, size_t n)
{
    tmp[0] = '\0';
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) return fd;
    int k = snprintf(tmp, n, "%s/%s.%ld.tmp", dir, name, (long)getpid());
    if (k < 0 || (size_t)k >= n) {      /* never a cut path: another file */
        tmp[0] = '\0';
        errno = ENAMETOOLONG;
        return -1;
    }
    (void)unlink(tmp);                  /* a stale one of an earlier crash */
    return open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
}

/* Give the written file fd (named tmp, or unnamed when tmp is "") the name
 * path; fails with EEXIST when path exists. */
static int link_key_file(int fd, const char *tmp, const char *path)
{
    if (tmp[0]) return link(tmp, path);
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", fd);    /* fits: 14 + an int */
    return linkat(AT_FDCWD, self, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
}

/*
 * Create dir/name holding data, atomically: the bytes are written and
 * fsync'ed in a file that is not yet visible (open_new_key_file), which is
 * then linked in under its name and the directory fsync'ed.  A crash at
 * any moment leaves no file or a whole one -- never the short file that
 * the loaders refuse for good (a kill between open(O_CREAT) and write()
 * used to leave one, and the data dir could never start again).  An
 * existing file, or EEXIST at the link (another process won the race), is
 * not an error when exist_ok: the caller then loads that file; otherwise
 * it fails.  The caller wipes data.
 */
TR_RESULT keyring_create_file(const char *dir, const char *name, const uint8_t *data, size_t len,
                              bool exist_ok)
{
    char tmp[PATH_MAX + 64], path[PATH_MAX + 64];
    ENSURE(dir && name && data, TR_E_INTERNAL);
    int k = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (k < 0 || (size_t)k >= sizeof path) BAIL(TR_E_INTERNAL, "data directory path is too long");
    if (exist_ok && access(path, F_OK) == 0) return TR_OK;
    int fd = open_new_key_file(dir, name, tmp, sizeof tmp);
    if (fd < 0) BAIL(TR_E_INTERNAL, "cannot create %s: %s", path, strerror(errno));
    bool ok = write_all(fd, data, len) && fsync(fd) == 0;
    int e = ok ? 0 : errno;
    bool raced = false;
    if (ok && link_key_file(fd, tmp, path) != 0) {
        raced = errno == EEXIST && exist_ok;
        ok = raced;
        e = errno;
    }
    if (close(fd) != 0 && ok && !raced) {
        ok = false;
        e = errno;
    }
    if (tmp[0]) (void)unlink(tmp);
    if (!ok) BAIL(TR_E_INTERNAL, "cannot write %s: %s", path, strerror(e));
    fsync_dir(dir);
    return TR_OK;
}

/* DATA_DIR/root.key with 32 fresh random bytes (keyring_create_file), unless it exists. */
static TR_RESULT create_root_key(const char *dir, const char *path)
{
    uint8_t key[ROOT_KEY_LEN];
    if (access(path, F_OK) == 0) return TR_OK;
    if (tr_failed(rand_bytes(key, sizeof key)))
        BAIL(TR_E_INTERNAL, "cannot generate a root key: the random generator failed");
    tr_result r = keyring_create_file(dir, "root.key", key, sizeof key, true);
    secure_zero(key, sizeof key);
    return r;
}

/* Load path into kr->root after checking type, size and mode. */
static TR_RESULT load_root_key(const char *path, struct keyring *kr)
{
    struct stat st;
    tr_result r = TR_OK;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        BAIL(TR_E_INTERNAL, "cannot open root key file %s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "cannot stat root key file %s: %s",
                       path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL,
                       "root key file %s is not a regular file", path);
        goto fail;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL,
                       "root key file %s has mode %04o: group and other must have no "
                       "access (chmod 600 %s)", path, (unsigned)(st.st_mode & 07777), path);
        goto fail;
    }
    if (st.st_size != ROOT_KEY_LEN) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL,
                       "root key file %s is %lld bytes; a root key is exactly %d bytes",
                       path, (long long)st.st_size, ROOT_KEY_LEN);
        goto fail;
    }
    if (!read_all(fd, kr->root, ROOT_KEY_LEN)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL,
                       "cannot read root key file %s", path);
        goto fail;
    }
    close(fd);
    return TR_OK;
fail:
    secure_zero(kr->root, sizeof kr->root);
    close(fd);
    return r;
}

TR_RESULT keyring_open(const char *data_dir, bool create, struct keyring **out)
{
    char path[PATH_MAX];
    struct keyring *kr = NULL;
    tr_result r;

    ENSURE(data_dir != NULL && out != NULL, TR_E_INTERNAL);
    int n = snprintf(path, sizeof path, "%s/root.key", data_dir);
    if (n < 0 || (size_t)n >= sizeof path)
        BAIL(TR_E_INTERNAL, "data directory path is too long");
    if (create) GUARD(create_root_key(data_dir, path));   /* no-op when it exists */
    GUARD(keyring_alloc(&kr));
    r = load_root_key(path, kr);
    if (tr_failed(r)) goto fail;
    *out = kr;
    return TR_OK;
fail:
    keyring_free(kr);
    return r;
}

void keyring_root_copy(const struct keyring *kr, uint8_t out[32])
{
    memcpy(out, kr->root, ROOT_KEY_LEN);
}

TR_RESULT keyring_load_file(const char *path, struct keyring **out)
{
    struct keyring *kr = NULL;
    ENSURE(path != NULL && out != NULL, TR_E_INTERNAL);
    GUARD(keyring_alloc(&kr));
    tr_result r = load_root_key(path, kr);
    if (tr_failed(r)) {
        keyring_free(kr);
        return r;
    }
    *out = kr;
    return TR_OK;
}

TR_RESULT keyring_install(const struct keyring *kr, const char *data_dir)
{
    ENSURE(kr != NULL && data_dir != NULL, TR_E_INTERNAL);
    return keyring_create_file(data_dir, "root.key", kr->root, ROOT_KEY_LEN, false);
}

/* aad = "tresor-wrap-v1:" label; a fresh buffer the caller frees. */
static TR_RESULT wrap_aad(const char *label, struct buf *aad)
{
    ENSURE(label != NULL, TR_E_INTERNAL);
    GUARD(buf_append_str(aad, WRAP_AAD_PREFIX));
    return buf_append_str(aad, label);
}

TR_RESULT keyring_wrap(const struct keyring *kr, const char *label,
                       const uint8_t *pt, size_t n, struct buf *out)
{
    struct buf aad = BUF_INIT(sizeof WRAP_AAD_PREFIX + WRAP_LABEL_MAX);
    uint8_t *p;
    tr_result r;

    ENSURE(kr && out && (pt || n == 0), TR_E_INTERNAL);
    r = wrap_aad(label, &aad);
    if (tr_failed(r)) goto fail;
    r = buf_reserve(out, n + WRAP_OVERHEAD);
    if (tr_failed(r)) goto fail;
    p = out->data + out->len;
    p[0] = WRAP_V1;
    r = rand_bytes(p + 1, AEAD_IV_LEN);
    if (tr_failed(r)) goto fail;
    r = aead_seal(kr->root, p + 1, aad.data, aad.len, pt, n,
                  p + 1 + AEAD_IV_LEN, p + 1 + AEAD_IV_LEN + n);
    if (tr_failed(r)) goto fail;
    out->len += (uint32_t)(n + WRAP_OVERHEAD);
    buf_free(&aad);
    return TR_OK;
fail:
    buf_free(&aad);
    return r;
}

TR_RESULT keyring_unwrap(const struct keyring *kr, const char *label,
                         const uint8_t *wrapped, size_t n, struct buf *out)
{
    struct buf aad = BUF_INIT(sizeof WRAP_AAD_PREFIX + WRAP_LABEL_MAX);
    size_t ct_len;
    tr_result r;

    ENSURE(kr && out && (wrapped || n == 0), TR_E_INTERNAL);
    r = wrap_aad(label, &aad);
    if (tr_failed(r)) goto fail;
    if (n < WRAP_OVERHEAD || wrapped[0] != WRAP_V1) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL,
                       "stored secret is not in a known wrapped format");
        goto fail;
    }
    ct_len = n - WRAP_OVERHEAD;
    r = buf_reserve(out, ct_len);
    if (tr_failed(r)) goto fail;
    r = aead_open(kr->root, wrapped + 1, aad.data, aad.len,
                  wrapped + 1 + AEAD_IV_LEN, ct_len, wrapped + 1 + AEAD_IV_LEN + ct_len,
                  out->data + out->len);
    if (tr_failed(r)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL,
                       "stored secret does not authenticate under the root key");
        goto fail;
    }
    out->len += (uint32_t)ct_len;
    buf_free(&aad);
    return TR_OK;
fail:
    buf_free(&aad);
    return r;
}

TR_RESULT keyring_label_material(char out[KEYRING_LABEL_MAX], const char *key_id, uint32_t version)
{
    return str_format(out, KEYRING_LABEL_MAX, "the material's label", "kms-material:%s:%u", key_id,
                      (unsigned)version);
}

TR_RESULT keyring_label_access_key(char out[KEYRING_LABEL_MAX], const char *akid)
{
    return str_format(out, KEYRING_LABEL_MAX, "the access key's label", "access-key:%s", akid);
}

TR_RESULT keyring_label_import_token(char out[KEYRING_LABEL_MAX], const char *region,
                                    const char *key_id)
{
    return str_format(out, KEYRING_LABEL_MAX, "the import token's label", "kms-import-token:%s:%s",
                      region, key_id);
}

TR_RESULT keyring_label_import_check(char out[KEYRING_LABEL_MAX], const char *key_id)
{
    return str_format(out, KEYRING_LABEL_MAX, "the import check's label", "kms-import-check:%s",
                      key_id);
}
