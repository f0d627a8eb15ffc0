/* SPDX-License-Identifier: MIT */
/* tests/cpus.c -- "one per CPU" counts the CPUs this process may use: its
   affinity mask and, under a cgroup CPU limit, no more than the limit
   rounded up (>>threads in parx.h). Before, a pool in a container limited
   to 2 CPUs of a 64-CPU machine started 64 threads, which spent the quota in
   a 32nd of each period and then all waited.
   - In a real cgroup where this machine lets root make one (cgroup v1's cpu
     hierarchy, or v2 with the cpu controller): a child process moved into
     a cgroup limited to half a CPU, and into a cgroup below it with no limit
     of its own, gets a default pool of one thread, a default process pool of
     one worker and a probe of one CPU.
   - The parsing of /proc/self/cgroup and /proc/self/mountinfo, on files
     made here: v1 and v2, limits at several levels, "max", -1, a mount
     whose root is the cgroup's own path (a container without a cgroup
     namespace), a path outside the mount's root, controllers that are not
     "cpu", two mounts of a hierarchy (a bind of a subtree first; two at one
     point, the later hiding the earlier), mountinfo's escapes (\040),
     periods other than 100 ms, a limit past an int (found in review).
   This unit implements parx itself to reach parx__cgroup_cpus. */
#define _GNU_SOURCE
#define PARX_IMPLEMENTATION
#include "parx.h"
#include "parx_test.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmp[256]; /* this test's scratch directory */

static int put(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    size_t n = strlen(text);
    int rc = write(fd, text, n) == (ssize_t)n ? 0 : -errno;
    close(fd);
    return rc;
}

/* Makes every directory of tmp/rel (mkdir -p). */
static void mkdirs(const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmp, rel);
    for (char *s = p + strlen(tmp) + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0755);
            *s = '/';
        }
    mkdir(p, 0755);
}

/* Writes tmp/rel (its directories made first). */
static void file(const char *rel, const char *text)
{
    char p[512], dir[200];
    snprintf(p, sizeof p, "%s/%s", tmp, rel);
    snprintf(dir, sizeof dir, "%s", rel);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        mkdirs(dir);
    }
    CHECK_EQ(put(p, text), 0);
}

/* parx__cgroup_cpus on a cgroup file of `cgroup` and a mountinfo of
   `mounts`, in which "@" stands for the scratch directory. */
static int cpus_of(const char *cgroup, const char *mounts)
{
    char cg[512], mi[512], text[4096] = "";
    snprintf(cg, sizeof cg, "%s/cgroup", tmp);
    snprintf(mi, sizeof mi, "%s/mountinfo", tmp);
    size_t o = 0;
    for (const char *s = mounts; *s && o + 256 < sizeof text; s++)
        o += *s == '@' ? (size_t)snprintf(text + o, sizeof text - o, "%s", tmp)
                       : (size_t)snprintf(text + o, sizeof text - o, "%c", *s);
    CHECK_EQ(put(cg, cgroup), 0);
    CHECK_EQ(put(mi, text), 0);
    return parx__cgroup_cpus(cg, mi);
}

static void rm_rf(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) pt_diag("could not remove %s", path);
}

static void test_parse_v2(void)
{
    char d[300];
    snprintf(d, sizeof d, "%s/v2", tmp);
    rm_rf(d);
    const char *mounts = "24 23 0:22 / /proc rw - proc proc rw\n"
                         "30 23 0:26 / @/v2 rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
    /* the limit one level up binds; the cgroup's own "max" does not lift it */
    file("v2/a/cpu.max", "150000 100000\n");
    file("v2/a/b/cpu.max", "max 100000\n");
    CHECK_EQ(cpus_of("0::/a/b\n", mounts), 2);
    /* the tighter of two levels, the deeper one here */
    file("v2/a/cpu.max", "400000 100000\n");
    file("v2/a/b/cpu.max", "50000 100000\n");
    CHECK_EQ(cpus_of("0::/a/b\n", mounts), 1);
    /* a whole number of CPUs is not rounded up */
    file("v2/a/b/cpu.max", "300000 100000\n");
    CHECK_EQ(cpus_of("0::/a/b\n", mounts), 3);
    /* "max" everywhere, and no cpu.max at all (controller not enabled) */
    file("v2/a/cpu.max", "max 100000\n");
    file("v2/a/b/cpu.max", "max 100000\n");
    CHECK_EQ(cpus_of("0::/a/b\n", mounts), 0);
    CHECK_EQ(cpus_of("0::/a/none\n", mounts), 0);
    /* the root cgroup: the mount point itself */
    file("v2/cpu.max", "200000 100000\n");
    CHECK_EQ(cpus_of("0::/\n", mounts), 2);
    CHECK_EQ(cpus_of("0::/a/b\n", mounts), 2);
    /* a path that only starts like the mount's root is outside it */
    CHECK_EQ(cpus_of("0::/ab\n", "30 23 0:26 /a @/v2/a rw - cgroup2 cgroup2 rw\n"), 0);
    /* periods other than 100 ms; a limit no machine could meet is kept as
       1 << 20 CPUs (4294967297 CPUs would read as 1 in an int) */
    file("v2/cpu.max", "150000 50000\n");
    CHECK_EQ(cpus_of("0::/\n", mounts), 3);
    file("v2/cpu.max", "4294967297000 1000\n");
    CHECK_EQ(cpus_of("0::/\n", mounts), 1 << 20);
    /* a file above the mount point is not the hierarchy's */
    file("cpu.max", "100000 100000\n");
    file("v2/cpu.max", "max 100000\n");
    CHECK_EQ(cpus_of("0::/a/b\n", mounts), 0);
    /* a mount point and a root with a space, as mountinfo writes them */
    file("v2 sp/job/cpu.max", "50000 100000\n");
    CHECK_EQ(cpus_of("0::/job\n", "30 23 0:26 / @/v2\\040sp rw - cgroup2 cgroup2 rw\n"), 1);
    CHECK_EQ(cpus_of("0::/my job/x\n",
                     "30 23 0:26 /my\\040job @/v2\\040sp/job rw - cgroup2 cgroup2 rw\n"),
             1);
    /* two mounts of the hierarchy: a bind of a subtree listed first (it
       shows fewer ancestors), then the whole */
    file("v2/x/cpu.max", "100000 100000\n");
    CHECK_EQ(cpus_of("0::/x/a/b\n", "60 23 0:26 /x/a @/v2/x/a rw - cgroup2 cgroup2 rw\n"
                                    "30 23 0:26 / @/v2 rw - cgroup2 cgroup2 rw\n"),
             1);
    /* two mounts at one point: the later hides the earlier, whose files
       would be read through it (here: "/a" of the earlier mount, the
       tighter figure, is not this process's cgroup) */
    file("v2/a/cpu.max", "100000 100000\n");
    file("v2/x/cpu.max", "200000 100000\n");
    CHECK_EQ(cpus_of("0::/x/a\n", "60 23 0:26 /x @/v2 rw - cgroup2 cgroup2 rw\n"
                                  "61 23 0:26 / @/v2 rw - cgroup2 cgroup2 rw\n"),
             2);
    /* garbage in the files: no limit, no crash */
    file("v2/cpu.max", "lots\n");
    CHECK_EQ(cpus_of("0::/\n", mounts), 0);
    CHECK_EQ(cpus_of("", mounts), 0);
    CHECK_EQ(cpus_of("0::/\n", ""), 0);
    CHECK_EQ(cpus_of("no colons\n::\n0:\n", mounts), 0);
    CHECK_EQ(cpus_of("0::/\n", "garbage\n - \n1 2 3\n"), 0);
}

static void test_parse_v1(void)
{
    char d[300];
    snprintf(d, sizeof d, "%s/v1", tmp);
    rm_rf(d);
    /* a container without a cgroup namespace: the mount's root is the
       container's own cgroup, which is the mount point */
    const char *docker =
        "32 31 0:29 /docker/abc @/v1/cpu,cpuacct ro - cgroup cgroup rw,cpu,cpuacct\n";
    file("v1/cpu,cpuacct/cpu.cfs_quota_us", "250000\n");
    file("v1/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
    CHECK_EQ(cpus_of("5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n", docker), 3);
    file("v1/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
    CHECK_EQ(cpus_of("4:cpu,cpuacct:/docker/abc\n", docker), 0);
    /* nested on a host's hierarchy; a controller named cpuacct or cpuset is
       not cpu */
    const char *host = "33 31 0:30 / @/v1/cpuacct rw - cgroup cgroup rw,cpuacct\n"
                       "34 31 0:31 / @/v1/cpuset rw - cgroup cgroup rw,cpuset\n"
                       "32 31 0:29 / @/v1/cpu rw - cgroup cgroup rw,cpu\n";
    file("v1/cpu/cpu.cfs_quota_us", "-1\n");
    file("v1/cpu/job/cpu.cfs_quota_us", "120000\n");
    file("v1/cpu/job/cpu.cfs_period_us", "100000\n");
    file("v1/cpu/job/step/cpu.cfs_quota_us", "-1\n");
    file("v1/cpu/job/step/cpu.cfs_period_us", "100000\n");
    file("v1/cpuacct/job/step/cpu.cfs_quota_us", "100000\n");
    file("v1/cpuacct/job/step/cpu.cfs_period_us", "100000\n");
    CHECK_EQ(cpus_of("3:cpuacct:/job/step\n2:cpuset:/job/step\n1:cpu:/job/step\n", host), 2);
    CHECK_EQ(cpus_of("3:cpuacct:/job/step\n2:cpuset:/job/step\n", host), 0);
    /* a period other than 100 ms */
    file("v1/cpu/job/cpu.cfs_period_us", "50000\n");
    CHECK_EQ(cpus_of("1:cpu:/job/step\n", host), 3);
    /* a quota without a period: no limit */
    file("v1/cpu/job/cpu.cfs_period_us", "\n");
    CHECK_EQ(cpus_of("1:cpu:/job/step\n", host), 0);
    /* both hierarchies (a hybrid host): the tighter */
    file("v1/cpu/job/cpu.cfs_period_us", "100000\n");
    file("v2/cpu.max", "100000 100000\n");
    char both[1024];
    snprintf(both, sizeof both, "%s%s", host,
             "41 31 0:38 / @/v2 rw - cgroup2 cgroup2 rw\n");
    CHECK_EQ(cpus_of("1:cpu:/job/step\n0::/\n", both), 1);
    file("v2/cpu.max", "max 100000\n");
    CHECK_EQ(cpus_of("1:cpu:/job/step\n0::/\n", both), 2);
}

/* This process's own files parse, and the counts agree with them. */
static void test_this_process(void)
{
    int limit = parx__cgroup_cpus("/proc/self/cgroup", "/proc/self/mountinfo");
    CHECK(limit >= 0);
    cpu_set_t set;
    REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
    int mask = CPU_COUNT(&set), want = limit > 0 && limit < mask ? limit : mask;
    pt_diag("affinity %d CPUs, cgroup limit %d (0: none)", mask, limit);
    CHECK_EQ(parx__cpu_count(), want);
    parx_pool *p = parx_pool_create(NULL);
    REQUIRE(p);
    CHECK_EQ(parx_pool_size(p), want);
    parx_pool_destroy(p);
}

/* ---- a real cgroup ------------------------------------------------------ */

/* Where this machine lets us make a cgroup with a CPU limit: v1's cpu
   hierarchy, or v2's root with the cpu controller available. Returns the
   hierarchy's directory, or NULL. */
static const char *cgroup_root(bool *v2)
{
    struct stat st;
    if (stat("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", &st) == 0) {
        *v2 = false;
        return "/sys/fs/cgroup/cpu";
    }
    char buf[256] = "";
    int fd = open("/sys/fs/cgroup/cgroup.subtree_control", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        buf[n > 0 ? n : 0] = '\0';
        close(fd);
        if (strstr(buf, "cpu ") || strstr(buf, "cpu\n")) {
            *v2 = true;
            return "/sys/fs/cgroup";
        }
    }
    return NULL;
}

/* In the child: join `dir`, then report the counts (exit code: pool size
   | process-pool workers << 3 | probe cpus << 6, each at most 7). */
static int child_counts(const char *dir)
{
    char p[512], pid[32];
    snprintf(p, sizeof p, "%s/cgroup.procs", dir);
    snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (put(p, pid) != 0) return 255;
    parx_pool *pool = parx_pool_create(NULL);
    if (!pool) return 254;
    int threads = parx_pool_size(pool);
    parx_pool_destroy(pool);
    int workers = 1;
#ifndef PARX_NO_PROC
    parx_procs *pp = parx_procs_create(&(parx_procs_desc){.start = PARX_START_FORK});
    if (!pp) return 253;
    parx_procs_info info;
    if (parx_procs_stats(pp, &info) != 0) info.workers = 0;
    workers = info.workers;
    parx_procs_destroy(pp);
#endif
    parx_probe pr;
    parx_probe_defaults(&pr);
    if (threads > 7 || workers > 7 || pr.cpus > 7) return 252;
    return threads | workers << 3 | pr.cpus << 6;
}

static void test_real_cgroup(void)
{
    cpu_set_t set;
    REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
    if (CPU_COUNT(&set) < 2) PT_SKIP("one CPU: a limit of one changes nothing");
    bool v2 = false;
    const char *root = cgroup_root(&v2);
    if (!root) PT_SKIP("no cgroup hierarchy with the cpu controller here");
    char outer[256], inner[300], f[400];
    snprintf(outer, sizeof outer, "%s/parx-test-cpus-%d", root, (int)getpid());
    snprintf(inner, sizeof inner, "%s/inner", outer);
    if (mkdir(outer, 0755) != 0) PT_SKIP("cannot make a cgroup in %s: %s", root, strerror(errno));
    bool made_inner = false;
    if (v2) {
        snprintf(f, sizeof f, "%s/cpu.max", outer);
        CHECK_EQ(put(f, "50000 100000\n"), 0);
    } else {
        snprintf(f, sizeof f, "%s/cpu.cfs_period_us", outer);
        CHECK_EQ(put(f, "100000\n"), 0);
        snprintf(f, sizeof f, "%s/cpu.cfs_quota_us", outer);
        CHECK_EQ(put(f, "50000\n"), 0);
    }
    /* the limited cgroup itself, then one below it with no limit */
    for (int k = 0; k < 2; k++) {
        const char *dir = outer;
        if (k == 1) {
            /* v2: a cgroup with processes below it must not have any of its own;
               the first child has left by now */
            if (mkdir(inner, 0755) != 0) {
                CHECK_MSG(0, "mkdir %s: %s", inner, strerror(errno));
                break;
            }
            made_inner = true;
            dir = inner;
        }
        pid_t c = fork();
        REQUIRE(c >= 0);
        if (c == 0) _exit(child_counts(dir));
        int st = 0;
        CHECK_EQ(waitpid(c, &st, 0), c);
        REQUIRE(WIFEXITED(st));
        int code = WEXITSTATUS(st);
        CHECK_MSG(code < 252, "%s: the child failed (%d)", dir, code);
        if (code >= 252) break;
        CHECK_MSG((code & 7) == 1, "%s: a default pool of %d threads under a limit of half a CPU",
                  dir, code & 7);
        CHECK_MSG((code >> 3 & 7) == 1, "%s: %d default workers", dir, code >> 3 & 7);
        CHECK_MSG((code >> 6 & 7) == 1, "%s: a probe of %d CPUs", dir, code >> 6 & 7);
    }
    if (made_inner) CHECK_MSG(rmdir(inner) == 0, "rmdir %s: %s", inner, strerror(errno));
    CHECK_MSG(rmdir(outer) == 0, "rmdir %s: %s", outer, strerror(errno));
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/parx-test-cpus-XXXXXX");
    if (!mkdtemp(tmp)) pt_bail_out("mkdtemp failed");
    /* first: a child forked before this process counted its CPUs (the limit
       is read once per process, and a fork() child keeps the figure) */
    pt_run("a child in a cgroup limited to half a CPU: one thread, one worker, one CPU",
           test_real_cgroup);
    pt_run("cgroup v2: cpu.max at every level, the tightest wins", test_parse_v2);
    pt_run("cgroup v1: cfs quota over period, nested, hybrid hosts", test_parse_v1);
    pt_run("this process: the counts agree with its own cgroup files", test_this_process);
    rm_rf(tmp);
    return pt_done_testing();
}
