/* Compile check: parx_shm.h's implementation alone in a program's own file,
   as its "Do this" section says: _GNU_SOURCE, then PARX_SHM_IMPLEMENTATION.
   (PARX_STATIC too, when the build adds -DPARX_STATIC: every function static,
   most unused, which must not warn.) */
#define _GNU_SOURCE
#define PARX_SHM_IMPLEMENTATION
#include "parx_shm.h"

#include <stdio.h>

int main(void)
{
    parx_arena *a = parx_arena_create(&(parx_arena_desc){.size = 1 << 20}, NULL);
    void *p = a ? parx_arena_alloc(a, 20000, 0) : NULL;
    int ok = p != NULL && parx_arena_free(a, p) == 0;
    parx_arena_close(a);

    printf("1..1\n%s 1 - parx_shm.h implemented in the program's own unit\n", ok ? "ok" : "not ok");
    return ok ? 0 : 1;
}
