/* SPDX-License-Identifier: MIT */
/* tests/pool.c -- unit tests of the thread pool and fork-join groups.
   The big runs (a million nested spawns, fib, many outside spawners) are in
   tests/pool_stress.c. Nothing here measures time against a bound; a test
   that waits for the pool to settle (or its workers to sleep) polls, with
   a pause of a millisecond or two and a generous deadline. */
#define _GNU_SOURCE /* sched_getaffinity/CPU_COUNT, pthread_getname_np, clock_gettime, fork */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "parx.h"
#include "parx_test.h"

static pthread_t main_thread;

static int on_main(void)
{
    return pthread_equal(pthread_self(), main_thread);
}

static void count_task(void *arg)
{
    atomic_fetch_add_explicit((atomic_long *)arg, 1, memory_order_relaxed);
}

/* Wait, without helping, until *c reaches want. A thread outside the pool
   that is not inside parx_wait runs no tasks, so everything spawned before
   this runs on the workers: this is how the tests below make sure workers
   (not the waiting main thread) run their tasks. No sleep, no time limit:
   if the workers never pick the work up, that is a lost wake-up, and the
   meson timeout reports it. */
static void spin_until(atomic_long *c, long want)
{
    while (atomic_load(c) < want)
        sched_yield();
}

/* ===== create / size ====================================================== */

static int cpus_allowed(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return -1;
    return CPU_COUNT(&set);
}

static void spawn_and_wait(parx_pool *p, long ntasks)
{
    atomic_long count;
    atomic_init(&count, 0);
    parx_group g;
    parx_group_init(&g, p);
    for (long i = 0; i < ntasks; i++)
        CHECK_EQ(parx_spawn(&g, count_task, &count), 0);
    CHECK_EQ(parx_wait(&g), 0);
    CHECK_EQ(atomic_load(&count), ntasks);
}

static void test_create_null_desc(void)
{
    parx_pool *p = parx_pool_create(NULL);
    REQUIRE(p != NULL);
    int n = parx_pool_size(p);
    int allowed = cpus_allowed();
    parx_probe pr; /* parx's count: the mask, and a cgroup CPU limit (tests/cpus.c) */
    parx_probe_defaults(&pr);
    int want = pr.cpus;
    pt_diag("parx_pool_create(NULL): %d threads; %d CPUs, of %d in the affinity mask", n, want,
            allowed);
    CHECK(n >= 1);
    CHECK_EQ(n, want);
    if (allowed > 0)
        CHECK(n <= allowed);
    spawn_and_wait(p, 1000);
    parx_pool_destroy(p);
}

static void test_create_zeroed_desc(void)
{
    parx_pool *p = parx_pool_create(&(parx_pool_desc){0});
    REQUIRE(p != NULL);
    CHECK(parx_pool_size(p) >= 1);
    spawn_and_wait(p, 1000);
    parx_pool_destroy(p);
}

static void test_create_explicit(void)
{
    for (int t = 1; t <= 3; t++) {
        parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = t});
        if (!CHECK_MSG(p != NULL, "create with %d threads failed, errno %d", t, errno))
            continue;
        CHECK_EQ(parx_pool_size(p), t);
        spawn_and_wait(p, 5000);
        parx_pool_destroy(p);
    }
    /* more threads than CPUs is allowed */
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = 9});
    REQUIRE(p != NULL);
    CHECK_EQ(parx_pool_size(p), 9);
    spawn_and_wait(p, 5000);
    parx_pool_destroy(p);
    parx_pool_destroy(NULL); /* ignored */
}

static void test_desc_fields(void)
{
    /* every field set, small deque and few spin rounds */
    parx_pool *p = parx_pool_create(&(parx_pool_desc){
        .threads = 2, .deque_capacity = 2, .spin_rounds = 1, .name = "pxtest"});
    REQUIRE(p != NULL);
    CHECK_EQ(parx_pool_size(p), 2);
    spawn_and_wait(p, 20000);
    parx_pool_destroy(p);
}

/* ===== worker names ======================================================= */

struct name_probe {
    atomic_int worker_runs, bad;
    atomic_long done;
    char seen[32];
};

static void name_task(void *arg)
{
    struct name_probe *np = (struct name_probe *)arg;
    if (on_main()) {
        atomic_fetch_add(&np->done, 1);
        return;
    }
    char buf[32] = {0};
    if (pthread_getname_np(pthread_self(), buf, sizeof buf) != 0 ||
        strncmp(buf, "pxname", 6) != 0) {
        if (atomic_fetch_add(&np->bad, 1) == 0)
            memcpy(np->seen, buf, sizeof buf);
    }
    atomic_fetch_add(&np->worker_runs, 1);
    atomic_fetch_add(&np->done, 1);
}

static void test_thread_names(void)
{
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = 2, .name = "pxname"});
    REQUIRE(p != NULL);
    static struct name_probe np;
    atomic_init(&np.worker_runs, 0);
    atomic_init(&np.bad, 0);
    atomic_init(&np.done, 0);
    parx_group g;
    parx_group_init(&g, p);
    for (int i = 0; i < 200; i++)
        CHECK_EQ(parx_spawn(&g, name_task, &np), 0);
    spin_until(&np.done, 200); /* all on workers */
    CHECK_EQ(parx_wait(&g), 0);
    parx_pool_destroy(p);
    CHECK_EQ(atomic_load(&np.worker_runs), 200);
    CHECK_MSG(atomic_load(&np.bad) == 0, "worker thread named \"%s\", not \"pxname...\"",
              np.seen);
}

/* ===== nested groups ====================================================== */

struct nest {
    int depth, fanout;
    long leaves;          /* out: leaves under this node */
    int err;              /* out: first error seen in this subtree */
    int err_on_main;      /* out: that error happened in a task run by the main thread */
};

static void nest_task(void *arg)
{
    struct nest *n = (struct nest *)arg;
    n->leaves = 0;
    n->err = 0;
    n->err_on_main = 0;
    if (n->depth == 0) {
        n->leaves = 1;
        return;
    }
    struct nest kids[8];
    parx_group g;
    parx_group_init(&g, NULL); /* the pool running this task */
    for (int i = 0; i < n->fanout; i++) {
        kids[i] = (struct nest){.depth = n->depth - 1, .fanout = n->fanout};
        int rc = parx_spawn(&g, nest_task, &kids[i]);
        if (rc != 0 && n->err == 0) {
            n->err = rc;
            n->err_on_main = on_main();
            kids[i].leaves = 0;
            kids[i].err = 0;
        }
    }
    int rc = parx_wait(&g);
    if (rc != 0 && n->err == 0) {
        n->err = rc;
        n->err_on_main = on_main();
    }
    for (int i = 0; i < n->fanout; i++) {
        n->leaves += kids[i].leaves;
        if (kids[i].err && !n->err) {
            n->err = kids[i].err;
            n->err_on_main = kids[i].err_on_main;
        }
    }
}

static void test_nested_groups(void)
{
    for (int t = 1; t <= 3; t++) {
        parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = t});
        REQUIRE(p != NULL);
        /* several roots spawned from outside, each a 5^5 tree */
        struct nest roots[4];
        parx_group g;
        parx_group_init(&g, p);
        for (int r = 0; r < 4; r++) {
            roots[r] = (struct nest){.depth = 5, .fanout = 5};
            CHECK_EQ(parx_spawn(&g, nest_task, &roots[r]), 0);
        }
        CHECK_EQ(parx_wait(&g), 0);
        for (int r = 0; r < 4; r++) {
            CHECK_EQ(roots[r].leaves, 3125);
            CHECK_MSG(roots[r].err == 0, "%d threads: nested spawn/wait failed with %d (%s)%s", t,
                      roots[r].err, parx_strerror(roots[r].err),
                      roots[r].err_on_main ? " in a task run by the waiting main thread" : "");
        }
        parx_pool_destroy(p);
    }
}

static void empty_wait_task(void *arg)
{
    parx_group g;
    parx_group_init(&g, NULL);
    *(int *)arg = parx_wait(&g) + 1; /* 1 = waited on nothing, returned 0 */
}

static void test_wait_empty_group(void)
{
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = 2});
    REQUIRE(p != NULL);
    parx_group g;
    parx_group_init(&g, p);
    CHECK_EQ(parx_wait(&g), 0); /* nothing spawned */
    CHECK_EQ(parx_wait(&g), 0);
    int r = 0;
    CHECK_EQ(parx_spawn(&g, empty_wait_task, &r), 0);
    CHECK_EQ(parx_wait(&g), 0);
    CHECK_EQ(r, 1);
    parx_pool_destroy(p);
}

/* ===== worker index ======================================================= */

struct idx_probe {
    parx_pool *p, *other;
    int n;
    atomic_int bad, on_main_runs, worker_runs;
    atomic_uint seen_mask;
    atomic_long done;
};

static void idx_task(void *arg)
{
    struct idx_probe *ip = (struct idx_probe *)arg;
    int a = parx_worker_index(ip->p), b = parx_worker_index(NULL);
    int c = ip->other ? parx_worker_index(ip->other) : -1;
    if (on_main()) {
        atomic_fetch_add(&ip->on_main_runs, 1);
        if (a != -1 || b != -1 || c != -1)
            atomic_fetch_add(&ip->bad, 1);
    } else {
        atomic_fetch_add(&ip->worker_runs, 1);
        if (a < 0 || a >= ip->n || b != a || c != -1)
            atomic_fetch_add(&ip->bad, 1);
        else
            atomic_fetch_or(&ip->seen_mask, 1u << a);
    }
    atomic_fetch_add(&ip->done, 1);
}

static void test_worker_index(void)
{
    CHECK_EQ(parx_worker_index(NULL), -1);
    for (int t = 1; t <= 4; t++) {
        parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = t});
        parx_pool *other = parx_pool_create(&(parx_pool_desc){.threads = 1});
        REQUIRE(p != NULL && other != NULL);
        CHECK_EQ(parx_worker_index(p), -1);
        CHECK_EQ(parx_worker_index(NULL), -1);
        static struct idx_probe ip;
        ip.p = p;
        ip.other = other;
        ip.n = t;
        atomic_init(&ip.bad, 0);
        atomic_init(&ip.on_main_runs, 0);
        atomic_init(&ip.worker_runs, 0);
        atomic_init(&ip.seen_mask, 0);
        atomic_init(&ip.done, 0);
        parx_group g;
        parx_group_init(&g, p);
        /* first round on the workers only, second one with the main thread
           helping inside parx_wait */
        for (int i = 0; i < 1000; i++)
            CHECK_EQ(parx_spawn(&g, idx_task, &ip), 0);
        spin_until(&ip.done, 1000);
        CHECK_EQ(parx_wait(&g), 0);
        CHECK_EQ(atomic_load(&ip.worker_runs), 1000);
        for (int i = 0; i < 1000; i++)
            CHECK_EQ(parx_spawn(&g, idx_task, &ip), 0);
        CHECK_EQ(parx_wait(&g), 0);
        CHECK_EQ(atomic_load(&ip.bad), 0);
        CHECK_EQ(atomic_load(&ip.worker_runs) + atomic_load(&ip.on_main_runs), 2000);
        pt_diag("%d threads: %d tasks on workers (index mask 0x%x), %d on the waiting main thread",
                t, atomic_load(&ip.worker_runs), atomic_load(&ip.seen_mask),
                atomic_load(&ip.on_main_runs));
        parx_pool_destroy(p);
        parx_pool_destroy(other);
    }
}

/* A worker of pool A that waits on pool B runs B's tasks as an outside
   thread of B. In them it is no worker of A either: the task is B's, and
   an index into A's per-worker storage would be shared with the A task
   suspended under it on the same thread. Made certain: B's one worker is
   held until the B task has run, so A's worker, waiting, runs it itself. */
struct cross_index {
    parx_pool *a, *b;
    atomic_long b_worker_held, b_task_ran, a_task_done;
    pthread_t a_worker, ran_on;
    int in_a, in_b, in_any, a_worker_in_a;
};

static void ci_hold_b(void *arg)
{
    struct cross_index *ci = (struct cross_index *)arg;
    atomic_store(&ci->b_worker_held, 1);
    spin_until(&ci->b_task_ran, 1);
}

static void ci_b_task(void *arg)
{
    struct cross_index *ci = (struct cross_index *)arg;
    ci->ran_on = pthread_self();
    ci->in_a = parx_worker_index(ci->a);
    ci->in_b = parx_worker_index(ci->b);
    ci->in_any = parx_worker_index(NULL);
    atomic_store(&ci->b_task_ran, 1);
}

static void ci_a_task(void *arg)
{
    struct cross_index *ci = (struct cross_index *)arg;
    ci->a_worker = pthread_self();
    ci->a_worker_in_a = parx_worker_index(ci->a);
    parx_group g;
    parx_group_init(&g, ci->b);
    parx_spawn(&g, ci_b_task, ci);
    parx_wait(&g);
    atomic_store(&ci->a_task_done, 1);
}

static void test_worker_index_across_pools(void)
{
    static struct cross_index ci;
    ci.a = parx_pool_create(&(parx_pool_desc){.threads = 1});
    ci.b = parx_pool_create(&(parx_pool_desc){.threads = 1});
    REQUIRE(ci.a != NULL && ci.b != NULL);
    atomic_init(&ci.b_worker_held, 0);
    atomic_init(&ci.b_task_ran, 0);
    atomic_init(&ci.a_task_done, 0);
    parx_group gb, ga;
    parx_group_init(&gb, ci.b);
    CHECK_EQ(parx_spawn(&gb, ci_hold_b, &ci), 0);
    spin_until(&ci.b_worker_held, 1);
    parx_group_init(&ga, ci.a);
    CHECK_EQ(parx_spawn(&ga, ci_a_task, &ci), 0);
    spin_until(&ci.a_task_done, 1); /* not parx_wait: A's worker runs it */
    CHECK_EQ(parx_wait(&ga), 0);
    CHECK_EQ(parx_wait(&gb), 0);
    CHECK_EQ(ci.a_worker_in_a, 0);
    CHECK_MSG(pthread_equal(ci.ran_on, ci.a_worker), "the B task did not run on A's worker");
    CHECK_EQ(ci.in_a, -1);
    CHECK_EQ(ci.in_b, -1);
    CHECK_EQ(ci.in_any, -1);
    parx_pool_destroy(ci.a);
    parx_pool_destroy(ci.b);
}

/* ===== statistics ========================================================= */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static atomic_long stat_done;

static void stat_task(void *arg)
{
    if (!on_main())
        atomic_fetch_add_explicit((atomic_long *)arg, 1, memory_order_relaxed);
    atomic_fetch_add(&stat_done, 1);
}

static uint64_t stats_tasks(parx_pool *p, int n)
{
    parx_worker_stats st[16];
    memset(st, 0, sizeof st);
    int r = parx_pool_stats(p, st, n);
    CHECK_EQ(r, n);
    uint64_t sum = 0;
    for (int i = 0; i < n && i < 16; i++)
        sum += st[i].tasks;
    return sum;
}

static void test_stats(void)
{
    for (int t = 1; t <= 3; t++) {
        parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = t});
        REQUIRE(p != NULL);
        CHECK_EQ_U(stats_tasks(p, t), 0); /* a fresh pool has run nothing */
        atomic_long on_workers;
        atomic_init(&on_workers, 0);
        long total = 0;
        atomic_store(&stat_done, 0);
        for (int round = 0; round < 4; round++) {
            parx_group g;
            parx_group_init(&g, p);
            for (int i = 0; i < 3000; i++)
                CHECK_EQ(parx_spawn(&g, stat_task, &on_workers), 0);
            total += 3000;
            if (round % 2 == 0) /* rounds 0, 2: workers only; 1, 3: main helps */
                spin_until(&stat_done, total);
            CHECK_EQ(parx_wait(&g), 0);
        }
        /* Tasks run by workers are counted by them; tasks the waiting main
           thread ran itself belong to no worker. A worker may bump its
           counter just after the task's completion is published, so poll
           until the pool is quiet (bounded: a hang is a failure). */
        long want = atomic_load(&on_workers);
        uint64_t got = 0;
        double t0 = now_s();
        do {
            got = stats_tasks(p, t);
            if (got == (uint64_t)want)
                break;
            sched_yield();
        } while (now_s() - t0 < 10.0);
        CHECK_EQ_U(got, (uint64_t)want);
        CHECK(want >= 6000); /* the worker-only rounds */
        /* Quiet now: every worker goes idle, which ends its last busy
           spell, and sleeps (bounded: a worker that never does is a
           failure). */
        parx_worker_stats st[4];
        bool all_slept;
        t0 = now_s();
        do {
            memset(st, 0, sizeof st);
            CHECK_EQ(parx_pool_stats(p, st, t), t);
            all_slept = true;
            for (int i = 0; i < t; i++)
                all_slept &= st[i].sleeps > 0 && (st[i].tasks == 0 || st[i].busy_ns > 0);
            if (all_slept)
                break;
            nanosleep(&(struct timespec){0, 1000000}, NULL);
        } while (now_s() - t0 < 10.0);
        uint64_t steals = 0, busy = 0, idle = 0, tasks = 0;
        for (int i = 0; i < t; i++) {
            CHECK_MSG(st[i].sleeps > 0, "worker %d of %d never slept in a quiet pool", i, t);
            steals += st[i].steals;
            busy += st[i].busy_ns;
            idle += st[i].idle_ns;
            tasks += st[i].tasks;
            /* every task came from outside (none spawns), so every task a
               worker ran it took from outside: a steal, per the header */
            CHECK_MSG(st[i].steals == st[i].tasks, "worker %d: %llu steals, %llu tasks", i,
                      (unsigned long long)st[i].steals, (unsigned long long)st[i].tasks);
            /* and every one was a try that succeeded */
            CHECK(st[i].steals <= st[i].steal_attempts);
            /* a worker that ran tasks has since gone idle: a busy spell ended */
            CHECK_MSG(st[i].tasks == 0 || st[i].busy_ns > 0, "worker %d: %llu tasks, busy 0", i,
                      (unsigned long long)st[i].tasks);
        }
        CHECK_EQ_U(tasks, (uint64_t)want);
        /* Every worker is idle now; one more task from outside, run by a
           worker, ends that worker's idle spell, which idle_ns counts. */
        parx_group g1;
        parx_group_init(&g1, p);
        atomic_long one;
        atomic_init(&one, 0);
        CHECK_EQ(parx_spawn(&g1, stat_task, &one), 0);
        spin_until(&stat_done, total + 1); /* on a worker: the main thread has not waited */
        CHECK_EQ(parx_wait(&g1), 0);
        CHECK_EQ(parx_pool_stats(p, st, t), t);
        idle = 0;
        for (int i = 0; i < t; i++)
            idle += st[i].idle_ns;
        CHECK_MSG(idle > 0, "%d threads: idle_ns 0 on every worker", t);
        pt_diag("%d threads: %ld of %ld tasks on workers, stats count %llu, steals %llu, "
                "busy %.3f ms, idle %.3f ms", t, want, total, (unsigned long long)got,
                (unsigned long long)steals, (double)busy * 1e-6, (double)idle * 1e-6);
        parx_pool_destroy(p);
    }
}

/* How many threads of this process are named prefix-<digits>, and how many
   of those are asleep in the kernel ('S') right now. */
static void count_named(const char *prefix, int *named, int *asleep)
{
    *named = *asleep = 0;
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    size_t len = strlen(prefix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], comm[32] = {0};
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        if (pt_read_file(path, comm, sizeof comm) < 0)
            continue;
        if (strncmp(comm, prefix, len) != 0 || comm[len] != '-')
            continue;
        (*named)++;
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        *asleep += pt_proc_state(path, NULL) == 'S';
    }
    closedir(d);
}

/* No busy-spinning when idle: once the pool has nothing to do, every
   worker thread ends up asleep in the kernel (on its futex), as /proc
   shows, and its stats count the sleep. A worker that polled for ever, even
   with sched_yield between looks, stays runnable ('R') and fails this. */
static void test_idle_workers_sleep(void)
{
    enum { threads = 3 };
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = threads, .name = "pxidle"});
    REQUIRE(p != NULL);
    static atomic_long done;
    atomic_store(&done, 0);
    parx_group g;
    parx_group_init(&g, p);
    for (int i = 0; i < 3000; i++)
        CHECK_EQ(parx_spawn(&g, stat_task, &done), 0);
    CHECK_EQ(parx_wait(&g), 0);
    int named = 0, asleep = 0;
    double t0 = now_s();
    do { /* bounded: workers still awake after 10 s is the failure */
        nanosleep(&(struct timespec){0, 2000000}, NULL);
        count_named("pxidle", &named, &asleep);
    } while ((named != threads || asleep != threads) && now_s() - t0 < 10.0);
    CHECK_MSG(named == threads, "%d threads named pxidle-N, want %d", named, threads);
    CHECK_MSG(asleep == threads, "%d of %d workers asleep after %.1f s of nothing to do", asleep,
              named, now_s() - t0);
    parx_worker_stats st[threads];
    CHECK_EQ(parx_pool_stats(p, st, threads), threads);
    for (int i = 0; i < threads; i++)
        CHECK_MSG(st[i].sleeps > 0, "worker %d asleep, and its stats count no sleep", i);
    /* and asleep, they still wake for new work */
    atomic_store(&done, 0);
    parx_group_init(&g, p);
    for (int i = 0; i < 100; i++)
        CHECK_EQ(parx_spawn(&g, stat_task, &done), 0);
    spin_until(&done, 100); /* bounded by the test's timeout: the workers must run them */
    CHECK_EQ(parx_wait(&g), 0);
    parx_pool_destroy(p);
}

static void test_stats_partial(void)
{
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = 3});
    REQUIRE(p != NULL);
    parx_worker_stats st[3];
    memset(st, 0xEE, sizeof st);
    CHECK_EQ(parx_pool_stats(p, st, 1), 3);         /* returns the worker count */
    unsigned char sentinel[sizeof st[1]];
    memset(sentinel, 0xEE, sizeof sentinel);
    CHECK_MEMEQ(&st[1], sentinel, sizeof sentinel); /* wrote only out[0] */
    CHECK_EQ(parx_pool_stats(p, NULL, 0), 3);       /* just asks how many */
    CHECK_EQ(parx_pool_stats(p, st, 0), 3);
    parx_pool_destroy(p);
}

/* ===== few spin rounds ==================================================== */

/* An idle worker leaves outside slots alone for its first 32 polls (their
   owner usually pops its tasks itself), yet its last look before sleeping
   counts their tasks as work. With spin_rounds at 32 or fewer it once never
   grew patient: it refused the tasks and would not sleep either, spinning
   until the outside thread ran them all itself in parx_wait. Here the
   main thread is not inside parx_wait, so only workers can run the tasks
   (bounded poll: a hang is a failure, not a timing). */
static void test_few_spin_rounds(void)
{
    const unsigned rounds[] = {1, 2, 31, 32};
    for (size_t k = 0; k < sizeof rounds / sizeof rounds[0]; k++) {
        parx_pool *p = parx_pool_create(
            &(parx_pool_desc){.threads = 2, .spin_rounds = rounds[k]});
        REQUIRE(p != NULL);
        atomic_long count;
        atomic_init(&count, 0);
        parx_group g;
        parx_group_init(&g, p);
        for (int i = 0; i < 200; i++)
            CHECK_EQ(parx_spawn(&g, count_task, &count), 0);
        double t0 = now_s();
        while (atomic_load(&count) < 200 && now_s() - t0 < 10.0)
            sched_yield();
        CHECK_MSG(atomic_load(&count) == 200,
                  "spin_rounds %u: the workers ran %ld of the 200 tasks spawned from outside",
                  rounds[k], atomic_load(&count));
        CHECK_EQ(parx_wait(&g), 0);
        CHECK_EQ(atomic_load(&count), 200);
        parx_pool_destroy(p);
    }
}

/* ===== destroy with work queued ========================================== */

struct dq_node {
    atomic_long *count;
    int depth;
};

static void tree_task(void *arg)
{
    struct dq_node *n = (struct dq_node *)arg;
    atomic_fetch_add_explicit(n->count, 1, memory_order_relaxed);
    if (n->depth == 0)
        return;
    struct dq_node kids[3];
    parx_group g;
    parx_group_init(&g, NULL);
    for (int i = 0; i < 3; i++) {
        kids[i] = (struct dq_node){n->count, n->depth - 1};
        parx_spawn(&g, tree_task, &kids[i]);
    }
    parx_wait(&g);
}

static atomic_int gate_open;

/* Holds one worker until the main thread is about to call destroy, so that
   work is sure to be queued when destroy starts (with one thread: all of it). */
static void gate_task(void *arg)
{
    while (!atomic_load(&gate_open))
        sched_yield();
    atomic_fetch_add_explicit((atomic_long *)arg, 1, memory_order_relaxed);
}

static void destroy_queued(int threads, long ntasks)
{
    atomic_long count;
    atomic_init(&count, 0);
    atomic_store(&gate_open, 0);
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = threads});
    REQUIRE(p != NULL);
    parx_group g;
    parx_group_init(&g, p);
    /* the main thread never waits here, so a worker runs the gate */
    CHECK_EQ(parx_spawn(&g, gate_task, &count), 0);
    for (long i = 0; i < ntasks; i++)
        CHECK_EQ(parx_spawn(&g, count_task, &count), 0);
    /* and some that spawn more from inside */
    struct dq_node roots[4];
    for (int i = 0; i < 4; i++) {
        roots[i] = (struct dq_node){&count, 4}; /* 1+3+9+27+81 = 121 tasks each */
        CHECK_EQ(parx_spawn(&g, tree_task, &roots[i]), 0);
    }
    atomic_store(&gate_open, 1);
    parx_pool_destroy(p); /* no parx_wait: destroy must run everything */
    CHECK_EQ(atomic_load(&count), 1 + ntasks + 4 * 121);
}

static void test_destroy_with_queued_work(void)
{
    destroy_queued(1, 20000);
    destroy_queued(2, 20000);
    destroy_queued(3, 20000);
}

/* ===== destroy from a task ================================================ */

/* parx_pool_destroy from a task of the same pool is misuse: PARX_ASSERT in
   debug builds, refused otherwise. It used to be caught only on a worker or
   a slot, not on an outside thread that ran the task itself inside
   parx_wait with every slot taken: the pool was freed under that wait
   (AddressSanitizer: heap-use-after-free in parx__wait_outside). The child
   process takes every slot, holds the one worker in a gate so that the
   waiting thread runs the killer task itself, and reports how it ended. */
static parx_pool *killer_pool;
static atomic_int killer_gate, killer_in_gate;

static void killer_gate_task(void *arg)
{
    (void)arg;
    atomic_store(&killer_in_gate, 1);
    while (!atomic_load(&killer_gate))
        sched_yield();
}

static void killer_task(void *arg)
{
    *(int *)arg = !on_main(); /* 1: not run by the waiting thread, as planned */
    atomic_store(&killer_gate, 1);
    parx_pool_destroy(killer_pool);
}

enum { KILLER_GROUPS = 9 }; /* more than any PARX_OUTSIDE_SLOTS the tests build with */

static int destroy_from_task_child(void)
{
    killer_pool = parx_pool_create(&(parx_pool_desc){.threads = 1});
    if (!killer_pool)
        return 10;
    parx_group g[KILLER_GROUPS + 1];
    for (int i = 0; i <= KILLER_GROUPS; i++)
        parx_group_init(&g[i], killer_pool);
    if (parx_spawn(&g[0], killer_gate_task, NULL) != 0)
        return 11;
    while (!atomic_load(&killer_in_gate)) /* the worker is held from here on */
        sched_yield();
    atomic_long count;
    atomic_init(&count, 0);
    for (int i = 1; i < KILLER_GROUPS; i++) /* every slot borrowed until waited on */
        if (parx_spawn(&g[i], count_task, &count) != 0)
            return 12;
    int off_main = 0;
    if (parx_spawn(&g[KILLER_GROUPS], killer_task, &off_main) != 0)
        return 13;
    parx_wait(&g[KILLER_GROUPS]); /* runs killer_task here: no slot, no free worker */
    /* refused (assertions compiled out): the pool still works */
    for (int i = 0; i < KILLER_GROUPS; i++)
        if (parx_wait(&g[i]) != 0)
            return 14;
    if (atomic_load(&count) != KILLER_GROUPS - 1 || off_main)
        return 15;
    parx_pool_destroy(killer_pool);
    return 0;
}

/* Run fn in a child process (forked while this process has one thread: every
   pool of the tests before has been destroyed) and return its wait status,
   or -1 if it had not ended after 30 s (it is then killed). */
static int child_status(int (*fn)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -2;
    if (pid == 0)
        _exit(fn());
    int status = 0;
    double t0 = now_s();
    pid_t r;
    while ((r = waitpid(pid, &status, WNOHANG)) == 0 && now_s() - t0 < 30.0)
        sched_yield();
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return -1;
    }
    return status;
}

/* A child that misused parx_pool_destroy: refused (exit 0) where
   assertions are compiled out, stopped by the assertion otherwise. */
static void check_destroy_refused(int (*child)(void))
{
    int status = child_status(child);
    REQUIRE(status != -2);
    CHECK_MSG(status != -1, "the child hung");
#ifdef NDEBUG
    CHECK_MSG(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the child ended with status 0x%x, want exit 0 (destroy refused)", status);
#else
    CHECK_MSG(status >= 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
              "the child ended with status 0x%x, want SIGABRT (the debug assertion)", status);
#endif
}

static void test_destroy_from_task(void) { check_destroy_refused(destroy_from_task_child); }

/* The same misuse one pool further in: a task of pool A, run by a thread
   inside a wait on pool B's group (in a task of B), destroys B. The guard
   used to look at the innermost context only (A's), so B was stopped under
   the wait that is still to return into it: a use after free, or, as here
   with B's worker held, a hang joining it. Both workers are held, so the
   main thread runs B's task and A's task itself, as B's slot, then A's (or,
   built without slots, as a helping outsider of each). */
static parx_pool *nest_a, *nest_b;
static atomic_int nest_gate, nest_in_gate;

static void nest_gate_task(void *arg)
{
    (void)arg;
    atomic_fetch_add(&nest_in_gate, 1);
    while (!atomic_load(&nest_gate))
        sched_yield();
}

static void nest_task_a(void *arg)
{
    *(int *)arg |= !on_main();
    parx_pool_destroy(nest_b);
}

static void nest_task_b(void *arg)
{
    *(int *)arg |= !on_main();
    parx_group ga;
    parx_group_init(&ga, nest_a);
    if (parx_spawn(&ga, nest_task_a, arg) != 0 || parx_wait(&ga) != 0)
        *(int *)arg |= 2;
}

static int destroy_nested_child(void)
{
    nest_a = parx_pool_create(&(parx_pool_desc){.threads = 1});
    nest_b = parx_pool_create(&(parx_pool_desc){.threads = 1});
    if (!nest_a || !nest_b)
        return 10;
    parx_group ha, hb;
    parx_group_init(&ha, nest_a);
    parx_group_init(&hb, nest_b);
    if (parx_spawn(&ha, nest_gate_task, NULL) != 0 || parx_spawn(&hb, nest_gate_task, NULL) != 0)
        return 11;
    while (atomic_load(&nest_in_gate) < 2) /* both workers are held from here on */
        sched_yield();
    int bad = 0;
    parx_group gb;
    parx_group_init(&gb, nest_b);
    if (parx_spawn(&gb, nest_task_b, &bad) != 0 || parx_wait(&gb) != 0)
        return 12;
    /* refused (assertions compiled out): both pools still work */
    atomic_store(&nest_gate, 1);
    if (parx_wait(&ha) != 0 || parx_wait(&hb) != 0)
        return 13;
    if (bad)
        return 14;
    atomic_long count;
    atomic_init(&count, 0);
    parx_group_init(&gb, nest_b);
    for (int i = 0; i < 100; i++)
        if (parx_spawn(&gb, count_task, &count) != 0)
            return 15;
    if (parx_wait(&gb) != 0 || atomic_load(&count) != 100)
        return 16;
    parx_pool_destroy(nest_a);
    parx_pool_destroy(nest_b);
    return 0;
}

static void test_destroy_nested(void) { check_destroy_refused(destroy_nested_child); }

/* ===== spawning into another thread's group ============================== */

/* Only the thread that initialised a group may spawn into it. A task that
   spawns into its parent's group works as long as it runs on its parent's
   thread, and corrupts that worker's deque when it was stolen; the debug
   assertion must catch that, on the schedule where it happens. The parent
   here spins (not parx_wait) until its child started, so a thief ran it. */
static atomic_int child_started;
static atomic_long misplaced_count;

static void misplaced_child(void *arg)
{
    atomic_store(&child_started, 1);
    parx_spawn((parx_group *)arg, count_task, &misplaced_count); /* not its group */
}

static void misplaced_parent(void *arg)
{
    parx_group g;
    parx_group_init(&g, NULL);
    parx_spawn(&g, misplaced_child, &g);
    while (!atomic_load(&child_started))
        sched_yield();
    parx_wait(&g);
    atomic_fetch_add((atomic_long *)arg, 1);
}

static int spawn_other_group_child(void)
{
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = 2});
    if (!p)
        return 10;
    parx_group g;
    parx_group_init(&g, p);
    atomic_long done;
    atomic_init(&done, 0);
    parx_spawn(&g, misplaced_parent, &done);
    spin_until(&done, 1); /* not parx_wait: the parent runs on a worker */
    parx_wait(&g);
    parx_pool_destroy(p);
    return 0;
}

static void test_spawn_into_other_group(void)
{
#ifdef NDEBUG /* a skip that keeps the child referenced (-Wunused-function) */
    PT_SKIP("assertions compiled out (NDEBUG): the misuse is not checked");
#endif
    int status = child_status(spawn_other_group_child);
    REQUIRE(status != -2);
    CHECK_MSG(status >= 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
              "the child ended with status 0x%x (-1: hung), want SIGABRT (the debug assertion)",
              status);
}

/* The same misuse with a group that a thread outside the pool owns, which
   the check above did not see: it compared the group's worker with the
   caller's, and an outside group has none (or an outside slot it borrows,
   which the check let anyone use). A task stolen by a worker spawning into
   its outside parent's group pushed onto the owner's slot deque, or raced
   on its counters through the shared queue, silently; so did a second
   thread waiting on the group, which the guide's >>errors promises to
   catch ("a group waited on by a thread that did not create it"). Each
   child below does it once, at a moment where nothing else touches the
   group (so without the check it ends normally, exit 0), and must be
   stopped by the assertion. */
static parx_group outside_group;
static atomic_long outside_count, outside_parent_done;

static void outside_misplaced_parent(void *arg)
{
    (void)arg;
    parx_spawn(&outside_group, count_task, &outside_count); /* the main thread's group */
    atomic_store(&outside_parent_done, 1);
}

static int spawn_outside_group_child(void)
{
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = 1});
    if (!p)
        return 10;
    parx_group_init(&outside_group, p);
    if (parx_spawn(&outside_group, outside_misplaced_parent, NULL) != 0)
        return 11;
    spin_until(&outside_parent_done, 1); /* not parx_wait: the worker runs the parent */
    parx_wait(&outside_group);
    parx_pool_destroy(p);
    return 0;
}

static void *outside_group_waiter(void *arg)
{
    parx_wait((parx_group *)arg); /* not this thread's group */
    return NULL;
}

static int wait_outside_group_child(void)
{
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = 1});
    if (!p)
        return 10;
    parx_group g;
    parx_group_init(&g, p);
    if (parx_spawn(&g, count_task, &outside_count) != 0)
        return 11;
    pthread_t t;
    if (pthread_create(&t, NULL, outside_group_waiter, &g) != 0)
        return 12;
    pthread_join(t, NULL);
    parx_wait(&g);
    parx_pool_destroy(p);
    return 0;
}

static void test_outside_group_other_thread(void)
{
#ifdef NDEBUG /* a skip that keeps the children referenced (-Wunused-function) */
    PT_SKIP("assertions compiled out (NDEBUG): the misuse is not checked");
#endif
    int status = child_status(spawn_outside_group_child);
    REQUIRE(status != -2);
    CHECK_MSG(status >= 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
              "spawn from a stolen task: the child ended with status 0x%x (-1: hung), want "
              "SIGABRT (the debug assertion)",
              status);
    status = child_status(wait_outside_group_child);
    REQUIRE(status != -2);
    CHECK_MSG(status >= 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
              "wait from another thread: the child ended with status 0x%x (-1: hung), want "
              "SIGABRT (the debug assertion)",
              status);
}

/* ===== where a task runs ================================================== */

/* parx_spawn's Callback safety said fn runs "on any worker, or on the owner
   inside parx_wait"; a task also runs on another thread outside the pool
   that is inside a parx_wait of its own, which steals it (after a short
   grace) when it has nothing of its own left to run. Made certain here: the
   one worker is busy with T1's task, which holds it until T2's task has
   run; T2 does not wait; so T1, waiting, is the only thread that can run
   T2's task. */
struct where {
    atomic_long t1_task_started, t2_task_ran;
    pthread_t ran_on;
    parx_pool *p;
};

static void where_t1_task(void *arg)
{
    struct where *w = (struct where *)arg;
    atomic_store(&w->t1_task_started, 1);
    spin_until(&w->t2_task_ran, 1);
}

static void where_t2_task(void *arg)
{
    struct where *w = (struct where *)arg;
    w->ran_on = pthread_self();
    atomic_store(&w->t2_task_ran, 1);
}

static void *where_t2(void *arg)
{
    struct where *w = (struct where *)arg;
    parx_group g;
    parx_group_init(&g, w->p);
    CHECK_EQ(parx_spawn(&g, where_t2_task, w), 0);
    spin_until(&w->t2_task_ran, 1); /* not parx_wait: this thread runs nothing */
    CHECK_EQ(parx_wait(&g), 0);
    return NULL;
}

/* The implementation's PARX_OUTSIDE_SLOTS: tests/meson.build sets it for the
   _slots0 and _slots1 builds of this file as for their implementation. */
#ifdef PARX_OUTSIDE_SLOTS
enum { test_outside_slots = PARX_OUTSIDE_SLOTS };
#else
enum { test_outside_slots = 4 }; /* parx.h's default */
#endif

static void test_task_runs_on_other_waiter(void)
{
    if (test_outside_slots == 0) {
        PT_SKIP("no outside slots: an outside thread runs only its own group's tasks");
    }
    static struct where w;
    atomic_init(&w.t1_task_started, 0);
    atomic_init(&w.t2_task_ran, 0);
    w.p = parx_pool_create(&(parx_pool_desc){.threads = 1});
    REQUIRE(w.p != NULL);
    parx_group g;
    parx_group_init(&g, w.p);
    CHECK_EQ(parx_spawn(&g, where_t1_task, &w), 0);
    spin_until(&w.t1_task_started, 1); /* on the worker, which it now holds */
    pthread_t t2;
    REQUIRE(pthread_create(&t2, NULL, where_t2, &w) == 0);
    CHECK_EQ(parx_wait(&g), 0); /* returns once T2's task ran, here */
    pthread_join(t2, NULL);
    CHECK_MSG(pthread_equal(w.ran_on, main_thread),
              "T2's task ran on another thread than T1, the only one that was free");
    parx_pool_destroy(w.p);
}

/* ===== two pools at once ================================================== */

struct pool_user {
    parx_pool *p;
    atomic_long count;
    long want;
    int rc;
};

static void *pool_user_main(void *arg)
{
    struct pool_user *u = (struct pool_user *)arg;
    u->rc = 0;
    for (int round = 0; round < 20; round++) {
        parx_group g;
        parx_group_init(&g, u->p);
        for (int i = 0; i < 500; i++)
            if (parx_spawn(&g, count_task, &u->count) != 0)
                u->rc = -1;
        if (parx_wait(&g) != 0)
            u->rc = -2;
        u->want += 500;
    }
    return NULL;
}

struct cross {
    parx_pool *into;
    atomic_long *count;
    int rc;
};

/* runs on pool A, spawns into pool B (from A's point of view B is "outside") */
static void cross_task(void *arg)
{
    struct cross *c = (struct cross *)arg;
    parx_group g;
    parx_group_init(&g, c->into);
    c->rc = 0;
    for (int i = 0; i < 50; i++)
        if (parx_spawn(&g, count_task, c->count) != 0)
            c->rc = -1;
    if (parx_wait(&g) != 0)
        c->rc = -2;
}

static void test_two_pools(void)
{
    parx_pool *a = parx_pool_create(&(parx_pool_desc){.threads = 2});
    parx_pool *b = parx_pool_create(&(parx_pool_desc){.threads = 3});
    REQUIRE(a != NULL && b != NULL);
    /* two outside threads, one per pool, at the same time */
    static struct pool_user ua, ub;
    ua.p = a;
    ub.p = b;
    ua.want = ub.want = 0;
    atomic_init(&ua.count, 0);
    atomic_init(&ub.count, 0);
    pthread_t ta, tb;
    REQUIRE(pthread_create(&ta, NULL, pool_user_main, &ua) == 0);
    REQUIRE(pthread_create(&tb, NULL, pool_user_main, &ub) == 0);
    /* meanwhile the main thread feeds both pools through two groups, and
       tasks on A spawn into B */
    atomic_long ca, cb;
    atomic_init(&ca, 0);
    atomic_init(&cb, 0);
    struct cross cr[20];
    parx_group ga, gb;
    parx_group_init(&ga, a);
    parx_group_init(&gb, b);
    for (int i = 0; i < 2000; i++) {
        CHECK_EQ(parx_spawn(&ga, count_task, &ca), 0);
        CHECK_EQ(parx_spawn(&gb, count_task, &cb), 0);
    }
    for (int i = 0; i < 20; i++) {
        cr[i] = (struct cross){.into = b, .count = &cb, .rc = 1};
        CHECK_EQ(parx_spawn(&ga, cross_task, &cr[i]), 0);
    }
    CHECK_EQ(parx_wait(&gb), 0);
    CHECK_EQ(parx_wait(&ga), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK_EQ(ua.rc, 0);
    CHECK_EQ(ub.rc, 0);
    CHECK_EQ(atomic_load(&ua.count), ua.want);
    CHECK_EQ(atomic_load(&ub.count), ub.want);
    CHECK_EQ(atomic_load(&ca), 2000);
    /* cb also counts B tasks spawned by cross tasks; those finished before
       the cross task (and so ga's wait) returned */
    CHECK_EQ(atomic_load(&cb), 2000 + 20 * 50);
    for (int i = 0; i < 20; i++)
        CHECK_EQ(cr[i].rc, 0);
    parx_pool_destroy(a);
    parx_pool_destroy(b);
}

/* ===== group reuse ======================================================== */

static void test_group_reuse(void)
{
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = 2});
    REQUIRE(p != NULL);
    atomic_long count;
    atomic_init(&count, 0);
    parx_group g;
    parx_group_init(&g, p);
    long want = 0;
    for (int round = 0; round < 50; round++) {
        int n = 1 + round * 37 % 400;
        for (int i = 0; i < n; i++)
            CHECK_EQ(parx_spawn(&g, count_task, &count), 0);
        CHECK_EQ(parx_wait(&g), 0);
        want += n;
        /* the wait covered everything spawned so far, no more, no less */
        if (!CHECK_EQ(atomic_load(&count), want))
            break;
    }
    /* re-initialising a finished group is fine too */
    parx_group_init(&g, p);
    CHECK_EQ(parx_spawn(&g, count_task, &count), 0);
    CHECK_EQ(parx_wait(&g), 0);
    CHECK_EQ(atomic_load(&count), want + 1);
    parx_pool_destroy(p);
}

/* ===== custom allocator =================================================== */

static atomic_long alloc_calls, free_calls, alloc_live;
static atomic_int alloc_fail; /* 1: every allocation fails */

static void *test_alloc(size_t size, void *user)
{
    if (user != (void *)&alloc_calls)
        return NULL;
    if (atomic_load(&alloc_fail))
        return NULL;
    void *p = malloc(size);
    if (p) {
        atomic_fetch_add(&alloc_calls, 1);
        atomic_fetch_add(&alloc_live, 1);
    }
    return p;
}

static void test_free(void *ptr, void *user)
{
    (void)user;
    if (!ptr)
        return;
    atomic_fetch_add(&free_calls, 1);
    atomic_fetch_add(&alloc_live, -1);
    free(ptr);
}

static void wide_task(void *arg)
{
    /* more children than the deque holds: growth would need memory */
    atomic_long *count = (atomic_long *)arg;
    parx_group g;
    parx_group_init(&g, NULL);
    for (int i = 0; i < 1000; i++)
        if (parx_spawn(&g, count_task, count) != 0)
            return; /* count stays short: the test sees it */
    if (parx_wait(&g) != 0)
        return;
    atomic_fetch_add(count, 1);
}

static void test_allocator(void)
{
    atomic_store(&alloc_calls, 0);
    atomic_store(&free_calls, 0);
    atomic_store(&alloc_live, 0);
    atomic_store(&alloc_fail, 0);
    parx_pool_desc d = {.threads = 2, .deque_capacity = 4, .alloc = test_alloc,
                        .free = test_free, .alloc_user = (void *)&alloc_calls};
    parx_pool *p = parx_pool_create(&d);
    REQUIRE(p != NULL);
    CHECK(atomic_load(&alloc_calls) > 0); /* the pool's memory came from us */
    atomic_long count;
    atomic_init(&count, 0);
    parx_group g;
    parx_group_init(&g, p);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(parx_spawn(&g, wide_task, &count), 0);
    CHECK_EQ(parx_wait(&g), 0);
    CHECK_EQ(atomic_load(&count), 4 * 1001);

    /* Out of memory: spawns still succeed, by running the task at once. */
    atomic_store(&alloc_fail, 1);
    atomic_store(&count, 0);
    parx_group_init(&g, p);
    for (int i = 0; i < 2000; i++)
        CHECK_EQ(parx_spawn(&g, count_task, &count), 0);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(parx_spawn(&g, wide_task, &count), 0);
    CHECK_EQ(parx_wait(&g), 0);
    CHECK_EQ(atomic_load(&count), 2000 + 4 * 1001);
    atomic_store(&alloc_fail, 0);

    parx_pool_destroy(p);
    pt_diag("allocator: %ld allocations, %ld frees", atomic_load(&alloc_calls),
            atomic_load(&free_calls));
    CHECK_EQ(atomic_load(&alloc_live), 0); /* everything given back */
}

static void test_allocator_fails_at_create(void)
{
    atomic_store(&alloc_fail, 1);
    errno = 0;
    parx_pool *p = parx_pool_create(&(parx_pool_desc){
        .threads = 2, .alloc = test_alloc, .free = test_free, .alloc_user = (void *)&alloc_calls});
    int e = errno;
    atomic_store(&alloc_fail, 0);
    CHECK(p == NULL);
    CHECK_EQ(e, ENOMEM);
    if (p)
        parx_pool_destroy(p);
}

/* The allocator's blocks need malloc's alignment for their size, no more:
   8 bytes for what the pool keeps (pointers, 64-bit atomics); cache lines
   and parx_reduce's accumulators are aligned within the blocks. Blocks
   here are 8 bytes off malloc's 16 (UBSan builds check every access). */
static void *alloc_8(size_t size, void *user)
{
    (void)user;
    char *p = (char *)malloc(size + 8);
    return p ? p + 8 : NULL;
}

static void free_8(void *ptr, void *user)
{
    (void)user;
    if (ptr)
        free((char *)ptr - 8);
}

static void count_range(void *ctx, size_t b, size_t e)
{
    atomic_fetch_add((atomic_long *)ctx, (long)(e - b));
}

struct wide_acc {
    double v[40]; /* 320 bytes: allocated per tree node, not on the stack */
};

static void wide_leaf(void *ctx, size_t b, size_t e, void *acc)
{
    (void)ctx;
    for (size_t i = b; i < e; i++)
        ((struct wide_acc *)acc)->v[i % 40] += 1.0;
}

static void wide_combine(void *ctx, void *acc, const void *other)
{
    (void)ctx;
    for (int i = 0; i < 40; i++)
        ((struct wide_acc *)acc)->v[i] += ((const struct wide_acc *)other)->v[i];
}

static void test_allocator_8_aligned(void)
{
    parx_pool *p = parx_pool_create(
        &(parx_pool_desc){.threads = 2, .deque_capacity = 4, .alloc = alloc_8, .free = free_8});
    REQUIRE(p != NULL);
    atomic_long count;
    atomic_init(&count, 0);
    parx_group g;
    parx_group_init(&g, p);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(parx_spawn(&g, wide_task, &count), 0);
    CHECK_EQ(parx_wait(&g), 0);
    CHECK_EQ(atomic_load(&count), 4 * 1001);
    atomic_store(&count, 0);
    CHECK_EQ(parx_for(p, 0, 100000, 7, count_range, &count), 0);
    CHECK_EQ(atomic_load(&count), 100000);
    struct wide_acc zero, sum;
    memset(&zero, 0, sizeof zero);
    CHECK_EQ(parx_reduce(p, 0, 40000, 100, sizeof sum, &zero, wide_leaf, wide_combine, NULL, &sum),
             0);
    for (int i = 0; i < 40; i++)
        CHECK(sum.v[i] == 1000.0);
    parx_pool_destroy(p);
}

/* ===== a pool in a child of fork() ======================================= */

/* fork() copies one thread: in the child a pool has no workers, and a loop
   or a wait on it slept for ever (found in review). Each entry point must
   refuse the copy with -EPERM at once, destroy must leave it (logged), and
   the child may make and use a pool of its own. */
static parx_pool *fork_pool;

static void fk_range(void *ctx, size_t b, size_t e)
{
    (void)ctx, (void)b, (void)e;
}

static void fk_leaf(void *ctx, size_t b, size_t e, void *acc)
{
    (void)ctx;
    for (size_t i = b; i < e; i++)
        *(uint64_t *)acc += i;
}

static void fk_combine(void *ctx, void *acc, const void *other)
{
    (void)ctx;
    *(uint64_t *)acc += *(const uint64_t *)other;
}

static void fk_task(void *arg)
{
    (void)arg;
}

/* In the child: a bit of the exit status per check that failed. `grp`:
   the group's pool as parx_group_init(&g, NULL) finds it (a child forked
   from a task runs on a copy of a worker thread). */
static int fk_checks(parx_pool *grp)
{
    alarm(20); /* a hang is a failure, not a stuck test */
    int bad = 0;
    uint64_t zero = 0, res = 7;
    bad |= (parx_for(fork_pool, 0, 1000, 0, fk_range, NULL) != -EPERM) << 0;
    bad |= (parx_reduce(fork_pool, 0, 1000, 0, sizeof res, &zero, fk_leaf, fk_combine, NULL,
                        &res) != -EPERM || res != 7) << 1;
    parx_group g;
    parx_group_init(&g, grp);
    bad |= (parx_spawn(&g, fk_task, NULL) != -EPERM) << 2;
    bad |= (parx_wait(&g) != -EPERM) << 3;
    parx_pool_destroy(fork_pool); /* refused: logged, returns */
    if (UNDER_TSAN) /* it refuses threads in a child of a threaded process */
        return bad;
    parx_pool *own = parx_pool_create(&(parx_pool_desc){.threads = 2});
    if (!own)
        return 1 << 6;
    res = 0;
    bad |= (parx_reduce(own, 0, 1000, 0, sizeof res, &zero, fk_leaf, fk_combine, NULL, &res) !=
                0 || res != 499500) << 4;
    parx_group_init(&g, own);
    bad |= (parx_spawn(&g, fk_task, NULL) != 0 || parx_wait(&g) != 0) << 5;
    parx_pool_destroy(own);
    return bad;
}

static int fk_child(void) { return fk_checks(fork_pool); }

/* The fork from inside a task: the child runs on a copy of a worker. */
static _Atomic int fk_task_status = -3;

static void fk_forking_task(void *arg)
{
    (void)arg;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(fk_checks(NULL));
    int st = -2;
    if (pid > 0 && waitpid(pid, &st, 0) != pid)
        st = -2;
    atomic_store(&fk_task_status, st);
}

static void test_pool_in_fork_child(void)
{
    fork_pool = parx_pool_create(&(parx_pool_desc){.threads = 2});
    REQUIRE(fork_pool);
    int st = child_status(fk_child);
    CHECK_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "child of the main thread: status 0x%x (exit bits: failed checks)", st);
    parx_group g;
    parx_group_init(&g, fork_pool);
    CHECK_EQ(parx_spawn(&g, fk_forking_task, NULL), 0);
    CHECK_EQ(parx_wait(&g), 0);
    st = atomic_load(&fk_task_status);
    CHECK_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "child of a task: status 0x%x (exit bits: failed checks)", st);
    /* the parent's pool is untouched */
    uint64_t zero = 0, res = 0;
    CHECK_EQ(parx_reduce(fork_pool, 0, 1000, 0, sizeof res, &zero, fk_leaf, fk_combine, NULL,
                         &res), 0);
    CHECK_EQ_U(res, 499500);
    parx_pool_destroy(fork_pool);
}

/* The stack of the worker running it, into got[0]; then counts itself. */
static _Atomic size_t stack_seen;
static atomic_long stack_done;
static void stack_of_worker(void *arg)
{
    (void)arg;
    pthread_attr_t a;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
        pthread_attr_getstacksize(&a, &size);
        pthread_attr_destroy(&a);
    }
    atomic_store(&stack_seen, size);
    atomic_fetch_add(&stack_done, 1);
}

/* stack_size: the workers' stacks are the size asked for (at least: the
   system rounds it to pages); below PTHREAD_STACK_MIN, EINVAL. */
static void test_stack_size(void)
{
    errno = 0;
    CHECK(parx_pool_create(&(parx_pool_desc){.threads = 1, .stack_size = 1}) == NULL);
    CHECK_EQ(errno, EINVAL);
    size_t want = (size_t)24 << 20;
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = 1, .stack_size = want});
    REQUIRE(p);
    parx_group g;
    parx_group_init(&g, p);
    CHECK_EQ(parx_spawn(&g, stack_of_worker, NULL), 0);
    spin_until(&stack_done, 1); /* run by the worker: this thread does not help */
    CHECK_EQ(parx_wait(&g), 0);
    CHECK_MSG(atomic_load(&stack_seen) >= want, "a worker's stack: %zu bytes, asked for %zu",
              (size_t)atomic_load(&stack_seen), want);
    parx_pool_destroy(p);
}

int main(void)
{
    main_thread = pthread_self();
    pt_plan(26);
    pt_run("create with NULL desc: one thread per allowed CPU, spawn/wait from outside",
           test_create_null_desc);
    pt_run("create with a zeroed desc", test_create_zeroed_desc);
    pt_run("create with threads = 1, 2, 3, 9: parx_pool_size, spawn/wait from outside",
           test_create_explicit);
    pt_run("every desc field set (tiny deque, 1 spin round, name)", test_desc_fields);
    pt_run("worker threads carry the name prefix", test_thread_names);
    pt_run("nested groups inside tasks (group_init NULL), pools of 1..3 threads",
           test_nested_groups);
    pt_run("waiting on an empty group, outside and inside a task", test_wait_empty_group);
    pt_run("parx_worker_index: -1 outside, 0..n-1 on workers, -1 for another pool",
           test_worker_index);
    pt_run("parx_worker_index: -1 in a task of pool B run by a worker of pool A",
           test_worker_index_across_pools);
    pt_run("parx_pool_stats: tasks counted = tasks run on workers", test_stats);
    pt_run("parx_pool_stats with n smaller than the pool, and n = 0", test_stats_partial);
    pt_run("idle workers sleep in the kernel (/proc state S), counted, and wake for work",
           test_idle_workers_sleep);
    pt_run("spin_rounds 1, 2, 31, 32: workers still run tasks spawned from outside",
           test_few_spin_rounds);
    pt_run("destroy with work queued runs every task (1..3 threads)",
           test_destroy_with_queued_work);
    pt_run("parx_pool_destroy from a task run by the waiting outside thread is caught",
           test_destroy_from_task);
    pt_run("parx_pool_destroy from a task of another pool nested in a wait on it: refused",
           test_destroy_nested);
    pt_run("a stolen task spawning into its parent's group is caught (debug builds)",
           test_spawn_into_other_group);
    pt_run("a group of an outside thread spawned into by a task, or waited on by another "
           "thread, is caught (debug builds)",
           test_outside_group_other_thread);
    pt_run("a task may run on another outside thread inside its own parx_wait",
           test_task_runs_on_other_waiter);
    pt_run("two pools used at the same time, and tasks of one spawning into the other",
           test_two_pools);
    pt_run("group reuse after wait (and re-init)", test_group_reuse);
    pt_run("custom allocator used and balanced; out of memory runs spawns inline",
           test_allocator);
    pt_run("allocator failing at create: NULL, errno ENOMEM", test_allocator_fails_at_create);
    pt_run("an allocator whose blocks are aligned to 8 bytes, not 16", test_allocator_8_aligned);
    pt_run("a pool in a child of fork(): -EPERM from every entry point, no hang",
           test_pool_in_fork_child);
    pt_run("stack_size: the workers' stacks as asked; below PTHREAD_STACK_MIN, EINVAL",
           test_stack_size);
    return pt_done_testing();
}
