/* SPDX-License-Identifier: MIT */
/*
    tests/gpu_bindings.c -- parx_gpu.h built with PARX_GPU_MAX_BINDINGS above
    32 (a documented configuration macro), on Mesa's lavapipe.

    Checked: kernel_create refuses a kernel with more storage buffers than
    the device takes in one stage or one set (lavapipe: 32), -EINVAL, and
    parx_gpu_info.max_buffers says how many it takes; where a device takes
    33 or more, binding 32 (past the 32 bits of readonly_mask) counts as
    written, so a second run that writes it again gets its barrier. Before
    the fix the kernel was made (the validation layer reported
    VUID-VkPipelineLayoutCreateInfo-pSetLayouts-00289) and the dispatch
    shifted readonly_mask by 32 (undefined behaviour, which UBSan reports;
    on x86 it read bit 0 again and dropped the barrier).
*/
#define _GNU_SOURCE
#define PARX_GPU_MAX_BINDINGS 40
#define PARX_IMPLEMENTATION
#include "parx_gpu.h"
#include "parx.h"
#include "parx_gpu_kernels.h"
#include "parx_test.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef PARX_GPU_VULKAN
/* Bindings 0 and 32 of set 0 (so its layout has 33):
       #version 450
       layout(local_size_x = 64) in;
       layout(std430, set = 0, binding = 0) readonly buffer Src { uint src[]; };
       layout(std430, set = 0, binding = 32) buffer Dst { uint dst[]; };
       layout(push_constant) uniform P { uint first, offset, count, pad; } p;
       void main() {
           uint i = gl_GlobalInvocationID.x;
           if (i < p.count) dst[p.offset + i] += src[p.offset + i];
       }
   glslc --target-env=vulkan1.0 -O (shaderc 2023.2), checked with spirv-val. */
static const uint32_t spv_b33[] = {
    0x07230203, 0x00010000, 0x000d000b, 0x00000039, 0x00000000, 0x00020011, 0x00000001, 0x0006000b,
    0x00000001, 0x4c534c47, 0x6474732e, 0x3035342e, 0x00000000, 0x0003000e, 0x00000000, 0x00000001,
    0x0006000f, 0x00000005, 0x00000004, 0x6e69616d, 0x00000000, 0x0000000b, 0x00060010, 0x00000004,
    0x00000011, 0x00000040, 0x00000001, 0x00000001, 0x00040047, 0x0000000b, 0x0000000b, 0x0000001c,
    0x00050048, 0x00000011, 0x00000000, 0x00000023, 0x00000000, 0x00050048, 0x00000011, 0x00000001,
    0x00000023, 0x00000004, 0x00050048, 0x00000011, 0x00000002, 0x00000023, 0x00000008, 0x00050048,
    0x00000011, 0x00000003, 0x00000023, 0x0000000c, 0x00030047, 0x00000011, 0x00000002, 0x00040047,
    0x0000001d, 0x00000006, 0x00000004, 0x00050048, 0x0000001e, 0x00000000, 0x00000023, 0x00000000,
    0x00030047, 0x0000001e, 0x00000003, 0x00040047, 0x00000020, 0x00000022, 0x00000000, 0x00040047,
    0x00000020, 0x00000021, 0x00000020, 0x00040047, 0x00000027, 0x00000006, 0x00000004, 0x00040048,
    0x00000028, 0x00000000, 0x00000018, 0x00050048, 0x00000028, 0x00000000, 0x00000023, 0x00000000,
    0x00030047, 0x00000028, 0x00000003, 0x00040047, 0x0000002a, 0x00000022, 0x00000000, 0x00040047,
    0x0000002a, 0x00000021, 0x00000000, 0x00040047, 0x00000038, 0x0000000b, 0x00000019, 0x00020013,
    0x00000002, 0x00030021, 0x00000003, 0x00000002, 0x00040015, 0x00000006, 0x00000020, 0x00000000,
    0x00040017, 0x00000009, 0x00000006, 0x00000003, 0x00040020, 0x0000000a, 0x00000001, 0x00000009,
    0x0004003b, 0x0000000a, 0x0000000b, 0x00000001, 0x0004002b, 0x00000006, 0x0000000c, 0x00000000,
    0x00040020, 0x0000000d, 0x00000001, 0x00000006, 0x0006001e, 0x00000011, 0x00000006, 0x00000006,
    0x00000006, 0x00000006, 0x00040020, 0x00000012, 0x00000009, 0x00000011, 0x0004003b, 0x00000012,
    0x00000013, 0x00000009, 0x00040015, 0x00000014, 0x00000020, 0x00000001, 0x0004002b, 0x00000014,
    0x00000015, 0x00000002, 0x00040020, 0x00000016, 0x00000009, 0x00000006, 0x00020014, 0x00000019,
    0x0003001d, 0x0000001d, 0x00000006, 0x0003001e, 0x0000001e, 0x0000001d, 0x00040020, 0x0000001f,
    0x00000002, 0x0000001e, 0x0004003b, 0x0000001f, 0x00000020, 0x00000002, 0x0004002b, 0x00000014,
    0x00000021, 0x00000000, 0x0004002b, 0x00000014, 0x00000022, 0x00000001, 0x0003001d, 0x00000027,
    0x00000006, 0x0003001e, 0x00000028, 0x00000027, 0x00040020, 0x00000029, 0x00000002, 0x00000028,
    0x0004003b, 0x00000029, 0x0000002a, 0x00000002, 0x00040020, 0x0000002f, 0x00000002, 0x00000006,
    0x0004002b, 0x00000006, 0x00000036, 0x00000040, 0x0004002b, 0x00000006, 0x00000037, 0x00000001,
    0x0006002c, 0x00000009, 0x00000038, 0x00000036, 0x00000037, 0x00000037, 0x00050036, 0x00000002,
    0x00000004, 0x00000000, 0x00000003, 0x000200f8, 0x00000005, 0x00050041, 0x0000000d, 0x0000000e,
    0x0000000b, 0x0000000c, 0x0004003d, 0x00000006, 0x0000000f, 0x0000000e, 0x00050041, 0x00000016,
    0x00000017, 0x00000013, 0x00000015, 0x0004003d, 0x00000006, 0x00000018, 0x00000017, 0x000500b0,
    0x00000019, 0x0000001a, 0x0000000f, 0x00000018, 0x000300f7, 0x0000001c, 0x00000000, 0x000400fa,
    0x0000001a, 0x0000001b, 0x0000001c, 0x000200f8, 0x0000001b, 0x00050041, 0x00000016, 0x00000023,
    0x00000013, 0x00000022, 0x0004003d, 0x00000006, 0x00000024, 0x00000023, 0x00050080, 0x00000006,
    0x00000026, 0x00000024, 0x0000000f, 0x00060041, 0x0000002f, 0x00000030, 0x0000002a, 0x00000021,
    0x00000026, 0x0004003d, 0x00000006, 0x00000031, 0x00000030, 0x00060041, 0x0000002f, 0x00000032,
    0x00000020, 0x00000021, 0x00000026, 0x0004003d, 0x00000006, 0x00000033, 0x00000032, 0x00050080,
    0x00000006, 0x00000034, 0x00000033, 0x00000031, 0x0003003e, 0x00000032, 0x00000034, 0x000200f9,
    0x0000001c, 0x000200f8, 0x0000001c, 0x000100fd, 0x00010038};

static parx_gpu *g;

static void test_limit(void)
{
    parx_gpu_info in;
    REQUIRE(parx_gpu_query(g, &in) == 0);
    pt_diag("max_buffers %u", (unsigned)in.max_buffers);
    CHECK(in.max_buffers >= 4 && in.max_buffers <= PARX_GPU_MAX_BINDINGS); /* Vulkan's minimum */
    int err = 0;
    /* One more buffer than the device takes: refused, whatever the module. */
    CHECK(parx_gpu_kernel_create(g, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy,
                                 &(parx_gpu_kernel_desc){.buffers = in.max_buffers + 1},
                                 &err) == NULL);
    CHECK_EQ(err, -EINVAL);
    parx_gpu_kernel *k = parx_gpu_kernel_create(
        g, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy,
        &(parx_gpu_kernel_desc){.buffers = in.max_buffers}, &err);
    CHECK(k != NULL); /* as many as it takes: made */
    parx_gpu_kernel_destroy(k);
}

static void test_binding_32(void)
{
    parx_gpu_info in;
    REQUIRE(parx_gpu_query(g, &in) == 0);
    int err = 0;
    /* readonly_mask all ones: bindings 0..31 only read; 32 is written */
    parx_gpu_kernel *k = parx_gpu_kernel_create(
        g, spv_b33, sizeof spv_b33, &(parx_gpu_kernel_desc){.readonly_mask = UINT32_MAX}, &err);
    if (in.max_buffers < 33) {
        CHECK(k == NULL);
        CHECK_EQ(err, -EINVAL);
        parx_gpu_kernel_destroy(k);
        return;
    }
    REQUIRE(k);
    enum { N = 1000 };
    static uint32_t src[N], dst[N];
    parx_gpu_buffer *b[33];
    for (int i = 0; i < 33; i++) {
        b[i] = parx_gpu_buffer_create(g, sizeof src, 0, &err);
        REQUIRE(b[i]);
    }
    for (uint32_t i = 0; i < N; i++)
        src[i] = i, dst[i] = 7;
    CHECK_EQ(parx_gpu_upload(g, b[0], 0, src, sizeof src), 0);
    CHECK_EQ(parx_gpu_upload(g, b[32], 0, dst, sizeof dst), 0);
    CHECK_EQ(parx_gpu_sync(g), 0);
    parx_gpu_job job = {.n = N, .kernel = k, .bufs = b, .nbufs = 33};
    CHECK_EQ(parx_gpu_run(g, NULL, &job), 0);
    parx_gpu_info before, after;
    CHECK_EQ(parx_gpu_query(g, &before), 0);
    CHECK_EQ(parx_gpu_run(g, NULL, &job), 0); /* writes binding 32 again: one barrier */
    CHECK_EQ(parx_gpu_query(g, &after), 0);
    CHECK_EQ(after.barriers - before.barriers, 1);
    CHECK_EQ(parx_gpu_download(g, b[32], 0, dst, sizeof dst), 0);
    size_t bad = 0;
    for (uint32_t i = 0; i < N; i++)
        bad += dst[i] != 7 + 2 * i;
    CHECK_EQ(bad, 0);
    for (int i = 0; i < 33; i++)
        parx_gpu_buffer_destroy(b[i]);
    parx_gpu_kernel_destroy(k);
}

static void test_no_validation_messages(void)
{
    parx_gpu_info in;
    REQUIRE(parx_gpu_query(g, &in) == 0);
    CHECK_EQ(in.validation_messages, 0);
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
    pt_run("no more buffers than the device takes: info.max_buffers, -EINVAL past it",
           test_limit);
    pt_run("a 33-binding kernel: -EINVAL where the device takes 32, else binding 32 is written",
           test_binding_32);
    pt_run("no validation message (with VK_INSTANCE_LAYERS=VK_LAYER_KHRONOS_validation)",
           test_no_validation_messages);
    parx_gpu_close(g);
    return pt_done_testing();
#endif
}
