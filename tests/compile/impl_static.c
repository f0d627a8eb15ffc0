/* Compile check: a single-file program with PARX_STATIC, where every parx
   function is `static`. Most of them go unused here, which must not warn
   (the build compiles this with -Wall -Wextra -Wpedantic -Werror). */
#define _GNU_SOURCE
#define PARX_STATIC
#define PARX_IMPLEMENTATION
#include "parx.h"

#include <errno.h>
#include <stdio.h>

int main(void)
{
    parx_pool *pool = parx_pool_create(&(parx_pool_desc){.threads = 1});
    int ok = pool != NULL && parx_pool_size(pool) == 1 && parx_strerror(-ENOMEM)[0] != '\0';
    parx_pool_destroy(pool);

    printf("1..1\n%s 1 - PARX_STATIC program creates a pool of one thread\n", ok ? "ok" : "not ok");
    return ok ? 0 : 1;
}
