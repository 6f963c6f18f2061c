/*
 * authz_trace.c -- a record of every authorization, for the tests that
 * hold the code to its table (src/iam/authz_table.def).
 *
 * `tresor serve` with TRESOR_AUTHZ_TRACE=FILE appends one JSON object per
 * decision to FILE, as iam_authorize is about to ask the engine:
 *
 *   {"action": "kms:Decrypt", "resource": "<ARN or *>",
 *    "resource_account": "111122223333", "principal": "User",
 *    "temporary": false, "via": "secretsmanager.us-east-1.amazonaws.com",
 *    "what_if": false,
 *    "keys": [["aws:PrincipalArn", ""], ["kms:EncryptionContextKeys", "m"], ...]}
 *
 * principal is aws:PrincipalType's value; temporary whether the caller
 * signed with temporary credentials; via the service calling for the
 * caller, or null; what_if true for a lockout check's hypothetical
 * decision (authz_req.what_if); each key comes with its flags: m multi-valued, i seen
 * by IAM policies only, u unknown (the analyzer).  Names only, never a
 * value: nothing a condition compares is written down.
 *
 * tests/e2e/test_authz_table.py drives every served operation against such
 * a server and compares the record with the table.  Without the variable
 * nothing is observed and the request path pays one pointer test per
 * decision (iam_authorize).
 */
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "iam/authz.h"

static int trace_fd = -1;

static const char *principal_type(int t)
{
    return t == PRINCIPAL_ROOT ? "Account" : t == PRINCIPAL_ROLE_SESSION ? "AssumedRole" : "User";
}

static void trace_one(const struct req_ctx *rc, const struct authz_req *ar,
                      const struct ctx_entry *ctx, size_t n)
{
    json_t *keys = json_array();
    bool ok = keys != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        char flags[4];
        size_t f = 0;
        if (ctx[i].multi) flags[f++] = 'm';
        if (ctx[i].identity_only) flags[f++] = 'i';
        if (ctx[i].unknown) flags[f++] = 'u';
        flags[f] = '\0';
        ok = json_array_append_new(keys, json_pack("[ss]", ctx[i].key, flags)) == 0;
    }
    bool temporary = rc->identity && rc->identity->token_issued != 0;
    json_t *rec = ok ? json_pack("{s:s, s:s, s:s?, s:s, s:b, s:s?, s:b, s:o}", "action", ar->action,
                                 "resource", ar->resource,
                                 "resource_account", ar->resource_account,
                                 "principal", principal_type(rc->who.type),
                                 "temporary", temporary, "via", rc->via_service,
                                 "what_if", ar->what_if, "keys", keys)
                     : NULL;
    if (!rec) json_decref(keys);
    char *line = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    if (!line) {
        log_msg("error", "TRESOR_AUTHZ_TRACE: a record could not be formatted");
        return;
    }
    size_t len = strlen(line);
    line[len] = '\n';                   /* over the NUL: one write, one line */
    ssize_t w = write(trace_fd, line, len + 1);
    if (w != (ssize_t)(len + 1)) log_msg("error", "TRESOR_AUTHZ_TRACE: a record was not written");
    free(line);
}

TR_RESULT iam_authz_trace_open(const char *path)
{
    ENSURE_REF(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) BAIL(TR_E_INTERNAL, "cannot open %.256s", path);
    if (trace_fd >= 0) close(trace_fd);
    trace_fd = fd;
    iam_authz_observe(trace_one);
    log_msg("warn", "TRESOR_AUTHZ_TRACE: every authorization is recorded in %s (tests only)", path);
    return TR_OK;
}
