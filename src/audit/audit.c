/*
 * audit.c -- the audit log's writer: one JSON object per line, each
 * beginning {"seq":N,"prev":"<hex SHA-256 of the previous line>", and a
 * signed checkpoint line every N lines, at start, on SIGHUP (before the
 * file is reopened) and at the clean stop.  docs/internals/AUDIT.md.
 *
 * One mutex orders the lines: the body of a record is formatted outside
 * it, then seq and prev are put in front, the line is hashed and written
 * with one write(2) on an O_APPEND descriptor.  A short or failed write
 * is cut back off the file (ftruncate to the size before it), so the
 * file never keeps half a line, and the request fails (fail closed): the
 * router answers with the service's internal error, and a writing
 * operation's transaction rolls back (the line is written before the
 * commit, op.h before_commit).
 *
 * Never in a line: a plaintext, a data key, a ciphertext, a secret access
 * key.  The request members of audit_sensitive_members appear only as
 * "hmac-sha256:<hex>" under the audit HMAC key (audit_keys.c); replies
 * are never logged.
 */
#include "audit/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/b64.h"
#include "core/hex.h"
#include "core/json.h"
#include "core/log.h"
#include "core/secmem.h"
#include "core/str.h"
#include "crypto/ed25519.h"

#define HASH_HEX (2 * SHA256_LEN + 1)
#define TAIL_MAX (16u << 20)           /* the last line is looked for in the file's last 16 MiB */

struct audit_log {
    pthread_mutex_t mu;
    int fd;
    off_t size;                         /* bytes of whole lines in the file */
    uint64_t seq;                       /* the next line's */
    char prev[HASH_HEX];                /* the previous line's hash, hex */
    unsigned since_checkpoint;
    unsigned every;
    char path[4096];
    char dir[4096];
    struct audit_keys *keys;
};

/* Lines written by this process, for /metrics (read without the lock). */
static atomic_ullong lines_written;

TR_RESULT audit_render_metrics(struct buf *out)
{
    return buf_printf(out, "# HELP tresor_audit_lines_written_total Audit log lines this process wrote "
                           "(requests, outcomes, checkpoints).\n"
                           "# TYPE tresor_audit_lines_written_total counter\n"
                           "tresor_audit_lines_written_total %llu\n",
                      (unsigned long long)atomic_load_explicit(&lines_written, memory_order_relaxed));
}

/* ---- time ---- */

static void utc_now(char out[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char day[24];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    /* fits: 19 + 5 characters (strftime's of a year of four digits) */
    snprintf(out, 32, "%.19s.%03dZ", day, (int)(ts.tv_nsec / 1000000));
}

/* ---- lines ---- */

/* Under a->mu: write {"seq":N,"prev":"H", + body[1..] as one line, then
 * advance the chain.  body is a compact JSON object of at least one
 * member ("{"type":...}"). */
static TR_RESULT append_locked(struct audit_log *a, const char *body, size_t n)
{
    struct buf line = BUF_INIT(UINT32_MAX);
    uint8_t h[SHA256_LEN];
    tr_result r;
    ENSURE(n >= 2 && body[0] == '{', TR_E_INTERNAL);
    r = buf_printf(&line, "{\"seq\":%llu,\"prev\":\"%s\",", (unsigned long long)a->seq, a->prev);
    if (tr_ok(r)) r = buf_append(&line, body + 1, n - 1);
    if (tr_ok(r)) r = sha256(line.data, line.len, h);
    if (tr_ok(r)) r = buf_append(&line, "\n", 1);
    if (tr_failed(r)) goto done;
    ssize_t w = a->fd >= 0 ? write(a->fd, line.data, line.len) : -1;
    if (w != (ssize_t)line.len) {
        int e = w < 0 ? errno : ENOSPC;
        if (w > 0 && ftruncate(a->fd, a->size) != 0)
            log_msg("error", "audit log: a cut line could not be removed from %s", a->path);
        log_msg("error", "audit log: cannot write %s: %s; the request fails", a->path, strerror(e));
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "audit log write failed");
        goto done;
    }
    a->size += w;
    a->seq++;
    atomic_fetch_add_explicit(&lines_written, 1, memory_order_relaxed);
    hex_encode(h, sizeof h, a->prev);
done:
    buf_free(&line);
    return r;
}

/* Under a->mu: a checkpoint line, signed.  Its signature is over the
 * exact bytes of the line without ,"sig":"..." (that is, the line up to
 * its last '}' with the sig member removed):
 *   {"seq":N,"prev":"H","type":"checkpoint","reason":R,"time":T}
 * and the line written is that with ,"sig":"<128 hex>" before the '}'. */
static TR_RESULT checkpoint_locked(struct audit_log *a, const char *reason)
{
    char t[32], body[512], sighex[2 * ED25519_SIG_LEN + 1];
    uint8_t sig[ED25519_SIG_LEN];
    utc_now(t);
    GUARD(str_format(body, sizeof body, "checkpoint", "{\"seq\":%llu,\"prev\":\"%s\",\"type\":\"checkpoint\","
                     "\"reason\":\"%s\",\"time\":\"%s\"}", (unsigned long long)a->seq, a->prev, reason, t));
    GUARD(ed25519_sign(a->keys->sign, body, strlen(body), sig));
    hex_encode(sig, sizeof sig, sighex);
    /* the body of the line for append_locked: without seq and prev */
    char line[768];
    const char *rest = strstr(body, "\"type\"");
    ENSURE(rest != NULL, TR_E_INTERNAL);
    GUARD(str_format(line, sizeof line, "checkpoint", "{%.*s,\"sig\":\"%s\"}", (int)(strlen(rest) - 1), rest,
                     sighex));
    GUARD(append_locked(a, line, strlen(line)));
    a->since_checkpoint = 0;
    return TR_OK;
}

/* A whole line (the text before its '\n') -> the chain's next state. */
static TR_RESULT resume_from(struct audit_log *a, const char *line, size_t n)
{
    json_error_t jerr;
    json_t *o = json_loadb(line, n, 0, &jerr);
    json_t *s = o ? json_object_get(o, "seq") : NULL;
    bool ok = s && json_is_integer(s) && json_integer_value(s) >= 0;
    if (ok) a->seq = (uint64_t)json_integer_value(s) + 1;
    json_decref(o);
    if (!ok) BAIL(TR_E_INTERNAL, "audit log %.256s: its last line is not an audit record", a->path);
    uint8_t h[SHA256_LEN];
    GUARD(sha256(line, n, h));
    hex_encode(h, sizeof h, a->prev);
    return TR_OK;
}

/* The chain's state from the file's last line, when it has one. */
static TR_RESULT resume_file(struct audit_log *a, bool *found)
{
    struct stat st;
    *found = false;
    if (fstat(a->fd, &st) != 0) BAIL(TR_E_INTERNAL, "audit log %.256s: %s", a->path, strerror(errno));
    a->size = S_ISREG(st.st_mode) ? st.st_size : 0;
    if (a->size == 0) return TR_OK;
    size_t want = a->size > (off_t)TAIL_MAX ? TAIL_MAX : (size_t)a->size;
    char *tail = malloc(want + 1);
    if (!tail) BAIL(TR_E_INTERNAL, NULL);
    ssize_t got = pread(a->fd, tail, want, a->size - (off_t)want);
    tr_result r = TR_OK;
    if (got != (ssize_t)want) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "audit log %.256s: cannot read it",
                                            a->path);
    else if (tail[want - 1] != '\n')
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "audit log %.256s ends in a cut line: refusing to "
                       "continue its chain (move it aside, check it with tresor audit verify)", a->path);
    if (tr_ok(r)) {
        size_t end = want - 1, start = end;
        while (start > 0 && tail[start - 1] != '\n') start--;
        if (start == 0 && want < (size_t)a->size)
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "audit log %.256s: last line too long", a->path);
        else
            r = resume_from(a, tail + start, end - start);
        *found = tr_ok(r);
    }
    free(tail);
    return r;
}

/* The chain's state from DIR/audit.head ("<next seq> <prev hex>"), written
 * at the clean stop, for a log file that starts empty. */
static bool resume_head(struct audit_log *a)
{
    char path[4200], text[128];
    if (tr_failed(str_format(path, sizeof path, "audit head", "%s/audit.head", a->dir))) return false;
    FILE *f = fopen(path, "re");
    if (!f) return false;
    unsigned long long seq;
    char hex[HASH_HEX];
    bool ok = fgets(text, sizeof text, f) && sscanf(text, "%llu %64s", &seq, hex) == 2 && strlen(hex) == 64;
    fclose(f);
    if (!ok) return false;
    a->seq = seq;
    STR_COPY_ARRAY(a->prev, hex);
    return true;
}

static void write_head(struct audit_log *a)
{
    char path[4200], tmp[4300], text[128];
    if (tr_failed(str_format(path, sizeof path, "audit head", "%s/audit.head", a->dir)) ||
        tr_failed(str_format(tmp, sizeof tmp, "audit head", "%s/.audit.head.tmp", a->dir)) ||
        tr_failed(str_format(text, sizeof text, "audit head", "%llu %s\n", (unsigned long long)a->seq, a->prev)))
        return;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return;
    bool ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text) && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        log_msg("error", "audit log: cannot write %s", path);
    }
}

static TR_RESULT open_file(struct audit_log *a)
{
    a->fd = open(a->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);   /* read: the last line at start */
    if (a->fd < 0) BAIL(TR_E_INTERNAL, "cannot open the audit log %.256s: %s", a->path, strerror(errno));
    return TR_OK;
}

TR_RESULT audit_open(const struct audit_opts *o, const struct keyring *kr, struct audit_log **out)
{
    struct audit_log *a = calloc(1, sizeof *a);
    tr_result r;
    *out = NULL;
    if (!a) BAIL(TR_E_INTERNAL, NULL);
    a->fd = -1;
    a->every = o->checkpoint_every ? o->checkpoint_every : 1000;
    memset(a->prev, '0', 64);
    pthread_mutex_init(&a->mu, NULL);
    r = str_copy(a->path, sizeof a->path, o->path, "--audit-log");
    if (tr_ok(r)) r = str_copy(a->dir, sizeof a->dir, o->data_dir, "the data dir");
    if (tr_ok(r)) r = audit_keys_load(a->dir, kr, true, &a->keys);
    if (tr_ok(r)) r = open_file(a);
    bool found = false;
    if (tr_ok(r)) r = resume_file(a, &found);
    if (tr_ok(r) && !found) resume_head(a);
    if (tr_ok(r)) r = checkpoint_locked(a, "start");
    if (tr_failed(r)) {
        if (a->fd >= 0) close(a->fd);
        audit_keys_free(a->keys);
        pthread_mutex_destroy(&a->mu);
        free(a);
        return r;
    }
    *out = a;
    return TR_OK;
}

TR_RESULT audit_reopen(struct audit_log *a)
{
    pthread_mutex_lock(&a->mu);
    tr_result r = a->fd >= 0 ? checkpoint_locked(a, "reopen") : TR_OK;
    if (tr_failed(r)) log_msg("error", "audit log: the reopen checkpoint was not written to %s", a->path);
    if (a->fd >= 0) close(a->fd);
    a->fd = -1;
    a->size = 0;
    r = open_file(a);
    if (tr_ok(r)) {
        struct stat st;
        a->size = fstat(a->fd, &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : 0;
    }
    pthread_mutex_unlock(&a->mu);
    return r;
}

void audit_close(struct audit_log *a)
{
    if (!a) return;
    pthread_mutex_lock(&a->mu);
    if (a->fd >= 0 && tr_failed(checkpoint_locked(a, "stop")))
        log_msg("error", "audit log: the stop checkpoint was not written to %s", a->path);
    write_head(a);
    if (a->fd >= 0) close(a->fd);
    pthread_mutex_unlock(&a->mu);
    pthread_mutex_destroy(&a->mu);
    audit_keys_free(a->keys);
    free(a);
}

/* Append a record (compact JSON object) and, when N lines have passed
 * since the last, a checkpoint. */
static TR_RESULT append(struct audit_log *a, const char *body, size_t n)
{
    pthread_mutex_lock(&a->mu);
    tr_result r = append_locked(a, body, n);
    if (tr_ok(r) && ++a->since_checkpoint >= a->every) r = checkpoint_locked(a, "interval");
    pthread_mutex_unlock(&a->mu);
    return r;
}

/* ---- one request ---- */

void audit_req_note(struct audit_req *q, json_t *decision, bool hop, const char *resource)
{
    json_t **list = hop ? &q->hop : &q->authz;
    if (!*list) *list = json_array();
    if (!*list) json_decref(decision);
    else json_array_append_new(*list, decision);       /* steals decision, also on failure */
    if (!resource) return;
    if (!q->resources) q->resources = json_array();
    if (!q->resources) return;
    size_t i;
    json_t *v;
    json_array_foreach(q->resources, i, v)
        if (strcmp(json_string_value(v), resource) == 0) return;
    json_array_append_new(q->resources, json_string(resource));
}

/* One sensitive value as its HMAC text ("hmac-sha256:?" when it is not a
 * string); NULL on failure. */
static json_t *hmac_member(const struct audit_req *q, const char *name, json_t *v)
{
    char text[AUDIT_HMAC_TEXT_LEN] = "hmac-sha256:?";
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        struct buf raw = BUF_SECRET(UINT32_MAX);
        /* blobs: the decoded bytes, so an operator hashes the value itself */
        bool dec = audit_member_is_blob(name) && tr_ok(b64_decode(s, n, &raw));
        tr_result r = dec ? audit_hmac_text(q->log->keys->hmac, raw.data, raw.len, text)
                          : audit_hmac_text(q->log->keys->hmac, s, n, text);
        buf_free(&raw);
        if (tr_failed(r)) return NULL;
    }
    return json_string(text);
}

/* The request's members, the sensitive ones as their HMAC (a list, such
 * as GrantTokens, element by element). */
static json_t *request_members(const struct audit_req *q)
{
    if (!q->input) return json_null();
    json_t *o = json_deep_copy(q->input);
    if (!o) return NULL;
    for (const char *const *m = audit_sensitive_members; *m; m++) {
        json_t *v = json_object_get(o, *m);
        if (!v) continue;
        json_t *h;
        if (json_is_array(v)) {
            h = json_array();
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e) {
                json_t *he = h ? hmac_member(q, *m, e) : NULL;
                if (!he || json_array_append_new(h, he) != 0) { json_decref(h); h = NULL; break; }
            }
        } else {
            h = hmac_member(q, *m, v);
        }
        if (!h || json_object_set_new(o, *m, h) != 0) { json_decref(o); return NULL; }
    }
    return o;
}

/* The request's overall decision: an explicit deny anywhere; an implicit
 * deny when access was denied without one; allow when it was decided and
 * not denied; null when nothing was decided (refused before). */
static const char *overall(const struct audit_req *q, const char *error)
{
    bool any = false, explicit_deny = false;
    json_t *lists[2] = { q->authz, q->hop };
    for (int l = 0; l < 2; l++) {
        size_t i;
        json_t *d;
        if (!lists[l]) continue;
        json_array_foreach(lists[l], i, d) {
            any = true;
            const char *s = json_string_value(json_object_get(d, "decision"));
            if (s && strcmp(s, "explicit deny") == 0) explicit_deny = true;
        }
    }
    bool denied = error && strstr(error, "AccessDenied") != NULL;
    if (explicit_deny && denied) return "explicit deny";
    if (denied && any) return "implicit deny";
    return any ? "allow" : NULL;
}

TR_RESULT audit_req_write(struct audit_req *q, const char *error)
{
    char t[32];
    if (!q || !q->log || (q->written && !error)) return TR_OK;
    utc_now(t);
    if (q->written) {
        char line[256];
        GUARD(str_format(line, sizeof line, "audit outcome", "{\"type\":\"outcome\",\"time\":\"%s\","
                         "\"request_id\":\"%.36s\",\"error\":\"%.64s\"}", t, q->request_id ? q->request_id : "",
                         error));
        return append(q->log, line, strlen(line));
    }
    q->written = true;
    const struct principal *who = q->who && q->who->arn[0] ? q->who : NULL;
    const char *akid = who && who->access_key_id[0] ? who->access_key_id : q->access_key_id;
    const char *operation = q->operation && q->operation[0] ? q->operation : NULL;
    json_t *req = request_members(q);
    if (!req) BAIL(TR_E_INTERNAL, "audit record");
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:O?, s:s?, s:O?, s:O?, s:s?, s:o}",
                            "type", "request", "time", t,
                            "request_id", q->request_id ? q->request_id : "",
                            "source", q->source_ip,
                            "principal", who ? who->arn : NULL,
                            "access_key_id", akid && *akid ? akid : NULL,
                            "session_issuer", who && who->role_arn[0] ? who->role_arn : NULL,
                            "operation", operation,
                            "action", q->action,
                            "resources", q->resources,
                            "decision", overall(q, error),
                            "authz", q->authz,
                            "kms", q->hop,
                            "error", error,
                            "request", req);
    if (!rec) BAIL(TR_E_INTERNAL, "audit record");
    struct buf body = BUF_INIT(UINT32_MAX);
    tr_result r = json_dump_buf(rec, JSON_COMPACT | JSON_PRESERVE_ORDER, &body);
    json_decref(rec);
    if (tr_ok(r)) r = append(q->log, (const char *)body.data, body.len);
    buf_free(&body);
    return r;
}

TR_RESULT audit_before_commit(struct req_ctx *rc)
{
    return audit_req_write(rc->audit, NULL);
}

void audit_req_free(struct audit_req *q)
{
    json_decref(q->authz);
    json_decref(q->hop);
    json_decref(q->resources);
    q->authz = q->hop = q->resources = NULL;
}
