/*
 * test_text.h -- two helpers many unit tests share: q, policy text
 * written with single quotes made JSON (each ' becomes "), in one of
 * eight rotating buffers so a call can nest a few; and ok, which fails
 * the test with the error's type and message.  Include after cmocka.h;
 * both are static and may go unused.
 */
#ifndef TR_TEST_TEXT_H
#define TR_TEST_TEXT_H

#include <stdio.h>

#include "core/errors.h"

/* s with every ' made ", in one of eight rotating buffers. */
static __attribute__((unused)) char *q(const char *s)
{
    static char bufs[8][8192];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s", s);
    for (char *p = b; *p; p++)
        if (*p == '\'') *p = '"';
    return b;
}

static __attribute__((unused)) void ok(tr_result r)
{
    if (tr_failed(r))
        fail_msg("failed: %s: %s", tr_err_type(tr_code(r)),
                 tr_last_error()->has_message ? tr_last_error()->message : "(no message)");
}

#endif
