/* Compile check: the API contract. Every function of the contract's
   prototypes is called here as the contract writes it -- its arguments and
   its result in the contract's types -- and every descriptor field the
   contract names is set by that name (parx_procs_desc's .start, .retries
   and .job_timeout; parx_prefetch_desc's .paths ... .arena). A program
   written from the contract alone must compile against these headers with
   -std=c11 -Wall -Wextra -Wpedantic -Werror, which this file is built with.
   Where parx widens a prototype, a call in the contract's form still
   compiles: parx_arena_offset, parx_arena_ptr and parx_arena_fd take a
   const arena, and parx_arena_free returns a code the contract's callers
   may drop. Each call also does its real work, checked, so this is a small
   end-to-end run of the whole API as well: a deque, a pool with a group,
   parx_for and parx_reduce, a counter-based stream, a process pool (fork
   mode) with a job, a map and a timeout, an arena attached three ways, the
   prefetcher over a small file, and a GPU where one is allowed (none is
   fine: -ENODEV). Declarations only; the implementation is parx.c's. */
#define _POSIX_C_SOURCE 200809L /* mkstemp, for the prefetcher's file */
#include "parx.h"
#include "parx_gpu.h"
#include "parx_shm.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failed, tests;

static void check(int ok, const char *what)
{
    tests++;
    if (!ok)
        failed++;
    printf("%s %d - %s\n", ok ? "ok" : "not ok", tests, what);
}

static void deque_api(void)
{
    parx_deque d;
    int a = 1, b = 2;
    int rc = parx_deque_init(&d, 4);
    int pushed = rc == 0 && parx_deque_push(&d, &a) == 0 && parx_deque_push(&d, &b) == 0;
    void *popped = pushed ? parx_deque_pop(&d) : NULL;   /* owner end: the last pushed */
    void *stolen = pushed ? parx_deque_steal(&d) : NULL; /* other end: the first */
    void *empty = pushed ? parx_deque_pop(&d) : &a;
    if (rc == 0)
        parx_deque_destroy(&d);
    check(pushed && popped == &b && stolen == &a && empty == NULL,
          "parx_deque_init/push/pop/steal/destroy");
}

static void add_one(void *arg)
{
    atomic_fetch_add_explicit((_Atomic int *)arg, 1, memory_order_relaxed);
}

static void fill(void *ctx, size_t begin, size_t end)
{
    for (size_t i = begin; i < end; i++)
        ((double *)ctx)[i] = (double)i;
}

static void leaf(void *ctx, size_t begin, size_t end, void *acc)
{
    for (size_t i = begin; i < end; i++)
        *(double *)acc += ((const double *)ctx)[i];
}

static void combine(void *ctx, void *acc, const void *other)
{
    (void)ctx;
    *(double *)acc += *(const double *)other;
}

static void pool_api(void)
{
    enum { N = 10000 };
    static double v[N];
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = 2});
    check(p != NULL && parx_pool_size(p) == 2, "parx_pool_create(.threads = 2), parx_pool_size");
    if (!p)
        return;

    _Atomic int count = 0;
    parx_group g;
    parx_group_init(&g, p);
    int spawned = 0;
    for (int i = 0; i < 100; i++)
        spawned += parx_spawn(&g, add_one, &count) == 0;
    int waited = parx_wait(&g);
    check(spawned == 100 && waited == 0 && atomic_load(&count) == 100,
          "parx_group_init/parx_spawn/parx_wait: 100 tasks run once each");

    int rc = parx_for(p, 0, N, 0, fill, v);
    double zero = 0.0, sum = -1.0;
    int rrc = parx_reduce(p, 0, N, 0, sizeof(double), &zero, leaf, combine, v, &sum);
    check(rc == 0 && rrc == 0 && sum == (double)N * (N - 1) / 2, "parx_for, then parx_reduce");
    parx_pool_destroy(p);

    parx_rng r1 = parx_rng_for(7, 3), r2 = parx_rng_for(7, 3), r3 = parx_rng_for(7, 4);
    uint64_t a = parx_rng_next(&r1), b = parx_rng_next(&r2), c = parx_rng_next(&r3);
    check(a == b && a != c, "parx_rng_for: one stream per (seed, stream)");
}

#ifndef PARX_NO_PROC
static int square(void *arg)
{
    int *x = (int *)arg;
    x[1] = x[0] * x[0];
    return 0;
}

static int hang(void *arg)
{
    (void)arg;
    sleep(60); /* far past .job_timeout: the worker is killed first */
    return 1;
}

static void procs_api(void)
{
    /* the contract's field names, .job_timeout among them (in seconds) */
    parx_procs *pp = parx_procs_create(&(parx_procs_desc){.workers = 2,
                                                          .start = PARX_START_FORK,
                                                          .retries = 1,
                                                          .job_timeout = 0.2,
                                                          .arena_bytes = 4u << 20});
    int err = pp ? 0 : errno;
    check(pp != NULL, "parx_procs_create(desc), fork mode");
    if (!pp) {
        printf("# %s\n", parx_strerror(-err));
        return;
    }
    parx_arena *a = parx_procs_arena(pp);
    int *x = (int *)parx_arena_alloc(a, 8 * 2 * sizeof(int), 0);
    parx_ticket t;
    parx_job_result r;
    memset(&r, 0, sizeof r);
    int ok = x != NULL;
    if (ok) {
        x[0] = 12;
        ok = parx_procs_submit(pp, square, x, &t) == 0 && parx_procs_wait(pp, t, &r) == 0 &&
             r.status == 0 && r.attempts == 1 && x[1] == 144;
    }
    check(ok, "parx_procs_arena, parx_procs_submit, parx_procs_wait");

    void *args[8];
    parx_job_result rs[8];
    for (int i = 0; ok && i < 8; i++) {
        x[2 * i] = i;
        x[2 * i + 1] = -1;
        args[i] = &x[2 * i];
    }
    int failures = ok ? parx_procs_map(pp, square, args, 8, rs) : -1;
    for (int i = 0; failures == 0 && i < 8; i++)
        if (rs[i].status != 0 || x[2 * i + 1] != i * i)
            failures = 1;
    check(failures == 0, "parx_procs_map: 8 jobs, every result in place");

    memset(&r, 0, sizeof r);
    ok = parx_procs_submit(pp, hang, NULL, &t) == 0 && parx_procs_wait(pp, t, &r) == 0;
    check(ok && r.status == -ETIMEDOUT && r.attempts == 2,
          ".job_timeout: a job that hangs is reported -ETIMEDOUT after 1 + .retries attempts");
    parx_procs_destroy(pp);

    pp = parx_procs_create(&(parx_procs_desc){.workers = -1});
    err = errno;
    check(pp == NULL && err == EINVAL, "parx_procs_create: a bad desc is NULL with errno EINVAL");
    parx_procs_destroy(pp);
}
#endif

static void arena_api(void)
{
    char name[64];
    snprintf(name, sizeof name, "/spec-api-%ld", (long)getpid());
    int err = 0;
    parx_arena *a = parx_arena_create(&(parx_arena_desc){.size = 1u << 20, .name = name}, &err);
    check(a != NULL, "parx_arena_create(.size, .name)");
    if (!a) {
        printf("# %s\n", parx_strerror(err));
        return;
    }
    int *p = (int *)parx_arena_alloc(a, 64, 16);
    uint64_t off = p ? parx_arena_offset(a, p) : 0;
    void *back = p ? parx_arena_ptr(a, off) : NULL;
    if (p)
        *p = 42;
    parx_arena *by_name = parx_arena_open(name, &err);
    parx_arena *by_fd = parx_arena_from_fd(parx_arena_fd(a), &err);
    int seen_by_name = by_name && *(int *)parx_arena_ptr(by_name, off) == 42;
    int seen_by_fd = by_fd && *(int *)parx_arena_ptr(by_fd, off) == 42;
    parx_arena_free(a, p); /* the contract's call: its result dropped */
    check(p != NULL && back == p && seen_by_name && seen_by_fd,
          "parx_arena_alloc/offset/ptr/fd, parx_arena_open and parx_arena_from_fd see the block");
    parx_arena_close(by_fd);
    parx_arena_close(by_name);
    parx_arena_close(a);
    parx_arena *gone = parx_arena_open(name, &err);
    check(gone == NULL && err == -ENOENT, "parx_arena_close: the last one out removes the name");
    parx_arena_close(gone);
}

#ifndef PARX_NO_PREFETCH
static void prefetch_api(void)
{
    char path[] = "/tmp/spec-api-XXXXXX";
    int fd = mkstemp(path);
    enum { SIZE = 3 * 4096 + 100 };
    static unsigned char bytes[SIZE];
    for (int i = 0; i < SIZE; i++)
        bytes[i] = (unsigned char)(i * 7 + 1);
    int wrote = fd >= 0 && write(fd, bytes, SIZE) == SIZE;
    if (fd >= 0)
        close(fd);
    if (!wrote) {
        check(0, "a file for the prefetcher");
        if (fd >= 0)
            unlink(path);
        return;
    }
    const char *paths[] = {path};
    int err = 0;
    parx_prefetch *pf = parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                                 .npaths = 1,
                                                                 .chunk_size = 4096,
                                                                 .depth = 2,
                                                                 .direct = false,
                                                                 .backend = PARX_IO_AUTO,
                                                                 .arena = NULL},
                                           &err);
    size_t got = 0;
    int same = pf != NULL, rc = -1;
    parx_chunk c;
    while (pf && (rc = parx_prefetch_next(pf, &c)) == 1) {
        if (c.offset != got || memcmp(c.data, bytes + got, c.size) != 0)
            same = 0;
        got += c.size;
        parx_prefetch_release(pf, &c);
    }
    parx_prefetch_close(pf);
    unlink(path);
    check(same && rc == 0 && got == SIZE,
          "parx_prefetch_open/next/release/close: the file's bytes, in order");
}
#endif

static void gpu_api(void)
{
    int err = 0;
    parx_gpu *g = parx_gpu_open(NULL, &err);
    check(g != NULL || err == -ENODEV, "parx_gpu_open: a device, or -ENODEV (take the CPU path)");
    if (!g) /* a CPU implementation, lavapipe, is used only when asked for */
        g = parx_gpu_open(&(parx_gpu_desc){.device = PARX_GPU_DEVICE_CPU}, &err);
    if (!g) {
        printf("# no Vulkan device, not even a CPU one: %s\n", parx_strerror(err));
        return;
    }
    parx_gpu_buffer *b = parx_gpu_buffer_create(g, 4096, 0, &err);
    void *host = aligned_alloc(4096, 4096);
    parx_gpu_buffer *imported = host ? parx_gpu_buffer_import(g, host, 4096, &err) : NULL;
    static const uint32_t not_spirv[] = {0x12345678u};
    int kerr = 0;
    parx_gpu_kernel *k = parx_gpu_kernel_create(g, not_spirv, sizeof not_spirv, NULL, &kerr);
    parx_gpu_buffer *bufs[] = {b};
    int drc = parx_gpu_dispatch(g, k, bufs, 1, NULL, 0, 1, 1, 1);
    int src = parx_gpu_sync(g);
    check(b != NULL && imported != NULL && k == NULL && kerr == PARX_E_BAD_SPIRV &&
              drc == -EINVAL && src == 0,
          "parx_gpu_buffer_create/import, parx_gpu_kernel_create (bad SPIR-V refused), "
          "parx_gpu_dispatch (no kernel refused), parx_gpu_sync");
    parx_gpu_buffer_destroy(imported);
    parx_gpu_buffer_destroy(b);
    free(host);
    parx_gpu_close(g);
}

int main(void)
{
    deque_api();
    pool_api();
#ifndef PARX_NO_PROC
    procs_api();
#endif
    arena_api();
#ifndef PARX_NO_PREFETCH
    prefetch_api();
#endif
    gpu_api();
    printf("1..%d\n", tests);
    return failed ? 1 : 0;
}
