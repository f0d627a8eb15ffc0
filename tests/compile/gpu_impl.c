/* Compile check: parx_gpu.h implemented in the program's own file, alone or
   with the other headers in the order the build picks (-DORDER_GPU_FIRST,
   -DORDER_GPU_LAST, -DORDER_GPU_MIDDLE, or alone), with or without
   PARX_GPU_VULKAN (the dummy backend), with or without PARX_STATIC.
   Without a device the job runs on the CPU; a dummy build must say -ENODEV. */
#define _GNU_SOURCE
#if defined(ORDER_GPU_FIRST)
#define PARX_IMPLEMENTATION
#include "parx_gpu.h"
#include "parx.h"
#include "parx_shm.h"
#elif defined(ORDER_GPU_LAST)
#define PARX_IMPLEMENTATION
#include "parx.h"
#include "parx_shm.h"
#include "parx_gpu.h"
#elif defined(ORDER_GPU_MIDDLE)
#define PARX_IMPLEMENTATION
#include "parx_shm.h"
#include "parx_gpu.h"
#include "parx.h"
#else
#define PARX_GPU_IMPLEMENTATION
#include "parx_gpu.h"
#endif

#include <errno.h>
#include <stdio.h>

static void fill(void *ctx, size_t b, size_t e)
{
    int *v = (int *)ctx;
    for (size_t i = b; i < e; i++)
        v[i] = (int)i;
}

int main(void)
{
    int err = 0, v[1000];
    parx_gpu *g = parx_gpu_open(NULL, &err);
#ifndef PARX_GPU_VULKAN
    int backend_ok = g == NULL && err == -ENODEV;
#else
    int backend_ok = g != NULL || err == -ENODEV;
#endif
    parx_gpu_close(g);
    parx_gpu_job job = {.n = 1000, .cpu = fill, .ctx = v};
    int ok = backend_ok && parx_gpu_run(NULL, NULL, &job) == 1 && v[999] == 999;
    errno = 0; /* a NULL pointer's reason is in errno (SPEC, "Errors") */
    ok = ok && parx_gpu_buffer_chunk(NULL, 0) == NULL && errno == EINVAL;
    printf("1..1\n%s 1 - parx_gpu.h implemented here\n", ok ? "ok" : "not ok");
    return ok ? 0 : 1;
}
