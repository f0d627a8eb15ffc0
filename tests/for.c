/* SPDX-License-Identifier: MIT */
/* tests/for.c -- unit tests of parx_for: every index visited exactly once,
   sub-ranges inside [begin, end) and no longer than the grain, for many
   ranges, grains and pool sizes; uneven iteration costs; nested loops; loops
   started from inside tasks and from several threads at once.
   The large runs are in tests/for_stress.c. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parx.h"
#include "parx_test.h"
#include "workloads.h"

/* A loop body that counts visits per index and checks every sub-range. */
struct visit {
    size_t begin, end;      /* the whole range */
    size_t max_chunk;       /* the most iterations one call may get */
    atomic_uchar *count;    /* count[i - begin] */
    atomic_long calls;      /* calls of fn */
    atomic_long bad_ranges; /* calls with b >= e, b < begin, e > end or e - b > max_chunk */
    atomic_size_t bad_b, bad_e;
};

static void visit_fn(void *ctx, size_t b, size_t e)
{
    struct visit *v = (struct visit *)ctx;
    atomic_fetch_add_explicit(&v->calls, 1, memory_order_relaxed);
    if (b >= e || b < v->begin || e > v->end || e - b > v->max_chunk) {
        if (atomic_fetch_add(&v->bad_ranges, 1) == 0) {
            atomic_store(&v->bad_b, b);
            atomic_store(&v->bad_e, e);
        }
        if (b < v->begin || e > v->end || b >= e)
            return; /* don't write out of bounds */
    }
    for (size_t i = b; i < e; i++)
        atomic_fetch_add_explicit(&v->count[i - v->begin], 1, memory_order_relaxed);
}

/* The documented automatic grain: max(1, n / (256 * threads)). */
static size_t auto_grain(size_t n, int threads)
{
    size_t g = n / (256 * (size_t)threads);
    return g ? g : 1;
}

/* Run one parx_for and check everything; returns 1 if all was well. */
static int check_for(parx_pool *p, size_t begin, size_t n, size_t grain)
{
    struct visit v;
    memset(&v, 0, sizeof v);
    v.begin = begin;
    v.end = begin + n;
    v.max_chunk = grain ? grain : auto_grain(n, parx_pool_size(p));
    v.count = calloc(n ? n : 1, sizeof *v.count);
    if (!CHECK(v.count != NULL))
        return 0;
    atomic_init(&v.calls, 0);
    atomic_init(&v.bad_ranges, 0);
    int ok = 1;
    int rc = parx_for(p, begin, begin + n, grain, visit_fn, &v);
    ok &= CHECK_MSG(rc == 0, "parx_for(begin %zu, n %zu, grain %zu) returned %d", begin, n,
                    grain, rc);
    long bad = atomic_load(&v.bad_ranges);
    ok &= CHECK_MSG(bad == 0,
                    "%d threads, begin %zu, n %zu, grain %zu: %ld bad sub-ranges, e.g. "
                    "[%zu, %zu) (offsets %zu..%zu, max chunk %zu)",
                    parx_pool_size(p), begin, n, grain, bad, atomic_load(&v.bad_b),
                    atomic_load(&v.bad_e), atomic_load(&v.bad_b) - begin,
                    atomic_load(&v.bad_e) - begin, v.max_chunk);
    size_t wrong = 0, first = 0;
    unsigned first_count = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned c = atomic_load_explicit(&v.count[i], memory_order_relaxed);
        if (c != 1 && wrong++ == 0) {
            first = i;
            first_count = c;
        }
    }
    ok &= CHECK_MSG(wrong == 0,
                    "%d threads, begin %zu, n %zu, grain %zu: %zu indices not visited exactly "
                    "once, first begin+%zu visited %u times",
                    parx_pool_size(p), begin, n, grain, wrong, first, first_count);
    if (n == 0)
        ok &= CHECK_EQ(atomic_load(&v.calls), 0);
    free(v.count);
    return ok;
}

static void test_exactly_once(void)
{
    const size_t begins[] = {0, 1000, SIZE_MAX - 20011};
    const size_t ns[] = {1, 2, 63, 1000, 20011};
    const size_t grains[] = {0, 1, 7, 1000, 20011, 1000000};
    for (int t = 1; t <= 4; t++) {
        parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = t});
        REQUIRE(p != NULL);
        size_t fails = 0;
        for (size_t bi = 0; bi < 3; bi++)
            for (size_t ni = 0; ni < 5; ni++)
                for (size_t gi = 0; gi < 6 && fails < 5; gi++)
                    if (!check_for(p, begins[bi], ns[ni], grains[gi]))
                        fails++;
        parx_pool_destroy(p);
    }
}

static void test_empty_range(void)
{
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = 2});
    REQUIRE(p != NULL);
    check_for(p, 0, 0, 0);
    check_for(p, 5, 0, 1);
    check_for(p, SIZE_MAX, 0, 0);
    parx_pool_destroy(p);
}

static void test_all_cpus_pool(void)
{
    parx_pool *p = parx_pool_create(NULL);
    REQUIRE(p != NULL);
    check_for(p, 0, 100000, 0);
    check_for(p, 12345, 100000, 3);
    parx_pool_destroy(p);
}

/* ===== uneven costs ======================================================= */

struct uneven {
    size_t begin, n;
    const unsigned char *cost; /* 1..100 */
    uint64_t *out;             /* out[i - begin] = work(i, cost) */
    atomic_uchar *count;
};

static void uneven_fn(void *ctx, size_t b, size_t e)
{
    struct uneven *u = (struct uneven *)ctx;
    for (size_t i = b; i < e; i++) {
        if (i < u->begin || i >= u->begin + u->n)
            continue;
        u->out[i - u->begin] = work(i, u->cost[i - u->begin]);
        atomic_fetch_add_explicit(&u->count[i - u->begin], 1, memory_order_relaxed);
    }
}

enum pattern { RAMP, RANDOM, SPIKES, PATTERNS };
static const char *const pattern_names[] = {"ramp", "random", "spikes"};

static void fill_costs(unsigned char *cost, size_t n, enum pattern pat)
{
    parx_rng r = parx_rng_for(7, (uint64_t)pat);
    for (size_t i = 0; i < n; i++) {
        switch (pat) {
        case RAMP: cost[i] = (unsigned char)(1 + (99 * i) / (n > 1 ? n - 1 : 1)); break;
        case RANDOM: cost[i] = (unsigned char)(1 + parx_rng_next(&r) % 100); break;
        default: cost[i] = (unsigned char)(i % 97 == 0 ? 100 : 1); break;
        }
    }
}

static void run_uneven(parx_pool *p, size_t begin, size_t n, size_t grain, enum pattern pat)
{
    unsigned char *cost = malloc(n);
    uint64_t *out = calloc(n, sizeof *out);
    atomic_uchar *count = calloc(n, sizeof *count);
    if (!CHECK(cost && out && count))
        goto done;
    fill_costs(cost, n, pat);
    struct uneven u = {begin, n, cost, out, count};
    CHECK_EQ(parx_for(p, begin, begin + n, grain, uneven_fn, &u), 0);
    size_t wrong = 0, wrong_out = 0;
    for (size_t i = 0; i < n; i++) {
        if (atomic_load_explicit(&count[i], memory_order_relaxed) != 1)
            wrong++;
        if (out[i] != work(begin + i, cost[i]))
            wrong_out++;
    }
    CHECK_MSG(wrong == 0 && wrong_out == 0,
              "%d threads, %s costs, n %zu, grain %zu: %zu indices not visited once, "
              "%zu wrong results", parx_pool_size(p), pattern_names[pat], n, grain, wrong,
              wrong_out);
done:
    free(cost);
    free(out);
    free(count);
}

static void test_uneven(void)
{
    for (int t = 1; t <= 4; t++) {
        parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = t});
        REQUIRE(p != NULL);
        for (int pat = 0; pat < PATTERNS; pat++) {
            run_uneven(p, 0, 3000, 0, (enum pattern)pat);
            run_uneven(p, 500, 3001, 1, (enum pattern)pat);
            run_uneven(p, 77, 2999, 64, (enum pattern)pat);
        }
        parx_pool_destroy(p);
    }
}

/* ===== nested loops ======================================================= */

#define ROWS 40
#define COLS 300

struct nested {
    parx_pool *p;
    size_t inner_grain;
    atomic_uchar count[ROWS][COLS];
    atomic_int rc_errors;
};

struct row_ctx {
    struct nested *nst;
    size_t row;
};

static void inner_fn(void *ctx, size_t b, size_t e)
{
    struct row_ctx *rc = (struct row_ctx *)ctx;
    for (size_t c = b; c < e; c++)
        if (c < COLS)
            atomic_fetch_add_explicit(&rc->nst->count[rc->row][c], 1, memory_order_relaxed);
}

static void outer_fn(void *ctx, size_t b, size_t e)
{
    struct nested *nst = (struct nested *)ctx;
    for (size_t r = b; r < e && r < ROWS; r++) {
        struct row_ctx rc = {nst, r};
        if (parx_for(nst->p, 0, COLS, nst->inner_grain, inner_fn, &rc) != 0)
            atomic_fetch_add(&nst->rc_errors, 1);
    }
}

static void check_nested(struct nested *nst, const char *what)
{
    size_t wrong = 0;
    for (size_t r = 0; r < ROWS; r++)
        for (size_t c = 0; c < COLS; c++)
            if (atomic_load_explicit(&nst->count[r][c], memory_order_relaxed) != 1)
                wrong++;
    CHECK_MSG(wrong == 0, "%s: %zu cells not visited exactly once", what, wrong);
    CHECK_EQ(atomic_load(&nst->rc_errors), 0);
}

static void test_nested_for(void)
{
    static struct nested nst;
    for (int t = 1; t <= 4; t++) {
        parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = t});
        REQUIRE(p != NULL);
        const size_t outer_grains[] = {1, 0, 7}, inner_grains[] = {0, 1, 13};
        for (int k = 0; k < 3; k++) {
            memset(&nst, 0, sizeof nst);
            nst.p = p;
            nst.inner_grain = inner_grains[k];
            CHECK_EQ(parx_for(p, 0, ROWS, outer_grains[k], outer_fn, &nst), 0);
            check_nested(&nst, "nested parx_for");
        }
        parx_pool_destroy(p);
    }
}

/* ===== parx_for from inside a task ======================================== */

struct task_loop {
    parx_pool *p;
    size_t begin, n;
    atomic_uchar *count;
    int rc;
};

static void slice_fn(void *ctx, size_t b, size_t e)
{
    struct task_loop *tl = (struct task_loop *)ctx;
    for (size_t i = b; i < e; i++)
        if (i >= tl->begin && i < tl->begin + tl->n)
            atomic_fetch_add_explicit(&tl->count[i], 1, memory_order_relaxed);
}

static void loop_task(void *arg)
{
    struct task_loop *tl = (struct task_loop *)arg;
    tl->rc = parx_for(tl->p, tl->begin, tl->begin + tl->n, 0, slice_fn, tl);
}

/* a task that spawns two loop tasks of its own */
static void loop_parent_task(void *arg)
{
    struct task_loop *two = (struct task_loop *)arg;
    parx_group g;
    parx_group_init(&g, NULL);
    parx_spawn(&g, loop_task, &two[0]);
    parx_spawn(&g, loop_task, &two[1]);
    parx_wait(&g);
}

static void test_for_in_task(void)
{
    enum { SLICES = 16, SLICE = 5000 };
    for (int t = 1; t <= 4; t++) {
        parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = t});
        REQUIRE(p != NULL);
        atomic_uchar *count = calloc(SLICES * SLICE, sizeof *count);
        REQUIRE(count != NULL);
        struct task_loop tl[SLICES];
        for (int s = 0; s < SLICES; s++)
            tl[s] = (struct task_loop){p, (size_t)s * SLICE, SLICE, count, 1};
        parx_group g;
        parx_group_init(&g, p);
        for (int s = 0; s < SLICES / 2; s++) /* directly from outside */
            CHECK_EQ(parx_spawn(&g, loop_task, &tl[s]), 0);
        for (int s = SLICES / 2; s < SLICES; s += 2) /* one level further in */
            CHECK_EQ(parx_spawn(&g, loop_parent_task, &tl[s]), 0);
        CHECK_EQ(parx_wait(&g), 0);
        size_t wrong = 0;
        for (size_t i = 0; i < SLICES * SLICE; i++)
            if (atomic_load_explicit(&count[i], memory_order_relaxed) != 1)
                wrong++;
        CHECK_MSG(wrong == 0, "%d threads: %zu indices not visited exactly once", t, wrong);
        for (int s = 0; s < SLICES; s++)
            CHECK_EQ(tl[s].rc, 0);
        free(count);
        parx_pool_destroy(p);
    }
}

/* ===== loops from several outside threads at once ========================= */

struct outside_loop {
    pthread_t th;
    parx_pool *p;
    size_t begin;
    int failures;
};

static void *outside_loop_main(void *arg)
{
    struct outside_loop *ol = (struct outside_loop *)arg;
    for (int round = 0; round < 10; round++) {
        struct visit v;
        memset(&v, 0, sizeof v);
        size_t n = 3000 + (size_t)round * 1000;
        v.begin = ol->begin;
        v.end = ol->begin + n;
        v.max_chunk = round % 2 ? 5 : auto_grain(n, parx_pool_size(ol->p));
        v.count = calloc(n, sizeof *v.count);
        if (!v.count) {
            ol->failures++;
            continue;
        }
        if (parx_for(ol->p, v.begin, v.end, round % 2 ? 5 : 0, visit_fn, &v) != 0)
            ol->failures++;
        if (atomic_load(&v.bad_ranges) != 0)
            ol->failures++;
        for (size_t i = 0; i < n; i++)
            if (atomic_load_explicit(&v.count[i], memory_order_relaxed) != 1) {
                ol->failures++;
                break;
            }
        free(v.count);
    }
    return NULL;
}

static void test_concurrent_callers(void)
{
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = 3});
    REQUIRE(p != NULL);
    struct outside_loop ol[3];
    for (int k = 0; k < 3; k++) {
        ol[k] = (struct outside_loop){.p = p, .begin = (size_t)k * 1000000};
        REQUIRE(pthread_create(&ol[k].th, NULL, outside_loop_main, &ol[k]) == 0);
    }
    for (int k = 0; k < 3; k++) {
        pthread_join(ol[k].th, NULL);
        CHECK_EQ(ol[k].failures, 0);
    }
    parx_pool_destroy(p);
}

/* A body that spawns: it must work wherever parx_for runs it, also on the
   calling thread outside the pool (a range no larger than the grain is run
   there in one piece), and so must a one-leaf parx_reduce. */
static void bump(void *arg)
{
    atomic_fetch_add((atomic_long *)arg, 1);
}

static void spawning_body(void *ctx, size_t b, size_t e)
{
    parx_group g;
    parx_group_init(&g, NULL);
    for (size_t i = b; i < e; i++)
        CHECK_EQ(parx_spawn(&g, bump, ctx), 0);
    CHECK_EQ(parx_wait(&g), 0);
}

static void spawning_leaf(void *ctx, size_t b, size_t e, void *acc)
{
    spawning_body(ctx, b, e);
    *(size_t *)acc += e - b;
}

static void add_sizes(void *ctx, void *acc, const void *other)
{
    (void)ctx;
    *(size_t *)acc += *(const size_t *)other;
}

static void test_body_spawns_anywhere(void)
{
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = 2});
    REQUIRE(p != NULL);
    atomic_long n;
    atomic_init(&n, 0);
    CHECK_EQ(parx_for(p, 0, 10, 100, spawning_body, &n), 0);   /* one piece, run here */
    CHECK_EQ(atomic_load(&n), 10);
    CHECK_EQ(parx_for(p, 0, 1000, 10, spawning_body, &n), 0);  /* on the workers */
    CHECK_EQ(atomic_load(&n), 1010);
    size_t zero = 0, got = 0;
    CHECK_EQ(parx_reduce(p, 0, 50, 64, sizeof got, &zero, spawning_leaf, add_sizes, &n, &got), 0);
    CHECK_EQ_U(got, 50); /* one leaf, run here */
    CHECK_EQ(atomic_load(&n), 1060);
    CHECK_EQ(parx_reduce(p, 0, 500, 10, sizeof got, &zero, spawning_leaf, add_sizes, &n, &got), 0);
    CHECK_EQ_U(got, 500);
    CHECK_EQ(atomic_load(&n), 1560);
    parx_pool_destroy(p);
}

int main(void)
{
    pt_plan(8);
    pt_run("each index exactly once: begin 0/1000/near SIZE_MAX, n 1..20011, grain 0/1/7/1000/"
           "n/huge, 1..4 threads; chunks within the grain",
           test_exactly_once);
    pt_run("empty range returns 0 and never calls fn", test_empty_range);
    pt_run("pool of all CPUs (NULL desc)", test_all_cpus_pool);
    pt_run("costs varying 100x (ramp, random, spikes): each index once, results right",
           test_uneven);
    pt_run("nested parx_for inside a parx_for body", test_nested_for);
    pt_run("parx_for called from inside tasks (one and two levels deep)", test_for_in_task);
    pt_run("parx_for from three outside threads on one pool at once", test_concurrent_callers);
    pt_run("bodies and leaves that spawn work wherever they run, also on the caller",
           test_body_spawns_anywhere);
    return pt_done_testing();
}
