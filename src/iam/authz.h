/*
 * authz.h -- authorization of a request with the policy engine: the
 * caller's identity side (identity.h, loaded once per request) and the
 * request context (context.h, the global condition keys and the
 * service's) are evaluated, and a denial becomes the service's
 * AccessDenied error with AWS's message (authz.c).  Both headers come
 * with this one: every caller of iam_authorize builds a context and may
 * read the identity.
 *
 * Every service's handlers call iam_authorize(); KMS passes the key
 * policy (RES_REQUIRED) and then consults grants on an implicit deny,
 * Secrets Manager passes the secret's resource policy (RES_UNION), IAM
 * and STS pass none or the role's trust policy.
 */
#ifndef TR_IAM_AUTHZ_H
#define TR_IAM_AUTHZ_H

#include "iam/context.h"
#include "iam/identity.h"
#include "iam/policy.h"
#include "op/op.h"

struct authz_req {
    const char *action;                      /* "kms:Decrypt" */
    const char *resource;                    /* ARN, or "*" */
    const char *resource_account;            /* owner of the resource */
    const char *resource_as_given;           /* for the message (SM echoes SecretId); NULL = resource */
    const struct named_policy *resource_policy;   /* NULL when none */
    enum resource_mode mode;
    const struct ctx_entry *extra;           /* service keys (kms:*, secretsmanager:*, sts:*, ...) */
    size_t nextra;
    /* Do not fail on deny: fill *out and return TR_OK (KMS consults
     * grants after an implicit deny). */
    bool no_fail;
    /* A hypothetical decision, not the request's own authorization: the
     * lockout checks of PutKeyPolicy and PutResourcePolicy ask whether a
     * later request would be allowed (observers are told). */
    bool what_if;
    /* The resource is one resource control policies never cover: an AWS
     * managed KMS key (KMS developer guide, "Resource control policies in
     * AWS KMS"; docs/AUTHORIZATION.md 2.10). */
    bool no_rcp;
};

/* The policy engine's view of who (policy.h struct eval_principal): its
 * type, ARNs, account, and unique id -- a user's own, a session's role's
 * (who->id up to the ':'); none for a root user.  Borrows who. */
void iam_eval_principal(const struct principal *who, struct eval_principal *out);

/* Load rc->identity if needed, build the context, evaluate.  On deny
 * (unless no_fail) fails with the service's code -- KMS and Secrets
 * Manager TR_E_ACCESS_DENIED (AccessDeniedException, 400), IAM and STS
 * TR_E_IAM_ACCESS_DENIED (AccessDenied, 403) -- and AWS's message.
 * out may be NULL. */
TR_RESULT iam_authorize(struct req_ctx *rc, const struct authz_req *ar, struct eval_result *out);

/* Observation, for the tests that hold the code to its table
 * (src/iam/authz_table.def): the observer sees every decision iam_authorize
 * makes -- the request, what is asked, and the complete request context --
 * just before the engine decides.  Set once, before the first request (not
 * thread-safe); NULL, the default, costs one pointer test per decision. */
typedef void (*iam_authz_observer)(const struct req_ctx *rc, const struct authz_req *ar,
                                   const struct ctx_entry *ctx, size_t n);
void iam_authz_observe(iam_authz_observer fn);
/* The other half: the engine's result of each decision, just after it
 * decided (the deciding statements), before a denial fails the request.
 * Same rules as iam_authz_observe. */
typedef void (*iam_authz_result_observer)(const struct req_ctx *rc, const struct authz_req *ar,
                                          const struct eval_result *res);
void iam_authz_observe_result(iam_authz_result_observer fn);
/* `tresor serve --audit-log`: every decision into the request's audit
 * record, rc->audit (authz_audit.c). */
void iam_authz_audit_enable(void);
/* `tresor serve` with TRESOR_AUTHZ_TRACE=FILE: append one JSON line per
 * decision to FILE, condition key names and flags only (authz_trace.c). */
TR_RESULT iam_authz_trace_open(const char *path);

/* The deciding statements of r as one line of evidence for the analyzer
 * (`tresor who-can-decrypt`): "Allow identity <policy> #<index> (Sid S);
 * ..." and, when r is conditional, "only if the conditions of: <allows>
 * hold, and those of: Deny <denies> do not hold" (an unknown Deny was
 * assumed not to apply); then the denies that were checked and did not
 * apply, "denies checked, not applying (their conditions are false):
 * Deny ...".  Call it while the policies r points to are alive. */
void iam_result_evidence(const struct eval_result *r, char *out, size_t n);

#endif
