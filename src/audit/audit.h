/*
 * audit.h -- the audit log (`tresor serve --audit-log FILE`): one JSON
 * line per request that reached authentication, chained by SHA-256 and
 * signed with Ed25519 at checkpoints; the writer (audit.c), the keys
 * (audit_keys.c) and the offline check (verify.c).
 * The format, the guarantees and their limits: docs/internals/AUDIT.md.
 *
 * The router (http/router.c) owns one struct audit_req per request; the
 * authorization observer (iam/authz_audit.c) adds each decision to it; the
 * line is written before a writing operation commits (op.h
 * before_commit) or, for everything else, before the reply leaves.  A
 * line that cannot be written fails the request (fail closed).
 */
#ifndef TR_AUDIT_H
#define TR_AUDIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/result.h"
#include "crypto/hash.h"
#include "op/op.h"

struct keyring;
struct audit_log;

/* ---- keys: DIR/audit.key (wrapped under the root key), DIR/audit.pub ---- */

struct audit_keys {
    uint8_t sign[32];           /* the Ed25519 seed of the checkpoint signatures */
    uint8_t hmac[32];           /* the key of the sensitive members' HMAC */
};

/* Load DIR/audit.key, or with create make both keys, write it (0600) and
 * DIR/audit.pub (0644).  *out is secmem (locked, not dumped): release
 * with audit_keys_free, which wipes it. */
TR_RESULT audit_keys_load(const char *dir, const struct keyring *kr, bool create, struct audit_keys **out);
void audit_keys_free(struct audit_keys *k);
/* tresor rotate-root-key: the text of DIR/audit.key with both keys
 * unwrapped under old and wrapped again under new (the keys themselves
 * unchanged, so audit.pub and the logs stay valid), appended to text;
 * *present false (text untouched) when DIR has no audit.key.  The
 * unwrapped keys are wiped. */
TR_RESULT audit_keys_rewrap(const char *dir, const struct keyring *old, const struct keyring *new_kr,
                            struct buf *text, bool *present);

/* The members of a request whose values never reach the log, only their
 * HMAC: NULL-terminated.  The blob members' HMAC is over the decoded
 * bytes; SecretString's over its UTF-8 text. */
extern const char *const audit_sensitive_members[];
bool audit_member_is_blob(const char *name);
/* "hmac-sha256:<64 hex>" of value under key: out holds 12 + 64 + 1. */
#define AUDIT_HMAC_TEXT_LEN (12 + 64 + 1)
TR_RESULT audit_hmac_text(const uint8_t key[32], const void *value, size_t n, char out[AUDIT_HMAC_TEXT_LEN]);

/* ---- the writer ------------------------------------------------------------ */

struct audit_opts {
    const char *path;           /* --audit-log */
    const char *data_dir;       /* the keys and DIR/audit.head */
    unsigned checkpoint_every;  /* a signed checkpoint after this many lines */
};

/* Open (append) the log, load or make the keys, continue the chain from
 * the file's last line (or DIR/audit.head, or a new chain), and write a
 * signed "start" checkpoint.  Refuses a file whose last line is cut. */
TR_RESULT audit_open(const struct audit_opts *o, const struct keyring *kr, struct audit_log **out);
/* SIGHUP: a signed "reopen" checkpoint closes the current file, then the
 * path is opened again (log rotation); the chain continues. */
TR_RESULT audit_reopen(struct audit_log *a);
/* The clean stop: a signed "stop" checkpoint, DIR/audit.head, the keys
 * wiped.  a may be NULL. */
void audit_close(struct audit_log *a);
/* A metrics collector (core/metrics.h): tresor_audit_lines_written_total,
 * the lines this process wrote (requests, outcomes and checkpoints). */
TR_RESULT audit_render_metrics(struct buf *out);

/* ---- one request ------------------------------------------------------------ */

struct audit_req {
    struct audit_log *log;
    const char *request_id;
    const char *source_ip;
    const char *operation;          /* the wire name: "TrentService.Decrypt", "CreateUser" */
    const char *action;             /* the IAM action: "kms:Decrypt"; NULL before the op is known */
    const struct principal *who;    /* NULL or empty ARN: not authenticated */
    char access_key_id[129];        /* the key the request named (also when refused) */
    json_t *input;                  /* the JSON request (borrowed), or NULL */
    json_t *authz;                  /* the request's own decisions */
    json_t *hop;                    /* decisions for it by another service (Secrets Manager -> KMS) */
    json_t *resources;              /* every resource ARN decided on */
    bool reached;                   /* authentication was attempted: the request gets a line */
    bool written;
};

/* Add a decision (a JSON object, stolen) on resource (copied into the
 * resource list); hop: made on the caller's behalf by another service. */
void audit_req_note(struct audit_req *q, json_t *decision, bool hop, const char *resource);
/* Write the request's line: error is the AWS error code of the reply, or
 * NULL.  Once per request; after it, only a failure adds a second,
 * short line ({"type":"outcome","request_id":...,"error":...}: a commit
 * that failed after the line was written).  Fails when the line cannot be
 * written whole. */
TR_RESULT audit_req_write(struct audit_req *q, const char *error);
/* op.h before_commit: the line of a writing operation about to commit. */
TR_RESULT audit_before_commit(struct req_ctx *rc);
void audit_req_free(struct audit_req *q);

/* ---- verification (verify.c) ----------------------------------------------- */

/* Check the chain and the checkpoint signatures across files (in order)
 * against the PEM public key.  0 when whole; else 1 and a message
 * naming the first bad line ("FILE:LINE: why") in why. */
int audit_verify(const char *const *files, size_t nfiles, const char *pem, size_t pem_len,
                 char *why, size_t why_len, uint64_t *lines_checked);

#endif
