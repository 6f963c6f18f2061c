/*
 * custom_key_stores.c -- the six custom key store operations
 * (CreateCustomKeyStore, DescribeCustomKeyStores, UpdateCustomKeyStore,
 * DeleteCustomKeyStore, ConnectCustomKeyStore, DisconnectCustomKeyStore),
 * answered as KMS answers them in an account and Region that has no custom
 * key store and cannot reach any backing store.
 *
 * A custom key store keeps a KMS key's material outside KMS: in a CloudHSM
 * cluster (AWS_CLOUDHSM) or behind an external key store proxy
 * (EXTERNAL_KEY_STORE).  tresor has neither a CloudHSM cluster nor a
 * proxy, so it never holds a custom key store, and each operation says so
 * the way KMS does:
 *  - DescribeCustomKeyStores lists none: {"CustomKeyStores": [],
 *    "Truncated": false}; a store asked for by id or by name is not found
 *    (CustomKeyStoreNotFoundException), and a Marker cannot be one this
 *    operation gave out (InvalidMarkerException).
 *  - Update, Delete, Connect and Disconnect name a store by id: not found.
 *  - CreateCustomKeyStore checks its input as the model and the API
 *    reference ask (below), then fails where KMS would next look outside
 *    itself: an AWS_CLOUDHSM store's cluster is not found
 *    (CloudHsmClusterNotFoundException); an EXTERNAL_KEY_STORE store's VPC
 *    endpoint service is not found
 *    (XksProxyVpcEndpointServiceNotFoundException) when it connects through
 *    one, and its proxy cannot be reached (XksProxyUriUnreachableException)
 *    when it uses a public endpoint.
 *  - CreateKey and GenerateRandom with a CustomKeyStoreId (keys.c,
 *    crypt.c) answer not found, with kms_custom_key_store_not_found.
 *
 * Order of the checks, each operation: the members' model constraints,
 * then the combinations the API reference requires, then the
 * authorization of the operation's action on "*" (no resource: the
 * Service Authorization Reference lists none for these actions; the
 * context has kms:CallerAccount, which it lists), then the answer.  A
 * request that fails changes nothing -- there is nothing to change.
 *
 * The messages: KMS publishes no text for these errors; tresor's are in
 * docs/WIRE.md.  Two members are secrets, KeyStorePassword and the
 * credential's RawSecretAccessKey (and its AccessKeyId, which the model
 * also marks sensitive): they are read with json_get_sensitive_str, so no
 * error quotes them, and the request body that holds them is released by
 * the wiping allocator as every request's is.
 *
 * Spec: botocore kms/2014-11-01/service-2.json, CreateCustomKeyStoreRequest
 * and the other five inputs; the API reference pages of the six
 * operations.
 */
#include "kms/kms.h"

#include <stdio.h>
#include <string.h>

#include "core/json.h"

static const char *const STORE_TYPES[] = { "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE", NULL };
static const char *const CONNECTIVITIES[] = { "PUBLIC_ENDPOINT", "VPC_ENDPOINT_SERVICE", NULL };

tr_result kms_custom_key_store_not_found(const char *id, const char *name)
{
    if (id)
        return tr_fail_at(__FILE__, __LINE__, TR_E_KMS_CKS_NOT_FOUND,
                          "KMS cannot find a custom key store with ID %s.", id);
    return tr_fail_at(__FILE__, __LINE__, TR_E_KMS_CKS_NOT_FOUND,
                      "KMS cannot find a custom key store with name %s.", name ? name : "");
}

/* ---------------------------------------------------------------------- */
/* The model's patterns, each matched whole                                */

static bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
static bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alnum(char c) { return is_lower(c) || is_upper(c) || is_digit(c); }

/* cluster-[2-7a-zA-Z]{11,16} */
static bool match_cluster_id(const char *s)
{
    if (strncmp(s, "cluster-", 8) != 0) return false;
    size_t n = 0;
    for (const char *c = s + 8; *c; c++, n++)
        if (!(is_lower(*c) || is_upper(*c) || (*c >= '2' && *c <= '7'))) return false;
    return n >= 11 && n <= 16;
}

/* ^https://[a-zA-Z0-9.-]+$ */
static bool match_endpoint(const char *s)
{
    if (strncmp(s, "https://", 8) != 0 || !s[8]) return false;
    for (const char *c = s + 8; *c; c++)
        if (!(is_alnum(*c) || *c == '.' || *c == '-')) return false;
    return true;
}

/* ^(/[a-zA-Z0-9\/_-]+/kms/xks/v\d{1,2})$|^(/kms/xks/v\d{1,2})$ */
static bool match_uri_path(const char *s)
{
    static const char TAIL[] = "/kms/xks/v";
    size_t n = strlen(s), d = 0;
    while (d < n && is_digit(s[n - 1 - d])) d++;
    if (d < 1 || d > 2) return false;
    size_t tail_at = n - d;
    if (tail_at < sizeof TAIL - 1) return false;
    tail_at -= sizeof TAIL - 1;
    if (memcmp(s + tail_at, TAIL, sizeof TAIL - 1) != 0) return false;
    if (tail_at == 0) return true;                   /* /kms/xks/vN */
    if (s[0] != '/' || tail_at < 2) return false;    /* "/" and one or more */
    for (size_t i = 1; i < tail_at; i++)
        if (!(is_alnum(s[i]) || s[i] == '/' || s[i] == '_' || s[i] == '-')) return false;
    return true;
}

/* ^(com|eu)\.amazonaws\.vpce\.([a-z]+-){2,3}\d+\.vpce-svc-[0-9a-z]+$ */
static bool match_vpce_service(const char *s)
{
    const char *c = s;
    if (strncmp(c, "com.", 4) == 0) c += 4;
    else if (strncmp(c, "eu.", 3) == 0) c += 3;
    else return false;
    if (strncmp(c, "amazonaws.vpce.", 15) != 0) return false;
    c += 15;
    int groups = 0;
    while (is_lower(*c)) {
        while (is_lower(*c)) c++;
        if (*c != '-') return false;
        c++;
        groups++;
    }
    if (groups < 2 || groups > 3 || !is_digit(*c)) return false;
    while (is_digit(*c)) c++;
    if (strncmp(c, ".vpce-svc-", 10) != 0) return false;
    c += 10;
    if (!*c) return false;
    for (; *c; c++)
        if (!(is_lower(*c) || is_digit(*c))) return false;
    return true;
}

/* [0-9]{12} (the length is the model's min and max) */
static bool match_account(const char *s)
{
    for (const char *c = s; *c; c++)
        if (!is_digit(*c)) return false;
    return true;
}

/* ^[A-Z2-7]+$ */
static bool match_access_key_id(const char *s)
{
    for (const char *c = s; *c; c++)
        if (!(is_upper(*c) || (*c >= '2' && *c <= '7'))) return false;
    return true;
}

/* ^[a-zA-Z0-9\/+=]+$ */
static bool match_raw_secret(const char *s)
{
    for (const char *c = s; *c; c++)
        if (!(is_alnum(*c) || *c == '/' || *c == '+' || *c == '=')) return false;
    return true;
}

/* A string member of at most 256 characters against its pattern; quoted
 * in the message unless sensitive. */
static TR_RESULT check_pattern(const char *name, const char *v, bool (*match)(const char *),
                               const char *pattern, bool sensitive)
{
    if (!v || match(v)) return TR_OK;
    char constraint[160], q[264];
    /* fits: the longest pattern is 71 characters */
    snprintf(constraint, sizeof constraint,
             "Member must satisfy regular expression pattern: %s", pattern);
    snprintf(q, sizeof q, "'%.256s'", v);             /* fits: 256 and two quotes */
    return json_invalid(name, sensitive ? NULL : q, constraint);
}

/* ---------------------------------------------------------------------- */
/* The members Create and Update share                                     */

struct cks_members {
    const char *cluster, *password;
    const char *endpoint, *path, *vpce_name, *vpce_owner, *connectivity;
    json_t *credential;
};

static TR_RESULT get_credential(json_t *in, json_t **out)
{
    static const char *const MEMBERS[] = { "AccessKeyId", "RawSecretAccessKey", NULL };
    const char *id, *secret;
    json_t *v = json_object_get(in, "XksProxyAuthenticationCredential");

    *out = NULL;
    if (!v || json_is_null(v)) return TR_OK;
    /* A structure: anything else fails to deserialize, as every mistyped
     * member does. */
    if (!json_is_object(v))
        BAIL(TR_E_SERIALIZATION,
             "Unexpected %s for member 'XksProxyAuthenticationCredential': expected object",
             json_is_string(v) ? "string" : json_is_array(v) ? "array"
             : json_is_boolean(v) ? "boolean" : "number");
    GUARD(json_check_members(v, MEMBERS));
    GUARD(json_get_sensitive_str(v, "AccessKeyId", true, 20, 30, &id));
    GUARD(check_pattern("AccessKeyId", id, match_access_key_id, "^[A-Z2-7]+$", true));
    GUARD(json_get_sensitive_str(v, "RawSecretAccessKey", true, 43, 64, &secret));
    GUARD(check_pattern("RawSecretAccessKey", secret, match_raw_secret, "^[a-zA-Z0-9\\/+=]+$",
                        true));
    *out = v;
    return TR_OK;
}

static TR_RESULT get_members(json_t *in, struct cks_members *m)
{
    memset(m, 0, sizeof *m);
    GUARD(json_get_str(in, "CloudHsmClusterId", false, 19, 24, &m->cluster));
    GUARD(check_pattern("CloudHsmClusterId", m->cluster, match_cluster_id,
                        "cluster-[2-7a-zA-Z]{11,16}", false));
    GUARD(json_get_sensitive_str(in, "KeyStorePassword", false, 7, 32, &m->password));
    GUARD(json_get_str(in, "XksProxyUriEndpoint", false, 10, 128, &m->endpoint));
    GUARD(check_pattern("XksProxyUriEndpoint", m->endpoint, match_endpoint,
                        "^https://[a-zA-Z0-9.-]+$", false));
    GUARD(json_get_str(in, "XksProxyUriPath", false, 10, 128, &m->path));
    GUARD(check_pattern("XksProxyUriPath", m->path, match_uri_path,
                        "^(/[a-zA-Z0-9\\/_-]+/kms/xks/v\\d{1,2})$|^(/kms/xks/v\\d{1,2})$", false));
    GUARD(json_get_str(in, "XksProxyVpcEndpointServiceName", false, 20, 64, &m->vpce_name));
    GUARD(check_pattern("XksProxyVpcEndpointServiceName", m->vpce_name, match_vpce_service,
                        "^(com|eu)\\.amazonaws\\.vpce\\.([a-z]+-){2,3}\\d+\\.vpce-svc-[0-9a-z]+$",
                        false));
    GUARD(json_get_str(in, "XksProxyVpcEndpointServiceOwner", false, 12, 12, &m->vpce_owner));
    GUARD(check_pattern("XksProxyVpcEndpointServiceOwner", m->vpce_owner, match_account,
                        "[0-9]{12}", false));
    GUARD(get_credential(in, &m->credential));
    GUARD(kms_get_enum(in, "XksProxyConnectivity", CONNECTIVITIES, &m->connectivity));
    return TR_OK;
}

/* ---------------------------------------------------------------------- */
/* The handlers                                                            */

/* The operation's action on "*", with kms:CallerAccount (the Service
 * Authorization Reference lists it for each of the six actions). */
static TR_RESULT authorize(struct req_ctx *rc)
{
    struct kms_authz_in az = { .caller_account = true };
    return kms_authorize_in(rc, rc->op->action, NULL, &az);
}

KMS_HANDLER(op_create_custom_key_store)
{
    const char *name, *type, *anchor;
    struct cks_members m;

    (void)out;
    GUARD(json_get_str(in, "CustomKeyStoreName", true, 1, 256, &name));
    GUARD(json_get_str(in, "TrustAnchorCertificate", false, 1, 5000, &anchor));
    GUARD(kms_get_enum(in, "CustomKeyStoreType", STORE_TYPES, &type));
    GUARD(get_members(in, &m));
    bool external = type && strcmp(type, "EXTERNAL_KEY_STORE") == 0;
    const char *eff = external ? "EXTERNAL_KEY_STORE" : "AWS_CLOUDHSM";

    /* Each type's members, required and refused (API reference,
     * CreateCustomKeyStore: "required for custom key stores with a
     * CustomKeyStoreType of ..."). */
    const struct { const char *name; const void *v; bool xks; } members[] = {
        { "CloudHsmClusterId", m.cluster, false },
        { "TrustAnchorCertificate", anchor, false },
        { "KeyStorePassword", m.password, false },
        { "XksProxyUriEndpoint", m.endpoint, true },
        { "XksProxyUriPath", m.path, true },
        { "XksProxyAuthenticationCredential", m.credential, true },
        { "XksProxyConnectivity", m.connectivity, true },
    };
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
        if (members[i].xks == external && !members[i].v)
            BAIL(TR_E_VALIDATION, "%s is required for custom key stores with a "
                 "CustomKeyStoreType of %s.", members[i].name, eff);
        if (members[i].xks != external && members[i].v)
            BAIL(TR_E_VALIDATION, "%s is not valid for custom key stores with a "
                 "CustomKeyStoreType of %s.", members[i].name, eff);
    }
    bool vpce = external && strcmp(m.connectivity, "VPC_ENDPOINT_SERVICE") == 0;
    if (vpce && !m.vpce_name)
        BAIL(TR_E_VALIDATION, "XksProxyVpcEndpointServiceName is required when "
             "XksProxyConnectivity is VPC_ENDPOINT_SERVICE.");
    if (!vpce && (m.vpce_name || m.vpce_owner))
        BAIL(TR_E_VALIDATION, "%s is valid only when XksProxyConnectivity is "
             "VPC_ENDPOINT_SERVICE.", m.vpce_name ? "XksProxyVpcEndpointServiceName"
                                                  : "XksProxyVpcEndpointServiceOwner");
    GUARD(authorize(rc));

    /* What KMS would look for next is not there. */
    if (!external)
        BAIL(TR_E_KMS_CLUSTER_NOT_FOUND, "KMS cannot find the CloudHSM cluster %s.", m.cluster);
    if (vpce)
        BAIL(TR_E_KMS_XKS_VPCE_NOT_FOUND, "KMS cannot find the VPC endpoint service %s.",
             m.vpce_name);
    BAIL(TR_E_KMS_XKS_UNREACHABLE, "KMS cannot reach the external key store proxy at %s%s.",
         m.endpoint, m.path);
}

KMS_HANDLER(op_describe_custom_key_stores)
{
    const char *id, *name, *marker;
    size_t limit;

    GUARD(json_get_str(in, "CustomKeyStoreId", false, 1, 64, &id));
    GUARD(json_get_str(in, "CustomKeyStoreName", false, 1, 256, &name));
    GUARD(kms_get_limit(in, 100, 1000, &limit));
    GUARD(json_get_str(in, "Marker", false, 1, 1024, &marker));
    if (id && name)
        BAIL(TR_E_VALIDATION, "You cannot specify both CustomKeyStoreId and "
             "CustomKeyStoreName.");
    GUARD(authorize(rc));

    if (id || name) return kms_custom_key_store_not_found(id, name);
    /* No page of an empty list was ever given out. */
    if (marker) BAIL(TR_E_KMS_INVALID_MARKER, "Invalid marker");
    return kms_list_reply("CustomKeyStores", json_array(), NULL, out);
}

/* Update, Delete, Connect, Disconnect: a store by id, which does not
 * exist. */
static TR_RESULT by_id(struct req_ctx *rc, json_t *in)
{
    const char *id;
    GUARD(json_get_str(in, "CustomKeyStoreId", true, 1, 64, &id));
    GUARD(authorize(rc));
    return kms_custom_key_store_not_found(id, NULL);
}

KMS_HANDLER(op_update_custom_key_store)
{
    const char *new_name;
    struct cks_members m;

    (void)out;
    GUARD(json_get_str(in, "NewCustomKeyStoreName", false, 1, 256, &new_name));
    GUARD(get_members(in, &m));
    return by_id(rc, in);
}

KMS_HANDLER(op_delete_custom_key_store)
{
    (void)out;
    return by_id(rc, in);
}

KMS_HANDLER(op_connect_custom_key_store)
{
    (void)out;
    return by_id(rc, in);
}

KMS_HANDLER(op_disconnect_custom_key_store)
{
    (void)out;
    return by_id(rc, in);
}
