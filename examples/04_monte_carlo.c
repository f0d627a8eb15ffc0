/* examples/04_monte_carlo.c -- a Monte Carlo estimate that gives the same
   bits on 1 thread or 64.

   Teaches: parx_reduce (a deterministic parallel reduction) together with
   parx_rng_for (counter-based random streams). Parallel Monte Carlo codes
   usually lose reproducibility twice over:
   - random numbers: a generator per thread means a sample's numbers depend
     on which thread drew it. Here sample i draws from parx_rng_for(seed, i),
     a pure function of (seed, i), whoever runs it.
   - the sum: floating-point addition is not associative, so adding partial
     sums in whatever order threads finish changes the last digits from run
     to run and with the thread count. parx_reduce cuts the range into
     leaves by the grain alone and adds them up in one fixed tree, so the
     order of every addition is the same on any number of threads.
   The program estimates pi = integral over [0,1) of 4 / (1 + x^2) dx from N
   uniform samples, on pools of 1, 2 and all CPUs, prints each estimate with
   all 17 significant digits, checks that the bits are identical (exit 1 if
   not), and reports times and speedups.

   Build (from examples/):
       cc -O2 -pthread -I.. 04_monte_carlo.c ../parx.c -luring -o monte_carlo
       (without liburing: add -DPARX_NO_URING and leave out -luring)
   Run:
       ./monte_carlo [samples]     (default 500000000)

   Expected output on a 2-CPU machine (a machine with more CPUs prints a
   third row, for all of them; times vary, the estimate's bits do not):
       pi from 500000000 samples (exact: 3.1415926535897931)
       threads  estimate              std. error      time  speedup
             1  3.1416215098248998    2.9e-05      0.880 s     1.00
             2  3.1416215098248998    2.9e-05      0.433 s     2.03
       identical bits on every thread count
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parx.h"

#define SEED 20240611u

/* The accumulator: what one leaf of the reduction produces. */
struct acc {
    double sum;   /* sum of f(x) */
    double sumsq; /* sum of f(x)^2, for the standard error */
};

/* Leaf: fold samples [begin, end) into acc. acc starts as a copy of the
   identity (zeros) for every leaf. */
static void leaf(void *ctx, size_t begin, size_t end, void *accp)
{
    (void)ctx;
    struct acc *a = accp;
    for (size_t i = begin; i < end; i++) {
        parx_rng r = parx_rng_for(SEED, i); /* sample i's own stream */
        double x = parx_rng_uniform(&r);    /* in [0, 1) */
        double f = 4.0 / (1.0 + x * x);
        a->sum += f;
        a->sumsq += f * f;
    }
}

/* Combine: merge `other` (the right part of the range) into `acc` (the left
   part). parx_reduce always calls it with the same pairs in the same order. */
static void combine(void *ctx, void *accp, const void *otherp)
{
    (void)ctx;
    struct acc *a = accp;
    const struct acc *o = otherp;
    a->sum += o->sum;
    a->sumsq += o->sumsq;
}

static double now(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* sqrt by Newton's method, to need no libm in a one-line build */
static double root(double v)
{
    double x = v > 1.0 ? v : 1.0;
    for (int i = 0; i < 100; i++)
        x = 0.5 * (x + v / x);
    return x;
}

int main(int argc, char **argv)
{
    size_t n = 500000000;
    if (argc > 1) { /* the whole argument a number: not "-1" (which strtoull takes for 2^64 - 1) */
        char *end;
        errno = 0;
        long long v = strtoll(argv[1], &end, 10);
        n = end == argv[1] || *end || errno || v < 2 ? 0 : (size_t)v;
    }
    if (argc > 2 || n < 2) {
        fprintf(stderr, "usage: %s [samples >= 2]\n", argv[0]);
        return 2;
    }

    /* Thread counts to try: 1, 2, and one per CPU (skipping repeats). */
    parx_pool *probe = parx_pool_create(NULL);
    if (!probe) {
        perror("parx_pool_create");
        return 1;
    }
    int ncpu = parx_pool_size(probe);
    parx_pool_destroy(probe);
    int counts[3] = {1, 2, ncpu}, ncounts = ncpu > 2 ? 3 : ncpu == 2 ? 2 : 1;

    printf("pi from %zu samples (exact: %.17g)\n", n, 3.14159265358979323846);
    printf("%7s  %-20s  %-10s  %8s  %s\n", "threads", "estimate", "std. error", "time",
           "speedup");

    double first = 0.0, t1 = 0.0;
    int same_bits = 1;
    for (int k = 0; k < ncounts; k++) {
        parx_pool *pool = parx_pool_create(&(parx_pool_desc){.threads = counts[k]});
        if (!pool) {
            perror("parx_pool_create");
            return 1;
        }
        const struct acc zero = {0.0, 0.0};
        struct acc total;
        double t0 = now();
        /* grain 0: leaves sized from n alone, never from the thread count */
        int rc = parx_reduce(pool, 0, n, 0, sizeof total, &zero, leaf, combine, NULL, &total);
        double t = now() - t0;
        parx_pool_destroy(pool);
        if (rc != 0) {
            fprintf(stderr, "parx_reduce: %s\n", parx_strerror(rc));
            return 1;
        }

        double mean = total.sum / (double)n;
        double var = (total.sumsq / (double)n - mean * mean) * (double)n / (double)(n - 1);
        double stderr_mean = root(var > 0 ? var / (double)n : 0.0);
        if (k == 0) {
            first = mean;
            t1 = t;
        } else if (memcmp(&mean, &first, sizeof mean) != 0) {
            same_bits = 0; /* compare bits, not values: that is the promise */
        }
        printf("%7d  %-20.17g  %-10.2g  %6.3f s  %7.2f\n", counts[k], mean, stderr_mean, t,
               t1 / t);
    }

    if (!same_bits) {
        printf("the estimate CHANGED with the thread count: parx_reduce is broken\n");
        return 1;
    }
    printf("identical bits on every thread count\n");
    return 0;
}
