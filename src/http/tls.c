/*
 * tls.c -- the server's TLS credentials: load, check, hand to GnuTLS,
 * reload.
 *
 * libmicrohttpd does TLS through GnuTLS (bench/README.md, "The HTTP
 * engine", says why this engine and this library).  tresor does not hand
 * MHD the certificate and key as fixed strings: MHD asks
 * tls_cert_callback during each handshake
 * (MHD_OPTION_HTTPS_CERT_CALLBACK -> gnutls_certificate_set_retrieve_function2),
 * and the callback answers with the current credentials, so SIGHUP can
 * swap them (tls_reload) without touching a connection: new handshakes get
 * the new certificate, established connections carry on with the keys
 * they negotiated.
 *
 * Lifetime.  GnuTLS keeps the pointers the callback returns in the
 * session, without a reference, until the session is freed.  So retired
 * credentials are freed only when no connection that may hold them is
 * open.  Each credential set has a generation (1, 2, ...: the reload
 * that made it current); a connection records the current generation when
 * it opens (server.c), before its handshake can call the callback, so the
 * credentials it can hold are of that generation or later.  Retired
 * generation g is freed once every open connection recorded a generation
 * above g (tls_release, from server.c's connection-closed notice).
 *
 * Checks at load (start and reload), each failure a message naming the
 * file and the reason, never key bytes: the key file accessible by group
 * or others is refused (as ssh does for its keys); the certificate file
 * must hold one to 16 PEM certificates, the server's first; the key must
 * be an unencrypted PEM private key; and it must be the certificate's
 * (the public keys compared).  The key file's bytes are read into locked
 * memory and wiped once GnuTLS has imported them; GnuTLS's own copy of
 * the key lives in its allocations (bench/README.md notes what that
 * costs).
 *
 * The priority string (tls_priorities): TLS 1.2 and 1.3 only (or 1.3
 * only: --tls-min-version 1.3); AEAD ciphers only (AES-GCM and
 * ChaCha20-Poly1305: -MAC-ALL:+AEAD leaves no CBC/HMAC suite); in TLS
 * 1.2, ECDHE key exchange only (forward secrecy; no static RSA, no finite
 * field DHE), signed with ECDSA or RSA to match the certificate; TLS 1.3
 * picks its group from NORMAL's list.  %SERVER_PRECEDENCE: our order, not
 * the client's.  ALPN: MHD offers http/1.1 (and http/1.0) itself.
 */
#include "http/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/secmem.h"
#include "core/str.h"

#define CHAIN_MAX 16
#define CERT_FILE_MAX (256u * 1024)
#define KEY_FILE_MAX (64u * 1024)

/* One certificate chain and its key. */
struct tls_creds {
    gnutls_pcert_st pcert[CHAIN_MAX];
    unsigned npcert;
    gnutls_privkey_t key;
    uint64_t gen;
    struct tls_creds *next;             /* on the retired list */
};

struct tls_ctx {
    pthread_mutex_t lock;               /* guards cur, gen and retired */
    struct tls_creds *cur;
    uint64_t gen;
    struct tls_creds *retired;
    unsigned min_version;
    char *cert_path, *key_path;
};

/* The context the callback answers from (tls_open sets it). */
static struct tls_ctx *the_ctx;

const char *tls_priorities(unsigned min_version)
{
    if (min_version == 12)
        return "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"
               "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE";
    if (min_version == 13)
        return "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"
               "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:%SERVER_PRECEDENCE";
    return NULL;
}

static void creds_free(struct tls_creds *c)
{
    if (!c) return;
    for (unsigned i = 0; i < c->npcert; i++) gnutls_pcert_deinit(&c->pcert[i]);
    if (c->key) gnutls_privkey_deinit(c->key);
    free(c);
}

/* Read the whole of path (at most max bytes) into *out (secmem when
 * secret; the caller frees it with secmem_free(*out, max) or free).  For
 * the key file, its mode is checked on the open descriptor. */
static TR_RESULT read_file(const char *path, const char *what, bool secret, size_t max,
                           uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) BAIL(TR_E_VALIDATION, "cannot read the TLS %s %s: %s", what, path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        BAIL(TR_E_VALIDATION, "the TLS %s %s is not a regular file", what, path);
    }
    if (secret && (sb.st_mode & (S_IRWXG | S_IRWXO))) {
        close(fd);
        BAIL(TR_E_VALIDATION, "the TLS %s %s is accessible by group or others (mode %04o): "
             "refusing to use it; chmod 600 %s", what, path, (unsigned)(sb.st_mode & 07777), path);
    }
    uint8_t *p = secret ? secmem_alloc(max) : calloc(1, max);
    if (!p) { close(fd); BAIL(TR_E_INTERNAL, "out of memory"); }
    size_t n = 0;
    for (;;) {
        ssize_t k = read(fd, p + n, max - 1 - n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        n += (size_t)k;
        if (n == max - 1) break;
    }
    char extra;
    bool too_big = n == max - 1 && read(fd, &extra, 1) == 1;
    close(fd);
    if (too_big || n == 0) {
        if (secret) secmem_free(p, max); else free(p);
        BAIL(TR_E_VALIDATION, "the TLS %s %s is %s", what, path, n == 0 ? "empty" : "too large");
    }
    *out = p;
    *len = n;
    return TR_OK;
}

/* Is the private key the certificate's?  Compares the DER public keys. */
static bool key_matches(gnutls_pcert_st *cert, gnutls_privkey_t key)
{
    gnutls_pubkey_t pub = NULL;
    gnutls_datum_t a = { 0 }, b = { 0 };
    bool same = false;
    if (gnutls_pubkey_init(&pub) < 0) return false;
    if (gnutls_pubkey_import_privkey(pub, key, 0, 0) >= 0 &&
        gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &a) >= 0 &&
        gnutls_pubkey_export2(cert->pubkey, GNUTLS_X509_FMT_DER, &b) >= 0)
        same = a.size == b.size && memcmp(a.data, b.data, a.size) == 0;   /* public keys */
    gnutls_free(a.data);
    gnutls_free(b.data);
    gnutls_pubkey_deinit(pub);
    return same;
}

/* Load and check the pair; *out is a new credential set. */
static TR_RESULT creds_load(const char *cert_path, const char *key_path, struct tls_creds **out)
{
    uint8_t *cert = NULL, *keyb = NULL;
    size_t cert_len = 0, key_len = 0;
    struct tls_creds *c = NULL;
    tr_result r = TR_OK;
    int rc;
    *out = NULL;

    r = read_file(key_path, "key file", true, KEY_FILE_MAX, &keyb, &key_len);
    if (tr_failed(r)) goto fail;
    r = read_file(cert_path, "certificate file", false, CERT_FILE_MAX, &cert, &cert_len);
    if (tr_failed(r)) goto fail;
    c = calloc(1, sizeof *c);
    if (!c) { r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "out of memory"); goto fail; }

    gnutls_datum_t d = { cert, (unsigned)cert_len };
    c->npcert = CHAIN_MAX;
    rc = gnutls_pcert_list_import_x509_raw(c->pcert, &c->npcert, &d, GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0 || c->npcert == 0) {
        c->npcert = 0;
        r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION, "the TLS certificate file %s holds no usable "
                       "PEM certificate chain (at most %d certificates, the server's first): %s",
                       cert_path, CHAIN_MAX, rc < 0 ? gnutls_strerror(rc) : "none found");
        goto fail;
    }
    rc = gnutls_privkey_init(&c->key);
    if (rc >= 0) {
        gnutls_datum_t k = { keyb, (unsigned)key_len };
        rc = gnutls_privkey_import_x509_raw(c->key, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
    }
    if (rc < 0) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION, "the TLS key file %s holds no usable unencrypted "
                       "PEM private key: %s", key_path, gnutls_strerror(rc));
        goto fail;
    }
    if (!key_matches(&c->pcert[0], c->key)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_VALIDATION, "the TLS key in %s is not the key of the "
                       "certificate in %s (the first certificate of the file)", key_path, cert_path);
        goto fail;
    }
    secmem_free(keyb, KEY_FILE_MAX);
    free(cert);
    *out = c;
    return TR_OK;
fail:
    if (keyb) secmem_free(keyb, KEY_FILE_MAX);
    free(cert);
    creds_free(c);
    return r;
}

TR_RESULT tls_open(const char *cert_path, const char *key_path, unsigned min_version,
                   struct tls_ctx **out)
{
    *out = NULL;
    ENSURE(tls_priorities(min_version) != NULL, TR_E_INTERNAL);
    struct tls_creds *c = NULL;
    GUARD(creds_load(cert_path, key_path, &c));
    struct tls_ctx *t = calloc(1, sizeof *t);
    if (t) {
        t->cert_path = strdup(cert_path);
        t->key_path = strdup(key_path);
    }
    if (!t || !t->cert_path || !t->key_path) {
        if (t) { free(t->cert_path); free(t->key_path); }
        free(t);
        creds_free(c);
        BAIL(TR_E_INTERNAL, "out of memory");
    }
    pthread_mutex_init(&t->lock, NULL);
    t->min_version = min_version;
    t->gen = c->gen = 1;
    t->cur = c;
    the_ctx = t;
    *out = t;
    return TR_OK;
}

TR_RESULT tls_reload(struct tls_ctx *t)
{
    ENSURE_REF(t);
    struct tls_creds *c = NULL;
    GUARD(creds_load(t->cert_path, t->key_path, &c));
    pthread_mutex_lock(&t->lock);
    c->gen = ++t->gen;
    t->cur->next = t->retired;
    t->retired = t->cur;
    t->cur = c;
    pthread_mutex_unlock(&t->lock);
    return TR_OK;
}

unsigned tls_min_version(const struct tls_ctx *t)
{
    return t->min_version;
}

uint64_t tls_generation(struct tls_ctx *t)
{
    pthread_mutex_lock(&t->lock);
    uint64_t g = t->gen;
    pthread_mutex_unlock(&t->lock);
    return g;
}

bool tls_has_retired(struct tls_ctx *t)
{
    pthread_mutex_lock(&t->lock);
    bool any = t->retired != NULL;
    pthread_mutex_unlock(&t->lock);
    return any;
}

void tls_release(struct tls_ctx *t, uint64_t oldest)
{
    struct tls_creds *gone = NULL;
    pthread_mutex_lock(&t->lock);
    for (struct tls_creds **pp = &t->retired; *pp;) {
        struct tls_creds *c = *pp;
        if (c->gen < oldest) {
            *pp = c->next;
            c->next = gone;
            gone = c;
        } else {
            pp = &c->next;
        }
    }
    pthread_mutex_unlock(&t->lock);
    while (gone) {
        struct tls_creds *next = gone->next;
        creds_free(gone);
        gone = next;
    }
}

void tls_describe(struct tls_ctx *t, char *out, size_t n)
{
    char dn[256] = "?";
    char when[32] = "?";
    gnutls_x509_crt_t crt = NULL;
    pthread_mutex_lock(&t->lock);
    unsigned chain = t->cur->npcert;
    bool ok = gnutls_x509_crt_init(&crt) >= 0 &&
              gnutls_x509_crt_import(crt, &t->cur->pcert[0].cert, GNUTLS_X509_FMT_DER) >= 0;
    pthread_mutex_unlock(&t->lock);
    time_t expires = 0;
    if (ok) {
        size_t dl = sizeof dn;
        if (gnutls_x509_crt_get_dn(crt, dn, &dl) < 0) STR_SET(dn, "?");
        expires = gnutls_x509_crt_get_expiration_time(crt);
        struct tm tm;
        if (expires != (time_t)-1 && gmtime_r(&expires, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    if (crt) gnutls_x509_crt_deinit(crt);
    /* cut: a line of the banner and the log, for people */
    snprintf(out, n, "certificate %s, valid until %s%s, chain of %u", dn, when,
             ok && expires != (time_t)-1 && expires < time(NULL) ? " (EXPIRED)" : "", chain);
}

void tls_free(struct tls_ctx *t)
{
    if (!t) return;
    if (the_ctx == t) the_ctx = NULL;
    tls_release(t, UINT64_MAX);
    creds_free(t->cur);
    pthread_mutex_destroy(&t->lock);
    free(t->cert_path);
    free(t->key_path);
    free(t);
}

int tls_cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
                      const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                      gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
    (void)session; (void)req_ca_dn; (void)nreqs; (void)pk_algos; (void)pk_algos_length;
    struct tls_ctx *t = the_ctx;
    if (!t) return -1;
    pthread_mutex_lock(&t->lock);
    *pcert = t->cur->pcert;
    *pcert_length = t->cur->npcert;
    *pkey = t->cur->key;
    pthread_mutex_unlock(&t->lock);
    return 0;
}
