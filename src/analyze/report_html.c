/*
 * report_html.c -- `who-can-decrypt --format html` and `what-can-decrypt
 * --format html`: one self-contained page (docs/WHO_CAN_DECRYPT.md,
 * "--format html").
 *
 * The page is the template src/analyze/report_html.html (compiled in as a
 * string: the Makefile generates report_html.inc from it) with the
 * answers where its line @ANSWERS@ is and a Content-Security-Policy
 * where its line @CSP@ is.  The answers are the --format json objects,
 * unchanged, each in a <script type="application/json"> block, followed
 * by a <noscript> list of its readers; the template's own script renders
 * them (filter box, conditional toggle, paths and evidence) with
 * createElement and textContent only.
 *
 * Names and policy text are the attacker's (a Sid of a key policy, a
 * name in a hand-made snapshot), so:
 *   - in a data block, the JSON is ASCII only, and '<', '>' and '&' are
 *     \u escapes (az_html_json): no string can close the element
 *     ("</script>"), open a comment ("<!--"), or end a JavaScript line
 *     (U+2028/U+2029, escaped by JSON_ENSURE_ASCII);
 *   - in the noscript lists, text has &, <, >, " and ' as character
 *     references (az_html_text);
 *   - the policy (a meta element) allows nothing to load from anywhere
 *     (default-src 'none') and runs only the template's own script and
 *     style, named by their SHA-256 hashes: were an escape ever missed, a
 *     smuggled script would not run.
 * Nothing is fetched: no external script, style, font or image, so the
 * page opens offline.  Memory: one answer at a time.
 */
#include "analyze/report_html.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "core/buf.h"
#include "crypto/hash.h"

static const char page_template[] =
#include "analyze/report_html.inc"
    ;

#define MARK_CSP "\n@CSP@\n"
#define MARK_ANSWERS "\n@ANSWERS@\n"

char *az_html_json(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (!s) return NULL;
    size_t n = 0, extra = 0;
    for (; s[n]; n++) extra += (s[n] == '<' || s[n] == '>' || s[n] == '&') ? 5 : 0;
    if (extra == 0) return s;
    char *o = malloc(n + extra + 1);
    size_t at = 0;
    for (size_t i = 0; o && i < n; i++) {
        /* Outside strings JSON has none of these; inside one, \u003c is
         * the same character. */
        const char *esc = s[i] == '<' ? "\\u003c" : s[i] == '>' ? "\\u003e" : s[i] == '&' ? "\\u0026" : NULL;
        if (esc) {
            memcpy(o + at, esc, 6);
            at += 6;
        } else {
            o[at++] = s[i];
        }
    }
    if (o) o[at] = '\0';
    free(s);
    return o;
}

void az_html_text(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: putc(*s, out); break;
        }
    }
}

/* The text between `open` and the next `close` after it in the template
 * (the first `open`): what a CSP hash covers. */
static TR_RESULT template_part(const char *open, const char *close, const char **p, size_t *n)
{
    const char *a = strstr(page_template, open);
    ENSURE(a, TR_E_INTERNAL);
    a += strlen(open);
    const char *b = strstr(a, close);
    ENSURE(b, TR_E_INTERNAL);
    *p = a;
    *n = (size_t)(b - a);
    return TR_OK;
}

/* "'sha256-<base64>'" of [p, p + n), appended to csp. */
static TR_RESULT csp_hash(const char *p, size_t n, struct buf *csp)
{
    uint8_t h[SHA256_LEN];
    GUARD(sha256(p, n, h));
    GUARD(buf_append_str(csp, "'sha256-"));
    GUARD(b64_encode(h, sizeof h, csp));
    GUARD(buf_append_str(csp, "'"));
    return TR_OK;
}

/* The page's policy: nothing from anywhere, only its own script and
 * style (by hash), no <base>, no form posts. */
static TR_RESULT page_csp(struct buf *csp)
{
    const char *p;
    size_t n;
    GUARD(buf_append_str(csp, "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                              "script-src "));
    GUARD(template_part("\n<script>", "</script>", &p, &n));
    GUARD(csp_hash(p, n, csp));
    GUARD(buf_append_str(csp, "; style-src "));
    GUARD(template_part("\n<style>", "</style>", &p, &n));
    GUARD(csp_hash(p, n, csp));
    GUARD(buf_append_str(csp, "; base-uri 'none'; form-action 'none'\">"));
    return TR_OK;
}

/* A JSON data block: <script type="application/json" ATTR>JSON</script>. */
static TR_RESULT data_block(FILE *out, const char *attr, const json_t *v)
{
    char *s = az_html_json(v);
    ENSURE(s, TR_E_INTERNAL);
    fprintf(out, "<script type=\"application/json\" %s>%s</script>\n", attr, s);
    free(s);
    return TR_OK;
}

TR_RESULT az_html_begin(FILE *out, const json_t *meta)
{
    struct buf csp = BUF_INIT(4096);
    tr_result r = TR_OK;
    const char *m1 = strstr(page_template, MARK_CSP), *m2 = strstr(page_template, MARK_ANSWERS);
    if (!m1 || !m2 || m2 < m1) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        goto fail;
    }
    r = page_csp(&csp);
    if (tr_failed(r)) goto fail;
    fwrite(page_template, 1, (size_t)(m1 - page_template) + 1, out);     /* up to the newline */
    fwrite(csp.data, 1, csp.len, out);
    m1 += strlen(MARK_CSP) - 1;                                          /* from its newline */
    fwrite(m1, 1, (size_t)(m2 - m1) + 1, out);
    r = data_block(out, "id=\"tresor-page\"", meta);
fail:
    buf_free(&csp);
    return r;
}

/* The access of a reader in words, from its path: "direct", "via role A
 * -> B" (role names). */
static void access_text(FILE *out, const json_t *path)
{
    size_t i, k = 0;
    json_t *st;
    json_array_foreach(path, i, st) {
        const char *step = json_string_value(json_object_get(st, "step"));
        const char *role = json_string_value(json_object_get(st, "role"));
        if (!step || strcmp(step, "sts:AssumeRole") != 0 || !role) continue;
        const char *name = strrchr(role, '/');
        fputs(k++ ? " -> " : "via role ", out);
        az_html_text(out, name ? name + 1 : role);
    }
    if (k == 0) fputs("direct", out);
}

/* "ACCESS, key: SOURCE[, conditional]" */
static void reader_tail(FILE *out, const json_t *x)
{
    fputs(" &mdash; ", out);
    access_text(out, json_object_get(x, "path"));
    fputs(", key: ", out);
    az_html_text(out, json_string_value(json_object_get(x, "keyPermission")));
    if (json_is_true(json_object_get(x, "conditional"))) fputs(", conditional (allowed only if conditions hold)", out);
}

/* The page without its script: the readers of one answer, or one secret
 * of what-can-decrypt, as plain HTML. */
static void noscript(FILE *out, const json_t *a)
{
    const json_t *readers = json_object_get(a, "principals");
    const json_t *s = json_object_get(a, "secret");
    fputs("<noscript>", out);
    if (!readers) {     /* one secret a principal can read */
        fputs("<p><code>", out);
        az_html_text(out, json_string_value(json_object_get(s, "arn")));
        fputs("</code>", out);
        reader_tail(out, a);
        fputs("</p></noscript>\n", out);
        return;
    }
    fputs("<section class=\"secret\"><h2>Secret ", out);
    az_html_text(out, json_string_value(json_object_get(s, "name")));
    fputs("</h2><p><code>", out);
    az_html_text(out, json_string_value(json_object_get(s, "arn")));
    fputs("</code><br>key: <code>", out);
    const char *key = json_string_value(json_object_get(s, "keyArn"));
    az_html_text(out, key ? key : "-");
    fputs("</code></p><p>", out);
    az_html_text(out, json_array_size(readers) ? "Readers:" : "Nobody can decrypt it.");
    fputs("</p><ul>", out);
    size_t i;
    json_t *x;
    json_array_foreach(readers, i, x) {
        fputs("<li><code>", out);
        az_html_text(out, json_string_value(json_object_get(x, "principal")));
        fputs("</code>", out);
        reader_tail(out, x);
        fputs("</li>", out);
    }
    fputs("</ul></section></noscript>\n", out);
}

TR_RESULT az_html_answer(FILE *out, const json_t *answer)
{
    ENSURE_REF(answer);
    GUARD(data_block(out, "class=\"tresor-answer\"", answer));
    noscript(out, answer);
    return TR_OK;
}

TR_RESULT az_html_end(FILE *out)
{
    const char *m = strstr(page_template, MARK_ANSWERS);
    ENSURE(m, TR_E_INTERNAL);
    fputs(m + strlen(MARK_ANSWERS), out);
    ENSURE(fflush(out) == 0 && !ferror(out), TR_E_INTERNAL);
    return TR_OK;
}
