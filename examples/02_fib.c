/* examples/02_fib.c -- fork-join recursion: a spawn at every call.

   Teaches: nested fork-join. A task creates its own group with
   parx_group_init(&g, NULL) ("the pool running me"), spawns its children into
   it and waits; waiting runs other tasks, so nothing blocks. This fib spawns
   at every single call, so it measures what one spawn costs: a real program
   would stop spawning below some size and recurse sequentially.

   Build (from examples/):
       cc -O2 -pthread -I.. 02_fib.c ../parx.c -luring -o fib
       (without liburing: add -DPARX_NO_URING and leave out -luring)
   Run:
       ./fib [n]        (n defaults to 30)

   Expected output on a 2-CPU machine (times vary):
       fib(30) = 832040
       parallel, 2 threads: 0.021 s (2692537 tasks, 16 ns per task per thread)
       sequential:          0.0013 s
   The sequential recursion wins by far: each call does one addition, and no
   scheduler can split work that small profitably. The parallel time divided
   by the number of tasks is what a spawn costs, the figure to weigh against
   the size of the work you spawn.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "parx.h"

/* Each call gets its argument and leaves its result in this struct, which
   lives on the parent's stack until the parent's parx_wait returns. */
struct fib {
    int n;
    long long result;
};

static void fib_task(void *arg)
{
    struct fib *f = arg;
    if (f->n < 2) {
        f->result = f->n;
        return;
    }
    struct fib a = {f->n - 1, 0}, b = {f->n - 2, 0};
    parx_group g;
    parx_group_init(&g, NULL); /* NULL: the pool this task runs on */
    parx_spawn(&g, fib_task, &a);
    parx_spawn(&g, fib_task, &b);
    parx_wait(&g); /* runs a and b here, unless other workers stole them */
    f->result = a.result + b.result;
}

static long long fib_seq(int n)
{
    return n < 2 ? n : fib_seq(n - 1) + fib_seq(n - 2);
}

/* Wall-clock seconds, with C11's timespec_get. */
static double now(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    int n = 30;
    if (argc > 1) { /* the whole argument a number in range: not "abc", "5x" or "--help" */
        char *end;
        errno = 0;
        long v = strtol(argv[1], &end, 10);
        n = end == argv[1] || *end || errno || v < 0 || v > 45 ? -1 : (int)v;
    }
    if (argc > 2 || n < 0) {
        fprintf(stderr, "usage: %s [n], 0 <= n <= 45\n", argv[0]);
        return 2;
    }

    parx_pool *pool = parx_pool_create(NULL); /* one thread per CPU */
    if (!pool) {
        perror("parx_pool_create");
        return 1;
    }

    /* The root task is spawned from outside the pool, like any other. */
    struct fib root = {n, 0};
    double t0 = now();
    parx_group g;
    parx_group_init(&g, pool);
    parx_spawn(&g, fib_task, &root);
    parx_wait(&g);
    double t_par = now() - t0;

    t0 = now();
    long long want = fib_seq(n);
    double t_seq = now() - t0;

    /* fib(n) makes 2 fib(n+1) - 1 calls, each one a task */
    long long a = 0, b = 1;
    for (int i = 0; i <= n; i++) {
        long long c = a + b;
        a = b;
        b = c;
    }
    long long tasks = 2 * a - 1;
    int threads = parx_pool_size(pool);

    printf("fib(%d) = %lld\n", n, root.result);
    printf("parallel, %d threads: %.3f s (%lld tasks, %.0f ns per task per thread)\n", threads,
           t_par, tasks, t_par * 1e9 * threads / (double)tasks);
    printf("sequential:          %.4f s\n", t_seq);

    parx_pool_destroy(pool);
    if (root.result != want) {
        fprintf(stderr, "wrong result: want %lld\n", want);
        return 1;
    }
    return 0;
}
