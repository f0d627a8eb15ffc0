/* SPDX-License-Identifier: MIT */
/* tests/procs_misbehave.c -- jobs that misbehave the way real scientific
   code does, in fork and spawn mode, each case in a child under alarm():
   a job that forks a child which returns from the job function too; one
   that closes every descriptor it did not open and dup2s over 0..2; one
   that installs handlers and blocks every signal; _exit(0), pthread_exit
   from the worker's main thread, exit() from an atexit handler; threads
   left running, one that crashes after its job returned; descriptors
   exhausted; setsid/setpgid; system()/popen(); a job that calls
   parx_procs_* on its own pool; a job that always crashes with many
   retries; destroy while jobs crash; a fork()ed child of the caller that
   destroys its copy of the pool; a job that makes a pool of its own; a
   caller with signal handlers, whose fork server must not run them (a
   stray SIGUSR1 ran the program's handler in the server) while its
   workers keep them. Each is reported as documented, the pool keeps
   serving, and nothing is left behind. Suite 'reliability'. */
#define _GNU_SOURCE
#include "parx.h"
#include "procs_common.h"

#include <pthread.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

enum {
    K_PLAIN,
    K_SLEEP,        /* sleep ms, return val */
    K_FORK_RETURN,  /* fork; the child sleeps ms and returns 99 from the job too */
    K_CLOSE_ALL,    /* close_range(3, ~0U) and /dev/null over 0, 1, 2 */
    K_SIGNALS,      /* handlers for SIGTERM, SIGCHLD, SIGALRM; every signal blocked */
    K_SEGV,         /* a real fault */
    K_HANG,         /* forever (until the timeout) */
    K_UNDERSCORE_EXIT, /* _exit(0) */
    K_PTHREAD_EXIT, /* pthread_exit from the worker's only thread */
    K_PTHREAD_EXIT_THREADED, /* a thread left sleeping, then pthread_exit */
    K_ATEXIT_EXIT,  /* an atexit handler that exit(7)s, then exit(3) */
    K_THREAD_LIVES, /* a thread left running (sleeping) */
    K_THREAD_CRASH, /* a thread that crashes ms after the job returned */
    K_FDS,          /* open descriptors until EMFILE, keep them */
    K_SETSID,       /* setsid() */
    K_SETPGID,      /* setpgid(0, 0) */
    K_SYSTEM,       /* system("exit 3") and popen("echo hi") */
    K_KILLSELF,     /* raise(SIGKILL) */
    K_OWN_POOL,     /* parx_procs_submit, _wait, _map, _destroy on its own pool */
    K_NESTED,       /* a pool of its own (the same mode), 3 jobs in it */
    K_USR1,         /* the caller's SIGUSR1 handler is there: raise it; out = getpid() */
};

typedef struct job_arg {
    int kind;
    int ms;
    int val;
    int out;
    int child; /* K_FORK_RETURN: the child's pid */
    _Atomic int runs;
    parx_procs *pool; /* K_OWN_POOL: the caller's handle */
    int rc[4];        /* K_OWN_POOL: what each call returned */
} job_arg;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void on_signal(int sig) { (void)sig; }

static void atexit_exit7(void) { exit(7); }

/* Where on_usr1 ran: pids, in a page every process of the test shares. */
enum { USR1_MAX = 64 };
typedef struct usr1_log {
    _Atomic int n;
    _Atomic int pid[USR1_MAX];
} usr1_log;
static usr1_log *usr1;

static void on_usr1(int sig)
{
    (void)sig;
    int i = atomic_fetch_add(&usr1->n, 1);
    if (i < USR1_MAX)
        atomic_store(&usr1->pid[i], (int)getpid());
}

static void *thread_sleep(void *p)
{
    (void)p;
    sleep_ms(60000);
    return NULL;
}

static void *thread_crash(void *p)
{
    sleep_ms((int)(intptr_t)p);
    signal(SIGSEGV, SIG_DFL); /* the default action, with or without sanitizers */
    raise(SIGSEGV);
    return NULL;
}

static int job_plain(void *p)
{
    job_arg *a = (job_arg *)p;
    a->out = a->val + 1;
    return 0;
}

static int job(void *p)
{
    job_arg *a = (job_arg *)p;
    atomic_fetch_add(&a->runs, 1);
    switch (a->kind) {
    case K_SLEEP:
        sleep_ms(a->ms);
        return a->val;
    case K_FORK_RETURN: {
        pid_t c = fork();
        if (c == 0) {
            sleep_ms(a->ms);
            return 99; /* the classic mistake: the child returns into the worker's loop */
        }
        a->child = (int)c;
        return c > 0 ? 0 : -errno;
    }
    case K_CLOSE_ALL: {
        if (syscall(SYS_close_range, 3u, ~0u, 0u) != 0) {
            for (int fd = 3; fd < 65536; fd++)
                close(fd);
        }
        int fd = open("/dev/null", O_RDWR);
        if (fd < 0)
            return -errno;
        for (int i = 0; i < 3; i++)
            dup2(fd, i);
        if (fd > 2)
            close(fd);
        return 0;
    }
    case K_SIGNALS: {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGCHLD, &sa, NULL);
        sigaction(SIGALRM, &sa, NULL);
        sigset_t all;
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, NULL);
        return 0;
    }
    case K_SEGV:
        signal(SIGSEGV, SIG_DFL);
        raise(SIGSEGV);
        return -1;
    case K_HANG:
        for (;;)
            sleep_ms(1000);
    case K_UNDERSCORE_EXIT:
        _exit(0);
    case K_PTHREAD_EXIT:
        pthread_exit(NULL);
    case K_PTHREAD_EXIT_THREADED: {
        /* the worker's main thread leaves, another stays: the process lives
           on without anyone to report the job (once a hang for ever) */
        pthread_t th;
        int rc = pthread_create(&th, NULL, thread_sleep, NULL);
        if (rc != 0)
            return -rc;
        pthread_exit(NULL);
    }
    case K_ATEXIT_EXIT:
        atexit(atexit_exit7);
        exit(3);
    case K_THREAD_LIVES:
    case K_THREAD_CRASH: {
        pthread_t th;
        int rc = pthread_create(&th, NULL, a->kind == K_THREAD_LIVES ? thread_sleep : thread_crash,
                                (void *)(intptr_t)a->ms);
        if (rc != 0)
            return -rc;
        pthread_detach(th);
        return 0;
    }
    case K_FDS: {
        int n = 0;
        while (open("/dev/null", O_RDONLY) >= 0)
            n++;
        a->out = n;
        return errno == EMFILE ? 0 : -errno;
    }
    case K_SETSID:
        return setsid() < 0 ? -errno : 0;
    case K_SETPGID:
        return setpgid(0, 0) < 0 ? -errno : 0;
    case K_SYSTEM: {
        int st = system("exit 3");
        if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 3)
            return -100;
        FILE *f = popen("echo hi", "r");
        if (!f)
            return -101;
        char buf[16] = {0};
        char *got = fgets(buf, sizeof buf, f);
        int pst = pclose(f);
        return got && strcmp(buf, "hi\n") == 0 && pst == 0 ? 0 : -102;
    }
    case K_KILLSELF:
        raise(SIGKILL);
        return -1;
    case K_OWN_POOL: {
        parx_ticket t = 0;
        parx_job_result r;
        void *one[1] = {NULL};
        a->rc[0] = parx_procs_submit(a->pool, job_plain, NULL, &t);
        a->rc[1] = parx_procs_wait(a->pool, t, &r);
        a->rc[2] = parx_procs_map(a->pool, job_plain, one, 1, &r);
        parx_procs_destroy(a->pool); /* must leave the pool alone */
        a->rc[3] = parx_procs_submit(a->pool, job_plain, NULL, &t);
        return 0;
    }
    case K_NESTED: {
        /* a pool of the job's own: every one of its jobs runs once, in a
           worker that stays (nested workers once ended after their first
           job: they took themselves for a job's forked child) */
        parx_procs *in = parx_procs_create(
            &(parx_procs_desc){.workers = 1, .start = (parx_start)a->val});
        if (!in)
            return -200;
        int bad = 0;
        for (int i = 0; i < 3; i++) {
            job_arg *b = (job_arg *)parx_arena_alloc(parx_procs_arena(in), sizeof *b, 0);
            parx_ticket t;
            parx_job_result r;
            if (!b)
                return -201;
            memset(b, 0, sizeof *b);
            b->val = i;
            if (parx_procs_submit(in, job_plain, b, &t) != 0 || parx_procs_wait(in, t, &r) != 0)
                return -202;
            bad += r.status != 0 || r.attempts != 1 || b->out != i + 1;
        }
        parx_procs_destroy(in);
        return bad ? -203 - bad : 0;
    }
    case K_USR1: {
        struct sigaction sa;
        if (sigaction(SIGUSR1, NULL, &sa) != 0 || sa.sa_handler != on_usr1)
            return -300;
        a->out = (int)getpid();
        raise(SIGUSR1);
        return 0;
    }
    default:
        a->out = a->val + 1;
        return 0;
    }
}

static job_arg *new_arg(parx_procs *pp, int kind, int ms, int val)
{
    job_arg *a = (job_arg *)parx_arena_alloc(parx_procs_arena(pp), sizeof *a, 0);
    if (a) {
        memset(a, 0, sizeof *a);
        a->kind = kind;
        a->ms = ms;
        a->val = val;
    }
    return a;
}

/* Submit one job and wait for it. */
static parx_job_result run1(parx_procs *pp, job_arg *a)
{
    parx_job_result r;
    memset(&r, 0, sizeof r);
    r.status = -12345;
    parx_ticket t;
    int rc = parx_procs_submit(pp, job, a, &t);
    CHECK_MSG(rc == 0, "submit: %s", parx_strerror(rc));
    if (rc == 0)
        CHECK_EQ(parx_procs_wait(pp, t, &r), 0);
    return r;
}

/* A plain job still runs once and right. */
static void check_serves(parx_procs *pp)
{
    for (int i = 0; i < 4; i++) {
        job_arg *a = new_arg(pp, K_PLAIN, 0, 40 + i);
        REQUIRE(a);
        parx_job_result r = run1(pp, a);
        CHECK_EQ(r.status, 0);
        CHECK_EQ(r.attempts, 1);
        CHECK_EQ(a->out, 41 + i);
        CHECK_EQ(atomic_load(&a->runs), 1);
    }
}

/* Destroy, and every worker the pool had is gone. */
static void destroy_all_gone(parx_procs *pp)
{
    int pids[8] = {0};
    int n = parx_procs_pids(pp, pids, 8);
    parx_procs_info info;
    parx_procs_stats(pp, &info);
    parx_procs_destroy(pp);
    CHECK_EQ(wait_pids_dead(pids, n < 8 ? n : 8), 0);
    CHECK(pid_dead(info.server_pid));
}

static parx_start g_mode;

/* The end of a case in its child: exit 0 when every check held. */
static void child_end(void) { _exit(atomic_load(&pt__cur_failed) ? 1 : 0); }

/* ---- a child of a job that returns from the job function ---------------- */

static void case_fork_return(void)
{
    parx_procs *pp = make_pool(g_mode, 1, 0, 0);
    REQUIRE(pp);
    job_arg *a = new_arg(pp, K_FORK_RETURN, 200, 0);
    REQUIRE(a);
    parx_job_result r = run1(pp, a);
    CHECK_EQ(r.status, 0);
    CHECK(a->child > 0);
    /* the next job takes the same slot; the stray child's "result" must not be its */
    job_arg *b = new_arg(pp, K_SLEEP, 600, 5);
    REQUIRE(b);
    r = run1(pp, b);
    CHECK_MSG(r.status == 5 && r.attempts == 1 && atomic_load(&b->runs) == 1,
              "the job after the fork: status %d attempts %d runs %d (want 5, 1, 1)", r.status,
              r.attempts, atomic_load(&b->runs));
    check_serves(pp);
    /* the stray child ran no job and is gone */
    int child = a->child;
    destroy_all_gone(pp);
    CHECK_MSG(wait_pids_dead(&child, 1) == 0, "the job's child %d still runs after destroy",
              child);
    if (!pid_dead(child))
        kill(child, SIGKILL);
    child_end();
}

/* ---- a job that makes a pool of its own ------------------------------------ */

static void case_nested(void)
{
    parx_procs *pp = make_pool(g_mode, 1, 0, 0);
    REQUIRE(pp);
    for (int k = 0; k < 2; k++) {
        parx_job_result r = run1(pp, new_arg(pp, K_NESTED, 0, (int)g_mode));
        CHECK_MSG(r.status == 0 && r.attempts == 1, "nested pool, round %d: status %d (%s)", k,
                  r.status, parx_strerror(r.status));
    }
    check_serves(pp);
    destroy_all_gone(pp);
    child_end();
}

/* ---- descriptors and signals --------------------------------------------- */

static void case_close_all(void)
{
    parx_procs *pp = make_pool(g_mode, 1, 0, 300 * 1000000ull * time_scale());
    REQUIRE(pp);
    job_arg *a = new_arg(pp, K_CLOSE_ALL, 0, 0);
    REQUIRE(a);
    CHECK_EQ(run1(pp, a).status, 0);
    check_serves(pp);
    parx_job_result r = run1(pp, new_arg(pp, K_SEGV, 0, 0));
    CHECK_EQ(r.status, PARX_E_CRASHED);
    CHECK_EQ(r.signal, SIGSEGV);
    CHECK_EQ(run1(pp, new_arg(pp, K_CLOSE_ALL, 0, 0)).status, 0);
    r = run1(pp, new_arg(pp, K_HANG, 0, 0));
    CHECK_EQ(r.status, -ETIMEDOUT);
    check_serves(pp);
    destroy_all_gone(pp);
    child_end();
}

static void case_signals(void)
{
    parx_procs *pp = make_pool(g_mode, 1, 0, 300 * 1000000ull * time_scale());
    REQUIRE(pp);
    CHECK_EQ(run1(pp, new_arg(pp, K_SIGNALS, 0, 0)).status, 0);
    check_serves(pp);
    parx_job_result r = run1(pp, new_arg(pp, K_HANG, 0, 0));
    CHECK_EQ(r.status, -ETIMEDOUT);
    CHECK_EQ(run1(pp, new_arg(pp, K_SIGNALS, 0, 0)).status, 0);
    r = run1(pp, new_arg(pp, K_KILLSELF, 0, 0));
    CHECK_EQ(r.status, PARX_E_CRASHED);
    CHECK_EQ(r.signal, SIGKILL);
    CHECK_EQ(run1(pp, new_arg(pp, K_SIGNALS, 0, 0)).status, 0);
    destroy_all_gone(pp); /* destroy with a worker that blocks every signal */
    child_end();
}

/* ---- ways to end a worker ------------------------------------------------- */

static void case_exits(void)
{
    parx_procs *pp = make_pool(g_mode, 2, 0, 0);
    REQUIRE(pp);
    parx_job_result r = run1(pp, new_arg(pp, K_UNDERSCORE_EXIT, 0, 0));
    CHECK_EQ(r.status, PARX_E_EXITED);
    CHECK_EQ(r.exit_code, 0);
    CHECK_EQ(r.signal, 0);
    /* pthread_exit, from the worker's only thread or with another left
       running, ends the worker as exit(0) would, in both modes (the code is
       not checked: a leak checker at exit may change it) */
    const int pexits[] = {K_PTHREAD_EXIT, K_PTHREAD_EXIT_THREADED};
    for (int i = 0; i < 2; i++) {
        r = run1(pp, new_arg(pp, pexits[i], 0, 0));
        bool exited = r.status == PARX_E_EXITED && r.signal == 0;
#ifdef __EXCEPTIONS
        /* C built with -fexceptions: in spawn mode the unwinder has no
           frame to stop at below main and the worker dies of a signal, as
           the header says (a sanitizer's handler may exit instead) */
        if (g_mode == PARX_START_SPAWN)
            exited = exited || (r.status == PARX_E_CRASHED && r.signal > 0);
#endif
        CHECK_MSG(exited, "pthread_exit (%s): status %d signal %d exit %d",
                  i ? "another thread running" : "only thread", r.status, r.signal, r.exit_code);
    }
    r = run1(pp, new_arg(pp, K_ATEXIT_EXIT, 0, 0));
    CHECK_EQ(r.status, PARX_E_EXITED);
    CHECK_EQ(r.exit_code, 7);
    check_serves(pp);
    destroy_all_gone(pp);
    child_end();
}

/* ---- threads -------------------------------------------------------------- */

static void case_threads(void)
{
    parx_procs *pp = make_pool(g_mode, 1, 0, 0);
    REQUIRE(pp);
    CHECK_EQ(run1(pp, new_arg(pp, K_THREAD_LIVES, 0, 0)).status, 0);
    check_serves(pp);
    int before = 0, after = 0;
    parx_procs_pids(pp, &before, 1);
    CHECK_EQ(run1(pp, new_arg(pp, K_THREAD_CRASH, 50, 0)).status, 0);
    /* the thread kills the worker once idle: replaced, nobody charged */
    for (int i = 0; i < polls(10000); i++) {
        parx_procs_pids(pp, &after, 1);
        if (after > 0 && after != before)
            break;
        sleep_ms(1);
    }
    CHECK_MSG(after > 0 && after != before, "worker not replaced (%d -> %d)", before, after);
    check_serves(pp);
    parx_procs_info info;
    parx_procs_stats(pp, &info);
    CHECK_EQ(info.crashed, 0);
    destroy_all_gone(pp); /* a worker with a thread asleep in it */
    child_end();
}

/* ---- resources, sessions, shells ------------------------------------------ */

static void case_resources(void)
{
    parx_procs *pp = make_pool(g_mode, 1, 0, 0);
    REQUIRE(pp);
    job_arg *a = new_arg(pp, K_FDS, 0, 0);
    REQUIRE(a);
    CHECK_EQ(run1(pp, a).status, 0);
    CHECK(a->out > 0);
    check_serves(pp);
    parx_job_result r = run1(pp, new_arg(pp, K_KILLSELF, 0, 0));
    CHECK_EQ(r.status, PARX_E_CRASHED);
    CHECK_EQ(run1(pp, new_arg(pp, K_SETPGID, 0, 0)).status, 0);
    check_serves(pp);
    CHECK_EQ(run1(pp, new_arg(pp, K_KILLSELF, 0, 0)).status, PARX_E_CRASHED); /* a new worker */
    CHECK_EQ(run1(pp, new_arg(pp, K_SETSID, 0, 0)).status, 0);
    check_serves(pp);
    CHECK_EQ(run1(pp, new_arg(pp, K_SYSTEM, 0, 0)).status, 0);
    check_serves(pp);
    destroy_all_gone(pp); /* a worker in a session of its own */
    child_end();
}

/* ---- a job that calls the pool it runs in --------------------------------- */

static void case_own_pool(void)
{
    parx_procs *pp = make_pool(PARX_START_FORK, 2, 0, 0); /* the handle means something there */
    REQUIRE(pp);
    job_arg *a = new_arg(pp, K_OWN_POOL, 0, 0);
    REQUIRE(a);
    a->pool = pp;
    parx_job_result r = run1(pp, a);
    CHECK_MSG(r.status == 0, "status %d (%s)", r.status, parx_strerror(r.status));
    for (int i = 0; i < 4; i++)
        CHECK_MSG(a->rc[i] == -EDEADLK, "call %d from inside: %d (%s), want -EDEADLK", i, a->rc[i],
                  parx_strerror(a->rc[i]));
    check_serves(pp);
    parx_procs_info info;
    parx_procs_stats(pp, &info);
    CHECK_EQ(info.started, 2);
    CHECK_EQ(info.crashed, 0);
    destroy_all_gone(pp);
    child_end();
}

/* A child of the caller (fork) that destroys its copy, as exit handlers that
   destroy the program's pools would: the pool is the caller's. */
static void case_child_destroy(void)
{
    parx_procs *pp = make_pool(g_mode, 2, 0, 0);
    REQUIRE(pp);
    check_serves(pp);
    pid_t c = xfork();
    REQUIRE(c >= 0);
    if (c == 0) {
        /* the copy takes no job (it pushed into the caller's ring, with a
           slot its own bookkeeping thought free), then frees only itself */
        alarm(10);
        parx_ticket t = 0;
        parx_job_result r;
        job_arg *a = new_arg(pp, K_PLAIN, 0, 1);
        void *one[1] = {a};
        int rc[3] = {parx_procs_submit(pp, job, a, &t), parx_procs_wait(pp, t, &r),
                     parx_procs_map(pp, job, one, 1, &r)};
        parx_procs_destroy(pp);
        _exit(rc[0] == -EPERM && rc[1] == -EPERM && rc[2] == -EPERM ? 0 : 3);
    }
    int st = 0;
    REQUIRE(waitpid(c, &st, 0) == c);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child's calls (3: not -EPERM): %s %d",
              WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    check_serves(pp);
    parx_procs_info info;
    parx_procs_stats(pp, &info);
    CHECK_EQ(info.started, 2);
    CHECK_EQ(info.crashed, 0);
    destroy_all_gone(pp);
    child_end();
}

static void case_own_pool_child(void) { in_child(case_own_pool); }

/* ---- the caller's signal handlers (fork mode) ------------------------------ */

/* The server is a copy of the caller: it must not run the program's
   handlers (a pkill -TERM would run a cleanup handler there, and its exit()
   the program's atexit handlers), while the workers, which run the
   program's code, keep them -- the first ones and a replacement alike. */
static void case_handlers(void)
{
    usr1 = (usr1_log *)mmap(NULL, sizeof *usr1, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(usr1 != MAP_FAILED);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    REQUIRE(sigaction(SIGUSR1, &sa, NULL) == 0);
    parx_procs *pp = make_pool(PARX_START_FORK, 1, 1, 0);
    REQUIRE(pp);
    parx_procs_info info;
    REQUIRE(parx_procs_stats(pp, &info) == 0);

    /* the first worker has the handler */
    job_arg *a = new_arg(pp, K_USR1, 0, 0);
    REQUIRE(a);
    parx_job_result r = run1(pp, a);
    CHECK_MSG(r.status == 0, "first worker: status %d (-300: no handler)", r.status);

    /* A SIGUSR1 for the server, then a job that kills its worker twice:
       the server runs on past the signal, whatever it does with it, to
       reap and replace the worker -- so by the end, a handler it had has
       run. */
    REQUIRE(kill(info.server_pid, SIGUSR1) == 0);
    job_arg *k = new_arg(pp, K_KILLSELF, 0, 0);
    REQUIRE(k);
    r = run1(pp, k);
    CHECK_MSG(r.status == PARX_E_CRASHED && r.signal == SIGKILL && r.attempts == 2,
              "status %d signal %d attempts %d", r.status, r.signal, r.attempts);

    /* the replacement has the handler too */
    job_arg *b = new_arg(pp, K_USR1, 0, 0);
    REQUIRE(b);
    r = run1(pp, b);
    CHECK_MSG(r.status == 0, "replacement: status %d (-300: no handler)", r.status);
    CHECK(b->out != a->out);

    int n = atomic_load(&usr1->n);
    bool in_server = false, in_first = false, in_second = false;
    for (int i = 0; i < n && i < USR1_MAX; i++) {
        int pid = atomic_load(&usr1->pid[i]);
        in_server |= pid == info.server_pid;
        in_first |= pid == a->out;
        in_second |= pid == b->out;
    }
    CHECK_MSG(!in_server, "the program's SIGUSR1 handler ran in the fork server");
    CHECK_MSG(in_first && in_second, "the handler ran in the first worker: %d, the replacement: %d",
              in_first, in_second);
    check_serves(pp);
    destroy_all_gone(pp);
    munmap(usr1, sizeof *usr1);
    child_end();
}

static void case_handlers_child(void) { in_child(case_handlers); }

/* ---- many crashes ---------------------------------------------------------- */

static void case_many_retries(void)
{
    enum { RETRIES = 150, N = 40 };
    parx_procs *pp = make_pool(g_mode, 2, RETRIES, 0);
    REQUIRE(pp);
    job_arg *args[N];
    void *ptrs[N];
    for (int i = 0; i < N; i++) {
        args[i] = new_arg(pp, i == 7 ? K_KILLSELF : K_PLAIN, 0, i);
        REQUIRE(args[i]);
        ptrs[i] = args[i];
    }
    parx_job_result r[N];
    CHECK_EQ(parx_procs_map(pp, job, ptrs, N, r), 1);
    CHECK_EQ(r[7].status, PARX_E_CRASHED);
    CHECK_EQ(r[7].signal, SIGKILL);
    CHECK_EQ(r[7].attempts, RETRIES + 1);
    CHECK_EQ(atomic_load(&args[7]->runs), RETRIES + 1);
    for (int i = 0; i < N; i++) {
        if (i == 7)
            continue;
        CHECK_MSG(r[i].status == 0 && r[i].attempts == 1 && atomic_load(&args[i]->runs) == 1 &&
                      args[i]->out == i + 1,
                  "job %d: status %d attempts %d runs %d", i, r[i].status, r[i].attempts,
                  atomic_load(&args[i]->runs));
    }
    parx_procs_info info = wait_started(pp, 2 + RETRIES + 1);
    CHECK_EQ(info.crashed, RETRIES + 1);
    CHECK_EQ(info.retried, RETRIES);
    CHECK_EQ(info.started, 2 + RETRIES + 1);
    check_serves(pp);
    destroy_all_gone(pp);
    child_end();
}

static void case_destroy_while_crashing(void)
{
    parx_procs *pp = make_pool(g_mode, 2, 1000, 0);
    REQUIRE(pp);
    for (int i = 0; i < 16; i++) {
        parx_ticket t;
        job_arg *a = new_arg(pp, (i & 1) ? K_KILLSELF : K_SEGV, 0, 0);
        REQUIRE(a);
        REQUIRE(parx_procs_submit(pp, job, a, &t) == 0);
    }
    sleep_ms(20);
    destroy_all_gone(pp);
    child_end();
}

/* ---- driver ---------------------------------------------------------------- */

static void (*g_case)(void);

/* In the child: the failures of this case alone (a failed mode before it
   counted in the parent, whose count the child inherits). */
static void run_case(void)
{
    atomic_store(&pt__cur_failed, 0);
    g_case();
}

static void both_modes(void)
{
    for (int m = 0; m < 2; m++) {
        g_mode = modes[m];
        pt_diag("%s mode", mode_names[m]);
        in_child(run_case);
    }
}

#define CASE(name, fn)          \
    do {                        \
        g_case = fn;            \
        run_guarded(name, both_modes); \
    } while (0)

int main(void)
{
    pt_plan(12);
    CASE("a job's child that returns from the job runs no job and reports nothing",
         case_fork_return);
    CASE("a job that closes every descriptor and dup2s over 0..2: the pool serves on",
         case_close_all);
    CASE("a job that installs handlers and blocks every signal: timeouts and crashes still seen",
         case_signals);
    CASE("_exit(0), pthread_exit (alone or with a thread left), exit from atexit: PARX_E_EXITED",
         case_exits);
    CASE("threads left running, and one that crashes after its job: replaced, nobody charged",
         case_threads);
    CASE("descriptors exhausted, setsid/setpgid, system/popen: the pool serves on",
         case_resources);
    run_guarded("a job that calls parx_procs_* on its own pool (fork mode): -EDEADLK, no harm",
                case_own_pool_child);
    CASE("a child of the caller: -EPERM from its copy of the pool, whose destroy leaves the "
         "caller's pool serving",
         case_child_destroy);
    CASE("a job that makes a pool of its own: its workers run every job, and stay",
         case_nested);
    run_guarded("the caller's signal handlers (fork mode): not run by the server, kept by workers",
                case_handlers_child);
    CASE("a job that always crashes, 150 retries: reported once, others run once",
         case_many_retries);
    CASE("destroy while jobs crash and retry: returns, nothing left", case_destroy_while_crashing);
    return pt_done_testing();
}
