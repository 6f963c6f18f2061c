/*
 * keys.c -- the JWKS of each issuer (keys.h): the --oidc-jwks files, read
 * at start, or oidc_remote_jwks.
 */
#include "oidc/keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oidc/remote.h"

struct issuer_keys {
    char *issuer;
    json_t *jwks;
};

static struct issuer_keys issuers[OIDC_ISSUERS_MAX];
static size_t nissuers;

int oidc_keys_add(const char *spec, char *why, size_t why_len)
{
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || !eq[1]) {
        snprintf(why, why_len, "'%s' is not ISSUER=FILE", spec);   /* cut: text for people */
        return -1;
    }
    size_t ilen = (size_t)(eq - spec);
    if (ilen < 9 || strncmp(spec, "https://", 8) != 0) {
        /* cut: text for people */
        snprintf(why, why_len, "the issuer of '%s' must be an https:// URL, as a token's iss", spec);
        return -1;
    }
    if (nissuers == OIDC_ISSUERS_MAX) {
        snprintf(why, why_len, "at most %d issuers", OIDC_ISSUERS_MAX);   /* cut: text for people */
        return -1;
    }
    for (size_t i = 0; i < nissuers; i++)
        if (strlen(issuers[i].issuer) == ilen && strncmp(issuers[i].issuer, spec, ilen) == 0) {
            snprintf(why, why_len, "issuer %.*s given twice", (int)ilen, spec);   /* cut: text for people */
            return -1;
        }
    json_error_t err;
    json_t *j = json_load_file(eq + 1, JSON_REJECT_DUPLICATES, &err);
    if (!j || !json_is_array(json_object_get(j, "keys"))) {
        /* cut: text for people */
        snprintf(why, why_len, "%s: %s", eq + 1, j ? "no \"keys\" array (a JWKS document)" : err.text);
        json_decref(j);
        return -1;
    }
    char *iss = strndup(spec, ilen);
    if (!iss) {
        json_decref(j);
        /* cut: text for people */
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    issuers[nissuers++] = (struct issuer_keys){ iss, j };
    return 0;
}

int oidc_keys_add_list(const char *list, char *why, size_t why_len)
{
    char *copy = strdup(list), *save = NULL;
    int rc = copy ? 0 : -1;
    for (char *s = copy ? strtok_r(copy, ",", &save) : NULL; s && rc == 0; s = strtok_r(NULL, ",", &save))
        rc = oidc_keys_add(s, why, why_len);
    free(copy);
    return rc;
}

void oidc_keys_clear(void)
{
    for (size_t i = 0; i < nissuers; i++) {
        free(issuers[i].issuer);
        json_decref(issuers[i].jwks);
    }
    nissuers = 0;
}

int oidc_keys_get(const char *issuer, int refresh, json_t **jwks, char *why, size_t why_len)
{
    for (size_t i = 0; i < nissuers; i++)
        if (strcmp(issuers[i].issuer, issuer) == 0) {
            *jwks = json_incref(issuers[i].jwks);
            return OIDC_KEYS_OK;
        }
    return oidc_remote_jwks(issuer, refresh, jwks, why, why_len) == OIDC_REMOTE_OK ? OIDC_KEYS_OK
                                                                                  : OIDC_KEYS_UNAVAILABLE;
}
