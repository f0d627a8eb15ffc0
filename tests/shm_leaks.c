/* SPDX-License-Identifier: MIT */
/* tests/shm_leaks.c -- run last (meson: lowest priority, not in parallel):
   after every other test, nothing of parx's is left behind.
   - no "parx-*" entry in /dev/shm that no live process holds (a leaked name);
   - no such entry held by a process of this build's test programs (a test's
     child still running), and no such process left at all.
   An entry held by some other live process (a program of someone else's
   using parx right now) is only reported. Leaked names are removed once
   reported, so that a second run judges only itself. */
#define _GNU_SOURCE /* readlink's companions, strsignal */
#include <dirent.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "parx_shm.h"
#include "parx_test.h"
#include "shm_common.h"

static char build_dir[PATH_MAX];

static int in_build_dir(const char *path)
{
    size_t len = strlen(build_dir);
    return strncmp(path, build_dir, len) == 0 && path[len] == '/' &&
           strchr(path + len + 1, '/') == NULL;
}

/* whether process `pid` runs a program from this build's tests directory,
   directly or under a wrapper (valgrind: its arguments name the program) */
static int ours(long pid)
{
    char path[64], buf[PATH_MAX];
    snprintf(path, sizeof path, "/proc/%ld/exe", pid);
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    if (n > 0) {
        buf[n] = '\0';
        if (in_build_dir(buf))
            return 1;
    }
    snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
    long got = pt_read_file(path, buf, sizeof buf);
    for (long i = 0; i < got; i += (long)strlen(buf + i) + 1)
        if (in_build_dir(buf + i))
            return 1;
    return 0;
}

static void test_no_names_left(void)
{
    shm_list l = shm_list_now();
    if (l.n < 0) {
        shm_list_free(&l);
        PT_SKIP("cannot read /dev/shm");
    }
    int leaked = 0, foreign = 0;
    for (int i = 0; i < l.n; i++) {
        const char *name = l.name[i];
        int self = 0, others = 0;
        shm_holders(name, &self, &others);
        if (!shm_exists(name))
            continue; /* removed meanwhile by whoever owned it */
        if (others == 0 && self == 0) {
            leaked++;
            CHECK_MSG(0, "/dev/shm/%s is left behind, held by no process", name);
            char path[300];
            snprintf(path, sizeof path, "/%s", name);
            shm_unlink(path);
        } else {
            foreign++;
            pt_diag("/dev/shm/%s is held by %d live process(es): in use, not a leak", name,
                    others + self);
        }
    }
    pt_diag("%d parx-* entries in /dev/shm: %d leaked, %d in use by live processes", l.n, leaked,
            foreign);
    shm_list_free(&l);
}

static void test_no_test_processes_left(void)
{
    DIR *proc = opendir("/proc");
    REQUIRE(proc != NULL);
    struct dirent *pe;
    long me = (long)getpid(), parent = (long)getppid();
    int left = 0;
    while ((pe = readdir(proc)) != NULL) {
        char *end;
        long pid = strtol(pe->d_name, &end, 10);
        if (*end != '\0' || pid <= 0 || pid == me || pid == parent)
            continue;
        if (ours(pid)) {
            char path[64], comm[64] = "";
            snprintf(path, sizeof path, "/proc/%ld/comm", pid);
            FILE *f = fopen(path, "re");
            if (f) {
                if (fgets(comm, sizeof comm, f))
                    comm[strcspn(comm, "\n")] = '\0';
                fclose(f);
            }
            left++;
            CHECK_MSG(0, "process %ld (%s), a test program of this build, is still running", pid,
                      comm);
        }
    }
    closedir(proc);
    if (left == 0)
        pt_diag("no test program of %s is running", build_dir);
}

int main(int argc, char **argv)
{
    (void)argc;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        snprintf(build_dir, sizeof build_dir, "%s", dirname(exe));
    } else {
        snprintf(build_dir, sizeof build_dir, "%s", dirname(argv[0]));
    }
    pt_run("nothing named parx-* is left in /dev/shm", test_no_names_left);
    pt_run("no test process of this build is left running", test_no_test_processes_left);
    return pt_done_testing();
}
