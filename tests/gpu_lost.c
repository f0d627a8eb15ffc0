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
    close whose sync times out still copies a mirrored import's results
    out; a download that times out never writes its destination afterwards; a
    failed submit hands out no ticket; a batch whose vkEndCommandBuffer
    fails (injected too) is dropped whole, its mirrored imports' copy-outs
    with it, and so is one parx has no memory to finish (injected too); a
    dispatch whose descriptor set cannot be allocated (injected) leaves
    its mirrored imports alone; out of memory while listing the devices
    is -ENOMEM, not -ENODEV (injected); a loss that only destroy's
    vkDeviceWaitIdle reports holds from then on (injected); with the
    device's largest allocation lowered to its binding range (a hook), a
    full chunk imported off the page boundary stays within it, zero-copy;
    a dispatch that fails after its descriptor set is made keeps no set
    for the next one (injected timeout); a batch that a destroy submits
    and that is dropped is reported by the next sync, once, and a close
    that finds it unreported still runs the work recorded since (injected).
    And, since this unit has the implementation, the SPIR-V check
    itself: the LocalSizeId execution mode, which Vulkan accepts only with
    maintenance4 (parx does not enable it), so no pipeline can be made from
    it here.
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

/* A device on lavapipe that mirrors every import (no_import: what a
   driver without VK_EXT_external_memory_host does), and the saxpy kernel
   on it in *saxpy (NULL if it could not be made). */
static parx_gpu *open_mirroring(parx_gpu_kernel **saxpy)
{
    int err = 0;
    parx_gpu *s =
        parx_gpu_open(&(parx_gpu_desc){.device = PARX_GPU_DEVICE_CPU, .no_import = true}, &err);
    *saxpy = s ? parx_gpu_kernel_create(s, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy, NULL,
                                        &err)
               : NULL;
    return s;
}

/* A close whose bounded sync times out (injected) still waits for the
   work, and a mirrored import gets the results it computed: close freed
   the batch's copy-outs unrun, so the caller's memory kept its old values
   (found in review; a zero-copy import got them, written by the device). */
static void test_close_after_timeout_mirror(void)
{
    int err = 0;
    parx_gpu_kernel *sk;
    parx_gpu *s = open_mirroring(&sk);
    REQUIRE(s && sk);
    enum { N = 4096 };
    static float x[N], y[N];
    for (int i = 0; i < N; i++)
        x[i] = 1.0f, y[i] = 1.0f;
    parx_gpu_buffer *bx = parx_gpu_buffer_import(s, x, sizeof x, &err);
    parx_gpu_buffer *by = parx_gpu_buffer_import(s, y, sizeof y, &err);
    REQUIRE(bx && by);
    CHECK_EQ(parx_gpu_buffer_imported(by), 0); /* a mirror: no_import */
    parx_gpu_buffer *bufs[2] = {bx, by};
    parx_gpu_job job = {.n = N, .kernel = sk, .bufs = bufs, .nbufs = 2, .push = &a,
                        .push_size = 4};
    CHECK_EQ(parx_gpu_run(s, NULL, &job), 0);
    parx__gpu_test_inject(s, -1); /* close's bounded wait: VK_TIMEOUT, as a slow kernel */
    parx_gpu_close(s);
    CHECK_MSG(y[0] == 3.0f && y[N - 1] == 3.0f, "after close: y[0] %g, y[N-1] %g, want 3",
              (double)y[0], (double)y[N - 1]);
}

/* A batch whose vkEndCommandBuffer fails is never submitted: it is
   dropped, with the copy-outs it queued for a mirrored import. Before the
   fix they stayed in the slot and ran when its next batch completed,
   writing the import's host memory (which the caller may have freed by
   then) with stale device bytes, and the next batch copied the import out
   once more. Then the import works as before. */
static void test_end_failure(void)
{
    int err = 0;
    parx_gpu *s = parx_gpu_open(
        &(parx_gpu_desc){.device = PARX_GPU_DEVICE_CPU, .no_import = true, .staging = true}, &err);
    REQUIRE(s);
    parx_gpu_kernel *sk =
        parx_gpu_kernel_create(s, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy, NULL, &err);
    enum { N = 1024 };
    static float host[N], x[N];
    for (int i = 0; i < N; i++)
        host[i] = 1.0f, x[i] = (float)i;
    parx_gpu_buffer *m = parx_gpu_buffer_import(s, host, sizeof host, &err);
    parx_gpu_buffer *bx = parx_gpu_buffer_create(s, sizeof x, 0, &err);
    parx_gpu_buffer *by = parx_gpu_buffer_create(s, sizeof x, 0, &err);
    REQUIRE(sk && m && bx && by);
    CHECK_EQ(parx_gpu_buffer_imported(m), 0); /* mirrored */
    CHECK_EQ(parx_gpu_upload(s, bx, 0, x, sizeof x), 0);
    CHECK_EQ(parx_gpu_sync(s), 0);
    parx_gpu_buffer *xm[2] = {bx, m}, *xy[2] = {bx, by};
    parx_gpu_job job = {.n = N, .kernel = sk, .bufs = xm, .nbufs = 2, .push = &a, .push_size = 4};
    CHECK_EQ(parx_gpu_run(s, NULL, &job), 0); /* host = 2 * x + 1, once it runs */
    /* its vkEndCommandBuffer fails */
    parx__gpu_test_inject(s, -3);
    CHECK_EQ(parx_gpu_sync(s), -ENOMEM);
    for (int i = 0; i < N; i++)
        host[i] = 7.0f; /* the caller's memory again */
    /* other work, in the same slot */
    job.bufs = xy;
    CHECK_EQ(parx_gpu_run(s, NULL, &job), 0);
    CHECK_EQ(parx_gpu_sync(s), 0);
    size_t bad = 0;
    for (int i = 0; i < N; i++)
        bad += host[i] != 7.0f;
    CHECK_EQ(bad, 0);
    job.bufs = xm; /* and the import works on */
    CHECK_EQ(parx_gpu_run(s, NULL, &job), 0);
    CHECK_EQ(parx_gpu_sync(s), 0);
    bad = 0;
    for (int i = 0; i < N; i++)
        bad += host[i] != 2.0f * (float)i + 7.0f;
    CHECK_EQ(bad, 0);
    parx_gpu_close(s);
}

/* A kernel destroyed after a batch that used it was dropped (its
   vkEndCommandBuffer fails: injected), while an earlier batch that used it
   is still in flight: destroy must wait for that one. The dispatch marked
   the kernel "recorded, not yet submitted" in place of the earlier
   batch's serial, the dropped batch never put a serial back, and destroy
   neither flushed nor waited: the pipeline went while the first batch
   could still use it (the validation layer: VUID-vkDestroyPipeline-
   pipeline-00765; found in review). */
static void test_kernel_destroy_after_dropped_batch(void)
{
    int err = 0;
    parx_gpu *s = parx_gpu_open(&(parx_gpu_desc){.device = PARX_GPU_DEVICE_CPU}, &err);
    REQUIRE(s);
    parx_gpu_kernel *sk =
        parx_gpu_kernel_create(s, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy, NULL, &err);
    enum { N = 1 << 20 };
    parx_gpu_buffer *sb[2] = {parx_gpu_buffer_create(s, N * 4, 0, &err),
                              parx_gpu_buffer_create(s, N * 4, 0, &err)};
    REQUIRE(sk && sb[0] && sb[1]);
    parx_gpu_job job = {.n = N, .kernel = sk, .bufs = sb, .nbufs = 2, .push = &a, .push_size = 4};
    CHECK_EQ(parx_gpu_run(s, NULL, &job), 0);
    uint64_t t = 0;
    CHECK_EQ(parx_gpu_submit(s, &t), 0); /* batch 1, in flight */
    CHECK_EQ(parx_gpu_run(s, NULL, &job), 0);
    parx__gpu_test_inject(s, -3); /* batch 2's vkEndCommandBuffer fails: dropped */
    CHECK_EQ(parx_gpu_sync(s), -ENOMEM);
    CHECK_MSG(sk->last_serial == t, "the kernel's last batch: serial %llu, want batch 1's, %llu",
              (unsigned long long)sk->last_serial, (unsigned long long)t);
    parx_gpu_kernel_destroy(sk); /* waits for batch 1 */
    CHECK_EQ(parx_gpu_wait(s, t, UINT64_MAX), 0);
    parx_gpu_close(s);
}

/* A dispatch of two mirrored imports, A and B, fails while B's earlier
   batch is still running (the wait for it times out: injected). Nothing
   uses A then, and the caller writes A again: the next sync must not copy
   A's device copy back over it. A was mirrored in, and noted for copying
   back, before the wait for B failed (found in review). */
static void test_failed_dispatch_leaves_no_mirror(void)
{
    int err = 0;
    parx_gpu_kernel *sk;
    parx_gpu *s = open_mirroring(&sk);
    REQUIRE(s);
    enum { N = 4096 };
    static float A[N], B[N], C[N];
    for (int i = 0; i < N; i++)
        A[i] = 1, B[i] = 0, C[i] = 1;
    parx_gpu_buffer *ba = parx_gpu_buffer_import(s, A, sizeof A, &err);
    parx_gpu_buffer *bb = parx_gpu_buffer_import(s, B, sizeof B, &err);
    parx_gpu_buffer *bc = parx_gpu_buffer_import(s, C, sizeof C, &err);
    REQUIRE(sk && ba && bb && bc);
    CHECK_EQ(parx_gpu_buffer_imported(ba), 0); /* mirrored */
    struct {
        parx_gpu_push_header h;
        float a;
    } pc = {{0, 0, N, 0}, 1.0f};
    parx_gpu_buffer *cb[2] = {bc, bb}, *ab[2] = {ba, bb};
    CHECK_EQ(parx_gpu_dispatch(s, sk, cb, 2, &pc, sizeof pc, N / 64, 1, 1), 0);
    uint64_t t = 0;
    CHECK_EQ(parx_gpu_submit(s, &t), 0); /* B in flight */
    parx__gpu_test_inject(s, -1);        /* the next fence wait: VK_TIMEOUT */
    CHECK_EQ(parx_gpu_dispatch(s, sk, ab, 2, &pc, sizeof pc, N / 64, 1, 1), -ETIMEDOUT);
    for (int i = 0; i < N; i++)
        A[i] = 42; /* the caller's memory again */
    CHECK_EQ(parx_gpu_sync(s), 0);
    size_t bad = 0;
    for (int i = 0; i < N; i++)
        bad += A[i] != 42;
    CHECK_MSG(bad == 0, "%zu of A's floats overwritten after the failed dispatch (A[0] = %g)", bad,
              (double)A[0]);
    CHECK_EQ(B[0], 1.0f); /* B = 1 * C + B, from the first dispatch */
    parx_gpu_close(s);
}

/* A dispatch that fails after its descriptor set is made (the wait for a
   mirrored import's earlier batch times out: injected) must not keep that
   set for the next dispatch: it names a buffer the batch does not hold,
   which the caller may destroy at once (no flush: the batch never used
   it), and the driver give its handle to the next buffer made, which a
   dispatch of the same kernel would then find "the same" and bind through
   the old set, into freed memory (found in review: lavapipe reuses the
   handle, and that dispatch corrupted the heap; the validation layer's
   handles hide it). Checked on the cache itself, and on the results. */
static void test_failed_dispatch_keeps_no_set(void)
{
    int err = 0;
    parx_gpu_kernel *sk;
    parx_gpu *s = open_mirroring(&sk);
    REQUIRE(s && sk);
    enum { N = 1024 };
    static float m[N], zero[4 * N], out[4 * N];
    for (int i = 0; i < N; i++)
        m[i] = 1.0f;
    parx_gpu_buffer *bm = parx_gpu_buffer_import(s, m, sizeof m, &err);
    parx_gpu_buffer *bx = parx_gpu_buffer_create(s, N * 4, 0, &err);
    parx_gpu_buffer *bb = parx_gpu_buffer_create(s, N * 4, 0, &err);
    REQUIRE(bm && bx && bb);
    CHECK_EQ(parx_gpu_buffer_imported(bm), 0); /* mirrored */
    CHECK_EQ(parx_gpu_upload(s, bx, 0, zero, N * 4), 0);
    struct {
        parx_gpu_push_header h;
        float a;
    } pc = {{0, 0, N, 0}, 2.0f};
    parx_gpu_buffer *mx[2] = {bm, bx}, *mb[2] = {bm, bb};
    CHECK_EQ(parx_gpu_dispatch(s, sk, mx, 2, &pc, sizeof pc, N / 64, 1, 1), 0);
    uint64_t t = 0;
    CHECK_EQ(parx_gpu_submit(s, &t), 0); /* the import in flight */
    parx__gpu_test_inject(s, -1);        /* the next fence wait: VK_TIMEOUT */
    CHECK_EQ(parx_gpu_dispatch(s, sk, mb, 2, &pc, sizeof pc, N / 64, 1, 1), -ETIMEDOUT);
    VkBuffer failed = bb->chunks[0].buf;
    bool named = false;
    for (size_t i = 0; s->last_k && i < 2; i++)
        named |= s->last_bufs[i] == failed;
    CHECK_MSG(!named, "the failed dispatch's descriptor set is kept for the next one");
    parx_gpu_buffer_destroy(bb);
    parx_gpu_buffer *b2 = parx_gpu_buffer_create(s, 4 * N * 4, 0, &err);
    REQUIRE(b2);
    pt_diag("the new buffer %s the destroyed one's handle",
            b2->chunks[0].buf == failed ? "has" : "does not have");
    CHECK_EQ(parx_gpu_upload(s, b2, 0, zero, sizeof zero), 0);
    parx_gpu_buffer *m2[2] = {bm, b2};
    CHECK_EQ(parx_gpu_dispatch(s, sk, m2, 2, &pc, sizeof pc, N / 64, 1, 1), 0);
    CHECK_EQ(parx_gpu_sync(s), 0);
    CHECK_EQ(parx_gpu_download(s, b2, 0, out, sizeof out), 0);
    size_t bad = 0;
    for (int i = 0; i < 4 * N; i++)
        bad += out[i] != (i < N ? 2.0f : 0.0f); /* 2 * 1 + 0 over the first N */
    CHECK_MSG(bad == 0, "%zu of the new buffer's floats wrong (out[0] = %g)", bad, (double)out[0]);
    parx_gpu_close(s);
}

/* parx_gpu_buffer_destroy and parx_gpu_kernel_destroy submit the batch
   being recorded when it uses what they free. When that batch is dropped
   (its vkEndCommandBuffer fails: injected), they have no return value to
   say so: the next sync says it, once (found in review: the batch, with
   work the caller had been told was recorded, went without a word, and
   sync said 0). */
static void test_destroy_reports_dropped_batch(void)
{
    int err = 0;
    parx_gpu *s = parx_gpu_open(&(parx_gpu_desc){.device = PARX_GPU_DEVICE_CPU}, &err);
    REQUIRE(s);
    parx_gpu_kernel *sk =
        parx_gpu_kernel_create(s, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy, NULL, &err);
    parx_gpu_kernel *sk2 =
        parx_gpu_kernel_create(s, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy, NULL, &err);
    enum { N = 1024 };
    static float x[N], y[N], out[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)i, y[i] = 1.0f;
    parx_gpu_buffer *bx = parx_gpu_buffer_create(s, sizeof x, 0, &err);
    parx_gpu_buffer *by = parx_gpu_buffer_create(s, sizeof y, 0, &err);
    parx_gpu_buffer *bt = parx_gpu_buffer_create(s, sizeof y, 0, &err);
    REQUIRE(sk && sk2 && bx && by && bt);
    CHECK_EQ(parx_gpu_upload(s, bx, 0, x, sizeof x), 0);
    CHECK_EQ(parx_gpu_upload(s, by, 0, y, sizeof y), 0);
    CHECK_EQ(parx_gpu_sync(s), 0);
    parx_gpu_buffer *xy[2] = {bx, by}, *xt[2] = {bx, bt};
    parx_gpu_job job = {.n = N, .kernel = sk, .bufs = xy, .nbufs = 2, .push = &a, .push_size = 4};
    /* a buffer's destroy, then a kernel's */
    for (int round = 0; round < 2; round++) {
        job.kernel = round == 0 ? sk : sk2;
        job.bufs = xy;
        CHECK_EQ(parx_gpu_run(s, NULL, &job), 0); /* y = 2x + 1, once it runs */
        job.bufs = xt;
        CHECK_EQ(parx_gpu_run(s, NULL, &job), 0);
        parx__gpu_test_inject(s, -3); /* the destroy's submit fails: the batch is dropped */
        if (round == 0)
            parx_gpu_buffer_destroy(bt);
        else
            parx_gpu_kernel_destroy(sk2);
        CHECK_MSG(parx_gpu_sync(s) == -ENOMEM, "round %d: the dropped batch unreported", round);
        CHECK_EQ(parx_gpu_sync(s), 0); /* said once */
        CHECK_EQ(parx_gpu_download(s, by, 0, out, sizeof out), 0);
        CHECK_EQ(out[5], 1.0f); /* dropped whole: y as uploaded */
        if (round == 0)
            bt = parx_gpu_buffer_create(s, sizeof y, 0, &err), xt[1] = bt;
        REQUIRE(bt);
    }
    parx_gpu_close(s);
}

/* A close that finds a destroy's dropped batch unreported still submits
   and runs what was recorded after it: a mirrored import gets its results
   (the sync that reports the dropped batch does nothing else, and close
   must not stop there). */
static void test_close_after_dropped_destroy(void)
{
    int err = 0;
    parx_gpu_kernel *sk;
    parx_gpu *s = open_mirroring(&sk);
    REQUIRE(s && sk);
    enum { N = 1024 };
    static float x[N], host[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)i, host[i] = 1.0f;
    parx_gpu_buffer *bx = parx_gpu_buffer_create(s, sizeof x, 0, &err);
    parx_gpu_buffer *bt = parx_gpu_buffer_create(s, sizeof x, 0, &err);
    REQUIRE(bx && bt);
    CHECK_EQ(parx_gpu_upload(s, bx, 0, x, sizeof x), 0);
    CHECK_EQ(parx_gpu_sync(s), 0);
    parx_gpu_buffer *xt[2] = {bx, bt};
    parx_gpu_job job = {.n = N, .kernel = sk, .bufs = xt, .nbufs = 2, .push = &a, .push_size = 4};
    CHECK_EQ(parx_gpu_run(s, NULL, &job), 0);
    parx__gpu_test_inject(s, -3);
    parx_gpu_buffer_destroy(bt); /* its batch dropped, unreported */
    parx_gpu_buffer *bm = parx_gpu_buffer_import(s, host, sizeof host, &err);
    REQUIRE(bm);
    CHECK_EQ(parx_gpu_buffer_imported(bm), 0); /* mirrored */
    parx_gpu_buffer *xm[2] = {bx, bm};
    job.bufs = xm;
    CHECK_EQ(parx_gpu_run(s, NULL, &job), 0); /* host = 2x + 1, once it runs */
    parx_gpu_close(s);
    size_t bad = 0;
    for (int i = 0; i < N; i++)
        bad += host[i] != 2.0f * (float)i + 1.0f;
    CHECK_MSG(bad == 0, "%zu of the import's floats without their results (host[5] = %g)", bad,
              (double)host[5]);
}

/* A dispatch whose descriptor set cannot be had (out of host memory; or
   the pool used up, the batch submitted, and then out of memory) fails
   and leaves its mirrored imports alone: the caller's bytes written after
   it survive a sync, and a retry in the same batch reads them. Found by a
   fault-injection review: the imports were copied in and noted before the
   set was allocated, so the sync copied the old device bytes back over
   the caller's, and the retry ran on the bytes of the failed attempt. */
static void test_failed_set_leaves_no_mirror(void)
{
    for (int inject = -7; inject >= -8; inject--) {
        int err = 0;
        parx_gpu_kernel *sk;
        parx_gpu *s = open_mirroring(&sk);
        REQUIRE(s);
        enum { N = 4096 };
        static float X[N], Y[N];
        for (int i = 0; i < N; i++)
            X[i] = 1, Y[i] = 0;
        parx_gpu_buffer *bx = parx_gpu_buffer_import(s, X, sizeof X, &err);
        parx_gpu_buffer *by = parx_gpu_buffer_import(s, Y, sizeof Y, &err);
        REQUIRE(sk && bx && by);
        CHECK_EQ(parx_gpu_buffer_imported(bx), 0); /* mirrored */
        struct {
            parx_gpu_push_header h;
            float a;
        } pc = {{0, 0, N, 0}, 1.0f};
        parx_gpu_buffer *xy[2] = {bx, by};
        /* failed, then the caller's bytes, then a sync */
        parx__gpu_test_inject(s, inject);
        CHECK_EQ(parx_gpu_dispatch(s, sk, xy, 2, &pc, sizeof pc, N / 64, 1, 1), -ENOMEM);
        for (int i = 0; i < N; i++)
            Y[i] = 42;
        CHECK_EQ(parx_gpu_sync(s), 0);
        size_t bad = 0;
        for (int i = 0; i < N; i++)
            bad += Y[i] != 42;
        CHECK_MSG(bad == 0, "inject %d: %zu of Y's floats overwritten by the sync (Y[0] = %g)",
                  inject, bad, (double)Y[0]);
        /* failed, then new bytes and a retry in the same batch */
        parx__gpu_test_inject(s, inject);
        CHECK_EQ(parx_gpu_dispatch(s, sk, xy, 2, &pc, sizeof pc, N / 64, 1, 1), -ENOMEM);
        for (int i = 0; i < N; i++)
            X[i] = 3, Y[i] = 4;
        CHECK_EQ(parx_gpu_dispatch(s, sk, xy, 2, &pc, sizeof pc, N / 64, 1, 1), 0);
        CHECK_EQ(parx_gpu_sync(s), 0);
        bad = 0;
        for (int i = 0; i < N; i++)
            bad += Y[i] != 7 || X[i] != 3;
        CHECK_MSG(bad == 0, "inject %d: the retry gave Y[0] = %g, X[0] = %g (want 7 = 3 + 4, 3)",
                  inject, (double)Y[0], (double)X[0]);
        parx_gpu_close(s);
    }
}

/* A batch parx has no memory to finish (a mirrored import's copy-out
   could not be queued: injected) is dropped whole, as documented for a
   batch the driver fails to end. Before the fix it stayed recording: the
   next sync submitted it after all, so work the caller had been told was
   lost ran anyway (here: twice, once more after the caller reran it), and
   the copy-outs queued before the failure were recorded again. */
static void test_finish_enomem(void)
{
    int err = 0;
    parx_gpu_kernel *sk;
    parx_gpu *s = open_mirroring(&sk);
    REQUIRE(s);
    enum { N = 1024 };
    static float host[N], x[N];
    for (int i = 0; i < N; i++)
        host[i] = 1.0f, x[i] = (float)i;
    parx_gpu_buffer *m = parx_gpu_buffer_import(s, host, sizeof host, &err);
    parx_gpu_buffer *bx = parx_gpu_buffer_create(s, sizeof x, 0, &err);
    REQUIRE(sk && m && bx);
    CHECK_EQ(parx_gpu_buffer_imported(m), 0); /* mirrored */
    CHECK_EQ(parx_gpu_upload(s, bx, 0, x, sizeof x), 0);
    CHECK_EQ(parx_gpu_sync(s), 0);
    parx_gpu_buffer *xm[2] = {bx, m};
    parx_gpu_job job = {.n = N, .kernel = sk, .bufs = xm, .nbufs = 2, .push = &a, .push_size = 4};
    CHECK_EQ(parx_gpu_run(s, NULL, &job), 0); /* host = 2 * x + 1, once it runs */
    parx__gpu_test_inject(s, -4);             /* its copy-out: no memory */
    CHECK_EQ(parx_gpu_sync(s), -ENOMEM);
    CHECK_EQ(parx_gpu_sync(s), 0); /* nothing left to run */
    size_t bad = 0;
    for (int i = 0; i < N; i++)
        bad += host[i] != 1.0f; /* dropped: the host keeps its bytes */
    CHECK_EQ(bad, 0);
    CHECK_EQ(parx_gpu_run(s, NULL, &job), 0); /* the caller reruns it: once */
    CHECK_EQ(parx_gpu_sync(s), 0);
    bad = 0;
    for (int i = 0; i < N; i++)
        bad += host[i] != 2.0f * (float)i + 1.0f;
    CHECK_EQ(bad, 0);
    parx_gpu_close(s);
}

/* The LocalSizeId execution mode (SPIR-V 1.3, spirv-as, checked with
   spirv-val --target-env vulkan1.3): tests/gpu.c's spec-constant kernel
   with `OpExecutionModeId %main LocalSizeId %x %uint_1 %uint_1`, %x an
   OpSpecConstant 64 with SpecId 0, and no WorkgroupSize constant. */
static const uint32_t spv_lsid_id[] = {
    0x07230203, 0x00010300, 0x00070000, 0x0000002b, 0x00000000, 0x00020011, 0x00000001, 0x0006000b,
    0x00000001, 0x4c534c47, 0x6474732e, 0x3035342e, 0x00000000, 0x0003000e, 0x00000000, 0x00000001,
    0x0006000f, 0x00000005, 0x00000002, 0x6e69616d, 0x00000000, 0x00000003, 0x0006014b, 0x00000002,
    0x00000026, 0x00000004, 0x00000005, 0x00000005, 0x00040047, 0x00000003, 0x0000000b, 0x0000001c,
    0x00050048, 0x00000006, 0x00000000, 0x00000023, 0x00000000, 0x00050048, 0x00000006, 0x00000001,
    0x00000023, 0x00000004, 0x00050048, 0x00000006, 0x00000002, 0x00000023, 0x00000008, 0x00050048,
    0x00000006, 0x00000003, 0x00000023, 0x0000000c, 0x00030047, 0x00000006, 0x00000002, 0x00040047,
    0x00000007, 0x00000006, 0x00000004, 0x00050048, 0x00000008, 0x00000000, 0x00000023, 0x00000000,
    0x00030047, 0x00000008, 0x00000003, 0x00040047, 0x00000009, 0x00000022, 0x00000000, 0x00040047,
    0x00000009, 0x00000021, 0x00000000, 0x00040047, 0x00000004, 0x00000001, 0x00000000, 0x00020013,
    0x0000000a, 0x00030021, 0x0000000b, 0x0000000a, 0x00040015, 0x0000000c, 0x00000020, 0x00000000,
    0x00040017, 0x0000000d, 0x0000000c, 0x00000003, 0x00040020, 0x0000000e, 0x00000001, 0x0000000d,
    0x0004003b, 0x0000000e, 0x00000003, 0x00000001, 0x0004002b, 0x0000000c, 0x0000000f, 0x00000000,
    0x00040020, 0x00000010, 0x00000001, 0x0000000c, 0x0006001e, 0x00000006, 0x0000000c, 0x0000000c,
    0x0000000c, 0x0000000c, 0x00040020, 0x00000011, 0x00000009, 0x00000006, 0x0004003b, 0x00000011,
    0x00000012, 0x00000009, 0x00040015, 0x00000013, 0x00000020, 0x00000001, 0x0004002b, 0x00000013,
    0x00000014, 0x00000002, 0x00040020, 0x00000015, 0x00000009, 0x0000000c, 0x00020014, 0x00000016,
    0x0003001d, 0x00000007, 0x0000000c, 0x0003001e, 0x00000008, 0x00000007, 0x00040020, 0x00000017,
    0x00000002, 0x00000008, 0x0004003b, 0x00000017, 0x00000009, 0x00000002, 0x0004002b, 0x00000013,
    0x00000018, 0x00000000, 0x0004002b, 0x00000013, 0x00000019, 0x00000001, 0x0004002b, 0x0000000c,
    0x00000005, 0x00000001, 0x00040020, 0x0000001a, 0x00000002, 0x0000000c, 0x00040032, 0x0000000c,
    0x00000004, 0x00000040, 0x00050036, 0x0000000a, 0x00000002, 0x00000000, 0x0000000b, 0x000200f8,
    0x0000001b, 0x00050041, 0x00000010, 0x0000001c, 0x00000003, 0x0000000f, 0x0004003d, 0x0000000c,
    0x0000001d, 0x0000001c, 0x00050041, 0x00000015, 0x0000001e, 0x00000012, 0x00000014, 0x0004003d,
    0x0000000c, 0x0000001f, 0x0000001e, 0x000500b0, 0x00000016, 0x00000020, 0x0000001d, 0x0000001f,
    0x000300f7, 0x00000021, 0x00000000, 0x000400fa, 0x00000020, 0x00000022, 0x00000021, 0x000200f8,
    0x00000022, 0x00050041, 0x00000015, 0x00000023, 0x00000012, 0x00000019, 0x0004003d, 0x0000000c,
    0x00000024, 0x00000023, 0x00050080, 0x0000000c, 0x00000025, 0x00000024, 0x0000001d, 0x00050041,
    0x00000015, 0x00000026, 0x00000012, 0x00000018, 0x0004003d, 0x0000000c, 0x00000027, 0x00000026,
    0x00050080, 0x0000000c, 0x00000028, 0x00000027, 0x0000001d, 0x00050080, 0x0000000c, 0x00000029,
    0x00000028, 0x00000005, 0x00060041, 0x0000001a, 0x0000002a, 0x00000009, 0x00000018, 0x00000025,
    0x0003003e, 0x0000002a, 0x00000029, 0x000200f9, 0x00000021, 0x000200f8, 0x00000021, 0x000100fd,
    0x00010038};

static void test_local_size_id(void)
{
    parx__gpu_spirv_facts f;
    uint32_t spec[2] = {16, 3};
    CHECK_EQ(parx__gpu_check_spirv(spv_lsid_id, sizeof spv_lsid_id, "main", NULL, 0, &f), 0);
    CHECK_EQ_U(f.local_x, 64);
    CHECK_EQ(parx__gpu_check_spirv(spv_lsid_id, sizeof spv_lsid_id, "main", spec, 2, &f), 0);
    CHECK_EQ_U(f.local_x, 16);
    CHECK_EQ_U(f.local_y, 1); /* y and z: the module's constants */
    CHECK_EQ_U(f.local_z, 1);
    CHECK_EQ_U(f.bindings, 1);
    CHECK(f.uses_push);
    CHECK_EQ_U(f.push_size, 16); /* the header: four uints at Offsets 0..12 */
}

static bool on_list(parx_gpu_buffer *x, parx_gpu_kernel *kx)
{
    bool found = false;
    for (parx_gpu_buffer *y = g->buffers; y; y = y->next)
        found |= y == x;
    for (parx_gpu_kernel *y = g->kernels; y; y = y->next)
        found |= y == kx;
    return found;
}

/* A fence wait that fails without the device being lost (the driver short
   of host memory): the batch may still run, so destroy must not free what
   it uses. Before the fix buffer_destroy and kernel_destroy freed both
   after the failed waits. Now they wait for the whole device, and where
   even that fails leave them for parx_gpu_close to free (ASan and
   valgrind check it does). */
static void test_destroy_when_waits_fail(void)
{
    int err = 0;
    for (int idle_fails = 0; idle_fails < 2; idle_fails++) {
        parx_gpu_buffer *x = parx_gpu_buffer_create(g, 4096, 0, &err);
        parx_gpu_kernel *kx =
            parx_gpu_kernel_create(g, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy, NULL, &err);
        REQUIRE(x && kx);
        parx_gpu_buffer *xb[2] = {x, b[1]};
        parx_gpu_job job = {.n = 1024, .kernel = kx, .bufs = xb, .nbufs = 2, .push = &a,
                            .push_size = 4};
        CHECK_EQ(parx_gpu_run(g, NULL, &job), 0);
        CHECK_EQ(parx_gpu_submit(g, NULL), 0);
        parx__gpu_test_inject(g, idle_fails ? -6 : -5); /* every wait: out of host memory */
        parx_gpu_buffer_destroy(x);
        parx_gpu_kernel_destroy(kx);
        parx__gpu_test_inject(g, 0);
        CHECK_EQ(on_list(x, kx), idle_fails); /* kept while the device may use them */
    }
    CHECK_EQ(parx_gpu_sync(g), 0);
    CHECK_EQ(record(), 0);
    CHECK_EQ(parx_gpu_sync(g), 0);
}

/* destroy whose fence waits fail and whose vkDeviceWaitIdle then reports
   the device lost (injected): the loss holds for every later call, and the
   buffer is freed at once, since a lost device runs nothing more. Until a
   fault-injection review the loss went unrecorded there: later calls
   succeeded, and the buffer was left for close. */
static void test_destroy_finds_device_lost(void)
{
    int err = 0;
    parx_gpu *d = parx_gpu_open(&(parx_gpu_desc){.device = PARX_GPU_DEVICE_CPU}, &err);
    REQUIRE(d);
    parx_gpu_buffer *x = parx_gpu_buffer_create(d, 4096, 0, &err);
    parx_gpu_buffer *y = parx_gpu_buffer_create(d, 4096, 0, &err);
    parx_gpu_kernel *k =
        parx_gpu_kernel_create(d, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy, NULL, &err);
    REQUIRE(x && y && k);
    parx_gpu_buffer *xy[2] = {x, y};
    parx_gpu_job job = {.n = 1024, .kernel = k, .bufs = xy, .nbufs = 2, .push = &a,
                        .push_size = 4};
    CHECK_EQ(parx_gpu_run(d, NULL, &job), 0);
    CHECK_EQ(parx_gpu_submit(d, NULL), 0);
    /* The loss is only injected: lavapipe would still run the batch while
       destroy frees x (as on a lost device). Let it finish first. */
    CHECK_EQ(d->vkDeviceWaitIdle(d->dev), VK_SUCCESS);
    parx__gpu_test_inject(d, -9);
    parx_gpu_buffer_destroy(x);
    parx__gpu_test_inject(d, 0);
    bool listed = false;
    for (parx_gpu_buffer *b = d->buffers; b; b = b->next)
        listed |= b == x;
    CHECK_MSG(!listed, "the buffer was kept for close, on a device found lost");
    CHECK_EQ(parx_gpu_sync(d), PARX_E_DEVICE_LOST);
    float f = 0;
    CHECK_EQ(parx_gpu_upload(d, y, 0, &f, sizeof f), PARX_E_DEVICE_LOST);
    parx_gpu_close(d);
}

/* A host import that meets the loss of the device (injected at its memory
   allocation) returns PARX_E_DEVICE_LOST, like every call after it: a loss
   is no refusal of the pointer, and a mirror made on a lost device would
   run nothing (before, the import quietly mirrored). */
static void test_import_finds_device_lost(void)
{
    int err = 0;
    parx_gpu *d = parx_gpu_open(&(parx_gpu_desc){.device = PARX_GPU_DEVICE_CPU}, &err);
    REQUIRE(d);
    parx_gpu_info info;
    CHECK_EQ(parx_gpu_query(d, &info), 0);
    if (!info.host_import) {
        parx_gpu_close(d);
        PT_SKIP("this driver imports no host memory");
    }
    size_t size = 1 << 16;
    void *host = aligned_alloc(size, size);
    REQUIRE(host);
    parx__gpu_test_inject(d, -10);
    err = 0;
    parx_gpu_buffer *x = parx_gpu_buffer_import(d, host, size, &err);
    CHECK_MSG(x == NULL, "the import made a buffer (zero-copy %d) on a lost device",
              parx_gpu_buffer_imported(x));
    CHECK_EQ(err, PARX_E_DEVICE_LOST);
    CHECK_EQ(parx_gpu_sync(d), PARX_E_DEVICE_LOST);
    parx_gpu_close(d);
    free(host);
}

/* A device whose largest allocation caps its chunks (a binding range
   above maxMemoryAllocationSize), played on lavapipe with the hook that
   lowers its largest allocation to its binding range. A full chunk
   imported off the page boundary allocates the pages around it: before, a
   page more than the largest allocation. Now the chunk leaves room for
   them: the import is zero-copy, where one page of it is, and asks for no
   more than the limit. */
static void test_import_within_max_alloc(void)
{
    int err = 0;
    parx_gpu *d = parx_gpu_open(&(parx_gpu_desc){.device = PARX_GPU_DEVICE_CPU}, &err);
    REQUIRE(d);
    parx_gpu_info info;
    CHECK_EQ(parx_gpu_query(d, &info), 0);
    parx_gpu_close(d);
    uint64_t limit = info.max_storage_buffer_range & ~(uint64_t)65535;
    if (limit > info.max_allocation_bytes) limit = info.max_allocation_bytes;
    parx__gpu_test_inject_max_alloc(limit);
    d = parx_gpu_open(&(parx_gpu_desc){.device = PARX_GPU_DEVICE_CPU}, &err);
    REQUIRE(d);
    CHECK_EQ(parx_gpu_query(d, &info), 0);
    CHECK_EQ(info.max_allocation_bytes, limit);
    if (!info.host_import) {
        parx_gpu_close(d);
        PT_SKIP("this driver imports no host memory");
    }
    size_t off = 64, bytes = info.chunk_bytes + 4096;
    unsigned char *mem = (unsigned char *)malloc(bytes + 4096 + off);
    REQUIRE(mem);
    unsigned char *host = (unsigned char *)(((uintptr_t)mem + 4095) & ~(uintptr_t)4095) + off;
    parx_gpu_buffer *small = parx_gpu_buffer_import(d, host, 4096, &err);
    REQUIRE(small);
    int control = parx_gpu_buffer_imported(small);
    parx_gpu_buffer_destroy(small);
    if (control != 1) { /* a mirror allocates no more than a chunk: nothing to check */
        parx_gpu_close(d);
        free(mem);
        PT_SKIP("this driver mirrors host memory off the page boundary");
    }
    parx_gpu_buffer *x = parx_gpu_buffer_import(d, host, bytes, &err);
    REQUIRE(x);
    CHECK_EQ(parx_gpu_buffer_chunks(x), 2);
    CHECK_EQ(parx_gpu_buffer_imported(x), 1);
    CHECK_MSG(parx__gpu_test_largest_alloc(d) <= limit,
              "an allocation of %llu bytes, past the largest (%llu); chunks of %zu",
              (unsigned long long)parx__gpu_test_largest_alloc(d), (unsigned long long)limit,
              info.chunk_bytes);
    float v = 7.0f, back = 0;
    CHECK_EQ(parx_gpu_upload(d, x, bytes - 4, &v, 4), 0);
    CHECK_EQ(parx_gpu_download(d, x, bytes - 4, &back, 4), 0);
    CHECK(back == 7.0f);
    parx_gpu_buffer_destroy(x);
    parx_gpu_close(d);
    free(mem);
}

/* A push-constant block whose size does not fit in 64 bits: before the fix
   the size wrapped round (to 4 bytes here), the module passed for one with
   a 4-byte block, and kernel_create made a pipeline whose push range does
   not cover the block the module declares. Now the size saturates: the
   block is reported larger than any device allows. The module (hand
   written, checked by parx only): struct { uint64_t v[2^32 - 1][2^32 - 1]; }
   with ArrayStride 2^32 - 1 inside and 3 outside. */
/* clang-format off */
static const uint32_t spv_push_wraps[] = {
    0x07230203, 0x00010000, 0, 100, 0,       /* magic, SPIR-V 1.0, generator, bound */
    0x00020011, 1,                           /* OpCapability Shader */
    0x0003000e, 0, 1,                        /* OpMemoryModel Logical GLSL450 */
    0x0005000f, 5, 4, 0x6e69616d, 0,         /* OpEntryPoint GLCompute %4 "main" */
    0x00060010, 4, 17, 1, 1, 1,              /* OpExecutionMode %4 LocalSize 1 1 1 */
    0x00040047, 10, 6, 0xFFFFFFFFu,          /* OpDecorate %10 ArrayStride */
    0x00040047, 11, 6, 3,                    /* OpDecorate %11 ArrayStride 3 */
    0x00050048, 12, 0, 35, 0,                /* OpMemberDecorate %12 0 Offset 0 */
    0x00030047, 12, 2,                       /* OpDecorate %12 Block */
    0x00020013, 2,                           /* %2 = OpTypeVoid */
    0x00030021, 3, 2,                        /* %3 = OpTypeFunction %2 */
    0x00040015, 6, 64, 0,                    /* %6 = OpTypeInt 64 0 */
    0x00040015, 8, 32, 0,                    /* %8 = OpTypeInt 32 0 */
    0x0004002b, 8, 7, 0xFFFFFFFFu,           /* %7 = OpConstant %8 2^32 - 1 */
    0x0004001c, 10, 6, 7,                    /* %10 = OpTypeArray %6 %7 */
    0x0004001c, 11, 10, 7,                   /* %11 = OpTypeArray %10 %7 */
    0x0003001e, 12, 11,                      /* %12 = OpTypeStruct %11 */
    0x00040020, 13, 9, 12,                   /* %13 = OpTypePointer PushConstant %12 */
    0x0004003b, 13, 14, 9,                   /* %14 = OpVariable %13 PushConstant */
    0x00050036, 2, 4, 0, 3,                  /* %4 = OpFunction %2 None %3 */
    0x000200f8, 5,                           /* OpLabel */
    0x000100fd,                              /* OpReturn */
    0x00010038};                             /* OpFunctionEnd */
/* clang-format on */

static void test_push_size_wraps(void)
{
    parx__gpu_spirv_facts f;
    CHECK_EQ(parx__gpu_check_spirv(spv_push_wraps, sizeof spv_push_wraps, "main", NULL, 0, &f), 0);
    CHECK(f.uses_push);
    CHECK_EQ_U(f.push_size, UINT32_MAX); /* saturated, not 4 */
}

/* The same for a mirrored import, whose batch copies the device copy back
   into the caller's memory when it completes. Once destroy has returned
   that memory is the caller's again: the copy must have run by then (the
   device waited for) or never run (the buffer left for close). Before the
   fix it ran at the next sync, from freed device memory (ASan:
   heap-use-after-free) or over what the caller wrote since. */
static void test_destroy_mirror_when_waits_fail(void)
{
    int err = 0;
    parx_gpu *m = parx_gpu_open(
        &(parx_gpu_desc){.device = PARX_GPU_DEVICE_CPU, .no_import = true}, &err);
    REQUIRE(m);
    parx_gpu_kernel *km =
        parx_gpu_kernel_create(m, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy, NULL, &err);
    enum { N = 1024 };
    static float x[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)(i + 1);
    parx_gpu_buffer *bx = parx_gpu_buffer_create(m, sizeof x, 0, &err);
    REQUIRE(km && bx);
    CHECK_EQ(parx_gpu_upload(m, bx, 0, x, sizeof x), 0);
    for (int idle_fails = 0; idle_fails < 2; idle_fails++) {
        float *host = (float *)malloc(sizeof x);
        REQUIRE(host);
        for (int i = 0; i < N; i++)
            host[i] = 0.5f;
        parx_gpu_buffer *y = parx_gpu_buffer_import(m, host, sizeof x, &err);
        REQUIRE(y);
        CHECK_EQ(parx_gpu_buffer_imported(y), 0); /* mirrored */
        parx_gpu_buffer *xy[2] = {bx, y};
        parx_gpu_job job = {.n = N, .kernel = km, .bufs = xy, .nbufs = 2, .push = &a,
                            .push_size = 4};
        CHECK_EQ(parx_gpu_run(m, NULL, &job), 0);
        CHECK_EQ(parx_gpu_submit(m, NULL), 0);
        parx__gpu_test_inject(m, idle_fails ? -6 : -5);
        parx_gpu_buffer_destroy(y);
        parx__gpu_test_inject(m, 0);
        size_t done = 0;
        for (int i = 0; i < N; i++)
            done += host[i] == 2.0f * (float)(i + 1) + 0.5f; /* y = a x + y */
        /* device idle: the results came back before destroy returned */
        CHECK_EQ(done, idle_fails ? 0 : (size_t)N);
        for (int i = 0; i < N; i++)
            host[i] = 7.0f; /* the caller's again */
        CHECK_EQ(parx_gpu_sync(m), 0);
        size_t written = 0;
        for (int i = 0; i < N; i++)
            written += host[i] != 7.0f;
        CHECK_EQ(written, 0);
        free(host);
    }
    parx_gpu_buffer_destroy(bx);
    parx_gpu_kernel_destroy(km);
    parx_gpu_close(m);
}

/* Which memory types device buffers and staging use, for the layouts of
   the GPUs parx meets (memory properties as drivers report them; lavapipe
   is the only one here). Before the fix a discrete GPU's 256 MiB BAR
   window, the first device-local host-visible type, held every buffer:
   heap_bytes said 256 MiB on an 8 GiB card, and larger buffers failed. */
static void test_memory_types(void)
{
    enum { DL = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, HV = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT,
           HC = VK_MEMORY_PROPERTY_HOST_COHERENT_BIT, CA = VK_MEMORY_PROPERTY_HOST_CACHED_BIT };
    const VkDeviceSize GiB = (VkDeviceSize)1 << 30;
    static const struct {
        const char *what;
        uint32_t ntypes, flags[5], heap[5];
        VkDeviceSize heaps[3];
        bool staging;
        int dev, stg;
        bool mapped;
    } cases[] = {
        {"discrete, BAR window listed last", 5, {0, DL, HV | HC, HV | HC | CA, DL | HV | HC},
         {1, 0, 1, 1, 2}, {8 * GiB, 16 * GiB, GiB / 4}, false, 1, 3, false},
        {"discrete, BAR window before system memory", 4, {DL, DL | HV | HC, HV | HC, HV | HC | CA},
         {0, 2, 1, 1}, {8 * GiB, 16 * GiB, GiB / 4}, false, 0, 3, false},
        {"discrete, resizable BAR", 4, {DL, HV | HC, DL | HV | HC, HV | HC | CA},
         {0, 1, 0, 1}, {8 * GiB, 16 * GiB, 0}, false, 2, 3, true},
        {"discrete, resizable BAR, staging asked for", 4, {DL, HV | HC, DL | HV | HC, HV | HC | CA},
         {0, 1, 0, 1}, {8 * GiB, 16 * GiB, 0}, true, 0, 3, false},
        {"integrated GPU or lavapipe", 1, {DL | HV | HC | CA}, {0}, {16 * GiB, 0, 0}, false, 0,
         0, true},
    };
    parx_gpu *f = (parx_gpu *)calloc(1, sizeof *f);
    REQUIRE(f);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        memset(&f->memprops, 0, sizeof f->memprops);
        f->memprops.memoryTypeCount = cases[c].ntypes;
        f->memprops.memoryHeapCount = 3;
        for (uint32_t i = 0; i < cases[c].ntypes; i++) {
            f->memprops.memoryTypes[i].propertyFlags = cases[c].flags[i];
            f->memprops.memoryTypes[i].heapIndex = cases[c].heap[i];
        }
        for (uint32_t h = 0; h < 3; h++)
            f->memprops.memoryHeaps[h].size = cases[c].heaps[h];
        f->desc.staging = cases[c].staging;
        uint32_t bits = (1u << cases[c].ntypes) - 1;
        CHECK_EQ(parx__gpu_memory_types(f, bits), 0);
        CHECK_MSG(f->dev_type == cases[c].dev && f->host_mapped == cases[c].mapped &&
                      f->stg_type == cases[c].stg,
                  "%s: device type %d (mapped %d), staging %d; want %d (%d), %d", cases[c].what,
                  f->dev_type, f->host_mapped, f->stg_type, cases[c].dev, cases[c].mapped,
                  cases[c].stg);
        CHECK_EQ_U(f->heap_bytes, cases[c].heaps[cases[c].heap[cases[c].dev]]);
    }
    free(f);
}

/* parx_gpu_open reports the codes it documents: a device lost or a feature
   missing while the device is made (injected: no driver does either on
   request) is -EIO, out of memory -ENOMEM, and a desc.device that is no
   parx_gpu_device_kind -EINVAL. Before the fix they came out as
   PARX_E_DEVICE_LOST, -ENOTSUP and -ENODEV (which sends a caller to its
   CPU path for what is a bug). Each failed open frees what it made. */
static void test_open_errors(void)
{
    static const struct {
        int result, want;
    } cases[] = {{VK_ERROR_DEVICE_LOST, -EIO},
                 {VK_ERROR_FEATURE_NOT_PRESENT, -EIO},
                 {VK_ERROR_EXTENSION_NOT_PRESENT, -EIO},
                 {VK_ERROR_OUT_OF_DEVICE_MEMORY, -ENOMEM},
                 {VK_ERROR_INITIALIZATION_FAILED, -ENODEV}};
    int err = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        parx__gpu_test_inject_open(cases[i].result);
        err = 0;
        CHECK(parx_gpu_open(&(parx_gpu_desc){.device = PARX_GPU_DEVICE_CPU}, &err) == NULL);
        CHECK_EQ(err, cases[i].want);
    }
    /* listing the devices: out of memory is -ENOMEM, not "no device" (it
       was -ENODEV until a fault-injection review) */
    static const struct {
        int result, want;
    } enum_cases[] = {{VK_ERROR_OUT_OF_HOST_MEMORY, -ENOMEM},
                      {VK_ERROR_OUT_OF_DEVICE_MEMORY, -ENOMEM},
                      {VK_ERROR_INITIALIZATION_FAILED, -ENODEV}};
    for (size_t i = 0; i < sizeof enum_cases / sizeof enum_cases[0]; i++) {
        parx__gpu_test_inject_enum(enum_cases[i].result);
        err = 0;
        CHECK(parx_gpu_open(&(parx_gpu_desc){.device = PARX_GPU_DEVICE_CPU}, &err) == NULL);
        CHECK_MSG(err == enum_cases[i].want, "vkEnumeratePhysicalDevices %d: err %d, want %d",
                  enum_cases[i].result, err, enum_cases[i].want);
    }
    err = 0;
    CHECK(parx_gpu_open(&(parx_gpu_desc){.device = (parx_gpu_device_kind)42}, &err) == NULL);
    CHECK_EQ(err, -EINVAL);
    parx_gpu *ok = parx_gpu_open(&(parx_gpu_desc){.device = PARX_GPU_DEVICE_CPU}, &err);
    CHECK(ok != NULL); /* the hook is spent */
    parx_gpu_close(ok);
}

/* A module whose push-constant block is a tree of structs: S0 holds m
   members of type S1, ..., S(d) holds m uints (Offsets packed), written
   into w (room for 4096 words); returns its word count. spirv-val accepts
   it (checked for d = 7, m = 10 when the test was written). */
static size_t nested_push_module(uint32_t *w, int d, int m)
{
    enum { VOID = 1, FN, UINT, PTR, PC, MAIN, LABEL, S0 }; /* S(k) = S0 + k */
    size_t n = 0;
    uint32_t size[16];
    size[d] = 4u * (uint32_t)m;
    for (int k = d - 1; k >= 0; k--)
        size[k] = size[k + 1] * (uint32_t)m;
    w[n++] = 0x07230203u, w[n++] = 0x00010000u, w[n++] = 0; /* magic, version, generator */
    w[n++] = S0 + (uint32_t)d + 1, w[n++] = 0;             /* id bound, schema */
    w[n++] = (2u << 16) | 17, w[n++] = 1;         /* OpCapability Shader */
    w[n++] = (3u << 16) | 14, w[n++] = 0, w[n++] = 1; /* OpMemoryModel Logical GLSL450 */
    w[n++] = (5u << 16) | 15, w[n++] = 5, w[n++] = MAIN; /* OpEntryPoint GLCompute %main "main" */
    memcpy(&w[n], "main\0\0\0\0", 8), n += 2;
    w[n++] = (6u << 16) | 16, w[n++] = MAIN, w[n++] = 17, w[n++] = 1, w[n++] = 1, w[n++] = 1;
    for (int k = 0; k <= d; k++)
        for (int i = 0; i < m; i++) /* OpMemberDecorate %Sk i Offset */
            w[n++] = (5u << 16) | 72, w[n++] = S0 + (uint32_t)k, w[n++] = (uint32_t)i, w[n++] = 35,
            w[n++] = (uint32_t)i * (k == d ? 4u : size[k + 1]);
    w[n++] = (3u << 16) | 71, w[n++] = S0, w[n++] = 2; /* OpDecorate %S0 Block */
    w[n++] = (2u << 16) | 19, w[n++] = VOID;
    w[n++] = (3u << 16) | 33, w[n++] = FN, w[n++] = VOID;
    w[n++] = (4u << 16) | 21, w[n++] = UINT, w[n++] = 32, w[n++] = 0;
    for (int k = d; k >= 0; k--) { /* OpTypeStruct %Sk (m members) */
        w[n++] = ((2u + (uint32_t)m) << 16) | 30, w[n++] = S0 + (uint32_t)k;
        for (int i = 0; i < m; i++)
            w[n++] = k == d ? UINT : S0 + (uint32_t)k + 1;
    }
    w[n++] = (4u << 16) | 32, w[n++] = PTR, w[n++] = 9, w[n++] = S0; /* PushConstant */
    w[n++] = (4u << 16) | 59, w[n++] = PTR, w[n++] = PC, w[n++] = 9;
    w[n++] = (5u << 16) | 54, w[n++] = VOID, w[n++] = MAIN, w[n++] = 0, w[n++] = FN;
    w[n++] = (2u << 16) | 248, w[n++] = LABEL;
    w[n++] = (1u << 16) | 253; /* OpReturn */
    w[n++] = (1u << 16) | 56;  /* OpFunctionEnd */
    return n;
}

/* The push-constant block's size from nested structs: exact for a small
   tree; for a deep, wide one (10^7 paths) parx gives up (0: cannot tell)
   after a bounded number of types instead of walking every path (the
   first version of the size walk recursed into each member's type anew:
   40 s for this module, exponential in its depth). */
static void test_push_size_nested(void)
{
    static uint32_t w[4096];
    parx__gpu_spirv_facts f;
    size_t n = nested_push_module(w, 2, 3);
    CHECK_EQ(parx__gpu_check_spirv(w, n * 4, "main", NULL, 0, &f), 0);
    CHECK(f.uses_push);
    CHECK_EQ_U(f.push_size, 3 * 3 * 3 * 4);
    n = nested_push_module(w, 7, 10);
    CHECK_EQ(parx__gpu_check_spirv(w, n * 4, "main", NULL, 0, &f), 0);
    CHECK(f.uses_push);
    CHECK_EQ_U(f.push_size, 0);
}

/* Found by fuzzing the check: a module that defines the push-constant
   block's pointer type again and again (an id defined twice is not
   SPIR-V) had its block walked once per definition, each walk with a budget
   of its own (9 s for a module of 53 KB); and of two entry points with the
   asked name (not SPIR-V either), only the last was checked. Both are
   refused now. */
static void test_spirv_defined_twice(void)
{
    static uint32_t w[4096];
    parx__gpu_spirv_facts f;
    size_t n = nested_push_module(w, 1, 2);
    CHECK_EQ(parx__gpu_check_spirv(w, n * 4, "main", NULL, 0, &f), 0);
    /* the OpTypePointer of the push constants, then the same twice */
    size_t at = 5;
    while (at < n && !((w[at] & 0xFFFFu) == 32 && w[at + 2] == 9))
        at += w[at] >> 16;
    REQUIRE(at < n);
    static uint32_t d[4096];
    memcpy(d, w, (at + 4) * 4);
    memcpy(&d[at + 4], &w[at], (n - at) * 4);
    CHECK_EQ(parx__gpu_check_spirv(d, (n + 4) * 4, "main", NULL, 0, &f), PARX_E_BAD_SPIRV);
    /* the entry point "main" (GLCompute) twice: an earlier one naming an id
       past the bound, the later one as before */
    size_t ep = 5;
    while (ep < n && (w[ep] & 0xFFFFu) != 15)
        ep += w[ep] >> 16;
    REQUIRE(ep < n);
    size_t len = w[ep] >> 16;
    memcpy(d, w, ep * 4);
    memcpy(&d[ep], &w[ep], len * 4);
    d[ep + 2] = 0x7fffffffu;
    memcpy(&d[ep + len], &w[ep], (n - ep) * 4);
    CHECK_EQ(parx__gpu_check_spirv(d, (n + len) * 4, "main", NULL, 0, &f), PARX_E_BAD_SPIRV);
    /* the original still passes: the copies above changed nothing else */
    CHECK_EQ(parx__gpu_check_spirv(w, n * 4, "main", NULL, 0, &f), 0);
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
    pt_run("a close whose sync times out still copies a mirrored import's results out",
           test_close_after_timeout_mirror);
    pt_run("a failed vkEndCommandBuffer drops the batch and its mirror copy-outs",
           test_end_failure);
    pt_run("a batch parx cannot finish (no memory) is dropped whole", test_finish_enomem);
    pt_run("a kernel destroyed after a dropped batch waits for the earlier one using it",
           test_kernel_destroy_after_dropped_batch);
    pt_run("a dispatch that fails leaves no mirrored import to copy back over the caller's",
           test_failed_dispatch_leaves_no_mirror);
    pt_run("a dispatch that fails after its descriptor set is made keeps no set for the next",
           test_failed_dispatch_keeps_no_set);
    pt_run("a batch a destroy submits and that is dropped: the next sync says so, once",
           test_destroy_reports_dropped_batch);
    pt_run("a close after a destroy's dropped batch runs what was recorded since",
           test_close_after_dropped_destroy);
    pt_run("a dispatch whose descriptor set fails leaves its mirrored imports alone",
           test_failed_set_leaves_no_mirror);
    pt_run("the local size from LocalSizeId and desc.spec", test_local_size_id);
    pt_run("a push block of nested structs: its size, or 0 past a bounded walk",
           test_push_size_nested);
    pt_run("check: a pointer type or entry point defined twice is refused",
           test_spirv_defined_twice);
    pt_run("a push block too large for 64 bits: its size saturates, never wraps",
           test_push_size_wraps);
    pt_run("destroy after failed waits: freed once the device is idle, else at close",
           test_destroy_when_waits_fail);
    pt_run("destroy of a mirrored import after failed waits: no copy-out after it returns",
           test_destroy_mirror_when_waits_fail);
    pt_run("destroy that finds the device lost: lost for every later call, the buffer freed",
           test_destroy_finds_device_lost);
    pt_run("an import that finds the device lost: PARX_E_DEVICE_LOST, no mirror",
           test_import_finds_device_lost);
    pt_run("a chunk imported off the page boundary fits the largest allocation, zero-copy",
           test_import_within_max_alloc);
    pt_run("device buffers on the largest device-local heap, never a BAR window",
           test_memory_types);
    pt_run("parx_gpu_open's errors: -EIO, -ENOMEM, -ENODEV, -EINVAL as documented",
           test_open_errors);
    pt_run("an injected VK_ERROR_DEVICE_LOST: PARX_E_DEVICE_LOST everywhere, close, CPU rerun",
           test_lost);
    return pt_done_testing();
#endif
}
