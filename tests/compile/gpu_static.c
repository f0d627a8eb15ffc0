/* Compile check: parx_gpu.h's Vulkan backend in a statically linked
   program (-static), where glibc's dlopen can load libvulkan but libvulkan
   then crashes loading its drivers (it did: SIGSEGV in parx_gpu_open).
   parx_gpu_open must say -ENODEV, even when asked for the CPU driver, and
   parx_gpu_run must take the CPU path. */
#define _GNU_SOURCE
#define PARX_GPU_IMPLEMENTATION
#include "parx_gpu.h"

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
    int err = 0, v[100] = {0};
    parx_gpu *g = parx_gpu_open(&(parx_gpu_desc){.device = PARX_GPU_DEVICE_CPU}, &err);
    int open_ok = g == NULL && err == -ENODEV;
    parx_gpu_close(g);
    parx_gpu_job job = {.n = 100, .cpu = fill, .ctx = v};
    int run_ok = parx_gpu_run(NULL, NULL, &job) == 1 && v[99] == 99;
    printf("1..2\n%s 1 - a static program: parx_gpu_open gives -ENODEV (got %d)\n",
           open_ok ? "ok" : "not ok", err);
    printf("%s 2 - parx_gpu_run takes the CPU path\n", run_ok ? "ok" : "not ok");
    return open_ok && run_ok ? 0 : 1;
}
