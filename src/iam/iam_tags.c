/*
 * iam_tags.c -- tags of IAM users, roles and managed policies: the Tags
 * and TagKeys parameters, applying and removing them, and their XML.
 *
 * Tags live in the store's tag table keyed by the entity ARN
 * (IAM_STORE.md).  Rules (botocore model Tag / tagKeyType / tagValueType;
 * IAM "Tagging IAM resources"):
 *  - at most 50 in a request -> ValidationError at 'tags';
 *  - key 1..128, value 0..256 characters of [\p{L}\p{Z}\p{N}_.:/=+\-@]
 *    -> ValidationError at 'tags.<n>.member.key' / '...value' (n from 1);
 *    non-ASCII characters are accepted as letters (no Unicode tables);
 *  - the same key twice (case-insensitively) -> InvalidInput "Duplicate
 *    tag keys found. Please note that Tag keys are case insensitive.";
 *  - a key beginning with "aws:" (any case) is reserved -> InvalidInput
 *    (our wording; AWS's text is not public);
 *  - at most 50 tags on an entity after the change -> LimitExceeded
 *    "Cannot exceed quota for TagsPerUser: 50" (Role, Policy);
 *  - keys compare without case: tagging "Team" replaces "team".
 */
#include "iam/iam_util.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/utf8.h"

static bool tag_char_ok(unsigned char c)
{
    if (c >= 0x80) return true;      /* part of a non-ASCII letter, space or number */
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           strchr(" _.:/=+-@", c) != NULL;
}

static TR_RESULT check_tag_part(const char *member, size_t idx, const char *field,
                                const char *s, size_t min, size_t max)
{
    char name[96], c[160];
    /* fits: member and field are our literals ("Tags", "Key"), idx a count */
    snprintf(name, sizeof name, "%s.%zu.member.%s", member, idx, field);
    if (!s) return iam_invalid_repr(name, "null", "Member must not be null");
    size_t n = utf8_strlen(s);
    if (n < min || n > max) {
        snprintf(c, sizeof c, "Member must have length %s %zu",   /* fits: 48 + a number */
                 n < min ? "greater than or equal to" : "less than or equal to",
                 n < min ? min : max);
        return iam_invalid(name, s, c);
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!tag_char_ok(*p))
            return iam_invalid(name, s, min ? "Member must satisfy regular expression pattern: "
                                              "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+"
                                            : "Member must satisfy regular expression pattern: "
                                              "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*");
    return TR_OK;
}

static TR_RESULT no_duplicates(const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcasecmp(keys[i], keys[j]) == 0)
                BAIL(TR_E_IAM_INVALID_INPUT,
                     "Duplicate tag keys found. Please note that Tag keys are case insensitive.");
    return TR_OK;
}

TR_RESULT iam_param_tags(const struct form *in, const char *name, bool required,
                         struct iam_tags *out)
{
    char key[128];
    out->n = 0;
    for (size_t i = 1;; i++) {
        snprintf(key, sizeof key, "%s.member.%zu.Key", name, i);      /* fits: name is our literal */
        const char *k = form_get(in, key);
        snprintf(key, sizeof key, "%s.member.%zu.Value", name, i);    /* fits: as above */
        const char *v = form_get(in, key);
        if (!k && !v) break;
        if (out->n == IAM_MAX_TAGS)
            return iam_invalid_repr("tags", NULL, "Member must have length less than or equal to 50");
        GUARD(check_tag_part("tags", i, "key", k, 1, 128));
        GUARD(check_tag_part("tags", i, "value", v, 0, 256));
        out->keys[out->n] = k;
        out->values[out->n] = v;
        out->n++;
    }
    if (required && out->n == 0) return iam_invalid_repr("tags", "null", "Member must not be null");
    for (size_t i = 0; i < out->n; i++)
        if (strncasecmp(out->keys[i], "aws:", 4) == 0)
            BAIL(TR_E_IAM_INVALID_INPUT, "Tag keys beginning with 'aws:' are reserved for AWS use.");
    return no_duplicates(out->keys, out->n);
}

TR_RESULT iam_param_tag_keys(const struct form *in, const char *name, const char **keys,
                             size_t *n)
{
    char key[128];
    *n = 0;
    for (size_t i = 1;; i++) {
        snprintf(key, sizeof key, "%s.member.%zu", name, i);  /* fits: name is our literal */
        const char *k = form_get(in, key);
        if (!k) break;
        if (*n == IAM_MAX_TAGS)
            return iam_invalid_repr("tagKeys", NULL, "Member must have length less than or equal to 50");
        snprintf(key, sizeof key, "tagKeys.%zu.member", i);   /* fits: 15 + a number */
        size_t len = utf8_strlen(k);
        if (len < 1 || len > 128)
            return iam_invalid(key, k, len < 1 ? "Member must have length greater than or equal to 1"
                                               : "Member must have length less than or equal to 128");
        keys[(*n)++] = k;
    }
    if (*n == 0) return iam_invalid_repr("tagKeys", "null", "Member must not be null");
    return TR_OK;
}

/* Whether `key` is among t's keys (case-insensitively). */
static bool in_request(const struct iam_tags *t, const char *key)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcasecmp(t->keys[i], key) == 0) return true;
    return false;
}

TR_RESULT iam_tags_apply(struct req_ctx *rc, const char *arn, const char *kind_word,
                         const struct iam_tags *t)
{
    struct tag_rec *have = NULL;
    size_t nhave = 0, kept = 0;
    tr_result r = rc->st[0]->tag_list(rc->st, arn, &have, &nhave);
    if (tr_failed(r)) return r;
    for (size_t i = 0; i < nhave; i++)
        if (!in_request(t, have[i].key)) kept++;
    if (kept + t->n > IAM_MAX_TAGS) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_IAM_LIMIT_EXCEEDED,
                       "Cannot exceed quota for TagsPer%s: %d", kind_word, IAM_MAX_TAGS);
        goto done;
    }
    /* A key equal but for case goes first; then the new value is set. */
    for (size_t i = 0; i < nhave && tr_ok(r); i++)
        if (in_request(t, have[i].key)) r = rc->st[0]->tag_delete(rc->st, arn, have[i].key);
    for (size_t i = 0; i < t->n && tr_ok(r); i++)
        r = rc->st[0]->tag_set(rc->st, arn, t->keys[i], t->values[i]);
done:
    tag_list_free(have, nhave);
    return r;
}

TR_RESULT iam_tags_remove(struct req_ctx *rc, const char *arn, const char *const *keys, size_t n)
{
    struct tag_rec *have = NULL;
    size_t nhave = 0;
    tr_result r = rc->st[0]->tag_list(rc->st, arn, &have, &nhave);
    if (tr_failed(r)) return r;
    for (size_t i = 0; i < nhave && tr_ok(r); i++)
        for (size_t j = 0; j < n; j++)
            if (strcasecmp(have[i].key, keys[j]) == 0) {
                r = rc->st[0]->tag_delete(rc->st, arn, have[i].key);
                break;
            }
    tag_list_free(have, nhave);
    return r;
}

/* Delete every tag of `from`, re-creating it on `to` when to != NULL. */
static TR_RESULT tags_relocate(struct req_ctx *rc, const char *from, const char *to)
{
    struct tag_rec *have = NULL;
    size_t nhave = 0;
    tr_result r = rc->st[0]->tag_list(rc->st, from, &have, &nhave);
    if (tr_failed(r)) return r;
    for (size_t i = 0; i < nhave && tr_ok(r); i++) {
        if (to) r = rc->st[0]->tag_set(rc->st, to, have[i].key, have[i].value);
        if (tr_ok(r)) r = rc->st[0]->tag_delete(rc->st, from, have[i].key);
    }
    tag_list_free(have, nhave);
    return r;
}

TR_RESULT iam_tags_clear(struct req_ctx *rc, const char *arn)
{
    return tags_relocate(rc, arn, NULL);
}

TR_RESULT iam_tags_move(struct req_ctx *rc, const char *from, const char *to)
{
    if (strcmp(from, to) == 0) return TR_OK;
    return tags_relocate(rc, from, to);
}

TR_RESULT iam_xml_tags(struct req_ctx *rc, struct xml *x, const char *arn, bool always)
{
    struct tag_rec *tags = NULL;
    size_t n = 0;
    GUARD(rc->st[0]->tag_list(rc->st, arn, &tags, &n));
    if (n || always) {
        xml_open(x, "Tags");
        for (size_t i = 0; i < n; i++) {
            xml_open(x, "member");
            xml_text(x, "Key", tags[i].key);
            xml_text(x, "Value", tags[i].value);
            xml_close(x, "member");
        }
        xml_close(x, "Tags");
    }
    tag_list_free(tags, n);
    return TR_OK;
}
