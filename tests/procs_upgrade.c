/* SPDX-License-Identifier: MIT */
/* tests/procs_upgrade.c -- a library the program was linked with, replaced
   on disk while the program runs (an upgrade): a spawn-mode pool made
   after that starts its server from the new file, where the caller's job
   function's offset names other code. The job must fail with
   PARX_E_UNKNOWN_FN (the module's build ID differs), not run the new code:
   it did (found in review).

   The program links libprocs_plugin.so (plugin_job returns 43). It copies
   that file into a folder of its own and runs itself again with
   LD_LIBRARY_PATH naming the folder; that run makes a spawn pool (43), then
   renames a second build of the library (same code and soname, returns 44)
   over the copy, and makes another.
   usage: test_procs_upgrade LIBPROCS_PLUGIN.so ALT_BUILD.so */
#define _GNU_SOURCE
#define PARX_IMPLEMENTATION
#include "parx.h"
#include "procs_common.h"

int plugin_job(void *arg);

static char dir[256];

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    char buf[65536];
    size_t n;
    int ok = in && out;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
        ok = fwrite(buf, 1, n, out) == n;
    if (in) fclose(in);
    if (out && fclose(out) != 0) ok = 0;
    return ok ? 0 : -1;
}

static int run_plugin(void)
{
    parx_procs *pp = parx_procs_create(&(parx_procs_desc){.workers = 1,
                                                          .start = PARX_START_SPAWN});
    if (!pp) {
        pt_diag("create: %s", parx_strerror(-errno));
        return INT_MIN;
    }
    parx_ticket t;
    parx_job_result r = {0};
    int rc = parx_procs_submit(pp, plugin_job, NULL, &t);
    if (rc == 0) rc = parx_procs_wait(pp, t, &r);
    parx_procs_destroy(pp);
    return rc ? rc : r.status;
}

static void test_upgraded_library(void)
{
    CHECK_EQ(plugin_job(NULL), 43);
    CHECK_EQ(run_plugin(), 43);
    char tmp[300], lib[300];
    snprintf(lib, sizeof lib, "%s/libprocs_plugin.so", dir);
    snprintf(tmp, sizeof tmp, "%s/new.so", dir);
    REQUIRE(copy_file(getenv("PARX_TEST_ALT"), tmp) == 0);
    REQUIRE(rename(tmp, lib) == 0); /* as an upgrade does: the old file stays mapped here */
    int st = run_plugin();
    CHECK_MSG(st == PARX_E_UNKNOWN_FN, "after the upgrade: status %d (%s), want %d", st,
              st == 44 ? "the new file's code ran" : parx_strerror(st), PARX_E_UNKNOWN_FN);
}

int main(int argc, char **argv)
{
    if (!getenv("PARX_TEST_UPGRADE_DIR")) {
        if (argc != 3) {
            fprintf(stderr, "usage: %s LIBPROCS_PLUGIN.so ALT_BUILD.so\n", argv[0]);
            return 2;
        }
        const char *tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(dir, sizeof dir, "%s/parx-upgrade-XXXXXX", tmpdir);
        if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
        char lib[300];
        snprintf(lib, sizeof lib, "%s/libprocs_plugin.so", dir);
        if (copy_file(argv[1], lib) != 0) return perror(lib), 1;
        setenv("PARX_TEST_UPGRADE_DIR", dir, 1);
        setenv("LD_LIBRARY_PATH", dir, 1);
        setenv("PARX_TEST_ALT", argv[2], 1);
        pid_t pid = fork();
        if (pid == 0) {
            execv(argv[0], argv); /* meson gives the full path (under valgrind,
                                     /proc/self/exe is valgrind's) */
            _exit(127);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        unlink(lib);
        rmdir(dir);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
    }
    snprintf(dir, sizeof dir, "%s", getenv("PARX_TEST_UPGRADE_DIR"));
    pt_plan(1);
    run_guarded("a linked library replaced on disk: spawn workers refuse its job",
                test_upgraded_library);
    return pt_done_testing();
}
