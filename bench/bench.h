/* SPDX-License-Identifier: MIT */
/*
    bench/bench.h -- what every parx benchmark program shares.

    The benchmark programs (bench_seq.c, bench_parx.c, bench_omp.c,
    bench_tbb.cpp) each implement the same five benchmarks with one runtime:

        fib      fib(n) with one spawned child per call and no cutoff
        uneven   a loop whose per-iteration cost varies ~100x
        sum      the sum of 10^8 doubles (deterministic or not)
        latency  spawn one empty task from outside the pool and wait for it
        idle     the CPU an idle pool burns after it has done some work

    Everything that must be *identical* across runtimes lives here and in
    bench_common.c, which is compiled once (by the C compiler) and linked into
    every program: the busy-work loop, the cost distributions, the input of
    the sum, and the timing and reporting helpers. So a difference between two
    programs is a difference between runtimes, not between code generators.

    Command line of every program:   PROGRAM BENCH key=value ...
    Output: one line per measurement, tab-separated, read by bench/report.awk:

        RES  bench  impl  variant  case  threads  metric  value

    Times are the best (minimum) of `reps` repetitions; the median is printed
    too (metric suffix _med) so noisy runs can be spotted.
*/
#ifndef PARX_BENCH_H
#define PARX_BENCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- command line: key=value arguments -------------------------------- */

/* The value of `key=...` among argv[2..], or `def` when absent. */
long bench_arg_long(int argc, char **argv, const char *key, long def);
double bench_arg_double(int argc, char **argv, const char *key, double def);
const char *bench_arg_str(int argc, char **argv, const char *key, const char *def);

/* "1e8" for 100000000, the plain number when n is no power of ten. */
const char *bench_size_name(size_t n, char *buf, size_t size);

/* Print a message to stderr and exit(2). For setup failures only. */
void bench_die(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((noreturn, format(printf, 1, 2)))
#endif
    ;

/* ---- clocks ------------------------------------------------------------ */

uint64_t bench_now_ns(void);      /* CLOCK_MONOTONIC */
uint64_t bench_cpu_ns(void);      /* CLOCK_PROCESS_CPUTIME_ID: all threads */
void bench_sleep_ns(uint64_t ns); /* nanosleep, restarted after signals */

/* ---- repetitions --------------------------------------------------------
   Usage:
       bench_reps r; bench_reps_init(&r, reps, max_secs);
       while (bench_reps_more(&r)) { t0 = bench_now_ns(); work(); bench_reps_add(&r, ...); }
       bench_reps_emit(&r, ...);
   At least min(reps, 3) repetitions run; further ones only while the total
   stays under max_secs, so a slow peer does not make the whole run slow. */

#define BENCH_MAX_REPS 64

typedef struct bench_reps {
    int want;         /* repetitions asked for */
    int n;            /* repetitions done */
    double max_secs;  /* time budget for the repetitions beyond the third */
    double total;     /* wall seconds spent so far */
    double cpu_total; /* process CPU seconds spent so far (0: not measured) */
    double v[BENCH_MAX_REPS];
} bench_reps;

/* A point in time on both clocks, to time one repetition:
       bench_mark m = bench_mark_now(); work(); bench_reps_add_since(&r, m);  */
typedef struct bench_mark {
    uint64_t wall_ns, cpu_ns;
} bench_mark;

bench_mark bench_mark_now(void);
void bench_reps_init(bench_reps *r, int reps, double max_secs);
int bench_reps_more(const bench_reps *r);
void bench_reps_add(bench_reps *r, double seconds);
/* Add the wall time since m as one repetition, and the CPU time to cpu_total. */
void bench_reps_add_since(bench_reps *r, bench_mark m);
double bench_reps_min(const bench_reps *r);
double bench_reps_median(const bench_reps *r);

/* ---- output ------------------------------------------------------------ */

/* One RES line with a numeric value. */
void bench_emit(const char *bench, const char *impl, const char *variant, const char *cas,
                int threads, const char *metric, double value);
/* One RES line with a string value (hex bits, checksums). */
void bench_emit_str(const char *bench, const char *impl, const char *variant, const char *cas,
                    int threads, const char *metric, const char *value);
/* The min as `metric` (scaled by `scale`), the median as `metric`_med, the
   number of repetitions as `reps` and, when CPU time was measured, the CPUs
   kept busy on average (process CPU time / wall time) as `cpus`. */
void bench_reps_emit(const bench_reps *r, const char *bench, const char *impl, const char *variant,
                     const char *cas, int threads, const char *metric, double scale);
/* Only the min and the median, for a second metric derived from the same
   repetitions (e.g. ns per spawn beside seconds). */
void bench_reps_emit_also(const bench_reps *r, const char *bench, const char *impl,
                          const char *variant, const char *cas, int threads, const char *metric,
                          double scale);

/* ---- fib ---------------------------------------------------------------- */

long bench_fib_seq(int n);       /* plain recursion: the sequential baseline */
long bench_fib_value(int n);     /* iterative, to check every runtime's answer */
uint64_t bench_fib_calls(int n); /* calls with n >= 2, i.e. spawns: fib(n+1) - 1 */

/* ---- busy work (uneven loop) -------------------------------------------
   bench_work runs `iters` dependent multiply-adds on x and returns x. An
   empty asm statement that claims to change x stops the compiler from
   vectorising, hoisting or closed-forming the loop; each iteration is one
   64-bit multiply plus one add on the critical path (~4 cycles). It is
   compiled once, in bench_common.c, and called out of line by every program,
   so every runtime runs exactly the same machine code per iteration. */
uint64_t bench_work(uint64_t x, uint64_t iters);

/* Seconds per bench_work iteration on this machine (median of a few runs). */
double bench_work_calibrate(void);

typedef enum bench_dist {
    BENCH_DIST_RAMP,  /* cost 1..100 rising linearly with i */
    BENCH_DIST_GEOM,  /* cost 100^(i/(N-1)): 1..100, most of the work at the end */
    BENCH_DIST_RANDOM /* uniform 1..100 from a fixed seed */
} bench_dist;

/* One uneven-loop case: cost[i] in 1..100 units, `scale` work iterations per
   unit chosen so the whole loop takes ~target_secs sequentially. out[i]
   receives each iteration's result; the checksum (a wrapping sum of out)
   proves every runtime ran every iteration exactly once. */
typedef struct bench_uneven {
    bench_dist dist;
    size_t n;
    uint8_t *cost;
    uint64_t scale;
    uint64_t *out;
    char name[32]; /* e.g. "ramp/1e5" */
} bench_uneven;

/* Parse "ramp", "geom" or "random"; returns -1 for anything else. */
int bench_dist_parse(const char *s, bench_dist *d);
/* Build a case; secs_per_iter from bench_work_calibrate (passed on the
   command line so every program uses the same scale). Dies on ENOMEM. */
void bench_uneven_init(bench_uneven *u, bench_dist dist, size_t n, double target_secs,
                       double secs_per_iter);
void bench_uneven_free(bench_uneven *u);
/* The loop body over [b, e): out[i] = bench_work(i, cost[i] * scale). */
static inline void bench_uneven_range(const bench_uneven *u, size_t b, size_t e)
{
    for (size_t i = b; i < e; i++)
        u->out[i] = bench_work(i, (uint64_t)u->cost[i] * u->scale);
}
/* Zero out[] (before a run) and sum it (after). */
void bench_uneven_reset(bench_uneven *u);
uint64_t bench_uneven_checksum(const bench_uneven *u);

/* Iterate over the comma-separated lists `dists` x `sizes` (e.g.
   "ramp,geom,random" and "1e4,1e5,1e6"): calls fn for each case, built and
   freed around the call. */
typedef void (*bench_uneven_case_fn)(bench_uneven *u, void *ctx);
void bench_uneven_foreach(const char *dists, const char *sizes, double target_secs,
                          double secs_per_iter, bench_uneven_case_fn fn, void *ctx);

/* ---- sum ------------------------------------------------------------------
   a[i] = 1 / (i + 1): terms of very different magnitudes, so the rounding of
   the sum depends on the order of the additions and a schedule-dependent
   reduction shows up in the last bits. */
double *bench_sum_input(size_t n); /* allocated and filled; dies on ENOMEM */
double bench_sum_seq(const double *a, size_t b, size_t e); /* left to right */
/* Check s against the sum of a[0..n) left to right (relative error at most
   1e-9, else the program dies: a reduction that skips or repeats terms must
   not pass for a fast one), then emit it as "value" (%.17g) and "bits" (hex
   of the IEEE double). */
void bench_sum_emit_result(const char *impl, const char *variant, const char *cas, int threads,
                           double s, const double *a, size_t n);

/* ---- latency --------------------------------------------------------------- */

/* The empty task: out of line, with a compiler barrier, so it is a real call. */
void bench_empty(void *arg);

/* Wake-up latency: `iters` times, sleep gap_ns (so the runtime's threads go
   idle, and asleep if they ever sleep), then time one round_trip(ctx): one
   empty task spawned and waited for. The best over `reps` of the mean is
   emitted as metric "ns" of case "after-sleep". */
void bench_latency_after_sleep(const char *impl, const char *variant, int threads, long iters,
                               int reps, uint64_t gap_ns, void (*round_trip)(void *ctx), void *ctx);

/* ---- idle ------------------------------------------------------------------
   Wait settle_secs, then measure the process CPU time over window_secs while
   the main thread sleeps; emit both as percent of one core ("settle_pct",
   "idle_pct"), case "idle". Called after the runtime has done some work. */
void bench_idle_measure(const char *impl, const char *variant, int threads, double settle_secs,
                        double window_secs);

#ifdef __cplusplus
} /* extern "C" */
#endif
#endif /* PARX_BENCH_H */
