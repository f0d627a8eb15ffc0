// SPDX-License-Identifier: MIT
// sum: a deterministic sum reduction, one pass. Each workgroup adds a fixed
// block of 512 items in a fixed pairwise tree and writes one partial sum;
// passes repeat until one value is left. The order of the additions depends
// only on n, never on the schedule, so the result is bitwise reproducible and
// equal to the same tree computed in C (see parx_gpu_sum_ref in the tests).
// Specialisation constant 0 (AS_FLOAT): true adds the words as floats, false
// as 32-bit unsigned integers (wrapping).
// Push header as in saxpy.comp; item `first + i` of the job is the input
// word at offset + i, and workgroup g writes partial (first / 512) + g.
// With parx_gpu_run, set job.items_per_group = 512 (not the default, the
// local size), and make the partial buffer ceil(n / 512) words.
#version 450
layout(local_size_x = 256) in;
layout(constant_id = 0) const bool AS_FLOAT = true;
layout(std430, set = 0, binding = 0) readonly buffer In { uint v[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Out { uint partial[]; };
layout(push_constant) uniform P {
    uint first; uint offset; uint count; uint pad;
} pc;

shared uint s[256];

uint add(uint a, uint b)
{
    if (AS_FLOAT) {
        precise float r = uintBitsToFloat(a) + uintBitsToFloat(b);
        return floatBitsToUint(r);
    }
    return a + b;
}

void main()
{
    uint l = gl_LocalInvocationID.x;
    uint g = gl_WorkGroupID.x;
    uint i = g * 512u + 2u * l;          // index within this dispatch
    uint a = i < pc.count ? v[pc.offset + i] : 0u;      // 0u is +0.0f too
    uint b = i + 1u < pc.count ? v[pc.offset + i + 1u] : 0u;
    s[l] = add(a, b);
    barrier();
    for (uint st = 128u; st > 0u; st >>= 1u) {           // 8 trips
        if (l < st)
            s[l] = add(s[l], s[l + st]);
        barrier();
    }
    if (l == 0u)
        partial[pc.first / 512u + g] = s[0];
}
