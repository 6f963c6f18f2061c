/*
 * snapshot_orgs.c -- a snapshot's AWS Organizations policies, read and
 * compiled for the evaluator (snapshot_orgs.h).
 *
 * The member, as AWS's Organizations API returns each part
 * (docs/SNAPSHOTS.md, "Organizations"):
 *
 *   "Organizations": {
 *     "DescribeOrganization": { "Organization": { "Id": "o-...", "MasterAccountId": "..." } },
 *     "Targets": [                                  the root first, the account last
 *       { "TargetId": "r-ab12", "Type": "ROOT",
 *         "ListPoliciesForTarget": { "SERVICE_CONTROL_POLICY": page or [pages],
 *                                    "RESOURCE_CONTROL_POLICY": page or [pages] } }, ...
 *     ],
 *     "Policies": { "p-...": { "Policy": { "PolicySummary": { ... }, "Content": "<JSON text>" } } }
 *   }
 *
 * "Organizations": {} says the account is in no organization; a snapshot
 * without the member does not say (its organization keys are then
 * unknown to the analysis, when another snapshot has the member).
 * A policy type listed at no level is not in force (the organization has
 * not enabled it, or it was not collected: the manifest's gaps say
 * which); listed at some levels only, the file is refused -- a level
 * without its list cannot be told from a level that allows nothing.
 */
#include "analyze/snapshot_orgs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"

#define ORG_TYPES 2
static const char *const TYPE_NAME[ORG_TYPES] = { "SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY" };

struct snapshot_orgs {
    struct iam_orgs view;
    /* Everything the view points to, freed with it. */
    struct org_level *levels;
    size_t nlevels, caplevels;
    struct named_policy *pols;
    size_t npols, cappols;
    char **strs;
    size_t nstrs, capstrs;
};

static tr_result bad(const struct snapshot *s, const char *where, const char *what)
{
    return tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION, "%.200s: Organizations%s%.200s: %.300s", s->name,
                      *where ? "." : "", where, what);
}

static TR_RESULT keep(struct snapshot_orgs *o, char *str)
{
    if (!str) return tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    if (o->nstrs == o->capstrs) {
        size_t cap = o->capstrs ? o->capstrs * 2 : 16;
        char **v = realloc(o->strs, cap * sizeof *v);
        if (!v) { free(str); return tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); }
        o->strs = v;
        o->capstrs = cap;
    }
    o->strs[o->nstrs++] = str;
    return TR_OK;
}

/* The pages of a paged call: a list of pages or one page. */
static json_t *pages_of(json_t *v, size_t i)
{
    if (json_is_array(v)) return json_array_get(v, i);
    return i == 0 ? v : NULL;
}

/* One policy of one level, compiled: name "p-... (Name) at r-.../ou-...". */
static TR_RESULT add_policy(struct snapshot_orgs *o, const struct snapshot *s, json_t *org, const char *id,
                            int type, const char *path)
{
    json_t *d = json_object_get(json_object_get(org, "Policies"), id);
    json_t *pol = json_object_get(d, "Policy");
    const char *content = json_string_value(json_object_get(pol, "Content"));
    const char *name = json_string_value(json_object_get(json_object_get(pol, "PolicySummary"), "Name"));
    char where[160], text[1400];
    GUARD(str_format(where, sizeof where, "the place", "Policies.%.60s", id));
    if (!content) return bad(s, where, "the policy's DescribePolicy (Policy.Content) is missing");
    GUARD(str_format(text, sizeof text, "the policy's label", "%.100s (%.128s) at %s", id,
                     name ? name : "?", path));
    char *label = strdup(text);
    GUARD(keep(o, label));
    struct policy *p = NULL;
    GUARD(policy_cache_get_stored(content, strlen(content), type == 0 ? POLICY_IDENTITY : POLICY_RESOURCE,
                                  NULL, label, &p));
    if (o->npols == o->cappols) {
        policy_unref(p);
        return tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    }
    o->pols[o->npols++] = (struct named_policy){ .p = p, .name = label };
    return TR_OK;
}

/* The levels of one policy type for one account. */
static TR_RESULT read_type(struct snapshot_orgs *o, const struct snapshot *s, json_t *org, json_t *targets,
                           int type, struct org_limits *lim)
{
    size_t nt = json_array_size(targets), have = 0;
    for (size_t i = 0; i < nt; i++)
        if (json_object_get(json_object_get(json_array_get(targets, i), "ListPoliciesForTarget"), TYPE_NAME[type]))
            have++;
    if (have == 0) return TR_OK;
    char where[160], path[1024] = "";
    if (have != nt) {
        return bad(s, "Targets", type == 0 ? "SERVICE_CONTROL_POLICY is listed at some levels and not at others"
                                       : "RESOURCE_CONTROL_POLICY is listed at some levels and not at others");
    }
    struct org_level *first = o->levels + o->nlevels;
    for (size_t i = 0; i < nt; i++) {
        json_t *t = json_array_get(targets, i);
        const char *tid = json_string_value(json_object_get(t, "TargetId"));
        GUARD(str_format(where, sizeof where, "the place", "Targets[%zu]", i));
        if (!tid || !*tid) return bad(s, where, "TargetId is missing");
        size_t pl = strlen(path);
        GUARD(str_format(path + pl, sizeof path - pl, "the level's path", "%s%.68s", pl ? "/" : "", tid));
        char *p = strdup(path);
        GUARD(keep(o, p));
        if (o->nlevels == o->caplevels) return tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        struct org_level *lv = &o->levels[o->nlevels++];
        *lv = (struct org_level){ .target = p, .pols = o->pols + o->npols };
        json_t *pages = json_object_get(json_object_get(t, "ListPoliciesForTarget"), TYPE_NAME[type]);
        json_t *page;
        for (size_t k = 0; (page = pages_of(pages, k)) != NULL; k++) {
            json_t *list = json_object_get(page, "Policies");
            if (!json_is_array(list)) return bad(s, where, "ListPoliciesForTarget's Policies must be a list");
            size_t j;
            json_t *e;
            json_array_foreach(list, j, e) {
                const char *id = json_string_value(json_object_get(e, "Id"));
                if (!id) return bad(s, where, "a policy of ListPoliciesForTarget has no Id");
                GUARD(add_policy(o, s, org, id, type, p));
                lv->n++;
            }
        }
    }
    *lim = (struct org_limits){ .levels = first, .n = nt };
    return TR_OK;
}

/* Upper bounds of what read_type adds, so the arrays never move once
 * the view points into them. */
static void count(const struct snapshot *s, size_t n, size_t *nlev, size_t *npol)
{
    for (size_t i = 0; i < n; i++) {
        json_t *targets = json_object_get(json_object_get(s[i].doc, "Organizations"), "Targets");
        size_t k;
        json_t *t;
        json_array_foreach(targets, k, t) {
            *nlev += ORG_TYPES;
            for (int ty = 0; ty < ORG_TYPES; ty++) {
                json_t *pages = json_object_get(json_object_get(t, "ListPoliciesForTarget"), TYPE_NAME[ty]);
                json_t *page;
                for (size_t p = 0; (page = pages_of(pages, p)) != NULL; p++)
                    *npol += json_array_size(json_object_get(page, "Policies"));
            }
        }
    }
}

static TR_RESULT read_one(struct snapshot_orgs *o, const struct snapshot *s, struct iam_org_account *a)
{
    memcpy(a->account, s->account, sizeof a->account);
    json_t *org = json_object_get(s->doc, "Organizations");
    if (!org) return TR_OK;
    if (!json_is_object(org)) return bad(s, "", "must be an object");
    a->known = true;
    /* {} (or no DescribeOrganization): in no organization -- what the
     * collector writes on AWSOrganizationsNotInUseException. */
    if (!json_object_get(org, "DescribeOrganization")) return TR_OK;
    json_t *desc = json_object_get(json_object_get(org, "DescribeOrganization"), "Organization");
    const char *id = json_string_value(json_object_get(desc, "Id"));
    const char *mgmt = json_string_value(json_object_get(desc, "MasterAccountId"));
    if (!id || strncmp(id, "o-", 2) != 0)
        return bad(s, "DescribeOrganization", "Organization.Id (o-...) is missing");
    a->org_id = id;
    a->management = mgmt && strcmp(mgmt, s->account) == 0;
    json_t *targets = json_object_get(org, "Targets");
    if (targets && !json_is_array(targets)) return bad(s, "Targets", "must be a list, the root first");
    json_t *pols = json_object_get(org, "Policies");
    if (pols && !json_is_object(pols)) return bad(s, "Policies", "must be an object, by policy id");
    if (json_array_size(targets) > 0) {
        /* aws:PrincipalOrgPaths: o-.../r-.../ou-.../, the account left out. */
        char path[1024];
        size_t at = 0;
        GUARD(str_format(path, sizeof path, "the organization path", "%.68s/", id));
        for (size_t i = 0; i + 1 < json_array_size(targets); i++) {
            const char *tid = json_string_value(json_object_get(json_array_get(targets, i), "TargetId"));
            if (!tid) return bad(s, "Targets", "TargetId is missing");
            at = strlen(path);
            GUARD(str_format(path + at, sizeof path - at, "the organization path", "%.68s/", tid));
        }
        char *p = strdup(path);
        GUARD(keep(o, p));
        a->org_path = p;
    }
    GUARD(read_type(o, s, org, targets, 0, &a->scp));
    GUARD(read_type(o, s, org, targets, 1, &a->rcp));
    return TR_OK;
}

TR_RESULT snapshot_orgs_build(const struct snapshot *s, size_t n, struct snapshot_orgs **out)
{
    *out = NULL;
    bool any = false;
    for (size_t i = 0; i < n; i++) any |= json_object_get(s[i].doc, "Organizations") != NULL;
    if (!any) return TR_OK;
    struct snapshot_orgs *o = calloc(1, sizeof *o);
    size_t nlev = 0, npol = 0;
    count(s, n, &nlev, &npol);
    tr_result r = TR_OK;
    if (o) {
        o->view.acc = calloc(n, sizeof *o->view.acc);
        o->levels = calloc(nlev + 1, sizeof *o->levels);
        o->pols = calloc(npol + 1, sizeof *o->pols);
        o->caplevels = nlev;
        o->cappols = npol;
    }
    if (!o || !o->view.acc || !o->levels || !o->pols) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        goto fail;
    }
    for (size_t i = 0; i < n && tr_ok(r); i++) {
        r = read_one(o, &s[i], &o->view.acc[i]);
        o->view.n = i + 1;
    }
    if (tr_failed(r)) goto fail;
    *out = o;
    return TR_OK;
fail:
    snapshot_orgs_free(o);
    return r;
}

const struct iam_orgs *snapshot_orgs_view(const struct snapshot_orgs *o)
{
    return o ? &o->view : NULL;
}

void snapshot_orgs_free(struct snapshot_orgs *o)
{
    if (!o) return;
    for (size_t i = 0; i < o->npols; i++) policy_unref((struct policy *)o->pols[i].p);
    for (size_t i = 0; i < o->nstrs; i++) free(o->strs[i]);
    free(o->strs);
    free(o->pols);
    free(o->levels);
    free(o->view.acc);
    free(o);
}
