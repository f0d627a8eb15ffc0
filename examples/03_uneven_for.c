/* examples/03_uneven_for.c -- a parallel loop whose iterations cost 1x..100x.

   Teaches: parx_for, and why it splits work lazily. Here iteration i costs
   1 + 99 (i/n)^2 units: the last iterations are 100 times dearer than the
   first. A static split (thread k gets the k-th block of n/threads
   iterations) leaves the threads with the cheap blocks idle while the last
   one finishes. parx_for hands out sub-ranges as threads ask for them (a
   worker splits off half of what it has left only when another is hungry),
   so every thread stays busy to the end.

   The static split is shown with parx_for itself: a grain of n/threads
   cuts the range into exactly one block per thread.

   Build (from examples/):
       cc -O2 -pthread -I.. 03_uneven_for.c ../parx.c -o uneven_for
   Run:
       ./uneven_for [n]      (n defaults to 20000 iterations)

   Expected output on a 2-CPU machine (times vary; efficiency = speedup /
   threads):
       20000 iterations costing 1..100 units, 2 threads
       sequential:          0.233 s
       static split:        0.204 s   speedup 1.14   efficiency 57%
       parx_for (grain 0):  0.118 s   speedup 1.97   efficiency 99%
       results match the sequential loop
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "parx.h"

/* The cost of iteration i: 1 unit at the start, 100 at the end. */
static unsigned cost(size_t i, size_t n)
{
    double x = (double)i / (double)n;
    return 1 + (unsigned)(99.0 * x * x);
}

/* `units` units of busy work. Each step depends on the one before and is
   not a linear map, so the compiler can neither skip nor shortcut any. */
static uint64_t work(size_t i, unsigned units)
{
    uint64_t x = i + 1;
    for (unsigned k = 0; k < units * 300; k++)
        x = (x ^ (x >> 29)) * 0xBF58476D1CE4E5B9u;
    return x;
}

/* Everything the loop body needs travels in one context struct. */
struct loop {
    size_t n;
    uint64_t *out;
};

/* The body gets a sub-range [begin, end); sub-ranges never overlap, so each
   out[i] is written by exactly one thread. */
static void body(void *ctx, size_t begin, size_t end)
{
    struct loop *l = ctx;
    for (size_t i = begin; i < end; i++)
        l->out[i] = work(i, cost(i, l->n));
}

static double now(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000;
    if (n == 0) {
        fprintf(stderr, "usage: %s [n > 0]\n", argv[0]);
        return 2;
    }
    uint64_t *seq = malloc(n * sizeof *seq), *par = malloc(n * sizeof *par);
    parx_pool *pool = parx_pool_create(NULL);
    if (!seq || !par || !pool) {
        fprintf(stderr, "out of memory or no pool\n");
        return 1;
    }
    int threads = parx_pool_size(pool);
    printf("%zu iterations costing 1..100 units, %d threads\n", n, threads);

    /* Sequential reference. */
    double t0 = now();
    struct loop l = {n, seq};
    body(&l, 0, n);
    double t_seq = now() - t0;
    printf("sequential:          %.3f s\n", t_seq);

    /* Static split: grain = ceil(n / threads), one block per thread. */
    l.out = par;
    t0 = now();
    int rc = parx_for(pool, 0, n, (n + (size_t)threads - 1) / (size_t)threads, body, &l);
    double t_static = now() - t0;
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++) {
        wrong += par[i] != seq[i];
        par[i] = 0; /* so the next run must fill it again */
    }
    printf("static split:        %.3f s   speedup %.2f   efficiency %.0f%%\n", t_static,
           t_seq / t_static, 100.0 * t_seq / t_static / threads);

    /* parx_for with the automatic grain: balanced by work stealing. */
    t0 = now();
    rc |= parx_for(pool, 0, n, 0, body, &l);
    double t_par = now() - t0;
    printf("parx_for (grain 0):  %.3f s   speedup %.2f   efficiency %.0f%%\n", t_par,
           t_seq / t_par, 100.0 * t_seq / t_par / threads);

    /* Parallel or not, every iteration must compute the same value. */
    for (size_t i = 0; i < n; i++)
        wrong += par[i] != seq[i];
    parx_pool_destroy(pool);
    free(seq);
    free(par);
    if (rc != 0 || wrong != 0) {
        fprintf(stderr, "parx_for failed (%d) or %zu results differ\n", rc, wrong);
        return 1;
    }
    printf("results match the sequential loop\n");
    return 0;
}
