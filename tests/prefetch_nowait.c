/* SPDX-License-Identifier: MIT */
/* tests/prefetch_nowait.c -- the thread backend's consumer, helping with a
   chunk it does not need yet, reads only what the page cache holds
   (preadv2 with RWF_NOWAIT). A file system may answer such a read with 0
   rather than EAGAIN when it would have to wait; the consumer took that 0
   for the end of the file, and the stream ended there, silently short.
   No file system does that on request, so this unit implements parx itself
   with PARX__PF_PREADV2 pointing at a preadv2 that answers every RWF_NOWAIT
   read with 0. Every byte must still come, in order: a blocking read of the
   reader decides where the file ends. */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <sys/uio.h>

static ssize_t nowait_says_zero(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags);
#define PARX__PF_PREADV2 nowait_says_zero
#define PARX_IMPLEMENTATION
#include "parx.h"
#include "io_common.h"

static atomic_long nowait_reads; /* RWF_NOWAIT reads answered 0 */

static ssize_t nowait_says_zero(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
    if (flags & RWF_NOWAIT) {
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

int main(void)
{
    io_dir("prefetch-nowait");
    run_guarded("RWF_NOWAIT answered with 0: not the end of the file",
                test_nowait_zero_is_not_the_end);
    io_dir_remove();
    return pt_done_testing();
}
