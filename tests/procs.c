/* SPDX-License-Identifier: MIT */
/* tests/procs.c -- unit tests of the process pool (parx_procs_*): round trips
   in fork and spawn mode, results and codes, map with cost hints and
   progress, slots that fill up, and every bad input with the code it must
   give. The 100,000-job runs are in procs_stress.c, crashes and timeouts in
   procs_crash.c, a SIGKILLed parent in procs_parent.c, a threaded parent in
   procs_threads.c.

   Every test runs under run_guarded: it fails if it leaves a descriptor, a
   child process or a parx-* entry of /dev/shm behind. This binary starts no
   thread of its own (each pool has one monitor thread, started after its
   fork server). */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <grp.h>
#include <sys/resource.h>

#include "parx.h"
#include "procs_common.h"

/* ===== job functions (found by workers in fork and spawn mode alike) ===== */

typedef struct sq_arg {
    long in, out;
    _Atomic int runs;
} sq_arg;

static int job_square(void *p)
{
    sq_arg *a = (sq_arg *)p;
    a->out = a->in * a->in;
    atomic_fetch_add(&a->runs, 1);
    return 0;
}

static int job_code(void *p)
{
    return p ? (int)((sq_arg *)p)->in : 42;
}

/* Records the order jobs start in (one worker: the order of the queue). */
typedef struct order_arg {
    _Atomic int *next;
    int seen;
} order_arg;

static int job_order(void *p)
{
    order_arg *a = (order_arg *)p;
    a->seen = atomic_fetch_add(a->next, 1);
    return 0;
}

/* Where this function sits in the worker (spawn mode: its own load address). */
static int job_where(void *p)
{
    *(uintptr_t *)p = (uintptr_t)job_where;
    return 0;
}

/* ===== tests ============================================================== */

static void test_bad_create(void)
{
    struct {
        parx_procs_desc d;
        const char *what;
    } bad[] = {
        {{.workers = -1}, "workers -1"},
        {{.workers = 1025}, "workers 1025"},
        {{.workers = 1, .retries = -1}, "retries -1"},
        {{.workers = 1, .start = (parx_start)7}, "start 7"},
        {{.workers = 1, .max_jobs = (1u << 20) + 1}, "max_jobs 2^20 + 1"},
        {{.workers = 1, .job_timeout = -1.0}, "job_timeout -1"},
        {{.workers = 1, .job_timeout = NAN}, "job_timeout NaN"},
        {{.workers = 1, .job_timeout = 0.5, .job_timeout_ns = 500000000}, "both timeouts"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        parx_procs *pp = parx_procs_create(&bad[i].d);
        int err = pp ? 0 : -errno;
        CHECK_MSG(pp == NULL && err == -EINVAL, "%s: got %p, %s", bad[i].what, (void *)pp,
                  parx_strerror(err));
        if (pp)
            parx_procs_destroy(pp);
    }
    /* NULL arguments everywhere */
    parx_ticket t = 0;
    CHECK_EQ(parx_procs_submit(NULL, job_code, NULL, &t), -EINVAL);
    CHECK_EQ(parx_procs_wait(NULL, 1, NULL), -EINVAL);
    CHECK_EQ(parx_procs_map(NULL, job_code, NULL, 0, NULL), -EINVAL);
    CHECK_EQ(parx_procs_size(NULL), -EINVAL);
    errno = 0;
    CHECK(parx_procs_arena(NULL) == NULL && errno == EINVAL);
    parx_procs_info info;
    CHECK_EQ(parx_procs_stats(NULL, &info), -EINVAL);
    CHECK_EQ(parx_procs_pids(NULL, NULL, 0), -EINVAL);
    /* an arena larger than any can be */
    int err = 0;
    parx_procs *big =
        parx_procs_create(&(parx_procs_desc){.workers = 1, .arena_bytes = SIZE_MAX});
    err = big ? 0 : -errno;
    CHECK_MSG(big == NULL && err == -EFBIG, "arena_bytes SIZE_MAX: %s", parx_strerror(err));
    if (big)
        parx_procs_destroy(big);
    parx_procs_destroy(NULL);
    /* every code has a name */
    int codes[] = {PARX_E_CRASHED, PARX_E_EXITED, PARX_E_UNKNOWN_FN, PARX_E_PROCS_BROKEN,
                   PARX_E_SPAWN};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        CHECK_MSG(strcmp(parx_strerror(codes[i]), "unknown error") != 0, "code %d has no name",
                  codes[i]);
}

static void test_bad_jobs(void)
{
    parx_procs *pp = make_pool(PARX_START_FORK, 1, 0, 0);
    REQUIRE(pp);
    parx_arena *a = parx_procs_arena(pp);
    sq_arg *in = (sq_arg *)parx_arena_alloc(a, sizeof *in, 0);
    REQUIRE(in);
    memset(in, 0, sizeof *in);
    sq_arg on_stack = {0};
    sq_arg *on_heap = (sq_arg *)calloc(1, sizeof *on_heap);
    parx_ticket t = 0;
    CHECK_EQ(parx_procs_submit(pp, NULL, in, &t), -EINVAL);
    CHECK_EQ(parx_procs_submit(pp, job_square, in, NULL), -EINVAL);
    CHECK_EQ(parx_procs_submit(pp, job_square, &on_stack, &t), -EFAULT);
    CHECK_EQ(parx_procs_submit(pp, job_square, on_heap, &t), -EFAULT);
    /* one past the arena's end is outside too */
    char *end = (char *)parx_arena_base(a) + parx_arena_size(a);
    CHECK_EQ(parx_procs_submit(pp, job_square, end, &t), -EFAULT);
    /* a "function" that lies in no loaded module */
    parx_job_fn nowhere = (parx_job_fn)(uintptr_t)on_heap;
    CHECK_EQ(parx_procs_submit(pp, nowhere, in, &t), PARX_E_UNKNOWN_FN);

    /* tickets: unknown, never issued, waited twice */
    CHECK_EQ(parx_procs_wait(pp, 0, NULL), -EINVAL);
    CHECK_EQ(parx_procs_wait(pp, (uint64_t)7 << 32 | 3, NULL), -EINVAL);
    CHECK_EQ(parx_procs_wait(pp, UINT64_MAX, NULL), -EINVAL);
    REQUIRE(parx_procs_submit(pp, job_square, in, &t) == 0);
    parx_job_result r;
    CHECK_EQ(parx_procs_wait(pp, t, &r), 0);
    CHECK_EQ(parx_procs_wait(pp, t, &r), -EINVAL);
    /* a job that returns -EINVAL is told apart from a bad ticket */
    sq_arg *code = (sq_arg *)parx_arena_alloc(a, sizeof *code, 0);
    REQUIRE(code);
    code->in = -EINVAL;
    REQUIRE(parx_procs_submit(pp, job_code, code, &t) == 0);
    CHECK_EQ(parx_procs_wait(pp, t, &r), 0);
    CHECK_EQ(r.status, -EINVAL);

    /* map: bad arguments are refused before anything runs */
    void *args[3] = {in, &on_stack, in};
    parx_job_result rs[3];
    int runs = atomic_load(&in->runs);
    CHECK_EQ(parx_procs_map(pp, job_square, args, 3, rs), -EFAULT);
    CHECK_EQ(parx_procs_map(pp, NULL, args, 3, rs), -EINVAL);
    CHECK_EQ(parx_procs_map(pp, job_square, NULL, 3, rs), -EINVAL);
    CHECK_EQ(parx_procs_map(pp, job_square, args, 3, NULL), -EINVAL);
    CHECK_EQ(parx_procs_map(pp, job_square, args, 0, NULL), 0);
    CHECK_EQ(atomic_load(&in->runs), runs);
    int pids[1];
    CHECK_EQ(parx_procs_pids(pp, pids, -1), -EINVAL);
    CHECK_EQ(parx_procs_pids(pp, NULL, 1), -EINVAL);
    CHECK_EQ(parx_procs_pids(pp, NULL, 0), 1);
    free(on_heap);
    parx_procs_destroy(pp);
}

static void round_trip(parx_start mode)
{
    parx_procs *pp = make_pool(mode, 2, 0, 0);
    REQUIRE(pp);
    CHECK_EQ(parx_procs_size(pp), 2);
    parx_arena *a = parx_procs_arena(pp);
    enum { N = 64 };
    sq_arg *in = (sq_arg *)parx_arena_alloc(a, N * sizeof *in, 0);
    REQUIRE(in);
    memset(in, 0, N * sizeof *in);
    parx_ticket t[N];
    for (int i = 0; i < N; i++) {
        in[i].in = i - 20;
        CHECK_EQ(parx_procs_submit(pp, job_square, &in[i], &t[i]), 0);
    }
    for (int i = N - 1; i >= 0; i--) { /* any order */
        parx_job_result r;
        memset(&r, 0xff, sizeof r);
        CHECK_EQ(parx_procs_wait(pp, t[i], &r), 0);
        CHECK_EQ(r.status, 0);
        CHECK_EQ(r.signal, 0);
        CHECK_EQ(r.exit_code, 0);
        CHECK_EQ(r.attempts, 1);
        CHECK_EQ(in[i].out, (long)(i - 20) * (i - 20));
        CHECK_EQ(atomic_load(&in[i].runs), 1);
    }
    /* return codes come back as they are, NULL arguments arrive as NULL */
    in[0].in = -77;
    parx_ticket t1, t2;
    REQUIRE(parx_procs_submit(pp, job_code, &in[0], &t1) == 0);
    REQUIRE(parx_procs_submit(pp, job_code, NULL, &t2) == 0);
    parx_job_result r;
    CHECK_EQ(parx_procs_wait(pp, t1, &r), 0); /* -77 is the job's, not the wait's */
    CHECK_EQ(r.status, -77);
    CHECK_EQ(parx_procs_wait(pp, t2, &r), 0);
    CHECK_EQ(r.status, 42);

    /* where the function sits in the worker: the same in fork mode; in spawn
       mode wherever the loader put the program this time */
    uintptr_t *where = (uintptr_t *)parx_arena_alloc(a, sizeof *where, 0);
    REQUIRE(where);
    REQUIRE(parx_procs_submit(pp, job_where, where, &t1) == 0);
    CHECK_EQ(parx_procs_wait(pp, t1, NULL), 0);
    if (mode == PARX_START_FORK)
        CHECK(*where == (uintptr_t)job_where);
    else
        pt_diag("spawn mode: job_where at %#lx here, %#lx in the worker%s",
                (unsigned long)(uintptr_t)job_where, (unsigned long)*where,
                *where == (uintptr_t)job_where ? " (no address randomisation)" : "");

    parx_procs_info info;
    CHECK_EQ(parx_procs_stats(pp, &info), 0);
    CHECK_EQ(info.workers, 2);
    CHECK_EQ(info.started, 2);
    CHECK_EQ(info.crashed, 0);
    CHECK(info.server_pid > 0);
    int pids[4] = {0};
    CHECK_EQ(parx_procs_pids(pp, pids, 4), 2);
    CHECK(pids[0] > 0 && pids[1] > 0 && pids[0] != pids[1]);
    parx_procs_destroy(pp);
    int all[3] = {pids[0], pids[1], info.server_pid};
    CHECK_EQ(wait_pids_dead(all, 3), 0);
}

static void test_round_trip_fork(void) { round_trip(PARX_START_FORK); }
static void test_round_trip_spawn(void) { round_trip(PARX_START_SPAWN); }

static size_t progress_calls, progress_last, progress_bad;

static void on_progress(size_t done, size_t n, void *user)
{
    CHECK(user == (void *)&progress_calls);
    if (done <= progress_last || done > n)
        progress_bad++;
    progress_last = done;
    progress_calls++;
}

static void map_order(parx_start mode)
{
    parx_procs *pp = make_pool(mode, 1, 0, 0);
    REQUIRE(pp);
    parx_arena *a = parx_procs_arena(pp);
    enum { N = 200 };
    _Atomic int *next = (_Atomic int *)parx_arena_alloc(a, sizeof *next, 0);
    order_arg *o = (order_arg *)parx_arena_alloc(a, N * sizeof *o, 0);
    REQUIRE(next && o);
    atomic_store(next, 0);
    void *args[N];
    double cost[N];
    for (int i = 0; i < N; i++) {
        o[i].next = next;
        o[i].seen = -1;
        args[i] = &o[i];
        cost[i] = (double)((i * 37) % N); /* a permutation of 0..N-1 */
    }
    parx_job_result r[N];
    progress_calls = progress_last = progress_bad = 0;
    parx_map_desc md = {.cost = cost, .progress = on_progress, .user = &progress_calls};
    CHECK_EQ(parx_procs_map_ex(pp, job_order, args, N, r, &md), 0);
    /* one worker, one queue: job of cost c starts (N-1-c)th */
    int wrong = 0;
    for (int i = 0; i < N; i++) {
        wrong += o[i].seen != N - 1 - (int)cost[i];
        CHECK_EQ(r[i].status, 0);
    }
    CHECK_MSG(wrong == 0, "%d jobs did not start longest first", wrong);
    CHECK(progress_calls >= 1);
    CHECK_EQ(progress_last, N);
    CHECK_EQ(progress_bad, 0);

    /* NaN hints (every fifth job) start after every number, in index order:
       the order stays total, so the rest still start longest first */
    atomic_store(next, 0);
    for (int i = 0; i < N; i += 5)
        cost[i] = NAN;
    CHECK_EQ(parx_procs_map_ex(pp, job_order, args, N, r, &md), 0);
    int nans = 0;
    wrong = 0;
    for (int i = 0; i < N; i++) {
        if (isnan(cost[i])) {
            wrong += o[i].seen != N - N / 5 + nans++;
            continue;
        }
        int longer = 0; /* numbers above cost[i] */
        for (int k = 0; k < N; k++)
            longer += !isnan(cost[k]) && cost[k] > cost[i];
        wrong += o[i].seen != longer;
    }
    CHECK_MSG(wrong == 0, "%d jobs out of order with NaN hints", wrong);

    /* without hints: in order; the count of failed jobs is returned */
    atomic_store(next, 0);
    CHECK_EQ(parx_procs_map(pp, job_order, args, N, r), 0);
    wrong = 0;
    for (int i = 0; i < N; i++)
        wrong += o[i].seen != i;
    CHECK_MSG(wrong == 0, "%d jobs out of order without hints", wrong);
    sq_arg *codes = (sq_arg *)parx_arena_alloc(a, 10 * sizeof *codes, 0);
    REQUIRE(codes);
    void *cargs[10];
    for (int i = 0; i < 10; i++) {
        codes[i].in = i % 3 == 0 ? 0 : -i; /* 4 of 10 return 0 */
        cargs[i] = &codes[i];
    }
    CHECK_EQ(parx_procs_map(pp, job_code, cargs, 10, r), 6);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(r[i].status, (int)codes[i].in);
    parx_procs_destroy(pp);
}

static void test_map_order_fork(void) { map_order(PARX_START_FORK); }
static void test_map_order_spawn(void) { map_order(PARX_START_SPAWN); }

/* Slots hold results until waited for: with all of them full, submit says
   -EBUSY instead of waiting forever; once collected, they serve again. More
   jobs than slots through map and through submit just wait for slots. */
static void test_slots(void)
{
    parx_procs_desc d = {.workers = 2, .max_jobs = 4, .arena_bytes = 16u << 20};
    parx_procs *pp = parx_procs_create(&d);
    REQUIRE(pp);
    parx_arena *a = parx_procs_arena(pp);
    enum { N = 1000 };
    sq_arg *in = (sq_arg *)parx_arena_alloc(a, N * sizeof *in, 0);
    REQUIRE(in);
    memset(in, 0, N * sizeof *in);
    parx_ticket t[5];
    for (int i = 0; i < 4; i++)
        CHECK_EQ(parx_procs_submit(pp, job_square, &in[i], &t[i]), 0);
    CHECK_EQ(parx_procs_submit(pp, job_square, &in[4], &t[4]), -EBUSY);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(parx_procs_wait(pp, t[i], NULL), 0);
    void *args[N];
    parx_job_result r[N];
    for (int i = 0; i < N; i++) {
        in[i].in = i;
        atomic_store(&in[i].runs, 0);
        args[i] = &in[i];
    }
    CHECK_EQ(parx_procs_map(pp, job_square, args, N, r), 0);
    int bad = 0;
    for (int i = 0; i < N; i++)
        bad += in[i].out != (long)i * i || atomic_load(&in[i].runs) != 1 || r[i].status != 0;
    CHECK_EQ(bad, 0);
    /* submit more than there are slots, waiting as we go */
    for (int i = 0; i < N; i++) {
        parx_ticket tk;
        CHECK_EQ(parx_procs_submit(pp, job_square, &in[i], &tk), 0);
        CHECK_EQ(parx_procs_wait(pp, tk, NULL), 0);
    }
    for (int i = 0; i < N; i++)
        bad += atomic_load(&in[i].runs) != 2;
    CHECK_EQ(bad, 0);
    parx_procs_destroy(pp);
}

static void test_defaults(void)
{
    parx_procs *pp = parx_procs_create(NULL);
    REQUIRE(pp);
    cpu_set_t set;
    int allowed = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
    parx_probe pr; /* parx's count: the mask, and a cgroup CPU limit (tests/cpus.c) */
    parx_probe_defaults(&pr);
    CHECK_EQ(parx_procs_size(pp), pr.cpus);
    if (allowed > 0)
        CHECK(parx_procs_size(pp) <= allowed);
    CHECK_EQ(parx_arena_size(parx_procs_arena(pp)), (size_t)256 << 20);
    CHECK_EQ(parx_procs_wait(pp, 1, NULL), -EINVAL);
    parx_ticket t;
    CHECK_EQ(parx_procs_submit(pp, job_code, NULL, &t), 0);
    parx_job_result r;
    CHECK_EQ(parx_procs_wait(pp, t, &r), 0);
    CHECK_EQ(r.status, 42);
    parx_procs_destroy(pp);
}

/* Two pools in one process, one of each mode, used in turn. */
static void test_two_pools(void)
{
    parx_procs *p1 = make_pool(PARX_START_FORK, 1, 0, 0);
    parx_procs *p2 = make_pool(PARX_START_SPAWN, 1, 0, 0);
    REQUIRE(p1 && p2);
    sq_arg *a1 = (sq_arg *)parx_arena_alloc(parx_procs_arena(p1), sizeof *a1, 0);
    sq_arg *a2 = (sq_arg *)parx_arena_alloc(parx_procs_arena(p2), sizeof *a2, 0);
    REQUIRE(a1 && a2);
    memset(a1, 0, sizeof *a1);
    memset(a2, 0, sizeof *a2);
    a1->in = 3;
    a2->in = 5;
    parx_ticket t1, t2;
    CHECK_EQ(parx_procs_submit(p1, job_square, a1, &t1), 0);
    CHECK_EQ(parx_procs_submit(p2, job_square, a2, &t2), 0);
    /* a ticket belongs to its pool: the other pool's job in the same slot
       with the same gen is neither waited for nor taken (-EINVAL) */
    CHECK_EQ(parx_procs_wait(p2, t1, NULL), -EINVAL);
    CHECK_EQ(parx_procs_wait(p1, t2, NULL), -EINVAL);
    CHECK_EQ(parx_procs_wait(p2, t2, NULL), 0);
    CHECK_EQ(parx_procs_wait(p1, t1, NULL), 0);
    CHECK_EQ(a1->out, 9);
    CHECK_EQ(a2->out, 25);
    CHECK_EQ(parx_procs_submit(p1, job_square, a2, &t1), -EFAULT); /* p2's arena, not p1's */
    parx_procs_destroy(p2);
    parx_procs_destroy(p1);
}

/* A progress callback that submits into the pool it is called from: its
   submits get a slot or -EBUSY (the map's own results fill the rest), and
   never wait for results only this thread could collect. */
static parx_procs *cb_pool;
static sq_arg *cb_args;
static int cb_ok, cb_busy, cb_bad;

static void submit_from_progress(size_t done, size_t n, void *user)
{
    (void)done;
    (void)n;
    (void)user;
    parx_ticket t[3];
    int got = 0;
    for (int i = 0; i < 3; i++) {
        int rc = parx_procs_submit(cb_pool, job_square, &cb_args[i], &t[i]);
        if (rc == 0)
            got++;
        else if (rc == -EBUSY)
            break;
        else
            cb_bad++;
    }
    for (int i = 0; i < got; i++)
        cb_bad += parx_procs_wait(cb_pool, t[i], NULL) != 0;
    cb_ok += got;
    cb_busy += got < 3;
}

static void test_progress_submits(void)
{
    parx_procs_desc d = {.workers = 2, .max_jobs = 4, .arena_bytes = 4u << 20};
    cb_pool = parx_procs_create(&d);
    REQUIRE(cb_pool);
    parx_arena *a = parx_procs_arena(cb_pool);
    sq_arg *in = (sq_arg *)parx_arena_alloc(a, 8 * sizeof *in, 0);
    cb_args = (sq_arg *)parx_arena_alloc(a, 3 * sizeof *cb_args, 0);
    REQUIRE(in && cb_args);
    memset(in, 0, 8 * sizeof *in);
    memset(cb_args, 0, 3 * sizeof *cb_args);
    void *args[8];
    parx_job_result r[8];
    for (int i = 0; i < 8; i++) {
        in[i].in = i;
        args[i] = &in[i];
    }
    cb_ok = cb_busy = cb_bad = 0;
    parx_map_desc md = {.progress = submit_from_progress};
    CHECK_EQ(parx_procs_map_ex(cb_pool, job_square, args, 8, r, &md), 0);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(in[i].out, (long)i * i);
    CHECK_EQ(cb_bad, 0);
    CHECK(cb_ok + cb_busy > 0);
    pt_diag("progress callback: %d submits served, %d calls met -EBUSY", cb_ok, cb_busy);
    parx_procs_destroy(cb_pool);
}

/* Fork mode: a later pool's server and workers hold nothing of an earlier
   pool (its arena, its descriptors) once that pool is destroyed. */
static int holds_inode(pid_t pid, ino_t ino, dev_t dev)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[400];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) == 0 && st.st_ino == ino && st.st_dev == dev)
            found = 1;
    }
    closedir(d);
    /* and its mappings: the memfd's inode in /proc/<pid>/maps */
    char maps[64], line[512];
    snprintf(maps, sizeof maps, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(maps, "re");
    while (f && fgets(line, sizeof line, f)) {
        unsigned long inode = 0;
        if (sscanf(line, "%*s %*s %*s %*s %lu", &inode) == 1 && inode == (unsigned long)ino)
            found = 1;
    }
    if (f)
        fclose(f);
    return found;
}

static void test_pools_forget_each_other(void)
{
    parx_procs *a = make_pool(PARX_START_FORK, 1, 0, 0);
    REQUIRE(a);
    struct stat st;
    REQUIRE(fstat(parx_arena_fd(parx_procs_arena(a)), &st) == 0);
    parx_procs *b = make_pool(PARX_START_FORK, 1, 0, 0);
    REQUIRE(b);
    parx_procs_info info;
    parx_procs_stats(b, &info);
    int pids[2] = {info.server_pid, 0};
    parx_procs_pids(b, &pids[1], 1);
    for (int i = 0; i < 2; i++)
        CHECK_MSG(!holds_inode(pids[i], st.st_ino, st.st_dev),
                  "pool B's %s holds pool A's arena", i ? "worker" : "server");
    parx_procs_destroy(a);
    parx_ticket t;
    CHECK_EQ(parx_procs_submit(b, job_code, NULL, &t), 0);
    CHECK_EQ(parx_procs_wait(b, t, NULL), 0);
    parx_procs_destroy(b);
}

/* Two fork-mode pools made one after the other, as a program with two
   kinds of jobs would: the second is forked while the first pool's monitor
   thread exists. That thread is parx's own, so the second create must not
   warn about a threaded caller (nor the probe skip fork pools), and it must
   not be forked while still starting: under ASan a thread's start holds
   the allocator's lock for a moment, and the second pool's workers, copies
   of it, deadlocked in their first allocation of that size (here: a job
   that starts threads of its own). */
static _Atomic int fork_warnings;

static void count_fork_warnings(parx_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level == PARX_LOG_WARN && strstr(msg, "fork mode in a process with"))
        atomic_fetch_add(&fork_warnings, 1);
}

static void sum_range(void *ctx, size_t b, size_t e)
{
    _Atomic long *sum = (_Atomic long *)ctx;
    long s = 0;
    for (size_t i = b; i < e; i++)
        s += (long)i;
    atomic_fetch_add(sum, s);
}

/* A job that runs a thread pool of its own: its threads allocate as they
   start. (Not under TSan, whose runtime refuses to start threads in a
   process forked from a threaded one -- the second pool's server is, by
   the first pool's monitor -- and exits: there the sum is made alone.) */
static int job_pool_sum(void *p)
{
    sq_arg *a = (sq_arg *)p;
    if (UNDER_TSAN) {
        _Atomic long sum = 0;
        sum_range(&sum, 0, (size_t)a->in);
        a->out = atomic_load(&sum);
        return 0;
    }
    parx_pool *pool = parx_pool_create(&(parx_pool_desc){.threads = 2});
    if (!pool)
        return 1;
    _Atomic long sum = 0;
    int rc = parx_for(pool, 0, (size_t)a->in, 0, sum_range, &sum);
    parx_pool_destroy(pool);
    a->out = atomic_load(&sum);
    return rc;
}

static void test_fork_after_fork(void)
{
    atomic_store(&fork_warnings, 0);
    parx_set_log(count_fork_warnings, NULL);
    for (int round = 0; round < 20; round++) {
        parx_procs *a = make_pool(PARX_START_FORK, 1, 0, 0);
        parx_procs *b = make_pool(PARX_START_FORK, 1, 0, 0);
        if (!a || !b) {
            parx_procs_destroy(b);
            parx_procs_destroy(a);
            break;
        }
        sq_arg *arg = (sq_arg *)parx_arena_alloc(parx_procs_arena(b), sizeof *arg, 0);
        REQUIRE(arg);
        memset(arg, 0, sizeof *arg);
        arg->in = 1000;
        parx_job_result r = {0};
        CHECK_EQ(parx_procs_map(b, job_pool_sum, (void **)&arg, 1, &r), 0);
        CHECK_EQ(r.status, 0);
        CHECK_EQ(arg->out, 1000L * 999 / 2);
        parx_procs_destroy(b);
        parx_procs_destroy(a);
    }
    parx_set_log(NULL, NULL);
    if (UNDER_TSAN) { /* TSan's runtime has a thread of its own: the warning is right there */
        pt_diag("TSan: the threaded-caller warning and the probe are not checked");
        return;
    }
    CHECK_EQ(atomic_load(&fork_warnings), 0);
    parx_procs *a = make_pool(PARX_START_FORK, 1, 0, 0);
    parx_probe pr;
    CHECK_EQ(parx_probe_measure(&pr, 0), 0);
    CHECK_MSG(pr.measured_mask & PARX_PROBE_HAVE_FORK_START,
              "probe beside a fork pool: fork start not measured (%s)", pr.notes);
    parx_procs_destroy(a);
}

/* Threads of this process as /proc counts them, or 0 if unknown. */
static int proc_threads(void)
{
    int threads = 0;
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &threads) == 1)
            break;
    if (f)
        fclose(f);
    return threads;
}

/* A caller whose main thread has left with pthread_exit while another
   runs on: the kernel keeps the main thread as a zombie, in /proc's count
   of threads, until the process ends. It is past user space for good
   (PF_EXITING), as a joined thread is for a while after pthread_join
   returns (the race behind test_fork_after_fork's rare false warning):
   a fork pool made by the thread left must not warn of it. */
static void *after_leader_exit(void *leader)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)(intptr_t)leader);
    for (int i = 0;; i++) { /* until the main thread is a zombie: 10 s at most */
        if (pt_proc_state(path, NULL) == 'Z') break;
        if (i == polls(10000)) _exit(2);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (proc_threads() != 2) _exit(3); /* not the case this tests */
    parx_set_log(count_fork_warnings, NULL);
    parx_procs *pp = parx_procs_create(
        &(parx_procs_desc){.workers = 1, .start = PARX_START_FORK, .arena_bytes = 4u << 20});
    parx_set_log(NULL, NULL);
    if (!pp) _exit(4);
    parx_ticket t;
    parx_job_result r = {0};
    if (parx_procs_submit(pp, job_code, NULL, &t) != 0 || parx_procs_wait(pp, t, &r) != 0 ||
        r.status != 42)
        _exit(5);
    parx_procs_destroy(pp);
    _exit(atomic_load(&fork_warnings) == 0 ? 0 : 6);
}

static void test_fork_after_leader_exit(void)
{
    if (UNDER_TSAN)
        PT_SKIP("TSan's runtime has a thread of its own: a fork pool is rightly warned of it");
    atomic_store(&fork_warnings, 0);
    pid_t child = xfork();
    REQUIRE(child >= 0);
    if (child == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, after_leader_exit, (void *)(intptr_t)getpid()) != 0)
            _exit(1);
        pthread_exit(NULL);
    }
    /* 2: the main thread never became a zombie; 3: /proc did not count it;
       6: the pool warned of a threaded caller */
    expect_child(child, 0, 0);
}

/* io_uring's workers (iou-wrk-*: here the prefetcher's buffered reads,
   which it submits with IOSQE_ASYNC) are threads of this process as /proc
   counts them, and outlive the ring a while; but they run kernel code only,
   so a fork-mode pool made after reading a file must not warn about a
   threaded caller. */
static void test_fork_after_io_uring(void)
{
#ifdef PARX_NO_PREFETCH
    PT_SKIP("the prefetcher is compiled out");
#else
    if (UNDER_TSAN)
        PT_SKIP("TSan's runtime has a thread of its own: a fork pool is rightly warned of it");
    const char *path = "procs_io_uring.dat";
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    static char block[64 << 10];
    memset(block, 7, sizeof block);
    int wrote = 1;
    for (int i = 0; i < 64 && wrote; i++)
        wrote = write(fd, block, sizeof block) == (ssize_t)sizeof block;
    close(fd);
    REQUIRE(wrote);
    int err = 0;
    parx_prefetch *pf = parx_prefetch_open(&(parx_prefetch_desc){
        .paths = &path, .npaths = 1, .chunk_size = 256 << 10, .depth = 4,
        .backend = PARX_IO_URING}, &err);
    if (!pf) {
        unlink(path);
        PT_SKIP("no io_uring here");
    }
    parx_chunk c;
    size_t bytes = 0;
    int rc;
    while ((rc = parx_prefetch_next(pf, &c)) == 1) {
        bytes += c.size;
        parx_prefetch_release(pf, &c);
    }
    CHECK_EQ(rc, 0);
    CHECK_EQ(bytes, (size_t)64 * sizeof block);
    /* threads now: this one and the kernel's, if it started any */
    int threads = proc_threads();
    if (threads < 2) {
        parx_prefetch_close(pf);
        unlink(path);
        PT_SKIP("the kernel ran the reads without io_uring workers");
    }
    atomic_store(&fork_warnings, 0);
    parx_set_log(count_fork_warnings, NULL);
    parx_procs *pp = make_pool(PARX_START_FORK, 1, 0, 0);
    parx_set_log(NULL, NULL);
    CHECK_MSG(atomic_load(&fork_warnings) == 0,
              "fork pool after io_uring reads (%d threads by /proc): warned of a threaded caller",
              threads);
    if (pp) {
        parx_ticket t;
        parx_job_result r = {0};
        CHECK_EQ(parx_procs_submit(pp, job_code, NULL, &t), 0);
        CHECK_EQ(parx_procs_wait(pp, t, &r), 0);
        CHECK_EQ(r.status, 42);
        parx_procs_destroy(pp);
    }
    parx_prefetch_close(pf);
    unlink(path);
#endif
}

/* Ctrl-C at a terminal signals the whole foreground process group: the
   caller may handle it, and the pool must not notice (its processes are in
   a group of their own). */
static volatile sig_atomic_t got_int;
static void on_int(int sig)
{
    (void)sig;
    got_int = 1;
}

static void test_sigint_group(void)
{
    pid_t child = xfork();
    REQUIRE(child >= 0);
    if (child == 0) {
        setpgid(0, 0); /* our own group, to signal it whole as a terminal would */
        signal(SIGINT, on_int);
        int bad = 0;
        for (int m = 0; m < 2; m++) {
            parx_procs *pp = parx_procs_create(
                &(parx_procs_desc){.workers = 2, .start = modes[m], .arena_bytes = 4u << 20});
            if (!pp)
                _exit(30);
            kill(0, SIGINT);
            parx_ticket t;
            parx_job_result r;
            bad += parx_procs_submit(pp, job_code, NULL, &t) != 0;
            bad += parx_procs_wait(pp, t, &r) != 0 || r.status != 42;
            parx_procs_destroy(pp);
        }
        _exit(bad ? 31 : got_int ? 0 : 32);
    }
    expect_child(child, 0, 0);
}

/* This process's threads (from /proc/self/status), or -1. */
static int own_threads(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    int n = -1;
    while (f && fgets(line, sizeof line, f) && sscanf(line, "Threads: %d", &n) != 1) {
    }
    if (f)
        fclose(f);
    return n;
}

/* In a child: become a child subreaper (orphaned workers come back to it) and
   a user no other process has (base + the low bits of our pid), with no
   groups. Exits 39 (no subreaper), 98 (no such uid here: a user namespace
   that maps only root), 99 (spawn mode, and the test binary is not
   executable by that user), which expect_unused_user reads. */
static void become_unused_user(uid_t base, parx_start mode)
{
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        _exit(39);
    uid_t uid = base + (uid_t)(getpid() & 0xffff);
    if (setgroups(0, NULL) != 0 || setgid((gid_t)uid) != 0 || setuid(uid) != 0)
        _exit(98);
    if (mode == PARX_START_SPAWN && access("/proc/self/exe", X_OK) != 0)
        _exit(99);
}

/* The parent's side: the child's exit 0 passes, 98 and 99 skip with the
   reason, anything else fails with what it was. */
static void expect_unused_user(pid_t child)
{
    int st;
    REQUIRE(waitpid(child, &st, 0) == child);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 98)
        PT_SKIP("cannot switch to an unused uid here (a user namespace?)");
    if (WIFEXITED(st) && WEXITSTATUS(st) == 99)
        PT_SKIP("the test binary cannot be executed by another user here");
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s %d",
              WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* A worker the system will not fork: as a user no other process has, under
   an RLIMIT_NPROC with room for exactly the server, one worker and the
   pool's monitor thread. A pool of 1 worker then works, and a pool of 32
   fails with -EAGAIN at its second or third worker's fork, or at its
   monitor thread (made while the server forks: whichever comes last finds
   no room), leaving no process behind: the test's child is a
   subreaper, so the failed pool's workers come back to it and are checked
   too. In a child: the uid and the limit are its own. Exit codes say what
   went wrong; 98: no such uid here (a user namespace that maps only root);
   99: spawn mode, and the test binary is not executable by that user. */
static void fork_refused(parx_start mode)
{
    if (geteuid() != 0)
        PT_SKIP("needs root, to run as a user with no other processes");
    if (UNDER_TSAN)
        PT_SKIP("TSan's runtime starts threads of its own in new processes, which the limit "
                "counts");
    pid_t child = xfork();
    REQUIRE(child >= 0);
    if (child == 0) {
        become_unused_user(0x7ff00000u, mode);
        int base = own_threads(); /* what RLIMIT_NPROC counts: nobody else has the uid */
        if (base < 1)
            _exit(41);
        struct rlimit rl = {(rlim_t)base + 3, (rlim_t)base + 3};
        if (setrlimit(RLIMIT_NPROC, &rl) != 0)
            _exit(42);
        parx_procs *pp = parx_procs_create(
            &(parx_procs_desc){.workers = 1, .start = mode, .arena_bytes = 4u << 20});
        int err = pp ? 0 : -errno;
        if (!pp)
            _exit(err == -EACCES && mode == PARX_START_SPAWN ? 99 : 43);
        parx_ticket t;
        parx_job_result r;
        int bad = parx_procs_submit(pp, job_code, NULL, &t) != 0 ||
                  parx_procs_wait(pp, t, &r) != 0 || r.status != 42;
        parx_procs_destroy(pp);
        if (bad)
            _exit(44);
        pp = parx_procs_create(
            &(parx_procs_desc){.workers = 32, .start = mode, .arena_bytes = 4u << 20});
        err = pp ? 0 : -errno;
        if (pp)
            _exit(45);
        if (err != -EAGAIN)
            _exit(46);
        if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD)
            _exit(47); /* the server, or a worker, left behind */
        _exit(0);
    }
    expect_unused_user(child);
}

/* A replacement worker the system will not fork breaks the pool; a job
   whose worker dies after that is reported (it cannot be retried), not put
   back on a ring no worker will read again: its wait returned never (found
   by review). As in fork_refused, a child under a uid of its own; the
   server's RLIMIT_NPROC is cut to 1 once the pool runs. */
static int job_die_now(void *arg)
{
    (void)arg;
    raise(SIGKILL);
    return 0;
}

static int job_die_later(void *arg)
{
    (void)arg;
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
    raise(SIGKILL);
    return 0;
}

static void replacement_refused(parx_start mode)
{
    if (geteuid() != 0)
        PT_SKIP("needs root, to run as a user with no other processes");
    pid_t child = xfork();
    REQUIRE(child >= 0);
    if (child == 0) {
        become_unused_user(0x7fe00000u, mode);
        parx_procs *pp = parx_procs_create(&(parx_procs_desc){.workers = 2, .start = mode,
                                                              .retries = 1,
                                                              .arena_bytes = 4u << 20});
        int err = pp ? 0 : -errno;
        if (!pp)
            _exit(err == -EACCES && mode == PARX_START_SPAWN ? 99 : 43);
        parx_procs_info info;
        struct rlimit rl = {1, 1};
        if (parx_procs_stats(pp, &info) != 0 ||
            prlimit(info.server_pid, RLIMIT_NPROC, &rl, NULL) != 0)
            _exit(44);
        parx_ticket later, now;
        parx_job_result rl_, rn;
        if (parx_procs_submit(pp, job_die_later, NULL, &later) != 0 ||
            parx_procs_submit(pp, job_die_now, NULL, &now) != 0)
            _exit(45);
        /* its worker dies, its retry waits for a replacement that cannot
           start, and the pool breaks */
        if (parx_procs_wait(pp, now, &rn) != 0 || rn.status != PARX_E_PROCS_BROKEN)
            _exit(46);
        /* the other worker dies a second later, in the broken pool */
        if (parx_procs_wait(pp, later, &rl_) != 0)
            _exit(47);
        if (rl_.status != PARX_E_CRASHED || rl_.signal != SIGKILL || rl_.attempts != 1)
            _exit(48);
        parx_procs_destroy(pp);
        if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD)
            _exit(49); /* the server, or a worker, left behind */
        _exit(0);
    }
    expect_unused_user(child);
}

/* A caller started with its standard streams closed (a daemon): the next
   descriptors it opens get 0, 1 and 2, and a printf writes into whatever
   holds them. The pool takes none of them, in the caller or in its workers,
   so printing (which fails, as it should) cannot write into its socket or
   its arena, and the pool goes on working. In a child, whose streams we can
   close. A job says which of 0, 1 and 2 are open in its worker (bits). */
static int job_open_stdio(void *p)
{
    (void)p;
    int open_fds = 0;
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            open_fds |= 1 << fd;
    return open_fds;
}

static void test_closed_stdio(void)
{
    for (int m = 0; m < 2; m++) {
        pid_t child = xfork();
        REQUIRE(child >= 0);
        if (child == 0) {
            for (int fd = 0; fd < 3; fd++) /* stdin, stdout, stderr */
                close(fd);
            parx_procs *pp = parx_procs_create(
                &(parx_procs_desc){.workers = 2, .start = modes[m], .arena_bytes = 4u << 20});
            if (!pp)
                _exit(20);
            sq_arg *a = (sq_arg *)parx_arena_alloc(parx_procs_arena(pp), sizeof *a, 0);
            if (!a)
                _exit(21);
            for (int i = 0; i < 100; i++) {
                /* what printf("done\n") and perror would do */
                if (write(1, "done\n", 5) != -1 || write(2, "oops\n", 5) != -1)
                    _exit(22); /* the pool took 1 or 2 */
                a->in = i;
                a->out = -1;
                parx_ticket t;
                parx_job_result r;
                if (parx_procs_submit(pp, job_square, a, &t) != 0 ||
                    parx_procs_wait(pp, t, &r) != 0 || r.status != 0 || a->out != (long)i * i)
                    _exit(23);
            }
            parx_ticket t;
            parx_job_result r;
            if (parx_procs_submit(pp, job_open_stdio, NULL, &t) != 0 ||
                parx_procs_wait(pp, t, &r) != 0)
                _exit(24);
            if (r.status != 0)
                _exit(30 + r.status); /* a worker holds 0, 1 or 2 */
            parx_procs_destroy(pp);
            if (fcntl(0, F_GETFD) != -1)
                _exit(25);
            _exit(0);
        }
        if (!expect_child(child, 0, 0))
            pt_diag("in %s mode", mode_names[m]);
    }
}

static void test_fork_refused_fork(void) { fork_refused(PARX_START_FORK); }
static void test_fork_refused_spawn(void) { fork_refused(PARX_START_SPAWN); }
static void test_replacement_refused_fork(void) { replacement_refused(PARX_START_FORK); }
static void test_replacement_refused_spawn(void) { replacement_refused(PARX_START_SPAWN); }

int main(void)
{
    pt_plan(20);
    run_guarded("create: bad descs give -EINVAL; NULL pools -EINVAL; codes have names",
                test_bad_create);
    run_guarded("submit/wait/map: NULL fn, foreign args, unknown fn, bad tickets", test_bad_jobs);
    run_guarded("fork mode: 64 round trips, codes, NULL args, stats, workers gone after destroy",
                test_round_trip_fork);
    run_guarded("spawn mode: 64 round trips, codes, NULL args, stats, workers gone after destroy",
                test_round_trip_spawn);
    run_guarded("fork mode: map runs longest first with hints, in order without; progress",
                test_map_order_fork);
    run_guarded("spawn mode: map runs longest first with hints, in order without; progress",
                test_map_order_spawn);
    run_guarded("slots: -EBUSY when all hold results; 1000 jobs through 4 slots", test_slots);
    run_guarded("defaults: NULL desc, one worker per CPU, 256 MiB arena", test_defaults);
    run_guarded("two pools, fork and spawn, in one process", test_two_pools);
    run_guarded("a progress callback that submits gets slots or -EBUSY, never hangs",
                test_progress_submits);
    run_guarded("fork mode: a second pool's processes hold nothing of the first",
                test_pools_forget_each_other);
    run_guarded("fork mode: pools made one after another: no threaded-caller warning, "
                "workers that start threads",
                test_fork_after_fork);
    run_guarded("fork mode: a caller whose main thread has exited: no threaded-caller warning",
                test_fork_after_leader_exit);
    run_guarded("fork mode: a pool made after io_uring reads: no threaded-caller warning",
                test_fork_after_io_uring);
    run_guarded("SIGINT to the caller's process group leaves the pool working", test_sigint_group);
    run_guarded("fork mode: a worker the system will not fork fails create with -EAGAIN",
                test_fork_refused_fork);
    run_guarded("spawn mode: a worker the system will not fork fails create with -EAGAIN",
                test_fork_refused_spawn);
    run_guarded("fork mode: a crash after a refused replacement is reported, never requeued",
                test_replacement_refused_fork);
    run_guarded("a caller with stdin, stdout and stderr closed: the pool takes none of them",
                test_closed_stdio);
    run_guarded("spawn mode: a crash after a refused replacement is reported, never requeued",
                test_replacement_refused_spawn);
    return pt_done_testing();
}
