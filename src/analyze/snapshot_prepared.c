/*
 * snapshot_prepared.c -- a prepared snapshot (docs/SNAPSHOTS.md,
 * "Prepared snapshots"): the store snapshot_store_load makes of snapshot
 * files, every secret loaded, saved once as an SQLite file
 * (store_sqlite_save_file) and opened read-only by each answer after, so
 * no answer parses and loads the JSON again.
 *
 * The file is the store with two notes:
 *
 *   "prepared"  {"version", "sources": [{"file" (the real path), "size",
 *               "mtime" (seconds.nanoseconds), "sha256"}], "snapshots":
 *               [{"name", "account", "collected_at", "regions",
 *               "gaps": [{"what", "listed", "operation", "resource"}],
 *               "Organizations" (when the snapshot has it, as it came)}]}:
 *               what an answer needs of the snapshots besides the store
 *               (their gaps, accounts and regions), and where they came
 *               from;
 *   "secrets"   [[{"ARN", "Name", "region"}, ...] per snapshot]: their
 *               secrets, for snapshot diff, read only when asked;
 *   "facts"     [{"arn", "assume"?, "gsv"?, "escalate"}, ...], packed: what
 *               building the principal graph asks of each user's and
 *               role's identity policies (az_principal_facts, facts.c),
 *               so that an answer can tell the principals it needs
 *               without loading all of them; read only when asked
 *               (snapshot_prepared_facts).  Version 3 added it;
 *               version 4 each role's "trust_accounts" (the accounts
 *               its trust policy names, so an answer compiles only the
 *               trust policies of the roles it walks); version 5
 *               packs it (az_facts_pack: strings front coded, each head
 *               once), so that an answer parses a fifth of the bytes.
 *
 * A source file that has changed since (its size or modification time
 * differs and then its SHA-256 does) makes the prepared file stale: it is
 * refused, never answered from.  A source that is gone is not checked:
 * the prepared file holds all the answer needs.
 */
#include "analyze/snapshot.h"

#include "analyze/analyze.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/hex.h"
#include "core/str.h"
#include "crypto/hash.h"

#define PREPARED_VERSION 5
#define NOTE_HEAD "prepared"
#define NOTE_SECRETS "secrets"
#define NOTE_FACTS "facts"

bool snapshot_is_prepared(const char *path)
{
    static const char magic[16] = "SQLite format 3";   /* and its NUL */
    char head[16];
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    bool yes = fread(head, 1, sizeof head, f) == sizeof head && memcmp(head, magic, sizeof head) == 0;
    fclose(f);
    return yes;
}

/* The SHA-256 of the file at path, in hex (65 bytes). */
static TR_RESULT file_sha256(const char *path, char hex[SHA256_LEN * 2 + 1])
{
    FILE *f = fopen(path, "rb");
    if (!f) BAIL(TR_E_VALIDATION, "%.300s: cannot open: %s", path, strerror(errno));
    char *text = NULL;
    size_t len = 0, cap = 0;
    tr_result r = TR_OK;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 1 << 16;
            char *v = ncap <= SNAPSHOT_FILE_MAX ? realloc(text, ncap) : NULL;
            if (!v) {
                r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION, "%.300s: too large to read", path);
                break;
            }
            text = v;
            cap = ncap;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION, "%.300s: cannot read", path);
            break;
        }
    }
    fclose(f);
    uint8_t md[SHA256_LEN];
    if (tr_ok(r)) r = sha256(text ? text : "", len, md);
    free(text);
    GUARD(r);
    hex_encode(md, sizeof md, hex);
    return TR_OK;
}

static void mtime_text(const struct stat *sb, char out[48])
{
    snprintf(out, 48, "%lld.%09ld", (long long)sb->st_mtim.tv_sec,   /* fits: 20 + 1 + 9 digits */
             (long)sb->st_mtim.tv_nsec);
}

/* The "sources" entry of the snapshot file at path. */
static TR_RESULT source_of(const char *path, json_t **out)
{
    char real[PATH_MAX], hex[SHA256_LEN * 2 + 1], mt[48];
    struct stat sb;
    *out = NULL;
    if (!realpath(path, real) || stat(real, &sb) != 0)
        BAIL(TR_E_VALIDATION, "%.300s: %s", path, strerror(errno));
    GUARD(file_sha256(real, hex));
    mtime_text(&sb, mt);
    *out = json_pack("{s:s,s:I,s:s,s:s}", "file", real, "size", (json_int_t)sb.st_size, "mtime", mt,
                     "sha256", hex);
    ENSURE(*out != NULL, TR_E_INTERNAL);
    return TR_OK;
}

/* The "snapshots" entry of s, and its secrets. */
static TR_RESULT head_of(const struct snapshot *s, json_t **head, json_t **secrets)
{
    json_t *h = json_pack("{s:s,s:s,s:s,s:[],s:[]}", "name", s->name, "account", s->account, "collected_at",
                          s->collected_at ? s->collected_at : "", "regions", "gaps");
    json_t *sec = json_array();
    bool ok = h && sec;
    for (size_t i = 0; ok && i < s->nregions; i++)
        ok = json_array_append_new(json_object_get(h, "regions"), json_string(s->regions[i])) == 0;
    for (size_t i = 0; ok && i < s->ngaps; i++) {
        const struct snap_gap *g = &s->gaps[i];
        json_t *o = json_pack("{s:s,s:b,s:s?,s:s?}", "what", g->what, "listed", g->listed, "operation",
                              g->operation, "resource", g->resource);
        ok = o && json_array_append_new(json_object_get(h, "gaps"), o) == 0;
    }
    /* The Organizations member as it came: snapshot_orgs_build reads it
     * from the stub's doc (stub_of) as from the snapshot's. */
    json_t *orgs = json_object_get(s->doc, "Organizations");
    if (ok && orgs) ok = json_object_set(h, "Organizations", orgs) == 0;
    for (size_t i = 0; ok && i < s->nsecrets; i++) {
        const struct snap_secret *x = &s->secrets[i];
        json_t *o = json_pack("{s:s,s:s?,s:s}", "ARN", x->arn, "Name",
                              json_string_value(json_object_get(x->entry, "Name")), "region", x->region);
        ok = o && json_array_append_new(sec, o) == 0;
    }
    if (!ok) {
        json_decref(h);
        json_decref(sec);
        BAIL0(TR_E_INTERNAL);
    }
    *head = h;
    *secrets = sec;
    return TR_OK;
}

TR_RESULT snapshot_prepare(const char *const *files, size_t n, const char *out)
{
    struct snapshot *s = calloc(n ? n : 1, sizeof *s);
    json_t *head = json_pack("{s:i,s:[],s:[]}", "version", PREPARED_VERSION, "sources", "snapshots");
    json_t *secrets = json_array();
    char *head_text = NULL, *secrets_text = NULL, *facts_text = NULL;
    const char **accounts = calloc(n ? n : 1, sizeof *accounts);
    json_t *facts = NULL;
    store_t st = NULL;
    size_t loaded = 0;
    tr_result r = s && head && secrets && accounts ? TR_OK : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    for (; tr_ok(r) && loaded < n; loaded++) {
        json_t *src = NULL, *h = NULL, *sec = NULL;
        r = snapshot_load(files[loaded], &s[loaded]);
        if (tr_failed(r)) break;
        r = source_of(files[loaded], &src);
        if (tr_ok(r)) r = head_of(&s[loaded], &h, &sec);
        if (tr_ok(r) && (json_array_append_new(json_object_get(head, "sources"), src) != 0 ||
                         json_array_append_new(json_object_get(head, "snapshots"), h) != 0 ||
                         json_array_append_new(secrets, sec) != 0))
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        else if (tr_failed(r)) {
            json_decref(src);
            json_decref(h);
            json_decref(sec);
        }
        if (tr_failed(r)) {
            loaded++;           /* s[loaded] was loaded: freed below */
            break;
        }
    }
    if (tr_ok(r)) r = store_sqlite_open_memory(&st);
    if (tr_ok(r)) r = snapshot_store_load(st, s, n, NULL);
    for (size_t i = 0; tr_ok(r) && i < n; i++) accounts[i] = s[i].account;
    if (tr_ok(r)) r = az_principal_facts(st, accounts, n, &facts);
    if (tr_ok(r)) {
        head_text = json_dumps(head, JSON_COMPACT);
        secrets_text = json_dumps(secrets, JSON_COMPACT);
        json_t *packed = NULL;
        r = az_facts_pack(facts, &packed);
        facts_text = tr_ok(r) ? json_dumps(packed, JSON_COMPACT) : NULL;
        json_decref(packed);
        if (tr_ok(r) && (!head_text || !secrets_text || !facts_text))
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    if (tr_ok(r)) {
        const char *keys[3] = { NOTE_HEAD, NOTE_SECRETS, NOTE_FACTS };
        const char *vals[3] = { head_text, secrets_text, facts_text };
        r = store_sqlite_save_file(st, out, keys, vals, 3);
    }
    if (st) st[0]->close(st);
    for (size_t i = 0; s && i < loaded; i++) snapshot_free(&s[i]);
    free(s);
    free(head_text);
    free(secrets_text);
    free(facts_text);
    free(accounts);
    json_decref(head);
    json_decref(secrets);
    json_decref(facts);
    return r;
}

/* Whether the source src of the prepared file `path` is as it was. */
static TR_RESULT source_check(const char *path, const json_t *src)
{
    const char *file = json_string_value(json_object_get(src, "file"));
    const char *sum = json_string_value(json_object_get(src, "sha256"));
    const char *mt = json_string_value(json_object_get(src, "mtime"));
    json_int_t size = json_integer_value(json_object_get(src, "size"));
    char now[48], hex[SHA256_LEN * 2 + 1];
    struct stat sb;
    if (!file || !sum || !mt) BAIL(TR_E_VALIDATION, "%.300s: not a prepared snapshot of this tresor", path);
    if (stat(file, &sb) != 0) return TR_OK;        /* gone: the prepared file stands alone */
    mtime_text(&sb, now);
    if ((json_int_t)sb.st_size == size && strcmp(now, mt) == 0) return TR_OK;
    if (tr_ok(file_sha256(file, hex)) && strcmp(hex, sum) == 0) return TR_OK;   /* touched, not changed */
    BAIL(TR_E_VALIDATION, "%.300s: stale: %.300s has changed since it was prepared (run tresor snapshot "
         "prepare again)", path, file);
}

/* s, from its "snapshots" entry h (and its secrets, sec: NULL when not
 * read): what the answers read of a snapshot besides the store. */
static TR_RESULT stub_of(json_t *h, json_t *sec, struct snapshot *s)
{
    memset(s, 0, sizeof *s);
    s->doc = json_incref(h);
    const char *name = json_string_value(json_object_get(h, "name"));
    const char *acct = json_string_value(json_object_get(h, "account"));
    json_t *regions = json_object_get(h, "regions"), *gaps = json_object_get(h, "gaps");
    if (!name || !acct || !json_is_array(regions) || !json_is_array(gaps)) BAIL0(TR_E_VALIDATION);
    GUARD(str_format(s->name, sizeof s->name, "the snapshot's name", "%.200s", name));
    GUARD(str_copy(s->account, sizeof s->account, acct, "the snapshot's account"));
    s->collected_at = json_string_value(json_object_get(h, "collected_at"));
    size_t nr = json_array_size(regions), ng = json_array_size(gaps), ns = json_array_size(sec);
    s->regions = calloc(nr + 1, sizeof *s->regions);
    s->gaps = calloc(ng + 1, sizeof *s->gaps);
    s->secrets = calloc(ns + 1, sizeof *s->secrets);
    ENSURE(s->regions && s->gaps && s->secrets, TR_E_INTERNAL);
    for (; s->nregions < nr; s->nregions++) {
        s->regions[s->nregions] = json_string_value(json_array_get(regions, s->nregions));
        if (!s->regions[s->nregions]) BAIL0(TR_E_VALIDATION);
    }
    for (; s->ngaps < ng; s->ngaps++) {
        json_t *g = json_array_get(gaps, s->ngaps);
        const char *what = json_string_value(json_object_get(g, "what"));
        if (!what) BAIL0(TR_E_VALIDATION);
        s->gaps[s->ngaps] = (struct snap_gap){
            .what = strdup(what), .listed = json_is_true(json_object_get(g, "listed")),
            .operation = json_string_value(json_object_get(g, "operation")),
            .resource = json_string_value(json_object_get(g, "resource")),
        };
        ENSURE(s->gaps[s->ngaps].what != NULL, TR_E_INTERNAL);
    }
    /* The secrets' entries are kept by the doc, as a snapshot's are. */
    if (sec && json_object_set(h, "secrets", sec) != 0) BAIL0(TR_E_INTERNAL);
    for (; s->nsecrets < ns; s->nsecrets++) {
        json_t *e = json_array_get(sec, s->nsecrets);
        s->secrets[s->nsecrets] = (struct snap_secret){
            .region = json_string_value(json_object_get(e, "region")), .entry = e,
            .arn = json_string_value(json_object_get(e, "ARN")),
        };
        if (!s->secrets[s->nsecrets].arn || !s->secrets[s->nsecrets].region) BAIL0(TR_E_VALIDATION);
    }
    return TR_OK;
}

/* Whether the last failure of this thread says what went wrong. */
static bool has_message(void)
{
    return tr_last_error()->has_message;
}

/* A note of st as JSON. */
static TR_RESULT note_json(store_t st, const char *path, const char *key, json_t **out)
{
    char *text = NULL;
    tr_result r = store_sqlite_note(st, key, &text);
    if (tr_failed(r)) {
        if (tr_code(r) == TR_E_STORE_NOT_FOUND)
            BAIL(TR_E_VALIDATION, "%.300s: an SQLite file, but not a prepared snapshot (tresor snapshot prepare)",
                 path);
        return r;
    }
    *out = json_loads(text, 0, NULL);
    free(text);
    if (!*out) BAIL(TR_E_VALIDATION, "%.300s: its notes cannot be read", path);
    return TR_OK;
}

TR_RESULT snapshot_prepared_open(const char *path, bool with_secrets, store_t *st, struct snapshot *s,
                                 size_t cap, size_t *n)
{
    json_t *head = NULL, *secrets = NULL;
    *st = NULL;
    *n = 0;
    tr_result r = store_sqlite_open_file(path, st);
    if (tr_failed(r)) {
        if (tr_code(r) == TR_E_STORE_CORRUPT && has_message() &&
            strncmp(tr_last_error()->message, STORE_SCHEMA_OTHER, sizeof STORE_SCHEMA_OTHER - 1) == 0) {
            char why[TR_ERR_MSG_MAX];
            STR_COPY_ARRAY(why, tr_last_error()->message);
            BAIL(TR_E_VALIDATION, "%.300s: prepared by a tresor of another version (%.100s): prepare it again "
                 "with this one (tresor snapshot prepare)", path, why);
        }
        if (has_message()) return r;
        BAIL(TR_E_VALIDATION, "%.300s: cannot be read as a prepared snapshot of this tresor (prepare it again)",
             path);
    }
    r = note_json(*st, path, NOTE_HEAD, &head);
    if (tr_ok(r) && with_secrets) r = note_json(*st, path, NOTE_SECRETS, &secrets);
    json_t *snaps = json_object_get(head, "snapshots"), *sources = json_object_get(head, "sources");
    json_t *ver = json_object_get(head, "version");
    if (tr_ok(r) && json_is_integer(ver) && json_integer_value(ver) != PREPARED_VERSION)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION,
                       "%.300s: prepared by a tresor of another version (prepared format %" JSON_INTEGER_FORMAT
                       ", this build's is %d): prepare it again with this one (tresor snapshot prepare)",
                       path, json_integer_value(ver), PREPARED_VERSION);
    if (tr_ok(r) && (json_integer_value(ver) != PREPARED_VERSION ||
                     !json_is_array(snaps) || json_array_size(snaps) == 0 || json_array_size(snaps) > cap))
        r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION,
                       "%.300s: not a prepared snapshot of this tresor (prepare it again)", path);
    size_t i;
    json_t *v;
    json_array_foreach(sources, i, v) {
        if (tr_failed(r)) break;
        r = source_check(path, v);
    }
    for (i = 0; tr_ok(r) && i < json_array_size(snaps); i++) {
        r = stub_of(json_array_get(snaps, i), secrets ? json_array_get(secrets, i) : NULL, &s[i]);
        *n = i + 1;
        if (tr_failed(r) && !has_message())
            r = tr_fail_at(__FILE__, __LINE__, tr_code(r), "%.300s: its notes are not a prepared snapshot's",
                           path);
    }
    json_decref(head);
    json_decref(secrets);
    if (tr_failed(r)) {
        for (i = 0; i < *n; i++) snapshot_free(&s[i]);
        *n = 0;
        (*st)[0]->close(*st);
        *st = NULL;
    }
    return r;
}

TR_RESULT snapshot_prepared_facts(store_t st, const char *path, struct az_facts **out)
{
    json_t *packed = NULL;
    *out = NULL;
    GUARD(note_json(st, path, NOTE_FACTS, &packed));
    tr_result r = az_facts_unpack(packed, out);
    json_decref(packed);
    if (tr_failed(r)) BAIL(TR_E_VALIDATION, "%.300s: its notes are not a prepared snapshot's", path);
    return TR_OK;
}
