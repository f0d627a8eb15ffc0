/* SPDX-License-Identifier: MIT */
/* fuse_common.h -- a FUSE file system of a test's own, for fault injection
   (tests/prefetch_faults.c, tests/writer_faults.c): mounted at
   <scratch dir>/mnt and served by a forked child until fs_stop unmounts it.
   Include after io_common.h, <fuse.h> (FUSE_USE_VERSION 31) and
   <sys/mount.h>; only where libfuse3 was found (PARX_TEST_NO_FUSE unset). */
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
    fs_pid = xfork();
    if (fs_pid == 0) {
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

/* The path of `name` on the mounted file system (four of them stay valid
   at once). */
static const char *fs_path(const char *name)
{
    static char b[4][700];
    static int next;
    char *p = b[next];
    next = (next + 1) % 4;
    snprintf(p, 700, "%s/%s", mnt, name);
    return p;
}

#endif
