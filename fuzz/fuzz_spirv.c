/* SPDX-License-Identifier: MIT */
/* fuzz/fuzz_spirv.c -- libFuzzer harness: parx_gpu.h's SPIR-V check
   (parx__gpu_check_spirv), which parx_gpu_kernel_create runs on the
   caller's words before any driver call. The check sits above the
   PARX_GPU_VULKAN split, so it is compiled (and fuzzed) with the dummy
   backend: no Vulkan headers, loader or device are needed.

   Input layout (fuzz/seeds.c writes the built-in kernels in it):
     [0]    nspec (value % 65): how many specialisation values follow
     [1]    the entry point asked for: 0..127 "main", else "k"
     [2..)  nspec * 4 bytes of specialisation values, then the module
   The module is copied to a buffer of exactly its size (4-byte aligned, from
   malloc), so that AddressSanitizer sees any read past it.

   Properties when the check accepts (returns 0; otherwise it must return
   PARX_E_BAD_SPIRV), re-derived from the module by the simple walks below
   (the checks documented in parx_gpu.h >>kernels and at
   parx_gpu_kernel_create):
     - a size that is a non-zero multiple of 4, the magic, a version from
       1.0 to 1.6, an id bound that is not 0, schema 0;
     - every instruction's word count non-zero and inside the module;
     - no decoration groups; the last instruction OpFunctionEnd;
     - exactly one GLCompute entry point of the asked name, naming an id
       below the bound that an OpFunction of the module defines;
     - bindings (the highest binding plus one) at most 1024.
   A slow input is a finding too: run with -timeout (fuzz/run does). */
#define _GNU_SOURCE
#define PARX_GPU_IMPLEMENTATION
#include "parx_gpu.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { OpEntryPoint = 15, OpFunction = 54, OpFunctionEnd = 56, OpDecorationGroup = 73,
       OpGroupMemberDecorate = 75, ModelGLCompute = 5 };

static void fail(const char *what)
{
    fprintf(stderr, "PROPERTY VIOLATION: %s\n", what);
    abort();
}

/* The properties above, for a module the check accepted. */
static void recheck(const uint32_t *w, size_t bytes, const char *entry)
{
    if (bytes < 20 || bytes % 4) fail("accepted a size that is no whole header and words");
    size_t n = bytes / 4;
    if (w[0] != 0x07230203u) fail("accepted a bad magic number");
    if (w[1] < 0x00010000u || w[1] > 0x00010600u || (w[1] & 0xFF0000FFu))
        fail("accepted a bad version");
    if (w[3] == 0 || w[4] != 0) fail("accepted id bound 0 or a schema");
    uint32_t last = 0;
    for (size_t i = 5; i < n;) {
        uint32_t wc = w[i] >> 16, op = w[i] & 0xFFFFu;
        if (wc == 0 || wc > n - i) fail("accepted an instruction past the end");
        if (op >= OpDecorationGroup && op <= OpGroupMemberDecorate)
            fail("accepted decoration groups");
        last = op;
        i += wc;
    }
    if (last != OpFunctionEnd) fail("accepted a module that does not end in OpFunctionEnd");
    int entries = 0;
    for (size_t i = 5; i < n; i += w[i] >> 16) {
        uint32_t wc = w[i] >> 16;
        if ((w[i] & 0xFFFFu) != OpEntryPoint || wc < 4 || w[i + 1] != ModelGLCompute) continue;
        const char *name = (const char *)&w[i + 3];
        if (!memchr(name, 0, (size_t)(wc - 3) * 4) || strcmp(name, entry) != 0) continue;
        entries++;
        uint32_t id = w[i + 2];
        if (id >= w[3]) fail("accepted an entry point whose id is not below the bound");
        bool fn = false;
        for (size_t k = 5; k < n; k += w[k] >> 16)
            if ((w[k] & 0xFFFFu) == OpFunction && (w[k] >> 16) >= 5 && w[k + 2] == id) fn = true;
        if (!fn) fail("accepted an entry point that names no OpFunction");
    }
    if (entries != 1) {
        fprintf(stderr, "%d GLCompute entry points named \"%s\"\n", entries, entry);
        fail("accepted a module without exactly one entry point of the asked name");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    uint32_t nspec = data[0] % 65, spec[64];
    const char *entry = data[1] < 128 ? "main" : "k";
    data += 2, size -= 2;
    if (size < nspec * 4) return 0;
    if (nspec) memcpy(spec, data, nspec * 4);
    data += nspec * 4, size -= nspec * 4;

    uint32_t *w = (uint32_t *)malloc(size ? size : 1);
    if (!w) abort();
    if (size) memcpy(w, data, size);
    parx__gpu_spirv_facts facts;
    int rc = parx__gpu_check_spirv(w, size, entry, nspec ? spec : NULL, nspec, &facts);
    if (rc == 0) {
        recheck(w, size, entry);
        if (facts.bindings > 1024) fail("bindings over 1024");
    } else if (rc != PARX_E_BAD_SPIRV) {
        fail("the check returned something other than 0 or PARX_E_BAD_SPIRV");
    }
    free(w);
    return 0;
}
