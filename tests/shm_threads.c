/* SPDX-License-Identifier: MIT */
/* tests/shm_threads.c -- one arena, one handle, several threads of one
   process: the case ThreadSanitizer can watch (it cannot see other
   processes). Sizes scale with PARX_STRESS_SCALE (default 1.0):

   - 4 threads x 250,000 operations on one handle: each allocates blocks of
     mixed sizes (small classes and whole pages), fills each with a pattern
     from its own seed, and hands half of them to the next thread through a
     mailbox, so blocks are freed by a thread other than the one that took
     them; every block is checked before it is freed. Afterwards the arena
     holds no live block.
   - threads racing parx_arena_stats against allocation: the snapshot stays
     within the arena's bounds. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shm_common.h"

#define NTHREADS 4
#define SLOTS 64 /* blocks in flight per mailbox */

typedef struct mail {
    _Atomic(void *) block[SLOTS];
    _Atomic uint64_t tag[SLOTS]; /* size << 32 | seed, written before the block */
} mail;

static parx_arena *g_arena;
static mail g_mail[NTHREADS];
static size_t g_ops;
static atomic_long g_bad;

static size_t pick_size(rnd *r)
{
    uint64_t x = rnd_next(r);
    return (x & 7) == 0 ? 4096 * (1 + (x >> 8) % 5) /* a few pages */
                        : 1 + (x >> 8) % 3000;      /* small classes */
}

static void check_and_free(void *p, uint64_t tag)
{
    size_t size = (size_t)(tag >> 32);
    if (!blk_check(p, size, (uint32_t)tag))
        atomic_fetch_add(&g_bad, 1);
    if (parx_arena_free(g_arena, p) != 0)
        atomic_fetch_add(&g_bad, 1);
}

static void *worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    mail *out = &g_mail[(me + 1) % NTHREADS], *in = &g_mail[me];
    rnd r = rnd_seed((uint64_t)me + 1);
    void *mine[32];
    uint64_t mine_tag[32];
    int n = 0;
    for (size_t op = 0; op < g_ops; op++) {
        /* take whatever the previous thread handed us */
        int s = (int)(rnd_next(&r) % SLOTS);
        /* acquire: pairs with the sender's release CAS, so its pattern and
           tag are visible. Only we empty a slot and only the sender fills an
           empty one, so the tag is read before the slot is given back. */
        void *got = atomic_load_explicit(&in->block[s], memory_order_acquire);
        if (got) {
            uint64_t tag = atomic_load_explicit(&in->tag[s], memory_order_relaxed);
            /* release: the sender's next tag store comes after our read */
            atomic_store_explicit(&in->block[s], NULL, memory_order_release);
            check_and_free(got, tag);
        }
        if (n == 32 || (n > 0 && (rnd_next(&r) & 1))) {
            n--;
            /* half of ours go to the next thread, if its slot is free */
            int t = (int)(rnd_next(&r) % SLOTS);
            /* acquire: pairs with the receiver's release of the slot, so its
               read of the old tag comes before our write of the new one */
            if ((op & 1) && atomic_load_explicit(&out->block[t], memory_order_acquire) == NULL) {
                atomic_store_explicit(&out->tag[t], mine_tag[n], memory_order_relaxed);
                void *expected = NULL;
                /* release: publishes the pattern and the tag */
                if (atomic_compare_exchange_strong_explicit(&out->block[t], &expected, mine[n],
                                                            memory_order_release,
                                                            memory_order_relaxed))
                    continue;
            }
            check_and_free(mine[n], mine_tag[n]);
        } else {
            size_t size = pick_size(&r);
            uint32_t seed = (uint32_t)rnd_next(&r);
            void *p = parx_arena_alloc(g_arena, size, 0);
            if (!p) {
                atomic_fetch_add(&g_bad, 1);
                continue;
            }
            blk_fill(p, size, seed);
            mine[n] = p;
            mine_tag[n++] = (uint64_t)size << 32 | seed;
        }
    }
    while (n > 0) {
        n--;
        check_and_free(mine[n], mine_tag[n]);
    }
    return NULL;
}

static void drain_mail(void)
{
    for (int t = 0; t < NTHREADS; t++)
        for (int s = 0; s < SLOTS; s++) {
            void *p = atomic_exchange(&g_mail[t].block[s], NULL);
            if (p)
                check_and_free(p, atomic_load(&g_mail[t].tag[s]));
        }
}

static void test_threads_one_handle(void)
{
    int err = 0;
    g_arena = parx_arena_create(&(parx_arena_desc){.size = 64 << 20}, &err);
    REQUIRE(g_arena != NULL);
    atomic_store(&g_bad, 0);
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        REQUIRE(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) == 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    drain_mail();
    CHECK_EQ(atomic_load(&g_bad), 0);
    parx_arena_usage u;
    CHECK_EQ(parx_arena_stats(g_arena, &u), 0);
    CHECK_EQ_U(u.used, 0); /* every block came back */
    pt_diag("%d threads x %zu operations; reserved %llu KiB, high water %llu KiB", NTHREADS, g_ops,
            (unsigned long long)(u.reserved >> 10), (unsigned long long)(u.high_water >> 10));
    parx_arena_close(g_arena);
}

static atomic_int g_stop;

static void *stats_reader(void *arg)
{
    long *bad = (long *)arg;
    while (!atomic_load(&g_stop)) {
        parx_arena_usage u;
        if (parx_arena_stats(g_arena, &u) != 0 || u.used > u.capacity || u.reserved > u.capacity ||
            u.high_water < u.reserved || u.free != u.capacity - u.reserved)
            ++*bad;
    }
    return NULL;
}

static void test_stats_while_allocating(void)
{
    int err = 0;
    g_arena = parx_arena_create(&(parx_arena_desc){.size = 16 << 20}, &err);
    REQUIRE(g_arena != NULL);
    atomic_store(&g_stop, 0);
    long bad = 0;
    pthread_t reader;
    REQUIRE(pthread_create(&reader, NULL, stats_reader, &bad) == 0);
    rnd r = rnd_seed(99);
    void *held[256] = {0};
    for (size_t i = 0; i < g_ops / 4; i++) {
        int k = (int)(rnd_next(&r) % 256);
        if (held[k]) {
            CHECK_EQ(parx_arena_free(g_arena, held[k]), 0);
            held[k] = NULL;
        } else {
            held[k] = parx_arena_alloc(g_arena, pick_size(&r), 0);
        }
    }
    atomic_store(&g_stop, 1);
    pthread_join(reader, NULL);
    for (int k = 0; k < 256; k++)
        CHECK_EQ(parx_arena_free(g_arena, held[k]), 0);
    CHECK_EQ(bad, 0);
    parx_arena_close(g_arena);
}

int main(void)
{
    g_ops = pt_scaled(250000, 1000);
    pt_plan(2);
    run_guarded("4 threads x 250k operations on one handle; blocks freed by other threads",
                test_threads_one_handle);
    run_guarded("parx_arena_stats racing allocation stays within bounds",
                test_stats_while_allocating);
    return pt_done_testing();
}
