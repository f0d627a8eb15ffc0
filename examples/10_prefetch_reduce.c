/* examples/10_prefetch_reduce.c -- a chunked map-reduce over a large file,
   with the reading of the next chunks overlapped with the computing of
   this one.

   Teaches: parx_prefetch together with parx_reduce. The program reads a
   file in chunks of 4 MiB and reduces each chunk on the thread pool (a
   hash of every 8-byte word, summed). It does it twice:
   - read, then compute: pread a chunk, reduce it, pread the next... The
     pool sits idle while the disk works and the disk idles while the pool
     computes: the time is io + compute.
   - prefetch: parx_prefetch_next hands over a chunk that was read while
     the previous ones were being reduced (4 reads in flight), and
     parx_prefetch_release gives its buffer back for the next read. The
     time approaches max(io, compute).
   The checksum of both passes must be identical (exit 1 if not). Before
   each pass the file is dropped from the page cache (fdatasync, then
   posix_fadvise(POSIX_FADV_DONTNEED)), so both really read the disk; on a
   file system that ignores the advice both read from memory, and the
   program says so in its timings only.
   parx_prefetch_backend says which backend read (io_uring where the kernel
   allows it, threads where it does not, e.g. in a container whose seccomp
   profile refuses io_uring) and why.

   Build (from examples/):
       cc -O2 -pthread -I.. 10_prefetch_reduce.c ../parx.c -luring -o prefetch_reduce
       (without liburing: add -DPARX_NO_URING and leave out -luring)
   Run:
       ./prefetch_reduce [MiB] [file]    (default 512 MiB of a file it writes in
                                          the current directory and removes)

   Expected output (times vary with the disk and the CPUs; the checksums do
   not):
       512 MiB in chunks of 4 MiB, reduced on 2 threads; prefetch: io_uring: the kernel allows it; buffers registered
       read, then compute   checksum 0x5b1c0f0e6c3d5e8a   1.234 s
       prefetch             checksum 0x5b1c0f0e6c3d5e8a   0.701 s   (1.76x)
*/
#define _GNU_SOURCE /* posix_fadvise, pread, fdatasync with -std=c11 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
   reduce: a sum, so the result does not depend on how chunks are cut. */
typedef struct chunk_job {
    const unsigned char *data;
    uint64_t first_word; /* the index in the file of data's first word */
} chunk_job;

static void leaf(void *ctx, size_t b, size_t e, void *acc)
{
    const chunk_job *j = (const chunk_job *)ctx;
    uint64_t s = 0;
    for (size_t i = b; i < e; i++) {
        uint64_t w;
        memcpy(&w, j->data + 8 * i, 8);
        uint64_t h = w ^ (j->first_word + i);
        for (int r = 0; r < 6; r++)
            h = mix(h);
        s += h;
    }
    *(uint64_t *)acc += s;
}

static void combine(void *ctx, void *acc, const void *other)
{
    (void)ctx;
    *(uint64_t *)acc += *(const uint64_t *)other;
}

/* Reduce one chunk (its size is a multiple of 8: the file's is). */
static uint64_t reduce_chunk(parx_pool *pool, const void *data, size_t size, uint64_t offset)
{
    chunk_job j = {(const unsigned char *)data, offset / 8};
    uint64_t zero = 0, sum = 0;
    parx_reduce(pool, 0, size / 8, 0, sizeof sum, &zero, leaf, combine, &j, &sum);
    return sum;
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

int main(int argc, char **argv)
{
    long mib = argc > 1 ? atol(argv[1]) : 512;
    const char *path = argc > 2 ? argv[2] : "prefetch_reduce.dat";
    int made = argc <= 2;
    if (mib < 1 || mib > 1 << 20) {
        fprintf(stderr, "usage: %s [MiB] [file]\n", argv[0]);
        return 2;
    }
    uint64_t size = (uint64_t)mib << 20;
    unsigned char *buf = malloc(CHUNK);
    if (!buf)
        return 1;
    if (made) { /* write the input: a known pattern */
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            perror(path);
            return 1;
        }
        for (uint64_t at = 0; at < size; at += CHUNK) {
            for (size_t i = 0; i < CHUNK; i += 8) {
                uint64_t w = mix(at + i);
                memcpy(buf + i, &w, 8);
            }
            if (write(fd, buf, CHUNK) != (ssize_t)CHUNK) {
                perror("write");
                return 1;
            }
        }
        close(fd);
    }
    parx_pool *pool = parx_pool_create(NULL);
    if (!pool)
        return 1;

    /* 1. read, then compute */
    drop_cache(path);
    double t0 = now();
    uint64_t sum1 = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        perror(path);
        return 1;
    }
    for (uint64_t at = 0;;) {
        ssize_t n = pread(fd, buf, CHUNK, (off_t)at);
        if (n <= 0)
            break;
        sum1 += reduce_chunk(pool, buf, (size_t)n, at);
        at += (uint64_t)n;
    }
    close(fd);
    double t_sync = now() - t0;

    /* 2. prefetch: the next chunks are read while this one is reduced */
    drop_cache(path);
    t0 = now();
    const char *paths[1] = {path};
    int err = 0;
    parx_prefetch *pf = parx_prefetch_open(
        &(parx_prefetch_desc){.paths = paths, .npaths = 1, .chunk_size = CHUNK, .depth = 4}, &err);
    if (!pf) {
        fprintf(stderr, "parx_prefetch_open: %s\n", parx_strerror(err));
        return 1;
    }
    uint64_t sum2 = 0;
    parx_chunk c;
    int rc;
    while ((rc = parx_prefetch_next(pf, &c)) == 1) {
        sum2 += reduce_chunk(pool, c.data, c.size, c.offset);
        parx_prefetch_release(pf, &c);
    }
    if (rc < 0)
        fprintf(stderr, "%s\n", parx_prefetch_error(pf));
    double t_pf = now() - t0;
    const char *why;
    parx_prefetch_backend(pf, &why);

    printf("%ld MiB in chunks of %zu MiB, reduced on %d threads; prefetch: %s\n", mib, CHUNK >> 20,
           parx_pool_size(pool), why);
    printf("read, then compute   checksum 0x%016llx   %.3f s\n", (unsigned long long)sum1, t_sync);
    printf("prefetch             checksum 0x%016llx   %.3f s   (%.2fx)\n", (unsigned long long)sum2,
           t_pf, t_sync / t_pf);
    parx_prefetch_close(pf);
    parx_pool_destroy(pool);
    free(buf);
    if (made)
        unlink(path);
    if (rc < 0 || sum1 != sum2) {
        printf("checksums differ or the read failed\n");
        return 1;
    }
    return 0;
}
