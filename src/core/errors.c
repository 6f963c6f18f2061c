/*
 * errors.c -- the error table and the per-thread last-error slot.
 *
 * BAIL sites record a code, a client-visible message (always well-formed
 * UTF-8, core/utf8.h) and file:line here (tr_record_at, through the
 * tr_fail_at macro of result.h).
 * The request coordinator reads it once to render the AWS error reply and
 * the log line, then clears it.
 */
#include "core/result.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/utf8.h"

static const struct {
    const char *type;
    int status;
    const char *qcode;
    int qstatus;
} table[TR_E__COUNT] = {
    [TR_E_OK] = { "", 200, "", 200 },
#define X(name, type, status, qcode, qstatus) [name] = { type, status, qcode, qstatus },
#include "core/errors.def"
#undef X
};

/* A code from a result is always one of the table's. */
static enum tr_err known(enum tr_err code)
{
    return NEVER((int)code < 0 || code >= TR_E__COUNT) ? TR_E_INTERNAL : code;
}

static _Thread_local struct tr_error_info last;

const char *tr_err_type(enum tr_err code) { return table[known(code)].type; }
int tr_err_status(enum tr_err code) { return table[known(code)].status; }
const char *tr_err_query_code(enum tr_err code) { return table[known(code)].qcode; }
int tr_err_query_status(enum tr_err code) { return table[known(code)].qstatus; }

void tr_record_at(const char *file, int line, enum tr_err code, const char *fmt, ...)
{
    last.code = code != TR_E_OK ? code : TR_E_INTERNAL;
    last.file = file;
    last.line = line;
    last.has_message = fmt != NULL;
    last.message[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(last.message, sizeof last.message, fmt, ap);  /* cut: a message, for people */
        va_end(ap);
        /* Quoted values may be cut mid-character: replies carry UTF-8. */
        utf8_repair(last.message, sizeof last.message);
    }
}

void tr_invariant_failed(const char *file, int line, const char *expr)
{
    fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, expr);
    fflush(stderr);
    abort();
}

const struct tr_error_info *tr_last_error(void) { return &last; }

void tr_clear_error(void)
{
    last.code = TR_E_OK;
    last.has_message = false;
    last.message[0] = '\0';
    last.file = NULL;
    last.line = 0;
}
