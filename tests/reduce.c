/* SPDX-License-Identifier: MIT */
/* tests/reduce.c -- unit tests of parx_reduce.

   The determinism promise is tested bit for bit: a double sum over values of
   wildly different magnitudes (so that any change of association order
   changes the bits) must give the same bytes on pools of 1, 2, 3, 4 and 7
   threads, and the same bytes as a sequential reference that implements the
   documented tree: leaves of `grain` iterations (auto grain for 0:
   max(64, ceil(n / 2048))), combined over leaf indices by node [lo, hi) =
   combine([lo, mid), [mid, hi)), mid = lo + (hi - lo) / 2.
   Also: leaf ranges and the tree shape checked call by call, accumulators
   larger than 256 bytes and of odd sizes, the empty range, and reductions
   started from tasks, loop bodies and several threads at once.
   The large runs are in tests/reduce_stress.c. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parx.h"
#include "parx_test.h"
#include "workloads.h"

/* ===== data and the sequential reference ================================= */


static double *make_data(size_t n, uint64_t seed)
{
    double *a = malloc((n ? n : 1) * sizeof *a);
    if (!a)
        return NULL;
    parx_rng r = parx_rng_for(seed, 0);
    for (size_t i = 0; i < n; i++)
        a[i] = wild(&r);
    return a;
}

struct sum_ctx {
    const double *a;
    size_t begin; /* a[i - begin] is iteration i */
};

static void sum_leaf(void *ctx, size_t b, size_t e, void *acc)
{
    const struct sum_ctx *c = (const struct sum_ctx *)ctx;
    double s = *(double *)acc;
    for (size_t i = b; i < e; i++)
        s += c->a[i - c->begin];
    *(double *)acc = s;
}

static void sum_combine(void *ctx, void *acc, const void *other)
{
    (void)ctx;
    *(double *)acc += *(const double *)other;
}

/* The documented automatic grain. */
static size_t reduce_auto_grain(size_t n)
{
    size_t g = n / 2048 + (n % 2048 != 0);
    return g > 64 ? g : 64;
}

/* Node [lo, hi) of leaves, as the documentation describes it. */
static double ref_node(const struct sum_ctx *c, size_t end, size_t grain, size_t lo, size_t hi)
{
    if (hi - lo == 1) {
        size_t b = c->begin + lo * grain;
        size_t e = end - b > grain ? b + grain : end;
        double acc = 0.0;
        sum_leaf((void *)c, b, e, &acc);
        return acc;
    }
    size_t mid = lo + (hi - lo) / 2;
    double left = ref_node(c, end, grain, lo, mid);
    double right = ref_node(c, end, grain, mid, hi);
    sum_combine(NULL, &left, &right);
    return left;
}

static double ref_sum(const double *a, size_t begin, size_t n, size_t grain)
{
    if (n == 0)
        return 0.0;
    if (grain == 0)
        grain = reduce_auto_grain(n);
    struct sum_ctx c = {a, begin};
    size_t leaves = n / grain + (n % grain != 0);
    return ref_node(&c, begin + n, grain, 0, leaves);
}

/* ===== bitwise determinism ================================================ */

static void test_bitwise(void)
{
    const size_t n = 100003, begins[] = {0, 17};
    double *a = make_data(n, 1);
    REQUIRE(a != NULL);
    const int threads[] = {1, 2, 3, 4, 7};
    const size_t grains[] = {0, 1, 7, 1000};
    double ref[2][4];
    for (size_t bi = 0; bi < 2; bi++)
        for (size_t gi = 0; gi < 4; gi++)
            ref[bi][gi] = ref_sum(a, begins[bi], n, grains[gi]);

    /* The test is only meaningful if association order shows in the bits. */
    double naive = 0.0;
    for (size_t i = 0; i < n; i++)
        naive += a[i];
    CHECK_MSG(memcmp(&ref[0][1], &ref[0][3], sizeof(double)) != 0 &&
              memcmp(&ref[0][0], &naive, sizeof(double)) != 0,
              "test data too tame: different trees gave the same bits");
    pt_diag("n %zu: left-to-right %.17g; tree, grain 0: %.17g, 1: %.17g, 7: %.17g, 1000: %.17g",
            n, naive, ref[0][0], ref[0][1], ref[0][2], ref[0][3]);

    for (size_t ti = 0; ti < 5; ti++) {
        parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = threads[ti]});
        REQUIRE(p != NULL);
        for (size_t bi = 0; bi < 2; bi++)
            for (size_t gi = 0; gi < 4; gi++) {
                struct sum_ctx c = {a, begins[bi]};
                const double zero = 0.0;
                double got = -1.0;
                int rc = parx_reduce(p, begins[bi], begins[bi] + n, grains[gi], sizeof(double),
                                     &zero, sum_leaf, sum_combine, &c, &got);
                CHECK_EQ(rc, 0);
                if (!CHECK_MEMEQ(&got, &ref[bi][gi], sizeof got))
                    pt_diag("  ^ %d threads, begin %zu, grain %zu", threads[ti], begins[bi],
                            grains[gi]);
            }
        parx_pool_destroy(p);
    }
    free(a);
}

static void test_auto_grain_sizes(void)
{
    /* n around the points where the automatic grain changes */
    const size_t ns[] = {1, 63, 64, 65, 1000, 131072, 131073, 200000, 300001};
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = 3});
    REQUIRE(p != NULL);
    double *a = make_data(300001, 2);
    REQUIRE(a != NULL);
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        struct sum_ctx c = {a, 0};
        const double zero = 0.0;
        double got = -1.0, want = ref_sum(a, 0, ns[k], 0);
        CHECK_EQ(parx_reduce(p, 0, ns[k], 0, sizeof got, &zero, sum_leaf, sum_combine, &c, &got),
                 0);
        if (!CHECK_MEMEQ(&got, &want, sizeof got))
            pt_diag("  ^ n %zu, auto grain (documented: %zu)", ns[k], reduce_auto_grain(ns[k]));
    }
    free(a);
    parx_pool_destroy(p);
}

/* ===== leaves and tree shape, call by call ================================ */

/* The accumulator carries the leaf-index interval it covers; combine checks
   that `acc` and `other` are the two halves the documentation names. */
struct span {
    size_t lo, hi; /* leaf indices [lo, hi); lo == SIZE_MAX: the identity */
};

struct shape_ctx {
    size_t begin, end, grain;
    atomic_long leaf_calls, combine_calls, bad_leaf, bad_combine, dirty_identity;
};

static void span_leaf(void *ctx, size_t b, size_t e, void *acc)
{
    struct shape_ctx *c = (struct shape_ctx *)ctx;
    struct span *s = (struct span *)acc;
    atomic_fetch_add(&c->leaf_calls, 1);
    if (s->lo != SIZE_MAX || s->hi != SIZE_MAX)
        atomic_fetch_add(&c->dirty_identity, 1); /* a leaf must start from the identity */
    size_t want_e = c->end - b > c->grain ? b + c->grain : c->end;
    if (b < c->begin || b >= c->end || (b - c->begin) % c->grain != 0 || e != want_e)
        atomic_fetch_add(&c->bad_leaf, 1);
    s->lo = (b - c->begin) / c->grain;
    s->hi = s->lo + 1;
}

static void span_combine(void *ctx, void *acc, const void *other)
{
    struct shape_ctx *c = (struct shape_ctx *)ctx;
    struct span *l = (struct span *)acc;
    const struct span *r = (const struct span *)other;
    atomic_fetch_add(&c->combine_calls, 1);
    /* left [lo, mid) then right [mid, hi), with mid = lo + (hi - lo) / 2 */
    if (l->lo == SIZE_MAX || r->lo == SIZE_MAX || l->hi != r->lo ||
        l->hi != l->lo + (r->hi - l->lo) / 2)
        atomic_fetch_add(&c->bad_combine, 1);
    l->hi = r->hi;
}

static void check_shape(parx_pool *p, size_t begin, size_t n, size_t grain)
{
    struct shape_ctx c;
    memset(&c, 0, sizeof c);
    c.begin = begin;
    c.end = begin + n;
    c.grain = grain ? grain : reduce_auto_grain(n);
    const struct span identity = {SIZE_MAX, SIZE_MAX};
    struct span got = {123, 456};
    CHECK_EQ(parx_reduce(p, begin, begin + n, grain, sizeof got, &identity, span_leaf,
                         span_combine, &c, &got), 0);
    size_t leaves = n / c.grain + (n % c.grain != 0);
    int ok = CHECK_EQ_U(got.lo, 0) & CHECK_EQ_U(got.hi, leaves);
    ok &= CHECK_EQ(atomic_load(&c.leaf_calls), (long)leaves);
    ok &= CHECK_EQ(atomic_load(&c.combine_calls), (long)leaves - 1);
    ok &= CHECK_EQ(atomic_load(&c.bad_leaf), 0);
    ok &= CHECK_EQ(atomic_load(&c.bad_combine), 0);
    ok &= CHECK_EQ(atomic_load(&c.dirty_identity), 0);
    if (!ok)
        pt_diag("  ^ %d threads, begin %zu, n %zu, grain %zu", parx_pool_size(p), begin, n,
                grain);
}

static void test_shape(void)
{
    for (int t = 1; t <= 4; t++) {
        parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = t});
        REQUIRE(p != NULL);
        check_shape(p, 0, 1, 1);
        check_shape(p, 0, 100, 1);
        check_shape(p, 5, 1000, 7);
        check_shape(p, 5, 1000, 1000);
        check_shape(p, 5, 1000, 5000);
        check_shape(p, 1000, 99999, 0);
        check_shape(p, SIZE_MAX - 5000, 5000, 3);
        check_shape(p, SIZE_MAX - 5000, 5000, 0);
        parx_pool_destroy(p);
    }
}

/* ===== large and odd accumulators ========================================= */

static void ref_hist_node(const double *a, size_t n, size_t g, size_t lo, size_t hi,
                          const struct hist *id, struct hist *out)
{
    if (hi - lo == 1) {
        *out = *id;
        size_t b = lo * g;
        hist_leaf((void *)a, b, n - b > g ? b + g : n, out);
        return;
    }
    size_t mid = lo + (hi - lo) / 2;
    struct hist r;
    ref_hist_node(a, n, g, lo, mid, id, out);
    ref_hist_node(a, n, g, mid, hi, id, &r);
    hist_combine(NULL, out, &r);
}

static void test_large_acc(void)
{
    const size_t n = 200001;
    double *a = make_data(n, 3);
    REQUIRE(a != NULL);
    struct hist id;
    id = hist_identity();
    const size_t grains[] = {0, 1, 333};
    for (int t = 1; t <= 4; t++) {
        parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = t});
        REQUIRE(p != NULL);
        for (size_t gi = 0; gi < 3; gi++) {
            size_t m = grains[gi] == 1 ? 5000 : n;
            size_t g = grains[gi] ? grains[gi] : reduce_auto_grain(m);
            struct hist want, got;
            ref_hist_node(a, m, g, 0, m / g + (m % g != 0), &id, &want);
            memset(&got, 0xCD, sizeof got);
            CHECK_EQ(parx_reduce(p, 0, m, grains[gi], sizeof(struct hist), &id, hist_leaf,
                                 hist_combine, a, &got), 0);
            CHECK_EQ_U(got.count, m);
            if (!CHECK_MEMEQ(&got, &want, sizeof got))
                pt_diag("  ^ %d threads, n %zu, grain %zu", t, m, grains[gi]);
        }
        parx_pool_destroy(p);
    }
    free(a);
}

/* An accumulator of 1000 bytes with no alignment beyond char's, and one of
   exactly 1 byte: the library must copy acc_size bytes, no more. */
struct bytes_ctx {
    size_t size;
};

static void bytes_leaf(void *ctx, size_t b, size_t e, void *acc)
{
    size_t size = ((struct bytes_ctx *)ctx)->size;
    unsigned char *x = (unsigned char *)acc;
    for (size_t i = b; i < e; i++)
        x[i % size] = (unsigned char)(x[i % size] * 31u + (unsigned)(i & 0xFF) + 1u);
}

static void bytes_combine(void *ctx, void *acc, const void *other)
{
    size_t size = ((struct bytes_ctx *)ctx)->size;
    unsigned char *x = (unsigned char *)acc;
    const unsigned char *y = (const unsigned char *)other;
    for (size_t i = 0; i < size; i++)
        x[i] = (unsigned char)(x[i] * 7u + y[i]); /* not commutative */
}

static void ref_bytes_node(struct bytes_ctx *c, size_t n, size_t g, size_t lo, size_t hi,
                           const unsigned char *id, unsigned char *out)
{
    if (hi - lo == 1) {
        memcpy(out, id, c->size);
        size_t b = lo * g;
        bytes_leaf(c, b, n - b > g ? b + g : n, out);
        return;
    }
    size_t mid = lo + (hi - lo) / 2;
    unsigned char *r = malloc(c->size);
    if (!r)
        abort();
    ref_bytes_node(c, n, g, lo, mid, id, out);
    ref_bytes_node(c, n, g, mid, hi, id, r);
    bytes_combine(c, out, r);
    free(r);
}

static void test_odd_acc_sizes(void)
{
    const size_t sizes[] = {1, 3, 257, 1000};
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = 3});
    REQUIRE(p != NULL);
    for (size_t k = 0; k < 4; k++) {
        struct bytes_ctx c = {sizes[k]};
        size_t n = 20000, g = 37;
        unsigned char *id = malloc(c.size), *want = malloc(c.size), *got = malloc(c.size + 16);
        REQUIRE(id && want && got);
        for (size_t i = 0; i < c.size; i++)
            id[i] = (unsigned char)(i * 13 + 5);
        ref_bytes_node(&c, n, g, 0, n / g + (n % g != 0), id, want);
        memset(got, 0xAB, c.size + 16);
        CHECK_EQ(parx_reduce(p, 0, n, g, c.size, id, bytes_leaf, bytes_combine, &c, got), 0);
        if (!CHECK_MEMEQ(got, want, c.size))
            pt_diag("  ^ acc_size %zu", c.size);
        unsigned char guard[16];
        memset(guard, 0xAB, sizeof guard);
        CHECK_MEMEQ(got + c.size, guard, sizeof guard); /* nothing past acc_size */
        free(id);
        free(want);
        free(got);
    }
    parx_pool_destroy(p);
}

/* ===== over-aligned accumulators ========================================== */

/* SIMD accumulators: a type that asks for 64-byte alignment (an AVX-512
   vector of 8 doubles, or 8 of them), which lets the compiler use aligned
   vector loads and stores on it. leaf and combine must get storage aligned
   for it: on the stack (64 bytes) and from the allocator (512 bytes; malloc
   promises only max_align_t's 16). A misaligned one is counted, not used. */
typedef struct vec8 {
    _Alignas(64) double v[8];
} vec8;

typedef struct vec64 {
    _Alignas(64) double v[64];
} vec64;

struct lanes_ctx {
    size_t lanes; /* doubles in the accumulator */
    atomic_int misaligned;
};

static void lanes_leaf(void *ctx, size_t b, size_t e, void *acc)
{
    struct lanes_ctx *c = (struct lanes_ctx *)ctx;
    if ((uintptr_t)acc % 64 != 0) {
        atomic_fetch_add(&c->misaligned, 1);
        return;
    }
    for (size_t i = b; i < e; i++) {
        if (c->lanes == 8)
            ((vec8 *)acc)->v[i % 8] += (double)i;
        else
            ((vec64 *)acc)->v[i % 64] += (double)i;
    }
}

static void lanes_combine(void *ctx, void *acc, const void *other)
{
    struct lanes_ctx *c = (struct lanes_ctx *)ctx;
    if ((uintptr_t)acc % 64 != 0 || (uintptr_t)other % 64 != 0) {
        atomic_fetch_add(&c->misaligned, 1);
        return;
    }
    for (size_t l = 0; l < c->lanes; l++) {
        if (c->lanes == 8)
            ((vec8 *)acc)->v[l] += ((const vec8 *)other)->v[l];
        else
            ((vec64 *)acc)->v[l] += ((const vec64 *)other)->v[l];
    }
}

static void test_aligned_acc(void)
{
    const size_t n = 20000, grain = 7;
    static vec64 id, got; /* vec8 uses the first 8 lanes */
    for (int t = 1; t <= 3; t++) {
        parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = t});
        REQUIRE(p != NULL);
        for (size_t lanes = 8; lanes <= 64; lanes *= 8) {
            struct lanes_ctx c = {.lanes = lanes};
            atomic_init(&c.misaligned, 0);
            memset(&id, 0, sizeof id);
            memset(&got, 0xCD, sizeof got);
            size_t size = lanes == 8 ? sizeof(vec8) : sizeof(vec64);
            CHECK_EQ(parx_reduce(p, 0, n, grain, size, &id, lanes_leaf, lanes_combine, &c, &got),
                     0);
            CHECK_MSG(atomic_load(&c.misaligned) == 0,
                      "%d threads, %zu-byte accumulator: %d calls got storage not aligned to 64",
                      t, size, atomic_load(&c.misaligned));
            /* lane l sums the i < n with i % lanes == l: exact in a double */
            size_t wrong = 0;
            for (size_t l = 0; l < lanes; l++) {
                size_t k = (n - l + lanes - 1) / lanes; /* how many such i */
                double want = (double)(l * k + lanes * (k * (k - 1) / 2));
                if (got.v[l] != want)
                    wrong++;
            }
            CHECK_MSG(wrong == 0, "%d threads, %zu-byte accumulator: %zu lanes wrong", t, size,
                      wrong);
        }
        parx_pool_destroy(p);
    }
}

/* ===== empty range ======================================================== */

static void never_leaf(void *ctx, size_t b, size_t e, void *acc)
{
    (void)b, (void)e, (void)acc;
    atomic_fetch_add((atomic_int *)ctx, 1);
}

static void never_combine(void *ctx, void *acc, const void *other)
{
    (void)acc, (void)other;
    atomic_fetch_add((atomic_int *)ctx, 1);
}

static void test_empty(void)
{
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = 2});
    REQUIRE(p != NULL);
    atomic_int calls;
    atomic_init(&calls, 0);
    struct hist id, got;
    memset(&id, 0x5A, sizeof id);
    const size_t begins[] = {0, 5, SIZE_MAX};
    for (size_t k = 0; k < 3; k++) {
        memset(&got, 0, sizeof got);
        CHECK_EQ(parx_reduce(p, begins[k], begins[k], 0, sizeof got, &id, never_leaf,
                             never_combine, &calls, &got), 0);
        CHECK_MEMEQ(&got, &id, sizeof got);
        double d = 1.0, zero = -0.0; /* the identity's exact bits, sign included */
        CHECK_EQ(parx_reduce(p, begins[k], begins[k], 7, sizeof d, &zero, never_leaf,
                             never_combine, &calls, &d), 0);
        CHECK_MEMEQ(&d, &zero, sizeof d);
    }
    CHECK_EQ(atomic_load(&calls), 0);
    parx_pool_destroy(p);
}

/* ===== reductions from tasks, loop bodies and several threads ============= */

static const double *shared_data;
static size_t shared_n;
static double shared_want; /* ref_sum(shared_data, 0, shared_n, 0) */
static parx_pool *shared_pool;
static atomic_int nested_mismatch, nested_runs;

static void reduce_and_check(void)
{
    struct sum_ctx c = {shared_data, 0};
    const double zero = 0.0;
    double got = -1.0;
    int rc = parx_reduce(shared_pool, 0, shared_n, 0, sizeof got, &zero, sum_leaf, sum_combine,
                         &c, &got);
    if (rc != 0 || memcmp(&got, &shared_want, sizeof got) != 0)
        atomic_fetch_add(&nested_mismatch, 1);
    atomic_fetch_add(&nested_runs, 1);
}

static void reduce_task(void *arg)
{
    (void)arg;
    reduce_and_check();
}

static void reduce_body(void *ctx, size_t b, size_t e)
{
    (void)ctx;
    for (size_t i = b; i < e; i++)
        reduce_and_check();
}

static void *reduce_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 5; i++)
        reduce_and_check();
    return NULL;
}

static void test_nested_and_concurrent(void)
{
    shared_n = 30011;
    double *a = make_data(shared_n, 4);
    REQUIRE(a != NULL);
    shared_data = a;
    shared_want = ref_sum(a, 0, shared_n, 0);
    atomic_init(&nested_mismatch, 0);
    atomic_init(&nested_runs, 0);
    for (int t = 1; t <= 3; t++) {
        shared_pool = parx_pool_create(&(parx_pool_desc){.threads = t});
        REQUIRE(shared_pool != NULL);
        /* from tasks */
        parx_group g;
        parx_group_init(&g, shared_pool);
        for (int i = 0; i < 6; i++)
            CHECK_EQ(parx_spawn(&g, reduce_task, NULL), 0);
        CHECK_EQ(parx_wait(&g), 0);
        /* from a parx_for body */
        CHECK_EQ(parx_for(shared_pool, 0, 6, 1, reduce_body, NULL), 0);
        /* from three outside threads at once */
        pthread_t th[3];
        for (int k = 0; k < 3; k++)
            REQUIRE(pthread_create(&th[k], NULL, reduce_thread, NULL) == 0);
        for (int k = 0; k < 3; k++)
            pthread_join(th[k], NULL);
        parx_pool_destroy(shared_pool);
    }
    CHECK_EQ(atomic_load(&nested_runs), 3 * (6 + 6 + 15));
    CHECK_EQ(atomic_load(&nested_mismatch), 0);
    free(a);
}

int main(void)
{
    pt_plan(8);
    pt_run("double sum bitwise identical on 1/2/3/4/7 threads, grains 0/1/7/1000, "
           "equal to the documented tree",
           test_bitwise);
    pt_run("automatic grain is max(64, ceil(n/2048)) (bits equal the reference)",
           test_auto_grain_sizes);
    pt_run("leaves and tree shape call by call; leaves start from the identity", test_shape);
    pt_run("large accumulator (544-byte histogram) equals the sequential tree",
           test_large_acc);
    pt_run("odd accumulator sizes (1, 3, 257, 1000 bytes), nothing written past them",
           test_odd_acc_sizes);
    pt_run("accumulators of a 64-byte-aligned type (64 and 512 bytes) get aligned storage",
           test_aligned_acc);
    pt_run("empty range gives the identity and calls nothing", test_empty);
    pt_run("parx_reduce from tasks, from a parx_for body and from 3 threads at once",
           test_nested_and_concurrent);
    return pt_done_testing();
}
