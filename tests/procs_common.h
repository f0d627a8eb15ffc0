/* Shared pieces of the process-pool tests (tests/procs*.c).

   Each test binary is its own program: spawn mode re-executes it as a fork
   server, and the parx constructor takes that copy over before main runs.
   Tests fork and create pools before starting any thread of their own. */
#ifndef PARX_TEST_PROCS_COMMON_H
#define PARX_TEST_PROCS_COMMON_H

#include "shm_common.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <time.h>

static const parx_start modes[2] = {PARX_START_FORK, PARX_START_SPAWN};
static const char *const mode_names[2] = {"fork", "spawn"};

/* A pool or a failed test point with the reason. */
static inline parx_procs *make_pool(parx_start start, int workers, int retries,
                                    uint64_t timeout_ns)
{
    parx_procs_desc d = {.workers = workers, .start = start, .retries = retries,
                         .job_timeout_ns = timeout_ns, .arena_bytes = 64u << 20};
    parx_procs *pp = parx_procs_create(&d);
    int err = pp ? 0 : -errno;
    CHECK_MSG(pp != NULL, "parx_procs_create(%s): %s", start == PARX_START_SPAWN ? "spawn" : "fork",
              parx_strerror(err));
    return pp;
}

/* Whether pid is gone: no /proc entry, or a zombie (dead, awaiting its reaper). */
static inline int pid_dead(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    char state = pt_proc_state(path, NULL);
    return state == 0 || state == 'Z' || state == 'X';
}

/* How many 1 ms polls a deadline of ms milliseconds allows: ms times
   time_scale() (shm_common.h), for the loops (in the process-pool tests)
   that poll a condition every millisecond. A deadline a comment calls
   "bounded: 10 s" is 10 s at scale 1. Only bounds that a job must finish
   (or crash) inside scale, as do a case's job timeouts; a timeout a job
   must run past holds at any scale. */
static inline int polls(int ms)
{
    return ms * (int)time_scale();
}

/* Wait (bounded: 10 s) until every pid in the list is gone; how many are not. */
static inline int wait_pids_dead(const int *pids, int n)
{
    for (int round = 0; round < polls(10000); round++) {
        int alive = 0;
        for (int i = 0; i < n; i++)
            if (pids[i] > 0 && !pid_dead(pids[i]))
                alive++;
        if (alive == 0)
            return 0;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL); /* polling a condition, with a deadline; not synchronising */
    }
    int alive = 0;
    for (int i = 0; i < n; i++)
        if (pids[i] > 0 && !pid_dead(pids[i]))
            alive++;
    return alive;
}

/* The pool's stats once `started` reaches want (bounded: 10 s). Replacements
   start asynchronously: the server forks one, publishes its pid, and tells
   the monitor, which counts it. */
static inline parx_procs_info wait_started(parx_procs *pp, uint64_t want)
{
    parx_procs_info info;
    parx_procs_stats(pp, &info);
    for (int i = 0; i < polls(10000) && info.started < want; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        parx_procs_stats(pp, &info);
    }
    return info;
}

/* Stop worker process pid and wait (bounded: 10 s) until it is stopped. */
static inline int stop_worker(int pid)
{
    if (kill(pid, SIGSTOP) != 0)
        return 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    for (int i = 0; i < polls(10000); i++) {
        char state = pt_proc_state(path, NULL);
        if (state == 0)
            return 0;
        if (state == 'T' || state == 't')
            return 1;
        nanosleep(&(struct timespec){0, 1000000}, NULL); /* polling a condition, with a deadline */
    }
    return 0;
}

/* Run fn in a forked child, which ends with _exit(0) when all went as it
   must, under a 60 s alarm (times time_scale()): a case that hangs (as
   the cases of procs_ring.c and procs_send.c did before their fixes) ends
   as SIGALRM, and says so. */
static inline void in_child(void (*fn)(void))
{
    unsigned secs = 60u * time_scale();
    pid_t pid = xfork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        alarm(secs);
        fn();
        _exit(1);
    }
    int st = 0;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
        pt_diag("hung: still not done after %u s", secs);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s %d",
              WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* Run fn as the program in a pid and mount namespace of its own, under an
   init that reaps every orphan (as a pool's caller that is pid 1 would not
   have to), with /proc mounted for that namespace: there
   /proc/sys/kernel/ns_last_pid hands a chosen pid to the next child, so a
   test can give a dead process's pid to another. Returns fn's exit code
   (128 + N: killed by signal N; SIGALRM after 30 s), or 100 where such a
   namespace cannot be made (it needs CAP_SYS_ADMIN): skip then. fn runs
   with SIGALRM at its default action. */
static inline int in_pid_namespace(int (*fn)(void))
{
    pid_t c = xfork();
    if (c < 0) return 100;
    if (c == 0) {
        if (unshare(CLONE_NEWPID | CLONE_NEWNS) != 0) _exit(100);
        pid_t init = fork(); /* pid 1 of the new namespace */
        if (init == 0) {
            signal(SIGALRM, SIG_DFL);
            alarm(30 * time_scale()); /* its death ends every process of the namespace */
            if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0 ||
                mount("proc", "/proc", "proc", 0, NULL) != 0)
                _exit(100);
            pid_t h = fork();
            if (h == 0) _exit(fn());
            int code = 99, st;
            for (;;) { /* as init: reap every orphan, until none is left */
                pid_t r = wait(&st);
                if (r == h) code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                if (r < 0 && errno != EINTR) break;
            }
            _exit(code);
        }
        int st = 0;
        if (init < 0 || waitpid(init, &st, 0) != init) _exit(100);
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 97);
    }
    int st = wait_status(c);
    if (st == -1) return 99;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* In such a namespace: make pid the next one the kernel gives out, to the
   next process or thread made there. Returns whether it could. */
static inline bool next_pid_is(pid_t pid)
{
    FILE *f = fopen("/proc/sys/kernel/ns_last_pid", "w");
    if (!f) return false;
    bool ok = fprintf(f, "%d", (int)pid - 1) >= 0;
    return fclose(f) == 0 && ok;
}

#endif /* PARX_TEST_PROCS_COMMON_H */
