/* examples/03_uneven_for.c -- a parallel loop whose iterations cost 1x..100x.

   Teaches: parx_for, and why it splits work lazily. Here iteration i costs
   1 + 99 (i/n)^2 units: the last iterations are 100 times dearer than the
   first. A static split (thread k gets the k-th block of n/threads
   iterations) leaves the threads with the cheap blocks idle while the last
   one finishes. parx_for hands out sub-ranges as threads ask for them (a
   worker splits off half of what it has left only when another is hungry),
   so every thread stays busy to the end.

   The static split is one task per thread, spawned explicitly into a
   group: task k computes the k-th block of n/threads iterations, whole.
   parx_for with a grain of n/threads would not do that: a worker halves
   its range whenever the range is larger than the grain and its deque is
   empty, and runs what it keeps a grain at a time, so the pieces are
   halves, quarters and grain-sized bits whose number and bounds depend on
   timing (one run with 3 threads, n = 20000 and grain 6667 made [0, 6667)
   [6667, 10000) [10000, 15000) [15000, 20000)). The grain bounds the size
   of a piece, never the number of pieces.

   Build (from examples/):
       cc -O2 -pthread -I.. 03_uneven_for.c ../parx.c -luring -o uneven_for
       (without liburing: add -DPARX_NO_URING and leave out -luring)
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
#include <errno.h>
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

/* One block of the static split: body over [begin, end), as one task. */
struct block {
    struct loop *l;
    size_t begin, end;
};

static void block_task(void *arg)
{
    struct block *b = arg;
    body(b->l, b->begin, b->end);
}

static double now(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    size_t n = 20000;
    if (argc > 1) { /* the whole argument a number in range: not "-1", "abc" or "5x" */
        char *end;
        errno = 0;
        long long v = strtoll(argv[1], &end, 10);
        n = end == argv[1] || *end || errno || v < 1 || v > 1000000000 ? 0 : (size_t)v;
    }
    if (argc > 2 || n == 0) {
        fprintf(stderr, "usage: %s [n 1..1000000000]\n", argv[0]);
        return 2;
    }
    uint64_t *seq = malloc(n * sizeof *seq), *par = malloc(n * sizeof *par);
    parx_pool *pool = parx_pool_create(NULL);
    int threads = pool ? parx_pool_size(pool) : 0;
    struct block *blocks = pool ? malloc((size_t)threads * sizeof *blocks) : NULL;
    if (!seq || !par || !pool || !blocks) {
        fprintf(stderr, "out of memory or no pool\n");
        free(blocks);
        parx_pool_destroy(pool); /* NULL is ignored */
        free(seq);
        free(par);
        return 1;
    }
    printf("%zu iterations costing 1..100 units, %d threads\n", n, threads);

    /* Sequential reference. */
    double t0 = now();
    struct loop l = {n, seq};
    body(&l, 0, n);
    double t_seq = now() - t0;
    printf("sequential:          %.3f s\n", t_seq);

    /* Static split: one task per thread, each with a fixed block of about
       n / threads iterations, spawned from here into one group. No task
       splits its block, so a thread that finishes early has nothing left
       to take (this thread, waiting, may run a block too: still one task
       per block). */
    l.out = par;
    t0 = now();
    parx_group g;
    parx_group_init(&g, pool);
    int rc = 0;
    for (int k = 0; k < threads; k++) {
        blocks[k] = (struct block){&l, n * (size_t)k / (size_t)threads,
                                   n * (size_t)(k + 1) / (size_t)threads};
        int err = parx_spawn(&g, block_task, &blocks[k]);
        if (err != 0 && rc == 0)
            rc = err;
    }
    int err = parx_wait(&g); /* waits even if a spawn failed: no task outlives blocks[] */
    if (err != 0 && rc == 0)
        rc = err;
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
    err = parx_for(pool, 0, n, 0, body, &l);
    if (err != 0 && rc == 0)
        rc = err;
    double t_par = now() - t0;
    printf("parx_for (grain 0):  %.3f s   speedup %.2f   efficiency %.0f%%\n", t_par,
           t_seq / t_par, 100.0 * t_seq / t_par / threads);

    /* Parallel or not, every iteration must compute the same value. */
    for (size_t i = 0; i < n; i++)
        wrong += par[i] != seq[i];
    parx_pool_destroy(pool);
    free(blocks);
    free(seq);
    free(par);
    if (rc != 0 || wrong != 0) {
        fprintf(stderr, "a parallel run failed (%s) or %zu results differ\n", parx_strerror(rc),
                wrong);
        return 1;
    }
    printf("results match the sequential loop\n");
    return 0;
}
