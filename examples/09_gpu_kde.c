/* examples/09_gpu_kde.c -- the density of 50,000 moving particles, averaged
   over a whole time loop, with everything resident on the GPU: two
   transfers in all (the particles up once, the density down once), not two
   per step.

   Teaches: keeping data on the device. A port that copies its arrays to the
   GPU and back around every kernel spends its time on the bus and on
   launches; here each time step is two kernels recorded into the current
   batch (the built-in drift.comp moves the particles, kde.comp adds their
   Gaussian kernel density on a grid to an accumulator), and batches are
   submitted only when parx_gpu's batch bound fills, so the host only records.
   - The particle state (positions, then velocities) is one buffer: one upload.
   - The accumulator needs no zeroing upload: the first KDE pass stores
     instead of adding (kde.comp's `add` flag).
   - lavapipe caps a loop at 65535 trips per invocation, so each KDE adds the
     particles in passes of 16384, in a fixed order: deterministic.
   - The same loop runs on the CPU with parx_for when there is no device
     (parx_gpu_run with the same job), and, when there is one, once more on
     the CPU to check: positions bitwise (drift.comp is `precise`), density
     within a relative 1e-4 (the device's exp() is not libm's).
   - The CPU loop runs on 1 thread too: the sequential time, against which
     the program prints the speedup and efficiency (speedup / threads) of
     parx_for on every CPU, and of the GPU; 1 thread and all of them must
     give identical bits (each grid point sums its particles in one order).
   Exit status 1 if a check fails, the transfers are not two, or a Vulkan
   validation layer complained.

   Build (from examples/):
       cc -O2 -pthread -I.. -DPARX_GPU_VULKAN 09_gpu_kde.c ../parx.c -luring -lm -ldl -o gpu_kde
       (without liburing: add -DPARX_NO_URING and leave out -luring)
   Run:
       ./gpu_kde [particles] [steps]              (default 50000 particles, 100 steps)
       PARX_GPU_DEVICE=cpu ./gpu_kde 50000 5      (lavapipe, as CI runs it)
       ./gpu_kde --bench [particles] [steps]      one line per path for bench/run:
                                                  "gpu_kde <backend> <threads> <seconds>"
   Expected output (figures depend on the machine):
       path: GPU (llvmpipe ...): 100 steps, 500 dispatches in 2 submits,
             resident: 2 buffers made once, transfers: 1 up, 1 down (+1 for the CPU check)
       density: mass 0.9.., peak ... at x = ...
       sequential (1 thread)      14.420 s
       parx_for on  2 threads      7.310 s   speedup  1.97   efficiency 0.99   same bits: yes
       GPU                         4.170 s   speedup  3.46
       CPU check: positions identical, density within 1e-4 (largest ...)
*/
#include "args.h"
#include "parx.h"
#include "parx_gpu.h"
#include "parx_gpu_kernels.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { GRID = 512, PASS = 16384 };
static const float H = 0.02f, DT = 0.001f;

typedef struct sim {
    size_t n;
    float *state; /* x[0..n), then v[0..n) */
    float *acc;   /* GRID sums */
    uint32_t p0, p1, add;
} sim;

/* CPU versions of drift.comp and kde.comp, the same arithmetic. */
static void drift_cpu(void *ctx, size_t b, size_t e)
{
    sim *s = (sim *)ctx;
    float *x = s->state, *v = s->state + s->n;
    for (size_t i = b; i < e; i++) {
        float xn = x[i] + v[i] * DT, vn = v[i];
        if (xn < 0.0f) {
            xn = -xn;
            vn = -vn;
        } else if (xn > 1.0f) {
            xn = 2.0f - xn;
            vn = -vn;
        }
        x[i] = xn;
        v[i] = vn;
    }
}

static void kde_cpu(void *ctx, size_t b, size_t e)
{
    sim *s = (sim *)ctx;
    const float dx = 1.0f / GRID, inv_h = 1.0f / H;
    for (size_t gi = b; gi < e; gi++) {
        float xg = 0.0f + ((float)gi + 0.5f) * dx, sum = 0.0f;
        for (uint32_t p = s->p0; p < s->p1; p++) {
            float u = (xg - s->state[p]) * inv_h;
            sum += expf(-0.5f * u * u);
        }
        s->acc[gi] = (s->add ? s->acc[gi] : 0.0f) + sum;
    }
}

static double now(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The time loop, on g (resident buffers) or, with g NULL, on the pool.
   On g, the two buffers and two kernels are made once, before the loop;
   each step only records dispatches, and the density comes down once.
   Whatever happens, run destroys what it made before it returns.
   Returns 0 or a negative error. */
static int run(parx_gpu *g, parx_pool *pool, sim *s, int steps)
{
    int err = 0, rc = 0;
    parx_gpu_buffer *st = NULL, *acc = NULL;
    parx_gpu_kernel *kd = NULL, *kk = NULL;
    if (g) {
        st = parx_gpu_buffer_create(g, 2 * s->n * sizeof(float), 0, &err);
        acc = st ? parx_gpu_buffer_create(g, GRID * sizeof(float), 0, &err) : NULL;
        /* both index the state buffer by particle, not by chunk: bound whole */
        kd = acc ? parx_gpu_kernel_create(g, parx_gpu_spv_drift, sizeof parx_gpu_spv_drift,
                                          &(parx_gpu_kernel_desc){.whole_mask = 1}, &err)
                 : NULL;
        kk = kd ? parx_gpu_kernel_create(
                      g, parx_gpu_spv_kde, sizeof parx_gpu_spv_kde,
                      &(parx_gpu_kernel_desc){.readonly_mask = 1, .whole_mask = 1}, &err)
                : NULL;
        if (!kk)
            rc = err; /* the failed create's code; the loop below does not start */
        else
            rc = parx_gpu_upload(g, st, 0, s->state, 2 * s->n * sizeof(float)); /* transfer 1 */
    }
    struct {
        float dt;
        uint32_t vbase;
    } dpush = {DT, (uint32_t)s->n};
    struct {
        float lo, dx, inv_h;
        uint32_t p0, p1, add;
    } kpush = {0.0f, 1.0f / GRID, 1.0f / H, 0, 0, 0};
    parx_gpu_buffer *one[1] = {st}, *two[2] = {st, acc};
    for (int t = 0; t < steps && rc >= 0; t++) {
        parx_gpu_job drift = {.n = s->n,
                              .kernel = kd,
                              .bufs = one,
                              .nbufs = 1,
                              .push = &dpush,
                              .push_size = sizeof dpush,
                              .cpu = drift_cpu,
                              .ctx = s};
        rc = parx_gpu_run(g, pool, &drift);
        for (uint32_t p0 = 0; p0 < s->n && rc >= 0; p0 += PASS) {
            s->p0 = kpush.p0 = p0;
            s->p1 = kpush.p1 = p0 + PASS < s->n ? p0 + PASS : (uint32_t)s->n;
            s->add = kpush.add = t > 0 || p0 > 0;
            parx_gpu_job kde = {.n = GRID,
                                .kernel = kk,
                                .bufs = two,
                                .nbufs = 2,
                                .push = &kpush,
                                .push_size = sizeof kpush,
                                .cpu = kde_cpu,
                                .ctx = s};
            rc = parx_gpu_run(g, pool, &kde);
        }
    }
    if (rc >= 0 && g) {
        rc = parx_gpu_download(g, acc, 0, s->acc, GRID * sizeof(float)); /* transfer 2 */
        if (rc == 0)
            rc = parx_gpu_download(g, st, 0, s->state,
                                   s->n * sizeof(float)); /* for the check only */
    }
    parx_gpu_buffer_destroy(st);
    parx_gpu_buffer_destroy(acc);
    parx_gpu_kernel_destroy(kd);
    parx_gpu_kernel_destroy(kk);
    return rc < 0 ? rc : 0;
}

static void init(sim *s)
{
    parx_rng r = parx_rng_for(2026, 0);
    for (size_t i = 0; i < s->n; i++) {
        double u = (double)(parx_rng_next(&r) >> 11) * 0x1p-53;
        double w = (double)(parx_rng_next(&r) >> 11) * 0x1p-53;
        /* two clumps, at 0.3 and 0.7, drifting apart */
        s->state[i] = (float)((i & 1 ? 0.3 : 0.7) + 0.05 * (u - 0.5));
        s->state[s->n + i] = (float)((i & 1 ? -0.5 : 0.5) * (0.5 + w));
    }
}

/* A fresh simulation of n particles: 0, or -ENOMEM (then *s holds nothing
   to free). */
static int sim_new(sim *s, size_t n)
{
    *s = (sim){.n = n, .state = malloc(2 * n * sizeof(float)), .acc = malloc(GRID * sizeof(float))};
    if (!s->state || !s->acc) {
        free(s->state), free(s->acc);
        *s = (sim){0};
        return -ENOMEM;
    }
    init(s);
    return 0;
}

static void sim_free(sim *s)
{
    free(s->state), free(s->acc);
    *s = (sim){0};
}

int main(int argc, char **argv)
{
    const char *prog = argv[0];
    int bench = argc > 1 && !strcmp(argv[1], "--bench");
    argc -= bench, argv += bench;
    long args[2] = {50000, 100}; /* particles, steps */
    for (int i = 1; i < argc && i <= 2; i++) /* whole numbers only: not "abc" or "2x" */
        args[i - 1] = whole_number_upto(argv[i], 1000000000);
    size_t n = args[0] > 0 ? (size_t)args[0] : 0;
    int steps = (int)args[1];
    if (argc > 3 || n == 0 || n > (1u << 22) || steps < 1) {
        fprintf(stderr, "usage: %s [--bench] [particles <= 4194304] [steps]\n", prog);
        return 2;
    }
    /* Everything main makes, NULL until made: `out` frees what there is. */
    sim s = {0}, one = {0}, all = {0};
    parx_pool *pool = NULL, *pool1 = NULL;
    parx_gpu *g = NULL;
    int ok = 0;
    if (sim_new(&s, n) != 0) {
        fprintf(stderr, "out of memory\n");
        goto out;
    }
    pool = parx_pool_create(NULL);
    if (!pool) {
        fprintf(stderr, "parx_pool_create: %s\n", parx_strerror(-errno));
        goto out;
    }

    int err = 0;
    g = parx_gpu_open(NULL, &err);
    if (!g && err != -ENODEV)
        fprintf(stderr, "parx_gpu_open: %s; using the CPU\n", parx_strerror(err));
    double t0 = now();
    int rc = run(g, pool, &s, steps);
    double t_main = now() - t0;
    if (rc == PARX_E_DEVICE_LOST || (rc < 0 && g)) {
        fprintf(stderr, "GPU run failed (%s): rerunning on the CPU\n", parx_strerror(rc));
        parx_gpu_close(g);
        g = NULL;
        init(&s);
        t0 = now();
        rc = run(NULL, pool, &s, steps);
        t_main = now() - t0;
    }
    if (rc < 0) {
        fprintf(stderr, "failed: %s\n", parx_strerror(rc));
        goto out;
    }
    ok = 1;
    int threads = parx_pool_size(pool);
    if (g && !bench) {
        parx_gpu_info in;
        rc = parx_gpu_query(g, &in);
        if (rc < 0) {
            fprintf(stderr, "parx_gpu_query: %s\n", parx_strerror(rc));
            ok = 0;
            goto out;
        }
        printf("path: GPU (%s): %d steps, %llu dispatches in %llu submits,\n"
               "      resident: 2 buffers made once, transfers: %llu up, %llu down"
               " (+1 for the CPU check)\n",
               in.device_name, steps, (unsigned long long)in.dispatches,
               (unsigned long long)in.submits, (unsigned long long)in.uploads,
               (unsigned long long)in.downloads - 1);
        ok = in.uploads == 1 && in.downloads == 2 && in.validation_messages == 0;
        if (in.validation_messages)
            printf("%llu validation messages\n", (unsigned long long)in.validation_messages);
    } else if (!bench) {
        printf("path: CPU (parx_for on %d threads): %d steps\n", threads, steps);
    }

    /* The time-averaged density: acc / (steps * n * h * sqrt(2 pi)). */
    double norm = 1.0 / ((double)steps * (double)n * H * 2.5066282746310002), mass = 0, peak = 0;
    int at = 0;
    for (int i = 0; i < GRID; i++) {
        double d = s.acc[i] * norm;
        mass += d / GRID;
        if (d > peak)
            peak = d, at = i;
    }
    if (!bench)
        printf("density: mass %.4f, peak %.3f at x = %.3f\n", mass, peak, (at + 0.5) / GRID);

    /* The CPU loop on 1 thread (the sequential time) and, when the main run
       was on the GPU, on every CPU too (the parallel time, and the check). */
    pool1 = parx_pool_create(&(parx_pool_desc){.threads = 1});
    if (!pool1) {
        fprintf(stderr, "parx_pool_create: %s\n", parx_strerror(-errno));
        ok = 0;
        goto out;
    }
    if (sim_new(&one, n) != 0 || sim_new(&all, n) != 0) {
        fprintf(stderr, "out of memory\n");
        ok = 0;
        goto out;
    }
    t0 = now();
    rc = run(NULL, pool1, &one, steps);
    double t_seq = now() - t0, t_par = t_main;
    if (g && rc == 0) {
        t0 = now();
        rc = run(NULL, pool, &all, steps);
        t_par = now() - t0;
    } else {
        memcpy(all.state, s.state, 2 * n * sizeof(float));
        memcpy(all.acc, s.acc, GRID * sizeof(float));
    }
    if (rc < 0)
        fprintf(stderr, "the CPU run failed: %s\n", parx_strerror(rc));
    int same = rc == 0 && memcmp(one.state, all.state, 2 * n * sizeof(float)) == 0 &&
               memcmp(one.acc, all.acc, GRID * sizeof(float)) == 0;
    ok = ok && same;
    if (bench) {
        printf("gpu_kde sequential 1 %.6f\ngpu_kde threads %d %.6f\n", t_seq, threads, t_par);
        if (g)
            printf("gpu_kde gpu 1 %.6f\n", t_main);
    } else {
        printf("sequential (1 thread)     %7.3f s\n"
               "parx_for on %2d threads    %7.3f s   speedup %5.2f   efficiency %.2f   "
               "same bits: %s\n",
               t_seq, threads, t_par, t_seq / t_par, t_seq / t_par / threads, same ? "yes" : "NO");
        if (g)
            printf("GPU                       %7.3f s   speedup %5.2f\n", t_main, t_seq / t_main);
    }

    if (g) { /* the GPU's results against the CPU's */
        int same_x = memcmp(all.state, s.state, n * sizeof(float)) == 0;
        double worst = 0;
        for (int i = 0; i < GRID; i++) {
            double rel = fabs((double)all.acc[i] - s.acc[i]) / (fabs((double)all.acc[i]) + 1.0);
            if (rel > worst)
                worst = rel;
        }
        if (!bench)
            printf("CPU check: positions %s, density %s 1e-4 (largest relative difference %.2g)\n",
                   same_x ? "identical" : "DIFFERENT", worst <= 1e-4 ? "within" : "NOT within",
                   worst);
        ok = ok && same_x && worst <= 1e-4;
    }
out:
    sim_free(&one), sim_free(&all);
    parx_pool_destroy(pool1); /* NULL is ignored, here and below */
    parx_gpu_close(g);
    parx_pool_destroy(pool);
    sim_free(&s);
    return ok ? 0 : 1;
}
