/* Compile check: both headers' declarations in one unit, in the order the
   build picks (-DSHM_FIRST: parx_shm.h first), linked against parx.c. */
#ifdef SHM_FIRST
#include "parx_shm.h"
#include "parx.h"
#else
#include "parx.h"
#include "parx_shm.h"
#endif

#include <stdio.h>

int main(void)
{
    parx_arena *a = parx_arena_create(&(parx_arena_desc){.size = 1 << 20}, NULL);
    int ok = a != NULL && parx_strerror(PARX_E_TRUNCATED)[0] != '\0';
    parx_arena_close(a);

    printf("1..1\n%s 1 - parx.h and parx_shm.h declared in one unit\n", ok ? "ok" : "not ok");
    return ok ? 0 : 1;
}
