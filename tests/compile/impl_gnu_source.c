/* Compile check: the implementation in a program's own file, the way the
   "Do this" section of parx.h says: _GNU_SOURCE before any include, then
   PARX_IMPLEMENTATION. Runs one task on a pool of one thread. */
#define _GNU_SOURCE
#define PARX_IMPLEMENTATION
#include "parx.h"

#include <stdio.h>

static void set_flag(void *arg)
{
    *(int *)arg = 1;
}

int main(void)
{
    int ran = 0;
    parx_pool *pool = parx_pool_create(&(parx_pool_desc){.threads = 1});
    if (pool != NULL) {
        parx_group g;
        parx_group_init(&g, pool);
        if (parx_spawn(&g, set_flag, &ran) != 0 || parx_wait(&g) != 0)
            ran = 0;
        parx_pool_destroy(pool);
    }

    printf("1..1\n%s 1 - a one-thread pool runs a task\n", ran ? "ok" : "not ok");
    return ran ? 0 : 1;
}
