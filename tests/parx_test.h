/* SPDX-License-Identifier: MIT */
/*
    parx_test.h -- a small TAP harness for parx's tests (header-only, C11).

    One test binary = one TAP stream (https://testanything.org, version 12/13,
    what meson's `protocol: 'tap'` reads):

        1..3                               the plan (first, or last via done_testing)
        ok 1 - deque push/pop is LIFO
        # tests/deque.c:42: CHECK_EQ(a, b) failed: a = 3, b = 4
        not ok 2 - deque steal is FIFO
        ok 3 - growth # SKIP needs 2 CPUs

    Use
    ===
        #include "parx_test.h"

        static void test_lifo(void)
        {
            CHECK(x != NULL);            // records a failure, prints file:line, goes on
            CHECK_EQ(a, b);              // integers; prints both values
            REQUIRE(p != NULL);          // like CHECK, but returns from the test on failure
            if (no_feature) { PT_SKIP("no io_uring here"); }   // marks it skipped, returns
        }

        int main(void)
        {
            pt_plan(2);                  // or leave it out and end with pt_done_testing()
            pt_run("push/pop is LIFO", test_lifo);
            pt_ok(1 + 1 == 2, "arithmetic");
            return pt_done_testing();    // 0 when every point passed or was skipped, else 1
        }

    When nothing can run here: `pt_skip_all("reason")` prints `1..0 # SKIP reason`
    and exits 0.

    Checks may be made from any thread (a task on a pool worker, for instance);
    a failure from another thread is charged to the test that is running. Test
    points themselves (pt_run, pt_ok, pt_skip) are emitted from one thread.

    Stress sizes: pt_scaled(base, floor) returns base * PARX_STRESS_SCALE
    (environment variable, a float, default 1.0), never less than `floor`
    (and never less than 1), so `PARX_STRESS_SCALE=0.01` shrinks a run for a
    sanitizer build and `PARX_STRESS_SCALE=10` makes it ten times larger.

    No feature-test macros are defined here; only C11 is used.
*/
#ifndef PARX_TEST_H_INCLUDED
#define PARX_TEST_H_INCLUDED

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Built with ThreadSanitizer? (gcc says so with a macro, clang with a feature) */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

/* ===== State (one TAP stream per process) ================================= */

static int pt__planned = -1;          /* -1: no plan printed yet */
static int pt__count;                 /* test points emitted */
static int pt__failed_points;         /* `not ok` points emitted */
static atomic_int pt__cur_failed;     /* failures in the running test (any thread) */
static int pt__cur_skipped;           /* the running test asked to be skipped */
static char pt__skip_reason[256];
static atomic_flag pt__print_lock = ATOMIC_FLAG_INIT;

/* Serialise output from several threads, so diagnostics never interleave. */
static inline void pt__lock(void)
{
    while (atomic_flag_test_and_set_explicit(&pt__print_lock, memory_order_acquire)) {
    }
}

static inline void pt__unlock(void)
{
    atomic_flag_clear_explicit(&pt__print_lock, memory_order_release);
}

/* ===== Diagnostics ======================================================== */

/* pt_diag: print one `# ...` line (printf format; a trailing newline is added;
   embedded newlines start new `# ` lines). Any thread. */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static inline void pt_diag(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    pt__lock();
    fputs("# ", stdout);
    for (const char *s = buf; *s; s++) {
        fputc(*s, stdout);
        if (*s == '\n' && s[1] != '\0')
            fputs("# ", stdout);
    }
    fputc('\n', stdout);
    fflush(stdout);
    pt__unlock();
}

/* pt__fail: record a failed check of the running test and say where. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline void pt__fail(const char *file, int line, const char *fmt, ...)
{
    char buf[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    atomic_fetch_add_explicit(&pt__cur_failed, 1, memory_order_relaxed);
    pt_diag("%s:%d: %s", file, line, buf);
}

/* pt__check: the body of CHECK and CHECK_MSG; returns ok. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static inline int pt__check(int ok, const char *file, int line, const char *fmt, ...)
{
    if (ok)
        return 1;
    char buf[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    pt__fail(file, line, "%s", buf);
    return 0;
}

/* ===== Checks (use inside a test function; any thread) ==================== */

/* Each evaluates to 1 when the check held, 0 when it failed, so a test can
   write `if (!CHECK(p)) return;`. Operands are evaluated once. */
#define CHECK(cond) pt__check(!!(cond), __FILE__, __LINE__, "CHECK(%s) failed", #cond)

/* CHECK_MSG(cond, fmt, ...): CHECK with a printf-style message of its own. */
#define CHECK_MSG(cond, ...) pt__check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* Signed integers (anything that fits in long long: int, ssize_t, errno codes). */
#define CHECK_EQ(a, b) pt__check_int(__FILE__, __LINE__, #a, #b, (long long)(a), (long long)(b), 0)
#define CHECK_NE(a, b) pt__check_int(__FILE__, __LINE__, #a, #b, (long long)(a), (long long)(b), 1)
/* Unsigned integers (size_t, uint64_t, pointers cast to uintptr_t). */
#define CHECK_EQ_U(a, b)                                                          \
    pt__check_uint(__FILE__, __LINE__, #a, #b, (unsigned long long)(a), (unsigned long long)(b))
/* Strings (NULL allowed). */
#define CHECK_STR_EQ(a, b) pt__check_str(__FILE__, __LINE__, #a, #b, (a), (b))
/* Doubles within an absolute tolerance. */
#define CHECK_NEAR(a, b, tol) pt__check_near(__FILE__, __LINE__, #a, #b, (a), (b), (tol))
/* Byte-for-byte equality of two objects of `size` bytes (bitwise-identical floats). */
#define CHECK_MEMEQ(a, b, size) pt__check_mem(__FILE__, __LINE__, #a, #b, (a), (b), (size))

/* REQUIRE: like CHECK, but leaves the (void) test function on failure. */
#define REQUIRE(cond)                                                             \
    do {                                                                          \
        if (!CHECK(cond))                                                         \
            return;                                                               \
    } while (0)

/* PT_SKIP: mark the running test skipped (printf format) and leave it. */
#define PT_SKIP(...)                                                              \
    do {                                                                          \
        pt__set_skip(__VA_ARGS__);                                                \
        return;                                                                   \
    } while (0)

static inline int pt__check_int(const char *file, int line, const char *sa, const char *sb,
                         long long a, long long b, int want_ne)
{
    if ((a != b) != want_ne) {
        pt__fail(file, line, "CHECK_%s(%s, %s) failed: %s = %lld, %s = %lld",
                 want_ne ? "NE" : "EQ", sa, sb, sa, a, sb, b);
        return 0;
    }
    return 1;
}

static inline int pt__check_uint(const char *file, int line, const char *sa, const char *sb,
                          unsigned long long a, unsigned long long b)
{
    if (a != b) {
        pt__fail(file, line, "CHECK_EQ_U(%s, %s) failed: %s = %llu (0x%llx), %s = %llu (0x%llx)",
                 sa, sb, sa, a, a, sb, b, b);
        return 0;
    }
    return 1;
}

static inline int pt__check_str(const char *file, int line, const char *sa, const char *sb,
                         const char *a, const char *b)
{
    if (a == b || (a && b && strcmp(a, b) == 0))
        return 1;
    pt__fail(file, line, "CHECK_STR_EQ(%s, %s) failed: %s = %s%s%s, %s = %s%s%s", sa, sb,
             sa, a ? "\"" : "", a ? a : "NULL", a ? "\"" : "",
             sb, b ? "\"" : "", b ? b : "NULL", b ? "\"" : "");
    return 0;
}

static inline int pt__check_near(const char *file, int line, const char *sa, const char *sb,
                          double a, double b, double tol)
{
    double d = a > b ? a - b : b - a;
    if (d <= tol) /* false for NaN too */
        return 1;
    pt__fail(file, line, "CHECK_NEAR(%s, %s) failed: %s = %.17g, %s = %.17g, |diff| = %.3g > %.3g",
             sa, sb, sa, a, sb, b, d, tol);
    return 0;
}

static inline int pt__check_mem(const char *file, int line, const char *sa, const char *sb,
                         const void *a, const void *b, size_t size)
{
    if (memcmp(a, b, size) == 0)
        return 1;
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    size_t i = 0;
    while (x[i] == y[i])
        i++;
    pt__fail(file, line, "CHECK_MEMEQ(%s, %s, %zu) failed: first difference at byte %zu "
             "(0x%02x vs 0x%02x)", sa, sb, size, i, x[i], y[i]);
    if (size == sizeof(double)) {
        double da, db;
        memcpy(&da, a, sizeof da);
        memcpy(&db, b, sizeof db);
        pt_diag("  as doubles: %.17g vs %.17g", da, db);
    }
    return 0;
}

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static inline void pt__set_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pt__skip_reason, sizeof pt__skip_reason, fmt, ap);
    va_end(ap);
    pt__cur_skipped = 1;
}

/* ===== Test points ======================================================== */

/* pt_plan: print `1..n` now. Call it before the first point, or not at all. */
static inline void pt_plan(int n)
{
    pt__lock();
    printf("1..%d\n", n);
    fflush(stdout);
    pt__unlock();
    pt__planned = n;
}

static inline void pt__emit(int passed, const char *name, const char *skip_reason)
{
    pt__lock();
    pt__count++;
    if (!passed)
        pt__failed_points++;
    printf("%sok %d - %s", passed ? "" : "not ", pt__count, name);
    if (skip_reason)
        printf(" # SKIP %s", skip_reason);
    putchar('\n');
    fflush(stdout);
    pt__unlock();
}

/* pt_ok: one test point from a condition. Returns cond != 0. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static inline int pt_ok(int cond, const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    pt__emit(cond != 0, name, NULL);
    return cond != 0;
}

/* pt_skip: one skipped test point, `ok N - name # SKIP reason`. */
static inline void pt_skip(const char *name, const char *reason)
{
    pt__emit(1, name, reason);
}

/* pt_run: run fn as one test point named `name`: `ok` if no check in it
   failed, `not ok` otherwise, `ok ... # SKIP` if it called PT_SKIP (after
   passing every check up to there). Returns 1 if it passed or was skipped. */
static inline int pt_run(const char *name, void (*fn)(void))
{
    atomic_store(&pt__cur_failed, 0);
    pt__cur_skipped = 0;
    pt__skip_reason[0] = '\0';
    fn();
    int failed = atomic_load(&pt__cur_failed) != 0;
    if (!failed && pt__cur_skipped)
        pt__emit(1, name, pt__skip_reason);
    else
        pt__emit(!failed, name, NULL);
    return !failed;
}

/* pt_skip_all: nothing can run here. Prints `1..0 # SKIP reason`, exits 0.
   Call it before any other output. */
static inline void pt_skip_all(const char *reason)
{
    printf("1..0 # SKIP %s\n", reason);
    fflush(stdout);
    exit(0);
}

/* pt_bail_out: stop the whole stream (`Bail out!`), exit 1. */
static inline void pt_bail_out(const char *reason)
{
    pt__lock();
    printf("Bail out! %s\n", reason);
    fflush(stdout);
    pt__unlock();
    exit(1);
}

/* pt_done_testing: print the plan if none was printed, say if the plan was
   not met, and return the exit status: 0 when every point passed or was
   skipped (and the plan, if any, was met), 1 otherwise. */
static inline int pt_done_testing(void)
{
    if (pt__planned < 0) {
        printf("1..%d\n", pt__count);
        fflush(stdout);
        pt__planned = pt__count;
    } else if (pt__planned != pt__count) {
        pt_diag("planned %d tests but ran %d", pt__planned, pt__count);
        return 1;
    }
    if (pt__failed_points)
        pt_diag("failed %d of %d tests", pt__failed_points, pt__count);
    return pt__failed_points ? 1 : 0;
}

/* ===== Stress knobs ======================================================= */

/* pt_scale: PARX_STRESS_SCALE as a double (default 1.0). A value that is not
   a finite number >= 0 is reported once and ignored. */
static inline double pt_scale(void)
{
    static double cached = -1.0;
    if (cached >= 0.0)
        return cached;
    double s = 1.0;
    const char *env = getenv("PARX_STRESS_SCALE");
    if (env && *env) {
        char *end = NULL;
        double v = strtod(env, &end);
        if (end != env && *end == '\0' && v >= 0.0 && v <= 1e9)
            s = v;
        else
            pt_diag("PARX_STRESS_SCALE=\"%s\" is not a number in [0, 1e9]; using 1.0", env);
    }
    cached = s;
    return s;
}

/* pt_scaled: base * pt_scale(), rounded, at least max(floor, 1). */
static inline size_t pt_scaled(size_t base, size_t floor)
{
    double v = (double)base * pt_scale() + 0.5;
    size_t n = v >= 1.8e19 ? SIZE_MAX : (size_t)v;
    if (floor < 1)
        floor = 1;
    return n < floor ? floor : n;
}

/* PARX_TEST_TIME_SCALE=K (a whole number, 1 to 100; else 1): how many
   times longer the tests' bounds must be, for runs under valgrind, which
   runs every process many times slower. */
static inline unsigned time_scale(void)
{
    const char *scale = getenv("PARX_TEST_TIME_SCALE");
    long k = scale ? strtol(scale, NULL, 10) : 1;
    return (unsigned)(k >= 1 && k <= 100 ? k : 1);
}

/* under_valgrind: 1 in a process valgrind runs (its preload is there). */
static inline int under_valgrind(void)
{
    const char *preload = getenv("LD_PRELOAD");
    return preload && strstr(preload, "vgpreload");
}

/* ===== /proc ================================================================ */

/* pt_read_file: up to size - 1 bytes of the file at path into buf, ended
   with a '\0'. Returns the bytes read, or -1 when it cannot be opened. */
static inline long pt_read_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (long)n;
}

/* pt_proc_state: the state letter of a process or thread, read from its
   /proc stat file ("/proc/<pid>/stat", "/proc/self/task/<tid>/stat"): 'R'
   running, 'S' asleep, 'T' stopped, 'Z' a zombie, ...; its parent's pid in
   *ppid when ppid is not NULL. 0 when the file cannot be read (gone). The
   name field may hold spaces and parentheses: the state follows its last
   ')'. */
static inline char pt_proc_state(const char *path, int *ppid)
{
    char buf[512];
    if (pt_read_file(path, buf, sizeof buf) < 0)
        return 0;
    const char *rp = strrchr(buf, ')');
    char state = 0;
    int pp = 0;
    if (!rp || sscanf(rp + 1, " %c %d", &state, &pp) != 2)
        return 0;
    if (ppid)
        *ppid = pp;
    return state;
}

#endif /* PARX_TEST_H_INCLUDED */
