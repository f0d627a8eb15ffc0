/* SPDX-License-Identifier: MIT */
/* tests/reduce_stress.c -- parx_reduce's determinism under load. Sizes scale
   with PARX_STRESS_SCALE (default 1.0):
   - a sum of 1 million doubles of wildly different magnitudes, repeated on
     pools of 1, 2, 3, 4, 7 threads and all CPUs with grains 0, 1, 7, 1000:
     every result is the same bytes as the sequential reference tree;
   - a 544-byte histogram accumulator over the same data;
   - four outside threads reducing on one pool at once. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parx.h"
#include "parx_test.h"
#include "workloads.h"

static const double *data;
static size_t n_data;

static void sum_leaf(void *ctx, size_t b, size_t e, void *acc)
{
    (void)ctx;
    double s = *(double *)acc;
    for (size_t i = b; i < e; i++)
        s += data[i];
    *(double *)acc = s;
}

static void sum_combine(void *ctx, void *acc, const void *other)
{
    (void)ctx;
    *(double *)acc += *(const double *)other;
}

static size_t auto_grain(size_t n)
{
    size_t g = n / 2048 + (n % 2048 != 0);
    return g > 64 ? g : 64;
}

static double ref_node(size_t end, size_t grain, size_t lo, size_t hi)
{
    if (hi - lo == 1) {
        size_t b = lo * grain, e = end - b > grain ? b + grain : end;
        double acc = 0.0;
        sum_leaf(NULL, b, e, &acc);
        return acc;
    }
    size_t mid = lo + (hi - lo) / 2;
    double l = ref_node(end, grain, lo, mid), r = ref_node(end, grain, mid, hi);
    sum_combine(NULL, &l, &r);
    return l;
}

static double ref_sum(size_t n, size_t grain)
{
    if (grain == 0)
        grain = auto_grain(n);
    return ref_node(n, grain, 0, n / grain + (n % grain != 0));
}

static double par_sum(parx_pool *p, size_t n, size_t grain, int *rc)
{
    const double zero = 0.0;
    double got = -1.0;
    *rc = parx_reduce(p, 0, n, grain, sizeof got, &zero, sum_leaf, sum_combine, NULL, &got);
    return got;
}

static void test_sums(void)
{
    const int threads[] = {1, 2, 3, 4, 7, 0};
    const size_t grains[] = {0, 1, 7, 1000};
    double want[4];
    size_t ns[4];
    for (size_t gi = 0; gi < 4; gi++) {
        ns[gi] = grains[gi] == 1 ? n_data / 4 : n_data; /* grain 1: one leaf per element */
        want[gi] = ref_sum(ns[gi], grains[gi]);
    }
    pt_diag("n %zu: grain 0 %.17g, 7 %.17g, 1000 %.17g", n_data, want[0], want[2], want[3]);
    size_t runs = 0, mismatches = 0;
    for (size_t ti = 0; ti < 6; ti++) {
        parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = threads[ti]});
        REQUIRE(p != NULL);
        for (int rep = 0; rep < 3; rep++)
            for (size_t gi = 0; gi < 4; gi++) {
                int rc;
                double got = par_sum(p, ns[gi], grains[gi], &rc);
                runs++;
                CHECK_EQ(rc, 0);
                if (memcmp(&got, &want[gi], sizeof got) != 0 && mismatches++ < 5)
                    CHECK_MSG(0, "%d threads, grain %zu, repetition %d: %.17g, want %.17g",
                              parx_pool_size(p), grains[gi], rep, got, want[gi]);
            }
        parx_pool_destroy(p);
    }
    CHECK_EQ_U(mismatches, 0);
    pt_diag("%zu reductions, %zu mismatches", runs, mismatches);
}

static void test_histogram(void)
{
    struct hist id, first, got;
    id = hist_identity();
    /* the sequential reference for everything but the sum's bits */
    struct hist seq = id;
    hist_leaf((void *)data, 0, n_data, &seq);
    const int threads[] = {1, 3, 0};
    for (size_t ti = 0; ti < 3; ti++) {
        parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = threads[ti]});
        REQUIRE(p != NULL);
        memset(&got, 0, sizeof got);
        CHECK_EQ(parx_reduce(p, 0, n_data, 500, sizeof got, &id, hist_leaf, hist_combine,
                             (void *)data, &got),
                 0);
        CHECK_EQ_U(got.count, n_data);
        CHECK(memcmp(got.bin, seq.bin, sizeof got.bin) == 0);
        CHECK(got.min == seq.min && got.max == seq.max);
        if (ti == 0)
            first = got;
        else
            CHECK_MEMEQ(&got, &first, sizeof got); /* the same bytes on every pool */
        parx_pool_destroy(p);
    }
}

struct reducer {
    pthread_t th;
    parx_pool *p;
    size_t rounds, bad;
    double want;
};

static void *reducer_main(void *arg)
{
    struct reducer *r = (struct reducer *)arg;
    for (size_t k = 0; k < r->rounds; k++) {
        int rc;
        double got = par_sum(r->p, n_data, 0, &rc);
        if (rc != 0 || memcmp(&got, &r->want, sizeof got) != 0)
            r->bad++;
    }
    return NULL;
}

static void test_concurrent(void)
{
    parx_pool *p = parx_pool_create(NULL);
    REQUIRE(p != NULL);
    double want = ref_sum(n_data, 0);
    struct reducer rs[4];
    for (int k = 0; k < 4; k++) {
        rs[k] = (struct reducer){.p = p, .rounds = 5, .want = want};
        REQUIRE(pthread_create(&rs[k].th, NULL, reducer_main, &rs[k]) == 0);
    }
    for (int k = 0; k < 4; k++) {
        pthread_join(rs[k].th, NULL);
        CHECK_MSG(rs[k].bad == 0, "thread %d: %zu of %zu results wrong", k, rs[k].bad,
                  rs[k].rounds);
    }
    parx_pool_destroy(p);
}

int main(void)
{
    n_data = pt_scaled(1000000, 1000);
    double *a = malloc(n_data * sizeof *a);
    if (!a)
        pt_bail_out("out of memory for the data");
    parx_rng r = parx_rng_for(5, 0);
    for (size_t i = 0; i < n_data; i++)
        a[i] = wild(&r);
    data = a;
    pt_plan(3);
    pt_run("1e6-element double sums bitwise equal to the reference on 1/2/3/4/7/all threads, "
           "grains 0/1/7/1000, 3 repetitions",
           test_sums);
    pt_run("544-byte histogram accumulator: same bytes on every pool", test_histogram);
    pt_run("four outside threads reducing on one pool at once", test_concurrent);
    free(a);
    return pt_done_testing();
}
