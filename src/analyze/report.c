/*
 * report.c -- the answer of who_can.c for a person (text: a table, then
 * each path with its evidence) or a program (JSON; the schema is
 * docs/WHO_CAN_DECRYPT.md and is kept stable: fields are only added).
 */
#include "analyze/analyze.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/report_html.h"
#include "core/json.h"
#include "core/utf8.h"
#include "kms/kms.h"

static const char *kind_word(enum az_kind k)
{
    switch (k) {
    case AZ_ROOT: return "root";
    case AZ_USER: return "user";
    case AZ_ROLE: return "role";
    case AZ_ANYONE: return "anyone";
    default: return "account";
    }
}

/* The row label of a principal in the text table. */
static void principal_label(const struct az_graph *g, const struct az_node *n,
                            char out[PRINCIPAL_ARN_MAX])
{
    _Static_assert(sizeof n->arn <= PRINCIPAL_ARN_MAX && sizeof n->account < 64, "labels fit");
    if (n->kind == AZ_FOREIGN && g->uncollected)    /* fits: 12 digits and 48 characters */
        snprintf(out, PRINCIPAL_ARN_MAX, "account %s (not collected): anyone that account allows",
                 n->account);
    else if (n->kind == AZ_FOREIGN)      /* fits: 12 digits and 51 characters (asserted above) */
        snprintf(out, PRINCIPAL_ARN_MAX, "any principal of account %s allowed by its own IAM", n->account);
    else if (n->kind == AZ_ANYONE)  /* fits: 61 characters */
        snprintf(out, PRINCIPAL_ARN_MAX, "* (any principal of another account, if its own IAM allows)");
    else
        snprintf(out, PRINCIPAL_ARN_MAX, "%s", n->arn);   /* fits: n->arn is no larger */
}

/* What "*" in the secret's or key's policy stands for, in words, when it
 * admits no principal beyond those listed (when it does, the AZ_ANYONE
 * row of the table says so).  Under the AWS managed key "*" is every
 * principal of the key's account calling through Secrets Manager: its
 * principals were all decided, so the readers listed are all there is. */
static void everyone_note(const struct az_graph *g, const struct az_target *t,
                          const struct az_answer *ans)
{
    for (size_t i = 0; i < g->nn; i++)
        if (g->n[i].kind == AZ_ANYONE && ans[i].can) return;
    if (t->everyone_kp && t->have_key && strcmp(t->key.key_manager, "AWS") == 0)
        printf("\nThe key is the AWS managed key aws/secretsmanager. Its policy names every\n"
               "principal (\"*\"), but only those of account %s calling through Secrets\n"
               "Manager in %s: the readers are the principals above, the ones the\n"
               "secret's permissions let read. No principal of another account can.\n",
               t->key.account_id, t->key.region);
    else if (t->everyone_kp)
        printf("\nThe key policy names every principal (\"*\"); its conditions and the\n"
               "secret's permissions let no principal read beyond those above.\n");
    if (t->everyone_rp)
        printf("\nThe secret's resource policy names every principal (\"*\"); no principal\n"
               "beyond those above can read (the key or conditions stop the others).\n");
}

/* "direct", "via role R", "via role R1 -> R2": at most AZ_MAX_HOPS role
 * names of at most 64 characters (IAM's limit), which WORD_MAX holds. */
#define WORD_MAX 1200
_Static_assert(WORD_MAX >= sizeof "via role " + AZ_MAX_HOPS * (sizeof " -> " + 64), "WORD_MAX");
static void access_word(const struct az_graph *g, const struct az_answer *a, char out[WORD_MAX])
{
    size_t at = 0, n = WORD_MAX;
    if (a->npath <= 1) {
        memcpy(out, "direct", sizeof "direct");
        return;
    }
    int k = snprintf(out, n, "via role ");
    at = k > 0 ? (size_t)k : 0;
    for (size_t i = 1; i < a->npath && at < n; i++) {
        const char *arn = g->n[a->path[i]].arn;
        const char *name = strrchr(arn, '/');
        k = snprintf(out + at, n - at, "%s%s", i > 1 ? " -> " : "", name ? name + 1 : arn);
        if (k > 0) at += (size_t)k;     /* a longer word (no name is) ends the loop, cut */
    }
}

/* Is role r on a reader's path and assumable by any principal of any
 * account, its trust policy setting no condition (az_edge.public_trust)?
 * Access Analyzer flags such a role as public; so does the answer. */
static bool public_role(const struct az_graph *g, const struct az_answer *ans, size_t r)
{
    if (!ans[r].can) return false;
    for (size_t e = g->n[r].first_in; e != SIZE_MAX; e = g->e[e].next_in)
        if (g->e[e].public_trust) return true;
    return false;
}

static json_t *path_json(const struct az_graph *g, const struct az_access *acc,
                         const struct az_answer *a)
{
    json_t *steps = json_array();
    for (size_t i = 0; i + 1 < a->npath; i++) {
        const struct az_edge *e = &g->e[a->edges[i]];
        json_t *st = json_pack("{s:s, s:s, s:s, s:s, s:b}",
            "step", "sts:AssumeRole", "principal", g->n[e->from].arn, "role", g->n[e->to].arn,
            "evidence", e->evidence, "conditional", e->conditional);
        if (st && e->session[0]) json_object_set_new(st, "asSession", json_string(e->session));
        json_array_append_new(steps, st);
    }
    size_t q = a->path[a->npath - 1];
    const struct az_access *x = &acc[q];
    json_t *gs = json_pack("{s:s, s:s, s:s, s:b}", "step",
        "secretsmanager:GetSecretValue", "principal", g->n[q].arn, "evidence", x->gsv_ev,
        "allowed", x->gsv);
    if (gs && x->session[0]) json_object_set_new(gs, "asSession", json_string(x->session));
    json_array_append_new(steps, gs);
    json_t *k = json_pack("{s:s, s:s, s:s, s:s, s:b}", "step", "kms:Decrypt",
        "principal", g->n[q].arn, "source", x->kms_source, "evidence", x->kms_ev, "allowed", x->kms);
    if (k && x->grant_id[0]) json_object_set_new(k, "grantId", json_string(x->grant_id));
    if (k && x->session[0]) json_object_set_new(k, "asSession", json_string(x->session));
    json_array_append_new(steps, k);
    return steps;
}

static json_t *target_json(const struct az_target *t)
{
    return json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:b, s:s?}", "arn", t->s.arn, "name",
                     t->s.name, "account", t->s.account, "versionId", t->version_id,
                     "keyArn", t->have_key ? t->key.arn : NULL,
                     "keyState", t->have_key ? t->key.key_state : NULL, "live", t->live,
                     "notLiveBecause", t->live ? NULL : t->why_not_live);
}

static void print_path_to(FILE *out, const struct az_graph *g, const struct az_access *acc,
                          const struct az_answer *a)
{
    for (size_t i = 0; i + 1 < a->npath; i++) {
        const struct az_edge *e = &g->e[a->edges[i]];
        fprintf(out, "    sts:AssumeRole %s -> %s\n      %s\n", g->n[e->from].arn, g->n[e->to].arn,
               e->evidence);
    }
    size_t q = a->path[a->npath - 1];
    const char *sw = acc[q].session[0] ? " session " : "", *sn = acc[q].session;
    fprintf(out, "    secretsmanager:GetSecretValue as %s%s%s: %s\n      %s\n", g->n[q].arn, sw, sn,
           acc[q].gsv ? "allowed" : "denied", acc[q].gsv_ev);
    fprintf(out, "    kms:Decrypt as %s%s%s%s%s: %s\n      %s\n", g->n[q].arn, sw, sn,
           acc[q].kms_source[0] ? " by " : "", acc[q].kms_source,
           acc[q].kms ? "allowed" : "denied", acc[q].kms_ev);
}

static void print_path(const struct az_graph *g, const struct az_access *acc,
                       const struct az_answer *a)
{
    print_path_to(stdout, g, acc, a);
}

json_t *az_report_json(const struct az_graph *g, const struct az_target *t,
                       const struct az_access *acc, const struct az_answer *ans)
{
    char word[WORD_MAX];
    json_t *o = json_object(), *arr = json_array();
    {
        json_object_set_new(o, "secret", target_json(t));
        for (size_t i = 0; i < g->nn; i++) {
            if (!ans[i].can) continue;
            size_t q = ans[i].path[ans[i].npath - 1];
            access_word(g, &ans[i], word);
            json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:o}",
                "principal", g->n[i].arn, "type", kind_word(g->n[i].kind), "account",
                g->n[i].account, "access", ans[i].npath > 1 ? "via-role" : "direct",
                "conditional", ans[i].conditional, "keyPermission", acc[q].kms_source,
                "path", path_json(g, acc, &ans[i]));
            if (p && g->n[i].kind == AZ_FOREIGN && g->uncollected)
                json_object_set_new(p, "collected", json_false());
            /* Readers only as a session a policy or grant names. */
            json_t *sess = json_array();
            for (size_t k = 0; k + 1 < ans[i].npath; k++)
                if (g->e[ans[i].edges[k]].session[0])
                    json_array_append_new(sess, json_string(g->e[ans[i].edges[k]].session));
            if (acc[q].session[0]) json_array_append_new(sess, json_string(acc[q].session));
            if (p && json_array_size(sess)) json_object_set_new(p, "asSessions", sess);
            else json_decref(sess);
            json_array_append_new(arr, p);
        }
        json_object_set_new(o, "principals", arr);
        json_t *pub = json_array();
        for (size_t i = 0; i < g->nn; i++)
            if (public_role(g, ans, i)) json_array_append_new(pub, json_string(g->n[i].arn));
        json_object_set_new(o, "publicTrust", pub);
        json_t *cut = json_array();
        for (size_t i = 0; i < g->nn; i++)
            if (!ans[i].can && ans[i].cut_at != SIZE_MAX)
                json_array_append_new(cut, json_pack("{s:s, s:s}", "principal", g->n[i].arn,
                                                     "role", g->n[ans[i].cut_at].arn));
        json_object_set_new(o, "maxHops", json_integer(AZ_MAX_HOPS));
        json_object_set_new(o, "chainsCut", cut);
        bool everyone = false;
        for (size_t i = 0; i < t->nnamed; i++) everyone |= strcmp(t->named[i], "*") == 0;
        json_object_set_new(o, "everyoneNamed", json_boolean(everyone));
        struct az_fed *fed = NULL;
        size_t nfed = 0;
        json_t *farr = json_array();
        if (tr_ok(az_federated(g, ans, &fed, &nfed)))
            for (size_t i = 0; i < nfed; i++) json_array_append_new(farr, az_federated_json(g, &fed[i]));
        az_federated_free(fed, nfed);
        json_object_set_new(o, "federatedReaders", farr);
    }
    return o;
}

/* ---- the same object without a tree (az_report_json_buf) ----------------
 * --all writes one such object per secret (~120 KB at account scale, 2.4
 * GB in all): building the jansson tree and dumping it cost more than
 * deciding the answer.  These write the bytes jansson's compact dump of
 * az_report_json's tree would write: members in the tree's order,
 * separators "," and ":" with no spaces, strings escaped by json_w_escape
 * (core/json.h: jansson's escaping).  Where json_pack or json_string
 * would fail on a string (NULL, or not UTF-8) the tree lacks the member or
 * element: so does the writer (jw_ok decides before anything is written).
 * The first failure of the buffer sticks in w->r. */
struct jw {
    struct buf *b;
    tr_result r;
};

static void jw_raw(struct jw *w, const char *p, size_t n)
{
    if (tr_ok(w->r)) w->r = buf_append(w->b, p, n);
}
#define JW_LIT(w, lit) jw_raw((w), (lit), sizeof (lit) - 1)

/* Would jansson make a string of s? */
static bool jw_ok(const char *s)
{
    return s && utf8_valid((const uint8_t *)s, strlen(s));
}

/* A string already known to be jw_ok. */
static void jw_str(struct jw *w, const char *s)
{
    if (tr_ok(w->r)) w->r = json_w_escape(w->b, s, strlen(s));
}

/* ,"name": (sep: the separator before it, "" for the first member) */
static void jw_key(struct jw *w, const char *sep, const char *name)
{
    jw_raw(w, sep, strlen(sep));
    jw_raw(w, "\"", 1);
    jw_raw(w, name, strlen(name));
    JW_LIT(w, "\":");
}

static void jw_kstr(struct jw *w, const char *sep, const char *name, const char *s)
{
    jw_key(w, sep, name);
    jw_str(w, s);
}

static void jw_kbool(struct jw *w, const char *name, bool v)
{
    jw_key(w, ",", name);
    if (v) JW_LIT(w, "true");
    else JW_LIT(w, "false");
}

/* An element of an array: "," before all but the first (*n counts them). */
static void jw_elem(struct jw *w, size_t *n)
{
    if ((*n)++) jw_raw(w, ",", 1);
}

/* path_json's array. */
static void jw_path(struct jw *w, const struct az_graph *g, const struct az_access *acc,
                    const struct az_answer *a)
{
    size_t n = 0, q = a->path[a->npath - 1];
    const struct az_access *x = &acc[q];
    const char *qarn = g->n[q].arn;
    jw_raw(w, "[", 1);
    for (size_t i = 0; i + 1 < a->npath; i++) {
        const struct az_edge *e = &g->e[a->edges[i]];
        const char *from = g->n[e->from].arn, *to = g->n[e->to].arn;
        if (!jw_ok(from) || !jw_ok(to) || !jw_ok(e->evidence)) continue;
        jw_elem(w, &n);
        JW_LIT(w, "{\"step\":\"sts:AssumeRole\"");
        jw_kstr(w, ",", "principal", from);
        jw_kstr(w, ",", "role", to);
        jw_kstr(w, ",", "evidence", e->evidence);
        jw_kbool(w, "conditional", e->conditional);
        if (e->session[0] && jw_ok(e->session)) jw_kstr(w, ",", "asSession", e->session);
        jw_raw(w, "}", 1);
    }
    bool sess = x->session[0] && jw_ok(x->session);
    if (jw_ok(qarn) && jw_ok(x->gsv_ev)) {
        jw_elem(w, &n);
        JW_LIT(w, "{\"step\":\"secretsmanager:GetSecretValue\"");
        jw_kstr(w, ",", "principal", qarn);
        jw_kstr(w, ",", "evidence", x->gsv_ev);
        jw_kbool(w, "allowed", x->gsv);
        if (sess) jw_kstr(w, ",", "asSession", x->session);
        jw_raw(w, "}", 1);
    }
    if (jw_ok(qarn) && jw_ok(x->kms_source) && jw_ok(x->kms_ev)) {
        jw_elem(w, &n);
        JW_LIT(w, "{\"step\":\"kms:Decrypt\"");
        jw_kstr(w, ",", "principal", qarn);
        jw_kstr(w, ",", "source", x->kms_source);
        jw_kstr(w, ",", "evidence", x->kms_ev);
        jw_kbool(w, "allowed", x->kms);
        if (x->grant_id[0] && jw_ok(x->grant_id)) jw_kstr(w, ",", "grantId", x->grant_id);
        if (sess) jw_kstr(w, ",", "asSession", x->session);
        jw_raw(w, "}", 1);
    }
    jw_raw(w, "]", 1);
}

/* A "s?" member of target_json: the string, or null for NULL. */
static void jw_kstr_or_null(struct jw *w, const char *name, const char *s)
{
    jw_key(w, ",", name);
    if (s) jw_str(w, s);
    else JW_LIT(w, "null");
}

/* target_json's object as the first member, "secret": ...; false (and
 * nothing written) when json_pack would fail. */
static bool jw_target(struct jw *w, const struct az_target *t)
{
    const char *key_arn = t->have_key ? t->key.arn : NULL;
    const char *state = t->have_key ? t->key.key_state : NULL;
    const char *why = t->live ? NULL : t->why_not_live;
    if (!jw_ok(t->s.arn) || !jw_ok(t->s.name) || !jw_ok(t->s.account) ||
        (t->version_id && !jw_ok(t->version_id)) || (key_arn && !jw_ok(key_arn)) ||
        (state && !jw_ok(state)) || (why && !jw_ok(why)))
        return false;
    jw_key(w, "", "secret");
    jw_kstr(w, "{", "arn", t->s.arn);
    jw_kstr(w, ",", "name", t->s.name);
    jw_kstr(w, ",", "account", t->s.account);
    jw_kstr_or_null(w, "versionId", t->version_id);
    jw_kstr_or_null(w, "keyArn", key_arn);
    jw_kstr_or_null(w, "keyState", state);
    jw_kbool(w, "live", t->live);
    jw_kstr_or_null(w, "notLiveBecause", why);
    jw_raw(w, "}", 1);
    return true;
}

/* One reader of az_report_json's "principals" (nothing when json_pack
 * would fail). */
static void jw_reader(struct jw *w, const struct az_graph *g, const struct az_access *acc,
                      const struct az_answer *a, size_t i, size_t *n)
{
    size_t q = a->path[a->npath - 1];
    const struct az_node *nd = &g->n[i];
    if (!jw_ok(nd->arn) || !jw_ok(nd->account) || !jw_ok(acc[q].kms_source)) return;
    jw_elem(w, n);
    jw_kstr(w, "{", "principal", nd->arn);
    jw_kstr(w, ",", "type", kind_word(nd->kind));
    jw_kstr(w, ",", "account", nd->account);
    jw_kstr(w, ",", "access", a->npath > 1 ? "via-role" : "direct");
    jw_kbool(w, "conditional", a->conditional);
    jw_kstr(w, ",", "keyPermission", acc[q].kms_source);
    jw_key(w, ",", "path");
    jw_path(w, g, acc, a);
    if (nd->kind == AZ_FOREIGN && g->uncollected) jw_kbool(w, "collected", false);
    /* Readers only as a session a policy or grant names. */
    size_t ns = 0;
    for (size_t k = 0; k + 1 < a->npath; k++) {
        const char *s = g->e[a->edges[k]].session;
        if (!s[0] || !jw_ok(s)) continue;
        if (ns == 0) jw_key(w, ",", "asSessions");
        jw_raw(w, ns++ ? "," : "[", 1);
        jw_str(w, s);
    }
    if (acc[q].session[0] && jw_ok(acc[q].session)) {
        if (ns == 0) jw_key(w, ",", "asSessions");
        jw_raw(w, ns++ ? "," : "[", 1);
        jw_str(w, acc[q].session);
    }
    if (ns) jw_raw(w, "]", 1);
    jw_raw(w, "}", 1);
}

/* A value of federatedReaders (az_federated_json; nothing when json_pack
 * would fail). */
static void jw_fed(struct jw *w, const struct az_graph *g, const struct az_fed *f, size_t *n)
{
    const char *role = g->n[f->role].arn;
    if (!jw_ok(f->provider) || !jw_ok(f->issuer) || !jw_ok(role) || !jw_ok(f->statement) ||
        !f->conditions)
        return;
    jw_elem(w, n);
    JW_LIT(w, "{\"kind\":\"federated\"");
    jw_kstr(w, ",", "provider", f->provider);
    jw_kstr(w, ",", "issuer", f->issuer);
    jw_kstr(w, ",", "role", role);
    jw_kstr(w, ",", "statement", f->statement);
    jw_key(w, ",", "conditions");
    if (tr_ok(w->r))
        w->r = json_dump_buf(f->conditions, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY, w->b);
    jw_kbool(w, "anyToken", f->any_token);
    jw_kbool(w, "providerExists", f->provider_exists);
    jw_kbool(w, "conditional", f->conditional);
    jw_raw(w, "}", 1);
}

TR_RESULT az_report_json_buf(const struct az_graph *g, const struct az_target *t,
                             const struct az_access *acc, const struct az_answer *ans,
                             const json_t *gaps, struct buf *out)
{
    ENSURE(g && t && acc && ans && out, TR_E_INTERNAL);
    struct jw w = { .b = out, .r = TR_OK };
    uint32_t start = out->len;
    size_t n = 0;
    char num[24];
    jw_raw(&w, "{", 1);
    const char *sep = jw_target(&w, t) ? "," : "";
    jw_key(&w, sep, "principals");
    jw_raw(&w, "[", 1);
    for (size_t i = 0; i < g->nn; i++)
        if (ans[i].can) jw_reader(&w, g, acc, &ans[i], i, &n);
    JW_LIT(&w, "]");
    jw_key(&w, ",", "publicTrust");
    jw_raw(&w, "[", 1);
    n = 0;
    for (size_t i = 0; i < g->nn; i++)
        if (public_role(g, ans, i) && jw_ok(g->n[i].arn)) {
            jw_elem(&w, &n);
            jw_str(&w, g->n[i].arn);
        }
    jw_raw(&w, "]", 1);
    snprintf(num, sizeof num, "%d", AZ_MAX_HOPS);      /* fits: a small int */
    jw_key(&w, ",", "maxHops");
    jw_raw(&w, num, strlen(num));
    jw_key(&w, ",", "chainsCut");
    jw_raw(&w, "[", 1);
    n = 0;
    for (size_t i = 0; i < g->nn; i++) {
        if (ans[i].can || ans[i].cut_at == SIZE_MAX) continue;
        if (!jw_ok(g->n[i].arn) || !jw_ok(g->n[ans[i].cut_at].arn)) continue;
        jw_elem(&w, &n);
        jw_kstr(&w, "{", "principal", g->n[i].arn);
        jw_kstr(&w, ",", "role", g->n[ans[i].cut_at].arn);
        jw_raw(&w, "}", 1);
    }
    jw_raw(&w, "]", 1);
    bool everyone = false;
    for (size_t i = 0; i < t->nnamed; i++) everyone |= strcmp(t->named[i], "*") == 0;
    jw_kbool(&w, "everyoneNamed", everyone);
    jw_key(&w, ",", "federatedReaders");
    jw_raw(&w, "[", 1);
    struct az_fed *fed = NULL;
    size_t nfed = 0;
    n = 0;
    if (tr_ok(az_federated(g, ans, &fed, &nfed)))
        for (size_t i = 0; i < nfed; i++) jw_fed(&w, g, &fed[i], &n);
    az_federated_free(fed, nfed);
    jw_raw(&w, "]", 1);
    if (gaps) {
        jw_key(&w, ",", "gaps");
        if (tr_ok(w.r))
            w.r = json_dump_buf(gaps, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY, out);
    }
    jw_raw(&w, "}", 1);
    if (tr_failed(w.r)) buf_truncate(out, start);
    return w.r;
}

/* The federated readers (federated.c), after the table: one line each,
 * the missing providers and the statements that pin no token noted. */
static void federated_section(const struct az_graph *g, const struct az_answer *ans)
{
    struct az_fed *fed = NULL;
    size_t nfed = 0;
    char line[2048];
    if (tr_failed(az_federated(g, ans, &fed, &nfed))) {
        printf("\nfederated readers: not decided (out of memory)\n");
        return;
    }
    if (nfed) printf("\nfederated readers (tokens exchanged by sts:AssumeRoleWithWebIdentity):\n");
    for (size_t i = 0; i < nfed; i++) {
        az_federated_words(g, &fed[i], line, sizeof line);
        printf("  %s%s\n", line, fed[i].conditional ? " (conditional: see below)" : "");
        if (!fed[i].provider_exists)
            printf("    (provider %s does not exist: no token is accepted until it is created)\n",
                   fed[i].provider);
    }
    for (size_t i = 0; i < nfed; i++) {
        if (!fed[i].any_token) continue;
        if (strcmp(fed[i].provider, "*") == 0)
            printf("\nWARNING: role %s trusts every principal (\"Principal\": \"*\") for\n"
                   "sts:AssumeRoleWithWebIdentity with no condition on a token's sub\n"
                   "(statement %s): a token of any provider of its account can assume it,\n"
                   "and through it read this secret.\n", g->n[fed[i].role].arn, fed[i].statement);
        else
            printf("\nWARNING: role %s trusts any token of issuer %s: statement %s\n"
                   "sets no condition on %s:sub, so every workload that issuer\n"
                   "signs for can assume it, and through it read this secret.\n",
                   g->n[fed[i].role].arn, fed[i].issuer, fed[i].statement, fed[i].issuer);
    }
    az_federated_free(fed, nfed);
}

/* A DOT string: quotes and backslashes escaped, cut at `max` bytes. */
static void dot_str(const char *s, size_t max)
{
    putchar('"');
    for (size_t i = 0; s[i] && i < max; i++) {
        if (s[i] == '"' || s[i] == '\\') putchar('\\');
        putchar(s[i]);
    }
    if (strlen(s) > max) fputs("...", stdout);
    putchar('"');
}

/* A node's short label: "user/alice", "role/app" (the name, not the
 * path), "root"; with the account in front when it is not the secret's
 * ("444455556666 user/bob"); "account X" for an account the store does
 * not hold, "any other account" for AZ_ANYONE. */
#define LABEL_MAX 700
_Static_assert(LABEL_MAX >= ACCOUNT_ID_LEN + sizeof " role/" + PRINCIPAL_ARN_MAX, "a node label fits");
_Static_assert(LABEL_MAX >= sizeof "secret " + SM_NAME_MAX, "a secret label fits");
_Static_assert(LABEL_MAX >= sizeof "key " + sizeof ((struct alias_rec *)0)->name, "a key label fits");
_Static_assert(LABEL_MAX >= sizeof "oidc-provider/" + PRINCIPAL_ARN_MAX, "a provider label fits");

static void dot_node_label(const struct az_node *n, const char *home, char out[LABEL_MAX])
{
    size_t len = LABEL_MAX;
    const char *other = strcmp(n->account, home) != 0 ? n->account : "";
    const char *sep = *other ? " " : "";
    const char *res = strrchr(n->arn, ':');
    const char *name = strrchr(n->arn, '/');
    /* fits: an account id, a space, "role/" and at most the ARN (asserted above) */
    switch (n->kind) {
    case AZ_FOREIGN: snprintf(out, len, "account %s", n->account); break;  /* fits: as above */
    case AZ_ANYONE: snprintf(out, len, "any other account"); break;        /* fits: as above */
    case AZ_ROOT: snprintf(out, len, "%s%sroot", other, sep); break;       /* fits: as above */
    default:    /* fits: as above */
        snprintf(out, len, "%s%s%s/%s", other, sep, n->kind == AZ_ROLE ? "role" : "user",
                 name ? name + 1 : res ? res + 1 : n->arn);
        break;
    }
}

/* One node: id the full ARN (unique), label short, tooltip the ARN. */
static void dot_node(const char *id, const char *label, const char *attrs)
{
    printf("  ");
    dot_str(id, 1024);
    printf(" [label=");
    dot_str(label, 300);
    printf(", tooltip=");
    dot_str(id, 1024);
    printf("%s%s];\n", *attrs ? ", " : "", attrs);
}

/* One edge: a short label (the step), the deciding statements in its
 * tooltip. */
static void dot_edge(const char *from, const char *to, const char *label, const char *evidence,
                     bool conditional, const char *attrs)
{
    printf("  ");
    dot_str(from, 1024);
    printf(" -> ");
    dot_str(to, 1024);
    printf(" [label=");
    dot_str(label, 100);
    printf(", tooltip=");
    dot_str(evidence, AZ_EV_MAX);
    printf("%s%s%s];\n", conditional ? ", style=dashed" : "", *attrs ? ", " : "", attrs);
}

/* "key alias/app" (the key's first alias), else "key 0f6c1a2b" (the
 * first characters of its id). */
static void dot_key_label(const struct az_graph *g, const struct az_target *t, char out[LABEL_MAX])
{
    (void)g;
    if (t->key_aliases && t->attrs.naliases)    /* fits: an alias name (asserted above) */
        snprintf(out, LABEL_MAX, "key %s", t->key_aliases[0].name);
    else
        snprintf(out, LABEL_MAX, "key %.8s", t->key.key_id);  /* fits: 12 characters */
}

/* The federated readers (federated.c), as the text and JSON list them: a
 * node per OpenID Connect provider (a diamond, dashed when the store no
 * longer holds it; "any issuer" for "Principal": "*") and an edge
 * AssumeRoleWithWebIdentity to each role it reads through, the trust
 * statement and its conditions in the tooltip (dashed when the role's
 * answer is conditional). */
#define DOT_ANY_ISSUER "tokens of any issuer"

static void dot_federated(const struct az_graph *g, const struct az_answer *ans)
{
    struct az_fed *fed = NULL;
    size_t nfed = 0;
    char label[LABEL_MAX], line[2048];
    if (tr_failed(az_federated(g, ans, &fed, &nfed))) {
        tr_clear_error();
        printf("  /* federated readers: not decided (out of memory) */\n");
        return;
    }
    for (size_t i = 0; i < nfed; i++) {
        bool any = strcmp(fed[i].provider, "*") == 0;
        const char *id = any ? DOT_ANY_ISSUER : fed[i].provider;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) seen = strcmp(fed[j].provider, fed[i].provider) == 0;
        if (!seen) {
            if (any) snprintf(label, sizeof label, "any issuer");       /* fits: a literal */
            else     /* fits: an issuer is shorter than a principal ARN (asserted above) */
                snprintf(label, sizeof label, "oidc-provider/%s", fed[i].issuer);
            dot_node(id, label, fed[i].provider_exists ? "shape=diamond" : "shape=diamond, style=dashed");
        }
        az_federated_words(g, &fed[i], line, sizeof line);
        dot_edge(id, g->n[fed[i].role].arn, "AssumeRoleWithWebIdentity", line, fed[i].conditional, "");
    }
    az_federated_free(fed, nfed);
}

/* Graphviz: the principals that can read, the roles on their paths, the
 * secret and the key, with short labels (full ARNs in tooltips: the
 * labels alone made drawings thousands of points wide); edges labeled
 * with their step, the allowing statements in their tooltips. */
static void report_dot(const struct az_graph *g, const struct az_target *t,
                       const struct az_access *acc, const struct az_answer *ans)
{
    bool *edge_done = calloc(g->ne + 1, sizeof *edge_done);
    bool *actor_done = calloc(g->nn + 1, sizeof *actor_done);
    bool *node_done = calloc(g->nn + 1, sizeof *node_done);
    char label[LABEL_MAX], step[80];
    if (!edge_done || !actor_done || !node_done) goto fail;
    printf("digraph who_can_decrypt {\n  rankdir=LR;\n  node [fontsize=10];\n"
           "  edge [fontsize=8];\n");
    /* fits: a secret name is at most SM_NAME_MAX (CreateSecret checks; asserted above) */
    snprintf(label, sizeof label, "secret %s", t->s.name);
    dot_node(t->s.arn, label, "shape=box, style=bold");
    if (t->have_key) {
        dot_key_label(g, t, label);
        dot_node(t->key.arn, label, "shape=hexagon");
    }
    for (size_t i = 0; i < g->nn; i++) {
        if (!ans[i].can) continue;
        for (size_t k = 0; k < ans[i].npath; k++) {
            size_t u = ans[i].path[k];
            if (node_done[u]) continue;
            node_done[u] = true;
            dot_node_label(&g->n[u], t->s.account, label);
            dot_node(g->n[u].arn, label, g->n[u].kind == AZ_ROLE
                     ? (ans[i].conditional ? "shape=ellipse, style=dashed" : "shape=ellipse")
                     : (ans[i].conditional ? "shape=box, style=dashed" : "shape=box"));
        }
        for (size_t k = 0; k + 1 < ans[i].npath; k++) {
            size_t e = ans[i].edges[k];
            if (edge_done[e]) continue;
            edge_done[e] = true;
            dot_edge(g->n[g->e[e].from].arn, g->n[g->e[e].to].arn, "AssumeRole",
                     g->e[e].evidence, g->e[e].conditional, "");
        }
        size_t q = ans[i].path[ans[i].npath - 1];
        if (actor_done[q]) continue;
        actor_done[q] = true;
        dot_edge(g->n[q].arn, t->s.arn, "GetSecretValue", acc[q].gsv_ev, false, "");
        if (t->have_key) {
            snprintf(step, sizeof step, "Decrypt (%s)", acc[q].kms_source); /* fits: a short word */
            dot_edge(g->n[q].arn, t->key.arn, step, acc[q].kms_ev, false, "color=gray");
        }
    }
    dot_federated(g, ans);
    printf("}\n");
fail:
    free(edge_done);
    free(actor_done);
    free(node_done);
}

/* ---- readers that share a path (text) ----------------------------------- */

/* Do readers i and j (users or roles) share their path?  Direct: the same
 * decisions, word for word (the members of one group, allowed by its
 * policy); through roles: the same roles and hops after the first, whose
 * own evidence names each of them. */
static bool same_path(const struct az_graph *g, const struct az_access *acc,
                      const struct az_answer *ans, size_t i, size_t j)
{
    const struct az_answer *a = &ans[i], *b = &ans[j];
    if (g->n[i].kind != g->n[j].kind || a->npath != b->npath || a->conditional != b->conditional)
        return false;
    if (a->npath == 1)
        return strcmp(acc[i].kms_source, acc[j].kms_source) == 0 &&
               strcmp(acc[i].gsv_ev, acc[j].gsv_ev) == 0 && strcmp(acc[i].kms_ev, acc[j].kms_ev) == 0 &&
               strcmp(acc[i].grant_id, acc[j].grant_id) == 0 && strcmp(acc[i].session, acc[j].session) == 0;
    const struct az_edge *ea = &g->e[a->edges[0]], *eb = &g->e[b->edges[0]];
    if (ea->conditional != eb->conditional || strcmp(ea->session, eb->session) != 0) return false;
    for (size_t k = 1; k < a->npath; k++)
        if (a->path[k] != b->path[k] || (k + 1 < a->npath && a->edges[k] != b->edges[k])) return false;
    return true;
}

struct reader_key {
    uint64_t h;
    size_t node;
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 1099511628211u;
    return h;
}

static uint64_t path_hash(const struct az_graph *g, const struct az_access *acc,
                          const struct az_answer *a, size_t i)
{
    uint64_t h = 1469598103934665603u;
    h = fnv(h, &g->n[i].kind, sizeof g->n[i].kind);
    h = fnv(h, &a->npath, sizeof a->npath);
    if (a->npath == 1) {
        h = fnv(h, acc[i].gsv_ev, strlen(acc[i].gsv_ev));
        return fnv(h, acc[i].kms_ev, strlen(acc[i].kms_ev));
    }
    return fnv(h, &a->path[1], (a->npath - 1) * sizeof a->path[1]);
}

static int cmp_key(const void *x, const void *y)
{
    const struct reader_key *a = x, *b = y;
    if (a->h != b->h) return a->h < b->h ? -1 : 1;
    return a->node < b->node ? -1 : a->node > b->node;
}

/* lead[i]: the first reader (in node order) of i's group of readers that
 * share a path (i itself when alone); size[i] for a leader: its members.
 * Users and roles only.  False when out of memory (then no groups). */
static bool group_readers(const struct az_graph *g, const struct az_access *acc,
                          const struct az_answer *ans, size_t *lead, size_t *size)
{
    struct reader_key *k = calloc(g->nn + 1, sizeof *k);
    size_t n = 0;
    for (size_t i = 0; i < g->nn; i++) {
        lead[i] = i;
        size[i] = 1;
    }
    if (!k) return false;
    for (size_t i = 0; i < g->nn; i++)
        if (ans[i].can && (g->n[i].kind == AZ_USER || g->n[i].kind == AZ_ROLE))
            k[n++] = (struct reader_key){ path_hash(g, acc, &ans[i], i), i };
    qsort(k, n, sizeof *k, cmp_key);
    /* Within a run of equal hashes, each joins the first that shares its
     * path (node order: leaders come first). */
    for (size_t a = 0; a < n;) {
        size_t b = a;
        while (b < n && k[b].h == k[a].h) b++;
        for (size_t x = a + 1; x < b; x++)
            for (size_t y = a; y < x; y++)
                if (lead[k[y].node] == k[y].node && same_path(g, acc, ans, k[x].node, k[y].node)) {
                    lead[k[x].node] = k[y].node;
                    size[k[y].node]++;
                    break;
                }
        a = b;
    }
    free(k);
    return true;
}

void az_report(const struct az_graph *g, const struct az_target *t, const struct az_access *acc,
               const struct az_answer *ans, enum az_format f)
{
    char word[WORD_MAX];
    if (f == AZ_DOT) {
        report_dot(g, t, acc, ans);
        return;
    }
    if (f == AZ_JSON) {
        json_t *o = az_report_json(g, t, acc, ans);
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s) puts(s);
        free(s);
        json_decref(o);
        return;
    }
    printf("secret: %s\nkey:    %s (%s)\n", t->s.arn, t->have_key ? t->key.arn : "-",
           t->have_key ? t->key.key_state : "-");
    if (!t->live) printf("nobody can read it now: %s\n", t->why_not_live);
    for (size_t i = 0; i < g->nn; i++)
        if (public_role(g, ans, i))
            printf("\nWARNING: role %s trusts every AWS account (\"AWS\": \"*\") with no\n"
                   "condition: any principal of any account whose own IAM allows sts:AssumeRole\n"
                   "can assume it, and through it read this secret.\n", g->n[i].arn);
    /* Readers that share a path print as one row and one path (JSON
     * keeps every one). */
    size_t *lead = calloc(g->nn + 1, sizeof *lead), *size = calloc(g->nn + 1, sizeof *size);
    bool grouped = lead && size && group_readers(g, acc, ans, lead, size);
    printf("\n%-64s  %-28s  %s\n", "PRINCIPAL", "ACCESS", "KEY PERMISSION");
    for (size_t i = 0; i < g->nn; i++) {
        if (!ans[i].can || (grouped && lead[i] != i)) continue;
        size_t q = ans[i].path[ans[i].npath - 1];
        char label[PRINCIPAL_ARN_MAX];
        access_word(g, &ans[i], word);
        principal_label(g, &g->n[i], label);
        if (grouped && size[i] > 1) {
            char head[64];
            snprintf(head, sizeof head, "%zu %ss sharing one path:", size[i],  /* fits: 20+4+21 */
                     kind_word(g->n[i].kind));
            printf("%-64s  %-28s  %s\n", head, word, acc[q].kms_source);
            for (size_t j = i; j < g->nn; j++)
                if (ans[j].can && lead[j] == i) printf("  %s\n", g->n[j].arn);
        } else {
            printf("%-64s  %-28s  %s\n", label, word, acc[q].kms_source);
        }
        for (size_t k = 0; k + 1 < ans[i].npath; k++)
            if (g->e[ans[i].edges[k]].session[0])
                printf("%-64s  (%s only as session %s)\n", "",
                       g->n[g->e[ans[i].edges[k]].from].arn, g->e[ans[i].edges[k]].session);
        if (acc[q].session[0]) printf("%-64s  (as session %s)\n", "", acc[q].session);
        if (ans[i].conditional) printf("%-64s  %s\n", "", "(conditional: see below)");
    }
    size_t nreaders = 0;
    for (size_t i = 0; i < g->nn; i++) nreaders += ans[i].can;
    if (nreaders == 0) printf("(nobody)\n");
    federated_section(g, ans);
    everyone_note(g, t, ans);
    bool cut_head = false;
    for (size_t i = 0; i < g->nn; i++) {
        if (ans[i].can || ans[i].cut_at == SIZE_MAX) continue;
        if (!cut_head)
            printf("\nnot followed (chains longer than %d hops are not followed; these may read "
                   "through one):\n", AZ_MAX_HOPS);
        cut_head = true;
        printf("  %s can assume %s, %d role hops from a reader: chains longer than %d hops "
               "are not followed\n", g->n[i].arn, g->n[ans[i].cut_at].arn, AZ_MAX_HOPS,
               AZ_MAX_HOPS);
    }
    printf("\npaths:\n");
    for (size_t i = 0; i < g->nn; i++) {
        if (!ans[i].can || (grouped && lead[i] != i)) continue;
        if (grouped && size[i] > 1)
            printf("  the %zu %ss above, one path; as %s%s\n", size[i], kind_word(g->n[i].kind),
                   g->n[i].arn, ans[i].conditional ? " (allowed only if the conditions below hold)" : "");
        else
            printf("  %s%s\n", g->n[i].arn, ans[i].conditional ? " (allowed only if the conditions below hold)" : "");
        print_path(g, acc, &ans[i]);
        if (grouped && size[i] > 1 && ans[i].npath > 1)
            printf("      (the first hop of each of the others: its own statements; --explain "
                   "PRINCIPAL or --format json lists them)\n");
    }
    free(lead);
    free(size);
}

void az_explain(const struct az_graph *g, const struct az_target *t, const struct az_access *acc,
                const struct az_answer *ans, size_t node, enum az_format f)
{
    const struct az_answer *a = &ans[node];
    if (f == AZ_JSON) {
        json_t *o = json_pack("{s:o, s:s, s:b, s:b}", "secret", target_json(t), "principal",
                              g->n[node].arn, "canDecrypt", a->can, "conditional", a->conditional);
        json_t *own = json_pack("{s:b, s:s, s:b, s:s, s:s}", "getSecretValue", acc[node].gsv,
                                "getSecretValueEvidence", acc[node].gsv_ev, "kmsDecrypt",
                                acc[node].kms, "kmsSource", acc[node].kms_source, "kmsEvidence",
                                acc[node].kms_ev);
        json_object_set_new(o, "direct", own);
        json_object_set_new(o, "path", a->can ? path_json(g, acc, a) : json_array());
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s) puts(s);
        free(s);
        json_decref(o);
        return;
    }
    printf("principal: %s\nsecret:    %s\nanswer:    %s\n", g->n[node].arn, t->s.arn,
           a->can ? (a->conditional ? "can decrypt, only if conditions hold" : "can decrypt")
                  : "cannot decrypt");
    if (!t->live) printf("why:       %s\n", t->why_not_live);
    printf("\nas itself:\n");
    struct az_answer self = { .node = node, .path = { node }, .npath = 1 };
    print_path(g, acc, &self);
    size_t nroles = 0;
    for (size_t e = 0; e < g->ne; e++) nroles += g->e[e].from == node;
    printf("\nroles it can assume directly: %zu\n", nroles);
    for (size_t e = 0; e < g->ne; e++)
        if (g->e[e].from == node) printf("  %s\n    %s\n", g->n[g->e[e].to].arn, g->e[e].evidence);
    if (a->can && a->npath > 1) {
        printf("\npath:\n");
        print_path(g, acc, a);
    }
}

TR_RESULT az_report_principal_begin(const struct az_graph *g, size_t node, enum az_format f)
{
    if (f == AZ_HTML) {
        json_t *m = json_pack("{s:s, s:s, s:s}", "view", "what-can-decrypt", "principal",
                              g->n[node].arn, "type", kind_word(g->n[node].kind));
        tr_result r = m ? az_html_begin(stdout, m) : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        json_decref(m);
        return r;
    }
    if (f == AZ_JSON) {
        json_t *p = json_string(g->n[node].arn), *k = json_string(kind_word(g->n[node].kind));
        char *ps = p ? json_dumps(p, JSON_ENCODE_ANY) : NULL;
        char *ks = k ? json_dumps(k, JSON_ENCODE_ANY) : NULL;
        printf("{\"principal\": %s, \"type\": %s, \"secrets\": [", ps ? ps : "null",
               ks ? ks : "null");
        free(ps);
        free(ks);
        json_decref(p);
        json_decref(k);
        return TR_OK;
    }
    printf("principal: %s\n\n%-72s  %-28s  %s\n", g->n[node].arn, "SECRET", "ACCESS",
           "KEY PERMISSION");
    return TR_OK;
}

TR_RESULT az_report_principal_one(const struct az_graph *g, const struct az_target *t,
                                  const struct az_access *acc, const struct az_answer *a,
                                  enum az_format f, FILE *paths, size_t *count)
{
    char word[WORD_MAX];
    if (!a->can) return TR_OK;
    size_t q = a->path[a->npath - 1];
    if (f == AZ_JSON || f == AZ_HTML) {
        json_t *o = json_pack("{s:o, s:s, s:b, s:s, s:o}",
            "secret", target_json(t), "access", a->npath > 1 ? "via-role" : "direct",
            "conditional", a->conditional, "keyPermission", acc[q].kms_source,
            "path", path_json(g, acc, a));
        char *s = o && f == AZ_JSON ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (s) printf("%s\n%s", *count ? "," : "", s);
        tr_result r = !o || (f == AZ_JSON && !s) ? tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL)
                    : f == AZ_HTML ? az_html_answer(stdout, o) : TR_OK;
        free(s);
        json_decref(o);
        (*count)++;
        return r;
    }
    access_word(g, a, word);
    printf("%-72s  %-28s  %s%s\n", t->s.arn, word, acc[q].kms_source,
           a->conditional ? " (conditional)" : "");
    if (paths) {
        fprintf(paths, "  %s%s\n", t->s.arn,
                a->conditional ? " (allowed only if the conditions below hold)" : "");
        print_path_to(paths, g, acc, a);
    }
    (*count)++;
    return TR_OK;
}

TR_RESULT az_report_principal_end(size_t count, enum az_format f, const char *paths, size_t npaths,
                                  const json_t *gaps)
{
    if (f == AZ_HTML) return az_html_end(stdout);
    if (f == AZ_JSON) {
        char *g = gaps ? json_dumps(gaps, JSON_COMPACT) : NULL;
        ENSURE(!gaps || g, TR_E_INTERNAL);
        printf("]%s%s}\n", g ? ", \"gaps\": " : "", g ? g : "");
        free(g);
        return TR_OK;
    }
    if (count == 0) printf("(none)\n");
    printf("\npaths:\n");
    if (paths && npaths) fwrite(paths, 1, npaths, stdout);
    size_t i;
    json_t *v;
    if (json_array_size(gaps) > 0)
        printf("\nGAPS: the snapshot lacks what this answer may depend on; it may be incomplete:\n");
    json_array_foreach(gaps, i, v) printf("  %s\n", json_string_value(v));
    return TR_OK;
}

void az_report_diff(const struct az_graph *g, const struct az_target *before,
                    const struct az_answer *ans_before, const struct az_target *after,
                    const struct az_answer *ans_after, enum az_format f)
{
    if (f == AZ_JSON) {
        json_t *gained = json_array(), *lost = json_array();
        for (size_t i = 0; i < g->nn; i++) {
            if (ans_after[i].can && !ans_before[i].can)
                json_array_append_new(gained, json_string(g->n[i].arn));
            if (!ans_after[i].can && ans_before[i].can)
                json_array_append_new(lost, json_string(g->n[i].arn));
        }
        json_t *o = json_pack("{s:s, s:s?, s:s?, s:o, s:o}", "secret", before->s.arn, "key",
                              before->have_key ? before->key.arn : NULL, "withKey",
                              after->have_key ? after->key.arn : NULL, "gained", gained,
                              "lost", lost);
        char *s = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        if (s) puts(s);
        free(s);
        json_decref(o);
        return;
    }
    size_t n = 0;
    printf("secret:   %s\nkey:      %s\nwith key: %s\n\n", before->s.arn,
           before->have_key ? before->key.arn : "-", after->have_key ? after->key.arn : "-");
    for (size_t i = 0; i < g->nn; i++) {
        if (ans_after[i].can == ans_before[i].can) continue;
        printf("%c %s\n", ans_after[i].can ? '+' : '-', g->n[i].arn);
        n++;
    }
    if (n == 0) printf("(no change)\n");
}

void az_report_escalations(const struct az_graph *g, const struct az_escalation *e, size_t n,
                           enum az_format f, json_t *o)
{
    if (f == AZ_JSON) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *x = json_pack("{s:s, s:s, s:s, s:s, s:b}", "principal", g->n[e[i].node].arn,
                                  "action", e[i].action, "resource", e[i].resource,
                                  "evidence", e[i].evidence, "conditional", e[i].conditional);
            if (x && e[i].via != SIZE_MAX)
                json_object_set_new(x, "via", json_string(g->n[e[i].via].arn));
            json_array_append_new(arr, x);
        }
        if (o) json_object_set_new(o, "canGainAccess", arr);
        else json_decref(arr);
        return;
    }
    printf("\ncan gain access (cannot read now, may change the answer):\n");
    if (n == 0) printf("  (nobody)\n");
    for (size_t i = 0; i < n; i++)
        printf("  %s\n    %s%s%s%s on %s%s\n      %s\n", g->n[e[i].node].arn,
               e[i].via != SIZE_MAX ? "as " : "", e[i].via != SIZE_MAX ? g->n[e[i].via].arn : "",
               e[i].via != SIZE_MAX ? ": " : "", e[i].action, e[i].resource,
               e[i].conditional ? " (only if conditions hold)" : "", e[i].evidence);
}
