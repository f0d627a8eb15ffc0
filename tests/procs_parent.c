/* SPDX-License-Identifier: MIT */
/* tests/procs_parent.c -- a parent that dies takes its workers with it. A
   child process makes a pool (fork or spawn mode), reports the pids of its
   fork server and workers through a pipe, and is SIGKILLed in the middle of
   a map; none of those processes may survive (checked in /proc). This test
   process is a child subreaper, so the orphans are reparented to it and it
   can tell dead (reaped or zombie) from alive, and reap them all: no zombie
   is left either. Also: a pool created by a thread that then exits keeps
   working (the server watches the process, not the thread). Suite
   'reliability'. */
#define _GNU_SOURCE
#include <pthread.h>

#include "parx.h"
#include "procs_common.h"

static int job_spin(void *p)
{
    _Atomic int *started = (_Atomic int *)p;
    atomic_fetch_add(started, 1);
    for (;;)
        pause(); /* until killed with the rest */
    return 0;
}

static void parent_killed(parx_start mode)
{
    int fds[2];
    REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
    pid_t child = xfork();
    REQUIRE(child >= 0);
    if (child == 0) {
        close(fds[0]);
        parx_procs_desc d = {.workers = 3, .start = mode, .arena_bytes = 16u << 20};
        parx_procs *pp = parx_procs_create(&d);
        if (!pp)
            _exit(10);
        _Atomic int *started = (_Atomic int *)parx_arena_alloc(parx_procs_arena(pp), 64, 0);
        atomic_store(started, 0);
        parx_ticket t[3];
        for (int i = 0; i < 3; i++)
            parx_procs_submit(pp, job_spin, (void *)started, &t[i]);
        while (atomic_load(started) < 3)
            sched_yield();
        int pids[4];
        parx_procs_info info;
        parx_procs_stats(pp, &info);
        pids[0] = info.server_pid;
        parx_procs_pids(pp, pids + 1, 3);
        if (!xwrite(fds[1], pids, sizeof pids))
            _exit(11);
        parx_procs_wait(pp, t[0], NULL); /* never returns: we are killed here */
        _exit(12);
    }
    close(fds[1]);
    int pids[4] = {0};
    int got = xread(fds[0], pids, sizeof pids);
    close(fds[0]);
    CHECK_EQ(got, 1);
    for (int i = 0; i < 4; i++)
        CHECK_MSG(pids[i] > 0 && !pid_dead(pids[i]), "process %d (%d) not running", i, pids[i]);
    kill(child, SIGKILL);
    expect_child(child, -1, SIGKILL);
    CHECK_EQ(wait_pids_dead(pids, 4), 0);
    /* They were reparented to us (subreaper) unless their own parent reaped
       them first: reap each, until none has a /proc entry (bounded). */
    for (int i = 0; i < 4; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d", pids[i]);
        int round = 0;
        while (waitpid(pids[i], NULL, WNOHANG) != pids[i] && access(path, F_OK) == 0 &&
               round++ < polls(10000)) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        CHECK_MSG(access(path, F_OK) != 0, "process %d (%d) is still there", i, pids[i]);
    }
}

static void test_parent_killed_fork(void) { parent_killed(PARX_START_FORK); }
static void test_parent_killed_spawn(void) { parent_killed(PARX_START_SPAWN); }

/* A pool made by a short-lived thread outlives the thread. */
static void *make_in_thread(void *out)
{
    parx_procs_desc d = {.workers = 2, .start = PARX_START_SPAWN, .arena_bytes = 16u << 20};
    *(parx_procs **)out = parx_procs_create(&d);
    return NULL;
}

static int job_double(void *p)
{
    long *v = (long *)p;
    *v *= 2;
    return 0;
}

static void test_thread_exits(void)
{
    pid_t child = xfork(); /* threads in a child of its own: the tests above fork first */
    REQUIRE(child >= 0);
    if (child == 0) {
        parx_procs *pp = NULL;
        pthread_t th;
        if (pthread_create(&th, NULL, make_in_thread, &pp) != 0)
            _exit(20);
        pthread_join(th, NULL);
        if (!pp)
            _exit(21);
        long *v = (long *)parx_arena_alloc(parx_procs_arena(pp), 64 * sizeof *v, 0);
        void *args[64];
        parx_job_result r[64];
        for (int i = 0; i < 64; i++) {
            v[i] = i;
            args[i] = &v[i];
        }
        int rc = parx_procs_map(pp, job_double, args, 64, r);
        int bad = rc != 0;
        for (int i = 0; i < 64; i++)
            bad += v[i] != 2L * i;
        parx_procs_destroy(pp);
        _exit(bad ? 22 : 0);
    }
    expect_child(child, 0, 0);
}

/* This process is a subreaper: when a pool's server is killed, its workers
   are reparented to us. destroy must reap them (the guard fails the test if
   any child, zombie or not, is left). */
static int job_nothing(void *p)
{
    return p ? 1 : 0;
}

static void test_subreaper_server_killed(void)
{
    for (int m = 0; m < 2; m++) {
        parx_procs *pp = parx_procs_create(
            &(parx_procs_desc){.workers = 3, .start = modes[m], .arena_bytes = 4u << 20});
        REQUIRE(pp);
        parx_procs_info info;
        parx_procs_stats(pp, &info);
        kill(info.server_pid, SIGKILL);
        parx_ticket t;
        int rc;
        while ((rc = parx_procs_submit(pp, job_nothing, NULL, &t)) == 0) /* until it notices */
            CHECK_EQ(parx_procs_wait(pp, t, NULL), 0);
        CHECK_EQ(rc, PARX_E_PROCS_BROKEN);
        parx_procs_destroy(pp);
    }
}

int main(void)
{
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        pt_skip_all("cannot become a child subreaper");
    pt_plan(4);
    run_guarded("fork mode: parent SIGKILLed mid-map: server and workers all die",
                test_parent_killed_fork);
    run_guarded("spawn mode: parent SIGKILLed mid-map: server and workers all die",
                test_parent_killed_spawn);
    run_guarded("subreaper: workers orphaned by a killed server are reaped by destroy",
                test_subreaper_server_killed);
    run_guarded("spawn mode: a pool made by a thread that exits keeps working", test_thread_exits);
    return pt_done_testing();
}
