/* tests/prefetch_fallback.c -- io_uring refused for real: in a forked child
   a seccomp filter (raw BPF, PR_SET_NO_NEW_PRIVS + PR_SET_SECCOMP) makes
   io_uring_setup fail with EPERM (what Docker's default profile does) or
   ENOSYS (a kernel without io_uring). PARX_IO_AUTO must fall back to the
   thread backend, say why, log it, and deliver the same bytes as the parent
   read; PARX_IO_URING must fail with the filter's error; the writer must
   fall back too. This runs whether or not io_uring works in the parent, so
   CI exercises the fallback on every machine. */
#define _GNU_SOURCE
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "io_common.h"

#if defined(__x86_64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425 /* the same number on every architecture */
#endif

static const uint64_t file_size = 2500000 + 123;
static uint64_t parent_fnv;

/* io_uring_setup -> errno `err`; everything else allowed. */
static int refuse_io_uring(int err)
{
#ifdef TEST_AUDIT_ARCH
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof *f), f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -errno;
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0)
        return -errno;
    return 0;
#else
    (void)err;
    return -ENOTSUP;
#endif
}

static char logged[512];
static void capture_log(parx_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level == PARX_LOG_INFO && strstr(msg, "io_uring"))
        snprintf(logged, sizeof logged, "%s", msg);
}

/* In the child: returns the number of failed checks (its exit status). */
static int child_checks(int err)
{
    int bad = 0;
#define CCHECK(c, ...)                                                                             \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            CHILD_DIAG("child (errno %d): CHECK(%s) failed", err, #c);                             \
            CHILD_DIAG(__VA_ARGS__);                                                               \
            bad++;                                                                                 \
        }                                                                                          \
    } while (0)
    int rc = refuse_io_uring(err);
    CCHECK(rc == 0, "%s", parx_strerror(rc));
    if (rc)
        return bad;
    long r = syscall(__NR_io_uring_setup, 4, NULL);
    CCHECK(r == -1 && errno == err, "io_uring_setup gave %ld, errno %d", r, errno);

    parx_set_log(capture_log, NULL);
    const char *paths[1] = {io_path("data")};
    uint32_t seed = 77;
    for (int direct = 0; direct < 2; direct++) {
        logged[0] = '\0';
        parx_prefetch *pf = parx_prefetch_open(
            &(parx_prefetch_desc){
                .paths = paths, .npaths = 1, .chunk_size = 100000, .direct = direct},
            NULL);
        CCHECK(pf != NULL, "open");
        if (!pf)
            continue;
        const char *why = "";
        CCHECK(parx_prefetch_backend(pf, &why) == PARX_IO_THREADS, "%s", why);
        CCHECK(strstr(why, "io_uring_setup failed") && strstr(why, strerror(err)), "why: %s", why);
#ifndef PARX_NO_URING
        CCHECK(strstr(logged, "io_uring_setup failed") != NULL, "logged: '%s'", logged);
#endif
        io_result res = io_drain(pf, &seed, NULL);
        CCHECK(res.rc == 0 && res.bad == 0 && res.bytes == file_size && res.fnv == parent_fnv,
               "rc %d, %d bad, %llu bytes", res.rc, res.bad, (unsigned long long)res.bytes);
        parx_prefetch_close(pf);
    }
    int e = 0;
    parx_prefetch *pf = parx_prefetch_open(
        &(parx_prefetch_desc){.paths = paths, .npaths = 1, .backend = PARX_IO_URING}, &e);
    CCHECK(pf == NULL, "PARX_IO_URING must fail");
#ifdef PARX_NO_URING
    CCHECK(e == -EOPNOTSUPP, "err %d", e);
#else
    CCHECK(e == -err, "err %d", e);
#endif
    parx_prefetch_close(pf);

    /* the writer: falls back, writes the same bytes */
    unsigned char *buf = (unsigned char *)malloc(300000);
    io_fill(buf, 300000, 78, 0);
    parx_writer *w = parx_writer_open(&(parx_writer_desc){.path = io_path("written")}, NULL);
    CCHECK(w != NULL, "writer open");
    if (w) {
        const char *why = "";
        CCHECK(parx_writer_backend(w, &why) == PARX_IO_THREADS, "%s", why);
        CCHECK(parx_writer_write(w, buf, 100000) == 0, "write");
        CCHECK(parx_writer_write(w, buf + 100000, 200000) == 0, "write");
        CCHECK(parx_writer_close(w) == 0, "close");
        int fd = open(io_path("written"), O_RDONLY | O_CLOEXEC);
        unsigned char *back = (unsigned char *)calloc(1, 300001);
        ssize_t n = fd >= 0 ? pread(fd, back, 300001, 0) : -1;
        CCHECK(n == 300000 && memcmp(back, buf, 300000) == 0, "read back %zd bytes", n);
        if (fd >= 0)
            close(fd);
        free(back);
    }
    e = 0;
    w = parx_writer_open(&(parx_writer_desc){.path = io_path("written"), .backend = PARX_IO_URING},
                         &e);
    CCHECK(w == NULL, "PARX_IO_URING writer must fail");
    free(buf);
    parx_set_log(NULL, NULL);
    return bad;
#undef CCHECK
}

static void run_refused(int err)
{
#ifndef TEST_AUDIT_ARCH
    PT_SKIP("no seccomp architecture constant for this machine in the test");
#endif
    pid_t pid = xfork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int bad = child_checks(err);
        fflush(stdout);
        _exit(bad > 100 ? 100 : bad);
    }
    expect_child(pid, 0, 0);
}

static void test_eperm(void)
{
    run_refused(EPERM);
}

static void test_enosys(void)
{
    run_refused(ENOSYS);
}

/* The parent reads the file with whatever backend it gets: the reference. */
static void test_parent(void)
{
    const char *paths[1] = {io_path("data")};
    uint32_t seed = 77;
    parx_prefetch *pf =
        parx_prefetch_open(&(parx_prefetch_desc){.paths = paths, .npaths = 1}, NULL);
    REQUIRE(pf != NULL);
    const char *why;
    parx_prefetch_backend(pf, &why);
    pt_diag("the parent reads with %s", why);
    io_result r = io_drain(pf, &seed, NULL);
    CHECK(r.rc == 0 && r.bad == 0 && r.bytes == file_size);
    parent_fnv = r.fnv;
    CHECK_EQ_U(parent_fnv, io_fnv_pattern(IO_FNV_INIT, 77, 0, file_size));
    parx_prefetch_close(pf);
}

int main(void)
{
    io_dir("fallback");
    if (!io_make_file(io_path("data"), file_size, 77)) {
        pt_skip_all("cannot write the test file");
    }
    run_guarded("the parent's read: the reference bytes", test_parent);
    run_guarded("io_uring_setup refused with EPERM by seccomp: threads, same bytes", test_eperm);
    run_guarded("io_uring_setup refused with ENOSYS by seccomp: threads, same bytes", test_enosys);
    io_dir_remove();
    return pt_done_testing();
}
