/* A program that uses parx the way a downstream project would: through its
   build system's dependency (meson subproject, CMake add_subdirectory or
   find_package, pkg-config) and with the implementation in its own file.
   The build scripts beside this file are what is being tested; this program
   only proves that what they produce compiles, links and runs. */
#define _GNU_SOURCE
#define PARX_IMPLEMENTATION
#include "parx.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

/* parx_for body: add every index of its sub-range to a shared total. */
static void add_indices(void *ctx, size_t begin, size_t end)
{
    uint64_t local = 0;
    for (size_t i = begin; i < end; i++)
        local += i;
    atomic_fetch_add_explicit((_Atomic uint64_t *)ctx, local, memory_order_relaxed);
}

int main(void)
{
    const size_t n = 1000000;
    _Atomic uint64_t total = 0;

    parx_pool *pool = parx_pool_create(NULL);
    if (pool == NULL) {
        perror("parx_pool_create");
        return 1;
    }
    int rc = parx_for(pool, 0, n, 0, add_indices, &total);
    parx_pool_destroy(pool);

    uint64_t want = (uint64_t)n * (n - 1) / 2;
    if (rc != 0 || atomic_load(&total) != want) {
        fprintf(stderr, "consumer: parx_for returned %d (%s), sum %llu, want %llu\n", rc,
                parx_strerror(rc), (unsigned long long)atomic_load(&total),
                (unsigned long long)want);
        return 1;
    }
    printf("consumer ok\n");
    return 0;
}
