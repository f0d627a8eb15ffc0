/* Compile check, unit B of two: declarations only. It calls parx directly and
   through unit A, and the link must find each definition exactly once. */
#include "parx.h"
#include "tu.h"

#include <stdio.h>

int main(void)
{
    const size_t n = 10000;
    uint64_t sum = 0;
    parx_pool *pool = parx_pool_create(&(parx_pool_desc){.threads = 2});
    int ok = pool != NULL && tu_a_sum(pool, n, &sum) == 0 && sum == (uint64_t)n * (n - 1) / 2;
    parx_pool_destroy(pool);

    printf("1..1\n%s 1 - two units share one implementation\n", ok ? "ok" : "not ok");
    return ok ? 0 : 1;
}
