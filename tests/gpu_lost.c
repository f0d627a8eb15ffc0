/* SPDX-License-Identifier: MIT */
/*
    tests/gpu_lost.c -- what happens after VK_ERROR_DEVICE_LOST. A real loss
    cannot be provoked on lavapipe, so this unit implements parx itself with
    PARX_GPU_TEST_HOOKS, whose parx__gpu_test_inject makes the next fence
    wait return a VkResult of the test's choosing, as a driver would.
    Checked: the loss is reported as PARX_E_DEVICE_LOST by the call that
    waited and by every later call on the device; closing the lost device
    frees everything (ASan/LSan see it); the CPU path still runs; a timeout
    injected the same way is -ETIMEDOUT and leaves the device usable; a
    download that times out never writes its destination afterwards; a
    failed submit hands out no ticket.
*/
#define _GNU_SOURCE
#define PARX_IMPLEMENTATION
#define PARX_GPU_TEST_HOOKS
#include "parx_gpu.h"
#include "parx.h"
#include "parx_gpu_kernels.h"
#include "parx_test.h"

#include <errno.h>
#include <string.h>

#ifdef PARX_GPU_VULKAN
static parx_gpu *g;
static parx_gpu_kernel *k;
static parx_gpu_buffer *b[2];
static float a = 2.0f;

static int record(void)
{
    parx_gpu_job job = {.n = 1024, .kernel = k, .bufs = b, .nbufs = 2, .push = &a, .push_size = 4};
    return parx_gpu_run(g, NULL, &job);
}

static void test_timeout_then_ok(void)
{
    CHECK_EQ(record(), 0);
    parx__gpu_test_inject(g, -1); /* the next fence wait: VK_TIMEOUT */
    CHECK_EQ(parx_gpu_sync(g), -ETIMEDOUT);
    CHECK_EQ(parx_gpu_sync(g), 0); /* the batch was still in flight: waited for now */
    CHECK_EQ(record(), 0);
    CHECK_EQ(parx_gpu_sync(g), 0);
}

/* A download through staging (every discrete GPU's path) whose wait times
   out: -ETIMEDOUT, and its copy into dst is dropped, so the sync that
   completes the batch later does not write into memory the caller has
   taken back (before the fix it did: a use after free when dst was freed
   in between). Then the same download works. */
static void test_download_timeout(void)
{
    int err = 0;
    parx_gpu *s = parx_gpu_open(
        &(parx_gpu_desc){.device = PARX_GPU_DEVICE_CPU, .staging = true}, &err);
    REQUIRE(s);
    enum { N = 8192 };
    static unsigned char src[N], dst[N], fill[N];
    memset(src, 0xAB, N);
    memset(fill, 0x5A, N);
    parx_gpu_buffer *sb = parx_gpu_buffer_create(s, N, 0, &err);
    REQUIRE(sb);
    CHECK_EQ(parx_gpu_upload(s, sb, 0, src, N), 0);
    CHECK_EQ(parx_gpu_sync(s), 0);
    parx__gpu_test_inject(s, -1); /* the download's fence wait: VK_TIMEOUT */
    CHECK_EQ(parx_gpu_download(s, sb, 0, dst, N), -ETIMEDOUT);
    memcpy(dst, fill, N); /* the caller's memory again */
    CHECK_EQ(parx_gpu_sync(s), 0); /* the batch completes now */
    CHECK_MEMEQ(dst, fill, N);
    CHECK_EQ(parx_gpu_download(s, sb, 0, dst, N), 0);
    CHECK_MEMEQ(dst, src, N);
    parx_gpu_close(s);
}

static void cpu_fill(void *ctx, size_t bg, size_t e)
{
    float *v = (float *)ctx;
    for (size_t i = bg; i < e; i++)
        v[i] = (float)i;
}

static void test_lost(void)
{
    CHECK_EQ(record(), 0);
    parx__gpu_test_inject(g, -2); /* the next fence wait: VK_ERROR_DEVICE_LOST */
    CHECK_EQ(parx_gpu_sync(g), PARX_E_DEVICE_LOST);
    /* from now on, every call says so */
    CHECK_EQ(record(), PARX_E_DEVICE_LOST);
    CHECK_EQ(parx_gpu_sync(g), PARX_E_DEVICE_LOST);
    uint64_t t = 77;
    CHECK_EQ(parx_gpu_submit(g, &t), PARX_E_DEVICE_LOST);
    CHECK_EQ_U(t, 0); /* no ticket from a failed submit */
    t = 77;
    CHECK_EQ(parx_gpu_submit(NULL, &t), -EINVAL);
    CHECK_EQ_U(t, 0);
    float v[4] = {0};
    CHECK_EQ(parx_gpu_upload(g, b[0], 0, v, sizeof v), PARX_E_DEVICE_LOST);
    CHECK_EQ(parx_gpu_download(g, b[0], 0, v, sizeof v), PARX_E_DEVICE_LOST);
    int err = 0;
    CHECK(parx_gpu_buffer_create(g, 64, 0, &err) == NULL);
    CHECK_EQ(err, PARX_E_DEVICE_LOST);
    CHECK(parx_gpu_kernel_create(g, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy, NULL, &err) ==
          NULL);
    CHECK_EQ(err, PARX_E_DEVICE_LOST);
    parx_gpu_buffer_destroy(b[1]); /* destroying on a lost device works */
    b[1] = NULL;
    parx_gpu_close(g); /* frees the rest */
    g = NULL;
    /* ... and the caller reruns on the CPU */
    float out[100];
    parx_gpu_job job = {.n = 100, .cpu = cpu_fill, .ctx = out};
    CHECK_EQ(parx_gpu_run(NULL, NULL, &job), 1);
    CHECK(out[99] == 99.0f);
}
#endif

int main(void)
{
#ifndef PARX_GPU_VULKAN
    pt_skip_all("built without PARX_GPU_VULKAN");
#else
    int err = 0;
    g = parx_gpu_open(&(parx_gpu_desc){.device = PARX_GPU_DEVICE_CPU}, &err);
    if (!g)
        pt_skip_all("no Vulkan CPU device (lavapipe) here");
    k = parx_gpu_kernel_create(g, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy, NULL, &err);
    b[0] = parx_gpu_buffer_create(g, 4096, 0, &err);
    b[1] = parx_gpu_buffer_create(g, 4096, 0, &err);
    if (!k || !b[0] || !b[1])
        pt_bail_out("setup failed");
    pt_run("an injected fence timeout: -ETIMEDOUT, then the wait goes on", test_timeout_then_ok);
    pt_run("a download that times out never writes dst afterwards", test_download_timeout);
    pt_run("an injected VK_ERROR_DEVICE_LOST: PARX_E_DEVICE_LOST everywhere, close, CPU rerun",
           test_lost);
    return pt_done_testing();
#endif
}
