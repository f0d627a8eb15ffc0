/* SPDX-License-Identifier: MIT */
/* tests/shm_stress.c -- several processes allocating and freeing in one arena
   at once. Sizes scale with PARX_STRESS_SCALE (default 1.0):
   - four processes, a million operations each, on an anonymous arena: every
     block gets a pattern derived from a seed of its own and is checked before
     it is freed, so a block handed out twice (or two that overlap) shows up.
     Blocks also travel between processes through a mailbox in the arena and
     are freed by whoever takes them out (frees from other shards);
   - the same with a named arena that the workers open by name (a quarter of
     the operations);
   - four processes closing a named arena at the same moment, after its
     creator: the name must be gone every time (the last one out removes it).
   Processes are forked before anything else runs (there are no threads),
   released at once through a pipe, and waited for; nothing sleeps. */
#define _GNU_SOURCE /* strsignal */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "parx_shm.h"
#include "parx_test.h"
#include "shm_common.h"

#define MiB ((size_t)1 << 20)
#define PROCS 4
#define SLOTS 256
#define MAILBOX 64

/* A block's size and alignment follow from its seed, so whoever holds the
   seed (its allocator or whoever takes it from the mailbox) can check it. */
static size_t seed_size(uint32_t seed)
{
    uint64_t h = mix64(seed);
    unsigned r = (unsigned)(h % 1000);
    h >>= 10;
    if (r < 700)
        return 1 + h % 256;
    if (r < 990)
        return 257 + h % (16384 - 256);
    return 16385 + h % 80000;
}

static size_t seed_align(uint32_t seed)
{
    uint64_t h = mix64(seed ^ 0xA11Cu);
    switch (h % 32) {
    case 0: return 64;
    case 1: return 4096;
    default: return 0;
    }
}

struct shared {
    _Atomic uint64_t mailbox[MAILBOX]; /* offset << 32 | seed; 0 = empty */
};

struct wstats {
    uint64_t ops, allocs, frees, mailed, foreign_frees;
    int errors;
};

#define WFAIL(st, ...)                                                            \
    do {                                                                          \
        if ((st)->errors++ < 5)                                                   \
            CHILD_DIAG(__VA_ARGS__);                                              \
    } while (0)

static int check_and_free(parx_arena *a, uint64_t entry, struct wstats *st, int id)
{
    uint64_t off = entry >> 32;
    uint32_t seed = (uint32_t)entry;
    size_t size = seed_size(seed);
    void *p = parx_arena_ptr(a, off);
    if (!p) {
        WFAIL(st, "worker %d: offset %llu maps to nothing", id, (unsigned long long)off);
        return 0;
    }
    if (!blk_check(p, size, seed)) {
        WFAIL(st, "worker %d: block at offset %llu (%zu bytes, seed 0x%x) was overwritten: "
                  "handed out twice or overlapping",
              id, (unsigned long long)off, size, seed);
        return 0;
    }
    int rc = parx_arena_free(a, p);
    if (rc != 0) {
        WFAIL(st, "worker %d: free of offset %llu: %d (%s)", id, (unsigned long long)off, rc,
              parx_strerror(rc));
        return 0;
    }
    st->frees++;
    st->ops++;
    return 1;
}

/* One worker's run: `nops` allocations and frees over SLOTS live blocks. */
static void work(parx_arena *a, int id, uint64_t nops, struct shared *sh, struct wstats *st)
{
    uint64_t slot[SLOTS] = {0};
    rnd r = rnd_seed((uint64_t)id * 7919 + 1);
    uint32_t next_seed = (uint32_t)id << 28;
    while (st->ops < nops && st->errors == 0) {
        unsigned k = (unsigned)rnd_below(&r, SLOTS);
        if (slot[k]) {
            uint64_t e = slot[k];
            slot[k] = 0;
            if (rnd_below(&r, 8) == 0) { /* post it; free whatever was there */
                unsigned m = (unsigned)rnd_below(&r, MAILBOX);
                uint64_t got = atomic_exchange(&sh->mailbox[m], e);
                st->mailed++;
                if (got) {
                    if ((uint32_t)got >> 28 != (unsigned)id)
                        st->foreign_frees++;
                    check_and_free(a, got, st, id);
                }
            } else {
                check_and_free(a, e, st, id);
            }
            continue;
        }
        uint32_t seed = next_seed++;
        size_t size = seed_size(seed), align = seed_align(seed);
        void *p = parx_arena_alloc(a, size, align);
        if (!p) {
            WFAIL(st, "worker %d: alloc(%zu, %zu) failed: %s", id, size, align, strerror(errno));
            break;
        }
        size_t want = align < 16 ? 16 : align;
        uint64_t off = parx_arena_offset(a, p);
        if ((uintptr_t)p % want != 0 || off == PARX_ARENA_NO_OFFSET ||
            off + size > parx_arena_size(a) || off >> 32) {
            WFAIL(st, "worker %d: alloc(%zu, %zu) = %p: misaligned or outside the arena", id, size,
                  align, p);
            break;
        }
        blk_fill(p, size, seed);
        slot[k] = off << 32 | seed;
        st->allocs++;
        st->ops++;
    }
    for (unsigned k = 0; k < SLOTS; k++)
        if (slot[k])
            check_and_free(a, slot[k], st, id);
}

/* A worker process: attach, wait for the start, work, report, _exit. */
static void worker(parx_arena *inherited, const char *name, int id, uint64_t nops,
                   uint64_t sh_off, int ready_fd, int go_fd, int result_fd)
{
    int err = 0;
    parx_arena *a = NULL;
    int own = 1;
    if (id == 0) { /* the handle it inherited, as it is */
        a = inherited;
        own = 0;
    } else if (name) { /* by name */
        a = parx_arena_open(name, &err);
    } else { /* by descriptor; id 3 drops the inherited handle first */
        int fd = dup(parx_arena_fd(inherited));
        if (id == 3)
            parx_arena_close(inherited);
        a = fd >= 0 ? parx_arena_from_fd(fd, &err) : NULL;
        if (fd >= 0)
            close(fd);
    }
    if (!a) {
        CHILD_DIAG("worker %d: attach failed: %d (%s)", id, err, parx_strerror(err));
        _exit(10);
    }
    struct shared *sh = (struct shared *)parx_arena_ptr(a, sh_off);
    char c = 'r';
    xwrite(ready_fd, &c, 1);
    xread(go_fd, &c, 1); /* EOF: everyone starts */
    struct wstats st = {0};
    work(a, id, nops, sh, &st);
    xwrite(result_fd, &st, sizeof st);
    if (own)
        parx_arena_close(a);
    _exit(st.errors ? 1 : 0);
}

static void run_procs(int use_name, uint64_t nops)
{
    int err = 0;
    parx_arena *a = keep(parx_arena_create(
        &(parx_arena_desc){.size = (use_name ? 32 : 64) * MiB, .named = use_name}, &err));
    if (!CHECK_MSG(a != NULL, "create: %d (%s)", err, parx_strerror(err)))
        return;
    char name[64] = "";
    if (use_name)
        snprintf(name, sizeof name, "%s", parx_arena_name(a));
    struct shared *sh = (struct shared *)parx_arena_alloc(a, sizeof *sh, 64);
    REQUIRE(sh != NULL);
    for (int m = 0; m < MAILBOX; m++)
        atomic_init(&sh->mailbox[m], 0);
    uint64_t sh_off = parx_arena_offset(a, sh);
    int ready[2], go[2], res[2];
    REQUIRE(pipe2(ready, O_CLOEXEC) == 0 && pipe2(go, O_CLOEXEC) == 0 &&
            pipe2(res, O_CLOEXEC) == 0);
    pid_t pid[PROCS];
    int started = 0;
    for (int i = 0; i < PROCS; i++) {
        pid[i] = xfork();
        if (!CHECK(pid[i] >= 0))
            break;
        if (pid[i] == 0) {
            close(ready[0]);
            close(go[1]);
            close(res[0]);
            worker(a, use_name ? name : NULL, i, nops, sh_off, ready[1], go[0], res[1]);
        }
        started++;
    }
    close(ready[1]);
    close(go[0]);
    close(res[1]);
    for (int i = 0; i < started; i++) {
        char c;
        CHECK(xread(ready[0], &c, 1));
    }
    close(go[1]); /* go */
    struct wstats total = {0};
    for (int i = 0; i < started; i++) {
        struct wstats st;
        if (xread(res[0], &st, sizeof st)) {
            total.ops += st.ops;
            total.allocs += st.allocs;
            total.frees += st.frees;
            total.mailed += st.mailed;
            total.foreign_frees += st.foreign_frees;
            total.errors += st.errors;
        }
    }
    for (int i = 0; i < started; i++)
        CHECK_MSG(expect_child(pid[i], 0, 0), "worker %d", i);
    close(ready[0]);
    close(res[0]);
    CHECK_EQ(total.errors, 0);
    CHECK_MSG(total.ops >= (uint64_t)started * nops, "%llu operations, want %llu",
              (unsigned long long)total.ops, (unsigned long long)started * nops);
    /* what is left in the mailbox: check and free it here */
    struct wstats mine = {0};
    for (int m = 0; m < MAILBOX; m++) {
        uint64_t e = atomic_exchange(&sh->mailbox[m], 0);
        if (e)
            CHECK(check_and_free(a, e, &mine, -1));
    }
    CHECK_EQ(mine.errors, 0);
    CHECK_EQ(total.allocs, total.frees + mine.frees);
    CHECK_EQ(parx_arena_free(a, sh), 0);
    parx_arena_usage u;
    CHECK_EQ(parx_arena_stats(a, &u), 0);
    pt_diag("%d processes, %llu operations (%llu allocations, %llu through the mailbox, %llu "
            "freed by another process); high water %llu of %llu KiB",
            started, (unsigned long long)total.ops, (unsigned long long)total.allocs,
            (unsigned long long)total.mailed, (unsigned long long)total.foreign_frees,
            (unsigned long long)(u.high_water >> 10), (unsigned long long)(u.capacity >> 10));
    CHECK_MSG(u.used == 0, "%llu bytes still in use after every block was freed",
              (unsigned long long)u.used);
    CHECK(u.reserved <= u.capacity && u.free == u.capacity - u.reserved);
    if (use_name)
        CHECK_EQ_U(u.processes, 1);
    parx_arena_close(a);
    if (use_name)
        CHECK(!shm_exists(name));
}

static uint64_t g_ops;

static void test_procs_anon(void)
{
    run_procs(0, g_ops);
}

static void test_procs_named(void)
{
    run_procs(1, g_ops / 4 ? g_ops / 4 : 1);
}

/* The creator closes first; then four users close at the same moment. */
static void test_simultaneous_close(void)
{
    size_t rounds = pt_scaled(200, 5);
    int leaked = 0;
    for (size_t round = 0; round < rounds; round++) {
        parx_arena *a =
            keep(parx_arena_create(&(parx_arena_desc){.size = 1 * MiB, .named = true}, NULL));
        REQUIRE(a != NULL);
        char name[64];
        snprintf(name, sizeof name, "%s", parx_arena_name(a));
        int ready[2], go[2];
        REQUIRE(pipe2(ready, O_CLOEXEC) == 0 && pipe2(go, O_CLOEXEC) == 0);
        pid_t pid[PROCS];
        for (int i = 0; i < PROCS; i++) {
            pid[i] = xfork();
            REQUIRE(pid[i] >= 0);
            if (pid[i] == 0) {
                close(ready[0]);
                close(go[1]);
                parx_arena *b = parx_arena_open(name, NULL);
                xwrite(ready[1], b ? "r" : "x", 1);
                char c;
                xread(go[0], &c, 1);
                parx_arena_close(b);
                _exit(b ? 0 : 10);
            }
        }
        close(ready[1]);
        close(go[0]);
        for (int i = 0; i < PROCS; i++) {
            char c = 0;
            CHECK(xread(ready[0], &c, 1) && c == 'r');
        }
        parx_arena_close(a);
        close(go[1]); /* all close now */
        for (int i = 0; i < PROCS; i++)
            expect_child(pid[i], 0, 0);
        close(ready[0]);
        if (shm_exists(name)) {
            if (leaked++ == 0)
                pt_diag("round %zu: after the last of %d processes closed, %s is still there",
                        round, PROCS, name);
            shm_unlink(name);
        }
    }
    CHECK_MSG(leaked == 0, "the name was left behind in %d of %zu rounds", leaked, rounds);
}

int main(void)
{
    g_ops = pt_scaled(1000000, 1000);
    pt_diag("%d processes x %llu operations (PARX_STRESS_SCALE=%g)", PROCS,
            (unsigned long long)g_ops, pt_scale());
    run_guarded("4 processes allocate and free at once (anonymous arena); no block handed out "
                "twice",
                test_procs_anon);
    run_guarded("4 processes allocate and free at once (named arena, opened by name)",
                test_procs_named);
    run_guarded("the last of several processes closing at once removes the name",
                test_simultaneous_close);
    return pt_done_testing();
}
