/*
 * principals.c -- the principal an ARN or an access key names, as the
 * authenticated caller would be (`tresor policy simulate`), and whether a
 * principal exists (KMS key-policy validation); contract in principals.h.
 */
#include "iam/principals.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/str.h"
#include "iam/arn.h"
#include "iam/identity.h"

/* ---- principals by ARN --------------------------------------------------- */

/* What an ARN names (only the shapes principals take). */
enum arn_kind { AK_NONE, AK_ACCOUNT, AK_ROOT, AK_USER, AK_ROLE, AK_SESSION };

struct parsed_arn {
    enum arn_kind kind;
    char account[ACCOUNT_ID_LEN + 1];
    char role_name[128];          /* AK_SESSION */
    char session[128];            /* AK_SESSION */
};

static enum arn_kind classify(const char *arn, struct parsed_arn *pa)
{
    struct arn_parts p;
    memset(pa, 0, sizeof *pa);
    size_t len = strlen(arn);
    if (arn_account_id(arn, len)) {
        memcpy(pa->account, arn, ACCOUNT_ID_LEN);
        return pa->kind = AK_ACCOUNT;
    }
    if (!arn_split(arn, len, &p) || p.len[0] != 3 || memcmp(p.part[0], "arn", 3) != 0) return AK_NONE;
    if (!arn_partition_valid(p.part[1], p.len[1]) || p.len[3] != 0) return AK_NONE;
    if (!arn_account_id(p.part[4], p.len[4])) return AK_NONE;
    memcpy(pa->account, p.part[4], ACCOUNT_ID_LEN);
    const char *res = p.part[5];
    size_t rl = p.len[5];
    bool iam = p.len[2] == 3 && memcmp(p.part[2], "iam", 3) == 0;
    bool sts = p.len[2] == 3 && memcmp(p.part[2], "sts", 3) == 0;
    if (iam && rl == 4 && memcmp(res, "root", 4) == 0) return pa->kind = AK_ROOT;
    if (iam && rl > 5 && memcmp(res, "user/", 5) == 0 && res[rl - 1] != '/') return pa->kind = AK_USER;
    if (iam && rl > 5 && memcmp(res, "role/", 5) == 0 && res[rl - 1] != '/') return pa->kind = AK_ROLE;
    static const char ar[] = "assumed-role/";
    if (sts && rl > sizeof ar - 1 && memcmp(res, ar, sizeof ar - 1) == 0) {
        const char *name = res + sizeof ar - 1;
        const char *slash = strchr(name, '/');
        if (!slash || slash == name || !slash[1] || strchr(slash + 1, '/')) return AK_NONE;
        size_t nl = (size_t)(slash - name), sl = strlen(slash + 1);
        if (nl >= sizeof pa->role_name || sl >= sizeof pa->session) return AK_NONE;
        memcpy(pa->role_name, name, nl);
        memcpy(pa->session, slash + 1, sl);
        return pa->kind = AK_SESSION;
    }
    return AK_NONE;
}

/* found = false on not-found; other store errors propagate. */
static TR_RESULT lookup(tr_result r, bool *found)
{
    *found = tr_ok(r);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND) return TR_OK;
    return r;
}

TR_RESULT iam_principal_exists(store_t st, const char *arn, bool *out)
{
    struct parsed_arn pa;
    struct account_rec a;
    struct ent_rec e = { 0 };
    tr_result r = TR_OK;

    ENSURE_REF(st);
    ENSURE_REF(arn);
    ENSURE_REF(out);
    *out = false;
    /* A unique id: what IAM stores for a principal named by ARN. */
    if (strncmp(arn, "AIDA", 4) == 0 || strncmp(arn, "AROA", 4) == 0) {
        r = lookup(st[0]->ent_get_id(st, arn[1] == 'I' ? "user" : "role", arn, &e), out);
        ent_rec_free(&e);
        return r;
    }
    switch (classify(arn, &pa)) {
    case AK_ACCOUNT:
    case AK_ROOT:
        return lookup(st[0]->account_get(st, pa.account, &a), out);
    case AK_USER:
        r = lookup(st[0]->ent_get_arn(st, "user", arn, &e), out);
        break;
    case AK_ROLE:
        r = lookup(st[0]->ent_get_arn(st, "role", arn, &e), out);
        break;
    case AK_SESSION:
        r = lookup(st[0]->ent_get(st, "role", pa.account, pa.role_name, &e), out);
        break;
    default:
        return TR_OK;
    }
    ent_rec_free(&e);
    return r;
}

TR_RESULT iam_principal_from_arn(store_t st, const char *arn, struct principal *out)
{
    struct parsed_arn pa;
    struct account_rec a;
    struct ent_rec e = { 0 };
    bool found = false;
    tr_result r = TR_OK;

    ENSURE_REF(st);
    ENSURE_REF(arn);
    ENSURE_REF(out);
    memset(out, 0, sizeof *out);
    enum arn_kind kind = classify(arn, &pa);
    switch (kind) {
    case AK_ROOT:
        r = lookup(st[0]->account_get(st, pa.account, &a), &found);
        if (tr_failed(r) || !found) break;
        out->type = PRINCIPAL_ROOT;
        r = str_copy(out->arn, sizeof out->arn, arn, "principal ARN");
        if (tr_ok(r)) r = str_copy(out->id, sizeof out->id, pa.account, "account id");
        break;
    case AK_USER:
        r = lookup(st[0]->ent_get_arn(st, "user", arn, &e), &found);
        if (tr_ok(r) && found) r = iam_principal_from_ent(&e, NULL, out);
        break;
    case AK_ROLE:
    case AK_SESSION:
        if (kind == AK_ROLE) r = lookup(st[0]->ent_get_arn(st, "role", arn, &e), &found);
        else r = lookup(st[0]->ent_get(st, "role", pa.account, pa.role_name, &e), &found);
        if (tr_ok(r) && found) r = iam_principal_from_ent(&e, kind == AK_ROLE ? "simulated" : pa.session, out);
        break;
    default:
        break;
    }
    ent_rec_free(&e);
    GUARD(r);
    if (!found) {
        memset(out, 0, sizeof *out);
        BAIL(TR_E_IAM_NO_SUCH_ENTITY, "The principal %.512s does not exist.", arn);
    }
    return str_copy(out->account_id, sizeof out->account_id, pa.account, "account id");
}

TR_RESULT iam_principal_from_ent(const struct ent_rec *e, const char *session, struct principal *out)
{
    memset(out, 0, sizeof *out);
    bool user = strcmp(e->kind, "user") == 0;
    ENSURE(user || strcmp(e->kind, "role") == 0, TR_E_INTERNAL);
    if (user) {
        out->type = PRINCIPAL_USER;
        GUARD(str_copy(out->arn, sizeof out->arn, e->arn, "user ARN"));
        GUARD(str_copy(out->id, sizeof out->id, e->id, "user id"));
    } else {
        const char *sess = session ? session : "simulated";
        out->type = PRINCIPAL_ROLE_SESSION;
        GUARD(str_format(out->arn, sizeof out->arn, "session ARN", "arn:aws:sts::%s:assumed-role/%s/%s",
                         e->account_id, e->name, sess));
        GUARD(str_format(out->id, sizeof out->id, "session id", "%s:%s", e->id, sess));
        GUARD(str_copy(out->role_arn, sizeof out->role_arn, e->arn, "role ARN"));
    }
    return str_copy(out->account_id, sizeof out->account_id, e->account_id, "account id");
}

TR_RESULT iam_principal_from_access_key(store_t st, const char *akid, struct principal *out)
{
    struct access_key_rec k = { 0 };
    ENSURE_REF(st);
    ENSURE_REF(akid);
    ENSURE_REF(out);
    memset(out, 0, sizeof *out);
    tr_result r = st[0]->access_key_get(st, akid, &k);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND)
        BAIL(TR_E_IAM_NO_SUCH_ENTITY, "The access key %.64s does not exist.", akid);
    GUARD(r);
    out->type = k.principal_type;
    STR_COPY_ARRAY(out->account_id, k.account_id);
    STR_COPY_ARRAY(out->access_key_id, k.access_key_id);
    r = str_copy(out->arn, sizeof out->arn, k.principal_arn, "principal ARN");
    if (tr_ok(r)) r = str_copy(out->id, sizeof out->id, k.principal_id, "principal id");
    json_t *doc = iam_stored_doc(k.doc);
    const char *ra = json_string_value(json_object_get(doc, "role_arn"));
    if (tr_ok(r) && k.principal_type == PRINCIPAL_ROLE_SESSION && ra)
        r = str_copy(out->role_arn, sizeof out->role_arn, ra, "role ARN");
    json_decref(doc);
    access_key_rec_free(&k);
    if (tr_failed(r)) memset(out, 0, sizeof *out);
    return r;
}
