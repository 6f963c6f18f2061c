/*
 * op.h -- what an operation handler sees: the caller (struct principal),
 * the request context, the server's shared state; and the one operation
 * descriptor every service's table is made of.  Handlers never touch HTTP
 * (http/router.c does): they get the decoded input of their protocol and
 * give back a reply or a tr_result error whose last-error message
 * (errors.h) becomes the AWS error reply.
 */
#ifndef TR_OP_H
#define TR_OP_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
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
    char access_key_id[129];    /* the access key the request was signed with (AccessKeyIdType: 128) */
};

struct audit_req;               /* audit/audit.h: the request's audit record */
struct audit_log;               /* audit/audit.h: --audit-log */

struct identity;                /* iam/identity.h: the caller's policies, loaded once per request */

struct iam_orgs;                /* iam/orgs.h: Organizations over snapshot accounts */
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

struct op_service;

/* The server's shared state, which every request runs against. */
struct server_env {
    store_t st;
    struct keyring *kr;
    const char *default_region;
    /* The regions served (--regions): each apart, as in AWS -- the store
     * keys every record by region.  Outside dev mode the list holds at
     * least default_region; in dev mode it is empty (nregions 0) unless
     * --regions was given, and every region of AWS's shape is served
     * (dev_hooks.region_ok).  IAM and STS are global, but their requests
     * are scoped to a served region like any other. */
    const char *const *regions;
    size_t nregions;
    /* The services served (main.c registers them): the router knows them
     * only through this list. */
    const struct op_service *const *services;
    size_t nservices;
    const struct dev_hooks *dev; /* dev mode; NULL otherwise */
    struct audit_log *audit;    /* --audit-log; NULL otherwise */
    /* The passphrase seal (http/control.h); NULL with the file seal and in
     * dev mode.  A request holds it shared while it runs; unseal and seal
     * hold it alone while they set or clear kr and audit.  kr NULL under
     * it: sealed, every request answered 503. */
    pthread_rwlock_t *seal_lock;
    /* AWS Organizations over the accounts (iam/orgs.h): their SCPs and
     * RCPs, when answering from snapshots that hold them; NULL for
     * tresor's own store, which has no Organizations. */
    const struct iam_orgs *orgs;
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
    struct identity *identity;  /* lazily loaded by iam_authorize (iam/authz.h) */
    bool identity_borrowed;     /* identity is not the request's to release (the analyzer's) */
    /* Whoever attaches to the request something that must be let go when
     * it ends sets this to the function that lets it go (iam/identity.c, when
     * it loads rc->identity); op_run calls it last, through op_release. */
    void (*release)(struct req_ctx *rc);
    const struct op_def *op;    /* the operation op_run runs: handlers authorize
                                   rc->op->action, their row's */
    /* A JSON operation's reply buffer while op_run runs its handler, else
     * NULL.  A hot read's handler (GetSecretValue, Decrypt,
     * GenerateDataKey) writes its reply there itself (core/json.h json_w)
     * and sets reply_written instead of returning a tree; op_run drops
     * (wipes) what it wrote if the operation then fails. */
    struct buf *json_reply;
    bool reply_written;
    bool writing;               /* a write operation: op_run runs it in a transaction,
                                   and read caches are bypassed (nothing read stays current) */
    /* The audit log (audit/audit.h): the request's record, which
     * authorization adds its decisions to, and what op_run calls after a
     * writing operation's handler succeeded and before it commits -- its
     * failure rolls the operation back.  NULL without --audit-log. */
    struct audit_req *audit;
    TR_RESULT (*before_commit)(struct req_ctx *rc);
    /* What a writing operation starts once its transaction committed (a
     * rotation, secrets/rotation.c): op_run calls it after the commit, and
     * only then, with after_commit_arg; the callee owns the argument.  On
     * any failure it calls after_commit_drop instead, after the rollback
     * (which releases the arg, or starts what must run either way). */
    void (*after_commit)(void *arg);
    void (*after_commit_drop)(void *arg);
    void *after_commit_arg;
    /* Set by the caller (the router, when the HTTP server can suspend the
     * request): op_run commits without waiting for the sync and leaves
     * the commit's ticket in sync_ticket (store.h tx_commit_ticket); the
     * reply must not go out before sync_notify says the ticket is
     * durable.  sync_ticket 0: nothing to wait for. */
    bool defer_sync;
    uint64_t sync_ticket;
};

/* ---- the operation descriptor ------------------------------------------ */

struct form;                    /* op/query_proto.h: a query request's parameters */
struct xml;                     /* op/query_proto.h: an XML reply being written */

/* The protocol an operation speaks, which says how its input is decoded
 * and its reply rendered: awsJson1_1 (KMS, Secrets Manager) or the AWS
 * query protocol (IAM, STS). */
enum op_proto { OP_JSON, OP_QUERY };

/* The handler of each protocol.  JSON: the request body's object in, the
 * reply object out (*out NULL: the empty object).  Query: the parameters
 * in, the content of the <OpResult> element written to out.  Either fails
 * with a tr_result whose last-error message (errors.h) becomes the AWS
 * error reply. */
typedef TR_RESULT (*op_json_handler)(struct req_ctx *rc, json_t *in, json_t **out);
typedef TR_RESULT (*op_query_handler)(struct req_ctx *rc, const struct form *in, struct xml *out);
/* A handler's declaration and definition: OP_JSON_HANDLER(op_decrypt) { ... } */
#define OP_JSON_HANDLER(fn) TR_RESULT fn(struct req_ctx *rc, json_t *in, json_t **out)
#define OP_QUERY_HANDLER(fn) TR_RESULT fn(struct req_ctx *rc, const struct form *in, struct xml *out)

/* Operation flags. */
#define OP_WRITE     0x1   /* one store transaction around the handler (tx_rollback
                              on failure): all or nothing */
#define OP_NO_RESULT 0x2   /* query protocol: the reply has no <OpResult> element */
#define OP_UNSIGNED  0x4   /* query protocol: served without a signature too, as the
                              anonymous caller (STS AssumeRoleWithWebIdentity: the
                              token is the credential); the router checks the row */
#define OP_SERVICE_FLAGS 0xff00  /* the service's own bits, for its handlers only
                                    (rc->op->flags); op_run ignores them */

/* One operation of one service, the same for all four: a row of the
 * service's table (kms/ops.def, secrets/ops.def, iam/iam_ops.def,
 * iam/sts_ops.def; docs/internals/OPERATIONS.md). */
struct op_def {
    const char *name;           /* the wire name: "Encrypt", "CreateUser" */
    const char *action;         /* the IAM action it is authorized as: "kms:Encrypt" */
    enum op_proto proto;        /* which member of fn */
    union {
        op_json_handler json;
        op_query_handler query;
    } fn;
    unsigned flags;             /* OP_WRITE, OP_NO_RESULT */
    /* OP_JSON: the request members the operation takes (its input shape's,
     * NULL-terminated).  op_run refuses any other member, before the
     * handler runs, as AWS's awsJson front end does. */
    const char *const *members;
};

/* A row, by protocol: the compiler checks the handler's type.  members is
 * an OP_MEMBERS("KeyId", "GrantTokens") list. */
#define OP_JSON_ROW(name, action, handler, flags, members) \
    { name, action, OP_JSON, { .json = handler }, flags, members }
#define OP_QUERY_ROW(name, action, handler, flags) \
    { name, action, OP_QUERY, { .query = handler }, flags, NULL }
/* A JSON row's members: a NULL-terminated array of static storage. */
#define OP_MEMBERS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* A service: its operation table, and what the router needs to reach it
 * and to spell its errors.  Each service defines its own beside its
 * table (kms_service, sm_service, iam_service, sts_service); main.c
 * registers them in the server_env. */
struct op_service {
    const char *name;             /* the SigV4 signing name: "kms", "secretsmanager", "iam", "sts" */
    enum op_proto proto;          /* the protocol of every operation in ops */
    const struct op_def *ops;     /* the table, sorted by name, NULL-name terminated */
    const char *internal_error;   /* its own 5xx: the __type (JSON) or Code (query) */
    /* awsJson1_1 */
    const char *target_prefix;    /* X-Amz-Target before the operation: "TrentService." */
    const char *message_member;   /* "message" (KMS) or "Message" (Secrets Manager) */
    const char *not_found_type;   /* its spelling of the store's not-found ... */
    const char *exists_type;      /* ... and exists (errors.def) */
    /* query */
    const char *xmlns;            /* the replies' namespace */
    const char *version;          /* the API version clients send: "2010-05-08" */
};

/* ---- running an operation ----------------------------------------------- */

/* True when env serves region (see server_env.regions). */
bool server_region_served(const struct server_env *env, const char *region);

/* The operation of svc named name, or NULL. */
const struct op_def *op_find(const struct op_service *svc, const char *name);

/* The decoded request, in the member of op's protocol. */
struct op_input {
    json_t *json;               /* OP_JSON: the request body's object (borrowed) */
    const struct form *form;    /* OP_QUERY: the parameters */
};

/* The largest reply op_run renders (the router's reply buffer cap). */
#define OP_REPLY_MAX (4u << 20)

/* Run operation op of service svc for the caller and request rc describes,
 * the one way every caller does (the router, dev mode's seed, the unit
 * tests; docs/internals/OPERATIONS.md):
 *   rc->op, rc->service and rc->writing from the row and the service;
 *   JSON: a member not in the row's members is refused
 *   (SerializationException "Unknown member '<name>' in the request");
 *   OP_WRITE: tx_begin; the handler; rc->before_commit when set (the
 *   audit line); tx_commit, or tx_rollback on any failure (the first
 *   error is the one returned);
 *   the reply rendered into reply (a secret buf: replies carry
 *   plaintext) -- JSON: the handler's object, {} when it gave none; query:
 *   <OpResponse xmlns><OpResult>...</OpResult><ResponseMetadata>
 *   <RequestId/></ResponseMetadata></OpResponse> (no OpResult with
 *   OP_NO_RESULT);
 *   op_release(rc).
 * On failure reply holds nothing useful and the last error (errors.h) says
 * what failed; the caller renders the error in its protocol's shape. */
TR_RESULT op_run(struct req_ctx *rc, const struct op_service *svc, const struct op_def *op,
                 const struct op_input *in, struct buf *reply);
/* op_run, except that a writing operation's transaction is rolled back
 * even when the operation succeeds: the store is left as it was (the fuzz
 * targets replay every input against the same rows). */
TR_RESULT op_dry_run(struct req_ctx *rc, const struct op_service *svc, const struct op_def *op,
                     const struct op_input *in, struct buf *reply);

/* The end of a request: rc->release, if set, called once and cleared. */
void op_release(struct req_ctx *rc);

#endif
