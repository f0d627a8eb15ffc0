/* SPDX-License-Identifier: MIT */
/* tests/run_cpus.c -- parx_run's AUTO where the CPUs outnumber the jobs
   left: as many workers as jobs left, the caller among them. It started
   one more, a pool thread no job could reach, and its report said so
   (found in review). A 2-CPU machine never shows it, so this process is
   told it may run on 8 CPUs: this unit defines sched_getaffinity, which
   parx asks, whatever the machine has. A cgroup CPU limit still caps that
   count (below 2 CPUs the test is skipped: AUTO runs no thread there). */
#define _GNU_SOURCE
#include <sched.h>
#include <string.h>
#include <time.h>

int sched_getaffinity(pid_t pid, size_t size, cpu_set_t *set)
{
    (void)pid;
    memset(set, 0, size);
    for (int c = 0; c < 8; c++)
        CPU_SET_S(c, size, set);
    return 0;
}

#include "parx.h"
#include "parx_test.h"

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* A job of *ctx nanoseconds, of CPU: busy, not asleep */
static int job_busy(void *ctx, size_t i, parx_rng *rng, void *out)
{
    (void)i, (void)rng, (void)out;
    uint64_t t0 = now_ns();
    while ((double)(now_ns() - t0) < *(const double *)ctx) {
    }
    return 0;
}

/* 4 jobs of 5 ms, a thread start of 20 us: threads, with at most as many
   workers as jobs are left after the one AUTO times first. */
static void test_workers_at_most_jobs_left(void)
{
    enum { n = 4 };
    parx_probe pr;
    parx_probe_defaults(&pr);
    if (pr.cpus < 2) PT_SKIP("a cgroup CPU limit below 2 CPUs: AUTO runs every job on the caller");
    pr.thread_start_ns = 20000;
    pr.measured = true;
    double job_ns = 5e6;
    parx_run_report rep;
    int rc = parx_run(n, job_busy, &job_ns, NULL, &(parx_run_desc){.probe = &pr}, &rep);
    CHECK_EQ(rc, 0);
    CHECK_MSG(rep.exec == PARX_EXEC_THREADS, "chose %s: %s", parx_exec_name(rep.exec), rep.reason);
    CHECK_MSG(rep.workers >= 2 && (size_t)rep.workers <= n - rep.first,
              "%d workers for the %zu jobs left: %s", rep.workers, n - rep.first, rep.reason);
    pt_diag("%s", rep.reason);
}

int main(void)
{
    pt_run("auto with more CPUs than jobs: no more workers than jobs left",
           test_workers_at_most_jobs_left);
    return pt_done_testing();
}
