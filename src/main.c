/*
 * main.c -- the tresor binary: subcommands and server start-up.
 *
 * serve: config (flags, then TRESOR_* environment) -> the listening socket
 * (first: a port in use fails the start before the data dir is touched)
 * -> data dir -> root key -> store -> first-start initialization (account,
 * root credentials, credentials file) -> DIR/config's region -> maintenance
 * -> HTTP workers -> wait for SIGINT/SIGTERM, running maintenance every
 * minute -> the clean stop (stop accepting, answer the requests in flight
 * for up to --shutdown-grace seconds, a second signal cuts it short) ->
 * close the store, wipe the root key.
 *
 * --dev (src/dev/dev.h): loopback only, state in memory unless a data dir
 * is given, any access key accepted; the dev-mode lines below are marked.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "auth/key_last_used.h"
#include "cli/cli.h"
#include "cli/opts.h"
#include "core/cache.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/secmem.h"
#include "core/str.h"
#include "crypto/hash.h"
#include "crypto/certgen.h"
#include "crypto/keyring.h"
#include "crypto/mem.h"
#include "store/root_record.h"
#include "crypto/seal.h"
#include "dev/dev.h"
#include "oidc/keys.h"
#include "http/control.h"
#include "http/router.h"
#include "http/server.h"
#include "http/tls.h"
#include "iam/accounts.h"
#include "iam/authz.h"
#include "iam/iam_ops.h"
#include "iam/sts.h"
#include "kms/kms.h"
#include "oidc/remote_config.h"
#include "op/clock.h"
#include "secrets/ops.h"
#include "secrets/rotation.h"
#include "secrets/secrets.h"
#include "store/postgres.h"
#include "store/store.h"

#define TRESOR_VERSION "0.1.0"

struct serve_opts {
    const char *listen;
    const char *data_dir;
    const char *region;
    const char *regions;            /* --regions: a comma-separated list, or NULL */
    const char *account_id;
    unsigned threads;
    unsigned grace;                 /* --shutdown-grace, seconds */
    /* dev mode (src/dev/dev.h) */
    bool dev, enforce_iam, dir_given;
    const char *seed;
    /* TLS (http/tls.h) */
    const char *tls_cert, *tls_key;
    unsigned tls_min;               /* 12 or 13 */
    bool tls_generate, insecure_http;
    /* the audit log (audit/audit.h) */
    const char *audit_log;
    unsigned audit_every;
    bool metrics;                   /* --metrics: GET /metrics (core/metrics.h) */
    /* the seal (crypto/seal.h) */
    const char *seal, *passphrase_file;
    const char *pin_file, *p11_module, *p11_token, *p11_key;   /* the pkcs11 seal */
    const char *store;              /* --store: a PostgreSQL database (store/postgres.h) */
    unsigned store_conns;           /* --store-connections: its pool's bound (0: threads + 2) */
    const char *rotation_hooks;     /* --rotation-hooks DIR (secrets/rotation.h) */
    unsigned rotation_timeout;      /* --rotation-timeout, seconds */
    const char *oidc_ca_file;       /* --oidc-ca-file: a private CA of OIDC issuers (oidc/remote_config.h) */
    const char *oidc_allowed;       /* --oidc-allowed-issuers: the issuers whose keys may be fetched */
};

static const struct cli_opt serve_opts[] = {
    { "listen", 'l', "ADDR:PORT", "TRESOR_LISTEN", "127.0.0.1:8737",
      "address and port to listen on ([::1]:8737 for IPv6)" },
    { "data-dir", 'd', "DIR", "TRESOR_DATA_DIR", "./tresor-data",
      "the root key, the store and the credentials files; with --dev, state is in memory unless "
      "this is given" },
    { "store", 'B', "URL", "TRESOR_STORE", "DIR/tresor.db",
      "keep the store in this PostgreSQL database instead of the data dir's SQLite file: "
      "postgres://USER@HOST/DB?..., postgresql://..., or libpq key=value pairs; the root key, "
      "credentials and TLS files stay in the data dir; several nodes may serve one database, "
      "each with a copy of root.key (file seal) or the same passphrase or token (the sealed root key is "
      "kept in the database)" },
    { "store-connections", 'W', "N", "TRESOR_STORE_CONNECTIONS", "threads + 2",
      "with --store: at most N connections to PostgreSQL (1 to 1024), besides one for the other "
      "nodes' commits; a request that finds none free waits up to 5 s, then gets the service's "
      "internal error" },
    { "region", 'r', "REGION", "TRESOR_REGION", "us-east-1",
      "the region this server is: requests signed for another are refused (--dev serves every region)" },
    { "regions", 'Q', "R1,R2,...", "TRESOR_REGIONS", "--region alone",
      "serve several regions, each apart as in AWS (its own keys, aliases, secrets, managed keys); "
      "--region, if given, must be one of them, else the first is the default region" },
    { "account-id", 'a', "ID", "TRESOR_ACCOUNT_ID", "random",
      "the 12-digit id of the account created on first start; with --dev, 123456789012 unless given" },
    { "threads", 't', "N", "TRESOR_THREADS", "one per core", "HTTP worker threads, 1 to 256" },
    { "shutdown-grace", 'g', "S", "TRESOR_SHUTDOWN_GRACE", "10",
      "on SIGINT or SIGTERM, wait up to S seconds (0 to 3600) for the requests in flight to be "
      "answered; a second signal stops at once" },
    { "tls-cert", 'c', "FILE", "TRESOR_TLS_CERT", NULL,
      "serve HTTPS with this PEM certificate (the server's first, then any intermediates); "
      "needs --tls-key; SIGHUP reloads both" },
    { "tls-key", 'k', "FILE", "TRESOR_TLS_KEY", NULL,
      "the certificate's PEM private key, unencrypted; refused when group or others may access it" },
    { "tls-min-version", 'm', "1.2|1.3", "TRESOR_TLS_MIN_VERSION", "1.2",
      "the oldest TLS version accepted (TLS 1.2 and 1.3 only, AEAD cipher suites only)" },
    { "tls-generate", 'G', NULL, "TRESOR_TLS_GENERATE=1", NULL,
      "on first start make a local CA and a server certificate under DIR/tls/ and name the CA "
      "in DIR/config (ca_bundle), so the tresor profile verifies it; later starts reuse them" },
    { "insecure-http", 'I', NULL, "TRESOR_INSECURE_HTTP=1", NULL,
      "serve plain HTTP on an address that is not loopback: credentials, secrets and plaintext "
      "cross the network unencrypted" },
    { "audit-log", 'A', "FILE", "TRESOR_AUDIT_LOG", NULL,
      "append one JSON line per authenticated or refused request to FILE, hash-chained and signed "
      "(DIR/audit.pub; tresor audit verify); a line that cannot be written fails the request; "
      "SIGHUP reopens FILE" },
    { "audit-checkpoint", 'C', "N", "TRESOR_AUDIT_CHECKPOINT", "1000",
      "with --audit-log: a signed checkpoint line every N lines, 1 to 1000000" },
    { "metrics", 'M', NULL, "TRESOR_METRICS=1", NULL,
      "answer GET /metrics, without authentication, in Prometheus's text format: requests, "
      "latencies, store commits, caches; no secret or principal in it" },
    { "seal", 'x', "file|passphrase|pkcs11", "TRESOR_SEAL", "file",
      "how the root key is kept at rest, chosen on first start: file (DIR/root.key in the clear, for "
      "local use), passphrase (DIR/root.seal, wrapped under an Argon2id key of a passphrase) or pkcs11 "
      "(DIR/root.p11, wrapped by an AES key that never leaves a PKCS#11 token); later starts keep the "
      "data dir's seal and refuse another (tresor seal migrate moves a stopped data dir)" },
    { "passphrase-file", 'P', "FILE", NULL, NULL,
      "with the passphrase seal: read the passphrase from FILE (mode 0600), else from TRESOR_PASSPHRASE; "
      "with neither the server starts sealed (503) until tresor unseal" },
    CLI_OPTS_PKCS11,
    { "rotation-hooks", 'R', "DIR", "TRESOR_ROTATION_HOOKS", NULL,
      "rotate secrets with executables in place of Lambda functions: DIR/NAME serves "
      "arn:aws:lambda:REGION:ACCOUNT:function:NAME, runs as the role named in DIR/NAME.role "
      "(docs/ROTATION.md)" },
    { "rotation-timeout", 'O', "S", "TRESOR_ROTATION_TIMEOUT", "30",
      "the time limit of one rotation step, 1 to 900 seconds, as a Lambda function's" },
    { "oidc-ca-file", 'o', "FILE", "TRESOR_OIDC_CA_FILE", NULL,
      "trust the PEM CA certificates of FILE, besides the system's CA store, when fetching an OIDC "
      "issuer's signing keys over HTTPS (docs/OIDC.md)" },
    { "oidc-allowed-issuers", 'U', "LIST", "TRESOR_OIDC_ALLOWED_ISSUERS", "all",
      "fetch signing keys only for the OIDC issuers LIST admits, comma-separated: issuer URLs "
      "(https://HOST/PATH) or host patterns (HOST, HOST:PORT, *.DOMAIN; no PORT means 443); a token of "
      "another issuer is refused before any request leaves the server (docs/OIDC.md)" },
    { "oidc-jwks", 'J', "ISSUER=FILE", "TRESOR_OIDC_JWKS", NULL,
      "verify AssumeRoleWithWebIdentity tokens whose iss is ISSUER with the JSON Web Key Set in FILE, read "
      "at start (for issuers tresor has no route to); repeatable; the variable takes a comma-separated "
      "list (docs/OIDC.md)" },
    { "dev", 'D', NULL, "TRESOR_DEV=1", NULL,
      "development server for test suites: loopback only, any access key acts as the root user of "
      "the account, POST /moto-api/reset wipes all state" },
    { "seed", 'S', "FILE", NULL, NULL,
      "with --dev: preload policies, keys, secrets, users and roles from a JSON file" },
    { "enforce-iam", 'E', NULL, NULL, NULL,
      "with --dev: accepted and changes nothing; known principals are always authorized" },
    { 0 },
};

static const struct cli_row serve_env[] = {
    { "TRESOR_LOG=quiet", "drop the one-line-per-request log" },
    { "TRESOR_PASSPHRASE=PASSPHRASE", "the passphrase seal's passphrase, when --passphrase-file is not given "
                                      "(wiped from the environment once read)" },
    { "TRESOR_PKCS11_PIN=PIN", "the pkcs11 seal's token PIN, when --pkcs11-pin-file is not given (wiped from "
                               "the environment once read)" },
    { "TRESOR_CLOCK_OFFSET=SECONDS", "added to the clock used for key deletion and rotation dates "
                                     "(for tests; never the SigV4 clock window)" },
    { "TRESOR_LOG_FORMAT=json", "log one JSON object per line instead of text" },
    { "TRESOR_COMMIT=each", "one sync of the store's log per write instead of one shared by the writes "
                            "that arrive together (group, the default), to measure against or as a fallback" },
    { "TRESOR_COMMIT_WAIT=thread", "a write's reply waits for its sync on its worker thread instead of "
                                   "suspended (suspend, the default), to measure against" },
    { "TRESOR_CACHE=off", "turn off the request path's per-thread caches, to measure what they buy" },
    { "TRESOR_AUTHZ_TRACE=FILE", "for tests: append every authorization's action, resource and condition "
                                 "key names to FILE" },
    { "TRESOR_MAINTENANCE_INTERVAL=SECONDS", "the period of the maintenance pass (key deletion and rotation, "
                                             "expired sessions, the key usage records), 1 to 3600; 60 by default" },
    { 0 },
};

static const struct cli_cmd serve_cmd = {
    "serve",
    "[--listen ADDR:PORT] [--data-dir DIR] [--store URL] [--region REGION] [--regions R1,R2,...] [--account-id ID] "
    "[--threads N] [--store-connections N] "
    "[--shutdown-grace S] [--tls-cert FILE --tls-key FILE | --tls-generate] [--tls-min-version V] "
    "[--insecure-http] [--metrics] [--audit-log FILE [--audit-checkpoint N]] [--seal file|passphrase|pkcs11] "
    "[--passphrase-file FILE] [--pkcs11-module PATH] [--pkcs11-token LABEL] [--pkcs11-key LABEL] "
    "[--pkcs11-pin-file FILE] [--rotation-hooks DIR [--rotation-timeout S]] [--oidc-ca-file FILE] "
    "[--oidc-allowed-issuers LIST] "
    "[--oidc-jwks ISSUER=FILE ...] "
    "[--dev [--seed FILE] [--enforce-iam]]",
    "Run the server: the AWS KMS, Secrets Manager, IAM and STS APIs on one\n"
    "endpoint, every request authenticated with SigV4 and authorized with AWS's\n"
    "policy rules, so the AWS CLI, boto3 and the SDKs work against it with\n"
    "--endpoint-url.  SIGINT or SIGTERM stops it cleanly; SIGHUP reloads the TLS\n"
    "certificate and key and reopens the audit log.  Without TLS it listens on\n"
    "loopback addresses only, unless --insecure-http is given.\n",
    serve_opts, NULL, serve_env,
};

static const struct cli_row commands[] = {
    { "serve", "run the server: AWS KMS, Secrets Manager, IAM and STS on one endpoint" },
    { "who-can-decrypt", "who can read a secret's plaintext, and why: every path, with the "
                         "statements that allow it" },
    { "what-can-decrypt", "every secret a principal can read, and why" },
    { "policy simulate", "one decision of the policy engine, with the statements that made it" },
    { "snapshot collect", "an AWS account's IAM, KMS and Secrets Manager policies, read-only, into one file "
                          "the analysis answers from" },
    { "snapshot check", "read snapshots as the analysis does: shapes, counts and gaps" },
    { "snapshot diff", "who gained and who lost the ability to decrypt each secret between two snapshots "
                       "(a CI gate)" },
    { "account create", "another account in the store, with its root user's credentials" },
    { "account credentials", "an account's root credentials from the store, written to a new file" },
    { "check", "the store's integrity check (after a crash, a full disk, a restore)" },
    { "unseal", "unseal a running server with the passphrase or pkcs11 seal (passphrase or PIN on standard "
                "input)" },
    { "seal", "seal a running server again: its root key wiped from memory, requests refused" },
    { "seal migrate", "move a stopped server's data dir to another seal (file, passphrase, pkcs11), the same "
                      "root key" },
    { "rotate-root-key", "a new root key for a stopped server's data dir, everything re-wrapped, crash-safe" },
    { "audit verify", "check an audit log's hash chain and signatures, across rotated files" },
    { "audit hmac", "the HMAC an audit log writes for a known sensitive value" },
    { "backup", "a consistent copy of the store while the server runs (never the root key)" },
    { "restore", "a new data dir from a backup and the root key kept apart, checked" },
    { "migrate", "copy a stopped data dir's SQLite store into an empty PostgreSQL database" },
    { "version", "print the version" },
    { "help", "this text" },
};

static void usage(FILE *f)
{
    fprintf(f,
        "usage: tresor <command> [options]\n"
        "\n"
        "A self-hosted AWS KMS, Secrets Manager, IAM and STS, which answers who can\n"
        "decrypt a secret, and why.\n"
        "\n"
        "commands:\n");
    cli_columns(f, commands, sizeof commands / sizeof commands[0]);
    fprintf(f, "\n'tresor <command> --help' describes a command and every option it takes.\n");
}

/* The services this server serves, registered with it: the router knows
 * them only through this list (op.h struct op_service).  IAM comes first
 * of the query-protocol services: its namespace answers a query request
 * whose credential scope names none of them. */
static const struct op_service *const served[] = { &kms_service, &sm_service, &iam_service, &sts_service };

/* Periodic work: purge keys whose deletion date passed, rotate keys whose
 * rotation date passed, drop expired session credentials, purge secrets
 * whose recovery window ended, start the secret rotations that are due. */
static void maintenance(const struct server_env *env)
{
    int64_t now = tr_now();
    if (tr_failed(kms_maintenance(env, now))) log_msg("error", "KMS maintenance failed");
    if (tr_failed(iam_maintenance(env, now))) log_msg("error", "session maintenance failed");
    if (tr_failed(sm_maintenance(env, now))) log_msg("error", "Secrets Manager maintenance failed");
    if (tr_failed(sm_rotation_due(env, now))) log_msg("error", "scheduled rotation failed");
}

/* First start: the default account's root credentials, profile tresor. */
/* st: a PostgreSQL store whose first account this is, and kind the seal:
 * the sealed form goes into the store with the account (one transaction,
 * under the first-start lock), for the nodes that start after. */
struct first_creds { const char *dir; const char *region; store_t st; enum seal_kind kind; };

static TR_RESULT put_sealed_form(store_t st, const char *dir, enum seal_kind kind)
{
    struct buf form = BUF_INIT(4096);
    bool exists = false;
    tr_result r = root_sealed_read(dir, kind, false, &form, &exists);
    if (tr_ok(r) && !exists)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "%s/%s is gone", dir, seal_file_name(kind));
    if (tr_ok(r)) r = root_sealed_put(st, kind, form.data, form.len);
    buf_free(&form);
    return r;
}

static TR_RESULT write_first_creds(void *arg, const struct root_credentials *c)
{
    const struct first_creds *fc = arg;
    if (fc->st && (fc->kind == SEAL_PASSPHRASE || fc->kind == SEAL_PKCS11))
        GUARD(put_sealed_form(fc->st, fc->dir, fc->kind));
    return credfile_write(fc->dir, "tresor", c, fc->region);
}

/* A PostgreSQL store made before its sealed form was kept in it (or
 * migrated from SQLite), or whose form is of another seal than this
 * node's (a tresor seal migrate): the form of this node's seal file, whose
 * key was just checked against the store's root record, goes in, checked
 * again under the write lock.  *put says whether this call stored it. */
static TR_RESULT publish_sealed_form(store_t st, const char *dir, enum seal_kind kind, bool *put)
{
    enum seal_kind in_db = SEAL_NONE;
    struct buf form = BUF_INIT(4096);
    *put = false;
    GUARD(st[0]->tx_begin(st));
    tr_result r = root_sealed_get(st, &in_db, &form);
    buf_free(&form);
    if (tr_ok(r) && in_db != kind) {
        r = put_sealed_form(st, dir, kind);
        if (tr_ok(r)) r = st[0]->tx_commit(st);
        if (tr_ok(r)) *put = true;
        else st[0]->tx_rollback(st);
        return r;
    }
    st[0]->tx_rollback(st);
    return r;
}

/* Nodes first started at once on an empty PostgreSQL store, each with an
 * empty data dir: this one made a root key (dir's seal file for kind)
 * while another initialized the store under its own, so ours wraps
 * nothing.  It is removed, the store's sealed form (if any) written in its
 * place, and the start ends saying to start again: the next start unseals
 * the store's key (docs/internals/SEAL.md, "The sealed form in
 * PostgreSQL"). */
static void lost_first_start(store_t st, const char *dir, enum seal_kind kind)
{
    enum seal_kind mine = SEAL_NONE;
    char made[PATH_MAX + 64];
    if (snprintf(made, sizeof made, "%s/%s", dir, seal_file_name(kind)) < (int)sizeof made) unlink(made);
    if (tr_failed(cli_adopt_sealed_form(st, dir, &mine)))
        log_msg("warn", "%s/%s: %s", dir, seal_file_name(kind), tr_last_error()->message);
    fprintf(stderr, "tresor serve: another node initialized the store a moment ago under another root key; "
            "the one this start made is removed%s: start this node again\n",
            mine != SEAL_NONE ? ", and the store's sealed root key written in its place" : "");
}

/* A whole number of seconds, 0..3600 (--shutdown-grace). */
static bool parse_grace(const char *s, unsigned *out)
{
    char *end;
    if (!s || *s < '0' || *s > '9') return false;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || v > 3600) return false;
    *out = (unsigned)v;
    return true;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The clean stop on signal sig (http/server.h): stop accepting, then wait
 * for the requests in flight to be answered, up to `grace` seconds; a
 * second SIGINT/SIGTERM stops waiting.  Says what it waits for and how it
 * ended.  The caller then stops the server (http_server_stop). */
static void stop_cleanly(struct http_server *srv, int sig, unsigned grace, const sigset_t *sigs)
{
    unsigned idle = 0, n = http_server_quiesce(srv, &idle), left = n;
    log_msg("info", "stopping (signal %d): %u request%s in flight, waiting up to %u s for %s; "
            "%u idle connection%s closed", sig, n, n == 1 ? "" : "s", grace, n == 1 ? "it" : "them",
            idle, idle == 1 ? "" : "s");
    double deadline = now_seconds() + grace;
    for (;;) {
        double rest = deadline - now_seconds();
        unsigned slice = rest <= 0 ? 0 : rest < 0.05 ? (unsigned)(rest * 1000) : 50;
        if (http_server_drain(srv, slice, &left)) {
            log_msg("info", "stopping: all requests answered");
            return;
        }
        if (now_seconds() >= deadline) {
            log_msg("warn", "stopping: grace period of %u s over, %u request%s still in flight: "
                    "closing %s connection%s unanswered", grace, left, left == 1 ? "" : "s",
                    left == 1 ? "its" : "their", left == 1 ? "" : "s");
            return;
        }
        struct timespec zero = { 0, 0 };
        int again = sigtimedwait(sigs, NULL, &zero);
        if (again == SIGINT || again == SIGTERM) {
            log_msg("warn", "stopping: signal %d again, not waiting: %u request%s in flight, "
                    "closing %s connection%s unanswered", again, left, left == 1 ? "" : "s",
                    left == 1 ? "its" : "their", left == 1 ? "" : "s");
            return;
        }
    }
}

/* --tls-generate's subject alternative names (OpenSSL's syntax): the
 * listen address's host when it names one (not a wildcard), then
 * localhost, 127.0.0.1 and ::1; *cn gets the first name. */
static TR_RESULT generate_sans(const char *listen, char *san, size_t n, char *cn, size_t ncn)
{
    char host[256] = "";
    const char *colon = strrchr(listen, ':');
    size_t hl = colon ? (size_t)(colon - listen) : strlen(listen);
    if (hl >= 2 && listen[0] == '[' && listen[hl - 1] == ']')
        GUARD(str_format(host, sizeof host, "--listen host", "%.*s", (int)(hl - 2), listen + 1));
    else
        GUARD(str_format(host, sizeof host, "--listen host", "%.*s", (int)hl, listen));
    unsigned char bin[16];
    bool ip = inet_pton(AF_INET, host, bin) == 1 || inet_pton(AF_INET6, host, bin) == 1;
    bool wildcard = !host[0] || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
    bool known = strcmp(host, "localhost") == 0 || strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::1") == 0;
    GUARD(str_copy(cn, ncn, wildcard || known ? "localhost" : host, "certificate name"));
    return str_format(san, n, "certificate names", "%s%s%sDNS:localhost,IP:127.0.0.1,IP:::1",
                      wildcard || known ? "" : ip ? "IP:" : "DNS:", wildcard || known ? "" : host,
                      wildcard || known ? "" : ",");
}

/* --tls-generate: DIR/tls/ with a local CA and a server certificate,
 * made on the first start (crypto/certgen.h) and reused after; the
 * credentials are loaded like --tls-cert's, and DIR/config's tresor
 * profiles name the CA (ca_bundle).  ca_path: DIR/tls/ca.pem. */
static TR_RESULT tls_generated(const char *dir, const char *listen, unsigned min_version, char *ca_path,
                               size_t ca_size, bool *in_config, struct tls_ctx **tls)
{
    char tdir[PATH_MAX], cert[PATH_MAX + 16], key[PATH_MAX + 16];
    *in_config = false;
    GUARD(str_format(tdir, sizeof tdir, "data dir", "%s/tls", dir));
    if (mkdir(tdir, 0700) != 0 && errno != EEXIST) BAIL(TR_E_INTERNAL, "cannot create %s: %s", tdir, strerror(errno));
    GUARD(str_format(cert, sizeof cert, "data dir", "%s/server.pem", tdir));
    GUARD(str_format(key, sizeof key, "data dir", "%s/server.key", tdir));
    GUARD(str_format(ca_path, ca_size, "data dir", "%s/ca.pem", tdir));
    if (!file_exists(tdir, "server.pem") || !file_exists(tdir, "server.key") || !file_exists(tdir, "ca.pem")) {
        char san[512], cn[256];
        GUARD(generate_sans(listen, san, sizeof san, cn, sizeof cn));
        GUARD(certgen_write(tdir, cn, san));
        log_msg("info", "made a local CA (%s) and a server certificate for %s in %s", ca_path, san, tdir);
    }
    GUARD(tls_open(cert, key, min_version, tls));
    unsigned changed = 0;
    if (tr_failed(credfile_set_ca_bundle(dir, ca_path, &changed)))
        log_msg("warn", "%s/config: cannot name the CA (ca_bundle = %s): %s", dir, ca_path, tr_last_error()->message);
    else
        *in_config = true;
    if (changed) log_msg("info", "%s/config: the tresor profiles now verify the server against %s", dir, ca_path);
    return TR_OK;
}

/* SIGHUP: load the TLS certificate and key again (http/tls.h); new
 * connections get them, established ones are not touched.  A failed
 * reload keeps the credentials in use and says why. */
static void reload_tls(struct tls_ctx *tls)
{
    if (!tls) {
        log_msg("info", "SIGHUP: not serving TLS, nothing to reload");
        return;
    }
    if (tr_failed(tls_reload(tls))) {
        log_msg("error", "SIGHUP: TLS reload failed, still serving the previous certificate: %s",
                tr_last_error()->message);
        return;
    }
    char what[512];
    tls_describe(tls, what, sizeof what);
    log_msg("info", "SIGHUP: TLS reloaded: %s", what);
}

/* Maintenance, unless sealed (it unwraps key material to rotate keys). */
static void maintenance_unless_sealed(struct server_env *env)
{
    if (env->seal_lock) pthread_rwlock_rdlock(env->seal_lock);
    if (env->kr) maintenance(env);
    if (env->seal_lock) pthread_rwlock_unlock(env->seal_lock);
}

/* The pkcs11 seal's root key: root.p11 opened, or made on first start
 * (create), with the PIN of --pkcs11-pin-file or TRESOR_PKCS11_PIN.  No
 * PIN: *out NULL, sealed -- refused on a first start. */
static TR_RESULT open_root_key_p11(const char *dir, bool create, bool has_db, const struct serve_opts *o,
                                   struct keyring **out)
{
    struct buf pin = BUF_SECRET(SEAL_PASSPHRASE_MAX + 2);
    struct seal_p11_conf conf = seal_p11_conf_env(o->p11_module, o->p11_token, o->p11_key);
    bool wrong = false;
    tr_result r = seal_pin_load(o->pin_file, &pin);        /* wipes TRESOR_PKCS11_PIN either way */
    *out = NULL;
    if (tr_ok(r) && !conf.module)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "the pkcs11 seal needs its module: give "
                       "--pkcs11-module PATH or TRESOR_PKCS11_MODULE");
    if (tr_ok(r) && pin.len == 0 && (create || !has_db))
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "the pkcs11 seal needs the token's PIN on the first "
                       "start, to seal the new root key: give --pkcs11-pin-file FILE or TRESOR_PKCS11_PIN");
    else if (tr_ok(r) && pin.len && create) {
        r = seal_create_pkcs11(dir, &conf, pin.data, pin.len, &wrong, out);
        if (tr_ok(r)) log_msg("info", "root key created and sealed by key '%s' of PKCS#11 token '%s' in "
                              "%s/root.p11", conf.key, conf.token, dir);
    } else if (tr_ok(r) && pin.len) {
        r = seal_open_pkcs11(dir, NULL, &conf, pin.data, pin.len, &wrong, out);
    }
    buf_free(&pin);
    return r;
}

/* The root key of dir under its seal: root.key (created on first start:
 * create), or root.seal with the passphrase of --passphrase-file or
 * TRESOR_PASSPHRASE (created on first start), or root.p11
 * (open_root_key_p11).  No passphrase: *out NULL, sealed -- refused on a
 * first start, where there is nothing to unseal. */
static TR_RESULT open_root_key(const char *dir, enum seal_kind kind, bool create, bool has_db,
                               const struct serve_opts *o, struct keyring **out)
{
    struct buf pass = BUF_SECRET(SEAL_PASSPHRASE_MAX + 2);
    bool wrong = false;
    tr_result r = seal_passphrase_load(o->passphrase_file, &pass);   /* wipes TRESOR_PASSPHRASE either way */
    *out = NULL;
    if (kind != SEAL_PKCS11) {          /* TRESOR_PKCS11_PIN wiped and unset all the same */
        struct buf pin = BUF_SECRET(SEAL_PASSPHRASE_MAX + 2);
        if (tr_ok(seal_pin_load(NULL, &pin)) && pin.len)
            log_msg("warn", "%s has the %s seal: TRESOR_PKCS11_PIN is not used", dir, seal_kind_name(kind));
        buf_free(&pin);
    }
    if (tr_ok(r) && kind == SEAL_PKCS11) {
        if (pass.len) log_msg("warn", "%s has the pkcs11 seal: the passphrase given is not used", dir);
        r = open_root_key_p11(dir, create, has_db, o, out);
    } else if (tr_ok(r) && kind == SEAL_FILE) {
        if (pass.len) log_msg("warn", "%s has the file seal: the passphrase given is not used", dir);
        r = keyring_open(dir, create, out);
    } else if (tr_ok(r) && pass.len == 0 && (create || !has_db)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "the passphrase seal needs a passphrase on the first "
                       "start, to seal the new root key: give --passphrase-file FILE or TRESOR_PASSPHRASE");
    } else if (tr_ok(r) && pass.len && create) {
        r = seal_create_passphrase(dir, pass.data, pass.len, SEAL_PARAMS_DEFAULT, out);
        if (tr_ok(r)) log_msg("info", "root key created and sealed under the passphrase in %s/root.seal "
                              "(Argon2id, 64 MiB, t=3, p=1)", dir);
    } else if (tr_ok(r) && pass.len) {
        r = seal_open_passphrase(dir, pass.data, pass.len, &wrong, out);
    }
    buf_free(&pass);
    return r;
}

/* Settle what a tresor rotate-root-key cut short left in dir, saying so.
 * st: the PostgreSQL store, already open; NULL for the data dir's SQLite
 * store, opened read-only for the root record only if a .next exists. */
static TR_RESULT settle_rotation(const char *dir, enum seal_kind kind, store_t st)
{
    struct root_settle_report rep;
    GUARD(root_settle(dir, kind, st, false, &rep));
    if (rep.finished || rep.dropped)
        log_msg("warn", "%s: a root key rotation was cut short: %s (%u file%s renamed in, %u removed)", dir,
                rep.finished ? "it had committed, and is now finished" : "it had not committed, and is undone",
                rep.finished, rep.finished == 1 ? "" : "s", rep.dropped);
    return TR_OK;
}

/* What unseal and seal do besides the root key (http/control.h hooks),
 * with the seal lock held: the audit log, whose keys are wrapped under the
 * root key, is opened (a signed start checkpoint) and closed (a signed
 * stop checkpoint, its keys wiped) with it. */
struct seal_hooks_arg {
    struct server_env *env;
    struct audit_opts ao;
    bool audit;
    bool publish;                       /* PostgreSQL: publish_sealed_form at unseal */
    enum seal_kind kind;
};

static TR_RESULT open_audit(struct seal_hooks_arg *a)
{
    GUARD(audit_open(&a->ao, a->env->kr, &a->env->audit));
    iam_authz_audit_enable();
    log_msg("info", "audit log %s: checkpoints signed every %u lines, public key %s/audit.pub",
            a->ao.path, a->ao.checkpoint_every, a->ao.data_dir);
    return TR_OK;
}

static TR_RESULT on_unsealed(void *arg)
{
    struct seal_hooks_arg *a = arg;
    bool put = false;
    GUARD(root_verify(a->env->st, a->env->kr));
    if (a->publish) GUARD(publish_sealed_form(a->env->st, a->ao.data_dir, a->kind, &put));
    if (put) log_msg("info", "the store's sealed root key is now %s/%s", a->ao.data_dir, seal_file_name(a->kind));
    if (a->audit) GUARD(open_audit(a));
    maintenance(a->env);                /* what the start would have run */
    return TR_OK;
}

static void on_sealing(void *arg)
{
    struct seal_hooks_arg *a = arg;
    audit_close(a->env->audit);
    a->env->audit = NULL;
}

/* --regions: at most REGIONS_MAX distinct valid region names, separated
 * by commas, copied into names.  0, or -1 for a bad list. */
enum { REGIONS_MAX = 32 };
static int parse_regions(const char *list, char names[REGIONS_MAX][32], size_t *n)
{
    *n = 0;
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (*n == REGIONS_MAX || len == 0 || len >= 32) return -1;
        memcpy(names[*n], p, len);
        names[*n][len] = '\0';
        if (!region_valid(names[*n])) return -1;
        for (size_t i = 0; i < *n; i++)
            if (strcmp(names[i], names[*n]) == 0) return -1;
        (*n)++;
        if (!comma) return 0;
        p = comma + 1;
    }
}

static int serve(int argc, char **argv)
{
    struct serve_opts o = {
        .listen = env_or("TRESOR_LISTEN", "127.0.0.1:8737"),
        .data_dir = env_or("TRESOR_DATA_DIR", "./tresor-data"),
        .region = env_or("TRESOR_REGION", "us-east-1"),
        .account_id = env_or("TRESOR_ACCOUNT_ID", NULL),
    };
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    o.threads = (unsigned)(nproc > 0 ? nproc : 1);
    o.grace = 10;
    const char *grace_arg = env_or("TRESOR_SHUTDOWN_GRACE", NULL);
    const char *t = getenv("TRESOR_THREADS");
    if (t && *t && !cli_uint(t, 1, 256, &o.threads))
        return cli_usage_error(NULL, &serve_cmd, "TRESOR_THREADS must be a number from 1 to 256, not '%s'", t);
    const char *dd = getenv("TRESOR_DATA_DIR");
    o.dir_given = dd && *dd;
    o.dev = strcmp(env_or("TRESOR_DEV", ""), "1") == 0;
    o.tls_cert = env_or("TRESOR_TLS_CERT", NULL);
    o.tls_key = env_or("TRESOR_TLS_KEY", NULL);
    o.tls_generate = strcmp(env_or("TRESOR_TLS_GENERATE", ""), "1") == 0;
    o.insecure_http = strcmp(env_or("TRESOR_INSECURE_HTTP", ""), "1") == 0;
    o.metrics = strcmp(env_or("TRESOR_METRICS", ""), "1") == 0;
    const char *tls_min = env_or("TRESOR_TLS_MIN_VERSION", "1.2");
    o.audit_log = env_or("TRESOR_AUDIT_LOG", NULL);
    const char *audit_every = env_or("TRESOR_AUDIT_CHECKPOINT", "1000");
    o.seal = env_or("TRESOR_SEAL", NULL);
    o.store = env_or("TRESOR_STORE", NULL);
    const char *store_conns = env_or("TRESOR_STORE_CONNECTIONS", NULL);
    o.rotation_hooks = env_or("TRESOR_ROTATION_HOOKS", NULL);
    const char *rotation_timeout = env_or("TRESOR_ROTATION_TIMEOUT", "30");
    o.regions = env_or("TRESOR_REGIONS", NULL);
    o.oidc_ca_file = env_or("TRESOR_OIDC_CA_FILE", NULL);
    o.oidc_allowed = env_or("TRESOR_OIDC_ALLOWED_ISSUERS", NULL);
    bool region_given = env_or("TRESOR_REGION", NULL) != NULL;

    struct cli_parser p;
    int c;
    char oidc_why[512];
    const char *oidc_specs[OIDC_ISSUERS_MAX];
    size_t noidc = 0;
    cli_parser_init(&p, &serve_cmd, argc, argv);
    while ((c = cli_next(&p)) > 0) {
        switch (c) {
        case 'l': o.listen = optarg; break;
        case 'd': o.data_dir = optarg; o.dir_given = true; break;
        case 'r': o.region = optarg; region_given = true; break;
        case 'Q': o.regions = optarg; break;
        case 'a': o.account_id = optarg; break;
        case 't':
            if (!cli_uint(optarg, 1, 256, &o.threads))
                return cli_usage_error(NULL, &serve_cmd, "--threads must be a number from 1 to 256, not '%s'",
                                       optarg);
            break;
        case 'g': grace_arg = optarg; break;
        case 'c': o.tls_cert = optarg; break;
        case 'k': o.tls_key = optarg; break;
        case 'm': tls_min = optarg; break;
        case 'G': o.tls_generate = true; break;
        case 'I': o.insecure_http = true; break;
        case 'M': o.metrics = true; break;
        case 'D': o.dev = true; break;
        case 'S': o.seed = optarg; break;
        case 'E': o.enforce_iam = true; break;
        case 'A': o.audit_log = optarg; break;
        case 'C': audit_every = optarg; break;
        case 'x': o.seal = optarg; break;
        case 'P': o.passphrase_file = optarg; break;
        case 'y': o.p11_module = optarg; break;
        case 'T': o.p11_token = optarg; break;
        case 'K': o.p11_key = optarg; break;
        case 'N': o.pin_file = optarg; break;
        case 'B': o.store = optarg; break;
        case 'W': store_conns = optarg; break;
        case 'R': o.rotation_hooks = optarg; break;
        case 'O': rotation_timeout = optarg; break;
        case 'o': o.oidc_ca_file = optarg; break;
        case 'U': o.oidc_allowed = optarg; break;
        case 'J':
            if (noidc == OIDC_ISSUERS_MAX)
                return cli_usage_error(NULL, &serve_cmd, "--oidc-jwks: at most %d issuers", OIDC_ISSUERS_MAX);
            oidc_specs[noidc++] = optarg;
            break;
        }
    }
    if (c < 0) return cli_exit(c);
    for (size_t i = 0; i < noidc; i++)
        if (oidc_keys_add(oidc_specs[i], oidc_why, sizeof oidc_why) != 0)
            return cli_usage_error(NULL, &serve_cmd, "--oidc-jwks: %s", oidc_why);
    const char *oidc_env = getenv("TRESOR_OIDC_JWKS");
    if (!noidc && oidc_env && *oidc_env && oidc_keys_add_list(oidc_env, oidc_why, sizeof oidc_why) != 0)
        return cli_usage_error(NULL, &serve_cmd, "TRESOR_OIDC_JWKS: %s", oidc_why);
    if (optind < argc) return cli_usage_error(NULL, &serve_cmd, "unexpected argument '%s'", argv[optind]);
    if (!region_valid(o.region))
        return cli_usage_error(NULL, &serve_cmd, "%s must be a region name such as us-east-1, not '%s'",
                               cli_source(o.region, "TRESOR_REGION", "--region"), o.region);
    /* --regions: the list served; --region names the default one (DIR/config's) */
    char region_names[REGIONS_MAX][32];
    const char *region_list[REGIONS_MAX];
    size_t nregions = 0;
    if (o.regions) {
        const char *what = cli_source(o.regions, "TRESOR_REGIONS", "--regions");
        if (parse_regions(o.regions, region_names, &nregions) != 0)
            return cli_usage_error(NULL, &serve_cmd, "%s must be distinct region names such as us-east-1, "
                                   "separated by commas (at most %d), not '%s'", what, REGIONS_MAX, o.regions);
        bool listed = false;
        for (size_t i = 0; i < nregions; i++) {
            region_list[i] = region_names[i];
            listed |= strcmp(region_names[i], o.region) == 0;
        }
        if (region_given && !listed)
            return cli_usage_error(NULL, &serve_cmd, "%s %s is not one of %s %s",
                                   cli_source(o.region, "TRESOR_REGION", "--region"), o.region, what, o.regions);
        if (!region_given && nregions > 0) o.region = region_list[0];
    } else if (!o.dev) {
        region_list[0] = o.region;
        nregions = 1;
    }
    if (o.account_id && !account_id_valid(o.account_id))
        return cli_usage_error(NULL, &serve_cmd, "%s must be 12 digits, not '%s'",
                               cli_source(o.account_id, "TRESOR_ACCOUNT_ID", "--account-id"), o.account_id);
    if (o.threads < 1 || o.threads > 256) { fprintf(stderr, "tresor serve: --threads must be 1..256\n"); return 2; }
    if (grace_arg && !parse_grace(grace_arg, &o.grace))
        return cli_usage_error(NULL, &serve_cmd, "%s must be whole seconds, 0..3600, not '%s'",
                               cli_source(grace_arg, "TRESOR_SHUTDOWN_GRACE", "--shutdown-grace"),
                               grace_arg);
    {
        char *end;
        unsigned long v = strtoul(rotation_timeout, &end, 10);
        if (rotation_timeout[0] < '0' || rotation_timeout[0] > '9' || *end || v < 1 || v > 900)
            return cli_usage_error(NULL, &serve_cmd, "%s must be whole seconds, 1..900, not '%s'",
                                   cli_source(rotation_timeout, "TRESOR_ROTATION_TIMEOUT", "--rotation-timeout"),
                                   rotation_timeout);
        o.rotation_timeout = (unsigned)v;
        struct stat hs;
        if (o.rotation_hooks && (stat(o.rotation_hooks, &hs) != 0 || !S_ISDIR(hs.st_mode)))
            return cli_usage_error(NULL, &serve_cmd, "%s must be a directory, not '%s'",
                                   cli_source(o.rotation_hooks, "TRESOR_ROTATION_HOOKS", "--rotation-hooks"),
                                   o.rotation_hooks);
    }
    struct sockaddr_storage listen_ss;
    unsigned listen_len = 0;
    if (tr_failed(listen_addr_parse(o.listen, &listen_ss, &listen_len)))
        return cli_usage_error(NULL, &serve_cmd, "%s: %s",
                               cli_source(o.listen, "TRESOR_LISTEN", "--listen"), tr_last_error()->message);
    if (!cli_uint(audit_every, 1, 1000000, &o.audit_every))
        return cli_usage_error(NULL, &serve_cmd, "%s must be a number from 1 to 1000000, not '%s'",
                               cli_source(audit_every, "TRESOR_AUDIT_CHECKPOINT", "--audit-checkpoint"),
                               audit_every);
    if (o.audit_log && o.dev && !o.dir_given)
        return cli_usage_error(NULL, &serve_cmd, "--audit-log keeps its keys in the data dir: with --dev, "
                               "give --data-dir");
    enum seal_kind want = SEAL_NONE;   /* none asked: the data dir's, or file on first start */
    if (o.seal && !seal_kind_parse(o.seal, &want))
        return cli_usage_error(NULL, &serve_cmd, "%s must be file, passphrase or pkcs11, not '%s'",
                               cli_source(o.seal, "TRESOR_SEAL", "--seal"), o.seal);
    if (o.dev && (want == SEAL_PASSPHRASE || want == SEAL_PKCS11 || o.passphrase_file || o.pin_file))
        return cli_usage_error(NULL, &serve_cmd, "--dev keeps no sealed root key: --seal passphrase|pkcs11, "
                               "--passphrase-file and --pkcs11-pin-file are for a real server");
    if (o.store && !store_pg_named(o.store))
        return cli_usage_error(NULL, &serve_cmd, "%s must be a PostgreSQL connection string "
                               "(postgres://USER@HOST/DB?..., postgresql://..., or libpq key=value pairs)",
                               cli_source(o.store, "TRESOR_STORE", "--store"));
    if (store_conns && !cli_uint(store_conns, 1, STORE_PG_CONNECTIONS_MAX, &o.store_conns))
        return cli_usage_error(NULL, &serve_cmd, "%s must be a number from 1 to %u, not '%s'",
                               cli_source(store_conns, "TRESOR_STORE_CONNECTIONS", "--store-connections"),
                               STORE_PG_CONNECTIONS_MAX, store_conns);
    if (store_conns && !o.store)
        return cli_usage_error(NULL, &serve_cmd, "%s is the bound of a PostgreSQL store's connections: it "
                               "needs --store",
                               cli_source(store_conns, "TRESOR_STORE_CONNECTIONS", "--store-connections"));
    if (o.store && o.dev)
        return cli_usage_error(NULL, &serve_cmd, "--dev keeps its state in memory or in the data dir, not in "
                               "%s", cli_source(o.store, "TRESOR_STORE", "--store"));
    /* dev mode: checks before anything starts */
    if ((o.seed || o.enforce_iam) && !o.dev)
        return cli_usage_error(NULL, &serve_cmd, "%s needs --dev", o.seed ? "--seed" : "--enforce-iam");
    if (o.dev && !listen_is_loopback(o.listen))
        return cli_usage_error(NULL, &serve_cmd, "--dev listens on loopback only (127.0.0.1, [::1], localhost), "
                               "not '%s': a development server accepts any access key", o.listen);
    if (o.dev && !o.account_id) o.account_id = "123456789012";
    /* TLS: the flags agree, and plain HTTP stays on loopback unless asked */
    if (strcmp(tls_min, "1.2") == 0) o.tls_min = 12;
    else if (strcmp(tls_min, "1.3") == 0) o.tls_min = 13;
    else return cli_usage_error(NULL, &serve_cmd, "%s must be 1.2 or 1.3, not '%s'",
                                cli_source(tls_min, "TRESOR_TLS_MIN_VERSION", "--tls-min-version"), tls_min);
    if (!o.tls_cert != !o.tls_key)
        return cli_usage_error(NULL, &serve_cmd, "%s needs %s as well", o.tls_cert ? "--tls-cert" : "--tls-key",
                               o.tls_cert ? "--tls-key" : "--tls-cert");
    if (o.tls_cert && o.tls_generate)
        return cli_usage_error(NULL, &serve_cmd, "--tls-generate makes its own certificate: give it or "
                               "--tls-cert/--tls-key, not both");
    if (o.tls_generate && o.dev && !o.dir_given)
        return cli_usage_error(NULL, &serve_cmd, "--tls-generate keeps its CA in the data dir: with --dev, "
                               "give --data-dir");
    bool tls_on = o.tls_cert || o.tls_generate;
    if (!tls_on && !o.insecure_http && !listen_is_loopback(o.listen))
        return cli_usage_error(NULL, &serve_cmd, "refusing to serve plain HTTP on '%s', which is not a loopback "
                               "address: access keys' signatures, secrets and plaintext would cross the network "
                               "unencrypted; serve TLS (--tls-cert and --tls-key, or --tls-generate), or give "
                               "--insecure-http to accept that", o.listen);
    struct tls_ctx *tls = NULL;
    if (o.tls_cert && tr_failed(tls_open(o.tls_cert, o.tls_key, o.tls_min, &tls))) {
        fprintf(stderr, "tresor serve: %s\n", tr_last_error()->message);
        return 2;
    }
    const char *q = getenv("TRESOR_LOG");
    if (q && strcmp(q, "quiet") == 0) log_set_requests(0);
    /* How commits become durable (store.h, docs/internals/CRASH_SAFETY.md):
     * grouped by default; "each", one sync per commit, to measure against
     * and as a fallback. */
    const char *cm = env_or("TRESOR_COMMIT", "group");
    enum store_commit commit = STORE_COMMIT_GROUP;
    if (strcmp(cm, "each") == 0) commit = STORE_COMMIT_EACH;
    else if (strcmp(cm, "group") != 0)
        return cli_usage_error(NULL, &serve_cmd, "TRESOR_COMMIT must be group or each, not '%s'", cm);
    /* How a write's reply waits for its sync (read again by http/server.c). */
    const char *cw = env_or("TRESOR_COMMIT_WAIT", "suspend");
    if (strcmp(cw, "suspend") != 0 && strcmp(cw, "thread") != 0)
        return cli_usage_error(NULL, &serve_cmd, "TRESOR_COMMIT_WAIT must be suspend or thread, not '%s'", cw);

    /* No core dumps, not dumpable (nor ptrace-able by the same user). */
    if (tr_failed(process_harden())) { tls_free(tls); return die("process hardening"); }
    signal(SIGPIPE, SIG_IGN);
    tr_clock_init();
    if (tr_failed(crypto_init())) { tls_free(tls); return die("crypto init"); }

    struct keyring *kr = NULL;
    enum seal_kind have = SEAL_NONE, kind = SEAL_FILE;
    bool sealed = false;                /* started without the passphrase */
    bool publish = false;               /* keep the sealed form in the PostgreSQL store (publish_sealed_form) */
    pthread_rwlock_t seal_lock;
    pthread_rwlockattr_t sla;
    pthread_rwlockattr_init(&sla);      /* a seal waiting is not starved by a stream of requests */
    pthread_rwlockattr_setkind_np(&sla, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&seal_lock, &sla);
    pthread_rwlockattr_destroy(&sla);
    struct control *ctl = NULL;
    int dir_lock = -1;                  /* shared: no seal migrate while serving */
    store_t st = NULL;
    struct http_server *srv = NULL;
    int rc = 1;
    sigset_t sigs;
    struct account_rec acct;
    struct server_env env = {
        .default_region = o.region, .regions = region_list, .nregions = nregions,
        .services = served, .nservices = sizeof served / sizeof served[0],
    };
    char dir[PATH_MAX];
    char ca_path[PATH_MAX] = "";        /* --tls-generate's CA, for the banner */
    bool ca_in_config = false;          /* DIR/config names it (ca_bundle) */
    tr_result r;
    int listen_fd = -1;

    /* The listening socket first: a port in use (or an address this host
     * does not have) stops the start here, with the address and the
     * reason, before a data dir is created or initialized. */
    /* OIDC issuers' keys (oidc/remote_config.h): libcurl, and the private
     * CA of --oidc-ca-file, which must be readable PEM certificates. */
    char oidc_err[PATH_MAX + 128];
    if (oidc_remote_init(o.oidc_ca_file, oidc_err, sizeof oidc_err) != 0) {
        fprintf(stderr, "tresor serve: %s%s%s\n", o.oidc_ca_file ? cli_source(o.oidc_ca_file,
                "TRESOR_OIDC_CA_FILE", "--oidc-ca-file") : "", o.oidc_ca_file ? " " : "", oidc_err);
        tls_free(tls);
        return 2;
    }
    if (o.oidc_allowed && oidc_remote_set_allowed(o.oidc_allowed, oidc_err, sizeof oidc_err) != 0) {
        fprintf(stderr, "tresor serve: %s: %s\n", cli_source(o.oidc_allowed, "TRESOR_OIDC_ALLOWED_ISSUERS",
                "--oidc-allowed-issuers"), oidc_err);
        oidc_remote_shutdown();
        tls_free(tls);
        return 2;
    }
    if (tr_failed(http_listen(o.listen, &listen_fd))) {
        fprintf(stderr, "tresor: %s\n", tr_last_error()->message);
        oidc_remote_shutdown();
        tls_free(tls);
        return 1;
    }

    if (o.dev && !o.dir_given) {       /* dev mode: memory only, no file written */
        struct dev_opts dopts = { .account_id = o.account_id, .seed_path = o.seed, .in_memory = true };
        if (tr_failed(dev_start(&env, &dopts))) { rc = die("dev mode"); goto out; }
        memset(&acct, 0, sizeof acct);
        if (tr_failed(str_copy(acct.id, sizeof acct.id, dev_account(env.dev->state), "the dev account id"))) {
            rc = die("dev mode");
            goto out;
        }
        STR_SET(dir, "(memory)");
        goto started;
    }
    if (mkdir(o.data_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "tresor serve: cannot create %s: %s\n", o.data_dir, strerror(errno));
        goto out;
    }
    if (!realpath(o.data_dir, dir)) {
        fprintf(stderr, "tresor serve: %s: %s\n", o.data_dir, strerror(errno));
        goto out;
    }
    if (tr_failed(seal_dir_lock(dir, false, &dir_lock))) { rc = die("data dir"); goto out; }
    if (tr_failed(seal_recorded(dir, &have))) { rc = die("root key"); goto out; }
    bool has_db = file_exists(dir, "tresor.db");
    char where[512] = "";
    if (o.store) {
        /* PostgreSQL: the store is opened first (migrated, the serving
         * lock taken), and holds data when it has an account. */
        store_pg_describe(o.store, where, sizeof where);
        /* The pool: one connection per worker thread, and two for the
         * other threads that call the store (maintenance, control). */
        struct store_pg_limits lim = { .connections = o.store_conns ? o.store_conns : o.threads + 2 };
        r = store_pg_open_with(o.store, STORE_PG_SERVE, &lim, &st);
        if (tr_failed(r)) {
            rc = die("store");
            if (tr_code(r) == TR_E_STORE_BUSY) rc = 2;
            goto out;
        }
        log_msg("info", "store: PostgreSQL, %s, at most %u connections", where, lim.connections);
        r = st[0]->account_first(st, &acct);
        if (tr_failed(r) && tr_code(r) != TR_E_STORE_NOT_FOUND) { rc = die("store"); goto out; }
        /* An empty database beside a data dir whose SQLite store holds
         * data: starting would make a new account and write its root
         * credentials over the data dir's -- refused, nothing written. */
        if (tr_failed(r) && has_db) {
            fprintf(stderr, "tresor serve: %s/tresor.db holds a SQLite store, and the PostgreSQL database (%s) "
                    "has none: refusing to start a new, empty store beside it (its root credentials would "
                    "replace %s/credentials); give the data dir that goes with this database, or start "
                    "without --store\n", dir, where, dir);
            goto out;
        }
        if (has_db)
            log_msg("warn", "%s/tresor.db is not used: the store is the PostgreSQL database (%s)", dir, where);
        has_db = tr_ok(r);
        if (has_db && tr_failed(cli_adopt_sealed_form(st, dir, &have))) {
            rc = die("root key");
            goto out;
        }
        if (have == SEAL_NONE && has_db) {
            fprintf(stderr, "tresor serve: the PostgreSQL database (%s) holds a store, but %s has no root key "
                    "(root.key, root.seal or root.p11): give the data dir whose root key wrapped it; refusing "
                    "to start\n", where, dir);
            goto out;
        }
    }
    if (have == SEAL_NONE && has_db) {
        fprintf(stderr, "tresor serve: %s/tresor.db exists but its root key (root.key, root.seal or root.p11) is "
                "missing; refusing to start\n", dir);
        goto out;
    }
    if (want != SEAL_NONE && have != SEAL_NONE && want != have) {
        fprintf(stderr, "tresor serve: %s has the %s seal (%s); %s %s was given: a data dir keeps the seal "
                "it was created with\n", dir, seal_kind_name(have), seal_file_name(have),
                cli_source(o.seal, "TRESOR_SEAL", "--seal"), o.seal);
        rc = 2;
        goto out;
    }
    kind = have != SEAL_NONE ? have : want != SEAL_NONE ? want : SEAL_FILE;
    /* A root key rotation cut short: finished or undone before the key is
     * read (crypto/rotate.h; needs no key, so a sealed start does it too). */
    if (have != SEAL_NONE && has_db && tr_failed(settle_rotation(dir, kind, o.store ? st : NULL))) {
        rc = die("root key");
        goto out;
    }
    if (tr_failed(open_root_key(dir, kind, have == SEAL_NONE, has_db, &o, &kr))) {
        rc = die("root key");
        goto out;
    }
    bool sealable = kind == SEAL_PASSPHRASE || kind == SEAL_PKCS11;
    sealed = sealable && !kr;
    metrics_set_sealed(sealed);
    if (!o.store && tr_failed(store_sqlite_open_commit(dir, commit, &st))) { rc = die("store"); goto out; }
    /* The key must be the one the store is wrapped under (sealed: at unseal). */
    r = kr ? root_verify(st, kr) : TR_OK;
    if (tr_failed(r) && o.store && have == SEAL_NONE) {
        lost_first_start(st, dir, kind);    /* made while another node initialized the store */
        goto out;
    }
    if (tr_failed(r)) { rc = die("root key"); goto out; }
    publish = o.store && sealable && has_db;
    bool put = false;
    if (publish && kr && tr_failed(publish_sealed_form(st, dir, kind, &put))) { rc = die("root key"); goto out; }
    if (put)
        log_msg("info", "the store's sealed root key is now %s/%s, for the nodes that start with an empty "
                "data dir", dir, seal_file_name(kind));

    r = st[0]->account_first(st, &acct);
    bool initialized = tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND;
    if (initialized && sealed) {
        fprintf(stderr, "tresor serve: %s has no account yet: start it once with its %s\n", dir,
                kind == SEAL_PKCS11 ? "PIN (--pkcs11-pin-file or TRESOR_PKCS11_PIN)"
                                    : "passphrase (--passphrase-file or TRESOR_PASSPHRASE)");
        goto out;
    }
    if (initialized) {
        struct root_credentials cred;
        struct first_creds fc = { dir, o.region, o.store ? st : NULL, kind };
        /* The credentials file is written before the account commits
         * (account_create_then): a crash in between never leaves an
         * account whose root credentials are nowhere. */
        /* Created only if still none under the write lock: nodes first
         * started at once on an empty PostgreSQL database make one
         * account between them, and the others serve it. */
        bool created = false;
        r = account_create_first(st, kr, o.account_id, tr_now(), write_first_creds, &fc, &cred, &created);
        secure_zero(&cred, sizeof cred);
        if (tr_failed(r)) { rc = die("initialize"); goto out; }
        /* A node that lost the race to another's root key wraps nothing. */
        bool ours = created || tr_ok(root_verify(st, kr));
        r = st[0]->account_first(st, &acct);
        if (created) {
            log_msg("info", "initialized %s: account %s, root credentials in %s/credentials (profile tresor)",
                    dir, acct.id, dir);
        } else if (!ours && have != SEAL_NONE) {
            fprintf(stderr, "tresor serve: the root key of %s is not the one the store is wrapped under\n", dir);
            goto out;
        } else if (!ours) {
            lost_first_start(st, dir, kind);
            goto out;
        } else {
            initialized = false;
            log_msg("info", "the store was initialized by another node a moment ago (account %s): serving it; "
                    "this data dir's credentials file: tresor account credentials --data-dir %s --store URL "
                    "--out %s/credentials", tr_ok(r) ? acct.id : "?", dir, dir);
        }
    }
    if (tr_failed(r)) { rc = die("store"); goto out; }
    if (o.account_id && strcmp(o.account_id, acct.id) != 0)
        log_msg("warn", "--account-id %s ignored: %s was initialized with account %s",
                o.account_id, dir, acct.id);
    if (!initialized) {
        /* DIR/config keeps the region this server serves: the banner's
         * example reads it, and a profile for another region is refused. */
        char was[64];
        unsigned changed = 0;
        if (tr_failed(credfile_set_region(dir, o.region, was, sizeof was, &changed)))
            log_msg("warn", "%s/config: cannot set region %s: %s", dir, o.region,
                    tr_last_error()->message);
        else if (changed)
            log_msg("info", "%s/config: the tresor profiles now name region %s (was %s)",
                    dir, o.region, was[0] ? was : "none");
    }

    if (o.tls_generate && tr_failed(tls_generated(dir, o.listen, o.tls_min, ca_path, sizeof ca_path,
                                                  &ca_in_config, &tls))) {
        fprintf(stderr, "tresor serve: --tls-generate: %s\n", tr_last_error()->message);
        rc = 2;
        goto out;
    }
    env.st = st;
    env.kr = kr;
    kr = NULL;                          /* env's now: unseal and seal swap it */
    if (sealable) env.seal_lock = &seal_lock;
    if (o.dev) {
        struct dev_opts dopts = { .account_id = acct.id, .seed_path = o.seed };
        if (tr_failed(dev_start(&env, &dopts))) { rc = die("dev mode"); goto out; }
    }
started:
    {
        /* Before the first maintenance, which rotates what is due.  Hooks
         * call back over loopback when the server listens on a wildcard. */
        char endpoint[300];
        const char *host = o.listen, *colon = strrchr(o.listen, ':');
        bool wild = strncmp(host, "0.0.0.0:", 8) == 0 || strncmp(host, "[::]:", 5) == 0;
        if (tr_failed(str_format(endpoint, sizeof endpoint, "endpoint", "%s://%s%s",
                                 tls_on ? "https" : "http", wild ? "127.0.0.1" : "",
                                 wild ? colon : host)) ||
            tr_failed(sm_rotation_configure(&env, o.rotation_hooks, o.rotation_timeout, endpoint,
                                                ca_path[0] ? ca_path : NULL))) {
            rc = die("rotation hooks");
            goto out;
        }
    }
    maintenance_unless_sealed(&env);

    /* Block the stop signals before MHD starts its threads, so they are
     * delivered to the sigtimedwait loop below and nowhere else. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);           /* TLS reload */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    /* The request path's per-thread caches (core/cache.h,
     * docs/internals/CACHES.md), which never answer from stale data; the
     * one place TRESOR_CACHE=off is read, to measure what they buy. */
    const char *cache = getenv("TRESOR_CACHE");
    cache_enable(!(cache && strcmp(cache, "off") == 0));
    /* Tests only: a record of every authorization (src/iam/authz_trace.c). */
    const char *trace = getenv("TRESOR_AUTHZ_TRACE");
    if (trace && *trace && tr_failed(iam_authz_trace_open(trace))) { rc = die("TRESOR_AUTHZ_TRACE"); goto out; }
    /* The maintenance period: every minute unless the tests ask for less. */
    unsigned interval = 60;
    const char *every = getenv("TRESOR_MAINTENANCE_INTERVAL");
    if (every && *every && (!parse_grace(every, &interval) || interval == 0)) {
        fprintf(stderr, "tresor serve: TRESOR_MAINTENANCE_INTERVAL must be 1 to 3600 seconds\n");
        rc = 2;
        goto out;
    }
    /* The audit log (audit/audit.h): its keys under the root key, the
     * chain continued, a signed start checkpoint; every decision into the
     * request's record. */
    /* Sealed: the audit log's keys wait for the root key (on_unsealed). */
    struct seal_hooks_arg sh = { .env = &env, .audit = o.audit_log != NULL, .publish = publish, .kind = kind,
        .ao = { .path = o.audit_log, .data_dir = dir, .checkpoint_every = o.audit_every } };
    if (o.audit_log && !sealed && tr_failed(open_audit(&sh))) { rc = die("--audit-log"); goto out; }
    if (kind == SEAL_PASSPHRASE || kind == SEAL_PKCS11) {
        struct control_hooks hooks = { .arg = &sh, .unsealed = on_unsealed, .sealing = on_sealing };
        struct seal_how how = { .kind = kind, .p11 = seal_p11_conf_env(o.p11_module, o.p11_token, o.p11_key) };
        if (tr_failed(control_start(dir, &env, &how, &hooks, &ctl))) { rc = die("control socket"); goto out; }
    }

    /* The banner before the workers start: the socket already takes
     * connections (the backlog), so whoever sees the first answer -- a
     * script waiting for /health -- finds the banner printed. */
    const char *scheme = tls ? "https" : "http";
    char ca_hint[PATH_MAX + 32] = "";
    if (tls) /* cut: a hint in the banner, for people */
        snprintf(ca_hint, sizeof ca_hint, " --ca-bundle %s", ca_path[0] ? ca_path : "CA.pem");
    if (o.dev)
        printf("*** tresor DEVELOPMENT SERVER: any access key is accepted, state is %s; "
               "never use it for real secrets ***\n"
               "dev mode: AWS KMS, Secrets Manager, IAM and STS on %s://%s: account %s, %s%s, "
               "POST /moto-api/reset wipes all state\n",
               o.dir_given ? "in the data dir" : "in memory", scheme, o.listen, acct.id,
               o.regions ? "regions " : "any region", o.regions ? o.regions : "");
    if (o.dev) log_msg("warn", "DEVELOPMENT SERVER: any access key is accepted");
    if (o.dev)
        printf("Try it with the AWS CLI:\n"
               "  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=%s \\\n"
               "    aws --endpoint-url %s://%s%s kms list-keys\n\n", o.region, scheme, o.listen, ca_hint);
    else
    printf("tresor %s serving AWS KMS, Secrets Manager, IAM and STS on %s://%s (region%s %s, account %s)\n"
           "data dir %s%s%s\n\n"
           "Try it with the AWS CLI:\n"
           "  AWS_SHARED_CREDENTIALS_FILE=%s/credentials AWS_CONFIG_FILE=%s/config \\\n"
           "    aws --profile tresor --endpoint-url %s://%s%s kms list-keys\n\n",
           TRESOR_VERSION, scheme, o.listen, o.regions ? "s" : "", o.regions ? o.regions : o.region, acct.id,
           dir, o.store ? "; store PostgreSQL, " : "",
           o.store ? where : "", dir, dir, scheme, o.listen,
           ca_in_config ? "" : ca_hint);
    if (tls) {
        char what[512];
        tls_describe(tls, what, sizeof what);
        printf("TLS %s, AEAD suites only: %s; SIGHUP reloads the certificate and key.\n"
               "Clients verify it against %s: the AWS CLI with --ca-bundle%s, boto3 with\n"
               "verify=\"%s\".\n\n",
               o.tls_min == 13 ? "1.3" : "1.2 and 1.3", what,
               ca_path[0] ? ca_path : "the CA that signed it (CA.pem: its PEM file)",
               ca_in_config ? " or the tresor profile (its ca_bundle)" : " (or ca_bundle in a profile)",
               ca_path[0] ? ca_path : "CA.pem");
    } else if (o.insecure_http && !listen_is_loopback(o.listen)) {
        log_msg("warn", "--insecure-http: serving plain HTTP on %s; requests and replies cross the network "
                "unencrypted", o.listen);
    }
    if (kind == SEAL_FILE && !o.dev)
        printf("Seal: file -- the root key is %s/root.key, in the clear: for local use; --seal passphrase\n"
               "on a new data dir keeps it wrapped under a passphrase.\n\n", dir);
    else if (sealed && kind == SEAL_PKCS11)
        printf("SEALED: the root key is wrapped by a PKCS#11 token's key and no PIN was given; every\n"
               "request is answered 503 until: tresor unseal --data-dir %s (the PIN on standard input)\n\n", dir);
    else if (sealed)
        printf("SEALED: the root key is wrapped under a passphrase and no passphrase was given; every\n"
               "request is answered 503 until: tresor unseal --data-dir %s\n\n", dir);
    else if (kind == SEAL_PASSPHRASE || kind == SEAL_PKCS11)
        printf("Seal: %s (%s/%s); tresor seal --data-dir %s seals it again.\n\n", seal_kind_name(kind), dir,
               seal_file_name(kind), dir);
    fflush(stdout);

    /* --metrics: the series are registered before any worker counts. */
    if (o.metrics && tr_failed(router_metrics_init(&env))) { rc = die("metrics"); goto out; }
    if (o.metrics && o.audit_log && tr_failed(metrics_add_collector(audit_render_metrics))) {
        rc = die("metrics");
        goto out;
    }
    r = http_server_start(&env, listen_fd, o.threads, tls, &srv);
    listen_fd = -1;                     /* the server's now, even on failure */
    if (tr_failed(r)) { rc = die("http server"); goto out; }

    for (;;) {
        struct timespec tick = { (time_t)interval, 0 };
        int sig = sigtimedwait(&sigs, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM) {
            stop_cleanly(srv, sig, o.grace, &sigs);
            break;
        }
        if (sig == SIGHUP) {
            reload_tls(tls);
            if (env.seal_lock) pthread_rwlock_rdlock(env.seal_lock);
            if (env.audit && tr_failed(audit_reopen(env.audit)))
                log_msg("error", "SIGHUP: the audit log %s did not reopen: %s; requests fail until it does",
                        o.audit_log, tr_last_error()->message);
            else if (env.audit)
                log_msg("info", "SIGHUP: audit log %s reopened", o.audit_log);
            if (env.seal_lock) pthread_rwlock_unlock(env.seal_lock);
            continue;
        }
        if (sig < 0 && errno == EAGAIN) {
            if (env.dev) dev_enter(env.dev->state);       /* a reset may swap the store */
            maintenance_unless_sealed(&env);
            if (env.dev) dev_leave(env.dev->state);
        }
    }
    rc = 0;
out:
    control_stop(ctl);                  /* no unseal or seal while stopping */
    if (listen_fd >= 0) close(listen_fd);
    unsigned refused = http_server_stop(srv);
    sm_rotation_stop();                /* the hooks running end within their limit */
    size_t usage_written = 0;          /* GetKeyLastUsage's records, after the last request */
    if (env.st && tr_failed(kms_usage_flush(env.st, &usage_written)))
        log_msg("error", "stopping: the key usage records were not all written: %s", tr_last_error()->message);
    if (env.st && tr_failed(key_used_flush(env.st, &usage_written)))   /* GetAccessKeyLastUsed's */
        log_msg("error", "stopping: the access key last-use records were not all written: %s",
                tr_last_error()->message);
    tls_free(tls);                      /* after the server: no handshake runs */
    oidc_remote_shutdown();             /* after the workers: no fetch runs */
    if (refused)
        log_msg("info", "stopping: %u request%s refused unread (arrived as the stop closed %s connection%s)",
                refused, refused == 1 ? "" : "s", refused == 1 ? "its" : "their", refused == 1 ? "" : "s");
    audit_close(env.audit);            /* after the last request: the signed stop checkpoint */
    cache_thread_release();            /* the main thread's (maintenance), wiped */
    metrics_reset();                   /* after the workers are joined */
    dev_stop(&env);                    /* dev mode's in-memory store and key */
    if (st) st[0]->close(st);
    keyring_free(kr);                   /* opened, not yet env's: a failed start */
    keyring_free(env.kr);
    pthread_rwlock_destroy(&seal_lock);
    if (dir_lock >= 0) close(dir_lock);
    crypto_thread_cleanup();
    if (wipe_check_enabled()) {         /* the wipe-check build (core/secmem.h) */
        char line[256];
        wipe_check_summary(line, sizeof line);
        log_msg("info", "%s", line);
    }
    if (rc == 0) log_msg("info", "stopped");
    return rc;
}

/* What `tresor <name>` runs, and what it needs set up first (the others
 * set up what they need themselves). */
enum command_needs { NEEDS_NOTHING, NEEDS_CLOCK, NEEDS_CRYPTO };

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    enum command_needs needs;
};

static const struct command dispatch[] = {
    { "serve",            serve,               NEEDS_NOTHING },
    { "account",          cmd_account,         NEEDS_CLOCK },
    { "policy",           cmd_policy,          NEEDS_CLOCK },
    { "check",            cmd_check,           NEEDS_NOTHING },
    { "snapshot",         cmd_snapshot,        NEEDS_NOTHING },
    { "unseal",           cmd_unseal,          NEEDS_NOTHING },
    { "seal",             cmd_seal,            NEEDS_NOTHING },
    { "rotate-root-key",  cmd_rotate_root_key, NEEDS_NOTHING },
    { "audit",            cmd_audit,           NEEDS_CRYPTO },
    { "backup",           cmd_backup,          NEEDS_NOTHING },
    { "restore",          cmd_restore,         NEEDS_NOTHING },
    { "migrate",          cmd_migrate,         NEEDS_NOTHING },
    { "who-can-decrypt",  cmd_who_can,         NEEDS_NOTHING },
    { "what-can-decrypt", cmd_who_can,         NEEDS_NOTHING },
};

int main(int argc, char **argv)
{
    /* Before anything allocates: OpenSSL and jansson blocks are wiped
     * when freed (they carry keys, plaintext and data keys). */
    if (tr_failed(crypto_use_wiping_allocator())) return die("OpenSSL allocator");
    json_use_wiping_allocator();
    if (argc < 2) {
        fprintf(stderr, "tresor: missing command\n");
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    for (size_t i = 0; i < sizeof dispatch / sizeof dispatch[0]; i++) {
        const struct command *c = &dispatch[i];
        if (strcmp(cmd, c->name) != 0) continue;
        if (c->needs == NEEDS_CLOCK) tr_clock_init();
        if (c->needs == NEEDS_CRYPTO && tr_failed(crypto_init())) return die("crypto init");
        return c->run(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("tresor %s%s\n", TRESOR_VERSION, wipe_check_enabled() ? " (wipe-check build)" : "");
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "tresor: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
