/* SPDX-License-Identifier: MIT */
/* tests/procs_send.c -- the pool's messages to its fork server when a send
   fails for want of memory. The kernel answers ENOBUFS (or ENOMEM) when it
   cannot allocate a socket buffer; that cannot be had on request, so this
   unit implements parx itself with PARX__PROCS_SEND pointing at a send
   that fails chosen messages that way, then sends as usual. The monitor
   took such a failure for a send: a START (a dead worker's replacement)
   was lost, and the pool ran on without that worker (here: without any,
   so the next job never ran); a KILL (a job past its timeout) was lost,
   and the job was never killed nor its worker watched again. destroy's
   QUIT, lost, left the server waiting and destroy with it. Each case runs
   in a child under alarm(): before the fix, all three hung. A fourth case
   queues a KILL that its worker's own death makes moot. Fork mode: the
   monitor is the same in both. */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/types.h>

static ssize_t inject_send(int sock, const void *buf, size_t len, int flags);
#define PARX__PROCS_SEND inject_send
#define PARX_IMPLEMENTATION
#include "parx.h"
#include "procs_common.h"

/* Per message type (PARX__M_*): how many sends of it are still to fail,
   and how many did. Set after the pool is made (a fork-mode server keeps
   the copy it was made with; it sends no message these count anyway). */
static _Atomic int fail_left[PARX__M_SPARED + 1];
static _Atomic int failed[PARX__M_SPARED + 1];

static ssize_t inject_send(int sock, const void *buf, size_t len, int flags)
{
    const parx__pmsg *m = (const parx__pmsg *)buf;
    if (len == sizeof *m && m->type > 0 && m->type <= PARX__M_SPARED) {
        int left = atomic_load(&fail_left[m->type]);
        while (left > 0 && !atomic_compare_exchange_weak(&fail_left[m->type], &left, left - 1)) {
        }
        if (left > 0) {
            atomic_fetch_add(&failed[m->type], 1);
            errno = ENOBUFS;
            return -1;
        }
    }
    return send(sock, buf, len, flags);
}

typedef struct job_arg {
    int kind; /* 0: return value; 1: SIGKILL the worker; 2: hang; 3: SIGKILL once go */
    int value;
    _Atomic int go;
} job_arg;

static int job(void *p)
{
    job_arg *a = (job_arg *)p;
    if (a->kind == 1)
        raise(SIGKILL);
    if (a->kind == 2)
        for (;;)
            pause();
    if (a->kind == 3) {
        for (int i = 0; i < polls(20000) && !atomic_load(&a->go); i++)
            nanosleep(&(struct timespec){0, 1000000}, NULL); /* polling, with a deadline */
        raise(SIGKILL);
    }
    return a->value;
}

#define CHILD_REQUIRE(cond, ...)                                                                   \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            CHILD_DIAG(__VA_ARGS__);                                                               \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)

static parx_procs *one_worker_pool(uint64_t timeout_ns, job_arg **args)
{
    parx_procs_desc d = {.workers = 1, .start = PARX_START_FORK, .job_timeout_ns = timeout_ns,
                         .arena_bytes = 4u << 20};
    parx_procs *pp = parx_procs_create(&d);
    int err = pp ? 0 : -errno;
    CHILD_REQUIRE(pp, "parx_procs_create: %s", parx_strerror(err));
    *args = (job_arg *)parx_arena_alloc(parx_procs_arena(pp), 4 * sizeof **args, 0);
    CHILD_REQUIRE(*args, "arena");
    memset(*args, 0, 4 * sizeof **args);
    return pp;
}

/* The only worker dies; the START for its replacement fails three times.
   The next job must still run, on the replacement. */
static void case_start(void)
{
    job_arg *a;
    parx_procs *pp = one_worker_pool(0, &a);
    a[0].kind = 1;
    a[1].value = 42;
    atomic_store(&fail_left[PARX__M_START], 3);
    parx_ticket t;
    parx_job_result r;
    CHILD_REQUIRE(parx_procs_submit(pp, job, &a[0], &t) == 0, "submit");
    CHILD_REQUIRE(parx_procs_wait(pp, t, &r) == 0 && r.status == PARX_E_CRASHED, "crash: %d",
                  r.status);
    CHILD_REQUIRE(parx_procs_submit(pp, job, &a[1], &t) == 0, "submit");
    CHILD_REQUIRE(parx_procs_wait(pp, t, &r) == 0 && r.status == 42, "after: %d", r.status);
    CHILD_REQUIRE(atomic_load(&failed[PARX__M_START]) == 3, "%d STARTs failed, not 3",
                  atomic_load(&failed[PARX__M_START]));
    parx_procs_info info = wait_started(pp, 2);
    CHILD_REQUIRE(info.started == 2 && info.crashed == 1, "started %llu crashed %llu",
                  (unsigned long long)info.started, (unsigned long long)info.crashed);
    parx_procs_destroy(pp);
    _exit(0);
}

/* A job hangs past its 500 ms timeout (times time_scale()); the KILL fails
   three times. The job must still be killed (-ETIMEDOUT), and the pool go
   on. (The timeout bounds the next job too, the first in a new worker:
   20 ms was too short for it under valgrind.) */
static void case_kill(void)
{
    job_arg *a;
    parx_procs *pp = one_worker_pool(500000000ull * time_scale(), &a);
    a[0].kind = 2;
    a[1].value = 43;
    atomic_store(&fail_left[PARX__M_KILL], 3);
    parx_ticket t;
    parx_job_result r;
    CHILD_REQUIRE(parx_procs_submit(pp, job, &a[0], &t) == 0, "submit");
    CHILD_REQUIRE(parx_procs_wait(pp, t, &r) == 0 && r.status == -ETIMEDOUT, "hang: %d (%s)",
                  r.status, parx_strerror(r.status));
    CHILD_REQUIRE(atomic_load(&failed[PARX__M_KILL]) == 3, "%d KILLs failed, not 3",
                  atomic_load(&failed[PARX__M_KILL]));
    CHILD_REQUIRE(parx_procs_submit(pp, job, &a[1], &t) == 0, "submit");
    CHILD_REQUIRE(parx_procs_wait(pp, t, &r) == 0 && r.status == 43, "after: %d", r.status);
    parx_procs_info info;
    CHILD_REQUIRE(parx_procs_stats(pp, &info) == 0 && info.timed_out == 1, "timed_out %llu",
                  (unsigned long long)info.timed_out);
    parx_procs_destroy(pp);
    _exit(0);
}

/* destroy's QUIT fails once: destroy must still return, the server and the
   worker gone. */
static void case_quit(void)
{
    job_arg *a;
    parx_procs *pp = one_worker_pool(0, &a);
    a[0].value = 44;
    parx_ticket t;
    parx_job_result r;
    CHILD_REQUIRE(parx_procs_submit(pp, job, &a[0], &t) == 0, "submit");
    CHILD_REQUIRE(parx_procs_wait(pp, t, &r) == 0 && r.status == 44, "job: %d", r.status);
    parx_procs_info info;
    int pids[2];
    CHILD_REQUIRE(parx_procs_stats(pp, &info) == 0 && parx_procs_pids(pp, pids, 1) == 1, "pids");
    pids[1] = info.server_pid;
    atomic_store(&fail_left[PARX__M_QUIT], 1);
    parx_procs_destroy(pp);
    CHILD_REQUIRE(atomic_load(&failed[PARX__M_QUIT]) == 1, "%d QUITs failed, not 1",
                  atomic_load(&failed[PARX__M_QUIT]));
    CHILD_REQUIRE(wait_pids_dead(pids, 2) == 0, "server or worker still running");
    _exit(0);
}

/* A job runs past its 200 ms timeout (times time_scale(): it bounds the
   next job too, the first in a new worker, which took up to 19 ms under
   valgrind; 20 ms failed there); the KILL fails with ENOBUFS (for as
   long as the test says) and waits in the monitor's queue; the job's worker
   then dies on its own (a crash: the job is reported as that). The kill in
   the queue is moot and is dropped, and the queue's count with it: a count
   left at 1 with nothing queued kept the monitor asking poll for POLLOUT on
   a socket with room, which answers at once, so it spun for the rest of
   the pool's life. The count is checked against the queue itself. */
static void case_kill_moot(void)
{
    job_arg *a;
    parx_procs *pp = one_worker_pool(200000000ull * time_scale(), &a);
    a[0].kind = 3;
    a[1].value = 45;
    atomic_store(&fail_left[PARX__M_KILL], 1 << 30);
    parx_ticket t;
    parx_job_result r;
    CHILD_REQUIRE(parx_procs_submit(pp, job, &a[0], &t) == 0, "submit");
    for (int i = 0; i < polls(20000) && atomic_load(&failed[PARX__M_KILL]) == 0; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL); /* polling, with a deadline */
    CHILD_REQUIRE(atomic_load(&failed[PARX__M_KILL]) > 0, "no KILL was tried");
    atomic_store(&a[0].go, 1);
    CHILD_REQUIRE(parx_procs_wait(pp, t, &r) == 0 && r.status == PARX_E_CRASHED &&
                      r.signal == SIGKILL,
                  "crash: %d (%s) signal %d", r.status, parx_strerror(r.status), r.signal);
    atomic_store(&fail_left[PARX__M_KILL], 0);
    CHILD_REQUIRE(parx_procs_submit(pp, job, &a[1], &t) == 0, "submit");
    CHILD_REQUIRE(parx_procs_wait(pp, t, &r) == 0 && r.status == 45, "after: %d", r.status);
    pthread_mutex_lock(&pp->lock);
    uint32_t queued = 0;
    for (int w = 0; w < pp->nworkers; w++)
        queued += ((pp->pending[w] & PARX__P_START) != 0) + ((pp->pending[w] & PARX__P_KILL) != 0);
    uint32_t count = pp->npending;
    pthread_mutex_unlock(&pp->lock);
    CHILD_REQUIRE(count == queued, "the monitor counts %u messages queued, and %u are", count,
                  queued);
    parx_procs_info info;
    CHILD_REQUIRE(parx_procs_stats(pp, &info) == 0 && info.timed_out == 0 && info.crashed == 1,
                  "timed_out %llu crashed %llu", (unsigned long long)info.timed_out,
                  (unsigned long long)info.crashed);
    parx_procs_destroy(pp);
    _exit(0);
}

static void test_start(void) { in_child(case_start); }
static void test_kill_moot(void) { in_child(case_kill_moot); }
static void test_kill(void) { in_child(case_kill); }
static void test_quit(void) { in_child(case_quit); }

int main(void)
{
    pt_plan(4);
    run_guarded("a replacement's START fails with ENOBUFS 3 times: sent later, the pool goes on",
                test_start);
    run_guarded("a timeout's KILL fails with ENOBUFS 3 times: sent later, the job is killed",
                test_kill);
    run_guarded("destroy's QUIT fails with ENOBUFS once: destroy returns, nothing left running",
                test_quit);
    run_guarded("a KILL still queued when its worker dies on its own: dropped, and counted so",
                test_kill_moot);
    return pt_done_testing();
}
