/* Compile check: the implementation with PARX_NO_URING, built without
   liburing (the build gives this program no liburing to include or link).
   The prefetcher and the writer still work, on their thread backend, say
   why, and refuse PARX_IO_URING with -EOPNOTSUPP. Reads this file itself. */
#define _GNU_SOURCE
#define PARX_IMPLEMENTATION
#include "parx.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifndef PARX_NO_URING
#error "this check is compiled with -DPARX_NO_URING"
#endif

int main(void)
{
    const char *paths[1] = {__FILE__};
    int err = 0;
    parx_prefetch *pf =
        parx_prefetch_open(&(parx_prefetch_desc){.paths = paths, .npaths = 1}, &err);
    const char *why = "";
    int ok = pf != NULL && parx_prefetch_backend(pf, &why) == PARX_IO_THREADS &&
             strcmp(why, "threads: built with PARX_NO_URING") == 0;
    size_t bytes = 0;
    parx_chunk c;
    while (pf && parx_prefetch_next(pf, &c) == 1) {
        ok = ok && memcmp(c.data, "/* Compile check", 16 * (c.index == 0)) == 0;
        bytes += c.size;
        parx_prefetch_release(pf, &c);
    }
    parx_prefetch_close(pf);
    ok = ok && bytes > 100;
    ok = ok &&
         parx_prefetch_open(
             &(parx_prefetch_desc){.paths = paths, .npaths = 1, .backend = PARX_IO_URING}, &err) ==
             NULL &&
         err == -EOPNOTSUPP;
    ok = ok &&
         parx_writer_open(
             &(parx_writer_desc){.path = "prefetch_no_uring.out", .backend = PARX_IO_URING},
             &err) == NULL &&
         err == -EOPNOTSUPP;
    remove("prefetch_no_uring.out");

    printf("1..1\n%s 1 - PARX_NO_URING: the prefetcher reads on threads, without liburing\n",
           ok ? "ok" : "not ok");
    return ok ? 0 : 1;
}
