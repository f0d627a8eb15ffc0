/* tests/writer.c -- parx_writer on both backends: appended and positioned
   writes read back byte for byte, overlapping writes land in order, every
   buffer (zero-length ones too) is handed back once through .done, and no
   two .done calls run at once, and the first error (a full
   device, a file size limit) is reported by write, flush and close; writes
   queued by a thread that exits before close are written all the same; a
   FIFO with no reader is an error, not a hang, and one with a reader gets
   the bytes in order; .sync where nothing can be synced is no error; an
   open that fails for want of a thread leaves the file as it was; .append
   on an append-only file (chattr +a) appends, in order; in a program
   started with its standard streams closed, a printf does not land in the
   file. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "io_common.h"

static parx_io_backend backends[3];
static int nbackends;
static bool have_uring;

typedef struct done_log {
    int calls;
    int errors;
    int first_status;
    uint64_t bytes;
} done_log;

static void on_done(const void *buf, size_t size, int status, void *user)
{
    done_log *l = (done_log *)user;
    (void)buf;
    l->calls++;
    l->bytes += size;
    if (status) {
        if (!l->errors)
            l->first_status = status;
        l->errors++;
    }
}

/* the file's bytes (malloc'd), its size in *n */
static unsigned char *slurp(const char *path, size_t *n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        *n = 0;
        return NULL;
    }
    unsigned char *b = (unsigned char *)malloc((size_t)st.st_size + 1);
    *n = b && xread(fd, b, (size_t)st.st_size) ? (size_t)st.st_size : 0;
    close(fd);
    return b;
}

/* Many appended writes of uneven sizes, each from its own buffer. */
static void test_append_round_trip(void)
{
    enum { N = 200 };
    for (int b = 0; b < nbackends; b++)
        for (int depth = 1; depth <= 8; depth *= 8) {
            const char *path = io_path("append.dat");
            done_log log = {0, 0, 0, 0};
            int err = 1;
            parx_writer *w = parx_writer_open(&(parx_writer_desc){.path = path,
                                                                  .depth = depth,
                                                                  .backend = backends[b],
                                                                  .done = on_done,
                                                                  .done_user = &log},
                                              &err);
            REQUIRE(w != NULL);
            CHECK_EQ(err, 0);
            unsigned char *bufs[N];
            uint64_t total = 0;
            rnd r = rnd_seed(42 + (uint64_t)depth);
            for (int i = 0; i < N; i++) {
                size_t n = 1 + (size_t)rnd_below(&r, 50000);
                bufs[i] = (unsigned char *)malloc(n);
                io_fill(bufs[i], n, 9, total);
                CHECK_EQ(parx_writer_write(w, bufs[i], n), 0);
                total += n;
            }
            CHECK_EQ(parx_writer_flush(w), 0);
            CHECK_EQ(log.calls, N);
            CHECK_EQ_U(log.bytes, total);
            CHECK_EQ(log.errors, 0);
            CHECK_EQ(parx_writer_close(w), 0);
            for (int i = 0; i < N; i++)
                free(bufs[i]);
            size_t n;
            unsigned char *back = slurp(path, &n);
            CHECK_MSG(back && n == total && io_matches(back, n, 9, 0),
                      "backend %d depth %d: %zu of %llu bytes read back, pattern %s",
                      (int)backends[b], depth, n, (unsigned long long)total,
                      back && io_matches(back, n, 9, 0) ? "ok" : "wrong");
            free(back);
            unlink(path);
        }
}

/* .append keeps the file and writes after it; write_at writes at offsets,
   out of order, without moving the append position. */
static void test_append_and_offsets(void)
{
    const char *path = io_path("offsets.dat");
    for (int b = 0; b < nbackends; b++) {
        REQUIRE(io_make_file(path, 10000, 4));
        parx_writer *w = parx_writer_open(
            &(parx_writer_desc){.path = path, .append = true, .backend = backends[b], .sync = true},
            NULL);
        REQUIRE(w != NULL);
        unsigned char *buf = (unsigned char *)malloc(90000);
        io_fill(buf, 90000, 4, 0);
        /* bytes [10000, 100000) in three pieces: the middle one by offset, first */
        CHECK_EQ(parx_writer_write_at(w, buf + 40000, 30000, 40000), 0);
        CHECK_EQ(parx_writer_write(w, buf + 10000, 30000), 0); /* at 10000 */
        CHECK_EQ(parx_writer_write_at(w, buf + 70000, 20000, 70000), 0);
        CHECK_EQ(parx_writer_write(w, buf + 0, 0), 0); /* nothing */
        CHECK_EQ(parx_writer_flush(w), 0);
        CHECK_EQ(parx_writer_write(w, buf + 0, 10000), 0); /* at 40000 (append position) */
        CHECK_EQ(parx_writer_close(w), 0);
        size_t n;
        unsigned char *back = slurp(path, &n);
        /* bytes 40000..50000 were written twice: last the pattern from 0 */
        CHECK_EQ_U(n, 90000);
        CHECK(back && io_matches(back, 40000, 4, 0));
        CHECK(back && io_matches(back + 40000, 10000, 4, 0));
        CHECK(back && io_matches(back + 50000, 40000, 4, 50000));
        free(back);
        free(buf);
        unlink(path);
    }
}

/* Overlapping writes land in the order they were queued: the same range
   written 64 times, each time with another pattern, holds the last. */
static void test_overlap_order(void)
{
    const char *path = io_path("overlap.dat");
    enum { N = 64, SIZE = 65536 };
    for (int b = 0; b < nbackends; b++) {
        parx_writer *w = parx_writer_open(
            &(parx_writer_desc){.path = path, .depth = 16, .backend = backends[b]}, NULL);
        REQUIRE(w != NULL);
        unsigned char *bufs[N];
        for (int i = 0; i < N; i++) {
            bufs[i] = (unsigned char *)malloc(SIZE);
            io_fill(bufs[i], SIZE, 100 + (uint32_t)i, 0);
            /* shifting by a page each time: every write overlaps the last ones */
            CHECK_EQ(parx_writer_write_at(w, bufs[i], SIZE, (uint64_t)(i % 4) * 4096), 0);
        }
        CHECK_EQ(parx_writer_close(w), 0);
        size_t n;
        unsigned char *back = slurp(path, &n);
        CHECK_EQ_U(n, SIZE + 3 * 4096);
        /* the last write (i = 63) was at 3 * 4096; before it, i = 62 at 2 * 4096, ... */
        CHECK(back && io_matches(back + 3 * 4096, SIZE, 100 + N - 1, 0));
        CHECK(back && io_matches(back + 2 * 4096, 4096, 100 + N - 2, 0));
        CHECK(back && io_matches(back + 4096, 4096, 100 + N - 3, 0));
        CHECK(back && io_matches(back, 4096, 100 + N - 4, 0));
        free(back);
        for (int i = 0; i < N; i++)
            free(bufs[i]);
        unlink(path);
    }
}

/* /dev/full: every write fails with ENOSPC. The first error comes back from
   flush, from every later write (which then queues nothing) and from close;
   .done sees it for each buffer that was queued. */
static void test_full_device(void)
{
    for (int b = 0; b < nbackends; b++) {
        done_log log = {0, 0, 0, 0};
        parx_writer *w = parx_writer_open(
            &(parx_writer_desc){
                .path = "/dev/full", .backend = backends[b], .done = on_done, .done_user = &log},
            NULL);
        REQUIRE(w != NULL);
        static unsigned char buf[100000];
        int queued = 0, rc = 0;
        for (int i = 0; i < 3 && rc == 0; i++) {
            rc = parx_writer_write(w, buf, sizeof buf);
            queued += rc == 0;
        }
        CHECK(queued >= 1);
        CHECK_EQ(parx_writer_flush(w), -ENOSPC);
        CHECK_EQ(parx_writer_write(w, buf, sizeof buf), -ENOSPC);
        CHECK_EQ(parx_writer_write_at(w, buf, 10, 0), -ENOSPC);
        CHECK_EQ(parx_writer_flush(w), -ENOSPC);
        CHECK_EQ(parx_writer_close(w), -ENOSPC);
        CHECK_EQ(log.calls, queued);
        CHECK(log.errors >= 1);
        CHECK_EQ(log.first_status, -ENOSPC);
    }
}

/* RLIMIT_FSIZE: the write stops at the limit with EFBIG (SIGXFSZ ignored),
   in a child so the limit stays there. Bytes up to the limit are written. */
static void test_file_size_limit(void)
{
    const char *path = io_path("fsize.dat");
    for (int b = 0; b < nbackends; b++) {
        pid_t pid = xfork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            signal(SIGXFSZ, SIG_IGN);
            struct rlimit lim = {50000, 50000};
            int ok = setrlimit(RLIMIT_FSIZE, &lim) == 0;
            static unsigned char buf[80000];
            io_fill(buf, sizeof buf, 12, 0);
            parx_writer *w =
                parx_writer_open(&(parx_writer_desc){.path = path, .backend = backends[b]}, NULL);
            ok = ok && w != NULL;
            int rc_write = w ? parx_writer_write(w, buf, sizeof buf) : -1;
            int rc_close = w ? parx_writer_close(w) : -1;
            size_t n;
            unsigned char *back = slurp(path, &n);
            ok = ok && rc_write == 0 && rc_close == -EFBIG && n == 50000 &&
                 io_matches(back, n, 12, 0);
            if (!ok)
                CHILD_DIAG("backend %d: write %d, close %d (%s), %zu bytes in the file",
                           (int)backends[b], rc_write, rc_close, parx_strerror(rc_close), n);
            free(back);
            _exit(ok ? 0 : 1);
        }
        expect_child(pid, 0, 0);
        unlink(path);
    }
}

/* Zero-length writes among others: every buffer is handed back once, and
   .done calls never run beside each other. On the thread backend they come
   from the writer's thread, in the order of the writes (a zero-length
   write is queued like any other). */
enum { ZL_N = 300, ZL_BUF = 4096 };
typedef struct zl_log {
    unsigned char *bufs; /* ZL_N buffers of ZL_BUF bytes; .done finds the index by address */
    pthread_t caller;
    _Atomic int inside, overlaps;
    int calls, on_caller, out_of_order, last, errors;
} zl_log;

static void zl_done(const void *buf, size_t size, int status, void *user)
{
    zl_log *l = (zl_log *)user;
    (void)size;
    if (atomic_fetch_add(&l->inside, 1) != 0)
        atomic_fetch_add(&l->overlaps, 1);
    usleep(50); /* a window for another call to come in beside this one */
    int i = buf ? (int)(((const unsigned char *)buf - l->bufs) / ZL_BUF) : -1;
    l->out_of_order += i <= l->last;
    l->last = i;
    l->on_caller += pthread_equal(pthread_self(), l->caller) != 0;
    l->errors += status != 0;
    l->calls++;
    atomic_fetch_sub(&l->inside, 1);
}

static void test_zero_length(void)
{
    for (int b = 0; b < nbackends; b++) {
        const char *path = io_path("zero.dat");
        zl_log log = {(unsigned char *)malloc((size_t)ZL_N * ZL_BUF), pthread_self(), 0, 0, 0, 0,
                      0, -1, 0};
        REQUIRE(log.bufs != NULL);
        parx_writer *w = parx_writer_open(&(parx_writer_desc){.path = path,
                                                              .backend = backends[b],
                                                              .done = zl_done,
                                                              .done_user = &log},
                                          NULL);
        REQUIRE(w != NULL);
        uint64_t total = 0;
        for (int i = 0; i < ZL_N; i++) {
            size_t n = i % 3 == 1 ? 0 : ZL_BUF;
            io_fill(log.bufs + (size_t)i * ZL_BUF, n, 5, total);
            CHECK_EQ(parx_writer_write(w, log.bufs + (size_t)i * ZL_BUF, n), 0);
            total += n;
        }
        CHECK_EQ(parx_writer_close(w), 0);
        bool threads = backends[b] == PARX_IO_THREADS;
        CHECK_MSG(log.calls == ZL_N && log.errors == 0 && atomic_load(&log.overlaps) == 0,
                  "backend %d: %d .done calls of %d, %d errors, %d beside another",
                  (int)backends[b], log.calls, ZL_N, log.errors, atomic_load(&log.overlaps));
        if (threads)
            CHECK_MSG(log.on_caller == 0 && log.out_of_order == 0,
                      "thread backend: %d .done calls on the caller's thread, %d out of order",
                      log.on_caller, log.out_of_order);
        size_t n;
        unsigned char *back = slurp(path, &n);
        CHECK(back && n == total && io_matches(back, n, 5, 0));
        free(back);
        free(log.bufs);
        unlink(path);
        /* NULL with size 0 is a write of nothing, told through .done too */
        zl_log one = {NULL, pthread_self(), 0, 0, 0, 0, 0, -2, 0};
        w = parx_writer_open(&(parx_writer_desc){.path = path,
                                                 .backend = backends[b],
                                                 .done = zl_done,
                                                 .done_user = &one},
                             NULL);
        REQUIRE(w != NULL);
        CHECK_EQ(parx_writer_write(w, NULL, 0), 0);
        CHECK_EQ(parx_writer_close(w), 0);
        CHECK_EQ(one.calls, 1);
        unlink(path);
    }
}

static void test_bad_inputs(void)
{
    int err = 0;
    CHECK(parx_writer_open(NULL, &err) == NULL);
    CHECK_EQ(err, -EINVAL);
    CHECK(parx_writer_open(&(parx_writer_desc){.path = NULL}, &err) == NULL);
    CHECK_EQ(err, -EINVAL);
    CHECK(parx_writer_open(&(parx_writer_desc){.path = "x", .depth = -1}, &err) == NULL);
    CHECK_EQ(err, -EINVAL);
    CHECK(parx_writer_open(&(parx_writer_desc){.path = "x", .backend = (parx_io_backend)9}, &err) ==
          NULL);
    CHECK_EQ(err, -EINVAL);
    CHECK(parx_writer_open(&(parx_writer_desc){.path = io_path("no/such/dir")}, &err) == NULL);
    CHECK_EQ(err, -ENOENT);
    CHECK(parx_writer_open(&(parx_writer_desc){.path = io__dir}, &err) == NULL);
    CHECK_EQ(err, -EISDIR);
    CHECK_EQ(parx_writer_write(NULL, "x", 1), -EINVAL);
    CHECK_EQ(parx_writer_write_at(NULL, "x", 1, 0), -EINVAL);
    CHECK_EQ(parx_writer_flush(NULL), -EINVAL);
    CHECK_EQ(parx_writer_close(NULL), -EINVAL);
    const char *why = NULL;
    CHECK_EQ(parx_writer_backend(NULL, &why), PARX_IO_AUTO);
    CHECK(why != NULL);
    parx_writer *w = parx_writer_open(&(parx_writer_desc){.path = io_path("bad.dat")}, NULL);
    REQUIRE(w != NULL);
    CHECK_EQ(parx_writer_write(w, NULL, 5), -EINVAL);
    CHECK_EQ(parx_writer_write_at(w, "x", 1, UINT64_MAX), -EINVAL);
    /* past the largest file offset: refused now, not at flush (which it
       would have stopped: the writer goes on) */
    CHECK_EQ(parx_writer_write_at(w, "x", 1, (uint64_t)1 << 63), -EINVAL);
    CHECK_EQ(parx_writer_write_at(w, "xy", 2, (uint64_t)INT64_MAX), -EINVAL);
    CHECK_EQ(parx_writer_write_at(w, "x", 1, 3), 0);
    CHECK_EQ(parx_writer_flush(w), 0);
    parx_io_backend b = parx_writer_backend(w, &why);
    pt_diag("writer with PARX_IO_AUTO: %s", why);
    CHECK_EQ(b, have_uring ? PARX_IO_URING : PARX_IO_THREADS);
    CHECK_EQ(parx_writer_close(w), 0);
    unlink(io_path("bad.dat"));
}

#ifndef PARX_NO_URING
/* io_uring: writes queued by a thread that then exits are cancelled by the
   kernel (-ECANCELED, io-wq work dies with its task); close, on another
   thread, must write them again: every byte lands and close returns 0. */
enum { EXIT_BUFS = 16, EXIT_BUF = 1 << 20 };
static parx_writer *exit_w;
static unsigned char *exit_bufs;
static int exit_rc;
static void *write_all_and_exit(void *arg)
{
    (void)arg;
    for (int i = 0; i < EXIT_BUFS && exit_rc == 0; i++)
        exit_rc = parx_writer_write(exit_w, exit_bufs + (size_t)i * EXIT_BUF, EXIT_BUF);
    return NULL;
}
#endif

static void test_thread_exit(void)
{
#ifdef PARX_NO_URING
    PT_SKIP("built with PARX_NO_URING");
#else
    if (!have_uring) {
        PT_SKIP("io_uring is not available here");
    }
    const char *path = io_path("exit.dat");
    exit_bufs = (unsigned char *)malloc((size_t)EXIT_BUFS * EXIT_BUF);
    REQUIRE(exit_bufs != NULL);
    io_fill(exit_bufs, (size_t)EXIT_BUFS * EXIT_BUF, 13, 0);
    int failures = 0;
    for (int it = 0; it < 10; it++) {
        done_log log = {0, 0, 0, 0};
        exit_w = parx_writer_open(&(parx_writer_desc){.path = path,
                                                      .depth = EXIT_BUFS,
                                                      .backend = PARX_IO_URING,
                                                      .done = on_done,
                                                      .done_user = &log},
                                  NULL);
        REQUIRE(exit_w != NULL);
        exit_rc = 0;
        pthread_t t;
        REQUIRE(pthread_create(&t, NULL, write_all_and_exit, NULL) == 0);
        pthread_join(t, NULL);
        int rc = parx_writer_close(exit_w);
        size_t n;
        unsigned char *back = slurp(path, &n);
        int ok = exit_rc == 0 && rc == 0 && log.calls == EXIT_BUFS && log.errors == 0 && back &&
                 n == (size_t)EXIT_BUFS * EXIT_BUF && memcmp(back, exit_bufs, n) == 0;
        if (!ok && failures++ < 3)
            pt_diag("iteration %d: write %d, close %d (%s), .done %d calls %d errors (first %d), "
                    "%zu bytes in the file",
                    it, exit_rc, rc, parx_strerror(rc), log.calls, log.errors, log.first_status,
                    n);
        free(back);
        unlink(path);
    }
    CHECK_EQ(failures, 0);
    free(exit_bufs);
#endif
}

/* A FIFO with no reader: open fails with -ENXIO at once (it blocked
   forever, waiting for a reader). In a child, under alarm(). */
static void test_fifo_no_reader(void)
{
    const char *fifo = io_path("out.fifo");
    unlink(fifo);
    if (mkfifo(fifo, 0600) != 0) {
        PT_SKIP("mkfifo: %s", strerror(errno));
    }
    for (int b = 0; b < nbackends; b++) {
        pid_t pid = xfork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            alarm(30);
            int err = 0;
            parx_writer *w =
                parx_writer_open(&(parx_writer_desc){.path = fifo, .backend = backends[b]}, &err);
            if (w)
                parx_writer_close(w);
            if (w || err != -ENXIO)
                CHILD_DIAG("backend %d: writer %p, err %d", (int)backends[b], (void *)w, err);
            _exit(!w && err == -ENXIO ? 0 : 1);
        }
        expect_child(pid, 0, 0);
    }
    unlink(fifo);
}

/* A socket, bound to a path or as /proc/self/fd/N: open(2) opens neither,
   so the writer gives -ENXIO, the errno of open, as documented (the docs
   once promised that a socket was written as a stream). */
static void test_socket_refused(void)
{
    const char *path = io_path("out.sock");
    unlink(path);
    int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(ls >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        close(ls);
        PT_SKIP("the test folder's path is too long for a socket");
    }
    strcpy(sa.sun_path, path);
    REQUIRE(bind(ls, (struct sockaddr *)&sa, sizeof sa) == 0);
    REQUIRE(listen(ls, 1) == 0);
    int sp[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
    char byfd[64];
    snprintf(byfd, sizeof byfd, "/proc/self/fd/%d", sp[0]);
    const char *paths[2] = {path, byfd};
    for (int b = 0; b < nbackends; b++) {
        for (int i = 0; i < 2; i++) {
            int err = 0;
            parx_writer *w = parx_writer_open(
                &(parx_writer_desc){.path = paths[i], .backend = backends[b]}, &err);
            CHECK_MSG(!w && err == -ENXIO, "backend %d, %s: writer %p, err %d", (int)backends[b],
                      paths[i], (void *)w, err);
            if (w) parx_writer_close(w);
        }
    }
    close(sp[0]);
    close(sp[1]);
    close(ls);
    unlink(path);
}

/* A FIFO with a reader: writes larger than the pipe holds, 8 in flight,
   arrive whole and in order on both backends (io_uring would otherwise run
   them side by side and mix their bytes); write_at is -ESPIPE. */
static void test_fifo_stream(void)
{
    enum { N = 60, MAXLEN = 200000 };
    const char *fifo = io_path("stream.fifo");
    unlink(fifo);
    if (mkfifo(fifo, 0600) != 0) {
        PT_SKIP("mkfifo: %s", strerror(errno));
    }
    for (int b = 0; b < nbackends; b++) {
        rnd r = rnd_seed(77);
        size_t len[N];
        uint64_t total = 0;
        for (int i = 0; i < N; i++) {
            len[i] = 1 + (size_t)rnd_below(&r, MAXLEN);
            total += len[i];
        }
        pid_t reader = xfork();
        REQUIRE(reader >= 0);
        if (reader == 0) { /* reads it all, and says whether it is the pattern, whole */
            alarm(30);
            int fd = open(fifo, O_RDONLY | O_CLOEXEC);
            unsigned char *got = (unsigned char *)malloc(total + 1);
            uint64_t n = 0;
            ssize_t k;
            while (fd >= 0 && got && (k = read(fd, got + n, total + 1 - n)) > 0)
                n += (uint64_t)k;
            bool ok = n == total && io_matches(got, n, 3, 0);
            if (!ok)
                CHILD_DIAG("backend %d: read %llu of %llu bytes, pattern %s", (int)backends[b],
                           (unsigned long long)n, (unsigned long long)total,
                           got && io_matches(got, n, 3, 0) ? "ok" : "wrong");
            _exit(ok ? 0 : 1);
        }
        parx_writer *w = NULL;
        int err = -ENXIO;
        for (int tries = 0; !w && err == -ENXIO && tries < 3000; tries++) { /* until it opens */
            w = parx_writer_open(
                &(parx_writer_desc){.path = fifo, .depth = 8, .backend = backends[b]}, &err);
            if (!w)
                usleep(1000);
        }
        REQUIRE(w != NULL);
        unsigned char *bufs[N];
        uint64_t at = 0;
        for (int i = 0; i < N; i++) {
            bufs[i] = (unsigned char *)malloc(len[i]);
            io_fill(bufs[i], len[i], 3, at);
            CHECK_EQ(parx_writer_write(w, bufs[i], len[i]), 0);
            at += len[i];
        }
        CHECK_EQ(parx_writer_write_at(w, bufs[0], len[0], 0), -ESPIPE);
        CHECK_EQ(parx_writer_write_at(w, NULL, 10, 0), -EINVAL); /* bad arguments first */
        CHECK_EQ(parx_writer_close(w), 0);
        for (int i = 0; i < N; i++)
            free(bufs[i]);
        expect_child(reader, 0, 0);
    }
    unlink(fifo);
}

/* .sync on files that cannot be synced -- a FIFO (a pipe), /dev/null --
   is not an error: there is nothing to wait for, and the bytes go out as
   without it (fdatasync's EINVAL stopped the writer at the first flush,
   and every later write was refused). */
static void test_sync_unsyncable(void)
{
    const char *fifo = io_path("sync.fifo");
    unlink(fifo);
    if (mkfifo(fifo, 0600) != 0) {
        PT_SKIP("mkfifo: %s", strerror(errno));
    }
    for (int b = 0; b < nbackends; b++) {
        /* our own reader, so the writer's open does not fail with ENXIO;
           what is written fits in the pipe */
        int rfd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        REQUIRE(rfd >= 0);
        parx_writer *w = parx_writer_open(
            &(parx_writer_desc){.path = fifo, .sync = true, .backend = backends[b]}, NULL);
        REQUIRE(w != NULL);
        CHECK_EQ(parx_writer_write(w, "abc", 3), 0);
        int rc = parx_writer_flush(w);
        CHECK_MSG(rc == 0, "backend %d, FIFO: flush %d (%s)", (int)backends[b], rc,
                  parx_strerror(rc));
        CHECK_EQ(parx_writer_write(w, "def", 3), 0);
        CHECK_EQ(parx_writer_close(w), 0);
        char got[16] = {0};
        CHECK_EQ((int)read(rfd, got, sizeof got - 1), 6);
        CHECK_STR_EQ(got, "abcdef");
        close(rfd);

        w = parx_writer_open(
            &(parx_writer_desc){.path = "/dev/null", .sync = true, .backend = backends[b]}, NULL);
        REQUIRE(w != NULL);
        CHECK_EQ(parx_writer_write(w, "abc", 3), 0);
        rc = parx_writer_flush(w);
        CHECK_MSG(rc == 0, "backend %d, /dev/null: flush %d (%s)", (int)backends[b], rc,
                  parx_strerror(rc));
        CHECK_EQ(parx_writer_write(w, "def", 3), 0);
        CHECK_EQ(parx_writer_close(w), 0);
    }
    unlink(fifo);
}

/* A writer thread that cannot be started (its stack does not fit under
   RLIMIT_AS) fails the open with -EAGAIN and leaves the file as it was:
   the thread is started before the file is opened (O_TRUNC had emptied
   it). In a child, so the limit stays there; not under a sanitizer or
   valgrind, whose allocators do not fail under RLIMIT_AS. */
static void test_thread_refused_keeps_file(void)
{
    const char *blind = io_rlimit_as_blind();
    if (blind) PT_SKIP("%s", blind);
    const char *path = io_path("kept.dat");
    REQUIRE(io_make_file(path, 10000, 14));
    pid_t pid = xfork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        /* room for small allocations, none for a thread's stack: 32 MiB,
           larger than the stacks of the parent's threads that the C
           library keeps for reuse (this child inherited them) */
        pthread_attr_t attr;
        int ok = pthread_attr_init(&attr) == 0 &&
                 pthread_attr_setstacksize(&attr, 32u << 20) == 0 &&
                 pthread_setattr_default_np(&attr) == 0;
        ok = ok && io_cap_address_space(2u << 20);
        int err = 0;
        parx_writer *w =
            ok ? parx_writer_open(&(parx_writer_desc){.path = path, .backend = PARX_IO_THREADS},
                                  &err)
               : NULL;
        struct stat st;
        int kept = stat(path, &st) == 0 && st.st_size == 10000;
        if (!ok || w || err != -EAGAIN || !kept)
            CHILD_DIAG("setup %d, open %p, err %d (%s), the file %s", ok, (void *)w, err,
                       parx_strerror(err), kept ? "kept" : "changed");
        _exit(ok && !w && err == -EAGAIN && kept ? 0 : 1);
    }
    expect_child(pid, 0, 0);
    unlink(path);
}

/* An append-only file (chattr +a: FS_APPEND_FL, needs CAP_LINUX_IMMUTABLE
   and a file system that has the flag) with .append: opened O_APPEND,
   written after what it held, in order, on both backends; write_at is
   -ESPIPE. (open was -EPERM: an append-only file cannot be opened for
   writing without O_APPEND.) Skipped where the flag cannot be set. */
static void test_append_only_file(void)
{
    const char *path = io_path("appendonly.log");
    unlink(path);
    REQUIRE(io_make_file(path, 1000, 21));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    int flags = 0;
    bool set = ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 &&
               (flags |= FS_APPEND_FL, ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0);
    int why = errno;
    if (!set) {
        close(fd);
        unlink(path);
        PT_SKIP("cannot make a file append-only here: %s", strerror(why));
    }
    enum { N = 20, L = 30001 };
    static unsigned char bufs[N][L];
    uint64_t at = 1000;
    for (int b = 0; b < nbackends; b++) {
        int err = 0;
        parx_writer *w = parx_writer_open(
            &(parx_writer_desc){.path = path, .append = true, .depth = 8, .backend = backends[b]},
            &err);
        CHECK_MSG(w != NULL, "backend %d: open %d (%s)", (int)backends[b], err,
                  parx_strerror(err));
        if (!w)
            continue;
        for (int i = 0; i < N; i++) {
            io_fill(bufs[i], L, 21, at);
            CHECK_EQ(parx_writer_write(w, bufs[i], L), 0);
            at += L;
        }
        CHECK_EQ(parx_writer_write_at(w, bufs[0], 10, 0), -ESPIPE);
        CHECK_EQ(parx_writer_close(w), 0);
        size_t n;
        unsigned char *back = slurp(path, &n);
        CHECK_MSG(back && n == at && io_matches(back, n, 21, 0),
                  "backend %d: %zu bytes (want %llu), %s", (int)backends[b], n,
                  (unsigned long long)at,
                  back && io_matches(back, n < at ? n : at, 21, 0) ? "the pattern"
                                                                    : "not the pattern");
        free(back);
    }
    flags &= ~FS_APPEND_FL;
    CHECK_EQ(ioctl(fd, FS_IOC_SETFLAGS, &flags), 0);
    close(fd);
    unlink(path);
}

/* .append on a block device (a loop device over a 1 MiB file): its end
   is where lseek's SEEK_END puts it, its size, so the write there fails
   with ENOSPC and the device keeps its bytes (the writer wrote from offset
   0 over them: found in review). Skipped where no loop device can be set
   up (it needs CAP_SYS_ADMIN and /dev/loop* nodes). */
static void test_append_block_device(void)
{
    enum { SIZE = 1 << 20 };
    const char *img = io_path("loop.img");
    REQUIRE(io_make_file(img, SIZE, 23));
    int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    int num = ctl >= 0 ? ioctl(ctl, LOOP_CTL_GET_FREE) : -1;
    char dev[32];
    snprintf(dev, sizeof dev, "/dev/loop%d", num);
    int lfd = num >= 0 ? open(dev, O_RDWR | O_CLOEXEC) : -1;
    int ifd = open(img, O_RDWR | O_CLOEXEC);
    bool attached = lfd >= 0 && ifd >= 0 && ioctl(lfd, LOOP_SET_FD, ifd) == 0;
    int why = errno;
    if (ifd >= 0)
        close(ifd);
    if (ctl >= 0)
        close(ctl);
    if (!attached) {
        if (lfd >= 0)
            close(lfd);
        unlink(img);
        PT_SKIP("no loop device here: %s", strerror(why));
    }
    static unsigned char junk[4096], back[SIZE];
    memset(junk, 'X', sizeof junk);
    for (int b = 0; b < nbackends; b++) {
        int err = 0;
        parx_writer *w = parx_writer_open(
            &(parx_writer_desc){.path = dev, .append = true, .backend = backends[b]}, &err);
        CHECK_MSG(w != NULL, "backend %d: open %s: %d (%s)", (int)backends[b], dev, err,
                  parx_strerror(err));
        if (!w)
            continue;
        int rw = parx_writer_write(w, junk, sizeof junk);
        int rf = parx_writer_flush(w);
        int rc = parx_writer_close(w);
        ssize_t n = pread(lfd, back, SIZE, 0);
        CHECK_MSG((rw == 0 || rw == -ENOSPC) && rf == -ENOSPC && rc == -ENOSPC,
                  "backend %d: write %d, flush %d (%s), close %d: want ENOSPC", (int)backends[b],
                  rw, rf, parx_strerror(rf), rc);
        CHECK_MSG(n == SIZE && io_matches(back, SIZE, 23, 0),
                  "backend %d: the device's bytes changed (%zd read back)", (int)backends[b], n);
    }
    CHECK_EQ(ioctl(lfd, LOOP_CLR_FD, 0), 0);
    close(lfd);
    unlink(img);
}

/* A program started with its standard streams closed (a daemon): neither
   the writer's file nor its ring takes descriptor 0, 1 or 2, so a printf (which
   fails, as it should) cannot write into it. In a child, which can close
   its streams; the file must hold what the writer wrote, nothing else. */
static void test_closed_stdio(void)
{
    for (int b = 0; b < nbackends; b++) {
        const char *path = io_path("stdio.dat");
        pid_t child = xfork();
        REQUIRE(child >= 0);
        if (child == 0) {
            for (int fd = 0; fd < 3; fd++) /* stdin, stdout, stderr */
                close(fd);
            int err = 0;
            parx_writer *w = parx_writer_open(
                &(parx_writer_desc){.path = path, .backend = backends[b]}, &err);
            if (!w)
                _exit(20);
            static const char words[] = "written by the writer\n";
            if (parx_writer_write(w, words, sizeof words - 1) != 0)
                _exit(21);
            if (write(1, "printf\n", 7) != -1 || write(2, "perror\n", 7) != -1)
                _exit(22); /* the writer took 1 or 2 */
            for (int fd = 0; fd < 3; fd++)
                if (fcntl(fd, F_GETFD) != -1)
                    _exit(24 + fd); /* the writer holds it (its file, or its ring) */
            if (parx_writer_close(w) != 0)
                _exit(23);
            _exit(0);
        }
        if (!expect_child(child, 0, 0))
            pt_diag("backend %d", (int)backends[b]);
        size_t n;
        unsigned char *back = slurp(path, &n);
        CHECK_MSG(back && n == 22 && memcmp(back, "written by the writer\n", 22) == 0,
                  "backend %d: %zu bytes in the file", (int)backends[b], n);
        free(back);
        unlink(path);
    }
}

int main(void)
{
    io_dir("writer");
#ifndef PARX_NO_URING
    {
        parx_writer *w = parx_writer_open(
            &(parx_writer_desc){.path = io_path("probe"), .backend = PARX_IO_URING}, NULL);
        have_uring = w != NULL;
        if (w)
            parx_writer_close(w);
        unlink(io_path("probe"));
    }
#endif
    backends[nbackends++] = PARX_IO_THREADS;
    if (have_uring)
        backends[nbackends++] = PARX_IO_URING;
    pt_diag("io_uring %s",
            have_uring ? "available: both backends are tested" : "not available here");
    run_guarded("bad inputs", test_bad_inputs);
    run_guarded("appended writes of uneven sizes read back, .done once per buffer",
                test_append_round_trip);
    run_guarded(".append and writes at offsets", test_append_and_offsets);
    run_guarded(".append on a block device: its end is its size (ENOSPC), its bytes stay",
                test_append_block_device);
    run_guarded("overlapping writes land in order", test_overlap_order);
    run_guarded("zero-length writes: .done once each, never beside another, in order on threads",
                test_zero_length);
    run_guarded("a full device: ENOSPC from flush, write and close", test_full_device);
    run_guarded("RLIMIT_FSIZE: EFBIG from close, bytes up to the limit", test_file_size_limit);
    run_guarded("io_uring: writes cancelled by the exit of the queuing thread are written again",
                test_thread_exit);
    run_guarded("a FIFO with no reader: -ENXIO, not a hang", test_fifo_no_reader);
    run_guarded("a socket, by path or /proc/self/fd/N: -ENXIO", test_socket_refused);
    run_guarded("a FIFO with a reader: the bytes in order on both backends; write_at -ESPIPE",
                test_fifo_stream);
    run_guarded(".sync on a FIFO and on /dev/null: nothing to sync, no error",
                test_sync_unsyncable);
    run_guarded("a writer thread that cannot be started: -EAGAIN, the file left as it was",
                test_thread_refused_keeps_file);
    run_guarded(".append on an append-only file (chattr +a): written after its end, in order",
                test_append_only_file);
    run_guarded("standard streams closed: the writer's file is none of 0, 1, 2",
                test_closed_stdio);
    io_dir_remove();
    return pt_done_testing();
}
