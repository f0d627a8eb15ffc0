/* SPDX-License-Identifier: MIT */
/* io_common.h -- helpers for the prefetcher and writer tests: files of a
   known pattern (byte x of a file is a function of its seed and x), reading
   a whole prefetch stream back and checking it, temporary directories.
   Test files live under $PARX_TEST_TMPDIR (default: the build directory's
   tmp, i.e. the current directory), never in /dev/shm, so the arena leak
   checks of shm_common.h stay meaningful. */
#ifndef PARX_TEST_IO_COMMON_H
#define PARX_TEST_IO_COMMON_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parx.h"
#include "shm_common.h"

/* byte x of the file with pattern `seed` */
static inline unsigned char io_byte(uint32_t seed, uint64_t x)
{
    uint64_t w = mix64(((uint64_t)seed << 40) ^ (x >> 3) ^ 0x1234567u);
    return (unsigned char)(w >> (8 * (x & 7)));
}

static inline void io_fill(unsigned char *buf, size_t n, uint32_t seed, uint64_t at)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = io_byte(seed, at + i);
}

/* 1 when buf holds the pattern of `seed` from offset `at` */
static inline int io_matches(const unsigned char *buf, size_t n, uint32_t seed, uint64_t at)
{
    for (size_t i = 0; i < n; i++)
        if (buf[i] != io_byte(seed, at + i))
            return 0;
    return 1;
}

/* FNV-1a, 64 bits: a checksum to compare streams by */
static inline uint64_t io_fnv(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3u;
    }
    return h;
}
#define IO_FNV_INIT 0xcbf29ce484222325u

/* A scratch directory for this test binary: ./io-<name>-<pid> in the
   current directory (meson runs tests in the build directory), or under
   $PARX_TEST_TMPDIR. */
static char io__dir[512];

static inline const char *io_dir(const char *name)
{
    const char *base = getenv("PARX_TEST_TMPDIR");
    snprintf(io__dir, sizeof io__dir, "%s/io-%s-%d", base && *base ? base : ".", name,
             (int)getpid());
    mkdir(io__dir, 0700);
    return io__dir;
}

/* remove the scratch directory and the files in it */
static inline void io_dir_remove(void)
{
    DIR *d = opendir(io__dir);
    if (!d)
        return;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", io__dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(io__dir);
}

/* A path in the scratch directory (8 rotating buffers). */
static inline const char *io_path(const char *file)
{
    static char buf[8][1024];
    static int next;
    char *b = buf[next];
    next = (next + 1) % 8;
    snprintf(b, 1024, "%s/%s", io__dir, file);
    return b;
}

/* Write a file of `size` bytes of pattern `seed`. 1 on success. */
static inline int io_make_file(const char *path, uint64_t size, uint32_t seed)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return 0;
    unsigned char *buf = (unsigned char *)malloc(1 << 20);
    int ok = buf != NULL;
    for (uint64_t at = 0; ok && at < size;) {
        size_t n = size - at < (1 << 20) ? (size_t)(size - at) : (size_t)1 << 20;
        io_fill(buf, n, seed, at);
        ok = xwrite(fd, buf, n);
        at += n;
    }
    free(buf);
    return close(fd) == 0 && ok;
}

/* What reading a whole stream gave. */
typedef struct io_result {
    int rc;          /* the last parx_prefetch_next result (0: the end) */
    uint64_t bytes;  /* bytes delivered */
    uint64_t chunks; /* chunks delivered */
    uint64_t fnv;    /* checksum of the bytes in delivery order */
    int bad;         /* chunks whose bytes, place or index were wrong */
} io_result;

/* Read pf to its end (or first error), checking every chunk against the
   pattern seeds[c.file] at c.offset. With `expect` (nfiles, offsets per
   file), also check chunks come in order with no gap: expect_off[file] is
   where the next chunk of that file must start (whole-file reading). */
static inline io_result io_drain(parx_prefetch *pf, const uint32_t *seeds, uint64_t *expect_off)
{
    io_result r = {0, 0, 0, IO_FNV_INIT, 0};
    parx_chunk c;
    int last_file = -1;
    for (;;) {
        r.rc = parx_prefetch_next(pf, &c);
        if (r.rc != 1)
            break;
        int ok = c.data != NULL && c.size > 0 && c.index == r.chunks &&
                 io_matches((const unsigned char *)c.data, c.size, seeds[c.file], c.offset);
        if (expect_off) {
            if ((int)c.file < last_file || c.offset != expect_off[c.file])
                ok = 0;
            expect_off[c.file] = c.offset + c.size;
            last_file = (int)c.file;
        }
        if (!ok && r.bad++ < 3)
            pt_diag("bad chunk %llu: file %u offset %llu size %zu", (unsigned long long)c.index,
                    c.file, (unsigned long long)c.offset, c.size);
        r.fnv = io_fnv(r.fnv, (const unsigned char *)c.data, c.size);
        r.bytes += c.size;
        r.chunks++;
        parx_prefetch_release(pf, &c);
    }
    return r;
}

/* the checksum of bytes [off, off + len) of pattern `seed`, fed into h */
static inline uint64_t io_fnv_pattern(uint64_t h, uint32_t seed, uint64_t off, uint64_t len)
{
    for (uint64_t i = 0; i < len; i++) {
        h ^= io_byte(seed, off + i);
        h *= 0x100000001b3u;
    }
    return h;
}

#ifndef PARX_NO_URING
/* Whether the prefetcher can get an io_uring here (the kernel, seccomp and
   limits allow one): a prefetcher opened with PARX_IO_URING on "/". */
static inline bool io_uring_works(void)
{
    const char *p[1] = {"/"};
    parx_prefetch *pf = parx_prefetch_open(
        &(parx_prefetch_desc){.paths = p, .npaths = 1, .backend = PARX_IO_URING}, NULL);
    bool ok = pf != NULL;
    parx_prefetch_close(pf);
    return ok;
}
#endif

/* Why an RLIMIT_AS cap cannot make allocations fail in this build (a
   sanitizer's allocator, or valgrind's, does not return NULL under it), or
   NULL where it can: tests that cap the address space skip with the reason. */
static inline const char *io_rlimit_as_blind(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return "the sanitizer's allocator does not fail under RLIMIT_AS";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                      \
    __has_feature(memory_sanitizer)
    return "the sanitizer's allocator does not fail under RLIMIT_AS";
#endif
#endif
    const char *vg = getenv("LD_PRELOAD");
    return vg && strstr(vg, "valgrind") ? "under valgrind" : NULL;
}

/* Cap this process's address space at what it maps now plus `room` bytes,
   so that any larger allocation fails (in a child: the cap cannot be taken
   back). false if it could not be set. */
static inline bool io_cap_address_space(size_t room)
{
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "re");
    bool ok = f && fscanf(f, "%ld", &pages) == 1;
    if (f)
        fclose(f);
    struct rlimit lim;
    lim.rlim_cur = lim.rlim_max = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + room;
    return ok && setrlimit(RLIMIT_AS, &lim) == 0;
}

#endif /* PARX_TEST_IO_COMMON_H */
