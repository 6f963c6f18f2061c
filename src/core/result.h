/*
 * result.h -- the result type every fallible function returns, and the
 * guard macros that keep the happy path reading straight down.
 *
 * A tr_result carries one error code from errors.def (TR_OK is zero).  The
 * human-readable message that goes to the client, and the file:line that
 * goes to the log only, live in a per-thread "last error" slot set by
 * BAIL/tr_fail (errors.c).  The compiler refuses to let a caller drop a
 * TR_RESULT on the floor (warn_unused_result + -Werror).
 *
 *   GUARD(x)            propagate a failure of x unchanged
 *   ENSURE(c, code)     fail with code (no message) when c is false
 *   BAIL(code, fmt...)  fail with code and a client-visible message
 *   ENSURE_REF(p)       internal error when p is NULL
 */
#ifndef TR_RESULT_H
#define TR_RESULT_H

#include "core/errors.h"

typedef struct { int err_; } tr_result;
#define TR_RESULT __attribute__((warn_unused_result)) tr_result

#define TR_OK ((tr_result){ 0 })
#define tr_ok(r)     ((r).err_ == 0)
#define tr_failed(r) ((r).err_ != 0)
#define tr_code(r)   ((enum tr_err)(r).err_)

#define GUARD(x) do { tr_result r_ = (x); if (r_.err_) return r_; } while (0)
#define BAIL(code, ...) return tr_fail_at(__FILE__, __LINE__, (code), __VA_ARGS__)
#define BAIL0(code) return tr_fail_at(__FILE__, __LINE__, (code), NULL)
#define ENSURE(cond, code) do { if (!(cond)) BAIL0(code); } while (0)
#define ENSURE_REF(p) ENSURE((p) != NULL, TR_E_INTERNAL)

/* Record an error for this thread and return it as a result.  fmt may be
 * NULL: the error then carries no message member at all (AWS sends none
 * for InvalidCiphertextException).  Never pass secret bytes in fmt args. */
tr_result tr_fail_at(const char *file, int line, enum tr_err code,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5), warn_unused_result));

#endif
