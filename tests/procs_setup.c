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
   arena): the spawned server is this program again, and reads it too. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>

struct parx_arena;
static int inject_signalfd(int fd, const sigset_t *mask, int flags);
static struct parx_arena *inject_arena_recv(int sock, int *err);
#define PARX__PROCS_SIGNALFD inject_signalfd
#define PARX__PROCS_ARENA_RECV inject_arena_recv
#define PARX_IMPLEMENTATION
#include "parx.h"
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
    return parx_arena_recv(sock, err);
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
        int err = 0;
        parx_procs *pp = parx_procs_create(&d, &err);
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
    int err = 0;
    parx_procs *pp = parx_procs_create(&d, &err);
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

int main(void)
{
    pt_plan(3);
    run_guarded("fork: the server's signalfd fails: create says -EMFILE, every time",
                test_signalfd_fork);
    run_guarded("spawn: the server's signalfd fails: create says -EMFILE, every time",
                test_signalfd_spawn);
    run_guarded("spawn: the server cannot receive the arena (no memory): -ENOMEM, not "
                "PARX_E_SPAWN",
                test_arena_spawn);
    return pt_done_testing();
}
