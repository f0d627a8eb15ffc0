/* SPDX-License-Identifier: MIT */
/*
    bench/bench_parx.c -- the five benchmarks on parx.

        bench_parx fib     threads=T n=35 reps=5
        bench_parx uneven  threads=T work=<s/iter> dists=... sizes=... reps=3
        bench_parx sum     threads=T n=1e8 reps=5
        bench_parx latency threads=T iters=1e5 reps=5
        bench_parx idle    threads=2 settle=0.1 window=1.0

    `threads` is the number of pool workers. The main thread is not one of
    them: it spawns from outside the pool and waits in parx_wait, which runs
    a task that no worker has taken yet on main itself (see fib below), and
    otherwise sleeps. parx_for and parx_reduce use only the workers.

    This file only includes the declarations; link it with the implementation
    (parx.c, or meson's parx_impl_dep). Build by hand:
        cc -std=c11 -O2 -Wall -Wextra -pthread -I.. bench_parx.c bench_common.c ../parx.c -lm
*/
#include "bench.h"
#include "parx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMPL "parx"

static parx_pool *make_pool(int threads)
{
    parx_pool_desc d;
    memset(&d, 0, sizeof d);
    d.threads = threads;
    parx_pool *p = parx_pool_create(&d);
    if (!p)
        bench_die("parx_pool_create(%d threads) failed", threads);
    return p;
}

static void check(int rc, const char *what)
{
    if (rc != 0)
        bench_die("%s failed: %s (%d)", what, parx_strerror(rc), rc);
}

/* The workers' counters summed: tasks run, steals (incl. takes from the
   shared queue) and sleeps. Emitted as stat_* lines for the record (they
   explain a figure; the tables do not show them). */
typedef struct pool_totals {
    uint64_t tasks, steals, sleeps;
} pool_totals;

static pool_totals pool_totals_now(parx_pool *p)
{
    parx_worker_stats st[64];
    pool_totals t = {0, 0, 0};
    int nw = parx_pool_stats(p, st, 64);
    for (int i = 0; i < nw && i < 64; i++) {
        t.tasks += st[i].tasks;
        t.steals += st[i].steals;
        t.sleeps += st[i].sleeps;
    }
    return t;
}

static void pool_totals_emit(parx_pool *p, pool_totals before, const char *bench,
                             const char *variant, const char *cas, int threads)
{
    pool_totals now = pool_totals_now(p);
    bench_emit(bench, IMPL, variant, cas, threads, "stat_tasks",
               (double)(now.tasks - before.tasks));
    bench_emit(bench, IMPL, variant, cas, threads, "stat_steals",
               (double)(now.steals - before.steals));
    bench_emit(bench, IMPL, variant, cas, threads, "stat_sleeps",
               (double)(now.sleeps - before.sleeps));
}

/* ===== fib: one spawn per call, the other child inline, no cutoff ======== */

typedef struct fib_arg {
    int n;
    long result;
} fib_arg;

static long fib(int n);

static void fib_task(void *p)
{
    fib_arg *a = p;
    a->result = fib(a->n);
}

static long fib(int n)
{
    if (n < 2)
        return n;
    fib_arg a = {n - 1, 0};
    parx_group g;
    parx_group_init(&g, NULL); /* the pool of the worker running us */
    parx_spawn(&g, fib_task, &a);
    long b = fib(n - 2);
    int rc = parx_wait(&g); /* reports a failed spawn, if any */
    if (rc != 0)
        bench_die("parx_wait inside fib(%d): %s (%d)", n, parx_strerror(rc), rc);
    return a.result + b;
}

/* The top level, two ways.

   "spawn+wait": main, outside the pool, spawns the root task and waits --
   the shape a user writes. parx_wait from outside the pool *helps*: if no
   worker has taken the root task yet (the workers are asleep after the
   warm-up, so usually none has), main takes it back and runs fib itself,
   as a thread outside the pool whose spawns go through the pool's shared
   queue. Then main computes beside the workers: the run uses threads + 1
   CPUs, which the "cpus" column shows.

   "root-in-pool": the root runs as a task of the pool and main only waits:
   parx_for over [0, 2) with grain 1, since parx_for from outside never helps
   ("uses exactly the pool's threads"); iteration 0 is the root, iteration 1
   does nothing. (Not [0, 1): parx_for runs a range no larger than its grain
   on the calling thread, outside the pool.) Here "threads" is the number of
   CPUs used. */
static long fib_root(parx_pool *p, int n)
{
    fib_arg a = {n, 0};
    parx_group g;
    parx_group_init(&g, p);
    check(parx_spawn(&g, fib_task, &a), "parx_spawn");
    check(parx_wait(&g), "parx_wait");
    return a.result;
}

static void fib_root_body(void *ctx, size_t b, size_t e)
{
    if (b == 0 && e > 0)
        fib_task(ctx);
}

static long fib_root_in_pool(parx_pool *p, int n)
{
    fib_arg a = {n, 0};
    check(parx_for(p, 0, 2, 1, fib_root_body, &a), "parx_for");
    return a.result;
}

static void run_fib(int argc, char **argv, parx_pool *p, int threads)
{
    int n = (int)bench_arg_long(argc, argv, "n", 35);
    char cas[16];
    snprintf(cas, sizeof cas, "%d", n);
    for (int v = 0; v < 2; v++) {
        const char *name = v == 0 ? "spawn+wait" : "root-in-pool";
        long (*root)(parx_pool *, int) = v == 0 ? fib_root : fib_root_in_pool;
        pool_totals before = pool_totals_now(p);
        bench_reps r;
        long got = 0;
        root(p, 20); /* warm up: wake the workers, size the deques */
        bench_reps_init(&r, (int)bench_arg_long(argc, argv, "reps", 5),
                        bench_arg_double(argc, argv, "max_secs", 10));
        while (bench_reps_more(&r)) {
            bench_mark m0 = bench_mark_now();
            got = root(p, n);
            bench_reps_add_since(&r, m0);
        }
        if (got != bench_fib_value(n))
            bench_die("fib(%d) = %ld, expected %ld", n, got, bench_fib_value(n));
        bench_reps_emit(&r, "fib", IMPL, name, cas, threads, "secs", 1.0);
        /* spawns: one per call with n >= 2, plus the root's */
        bench_reps_emit_also(&r, "fib", IMPL, name, cas, threads, "ns_per_spawn",
                             1e9 / (double)(bench_fib_calls(n) + 1));
        /* over this variant's warm-up and repetitions */
        pool_totals_emit(p, before, "fib", name, cas, threads);
    }
}

/* ===== uneven loop: parx_for with the automatic grain ==================== */

typedef struct uneven_ctx {
    parx_pool *pool;
    int threads, reps;
    double max_secs;
} uneven_ctx;

static void uneven_body(void *ctx, size_t b, size_t e)
{
    bench_uneven_range(ctx, b, e);
}

static void uneven_case(bench_uneven *u, void *vctx)
{
    uneven_ctx *c = vctx;
    bench_reps r;
    bench_reps_init(&r, c->reps, c->max_secs);
    bench_uneven_reset(u); /* untimed warm-up, as the peers have */
    check(parx_for(c->pool, 0, u->n, 0, uneven_body, u), "parx_for");
    while (bench_reps_more(&r)) {
        bench_uneven_reset(u);
        bench_mark m0 = bench_mark_now();
        check(parx_for(c->pool, 0, u->n, 0, uneven_body, u), "parx_for");
        bench_reps_add_since(&r, m0);
    }
    char sum[32];
    snprintf(sum, sizeof sum, "%016llx", (unsigned long long)bench_uneven_checksum(u));
    bench_reps_emit(&r, "uneven", IMPL, "for:grain0", u->name, c->threads, "secs", 1.0);
    bench_emit_str("uneven", IMPL, "for:grain0", u->name, c->threads, "checksum", sum);
}

static void run_uneven(int argc, char **argv, parx_pool *p, int threads)
{
    uneven_ctx c = {p, threads, (int)bench_arg_long(argc, argv, "reps", 3),
                    bench_arg_double(argc, argv, "max_secs", 3)};
    double work = bench_arg_double(argc, argv, "work", 0);
    if (work <= 0)
        work = bench_work_calibrate();
    bench_uneven_foreach(bench_arg_str(argc, argv, "dists", "ramp,geom,random"),
                         bench_arg_str(argc, argv, "sizes", "1e4,1e5,1e6"),
                         bench_arg_double(argc, argv, "target", 0.25), work, uneven_case, &c);
}

/* ===== sum: parx_reduce, deterministic =================================== */

static void sum_leaf(void *ctx, size_t b, size_t e, void *acc)
{
    /* The same left-to-right loop as bench_sum_seq, folded into acc. */
    const double *a = ctx;
    double s = *(double *)acc;
    for (size_t i = b; i < e; i++)
        s += a[i];
    *(double *)acc = s;
}

static void sum_combine(void *ctx, void *acc, const void *other)
{
    (void)ctx;
    *(double *)acc += *(const double *)other;
}

static void run_sum(int argc, char **argv, parx_pool *p, int threads)
{
    size_t n = (size_t)bench_arg_long(argc, argv, "n", 100000000);
    double *a = bench_sum_input(n), s = 0.0;
    const double zero = 0.0;
    char cas[24];
    bench_reps r;
    bench_size_name(n, cas, sizeof cas);
    /* untimed warm-up, as the peers have: the input's pages and the workers */
    check(parx_reduce(p, 0, n, 0, sizeof(double), &zero, sum_leaf, sum_combine, a, &s),
          "parx_reduce");
    bench_reps_init(&r, (int)bench_arg_long(argc, argv, "reps", 5),
                    bench_arg_double(argc, argv, "max_secs", 5));
    while (bench_reps_more(&r)) {
        bench_mark m0 = bench_mark_now();
        check(parx_reduce(p, 0, n, 0, sizeof(double), &zero, sum_leaf, sum_combine, a, &s),
              "parx_reduce");
        bench_reps_add_since(&r, m0);
    }
    bench_reps_emit(&r, "sum", IMPL, "reduce:grain0", cas, threads, "secs", 1.0);
    bench_sum_emit_result(IMPL, "reduce:grain0", cas, threads, s, a, n);
    free(a);
}

/* ===== latency: spawn + wait one empty task from outside the pool ======== */

static void spawn_wait_once(void *pool)
{
    parx_group g;
    parx_group_init(&g, pool);
    parx_spawn(&g, bench_empty, NULL);
    if (parx_wait(&g) != 0)
        bench_die("parx_wait failed");
}

static void run_latency(int argc, char **argv, parx_pool *p, int threads)
{
    long iters = bench_arg_long(argc, argv, "iters", 100000);
    bench_reps r;
    pool_totals before = pool_totals_now(p);
    bench_reps_init(&r, (int)bench_arg_long(argc, argv, "reps", 5),
                    bench_arg_double(argc, argv, "max_secs", 5));
    for (int rep = -1; rep < 0 || bench_reps_more(&r); rep++) { /* rep -1: warm-up */
        bench_mark m0 = bench_mark_now();
        for (long i = 0; i < iters; i++)
            spawn_wait_once(p);
        if (rep >= 0)
            bench_reps_add_since(&r, m0);
    }
    bench_reps_emit(&r, "latency", IMPL, "spawn+wait", "empty", threads, "ns", 1e9 / (double)iters);
    /* stat_tasks / ((reps + 1) * iters): the share of round trips a worker
       ran (the rest main ran itself in parx_wait) */
    pool_totals_emit(p, before, "latency", "spawn+wait", "empty", threads);
    bench_emit("latency", IMPL, "spawn+wait", "empty", threads, "round_trips",
               (double)(r.n + 1) * (double)iters);
    bench_latency_after_sleep(
        IMPL, "spawn+wait", threads, bench_arg_long(argc, argv, "sleep_iters", 100),
        (int)bench_arg_long(argc, argv, "sleep_reps", 3),
        (uint64_t)(bench_arg_double(argc, argv, "gap", 2e-3) * 1e9), spawn_wait_once, p);
}

/* ===== idle: CPU of a pool that has nothing to do ======================== */

static void idle_body(void *ctx, size_t b, size_t e)
{
    (void)ctx;
    for (size_t i = b; i < e; i++)
        bench_work(i, 1000);
}

static void run_idle(int argc, char **argv, parx_pool *p, int threads)
{
    double settle = bench_arg_double(argc, argv, "settle", 0.1);
    double window = bench_arg_double(argc, argv, "window", 1.0);
    /* A pool that has never had work (the workers start, look, sleep)... */
    bench_idle_measure(IMPL, "pool, just created", threads, settle, window);
    /* ...and after ~20 ms of work, so every worker has been awake and busy. */
    check(parx_for(p, 0, 20000, 0, idle_body, NULL), "parx_for");
    bench_idle_measure(IMPL, "pool, after work", threads, settle, window);
}

int main(int argc, char **argv)
{
    const char *b = argc > 1 ? argv[1] : "";
    int threads = (int)bench_arg_long(argc, argv, "threads", 2);
    void (*run)(int, char **, parx_pool *, int) = strcmp(b, "fib") == 0       ? run_fib
                                                  : strcmp(b, "uneven") == 0  ? run_uneven
                                                  : strcmp(b, "sum") == 0     ? run_sum
                                                  : strcmp(b, "latency") == 0 ? run_latency
                                                  : strcmp(b, "idle") == 0    ? run_idle
                                                                              : NULL;
    if (!run)
        bench_die("usage: %s fib|uneven|sum|latency|idle [threads=T] [key=value ...]", argv[0]);
    parx_pool *p = make_pool(threads);
    run(argc, argv, p, threads);
    parx_pool_destroy(p);
    return 0;
}
