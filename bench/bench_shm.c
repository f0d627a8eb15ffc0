/* SPDX-License-Identifier: MIT */
/*
    bench/bench_shm.c -- parx_shm.h arenas against what a C or Python
    programmer would otherwise use (the Python side is bench_shm.py).

        bench_shm alloc  impl=parx|glibc procs=P ops=2e6 batch=1000 size=64 reps=5 starts=3
        bench_shm create kind=anonymous|named mib=1024 reps=20
        bench_shm memory procs=2,4,8 mib=1024

    alloc   small allocation + free throughput. Each of `procs` processes,
            all released at once, runs ops/batch rounds of: allocate `batch`
            blocks of `size` bytes (writing one byte into each), then free
            them in the same order. impl=parx: all processes on one arena,
            created by the parent and inherited by fork (each child gets a
            shard of its own on first use); impl=glibc: malloc and free, each
            process in its own heap. Metric `ns`: wall time of the slowest
            process / its pairs, i.e. the time one alloc+free pair takes in
            each process while the others run; `mops`: all processes' pairs
            per second, in millions. All of it `starts` times from scratch (a
            fresh arena, fresh processes, a warm-up, `reps` repetitions):
            how the processes' first allocations interleave can change the
            speed of all that follow, so `ns` is the best repetition of all
            and `ns_worst_start` the best of the slowest start.
    create  a 1 GiB arena created in this process and attached in another
            (a helper forked before timing starts), one pair per repetition:
            kind=anonymous: parx_arena_create, then parx_arena_send over a
            UNIX socket and parx_arena_recv there (the descriptor's transfer
            is in the attach time); kind=named: parx_arena_create(.named),
            the name sent over the socket untimed, parx_arena_open there.
            Closing and unlinking happen outside the timed region. Metrics in
            microseconds: create_us, attach_us and total_us (their sum for
            one repetition), each the best over the repetitions after an
            untimed warm-up, and first_us, the warm-up's total (a cold start).
    memory  the memory that `procs` processes use to read the same 1 GiB,
            for each count in the list: the sum of Pss (and of Rss) over the
            parent and its children from /proc/<pid>/smaps_rollup, read when
            every child has read its data and is waiting (synchronised by
            pipes). Both ways, one after the other. "parx arena": the
            parent fills a 1 GiB block of an arena, the children read every
            word of it in place. "private malloc+memcpy": the parent fills
            1 GiB of malloc'd memory, each child mallocs its own 1 GiB,
            copies the data in and lets go of the parent's pages (frees its
            inherited view), and the parent frees the original once every
            child holds its copy, as if each had received it by message.
            Metrics pss_mib, rss_mib; `threads` is the number of children.

    In the RES lines, the `threads` field holds the number of processes.
    This file only includes the declarations; link it with the
    implementation (bench/run compiles a unit that defines
    PARX_SHM_IMPLEMENTATION; meson links parx_impl_dep). Build by hand:
        cc -std=c11 -O2 -Wall -Wextra -pthread -I.. bench_shm.c bench_common.c ../parx.c -lm
*/
#define _POSIX_C_SOURCE 200809L /* fork, pipe, poll, socketpair with -std=c11 */

#include "bench.h"
#include "parx_shm.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PROCS 64

/* ===== process plumbing =================================================== */

/* write() or read() all of buf (restarting after signals); false at EOF or
   on an error. */
static bool write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static void make_pipe(int fd[2])
{
    if (pipe(fd) != 0)
        bench_die("pipe: %s", strerror(errno));
}

/* fork, with stdout flushed first so that no child repeats buffered lines. */
static pid_t fork_child(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork: %s", strerror(errno));
    return pid;
}

/* Wait for each child; die if one did not exit with status 0. */
static void reap(const pid_t *pid, int n)
{
    bool ok = true;
    for (int i = 0; i < n; i++) {
        int status = 0;
        pid_t got;
        while ((got = waitpid(pid[i], &status, 0)) < 0 && errno == EINTR) {
        }
        if (got < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "bench: child %d failed (status 0x%x)\n", (int)pid[i],
                    (unsigned)status);
            ok = false;
        }
    }
    if (!ok)
        bench_die("a child process failed");
}

/* The sum of Pss and Rss in KiB of process `pid` (0: this one) from
   /proc/<pid>/smaps_rollup (Linux 4.14 and later). A page mapped by k
   processes counts fully in each one's Rss and 1/k in each one's Pss, so
   Pss summed over processes counts every page once. */
static void memory_kib(pid_t pid, long *pss, long *rss)
{
    char path[64], line[256];
    if (pid == 0)
        snprintf(path, sizeof path, "/proc/self/smaps_rollup");
    else
        snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        bench_die("%s: %s", path, strerror(errno));
    *pss = *rss = -1;
    while (fgets(line, sizeof line, f)) {
        sscanf(line, "Pss: %ld kB", pss);
        sscanf(line, "Rss: %ld kB", rss);
    }
    fclose(f);
    if (*pss < 0 || *rss < 0)
        bench_die("%s has no Pss or Rss line", path);
}

/* A case name for a size in MiB: "create1g" for 1024, "create64m" for 64. */
static void size_case(char *buf, size_t len, const char *prefix, long mib)
{
    if (mib % 1024 == 0)
        snprintf(buf, len, "%s%ldg", prefix, mib / 1024);
    else
        snprintf(buf, len, "%s%ldm", prefix, mib);
}

static parx_arena *make_arena(size_t size, bool named)
{
    int err = 0;
    parx_arena_desc d;
    memset(&d, 0, sizeof d);
    d.size = size;
    d.named = named;
    parx_arena *a = parx_arena_create(&d, &err);
    if (!a)
        bench_die("parx_arena_create(%zu bytes%s): %s (%d)", size, named ? ", named" : "",
                  parx_strerror(err), err);
    return a;
}

/* ===== alloc: small blocks, allocated and freed in batches ================= */

typedef struct churn {
    parx_arena *arena; /* NULL: glibc malloc and free */
    void **slot;       /* the blocks of one batch */
    long batch, rounds;
    size_t size;
} churn;

/* Tell the compiler that p escapes, so that it cannot drop a malloc + free
   pair whose block it sees no one use. Costs nothing at run time. */
static inline void escape(void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

/* One process's part of one repetition; returns its wall seconds. The two
   loops are the same but for the calls, so that neither pays for an
   indirect call the other does not. */
static double churn_run(const churn *c)
{
    uint64_t t0 = bench_now_ns();
    if (c->arena) {
        for (long r = 0; r < c->rounds; r++) {
            for (long i = 0; i < c->batch; i++) {
                char *p = parx_arena_alloc(c->arena, c->size, 0);
                if (!p)
                    bench_die("parx_arena_alloc(%zu): %s", c->size, strerror(errno));
                *p = (char)i; /* touch the block, as a user would */
                escape(p);
                c->slot[i] = p;
            }
            for (long i = 0; i < c->batch; i++)
                if (parx_arena_free(c->arena, c->slot[i]) != 0)
                    bench_die("parx_arena_free refused a block it gave");
        }
    } else {
        for (long r = 0; r < c->rounds; r++) {
            for (long i = 0; i < c->batch; i++) {
                char *p = malloc(c->size);
                if (!p)
                    bench_die("malloc(%zu): %s", c->size, strerror(errno));
                *p = (char)i;
                escape(p);
                c->slot[i] = p;
            }
            for (long i = 0; i < c->batch; i++)
                free(c->slot[i]);
        }
    }
    return (double)(bench_now_ns() - t0) * 1e-9;
}

/* Run churn_run in `procs` forked processes at once, reps + 1 times (the
   first is an untimed warm-up). The children wait on the `go` pipe; one
   write of `procs` bytes releases them all; each sends back its own time on
   `res`. A repetition counts as long as its slowest process. */
static void churn_procs(const churn *c, int procs, bench_reps *out)
{
    int go[2], res[2];
    pid_t pid[MAX_PROCS];
    make_pipe(go);
    make_pipe(res);
    for (int k = 0; k < procs; k++) {
        pid[k] = fork_child();
        if (pid[k] == 0) {
            close(go[1]);
            close(res[0]);
            char b;
            while (read_all(go[0], &b, 1)) { /* EOF: no more repetitions */
                double t = churn_run(c);
                if (!write_all(res[1], &t, sizeof t))
                    _exit(1);
            }
            _exit(0);
        }
    }
    close(go[0]);
    close(res[1]);
    char release[MAX_PROCS];
    memset(release, 1, sizeof release);
    for (int rep = 0; rep == 0 || bench_reps_more(out); rep++) {
        double slowest = 0.0, t;
        if (!write_all(go[1], release, (size_t)procs))
            bench_die("cannot release the children");
        for (int k = 0; k < procs; k++) {
            if (!read_all(res[0], &t, sizeof t))
                bench_die("a child died during a repetition");
            slowest = t > slowest ? t : slowest;
        }
        if (rep > 0) /* repetition 0 is the warm-up */
            bench_reps_add(out, slowest);
    }
    close(go[1]);
    close(res[0]);
    reap(pid, procs);
}

static void run_alloc(int argc, char **argv)
{
    const char *impl = bench_arg_str(argc, argv, "impl", "parx");
    int procs = (int)bench_arg_long(argc, argv, "procs", 1);
    long ops = bench_arg_long(argc, argv, "ops", 2000000);
    churn c;
    memset(&c, 0, sizeof c);
    c.batch = bench_arg_long(argc, argv, "batch", 1000);
    c.size = (size_t)bench_arg_long(argc, argv, "size", 64);
    c.rounds = ops / (c.batch > 0 ? c.batch : 1);
    if (procs < 1 || procs > MAX_PROCS || c.batch < 1 || c.rounds < 1 || c.size < 1)
        bench_die("alloc: need 1 <= procs <= %d, 1 <= batch <= ops, size >= 1", MAX_PROCS);
    bool parx = strcmp(impl, "parx") == 0;
    if (!parx && strcmp(impl, "glibc") != 0)
        bench_die("alloc: impl=parx or impl=glibc, not '%s'", impl);
    c.slot = malloc((size_t)c.batch * sizeof *c.slot);
    if (!c.slot)
        bench_die("out of memory");
    int reps = (int)bench_arg_long(argc, argv, "reps", 5);
    int starts = (int)bench_arg_long(argc, argv, "starts", 3);
    if (reps < 1 || starts < 1 || starts > BENCH_MAX_REPS)
        bench_die("alloc: need reps >= 1 and 1 <= starts <= %d", BENCH_MAX_REPS);
    if (reps * starts > BENCH_MAX_REPS)
        reps = BENCH_MAX_REPS / starts; /* what bench_reps can hold */

    bench_reps all; /* every repetition of every start */
    double worst_start = 0.0;
    bench_reps_init(&all, reps * starts, 1e30);
    for (int s = 0; s < starts; s++) {
        /* Room for every process's batch many times over: size is never the limit. */
        if (parx)
            c.arena = make_arena((size_t)procs * (size_t)c.batch * (c.size + 64) * 4 + (64u << 20),
                                 false);
        bench_reps r;
        bench_reps_init(&r, reps, 1e30);
        churn_procs(&c, procs, &r);
        for (int i = 0; i < r.n; i++)
            bench_reps_add(&all, r.v[i]);
        if (bench_reps_min(&r) > worst_start)
            worst_start = bench_reps_min(&r);
        parx_arena_close(c.arena);
        c.arena = NULL;
    }

    char cas[32];
    snprintf(cas, sizeof cas, "alloc%zu", c.size);
    const char *variant = parx ? "alloc+free" : "malloc+free";
    double pairs = (double)c.rounds * (double)c.batch;
    bench_reps_emit(&all, "shm", impl, variant, cas, procs, "ns", 1e9 / pairs);
    bench_emit("shm", impl, variant, cas, procs, "ns_worst_start", worst_start * 1e9 / pairs);
    bench_emit("shm", impl, variant, cas, procs, "starts", starts);
    bench_emit("shm", impl, variant, cas, procs, "mops",
               (double)procs * pairs / bench_reps_min(&all) * 1e-6);
    free(c.slot);
}

/* ===== create: a 1 GiB arena created here and attached in another process == */

/* What the parent sends for a named arena: the name, NUL-padded. */
typedef struct name_msg {
    char name[256];
} name_msg;

/* The helper process: attach to every arena the parent announces, time the
   attach, close it, then send the time back. Returns at EOF. */
static void attacher(int sock, bool named)
{
    for (;;) {
        int err = 0;
        uint64_t t0;
        parx_arena *b;
        if (named) {
            name_msg m;
            if (!read_all(sock, &m, sizeof m))
                return;
            m.name[sizeof m.name - 1] = '\0';
            t0 = bench_now_ns();
            b = parx_arena_open(m.name, &err);
        } else {
            /* Wait untimed until the descriptor is there; time its receipt
               and the attach (parx_arena_recv does both). */
            struct pollfd p = {sock, POLLIN, 0};
            while (poll(&p, 1, -1) < 0 && errno == EINTR) {
            }
            t0 = bench_now_ns();
            b = parx_arena_recv(sock, &err);
            if (!b && err == -ECONNRESET)
                return; /* the parent is done */
        }
        double t = (double)(bench_now_ns() - t0) * 1e-9;
        if (!b)
            bench_die("attach: %s (%d)", parx_strerror(err), err);
        parx_arena_close(b);
        if (!write_all(sock, &t, sizeof t))
            bench_die("cannot report to the parent");
    }
}

static void run_create(int argc, char **argv)
{
    const char *kind = bench_arg_str(argc, argv, "kind", "anonymous");
    long mib = bench_arg_long(argc, argv, "mib", 1024);
    bool named = strcmp(kind, "named") == 0;
    if (!named && strcmp(kind, "anonymous") != 0)
        bench_die("create: kind=anonymous or kind=named, not '%s'", kind);
    if (mib < 1)
        bench_die("create: mib >= 1");
    size_t size = (size_t)mib << 20;

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        bench_die("socketpair: %s", strerror(errno));
    pid_t helper = fork_child();
    if (helper == 0) {
        close(sv[0]);
        attacher(sv[1], named);
        _exit(0);
    }
    close(sv[1]);

    bench_reps create, attach, total;
    int reps = (int)bench_arg_long(argc, argv, "reps", 20);
    bench_reps_init(&create, reps, 1e30);
    bench_reps_init(&attach, reps, 1e30);
    bench_reps_init(&total, reps, 1e30);
    double first = -1.0;
    while (first < 0 || bench_reps_more(&total)) {
        uint64_t t0 = bench_now_ns();
        parx_arena *a = make_arena(size, named);
        double tc = (double)(bench_now_ns() - t0) * 1e-9, ta;
        if (named) {
            name_msg m;
            memset(&m, 0, sizeof m);
            snprintf(m.name, sizeof m.name, "%s", parx_arena_name(a));
            if (!write_all(sv[0], &m, sizeof m))
                bench_die("cannot send the name to the helper");
        } else {
            int rc = parx_arena_send(sv[0], a);
            if (rc != 0)
                bench_die("parx_arena_send: %s (%d)", parx_strerror(rc), rc);
        }
        if (!read_all(sv[0], &ta, sizeof ta))
            bench_die("the helper died");
        parx_arena_close(a); /* the last one out: unlinks a named arena */
        if (first < 0) {
            first = tc + ta; /* the warm-up: a cold start */
            continue;
        }
        bench_reps_add(&create, tc);
        bench_reps_add(&attach, ta);
        bench_reps_add(&total, tc + ta);
    }
    close(sv[0]);
    reap(&helper, 1);

    char cas[32];
    size_case(cas, sizeof cas, "create", mib);
    bench_reps_emit(&total, "shm", "parx", kind, cas, 1, "total_us", 1e6);
    bench_reps_emit_also(&create, "shm", "parx", kind, cas, 1, "create_us", 1e6);
    bench_reps_emit_also(&attach, "shm", "parx", kind, cas, 1, "attach_us", 1e6);
    bench_emit("shm", "parx", kind, cas, 1, "first_us", first * 1e6);
}

/* ===== memory: Pss when k processes read the same 1 GiB ====================== */

/* A group of children that each run fn(ctx), report on `ready`, then wait
   for EOF on `exit` so that their memory can be measured meanwhile. */
typedef struct group {
    int n;
    pid_t pid[MAX_PROCS];
    int exit_w; /* the parent's end of the exit pipe: closing it ends them */
} group;

/* Start n children and return once every one has run fn. */
static void group_start(group *g, int n, void (*fn)(void *), void *ctx)
{
    int ready[2], ex[2];
    make_pipe(ready);
    make_pipe(ex);
    g->n = n;
    for (int k = 0; k < n; k++) {
        g->pid[k] = fork_child();
        if (g->pid[k] == 0) {
            close(ready[0]);
            close(ex[1]);
            fn(ctx);
            char b = 1;
            if (!write_all(ready[1], &b, 1))
                _exit(1);
            read_all(ex[0], &b, 1); /* returns false at EOF: the parent is done */
            _exit(0);
        }
    }
    close(ready[1]);
    close(ex[0]);
    g->exit_w = ex[1];
    for (int k = 0; k < n; k++) {
        char b;
        if (!read_all(ready[0], &b, 1))
            bench_die("a child died before it reported");
    }
    close(ready[0]);
}

/* Pss and Rss in MiB summed over this process and the group. */
static void group_memory(const group *g, double *pss_mib, double *rss_mib)
{
    long pss, rss, pss_sum, rss_sum;
    memory_kib(0, &pss_sum, &rss_sum);
    for (int k = 0; k < g->n; k++) {
        memory_kib(g->pid[k], &pss, &rss);
        pss_sum += pss;
        rss_sum += rss;
    }
    *pss_mib = (double)pss_sum / 1024.0;
    *rss_mib = (double)rss_sum / 1024.0;
}

static void group_end(group *g)
{
    close(g->exit_w);
    reap(g->pid, g->n);
}

typedef struct memory_ctx {
    uint64_t *data; /* the parent's 1 GiB: in the arena, or malloc'd */
    size_t words;
} memory_ctx;

/* Fill the data: a different value in every word. */
static void fill(uint64_t *data, size_t words)
{
    for (size_t i = 0; i < words; i++)
        data[i] = i * UINT64_C(0x9E3779B97F4A7C15);
}

/* Child, impl=parx: read every word of the shared data in place. */
static void read_shared(void *vctx)
{
    const memory_ctx *c = vctx;
    uint64_t sum = 0;
    for (size_t i = 0; i < c->words; i++)
        sum += c->data[i];
    escape(&sum);
}

/* Child, impl=private: take a copy of its own, then let go of the parent's
   pages (free unmaps this process's view of a block this large). */
static void copy_private(void *vctx)
{
    const memory_ctx *c = vctx;
    uint64_t *mine = malloc(c->words * sizeof *mine);
    if (!mine)
        _exit(3);
    memcpy(mine, c->data, c->words * sizeof *mine);
    escape(mine);
    free(c->data);
    /* `mine` stays until the process exits: it is what is being measured. */
}

static void emit_memory(const char *impl, const char *variant, const char *cas, int n,
                        const group *g)
{
    double pss, rss;
    group_memory(g, &pss, &rss);
    bench_emit("shm", impl, variant, cas, n, "pss_mib", pss);
    bench_emit("shm", impl, variant, cas, n, "rss_mib", rss);
}

static void run_memory(int argc, char **argv)
{
    long mib = bench_arg_long(argc, argv, "mib", 1024);
    const char *list = bench_arg_str(argc, argv, "procs", "2,4,8");
    if (mib < 1)
        bench_die("memory: mib >= 1");
    size_t bytes = (size_t)mib << 20;
    memory_ctx c = {NULL, bytes / sizeof(uint64_t)};
    int counts[16], ncounts = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *sp = NULL, *s = strtok_r(buf, ",", &sp); s && ncounts < 16;
         s = strtok_r(NULL, ",", &sp)) {
        long k = strtol(s, NULL, 10);
        if (k < 1 || k > MAX_PROCS)
            bench_die("memory: process counts 1..%d, not '%s'", MAX_PROCS, s);
        counts[ncounts++] = (int)k;
    }
    char cas[32];
    size_case(cas, sizeof cas, "mem", mib);

    /* Shared: one arena, filled once, read by each group in turn. Room for
       the block and the arena's header and page map (~0.1% + 8 KiB). */
    parx_arena *a = make_arena(bytes + bytes / 256 + (1u << 20), false);
    c.data = parx_arena_alloc(a, bytes, 0);
    if (!c.data)
        bench_die("parx_arena_alloc(%zu): %s", bytes, strerror(errno));
    fill(c.data, c.words);
    for (int i = 0; i < ncounts; i++) {
        group g;
        group_start(&g, counts[i], read_shared, &c);
        emit_memory("parx", "arena", cas, counts[i], &g);
        group_end(&g);
    }
    parx_arena_close(a);

    /* Private copies: the original is made again for every group, since
       the parent lets go of it once the children have their copies. */
    for (int i = 0; i < ncounts; i++) {
        c.data = malloc(bytes);
        if (!c.data)
            bench_die("out of memory for %zu bytes", bytes);
        fill(c.data, c.words);
        group g;
        group_start(&g, counts[i], copy_private, &c);
        free(c.data);
        emit_memory("private", "malloc+memcpy", cas, counts[i], &g);
        group_end(&g);
    }
}

int main(int argc, char **argv)
{
    const char *b = argc > 1 ? argv[1] : "";
    void (*run)(int, char **) = strcmp(b, "alloc") == 0    ? run_alloc
                                : strcmp(b, "create") == 0 ? run_create
                                : strcmp(b, "memory") == 0 ? run_memory
                                                           : NULL;
    if (!run)
        bench_die("usage: %s alloc|create|memory [key=value ...]", argv[0]);
    run(argc, argv);
    return 0;
}
