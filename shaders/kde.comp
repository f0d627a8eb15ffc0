// SPDX-License-Identifier: MIT
// kde: a 1-D Gaussian kernel density estimate of particles on a grid.
// One invocation per grid point x_g = lo + (g + 0.5) * dx adds
//     sum over particles p in [p_begin, p_end) of exp(-0.5 * ((x_g - x_p) * inv_h)^2)
// to acc[g] (add = 1), or stores it there (add = 0, the first pass: so acc
// needs no zeroing upload); the caller scales by 1 / (n h sqrt(2 pi)).
// lavapipe silently caps a loop at 65535 trips per invocation, so the host
// splits the particles into passes (tests and examples use 16384),
// each dispatch adding one pass in a fixed order: deterministic.
// Push header as in saxpy.comp: grid point g = first + i sits at offset + i
// of the bound acc buffer; the particle buffer is bound whole (its first
// p_end floats are positions: drift.comp's state buffer works as it is), so
// it must fit in one chunk (parx_gpu_info.chunk_bytes), as drift's must:
// create the kernel with .whole_mask = 1.
#version 450
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) readonly buffer Particles { float xp[]; };
layout(std430, set = 0, binding = 1) buffer Acc { float acc[]; };
layout(push_constant) uniform P {
    uint first; uint offset; uint count; uint pad;
    float lo; float dx; float inv_h; uint p_begin; uint p_end; uint add;
} pc;

void main()
{
    uint i = gl_GlobalInvocationID.x;
    if (i >= pc.count)
        return;
    float xg = pc.lo + (float(pc.first + i) + 0.5) * pc.dx;
    float s = 0.0;
    for (uint p = pc.p_begin; p < pc.p_end; p++) {
        float u = (xg - xp[p]) * pc.inv_h;
        s += exp(-0.5 * u * u);
    }
    uint j = pc.offset + i;
    acc[j] = (pc.add != 0u ? acc[j] : 0.0) + s;
}
