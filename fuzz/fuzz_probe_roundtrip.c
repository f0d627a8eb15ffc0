/* SPDX-License-Identifier: MIT */
/* fuzz/fuzz_probe_roundtrip.c -- libFuzzer harness: parx_probe_save of a
   fuzz-made parx_probe, then parx_probe_load of the file it wrote (parx.h,
   parx_probe_save / parx_probe_load, and >>run: the JSON file).

   Input layout (fuzz/seeds.c writes probes parx made in it; short inputs
   read as zeros past their end):
     [0..4)    i32     cpus, as it is (0, negative and huge ones too)
     [4..76)   9 f64   the times, raw bits (NaN, infinities, -0.0,
                       subnormals, negatives too), in the struct's order
     [76..80)  i32     io_uring, as it is
     [80]      u8      bit 0: measured
     [81..85)  u32     measured_mask
     [85..)            io_uring_why, gpu_name, notes, each as a length byte
                       L (L % (size + 1), size the field's array), then that
                       many bytes into the array: L == size fills it with no
                       NUL; otherwise a NUL follows them and 0xA5 bytes (no
                       UTF-8) fill the rest. The bytes are raw: controls,
                       quotes, backslashes, bytes that are no UTF-8, NULs.

   The file goes to a directory of the harness's own. Properties, as the
   header documents them (at parx_probe_save / parx_probe_load; for the
   strings, at parx__pbuf_json_str, parx__json_string and
   parx__json_text):
     - save returns 0, leaves *p as it was, and leaves the file, and no
       other (its temporary file renamed over it), in the directory;
     - load of that file returns 0, writes nothing outside *p, and every
       string field is NUL-terminated inside its array;
     - each field reads back as saved, up to the documented folds: a time
       that is not finite and positive as +0.0, else the same double; cpus
       below 1 as this process's CPU count (parx_probe_defaults' cpus),
       above 2^20 as 2^20; io_uring 0 or 1 as it was (anything else, which
       the field does not hold, at least as 0 or 1); measured and
       measured_mask as they were; a string as its bytes up to its NUL or
       the array's end, each byte that starts no UTF-8 sequence (RFC 3629)
       as U+FFFD, then cut at a character boundary to fit its array with
       the NUL (load keeps whole characters while they fit, none after the
       first that does not);
     - what load read back, saved (over the old file) and loaded again,
       comes back the same in every field. */
#define _GNU_SOURCE
#define PARX_NO_URING /* save and load are the target; no liburing needed */
#define PARX_IMPLEMENTATION
#include "parx.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_utf8.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[256], path[300];
static int cpu_count; /* "this process's CPU count", as parx_probe_defaults gives it */

static void cleanup(void)
{
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    /* Not named parx-*: the tests' guards take such a name in /dev/shm,
       appearing beside them (suite fuzz runs beside the others), for a
       leaked arena. */
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/fuzz-probe-roundtrip-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror("fuzz_probe_roundtrip: mkdtemp");
        abort();
    }
    snprintf(path, sizeof path, "%s/probe.json", dir);
    atexit(cleanup);
    parx_probe d;
    parx_probe_defaults(&d);
    cpu_count = d.cpus;
    return 0;
}

/* The file save wrote last is shown and left where it is. */
static void fail(const char *what)
{
    char text[4096];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f)
        fclose(f);
    text[n] = '\0';
    fprintf(stderr, "the file save wrote last, %s:\n%s", path, text);
    fprintf(stderr, "PROPERTY VIOLATION: %s\n", what);
    abort();
}

/* ---- the input ------------------------------------------------------------- */

static void take(const uint8_t **d, size_t *n, void *out, size_t k)
{
    size_t m = *n < k ? *n : k;
    memset(out, 0, k);
    if (m)
        memcpy(out, *d, m);
    *d += m, *n -= m;
}

static void take_str(const uint8_t **d, size_t *n, char *out, size_t cap)
{
    uint8_t l = 0;
    take(d, n, &l, 1);
    size_t len = l % (cap + 1);
    if (len > *n)
        len = *n;
    memset(out, 0xA5, cap);
    if (len)
        memcpy(out, *d, len);
    *d += len, *n -= len;
    if (len < cap)
        out[len] = '\0';
}

/* ---- what load must give back ---------------------------------------------- */

/* The string field s (an array of cap bytes) as save then load give it
   back, into out (cap bytes). */
static void expect_str(const char *s, size_t cap, char *out)
{
    static const char fffd[] = "\xEF\xBF\xBD";
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strnlen(s, cap), len = 0;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_len(u + i, n - i);
        const char *c = l ? s + i : fffd;
        size_t cl = l ? l : 3;
        if (len + cl + 1 > cap)
            break; /* no character after the first that does not fit */
        memcpy(out + len, c, cl);
        len += cl;
        i += l ? l : 1;
    }
    out[len] = '\0';
}

static double expect_time(double x)
{
    return isfinite(x) && x > 0 ? x : 0.0;
}

/* ---- checks ---------------------------------------------------------------- */

#define NTIMES 9
static double *times(parx_probe *p, int k)
{
    double *t[NTIMES] = {&p->thread_start_ns, &p->task_ns,         &p->thread_job_ns,
                         &p->fork_start_ns,   &p->spawn_start_ns,  &p->proc_job_ns,
                         &p->proc_rt_ns,      &p->arena_attach_ns, &p->gpu_dispatch_ns};
    return t[k];
}

static const char *const time_names[NTIMES] = {
    "thread_start_ns", "task_ns",    "thread_job_ns",   "fork_start_ns",  "spawn_start_ns",
    "proc_job_ns",     "proc_rt_ns", "arena_attach_ns", "gpu_dispatch_ns"};

/* The directory holds the file and nothing else. */
static void only_the_file(const char *when)
{
    DIR *d = opendir(dir);
    if (!d) {
        perror("fuzz_probe_roundtrip: opendir");
        abort();
    }
    int files = 0, other = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (strcmp(e->d_name, "probe.json") == 0)
            files++;
        else
            other++, fprintf(stderr, "%s: left behind: %s\n", when, e->d_name);
    }
    closedir(d);
    if (files != 1 || other != 0)
        fail("save did not leave exactly its file in the directory");
}

static void save(const parx_probe *p, const char *when)
{
    parx_probe before;
    memcpy(&before, p, sizeof before);
    int rc = parx_probe_save(p, path);
    if (rc != 0) {
        fprintf(stderr, "%s: parx_probe_save returned %d (%s)\n", when, rc, parx_strerror(rc));
        fail("parx_probe_save failed");
    }
    if (memcmp(&before, p, sizeof before) != 0)
        fail("parx_probe_save changed *p");
    only_the_file(when);
}

/* Load into q, with guard bytes around it. */
static void load(parx_probe *q, const char *when)
{
    struct {
        unsigned char lo[64];
        parx_probe q;
        unsigned char hi[64];
    } g;
    memset(&g, 0x5A, sizeof g);
    int rc = parx_probe_load(&g.q, path);
    if (rc != 0) {
        fprintf(stderr, "%s: parx_probe_load returned %d (%s)\n", when, rc, parx_strerror(rc));
        fail("parx_probe_load failed on a file parx_probe_save wrote");
    }
    for (size_t k = 0; k < sizeof g.lo; k++)
        if (g.lo[k] != 0x5A || g.hi[k] != 0x5A)
            fail("parx_probe_load wrote outside *p");
    *q = g.q;
    if (!memchr(q->io_uring_why, 0, sizeof q->io_uring_why) ||
        !memchr(q->gpu_name, 0, sizeof q->gpu_name) || !memchr(q->notes, 0, sizeof q->notes))
        fail("a string field read back is not NUL-terminated");
    only_the_file(when);
}

static void show_str(const char *name, const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    fprintf(stderr, "  %s (%zu bytes):", name, n);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %02x", (unsigned char)s[i]);
    fprintf(stderr, "\n");
}

static void check_str(const char *name, const char *want, const char *got, size_t cap)
{
    if (strcmp(want, got) == 0)
        return;
    show_str("expected", want, cap);
    show_str("read back", got, cap);
    fprintf(stderr, "field %s\n", name);
    fail("a string field read back is not what was saved");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parx_probe p;
    memset(&p, 0, sizeof p);
    take(&data, &size, &p.cpus, sizeof p.cpus);
    for (int k = 0; k < NTIMES; k++)
        take(&data, &size, times(&p, k), sizeof(double));
    take(&data, &size, &p.io_uring, sizeof p.io_uring);
    uint8_t flags;
    take(&data, &size, &flags, 1);
    p.measured = flags & 1;
    take(&data, &size, &p.measured_mask, sizeof p.measured_mask);
    take_str(&data, &size, p.io_uring_why, sizeof p.io_uring_why);
    take_str(&data, &size, p.gpu_name, sizeof p.gpu_name);
    take_str(&data, &size, p.notes, sizeof p.notes);

    parx_probe q;
    save(&p, "first save");
    load(&q, "first load");

    int cpus = p.cpus < 1 ? cpu_count : p.cpus;
    if (cpus > (1 << 20))
        cpus = 1 << 20;
    if (q.cpus != cpus) {
        fprintf(stderr, "cpus %d saved, %d read back, %d expected\n", p.cpus, q.cpus, cpus);
        fail("cpus read back is not what was saved");
    }
    for (int k = 0; k < NTIMES; k++) {
        double a = *times(&p, k), b = *times(&q, k), want = expect_time(a);
        if (memcmp(&b, &want, sizeof b) != 0) {
            fprintf(stderr, "%s: %.17g (%a) saved, %.17g (%a) read back\n", time_names[k], a, a, b,
                    b);
            fail("a time read back is not what was saved");
        }
    }
    if ((p.io_uring == 0 || p.io_uring == 1) ? q.io_uring != p.io_uring
                                             : q.io_uring != 0 && q.io_uring != 1) {
        fprintf(stderr, "io_uring %d saved, %d read back\n", p.io_uring, q.io_uring);
        fail("io_uring read back is not what was saved");
    }
    if (q.measured != p.measured)
        fail("measured read back is not what was saved");
    if (q.measured_mask != p.measured_mask) {
        fprintf(stderr, "measured_mask %u saved, %u read back\n", p.measured_mask, q.measured_mask);
        fail("measured_mask read back is not what was saved");
    }
    char want[sizeof p.notes];
    expect_str(p.io_uring_why, sizeof p.io_uring_why, want);
    check_str("io_uring_why", want, q.io_uring_why, sizeof q.io_uring_why);
    expect_str(p.gpu_name, sizeof p.gpu_name, want);
    check_str("gpu_name", want, q.gpu_name, sizeof q.gpu_name);
    expect_str(p.notes, sizeof p.notes, want);
    check_str("notes", want, q.notes, sizeof q.notes);

    /* a probe load gave is kept whole */
    parx_probe r;
    save(&q, "second save");
    load(&r, "second load");
#define SAME(f) (memcmp(&q.f, &r.f, sizeof q.f) == 0)
    bool same = SAME(cpus) && SAME(io_uring) && SAME(measured) && SAME(measured_mask) &&
                strcmp(q.io_uring_why, r.io_uring_why) == 0 &&
                strcmp(q.gpu_name, r.gpu_name) == 0 && strcmp(q.notes, r.notes) == 0;
#undef SAME
    for (int k = 0; k < NTIMES; k++)
        same = same && memcmp(times(&q, k), times(&r, k), sizeof(double)) == 0;
    if (!same)
        fail("a probe parx_probe_load read back changed in a second round trip");
    return 0;
}
