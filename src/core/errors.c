/*
 * errors.c -- the error table and the per-thread last-error slot.
 *
 * BAIL sites record a code, a client-visible message (always well-formed
 * UTF-8, core/utf8.h) and file:line here.
 * The request coordinator reads it once to render the AWS error reply and
 * the log line, then clears it.
 */
#include "core/result.h"

#include <stdarg.h>
#include <stdio.h>

#include "core/utf8.h"

static const struct { const char *type; int status; } table[TR_E__COUNT] = {
    [TR_E_OK] = { "", 200 },
#define X(name, type, status) [name] = { type, status },
#include "core/errors.def"
#undef X
};

static _Thread_local struct tr_error_info last;

const char *tr_err_type(enum tr_err code)
{
    if ((int)code < 0 || code >= TR_E__COUNT) code = TR_E_INTERNAL;
    return table[code].type;
}

int tr_err_status(enum tr_err code)
{
    if ((int)code < 0 || code >= TR_E__COUNT) code = TR_E_INTERNAL;
    return table[code].status;
}

tr_result tr_fail_at(const char *file, int line, enum tr_err code,
                     const char *fmt, ...)
{
    last.code = code;
    last.file = file;
    last.line = line;
    last.has_message = fmt != NULL;
    last.message[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(last.message, sizeof last.message, fmt, ap);
        va_end(ap);
        /* Quoted values may be cut mid-character: replies carry UTF-8. */
        utf8_repair(last.message, sizeof last.message);
    }
    return (tr_result){ (int)code };
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
