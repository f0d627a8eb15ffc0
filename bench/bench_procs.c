/* SPDX-License-Identifier: MIT */
/*
    bench/bench_procs.c -- the process pool (parx_procs_*) against what a
    Python programmer would otherwise use (the Python side is bench_procs.py).

        bench_procs start     mode=fork|spawn workers=2 rss=10 reps=9
        bench_procs fork      rss=10 reps=15
        bench_procs roundtrip mode=fork|spawn workers=1 iters=1e5 reps=5 gap_us=0
        bench_procs map       mode=fork|spawn workers=2 n=1e5 reps=5
        bench_procs handoff   mode=fork|spawn mib=1,100 iters=1000 reps=5
        bench_procs crash     mode=fork|spawn workers=1 reps=20 rss=0

    start      pool start. `rss` MiB of the parent are allocated and touched
               first (the parent's resident size then, VmRSS, is emitted as
               rss_mib), so fork-mode costs that grow with the parent show.
               One repetition: parx_procs_create (returns once every worker
               is ready: create_us), then one trivial job submitted and
               waited for (first_us, counted from before create), then one
               job per worker submitted at once, each waiting until all of
               them run -- every worker is up and taking jobs (allup_us,
               counted from before create). The same three points as
               bench_procs.py. destroy is not timed. The first repetition is
               an untimed warm-up (reported as cold_us: its allup time).
    fork       the floor under fork mode: one bare fork() of this process
               (made `rss` MiB resident as for start) until the child runs;
               impl "os", variant "fork()", metric create_us, same case as
               start. Fork mode forks the caller, then the server per worker.
    roundtrip  submit one empty job and wait for it, `iters` times. gap_us=0:
               back to back, workers and the caller busy-polling (hot);
               gap_us=5000: the caller sleeps 5 ms before each job, long
               after the workers (spin_ns default 50 us) went to sleep on
               their futex, so each job includes a wake-up. Metric us: the
               mean per round trip of a repetition, best and median of reps;
               us_p50 / us_p99: over every single round trip of the reps
               (gap only, where each one is timed alone).
    map        parx_procs_map of n tiny jobs (each adds 1 to its own int in
               the arena); results checked. jobs_per_s from the best rep.
    handoff    an argument of `mib` MiB already in the arena (allocated and
               filled before timing): submit + wait of a job that reads its
               first byte and writes its last one. us: mean over `iters`
               hot hand-offs, the sizes taking turns (1 MiB, 100 MiB, 1 MiB,
               ...) so that they meet the same machine; first_us: the first
               one after filling (the worker maps those pages for the first
               time), right after an untimed empty job, so that the worker
               is awake for every size alike. Each repetition uses a fresh block of the arena per
               size (sized for all of them). For
               comparison, copy_ms: memcpy of `mib` MiB from private memory
               into the arena block (destination pages already touched),
               copy_first_ms: the same into the fresh block (page faults in),
               which is what putting the argument in the arena costs once.
               One worker.
    crash      a pool with retries=1. One repetition: a normal job (normal_us,
               submit to result), then a job that raise(SIGKILL)s its worker
               on its first attempt and returns 0 on its second (crash_us);
               extra_us = crash_us - normal_us of that repetition: the
               death detected, the job requeued, a worker replaced and the
               job run again. Checked: attempts == 2, status 0, signal 9.
               The replacement is waited for (parx_procs_stats.started)
               before the next repetition. rss=N: the parent is made N MiB
               resident first, as for start (case crash-rss<N>).

    Every command takes spin_us=N: the pool's spin_ns (how long idle workers
    and waiting callers poll before they sleep) in microseconds; default 0,
    parx's own default (50 us).

    In the RES lines, bench is "procs", impl "parx", variant the start mode,
    `threads` the number of workers. Build by hand:
        cc -std=c11 -O2 -Wall -Wextra -pthread -I.. bench_procs.c bench_common.c ../parx.c -lm
    Spawn mode re-executes this program: parx.c's constructor takes the copy
    over before main, so nothing here needs to know.
*/
#define _GNU_SOURCE

#include "bench.h"
#include "parx.h"
#include "parx_shm.h"

#include <errno.h>
#include <signal.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ===== jobs (run in the workers) ========================================== */

static int job_empty(void *arg)
{
    (void)arg;
    return 0;
}

static int job_inc(void *arg)
{
    int *p = arg;
    *p += 1;
    return 0;
}

/* One job per worker: each waits until all of them run. */
typedef struct barrier {
    _Atomic int arrived;
    int n;
} barrier;

static int job_barrier(void *arg)
{
    barrier *b = arg;
    atomic_fetch_add(&b->arrived, 1);
    uint64_t t0 = bench_now_ns();
    while (atomic_load(&b->arrived) < b->n) {
        sched_yield(); /* 8 workers on 2 CPUs: let the others get there */
        if (bench_now_ns() - t0 > 30000000000ull)
            return 1;
    }
    return 0;
}

typedef struct blob {
    size_t len;      /* bytes of data */
    size_t data_off; /* where the data starts, from this header (no pointers:
                        the arena sits at another address in each process) */
} blob;

static int job_touch(void *arg)
{
    blob *b = arg;
    unsigned char *d = (unsigned char *)arg + b->data_off;
    d[b->len - 1] = d[0]; /* one byte read, one written */
    return 0;
}

/* Kills its worker on the first attempt; the retry finds the flag set. */
static int job_crash_once(void *arg)
{
    _Atomic int *flag = arg;
    if (atomic_exchange(flag, 1) == 0)
        raise(SIGKILL);
    return 0;
}

/* ===== helpers ============================================================== */

static parx_start parse_mode(int argc, char **argv, const char **name)
{
    *name = bench_arg_str(argc, argv, "mode", "fork");
    if (strcmp(*name, "fork") == 0)
        return PARX_START_FORK;
    if (strcmp(*name, "spawn") == 0)
        return PARX_START_SPAWN;
    bench_die("mode=fork or mode=spawn, not '%s'", *name);
}

static uint64_t spin_ns; /* spin_us=...: parx_procs_desc.spin_ns; 0: parx's default */

static parx_procs *make_pool(parx_start mode, int workers, size_t arena_bytes, int retries)
{
    parx_procs_desc d;
    memset(&d, 0, sizeof d);
    d.spin_ns = spin_ns;
    d.workers = workers;
    d.start = mode;
    d.arena_bytes = arena_bytes;
    d.retries = retries;
    parx_procs *pp = parx_procs_create(&d);
    if (!pp)
        bench_die("parx_procs_create(%d workers): %s (%d)", workers, parx_strerror(-errno), -errno);
    return pp;
}

static void *arena_alloc(parx_procs *pp, size_t size)
{
    void *p = parx_arena_alloc(parx_procs_arena(pp), size, 64);
    if (!p)
        bench_die("parx_arena_alloc(%zu): %s", size, strerror(errno));
    return p;
}

/* submit + wait; dies unless the job returned 0 (r->status; r may be NULL).
   parx_procs_wait returns 0 once the job is over, the job's own status being
   in the result (it returned that status itself before the review fixes of
   the process pool: both are checked). */
static void run_job(parx_procs *pp, parx_job_fn fn, void *arg, parx_job_result *r)
{
    parx_ticket t;
    parx_job_result mine;
    if (!r)
        r = &mine;
    int rc = parx_procs_submit(pp, fn, arg, &t);
    if (rc != 0)
        bench_die("parx_procs_submit: %s (%d)", parx_strerror(rc), rc);
    rc = parx_procs_wait(pp, t, r);
    if (rc != 0 || r->status != 0)
        bench_die("a job failed: wait %d, status %d", rc, r->status);
}

/* VmRSS of this process in MiB. */
static double rss_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (!f)
        bench_die("/proc/self/status: %s", strerror(errno));
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return (double)kb / 1024.0;
}

/* Make this process `mib` MiB resident (VmRSS) by allocating and writing the
   difference: the parent's size, which fork mode copies (page tables, and
   dirty pages on write). Returns the block, to free when done. */
static char *grow_to(long mib)
{
    double have = rss_mib();
    char *ballast = NULL;
    if ((double)mib > have + 1) {
        size_t len = (size_t)(((double)mib - have) * 1048576.0);
        ballast = malloc(len);
        if (!ballast)
            bench_die("cannot allocate %zu bytes of ballast", len);
        memset(ballast, 1, len); /* touched: resident and dirty */
    }
    return ballast;
}

/* "rss10m", "rss2g" */
static void rss_case(char *buf, size_t len, const char *prefix, long mib)
{
    if (mib % 1024 == 0)
        snprintf(buf, len, "%s%ldg", prefix, mib / 1024);
    else
        snprintf(buf, len, "%s%ldm", prefix, mib);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of v[0..n), sorted in place. */
static double quantile(double *v, size_t n, double q)
{
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static void emit_reps(const bench_reps *r, const char *mode, const char *cas, int workers,
                      const char *metric, double scale)
{
    bench_reps_emit_also(r, "procs", "parx", mode, cas, workers, metric, scale);
}

/* ===== start ================================================================= */

static void run_start(int argc, char **argv)
{
    const char *mname;
    parx_start mode = parse_mode(argc, argv, &mname);
    int workers = (int)bench_arg_long(argc, argv, "workers", 2);
    long rss = bench_arg_long(argc, argv, "rss", 10);
    int reps = (int)bench_arg_long(argc, argv, "reps", 9);
    if (workers < 1 || reps < 1 || reps > BENCH_MAX_REPS)
        bench_die("start: workers >= 1, 1 <= reps <= %d", BENCH_MAX_REPS);

    char *ballast = grow_to(rss);
    double rss_now = rss_mib();
    char cas[32];
    rss_case(cas, sizeof cas, "rss", rss);

    bench_reps cr, fr, ar;
    bench_reps_init(&cr, reps, 1e30);
    bench_reps_init(&fr, reps, 1e30);
    bench_reps_init(&ar, reps, 1e30);
    double cold = 0;
    for (int rep = 0; rep <= reps; rep++) {
        uint64_t t0 = bench_now_ns();
        parx_procs *pp = make_pool(mode, workers, 0, 0);
        uint64_t t1 = bench_now_ns();
        run_job(pp, job_empty, NULL, NULL);
        uint64_t t2 = bench_now_ns();
        barrier *b = arena_alloc(pp, sizeof *b);
        atomic_init(&b->arrived, 0);
        b->n = workers;
        parx_ticket tk[64];
        int nb = workers < 64 ? workers : 64;
        b->n = nb;
        for (int i = 0; i < nb; i++)
            if (parx_procs_submit(pp, job_barrier, b, &tk[i]) != 0)
                bench_die("start: submit failed");
        for (int i = 0; i < nb; i++) {
            parx_job_result r;
            if (parx_procs_wait(pp, tk[i], &r) != 0 || r.status != 0)
                bench_die("start: a barrier job failed (status %d)", r.status);
        }
        uint64_t t3 = bench_now_ns();
        parx_procs_destroy(pp);
        if (rep == 0) {
            cold = (double)(t3 - t0) * 1e-9;
            continue;
        }
        bench_reps_add(&cr, (double)(t1 - t0) * 1e-9);
        bench_reps_add(&fr, (double)(t2 - t0) * 1e-9);
        bench_reps_add(&ar, (double)(t3 - t0) * 1e-9);
    }
    emit_reps(&cr, mname, cas, workers, "create_us", 1e6);
    emit_reps(&fr, mname, cas, workers, "first_us", 1e6);
    emit_reps(&ar, mname, cas, workers, "allup_us", 1e6);
    bench_emit("procs", "parx", mname, cas, workers, "cold_us", cold * 1e6);
    bench_emit("procs", "parx", mname, cas, workers, "reps", cr.n);
    bench_emit("procs", "parx", mname, cas, workers, "rss_mib", rss_now);
    free(ballast);
}

/* ===== fork: the floor under fork mode ======================================= */

/* What one bare fork costs this process at its size: fork() until the child
   runs (it writes a byte into a pipe), the child then _exit()s and is
   reaped untimed. Fork mode forks the caller once (its fork server) and the
   server once per worker, so its start cannot beat about 1 + workers of
   these in a row. Emitted as impl "os", variant "fork()", create_us, in the
   start table's case for the same rss. */
static void run_fork(int argc, char **argv)
{
    long rss = bench_arg_long(argc, argv, "rss", 10);
    int reps = (int)bench_arg_long(argc, argv, "reps", 15);
    if (reps < 1 || reps > BENCH_MAX_REPS)
        bench_die("fork: 1 <= reps <= %d", BENCH_MAX_REPS);
    char *ballast = grow_to(rss);
    char cas[32];
    rss_case(cas, sizeof cas, "rss", rss);
    bench_reps r;
    bench_reps_init(&r, reps, 1e30);
    for (int rep = 0; rep <= reps; rep++) {
        int fd[2];
        if (pipe(fd) != 0)
            bench_die("pipe: %s", strerror(errno));
        fflush(stdout);
        uint64_t t0 = bench_now_ns();
        pid_t pid = fork();
        if (pid < 0)
            bench_die("fork: %s", strerror(errno));
        if (pid == 0) {
            char x = 1;
            _exit(write(fd[1], &x, 1) == 1 ? 0 : 1);
        }
        char x;
        if (read(fd[0], &x, 1) != 1)
            bench_die("fork: the child did not run");
        uint64_t t1 = bench_now_ns();
        waitpid(pid, NULL, 0);
        close(fd[0]);
        close(fd[1]);
        if (rep > 0)
            bench_reps_add(&r, (double)(t1 - t0) * 1e-9);
    }
    bench_reps_emit_also(&r, "procs", "os", "fork()", cas, 1, "create_us", 1e6);
    bench_emit("procs", "os", "fork()", cas, 1, "reps", r.n);
    bench_emit("procs", "os", "fork()", cas, 1, "rss_mib", rss_mib());
    free(ballast);
}

/* ===== roundtrip ============================================================= */

static void run_roundtrip(int argc, char **argv)
{
    const char *mname;
    parx_start mode = parse_mode(argc, argv, &mname);
    int workers = (int)bench_arg_long(argc, argv, "workers", 1);
    long iters = bench_arg_long(argc, argv, "iters", 100000);
    int reps = (int)bench_arg_long(argc, argv, "reps", 5);
    long gap_us = bench_arg_long(argc, argv, "gap_us", 0);
    if (workers < 1 || iters < 1 || reps < 1 || reps > BENCH_MAX_REPS)
        bench_die("roundtrip: workers >= 1, iters >= 1, 1 <= reps <= %d", BENCH_MAX_REPS);
    parx_procs *pp = make_pool(mode, workers, 0, 0);
    const char *cas = gap_us ? "sleep" : "hot";
    double *each = NULL;
    size_t ne = 0;
    if (gap_us)
        each = malloc((size_t)iters * (size_t)reps * sizeof *each);
    if (gap_us && !each)
        bench_die("out of memory");
    /* warm-up: the function table entry, the workers' caches */
    for (int i = 0; i < 1000; i++)
        run_job(pp, job_empty, NULL, NULL);
    bench_reps r;
    bench_reps_init(&r, reps, 1e30);
    while (bench_reps_more(&r)) {
        double sum = 0;
        if (gap_us) {
            for (long i = 0; i < iters; i++) {
                bench_sleep_ns((uint64_t)gap_us * 1000);
                uint64_t t0 = bench_now_ns();
                run_job(pp, job_empty, NULL, NULL);
                double t = (double)(bench_now_ns() - t0) * 1e-9;
                sum += t;
                each[ne++] = t;
            }
        } else {
            uint64_t t0 = bench_now_ns();
            for (long i = 0; i < iters; i++)
                run_job(pp, job_empty, NULL, NULL);
            sum = (double)(bench_now_ns() - t0) * 1e-9;
        }
        bench_reps_add(&r, sum);
    }
    emit_reps(&r, mname, cas, workers, "us", 1e6 / (double)iters);
    bench_emit("procs", "parx", mname, cas, workers, "reps", r.n);
    bench_emit("procs", "parx", mname, cas, workers, "iters", (double)iters);
    if (gap_us) {
        bench_emit("procs", "parx", mname, cas, workers, "gap_us", (double)gap_us);
        bench_emit("procs", "parx", mname, cas, workers, "us_p50", quantile(each, ne, 0.5) * 1e6);
        bench_emit("procs", "parx", mname, cas, workers, "us_p99", quantile(each, ne, 0.99) * 1e6);
    }
    free(each);
    parx_procs_destroy(pp);
}

/* ===== map =================================================================== */

static void run_map(int argc, char **argv)
{
    const char *mname;
    parx_start mode = parse_mode(argc, argv, &mname);
    int workers = (int)bench_arg_long(argc, argv, "workers", 2);
    long n = bench_arg_long(argc, argv, "n", 100000);
    int reps = (int)bench_arg_long(argc, argv, "reps", 5);
    if (workers < 1 || n < 1 || reps < 1 || reps > BENCH_MAX_REPS)
        bench_die("map: workers >= 1, n >= 1, 1 <= reps <= %d", BENCH_MAX_REPS);
    parx_procs *pp = make_pool(mode, workers, 0, 0);
    int *vals = arena_alloc(pp, (size_t)n * sizeof *vals);
    void **args = malloc((size_t)n * sizeof *args);
    parx_job_result *res = malloc((size_t)n * sizeof *res);
    if (!args || !res)
        bench_die("out of memory");
    for (long i = 0; i < n; i++)
        args[i] = &vals[i];
    memset(vals, 0, (size_t)n * sizeof *vals);
    bench_reps r;
    bench_reps_init(&r, reps, 1e30);
    for (int rep = 0; rep == 0 || bench_reps_more(&r); rep++) {
        bench_mark m = bench_mark_now();
        int rc = parx_procs_map(pp, job_inc, args, (size_t)n, res);
        if (rep > 0)
            bench_reps_add_since(&r, m);
        if (rc != 0)
            bench_die("parx_procs_map: %d", rc);
    }
    for (long i = 0; i < n; i++)
        if (vals[i] != r.n + 1)
            bench_die("map: job %ld ran %d times, not %d", i, vals[i], r.n + 1);
    char cas[32], sz[24];
    snprintf(cas, sizeof cas, "map%s", bench_size_name((size_t)n, sz, sizeof sz));
    bench_reps_emit(&r, "procs", "parx", mname, cas, workers, "secs", 1.0);
    bench_emit("procs", "parx", mname, cas, workers, "jobs_per_s",
               (double)n / bench_reps_min(&r));
    bench_emit("procs", "parx", mname, cas, workers, "jobs_per_s_med",
               (double)n / bench_reps_median(&r));
    free(args);
    free(res);
    parx_procs_destroy(pp);
}

/* ===== handoff =============================================================== */

#define MAX_SIZES 8

/* All sizes in each repetition, so that they share the machine's state: a
   fresh block per size (never used before: its pages are new to this
   process and to the worker), filled by memcpy twice (copy_first_ms: fresh
   pages, faults included; copy_ms: the same pages again), the first
   hand-off of each (first_us, each after an untimed empty job), then `iters` rounds of one hand-off per size
   in turn, each timed alone (us: the mean per size). Interleaving keeps a
   change in scheduling (another process taking a CPU) from landing on one
   size only. */
static void run_handoff(int argc, char **argv)
{
    const char *mname;
    parx_start mode = parse_mode(argc, argv, &mname);
    const char *sizes = bench_arg_str(argc, argv, "mib", "1,100");
    long iters = bench_arg_long(argc, argv, "iters", 1000);
    int reps = (int)bench_arg_long(argc, argv, "reps", 5);
    if (iters < 1 || reps < 1 || reps > BENCH_MAX_REPS - 1)
        bench_die("handoff: iters >= 1, 1 <= reps <= %d", BENCH_MAX_REPS - 1);
    long mib[MAX_SIZES], total = 0, maxmib = 0;
    int ns = 0;
    for (const char *p = sizes; *p;) {
        char *end;
        long m = strtol(p, &end, 10);
        if (end == p || m < 1 || ns == MAX_SIZES)
            bench_die("handoff: mib=N,N,... (MiB, >= 1, at most %d sizes)", MAX_SIZES);
        mib[ns++] = m;
        total += m;
        maxmib = m > maxmib ? m : maxmib;
        p = *end == ',' ? end + 1 : end;
    }
    /* One worker: the hand-off alone, with no second worker polling beside
       it. Room for a fresh block per size and repetition. */
    parx_procs *pp =
        make_pool(mode, 1, ((size_t)total << 20) * (size_t)(reps + 1) + (64u << 20), 0);
    unsigned char *src = malloc((size_t)maxmib << 20);
    if (!src)
        bench_die("out of memory");
    for (size_t i = 0; i < (size_t)maxmib << 20; i++)
        src[i] = (unsigned char)(i * 31 + 7);
    bench_reps hot[MAX_SIZES], first[MAX_SIZES], copy[MAX_SIZES], copy_first[MAX_SIZES];
    for (int k = 0; k < ns; k++) {
        bench_reps_init(&hot[k], reps, 1e30);
        bench_reps_init(&first[k], reps, 1e30);
        bench_reps_init(&copy[k], reps, 1e30);
        bench_reps_init(&copy_first[k], reps, 1e30);
    }
    blob *blk[BENCH_MAX_REPS][MAX_SIZES];
    for (int rep = 0; rep <= reps; rep++) {
        double t_cf[MAX_SIZES], t_c[MAX_SIZES], t_f[MAX_SIZES], t_h[MAX_SIZES];
        for (int k = 0; k < ns; k++) {
            size_t len = (size_t)mib[k] << 20;
            blob *b = blk[rep][k] = arena_alloc(pp, sizeof(blob) + 64 + len);
            b->len = len;
            b->data_off = (sizeof(blob) + 63) & ~(size_t)63;
            unsigned char *d = (unsigned char *)b + b->data_off;
            uint64_t t0 = bench_now_ns();
            memcpy(d, src, len); /* fresh pages: they fault in */
            uint64_t t1 = bench_now_ns();
            memcpy(d, src, len); /* the same pages again */
            uint64_t t2 = bench_now_ns();
            t_cf[k] = (double)(t1 - t0) * 1e-9;
            t_c[k] = (double)(t2 - t1) * 1e-9;
            t_h[k] = 0;
        }
        for (int k = 0; k < ns; k++) {
            /* The worker awake for every size alike: the copies above took
               far longer than it spins, and the first size would pay its
               wake-up, the others not. */
            run_job(pp, job_empty, NULL, NULL);
            uint64_t t0 = bench_now_ns();
            run_job(pp, job_touch, blk[rep][k], NULL);
            t_f[k] = (double)(bench_now_ns() - t0) * 1e-9;
        }
        for (long i = 0; i < iters; i++)
            for (int k = 0; k < ns; k++) {
                uint64_t t0 = bench_now_ns();
                run_job(pp, job_touch, blk[rep][k], NULL);
                t_h[k] += (double)(bench_now_ns() - t0) * 1e-9;
            }
        for (int k = 0; k < ns; k++) {
            unsigned char *d = (unsigned char *)blk[rep][k] + blk[rep][k]->data_off;
            if (d[blk[rep][k]->len - 1] != d[0])
                bench_die("handoff: the job did not run");
        }
        if (rep == 0)
            continue; /* warm-up */
        for (int k = 0; k < ns; k++) {
            bench_reps_add(&copy_first[k], t_cf[k]);
            bench_reps_add(&copy[k], t_c[k]);
            bench_reps_add(&first[k], t_f[k]);
            bench_reps_add(&hot[k], t_h[k]);
        }
    }
    for (int rep = 0; rep <= reps; rep++)
        for (int k = 0; k < ns; k++)
            parx_arena_free(parx_procs_arena(pp), blk[rep][k]);
    for (int k = 0; k < ns; k++) {
        char cas[32];
        snprintf(cas, sizeof cas, "arg%ldm", mib[k]);
        emit_reps(&hot[k], mname, cas, 1, "us", 1e6 / (double)iters);
        emit_reps(&first[k], mname, cas, 1, "first_us", 1e6);
        emit_reps(&copy[k], mname, cas, 1, "copy_ms", 1e3);
        emit_reps(&copy_first[k], mname, cas, 1, "copy_first_ms", 1e3);
        bench_emit("procs", "parx", mname, cas, 1, "reps", hot[k].n);
        bench_emit("procs", "parx", mname, cas, 1, "iters", (double)iters);
    }
    free(src);
    parx_procs_destroy(pp);
}

/* ===== crash ================================================================= */

static void run_crash(int argc, char **argv)
{
    const char *mname;
    parx_start mode = parse_mode(argc, argv, &mname);
    int workers = (int)bench_arg_long(argc, argv, "workers", 1);
    int reps = (int)bench_arg_long(argc, argv, "reps", 20);
    if (workers < 1 || reps < 1 || reps > BENCH_MAX_REPS)
        bench_die("crash: workers >= 1, 1 <= reps <= %d", BENCH_MAX_REPS);
    long rss = bench_arg_long(argc, argv, "rss", 0);
    char cas[32] = "crash";
    char *ballast = NULL;
    if (rss > 0) { /* a large parent: fork mode's server is a copy of it */
        ballast = grow_to(rss);
        rss_case(cas, sizeof cas, "crash-rss", rss);
    }
    parx_procs *pp = make_pool(mode, workers, 0, 1);
    _Atomic int *flag = arena_alloc(pp, sizeof *flag);
    bench_reps normal, crash, extra;
    bench_reps_init(&normal, reps, 1e30);
    bench_reps_init(&crash, reps, 1e30);
    bench_reps_init(&extra, reps, 1e30);
    for (int i = 0; i < 1000; i++)
        run_job(pp, job_empty, NULL, NULL);
    for (int rep = 0; rep <= reps; rep++) {
        atomic_store(flag, 0);
        parx_job_result res;
        uint64_t t0 = bench_now_ns();
        run_job(pp, job_empty, NULL, NULL);
        uint64_t t1 = bench_now_ns();
        run_job(pp, job_crash_once, (void *)flag, &res);
        uint64_t t2 = bench_now_ns();
        if (res.attempts != 2 || res.signal != SIGKILL || res.status != 0)
            bench_die("crash: attempts %d, signal %d, status %d (want 2, %d, 0)", res.attempts,
                      res.signal, res.status, SIGKILL);
        /* Wait for the replacement to be up before the next repetition. */
        parx_procs_info info;
        uint64_t want = (uint64_t)workers + (uint64_t)rep + 1;
        uint64_t w0 = bench_now_ns();
        do {
            parx_procs_stats(pp, &info);
            if (info.started >= want)
                break;
            bench_sleep_ns(100000);
        } while (bench_now_ns() - w0 < 5000000000ull);
        if (info.started < want)
            bench_die("crash: no replacement worker after 5 s (%llu started, want %llu)",
                      (unsigned long long)info.started, (unsigned long long)want);
        for (int i = 0; i < 100; i++) /* the new worker is hot again */
            run_job(pp, job_empty, NULL, NULL);
        if (rep == 0)
            continue;
        bench_reps_add(&normal, (double)(t1 - t0) * 1e-9);
        bench_reps_add(&crash, (double)(t2 - t1) * 1e-9);
        bench_reps_add(&extra, (double)(t2 - t1) * 1e-9 - (double)(t1 - t0) * 1e-9);
    }
    parx_procs_info info;
    parx_procs_stats(pp, &info);
    emit_reps(&crash, mname, cas, workers, "crash_us", 1e6);
    emit_reps(&normal, mname, cas, workers, "normal_us", 1e6);
    emit_reps(&extra, mname, cas, workers, "extra_us", 1e6);
    bench_emit("procs", "parx", mname, cas, workers, "reps", crash.n);
    bench_emit("procs", "parx", mname, cas, workers, "crashed", (double)info.crashed);
    bench_emit("procs", "parx", mname, cas, workers, "retried", (double)info.retried);
    if (rss > 0)
        bench_emit("procs", "parx", mname, cas, workers, "rss_mib", rss_mib());
    parx_procs_destroy(pp);
    free(ballast);
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    spin_ns = (uint64_t)(bench_arg_double(argc, argv, "spin_us", 0) * 1000);
    if (strcmp(what, "start") == 0)
        run_start(argc, argv);
    else if (strcmp(what, "fork") == 0)
        run_fork(argc, argv);
    else if (strcmp(what, "roundtrip") == 0)
        run_roundtrip(argc, argv);
    else if (strcmp(what, "map") == 0)
        run_map(argc, argv);
    else if (strcmp(what, "handoff") == 0)
        run_handoff(argc, argv);
    else if (strcmp(what, "crash") == 0)
        run_crash(argc, argv);
    else
        bench_die("usage: %s start|fork|roundtrip|map|handoff|crash key=value...",
                  argc > 0 ? argv[0] : "bench_procs");
    return 0;
}
