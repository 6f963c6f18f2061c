/*
 * op.h -- what an operation handler sees: the request context and the
 * handler signature.  Handlers never touch HTTP (router.c does); they get
 * the parsed JSON input and return a JSON object or a tr_result error
 * whose last-error message (errors.h) becomes the AWS error reply.
 */
#ifndef TR_OP_H
#define TR_OP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/result.h"
#include "store/store.h"

struct keyring;

/* The longest ARN a principal has: arn:aws:iam::<12 digits>:user or :role,
 * a path of up to 512 characters and a name of up to 64 (IAM's limits):
 * 606 characters.  Session ARNs have no path and are much shorter. */
#define PRINCIPAL_ARN_MAX 640

struct principal {
    int type;                   /* enum principal_type (store.h) */
    char account_id[ACCOUNT_ID_LEN + 1];
    char arn[PRINCIPAL_ARN_MAX];      /* arn:aws:iam::A:root, ... */
    char id[256];               /* account id for root; AIDA...; AROA...:session */
    char role_arn[PRINCIPAL_ARN_MAX]; /* role sessions: the role's ARN (with path); else "" */
    char access_key_id[33];     /* the access key the request was signed with */
};

struct identity;                /* iam/authz.h: the caller's policies, loaded once per request */

struct dev_state;                /* dev/dev.h: `tresor serve --dev` */

/* What `tresor serve --dev` changes in the layers below dev/: dev_start
 * (dev/dev.h) fills one in and points env->dev at it; NULL outside dev
 * mode.  Authentication (auth/creds.c) and the router (http/router.c)
 * reach dev mode only through it. */
struct dev_hooks {
    struct dev_state *state;    /* the argument of the calls below */
    /* Authentication: an access key tresor never knew acts as the root
     * user of this account, its signature unchecked; any region of AWS's
     * shape is served, the SigV4 clock window is not enforced. */
    const char *account;
    bool (*region_ok)(const char *region);
    /* The request path: every request inside a shared hold (a reset takes
     * it exclusively), and the unsigned reset paths. */
    void (*enter)(struct dev_state *d);
    void (*leave)(struct dev_state *d);
    bool (*is_reset_path)(const char *path);
    TR_RESULT (*reset)(struct dev_state *d);
};

struct server_env {
    store_t st;
    struct keyring *kr;
    const char *default_region;
    const struct dev_hooks *dev; /* dev mode; NULL otherwise */
};

struct req_ctx {
    const struct server_env *env;
    store_t st;                 /* env->st */
    struct keyring *kr;         /* env->kr */
    char region[64];            /* from the SigV4 credential scope */
    char service[32];           /* "kms", "secretsmanager", ... */
    struct principal who;       /* the authenticated caller */
    char request_id[37];
    int64_t now;                /* epoch seconds at request start (op/clock.h: tr_now) */
    const char *source_ip;
    const char *user_agent;     /* the User-Agent header (aws:UserAgent), or NULL */
    const char *referer;        /* the Referer header (aws:referer), or NULL */
    bool secure_transport;      /* aws:SecureTransport (TLS) */
    /* Set when one service calls another on the caller's behalf
     * (Secrets Manager -> KMS): "secretsmanager.<region>.amazonaws.com".
     * NULL on direct calls.  Sets kms:ViaService and aws:ViaAWSService. */
    const char *via_service;
    struct identity *identity;  /* lazily loaded by iam_authorize; released by the router */
    bool identity_borrowed;     /* identity is not the request's to release (the analyzer's) */
    bool writing;               /* a write operation: the router runs it in a transaction,
                                   and read caches are bypassed (nothing read stays current) */
};

typedef TR_RESULT (*op_handler)(struct req_ctx *rc, json_t *in, json_t **out);

/* Operation flags. */
#define OP_WRITE 0x1   /* router wraps the handler in tx_begin/tx_commit
                          (tx_rollback on failure): all or nothing */

/* One row of an operation table (kms/ops.c, later secrets/ops.c):
 * the wire name after the X-Amz-Target prefix, the IAM action, the handler. */
struct op_def {
    const char *name;           /* "Encrypt" */
    const char *action;         /* "kms:Encrypt" */
    op_handler fn;
    unsigned flags;
};

/* KMS: the table (NULL-name terminated) and periodic maintenance: purge
 * keys whose deletion date has passed, rotate keys whose rotation date
 * has passed.  Called at start-up and every minute by the server. */
extern const struct op_def kms_ops[];
/* Secrets Manager (secrets/ops.c) and its maintenance: purge secrets whose
 * recovery window has ended. */
extern const struct op_def sm_ops[];
TR_RESULT sm_maintenance(const struct server_env *env, int64_t now);
TR_RESULT kms_maintenance(const struct server_env *env, int64_t now);

#endif
