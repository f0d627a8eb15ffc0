/* SPDX-License-Identifier: MIT */
/*
    bench/bench_seq.c -- the sequential baselines, and the calibration of the
    busy-work loop that the uneven-loop benchmark of every program uses.

        bench_seq calibrate                      prints seconds per work iteration
        bench_seq fib n=35 reps=5
        bench_seq uneven work=<s/iter> dists=ramp,geom,random sizes=1e4,1e5,1e6
        bench_seq sum n=1e8 reps=5

    Build: cc -std=c11 -O2 -Wall -Wextra bench_seq.c bench_common.c -lm
*/
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMPL "seq"

static void run_fib(int argc, char **argv)
{
    int n = (int)bench_arg_long(argc, argv, "n", 35);
    bench_reps r;
    char cas[16];
    long got = 0;
    snprintf(cas, sizeof cas, "%d", n);
    bench_fib_seq(20); /* warm up */
    bench_reps_init(&r, (int)bench_arg_long(argc, argv, "reps", 5),
                    bench_arg_double(argc, argv, "max_secs", 10));
    while (bench_reps_more(&r)) {
        bench_mark m0 = bench_mark_now();
        got = bench_fib_seq(n);
        bench_reps_add_since(&r, m0);
    }
    if (got != bench_fib_value(n))
        bench_die("fib(%d) = %ld, expected %ld", n, got, bench_fib_value(n));
    bench_reps_emit(&r, "fib", IMPL, "recursion", cas, 1, "secs", 1.0);
    /* Per call, for comparison with the runtimes' per-spawn figures. */
    bench_reps_emit_also(&r, "fib", IMPL, "recursion", cas, 1, "ns_per_spawn",
                         1e9 / (double)bench_fib_calls(n));
}

typedef struct uneven_ctx {
    int reps;
    double max_secs;
} uneven_ctx;

static void uneven_case(bench_uneven *u, void *vctx)
{
    uneven_ctx *c = vctx;
    bench_reps r;
    bench_reps_init(&r, c->reps, c->max_secs);
    bench_uneven_reset(u); /* untimed warm-up, as the parallel programs have */
    bench_uneven_range(u, 0, u->n);
    while (bench_reps_more(&r)) {
        bench_uneven_reset(u);
        bench_mark m0 = bench_mark_now();
        bench_uneven_range(u, 0, u->n);
        bench_reps_add_since(&r, m0);
    }
    char sum[32];
    snprintf(sum, sizeof sum, "%016llx", (unsigned long long)bench_uneven_checksum(u));
    bench_reps_emit(&r, "uneven", IMPL, "loop", u->name, 1, "secs", 1.0);
    bench_emit_str("uneven", IMPL, "loop", u->name, 1, "checksum", sum);
    bench_emit("uneven", IMPL, "loop", u->name, 1, "scale", (double)u->scale);
}

static void run_uneven(int argc, char **argv)
{
    uneven_ctx c = {(int)bench_arg_long(argc, argv, "reps", 3),
                    bench_arg_double(argc, argv, "max_secs", 3)};
    double work = bench_arg_double(argc, argv, "work", 0);
    if (work <= 0)
        work = bench_work_calibrate();
    bench_uneven_foreach(bench_arg_str(argc, argv, "dists", "ramp,geom,random"),
                         bench_arg_str(argc, argv, "sizes", "1e4,1e5,1e6"),
                         bench_arg_double(argc, argv, "target", 0.25), work, uneven_case, &c);
}

static void run_sum(int argc, char **argv)
{
    size_t n = (size_t)bench_arg_long(argc, argv, "n", 100000000);
    double *a = bench_sum_input(n), s = 0.0;
    char cas[24];
    bench_reps r;
    bench_size_name(n, cas, sizeof cas);
    s = bench_sum_seq(a, 0, n); /* untimed warm-up, as the parallel programs have */
    bench_reps_init(&r, (int)bench_arg_long(argc, argv, "reps", 5),
                    bench_arg_double(argc, argv, "max_secs", 5));
    while (bench_reps_more(&r)) {
        bench_mark m0 = bench_mark_now();
        s = bench_sum_seq(a, 0, n);
        bench_reps_add_since(&r, m0);
    }
    bench_reps_emit(&r, "sum", IMPL, "loop", cas, 1, "secs", 1.0);
    bench_sum_emit_result(IMPL, "loop", cas, 1, s, a, n);
    free(a);
}

int main(int argc, char **argv)
{
    const char *b = argc > 1 ? argv[1] : "";
    if (strcmp(b, "calibrate") == 0)
        printf("%.6g\n", bench_work_calibrate());
    else if (strcmp(b, "fib") == 0)
        run_fib(argc, argv);
    else if (strcmp(b, "uneven") == 0)
        run_uneven(argc, argv);
    else if (strcmp(b, "sum") == 0)
        run_sum(argc, argv);
    else if (strcmp(b, "latency") == 0 || strcmp(b, "idle") == 0)
        return 0; /* nothing to measure without a runtime */
    else
        bench_die("usage: %s calibrate|fib|uneven|sum [key=value ...]", argv[0]);
    return 0;
}
