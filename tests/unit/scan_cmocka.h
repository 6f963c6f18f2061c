/*
 * scan_cmocka.h -- cmocka's assertions as clang's static analyzer can
 * read them, for `make scan` only (the Makefile force-includes this file
 * into the unit tests of CONF=scan; nothing else sees it).
 *
 * Why: cmocka's assert_* macros call functions (_assert_true,
 * _assert_int_equal, ...) that return when the assertion holds and
 * longjmp out of the test when it fails, and fail()/fail_msg() never
 * return; none of them says so in a way the analyzer understands.  It
 * therefore walks on past every failed assertion -- past an
 * assert_non_null(p) with p NULL -- and reports what would follow, once
 * for each such line: false paths, all of them.  Under the analyzer only,
 * each assertion becomes the standard assert() of the same condition
 * (whose failure path ends in the noreturn __assert_fail), so a test's
 * assertions are what they are everywhere else: the condition holds from
 * there on.  The compiler never sees this: __clang_analyzer__ is defined
 * only for the analyzer's own pass.
 */
#ifndef TR_SCAN_CMOCKA_H
#define TR_SCAN_CMOCKA_H
#ifdef __clang_analyzer__

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#undef NDEBUG
#include <assert.h>

#undef assert_true
#define assert_true(c) assert(c)
#undef assert_false
#define assert_false(c) assert(!(c))
#undef assert_non_null
#define assert_non_null(c) assert((c) != NULL)
#undef assert_null
#define assert_null(c) assert((c) == NULL)
#undef assert_int_equal
#define assert_int_equal(a, b) assert((a) == (b))
#undef assert_int_not_equal
#define assert_int_not_equal(a, b) assert((a) != (b))
#undef assert_ptr_equal
#define assert_ptr_equal(a, b) assert((const void *)(a) == (const void *)(b))
#undef assert_ptr_not_equal
#define assert_ptr_not_equal(a, b) assert((const void *)(a) != (const void *)(b))
#undef assert_string_equal
#define assert_string_equal(a, b) assert(strcmp((a), (b)) == 0)
#undef assert_string_not_equal
#define assert_string_not_equal(a, b) assert(strcmp((a), (b)) != 0)
#undef assert_memory_equal
#define assert_memory_equal(a, b, n) assert(memcmp((a), (b), (n)) == 0)
#undef assert_memory_not_equal
#define assert_memory_not_equal(a, b, n) assert(memcmp((a), (b), (n)) != 0)
#undef assert_in_range
#define assert_in_range(v, lo, hi) assert((v) >= (lo) && (v) <= (hi))
#undef fail
#define fail() abort()
#undef fail_msg
#define fail_msg(...) abort()

#endif
#endif
