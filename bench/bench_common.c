/* SPDX-License-Identifier: MIT */
/*
    bench/bench_common.c -- the code every benchmark program shares (see bench.h).

    Compiled once, with the C compiler and the same flags as everything else,
    and linked into every program, so the busy-work loop, the inputs and the
    sequential baselines are the same machine code for every runtime.
*/
#define _POSIX_C_SOURCE 200809L

#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ===== command line ===================================================== */

static const char *bench__find(int argc, char **argv, const char *key)
{
    size_t len = strlen(key);
    for (int i = 2; i < argc; i++)
        if (strncmp(argv[i], key, len) == 0 && argv[i][len] == '=')
            return argv[i] + len + 1;
    return NULL;
}

long bench_arg_long(int argc, char **argv, const char *key, long def)
{
    const char *v = bench__find(argc, argv, key);
    /* strtod so that "1e8" works; every count we take fits a double exactly. */
    return v ? (long)strtod(v, NULL) : def;
}

double bench_arg_double(int argc, char **argv, const char *key, double def)
{
    const char *v = bench__find(argc, argv, key);
    return v ? strtod(v, NULL) : def;
}

const char *bench_arg_str(int argc, char **argv, const char *key, const char *def)
{
    const char *v = bench__find(argc, argv, key);
    return v ? v : def;
}

const char *bench_size_name(size_t n, char *buf, size_t size)
{
    size_t p = 1;
    int e = 0;
    while (p < n && e < 19) {
        p *= 10;
        e++;
    }
    if (p == n)
        snprintf(buf, size, "1e%d", e);
    else
        snprintf(buf, size, "%zu", n);
    return buf;
}

void bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* ===== clocks ============================================================ */

static uint64_t bench__clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_now_ns(void)
{
    return bench__clock(CLOCK_MONOTONIC);
}
uint64_t bench_cpu_ns(void)
{
    return bench__clock(CLOCK_PROCESS_CPUTIME_ID);
}

void bench_sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ===== repetitions ======================================================= */

void bench_reps_init(bench_reps *r, int reps, double max_secs)
{
    memset(r, 0, sizeof *r);
    r->want = reps < 1 ? 1 : reps > BENCH_MAX_REPS ? BENCH_MAX_REPS : reps;
    r->max_secs = max_secs;
}

int bench_reps_more(const bench_reps *r)
{
    if (r->n >= r->want)
        return 0;
    if (r->n < 3)
        return 1;
    return r->total < r->max_secs;
}

bench_mark bench_mark_now(void)
{
    bench_mark m;
    m.cpu_ns = bench_cpu_ns();
    m.wall_ns = bench_now_ns();
    return m;
}

void bench_reps_add_since(bench_reps *r, bench_mark m)
{
    uint64_t wall = bench_now_ns(), cpu = bench_cpu_ns();
    r->cpu_total += (double)(cpu - m.cpu_ns) * 1e-9;
    bench_reps_add(r, (double)(wall - m.wall_ns) * 1e-9);
}

void bench_reps_add(bench_reps *r, double seconds)
{
    if (r->n < BENCH_MAX_REPS)
        r->v[r->n++] = seconds;
    r->total += seconds;
}

double bench_reps_min(const bench_reps *r)
{
    double m = r->n ? r->v[0] : 0.0;
    for (int i = 1; i < r->n; i++)
        if (r->v[i] < m)
            m = r->v[i];
    return m;
}

static int bench__cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_reps_median(const bench_reps *r)
{
    double s[BENCH_MAX_REPS];
    if (r->n == 0)
        return 0.0;
    memcpy(s, r->v, (size_t)r->n * sizeof s[0]);
    qsort(s, (size_t)r->n, sizeof s[0], bench__cmp_double);
    return r->n % 2 ? s[r->n / 2] : 0.5 * (s[r->n / 2 - 1] + s[r->n / 2]);
}

/* ===== output ============================================================ */

void bench_emit_str(const char *bench, const char *impl, const char *variant, const char *cas,
                    int threads, const char *metric, const char *value)
{
    printf("RES\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", bench, impl, variant, cas, threads, metric, value);
    fflush(stdout); /* a later crash or timeout must not lose finished results */
}

void bench_emit(const char *bench, const char *impl, const char *variant, const char *cas,
                int threads, const char *metric, double value)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.6g", value);
    bench_emit_str(bench, impl, variant, cas, threads, metric, buf);
}

void bench_reps_emit_also(const bench_reps *r, const char *bench, const char *impl,
                          const char *variant, const char *cas, int threads, const char *metric,
                          double scale)
{
    char med[64];
    snprintf(med, sizeof med, "%s_med", metric);
    bench_emit(bench, impl, variant, cas, threads, metric, bench_reps_min(r) * scale);
    bench_emit(bench, impl, variant, cas, threads, med, bench_reps_median(r) * scale);
}

void bench_reps_emit(const bench_reps *r, const char *bench, const char *impl, const char *variant,
                     const char *cas, int threads, const char *metric, double scale)
{
    bench_reps_emit_also(r, bench, impl, variant, cas, threads, metric, scale);
    bench_emit(bench, impl, variant, cas, threads, "reps", r->n);
    if (r->cpu_total > 0 && r->total > 0)
        bench_emit(bench, impl, variant, cas, threads, "cpus", r->cpu_total / r->total);
}

/* ===== fib =============================================================== */

long bench_fib_seq(int n)
{
    if (n < 2)
        return n;
    return bench_fib_seq(n - 1) + bench_fib_seq(n - 2);
}

long bench_fib_value(int n)
{
    long a = 0, b = 1;
    for (int i = 0; i < n; i++) {
        long t = a + b;
        a = b;
        b = t;
    }
    return a;
}

uint64_t bench_fib_calls(int n)
{
    /* C(n) = 1 + C(n-1) + C(n-2) for n >= 2, C(0) = C(1) = 0, which solves
       to fib(n+1) - 1. */
    return n < 2 ? 0 : (uint64_t)bench_fib_value(n + 1) - 1;
}

/* ===== busy work ========================================================= */

uint64_t bench_work(uint64_t x, uint64_t iters)
{
    for (uint64_t k = 0; k < iters; k++) {
        x = x * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
        /* "x changed in a way you cannot see": no vectorising, no closed form. */
        __asm__ volatile("" : "+r"(x));
    }
    return x;
}

double bench_work_calibrate(void)
{
    const uint64_t iters = 20000000;
    double best = 1e30;
    uint64_t sink = 0;
    bench_work(1, iters / 4); /* warm up the clock frequency */
    for (int rep = 0; rep < 5; rep++) {
        uint64_t t0 = bench_now_ns();
        sink += bench_work((uint64_t)rep, iters);
        double s = (double)(bench_now_ns() - t0) * 1e-9;
        if (s < best)
            best = s;
    }
    if (sink == 42) /* practically never; keeps the result alive */
        puts("");
    return best / (double)iters;
}

/* ===== uneven loop cases ================================================= */

int bench_dist_parse(const char *s, bench_dist *d)
{
    if (strcmp(s, "ramp") == 0)
        *d = BENCH_DIST_RAMP;
    else if (strcmp(s, "geom") == 0)
        *d = BENCH_DIST_GEOM;
    else if (strcmp(s, "random") == 0)
        *d = BENCH_DIST_RANDOM;
    else
        return -1;
    return 0;
}

static const char *bench__dist_name(bench_dist d)
{
    return d == BENCH_DIST_RAMP ? "ramp" : d == BENCH_DIST_GEOM ? "geom" : "random";
}

/* SplitMix64: a fixed, portable pseudo-random sequence for the costs. */
static uint64_t bench__splitmix(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

void bench_uneven_init(bench_uneven *u, bench_dist dist, size_t n, double target_secs,
                       double secs_per_iter)
{
    uint64_t seed = 12345, units = 0;
    memset(u, 0, sizeof *u);
    u->dist = dist;
    u->n = n;
    u->cost = malloc(n ? n : 1);
    u->out = calloc(n ? n : 1, sizeof *u->out);
    if (!u->cost || !u->out)
        bench_die("out of memory for an uneven case of %zu iterations", n);
    for (size_t i = 0; i < n; i++) {
        double x = n > 1 ? (double)i / (double)(n - 1) : 0.0; /* 0..1 */
        unsigned c;
        switch (dist) {
        case BENCH_DIST_RAMP:
            c = 1 + (unsigned)(99.0 * x + 0.5);
            break;
        case BENCH_DIST_GEOM:
            c = (unsigned)(pow(100.0, x) + 0.5);
            break;
        default:
            c = 1 + (unsigned)(bench__splitmix(&seed) % 100);
            break;
        }
        u->cost[i] = (uint8_t)(c < 1 ? 1 : c > 100 ? 100 : c);
        units += u->cost[i];
    }
    /* The same inputs give the same scale in every program: the scale is a
       function of (dist, n, target, secs_per_iter) only. */
    double s = target_secs / ((double)units * secs_per_iter);
    u->scale = s < 1.0 ? 1 : (uint64_t)(s + 0.5);
    char size[24];
    snprintf(u->name, sizeof u->name, "%s/%s", bench__dist_name(dist),
             bench_size_name(n, size, sizeof size));
}

void bench_uneven_free(bench_uneven *u)
{
    free(u->cost);
    free(u->out);
    memset(u, 0, sizeof *u);
}

void bench_uneven_reset(bench_uneven *u)
{
    memset(u->out, 0, u->n * sizeof *u->out);
}

uint64_t bench_uneven_checksum(const bench_uneven *u)
{
    uint64_t s = 0;
    for (size_t i = 0; i < u->n; i++)
        s += u->out[i] * (2 * i + 1); /* position-weighted: a shifted result shows */
    return s;
}

void bench_uneven_foreach(const char *dists, const char *sizes, double target_secs,
                          double secs_per_iter, bench_uneven_case_fn fn, void *ctx)
{
    char dbuf[128], sbuf[128];
    snprintf(dbuf, sizeof dbuf, "%s", dists);
    for (char *dp = NULL, *d = strtok_r(dbuf, ",", &dp); d; d = strtok_r(NULL, ",", &dp)) {
        bench_dist dist;
        if (bench_dist_parse(d, &dist) != 0)
            bench_die("unknown distribution '%s' (ramp, geom, random)", d);
        snprintf(sbuf, sizeof sbuf, "%s", sizes);
        for (char *sp = NULL, *s = strtok_r(sbuf, ",", &sp); s; s = strtok_r(NULL, ",", &sp)) {
            double n = strtod(s, NULL);
            if (!(n >= 1 && n <= 1e9))
                bench_die("bad size '%s'", s);
            bench_uneven u;
            bench_uneven_init(&u, dist, (size_t)n, target_secs, secs_per_iter);
            fn(&u, ctx);
            bench_uneven_free(&u);
        }
    }
}

/* ===== sum =============================================================== */

double *bench_sum_input(size_t n)
{
    double *a = malloc((n ? n : 1) * sizeof *a);
    if (!a)
        bench_die("out of memory for %zu doubles", n);
    for (size_t i = 0; i < n; i++)
        a[i] = 1.0 / (double)(i + 1);
    return a;
}

double bench_sum_seq(const double *a, size_t b, size_t e)
{
    double s = 0.0;
    for (size_t i = b; i < e; i++)
        s += a[i];
    return s;
}

void bench_sum_emit_result(const char *impl, const char *variant, const char *cas, int threads,
                           double s, const double *a, size_t n)
{
    double ref = bench_sum_seq(a, 0, n);
    if (!(fabs(s - ref) <= 1e-9 * fabs(ref)))
        bench_die("sum %s %s: %.17g, want %.17g (the sum of the terms in order)", impl, variant,
                  s, ref);
    char buf[64];
    uint64_t bits;
    memcpy(&bits, &s, sizeof bits);
    snprintf(buf, sizeof buf, "%.17g", s);
    bench_emit_str("sum", impl, variant, cas, threads, "value", buf);
    snprintf(buf, sizeof buf, "%016llx", (unsigned long long)bits);
    bench_emit_str("sum", impl, variant, cas, threads, "bits", buf);
}

/* ===== latency =========================================================== */

void bench_empty(void *arg)
{
    __asm__ volatile("" : : "r"(arg) : "memory");
}

void bench_latency_after_sleep(const char *impl, const char *variant, int threads, long iters,
                               int reps, uint64_t gap_ns, void (*round_trip)(void *ctx), void *ctx)
{
    bench_reps r;
    bench_reps_init(&r, reps, 1e30);
    while (bench_reps_more(&r)) {
        uint64_t sum = 0;
        for (long i = 0; i < iters; i++) {
            bench_sleep_ns(gap_ns);
            uint64_t t0 = bench_now_ns();
            round_trip(ctx);
            sum += bench_now_ns() - t0;
        }
        bench_reps_add(&r, (double)sum * 1e-9);
    }
    bench_reps_emit(&r, "latency", impl, variant, "after-sleep", threads, "ns",
                    1e9 / (double)(iters > 0 ? iters : 1));
}

/* ===== idle ============================================================== */

void bench_idle_measure(const char *impl, const char *variant, int threads, double settle_secs,
                        double window_secs)
{
    uint64_t c0 = bench_cpu_ns(), t0 = bench_now_ns();
    bench_sleep_ns((uint64_t)(settle_secs * 1e9));
    uint64_t c1 = bench_cpu_ns(), t1 = bench_now_ns();
    bench_sleep_ns((uint64_t)(window_secs * 1e9));
    uint64_t c2 = bench_cpu_ns(), t2 = bench_now_ns();
    /* CPU seconds per wall second, as percent of one core. */
    bench_emit("idle", impl, variant, "idle", threads, "settle_pct",
               100.0 * (double)(c1 - c0) / (double)(t1 - t0));
    bench_emit("idle", impl, variant, "idle", threads, "idle_pct",
               100.0 * (double)(c2 - c1) / (double)(t2 - t1));
}
