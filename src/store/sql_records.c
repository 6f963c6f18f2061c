/*
 * sql_records.c -- the record calls of store/store.h for both SQL
 * backends, over their drivers (store/sql_records.h).
 *
 * Each call checks its NEED parameters first (nothing is read or written
 * when one is NULL), then runs its statement through the store's driver in
 * one of four shapes: run_get (one row into a record), run_list (every row
 * into an array), run_write, run_change (a write that must change a row:
 * TR_E_STORE_NOT_FOUND when none matched).  key_delete runs its four
 * deletes in the caller's transaction, or in one of its own.  Which SQL a
 * call runs is sql_text below, the same for both backends but for the
 * few each writes in its own dialect (and BEGIN); how the values are sent and the
 * rows read is the driver's (sqlite.c binds and steps a prepared
 * statement; postgres.c sends PQexecPrepared and reads a PGresult).
 *
 * Strings given to the put/update calls may be NULL, stored as "", except
 * where store.h gives a default: an access key's doc (NULL stays NULL), an
 * entity's path ("/") and doc ("{}").  The fixed-size char arrays of the
 * records are read with strnlen(sizeof), and a stored value too long for
 * its array fails as TR_E_INTERNAL on read.
 *
 * The hot reads (key_get, material_get, ent_get, ...) allocate nothing
 * here: the record is the caller's, and only the strings it owns are
 * malloc'd, as each backend did before this layer was shared.
 */
#include "store/sql_records.h"

#include <stdio.h>
#include <stdlib.h>

#define AK_COLS "access_key_id, account_id, principal_type, principal_arn, " \
    "principal_id, active, created, expires, wrapped_secret, doc"
#define KEY_COLS "key_id, account_id, region, arn, description, policy, " \
    "key_state, key_usage, key_spec, origin, key_manager, created, " \
    "deletion_date, pending_window_days, rotation_enabled, " \
    "rotation_period_days, next_rotation, current_material, policy_ids, " \
    "primary_region"
#define MAT_COLS "key_id, version, created, rotation_type, wrapped, valid_to, description"
#define ALIAS_COLS "account_id, region, name, target_key_id, created, updated"
#define ENT_COLS "kind, account_id, name, id, arn, path, doc, created"
#define REL_COLS "kind, src, dst, doc, created"
#define ACCOUNT_COLS SQL_ACCOUNT_COLS

/* ---- the statements -------------------------------------------------- */

/* NULL: each backend writes its own (how a transaction begins; the
 * accounts' order of insertion: SQLite's rowid, PostgreSQL's seq; the
 * tombstones' JSON and upsert; one member of a relation's doc, with each
 * one's JSON functions).  SQLite writes its own reverse relation list
 * too, with an index hint. */
const char *const sql_text[SQL_Q__COUNT] = {
    [Q_BEGIN] = NULL,
    [Q_BEGIN_READ] = NULL,
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_ACCOUNT_PUT] = "INSERT INTO accounts (" ACCOUNT_COLS ") VALUES (?1, ?2)",
    [Q_ACCOUNT_GET] = "SELECT " ACCOUNT_COLS " FROM accounts WHERE id = ?1",
    [Q_AK_PUT] = "INSERT INTO access_keys (" AK_COLS ") "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [Q_AK_GET] = "SELECT " AK_COLS " FROM access_keys WHERE access_key_id = ?1",
    [Q_AK_LIST] = "SELECT " AK_COLS " FROM access_keys WHERE principal_arn = ?1 "
        "ORDER BY created, access_key_id",
    [Q_AK_LIST_ALL] = "SELECT " AK_COLS " FROM access_keys WHERE access_key_id > ?1 "
        "ORDER BY access_key_id LIMIT ?2",
    [Q_AK_UPDATE] = "UPDATE access_keys SET active = ?2, expires = ?3, doc = ?4 "
        "WHERE access_key_id = ?1",
    [Q_AK_REWRAP] = "UPDATE access_keys SET wrapped_secret = ?2 WHERE access_key_id = ?1",
    [Q_AK_DEL] = "DELETE FROM access_keys WHERE access_key_id = ?1",
    [Q_AK_PURGE] = "DELETE FROM access_keys WHERE expires <> 0 AND expires < ?1",
    [Q_AK_TOMB_PRUNE] = "DELETE FROM access_key_tombstones WHERE expires <> 0 AND expires < ?1",
    [Q_AK_UNTOMB] = "DELETE FROM access_key_tombstones WHERE access_key_id = ?1",
    [Q_AK_TOMB_GET] = "SELECT expires, token_sha256 FROM access_key_tombstones "
        "WHERE access_key_id = ?1",
    [Q_KEY_PUT] = "INSERT INTO kms_keys (" KEY_COLS ") VALUES (?1, ?2, ?3, ?4, "
        "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
    [Q_KEY_UPDATE] = "UPDATE kms_keys SET account_id = ?2, "
        "arn = ?4, description = ?5, policy = ?6, key_state = ?7, "
        "key_usage = ?8, key_spec = ?9, origin = ?10, key_manager = ?11, "
        "created = ?12, deletion_date = ?13, pending_window_days = ?14, "
        "rotation_enabled = ?15, rotation_period_days = ?16, "
        "next_rotation = ?17, current_material = ?18, policy_ids = ?19, "
        "primary_region = ?20 WHERE key_id = ?1 AND region = ?3",
    [Q_KEY_GET] = "SELECT " KEY_COLS " FROM kms_keys WHERE key_id = ?1 AND region = ?2",
    [Q_KEY_LIST_RELATED] = "SELECT " KEY_COLS " FROM kms_keys WHERE key_id = ?1 ORDER BY region",
    [Q_KEY_LIST] = "SELECT " KEY_COLS " FROM kms_keys WHERE account_id = ?1 "
        "AND region = ?2 AND key_id > ?3 ORDER BY key_id LIMIT ?4",
    [Q_KEY_LIST_ALL] = "SELECT " KEY_COLS " FROM kms_keys WHERE key_id > ?1 "
        "OR (key_id = ?1 AND region > ?2) ORDER BY key_id, region LIMIT ?3",
    [Q_KEY_DUE] = "SELECT " KEY_COLS " FROM kms_keys "
        "WHERE (deletion_date > 0 AND deletion_date <= ?1) "
        "OR (next_rotation > 0 AND next_rotation <= ?1) ORDER BY key_id, region",
    [Q_KEY_DEL_TAGS] = "DELETE FROM tags "
        "WHERE arn = (SELECT arn FROM kms_keys WHERE key_id = ?1 AND region = ?2)",
    /* The materials are the key id's: kept while another region's record
     * of the id (a related multi-Region key) still uses them. */
    [Q_KEY_DEL_MATERIALS] = "DELETE FROM kms_key_materials WHERE key_id = ?1 AND NOT EXISTS "
        "(SELECT 1 FROM kms_keys WHERE key_id = ?1 AND region <> ?2)",
    [Q_KEY_DEL_ALIASES] = "DELETE FROM kms_aliases WHERE target_key_id = ?1 AND region = ?2",
    [Q_KEY_DEL] = "DELETE FROM kms_keys WHERE key_id = ?1 AND region = ?2",
    [Q_MAT_PUT] = "INSERT INTO kms_key_materials (" MAT_COLS ") "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [Q_MAT_UPDATE] = "UPDATE kms_key_materials SET created = ?3, rotation_type = ?4, "
        "wrapped = ?5, valid_to = ?6, description = ?7 WHERE key_id = ?1 AND version = ?2",
    [Q_MAT_GET] = "SELECT " MAT_COLS " FROM kms_key_materials "
        "WHERE key_id = ?1 AND version = ?2",
    [Q_MAT_LIST] = "SELECT " MAT_COLS " FROM kms_key_materials "
        "WHERE key_id = ?1 ORDER BY version",
    [Q_MAT_REWRAP] = "UPDATE kms_key_materials SET wrapped = ?3 "
        "WHERE key_id = ?1 AND version = ?2",
    [Q_MAT_DEL] = "DELETE FROM kms_key_materials WHERE key_id = ?1 AND version = ?2",
    [Q_ALIAS_PUT] = "INSERT INTO kms_aliases (" ALIAS_COLS ") "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_ALIAS_UPDATE] = "UPDATE kms_aliases SET target_key_id = ?4, "
        "updated = ?5 WHERE account_id = ?1 AND region = ?2 AND name = ?3",
    [Q_ALIAS_GET] = "SELECT " ALIAS_COLS " FROM kms_aliases "
        "WHERE account_id = ?1 AND region = ?2 AND name = ?3",
    [Q_ALIAS_DEL] = "DELETE FROM kms_aliases "
        "WHERE account_id = ?1 AND region = ?2 AND name = ?3",
    [Q_ALIAS_LIST] = "SELECT " ALIAS_COLS " FROM kms_aliases "
        "WHERE account_id = ?1 AND region = ?2 AND name > ?3 "
        "ORDER BY name LIMIT ?4",
    [Q_ALIAS_LIST_KEY] = "SELECT " ALIAS_COLS " FROM kms_aliases "
        "WHERE account_id = ?1 AND region = ?2 AND name > ?3 "
        "AND target_key_id = ?5 ORDER BY name LIMIT ?4",
    [Q_TAG_SET] = "INSERT INTO tags (arn, key, value) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value",
    [Q_TAG_DEL] = "DELETE FROM tags WHERE arn = ?1 AND key = ?2",
    [Q_TAG_LIST] = "SELECT key, value FROM tags WHERE arn = ?1 ORDER BY key",
    [Q_ENT_PUT] = "INSERT INTO entities (" ENT_COLS ") "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [Q_ENT_UPDATE] = "UPDATE entities SET name = ?3, path = ?4, doc = ?5 "
        "WHERE kind = ?1 AND arn = ?2",
    [Q_ENT_GET] = "SELECT " ENT_COLS " FROM entities "
        "WHERE kind = ?1 AND account_id = ?2 AND name = ?3",
    [Q_ENT_GET_ARN] = "SELECT " ENT_COLS " FROM entities WHERE kind = ?1 AND arn = ?2",
    [Q_ENT_GET_ID] = "SELECT " ENT_COLS " FROM entities WHERE kind = ?1 AND id = ?2",
    [Q_ENT_DEL] = "DELETE FROM entities WHERE kind = ?1 AND arn = ?2",
    [Q_ENT_LIST] = "SELECT " ENT_COLS " FROM entities "
        "WHERE kind = ?1 AND account_id = ?2 AND substr(path, 1, length(?3)) = ?3 "
        "AND name > ?4 ORDER BY name LIMIT ?5",
    [Q_REL_PUT] = "INSERT INTO relations (" REL_COLS ") VALUES (?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT (kind, src, dst) DO UPDATE SET doc = excluded.doc, "
        "created = excluded.created",
    /* Two rows in one statement (a new secret version and its place in
     * the creation order): one round trip. */
    [Q_REL_PUT_PAIR] = "INSERT INTO relations (" REL_COLS ") VALUES (?1, ?2, ?3, ?4, ?5), "
        "(?6, ?7, ?8, ?9, ?10) "
        "ON CONFLICT (kind, src, dst) DO UPDATE SET doc = excluded.doc, "
        "created = excluded.created",
    [Q_REL_GET] = "SELECT " REL_COLS " FROM relations "
        "WHERE kind = ?1 AND src = ?2 AND dst = ?3",
    [Q_REL_DEL] = "DELETE FROM relations WHERE kind = ?1 AND src = ?2 AND dst = ?3",
    [Q_REL_LIST_FROM] = "SELECT " REL_COLS " FROM relations "
        "WHERE kind = ?1 AND src = ?2 AND dst > ?3 ORDER BY dst LIMIT ?4",
    [Q_REL_LIST_TO] = "SELECT " REL_COLS " FROM relations "
        "WHERE kind = ?1 AND dst = ?2 ORDER BY src",
    [Q_REL_LIST_KIND] = "SELECT " REL_COLS " FROM relations "
        "WHERE kind = ?1 AND (src > ?2 OR (src = ?2 AND dst > ?3)) ORDER BY src, dst LIMIT ?4",
    /* rel_prune_order: the first ?4 rows of the order (kind ?1) whose
     * item is none of ?5..?20 ("" where there are fewer to keep: no item
     * is ""), and the item rows (kind ?3) they name.  gone is read once,
     * before the delete (MATERIALIZED: SQLite could otherwise read it
     * again per use); doomed names each row by its key, so that both
     * backends find the rows through an index one by one (PostgreSQL
     * scanned every row of the `from` for an OR of the two kinds). */
    [Q_REL_PRUNE_ORDER] = "WITH gone AS MATERIALIZED (SELECT dst FROM relations "
        "WHERE kind = ?1 AND src = ?2 AND substr(dst, 22) NOT IN (?5, ?6, ?7, ?8, ?9, ?10, "
        "?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20) ORDER BY dst LIMIT ?4), "
        "doomed AS MATERIALIZED (SELECT CAST(?1 AS text) AS k, dst AS d FROM gone "
        "UNION ALL SELECT CAST(?3 AS text), substr(dst, 22) FROM gone) "
        "DELETE FROM relations WHERE src = ?2 AND (kind, dst) IN (SELECT k, d FROM doomed)",
    [Q_ACCOUNT_FIRST] = NULL,
    [Q_ACCOUNT_LIST] = NULL,
    [Q_AK_TOMB] = NULL,
    [Q_AK_TOMB_EXPIRED] = NULL,
    [Q_REL_MEMBER_GET] = NULL,
    [Q_REL_MEMBER_SET] = NULL,
    [Q_REL_MEMBER_SET_PAIR] = NULL,
    [Q_REL_MEMBER_GET_PAIR] = NULL,
};

const char *sql_own_text(const char *const *own, size_t own_n, int id)
{
    if (id >= 0 && (size_t)id < own_n && own[id]) return own[id];
    if (id >= 0 && id < SQL_Q__COUNT) return sql_text[id];
    return NULL;
}

const char *sql_arg_text(const struct sql_arg *a, size_t *len)
{
    *len = !a->s ? 0 : a->n == SIZE_MAX ? strlen(a->s) : a->n;
    return a->s ? a->s : "";
}

/* ---- connections ----------------------------------------------------- */

void sql_conns_add(struct sql_conns *l, struct sql_conn *c)
{
    pthread_mutex_lock(&l->mu);
    c->prev = NULL;
    c->next = l->head;
    if (l->head) l->head->prev = c;
    l->head = c;
    pthread_mutex_unlock(&l->mu);
}

static void conns_unlink(struct sql_conns *l, struct sql_conn *c)
{
    if (c->prev) c->prev->next = c->next;
    else l->head = c->next;
    if (c->next) c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

void sql_conns_remove(struct sql_conns *l, struct sql_conn *c)
{
    pthread_mutex_lock(&l->mu);
    conns_unlink(l, c);
    pthread_mutex_unlock(&l->mu);
}

void sql_conns_close_all(struct sql_conns *l, void (*close)(struct sql_conn *c))
{
    pthread_mutex_lock(&l->mu);
    while (l->head) {
        struct sql_conn *c = l->head;
        conns_unlink(l, c);
        close(c);
    }
    pthread_mutex_unlock(&l->mu);
}

/* ---- reading a row, column by column ----------------------------------- */

/* Into a fixed char array; fails when the value does not fit. */
static void r_chars(struct sql_row *r, char *dst, size_t cap)
{
    size_t n = 0;
    const char *t = r->cols->text(r->res, r->row, r->i++, &n);
    if (!t || n >= cap) { r->ok = false; return; }
    memcpy(dst, t, n);
    dst[n] = '\0';
}

/* A heap string the record owns. */
static void r_str(struct sql_row *r, char **dst)
{
    size_t n = 0;
    const char *t = r->cols->text(r->res, r->row, r->i++, &n);
    char *p = t ? malloc(n + 1) : NULL;
    if (!p) { r->ok = false; return; }
    memcpy(p, t, n);
    p[n] = '\0';
    *dst = p;
}

/* A heap string, or NULL for SQL NULL. */
static void r_opt(struct sql_row *r, char **dst)
{
    if (r->cols->is_null(r->res, r->row, r->i)) {
        r->i++;
        *dst = NULL;
        return;
    }
    r_str(r, dst);
}

static int64_t r_int(struct sql_row *r)
{
    int64_t v = 0;
    if (!r->cols->integer(r->res, r->row, r->i++, &v)) r->ok = false;
    return v;
}

/* An owned copy of a blob column (wiped when freed). */
static void r_blob(struct sql_row *r, struct buf *dst)
{
    if (!r->cols->blob(r->res, r->row, r->i++, dst)) r->ok = false;
}

bool sql_fill(const struct sql_rec_type *t, const struct sql_cols *cols, void *res, int row, void *rec,
              const char *sql)
{
    struct sql_row r = { cols, res, row, 0, true };
    if (t->fill(&r, rec) && r.ok) return true;
    t->drop(rec);
    fprintf(stderr, "tresor: store: out of memory, or a value too long for its record [%s]\n",
            sql ? sql : "-");
    return false;
}

static bool account_row(struct sql_row *r, void *rec)
{
    struct account_rec *a = rec;
    r_chars(r, a->id, sizeof a->id);
    a->created = r_int(r);
    return r->ok;
}

static bool access_key_row(struct sql_row *r, void *rec)
{
    struct access_key_rec *k = rec;
    r_chars(r, k->access_key_id, sizeof k->access_key_id);
    r_chars(r, k->account_id, sizeof k->account_id);
    k->principal_type = (int)r_int(r);
    r_str(r, &k->principal_arn);
    r_str(r, &k->principal_id);
    k->active = r_int(r) != 0;
    k->created = r_int(r);
    k->expires = r_int(r);
    r_blob(r, &k->wrapped_secret);
    r_opt(r, &k->doc);
    return r->ok;
}

static bool key_row(struct sql_row *r, void *rec)
{
    struct key_rec *k = rec;
    r_chars(r, k->key_id, sizeof k->key_id);
    r_chars(r, k->account_id, sizeof k->account_id);
    r_chars(r, k->region, sizeof k->region);
    r_str(r, &k->arn);
    r_str(r, &k->description);
    r_str(r, &k->policy);
    r_chars(r, k->key_state, sizeof k->key_state);
    r_chars(r, k->key_usage, sizeof k->key_usage);
    r_chars(r, k->key_spec, sizeof k->key_spec);
    r_chars(r, k->origin, sizeof k->origin);
    r_chars(r, k->key_manager, sizeof k->key_manager);
    k->created = r_int(r);
    k->deletion_date = r_int(r);
    k->pending_window_days = (int)r_int(r);
    k->rotation_enabled = r_int(r) != 0;
    k->rotation_period_days = (int)r_int(r);
    k->next_rotation = r_int(r);
    k->current_material = (uint32_t)r_int(r);
    r_opt(r, &k->policy_ids);
    r_chars(r, k->primary_region, sizeof k->primary_region);
    return r->ok;
}

static bool material_row(struct sql_row *r, void *rec)
{
    struct material_rec *m = rec;
    r_chars(r, m->key_id, sizeof m->key_id);
    m->version = (uint32_t)r_int(r);
    m->created = r_int(r);
    r_chars(r, m->rotation_type, sizeof m->rotation_type);
    r_blob(r, &m->wrapped);
    m->valid_to = r_int(r);
    r_chars(r, m->description, sizeof m->description);
    return r->ok;
}

static bool alias_row(struct sql_row *r, void *rec)
{
    struct alias_rec *a = rec;
    r_chars(r, a->account_id, sizeof a->account_id);
    r_chars(r, a->region, sizeof a->region);
    r_chars(r, a->name, sizeof a->name);
    r_chars(r, a->target_key_id, sizeof a->target_key_id);
    a->created = r_int(r);
    a->updated = r_int(r);
    return r->ok;
}

static bool tag_row(struct sql_row *r, void *rec)
{
    struct tag_rec *t = rec;
    r_str(r, &t->key);
    r_str(r, &t->value);
    return r->ok;
}

static bool ent_row(struct sql_row *r, void *rec)
{
    struct ent_rec *e = rec;
    r_chars(r, e->kind, sizeof e->kind);
    r_chars(r, e->account_id, sizeof e->account_id);
    r_str(r, &e->name);
    r_str(r, &e->id);
    r_str(r, &e->arn);
    r_str(r, &e->path);
    r_str(r, &e->doc);
    e->created = r_int(r);
    return r->ok;
}

static bool rel_row(struct sql_row *r, void *rec)
{
    struct rel_rec *l = rec;
    r_chars(r, l->kind, sizeof l->kind);
    r_str(r, &l->from);
    r_str(r, &l->to);
    r_str(r, &l->doc);
    l->created = r_int(r);
    return r->ok;
}

/* An access key's tombstone: when it expired, its token's digest. */
struct tomb { int64_t expires; char *token; };

static bool tomb_row(struct sql_row *r, void *rec)
{
    struct tomb *t = rec;
    t->expires = r_int(r);
    r_opt(r, &t->token);
    return r->ok;
}

static void drop_nothing(void *rec) { (void)rec; }
static void drop_ent(void *rec) { ent_rec_free(rec); }
static void drop_rel(void *rec) { rel_rec_free(rec); }
static void drop_access_key(void *rec) { access_key_rec_free(rec); }
static void drop_key(void *rec) { key_rec_free(rec); }
static void drop_material(void *rec) { material_rec_free(rec); }
static void drop_tag(void *rec) { tag_rec_free(rec); }
static void drop_tomb(void *rec)
{
    struct tomb *t = rec;
    free(t->token);
    t->token = NULL;
}

static const struct sql_rec_type ACCOUNT = { sizeof (struct account_rec), account_row, drop_nothing };
static const struct sql_rec_type ACCESS_KEY = { sizeof (struct access_key_rec), access_key_row,
                                                drop_access_key };
static const struct sql_rec_type KEY = { sizeof (struct key_rec), key_row, drop_key };
static const struct sql_rec_type MATERIAL = { sizeof (struct material_rec), material_row, drop_material };
static const struct sql_rec_type ALIAS = { sizeof (struct alias_rec), alias_row, drop_nothing };
static const struct sql_rec_type TAG = { sizeof (struct tag_rec), tag_row, drop_tag };
static const struct sql_rec_type ENT = { sizeof (struct ent_rec), ent_row, drop_ent };
static const struct sql_rec_type REL = { sizeof (struct rel_rec), rel_row, drop_rel };
static const struct sql_rec_type TOMB = { sizeof (struct tomb), tomb_row, drop_tomb };

/* ---- the four shapes ---------------------------------------------------- */

static const struct sql_driver *drv(store_t st)
{
    return ((const struct sql_store *)(const void *)st)->drv;
}

/* TR_E_INTERNAL when a NEED parameter is NULL (a caller's bug). */
static TR_RESULT args_check(const struct sql_arg *a, size_t n)
{
    ENSURE(n <= SQL_MAX_ARGS, TR_E_INTERNAL);
    for (size_t i = 0; i < n; i++) ENSURE(a[i].kind != ARG_NEED || a[i].s != NULL, TR_E_INTERNAL);
    return TR_OK;
}

/* One row into *rec (a t, zeroed first); TR_E_STORE_NOT_FOUND when none. */
static TR_RESULT run_get(store_t st, enum sql_q id, const struct sql_rec_type *t, const struct sql_arg *a,
                         size_t na, void *rec)
{
    ENSURE_REF(st);
    GUARD(args_check(a, na));
    ENSURE_REF(rec);
    memset(rec, 0, t->size);
    return drv(st)->get(st, (int)id, a, na, t, rec);
}

/* Every row into a malloc'd array of t (*out NULL and *n 0 on failure). */
static TR_RESULT run_list(store_t st, enum sql_q id, const struct sql_rec_type *t, const struct sql_arg *a,
                          size_t na, void **out, size_t *n)
{
    ENSURE_REF(st);
    GUARD(args_check(a, na));
    ENSURE_REF(out);
    ENSURE_REF(n);
    *out = NULL;
    *n = 0;
    return drv(st)->list(st, (int)id, a, na, t, out, n);
}

/* ---- domains -------------------------------------------------------------
 * Which domains (store/domains.h) a write statement changes: by its
 * table, or for the tables every service shares (tags, entities,
 * relations) by the service of the ARN it writes -- a tag's resource, an
 * entity's own ARN, a relation's `from`, which is the record the relation
 * belongs to (a secret's versions, a key's grants and imports, a
 * principal's policies and groups).  Anything else is every domain. */

/* The domain of the service named in an ARN ("arn:PARTITION:SERVICE:..."). */
static unsigned arn_domain(const char *arn, size_t len)
{
    static const struct { const char *svc; unsigned dom; } svcs[] = {
        { "iam", STORE_DOM_IAM }, { "sts", STORE_DOM_IAM },
        { "kms", STORE_DOM_KMS }, { "secretsmanager", STORE_DOM_SECRETS },
    };
    if (!arn || len < 4 || memcmp(arn, "arn:", 4) != 0) return STORE_DOM_ALL;
    const char *end = arn + len;
    const char *p = memchr(arn + 4, ':', (size_t)(end - (arn + 4)));
    if (!p) return STORE_DOM_ALL;
    const char *svc = p + 1;
    const char *q = memchr(svc, ':', (size_t)(end - svc));
    if (!q) return STORE_DOM_ALL;
    for (size_t i = 0; i < sizeof svcs / sizeof svcs[0]; i++)
        if ((size_t)(q - svc) == strlen(svcs[i].svc) && memcmp(svc, svcs[i].svc, (size_t)(q - svc)) == 0)
            return svcs[i].dom;
    return STORE_DOM_ALL;
}

/* The domains write id with parameters a changes. */
static unsigned write_domain(enum sql_q id, const struct sql_arg *a, size_t na)
{
    size_t at;                  /* the parameter that is the ARN */
    switch (id) {
    case Q_AK_PUT: case Q_AK_UPDATE: case Q_AK_REWRAP: case Q_AK_DEL: case Q_AK_PURGE:
    case Q_AK_TOMB: case Q_AK_TOMB_EXPIRED: case Q_AK_TOMB_PRUNE: case Q_AK_UNTOMB:
        return STORE_DOM_IAM;
    case Q_KEY_PUT: case Q_KEY_UPDATE: case Q_KEY_DEL_TAGS: case Q_KEY_DEL_MATERIALS:
    case Q_KEY_DEL_ALIASES: case Q_KEY_DEL: case Q_MAT_PUT: case Q_MAT_REWRAP: case Q_MAT_UPDATE:
    case Q_MAT_DEL: case Q_ALIAS_PUT: case Q_ALIAS_UPDATE: case Q_ALIAS_DEL:
        return STORE_DOM_KMS;
    case Q_TAG_SET: case Q_TAG_DEL: at = 0; break;                /* (arn, key, ...) */
    case Q_ENT_PUT: at = 4; break;                                /* (kind, account, name, id, arn, ...) */
    case Q_ENT_UPDATE: case Q_ENT_DEL: at = 1; break;             /* (kind, arn, ...) */
    case Q_REL_PUT: case Q_REL_DEL: case Q_REL_MEMBER_SET: case Q_REL_MEMBER_SET_PAIR:
    case Q_REL_PRUNE_ORDER:
        at = 1; break;                                            /* (kind, from, ...) */
    case Q_REL_PUT_PAIR:                                          /* two rows: both froms */
        if (na != 10) return STORE_DOM_ALL;
        return write_domain(Q_REL_PUT, a, 5) | write_domain(Q_REL_PUT, a + 5, 5);
    default:
        return STORE_DOM_ALL;
    }
    if (at >= na || a[at].kind == ARG_INT || a[at].kind == ARG_BLOB) return STORE_DOM_ALL;
    size_t len = 0;
    const char *arn = sql_arg_text(&a[at], &len);
    unsigned dom = arn_domain(arn, len);
    /* A secret's tags: its own domain too (domains.h). */
    if ((id == Q_TAG_SET || id == Q_TAG_DEL) && dom == STORE_DOM_SECRETS) dom |= STORE_DOM_SECRET_TAGS;
    return dom;
}

/* A write (in this thread's transaction, or on its own); *changes, when
 * not NULL, gets the rows it changed. */
static TR_RESULT run_write(store_t st, enum sql_q id, const struct sql_arg *a, size_t na, int *changes)
{
    ENSURE_REF(st);
    GUARD(args_check(a, na));
    return drv(st)->write(st, (int)id, a, na, changes, write_domain(id, a, na));
}

/* A write that must change a row: TR_E_STORE_NOT_FOUND when none matched
 * (an update or delete of something that is not there). */
static TR_RESULT run_change(store_t st, enum sql_q id, const struct sql_arg *a, size_t na)
{
    int changes = 0;
    GUARD(run_write(st, id, a, na, &changes));
    ENSURE(changes > 0, TR_E_STORE_NOT_FOUND);
    return TR_OK;
}

/* ---- accounts and access keys ------------------------------------------ */

static TR_RESULT rec_account_put(store_t st, const struct account_rec *a)
{
    ENSURE_REF(a);
    return run_write(st, Q_ACCOUNT_PUT, ARGS(CHARS(a->id), INT(a->created)), NULL);
}

static TR_RESULT rec_account_get(store_t st, const char *id, struct account_rec *out)
{
    return run_get(st, Q_ACCOUNT_GET, &ACCOUNT, ARGS(NEED(id)), out);
}

static TR_RESULT rec_account_first(store_t st, struct account_rec *out)
{
    return run_get(st, Q_ACCOUNT_FIRST, &ACCOUNT, NO_ARGS, out);
}

static TR_RESULT rec_account_list(store_t st, struct account_rec **out, size_t *n)
{
    return run_list(st, Q_ACCOUNT_LIST, &ACCOUNT, NO_ARGS, (void **)out, n);
}

/* Putting a key removes its tombstone (store.h). */
static TR_RESULT rec_access_key_put(store_t st, const struct access_key_rec *k)
{
    ENSURE_REF(k);
    GUARD(run_write(st, Q_AK_PUT, ARGS(CHARS(k->access_key_id), CHARS(k->account_id),
                                       INT(k->principal_type), TEXT(k->principal_arn),
                                       TEXT(k->principal_id), INT(k->active ? 1 : 0),
                                       INT(k->created), INT(k->expires),
                                       BLOB(&k->wrapped_secret), OPT(k->doc)), NULL));
    return run_write(st, Q_AK_UNTOMB, ARGS(CHARS(k->access_key_id)), NULL);
}

static TR_RESULT rec_access_key_get(store_t st, const char *akid, struct access_key_rec *out)
{
    return run_get(st, Q_AK_GET, &ACCESS_KEY, ARGS(NEED(akid)), out);
}

/* Oldest first. */
static TR_RESULT rec_access_key_list(store_t st, const char *principal_arn,
                                    struct access_key_rec **out, size_t *n)
{
    return run_list(st, Q_AK_LIST, &ACCESS_KEY, ARGS(NEED(principal_arn)), (void **)out, n);
}

/* Every access key, ordered by id, after `after`, at most `limit` (tresor check). */
static TR_RESULT rec_access_key_list_all(store_t st, const char *after, size_t limit,
                                        struct access_key_rec **out, size_t *n)
{
    return run_list(st, Q_AK_LIST_ALL, &ACCESS_KEY, ARGS(TEXT(after), LIMIT(limit)), (void **)out, n);
}

/* Writes active, expires and doc. */
static TR_RESULT rec_access_key_update(store_t st, const struct access_key_rec *k)
{
    ENSURE_REF(k);
    return run_change(st, Q_AK_UPDATE, ARGS(CHARS(k->access_key_id), INT(k->active ? 1 : 0),
                                            INT(k->expires), OPT(k->doc)));
}

static TR_RESULT rec_access_key_rewrap(store_t st, const char *akid, const struct buf *wrapped)
{
    ENSURE_REF(wrapped);
    return run_change(st, Q_AK_REWRAP, ARGS(NEED(akid), BLOB(wrapped)));
}

/* The tombstone first: it is made from the row. */
static TR_RESULT rec_access_key_delete(store_t st, const char *akid)
{
    GUARD(run_write(st, Q_AK_TOMB, ARGS(NEED(akid)), NULL));
    return run_change(st, Q_AK_DEL, ARGS(NEED(akid)));
}

/* Keys with expires != 0 and expires < now, each leaving a tombstone;
 * then the tombstones of sessions that expired before tombstones_before.
 * None is not an error. */
static TR_RESULT rec_access_key_purge_expired(store_t st, int64_t now, int64_t tombstones_before)
{
    GUARD(run_write(st, Q_AK_TOMB_EXPIRED, ARGS(INT(now)), NULL));
    GUARD(run_write(st, Q_AK_PURGE, ARGS(INT(now)), NULL));
    return run_write(st, Q_AK_TOMB_PRUNE, ARGS(INT(tombstones_before)), NULL);
}

static TR_RESULT rec_access_key_tombstone_get(store_t st, const char *akid, int64_t *expires,
                                             char token_sha256[65])
{
    struct tomb t;
    ENSURE_REF(akid);
    ENSURE_REF(expires);
    ENSURE_REF(token_sha256);
    *expires = 0;
    token_sha256[0] = '\0';
    GUARD(run_get(st, Q_AK_TOMB_GET, &TOMB, ARGS(NEED(akid)), &t));
    *expires = t.expires;
    if (t.token && strlen(t.token) == 64) memcpy(token_sha256, t.token, 65);
    free(t.token);
    return TR_OK;
}

/* ---- KMS keys ---------------------------------------------------------- */

/* The 20 columns of kms_keys, in KEY_COLS order (put and update). */
#define KEY_NARGS 20
static void key_args(const struct key_rec *k, struct sql_arg a[KEY_NARGS])
{
    const struct sql_arg v[KEY_NARGS] = {
        CHARS(k->key_id), CHARS(k->account_id), CHARS(k->region), TEXT(k->arn),
        TEXT(k->description), TEXT(k->policy), CHARS(k->key_state), CHARS(k->key_usage),
        CHARS(k->key_spec), CHARS(k->origin), CHARS(k->key_manager), INT(k->created),
        INT(k->deletion_date), INT(k->pending_window_days), INT(k->rotation_enabled ? 1 : 0),
        INT(k->rotation_period_days), INT(k->next_rotation), INT(k->current_material),
        OPT(k->policy_ids), CHARS(k->primary_region),
    };
    memcpy(a, v, sizeof v);
}

static TR_RESULT rec_key_put(store_t st, const struct key_rec *k)
{
    struct sql_arg a[KEY_NARGS];
    ENSURE_REF(k);
    key_args(k, a);
    return run_write(st, Q_KEY_PUT, a, KEY_NARGS, NULL);
}

/* Writes every column but key_id and region, the record's identity. */
static TR_RESULT rec_key_update(store_t st, const struct key_rec *k)
{
    struct sql_arg a[KEY_NARGS];
    ENSURE_REF(k);
    key_args(k, a);
    return run_change(st, Q_KEY_UPDATE, a, KEY_NARGS);
}

static TR_RESULT rec_key_get(store_t st, const char *key_id, const char *region,
                            struct key_rec *out)
{
    return run_get(st, Q_KEY_GET, &KEY, ARGS(NEED(key_id), NEED(region)), out);
}

static TR_RESULT rec_key_list_related(store_t st, const char *key_id, struct key_rec **out,
                                     size_t *n)
{
    return run_list(st, Q_KEY_LIST_RELATED, &KEY, ARGS(NEED(key_id)), (void **)out, n);
}

/* Every key_id sorts after "" (TEXT(NULL)): no `after`, the first page. */
static TR_RESULT rec_key_list(store_t st, const char *account, const char *region,
                             const char *after, size_t limit, struct key_rec **out, size_t *n)
{
    return run_list(st, Q_KEY_LIST, &KEY, ARGS(NEED(account), NEED(region), TEXT(after), LIMIT(limit)),
                    (void **)out, n);
}

static TR_RESULT rec_key_list_due(store_t st, int64_t now, struct key_rec **out, size_t *n)
{
    return run_list(st, Q_KEY_DUE, &KEY, ARGS(INT(now)), (void **)out, n);
}

/* Every (key_id, region) sorts after ("", "") (TEXT(NULL)). */
static TR_RESULT rec_key_list_all(store_t st, const char *after_id, const char *after_region,
                                 size_t limit, struct key_rec **out, size_t *n)
{
    return run_list(st, Q_KEY_LIST_ALL, &KEY,
                    ARGS(TEXT(after_id), TEXT(after_id ? after_region : NULL), LIMIT(limit)),
                    (void **)out, n);
}

/* Tags first: they are found through the key's ARN.  In the caller's
 * transaction, or in one of its own when there is none. */
static TR_RESULT rec_key_delete(store_t st, const char *key_id, const char *region)
{
    static const enum sql_q steps[] = {
        Q_KEY_DEL_TAGS, Q_KEY_DEL_MATERIALS, Q_KEY_DEL_ALIASES, Q_KEY_DEL,
    };
    bool own;
    int changes = 0;
    tr_result r = TR_OK;

    ENSURE_REF(st);
    ENSURE_REF(key_id);
    ENSURE_REF(region);
    struct sql_conn *c = drv(st)->peek(st);
    own = !c || !c->writing;
    if (own) GUARD(drv(st)->tx_begin(st));
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        r = run_write(st, steps[i], ARGS(TEXT(key_id), TEXT(region)), &changes);
        if (tr_failed(r)) goto fail;
    }
    if (changes == 0) { r = tr_fail_at(__FILE__, __LINE__, TR_E_STORE_NOT_FOUND, NULL); goto fail; }
    if (own) {
        r = drv(st)->tx_commit(st);
        if (tr_failed(r)) goto fail;
    }
    return TR_OK;

fail:
    if (own) drv(st)->tx_rollback(st);
    return r;
}

/* ---- key materials ----------------------------------------------------- */

static TR_RESULT rec_material_put(store_t st, const struct material_rec *m)
{
    ENSURE_REF(m);
    return run_write(st, Q_MAT_PUT, ARGS(CHARS(m->key_id), INT(m->version), INT(m->created),
                                         CHARS(m->rotation_type), BLOB(&m->wrapped),
                                         INT(m->valid_to), CHARS(m->description)), NULL);
}

static TR_RESULT rec_material_update(store_t st, const struct material_rec *m)
{
    ENSURE_REF(m);
    return run_change(st, Q_MAT_UPDATE, ARGS(NEED(m->key_id), INT(m->version), INT(m->created),
                                             CHARS(m->rotation_type), BLOB(&m->wrapped),
                                             INT(m->valid_to), CHARS(m->description)));
}

static TR_RESULT rec_material_get(store_t st, const char *key_id, uint32_t version,
                                 struct material_rec *out)
{
    return run_get(st, Q_MAT_GET, &MATERIAL, ARGS(NEED(key_id), INT(version)), out);
}

static TR_RESULT rec_material_rewrap(store_t st, const char *key_id, uint32_t version,
                                    const struct buf *wrapped)
{
    ENSURE_REF(wrapped);
    return run_change(st, Q_MAT_REWRAP, ARGS(NEED(key_id), INT(version), BLOB(wrapped)));
}

static TR_RESULT rec_material_delete(store_t st, const char *key_id, uint32_t version)
{
    return run_change(st, Q_MAT_DEL, ARGS(NEED(key_id), INT(version)));
}

static TR_RESULT rec_material_list(store_t st, const char *key_id,
                                  struct material_rec **out, size_t *n)
{
    return run_list(st, Q_MAT_LIST, &MATERIAL, ARGS(NEED(key_id)), (void **)out, n);
}

/* ---- aliases ----------------------------------------------------------- */

static TR_RESULT rec_alias_put(store_t st, const struct alias_rec *a)
{
    ENSURE_REF(a);
    return run_write(st, Q_ALIAS_PUT, ARGS(CHARS(a->account_id), CHARS(a->region), CHARS(a->name),
                                           CHARS(a->target_key_id), INT(a->created),
                                           INT(a->updated)), NULL);
}

/* Sets target_key_id and updated; created is kept. */
static TR_RESULT rec_alias_update(store_t st, const struct alias_rec *a)
{
    ENSURE_REF(a);
    return run_change(st, Q_ALIAS_UPDATE, ARGS(CHARS(a->account_id), CHARS(a->region),
                                               CHARS(a->name), CHARS(a->target_key_id),
                                               INT(a->updated)));
}

static TR_RESULT rec_alias_get(store_t st, const char *account, const char *region,
                              const char *name, struct alias_rec *out)
{
    return run_get(st, Q_ALIAS_GET, &ALIAS, ARGS(NEED(account), NEED(region), NEED(name)), out);
}

static TR_RESULT rec_alias_delete(store_t st, const char *account, const char *region,
                                 const char *name)
{
    return run_change(st, Q_ALIAS_DEL, ARGS(NEED(account), NEED(region), NEED(name)));
}

/* Every name sorts after "" (TEXT(NULL)); with key_id, Q_ALIAS_LIST_KEY
 * takes it as a fifth parameter. */
static TR_RESULT rec_alias_list(store_t st, const char *account, const char *region,
                               const char *key_id, const char *after, size_t limit,
                               struct alias_rec **out, size_t *n)
{
    const struct sql_arg a[] = { NEED(account), NEED(region), TEXT(after), LIMIT(limit), TEXT(key_id) };
    return run_list(st, key_id ? Q_ALIAS_LIST_KEY : Q_ALIAS_LIST, &ALIAS, a, key_id ? 5 : 4,
                    (void **)out, n);
}

/* ---- tags -------------------------------------------------------------- */

static TR_RESULT rec_tag_set(store_t st, const char *arn, const char *key, const char *value)
{
    return run_write(st, Q_TAG_SET, ARGS(NEED(arn), NEED(key), TEXT(value)), NULL);
}

/* TR_E_STORE_NOT_FOUND when the resource has no such tag. */
static TR_RESULT rec_tag_delete(store_t st, const char *arn, const char *key)
{
    return run_change(st, Q_TAG_DEL, ARGS(NEED(arn), NEED(key)));
}

static TR_RESULT rec_tag_list(store_t st, const char *arn, struct tag_rec **out, size_t *n)
{
    return run_list(st, Q_TAG_LIST, &TAG, ARGS(NEED(arn)), (void **)out, n);
}

/* ---- entities and relations -------------------------------------------- */

static TR_RESULT rec_ent_put(store_t st, const struct ent_rec *e)
{
    ENSURE_REF(e);
    return run_write(st, Q_ENT_PUT, ARGS(CHARS(e->kind), CHARS(e->account_id), TEXT(e->name),
                                         TEXT(e->id), TEXT(e->arn), TEXT(e->path ? e->path : "/"),
                                         TEXT(e->doc ? e->doc : "{}"), INT(e->created)), NULL);
}

/* By kind and arn; writes name, path and doc. */
static TR_RESULT rec_ent_update(store_t st, const struct ent_rec *e)
{
    ENSURE_REF(e);
    return run_change(st, Q_ENT_UPDATE, ARGS(CHARS(e->kind), TEXT(e->arn), TEXT(e->name),
                                             TEXT(e->path ? e->path : "/"),
                                             TEXT(e->doc ? e->doc : "{}")));
}

static TR_RESULT rec_ent_get(store_t st, const char *kind, const char *account,
                            const char *name, struct ent_rec *out)
{
    return run_get(st, Q_ENT_GET, &ENT, ARGS(NEED(kind), NEED(account), NEED(name)), out);
}

static TR_RESULT rec_ent_get_arn(store_t st, const char *kind, const char *arn,
                                struct ent_rec *out)
{
    return run_get(st, Q_ENT_GET_ARN, &ENT, ARGS(NEED(kind), NEED(arn)), out);
}

static TR_RESULT rec_ent_get_id(store_t st, const char *kind, const char *id,
                               struct ent_rec *out)
{
    return run_get(st, Q_ENT_GET_ID, &ENT, ARGS(NEED(kind), NEED(id)), out);
}

/* No cascade: the caller deletes the relations first. */
static TR_RESULT rec_ent_delete(store_t st, const char *kind, const char *arn)
{
    return run_change(st, Q_ENT_DEL, ARGS(NEED(kind), NEED(arn)));
}

/* Every path starts with "" and every name sorts after it (TEXT(NULL)). */
static TR_RESULT rec_ent_list(store_t st, const char *kind, const char *account,
                             const char *path_prefix, const char *after, size_t limit,
                             struct ent_rec **out, size_t *n)
{
    return run_list(st, Q_ENT_LIST, &ENT, ARGS(NEED(kind), NEED(account), TEXT(path_prefix),
                                               TEXT(after), LIMIT(limit)), (void **)out, n);
}

/* Insert, or replace the doc and created of an existing relation. */
static TR_RESULT rec_rel_put(store_t st, const struct rel_rec *r)
{
    ENSURE_REF(r);
    return run_write(st, Q_REL_PUT, ARGS(CHARS(r->kind), TEXT(r->from), TEXT(r->to), TEXT(r->doc),
                                         INT(r->created)), NULL);
}

static TR_RESULT rec_rel_put_pair(store_t st, const struct rel_rec *a, const struct rel_rec *b)
{
    ENSURE_REF(a);
    ENSURE_REF(b);
    /* The same row twice would be an error of PostgreSQL's upsert. */
    ENSURE(strcmp(a->kind, b->kind) != 0 || strcmp(a->from ? a->from : "", b->from ? b->from : "") != 0 ||
               strcmp(a->to ? a->to : "", b->to ? b->to : "") != 0, TR_E_INTERNAL);
    if (drv(st)->pairs_apart) {
        GUARD(rec_rel_put(st, a));
        return rec_rel_put(st, b);
    }
    return run_write(st, Q_REL_PUT_PAIR,
                     ARGS(CHARS(a->kind), TEXT(a->from), TEXT(a->to), TEXT(a->doc), INT(a->created),
                          CHARS(b->kind), TEXT(b->from), TEXT(b->to), TEXT(b->doc), INT(b->created)),
                     NULL);
}

static TR_RESULT rec_rel_get(store_t st, const char *kind, const char *from, const char *to,
                            struct rel_rec *out)
{
    return run_get(st, Q_REL_GET, &REL, ARGS(NEED(kind), NEED(from), NEED(to)), out);
}

/* The member names rel_member_get/set take: [a-z_], 1..32 (the backends'
 * JSON paths are built from it in SQL). */
static bool member_name_ok(const char *m)
{
    size_t n = m ? strspn(m, "abcdefghijklmnopqrstuvwxyz_") : 0;
    return n > 0 && n <= 32 && m[n] == '\0';
}

static TR_RESULT rec_rel_member_get(store_t st, const char *kind, const char *from, const char *to,
                                    const char *member, struct rel_rec *out)
{
    ENSURE(member_name_ok(member), TR_E_INTERNAL);
    return run_get(st, Q_REL_MEMBER_GET, &REL,
                   ARGS(NEED(kind), NEED(from), NEED(to), NEED(member)), out);
}

/* rel_member_get_pair as two reads (pairs_apart): the rows found,
 * ordered by to, one when to1 == to2. */
static TR_RESULT member_get_apart(store_t st, const char *kind, const char *from, const char *member,
                                  const char *to1, const char *to2, struct rel_rec **out, size_t *n)
{
    const char *to[2] = { to1, to2 };
    ENSURE(to1 && to2, TR_E_INTERNAL);
    if (strcmp(to1, to2) > 0) { to[0] = to2; to[1] = to1; }
    size_t want = strcmp(to1, to2) == 0 ? 1 : 2;
    struct rel_rec *v = calloc(2, sizeof *v);
    ENSURE(v != NULL, TR_E_INTERNAL);
    tr_result r = TR_OK;
    size_t got = 0;
    for (size_t i = 0; i < want && tr_ok(r); i++) {
        r = rec_rel_member_get(st, kind, from, to[i], member, &v[got]);
        if (tr_ok(r)) got++;
        else if (tr_code(r) == TR_E_STORE_NOT_FOUND) { tr_clear_error(); r = TR_OK; }
    }
    if (tr_failed(r) || got == 0) {
        rel_list_free(v, got);
        return r;
    }
    *out = v;
    *n = got;
    return TR_OK;
}

static TR_RESULT rec_rel_member_get_pair(store_t st, const char *kind, const char *from,
                                         const char *member, const char *to1, const char *to2,
                                         struct rel_rec **out, size_t *n)
{
    ENSURE_REF(out);
    ENSURE_REF(n);
    *out = NULL;
    *n = 0;
    ENSURE(member_name_ok(member), TR_E_INTERNAL);
    if (drv(st)->pairs_apart) return member_get_apart(st, kind, from, member, to1, to2, out, n);
    return run_list(st, Q_REL_MEMBER_GET_PAIR, &REL,
                    ARGS(NEED(kind), NEED(from), NEED(to1), NEED(member), NEED(to2)), (void **)out, n);
}

static TR_RESULT rec_rel_member_set(store_t st, const char *kind, const char *from, const char *to,
                                    const char *member, const char *json)
{
    ENSURE(member_name_ok(member), TR_E_INTERNAL);
    return run_change(st, Q_REL_MEMBER_SET,
                      ARGS(NEED(kind), NEED(from), NEED(to), NEED(member), NEED(json)));
}

static TR_RESULT rec_rel_member_set_pair(store_t st, const char *kind, const char *from,
                                         const char *member, const char *to1, const char *json1,
                                         const char *to2, const char *json2)
{
    int changes = 0;
    ENSURE(member_name_ok(member), TR_E_INTERNAL);
    ENSURE(to1 && to2 && strcmp(to1, to2) != 0, TR_E_INTERNAL);
    if (drv(st)->pairs_apart) {
        GUARD(rec_rel_member_set(st, kind, from, to1, member, json1));
        return rec_rel_member_set(st, kind, from, to2, member, json2);
    }
    GUARD(run_write(st, Q_REL_MEMBER_SET_PAIR,
                    ARGS(NEED(kind), NEED(from), NEED(to1), NEED(member), NEED(json1), NEED(to2),
                         NEED(json2)), &changes));
    ENSURE(changes == 2, TR_E_STORE_NOT_FOUND);
    return TR_OK;
}

static TR_RESULT rec_rel_delete(store_t st, const char *kind, const char *from, const char *to)
{
    return run_change(st, Q_REL_DEL, ARGS(NEED(kind), NEED(from), NEED(to)));
}

static TR_RESULT rec_rel_prune_order(store_t st, const char *order_kind, const char *item_kind,
                                    const char *from, size_t count, const char *const *keep, size_t nkeep,
                                    int *deleted)
{
    struct sql_arg a[4 + STORE_PRUNE_KEEP_MAX];
    ENSURE_REF(deleted);
    *deleted = 0;
    ENSURE(nkeep <= STORE_PRUNE_KEEP_MAX && (nkeep == 0 || keep != NULL), TR_E_INTERNAL);
    if (count == 0) return TR_OK;
    a[0] = NEED(order_kind);
    a[1] = NEED(from);
    a[2] = NEED(item_kind);
    a[3] = LIMIT(count);
    for (size_t i = 0; i < STORE_PRUNE_KEEP_MAX; i++) a[4 + i] = i < nkeep ? NEED(keep[i]) : TEXT(NULL);
    return run_write(st, Q_REL_PRUNE_ORDER, a, sizeof a / sizeof a[0], deleted);
}

static TR_RESULT rec_rel_list_from(store_t st, const char *kind, const char *from,
                                  const char *after, size_t limit, struct rel_rec **out,
                                  size_t *n)
{
    return run_list(st, Q_REL_LIST_FROM, &REL, ARGS(NEED(kind), NEED(from), TEXT(after), LIMIT(limit)),
                    (void **)out, n);
}

static TR_RESULT rec_rel_list_to(store_t st, const char *kind, const char *to,
                                struct rel_rec **out, size_t *n)
{
    return run_list(st, Q_REL_LIST_TO, &REL, ARGS(NEED(kind), NEED(to)), (void **)out, n);
}

/* After the pair (after_from, after_to); no after_from: from the start. */
static TR_RESULT rec_rel_list_kind(store_t st, const char *kind, const char *after_from,
                                  const char *after_to, size_t limit, struct rel_rec **out,
                                  size_t *n)
{
    return run_list(st, Q_REL_LIST_KIND, &REL, ARGS(NEED(kind), TEXT(after_from),
                                                    TEXT(after_from ? after_to : NULL), LIMIT(limit)),
                    (void **)out, n);
}

/* ---- the calls that are the backend's own -------------------------- */

static void fwd_close(store_t st)
{
    if (st) drv(st)->close(st);
}

static struct cache_gen fwd_generation_of(store_t st, unsigned domains)
{
    if (!st) return CACHE_GEN_NONE;
    domains &= STORE_DOM_ALL;
    return drv(st)->generation(st, domains ? domains : STORE_DOM_ALL);    /* none: a mistake, all */
}

static struct cache_gen fwd_generation(store_t st)
{
    return fwd_generation_of(st, STORE_DOM_ALL);
}

static void fwd_refresh(store_t st)
{
    if (st) drv(st)->refresh(st);
}

static TR_RESULT fwd_tx_begin(store_t st)
{
    ENSURE_REF(st);
    return drv(st)->tx_begin(st);
}

static TR_RESULT fwd_tx_commit(store_t st)
{
    ENSURE_REF(st);
    return drv(st)->tx_commit(st);
}

static TR_RESULT fwd_tx_commit_ticket(store_t st, uint64_t *ticket)
{
    ENSURE_REF(st); ENSURE_REF(ticket);
    *ticket = 0;
    if (!drv(st)->tx_commit_ticket) return drv(st)->tx_commit(st);
    return drv(st)->tx_commit_ticket(st, ticket);
}

static int fwd_sync_notify(store_t st, struct gsync_waiter *w)
{
    if (!st || !drv(st)->sync_notify) return 1;
    return drv(st)->sync_notify(st, w);
}

static bool fwd_sync_cancel(store_t st, struct gsync_waiter *w)
{
    if (!st || !drv(st)->sync_cancel) return true;
    return drv(st)->sync_cancel(st, w);
}

static void fwd_tx_rollback(store_t st)
{
    if (st) drv(st)->tx_rollback(st);
}

static TR_RESULT fwd_sync_barrier(store_t st)
{
    ENSURE_REF(st);
    return drv(st)->sync_barrier(st);
}

/* A read transaction: every read until read_end sees one snapshot (the
 * backend's BEGIN for reads); this connection must not write meanwhile. */
static TR_RESULT sql_read_begin(store_t st)
{
    struct sql_conn *c = NULL;
    ENSURE_REF(st);
    GUARD(drv(st)->conn(st, &c));
    ENSURE(!c->writing && !c->reading, TR_E_INTERNAL);
    GUARD(drv(st)->exec(c, Q_BEGIN_READ));
    c->reading = true;
    return TR_OK;
}

static void sql_read_end(store_t st)
{
    struct sql_conn *c = st ? drv(st)->peek(st) : NULL;
    if (!c || !c->reading) return;
    c->reading = false;
    if (tr_failed(drv(st)->exec(c, Q_COMMIT))) drv(st)->abort(c);
}

static TR_RESULT fwd_self_check(store_t st, void (*problem)(void *arg, const char *text), void *arg,
                                int *schema_version)
{
    ENSURE_REF(st);
    return drv(st)->self_check(st, problem, arg, schema_version);
}

/* One class for both backends but for its name: an initializer, not code. */
#define SQL_CLASS(NAME) { \
    .name = NAME, \
    .close = fwd_close, \
    .generation = fwd_generation, \
    .generation_of = fwd_generation_of, \
    .refresh = fwd_refresh, \
    .tx_begin = fwd_tx_begin, \
    .tx_commit = fwd_tx_commit, \
    .tx_rollback = fwd_tx_rollback, \
    .sync_barrier = fwd_sync_barrier, \
    .tx_commit_ticket = fwd_tx_commit_ticket, \
    .sync_notify = fwd_sync_notify, \
    .sync_cancel = fwd_sync_cancel, \
    .read_begin = sql_read_begin, \
    .read_end = sql_read_end, \
    .self_check = fwd_self_check, \
    .account_put = rec_account_put, \
    .account_get = rec_account_get, \
    .account_first = rec_account_first, \
    .account_list = rec_account_list, \
    .access_key_put = rec_access_key_put, \
    .access_key_get = rec_access_key_get, \
    .key_put = rec_key_put, \
    .key_update = rec_key_update, \
    .key_get = rec_key_get, \
    .key_list_related = rec_key_list_related, \
    .key_list = rec_key_list, \
    .key_list_due = rec_key_list_due, \
    .key_delete = rec_key_delete, \
    .material_put = rec_material_put, \
    .material_get = rec_material_get, \
    .material_list = rec_material_list, \
    .material_rewrap = rec_material_rewrap, \
    .material_update = rec_material_update, \
    .material_delete = rec_material_delete, \
    .alias_put = rec_alias_put, \
    .alias_update = rec_alias_update, \
    .alias_get = rec_alias_get, \
    .alias_delete = rec_alias_delete, \
    .alias_list = rec_alias_list, \
    .tag_set = rec_tag_set, \
    .tag_delete = rec_tag_delete, \
    .tag_list = rec_tag_list, \
    .access_key_list = rec_access_key_list, \
    .access_key_update = rec_access_key_update, \
    .access_key_rewrap = rec_access_key_rewrap, \
    .access_key_delete = rec_access_key_delete, \
    .access_key_purge_expired = rec_access_key_purge_expired, \
    .access_key_tombstone_get = rec_access_key_tombstone_get, \
    .ent_put = rec_ent_put, \
    .ent_update = rec_ent_update, \
    .ent_get = rec_ent_get, \
    .ent_get_arn = rec_ent_get_arn, \
    .ent_get_id = rec_ent_get_id, \
    .ent_delete = rec_ent_delete, \
    .ent_list = rec_ent_list, \
    .rel_put = rec_rel_put, \
    .rel_get = rec_rel_get, \
    .rel_member_get = rec_rel_member_get, \
    .rel_member_set = rec_rel_member_set, \
    .rel_member_get_pair = rec_rel_member_get_pair, \
    .rel_put_pair = rec_rel_put_pair, \
    .rel_member_set_pair = rec_rel_member_set_pair, \
    .rel_delete = rec_rel_delete, \
    .rel_prune_order = rec_rel_prune_order, \
    .rel_list_from = rec_rel_list_from, \
    .rel_list_to = rec_rel_list_to, \
    .key_list_all = rec_key_list_all, \
    .access_key_list_all = rec_access_key_list_all, \
    .rel_list_kind = rec_rel_list_kind, \
}

const struct store_class sql_sqlite_class = SQL_CLASS("sqlite");
const struct store_class sql_pg_class = SQL_CLASS("postgres");
