/* SPDX-License-Identifier: MIT */
/* tests/procs_threads.c -- spawn mode from a parent that has 4 threads
   running: busy in malloc/free and stdio, the locks a fork would copy in a
   held state. posix_spawn starts a fresh program, so nothing of theirs
   reaches the workers: 20,000 jobs come back right, and the pool is made and
   destroyed again while the threads keep going. Suite 'unit'. */
#define _GNU_SOURCE
#include <pthread.h>

#include "parx.h"
#include "procs_common.h"

static _Atomic int stop;
static _Atomic long churn;

static void *churner(void *arg)
{
    (void)arg;
    char buf[64];
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        void *p = malloc(1 + (size_t)(atomic_fetch_add(&churn, 1) % 4096));
        snprintf(buf, sizeof buf, "%p", p);
        free(p);
    }
    return NULL;
}

typedef struct job {
    uint64_t in, out;
} job;

static int job_mix(void *p)
{
    job *j = (job *)p;
    void *scratch = malloc(256); /* the worker's own malloc works */
    j->out = mix64(j->in) ^ (scratch ? 0 : 1);
    free(scratch);
    return 0;
}

static void test_spawn_with_threads(void)
{
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        REQUIRE(pthread_create(&th[i], NULL, churner, NULL) == 0);
    for (int round = 0; round < 3; round++) {
        parx_procs_desc d = {.workers = 2, .start = PARX_START_SPAWN, .arena_bytes = 16u << 20};
        parx_procs *pp = parx_procs_create(&d);
        int err = pp ? 0 : -errno;
        CHECK_MSG(pp, "create: %s", parx_strerror(err));
        if (!pp)
            break;
        size_t n = pt_scaled(20000, 100);
        job *js = (job *)parx_arena_alloc(parx_procs_arena(pp), n * sizeof *js, 0);
        void **args = (void **)malloc(n * sizeof *args);
        parx_job_result *r = (parx_job_result *)malloc(n * sizeof *r);
        if (js && args && r) {
            for (size_t i = 0; i < n; i++) {
                js[i].in = i + (size_t)round * n;
                js[i].out = 0;
                args[i] = &js[i];
            }
            CHECK_EQ(parx_procs_map(pp, job_mix, args, n, r), 0);
            size_t bad = 0;
            for (size_t i = 0; i < n; i++)
                bad += js[i].out != mix64(js[i].in) || r[i].status != 0;
            CHECK_EQ(bad, 0);
        } else {
            CHECK_MSG(0, "out of memory");
        }
        free(args);
        free(r);
        parx_procs_destroy(pp);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK(atomic_load(&churn) > 0);
}

/* Fork mode in a threaded process is allowed but hazardous: create says so
   through the log hook (and works, here, since the other thread holds no
   lock: it sleeps on a pipe). */
static char logged[512];
static int log_level;

static void on_log(parx_log_level level, const char *msg, void *user)
{
    (void)user;
    if (log_level == 0 || (int)level < log_level) {
        log_level = (int)level;
        snprintf(logged, sizeof logged, "%s", msg);
    }
}

static void *sleeper(void *arg)
{
    char c;
    (void)!read(*(int *)arg, &c, 1);
    return NULL;
}

static void test_fork_warns(void)
{
    int fds[2];
    REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, sleeper, &fds[0]) == 0);
    parx_set_log(on_log, NULL);
    parx_procs *pp = make_pool(PARX_START_FORK, 1, 0, 0);
    parx_set_log(NULL, NULL);
    CHECK_EQ(log_level, PARX_LOG_WARN);
    /* 2 threads here, or more where a sanitizer runs one of its own */
    int threads = 0;
    CHECK_MSG(sscanf(logged, "parx_procs_create: fork mode in a process with %d threads",
                     &threads) == 1 && threads >= 2,
              "logged: %s", logged);
    if (pp) {
        parx_ticket t;
        CHECK_EQ(parx_procs_submit(pp, job_mix, parx_arena_alloc(parx_procs_arena(pp), 64, 0), &t),
                 0);
        CHECK_EQ(parx_procs_wait(pp, t, NULL), 0);
        parx_procs_destroy(pp);
    }
    CHECK_EQ(write(fds[1], "x", 1), 1);
    pthread_join(th, NULL);
    close(fds[0]);
    close(fds[1]);
    /* a spawn-mode pool in the same situation says nothing */
    logged[0] = 0;
    log_level = 0;
    parx_set_log(on_log, NULL);
    pp = make_pool(PARX_START_SPAWN, 1, 0, 0);
    parx_set_log(NULL, NULL);
    CHECK_EQ(log_level, 0);
    parx_procs_destroy(pp);
}

int main(void)
{
    pt_plan(2);
    run_guarded("fork mode in a threaded process: a warning through the log hook",
                test_fork_warns);
    run_guarded("spawn mode with 4 threads busy in malloc and stdio: 3 pools, every job right",
                test_spawn_with_threads);
    return pt_done_testing();
}
