/*
 * conditions.c -- condition operators, their modifiers, and strings with
 * policy variables: compile once, evaluate without allocating.
 *
 * Spec: docs/AUTHORIZATION.md
 *  3.4  operators AND, keys AND, values OR; negated operators NOR; keys
 *       case-insensitive; missing key: positive false, negated true,
 *       ...IfExists true; Null tests presence;
 *  3.5  the operator families (String, Numeric, Date, Bool, Binary, IP,
 *       Arn per colon segment, Null);
 *  3.6  ForAnyValue (false on a missing or empty key) and ForAllValues
 *       (true on a missing or empty key), applied per request value, the
 *       negation inside the set operator;
 *  3.7  ${variables}: only in Version 2012-10-17, only in Resource and
 *       String/Arn/Bool values, ${*} ${?} ${$}, 'default' values; a
 *       missing variable makes the value match nothing, and a negated
 *       condition with such a value false.
 * Choices where AWS is silent (docs/AUTHORIZATION.md 8.1): a plain
 * operator on a multi-valued key behaves as ForAnyValue (positive) or as
 * "no value matches" (negated); a variable naming a multi-valued key is
 * missing; IfExists wins over the set operators on a missing key; a value
 * that does not parse for its operator never matches (IAM does not reject
 * such policies at write time as far as public material shows).
 * Three-valued: a condition over a context key marked unknown is
 * TRI_UNKNOWN.
 */
#include "iam/conditions.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/b64.h"
#include "core/date.h"
#include "iam/arn.h"

#define MSG_SYNTAX "Syntax errors in policy."
#define MSG_VENDOR "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."

static inline unsigned char fold(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* ---- the context ------------------------------------------------------ */

const struct ctx_entry *ctx_find(const struct eval_env *env, const char *key, size_t keylen)
{
    for (size_t i = 0; i < env->nctx; i++) {
        const char *k = env->ctx[i].key;
        if (k && strncasecmp(k, key, keylen) == 0 && k[keylen] == '\0')
            return env->resource_policy && env->ctx[i].identity_only ? NULL : &env->ctx[i];
    }
    return NULL;
}

/* ---- variables ---------------------------------------------------------- */

static bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr(":/_.-@+=", c) != NULL);
}

/* Parse a variable at s[i] == '$' (s[i+1] == '{'); on success fill pc and
 * set *end past the closing brace.  Anything else is literal text. */
static bool parse_var(const char *s, size_t n, size_t i, struct piece *pc, size_t *end)
{
    size_t j = i + 2;
    if (j + 1 < n && s[j + 1] == '}' && (s[j] == '*' || s[j] == '?' || s[j] == '$')) {
        *pc = (struct piece){ .kind = PIECE_LITERAL, .s = s + j, .len = 1 };
        *end = j + 2;
        return true;
    }
    size_t k0 = j;
    while (j < n && key_char(s[j])) j++;
    if (j == k0) return false;
    *pc = (struct piece){ .kind = PIECE_VAR, .s = s + k0, .len = (uint32_t)(j - k0) };
    while (j < n && s[j] == ' ') j++;
    if (j < n && s[j] == ',') {
        j++;
        while (j < n && s[j] == ' ') j++;
        if (j >= n || s[j] != '\'') return false;
        size_t d0 = ++j;
        while (j < n && s[j] != '\'') j++;
        if (j >= n) return false;
        pc->def = s + d0;
        pc->deflen = (uint32_t)(j - d0);
        pc->has_def = true;
        j++;
        while (j < n && s[j] == ' ') j++;
    }
    if (j >= n || s[j] != '}') return false;
    *end = j + 1;
    return true;
}

TR_RESULT pat_compile(struct arena *a, const char *s, size_t n, bool wild, bool vars,
                      struct pat *out)
{
    *out = (struct pat){ .wild = wild };
    ENSURE(n < UINT32_MAX, TR_E_POLICY_MALFORMED);
    out->s = arena_strndup(a, s, n, false);
    ENSURE(out->s, TR_E_INTERNAL);
    out->len = (uint32_t)n;
    out->star = wild && n == 1 && s[0] == '*';
    if (!vars || !memmem(s, n, "${", 2)) return TR_OK;

    struct piece tmp[PAT_MAX_PIECES];
    size_t np = 0, text0 = 0, i = 0, nvars = 0;
    while (i + 1 < n) {
        struct piece pc;
        size_t end;
        if (s[i] != '$' || s[i + 1] != '{' || !parse_var(s, n, i, &pc, &end)) {
            i++;
            continue;
        }
        if (np + 2 >= PAT_MAX_PIECES || ++nvars > 16) {
            out->bad = true;
            return TR_OK;
        }
        if (i > text0)
            tmp[np++] = (struct piece){ .kind = PIECE_TEXT, .s = s + text0, .len = (uint32_t)(i - text0) };
        tmp[np++] = pc;
        i = text0 = end;
    }
    if (np == 0) return TR_OK;
    if (text0 < n)
        tmp[np++] = (struct piece){ .kind = PIECE_TEXT, .s = s + text0, .len = (uint32_t)(n - text0) };
    struct piece *pieces = arena_alloc(a, np * sizeof *pieces);
    ENSURE(pieces, TR_E_INTERNAL);
    for (size_t k = 0; k < np; k++) {
        pieces[k] = tmp[k];
        /* Re-point into the arena copy; variable names are lowercased. */
        pieces[k].s = out->s + (tmp[k].s - s);
        if (tmp[k].has_def) pieces[k].def = out->s + (tmp[k].def - s);
        if (tmp[k].kind == PIECE_VAR) {
            char *low = arena_strndup(a, tmp[k].s, tmp[k].len, true);
            ENSURE(low, TR_E_INTERNAL);
            pieces[k].s = low;
        }
    }
    out->pieces = pieces;
    out->npieces = (uint8_t)np;
    out->star = false;
    return TR_OK;
}

/* A resolved piece: text whose `*`/`?` may be wild, or literal bytes. */
struct span {
    const char *s;
    uint32_t len;
    bool wild;
};

struct cur {
    size_t i;
    uint32_t off;
};

enum { TOK_END = -1, TOK_STAR = -2, TOK_ANY = -3 };

static void cur_norm(const struct span *sp, size_t n, struct cur *c)
{
    while (c->i < n && c->off >= sp[c->i].len) {
        c->i++;
        c->off = 0;
    }
}

static int cur_tok(const struct span *sp, size_t n, struct cur c)
{
    if (c.i >= n) return TOK_END;
    char ch = sp[c.i].s[c.off];
    if (sp[c.i].wild && ch == '*') return TOK_STAR;
    if (sp[c.i].wild && ch == '?') return TOK_ANY;
    return (unsigned char)ch;
}

static void cur_adv(const struct span *sp, size_t n, struct cur *c)
{
    c->off++;
    cur_norm(sp, n, c);
}

/* The two-pointer glob of arn.c over a sequence of spans. */
static bool spans_match(const struct span *sp, size_t nsp, const char *s, size_t n, bool ci)
{
    struct cur p = { 0, 0 }, star = { 0, 0 };
    bool have_star = false;
    size_t i = 0, mark = 0;
    cur_norm(sp, nsp, &p);
    while (i < n) {
        int t = cur_tok(sp, nsp, p);
        if (t == TOK_STAR) {
            have_star = true;
            star = p;
            cur_adv(sp, nsp, &p);
            mark = i;
            continue;
        }
        if (t == TOK_ANY || (t >= 0 && (t == (unsigned char)s[i] ||
                                        (ci && fold((unsigned char)t) == fold((unsigned char)s[i]))))) {
            cur_adv(sp, nsp, &p);
            i++;
            continue;
        }
        if (!have_star) return false;
        glob_restarts++;
        p = star;
        cur_adv(sp, nsp, &p);
        i = ++mark;
    }
    while (cur_tok(sp, nsp, p) == TOK_STAR) cur_adv(sp, nsp, &p);
    return cur_tok(sp, nsp, p) == TOK_END;
}

/* The value of variable pc: TRI_TRUE with *v set, TRI_FALSE when missing
 * (no default), TRI_UNKNOWN when its key is unknown. */
static enum tri var_value(const struct piece *pc, const struct eval_env *env, struct span *v)
{
    const struct ctx_entry *e = ctx_find(env, pc->s, pc->len);
    if (e && e->unknown) return TRI_UNKNOWN;
    if (e && !e->multi && e->n == 1 && e->values[0]) {
        *v = (struct span){ e->values[0], (uint32_t)strlen(e->values[0]), false };
        return TRI_TRUE;
    }
    if (!pc->has_def) return TRI_FALSE;
    *v = (struct span){ pc->def, pc->deflen, false };
    return TRI_TRUE;
}

enum tri pat_match(const struct pat *p, const char *subject, size_t n, bool ci,
                   const struct eval_env *env)
{
    if (p->bad) return TRI_FALSE;
    if (p->star) return TRI_TRUE;
    if (!p->pieces) {
        if (p->wild) return glob_match(p->s, p->len, subject, n, ci) ? TRI_TRUE : TRI_FALSE;
        if (p->len != n) return TRI_FALSE;
        bool eq = ci ? strncasecmp(p->s, subject, n) == 0 : memcmp(p->s, subject, n) == 0;
        return eq ? TRI_TRUE : TRI_FALSE;
    }
    struct span sp[PAT_MAX_PIECES];
    for (size_t k = 0; k < p->npieces; k++) {
        const struct piece *pc = &p->pieces[k];
        if (pc->kind == PIECE_VAR) {
            enum tri t = var_value(pc, env, &sp[k]);
            if (t != TRI_TRUE) return t;
        } else {
            sp[k] = (struct span){ pc->s, pc->len, pc->kind == PIECE_TEXT && p->wild };
        }
    }
    return spans_match(sp, p->npieces, subject, n, ci) ? TRI_TRUE : TRI_FALSE;
}

enum tri pat_resolvable(const struct pat *p, const struct eval_env *env)
{
    if (p->bad) return TRI_FALSE;
    enum tri t = TRI_TRUE;
    for (size_t k = 0; p->pieces && k < p->npieces; k++) {
        struct span v;
        if (p->pieces[k].kind != PIECE_VAR) continue;
        enum tri x = var_value(&p->pieces[k], env, &v);
        if (x == TRI_FALSE) return TRI_FALSE;
        t = tri_and(t, x);
    }
    return t;
}

/* ---- value parsers ------------------------------------------------------- */

static bool digits(const char *s, size_t n, size_t *i, size_t count, int64_t *v)
{
    int64_t x = 0;
    for (size_t k = 0; k < count; k++) {
        if (*i >= n || s[*i] < '0' || s[*i] > '9') return false;
        x = x * 10 + (s[(*i)++] - '0');
    }
    *v = x;
    return true;
}

/* Epoch seconds, optionally negative and with a fraction. */
static bool parse_epoch(const char *s, size_t n, int64_t *ms)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && s[i] == '-') { neg = true; i++; }
    size_t d0 = i;
    int64_t sec = 0, frac = 0, scale = 1000;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        if (i - d0 >= 15) return false;
        sec = sec * 10 + (s[i++] - '0');
    }
    if (i == d0) return false;
    if (i < n && s[i] == '.') {
        size_t f0 = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (scale > 1) { scale /= 10; frac += (s[i] - '0') * scale; }
            i++;
        }
        if (i == f0) return false;
    }
    if (i != n) return false;
    int64_t v = sec * 1000 + frac;
    *ms = neg ? -v : v;
    return true;
}

/* hh:mm[:ss[.fff]] after the 'T'; adds to *ms. */
static bool parse_clock(const char *s, size_t n, size_t *i, int64_t *ms)
{
    int64_t hh, mi, ss = 0, frac = 0;
    if (!digits(s, n, i, 2, &hh) || *i >= n || s[(*i)++] != ':' || !digits(s, n, i, 2, &mi)) return false;
    if (*i < n && s[*i] == ':') {
        (*i)++;
        if (!digits(s, n, i, 2, &ss)) return false;
        if (*i < n && s[*i] == '.') {
            int64_t scale = 1000;
            size_t f0 = ++(*i);
            while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
                if (scale > 1) { scale /= 10; frac += (s[*i] - '0') * scale; }
                (*i)++;
            }
            if (*i == f0) return false;
        }
    }
    if (hh > 24 || mi > 59 || ss > 60 || (hh == 24 && (mi || ss || frac))) return false;
    *ms += ((hh * 60 + mi) * 60 + ss) * 1000 + frac;
    return true;
}

/* Z, or +hh:mm / -hhmm / +hh; subtracts the offset from *ms. */
static bool parse_zone(const char *s, size_t n, size_t *i, int64_t *ms)
{
    if (*i >= n) return true;
    if (s[*i] == 'Z' || s[*i] == 'z') { (*i)++; return true; }
    if (s[*i] != '+' && s[*i] != '-') return false;
    int sign = s[(*i)++] == '-' ? -1 : 1;
    int64_t oh, om = 0;
    if (!digits(s, n, i, 2, &oh)) return false;
    if (*i < n && s[*i] == ':') (*i)++;
    if (*i < n && !digits(s, n, i, 2, &om)) return false;
    if (oh > 23 || om > 59) return false;
    *ms -= sign * (oh * 60 + om) * 60000;
    return true;
}

bool cond_parse_date(const char *s, size_t n, int64_t *ms)
{
    if (n == 0) return false;
    if (parse_epoch(s, n, ms)) return true;
    size_t i = 0;
    int64_t y, m, d;
    if (!digits(s, n, &i, 4, &y) || i >= n || s[i++] != '-' || !digits(s, n, &i, 2, &m) ||
        i >= n || s[i++] != '-' || !digits(s, n, &i, 2, &d))
        return false;
    if (!date_valid(y, m, d)) return false;
    int64_t v = days_from_civil(y, m, d) * 86400000;
    if (i < n && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
        i++;
        if (!parse_clock(s, n, &i, &v)) return false;
        if (!parse_zone(s, n, &i, &v)) return false;
    }
    if (i != n) return false;
    *ms = v;
    return true;
}

bool cond_parse_number(const char *s, size_t n, double *out)
{
    char tmp[64];
    size_t i = 0;
    if (n == 0 || n >= sizeof tmp) return false;
    if (s[i] == '+' || s[i] == '-') i++;
    size_t d0 = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    size_t nd = i - d0;
    if (i < n && s[i] == '.') {
        size_t f0 = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        nd += i - f0;
    }
    if (nd == 0) return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t e0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == e0) return false;
    }
    if (i != n) return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    double v = strtod(tmp, NULL);
    if (!isfinite(v)) return false;
    *out = v;
    return true;
}

bool cond_parse_cidr(const char *s, size_t n, struct cidr *out)
{
    char tmp[64];
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    if (alen == 0 || alen >= sizeof tmp) return false;
    memcpy(tmp, s, alen);
    tmp[alen] = '\0';
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, tmp, out->addr) == 1) {
        out->family = 4;
        out->prefix = 32;
    } else if (inet_pton(AF_INET6, tmp, out->addr) == 1) {
        out->family = 6;
        out->prefix = 128;
    } else {
        return false;
    }
    if (!slash) return true;
    size_t i = alen + 1;
    int64_t bits = 0;
    size_t nd = n - i;
    if (nd == 0 || nd > 3 || !digits(s, n, &i, nd, &bits) || bits > out->prefix) return false;
    out->prefix = (uint8_t)bits;
    return true;
}

static bool cidr_contains(const struct cidr *net, const struct cidr *ip)
{
    if (net->family != ip->family) return false;
    unsigned full = net->prefix / 8u, rest = net->prefix % 8u;
    if (memcmp(net->addr, ip->addr, full) != 0) return false;
    if (rest == 0) return true;
    uint8_t mask = (uint8_t)(0xffu << (8u - rest));
    return (net->addr[full] & mask) == (ip->addr[full] & mask);
}

/* ---- compiling ----------------------------------------------------------- */

struct op_def {
    const char *name;
    enum cond_family fam;
    enum cond_cmp cmp;
    bool neg;
};

static const struct op_def OPS[] = {
    { "StringEquals", CF_STRING, CMP_EQ, false },
    { "StringNotEquals", CF_STRING, CMP_EQ, true },
    { "StringEqualsIgnoreCase", CF_STRING, CMP_EQ_IC, false },
    { "StringNotEqualsIgnoreCase", CF_STRING, CMP_EQ_IC, true },
    { "StringLike", CF_STRING, CMP_LIKE, false },
    { "StringNotLike", CF_STRING, CMP_LIKE, true },
    { "NumericEquals", CF_NUMERIC, CMP_EQ, false },
    { "NumericNotEquals", CF_NUMERIC, CMP_EQ, true },
    { "NumericLessThan", CF_NUMERIC, CMP_LT, false },
    { "NumericLessThanEquals", CF_NUMERIC, CMP_LE, false },
    { "NumericGreaterThan", CF_NUMERIC, CMP_GT, false },
    { "NumericGreaterThanEquals", CF_NUMERIC, CMP_GE, false },
    { "DateEquals", CF_DATE, CMP_EQ, false },
    { "DateNotEquals", CF_DATE, CMP_EQ, true },
    { "DateLessThan", CF_DATE, CMP_LT, false },
    { "DateLessThanEquals", CF_DATE, CMP_LE, false },
    { "DateGreaterThan", CF_DATE, CMP_GT, false },
    { "DateGreaterThanEquals", CF_DATE, CMP_GE, false },
    { "Bool", CF_BOOL, CMP_EQ_IC, false },
    { "BinaryEquals", CF_BINARY, CMP_EQ, false },
    { "IpAddress", CF_IP, CMP_EQ, false },
    { "NotIpAddress", CF_IP, CMP_EQ, true },
    { "ArnEquals", CF_ARN, CMP_LIKE, false },
    { "ArnLike", CF_ARN, CMP_LIKE, false },
    { "ArnNotEquals", CF_ARN, CMP_LIKE, true },
    { "ArnNotLike", CF_ARN, CMP_LIKE, true },
    { "Null", CF_NULL, CMP_EQ, false },
};

static bool has_prefix_ci(const char *s, size_t n, const char *pre, size_t *plen)
{
    size_t k = strlen(pre);
    if (n < k || strncasecmp(s, pre, k) != 0) return false;
    *plen = k;
    return true;
}

static TR_RESULT parse_operator(const char *name, struct cond *c)
{
    size_t n = strlen(name), k = 0;
    const char *s = name;
    if (has_prefix_ci(s, n, "ForAnyValue:", &k)) c->for_any = true;
    else if (has_prefix_ci(s, n, "ForAllValues:", &k)) c->for_all = true;
    s += k;
    n -= k;
    if (n > 8 && strncasecmp(s + n - 8, "IfExists", 8) == 0) {
        c->if_exists = true;
        n -= 8;
    }
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++) {
        if (strlen(OPS[i].name) != n || strncasecmp(OPS[i].name, s, n) != 0) continue;
        if (OPS[i].fam == CF_NULL && (c->if_exists || c->for_any || c->for_all)) break;
        c->fam = OPS[i].fam;
        c->cmp = OPS[i].cmp;
        c->negated = OPS[i].neg;
        return TR_OK;
    }
    BAIL(TR_E_POLICY_MALFORMED, "Invalid Condition type : %s", name);
}

/* The text of a scalar JSON value (numbers as JSON writes them). */
static bool scalar_text(json_t *v, char *buf, size_t cap, const char **s, size_t *n)
{
    if (json_is_string(v)) {
        *s = json_string_value(v);
        *n = json_string_length(v);
        return true;
    }
    int w;
    if (json_is_true(v) || json_is_false(v)) {
        w = snprintf(buf, cap, "%s", json_is_true(v) ? "true" : "false");
    } else if (json_is_integer(v)) {
        w = snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        w = 0;
        for (int prec = 1; prec <= 17; prec++) {
            w = snprintf(buf, cap, "%.*g", prec, d);
            if (strtod(buf, NULL) == d) break;
        }
    } else {
        return false;
    }
    if (w < 0 || (size_t)w >= cap) return false;
    *s = buf;
    *n = (size_t)w;
    return true;
}

/* Split an ARN pattern into six segments at the first five colons that
 * are not inside ${...}. */
static size_t split_arn_pattern(const char *s, size_t n, size_t seg[6][2])
{
    size_t k = 0, start = 0, depth = 0;
    for (size_t i = 0; i < n && k < 5; i++) {
        if (s[i] == '$' && i + 1 < n && s[i + 1] == '{') depth++;
        else if (s[i] == '}' && depth) depth--;
        else if (s[i] == ':' && !depth) {
            seg[k][0] = start;
            seg[k][1] = i - start;
            k++;
            start = i + 1;
        }
    }
    seg[k][0] = start;
    seg[k][1] = n - start;
    return k + 1;
}

static TR_RESULT compile_value(struct arena *a, const struct cond *c, const char *s, size_t n,
                               bool vars, struct cond_value *v)
{
    size_t seg[6][2], got;
    v->ok = true;
    switch (c->fam) {
    case CF_STRING:
        return pat_compile(a, s, n, c->cmp == CMP_LIKE, vars, &v->u.str);
    case CF_BOOL:
        return pat_compile(a, s, n, false, vars, &v->u.str);
    case CF_NUMERIC:
        v->ok = cond_parse_number(s, n, &v->u.num);
        return TR_OK;
    case CF_DATE:
        v->ok = cond_parse_date(s, n, &v->u.ms);
        return TR_OK;
    case CF_IP:
        v->ok = cond_parse_cidr(s, n, &v->u.ip);
        return TR_OK;
    case CF_NULL:
        v->ok = (n == 4 && strncasecmp(s, "true", 4) == 0) || (n == 5 && strncasecmp(s, "false", 5) == 0);
        v->u.null_true = n == 4;
        return TR_OK;
    case CF_BINARY: {
        size_t len = 0;
        uint8_t *buf = arena_alloc(a, n + 1);
        ENSURE(buf, TR_E_INTERNAL);
        v->ok = b64_decode_loose(s, n, buf, n, &len);
        v->u.bin.p = buf;
        v->u.bin.n = len;
        return TR_OK;
    }
    case CF_ARN:
        got = split_arn_pattern(s, n, seg);
        if (got < 6) {
            v->ok = false;
            return TR_OK;
        }
        for (int i = 0; i < 6; i++)
            GUARD(pat_compile(a, s + seg[i][0], seg[i][1], true, vars, &v->u.arn[i]));
        return TR_OK;
    }
    return TR_OK;
}

static TR_RESULT compile_values(struct arena *a, struct cond *c, json_t *vals, bool vars)
{
    char buf[64];
    const char *s;
    size_t n;
    size_t count = json_is_array(vals) ? json_array_size(vals) : 1;
    c->vals = arena_alloc(a, (count ? count : 1) * sizeof *c->vals);
    ENSURE(c->vals, TR_E_INTERNAL);
    c->nvals = count;
    /* Variables are allowed in String, Arn and Bool values only
     * (docs/AUTHORIZATION.md 3.7). */
    bool v_ok = vars && (c->fam == CF_STRING || c->fam == CF_ARN || c->fam == CF_BOOL);
    for (size_t i = 0; i < count; i++) {
        json_t *e = json_is_array(vals) ? json_array_get(vals, i) : vals;
        if (!scalar_text(e, buf, sizeof buf, &s, &n)) BAIL(TR_E_POLICY_MALFORMED, MSG_SYNTAX);
        GUARD(compile_value(a, c, s, n, v_ok, &c->vals[i]));
    }
    return TR_OK;
}

static TR_RESULT compile_key(struct arena *a, struct cond *c, const char *key)
{
    size_t n = strlen(key);
    const char *colon = memchr(key, ':', n);
    if (!colon || colon == key) BAIL(TR_E_POLICY_MALFORMED, MSG_VENDOR);
    ENSURE(n < UINT32_MAX, TR_E_POLICY_MALFORMED);
    c->key = arena_strndup(a, key, n, true);
    ENSURE(c->key, TR_E_INTERNAL);
    c->keylen = (uint32_t)n;
    return TR_OK;
}

TR_RESULT cond_compile_block(struct arena *a, json_t *condition, bool vars,
                             struct cond **out, size_t *n)
{
    const char *op, *key;
    json_t *keys, *vals;
    size_t total = 0, k = 0;
    *out = NULL;
    *n = 0;
    if (!json_is_object(condition)) BAIL(TR_E_POLICY_MALFORMED, MSG_SYNTAX);
    json_object_foreach(condition, op, keys) {
        if (!json_is_object(keys)) BAIL(TR_E_POLICY_MALFORMED, MSG_SYNTAX);
        total += json_object_size(keys);
    }
    if (total == 0) return TR_OK;
    struct cond *conds = arena_alloc(a, total * sizeof *conds);
    ENSURE(conds, TR_E_INTERNAL);
    json_object_foreach(condition, op, keys) {
        struct cond proto = { 0 };
        GUARD(parse_operator(op, &proto));
        json_object_foreach(keys, key, vals) {
            conds[k] = proto;
            GUARD(compile_key(a, &conds[k], key));
            GUARD(compile_values(a, &conds[k], vals, vars));
            k++;
        }
    }
    *out = conds;
    *n = k;
    return TR_OK;
}

/* ---- evaluating ---------------------------------------------------------- */

/* One request value, parsed once for the operator family. */
struct req_val {
    const char *s;
    size_t n;
    bool ok;
    double num;
    int64_t ms;
    struct cidr ip;
    struct arn_parts arn;
};

static void parse_request_value(const struct cond *c, const char *s, struct req_val *r)
{
    r->s = s;
    r->n = strlen(s);
    r->ok = true;
    switch (c->fam) {
    case CF_NUMERIC: r->ok = cond_parse_number(s, r->n, &r->num); break;
    case CF_DATE: r->ok = cond_parse_date(s, r->n, &r->ms); break;
    case CF_IP: r->ok = cond_parse_cidr(s, r->n, &r->ip); break;
    case CF_ARN: r->ok = arn_split(s, r->n, &r->arn); break;
    default: break;
    }
}

/* Whether a request value that compares to the policy value as `sign`
 * says (-1 less, 0 equal, 1 greater) satisfies cmp.  Numbers are never
 * NaN (cond_parse_number takes finite values only), so every pair of
 * values compares. */
static bool order(enum cond_cmp cmp, int sign)
{
    switch (cmp) {
    case CMP_LT: return sign < 0;
    case CMP_LE: return sign <= 0;
    case CMP_GT: return sign > 0;
    case CMP_GE: return sign >= 0;
    default: return sign == 0;
    }
}

#define SIGN(a, b) (((a) > (b)) - ((a) < (b)))

static enum tri arn_value_match(const struct cond_value *v, const struct req_val *r,
                                const struct eval_env *env)
{
    enum tri t = TRI_TRUE;
    for (int i = 0; i < 6 && t != TRI_FALSE; i++)
        t = tri_and(t, pat_match(&v->u.arn[i], r->arn.part[i], r->arn.len[i], false, env));
    return t;
}

/* The positive form of the operator for one policy value. */
static enum tri value_match(const struct cond *c, const struct cond_value *v,
                            const struct req_val *r, const struct eval_env *env)
{
    if (!v->ok || !r->ok) return TRI_FALSE;
    switch (c->fam) {
    case CF_STRING: return pat_match(&v->u.str, r->s, r->n, c->cmp == CMP_EQ_IC, env);
    case CF_BOOL: return pat_match(&v->u.str, r->s, r->n, true, env);
    case CF_NUMERIC: return order(c->cmp, SIGN(r->num, v->u.num)) ? TRI_TRUE : TRI_FALSE;
    case CF_DATE: return order(c->cmp, SIGN(r->ms, v->u.ms)) ? TRI_TRUE : TRI_FALSE;
    case CF_IP: return cidr_contains(&v->u.ip, &r->ip) ? TRI_TRUE : TRI_FALSE;
    case CF_ARN: return arn_value_match(v, r, env);
    case CF_BINARY:
        return b64_equal_loose(r->s, r->n, v->u.bin.p, v->u.bin.n) ? TRI_TRUE : TRI_FALSE;
    case CF_NULL: return TRI_FALSE;
    }
    return TRI_FALSE;
}

/* Whether one request value matches any policy value (values OR). */
static enum tri request_value_match(const struct cond *c, const char *s, const struct eval_env *env)
{
    struct req_val r;
    enum tri t = TRI_FALSE;
    parse_request_value(c, s ? s : "", &r);
    for (size_t i = 0; i < c->nvals && t != TRI_TRUE; i++)
        t = tri_or(t, value_match(c, &c->vals[i], &r, env));
    return t;
}

static enum tri null_eval(const struct cond *c, bool absent)
{
    for (size_t i = 0; i < c->nvals; i++)
        if (c->vals[i].ok && c->vals[i].u.null_true == absent) return TRI_TRUE;
    return TRI_FALSE;
}

/* Whether every policy value's variables have values (String, Bool and
 * Arn values carry variables). */
static enum tri values_resolvable(const struct cond *c, const struct eval_env *env)
{
    enum tri t = TRI_TRUE;
    for (size_t i = 0; i < c->nvals && t != TRI_FALSE; i++) {
        const struct cond_value *v = &c->vals[i];
        if (!v->ok) continue;
        if (c->fam == CF_STRING || c->fam == CF_BOOL) {
            t = tri_and(t, pat_resolvable(&v->u.str, env));
        } else if (c->fam == CF_ARN) {
            for (int k = 0; k < 6 && t != TRI_FALSE; k++) t = tri_and(t, pat_resolvable(&v->u.arn[k], env));
        }
    }
    return t;
}

enum tri cond_eval(const struct cond *c, const struct eval_env *env)
{
    const struct ctx_entry *e = ctx_find(env, c->key, c->keylen);
    if (e && e->unknown) return TRI_UNKNOWN;
    bool absent = !e || e->n == 0 || !e->values;
    if (c->fam == CF_NULL) return null_eval(c, absent);
    if (absent) {
        if (c->if_exists || c->for_all) return TRI_TRUE;
        if (c->for_any) return TRI_FALSE;
        return c->negated ? TRI_TRUE : TRI_FALSE;
    }
    /* A negated operator with a value whose variable has no value: the
     * match fails, and the condition with it (IAM guide: "any attempt to
     * match it fails and causes the statement to be invalid"); a positive
     * operator's other values may still match (docs/AUTHORIZATION.md 3.7). */
    enum tri ok = c->negated ? values_resolvable(c, env) : TRI_TRUE;
    if (ok == TRI_FALSE) return TRI_FALSE;
    /* Per request value: the operator's truth (negated = matches none). */
    bool all = c->for_all || (!c->for_any && c->negated);
    enum tri acc = all ? TRI_TRUE : TRI_FALSE;
    for (size_t i = 0; i < e->n; i++) {
        enum tri m = request_value_match(c, e->values[i], env);
        if (c->negated) m = tri_not(m);
        acc = all ? tri_and(acc, m) : tri_or(acc, m);
        if (acc == (all ? TRI_FALSE : TRI_TRUE)) break;
    }
    return tri_and(ok, acc);
}

enum tri conds_eval(const struct cond *c, size_t n, const struct eval_env *env)
{
    enum tri t = TRI_TRUE;
    for (size_t i = 0; i < n && t != TRI_FALSE; i++) t = tri_and(t, cond_eval(&c[i], env));
    return t;
}
