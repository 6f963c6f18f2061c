/*
 * root_record.c -- the store's root record and the settling of a root key
 * rotation cut short (contract in root_record.h; the crash-safety argument
 * in docs/internals/SEAL.md, "Rotating the root key").
 *
 * The root record is the relation ("root-key", "tresor", "current") whose
 * doc is {"check": HEX, "next": {NAME: HEX, ...}}: the key-check value of
 * the root key the store's records are wrapped under, and the digests of
 * the .next files the rotation that wrote it left beside their files.
 * Nothing in it is secret: the check value is an HMAC under the root key
 * (crypto/keyring.h), and the digests are of files that sit beside it in
 * the data dir.  A relation needs no schema change and no new store call.
 */
#include "store/root_record.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ct.h"
#include "core/hex.h"
#include "core/json.h"
#include "core/secmem.h"
#include "core/str.h"
#include "crypto/hash.h"

#define REC_KIND "root-key"
#define REC_FROM "tresor"
#define REC_TO "current"
#define SEALED_TO "sealed"               /* the sealed form's relation */
#define DIGEST_LABEL "tresor-root-file-v1"
#define FILE_MAX 4096                   /* a seal file or audit.key */
#define AUDIT_KEY "audit.key"

/* ---- the root record ------------------------------------------------------ */

static bool hex_field(json_t *v, uint8_t *out, size_t n)
{
    const char *s = json_string_value(v);
    return s && strlen(s) == 2 * n && hex_decode(s, 2 * n, out);
}

/* The document of the relation (REC_KIND, REC_FROM, to), parsed (NULL
 * when it is not JSON; the caller refuses it); *found false when there is
 * no such relation. */
static TR_RESULT get_doc(store_t st, const char *to, json_t **doc, bool *found)
{
    struct rel_rec rel;
    json_error_t jerr;
    *doc = NULL;
    *found = false;
    tr_result r = st[0]->rel_get(st, REC_KIND, REC_FROM, to, &rel);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND) {
        tr_clear_error();
        return TR_OK;
    }
    GUARD(r);
    *doc = json_loads(rel.doc ? rel.doc : "", 0, &jerr);
    rel_rec_free(&rel);
    *found = true;
    return TR_OK;
}

TR_RESULT root_record_get(store_t st, struct root_record *out)
{
    json_t *doc = NULL;
    bool found = false;
    memset(out, 0, sizeof *out);
    GUARD(get_doc(st, REC_TO, &doc, &found));
    if (!found) return TR_OK;
    bool ok = json_is_object(doc) && hex_field(json_object_get(doc, "check"), out->check, sizeof out->check);
    json_t *next = json_object_get(doc, "next");
    const char *name;
    json_t *v;
    if (ok && next && !json_is_object(next)) ok = false;
    json_object_foreach(next, name, v) {
        if (!ok) break;
        if (out->nfiles == ROOT_FILES_MAX || strlen(name) >= ROOT_NAME_MAX ||
            !hex_field(v, out->file[out->nfiles].digest, ROOT_DIGEST_LEN)) {
            ok = false;
            break;
        }
        memcpy(out->file[out->nfiles].name, name, strlen(name) + 1);
        out->nfiles++;
    }
    json_decref(doc);
    if (!ok) {
        memset(out, 0, sizeof *out);
        BAIL(TR_E_STORE_CORRUPT, "the store's root record (relation %s) is damaged", REC_KIND);
    }
    out->present = true;
    return TR_OK;
}

/* doc, as compact text, into the relation (REC_KIND, REC_FROM, to). */
static TR_RESULT put_doc(store_t st, const char *to, json_t *doc)
{
    struct buf text = BUF_INIT(2 * FILE_MAX + 256);
    tr_result r = json_dump_buf(doc, JSON_COMPACT | JSON_SORT_KEYS, &text);
    if (tr_ok(r)) r = buf_append(&text, "", 1);          /* NUL: the doc is text */
    if (tr_ok(r)) {
        struct rel_rec rel = { .from = REC_FROM, .to = (char *)to, .doc = (char *)text.data };
        STR_SET(rel.kind, REC_KIND);
        r = st[0]->rel_put(st, &rel);
    }
    buf_free(&text);
    return r;
}

TR_RESULT root_record_put(store_t st, const struct root_record *rec)
{
    char hex[2 * ROOT_DIGEST_LEN + 1];
    json_t *doc = json_object(), *next = json_object();
    tr_result r = TR_OK;
    if (!doc || !next) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "out of memory");
    hex_encode(rec->check, sizeof rec->check, hex);
    if (tr_ok(r) && json_object_set_new(doc, "check", json_string(hex)) != 0)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "out of memory");
    for (size_t i = 0; tr_ok(r) && i < rec->nfiles; i++) {
        hex_encode(rec->file[i].digest, ROOT_DIGEST_LEN, hex);
        if (json_object_set_new(next, rec->file[i].name, json_string(hex)) != 0)
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "out of memory");
    }
    if (tr_ok(r) && json_object_set(doc, "next", next) != 0)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "out of memory");
    if (tr_ok(r)) r = put_doc(st, REC_TO, doc);
    json_decref(next);
    json_decref(doc);
    return r;
}

TR_RESULT root_file_digest(const uint8_t *data, size_t n, uint8_t out[ROOT_DIGEST_LEN])
{
    struct buf b = BUF_SECRET(sizeof DIGEST_LABEL + FILE_MAX);
    ENSURE(n <= FILE_MAX, TR_E_INTERNAL);
    tr_result r = buf_append(&b, DIGEST_LABEL, sizeof DIGEST_LABEL);    /* with its NUL */
    if (tr_ok(r)) r = buf_append(&b, data, n);
    if (tr_ok(r)) r = sha256(b.data, b.len, out);
    buf_free(&b);
    return r;
}

/* ---- settling --------------------------------------------------------------- */

enum root_settle root_settle_decide(const struct root_record *rec, const char *name, bool next_exists,
                                    const uint8_t next_digest[ROOT_DIGEST_LEN])
{
    if (!next_exists) return ROOT_SETTLE_NONE;
    for (size_t i = 0; rec && rec->present && i < rec->nfiles; i++)
        if (strcmp(rec->file[i].name, name) == 0)
            return ct_memeq(rec->file[i].digest, next_digest, ROOT_DIGEST_LEN) ? ROOT_SETTLE_FINISH
                                                                               : ROOT_SETTLE_DROP;
    return ROOT_SETTLE_DROP;
}

/* Read dir/name (at most FILE_MAX bytes) into out (a secret buf); *exists
 * false when there is no such file. */
static TR_RESULT read_file(const char *dir, const char *name, struct buf *out, bool *exists)
{
    char path[PATH_MAX + 64];
    uint8_t chunk[512];
    tr_result r = TR_OK;
    *exists = false;
    GUARD(str_format(path, sizeof path, "data directory path", "%s/%s", dir, name));
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) return TR_OK;
    if (fd < 0) BAIL(TR_E_INTERNAL, "cannot open %s: %s", path, strerror(errno));
    *exists = true;
    for (;;) {
        ssize_t got = read(fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 || out->len + (size_t)(got > 0 ? got : 0) > FILE_MAX) {
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "cannot read %s", path);
            break;
        }
        if (got == 0) break;
        r = buf_append(out, chunk, (size_t)got);
        if (tr_failed(r)) break;
    }
    secure_zero(chunk, sizeof chunk);
    close(fd);
    return r;
}

TR_RESULT root_next_digest(const char *dir, const char *name, bool *exists, uint8_t d[ROOT_DIGEST_LEN])
{
    char nx[ROOT_NAME_MAX + 8];
    struct buf b = BUF_SECRET(FILE_MAX);
    GUARD(str_format(nx, sizeof nx, "file name", "%s.next", name));
    tr_result r = read_file(dir, nx, &b, exists);
    if (tr_ok(r) && *exists) r = root_file_digest(b.data, b.len, d);
    buf_free(&b);
    return r;
}

static TR_RESULT fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) BAIL(TR_E_INTERNAL, "cannot open %s: %s", dir, strerror(errno));
    int rc = fsync(fd), e = errno;
    close(fd);
    if (rc != 0) BAIL(TR_E_INTERNAL, "cannot sync %s: %s", dir, strerror(e));
    return TR_OK;
}

TR_RESULT root_settle_apply(const char *dir, const char *name, enum root_settle what)
{
    char from[PATH_MAX + 64], to[PATH_MAX + 64];
    GUARD(str_format(to, sizeof to, "data directory path", "%s/%s", dir, name));
    GUARD(str_format(from, sizeof from, "data directory path", "%s/%s.next", dir, name));
    if (what == ROOT_SETTLE_FINISH && rename(from, to) != 0)
        BAIL(TR_E_INTERNAL, "cannot rename %s to %s: %s", from, to, strerror(errno));
    if (what == ROOT_SETTLE_DROP && unlink(from) != 0 && errno != ENOENT)
        BAIL(TR_E_INTERNAL, "cannot remove %s: %s", from, strerror(errno));
    return fsync_dir(dir);
}

TR_RESULT root_settle(const char *dir, enum seal_kind kind, store_t st, bool dry,
                      struct root_settle_report *rep)
{
    const char *names[ROOT_FILES_MAX] = { seal_file_name(kind), AUDIT_KEY };
    uint8_t d[ROOT_FILES_MAX][ROOT_DIGEST_LEN];
    bool exists[ROOT_FILES_MAX], any = false;
    struct root_record rec;
    store_t own = NULL;

    ENSURE(dir && rep && names[0], TR_E_INTERNAL);
    memset(rep, 0, sizeof *rep);
    GUARD(str_copy(rep->seal_current, sizeof rep->seal_current, names[0], "file name"));
    for (size_t i = 0; i < ROOT_FILES_MAX; i++) {
        GUARD(root_next_digest(dir, names[i], &exists[i], d[i]));
        any |= exists[i];
    }
    if (!any) return TR_OK;
    if (!st) {
        if (tr_failed(store_sqlite_open_readonly(dir, &own)))
            BAIL(TR_E_INTERNAL, "%s holds the .next file of a root key rotation, and the store cannot be read "
                 "to tell whether it committed (is tresor rotate-root-key still running?)", dir);
        st = own;
    }
    tr_result r = root_record_get(st, &rec);
    if (own) own[0]->close(own);
    GUARD(r);
    for (size_t i = 0; i < ROOT_FILES_MAX; i++) {
        enum root_settle what = root_settle_decide(&rec, names[i], exists[i], d[i]);
        if (what == ROOT_SETTLE_NONE) continue;
        if (dry) {
            if (i == 0 && what == ROOT_SETTLE_FINISH)
                GUARD(str_format(rep->seal_current, sizeof rep->seal_current, "file name", "%s.next", names[0]));
            continue;
        }
        GUARD(root_settle_apply(dir, names[i], what));
        if (what == ROOT_SETTLE_FINISH) rep->finished++;
        else rep->dropped++;
    }
    return TR_OK;
}

/* ---- the sealed form in the store ----------------------------------------- */

TR_RESULT root_sealed_get(store_t st, enum seal_kind *kind, struct buf *form)
{
    json_t *doc = NULL;
    bool found = false;
    uint8_t bytes[FILE_MAX];
    tr_result r = TR_OK;
    *kind = SEAL_NONE;
    GUARD(get_doc(st, SEALED_TO, &doc, &found));
    if (!found) return TR_OK;
    const char *seal = json_string_value(json_object_get(doc, "seal"));
    const char *hex = json_string_value(json_object_get(doc, "form"));
    enum seal_kind k = SEAL_NONE;
    size_t n = hex ? strlen(hex) / 2 : 0;
    bool ok = seal && seal_kind_parse(seal, &k) && (k == SEAL_PASSPHRASE || k == SEAL_PKCS11) && hex &&
              n > 0 && n <= sizeof bytes && strlen(hex) == 2 * n && hex_decode(hex, 2 * n, bytes);
    json_decref(doc);
    if (ok) r = buf_append(form, bytes, n);
    if (!ok) r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_CORRUPT,
                            "the store's sealed root key (relation %s, %s) is damaged", REC_KIND, SEALED_TO);
    if (tr_ok(r)) *kind = k;
    return r;
}

TR_RESULT root_sealed_put(store_t st, enum seal_kind kind, const uint8_t *form, size_t len)
{
    ENSURE((kind == SEAL_PASSPHRASE || kind == SEAL_PKCS11) && len > 0 && len <= FILE_MAX, TR_E_INTERNAL);
    char *hex = malloc(2 * len + 1);
    json_t *doc = json_object();
    tr_result r = TR_OK;
    if (!hex || !doc) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "out of memory");
    if (tr_ok(r)) hex_encode(form, len, hex);
    if (tr_ok(r) && (json_object_set_new(doc, "seal", json_string(seal_kind_name(kind))) != 0 ||
                     json_object_set_new(doc, "form", json_string(hex)) != 0))
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "out of memory");
    if (tr_ok(r)) r = put_doc(st, SEALED_TO, doc);
    json_decref(doc);
    free(hex);
    return r;
}

TR_RESULT root_sealed_read(const char *dir, enum seal_kind kind, bool next, struct buf *out, bool *exists)
{
    char name[ROOT_NAME_MAX + 8];
    ENSURE(seal_file_name(kind), TR_E_INTERNAL);
    GUARD(str_format(name, sizeof name, "file name", "%s%s", seal_file_name(kind), next ? ".next" : ""));
    return read_file(dir, name, out, exists);
}

TR_RESULT root_sealed_adopt(const char *dir, enum seal_kind kind, const uint8_t *form, size_t len,
                            bool *changed)
{
    char tmp[ROOT_NAME_MAX + 8], from[PATH_MAX + 64], to[PATH_MAX + 64];
    const char *name = seal_file_name(kind);
    struct buf have = BUF_INIT(FILE_MAX);
    bool exists = false;
    *changed = false;
    ENSURE(name && (kind == SEAL_PASSPHRASE || kind == SEAL_PKCS11), TR_E_INTERNAL);
    tr_result r = read_file(dir, name, &have, &exists);
    bool same = tr_ok(r) && exists && have.len == len && memcmp(have.data, form, len) == 0;
    buf_free(&have);
    GUARD(r);
    if (same) return TR_OK;
    GUARD(str_format(tmp, sizeof tmp, "file name", "%s.store", name));
    GUARD(str_format(from, sizeof from, "data directory path", "%s/%s", dir, tmp));
    GUARD(str_format(to, sizeof to, "data directory path", "%s/%s", dir, name));
    if (unlink(from) != 0 && errno != ENOENT) BAIL(TR_E_INTERNAL, "cannot remove %s: %s", from, strerror(errno));
    GUARD(keyring_create_file(dir, tmp, form, len, false));
    if (rename(from, to) != 0) {
        int e = errno;
        unlink(from);
        BAIL(TR_E_INTERNAL, "cannot rename %s to %s: %s", from, to, strerror(e));
    }
    GUARD(fsync_dir(dir));
    *changed = true;
    return TR_OK;
}

TR_RESULT root_verify(store_t st, const struct keyring *kr)
{
    struct root_record rec;
    uint8_t check[KEYRING_CHECK_LEN];
    GUARD(root_record_get(st, &rec));
    if (!rec.present) return TR_OK;
    GUARD(keyring_check_value(kr, check));
    if (!ct_memeq(check, rec.check, sizeof check))
        BAIL(TR_E_INTERNAL, "the root key is not the one the store is wrapped under (its key-check value "
             "differs from the store's): a root key file from another data dir, or from before a "
             "tresor rotate-root-key");
    return TR_OK;
}

