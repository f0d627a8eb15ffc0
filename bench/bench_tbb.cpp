// SPDX-License-Identifier: MIT
//
// bench/bench_tbb.cpp -- the five benchmarks with oneTBB (C++17).
//
//     bench_tbb fib     threads=T n=35 reps=5
//     bench_tbb uneven  threads=T work=<s/iter> dists=... sizes=... reps=3
//     bench_tbb sum     threads=T n=1e8 reps=5
//     bench_tbb latency threads=T iters=1e5 reps=5
//     bench_tbb idle    threads=2 settle=0.1 window=1.0
//
// `threads` is tbb::global_control::max_allowed_parallelism for the whole
// process: the main thread, which joins the work whenever it waits, plus
// threads - 1 TBB workers. Everything else is TBB's default.
//
// Build: c++ -std=c++17 -O2 -Wall -Wextra bench_tbb.cpp bench_common.o -ltbb -lm

#include "bench.h"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/parallel_reduce.h>
#include <oneapi/tbb/partitioner.h>
#include <oneapi/tbb/task_group.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

namespace {

const char *const IMPL = "tbb";

// ===== fib: one task_group per call, one child run, the other inline =====

long fib(int n)
{
    if (n < 2)
        return n;
    long x = 0, y = 0;
    tbb::task_group g;
    g.run([&] { x = fib(n - 1); });
    y = fib(n - 2);
    g.wait();
    return x + y;
}

void run_fib(int argc, char **argv, int threads)
{
    int n = int(bench_arg_long(argc, argv, "n", 35));
    std::string cas = std::to_string(n);
    long got = 0;
    bench_reps r;
    fib(20);  // warm up: start the workers
    bench_reps_init(&r, int(bench_arg_long(argc, argv, "reps", 5)),
                    bench_arg_double(argc, argv, "max_secs", 10));
    while (bench_reps_more(&r)) {
        bench_mark m0 = bench_mark_now();
        got = fib(n);
        bench_reps_add_since(&r, m0);
    }
    if (got != bench_fib_value(n))
        bench_die("fib(%d) = %ld, expected %ld", n, got, bench_fib_value(n));
    bench_reps_emit(&r, "fib", IMPL, "task_group", cas.c_str(), threads, "secs", 1.0);
    bench_reps_emit_also(&r, "fib", IMPL, "task_group", cas.c_str(), threads, "ns_per_spawn",
                         1e9 / double(bench_fib_calls(n)));
}

// ===== uneven loop: parallel_for with three partitioners ==================

struct uneven_ctx {
    int threads, reps;
    double max_secs;
};

void uneven_case(bench_uneven *u, void *vctx)
{
    const uneven_ctx &c = *static_cast<uneven_ctx *>(vctx);
    using range = tbb::blocked_range<size_t>;
    auto body = [u](const range &r) { bench_uneven_range(u, r.begin(), r.end()); };
    // auto: the default (grain 1, splits more where threads steal);
    // simple,64: split down to 64 iterations, like OpenMP's dynamic,64;
    // static: one even split per thread, like schedule(static).
    const char *const names[] = {"auto", "simple,64", "static"};
    for (int v = 0; v < 3; v++) {
        bench_reps r;
        bench_reps_init(&r, c.reps, c.max_secs);
        while (bench_reps_more(&r)) {
            bench_uneven_reset(u);
            bench_mark m0 = bench_mark_now();
            if (v == 0)
                tbb::parallel_for(range(0, u->n), body, tbb::auto_partitioner());
            else if (v == 1)
                tbb::parallel_for(range(0, u->n, 64), body, tbb::simple_partitioner());
            else
                tbb::parallel_for(range(0, u->n), body, tbb::static_partitioner());
            bench_reps_add_since(&r, m0);
        }
        char sum[32];
        std::snprintf(sum, sizeof sum, "%016llx",
                      static_cast<unsigned long long>(bench_uneven_checksum(u)));
        bench_reps_emit(&r, "uneven", IMPL, names[v], u->name, c.threads, "secs", 1.0);
        bench_emit_str("uneven", IMPL, names[v], u->name, c.threads, "checksum", sum);
    }
}

void run_uneven(int argc, char **argv, int threads)
{
    uneven_ctx c = {threads, int(bench_arg_long(argc, argv, "reps", 3)),
                    bench_arg_double(argc, argv, "max_secs", 3)};
    double work = bench_arg_double(argc, argv, "work", 0);
    if (work <= 0)
        work = bench_work_calibrate();
    fib(10);  // start the workers outside the timed region
    bench_uneven_foreach(bench_arg_str(argc, argv, "dists", "ramp,geom,random"),
                         bench_arg_str(argc, argv, "sizes", "1e4,1e5,1e6"),
                         bench_arg_double(argc, argv, "target", 0.25), work, uneven_case, &c);
}

// ===== sum: parallel_reduce and parallel_deterministic_reduce ============

void run_sum(int argc, char **argv, int threads)
{
    size_t n = size_t(bench_arg_long(argc, argv, "n", 100000000));
    double *a = bench_sum_input(n);
    char cas[24];
    bench_size_name(n, cas, sizeof cas);
    using range = tbb::blocked_range<size_t>;
    // The same left-to-right loop as bench_sum_seq, continuing from `s`.
    auto leaf = [a](const range &r, double s) {
        for (size_t i = r.begin(); i != r.end(); ++i)
            s += a[i];
        return s;
    };
    // The deterministic variant needs a grain (its simple_partitioner would
    // otherwise split down to single elements): the leaf size parx_reduce
    // picks for grain 0, max(64, ceil(n / 2048)), so both cut the same leaves.
    size_t grain = (n + 2047) / 2048;
    if (grain < 64)
        grain = 64;
    fib(10);  // start the workers
    for (int v = 0; v < 2; v++) {
        const char *name = v == 0 ? "parallel_reduce" : "deterministic_reduce";
        double s = 0.0;
        bench_reps r;
        bench_reps_init(&r, int(bench_arg_long(argc, argv, "reps", 5)),
                        bench_arg_double(argc, argv, "max_secs", 5));
        while (bench_reps_more(&r)) {
            bench_mark m0 = bench_mark_now();
            if (v == 0)
                s = tbb::parallel_reduce(range(0, n), 0.0, leaf, std::plus<double>());
            else
                s = tbb::parallel_deterministic_reduce(range(0, n, grain), 0.0, leaf,
                                                       std::plus<double>());
            bench_reps_add_since(&r, m0);
        }
        bench_reps_emit(&r, "sum", IMPL, name, cas, threads, "secs", 1.0);
        bench_sum_emit_result(IMPL, name, cas, threads, s, a, n);
    }
    std::free(a);
}

// ===== latency: task_group.run(empty) + wait() from main ==================
// The main thread is not a TBB worker, but in TBB it may run the task itself
// inside wait(); that is part of what is measured, as for parx_wait.

void spawn_wait_once(void *)
{
    tbb::task_group g;
    g.run([] { bench_empty(nullptr); });
    g.wait();
}

void run_latency(int argc, char **argv, int threads)
{
    long iters = bench_arg_long(argc, argv, "iters", 100000);
    bench_reps r;
    bench_reps_init(&r, int(bench_arg_long(argc, argv, "reps", 5)),
                    bench_arg_double(argc, argv, "max_secs", 5));
    for (int rep = -1; rep < 0 || bench_reps_more(&r); rep++) {  // rep -1: warm-up
        bench_mark m0 = bench_mark_now();
        for (long i = 0; i < iters; i++)
            spawn_wait_once(nullptr);
        if (rep >= 0)
            bench_reps_add_since(&r, m0);
    }
    bench_reps_emit(&r, "latency", IMPL, "task_group", "empty", threads, "ns", 1e9 / double(iters));
    bench_latency_after_sleep(
        IMPL, "task_group", threads, bench_arg_long(argc, argv, "sleep_iters", 100),
        int(bench_arg_long(argc, argv, "sleep_reps", 3)),
        uint64_t(bench_arg_double(argc, argv, "gap", 2e-3) * 1e9), spawn_wait_once, nullptr);
}

// ===== idle: CPU of TBB's workers after work ==============================

void run_idle(int argc, char **argv, int threads)
{
    // ~20 ms of work, then TBB is left alone.
    tbb::parallel_for(size_t(0), size_t(20000), [](size_t i) { bench_work(i, 1000); });
    bench_idle_measure(IMPL, "after-work", threads, bench_arg_double(argc, argv, "settle", 0.1),
                       bench_arg_double(argc, argv, "window", 1.0));
}

}  // namespace

int main(int argc, char **argv)
{
    const char *b = argc > 1 ? argv[1] : "";
    int threads = int(bench_arg_long(argc, argv, "threads", 2));
    tbb::global_control gc(tbb::global_control::max_allowed_parallelism, size_t(threads));
    if (std::strcmp(b, "fib") == 0)
        run_fib(argc, argv, threads);
    else if (std::strcmp(b, "uneven") == 0)
        run_uneven(argc, argv, threads);
    else if (std::strcmp(b, "sum") == 0)
        run_sum(argc, argv, threads);
    else if (std::strcmp(b, "latency") == 0)
        run_latency(argc, argv, threads);
    else if (std::strcmp(b, "idle") == 0)
        run_idle(argc, argv, threads);
    else
        bench_die("usage: %s fib|uneven|sum|latency|idle [threads=T] [key=value ...]", argv[0]);
    return 0;
}
