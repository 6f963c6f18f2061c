/*
 * seal_p11.c -- the pkcs11 seal of the root key (contract in seal.h).
 *
 * root.p11, format v1 (integers big-endian; T and K the labels' lengths):
 *
 *   magic:8 = "tresorTK" | version:u8 = 1 | mechanism:u32 = 0x1087
 *   (CKM_AES_GCM) | T:u8 (1..32) | token label:T | K:u8 (1..128)
 *   | key label:K | iv:12                  (the header: 27 + T + K bytes)
 *   | ct:32 | tag:16                       (75 + T + K bytes in all)
 *
 * ct|tag = AES-256-GCM(the token's key, iv, aad = the header, root key),
 * computed by the token (crypto/pkcs11.h): the wrapping key is an AES-256
 * secret key object of the token, sensitive and not extractable, found by
 * its label.  The whole header is AAD, so no byte of the file can change
 * without the unwrap failing.  The labels are printable ASCII with no
 * trailing space (a token label is space-padded to 32 bytes on the token,
 * so a trailing space could not be told from the padding).
 *
 * The format code takes the cipher as a small vtable (struct
 * seal_p11_cipher), so that the unit tests run it against OpenSSL's
 * AES-GCM, and so that nothing here but the vtable touches the token.
 * Spec and rationale: docs/internals/SEAL.md.
 */
#include "crypto/seal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/rd.h"
#include "core/secmem.h"
#include "crypto/internal.h"
#include "crypto/pkcs11.h"
#include "crypto/rand.h"

#define P11_MAGIC "tresorTK"
#define P11_V1 1
#define ROOT_LEN 32

static bool label_ok(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max || s[n - 1] == ' ') return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) return false;
    return true;
}

static TR_RESULT labels_check(const char *token, const char *key)
{
    if (!label_ok(token, P11_LABEL_MAX))
        BAIL(TR_E_INTERNAL, "a PKCS#11 token label is 1 to %d printable ASCII characters, not ending in a space",
             P11_LABEL_MAX);
    if (!label_ok(key, P11_KEY_LABEL_MAX))
        BAIL(TR_E_INTERNAL, "a PKCS#11 key label is 1 to %d printable ASCII characters, not ending in a space",
             P11_KEY_LABEL_MAX);
    return TR_OK;
}

TR_RESULT seal_p11_parse(const uint8_t *file, size_t len, struct seal_p11_file *out)
{
    uint8_t magic[8], ver, tl, kl;
    const uint8_t *tok, *key;
    struct rd r = rd_init(file, len, TR_E_INTERNAL);
    ENSURE(out, TR_E_INTERNAL);
    memset(out, 0, sizeof *out);
    if (!file || len > SEAL_P11_MAX_LEN || tr_failed(rd_bytes(&r, magic, 8)) || memcmp(magic, P11_MAGIC, 8) != 0 ||
        tr_failed(rd_u8(&r, &ver)) || ver != P11_V1 || tr_failed(rd_u32be(&r, &out->mech)) ||
        out->mech != SEAL_P11_MECH_AES_GCM || tr_failed(rd_u8(&r, &tl)) || tl == 0 || tl > P11_LABEL_MAX ||
        tr_failed(rd_ptr(&r, tl, &tok)) || tr_failed(rd_u8(&r, &kl)) || kl == 0 || kl > P11_KEY_LABEL_MAX ||
        tr_failed(rd_ptr(&r, kl, &key)) || tr_failed(rd_ptr(&r, P11_IV_LEN, &out->iv)))
        goto bad;
    out->header_len = len - r.left;
    if (tr_failed(rd_ptr(&r, ROOT_LEN, &out->ct)) || tr_failed(rd_ptr(&r, P11_TAG_LEN, &out->tag)) ||
        tr_failed(rd_end(&r)))
        goto bad;
    memcpy(out->token, tok, tl);
    out->token[tl] = '\0';
    memcpy(out->key, key, kl);
    out->key[kl] = '\0';
    if (!label_ok(out->token, P11_LABEL_MAX) || !label_ok(out->key, P11_KEY_LABEL_MAX)) goto bad;
    return TR_OK;
bad:
    memset(out, 0, sizeof *out);
    BAIL(TR_E_INTERNAL, "not a PKCS#11-sealed root key (%s format v1)", SEAL_P11_FILE_NAME);
}

TR_RESULT seal_p11_encode(const struct seal_p11_cipher *c, const char *token, const char *key,
                          const uint8_t root[32], uint8_t out[SEAL_P11_MAX_LEN], size_t *len)
{
    ENSURE(c && root && out && len, TR_E_INTERNAL);
    GUARD(labels_check(token, key));
    size_t tl = strlen(token), kl = strlen(key), o = 0;
    memcpy(out, P11_MAGIC, 8);
    o = 8;
    out[o++] = P11_V1;
    put_u32be(out + o, SEAL_P11_MECH_AES_GCM);
    o += 4;
    out[o++] = (uint8_t)tl;
    memcpy(out + o, token, tl);
    o += tl;
    out[o++] = (uint8_t)kl;
    memcpy(out + o, key, kl);
    o += kl;
    uint8_t *iv = out + o;
    GUARD(rand_bytes(iv, P11_IV_LEN));
    o += P11_IV_LEN;
    tr_result r = c->seal(c->ctx, iv, out, o, root, out + o, out + o + ROOT_LEN);
    if (tr_failed(r)) {
        secure_zero(out, SEAL_P11_MAX_LEN);
        return r;
    }
    *len = o + ROOT_LEN + P11_TAG_LEN;
    return TR_OK;
}

TR_RESULT seal_p11_decode(const struct seal_p11_cipher *c, const uint8_t *file, size_t len, bool *wrong,
                          uint8_t root[32])
{
    struct seal_p11_file f;
    bool auth = false;
    ENSURE(c && wrong && root, TR_E_INTERNAL);
    *wrong = false;
    secure_zero(root, ROOT_LEN);        /* wiped on every failure, the parser's too */
    GUARD(seal_p11_parse(file, len, &f));
    tr_result r = c->open(c->ctx, f.iv, file, f.header_len, f.ct, f.tag, root, &auth);
    if (tr_ok(r)) return TR_OK;
    secure_zero(root, ROOT_LEN);
    if (!auth) return r;
    *wrong = true;
    BAIL(TR_E_INTERNAL, "%s does not authenticate under the key '%s' of token '%s': the key is not the one it "
         "was sealed under, or the file was altered", SEAL_P11_FILE_NAME, f.key, f.token);
}

/* The vtable over a PKCS#11 session. */
static TR_RESULT tok_seal(void *ctx, const uint8_t iv[12], const uint8_t *aad, size_t naad, const uint8_t pt[32],
                          uint8_t ct[32], uint8_t tag[16])
{
    return p11_gcm_seal(ctx, iv, aad, naad, pt, ROOT_LEN, ct, tag);
}

static TR_RESULT tok_open(void *ctx, const uint8_t iv[12], const uint8_t *aad, size_t naad, const uint8_t ct[32],
                          const uint8_t tag[16], uint8_t pt[32], bool *auth)
{
    return p11_gcm_open(ctx, iv, aad, naad, ct, ROOT_LEN, tag, pt, auth);
}

struct seal_p11_conf seal_p11_conf_env(const char *module, const char *token, const char *key)
{
    const char *m = getenv("TRESOR_PKCS11_MODULE"), *t = getenv("TRESOR_PKCS11_TOKEN"),
               *k = getenv("TRESOR_PKCS11_KEY");
    return (struct seal_p11_conf){
        .module = module ? module : m && *m ? m : NULL,
        .token = token ? token : t && *t ? t : NULL,
        .key = key ? key : k && *k ? k : NULL,
    };
}

static TR_RESULT session(const struct seal_p11_conf *conf, const char *token, const uint8_t *pin, size_t n,
                         bool *wrong, struct p11 **out)
{
    enum p11_fail why;
    if (!conf->module)
        BAIL(TR_E_INTERNAL, "the pkcs11 seal needs its module: give --pkcs11-module PATH or TRESOR_PKCS11_MODULE");
    tr_result r = p11_open(conf->module, token, pin, n, &why, out);
    *wrong = tr_failed(r) && why == P11_FAIL_PIN;
    return r;
}

/* Wrap root under the token's key (made when absent and make_key), and
 * unwrap the result again under a second look-up of the key: out holds a
 * root.p11 that opens. */
static TR_RESULT p11_wrap_checked(const struct seal_p11_conf *conf, const uint8_t *pin, size_t n, bool make_key,
                                  const uint8_t root[32], uint8_t out[SEAL_P11_MAX_LEN], size_t *len, bool *wrong)
{
    struct p11 *p = NULL;
    bool found = false, w2 = false;
    uint8_t back[ROOT_LEN];
    tr_result r;
    GUARD(labels_check(conf->token, conf->key));
    GUARD(session(conf, conf->token, pin, n, wrong, &p));
    r = p11_find_key(p, conf->key, &found);
    if (tr_ok(r) && !found && !make_key)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "PKCS#11 token '%s' has no AES key labelled '%s'",
                       conf->token, conf->key);
    if (tr_ok(r) && !found) {
        r = p11_generate_key(p, conf->key);
        if (tr_ok(r)) log_msg("info", "made the AES-256 key '%s' in PKCS#11 token '%s' (sensitive, not "
                              "extractable)", conf->key, conf->token);
    }
    struct seal_p11_cipher c = { p, tok_seal, tok_open };
    if (tr_ok(r)) r = seal_p11_encode(&c, conf->token, conf->key, root, out, len);
    if (tr_ok(r)) r = seal_p11_decode(&c, out, *len, &w2, back);
    if (tr_ok(r) && memcmp(back, root, ROOT_LEN) != 0)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "PKCS#11 token '%s': the wrapped root key did not "
                       "unwrap to itself", conf->token);
    secure_zero(back, sizeof back);
    p11_close(p);
    if (tr_failed(r)) secure_zero(out, SEAL_P11_MAX_LEN);
    return r;
}

TR_RESULT seal_p11_wrap_root(const struct seal_p11_conf *conf, const uint8_t *pin, size_t n, bool make_key,
                             const uint8_t root[32], uint8_t out[SEAL_P11_MAX_LEN], size_t *len, bool *wrong)
{
    ENSURE(conf && pin && root && out && len && wrong, TR_E_INTERNAL);
    return p11_wrap_checked(conf, pin, n, make_key, root, out, len, wrong);
}

TR_RESULT seal_create_pkcs11(const char *dir, const struct seal_p11_conf *conf, const uint8_t *pin, size_t n,
                             bool *wrong, struct keyring **out)
{
    uint8_t root[ROOT_LEN], file[SEAL_P11_MAX_LEN];
    size_t len = 0;
    ENSURE(dir && conf && pin && wrong && out, TR_E_INTERNAL);
    *wrong = false;
    if (!conf->token || !conf->key)
        BAIL(TR_E_INTERNAL, "the pkcs11 seal needs the token's label and the key's: give --pkcs11-token LABEL "
             "and --pkcs11-key LABEL (or TRESOR_PKCS11_TOKEN and TRESOR_PKCS11_KEY)");
    GUARD(rand_bytes(root, sizeof root));
    tr_result r = p11_wrap_checked(conf, pin, n, true, root, file, &len, wrong);
    secure_zero(root, sizeof root);
    GUARD(r);
    GUARD(keyring_create_file(dir, SEAL_P11_FILE_NAME, file, len, true));
    /* Open what is on disk: the file just written, or the one of a
     * process that won the race to create it. */
    return seal_open_pkcs11(dir, NULL, conf, pin, n, wrong, out);
}

/* Read DIR/name (a root.p11 or a rotation's root.p11.next) into file and
 * parse it into f. */
static TR_RESULT read_p11(const char *dir, const char *name, char *path, size_t npath, struct buf *file,
                          struct seal_p11_file *f)
{
    int k = snprintf(path, npath, "%s/%s", dir, name ? name : SEAL_P11_FILE_NAME);
    if (k < 0 || (size_t)k >= npath) BAIL(TR_E_INTERNAL, "data directory path is too long");
    GUARD(seal_read_private_file(path, "sealed root key file", file, SEAL_P11_MAX_LEN + 1));
    return seal_p11_parse(file->data, file->len, f);
}

TR_RESULT seal_p11_labels(const char *dir, char token[33], char key[129])
{
    char path[PATH_MAX + 64];
    struct buf file = BUF_INIT(SEAL_P11_MAX_LEN + 1);
    struct seal_p11_file f;
    ENSURE(dir && token && key, TR_E_INTERNAL);
    tr_result r = read_p11(dir, NULL, path, sizeof path, &file, &f);
    if (tr_ok(r)) {
        memcpy(token, f.token, sizeof f.token);
        memcpy(key, f.key, sizeof f.key);
    }
    buf_free(&file);
    return r;
}

TR_RESULT seal_open_pkcs11(const char *dir, const char *name, const struct seal_p11_conf *conf,
                           const uint8_t *pin, size_t n, bool *wrong, struct keyring **out)
{
    char path[PATH_MAX + 64];
    struct buf file = BUF_INIT(SEAL_P11_MAX_LEN + 1);
    struct seal_p11_file f;
    struct p11 *p = NULL;
    uint8_t root[ROOT_LEN];
    bool found = false, auth_wrong = false;
    tr_result r;

    ENSURE(dir && conf && pin && wrong && out, TR_E_INTERNAL);
    *wrong = false;
    r = read_p11(dir, name, path, sizeof path, &file, &f);
    if (tr_failed(r)) goto done;
    if ((conf->token && strcmp(conf->token, f.token) != 0) || (conf->key && strcmp(conf->key, f.key) != 0)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "%s was sealed under key '%s' of PKCS#11 token '%s'; "
                       "token '%s' and key '%s' were given", path, f.key, f.token,
                       conf->token ? conf->token : f.token, conf->key ? conf->key : f.key);
        goto done;
    }
    r = session(conf, f.token, pin, n, wrong, &p);
    if (tr_ok(r)) r = p11_find_key(p, f.key, &found);
    if (tr_ok(r) && !found) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "PKCS#11 token '%s' has no AES key labelled '%s', "
                       "which %s was sealed under: it was deleted, or this is another token of the same label; "
                       "tresor never makes a new key for an existing %s", f.token, f.key, path, SEAL_P11_FILE_NAME);
        goto done;
    }
    struct seal_p11_cipher c = { p, tok_seal, tok_open };
    if (tr_ok(r)) r = seal_p11_decode(&c, file.data, file.len, &auth_wrong, root);
    if (tr_ok(r)) {
        r = keyring_from_bytes(root, out);
        secure_zero(root, sizeof root);
    }
done:
    p11_close(p);
    buf_free(&file);
    return r;
}

TR_RESULT seal_pin_load(const char *file, struct buf *out)
{
    return seal_secret_load(file, "TRESOR_PKCS11_PIN", "PIN", out);
}
