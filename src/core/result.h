/*
 * result.h -- the result type every fallible function returns, the guard
 * macros that keep the happy path reading straight down, and the
 * invariant checks ALWAYS/NEVER.
 *
 * A tr_result carries one error code from errors.def (TR_OK is zero).  The
 * human-readable message that goes to the client, and the file:line that
 * goes to the log only, live in a per-thread "last error" slot set by
 * BAIL/tr_fail_at (errors.c).  The compiler refuses to let a caller drop a
 * TR_RESULT on the floor (warn_unused_result + -Werror).
 *
 *   GUARD(x)            propagate a failure of x unchanged
 *   ENSURE(c, code)     fail with code (no message) when c is false
 *   BAIL(code, fmt...)  fail with code and a client-visible message
 *   ENSURE_REF(p)       internal error when p is NULL
 *
 * Written for static analysers as much as for readers (clang's analyzer,
 * `make scan`): a failure is a result whose code the analyser can see is
 * not zero -- tr_fail_at records the error out of line and hands back the
 * code as a constant, never a value from an opaque call -- so on the path
 * where a callee failed, the caller's GUARD or tr_failed() test is known
 * to be taken, and the analyser does not walk on with the callee's
 * half-set outputs.  TR_OK is a const object rather than a compound
 * literal, so `tr_result r = TR_OK;` at the top of a function (the
 * one-exit style, docs/internals/RESULT.md) reads to the analyser as the
 * defensive constant initialization it is, like `int n = 0;`.
 */
#ifndef TR_RESULT_H
#define TR_RESULT_H

#include "core/errors.h"

typedef struct { int err_; } tr_result;
#define TR_RESULT __attribute__((warn_unused_result)) tr_result

static const tr_result tr_ok_value_ = { 0 };
#define TR_OK tr_ok_value_
#define tr_ok(r)     ((r).err_ == 0)
#define tr_failed(r) ((r).err_ != 0)
#define tr_code(r)   ((enum tr_err)(r).err_)

#define TR_LIKELY(x)   __builtin_expect(!!(x), 1)
#define TR_UNLIKELY(x) __builtin_expect(!!(x), 0)

#define GUARD(x) do { tr_result r_ = (x); if (TR_UNLIKELY(r_.err_ != 0)) return r_; } while (0)
#define BAIL(code, ...) return tr_fail_at(__FILE__, __LINE__, (code), __VA_ARGS__)
#define BAIL0(code) return tr_fail_at(__FILE__, __LINE__, (code), NULL)
#define ENSURE(cond, code) do { if (TR_UNLIKELY(!(cond))) BAIL0(code); } while (0)
#define ENSURE_REF(p) ENSURE((p) != NULL, TR_E_INTERNAL)

/* Record an error for this thread (code, file:line, and the message
 * formatted from fmt; TR_E_OK is recorded as TR_E_INTERNAL).  fmt may be
 * NULL: the error then carries no message member at all (AWS sends none
 * for InvalidCiphertextException).  Never pass secret bytes in fmt args. */
void tr_record_at(const char *file, int line, enum tr_err code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Its argument (a one-block function, which the analyser always follows),
 * for the compiler's unused-result check on the macros below. */
static inline __attribute__((always_inline, warn_unused_result)) tr_result tr_result_(tr_result r)
{
    return r;
}

/* Record an error for this thread and return it as a failed result (an
 * expression: r = tr_fail_at(...); goto fail;).  Its value is never
 * TR_OK, whatever code is, and is computed in the caller's own code
 * rather than in a call, so the analyser sees it at any call depth. */
#define tr_fail_at(file, line, code, ...) tr_result_(__extension__ ({ \
    enum tr_err c_ = (code); \
    tr_record_at((file), (line), c_, __VA_ARGS__); \
    (tr_result){ c_ != TR_E_OK ? (int)c_ : (int)TR_E_INTERNAL }; }))

/* The result of x, a call that only ever fails (a helper that builds an
 * error, in another file or beyond the analyser's call depth), known to
 * be a failure by every reader: `return TR_FAILURE(sq_fail(...));`.  A
 * helper that returned TR_OK after all would be a bug: NEVER catches it in
 * debug builds, and release builds report TR_E_INTERNAL. */
#define TR_FAILURE(x) tr_result_(__extension__ ({ \
    tr_result f_ = (x); \
    if (NEVER(f_.err_ == 0)) f_.err_ = (int)TR_E_INTERNAL; \
    f_; }))

/*
 * ALWAYS(x) and NEVER(x): invariants, in SQLite's manner.  Wrap the test
 * of a defensive branch -- one that no input can take, only a bug --
 * and keep the branch:
 *
 *     if (NEVER(b->len > b->cap)) BAIL0(TR_E_INTERNAL);
 *
 * In debug and sanitizer builds (TR_DEBUG: CONF=asan, wipecheck, the
 * fuzzers, `make scan`) a false ALWAYS or a true NEVER aborts with file,
 * line and the condition, so tests and fuzzers find the bug; the analyser
 * takes the invariant as given.  In release builds each evaluates to its
 * condition with a branch hint, and the defensive branch handles the
 * impossible case.  Under coverage (TR_COVERAGE) they are the constants
 * 1 and 0, so a branch no test can reach does not count as untested
 * (SQLite's SQLITE_COVERAGE_TEST).  x must have no side effects.
 */
#if defined(TR_COVERAGE)
#define ALWAYS(x) ((void)sizeof(x), 1)      /* x is compiled, not evaluated */
#define NEVER(x)  ((void)sizeof(x), 0)
#elif defined(TR_DEBUG)
#define ALWAYS(x) (TR_LIKELY(x) ? 1 : (tr_invariant_failed(__FILE__, __LINE__, #x), 0))
#define NEVER(x)  (TR_UNLIKELY(x) ? (tr_invariant_failed(__FILE__, __LINE__, "!(" #x ")"), 1) : 0)
#else
#define ALWAYS(x) TR_LIKELY(x)
#define NEVER(x)  TR_UNLIKELY(x)
#endif

/* Print "file:line: invariant failed: expr" on stderr and abort(). */
_Noreturn void tr_invariant_failed(const char *file, int line, const char *expr);

#endif
