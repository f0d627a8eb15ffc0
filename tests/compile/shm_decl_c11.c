/* Compile check: parx_shm.h's declarations alone, as C11, first in the unit,
   with the implementation linked from parx.c. Creates an anonymous arena and
   allocates from it through the declarations. */
#include "parx_shm.h"

#include <stdio.h>

int main(void)
{
    int err = 0;
    parx_arena *a = parx_arena_create(&(parx_arena_desc){.size = 1 << 20}, &err);
    void *p = a ? parx_arena_alloc(a, 100, 0) : NULL;
    int ok = p != NULL && parx_arena_ptr(a, parx_arena_offset(a, p)) == p &&
             parx_arena_free(a, p) == 0 && parx_strerror(PARX_E_NOT_ARENA)[0] != '\0';
    parx_arena_close(a);

    printf("1..1\n%s 1 - parx_shm.h's declarations link against parx.c\n", ok ? "ok" : "not ok");
    return ok ? 0 : 1;
}
