/* SPDX-License-Identifier: MIT */
/* tests/rng.c -- the counter-based generator: known answers, determinism,
   distinct streams, random access (parx_rng_at), and the range and rough
   moments of parx_rng_uniform. Every seed here is fixed, so the run is the
   same every time; the tolerances are many standard deviations wide. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parx.h"
#include "parx_test.h"

static void test_splitmix_known_answers(void)
{
    /* With the key set directly, the stream is plain SplitMix64 (Steele, Lea,
       Flood 2014) seeded with the key: value i = mix(key + (i + 1) * golden).
       Reference outputs of SplitMix64 for seed 1234567 and seed 0. */
    const uint64_t want_1234567[5] = {
        UINT64_C(6457827717110365317), UINT64_C(3203168211198807973),
        UINT64_C(9817491932198370423), UINT64_C(4593380528125082431),
        UINT64_C(16408922859458223821)};
    const uint64_t want_0[3] = {UINT64_C(0xE220A8397B1DCDAF), UINT64_C(0x6E789E6AA1B965F4),
                                UINT64_C(0x06C45D188009454F)};
    parx_rng r = {.key = 1234567, .counter = 0};
    for (int i = 0; i < 5; i++)
        CHECK_EQ_U(parx_rng_next(&r), want_1234567[i]);
    CHECK_EQ_U(r.counter, 5);
    r = (parx_rng){.key = 0, .counter = 0};
    for (int i = 0; i < 3; i++)
        CHECK_EQ_U(parx_rng_next(&r), want_0[i]);
}

static void test_deterministic(void)
{
    parx_rng a = parx_rng_for(42, 7), b = parx_rng_for(42, 7);
    CHECK_EQ_U(a.key, b.key);
    CHECK_EQ_U(a.counter, 0);
    size_t diff = 0;
    for (int i = 0; i < 10000; i++)
        if (parx_rng_next(&a) != parx_rng_next(&b))
            diff++;
    CHECK_EQ_U(diff, 0);
    /* uniform draws too, bit for bit */
    a = parx_rng_for(0, 0);
    b = parx_rng_for(0, 0);
    for (int i = 0; i < 1000; i++) {
        double x = parx_rng_uniform(&a), y = parx_rng_uniform(&b);
        if (memcmp(&x, &y, sizeof x) != 0)
            diff++;
    }
    CHECK_EQ_U(diff, 0);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Number of equal neighbours after sorting: 0 means all distinct. */
static size_t duplicates(uint64_t *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_u64);
    size_t d = 0;
    for (size_t i = 1; i < n; i++)
        if (v[i] == v[i - 1])
            d++;
    return d;
}

static void test_distinct_streams(void)
{
    enum { N = 4096 };
    static uint64_t v[3 * N];
    /* first value of streams 0..N-1 under seed 1, of seeds 2..N+1 in stream 0,
       and of the diagonal (k, k) for k in N+2..2N+1: 3N distinct pairs, so
       3N values, none equal */
    for (uint64_t k = 0; k < N; k++) {
        parx_rng a = parx_rng_for(1, k), b = parx_rng_for(k + 2, 0);
        parx_rng c = parx_rng_for(k + N + 2, k + N + 2);
        v[k] = parx_rng_next(&a);
        v[N + k] = parx_rng_next(&b);
        v[2 * N + k] = parx_rng_next(&c);
    }
    CHECK_EQ_U(duplicates(v, 3 * N), 0);
    /* seed and stream are not interchangeable */
    parx_rng x = parx_rng_for(1, 2), y = parx_rng_for(2, 1);
    CHECK(x.key != y.key);
    CHECK(parx_rng_next(&x) != parx_rng_next(&y));
    /* neighbouring streams do not overlap: the first 1000 values of streams
       0 and 1 share none */
    static uint64_t w[2000];
    parx_rng s0 = parx_rng_for(9, 0), s1 = parx_rng_for(9, 1);
    for (int i = 0; i < 1000; i++) {
        w[i] = parx_rng_next(&s0);
        w[1000 + i] = parx_rng_next(&s1);
    }
    CHECK_EQ_U(duplicates(w, 2000), 0);
}

/* The header's account of overlaps: every stream is a window of one
   sequence, value i of stream b being value i + d of stream a with
   d = (key_b - key_a) / golden mod 2^64, and its example pair. */
static void test_overlap_as_documented(void)
{
    uint64_t inv = PARX__GOLDEN; /* golden^-1 mod 2^64, by Newton's iteration */
    for (int k = 0; k < 6; k++)
        inv *= 2 - PARX__GOLDEN * inv;
    CHECK_EQ_U(inv * PARX__GOLDEN, 1);
    const uint64_t pairs[][3] = {{42, 102701, 295741}, {9, 0, 1}, {1, 5, 123456789}};
    for (size_t k = 0; k < 3; k++) {
        parx_rng a = parx_rng_for(pairs[k][0], pairs[k][1]);
        parx_rng b = parx_rng_for(pairs[k][0], pairs[k][2]);
        uint64_t d = (b.key - a.key) * inv;
        size_t diff = 0;
        for (uint64_t i = 0; i < 1000; i++)
            if (parx_rng_at(b, i) != parx_rng_at(a, i + d))
                diff++;
        CHECK_MSG(diff == 0, "seed %llu, streams %llu and %llu: %zu of 1000 values differ",
                  (unsigned long long)pairs[k][0], (unsigned long long)pairs[k][1],
                  (unsigned long long)pairs[k][2], diff);
        if (k == 0)
            CHECK_EQ_U(d, 1709224); /* the example in the header */
    }
}

static void test_at(void)
{
    parx_rng r = parx_rng_for(123, 456);
    const parx_rng start = r;
    size_t diff = 0;
    for (uint64_t i = 0; i < 10000; i++) {
        uint64_t at = parx_rng_at(start, i);
        if (at != parx_rng_next(&r))
            diff++;
    }
    CHECK_EQ_U(diff, 0);
    CHECK_EQ_U(r.counter, 10000);
    /* the index is absolute: an advanced generator still answers value 0 */
    CHECK_EQ_U(parx_rng_at(r, 0), parx_rng_at(start, 0));
    /* parx_rng_at does not advance (it takes r by value) */
    parx_rng q = start;
    (void)parx_rng_at(q, 5);
    CHECK_EQ_U(q.counter, 0);
    /* far indices: jump there by setting the counter */
    parx_rng far = start;
    far.counter = UINT64_C(1) << 40;
    CHECK_EQ_U(parx_rng_next(&far), parx_rng_at(start, UINT64_C(1) << 40));
    CHECK_EQ_U(parx_rng_next(&far), parx_rng_at(start, (UINT64_C(1) << 40) + 1));
}

/* 1e6 draws that must look uniform on [0,1): counted as they come, then
   checked all at once. */
enum { TALLY_N = 1000000, TALLY_BINS = 10 };
typedef struct tally {
    double sum, sumsq, lo, hi;
    size_t n, out_of_range, not_53_bits, bins[TALLY_BINS];
} tally;

static void tally_add(tally *t, double u)
{
    t->n++;
    if (!(u >= 0.0 && u < 1.0)) {
        t->out_of_range++;
        return;
    }
    double scaled = u * 9007199254740992.0; /* 2^53: must be a whole number */
    if (scaled != (double)(uint64_t)scaled)
        t->not_53_bits++;
    t->sum += u;
    t->sumsq += u * u;
    t->lo = u < t->lo ? u : t->lo;
    t->hi = u > t->hi ? u : t->hi;
    t->bins[(int)(u * TALLY_BINS)]++;
}

static void tally_check(const tally *t, const char *what)
{
    CHECK_EQ_U(t->n, TALLY_N);
    CHECK_EQ_U(t->out_of_range, 0);
    CHECK_EQ_U(t->not_53_bits, 0);
    double mean = t->sum / TALLY_N, var = t->sumsq / TALLY_N - mean * mean;
    pt_diag("%s: mean %.6f (want 0.5), variance %.6f (want %.6f), min %.3g, max %.9f", what,
            mean, var, 1.0 / 12, t->lo, t->hi);
    /* standard error of the mean: sqrt(1/12 / 1e6) = 0.00029; allow 0.003 */
    CHECK_NEAR(mean, 0.5, 0.003);
    CHECK_NEAR(var, 1.0 / 12.0, 0.003);
    CHECK(t->lo < 1e-4);
    CHECK(t->hi > 1.0 - 1e-4);
    /* each tenth gets 100000 +- 300 (one sd); allow 3000 */
    for (int b = 0; b < TALLY_BINS; b++)
        CHECK_MSG(t->bins[b] > 97000 && t->bins[b] < 103000, "%s: bin %d has %zu of 1e6", what,
                  b, t->bins[b]);
}

static void test_uniform(void)
{
    tally t = {.lo = 1.0};
    parx_rng r = parx_rng_for(2024, 3);
    for (int i = 0; i < TALLY_N; i++)
        tally_add(&t, parx_rng_uniform(&r));
    tally_check(&t, "1e6 uniforms of one stream");
}

static void test_uniform_across_streams(void)
{
    /* one draw from each of 1e6 streams (the Monte Carlo pattern: sample i
       uses stream i) is just as uniform */
    tally t = {.lo = 1.0};
    for (uint64_t i = 0; i < TALLY_N; i++) {
        parx_rng r = parx_rng_for(77, i);
        tally_add(&t, parx_rng_uniform(&r));
    }
    tally_check(&t, "first draws of 1e6 streams");
}

int main(void)
{
    pt_plan(7);
    pt_run("with a given key the stream is SplitMix64 (reference values)",
           test_splitmix_known_answers);
    pt_run("parx_rng_for is deterministic", test_deterministic);
    pt_run("distinct (seed, stream) pairs give distinct streams", test_distinct_streams);
    pt_run("streams are windows of one sequence, d = (key_b - key_a) / golden apart, as documented",
           test_overlap_as_documented);
    pt_run("parx_rng_at(r, i) equals the i-th parx_rng_next", test_at);
    pt_run("parx_rng_uniform in [0,1), 53-bit, mean/variance/deciles of 1e6 draws",
           test_uniform);
    pt_run("first draws of 1e6 streams are uniform", test_uniform_across_streams);
    return pt_done_testing();
}
