/* SPDX-License-Identifier: MIT */
/* tests/shm_scribble.c -- an arena whose shared state another process has
   scribbled on.

   Attach checks a segment's header (magic, version, geometry) once. What
   changes all the time -- free-list heads and the links inside free
   blocks, counters -- is shared with every process attached, and a buggy
   or hostile one can write anything there. parx_shm.h may then hand out a
   block twice or fail an allocation, but parx itself must never read or
   write outside the mapping, nor hand out a block that lies in the header
   or runs past the end. Found by fuzzing (libFuzzer on parx_arena_from_fd):
   each case below made the header before this test crash, write outside
   the mapping or return such a block.

   Each case makes an anonymous arena A, changes a few words of it as
   another process could, attaches a second handle B (which passes every
   check), and calls the API on B in a child, so that a crash fails the
   case by name. This unit implements parx_shm.h itself, to reach the
   header's layout. */
#define _GNU_SOURCE
#define PARX_SHM_IMPLEMENTATION
#include "parx_shm.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "parx_test.h"

#define KiB ((size_t)1 << 10)

static parx__shm_header *hdr(parx_arena *a) { return (parx__shm_header *)parx_arena_base(a); }

static void set_head(parx_arena *a, unsigned shard, unsigned c, uint64_t off)
{
    atomic_store(&hdr(a)->shards[shard].head[c], off >> 4);
}

static void set_link(parx_arena *a, uint64_t at, uint64_t to)
{
    atomic_store(parx__shm_link(a, at), to >> 4);
}

/* p, n bytes, lies in B's data pages (from `data` on) */
static int in_data(parx_arena *b, uint64_t data, const void *p, size_t n)
{
    uint64_t off = parx_arena_offset(b, p);
    return off != PARX_ARENA_NO_OFFSET && off >= data && off <= parx_arena_size(b) &&
           n <= parx_arena_size(b) - off;
}

/* Child exit codes */
enum { OK = 0, NO_ATTACH = 10, OUTSIDE = 11, GEOMETRY = 12, STATS = 13 };

/* In the child: B on A's memory; allocate (and write) every size in sizes,
   then stats, then free them. */
static int use_b(parx_arena *a, const size_t *sizes, int n)
{
    int err = 0;
    parx_arena *b = parx_arena_from_fd(parx_arena_fd(a), &err);
    if (!b) return NO_ATTACH;
    parx__shm_header *h = hdr(a);
    const uint64_t size = h->size, data = h->data_offset, npages = h->npages;
    void *p[16];
    for (int i = 0; i < n; i++) {
        p[i] = parx_arena_alloc(b, sizes[i], 0);
        if (p[i] && !in_data(b, data, p[i], sizes[i])) return OUTSIDE;
        if (p[i]) memset(p[i], 0x5A, sizes[i]);
    }
    parx_arena_usage u;
    if (parx_arena_stats(b, &u) != 0 || u.size != size) return STATS;
    for (int i = 0; i < n; i++) parx_arena_free(b, p[i]);
    /* parx's own writes (links of blocks it pushed) left the header's
       geometry alone */
    if (h->size != size || h->data_offset != data || h->npages != npages) return GEOMETRY;
    parx_arena_close(b);
    return OK;
}

static void run_child(const char *what, parx_arena *a, const size_t *sizes, int n)
{
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        alarm(60);
        _exit(use_b(a, sizes, n));
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == OK, "%s: the child %s %d", what,
              WIFSIGNALED(st) ? "died of signal" : "exited with",
              WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

static parx_arena *fresh(size_t size)
{
    int err = 0;
    parx_arena *a = parx_arena_create(&(parx_arena_desc){.size = size}, &err);
    if (!a) {
        pt_diag("parx_arena_create: %s", parx_strerror(err));
        abort(); /* every case needs one */
    }
    atomic_store(&hdr(a)->next_shard, 0); /* B takes shard 0 */
    return a;
}

/* A free-list head pointing into the header: no block there is handed out. */
static void test_head_in_header(void)
{
    parx_arena *a = fresh(256 * KiB);
    set_head(a, 0, parx__shm_class(100), 16);
    const size_t sizes[] = {100, 100};
    run_child("a head at offset 16", a, sizes, 2);
    parx_arena_close(a);
}

/* A head at the segment's last 16 bytes, in the class of 16 KiB: a block
   there would run past the end of the mapping. */
static void test_head_past_end(void)
{
    parx_arena *a = fresh(256 * KiB);
    set_head(a, 0, PARX__SHM_CLASSES - 1, hdr(a)->size - 16);
    const size_t sizes[] = {16384, 16384};
    run_child("a head at size - 16 for 16 KiB blocks", a, sizes, 2);
    parx_arena_close(a);
}

/* Another shard's list whose chain ends in the header: adopting it pushed
   the chain's rest, and the push wrote a link over the header's
   data_offset (offset 32), after which the next span was carved 16 MiB past
   the mapping; or over its size (offset 16), after which the statistics
   walked outside the mapping. */
static void test_chain_into_header(void)
{
    const uint64_t ends[] = {32, 16};
    for (int k = 0; k < 2; k++) {
        parx_arena *a = fresh(256 * KiB);
        parx__shm_header *h = hdr(a);
        unsigned c = PARX__SHM_CLASSES - 1; /* 16 KiB: a chain of at most 4 is adopted */
        uint64_t b1 = h->data_offset + 40 * 4096;
        set_head(a, 1, c, b1);
        set_link(a, b1, b1 + 4096);
        set_link(a, b1 + 4096, b1 + 8192);
        set_link(a, b1 + 8192, ends[k]);
        const size_t sizes[] = {16384, 5000, 100};
        char what[64];
        snprintf(what, sizeof what, "a chain ending at offset %llu", (unsigned long long)ends[k]);
        run_child(what, a, sizes, 3);
        parx_arena_close(a);
    }
}

/* Heads and links of random values, many times over: whatever B is handed
   lies in its data pages, and nothing crashes. */
static void test_random_scribbles(void)
{
    uint64_t x = 0x9E3779B97F4A7C15u;
    int rounds = (int)pt_scaled(200, 20);
    for (int r = 0; r < rounds; r++) {
        parx_arena *a = fresh(512 * KiB);
        parx__shm_header *h = hdr(a);
        /* a few blocks in use first, so that spans and lists exist */
        void *q[8];
        for (int i = 0; i < 8; i++) q[i] = parx_arena_alloc(a, (size_t)16 << (i % 11), 0);
        for (int i = 0; i < 8; i += 2) parx_arena_free(a, q[i]);
        for (int i = 0; i < 24; i++) {
            x = x * 6364136223846793005u + 1442695040888963407u;
            uint64_t v = x >> 11;
            unsigned c = (unsigned)(v % PARX__SHM_CLASSES), s = (unsigned)((v >> 8) % 4);
            uint64_t target;
            switch ((v >> 16) % 4) {
            case 0: target = (v >> 20) % h->size; break;                       /* anywhere */
            case 1: target = (v >> 20) % h->data_offset; break;                /* the header */
            case 2: target = h->size - 16 * (1 + (v >> 20) % 64); break;       /* the end */
            default: target = h->data_offset + ((v >> 20) % h->npages) * 4096; /* a page */
            }
            if ((v >> 18) % 2)
                set_head(a, s, c, target & ~(uint64_t)15);
            else
                set_link(a, (h->data_offset + ((v >> 24) % (h->size - h->data_offset))) &
                                ~(uint64_t)15,
                         target & ~(uint64_t)15);
        }
        const size_t sizes[] = {16, 100, 1000, 5000, 16384, 16, 100, 1000, 5000, 16384, 20000};
        char what[64];
        snprintf(what, sizeof what, "random scribbles, round %d", r);
        run_child(what, a, sizes, 11);
        parx_arena_close(a);
    }
}

int main(void)
{
    pt_run("a free-list head in the header hands out no block there", test_head_in_header);
    pt_run("a free-list head at the end hands out no block past it", test_head_past_end);
    pt_run("an adopted chain that ends in the header leaves the header and mapping alone",
           test_chain_into_header);
    pt_run("random heads and links: every block in the data pages, no crash",
           test_random_scribbles);
    return pt_done_testing();
}
