/* SPDX-License-Identifier: MIT */
/*
    bench/bench_runner.c -- the probe's figures and the job runner on tiny jobs.

        bench_runner probe   parx_probe_measure (every figure, and the break-even
                             job time of each backend for n = 10, 100, 1000)
        bench_runner tiny    parx_run on jobs too short for parallel work to pay
                             (and one size where it just does): sequential,
                             threads and auto, each timed around the whole call,
                             pool start included

    Both print RES lines (bench/bench.h) for bench/report.awk. The tiny jobs
    are bench_work loops calibrated to a job time, not clock reads, so every
    backend runs the same instructions. auto uses what a user gets by default
    (parx's built-in figures, or PARX_PROBE when set).

    Options: reps=N (default 200 for tiny: its times are microseconds).
*/
#define _GNU_SOURCE
#include "bench.h"

#include "parx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void probe(void)
{
    parx_probe p;
    int rc = parx_probe_measure(&p, 0);
    if (rc < 0) bench_die("parx_probe_measure: %s\n", parx_strerror(rc));
    const struct {
        const char *name;
        double v;
    } figs[] = {
        {"thread_start", p.thread_start_ns}, {"task", p.task_ns},
        {"thread_job", p.thread_job_ns},     {"fork_start", p.fork_start_ns},
        {"spawn_start", p.spawn_start_ns},   {"proc_job", p.proc_job_ns},
        {"proc_rt", p.proc_rt_ns},           {"arena_attach", p.arena_attach_ns},
    };
    for (size_t k = 0; k < sizeof figs / sizeof figs[0]; k++)
        bench_emit("probe", "parx", figs[k].name, "-", p.cpus, "ns", figs[k].v);
    const parx_exec be[] = {PARX_EXEC_THREADS, PARX_EXEC_FORK, PARX_EXEC_SPAWN};
    const size_t ns[] = {10, 100, 1000};
    for (size_t b = 0; b < 3; b++)
        for (size_t k = 0; k < 3; k++) {
            char cas[16];
            snprintf(cas, sizeof cas, "n=%zu", ns[k]);
            bench_emit("probe", "break_even", parx_exec_name(be[b]), cas, p.cpus, "ns",
                       parx_run_break_even(&p, be[b], ns[k], 0));
        }
}

typedef struct tiny_ctx {
    uint64_t iters; /* bench_work iterations per job */
} tiny_ctx;

static int tiny_job(void *ctx, size_t i, parx_rng *rng, void *out)
{
    (void)rng;
    *(uint64_t *)out = bench_work(i, ((const tiny_ctx *)ctx)->iters);
    return 0;
}

static void tiny(int reps)
{
    double per_iter = bench_work_calibrate();
    const struct {
        size_t n;
        double job_ns;
    } cases[] = {{10, 1000}, {100, 1000}, {1000, 100}, {100, 10000}, {1000, 10000}};
    const parx_exec execs[] = {PARX_EXEC_SEQ, PARX_EXEC_THREADS, PARX_EXEC_AUTO};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t n = cases[c].n;
        tiny_ctx ctx = {(uint64_t)(cases[c].job_ns * 1e-9 / per_iter + 0.5)};
        uint64_t *out = calloc(n, sizeof *out), *ref = calloc(n, sizeof *ref);
        if (!out || !ref) bench_die("out of memory\n");
        char cas[32];
        snprintf(cas, sizeof cas, "tiny_%zux%.0fus", n, cases[c].job_ns / 1e3);
        if (cases[c].job_ns < 1e3) snprintf(cas, sizeof cas, "tiny_%zux%.0fns", n, cases[c].job_ns);
        /* interleaved repetitions, so a disturbance hits every backend
           alike; the best of each is kept, as everywhere in bench/ */
        int workers[3] = {1, 0, 0};
        double best[3] = {1e30, 1e30, 1e30};
        for (int rep = 0; rep < reps; rep++) {
            for (int e = 0; e < 3; e++) {
                parx_run_report rr;
                memset(out, 0, n * sizeof *out); /* so a run that wrote nothing is caught */
                uint64_t t0 = bench_now_ns();
                int rc = parx_run(n, tiny_job, &ctx, NULL,
                                  &(parx_run_desc){.exec = execs[e], .out = out,
                                                   .out_size = sizeof *out},
                                  &rr);
                double s = (double)(bench_now_ns() - t0) * 1e-9;
                if (rc != 0) bench_die("parx_run(%s): %d\n", parx_exec_name(execs[e]), rc);
                if (e == 0 && rep == 0) memcpy(ref, out, n * sizeof *out);
                else if (memcmp(ref, out, n * sizeof *out) != 0)
                    bench_die("%s: results differ from sequential\n", cas);
                if (s < best[e]) {
                    best[e] = s;
                    workers[e] = rr.workers; /* of the run whose time is kept */
                }
                if (e == 2 && rep == 0) printf("# %s auto: %s\n", cas, rr.reason);
            }
        }
        for (int e = 0; e < 3; e++)
            printf("RES\trunner\t%s\t-\t%s\t%d\tsecs\t%.9f\n",
                   execs[e] == PARX_EXEC_SEQ ? "sequential" : parx_exec_name(execs[e]), cas,
                   workers[e], best[e]);
        free(out);
        free(ref);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) bench_die("usage: bench_runner probe|tiny [reps=N]\n");
    if (strcmp(argv[1], "probe") == 0) probe();
    else if (strcmp(argv[1], "tiny") == 0) tiny((int)bench_arg_long(argc, argv, "reps", 200));
    else bench_die("bench_runner: unknown benchmark %s\n", argv[1]);
    return 0;
}
