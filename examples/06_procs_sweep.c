/* examples/06_procs_sweep.c -- one parameter sweep, run by worker processes
   started with fork and with spawn, and by this process alone.

   Teaches: the process pool (parx_procs_*). Each job integrates a damped,
   driven oscillator for one (damping, drive) pair and writes its final
   energy. The jobs' inputs and outputs live in the pool's arena, so
   handing a job to a worker process copies nothing: the job is a function
   and a pointer into shared memory.
   - PARX_START_FORK: a fork server is forked from this process at create,
     and forks the workers; they inherit everything this process had then.
     Cheapest, but create such pools before starting threads.
   - PARX_START_SPAWN: the fork server is this program started afresh
     (posix_spawn of /proc/self/exe); parx takes it over before main runs.
     Safe in a threaded program, and its cost does not grow with this
     process's memory. Job functions are found by their offset in the
     program, so address-space randomisation does not matter.
   Both give the same bits as the sequential loop: a job is the same code on
   the same inputs wherever it runs. Exit status 1 if they differ.

   Build (from examples/):
       cc -O2 -pthread -I.. 06_procs_sweep.c ../parx.c -luring -lm -o procs_sweep
       (without liburing: add -DPARX_NO_URING and leave out -luring)
   Run:
       ./procs_sweep [grid] [steps]      (default a 24 x 24 grid, 200000 steps)

   Expected output (times vary with the machine; the energies and "same
   bits" do not):
       576 jobs (24 x 24 parameters, 200000 steps each) on 2 workers
       sequential           1.338 s
       fork  mode   1.4 ms start,  0.713 s sweep   same bits: yes
       spawn mode   2.5 ms start,  0.677 s sweep   same bits: yes
       energy at (damping 0.010, drive 1.00): 9.695740
*/
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parx.h"

typedef struct params {
    double damping, drive; /* inputs */
    int steps;
    double energy;         /* output */
} params;

/* The job: runs in a worker; `arg` points into the arena. */
static int oscillate(void *arg)
{
    params *p = arg;
    double x = 1.0, v = 0.0, dt = 1e-3;
    for (int i = 0; i < p->steps; i++) { /* semi-implicit Euler */
        double t = i * dt;
        v += dt * (-x - p->damping * v + p->drive * cos(1.1 * t));
        x += dt * v;
    }
    p->energy = 0.5 * (x * x + v * v);
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    int grid = 24, steps = 200000;
    for (int i = 1; i < argc && i <= 2; i++) { /* whole numbers only: not "abc" or "2x" */
        char *end;
        errno = 0;
        long v = strtol(argv[i], &end, 10);
        if (end == argv[i] || *end || errno || v < 0 || v > 1000000000) v = -1;
        *(i == 1 ? &grid : &steps) = (int)v;
    }
    if (argc > 3 || grid < 1 || grid > 1000 || steps < 1) {
        fprintf(stderr, "usage: %s [grid 1..1000] [steps 1..1000000000]\n", argv[0]);
        return 2;
    }
    size_t n = (size_t)grid * (size_t)grid;

    /* The sequential reference, in private memory. */
    params *ref = calloc(n, sizeof *ref);
    if (!ref) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        ref[i].damping = 0.01 + 0.02 * (double)(i / (size_t)grid);
        ref[i].drive = 1.0 + 0.1 * (double)(i % (size_t)grid);
        ref[i].steps = steps;
    }
    double t0 = now();
    for (size_t i = 0; i < n; i++) oscillate(&ref[i]);
    double t_seq = now() - t0;

    int status = 0;
    const parx_start modes[2] = {PARX_START_FORK, PARX_START_SPAWN};
    const char *names[2] = {"fork ", "spawn"};
    for (int m = 0; m < 2 && status == 0; m++) {
        t0 = now();
        parx_procs *pp = parx_procs_create(&(parx_procs_desc){.start = modes[m]});
        double t_start = now() - t0;
        if (!pp) {
            fprintf(stderr, "parx_procs_create: %s\n", parx_strerror(-errno));
            status = 1;
            break;
        }
        if (m == 0)
            printf("%zu jobs (%d x %d parameters, %d steps each) on %d workers\n"
                   "sequential          %6.3f s\n",
                   n, grid, grid, steps, parx_procs_size(pp), t_seq);

        /* Inputs go into the arena; a job's argument is its pointer there. */
        params *p = parx_arena_alloc(parx_procs_arena(pp), n * sizeof *p, 0);
        void **args = malloc(n * sizeof *args);
        parx_job_result *r = malloc(n * sizeof *r);
        if (!p || !args || !r) {
            fprintf(stderr, "out of memory\n");
            free(args);
            free(r);
            parx_procs_destroy(pp); /* the arena, and p in it, go with the pool */
            status = 1;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            p[i] = ref[i];
            p[i].energy = 0;
            args[i] = &p[i];
        }
        t0 = now();
        /* The number of jobs that failed, or a negative error: then no
           result may be read. */
        int failed = parx_procs_map(pp, oscillate, args, n, r);
        double t_sweep = now() - t0;
        if (failed < 0)
            fprintf(stderr, "parx_procs_map: %s\n", parx_strerror(failed));
        else if (failed > 0)
            fprintf(stderr, "%d jobs failed\n", failed);
        int same = failed == 0;
        for (size_t i = 0; i < n && same; i++)
            same = memcmp(&p[i].energy, &ref[i].energy, sizeof(double)) == 0;
        printf("%s mode %5.1f ms start, %6.3f s sweep   same bits: %s\n", names[m],
               t_start * 1e3, t_sweep, same ? "yes" : "NO");
        status = same ? 0 : 1;
        free(args);
        free(r);
        parx_procs_destroy(pp); /* the arena, and p in it, go with the pool */
    }
    printf("energy at (damping %.3f, drive %.2f): %.6f\n", ref[0].damping, ref[0].drive,
           ref[0].energy);
    free(ref);
    return status;
}
