/*
 * facts.c -- the small fixed facts about each principal that building the
 * principal graph asks of its identity policies (docs/SNAPSHOTS.md,
 * "Principal facts"), computed once when a snapshot is prepared so that an
 * answer can tell which principals it needs before loading any of them:
 *
 *   "assume"    whether an identity statement may allow sts:AssumeRole,
 *               and through which role ARN heads (graph.c's may_assume and
 *               its trust-policy candidates);
 *   "gsv"       the same for secretsmanager:GetSecretValue (graph.c's
 *               gsv_index, by principal instead of by policy);
 *   "escalate"  whether any of the actions az_escalations asks about
 *               (AZ_ESCALATION_ACTIONS, escalate_actions.def) may be
 *               allowed on some resource;
 *   "trust_accounts"  a role's: the accounts its trust policy names
 *               (graph.c's az_principal_account of each AWS principal,
 *               in the order it names them, each once), so that the graph
 *               knows which accounts to add without compiling every trust
 *               policy; absent when the role has none or it does not
 *               compile (the graph then compiles it at once, and warns as
 *               without facts).
 *
 * Heads are policy_may_allow_heads': the literal text of a resource
 * pattern up to its first wildcard.  Whenever a policy could apply to an
 * action on any resource (no Resource, NotResource, a variable, a leading
 * wildcard) the principal's entry is "*", whatever its other heads: the
 * facts may say "may" where the full decision says no, never the other
 * way round (tests/unit/analyze_facts_test.c checks them against the
 * policies themselves).
 */
#include "analyze/analyze.h"

#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "iam/identity.h"
#include "iam/principals.h"

struct heads {
    char **v;
    size_t n, cap;
    bool oom;
};

static void on_head(void *arg, const char *head, size_t len)
{
    struct heads *h = arg;
    char *s = h->oom ? NULL : strndup(head, len);
    if (!s || tr_failed(strs_add_unique(&h->v, &h->n, &h->cap, s))) h->oom = true;
    free(s);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* id's heads for action: NULL (no statement may allow it), the string "*"
 * (any resource may do), or an array of heads in byte order. */
static TR_RESULT heads_of(const struct identity *id, const char *action, json_t **out)
{
    struct heads h = { 0 };
    bool some = false, any = false;
    *out = NULL;
    for (size_t k = 0; k < id->nidentity && !any && !h.oom; k++) {
        const struct policy *p = id->identity[k].p;
        if (!p || !policy_may_allow(p, NULL, action, NULL)) continue;
        some = true;
        if (!policy_may_allow_heads(p, action, on_head, &h)) any = true;
    }
    tr_result r = h.oom ? tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL) : TR_OK;
    if (tr_ok(r) && some) {
        if (any) {
            *out = json_string("*");
        } else {
            if (h.n > 1) qsort(h.v, h.n, sizeof *h.v, cmp_str);
            *out = json_array();
            for (size_t i = 0; *out && i < h.n; i++)
                if (json_array_append_new(*out, json_string(h.v[i])) != 0) {
                    json_decref(*out);
                    *out = NULL;
                }
        }
        if (!*out) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    strs_free(h.v, h.n);
    return r;
}

struct accts {
    json_t *v;
};

static TR_RESULT on_trust_principal(void *arg, const char *p)
{
    struct accts *c = arg;
    char a[ACCOUNT_ID_LEN + 1];
    if (!az_principal_account(p, a)) return TR_OK;
    size_t i;
    json_t *x;
    json_array_foreach(c->v, i, x)
        if (strcmp(json_string_value(x), a) == 0) return TR_OK;
    ENSURE(json_array_append_new(c->v, json_string(a)) == 0, TR_E_INTERNAL);
    return TR_OK;
}

/* Role e's "trust_accounts" into f, when it has a trust policy that
 * compiles (checked without the warning a stored one that does not
 * compile logs: the answer's graph compiles that one and warns). */
static TR_RESULT trust_facts(const struct ent_rec *e, json_t *f)
{
    json_t *doc = json_loads(e->doc ? e->doc : "{}", 0, NULL);
    const char *text = json_string_value(json_object_get(doc, "trust"));
    const char *ids = json_string_value(json_object_get(doc, "trust_ids"));
    struct policy *p = NULL;
    struct accts c = { 0 };
    tr_result r = text ? policy_cache_get_bound(text, strlen(text), POLICY_TRUST, ids, &p) : TR_OK;
    if (tr_failed(r) && tr_code(r) == TR_E_POLICY_MALFORMED) {
        tr_clear_error();
        r = TR_OK;
    } else if (tr_ok(r) && p) {
        c.v = json_array();
        r = c.v ? policy_each_aws_principal(p, on_trust_principal, &c)
                : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        if (tr_ok(r) && json_object_set(f, "trust_accounts", c.v) != 0)
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    json_decref(c.v);
    policy_unref(p);
    json_decref(doc);
    return r;
}

/* One principal's facts: {"arn", "assume"?, "gsv"?, "escalate",
 * "trust_accounts"?}. */
static TR_RESULT facts_of(store_t st, struct iam_load_memo *memo, const struct ent_rec *e, bool role,
                          json_t **out)
{
    const char *arn = e->arn;
    struct principal who;
    struct identity id = { 0 };
    json_t *assume = NULL, *gsv = NULL;
    *out = NULL;
    GUARD(iam_principal_from_ent(e, NULL, &who));
    GUARD(iam_identity_load_memo(st, &who, memo, &id));
    tr_result r = heads_of(&id, "sts:AssumeRole", &assume);
    if (tr_ok(r)) r = heads_of(&id, "secretsmanager:GetSecretValue", &gsv);
    bool esc = false;
    for (size_t a = 0; tr_ok(r) && AZ_ESCALATION_ACTIONS[a] && !esc; a++)
        for (size_t k = 0; k < id.nidentity && !esc; k++)
            esc = policy_may_allow(id.identity[k].p, NULL, AZ_ESCALATION_ACTIONS[a], NULL);
    if (tr_ok(r)) {
        *out = json_pack("{s:s,s:b}", "arn", arn, "escalate", esc);
        if (!*out || (assume && json_object_set(*out, "assume", assume) != 0) ||
            (gsv && json_object_set(*out, "gsv", gsv) != 0))
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    if (tr_ok(r) && role) r = trust_facts(e, *out);
    json_decref(assume);
    json_decref(gsv);
    iam_identity_free(&id);
    if (tr_failed(r)) {
        json_decref(*out);
        *out = NULL;
    }
    return r;
}

TR_RESULT az_principal_facts(store_t st, const char *const *accounts, size_t naccounts, json_t **out)
{
    struct iam_load_memo *memo = iam_load_memo_new();
    json_t *all = json_array();
    tr_result r = memo && all ? TR_OK : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    static const char *const kinds[] = { "user", "role" };
    for (size_t a = 0; tr_ok(r) && a < naccounts; a++) {
        for (int k = 0; k < 2 && tr_ok(r); k++) {
            struct ent_rec *v = NULL;
            size_t nv = 0;
            r = st[0]->ent_list(st, kinds[k], accounts[a], NULL, NULL, 100000, &v, &nv);
            for (size_t j = 0; tr_ok(r) && j < nv; j++) {
                json_t *f = NULL;
                r = facts_of(st, memo, &v[j], k == 1, &f);
                if (tr_ok(r) && json_array_append_new(all, f) != 0)
                    r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
            }
            ent_list_free(v, nv);
        }
    }
    iam_load_memo_free(memo);
    if (tr_failed(r)) {
        json_decref(all);
        all = NULL;
    }
    *out = all;
    return r;
}

/* ---- the prepared file's layout (az_facts_pack) ------------------------------ */

/* How many leading bytes s shares with prev, backed off to the start of a
 * UTF-8 character (so that the rest is a string of its own). */
static size_t shared_prefix(const char *prev, const char *s)
{
    size_t k = 0;
    while (prev[k] && prev[k] == s[k]) k++;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    return k;
}

/* [k, "rest"]: s written against prev (front coding). */
static json_t *front_coded(const char *prev, const char *s)
{
    size_t k = shared_prefix(prev, s);
    return json_pack("[I,s]", (json_int_t)k, s + k);
}

/* strs (distinct, sorted) as front-coded entries. */
static json_t *front_coded_list(char **strs, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, front_coded(i ? strs[i - 1] : "", strs[i])) != 0) {
            json_decref(a);
            a = NULL;
        }
    return a;
}

static size_t index_of(char *const *sorted, size_t n, const char *s)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(sorted[mid], s) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* v ("*" or an array of strings) as "*" or the indices of its strings in
 * the sorted list; 0 when absent. */
static json_t *as_indices(const json_t *v, char *const *sorted, size_t n)
{
    if (!v) return json_integer(0);
    if (!json_is_array(v)) return json_string("*");
    json_t *a = json_array(), *x;
    size_t i;
    json_array_foreach(v, i, x)
        if (!a || json_array_append_new(a, json_integer((json_int_t)index_of(sorted, n,
                                                                               json_string_value(x)))) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* Every string of the arrays fields[] of each entry, distinct and sorted. */
static TR_RESULT strings_of(const json_t *facts, const char *const *fields, struct heads *h)
{
    size_t i, j;
    json_t *f, *x;
    json_array_foreach(facts, i, f)
        for (size_t k = 0; fields[k]; k++)
            json_array_foreach(json_object_get(f, fields[k]), j, x) {
                ENSURE(json_is_string(x), TR_E_INTERNAL);
                ENSURE(tr_ok(strs_add_unique(&h->v, &h->n, &h->cap, json_string_value(x))), TR_E_INTERNAL);
            }
    if (h->n > 1) qsort(h->v, h->n, sizeof *h->v, cmp_str);
    return TR_OK;
}

TR_RESULT az_facts_pack(const json_t *facts, json_t **out)
{
    static const char *const head_fields[] = { "assume", "gsv", NULL };
    static const char *const acct_fields[] = { "trust_accounts", NULL };
    struct heads heads = { 0 }, accts = { 0 };
    json_t *principals = json_array(), *f;
    const char *prev = "";
    size_t i;
    *out = NULL;
    tr_result r = principals ? strings_of(facts, head_fields, &heads) : tr_fail_at(__FILE__, __LINE__,
                                                                                     TR_E_INTERNAL, NULL);
    if (tr_ok(r)) r = strings_of(facts, acct_fields, &accts);
    json_array_foreach(facts, i, f) {
        if (tr_failed(r)) break;
        const char *arn = json_string_value(json_object_get(f, "arn"));
        json_t *p = arn ? front_coded(prev, arn) : NULL;
        if (!p || json_array_append_new(p, json_integer(json_is_true(json_object_get(f, "escalate")))) != 0 ||
            json_array_append_new(p, as_indices(json_object_get(f, "assume"), heads.v, heads.n)) != 0 ||
            json_array_append_new(p, as_indices(json_object_get(f, "gsv"), heads.v, heads.n)) != 0 ||
            json_array_append_new(p, as_indices(json_object_get(f, "trust_accounts"), accts.v, accts.n)) != 0 ||
            json_array_append_new(principals, p) != 0)
            r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        prev = arn;
    }
    if (tr_ok(r)) {
        *out = json_pack("{s:o,s:o,s:O}", "heads", front_coded_list(heads.v, heads.n), "accounts",
                         front_coded_list(accts.v, accts.n), "principals", principals);
        if (!*out) r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    json_decref(principals);
    strs_free(heads.v, heads.n);
    strs_free(accts.v, accts.n);
    return r;
}

/* Decode the front-coded k and rest against prev (prevlen bytes) into
 * buf; false when they are not one. */
static bool front_decoded(const json_t *k, const json_t *rest, const char *prev, size_t prevlen, char *buf,
                          size_t cap)
{
    if (!json_is_integer(k) || !json_is_string(rest)) return false;
    json_int_t n = json_integer_value(k);
    size_t rl = json_string_length(rest);
    if (n < 0 || (size_t)n > prevlen || (size_t)n + rl >= cap || strlen(json_string_value(rest)) != rl)
        return false;
    memmove(buf, prev, (size_t)n);
    memcpy(buf + n, json_string_value(rest), rl + 1);
    return true;
}

/* Decode a front-coded list into l->strs from l->nstrs on; false when it
 * is not one. */
static bool front_decoded_list(const json_t *list, struct az_facts *l)
{
    const json_t *e;
    const char *prev = "";
    size_t i;
    if (!json_is_array(list)) return false;
    json_array_foreach(list, i, e) {
        const json_t *rest = json_array_get(e, 1);
        size_t plen = strlen(prev), cap = json_is_string(rest) ? plen + json_string_length(rest) + 1 : 0;
        char *cur = json_array_size(e) == 2 && cap ? malloc(cap) : NULL;
        if (!cur || !front_decoded(json_array_get(e, 0), rest, prev, plen, cur, cap)) {
            free(cur);
            return false;
        }
        l->strs[l->nstrs++] = cur;
        prev = cur;
    }
    return true;
}

/* Set h from packed v (0, "*" or indices of the n strings at strs), its
 * entries taken from *refs on. */
static bool unpack_field(struct az_heads *h, const json_t *v, char *const *strs, size_t n, bool any_ok,
                         const char ***refs)
{
    if (json_is_integer(v) && json_integer_value(v) == 0) return true;
    h->present = true;
    if (any_ok && json_is_string(v) && strcmp(json_string_value(v), "*") == 0) return h->any = true;
    if (!json_is_array(v)) return false;
    const json_t *x;
    size_t i;
    h->v = *refs;
    json_array_foreach(v, i, x) {
        json_int_t k = json_integer_value(x);
        if (!json_is_integer(x) || k < 0 || (size_t)k >= n) return false;
        (*refs)[h->n++] = strs[k];
    }
    *refs += h->n;
    return true;
}

static int cmp_fact(const void *a, const void *b)
{
    const struct az_fact *x = a, *y = b;
    int c = strcmp(x->arn, y->arn);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

void az_facts_free(struct az_facts *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) free(f->v[i].arn);
    for (size_t i = 0; i < f->nstrs; i++) free(f->strs[i]);
    free(f->v);
    free(f->strs);
    free(f->refs);
    free(f);
}

TR_RESULT az_facts_unpack(const json_t *packed, struct az_facts **out)
{
    const json_t *heads = json_object_get(packed, "heads"), *accts = json_object_get(packed, "accounts");
    const json_t *principals = json_object_get(packed, "principals"), *p;
    char prev[PRINCIPAL_ARN_MAX] = "", arn[PRINCIPAL_ARN_MAX];
    size_t i, nrefs = 0;
    *out = NULL;
    struct az_facts *f = calloc(1, sizeof *f);
    json_array_foreach(principals, i, p)
        for (size_t k = 3; k < 6; k++) nrefs += json_array_size(json_array_get(p, k));
    bool ok = f && json_is_array(heads) && json_is_array(accts) && json_is_array(principals);
    if (ok) {
        f->strs = calloc(json_array_size(heads) + json_array_size(accts) + 1, sizeof *f->strs);
        f->refs = calloc(nrefs + 1, sizeof *f->refs);
        f->v = calloc(json_array_size(principals) + 1, sizeof *f->v);
        ok = f->strs && f->refs && f->v && front_decoded_list(heads, f);
    }
    size_t nheads = ok ? f->nstrs : 0;
    ok = ok && front_decoded_list(accts, f);
    const char **refs = ok ? f->refs : NULL;
    json_array_foreach(principals, i, p) {
        if (!ok) break;
        struct az_fact *x = &f->v[f->n];
        const json_t *esc = json_array_get(p, 2);
        ok = json_array_size(p) == 6 && json_is_integer(esc) &&
             front_decoded(json_array_get(p, 0), json_array_get(p, 1), prev, strlen(prev), arn, sizeof arn) &&
             (x->arn = strdup(arn)) != NULL;
        if (!ok) break;
        f->n++;
        x->order = i;
        x->escalate = json_integer_value(esc) != 0;
        ok = unpack_field(&x->assume, json_array_get(p, 3), f->strs, nheads, true, &refs) &&
             unpack_field(&x->gsv, json_array_get(p, 4), f->strs, nheads, true, &refs) &&
             unpack_field(&x->trust_accounts, json_array_get(p, 5), f->strs + nheads, f->nstrs - nheads, false,
                          &refs);
        for (size_t k = 0; ok && k < x->trust_accounts.n; k++) {
            const char *a = x->trust_accounts.v[k];
            ok = strlen(a) == ACCOUNT_ID_LEN && strspn(a, "0123456789") == ACCOUNT_ID_LEN;
        }
        if (ok) memcpy(prev, arn, strlen(arn) + 1);
    }
    if (!ok) {
        az_facts_free(f);
        BAIL0(TR_E_VALIDATION);
    }
    qsort(f->v, f->n, sizeof *f->v, cmp_fact);
    *out = f;
    return TR_OK;
}

const struct az_fact *az_facts_find(const struct az_facts *f, const char *arn)
{
    size_t lo = 0, hi = f ? f->n : 0;
    while (lo < hi) {                          /* the first entry not before arn */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(f->v[mid].arn, arn) < 0) lo = mid + 1;
        else hi = mid;
    }
    if (lo == (f ? f->n : 0) || strcmp(f->v[lo].arn, arn) != 0) return NULL;
    while (lo + 1 < f->n && strcmp(f->v[lo + 1].arn, arn) == 0) lo++;   /* the last one named wins */
    return &f->v[lo];
}
