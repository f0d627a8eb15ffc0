/* Compile check, unit A of two: this unit holds the implementation, and code
   of its own that uses parx (unit B sees it through tu.h). */
#define _GNU_SOURCE
#define PARX_IMPLEMENTATION
#include "parx.h"
#include "tu.h"

static void add_range(void *ctx, size_t begin, size_t end, void *acc)
{
    (void)ctx;
    for (size_t i = begin; i < end; i++)
        *(uint64_t *)acc += i;
}

static void add_acc(void *ctx, void *acc, const void *other)
{
    (void)ctx;
    *(uint64_t *)acc += *(const uint64_t *)other;
}

int tu_a_sum(parx_pool *pool, size_t n, uint64_t *sum)
{
    const uint64_t zero = 0;
    return parx_reduce(pool, 0, n, 0, sizeof zero, &zero, add_range, add_acc, NULL, sum);
}
