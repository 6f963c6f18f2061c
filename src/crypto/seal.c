/*
 * seal.c -- the passphrase seal of the root key (contract in seal.h).
 *
 * root.seal, format v1 (SEAL_FILE_LEN = 98 bytes, integers big-endian):
 *
 *   magic:8 = "tresorRK" | version:u8 = 1 | kdf:u8 = 1 (Argon2id, v1.3)
 *   | m_kib:u32 | t:u32 | p:u32 | salt:16          (the header, 38 bytes)
 *   | iv:12 | ct:32 | tag:16
 *
 * kek = Argon2id(passphrase, salt, t, m_kib, p) -> 32 bytes;
 * ct|tag = AES-256-GCM(kek, iv, aad = the header, root key).
 * The whole header is AAD, so no byte of the file can change without the
 * open failing: a changed parameter or salt derives another key, and the
 * header is authenticated besides.  A wrong passphrase and a changed byte
 * cannot be told apart (both are a tag mismatch), and are reported alike.
 * Parameters are bounded before anything is derived (m_kib 8..4 GiB,
 * t 1..64, p 1..16), so a damaged file cannot make the start allocate
 * without bound.  Spec and rationale: docs/internals/SEAL.md.
 *
 * The passphrase, the derived key and the root key are wiped here as soon
 * as they are used up; the keyring keeps its own copy in locked memory.
 */
#include "crypto/seal.h"

#include "core/rd.h"
#include "core/secmem.h"
#include "core/str.h"
#include "crypto/aead.h"
#include "crypto/internal.h"
#include "crypto/rand.h"

#include <argon2.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEAL_MAGIC "tresorRK"
#define SEAL_V1 1
#define SEAL_KDF_ARGON2ID 1
#define SEAL_SALT_LEN 16
#define SEAL_HEADER_LEN (8 + 1 + 1 + 12 + SEAL_SALT_LEN)
#define ROOT_LEN 32
#define M_MIN 8u
#define M_MAX (4u * 1024 * 1024)    /* KiB: 4 GiB */
#define T_MAX 64u
#define P_MAX 16u

const char *seal_kind_name(enum seal_kind k)
{
    return k == SEAL_PASSPHRASE ? "passphrase" : k == SEAL_FILE ? "file" : k == SEAL_PKCS11 ? "pkcs11" : "none";
}

const char *seal_file_name(enum seal_kind k)
{
    return k == SEAL_PASSPHRASE ? SEAL_FILE_NAME : k == SEAL_FILE ? "root.key"
         : k == SEAL_PKCS11 ? SEAL_P11_FILE_NAME : NULL;
}

bool seal_kind_parse(const char *s, enum seal_kind *out)
{
    if (s && strcmp(s, "file") == 0) *out = SEAL_FILE;
    else if (s && strcmp(s, "passphrase") == 0) *out = SEAL_PASSPHRASE;
    else if (s && strcmp(s, "pkcs11") == 0) *out = SEAL_PKCS11;
    else return false;
    return true;
}

static bool exists_in(const char *dir, const char *name)
{
    char p[PATH_MAX + 64];
    struct stat st;
    int n = snprintf(p, sizeof p, "%s/%s", dir, name);
    return n > 0 && (size_t)n < sizeof p && lstat(p, &st) == 0;
}

TR_RESULT seal_recorded(const char *dir, enum seal_kind *out)
{
    static const enum seal_kind kinds[] = { SEAL_FILE, SEAL_PASSPHRASE, SEAL_PKCS11 };
    enum seal_kind found = SEAL_NONE;
    ENSURE(dir && out, TR_E_INTERNAL);
    GUARD(seal_migrate_recover(dir));
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (!exists_in(dir, seal_file_name(kinds[i]))) continue;
        if (found != SEAL_NONE)
            BAIL(TR_E_INTERNAL, "%s holds both %s and %s: which one the store is wrapped under "
                 "cannot be told; keep the one the data dir was created with", dir, seal_file_name(found),
                 seal_file_name(kinds[i]));
        found = kinds[i];
    }
    *out = found;
    return TR_OK;
}

static bool params_ok(struct seal_params p)
{
    return p.p >= 1 && p.p <= P_MAX && p.t >= 1 && p.t <= T_MAX && p.m_kib >= M_MIN * p.p &&
           p.m_kib <= M_MAX;
}

static TR_RESULT derive(const uint8_t *pass, size_t n, const uint8_t salt[SEAL_SALT_LEN],
                        struct seal_params p, uint8_t kek[AEAD_KEY_LEN])
{
    int rc = argon2id_hash_raw(p.t, p.m_kib, p.p, pass, n, salt, SEAL_SALT_LEN, kek, AEAD_KEY_LEN);
    if (rc != ARGON2_OK) {
        secure_zero(kek, AEAD_KEY_LEN);
        BAIL(TR_E_INTERNAL, "Argon2id failed: %s", argon2_error_message(rc));
    }
    return TR_OK;
}

TR_RESULT seal_wrap(const uint8_t root[32], const uint8_t *pass, size_t n, struct seal_params prm,
                    uint8_t out[SEAL_FILE_LEN])
{
    uint8_t kek[AEAD_KEY_LEN];
    ENSURE(root && pass && out, TR_E_INTERNAL);
    if (n == 0 || n > SEAL_PASSPHRASE_MAX)
        BAIL(TR_E_INTERNAL, "a passphrase is 1 to %d bytes", SEAL_PASSPHRASE_MAX);
    if (!params_ok(prm)) BAIL(TR_E_INTERNAL, "Argon2id parameters out of bounds");
    memcpy(out, SEAL_MAGIC, 8);
    out[8] = SEAL_V1;
    out[9] = SEAL_KDF_ARGON2ID;
    put_u32be(out + 10, prm.m_kib);
    put_u32be(out + 14, prm.t);
    put_u32be(out + 18, prm.p);
    uint8_t *salt = out + 22, *iv = out + SEAL_HEADER_LEN, *ct = iv + AEAD_IV_LEN;
    GUARD(rand_bytes(salt, SEAL_SALT_LEN));
    GUARD(rand_bytes(iv, AEAD_IV_LEN));
    GUARD(derive(pass, n, salt, prm, kek));
    tr_result r = aead_seal(kek, iv, out, SEAL_HEADER_LEN, root, ROOT_LEN, ct, ct + ROOT_LEN);
    secure_zero(kek, sizeof kek);
    if (tr_failed(r)) secure_zero(out, SEAL_FILE_LEN);
    return r;
}

TR_RESULT seal_unwrap(const uint8_t *file, size_t len, const uint8_t *pass, size_t n, bool *wrong,
                      uint8_t root[32])
{
    uint8_t magic[8], ver, kdf, kek[AEAD_KEY_LEN];
    const uint8_t *salt, *iv, *ct, *tag;
    struct seal_params prm;
    struct rd r = rd_init(file, len, TR_E_INTERNAL);

    ENSURE(pass && wrong && root, TR_E_INTERNAL);
    *wrong = false;
    if (len != SEAL_FILE_LEN || tr_failed(rd_bytes(&r, magic, 8)) || memcmp(magic, SEAL_MAGIC, 8) != 0 ||
        tr_failed(rd_u8(&r, &ver)) || ver != SEAL_V1 || tr_failed(rd_u8(&r, &kdf)) ||
        kdf != SEAL_KDF_ARGON2ID || tr_failed(rd_u32be(&r, &prm.m_kib)) || tr_failed(rd_u32be(&r, &prm.t)) ||
        tr_failed(rd_u32be(&r, &prm.p)) || tr_failed(rd_ptr(&r, SEAL_SALT_LEN, &salt)) ||
        tr_failed(rd_ptr(&r, AEAD_IV_LEN, &iv)) || tr_failed(rd_ptr(&r, ROOT_LEN, &ct)) ||
        tr_failed(rd_ptr(&r, AEAD_TAG_LEN, &tag)) || tr_failed(rd_end(&r)))
        BAIL(TR_E_INTERNAL, "not a sealed root key (format v1, %d bytes)", SEAL_FILE_LEN);
    if (!params_ok(prm))
        BAIL(TR_E_INTERNAL, "sealed root key: Argon2id parameters out of bounds (m=%u KiB, t=%u, p=%u)",
             prm.m_kib, prm.t, prm.p);
    if (n == 0 || n > SEAL_PASSPHRASE_MAX) {
        *wrong = true;
        BAIL(TR_E_INTERNAL, "wrong passphrase");
    }
    GUARD(derive(pass, n, salt, prm, kek));
    tr_result res = aead_open(kek, iv, file, SEAL_HEADER_LEN, ct, ROOT_LEN, tag, root);
    secure_zero(kek, sizeof kek);
    if (tr_failed(res)) {
        secure_zero(root, ROOT_LEN);
        *wrong = true;
        BAIL(TR_E_INTERNAL, "wrong passphrase (or %s was altered)", SEAL_FILE_NAME);
    }
    return TR_OK;
}

TR_RESULT seal_create_passphrase(const char *dir, const uint8_t *pass, size_t n, struct seal_params prm,
                                 struct keyring **out)
{
    uint8_t root[ROOT_LEN], file[SEAL_FILE_LEN];
    bool wrong;
    ENSURE(dir && pass && out, TR_E_INTERNAL);
    GUARD(rand_bytes(root, sizeof root));
    tr_result r = seal_wrap(root, pass, n, prm, file);
    secure_zero(root, sizeof root);
    if (tr_failed(r)) return r;
    GUARD(keyring_create_file(dir, SEAL_FILE_NAME, file, sizeof file, true));
    /* Open what is on disk: the file just written, or the one of a
     * process that won the race to create it. */
    return seal_open_passphrase(dir, pass, n, &wrong, out);
}

static TR_RESULT open_passphrase_at(const char *dir, const char *name, const uint8_t *pass, size_t n,
                                    bool *wrong, struct keyring **out);

/* Read a file of at most cap bytes into out, after checking that it is a
 * regular file no one but its owner may access. */
TR_RESULT seal_read_private_file(const char *path, const char *what, struct buf *out, size_t cap)
{
    struct stat st;
    tr_result r = TR_OK;
    uint8_t chunk[512];
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) BAIL(TR_E_INTERNAL, "cannot open %s %s: %s", what, path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "%s %s is not a regular file", what, path);
        goto done;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "%s %s has mode %04o: group and other must have "
                       "no access (chmod 600 %s)", what, path, (unsigned)(st.st_mode & 07777), path);
        goto done;
    }
    for (;;) {
        ssize_t got = read(fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "cannot read %s %s: %s", what, path,
                           strerror(errno));
            goto done;
        }
        if (got == 0) break;
        if (out->len + (size_t)got > cap) {
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "%s %s is longer than %zu bytes", what,
                           path, cap);
            goto done;
        }
        r = buf_append(out, chunk, (size_t)got);
        if (tr_failed(r)) goto done;
    }
done:
    secure_zero(chunk, sizeof chunk);
    close(fd);
    return r;
}

TR_RESULT seal_open_passphrase(const char *dir, const uint8_t *pass, size_t n, bool *wrong,
                               struct keyring **out)
{
    return open_passphrase_at(dir, SEAL_FILE_NAME, pass, n, wrong, out);
}

/* seal_open_passphrase of dir/name. */
static TR_RESULT open_passphrase_at(const char *dir, const char *name, const uint8_t *pass, size_t n,
                                    bool *wrong, struct keyring **out)
{
    char path[PATH_MAX + 64];
    uint8_t root[ROOT_LEN];
    struct buf file = BUF_INIT(SEAL_FILE_LEN + 1);
    tr_result r;

    ENSURE(dir && name && pass && wrong && out, TR_E_INTERNAL);
    *wrong = false;
    int k = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (k < 0 || (size_t)k >= sizeof path) BAIL(TR_E_INTERNAL, "data directory path is too long");
    r = seal_read_private_file(path, "sealed root key file", &file, SEAL_FILE_LEN + 1);
    if (tr_failed(r)) goto done;
    r = seal_unwrap(file.data, file.len, pass, n, wrong, root);
    if (tr_failed(r)) goto done;
    r = keyring_from_bytes(root, out);
    secure_zero(root, sizeof root);
done:
    buf_free(&file);
    return r;
}

/* Drop one trailing "\n" or "\r\n"; refuse an empty passphrase (or PIN). */
static TR_RESULT secret_trim(struct buf *b, const char *what)
{
    if (b->len && b->data[b->len - 1] == '\n') b->data[--b->len] = 0;
    if (b->len && b->data[b->len - 1] == '\r') b->data[--b->len] = 0;
    if (b->len == 0) BAIL(TR_E_INTERNAL, "the %s is empty", what);
    return TR_OK;
}

static TR_RESULT passphrase_trim(struct buf *b)
{
    return secret_trim(b, "passphrase");
}

TR_RESULT seal_secret_load(const char *file, const char *env_name, const char *what, struct buf *out)
{
    char fwhat[64];
    ENSURE(out && out->secret && env_name && what, TR_E_INTERNAL);
    if (file) {
        snprintf(fwhat, sizeof fwhat, "%s file", what);    /* cut: a message for people */
        GUARD(seal_read_private_file(file, fwhat, out, SEAL_PASSPHRASE_MAX + 2));
        return secret_trim(out, what);
    }
    char *env = getenv(env_name);
    if (!env) return TR_OK;
    size_t n = strlen(env);
    tr_result r = n > SEAL_PASSPHRASE_MAX + 2
        ? tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "%s is longer than %d bytes", env_name,
                     SEAL_PASSPHRASE_MAX)
        : buf_append(out, env, n);
    secure_zero(env, n);                /* the environment's copy, then the name */
    unsetenv(env_name);
    GUARD(r);
    return secret_trim(out, what);
}

TR_RESULT seal_passphrase_load(const char *file, struct buf *out)
{
    return seal_secret_load(file, "TRESOR_PASSPHRASE", "passphrase", out);
}

TR_RESULT seal_passphrase_read_fd(int fd, struct buf *out)
{
    uint8_t chunk[256];
    tr_result r = TR_OK;
    ENSURE(out && out->secret, TR_E_INTERNAL);
    for (;;) {
        ssize_t got = read(fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "cannot read the passphrase: %s", strerror(errno));
            break;
        }
        if (got == 0) break;
        if (out->len + (size_t)got > SEAL_PASSPHRASE_MAX + 2) {
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "the passphrase is longer than %d bytes",
                           SEAL_PASSPHRASE_MAX);
            break;
        }
        r = buf_append(out, chunk, (size_t)got);
        if (tr_failed(r)) break;
        uint8_t *nl = memchr(out->data, '\n', out->len);
        if (nl) {                       /* one line: a terminal needs no EOF */
            size_t keep = (size_t)(nl - out->data) + 1;
            secure_zero(out->data + keep, out->len - keep);
            out->len = (uint32_t)keep;
            break;
        }
    }
    secure_zero(chunk, sizeof chunk);
    GUARD(r);
    return passphrase_trim(out);
}

TR_RESULT seal_open_any(const char *dir, struct keyring **out)
{
    return seal_open_any_named(dir, NULL, out);
}

TR_RESULT seal_open_any_named(const char *dir, const char *name, struct keyring **out)
{
    enum seal_kind k;
    bool wrong;
    ENSURE(dir && out, TR_E_INTERNAL);
    GUARD(seal_recorded(dir, &k));
    struct seal_how how = { .kind = k, .p11 = seal_p11_conf_env(NULL, NULL, NULL) };
    struct buf secret = BUF_SECRET(SEAL_PASSPHRASE_MAX + 2);
    tr_result r = TR_OK;
    if (k == SEAL_PASSPHRASE) {
        r = seal_passphrase_load(NULL, &secret);
        if (tr_ok(r) && secret.len == 0)
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "%s is sealed with a passphrase: give it in "
                           "TRESOR_PASSPHRASE", dir);
    } else if (k == SEAL_PKCS11) {
        r = seal_pin_load(NULL, &secret);
        if (tr_ok(r) && secret.len == 0)
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "%s is sealed by a PKCS#11 token: give its PIN in "
                           "TRESOR_PKCS11_PIN (and the module in TRESOR_PKCS11_MODULE)", dir);
    }
    how.secret = secret.data;
    how.secret_len = secret.len;
    if (tr_ok(r)) r = seal_open_how_named(dir, &how, name, &wrong, out);
    buf_free(&secret);
    return r;
}

TR_RESULT seal_open_how(const char *dir, const struct seal_how *how, bool *wrong, struct keyring **out)
{
    return seal_open_how_named(dir, how, NULL, wrong, out);
}

TR_RESULT seal_open_how_named(const char *dir, const struct seal_how *how, const char *name, bool *wrong,
                              struct keyring **out)
{
    char path[PATH_MAX + 64];
    ENSURE(dir && how && wrong && out, TR_E_INTERNAL);
    *wrong = false;
    switch (how->kind) {
    case SEAL_FILE:
        GUARD(str_format(path, sizeof path, "data directory path", "%s/%s", dir, name ? name : "root.key"));
        return keyring_load_file(path, out);
    case SEAL_PASSPHRASE:
        if (!how->secret || !how->secret_len)
            BAIL(TR_E_INTERNAL, "%s has the passphrase seal: give its passphrase (--passphrase-file or "
                 "TRESOR_PASSPHRASE)", dir);
        return open_passphrase_at(dir, name ? name : SEAL_FILE_NAME, how->secret, how->secret_len, wrong, out);
    case SEAL_PKCS11:
        if (!how->secret || !how->secret_len)
            BAIL(TR_E_INTERNAL, "%s has the pkcs11 seal: give the token's PIN (--pkcs11-pin-file or "
                 "TRESOR_PKCS11_PIN)", dir);
        return seal_open_pkcs11(dir, name, &how->p11, how->secret, how->secret_len, wrong, out);
    default:
        BAIL(TR_E_INTERNAL, "%s has no root key", dir);
    }
}

/* The Argon2id parameters of dir's root.seal (its header is read, not
 * trusted: bounds are checked, and the defaults stand in for a file that
 * is not a sealed form). */
static struct seal_params current_params(const char *dir)
{
    char path[PATH_MAX + 64];
    struct buf file = BUF_INIT(SEAL_FILE_LEN + 1);
    struct seal_params prm = SEAL_PARAMS_DEFAULT, got;
    int k = snprintf(path, sizeof path, "%s/%s", dir, SEAL_FILE_NAME);
    if (k > 0 && (size_t)k < sizeof path &&
        tr_ok(seal_read_private_file(path, "sealed root key file", &file, SEAL_FILE_LEN + 1)) &&
        file.len == SEAL_FILE_LEN && memcmp(file.data, SEAL_MAGIC, 8) == 0) {
        struct rd r = rd_init(file.data + 10, 12, TR_E_INTERNAL);
        if (tr_ok(rd_u32be(&r, &got.m_kib)) && tr_ok(rd_u32be(&r, &got.t)) && tr_ok(rd_u32be(&r, &got.p)) &&
            params_ok(got))
            prm = got;
    }
    tr_clear_error();
    buf_free(&file);
    return prm;
}

TR_RESULT seal_write_next(const char *dir, const struct seal_how *how, const uint8_t root[32])
{
    char name[64], path[PATH_MAX + 64], token[33], key[129];
    uint8_t form[SEAL_FORM_MAX];
    size_t len = 0;
    bool wrong;
    ENSURE(dir && how && root && seal_file_name(how->kind), TR_E_INTERNAL);
    GUARD(str_format(name, sizeof name, "seal file name", "%s.next", seal_file_name(how->kind)));
    GUARD(str_format(path, sizeof path, "data directory path", "%s/%s", dir, name));
    struct seal_how now = *how;         /* the current file's parameters, not the caller's */
    if (now.kind == SEAL_PASSPHRASE) now.prm = current_params(dir);
    if (now.kind == SEAL_PKCS11) {
        GUARD(seal_p11_labels(dir, token, key));
        now.p11.token = token;
        now.p11.key = key;
        now.p11_key_exists = true;
    }
    GUARD(seal_wrap_how(root, &now, form, &len, &wrong));
    tr_result r = TR_OK;
    if (unlink(path) != 0 && errno != ENOENT)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "cannot remove %s: %s", path, strerror(errno));
    if (tr_ok(r)) r = keyring_create_file(dir, name, form, len, false);
    secure_zero(form, sizeof form);
    return r;
}
