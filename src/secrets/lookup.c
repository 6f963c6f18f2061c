/*
 * lookup.c -- a secret by SecretId, as a request names it (contract in
 * lookup.h).
 *
 * Lookup (docs/AUTHORIZATION.md 5.1): a SecretId is a name (in the
 * caller's account and region), a full ARN, or a partial ARN (the ARN
 * without "-XXXXXX").  Names that are not ARNs must match
 * [A-Za-z0-9/_+=.@-] (params.c: sm_get_secret_id).  The request path's
 * per-thread cache of looked-up secrets (cache.c) sits in front of the
 * store.
 */
#include "secrets/lookup.h"

#include <stdio.h>
#include <string.h>

#include "core/cache.h"
#include "core/str.h"
#include "secrets/cache.h"

/* ---- lookup ----------------------------------------------------------------- */

/* What to load of a secret's versions: all (NULL), or what adding the
 * version *version needs (sm_load_labeled). */
static TR_RESULT load_as(store_t st, const struct ent_rec *e, const char *const *version,
                         struct secret *out)
{
    return version ? sm_load_labeled(st, e, *version, out) : sm_load(st, e, out);
}

static TR_RESULT lookup_name(store_t st, const char *account, const char *region,
                             const char *name, const char *const *version, struct secret *out,
                             bool *found)
{
    struct ent_rec e;
    char key[SM_ID_MAX + 80];
    *found = false;
    memset(out, 0, sizeof *out);
    if (strlen(name) > SM_NAME_MAX || strchr(name, ':')) return TR_OK;
    GUARD(str_format(key, sizeof key, "the secret's key", "%s:%s", region, name));
    memset(&e, 0, sizeof e);
    tr_result r = st[0]->ent_get(st, SM_KIND, account, key, &e);
    if (tr_failed(r)) return tr_code(r) == TR_E_STORE_NOT_FOUND ? TR_OK : r;
    r = load_as(st, &e, version, out);
    ent_rec_free(&e);
    GUARD(r);
    *found = true;
    return TR_OK;
}

TR_RESULT sm_lookup_name(store_t st, const char *account, const char *region,
                         const char *name, struct secret *out, bool *found)
{
    return lookup_name(st, account, region, name, NULL, out, found);
}

bool sm_parse_arn(const char *arn, struct sm_arn_parts *p)
{
    static const char PFX[] = "arn:aws:secretsmanager:";
    if (strncmp(arn, PFX, sizeof PFX - 1) != 0) return false;
    const char *reg = arn + sizeof PFX - 1;
    const char *c1 = strchr(reg, ':');
    if (!c1 || c1 == reg || (size_t)(c1 - reg) >= sizeof p->region) return false;
    const char *acct = c1 + 1;
    const char *c2 = strchr(acct, ':');
    if (!c2 || c2 - acct != ACCOUNT_ID_LEN) return false;
    if (strncmp(c2 + 1, "secret:", 7) != 0) return false;
    snprintf(p->region, sizeof p->region, "%.*s", (int)(c1 - reg), reg);      /* fits: checked above */
    snprintf(p->account, sizeof p->account, "%.*s", ACCOUNT_ID_LEN, acct);   /* fits: 12, checked above */
    p->rest = c2 + 8;
    return *p->rest != '\0';
}

static TR_RESULT lookup_store(struct req_ctx *rc, const char *secret_id,
                              const char *const *version, struct secret *out, bool *found);

/* Through the cache (secrets/cache.h); share: *out may be a view. */
static TR_RESULT lookup(struct req_ctx *rc, const char *secret_id, bool share, struct secret *out,
                        bool *found)
{
    struct cache_gen gen = CACHE_GEN_NONE;
    if (sm_cache_get(rc, secret_id, share, out, &gen)) {
        *found = true;
        return TR_OK;
    }
    GUARD(lookup_store(rc, secret_id, NULL, out, found));
    if (*found) sm_cache_put(rc, secret_id, gen, share, out);
    return TR_OK;
}

TR_RESULT sm_lookup(struct req_ctx *rc, const char *secret_id, struct secret *out, bool *found)
{
    return lookup(rc, secret_id, false, out, found);
}

TR_RESULT sm_lookup_shared(struct req_ctx *rc, const char *secret_id, struct secret *out, bool *found)
{
    return lookup(rc, secret_id, true, out, found);
}

TR_RESULT sm_lookup_for_version(struct req_ctx *rc, const char *secret_id, const char *version_id,
                                struct secret *out, bool *found)
{
    return lookup_store(rc, secret_id, &version_id, out, found);
}

static TR_RESULT lookup_store(struct req_ctx *rc, const char *secret_id,
                              const char *const *version, struct secret *out, bool *found)
{
    *found = false;
    memset(out, 0, sizeof *out);
    if (strncmp(secret_id, "arn:", 4) != 0)
        return lookup_name(rc->st, rc->who.account_id, rc->region, secret_id, version, out, found);
    struct sm_arn_parts p;
    if (!sm_parse_arn(secret_id, &p) || strcmp(p.region, rc->region) != 0) return TR_OK;
    struct ent_rec e;
    memset(&e, 0, sizeof e);
    tr_result r = rc->st[0]->ent_get_arn(rc->st, SM_KIND, secret_id, &e);
    if (tr_ok(r)) {
        r = load_as(rc->st, &e, version, out);
        ent_rec_free(&e);
        GUARD(r);
        *found = true;
        return TR_OK;
    }
    if (tr_code(r) != TR_E_STORE_NOT_FOUND) return r;
    /* A partial ARN is the ARN without "-XXXXXX".  An ARN whose seventh
     * character from the end is '-' is taken as a full ARN (AWS: the
     * partial ARN of a name like "x-a1b2c3" is not found). */
    size_t n = strlen(p.rest);
    if (n >= SM_SUFFIX_LEN + 1 && p.rest[n - SM_SUFFIX_LEN - 1] == '-') return TR_OK;
    return lookup_name(rc->st, p.account, p.region, p.rest, version, out, found);
}

TR_RESULT sm_find(struct req_ctx *rc, const char *secret_id, struct secret *out)
{
    bool found;
    GUARD(sm_lookup(rc, secret_id, out, &found));
    if (!found) BAIL(TR_E_SM_RESOURCE_NOT_FOUND, "%s", SM_MSG_NOT_FOUND);
    return TR_OK;
}

TR_RESULT sm_check_live(const struct secret *s)
{
    if (s->deleted_date != 0) BAIL(TR_E_SM_INVALID_REQUEST, "%s", SM_MSG_MARKED);
    return TR_OK;
}
