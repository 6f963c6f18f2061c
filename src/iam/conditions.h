/*
 * conditions.h -- the compiled form of condition values and of strings
 * that may carry policy variables, and their evaluation.
 *
 * Spec: docs/AUTHORIZATION.md 3.4 - 3.7.  Everything that can be
 * decided when a policy is written is decided in cond_compile_block():
 * the operator and its modifiers, the lowercased key, and every value
 * parsed for its operator (numbers, dates, CIDRs, booleans, base64, ARNs
 * split in six segments, strings split around ${variables}).  Evaluation
 * then only compares; it allocates nothing.
 *
 * Truth is three-valued: a context key marked unknown (static analysis)
 * makes the conditions that read it TRI_UNKNOWN, never silently true or
 * false.
 */
#ifndef TR_IAM_CONDITIONS_H
#define TR_IAM_CONDITIONS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/result.h"
#include "iam/policy.h"

enum tri { TRI_FALSE = 0, TRI_TRUE = 1, TRI_UNKNOWN = 2 };

static inline enum tri tri_not(enum tri t)
{
    return t == TRI_UNKNOWN ? TRI_UNKNOWN : (t == TRI_TRUE ? TRI_FALSE : TRI_TRUE);
}
static inline enum tri tri_and(enum tri a, enum tri b)
{
    if (a == TRI_FALSE || b == TRI_FALSE) return TRI_FALSE;
    return (a == TRI_UNKNOWN || b == TRI_UNKNOWN) ? TRI_UNKNOWN : TRI_TRUE;
}
static inline enum tri tri_or(enum tri a, enum tri b)
{
    if (a == TRI_TRUE || b == TRI_TRUE) return TRI_TRUE;
    return (a == TRI_UNKNOWN || b == TRI_UNKNOWN) ? TRI_UNKNOWN : TRI_FALSE;
}

/* ---- compile-time allocation (policy_parse.c) --------------------------- */

/* A bump allocator owned by one compiled policy and freed with it. */
struct arena;
/* Zeroed memory, or NULL when out of memory. */
void *arena_alloc(struct arena *a, size_t n);
/* A NUL-terminated copy of s[0..n), lowercased (ASCII) when lower. */
char *arena_strndup(struct arena *a, const char *s, size_t n, bool lower);

/* ---- evaluation environment ---------------------------------------------- */

struct eval_env {
    const struct ctx_entry *ctx;
    size_t nctx;
    bool resource_policy;        /* the resource policy is being scanned: entries marked
                                    identity_only are absent */
};

/* The context entry named key (case-insensitive), or NULL (also for an
 * identity_only entry while the resource policy is scanned). */
const struct ctx_entry *ctx_find(const struct eval_env *env, const char *key, size_t keylen);

/* ---- strings with policy variables ------------------------------------- */

enum piece_kind {
    PIECE_TEXT,      /* policy text: `*`/`?` are wildcards when the pattern is wild */
    PIECE_LITERAL,   /* ${*}, ${?}, ${$}: always literal */
    PIECE_VAR,       /* ${key} or ${key, 'default'}: the context value, literal */
};

struct piece {
    enum piece_kind kind;
    const char *s;            /* text, literal, or the lowercased key */
    uint32_t len;
    const char *def;          /* default value (PIECE_VAR), when has_def */
    uint32_t deflen;
    bool has_def;
};

#define PAT_MAX_PIECES 33     /* 16 variables, with text between them */

struct pat {
    const char *s;            /* the text as written */
    uint32_t len;
    const struct piece *pieces;   /* NULL: no variables; match s directly */
    uint8_t npieces;
    bool wild;                /* `*`/`?` in text are wildcards */
    bool star;                /* wild and exactly "*": matches everything */
    bool bad;                 /* too many variables: matches nothing */
};

/* Compile s[0..n).  vars: the policy is Version 2012-10-17 and this
 * position allows variables (docs/AUTHORIZATION.md 3.7). */
TR_RESULT pat_compile(struct arena *a, const char *s, size_t n, bool wild, bool vars,
                      struct pat *out);
/* Whether subject matches.  TRI_FALSE when a variable is missing without a
 * default; TRI_UNKNOWN when a variable's key is unknown. */
enum tri pat_match(const struct pat *p, const char *subject, size_t n, bool ci,
                   const struct eval_env *env);
/* Whether every variable of p has a value (or a default): TRI_FALSE when
 * one is missing (or p has too many variables), TRI_UNKNOWN when one's key
 * is unknown.  A NotResource pattern that is not resolvable makes its
 * statement inapplicable (docs/AUTHORIZATION.md 3.7). */
enum tri pat_resolvable(const struct pat *p, const struct eval_env *env);

/* ---- conditions ---------------------------------------------------------- */

enum cond_family { CF_STRING, CF_NUMERIC, CF_DATE, CF_BOOL, CF_BINARY, CF_IP, CF_ARN, CF_NULL };
enum cond_cmp { CMP_EQ, CMP_EQ_IC, CMP_LIKE, CMP_LT, CMP_LE, CMP_GT, CMP_GE };

struct cidr {
    uint8_t family;           /* 4 or 6 */
    uint8_t prefix;           /* bits */
    uint8_t addr[16];
};

struct cond_value {
    bool ok;                  /* parsed for the operator; a value that is not
                                 never matches (positive false, negated true) */
    union {
        struct pat str;                 /* CF_STRING, CF_BOOL */
        double num;                     /* CF_NUMERIC */
        int64_t ms;                     /* CF_DATE, epoch milliseconds */
        struct cidr ip;                 /* CF_IP */
        struct pat arn[6];              /* CF_ARN, per segment */
        struct { const uint8_t *p; size_t n; } bin;   /* CF_BINARY, decoded */
        bool null_true;                 /* CF_NULL: "true" = key must be absent */
    } u;
};

struct cond {
    enum cond_family fam;
    enum cond_cmp cmp;
    bool negated;             /* ...Not... operators: NOR over the values */
    bool if_exists;
    bool for_any;             /* ForAnyValue: */
    bool for_all;             /* ForAllValues: */
    const char *key;          /* lowercased */
    uint32_t keylen;
    struct cond_value *vals;
    size_t nvals;
};

/* Compile a statement's Condition object.  vars: Version 2012-10-17. */
TR_RESULT cond_compile_block(struct arena *a, json_t *condition, bool vars,
                             struct cond **out, size_t *n);
/* One condition; and all of them (AND). */
enum tri cond_eval(const struct cond *c, const struct eval_env *env);
enum tri conds_eval(const struct cond *c, size_t n, const struct eval_env *env);

/* Parsers shared with the tests: ISO 8601 or epoch seconds to epoch ms; a
 * decimal number; an IPv4/IPv6 address or CIDR. */
bool cond_parse_date(const char *s, size_t n, int64_t *ms);
bool cond_parse_number(const char *s, size_t n, double *out);
bool cond_parse_cidr(const char *s, size_t n, struct cidr *out);

#endif
