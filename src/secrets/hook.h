/*
 * hook.h -- run one rotation hook: the executable that stands in for a
 * rotation Lambda function (`tresor serve --rotation-hooks DIR`; the
 * interface: docs/ROTATION.md).
 *
 * A hook is DIR/NAME, where NAME is the function name of the ARN
 * arn:aws:lambda:REGION:ACCOUNT:function:NAME.  It is started with
 * posix_spawn -- no shell, a clean environment given whole by the caller,
 * standard input a socket carrying the event, standard output discarded,
 * standard error captured (capped) -- in a process group of its own, so
 * that at its time limit the whole group is killed.  The child is always
 * reaped before sm_hook_run returns.
 */
#ifndef TR_SECRETS_HOOK_H
#define TR_SECRETS_HOOK_H

#include <stdbool.h>
#include <stddef.h>

#include "core/result.h"

#define SM_HOOK_NAME_MAX   64        /* a Lambda function name: 1..64 of [A-Za-z0-9_-] */
#define SM_HOOK_STDERR_MAX 4096      /* the bytes of standard error kept; the rest is counted */

struct sm_hook_result {
    int exit_code;              /* the exit status; -1 when killed by a signal or timed out */
    int signal;                 /* the signal that ended it, else 0 */
    bool timed_out;             /* killed at the time limit */
    char err[SM_HOOK_STDERR_MAX + 1];   /* standard error, NUL-terminated, cut at the cap */
    size_t err_total;           /* bytes it wrote to standard error in all */
};

/* Is name a Lambda function name (1..64 of [A-Za-z0-9_-])?  Only such a
 * name reaches the file system: no '/', no "..". */
bool sm_hook_name_ok(const char *name);

/* The function name of a Lambda function ARN
 * (arn:aws:lambda:REGION:ACCOUNT:function:NAME, optionally :QUALIFIER)
 * into name (SM_HOOK_NAME_MAX + 1 bytes), and its region and account
 * (64 and 13 bytes).  false when arn is not one. */
bool sm_hook_parse_arn(const char *arn, char *name, char *region, char *account);

/* Run dir/name with argv {path, NULL} and exactly the environment envp
 * (NULL-terminated "K=V" strings), writing `event` (len bytes) to its
 * standard input, for at most timeout_ms milliseconds.  TR_OK means the
 * hook ran and *out says how it ended (exit_code 0: success);
 * TR_E_INTERNAL when it could not be started (missing, not executable:
 * the caller checks with sm_hook_exists first). */
TR_RESULT sm_hook_run(const char *dir, const char *name, const char *event, size_t len,
                      char *const envp[], unsigned timeout_ms, struct sm_hook_result *out);

/* Is dir/name a regular file this process may execute? */
bool sm_hook_exists(const char *dir, const char *name);

#endif
