/* Compile check: with PARX_NO_PROC, parx.h stands alone (it includes
   parx_shm.h only where the process pool is enabled): the include path of
   this unit holds a copy of parx.h and no other parx header. Its
   implementation builds; the prefetcher reads this file on its default
   backend and refuses .arena with -EOPNOTSUPP, having no parx_shm.h to
   place its buffers with. */
#define _GNU_SOURCE
#define PARX_IMPLEMENTATION
#include "parx.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifndef PARX_NO_PROC
#error "this check is compiled with -DPARX_NO_PROC"
#endif
#ifdef PARX_SHM_H_INCLUDED
#error "parx.h included parx_shm.h under PARX_NO_PROC"
#endif

int main(void)
{
    const char *paths[1] = {__FILE__};
    int err = 0;
    parx_prefetch *pf =
        parx_prefetch_open(&(parx_prefetch_desc){.paths = paths, .npaths = 1}, &err);
    size_t bytes = 0;
    int ok = pf != NULL, first = 1;
    parx_chunk c;
    while (pf && parx_prefetch_next(pf, &c) == 1) {
        ok = ok && (!first || memcmp(c.data, "/* Compile check", 16) == 0) &&
             c.arena_offset == UINT64_MAX;
        first = 0;
        bytes += c.size;
        parx_prefetch_release(pf, &c);
    }
    parx_prefetch_close(pf);
    ok = ok && bytes > 100;
    /* never dereferenced: open refuses .arena before it looks at it */
    static char not_an_arena;
    errno = 0;
    ok = ok &&
         parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                  .npaths = 1,
                                                  .arena = (struct parx_arena *)&not_an_arena},
                            &err) == NULL &&
         err == -EOPNOTSUPP && errno == EOPNOTSUPP;
    printf("1..1\n%s 1 - PARX_NO_PROC: parx.h alone builds; the prefetcher reads, .arena "
           "gives -EOPNOTSUPP\n",
           ok ? "ok" : "not ok");
    return ok ? 0 : 1;
}
