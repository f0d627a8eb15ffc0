/* SPDX-License-Identifier: MIT */
/* tests/shm_sight.c -- the name of a named arena at its last closes, in
   two races found in review, each forced under ptrace:

   - A last user that cannot remove the name (its /dev/shm another: a mount
     namespace of its own, attached by descriptor) closing beside one that
     can. It took the claim to remove the name, so the other, closing at
     that moment, was turned away; it then gave the claim back, unable, and
     the name stayed with every user gone. A closer that cannot remove the
     name must take no claim.
   - The last user SIGKILLed between removing the name and saying so (its
     claim left in the header), while an open that found the name before
     it went goes on. The open took the dead claim for no removal under
     way and returned an arena whose name was gone (a later create under
     the name made a second arena with it): it must say -ENOENT.

   This unit implements parx_shm.h itself, to read the table of attached
   processes in the header. Both tests need ptrace, and the first a mount
   namespace of its own (CAP_SYS_ADMIN): skipped, and said so, without. */
#define _GNU_SOURCE
#include <poll.h>
#include <sched.h> /* unshare */
#include <sys/mount.h>
#include <sys/ptrace.h>

#define PARX_SHM_IMPLEMENTATION
#include "parx_shm.h"
#include "parx_test.h"
#include "shm_common.h"

#define MiB ((size_t)1 << 20)

/* In a child to be traced: stopped until its parent, the tracer, steps it
   (exit 77 where ptrace is not permitted). */
static void trace_me(void)
{
    if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
        _exit(77);
    raise(SIGSTOP);
}

/* Step stopped tracee pid to its next system-call stop: false if it ended
   or stopped otherwise (*st says how). */
static bool step(pid_t pid, int *st)
{
    return ptrace(PTRACE_SYSCALL, pid, NULL, NULL) == 0 && waitpid(pid, st, 0) == pid &&
           WIFSTOPPED(*st);
}

/* Whether process pid is in an arena's table of attached processes (an
   entry holds the pid in its low 32 bits, beside its start time), read
   from a mapping of its header that is no handle: no entry of ours. */
static bool in_table(const parx__shm_header *h, pid_t pid)
{
    for (int i = 0; i < PARX__SHM_PROCS; i++) {
        uint64_t e = atomic_load(&h->procs[i]);
        if (e != 0 && (uint32_t)e == (uint32_t)pid)
            return true;
    }
    return false;
}

/* A traced child stopped at trace_me(), or how it ended: 1 stopped, 0 a
   failed check (killed and reaped), -77 ptrace not permitted, -100 no
   mount namespace of its own. */
static int traced_child(pid_t pid, const char *who)
{
    int st = 0;
    if (!CHECK(waitpid(pid, &st, 0) == pid))
        return 0;
    if (WIFEXITED(st) && (WEXITSTATUS(st) == 77 || WEXITSTATUS(st) == 100))
        return -WEXITSTATUS(st);
    if (CHECK_MSG(WIFSTOPPED(st), "%s: status %#x", who, st))
        return 1;
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return 0;
}

/* Stopped tracee pid goes on to its end, which must be exit 0; or, where
   the test failed already (!ok), it is killed. Reaped either way. */
static void let_go(pid_t pid, bool ok, const char *who)
{
    if (ok)
        ptrace(PTRACE_DETACH, pid, NULL, NULL);
    else
        kill(pid, SIGKILL);
    int st = wait_status(pid);
    CHECK_MSG(!ok || st == 0, "%s: status %#x", who, st);
}

/* Two last users close at once: X, whose /dev/shm is a tmpfs of its own
   (it cannot remove the name), and A, which sees the name; the table also
   holds, ahead of them, a user D that died without closing. A, under
   ptrace, is stopped as soon as it has left the table, looking at D's
   entry (a system call: /proc), before it looks at X's. X, under ptrace
   too, is stopped at its k-th system call in parx_arena_close, for every k
   until its close returns; then A finishes its close, then X. Where X had
   left the table when A went on, A found itself the last, and the name must
   go; where X was still in it, X was the last, and the name may stay (X
   cannot see it: it stays until a process that can opens and closes it,
   which must then remove it). */
static void test_last_closers_one_out_of_sight(void)
{
    const char *name = test_name("sight");
    int after = 0, before = 0; /* A going on after X left the table, and before */
    for (int k = 1;; k++) {
        int err = 0;
        /* kept: the children exit with it (see keep) */
        parx_arena *a =
            keep(parx_arena_create(&(parx_arena_desc){.size = 1 * MiB, .name = name}, &err));
        REQUIRE(a != NULL);
        int fd = fcntl(parx_arena_fd(a), F_DUPFD_CLOEXEC, 3);
        const parx__shm_header *h =
            fd < 0 ? MAP_FAILED : mmap(NULL, sizeof *h, PROT_READ, MAP_SHARED, fd, 0);
        REQUIRE(h != MAP_FAILED);
        /* D: in the table until it is killed, after our close (whose look
           at the table would have cleared a dead entry) */
        int d_in[2], x_done[2];
        REQUIRE(pipe2(d_in, O_CLOEXEC) == 0 && pipe2(x_done, O_CLOEXEC) == 0);
        pid_t d = xfork();
        REQUIRE(d >= 0);
        if (d == 0) {
            if (!keep(parx_arena_open(name, NULL)) || !xwrite(d_in[1], "d", 1))
                _exit(1);
            for (;;)
                pause();
        }
        close(d_in[1]);
        char c = 0;
        CHECK_EQ(read(d_in[0], &c, 1), 1);
        close(d_in[0]);
        pid_t x = xfork();
        REQUIRE(x >= 0);
        if (x == 0) {
            if (unshare(CLONE_NEWNS) != 0 ||
                mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0 ||
                mount("parx-test", "/dev/shm", "tmpfs", 0, "size=1m") != 0)
                _exit(100);
            parx_arena *b = parx_arena_from_fd(fd, NULL);
            if (!b)
                _exit(2);
            trace_me();
            parx_arena_close(b);
            xwrite(x_done[1], "c", 1); /* past close (a system call, so a stop too) */
            _exit(0);
        }
        int xs = traced_child(x, "X");
        pid_t ap = xs == 1 ? xfork() : 0;
        REQUIRE(ap >= 0);
        if (xs == 1 && ap == 0) {
            parx_arena *c = parx_arena_open(name, NULL);
            if (!c)
                _exit(2);
            trace_me();
            parx_arena_close(c);
            _exit(0);
        }
        int as = xs == 1 ? traced_child(ap, "A") : 0;
        close(x_done[1]);
        parx_arena_close(a); /* D, X and A remain */
        kill(d, SIGKILL);    /* D dies without closing: its entry stays */
        int dst = wait_status(d);
        CHECK_MSG(WIFSIGNALED(dst) && WTERMSIG(dst) == SIGKILL, "D: status %#x", dst);
        bool a_out = false, ok = xs == 1 && as == 1;
        int st = 0;
        for (int i = 0; ok && i < 1000 && !a_out && (ok = step(ap, &st)); i++)
            a_out = !in_table(h, ap);
        ok = ok && CHECK_MSG(a_out, "A never left the table (status %#x)", st);
        for (int i = 0; ok && i < k; i++)
            ok = CHECK_MSG(step(x, &st), "X at its system call %d: status %#x", i + 1, st);
        struct pollfd pfd = {x_done[0], POLLIN, 0};
        bool past_close = ok && poll(&pfd, 1, 0) == 1;
        bool x_left = ok && !in_table(h, x);
        if (as == 1) /* A finishes its close, then X */
            let_go(ap, ok, "A");
        if (xs == 1)
            let_go(x, ok, "X");
        close(x_done[0]);
        munmap((void *)(uintptr_t)h, sizeof *h);
        close(fd);
        if (ok && x_left) {
            after++;
            CHECK_MSG(!shm_exists(name), "X stopped at its system call %d, out of the table: "
                                         "the name stayed after A's close, the last that "
                                         "could remove it",
                      k);
        } else if (ok) {
            before++;
        }
        if (shm_exists(name)) { /* a user that sees the name opens and closes it: it goes */
            parx_arena *b = parx_arena_open(name, &err);
            CHECK_MSG(b != NULL, "open after both closes: %d (%s)", err, parx_strerror(err));
            parx_arena_close(b);
            CHECK_MSG(!shm_exists(name), "the name outlived the open and close of a user "
                                         "that sees it");
            if (shm_exists(name))
                shm_unlink(name);
        }
        if (xs == -100)
            PT_SKIP("no tmpfs of our own on /dev/shm here (unshare or mount not permitted)");
        if (xs == -77 || as == -77)
            PT_SKIP("ptrace is not permitted here");
        if (!ok || past_close || k > 1000)
            break;
    }
    pt_diag("A going on at each system call of X's close: %d with X out of the table, %d with "
            "it in",
            after, before);
    CHECK(after > 0 && before > 0);
}

/* Whether process pid holds a descriptor of /dev/shm<name>. */
static bool holds_name(pid_t pid, const char *name)
{
    char dir[64], want[PARX__SHM_NAME_MAX + 16];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    snprintf(want, sizeof want, "/dev/shm%s", name);
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(d)) != NULL;) {
        char link[sizeof dir + sizeof e->d_name + 1], target[sizeof want + 16];
        snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n > 0) {
            target[n] = '\0';
            found = strcmp(target, want) == 0;
        }
    }
    closedir(d);
    return found;
}

/* The last user, under ptrace, is stepped through its close until the name
   is gone, and SIGKILLed there: its claim stays in the header, the name
   gone. An opener, under ptrace too, stopped once it holds the segment's
   descriptor (shm_open done, before the removal), then goes on: its open
   must say -ENOENT, and the name must stay gone. */
static void test_open_after_closer_killed(void)
{
    const char *name = test_name("killed-closer");
    pid_t closer = xfork();
    REQUIRE(closer >= 0);
    if (closer == 0) {
        parx_arena *a =
            keep(parx_arena_create(&(parx_arena_desc){.size = 1 * MiB, .name = name}, NULL));
        if (!a)
            _exit(10);
        trace_me();
        parx_arena_close(a);
        _exit(0);
    }
    int st = 0;
    REQUIRE(waitpid(closer, &st, 0) == closer);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
        shm_unlink(name);
        PT_SKIP("ptrace is not permitted here");
    }
    if (!CHECK_MSG(WIFSTOPPED(st), "the closer: status %#x", st)) {
        shm_unlink(name);
        return;
    }
    pid_t opener = xfork();
    REQUIRE(opener >= 0);
    if (opener == 0) {
        trace_me();
        int err = 0;
        parx_arena *b = parx_arena_open(name, &err);
        if (!b)
            _exit(err == -ENOENT ? 20 : 21);
        bool there = shm_exists(name);
        parx_arena_close(b);
        _exit(there ? 0 : 23);
    }
    REQUIRE(waitpid(opener, &st, 0) == opener && WIFSTOPPED(st));
    bool holding = false, gone = false;
    for (int i = 0; i < 1000 && !holding && step(opener, &st); i++)
        holding = holds_name(opener, name);
    if (CHECK_MSG(holding, "the opener never held a descriptor of the name (status %#x)", st)) {
        for (int i = 0; i < 1000 && !gone && step(closer, &st); i++)
            gone = !shm_exists(name);
        CHECK_MSG(gone, "the closer's close never removed the name (status %#x)", st);
    }
    kill(closer, SIGKILL);
    waitpid(closer, &st, 0);
    if (holding)
        ptrace(PTRACE_DETACH, opener, NULL, NULL);
    else
        kill(opener, SIGKILL);
    st = wait_status(opener);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (holding && gone)
        CHECK_MSG(code == 20, "the open: code %d (20: -ENOENT; 0 or 23: it returned the arena, "
                              "its name gone; 21: another error)",
                  code);
    CHECK_MSG(!shm_exists(name), "the name is back");
    if (shm_exists(name))
        shm_unlink(name);
}

int main(void)
{
    run_guarded("two last closes at once, one out of sight of the name: the name goes",
                test_last_closers_one_out_of_sight);
    run_guarded("the last closer killed after removing the name: an open then says -ENOENT",
                test_open_after_closer_killed);
    return pt_done_testing();
}
