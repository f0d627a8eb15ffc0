/* tests/prefetch_stress.c -- the prefetcher under random settings: backend,
   O_DIRECT, depth 1..8, reader threads 1..4, odd chunk sizes, lists of up
   to four files of odd sizes (some empty), whole files or random byte
   ranges, buffers in an arena or not, and a caller that holds up to
   depth - 1 chunks and releases them in random order. Every chunk is
   checked when it is handed out and again when it is released (a buffer
   reused while held would show), and the whole stream against the files.
   Three threads run their own prefetchers at once (what TSan looks at).
   Rounds per thread: 150 x PARX_STRESS_SCALE (at least 6). */
#define _GNU_SOURCE
#include <pthread.h>

#include "io_common.h"
#include "parx_shm.h"

enum { NFILES = 4, THREADS = 3, MAXR = 16 };
static const uint64_t sizes[NFILES] = {1000003, 0, 77777, 262144};
static const char *paths[NFILES];
static char names[NFILES][1024];
static uint32_t seeds[NFILES] = {51, 52, 53, 54};
static bool have_uring;
static parx_arena *arena;
static int rounds;

typedef struct worker {
    int id;
    int bad;  /* failed rounds */
    int done; /* rounds run */
    char msg[256];
} worker;

static void *run_worker(void *arg)
{
    worker *w = (worker *)arg;
    rnd r = rnd_seed(1000 + (uint64_t)w->id);
    for (int round = 0; round < rounds; round++) {
        parx_io_range ranges[MAXR];
        size_t nranges = 0;
        uint64_t want_bytes = 0, want_fnv = IO_FNV_INIT;
        if (rnd_below(&r, 2)) {
            nranges = 1 + (size_t)rnd_below(&r, MAXR);
            for (size_t i = 0; i < nranges; i++) {
                uint32_t f = (uint32_t)rnd_below(&r, NFILES);
                uint64_t off = rnd_below(&r, sizes[f] + 5000);
                uint64_t len = rnd_below(&r, 200000);
                ranges[i] = (parx_io_range){off, len, f};
                uint64_t end = off + len > sizes[f] ? sizes[f] : off + len;
                if (end > off) {
                    want_bytes += end - off;
                    want_fnv = io_fnv_pattern(want_fnv, seeds[f], off, end - off);
                }
            }
        } else {
            for (int f = 0; f < NFILES; f++) {
                want_bytes += sizes[f];
                want_fnv = io_fnv_pattern(want_fnv, seeds[f], 0, sizes[f]);
            }
        }
        int b = (int)rnd_below(&r, have_uring ? 3 : 2);
        parx_io_backend backend = b == 0 ? PARX_IO_THREADS : b == 1 ? PARX_IO_AUTO : PARX_IO_URING;
        int depth = 1 + (int)rnd_below(&r, 8);
        static const size_t chunks[] = {1000, 4096, 12345, 65536, 100000, 300001};
        parx_prefetch_desc d = {.paths = paths,
                                .npaths = NFILES,
                                .ranges = nranges ? ranges : NULL,
                                .nranges = nranges,
                                .chunk_size = chunks[rnd_below(&r, 6)],
                                .depth = depth,
                                .direct = rnd_below(&r, 2) != 0,
                                .backend = backend,
                                .threads = 1 + (int)rnd_below(&r, 4),
                                .arena = rnd_below(&r, 3) == 0 ? arena : NULL};
        int err = 0;
        parx_prefetch *pf = parx_prefetch_open(&d, &err);
        if (!pf) {
            snprintf(w->msg, sizeof w->msg, "round %d: open failed: %s", round, parx_strerror(err));
            w->bad++;
            continue;
        }
        parx_chunk held[8];
        int nheld = 0, keep = (int)rnd_below(&r, (uint64_t)depth), bad = 0, rc;
        uint64_t bytes = 0, fnv = IO_FNV_INIT;
        for (;;) {
            rc = parx_prefetch_next(pf, &held[nheld]);
            if (rc != 1)
                break;
            parx_chunk *c = &held[nheld++];
            if (!io_matches(c->data, c->size, seeds[c->file], c->offset))
                bad++;
            bytes += c->size;
            fnv = io_fnv(fnv, c->data, c->size);
            while (nheld > keep) { /* release a random one of those held */
                int k = (int)rnd_below(&r, (uint64_t)nheld);
                if (!io_matches(held[k].data, held[k].size, seeds[held[k].file], held[k].offset))
                    bad++;
                parx_prefetch_release(pf, &held[k]);
                held[k] = held[--nheld];
            }
        }
        if (rnd_below(&r, 2)) /* release the rest, or leave them to close */
            while (nheld > 0)
                parx_prefetch_release(pf, &held[--nheld]);
        parx_prefetch_close(pf);
        if (rc != 0 || bad || bytes != want_bytes || fnv != want_fnv) {
            snprintf(w->msg, sizeof w->msg,
                     "round %d: backend %d direct %d depth %d chunk %zu threads %d ranges %zu "
                     "arena %d: rc %d, %d bad, %llu of %llu bytes",
                     round, (int)backend, (int)d.direct, depth, d.chunk_size, d.threads, nranges,
                     d.arena != NULL, rc, bad, (unsigned long long)bytes,
                     (unsigned long long)want_bytes);
            w->bad++;
        }
        w->done++;
    }
    return NULL;
}

static void test_random(void)
{
    worker w[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){i, 0, 0, ""};
        REQUIRE(pthread_create(&t[i], NULL, run_worker, &w[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        CHECK_MSG(w[i].bad == 0, "thread %d: %d bad rounds; last: %s", i, w[i].bad, w[i].msg);
        CHECK_EQ(w[i].done, rounds);
    }
}

int main(void)
{
    io_dir("stress");
    rounds = (int)pt_scaled(150, 6);
    for (int f = 0; f < NFILES; f++) {
        snprintf(names[f], sizeof names[f], "%s/f%d.dat", io__dir, f);
        paths[f] = names[f];
        if (!io_make_file(paths[f], sizes[f], seeds[f]))
            pt_skip_all("cannot write the test files");
    }
#ifndef PARX_NO_URING
    have_uring = io_uring_works();
#endif
    /* room for three prefetchers of 8 buffers of 300001 bytes (+4 KiB) at once */
    arena = parx_arena_create(&(parx_arena_desc){.size = 64 << 20}, NULL);
    if (!arena)
        pt_skip_all("cannot create an arena");
    pt_diag("%d rounds per thread, %d threads, io_uring %s", rounds, THREADS,
            have_uring ? "too" : "not available");
    run_guarded("random settings, random holds, three prefetchers at once", test_random);
    parx_arena_close(arena);
    io_dir_remove();
    return pt_done_testing();
}
