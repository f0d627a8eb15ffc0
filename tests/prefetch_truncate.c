/* tests/prefetch_truncate.c -- a file truncated while the prefetcher reads
   it ends at its new size (or at what had been read before the cut, which
   the prefetcher cannot take back), with no error, no short chunk in the
   middle and no stale bytes; the next file of a list is then read whole.
   Deterministic: the caller holds a chunk while it truncates, and with
   .depth 2 at most one more chunk can have been read by then. A file of
   1 TiB (sparse) cut to 4 KiB stops there, not at its size at open. */
#define _GNU_SOURCE
#include "io_common.h"

enum { CHUNK = 65536 };
static const uint64_t file_size = 10 * CHUNK + 1000;

static parx_io_backend backends[3];
static int nbackends;

/* Read `paths` (the first is cut to `cut` once chunk 1 is in hand);
   returns what was delivered of each file. */
static void read_cutting(const char *const *paths, int npaths, const uint32_t *seeds, uint64_t cut,
                         parx_io_backend backend, bool direct, uint64_t *got, int *rc, int *bad)
{
    parx_prefetch *pf = parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                                 .npaths = (size_t)npaths,
                                                                 .chunk_size = CHUNK,
                                                                 .depth = 2,
                                                                 .direct = direct,
                                                                 .backend = backend},
                                           NULL);
    *rc = -1;
    *bad = 0;
    if (!pf)
        return;
    parx_chunk c;
    uint64_t expect[4] = {0, 0, 0, 0};
    for (int i = 0; i < npaths; i++)
        got[i] = 0;
    for (;;) {
        *rc = parx_prefetch_next(pf, &c);
        if (*rc != 1)
            break;
        if (c.file == 0 && c.index == 1 && truncate(paths[0], (off_t)cut) != 0)
            (*bad)++;
        if (c.offset != expect[c.file] || !io_matches(c.data, c.size, seeds[c.file], c.offset))
            (*bad)++;
        expect[c.file] = c.offset + c.size;
        got[c.file] += c.size;
        parx_prefetch_release(pf, &c);
    }
    parx_prefetch_close(pf);
}

/* Cut inside chunk 6, far beyond anything read before the cut: the file
   ends exactly at its new size. */
static void test_cut_ahead(void)
{
    const char *paths[1] = {io_path("cut.dat")};
    uint32_t seeds[1] = {5};
    const uint64_t cut = 6 * CHUNK + 5000;
    for (int b = 0; b < nbackends; b++)
        for (int direct = 0; direct < 2; direct++) {
            REQUIRE(io_make_file(paths[0], file_size, 5));
            uint64_t got[1];
            int rc, bad;
            read_cutting(paths, 1, seeds, cut, backends[b], direct, got, &rc, &bad);
            CHECK_MSG(rc == 0 && bad == 0 && got[0] == cut,
                      "backend %d direct %d: rc %d, %d bad, %llu bytes (cut at %llu)",
                      (int)backends[b], direct, rc, bad, (unsigned long long)got[0],
                      (unsigned long long)cut);
        }
    unlink(paths[0]);
}

/* Cut inside chunk 1, which the caller holds: chunk 2 was read before the
   cut or comes back empty; either way nothing after it. */
static void test_cut_behind(void)
{
    const char *paths[1] = {io_path("cut.dat")};
    uint32_t seeds[1] = {6};
    const uint64_t cut = CHUNK + 100;
    for (int b = 0; b < nbackends; b++)
        for (int direct = 0; direct < 2; direct++) {
            REQUIRE(io_make_file(paths[0], file_size, 6));
            uint64_t got[1];
            int rc, bad;
            read_cutting(paths, 1, seeds, cut, backends[b], direct, got, &rc, &bad);
            CHECK_MSG(rc == 0 && bad == 0 && (got[0] == 2 * CHUNK || got[0] == 3 * CHUNK),
                      "backend %d direct %d: rc %d, %d bad, %llu bytes", (int)backends[b], direct,
                      rc, bad, (unsigned long long)got[0]);
        }
    unlink(paths[0]);
}

/* The first of two files cut to nothing: the second is read whole. */
static void test_cut_in_list(void)
{
    const char *paths[2] = {io_path("a.dat"), io_path("b.dat")};
    uint32_t seeds[2] = {7, 8};
    for (int b = 0; b < nbackends; b++)
        for (int direct = 0; direct < 2; direct++) {
            REQUIRE(io_make_file(paths[0], file_size, 7));
            REQUIRE(io_make_file(paths[1], 3 * CHUNK + 3, 8));
            uint64_t got[2] = {0, 0};
            int rc, bad;
            read_cutting(paths, 2, seeds, 0, backends[b], direct, got, &rc, &bad);
            CHECK_MSG(rc == 0 && bad == 0 && (got[0] == 2 * CHUNK || got[0] == 3 * CHUNK) &&
                          got[1] == 3 * CHUNK + 3,
                      "backend %d direct %d: rc %d, %d bad, %llu + %llu bytes", (int)backends[b],
                      direct, rc, bad, (unsigned long long)got[0], (unsigned long long)got[1]);
        }
    unlink(paths[0]);
    unlink(paths[1]);
}

/* A huge (sparse) file, or a huge range of it, cut to one chunk once
   reading started: reading stops at the cut. It went on to the size the
   file had at open, one empty read per chunk (2^28 of them here, minutes
   to hours): in a child, under alarm(). */
static void test_cut_huge(void)
{
    const char *paths[1] = {io_path("huge.dat")};
    const uint64_t huge = (uint64_t)1 << 40;
    int fd = open(paths[0], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    int made = ftruncate(fd, (off_t)huge) == 0;
    close(fd);
    if (!made) {
        unlink(paths[0]);
        PT_SKIP("this file system has no room for a sparse 1 TiB file");
    }
    const parx_io_range range = {0, huge, 0};
    for (int b = 0; b < nbackends; b++)
        for (int by_range = 0; by_range < 2; by_range++) {
            fd = open(paths[0], O_WRONLY | O_CLOEXEC);
            REQUIRE(fd >= 0);
            made = ftruncate(fd, (off_t)huge) == 0;
            close(fd);
            REQUIRE(made);
            pid_t pid = xfork();
            REQUIRE(pid >= 0);
            if (pid == 0) {
                alarm(60);
                parx_prefetch *pf =
                    parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                             .npaths = 1,
                                                             .ranges = by_range ? &range : NULL,
                                                             .nranges = by_range ? 1 : 0,
                                                             .chunk_size = 4096,
                                                             .depth = 2,
                                                             .backend = backends[b]},
                                       NULL);
                parx_chunk c;
                int rc = pf ? parx_prefetch_next(pf, &c) : -1;
                uint64_t bytes = rc == 1 ? c.size : 0;
                int ok = rc == 1 && truncate(paths[0], 4096) == 0;
                if (rc == 1)
                    parx_prefetch_release(pf, &c);
                while (ok && (rc = parx_prefetch_next(pf, &c)) == 1) {
                    bytes += c.size;
                    parx_prefetch_release(pf, &c);
                }
                ok = ok && rc == 0 && (bytes == 4096 || bytes == 8192);
                if (!ok)
                    CHILD_DIAG("backend %d range %d: rc %d, %llu bytes", (int)backends[b],
                               by_range, rc, (unsigned long long)bytes);
                parx_prefetch_close(pf);
                _exit(ok ? 0 : 1);
            }
            expect_child(pid, 0, 0);
        }
    unlink(paths[0]);
}

int main(void)
{
    io_dir("truncate");
    backends[nbackends++] = PARX_IO_THREADS;
#ifndef PARX_NO_URING
    const char *p[1] = {"/"};
    parx_prefetch *pf = parx_prefetch_open(
        &(parx_prefetch_desc){.paths = p, .npaths = 1, .backend = PARX_IO_URING}, NULL);
    if (pf)
        backends[nbackends++] = PARX_IO_URING;
    parx_prefetch_close(pf);
#endif
    run_guarded("cut ahead of the reads: ends exactly at the new size", test_cut_ahead);
    run_guarded("cut behind the reads: ends after what was read", test_cut_behind);
    run_guarded("first file of a list cut to nothing: the next one whole", test_cut_in_list);
    run_guarded("a huge sparse file or range cut to one chunk: reading stops there",
                test_cut_huge);
    io_dir_remove();
    return pt_done_testing();
}
