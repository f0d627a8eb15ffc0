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

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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
    errno = 0;
    CHECK(parx_gpu_buffer_chunk(bx, 6) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(parx_gpu_buffer_chunk(NULL, 0) == NULL && errno == EINVAL);
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
    parx_gpu_kernel *k =
        parx_gpu_kernel_create(g, parx_gpu_spv_kde, sizeof parx_gpu_spv_kde,
                               &(parx_gpu_kernel_desc){.readonly_mask = 1, .whole_mask = 1}, &err);
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
/* An import of more than one full chunk at an address off the page
   boundary: zero-copy wherever an import of one page at the same offset
   is. The pages around a full chunk's bytes exceed maxStorageBufferRange
   (the default chunk size), which bounds only the bytes a descriptor binds;
   parx refused them, and such imports were mirrored, every byte copied
   in and out (found in review). Only addresses are reserved: the test
   touches the two ends. */
static void test_import_unaligned_full_chunks(void)
{
    parx_gpu *g = open_dev((parx_gpu_desc){0});
    REQUIRE(g);
    parx_gpu_info in;
    CHECK_EQ(parx_gpu_query(g, &in), 0);
    size_t off = 64, bytes = in.chunk_bytes + ((size_t)1 << 20);
    unsigned char *mem = (unsigned char *)malloc(bytes + 4096 + off);
    REQUIRE(mem);
    unsigned char *host = (unsigned char *)(((uintptr_t)mem + 4095) & ~(uintptr_t)4095) + off;
    int err = 0;
    parx_gpu_buffer *small = parx_gpu_buffer_import(g, host, 4096, &err);
    REQUIRE(small);
    int control = parx_gpu_buffer_imported(small);
    parx_gpu_buffer_destroy(small);
    parx_gpu_buffer *b = parx_gpu_buffer_import(g, host, bytes, &err);
    REQUIRE(b);
    CHECK_EQ(parx_gpu_buffer_chunks(b), 2);
    pt_diag("%zu bytes at page offset %zu: %s (one page there: %s)", bytes, off,
            parx_gpu_buffer_imported(b) ? "zero-copy" : "mirrored",
            control ? "zero-copy" : "mirrored");
    if (control) CHECK_EQ(parx_gpu_buffer_imported(b), 1);
    /* either way the bytes at both ends go through */
    float v = 7.0f, back = 0;
    CHECK_EQ(parx_gpu_upload(g, b, bytes - 4, &v, 4), 0);
    CHECK_EQ(parx_gpu_download(g, b, bytes - 4, &back, 4), 0);
    CHECK(back == 7.0f);
    CHECK_EQ(parx_gpu_upload(g, b, 0, &v, 4), 0);
    CHECK_EQ(parx_gpu_sync(g), 0);
    float head, tail;
    memcpy(&head, host, 4);
    memcpy(&tail, host + bytes - 4, 4);
    CHECK(head == 7.0f && tail == 7.0f);
    parx_gpu_buffer_destroy(b);
    close_dev(g);
    free(mem);
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

/* A mirrored import that every dispatch of a batch binds read-only
   (readonly_mask) is not copied back: nothing on the device changed it.
   One that a dispatch of the batch binds writable is, also when another
   dispatch of that batch bound it read-only first. Counted in bytes_down
   (one mirrored import of 1 chunk: its size per copy-out), mapped and
   through staging. */
static void readonly_mirror_case(parx_gpu_desc d, const char *what)
{
    parx_gpu *g = open_dev(d);
    REQUIRE(g);
    size_t n = 100000, bytes = n * 4;
    float *x = floats(n, 12), *y = floats(n, 13), *y0 = floats(n, 13);
    REQUIRE(x && y && y0);
    int err = 0;
    parx_gpu_buffer *bx = parx_gpu_buffer_import(g, x, bytes, &err);
    parx_gpu_buffer *by = parx_gpu_buffer_import(g, y, bytes, &err);
    parx_gpu_kernel *ro = parx_gpu_kernel_create(g, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy,
                                                 &(parx_gpu_kernel_desc){.readonly_mask = 1}, &err);
    parx_gpu_kernel *rw =
        parx_gpu_kernel_create(g, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy, NULL, &err);
    REQUIRE(bx && by && ro && rw);
    CHECK_EQ(parx_gpu_buffer_imported(bx), 0);
    CHECK_EQ(parx_gpu_buffer_chunks(bx), 1);
    struct {
        uint32_t first, offset, count, pad;
        float a;
    } push = {0, 0, (uint32_t)n, 0, 2.0f};
    parx_gpu_buffer *bufs[2] = {bx, by};
    uint32_t groups = (uint32_t)((n + 63) / 64);
    saxpy_ctx c = {x, y0, 2.0f};
    parx_gpu_info before, after;
    /* read-only: y back, x not */
    CHECK_EQ(parx_gpu_query(g, &before), 0);
    CHECK_EQ(parx_gpu_dispatch(g, ro, bufs, 2, &push, sizeof push, groups, 1, 1), 0);
    CHECK_EQ(parx_gpu_sync(g), 0);
    saxpy_cpu(&c, 0, n);
    CHECK_EQ(parx_gpu_query(g, &after), 0);
    CHECK_MSG(after.bytes_down - before.bytes_down == bytes,
              "%s, x read-only: %llu bytes copied back, want %zu (y only)", what,
              (unsigned long long)(after.bytes_down - before.bytes_down), bytes);
    CHECK_MEMEQ(y, y0, bytes);
    /* read-only, then writable in the same batch: both back */
    before = after;
    CHECK_EQ(parx_gpu_dispatch(g, ro, bufs, 2, &push, sizeof push, groups, 1, 1), 0);
    saxpy_cpu(&c, 0, n);
    CHECK_EQ(parx_gpu_dispatch(g, rw, bufs, 2, &push, sizeof push, groups, 1, 1), 0);
    saxpy_cpu(&c, 0, n);
    CHECK_EQ(parx_gpu_sync(g), 0);
    CHECK_EQ(parx_gpu_query(g, &after), 0);
    CHECK_MSG(after.bytes_down - before.bytes_down == 2 * bytes,
              "%s, x read-only then writable: %llu bytes copied back, want %zu", what,
              (unsigned long long)(after.bytes_down - before.bytes_down), 2 * bytes);
    CHECK_MEMEQ(y, y0, bytes);
    /* the next batch starts afresh: read-only again, x not back */
    before = after;
    CHECK_EQ(parx_gpu_dispatch(g, ro, bufs, 2, &push, sizeof push, groups, 1, 1), 0);
    saxpy_cpu(&c, 0, n);
    CHECK_EQ(parx_gpu_sync(g), 0);
    CHECK_EQ(parx_gpu_query(g, &after), 0);
    CHECK_EQ(after.bytes_down - before.bytes_down, bytes);
    CHECK_MEMEQ(y, y0, bytes);
    parx_gpu_kernel_destroy(ro);
    parx_gpu_kernel_destroy(rw);
    parx_gpu_buffer_destroy(bx);
    parx_gpu_buffer_destroy(by);
    close_dev(g);
    free(x), free(y), free(y0);
}

static void test_import_readonly_not_copied_back(void)
{
    readonly_mirror_case((parx_gpu_desc){.no_import = true}, "mapped");
    readonly_mirror_case((parx_gpu_desc){.no_import = true, .staging = true}, "staging");
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
    /* 64 TiB (SIZE_MAX on a 32-bit target) */
    const size_t huge = (size_t)(SIZE_MAX > UINT32_MAX ? (uint64_t)1 << 46 : SIZE_MAX);
    CHECK(parx_gpu_buffer_create(g, huge, 0, &err) == NULL);
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
    /* short of saxpy's push block: the kernel would read bytes never pushed
       (it read garbage counts and crashed lavapipe) */
    CHECK_EQ(parx_gpu_dispatch(g, k, two, 2, NULL, 0, 1, 1, 1), -EINVAL);
    CHECK_EQ(parx_gpu_dispatch(g, k, two, 2, buf, 4, 1, 1, 1), -EINVAL);
    CHECK_EQ(parx_gpu_dispatch(NULL, k, two, 2, NULL, 0, 1, 1, 1), -EINVAL);
    parx_gpu_job bad = {.n = (size_t)(SIZE_MAX > UINT32_MAX ? (uint64_t)1 << 33 : SIZE_MAX),
                        .kernel = k, .bufs = two, .nbufs = 2};
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
    /* not a device kind: a bug in the caller, not the lack of a device */
    CHECK(parx_gpu_open(&(parx_gpu_desc){.device = (parx_gpu_device_kind)42}, &err) == NULL);
    CHECK_EQ(err, -EINVAL);
    unsetenv("PARX_GPU_DEVICE");
}

/* ---- defects found by review: regression tests ---------------------------- */

/* dst[i] = src[i] + 1 for i < n (binding 0 dst, binding 1 src, read only;
   push constant n), compiled for SPIR-V 1.3, where storage buffers are
   variables of class StorageBuffer:
       #version 450
       layout(local_size_x = 64) in;
       layout(std430, set = 0, binding = 0) buffer Dst { uint dst[]; };
       layout(std430, set = 0, binding = 1) readonly buffer Src { uint src[]; };
       layout(push_constant) uniform P { uint n; } p;
       void main() { uint i = gl_GlobalInvocationID.x; if (i < p.n) dst[i] = src[i] + 1u; }
   glslc --target-env=vulkan1.1 --target-spv=spv1.3 -O (shaderc 2023.2),
   checked with spirv-val. */
static const uint32_t spv_addone[] = {
    0x07230203, 0x00010300, 0x000d000b, 0x0000002f, 0x00000000, 0x00020011, 0x00000001,
    0x0006000b, 0x00000001, 0x4c534c47, 0x6474732e, 0x3035342e, 0x00000000, 0x0003000e,
    0x00000000, 0x00000001, 0x0006000f, 0x00000005, 0x00000004, 0x6e69616d, 0x00000000,
    0x0000000b, 0x00060010, 0x00000004, 0x00000011, 0x00000040, 0x00000001, 0x00000001,
    0x00040047, 0x0000000b, 0x0000000b, 0x0000001c, 0x00050048, 0x00000011, 0x00000000,
    0x00000023, 0x00000000, 0x00030047, 0x00000011, 0x00000002, 0x00040047, 0x0000001d,
    0x00000006, 0x00000004, 0x00050048, 0x0000001e, 0x00000000, 0x00000023, 0x00000000,
    0x00030047, 0x0000001e, 0x00000002, 0x00040047, 0x00000020, 0x00000022, 0x00000000,
    0x00040047, 0x00000020, 0x00000021, 0x00000000, 0x00040047, 0x00000022, 0x00000006,
    0x00000004, 0x00040048, 0x00000023, 0x00000000, 0x00000018, 0x00050048, 0x00000023,
    0x00000000, 0x00000023, 0x00000000, 0x00030047, 0x00000023, 0x00000002, 0x00040047,
    0x00000025, 0x00000022, 0x00000000, 0x00040047, 0x00000025, 0x00000021, 0x00000001,
    0x00040047, 0x0000002e, 0x0000000b, 0x00000019, 0x00020013, 0x00000002, 0x00030021,
    0x00000003, 0x00000002, 0x00040015, 0x00000006, 0x00000020, 0x00000000, 0x00040017,
    0x00000009, 0x00000006, 0x00000003, 0x00040020, 0x0000000a, 0x00000001, 0x00000009,
    0x0004003b, 0x0000000a, 0x0000000b, 0x00000001, 0x0004002b, 0x00000006, 0x0000000c,
    0x00000000, 0x00040020, 0x0000000d, 0x00000001, 0x00000006, 0x0003001e, 0x00000011,
    0x00000006, 0x00040020, 0x00000012, 0x00000009, 0x00000011, 0x0004003b, 0x00000012,
    0x00000013, 0x00000009, 0x00040015, 0x00000014, 0x00000020, 0x00000001, 0x0004002b,
    0x00000014, 0x00000015, 0x00000000, 0x00040020, 0x00000016, 0x00000009, 0x00000006,
    0x00020014, 0x00000019, 0x0003001d, 0x0000001d, 0x00000006, 0x0003001e, 0x0000001e,
    0x0000001d, 0x00040020, 0x0000001f, 0x0000000c, 0x0000001e, 0x0004003b, 0x0000001f,
    0x00000020, 0x0000000c, 0x0003001d, 0x00000022, 0x00000006, 0x0003001e, 0x00000023,
    0x00000022, 0x00040020, 0x00000024, 0x0000000c, 0x00000023, 0x0004003b, 0x00000024,
    0x00000025, 0x0000000c, 0x00040020, 0x00000027, 0x0000000c, 0x00000006, 0x0004002b,
    0x00000006, 0x0000002a, 0x00000001, 0x0004002b, 0x00000006, 0x0000002d, 0x00000040,
    0x0006002c, 0x00000009, 0x0000002e, 0x0000002d, 0x0000002a, 0x0000002a, 0x00050036,
    0x00000002, 0x00000004, 0x00000000, 0x00000003, 0x000200f8, 0x00000005, 0x00050041,
    0x0000000d, 0x0000000e, 0x0000000b, 0x0000000c, 0x0004003d, 0x00000006, 0x0000000f,
    0x0000000e, 0x00050041, 0x00000016, 0x00000017, 0x00000013, 0x00000015, 0x0004003d,
    0x00000006, 0x00000018, 0x00000017, 0x000500b0, 0x00000019, 0x0000001a, 0x0000000f,
    0x00000018, 0x000300f7, 0x0000001c, 0x00000000, 0x000400fa, 0x0000001a, 0x0000001b,
    0x0000001c, 0x000200f8, 0x0000001b, 0x00060041, 0x00000027, 0x00000028, 0x00000025,
    0x00000015, 0x0000000f, 0x0004003d, 0x00000006, 0x00000029, 0x00000028, 0x00050080,
    0x00000006, 0x0000002b, 0x00000029, 0x0000002a, 0x00060041, 0x00000027, 0x0000002c,
    0x00000020, 0x00000015, 0x0000000f, 0x0003003e, 0x0000002c, 0x0000002b, 0x000200f9,
    0x0000001c, 0x000200f8, 0x0000001c, 0x000100fd, 0x00010038};

/* 16 bindings, of which the shader uses the first and the last (SPIR-V 1.0):
       #version 450
       layout(local_size_x = 1) in;
       layout(std430, set = 0, binding = 0) readonly buffer A { uint a[]; };
       layout(std430, set = 0, binding = 15) buffer B { uint b[]; };
       void main() { b[0] = a[0] + 1u; }
   glslc --target-env=vulkan1.0 -O, checked with spirv-val. */
static const uint32_t spv_bind16[] = {
    0x07230203, 0x00010000, 0x000d000b, 0x00000019, 0x00000000, 0x00020011, 0x00000001,
    0x0006000b, 0x00000001, 0x4c534c47, 0x6474732e, 0x3035342e, 0x00000000, 0x0003000e,
    0x00000000, 0x00000001, 0x0005000f, 0x00000005, 0x00000004, 0x6e69616d, 0x00000000,
    0x00060010, 0x00000004, 0x00000011, 0x00000001, 0x00000001, 0x00000001, 0x00040047,
    0x00000007, 0x00000006, 0x00000004, 0x00050048, 0x00000008, 0x00000000, 0x00000023,
    0x00000000, 0x00030047, 0x00000008, 0x00000003, 0x00040047, 0x0000000a, 0x00000022,
    0x00000000, 0x00040047, 0x0000000a, 0x00000021, 0x0000000f, 0x00040047, 0x0000000d,
    0x00000006, 0x00000004, 0x00040048, 0x0000000e, 0x00000000, 0x00000018, 0x00050048,
    0x0000000e, 0x00000000, 0x00000023, 0x00000000, 0x00030047, 0x0000000e, 0x00000003,
    0x00040047, 0x00000010, 0x00000022, 0x00000000, 0x00040047, 0x00000010, 0x00000021,
    0x00000000, 0x00040047, 0x00000018, 0x0000000b, 0x00000019, 0x00020013, 0x00000002,
    0x00030021, 0x00000003, 0x00000002, 0x00040015, 0x00000006, 0x00000020, 0x00000000,
    0x0003001d, 0x00000007, 0x00000006, 0x0003001e, 0x00000008, 0x00000007, 0x00040020,
    0x00000009, 0x00000002, 0x00000008, 0x0004003b, 0x00000009, 0x0000000a, 0x00000002,
    0x00040015, 0x0000000b, 0x00000020, 0x00000001, 0x0004002b, 0x0000000b, 0x0000000c,
    0x00000000, 0x0003001d, 0x0000000d, 0x00000006, 0x0003001e, 0x0000000e, 0x0000000d,
    0x00040020, 0x0000000f, 0x00000002, 0x0000000e, 0x0004003b, 0x0000000f, 0x00000010,
    0x00000002, 0x00040020, 0x00000011, 0x00000002, 0x00000006, 0x0004002b, 0x00000006,
    0x00000014, 0x00000001, 0x00040017, 0x00000017, 0x00000006, 0x00000003, 0x0006002c,
    0x00000017, 0x00000018, 0x00000014, 0x00000014, 0x00000014, 0x00050036, 0x00000002,
    0x00000004, 0x00000000, 0x00000003, 0x000200f8, 0x00000005, 0x00060041, 0x00000011,
    0x00000012, 0x00000010, 0x0000000c, 0x0000000c, 0x0004003d, 0x00000006, 0x00000013,
    0x00000012, 0x00050080, 0x00000006, 0x00000015, 0x00000013, 0x00000014, 0x00060041,
    0x00000011, 0x00000016, 0x0000000a, 0x0000000c, 0x0000000c, 0x0003003e, 0x00000016,
    0x00000015, 0x000100fd, 0x00010038};

/* A device with the validation layer's synchronization validation on, when
   the layer is installed (the layer reads VK_LAYER_ENABLES when the
   instance is created): a missing or too narrow barrier is then a
   validation message, which close_dev counts. Without the layer the tests
   still check their results and barrier counts. Under AddressSanitizer the
   layer is only used when the environment loads it (VK_INSTANCE_LAYERS, as
   CI's gpu-validation step does): it leaks at vkDestroyInstance, and once
   the loader has unloaded it LeakSanitizer cannot tell its leaks from
   parx's (tests/lsan.supp names it, but cannot match the frames of a
   library no longer loaded). */
#if defined(__SANITIZE_ADDRESS__)
#define GPU_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GPU_TEST_ASAN 1
#endif
#endif
static parx_gpu *open_dev_syncval(parx_gpu_desc d)
{
    setenv("VK_LAYER_ENABLES", "VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT", 1);
#ifndef GPU_TEST_ASAN
    d.validation = true;
#endif
    parx_gpu *g = open_dev(d);
    unsetenv("VK_LAYER_ENABLES");
    return g;
}

static uint64_t barriers_of(parx_gpu *g)
{
    parx_gpu_info in;
    return parx_gpu_query(g, &in) == 0 ? in.barriers : 0;
}

/* One dispatch, one barrier at most, and none of its own accesses on the
   wrong side of it: X = W + 1, then Y = X + 1 (a barrier: it reads X), then
   Z = Y + 1 (another: it reads the Y the dispatch before wrote). Before the
   fix the barrier in front of the second dispatch was recorded after its
   write of Y had been noted, so the third got none. A dispatch binding one
   buffer twice needs no barrier for it. */
static void test_barrier_per_dispatch(void)
{
    parx_gpu *g = open_dev_syncval((parx_gpu_desc){0});
    REQUIRE(g);
    int err = 0;
    parx_gpu_kernel *k = parx_gpu_kernel_create(g, spv_addone, sizeof spv_addone,
                                                &(parx_gpu_kernel_desc){.readonly_mask = 2}, &err);
    REQUIRE(k);
    CHECK_EQ(parx_gpu_kernel_local_size(k), 64);
    enum { N = 1 << 14 };
    parx_gpu_buffer *w = parx_gpu_buffer_create(g, N * 4, 0, &err);
    parx_gpu_buffer *x = parx_gpu_buffer_create(g, N * 4, 0, &err);
    parx_gpu_buffer *y = parx_gpu_buffer_create(g, N * 4, 0, &err);
    parx_gpu_buffer *z = parx_gpu_buffer_create(g, N * 4, 0, &err);
    uint32_t *h = (uint32_t *)calloc(N, 4);
    REQUIRE(w && x && y && z && h);
    for (uint32_t i = 0; i < N; i++)
        h[i] = i;
    CHECK_EQ(parx_gpu_upload(g, w, 0, h, N * 4), 0);
    CHECK_EQ(parx_gpu_sync(g), 0);
    uint32_t n = N;
    parx_gpu_buffer *b1[2] = {x, w}, *b2[2] = {y, x}, *b3[2] = {z, y};
    uint64_t before = barriers_of(g);
    CHECK_EQ(parx_gpu_dispatch(g, k, b1, 2, &n, 4, N / 64, 1, 1), 0);
    uint64_t first = barriers_of(g); /* the batch's opening barrier, if any */
    CHECK(first - before <= 1);
    CHECK_EQ(parx_gpu_dispatch(g, k, b2, 2, &n, 4, N / 64, 1, 1), 0);
    CHECK_EQ(parx_gpu_dispatch(g, k, b3, 2, &n, 4, N / 64, 1, 1), 0);
    CHECK_EQ(barriers_of(g) - first, 2);
    CHECK_EQ(parx_gpu_sync(g), 0);
    CHECK_EQ(parx_gpu_download(g, z, 0, h, N * 4), 0);
    size_t bad = 0;
    for (uint32_t i = 0; i < N; i++)
        bad += h[i] != i + 3;
    CHECK_EQ(bad, 0);
    /* a buffer bound twice (dst and src, Y += 1): no barrier of its own */
    parx_gpu_buffer *same[2] = {y, y};
    CHECK_EQ(parx_gpu_dispatch(g, k, b1, 2, &n, 4, N / 64, 1, 1), 0); /* opens a batch */
    first = barriers_of(g);
    CHECK_EQ(parx_gpu_dispatch(g, k, same, 2, &n, 4, N / 64, 1, 1), 0);
    CHECK_EQ(barriers_of(g) - first, 0);
    CHECK_EQ(parx_gpu_sync(g), 0);
    CHECK_EQ(parx_gpu_download(g, y, 0, h, N * 4), 0);
    bad = 0;
    for (uint32_t i = 0; i < N; i++)
        bad += h[i] != i + 3;
    CHECK_EQ(bad, 0);
    free(h);
    close_dev(g);
}

/* Write after read: an upload (staging + copy, in the batch) into a buffer
   that a dispatch of the same batch reads must wait for that read; the
   barrier's source stages must include the compute stage that read, which
   only synchronization validation sees (before the fix: the transfer stage
   alone). And read after write across stages: a download (copy) of what a
   dispatch wrote, after a barrier that another dispatch needed. */
static void test_barrier_stages(void)
{
    parx_gpu *g = open_dev_syncval((parx_gpu_desc){.staging = true});
    REQUIRE(g);
    int err = 0;
    parx_gpu_kernel *k = parx_gpu_kernel_create(g, spv_addone, sizeof spv_addone,
                                                &(parx_gpu_kernel_desc){.readonly_mask = 2}, &err);
    REQUIRE(k);
    enum { N = 1 << 14 };
    parx_gpu_buffer *w = parx_gpu_buffer_create(g, N * 4, 0, &err);
    parx_gpu_buffer *x = parx_gpu_buffer_create(g, N * 4, 0, &err);
    parx_gpu_buffer *y = parx_gpu_buffer_create(g, N * 4, 0, &err);
    uint32_t *h = (uint32_t *)calloc(N, 4), *got = (uint32_t *)calloc(N, 4);
    REQUIRE(w && x && y && h && got);
    CHECK_EQ(parx_gpu_upload(g, w, 0, h, N * 4), 0); /* zeros */
    uint32_t n = N;
    parx_gpu_buffer *b1[2] = {x, w}, *b2[2] = {y, x};
    CHECK_EQ(parx_gpu_dispatch(g, k, b1, 2, &n, 4, N / 64, 1, 1), 0); /* X = 1 */
    CHECK_EQ(parx_gpu_dispatch(g, k, b2, 2, &n, 4, N / 64, 1, 1), 0); /* Y = 2 */
    for (uint32_t i = 0; i < N; i++)
        h[i] = 100;
    CHECK_EQ(parx_gpu_upload(g, x, 0, h, N * 4), 0); /* after Y = X + 1 read X */
    CHECK_EQ(parx_gpu_download(g, y, 0, got, N * 4), 0);
    size_t bad = 0;
    for (uint32_t i = 0; i < N; i++)
        bad += got[i] != 2;
    CHECK_EQ(bad, 0);
    CHECK_EQ(parx_gpu_download(g, x, 0, got, N * 4), 0);
    CHECK_MEMEQ(got, h, N * 4);
    /* X = W + 1, Y = X + 1 (a barrier for the compute read), then a copy of
       X in the same batch: ordered after the write of X too. */
    CHECK_EQ(parx_gpu_dispatch(g, k, b1, 2, &n, 4, N / 64, 1, 1), 0);
    CHECK_EQ(parx_gpu_dispatch(g, k, b2, 2, &n, 4, N / 64, 1, 1), 0);
    CHECK_EQ(parx_gpu_download(g, x, 0, got, N * 4), 0);
    bad = 0;
    for (uint32_t i = 0; i < N; i++)
        bad += got[i] != 1;
    CHECK_EQ(bad, 0);
    free(h), free(got);
    close_dev(g);
}

/* 16 bindings (PARX_GPU_MAX_BINDINGS) with batch_limit 1: each slot's
   descriptor pool must hold a whole set of 16. Only a driver that enforces
   descriptor pool sizes can catch a pool too small (it fails the dispatch
   with -ENOMEM): lavapipe does not, and neither does the validation layer
   on Vulkan 1.1, so on lavapipe (the default device of these tests) this
   test cannot fail for that reason; it checks the results of 16-binding
   dispatches there, and the pool size on a real GPU
   (PARX_GPU_TEST_DEVICE=discrete, integrated or virtual). */
static void test_sixteen_bindings(void)
{
    parx_gpu *g = open_dev((parx_gpu_desc){.batch_limit = 1});
    REQUIRE(g);
    int err = 0;
    parx_gpu_kernel *k =
        parx_gpu_kernel_create(g, spv_bind16, sizeof spv_bind16,
                               &(parx_gpu_kernel_desc){.readonly_mask = 1}, &err);
    REQUIRE(k);
    parx_gpu_buffer *b[16];
    for (int i = 0; i < 16; i++) {
        b[i] = parx_gpu_buffer_create(g, 64, 0, &err);
        REQUIRE(b[i]);
    }
    for (uint32_t rep = 0; rep < 8; rep++) {
        uint32_t v = 10 * rep, out = 0;
        parx_gpu_buffer *t = b[0];
        b[0] = b[1 + rep], b[1 + rep] = t; /* a new set each time */
        CHECK_EQ(parx_gpu_upload(g, b[0], 0, &v, 4), 0);
        CHECK_EQ(parx_gpu_dispatch(g, k, b, 16, NULL, 0, 1, 1, 1), 0);
        CHECK_EQ(parx_gpu_download(g, b[15], 0, &out, 4), 0);
        CHECK_EQ_U(out, v + 1);
    }
    close_dev(g);
}

/* The index of the first instruction with opcode `op` whose word `at` is
   `v` (0: none). */
static size_t spv_find(const uint32_t *w, size_t nw, uint32_t op, size_t at, uint32_t v)
{
    for (size_t i = 5; i < nw && (w[i] >> 16); i += w[i] >> 16)
        if ((w[i] & 0xFFFFu) == op && (w[i] >> 16) > at && w[i + at] == v)
            return i;
    return 0;
}

/* Descriptors parx does not bind are refused before the driver sees them:
   a uniform buffer, another set, a variable that is no block; and
   desc.buffers fewer than the module's bindings. Before the fix all of
   them made a kernel whose layout did not match its shader. */
static void test_kernel_descriptors(void)
{
    parx_gpu *g = open_dev((parx_gpu_desc){0});
    REQUIRE(g);
    int err = 0;
    size_t nw = sizeof parx_gpu_spv_saxpy / 4;
    uint32_t *w = (uint32_t *)malloc(nw * 4);
    REQUIRE(w);
    /* saxpy: 2 bindings; 1 is too few, 3 is fine (one unused) */
    CHECK(parx_gpu_kernel_create(g, parx_gpu_spv_saxpy, nw * 4,
                                 &(parx_gpu_kernel_desc){.buffers = 1}, &err) == NULL);
    CHECK_EQ(err, -EINVAL);
    parx_gpu_kernel *k = parx_gpu_kernel_create(g, parx_gpu_spv_saxpy, nw * 4,
                                                &(parx_gpu_kernel_desc){.buffers = 3}, &err);
    CHECK(k != NULL);
    parx_gpu_kernel_destroy(k);
    /* OpDecorate %struct BufferBlock -> Block: a uniform buffer */
    memcpy(w, parx_gpu_spv_saxpy, nw * 4);
    size_t at = spv_find(w, nw, 71, 2, 3);
    REQUIRE(at != 0);
    w[at + 2] = 2;
    err = 0;
    CHECK(parx_gpu_kernel_create(g, w, nw * 4, NULL, &err) == NULL);
    CHECK_EQ(err, PARX_E_BAD_SPIRV);
    /* OpDecorate %var DescriptorSet 0 -> 1 */
    memcpy(w, parx_gpu_spv_saxpy, nw * 4);
    at = spv_find(w, nw, 71, 2, 34);
    REQUIRE(at != 0);
    w[at + 3] = 1;
    err = 0;
    CHECK(parx_gpu_kernel_create(g, w, nw * 4, NULL, &err) == NULL);
    CHECK_EQ(err, PARX_E_BAD_SPIRV);
    /* the binding's variable points to no struct (here: to its own pointer
       type's id, a stand-in for an image or a sampler) */
    memcpy(w, parx_gpu_spv_saxpy, nw * 4);
    at = spv_find(w, nw, 71, 2, 33); /* OpDecorate %var Binding n */
    REQUIRE(at != 0);
    size_t var = spv_find(w, nw, 59, 2, w[at + 1]);
    REQUIRE(var != 0);
    size_t ptr = spv_find(w, nw, 32, 1, w[var + 1]);
    REQUIRE(ptr != 0);
    w[ptr + 3] = w[ptr + 1];
    err = 0;
    CHECK(parx_gpu_kernel_create(g, w, nw * 4, NULL, &err) == NULL);
    CHECK_EQ(err, PARX_E_BAD_SPIRV);
    /* an id bound no module of its size can use (lavapipe allocated 40
       bytes per id and crashed on 2^32 - 1); twice the real one is fine */
    memcpy(w, parx_gpu_spv_saxpy, nw * 4);
    w[3] = UINT32_MAX;
    err = 0;
    CHECK(parx_gpu_kernel_create(g, w, nw * 4, NULL, &err) == NULL);
    CHECK_EQ(err, PARX_E_BAD_SPIRV);
    w[3] = 2 * parx_gpu_spv_saxpy[3];
    err = 0;
    parx_gpu_kernel *k2 = parx_gpu_kernel_create(g, w, nw * 4, NULL, &err);
    CHECK_MSG(k2 != NULL, "bound x2: %d (%s)", err, parx_strerror(err));
    parx_gpu_kernel_destroy(k2);
    free(w);
    close_dev(g);
}

/* parx_gpu_run checks the whole job before recording any of it: bufs NULL,
   a push size whose sum with the header wraps, item_bytes that does not
   divide the chunk size, a chunked buffer too short for n items. Each is
   -EINVAL with no dispatch recorded. (Before the fix: a NULL dereference,
   a huge memcpy, wrong results, a partial job left in the batch.) */
static void test_run_checks(void)
{
    parx_gpu *g = open_dev((parx_gpu_desc){.max_chunk_bytes = 64 << 10});
    REQUIRE(g);
    int err = 0;
    parx_gpu_kernel *k = parx_gpu_kernel_create(g, spv_addone, sizeof spv_addone,
                                                &(parx_gpu_kernel_desc){.readonly_mask = 2}, &err);
    REQUIRE(k);
    size_t n = 3 * (64 << 10) / 4; /* three whole chunks of 4-byte items */
    parx_gpu_buffer *a = parx_gpu_buffer_create(g, n * 12, 0, &err);
    parx_gpu_buffer *c = parx_gpu_buffer_create(g, n * 4, 0, &err);
    parx_gpu_buffer *s2 = parx_gpu_buffer_create(g, 2 * (64 << 10), 0, &err); /* a chunk short */
    parx_gpu_buffer *s1 = parx_gpu_buffer_create(g, n * 4 - 4, 0, &err);     /* an item short */
    REQUIRE(a && c && s1 && s2);
    CHECK_EQ(parx_gpu_buffer_chunks(s1), 3);
    parx_gpu_info before, after;
    CHECK_EQ(parx_gpu_query(g, &before), 0);
    parx_gpu_job job = {.n = 64, .kernel = k, .bufs = NULL, .nbufs = 2};
    CHECK_EQ(parx_gpu_run(g, NULL, &job), -EINVAL);
    parx_gpu_buffer *ac[2] = {a, c}, *cs2[2] = {c, s2}, *cs1[2] = {c, s1};
    uint32_t p = 0;
    job = (parx_gpu_job){.n = 64, .kernel = k, .bufs = ac, .nbufs = 2, .push = &p,
                         .push_size = SIZE_MAX - 15};
    CHECK_EQ(parx_gpu_run(g, NULL, &job), -EINVAL);
    job.push_size = 4096;
    CHECK_EQ(parx_gpu_run(g, NULL, &job), -EINVAL);
    /* 12-byte items: 65536 / 12 is no whole number. 5000 items fit in the
       first chunk of each buffer (12 * 5000 <= 65536), so that no other
       check refuses the job, only this one. */
    job = (parx_gpu_job){
        .n = 5000, .kernel = k, .bufs = ac, .nbufs = 2, .items_per_group = 1, .item_bytes = 12};
    CHECK_EQ(parx_gpu_run(g, NULL, &job), -EINVAL);
    /* s2 has no third chunk: nothing of the job recorded (before the fix the
       first two chunks' dispatches were) */
    job = (parx_gpu_job){.n = n, .kernel = k, .bufs = cs2, .nbufs = 2};
    CHECK_EQ(parx_gpu_run(g, NULL, &job), -EINVAL);
    /* the last chunk of s1 lacks the last item */
    job.bufs = cs1;
    CHECK_EQ(parx_gpu_run(g, NULL, &job), -EINVAL);
    CHECK_EQ(parx_gpu_query(g, &after), 0);
    CHECK_EQ(after.dispatches - before.dispatches, 0);
    /* n - 1 items fit: the job runs, chunk by chunk */
    job.n = n - 1;
    CHECK_EQ(parx_gpu_run(g, NULL, &job), 0);
    CHECK_EQ(parx_gpu_sync(g), 0);
    CHECK_EQ(parx_gpu_query(g, &after), 0);
    CHECK_EQ(after.dispatches - before.dispatches, 3);
    close_dev(g);
}

/* Two devices saving one pipeline-cache path at once, from two threads:
   every save succeeds and leaves a whole file (before the fix both wrote
   the same "<path>.tmp.<pid>": ENOENT at a rename, or one's half-written
   file renamed into place), and no temporary file is left behind. Whether
   the two threads' saves overlap is up to the scheduler, so the race alone
   caught the old fixed name in some runs only; the second part does not
   depend on timing: with symbolic links to a bystander file already at
   "<path>.tmp.<pid>" and at the first 64 "<path>.tmp.<pid>.<n>" (another
   save's temporary files, for all a save can tell), a save must create a
   file of its own (O_EXCL), write nothing through them and rename no link
   into place (the old code, which opened its one name with fopen "wb",
   wrote the bystander and left the path a link, every time). */
static char cache_dir[64];
static char cache_file[96];
static atomic_int cache_fails;

static void *cache_saver(void *arg)
{
    (void)arg;
    parx_gpu *g = open_dev((parx_gpu_desc){.pipeline_cache_path = cache_file});
    if (!g) {
        atomic_fetch_add(&cache_fails, 1000);
        return NULL;
    }
    int err = 0;
    parx_gpu_kernel *k =
        parx_gpu_kernel_create(g, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy, NULL, &err);
    if (!k)
        atomic_fetch_add(&cache_fails, 1000);
    for (int i = 0; i < 100; i++)
        if (parx_gpu_cache_save(g) != 0)
            atomic_fetch_add(&cache_fails, 1);
    parx_gpu_close(g);
    return NULL;
}

static void test_cache_save_race(void)
{
    snprintf(cache_dir, sizeof cache_dir, "/tmp/parx-gpu-cache-dir-XXXXXX");
    REQUIRE(mkdtemp(cache_dir) != NULL);
    snprintf(cache_file, sizeof cache_file, "%s/pipelines.bin", cache_dir);
    atomic_store(&cache_fails, 0);
    pthread_t t[2];
    int started = 0;
    for (int i = 0; i < 2; i++)
        started += pthread_create(&t[i], NULL, cache_saver, NULL) == 0;
    CHECK_EQ(started, 2);
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(atomic_load(&cache_fails), 0);
    /* one file, whole: the next device loads it */
    parx_gpu *g = open_dev((parx_gpu_desc){.pipeline_cache_path = cache_file});
    REQUIRE(g);
    parx_gpu_info in;
    CHECK_EQ(parx_gpu_query(g, &in), 0);
    CHECK(in.pipeline_cache_loaded);
    close_dev(g);
    DIR *d = opendir(cache_dir);
    REQUIRE(d);
    int files = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            files++;
            if (strcmp(e->d_name, "pipelines.bin") != 0)
                pt_diag("left behind: %s", e->d_name);
        }
    closedir(d);
    CHECK_EQ(files, 1);
    remove(cache_file);
    /* names in the way: links to a bystander */
    char by[128], name[160];
    snprintf(by, sizeof by, "%s/bystander", cache_dir);
    FILE *f = fopen(by, "w");
    REQUIRE(f);
    fputs("bystander", f);
    fclose(f);
    int links = 0;
    for (int i = -1; i < 64; i++) {
        if (i < 0)
            snprintf(name, sizeof name, "%s.tmp.%ld", cache_file, (long)getpid());
        else
            snprintf(name, sizeof name, "%s.tmp.%ld.%d", cache_file, (long)getpid(), i);
        links += symlink(by, name) == 0;
    }
    CHECK_EQ(links, 65);
    g = open_dev((parx_gpu_desc){.pipeline_cache_path = cache_file});
    REQUIRE(g);
    int err = 0;
    parx_gpu_kernel *k =
        parx_gpu_kernel_create(g, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy, NULL, &err);
    CHECK(k != NULL);
    CHECK_EQ(parx_gpu_cache_save(g), 0);
    close_dev(g); /* saves again */
    char got[32] = {0};
    f = fopen(by, "r");
    REQUIRE(f);
    CHECK(fgets(got, sizeof got, f) != NULL);
    fclose(f);
    CHECK_STR_EQ(got, "bystander");
    struct stat st;
    CHECK_EQ(lstat(cache_file, &st), 0);
    CHECK(S_ISREG(st.st_mode));
    g = open_dev((parx_gpu_desc){.pipeline_cache_path = cache_file});
    REQUIRE(g);
    CHECK_EQ(parx_gpu_query(g, &in), 0);
    CHECK(in.pipeline_cache_loaded);
    close_dev(g);
    for (int i = -1; i < 64; i++) {
        if (i < 0)
            snprintf(name, sizeof name, "%s.tmp.%ld", cache_file, (long)getpid());
        else
            snprintf(name, sizeof name, "%s.tmp.%ld.%d", cache_file, (long)getpid(), i);
        unlink(name);
    }
    remove(by);
    remove(cache_file);
    CHECK_EQ(rmdir(cache_dir), 0); /* nothing else left behind */
}

/* Import of memory that would wrap around the address space (a size near
   SIZE_MAX): -EINVAL (before the fix: a "zero-copy" buffer of 0 chunks). */
static void test_import_wraps(void)
{
    parx_gpu *g = open_dev((parx_gpu_desc){0});
    REQUIRE(g);
    static unsigned char host[4096] __attribute__((aligned(4096)));
    int err = 0;
    CHECK(parx_gpu_buffer_import(g, host, SIZE_MAX, &err) == NULL);
    CHECK_EQ(err, -EINVAL);
    err = 0;
    CHECK(parx_gpu_buffer_import(g, host, SIZE_MAX - 4096, &err) == NULL);
    CHECK_EQ(err, -EINVAL);
    /* the same memory at its real size still works */
    parx_gpu_buffer *b = parx_gpu_buffer_import(g, host, sizeof host, &err);
    CHECK(b != NULL);
    CHECK_EQ(parx_gpu_buffer_chunks(b), 1);
    parx_gpu_buffer_destroy(b);
    close_dev(g);
}

/* A local size set by a specialisation constant (SPIR-V 1.0):
       #version 450
       layout(local_size_x = 64, local_size_x_id = 0) in;
       layout(std430, set = 0, binding = 0) buffer Dst { uint dst[]; };
       layout(push_constant) uniform P { uint first, offset, count, pad; } p;
       void main() {
           uint i = gl_GlobalInvocationID.x;
           if (i < p.count) dst[p.offset + i] = p.first + i + 1u;
       }
   glslc --target-env=vulkan1.0 -O (shaderc 2023.2), checked with spirv-val:
   LocalSize 64 1 1, and WorkgroupSize an OpSpecConstantComposite whose x is
   OpSpecConstant 64 with SpecId 0. */
static const uint32_t spv_lsid[] = {
    0x07230203, 0x00010000, 0x000d000b, 0x00000031, 0x00000000, 0x00020011, 0x00000001, 0x0006000b,
    0x00000001, 0x4c534c47, 0x6474732e, 0x3035342e, 0x00000000, 0x0003000e, 0x00000000, 0x00000001,
    0x0006000f, 0x00000005, 0x00000004, 0x6e69616d, 0x00000000, 0x0000000b, 0x00060010, 0x00000004,
    0x00000011, 0x00000040, 0x00000001, 0x00000001, 0x00040047, 0x0000000b, 0x0000000b, 0x0000001c,
    0x00050048, 0x00000011, 0x00000000, 0x00000023, 0x00000000, 0x00050048, 0x00000011, 0x00000001,
    0x00000023, 0x00000004, 0x00050048, 0x00000011, 0x00000002, 0x00000023, 0x00000008, 0x00050048,
    0x00000011, 0x00000003, 0x00000023, 0x0000000c, 0x00030047, 0x00000011, 0x00000002, 0x00040047,
    0x0000001d, 0x00000006, 0x00000004, 0x00050048, 0x0000001e, 0x00000000, 0x00000023, 0x00000000,
    0x00030047, 0x0000001e, 0x00000003, 0x00040047, 0x00000020, 0x00000022, 0x00000000, 0x00040047,
    0x00000020, 0x00000021, 0x00000000, 0x00040047, 0x0000002f, 0x00000001, 0x00000000, 0x00040047,
    0x00000030, 0x0000000b, 0x00000019, 0x00020013, 0x00000002, 0x00030021, 0x00000003, 0x00000002,
    0x00040015, 0x00000006, 0x00000020, 0x00000000, 0x00040017, 0x00000009, 0x00000006, 0x00000003,
    0x00040020, 0x0000000a, 0x00000001, 0x00000009, 0x0004003b, 0x0000000a, 0x0000000b, 0x00000001,
    0x0004002b, 0x00000006, 0x0000000c, 0x00000000, 0x00040020, 0x0000000d, 0x00000001, 0x00000006,
    0x0006001e, 0x00000011, 0x00000006, 0x00000006, 0x00000006, 0x00000006, 0x00040020, 0x00000012,
    0x00000009, 0x00000011, 0x0004003b, 0x00000012, 0x00000013, 0x00000009, 0x00040015, 0x00000014,
    0x00000020, 0x00000001, 0x0004002b, 0x00000014, 0x00000015, 0x00000002, 0x00040020, 0x00000016,
    0x00000009, 0x00000006, 0x00020014, 0x00000019, 0x0003001d, 0x0000001d, 0x00000006, 0x0003001e,
    0x0000001e, 0x0000001d, 0x00040020, 0x0000001f, 0x00000002, 0x0000001e, 0x0004003b, 0x0000001f,
    0x00000020, 0x00000002, 0x0004002b, 0x00000014, 0x00000021, 0x00000000, 0x0004002b, 0x00000014,
    0x00000022, 0x00000001, 0x0004002b, 0x00000006, 0x0000002b, 0x00000001, 0x00040020, 0x0000002d,
    0x00000002, 0x00000006, 0x00040032, 0x00000006, 0x0000002f, 0x00000040, 0x00060033, 0x00000009,
    0x00000030, 0x0000002f, 0x0000002b, 0x0000002b, 0x00050036, 0x00000002, 0x00000004, 0x00000000,
    0x00000003, 0x000200f8, 0x00000005, 0x00050041, 0x0000000d, 0x0000000e, 0x0000000b, 0x0000000c,
    0x0004003d, 0x00000006, 0x0000000f, 0x0000000e, 0x00050041, 0x00000016, 0x00000017, 0x00000013,
    0x00000015, 0x0004003d, 0x00000006, 0x00000018, 0x00000017, 0x000500b0, 0x00000019, 0x0000001a,
    0x0000000f, 0x00000018, 0x000300f7, 0x0000001c, 0x00000000, 0x000400fa, 0x0000001a, 0x0000001b,
    0x0000001c, 0x000200f8, 0x0000001b, 0x00050041, 0x00000016, 0x00000023, 0x00000013, 0x00000022,
    0x0004003d, 0x00000006, 0x00000024, 0x00000023, 0x00050080, 0x00000006, 0x00000026, 0x00000024,
    0x0000000f, 0x00050041, 0x00000016, 0x00000027, 0x00000013, 0x00000021, 0x0004003d, 0x00000006,
    0x00000028, 0x00000027, 0x00050080, 0x00000006, 0x0000002a, 0x00000028, 0x0000000f, 0x00050080,
    0x00000006, 0x0000002c, 0x0000002a, 0x0000002b, 0x00060041, 0x0000002d, 0x0000002e, 0x00000020,
    0x00000021, 0x00000026, 0x0003003e, 0x0000002e, 0x0000002c, 0x000200f9, 0x0000001c, 0x000200f8,
    0x0000001c, 0x000100fd, 0x00010038};

/* The same with WorkgroupSize's x computed: OpSpecConstantOp IMul (SpecId 0)
   by 2, which parx does not evaluate (spirv-as, checked with spirv-val). */
static const uint32_t spv_lsid_op[] = {
    0x07230203, 0x00010000, 0x00070000, 0x0000002e, 0x00000000, 0x00020011, 0x00000001, 0x0006000b,
    0x00000001, 0x4c534c47, 0x6474732e, 0x3035342e, 0x00000000, 0x0003000e, 0x00000000, 0x00000001,
    0x0006000f, 0x00000005, 0x00000002, 0x6e69616d, 0x00000000, 0x00000003, 0x00060010, 0x00000002,
    0x00000011, 0x00000040, 0x00000001, 0x00000001, 0x00040047, 0x00000003, 0x0000000b, 0x0000001c,
    0x00050048, 0x00000004, 0x00000000, 0x00000023, 0x00000000, 0x00050048, 0x00000004, 0x00000001,
    0x00000023, 0x00000004, 0x00050048, 0x00000004, 0x00000002, 0x00000023, 0x00000008, 0x00050048,
    0x00000004, 0x00000003, 0x00000023, 0x0000000c, 0x00030047, 0x00000004, 0x00000002, 0x00040047,
    0x00000005, 0x00000006, 0x00000004, 0x00050048, 0x00000006, 0x00000000, 0x00000023, 0x00000000,
    0x00030047, 0x00000006, 0x00000003, 0x00040047, 0x00000007, 0x00000022, 0x00000000, 0x00040047,
    0x00000007, 0x00000021, 0x00000000, 0x00040047, 0x00000008, 0x00000001, 0x00000000, 0x00040047,
    0x00000009, 0x0000000b, 0x00000019, 0x00020013, 0x0000000a, 0x00030021, 0x0000000b, 0x0000000a,
    0x00040015, 0x0000000c, 0x00000020, 0x00000000, 0x00040017, 0x0000000d, 0x0000000c, 0x00000003,
    0x00040020, 0x0000000e, 0x00000001, 0x0000000d, 0x0004003b, 0x0000000e, 0x00000003, 0x00000001,
    0x0004002b, 0x0000000c, 0x0000000f, 0x00000000, 0x00040020, 0x00000010, 0x00000001, 0x0000000c,
    0x0006001e, 0x00000004, 0x0000000c, 0x0000000c, 0x0000000c, 0x0000000c, 0x00040020, 0x00000011,
    0x00000009, 0x00000004, 0x0004003b, 0x00000011, 0x00000012, 0x00000009, 0x00040015, 0x00000013,
    0x00000020, 0x00000001, 0x0004002b, 0x00000013, 0x00000014, 0x00000002, 0x00040020, 0x00000015,
    0x00000009, 0x0000000c, 0x00020014, 0x00000016, 0x0003001d, 0x00000005, 0x0000000c, 0x0003001e,
    0x00000006, 0x00000005, 0x00040020, 0x00000017, 0x00000002, 0x00000006, 0x0004003b, 0x00000017,
    0x00000007, 0x00000002, 0x0004002b, 0x00000013, 0x00000018, 0x00000000, 0x0004002b, 0x00000013,
    0x00000019, 0x00000001, 0x0004002b, 0x0000000c, 0x0000001a, 0x00000001, 0x00040020, 0x0000001b,
    0x00000002, 0x0000000c, 0x00040032, 0x0000000c, 0x00000008, 0x00000040, 0x0004002b, 0x0000000c,
    0x0000001c, 0x00000002, 0x00060034, 0x0000000c, 0x0000001d, 0x00000084, 0x00000008, 0x0000001c,
    0x00060033, 0x0000000d, 0x00000009, 0x0000001d, 0x0000001a, 0x0000001a, 0x00050036, 0x0000000a,
    0x00000002, 0x00000000, 0x0000000b, 0x000200f8, 0x0000001e, 0x00050041, 0x00000010, 0x0000001f,
    0x00000003, 0x0000000f, 0x0004003d, 0x0000000c, 0x00000020, 0x0000001f, 0x00050041, 0x00000015,
    0x00000021, 0x00000012, 0x00000014, 0x0004003d, 0x0000000c, 0x00000022, 0x00000021, 0x000500b0,
    0x00000016, 0x00000023, 0x00000020, 0x00000022, 0x000300f7, 0x00000024, 0x00000000, 0x000400fa,
    0x00000023, 0x00000025, 0x00000024, 0x000200f8, 0x00000025, 0x00050041, 0x00000015, 0x00000026,
    0x00000012, 0x00000019, 0x0004003d, 0x0000000c, 0x00000027, 0x00000026, 0x00050080, 0x0000000c,
    0x00000028, 0x00000027, 0x00000020, 0x00050041, 0x00000015, 0x00000029, 0x00000012, 0x00000018,
    0x0004003d, 0x0000000c, 0x0000002a, 0x00000029, 0x00050080, 0x0000000c, 0x0000002b, 0x0000002a,
    0x00000020, 0x00050080, 0x0000000c, 0x0000002c, 0x0000002b, 0x0000001a, 0x00060041, 0x0000001b,
    0x0000002d, 0x00000007, 0x00000018, 0x00000028, 0x0003003e, 0x0000002d, 0x0000002c, 0x000200f9,
    0x00000024, 0x000200f8, 0x00000024, 0x000100fd, 0x00010038};

/* Descriptors decorated through a decoration group (spirv-as
   --target-env vulkan1.0, checked with spirv-val): a storage buffer whose
   DescriptorSet 1 comes from OpGroupDecorate, and a uniform buffer (Block)
   whose set and binding do. */
static const uint32_t spv_grp_set1[] = {
    0x07230203, 0x00010000, 0x00070000, 0x00000019, 0x00000000, 0x00020011, 0x00000001, 0x0006000b,
    0x00000001, 0x4c534c47, 0x6474732e, 0x3035342e, 0x00000000, 0x0003000e, 0x00000000, 0x00000001,
    0x0005000f, 0x00000005, 0x00000002, 0x6e69616d, 0x00000000, 0x00060010, 0x00000002, 0x00000011,
    0x00000001, 0x00000001, 0x00000001, 0x00040047, 0x00000003, 0x00000006, 0x00000004, 0x00050048,
    0x00000004, 0x00000000, 0x00000023, 0x00000000, 0x00030047, 0x00000004, 0x00000003, 0x00040047,
    0x00000005, 0x00000022, 0x00000000, 0x00040047, 0x00000005, 0x00000021, 0x00000000, 0x00050048,
    0x00000006, 0x00000000, 0x00000023, 0x00000000, 0x00030047, 0x00000006, 0x00000003, 0x00040047,
    0x00000007, 0x00000022, 0x00000001, 0x00020049, 0x00000007, 0x0003004a, 0x00000007, 0x00000008,
    0x00040047, 0x00000008, 0x00000021, 0x00000000, 0x00040047, 0x00000009, 0x0000000b, 0x00000019,
    0x00020013, 0x0000000a, 0x00030021, 0x0000000b, 0x0000000a, 0x00040015, 0x0000000c, 0x00000020,
    0x00000000, 0x0003001d, 0x00000003, 0x0000000c, 0x0003001e, 0x00000004, 0x00000003, 0x00040020,
    0x0000000d, 0x00000002, 0x00000004, 0x0004003b, 0x0000000d, 0x00000005, 0x00000002, 0x00040015,
    0x0000000e, 0x00000020, 0x00000001, 0x0004002b, 0x0000000e, 0x0000000f, 0x00000000, 0x0003001e,
    0x00000006, 0x0000000c, 0x00040020, 0x00000010, 0x00000002, 0x00000006, 0x0004003b, 0x00000010,
    0x00000008, 0x00000002, 0x00040020, 0x00000011, 0x00000002, 0x0000000c, 0x0004002b, 0x0000000c,
    0x00000012, 0x00000001, 0x00040017, 0x00000013, 0x0000000c, 0x00000003, 0x0006002c, 0x00000013,
    0x00000009, 0x00000012, 0x00000012, 0x00000012, 0x00050036, 0x0000000a, 0x00000002, 0x00000000,
    0x0000000b, 0x000200f8, 0x00000014, 0x00050041, 0x00000011, 0x00000015, 0x00000008, 0x0000000f,
    0x0004003d, 0x0000000c, 0x00000016, 0x00000015, 0x00050080, 0x0000000c, 0x00000017, 0x00000016,
    0x00000012, 0x00060041, 0x00000011, 0x00000018, 0x00000005, 0x0000000f, 0x0000000f, 0x0003003e,
    0x00000018, 0x00000017, 0x000100fd, 0x00010038};

static const uint32_t spv_grp_ubo[] = {
    0x07230203, 0x00010000, 0x00070000, 0x00000019, 0x00000000, 0x00020011, 0x00000001, 0x0006000b,
    0x00000001, 0x4c534c47, 0x6474732e, 0x3035342e, 0x00000000, 0x0003000e, 0x00000000, 0x00000001,
    0x0005000f, 0x00000005, 0x00000002, 0x6e69616d, 0x00000000, 0x00060010, 0x00000002, 0x00000011,
    0x00000001, 0x00000001, 0x00000001, 0x00040047, 0x00000003, 0x00000006, 0x00000004, 0x00050048,
    0x00000004, 0x00000000, 0x00000023, 0x00000000, 0x00030047, 0x00000004, 0x00000003, 0x00040047,
    0x00000005, 0x00000022, 0x00000000, 0x00040047, 0x00000005, 0x00000021, 0x00000000, 0x00050048,
    0x00000006, 0x00000000, 0x00000023, 0x00000000, 0x00030047, 0x00000006, 0x00000002, 0x00040047,
    0x00000007, 0x00000022, 0x00000000, 0x00040047, 0x00000007, 0x00000021, 0x00000001, 0x00020049,
    0x00000007, 0x0003004a, 0x00000007, 0x00000008, 0x00040047, 0x00000009, 0x0000000b, 0x00000019,
    0x00020013, 0x0000000a, 0x00030021, 0x0000000b, 0x0000000a, 0x00040015, 0x0000000c, 0x00000020,
    0x00000000, 0x0003001d, 0x00000003, 0x0000000c, 0x0003001e, 0x00000004, 0x00000003, 0x00040020,
    0x0000000d, 0x00000002, 0x00000004, 0x0004003b, 0x0000000d, 0x00000005, 0x00000002, 0x00040015,
    0x0000000e, 0x00000020, 0x00000001, 0x0004002b, 0x0000000e, 0x0000000f, 0x00000000, 0x0003001e,
    0x00000006, 0x0000000c, 0x00040020, 0x00000010, 0x00000002, 0x00000006, 0x0004003b, 0x00000010,
    0x00000008, 0x00000002, 0x00040020, 0x00000011, 0x00000002, 0x0000000c, 0x0004002b, 0x0000000c,
    0x00000012, 0x00000001, 0x00040017, 0x00000013, 0x0000000c, 0x00000003, 0x0006002c, 0x00000013,
    0x00000009, 0x00000012, 0x00000012, 0x00000012, 0x00050036, 0x0000000a, 0x00000002, 0x00000000,
    0x0000000b, 0x000200f8, 0x00000014, 0x00050041, 0x00000011, 0x00000015, 0x00000008, 0x0000000f,
    0x0004003d, 0x0000000c, 0x00000016, 0x00000015, 0x00050080, 0x0000000c, 0x00000017, 0x00000016,
    0x00000012, 0x00060041, 0x00000011, 0x00000018, 0x00000005, 0x0000000f, 0x0000000f, 0x0003003e,
    0x00000018, 0x00000017, 0x000100fd, 0x00010038};

/* Decoration groups are refused (>>kernels). Before the fix they were not
   read: the set-1 storage buffer passed the "set 0 storage buffers only"
   check and lavapipe crashed in vkCreateComputePipelines; the uniform
   buffer was accepted with a layout that did not match it. */
static void test_spirv_decoration_groups(void)
{
    parx_gpu *g = open_dev((parx_gpu_desc){0});
    REQUIRE(g);
    int err = 0;
    CHECK(parx_gpu_kernel_create(g, spv_grp_set1, sizeof spv_grp_set1, NULL, &err) == NULL);
    CHECK_EQ(err, PARX_E_BAD_SPIRV);
    err = 0;
    CHECK(parx_gpu_kernel_create(g, spv_grp_ubo, sizeof spv_grp_ubo, NULL, &err) == NULL);
    CHECK_EQ(err, PARX_E_BAD_SPIRV);
    close_dev(g);
}

/* Runs spv_lsid-style kernel k over n items of b (zeroed first) and counts
   the items whose word is i + 1 afterwards. */
static size_t run_count(parx_gpu *g, parx_gpu_kernel *k, parx_gpu_buffer *b, uint32_t *h, size_t n,
                        uint32_t ipg, int *rc)
{
    memset(h, 0, n * 4);
    if (parx_gpu_upload(g, b, 0, h, n * 4) != 0)
        return 0;
    parx_gpu_job job = {.n = n, .kernel = k, .bufs = &b, .nbufs = 1, .items_per_group = ipg};
    *rc = parx_gpu_run(g, NULL, &job);
    if (parx_gpu_sync(g) != 0 || parx_gpu_download(g, b, 0, h, n * 4) != 0)
        return 0;
    size_t done = 0;
    for (size_t i = 0; i < n; i++)
        done += h[i] == (uint32_t)i + 1;
    return done;
}

/* The local size parx_gpu_run uses is the pipeline's: a specialisation
   constant's value from desc.spec, else its default. Before the fix parx
   took LocalSize (64) while the pipeline ran 16 wide: a quarter of the
   items. A size parx cannot evaluate is 0, and parx_gpu_run says -ENOTSUP
   (recording nothing) unless the job gives items_per_group. */
static void test_spec_local_size(void)
{
    parx_gpu *g = open_dev((parx_gpu_desc){0});
    REQUIRE(g);
    enum { N = 4096 + 5 };
    int err = 0, rc = 1;
    parx_gpu_buffer *b = parx_gpu_buffer_create(g, N * 4, 0, &err);
    uint32_t *h = (uint32_t *)malloc(N * 4);
    REQUIRE(b && h);
    uint32_t spec16[1] = {16};
    parx_gpu_kernel *k = parx_gpu_kernel_create(
        g, spv_lsid, sizeof spv_lsid, &(parx_gpu_kernel_desc){.spec = spec16, .nspec = 1}, &err);
    REQUIRE(k);
    CHECK_EQ_U(parx_gpu_kernel_local_size(k), 16);
    CHECK_EQ(run_count(g, k, b, h, N, 0, &rc), N);
    CHECK_EQ(rc, 0);
    parx_gpu_kernel_destroy(k);
    k = parx_gpu_kernel_create(g, spv_lsid, sizeof spv_lsid, NULL, &err); /* the default */
    REQUIRE(k);
    CHECK_EQ_U(parx_gpu_kernel_local_size(k), 64);
    CHECK_EQ(run_count(g, k, b, h, N, 0, &rc), N);
    CHECK_EQ(rc, 0);
    parx_gpu_kernel_destroy(k);
    /* x = spec * 2: 32 wide, which parx cannot tell */
    k = parx_gpu_kernel_create(g, spv_lsid_op, sizeof spv_lsid_op,
                               &(parx_gpu_kernel_desc){.spec = spec16, .nspec = 1}, &err);
    REQUIRE(k);
    CHECK_EQ_U(parx_gpu_kernel_local_size(k), 0);
    parx_gpu_info before, after;
    CHECK_EQ(parx_gpu_query(g, &before), 0);
    parx_gpu_job job = {.n = N, .kernel = k, .bufs = &b, .nbufs = 1};
    CHECK_EQ(parx_gpu_run(g, NULL, &job), -ENOTSUP);
    CHECK_EQ(parx_gpu_query(g, &after), 0);
    CHECK_EQ(after.dispatches - before.dispatches, 0);
    CHECK_EQ(run_count(g, k, b, h, N, 32, &rc), N); /* told: it runs whole */
    CHECK_EQ(rc, 0);
    parx_gpu_kernel_destroy(k);
    free(h);
    close_dev(g);
}

/* A 2-D local size from specialisation constants (SPIR-V 1.0):
       #version 450
       layout(local_size_x = 8, local_size_y = 8,
              local_size_x_id = 0, local_size_y_id = 1) in;
       ... the body of spv_lsid ...
   glslc --target-env=vulkan1.0 -O (shaderc 2023.2), checked with spirv-val:
   WorkgroupSize an OpSpecConstantComposite of SpecIds 0 and 1 (default 8)
   and 1. */
static const uint32_t spv_lsxy[] = {
    0x07230203, 0x00010000, 0x000d000b, 0x00000032, 0x00000000, 0x00020011, 0x00000001, 0x0006000b,
    0x00000001, 0x4c534c47, 0x6474732e, 0x3035342e, 0x00000000, 0x0003000e, 0x00000000, 0x00000001,
    0x0006000f, 0x00000005, 0x00000004, 0x6e69616d, 0x00000000, 0x0000000b, 0x00060010, 0x00000004,
    0x00000011, 0x00000008, 0x00000008, 0x00000001, 0x00040047, 0x0000000b, 0x0000000b, 0x0000001c,
    0x00050048, 0x00000011, 0x00000000, 0x00000023, 0x00000000, 0x00050048, 0x00000011, 0x00000001,
    0x00000023, 0x00000004, 0x00050048, 0x00000011, 0x00000002, 0x00000023, 0x00000008, 0x00050048,
    0x00000011, 0x00000003, 0x00000023, 0x0000000c, 0x00030047, 0x00000011, 0x00000002, 0x00040047,
    0x0000001d, 0x00000006, 0x00000004, 0x00050048, 0x0000001e, 0x00000000, 0x00000023, 0x00000000,
    0x00030047, 0x0000001e, 0x00000003, 0x00040047, 0x00000020, 0x00000022, 0x00000000, 0x00040047,
    0x00000020, 0x00000021, 0x00000000, 0x00040047, 0x0000002f, 0x00000001, 0x00000000, 0x00040047,
    0x00000030, 0x00000001, 0x00000001, 0x00040047, 0x00000031, 0x0000000b, 0x00000019, 0x00020013,
    0x00000002, 0x00030021, 0x00000003, 0x00000002, 0x00040015, 0x00000006, 0x00000020, 0x00000000,
    0x00040017, 0x00000009, 0x00000006, 0x00000003, 0x00040020, 0x0000000a, 0x00000001, 0x00000009,
    0x0004003b, 0x0000000a, 0x0000000b, 0x00000001, 0x0004002b, 0x00000006, 0x0000000c, 0x00000000,
    0x00040020, 0x0000000d, 0x00000001, 0x00000006, 0x0006001e, 0x00000011, 0x00000006, 0x00000006,
    0x00000006, 0x00000006, 0x00040020, 0x00000012, 0x00000009, 0x00000011, 0x0004003b, 0x00000012,
    0x00000013, 0x00000009, 0x00040015, 0x00000014, 0x00000020, 0x00000001, 0x0004002b, 0x00000014,
    0x00000015, 0x00000002, 0x00040020, 0x00000016, 0x00000009, 0x00000006, 0x00020014, 0x00000019,
    0x0003001d, 0x0000001d, 0x00000006, 0x0003001e, 0x0000001e, 0x0000001d, 0x00040020, 0x0000001f,
    0x00000002, 0x0000001e, 0x0004003b, 0x0000001f, 0x00000020, 0x00000002, 0x0004002b, 0x00000014,
    0x00000021, 0x00000000, 0x0004002b, 0x00000014, 0x00000022, 0x00000001, 0x0004002b, 0x00000006,
    0x0000002b, 0x00000001, 0x00040020, 0x0000002d, 0x00000002, 0x00000006, 0x00040032, 0x00000006,
    0x0000002f, 0x00000008, 0x00040032, 0x00000006, 0x00000030, 0x00000008, 0x00060033, 0x00000009,
    0x00000031, 0x0000002f, 0x00000030, 0x0000002b, 0x00050036, 0x00000002, 0x00000004, 0x00000000,
    0x00000003, 0x000200f8, 0x00000005, 0x00050041, 0x0000000d, 0x0000000e, 0x0000000b, 0x0000000c,
    0x0004003d, 0x00000006, 0x0000000f, 0x0000000e, 0x00050041, 0x00000016, 0x00000017, 0x00000013,
    0x00000015, 0x0004003d, 0x00000006, 0x00000018, 0x00000017, 0x000500b0, 0x00000019, 0x0000001a,
    0x0000000f, 0x00000018, 0x000300f7, 0x0000001c, 0x00000000, 0x000400fa, 0x0000001a, 0x0000001b,
    0x0000001c, 0x000200f8, 0x0000001b, 0x00050041, 0x00000016, 0x00000023, 0x00000013, 0x00000022,
    0x0004003d, 0x00000006, 0x00000024, 0x00000023, 0x00050080, 0x00000006, 0x00000026, 0x00000024,
    0x0000000f, 0x00050041, 0x00000016, 0x00000027, 0x00000013, 0x00000021, 0x0004003d, 0x00000006,
    0x00000028, 0x00000027, 0x00050080, 0x00000006, 0x0000002a, 0x00000028, 0x0000000f, 0x00050080,
    0x00000006, 0x0000002c, 0x0000002a, 0x0000002b, 0x00060041, 0x0000002d, 0x0000002e, 0x00000020,
    0x00000021, 0x00000026, 0x0003003e, 0x0000002e, 0x0000002c, 0x000200f9, 0x0000001c, 0x000200f8,
    0x0000001c, 0x000100fd, 0x00010038};

/* A local size over the device's limits is invalid usage that no driver
   has to survive: kernel_create refuses it (-EINVAL), x, y or the product
   of all three, with desc.spec applied. Before the fix the pipeline was
   made (the validation layer reported VUID-RuntimeSpirv-x-06429 and
   -06432), and parx_gpu_run dispatched it. Within the limits it runs. */
static void test_local_size_limits(void)
{
    parx_gpu *g = open_dev((parx_gpu_desc){0});
    REQUIRE(g);
    int err = 0;
    uint32_t huge[1] = {1u << 20};
    CHECK(parx_gpu_kernel_create(g, spv_lsid, sizeof spv_lsid,
                                 &(parx_gpu_kernel_desc){.spec = huge, .nspec = 1}, &err) == NULL);
    CHECK_EQ(err, -EINVAL);
    uint32_t tall[2] = {1, 1u << 20}, square[2] = {1024, 1024}, fine[2] = {4, 16};
    err = 0;
    CHECK(parx_gpu_kernel_create(g, spv_lsxy, sizeof spv_lsxy,
                                 &(parx_gpu_kernel_desc){.spec = tall, .nspec = 2}, &err) == NULL);
    CHECK_EQ(err, -EINVAL);
    err = 0; /* each side within maxComputeWorkGroupSize (where it is 1024), not the product */
    CHECK(parx_gpu_kernel_create(g, spv_lsxy, sizeof spv_lsxy,
                                 &(parx_gpu_kernel_desc){.spec = square, .nspec = 2},
                                 &err) == NULL);
    CHECK_EQ(err, -EINVAL);
    parx_gpu_kernel *k = parx_gpu_kernel_create(
        g, spv_lsxy, sizeof spv_lsxy, &(parx_gpu_kernel_desc){.spec = fine, .nspec = 2}, &err);
    REQUIRE(k);
    CHECK_EQ_U(parx_gpu_kernel_local_size(k), 4);
    enum { N = 1000 };
    parx_gpu_buffer *b = parx_gpu_buffer_create(g, N * 4, 0, &err);
    uint32_t *h = (uint32_t *)malloc(N * 4);
    REQUIRE(b && h);
    int rc = 1; /* 4 x 16 invocations a group, 4 items a group: every item once */
    CHECK_EQ(run_count(g, k, b, h, N, 0, &rc), N);
    CHECK_EQ(rc, 0);
    parx_gpu_kernel_destroy(k);
    parx_gpu_buffer_destroy(b);
    free(h);
    close_dev(g);
}

/* A push-constant block of 132 bytes, over the 128 most devices default to:
       #version 450
       layout(local_size_x = 64) in;
       layout(std430, set = 0, binding = 0) buffer Dst { uint dst[]; };
       layout(push_constant) uniform P { uint first, offset, count, pad; uint v[29]; } p;
       void main() {
           uint i = gl_GlobalInvocationID.x;
           if (i < p.count) dst[p.offset + i] = p.first + i + p.v[28];
       }
   glslc --target-env=vulkan1.0 -O (shaderc 2023.2), checked with spirv-val. */
static const uint32_t spv_push132[] = {
    0x07230203, 0x00010000, 0x000d000b, 0x00000037, 0x00000000, 0x00020011, 0x00000001, 0x0006000b,
    0x00000001, 0x4c534c47, 0x6474732e, 0x3035342e, 0x00000000, 0x0003000e, 0x00000000, 0x00000001,
    0x0006000f, 0x00000005, 0x00000004, 0x6e69616d, 0x00000000, 0x0000000b, 0x00060010, 0x00000004,
    0x00000011, 0x00000040, 0x00000001, 0x00000001, 0x00040047, 0x0000000b, 0x0000000b, 0x0000001c,
    0x00040047, 0x00000012, 0x00000006, 0x00000004, 0x00050048, 0x00000013, 0x00000000, 0x00000023,
    0x00000000, 0x00050048, 0x00000013, 0x00000001, 0x00000023, 0x00000004, 0x00050048, 0x00000013,
    0x00000002, 0x00000023, 0x00000008, 0x00050048, 0x00000013, 0x00000003, 0x00000023, 0x0000000c,
    0x00050048, 0x00000013, 0x00000004, 0x00000023, 0x00000010, 0x00030047, 0x00000013, 0x00000002,
    0x00040047, 0x0000001f, 0x00000006, 0x00000004, 0x00050048, 0x00000020, 0x00000000, 0x00000023,
    0x00000000, 0x00030047, 0x00000020, 0x00000003, 0x00040047, 0x00000022, 0x00000022, 0x00000000,
    0x00040047, 0x00000022, 0x00000021, 0x00000000, 0x00040047, 0x00000036, 0x0000000b, 0x00000019,
    0x00020013, 0x00000002, 0x00030021, 0x00000003, 0x00000002, 0x00040015, 0x00000006, 0x00000020,
    0x00000000, 0x00040017, 0x00000009, 0x00000006, 0x00000003, 0x00040020, 0x0000000a, 0x00000001,
    0x00000009, 0x0004003b, 0x0000000a, 0x0000000b, 0x00000001, 0x0004002b, 0x00000006, 0x0000000c,
    0x00000000, 0x00040020, 0x0000000d, 0x00000001, 0x00000006, 0x0004002b, 0x00000006, 0x00000011,
    0x0000001d, 0x0004001c, 0x00000012, 0x00000006, 0x00000011, 0x0007001e, 0x00000013, 0x00000006,
    0x00000006, 0x00000006, 0x00000006, 0x00000012, 0x00040020, 0x00000014, 0x00000009, 0x00000013,
    0x0004003b, 0x00000014, 0x00000015, 0x00000009, 0x00040015, 0x00000016, 0x00000020, 0x00000001,
    0x0004002b, 0x00000016, 0x00000017, 0x00000002, 0x00040020, 0x00000018, 0x00000009, 0x00000006,
    0x00020014, 0x0000001b, 0x0003001d, 0x0000001f, 0x00000006, 0x0003001e, 0x00000020, 0x0000001f,
    0x00040020, 0x00000021, 0x00000002, 0x00000020, 0x0004003b, 0x00000021, 0x00000022, 0x00000002,
    0x0004002b, 0x00000016, 0x00000023, 0x00000000, 0x0004002b, 0x00000016, 0x00000024, 0x00000001,
    0x0004002b, 0x00000016, 0x0000002d, 0x00000004, 0x0004002b, 0x00000016, 0x0000002e, 0x0000001c,
    0x00040020, 0x00000032, 0x00000002, 0x00000006, 0x0004002b, 0x00000006, 0x00000034, 0x00000040,
    0x0004002b, 0x00000006, 0x00000035, 0x00000001, 0x0006002c, 0x00000009, 0x00000036, 0x00000034,
    0x00000035, 0x00000035, 0x00050036, 0x00000002, 0x00000004, 0x00000000, 0x00000003, 0x000200f8,
    0x00000005, 0x00050041, 0x0000000d, 0x0000000e, 0x0000000b, 0x0000000c, 0x0004003d, 0x00000006,
    0x0000000f, 0x0000000e, 0x00050041, 0x00000018, 0x00000019, 0x00000015, 0x00000017, 0x0004003d,
    0x00000006, 0x0000001a, 0x00000019, 0x000500b0, 0x0000001b, 0x0000001c, 0x0000000f, 0x0000001a,
    0x000300f7, 0x0000001e, 0x00000000, 0x000400fa, 0x0000001c, 0x0000001d, 0x0000001e, 0x000200f8,
    0x0000001d, 0x00050041, 0x00000018, 0x00000025, 0x00000015, 0x00000024, 0x0004003d, 0x00000006,
    0x00000026, 0x00000025, 0x00050080, 0x00000006, 0x00000028, 0x00000026, 0x0000000f, 0x00050041,
    0x00000018, 0x00000029, 0x00000015, 0x00000023, 0x0004003d, 0x00000006, 0x0000002a, 0x00000029,
    0x00050080, 0x00000006, 0x0000002c, 0x0000002a, 0x0000000f, 0x00060041, 0x00000018, 0x0000002f,
    0x00000015, 0x0000002d, 0x0000002e, 0x0004003d, 0x00000006, 0x00000030, 0x0000002f, 0x00050080,
    0x00000006, 0x00000031, 0x0000002c, 0x00000030, 0x00060041, 0x00000032, 0x00000033, 0x00000022,
    0x00000023, 0x00000028, 0x0003003e, 0x00000033, 0x00000031, 0x000200f9, 0x0000001e, 0x000200f8,
    0x0000001e, 0x000100fd, 0x00010038};

/* The push-constant range must cover the module's block (else the pipeline
   reads push constants its layout lacks: invalid usage, reported by the
   validation layer as VUID-VkComputePipelineCreateInfo-layout-07987).
   Before the fix kernel_create took any push_bytes, and its default of
   128 for a larger block. Now a short range is -EINVAL, and the default
   grows to the block where the device allows it (-EINVAL where not). */
static void test_push_block(void)
{
    parx_gpu *g = open_dev((parx_gpu_desc){0});
    REQUIRE(g);
    parx_gpu_info in;
    REQUIRE(parx_gpu_query(g, &in) == 0);
    int err = 0;
    CHECK(parx_gpu_kernel_create(g, parx_gpu_spv_sum, sizeof parx_gpu_spv_sum,
                                 &(parx_gpu_kernel_desc){.push_bytes = 8}, &err) == NULL);
    CHECK_EQ(err, -EINVAL); /* its block: the 16-byte header */
    err = 0;
    CHECK(parx_gpu_kernel_create(g, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy,
                                 &(parx_gpu_kernel_desc){.push_bytes = 16}, &err) == NULL);
    CHECK_EQ(err, -EINVAL); /* header + a: 20 */
    parx_gpu_kernel *k = parx_gpu_kernel_create(g, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy,
                                                &(parx_gpu_kernel_desc){.push_bytes = 20}, &err);
    CHECK(k != NULL);
    parx_gpu_kernel_destroy(k);
    err = 0;
    k = parx_gpu_kernel_create(g, spv_push132, sizeof spv_push132, NULL, &err);
    if (in.max_push_bytes < 132) { /* lavapipe: 128 */
        CHECK(k == NULL);
        CHECK_EQ(err, -EINVAL);
        err = 0;
        CHECK(parx_gpu_kernel_create(g, spv_push132, sizeof spv_push132,
                                     &(parx_gpu_kernel_desc){.push_bytes = 128}, &err) == NULL);
        CHECK_EQ(err, -EINVAL);
    } else {
        REQUIRE(k);
        enum { N = 300 };
        uint32_t v[29] = {0}, h[N];
        v[28] = 5;
        parx_gpu_buffer *b = parx_gpu_buffer_create(g, sizeof h, 0, &err);
        REQUIRE(b);
        parx_gpu_job job = {.n = N, .kernel = k, .bufs = &b, .nbufs = 1, .push = v,
                            .push_size = sizeof v};
        CHECK_EQ(parx_gpu_run(g, NULL, &job), 0);
        CHECK_EQ(parx_gpu_download(g, b, 0, h, sizeof h), 0);
        size_t bad = 0;
        for (uint32_t i = 0; i < N; i++)
            bad += h[i] != i + 5;
        CHECK_EQ(bad, 0);
        parx_gpu_buffer_destroy(b);
        parx_gpu_kernel_destroy(k);
    }
    close_dev(g);
}

/* An entry point that names no function of the module (a type's id, an id
   past the bound): lavapipe dereferences it and crashes (SIGSEGV) inside
   vkCreateComputePipelines. Before the fix parx passed such a module on;
   now it is PARX_E_BAD_SPIRV. */
static void test_spirv_entry_not_function(void)
{
    parx_gpu *g = open_dev((parx_gpu_desc){0});
    REQUIRE(g);
    size_t nw = sizeof parx_gpu_spv_saxpy / 4;
    uint32_t *w = (uint32_t *)malloc(nw * 4);
    REQUIRE(w);
    uint32_t ids[2] = {0, parx_gpu_spv_saxpy[3] + 5}; /* [0]: OpTypeVoid's id, found below */
    for (size_t i = 5; i < nw; i += parx_gpu_spv_saxpy[i] >> 16)
        if ((parx_gpu_spv_saxpy[i] & 0xFFFFu) == 19 /* OpTypeVoid */)
            ids[0] = parx_gpu_spv_saxpy[i + 1];
    REQUIRE(ids[0] != 0);
    for (int c = 0; c < 2; c++) {
        memcpy(w, parx_gpu_spv_saxpy, nw * 4);
        int patched = 0;
        for (size_t i = 5; i < nw; i += w[i] >> 16)
            if ((w[i] & 0xFFFFu) == 15 /* OpEntryPoint */) {
                w[i + 2] = ids[c];
                patched++;
            }
        CHECK_EQ(patched, 1);
        int err = 0;
        CHECK(parx_gpu_kernel_create(g, w, nw * 4, NULL, &err) == NULL);
        CHECK_EQ(err, PARX_E_BAD_SPIRV);
    }
    free(w);
    close_dev(g);
}

/* parx_gpu_run over a chunked buffer: each dispatch binds its own chunk, so
   they need no barrier between them (before the fix, hazards were tracked
   per whole buffer: a barrier before every chunk's dispatch). A second run
   over the same chunks in the same batch needs one barrier (chunk 0's
   write after write), and synchronization validation, where the layer is
   installed, sees no missing one. */
static void test_run_chunks_barriers(void)
{
    parx_gpu *g = open_dev_syncval((parx_gpu_desc){.max_chunk_bytes = 64 << 10});
    REQUIRE(g);
    int err = 0;
    parx_gpu_kernel *k = parx_gpu_kernel_create(g, spv_lsid, sizeof spv_lsid, NULL, &err);
    REQUIRE(k);
    enum { N = 4 * (64 << 10) / 4 }; /* four whole chunks */
    parx_gpu_buffer *b = parx_gpu_buffer_create(g, N * 4, 0, &err);
    uint32_t *h = (uint32_t *)calloc(N, 4);
    REQUIRE(b && h);
    CHECK_EQ(parx_gpu_buffer_chunks(b), 4);
    CHECK_EQ(parx_gpu_upload(g, b, 0, h, N * 4), 0);
    CHECK_EQ(parx_gpu_sync(g), 0);
    parx_gpu_job job = {.n = N, .kernel = k, .bufs = &b, .nbufs = 1};
    parx_gpu_info before, after;
    CHECK_EQ(parx_gpu_query(g, &before), 0);
    CHECK_EQ(parx_gpu_run(g, NULL, &job), 0);
    CHECK_EQ(parx_gpu_query(g, &after), 0);
    CHECK_EQ(after.dispatches - before.dispatches, 4);
    CHECK(after.barriers - before.barriers <= 1); /* the batch's opening barrier at most */
    uint64_t first = after.barriers;
    CHECK_EQ(parx_gpu_run(g, NULL, &job), 0);
    CHECK_EQ(parx_gpu_query(g, &after), 0);
    CHECK_EQ(after.barriers - first, 1);
    CHECK_EQ(parx_gpu_sync(g), 0);
    CHECK_EQ(parx_gpu_download(g, b, 0, h, N * 4), 0);
    size_t bad = 0;
    for (uint32_t i = 0; i < N; i++)
        bad += h[i] != i + 1;
    CHECK_EQ(bad, 0);
    free(h);
    close_dev(g);
}

/* One buffer, a run cut into pieces by the group-count limit (one item per
   group: maxComputeWorkGroupCount items a dispatch): disjoint items, no
   barrier between the pieces (there were one fewer than pieces), checked by
   the synchronization validation too. */
static void test_run_pieces_barriers(void)
{
    parx_gpu *g = open_dev_syncval((parx_gpu_desc){0});
    REQUIRE(g);
    int err = 0;
    parx_gpu_kernel *k = parx_gpu_kernel_create(g, spv_lsid, sizeof spv_lsid, NULL, &err);
    REQUIRE(k);
    parx_gpu_info in, before, after;
    CHECK_EQ(parx_gpu_query(g, &in), 0);
    size_t per = in.max_groups[0], m = 3 * per + 100, bad = 0;
    parx_gpu_buffer *one = parx_gpu_buffer_create(g, m * 4, 0, &err);
    uint32_t *hm = (uint32_t *)calloc(m, 4);
    REQUIRE(one && hm);
    CHECK_EQ(parx_gpu_buffer_chunks(one), 1);
    CHECK_EQ(parx_gpu_upload(g, one, 0, hm, m * 4), 0);
    CHECK_EQ(parx_gpu_sync(g), 0);
    parx_gpu_job cut = {.n = m, .kernel = k, .bufs = &one, .nbufs = 1, .items_per_group = 1};
    CHECK_EQ(parx_gpu_query(g, &before), 0);
    CHECK_EQ(parx_gpu_run(g, NULL, &cut), 0);
    CHECK_EQ(parx_gpu_query(g, &after), 0);
    CHECK_EQ(after.dispatches - before.dispatches, 4);
    CHECK(after.barriers - before.barriers <= 1); /* the batch's opening barrier at most */
    CHECK_EQ(parx_gpu_download(g, one, 0, hm, m * 4), 0);
    for (uint32_t i = 0; i < m; i++)
        bad += hm[i] != i + 1;
    CHECK_EQ(bad, 0);
    free(hm);
    close_dev(g); /* and no validation message */
}

/* ---- no device ----------------------------------------------------------- */

/* desc.timeout_ns = UINT64_MAX, Vulkan's own "no bound": every wait is
   unbounded, none fails. Before the fix, waiting for a free batch computed
   its deadline as now + timeout_ns, which wrapped around into the past, so
   recording while PARX_GPU_SLOTS batches were still running gave
   -ETIMEDOUT at once (batch_limit 1: each KDE pass its own batch, each
   taking far longer than recording the next). */
static void test_unbounded_timeout(void)
{
    parx_gpu *g = open_dev((parx_gpu_desc){.batch_limit = 1, .timeout_ns = UINT64_MAX});
    REQUIRE(g);
    size_t np = 16384, ng = 2048;
    float *xp = floats(np, 17), *acc = (float *)calloc(ng, 4), *got = (float *)malloc(ng * 4);
    int err = 0;
    parx_gpu_buffer *bp = parx_gpu_buffer_create(g, np * 4, 0, &err);
    parx_gpu_buffer *ba = parx_gpu_buffer_create(g, ng * 4, 0, &err);
    parx_gpu_kernel *k =
        parx_gpu_kernel_create(g, parx_gpu_spv_kde, sizeof parx_gpu_spv_kde,
                               &(parx_gpu_kernel_desc){.readonly_mask = 1, .whole_mask = 1}, &err);
    REQUIRE(xp && acc && got && bp && ba && k);
    CHECK_EQ(parx_gpu_upload(g, bp, 0, xp, np * 4), 0);
    CHECK_EQ(parx_gpu_sync(g), 0);
    parx_gpu_buffer *bufs[2] = {bp, ba};
    enum { PASSES = 6 }; /* twice the default PARX_GPU_SLOTS batches in flight */
    struct {
        float lo, dx, inv_h;
        uint32_t p0, p1, add;
    } push = {-3.0f, 6.0f / (float)ng, 4.0f, 0, (uint32_t)np, 0};
    /* Recorded back to back (the C reference comes after, so that the
       device is still busy when each batch is recorded). */
    for (int pass = 0; pass < PASSES; pass++) {
        push.add = pass != 0;
        parx_gpu_job job = {.n = ng, .kernel = k, .bufs = bufs, .nbufs = 2, .push = &push};
        job.push_size = sizeof push;
        CHECK_EQ(parx_gpu_run(g, NULL, &job), 0);
    }
    for (int pass = 0; pass < PASSES; pass++) {
        kde_ctx c = {xp, acc, 0, (uint32_t)np, push.lo, push.dx, push.inv_h};
        kde_cpu(&c, 0, ng);
    }
    CHECK_EQ(parx_gpu_sync(g), 0);
    CHECK_EQ(parx_gpu_download(g, ba, 0, got, ng * 4), 0);
    double worst = 0;
    for (size_t i = 0; i < ng; i++) {
        double rel = fabs((double)got[i] - acc[i]) / (fabs((double)acc[i]) + 1e-3);
        if (rel > worst)
            worst = rel;
    }
    CHECK_MSG(worst <= 2e-5, "KDE: largest relative difference %g > 2e-5", worst);
    close_dev(g);
    free(xp), free(acc), free(got);
}

/* drift.comp indexes its state buffer by particle: with .whole_mask = 1 a
   state of two chunks is refused (-E2BIG), recording nothing, where it
   used to be bound chunk by chunk and the particles past the first chunk
   lost; a state of one chunk runs and gives the C loop's bits. */
static void test_whole_binding(void)
{
    parx_gpu *g = open_dev((parx_gpu_desc){.max_chunk_bytes = 65536});
    REQUIRE(g);
    int err = 0;
    parx_gpu_kernel *k = parx_gpu_kernel_create(g, parx_gpu_spv_drift, sizeof parx_gpu_spv_drift,
                                                &(parx_gpu_kernel_desc){.whole_mask = 1}, &err);
    REQUIRE(k);
    struct {
        float dt;
        uint32_t vbase;
    } push;
    for (size_t n = 4096; n <= 10000; n += 10000 - 4096) { /* 32 KiB, then 80000 bytes */
        float *s = floats(2 * n, 31), *got = (float *)malloc(2 * n * 4);
        REQUIRE(s && got);
        for (size_t i = 0; i < n; i++) s[i] = s[i] * 0.25f + 0.5f; /* positions in [0, 1] */
        parx_gpu_buffer *st = parx_gpu_buffer_create(g, 2 * n * 4, 0, &err);
        REQUIRE(st);
        CHECK_EQ(parx_gpu_buffer_chunks(st), n == 4096 ? 1 : 2);
        CHECK_EQ(parx_gpu_upload(g, st, 0, s, 2 * n * 4), 0);
        parx_gpu_info before, after;
        CHECK_EQ(parx_gpu_query(g, &before), 0);
        push.dt = 0.25f;
        push.vbase = (uint32_t)n;
        parx_gpu_buffer *bufs[1] = {st};
        parx_gpu_job job = {.n = n, .kernel = k, .bufs = bufs, .nbufs = 1, .push = &push,
                            .push_size = sizeof push};
        int rc = parx_gpu_run(g, NULL, &job);
        CHECK_EQ(parx_gpu_query(g, &after), 0);
        if (n == 4096) {
            CHECK_EQ(rc, 0);
            for (size_t i = 0; i < n; i++) { /* drift.comp's arithmetic, as example 09's */
                volatile float xn = s[i] + s[n + i] * push.dt;
                float x = xn, v = s[n + i];
                if (x < 0.0f) {
                    x = -x;
                    v = -v;
                } else if (x > 1.0f) {
                    volatile float m = 2.0f - x;
                    x = m;
                    v = -v;
                }
                s[i] = x;
                s[n + i] = v;
            }
        } else {
            CHECK_EQ(rc, -E2BIG);
            CHECK_EQ_U(after.dispatches, before.dispatches); /* nothing recorded */
        }
        CHECK_EQ(parx_gpu_download(g, st, 0, got, 2 * n * 4), 0);
        CHECK_MEMEQ(got, s, 2 * n * 4);
        parx_gpu_buffer_destroy(st);
        free(s), free(got);
    }
    parx_gpu_kernel_destroy(k);
    close_dev(g);
}

/* In a fork() child: the number of calls on the parent's device that were
   not refused as documented (-EPERM; destroy and close do nothing). */
static int fork_child_misses(parx_gpu *g, parx_gpu_buffer *bx, parx_gpu_buffer *by,
                             parx_gpu_kernel *k, float *host, size_t n)
{
    int miss = 0, err = 0;
    float a = 3.0f;
    parx_gpu_buffer *bufs[2] = {bx, by};
    parx_gpu_job job = {
        .n = n, .kernel = k, .bufs = bufs, .nbufs = 2, .push = &a, .push_size = 4};
    uint64_t t = 0;
    double ns = 0;
    miss += parx_gpu_sync(g) != -EPERM;
    miss += parx_gpu_submit(g, &t) != -EPERM;
    miss += parx_gpu_wait(g, 0, 1000000) != -EPERM;
    miss += parx_gpu_upload(g, bx, 0, host, 64) != -EPERM;
    miss += parx_gpu_download(g, by, 0, host, 64) != -EPERM;
    miss += parx_gpu_dispatch(g, k, bufs, 2, &a, 4, 1, 1, 1) != -EPERM;
    miss += parx_gpu_run(g, NULL, &job) != -EPERM;
    miss += parx_gpu_dispatch_latency(g, &ns) != -EPERM;
    miss += parx_gpu_buffer_create(g, 64, 0, &err) != NULL || err != -EPERM;
    err = 0;
    miss += parx_gpu_buffer_import(g, host, n * 4, &err) != NULL || err != -EPERM;
    err = 0;
    miss += parx_gpu_kernel_create(g, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy, NULL,
                                   &err) != NULL || err != -EPERM;
    parx_gpu_info in;
    miss += parx_gpu_query(g, &in) != 0; /* a copy of the parent's figures: no driver call */
    parx_gpu_kernel_destroy(k);
    parx_gpu_buffer_destroy(bx);
    parx_gpu_close(g);
    return miss;
}

/* A device belongs to the process that opened it: in a fork() child,
   every call on it that would reach the driver is -EPERM, and destroy and
   close do nothing, within a deadline (lavapipe's threads are not in the
   child: a sync there used to wait for them for ever). The parent's batch,
   recorded before the fork, then runs and gives the C loop's bits. */
static void test_fork_child(void)
{
    parx_gpu *g = open_dev((parx_gpu_desc){0});
    REQUIRE(g);
    size_t n = 4096;
    float *x = floats(n, 21), *y = floats(n, 22), *got = (float *)malloc(n * 4);
    REQUIRE(x && y && got);
    int err = 0;
    parx_gpu_buffer *bx = parx_gpu_buffer_create(g, n * 4, 0, &err);
    parx_gpu_buffer *by = parx_gpu_buffer_create(g, n * 4, 0, &err);
    parx_gpu_kernel *k = parx_gpu_kernel_create(g, parx_gpu_spv_saxpy, sizeof parx_gpu_spv_saxpy,
                                                &(parx_gpu_kernel_desc){.readonly_mask = 1}, &err);
    REQUIRE(bx && by && k);
    CHECK_EQ(parx_gpu_upload(g, bx, 0, x, n * 4), 0);
    CHECK_EQ(parx_gpu_upload(g, by, 0, y, n * 4), 0);
    float a = 1.5f;
    parx_gpu_buffer *bufs[2] = {bx, by};
    parx_gpu_job job = {.n = n, .kernel = k, .bufs = bufs, .nbufs = 2, .push = &a, .push_size = 4};
    CHECK_EQ(parx_gpu_run(g, NULL, &job), 0); /* recorded, not yet submitted */
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        alarm(30 * (unsigned)time_scale()); /* a hang ends in SIGALRM, not in meson's timeout */
        _exit(fork_child_misses(g, bx, by, k, got, n));
    }
    int st = 0;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "the child: %s %d (exit status: calls not refused)",
              WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    saxpy_ctx c = {x, y, a};
    saxpy_cpu(&c, 0, n);
    CHECK_EQ(parx_gpu_sync(g), 0);
    CHECK_EQ(parx_gpu_download(g, by, 0, got, n * 4), 0);
    CHECK_MEMEQ(got, y, n * 4);
    parx_gpu_kernel_destroy(k);
    parx_gpu_buffer_destroy(bx);
    parx_gpu_buffer_destroy(by);
    close_dev(g);
    free(x), free(y), free(got);
}

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
    /* g is NULL: each call says -EINVAL, with the Vulkan backend and with
       the dummy one alike (the dummy said -ENODEV, whatever the arguments) */
    double ns = 0;
    CHECK_EQ(parx_gpu_dispatch_latency(g, &ns), -EINVAL);
    CHECK_EQ(parx_gpu_dispatch_latency(g, NULL), -EINVAL);
    uint64_t t = 77;
    CHECK_EQ(parx_gpu_submit(g, &t), -EINVAL);
    CHECK_EQ_U(t, 0); /* no ticket from a failed submit */
    parx_gpu_info info;
    CHECK_EQ(parx_gpu_query(g, &info), -EINVAL);
    CHECK_EQ(parx_gpu_sync(g), -EINVAL);
    CHECK_EQ(parx_gpu_wait(g, 0, 0), -EINVAL);
    CHECK_EQ(parx_gpu_cache_save(g), -EINVAL);
    CHECK_EQ(parx_gpu_upload(g, NULL, 0, x, 4), -EINVAL);
    CHECK_EQ(parx_gpu_download(g, NULL, 0, y, 4), -EINVAL);
    CHECK_EQ(parx_gpu_dispatch(g, NULL, NULL, 0, NULL, 0, 1, 1, 1), -EINVAL);
    err = 0;
    CHECK(parx_gpu_buffer_create(g, 64, 0, &err) == NULL);
    CHECK_EQ(err, -EINVAL);
    err = 0;
    CHECK(parx_gpu_buffer_import(g, x, 64, &err) == NULL);
    CHECK_EQ(err, -EINVAL);
    err = 0;
    static const uint32_t word = 0x07230203; /* SPIR-V's magic number alone */
    CHECK(parx_gpu_kernel_create(g, &word, sizeof word, NULL, &err) == NULL);
    CHECK_EQ(err, -EINVAL);
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
    pt_run("a mirrored import bound read-only is not copied back",
           test_import_readonly_not_copied_back);
    pt_run("import of more than a full chunk off the page boundary: zero-copy where a page is",
           test_import_unaligned_full_chunks);
    pt_run("staging path: uploads ordered among dispatches", test_staging);
    pt_run("pipeline cache saved, reloaded, a foreign file ignored", test_pipeline_cache);
    pt_run("invalid and truncated SPIR-V: PARX_E_BAD_SPIRV, never a crash", test_bad_spirv);
    pt_run("bad arguments and absurd sizes", test_errors_and_allocation);
    pt_run("parx_gpu_run: GPU and pool give the same bits", test_run_both_paths);
    pt_run("dispatch latency: a median, earlier work synced first", test_dispatch_latency);
    pt_run("automatic choice never takes a CPU device", test_auto_never_cpu);
    if (test_kind == PARX_GPU_DEVICE_CPU)
        pt_run("PARX_GPU_DEVICE=cpu chooses lavapipe; the desc wins over it", test_env_choice);
    pt_run("one barrier at most per dispatch, after all of the epoch's accesses",
           test_barrier_per_dispatch);
    pt_run("barriers: write after read waits for the reading stage; copies after them",
           test_barrier_stages);
    pt_run("16 bindings with batch_limit 1: the descriptor pool holds a whole set",
           test_sixteen_bindings);
    pt_run("kernel_create: non-storage descriptors, other sets, too few buffers refused",
           test_kernel_descriptors);
    pt_run("parx_gpu_run: a bad job is -EINVAL and records nothing", test_run_checks);
    pt_run("two devices saving one pipeline-cache path at once", test_cache_save_race);
    pt_run("import of a range that wraps around: -EINVAL", test_import_wraps);
    pt_run("decoration groups: PARX_E_BAD_SPIRV, never a crash in the driver",
           test_spirv_decoration_groups);
    pt_run("a local size from a specialisation constant: desc.spec's, or -ENOTSUP",
           test_spec_local_size);
    pt_run("parx_gpu_run over chunks: no barrier between the chunks' dispatches",
           test_run_chunks_barriers);
    pt_run("parx_gpu_run cut by the group-count limit: no barrier between the pieces",
           test_run_pieces_barriers);
    pt_run("desc.timeout_ns = UINT64_MAX: unbounded waits, never -ETIMEDOUT",
           test_unbounded_timeout);
    pt_run("a local size over the device's limits: -EINVAL, never a pipeline",
           test_local_size_limits);
    pt_run("a push-constant range short of the module's block: -EINVAL",
           test_push_block);
    pt_run("an entry point that names no function: PARX_E_BAD_SPIRV, never a crash",
           test_spirv_entry_not_function);
    pt_run("a fork() child: every call on the parent's device -EPERM, the parent's batch runs",
           test_fork_child);
    pt_run("a binding the kernel indexes by item (whole_mask): two chunks there are -E2BIG",
           test_whole_binding);
    return pt_done_testing();
}
