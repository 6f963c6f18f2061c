/*
 * audit_keys.c -- the audit log's two keys: the Ed25519 seed that signs
 * checkpoints and the HMAC-SHA256 key of the sensitive request members.
 *
 * DIR/audit.key (0600) holds each wrapped under the root key
 * (crypto/keyring.h), one per line, "<label> <hex of the wrapped bytes>",
 * with the labels "audit-signing-key" and "audit-hmac-key" bound as AAD:
 * the file is useless without root.key, and a key cannot be swapped for
 * the other.  DIR/audit.pub (0644) is the signing key's public half as
 * PEM, for `tresor audit verify --public-key` and any Ed25519 verifier.
 * Both are made on the first start with --audit-log.
 */
#include "audit/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/hex.h"
#include "core/secmem.h"
#include "core/str.h"
#include "crypto/ed25519.h"
#include "crypto/keyring.h"
#include "crypto/rand.h"

#define LABEL_SIGN "audit-signing-key"
#define LABEL_HMAC "audit-hmac-key"
#define KEYFILE_MAX 1024

/* GrantToken(s): a grant token is a bearer credential for the grant it
 * names until the grant is consistent, so it is never logged either. */
const char *const audit_sensitive_members[] = { "SecretString", "SecretBinary", "Plaintext", "CiphertextBlob",
                                                "GrantToken", "GrantTokens", "Message", "Signature",
                                                "Mac", NULL };

bool audit_member_is_blob(const char *name)
{
    return strcmp(name, "SecretBinary") == 0 || strcmp(name, "Plaintext") == 0 ||
           strcmp(name, "CiphertextBlob") == 0 || strcmp(name, "Message") == 0 ||
           strcmp(name, "Signature") == 0 || strcmp(name, "Mac") == 0;
}

TR_RESULT audit_hmac_text(const uint8_t key[32], const void *value, size_t n, char out[AUDIT_HMAC_TEXT_LEN])
{
    uint8_t mac[SHA256_LEN];
    GUARD(hmac_sha256(key, 32, value, n, mac));
    memcpy(out, "hmac-sha256:", 12);
    hex_encode(mac, sizeof mac, out + 12);
    return TR_OK;
}

void audit_keys_free(struct audit_keys *k)
{
    if (k) secmem_free(k, sizeof *k);
}

/* Write data to dir/name through a temporary file and rename, mode mode. */
static TR_RESULT write_file(const char *dir, const char *name, const void *data, size_t n, mode_t mode)
{
    char path[4096], tmp[4096];
    GUARD(str_format(path, sizeof path, "audit key path", "%s/%s", dir, name));
    GUARD(str_format(tmp, sizeof tmp, "audit key path", "%s/.%s.tmp", dir, name));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) BAIL(TR_E_INTERNAL, "cannot create %.256s: %s", tmp, strerror(errno));
    bool ok = write(fd, data, n) == (ssize_t)n && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        BAIL(TR_E_INTERNAL, "cannot write %.256s", path);
    }
    return TR_OK;
}

static TR_RESULT wrap_line(const struct keyring *kr, const char *label, const uint8_t key[32], struct buf *out)
{
    struct buf w = BUF_INIT(256);
    tr_result r = keyring_wrap(kr, label, key, 32, &w);
    char hex[2 * 256 + 1];
    if (tr_ok(r) && w.len > 256) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    if (tr_ok(r)) {
        hex_encode(w.data, w.len, hex);
        r = buf_printf(out, "%s %s\n", label, hex);
    }
    buf_free(&w);
    return r;
}

/* The key labelled label in the file's text, unwrapped into key. */
static TR_RESULT unwrap_line(const struct keyring *kr, const char *text, const char *label, uint8_t key[32])
{
    size_t ln = strlen(label);
    const char *p = text;
    while (p && !(strncmp(p, label, ln) == 0 && p[ln] == ' ')) {
        p = strchr(p, '\n');
        if (p) p++;
    }
    if (!p) BAIL(TR_E_INTERNAL, "audit.key has no %s", label);
    p += ln + 1;
    size_t hl = strcspn(p, "\n");
    uint8_t wrapped[256];
    if (hl % 2 || hl / 2 > sizeof wrapped || !hex_decode(p, hl, wrapped))
        BAIL(TR_E_INTERNAL, "audit.key: %s is not hex", label);
    struct buf plain = BUF_SECRET(64);
    tr_result r = keyring_unwrap(kr, label, wrapped, hl / 2, &plain);
    if (tr_ok(r) && plain.len != 32) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "audit.key: bad %s", label);
    if (tr_ok(r)) memcpy(key, plain.data, 32);
    buf_free(&plain);
    return r;
}

static TR_RESULT make_keys(const char *dir, const struct keyring *kr, struct audit_keys *k)
{
    struct buf text = BUF_INIT(KEYFILE_MAX), pub = BUF_INIT(1024);
    tr_result r = rand_bytes(k->sign, sizeof k->sign);
    if (tr_ok(r)) r = rand_bytes(k->hmac, sizeof k->hmac);
    if (tr_ok(r)) r = wrap_line(kr, LABEL_SIGN, k->sign, &text);
    if (tr_ok(r)) r = wrap_line(kr, LABEL_HMAC, k->hmac, &text);
    if (tr_ok(r)) r = ed25519_public_pem(k->sign, &pub);
    if (tr_ok(r)) r = write_file(dir, "audit.pub", pub.data, pub.len, 0644);
    if (tr_ok(r)) r = write_file(dir, "audit.key", text.data, text.len, 0600);
    buf_free(&text);
    buf_free(&pub);
    return r;
}

TR_RESULT audit_keys_rewrap(const char *dir, const struct keyring *old, const struct keyring *new_kr,
                            struct buf *text, bool *present)
{
    char path[4096];
    struct audit_keys *k = NULL;
    *present = false;
    GUARD(str_format(path, sizeof path, "audit key path", "%s/audit.key", dir));
    if (access(path, F_OK) != 0 && errno == ENOENT) return TR_OK;
    GUARD(audit_keys_load(dir, old, false, &k));
    tr_result r = wrap_line(new_kr, LABEL_SIGN, k->sign, text);
    if (tr_ok(r)) r = wrap_line(new_kr, LABEL_HMAC, k->hmac, text);
    audit_keys_free(k);
    *present = tr_ok(r);
    return r;
}

TR_RESULT audit_keys_load(const char *dir, const struct keyring *kr, bool create, struct audit_keys **out)
{
    char path[4096], text[KEYFILE_MAX + 1];
    struct audit_keys *k = NULL;
    tr_result r = TR_OK;
    int fd = -1;

    *out = NULL;
    GUARD(str_format(path, sizeof path, "audit key path", "%s/audit.key", dir));
    k = secmem_alloc(sizeof *k);
    if (!k) BAIL(TR_E_INTERNAL, "out of locked memory");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        r = make_keys(dir, kr, k);
        goto done;
    }
    if (fd < 0) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "cannot open %.256s: %s", path, strerror(errno));
        goto done;
    }
    ssize_t n = read(fd, text, KEYFILE_MAX);
    if (n <= 0 || n == KEYFILE_MAX) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "cannot read %.256s", path);
        goto done;
    }
    text[n] = '\0';
    r = unwrap_line(kr, text, LABEL_SIGN, k->sign);
    if (tr_ok(r)) r = unwrap_line(kr, text, LABEL_HMAC, k->hmac);
done:
    if (fd >= 0) close(fd);
    if (tr_failed(r)) {
        audit_keys_free(k);
        return r;
    }
    *out = k;
    return TR_OK;
}
