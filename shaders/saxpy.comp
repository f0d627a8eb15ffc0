// SPDX-License-Identifier: MIT
// saxpy: y[i] = a * x[i] + y[i], one item per invocation.
// Kernel contract of parx_gpu_run (parx_gpu.h, >>run): the push constants
// start with the 16-byte header {first, offset, count, pad}; item i of this
// dispatch (0 <= i < count) sits at index offset + i of the bound buffers.
// `precise` forbids contracting a*x+y into an fma, so the result is bitwise
// the same as the C loop `y[i] = a * x[i] + y[i]` compiled without fma.
#version 450
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) buffer Y { float y[]; };
layout(push_constant) uniform P {
    uint first; uint offset; uint count; uint pad;
    float a;
} pc;

void main()
{
    uint i = gl_GlobalInvocationID.x;
    if (i >= pc.count)
        return;
    uint j = pc.offset + i;
    precise float r = pc.a * x[j] + y[j];
    y[j] = r;
}
