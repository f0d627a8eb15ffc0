/* examples/10_prefetch_reduce.c -- a chunked map-reduce over a large file,
   with the reading of the next chunks overlapped with the computing of
   this one.

   Teaches: parx_prefetch together with parx_reduce. The program reads a
   file in chunks of 4 MiB and reduces each chunk on the thread pool (a
   hash of every 8-byte word, summed, and the mean of the hashes as numbers
   in [0, 1), a floating-point sum; a file whose size is not a multiple of
   8 ends in a partial word, which is padded with zeros, and the program
   says so). It does it two ways:
   - read, then compute: pread a chunk, reduce it, pread the next... The
     pool sits idle while the disk works and the disk idles while the pool
     computes: the time is io + compute.
   - prefetch: parx_prefetch_next hands over a chunk that was read while
     the previous ones were being reduced (4 reads in flight), and
     parx_prefetch_release gives its buffer back for the next read. The
     time approaches max(io, compute). This pass runs on pools of 1, 2, ...
     threads, up to the CPUs this process may use: 1 thread is the
     sequential time, and each row prints its speedup and efficiency
     (speedup / threads).
   Every pass must give the same checksum and the same bits of the mean
   (exit 1 if not): parx_reduce cuts each chunk into leaves by the grain
   alone and adds them in a fixed tree, and chunks are added in file order,
   so the floating-point mean is bitwise identical on any number of
   threads. Before each pass the file is dropped from the page cache
   (fdatasync, then posix_fadvise(POSIX_FADV_DONTNEED)), so every pass
   really reads the disk; on a file system that ignores the advice they all
   read from memory, and the program says so in its timings only.
   parx_prefetch_backend says which backend read (io_uring where the kernel
   allows it, threads where it does not, e.g. in a container whose seccomp
   profile refuses io_uring) and why.

   Build (from examples/):
       cc -O2 -pthread -I.. 10_prefetch_reduce.c ../parx.c -luring -o prefetch_reduce
       (without liburing: add -DPARX_NO_URING and leave out -luring)
   Run:
       ./prefetch_reduce [MiB] [file]    (default 512 MiB of a file it writes in
                                          the current directory under a name of
                                          its own, prefetch_reduce-XXXXXX.dat,
                                          and removes, also when stopped by
                                          SIGINT, SIGTERM or SIGHUP; a file given
                                          is read whole, MiB unused)
       ./prefetch_reduce --bench [MiB] [file]
                                         one line per pass for bench/run:
                                         "prefetch_reduce <backend> <threads> <seconds>"

   Expected output (times vary with the disk and the CPUs; the checksums and
   the bits of the mean do not):
       512 MiB in chunks of 4 MiB; prefetch: io_uring: the kernel allows it; buffers registered
         pass                threads  checksum            mean of the hashes       time  speedup  efficiency
         read, then compute        2  0x19cc400756cbd3c9  0.49996516258676132   1.234 s
         prefetch                  1  0x19cc400756cbd3c9  0.49996516258676132   1.350 s     1.00        1.00
         prefetch                  2  0x19cc400756cbd3c9  0.49996516258676132   0.701 s     1.93        0.96
       prefetch on 2 threads: 1.76x the speed of read, then compute; same bits on every pass
*/
#define _GNU_SOURCE /* posix_fadvise, pread, fdatasync with -std=c11 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "parx.h"

#define CHUNK ((size_t)4 << 20)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* The map: hash each 8-byte word (with its position) a few rounds; the
   reduce: sums, of the hashes (integers: the same whatever the order) and of
   the hashes as doubles in [0, 1) (floating point: the order matters, and
   parx_reduce keeps it fixed). */
typedef struct chunk_job {
    const unsigned char *data;
    uint64_t first_word; /* the index in the file of data's first word */
} chunk_job;

typedef struct sums {
    uint64_t hash; /* the checksum */
    double u;      /* the hashes' sum as numbers in [0, 1) */
} sums;

static void leaf(void *ctx, size_t b, size_t e, void *acc)
{
    const chunk_job *j = (const chunk_job *)ctx;
    sums *a = acc;
    for (size_t i = b; i < e; i++) {
        uint64_t w;
        memcpy(&w, j->data + 8 * i, 8);
        uint64_t h = w ^ (j->first_word + i);
        for (int r = 0; r < 6; r++)
            h = mix(h);
        a->hash += h;
        a->u += (double)(h >> 11) * 0x1p-53;
    }
}

static void combine(void *ctx, void *acc, const void *other)
{
    (void)ctx;
    sums *a = acc;
    const sums *o = other;
    a->hash += o->hash;
    a->u += o->u;
}

/* Reduce one chunk into *total: its whole words on the pool, then the
   partial word a file whose size is not a multiple of 8 ends in (only its
   last chunk can have one: the others are CHUNK bytes), padded with zeros.
   Chunks come in file order, so the additions to total happen in one order.
   Returns 0, or parx_reduce's error (then total is left as it was). */
static int reduce_chunk(parx_pool *pool, const void *data, size_t size, uint64_t offset,
                        sums *total)
{
    chunk_job j = {(const unsigned char *)data, offset / 8};
    sums zero = {0, 0.0}, s;
    int rc = parx_reduce(pool, 0, size / 8, 0, sizeof s, &zero, leaf, combine, &j, &s);
    if (rc != 0)
        return rc; /* s was not written */
    if (size % 8 != 0) {
        unsigned char last[8] = {0};
        memcpy(last, j.data + size / 8 * 8, size % 8);
        chunk_job tail = {last, j.first_word + size / 8};
        leaf(&tail, 0, 1, &s);
    }
    total->hash += s.hash;
    total->u += s.u;
    return 0;
}

/* Read up to n bytes at offset: fewer only at the end of the file (pread
   may stop short of n anywhere; this carries on). Returns the bytes read,
   or -errno. */
static ssize_t read_full(int fd, unsigned char *buf, size_t n, uint64_t offset)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, buf + got, n - got, (off_t)(offset + got));
        if (k == 0)
            break; /* the end of the file */
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)k;
    }
    return (ssize_t)got;
}

static void drop_cache(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    fdatasync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
}

/* One prefetch pass over path, reduced on pool; why[] gets which backend read. */
static int prefetch_pass(parx_pool *pool, const char *path, sums *total, char *why, size_t size)
{
    const char *paths[1] = {path};
    int err = 0;
    parx_prefetch *pf = parx_prefetch_open(
        &(parx_prefetch_desc){.paths = paths, .npaths = 1, .chunk_size = CHUNK, .depth = 4}, &err);
    if (!pf) {
        fprintf(stderr, "parx_prefetch_open: %s\n", parx_strerror(err));
        return err;
    }
    parx_chunk c;
    int rc;
    while ((rc = parx_prefetch_next(pf, &c)) == 1) {
        int reduced = reduce_chunk(pool, c.data, c.size, c.offset, total);
        parx_prefetch_release(pf, &c);
        if (reduced != 0) {
            fprintf(stderr, "parx_reduce: %s\n", parx_strerror(reduced));
            rc = reduced;
            break;
        }
    }
    if (rc < 0 && parx_prefetch_error(pf)) /* the prefetcher's error (not parx_reduce's) */
        fprintf(stderr, "%s\n", parx_prefetch_error(pf));
    const char *reason;
    parx_prefetch_backend(pf, &reason);
    snprintf(why, size, "%s", reason); /* a copy: reason lives in pf */
    parx_prefetch_close(pf);
    return rc;
}

/* The file this program wrote, removed if a signal stops it: a file of
   the size asked for (512 MiB by default) is not to be left behind. */
static char made_path[] = "prefetch_reduce-XXXXXX.dat";

static void remove_and_die(int sig)
{
    unlink(made_path); /* async-signal-safe, as are the two below */
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(int argc, char **argv)
{
    const char *prog = argv[0];
    int bench = argc > 1 && !strcmp(argv[1], "--bench");
    argc -= bench, argv += bench;
    long mib = 512;
    if (argc > 1) { /* the whole argument a number: not "abc" or "16x" */
        char *end;
        errno = 0;
        mib = strtol(argv[1], &end, 10);
        if (end == argv[1] || *end || errno) mib = 0;
    }
    const char *path = argc > 2 ? argv[2] : made_path;
    int made = argc <= 2;
    if (argc > 3 || mib < 1 || mib > 1 << 20) {
        fprintf(stderr, "usage: %s [--bench] [MiB] [file]\n", prog);
        return 2;
    }
    uint64_t size = (uint64_t)mib << 20;
    /* Everything main makes, NULL or -1 until made: `out` undoes what there
       is (and removes the file if this program wrote it). */
    int status = 1, fd = -1, wrote = 0;
    parx_pool *pool = NULL;
    unsigned char *buf = malloc(CHUNK);
    if (!buf) {
        fprintf(stderr, "out of memory\n");
        goto out;
    }
    if (made) { /* write the input: a known pattern, under a new name (never over a file) */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = remove_and_die;
        sigemptyset(&sa.sa_mask);
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGINT), sigaddset(&block, SIGTERM), sigaddset(&block, SIGHUP);
        sigprocmask(SIG_BLOCK, &block, &old); /* no signal between the name and its handler */
        fd = mkstemps(made_path, 4);
        if (fd >= 0) {
            wrote = 1;
            sigaction(SIGINT, &sa, NULL), sigaction(SIGTERM, &sa, NULL);
            sigaction(SIGHUP, &sa, NULL);
        }
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (fd < 0) {
            perror("prefetch_reduce-XXXXXX.dat");
            goto out;
        }
        for (uint64_t at = 0; at < size; at += CHUNK) {
            for (size_t i = 0; i < CHUNK; i += 8) {
                uint64_t w = mix(at + i);
                memcpy(buf + i, &w, 8);
            }
            ssize_t n = write(fd, buf, CHUNK);
            if (n != (ssize_t)CHUNK) {
                if (n < 0)
                    perror("write");
                else
                    fprintf(stderr, "write: %zd of %zu bytes (disk full?)\n", n, CHUNK);
                goto out;
            }
        }
        int rc_close = close(fd);
        fd = -1;
        if (rc_close != 0) {
            perror("close");
            goto out;
        }
    }
    pool = parx_pool_create(NULL);
    if (!pool) {
        fprintf(stderr, "parx_pool_create: %s\n", parx_strerror(-errno));
        goto out;
    }
    int cpus = parx_pool_size(pool);

    /* 1. read, then compute, on every CPU */
    drop_cache(path);
    double t0 = now();
    sums ref = {0, 0.0};
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        perror(path);
        goto out;
    }
    uint64_t at = 0;
    for (;;) {
        ssize_t n = read_full(fd, buf, CHUNK, at);
        if (n < 0) {
            fprintf(stderr, "%s: read at offset %llu: %s\n", path, (unsigned long long)at,
                    strerror((int)-n));
            goto out;
        }
        if (n == 0)
            break;
        int rc = reduce_chunk(pool, buf, (size_t)n, at, &ref);
        if (rc != 0) {
            fprintf(stderr, "parx_reduce: %s\n", parx_strerror(rc));
            goto out;
        }
        at += (uint64_t)n;
    }
    close(fd);
    fd = -1;
    size = at; /* a file of the caller's is as long as it is, whatever MiB said */
    double t_sync = now() - t0;
    parx_pool_destroy(pool);
    pool = NULL;
    if (size == 0) {
        fprintf(stderr, "%s is empty: nothing to reduce\n", path);
        goto out;
    }
    uint64_t words = (size + 7) / 8; /* a last partial word counts as one */
    if (size % 8 != 0 && !bench)
        printf("the file's size is not a multiple of 8: its last %d bytes are read as one word,"
               " padded with zeros\n",
               (int)(size % 8));

    /* 2. prefetch: the next chunks are read while this one is reduced, on
       1 thread (the sequential time), 2, ... up to every CPU */
    double t1 = 0, t_all = 0;
    int rc = 0, same = 1;
    for (int w = 1; w <= cpus && rc >= 0; w++) {
        pool = parx_pool_create(&(parx_pool_desc){.threads = w});
        if (!pool) {
            fprintf(stderr, "parx_pool_create: %s\n", parx_strerror(-errno));
            goto out;
        }
        drop_cache(path);
        sums got = {0, 0.0};
        char why[160] = "";
        t0 = now();
        rc = prefetch_pass(pool, path, &got, why, sizeof why);
        double t = now() - t0;
        parx_pool_destroy(pool);
        pool = NULL;
        if (rc < 0)
            break; /* prefetch_pass said why */
        /* compare bits, not values: that is the promise */
        same = same && got.hash == ref.hash && memcmp(&got.u, &ref.u, sizeof got.u) == 0;
        if (w == 1) {
            t1 = t;
            if (bench)
                printf("prefetch_reduce read-then-compute %d %.6f\n", cpus, t_sync);
            else
                printf("%.4g MiB in chunks of %zu MiB; prefetch: %s\n"
                       "  %-18s  %7s  %-18s  %-19s  %8s  %7s  %10s\n"
                       "  %-18s  %7d  0x%016llx  %.17f  %6.3f s\n",
                       (double)size / (1 << 20), CHUNK >> 20, why, "pass", "threads", "checksum",
                       "mean of the hashes", "time", "speedup", "efficiency", "read, then compute",
                       cpus, (unsigned long long)ref.hash, ref.u / (double)words, t_sync);
        }
        if (w == cpus)
            t_all = t;
        if (bench)
            printf("prefetch_reduce %s %d %.6f\n", w == 1 ? "sequential" : "threads", w, t);
        else
            printf("  %-18s  %7d  0x%016llx  %.17f  %6.3f s  %7.2f  %10.2f\n", "prefetch", w,
                   (unsigned long long)got.hash, got.u / (double)words, t, t1 / t, t1 / t / w);
    }
    if (!bench && rc >= 0)
        printf("prefetch on %d threads: %.2fx the speed of read, then compute; %s\n", cpus,
               t_sync / t_all, same ? "same bits on every pass" : "results DIFFER");
    if (rc < 0 || !same)
        fprintf(stderr, "checksums or means differ, or the read failed\n");
    else
        status = 0;
out:
    if (fd >= 0)
        close(fd);
    parx_pool_destroy(pool); /* NULL is ignored */
    free(buf);
    if (wrote)
        unlink(path);
    return status;
}
