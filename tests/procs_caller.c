/* SPDX-License-Identifier: MIT */
/* tests/procs_caller.c -- the process pool's bookkeeping in the caller:
   what parx_procs_map_ex tells its progress callback when the pool breaks
   under it.

   Every test runs under run_guarded: it fails if it leaves a descriptor, a
   child process or a parx-* entry of /dev/shm behind. Pools are made before
   the test starts threads of its own (fork mode copies the caller). A test
   that hangs is ended by an alarm that says so: the pool's server sees its
   caller die and takes the workers with it. */
#define _GNU_SOURCE
#include <signal.h>
#include <unistd.h>

#include "parx.h"
#include "procs_common.h"

/* ===== job functions ===================================================== */

/* A job that returns at once, or (hold) once *go is set, giving up with 1
   after 10 s so that a test that never sets it still ends. */
typedef struct gate_arg {
    _Atomic int *go;
    int hold;
} gate_arg;

static int job_gate(void *p)
{
    gate_arg *a = (gate_arg *)p;
    if (!a || !a->hold)
        return 0;
    for (int i = 0; i < 10000 && !atomic_load(a->go); i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL); /* polling, with a deadline */
    return atomic_load(a->go) ? 0 : 1;
}

/* ===== a hang is a failure ================================================ */

static const char *hang_what = "";

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "Bail out! hung in: ";
    if (write(1, msg, sizeof msg - 1) < 0 || write(1, hang_what, strlen(hang_what)) < 0 ||
        write(1, "\n", 1) < 0) {
        /* nothing more to say */
    }
    _exit(1);
}

static void arm(const char *what, unsigned seconds)
{
    hang_what = what;
    alarm(seconds);
}

/* ===== progress when the pool breaks ===================================== */

/* The pool breaks (its fork server killed) while a map has jobs not yet
   queued and none running: those come back as PARX_E_PROCS_BROKEN, and the
   progress callback hears of them like any other batch of results, so its
   last call says n of n. */
static parx_procs *brk_pool;
static size_t brk_calls, brk_last;
static int brk_bad;

static void brk_progress(size_t done, size_t n, void *user)
{
    (void)user;
    brk_bad += done <= brk_last || done > n;
    brk_last = done;
    if (brk_calls++ > 0)
        return;
    /* first batch: break the pool, and wait (bounded) until it says so */
    parx_procs_info info;
    parx_procs_stats(brk_pool, &info);
    kill(info.server_pid, SIGKILL);
    int rc = 0;
    for (int i = 0; i < 10000; i++) {
        parx_ticket t;
        rc = parx_procs_submit(brk_pool, job_gate, NULL, &t);
        if (rc != 0)
            break;
        parx_job_result r;
        brk_bad += parx_procs_wait(brk_pool, t, &r) != 0;
        nanosleep(&(struct timespec){0, 1000000}, NULL); /* polling, with a deadline */
    }
    brk_bad += rc != PARX_E_PROCS_BROKEN;
}

static void test_progress_when_broken(void)
{
    parx_procs_desc d = {.workers = 1, .max_jobs = 1, .arena_bytes = 4u << 20};
    brk_pool = parx_procs_create(&d, NULL);
    REQUIRE(brk_pool);
    int pid;
    CHECK_EQ(parx_procs_pids(brk_pool, &pid, 1), 1);
    enum { N = 4 };
    void *args[N] = {NULL, NULL, NULL, NULL};
    parx_job_result r[N];
    brk_calls = brk_last = 0;
    brk_bad = 0;
    parx_map_desc md = {.progress = brk_progress};
    arm("progress_when_broken", 30);
    CHECK_EQ(parx_procs_map_ex(brk_pool, job_gate, args, N, r, &md), N - 1);
    alarm(0);
    CHECK_EQ(r[0].status, 0);
    for (int i = 1; i < N; i++)
        CHECK_EQ(r[i].status, PARX_E_PROCS_BROKEN);
    CHECK_EQ(brk_bad, 0);
    CHECK_MSG(brk_last == N, "progress last said %zu of %d", brk_last, N);
    parx_procs_destroy(brk_pool);
    CHECK_EQ(wait_pids_dead(&pid, 1), 0);
}

int main(void)
{
    signal(SIGALRM, on_alarm);
    pt_plan(1);
    run_guarded("map: progress hears of the jobs a broken pool fails, up to n of n",
                test_progress_when_broken);
    return pt_done_testing();
}
