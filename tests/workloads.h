/* SPDX-License-Identifier: MIT */
/* tests/workloads.h -- work shared by the unit and stress tests.

   work(i, cost)   busy work of `cost` units whose result depends on every
                   step, so the compiler can neither drop nor shortcut it;
   struct hist     a 544-byte reduction accumulator (well above the 256 bytes
                   parx_reduce keeps on its stack), with hist_leaf folding an
                   array of doubles given as ctx and hist_combine merging two;
   wild(r)         a double whose sums lose different low bits in every
                   association order (the determinism tests' data). */
#ifndef PARX_TEST_WORKLOADS_H
#define PARX_TEST_WORKLOADS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "parx.h"

static inline uint64_t work(size_t i, unsigned cost)
{
    uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15u + 1;
    for (unsigned k = 0; k < cost * 20u; k++)
        x = (x ^ (x >> 29)) * 0xBF58476D1CE4E5B9u; /* not affine: no shortcut */
    return x;
}

/* A double with a random sign, a random 52-bit mantissa and a binary
   exponent in [-40, 40]: sums of these lose different low bits in every
   association order. Built from its bits, so no libm is needed. */
static inline double wild(parx_rng *r)
{
    uint64_t u = parx_rng_next(r);
    uint64_t exp = 1023 - 40 + (u >> 56) % 81;
    uint64_t bits = (u & 0x000FFFFFFFFFFFFFu) | (exp << 52) | (parx_rng_next(r) & (1ull << 63));
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

#define BINS 64

struct hist {
    uint64_t bin[BINS];
    double sum;
    uint64_t count;
    double min, max;
};

/* The identity: empty bins, min above and max below every value. */
static inline struct hist hist_identity(void)
{
    struct hist h;
    memset(&h, 0, sizeof h);
    h.min = 1e300;
    h.max = -1e300;
    return h;
}

static inline void hist_leaf(void *ctx, size_t b, size_t e, void *acc)
{
    const double *a = (const double *)ctx;
    struct hist *h = (struct hist *)acc;
    for (size_t i = b; i < e; i++) {
        uint64_t bits;
        memcpy(&bits, &a[i], sizeof bits);
        h->bin[(bits >> 52) % BINS]++;
        h->sum += a[i];
        h->count++;
        if (a[i] < h->min)
            h->min = a[i];
        if (a[i] > h->max)
            h->max = a[i];
    }
}

static inline void hist_combine(void *ctx, void *acc, const void *other)
{
    (void)ctx;
    struct hist *h = (struct hist *)acc;
    const struct hist *o = (const struct hist *)other;
    for (int i = 0; i < BINS; i++)
        h->bin[i] += o->bin[i];
    h->sum += o->sum;
    h->count += o->count;
    if (o->min < h->min)
        h->min = o->min;
    if (o->max > h->max)
        h->max = o->max;
}

#endif
