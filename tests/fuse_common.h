/* SPDX-License-Identifier: MIT */
/* fuse_common.h -- a FUSE file system of a test's own, for fault injection
   (tests/prefetch_faults.c, tests/writer_faults.c): mounted at
   <scratch dir>/mnt and served by a forked child until fs_stop unmounts it.
   Include after io_common.h, <fuse.h> (FUSE_USE_VERSION 31), <sys/mman.h>,
   <sys/mount.h>, <sys/prctl.h> and <time.h>; only where libfuse3 was found
   (PARX_TEST_NO_FUSE unset). */
#ifndef PARX_TEST_FUSE_COMMON_H
#define PARX_TEST_FUSE_COMMON_H

static char mnt[600];
static pid_t fs_pid = -1;

/* Mount a file system with operations `ops`, served by a forked child that
   first runs `setup` (may be NULL; false: give up) and ends with `teardown`
   (may be NULL). 1, or 0 with the reason in `why`. */
static int fs_start(const struct fuse_operations *ops, bool (*setup)(void),
                    void (*teardown)(void), char *why, size_t n)
{
    snprintf(mnt, sizeof mnt, "%s/mnt", io__dir);
    mkdir(mnt, 0700);
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        snprintf(why, n, "pipe: %s", strerror(errno));
        return 0;
    }
    pid_t parent = getpid();
    fs_pid = xfork();
    if (fs_pid == 0) {
        /* a test that dies (a failed assertion) takes its server with it:
           no process left holding the test's output open */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
            _exit(3);
        close(p[0]);
        char ok = !setup || setup();
        char *argv[] = {(char *)"parx-test-fs", NULL};
        struct fuse_args args = FUSE_ARGS_INIT(1, argv);
        struct fuse *f = ok ? fuse_new(&args, ops, sizeof *ops, NULL) : NULL;
        ok = f && fuse_mount(f, mnt) == 0;
        xwrite(p[1], &ok, 1);
        close(p[1]);
        if (ok)
            fuse_loop_mt(f, 0); /* threads as requests need; ends when the parent unmounts */
        if (f) {
            fuse_unmount(f);
            fuse_destroy(f);
        }
        fuse_opt_free_args(&args);
        if (teardown)
            teardown();
        _exit(ok ? 0 : 3);
    }
    close(p[1]);
    char ok = 0;
    if (fs_pid < 0 || !xread(p[0], &ok, 1))
        ok = 0;
    close(p[0]);
    if (!ok) {
        if (fs_pid > 0)
            waitpid(fs_pid, NULL, 0);
        fs_pid = -1;
        rmdir(mnt);
        snprintf(why, n, "cannot mount a FUSE file system here (no rights, or no fuse module)");
        return 0;
    }
    return 1;
}

/* Unmount (lazily: a test that failed may hold a file open) and reap. */
static void fs_stop(void)
{
    if (fs_pid <= 0)
        return;
    if (umount2(mnt, MNT_DETACH) != 0)
        pt_diag("umount2(%s): %s", mnt, strerror(errno));
    expect_child(fs_pid, 0, 0);
    fs_pid = -1;
    rmdir(mnt);
}

/* The path of `name` on the mounted file system (io_path's buffers). */
static const char *fs_path(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "mnt/%s", name);
    return io_path(rel);
}

/* "stall": a file that answers every request EAGAIN (or EINTR, as the
   test asks) for STALL_MS from the first one, which a FUSE or network
   file system may do. The requests are
   counted where the test sees them: a page shared with the server's
   process, mapped (stall_map) before fs_start forks it. A reader or writer
   that pauses between tries -- 10 us doubling to about 10 ms -- makes
   about 30 (11 in the first 10 ms, then one per 10 ms), and 8 more for
   EINTR, tried again at once 8 times in a row; one that tries again at
   once for ever makes one per round trip through FUSE, thousands. */
enum { STALL_MS = 200, STALL_MAX_TRIES = 200 };
typedef struct stall_state {
    _Atomic long tries;      /* requests answered EAGAIN */
    _Atomic long long t0_ns; /* the first one's time; 0: none yet */
    _Atomic int err;         /* the answer: EAGAIN or EINTR */
} stall_state;
static stall_state *stall;

static bool stall_map(void)
{
    void *p = mmap(NULL, sizeof *stall, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    stall = p == MAP_FAILED ? NULL : (stall_state *)p;
    return stall != NULL;
}

static void stall_unmap(void)
{
    if (stall)
        munmap(stall, sizeof *stall);
    stall = NULL;
}

/* Before a case: no request yet; requests to be answered err. */
static void stall_reset(int err)
{
    atomic_store(&stall->tries, 0);
    atomic_store(&stall->t0_ns, 0);
    atomic_store(&stall->err, err);
}

/* In the server: the errno this request is answered with (counted), or 0. */
static int stall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long now = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, zero = 0;
    atomic_compare_exchange_strong(&stall->t0_ns, &zero, now);
    if (now - atomic_load(&stall->t0_ns) >= STALL_MS * 1000000LL)
        return 0;
    atomic_fetch_add(&stall->tries, 1);
    return atomic_load(&stall->err);
}

/* main's first steps: the scratch directory `dir`, and a skip of every
   test (the directory removed) without /dev/fuse or the stall page. */
static void fs_main_start(const char *dir)
{
    io_dir(dir);
    const char *why = access("/dev/fuse", R_OK | W_OK) != 0 ? "no /dev/fuse (or no access to it)"
                      : !stall_map() ? "cannot map a shared page for the stall counter"
                                     : NULL;
    if (why) {
        io_dir_remove();
        pt_skip_all(why);
    }
}

#endif
