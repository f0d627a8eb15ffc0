/* SPDX-License-Identifier: MIT */
/* tests/atfork_fail.c -- pthread_atfork refused (ENOMEM) when an object is
   made. Each object that a fork() child must not use relies on a handler
   that pthread_atfork registers at the first create or open. Found in
   review: the pool ignored a refusal, so in every later fork() child its
   loops slept for ever instead of returning -EPERM; the process pool
   latched it, so no process pool could be made again in that process; and
   the prefetcher and the writer registered nothing. Now a refusal fails
   that create or open (-ENOMEM), the next one tries again, and the
   handlers are in place once any of them succeeds.
   This unit implements parx itself, with pthread_atfork renamed to a
   wrapper that refuses when told to. */
#define _GNU_SOURCE
#include <pthread.h>

static int test_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void));
#define pthread_atfork test_atfork
#define PARX_IMPLEMENTATION
#include "parx.h"
#include "parx_gpu.h"
#undef pthread_atfork
#include "parx_test.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int refuse; /* calls to refuse */
static int calls;  /* calls made, refused or not */

static int test_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
    calls++;
    if (refuse > 0) {
        refuse--;
        return ENOMEM;
    }
    return pthread_atfork(prepare, parent, child);
}

static void count_range(void *ctx, size_t b, size_t e)
{
    (void)ctx;
    (void)b;
    (void)e;
}

/* What a fork() child leaves unfreed at its _exit (its copies of the
   parent's objects), held here so that valgrind counts it as reachable,
   not as a leak that would fail the child's exit status. */
static void *volatile kept[2]; /* volatile: stores never read are not dropped */

/* In a fork() child of the pool's creator: parx_for must say -EPERM, not
   sleep for ever (a deadline turns a hang into a failure). */
static void child_loop_refused(parx_pool *p)
{
    kept[0] = p;
    fflush(NULL);
    pid_t c = fork();
    REQUIRE(c >= 0);
    if (c == 0) {
        alarm(20 * time_scale());
        _exit(parx_for(p, 0, 1000, 1, count_range, NULL) == -EPERM ? 0 : 1);
    }
    int st = 0;
    REQUIRE(waitpid(c, &st, 0) == c);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child's parx_for: %s %d",
              WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* One handler serves the pool, the prefetcher and the writer: each of
   them refused makes nothing; once one is made, the others find it. */
static void test_pool_io(void)
{
    refuse = 1;
    errno = 0;
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = 2});
    CHECK(p == NULL);
    CHECK_EQ(errno, ENOMEM);
#ifndef PARX_NO_PREFETCH
    char path[] = "/tmp/parx-atfork-XXXXXX", out[] = "/tmp/parx-atfork-XXXXXX";
    int fd = mkstemp(path), fd2 = mkstemp(out);
    REQUIRE(fd >= 0 && fd2 >= 0);
    REQUIRE(write(fd, "parx", 4) == 4);
    close(fd);
    close(fd2);
    const char *paths[] = {path};
    parx_prefetch_desc pd = {.paths = paths, .npaths = 1, .backend = PARX_IO_THREADS};
    parx_writer_desc wd = {.path = out, .backend = PARX_IO_THREADS};
    int err = 0;
    refuse = 1;
    CHECK(parx_prefetch_open(&pd, &err) == NULL);
    CHECK_EQ(err, -ENOMEM);
    refuse = 1;
    err = 0;
    CHECK(parx_writer_open(&wd, &err) == NULL);
    CHECK_EQ(err, -ENOMEM);
#endif
    int before = calls;
    p = parx_pool_create(&(parx_pool_desc){.threads = 2});
    REQUIRE(p);
    CHECK_EQ(calls - before, 1);
    child_loop_refused(p);
    parx_pool_destroy(p);
#ifndef PARX_NO_PREFETCH
    before = calls;
    parx_prefetch *pf = parx_prefetch_open(&pd, &err);
    parx_writer *w = parx_writer_open(&wd, &err);
    REQUIRE(pf && w);
    CHECK_EQ(calls, before); /* registered by the pool */
    fflush(NULL);
    pid_t c = fork();
    REQUIRE(c >= 0);
    if (c == 0) {
        alarm(20 * time_scale());
        parx_chunk ch;
        int bad = parx_prefetch_next(pf, &ch) != -EPERM;
        bad |= (parx_writer_write(w, "x", 1) != -EPERM) << 1;
        parx_prefetch_close(pf);
        bad |= (parx_writer_close(w) != -EPERM) << 2;
        _exit(bad);
    }
    int st = 0;
    REQUIRE(waitpid(c, &st, 0) == c);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s %d",
              WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    parx_chunk ch;
    CHECK_EQ(parx_prefetch_next(pf, &ch), 1);
    CHECK(ch.size == 4 && memcmp(ch.data, "parx", 4) == 0);
    parx_prefetch_release(pf, &ch);
    parx_prefetch_close(pf);
    CHECK_EQ(parx_writer_write(w, "PARX", 4), 0);
    CHECK_EQ(parx_writer_close(w), 0);
    char got[8] = {0};
    fd = open(out, O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    CHECK_EQ(read(fd, got, sizeof got), 4); /* the parent's bytes alone */
    CHECK(memcmp(got, "PARX", 4) == 0);
    close(fd);
    unlink(path);
    unlink(out);
#endif
}

#ifndef PARX_NO_PROC
static int job_twice(void *arg)
{
    int *v = (int *)arg;
    *v *= 2;
    return 0;
}

/* One registration (the fork lock of the pools' list, and the pid a child
   checks): refused, it fails that create only, each time, tried again by
   the next. */
static void test_procs(void)
{
    parx_procs_desc d = {.workers = 1, .start = PARX_START_FORK};
    for (int round = 0; round < 2; round++) {
        int before = calls;
        refuse = 1;
        errno = 0;
        parx_procs *pp = parx_procs_create(&d);
        CHECK(pp == NULL);
        CHECK_EQ(errno, ENOMEM);
        CHECK_EQ(calls - before, 1);
        refuse = 0;
    }
    parx_procs *pp = parx_procs_create(&d);
    REQUIRE(pp);
    int *v = (int *)parx_arena_alloc(parx_procs_arena(pp), sizeof *v, 0);
    REQUIRE(v);
    *v = 21;
    kept[1] = pp;
    fflush(NULL);
    pid_t c = fork();
    REQUIRE(c >= 0);
    if (c == 0) {
        alarm(20 * time_scale());
        parx_ticket t;
        _exit(parx_procs_submit(pp, job_twice, v, &t) == -EPERM ? 0 : 1);
    }
    int st = 0;
    REQUIRE(waitpid(c, &st, 0) == c);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child's submit: %s %d",
              WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    parx_job_result r;
    CHECK_EQ(parx_procs_map(pp, job_twice, (void **)&v, 1, &r), 0);
    CHECK_EQ(r.status, 0);
    CHECK_EQ(*v, 42);
    parx_procs_destroy(pp);
}
#endif

#ifdef PARX_GPU_VULKAN
static parx_gpu *gpu;   /* opened by test_gpu_refused once asked again, if this machine can */
static int gpu_err;

/* parx_gpu.h registers its own handler (a device's fork count): refused,
   that open fails before it looks for a driver, and the next one asks
   again. Whether a device then opens depends on the machine. */
static void test_gpu_refused(void)
{
    int before = calls, err = 0;
    refuse = 1;
    CHECK(parx_gpu_open(&(parx_gpu_desc){.device = PARX_GPU_DEVICE_CPU}, &err) == NULL);
    CHECK_EQ(err, -ENOMEM);
    CHECK_EQ(calls - before, 1);
    before = calls;
    gpu = parx_gpu_open(&(parx_gpu_desc){.device = PARX_GPU_DEVICE_CPU}, &gpu_err);
    CHECK_EQ(calls - before, 1); /* asked again, not latched */
}

/* With the handler in place, a fork() child's call on the parent's device
   is refused within a deadline (lavapipe's threads are not in the child),
   and the parent's device goes on working. */
static void test_gpu_child(void)
{
    int err = 0;
    parx_gpu_buffer *b = parx_gpu_buffer_create(gpu, 64, 0, &err);
    REQUIRE(b);
    kept[0] = gpu;
    kept[1] = b;
    fflush(NULL);
    pid_t c = fork();
    REQUIRE(c >= 0);
    if (c == 0) {
        alarm(30 * time_scale());
        float x[16] = {0};
        _exit(parx_gpu_upload(gpu, b, 0, x, sizeof x) == -EPERM ? 0 : 1);
    }
    int st = 0;
    REQUIRE(waitpid(c, &st, 0) == c);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child's upload: %s %d",
              WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    float x[16], y[16] = {0};
    for (int i = 0; i < 16; i++) x[i] = (float)i;
    CHECK_EQ(parx_gpu_upload(gpu, b, 0, x, sizeof x), 0);
    CHECK_EQ(parx_gpu_download(gpu, b, 0, y, sizeof y), 0);
    CHECK_MEMEQ(x, y, sizeof x);
    parx_gpu_buffer_destroy(b);
}
#endif

/* No argument: the pool, the I/O objects and the process pool. "gpu":
   parx_gpu.h alone, in a run of its own (it loads the Vulkan driver, which
   the sanitizer and valgrind runs treat apart: meson suite 'gpu'). */
int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "gpu") == 0) {
#ifdef PARX_GPU_VULKAN
        pt_run("GPU device: a refusal fails one open only, the next asks again", test_gpu_refused);
        const char *child = "GPU device: a fork() child's upload -EPERM, the parent's works";
        if (gpu) {
            pt_run(child, test_gpu_child);
            parx_gpu_close(gpu);
        } else {
            char why[160];
            snprintf(why, sizeof why, "no Vulkan CPU device (lavapipe) here: %s",
                     parx_strerror(gpu_err));
            pt_skip(child, why);
        }
#else
        pt_skip_all("built without PARX_GPU_VULKAN");
#endif
        return pt_done_testing();
    }
    pt_run("pool, prefetcher, writer: each refused (ENOMEM), then a child's copy -EPERM",
           test_pool_io);
#ifndef PARX_NO_PROC
    pt_run("process pool: a refusal fails one create only; a child's submit -EPERM", test_procs);
#endif
    return pt_done_testing();
}
