/* SPDX-License-Identifier: MIT */
/*
    bench/bench_io.c -- parx_prefetch against a read-then-compute loop.

        bench_io io file=PATH mode=warm|cold|direct [mib=2048] [chunk_kib=1024]
                    [depth=4] [reps=2] [ratios=0.2,1,2]

    One pass reads the whole file in chunks of chunk_kib and runs a compute
    step on each chunk, on the calling thread. It is timed
      - io-only:       the reads alone: a pread loop ("sync"), parx_prefetch
                       on io_uring ("uring") and on its thread backend
                       ("threads"), each just taking and releasing chunks;
      - compute-only:  the compute step on every chunk, no I/O;
      - combined:      read-then-compute (pread a chunk, compute it, ...)
                       against prefetch + compute on each backend,
    at compute/io ratios given by `ratios`: the compute step is calibrated so
    that compute-only takes ratio x the sync loop's io-only time.
    Modes: warm (the file in the page cache: read once first), cold (the
    file dropped from the page cache before each pass: fdatasync +
    POSIX_FADV_DONTNEED, and /proc/sys/vm/drop_caches when writable),
    direct (O_DIRECT, which bypasses the cache). The file is created (a
    pattern, fsynced) when it does not have the asked size.
    Every timing is the best (minimum) of `reps` passes, the variants taken
    in turns (see best_of). Output: RES lines
    (see bench.h): RES io IMPL VARIANT MODE 1 time_s SECONDS. With
    BENCH_IO_PASSES set, every pass's time goes to stderr too.
*/
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "parx.h"

static const char *file;
static uint64_t size;
static size_t chunk;
static int depth, reps;
static int mode_direct, mode_cold;
static const char *mode;
static unsigned char *buf; /* the sync loop's buffer, on huge pages where the system allows */
static volatile uint64_t sink;

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* The compute step: `iters` rounds of a hash over the chunk's words. */
static uint64_t compute(const unsigned char *p, size_t n, uint64_t iters)
{
    size_t words = n / 8, k = 0;
    uint64_t h = 0;
    if (words == 0)
        return 0;
    for (uint64_t j = 0; j < iters; j++) {
        uint64_t w;
        memcpy(&w, p + 8 * k, 8);
        h = mix(h ^ w);
        if (++k == words)
            k = 0;
    }
    return h;
}

static void make_file(void)
{
    struct stat st;
    if (stat(file, &st) == 0 && (uint64_t)st.st_size == size)
        return;
    fprintf(stderr, "bench_io: writing %llu MiB to %s\n", (unsigned long long)(size >> 20), file);
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        bench_die("cannot create %s", file);
    unsigned char *b = malloc(1 << 20);
    for (uint64_t at = 0; at < size; at += 1 << 20) {
        for (size_t i = 0; i < (1 << 20); i += 8) {
            uint64_t w = mix(at + i);
            memcpy(b + i, &w, 8);
        }
        size_t n = size - at < (1 << 20) ? (size_t)(size - at) : (size_t)1 << 20;
        if (write(fd, b, n) != (ssize_t)n)
            bench_die("write failed");
    }
    fsync(fd);
    close(fd);
    free(b);
}

/* Before a pass: the cache state the mode asks for. */
static void prepare(void)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        bench_die("cannot open %s", file);
    if (mode_cold || mode_direct) {
        fdatasync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        int dc = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
        if (dc >= 0) {
            sync();
            if (write(dc, "1", 1) != 1) { /* not allowed here: fadvise did what it could */
            }
            close(dc);
        }
    } else { /* warm: read it all once */
        for (uint64_t at = 0; at < size;) {
            ssize_t n = pread(fd, buf, chunk, (off_t)at);
            if (n <= 0)
                break;
            at += (uint64_t)n;
        }
    }
    close(fd);
}

/* read-then-compute (iters < 0: io only) */
static double pass_sync(int64_t iters)
{
    prepare();
    uint64_t t0 = bench_now_ns();
    int fd = open(file, O_RDONLY | O_CLOEXEC | (mode_direct ? O_DIRECT : 0));
    if (fd < 0)
        bench_die("cannot open %s", file);
    uint64_t h = 0;
    for (uint64_t at = 0; at < size;) {
        ssize_t n = pread(fd, buf, chunk, (off_t)at);
        if (n <= 0)
            break;
        if (iters >= 0)
            h += compute(buf, (size_t)n, (uint64_t)iters);
        at += (uint64_t)n;
    }
    close(fd);
    sink = h;
    return (double)(bench_now_ns() - t0) * 1e-9;
}

static double pass_prefetch(parx_io_backend backend, int64_t iters)
{
    prepare();
    uint64_t t0 = bench_now_ns();
    const char *paths[1] = {file};
    int err = 0;
    parx_prefetch *pf = parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                                 .npaths = 1,
                                                                 .chunk_size = chunk,
                                                                 .depth = depth,
                                                                 .direct = mode_direct,
                                                                 .backend = backend},
                                           &err);
    if (!pf)
        bench_die("parx_prefetch_open: %s", parx_strerror(err));
    parx_chunk c;
    uint64_t h = 0, got = 0;
    int rc;
    while ((rc = parx_prefetch_next(pf, &c)) == 1) {
        if (iters >= 0)
            h += compute(c.data, c.size, (uint64_t)iters);
        got += c.size;
        parx_prefetch_release(pf, &c);
    }
    if (rc < 0 || got != size)
        bench_die("prefetch: %s, %llu bytes", parx_strerror(rc), (unsigned long long)got);
    parx_prefetch_close(pf);
    sink = h;
    return (double)(bench_now_ns() - t0) * 1e-9;
}

static double pass_compute(int64_t iters)
{
    uint64_t t0 = bench_now_ns(), h = 0;
    for (uint64_t at = 0; at < size; at += chunk)
        h += compute(buf, size - at < chunk ? (size_t)(size - at) : chunk, (uint64_t)iters);
    sink = h;
    return (double)(bench_now_ns() - t0) * 1e-9;
}

enum { SYNC, URING, THREADS, COMPUTE };
static const char *const variant_name[] = {"sync", "uring", "threads", "compute"};
static int show_passes; /* BENCH_IO_PASSES is set */

static double pass(int what, int64_t iters)
{
    return what == SYNC      ? pass_sync(iters)
           : what == URING   ? pass_prefetch(PARX_IO_URING, iters)
           : what == THREADS ? pass_prefetch(PARX_IO_THREADS, iters)
                             : pass_compute(iters);
}

/* The best (minimum) of `reps` passes of each of the n variants in `what`,
   taken in turns, each round starting one variant later (A B C, B C A,
   C A B, ...), rather than one variant's passes in a row: the disk here (a
   virtio disk cached by the host) switches between a fast and a slow state
   for seconds at a time, and turns give every variant the same chances of
   the fast one, and of following any other. */
static void best_of(const int *what, int n, int64_t iters, double *out)
{
    for (int i = 0; i < n; i++)
        out[i] = 1e30;
    for (int r = 0; r < reps; r++)
        for (int k = 0; k < n; k++) {
            int i = (r + k) % n;
            double t = pass(what[i], iters);
            if (show_passes)
                fprintf(stderr, "bench_io: pass %d of %s: %.4f s\n", r, variant_name[what[i]], t);
            if (t < out[i])
                out[i] = t;
        }
}

static void res(const char *impl, const char *variant, double secs)
{
    printf("RES\tio\t%s\t%s\t%s\t1\ttime_s\t%.4f\n", impl, variant, mode, secs);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    file = bench_arg_str(argc, argv, "file", NULL);
    mode = bench_arg_str(argc, argv, "mode", "warm");
    size = (uint64_t)bench_arg_long(argc, argv, "mib", 2048) << 20;
    chunk = (size_t)bench_arg_long(argc, argv, "chunk_kib", 1024) << 10;
    depth = (int)bench_arg_long(argc, argv, "depth", 4);
    reps = (int)bench_arg_long(argc, argv, "reps", 2);
    const char *ratios = bench_arg_str(argc, argv, "ratios", "0.2,1,2");
    show_passes = getenv("BENCH_IO_PASSES") != NULL;
    if (!file || size == 0 || chunk == 0 || reps < 1)
        bench_die("usage: bench_io io file=PATH mode=warm|cold|direct [mib=N] [chunk_kib=N] ...");
    mode_direct = strcmp(mode, "direct") == 0;
    mode_cold = strcmp(mode, "cold") == 0;
    if (!mode_direct && !mode_cold && strcmp(mode, "warm") != 0)
        bench_die("mode must be warm, cold or direct");
    /* The pread loop's buffer on transparent huge pages, as parx_prefetch's
       are: into 4 KiB pages a 1 MiB O_DIRECT read is split (more segments
       than the virtio disk takes in one request) and runs at less than half
       the speed here, which would make the loop a weak baseline. */
    size_t huge = (size_t)2 << 20, blen = (chunk + huge - 1) & ~(huge - 1);
    if (posix_memalign((void **)&buf, huge, blen) != 0)
        bench_die("out of memory");
    madvise(buf, blen, MADV_HUGEPAGE);
    make_file();
    memset(buf, 1, chunk);

    const char *paths[1] = {file};
    parx_prefetch *probe = parx_prefetch_open(
        &(parx_prefetch_desc){.paths = paths, .npaths = 1, .chunk_size = chunk, .depth = depth},
        NULL);
    const char *why = "?";
    int have_uring = probe && parx_prefetch_backend(probe, &why) == PARX_IO_URING;
    fprintf(stderr, "bench_io %s: PARX_IO_AUTO: %s\n", mode, why);
    parx_prefetch_close(probe);

    /* io only */
    int io_what[3] = {SYNC, THREADS, URING};
    int nv = have_uring ? 3 : 2;
    double t[4];
    best_of(io_what, nv, -1, t);
    for (int i = 0; i < nv; i++)
        res(variant_name[io_what[i]], "io-only", t[i]);
    double io_sync = t[0];

    /* the compute step's speed: iterations per second */
    uint64_t t0 = bench_now_ns();
    sink = compute(buf, chunk, 20000000);
    double per_iter = (double)(bench_now_ns() - t0) * 1e-9 / 20000000.0;
    uint64_t nchunks = (size + chunk - 1) / chunk;

    int all_what[4] = {COMPUTE, SYNC, THREADS, URING};
    for (const char *r = ratios; *r;) {
        double ratio = strtod(r, NULL);
        char name[32];
        snprintf(name, sizeof name, "r%g", ratio);
        int64_t iters = (int64_t)(ratio * io_sync / (double)nchunks / per_iter);
        best_of(all_what, nv + 1, iters, t);
        for (int i = 0; i < nv + 1; i++)
            res(variant_name[all_what[i]], name, t[i]);
        r = strchr(r, ',');
        if (!r)
            break;
        r++;
    }
    free(buf);
    return 0;
}
