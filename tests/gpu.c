/* SPDX-License-Identifier: MIT */
/*
    tests/gpu.c -- parx_gpu.h on a Vulkan device chosen explicitly: Mesa's
    lavapipe (a CPU device, which automatic choice never takes) unless
    PARX_GPU_TEST_DEVICE names another kind (discrete, integrated, virtual).

    Every result is compared with the CPU path: bitwise for the integer and
    deterministic kernels (saxpy and drift use `precise`, sum adds in a fixed
    tree), within a relative 2e-5 for the KDE (the device's exp() is not the
    C library's). Each device is closed with a check that no validation
    message arrived (the CI step that sets VK_INSTANCE_LAYERS=
    VK_LAYER_KHRONOS_validation makes that check bite).

    Modes (argv[1]):
      (none)   everything; `1..0 # SKIP` when no such device or no loader
      nodev    run by meson with VK_ICD_FILENAMES pointing at nothing:
               parx_gpu_open must say -ENODEV and parx_gpu_run take the CPU path
*/
#define _GNU_SOURCE /* posix_memalign, mkstemp, fdopen, setenv */
#include "parx.h"
#include "parx_shm.h"
#include "parx_gpu.h"
#include "parx_gpu_kernels.h"
#include "parx_test.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static parx_gpu_device_kind test_kind = PARX_GPU_DEVICE_CPU;

static parx_gpu *open_dev(parx_gpu_desc d)
{
    d.device = test_kind;
    int err = 0;
    parx_gpu *g = parx_gpu_open(&d, &err);
    if (!g)
        pt_diag("parx_gpu_open: %s", parx_strerror(err));
    return g;
}

/* Validation messages reach the log hook too, including those sent while
   the device is destroyed (objects left alive): count them there. */
static atomic_int validation_logged;
static int log_all;

static void log_hook(parx_log_level level, const char *msg, void *user)
{
    (void)user;
    if (strstr(msg, "validation:")) {
        atomic_fetch_add(&validation_logged, 1);
        pt_diag("%s", msg);
    } else if (log_all) {
        pt_diag("log %d: %s", (int)level, msg);
    }
}

/* Close, after checking that no validation layer complained, before or
   during the teardown. */
static void close_dev(parx_gpu *g)
{
    parx_gpu_info in;
    if (g && parx_gpu_query(g, &in) == 0)
        CHECK_MSG(in.validation_messages == 0, "%llu validation messages (see the log above)",
                  (unsigned long long)in.validation_messages);
    int before = atomic_load(&validation_logged);
    parx_gpu_close(g);
    CHECK_MSG(atomic_load(&validation_logged) == before,
              "validation messages while closing the device (see above)");
}

static float *floats(size_t n, uint32_t seed)
{
    float *a = (float *)malloc(n * sizeof *a);
    parx_rng r = parx_rng_for(seed, 0);
    for (size_t i = 0; a && i < n; i++)
        a[i] = (float)(parx_rng_next(&r) >> 40) * (1.0f / 16777216.0f) * 4.0f - 2.0f;
    return a;
}

/* ---- CPU references ------------------------------------------------------ */

typedef struct saxpy_ctx {
    const float *x;
    float *y;
    float a;
} saxpy_ctx;

static void saxpy_cpu(void *ctx, size_t b, size_t e)
{
    saxpy_ctx *c = (saxpy_ctx *)ctx;
    for (size_t i = b; i < e; i++)
        c->y[i] = c->a * c->x[i] + c->y[i];
}

/* sum.comp's tree in C: blocks of 512, pairs, then halving strides. */
static uint32_t add_word(uint32_t a, uint32_t b, int as_float)
{
    if (!as_float)
        return a + b;
    float fa, fb, r;
    memcpy(&fa, &a, 4);
    memcpy(&fb, &b, 4);
    r = fa + fb;
    memcpy(&a, &r, 4);
    return a;
}

static uint32_t sum_ref(const uint32_t *v, size_t n, int as_float)
{
    uint32_t *cur = (uint32_t *)malloc(n * sizeof *cur);
    memcpy(cur, v, n * sizeof *cur);
    while (n > 1) {
        size_t groups = (n + 511) / 512;
        for (size_t gi = 0; gi < groups; gi++) {
            uint32_t s[256];
            for (size_t l = 0; l < 256; l++) {
                size_t i = gi * 512 + 2 * l;
                uint32_t a = i < n ? cur[i] : 0, b = i + 1 < n ? cur[i + 1] : 0;
                s[l] = add_word(a, b, as_float);
            }
            for (size_t st = 128; st > 0; st >>= 1)
                for (size_t l = 0; l < st; l++)
                    s[l] = add_word(s[l], s[l + st], as_float);
            cur[gi] = s[0];
        }
        n = groups;
    }
    uint32_t r = cur[0];
    free(cur);
    return r;
}

/* The GPU sum: passes of sum.comp until one word is left, ping-ponging
   between two scratch buffers. Returns 0 and the word in *out. */
static int sum_gpu(parx_gpu *g, parx_gpu_kernel *k, parx_gpu_buffer *in, size_t n, uint32_t *out)
{
    size_t m = (n + 511) / 512;
    int err = 0;
    parx_gpu_buffer *t[2] = {parx_gpu_buffer_create(g, m * 4, 0, &err),
                             parx_gpu_buffer_create(g, m * 4, 0, &err)};
    int rc = err;
    parx_gpu_buffer *src = in;
    for (int p = 0; rc == 0 && (p == 0 || n > 1); p++) {
        parx_gpu_buffer *bufs[2] = {src, t[p & 1]};
        parx_gpu_job job = {.n = n, .kernel = k, .bufs = bufs, .nbufs = 2, .items_per_group = 512};
        rc = parx_gpu_run(g, NULL, &job);
        src = t[p & 1];
        n = (n + 511) / 512;
    }
    if (rc == 0)
        rc = parx_gpu_download(g, src, 0, out, 4);
    parx_gpu_buffer_destroy(t[0]);
    parx_gpu_buffer_destroy(t[1]);
    return rc;
}

/* ---- tests --------------------------------------------------------------- */

/* saxpy on resident buffers, in 1 MiB chunks: bitwise equal to the C loop. */
static void test_saxpy_chunked(void)
{
    parx_gpu *g = open_dev((parx_gpu_desc){.max_chunk_bytes = 1 << 20});
    REQUIRE(g);
    parx_gpu_info in;
    CHECK_EQ(parx_gpu_query(g, &in), 0);
    CHECK_EQ(in.chunk_bytes, 1 << 20);
    CHECK(in.kind == test_kind);
    size_t n = (5u << 20) / 4 + 77; /* six chunks, the last one partial */
    float *x = floats(n, 1), *y = floats(n, 2), *r = (float *)malloc(n * 4);
    REQUIRE(x && y && r);
    int err = 0;
    parx_gpu_buffer *bx = parx_gpu_buffer_create(g, n * 4, 0, &err);
    parx_gpu_buffer *by = parx_gpu_buffer_create(g, n * 4, 0, &err);
    parx_gpu_kernel *k = parx_gpu_kernel_create(g, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy,
                                                &(parx_gpu_kernel_desc){.readonly_mask = 1}, &err);
    REQUIRE(bx && by && k);
    CHECK_EQ(parx_gpu_buffer_chunks(bx), 6);
    CHECK(parx_gpu_buffer_chunk(bx, 6) == NULL);
    CHECK_EQ(parx_gpu_kernel_local_size(k), 64);
    CHECK_EQ(parx_gpu_upload(g, bx, 0, x, n * 4), 0);
    CHECK_EQ(parx_gpu_upload(g, by, 0, y, n * 4), 0);
    /* A whole chunked buffer cannot be bound at once. */
    parx_gpu_buffer *whole[2] = {bx, by};
    CHECK_EQ(parx_gpu_dispatch(g, k, whole, 2, NULL, 0, 1, 1, 1), -E2BIG);
    float a[2] = {1.5f, -0.25f};
    for (int rep = 0; rep < 2; rep++) {
        parx_gpu_job job = {
            .n = n, .kernel = k, .bufs = whole, .nbufs = 2, .push = &a[rep], .push_size = 4};
        CHECK_EQ(parx_gpu_run(g, NULL, &job), 0);
        saxpy_ctx c = {x, y, a[rep]};
        saxpy_cpu(&c, 0, n);
    }
    CHECK_EQ(parx_gpu_download(g, by, 0, r, n * 4), 0);
    CHECK_MEMEQ(r, y, n * 4);
    /* A download across a chunk boundary, at an odd offset. */
    size_t off = (1u << 20) - 6;
    unsigned char part[16];
    CHECK_EQ(parx_gpu_download(g, by, off, part, sizeof part), 0);
    CHECK_MEMEQ(part, (unsigned char *)y + off, sizeof part);
    CHECK_EQ(parx_gpu_download(g, by, n * 4 - 2, part, 4), -EINVAL);
    parx_gpu_kernel_destroy(k);
    parx_gpu_buffer_destroy(bx);
    parx_gpu_buffer_destroy(by);
    close_dev(g);
    free(x), free(y), free(r);
}

/* The deterministic sum, as floats and as integers, several passes; the
   input whole, or in 256 KiB chunks (partial sums land by global index). */
static size_t sum_chunk;
static void test_sum_deterministic(void)
{
    parx_gpu *g = open_dev((parx_gpu_desc){.max_chunk_bytes = sum_chunk});
    REQUIRE(g);
    size_t n = 300001;
    uint32_t *v = (uint32_t *)malloc(n * 4);
    float *f = floats(n, 3);
    REQUIRE(v && f);
    int err = 0;
    parx_gpu_buffer *b = parx_gpu_buffer_create(g, n * 4, 0, &err);
    REQUIRE(b);
    if (sum_chunk)
        CHECK_EQ(parx_gpu_buffer_chunks(b), (n * 4 + sum_chunk - 1) / sum_chunk);
    for (int as_float = 0; as_float < 2; as_float++) {
        uint32_t spec = (uint32_t)as_float;
        parx_gpu_kernel *k = parx_gpu_kernel_create(
            g, parx_gpu_spv_sum, sizeof parx_gpu_spv_sum,
            &(parx_gpu_kernel_desc){.spec = &spec, .nspec = 1, .readonly_mask = 1}, &err);
        REQUIRE(k);
        if (as_float)
            memcpy(v, f, n * 4);
        else
            for (size_t i = 0; i < n; i++)
                v[i] = (uint32_t)(i * 2654435761u);
        CHECK_EQ(parx_gpu_upload(g, b, 0, v, n * 4), 0);
        uint32_t got = 0, want = sum_ref(v, n, as_float);
        CHECK_EQ(sum_gpu(g, k, b, n, &got), 0);
        CHECK_MSG(got == want, "%s sum: gpu %08x, cpu tree %08x", as_float ? "float" : "uint",
                  (unsigned)got, (unsigned)want);
        /* again: the same bits */
        uint32_t again = 0;
        CHECK_EQ(sum_gpu(g, k, b, n, &again), 0);
        CHECK_EQ_U(again, got);
        parx_gpu_kernel_destroy(k);
    }
    parx_gpu_buffer_destroy(b);
    close_dev(g);
    free(v), free(f);
}

/* KDE over more particles than one pass takes (the 65535-trip cap). */
typedef struct kde_ctx {
    const float *xp;
    float *acc;
    uint32_t p0, p1;
    float lo, dx, inv_h;
} kde_ctx;

static void kde_cpu(void *ctx, size_t b, size_t e)
{
    kde_ctx *c = (kde_ctx *)ctx;
    for (size_t gi = b; gi < e; gi++) {
        float xg = c->lo + ((float)gi + 0.5f) * c->dx, s = 0.0f;
        for (uint32_t p = c->p0; p < c->p1; p++) {
            float u = (xg - c->xp[p]) * c->inv_h;
            s += expf(-0.5f * u * u);
        }
        c->acc[gi] += s;
    }
}

static void test_kde(void)
{
    parx_gpu *g = open_dev((parx_gpu_desc){0});
    REQUIRE(g);
    size_t np = 40000, ng = 500;
    float *xp = floats(np, 4), *acc = (float *)calloc(ng, 4), *got = (float *)malloc(ng * 4);
    REQUIRE(xp && acc && got);
    int err = 0;
    parx_gpu_buffer *bp = parx_gpu_buffer_create(g, np * 4, 0, &err);
    parx_gpu_buffer *ba = parx_gpu_buffer_create(g, ng * 4, 0, &err);
    parx_gpu_kernel *k = parx_gpu_kernel_create(g, parx_gpu_spv_kde, sizeof parx_gpu_spv_kde,
                                                &(parx_gpu_kernel_desc){.readonly_mask = 1}, &err);
    REQUIRE(bp && ba && k);
    CHECK_EQ(parx_gpu_upload(g, bp, 0, xp, np * 4), 0);
    CHECK_EQ(parx_gpu_upload(g, ba, 0, acc, ng * 4), 0);
    parx_gpu_buffer *bufs[2] = {bp, ba};
    for (uint32_t p0 = 0; p0 < np; p0 += 16384) {
        uint32_t p1 = p0 + 16384 < np ? p0 + 16384 : (uint32_t)np;
        struct {
            float lo, dx, inv_h;
            uint32_t p0, p1, add;
        } push = {-3.0f, 6.0f / (float)ng, 4.0f, p0, p1, p0 != 0};
        parx_gpu_job job = {.n = ng,
                            .kernel = k,
                            .bufs = bufs,
                            .nbufs = 2,
                            .push = &push,
                            .push_size = sizeof push};
        CHECK_EQ(parx_gpu_run(g, NULL, &job), 0);
        kde_ctx c = {xp, acc, p0, p1, push.lo, push.dx, push.inv_h};
        kde_cpu(&c, 0, ng);
    }
    CHECK_EQ(parx_gpu_download(g, ba, 0, got, ng * 4), 0);
    double worst = 0;
    for (size_t i = 0; i < ng; i++) {
        double rel = fabs((double)got[i] - acc[i]) / (fabs((double)acc[i]) + 1e-3);
        if (rel > worst)
            worst = rel;
    }
    CHECK_MSG(worst <= 2e-5, "KDE: largest relative difference %g > 2e-5", worst);
    pt_diag("KDE: largest relative difference from the C loop: %.3g", worst);
    parx_gpu_kernel_destroy(k);
    parx_gpu_buffer_destroy(bp);
    parx_gpu_buffer_destroy(ba);
    close_dev(g);
    free(xp), free(acc), free(got);
}

/* Many small dispatches: one submit when the bound allows, several when
   it does not; dependent dispatches see each other's writes. */
static void test_batching(void)
{
    for (int limit = 0; limit < 2; limit++) {
        parx_gpu *g = open_dev((parx_gpu_desc){.batch_limit = limit ? 64 : 4096});
        REQUIRE(g);
        size_t n = 4096;
        float *x = floats(n, 5), *y = floats(n, 6), *r = (float *)malloc(n * 4);
        int err = 0;
        parx_gpu_buffer *bx = parx_gpu_buffer_create(g, n * 4, 0, &err);
        parx_gpu_buffer *by = parx_gpu_buffer_create(g, n * 4, 0, &err);
        parx_gpu_kernel *k =
            parx_gpu_kernel_create(g, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy, NULL, &err);
        REQUIRE(x && y && r && bx && by && k);
        CHECK_EQ(parx_gpu_upload(g, bx, 0, x, n * 4), 0);
        CHECK_EQ(parx_gpu_upload(g, by, 0, y, n * 4), 0);
        parx_gpu_info before, after;
        parx_gpu_query(g, &before);
        parx_gpu_buffer *bufs[2] = {bx, by};
        saxpy_ctx c = {x, y, 0.5f};
        for (int i = 0; i < 1000; i++) {
            c.a = (float)(i % 7) * 0.125f - 0.25f;
            parx_gpu_job job = {
                .n = n, .kernel = k, .bufs = bufs, .nbufs = 2, .push = &c.a, .push_size = 4};
            CHECK_EQ(parx_gpu_run(g, NULL, &job), 0);
            saxpy_cpu(&c, 0, n);
        }
        CHECK_EQ(parx_gpu_sync(g), 0);
        parx_gpu_query(g, &after);
        uint64_t submits = after.submits - before.submits;
        CHECK_EQ(after.dispatches - before.dispatches, 1000);
        if (limit)
            CHECK_MSG(submits >= 1000 / 64, "batch_limit 64: %llu submits",
                      (unsigned long long)submits);
        else
            CHECK_EQ(submits, 1);
        /* each dispatch reads what the one before wrote: 999 barriers */
        CHECK(after.barriers - before.barriers >= 999);
        CHECK_EQ(parx_gpu_download(g, by, 0, r, n * 4), 0);
        CHECK_MEMEQ(r, y, n * 4);
        close_dev(g); /* frees k, bx, by too */
        free(x), free(y), free(r);
    }
}

/* Independent dispatches need no barrier between them. */
static void test_no_needless_barriers(void)
{
    parx_gpu *g = open_dev((parx_gpu_desc){0});
    REQUIRE(g);
    int err = 0;
    parx_gpu_kernel *k = parx_gpu_kernel_create(g, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy,
                                                &(parx_gpu_kernel_desc){.readonly_mask = 1}, &err);
    parx_gpu_buffer *x = parx_gpu_buffer_create(g, 4096, 0, &err);
    parx_gpu_buffer *y[4];
    for (int i = 0; i < 4; i++)
        y[i] = parx_gpu_buffer_create(g, 4096, 0, &err);
    REQUIRE(k && x && y[0] && y[1] && y[2] && y[3]);
    CHECK_EQ(parx_gpu_sync(g), 0);
    parx_gpu_info a, b;
    parx_gpu_query(g, &a);
    float s = 2.0f;
    for (int i = 0; i < 4; i++) {
        parx_gpu_buffer *bufs[2] = {x, y[i]}; /* x only read: shared freely */
        parx_gpu_job job = {
            .n = 1024, .kernel = k, .bufs = bufs, .nbufs = 2, .push = &s, .push_size = 4};
        CHECK_EQ(parx_gpu_run(g, NULL, &job), 0);
    }
    parx_gpu_query(g, &b);
    CHECK_EQ(b.barriers - a.barriers, 0);
    CHECK_EQ(parx_gpu_sync(g), 0);
    close_dev(g);
}

/* submit + wait with a ticket; a zero timeout only looks. */
static void test_async(void)
{
    parx_gpu *g = open_dev((parx_gpu_desc){0});
    REQUIRE(g);
    size_t np = 32768, ng = 4096;
    float *xp = floats(np, 7), *acc = (float *)calloc(ng, 4), *got = (float *)malloc(ng * 4);
    int err = 0;
    parx_gpu_buffer *bp = parx_gpu_buffer_create(g, np * 4, 0, &err);
    parx_gpu_buffer *ba = parx_gpu_buffer_create(g, ng * 4, 0, &err);
    parx_gpu_kernel *k =
        parx_gpu_kernel_create(g, parx_gpu_spv_kde, sizeof parx_gpu_spv_kde, NULL, &err);
    REQUIRE(xp && acc && got && bp && ba && k);
    CHECK_EQ(parx_gpu_upload(g, bp, 0, xp, np * 4), 0);
    CHECK_EQ(parx_gpu_upload(g, ba, 0, acc, ng * 4), 0);
    CHECK_EQ(parx_gpu_wait(g, 1000, 0), -EINVAL); /* never handed out */
    parx_gpu_buffer *bufs[2] = {bp, ba};
    struct {
        float lo, dx, inv_h;
        uint32_t p0, p1, add;
    } push = {-2.0f, 4.0f / (float)ng, 8.0f, 0, (uint32_t)np, 1};
    parx_gpu_job job = {
        .n = ng, .kernel = k, .bufs = bufs, .nbufs = 2, .push = &push, .push_size = sizeof push};
    CHECK_EQ(parx_gpu_run(g, NULL, &job), 0);
    uint64_t t = 0;
    CHECK_EQ(parx_gpu_submit(g, &t), 0);
    CHECK(t > 0);
    /* 134 M exp() on lavapipe: still running, almost surely; either answer is right */
    int early = parx_gpu_wait(g, t, 0);
    CHECK(early == -ETIMEDOUT || early == 0);
    pt_diag("wait(ticket, 0) right after submit: %s", parx_strerror(early));
    kde_ctx c = {xp, acc, 0, (uint32_t)np, push.lo, push.dx, push.inv_h};
    kde_cpu(&c, 0, ng); /* the host works meanwhile */
    CHECK_EQ(parx_gpu_wait(g, t, 60ull * 1000000000ull), 0);
    CHECK_EQ(parx_gpu_wait(g, t, 0), 0);
    uint64_t t2 = 0;
    CHECK_EQ(parx_gpu_submit(g, &t2), 0); /* nothing recorded: the same ticket */
    CHECK_EQ_U(t2, t);
    CHECK_EQ(parx_gpu_download(g, ba, 0, got, ng * 4), 0);
    double worst = 0;
    for (size_t i = 0; i < ng; i++) {
        double rel = fabs((double)got[i] - acc[i]) / (fabs((double)acc[i]) + 1e-3);
        if (rel > worst)
            worst = rel;
    }
    CHECK_MSG(worst <= 2e-5, "async KDE: relative difference %g", worst);
    close_dev(g);
    free(xp), free(acc), free(got);
}

/* Imported host memory: zero-copy where the driver takes it, mirrored
   where it does not (forced here with no_import, and with staging), and a
   parx_shm.h arena block. The host sees the results after sync. */
static void import_case(parx_gpu_desc d, int where, const char *what)
{
    parx_gpu *g = open_dev(d);
    REQUIRE(g);
    parx_gpu_info in;
    parx_gpu_query(g, &in);
    size_t n = 300000, bytes = n * 4;
    void *xm = NULL, *ym = NULL;
    parx_arena *arena = NULL;
    float *x, *y;
    if (where == 0) { /* page-aligned malloc */
        REQUIRE(posix_memalign(&xm, 4096, bytes + 4096) == 0 &&
                posix_memalign(&ym, 4096, bytes + 4096) == 0);
        x = (float *)xm, y = (float *)ym;
    } else if (where == 1) { /* odd offsets into malloc'ed memory */
        xm = malloc(bytes + 64), ym = malloc(bytes + 64);
        REQUIRE(xm && ym);
        x = (float *)((char *)xm + 16), y = (float *)((char *)ym + 48);
    } else { /* a shared-memory arena */
        int err = 0;
        arena = parx_arena_create(&(parx_arena_desc){.size = 8u << 20}, &err);
        REQUIRE(arena);
        x = (float *)parx_arena_alloc(arena, bytes, 4096);
        y = (float *)parx_arena_alloc(arena, bytes, 4096);
        REQUIRE(x && y);
    }
    float *x0 = floats(n, 8), *y0 = floats(n, 9);
    REQUIRE(x0 && y0);
    memcpy(x, x0, bytes);
    memcpy(y, y0, bytes);
    int err = 0;
    parx_gpu_buffer *bx = parx_gpu_buffer_import(g, x, bytes, &err);
    parx_gpu_buffer *by = parx_gpu_buffer_import(g, y, bytes, &err);
    parx_gpu_kernel *k =
        parx_gpu_kernel_create(g, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy, NULL, &err);
    REQUIRE(bx && by && k);
    pt_diag("%s: host import %s here; this buffer is %s", what,
            in.host_import ? "is available" : "is off or refused",
            parx_gpu_buffer_imported(by) == 1 ? "zero-copy" : "mirrored");
    if (d.no_import)
        CHECK_EQ(parx_gpu_buffer_imported(by), 0);
    else if (in.host_import && where != 1)
        CHECK_EQ(parx_gpu_buffer_imported(by), 1);
    parx_gpu_buffer *bufs[2] = {bx, by};
    saxpy_ctx c = {x0, y0, 3.0f};
    for (int rep = 0; rep < 3; rep++) {
        parx_gpu_job job = {
            .n = n, .kernel = k, .bufs = bufs, .nbufs = 2, .push = &c.a, .push_size = 4};
        CHECK_EQ(parx_gpu_run(g, NULL, &job), 0);
        saxpy_cpu(&c, 0, n);
        if (rep == 1)
            CHECK_EQ(parx_gpu_sync(g), 0); /* two batches, then one more */
    }
    CHECK_EQ(parx_gpu_sync(g), 0);
    CHECK_MEMEQ(y, y0, bytes);
    CHECK_MEMEQ(x, x0, bytes); /* only read */
    /* upload / download on an import touch the host memory */
    float v = 42.0f, back = 0;
    CHECK_EQ(parx_gpu_upload(g, by, 8, &v, 4), 0);
    CHECK(y[2] == 42.0f);
    CHECK_EQ(parx_gpu_download(g, by, 8, &back, 4), 0);
    CHECK(back == 42.0f);
    parx_gpu_buffer_destroy(bx);
    parx_gpu_buffer_destroy(by);
    parx_gpu_kernel_destroy(k);
    close_dev(g);
    free(x0), free(y0), free(xm), free(ym);
    parx_arena_close(arena);
}

static void test_import_aligned(void)
{
    import_case((parx_gpu_desc){0}, 0, "aligned malloc");
}
static void test_import_unaligned(void)
{
    import_case((parx_gpu_desc){0}, 1, "unaligned malloc");
}
static void test_import_arena(void)
{
    import_case((parx_gpu_desc){0}, 2, "arena");
}
static void test_import_refused(void)
{
    import_case((parx_gpu_desc){.no_import = true}, 0, "no_import (mirrored)");
}
static void test_import_chunked(void)
{
    import_case((parx_gpu_desc){.max_chunk_bytes = 256 << 10}, 0, "aligned malloc, 256 KiB chunks");
}
static void test_import_refused_chunked(void)
{
    import_case((parx_gpu_desc){.max_chunk_bytes = 256 << 10, .no_import = true, .staging = true},
                2, "arena, mirrored in 256 KiB chunks through staging");
}
static void test_sum_chunked(void)
{
    sum_chunk = 256 << 10;
    test_sum_deterministic();
    sum_chunk = 0;
}
static void test_import_refused_staging(void)
{
    import_case((parx_gpu_desc){.no_import = true, .staging = true}, 1,
                "no_import + staging (mirrored through staging twins)");
}

/* Everything through staging buffers and copy commands, interleaved with
   dispatches in one batch (the copies are ordered among them). */
static void test_staging(void)
{
    parx_gpu *g = open_dev((parx_gpu_desc){.staging = true});
    REQUIRE(g);
    parx_gpu_info in;
    parx_gpu_query(g, &in);
    CHECK(!in.host_mapped);
    size_t n = 100000;
    float *x = floats(n, 10), *y = floats(n, 11), *r = (float *)malloc(n * 4);
    int err = 0;
    parx_gpu_buffer *bx = parx_gpu_buffer_create(g, n * 4, 0, &err);
    parx_gpu_buffer *by = parx_gpu_buffer_create(g, n * 4, 0, &err);
    parx_gpu_kernel *k =
        parx_gpu_kernel_create(g, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy, NULL, &err);
    REQUIRE(x && y && r && bx && by && k);
    CHECK_EQ(parx_gpu_upload(g, bx, 0, x, n * 4), 0);
    CHECK_EQ(parx_gpu_upload(g, by, 0, y, n * 4), 0);
    parx_gpu_buffer *bufs[2] = {bx, by};
    saxpy_ctx c = {x, y, 2.0f};
    parx_gpu_job job = {
        .n = n, .kernel = k, .bufs = bufs, .nbufs = 2, .push = &c.a, .push_size = 4};
    CHECK_EQ(parx_gpu_run(g, NULL, &job), 0);
    saxpy_cpu(&c, 0, n);
    /* new x in the middle of the batch: the next dispatch must see it */
    for (size_t i = 0; i < n; i++)
        x[i] = (float)i;
    CHECK_EQ(parx_gpu_upload(g, bx, 0, x, n * 4), 0);
    CHECK_EQ(parx_gpu_run(g, NULL, &job), 0);
    saxpy_cpu(&c, 0, n);
    CHECK_EQ(parx_gpu_download(g, by, 0, r, n * 4), 0);
    CHECK_MEMEQ(r, y, n * 4);
    parx_gpu_query(g, &in);
    CHECK(in.bytes_up >= 3 * n * 4 && in.bytes_down >= n * 4);
    close_dev(g);
    free(x), free(y), free(r);
}

/* The pipeline cache: saved at close, accepted at the next open, a
   foreign file ignored. */
static void test_pipeline_cache(void)
{
    char path[] = "/tmp/parx-gpu-cache-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    REQUIRE(f);
    fputs("not a pipeline cache, but long enough to have a header.....", f);
    fclose(f);
    for (int round = 0; round < 3; round++) {
        parx_gpu *g = open_dev((parx_gpu_desc){.pipeline_cache_path = path});
        REQUIRE(g);
        parx_gpu_info in;
        parx_gpu_query(g, &in);
        if (round == 0)
            CHECK(!in.pipeline_cache_loaded);
        else
            CHECK(in.pipeline_cache_loaded);
        int err = 0;
        parx_gpu_kernel *k =
            parx_gpu_kernel_create(g, parx_gpu_spv_kde, sizeof parx_gpu_spv_kde, NULL, &err);
        CHECK(k != NULL);
        if (round == 1)
            CHECK_EQ(parx_gpu_cache_save(g), 0);
        close_dev(g);
    }
    CHECK_EQ(parx_gpu_cache_save(NULL), -EINVAL);
    remove(path);
}

/* Malformed SPIR-V never reaches the driver. */
static void test_bad_spirv(void)
{
    parx_gpu *g = open_dev((parx_gpu_desc){0});
    REQUIRE(g);
    const uint32_t *good = parx_gpu_spv_saxpy;
    size_t nw = sizeof parx_gpu_spv_saxpy / 4;
    uint32_t *w = (uint32_t *)malloc((nw + 1) * 4);
    REQUIRE(w);
    int err;
#define BAD(words, bytes, desc)                                                                    \
    do {                                                                                           \
        err = 0;                                                                                   \
        CHECK(parx_gpu_kernel_create(g, (words), (bytes), (desc), &err) == NULL);                  \
        CHECK_EQ(err, PARX_E_BAD_SPIRV);                                                           \
    } while (0)
    BAD(NULL, 0, NULL);
    BAD(good, 0, NULL);
    BAD(good, 3, NULL);
    BAD(good, 16, NULL);         /* shorter than the header */
    BAD(good, nw * 4 - 2, NULL); /* not whole words */
    memcpy(w, good, nw * 4);
    w[0] = 0x03022307u; /* byte-swapped magic */
    BAD(w, nw * 4, NULL);
    memcpy(w, good, nw * 4);
    w[1] = 0x00020000u; /* version 2.0 */
    BAD(w, nw * 4, NULL);
    /* truncated: at every word count, never a crash, always refused */
    int accepted = 0;
    for (size_t cut = 5; cut < nw; cut++) {
        err = 0;
        parx_gpu_kernel *k = parx_gpu_kernel_create(g, good, cut * 4, NULL, &err);
        if (k || err != PARX_E_BAD_SPIRV)
            accepted++;
        parx_gpu_kernel_destroy(k);
    }
    CHECK_EQ(accepted, 0);
    /* an instruction whose length runs past the end */
    memcpy(w, good, nw * 4);
    w[5] = (0xFFFFu << 16) | (w[5] & 0xFFFFu);
    BAD(w, nw * 4, NULL);
    /* a zero-length instruction */
    memcpy(w, good, nw * 4);
    w[5] = w[5] & 0xFFFFu;
    BAD(w, nw * 4, NULL);
    /* no such entry point */
    BAD(good, nw * 4, (&(parx_gpu_kernel_desc){.entry = "nope"}));
    /* misaligned words */
    memcpy((char *)w + 2, good, (nw - 1) * 4);
    BAD((const uint32_t *)(const void *)((char *)w + 2), (nw - 1) * 4, NULL);
    /* random words after a valid header */
    memcpy(w, good, 20);
    parx_rng r = parx_rng_for(12, 0);
    for (size_t i = 5; i < nw; i++)
        w[i] = (uint32_t)parx_rng_next(&r);
    BAD(w, nw * 4, NULL);
#undef BAD
    /* and the good one still works */
    err = 0;
    parx_gpu_kernel *k = parx_gpu_kernel_create(g, good, nw * 4, NULL, &err);
    CHECK(k != NULL);
    CHECK(strstr(parx_strerror(PARX_E_BAD_SPIRV), "SPIR-V") != NULL);
    parx_gpu_kernel_destroy(k);
    free(w);
    close_dev(g);
}

/* Bad arguments and absurd sizes: codes, never crashes; the device works on. */
static void test_errors_and_allocation(void)
{
    parx_gpu *g = open_dev((parx_gpu_desc){0});
    REQUIRE(g);
    int err = 0;
    CHECK(parx_gpu_buffer_create(g, 0, 0, &err) == NULL);
    CHECK_EQ(err, -EINVAL);
    CHECK(parx_gpu_buffer_create(g, 16, 7, &err) == NULL);
    CHECK_EQ(err, -EINVAL);
    CHECK(parx_gpu_buffer_create(g, SIZE_MAX / 2, 0, &err) == NULL);
    CHECK_EQ(err, -ENOMEM);
    CHECK(parx_gpu_buffer_create(g, (size_t)1 << 46, 0, &err) == NULL);
    CHECK_EQ(err, -ENOMEM);
    CHECK(parx_gpu_buffer_import(g, NULL, 64, &err) == NULL);
    CHECK_EQ(err, -EINVAL);
    CHECK(parx_gpu_buffer_create(NULL, 16, 0, &err) == NULL);
    CHECK_EQ(err, -EINVAL);
    parx_gpu_buffer *b = parx_gpu_buffer_create(g, 1024, 0, &err);
    parx_gpu_kernel *k =
        parx_gpu_kernel_create(g, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy, NULL, &err);
    REQUIRE(b && k);
    char buf[64] = {0};
    CHECK_EQ(parx_gpu_upload(g, b, 1000, buf, 64), -EINVAL);
    CHECK_EQ(parx_gpu_upload(g, b, SIZE_MAX, buf, 1), -EINVAL);
    CHECK_EQ(parx_gpu_download(g, b, 0, NULL, 4), -EINVAL);
    CHECK_EQ(parx_gpu_upload(g, b, 0, buf, 0), 0);
    parx_gpu_buffer *one[1] = {b}, *two[2] = {b, b}, *nul[2] = {b, NULL};
    CHECK_EQ(parx_gpu_dispatch(g, k, one, 1, NULL, 0, 1, 1, 1), -EINVAL); /* 2 bindings */
    CHECK_EQ(parx_gpu_dispatch(g, k, nul, 2, NULL, 0, 1, 1, 1), -EINVAL);
    CHECK_EQ(parx_gpu_dispatch(g, k, two, 2, buf, 256, 1, 1, 1), -EINVAL); /* push too big */
    CHECK_EQ(parx_gpu_dispatch(g, k, two, 2, NULL, 0, UINT32_MAX, 1, 1), -EINVAL);
    CHECK_EQ(parx_gpu_dispatch(g, k, two, 2, NULL, 0, 0, 1, 1), 0); /* nothing */
    CHECK_EQ(parx_gpu_dispatch(NULL, k, two, 2, NULL, 0, 1, 1, 1), -EINVAL);
    parx_gpu_job bad = {.n = (size_t)1 << 33, .kernel = k, .bufs = two, .nbufs = 2};
    CHECK_EQ(parx_gpu_run(g, NULL, &bad), -EINVAL);
    CHECK_EQ(parx_gpu_run(g, NULL, NULL), -EINVAL);
    CHECK_EQ(parx_gpu_sync(NULL), -EINVAL);
    CHECK_EQ(parx_gpu_query(g, NULL), -EINVAL);
    /* still works */
    parx_gpu_buffer *c = parx_gpu_buffer_create(g, 4096, 0, &err);
    CHECK(c != NULL);
    CHECK_EQ(parx_gpu_sync(g), 0);
    CHECK(strstr(parx_strerror(PARX_E_DEVICE_LOST), "lost") != NULL);
    close_dev(g); /* frees b, c, k */
}

/* parx_gpu_run: the same answer from the GPU and from the pool. */
static void test_run_both_paths(void)
{
    parx_gpu *g = open_dev((parx_gpu_desc){0});
    REQUIRE(g);
    parx_pool *pool = parx_pool_create(&(parx_pool_desc){.threads = 2});
    REQUIRE(pool);
    size_t n = 123457;
    float *x = floats(n, 13), *y1 = floats(n, 14), *y2 = floats(n, 14), *r = (float *)malloc(n * 4);
    int err = 0;
    parx_gpu_buffer *bx = parx_gpu_buffer_create(g, n * 4, 0, &err);
    parx_gpu_buffer *by = parx_gpu_buffer_create(g, n * 4, 0, &err);
    parx_gpu_kernel *k =
        parx_gpu_kernel_create(g, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy, NULL, &err);
    REQUIRE(x && y1 && y2 && r && bx && by && k);
    CHECK_EQ(parx_gpu_upload(g, bx, 0, x, n * 4), 0);
    CHECK_EQ(parx_gpu_upload(g, by, 0, y1, n * 4), 0);
    parx_gpu_buffer *bufs[2] = {bx, by};
    saxpy_ctx c = {x, y2, 0.75f};
    parx_gpu_job job = {.n = n,
                        .kernel = k,
                        .bufs = bufs,
                        .nbufs = 2,
                        .push = &c.a,
                        .push_size = 4,
                        .cpu = saxpy_cpu,
                        .ctx = &c};
    CHECK_EQ(parx_gpu_run(g, pool, &job), 0);    /* GPU */
    CHECK_EQ(parx_gpu_run(NULL, pool, &job), 1); /* CPU, on the pool */
    CHECK_EQ(parx_gpu_download(g, by, 0, r, n * 4), 0);
    CHECK_MEMEQ(r, y2, n * 4);
    parx_gpu_job nocpu = {.n = 10};
    CHECK_EQ(parx_gpu_run(NULL, pool, &nocpu), -EINVAL);
    parx_pool_destroy(pool);
    close_dev(g);
    free(x), free(y1), free(y2), free(r);
}

/* parx_gpu_dispatch_latency: a median, after syncing what was recorded
   before (whose results must still arrive), the kernel it made gone again,
   and bad arguments. Its value is not checked: results, not timings. */
static void test_dispatch_latency(void)
{
    parx_gpu *g = open_dev((parx_gpu_desc){0});
    REQUIRE(g);
    int err = 0;
    size_t n = 1000;
    float *x = floats(n, 21), *y = floats(n, 22), *ref = floats(n, 22), *r = floats(n, 0);
    parx_gpu_buffer *bx = parx_gpu_buffer_create(g, n * 4, 0, &err);
    parx_gpu_buffer *by = parx_gpu_buffer_create(g, n * 4, 0, &err);
    parx_gpu_kernel *k =
        parx_gpu_kernel_create(g, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy, NULL, &err);
    REQUIRE(x && y && ref && r && bx && by && k);
    CHECK_EQ(parx_gpu_upload(g, bx, 0, x, n * 4), 0);
    CHECK_EQ(parx_gpu_upload(g, by, 0, y, n * 4), 0);
    parx_gpu_buffer *bufs[2] = {bx, by};
    saxpy_ctx c = {x, ref, 1.5f};
    parx_gpu_job job = {.n = n, .kernel = k, .bufs = bufs, .nbufs = 2, .push = &c.a,
                        .push_size = 4, .cpu = saxpy_cpu, .ctx = &c};
    CHECK_EQ(parx_gpu_run(g, NULL, &job), 0); /* recorded, not yet submitted */
    parx_gpu_info before, after;
    CHECK_EQ(parx_gpu_query(g, &before), 0);
    double ns = -1;
    CHECK_EQ(parx_gpu_dispatch_latency(g, &ns), 0);
    CHECK(ns > 0 && isfinite(ns));
    pt_diag("empty dispatch + sync: %.0f ns (median of 21)", ns);
    CHECK_EQ(parx_gpu_query(g, &after), 0);
    CHECK(after.dispatches >= before.dispatches + 22); /* 21 timed, 1 warm-up */
    CHECK(after.submits >= before.submits + 23);       /* and the saxpy's batch */
    /* the saxpy recorded before ran, and its result is there */
    saxpy_cpu(&c, 0, n);
    CHECK_EQ(parx_gpu_download(g, by, 0, r, n * 4), 0);
    CHECK_MEMEQ(r, ref, n * 4);
    /* again: the same device keeps working */
    CHECK_EQ(parx_gpu_dispatch_latency(g, &ns), 0);
    CHECK_EQ(parx_gpu_dispatch_latency(g, NULL), -EINVAL);
    CHECK_EQ(parx_gpu_dispatch_latency(NULL, &ns), -EINVAL);
    close_dev(g);
    free(x), free(y), free(ref), free(r);
}

/* Automatic choice never takes a CPU device. */
static void test_auto_never_cpu(void)
{
    int err = 0;
    unsetenv("PARX_GPU_DEVICE"); /* automatic means no override either */
    parx_gpu *g = parx_gpu_open(NULL, &err);
    if (!g) {
        CHECK_EQ(err, -ENODEV);
        pt_diag("automatic choice: no GPU here (%s), as expected on a CPU-only machine",
                parx_strerror(err));
        return;
    }
    parx_gpu_info in;
    CHECK_EQ(parx_gpu_query(g, &in), 0);
    CHECK(in.kind != PARX_GPU_DEVICE_CPU);
    pt_diag("automatic choice: %s", in.device_name);
    close_dev(g);
}

/* PARX_GPU_DEVICE picks the device when the desc leaves it to AUTO; the
   desc wins over it. */
static void test_env_choice(void)
{
    int err = 0;
    setenv("PARX_GPU_DEVICE", "cpu", 1);
    parx_gpu *g = parx_gpu_open(NULL, &err);
    parx_gpu_info in;
    CHECK(g != NULL);
    if (g) {
        CHECK_EQ(parx_gpu_query(g, &in), 0);
        CHECK(in.kind == PARX_GPU_DEVICE_CPU);
        close_dev(g);
    }
    setenv("PARX_GPU_DEVICE", "discrete", 1);
    g = parx_gpu_open(&(parx_gpu_desc){.device = test_kind}, &err); /* the desc wins */
    CHECK(g != NULL);
    close_dev(g);
    setenv("PARX_GPU_DEVICE", "999", 1); /* no such index */
    g = parx_gpu_open(NULL, &err);
    CHECK(g == NULL);
    CHECK_EQ(err, -ENODEV);
    unsetenv("PARX_GPU_DEVICE");
}

/* ---- no device ----------------------------------------------------------- */

static void test_nodev(void)
{
    int err = 0;
    parx_gpu *g = parx_gpu_open(&(parx_gpu_desc){.device = PARX_GPU_DEVICE_CPU}, &err);
    CHECK(g == NULL);
    CHECK_EQ(err, -ENODEV);
    g = parx_gpu_open(NULL, &err);
    CHECK(g == NULL);
    CHECK_EQ(err, -ENODEV);
    /* ... and the program goes on on its CPU path */
    parx_pool *pool = parx_pool_create(&(parx_pool_desc){.threads = 2});
    REQUIRE(pool);
    size_t n = 10000;
    float *x = floats(n, 15), *y = floats(n, 16), *ref = floats(n, 16);
    REQUIRE(x && y && ref);
    saxpy_ctx c = {x, y, 2.0f}, cr = {x, ref, 2.0f};
    parx_gpu_job job = {.n = n, .kernel = NULL, .cpu = saxpy_cpu, .ctx = &c};
    CHECK_EQ(parx_gpu_run(g, pool, &job), 1);
    saxpy_cpu(&cr, 0, n);
    CHECK_MEMEQ(y, ref, n * 4);
    CHECK_EQ(parx_gpu_run(g, NULL, &job), 1); /* no pool: the calling thread */
    double ns = 0;
    CHECK_EQ(parx_gpu_dispatch_latency(g, &ns), -EINVAL); /* no device to time */
    parx_pool_destroy(pool);
    free(x), free(y), free(ref);
}

int main(int argc, char **argv)
{
    log_all = getenv("PARX_GPU_TEST_LOG") != NULL;
    parx_set_log(log_hook, NULL);
    if (argc > 1 && strcmp(argv[1], "nodev") == 0) {
        pt_plan(1);
        pt_run("no Vulkan driver: -ENODEV, and parx_gpu_run takes the CPU path", test_nodev);
        return pt_done_testing();
    }
    const char *kind = getenv("PARX_GPU_TEST_DEVICE");
    if (kind && strcmp(kind, "discrete") == 0)
        test_kind = PARX_GPU_DEVICE_DISCRETE;
    if (kind && strcmp(kind, "integrated") == 0)
        test_kind = PARX_GPU_DEVICE_INTEGRATED;
    if (kind && strcmp(kind, "virtual") == 0)
        test_kind = PARX_GPU_DEVICE_VIRTUAL;
    int err = 0;
    parx_gpu *probe = parx_gpu_open(&(parx_gpu_desc){.device = test_kind}, &err);
    if (!probe) {
        char why[200];
        snprintf(why, sizeof why, "no Vulkan %s device here (%s)%s",
                 test_kind == PARX_GPU_DEVICE_CPU ? "CPU (lavapipe)" : kind, parx_strerror(err),
#ifdef PARX_GPU_VULKAN
                 ""
#else
                 ": built without PARX_GPU_VULKAN"
#endif
        );
        pt_skip_all(why);
    }
    parx_gpu_info in;
    parx_gpu_query(probe, &in);
    pt_diag("device: %s; chunk %zu bytes; host import %s", in.device_name, in.chunk_bytes,
            in.host_import ? "yes" : "no");
    parx_gpu_close(probe);

    pt_run("saxpy in chunks, resident, bitwise equal to C", test_saxpy_chunked);
    pt_run("deterministic sum (float and uint) bitwise equal to the C tree",
           test_sum_deterministic);
    pt_run("the same sum over an input in 256 KiB chunks", test_sum_chunked);
    pt_run("KDE over 40000 particles in passes, within 2e-5 of C", test_kde);
    pt_run("1000 dependent dispatches: one submit, or one per batch_limit", test_batching);
    pt_run("independent dispatches get no barrier", test_no_needless_barriers);
    pt_run("submit + wait with a ticket; bounded waits", test_async);
    pt_run("import of page-aligned host memory", test_import_aligned);
    pt_run("import of unaligned host memory", test_import_unaligned);
    pt_run("import of a parx_shm.h arena block", test_import_arena);
    pt_run("import refused: mirrored", test_import_refused);
    pt_run("import in chunks, zero-copy", test_import_chunked);
    pt_run("import refused, in chunks, through staging twins", test_import_refused_chunked);
    pt_run("import refused with staging: mirrored through copies", test_import_refused_staging);
    pt_run("staging path: uploads ordered among dispatches", test_staging);
    pt_run("pipeline cache saved, reloaded, a foreign file ignored", test_pipeline_cache);
    pt_run("invalid and truncated SPIR-V: PARX_E_BAD_SPIRV, never a crash", test_bad_spirv);
    pt_run("bad arguments and absurd sizes", test_errors_and_allocation);
    pt_run("parx_gpu_run: GPU and pool give the same bits", test_run_both_paths);
    pt_run("dispatch latency: a median, earlier work synced first", test_dispatch_latency);
    pt_run("automatic choice never takes a CPU device", test_auto_never_cpu);
    if (test_kind == PARX_GPU_DEVICE_CPU)
        pt_run("PARX_GPU_DEVICE=cpu chooses lavapipe; the desc wins over it", test_env_choice);
    return pt_done_testing();
}
