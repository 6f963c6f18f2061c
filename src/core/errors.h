/*
 * errors.h -- error codes (from errors.def) and the per-thread last error.
 */
#ifndef TR_ERRORS_H
#define TR_ERRORS_H

#include <stdbool.h>

enum tr_err {
    TR_E_OK = 0,
#define X(name, type, status, qcode, qstatus) name,
#include "core/errors.def"
#undef X
    TR_E__COUNT
};

/* Room for AWS's longest messages whole: an AccessDenied names the caller's
 * ARN (up to 606 characters, op/op.h) and the resource as given (a
 * SecretId or RoleArn: up to 2048). */
#define TR_ERR_MSG_MAX 4096

struct tr_error_info {
    enum tr_err code;
    bool has_message;              /* false: reply carries no message member */
    char message[TR_ERR_MSG_MAX];  /* client-visible text */
    const char *file;              /* for the log only, never the client */
    int line;
};

/* The awsJson __type and HTTP status of a code. */
const char *tr_err_type(enum tr_err code);
int tr_err_status(enum tr_err code);
/* The query protocol's Code and HTTP status of a code (IAM, STS). */
const char *tr_err_query_code(enum tr_err code);
int tr_err_query_status(enum tr_err code);

/* This thread's last error (valid until the next tr_fail_at). */
const struct tr_error_info *tr_last_error(void);
void tr_clear_error(void);

#endif
