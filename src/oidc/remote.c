/*
 * remote.c -- an OIDC issuer's signing keys (its JWKS), fetched over HTTPS
 * and cached per issuer.
 *
 * OpenID Connect Discovery 1.0, section 4: the issuer's configuration is
 * at ISSUER/.well-known/openid-configuration (the issuer's trailing slash
 * removed), its "issuer" must equal the issuer exactly, and its "jwks_uri"
 * names the JWKS document (RFC 7517: a JSON object with a "keys" array).
 *
 * HTTP and TLS are libcurl's, with OpenSSL: nothing here reads HTTP.
 * Every transfer verifies the peer's certificate and name against the
 * system's CA store (libcurl's default bundle), to which the certificates
 * of --oidc-ca-file are added in CURLOPT_SSL_CTX_FUNCTION (CURLOPT_CAINFO
 * would replace the system's store instead of adding to it).  https only,
 * redirects too (at most 3, checked against --oidc-allowed-issuers
 * when it is given); each request connects within 3 s and is
 * done within 5 s; at most 64 KiB of discovery document and 1 MiB of JWKS;
 * only 200 OK.  Proxies: libcurl's default, the https_proxy and no_proxy
 * environment variables.
 *
 * The cache: one entry per issuer (at most OIDC_REMOTE_ISSUERS_MAX; the
 * least recently fetched idle entry makes room), kept as long as the
 * JWKS response's Cache-Control allows (oidc_remote_ttl).  One mutex
 * guards the list, and is never held across the network: the entry
 * being fetched is marked in flight, and the callers wanting the same
 * issuer wait on a condition variable while those of other issuers go
 * on.  Fetches of one issuer are at least OIDC_REMOTE_REFETCH_GAP seconds
 * apart, whatever asks (an expired copy, `refresh` for an unknown kid, a
 * failure): a flood of tokens cannot become a flood of fetches.  A failed
 * fetch keeps the copy it would have replaced in use until that copy is
 * OIDC_REMOTE_TTL_MAX old (logged once per copy).
 *
 * --oidc-allowed-issuers (oidc_remote_set_allowed, once at start, read
 * without the lock after): when given, an issuer it does not admit is
 * refused before the cache is even looked at, so no token can make the
 * server fetch from a host the operator did not name.  Entries are
 * issuer URLs (equal but for one trailing slash) or host patterns
 * (HOST, HOST:PORT, *.DOMAIN: one or more labels under DOMAIN; no PORT
 * means 443; hosts compared without case).  The list also bounds where
 * an admitted issuer can send the server (oidc_remote_allowed_fetch): its
 * discovery document's jwks_uri, and every redirect, must be on a host
 * the list admits (a pattern, or the host and port of an issuer URL).
 * With a list libcurl follows no redirect itself: http_get reads each
 * 3xx's target (CURLINFO_REDIRECT_URL), checks it, and follows at most
 * OIDC_MAX_REDIRS of them within the one transfer's time limit.
 *
 * Callers get a deep copy of the cached document: no json_t is shared
 * between threads.  Issuers and URLs come from tokens and issuers: they
 * are escaped before they reach the log.
 */
#include "oidc/remote.h"
#include "oidc/remote_config.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/buf.h"
#include "core/log.h"

#define OIDC_CONNECT_TIMEOUT_MS 3000L
#define OIDC_TOTAL_TIMEOUT_MS 5000L
#define OIDC_MAX_REDIRS 3L
#define OIDC_DISCOVERY_PATH "/.well-known/openid-configuration"

struct entry {
    struct entry *next;
    char *issuer;
    json_t *jwks;               /* the last good document, or NULL */
    int64_t fetched_at;         /* when jwks was fetched */
    int64_t expires_at;         /* fetched_at + its ttl */
    int64_t tried_at;           /* the last fetch's start (any outcome) */
    bool tried;
    bool in_flight;             /* a thread is fetching, the lock released */
    bool stale_logged;          /* "using a stale copy" said for this copy */
    unsigned users;             /* threads holding this entry */
    char why[256];              /* the last failure */
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t done;
    struct entry *head;
    size_t n;
    STACK_OF(X509) *ca;         /* --oidc-ca-file's certificates, or NULL */
    bool curl_up;
    unsigned long fetches;
    int64_t (*now)(void);
    long connect_ms, total_ms;  /* oidc_remote_set_timeouts; 0: the defaults */
    char *allowed;              /* --oidc-allowed-issuers, or NULL: any issuer */
} g = { .lock = PTHREAD_MUTEX_INITIALIZER, .done = PTHREAD_COND_INITIALIZER };

static int64_t monotonic_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

static int64_t now_s(void) { return g.now ? g.now() : monotonic_now(); }

void oidc_remote_set_clock(int64_t (*now)(void))
{
    pthread_mutex_lock(&g.lock);
    g.now = now;
    pthread_mutex_unlock(&g.lock);
}

void oidc_remote_set_timeouts(long connect_ms, long total_ms)
{
    pthread_mutex_lock(&g.lock);
    g.connect_ms = connect_ms;
    g.total_ms = total_ms;
    pthread_mutex_unlock(&g.lock);
}

unsigned long oidc_remote_fetches(void)
{
    pthread_mutex_lock(&g.lock);
    unsigned long n = g.fetches;
    pthread_mutex_unlock(&g.lock);
    return n;
}

/* ---- configuration ---- */

static void ca_free(void)
{
    if (g.ca) sk_X509_pop_free(g.ca, X509_free);
    g.ca = NULL;
}

/* The PEM certificates of `path`, at least one, into g.ca. */
static int ca_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read it: %s", path, strerror(errno));   /* cut: a message */
        return -1;
    }
    g.ca = sk_X509_new_null();
    X509 *x;
    while (g.ca && (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        if (!sk_X509_push(g.ca, x)) { X509_free(x); break; }
    }
    fclose(f);
    ERR_clear_error();          /* the end of the file reads as a PEM error */
    if (!g.ca || sk_X509_num(g.ca) == 0) {
        ca_free();
        snprintf(err, errlen, "%s: no PEM certificate in it", path);   /* cut: a message */
        return -1;
    }
    return 0;
}

int oidc_remote_init(const char *ca_file, char *err, size_t errlen)
{
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    if (!v->ssl_version || strncmp(v->ssl_version, "OpenSSL", 7) != 0) {
        snprintf(err, errlen, "libcurl uses %s, not OpenSSL: OIDC issuers cannot be reached",  /* cut: a message */
                 v->ssl_version ? v->ssl_version : "no TLS library");
        return -1;
    }
    if (ca_file && ca_load(ca_file, err, errlen) != 0) return -1;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ca_free();
        snprintf(err, errlen, "libcurl's global initialization failed");   /* cut: a message */
        return -1;
    }
    g.curl_up = true;
    return 0;
}

void oidc_remote_shutdown(void)
{
    pthread_mutex_lock(&g.lock);
    while (g.head) {
        struct entry *e = g.head;
        g.head = e->next;
        json_decref(e->jwks);
        free(e->issuer);
        free(e);
    }
    g.n = 0;
    g.fetches = 0;
    pthread_mutex_unlock(&g.lock);
    ca_free();
    free(g.allowed);
    g.allowed = NULL;
    if (g.curl_up) curl_global_cleanup();
    g.curl_up = false;
}

/* ---- pure pieces ---- */

/* An https URL with a host, no user info, query or fragment, short
 * enough: libcurl's URL parser decides. */
static bool https_url(const char *s, bool allow_query)
{
    if (!s || strlen(s) > OIDC_REMOTE_URL_MAX || strncmp(s, "https://", 8) != 0) return false;
    if (s[8] == '/') return false;      /* libcurl would read "https:///x" as the host x */
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) return false;
    CURLU *u = curl_url();
    if (!u) return false;
    bool ok = curl_url_set(u, CURLUPART_URL, s, 0) == CURLUE_OK;
    char *part = NULL;
    if (ok) {
        ok = curl_url_get(u, CURLUPART_HOST, &part, 0) == CURLUE_OK && part && *part;
        curl_free(part);
        part = NULL;
    }
    if (ok && curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK) ok = false;
    curl_free(part);
    part = NULL;
    if (ok && !allow_query && curl_url_get(u, CURLUPART_QUERY, &part, 0) == CURLUE_OK) ok = false;
    curl_free(part);
    part = NULL;
    if (ok && curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK) ok = false;
    curl_free(part);
    curl_url_cleanup(u);
    return ok;
}

int oidc_remote_discovery_url(const char *issuer, char *url, size_t len)
{
    if (!https_url(issuer, false)) return -1;
    size_t n = strlen(issuer);
    if (n > 8 && issuer[n - 1] == '/') n--;
    int w = snprintf(url, len, "%.*s%s", (int)n, issuer, OIDC_DISCOVERY_PATH);
    return w < 0 || (size_t)w >= len ? -1 : 0;
}

/* The authority of an https URL: after "https://", up to the first '/'
 * (the end); *len its length. */
static const char *url_authority(const char *url, size_t *len)
{
    const char *a = url + 8;
    *len = strcspn(a, "/");
    return a;
}

/* s[0..n) is a host pattern: [*.]HOST[:PORT], HOST letters, digits, '.'
 * and '-' (no empty label, no '*' elsewhere), PORT 1..65535. */
static bool host_pattern_ok(const char *s, size_t n)
{
    if (n >= 2 && s[0] == '*' && s[1] == '.') { s += 2; n -= 2; }
    size_t h = 0;
    while (h < n && s[h] != ':') h++;
    if (h == 0 || s[0] == '.' || s[h - 1] == '.') return false;
    for (size_t i = 0; i < h; i++) {
        bool alnum = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9');
        if (!alnum && s[i] != '-' && !(s[i] == '.' && s[i + 1] != '.')) return false;
    }
    if (h == n) return true;
    unsigned long port = 0;
    if (n - h - 1 == 0 || n - h - 1 > 5) return false;
    for (size_t i = h + 1; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        port = port * 10 + (unsigned long)(s[i] - '0');
    }
    return port >= 1 && port <= 65535;
}

/* The entry e[0..n) of an allow-list admits `issuer` (an https URL
 * without user info). */
static bool entry_admits(const char *e, size_t n, const char *issuer)
{
    if (n > 8 && strncmp(e, "https://", 8) == 0) {      /* an issuer URL: exact, but one trailing '/' */
        size_t il = strlen(issuer);
        if (il > 8 && issuer[il - 1] == '/') il--;
        if (e[n - 1] == '/') n--;
        return il == n && strncmp(e, issuer, n) == 0;
    }
    size_t alen;
    const char *a = url_authority(issuer, &alen);
    const char *colon = memchr(a, ':', alen);
    size_t hlen = colon ? (size_t)(colon - a) : alen;
    const char *port = colon ? colon + 1 : "443";
    size_t plen = colon ? alen - hlen - 1 : 3;
    const char *pc = memchr(e, ':', n);
    size_t ehl = pc ? (size_t)(pc - e) : n;
    const char *eport = pc ? pc + 1 : "443";
    size_t eplen = pc ? n - ehl - 1 : 3;
    if (plen != eplen || strncmp(port, eport, plen) != 0) return false;
    if (ehl >= 2 && e[0] == '*' && e[1] == '.') {       /* one or more labels, then the domain */
        size_t dl = ehl - 1;                             /* ".domain" */
        return hlen > dl && strncasecmp(a + hlen - dl, e + 1, dl) == 0;
    }
    return hlen == ehl && strncasecmp(a, e, hlen) == 0;
}

int oidc_remote_allowed_check(const char *list, char *why, size_t why_len)
{
    if (!list || !*list) {
        snprintf(why, why_len, "an empty list");   /* cut: a message */
        return -1;
    }
    for (const char *p = list;;) {
        size_t n = strcspn(p, ",");
        char one[OIDC_REMOTE_URL_MAX + 1];
        bool ok = n > 0 && n <= OIDC_REMOTE_URL_MAX;
        if (ok) {
            memcpy(one, p, n);
            one[n] = '\0';
            ok = strncmp(one, "https://", 8) == 0 ? https_url(one, false) : host_pattern_ok(one, n);
        }
        if (!ok) {
            /* cut: a message */
            snprintf(why, why_len, "'%.*s' is neither an https:// issuer URL nor a host pattern "
                     "(HOST, HOST:PORT, *.DOMAIN)", (int)(n > 200 ? 200 : n), p);
            return -1;
        }
        if (!p[n]) return 0;
        p += n + 1;
    }
}

bool oidc_remote_allowed_match(const char *list, const char *issuer)
{
    if (!list) return true;
    if (!issuer || strncmp(issuer, "https://", 8) != 0) return false;
    size_t alen;
    const char *a = url_authority(issuer, &alen);
    if (memchr(a, '@', alen)) return false;             /* user info: never */
    for (const char *p = list;;) {
        size_t n = strcspn(p, ",");
        if (n && entry_admits(p, n, issuer)) return true;
        if (!p[n]) return false;
        p += n + 1;
    }
}

/* The host and port of an https URL as libcurl reads it (port "443" when
 * none is given), freed with curl_free; false when it does not parse. */
static bool url_host_port(const char *url, char **host, char **port)
{
    *host = *port = NULL;
    CURLU *u = curl_url();
    if (!u) return false;
    bool ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, host, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_PORT, port, CURLU_DEFAULT_PORT) == CURLUE_OK;
    curl_url_cleanup(u);
    if (!ok) {
        curl_free(*host);
        curl_free(*port);
        *host = *port = NULL;
    }
    return ok;
}

bool oidc_remote_allowed_fetch(const char *list, const char *url)
{
    if (!list) return true;
    char *host, *port;
    if (!https_url(url, true) || !url_host_port(url, &host, &port)) return false;
    char auth[OIDC_REMOTE_URL_MAX + 16];        /* "https://HOST:PORT", what entry_admits reads */
    int w = snprintf(auth, sizeof auth, "https://%s:%s", host, port);
    bool ok = false;
    for (const char *p = list; w > 0 && (size_t)w < sizeof auth;) {
        size_t n = strcspn(p, ",");
        if (n > 8 && n <= OIDC_REMOTE_URL_MAX && strncmp(p, "https://", 8) == 0) {   /* its host and port */
            char one[OIDC_REMOTE_URL_MAX + 1], *eh, *ep;
            memcpy(one, p, n);
            one[n] = '\0';
            if (url_host_port(one, &eh, &ep)) {
                ok = strcasecmp(eh, host) == 0 && strcmp(ep, port) == 0;
                curl_free(eh);
                curl_free(ep);
            }
        } else if (n) {
            ok = entry_admits(p, n, auth);
        }
        if (ok || !p[n]) break;
        p += n + 1;
    }
    curl_free(host);
    curl_free(port);
    return ok;
}

int oidc_remote_set_allowed(const char *list, char *why, size_t why_len)
{
    free(g.allowed);
    g.allowed = NULL;
    if (!list) return 0;
    if (oidc_remote_allowed_check(list, why, why_len) != 0) return -1;
    g.allowed = strdup(list);
    if (!g.allowed) {
        snprintf(why, why_len, "out of memory");   /* cut: a message */
        return -1;
    }
    return 0;
}

long oidc_remote_ttl(const char *cc)
{
    if (!cc) return OIDC_REMOTE_TTL_DEFAULT;
    long max_age = -1;
    const char *p = cc;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        const char *name = p;
        while (*p && *p != ',' && *p != '=' && *p != ' ' && *p != '\t') p++;
        size_t nlen = (size_t)(p - name);
        while (*p == ' ' || *p == '\t') p++;
        const char *val = NULL;
        size_t vlen = 0;
        if (*p == '=') {
            p++;
            while (*p == ' ' || *p == '\t') p++;
            bool quoted = *p == '"';
            if (quoted) p++;
            val = p;
            while (*p && (quoted ? *p != '"' : (*p != ',' && *p != ' ' && *p != '\t'))) p++;
            vlen = (size_t)(p - val);
            if (quoted && *p == '"') p++;
        }
        while (*p && *p != ',') p++;     /* anything else up to the next directive */
        if ((nlen == 8 && strncasecmp(name, "no-store", 8) == 0) ||
            (nlen == 8 && strncasecmp(name, "no-cache", 8) == 0))
            return 0;
        if (nlen == 7 && strncasecmp(name, "max-age", 7) == 0 && val && vlen > 0 && max_age < 0) {
            long n = 0;
            size_t i = 0;
            for (; i < vlen && val[i] >= '0' && val[i] <= '9'; i++)
                if (n <= OIDC_REMOTE_TTL_MAX) n = n * 10 + (val[i] - '0');
            if (i == vlen) max_age = n;     /* a malformed max-age counts as none */
        }
    }
    if (max_age < 0) return OIDC_REMOTE_TTL_DEFAULT;
    if (max_age < OIDC_REMOTE_TTL_MIN) return OIDC_REMOTE_TTL_MIN;
    if (max_age > OIDC_REMOTE_TTL_MAX) return OIDC_REMOTE_TTL_MAX;
    return max_age;
}

/* A JSON object from body, or NULL with the reason in why. */
static json_t *load_object(const char *body, size_t len, size_t max, const char *what, char *why, size_t why_len)
{
    if (len > max) {
        snprintf(why, why_len, "the %s is larger than %zu bytes", what, max);   /* cut: a message */
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        snprintf(why, why_len, "the %s is not JSON (%s)", what, jerr.text);   /* cut: a message */
        return NULL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        snprintf(why, why_len, "the %s is not a JSON object", what);   /* cut: a message */
        return NULL;
    }
    return doc;
}

int oidc_remote_parse_discovery(const char *body, size_t len, const char *issuer, char *jwks_uri,
                                size_t uri_len, char *why, size_t why_len)
{
    json_t *doc = load_object(body, len, OIDC_REMOTE_DISCOVERY_MAX, "discovery document", why, why_len);
    if (!doc) return -1;
    int rc = -1;
    const char *iss = json_string_value(json_object_get(doc, "issuer"));
    const char *uri = json_string_value(json_object_get(doc, "jwks_uri"));
    if (!iss) {
        snprintf(why, why_len, "the discovery document has no \"issuer\"");   /* cut: a message */
    } else if (strcmp(iss, issuer) != 0) {
        snprintf(why, why_len, "the discovery document's issuer is not the token's");   /* cut: a message */
    } else if (!uri) {
        snprintf(why, why_len, "the discovery document has no \"jwks_uri\"");   /* cut: a message */
    } else if (!https_url(uri, true)) {
        snprintf(why, why_len, "the discovery document's jwks_uri is not an https URL");   /* cut: a message */
    } else if (strlen(uri) >= uri_len) {
        snprintf(why, why_len, "the discovery document's jwks_uri is too long");   /* cut: a message */
    } else {
        memcpy(jwks_uri, uri, strlen(uri) + 1);
        rc = 0;
    }
    json_decref(doc);
    return rc;
}

int oidc_remote_parse_jwks(const char *body, size_t len, json_t **jwks, char *why, size_t why_len)
{
    json_t *doc = load_object(body, len, OIDC_REMOTE_JWKS_MAX, "JWKS document", why, why_len);
    if (!doc) return -1;
    if (!json_is_array(json_object_get(doc, "keys"))) {
        json_decref(doc);
        snprintf(why, why_len, "the JWKS document has no \"keys\" array");   /* cut: a message */
        return -1;
    }
    *jwks = doc;
    return 0;
}

/* ---- the transfer ---- */

struct body {
    struct buf b;
    bool too_big;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
    struct body *bd = arg;
    size_t n = size * nmemb;
    if (n > bd->b.max - bd->b.len) { bd->too_big = true; return 0; }   /* aborts: CURLE_WRITE_ERROR */
    if (tr_failed(buf_append(&bd->b, p, n))) return 0;
    return n;
}

/* Adds --oidc-ca-file's certificates to the store libcurl filled with the
 * system's CA bundle (a duplicate is no error). */
static CURLcode add_private_ca(CURL *c, void *ssl_ctx, void *arg)
{
    (void)c;
    (void)arg;
    X509_STORE *st = SSL_CTX_get_cert_store(ssl_ctx);
    for (int i = 0; i < sk_X509_num(g.ca); i++) X509_STORE_add_cert(st, sk_X509_value(g.ca, i));
    ERR_clear_error();
    return CURLE_OK;
}

/* An untrusted string for the log (a URL, libcurl's error text that may
 * quote the server): each byte outside printable ASCII becomes '?', so a
 * record stays one line; cut to cap. */
static void esc(const char *s, char *out, size_t cap)
{
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++) out[i] = (s[i] >= ' ' && s[i] < 0x7f) ? s[i] : '?';
    out[i] = '\0';
}

/* GET url; 0 with the body in bd (and the ttl its Cache-Control gives in
 * *ttl when ttl is not NULL), or -1 with the reason in why. */
static int http_get(const char *issuer, const char *url, size_t max, struct body *bd, long *ttl,
                    char *why, size_t why_len)
{
    char curl_err[CURL_ERROR_SIZE] = "";
    long status = 0;
    int rc = -1;
    bd->b = BUF_INIT((uint32_t)max);
    bd->too_big = false;
    pthread_mutex_lock(&g.lock);
    long connect_ms = g.connect_ms ? g.connect_ms : OIDC_CONNECT_TIMEOUT_MS;
    long total_ms = g.total_ms ? g.total_ms : OIDC_TOTAL_TIMEOUT_MS;
    pthread_mutex_unlock(&g.lock);
    CURL *h = curl_easy_init();
    if (!h) { snprintf(why, why_len, "libcurl: out of memory"); return -1; }   /* cut: a message */
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    bool manual = g.allowed != NULL;    /* each redirect checked against the list, below */
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, manual ? 0L : 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, OIDC_MAX_REDIRS);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, total_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, bd);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "tresor-oidc");
    if (g.ca) curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, add_private_ca);
    CURLcode cr;
    char next[OIDC_REMOTE_URL_MAX + 1];
    bool redirect_refused = false;
    for (long hops = 0;; hops++) {
        cr = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        char *loc = NULL;
        if (!manual || cr != CURLE_OK || status < 300 || status > 399 ||
            curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc) != CURLE_OK || !loc)
            break;              /* a 3xx without a Location stays a status other than 200 */
        redirect_refused = hops == OIDC_MAX_REDIRS || strlen(loc) > OIDC_REMOTE_URL_MAX ||
                           !oidc_remote_allowed_fetch(g.allowed, loc);
        if (hops == OIDC_MAX_REDIRS) {
            snprintf(why, why_len, "%s: more than %ld redirects", url, OIDC_MAX_REDIRS);   /* cut: a message */
            break;
        }
        if (redirect_refused) {
            /* cut: a message */
            snprintf(why, why_len, "%s: redirected to %s, which --oidc-allowed-issuers does not admit", url, loc);
            break;
        }
        memcpy(next, loc, strlen(loc) + 1);     /* loc is the handle's until the next transfer */
        curl_off_t spent_us = 0;
        curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &spent_us);
        total_ms -= (long)(spent_us / 1000);    /* one time limit for all the hops */
        if (total_ms < 1) total_ms = 1;
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, total_ms);
        curl_easy_setopt(h, CURLOPT_URL, next);
        buf_reset(&bd->b);                      /* the 3xx's own body */
        bd->too_big = false;
    }
    char eurl[512], eiss[512];
    esc(url, eurl, sizeof eurl);
    esc(issuer, eiss, sizeof eiss);
    if (redirect_refused) {
        /* why says which */
    } else if (bd->too_big || cr == CURLE_FILESIZE_EXCEEDED) {
        snprintf(why, why_len, "%s: the response is larger than %zu bytes", url, max);   /* cut: a message */
    } else if (cr != CURLE_OK) {
        snprintf(why, why_len, "%s: %s", url, curl_err[0] ? curl_err : curl_easy_strerror(cr));   /* cut: a message */
    } else if (status != 200) {
        snprintf(why, why_len, "%s: HTTP status %ld, not 200", url, status);   /* cut: a message */
    } else {
        rc = 0;
        long t = OIDC_REMOTE_TTL_DEFAULT;
        if (ttl) {
            /* Every Cache-Control header of the final response, joined. */
            char cc[512] = "";
            size_t used = 0;
            struct curl_header *hd;
            for (size_t i = 0; curl_easy_header(h, "Cache-Control", i, CURLH_HEADER, -1, &hd) == CURLHE_OK; i++) {
                int w = snprintf(cc + used, sizeof cc - used, "%s%s", used ? ", " : "", hd->value);
                if (w < 0 || (size_t)w >= sizeof cc - used) break;
                used += (size_t)w;
                if (i + 1 >= hd->amount) break;
            }
            t = oidc_remote_ttl(used ? cc : NULL);
            *ttl = t;
        }
        if (ttl)
            log_msg("info", "oidc: %s: GET %s: HTTP %ld, %u bytes, kept %ld s", eiss, eurl, status, bd->b.len, t);
        else
            log_msg("info", "oidc: %s: GET %s: HTTP %ld, %u bytes", eiss, eurl, status, bd->b.len);
    }
    if (rc != 0) {
        char ewhy[512];
        esc(why, ewhy, sizeof ewhy);
        log_msg("warn", "oidc: %s: fetching its keys failed: %s", eiss, ewhy);
        buf_free(&bd->b);
    }
    curl_easy_cleanup(h);
    return rc;
}

/* The issuer's JWKS, fetched (discovery, then jwks_uri), or -1 with why. */
static int fetch(const char *issuer, json_t **jwks, long *ttl, char *why, size_t why_len)
{
    char url[OIDC_REMOTE_URL_MAX + sizeof OIDC_DISCOVERY_PATH];
    char jwks_uri[OIDC_REMOTE_URL_MAX + 1];
    struct body bd;
    if (oidc_remote_discovery_url(issuer, url, sizeof url) != 0) {
        snprintf(why, why_len, "the issuer is not an https URL");   /* cut: a message */
        return -1;
    }
    if (http_get(issuer, url, OIDC_REMOTE_DISCOVERY_MAX, &bd, NULL, why, why_len) != 0) return -1;
    int rc = oidc_remote_parse_discovery((const char *)bd.b.data, bd.b.len, issuer, jwks_uri, sizeof jwks_uri,
                                         why, why_len);
    buf_free(&bd.b);
    if (rc == 0 && !oidc_remote_allowed_fetch(g.allowed, jwks_uri)) {
        char euri[128];         /* a long jwks_uri cut */
        esc(jwks_uri, euri, sizeof euri);
        snprintf(why, why_len, "its jwks_uri %s is on a host --oidc-allowed-issuers does not admit", euri);   /* cut: */
        rc = -1;
    }
    if (rc == 0) rc = http_get(issuer, jwks_uri, OIDC_REMOTE_JWKS_MAX, &bd, ttl, why, why_len);
    else rc = -2;
    if (rc == 0) {
        rc = oidc_remote_parse_jwks((const char *)bd.b.data, bd.b.len, jwks, why, why_len);
        buf_free(&bd.b);
        if (rc != 0) rc = -2;
    }
    if (rc == -2) {             /* a document refused after a good transfer */
        char eiss[512], ewhy[512];
        esc(issuer, eiss, sizeof eiss);
        esc(why, ewhy, sizeof ewhy);
        log_msg("warn", "oidc: %s: refusing its keys: %s", eiss, ewhy);
    }
    return rc == 0 ? 0 : -1;
}

/* ---- the cache ---- */

/* The entry of issuer, made if none (with g.lock held); NULL when out of
 * memory or every slot is busy. */
static struct entry *entry_get(const char *issuer)
{
    for (struct entry *e = g.head; e; e = e->next)
        if (strcmp(e->issuer, issuer) == 0) return e;
    if (g.n >= OIDC_REMOTE_ISSUERS_MAX) {
        struct entry **victim = NULL;
        for (struct entry **pe = &g.head; *pe; pe = &(*pe)->next)
            if (!(*pe)->users && !(*pe)->in_flight && (!victim || (*pe)->tried_at < (*victim)->tried_at))
                victim = pe;
        if (!victim) return NULL;
        struct entry *v = *victim;
        *victim = v->next;
        json_decref(v->jwks);
        free(v->issuer);
        free(v);
        g.n--;
    }
    struct entry *e = calloc(1, sizeof *e);
    if (!e || !(e->issuer = strdup(issuer))) { free(e); return NULL; }
    e->next = g.head;
    g.head = e;
    g.n++;
    return e;
}

/* A deep copy of the entry's document into *jwks (with g.lock held). */
static int hand_out(struct entry *e, json_t **jwks, char *why, size_t why_len)
{
    *jwks = json_deep_copy(e->jwks);
    if (*jwks) return OIDC_REMOTE_OK;
    snprintf(why, why_len, "out of memory");   /* cut: a message */
    return OIDC_REMOTE_UNAVAILABLE;
}

int oidc_remote_jwks(const char *issuer, int refresh, json_t **jwks, char *why, size_t why_len)
{
    char url[OIDC_REMOTE_URL_MAX + sizeof OIDC_DISCOVERY_PATH];
    *jwks = NULL;
    if (why_len) why[0] = '\0';
    if (!issuer || oidc_remote_discovery_url(issuer, url, sizeof url) != 0) {
        snprintf(why, why_len, "the issuer is not an https URL without query or fragment");   /* cut: a message */
        return OIDC_REMOTE_UNAVAILABLE;
    }
    if (!oidc_remote_allowed_match(g.allowed, issuer)) {     /* before any fetch, and any cache entry */
        snprintf(why, why_len, "the issuer is not in --oidc-allowed-issuers");   /* cut: a message */
        return OIDC_REMOTE_UNAVAILABLE;
    }
    pthread_mutex_lock(&g.lock);
    if (!g.curl_up) {
        pthread_mutex_unlock(&g.lock);
        snprintf(why, why_len, "fetching issuers' keys is not set up");   /* cut: a message */
        return OIDC_REMOTE_UNAVAILABLE;
    }
    struct entry *e = entry_get(issuer);
    if (!e) {
        pthread_mutex_unlock(&g.lock);
        snprintf(why, why_len, "too many issuers being fetched at once");   /* cut: a message */
        return OIDC_REMOTE_UNAVAILABLE;
    }
    e->users++;
    int rc;
    bool waited = false;        /* a fetch finished while we waited: its outcome is ours */
    for (;;) {
        int64_t now = now_s();
        if (e->jwks && now - e->fetched_at > OIDC_REMOTE_TTL_MAX) {    /* too old even when stale is all */
            json_decref(e->jwks);
            e->jwks = NULL;
        }
        bool fresh = e->jwks && now < e->expires_at;
        bool too_soon = e->tried && now - e->tried_at < OIDC_REMOTE_REFETCH_GAP;
        if (e->in_flight) {
            pthread_cond_wait(&g.done, &g.lock);
            waited = true;
            continue;
        }
        if (e->jwks && ((fresh && !refresh) || too_soon || waited)) { rc = hand_out(e, jwks, why, why_len); break; }
        if (!e->jwks && (too_soon || waited)) {
            snprintf(why, why_len, "%s", e->why[0] ? e->why : "the issuer's keys could not be fetched");   /* cut: */
            rc = OIDC_REMOTE_UNAVAILABLE;
            break;
        }
        /* Fetch, the lock released: other issuers' callers go on. */
        e->in_flight = true;
        e->tried = true;
        e->tried_at = now;
        g.fetches++;
        pthread_mutex_unlock(&g.lock);
        json_t *doc = NULL;
        long ttl = OIDC_REMOTE_TTL_DEFAULT;
        char fwhy[sizeof e->why];
        int fr = fetch(issuer, &doc, &ttl, fwhy, sizeof fwhy);
        pthread_mutex_lock(&g.lock);
        now = now_s();
        e->in_flight = false;
        pthread_cond_broadcast(&g.done);
        if (fr == 0) {
            json_decref(e->jwks);
            e->jwks = doc;
            e->fetched_at = now;
            e->expires_at = now + ttl;
            e->stale_logged = false;
            e->why[0] = '\0';
            rc = hand_out(e, jwks, why, why_len);
            break;
        }
        memcpy(e->why, fwhy, sizeof e->why);
        if (e->jwks && now - e->fetched_at > OIDC_REMOTE_TTL_MAX) {
            json_decref(e->jwks);
            e->jwks = NULL;
        }
        if (!e->jwks) {
            snprintf(why, why_len, "%s", fwhy);   /* cut: a message */
            rc = OIDC_REMOTE_UNAVAILABLE;
            break;
        }
        if (!e->stale_logged) {
            char eiss[512];
            esc(issuer, eiss, sizeof eiss);
            log_msg("warn", "oidc: %s: using the keys fetched %lld s ago until a fetch succeeds (for at most "
                    "%d s)", eiss, (long long)(now - e->fetched_at), OIDC_REMOTE_TTL_MAX);
            e->stale_logged = true;
        }
        rc = hand_out(e, jwks, why, why_len);
        break;
    }
    e->users--;
    pthread_mutex_unlock(&g.lock);
    return rc;
}
