/* examples/07_procs_retries.c -- a sweep whose jobs crash now and then, and
   still completes.

   Teaches: crash isolation in the process pool. One job in ten segfaults
   the first time it runs (as a fragile library might); its worker process
   dies, the pool notices, starts a new worker and runs the job again
   (.retries = 2). The other jobs never notice. parx_job_result says, per
   job, how many attempts it took and what ended the failed one. One job is
   hopeless and crashes every time: after 1 + 2 attempts it is reported as
   PARX_E_CRASHED with its signal, and the sweep goes on without it.
   The state that lets a job know it crashed before (`runs`) is in the
   arena, where every worker sees it.

   Build (from examples/):
       cc -O2 -pthread -I.. 07_procs_retries.c ../parx.c -luring -o procs_retries
       (without liburing: add -DPARX_NO_URING and leave out -luring)
   Run:
       ./procs_retries [jobs]            (default 100)

   Expected output (which worker ran what varies, and so does the count of
   workers started: 2 + one per crash, 15, once the replacements are all up,
   but the last ones may still be starting when the count is read; the rest
   does not):
       100 jobs on 2 workers, one in ten crashes on its first attempt
       job  3: done after 2 attempts (attempt 1 died of signal 11, Segmentation fault)
       job 13: done after 2 attempts (attempt 1 died of signal 11, Segmentation fault)
       ...
       job 42: FAILED after 3 attempts: the job's worker process was killed by a signal (signal 11)
       99 of 100 jobs done, 10 needed a retry; 15 workers started in all
*/
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parx.h"

typedef struct job {
    int index;
    _Atomic int runs; /* attempts so far: shared, so it survives the crash */
    double result;
} job;

static volatile uintptr_t page_zero = 16; /* volatile: the compiler cannot see the fault coming */

static void crash(void)
{
    signal(SIGSEGV, SIG_DFL);            /* the default action, even under sanitizers */
    *(volatile int *)page_zero = 1;      /* a real segmentation fault */
}

static int fragile(void *arg)
{
    job *j = arg;
    int run = atomic_fetch_add(&j->runs, 1) + 1;
    if (j->index == 42) crash();                 /* always */
    if (j->index % 10 == 3 && run == 1) crash(); /* the first time only */
    j->result = j->index * 0.5;
    return 0;
}

int main(int argc, char **argv)
{
    int n = 100;
    if (argc > 1) { /* the whole argument a number in range: not "abc" or "5x" */
        char *end;
        errno = 0;
        long v = strtol(argv[1], &end, 10);
        n = end == argv[1] || *end || errno || v < 1 || v > 1000000 ? 0 : (int)v;
    }
    if (argc > 2 || n < 1 || n > 1000000) {
        fprintf(stderr, "usage: %s [jobs 1..1000000]\n", argv[0]);
        return 2;
    }
    parx_procs *pp = parx_procs_create(&(parx_procs_desc){.retries = 2});
    if (!pp) {
        fprintf(stderr, "parx_procs_create: %s\n", parx_strerror(-errno));
        return 1;
    }
    job *jobs = parx_arena_alloc(parx_procs_arena(pp), (size_t)n * sizeof *jobs, 0);
    void **args = malloc((size_t)n * sizeof *args);
    parx_job_result *r = malloc((size_t)n * sizeof *r);
    int status = 1;
    if (!jobs || !args || !r) {
        fprintf(stderr, "out of memory\n");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        jobs[i].index = i;
        atomic_init(&jobs[i].runs, 0);
        jobs[i].result = 0;
        args[i] = &jobs[i];
    }
    printf("%d jobs on %d workers, one in ten crashes on its first attempt\n", n,
           parx_procs_size(pp));
    /* The number of jobs that failed, or a negative error: then r[] was not
       filled in, and nothing may be read from it. */
    int failed = parx_procs_map(pp, fragile, args, (size_t)n, r);
    if (failed < 0) {
        fprintf(stderr, "parx_procs_map: %s\n", parx_strerror(failed));
        goto out;
    }

    int retried = 0, done = 0, wrong = 0;
    for (int i = 0; i < n; i++) {
        if (r[i].status == 0) {
            done++;
            wrong += jobs[i].result != i * 0.5;
        }
        if (r[i].attempts > 1 && r[i].status == 0) {
            retried++;
            printf("job %2d: done after %d attempts (attempt %d died of signal %d, %s)\n", i,
                   r[i].attempts, r[i].attempts - 1, r[i].signal, strsignal(r[i].signal));
        } else if (r[i].status != 0) {
            printf("job %2d: FAILED after %d attempts: %s (signal %d)\n", i, r[i].attempts,
                   parx_strerror(r[i].status), r[i].signal);
        }
    }
    parx_procs_info info;
    int err = parx_procs_stats(pp, &info);
    if (err != 0) {
        fprintf(stderr, "parx_procs_stats: %s\n", parx_strerror(err));
        goto out;
    }
    printf("%d of %d jobs done, %d needed a retry; %llu workers started in all\n", done, n,
           retried, (unsigned long long)info.started);
    /* exactly the hopeless job fails (when there is one), and no result is wrong */
    status = failed == (n > 42) && wrong == 0 ? 0 : 1;
out:
    free(args);
    free(r);
    parx_procs_destroy(pp); /* the jobs, in its arena, go with it */
    return status;
}
