/* Shared by tests that make the kernel refuse a system call for real
   (tests/prefetch_fallback.c: io_uring; tests/run.c: clone, so that no
   thread or process can start; tests/shm.c: unlink, killing the caller):
   a seccomp filter in raw BPF, installed with PR_SET_NO_NEW_PRIVS +
   PR_SET_SECCOMP. It cannot be taken back, so tests install it in a forked
   child. Filters stack: call refuse_syscall (or seccomp_on_syscall) once
   per call to refuse. TEST_AUDIT_ARCH is left undefined on machines the
   tests do not know the audit constant of; refuse_syscall then says
   -ENOTSUP.

   Each including file defines _GNU_SOURCE before any include. */
#ifndef PARX_TEST_SECCOMP_COMMON_H
#define PARX_TEST_SECCOMP_COMMON_H

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* From now on, in this process and its children: system call `nr` gets
   seccomp's `action` (SECCOMP_RET_ERRNO | errno, SECCOMP_RET_KILL_PROCESS,
   ...); everything else is allowed. Returns 0 or -errno. */
static inline int seccomp_on_syscall(long nr, unsigned action)
{
#ifdef TEST_AUDIT_ARCH
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, action),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof *f), f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -errno;
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0)
        return -errno;
    return 0;
#else
    (void)nr;
    (void)action;
    return -ENOTSUP;
#endif
}

/* System call `nr` fails with errno `err`. Returns 0 or -errno. */
static inline int refuse_syscall(long nr, int err)
{
    return seccomp_on_syscall(nr, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA));
}

#endif /* PARX_TEST_SECCOMP_COMMON_H */
