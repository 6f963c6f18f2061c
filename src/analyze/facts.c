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
