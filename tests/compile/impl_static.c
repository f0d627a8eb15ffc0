/* Compile check: a single-file program with PARX_STATIC, where every parx
   function is `static`. Most of them go unused here, which must not warn
   (the build compiles this with -Wall -Wextra -Wpedantic -Werror). */
#define _GNU_SOURCE
#define PARX_STATIC
#define PARX_IMPLEMENTATION
#include "parx.h"

#include <errno.h>
#include <stdio.h>

#ifndef PARX_NO_PROC
static int job(void *arg)
{
    return arg ? 1 : 7;
}
#endif

int main(void)
{
    parx_pool *pool = parx_pool_create(&(parx_pool_desc){.threads = 1});
    int ok = pool != NULL && parx_pool_size(pool) == 1 && parx_strerror(-ENOMEM)[0] != '\0';
    parx_pool_destroy(pool);
#ifndef PARX_NO_PROC
    /* the process pool in both modes: spawn mode finds the static constructor */
    for (int mode = PARX_START_FORK; mode <= PARX_START_SPAWN; mode++) {
        parx_procs *pp = parx_procs_create(&(parx_procs_desc){.workers = 1, .start = (parx_start)mode,
                                                              .arena_bytes = 4u << 20});
        parx_ticket t;
        parx_job_result r = {0};
        ok = ok && pp && parx_procs_submit(pp, job, NULL, &t) == 0 &&
             parx_procs_wait(pp, t, &r) == 0 && r.status == 7;
        parx_procs_destroy(pp);
    }
#endif

    printf("1..1\n%s 1 - PARX_STATIC program creates a pool of one thread (and of processes)\n", ok ? "ok" : "not ok");
    return ok ? 0 : 1;
}
