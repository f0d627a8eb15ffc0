/* examples/13_param_sweep.c -- a 3 x 3 x 3 parameter sweep and a 64-run
   worker-scaling sweep, with parx_run, and the scaling curve as CSV and SVG.

   Teaches: parx_run for a parameter sweep, and how to measure how well it
   scales. Each run integrates a damped, driven oscillator
       x'' + gamma x' + x = F cos(omega t)
   long enough to settle (16 / gamma time units: lightly damped runs take
   ten times longer than heavily damped ones), then records the amplitude it
   settled to, which the sweep prints beside the exact steady-state value
   F / sqrt((1 - omega^2)^2 + (gamma omega)^2) as a check.
   - Part 1: the 27 runs of gamma x F x omega, on sequential, threads and
     auto: time, speedup and efficiency (speedup / workers), and the table
     of amplitudes. A run's cost is known beforehand (proportional to
     1 / gamma), so .cost lets parx_run start the longest runs first.
   - Part 2: 64 runs (8 dampings x 8 frequencies) on threads with
     .workers = 1, 2, ... up to the CPUs this process may use: the speedup
     and efficiency curve, written to scaling.csv and drawn in scaling.svg
     (speedup against workers, beside the ideal line) with examples/plot.h,
     in DIR (default "."; one that is no folder this process can write in
     is refused before any work, exit 2).
   Every run's result must be bitwise identical on every backend and for
   every worker count: a run is the same arithmetic wherever it runs (exit 1
   if not; also if an amplitude is more than 1 % off the exact value).

   Build (from examples/):
       cc -O2 -pthread -I.. 13_param_sweep.c ../parx.c -luring -lm -o param_sweep
       (without liburing: add -DPARX_NO_URING and leave out -luring)
   Run:
       ./param_sweep [--out DIR] [scale]   scale 1: ~0.4 s of work for part 1,
                                           ~1 s for part 2; CI runs 0.01; from
                                           0.005 to 100 (a smaller scale takes
                                           longer steps: a rougher answer)
       ./param_sweep --bench [--reps N] [scale]
                                           one line per backend for bench/run:
                                           "sweep27 <backend> <workers> <seconds>",
                                           "scaling64 threads <workers> <seconds>"

   Expected output on 2 CPUs (times vary; amplitudes and bits do not):
       27 runs (gamma x F x omega), 0.36 s of work sequentially
         backend     workers      time   speedup  efficiency
         sequential        1   0.356 s      1.00        1.00
         threads           2   0.183 s      1.95        0.97
         auto              2   0.185 s      1.92        0.96
           auto: threads: 2 workers; ...
       amplitude (exact)        omega = 0.8        omega = 1.0        omega = 1.2
       gamma 0.05, F 0.5    1.381 (  1.380)    9.997 ( 10.000)    1.126 (  1.126)
       ...
       gamma 0.50, F 2.0    3.716 (  3.716)    4.000 (  4.000)    2.688 (  2.688)
       largest difference from the exact amplitude: 0.03 %

       64 runs (8 dampings x 8 frequencies), 0.74 s sequentially; on threads:
         workers      time   speedup  efficiency
               1   0.747 s      0.99        0.99
               2   0.378 s      1.96        0.98
       wrote ./scaling.csv and ./scaling.svg
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
#include "plot.h"

/* One run's parameters; its result is one double, the amplitude. */
typedef struct point {
    double gamma, force, omega;
} point;

/* The jobs' context. It holds a pointer to the caller's points, which is
   fine on threads (they share this memory) and on forked processes (parx_run
   forks them from the caller as it is at the call, so ctx is read where it
   is, and the points are there too). A spawned worker is a fresh program
   that sees only the pool's arena: for spawn, ctx would have to be plain
   data that .ctx_size copies there, as in examples/12_monte_carlo_noise.c. */
typedef struct sweep {
    const point *pts;
    double dt; /* time step */
} sweep;

/* The job: integrate run i to 16 / gamma (semi-implicit Euler), when the
   start has died away to e^-8 of itself, then two drive periods more, and
   keep the largest |x| over those: the settled amplitude. */
static int oscillate(void *ctx, size_t i, parx_rng *rng, void *out)
{
    (void)rng; /* a deterministic model: no noise */
    const sweep *sw = ctx;
    const point p = sw->pts[i];
    const double dt = sw->dt, t_keep = 16.0 / p.gamma, t_end = t_keep + 2 * 6.2831853 / p.omega;
    long steps = (long)(t_end / dt);
    double x = 0.0, v = 0.0, amp = 0.0;
    for (long s = 0; s < steps; s++) {
        double t = (double)s * dt;
        v += dt * (-x - p.gamma * v + p.force * cos(p.omega * t));
        x += dt * v;
        if (t >= t_keep && fabs(x) > amp)
            amp = fabs(x);
    }
    *(double *)out = amp;
    return 0;
}

static double exact(point p)
{
    double a = 1 - p.omega * p.omega, b = p.gamma * p.omega;
    return p.force / sqrt(a * a + b * b);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* n runs of `sw` on exec with `workers` (0: all), best time of reps; results
   in out. Returns parx_run's value: 0, failed runs, or a negative error. */
static int sweep_on(parx_exec exec, int workers, int reps, size_t n, sweep *sw, const double *cost,
                    double *out, double *secs, parx_run_report *rep)
{
    int rc = 0;
    *secs = 1e300;
    for (int r = 0; r < reps && rc == 0; r++) {
        memset(out, 0, n * sizeof *out);
        double t0 = now();
        rc = parx_run(n, oscillate, sw, NULL,
                      &(parx_run_desc){.exec = exec,
                                       .workers = workers,
                                       .cost = cost, /* longest first */
                                       .out = out,
                                       .out_size = sizeof *out},
                      rep);
        double t = now() - t0;
        *secs = t < *secs ? t : *secs;
    }
    return rc;
}

int main(int argc, char **argv)
{
    const char *dir = ".";
    int bench = 0, reps = 1;
    double scale = 1.0;
    int bad_args = 0, scale_given = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--bench"))
            bench = 1;
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = whole_number(argv[++i]);
        else if (scale_given++ || (scale = real_number(argv[i])) < 0.005 || scale > 100)
            bad_args = 1; /* not a number, out of range, or a second scale; below 0.005
                             the steps are too long for the 1 % check (0.002: 1.5 % off) */
    }
    if (bad_args || reps < 1) { /* after the loop: --reps may come last */
        fprintf(stderr, "usage: %s [--out DIR] [--bench [--reps N]] [scale]\n", argv[0]);
        return 2;
    }
    int werr = bench ? 0 : writable_dir(dir); /* before the work: a typo costs no run */
    if (werr) {
        fprintf(stderr, "%s: --out %s: %s\n", argv[0], dir, strerror(werr));
        return 2;
    }
    /* A smaller scale takes longer steps: fewer of them, a rougher answer. */
    sweep sw = {.dt = 1e-4 / scale};
    int bad = 0;

    /* ---- Part 1: 3 x 3 x 3 ---------------------------------------------- */
    const double gammas[3] = {0.05, 0.15, 0.5}, forces[3] = {0.5, 1.0, 2.0},
                 omegas[3] = {0.8, 1.0, 1.2};
    point pts[64];
    double cost[64], ref[64], out[64];
    for (int i = 0; i < 27; i++) {
        pts[i] = (point){gammas[i / 9], forces[i / 3 % 3], omegas[i % 3]};
        cost[i] = 1.0 / pts[i].gamma; /* steps are proportional to 1 / gamma */
    }
    sw.pts = pts;
    const parx_exec ex[3] = {PARX_EXEC_SEQ, PARX_EXEC_THREADS, PARX_EXEC_AUTO};
    double t_seq = 0;
    for (int b = 0; b < 3; b++) {
        parx_run_report rep;
        double secs;
        int rc = sweep_on(ex[b], 0, reps, 27, &sw, cost, b == 0 ? ref : out, &secs, &rep);
        if (rc != 0) {
            fprintf(stderr, "27 runs on %s: %s\n", parx_exec_name(ex[b]),
                    rc < 0 ? parx_strerror(rc) : "runs failed");
            return 1;
        }
        if (b > 0 && memcmp(out, ref, 27 * sizeof *out) != 0) {
            fprintf(stderr, "27 runs: %s gave DIFFERENT results from sequential\n",
                    parx_exec_name(ex[b]));
            bad = 1;
        }
        int w = b == 0 ? 1 : rep.workers;
        if (b == 0)
            t_seq = secs;
        if (bench) {
            printf("sweep27 %s %d %.6f\n", parx_exec_name(ex[b]), w, secs);
            continue;
        }
        if (b == 0)
            printf("27 runs (gamma x F x omega), %.2f s of work sequentially\n"
                   "  %-10s  %7s  %8s  %8s  %10s\n",
                   t_seq, "backend", "workers", "time", "speedup", "efficiency");
        printf("  %-10s  %7d  %6.3f s  %8.2f  %10.2f\n", parx_exec_name(ex[b]), w, secs,
               t_seq / secs, t_seq / secs / w);
        if (ex[b] == PARX_EXEC_AUTO)
            printf("    auto: %s%s\n", rep.fallback ? "(fell back) " : "", rep.reason);
    }
    double worst = 0; /* the largest relative error against the exact amplitude */
    for (int i = 0; i < 27; i++) {
        double e = fabs(ref[i] - exact(pts[i])) / exact(pts[i]);
        worst = e > worst ? e : worst;
    }
    if (!bench) {
        printf("amplitude (exact)");
        for (int k = 0; k < 3; k++)
            printf("        omega = %.1f", omegas[k]);
        for (int i = 0; i < 27; i++) {
            if (i % 3 == 0)
                printf("\ngamma %.2f, F %.1f", pts[i].gamma, pts[i].force);
            printf("  %7.3f (%7.3f)", ref[i], exact(pts[i]));
        }
        printf("\nlargest difference from the exact amplitude: %.2f %%\n\n", 100 * worst);
    }
    if (worst > 0.01) {
        fprintf(stderr, "an amplitude is %.1f %% off the exact value\n", 100 * worst);
        bad = 1;
    }

    /* ---- Part 2: 64 runs, 1, 2, ... workers ------------------------------- */
    for (int i = 0; i < 64; i++) { /* gamma 0.05 .. 0.5 (geometric), omega 0.6 .. 1.3 */
        pts[i] = (point){0.05 * pow(10.0, (i / 8) / 7.0), 1.0, 0.6 + 0.1 * (i % 8)};
        cost[i] = 1.0 / pts[i].gamma;
    }
    parx_probe machine;
    parx_probe_defaults(&machine); /* .cpus: the CPUs this process may use */
    int cpus = machine.cpus, counts[64], ncounts = 0;
    for (int w = 1; w <= cpus && ncounts < 63; w = cpus <= 16 ? w + 1 : 2 * w)
        counts[ncounts++] = w; /* 1, 2, 3, ... (1, 2, 4, 8, ... above 16 CPUs) */
    if (counts[ncounts - 1] != cpus)
        counts[ncounts++] = cpus;

    double secs, t_seq64, ws[64], speedup[64], eff[64];
    parx_run_report rep;
    int rc = sweep_on(PARX_EXEC_SEQ, 0, reps, 64, &sw, cost, ref, &t_seq64, &rep);
    if (rc != 0) {
        fprintf(stderr, "64 runs: %s\n", rc < 0 ? parx_strerror(rc) : "runs failed");
        return 1;
    }
    if (bench)
        printf("scaling64 sequential 1 %.6f\n", t_seq64);
    else
        printf("64 runs (8 dampings x 8 frequencies), %.2f s sequentially; on threads:\n"
               "  %7s  %8s  %8s  %10s\n",
               t_seq64, "workers", "time", "speedup", "efficiency");
    for (int c = 0; c < ncounts; c++) {
        rc = sweep_on(PARX_EXEC_THREADS, counts[c], reps, 64, &sw, cost, out, &secs, &rep);
        if (rc != 0) {
            fprintf(stderr, "64 runs on %d workers: %s\n", counts[c],
                    rc < 0 ? parx_strerror(rc) : "runs failed");
            return 1;
        }
        if (memcmp(out, ref, 64 * sizeof *out) != 0) {
            fprintf(stderr, "64 runs on %d workers: DIFFERENT results from sequential\n",
                    counts[c]);
            bad = 1;
        }
        ws[c] = counts[c];
        speedup[c] = t_seq64 / secs;
        eff[c] = speedup[c] / counts[c];
        if (bench)
            printf("scaling64 threads %d %.6f\n", counts[c], secs);
        else
            printf("  %7d  %6.3f s  %8.2f  %10.2f\n", counts[c], secs, speedup[c], eff[c]);
    }
    if (bench)
        return bad;

    /* The curve as CSV (for a spreadsheet) and SVG (for a browser). */
    char csv[4096], svg[4096];
    snprintf(csv, sizeof csv, "%s/scaling.csv", dir);
    snprintf(svg, sizeof svg, "%s/scaling.svg", dir);
    const char *names[4] = {"workers", "seconds", "speedup", "efficiency"};
    double times[64];
    for (int c = 0; c < ncounts; c++)
        times[c] = t_seq64 / speedup[c];
    const double *cols[4] = {ws, times, speedup, eff};
    rc = plot_csv_write(csv, 4, names, cols, (size_t)ncounts);
    plot_series s = {.name = "parx_run, threads", .x = ws, .y = speedup, .n = (size_t)ncounts};
    if (rc == 0)
        rc = plot_line_svg(svg, &(plot_line_desc){.title = "64-run sweep: speedup vs workers",
                                                  .x_label = "workers",
                                                  .y_label = "speedup over sequential",
                                                  .series = &s,
                                                  .nseries = 1,
                                                  .ideal = 1, /* the y = x line */
                                                  .log_x = cpus > 16 ? 2 : 0});
    if (rc != 0) {
        fprintf(stderr, "writing %s and %s: %s\n", csv, svg, parx_strerror(rc));
        return 1;
    }
    printf("wrote %s and %s\n", csv, svg);
    return bad;
}
