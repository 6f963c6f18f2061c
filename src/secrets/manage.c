/*
 * manage.c -- ListSecrets, DeleteSecret, RestoreSecret, and the purge of
 * secrets whose recovery window ended (sm_purge_due, run by
 * sm_maintenance).
 *
 * Deletion (botocore model DeleteSecret/RestoreSecret; docs/WIRE.md 5.3):
 *   - RecoveryWindowInDays (default 30) must be 7..30, and cannot be given
 *     with ForceDeleteWithoutRecovery=true: InvalidParameterException,
 *     "The RecoveryWindowInDays value must be between 7 and 30 days
 *     (inclusive)." / "You can't use ForceDeleteWithoutRecovery in
 *     conjunction with RecoveryWindowInDays." -- both checked before the
 *     secret is looked at, the range first: AWS answers the range error to
 *     RecoveryWindowInDays=0 with ForceDeleteWithoutRecovery=true (a real
 *     response quoted in moto issue 6461).
 *   - A scheduled deletion sets the secret's deleted_date to the time of
 *     the request (the model: DeletedDate is "the date and time the
 *     deletion of the secret occurred") and its doc's deletion_date to
 *     that plus the window, which DeleteSecret returns as DeletionDate.
 *     Deleting a secret already scheduled is InvalidRequestException
 *     "...marked for deletion."
 *   - ForceDeleteWithoutRecovery removes the secret at once (versions,
 *     tags, entity: sm_purge), also when it was already scheduled; on a
 *     secret that does not exist it answers as if it did (the model: "If
 *     you forcibly delete an already deleted or nonexistent secret, the
 *     operation does not return ResourceNotFoundException"), with the ARN
 *     as given or one made up for the name, once the caller is authorized.
 *   - RestoreSecret clears both dates; on a live secret it changes nothing.
 *   - Every secret scheduled for deletion has one relation of kind
 *     "secret-due" from "secretsmanager" to "<deletion epoch, 12 digits>|
 *     <secret ARN>" (IAM_STORE.md): ordered by date, so the purge reads
 *     only what is due, across all accounts, without a scan.
 *
 * ListSecrets: the caller's own account and region only (never another
 * account); secrets pending deletion only with IncludePlannedDeletion.
 * SortBy created-date (default) | last-accessed-date | last-changed-date |
 * name, SortOrder asc (default) | desc, ties broken by name.  MaxResults
 * 1..100 (default 100).  NextToken is base64 of "v1|<sort>|<order>|<sort
 * key>|<name>", the last entry returned: the next page starts strictly
 * after it, so pages neither repeat nor skip when secrets come and go.  A
 * token that does not decode, or was made for another sort, is
 * InvalidNextTokenException.  Filters (at most 10, ANDed; each with 1..10
 * values, ORed) are matched by sm_filter_match below.  Each entry is the
 * DescribeSecret shape with SecretVersionsToStages for the labelled
 * versions.
 *
 * Authorization: secretsmanager:ListSecrets on "*"; DeleteSecret and
 * RestoreSecret on the secret, docs/AUTHORIZATION.md 5.2 order (sm_authorize).
 */
#include "secrets/manage.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/array.h"
#include "core/cache.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "secrets/authz.h"
#include "secrets/describe.h"
#include "secrets/lookup.h"
#include "secrets/params.h"
#include "secrets/replication.h"
#include "secrets/secrets.h"

#define DUE_KIND "secret-due"
#define DUE_FROM SM_DUE_FROM
#define DUE_KEY_MAX SM_DUE_KEY_MAX

#define MSG_CONJUNCTION "You can't use ForceDeleteWithoutRecovery in conjunction with " \
                        "RecoveryWindowInDays."
#define MSG_WINDOW      "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive)."
#define MSG_BAD_TOKEN   "The NextToken value is invalid."

#define LIST_MAX 100
#define LIST_PAGE 500

/* ---- the due index -------------------------------------------------------- */

static TR_RESULT due_key(char *out, size_t n, double when, const char *arn)
{
    return str_format(out, n, "the purge entry's key", "%012lld|%s", (long long)when, arn);
}

/* The scheduled purge date of a secret pending deletion (0 when none). */
static double deletion_date(const struct secret *s)
{
    json_t *v = json_object_get(s->doc, "deletion_date");
    return json_is_number(v) ? json_number_value(v) : 0;
}

static TR_RESULT due_put(store_t st, const struct secret *s, double when)
{
    char key[DUE_KEY_MAX];
    GUARD(due_key(key, sizeof key, when, s->arn));
    struct rel_rec r = { .from = DUE_FROM, .to = key, .doc = "", .created = (int64_t)when };
    STR_SET(r.kind, DUE_KIND);
    return st[0]->rel_put(st, &r);
}

/* Drop the due entry of a pending secret, if it has one. */
static TR_RESULT due_drop(store_t st, const struct secret *s)
{
    if (s->deleted_date == 0) return TR_OK;
    char key[DUE_KEY_MAX];
    GUARD(due_key(key, sizeof key, deletion_date(s), s->arn));
    tr_result r = st[0]->rel_delete(st, DUE_KIND, DUE_FROM, key);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND) r = TR_OK;
    return r;
}

/* ---- DeleteSecret / RestoreSecret ------------------------------------------ */

/* Force delete of a secret that does not exist: the answer AWS gives, with
 * the ARN as given (and its name without the 6-character suffix) or an ARN
 * made for the name in the caller's account and region. */
static TR_RESULT reply_phantom(struct req_ctx *rc, const char *id, json_t **out)
{
    char *arn = NULL, name[SM_ID_MAX + 1];
    tr_result r;
    if (strncmp(id, "arn:", 4) == 0) {
        const char *p = strstr(id, ":secret:");
        GUARD(str_copy(name, sizeof name, p ? p + 8 : id, "the secret id"));
        size_t n = strlen(name);
        if (n > SM_SUFFIX_LEN + 1 && name[n - SM_SUFFIX_LEN - 1] == '-')
            name[n - SM_SUFFIX_LEN - 1] = '\0';
        arn = strdup(id);
        ENSURE_REF(arn);
    } else {
        GUARD(str_copy(name, sizeof name, id, "the secret id"));
        GUARD(sm_arn_new(rc->region, rc->who.account_id, id, &arn));
    }
    r = sm_reply_arn_name(arn, name, out);
    if (tr_ok(r)) r = sm_set_date(*out, "DeletionDate", sm_now(rc));
    if (tr_failed(r) && *out) { json_decref(*out); *out = NULL; }
    free(arn);
    return r;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* DeleteSecret of a primary that has replicas: InvalidParameterException
 * naming the secret and its replica regions, sorted, as AWS words it. */
static TR_RESULT refuse_primary(const struct secret *s)
{
    json_t *reps = sm_replicas(s);
    const char *names[64];
    size_t n = 0;
    char list[64 * 32];
    size_t len = 0;
    for (size_t i = 0; i < json_array_size(reps) && n < 64; i++) {
        const char *r = sm_doc_str(json_array_get(reps, i), "region");
        if (r) names[n++] = r;
    }
    qsort(names, n, sizeof *names, cmp_str);
    list[0] = '\0';
    for (size_t i = 0; i < n && len < sizeof list; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", names[i]);  /* fits: bounded */
    BAIL(TR_E_SM_INVALID_PARAMETER, "You can't delete secret %s that still has replica regions [%s].",
         s->arn, list);
}

SM_HANDLER(sm_op_delete_secret)
{
    const char *id;
    bool has_window = false, has_force = false, force = false, found = false;
    int64_t window = 30;
    struct secret s;
    struct ctx_builder *c = NULL;
    char days[24];
    json_t *reply = NULL;
    tr_result r;

    memset(&s, 0, sizeof s);
    GUARD(sm_get_secret_id(in, &id));
    GUARD(json_get_int(in, "RecoveryWindowInDays", false, INT64_MIN, INT64_MAX, &has_window,
                       &window));
    GUARD(json_get_bool(in, "ForceDeleteWithoutRecovery", &has_force, &force));
    if (has_window && (window < 7 || window > 30)) BAIL(TR_E_SM_INVALID_PARAMETER, MSG_WINDOW);
    if (force && has_window) BAIL(TR_E_SM_INVALID_PARAMETER, MSG_CONJUNCTION);

    /* The guard-rail keys secretsmanager:ForceDeleteWithoutRecovery and
     * secretsmanager:RecoveryWindowInDays, each present when its member is
     * (Secrets Manager's permissions reference: "callers ... must pass the
     * matching parameter"), so the Deny statements that guard against
     * deletion without recovery apply. */
    c = malloc(sizeof *c);
    ENSURE(c != NULL, TR_E_INTERNAL);
    sm_ctx_init(c);
    snprintf(days, sizeof days, "%lld", (long long)window);    /* fits: a long long */
    r = has_force ? iam_ctx_add(c, "secretsmanager:ForceDeleteWithoutRecovery",
                                force ? "true" : "false") : TR_OK;
    if (tr_ok(r) && has_window) r = iam_ctx_add(c, "secretsmanager:RecoveryWindowInDays", days);
    if (tr_ok(r)) r = sm_lookup(rc, id, &s, &found);
    if (tr_ok(r))
        r = sm_authorize(rc, rc->op->action, id, found ? &s : NULL, c->e, c->n);
    /* A replica goes with RemoveRegionsFromReplication; a primary only
     * once it has no replica left (replication.c). */
    if (tr_ok(r) && found) r = sm_check_not_replica(&s);
    if (tr_ok(r) && found && sm_replicas(&s)) r = refuse_primary(&s);
    if (tr_failed(r)) goto fail;
    if (!found) {
        if (force) r = reply_phantom(rc, id, &reply);
        else r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_RESOURCE_NOT_FOUND, "%s", SM_MSG_NOT_FOUND);
        if (tr_failed(r)) goto fail;
        *out = reply;
        reply = NULL;
        goto fail;
    }
    double now = sm_now(rc), when = now;
    if (force) {
        r = due_drop(rc->st, &s);
        if (tr_ok(r)) r = sm_purge(rc->st, &s);
    } else {
        r = sm_check_live(&s);
        if (tr_failed(r)) goto fail;
        when = now + (double)window * SM_DAY;
        s.deleted_date = now;
        s.last_changed = now;
        if (!s.doc) s.doc = json_object();
        if (!s.doc) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
        r = sm_set(s.doc, "deletion_date", json_real(when));
        if (tr_ok(r)) r = sm_save(rc->st, &s, false);
        if (tr_ok(r)) r = due_put(rc->st, &s, when);
    }
    if (tr_ok(r)) r = sm_reply_arn_name(s.arn, s.name, &reply);
    if (tr_ok(r)) r = sm_set_date(reply, "DeletionDate", when);
    if (tr_failed(r)) goto fail;
    *out = reply;
    reply = NULL;
fail:
    json_decref(reply);
    secret_free(&s);
    if (c) {
        iam_ctx_free(c);
        free(c);
    }
    return r;
}

SM_HANDLER(sm_op_restore_secret)
{
    struct secret s;
    tr_result r = TR_OK;

    GUARD(sm_find_for_op(rc, in, false, &s));
    if (s.deleted_date != 0) {
        r = due_drop(rc->st, &s);
        s.deleted_date = 0;
        s.last_changed = sm_now(rc);
        if (s.doc) json_object_del(s.doc, "deletion_date");
        if (tr_ok(r)) r = sm_save(rc->st, &s, false);
    }
    if (tr_ok(r)) r = sm_reply_arn_name(s.arn, s.name, out);
    secret_free(&s);
    return r;
}

/* ---- the purge --------------------------------------------------------------- */

/* One due entry, in its own transaction; *purged names what happened. */
static TR_RESULT purge_one(const struct server_env *env, const char *key, int64_t now,
                           bool *purged)
{
    store_t st = env->st;
    struct rel_rec rel;
    struct ent_rec e;
    struct secret s;
    bool loaded = false, have_ent = false, have_rel = false;
    tr_result r;

    *purged = false;
    memset(&rel, 0, sizeof rel);
    memset(&e, 0, sizeof e);
    memset(&s, 0, sizeof s);
    const char *arn = strchr(key, '|');
    ENSURE_REF(arn);
    arn++;
    GUARD(st[0]->tx_begin(st));
    /* Read again inside the transaction: a request (or another node) may
     * have restored or purged it since the list was read. */
    r = st[0]->rel_get(st, DUE_KIND, DUE_FROM, key, &rel);
    if (tr_failed(r)) {
        if (tr_code(r) == TR_E_STORE_NOT_FOUND) r = TR_OK;
        goto done;
    }
    have_rel = true;
    r = st[0]->ent_get_arn(st, SM_KIND, arn, &e);
    if (tr_failed(r)) {
        if (tr_code(r) != TR_E_STORE_NOT_FOUND) goto done;
        r = st[0]->rel_delete(st, DUE_KIND, DUE_FROM, key);   /* gone already */
        goto done;
    }
    have_ent = true;
    r = sm_load(st, &e, &s);
    if (tr_failed(r)) goto done;
    loaded = true;
    if (s.deleted_date != 0 && deletion_date(&s) > (double)now) goto done;   /* not yet */
    r = st[0]->rel_delete(st, DUE_KIND, DUE_FROM, key);
    if (tr_ok(r) && s.deleted_date != 0) {
        r = sm_purge(st, &s);
        *purged = tr_ok(r);
    }
done:
    if (tr_ok(r)) r = st[0]->tx_commit(st);
    if (tr_failed(r)) {
        st[0]->tx_rollback(st);
        *purged = false;
    }
    if (loaded) secret_free(&s);
    if (have_ent) ent_rec_free(&e);
    if (have_rel) rel_rec_free(&rel);
    return r;
}

TR_RESULT sm_due_walk(const struct server_env *env, const char *kind, size_t page, int64_t now,
                      const char *what, tr_result (*one)(const struct server_env *env, const char *key,
                                                         int64_t now))
{
    char after[SM_DUE_KEY_MAX] = "";
    tr_result first = TR_OK;

    ENSURE_REF(env);
    for (;;) {
        struct rel_rec *due = NULL;
        size_t n = 0;
        bool stop = false;
        GUARD(env->st[0]->rel_list_from(env->st, kind, SM_DUE_FROM, after[0] ? after : NULL, page,
                                        &due, &n));
        for (size_t i = 0; i < n && !stop; i++) {
            const char *key = due[i].to;
            if (strtoll(key, NULL, 10) > now) { stop = true; break; }   /* ordered by date */
            tr_result r = one(env, key, now);
            if (tr_failed(r) && tr_ok(first)) first = r;
            tr_result c = str_copy(after, sizeof after, key, what);
            if (tr_failed(c)) {
                if (tr_ok(first)) first = c;
                stop = true;
            }
        }
        rel_list_free(due, n);
        if (stop || n < page) break;
    }
    return first;
}

/* One due purge entry, logged. */
static tr_result purge_logged(const struct server_env *env, const char *key, int64_t now)
{
    bool purged = false;
    tr_result r = purge_one(env, key, now, &purged);
    const char *arn = strchr(key, '|');
    if (tr_failed(r))
        log_msg("error", "secrets maintenance: %s: %s", arn ? arn + 1 : key, tr_err_type(tr_code(r)));
    else if (purged)
        log_msg("info", "secrets maintenance: deleted secret %s", arn ? arn + 1 : key);
    return r;
}

TR_RESULT sm_purge_due(const struct server_env *env, int64_t now)
{
    return sm_due_walk(env, DUE_KIND, LIST_PAGE, now, "the purge entry's key", purge_logged);
}

/* ---- Filters ----------------------------------------------------------------- */

/* Next word of a filter value at *p: a run of letters and digits.
 * Returns its length (0: no more words). */
static size_t next_word(const char *s, size_t *p, const char **w)
{
    size_t i = *p;
    while (s[i] && !isalnum((unsigned char)s[i])) i++;
    size_t start = i;
    while (s[i] && isalnum((unsigned char)s[i])) i++;
    *p = i;
    *w = s + start;
    return i - start;
}

/* Where a word of an attribute may start: at the start of a run of
 * letters and digits, or at an upper-case letter after a lower-case one
 * ("MyAppToken" has words at M, A and T). */
static bool word_start(const char *attr, size_t i)
{
    unsigned char c = (unsigned char)attr[i];
    if (!isalnum(c)) return false;
    if (i == 0 || !isalnum((unsigned char)attr[i - 1])) return true;
    return isupper(c) && islower((unsigned char)attr[i - 1]);
}

/* Does every word of `value` begin at a word start of `attr`
 * (case-insensitive)?  A value without words matches nothing. */
static bool words_match(const char *value, const char *attr)
{
    size_t p = 0, vn, nwords = 0;
    const char *vw;
    while ((vn = next_word(value, &p, &vw)) > 0) {
        bool hit = false;
        nwords++;
        for (size_t i = 0; attr[i] && !hit; i++)
            hit = word_start(attr, i) && strncasecmp(attr + i, vw, vn) == 0;
        if (!hit) return false;
    }
    return nwords > 0;
}

static bool prefix(const char *value, const char *attr, bool fold)
{
    size_t n = strlen(value);
    return fold ? strncasecmp(attr, value, n) == 0 : strncmp(attr, value, n) == 0;
}

/* Does one positive value select the subject under `key`? */
static bool value_matches(const char *key, const char *v, const struct sm_filter_subject *s)
{
    if (strcmp(key, "name") == 0) return prefix(v, s->name, false);
    if (strcmp(key, "description") == 0)
        return s->description && (prefix(v, s->description, true) || words_match(v, s->description));
    if (strcmp(key, "primary-region") == 0) return s->primary_region && prefix(v, s->primary_region, false);
    if (strcmp(key, "owning-service") == 0) return s->owning_service && prefix(v, s->owning_service, false);
    bool keys = strcmp(key, "tag-key") == 0, vals = strcmp(key, "tag-value") == 0;
    if (keys || vals) {
        for (size_t i = 0; i < s->ntags; i++)
            if (prefix(v, keys ? s->tag_keys[i] : s->tag_values[i], false)) return true;
        return false;
    }
    if (strcmp(key, "all") == 0) {
        if (words_match(v, s->name)) return true;
        if (s->description && words_match(v, s->description)) return true;
        if (s->primary_region && words_match(v, s->primary_region)) return true;
        if (s->owning_service && words_match(v, s->owning_service)) return true;
        for (size_t i = 0; i < s->ntags; i++)
            if (words_match(v, s->tag_keys[i]) || words_match(v, s->tag_values[i])) return true;
        return false;
    }
    return false;
}

bool sm_filter_match(const char *key, const char *const *values, size_t nvalues,
                     const struct sm_filter_subject *s)
{
    for (size_t i = 0; i < nvalues; i++) {
        const char *v = values[i];
        bool negated = v[0] == '!';
        if (value_matches(key, negated ? v + 1 : v, s) != negated) return true;
    }
    return false;
}

/* ---- ListSecrets --------------------------------------------------------------- */

enum sort_by { SORT_CREATED, SORT_ACCESSED, SORT_CHANGED, SORT_NAME };
static const char *const SORT_NAMES[] = {
    "created-date", "last-accessed-date", "last-changed-date", "name", NULL
};
static const char *const FILTER_KEYS[] = {
    "description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all", NULL
};

struct filter {
    const char *key;
    const char *values[10];
    size_t n;
};

/* One secret as ListSecrets sees it. */
struct item {
    struct secret s;
    struct tag_rec *tags;
    size_t ntags;
};

struct list_req {
    enum sort_by by;
    bool desc;
    struct filter filters[10];
    size_t nfilters;
    bool has_token;
    double tok_num;                 /* the token's sort key (dates) */
    char tok_key[SM_NAME_MAX + 1];  /* ... (name) */
    char tok_name[SM_NAME_MAX + 1]; /* the tie-break */
};

static double sort_num(const struct item *it, enum sort_by by)
{
    switch (by) {
    case SORT_CREATED: return it->s.created;
    case SORT_ACCESSED: return (double)it->s.last_accessed;
    case SORT_CHANGED: return it->s.last_changed;
    default: return 0;
    }
}

static int cmp_num(double a, double b)
{
    return a < b ? -1 : a > b ? 1 : 0;
}

/* Ascending order of (sort key, name). */
static int item_cmp_by(const struct item *a, const struct item *b, enum sort_by by)
{
    int c = by == SORT_NAME ? 0 : cmp_num(sort_num(a, by), sort_num(b, by));
    return c ? c : strcmp(a->s.name, b->s.name);
}

static int item_qsort(const void *pa, const void *pb, void *arg)
{
    const struct list_req *q = arg;
    int c = item_cmp_by(pa, pb, q->by);
    return q->desc ? -c : c;
}

/* Is `it` strictly after the token's position in the requested order? */
static bool after_token(const struct item *it, const struct list_req *q)
{
    int c = q->by == SORT_NAME ? strcmp(it->s.name, q->tok_key)
                               : cmp_num(sort_num(it, q->by), q->tok_num);
    if (!c) c = strcmp(it->s.name, q->tok_name);
    return q->desc ? c < 0 : c > 0;
}

static tr_result bad_token(void)
{
    return tr_fail_at(__FILE__, __LINE__, TR_E_SM_INVALID_NEXT_TOKEN, MSG_BAD_TOKEN);
}

static TR_RESULT token_decode(const char *tok, struct list_req *q)
{
    struct buf b = BUF_INIT(4096);
    const char *s = NULL;
    char *f[5];
    bool ok = false;
    tr_result r = b64_decode(tok, strlen(tok), &b);
    if (tr_ok(r)) r = buf_cstr(&b, &s);
    if (tr_failed(r) || strlen(s) != b.len) goto fail;
    /* v1|<sort>|<order>|<key>|<name>: names have no '|'. */
    char *p = (char *)s;
    for (int i = 0; i < 5; i++) {
        f[i] = p;
        char *bar = i < 4 ? strchr(p, '|') : NULL;
        if (i < 4 && !bar) goto fail;
        if (bar) { *bar = '\0'; p = bar + 1; }
    }
    ok = strcmp(f[0], "v1") == 0 && strcmp(f[1], SORT_NAMES[q->by]) == 0 &&
         strcmp(f[2], q->desc ? "desc" : "asc") == 0 && strlen(f[3]) <= SM_NAME_MAX &&
         *f[4] && strlen(f[4]) <= SM_NAME_MAX;
    if (ok && q->by != SORT_NAME) {
        char *end;
        q->tok_num = strtod(f[3], &end);
        ok = end != f[3] && *end == '\0';
    }
    if (ok) {
        snprintf(q->tok_key, sizeof q->tok_key, "%s", f[3]);     /* fits: SM_NAME_MAX, checked above */
        snprintf(q->tok_name, sizeof q->tok_name, "%s", f[4]);   /* fits: as above */
        q->has_token = true;
    }
fail:
    buf_free(&b);
    return ok ? TR_OK : bad_token();
}

static TR_RESULT token_encode(const struct item *it, const struct list_req *q, json_t *reply)
{
    struct buf raw = BUF_INIT(4096), enc = BUF_INIT(8192);
    const char *s;
    char key[64];
    if (q->by == SORT_NAME) key[0] = '\0';
    else snprintf(key, sizeof key, "%.17g", sort_num(it, q->by));  /* fits: a %.17g double */
    tr_result r = buf_printf(&raw, "v1|%s|%s|%s|%s", SORT_NAMES[q->by], q->desc ? "desc" : "asc",
                             q->by == SORT_NAME ? it->s.name : key, it->s.name);
    if (tr_ok(r)) r = b64_encode(raw.data, raw.len, &enc);
    if (tr_ok(r)) r = buf_cstr(&enc, &s);
    if (tr_ok(r)) r = sm_set(reply, "NextToken", json_string(s));
    buf_free(&raw);
    buf_free(&enc);
    return r;
}

static TR_RESULT enum_value(json_t *in, const char *name, const char *const *allowed,
                            const char *where, int *out)
{
    const char *v;
    GUARD(json_get_str(in, name, false, 0, 256, &v));
    if (!v) return TR_OK;
    for (int i = 0; allowed[i]; i++)
        if (strcmp(allowed[i], v) == 0) { *out = i; return TR_OK; }
    char q[300], c[400], set[300] = "";
    size_t used = 0;
    for (int i = 0; allowed[i]; i++) {
        int w = snprintf(set + used, sizeof set - used, "%s%s", i ? ", " : "", allowed[i]);
        if (w < 0 || (size_t)w >= sizeof set - used) break;    /* never: our short lists */
        used += (size_t)w;
    }
    _Static_assert(sizeof c >= sizeof "Member must satisfy enum value set: []" + sizeof set, "c fits");
    snprintf(q, sizeof q, "'%.256s'", v);      /* fits: 256 and two quotes */
    snprintf(c, sizeof c, "Member must satisfy enum value set: [%s]", set);     /* fits: asserted */
    return json_invalid(where, q, c);
}

static bool filter_value_ok(const char *v)
{
    for (const char *p = v; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (!isalnum(ch) && !strchr(" :_@/+=.-!", ch)) return false;
    }
    return true;
}

/* The keys of Filter.Key as AWS's validation message lists them (the five
 * older keys in the order real Secrets Manager gives them, the newer two
 * among them as BatchGetSecretValue lists them too). */
#define FILTER_KEY_SET "[all, name, tag-key, description, primary-region, owning-service, " \
                       "tag-value]"

/* Filters (ListSecrets, BatchGetSecretValue): at most 10; each Key one of
 * FILTER_KEYS and Values 1..10 strings of at most 512 characters of the
 * model's pattern.  Neither member is required by the model: a filter
 * without Key is InvalidParameterException "Invalid filter key", one
 * without Values "Invalid filter values for key: <key>" (what Secrets
 * Manager answers); the rest is the model's ValidationException. */
static TR_RESULT parse_filter_list(json_t *fl, struct filter *out, size_t *nout)
{
    char where[64];
    size_t i;
    json_t *f;
    *nout = 0;
    if (!fl || json_is_null(fl)) return TR_OK;
    if (!json_is_array(fl)) BAIL(TR_E_SERIALIZATION, "Unexpected value for member 'Filters': expected list");
    if (json_array_size(fl) > 10)
        return json_invalid("Filters", NULL, "Member must have length less than or equal to 10");
    json_array_foreach(fl, i, f) {
        struct filter *d = &out[i];
        if (!json_is_object(f))
            BAIL(TR_E_SERIALIZATION, "Unexpected value for member 'Filters': expected structure");
        snprintf(where, sizeof where, "filters.%zu.member.key", i + 1);       /* fits: a literal and a count */
        const char *key;
        GUARD(json_get_str(f, "Key", false, 0, 256, &key));
        if (!key) BAIL(TR_E_SM_INVALID_PARAMETER, "Invalid filter key");
        d->key = NULL;
        for (int k = 0; FILTER_KEYS[k]; k++)
            if (strcmp(FILTER_KEYS[k], key) == 0) d->key = FILTER_KEYS[k];
        if (!d->key) {
            char q[300];
            snprintf(q, sizeof q, "'%.256s'", key);      /* fits: 256 and two quotes */
            return json_invalid(where, q, "Member must satisfy enum value set: " FILTER_KEY_SET);
        }
        json_t *vals = json_object_get(f, "Values");
        snprintf(where, sizeof where, "filters.%zu.member.values", i + 1);    /* fits: as above */
        if (!vals || json_is_null(vals))
            BAIL(TR_E_SM_INVALID_PARAMETER, "Invalid filter values for key: %s", d->key);
        if (!json_is_array(vals))
            BAIL(TR_E_SERIALIZATION, "Unexpected value for member 'Values': expected list");
        size_t n = json_array_size(vals), j;
        json_t *v;
        if (n < 1 || n > 10)
            return json_invalid(where, NULL, n < 1 ? "Member must have length greater than or equal to 1"
                                                   : "Member must have length less than or equal to 10");
        json_array_foreach(vals, j, v) {
            if (!json_is_string(v))
                BAIL(TR_E_SERIALIZATION, "Unexpected value for member 'Values': expected string");
            const char *s = json_string_value(v);
            char vq[600];
            snprintf(vq, sizeof vq, "'%.512s'", s);    /* fits: 512 and two quotes */
            if (strlen(s) > 512)
                return json_invalid(where, vq, "Member must have length less than or equal to 512");
            if (!filter_value_ok(s))
                return json_invalid(where, vq, "Member must satisfy regular expression pattern: "
                                    "^\\!?[a-zA-Z0-9 :_@\\/\\+\\=\\.\\-\\!]*$");
            d->values[j] = s;
        }
        d->n = n;
        (*nout)++;
    }
    return TR_OK;
}

static TR_RESULT parse_filters(json_t *in, struct list_req *q)
{
    return parse_filter_list(json_object_get(in, "Filters"), q->filters, &q->nfilters);
}

TR_RESULT sm_check_filters(json_t *filters)
{
    struct filter parsed[10];
    size_t n;
    return parse_filter_list(filters, parsed, &n);
}

static bool needs_tags(const struct list_req *q)
{
    for (size_t i = 0; i < q->nfilters; i++)
        if (strncmp(q->filters[i].key, "tag-", 4) == 0 || strcmp(q->filters[i].key, "all") == 0)
            return true;
    return false;
}

static bool selected(const struct item *it, const struct list_req *q)
{
    const char *keys[SM_MAX_TAGS * 2], *vals[SM_MAX_TAGS * 2];
    size_t nt = it->ntags < SM_MAX_TAGS * 2 ? it->ntags : SM_MAX_TAGS * 2;
    for (size_t i = 0; i < nt; i++) {
        keys[i] = it->tags[i].key;
        vals[i] = it->tags[i].value ? it->tags[i].value : "";
    }
    struct sm_filter_subject sub = {
        .name = it->s.name, .description = it->s.description,
        .primary_region = sm_replica_primary(&it->s) ? sm_replica_primary(&it->s) : it->s.region,
        .owning_service = NULL,
        .tag_keys = keys, .tag_values = vals, .ntags = nt,
    };
    for (size_t i = 0; i < q->nfilters; i++)
        if (!sm_filter_match(q->filters[i].key, q->filters[i].values, q->filters[i].n, &sub))
            return false;
    return true;
}

static void items_free(struct item *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        secret_free(&v[i].s);
        tag_list_free(v[i].tags, v[i].ntags);
    }
    free(v);
}

/* The sorted listing a thread built last, for the next page of the same
 * listing: paging through N secrets would otherwise load and sort all N
 * for every page.  A core/cache.h class of one entry per thread, by
 * (account, region, sort, order, planned deletions): only unfiltered
 * listings (the usual paging loop) are kept, never by a write; valid while
 * the store generation (store.h) is unchanged, like the other request-path
 * caches.  Freed when the thread exits. */
struct listing {
    struct item *items;
    size_t n;
};

static void items_free(struct item *v, size_t n);

static void listing_release(void *value)
{
    struct listing *l = value;
    items_free(l->items, l->n);
}

static struct cache_class listings =
    CACHE_CLASS("secret-listings", CACHE_BY_GENERATION, .slots = 1,
                .value_size = sizeof(struct listing), .release = listing_release);

/* The key of listing q, or false when q is not to be kept. */
static bool listing_key(const struct req_ctx *rc, const struct list_req *q, bool planned,
                        struct cache_key *k)
{
    if (q->nfilters || rc->writing || !cache_enabled()) return false;
    cache_key_init(k);
    cache_key_str(k, rc->who.account_id);
    cache_key_str(k, rc->region);
    cache_key_u64(k, (uint64_t)q->by << 2 | (uint64_t)q->desc << 1 | (uint64_t)planned);
    return true;
}

/* Keep only what sorting and paging need (name, ARN, dates): a listing
 * holds every secret of the account at once, and the page's entries are
 * loaded again in full (page_entry). */
static void slim(struct item *it)
{
    json_decref(it->s.doc);
    it->s.doc = NULL;
    free(it->s.description);
    free(it->s.kms_key_id);
    free(it->s.kms_key_arn);
    free(it->s.policy);
    free(it->s.policy_ids);
    it->s.description = it->s.kms_key_id = it->s.kms_key_arn = it->s.policy = it->s.policy_ids = NULL;
    tag_list_free(it->tags, it->ntags);
    it->tags = NULL;
    it->ntags = 0;
}

/* Every secret of the caller's account and region that the request
 * selects (planned deletions only when asked), without versions. */
static TR_RESULT load_items(struct req_ctx *rc, const struct list_req *q, bool planned,
                            struct item **out, size_t *nout)
{
    char path[80], after[SM_NAME_MAX + 80] = "";
    struct item *v = NULL;
    size_t n = 0, cap = 0;
    tr_result r = TR_OK;

    _Static_assert(sizeof path >= sizeof rc->region + 2, "path holds /region/");
    snprintf(path, sizeof path, "/%s/", rc->region);      /* fits: asserted above */
    for (;;) {
        struct ent_rec *ents = NULL;
        size_t ne = 0;
        r = rc->st[0]->ent_list(rc->st, SM_KIND, rc->who.account_id, path, after[0] ? after : NULL,
                                LIST_PAGE, &ents, &ne);
        if (tr_failed(r)) goto fail;
        for (size_t i = 0; i < ne && tr_ok(r); i++) {
            struct item *nv = array_grow(v, &cap, n, sizeof *nv, 64);
            if (!nv) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); break; }
            v = nv;
            struct item *it = &v[n];
            memset(it, 0, sizeof *it);
            r = sm_load_entity(rc->st, &ents[i], &it->s);
            if (tr_failed(r)) break;
            n++;
            if (it->s.deleted_date != 0 && !planned) {
                secret_free(&it->s);
                n--;
                continue;
            }
            if (needs_tags(q)) r = rc->st[0]->tag_list(rc->st, it->s.arn, &it->tags, &it->ntags);
            if (tr_ok(r) && !selected(it, q)) {
                secret_free(&it->s);
                tag_list_free(it->tags, it->ntags);
                n--;
            } else if (tr_ok(r)) {
                slim(it);
            }
        }
        if (ne > 0 && tr_ok(r)) r = str_copy(after, sizeof after, ents[ne - 1].name, "the list's position");
        ent_list_free(ents, ne);
        if (tr_failed(r)) goto fail;
        if (ne < LIST_PAGE) break;
    }
    *out = v;
    *nout = n;
    return TR_OK;
fail:
    items_free(v, n);
    return r;
}

/* The entry of a listed secret, loaded again in full (with its versions)
 * by ARN; one deleted since the listing started is left out. */
static TR_RESULT list_entry(struct req_ctx *rc, const struct item *it, json_t *list)
{
    struct ent_rec ent = { 0 };
    struct secret full;
    tr_result r = rc->st[0]->ent_get_arn(rc->st, SM_KIND, it->s.arn, &ent);
    if (tr_failed(r)) {
        if (tr_code(r) == TR_E_STORE_NOT_FOUND) return TR_OK;
        return r;
    }
    r = sm_load(rc->st, &ent, &full);
    ent_rec_free(&ent);
    GUARD(r);
    json_t *e = json_object(), *m = NULL;
    if (!e) {
        secret_free(&full);
        BAIL0(TR_E_INTERNAL);
    }
    r = sm_describe_fill(rc, &full, false, e);
    json_object_del(e, "ReplicationStatus");     /* not a member of SecretListEntry */
    if (tr_ok(r)) r = sm_versions_to_stages(&full, &m);
    secret_free(&full);
    if (tr_ok(r) && m) r = sm_set(e, "SecretVersionsToStages", m);
    if (tr_ok(r) && json_array_append_new(list, e) != 0)
        return tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    if (tr_failed(r)) json_decref(e);
    return r;
}

SM_HANDLER(sm_op_list_secrets)
{
    static const char *const ORDERS[] = { "asc", "desc", NULL };
    struct list_req *q = calloc(1, sizeof *q);
    struct item *items = NULL;
    size_t n = 0;
    json_t *reply = NULL, *list = NULL;
    const char *token = NULL;
    bool planned = false;
    int64_t max = LIST_MAX;
    int by = SORT_CREATED, order = 0;
    struct cache_key *key = NULL;
    struct listing *kept = NULL;
    tr_result r;

    ENSURE_REF(q);
    r = json_get_bool(in, "IncludePlannedDeletion", NULL, &planned);
    if (tr_ok(r)) r = json_get_int(in, "MaxResults", false, 1, LIST_MAX, NULL, &max);
    if (tr_ok(r)) r = json_get_str(in, "NextToken", false, 1, 4096, &token);
    if (tr_ok(r)) r = parse_filters(in, q);
    if (tr_ok(r)) r = enum_value(in, "SortOrder", ORDERS, "sortOrder", &order);
    if (tr_ok(r)) r = enum_value(in, "SortBy", SORT_NAMES, "sortBy", &by);
    if (tr_failed(r)) goto fail;
    q->by = (enum sort_by)by;
    q->desc = order == 1;
    if (token) {
        r = token_decode(token, q);
        if (tr_failed(r)) goto fail;
    }
    r = sm_authorize_account(rc, rc->op->action, NULL, NULL, 0);
    if (tr_failed(r)) goto fail;
    key = malloc(sizeof *key);
    if (key && !listing_key(rc, q, planned, key)) {
        free(key);
        key = NULL;
    }
    struct cache_gen gen = key ? rc->st[0]->generation_of(rc->st, STORE_DOM_SECRETS) : CACHE_GEN_NONE;
    kept = key ? cache_get(&listings, key, gen) : NULL;
    if (kept) {
        items = kept->items;      /* still the cache's */
        n = kept->n;
    } else {
        r = load_items(rc, q, planned, &items, &n);
        if (tr_failed(r)) goto fail;
        /* load_items hands back an array whenever it found an item. */
        if (NEVER(n > 0 && !items)) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
        if (n > 1) qsort_r(items, n, sizeof *items, item_qsort, q);
        kept = key ? cache_put(&listings, key, gen) : NULL;
        if (kept) *kept = (struct listing){ .items = items, .n = n };
    }

    reply = json_object();
    list = json_array();
    if (!reply || !list) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto fail; }
    size_t shown = 0, i = 0;
    const struct item *last = NULL;
    for (; i < n; i++) {
        if (q->has_token && !after_token(&items[i], q)) continue;
        if (shown == (size_t)max) break;
        r = list_entry(rc, &items[i], list);
        if (tr_failed(r)) goto fail;
        last = &items[i];
        shown++;
    }
    r = sm_set(reply, "SecretList", list);
    list = NULL;
    if (tr_ok(r) && i < n && last) r = token_encode(last, q, reply);
    if (tr_failed(r)) goto fail;
    *out = reply;
    reply = NULL;
fail:
    json_decref(list);
    json_decref(reply);
    if (!kept) items_free(items, n);
    free(key);
    free(q);
    return r;
}
