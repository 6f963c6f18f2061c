/*
 * policy_text.h -- facts about a policy document read from its text, for
 * the explanations: where each statement is (line and column, as IAM's
 * policy simulator reports them), and which condition keys the document
 * reads.  The engine's compiled form keeps neither (it lowercases keys and
 * forgets positions); these read the text of a document that
 * policy_compile has accepted (policy_text.c).
 */
#ifndef TR_IAM_POLICY_TEXT_H
#define TR_IAM_POLICY_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/result.h"

/* A position in a document: line and column, both from 1; the column
 * counts characters (UTF-8 code points), not bytes. */
struct text_pos {
    int line;
    int column;
};

/* Where statement i of the document begins (its '{') and ends (its '}'). */
struct stmt_span {
    struct text_pos start, end;
};

/* The spans of the document's statements, in order, at most max of them
 * (*n is the number found, which may exceed max).  The document must be
 * JSON policy_compile accepted: an object whose "Statement" member is an
 * object (one statement) or an array of objects.  TR_E_INTERNAL when the
 * text is not of that shape (never for such a document). */
TR_RESULT policy_text_spans(const char *text, size_t len, struct stmt_span *out, size_t max,
                            size_t *n);

/* Call fn for each condition key the document reads, in the order of the
 * text, each time it appears and spelled as written: the keys of every
 * Condition block, and the policy variables ${key} of Resource,
 * NotResource and condition values when the Version is 2012-10-17 (not
 * ${*}, ${?} and ${$}; a default, ${key, 'x'}, is left out).  With
 * action non-NULL, only statements whose Action (or NotAction) covers it.
 * Fails only when the text is not JSON (TR_E_INTERNAL) or fn fails. */
TR_RESULT policy_text_keys(const char *text, size_t len, const char *action,
                           TR_RESULT (*fn)(void *arg, const char *key, size_t keylen), void *arg);

#endif
