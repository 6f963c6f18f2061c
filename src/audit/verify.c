/*
 * verify.c -- `tresor audit verify`: the chain and the signatures of an
 * audit log, across its rotated files given in order (docs/internals/AUDIT.md).
 *
 * Each line must parse and carry seq (one more than the line before) and
 * prev (the hex SHA-256 of the line before, without its newline); each
 * checkpoint's signature must verify over the line without its
 * ,"sig":"<hex>" member; and the last line must be a checkpoint, else
 * the lines after the last one are covered by no signature.  The first
 * failure is reported with its file and line and why: a changed line (its
 * hash is not the next line's prev, or a checkpoint's signature fails), a
 * removed line (seq jumps ahead), an inserted or reordered one (seq goes
 * back or repeats), a cut last line, an unsigned tail.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/hex.h"
#include "crypto/ed25519.h"

#define SIG_SUFFIX ",\"sig\":\""

static bool check_sig(const char *line, size_t n, const char *pem, size_t pem_len)
{
    size_t tail = strlen(SIG_SUFFIX) + 2 * ED25519_SIG_LEN + 2;      /* ,"sig":"<hex>"} */
    if (n < tail + 2 || memcmp(line + n - tail, SIG_SUFFIX, strlen(SIG_SUFFIX)) != 0 ||
        memcmp(line + n - 2, "\"}", 2) != 0)
        return false;
    uint8_t sig[ED25519_SIG_LEN];
    if (!hex_decode(line + n - tail + strlen(SIG_SUFFIX), 2 * ED25519_SIG_LEN, sig)) return false;
    char *msg = malloc(n - tail + 2);
    if (!msg) return false;
    memcpy(msg, line, n - tail);
    msg[n - tail] = '}';
    bool ok = ed25519_verify_pem(pem, pem_len, msg, n - tail + 1, sig);
    free(msg);
    return ok;
}

int audit_verify(const char *const *files, size_t nfiles, const char *pem, size_t pem_len,
                 char *why, size_t why_len, uint64_t *lines_checked)
{
    char prev_hash[65] = "", last_cp[600] = "none", prev_at[600] = "";
    uint64_t expect = 0, total = 0;
    bool have_prev = false, last_is_cp = false;
    char *line = NULL;
    size_t cap = 0;
    int bad = 0;
    const char *file = NULL;
    unsigned long no = 0;

    for (size_t f = 0; f < nfiles && !bad; f++) {
        file = files[f];
        FILE *in = fopen(file, "re");
        if (!in) {
            snprintf(why, why_len, "%s: cannot open", file); /* cut: a message for people */
            bad = 1;
            break;
        }
        ssize_t got;
        no = 0;
        while (!bad && (got = getline(&line, &cap, in)) >= 0) {
            no++;
            total++;
            size_t n = (size_t)got;
            if (n == 0 || line[n - 1] != '\n') {
                snprintf(why, why_len, "%s:%lu: cut line: the file ends inside a line (truncated tail)", /* cut: */
                         file, no);
                bad = 1;
                break;
            }
            n--;
            json_error_t jerr;
            json_t *o = json_loadb(line, n, 0, &jerr);
            json_t *s = o ? json_object_get(o, "seq") : NULL, *p = o ? json_object_get(o, "prev") : NULL;
            const char *type = o ? json_string_value(json_object_get(o, "type")) : NULL;
            if (!json_is_integer(s) || !json_is_string(p) || json_string_length(p) != 64 || !type) {
                snprintf(why, why_len, "%s:%lu: changed: not an audit record", file, no); /* cut: */
                json_decref(o);
                bad = 1;
                break;
            }
            uint64_t seq = (uint64_t)json_integer_value(s);
            bool prev_ok = !have_prev || strcmp(json_string_value(p), prev_hash) == 0;
            bool is_cp = strcmp(type, "checkpoint") == 0;
            json_decref(o);
            if (have_prev && seq > expect) {
                /* cut: a message for people */
                snprintf(why, why_len, "%s:%lu: removed or reordered: seq %llu follows %llu, %llu line%s missing here",
                         file, no, (unsigned long long)seq, (unsigned long long)expect - 1,
                         (unsigned long long)(seq - expect), seq - expect == 1 ? "" : "s");
                bad = 1;
            } else if (have_prev && seq < expect) {
                snprintf(why, why_len, "%s:%lu: inserted or reordered: seq %llu after %llu", /* cut: */
                         file, no, (unsigned long long)seq, (unsigned long long)expect - 1);
                bad = 1;
            } else if (!prev_ok) {
                snprintf(why, why_len, "%s: changed: its SHA-256 is not the prev of the next line", /* cut: */
                         prev_at);
                bad = 1;
            } else if (is_cp && !check_sig(line, n, pem, pem_len)) {
                snprintf(why, why_len, "%s:%lu: changed: the checkpoint's signature does not verify", /* cut: */
                         file, no);
                bad = 1;
            }
            if (bad) break;
            uint8_t h[SHA256_LEN];
            if (tr_failed(sha256(line, n, h))) { snprintf(why, why_len, "sha256"); bad = 1; break; } /* cut: */
            hex_encode(h, sizeof h, prev_hash);
            have_prev = true;
            expect = seq + 1;
            last_is_cp = is_cp;
            snprintf(prev_at, sizeof prev_at, "%.500s:%lu", file, no); /* cut: a message for people */
            if (is_cp) snprintf(last_cp, sizeof last_cp, "%.500s:%lu", file, no); /* cut: likewise */
        }
        fclose(in);
    }
    free(line);
    if (!bad && !have_prev) {
        snprintf(why, why_len, "no audit line in the files given"); /* cut: a message for people */
        bad = 1;
    } else if (!bad && !last_is_cp) {
        snprintf(why, why_len, "%s: unsigned tail: no signed checkpoint after the last checkpoint (%s): " /* cut: */
                 "lines may have been cut off the end, or the server is running or did not stop cleanly",
                 prev_at, last_cp);
        bad = 1;
    }
    *lines_checked = total;
    return bad;
}
