/* SPDX-License-Identifier: MIT */
/* tests/pool_stress.c -- the pool under load. Sizes scale with
   PARX_STRESS_SCALE (default 1.0):
   - a binary tree of spawns with 2^20 leaves (about 2 million spawns, one per
     node), each leaf reporting its index, on pools of 1, 3 and all CPUs;
   - fib(27) with a spawn at every call, against the closed form;
   - four outside threads spawning 100 000 tasks each into one pool at once,
     each with its own groups: every task runs exactly once.
   Each also on a pool of four workers per CPU, where at most one idle
   worker per CPU polls and the others sleep at once, and a push skips its
   wake-up while a poller is up (see >>sleep): nothing may be left waiting. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "parx.h"
#include "parx_test.h"

/* ===== a million nested spawns ============================================ */

struct tree {
    size_t lo, hi;      /* leaves [lo, hi) */
    uint64_t leaves;    /* out: leaves under this node */
    uint64_t index_sum; /* out: sum of their indices */
    int err;            /* out: first error in the subtree */
};

static void tree_task(void *arg)
{
    struct tree *t = (struct tree *)arg;
    t->err = 0;
    if (t->hi - t->lo == 1) {
        t->leaves = 1;
        t->index_sum = t->lo;
        return;
    }
    size_t mid = t->lo + (t->hi - t->lo) / 2;
    struct tree l = {.lo = t->lo, .hi = mid}, r = {.lo = mid, .hi = t->hi};
    parx_group g;
    parx_group_init(&g, NULL);
    int e1 = parx_spawn(&g, tree_task, &l);
    int e2 = parx_spawn(&g, tree_task, &r);
    int e3 = parx_wait(&g);
    t->err = e1 ? e1 : e2 ? e2 : e3 ? e3 : l.err ? l.err : r.err;
    if (e1 || e2) {
        t->leaves = 0;
        t->index_sum = 0;
        return;
    }
    t->leaves = l.leaves + r.leaves;
    t->index_sum = l.index_sum + r.index_sum;
}

static void tree_on(int threads, size_t nleaves)
{
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = threads});
    REQUIRE(p != NULL);
    struct tree root = {.lo = 0, .hi = nleaves};
    parx_group g;
    parx_group_init(&g, p);
    CHECK_EQ(parx_spawn(&g, tree_task, &root), 0);
    CHECK_EQ(parx_wait(&g), 0);
    CHECK_MSG(root.err == 0, "%d threads: a nested spawn/wait failed: %d (%s)", threads, root.err,
              parx_strerror(root.err));
    CHECK_EQ_U(root.leaves, nleaves);
    CHECK_EQ_U(root.index_sum, (uint64_t)nleaves * (nleaves - 1) / 2);
    parx_pool_destroy(p);
}

static size_t g_leaves;
static int g_over; /* four workers per CPU: more than the CPUs, whatever the machine */

static void test_million_spawns(void)
{
    pt_diag("%zu leaves, %zu spawns per tree", g_leaves, 2 * g_leaves - 1);
    tree_on(1, g_leaves);
    tree_on(3, g_leaves);
    tree_on(0, g_leaves);
    tree_on(g_over, g_leaves);
}

/* ===== fib with a spawn at every call ===================================== */

struct fib {
    int n;
    uint64_t result;
};

static void fib_task(void *arg)
{
    struct fib *f = (struct fib *)arg;
    if (f->n < 2) {
        f->result = (uint64_t)f->n;
        return;
    }
    struct fib a = {f->n - 1, 0}, b = {f->n - 2, 0};
    parx_group g;
    parx_group_init(&g, NULL);
    parx_spawn(&g, fib_task, &a);
    parx_spawn(&g, fib_task, &b);
    parx_wait(&g);
    f->result = a.result + b.result;
}

/* fib(n) by Binet's closed form, round(phi^n / sqrt 5), exact in doubles for
   the n used here (n <= 70). */
static uint64_t fib_closed(int n)
{
    const double phi = 1.6180339887498949, sqrt5 = 2.2360679774997898;
    double x = 1.0;
    for (int i = 0; i < n; i++)
        x *= phi;
    return (uint64_t)(x / sqrt5 + 0.5);
}

static int g_fib_n;

static void test_fib(void)
{
    int threads[] = {1, 2, 0, g_over};
    uint64_t want = fib_closed(g_fib_n);
    pt_diag("fib(%d) = %llu", g_fib_n, (unsigned long long)want);
    /* cross-check the closed form with the recurrence */
    uint64_t a = 0, b = 1;
    for (int i = 0; i < g_fib_n; i++) {
        uint64_t c = a + b;
        a = b;
        b = c;
    }
    CHECK_EQ_U(a, want);
    for (size_t k = 0; k < sizeof threads / sizeof threads[0]; k++) {
        parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = threads[k]});
        REQUIRE(p != NULL);
        struct fib f = {g_fib_n, 0};
        parx_group g;
        parx_group_init(&g, p);
        CHECK_EQ(parx_spawn(&g, fib_task, &f), 0);
        CHECK_EQ(parx_wait(&g), 0);
        CHECK_MSG(f.result == want, "fib(%d) on %d threads = %llu, want %llu", g_fib_n,
                  parx_pool_size(p), (unsigned long long)f.result, (unsigned long long)want);
        parx_pool_destroy(p);
    }
}

/* ===== many outside spawners ============================================= */

#define NSPAWNERS 4

static parx_pool *shared_pool;
static size_t per_thread;
static atomic_uchar *ran; /* ran[i]: times task i ran */

struct spawner {
    pthread_t th;
    size_t first; /* tasks [first, first + per_thread) */
    int errors;
};

static void mark_task(void *arg)
{
    atomic_fetch_add_explicit((atomic_uchar *)arg, 1, memory_order_relaxed);
}

struct pair {
    atomic_uchar *a, *b;
};

/* a task that spawns two more from inside, so outside and inside spawns mix */
static void pair_task(void *arg)
{
    struct pair *pr = (struct pair *)arg;
    parx_group g;
    parx_group_init(&g, NULL);
    parx_spawn(&g, mark_task, pr->a);
    parx_spawn(&g, mark_task, pr->b);
    parx_wait(&g);
}

static void *spawner_main(void *arg)
{
    struct spawner *s = (struct spawner *)arg;
    size_t i = s->first, end = s->first + per_thread;
    size_t npairs = per_thread / 8;
    struct pair *pairs = calloc(npairs ? npairs : 1, sizeof *pairs);
    if (!pairs) {
        s->errors++;
        return NULL;
    }
    /* rounds of different sizes, reusing one group */
    parx_group g;
    parx_group_init(&g, shared_pool);
    size_t round = 1, k = 0;
    while (i < end) {
        size_t n = round * 97 % 5000 + 1;
        for (size_t j = 0; j < n && i < end; j++) {
            if (k < npairs && i + 2 <= end && j % 4 == 0) {
                pairs[k] = (struct pair){&ran[i], &ran[i + 1]};
                if (parx_spawn(&g, pair_task, &pairs[k]) != 0)
                    s->errors++;
                k++;
                i += 2;
            } else {
                if (parx_spawn(&g, mark_task, &ran[i]) != 0)
                    s->errors++;
                i++;
            }
        }
        if (parx_wait(&g) != 0)
            s->errors++;
        round++;
    }
    free(pairs);
    return NULL;
}

static void outside_spawners(int threads)
{
    size_t total = per_thread * NSPAWNERS;
    ran = calloc(total, sizeof *ran);
    REQUIRE(ran != NULL);
    shared_pool = parx_pool_create(&(parx_pool_desc){.threads = threads});
    REQUIRE(shared_pool != NULL);
    struct spawner sp[NSPAWNERS];
    for (int t = 0; t < NSPAWNERS; t++) {
        sp[t] = (struct spawner){.first = (size_t)t * per_thread};
        REQUIRE(pthread_create(&sp[t].th, NULL, spawner_main, &sp[t]) == 0);
    }
    for (int t = 0; t < NSPAWNERS; t++) {
        pthread_join(sp[t].th, NULL);
        CHECK_EQ(sp[t].errors, 0);
    }
    size_t bad = 0;
    for (size_t i = 0; i < total; i++) {
        unsigned c = atomic_load_explicit(&ran[i], memory_order_relaxed);
        if (c != 1 && bad++ < 10)
            CHECK_MSG(0, "%d threads: task %zu ran %u times", threads, i, c);
    }
    CHECK_EQ_U(bad, 0);
    parx_pool_destroy(shared_pool);
    free(ran);
}

static void test_outside_spawners(void)
{
    pt_diag("%d outside threads x %zu tasks", NSPAWNERS, per_thread);
    outside_spawners(0);
    outside_spawners(2);
    outside_spawners(g_over);
}

/* ===== outside callers mixing every entry point ============================ */

/* Three outside threads, each looping over: spawn small trees and wait, a
   parx_for, a parx_reduce. Groups borrow outside slots, give them back, and
   borrow again while the pool's workers sleep and wake with tiny spins: the
   traffic in which a slot once changed owner under a running task and a
   wake-up once left the pool with a waiter (both found in review). */
static parx_pool *g_mix_pool;
static atomic_long g_mix_leaves;
static size_t g_mix_rounds;

static void mix_tree(void *arg)
{
    intptr_t depth = (intptr_t)arg;
    if (depth == 0) {
        atomic_fetch_add_explicit(&g_mix_leaves, 1, memory_order_relaxed);
        return;
    }
    parx_group g;
    parx_group_init(&g, NULL);
    parx_spawn(&g, mix_tree, (void *)(depth - 1));
    parx_spawn(&g, mix_tree, (void *)(depth - 1));
    parx_wait(&g);
}

static void mix_count(void *ctx, size_t b, size_t e)
{
    atomic_fetch_add_explicit((atomic_long *)ctx, (long)(e - b), memory_order_relaxed);
}

static void mix_leaf(void *ctx, size_t b, size_t e, void *acc)
{
    (void)ctx;
    for (size_t i = b; i < e; i++)
        *(double *)acc += (double)i;
}

static void mix_add(void *ctx, void *acc, const void *other)
{
    (void)ctx;
    *(double *)acc += *(const double *)other;
}

static void *mix_caller(void *arg)
{
    long *bad = (long *)arg;
    for (size_t it = 0; it < g_mix_rounds; it++) {
        parx_group g;
        parx_group_init(&g, g_mix_pool);
        for (int k = 0; k < 3; k++)
            parx_spawn(&g, mix_tree, (void *)(intptr_t)4);
        if (parx_wait(&g) != 0)
            ++*bad;
        atomic_long n;
        atomic_init(&n, 0);
        if (parx_for(g_mix_pool, 0, 1000, 7, mix_count, &n) != 0 || atomic_load(&n) != 1000)
            ++*bad;
        double zero = 0, r = 0;
        if (parx_reduce(g_mix_pool, 0, 5000, 13, sizeof r, &zero, mix_leaf, mix_add, NULL, &r) !=
                0 ||
            r != 4999.0 * 5000 / 2)
            ++*bad;
    }
    return NULL;
}

static void mix_on(int threads)
{
    g_mix_pool = parx_pool_create(&(parx_pool_desc){.threads = threads, .spin_rounds = 3});
    REQUIRE(g_mix_pool != NULL);
    atomic_store(&g_mix_leaves, 0);
    pthread_t t[3];
    long bad[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++)
        REQUIRE(pthread_create(&t[i], NULL, mix_caller, &bad[i]) == 0);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    parx_pool_destroy(g_mix_pool);
    CHECK_EQ(bad[0] + bad[1] + bad[2], 0);
    CHECK_EQ(atomic_load(&g_mix_leaves), (long)(3 * 3 * 16 * g_mix_rounds));
}

static void test_outside_mix(void)
{
    mix_on(2);
    mix_on(g_over);
}

int main(void)
{
    g_leaves = pt_scaled((size_t)1 << 20, 2);
    per_thread = pt_scaled(100000, 16);
    /* fib(n) costs ~phi^n calls: one step of n per factor 1.618 of scale */
    g_fib_n = 27;
    for (double s = pt_scale(); s < 0.618 && g_fib_n > 10; s *= 1.618)
        g_fib_n--;
    for (double s = pt_scale(); s > 1.618 && g_fib_n < 40; s /= 1.618)
        g_fib_n++;

    g_mix_rounds = pt_scaled(200, 5);
    parx_pool *p = parx_pool_create(NULL);
    if (!p)
        pt_bail_out("no pool of one worker per CPU");
    g_over = 4 * parx_pool_size(p);
    if (g_over > 4096)
        g_over = 4096; /* parx_pool_create's limit */
    parx_pool_destroy(p);

    pt_plan(4);
    pt_run("a binary tree of ~2^21 nested spawns (pools of 1, 3, all CPUs, 4 per CPU)",
           test_million_spawns);
    pt_run("fib with a spawn at every call equals the closed form (1, 2, all CPUs, 4 per CPU)",
           test_fib);
    pt_run("4 outside threads spawning into one pool at once: each task exactly once",
           test_outside_spawners);
    pt_run("3 outside threads mixing spawn+wait, parx_for and parx_reduce, tiny spins",
           test_outside_mix);
    return pt_done_testing();
}
