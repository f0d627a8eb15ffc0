/* SPDX-License-Identifier: MIT */
/* tests/pool_wraps.c -- the thread pool's counters where they wrap, reached
   by setting them there (a busy pool gets there after hours):
   - the wake-up cursor at 2^32: parx__wake_one scanned the records from
     (cursor + i) % nslots, which, unless nslots divides 2^32, skips a
     record as the sum wraps. With that record the only sleeper, the wake-up
     of a push into an empty deque reached nobody, and the task waited for
     its spawner (found in review);
   - a reused group's remote-completion count at the top of its width: it is
     kept shifted left by one (bit 0: a waiter sleeps), so it wraps before
     `spawned` does, and the group never counted as complete again (on a
     32-bit target after 2^31 tasks run by other threads; found in review);
   - a deque array whose size in bytes does not fit size_t.
   This unit implements parx itself to reach the cursor and the records. */
#define _GNU_SOURCE
#define PARX_IMPLEMENTATION
#include "parx.h"
#include "parx_test.h"

#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void nap(void) { nanosleep(&(struct timespec){0, 200000}, NULL); }

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ===== the wake-up cursor ================================================= */

enum { NWORKERS = 5 };

static parx_pool *wk_pool;
static int wk_sleeper = -1, wk_spawner = -1; /* worker indices */
static unsigned wk_cursor;
static _Atomic unsigned wk_claimed;     /* bit i: worker i runs one of our tasks */
static _Atomic int wk_go, wk_release, wk_child_ran;
static _Atomic int wk_child_worker = -1;
static double wk_deadline;

static void wk_child(void *arg)
{
    (void)arg;
    atomic_store(&wk_child_worker, parx_worker_index(wk_pool));
    atomic_store(&wk_child_ran, 1);
}

/* One per worker: each waits until every worker holds one, so that each
   worker runs exactly one. The chosen sleeper's then returns (its worker
   finds no work and sleeps); the spawner's spawns a child into its empty
   deque once told, with the cursor where the old scan skips the sleeper,
   and blocks until another worker has run the child (or the deadline:
   then parx_wait runs it here); the others block until released. */
static void wk_task(void *arg)
{
    (void)arg;
    int me = parx_worker_index(wk_pool);
    atomic_fetch_or(&wk_claimed, 1u << me);
    while (atomic_load(&wk_claimed) != (1u << NWORKERS) - 1 && now_s() < wk_deadline)
        nap();
    if (me == wk_sleeper) return;
    if (me != wk_spawner) {
        while (!atomic_load(&wk_release) && now_s() < wk_deadline)
            nap();
        return;
    }
    while (!atomic_load(&wk_go) && now_s() < wk_deadline)
        nap();
    /* relaxed, as the pool's own cursor updates: no wake-up runs meanwhile
       (every other worker blocks in a task of ours or sleeps) */
    atomic_store_explicit(&wk_pool->wake_cursor, wk_cursor, memory_order_relaxed);
    parx_group g;
    parx_group_init(&g, NULL);
    CHECK_EQ(parx_spawn(&g, wk_child, NULL), 0);
    while (!atomic_load(&wk_child_ran) && now_s() < wk_deadline)
        nap(); /* blocked, as a task doing I/O would be: the child is not ours to run */
    CHECK_EQ(parx_wait(&g), 0);
}

/* Whether parx__wake_one's scan before the fix, from cursor c, visits j. */
static int old_scan_visits(unsigned c, int nslots, int j)
{
    for (int i = 0; i < nslots; i++)
        if ((int)((c + (unsigned)i) % (unsigned)nslots) == j) return 1;
    return 0;
}

static void test_wake_cursor_wrap(void)
{
    wk_pool = parx_pool_create(&(parx_pool_desc){.threads = NWORKERS, .spin_rounds = 1});
    REQUIRE(wk_pool);
    int nslots = wk_pool->nslots;
    /* a worker the old scan can skip, and a cursor that skips it */
    for (int j = NWORKERS - 1; j >= 0 && wk_sleeper < 0; j--)
        for (unsigned k = 1; k <= (unsigned)nslots && wk_sleeper < 0; k++)
            if (!old_scan_visits(0u - k, nslots, j)) {
                wk_sleeper = j;
                wk_cursor = 0u - k;
            }
    if (wk_sleeper < 0) {
        parx_pool_destroy(wk_pool);
        PT_SKIP("no record the old scan could skip: nslots divides 2^32 in this build");
    }
    wk_spawner = wk_sleeper == 0 ? 1 : 0;
    wk_deadline = now_s() + 10.0 * time_scale();
    parx_group g;
    parx_group_init(&g, wk_pool);
    for (int i = 0; i < NWORKERS; i++)
        CHECK_EQ(parx_spawn(&g, wk_task, NULL), 0);
    /* until the chosen worker is the pool's one sleeper */
    int asleep = 0;
    while (!asleep && now_s() < wk_deadline) {
        nap();
        asleep = atomic_load(&wk_claimed) == (1u << NWORKERS) - 1 &&
                 atomic_load(&wk_pool->sleepers) == 1 &&
                 atomic_load(&wk_pool->workers[wk_sleeper].state) == PARX__SLEEPING;
    }
    CHECK_MSG(asleep, "worker %d never slept alone (claimed %#x, sleepers %d)", wk_sleeper,
              atomic_load(&wk_claimed), atomic_load(&wk_pool->sleepers));
    atomic_store(&wk_go, 1);
    while (!atomic_load(&wk_child_ran) && now_s() < wk_deadline)
        nap();
    atomic_store(&wk_release, 1);
    CHECK_EQ(parx_wait(&g), 0);
    CHECK_MSG(atomic_load(&wk_child_worker) == wk_sleeper,
              "the child ran on worker %d, not on the sleeper %d (nslots %d, cursor 2^32 - %u): "
              "its wake-up went to nobody",
              atomic_load(&wk_child_worker), wk_sleeper, nslots, 0u - wk_cursor);
    parx_pool_destroy(wk_pool);
}

/* ===== a reused group's remote count ====================================== */

static _Atomic int gr_runs;

static void gr_task(void *arg)
{
    (void)arg;
    nap(); /* long enough for the workers to take some from the spawning thread */
    atomic_fetch_add(&gr_runs, 1);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "# parx_wait hung: the group never counted as complete\n";
    if (write(1, msg, sizeof msg - 1) < 0) {
        /* nothing more to say */
    }
    _exit(1);
}

static void test_group_remote_count_wrap(void)
{
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = 2});
    REQUIRE(p);
    parx_group g;
    parx_group_init(&g, p);
    /* as a group left by parx_wait after x tasks, all run by other threads:
       the remote count's top value, so that the next task a worker runs
       wraps it */
    size_t x = SIZE_MAX >> 1;
    g.spawned = x;
    g.done_local = 0;
    atomic_store(&g.done_remote, x << 1);
    signal(SIGALRM, on_alarm);
    alarm(30 * time_scale());
    for (int round = 0; round < 3; round++) {
        atomic_store(&gr_runs, 0);
        for (int i = 0; i < 64; i++)
            CHECK_EQ(parx_spawn(&g, gr_task, NULL), 0);
        CHECK_EQ(parx_wait(&g), 0);
        CHECK_EQ(atomic_load(&gr_runs), 64);
    }
    alarm(0);
    signal(SIGALRM, SIG_DFL);
    /* the count did wrap: workers ran some of the tasks (bit 0 is clear) */
    size_t remote = atomic_load(&g.done_remote) >> 1;
    CHECK_MSG(remote > 0 && remote <= 3 * 64, "remote count %zu: it never wrapped", remote);
    parx_pool_destroy(p);
}

/* ===== a deque array whose size does not fit size_t ======================= */

static int da_calls;
static void *da_alloc(size_t size, void *user)
{
    (void)user;
    da_calls++;
    return malloc(size);
}
static void da_free(void *ptr, void *user)
{
    (void)user;
    free(ptr);
}

/* Growth doubles the array with no limit of its own; where the bytes it
   needs pass SIZE_MAX (a 32-bit target grown past 2^30 slots) the size
   wrapped round to a small block, which the copy then overran. Asked here
   directly for such capacities: NULL, and the allocator never called. */
static void test_deque_array_size_overflow(void)
{
    parx_deque d;
    REQUIRE(parx__deque_init_with(&d, 0, da_alloc, da_free, NULL) == 0);
    int before = da_calls;
    size_t slot = sizeof(_Atomic(void *));
    int64_t too_big = (int64_t)((SIZE_MAX - sizeof(struct parx__deque_array)) / slot) + 1;
    if (SIZE_MAX >= (uint64_t)INT64_MAX) too_big = (int64_t)1 << 62; /* 2^65 bytes */
    CHECK(parx__deque_array_new(&d, too_big) == NULL);
    CHECK(parx__deque_array_new(&d, INT64_MAX / 2 + 1) == NULL);
    CHECK_EQ(da_calls, before);
    struct parx__deque_array *a = parx__deque_array_new(&d, 64); /* and a sane one still works */
    CHECK(a != NULL);
    da_free(a, NULL);
    parx_deque_destroy(&d);
}

int main(void)
{
    pt_plan(3);
    pt_run("the wake-up cursor at 2^32: a push's wake-up reaches the one sleeper",
           test_wake_cursor_wrap);
    pt_run("a reused group whose remote count wraps still completes (3 rounds of 64)",
           test_group_remote_count_wrap);
    pt_run("a deque array whose size in bytes does not fit size_t: refused, nothing allocated",
           test_deque_array_size_overflow);
    return pt_done_testing();
}
