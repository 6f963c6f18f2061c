/*
 * report_html.h -- the answers of who-can-decrypt and what-can-decrypt as
 * one self-contained HTML page (report_html.c; docs/WHO_CAN_DECRYPT.md,
 * "--format html").
 */
#ifndef TR_ANALYZE_REPORT_HTML_H
#define TR_ANALYZE_REPORT_HTML_H

#include <jansson.h>
#include <stdio.h>

#include "core/result.h"

/* The page up to its answers.  meta: what the page shows, as JSON --
 * "view" ("who-can-decrypt" or "what-can-decrypt"), and "account",
 * "region" (--all) or "principal", "type" (what-can-decrypt); written
 * into the page as data, like the answers. */
TR_RESULT az_html_begin(FILE *out, const json_t *meta);
/* One answer: a who-can-decrypt answer object (the --format json one),
 * or one secret of what-can-decrypt's "secrets"; as a JSON data block
 * and a noscript list.  Called once per answer, so --all and
 * what-can-decrypt stream. */
TR_RESULT az_html_answer(FILE *out, const json_t *answer);
/* The rest of the page; fails when anything written to out failed. */
TR_RESULT az_html_end(FILE *out);

/* The JSON text of v as it may stand inside a <script> element: compact,
 * ASCII only (U+2028 and U+2029, which end a JavaScript line, as \u
 * escapes), and '<', '>' and '&' as \u003c, \u003e, \u0026, so no string
 * can close the element ("</script>") or open a comment ("<!--").  The
 * same JSON value, parsed.  Returns a malloc'd string, NULL when out of
 * memory. */
char *az_html_json(const json_t *v);
/* s with &, <, >, " and ' as character references, to out. */
void az_html_text(FILE *out, const char *s);

#endif
