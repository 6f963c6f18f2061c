/*
 * fuzz_ciphertext.c -- libFuzzer target for the KMS ciphertext blob
 * (src/kms/ciphertext.c, docs/internals/CIPHERTEXT.md) and the Decrypt
 * path that opens it.
 *
 * The input:
 *   byte 0   flags: 0x01 write FX_KEY_ID over the blob's key id, 0x02 write
 *            version 1 and material version 1 into the header (so random
 *            bytes name the fixture's key and reach the AEAD check),
 *            0x04 name the key (its ARN) in Decrypt's KeyId
 *   byte 1   L, the length of the encryption context text
 *   L bytes  the encryption context, "k=v&k2=v2" (no decoding)
 *   rest     the blob
 * The blob is parsed; a parsed blob is opened directly with the fixture
 * key's material (FX_MATERIAL) under the context, and the same blob and
 * context go through the KMS Decrypt handler over the fixture's store
 * (fixture.h), whose keyring unwraps that material.  Seeds are blobs
 * sealed under FX_MATERIAL, so tampered copies reach the tag check
 * (mrk-version: one with the multi-Region version byte, 0x02, whose key
 * id then names no key of the fixture).
 * Invariants: a parsed blob's parts lie inside it and add up to its
 * length; the canonical context does not depend on pair order; Decrypt
 * and the direct open agree, and a successful open returns as many bytes
 * as the body holds.
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "fixture.h"
#include "kms/ciphertext.h"
#include "kms/kms.h"

#define MAX_PAIRS 16
#define MAX_BLOB 8192

static const struct op_def *decrypt_op;

/* Split "k=v&k2=v2" (a NUL-terminated copy) into pairs, in place. */
static size_t split_ctx(char *s, struct enc_pair *pairs)
{
    size_t n = 0;
    while (*s && n < MAX_PAIRS) {
        char *amp = strchr(s, '&');
        if (amp) *amp = '\0';
        char *eq = strchr(s, '=');
        pairs[n].key = s;
        pairs[n].value = "";
        if (eq) {
            *eq = '\0';
            pairs[n].value = eq + 1;
        }
        n++;
        if (!amp) break;
        s = amp + 1;
    }
    return n;
}

static void check_canonical(const struct enc_pair *pairs, size_t n)
{
    struct enc_pair rev[MAX_PAIRS];
    struct buf a = BUF_INIT(1 << 16), b = BUF_INIT(1 << 16);
    for (size_t i = 0; i < n; i++) rev[i] = pairs[n - 1 - i];
    struct enc_ctx c1 = { pairs, n }, c2 = { rev, n };
    tr_result r1 = enc_ctx_canonical(&c1, &a), r2 = enc_ctx_canonical(&c2, &b);
    if (tr_ok(r1) != tr_ok(r2)) __builtin_trap();
    if (tr_ok(r1) && (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)) __builtin_trap();
    buf_free(&a);
    buf_free(&b);
    tr_clear_error();
}

/* Decrypt through the handler; *pt gets the plaintext on success. */
/* *same is set when the JSON context holds exactly the n pairs (no
 * duplicate keys, every string valid UTF-8). */
static tr_result kms_decrypt(const uint8_t *blob, size_t len, const struct enc_pair *pairs, size_t n,
                             bool name_key, struct buf *pt, bool *same)
{
    static char b64[MAX_BLOB * 2];
    json_t *in = json_object(), *ctx = json_object(), *out = NULL;
    int bl = EVP_EncodeBlock((unsigned char *)b64, blob, (int)len);
    tr_result r = TR_OK;
    if (!in || !ctx || bl < 0) fx_die("json");
    json_object_set_new(in, "CiphertextBlob", json_stringn(b64, (size_t)bl));
    for (size_t i = 0; i < n; i++) json_object_set_new(ctx, pairs[i].key, json_string(pairs[i].value));
    *same = json_object_size(ctx) == n;
    if (n) json_object_set(in, "EncryptionContext", ctx);
    if (name_key)
        json_object_set_new(in, "KeyId", json_string("arn:aws:kms:" FX_REGION ":" FX_ACCT ":key/" FX_KEY_ID));
    r = fx_run(&kms_service, decrypt_op, in, &out, false);
    if (tr_ok(r)) {
        const char *p = json_string_value(json_object_get(out, "Plaintext"));
        uint8_t raw[MAX_BLOB];
        int m = p ? EVP_DecodeBlock(raw, (const unsigned char *)p, (int)strlen(p)) : -1;
        if (m < 0) __builtin_trap();
        /* EVP_DecodeBlock counts '=' padding as zero bytes. */
        size_t pl = strlen(p);
        m -= (pl > 0 && p[pl - 1] == '=') + (pl > 1 && p[pl - 2] == '=');
        if (tr_failed(buf_append(pt, raw, (size_t)m))) fx_die("buf");
    }
    json_decref(out);
    json_decref(ctx);
    json_decref(in);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    static uint8_t key_id[CT_KEY_ID_LEN];
    if (!ready) {
        fx_init("kms");
        decrypt_op = op_find(&kms_service, "Decrypt");
        if (tr_failed(uuid_to_bytes(FX_KEY_ID, key_id))) fx_die("uuid_to_bytes");
        ready = true;
    }
    if (size < 2) return 0;
    uint8_t flags = data[0];
    size_t clen = data[1];
    if (size - 2 < clen) return 0;
    size_t len = size - 2 - clen;
    if (len > MAX_BLOB) return 0;

    char ctext[256];
    struct enc_pair pairs[MAX_PAIRS];
    memcpy(ctext, data + 2, clen);
    ctext[clen] = '\0';
    size_t n = split_ctx(ctext, pairs);
    check_canonical(pairs, n);

    uint8_t blob[MAX_BLOB];
    memcpy(blob, data + 2 + clen, len);
    if ((flags & 0x01) && len >= 1 + CT_KEY_ID_LEN) memcpy(blob + 1, key_id, CT_KEY_ID_LEN);
    if ((flags & 0x02) && len >= 21) {
        static const uint8_t v1[4] = { 0, 0, 0, 1 };
        blob[0] = 1;
        memcpy(blob + 17, v1, 4);
    }

    struct ct_blob ct;
    struct buf direct = BUF_SECRET(MAX_BLOB), via = BUF_SECRET(MAX_BLOB);
    struct enc_ctx ectx = { pairs, n };
    bool opened = false;
    if (tr_ok(ciphertext_parse(blob, len, &ct))) {
        const uint8_t *end = blob + len;
        if (ct.header != blob || ct.header_len + ct.body_len + 16 != len) __builtin_trap();
        if (ct.body < blob || ct.body + ct.body_len > end || ct.tag + 16 != end) __builtin_trap();
        if (ct.salt < blob || ct.iv < blob || ct.iv + 12 > ct.body) __builtin_trap();
        if (tr_ok(ciphertext_open(&ct, FX_MATERIAL, &ectx, &direct))) {
            opened = true;
            if (direct.len != ct.body_len) __builtin_trap();
        } else if (direct.len != 0) {
            __builtin_trap();
        }
    }
    bool same;
    tr_result r = kms_decrypt(blob, len, pairs, n, flags & 0x04, &via, &same);
    if (same) {
        /* Decrypt opens exactly what the direct open opens; it may refuse
         * more (context validation), but never as a bad ciphertext. */
        if (tr_ok(r) && !opened) __builtin_trap();
        if (opened && tr_code(r) == TR_E_KMS_INVALID_CIPHERTEXT) __builtin_trap();
        if (tr_ok(r) && (via.len != direct.len || (via.len && memcmp(via.data, direct.data, via.len) != 0)))
            __builtin_trap();
    }
    buf_free(&direct);
    buf_free(&via);
    return 0;
}
