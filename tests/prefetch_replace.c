/* SPDX-License-Identifier: MIT */
/* tests/prefetch_replace.c -- a file replaced (a new file renamed over its
   path, as programs publish files) while the prefetcher opens it with
   .direct. The prefetcher opens such a file twice by its path, buffered and
   with O_DIRECT; a rename between the two opens gave it descriptors of two
   different files, and the chunks mixed them: the 4 KiB-aligned middles
   from the new file, the unaligned heads and tails from the old one,
   silently. No test can time a rename into that gap, so this unit
   implements parx itself with PARX__PF_OPEN pointing at an open that
   renames the new file over the path just before the O_DIRECT open. Every
   byte must come from one file: the one opened first. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>

static int open_replacing(const char *path, int flags, unsigned mode);
#define PARX__PF_OPEN open_replacing
#define PARX_IMPLEMENTATION
#include "parx.h"
#include "io_common.h"

static char old_path[1024], new_path[1024];
static int replaced; /* renames made by the hook */

static int open_replacing(const char *path, int flags, unsigned mode)
{
    if ((flags & O_DIRECT) && strcmp(path, old_path) == 0 && rename(new_path, old_path) == 0)
        replaced++;
    return parx__io_open(path, flags, mode);
}

enum { CHUNK = 65536, OLD_SEED = 61, NEW_SEED = 62 };
static const uint64_t size = 5 * CHUNK + 1000;

static void test_replaced_between_opens(void)
{
    snprintf(old_path, sizeof old_path, "%s", io_path("old.dat"));
    snprintf(new_path, sizeof new_path, "%s", io_path("new.dat"));
    REQUIRE(io_make_file(old_path, size, OLD_SEED));
    int probe = open(old_path, O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (probe < 0) {
        unlink(old_path);
        PT_SKIP("this file system refuses O_DIRECT: %s", strerror(errno));
    }
    close(probe);
    parx_io_backend backends[2] = {PARX_IO_THREADS};
    int nbackends = 1;
#ifndef PARX_NO_URING
    if (io_uring_works())
        backends[nbackends++] = PARX_IO_URING;
#endif
    /* the whole file, and a range whose chunks start off the 4 KiB grid
       (a buffered head, an O_DIRECT middle, a buffered tail each) */
    const parx_io_range range[1] = {{100, size - 300, 0}};
    for (int b = 0; b < nbackends; b++)
        for (int ranged = 0; ranged < 2; ranged++) {
            REQUIRE(io_make_file(old_path, size, OLD_SEED));
            REQUIRE(io_make_file(new_path, size, NEW_SEED));
            const char *paths[1] = {old_path};
            int before = replaced;
            parx_prefetch *pf =
                parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                         .npaths = 1,
                                                         .ranges = ranged ? range : NULL,
                                                         .nranges = ranged ? 1 : 0,
                                                         .chunk_size = CHUNK,
                                                         .depth = 3,
                                                         .direct = true,
                                                         .backend = backends[b]},
                                   NULL);
            REQUIRE(pf != NULL);
            uint32_t seed = OLD_SEED;
            io_result r = io_drain(pf, &seed, NULL);
            parx_prefetch_close(pf);
            uint64_t from = ranged ? 100 : 0, len = ranged ? size - 300 : size;
            CHECK_MSG(replaced == before + 1, "the hook did not replace the file");
            CHECK_MSG(r.rc == 0 && r.bad == 0 && r.bytes == len &&
                          r.fnv == io_fnv_pattern(IO_FNV_INIT, OLD_SEED, from, len),
                      "%s, %s: rc %d (%s), %d chunks not of the file opened first, %llu of %llu "
                      "bytes",
                      backends[b] == PARX_IO_URING ? "io_uring" : "threads",
                      ranged ? "a range" : "whole", r.rc, parx_strerror(r.rc), r.bad,
                      (unsigned long long)r.bytes, (unsigned long long)len);
        }
    unlink(old_path);
    unlink(new_path);
}

int main(void)
{
    io_dir("prefetch-replace");
    run_guarded("a file renamed over between the buffered and the O_DIRECT open: one file's bytes",
                test_replaced_between_opens);
    io_dir_remove();
    return pt_done_testing();
}
