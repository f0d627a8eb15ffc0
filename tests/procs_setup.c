/* SPDX-License-Identifier: MIT */
/* tests/procs_setup.c -- a fork server that cannot set itself up. The
   server forks its first workers before the rest of its set-up (its
   signalfd); when that failed, it killed them and left, and whether
   parx_procs_create noticed was a race: about half the creates returned a
   pool whose every submit then gave PARX_E_PROCS_BROKEN. create now waits
   for the server's word that it serves, and a server that cannot says why.
   A spawned server that could not receive the pool's arena (out of
   memory) left without a word, and create blamed the executable
   (PARX_E_SPAWN). This unit implements parx itself with
   PARX__PROCS_SIGNALFD and PARX__PROCS_ARENA_RECV pointing at functions
   that fail when the environment says so (PROCS_SETUP_FAIL=signalfd or
   arena): the spawned server is this program again, and reads it too.
   A spawned server killed by a signal before its hello (a kill from
   outside, or a crash) was reported as an executable that did not take
   over (PARX_E_SPAWN); it is -ECHILD, as for a forked one, and one that
   exits there is still PARX_E_SPAWN (PROCS_SETUP_FAIL=killed, exits).
   A create that failed on one of the caller's own tables (made while the
   server forks the workers) killed the server wherever it was, inside a
   fork too: a worker it had forked but not yet recorded was left behind,
   a zombie for a caller that is a child subreaper or pid 1 (378 of 500
   failed creates of 8 workers, on the header before). PROCS_SETUP_FAIL=
   tables refuses the caller's calloc of TABLES_WORKERS bytes (one byte per
   worker: the first such table create makes after the server's fork). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

enum { TABLES_WORKERS = 24 }; /* a count no other calloc of the caller's asks for */
static void *inject_calloc(size_t n, size_t size);
#define calloc inject_calloc

struct parx_arena;
static int inject_signalfd(int fd, const sigset_t *mask, int flags);
static struct parx_arena *inject_arena_recv(int sock, int *err);
#define PARX__PROCS_SIGNALFD inject_signalfd
#define PARX__PROCS_ARENA_RECV inject_arena_recv
#define PARX_IMPLEMENTATION
#include "parx.h"
#undef calloc
#include "procs_common.h"

static int failing(const char *what)
{
    const char *v = getenv("PROCS_SETUP_FAIL");
    return v && strcmp(v, what) == 0;
}

static int inject_signalfd(int fd, const sigset_t *mask, int flags)
{
    if (failing("signalfd")) {
        errno = EMFILE;
        return -1;
    }
    return signalfd(fd, mask, flags);
}

static struct parx_arena *inject_arena_recv(int sock, int *err)
{
    if (failing("arena")) {
        *err = -ENOMEM;
        return NULL;
    }
    if (failing("killed")) /* killed from outside, or a crash, before its hello */
        raise(SIGKILL);
    if (failing("exits")) /* as a program would that did not take over */
        _exit(0);
    return parx_arena_recv(sock, err);
}

static void *inject_calloc(size_t n, size_t size)
{
    if (n == TABLES_WORKERS && size == 1 && failing("tables")) {
        errno = ENOMEM;
        return NULL;
    }
    return calloc(n, size);
}

static int job_value(void *arg)
{
    return *(int *)arg;
}

/* create fails with `want` every time in this mode; nothing is left running
   (run_guarded counts children, descriptors and /dev/shm names). Then,
   the failure off, a pool of the same kind serves. */
static void fails_with(parx_start mode, const char *what, int want)
{
    enum { ROUNDS = 16 }; /* the old race let some through: 2 of 48, 4 of 8 in two runs */
    setenv("PROCS_SETUP_FAIL", what, 1);
    int wrong = 0;
    for (int i = 0; i < ROUNDS; i++) {
        parx_procs_desc d = {.workers = 2, .start = mode, .arena_bytes = 4u << 20};
        parx_procs *pp = parx_procs_create(&d);
        int err = pp ? 0 : -errno;
        if (pp || err != want) {
            if (wrong++ == 0)
                pt_diag("%s, %s failing, round %d: %s, err %d (%s); want NULL and %d (%s)",
                        mode_names[mode == PARX_START_SPAWN], what, i, pp ? "a pool" : "NULL",
                        err, parx_strerror(err), want, parx_strerror(want));
            parx_procs_destroy(pp);
        }
    }
    CHECK_MSG(wrong == 0, "%s, %s failing: %d of %d creates not refused with %d",
              mode_names[mode == PARX_START_SPAWN], what, wrong, ROUNDS, want);
    unsetenv("PROCS_SETUP_FAIL");
    parx_procs_desc d = {.workers = 2, .start = mode, .arena_bytes = 4u << 20};
    parx_procs *pp = parx_procs_create(&d);
    int err = pp ? 0 : -errno;
    if (!CHECK_MSG(pp != NULL, "create with nothing failing: %s", parx_strerror(err)))
        return;
    int *v = (int *)parx_arena_alloc(parx_procs_arena(pp), sizeof *v, 0);
    REQUIRE(v);
    *v = 7;
    parx_ticket t;
    parx_job_result r;
    CHECK_EQ(parx_procs_submit(pp, job_value, v, &t), 0);
    CHECK(parx_procs_wait(pp, t, &r) == 0 && r.status == 7);
    parx_procs_destroy(pp);
}

static void test_signalfd_fork(void)
{
    fails_with(PARX_START_FORK, "signalfd", -EMFILE);
}

static void test_signalfd_spawn(void)
{
    fails_with(PARX_START_SPAWN, "signalfd", -EMFILE);
}

static void test_arena_spawn(void)
{
    fails_with(PARX_START_SPAWN, "arena", -ENOMEM);
}

static void test_killed_spawn(void)
{
    fails_with(PARX_START_SPAWN, "killed", -ECHILD);
}

static void test_exits_spawn(void)
{
    fails_with(PARX_START_SPAWN, "exits", PARX_E_SPAWN);
}

/* In a child that is a child subreaper (so that the workers of a server
   that dies come back to it): failed creates, each followed by a look for
   any child left. Exit 0: none; 1: one was; 2: a create did not fail with
   -ENOMEM; 3: no subreaper. */
static void tables_refused(parx_start mode)
{
    enum { ROUNDS = 40 };
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) _exit(3);
        setenv("PROCS_SETUP_FAIL", "tables", 1);
        int code = 0;
        for (int i = 0; i < ROUNDS && code == 0; i++) {
            parx_procs_desc d = {
                .workers = TABLES_WORKERS, .start = mode, .arena_bytes = 4u << 20};
            parx_procs *pp = parx_procs_create(&d);
            int err = pp ? 0 : -errno;
            if (pp || err != -ENOMEM) code = 2;
            parx_procs_destroy(pp);
            if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD) code = 1;
        }
        while (waitpid(-1, NULL, 0) > 0) {
        }
        _exit(code);
    }
    int st = 0;
    REQUIRE(waitpid(child, &st, 0) == child);
    static const char *const why[] = {"", "a failed create left a process behind",
                                      "a create did not fail with -ENOMEM",
                                      "PR_SET_CHILD_SUBREAPER refused"};
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: %s",
              mode_names[mode == PARX_START_SPAWN],
              !WIFEXITED(st) ? "the child died of a signal"
              : WEXITSTATUS(st) < 4 ? why[WEXITSTATUS(st)] : "the child failed");
}

static void test_tables_fork(void)
{
    tables_refused(PARX_START_FORK);
}

static void test_tables_spawn(void)
{
    tables_refused(PARX_START_SPAWN);
}

int main(void)
{
    pt_plan(7);
    run_guarded("fork: the server's signalfd fails: create says -EMFILE, every time",
                test_signalfd_fork);
    run_guarded("spawn: the server's signalfd fails: create says -EMFILE, every time",
                test_signalfd_spawn);
    run_guarded("spawn: the server cannot receive the arena (no memory): -ENOMEM, not "
                "PARX_E_SPAWN",
                test_arena_spawn);
    run_guarded("spawn: the server killed by a signal before its hello: -ECHILD, every time",
                test_killed_spawn);
    run_guarded("spawn: the server exits before its hello: PARX_E_SPAWN, every time",
                test_exits_spawn);
    run_guarded("fork: a table of the caller's refused while the server forks: -ENOMEM, and "
                "no worker left behind (a subreaper's view)",
                test_tables_fork);
    run_guarded("spawn: the same", test_tables_spawn);
    return pt_done_testing();
}
