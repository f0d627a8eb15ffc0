/* tests/prefetch_faults.c -- faults from a real file system: a FUSE file
   system made for this test (libfuse3, run in a forked child, mounted in
   the test's scratch directory) serves
     data      1000003 bytes of a known pattern
     short     the same bytes, at most 1500 per read (direct_io, so the
               kernel hands the short reads to the reader as they are)
     eio       the same bytes, but a read touching byte 600000 fails: EIO
     nodirect  the same bytes; opening it with O_DIRECT fails: EINVAL
     dioread   the same bytes; opening it with O_DIRECT works, but every
               read through such a descriptor fails: EOPNOTSUPP
   and the prefetcher must resume short reads, report EIO on the chunk where
   it happened (draining the reads in flight before close frees the
   buffers: ASan and valgrind watch that), and read `nodirect` and
   `dioread` buffered, saying so through the log hook. Both backends, buffered and O_DIRECT.
   Also served:
     cutN      (N = 0..7) the same bytes, until the read of chunk 2 (64 KiB
               chunks) comes: it waits until chunk 3 has been read whole,
               then the file is cut to 100 bytes into chunk 2 (reads past
               that give 0, as after a truncate); direct_io
   so that a read finishing before the cut is behind one that finishes
   after it: the prefetcher must end the file at the cut and not hand out
   the chunk read before it (a gap in the stream). The server runs
   several threads, so that both reads wait in it at once. And
     stall     the same bytes, but every read fails with EAGAIN (or EINTR)
               for STALL_MS from the first one (direct_io); the tries counted
   which must be read whole, and on the thread backend with a pause
   between tries, not a spin (at HEAD it tried again at once: 10000-22000
   tries in the 200 ms). On io_uring the EAGAIN never reaches parx: the
   kernel reissues the read itself, at once (as many tries either way), so
   only the bytes are checked there. And
     stuck     the same bytes in its first 64 KiB, and EAGAIN (or EINTR)
               for ever past them: a caller that took the first chunk and closes
               must get close to return (on the thread backend: at HEAD
               the readers of the next chunks tried for ever, and close
               waited for them; io_uring's close waits for the kernel's
               own tries, which never end)
   Skipped, with the reason, without libfuse3 at build time, without
   /dev/fuse, or where mounting is not allowed. */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
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

enum { FILE_SIZE = 1000003, SEED = 31, EIO_AT = 600000, SHORT_MAX = 1500 };
static const char *names[] = {"data", "short", "eio", "nodirect", "dioread"};

enum { CUT_FILES = 8, CUT_CHUNK = 65536, CUT_AT = 2 * CUT_CHUNK + 100 };
enum { W_STALL = 5 + CUT_FILES, W_STUCK };

static int which(const char *path)
{
    for (int i = 0; i < 5; i++)
        if (path[0] == '/' && strcmp(path + 1, names[i]) == 0)
            return i;
    if (strncmp(path, "/cut", 4) == 0 && path[4] >= '0' && path[4] < '0' + CUT_FILES &&
        path[5] == 0)
        return 5 + path[4] - '0';
    if (strcmp(path, "/stall") == 0)
        return W_STALL;
    if (strcmp(path, "/stuck") == 0)
        return W_STUCK;
    return -1;
}

/* The server's state of each cutN (its threads share it): chunk 3 was
   read whole; the file is cut at CUT_AT. */
static pthread_mutex_t cut_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cut_cv = PTHREAD_COND_INITIALIZER;
static bool cut_chunk3_read[CUT_FILES], cut_done[CUT_FILES];

/* cutN: how many of `size` bytes at `off` the file holds now */
static size_t cut_read(int n, size_t size, off_t off)
{
    pthread_mutex_lock(&cut_mu);
    if (!cut_done[n] && off >= 2 * CUT_CHUNK && off < 3 * CUT_CHUNK) {
        /* chunk 2: wait (10 s at most) for chunk 3, then cut */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        while (!cut_chunk3_read[n])
            if (pthread_cond_timedwait(&cut_cv, &cut_mu, &until) != 0) {
                CHILD_DIAG("cut%d: chunk 3 was not read beside chunk 2: nothing tested", n);
                break;
            }
        cut_done[n] = true;
    }
    if (cut_done[n])
        size = off >= CUT_AT ? 0 : (uint64_t)off + size > CUT_AT ? CUT_AT - (size_t)off : size;
    else if (off >= 3 * CUT_CHUNK && off < 4 * CUT_CHUNK)
        cut_chunk3_read[n] = true; /* the bytes are served as the lock drops */
    pthread_cond_broadcast(&cut_cv);
    pthread_mutex_unlock(&cut_mu);
    return size;
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
    if (which(path) < 0)
        return -ENOENT;
    st->st_mode = S_IFREG | 0444;
    st->st_nlink = 1;
    st->st_size = FILE_SIZE;
    return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
    int w = which(path);
    if (w < 0)
        return -ENOENT;
    if ((fi->flags & O_ACCMODE) != O_RDONLY)
        return -EACCES;
    if (w == 3 && (fi->flags & O_DIRECT))
        return -EINVAL; /* a file system that refuses O_DIRECT */
    if (w == 1 || w == 2 || w >= 5)
        fi->direct_io = 1; /* no page cache: every read reaches us, short ones stay short */
    fi->fh = (uint64_t)(fi->flags & O_DIRECT); /* dioread: reads through O_DIRECT fail */
    return 0;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
    int w = which(path);
    if (w < 0)
        return -ENOENT;
    if (w == 4 && fi->fh)
        return -EOPNOTSUPP;
    if (off >= FILE_SIZE)
        return 0;
    if ((uint64_t)off + size > FILE_SIZE)
        size = FILE_SIZE - (size_t)off;
    if (w == 1 && size > SHORT_MAX)
        size = SHORT_MAX;
    if (w == 2 && (uint64_t)off <= EIO_AT && EIO_AT < (uint64_t)off + size)
        return -EIO;
    if (w == W_STUCK && off >= 65536) /* EAGAIN, or EINTR: see stuck_close */
        return atomic_load(&stall->err) == EINTR ? -EINTR : -EAGAIN;
    if (w == W_STALL) {
        int e = stall_now();
        if (e)
            return -e;
    } else if (w >= 5 && w < 5 + CUT_FILES) {
        size = cut_read(w - 5, size, off);
    }
    io_fill((unsigned char *)buf, size, SEED, (uint64_t)off);
    return (int)size;
}

static const struct fuse_operations fs_ops = {
    .getattr = fs_getattr,
    .open = fs_open,
    .read = fs_read,
};

static parx_io_backend backends[3];
static int nbackends;

static parx_prefetch *open_one(const char *path, parx_io_backend b, bool direct, int depth)
{
    const char *paths[1] = {path};
    return parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                    .npaths = 1,
                                                    .chunk_size = 65536,
                                                    .depth = depth,
                                                    .direct = direct,
                                                    .backend = b},
                              NULL);
}

#define FS_START()                                                                                 \
    char why[200];                                                                                 \
    if (!fs_start(&fs_ops, NULL, NULL, why, sizeof why)) {                                         \
        PT_SKIP("%s", why);                                                                        \
    }

static void test_plain(void)
{
    FS_START();
    uint32_t seed = SEED;
    for (int b = 0; b < nbackends; b++) {
        parx_prefetch *pf = open_one(fs_path("data"), backends[b], false, 4);
        REQUIRE(pf != NULL);
        uint64_t off[1] = {0};
        io_result r = io_drain(pf, &seed, off);
        CHECK(r.rc == 0 && r.bad == 0 && r.bytes == FILE_SIZE);
        parx_prefetch_close(pf);
    }
    fs_stop();
}

static void test_short_reads(void)
{
    FS_START();
    uint32_t seed = SEED;
    for (int b = 0; b < nbackends; b++)
        for (int direct = 0; direct < 2; direct++) {
            parx_prefetch *pf = open_one(fs_path("short"), backends[b], direct, 4);
            REQUIRE(pf != NULL);
            uint64_t off[1] = {0};
            io_result r = io_drain(pf, &seed, off);
            CHECK_MSG(r.rc == 0 && r.bad == 0 && r.bytes == FILE_SIZE &&
                          r.chunks == (FILE_SIZE + 65535) / 65536,
                      "backend %d direct %d: rc %d, %d bad, %llu bytes in %llu chunks",
                      (int)backends[b], direct, r.rc, r.bad, (unsigned long long)r.bytes,
                      (unsigned long long)r.chunks);
            parx_prefetch_close(pf);
        }
    fs_stop();
}

/* EAGAIN (or EINTR) for STALL_MS, on both backends, buffered and O_DIRECT:
   every byte read; on the thread backend after a few dozen tries, not
   thousands (see stall_state; at depth 4 up to 5 read at once, the readers
   and the consumer: 56-113 tries here). io_uring's tries are the kernel's:
   see the top of the file. EINTR was tried again at once for as long as it
   came, thousands of times, until a fault-injection review. */
static void stall_case(int err)
{
    FS_START();
    uint32_t seed = SEED;
    for (int b = 0; b < nbackends; b++)
        for (int direct = 0; direct < 2; direct++) {
            stall_reset(err);
            parx_prefetch *pf = open_one(fs_path("stall"), backends[b], direct, 4);
            REQUIRE(pf != NULL);
            uint64_t off[1] = {0};
            io_result r = io_drain(pf, &seed, off);
            long tries = atomic_load(&stall->tries);
            CHECK_MSG(r.rc == 0 && r.bad == 0 && r.bytes == FILE_SIZE,
                      "backend %d direct %d: rc %d, %d bad, %llu bytes", (int)backends[b],
                      direct, r.rc, r.bad, (unsigned long long)r.bytes);
            CHECK_MSG(tries > 0 && (tries <= STALL_MAX_TRIES || backends[b] == PARX_IO_URING),
                      "backend %d direct %d: %ld reads answered %s in %d ms (at most %d: a "
                      "pause between tries)",
                      (int)backends[b], direct, tries, err == EINTR ? "EINTR" : "EAGAIN",
                      STALL_MS, STALL_MAX_TRIES);
            parx_prefetch_close(pf);
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

/* EAGAIN (or EINTR) for ever past the first chunk, thread backend: the
   first chunk comes, and close returns (in a child, under alarm: at HEAD
   it never did; with EINTR, not until a review of this session's diff) */
static void stuck_close(int err)
{
    FS_START();
    stall_reset(err); /* the answer of "stuck" too */
    for (int direct = 0; direct < 2; direct++) {
        pid_t pid = xfork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            alarm(10);
            parx_prefetch *pf = open_one(fs_path("stuck"), PARX_IO_THREADS, direct, 4);
            if (!pf)
                _exit(3);
            parx_chunk c;
            int rc = parx_prefetch_next(pf, &c);
            if (rc != 1 || c.offset != 0 || c.size != 65536)
                _exit(4);
            struct timespec ts = {0, 50 * 1000000L}; /* the readers at the next ones */
            nanosleep(&ts, NULL);
            parx_prefetch_close(pf);
            _exit(0);
        }
        CHECK_MSG(expect_child(pid, 0, 0),
                  "%s, direct %d: 3: no prefetcher, 4: not the first chunk, SIGALRM (14): close "
                  "did not return",
                  err == EINTR ? "EINTR" : "EAGAIN", direct);
    }
    fs_stop();
}

static void test_stuck_close(void)
{
    stuck_close(EAGAIN);
}

static void test_stuck_close_eintr(void)
{
    stuck_close(EINTR);
}

static void test_eio(void)
{
    FS_START();
    uint32_t seed = SEED;
    const uint64_t before = EIO_AT / 65536 * 65536; /* the chunks before the failing one */
    for (int b = 0; b < nbackends; b++)
        for (int direct = 0; direct < 2; direct++)
            for (int depth = 1; depth <= 8; depth *= 2) {
                parx_prefetch *pf = open_one(fs_path("eio"), backends[b], direct, depth);
                REQUIRE(pf != NULL);
                io_result r = io_drain(pf, &seed, NULL);
                CHECK_MSG(r.rc == -EIO && r.bad == 0 && r.bytes == before,
                          "backend %d direct %d depth %d: rc %d, %d bad, %llu bytes",
                          (int)backends[b], direct, depth, r.rc, r.bad,
                          (unsigned long long)r.bytes);
                const char *msg = parx_prefetch_error(pf);
                char where[64];
                snprintf(where, sizeof where, "offset %llu", (unsigned long long)before);
                CHECK_MSG(msg && strstr(msg, fs_path("eio")) && strstr(msg, where), "message: %s",
                          msg ? msg : "(null)");
                parx_chunk c;
                CHECK_EQ(parx_prefetch_next(pf, &c), -EIO);
                parx_prefetch_close(pf); /* with reads past the error still in flight */
            }
    fs_stop();
}

static int refused_logged, reads_refused_logged;
static void on_log(parx_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level == PARX_LOG_INFO && strstr(msg, "O_DIRECT refused") && strstr(msg, "nodirect"))
        refused_logged++;
    if (level == PARX_LOG_INFO && strstr(msg, "O_DIRECT reads refused") && strstr(msg, "dioread"))
        reads_refused_logged++;
}

static void test_direct_refused(void)
{
    FS_START();
    uint32_t seed = SEED;
    parx_set_log(on_log, NULL);
    for (int b = 0; b < nbackends; b++) {
        refused_logged = 0;
        parx_prefetch *pf = open_one(fs_path("nodirect"), backends[b], true, 4);
        REQUIRE(pf != NULL);
        uint64_t off[1] = {0};
        io_result r = io_drain(pf, &seed, off);
        CHECK(r.rc == 0 && r.bad == 0 && r.bytes == FILE_SIZE);
        CHECK_EQ(refused_logged, 1);
        parx_prefetch_close(pf);
    }
    parx_set_log(NULL, NULL);
    fs_stop();
}

/* O_DIRECT accepted at open, every O_DIRECT read refused with EOPNOTSUPP
   (as EINVAL would be): read buffered, logged once; not an error. Both
   backends: io_uring takes EOPNOTSUPP from its nonblocking attempt for
   EAGAIN and tries again, after a poll that a FUSE file answers at once,
   so such a read spins in the kernel (before parx read one block of a FUSE
   file at open to find out: over 100 s, 61 s and 39 s in three runs). */
static void test_direct_reads_refused(void)
{
    FS_START();
    uint32_t seed = SEED;
    parx_set_log(on_log, NULL);
    for (int b = 0; b < nbackends; b++) {
        reads_refused_logged = 0;
        parx_prefetch *pf = open_one(fs_path("dioread"), backends[b], true, 4);
        REQUIRE(pf != NULL);
        uint64_t off[1] = {0};
        io_result r = io_drain(pf, &seed, off);
        CHECK_MSG(r.rc == 0 && r.bad == 0 && r.bytes == FILE_SIZE,
                  "backend %d: rc %d (%s), %d bad, %llu bytes", (int)backends[b], r.rc,
                  parx_strerror(r.rc), r.bad, (unsigned long long)r.bytes);
        CHECK_EQ(reads_refused_logged, 1);
        parx_prefetch_close(pf);
    }
    parx_set_log(NULL, NULL);
    fs_stop();
}

/* A file cut while it is read, with chunk 3 read whole before the cut and
   chunk 2 read after it: the file ends at the cut (chunks 0 and 1, then
   100 bytes of chunk 2), then the next file of the list is read whole.
   Chunk 3 must not follow (it did: 64 KiB after a gap). Both backends,
   the thread one with two readers (so that chunks 2 and 3 are read at
   once; io_uring's reads go to its workers side by side). */
static void test_cut_between_reads(void)
{
    FS_START();
    const char *data = fs_path("data");
    uint32_t seeds[2] = {SEED, SEED};
    for (int b = 0; b < nbackends; b++) {
        char cut[32];
        snprintf(cut, sizeof cut, "cut%d", b);
        const char *paths[2] = {fs_path(cut), data};
        parx_prefetch *pf = parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                                     .npaths = 2,
                                                                     .chunk_size = CUT_CHUNK,
                                                                     .depth = 4,
                                                                     .threads = 2,
                                                                     .backend = backends[b]},
                                               NULL);
        REQUIRE(pf != NULL);
        uint64_t next_off[2] = {0, 0};
        io_result r = io_drain(pf, seeds, next_off);
        CHECK_MSG(r.rc == 0 && r.bad == 0 && next_off[0] == CUT_AT && next_off[1] == FILE_SIZE &&
                      r.bytes == CUT_AT + FILE_SIZE,
                  "backend %d: rc %d, %d bad chunks, %llu bytes, the cut file to %llu (cut at %d)",
                  (int)backends[b], r.rc, r.bad, (unsigned long long)r.bytes,
                  (unsigned long long)next_off[0], CUT_AT);
        parx_prefetch_close(pf);
    }
    fs_stop();
}

int main(void)
{
    fs_main_start("faults");
    backends[nbackends++] = PARX_IO_THREADS;
#ifndef PARX_NO_URING
    const char *p[1] = {"/"};
    parx_prefetch *pf = parx_prefetch_open(
        &(parx_prefetch_desc){.paths = p, .npaths = 1, .backend = PARX_IO_URING}, NULL);
    if (pf)
        backends[nbackends++] = PARX_IO_URING;
    parx_prefetch_close(pf);
#endif
    run_guarded("a FUSE file read whole", test_plain);
    run_guarded("short reads are resumed", test_short_reads);
    run_guarded("EIO on the chunk where it happened, reads in flight drained", test_eio);
    run_guarded("O_DIRECT refused: read buffered, logged", test_direct_refused);
    run_guarded("O_DIRECT reads refused with EOPNOTSUPP: read buffered, logged",
                test_direct_reads_refused);
    run_guarded("a file cut between the reads of two chunks ends at the cut, with no gap",
                test_cut_between_reads);
    run_guarded("EAGAIN that goes on: read again after a pause, every byte", test_stall);
    run_guarded("EINTR that goes on: read again, after a pause once 8 come in a row",
                test_stall_eintr);
    run_guarded("EAGAIN for ever past the first chunk: close returns (thread backend)",
                test_stuck_close);
    run_guarded("EINTR for ever past the first chunk: close returns (thread backend)",
                test_stuck_close_eintr);
    stall_unmap();
    io_dir_remove();
    return pt_done_testing();
}
#endif
