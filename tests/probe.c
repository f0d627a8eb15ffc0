/* SPDX-License-Identifier: MIT */
/* tests/probe.c -- parx_probe (>>run in parx.h): what parx_probe_measure
   fills in, quick and full, alone and with threads about, in every build
   (a feature compiled out gives 0 and a reason); the JSON file: a round
   trip equal field by field, loading that ignores whitespace, key order and
   unknown keys and unescapes strings, and rejects (-EINVAL, *p untouched)
   garbage, every truncation, a wrong version, values of the wrong type or
   range; parx_probe_format with snprintf semantics for every buffer size.
   Results only, never timings.

   Modes (argv[1]):
     (none)      the above
     cli TOOL    the parx_probe program: --help, a bad option, and --json
                 FILE, whose file must load

   The full measurement forks pools, so it runs first, while this process
   has no thread; each measurement must leave no descriptor and no child. */
#define _GNU_SOURCE /* posix_spawn file actions, dirent */
#include "parx.h"
#include "parx_test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---- helpers ------------------------------------------------------------- */

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* A file name of this process's own in the working directory. */
static const char *tmp_path(const char *what)
{
    static char buf[4][128];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "probe-test-%d-%s.json", (int)getpid(), what);
    return b;
}

static int write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -errno;
    size_t w = fwrite(text, 1, len, f);
    int rc = fclose(f);
    return w == len && rc == 0 ? 0 : -EIO;
}

static int load_text(const char *text, parx_probe *p)
{
    const char *path = tmp_path("text");
    if (write_file(path, text, strlen(text)) != 0)
        return -EIO;
    int rc = parx_probe_load(p, path);
    unlink(path);
    return rc;
}

static void check_equal(const parx_probe *a, const parx_probe *b)
{
    CHECK_EQ(a->cpus, b->cpus);
    CHECK_MEMEQ(&a->thread_start_ns, &b->thread_start_ns, sizeof(double));
    CHECK_MEMEQ(&a->task_ns, &b->task_ns, sizeof(double));
    CHECK_MEMEQ(&a->thread_job_ns, &b->thread_job_ns, sizeof(double));
    CHECK_MEMEQ(&a->fork_start_ns, &b->fork_start_ns, sizeof(double));
    CHECK_MEMEQ(&a->spawn_start_ns, &b->spawn_start_ns, sizeof(double));
    CHECK_MEMEQ(&a->proc_job_ns, &b->proc_job_ns, sizeof(double));
    CHECK_MEMEQ(&a->proc_rt_ns, &b->proc_rt_ns, sizeof(double));
    CHECK_MEMEQ(&a->arena_attach_ns, &b->arena_attach_ns, sizeof(double));
    CHECK_EQ(a->io_uring, b->io_uring);
    CHECK_STR_EQ(a->io_uring_why, b->io_uring_why);
    CHECK_MEMEQ(&a->gpu_dispatch_ns, &b->gpu_dispatch_ns, sizeof(double));
    CHECK_STR_EQ(a->gpu_name, b->gpu_name);
    CHECK_EQ(a->measured, b->measured);
    CHECK_EQ_U(a->measured_mask, b->measured_mask);
    CHECK_STR_EQ(a->notes, b->notes);
}

/* What every measurement must give, whatever the flags. */
static void check_common(const parx_probe *p)
{
    CHECK(p->cpus >= 1);
    CHECK(p->measured);
    const unsigned threads =
        PARX_PROBE_HAVE_THREAD_START | PARX_PROBE_HAVE_TASK | PARX_PROBE_HAVE_THREAD_JOB;
    CHECK_EQ_U(p->measured_mask & threads, threads);
    CHECK(p->thread_start_ns > 0);
    CHECK(p->task_ns > 0);
    CHECK(p->thread_job_ns > 0);
    CHECK(p->measured_mask & PARX_PROBE_HAVE_IO_URING);
    CHECK(p->io_uring == 0 || p->io_uring == 1);
    CHECK(p->io_uring_why[0] != '\0');
#if defined(PARX_NO_URING) || defined(PARX_NO_PREFETCH)
    CHECK_EQ(p->io_uring, 0);
    CHECK(strstr(p->io_uring_why, "compiled out") != NULL);
#endif
    /* in every configuration: parx.c, linked here, includes parx_shm.h
       before parx.h's implementation */
    CHECK(p->arena_attach_ns > 0);
    CHECK(p->measured_mask & PARX_PROBE_HAVE_ARENA_ATTACH);
    CHECK(p->gpu_dispatch_ns == 0); /* parx_gpu.h's to measure */
    CHECK(!(p->measured_mask & PARX_PROBE_HAVE_GPU));
    CHECK(strlen(p->notes) < sizeof p->notes);
    int status;
    CHECK_MSG(waitpid(-1, &status, WNOHANG) < 0 && errno == ECHILD, "a child was left behind");
    pt_diag("io_uring: %d (%s); notes: %s", p->io_uring, p->io_uring_why,
            p->notes[0] ? p->notes : "none");
}

static const unsigned proc_bits = PARX_PROBE_HAVE_FORK_START | PARX_PROBE_HAVE_SPAWN_START |
                                  PARX_PROBE_HAVE_PROC_JOB | PARX_PROBE_HAVE_PROC_RT;

/* ---- measuring ------------------------------------------------------------- */

static void test_measure_full(void)
{
    int fds = count_fds();
    parx_probe p;
    memset(&p, 0xA5, sizeof p); /* whatever was there is overwritten */
    REQUIRE(parx_probe_measure(&p, 0) == 0);
    check_common(&p);
#ifdef PARX_NO_PROC
    CHECK(p.fork_start_ns == 0 && p.spawn_start_ns == 0);
    CHECK(p.proc_job_ns == 0 && p.proc_rt_ns == 0);
    CHECK_EQ_U(p.measured_mask & proc_bits, 0);
    CHECK(strstr(p.notes, "PARX_NO_PROC") != NULL);
#else
    /* this binary links parx's implementation: spawn mode works too */
    CHECK_EQ_U(p.measured_mask & proc_bits, proc_bits);
    CHECK(p.fork_start_ns > 0);
    CHECK(p.spawn_start_ns > 0);
    CHECK(p.proc_job_ns > 0);
    CHECK(p.proc_rt_ns > 0);
#endif
    CHECK_EQ(count_fds(), fds);
}

static void test_measure_quick(void)
{
    int fds = count_fds();
    parx_probe d, p;
    parx_probe_defaults(&d);
    REQUIRE(parx_probe_measure(&p, PARX_PROBE_NO_PROCS) == 0);
    check_common(&p);
    CHECK_EQ_U(p.measured_mask & proc_bits, 0);
#ifdef PARX_NO_PROC
    CHECK(p.fork_start_ns == 0 && p.spawn_start_ns == 0);
    CHECK(p.proc_job_ns == 0 && p.proc_rt_ns == 0);
#else
    /* left at the defaults, and said so */
    CHECK_MEMEQ(&p.fork_start_ns, &d.fork_start_ns, sizeof(double));
    CHECK_MEMEQ(&p.spawn_start_ns, &d.spawn_start_ns, sizeof(double));
    CHECK_MEMEQ(&p.proc_job_ns, &d.proc_job_ns, sizeof(double));
    CHECK_MEMEQ(&p.proc_rt_ns, &d.proc_rt_ns, sizeof(double));
#endif
    CHECK(strstr(p.notes, "processes") != NULL);
    CHECK_EQ(count_fds(), fds);
}

/* With threads of the caller's own running, fork pools are not started
   (their figures stay the defaults); the round trips go through spawn. */
static void test_measure_with_threads(void)
{
    parx_pool *pool = parx_pool_create(&(parx_pool_desc){.threads = 2});
    REQUIRE(pool != NULL);
    parx_probe d, p;
    parx_probe_defaults(&d);
    int rc = parx_probe_measure(&p, 0);
    parx_pool_destroy(pool);
    REQUIRE(rc == 0);
    check_common(&p);
#ifndef PARX_NO_PROC
    CHECK(!(p.measured_mask & PARX_PROBE_HAVE_FORK_START));
    CHECK_MEMEQ(&p.fork_start_ns, &d.fork_start_ns, sizeof(double));
    CHECK(strstr(p.notes, "fork: not measured") != NULL);
    const unsigned spawned =
        PARX_PROBE_HAVE_SPAWN_START | PARX_PROBE_HAVE_PROC_JOB | PARX_PROBE_HAVE_PROC_RT;
    CHECK_EQ_U(p.measured_mask & spawned, spawned);
    CHECK(p.spawn_start_ns > 0 && p.proc_rt_ns > 0 && p.proc_job_ns > 0);
#endif
}

static void test_measure_bad_args(void)
{
    parx_probe p;
    CHECK_EQ(parx_probe_measure(NULL, 0), -EINVAL);
    CHECK_EQ(parx_probe_measure(&p, 0x80u), -EINVAL);
}

/* ---- the JSON file ----------------------------------------------------------- */

static parx_probe sample(void)
{
    parx_probe p;
    parx_probe_defaults(&p);
    p.cpus = 3;
    p.thread_start_ns = 12345.678;
    p.task_ns = 0.1;
    p.thread_job_ns = 1e-300;
    p.fork_start_ns = 2.5e6;
    p.spawn_start_ns = 0;
    p.proc_job_ns = 1.0 / 3.0;
    p.proc_rt_ns = 9.87654321e4;
    p.arena_attach_ns = 1e15;
    p.io_uring = 0;
    snprintf(p.io_uring_why, sizeof p.io_uring_why, "say \"no\"\\ or\ttab \xC2\xB5s\x01");
    p.gpu_dispatch_ns = 42.5;
    snprintf(p.gpu_name, sizeof p.gpu_name, "llvmpipe (LLVM 15.0.6, 256 bits)");
    p.measured = true;
    p.measured_mask = 0x2A5;
    snprintf(p.notes, sizeof p.notes, "spawn: no; \"quoted\"\n");
    return p;
}

static void test_round_trip(void)
{
    const char *path = tmp_path("rt");
    parx_probe a = sample(), b;
    REQUIRE(parx_probe_save(&a, path) == 0);
    memset(&b, 0, sizeof b);
    REQUIRE(parx_probe_load(&b, path) == 0);
    check_equal(&a, &b);
    /* saved over: the new figures, whole */
    a.cpus = 7;
    a.measured = false;
    REQUIRE(parx_probe_save(&a, path) == 0);
    REQUIRE(parx_probe_load(&b, path) == 0);
    check_equal(&a, &b);
    /* a real measurement, and the defaults */
    REQUIRE(parx_probe_measure(&a, PARX_PROBE_NO_PROCS) == 0);
    REQUIRE(parx_probe_save(&a, path) == 0);
    REQUIRE(parx_probe_load(&b, path) == 0);
    check_equal(&a, &b);
    parx_probe_defaults(&a);
    REQUIRE(parx_probe_save(&a, path) == 0);
    REQUIRE(parx_probe_load(&b, path) == 0);
    check_equal(&a, &b);
    /* a probe made by hand, zeroed or with negative times: what save
       writes, load reads (times as 0, "not measured"; cpus this machine's) */
    memset(&a, 0, sizeof a);
    a.task_ns = -1;
    a.proc_rt_ns = -5e3;
    REQUIRE(parx_probe_save(&a, path) == 0);
    CHECK_EQ(parx_probe_load(&b, path), 0);
    CHECK(b.task_ns == 0 && b.proc_rt_ns == 0 && b.cpus >= 1);
    /* more CPUs than load takes (2^20): written as that many */
    a.cpus = INT_MAX;
    REQUIRE(parx_probe_save(&a, path) == 0);
    CHECK_EQ(parx_probe_load(&b, path), 0);
    CHECK_EQ(b.cpus, 1 << 20);
    unlink(path);
    /* the temporary file is gone too */
    DIR *d = opendir(".");
    REQUIRE(d != NULL);
    struct dirent *e;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "probe-test-%d-rt.json.tmp", (int)getpid());
    while ((e = readdir(d)))
        CHECK_MSG(strncmp(e->d_name, prefix, strlen(prefix)) != 0, "left behind: %s", e->d_name);
    closedir(d);
}

static void test_load_lenient(void)
{
    parx_probe p, d;
    parx_probe_defaults(&d);
    /* any order, any whitespace, unknown keys of every kind, escapes */
    const char *text =
        " \r\n\t{ \"notes\" : \"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00b5\\uD83D\\uDE00\" ,\n"
        "\"future\": {\"x\": [1, 2.5e-3, {\"y\": null}], \"z\": \"}\"}, \"list\": [],\n"
        "\"obj\": {}, \"flag\": false, \"nothing\": null, \"neg\": -0.5E+2,\n"
        "\"io_uring\": true, \"measured\": 1, \"cpus\": 4,\n"
        "\"task_ns\": 0, \"thread_job_ns\": 1E3, \"parx_probe\" : 1 }\n\n";
    memset(&p, 0, sizeof p);
    REQUIRE(load_text(text, &p) == 0);
    CHECK_STR_EQ(p.notes, "a\"b\\c/d\b\f\n\r\t\xC2\xB5\xF0\x9F\x98\x80");
    CHECK_EQ(p.io_uring, 1);
    CHECK(p.measured);
    CHECK_EQ(p.cpus, 4);
    CHECK(p.task_ns == 0);
    CHECK(p.thread_job_ns == 1000);
    /* missing keys: the defaults */
    CHECK_MEMEQ(&p.fork_start_ns, &d.fork_start_ns, sizeof(double));
    CHECK_MEMEQ(&p.thread_start_ns, &d.thread_start_ns, sizeof(double));
    CHECK_EQ_U(p.measured_mask, 0);
    /* the least there can be */
    REQUIRE(load_text("{\"parx_probe\":1}", &p) == 0);
    CHECK_EQ(p.cpus, d.cpus);
    CHECK(!p.measured);
    /* strings too long for their field are cut at a character boundary */
    char big[600];
    int n = snprintf(big, sizeof big, "{\"parx_probe\": 1, \"gpu_name\": \"");
    for (int i = 0; i < 100; i++)
        n += snprintf(big + n, sizeof big - (size_t)n, "\xC2\xB5");
    snprintf(big + n, sizeof big - (size_t)n, "\"}");
    REQUIRE(load_text(big, &p) == 0);
    CHECK_EQ(strlen(p.gpu_name), sizeof p.gpu_name - 1 - (sizeof p.gpu_name - 1) % 2);
    CHECK(strncmp(p.gpu_name, "\xC2\xB5\xC2\xB5", 4) == 0);
    /* numbers of any length: an unknown key's (a later version's, say a
       128-bit id) and a known key's with trailing zeros */
    n = snprintf(big, sizeof big, "{\"parx_probe\": 1, \"future_id\": ");
    for (int i = 0; i < 100; i++)
        big[n++] = (char)('1' + i % 9);
    n += snprintf(big + n, sizeof big - (size_t)n, ", \"task_ns\": 2.");
    for (int i = 0; i < 100; i++)
        big[n++] = '0';
    snprintf(big + n, sizeof big - (size_t)n, "e0}");
    REQUIRE(load_text(big, &p) == 0);
    CHECK(p.task_ns == 2);
    /* \u0000 where nothing must hold it: in an unknown key's value, in an
       unknown key (a later version's); both were refused (found in review) */
    static const char *const nul_ok[] = {
        "{\"parx_probe\":1,\"future_field\":\"a\\u0000b\"}", "{\"parx_probe\":1,\"x\\u0000y\":2}",
        "{\"parx_probe\":1,\"future\":[\"\\u0000\"]}",
        "{\"parx_probe\":1,\"cpus\\u0000\":0}", /* not "cpus" (0 would be refused) */
    };
    for (size_t i = 0; i < sizeof nul_ok / sizeof nul_ok[0]; i++)
        CHECK_MSG(load_text(nul_ok[i], &p) == 0, "refused: %s", nul_ok[i]);
    /* in a field this code keeps as a C string it is an error */
    CHECK_EQ(load_text("{\"parx_probe\":1,\"gpu_name\":\"a\\u0000b\"}", &p), -EINVAL);
    /* UTF-8 of every length, kept as it is */
    REQUIRE(load_text("{\"parx_probe\":1,\"gpu_name\":\"a\xC2\xB5\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F"
                      "\xBF\xBF\"}",
                      &p) == 0);
    CHECK_STR_EQ(p.gpu_name, "a\xC2\xB5\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF");
}

/* Bytes that are no UTF-8 are no JSON (RFC 8259): refused in a field and
   in a key. Found by fuzzing: a key of a known name followed by a long run
   of continuation bytes, cut to fit the reader's key buffer, read as that
   name ("cpusX" and 27 bytes 0x80 set cpus). Save writes such bytes of a
   field filled by hand as U+FFFD, so that load reads back what it wrote. */
static void test_utf8(void)
{
    parx_probe p, d;
    static const char *const bad[] = {
        "\xFF", "\x80", "\xC0\xAF", "\xC1\xBF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF0\x80\x80\xAF",
        "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xC2", "\xE2\x82", "\xC2\xB5\x80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "{\"parx_probe\":1,\"gpu_name\":\"x%sy\"}", bad[i]);
        memset(&p, 0x5A, sizeof p);
        CHECK_MSG(load_text(text, &p) == -EINVAL, "accepted in a field: bad[%zu]", i);
        snprintf(text, sizeof text, "{\"parx_probe\":1,\"k%s\":1}", bad[i]);
        CHECK_MSG(load_text(text, &p) == -EINVAL, "accepted in a key: bad[%zu]", i);
        CHECK_EQ(p.cpus, 0x5A5A5A5A); /* untouched on failure */
    }
    char alias[128];
    int n = snprintf(alias, sizeof alias, "{\"parx_probe\":1,\"cpusX");
    for (int i = 0; i < 27; i++)
        alias[n++] = (char)0x80;
    snprintf(alias + n, sizeof alias - (size_t)n, "\":64}");
    parx_probe_defaults(&d);
    memset(&p, 0x5A, sizeof p);
    CHECK_EQ(load_text(alias, &p), -EINVAL);
    CHECK_EQ(p.cpus, 0x5A5A5A5A);
    /* a long key of valid UTF-8 is no known key, whatever its start */
    n = snprintf(alias, sizeof alias, "{\"parx_probe\":1,\"cpus");
    for (int i = 0; i < 10; i++)
        n += snprintf(alias + n, sizeof alias - (size_t)n, "\xF0\x9F\x98\x80");
    snprintf(alias + n, sizeof alias - (size_t)n, "\":64}");
    REQUIRE(load_text(alias, &p) == 0);
    CHECK_EQ(p.cpus, d.cpus);
    /* save: a field filled by hand with bytes that are no UTF-8, and one
       cut inside a character (the field's last byte), load back */
    const char *path = tmp_path("utf8");
    parx_probe a = sample(), b;
    snprintf(a.gpu_name, sizeof a.gpu_name, "A\xFF\xC0\xAF" "B");
    memset(a.notes, 'n', sizeof a.notes);
    memcpy(a.notes + sizeof a.notes - 3, "\xE2\x82", 2); /* a euro sign, cut */
    a.notes[sizeof a.notes - 1] = '\0';
    REQUIRE(parx_probe_save(&a, path) == 0);
    memset(&b, 0, sizeof b);
    REQUIRE(parx_probe_load(&b, path) == 0);
    CHECK_STR_EQ(b.gpu_name, "A\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "B");
    CHECK_EQ(strncmp(b.notes, a.notes, sizeof a.notes - 3), 0);
    unlink(path);
}

static void test_load_rejects(void)
{
    static const char *const bad[] = {
        "",
        "   \n",
        "hello",
        "[]",
        "{}",
        "null",
        "{\"cpus\": 2}",       /* no version */
        "{\"parx_probe\": 2}", /* a version this code does not know */
        "{\"parx_probe\": \"1\"}",
        "{\"parx_probe\": 1.5}",
        "{\"parx_probe\": 1} {}", /* something after the object */
        "{\"parx_probe\": 1} x",
        "{\"parx_probe\": 1,}",            /* trailing comma */
        "{\"parx_probe\": 1 \"cpus\": 2}", /* missing comma */
        "{\"parx_probe\" 1}",
        "{parx_probe: 1}",
        "{'parx_probe': 1}",
        "{\"parx_probe\": 1, \"cpus\": 0}",
        "{\"parx_probe\": 1, \"cpus\": -2}",
        "{\"parx_probe\": 1, \"cpus\": 2.5}",
        "{\"parx_probe\": 1, \"cpus\": \"2\"}",
        "{\"parx_probe\": 1, \"task_ns\": -1}",
        "{\"parx_probe\": 1, \"task_ns\": \"5\"}",
        "{\"parx_probe\": 1, \"task_ns\": null}",
        "{\"parx_probe\": 1, \"task_ns\": 1e999}", /* infinite */
        "{\"parx_probe\": 1, \"task_ns\": NaN}",
        "{\"parx_probe\": 1, \"task_ns\": Infinity}",
        "{\"parx_probe\": 1, \"task_ns\": 01}",
        "{\"parx_probe\": 1, \"task_ns\": 1.}",
        "{\"parx_probe\": 1, \"task_ns\": .5}",
        "{\"parx_probe\": 1, \"task_ns\": +1}",
        "{\"parx_probe\": 1, \"task_ns\": 0x10}",
        "{\"parx_probe\": 1, \"task_ns\": 1e}",
        "{\"parx_probe\": 1, \"io_uring\": 2}",
        "{\"parx_probe\": 1, \"measured\": \"yes\"}",
        "{\"parx_probe\": 1, \"measured_mask\": -1}",
        "{\"parx_probe\": 1, \"measured_mask\": 4294967296}",
        "{\"parx_probe\": 1, \"notes\": 5}",
        "{\"parx_probe\": 1, \"notes\": \"raw\ttab\"}",
        "{\"parx_probe\": 1, \"notes\": \"bad \\x escape\"}",
        "{\"parx_probe\": 1, \"notes\": \"\\u12\"}",
        "{\"parx_probe\": 1, \"notes\": \"\\uD83D alone\"}",
        "{\"parx_probe\": 1, \"notes\": \"\\uDE00 alone\"}",
        "{\"parx_probe\": 1, \"notes\": \"nul \\u0000\"}",
        "{\"parx_probe\": 1, \"notes\": \"unterminated}",
        "{\"parx_probe\": 1, \"x\": [1, 2}",
        "{\"parx_probe\": 1, \"x\": {\"a\" 1}}",
        "{\"parx_probe\": 1, \"x\": tru}",
        "{\"parx_probe\": 1, \"x\": nul}",
        "{\"parx_probe\": 1} // comment",
        "/* comment */ {\"parx_probe\": 1}",
    };
    parx_probe p, before = sample();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = before;
        int rc = load_text(bad[i], &p);
        CHECK_MSG(rc == -EINVAL, "load of \"%s\": %d (%s), not -EINVAL", bad[i], rc,
                  parx_strerror(rc));
        CHECK_MSG(memcmp(&p, &before, sizeof p) == 0, "a failed load of \"%s\" changed *p", bad[i]);
    }
    /* nesting deeper than the reader goes */
    char deep[400];
    int n = snprintf(deep, sizeof deep, "{\"parx_probe\": 1, \"x\": ");
    for (int i = 0; i < 100; i++)
        deep[n++] = '[';
    for (int i = 0; i < 100; i++)
        deep[n++] = ']';
    snprintf(deep + n, sizeof deep - (size_t)n, "}");
    CHECK_EQ(load_text(deep, &p), -EINVAL);
    /* a nul byte inside */
    const char *path = tmp_path("nul");
    REQUIRE(write_file(path, "{\"parx_probe\": 1,\0 \"cpus\": 2}", 29) == 0);
    CHECK_EQ(parx_probe_load(&p, path), -EINVAL);

    /* every truncation of a saved file, up to its closing brace */
    parx_probe s = sample();
    REQUIRE(parx_probe_save(&s, path) == 0);
    FILE *f = fopen(path, "rb");
    REQUIRE(f != NULL);
    char text[4096];
    size_t len = fread(text, 1, sizeof text, f);
    fclose(f);
    REQUIRE(len > 0 && len < sizeof text);
    const char *brace = NULL; /* the object's closing brace: the last one */
    for (size_t k = len; k > 0 && !brace; k--)
        if (text[k - 1] == '}')
            brace = text + k - 1;
    REQUIRE(brace != NULL);
    int wrong = 0;
    for (size_t cut = 0; cut <= (size_t)(brace - text); cut++) {
        REQUIRE(write_file(path, text, cut) == 0);
        p = before;
        if (parx_probe_load(&p, path) != -EINVAL || memcmp(&p, &before, sizeof p) != 0) {
            if (wrong++ < 5)
                pt_diag("the first %zu bytes loaded, or changed *p", cut);
        }
    }
    CHECK_EQ(wrong, 0);
    /* larger than 1 MiB: refused, even if it is JSON */
    size_t huge = ((size_t)1 << 20) + 100;
    char *h = (char *)malloc(huge);
    REQUIRE(h != NULL);
    memset(h, ' ', huge);
    memcpy(h, "{\"parx_probe\": 1}", 17);
    REQUIRE(write_file(path, h, huge) == 0);
    free(h);
    CHECK_EQ(parx_probe_load(&p, path), -EINVAL);
    unlink(path);
}

static void test_file_errors(void)
{
    parx_probe p = sample(), before = p;
    CHECK_EQ(parx_probe_load(&p, "probe-test-no-such-file.json"), -ENOENT);
    CHECK(memcmp(&p, &before, sizeof p) == 0);
    CHECK_EQ(parx_probe_load(NULL, "x"), -EINVAL);
    CHECK_EQ(parx_probe_load(&p, NULL), -EINVAL);
    CHECK_EQ(parx_probe_save(NULL, "x"), -EINVAL);
    CHECK_EQ(parx_probe_save(&p, NULL), -EINVAL);
    CHECK_EQ(parx_probe_save(&p, "probe-test-no-such-dir/x.json"), -ENOENT);
    CHECK_EQ(parx_probe_load(&p, "."), -EISDIR);
    CHECK(memcmp(&p, &before, sizeof p) == 0);
    /* a FIFO no one writes: refused at once (the open blocked for ever) */
    const char *fifo = tmp_path("fifo");
    unlink(fifo);
    REQUIRE(mkfifo(fifo, 0600) == 0);
    alarm(20);
    CHECK_EQ(parx_probe_load(&p, fifo), -EINVAL);
    alarm(0);
    unlink(fifo);
    CHECK_EQ(parx_probe_load(&p, "/dev/null"), -EINVAL); /* a device */
    CHECK(memcmp(&p, &before, sizeof p) == 0);
}

/* ---- the table --------------------------------------------------------------- */

static void check_snprintf(const parx_probe *p)
{
    int len = parx_probe_format(p, NULL, 0);
    REQUIRE(len > 0);
    char *full = (char *)malloc((size_t)len + 1);
    char *buf = (char *)malloc((size_t)len + 8);
    REQUIRE(full && buf);
    CHECK_EQ(parx_probe_format(p, full, (size_t)len + 1), len);
    CHECK_EQ_U(strlen(full), (size_t)len);
    int bad = 0;
    for (size_t size = 0; size <= (size_t)len + 2; size++) {
        memset(buf, '#', (size_t)len + 8);
        int r = parx_probe_format(p, size ? buf : NULL, size);
        size_t want = size == 0 ? 0 : size - 1 < (size_t)len ? size - 1 : (size_t)len;
        bool ok = r == len;
        if (size)
            ok = ok && strlen(buf) == want && memcmp(buf, full, want) == 0;
        for (size_t k = size; k < (size_t)len + 8; k++)
            ok = ok && buf[k] == '#'; /* nothing written past size */
        if (!ok && bad++ < 3)
            pt_diag("size %zu: returned %d, want %d", size, r, len);
    }
    CHECK_EQ(bad, 0);
    free(full);
    free(buf);
}

static void test_format(void)
{
    parx_probe p = sample();
    p.task_ns = 5;
    p.thread_start_ns = 1.5e6;
    p.fork_start_ns = 2.5e9;
    p.spawn_start_ns = 0; /* not available: the table says so */
    p.proc_rt_ns = 45678;
    p.measured_mask = PARX_PROBE_HAVE_TASK | PARX_PROBE_HAVE_GPU;
    check_snprintf(&p);
    char buf[8192];
    int len = parx_probe_format(&p, buf, sizeof buf);
    REQUIRE(len > 0 && (size_t)len < sizeof buf);
    pt_diag("%s", buf);
    CHECK(strstr(buf, "5.00 ns") != NULL);
    CHECK(strstr(buf, "1.50 ms") != NULL);
    CHECK(strstr(buf, "2.50 s") != NULL);
    CHECK(strstr(buf, "45.7 \xC2\xB5s") != NULL);
    CHECK(strstr(buf, "measured") != NULL);
    CHECK(strstr(buf, "default") != NULL);
    CHECK(strstr(buf, "not available") != NULL);
    CHECK(strstr(buf, "llvmpipe") != NULL);
    CHECK(strstr(buf, "n = 1000") != NULL);
    CHECK(strstr(buf, "threads") && strstr(buf, "fork") && strstr(buf, "spawn"));
    /* a loaded file may hold any finite time: it keeps its unit (it was
       printed in full, 31 digits and no unit: found in review) */
    parx_probe huge = p;
    huge.task_ns = 1.7e308;
    REQUIRE(parx_probe_format(&huge, buf, sizeof buf) > 0);
    CHECK_MSG(strstr(buf, "1.7e+299 s") != NULL, "%s", buf);
    check_snprintf(&huge);
    /* one CPU: no backend ever beats sequential */
    p.cpus = 1;
    REQUIRE(parx_probe_format(&p, buf, sizeof buf) > 0);
    CHECK(strstr(buf, "never") != NULL);
    check_snprintf(&p);
    /* the built-in figures say they are */
    parx_probe_defaults(&p);
    REQUIRE(parx_probe_format(&p, buf, sizeof buf) > 0);
    CHECK(strstr(buf, "built-in") != NULL);
    CHECK(strstr(buf, "measured\n") == NULL);
    check_snprintf(&p);
    /* a struct filled by hand: bytes that are no UTF-8 come out as U+FFFD
       (as save writes them), control characters as spaces, a CPU count
       under 1 as this machine's (as save writes it) */
    p.measured = true;
    p.measured_mask |= PARX_PROBE_HAVE_GPU | PARX_PROBE_HAVE_IO_URING;
    snprintf(p.notes, sizeof p.notes, "a\xff\tb");
    snprintf(p.gpu_name, sizeof p.gpu_name, "gpu\xc3");
    p.cpus = -3;
    REQUIRE(parx_probe_format(&p, buf, sizeof buf) > 0);
    CHECK_MSG(strstr(buf, "a\xEF\xBF\xBD b") != NULL, "%s", buf);
    CHECK_MSG(strstr(buf, "gpu\xEF\xBF\xBD") != NULL, "%s", buf);
    CHECK(strchr(buf, '\xff') == NULL && strchr(buf, '\t') == NULL);
    CHECK_MSG(strstr(buf, "-3") == NULL, "%s", buf);
    check_snprintf(&p);
    /* bad arguments */
    CHECK_EQ(parx_probe_format(NULL, buf, sizeof buf), -EINVAL);
    CHECK_EQ(parx_probe_format(&p, NULL, 10), -EINVAL);
}

/* save at the edges of what a path may be (found in review): a last part
   of 250 bytes, legal (it failed -ENAMETOOLONG: the temporary name added
   to it); a FIFO at path (it was replaced by a file; a device node too):
   -EINVAL and left as it is; a file's permissions carried over (0600 came
   back 0644); a folder -EISDIR ("." gave -EBUSY); and a figure of 0 whose
   mask bit is set shows "not available", not "measured". */
static void test_save_edges(void)
{
    parx_probe a = sample(), b;
    char name[300];
    memset(name, 'p', 250);
    name[250] = '\0';
    unlink(name);
    CHECK_EQ(parx_probe_save(&a, name), 0);
    CHECK_EQ(parx_probe_load(&b, name), 0);
    unlink(name);

    const char *fifo = tmp_path("fifo");
    unlink(fifo);
    REQUIRE(mkfifo(fifo, 0600) == 0);
    CHECK_EQ(parx_probe_save(&a, fifo), -EINVAL);
    struct stat st;
    CHECK(stat(fifo, &st) == 0 && S_ISFIFO(st.st_mode));
    unlink(fifo);

    const char *path = tmp_path("mode");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    fchmod(fd, 0600);
    close(fd);
    CHECK_EQ(parx_probe_save(&a, path), 0);
    CHECK_MSG(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "mode %o",
              (unsigned)(st.st_mode & 0777));
    unlink(path);
    CHECK_EQ(parx_probe_save(&a, "."), -EISDIR);

    /* a symbolic link at path is replaced by the file, not followed (found
       in review: a link to a folder gave -EISDIR, to a FIFO -EINVAL, and
       to a 0600 file lent the new file its mode) */
    char link_path[128], targets[3][128];
    snprintf(link_path, sizeof link_path, "%s", tmp_path("link"));
    const char *what[3] = {"link-dir", "link-fifo", "link-file"};
    for (int i = 0; i < 3; i++)
        snprintf(targets[i], sizeof targets[i], "%s", tmp_path(what[i]));
    mode_t mask = umask(0); /* the mode a new file gets: 0644 under the umask */
    umask(mask);
    REQUIRE(mkdir(targets[0], 0700) == 0);
    REQUIRE(mkfifo(targets[1], 0600) == 0);
    REQUIRE(write_file(targets[2], "keep", 4) == 0 && chmod(targets[2], 0600) == 0);
    for (int i = 0; i < 3; i++) {
        unlink(link_path);
        REQUIRE(symlink(targets[i], link_path) == 0);
        CHECK_MSG(parx_probe_save(&a, link_path) == 0, "save over a link to %s", targets[i]);
        memset(&st, 0, sizeof st);
        int got = lstat(link_path, &st);
        CHECK_MSG(got == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == (0644 & ~mask),
                  "a link to %s: now mode %o", targets[i], (unsigned)st.st_mode);
        CHECK_EQ(parx_probe_load(&b, link_path), 0);
    }
    char kept[8] = {0};
    int kfd = open(targets[2], O_RDONLY | O_CLOEXEC);
    CHECK(kfd >= 0 && read(kfd, kept, sizeof kept) == 4 && memcmp(kept, "keep", 4) == 0);
    if (kfd >= 0)
        close(kfd);
    CHECK(stat(targets[1], &st) == 0 && S_ISFIFO(st.st_mode));
    unlink(link_path);
    rmdir(targets[0]);
    unlink(targets[1]);
    unlink(targets[2]);

    char buf[8192];
    parx_probe z = sample();
    z.measured = true;
    z.measured_mask = PARX_PROBE_HAVE_THREAD_START;
    z.thread_start_ns = 0;
    REQUIRE(parx_probe_format(&z, buf, sizeof buf) > 0);
    const char *row = strstr(buf, "thread pool start");
    const char *eol = row ? strchr(row, '\n') : NULL;
    CHECK_MSG(row && eol && memmem(row, (size_t)(eol - row), "not available", 13),
              "%.*s", row && eol ? (int)(eol - row) : 0, row ? row : "");
}

/* ---- the parx_probe program --------------------------------------------------- */

static const char *tool;

/* Run tool with args; its output (stdout and stderr) in out. The exit
   status, or -1. */
static int run_tool(const char *const *args, char *out, size_t size)
{
    const char *outpath = tmp_path("out");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, outpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    char *argv[8];
    int n = 0;
    argv[n++] = (char *)tool;
    for (; args[n - 1] && n < 7; n++)
        argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    pid_t pid;
    int rc = posix_spawn(&pid, tool, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        pt_diag("posix_spawn %s: %s", tool, strerror(rc));
        return -1;
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    out[0] = '\0';
    FILE *f = fopen(outpath, "rb");
    if (f) {
        size_t got = fread(out, 1, size - 1, f);
        out[got] = '\0';
        fclose(f);
    }
    unlink(outpath);
    pt_diag("%s", out);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli_help(void)
{
    char out[4096];
    CHECK_EQ(run_tool((const char *const[]){"--help", NULL}, out, sizeof out), 0);
    CHECK(strstr(out, "usage: parx_probe") != NULL);
    CHECK_EQ(run_tool((const char *const[]){"--bogus", NULL}, out, sizeof out), 2);
    CHECK_EQ(run_tool((const char *const[]){"--json", NULL}, out, sizeof out), 2);
    /* an option where the file name should be: a usage error, no file made
       of that name, nothing measured (it was the output file before) */
    unlink("--quick");
    CHECK_EQ(run_tool((const char *const[]){"--json", "--quick", NULL}, out, sizeof out), 2);
    CHECK(strstr(out, "usage: parx_probe") != NULL);
    CHECK_MSG(access("--quick", F_OK) != 0, "parx_probe --json --quick wrote a file '--quick'");
    unlink("--quick");
}

/* --json given twice, or a FILE that cannot be written: exit 2 before the
   measuring (no table on the output), nothing written; the message names
   the file. It used to measure for seconds first and then fail. */
static void test_cli_json_refused(void)
{
    char out[4096];
    const char *a = tmp_path("twice-a"), *b = tmp_path("twice-b");
    unlink(a);
    unlink(b);
    CHECK_EQ(run_tool((const char *const[]){"--quick", "--json", a, "--json", b, NULL}, out,
                      sizeof out),
             2);
    CHECK(strstr(out, "twice") != NULL);
    CHECK(strstr(out, "Break-even") == NULL);
    CHECK_MSG(access(a, F_OK) != 0 && access(b, F_OK) != 0, "a file was written");
    unlink(a);
    unlink(b);
    /* "" and a FIFO too: an empty name was measured for first; a FIFO (or a
       device node) was replaced by a file */
    char fifo[128]; /* a copy: tmp_path reuses its buffers, and run_tool calls it */
    snprintf(fifo, sizeof fifo, "%s", tmp_path("cli-fifo"));
    unlink(fifo);
    REQUIRE(mkfifo(fifo, 0600) == 0);
    const char *const bad[] = {"/nonexistent-parx-dir/p.json", "/", "/etc/hostname/p.json", "",
                               fifo};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_EQ(run_tool((const char *const[]){"--quick", "--json", bad[i], NULL}, out,
                          sizeof out),
                 2);
        char named[80];
        snprintf(named, sizeof named, "cannot write %s:", bad[i]);
        CHECK_MSG(strstr(out, named) != NULL, "the message does not name '%s'", bad[i]);
        CHECK_MSG(strstr(out, "Break-even") == NULL, "%s: measured before refusing", bad[i]);
    }
}

static void test_cli_json(void)
{
    const char *path = tmp_path("cli");
    char out[8192];
    CHECK_EQ(run_tool((const char *const[]){"--json", path, NULL}, out, sizeof out), 0);
    CHECK(strstr(out, "Break-even") != NULL);
    CHECK(strstr(out, "GPU") != NULL);
    parx_probe p;
    REQUIRE(parx_probe_load(&p, path) == 0);
    CHECK(p.measured);
    CHECK(p.cpus >= 1);
    CHECK(p.thread_start_ns > 0);
    /* saved again and loaded: the same */
    parx_probe q;
    REQUIRE(parx_probe_save(&p, path) == 0);
    REQUIRE(parx_probe_load(&q, path) == 0);
    check_equal(&p, &q);
    unlink(path);
    CHECK_EQ(run_tool((const char *const[]){"--quick", NULL}, out, sizeof out), 0);
    CHECK(strstr(out, "--quick") != NULL);
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "cli") == 0) {
        tool = argv[2];
        pt_plan(3);
        pt_run("parx_probe --help, and bad options: exit 2", test_cli_help);
        pt_run("parx_probe --json twice, or to a folder that takes no file: exit 2 first",
               test_cli_json_refused);
        pt_run("parx_probe --json FILE: exit 0, the file loads", test_cli_json);
        return pt_done_testing();
    }
    pt_plan(11);
    /* first, while this process has no thread: fork pools are started */
    pt_run("measure: every figure, or 0 and a reason where compiled out", test_measure_full);
    pt_run("measure with PARX_PROBE_NO_PROCS: process figures stay defaults", test_measure_quick);
    pt_run("measure: bad arguments", test_measure_bad_args);
    pt_run("save and load: equal field by field", test_round_trip);
    pt_run("save: a long name, a FIFO, permissions, a folder; format: a figure of 0",
           test_save_edges);
    pt_run("load: whitespace, any order, unknown keys, escapes, defaults", test_load_lenient);
    pt_run("load: garbage, truncations, wrong version and types: -EINVAL", test_load_rejects);
    pt_run("load and save: UTF-8 checked; bytes that are none refused, and saved as U+FFFD",
           test_utf8);
    pt_run("load and save: missing file, bad paths and arguments", test_file_errors);
    pt_run("format: units, sources, break-even; snprintf semantics", test_format);
    pt_run("measure with threads about: no fork pools, spawn instead", test_measure_with_threads);
    return pt_done_testing();
}
