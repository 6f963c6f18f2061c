/*
 * params.c -- names, ARNs and the request members every Secrets Manager
 * operation checks the same way (contract in params.h).
 *
 * A name that is not an ARN must match [A-Za-z0-9/_+=.@-]: anything else
 * is AWS's ValidationException "Invalid name. Must be a valid name
 * containing alphanumeric characters, or any of the following: -/_+=.@!"
 * (AWS-validated LocalStack test), for every operation that takes a
 * SecretId.
 */
#include "secrets/params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/utf8.h"
#include "crypto/rand.h"

static const char *const NAME_INVALID_MSG =
    "Invalid name. Must be a valid name containing alphanumeric characters, or any of the "
    "following: -/_+=.@!";

/* ---- names, ARNs, parameters ---------------------------------------------------- */

TR_RESULT sm_arn_new(const char *region, const char *account, const char *name, char **out)
{
    static const char ALNUM[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    char suffix[SM_SUFFIX_LEN + 1];
    size_t have = 0;
    *out = NULL;
    while (have < SM_SUFFIX_LEN) {
        uint8_t b[16];
        GUARD(rand_bytes(b, sizeof b));
        for (size_t i = 0; i < sizeof b && have < SM_SUFFIX_LEN; i++)
            if (b[i] < 248) suffix[have++] = ALNUM[b[i] % 62];   /* 248 = 4 * 62: no bias */
    }
    suffix[SM_SUFFIX_LEN] = '\0';
    size_t n = strlen(region) + strlen(account) + strlen(name) + 64;
    char *s = malloc(n);
    ENSURE(s != NULL, TR_E_INTERNAL);
    /* fits: n is measured above, with 64 to spare for the literals and suffix */
    snprintf(s, n, "arn:aws:secretsmanager:%s:%s:secret:%s-%s", region, account, name, suffix);
    *out = s;
    return TR_OK;
}

static bool name_char_ok(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           strchr("/_+=.@-", c) != NULL;
}

TR_RESULT sm_check_name(const char *name)
{
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (!name_char_ok(*p)) BAIL(TR_E_VALIDATION, "%s", NAME_INVALID_MSG);
    return TR_OK;
}

TR_RESULT sm_get_secret_id(json_t *in, const char **out)
{
    GUARD(json_get_str(in, "SecretId", true, 1, SM_ID_MAX, out));
    if (strncmp(*out, "arn:", 4) != 0) GUARD(sm_check_name(*out));
    return TR_OK;
}

static size_t utf8_chars(const char *s)
{
    return utf8_strlen(s);
}

TR_RESULT sm_get_tags(json_t *in, const char *member, json_t **out)
{
    *out = NULL;
    json_t *l = json_object_get(in, member);
    if (!l || json_is_null(l)) return TR_OK;
    if (!json_is_array(l))
        BAIL(TR_E_SERIALIZATION, "Unexpected %s for member '%s': expected list",
             json_is_object(l) ? "structure or map" : "value", member);
    if (json_array_size(l) > SM_MAX_TAGS)
        BAIL(TR_E_SM_INVALID_PARAMETER, "Number of tags exceeds Secrets Manager's limit of %d "
             "tags.", SM_MAX_TAGS);
    size_t i;
    json_t *t;
    json_array_foreach(l, i, t) {
        if (!json_is_object(t))
            BAIL(TR_E_SERIALIZATION, "Unexpected value for member '%s': expected structure",
                 member);
        json_t *k = json_object_get(t, "Key"), *v = json_object_get(t, "Value");
        if ((k && !json_is_string(k) && !json_is_null(k)) ||
            (v && !json_is_string(v) && !json_is_null(v)))
            BAIL(TR_E_SERIALIZATION, "Unexpected value for member 'Key': expected string");
        const char *ks = json_string_value(k), *vs = json_string_value(v);
        char where[64];
        snprintf(where, sizeof where, "tags.%zu.member.key", i + 1);      /* fits: a literal and a count */
        if (!ks) return json_invalid(where, "null", "Member must not be null");
        size_t kn = utf8_chars(ks);
        if (kn < 1 || kn > 128)
            return json_invalid(where, NULL, kn < 1 ? "Member must have length greater than or equal to 1"
                                                    : "Member must have length less than or equal to 128");
        if (vs && utf8_chars(vs) > 256) {
            snprintf(where, sizeof where, "tags.%zu.member.value", i + 1);    /* fits: as above */
            return json_invalid(where, NULL, "Member must have length less than or equal to 256");
        }
        if (strncasecmp(ks, "aws:", 4) == 0)
            BAIL(TR_E_SM_INVALID_PARAMETER, "You can't modify system tags. Tag key: '%s'.", ks);
        for (size_t j = 0; j < i; j++) {
            const char *kj = json_string_value(json_object_get(json_array_get(l, j), "Key"));
            if (kj && strcmp(kj, ks) == 0)
                BAIL(TR_E_SM_INVALID_PARAMETER, "Duplicate tag keys are not allowed.");
        }
    }
    *out = l;
    return TR_OK;
}
