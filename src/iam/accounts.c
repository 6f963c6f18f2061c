/*
 * accounts.c -- creating accounts and their root credentials.
 *
 * An account is a 12-digit id.  Its root user authenticates with an
 * access key (AKIA + 16 characters of [A-Z2-7], like AWS's) and a 40-char
 * secret; the secret is wrapped under the root key before it reaches the
 * store ("access-key:<AKID>" label) and is handed back in the clear only
 * once, to be written to the shared-credentials file.
 */
#include "iam/accounts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/secmem.h"
#include "core/str.h"
#include "crypto/keyring.h"
#include "crypto/rand.h"
#include "store/root_record.h"

bool account_id_valid(const char *s)
{
    if (!s || strlen(s) != ACCOUNT_ID_LEN) return false;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9') return false;
    return true;
}

TR_RESULT access_key_generate(const char *prefix, char akid[21], char secret[41])
{
    ENSURE(strlen(prefix) == 4, TR_E_INTERNAL);
    memcpy(akid, prefix, 4);
    GUARD(rand_chars(akid + 4, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"));
    return rand_chars(secret, 40,
                      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
}

TR_RESULT account_random_id(char out[ACCOUNT_ID_LEN + 1])
{
    uint8_t r[ACCOUNT_ID_LEN * 2];
    GUARD(rand_bytes(r, sizeof r));
    for (int i = 0, j = 0; i < ACCOUNT_ID_LEN; j++) {
        if (j >= (int)sizeof r) { GUARD(rand_bytes(r, sizeof r)); j = 0; }
        if (r[j] >= 250) continue;              /* reject for uniformity */
        int d = r[j] % 10;
        if (i == 0 && d == 0) continue;
        out[i++] = (char)('0' + d);
    }
    out[ACCOUNT_ID_LEN] = '\0';
    return TR_OK;
}

TR_RESULT account_create(store_t st, const struct keyring *kr, const char *account_id,
                         int64_t now, struct root_credentials *out)
{
    return account_create_then(st, kr, account_id, now, NULL, NULL, out);
}

/* A store's first account is its first wrapped record: the root key that
 * wrapped it is the store's, so its key-check value goes into the root
 * record (store/root_record.h) when none is there yet.  Every later start
 * (and every node on a shared store) is then refused a root key that is
 * not this one, as it is after a rotation, instead of starting and failing
 * every request.  Inside the caller's transaction. */
static TR_RESULT record_root_key(store_t st, const struct keyring *kr)
{
    struct root_record rec;
    GUARD(root_record_get(st, &rec));
    if (rec.present) return TR_OK;
    GUARD(keyring_check_value(kr, rec.check));
    rec.present = true;
    return root_record_put(st, &rec);
}

/* account_create_then; with first, only when the store has no account
 * yet, checked inside the write transaction (*created false, nothing
 * written, when it has one). */
static TR_RESULT create(store_t st, const struct keyring *kr, const char *account_id, int64_t now,
                        account_hook before_commit, void *arg, struct root_credentials *out, bool first,
                        bool *created)
{
    struct access_key_rec k = { 0 };
    struct account_rec a = { 0 };
    char arn[64], label[KEYRING_LABEL_MAX];
    bool in_tx = false;
    tr_result r;

    memset(out, 0, sizeof *out);
    if (account_id) {
        if (!account_id_valid(account_id))
            BAIL(TR_E_VALIDATION, "account id must be 12 digits: '%.32s'", account_id);
        GUARD(str_copy(out->account_id, sizeof out->account_id, account_id, "the account id"));
    } else {
        GUARD(account_random_id(out->account_id));
    }
    GUARD(access_key_generate("AKIA", out->access_key_id, out->secret));

    STR_COPY_ARRAY(a.id, out->account_id);
    a.created = now;
    _Static_assert(sizeof arn >= sizeof "arn:aws:iam:::root" + sizeof out->account_id, "the arn fits");
    snprintf(arn, sizeof arn, "arn:aws:iam::%s:root", out->account_id);        /* fits: asserted above */
    GUARD(keyring_label_access_key(label, out->access_key_id));
    STR_COPY_ARRAY(k.access_key_id, out->access_key_id);
    STR_COPY_ARRAY(k.account_id, out->account_id);
    k.principal_type = PRINCIPAL_ROOT;
    k.principal_arn = arn;
    k.principal_id = a.id;
    k.active = true;
    k.created = now;
    k.wrapped_secret = BUF_INIT(512);
    r = keyring_wrap(kr, label, (const uint8_t *)out->secret, strlen(out->secret),
                     &k.wrapped_secret);
    if (tr_failed(r)) goto fail;

    r = st[0]->tx_begin(st);
    if (tr_failed(r)) goto fail;
    in_tx = true;
    if (first) {
        /* Under the write lock every earlier commit is seen, another
         * node's too (store.h: tx_begin). */
        struct account_rec other;
        r = st[0]->account_first(st, &other);
        if (tr_ok(r)) {
            st[0]->tx_rollback(st);
            buf_free(&k.wrapped_secret);
            secure_zero(out, sizeof *out);
            return TR_OK;
        }
        if (tr_code(r) != TR_E_STORE_NOT_FOUND) goto fail;
        tr_clear_error();
        r = record_root_key(st, kr);
        if (tr_failed(r)) goto fail;
    }
    r = st[0]->account_put(st, &a);
    if (tr_failed(r)) {
        if (tr_code(r) == TR_E_STORE_EXISTS)
            r = tr_fail_at(__FILE__, __LINE__, TR_E_KMS_ALREADY_EXISTS,
                           "account %s already exists", a.id);
        goto fail;
    }
    r = st[0]->access_key_put(st, &k);
    if (tr_failed(r)) goto fail;
    if (before_commit) r = before_commit(arg, out);
    if (tr_failed(r)) goto fail;
    r = st[0]->tx_commit(st);
    if (tr_failed(r)) goto fail;
    buf_free(&k.wrapped_secret);
    *created = true;
    return TR_OK;
fail:
    if (in_tx) st[0]->tx_rollback(st);
    buf_free(&k.wrapped_secret);
    secure_zero(out->secret, sizeof out->secret);
    return r;
}

TR_RESULT account_create_then(store_t st, const struct keyring *kr, const char *account_id,
                              int64_t now, account_hook before_commit, void *arg,
                              struct root_credentials *out)
{
    bool created = false;
    return create(st, kr, account_id, now, before_commit, arg, out, false, &created);
}

TR_RESULT account_create_first(store_t st, const struct keyring *kr, const char *account_id, int64_t now,
                               account_hook before_commit, void *arg, struct root_credentials *out,
                               bool *created)
{
    *created = false;
    return create(st, kr, account_id, now, before_commit, arg, out, true, created);
}

/* Read a whole small file into b (missing file: empty). */
static TR_RESULT read_file(const char *path, struct buf *b)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) return TR_OK;
        BAIL(TR_E_INTERNAL, "cannot read %s", path);
    }
    char chunk[4096];
    size_t n;
    tr_result r = TR_OK;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        r = buf_append(b, chunk, n);
        if (tr_failed(r)) break;
    }
    fclose(f);
    secure_zero(chunk, sizeof chunk);
    return r;
}

/* Copy `old` into out without the section named `header` ("[tresor]"). */
static TR_RESULT drop_section(const struct buf *old, const char *header, struct buf *out)
{
    bool skipping = false;
    size_t i = 0, hl = strlen(header);
    while (i < old->len) {
        size_t e = i;
        while (e < old->len && old->data[e] != '\n') e++;
        size_t len = e - i;
        const char *line = (const char *)old->data + i;
        if (len > 0 && line[0] == '[')
            skipping = len >= hl && memcmp(line, header, hl) == 0;
        if (!skipping) {
            GUARD(buf_append(out, line, len));
            GUARD(buf_append(out, "\n", 1));
        }
        i = e + 1;
    }
    return TR_OK;
}

/* Write `content` to path atomically (temp file + rename), mode 0600. */
static TR_RESULT write_atomic(const char *path, const struct buf *content)
{
    char tmp[4200];
    GUARD(str_format(tmp, sizeof tmp, "the temporary file's path", "%s.tmp", path));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) BAIL(TR_E_INTERNAL, "cannot write %s", tmp);
    size_t off = 0;
    while (off < content->len) {
        ssize_t w = write(fd, content->data + off, content->len - off);
        if (w <= 0) { close(fd); unlink(tmp); BAIL(TR_E_INTERNAL, "cannot write %s", tmp); }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) { unlink(tmp); BAIL(TR_E_INTERNAL, "cannot sync %s", tmp); }
    if (rename(tmp, path) != 0) { unlink(tmp); BAIL(TR_E_INTERNAL, "cannot rename %s", tmp); }
    /* The rename is durable once the directory is. */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);     /* fits: tmp held path and more */
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return TR_OK;
}

static TR_RESULT update_ini(const char *path, const char *header, const char *body,
                            bool secret)
{
    struct buf old = secret ? BUF_SECRET(1u << 20) : BUF_INIT(1u << 20);
    struct buf out = secret ? BUF_SECRET(1u << 20) : BUF_INIT(1u << 20);
    tr_result r = read_file(path, &old);
    if (tr_ok(r)) r = drop_section(&old, header, &out);
    if (tr_ok(r) && out.len && out.data[out.len - 1] != '\n') r = buf_append(&out, "\n", 1);
    if (tr_ok(r)) r = buf_printf(&out, "%s\n%s", header, body);
    if (tr_ok(r)) r = write_atomic(path, &out);
    buf_free(&old);
    buf_free(&out);
    return r;
}

TR_RESULT credfile_write(const char *data_dir, const char *profile,
                         const struct root_credentials *c, const char *region)
{
    char path[4096], header[160], body[256];
    tr_result r;

    GUARD(str_format(path, sizeof path, "the credentials file's path", "%s/credentials", data_dir));
    GUARD(str_format(header, sizeof header, "the profile's header", "[%s]", profile));
    _Static_assert(sizeof body >= sizeof "aws_access_key_id = \naws_secret_access_key = \n" +
                   sizeof c->access_key_id + sizeof c->secret, "body fits");
    snprintf(body, sizeof body, "aws_access_key_id = %s\naws_secret_access_key = %s\n",  /* fits: asserted */
             c->access_key_id, c->secret);
    r = update_ini(path, header, body, true);
    secure_zero(body, sizeof body);
    GUARD(r);

    GUARD(str_format(path, sizeof path, "the config file's path", "%s/config", data_dir));
    GUARD(str_format(header, sizeof header, "the profile's header",
                     strcmp(profile, "default") == 0 ? "[%s]" : "[profile %s]", profile));
    GUARD(str_format(body, sizeof body, "the profile's region", "region = %s\n", region));
    return update_ini(path, header, body, false);
}

/* True when the config-file line l (len bytes, no newline) is the header
 * of a profile tresor writes: "[profile tresor]" (serve) or
 * "[profile tresor-<12 digits>]" (tresor account create). */
static bool own_profile_header(const char *l, size_t len)
{
    static const char pre[] = "[profile tresor";
    size_t pl = sizeof pre - 1;
    if (len < pl + 1 || memcmp(l, pre, pl) != 0 || l[len - 1] != ']') return false;
    if (len == pl + 1) return true;
    if (len != pl + 1 + ACCOUNT_ID_LEN + 1 || l[pl] != '-') return false;
    for (size_t i = pl + 1; i < len - 1; i++)
        if (l[i] < '0' || l[i] > '9') return false;
    return true;
}

/* "region = X" (spaces around '=' optional): X's offset and length. */
/* Is l a "KEY = value" line?  *at and *vlen: where the value is. */
static bool key_line(const char *l, size_t len, const char *key, size_t *at, size_t *vlen)
{
    size_t i = 0, kl = strlen(key);
    while (i < len && (l[i] == ' ' || l[i] == '\t')) i++;
    if (len - i < kl || memcmp(l + i, key, kl) != 0) return false;
    i += kl;
    while (i < len && (l[i] == ' ' || l[i] == '\t')) i++;
    if (i >= len || l[i] != '=') return false;
    i++;
    while (i < len && (l[i] == ' ' || l[i] == '\t')) i++;
    size_t e = len;
    while (e > i && (l[e - 1] == ' ' || l[e - 1] == '\t' || l[e - 1] == '\r')) e--;
    *at = i;
    *vlen = e - i;
    return true;
}

/* Make every profile tresor writes in DIR/config say "key = value"
 * (credfile_set_region's contract, for any key). */
static TR_RESULT credfile_set(const char *data_dir, const char *key, const char *value,
                              char *was, size_t was_size, unsigned *changed)
{
    char path[4096];
    struct buf old = BUF_INIT(1u << 20), out = BUF_INIT(1u << 20);
    bool own = false, has_key = false, seen_tresor = false, in_tresor = false;
    size_t i = 0;
    tr_result r = TR_OK;

    *changed = 0;
    if (was_size) was[0] = '\0';
    r = str_format(path, sizeof path, "the config file's path", "%s/config", data_dir);
    if (tr_ok(r)) r = read_file(path, &old);
    while (tr_ok(r) && i < old.len) {
        size_t e = i;
        while (e < old.len && old.data[e] != '\n') e++;
        const char *line = (const char *)old.data + i;
        size_t len = e - i, at, vlen, hl = len;
        if (len > 0 && line[0] == '[') {
            if (own && !has_key) {          /* the section we leave had no such line */
                r = buf_printf(&out, "%s = %s\n", key, value);
                (*changed)++;
            }
            while (hl > 0 && (line[hl - 1] == ' ' || line[hl - 1] == '\t' || line[hl - 1] == '\r')) hl--;
            own = own_profile_header(line, hl);
            in_tresor = own && hl == sizeof "[profile tresor]" - 1;
            seen_tresor = seen_tresor || in_tresor;
            has_key = false;
        } else if (own && key_line(line, len, key, &at, &vlen)) {
            has_key = true;
            /* cut: the value it had, for a message */
            if (in_tresor && was_size) snprintf(was, was_size, "%.*s", (int)vlen, line + at);
            if (vlen != strlen(value) || memcmp(line + at, value, vlen) != 0) {
                if (tr_ok(r)) r = buf_printf(&out, "%.*s%s\n", (int)at, line, value);
                (*changed)++;
                i = e + 1;
                continue;
            }
        }
        if (tr_ok(r)) r = buf_append(&out, line, len);
        if (tr_ok(r)) r = buf_append(&out, "\n", 1);
        i = e + 1;
    }
    if (tr_ok(r) && own && !has_key) {
        r = buf_printf(&out, "%s = %s\n", key, value);
        (*changed)++;
    }
    if (tr_ok(r) && !seen_tresor) {         /* gone: the profile the banner names */
        r = buf_printf(&out, "[profile tresor]\n%s = %s\n", key, value);
        (*changed)++;
    }
    if (tr_ok(r) && *changed) r = write_atomic(path, &out);
    buf_free(&old);
    buf_free(&out);
    return r;
}

TR_RESULT credfile_set_region(const char *data_dir, const char *region,
                              char *was, size_t was_size, unsigned *changed)
{
    return credfile_set(data_dir, "region", region, was, was_size, changed);
}

TR_RESULT credfile_set_ca_bundle(const char *data_dir, const char *ca_path, unsigned *changed)
{
    return credfile_set(data_dir, "ca_bundle", ca_path, NULL, 0, changed);
}
