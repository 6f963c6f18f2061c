/*
 * policy_text.c -- statement positions and condition keys, read from the
 * text of a policy document (policy_text.h).
 *
 * IAM's policy simulator names each matched statement by where it is in
 * the document (StartPosition and EndPosition, a line and a column), and
 * GetContextKeysFor*Policy lists the condition keys a document reads as
 * it spells them.  The compiled form (policy_internal.h) keeps neither,
 * so both come from the text, after policy_compile accepted it:
 *
 *  - positions: jansson, which parsed the document, does not report
 *    where a value was, so a cursor walks the text once -- strings with
 *    their escapes, objects and arrays by nesting -- and records the
 *    braces of the members of "Statement".  It decides nothing about the
 *    document's meaning; the engine's parse (policy_parse.c) did that;
 *  - keys: the document parsed again with jansson (keys as written;
 *    jansson keeps the members' order), each Condition block's keys and
 *    the ${variables} where the engine substitutes them (3.7 of
 *    docs/AUTHORIZATION.md).
 */
#include "iam/policy_text.h"

#include <jansson.h>
#include <string.h>

#include "iam/policy.h"

/* ---- positions ---------------------------------------------------------- */

struct cur {
    const char *s;
    size_t len, i;
    int line, col;   /* of the character before s[i] */
};

static bool at_end(const struct cur *c) { return c->i >= c->len; }

/* The position of the character at s[i]. */
static struct text_pos here(const struct cur *c) { return (struct text_pos){ c->line, c->col + 1 }; }

static void step(struct cur *c)
{
    unsigned char ch = (unsigned char)c->s[c->i++];
    if (ch == '\n') {
        c->line++;
        c->col = 0;
    } else if ((ch & 0xC0) != 0x80) {
        c->col++;
    }
}

static void skip_ws(struct cur *c)
{
    while (!at_end(c) && strchr(" \t\r\n", c->s[c->i]) && c->s[c->i]) step(c);
}

static bool skip_string(struct cur *c)
{
    if (at_end(c) || c->s[c->i] != '"') return false;
    step(c);
    while (!at_end(c)) {
        char ch = c->s[c->i];
        step(c);
        if (ch == '\\') {
            if (at_end(c)) return false;
            step(c);
        } else if (ch == '"') {
            return true;
        }
    }
    return false;
}

/* Skip one JSON value of any kind. */
static bool skip_value(struct cur *c)
{
    skip_ws(c);
    if (at_end(c)) return false;
    char ch = c->s[c->i];
    if (ch == '"') return skip_string(c);
    if (ch != '{' && ch != '[') {
        while (!at_end(c) && !strchr(",}] \t\r\n", c->s[c->i])) step(c);
        return true;
    }
    int depth = 0;
    while (!at_end(c)) {
        ch = c->s[c->i];
        if (ch == '"') {
            if (!skip_string(c)) return false;
            continue;
        }
        step(c);
        if (ch == '{' || ch == '[') depth++;
        else if ((ch == '}' || ch == ']') && --depth == 0) return true;
    }
    return false;
}

/* A statement object at the cursor: its span. */
static bool span_of(struct cur *c, struct stmt_span *sp)
{
    skip_ws(c);
    if (at_end(c) || c->s[c->i] != '{') return false;
    sp->start = here(c);
    if (!skip_value(c)) return false;
    sp->end = (struct text_pos){ c->line, c->col };
    return true;
}

static bool record(struct cur *c, struct stmt_span *out, size_t max, size_t *n)
{
    struct stmt_span sp;
    if (!span_of(c, &sp)) return false;
    if (*n < max) out[*n] = sp;
    (*n)++;
    return true;
}

/* The value of "Statement": one object or an array of them. */
static bool statements(struct cur *c, struct stmt_span *out, size_t max, size_t *n)
{
    skip_ws(c);
    if (at_end(c)) return false;
    if (c->s[c->i] == '{') return record(c, out, max, n);
    if (c->s[c->i] != '[') return false;
    step(c);
    for (;;) {
        if (!record(c, out, max, n)) return false;
        skip_ws(c);
        if (at_end(c)) return false;
        char ch = c->s[c->i];
        step(c);
        if (ch == ']') return true;
        if (ch != ',') return false;
    }
}

TR_RESULT policy_text_spans(const char *text, size_t len, struct stmt_span *out, size_t max,
                            size_t *n)
{
    struct cur c = { .s = text, .len = len, .line = 1 };
    bool found = false;
    *n = 0;
    skip_ws(&c);
    ENSURE(!at_end(&c) && c.s[c.i] == '{', TR_E_INTERNAL);
    step(&c);
    for (;;) {
        skip_ws(&c);
        ENSURE(!at_end(&c), TR_E_INTERNAL);
        if (c.s[c.i] == '}') break;
        size_t k = c.i;
        ENSURE(skip_string(&c), TR_E_INTERNAL);
        bool is_stmt = c.i - k == sizeof "\"Statement\"" - 1 &&
                       memcmp(c.s + k, "\"Statement\"", c.i - k) == 0;
        skip_ws(&c);
        ENSURE(!at_end(&c) && c.s[c.i] == ':', TR_E_INTERNAL);
        step(&c);
        if (is_stmt) {
            ENSURE(statements(&c, out, max, n), TR_E_INTERNAL);
            found = true;
        } else {
            ENSURE(skip_value(&c), TR_E_INTERNAL);
        }
        skip_ws(&c);
        ENSURE(!at_end(&c), TR_E_INTERNAL);
        if (c.s[c.i] == '}') break;
        ENSURE(c.s[c.i] == ',', TR_E_INTERNAL);
        step(&c);
    }
    ENSURE(found, TR_E_INTERNAL);
    return TR_OK;
}

/* ---- condition keys ------------------------------------------------------ */

typedef TR_RESULT (*key_fn)(void *arg, const char *key, size_t keylen);

/* The ${variables} of one string. */
static TR_RESULT string_vars(const char *s, key_fn fn, void *arg)
{
    for (const char *p = strstr(s, "${"); p; p = strstr(p, "${")) {
        p += 2;
        const char *end = strchr(p, '}');
        if (!end) break;
        size_t n = strcspn(p, ",}");
        while (n > 0 && p[n - 1] == ' ') n--;
        if (n > 1 || (n == 1 && !strchr("*?$", p[0]))) GUARD(fn(arg, p, n));
        p = end + 1;
    }
    return TR_OK;
}

/* Every string in v (a string or an array of them). */
static TR_RESULT value_vars(json_t *v, key_fn fn, void *arg)
{
    if (json_is_string(v)) return string_vars(json_string_value(v), fn, arg);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) if (json_is_string(e)) GUARD(string_vars(json_string_value(e), fn, arg));
    return TR_OK;
}

/* Whether a statement's Action or NotAction covers action. */
static bool covers(json_t *st, const char *action)
{
    json_t *a = json_object_get(st, "Action");
    bool not = false;
    if (!a) {
        a = json_object_get(st, "NotAction");
        not = true;
    }
    if (!a) return true;
    bool hit = false;
    if (json_is_string(a)) hit = policy_action_match(json_string_value(a), action);
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e) if (json_is_string(e) && policy_action_match(json_string_value(e), action)) hit = true;
    return hit != not;
}

static TR_RESULT statement_keys(json_t *st, bool vars, const char *action, key_fn fn, void *arg)
{
    if (!json_is_object(st) || (action && !covers(st, action))) return TR_OK;
    const char *k;
    json_t *v;
    json_object_foreach(st, k, v) {
        if (vars && (strcmp(k, "Resource") == 0 || strcmp(k, "NotResource") == 0)) GUARD(value_vars(v, fn, arg));
        if (strcmp(k, "Condition") != 0 || !json_is_object(v)) continue;
        const char *op;
        json_t *keys;
        json_object_foreach(v, op, keys) {
            const char *key;
            json_t *val;
            if (!json_is_object(keys)) continue;
            json_object_foreach(keys, key, val) {
                GUARD(fn(arg, key, strlen(key)));
                if (vars) GUARD(value_vars(val, fn, arg));
            }
        }
    }
    return TR_OK;
}

TR_RESULT policy_text_keys(const char *text, size_t len, const char *action, key_fn fn, void *arg)
{
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    ENSURE(doc != NULL, TR_E_INTERNAL);
    const char *ver = json_string_value(json_object_get(doc, "Version"));
    bool vars = ver && strcmp(ver, "2012-10-17") == 0;
    json_t *sts = json_object_get(doc, "Statement");
    tr_result r = TR_OK;
    if (json_is_array(sts)) {
        size_t i;
        json_t *st;
        json_array_foreach(sts, i, st) if (tr_ok(r)) r = statement_keys(st, vars, action, fn, arg);
    } else {
        r = statement_keys(sts, vars, action, fn, arg);
    }
    json_decref(doc);
    return r;
}
