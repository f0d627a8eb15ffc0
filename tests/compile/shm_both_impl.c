/* Compile check: both headers implemented in one unit, in the order the
   build picks (-DSHM_FIRST: parx_shm.h first). The errors-and-logging block
   they share must be emitted once. Runs a task and allocates in an arena. */
#define _GNU_SOURCE
#define PARX_IMPLEMENTATION
#ifdef SHM_FIRST
#include "parx_shm.h"
#include "parx.h"
#else
#include "parx.h"
#include "parx_shm.h"
#endif

#include <stdio.h>

static void set_flag(void *arg)
{
    *(int *)arg = 1;
}

int main(void)
{
    int ran = 0;
    parx_pool *pool = parx_pool_create(&(parx_pool_desc){.threads = 1});
    if (pool) {
        parx_group g;
        parx_group_init(&g, pool);
        if (parx_spawn(&g, set_flag, &ran) != 0 || parx_wait(&g) != 0)
            ran = 0;
        parx_pool_destroy(pool);
    }
    parx_arena *a = parx_arena_create(&(parx_arena_desc){.size = 1 << 20}, NULL);
    void *p = a ? parx_arena_alloc(a, 100, 0) : NULL;
    int ok = ran && p != NULL && parx_arena_free(a, p) == 0;
    parx_arena_close(a);

    printf("1..1\n%s 1 - parx.h and parx_shm.h implemented in one unit\n", ok ? "ok" : "not ok");
    return ok ? 0 : 1;
}
