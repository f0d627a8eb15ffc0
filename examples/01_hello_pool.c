/* examples/01_hello_pool.c -- your first parx pool.

   Teaches: creating a pool, spawning tasks into a fork-join group, waiting
   for them, destroying the pool; which thread runs a task; and that results
   written by tasks can be read once parx_wait has returned.

   Build (from examples/):
       cc -O2 -pthread -I.. 01_hello_pool.c ../parx.c -luring -o hello_pool
       (without liburing: add -DPARX_NO_URING and leave out -luring)
   Run:
       ./hello_pool

   Expected output (the order, and which worker runs which task, change from
   run to run; worker -1 is the main thread, which runs tasks itself while it
   waits):
       pool of 4 worker threads
       task 7: 2068 primes in [175000, 200000), on worker -1
       task 0: 2762 primes in [0, 25000), on worker 1
       task 1: 2371 primes in [25000, 50000), on worker 3
       task 2: 2260 primes in [50000, 75000), on worker 0
       task 3: 2199 primes in [75000, 100000), on worker 2
       task 5: 2114 primes in [125000, 150000), on worker 1
       task 6: 2068 primes in [150000, 175000), on worker 3
       task 4: 2142 primes in [100000, 125000), on worker 0
       all 8 tasks done: 17984 primes below 200000
*/
#include <stdio.h>

#include "parx.h"

static int counts[8]; /* results, one slot per task */

/* A task is a plain function taking one pointer. This one counts the primes
   in its own block of 25000 numbers: a few milliseconds of real work, long
   enough for the workers to wake up and share the tasks out. */
static void count_primes(void *arg)
{
    int id = *(int *)arg;
    int lo = id * 25000, hi = lo + 25000, found = 0;
    for (int k = lo < 2 ? 2 : lo; k < hi; k++) {
        int prime = 1;
        for (int d = 2; d * d <= k; d++)
            if (k % d == 0) {
                prime = 0;
                break;
            }
        found += prime;
    }
    counts[id] = found; /* each task writes only its own slot */
    /* parx_worker_index(NULL): this thread's index in the pool it works for,
       or -1 if it is not a worker (the main thread helping inside parx_wait). */
    printf("task %d: %d primes in [%d, %d), on worker %d\n", id, found, lo, hi,
           parx_worker_index(NULL));
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr, "usage: %s (no arguments)\n", argv[0]);
        return 2;
    }
    /* 1. A pool of 4 worker threads. NULL instead of the desc would mean
          "one thread per CPU". Pools are meant to live long: create one at
          start-up and reuse it for everything. */
    parx_pool *pool = parx_pool_create(&(parx_pool_desc){.threads = 4});
    if (!pool) {
        perror("parx_pool_create");
        return 1;
    }
    printf("pool of %d worker threads\n", parx_pool_size(pool));

    /* 2. A group collects tasks so that one call can wait for all of them.
          It lives on our stack; nothing is allocated. */
    parx_group group;
    parx_group_init(&group, pool);

    /* 3. Spawn 8 tasks. Each gets a pointer to its own id, which must stay
          valid until the task has run: here, until parx_wait returns. */
    int ids[8];
    for (int i = 0; i < 8; i++) {
        ids[i] = i;
        parx_spawn(&group, count_primes, &ids[i]);
    }

    /* 4. Wait for all of them. The waiting thread is not idle: it runs tasks
          that no worker has picked up yet. */
    int rc = parx_wait(&group);
    if (rc != 0) {
        fprintf(stderr, "parx_wait: %s\n", parx_strerror(rc));
        parx_pool_destroy(pool);
        return 1;
    }
    /* After parx_wait, every task's writes are visible here. */
    int total = 0;
    for (int i = 0; i < 8; i++)
        total += counts[i];
    printf("all 8 tasks done: %d primes below 200000\n", total);

    /* 5. Stop the workers and free the pool. */
    parx_pool_destroy(pool);
    return total == 17984 ? 0 : 1; /* the known count, so a test can check us */
}
