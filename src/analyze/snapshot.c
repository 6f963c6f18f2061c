/*
 * snapshot.c -- read a snapshot (docs/SNAPSHOTS.md): AWS's own responses
 * for one account, as `tresor snapshot collect` writes them or a team
 * assembles them from AWS CLI output files.
 *
 * The file is untrusted input: anything may be missing, of the wrong type
 * or absurdly long.  Every member the analysis reads is checked here for
 * the type and the presence AWS's response shapes promise (the botocore
 * models: iam GetAccountAuthorizationDetails, kms DescribeKey,
 * GetKeyPolicy, ListGrants, ListResourceTags, ListAliases, ListKeys,
 * secretsmanager ListSecrets, GetResourcePolicy), and a failure names the
 * file and the place in it ("prod.json: Regions.us-east-1.Keys.<id>.
 * DescribeKey: KeyMetadata is missing").  Members the analysis does not
 * read are left alone, so newer AWS responses still load.
 *
 * A paged call is a list of pages; one object where a list is expected is
 * one page (the AWS CLI merges a paginated call's pages into one
 * response).  Gaps are what the manifest lists (AccessDenied during
 * collection) plus what the file shows missing: a key that ListKeys names
 * without its DescribeKey, GetKeyPolicy or ListGrants, a secret without
 * GetResourcePolicy, a region of the manifest without its responses, no
 * GetAccountAuthorizationDetails.  An answer built on a snapshot with gaps
 * must say so.
 */
#include "analyze/snapshot.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "core/str.h"

#define WHERE_MAX 512

struct rd {
    const char *name;
    struct snapshot *s;
};

/* "NAME: WHERE: <fmt>" as a ValidationException; always a failure. */
__attribute__((format(printf, 3, 4)))
static tr_result bad(const struct rd *r, const char *where, const char *fmt, ...)
{
    char msg[TR_ERR_MSG_MAX - 600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0) msg[0] = '\0';
    return tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION, "%.200s: %.300s%s%s", r->name, where,
                      *where ? ": " : "", msg);
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* A string member; required: missing is an error.  *out NULL when absent. */
static TR_RESULT get_str(const struct rd *r, const char *where, json_t *o, const char *m, bool required,
                         const char **out)
{
    json_t *v = json_object_get(o, m);
    /* A required member is never NULL, not even on failure. */
    *out = required ? "" : NULL;
    if (!v) {
        if (required) return bad(r, where, "%s is missing", m);
        return TR_OK;
    }
    if (!json_is_string(v)) return bad(r, where, "%s must be a string, not %s", m, type_name(v));
    if (required && json_string_length(v) == 0) return bad(r, where, "%s is empty", m);
    *out = json_string_value(v);
    return TR_OK;
}

/* An object member; *out NULL when absent and not required. */
static TR_RESULT get_obj(const struct rd *r, const char *where, json_t *o, const char *m, bool required,
                         json_t **out)
{
    json_t *v = json_object_get(o, m);
    *out = NULL;
    if (!v) {
        if (required) return bad(r, where, "%s is missing", m);
        return TR_OK;
    }
    if (!json_is_object(v)) return bad(r, where, "%s must be an object, not %s", m, type_name(v));
    *out = v;
    return TR_OK;
}

static TR_RESULT join(char *buf, const char *where, const char *m)
{
    return str_format(buf, WHERE_MAX, "the place in the snapshot", "%s%s%s", where, *where ? "." : "", m);
}

static TR_RESULT add_gap(struct snapshot *s, int listed, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static TR_RESULT add_gap(struct snapshot *s, int listed, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    ENSURE(n >= 0, TR_E_INTERNAL);
    struct snap_gap *v = array_grow(s->gaps, &s->capgaps, s->ngaps, sizeof *v, 8);
    ENSURE(v != NULL, TR_E_INTERNAL);
    s->gaps = v;
    char *dup = strdup(text);
    ENSURE(dup != NULL, TR_E_INTERNAL);
    s->gaps[s->ngaps++] = (struct snap_gap){ .what = dup, .listed = listed };
    return TR_OK;
}

/* Does a gap of the manifest already say that operation `op` on the
 * resource `res` (a key id, a key ARN, a secret ARN) was refused? */
static bool listed(const struct snapshot *s, const char *op, const char *res)
{
    size_t n = strlen(res);
    for (size_t i = 0; i < s->ngaps; i++) {
        const struct snap_gap *g = &s->gaps[i];
        if (!g->listed || !g->operation || strcmp(g->operation, op) != 0) continue;
        if (!g->resource) return true;
        size_t m = strlen(g->resource);
        if (strcmp(g->resource, res) == 0 || (m > n && g->resource[m - n - 1] == '/' &&
                                              strcmp(g->resource + m - n, res) == 0))
            return true;
    }
    return false;
}

/* Append the elements of pages[*].member (each an object) to *v. */
static TR_RESULT flatten(const struct rd *r, const char *where, json_t *pages, const char *member,
                         json_t ***v, size_t *n, size_t *cap)
{
    size_t i;
    json_t *page;
    char w[WHERE_MAX];
    json_array_foreach(pages, i, page) {
        GUARD(str_format(w, sizeof w, "the place in the snapshot", "%s[%zu]", where, i));
        json_t *list = json_object_get(page, member);
        if (!list) continue;
        if (!json_is_array(list)) return bad(r, w, "%s must be a list, not %s", member, type_name(list));
        size_t j;
        json_t *e;
        json_array_foreach(list, j, e) {
            if (!json_is_object(e))
                return bad(r, w, "%s[%zu] must be an object, not %s", member, j, type_name(e));
            json_t **grown = array_grow(*v, cap, *n, sizeof *grown, 16);
            ENSURE(grown != NULL, TR_E_INTERNAL);
            *v = grown;
            (*v)[(*n)++] = e;
        }
    }
    return TR_OK;
}

/* A paged call's member `m` of o: a list of page objects, or one page
 * object (made a list of one, kept in o so that it is freed with it).
 * *out NULL when absent. */
static TR_RESULT get_pages(const struct rd *r, const char *where, json_t *o, const char *m, json_t **out)
{
    json_t *v = json_object_get(o, m);
    char w[WHERE_MAX];
    *out = NULL;
    if (!v) return TR_OK;
    GUARD(join(w, where, m));
    if (json_is_object(v)) {
        json_t *list = json_array();
        ENSURE(list != NULL && json_array_append(list, v) == 0, TR_E_INTERNAL);
        ENSURE(json_object_set_new(o, m, list) == 0, TR_E_INTERNAL);
        v = list;
    }
    if (!json_is_array(v)) return bad(r, w, "must be a list of pages (or one page), not %s", type_name(v));
    size_t i;
    json_t *p;
    json_array_foreach(v, i, p)
        if (!json_is_object(p)) return bad(r, w, "page %zu must be an object, not %s", i, type_name(p));
    *out = v;
    return TR_OK;
}

/* Each element of list must have the string members req (NULL-ended). */
static TR_RESULT require_strs(const struct rd *r, const char *where, const char *what, json_t *const *v,
                              size_t n, const char *const *req)
{
    char w[WHERE_MAX];
    for (size_t i = 0; i < n; i++) {
        GUARD(str_format(w, sizeof w, "the place in the snapshot", "%s: %s %zu", where, what, i));
        for (const char *const *m = req; *m; m++) {
            const char *s;
            GUARD(get_str(r, w, v[i], *m, true, &s));
        }
    }
    return TR_OK;
}

/* The `member` lists of a paged call's pages (the call `op` of where),
 * appended to *v; each element appended must have the string members req
 * (NULL-ended), `what` naming one in errors. */
static TR_RESULT read_list(const struct rd *r, const char *where, const char *op, json_t *pages,
                           const char *member, const char *what, const char *const *req, json_t ***v,
                           size_t *n, size_t *cap)
{
    char w[WHERE_MAX];
    size_t from = *n;
    GUARD(join(w, where, op));
    GUARD(flatten(r, w, pages, member, v, n, cap));
    return require_strs(r, w, what, *v + from, *n - from, req);
}

/* A policy document as IAM responses carry it: the AWS CLI's decoded
 * object, or its JSON text. */
static TR_RESULT check_doc(const struct rd *r, const char *where, json_t *o, const char *m, bool required)
{
    json_t *v = json_object_get(o, m);
    if (!v) {
        if (required) return bad(r, where, "%s is missing", m);
        return TR_OK;
    }
    if (!json_is_object(v) && !json_is_string(v))
        return bad(r, where, "%s must be a policy document (an object or its JSON text), not %s", m, type_name(v));
    return TR_OK;
}

static TR_RESULT read_iam(const struct rd *r, json_t *doc)
{
    struct snapshot *s = r->s;
    json_t *pages;
    GUARD(get_pages(r, "", doc, "GetAccountAuthorizationDetails", &pages));
    if (!pages && listed(s, "GetAccountAuthorizationDetails", "")) return TR_OK;
    if (!pages) return add_gap(s, 0, "iam GetAccountAuthorizationDetails: not in the snapshot");
    const char *w = "GetAccountAuthorizationDetails";
    GUARD(flatten(r, w, pages, "UserDetailList", &s->users, &s->nusers, &s->capusers));
    GUARD(flatten(r, w, pages, "GroupDetailList", &s->groups, &s->ngroups, &s->capgroups));
    GUARD(flatten(r, w, pages, "RoleDetailList", &s->roles, &s->nroles, &s->caproles));
    GUARD(flatten(r, w, pages, "Policies", &s->policies, &s->npolicies, &s->cappolicies));
    static const char *const user_req[] = { "UserName", "UserId", "Arn", NULL };
    static const char *const group_req[] = { "GroupName", "GroupId", "Arn", NULL };
    static const char *const role_req[] = { "RoleName", "RoleId", "Arn", NULL };
    static const char *const pol_req[] = { "PolicyName", "Arn", "DefaultVersionId", NULL };
    GUARD(require_strs(r, w, "user", s->users, s->nusers, user_req));
    GUARD(require_strs(r, w, "group", s->groups, s->ngroups, group_req));
    GUARD(require_strs(r, w, "role", s->roles, s->nroles, role_req));
    GUARD(require_strs(r, w, "policy", s->policies, s->npolicies, pol_req));
    char where[WHERE_MAX];
    for (size_t i = 0; i < s->nroles; i++) {
        GUARD(str_format(where, sizeof where, "the place", "%s: role %zu", w, i));
        GUARD(check_doc(r, where, s->roles[i], "AssumeRolePolicyDocument", true));
    }
    for (size_t i = 0; i < s->npolicies; i++) {
        GUARD(str_format(where, sizeof where, "the place", "%s: policy %zu", w, i));
        json_t *vl = json_object_get(s->policies[i], "PolicyVersionList");
        if (!json_is_array(vl)) return bad(r, where, "PolicyVersionList must be a list");
        size_t j;
        json_t *ver;
        json_array_foreach(vl, j, ver) {
            if (!json_is_object(ver)) return bad(r, where, "PolicyVersionList[%zu] must be an object", j);
            GUARD(check_doc(r, where, ver, "Document", true));
        }
    }
    return TR_OK;
}

static TR_RESULT read_key(const struct rd *r, const char *region, const char *where, const char *id,
                          json_t *o, struct snap_key *k)
{
    struct snapshot *s = r->s;
    json_t *d, *p, *pages;
    k->region = region;
    k->key_id = id;
    if (!json_is_object(o)) return bad(r, where, "must be an object, not %s", type_name(o));
    GUARD(get_obj(r, where, o, "DescribeKey", false, &d));
    if (d) {
        char w[WHERE_MAX];
        GUARD(join(w, where, "DescribeKey"));
        GUARD(get_obj(r, w, d, "KeyMetadata", true, &k->metadata));
        GUARD(join(w, w, "KeyMetadata"));
        const char *kid, *arn, *state;
        GUARD(get_str(r, w, k->metadata, "KeyId", true, &kid));
        GUARD(get_str(r, w, k->metadata, "Arn", true, &arn));
        GUARD(get_str(r, w, k->metadata, "KeyState", true, &state));
        if (strcmp(kid, id) != 0) return bad(r, w, "KeyId '%.64s' is not the key it is filed under", kid);
    } else if (!listed(s, "DescribeKey", id)) {
        GUARD(add_gap(s, 0, "kms DescribeKey %s %s: not in the snapshot", region, id));
    }
    GUARD(get_obj(r, where, o, "GetKeyPolicy", false, &p));
    if (p) {
        char w[WHERE_MAX];
        GUARD(join(w, where, "GetKeyPolicy"));
        GUARD(get_str(r, w, p, "Policy", true, &k->policy));
    } else if (!listed(s, "GetKeyPolicy", id)) {
        GUARD(add_gap(s, 0, "kms GetKeyPolicy %s %s: not in the snapshot", region, id));
    }
    GUARD(get_pages(r, where, o, "ListGrants", &pages));
    if (pages) {
        static const char *const req[] = { "GrantId", "GranteePrincipal", NULL };
        GUARD(read_list(r, where, "ListGrants", pages, "Grants", "grant", req, &k->grants, &k->ngrants,
                        &k->capgrants));
        for (size_t i = 0; i < k->ngrants; i++) {
            if (json_is_array(json_object_get(k->grants[i], "Operations"))) continue;
            char w[WHERE_MAX];
            GUARD(join(w, where, "ListGrants"));
            return bad(r, w, "grant %zu: Operations must be a list", i);
        }
    } else if (!listed(s, "ListGrants", id)) {
        GUARD(add_gap(s, 0, "kms ListGrants %s %s: not in the snapshot", region, id));
    }
    GUARD(get_pages(r, where, o, "ListResourceTags", &pages));
    if (pages) {
        static const char *const req[] = { "TagKey", NULL };
        GUARD(read_list(r, where, "ListResourceTags", pages, "Tags", "tag", req, &k->tags, &k->ntags,
                        &k->captags));
    }
    return TR_OK;
}

static TR_RESULT read_region(const struct rd *r, const char *region, json_t *o)
{
    struct snapshot *s = r->s;
    char where[WHERE_MAX], w[WHERE_MAX];
    GUARD(str_format(where, sizeof where, "the place", "Regions.%s", region));
    if (!json_is_object(o)) return bad(r, where, "must be an object, not %s", type_name(o));

    json_t *pages, **keys = NULL;
    GUARD(get_pages(r, where, o, "ListKeys", &pages));
    if (pages) {
        size_t nk = 0, capk = 0;
        GUARD(join(w, where, "ListKeys"));
        tr_result rc = flatten(r, w, pages, "Keys", &keys, &nk, &capk);
        free(keys);
        GUARD(rc);
    } else if (!listed(s, "ListKeys", region)) {
        GUARD(add_gap(s, 0, "kms ListKeys %s: not in the snapshot", region));
    }
    json_t *per_key;
    GUARD(get_obj(r, where, o, "Keys", false, &per_key));
    if (per_key) {
        const char *id;
        json_t *k;
        json_object_foreach(per_key, id, k) {
            struct snap_key *v = array_grow(s->keys, &s->capkeys, s->nkeys, sizeof *v, 16);
            ENSURE(v != NULL, TR_E_INTERNAL);
            s->keys = v;
            memset(&s->keys[s->nkeys], 0, sizeof *v);
            s->nkeys++;
            GUARD(str_format(w, sizeof w, "the place", "%s.Keys.%.64s", where, id));
            GUARD(read_key(r, region, w, id, k, &s->keys[s->nkeys - 1]));
        }
    }
    /* Every key ListKeys names has its responses (or is a gap). */
    if (pages) {
        size_t i, j;
        json_t *page, *e;
        json_array_foreach(pages, i, page) {
            json_array_foreach(json_object_get(page, "Keys"), j, e) {
                const char *id = json_string_value(json_object_get(e, "KeyId"));
                if (!id) return bad(r, where, "ListKeys page %zu: key %zu has no KeyId", i, j);
                if (!per_key || !json_object_get(per_key, id))
                    GUARD(add_gap(s, 0, "kms DescribeKey, GetKeyPolicy, ListGrants %s %s: not in the "
                                  "snapshot", region, id));
            }
        }
    }

    GUARD(get_pages(r, where, o, "ListAliases", &pages));
    if (pages) {
        size_t from = s->naliases;
        static const char *const req[] = { "AliasName", NULL };
        GUARD(read_list(r, where, "ListAliases", pages, "Aliases", "alias", req, &s->aliases,
                        &s->naliases, &s->capaliases));
        const char **v = realloc(s->alias_regions, (s->capaliases ? s->capaliases : 1) * sizeof *v);
        ENSURE(v != NULL, TR_E_INTERNAL);
        s->alias_regions = v;
        for (size_t i = from; i < s->naliases; i++) v[i] = region;
    } else if (!listed(s, "ListAliases", region)) {
        GUARD(add_gap(s, 0, "kms ListAliases %s: not in the snapshot", region));
    }

    GUARD(get_pages(r, where, o, "ListSecrets", &pages));
    if (!pages && listed(s, "ListSecrets", region)) return TR_OK;
    if (!pages) return add_gap(s, 0, "secretsmanager ListSecrets %s: not in the snapshot", region);
    json_t **entries = NULL;
    size_t n = 0, cap = 0;
    GUARD(join(w, where, "ListSecrets"));
    tr_result rc = flatten(r, w, pages, "SecretList", &entries, &n, &cap);
    static const char *const req[] = { "ARN", "Name", NULL };
    if (tr_ok(rc)) rc = require_strs(r, w, "secret", entries, n, req);
    json_t *per_secret = NULL;
    if (tr_ok(rc)) rc = get_obj(r, where, o, "Secrets", false, &per_secret);
    for (size_t i = 0; tr_ok(rc) && i < n; i++) {
        struct snap_secret *v = array_grow(s->secrets, &s->capsecrets, s->nsecrets, sizeof *v, 16);
        if (!v) {
            rc = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
            break;
        }
        s->secrets = v;
        struct snap_secret *sec = &s->secrets[s->nsecrets++];
        memset(sec, 0, sizeof *sec);
        sec->region = region;
        sec->entry = entries[i];
        sec->arn = json_string_value(json_object_get(entries[i], "ARN"));
        json_t *one = per_secret ? json_object_get(per_secret, sec->arn) : NULL;
        json_t *grp = NULL;
        if (one && !json_is_object(one)) {
            rc = bad(r, where, "Secrets.%.300s must be an object, not %s", sec->arn, type_name(one));
            break;
        }
        if (one) {
            rc = str_format(w, sizeof w, "the place", "%s.Secrets.%.300s.GetResourcePolicy", where, sec->arn);
            if (tr_ok(rc)) rc = get_obj(r, w, one, "GetResourcePolicy", false, &grp);
        }
        if (tr_ok(rc) && grp) {
            rc = get_str(r, w, grp, "ResourcePolicy", false, &sec->resource_policy);
        } else if (tr_ok(rc) && !listed(s, "GetResourcePolicy", sec->arn)) {
            rc = add_gap(s, 0, "secretsmanager GetResourcePolicy %s: not in the snapshot", sec->arn);
        }
    }
    free(entries);
    return rc;
}

static TR_RESULT read_manifest(const struct rd *r, json_t *doc)
{
    struct snapshot *s = r->s;
    json_t *m, *v;
    const char *acct;
    if (!json_is_object(doc)) return bad(r, "", "a snapshot is a JSON object, not %s", type_name(doc));
    v = json_object_get(doc, "TresorSnapshot");
    if (!v) return bad(r, "", "TresorSnapshot (the format's version) is missing: not a snapshot");
    if (!json_is_integer(v) || json_integer_value(v) != SNAPSHOT_VERSION)
        return bad(r, "TresorSnapshot", "version %s is not supported (this tresor reads %d)",
                   json_is_integer(v) ? "other than 1" : "not a number", SNAPSHOT_VERSION);
    GUARD(get_obj(r, "", doc, "Manifest", true, &m));
    GUARD(get_str(r, "Manifest", m, "Account", true, &acct));
    size_t len = strlen(acct);
    if (len != ACCOUNT_ID_LEN || strspn(acct, "0123456789") != len)
        return bad(r, "Manifest", "Account '%.40s' is not a 12-digit account id", acct);
    memcpy(s->account, acct, len + 1);
    GUARD(get_str(r, "Manifest", m, "CollectedAt", true, &s->collected_at));
    json_t *regs = json_object_get(m, "Regions");
    if (!json_is_array(regs) || json_array_size(regs) == 0)
        return bad(r, "Manifest", "Regions must be a non-empty list of regions");
    s->regions = calloc(json_array_size(regs), sizeof *s->regions);
    ENSURE(s->regions != NULL, TR_E_INTERNAL);
    size_t i;
    json_array_foreach(regs, i, v) {
        const char *reg = json_string_value(v);
        if (!reg || !region_valid(reg)) return bad(r, "Manifest", "Regions[%zu] is not a region", i);
        for (size_t j = 0; j < s->nregions; j++)
            if (s->regions[j] && strcmp(s->regions[j], reg) == 0)
                return bad(r, "Manifest", "Regions names %s twice", reg);
        s->regions[s->nregions++] = reg;
    }
    json_t *gaps = json_object_get(m, "Gaps");
    if (gaps && !json_is_array(gaps)) return bad(r, "Manifest", "Gaps must be a list");
    json_array_foreach(gaps, i, v) {
        char w[WHERE_MAX];
        const char *svc, *op, *reg, *res, *code;
        GUARD(str_format(w, sizeof w, "the place", "Manifest.Gaps[%zu]", i));
        if (!json_is_object(v)) return bad(r, w, "must be an object, not %s", type_name(v));
        GUARD(get_str(r, w, v, "Service", true, &svc));
        GUARD(get_str(r, w, v, "Operation", true, &op));
        GUARD(get_str(r, w, v, "Region", false, &reg));
        GUARD(get_str(r, w, v, "Resource", false, &res));
        GUARD(get_str(r, w, v, "ErrorCode", false, &code));
        GUARD(add_gap(s, 1, "%.40s %.80s%s%.40s%s%.400s: %.80s", svc, op, reg ? " " : "", reg ? reg : "",
                      res ? " " : "", res ? res : "", code ? code : "not collected"));
        s->gaps[s->ngaps - 1].operation = op;
        s->gaps[s->ngaps - 1].resource = res;
    }
    json_t *id;
    GUARD(get_obj(r, "", doc, "GetCallerIdentity", false, &id));
    if (id) {
        const char *a;
        GUARD(get_str(r, "GetCallerIdentity", id, "Account", true, &a));
        if (strcmp(a, s->account) != 0)
            return bad(r, "GetCallerIdentity", "Account %.40s is not the manifest's account %s", a, s->account);
    }
    return TR_OK;
}

static TR_RESULT read_all(const struct rd *r)
{
    struct snapshot *s = r->s;
    GUARD(read_manifest(r, s->doc));
    GUARD(read_iam(r, s->doc));
    json_t *regions;
    GUARD(get_obj(r, "", s->doc, "Regions", false, &regions));
    for (size_t i = 0; i < s->nregions; i++) {
        json_t *o = regions ? json_object_get(regions, s->regions[i]) : NULL;
        if (!o) {
            GUARD(add_gap(s, 0, "kms, secretsmanager %s: the region is not in the snapshot", s->regions[i]));
            continue;
        }
        GUARD(read_region(r, s->regions[i], o));
    }
    if (regions) {
        const char *name;
        json_t *o;
        json_object_foreach(regions, name, o) {
            bool listed = false;
            for (size_t i = 0; i < s->nregions; i++) listed |= strcmp(s->regions[i], name) == 0;
            if (!listed) return bad(r, "Regions", "%.40s is not in Manifest.Regions", name);
        }
    }
    return TR_OK;
}

TR_RESULT snapshot_parse(const char *text, size_t len, const char *name, struct snapshot *out)
{
    memset(out, 0, sizeof *out);
    struct rd r = { .name = name, .s = out };
    json_error_t je;
    GUARD(str_format(out->name, sizeof out->name, "the snapshot's name", "%.200s", name));
    out->doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!out->doc)
        return bad(&r, "", "not JSON (line %d, column %d): %.200s", je.line, je.column, je.text);
    tr_result rc = read_all(&r);
    if (!tr_ok(rc)) snapshot_free(out);
    return rc;
}

TR_RESULT snapshot_load(const char *path, struct snapshot *out)
{
    struct rd r = { .name = path, .s = out };
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return bad(&r, "", "cannot open: %s", strerror(errno));
    char *text = NULL;
    size_t len = 0, cap = 0;
    tr_result rc = TR_OK;
    for (;;) {
        if (len == cap) {
            if (cap >= SNAPSHOT_FILE_MAX) {
                rc = bad(&r, "", "larger than %zu bytes", SNAPSHOT_FILE_MAX);
                goto fail;
            }
            size_t ncap = cap ? cap * 2 : 1 << 16;
            char *v = realloc(text, ncap);
            if (!v) {
                rc = bad(&r, "", "out of memory reading it");
                goto fail;
            }
            text = v;
            cap = ncap;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        rc = bad(&r, "", "cannot read: %s", strerror(errno));
        goto fail;
    }
    rc = snapshot_parse(text, len, path, out);
fail:
    fclose(f);
    free(text);
    return rc;
}

void snapshot_free(struct snapshot *s)
{
    for (size_t i = 0; i < s->nkeys; i++) {
        free(s->keys[i].grants);
        free(s->keys[i].tags);
    }
    for (size_t i = 0; i < s->ngaps; i++) free(s->gaps[i].what);
    free(s->keys);
    free(s->gaps);
    free(s->secrets);
    free(s->aliases);
    free(s->alias_regions);
    free(s->users);
    free(s->groups);
    free(s->roles);
    free(s->policies);
    free(s->regions);
    json_decref(s->doc);
    memset(s, 0, sizeof *s);
}
