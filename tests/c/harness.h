/*
 * A tiny test harness for the wsmachine C tests.
 *
 * A test is a function `static void test_name(void)`. CHECK* macros record a failed check
 * (file, line, what) and carry on; a test fails when any of its checks failed. REQUIRE*
 * return from the test at once. The runner prints one line per failed check and test and
 * ends with the line "N passed, M failed" (tests, not checks).
 */
#ifndef WSM_TEST_HARNESS_H
#define WSM_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "wsmachine.h"

typedef void (*test_fn)(void);

/* Runs one test (skipped when a filter is set and `name` does not contain it). */
void t_run(const char *name, test_fn fn);
/* Records a failed check in the current test. */
void t_fail(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Failed checks in the current test so far. */
int t_current_failures(void);

#define RUN(fn) t_run(#fn, fn)

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) t_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                      \
    } while (0)

#define CHECK_EQ(a, b)                                                                    \
    do {                                                                                  \
        unsigned long long t_a_ = (unsigned long long)(a);                                \
        unsigned long long t_b_ = (unsigned long long)(b);                                \
        if (t_a_ != t_b_)                                                                 \
            t_fail(__FILE__, __LINE__, "%s == %s: %llu != %llu", #a, #b, t_a_, t_b_);     \
    } while (0)

/* A wsm_result compared with the expected one, with both names printed. */
#define CHECK_RES(expr, expected)                                                         \
    do {                                                                                  \
        unsigned t_r_ = (unsigned)(expr);                                                 \
        unsigned t_e_ = (unsigned)(expected);                                             \
        if (t_r_ != t_e_)                                                                 \
            t_fail(__FILE__, __LINE__, "%s -> %u (%s), expected %s", #expr, t_r_,         \
                   wsm_result_str(t_r_), #expected);                                      \
    } while (0)

#define CHECK_OK(expr) CHECK_RES(expr, WSM_OK)

/* `n` bytes at `p` equal `n` bytes at `q`. */
#define CHECK_MEM(p, q, n)                                                                \
    do {                                                                                  \
        size_t t_n_ = (size_t)(n);                                                        \
        if (memcmp((p), (q), t_n_) != 0)                                                  \
            t_fail(__FILE__, __LINE__, "%s and %s differ in their first %zu bytes", #p,   \
                   #q, t_n_);                                                             \
    } while (0)

/* Pointer + length equals the C string `s` exactly. */
#define CHECK_BYTES_STR(ptr, len, s)                                                      \
    do {                                                                                  \
        const char *t_s_ = (s);                                                           \
        size_t t_l_ = (size_t)(len);                                                      \
        const void *t_p_ = (const void *)(ptr);                                           \
        if (t_l_ != strlen(t_s_) || (t_l_ != 0 && (t_p_ == NULL ||                        \
                                                   memcmp(t_p_, t_s_, t_l_) != 0)))       \
            t_fail(__FILE__, __LINE__, "%s[%zu] != \"%s\" (got \"%.*s\")", #ptr, t_l_,    \
                   t_s_, t_p_ ? (int)(t_l_ > 200 ? 200 : t_l_) : 0,                       \
                   t_p_ ? (const char *)t_p_ : "");                                       \
    } while (0)

/* A wsm_str equals the C string `s`. */
#define CHECK_WSTR(ws, s) CHECK_BYTES_STR((ws).ptr, (ws).len, s)

/* The buffer [p, p+n) contains the C string `s`. */
#define CHECK_CONTAINS(p, n, s)                                                           \
    do {                                                                                  \
        if (!t_contains((const void *)(p), (size_t)(n), (s)))                             \
            t_fail(__FILE__, __LINE__, "%s does not contain \"%s\"", #p, (s));            \
    } while (0)

#define REQUIRE(cond)                                                                     \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            t_fail(__FILE__, __LINE__, "REQUIRE(%s)", #cond);                             \
            return;                                                                       \
        }                                                                                 \
    } while (0)

#define REQUIRE_OK(expr)                                                                  \
    do {                                                                                  \
        unsigned t_r_ = (unsigned)(expr);                                                 \
        if (t_r_ != 0) {                                                                  \
            t_fail(__FILE__, __LINE__, "%s -> %u (%s), expected WSM_OK", #expr, t_r_,     \
                   wsm_result_str(t_r_));                                                 \
            return;                                                                       \
        }                                                                                 \
    } while (0)

int t_contains(const void *hay, size_t n, const char *needle);

#endif
