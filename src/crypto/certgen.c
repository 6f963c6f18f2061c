/*
 * certgen.c -- a local CA and a server certificate for
 * `tresor serve --tls-generate`.
 *
 * Both keys are ECDSA P-256 (OpenSSL's EVP_EC_gen), the certificates
 * X.509 v3 signed with SHA-256, serials 128 random bits (RFC 5280 4.1.2.2:
 * positive, at most 20 octets).  The CA: CN "tresor local CA", valid ten
 * years, basicConstraints CA:TRUE (critical), pathlen 0, keyUsage
 * keyCertSign and cRLSign (critical), a subject key identifier.  The
 * server certificate: CN the first name of san, valid 825 days (the most
 * some clients accept for a server certificate), basicConstraints
 * CA:FALSE, keyUsage digitalSignature (critical), extendedKeyUsage
 * serverAuth, subjectAltName as given, the CA's key identifier.
 *
 * Files in dir: ca.key and server.key (mode 0600, PKCS#8 PEM,
 * unencrypted: the server reads its key at start and on SIGHUP), ca.pem
 * and server.pem (0644).  Each is written to a temporary name, flushed
 * and fsynced, then renamed into place, server.pem last: a crash leaves
 * either no server.pem (the next start makes everything again) or all
 * four.  The CA's private key stays beside it so that a later version
 * could issue more; whoever holds it can mint certificates that clients
 * of this CA trust, which is why the directory is 0700.
 */
#include "crypto/certgen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define CA_DAYS (10 * 365)
#define SERVER_DAYS 825

/* A random positive 128-bit serial. */
static bool set_serial(X509 *x)
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) return false;
    b[0] &= 0x7f;
    b[0] |= 0x01;                       /* positive, and 16 octets */
    BIGNUM *bn = BN_bin2bn(b, sizeof b, NULL);
    bool ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok;
}

static bool add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    bool ok = e && X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok;
}

/* A certificate for key, named cn, signed by issuer_key (self-signed when
 * issuer is NULL), valid days from now. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, long days,
                       bool ca, const char *san)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    bool ok = x && name && X509_set_version(x, 2) == 1 && set_serial(x) &&
              X509_gmtime_adj(X509_getm_notBefore(x), -300) &&   /* five minutes of clock skew */
              X509_gmtime_adj(X509_getm_notAfter(x), days * 86400L) &&
              X509_set_pubkey(x, key) == 1 &&
              X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) == 1 &&
              X509_set_subject_name(x, name) == 1 &&
              X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) == 1;
    X509 *iss = issuer ? issuer : x;
    if (ok && ca)
        ok = add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
             add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign") &&
             add_ext(x, iss, NID_subject_key_identifier, "hash");
    if (ok && !ca)
        ok = add_ext(x, iss, NID_basic_constraints, "CA:FALSE") &&
             add_ext(x, iss, NID_key_usage, "critical,digitalSignature") &&
             add_ext(x, iss, NID_ext_key_usage, "serverAuth") &&
             add_ext(x, iss, NID_subject_alt_name, san) &&
             add_ext(x, iss, NID_authority_key_identifier, "keyid:always");
    if (ok) ok = X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
    X509_NAME_free(name);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* Write dir/name through a temporary file, mode `mode`, fsynced, renamed. */
static TR_RESULT write_pem(const char *dir, const char *name, mode_t mode, EVP_PKEY *key, X509 *cert)
{
    char tmp[4096], path[4096];
    int n1 = snprintf(path, sizeof path, "%s/%s", dir, name);
    int n2 = snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    if (n1 < 0 || (size_t)n1 >= sizeof path || n2 < 0 || (size_t)n2 >= sizeof tmp)
        BAIL(TR_E_VALIDATION, "path too long: %s", dir);
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) BAIL(TR_E_INTERNAL, "cannot create %s: %s", tmp, strerror(errno));
    FILE *f = fdopen(fd, "w");
    if (!f) { close(fd); unlink(tmp); BAIL(TR_E_INTERNAL, "cannot write %s", tmp); }
    bool ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1
                  : PEM_write_X509(f, cert) == 1;
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        BAIL(TR_E_INTERNAL, "cannot write %s: %s", path, strerror(errno));
    }
    return TR_OK;
}

TR_RESULT certgen_write(const char *dir, const char *cn, const char *san)
{
    EVP_PKEY *ca_key = NULL, *srv_key = NULL;
    X509 *ca = NULL, *srv = NULL;
    tr_result r = TR_OK;

    ca_key = EVP_EC_gen("P-256");
    srv_key = EVP_EC_gen("P-256");
    if (ca_key && srv_key) ca = make_cert(ca_key, "tresor local CA", NULL, NULL, CA_DAYS, true, NULL);
    if (ca) srv = make_cert(srv_key, cn, ca, ca_key, SERVER_DAYS, false, san);
    if (!srv) {
        ERR_clear_error();
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "cannot make the TLS certificates (subject "
                       "alternative names %s)", san);
        goto fail;
    }
    r = write_pem(dir, "ca.key", 0600, ca_key, NULL);
    if (tr_ok(r)) r = write_pem(dir, "ca.pem", 0644, NULL, ca);
    if (tr_ok(r)) r = write_pem(dir, "server.key", 0600, srv_key, NULL);
    if (tr_ok(r)) r = write_pem(dir, "server.pem", 0644, NULL, srv);
    if (tr_ok(r)) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) { fsync(dfd); close(dfd); }
    }
fail:
    X509_free(srv);
    X509_free(ca);
    EVP_PKEY_free(srv_key);             /* OpenSSL's blocks are wiped when freed (crypto/mem.c) */
    EVP_PKEY_free(ca_key);
    return r;
}
