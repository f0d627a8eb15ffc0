/* SPDX-License-Identifier: MIT */
/* tests/errors.c -- every bad argument gets its documented error code, and
   parx_strerror names every code. Nothing here may print, abort or crash
   (SPEC.md, "Errors"). Each expectation quotes the header's comment. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "parx.h"
#include "parx_test.h"

static void nop_task(void *arg) { (void)arg; }
static void nop_range(void *ctx, size_t b, size_t e) { (void)ctx, (void)b, (void)e; }
static void nop_leaf(void *ctx, size_t b, size_t e, void *acc)
{
    (void)ctx, (void)b, (void)e, (void)acc;
}
static void nop_combine(void *ctx, void *acc, const void *o) { (void)ctx, (void)acc, (void)o; }
static void *my_alloc(size_t size, void *user) { (void)size, (void)user; return NULL; }
static void my_free(void *ptr, void *user) { (void)ptr, (void)user; }

/* "Returns the pool, or NULL with errno set: EINVAL (threads < 0 or > 4096,
   or only one of alloc/free given)" */
static void create_fails(const parx_pool_desc *d, int want_errno, const char *what)
{
    errno = 0;
    parx_pool *p = parx_pool_create(d);
    int e = errno;
    CHECK_MSG(p == NULL, "%s: parx_pool_create succeeded", what);
    CHECK_MSG(e == want_errno, "%s: errno %d (%s), want %d", what, e, strerror(e), want_errno);
    if (p)
        parx_pool_destroy(p);
}

static void test_pool_create(void)
{
    create_fails(&(parx_pool_desc){.threads = -1}, EINVAL, "threads -1");
    create_fails(&(parx_pool_desc){.threads = -1000000}, EINVAL, "threads -1000000");
    create_fails(&(parx_pool_desc){.threads = 4097}, EINVAL, "threads 4097");
    create_fails(&(parx_pool_desc){.threads = 2, .alloc = my_alloc}, EINVAL, "alloc without free");
    create_fails(&(parx_pool_desc){.threads = 2, .free = my_free}, EINVAL, "free without alloc");
    /* the limit itself is fine on paper; not started here (4096 threads) */
}

static void test_pool_size_stats(void)
{
    CHECK_EQ(parx_pool_size(NULL), -EINVAL);
    parx_worker_stats st[2];
    CHECK_EQ(parx_pool_stats(NULL, st, 2), -EINVAL);
    CHECK_EQ(parx_pool_stats(NULL, NULL, 0), -EINVAL);
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = 2});
    REQUIRE(p != NULL);
    CHECK_EQ(parx_pool_stats(p, NULL, 1), -EINVAL); /* out NULL with n > 0 */
    CHECK_EQ(parx_pool_stats(p, st, -1), -EINVAL);  /* n < 0 */
    CHECK_EQ(parx_pool_stats(p, NULL, -1), -EINVAL);
    CHECK_EQ(parx_pool_stats(p, NULL, 0), 2);
    CHECK_EQ(parx_pool_stats(p, st, 2), 2);
    parx_pool_destroy(p);
    parx_pool_destroy(NULL); /* "NULL is ignored" */
}

static void test_spawn_wait_args(void)
{
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = 2});
    REQUIRE(p != NULL);
    parx_group g;
    parx_group_init(&g, p);
    CHECK_EQ(parx_spawn(NULL, nop_task, NULL), -EINVAL);
    CHECK_EQ(parx_spawn(&g, NULL, NULL), -EINVAL);
    CHECK_EQ(parx_wait(NULL), -EINVAL);
    /* the group still works after the rejected calls */
    CHECK_EQ(parx_spawn(&g, nop_task, NULL), 0);
    int rc = parx_wait(&g);
    CHECK_MSG(rc == 0 || rc == -EINVAL,
              "wait after a rejected spawn returned %d (%s)", rc, parx_strerror(rc));
    CHECK_EQ(parx_spawn(&g, nop_task, NULL), 0);
    CHECK_EQ(parx_wait(&g), 0);
    parx_pool_destroy(p);
}

/* "called with NULL outside any pool, every spawn into g fails with
   PARX_E_NOT_WORKER"; parx_wait "Returns 0, or the first error recorded by a
   failed spawn into g since the last wait" */
static void test_not_worker(void)
{
    CHECK_EQ(parx_worker_index(NULL), -1);
    parx_group g;
    parx_group_init(&g, NULL);
    CHECK_EQ(parx_spawn(&g, nop_task, NULL), PARX_E_NOT_WORKER);
    CHECK_EQ(parx_spawn(&g, nop_task, NULL), PARX_E_NOT_WORKER);
    CHECK_EQ(parx_wait(&g), PARX_E_NOT_WORKER);
    CHECK_EQ(parx_wait(&g), 0); /* reported once: "since the last wait" */
    CHECK_EQ(parx_spawn(&g, NULL, NULL), -EINVAL);
    CHECK(PARX_E_NOT_WORKER < 0);
}

/* "-EINVAL (p or fn NULL, begin > end)" */
static void test_for_args(void)
{
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = 2});
    REQUIRE(p != NULL);
    CHECK_EQ(parx_for(NULL, 0, 10, 0, nop_range, NULL), -EINVAL);
    CHECK_EQ(parx_for(p, 0, 10, 0, NULL, NULL), -EINVAL);
    CHECK_EQ(parx_for(p, 11, 10, 0, nop_range, NULL), -EINVAL);
    CHECK_EQ(parx_for(p, SIZE_MAX, 0, 1, nop_range, NULL), -EINVAL);
    CHECK_EQ(parx_for(NULL, 5, 5, 0, nop_range, NULL), -EINVAL); /* empty, but no pool */
    CHECK_EQ(parx_for(p, 5, 5, 0, nop_range, NULL), 0);
    parx_pool_destroy(p);
}

/* "-EINVAL (p, identity, leaf, combine or result NULL, acc_size 0,
   begin > end)" */
static void test_reduce_args(void)
{
    parx_pool *p = parx_pool_create(&(parx_pool_desc){.threads = 2});
    REQUIRE(p != NULL);
    double id = 0.0, r = 0.0;
    CHECK_EQ(parx_reduce(NULL, 0, 10, 0, sizeof r, &id, nop_leaf, nop_combine, NULL, &r), -EINVAL);
    CHECK_EQ(parx_reduce(p, 0, 10, 0, sizeof r, NULL, nop_leaf, nop_combine, NULL, &r), -EINVAL);
    CHECK_EQ(parx_reduce(p, 0, 10, 0, sizeof r, &id, NULL, nop_combine, NULL, &r), -EINVAL);
    CHECK_EQ(parx_reduce(p, 0, 10, 0, sizeof r, &id, nop_leaf, NULL, NULL, &r), -EINVAL);
    CHECK_EQ(parx_reduce(p, 0, 10, 0, sizeof r, &id, nop_leaf, nop_combine, NULL, NULL), -EINVAL);
    CHECK_EQ(parx_reduce(p, 0, 10, 0, 0, &id, nop_leaf, nop_combine, NULL, &r), -EINVAL);
    CHECK_EQ(parx_reduce(p, 11, 10, 0, sizeof r, &id, nop_leaf, nop_combine, NULL, &r), -EINVAL);
    /* bad arguments on an empty range are still bad */
    CHECK_EQ(parx_reduce(p, 3, 3, 0, 0, &id, nop_leaf, nop_combine, NULL, &r), -EINVAL);
    CHECK_EQ(parx_reduce(p, 3, 3, 0, sizeof r, &id, nop_leaf, nop_combine, NULL, NULL), -EINVAL);
    CHECK_EQ(parx_reduce(p, 3, 3, 0, sizeof r, &id, nop_leaf, nop_combine, NULL, &r), 0);
    parx_pool_destroy(p);
}

/* "Returns 0, -EINVAL (d NULL, or a hint too large to allocate), -ENOMEM";
   push: "-EINVAL (item NULL)" */
static void test_deque_args(void)
{
    CHECK_EQ(parx_deque_init(NULL, 0), -EINVAL);
    parx_deque d;
    memset(&d, 0, sizeof d);
    CHECK_EQ(parx_deque_init(&d, SIZE_MAX), -EINVAL);
    memset(&d, 0, sizeof d);
    int rc = parx_deque_init(&d, SIZE_MAX / 4);
    CHECK_MSG(rc == -EINVAL || rc == -ENOMEM, "hint SIZE_MAX/4: %d (%s)", rc, parx_strerror(rc));
    if (rc == 0)
        parx_deque_destroy(&d);
    memset(&d, 0, sizeof d);
    REQUIRE(parx_deque_init(&d, 0) == 0);
    CHECK_EQ(parx_deque_push(&d, NULL), -EINVAL);
    CHECK_EQ_U(parx_deque_size(&d), 0);
    parx_deque_destroy(&d);
}

static int is_unknown(const char *s)
{
    return s && strcmp(s, "unknown error") == 0;
}

static void test_strerror(void)
{
    /* 0, every PARX_E_* code, and the errno codes parx's functions return */
    const int codes[] = {0,
                         PARX_E_NOT_WORKER,
                         PARX_E_NOT_ARENA,
                         PARX_E_ARENA_VERSION,
                         PARX_E_TRUNCATED,
                         PARX_E_CRASHED,
                         PARX_E_EXITED,
                         PARX_E_UNKNOWN_FN,
                         PARX_E_PROCS_BROKEN,
                         PARX_E_SPAWN,
                         PARX_E_DEVICE_LOST,
                         PARX_E_BAD_SPIRV,
                         -EINVAL,
                         -ENOMEM,
                         -EAGAIN,
                         -EPERM,
                         -ENOENT,
                         -E2BIG,
                         -EBADF,
                         -EBADMSG,
                         -EIO,
                         -ENXIO,
                         -ECHILD,
                         -EDEADLK,
                         -EACCES,
                         -EFAULT,
                         -EBUSY,
                         -EEXIST,
                         -ENODEV,
                         -EISDIR,
                         -EMFILE,
                         -EFBIG,
                         -ENOSPC,
                         -ESPIPE,
                         -ENAMETOOLONG,
                         -ECONNRESET,
                         -EUSERS,
                         -ERANGE,
                         -ENOSYS,
                         -EOPNOTSUPP,
                         -ETIMEDOUT,
                         -ECANCELED,
                         -EOVERFLOW};
    const char *seen[sizeof codes / sizeof codes[0]];
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *s = parx_strerror(codes[i]);
        seen[i] = s;
        if (!CHECK_MSG(s != NULL, "parx_strerror(%d) is NULL", codes[i]))
            continue;
        CHECK_MSG(s[0] != '\0', "parx_strerror(%d) is empty", codes[i]);
        CHECK_MSG(!is_unknown(s), "parx_strerror(%d) = \"%s\"", codes[i], s);
        for (size_t j = 0; j < i; j++)
            CHECK_MSG(!seen[j] || strcmp(s, seen[j]) != 0,
                      "parx_strerror(%d) and parx_strerror(%d) are both \"%s\"", codes[i],
                      codes[j], s);
    }
    pt_diag("e.g. %d: \"%s\"; %d: \"%s\"; PARX_E_NOT_WORKER: \"%s\"", -EINVAL,
            parx_strerror(-EINVAL), -ETIMEDOUT, parx_strerror(-ETIMEDOUT),
            parx_strerror(PARX_E_NOT_WORKER));
    /* nonsense codes */
    const int nonsense[] = {123456789, -123456789, PARX_E_BASE - 500, PARX_E_NOT_WORKER - 1234,
                            INT32_MIN};
    for (size_t i = 0; i < sizeof nonsense / sizeof nonsense[0]; i++) {
        const char *s = parx_strerror(nonsense[i]);
        CHECK_MSG(is_unknown(s), "parx_strerror(%d) = \"%s\", want \"unknown error\"",
                  nonsense[i], s ? s : "(null)");
    }
}

int main(void)
{
    pt_plan(8);
    pt_run("parx_pool_create: threads < 0 or > 4096, alloc without free -> NULL, errno EINVAL",
           test_pool_create);
    pt_run("parx_pool_size(NULL), parx_pool_stats bad arguments -> -EINVAL",
           test_pool_size_stats);
    pt_run("parx_spawn NULL group / NULL fn, parx_wait NULL -> -EINVAL", test_spawn_wait_args);
    pt_run("group with NULL pool outside any pool -> PARX_E_NOT_WORKER, reported by wait once",
           test_not_worker);
    pt_run("parx_for bad arguments -> -EINVAL", test_for_args);
    pt_run("parx_reduce bad arguments -> -EINVAL", test_reduce_args);
    pt_run("parx_deque_init / parx_deque_push bad arguments -> -EINVAL", test_deque_args);
    pt_run("parx_strerror names every code, \"unknown error\" for nonsense", test_strerror);
    return pt_done_testing();
}
