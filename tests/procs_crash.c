/* SPDX-License-Identifier: MIT */
/* tests/procs_crash.c -- crash isolation in the process pool: jobs that
   SIGKILL their worker, segfault, call exit(3), abort, or hang past their
   timeout are each reported precisely and retried as configured, while
   every other job of the same map runs exactly once; a worker killed from
   outside while idle is replaced; a fork server killed from outside breaks
   the pool cleanly (every wait returns, nothing hangs); a kill that comes
   too late is declined without turning timeouts off. In fork and spawn
   mode. Suite 'reliability'. */
#define _GNU_SOURCE
#include "parx.h"
#include "procs_common.h"
#include "seccomp_common.h"

#include <stdbool.h>
#include <sys/syscall.h>

enum { KIND_PLAIN, KIND_KILL, KIND_SEGV, KIND_EXIT, KIND_ABORT, KIND_HANG, KIND_ONCE };

typedef struct crash_arg {
    int kind;
    long in, out;
    _Atomic int runs; /* attempts started, counted by the job itself */
} crash_arg;

static int job_crash(void *p)
{
    crash_arg *a = (crash_arg *)p;
    int run = atomic_fetch_add(&a->runs, 1) + 1;
    switch (a->kind) {
    case KIND_KILL:
        raise(SIGKILL);
        break;
    case KIND_SEGV:
    case KIND_ONCE:
        if (a->kind == KIND_SEGV || run == 1) {
            /* The default action, as in a program without sanitizers (ASan
               would catch the fault and exit(1) instead). */
            signal(SIGSEGV, SIG_DFL);
            *(volatile int *)(uintptr_t)(a->in + 16) = 1; /* in is 0: page 0, a real fault */
        }
        break;
    case KIND_EXIT:
        exit(3);
    case KIND_ABORT:
        abort();
    case KIND_HANG:
        for (;;)
            pause();
    default:
        break;
    }
    a->out = a->in * 3 + 1;
    return 0;
}

typedef struct expect {
    int kind;
    int status, signal, exit_code;
} expect;

/* One map of n jobs with the given special ones spread through it. */
static void crash_set(parx_start mode, int retries, uint64_t timeout_ns, const expect *specials,
                      int ns)
{
    parx_procs *pp = make_pool(mode, 2, retries, timeout_ns);
    REQUIRE(pp);
    parx_arena *a = parx_procs_arena(pp);
    enum { N = 600 };
    crash_arg *args = (crash_arg *)parx_arena_alloc(a, N * sizeof *args, 0);
    REQUIRE(args);
    memset(args, 0, N * sizeof *args);
    void *ptrs[N];
    int special_at[8];
    for (int i = 0; i < N; i++) {
        args[i].kind = KIND_PLAIN;
        args[i].in = i;
        ptrs[i] = &args[i];
    }
    uint64_t want_crashed = 0, want_timed_out = 0, want_retried = 0;
    int want_failed = 0;
    for (int s = 0; s < ns; s++) { /* spread through the map */
        special_at[s] = 37 + s * (N / ns);
        args[special_at[s]].kind = specials[s].kind;
        args[special_at[s]].in = 0;
        bool once = specials[s].kind == KIND_ONCE;
        if (specials[s].kind == KIND_HANG)
            want_timed_out += (uint64_t)retries + 1;
        else
            want_crashed += once ? 1 : (uint64_t)retries + 1;
        want_retried += once ? (retries >= 1) : (uint64_t)retries;
        want_failed += !once || retries == 0;
    }
    parx_job_result r[N];
    CHECK_EQ(parx_procs_map(pp, job_crash, ptrs, N, r), want_failed);

    for (int s = 0; s < ns; s++) {
        int i = special_at[s];
        const expect *e = &specials[s];
        int attempts = e->kind == KIND_ONCE ? (retries >= 1 ? 2 : 1) : retries + 1;
        int status = e->kind == KIND_ONCE && retries == 0 ? PARX_E_CRASHED : e->status;
        CHECK_MSG(r[i].status == status && r[i].signal == e->signal &&
                      r[i].exit_code == e->exit_code && r[i].attempts == attempts &&
                      atomic_load(&args[i].runs) == attempts,
                  "kind %d: status %d (%s) signal %d exit %d attempts %d runs %d; want status %d "
                  "signal %d exit %d attempts %d",
                  e->kind, r[i].status, parx_strerror(r[i].status), r[i].signal, r[i].exit_code,
                  r[i].attempts, atomic_load(&args[i].runs), status, e->signal, e->exit_code,
                  attempts);
    }
    int bad = 0;
    for (int i = 0; i < N; i++) {
        if (args[i].kind != KIND_PLAIN)
            continue;
        if (r[i].status != 0 || r[i].attempts != 1 || atomic_load(&args[i].runs) != 1 ||
            args[i].out != 3L * i + 1) {
            if (bad++ < 5)
                pt_diag("plain job %d: status %d attempts %d runs %d out %ld", i, r[i].status,
                        r[i].attempts, atomic_load(&args[i].runs), args[i].out);
        }
    }
    CHECK_MSG(bad == 0, "%d plain jobs not run exactly once with the right result", bad);

    parx_procs_info info;
    CHECK_EQ(parx_procs_stats(pp, &info), 0);
    CHECK_EQ(info.crashed, want_crashed);
    CHECK_EQ(info.timed_out, want_timed_out);
    CHECK_EQ(info.retried, want_retried);
    uint64_t want_started = 2 + info.crashed + info.timed_out;
    info = wait_started(pp, want_started);
    CHECK_EQ(info.started, want_started);

    /* the pool still serves, with its full complement of live workers */
    crash_arg *one = &args[0];
    one->kind = KIND_PLAIN;
    one->in = 5;
    parx_ticket t;
    REQUIRE(parx_procs_submit(pp, job_crash, one, &t) == 0);
    CHECK_EQ(parx_procs_wait(pp, t, NULL), 0);
    CHECK_EQ(one->out, 16);
    int pids[2];
    CHECK_EQ(parx_procs_pids(pp, pids, 2), 2);
    CHECK(pids[0] > 0 && !pid_dead(pids[0]) && pids[1] > 0 && !pid_dead(pids[1]));
    parx_procs_destroy(pp);
}

/* Crashes in a pool without a timeout (so that slow crashes, as under
   valgrind, are never mistaken for hangs), and the hanging job in a pool of
   its own with a 1 s timeout. */
static void crash_map(parx_start mode, int retries)
{
    const expect crashes[] = {
        {KIND_KILL, PARX_E_CRASHED, SIGKILL, 0},
        {KIND_SEGV, PARX_E_CRASHED, SIGSEGV, 0},
        {KIND_EXIT, PARX_E_EXITED, 0, 3},
        {KIND_ABORT, PARX_E_CRASHED, SIGABRT, 0},
        {KIND_ONCE, 0, SIGSEGV, 0}, /* crashes on its first attempt only */
    };
    const expect hang[] = {{KIND_HANG, -ETIMEDOUT, 0, 0}};
    crash_set(mode, retries, 0, crashes, sizeof crashes / sizeof crashes[0]);
    crash_set(mode, retries, 1000 * 1000000ull, hang, 1);
}

static void test_fork_retries0(void) { crash_map(PARX_START_FORK, 0); }
static void test_fork_retries2(void) { crash_map(PARX_START_FORK, 2); }
static void test_spawn_retries0(void) { crash_map(PARX_START_SPAWN, 0); }
static void test_spawn_retries2(void) { crash_map(PARX_START_SPAWN, 2); }

/* Wait results while a crash happens: a single submit/wait of a crashing job. */
static void test_wait_crash(void)
{
    parx_procs *pp = make_pool(PARX_START_FORK, 1, 1, 0);
    REQUIRE(pp);
    crash_arg *c = (crash_arg *)parx_arena_alloc(parx_procs_arena(pp), sizeof *c, 0);
    REQUIRE(c);
    memset(c, 0, sizeof *c);
    c->kind = KIND_KILL;
    parx_ticket t;
    REQUIRE(parx_procs_submit(pp, job_crash, c, &t) == 0);
    parx_job_result r;
    CHECK_EQ(parx_procs_wait(pp, t, &r), 0);
    CHECK_EQ(r.status, PARX_E_CRASHED);
    CHECK_EQ(r.signal, SIGKILL);
    CHECK_EQ(r.attempts, 2);
    CHECK_EQ(atomic_load(&c->runs), 2);
    parx_procs_destroy(pp);
}

/* An idle worker SIGKILLed from outside is replaced; no job is charged. */
static void idle_kill(parx_start mode)
{
    parx_procs *pp = make_pool(mode, 2, 0, 0);
    REQUIRE(pp);
    int before[2], after[2] = {0, 0};
    REQUIRE(parx_procs_pids(pp, before, 2) == 2);
    kill(before[0], SIGKILL);
    crash_arg *c = (crash_arg *)parx_arena_alloc(parx_procs_arena(pp), 64 * sizeof *c, 0);
    REQUIRE(c);
    memset(c, 0, 64 * sizeof *c);
    void *ptrs[64];
    parx_job_result r[64];
    /* until the replacement shows up (bounded), keep the pool busy */
    for (int round = 0; round < 2000; round++) {
        for (int i = 0; i < 64; i++) {
            c[i].in = i;
            ptrs[i] = &c[i];
        }
        CHECK_EQ(parx_procs_map(pp, job_crash, ptrs, 64, r), 0);
        parx_procs_pids(pp, after, 2);
        if (after[0] > 0 && after[0] != before[0])
            break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    CHECK_MSG(after[0] > 0 && after[0] != before[0], "worker 0 was not replaced (%d -> %d)",
              before[0], after[0]);
    CHECK_EQ(after[1], before[1]);
    parx_procs_info info = wait_started(pp, 3);
    CHECK_EQ(info.started, 3);
    CHECK_EQ(info.crashed, 0);
    parx_procs_destroy(pp);
    CHECK_EQ(wait_pids_dead(after, 2), 0);
}

static void test_idle_kill_fork(void) { idle_kill(PARX_START_FORK); }
static void test_idle_kill_spawn(void) { idle_kill(PARX_START_SPAWN); }

/* The fork server killed from outside: workers follow it, and the pool says
   so on every call instead of hanging. */
static void server_kill(parx_start mode)
{
    parx_procs *pp = make_pool(mode, 2, 3, 0);
    REQUIRE(pp);
    crash_arg *c = (crash_arg *)parx_arena_alloc(parx_procs_arena(pp), 2 * sizeof *c, 0);
    REQUIRE(c);
    memset(c, 0, 2 * sizeof *c);
    c[0].kind = KIND_HANG; /* still running when the server dies */
    parx_ticket t;
    REQUIRE(parx_procs_submit(pp, job_crash, &c[0], &t) == 0);
    while (atomic_load(&c[0].runs) == 0) /* bounded by the test timeout */
        sched_yield();
    parx_procs_info info;
    parx_procs_stats(pp, &info);
    int pids[3];
    parx_procs_pids(pp, pids, 2);
    pids[2] = info.server_pid;
    kill(info.server_pid, SIGKILL);
    parx_job_result r;
    CHECK_EQ(parx_procs_wait(pp, t, &r), 0);
    CHECK_EQ(r.status, PARX_E_PROCS_BROKEN);
    /* a running job fails only once its worker is dead (or it could still
       finish after its waiter moved on): dead now, not some time later */
    CHECK(pid_dead(pids[0]) && pid_dead(pids[1]));
    CHECK_EQ(parx_procs_submit(pp, job_crash, &c[1], &t), PARX_E_PROCS_BROKEN);
    void *ptrs[2] = {&c[1], &c[1]};
    parx_job_result rs[2];
    CHECK_EQ(parx_procs_map(pp, job_crash, ptrs, 2, rs), 2);
    CHECK_EQ(rs[0].status, PARX_E_PROCS_BROKEN);
    CHECK_EQ(wait_pids_dead(pids, 3), 0);
    parx_procs_destroy(pp);
}

static void test_server_kill_fork(void) { server_kill(PARX_START_FORK); }
static void test_server_kill_spawn(void) { server_kill(PARX_START_SPAWN); }

/* The same without pidfds (Linux before 5.3; refused here by a seccomp
   filter in a child): the pool sees the server's death by its socket, and
   waits for the workers by looking at them, not on a pidfd (it did not
   wait at all). Exit codes say what went wrong; 99: no filter here. */
static void test_server_kill_no_pidfd(void)
{
    pid_t child = xfork();
    REQUIRE(child >= 0);
    if (child == 0) {
        int rc = refuse_syscall(SYS_pidfd_open, ENOSYS);
        if (rc == -ENOTSUP)
            _exit(99);
        if (rc != 0)
            _exit(40);
        parx_procs *pp = parx_procs_create(
            &(parx_procs_desc){.workers = 2, .retries = 3, .arena_bytes = 4u << 20});
        if (!pp)
            _exit(41);
        crash_arg *c = (crash_arg *)parx_arena_alloc(parx_procs_arena(pp), sizeof *c, 0);
        if (!c)
            _exit(42);
        memset(c, 0, sizeof *c);
        c->kind = KIND_HANG;
        parx_ticket t;
        if (parx_procs_submit(pp, job_crash, c, &t) != 0)
            _exit(43);
        for (int i = 0; i < polls(10000) && atomic_load(&c->runs) == 0; i++)
            nanosleep(&(struct timespec){0, 1000000}, NULL);
        parx_procs_info info;
        int pids[2];
        if (atomic_load(&c->runs) == 0 || parx_procs_stats(pp, &info) != 0 ||
            parx_procs_pids(pp, pids, 2) != 2)
            _exit(44);
        kill(info.server_pid, SIGKILL);
        parx_job_result r;
        if (parx_procs_wait(pp, t, &r) != 0 || r.status != PARX_E_PROCS_BROKEN)
            _exit(45);
        if (!pid_dead(pids[0]) || !pid_dead(pids[1]))
            _exit(46); /* the job was failed while its worker could still run */
        parx_procs_destroy(pp);
        _exit(0);
    }
    int st;
    REQUIRE(waitpid(child, &st, 0) == child);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 99)
        PT_SKIP("no seccomp filter for this architecture in the tests");
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s %d",
              WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

static int job_sleep(void *p)
{
    uint64_t ns = *(const uint64_t *)p;
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0) {
    }
    return 7;
}

/* A kill the server declines (the job that overran finished between the
   monitor's decision and the server's check) must not end timeouts on that
   worker: each round, a job that sleeps just past the 4 ms timeout (killed
   or not, as the race goes), then one of 10 s that must be killed (a lost
   timeout lets it finish). It was 200 ms, and one CI run under valgrind,
   in a slow spell of the VM (every test there took about 4x its time),
   saw one finish unkilled after 209.8 ms. The
   monitor heard nothing of a declined kill and skipped the worker for good
   (found by review: within 4-50 rounds). Fork mode: the monitor's logic is
   the same in both, and replacements are cheaper to start (valgrind). */
static void test_declined_kill(void)
{
    const uint64_t timeout = 4000000;
    parx_procs *pp = make_pool(PARX_START_FORK, 1, 0, timeout);
    REQUIRE(pp);
    uint64_t *ns = (uint64_t *)parx_arena_alloc(parx_procs_arena(pp), 2 * sizeof *ns, 0);
    REQUIRE(ns);
    uint64_t seed = 12345, killed = 0;
    int bad = 0;
    enum { ROUNDS = 150 };
    for (int i = 0; i < ROUNDS && bad == 0; i++) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        ns[0] = timeout + (seed >> 33) % 1500000;
        ns[1] = 10000000000u;
        parx_ticket t0, t1;
        parx_job_result r0, r1;
        REQUIRE(parx_procs_submit(pp, job_sleep, &ns[0], &t0) == 0);
        REQUIRE(parx_procs_submit(pp, job_sleep, &ns[1], &t1) == 0);
        REQUIRE(parx_procs_wait(pp, t0, &r0) == 0 && parx_procs_wait(pp, t1, &r1) == 0);
        if (r0.status != 7 && r0.status != -ETIMEDOUT) {
            bad++;
            pt_diag("round %d: the near-timeout job gave %d (%s)", i, r0.status,
                    parx_strerror(r0.status));
        }
        if (r1.status != -ETIMEDOUT) {
            bad++;
            pt_diag("round %d: a 10 s job under a 4 ms timeout gave %d (%s) after %.1f ms", i,
                    r1.status, parx_strerror(r1.status), (double)r1.run_ns / 1e6);
        }
        killed += r0.status == -ETIMEDOUT;
    }
    CHECK_MSG(bad == 0, "timeouts lost");
    pt_diag("near-timeout jobs killed: %llu of %d", (unsigned long long)killed, ROUNDS);
    parx_procs_destroy(pp);
}

typedef struct exit_once_arg {
    _Atomic int runs;
} exit_once_arg;

static int job_exit_once(void *p)
{
    exit_once_arg *a = (exit_once_arg *)p;
    if (atomic_fetch_add(&a->runs, 1) == 0)
        _exit(3);
    return 5;
}

/* A worker that dies on its own while a timeout kill for its previous job is
   on its way: its job is reported as what it did (exit 3), not taken for
   our kill's collateral and run again uncharged (found by review: 19 of
   3000 rounds by chance). Made certain with the fork server stopped: the
   monitor's KILL for job A waits in the socket while A finishes and B,
   next on the same worker, exits; the server, continued, reaps B first and
   only then reads the KILL, which it declines. */
static void test_death_during_kill(void)
{
    parx_procs *pp = make_pool(PARX_START_FORK, 1, 0, 20000000); /* 20 ms timeout */
    REQUIRE(pp);
    uint64_t *ns = (uint64_t *)parx_arena_alloc(parx_procs_arena(pp), sizeof *ns, 0);
    exit_once_arg *b = (exit_once_arg *)parx_arena_alloc(parx_procs_arena(pp), sizeof *b, 0);
    REQUIRE(ns && b);
    *ns = 300000000; /* 300 ms: far past the timeout, while the server cannot kill */
    atomic_init(&b->runs, 0);
    parx_procs_info info;
    int pid;
    REQUIRE(parx_procs_stats(pp, &info) == 0 && parx_procs_pids(pp, &pid, 1) == 1);
    REQUIRE(kill(info.server_pid, SIGSTOP) == 0);
    parx_ticket ta, tb;
    REQUIRE(parx_procs_submit(pp, job_sleep, ns, &ta) == 0);
    REQUIRE(parx_procs_submit(pp, job_exit_once, b, &tb) == 0);
    /* until B has ended its worker (a zombie: its reaper is stopped) */
    for (int i = 0; i < polls(10000) && !pid_dead(pid); i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    CHECK_MSG(pid_dead(pid), "the worker did not exit");
    REQUIRE(kill(info.server_pid, SIGCONT) == 0);
    parx_job_result ra, rb;
    REQUIRE(parx_procs_wait(pp, ta, &ra) == 0 && parx_procs_wait(pp, tb, &rb) == 0);
    CHECK_MSG(ra.status == 7, "A (finished before any kill could land): %d (%s)", ra.status,
              parx_strerror(ra.status));
    CHECK_MSG(rb.status == PARX_E_EXITED && rb.exit_code == 3 && rb.attempts == 1 &&
                  atomic_load(&b->runs) == 1,
              "B (exited on its own): status %d (%s) exit %d attempts %d runs %d", rb.status,
              parx_strerror(rb.status), rb.exit_code, rb.attempts, atomic_load(&b->runs));
    CHECK_EQ(parx_procs_stats(pp, &info), 0);
    CHECK_EQ(info.crashed, 1);
    CHECK_EQ(info.timed_out, 0);
    parx_procs_destroy(pp);
}

/* The stale-pid case below, in a pid namespace of its own whose init reaps
   the orphans: returns 0 when it went as it must, else a code that says
   where it did not. */
static int job_nothing(void *p)
{
    (void)p;
    return 0;
}

static int stale_pid_case(void)
{
    /* a destroy that waits for the program's child hangs: SIGALRM ends us */
    alarm(20 * time_scale());
    parx_procs *a = parx_procs_create(
        &(parx_procs_desc){.workers = 1, .start = PARX_START_FORK, .arena_bytes = 4u << 20});
    if (!a)
        return 10;
    int wpid = 0, rc = 0;
    parx_procs_info info;
    if (parx_procs_pids(a, &wpid, 1) != 1 || parx_procs_stats(a, &info) != 0)
        return 11;
    kill(info.server_pid, SIGKILL);
    for (int i = 0; i < polls(5000) && rc == 0; i++) { /* until the pool knows (bounded) */
        parx_ticket t;
        rc = parx_procs_submit(a, job_nothing, NULL, &t);
        if (rc == 0)
            parx_procs_wait(a, t, NULL);
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    if (rc != PARX_E_PROCS_BROKEN)
        return 12;
    /* until the pool is done with the server's death: its workers' pids
       forgotten (0), before one is handed to our child below */
    int seen = -1;
    for (int i = 0; i < polls(10000) && seen != 0; i++) {
        if (parx_procs_pids(a, &seen, 1) != 1)
            return 18;
        if (seen != 0)
            nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    if (seen != 0)
        return 18;
    for (int i = 0; i < polls(5000) && kill(wpid, 0) == 0; i++) /* reaped by our init */
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    if (kill(wpid, 0) == 0)
        return 13;
    if (!next_pid_is(wpid))
        return 14;
    int p[2];
    if (pipe(p) != 0)
        return 15;
    pid_t child = fork();
    if (child == 0) { /* the program's own child: ends once the program says so */
        char c;
        close(p[1]);
        /* exit_group itself: TSan's _exit would report the pool's monitor
           thread, which fork left behind, and change the status */
        syscall(SYS_exit_group, read(p[0], &c, 1) == 0 ? 42 : 1);
    }
    close(p[0]);
    if (child != wpid)
        return 16;
    parx_procs_destroy(a); /* waited for `child` (its pid was the worker's), for ever */
    close(p[1]);
    int st = 0;
    pid_t r = waitpid(child, &st, 0);
    return r == child && WIFEXITED(st) && WEXITSTATUS(st) == 42 ? 0 : 17;
}

/* After its fork server died (killed), a pool must forget its workers'
   pids, which the kernel may hand to other processes: destroy waited for
   each one that was, by then, a child of the caller -- a child of the
   program's own (destroy blocked until it ended, and took its exit status)
   or another pool's fork server (found in review). Played in a pid
   namespace of its own, where ns_last_pid gives the dead worker's pid to
   the program's next child. Skipped where such a namespace cannot be made
   (it needs CAP_SYS_ADMIN). */
static void test_stale_worker_pid(void)
{
    int code = in_pid_namespace(stale_pid_case);
    if (code == 100) PT_SKIP("no pid and mount namespace of our own here (needs CAP_SYS_ADMIN)");
    CHECK_MSG(code == 0,
              "code %d (10-18: the step that failed; %d: SIGALRM, destroy hung on the program's "
              "child)",
              code, 128 + SIGALRM);
}

int main(void)
{
    pt_plan(13);
    run_guarded("fork mode, no retries: kill, segv, exit(3), abort, hang reported; others once",
                test_fork_retries0);
    run_guarded("fork mode, 2 retries: each failure tried 3 times; a crash-once job recovers",
                test_fork_retries2);
    run_guarded("spawn mode, no retries: kill, segv, exit(3), abort, hang reported; others once",
                test_spawn_retries0);
    run_guarded("spawn mode, 2 retries: each failure tried 3 times; a crash-once job recovers",
                test_spawn_retries2);
    run_guarded("wait on a job whose worker is SIGKILLed: crashed, retried once", test_wait_crash);
    run_guarded("fork mode: an idle worker killed from outside is replaced", test_idle_kill_fork);
    run_guarded("spawn mode: an idle worker killed from outside is replaced", test_idle_kill_spawn);
    run_guarded("fork mode: the fork server killed: PARX_E_PROCS_BROKEN everywhere, no survivors",
                test_server_kill_fork);
    run_guarded("spawn mode: the fork server killed: PARX_E_PROCS_BROKEN everywhere, no survivors",
                test_server_kill_spawn);
    run_guarded("a kill the server declines (the job finished first) leaves timeouts on",
                test_declined_kill);
    run_guarded("a worker that exits on its own while our kill is on its way: its own status",
                test_death_during_kill);
    run_guarded("without pidfds: the fork server killed, workers dead before jobs fail",
                test_server_kill_no_pidfd);
    run_guarded("the fork server killed: its workers' pids are forgotten, not waited for later",
                test_stale_worker_pid);
    return pt_done_testing();
}
