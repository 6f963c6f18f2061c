/*
 * oidc_providers.c -- CreateOpenIDConnectProvider, GetOpenIDConnectProvider,
 * ListOpenIDConnectProviders, DeleteOpenIDConnectProvider,
 * UpdateOpenIDConnectProviderThumbprint, AddClientIDToOpenIDConnectProvider,
 * RemoveClientIDFromOpenIDConnectProvider, Tag/Untag/ListOpenIDConnect
 * ProviderTags (these three in entity_tags.c, with iam_oidc_load).
 *
 * A provider is an entity of kind "oidc-provider" (IAM_STORE.md): its name
 * is the issuer URL without "https://" (host and path), its ARN
 * arn:aws:iam::A:oidc-provider/<host/path>, its doc
 * {"client_ids": [...], "thumbprints": [...]}.  Tags are the tag calls
 * keyed by the ARN.  AssumeRoleWithWebIdentity finds a token's provider by
 * its "iss" (oidc_provider_find).
 *
 * AWS's rules (IAM API reference, CreateOpenIDConnectProvider) and its
 * messages:
 *  - Url: 1..255 characters, beginning with https:// (InvalidInput "Invalid
 *    Open ID Connect Provider URL"); the same URL twice is
 *    EntityAlreadyExists;
 *  - ClientIDList: each 1..255 characters, at most 100 per provider
 *    (LimitExceeded "Cannot exceed quota for ClientIdsPerOpenIdConnect
 *    Provider: 100");
 *  - ThumbprintList: optional (since July 2024), each exactly 40 hex
 *    characters, at most 5 (InvalidInput "Thumbprint list must contain
 *    fewer than 5 entries.");
 *  - a missing provider is NoSuchEntity "OpenIDConnect Provider not found
 *    for arn ARN"; DeleteOpenIDConnectProvider of one is a success (AWS:
 *    deleting twice is harmless), once the caller is authorized.
 * Every call is decided on the provider's ARN, ListOpenIDConnectProviders
 * on "*" (the Service Authorization Reference names no resource).
 */
#include "iam/iam_ops.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "iam/iam_util.h"

#define MAX_CLIENT_IDS 100
#define MAX_THUMBPRINTS 5
#define URL_MAX 255

static const char HTTPS[] = "https://";

/* ---- parameters ---------------------------------------------------------- */

/* A list parameter NAME.member.N of strings of min..max characters. */
static TR_RESULT param_list(const struct form *in, const char *name, const char *member,
                            size_t min, size_t max, json_t *out)
{
    char key[128];
    for (size_t i = 1;; i++) {
        snprintf(key, sizeof key, "%s.member.%zu", name, i);  /* fits: name is our literal */
        const char *v = form_get(in, key);
        if (!v) return TR_OK;
        size_t len = strlen(v);
        snprintf(key, sizeof key, "%s.%zu.member", member, i);  /* fits: as above */
        if (len < min)
            return iam_invalid(key, v, min == max ? "Member must have length greater than or equal to 40"
                                                  : "Member must have length greater than or equal to 1");
        if (len > max)
            return iam_invalid(key, v, max == 40 ? "Member must have length less than or equal to 40"
                                                 : "Member must have length less than or equal to 255");
        /* a client id given twice is kept once (min 1: client ids only) */
        bool dup = false;
        size_t j;
        json_t *e;
        if (min == 1)
            json_array_foreach(out, j, e) if (strcmp(json_string_value(e), v) == 0) dup = true;
        if (!dup && json_array_append_new(out, json_string(v)) != 0) BAIL(TR_E_INTERNAL, NULL);
    }
}

static TR_RESULT check_thumbprints(json_t *tp)
{
    size_t i;
    json_t *e;
    if (json_array_size(tp) > MAX_THUMBPRINTS)
        BAIL(TR_E_IAM_INVALID_INPUT, "Thumbprint list must contain fewer than 5 entries.");
    json_array_foreach(tp, i, e) {
        for (const char *s = json_string_value(e); *s; s++)
            if (!isxdigit((unsigned char)*s))
                BAIL(TR_E_IAM_INVALID_INPUT, "Thumbprint must be 40 hexadecimal characters.");
    }
    return TR_OK;
}

static TR_RESULT check_client_count(json_t *ids)
{
    if (json_array_size(ids) > MAX_CLIENT_IDS)
        BAIL(TR_E_IAM_LIMIT_EXCEEDED, "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 100");
    return TR_OK;
}

/* OpenIDConnectProviderArn: an ARN parameter (20..2048). */
static TR_RESULT param_arn(const struct form *in, const char **arn)
{
    return iam_param_arn(in, "OpenIDConnectProviderArn", true, arn);
}

/* The provider `arn` of the caller's account, the caller authorized for the
 * operation on it (with x's keys); NoSuchEntity after that when missing
 * (*found false and TR_OK instead when found is given). */
static TR_RESULT load(struct req_ctx *rc, const char *arn, const struct iam_authz *x,
                      struct ent_rec *e, bool *found_out)
{
    bool found = false;
    memset(e, 0, sizeof *e);
    tr_result r = rc->st[0]->ent_get_arn(rc->st, IAM_OIDC_PROVIDER, arn, e);
    if (tr_ok(r)) found = strcmp(e->account_id, rc->who.account_id) == 0;
    else if (tr_code(r) != TR_E_STORE_NOT_FOUND) return r;
    if (!found) ent_rec_free(e);
    r = iam_authz(rc, rc->op->action, arn, found ? e : NULL, x);
    if (tr_ok(r) && !found && !found_out)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_IAM_NO_SUCH_ENTITY,
                       "OpenIDConnect Provider not found for arn %s", arn);
    if (tr_failed(r)) ent_rec_free(e);
    if (found_out) *found_out = found;
    return r;
}

TR_RESULT iam_oidc_load(struct req_ctx *rc, const char *arn, const struct iam_authz *x,
                        struct ent_rec *e)
{
    return load(rc, arn, x, e, NULL);
}

/* ---- XML ----------------------------------------------------------------- */

static void xml_list(struct xml *x, const char *tag, json_t *a)
{
    size_t i;
    json_t *e;
    xml_open(x, tag);
    json_array_foreach(a, i, e) xml_text(x, "member", json_string_value(e));
    xml_close(x, tag);
}

/* ---- handlers ------------------------------------------------------------ */

TR_RESULT iam_create_open_id_connect_provider(struct req_ctx *rc, const struct form *in,
                                              struct xml *out)
{
    const char *url;
    struct iam_tags tags;
    char arn[IAM_ARN_MAX], *doc = NULL;
    struct ent_rec p = { 0 };
    json_t *ids = json_array(), *tp = json_array(), *d = NULL;
    tr_result r = TR_OK;

    if (!ids || !tp) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto done; }
    r = form_str(in, "Url", true, 1, URL_MAX, &url);
    if (tr_ok(r)) r = param_list(in, "ClientIDList", "clientIDList", 1, 255, ids);
    if (tr_ok(r)) r = param_list(in, "ThumbprintList", "thumbprintList", 40, 40, tp);
    if (tr_ok(r)) r = iam_param_tags(in, "Tags", false, &tags);
    if (tr_failed(r)) goto done;
    if (strncmp(url, HTTPS, sizeof HTTPS - 1) != 0 || !url[sizeof HTTPS - 1]) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_IAM_INVALID_INPUT, "Invalid Open ID Connect Provider URL");
        goto done;
    }
    r = check_thumbprints(tp);
    if (tr_ok(r)) r = check_client_count(ids);
    const char *name = url + sizeof HTTPS - 1;
    if (tr_ok(r)) r = iam_arn(rc->who.account_id, IAM_OIDC_PROVIDER, "/", name, arn);
    struct iam_authz x = { .request_tags = &tags };
    if (tr_ok(r)) r = iam_authz(rc, rc->op->action, arn, NULL, &x);
    if (tr_failed(r)) goto done;
    d = json_pack("{sOsO}", "client_ids", ids, "thumbprints", tp);
    doc = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (!doc) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL); goto done; }
    r = iam_create_insert(rc, IAM_OIDC_PROVIDER, "OpenIdConnectProvider", name, "/", doc, NULL,
                          &tags, &p);
    if (tr_failed(r)) goto done;
    xml_text(out, "OpenIDConnectProviderArn", p.arn);
    r = iam_xml_tags(rc, out, p.arn, false);
done:
    ent_rec_free(&p);
    free(doc);
    json_decref(d);
    json_decref(ids);
    json_decref(tp);
    return r;
}

TR_RESULT iam_get_open_id_connect_provider(struct req_ctx *rc, const struct form *in,
                                           struct xml *out)
{
    const char *arn;
    struct ent_rec p;
    GUARD(param_arn(in, &arn));
    GUARD(load(rc, arn, NULL, &p, NULL));
    json_t *d = iam_doc(&p);
    tr_result r = d ? TR_OK : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    if (tr_ok(r)) {
        xml_text(out, "Url", p.name);
        xml_list(out, "ClientIDList", json_object_get(d, "client_ids"));
        xml_list(out, "ThumbprintList", json_object_get(d, "thumbprints"));
        xml_time(out, "CreateDate", p.created);
        r = iam_xml_tags(rc, out, p.arn, true);
    }
    json_decref(d);
    ent_rec_free(&p);
    return r;
}

static TR_RESULT write_listed(struct req_ctx *rc, struct xml *x, void *arg, size_t i,
                              const char **key)
{
    const struct ent_rec *v = arg;
    (void)rc;
    xml_open(x, "member");
    xml_text(x, "Arn", v[i].arn);
    xml_close(x, "member");
    *key = v[i].name;
    return TR_OK;
}

TR_RESULT iam_list_open_id_connect_providers(struct req_ctx *rc, const struct form *in,
                                             struct xml *out)
{
    struct ent_rec *v = NULL;
    size_t n = 0;
    (void)in;
    GUARD(iam_authz(rc, rc->op->action, "*", NULL, NULL));
    GUARD(rc->st[0]->ent_list(rc->st, IAM_OIDC_PROVIDER, rc->who.account_id, NULL, NULL, IAM_ALL,
                              &v, &n));
    tr_result r = TR_OK;
    xml_open(out, "OpenIDConnectProviderList");
    for (size_t i = 0; i < n && tr_ok(r); i++) {
        const char *k;
        r = write_listed(rc, out, v, i, &k);
    }
    xml_close(out, "OpenIDConnectProviderList");
    ent_list_free(v, n);
    return r;
}

TR_RESULT iam_delete_open_id_connect_provider(struct req_ctx *rc, const struct form *in,
                                              struct xml *out)
{
    const char *arn;
    struct ent_rec p;
    bool found = false;
    (void)out;
    GUARD(param_arn(in, &arn));
    GUARD(load(rc, arn, NULL, &p, &found));
    tr_result r = found ? iam_ent_remove(rc, &p) : TR_OK;
    ent_rec_free(&p);
    return r;
}

/* Load the provider of `in`, let fn change its doc, store it. */
typedef TR_RESULT (*doc_fn)(const struct form *in, json_t *doc);

static TR_RESULT update_doc(struct req_ctx *rc, const struct form *in, doc_fn validate,
                            doc_fn change)
{
    const char *arn;
    struct ent_rec p;
    GUARD(param_arn(in, &arn));
    json_t *d = json_object();
    ENSURE(d != NULL, TR_E_INTERNAL);
    tr_result r = validate(in, d);
    if (tr_failed(r)) { json_decref(d); return r; }
    json_decref(d);
    GUARD(load(rc, arn, NULL, &p, NULL));
    d = iam_doc(&p);
    r = d ? change(in, d) : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    if (tr_ok(r)) r = iam_doc_store(&p, d);
    if (tr_ok(r)) r = rc->st[0]->ent_update(rc->st, &p);
    json_decref(d);
    ent_rec_free(&p);
    return r;
}

static TR_RESULT thumbprints_param(const struct form *in, json_t *doc)
{
    /* Required here (an empty list is "ThumbprintList=") */
    if (!form_get(in, "ThumbprintList") && !form_get(in, "ThumbprintList.member.1"))
        return iam_invalid_repr("thumbprintList", "null", "Member must not be null");
    json_t *tp = json_array();
    ENSURE(tp != NULL, TR_E_INTERNAL);
    tr_result r = param_list(in, "ThumbprintList", "thumbprintList", 40, 40, tp);
    if (tr_ok(r)) r = check_thumbprints(tp);
    if (tr_ok(r) && json_object_set_new(doc, "thumbprints", tp) != 0)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    else if (tr_failed(r)) json_decref(tp);
    return r;
}

TR_RESULT iam_update_open_id_connect_provider_thumbprint(struct req_ctx *rc, const struct form *in,
                                                         struct xml *out)
{
    (void)out;
    return update_doc(rc, in, thumbprints_param, thumbprints_param);
}

static TR_RESULT client_id_param(const struct form *in, json_t *doc)
{
    const char *id;
    (void)doc;
    return form_str(in, "ClientID", true, 1, 255, &id);
}

static TR_RESULT add_client(const struct form *in, json_t *doc)
{
    const char *id = form_get(in, "ClientID");
    json_t *ids = json_object_get(doc, "client_ids"), *e;
    size_t i;
    ENSURE(json_is_array(ids) && id, TR_E_INTERNAL);
    json_array_foreach(ids, i, e) if (strcmp(json_string_value(e), id) == 0) return TR_OK;
    if (json_array_append_new(ids, json_string(id)) != 0) BAIL(TR_E_INTERNAL, NULL);
    return check_client_count(ids);
}

static TR_RESULT remove_client(const struct form *in, json_t *doc)
{
    const char *id = form_get(in, "ClientID");
    json_t *ids = json_object_get(doc, "client_ids"), *e;
    size_t i;
    ENSURE(json_is_array(ids) && id, TR_E_INTERNAL);
    json_array_foreach(ids, i, e) if (strcmp(json_string_value(e), id) == 0) {
        json_array_remove(ids, i);
        break;
    }
    return TR_OK;
}

TR_RESULT iam_add_client_id_to_open_id_connect_provider(struct req_ctx *rc, const struct form *in,
                                                        struct xml *out)
{
    (void)out;
    return update_doc(rc, in, client_id_param, add_client);
}

TR_RESULT iam_remove_client_id_from_open_id_connect_provider(struct req_ctx *rc,
                                                             const struct form *in, struct xml *out)
{
    (void)out;
    return update_doc(rc, in, client_id_param, remove_client);
}
