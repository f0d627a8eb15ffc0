/* examples/08_gpu_saxpy.c -- y = a*x + y on the GPU when there is one, on
   the thread pool when there is not, with the fallback written once.

   Teaches: parx_gpu.h's three habits.
   - Open, and take the CPU path on -ENODEV: a build without the Vulkan
     backend, a machine without a loader, driver or GPU all say -ENODEV.
     Automatic choice never takes a CPU Vulkan device (plain C is faster on
     the same cores); PARX_GPU_DEVICE=cpu asks for one (Mesa's lavapipe), as
     CI does to exercise the GPU path without a GPU.
   - One job description for both paths: parx_gpu_run records the built-in
     saxpy kernel over n items when the device is open, and runs saxpy_cpu
     over the same items with parx_for otherwise.
   - Resident data: x and y are uploaded once, the kernel runs `reps` times
     with no copy in between (one batch, one submit), and y comes back once.
   The result is checked bitwise against a plain C loop (the kernel marks its
   arithmetic `precise`, so no fma changes the rounding). Exit status 1 if it
   differs, or if a Vulkan validation layer (VK_INSTANCE_LAYERS) complained.

   Build (from examples/):
       cc -O2 -pthread -I.. -DPARX_GPU_VULKAN 08_gpu_saxpy.c ../parx.c -luring -ldl -o gpu_saxpy
       (needs the Vulkan headers, libvulkan-dev; leave -DPARX_GPU_VULKAN out
       for the CPU path only; without liburing: add -DPARX_NO_URING and
       leave out -luring)
   Run:
       ./gpu_saxpy [n] [reps]                     (default 4000000 items, 10 repetitions)
       PARX_GPU_DEVICE=cpu ./gpu_saxpy            (lavapipe, when installed)
   Expected output (the device line depends on the machine):
       path: GPU (llvmpipe (LLVM 15.0.6, 256 bits)), 1 submit(s) for 10 dispatch(es)
       y[0] = ..., y[n-1] = ...: same bits as the C loop
*/
#include "args.h"
#include "parx.h"
#include "parx_gpu.h"
#include "parx_gpu_kernels.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct saxpy {
    float a;
    const float *x;
    float *y;
} saxpy;

/* The CPU path: the same arithmetic as shaders/saxpy.comp, over [b, e). */
static void saxpy_cpu(void *ctx, size_t b, size_t e)
{
    saxpy *s = (saxpy *)ctx;
    for (size_t i = b; i < e; i++)
        s->y[i] = s->a * s->x[i] + s->y[i];
}

int main(int argc, char **argv)
{
    long args[2] = {4000000, 10}; /* n, reps */
    for (int i = 1; i < argc && i <= 2; i++) /* whole numbers only: not "abc" or "2x" */
        args[i - 1] = whole_number_upto(argv[i], 1000000000);
    size_t n = args[0] > 0 ? (size_t)args[0] : 0;
    int reps = (int)args[1];
    if (argc > 3 || n == 0 || n >= (1u << 30) || reps < 1) {
        fprintf(stderr, "usage: %s [n] [reps]\n", argv[0]);
        return 2;
    }
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *ref = malloc(n * sizeof *ref);
    if (!x || !y || !ref) {
        fprintf(stderr, "out of memory\n");
        free(x), free(y), free(ref);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)(i % 1000) * 0.001f;
        y[i] = ref[i] = 1.0f - (float)(i % 7) * 0.25f;
    }
    saxpy job_ctx = {.a = 0.5f, .x = x, .y = y};

    /* 1. The device, or NULL and the reason. */
    int err = 0;
    parx_gpu *g = parx_gpu_open(NULL, &err);
    if (!g && err != -ENODEV)
        fprintf(stderr, "parx_gpu_open: %s; using the CPU\n", parx_strerror(err));
    parx_pool *pool = parx_pool_create(NULL);
    int status = 1;
    if (!pool) {
        fprintf(stderr, "parx_pool_create: %s\n", parx_strerror(-errno));
        goto out;
    }

    /* 2. On the GPU: resident buffers and a kernel, made once. */
    parx_gpu_buffer *bx = NULL, *by = NULL;
    parx_gpu_kernel *k = NULL;
    if (g) {
        bx = parx_gpu_buffer_create(g, n * sizeof *x, 0, &err);
        by = bx ? parx_gpu_buffer_create(g, n * sizeof *y, 0, &err) : NULL;
        k = by ? parx_gpu_kernel_create(g, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy,
                                        &(parx_gpu_kernel_desc){.readonly_mask = 1}, &err)
               : NULL;
        /* err: the failed create's code, else the first failed upload's */
        if (k && (err = parx_gpu_upload(g, bx, 0, x, n * sizeof *x)) == 0)
            err = parx_gpu_upload(g, by, 0, y, n * sizeof *y);
        if (!k || err != 0) {
            fprintf(stderr, "GPU setup failed (%s): using the CPU\n", parx_strerror(err));
            parx_gpu_close(g); /* frees bx, by, k */
            g = NULL;
            bx = by = NULL;
            k = NULL;
        }
    }

    /* 3. One description, either path. */
    parx_gpu_buffer *bufs[2] = {bx, by};
    parx_gpu_job job = {.n = n,
                        .kernel = k,
                        .bufs = bufs,
                        .nbufs = 2,
                        .push = &job_ctx.a,
                        .push_size = sizeof job_ctx.a,
                        .cpu = saxpy_cpu,
                        .ctx = &job_ctx};
    int rc = 0;
    for (int r = 0; r < reps && rc >= 0; r++)
        rc = parx_gpu_run(g, pool, &job);
    if (rc >= 0 && g)
        rc = parx_gpu_download(g, by, 0, y, n * sizeof *y); /* one copy back */
    if (rc == PARX_E_DEVICE_LOST) {
        /* The device is gone with its buffers: start again on the CPU. */
        fprintf(stderr, "GPU lost: rerunning on the CPU\n");
        parx_gpu_close(g);
        g = NULL;
        memcpy(y, ref, n * sizeof *y);
        rc = 0;
        for (int r = 0; r < reps && rc >= 0; r++)
            rc = parx_gpu_run(NULL, pool, &job);
    }
    if (rc < 0) {
        fprintf(stderr, "failed: %s\n", parx_strerror(rc));
        goto out;
    }

    unsigned long long vmsgs = 0;
    if (g) {
        parx_gpu_info in;
        rc = parx_gpu_query(g, &in);
        if (rc < 0) {
            fprintf(stderr, "parx_gpu_query: %s\n", parx_strerror(rc));
            goto out;
        }
        printf("path: GPU (%s), %llu submit(s) for %llu dispatch(es)\n", in.device_name,
               (unsigned long long)in.submits, (unsigned long long)in.dispatches);
        vmsgs = in.validation_messages;
    } else {
        printf("path: CPU (parx_for on %d threads)\n", parx_pool_size(pool));
    }

    /* 4. Check against the plain loop. */
    saxpy check = {.a = job_ctx.a, .x = x, .y = ref};
    for (int r = 0; r < reps; r++)
        saxpy_cpu(&check, 0, n);
    int same = memcmp(y, ref, n * sizeof *y) == 0;
    printf("y[0] = %.9g, y[n-1] = %.9g: %s\n", y[0], y[n - 1],
           same ? "same bits as the C loop" : "DIFFERENT from the C loop");
    if (vmsgs)
        printf("%llu validation messages\n", vmsgs);
    status = same && vmsgs == 0 ? 0 : 1;

out:
    parx_gpu_close(g); /* NULL is ignored; frees bx, by and k */
    parx_pool_destroy(pool);
    free(x), free(y), free(ref);
    return status;
}
