/* SPDX-License-Identifier: MIT */
/* fuse_common.h -- a FUSE file system of a test's own, for fault injection
   (tests/prefetch_faults.c, tests/writer_faults.c): mounted at
   <scratch dir>/mnt and served by a forked child until fs_stop unmounts it.
   Include after io_common.h, <fuse.h> (FUSE_USE_VERSION 31), <sched.h>,
   <sys/mman.h>, <sys/mount.h>, <sys/prctl.h> and <time.h>; only where
   libfuse3 was found (PARX_TEST_NO_FUSE unset). */
#ifndef PARX_TEST_FUSE_COMMON_H
#define PARX_TEST_FUSE_COMMON_H

static char mnt[600];
static pid_t fs_pid = -1;
static pid_t fs_watch_pid = -1;

/* ===== a hang guard ======================================================== */
/* A case whose file system stops answering, or whose writer or prefetcher
   waits for ever, would otherwise hang until meson's timeout (600 s under
   TSan) and say nothing of where (writer_faults did so once in CI, in its
   EIO case, and never here). fs_start forks a watcher beside the server:
   if fs_stop has not stopped it within FS_WATCH_S seconds (times
   time_scale()), it prints the state, wait channel, system call and kernel
   stack (where readable) of every thread of the test and of the server,
   and what may hold the file system (fs__watch_holders), then SIGKILLs
   the server, which fails every request waiting on it (ENOTCONN), so the
   test goes on and fails its checks. A test still not done
   FS_WATCH_GRACE_S seconds later is printed again, the file system
   unmounted (lazily) and the test sent SIGABRT. A case takes a few
   seconds, at most 19 s under TSan in CI's logs. */
enum { FS_WATCH_S = 30, FS_WATCH_GRACE_S = 10 };

/* Print every thread of process `pid` (/proc): one line each, then its
   kernel stack's lines where this process may read them. */
static void fs__watch_dump(pid_t pid, const char *who)
{
    char path[320], buf[2048]; /* path: "/proc/<pid>/task/<d_name>/syscall" */
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d) {
        pt_diag("watch: %s (pid %d): cannot open %s", who, (int)pid, path);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char comm[64] = "", wchan[128] = "", call[128] = "", state = '?';
        snprintf(path, sizeof path, "/proc/%d/task/%s/comm", (int)pid, e->d_name);
        pt_read_file(path, comm, sizeof comm);
        comm[strcspn(comm, "\n")] = 0;
        snprintf(path, sizeof path, "/proc/%d/task/%s/wchan", (int)pid, e->d_name);
        pt_read_file(path, wchan, sizeof wchan);
        snprintf(path, sizeof path, "/proc/%d/task/%s/syscall", (int)pid, e->d_name);
        pt_read_file(path, call, sizeof call);
        call[strcspn(call, "\n")] = 0;
        snprintf(path, sizeof path, "/proc/%d/task/%s/stat", (int)pid, e->d_name);
        char st = pt_proc_state(path, NULL);
        if (st)
            state = st;
        pt_diag("watch: %s pid %d tid %s (%s): state %c, wchan %s, syscall %s", who, (int)pid,
                e->d_name, comm, state, wchan[0] ? wchan : "-", call[0] ? call : "-");
        snprintf(path, sizeof path, "/proc/%d/task/%s/stack", (int)pid, e->d_name);
        long n = pt_read_file(path, buf, sizeof buf);
        while (n > 0 && buf[n - 1] == '\n')
            buf[--n] = 0;
        if (n > 0)
            pt_diag("watch:   kernel stack:\n%s", buf);
    }
    closedir(d);
}

/* Who may keep the file system alive once fs_stop has unmounted it
   lazily (its server runs until the last reference goes): any process
   whose working directory or open files lie in it, or that has it mounted
   in another mount namespace (a private mount is copied into a namespace
   unshared while it is mounted); every descriptor of the test, whose
   files on a detached mount read as paths from its root; and the requests
   each FUSE connection has waiting, where fusectl is mounted. */
static void fs__watch_holders(pid_t test)
{
    static char info[1 << 16];
    const char *tag = strrchr(io__dir, '/');
    tag = tag ? tag + 1 : io__dir; /* "io-<name>-<pid>": this test's alone */
    char self_ns[64] = "", ns[64], path[600], link[640]; /* path: /proc/<name>/fd/<name> */
    ssize_t k = readlink("/proc/self/ns/mnt", self_ns, sizeof self_ns - 1);
    self_ns[k > 0 ? k : 0] = 0;
    DIR *proc = opendir("/proc");
    struct dirent *pe, *fe;
    while (proc && (pe = readdir(proc)) != NULL) {
        if (pe->d_name[0] < '1' || pe->d_name[0] > '9')
            continue;
        bool is_test = atoi(pe->d_name) == (int)test;
        snprintf(path, sizeof path, "/proc/%s/cwd", pe->d_name);
        if ((k = readlink(path, link, sizeof link - 1)) > 0 && (link[k] = 0, strstr(link, tag)))
            pt_diag("watch: pid %s works in %s", pe->d_name, link);
        snprintf(path, sizeof path, "/proc/%s/fd", pe->d_name);
        DIR *fds = opendir(path);
        while (fds && (fe = readdir(fds)) != NULL) {
            snprintf(path, sizeof path, "/proc/%s/fd/%s", pe->d_name, fe->d_name);
            if (fe->d_name[0] == '.' || (k = readlink(path, link, sizeof link - 1)) <= 0)
                continue;
            link[k] = 0;
            if (is_test || strstr(link, tag))
                pt_diag("watch: pid %s%s fd %s: %s", pe->d_name, is_test ? " (test)" : "",
                        fe->d_name, link);
        }
        if (fds)
            closedir(fds);
        snprintf(path, sizeof path, "/proc/%s/ns/mnt", pe->d_name);
        if ((k = readlink(path, ns, sizeof ns - 1)) <= 0 || (ns[k] = 0, !strcmp(ns, self_ns)))
            continue;
        snprintf(path, sizeof path, "/proc/%s/mountinfo", pe->d_name);
        if (pt_read_file(path, info, sizeof info) > 0 && strstr(info, tag))
            pt_diag("watch: pid %s has it mounted in its own mount namespace (%s)", pe->d_name,
                    ns);
    }
    if (proc)
        closedir(proc);
    DIR *conns = opendir("/sys/fs/fuse/connections");
    while (conns && (fe = readdir(conns)) != NULL) {
        if (fe->d_name[0] == '.')
            continue;
        char waiting[32] = "";
        snprintf(path, sizeof path, "/sys/fs/fuse/connections/%s/waiting", fe->d_name);
        pt_read_file(path, waiting, sizeof waiting);
        waiting[strcspn(waiting, "\n")] = 0;
        pt_diag("watch: FUSE connection %s: %s requests waiting", fe->d_name, waiting);
    }
    if (conns)
        closedir(conns);
}

/* Sleep `secs` seconds times time_scale(), signals or not; returns that. */
static unsigned fs__watch_sleep(unsigned secs)
{
    secs *= time_scale();
    struct timespec t = {(time_t)secs, 0};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        continue;
    return secs;
}

/* The watcher's life: see above. Never returns. */
static void fs__watch(pid_t test, pid_t server)
{
    /* a test that dies takes its watcher with it */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != test)
        _exit(0);
    unsigned s = fs__watch_sleep(FS_WATCH_S);
    pt_diag("watch: the case is not done after %u s: where the test and its file system wait", s);
    fs__watch_dump(test, "test");
    fs__watch_dump(server, "server");
    fs__watch_holders(test);
    pt_diag("watch: killing the file system's server (pid %d): its requests fail", (int)server);
    kill(server, SIGKILL);
    s = fs__watch_sleep(FS_WATCH_GRACE_S);
    pt_diag("watch: the test still waits %u s later: where; then SIGABRT", s);
    fs__watch_dump(test, "test");
    umount2(mnt, MNT_DETACH); /* not left mounted, its server dead */
    kill(test, SIGABRT);
    _exit(0);
}

/* fs_stop's and a failed fs_start's end: the watcher, if any, stopped. */
static void fs__watch_stop(void)
{
    if (fs_watch_pid <= 0)
        return;
    kill(fs_watch_pid, SIGKILL);
    wait_status(fs_watch_pid);
    fs_watch_pid = -1;
}

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
    if (fs_pid > 0) { /* before the wait for the mount, which may hang too */
        fs_watch_pid = xfork();
        if (fs_watch_pid == 0)
            fs__watch(parent, fs_pid);
    }
    char ok = 0;
    if (fs_pid < 0 || !xread(p[0], &ok, 1))
        ok = 0;
    close(p[0]);
    if (!ok) {
        if (fs_pid > 0)
            waitpid(fs_pid, NULL, 0);
        fs__watch_stop();
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
    fs__watch_stop();
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
    /* The test's mounts go in a mount namespace of its own, where it may
       make one: a namespace another process unshares while a mount is up
       gets a copy of it, which would keep the file system, and its server,
       alive after fs_stop's lazy unmount (tests/shm.c and procs_crash.c
       unshare theirs, and CI runs two streams of tests side by side under
       valgrind); and a test that dies leaves no mount behind. Made private
       (no propagation back), else mounted as before. (Source and type are
       ignored; "none", not NULL, for valgrind, which reads both.) */
    if (unshare(CLONE_NEWNS) == 0 && mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0)
        pt_diag("mount --make-rprivate /: %s; mounts may show outside", strerror(errno));
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
