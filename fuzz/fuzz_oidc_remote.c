/*
 * fuzz_oidc_remote.c -- libFuzzer target for what oidc/remote.c reads
 * from an OIDC issuer (src/oidc/remote.c): the Cache-Control value, the
 * discovery document and the JWKS document, and the issuer URL of a token.
 *
 * The input is "line LF document" (no LF: the whole input is both).
 * Checked for every input:
 *   - oidc_remote_ttl(line) is 0 or within [TTL_MIN, TTL_MAX];
 *   - oidc_remote_discovery_url(line), when it succeeds, starts with
 *     "https://", ends with "/.well-known/openid-configuration", and is
 *     the line (less one trailing slash) followed by that path;
 *   - oidc_remote_parse_discovery(document, issuer = line) succeeds only
 *     with an https jwks_uri that fits its buffer, and always says why
 *     when it fails; likewise oidc_remote_parse_jwks, whose document then
 *     has a "keys" array.
 * No network: oidc_remote_init is never called.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oidc/remote_config.h"

#define PATH "/.well-known/openid-configuration"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t ll = nl ? (size_t)(nl - data) : size;
    const char *doc = nl ? (const char *)nl + 1 : (const char *)data;
    size_t dl = nl ? size - ll - 1 : size;
    char *line = malloc(ll + 1);
    if (!line) return 0;
    memcpy(line, data, ll);
    line[ll] = '\0';

    long ttl = oidc_remote_ttl(line);
    if (ttl != 0 && (ttl < OIDC_REMOTE_TTL_MIN || ttl > OIDC_REMOTE_TTL_MAX)) abort();

    char url[OIDC_REMOTE_URL_MAX + sizeof PATH];
    if (oidc_remote_discovery_url(line, url, sizeof url) == 0) {
        size_t n = strlen(line), u = strlen(url);
        if (n > 8 && line[n - 1] == '/') n--;
        if (strncmp(url, "https://", 8) != 0 || u != n + strlen(PATH) || memcmp(url, line, n) != 0 ||
            strcmp(url + n, PATH) != 0)
            abort();
    }

    char uri[64], why[256];
    why[0] = '\0';
    uri[0] = '\0';
    if (oidc_remote_parse_discovery(doc, dl, line, uri, sizeof uri, why, sizeof why) == 0) {
        if (strncmp(uri, "https://", 8) != 0 || strlen(uri) >= sizeof uri) abort();
    } else if (!why[0]) {
        abort();
    }
    json_t *jwks = NULL;
    why[0] = '\0';
    if (oidc_remote_parse_jwks(doc, dl, &jwks, why, sizeof why) == 0) {
        if (!json_is_array(json_object_get(jwks, "keys"))) abort();
        json_decref(jwks);
    } else if (jwks || !why[0]) {
        abort();
    }
    free(line);
    return 0;
}
