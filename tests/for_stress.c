/* SPDX-License-Identifier: MIT */
/* tests/for_stress.c -- parx_for under load. Sizes scale with
   PARX_STRESS_SCALE (default 1.0):
   - 2 million indices, several grains, pools of 1..4 threads and all CPUs;
   - 50 000 iterations whose costs vary 100x (ramp, random), each still
     visited exactly once with the right result;
   - three levels of nested loops;
   - thousands of small loops in a row (start/finish races);
   - four outside threads running loops on one pool at once.
   Every index must be visited exactly once, by sub-ranges within the grain. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parx.h"
#include "parx_test.h"
#include "workloads.h"

struct visit {
    size_t begin, end, max_chunk;
    atomic_uchar *count;
    atomic_long bad_ranges;
};

static void visit_fn(void *ctx, size_t b, size_t e)
{
    struct visit *v = (struct visit *)ctx;
    if (b >= e || b < v->begin || e > v->end || e - b > v->max_chunk) {
        atomic_fetch_add(&v->bad_ranges, 1);
        if (b < v->begin || e > v->end || b >= e)
            return;
    }
    for (size_t i = b; i < e; i++)
        atomic_fetch_add_explicit(&v->count[i - v->begin], 1, memory_order_relaxed);
}

/* One loop over [begin, begin + n); returns the number of problems. */
static size_t run_visit(parx_pool *p, size_t begin, size_t n, size_t grain, atomic_uchar *count)
{
    struct visit v = {begin, begin + n, 0, count, 0};
    size_t g = n / (256 * (size_t)parx_pool_size(p));
    v.max_chunk = grain ? grain : (g ? g : 1);
    memset(count, 0, n);
    atomic_init(&v.bad_ranges, 0);
    size_t problems = 0;
    if (parx_for(p, begin, begin + n, grain, visit_fn, &v) != 0)
        problems++;
    problems += (size_t)atomic_load(&v.bad_ranges);
    for (size_t i = 0; i < n; i++)
        if (atomic_load_explicit(&count[i], memory_order_relaxed) != 1)
            problems++;
    return problems;
}

static size_t big_n, uneven_n, small_runs;

static void test_big_ranges(void)
{
    atomic_uchar *count = malloc(big_n);
    REQUIRE(count != NULL);
    const int threads[] = {1, 2, 3, 4, 0};
    for (size_t t = 0; t < 5; t++) {
        parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = threads[t]});
        REQUIRE(p != NULL);
        const size_t grains[] = {0, 16, 1000, 1};
        for (size_t k = 0; k < 4; k++) {
            size_t n = grains[k] == 1 ? big_n / 8 + 1 : big_n;
            size_t bad = run_visit(p, 1 + k * 1000, n, grains[k], count);
            CHECK_MSG(bad == 0, "%d threads, n %zu, grain %zu: %zu problems",
                      parx_pool_size(p), n, grains[k], bad);
        }
        parx_pool_destroy(p);
    }
    free(count);
}

static void test_many_small_loops(void)
{
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = 3});
    REQUIRE(p != NULL);
    atomic_uchar count[700];
    size_t bad_runs = 0;
    for (size_t r = 0; r < small_runs; r++) {
        size_t n = 1 + r % 700;
        if (run_visit(p, r, n, r % 3 == 0 ? 0 : r % 5 + 1, count) != 0 && bad_runs++ < 5)
            CHECK_MSG(0, "run %zu (n %zu) had problems", r, n);
    }
    CHECK_EQ_U(bad_runs, 0);
    parx_pool_destroy(p);
}

/* ===== uneven costs ======================================================= */

struct uneven {
    const unsigned char *cost;
    uint64_t *out;
    atomic_uchar *count;
    size_t n;
};

static void uneven_fn(void *ctx, size_t b, size_t e)
{
    struct uneven *u = (struct uneven *)ctx;
    for (size_t i = b; i < e && i < u->n; i++) {
        u->out[i] = work(i, u->cost[i]);
        atomic_fetch_add_explicit(&u->count[i], 1, memory_order_relaxed);
    }
}

static void test_uneven(void)
{
    size_t n = uneven_n;
    unsigned char *cost = malloc(n);
    uint64_t *out = malloc(n * sizeof *out);
    atomic_uchar *count = malloc(n);
    REQUIRE(cost && out && count);
    for (int pat = 0; pat < 2; pat++) {
        parx_rng r = parx_rng_for(99, (uint64_t)pat);
        for (size_t i = 0; i < n; i++)
            cost[i] = (unsigned char)(pat == 0 ? 1 + 99 * i / (n > 1 ? n - 1 : 1)
                                               : 1 + parx_rng_next(&r) % 100);
        for (int t = 1; t <= 4; t++) {
            parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = t});
            REQUIRE(p != NULL);
            const size_t grains[] = {0, 1, 50};
            for (size_t k = 0; k < 3; k++) {
                memset(out, 0, n * sizeof *out);
                memset(count, 0, n);
                struct uneven u = {cost, out, count, n};
                CHECK_EQ(parx_for(p, 0, n, grains[k], uneven_fn, &u), 0);
                size_t wrong = 0;
                for (size_t i = 0; i < n; i++)
                    if (atomic_load_explicit(&count[i], memory_order_relaxed) != 1 ||
                        out[i] != work(i, cost[i]))
                        wrong++;
                CHECK_MSG(wrong == 0, "%s costs, %d threads, grain %zu: %zu indices wrong",
                          pat ? "random" : "ramp", t, grains[k], wrong);
            }
            parx_pool_destroy(p);
        }
    }
    free(cost);
    free(out);
    free(count);
}

/* ===== three levels of nesting ============================================ */

#define L1 20
#define L2 20
#define L3 500

static parx_pool *nest_pool;
static atomic_uchar cells[L1][L2][L3];
static atomic_int nest_errors;

struct lvl {
    size_t a, b;
};

static void lvl3_fn(void *ctx, size_t lo, size_t hi)
{
    struct lvl *l = (struct lvl *)ctx;
    for (size_t c = lo; c < hi && c < L3; c++)
        atomic_fetch_add_explicit(&cells[l->a][l->b][c], 1, memory_order_relaxed);
}

static void lvl2_fn(void *ctx, size_t lo, size_t hi)
{
    size_t a = *(size_t *)ctx;
    for (size_t b = lo; b < hi && b < L2; b++) {
        struct lvl l = {a, b};
        if (parx_for(nest_pool, 0, L3, b % 2 ? 0 : 7, lvl3_fn, &l) != 0)
            atomic_fetch_add(&nest_errors, 1);
    }
}

static void lvl1_fn(void *ctx, size_t lo, size_t hi)
{
    (void)ctx;
    for (size_t a = lo; a < hi && a < L1; a++)
        if (parx_for(nest_pool, 0, L2, 1, lvl2_fn, &a) != 0)
            atomic_fetch_add(&nest_errors, 1);
}

static void test_three_levels(void)
{
    for (int t = 1; t <= 4; t++) {
        nest_pool = parx_pool_create(&(parx_pool_desc){.threads = t});
        REQUIRE(nest_pool != NULL);
        memset(cells, 0, sizeof cells);
        atomic_init(&nest_errors, 0);
        CHECK_EQ(parx_for(nest_pool, 0, L1, 1, lvl1_fn, NULL), 0);
        size_t wrong = 0;
        for (size_t a = 0; a < L1; a++)
            for (size_t b = 0; b < L2; b++)
                for (size_t c = 0; c < L3; c++)
                    if (atomic_load_explicit(&cells[a][b][c], memory_order_relaxed) != 1)
                        wrong++;
        CHECK_MSG(wrong == 0, "%d threads: %zu cells not visited exactly once", t, wrong);
        CHECK_EQ(atomic_load(&nest_errors), 0);
        parx_pool_destroy(nest_pool);
    }
}

/* ===== outside callers ==================================================== */

struct caller {
    pthread_t th;
    parx_pool *p;
    size_t rounds, problems;
    atomic_uchar *count;
};

static void *caller_main(void *arg)
{
    struct caller *c = (struct caller *)arg;
    for (size_t r = 0; r < c->rounds; r++)
        c->problems += run_visit(c->p, r * 7, 10000 + r % 1000, r % 4 == 0 ? 3 : 0, c->count);
    return NULL;
}

static void test_outside_callers(void)
{
    parx_pool *p = parx_pool_create(NULL);
    REQUIRE(p != NULL);
    struct caller cs[4];
    size_t rounds = pt_scaled(50, 2);
    for (int k = 0; k < 4; k++) {
        cs[k] = (struct caller){.p = p, .rounds = rounds, .count = malloc(11000)};
        REQUIRE(cs[k].count != NULL);
        REQUIRE(pthread_create(&cs[k].th, NULL, caller_main, &cs[k]) == 0);
    }
    for (int k = 0; k < 4; k++) {
        pthread_join(cs[k].th, NULL);
        CHECK_MSG(cs[k].problems == 0, "caller %d: %zu problems", k, cs[k].problems);
        free(cs[k].count);
    }
    parx_pool_destroy(p);
}

int main(void)
{
    big_n = pt_scaled(2000000, 100);
    uneven_n = pt_scaled(50000, 100);
    small_runs = pt_scaled(3000, 10);
    pt_diag("big ranges of %zu, uneven loops of %zu, %zu small loops", big_n, uneven_n,
            small_runs);
    pt_plan(5);
    pt_run("big ranges, grains 0/16/1000/1, pools of 1..4 and all CPUs: each index once",
           test_big_ranges);
    pt_run("thousands of small loops in a row", test_many_small_loops);
    pt_run("costs varying 100x (ramp, random), 1..4 threads: each index once, results right",
           test_uneven);
    pt_run("three levels of nested parx_for", test_three_levels);
    pt_run("four outside threads running loops on one pool at once", test_outside_callers);
    return pt_done_testing();
}
