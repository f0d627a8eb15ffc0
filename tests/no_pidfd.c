/* SPDX-License-Identifier: MIT */
/* tests/no_pidfd.c -- run a test binary as on a kernel without pidfds
   (Linux before 5.3, e.g. RHEL 8's 4.18): pidfd_open fails with ENOSYS
   for the program and every process it starts (a seccomp filter, which
   exec keeps). The process pool then falls back to its socket, getppid()
   and polling; tests/meson.build runs procs, procs_crash, procs_parent and
   procs_caller this way too.

       no_pidfd PROGRAM [ARGS...]

   Prints `1..0 # SKIP` where the tests have no filter for this machine. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "seccomp_common.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: no_pidfd PROGRAM [ARGS...]\n");
        return 2;
    }
    int rc = refuse_syscall(SYS_pidfd_open, ENOSYS);
    if (rc == -ENOTSUP) {
        printf("1..0 # SKIP no seccomp filter for this architecture in the tests\n");
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "no_pidfd: seccomp: %s\n", strerror(-rc));
        return 2;
    }
    execv(argv[1], argv + 1);
    perror("no_pidfd: exec");
    return 2;
}
