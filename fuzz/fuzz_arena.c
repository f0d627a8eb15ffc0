/* SPDX-License-Identifier: MIT */
/* fuzz/fuzz_arena.c -- libFuzzer harness: attach to a shared-memory segment
   whose bytes come from the fuzzer (parx_arena_from_fd, or parx_arena_open
   by name), then use it as a program would: stats, alloc, free, close.

   Input layout (fuzz/seeds.c writes real arenas in it):
     [0..4)  u32  the segment's size: bit 31 set, exactly the image's
                  length; else (value % 4 MiB) bytes, so that truncated and
                  oversized segments are tried too
     [4]     u8   flags: bit 0 attach by name (shm_open + parx_arena_open)
                  instead of parx_arena_from_fd on a memfd; bit 1 the second
                  allocation is large (over 16 KiB); bit 2 align to 4096;
                  bit 3 leave the memfd unsealed (else sealed against
                  shrinking and growing, as an anonymous arena is)
     [5..8)  u24  the first allocation's size (0 means 1)
     [8..)        the segment's first bytes (the rest of it reads as 0)

   Properties (parx_shm.h >>layout):
     - attach fails only with a documented code;
     - an unsealed memfd attaches only where its header names an arena
       (an anonymous one's copy could be truncated under the mapping);
     - an attached arena's size is its header's, no larger than the file,
       and every page of the mapping can be read;
     - every block parx_arena_alloc hands out lies in the data pages,
       [data_offset, size) as attach checked them, for its whole rounded
       size (as tests/shm_scribble.c's in_data);
     - parx_arena_free of that block returns 0 or -EINVAL (a scribbled-on
       free list may hand out a block its page map does not describe: a
       leak, which >>layout allows), and nothing crashes. */
#define _GNU_SOURCE
#define PARX_SHM_IMPLEMENTATION
#include "parx_shm.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char shm_name[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    /* not "parx-...": tests/shm_leaks.c takes such names for parx's own */
    snprintf(shm_name, sizeof shm_name, "/fuzz-arena-%d", (int)getpid());
    return 0;
}

static void fail(const char *what)
{
    fprintf(stderr, "PROPERTY VIOLATION: %s\n", what);
    abort();
}

static void write_all(int fd, const uint8_t *d, size_t n, off_t at)
{
    for (size_t off = 0; off < n;) {
        ssize_t w = pwrite(fd, d + off, n - off, at + (off_t)off);
        if (w <= 0) abort();
        off += (size_t)w;
    }
}

/* The page lock as parx_arena_create leaves it: robust, process-shared,
   unlocked. */
static void fresh_lock(int fd)
{
    pthread_mutexattr_t at;
    pthread_mutex_t m;
    memset(&m, 0, sizeof m);
    pthread_mutexattr_init(&at);
    pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST);
    if (pthread_mutex_init(&m, &at) != 0) abort();
    pthread_mutexattr_destroy(&at);
    write_all(fd, (const uint8_t *)&m, sizeof m, (off_t)offsetof(parx__shm_header, lock));
}

/* The bytes parx_arena_alloc(size, align) takes: its size class, or whole
   pages (the rounding of parx_arena_alloc). */
static size_t rounded(size_t size, size_t align)
{
    if (align < 16) align = 16;
    if (align > PARX__SHM_PAGE || size > PARX__SHM_SMALL_MAX)
        return (size + PARX__SHM_PAGE - 1) / PARX__SHM_PAGE * PARX__SHM_PAGE;
    if (align > 16 && size < align) size = align;
    if (align > 16 && (size & (size - 1)) != 0) size = (size_t)1 << (64 - __builtin_clzll(size));
    return parx__shm_class_size(parx__shm_class(size));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8) return 0;
    uint32_t sz;
    memcpy(&sz, data, 4);
    uint8_t flags = data[4];
    size_t first = (size_t)data[5] | (size_t)data[6] << 8 | (size_t)data[7] << 16;
    if (!first) first = 1;
    const uint8_t *img = data + 8;
    size_t ilen = size - 8;
    uint64_t fsize = (sz & 0x80000000u) ? ilen : sz % (4u << 20);
    bool named = flags & 1;

    bool sealed = !named && !(flags & 8);
    int fd;
    if (named) {
        shm_unlink(shm_name);
        fd = shm_open(shm_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    } else {
        fd = memfd_create("fuzz-arena", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    }
    if (fd < 0) abort();
    if (ftruncate(fd, (off_t)fsize) != 0) abort();
    write_all(fd, img, ilen < fsize ? ilen : fsize, 0);
    /* The page lock is glibc's pthread_mutex_t, shared by every attached
       process and trusted (>>layout): some corrupted lock words make glibc
       abort or wait for ever, which parx cannot prevent. So the fuzzer may
       not touch it -- the image keeps it as a new arena has it -- and
       explores the rest of the header instead of finding that again. */
    if (fsize >= offsetof(parx__shm_header, lock) + sizeof(pthread_mutex_t)) fresh_lock(fd);
    if (sealed && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0) abort();

    int err = 0;
    parx_arena *a = named ? parx_arena_open(shm_name, &err) : parx_arena_from_fd(fd, &err);
    close(fd); /* the arena has its own */
    if (!a) {
        if (named) shm_unlink(shm_name);
        /* -ENOMEM: the mapping or the handle (a failed system call's errno);
           -ENOENT: by name, a header whose `unlinked` says the name is gone
           or going (a live process's id in it): open backs out */
        if (err != PARX_E_NOT_ARENA && err != PARX_E_ARENA_VERSION && err != PARX_E_TRUNCATED &&
            err != -EUSERS && err != -ENOMEM && !(named && err == -ENOENT)) {
            fprintf(stderr, "attach: %d (%s)\n", err, parx_strerror(err));
            fail("attach failed with an undocumented code");
        }
        return 0;
    }

    const parx__shm_header *h = (const parx__shm_header *)parx_arena_base(a);
    size_t msize = parx_arena_size(a);
    /* the geometry attach checked, before an allocation could scribble on it */
    uint64_t data_offset = h->data_offset;
    if (msize != h->size) fail("parx_arena_size is not the header's size");
    if (msize > fsize) fail("attached to a segment smaller than its header says");
    if (!named && !sealed && !h->name[0]) fail("attached to an anonymous arena's unsealed copy");
    volatile const unsigned char *base = (const unsigned char *)h;
    for (size_t off = 0; off < msize; off += PARX__SHM_PAGE) (void)base[off];

    parx_arena_usage u;
    if (parx_arena_stats(a, &u) != 0 || u.size != msize) fail("parx_arena_stats");

    size_t align = (flags & 4) ? 4096 : 0;
    size_t want[2] = {first, (flags & 2) ? PARX__SHM_SMALL_MAX + first : first};
    for (int k = 0; k < 2; k++) {
        void *p = parx_arena_alloc(a, want[k], align);
        if (!p) continue;
        size_t need = rounded(want[k], align);
        uint64_t off = parx_arena_offset(a, p);
        if (off == PARX_ARENA_NO_OFFSET || off < data_offset || off > msize || need > msize - off) {
            fprintf(stderr, "block at offset %llu (+%zu), data pages [%llu, %zu)\n",
                    (unsigned long long)off, need, (unsigned long long)data_offset, msize);
            fail("parx_arena_alloc handed out a block outside the data pages");
        }
        memset(p, 0xCD, want[k]);
        int rc = parx_arena_free(a, p);
        if (rc != 0 && rc != -EINVAL) fail("parx_arena_free failed with an undocumented code");
    }
    if (parx_arena_stats(a, &u) != 0 || u.size != msize) fail("parx_arena_stats after use");
    parx_arena_close(a);
    if (named) shm_unlink(shm_name);
    return 0;
}
