/* SPDX-License-Identifier: MIT */
/* tests/signals.c -- bounded waits in a program whose signals never stop.
   A handler installed without SA_RESTART, and a timer that fires every few
   tens of microseconds, interrupt every blocking call; a wait that starts
   its whole timeout again after each EINTR then never ends (found in
   review):
   - the pause after 8 EINTRs in a row on io_uring, a relative nanosleep
     resumed with its remainder, which counts the timer slack (50 us) in,
     so that under signals every 20-50 us it only grew: the prefetcher's
     and the writer's waits hung;
   - parx_procs_create's wait for its server (30 s), a poll restarted with
     its full timeout on each EINTR, so it never timed out.
   Each case runs in a child under the storm, given a deadline: a child
   that has not returned by then is killed and the case fails. This unit
   implements parx itself to reach the waits directly. */
#define _GNU_SOURCE
#define PARX_IMPLEMENTATION
#include "parx.h"
#include "io_common.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

static volatile sig_atomic_t storm_hits;
static void on_storm(int sig)
{
    (void)sig;
    storm_hits++;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Runs fn in a child that takes SIGALRM every `us` microseconds (a handler
   without SA_RESTART) and gives it `secs` to return, both times the time
   scale (under valgrind, which runs every step many times slower, signals
   at the native rate would leave the program no time between them).
   Returns fn's code (0: passed), or -1 if it had not returned by then (the
   child is killed). */
static int in_storm(int (*fn)(void), long us, int secs)
{
    pid_t c = xfork();
    if (c < 0) return -2;
    if (c == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_storm;
        sigaction(SIGALRM, &sa, NULL);
        us *= (long)time_scale();
        struct itimerval it = {{us / 1000000, us % 1000000}, {us / 1000000, us % 1000000}};
        setitimer(ITIMER_REAL, &it, NULL);
        int rc = fn();
        setitimer(ITIMER_REAL, &(struct itimerval){{0, 0}, {0, 0}}, NULL);
        _exit(rc == 0 && storm_hits == 0 ? 90 : rc); /* 90: no signal came */
    }
    double end = now_s() + (double)secs * time_scale();
    int st = 0;
    pid_t r;
    while ((r = waitpid(c, &st, WNOHANG)) == 0 && now_s() < end)
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    if (r == 0) {
        kill(c, SIGKILL);
        wait_status(c);
        return -1;
    }
    return r == c && WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

#define CHECK_STORM(rc)                                                                       \
    CHECK_MSG((rc) == 0, "%s", (rc) == -1 ? "it never returned under the signals (killed)"    \
                               : (rc) == 90 ? "no signal reached it: nothing was tested"       \
                                            : "it returned, but wrong (child code above 0)")

#ifndef PARX_NO_URING
/* ===== the pause after EINTRs (prefetcher and writer) ======================= */

/* parx__io_backoff(10): a pause of 10.24 ms, which must end, and not before
   its time, while SIGALRM comes every 20 us. */
static int backoff_under_storm(void)
{
    double t0 = now_s();
    parx__io_backoff(10);
    return now_s() - t0 >= 0.010 ? 0 : 3;
}

static void test_backoff(void)
{
    int rc = in_storm(backoff_under_storm, 20, 10);
    CHECK_STORM(rc);
}

/* The whole path: an O_DIRECT prefetch on io_uring under SIGALRM every
   40 us, whose consumer meets enough EINTRs to pause; every byte right. */
static int prefetch_under_storm(void)
{
    const char *path = io_path("storm.dat");
    const uint64_t size = 8u << 20;
    if (!io_make_file(path, size, 7)) return 4;
    const char *paths[1] = {path};
    for (int pass = 0; pass < 3; pass++) {
        int err = 0;
        parx_prefetch *pf = parx_prefetch_open(
            &(parx_prefetch_desc){.paths = paths, .npaths = 1, .chunk_size = 64 << 10,
                                  .depth = 8, .direct = true, .backend = PARX_IO_URING},
            &err);
        if (!pf) return 5;
        uint32_t seeds[1] = {7};
        uint64_t expect[1] = {0};
        io_result r = io_drain(pf, seeds, expect);
        parx_prefetch_close(pf);
        if (r.rc != 0 || r.bad || r.bytes != size) return 6;
    }
    return 0;
}

static void test_prefetch(void)
{
    int err = 0;
    const char *path = io_path("probe.dat");
    REQUIRE(io_make_file(path, 4096, 1));
    const char *paths[1] = {path};
    parx_prefetch *pf = parx_prefetch_open(
        &(parx_prefetch_desc){.paths = paths, .npaths = 1, .backend = PARX_IO_URING}, &err);
    const char *why = NULL;
    int on_uring = pf && parx_prefetch_backend(pf, &why) == PARX_IO_URING;
    parx_prefetch_close(pf);
    unlink(path);
    if (!on_uring) PT_SKIP("io_uring refused here: %s", pf ? why : parx_strerror(err));
    /* valgrind delivers a few hundred signals a second at most, each at
       great cost: a storm at any rate that tests this leaves no time for
       the prefetcher between them (the waits themselves are checked
       under valgrind by the other cases) */
    if (under_valgrind()) PT_SKIP("under valgrind a signal storm starves the program");
    int rc = in_storm(prefetch_under_storm, 40, 60);
    CHECK_STORM(rc);
}
#endif

#ifndef PARX_NO_PROC
/* ===== the process pool's bounded waits ===================================== */

/* parx__procs_recv from a peer that never writes: -ETIMEDOUT after its
   200 ms in all, while SIGALRM comes every millisecond. (parx_procs_create
   waits so for its server, for 30 s.) */
static int recv_under_storm(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return 4;
    parx__pmsg m;
    double t0 = now_s();
    int rc = parx__procs_recv(sv[0], &m, 200);
    double dt = now_s() - t0;
    close(sv[0]);
    close(sv[1]);
    return rc == -ETIMEDOUT && dt >= 0.2 ? 0 : 3;
}

static void test_procs_recv(void)
{
    int rc = in_storm(recv_under_storm, 1000, 20);
    CHECK_STORM(rc);
}

/* parx__poll_for itself, on a pipe no one writes, at 20 us. */
static int poll_under_storm(void)
{
    int p[2];
    if (pipe(p) != 0) return 4;
    struct pollfd pfd = {p[0], POLLIN, 0};
    double t0 = now_s();
    int rc = parx__poll_for(&pfd, 1, 100);
    double dt = now_s() - t0;
    close(p[0]);
    close(p[1]);
    return rc == 0 && dt >= 0.1 ? 0 : 3;
}

static void test_poll_for(void)
{
    int rc = in_storm(poll_under_storm, 20, 20);
    CHECK_STORM(rc);
}
#endif

int main(void)
{
    io_dir("signals");
#ifndef PARX_NO_URING
    run_guarded("io backoff: a 10 ms pause ends, and not early, under SIGALRM every 20 us",
                test_backoff);
    run_guarded("prefetch on io_uring (O_DIRECT) under SIGALRM every 40 us: every byte, no hang",
                test_prefetch);
#else
    pt_skip("io backoff under a signal storm", "built with PARX_NO_URING");
    pt_skip("prefetch on io_uring under a signal storm", "built with PARX_NO_URING");
#endif
#ifndef PARX_NO_PROC
    run_guarded("procs: a 200 ms wait for a message times out under SIGALRM every 1 ms",
                test_procs_recv);
    run_guarded("procs: poll's timeout is kept across EINTR, under SIGALRM every 20 us",
                test_poll_for);
#else
    pt_skip("procs waits under a signal storm", "built with PARX_NO_PROC");
    pt_skip("procs poll under a signal storm", "built with PARX_NO_PROC");
#endif
    io_dir_remove();
    return pt_done_testing();
}
