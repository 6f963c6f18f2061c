/*
 * records.c -- IAM's stored record formats, written without a request
 * (records.h).
 */
#include "iam/records.h"

#include <jansson.h>
#include <stdlib.h>

#include "core/str.h"

/* d as compact JSON with sorted keys into *out; d released. */
static TR_RESULT dump(json_t *d, char **out)
{
    *out = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    ENSURE(*out != NULL, TR_E_INTERNAL);
    return TR_OK;
}

TR_RESULT iam_rec_role_doc(const char *trust, const char *trust_ids, const char *desc, int64_t max_session,
                           const char *boundary, char **out)
{
    json_t *d = json_pack("{s:s,s:s,s:I}", "trust", trust ? trust : "", "description", desc ? desc : "",
                          "max_session", (json_int_t)max_session);
    if (d && trust_ids && json_object_set_new(d, "trust_ids", json_string(trust_ids)) != 0) {
        json_decref(d);
        d = NULL;
    }
    if (d && boundary && json_object_set_new(d, "boundary", json_string(boundary)) != 0) {
        json_decref(d);
        d = NULL;
    }
    return dump(d, out);
}

TR_RESULT iam_rec_user_doc(const char *boundary, char **out)
{
    return dump(boundary ? json_pack("{s:s}", "boundary", boundary) : json_object(), out);
}

TR_RESULT iam_rec_policy_doc(const char *default_version, const char *desc, int next_version,
                             int64_t updated, char **out)
{
    return dump(json_pack("{s:s,s:s,s:i,s:I}", "default_version", default_version ? default_version : "v1",
                          "description", desc ? desc : "", "next_version", next_version, "updated",
                          (json_int_t)updated), out);
}

TR_RESULT iam_rec_put_version(store_t st, const char *arn, const char *vid, const char *text,
                              int64_t created)
{
    json_t *d = json_pack("{s:s}", "document", text ? text : "");
    char *s = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    ENSURE(s != NULL, TR_E_INTERNAL);
    struct rel_rec rel = { .from = (char *)arn, .to = (char *)vid, .doc = s, .created = created };
    STR_SET(rel.kind, "version");
    tr_result r = st[0]->rel_put(st, &rel);
    free(s);
    return r;
}

TR_RESULT iam_rec_put_boundary(store_t st, const char *policy_arn, const char *entity_arn, int64_t created)
{
    struct rel_rec rel = { .from = (char *)policy_arn, .to = (char *)entity_arn, .doc = "",
                           .created = created };
    STR_SET(rel.kind, "boundary");
    return st[0]->rel_put(st, &rel);
}
