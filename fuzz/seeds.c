/* SPDX-License-Identifier: MIT */
/* fuzz/seeds.c -- write the seed inputs of a harness into a directory:

       fuzz_seeds arena|probe_json|spirv DIR

   Each file is named HARNESS-WHAT (meson's list of outputs in
   fuzz/meson.build must name the same files), in the harness's input
   layout (see its opening comment), made with parx itself rather than
   committed as blobs, so that they follow the current formats:
     arena       real arenas (parx_arena_create), fresh and in use, anonymous
                 and named, behind the harness's 8-byte prefix;
     probe_json  files parx_probe_save wrote, and two written by hand with
                 escapes, unknown keys and nesting;
     spirv       the built-in kernels of parx_gpu_kernels.h, behind the
                 harness's 2-byte prefix (one with a specialisation value). */
#define _GNU_SOURCE
#define PARX_NO_URING
#define PARX_IMPLEMENTATION
#include "parx.h"
#include "parx_shm.h"
#include "parx_gpu_kernels.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dir;

static void die(const char *what, int err)
{
    fprintf(stderr, "fuzz_seeds: %s: %s\n", what, parx_strerror(err));
    exit(1);
}

/* DIR/name: prefix (plen bytes), then n bytes of d */
static void put(const char *name, const void *prefix, size_t plen, const void *d, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) die(path, -errno);
    if (fwrite(prefix, 1, plen, f) != plen || fwrite(d, 1, n, f) != n) die(path, -EIO);
    if (fclose(f) != 0) die(path, -errno);
}

/* The arena harness's prefix: the segment's size (256 KiB, as made here),
   flags, and the first allocation's size. */
static void put_arena(const char *name, parx_arena *a, size_t bytes, uint8_t flags, uint32_t first)
{
    uint32_t sz = 256u << 10;
    uint8_t pre[8] = {(uint8_t)sz, (uint8_t)(sz >> 8), (uint8_t)(sz >> 16), (uint8_t)(sz >> 24),
                      flags, (uint8_t)first, (uint8_t)(first >> 8), (uint8_t)(first >> 16)};
    put(name, pre, sizeof pre, parx_arena_base(a), bytes);
}

static void arena_seeds(void)
{
    int err = 0;
    parx_arena *a = parx_arena_create(&(parx_arena_desc){.size = 256u << 10}, &err);
    if (!a) die("parx_arena_create", err);
    const parx__shm_header *h = (const parx__shm_header *)parx_arena_base(a);
    size_t hdr = h->data_offset;
    put_arena("arena-fresh", a, hdr, 0, 100);
    put_arena("arena-fresh-large-aligned", a, hdr, 2 | 4, 5000);
    /* free lists with holes in them, a span carved, a large block */
    void *p[10];
    for (int i = 0; i < 10; i++) p[i] = parx_arena_alloc(a, 100, 0);
    for (int i = 0; i < 10; i += 2) parx_arena_free(a, p[i]);
    if (!parx_arena_alloc(a, 20000, 0)) die("parx_arena_alloc", -ENOMEM);
    put_arena("arena-used", a, hdr, 0, 100);
    put_arena("arena-used-span", a, hdr + 16 * PARX__SHM_PAGE, 0, 100); /* the links too */
    parx_arena_close(a);

    a = parx_arena_create(&(parx_arena_desc){.size = 256u << 10, .named = true}, &err);
    if (!a) die("parx_arena_create (named)", err);
    h = (const parx__shm_header *)parx_arena_base(a);
    put_arena("arena-named", a, h->data_offset, 1, 100);
    parx_arena_close(a);
}

static void probe_seeds(void)
{
    static const char minimal[] = "{\"parx_probe\": 1}\n";
    static const char escapes[] =
        "{\"parx_probe\":1.0e0,\"cpu\\u0073\":4,\"notes\":\"\\ud83d\\ude00 \\u00e9 \\\"\\/\",\n"
        " \"gpu_name\":\"caf\xc3\xa9\",\"unknown\":[1,{\"a\":null},true,-0.5E+3,\"\"],\n"
        " \"measured\":true,\"io_uring\":0,\"measured_mask\":4294967295}";
    char path[4096];
    parx_probe p;
    parx_probe_defaults(&p);
    snprintf(path, sizeof path, "%s/probe_json-defaults.json", dir);
    int rc = parx_probe_save(&p, path);
    if (rc) die(path, rc);
    p.measured = true;
    p.measured_mask = 0x3ff;
    p.io_uring = 1;
    p.gpu_dispatch_ns = 12345.678;
    snprintf(p.gpu_name, sizeof p.gpu_name, "llvmpipe (LLVM 15.0.6, 256 bits) \xc3\xa9\t\"q\"");
    snprintf(p.notes, sizeof p.notes, "fork: not measured\nx\\y");
    snprintf(path, sizeof path, "%s/probe_json-saved.json", dir);
    if ((rc = parx_probe_save(&p, path))) die(path, rc);
    put("probe_json-minimal.json", "", 0, minimal, sizeof minimal - 1);
    put("probe_json-escapes.json", "", 0, escapes, sizeof escapes - 1);
}

static void spirv_seeds(void)
{
    /* nspec 0, entry "main"; then nspec 1, "main", spec constant 0 = 0 */
    static const uint8_t plain[2] = {0, 0}, spec[6] = {1, 0, 0, 0, 0, 0};
    put("spirv-drift", plain, 2, parx_gpu_spv_drift, sizeof parx_gpu_spv_drift);
    put("spirv-kde", plain, 2, parx_gpu_spv_kde, sizeof parx_gpu_spv_kde);
    put("spirv-saxpy", plain, 2, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy);
    put("spirv-sum", plain, 2, parx_gpu_spv_sum, sizeof parx_gpu_spv_sum);
    put("spirv-sum-spec", spec, sizeof spec, parx_gpu_spv_sum, sizeof parx_gpu_spv_sum);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fuzz_seeds arena|probe_json|spirv DIR\n");
        return 2;
    }
    dir = argv[2];
    if (strcmp(argv[1], "arena") == 0) arena_seeds();
    else if (strcmp(argv[1], "probe_json") == 0) probe_seeds();
    else if (strcmp(argv[1], "spirv") == 0) spirv_seeds();
    else {
        fprintf(stderr, "fuzz_seeds: no harness %s\n", argv[1]);
        return 2;
    }
    return 0;
}
