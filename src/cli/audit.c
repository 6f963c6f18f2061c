/*
 * audit.c -- `tresor audit verify` and `tresor audit hmac`: the offline
 * side of the audit log (audit/audit.h, docs/internals/AUDIT.md).
 *
 * verify needs only the log files and DIR/audit.pub; hmac needs the data
 * dir's root key, to unwrap the audit HMAC key, and prints the
 * "hmac-sha256:<hex>" the log writes for a value, so an operator can find
 * the requests that carried a value they know without the log revealing
 * any value.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "cli/cli.h"
#include "cli/opts.h"
#include "core/b64.h"
#include "core/secmem.h"
#include "crypto/keyring.h"
#include "store/root_record.h"
#include "crypto/seal.h"

static const struct cli_opt verify_opts[] = {
    { "public-key", 'p', "FILE", NULL, NULL, "the audit signing key's public key: DIR/audit.pub" },
    { 0 },
};

static const struct cli_cmd verify_cmd = {
    "audit verify", "FILE [FILE...] --public-key DIR/audit.pub",
    "Check an audit log: every line's sequence number and the SHA-256 of the line\n"
    "before it, every checkpoint's Ed25519 signature, and that the last line is a\n"
    "signed checkpoint.  Give rotated files oldest first: the chain runs across\n"
    "them.\n",
    verify_opts,
    "Exit status: 0 whole; 1 the first bad line, named with its file, line number\n"
    "and why (changed, removed, inserted or reordered, cut, unsigned tail); 2 usage.\n", NULL,
};

static const struct cli_opt hmac_opts[] = {
    CLI_OPT_DATA_DIR("the data dir whose audit HMAC key to use"),
    { "decode", 'b', NULL, NULL, NULL, "VALUE is base64: its decoded bytes are hashed (for SecretBinary, "
                                       "Plaintext, CiphertextBlob given as the CLI shows them)" },
    { 0 },
};

static const struct cli_cmd hmac_cmd = {
    "audit hmac", "[--data-dir DIR] [--decode] VALUE|-",
    "Print the hmac-sha256:<hex> the audit log writes for VALUE in a sensitive\n"
    "member (SecretString, SecretBinary, Plaintext, CiphertextBlob), under DIR's\n"
    "audit HMAC key.  SecretString: its text; the blob members: their bytes\n"
    "(--decode to give them base64-encoded).  '-' reads the value from stdin\n"
    "as is.\n",
    hmac_opts, "Exit status: 0 printed, 1 the key does not load, 2 usage.\n", NULL,
};

static int slurp(const char *path, struct buf *out)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
    if (!f) return 1;
    char chunk[4096];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (tr_failed(buf_append(out, chunk, n))) { rc = 1; break; }
    secure_zero(chunk, sizeof chunk);
    if (f != stdin) fclose(f);
    return rc;
}

static int cmd_verify(int argc, char **argv)
{
    const char *pub = NULL;
    const struct cli_value vals[] = { { 'p', &pub } };
    int c = cli_parse(&verify_cmd, argc, argv, vals, 1, SIZE_MAX);
    if (c < 0) return cli_exit(c);
    if (!pub) return cli_usage_error(NULL, &verify_cmd, "--public-key is required");
    if (optind >= argc) return cli_usage_error(NULL, &verify_cmd, "no audit log file given");
    struct buf pem = BUF_INIT(64 * 1024);
    if (slurp(pub, &pem)) {
        fprintf(stderr, "tresor audit verify: cannot read %s\n", pub);
        buf_free(&pem);
        return 2;
    }
    char why[1400];
    uint64_t lines = 0;
    int bad = audit_verify((const char *const *)argv + optind, (size_t)(argc - optind), (const char *)pem.data,
                           pem.len, why, sizeof why, &lines);
    buf_free(&pem);
    if (bad) {
        printf("BAD %s\n", why);
        return 1;
    }
    printf("ok: %llu lines in %d file%s, chain whole, every checkpoint signed by %s\n", (unsigned long long)lines,
           argc - optind, argc - optind == 1 ? "" : "s", pub);
    return 0;
}

static int cmd_hmac(int argc, char **argv)
{
    const char *data_dir = env_or(CLI_DATA_DIR_ENV, CLI_DATA_DIR_DEFAULT);
    bool base64 = false;
    struct cli_parser p;
    int c;
    cli_parser_init(&p, &hmac_cmd, argc, argv);
    while ((c = cli_next(&p)) > 0) {
        if (c == 'd') data_dir = optarg;
        if (c == 'b') base64 = true;
    }
    if (c < 0) return cli_exit(c);
    if (optind != argc - 1) return cli_usage_error(NULL, &hmac_cmd, "give one VALUE, or - for stdin");
    struct buf v = BUF_SECRET(64u << 20), raw = BUF_SECRET(64u << 20);
    struct keyring *kr = NULL;
    struct audit_keys *k = NULL;
    char out[AUDIT_HMAC_TEXT_LEN];
    int rc = 1;
    const char *val = argv[optind];
    if (strcmp(val, "-") == 0 ? slurp("-", &v) != 0 : tr_failed(buf_append_str(&v, val))) goto done;
    if (base64 && tr_failed(b64_decode((const char *)v.data, v.len, &raw))) {
        rc = cli_usage_error(NULL, &hmac_cmd, "VALUE is not base64");
        goto done;
    }
    enum seal_kind kind;
    struct root_settle_report settled;      /* a rotation cut short: settled first (crypto/rotate.h) */
    if (tr_failed(seal_recorded(data_dir, &kind)) ||
        (kind != SEAL_NONE && tr_failed(root_settle(data_dir, kind, NULL, false, &settled))) ||
        tr_failed(seal_open_any(data_dir, &kr)) || tr_failed(audit_keys_load(data_dir, kr, false, &k))) {
        rc = die("audit hmac");
        goto done;
    }
    const struct buf *b = base64 ? &raw : &v;
    if (tr_failed(audit_hmac_text(k->hmac, b->data, b->len, out))) { rc = die("audit hmac"); goto done; }
    printf("%s\n", out);
    rc = 0;
done:
    audit_keys_free(k);
    keyring_free(kr);
    buf_free(&v);
    buf_free(&raw);
    return rc;
}

int cmd_audit(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "verify") == 0) return cmd_verify(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "hmac") == 0) return cmd_hmac(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: tresor audit verify FILE [FILE...] --public-key DIR/audit.pub\n"
               "       tresor audit hmac [--data-dir DIR] [--decode] VALUE|-\n");
        return 0;
    }
    fprintf(stderr, "tresor audit: give verify or hmac ('tresor audit verify --help')\n");
    return 2;
}
