/* SPDX-License-Identifier: MIT */
/* tests/procs_stress.c -- 100,000 jobs through the process pool and back, in
   fork and in spawn mode: through map, through submit/wait with many tickets
   outstanding, and from two threads of the caller at once. Every result is
   checked, and every job must have run exactly once (each counts its runs
   in the arena). Sizes scale with PARX_STRESS_SCALE. Suite 'stress'. */
#define _GNU_SOURCE
#include <pthread.h>

#include "parx.h"
#include "procs_common.h"

typedef struct job {
    uint64_t in, out;
    _Atomic int runs;
} job;

static int job_mix(void *p)
{
    job *j = (job *)p;
    j->out = mix64(j->in);
    atomic_fetch_add(&j->runs, 1);
    return (int)(j->in % 7); /* a status that varies, to check it comes back right */
}

static size_t check_jobs(const job *js, const parx_job_result *r, size_t n, int runs)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        int ok = js[i].out == mix64(js[i].in) && atomic_load(&js[i].runs) == runs &&
                 (!r || (r[i].status == (int)(js[i].in % 7) && r[i].attempts == 1));
        if (!ok && bad++ < 5)
            pt_diag("job %zu: out %s, runs %d, status %d", i,
                    js[i].out == mix64(js[i].in) ? "right" : "wrong", atomic_load(&js[i].runs),
                    r ? r[i].status : 0);
    }
    return bad;
}

static parx_start g_mode;

static void map_all(void)
{
    size_t n = pt_scaled(100000, 1000);
    parx_procs_desc d = {.workers = 2, .start = g_mode, .arena_bytes = 64u << 20};
    parx_procs *pp = parx_procs_create(&d);
    int err = pp ? 0 : -errno;
    CHECK_MSG(pp, "create: %s", parx_strerror(err));
    REQUIRE(pp);
    job *js = (job *)parx_arena_alloc(parx_procs_arena(pp), n * sizeof *js, 0);
    void **args = (void **)malloc(n * sizeof *args);
    parx_job_result *r = (parx_job_result *)malloc(n * sizeof *r);
    REQUIRE(js && args && r);
    for (size_t i = 0; i < n; i++) {
        js[i].in = i * 2654435761u;
        js[i].out = 0;
        atomic_init(&js[i].runs, 0);
        args[i] = &js[i];
    }
    size_t want_failed = 0;
    for (size_t i = 0; i < n; i++)
        want_failed += js[i].in % 7 != 0;
    CHECK_EQ(parx_procs_map(pp, job_mix, args, n, r), (long long)want_failed);
    CHECK_EQ(check_jobs(js, r, n, 1), 0);

    /* submit/wait: up to 1000 tickets outstanding, waited in a shuffled order */
    parx_ticket *t = (parx_ticket *)malloc(1000 * sizeof *t);
    REQUIRE(t);
    rnd g = rnd_seed(42);
    for (size_t base = 0; base < n; base += 1000) {
        size_t m = n - base < 1000 ? n - base : 1000;
        for (size_t i = 0; i < m; i++)
            CHECK_EQ(parx_procs_submit(pp, job_mix, &js[base + i], &t[i]), 0);
        for (size_t i = m; i > 1; i--) { /* Fisher-Yates, tickets with their jobs */
            size_t k = (size_t)rnd_below(&g, i);
            parx_ticket tt = t[i - 1];
            t[i - 1] = t[k];
            t[k] = tt;
        }
        for (size_t i = 0; i < m; i++) {
            parx_job_result one;
            CHECK_EQ(parx_procs_wait(pp, t[i], &one), 0);
            CHECK_EQ(one.attempts, 1); /* results are checked below */
        }
    }
    CHECK_EQ(check_jobs(js, NULL, n, 2), 0);
    free(t);
    free(args);
    free(r);
    parx_procs_destroy(pp);
}

/* Two caller threads mapping into one pool at once (the pool's monitor is a
   third): each half is run exactly once. */
typedef struct half {
    parx_procs *pp;
    job *js;
    size_t n;
    int rc;
} half;

static void *map_half(void *p)
{
    half *h = (half *)p;
    void **args = (void **)malloc(h->n * sizeof *args);
    parx_job_result *r = (parx_job_result *)malloc(h->n * sizeof *r);
    if (!args || !r) {
        h->rc = -ENOMEM;
    } else {
        for (size_t i = 0; i < h->n; i++)
            args[i] = &h->js[i];
        h->rc = parx_procs_map(h->pp, job_mix, args, h->n, r);
        if (h->rc >= 0 && check_jobs(h->js, r, h->n, 1) != 0)
            h->rc = -EPROTO;
    }
    free(args);
    free(r);
    return NULL;
}

static void two_callers(void)
{
    size_t n = pt_scaled(50000, 1000);
    parx_procs_desc d = {.workers = 2, .start = g_mode, .max_jobs = 512, .arena_bytes = 64u << 20};
    parx_procs *pp = parx_procs_create(&d);
    REQUIRE(pp);
    job *js = (job *)parx_arena_alloc(parx_procs_arena(pp), 2 * n * sizeof *js, 0);
    REQUIRE(js);
    for (size_t i = 0; i < 2 * n; i++) {
        js[i].in = i;
        js[i].out = 0;
        atomic_init(&js[i].runs, 0);
    }
    half h[2] = {{pp, js, n, 0}, {pp, js + n, n, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        REQUIRE(pthread_create(&th[i], NULL, map_half, &h[i]) == 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++)
        CHECK_MSG(h[i].rc >= 0, "caller %d: %s", i, parx_strerror(h[i].rc));
    parx_procs_destroy(pp);
}

/* Waiters that go to sleep at once (spin_ns 1) set their WAITER bit while
   jobs are still queued, racing the workers' claims on the same word: no job
   may be lost to that race (a claim that lost its CAS to the bit once gave
   up on the job and moved head past it; seen as a hang under valgrind). */
static void sleepy_waiters(void)
{
    size_t n = pt_scaled(20000, 500);
    parx_procs_desc d = {.workers = 2, .start = g_mode, .spin_ns = 1, .arena_bytes = 16u << 20};
    parx_procs *pp = parx_procs_create(&d);
    REQUIRE(pp);
    job *js = (job *)parx_arena_alloc(parx_procs_arena(pp), 64 * sizeof *js, 0);
    REQUIRE(js);
    parx_ticket t[64];
    size_t bad = 0;
    for (size_t done = 0; done < n; done += 64) {
        for (int i = 0; i < 64; i++) {
            js[i].in = done + (size_t)i;
            js[i].out = 0;
            atomic_store(&js[i].runs, 0);
            CHECK_EQ(parx_procs_submit(pp, job_mix, &js[i], &t[i]), 0);
        }
        int down = (done / 64) % 2; /* every other batch in reverse: its last job surely queued */
        for (int i = down ? 63 : 0; i >= 0 && i < 64; i += down ? -1 : 1) {
            parx_job_result one;
            CHECK_EQ(parx_procs_wait(pp, t[i], &one), 0);
            CHECK_EQ(one.status, (int)(js[i].in % 7));
        }
        bad += check_jobs(js, NULL, 64, 1);
    }
    CHECK_EQ(bad, 0);
    parx_procs_destroy(pp);
}

static void test_sleepy_fork(void) { g_mode = PARX_START_FORK; sleepy_waiters(); }
static void test_sleepy_spawn(void) { g_mode = PARX_START_SPAWN; sleepy_waiters(); }

/* More workers than the socket to the server can hold requests for at once
   (about 270 each way here): create must not block on a full socket. Not
   under valgrind or TSan, where 600 instrumented processes are too many. */
static void many_workers(void)
{
    const char *preload = getenv("LD_PRELOAD");
    if ((preload && strstr(preload, "vgpreload")) || UNDER_TSAN)
        PT_SKIP("600 processes under valgrind or TSan");
    parx_procs_desc d = {.workers = 600, .start = g_mode, .arena_bytes = 16u << 20};
    parx_procs *pp = parx_procs_create(&d);
    int err = pp ? 0 : -errno;
    CHECK_MSG(pp, "create with 600 workers: %s", parx_strerror(err));
    if (!pp)
        return;
    size_t n = 6000;
    job *js = (job *)parx_arena_alloc(parx_procs_arena(pp), n * sizeof *js, 0);
    void **args = (void **)malloc(n * sizeof *args);
    parx_job_result *r = (parx_job_result *)malloc(n * sizeof *r);
    REQUIRE(js && args && r);
    for (size_t i = 0; i < n; i++) {
        js[i].in = i;
        js[i].out = 0;
        atomic_init(&js[i].runs, 0);
        args[i] = &js[i];
    }
    CHECK(parx_procs_map(pp, job_mix, args, n, r) >= 0);
    CHECK_EQ(check_jobs(js, r, n, 1), 0);
    free(args);
    free(r);
    parx_procs_destroy(pp);
}

static void test_many_fork(void) { g_mode = PARX_START_FORK; many_workers(); }

/* Pools created at the same time by two threads, one in each mode: the fork
   of one copies the other's socket to its server while it is being made;
   each pool must still see its own server leave (destroy returns). */
typedef struct maker {
    parx_start mode;
    int rounds, failures;
} maker;

static void *make_pools(void *p)
{
    maker *m = (maker *)p;
    for (int i = 0; i < m->rounds; i++) {
        parx_procs *pp = parx_procs_create(
            &(parx_procs_desc){.workers = 1, .start = m->mode, .arena_bytes = 4u << 20});
        parx_ticket t;
        parx_job_result r;
        if (!pp || parx_procs_submit(pp, job_mix, parx_arena_alloc(parx_procs_arena(pp), 64, 0),
                                     &t) != 0 ||
            parx_procs_wait(pp, t, &r) != 0)
            m->failures++;
        parx_procs_destroy(pp);
    }
    return NULL;
}

static void test_concurrent_creates(void)
{
    maker m[2] = {{PARX_START_SPAWN, (int)pt_scaled(30, 5), 0},
                  {PARX_START_FORK, (int)pt_scaled(30, 5), 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        REQUIRE(pthread_create(&th[i], NULL, make_pools, &m[i]) == 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(m[0].failures, 0);
    CHECK_EQ(m[1].failures, 0);
}

static void test_map_fork(void) { g_mode = PARX_START_FORK; map_all(); }
static void test_map_spawn(void) { g_mode = PARX_START_SPAWN; map_all(); }
static void test_two_fork(void) { g_mode = PARX_START_FORK; two_callers(); }
static void test_two_spawn(void) { g_mode = PARX_START_SPAWN; two_callers(); }

int main(void)
{
    pt_plan(8);
    run_guarded("fork mode: 100,000 jobs by map and by submit/wait, each run once, results right",
                test_map_fork);
    run_guarded("spawn mode: 100,000 jobs by map and by submit/wait, each run once, results right",
                test_map_spawn);
    run_guarded("fork mode: waiters sleeping at once race no job away", test_sleepy_fork);
    run_guarded("spawn mode: waiters sleeping at once race no job away", test_sleepy_spawn);
    run_guarded("fork mode: 600 workers (more than the socket holds requests for)",
                test_many_fork);
    /* threads from here on: forks above came first */
    run_guarded("fork mode: two caller threads map into one pool at once", test_two_fork);
    run_guarded("spawn mode: two caller threads map into one pool at once", test_two_spawn);
    run_guarded("pools made at once by two threads, fork and spawn: every destroy returns",
                test_concurrent_creates);
    return pt_done_testing();
}
