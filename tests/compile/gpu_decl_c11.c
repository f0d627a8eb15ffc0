/* Compile check: parx_gpu.h's declarations alone, as C11, first in the unit,
   with the implementation linked from parx.c. Opens whatever device the
   environment allows (none is fine: -ENODEV) and runs a job through
   parx_gpu_run, which falls back to the calling thread. */
#include "parx_gpu.h"

#include <errno.h>
#include <stdio.h>

static void square(void *ctx, size_t b, size_t e)
{
    int *v = (int *)ctx;
    for (size_t i = b; i < e; i++)
        v[i] = (int)(i * i);
}

int main(void)
{
    int err = 0, v[100];
    parx_gpu *g = parx_gpu_open(NULL, &err);
    parx_gpu_job job = {.n = 100, .cpu = square, .ctx = v};
    int rc = parx_gpu_run(NULL, NULL, &job);
    int ok = (g != NULL || err == -ENODEV) && rc == 1 && v[99] == 99 * 99 &&
             parx_strerror(PARX_E_BAD_SPIRV)[0] != '\0';
    parx_gpu_close(g);

    printf("1..1\n%s 1 - parx_gpu.h's declarations link against parx.c\n", ok ? "ok" : "not ok");
    return ok ? 0 : 1;
}
