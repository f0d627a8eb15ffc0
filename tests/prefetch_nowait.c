/* SPDX-License-Identifier: MIT */
/* tests/prefetch_nowait.c -- the thread backend's consumer, helping with a
   chunk it does not need yet, reads only what the page cache holds
   (preadv2 with RWF_NOWAIT). A file system may answer such a read with 0
   rather than EAGAIN when it would have to wait; the consumer took that 0
   for the end of the file, and the stream ended there, silently short.
   No file system does that on request, so this unit implements parx itself
   with PARX__PF_PREADV2 pointing at a preadv2 that answers every RWF_NOWAIT
   read with 0. Every byte must still come, in order: a blocking read of the
   reader decides where the file ends.
   A file system may also refuse RWF_NOWAIT (EOPNOTSUPP): the consumer then
   stops helping with that file's chunks, and only that file's: the next
   file, elsewhere, is helped with again. The same hook refuses it for the
   first of two files. */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/uio.h>

static ssize_t nowait_says_zero(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags);
static ssize_t slow_reader(int fd, void *buf, size_t n, off_t off);
#define PARX__PF_PREADV2 nowait_says_zero
#define PARX__PF_PREAD   slow_reader
#define PARX_IMPLEMENTATION
#include "parx.h"
#include "io_common.h"

static atomic_long nowait_reads; /* RWF_NOWAIT reads answered 0 */

/* With refused_ino set, RWF_NOWAIT reads of that file fail with EOPNOTSUPP
   and those of any other file are made, not answered 0. */
static atomic_ulong refused_ino;
static atomic_long refusals;     /* RWF_NOWAIT reads refused */
static atomic_long helped_after; /* RWF_NOWAIT reads of another file after a refusal */

/* With slow_us set, the reader thread's reads (not the consumer's) take
   that long more: the consumer, finding the chunk it needs still being
   read, then helps with the next nearly every time. */
static pthread_t consumer;
static atomic_int slow_us;

static ssize_t slow_reader(int fd, void *buf, size_t n, off_t off)
{
    int us = atomic_load(&slow_us);
    if (us > 0 && !pthread_equal(pthread_self(), consumer))
        usleep((useconds_t)us);
    return pread(fd, buf, n, off);
}

static ssize_t nowait_says_zero(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
    unsigned long refused = atomic_load(&refused_ino);
    if ((flags & RWF_NOWAIT) && refused != 0) {
        struct stat st;
        if (fstat(fd, &st) == 0 && (unsigned long)st.st_ino == refused) {
            atomic_fetch_add(&refusals, 1);
            errno = EOPNOTSUPP;
            return -1;
        }
        if (atomic_load(&refusals) > 0)
            atomic_fetch_add(&helped_after, 1);
    } else if (flags & RWF_NOWAIT) {
        atomic_fetch_add(&nowait_reads, 1);
        return 0;
    }
    return preadv2(fd, iov, iovcnt, off, flags);
}

/* Read a warm file on the thread backend, one reader and several buffers,
   with no compute between chunks, so that the consumer often finds the head
   with the reader and helps with the next chunk; until it has, for at most
   200 passes. Every pass must bring every byte. */
static void test_nowait_zero_is_not_the_end(void)
{
    const char *path = io_path("nowait.dat");
    const uint64_t size = 4 * 1000 * 1000 + 123;
    REQUIRE(io_make_file(path, size, 51));
    const char *paths[1] = {path};
    uint32_t seed = 51;
    int passes = 0, failures = 0;
    for (; passes < 200 && (passes < 3 || atomic_load(&nowait_reads) == 0); passes++) {
        parx_prefetch *pf = parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                                     .npaths = 1,
                                                                     .chunk_size = 16384,
                                                                     .depth = 8,
                                                                     .threads = 1,
                                                                     .backend = PARX_IO_THREADS},
                                               NULL);
        REQUIRE(pf != NULL);
        uint64_t next_off[1] = {0};
        io_result r = io_drain(pf, &seed, next_off);
        if (!(r.rc == 0 && r.bad == 0 && r.bytes == size) && failures++ < 3)
            pt_diag("pass %d: rc %d (%s), %d bad chunks, %llu of %llu bytes", passes, r.rc,
                    parx_strerror(r.rc), r.bad, (unsigned long long)r.bytes,
                    (unsigned long long)size);
        parx_prefetch_close(pf);
    }
    pt_diag("%d passes, %ld RWF_NOWAIT reads answered 0", passes, atomic_load(&nowait_reads));
    CHECK_EQ(failures, 0);
    unlink(path);
    if (atomic_load(&nowait_reads) == 0)
        PT_SKIP("the consumer never helped with a chunk in %d passes", passes);
}

/* Read pf to its end, as io_drain but checking only each chunk's place
   (each file's chunks in order, with no gap) and its first and last bytes:
   a consumer that outruns its (slowed) reader, so that it finds the head
   still being read, and helps. */
static io_result drain_quickly(parx_prefetch *pf, const uint32_t *seeds, uint64_t *next_off)
{
    io_result r = {0, 0, 0, IO_FNV_INIT, 0};
    parx_chunk c;
    while ((r.rc = parx_prefetch_next(pf, &c)) == 1) {
        const unsigned char *d = (const unsigned char *)c.data;
        bool ok = d != NULL && c.size > 0 && c.index == r.chunks && c.offset == next_off[c.file] &&
                  d[0] == io_byte(seeds[c.file], c.offset) &&
                  d[c.size - 1] == io_byte(seeds[c.file], c.offset + c.size - 1);
        if (!ok && r.bad++ < 3)
            pt_diag("bad chunk %llu: file %u offset %llu size %zu", (unsigned long long)c.index,
                    c.file, (unsigned long long)c.offset, c.size);
        next_off[c.file] = c.offset + c.size;
        r.bytes += c.size;
        r.chunks++;
        parx_prefetch_release(pf, &c);
    }
    return r;
}

/* Two warm files on the thread backend, read quickly by byte ranges that
   take turns between them, the reader slowed; RWF_NOWAIT refused for the first. Once the
   consumer met that refusal, it must go on helping with the second file's
   chunks (it stopped helping with any, for the rest of the prefetcher) and
   never ask the first again; every pass must bring every byte of both, in
   order. Until a pass shows the help, for at most 200 passes. */
static void test_refusal_is_per_file(void)
{
    enum { SPAN = 256 * 1024, SPANS = 16, CHUNK = 16384 };
    const char *a = io_path("refusing.dat"), *b = io_path("other.dat");
    char a_path[1024];
    snprintf(a_path, sizeof a_path, "%s", a);
    const uint64_t size = (uint64_t)SPAN * SPANS;
    REQUIRE(io_make_file(a_path, size, 52));
    REQUIRE(io_make_file(b, size, 53));
    struct stat st;
    REQUIRE(stat(a_path, &st) == 0);
    atomic_store(&refused_ino, (unsigned long)st.st_ino);
    consumer = pthread_self();
    atomic_store(&slow_us, 200);
    const char *paths[2] = {a_path, b};
    const uint32_t seeds[2] = {52, 53};
    parx_io_range ranges[2 * SPANS];
    for (int i = 0; i < 2 * SPANS; i++)
        ranges[i] = (parx_io_range){(uint64_t)(i / 2) * SPAN, SPAN, (uint32_t)(i % 2)};
    int passes = 0, refused_passes = 0, failures = 0;
    long most_refusals = 0;
    bool helped = false;
    for (; passes < 200 && !helped; passes++) {
        atomic_store(&refusals, 0);
        atomic_store(&helped_after, 0);
        parx_prefetch *pf = parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                                     .npaths = 2,
                                                                     .ranges = ranges,
                                                                     .nranges = 2 * SPANS,
                                                                     .chunk_size = CHUNK,
                                                                     .depth = 8,
                                                                     .threads = 1,
                                                                     .backend = PARX_IO_THREADS},
                                               NULL);
        REQUIRE(pf != NULL);
        uint64_t next_off[2] = {0, 0};
        io_result r = drain_quickly(pf, seeds, next_off);
        parx_prefetch_close(pf);
        if (!(r.rc == 0 && r.bad == 0 && r.bytes == 2 * size) && failures++ < 3)
            pt_diag("pass %d: rc %d (%s), %d bad chunks, %llu of %llu bytes", passes, r.rc,
                    parx_strerror(r.rc), r.bad, (unsigned long long)r.bytes,
                    (unsigned long long)(2 * size));
        long n = atomic_load(&refusals);
        if (n > most_refusals)
            most_refusals = n;
        if (n > 0) {
            refused_passes++;
            helped = atomic_load(&helped_after) > 0;
        }
    }
    atomic_store(&refused_ino, 0);
    atomic_store(&slow_us, 0);
    pt_diag("%d passes, %d with a refusal; the other file helped with after one: %s", passes,
            refused_passes, helped ? "yes" : "no");
    CHECK_EQ(failures, 0);
    CHECK_MSG(most_refusals <= 1,
              "the refusing file was asked again after its refusal: %ld "
              "refusals in one pass",
              most_refusals);
    unlink(a_path);
    unlink(b);
    if (!helped && refused_passes < 10)
        PT_SKIP("the consumer met a refusal in only %d of %d passes", refused_passes, passes);
    CHECK_MSG(helped,
              "in %d passes that met a refusal, the consumer never helped with the other "
              "file's chunks after it",
              refused_passes);
}

int main(void)
{
    io_dir("prefetch-nowait");
    run_guarded("RWF_NOWAIT answered with 0: not the end of the file",
                test_nowait_zero_is_not_the_end);
    run_guarded("RWF_NOWAIT refused for one file: the consumer still helps with the next",
                test_refusal_is_per_file);
    io_dir_remove();
    return pt_done_testing();
}
