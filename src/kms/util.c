/*
 * util.c -- small request/response helpers shared by the KMS handlers:
 * enum members, grant tokens, flags, Limit, pagination markers,
 * base64 output of secret bytes, and replies that end in base64 members.
 *
 * Markers are opaque to clients (botocore's MarkerType, 1..1024 chars of
 * [\u0020-\u00FF]); ours are the base64 text of the last returned item's
 * sort key (a key id, an alias name, a tag key, a material version), so a
 * list resumes with "after <key>" in the store.  A marker that does not
 * decode is InvalidMarkerException.  Spec: botocore kms service-2.json.
 */
#include "kms/kms.h"

#include <stdio.h>
#include <string.h>

#include "core/json.h"

TR_RESULT kms_set(json_t *obj, const char *name, json_t *v)
{
    ENSURE(v != NULL, TR_E_INTERNAL);
    ENSURE(json_object_set_new(obj, name, v) == 0, TR_E_INTERNAL);
    return TR_OK;
}

TR_RESULT kms_append(json_t *list, json_t *v)
{
    ENSURE(v != NULL, TR_E_INTERNAL);
    ENSURE(json_array_append_new(list, v) == 0, TR_E_INTERNAL);
    return TR_OK;
}

tr_result kms_dry_run(void)
{
    return tr_fail_at(__FILE__, __LINE__, TR_E_KMS_DRY_RUN,
                      "The request would have succeeded, but the DryRun option is set.");
}

TR_RESULT kms_get_enum(json_t *in, const char *name, const char *const *allowed,
                       const char **out)
{
    const char *s;
    GUARD(json_get_str(in, name, false, 0, (size_t)-1, &s));
    *out = NULL;
    if (!s) return TR_OK;
    for (const char *const *a = allowed; *a; a++)
        if (strcmp(*a, s) == 0) { *out = *a; return TR_OK; }

    char set[512], q[160], c[600];
    size_t used = 0;
    set[0] = '\0';
    for (const char *const *a = allowed; *a; a++) {
        int w = snprintf(set + used, sizeof set - used, "%s%s", a == allowed ? "" : ", ", *a);
        if (w < 0 || (size_t)w >= sizeof set - used) break;
        used += (size_t)w;
    }
    _Static_assert(sizeof c >= sizeof "Member must satisfy enum value set: []" + sizeof set, "c fits");
    snprintf(q, sizeof q, "'%.128s'", s);      /* fits: 128 and two quotes */
    snprintf(c, sizeof c, "Member must satisfy enum value set: [%s]", set);     /* fits: asserted */
    return json_invalid(name, q, c);
}

TR_RESULT kms_get_material_id(json_t *in, const char **out)
{
    GUARD(json_get_str(in, "KeyMaterialId", false, 64, 64, out));
    for (const char *c = *out; c && *c; c++) {
        if ((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')) continue;
        char q[80];
        snprintf(q, sizeof q, "'%.64s'", *out);          /* fits: 64 and two quotes */
        return json_invalid("KeyMaterialId", q,
                            "Member must satisfy regular expression pattern: ^[a-f0-9]+$");
    }
    return TR_OK;
}

TR_RESULT kms_grant_tokens(json_t *in)
{
    json_t *l;
    return json_get_str_list(in, "GrantTokens", false, 10, 1, 8192, &l);
}

TR_RESULT kms_get_flag(json_t *in, const char *name, bool *out)
{
    bool present = false, v = false;
    GUARD(json_get_bool(in, name, &present, &v));
    *out = present && v;
    return TR_OK;
}

bool kms_has_member(json_t *in, const char *name)
{
    json_t *v = json_object_get(in, name);
    return v && !json_is_null(v);
}

TR_RESULT kms_get_limit(json_t *in, size_t def, size_t cap, size_t *out)
{
    bool present = false;
    int64_t v = 0;
    GUARD(json_get_int(in, "Limit", false, 1, 1000, &present, &v));
    size_t n = present ? (size_t)v : def;
    *out = n > cap ? cap : n;
    return TR_OK;
}

TR_RESULT kms_marker_encode(const char *key, json_t *obj)
{
    struct buf b = BUF_INIT(2048);
    tr_result r = b64_encode((const uint8_t *)key, strlen(key), &b);
    if (tr_ok(r)) {
        json_t *s = json_stringn((const char *)b.data, b.len);
        r = kms_set(obj, "NextMarker", s);
    }
    buf_free(&b);
    GUARD(r);
    return kms_set(obj, "Truncated", json_true());
}

TR_RESULT kms_list_reply(const char *member, json_t *list, const char *next, json_t **out)
{
    json_t *reply = json_object();
    tr_result r;
    if (!reply) { json_decref(list); BAIL0(TR_E_INTERNAL); }
    r = kms_set(reply, member, list);
    if (tr_ok(r)) r = next ? kms_marker_encode(next, reply) : kms_set(reply, "Truncated", json_false());
    if (tr_failed(r)) { json_decref(reply); return r; }
    *out = reply;
    return TR_OK;
}

TR_RESULT kms_page_write(struct req_ctx *rc, const char *member, size_t limit, size_t first,
                         size_t n, kms_item_writer fn, void *arg, json_t **out)
{
    json_t *list = json_array();
    const char *last = NULL;
    size_t i = first;
    tr_result r = TR_OK;
    ENSURE(list != NULL, TR_E_INTERNAL);
    for (; i < n && i - first < limit && tr_ok(r); i++) r = fn(rc, list, arg, i, &last);
    if (tr_failed(r)) { json_decref(list); return r; }
    return kms_list_reply(member, list, i < n ? last : NULL, out);
}

TR_RESULT kms_marker_decode(json_t *in, char *out, size_t n, bool *present)
{
    const char *s;
    *present = false;
    out[0] = '\0';
    GUARD(json_get_str(in, "Marker", false, 1, 1024, &s));
    if (!s) return TR_OK;
    struct buf b = BUF_INIT((uint32_t)(n - 1));
    tr_result r = b64_decode(s, strlen(s), &b);
    bool ok = tr_ok(r) && b.len > 0 && b.len < n && memchr(b.data, '\0', b.len) == NULL;
    if (ok) {
        memcpy(out, b.data, b.len);
        out[b.len] = '\0';
    }
    buf_free(&b);
    if (!ok) BAIL(TR_E_KMS_INVALID_MARKER, "Invalid marker");
    *present = true;
    return TR_OK;
}

TR_RESULT kms_set_secret_blob(json_t *obj, const char *name, const uint8_t *p, size_t n)
{
    struct buf b = BUF_SECRET((uint32_t)(4 * ((n + 2) / 3) + 8));
    tr_result r = b64_encode(p, n, &b);
    if (tr_ok(r)) r = kms_set(obj, name, json_stringn((const char *)b.data, b.len));
    buf_free(&b);   /* wipes the base64 text */
    return r;
}

TR_RESULT kms_reply_with_blobs(json_t *reply, const struct kms_blob_member *m, size_t n,
                               json_t **out)
{
    tr_result r = TR_OK;
    ENSURE(reply != NULL, TR_E_INTERNAL);
    for (size_t i = 0; tr_ok(r) && i < n; i++)
        r = m[i].b->secret ? kms_set_secret_blob(reply, m[i].name, m[i].b->data, m[i].b->len)
                           : json_set_blob(reply, m[i].name, m[i].b->data, m[i].b->len);
    if (tr_failed(r)) { json_decref(reply); return r; }
    *out = reply;
    return TR_OK;
}

TR_RESULT kms_reply_with_blob(json_t *reply, const char *name, const struct buf *b, json_t **out)
{
    struct kms_blob_member m = { name, b };
    return kms_reply_with_blobs(reply, &m, 1, out);
}

TR_RESULT kms_reply_with_time(json_t *reply, const char *name, int64_t epoch, json_t **out)
{
    ENSURE(reply != NULL, TR_E_INTERNAL);
    tr_result r = json_set_time(reply, name, epoch);
    if (tr_failed(r)) { json_decref(reply); return r; }
    *out = reply;
    return TR_OK;
}
