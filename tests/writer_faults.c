/* tests/writer_faults.c -- the writer against faults from a real file
   system: a FUSE file system made for this test (libfuse3, run in a forked
   child, mounted in the test's scratch directory; built like the one of
   tests/prefetch_faults.c) keeps what is written to its files in memory
   and serves it back:
     data      plain
     short     takes at most 1500 bytes per write (direct_io, so the
               kernel hands the short writes to the writer as they are)
     eio       a write touching byte 600000 fails: EIO
     again     the first write fails with EAGAIN, the second with EINTR
               (direct_io), then all is well
     stall     every write fails with EAGAIN (or EINTR) for STALL_MS from
               the first one (direct_io), then all is well; the attempts
               are counted
     rofsync   fsync fails with EROFS, as ext4's does once an error has
               made it read-only (errors=remount-ro): the data is not on
               the device
     order     a write at offset 0 fails with EAGAIN, then EIO; one past
               64 KiB with ENOSPC at once (direct_io)
     gate      a write at offset 0 is held until the test opens the gate,
               then fails with ENOSPC or EAGAIN (a second try is kept);
               writes there and from 64 KiB on are counted (direct_io)
   The writer must resume short writes (no byte lost or written twice),
   write again after EAGAIN and EINTR -- and, when EAGAIN goes on, pause
   between tries rather than spin (at HEAD each backend tried again at
   once, thousands of times a stall), report EIO from flush and close with
   the bytes before it written, and, with .sync, report fsync's EROFS on a
   regular file (it took it for "a pipe or /dev/null: nothing to sync" and
   returned 0), and report the error of the earliest write in the order
   queued when errors come back out of order (io_uring kept the first one
   reaped at HEAD), and, on io_uring, not write at all the writes still
   waiting in its submission queue when an earlier one fails, nor those a
   ring that refused work abandoned, even when a write in flight then
   comes back to be tried again (it wrote one refused with -EPERM, .done
   told 0 for it), and, when a write in flight fails after the ring refused
   a later one, report the failed write's own error (flush and close gave
   the refusal's).
   Both backends, and PARX_IO_AUTO, which must choose the
   thread backend on FUSE (io_uring turns a short write there into EIO,
   nothing written: it did at HEAD), and PARX_IO_URING asked for, which
   must still complete short writes (-EIO at HEAD). Skipped, with the reason, without libfuse3
   at build time, without /dev/fuse, or where mounting is not allowed. */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
/* This unit implements parx itself, its writer's io_uring submissions
   going through submit_hook (the PARX__WR_SUBMIT hook): see
   test_stopped_in_sq. */
#if !defined PARX_TEST_NO_FUSE && !defined PARX_NO_URING
struct io_uring;
static int submit_hook(struct io_uring *ring);
#define PARX__WR_SUBMIT submit_hook
#endif
#define PARX_IMPLEMENTATION
#include "io_common.h"

#ifdef PARX_TEST_NO_FUSE
int main(void)
{
    pt_skip_all("built without libfuse3 (install libfuse3-dev and fuse3)");
}
#else
#define FUSE_USE_VERSION 31
#include <fuse.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <time.h>

#include "fuse_common.h"

enum { NFILES = 8, CAP = 4 << 20, EIO_AT = 600000, SHORT_MAX = 1500, SEED = 41 };
enum { F_DATA, F_SHORT, F_EIO, F_AGAIN, F_ROFSYNC, F_STALL, F_ORDER, F_GATE };
static const char *names[NFILES] = {"data",    "short", "eio",   "again",
                                    "rofsync", "stall", "order", "gate"};

/* "order": a write below ORDER_SPLIT is answered EAGAIN the first time --
   once the test has queued its second write (order_queued), so that the
   retry is queued after it -- and EIO after that; a write at ORDER_SPLIT
   or past it fails with ENOSPC.
   "gate": a write at offset 0 is held until the test sets gate_open, then
   answered ENOSPC, or with gate_again EAGAIN, and a write there after
   that is kept; a write at ORDER_SPLIT or past it is counted, and kept.
   Shared with the server's process like the stall page (mapped in main,
   before any fs_start). The waits are hang guards, not synchronisation. */
enum { ORDER_SPLIT = 65536, FS_WAIT_MS = 5000 };
typedef struct fs_shared {
    _Atomic int order_queued; /* the test queued the write past ORDER_SPLIT */
    _Atomic int order_first;  /* writes below ORDER_SPLIT seen */
    _Atomic int gate_held;    /* the write at offset 0 of "gate" reached the server */
    _Atomic int gate_open;    /* the test lets the server answer it */
    _Atomic int gate_again;   /* ... with EAGAIN, not ENOSPC */
    _Atomic int gate_zero;    /* writes to "gate" at offset 0 */
    _Atomic int gate_far;     /* writes to "gate" at ORDER_SPLIT or past it */
} fs_shared;
static fs_shared *shared;

/* The server waits, at most FS_WAIT_MS, until *flag is set. */
static void fs_wait_for(_Atomic int *flag)
{
    for (int i = 0; i < FS_WAIT_MS && !atomic_load(flag); i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
}

/* the server's files (its threads share them) */
static pthread_mutex_t fs_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned char *fs_data[NFILES];
static size_t fs_size[NFILES];
static int fs_again_count;

static int which(const char *path)
{
    for (int i = 0; i < NFILES; i++)
        if (path[0] == '/' && strcmp(path + 1, names[i]) == 0)
            return i;
    return -1;
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    (void)fi;
    memset(st, 0, sizeof *st);
    if (strcmp(path, "/") == 0) {
        st->st_mode = S_IFDIR | 0755;
        st->st_nlink = 2;
        return 0;
    }
    int w = which(path);
    if (w < 0)
        return -ENOENT;
    st->st_mode = S_IFREG | 0644;
    st->st_nlink = 1;
    pthread_mutex_lock(&fs_mu);
    st->st_size = (off_t)fs_size[w];
    pthread_mutex_unlock(&fs_mu);
    return 0;
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    (void)fi;
    int w = which(path);
    if (w < 0)
        return -ENOENT;
    if (size < 0 || size > CAP)
        return -EFBIG;
    pthread_mutex_lock(&fs_mu);
    if ((size_t)size > fs_size[w])
        memset(fs_data[w] + fs_size[w], 0, (size_t)size - fs_size[w]);
    fs_size[w] = (size_t)size;
    pthread_mutex_unlock(&fs_mu);
    return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
    int w = which(path);
    if (w < 0)
        return -ENOENT;
    if (fi->flags & O_TRUNC)
        fs_truncate(path, 0, NULL);
    if (w == F_SHORT || w == F_EIO || w == F_AGAIN || w == F_STALL || w == F_ORDER || w == F_GATE)
        fi->direct_io = 1; /* every write reaches us as it is */
    return 0;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)fi;
    int w = which(path);
    if (w < 0)
        return -ENOENT;
    pthread_mutex_lock(&fs_mu);
    size_t n = (size_t)off >= fs_size[w] ? 0 : fs_size[w] - (size_t)off;
    if (n > size)
        n = size;
    memcpy(buf, fs_data[w] + off, n);
    pthread_mutex_unlock(&fs_mu);
    return (int)n;
}

static int fs_write(const char *path, const char *buf, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    (void)fi;
    int w = which(path);
    if (w < 0)
        return -ENOENT;
    if (off < 0 || (uint64_t)off + size > CAP)
        return -EFBIG;
    if (w == F_SHORT && size > SHORT_MAX)
        size = SHORT_MAX;
    if (w == F_EIO && (uint64_t)off <= EIO_AT && EIO_AT < (uint64_t)off + size)
        return -EIO;
    int stalled = w == F_STALL ? stall_now() : 0;
    if (stalled)
        return -stalled;
    if (w == F_ORDER && off >= ORDER_SPLIT)
        return -ENOSPC;
    if (w == F_ORDER) {
        if (atomic_fetch_add(&shared->order_first, 1) > 0)
            return -EIO;
        fs_wait_for(&shared->order_queued); /* the test queues its second write at once */
        return -EAGAIN;
    }
    if (w == F_GATE && off == 0 && atomic_fetch_add(&shared->gate_zero, 1) == 0) {
        atomic_store(&shared->gate_held, 1);
        fs_wait_for(&shared->gate_open);
        return atomic_load(&shared->gate_again) ? -EAGAIN : -ENOSPC;
    }
    if (w == F_GATE && off >= ORDER_SPLIT)
        atomic_fetch_add(&shared->gate_far, 1);
    pthread_mutex_lock(&fs_mu);
    if (w == F_AGAIN && fs_again_count < 2) {
        int e = fs_again_count++ == 0 ? -EAGAIN : -EINTR;
        pthread_mutex_unlock(&fs_mu);
        return e;
    }
    if ((size_t)off > fs_size[w])
        memset(fs_data[w] + fs_size[w], 0, (size_t)off - fs_size[w]);
    memcpy(fs_data[w] + off, buf, size);
    if ((size_t)off + size > fs_size[w])
        fs_size[w] = (size_t)off + size;
    pthread_mutex_unlock(&fs_mu);
    return (int)size;
}

static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
    (void)datasync;
    (void)fi;
    int w = which(path);
    if (w < 0)
        return -ENOENT;
    return w == F_ROFSYNC ? -EROFS : 0;
}

static const struct fuse_operations fs_ops = {
    .getattr = fs_getattr,
    .truncate = fs_truncate,
    .open = fs_open,
    .read = fs_read,
    .write = fs_write,
    .fsync = fs_fsync,
};

/* The child's file contents: allocated in the child that serves them. */
static bool fs_alloc(void)
{
    for (int i = 0; i < NFILES; i++)
        if (!(fs_data[i] = (unsigned char *)malloc(CAP)))
            return false;
    return true;
}

static void fs_free(void)
{
    for (int i = 0; i < NFILES; i++)
        free(fs_data[i]);
}

#define FS_START()                                                                                 \
    char why[200];                                                                                 \
    if (!fs_start(&fs_ops, fs_alloc, fs_free, why, sizeof why)) {                                  \
        PT_SKIP("%s", why);                                                                        \
    }

static parx_io_backend backends[3];
static int nbackends;

/* The file's first `want` bytes read back through the mount: the number of
   bytes it holds, and whether the first min(that, want) are the pattern. */
static size_t read_back(const char *path, size_t want, bool *pattern)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    unsigned char *b = (unsigned char *)malloc(CAP);
    size_t n = 0;
    ssize_t k;
    while (fd >= 0 && b && n < CAP && (k = pread(fd, b + n, CAP - n, (off_t)n)) > 0)
        n += (size_t)k;
    *pattern = b && io_matches(b, n < want ? n : want, SEED, 0);
    free(b);
    if (fd >= 0)
        close(fd);
    return n;
}

enum { NW = 7, WLEN = 150001 }; /* 1050007 bytes in writes of uneven alignment */

/* NW writes of the pattern, depth 4, then flush and close: their results
   and the backend that wrote */
static parx_io_backend write_all(const char *path, parx_io_backend b, bool sync, int *rc_write,
                                 int *rc_flush, int *rc_close)
{
    static unsigned char buf[NW * WLEN];
    io_fill(buf, sizeof buf, SEED, 0);
    parx_writer *w = parx_writer_open(
        &(parx_writer_desc){.path = path, .depth = 4, .sync = sync, .backend = b}, NULL);
    *rc_write = *rc_flush = *rc_close = -12345;
    if (!w)
        return PARX_IO_AUTO;
    parx_io_backend used = parx_writer_backend(w, NULL);
    *rc_write = 0;
    for (int i = 0; i < NW && *rc_write == 0; i++)
        *rc_write = parx_writer_write(w, buf + (size_t)i * WLEN, WLEN);
    *rc_flush = parx_writer_flush(w);
    *rc_close = parx_writer_close(w);
    return used;
}

static int fuse_logged; /* the hook runs inside parx_writer_open, on the test's thread */
static void on_log(parx_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level == PARX_LOG_INFO && strstr(msg, "parx_writer: a FUSE file system"))
        fuse_logged++;
}

/* plain, short writes, and EAGAIN then EINTR: every byte once, in place.
   PARX_IO_AUTO picks the thread backend on FUSE: io_uring takes a short
   write there for EIO (the short file came back -EIO, nothing written, at
   HEAD). An explicit PARX_IO_URING must complete the short file too: it
   gave -EIO from write, flush and close, nothing written. */
static void test_resumed(void)
{
    FS_START();
    parx_set_log(on_log, NULL);
    const int files[3] = {F_DATA, F_SHORT, F_AGAIN};
    for (int b = 0; b < nbackends; b++)
        for (int f = 0; f < 3; f++) {
            const char *path = fs_path(names[files[f]]);
            int rw, rf, rc;
            parx_io_backend used = write_all(path, backends[b], false, &rw, &rf, &rc);
            bool pattern = false;
            size_t n = read_back(path, NW * WLEN, &pattern);
            CHECK_MSG(rw == 0 && rf == 0 && rc == 0 && n == NW * WLEN && pattern,
                      "backend %d (ran %d), %s: write %d, flush %d, close %d, %zu bytes (of %d), "
                      "%s",
                      (int)backends[b], (int)used, names[files[f]], rw, rf, rc, n, NW * WLEN,
                      pattern ? "in place" : "not the pattern");
            if (backends[b] == PARX_IO_AUTO) {
                CHECK_MSG(used == PARX_IO_THREADS, "AUTO on FUSE ran backend %d", (int)used);
                CHECK_MSG(fuse_logged > 0, "AUTO on FUSE: the choice was not logged");
            }
        }
    parx_set_log(NULL, NULL);
    fs_stop();
}

/* EAGAIN (or EINTR) for STALL_MS, on every backend: every byte written
   once, in place, after a few dozen tries, not thousands (EINTR: written
   again at once, as long as it came, until a fault-injection review) */
static void stall_case(int err)
{
    FS_START();
    for (int b = 0; b < nbackends; b++) {
        stall_reset(err);
        const char *path = fs_path("stall");
        int rw, rf, rc;
        parx_io_backend used = write_all(path, backends[b], false, &rw, &rf, &rc);
        long tries = atomic_load(&stall->tries);
        bool pattern = false;
        size_t n = read_back(path, NW * WLEN, &pattern);
        CHECK_MSG(rw == 0 && rf == 0 && rc == 0 && n == NW * WLEN && pattern,
                  "backend %d (ran %d): write %d, flush %d, close %d, %zu bytes (of %d), %s",
                  (int)backends[b], (int)used, rw, rf, rc, n, NW * WLEN,
                  pattern ? "in place" : "not the pattern");
        CHECK_MSG(tries > 0 && tries <= STALL_MAX_TRIES,
                  "backend %d (ran %d): %ld writes answered %s in %d ms (at most %d: a "
                  "pause between tries)",
                  (int)backends[b], (int)used, tries, err == EINTR ? "EINTR" : "EAGAIN", STALL_MS,
                  STALL_MAX_TRIES);
    }
    fs_stop();
}

static void test_stall(void)
{
    stall_case(EAGAIN);
}

static void test_stall_eintr(void)
{
    stall_case(EINTR);
}

/* EIO part-way: flush and close say so; the bytes before it are there */
static void test_eio(void)
{
    FS_START();
    for (int b = 0; b < nbackends; b++) {
        const char *path = fs_path("eio");
        int rw, rf, rc;
        write_all(path, backends[b], false, &rw, &rf, &rc);
        bool pattern = false;
        size_t n = read_back(path, EIO_AT / WLEN * WLEN, &pattern);
        CHECK_MSG((rw == 0 || rw == -EIO) && rf == -EIO && rc == -EIO &&
                      n >= EIO_AT / WLEN * WLEN && pattern,
                  "backend %d: write %d, flush %d, close %d, %zu bytes, %s", (int)backends[b], rw,
                  rf, rc, n, pattern ? "the pattern" : "not the pattern");
    }
    fs_stop();
}

/* .sync on a regular file whose fsync fails with EROFS (the file system
   went read-only after an error): not durable, so flush and close must
   say so. EROFS from fsync means "cannot be synced" only for a special
   file (pipe, socket, device). */
static void test_fsync_erofs(void)
{
    FS_START();
    for (int b = 0; b < nbackends; b++) {
        const char *path = fs_path("rofsync");
        int rw, rf, rc;
        write_all(path, backends[b], true, &rw, &rf, &rc);
        CHECK_MSG(rw == 0 && rf == -EROFS && rc == -EROFS,
                  "backend %d: write %d, flush %d (%s), close %d (%s)", (int)backends[b], rw, rf,
                  parx_strerror(rf), rc, parx_strerror(rc));
        /* without .sync, fsync is not called: no error */
        write_all(path, backends[b], false, &rw, &rf, &rc);
        CHECK_MSG(rw == 0 && rf == 0 && rc == 0,
                  "backend %d, no .sync: write %d, flush %d, close %d", (int)backends[b], rw, rf,
                  rc);
    }
    fs_stop();
}

/* Two writes, whose errors the file system gives out of order: the first
   (offset 0) is answered EAGAIN and then, tried again, EIO; the second
   (past ORDER_SPLIT), queued while the first is at the file system, fails
   with ENOSPC at once. On io_uring the second's error is reaped first.
   flush and close must return the error of the earlier write in the
   order they were queued, EIO, as the thread backend (writing one at a
   time) does: io_uring kept the first error reaped, ENOSPC, and never
   wrote the first write again. */
static int order_status[2];
static const unsigned char *order_bufs[2];
static void order_done(const void *buf, size_t size, int status, void *user)
{
    (void)size;
    (void)user;
    for (int i = 0; i < 2; i++)
        if (buf == order_bufs[i])
            order_status[i] = status;
}

static void test_error_order(void)
{
    FS_START();
    static unsigned char a[4096], b[4096];
    io_fill(a, sizeof a, SEED, 0);
    io_fill(b, sizeof b, SEED, ORDER_SPLIT);
    order_bufs[0] = a;
    order_bufs[1] = b;
    for (int k = 0; k < nbackends; k++) {
        atomic_store(&shared->order_queued, 0);
        atomic_store(&shared->order_first, 0);
        order_status[0] = order_status[1] = 12345;
        parx_writer *w = parx_writer_open(
            &(parx_writer_desc){
                .path = fs_path("order"), .depth = 4, .backend = backends[k], .done = order_done},
            NULL);
        REQUIRE(w != NULL);
        parx_io_backend used = parx_writer_backend(w, NULL);
        int r1 = parx_writer_write(w, a, sizeof a);
        int r2 = parx_writer_write_at(w, b, sizeof b, ORDER_SPLIT);
        atomic_store(&shared->order_queued, 1);
        int rf = parx_writer_flush(w);
        int rc = parx_writer_close(w);
        CHECK_MSG(r1 == 0 && r2 == 0 && rf == -EIO && rc == -EIO && order_status[0] == -EIO &&
                      (order_status[1] == -ENOSPC || order_status[1] == -EIO),
                  "backend %d (ran %d): write %d, write_at %d, flush %d (%s), close %d (%s), "
                  ".done %d then %d",
                  (int)backends[k], (int)used, r1, r2, rf, parx_strerror(rf), rc, parx_strerror(rc),
                  order_status[0], order_status[1]);
    }
    fs_stop();
}

static int sq_refuse, sq_refused; /* see submit_hook */
#ifndef PARX_NO_URING
/* The writer's io_uring submissions come here. While sq_refuse is set (to
   an error) each is refused with it: -EBUSY as the kernel refuses one when
   it is short of resources, and the writes queued meanwhile wait in the
   SQ; -EPERM as a seccomp filter refuses io_uring_enter, and the ring
   fails. (Only the test's thread submits: the io_uring writer runs on its
   caller's.) */
static int submit_hook(struct io_uring *ring)
{
    if (sq_refuse) {
        sq_refused++;
        return sq_refuse;
    }
    return io_uring_submit(ring);
}
#endif
static bool has_uring; /* a writer on PARX_IO_URING opened in main */

/* io_uring: writes that wait in the submission queue (the kernel refused a
   submission for want of resources while other writes were in flight) when
   a write in flight fails. They must not be written: their SQEs, which
   cannot be taken back, become NOPs, and .done gets the error, once each.
   Made to happen: the server holds the write at offset 0 of "gate" until
   the gate opens, then fails it with ENOSPC; meanwhile the hook refuses
   every submission, so the two writes queued after it stay in the SQ. */
enum { GATE_N = 3, GATE_LEN = 4096 };
static int gate_status[GATE_N], gate_calls[GATE_N];
static const unsigned char *gate_bufs[GATE_N];
static void gate_done(const void *buf, size_t size, int status, void *user)
{
    (void)size;
    (void)user;
    for (int i = 0; i < GATE_N; i++)
        if (buf == gate_bufs[i]) {
            gate_status[i] = status;
            gate_calls[i]++;
        }
}

/* Before a gate case: nothing held, the gate shut, nothing counted. */
static void gate_reset(bool again)
{
    atomic_store(&shared->gate_held, 0);
    atomic_store(&shared->gate_open, 0);
    atomic_store(&shared->gate_again, again);
    atomic_store(&shared->gate_zero, 0);
    atomic_store(&shared->gate_far, 0);
    sq_refuse = sq_refused = 0;
}

/* A gate case's start: .done's records cleared, the gate reset, and an
   io_uring writer on "gate" that reports to gate_done (NULL if none). */
static parx_writer *gate_writer(bool again)
{
    for (int i = 0; i < GATE_N; i++) {
        gate_status[i] = 12345;
        gate_calls[i] = 0;
    }
    gate_reset(again);
    return parx_writer_open(
        &(parx_writer_desc){
            .path = fs_path("gate"), .depth = 4, .backend = PARX_IO_URING, .done = gate_done},
        NULL);
}

/* The server has the write at offset 0 of "gate" (waits up to FS_WAIT_MS) */
static bool gate_wait_held(void)
{
    for (int i = 0; i < FS_WAIT_MS && !atomic_load(&shared->gate_held); i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    return atomic_load(&shared->gate_held);
}

static void test_stopped_in_sq(void)
{
    if (!has_uring) /* or built without it (PARX_NO_URING) */
        PT_SKIP("no io_uring writer here");
    FS_START();
    static unsigned char bufs[GATE_N][GATE_LEN];
    for (int i = 0; i < GATE_N; i++) {
        io_fill(bufs[i], GATE_LEN, SEED, (uint64_t)i * ORDER_SPLIT);
        gate_bufs[i] = bufs[i];
    }
    parx_writer *w = gate_writer(false);
    REQUIRE(w != NULL);
    int r[GATE_N];
    r[0] = parx_writer_write_at(w, bufs[0], GATE_LEN, 0);
    bool held = gate_wait_held();
    sq_refuse = -EBUSY;
    for (int i = 1; i < GATE_N; i++)
        r[i] = parx_writer_write_at(w, bufs[i], GATE_LEN, (uint64_t)i * ORDER_SPLIT);
    sq_refuse = 0;
    int refused = sq_refused;
    atomic_store(&shared->gate_open, 1);
    int rf = parx_writer_flush(w);
    int rc = parx_writer_close(w);
    CHECK_MSG(held && r[0] == 0 && r[1] == 0 && r[2] == 0 && refused >= GATE_N - 1,
              "the first write %s at the server; writes %d, %d, %d; %d submissions refused "
              "(want %d or more)",
              held ? "held" : "never", r[0], r[1], r[2], refused, GATE_N - 1);
    CHECK_MSG(rf == -ENOSPC && rc == -ENOSPC, "flush %d (%s), close %d (%s): want ENOSPC", rf,
              parx_strerror(rf), rc, parx_strerror(rc));
    for (int i = 0; i < GATE_N; i++)
        CHECK_MSG(gate_calls[i] == 1 && gate_status[i] == -ENOSPC,
                  "write %d: .done called %d times, status %d (want once, ENOSPC)", i,
                  gate_calls[i], gate_status[i]);
    CHECK_MSG(atomic_load(&shared->gate_far) == 0,
              "the writes queued after the failed one reached the file system %d times",
              atomic_load(&shared->gate_far));
    fs_stop();
}

/* io_uring: a ring that refuses work (io_uring_enter -EPERM: a seccomp
   filter on the thread that called) stops the writer, and the write it
   refused stays the caller's. Its SQE stays in the SQ, where no submit
   may send it: at HEAD, when a write in flight came back short, the
   submit of its rest sent the refused write too -- with whatever the
   caller had put in its buffer since -- and told .done 0 for it. Made to
   happen: the server holds write A at offset 0 while the hook refuses B
   with -EPERM; then A is answered EAGAIN (a_fails false: A is not tried
   again, and ends with the ring's EPERM) or ENOSPC (a_fails: A's own
   error, the earliest write's, is what flush and close report; they
   said EPERM, the later refusal's, until a fault-injection review).
   Neither may be sent again. */
static void ring_refused(bool a_fails)
{
    if (!has_uring) /* or built without it (PARX_NO_URING) */
        PT_SKIP("no io_uring writer here");
    FS_START();
    static unsigned char a[GATE_LEN], b[GATE_LEN];
    io_fill(a, sizeof a, SEED, 0);
    io_fill(b, sizeof b, SEED, ORDER_SPLIT);
    gate_bufs[0] = a;
    gate_bufs[1] = b;
    gate_bufs[2] = NULL;
    parx_writer *w = gate_writer(!a_fails);
    REQUIRE(w != NULL);
    int ra = parx_writer_write_at(w, a, sizeof a, 0);
    bool held = gate_wait_held();
    sq_refuse = -EPERM;
    int rb = parx_writer_write_at(w, b, sizeof b, ORDER_SPLIT);
    sq_refuse = 0;
    memset(b, 'X', sizeof b); /* B's buffer is the caller's again */
    atomic_store(&shared->gate_open, 1);
    int rf = parx_writer_flush(w);
    int rc = parx_writer_close(w);
    CHECK_MSG(held && ra == 0 && rb == -EPERM,
              "A %s at the server; write A %d, write B %d (want -EPERM)", held ? "held" : "never",
              ra, rb);
    int want = a_fails ? -ENOSPC : -EPERM;
    CHECK_MSG(rf == want && rc == want, "flush %d (%s), close %d (%s): want %s", rf,
              parx_strerror(rf), rc, parx_strerror(rc), parx_strerror(want));
    CHECK_MSG(gate_calls[0] == 1 && gate_status[0] == want,
              "A (%s): .done called %d times, status %d (want once, %s)",
              a_fails ? "failed" : "to be tried again, after the ring failed", gate_calls[0],
              gate_status[0], parx_strerror(want));
    CHECK_MSG(atomic_load(&shared->gate_zero) == 1, "A reached the file system %d times (want 1)",
              atomic_load(&shared->gate_zero));
    CHECK_MSG(gate_calls[1] == 0,
              "B (refused, its buffer handed back): .done called %d times, "
              "status %d",
              gate_calls[1], gate_status[1]);
    CHECK_MSG(atomic_load(&shared->gate_far) == 0,
              "the refused write reached the file system %d times", atomic_load(&shared->gate_far));
    fs_stop();
}

static void test_ring_refused(void)
{
    ring_refused(false);
}

static void test_ring_refused_after_error(void)
{
    ring_refused(true);
}

int main(void)
{
    fs_main_start("wfaults");
    void *om =
        mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (om == MAP_FAILED) {
        stall_unmap();
        io_dir_remove();
        pt_skip_all("cannot map a shared page for the order and gate tests");
    }
    shared = (fs_shared *)om;
    backends[nbackends++] = PARX_IO_THREADS;
    backends[nbackends++] = PARX_IO_AUTO;
#ifndef PARX_NO_URING
    {
        parx_writer *w = parx_writer_open(
            &(parx_writer_desc){.path = io_path("probe"), .backend = PARX_IO_URING}, NULL);
        if (w) {
            backends[nbackends++] = PARX_IO_URING;
            has_uring = true;
            parx_writer_close(w);
        }
        unlink(io_path("probe"));
    }
#endif
    run_guarded("short writes resumed, EAGAIN and EINTR written again: every byte once",
                test_resumed);
    run_guarded("EAGAIN that goes on: tried again after a pause, every byte once", test_stall);
    run_guarded("EINTR that goes on: tried again, after a pause once 8 come in a row",
                test_stall_eintr);
    run_guarded("EIO part-way: from flush and close, the bytes before it written", test_eio);
    run_guarded(".sync: fsync's EROFS on a regular file is an error, not 'nothing to sync'",
                test_fsync_erofs);
    run_guarded(
        "errors that come back out of order: the earlier write's, EIO, from flush and close",
        test_error_order);
    run_guarded("io_uring: writes still in the SQ when an earlier one fails are not written",
                test_stopped_in_sq);
    run_guarded("io_uring: a ring that refuses work writes nothing more, the refused write never",
                test_ring_refused);
    run_guarded("io_uring: a write in flight that fails after the ring refused a later one: "
                "its own error, not the refusal's, from flush and close",
                test_ring_refused_after_error);
    munmap(shared, sizeof *shared);
    stall_unmap();
    io_dir_remove();
    return pt_done_testing();
}
#endif
