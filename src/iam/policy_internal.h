/*
 * policy_internal.h -- the compiled form of a policy document, shared by
 * policy_parse.c (which builds it), policy_eval.c (which reads it) and
 * policy_cache.c (which keeps it).  Not for use outside src/iam/policy*.
 *
 * Everything evaluation needs is precomputed per statement
 * (docs/AUTHORIZATION.md 3): lowercased action patterns split at the service
 * prefix, "*" flags, resource patterns with variables pre-split, principals
 * classified, conditions compiled (conditions.h).  The whole form lives in
 * one arena, freed with the policy.
 */
#ifndef TR_IAM_POLICY_INTERNAL_H
#define TR_IAM_POLICY_INTERNAL_H

#include <stdatomic.h>

#include "iam/conditions.h"
#include "iam/policy.h"

struct action_pat {
    const char *svc;          /* lowercased service prefix ("kms") */
    uint32_t svclen;
    const char *name;         /* lowercased action pattern ("generatedatakey*") */
    uint32_t namelen;
    bool all;                 /* "*" */
    bool svc_wild;            /* the prefix has `*` or `?` */
};

enum pe_kind {
    PE_EVERYONE,              /* "*", {"AWS": "*"} */
    PE_ACCOUNT,               /* "A", arn:aws:iam::A:root */
    PE_USER,                  /* arn:aws:iam::A:user/path/name */
    PE_ROLE,                  /* arn:aws:iam::A:role/path/name */
    PE_SESSION,               /* arn:aws:sts::A:assumed-role/name/session */
    PE_FEDERATED_USER,        /* arn:aws:sts::A:federated-user/name */
    PE_UNIQUE_ID,             /* AIDA..., AROA...: the user, or the role's sessions, with that id */
    PE_SERVICE,               /* {"Service": ...} */
    PE_FEDERATED,             /* {"Federated": ...} */
    PE_CANONICAL,             /* {"CanonicalUser": ...} */
};

struct principal_ent {
    enum pe_kind kind;
    const char *value;        /* as written */
    char account[13];         /* PE_ACCOUNT: the account id */
    /* PE_USER, PE_ROLE of a policy compiled with a binding (policy.h):
     * the unique id the ARN was bound to when the policy was saved ("":
     * bound to nothing); NULL without a binding (matched by ARN). */
    const char *id;
};

struct stmt {
    const char *sid;          /* or NULL */
    enum stmt_effect effect;
    bool not_action;
    struct action_pat *actions;
    size_t nactions;
    bool has_resource;        /* false: trust policy without Resource (matches all) */
    bool not_resource;
    struct pat *resources;
    size_t nresources;
    bool has_principal;       /* Principal or NotPrincipal present */
    bool not_principal;
    struct principal_ent *principals;
    size_t nprincipals;
    struct cond *conds;
    size_t nconds;
};

struct policy {
    atomic_uint refs;
    enum policy_kind kind;
    bool vars;                /* Version 2012-10-17: variables substituted */
    char version[12];
    struct stmt *stmts;
    size_t nstmts;
    struct arena *arena;
};

/* Free the policy's memory (refcount already at zero). */
void policy_free(struct policy *p);

#endif
