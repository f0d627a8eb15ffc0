/* SPDX-License-Identifier: MIT */
/* fuzz/seeds.c -- write the seed inputs of a harness into a directory:

       fuzz_seeds arena|probe_json|probe_roundtrip|spirv DIR

   Each file is named HARNESS-WHAT (meson's list of outputs in
   fuzz/meson.build must name the same files), in the harness's input
   layout (see its opening comment), made with parx itself rather than
   committed as blobs, so that they follow the current formats:
     arena       real arenas (parx_arena_create), fresh and in use, anonymous
                 and named, behind the harness's 8-byte prefix;
     probe_json  files parx_probe_save wrote, and two written by hand with
                 escapes, unknown keys and nesting;
     probe_roundtrip
                 probes (the harness's struct layout): parx_probe_defaults',
                 one as parx_probe_measure and the GPU would fill it, one
                 parx_probe_load read, and one of edges (times that are not
                 finite and positive, cpus 0, io_uring 7, strings with no
                 NUL, cut inside a character, with bytes that are no UTF-8);
     spirv       the built-in kernels of parx_gpu_kernels.h, behind the
                 harness's 2-byte prefix (one with a specialisation value). */
#define _GNU_SOURCE
#define PARX_NO_URING
#define PARX_IMPLEMENTATION
#include "parx.h"
#include "parx_shm.h"
#include "parx_gpu_kernels.h"

#include <errno.h>
#include <math.h>
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

/* The roundtrip harness's layout (fuzz_probe_roundtrip.c): the numbers as
   they are in memory, then each string as its length (the array's size
   when it has no NUL) and its bytes. */
static void put_probe(const char *name, const parx_probe *p)
{
    uint8_t b[512];
    size_t n = 0;
#define PUT(v) (memcpy(b + n, &(v), sizeof(v)), n += sizeof(v))
    PUT(p->cpus);
    const double t[] = {p->thread_start_ns, p->task_ns,         p->thread_job_ns,
                        p->fork_start_ns,   p->spawn_start_ns,  p->proc_job_ns,
                        p->proc_rt_ns,      p->arena_attach_ns, p->gpu_dispatch_ns};
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++)
        PUT(t[k]);
    PUT(p->io_uring);
    uint8_t flags = p->measured ? 1 : 0;
    PUT(flags);
    PUT(p->measured_mask);
#undef PUT
    const char *s[] = {p->io_uring_why, p->gpu_name, p->notes};
    const size_t cap[] = {sizeof p->io_uring_why, sizeof p->gpu_name, sizeof p->notes};
    for (int k = 0; k < 3; k++) {
        size_t l = strnlen(s[k], cap[k]);
        b[n++] = (uint8_t)l;
        memcpy(b + n, s[k], l);
        n += l;
    }
    put(name, "", 0, b, n);
}

static void roundtrip_seeds(void)
{
    parx_probe p;
    parx_probe_defaults(&p);
    put_probe("probe_roundtrip-defaults", &p);

    /* as parx_probe_measure and parx_gpu_dispatch_latency fill it in */
    p.thread_start_ns = 61234.5;
    p.task_ns = 87.25;
    p.thread_job_ns = 3.0000000000000004;
    p.fork_start_ns = 1.1e6;
    p.spawn_start_ns = 0;
    p.proc_job_ns = 1234.5678901234567;
    p.proc_rt_ns = 9.87654321e3;
    p.arena_attach_ns = 15e3;
    p.gpu_dispatch_ns = 12345.678;
    p.io_uring = 1;
    p.measured = true;
    p.measured_mask = 0x3ef;
    snprintf(p.io_uring_why, sizeof p.io_uring_why, "ok");
    snprintf(p.gpu_name, sizeof p.gpu_name, "llvmpipe (LLVM 15.0.6, 256 bits) \xc3\xa9\t\"q\"");
    snprintf(p.notes, sizeof p.notes, "spawn: PARX_E_SPAWN\nx\\y");
    put_probe("probe_roundtrip-measured", &p);

    /* what parx_probe_load read from a file with escapes */
    static const char text[] =
        "{\"parx_probe\":1,\"cpus\":4,\"notes\":\"\\ud83d\\ude00 \\u00e9 \\\"\\/\\u0001\",\n"
        " \"gpu_name\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\",\"measured\":true,\n"
        " \"io_uring\":0,\"io_uring_why\":\"\\t\\b\\f\\r\",\"measured_mask\":4294967295}";
    char path[4096];
    snprintf(path, sizeof path, "%s/probe_roundtrip-text.tmp", dir);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(text, 1, sizeof text - 1, f) != sizeof text - 1 || fclose(f) != 0)
        die(path, -errno);
    int rc = parx_probe_load(&p, path);
    unlink(path);
    if (rc)
        die("parx_probe_load", rc);
    put_probe("probe_roundtrip-loaded", &p);

    /* the folds save documents, and strings it must cut or mend */
    parx_probe_defaults(&p);
    p.cpus = 0;
    p.thread_start_ns = NAN;
    p.task_ns = -INFINITY;
    p.thread_job_ns = -0.0;
    p.fork_start_ns = 4.9406564584124654e-324; /* the least subnormal */
    p.spawn_start_ns = 1.7976931348623157e308; /* DBL_MAX */
    p.proc_job_ns = -5;
    p.proc_rt_ns = INFINITY;
    p.arena_attach_ns = 0.1;
    p.io_uring = 7;
    p.measured_mask = 0xffffffffu;
    snprintf(p.io_uring_why, sizeof p.io_uring_why,
             "\x01\x1f\x7f\xff\xc3\"\\ \xed\xa0\x80 \xc0\xaf \xf4\x90\x80\x80 \xe2\x82");
    memset(p.gpu_name, 'g', sizeof p.gpu_name); /* no NUL, a euro sign across the end */
    memcpy(p.gpu_name + sizeof p.gpu_name - 2, "\xe2\x82", 2);
    for (size_t i = 0; i + 1 < sizeof p.notes; i += 2) /* no NUL, 2-byte characters */
        memcpy(p.notes + i, "\xc3\xa9", 2);
    put_probe("probe_roundtrip-edges", &p);
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
        fprintf(stderr, "usage: fuzz_seeds arena|probe_json|probe_roundtrip|spirv DIR\n");
        return 2;
    }
    dir = argv[2];
    if (strcmp(argv[1], "arena") == 0) arena_seeds();
    else if (strcmp(argv[1], "probe_json") == 0) probe_seeds();
    else if (strcmp(argv[1], "probe_roundtrip") == 0) roundtrip_seeds();
    else if (strcmp(argv[1], "spirv") == 0) spirv_seeds();
    else {
        fprintf(stderr, "fuzz_seeds: no harness %s\n", argv[1]);
        return 2;
    }
    return 0;
}
