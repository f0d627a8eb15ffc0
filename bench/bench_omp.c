/* SPDX-License-Identifier: MIT */
/*
    bench/bench_omp.c -- the five benchmarks with OpenMP. Built twice, with the
    same source and flags: by gcc (runtime libgomp, impl "omp-gcc") and by
    clang (runtime libomp, impl "omp-clang").

        bench_omp_gcc fib     threads=T n=35 reps=5
        bench_omp_gcc uneven  threads=T work=<s/iter> dists=... sizes=... reps=3
        bench_omp_gcc sum     threads=T n=1e8 reps=5
        bench_omp_gcc latency threads=T iters=1e5 reps=5
        bench_omp_gcc idle    threads=2 settle=0.1 window=1.0

    `threads` is the team size (omp_set_num_threads); the main thread is one
    of the team, as OpenMP always has it. Every other OpenMP setting is left at
    the runtime's default (no OMP_PROC_BIND, OMP_WAIT_POLICY, GOMP_SPINCOUNT or
    KMP_BLOCKTIME), because that is what a user gets.

    Build: cc -std=c11 -O2 -Wall -Wextra -fopenmp bench_omp.c bench_common.c -lm
*/
#include "bench.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__clang__)
#define IMPL "omp-clang"
#else
#define IMPL "omp-gcc"
#endif

/* ===== fib: one task per call, the other child inline, no cutoff ========= */

static long fib(int n)
{
    long x, y;
    if (n < 2)
        return n;
#pragma omp task shared(x)
    x = fib(n - 1);
    y = fib(n - 2);
#pragma omp taskwait
    return x + y;
}

static long fib_root(int n)
{
    long r = 0;
#pragma omp parallel
#pragma omp single
    r = fib(n);
    return r;
}

static void run_fib(int argc, char **argv, int threads)
{
    int n = (int)bench_arg_long(argc, argv, "n", 35);
    bench_reps r;
    char cas[16];
    long got = 0;
    snprintf(cas, sizeof cas, "%d", n);
    fib_root(20); /* warm up: start the team */
    bench_reps_init(&r, (int)bench_arg_long(argc, argv, "reps", 5),
                    bench_arg_double(argc, argv, "max_secs", 10));
    while (bench_reps_more(&r)) {
        bench_mark m0 = bench_mark_now();
        got = fib_root(n);
        bench_reps_add_since(&r, m0);
    }
    if (got != bench_fib_value(n))
        bench_die("fib(%d) = %ld, expected %ld", n, got, bench_fib_value(n));
    bench_reps_emit(&r, "fib", IMPL, "task", cas, threads, "secs", 1.0);
    bench_reps_emit_also(&r, "fib", IMPL, "task", cas, threads, "ns_per_spawn",
                         1e9 / (double)bench_fib_calls(n));
}

/* ===== uneven loop: the schedules a user would try ======================= */

/* The schedules, in table order. "dynamic" alone means chunk 1; 64 is a
   chunk a user might pick by hand for loops of 10^4..10^6 iterations. */
enum { SCHED_STATIC, SCHED_DYNAMIC, SCHED_DYNAMIC64, SCHED_GUIDED, SCHED_COUNT };
static const char *const sched_name[SCHED_COUNT] = {"static", "dynamic", "dynamic,64", "guided"};

static void uneven_run(const bench_uneven *u, int sched)
{
    /* Signed loop variables keep the loops in OpenMP's canonical form with
       every compiler; n <= 10^9 fits a long. */
    long n = (long)u->n;
    switch (sched) {
    case SCHED_STATIC:
#pragma omp parallel for schedule(static)
        for (long i = 0; i < n; i++)
            bench_uneven_range(u, (size_t)i, (size_t)i + 1);
        break;
    case SCHED_DYNAMIC:
#pragma omp parallel for schedule(dynamic)
        for (long i = 0; i < n; i++)
            bench_uneven_range(u, (size_t)i, (size_t)i + 1);
        break;
    case SCHED_DYNAMIC64:
#pragma omp parallel for schedule(dynamic, 64)
        for (long i = 0; i < n; i++)
            bench_uneven_range(u, (size_t)i, (size_t)i + 1);
        break;
    default:
#pragma omp parallel for schedule(guided)
        for (long i = 0; i < n; i++)
            bench_uneven_range(u, (size_t)i, (size_t)i + 1);
        break;
    }
}

typedef struct uneven_ctx {
    int threads, reps;
    double max_secs;
    const char *scheds; /* comma-separated subset of sched_name, or "all" */
} uneven_ctx;

static int sched_selected(const char *list, const char *name)
{
    /* Entries are separated by ';' because "dynamic,64" has a comma:
       look for ";name;" in ";list;". */
    char hay[160], needle[40];
    if (strcmp(list, "all") == 0)
        return 1;
    snprintf(hay, sizeof hay, ";%s;", list);
    snprintf(needle, sizeof needle, ";%s;", name);
    return strstr(hay, needle) != NULL;
}

static void uneven_case(bench_uneven *u, void *vctx)
{
    uneven_ctx *c = vctx;
    for (int s = 0; s < SCHED_COUNT; s++) {
        if (!sched_selected(c->scheds, sched_name[s]))
            continue;
        bench_reps r;
        bench_reps_init(&r, c->reps, c->max_secs);
        while (bench_reps_more(&r)) {
            bench_uneven_reset(u);
            bench_mark m0 = bench_mark_now();
            uneven_run(u, s);
            bench_reps_add_since(&r, m0);
        }
        char sum[32];
        snprintf(sum, sizeof sum, "%016llx", (unsigned long long)bench_uneven_checksum(u));
        bench_reps_emit(&r, "uneven", IMPL, sched_name[s], u->name, c->threads, "secs", 1.0);
        bench_emit_str("uneven", IMPL, sched_name[s], u->name, c->threads, "checksum", sum);
    }
}

static void run_uneven(int argc, char **argv, int threads)
{
    uneven_ctx c = {threads, (int)bench_arg_long(argc, argv, "reps", 3),
                    bench_arg_double(argc, argv, "max_secs", 3),
                    bench_arg_str(argc, argv, "scheds", "all")};
    double work = bench_arg_double(argc, argv, "work", 0);
    if (work <= 0)
        work = bench_work_calibrate();
    fib_root(10); /* start the team outside the timed region */
    bench_uneven_foreach(bench_arg_str(argc, argv, "dists", "ramp,geom,random"),
                         bench_arg_str(argc, argv, "sizes", "1e4,1e5,1e6"),
                         bench_arg_double(argc, argv, "target", 0.25), work, uneven_case, &c);
}

/* ===== sum: reduction(+), the usual OpenMP way ============================ */

static double sum_omp(const double *a, long n)
{
    double s = 0.0;
#pragma omp parallel for reduction(+ : s)
    for (long i = 0; i < n; i++)
        s += a[i];
    return s;
}

static void run_sum(int argc, char **argv, int threads)
{
    size_t n = (size_t)bench_arg_long(argc, argv, "n", 100000000);
    double *a = bench_sum_input(n), s = 0.0;
    char cas[24];
    bench_reps r;
    bench_size_name(n, cas, sizeof cas);
    sum_omp(a, 1000); /* start the team */
    bench_reps_init(&r, (int)bench_arg_long(argc, argv, "reps", 5),
                    bench_arg_double(argc, argv, "max_secs", 5));
    while (bench_reps_more(&r)) {
        bench_mark m0 = bench_mark_now();
        s = sum_omp(a, (long)n);
        bench_reps_add_since(&r, m0);
    }
    bench_reps_emit(&r, "sum", IMPL, "reduction(+)", cas, threads, "secs", 1.0);
    bench_sum_emit_result(IMPL, "reduction(+)", cas, threads, s, a, n);
    free(a);
}

/* ===== latency: one empty task from the serial part of the program =======
   OpenMP has no way to hand a task to a running team from outside it: the
   serial part of the program *is* the team's main thread. So two figures:
     "region+task": what the main thread must do from serial code -- open a
                    parallel region, create the task in a `single`, and join
                    (the region's end waits for the task);
     "task+taskwait": inside one long-lived region, the main thread creates
                    an empty task and waits for it (`taskwait`), repeatedly;
                    the closest analogue of spawn + wait on a live pool. */

static void region_task_once(void *ctx)
{
    (void)ctx;
#pragma omp parallel
#pragma omp single
#pragma omp task
    bench_empty(NULL);
}

static void run_latency(int argc, char **argv, int threads)
{
    long iters = bench_arg_long(argc, argv, "iters", 100000);
    int reps = (int)bench_arg_long(argc, argv, "reps", 5);
    double max_secs = bench_arg_double(argc, argv, "max_secs", 5);
    bench_reps r;

    bench_reps_init(&r, reps, max_secs);
    for (int rep = -1; rep < 0 || bench_reps_more(&r); rep++) { /* rep -1: warm-up */
        bench_mark m0 = bench_mark_now();
        for (long i = 0; i < iters; i++)
            region_task_once(NULL);
        if (rep >= 0)
            bench_reps_add_since(&r, m0);
    }
    bench_reps_emit(&r, "latency", IMPL, "region+task", "empty", threads, "ns",
                    1e9 / (double)iters);
    bench_latency_after_sleep(
        IMPL, "region+task", threads, bench_arg_long(argc, argv, "sleep_iters", 100),
        (int)bench_arg_long(argc, argv, "sleep_reps", 3),
        (uint64_t)(bench_arg_double(argc, argv, "gap", 2e-3) * 1e9), region_task_once, NULL);

    bench_reps_init(&r, reps, max_secs);
    for (int rep = -1; rep < 0 || bench_reps_more(&r); rep++) {
#pragma omp parallel
#pragma omp single
        { /* timed inside the region: the region's start and end are not counted */
            bench_mark m0 = bench_mark_now();
            for (long i = 0; i < iters; i++) {
#pragma omp task
                bench_empty(NULL);
#pragma omp taskwait
            }
            if (rep >= 0)
                bench_reps_add_since(&r, m0);
        }
    }
    bench_reps_emit(&r, "latency", IMPL, "task+taskwait", "empty", threads, "ns",
                    1e9 / (double)iters);
}

/* ===== idle: CPU of the team after a parallel region ===================== */

static void run_idle(int argc, char **argv, int threads)
{
    /* ~20 ms of work in a parallel loop, then the runtime is left alone. */
#pragma omp parallel for schedule(dynamic, 64)
    for (long i = 0; i < 20000; i++)
        bench_work((uint64_t)i, 1000);
    bench_idle_measure(IMPL, "after-region", threads, bench_arg_double(argc, argv, "settle", 0.1),
                       bench_arg_double(argc, argv, "window", 1.0));
}

int main(int argc, char **argv)
{
    const char *b = argc > 1 ? argv[1] : "";
    int threads = (int)bench_arg_long(argc, argv, "threads", 2);
    omp_set_num_threads(threads);
    if (strcmp(b, "fib") == 0)
        run_fib(argc, argv, threads);
    else if (strcmp(b, "uneven") == 0)
        run_uneven(argc, argv, threads);
    else if (strcmp(b, "sum") == 0)
        run_sum(argc, argv, threads);
    else if (strcmp(b, "latency") == 0)
        run_latency(argc, argv, threads);
    else if (strcmp(b, "idle") == 0)
        run_idle(argc, argv, threads);
    else
        bench_die("usage: %s fib|uneven|sum|latency|idle [threads=T] [key=value ...]", argv[0]);
    return 0;
}
