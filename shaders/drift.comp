// SPDX-License-Identifier: MIT
// drift: one time step of free particles in the box [0, 1] with reflecting
// walls: x += v * dt; a particle that left the box is mirrored back and its
// velocity reversed. `precise` keeps the arithmetic exactly that of the C
// loop in examples/09_gpu_kde.c (no fma contraction), so both paths agree
// bitwise. One state buffer holds the positions, then the velocities from
// index vbase on (so a whole particle state is one upload). Push header as
// in saxpy.comp, then dt and vbase; the state buffer is bound whole, so it
// must fit in one chunk (parx_gpu_info.chunk_bytes): create the kernel with
// .whole_mask = 1, and parx_gpu_run refuses a larger one (-E2BIG).
#version 450
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) buffer State { float s[]; };
layout(push_constant) uniform P {
    uint first; uint offset; uint count; uint pad;
    float dt; uint vbase;
} pc;

void main()
{
    uint i = gl_GlobalInvocationID.x;
    if (i >= pc.count)
        return;
    uint j = pc.first + i, k = pc.vbase + pc.first + i;
    precise float xn = s[j] + s[k] * pc.dt;
    float vn = s[k];
    if (xn < 0.0) {
        xn = -xn;
        vn = -vn;
    } else if (xn > 1.0) {
        precise float m = 2.0 - xn;
        xn = m;
        vn = -vn;
    }
    s[j] = xn;
    s[k] = vn;
}
