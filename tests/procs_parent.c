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

/* The caller SIGKILLed while create starts its server and workers, at
   times spread over the whole create (0 to 3.8 ms after it begins). Nothing
   may survive it, and no copy may run this program's main: a spawned server
   whose caller is gone must leave, not go on as a program (main below
   leaves a mark, in a file named by the environment, if it ever runs as
   the server's copy). Every orphan comes to us (subreaper) and must end on
   its own within a bound. */
#define KILLED_CREATING_ROUNDS 40

static char main_ran_mark[64];

static void test_killed_while_creating(void)
{
    snprintf(main_ran_mark, sizeof main_ran_mark, "/tmp/procs-parent-main-%d", (int)getpid());
    unlink(main_ran_mark);
    REQUIRE(setenv("PROCS_PARENT_MAIN_MARK", main_ran_mark, 1) == 0);
    int bad = 0;
    for (int m = 0; m < 2; m++) {
        for (int i = 0; i < KILLED_CREATING_ROUNDS; i++) {
            int fds[2];
            REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
            pid_t child = xfork();
            REQUIRE(child >= 0);
            if (child == 0) {
                close(fds[0]);
                char go = 'g';
                if (!xwrite(fds[1], &go, 1))
                    _exit(11);
                parx_procs *pp = parx_procs_create(
                    &(parx_procs_desc){.workers = 2, .start = modes[m], .arena_bytes = 4u << 20});
                parx_procs_destroy(pp);
                _exit(0);
            }
            close(fds[1]);
            char go;
            int got = xread(fds[0], &go, 1);
            close(fds[0]);
            struct timespec ts = {0, (long)(i % 20) * 200000};
            nanosleep(&ts, NULL);
            kill(child, SIGKILL);
            int st;
            while (waitpid(child, &st, 0) < 0 && errno == EINTR) {
            }
            bad += got != 1;
        }
    }
    CHECK_MSG(bad == 0, "%d children did not start", bad);
    /* The orphans, reparented to us: each must end by itself. */
    int round = 0;
    while (waitpid(-1, NULL, WNOHANG) >= 0 && round++ < polls(10000)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    CHECK_MSG(errno == ECHILD, "orphaned servers or workers still ran 10 s after their caller died");
    CHECK_MSG(access(main_ran_mark, F_OK) != 0,
              "a spawned server whose caller was killed ran the program's main");
    unlink(main_ran_mark);
    unsetenv("PROCS_PARENT_MAIN_MARK");
}

int main(int argc, char **argv)
{
    /* Only a copy of this program that parx failed to keep away from main
       gets here with the fork server's name (see test_killed_while_creating). */
    const char *mark = getenv("PROCS_PARENT_MAIN_MARK");
    if (argc >= 1 && strcmp(argv[0], "parx-procs-server") == 0) {
        if (mark)
            close(open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
        _exit(3);
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        pt_skip_all("cannot become a child subreaper");
    pt_plan(5);
    run_guarded("fork mode: parent SIGKILLed mid-map: server and workers all die",
                test_parent_killed_fork);
    run_guarded("spawn mode: parent SIGKILLed mid-map: server and workers all die",
                test_parent_killed_spawn);
    run_guarded("subreaper: workers orphaned by a killed server are reaped by destroy",
                test_subreaper_server_killed);
    run_guarded("spawn mode: a pool made by a thread that exits keeps working", test_thread_exits);
    run_guarded("either mode: caller SIGKILLed during create: nothing survives, main never runs",
                test_killed_while_creating);
    return pt_done_testing();
}
