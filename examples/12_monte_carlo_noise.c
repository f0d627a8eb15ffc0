/* examples/12_monte_carlo_noise.c -- a Monte Carlo study over K noise
   samples whose solve times vary tenfold, run by parx_run on every backend
   and on the one it picks itself.

   Teaches: the job runner (parx_run). Each sample is a steady heat
   equation, -(a(x) u')' = f(x) on [0, 1] with u = 0 at both ends, whose
   conductivity a(x) is random noise with a contrast c between 1 and 10 and
   whose source f(x) is noisy too. A stiffer sample (larger c) gets more
   Gauss-Seidel sweeps, in proportion to c, so sample times vary tenfold.
   The quantity of interest is the temperature in the middle, u(1/2): its
   mean and standard error over the K samples.
   - One job per sample: solve(ctx, k, rng, out). rng is the stream
     parx_rng_for(SEED, k) wherever the job runs (a thread, a forked or a
     spawned process), so sample k draws the same noise on every backend,
     and its result goes to its own slot of .out: the results are compared
     bit for bit (exit 1 if any backend differs from the sequential run).
   - The contrast is the sample's first draw, so its cost is known before it
     runs: .cost hands parx_run those hints, and it starts the longest
     samples first, so no worker is left with a long one at the end.
   - ctx (the problem's sizes) is plain data: .ctx_size copies it into the
     process pool's shared arena, which is all a spawned worker can see.
   - PARX_EXEC_AUTO runs the first samples on the caller while it times
     them and, once the machine's overheads (a probe) say that what is left
     would finish sooner on threads, starts them beside it (processes only
     when jobs ask for isolation); report.reason says what it chose and why.
   For K = 10, 20, 40 and 50 it prints, per backend, the time, the speedup
   over sequential and the efficiency (speedup / workers).

   Build (from examples/):
       cc -O2 -pthread -I.. 12_monte_carlo_noise.c ../parx.c -luring -lm -o mc_noise
       (without liburing: add -DPARX_NO_URING and leave out -luring)
   Run:
       ./mc_noise [scale]              every backend (scale 1: samples of 1-10 ms)
       ./mc_noise --auto-only [scale]  the demo: measure this machine (a probe),
                                       then auto only, against sequential
       ./mc_noise --bench [--reps N] [scale]
                                       one line per backend and K for bench/run:
                                       "mc_K<K> <backend> <workers> <seconds>"
       ./mc_noise --probe ...          measure the probe for auto (default: the
                                       figures of $PARX_PROBE, or built-in ones)
   A smaller scale makes every sample shorter (CI runs 0.01).

   Expected output on 2 CPUs (times vary, the bits do not):
       K = 10 samples, 1.3-9.5 ms each, 58 ms in all
         backend     workers      time   speedup  efficiency
         sequential        1   0.058 s      1.00        1.00
         threads           2   0.031 s      1.87        0.94
         fork              2   0.034 s      1.71        0.85
         spawn             2   0.036 s      1.61        0.81
         auto              2   0.034 s      1.71        0.85
           auto: threads: 2 workers; mean job 1.3 ms over the first 1; the 9 left: ...
         u(1/2) = 0.0588 +- 0.0032 (mean +- std. error); same bits on every backend
       ...
   and with --auto-only, first the probe (parx_probe_format's table), then
   the sequential and auto rows for each K, then:
       K = 10, 20, 40, 50 in all: sequential 0.539 s, auto 0.281 s: speedup 1.92
*/
#define _GNU_SOURCE /* clock_gettime with -std=c11 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "parx.h"

#define SEED 20261121u
#define GRID 64 /* interior grid points of one sample */

/* The job's context: plain data (no pointers), so that .ctx_size can copy
   it to a spawned worker. */
typedef struct problem {
    double sweeps_per_unit; /* Gauss-Seidel sweeps per unit of contrast */
} problem;

/* One sample's result. */
typedef struct sample_out {
    double u_mid; /* temperature at x = 1/2 */
    double flux;  /* heat flux out through x = 0 */
} sample_out;

/* The sample's contrast, its first draw: the cost hint reads it too. */
static double contrast(parx_rng *rng)
{
    return 1.0 + 9.0 * parx_rng_uniform(rng);
}

/* The job: solve sample k. rng is parx_rng_for(SEED, k) on every backend. */
static int solve(void *ctx, size_t k, parx_rng *rng, void *out)
{
    (void)k; /* everything about sample k comes from its stream */
    const problem *pb = ctx;
    double c = contrast(rng);
    int sweeps = (int)(pb->sweeps_per_unit * c);
    double a[GRID + 1], f[GRID + 2], u[GRID + 2];
    for (int i = 0; i <= GRID; i++) /* conductivity of the face between i and i+1 */
        a[i] = exp(log(c) * parx_rng_uniform(rng));
    for (int i = 0; i < GRID + 2; i++) {
        f[i] = 1.0 + (parx_rng_uniform(rng) - 0.5); /* a noisy source */
        u[i] = 0.0;
    }
    const double h2 = 1.0 / ((GRID + 1.0) * (GRID + 1.0));
    for (int s = 0; s < sweeps; s++) /* Gauss-Seidel on the 3-point stencil */
        for (int i = 1; i <= GRID; i++)
            u[i] = (a[i - 1] * u[i - 1] + a[i] * u[i + 1] + h2 * f[i]) / (a[i - 1] + a[i]);
    sample_out *o = out;
    o->u_mid = u[(GRID + 1) / 2];
    o->flux = a[0] * u[1] * (GRID + 1.0);
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One parx_run of K samples on `exec`, timed; results into out. Returns
   parx_run's value (the number of failed samples, or a negative error). */
static int run_on(parx_exec exec, size_t K, problem *pb, const double *cost, const parx_probe *pr,
                  sample_out *out, double *secs, parx_run_report *rep)
{
    parx_run_desc d = {
        .exec = exec,
        .seed = SEED,            /* sample k's rng: parx_rng_for(SEED, k) */
        .cost = cost,            /* longest first */
        .out = out,              /* sample k writes out[k] ... */
        .out_size = sizeof *out, /* ... of this size */
        .ctx_size = sizeof *pb,  /* processes: copy *pb to the shared arena */
        .probe = pr,             /* AUTO: this machine's overheads (NULL: built in) */
    };
    memset(out, 0, K * sizeof *out);
    double t0 = now();
    int rc = parx_run(K, solve, pb, NULL, &d, rep);
    *secs = now() - t0;
    return rc;
}

/* Prints the probe's table: every overhead, and the job time above which
   each backend beats sequential (parx_probe_format). */
static void print_probe(const parx_probe *p)
{
    char table[4096];
    if (parx_probe_format(p, table, sizeof table) > 0)
        fputs(table, stdout);
}

int main(int argc, char **argv)
{
    int auto_only = 0, bench = 0, measure = 0, reps = 1, reps_given = 0;
    double scale = 1.0;
    int bad_args = 0, scale_given = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--auto-only"))
            auto_only = measure = 1;
        else if (!strcmp(argv[i], "--bench"))
            bench = 1;
        else if (!strcmp(argv[i], "--probe"))
            measure = 1;
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = whole_number(argv[++i]), reps_given = 1;
        else if (scale_given++ || (scale = real_number(argv[i])) <= 0 || scale > 100)
            bad_args = 1; /* not a number, out of range, or a second scale */
    }
    /* --auto-only and --bench are two ways to run, and --reps counts bench runs */
    if (auto_only && bench) bad_args = 1;
    if (reps_given && !bench) bad_args = 1;
    if (bad_args || reps < 1) { /* after the loop: --reps may come last */
        fprintf(stderr, "usage: %s [--auto-only | --bench [--reps N]] [--probe] [scale]\n",
                argv[0]);
        return 2;
    }
    /* About 4 ns per grid point and sweep: 1 ms per unit of contrast at scale 1. */
    problem pb = {.sweeps_per_unit = 4000.0 * scale};
    if (pb.sweeps_per_unit < 1)
        pb.sweeps_per_unit = 1;

    /* The probe: this machine's overheads, measured (about a second), for AUTO. */
    parx_probe probe, *pr = NULL;
    if (measure) {
        double t0 = now();
        int rc = parx_probe_measure(&probe, 0);
        if (rc != 0) {
            fprintf(stderr, "parx_probe_measure: %s\n", parx_strerror(rc));
            return 1;
        }
        pr = &probe;
        if (auto_only) {
            printf("probe measured in %.2f s\n", now() - t0);
            print_probe(pr);
            printf("\n");
        }
    }

    const size_t Ks[4] = {10, 20, 40, 50};
    const parx_exec all[5] = {PARX_EXEC_SEQ, PARX_EXEC_THREADS, PARX_EXEC_FORK, PARX_EXEC_SPAWN,
                              PARX_EXEC_AUTO};
    sample_out *ref = malloc(50 * sizeof *ref), *out = malloc(50 * sizeof *out);
    double *cost = malloc(50 * sizeof *cost);
    if (!ref || !out || !cost)
        return 1;
    int bad = 0;
    double sum_seq = 0, sum_auto = 0; /* over every K, for the demo's last line */
    for (int ki = 0; ki < 4; ki++) {
        size_t K = Ks[ki];
        double lo = 1e300, hi = 0, sum = 0;
        for (size_t k = 0; k < K; k++) { /* the cost hints: each sample's contrast */
            parx_rng r = parx_rng_for(SEED, k);
            cost[k] = contrast(&r);
            lo = cost[k] < lo ? cost[k] : lo;
            hi = cost[k] > hi ? cost[k] : hi;
            sum += cost[k];
        }
        int differ = 0;
        double t_seq = 0;
        int printed_head = 0;
        for (int b = 0; b < 5; b++) {
            parx_exec e = all[b];
            if (auto_only && e != PARX_EXEC_SEQ && e != PARX_EXEC_AUTO)
                continue;
            parx_run_report rep;
            double best = 1e300, secs;
            int rc = 0;
            for (int r = 0; r < reps && rc == 0; r++) { /* best of reps */
                rc = run_on(e, K, &pb, cost, pr, e == PARX_EXEC_SEQ ? ref : out, &secs, &rep);
                best = secs < best ? secs : best;
            }
            if (rc == -ENOTSUP) { /* built with PARX_NO_PROC */
                if (!bench)
                    printf("  %-10s  skipped: processes are compiled out (PARX_NO_PROC)\n",
                           parx_exec_name(e));
                continue;
            }
            if (rc != 0) {
                fprintf(stderr, "K = %zu, %s: %s\n", K, parx_exec_name(e),
                        rc < 0 ? parx_strerror(rc) : "samples failed");
                bad = 1;
                continue;
            }
            int same = e == PARX_EXEC_SEQ || memcmp(out, ref, K * sizeof *out) == 0;
            int w = e == PARX_EXEC_SEQ ? 1 : rep.workers;
            if (e == PARX_EXEC_SEQ)
                t_seq = best, sum_seq += best;
            if (e == PARX_EXEC_AUTO)
                sum_auto += best;
            if (!same) {
                fprintf(stderr, "K = %zu: %s gave DIFFERENT results from sequential\n", K,
                        parx_exec_name(e));
                bad = differ = 1;
            }
            if (bench) {
                printf("mc_K%zu %s %d %.6f\n", K, parx_exec_name(e), w, best);
                continue;
            }
            if (!printed_head) {
                printf("K = %zu samples, %.1f-%.1f ms each, %.0f ms in all\n", K,
                       t_seq * 1e3 * lo / sum, t_seq * 1e3 * hi / sum, t_seq * 1e3);
                printf("  %-10s  %7s  %8s  %8s  %10s\n", "backend", "workers", "time", "speedup",
                       "efficiency");
                printed_head = 1;
            }
            double sp = t_seq / best;
            printf("  %-10s  %7d  %6.3f s  %8.2f  %10.2f\n", parx_exec_name(e), w, best, sp,
                   sp / w);
            if (e == PARX_EXEC_AUTO)
                printf("    auto: %s%s\n", rep.fallback ? "(fell back) " : "", rep.reason);
        }
        if (!bench) { /* the study's answer, from the sequential run */
            double s = 0, s2 = 0;
            for (size_t k = 0; k < K; k++)
                s += ref[k].u_mid, s2 += ref[k].u_mid * ref[k].u_mid;
            double mean = s / K, var = (s2 / K - mean * mean) * K / (K - 1.0);
            printf("  u(1/2) = %.4f +- %.4f (mean +- std. error); %s\n\n", mean,
                   sqrt(var > 0 ? var / K : 0),
                   differ ? "results DIFFER" : "same bits on every backend");
        }
    }
    if (auto_only && sum_auto > 0)
        printf("K = 10, 20, 40, 50 in all: sequential %.3f s, auto %.3f s: speedup %.2f\n", sum_seq,
               sum_auto, sum_seq / sum_auto);
    free(ref), free(out), free(cost);
    return bad;
}
