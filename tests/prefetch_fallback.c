/* tests/prefetch_fallback.c -- io_uring refused for real: in a forked child
   a seccomp filter (raw BPF, PR_SET_NO_NEW_PRIVS + PR_SET_SECCOMP) makes
   io_uring_setup fail with EPERM (what Docker's default profile does) or
   ENOSYS (a kernel without io_uring), or io_uring_enter alone fail with
   EPERM (the ring sets up, and every submission would fail) or answer 0
   or EINTR every time (no progress: open spun for ever on those).
   PARX_IO_AUTO must fall back to the thread backend, say why, log it, and
   deliver the same bytes as the parent read; PARX_IO_URING must fail with
   the filter's error (-EIO for no progress; and the writer leave its file
   untouched); the writer must fall back too. This runs whether or not
   io_uring works in the parent, so CI exercises the fallback on every
   machine.
   Where io_uring works, io_uring_enter is then refused after open (EPERM,
   or EAGAIN: short of resources) with writes and reads done, pending in a
   full FIFO or on a page nobody serves (userfaultfd: the source of a
   write, the buffer of a read), or none: write, flush
   and close return the error instead of
   spinning, writes never submitted get it through .done, the prefetcher's
   error has a message, and close leaks the buffers of reads it cannot wait
   for instead of freeing them. */
#define _GNU_SOURCE
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>

#include "io_common.h"
#include "parx_shm.h"
#include "seccomp_common.h"

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425 /* the same number on every architecture */
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif

static const uint64_t file_size = 2500000 + 123;
static uint64_t parent_fnv;

#ifndef PARX_NO_URING
static bool have_uring;
#endif


static char logged[512];
static void capture_log(parx_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level == PARX_LOG_INFO && strstr(msg, "io_uring"))
        snprintf(logged, sizeof logged, "%s", msg);
}

/* In the child, with system call `nr` (io_uring_setup or io_uring_enter)
   refused with `err`: returns the number of failed checks (its exit
   status). `what` is how the reason names the failure. */
/* err 0 or EINTR (io_uring_enter answered so every time): the ring makes
   no progress, and PARX_IO_URING fails with -EIO; otherwise with -err. */
static int child_checks(long nr, int err, const char *what)
{
    int want = err == 0 || err == EINTR ? -EIO : -err;
    int bad = 0;
#define CCHECK(c, ...)                                                                             \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            CHILD_DIAG("child (errno %d): CHECK(%s) failed", err, #c);                             \
            CHILD_DIAG(__VA_ARGS__);                                                               \
            bad++;                                                                                 \
        }                                                                                          \
    } while (0)
    int rc = refuse_syscall(nr, err);
    CCHECK(rc == 0, "%s", parx_strerror(rc));
    if (rc)
        return bad;
    errno = 0;
    long r = nr == __NR_io_uring_setup ? syscall(__NR_io_uring_setup, 4, NULL)
                                       : syscall(__NR_io_uring_enter, -1, 0, 0, 0, NULL, 0);
    CCHECK(err ? r == -1 && errno == err : r == 0, "system call %ld gave %ld, errno %d", nr, r,
           errno);

    parx_set_log(capture_log, NULL);
    const char *paths[1] = {io_path("data")};
    uint32_t seed = 77;
    for (int direct = 0; direct < 2; direct++) {
        logged[0] = '\0';
        parx_prefetch *pf = parx_prefetch_open(
            &(parx_prefetch_desc){
                .paths = paths, .npaths = 1, .chunk_size = 100000, .direct = direct},
            NULL);
        CCHECK(pf != NULL, "open");
        if (!pf)
            continue;
        const char *why = "";
        CCHECK(parx_prefetch_backend(pf, &why) == PARX_IO_THREADS, "%s", why);
#ifndef PARX_NO_URING
        CCHECK(strstr(why, what) && (want == -EIO || strstr(why, strerror(err))), "why: %s",
               why);
        CCHECK(strstr(logged, what) != NULL, "logged: '%s'", logged);
#else
        (void)what;
        (void)want;
        CCHECK(strcmp(why, "threads: built with PARX_NO_URING") == 0, "why: %s", why);
#endif
        io_result res = io_drain(pf, &seed, NULL);
        CCHECK(res.rc == 0 && res.bad == 0 && res.bytes == file_size && res.fnv == parent_fnv,
               "rc %d, %d bad, %llu bytes", res.rc, res.bad, (unsigned long long)res.bytes);
        parx_prefetch_close(pf);
    }
    int e = 0;
    parx_prefetch *pf = parx_prefetch_open(
        &(parx_prefetch_desc){.paths = paths, .npaths = 1, .backend = PARX_IO_URING}, &e);
    CCHECK(pf == NULL, "PARX_IO_URING must fail");
#ifdef PARX_NO_URING
    CCHECK(e == -EOPNOTSUPP, "err %d", e);
#else
    CCHECK(e == want, "err %d", e);
#endif
    parx_prefetch_close(pf);

    /* the writer: falls back, writes the same bytes */
    unsigned char *buf = (unsigned char *)malloc(300000);
    io_fill(buf, 300000, 78, 0);
    parx_writer *w = parx_writer_open(&(parx_writer_desc){.path = io_path("written")}, NULL);
    CCHECK(w != NULL, "writer open");
    if (w) {
        const char *why = "";
        CCHECK(parx_writer_backend(w, &why) == PARX_IO_THREADS, "%s", why);
        CCHECK(parx_writer_write(w, buf, 100000) == 0, "write");
        CCHECK(parx_writer_write(w, buf + 100000, 200000) == 0, "write");
        CCHECK(parx_writer_close(w) == 0, "close");
        int fd = open(io_path("written"), O_RDONLY | O_CLOEXEC);
        unsigned char *back = (unsigned char *)calloc(1, 300001);
        ssize_t n = fd >= 0 ? pread(fd, back, 300001, 0) : -1;
        CCHECK(n == 300000 && memcmp(back, buf, 300000) == 0, "read back %zd bytes", n);
        if (fd >= 0)
            close(fd);
        free(back);
    }
    e = 0;
    w = parx_writer_open(&(parx_writer_desc){.path = io_path("written"), .backend = PARX_IO_URING},
                         &e);
    CCHECK(w == NULL, "PARX_IO_URING writer must fail");
#ifndef PARX_NO_URING
    CCHECK(e == want, "err %d", e);
#endif
    struct stat st; /* and leave the file as it was: not truncated */
    CCHECK(stat(io_path("written"), &st) == 0 && st.st_size == 300000,
           "the refused writer truncated the file to %lld bytes", (long long)st.st_size);
    free(buf);
    parx_set_log(NULL, NULL);
    return bad;
#undef CCHECK
}

static void run_refused(long nr, int err, const char *what)
{
#ifndef TEST_AUDIT_ARCH
    PT_SKIP("no seccomp architecture constant for this machine in the test");
#endif
    pid_t pid = xfork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        alarm(60);
        int bad = child_checks(nr, err, what);
        fflush(stdout);
        _exit(bad > 100 ? 100 : bad);
    }
    expect_child(pid, 0, 0);
}

static void test_eperm(void)
{
    run_refused(__NR_io_uring_setup, EPERM, "io_uring_setup failed");
}

static void test_enosys(void)
{
    run_refused(__NR_io_uring_setup, ENOSYS, "io_uring_setup failed");
}

static void test_enter_eperm(void)
{
    run_refused(__NR_io_uring_enter, EPERM, "io_uring_enter failed");
}

/* A filter that answers io_uring_enter with 0 (done, nothing taken) or
   EINTR, every time: the set-up NOP never completes. open waited for it
   for ever, at full speed, until a fault-injection review. */
static void test_enter_zero(void)
{
    run_refused(__NR_io_uring_enter, 0, "io_uring_enter did nothing");
}

static void test_enter_eintr(void)
{
    run_refused(__NR_io_uring_enter, EINTR, "io_uring_enter was interrupted");
}

#ifndef PARX_NO_URING
typedef struct done_log {
    int calls, errors, first_status;
} done_log;

static void on_done(const void *buf, size_t size, int status, void *user)
{
    (void)buf;
    (void)size;
    done_log *l = (done_log *)user;
    l->calls++;
    if (status && !l->errors++)
        l->first_status = status;
}

static int warned;
static void capture_warn(parx_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level == PARX_LOG_WARN && strstr(msg, "leaking the buffers"))
        warned++;
}

/* A FIFO held open here at both ends, its pipe buffer full (`full`: a
   write to it waits) or empty (a read from it waits). */
static int fifo_rfd = -1, fifo_wfd = -1;
static const char *make_fifo(bool full)
{
    const char *path = io_path("full.fifo");
    unlink(path);
    if (mkfifo(path, 0600) != 0)
        return NULL;
    fifo_rfd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    fifo_wfd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fifo_rfd < 0 || fifo_wfd < 0)
        return NULL;
    static char junk[4096];
    while (full && write(fifo_wfd, junk, sizeof junk) > 0) {
    }
    return path;
}

/* A page whose first touch waits for good: registered with a userfaultfd
   (missing pages) that nobody serves. A write from it stays in flight, on a
   regular file as well as on a pipe. NULL where userfaultfd is refused; the
   descriptor stays open for the life of the (child) process. */
static void *stuck_page(void)
{
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    int uffd = (int)syscall(__NR_userfaultfd, O_CLOEXEC);
    struct uffdio_api api = {.api = UFFD_API};
    if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) != 0)
        return NULL;
    void *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    struct uffdio_register reg = {.range = {(uintptr_t)p, ps},
                                  .mode = UFFDIO_REGISTER_MODE_MISSING};
    return ioctl(uffd, UFFDIO_REGISTER, &reg) == 0 ? p : NULL;
}

/* Make the page at p, in a shared-memory arena, wait for good at its next
   touch: its memory is given back (MADV_REMOVE) and the page registered
   with a userfaultfd (missing pages) that nobody serves, so that a read
   into it stays in flight. false where userfaultfd is refused (or pages
   are larger than a prefetch buffer's 4 KiB alignment). */
static bool stick_page(void *p)
{
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    int uffd = (int)syscall(__NR_userfaultfd, O_CLOEXEC);
    struct uffdio_api api = {.api = UFFD_API};
    if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) != 0 || (uintptr_t)p % ps != 0)
        return false;
    struct uffdio_register reg = {.range = {(uintptr_t)p, ps},
                                  .mode = UFFDIO_REGISTER_MODE_MISSING};
    return madvise(p, ps, MADV_REMOVE) == 0 && ioctl(uffd, UFFDIO_REGISTER, &reg) == 0;
}

/* The child's part of each case below: returns the number of failed checks,
   or CASE_SKIPPED. */
enum { CASE_SKIPPED = 77 };
static int after_open_case(int which)
{
    int bad = 0;
#define CCHECK(c, ...)                                                                             \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            CHILD_DIAG("case %d: CHECK(%s) failed", which, #c);                                    \
            CHILD_DIAG(__VA_ARGS__);                                                               \
            bad++;                                                                                 \
        }                                                                                          \
    } while (0)
    static unsigned char a[4096], b[4096];
    memset(a, 'a', sizeof a);
    memset(b, 'b', sizeof b);
    done_log log = {0, 0, 0};
    int rc;
    if (which == 0) {
        /* nothing in flight, io_uring_enter short of resources from now on:
           the write fails with -EAGAIN (it spun forever), and so does
           everything after it; what was written stays */
        const char *path = io_path("eagain.out");
        parx_writer *w = parx_writer_open(&(parx_writer_desc){.path = path,
                                                              .backend = PARX_IO_URING,
                                                              .done = on_done,
                                                              .done_user = &log},
                                          NULL);
        CCHECK(w != NULL, "open");
        if (!w)
            return bad;
        CCHECK(parx_writer_write(w, a, sizeof a) == 0, "write a");
        CCHECK(parx_writer_flush(w) == 0, "flush");
        CCHECK(refuse_syscall(__NR_io_uring_enter, EAGAIN) == 0, "seccomp");
        rc = parx_writer_write(w, b, sizeof b);
        CCHECK(rc == -EAGAIN, "write b: %d", rc);
        rc = parx_writer_flush(w);
        CCHECK(rc == -EAGAIN, "flush: %d", rc);
        rc = parx_writer_close(w);
        CCHECK(rc == -EAGAIN, "close: %d", rc);
        CCHECK(log.calls == 1 && log.errors == 0, "done: %d calls, %d errors", log.calls,
               log.errors);
        struct stat st;
        CCHECK(stat(path, &st) == 0 && st.st_size == 4096, "%lld bytes in the file",
               (long long)st.st_size);
    } else if (which == 1 || which == 2) {
        /* a write waits (1: in a full FIFO; 2: for its source page, on a
           regular file, so that a second write can go in beside it: writes
           to a pipe go one at a time); io_uring_enter then refused (1:
           EPERM) or short of resources (2: EAGAIN, with the second write
           left in the SQ): flush returns the error (it spun forever, and
           returned 0 with the second write never issued) */
        int err = which == 1 ? EPERM : EAGAIN;
        const unsigned char *src = a;
        const char *path;
        if (which == 1) {
            path = make_fifo(true);
            CCHECK(path != NULL, "fifo: %s", strerror(errno));
        } else {
            path = io_path("stuck.out");
            src = (const unsigned char *)stuck_page();
            if (!src) {
                CHILD_DIAG("case 2 skipped: userfaultfd: %s", strerror(errno));
                return CASE_SKIPPED;
            }
        }
        if (!path)
            return bad;
        parx_writer *w = parx_writer_open(&(parx_writer_desc){.path = path,
                                                              .backend = PARX_IO_URING,
                                                              .done = on_done,
                                                              .done_user = &log},
                                          NULL);
        CCHECK(w != NULL, "open");
        if (!w)
            return bad;
        CCHECK(parx_writer_write(w, src, sizeof a) == 0, "write a");
        CCHECK(refuse_syscall(__NR_io_uring_enter, err) == 0, "seccomp");
        if (which == 2) {
            rc = parx_writer_write_at(w, b, sizeof b, 1 << 20);
            CCHECK(rc == 0, "write b: %d", rc);
        }
        rc = parx_writer_flush(w);
        CCHECK(rc == -err, "flush: %d", rc);
        CCHECK(parx_writer_write(w, b, sizeof b) == -err, "write after");
        rc = parx_writer_close(w);
        CCHECK(rc == -err, "close: %d", rc);
        /* a is still in flight (never finished); b was never submitted */
        CCHECK(log.calls == (which == 2) && log.first_status == (which == 2 ? -err : 0),
               "done: %d calls, first status %d", log.calls, log.first_status);
    } else if (which == 3) {
        /* the prefetcher's ring refused: the error comes with a message,
           which names the file of the chunk next() was to hand out -- in
           pf2 the small file, not the one the reads ahead have reached
           (the message named the file at the cursor) */
        const char *paths[1] = {io_path("data")};
        const char *paths2[2] = {io_path("small"), io_path("data")};
        CCHECK(io_make_file(paths2[0], 4096, 79), "small file");
        parx_prefetch *pf = parx_prefetch_open(
            &(parx_prefetch_desc){.paths = paths, .npaths = 1, .backend = PARX_IO_URING}, NULL);
        parx_prefetch *pf2 = parx_prefetch_open(
            &(parx_prefetch_desc){.paths = paths2, .npaths = 2, .backend = PARX_IO_URING}, NULL);
        CCHECK(pf != NULL && pf2 != NULL, "open");
        if (!pf || !pf2)
            return bad;
        CCHECK(refuse_syscall(__NR_io_uring_enter, EPERM) == 0, "seccomp");
        parx_chunk c;
        rc = parx_prefetch_next(pf, &c);
        CCHECK(rc == -EPERM, "next: %d", rc);
        const char *msg = parx_prefetch_error(pf);
        CCHECK(msg && strstr(msg, "io_uring") && strstr(msg, paths[0]), "message: %s",
               msg ? msg : "(null)");
        CCHECK(parx_prefetch_next(pf, &c) == -EPERM, "next again");
        parx_prefetch_close(pf);
        rc = parx_prefetch_next(pf2, &c);
        CCHECK(rc == -EPERM, "pf2 next: %d", rc);
        msg = parx_prefetch_error(pf2);
        CCHECK(msg && strstr(msg, "io_uring") && strstr(msg, paths2[0]), "pf2 message: %s",
               msg ? msg : "(null)");
        parx_prefetch_close(pf2);
    } else if (which == 4) {
        /* a read waits (into a buffer whose page waits for good: see
           stick_page) when io_uring_enter is refused: close cannot wait
           for it, and must not free its buffer (the kernel may still write
           it): the buffers stay allocated in the arena, and a WARN says so.
           (The read that waited was one of an empty FIFO, until a range of
           a FIFO became -ESPIPE without a read.) */
        const char *paths[1] = {io_path("data")};
        /* keep(): reachable, so valgrind does not call the arena this child
           never closes (on purpose, below) lost */
        parx_arena *arena = keep(parx_arena_create(&(parx_arena_desc){.size = 4 << 20}, NULL));
        CCHECK(arena != NULL, "arena");
        /* not registered: pinned pages would be written whatever the
           userfaultfd says */
        parx_prefetch *pf = parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                                     .npaths = 1,
                                                                     .chunk_size = 4096,
                                                                     .depth = 2,
                                                                     .arena = arena,
                                                                     .no_register = true,
                                                                     .backend = PARX_IO_URING},
                                               NULL);
        CCHECK(pf != NULL, "open");
        if (!pf)
            return bad;
        parx_chunk c;
        rc = parx_prefetch_next(pf, &c);
        CCHECK(rc == 1 && c.offset == 0 && io_matches(c.data, c.size, 77, 0), "next: %d", rc);
        if (rc != 1)
            return bad;
        if (!stick_page(c.data)) {
            CHILD_DIAG("case 4 skipped: userfaultfd: %s", strerror(errno));
            parx_prefetch_release(pf, &c);
            parx_prefetch_close(pf); /* nothing is refused yet: a plain close */
            return CASE_SKIPPED;
        }
        parx_prefetch_release(pf, &c); /* chunk 2 is read into that buffer now */
        CCHECK(refuse_syscall(__NR_io_uring_enter, EPERM) == 0, "seccomp");
        parx_set_log(capture_warn, NULL);
        warned = 0;
        parx_prefetch_close(pf);
        parx_set_log(NULL, NULL);
        parx_arena_usage u;
        CCHECK(parx_arena_stats(arena, &u) == 0 && u.used >= 2 * 4096,
               "%llu bytes of the arena in use after close: the buffers were freed",
               (unsigned long long)u.used);
        CCHECK(warned == 1, "warned %d times", warned);
        /* the arena is not closed: its memory may still be written */
    }
    return bad;
#undef CCHECK
}
#endif

static void test_after_open(void)
{
#ifdef PARX_NO_URING
    PT_SKIP("built with PARX_NO_URING");
#else
#ifndef TEST_AUDIT_ARCH
    PT_SKIP("no seccomp architecture constant for this machine in the test");
#endif
    if (!have_uring) {
        PT_SKIP("io_uring is not available here");
    }
    for (int which = 0; which < 5; which++) {
        pid_t pid = xfork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            alarm(60);
            int bad = after_open_case(which);
            fflush(stdout);
            _exit(bad == CASE_SKIPPED ? CASE_SKIPPED : bad > 70 ? 70 : bad);
        }
        int st;
        REQUIRE(waitpid(pid, &st, 0) == pid);
        if (WIFEXITED(st) && WEXITSTATUS(st) == CASE_SKIPPED) {
            pt_diag("case %d skipped (see above)", which);
            continue;
        }
        CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "case %d: child %s %d", which,
                  WIFEXITED(st) ? "exited with" : "killed by signal",
                  WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    }
#endif
}

/* The parent reads the file with whatever backend it gets: the reference. */
static void test_parent(void)
{
    const char *paths[1] = {io_path("data")};
    uint32_t seed = 77;
    parx_prefetch *pf =
        parx_prefetch_open(&(parx_prefetch_desc){.paths = paths, .npaths = 1}, NULL);
    REQUIRE(pf != NULL);
    const char *why;
    parx_prefetch_backend(pf, &why);
    pt_diag("the parent reads with %s", why);
    io_result r = io_drain(pf, &seed, NULL);
    CHECK(r.rc == 0 && r.bad == 0 && r.bytes == file_size);
    parent_fnv = r.fnv;
    CHECK_EQ_U(parent_fnv, io_fnv_pattern(IO_FNV_INIT, 77, 0, file_size));
    parx_prefetch_close(pf);
}

int main(void)
{
    io_dir("fallback");
    if (!io_make_file(io_path("data"), file_size, 77)) {
        pt_skip_all("cannot write the test file");
    }
#ifndef PARX_NO_URING
    have_uring = io_uring_works();
#endif
    run_guarded("the parent's read: the reference bytes", test_parent);
    run_guarded("io_uring_setup refused with EPERM by seccomp: threads, same bytes", test_eperm);
    run_guarded("io_uring_setup refused with ENOSYS by seccomp: threads, same bytes", test_enosys);
    run_guarded("io_uring_enter alone refused with EPERM by seccomp: threads, same bytes",
                test_enter_eperm);
    run_guarded("io_uring_enter answered 0 every time by seccomp: threads, same bytes",
                test_enter_zero);
    run_guarded("io_uring_enter answered EINTR every time by seccomp: threads, same bytes",
                test_enter_eintr);
    run_guarded("io_uring_enter refused after open: errors, not hangs; buffers in flight kept",
                test_after_open);
    io_dir_remove();
    return pt_done_testing();
}
