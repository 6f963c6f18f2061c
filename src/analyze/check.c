/*
 * check.c -- the store's integrity check: what analyze/check.h lists,
 * with the server's own code for every decryption (kms/keys.c unwraps
 * materials, kms/crypt.c and secrets/envelope.c open envelopes,
 * crypto/keyring.c unwraps access keys): there is no second copy of the
 * crypto or of the record layouts here.
 *
 * Everything is read in pages of PAGE records (keys and access keys
 * through store/walk.h, STORE_WALK_PAGE), so a large store is checked in
 * bounded memory (one secret with its versions at a time).
 * Problem lines name the record (key id, ARN, version id, access key id)
 * and the step that failed; the first CHECK_SHOW_MAX are kept, all are
 * counted.
 */
#include "analyze/check.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/str.h"
#include "crypto/keyring.h"
#include "iam/bindings.h"
#include "kms/kms.h"
#include "secrets/envelope.h"
#include "secrets/secrets.h"
#include "store/walk.h"

#define PAGE 200
#define GRANT_KIND "grant"
#define RETIRABLE_KIND "retirable"
#define DUE_KIND "secret-due"
#define DUE_FROM "secretsmanager"

static void problem(struct check_report *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void problem(struct check_report *rep, const char *fmt, ...)
{
    rep->problems++;
    if (rep->shown >= CHECK_SHOW_MAX) return;
    va_list ap;
    va_start(ap, fmt);
    /* cut: a line of the report, for people; a longer one is shortened */
    vsnprintf(rep->line[rep->shown++], CHECK_LINE_MAX, fmt, ap);
    va_end(ap);
}

static void store_problem(void *arg, const char *text)
{
    problem(arg, "store: %s", text);
}

/* A listing that failed: the rest of that part cannot be checked. */
static void unreadable(struct check_report *rep, const char *what)
{
    const struct tr_error_info *e = tr_last_error();
    problem(rep, "%s: cannot be read from the store (%s)", what, tr_err_type(e->code));
    tr_clear_error();
}

/* ---- access keys ---------------------------------------------------------- */

/* What the walks of the keys and the access keys check them with. */
struct walk { const struct keyring *kr; struct check_report *rep; };

static TR_RESULT check_access_key(store_t st, struct access_key_rec *k, void *arg)
{
    const struct walk *w = arg;
    char label[KEYRING_LABEL_MAX];
    struct buf secret = BUF_SECRET(256);
    (void)st;
    w->rep->access_keys++;
    if (tr_failed(keyring_label_access_key(label, k->access_key_id)) ||
        tr_failed(keyring_unwrap(w->kr, label, k->wrapped_secret.data, k->wrapped_secret.len, &secret)) ||
        secret.len == 0) {
        problem(w->rep, "access key %s: its secret does not unwrap under the root key", k->access_key_id);
        tr_clear_error();
    }
    buf_free(&secret);
    return TR_OK;
}

static void check_access_keys(store_t st, const struct keyring *kr, struct check_report *rep)
{
    struct walk w = { kr, rep };
    if (tr_failed(store_each_access_key(st, check_access_key, &w))) unreadable(rep, "access keys");
}

/* ---- principal bindings ----------------------------------------------------- */

/* A policy's binding (iam/bindings.h): well formed, or counted as not
 * yet bound when there is none. */
static void check_binding(const char *what, const char *name, const char *text, enum policy_kind kind,
                          const char *ids, struct check_report *rep)
{
    const char *why;
    if (!text) return;
    if (!ids) {
        rep->unbound++;
        return;
    }
    if (!iam_binding_valid(text, kind, ids, &why))
        problem(rep, "%s %.300s: the principal binding of its policy is wrong: %s", what, name, why);
}

/* ---- KMS keys, materials, aliases ----------------------------------------- */

static bool known_state(const char *s)
{
    return strcmp(s, KEY_STATE_ENABLED) == 0 || strcmp(s, KEY_STATE_DISABLED) == 0 ||
           strcmp(s, KEY_STATE_PENDING_DELETION) == 0 ||
           strcmp(s, KEY_STATE_PENDING_REPLICA_DELETION) == 0 || strcmp(s, KEY_STATE_PENDING_IMPORT) == 0;
}

static void check_materials(store_t st, const struct keyring *kr, const struct key_rec *k,
                            struct check_report *rep)
{
    struct material_rec *m = NULL;
    size_t n = 0;
    if (tr_failed(st[0]->material_list(st, k->key_id, &m, &n))) {
        unreadable(rep, "key materials");
        return;
    }
    /* Versions 1..current, each once (material_list is ordered); an
     * EXTERNAL key may also hold imported material waiting to be rotated
     * to, and rows of material deleted or expired (empty, kms/import.c). */
    bool external = strcmp(k->origin, "EXTERNAL") == 0;
    if (external ? n < k->current_material : n != k->current_material)
        problem(rep, "kms key %s: %zu material versions, the key says %u", k->key_id, n,
                k->current_material);
    for (size_t i = 0; i < n; i++) {
        struct buf pt = BUF_SECRET(KMS_MATERIAL_MAX);
        rep->materials++;
        if (m[i].version != i + 1)
            problem(rep, "kms key %s: material version %u out of sequence", k->key_id, m[i].version);
        if (external && m[i].wrapped.len == 0) {
            buf_free(&pt);
            continue;
        }
        /* A symmetric key's material is 32 bytes; an asymmetric or HMAC
         * key's is its private key or HMAC key (kms/asym.c). */
        bool sym = kms_key_is_symmetric(k);
        if (tr_failed(sym ? kms_material_load(st, kr, k->key_id, m[i].version, &pt)
                          : kms_material_load_any(st, kr, k->key_id, m[i].version, &pt))) {
            problem(rep, "kms key %s: material v%u does not unwrap under the root key",
                    k->key_id, m[i].version);
            tr_clear_error();
        }
        buf_free(&pt);
    }
    material_list_free(m, n);
}

static void check_aliases(store_t st, const struct key_rec *k, struct check_report *rep)
{
    struct alias_rec *a = NULL;
    size_t n = 0;
    if (tr_failed(st[0]->alias_list(st, k->account_id, k->region, k->key_id, NULL, (size_t)-1,
                                    &a, &n))) {
        unreadable(rep, "aliases");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        rep->aliases++;
        if (strncmp(a[i].name, "alias/", 6) != 0)
            problem(rep, "alias %s of key %s: not an alias name", a[i].name, k->key_id);
    }
    alias_list_free(a, n);
}

static void check_key(store_t st, const struct keyring *kr, const struct key_rec *k,
                      struct check_report *rep)
{
    char arn[KMS_ARN_MAX + 1], res[sizeof "key/" + sizeof k->key_id];
    struct account_rec acct;
    rep->keys++;
    if (!known_state(k->key_state))
        problem(rep, "kms key %s: unknown state '%.24s'", k->key_id, k->key_state);
    if (strcmp(k->key_state, KEY_STATE_PENDING_DELETION) == 0 && k->deletion_date <= 0)
        problem(rep, "kms key %s: pending deletion without a deletion date", k->key_id);
    /* Only a key of imported material is ever without it (kms/import.c). */
    bool external = strcmp(k->origin, "EXTERNAL") == 0;
    if (strcmp(k->key_state, KEY_STATE_PENDING_IMPORT) == 0 && (!external || k->current_material != 0))
        problem(rep, "kms key %s: pending import, but it has material or is not EXTERNAL", k->key_id);
    if (k->current_material == 0 && !external)
        problem(rep, "kms key %s: no material, but its origin is %.16s", k->key_id, k->origin);
    snprintf(res, sizeof res, "key/%s", k->key_id);   /* fits: sized for it */
    if (tr_failed(kms_arn(arn, sizeof arn, k->region, k->account_id, res))) {
        arn[0] = '\0';         /* cannot be its own: reported below */
        tr_clear_error();
    }
    if (!k->arn || strcmp(k->arn, arn) != 0)
        problem(rep, "kms key %s: ARN %.200s is not its own", k->key_id, k->arn ? k->arn : "-");
    if (tr_failed(st[0]->account_get(st, k->account_id, &acct))) {
        problem(rep, "kms key %s: account %s does not exist", k->key_id, k->account_id);
        tr_clear_error();
    }
    json_t *pol = k->policy ? json_loads(k->policy, 0, NULL) : NULL;
    if (!json_is_object(pol)) problem(rep, "kms key %s: the key policy is not a JSON object", k->key_id);
    json_decref(pol);
    check_binding("kms key", k->key_id, k->policy, POLICY_KEY, k->policy_ids, rep);
    check_materials(st, kr, k, rep);
    check_aliases(st, k, rep);
}

static TR_RESULT check_key_walked(store_t st, struct key_rec *k, void *arg)
{
    const struct walk *w = arg;
    check_key(st, w->kr, k, w->rep);
    return TR_OK;
}

static void check_keys(store_t st, const struct keyring *kr, struct check_report *rep)
{
    struct walk w = { kr, rep };
    if (tr_failed(store_each_key(st, check_key_walked, &w))) unreadable(rep, "kms keys");
}

/* ---- grants ----------------------------------------------------------------- */

/* Every relation of `kind`, page by page, through fn. */
typedef void (*rel_fn)(store_t st, const struct rel_rec *r, struct check_report *rep);

static void each_rel(store_t st, const char *kind, rel_fn fn, struct check_report *rep)
{
    char *after_from = NULL, *after_to = NULL;
    for (;;) {
        struct rel_rec *v = NULL;
        size_t n = 0;
        if (tr_failed(st[0]->rel_list_kind(st, kind, after_from, after_to, PAGE, &v, &n))) {
            unreadable(rep, kind);
            break;
        }
        for (size_t i = 0; i < n; i++) fn(st, &v[i], rep);
        free(after_from);
        free(after_to);
        after_from = n ? strdup(v[n - 1].from) : NULL;
        after_to = n ? strdup(v[n - 1].to) : NULL;
        rel_list_free(v, n);
        if (n < PAGE) break;
        if (!after_from || !after_to) { problem(rep, "%s: out of memory", kind); break; }
    }
    free(after_from);
    free(after_to);
}

/* A key named by its ARN: key_get by the id after ":key/" and the
 * ARN's region, same ARN. */
static bool key_by_arn(store_t st, const char *arn, char key_id[37])
{
    const char *p = strstr(arn, ":key/");
    char region[32];
    struct key_rec k;
    bool ok = false;
    key_id[0] = '\0';
    if (!p || strlen(p + 5) > 36) return false;
    if (sscanf(arn, "arn:%*[^:]:kms:%31[^:]:", region) != 1) return false;
    snprintf(key_id, 37, "%s", p + 5);      /* fits: 36 at most, checked above */
    memset(&k, 0, sizeof k);
    if (tr_ok(st[0]->key_get(st, key_id, region, &k))) ok = k.arn && strcmp(k.arn, arn) == 0;
    else tr_clear_error();
    key_rec_free(&k);
    return ok;
}

static bool rel_exists(store_t st, const char *kind, const char *from, const char *to,
                       const char *doc)
{
    struct rel_rec r;
    memset(&r, 0, sizeof r);
    bool ok = tr_ok(st[0]->rel_get(st, kind, from, to, &r));
    if (ok && doc) ok = r.doc && strcmp(r.doc, doc) == 0;
    if (!ok) tr_clear_error();
    rel_rec_free(&r);
    return ok;
}

static void check_grant(store_t st, const struct rel_rec *r, struct check_report *rep)
{
    char key_id[37];
    rep->grants++;
    if (!key_by_arn(st, r->from, key_id)) {
        problem(rep, "grant %.64s: its key %.200s does not exist", r->to, r->from);
        return;
    }
    json_t *doc = json_loads(r->doc ? r->doc : "", 0, NULL);
    const char *kid = json_string_value(json_object_get(doc, "key_id"));
    const char *retiring = json_string_value(json_object_get(doc, "retiring"));
    if (!json_is_object(doc) || !kid || strcmp(kid, key_id) != 0)
        problem(rep, "grant %.64s of key %s: its document names another key or does not parse",
                r->to, key_id);
    else if (retiring && !rel_exists(st, RETIRABLE_KIND, retiring, r->to, r->from))
        problem(rep, "grant %.64s of key %s: no retirable entry for its retiring principal",
                r->to, key_id);
    static const char *const members[][2] = { { "grantee", "grantee_id" }, { "retiring", "retiring_id" } };
    for (size_t i = 0; i < 2; i++) {
        const char *arn = json_string_value(json_object_get(doc, members[i][0]));
        const char *id = json_string_value(json_object_get(doc, members[i][1]));
        const char *want = arn && strstr(arn, ":user/") ? "AIDA" : arn && strstr(arn, ":role/") ? "AROA" : NULL;
        if (json_object_get(doc, members[i][1]) && (!want || !id || strncmp(id, want, 4) != 0))
            problem(rep, "grant %.64s of key %s: its %s is bound to no %s id", r->to, key_id,
                    members[i][0], want ? (want[1] == 'I' ? "user" : "role") : "user or role");
    }
    json_decref(doc);
}

static void check_retirable(store_t st, const struct rel_rec *r, struct check_report *rep)
{
    if (!r->doc || !rel_exists(st, GRANT_KIND, r->doc, r->to, NULL))
        problem(rep, "retirable entry %.64s of %.200s: the grant does not exist", r->to, r->from);
}

/* ---- secrets ---------------------------------------------------------------- */

static void check_labels(const struct secret *s, struct check_report *rep)
{
    size_t current = 0;
    for (size_t i = 0; i < s->nversions; i++) {
        const struct secret_version *v = &s->versions[i];
        for (size_t j = 0; j < v->nstages; j++) {
            if (strcmp(v->stages[j], SM_CURRENT) == 0) current++;
            for (size_t k = j + 1; k < v->nstages; k++)
                if (strcmp(v->stages[j], v->stages[k]) == 0)
                    problem(rep, "secret %s version %s: label %.256s twice", s->arn, v->id,
                            v->stages[j]);
            for (size_t w = i + 1; w < s->nversions; w++)
                if (sm_version_has_stage(&s->versions[w], v->stages[j]))
                    problem(rep, "secret %s: label %.256s on versions %s and %s", s->arn,
                            v->stages[j], v->id, s->versions[w].id);
        }
        if (v->nstages > SM_STAGES_MAX)
            problem(rep, "secret %s version %s: %zu labels", s->arn, v->id, v->nstages);
    }
    if (s->nversions > 0 && current != 1)
        problem(rep, "secret %s: %zu versions labeled AWSCURRENT (one expected)", s->arn, current);
}

static void check_versions(store_t st, const struct keyring *kr, const struct secret *s,
                           struct check_report *rep)
{
    for (size_t i = 0; i < s->nversions; i++) {
        const struct secret_version *v = &s->versions[i];
        rep->versions++;
        if (!v->edk && !v->ct) continue;          /* a version without a value */
        if (!v->edk || !v->ct) {
            problem(rep, "secret %s version %s: half an envelope (edk or ct missing)", s->arn, v->id);
            continue;
        }
        struct buf pt = BUF_SECRET(SM_VALUE_MAX + 8);
        char key_id[37];
        if (tr_failed(sm_open_offline(st, kr, s, v, &pt, key_id))) {
            const struct tr_error_info *e = tr_last_error();
            problem(rep, "secret %s version %s: the value does not decrypt: %s", s->arn, v->id,
                    e->has_message ? e->message : tr_err_type(e->code));
            tr_clear_error();
        } else {
            rep->values++;
        }
        buf_free(&pt);                            /* wipes the value */
        /* The key a version records is the key that sealed it: reads,
         * ListSecretVersionIds and who-can-decrypt go by the record. */
        size_t kl = v->key_arn ? strlen(v->key_arn) : 0;
        if (key_id[0] && v->key_arn && (kl < 37 || strcmp(v->key_arn + kl - 36, key_id) != 0 ||
                                        v->key_arn[kl - 37] != '/'))
            problem(rep, "secret %s version %s: sealed under KMS key %s, recorded as %.300s",
                    s->arn, v->id, key_id, v->key_arn);
    }
}

static void check_secret(store_t st, const struct keyring *kr, const struct ent_rec *e,
                         struct check_report *rep)
{
    struct secret s;
    rep->secrets++;
    if (tr_failed(sm_load(st, e, &s))) {
        problem(rep, "secret %.300s: its record or a version does not load", e->arn);
        tr_clear_error();
        return;
    }
    check_labels(&s, rep);
    check_versions(st, kr, &s, rep);
    const char *index = sm_version_index_problem(st, &s);
    if (index) problem(rep, "secret %s: %s", s.arn, index);
    check_binding("secret", s.arn, s.policy, POLICY_RESOURCE, s.policy_ids, rep);
    if (s.deleted_date != 0) {
        json_t *d = json_object_get(s.doc, "deletion_date");
        char due[64 + SM_ID_MAX];
        if (tr_failed(str_format(due, sizeof due, "the purge entry's key", "%012lld|%s",
                                 (long long)(json_is_number(d) ? json_number_value(d) : 0), s.arn))) {
            problem(rep, "secret %.300s: its ARN is too long", s.arn);
            tr_clear_error();
        } else if (!json_is_number(d) || !rel_exists(st, DUE_KIND, DUE_FROM, due, NULL))
            problem(rep, "secret %s: pending deletion without its purge entry", s.arn);
    }
    secret_free(&s);
}

/* Every entity of `kind` in account, page by page, through fn; `what`
 * names them in problems. */
typedef void (*ent_fn)(store_t st, const struct keyring *kr, const struct ent_rec *e,
                       struct check_report *rep);

static void each_ent(store_t st, const struct keyring *kr, const char *kind, const char *account,
                     const char *what, ent_fn fn, struct check_report *rep)
{
    char *after = NULL;
    for (;;) {
        struct ent_rec *v = NULL;
        size_t n = 0;
        if (tr_failed(st[0]->ent_list(st, kind, account, NULL, after, PAGE, &v, &n))) {
            unreadable(rep, what);
            break;
        }
        for (size_t i = 0; i < n; i++) fn(st, kr, &v[i], rep);
        free(after);
        after = n ? strdup(v[n - 1].name) : NULL;
        ent_list_free(v, n);
        if (n < PAGE) break;
        if (!after) { problem(rep, "%s: out of memory", what); break; }
    }
    free(after);
}

static bool secret_exists(store_t st, const char *arn)
{
    struct ent_rec e;
    memset(&e, 0, sizeof e);
    bool ok = tr_ok(st[0]->ent_get_arn(st, SM_KIND, arn, &e));
    if (!ok) tr_clear_error();
    ent_rec_free(&e);
    return ok;
}

static void check_version_owner(store_t st, const struct rel_rec *r, struct check_report *rep)
{
    if (!secret_exists(st, r->from))
        problem(rep, "secret version %.64s: its secret %.300s does not exist", r->to, r->from);
}

static void check_due(store_t st, const struct rel_rec *r, struct check_report *rep)
{
    const char *bar = strchr(r->to, '|');
    if (!bar || !secret_exists(st, bar + 1))
        problem(rep, "purge entry %.300s: its secret does not exist", r->to);
}

/* ---- IAM managed policies ----------------------------------------------------- */

static void check_policy(store_t st, const struct keyring *kr, const struct ent_rec *e,
                         struct check_report *rep)
{
    (void)kr;
    json_t *doc = json_loads(e->doc ? e->doc : "", 0, NULL);
    const char *dv = json_string_value(json_object_get(doc, "default_version"));
    rep->policies++;
    if (!dv || !rel_exists(st, "version", e->arn, dv, NULL))
        problem(rep, "managed policy %.300s: its default version %.16s does not exist",
                e->arn, dv ? dv : "(none)");
    json_decref(doc);
}

/* ---- IAM roles ------------------------------------------------------------------ */

static void check_role(store_t st, const struct keyring *kr, const struct ent_rec *e,
                       struct check_report *rep)
{
    (void)st;
    (void)kr;
    json_t *doc = json_loads(e->doc ? e->doc : "", 0, NULL);
    rep->roles++;
    check_binding("role", e->arn, json_string_value(json_object_get(doc, "trust")), POLICY_TRUST,
                  json_string_value(json_object_get(doc, "trust_ids")), rep);
    json_decref(doc);
}

TR_RESULT store_check(store_t st, const struct keyring *kr, struct check_report *rep)
{
    struct account_rec *accts = NULL;
    size_t na = 0;
    ENSURE_REF(st);
    ENSURE_REF(kr);
    ENSURE_REF(rep);
    memset(rep, 0, sizeof *rep);

    if (tr_failed(st[0]->self_check(st, store_problem, rep, &rep->schema_version)))
        unreadable(rep, "store self-check");
    check_access_keys(st, kr, rep);
    check_keys(st, kr, rep);
    each_rel(st, GRANT_KIND, check_grant, rep);
    each_rel(st, RETIRABLE_KIND, check_retirable, rep);
    each_rel(st, SM_VER_KIND, check_version_owner, rep);
    each_rel(st, DUE_KIND, check_due, rep);
    if (tr_failed(st[0]->account_list(st, &accts, &na))) {
        unreadable(rep, "accounts");
        return TR_OK;
    }
    rep->accounts = na;
    for (size_t i = 0; i < na; i++) {
        each_ent(st, kr, SM_KIND, accts[i].id, "secrets", check_secret, rep);
        each_ent(st, kr, "policy", accts[i].id, "managed policies", check_policy, rep);
        each_ent(st, kr, "role", accts[i].id, "roles", check_role, rep);
    }
    free(accts);
    return TR_OK;
}
