/* SPDX-License-Identifier: MIT */
/* tests/shm_kill.c -- processes SIGKILLed in the middle of allocating never
   wedge the others, and what they leak is bounded.

   Each round forks a victim that attaches (the inherited handle, from_fd, or
   by name), says it is ready through a pipe, and allocates and frees in a
   loop; the parent spins a random number of iterations (no sleeps) and kills
   it with SIGKILL. Some rounds kill before the ready byte, so deaths during
   attach are covered too. Meanwhile a helper process allocates and frees
   without pause, and after every kill the parent checks that the helper
   keeps making progress and allocates and frees a batch itself, large blocks
   included (the page allocator's robust mutex may have died with its
   holder).

   The victim records each block it holds in a ledger in the arena, written
   after the block is filled and cleared before the block is freed; so after
   the kill the parent can check and free every recorded block, and what
   stays in use afterwards is what died in flight: at most one block per kill
   (parx_shm.h: "a process killed at any instant costs at most the block or
   span it was taking or giving back"). The test checks that bound and that
   the arena can still be filled and drained. Two runs: an anonymous arena,
   and a named one (its table of attached processes fills with the dead).
   Rounds: pt_scaled(300) per run (PARX_STRESS_SCALE). */
#define _GNU_SOURCE /* strsignal */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
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

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define LEDGER 8
#define BIG_MAX (40 * KiB) /* the largest block a victim takes: 10 pages */

struct shared {
    _Atomic uint64_t ledger[LEDGER]; /* the victim's blocks: offset << 32 | seed */
    _Atomic uint64_t helper_ops;     /* the helper's progress */
    _Atomic int helper_stop;
    _Atomic int helper_errors;
};

static size_t victim_size(uint32_t seed)
{
    uint64_t h = mix64(seed);
    return h % 10 == 0 ? 20 * KiB + (h >> 8) % (BIG_MAX - 20 * KiB + 1) : 16 + (h >> 8) % 497;
}

static parx_arena *attach(parx_arena *inherited, const char *name, int how, int *err)
{
    if (how == 0)
        return inherited;
    if (how == 2 && name)
        return parx_arena_open(name, err);
    return parx_arena_from_fd(parx_arena_fd(inherited), err);
}

/* The victim: runs until killed. Exits only on an error (a code > 0). */
static void victim(parx_arena *inherited, const char *name, int how, uint64_t sh_off, int ready_fd,
                   uint64_t seed0)
{
    int err = 0;
    parx_arena *a = attach(inherited, name, how, &err);
    if (!a) {
        CHILD_DIAG("victim: attach (way %d) failed: %d (%s)", how, err, parx_strerror(err));
        xwrite(ready_fd, "x", 1); /* so the parent does not wait for "r" */
        _exit(30);
    }
    struct shared *sh = (struct shared *)parx_arena_ptr(a, sh_off);
    rnd r = rnd_seed(seed0);
    uint32_t seed = (uint32_t)seed0 << 16;
    int ready = 0;
    for (uint64_t i = 0;; i++) {
        unsigned k = (unsigned)rnd_below(&r, LEDGER);
        uint64_t e = atomic_load(&sh->ledger[k]);
        if (e) {
            atomic_store(&sh->ledger[k], 0); /* forget it first: a death now leaks it */
            void *p = parx_arena_ptr(a, e >> 32);
            if (!p || !blk_check(p, victim_size((uint32_t)e), (uint32_t)e)) {
                CHILD_DIAG("victim: its block at %llu was overwritten", (unsigned long long)(e >> 32));
                _exit(31);
            }
            int rc = parx_arena_free(a, p);
            if (rc != 0) {
                CHILD_DIAG("victim: free: %d (%s)", rc, parx_strerror(rc));
                _exit(32);
            }
        } else {
            uint32_t s = seed++;
            size_t size = victim_size(s);
            void *p = parx_arena_alloc(a, size, 0);
            if (!p) {
                if (errno != ENOMEM)
                    _exit(33);
                continue; /* full of what earlier victims leaked: the parent judges that */
            }
            blk_fill(p, size, s);
            atomic_store(&sh->ledger[k], parx_arena_offset(a, p) << 32 | s); /* then record it */
        }
        if (!ready && i == 16) {
            ready = 1;
            xwrite(ready_fd, "r", 1);
        }
    }
}

/* The helper: allocates and frees until told to stop, checking patterns. */
static void helper(parx_arena *inherited, const char *name, uint64_t sh_off, int ready_fd)
{
    int err = 0;
    parx_arena *a = name ? parx_arena_open(name, &err) : parx_arena_from_fd(parx_arena_fd(inherited), &err);
    if (!a) {
        CHILD_DIAG("helper: attach failed: %d (%s)", err, parx_strerror(err));
        _exit(40);
    }
    struct shared *sh = (struct shared *)parx_arena_ptr(a, sh_off);
    enum { N = 32 };
    void *p[N] = {0};
    size_t sz[N];
    uint32_t sd[N];
    rnd r = rnd_seed(99);
    uint32_t seed = 0x80000000u;
    xwrite(ready_fd, "h", 1);
    while (!atomic_load(&sh->helper_stop)) {
        unsigned k = (unsigned)rnd_below(&r, N);
        if (p[k]) {
            if (!blk_check(p[k], sz[k], sd[k])) {
                atomic_fetch_add(&sh->helper_errors, 1);
                CHILD_DIAG("helper: a block of %zu bytes was overwritten", sz[k]);
            }
            if (parx_arena_free(a, p[k]) != 0)
                atomic_fetch_add(&sh->helper_errors, 1);
            p[k] = NULL;
        } else {
            sd[k] = seed++;
            sz[k] = rnd_below(&r, 16) == 0 ? 17 * KiB + rnd_below(&r, 30 * KiB) : 1 + rnd_below(&r, 600);
            p[k] = parx_arena_alloc(a, sz[k], 0);
            if (p[k])
                blk_fill(p[k], sz[k], sd[k]);
            else if (errno != ENOMEM)
                atomic_fetch_add(&sh->helper_errors, 1);
        }
        atomic_fetch_add(&sh->helper_ops, 1);
    }
    for (int k = 0; k < N; k++)
        if (p[k]) {
            if (!blk_check(p[k], sz[k], sd[k]) || parx_arena_free(a, p[k]) != 0)
                atomic_fetch_add(&sh->helper_errors, 1);
        }
    parx_arena_close(a);
    _exit(0);
}

/* The parent's own batch after each kill: small and large blocks. */
static int parent_batch(parx_arena *a, uint32_t seed)
{
    enum { N = 24 };
    void *p[N];
    size_t sz[N];
    int ok = 1;
    for (int i = 0; i < N; i++) {
        sz[i] = i % 8 == 0 ? 24 * KiB + (size_t)i * 100 : 8 + (size_t)i * 20;
        p[i] = parx_arena_alloc(a, sz[i], 0);
        if (!p[i]) {
            ok = CHECK_MSG(0, "the parent could not allocate %zu bytes after a kill: %s", sz[i],
                           strerror(errno));
            continue;
        }
        blk_fill(p[i], sz[i], seed + (uint32_t)i);
    }
    for (int i = 0; i < N; i++)
        if (p[i]) {
            ok &= CHECK(blk_check(p[i], sz[i], seed + (uint32_t)i));
            ok &= CHECK_EQ(parx_arena_free(a, p[i]), 0);
        }
    return ok;
}

/* Fill with blocks of `size` until ENOMEM, check and free them; the count. */
static size_t fill_and_drain(parx_arena *a, size_t size)
{
    size_t cap = (size_t)(parx_arena_size(a) / size + 1), n = 0;
    void **p = (void **)malloc(cap * sizeof *p);
    if (!CHECK(p != NULL))
        return 0;
    for (;;) {
        errno = 0;
        void *q = parx_arena_alloc(a, size, 0);
        if (!q) {
            CHECK_EQ(errno, ENOMEM);
            break;
        }
        if (!CHECK(n < cap))
            break;
        blk_fill(q, size, (uint32_t)n);
        p[n++] = q;
    }
    for (size_t i = 0; i < n; i++) {
        CHECK(blk_check(p[i], size, (uint32_t)i));
        CHECK_EQ(parx_arena_free(a, p[i]), 0);
    }
    free(p);
    return n;
}

static void spin(uint64_t n)
{
    for (volatile uint64_t i = 0; i < n; i++) {
    }
}

static void kill_rounds(int use_name)
{
    size_t rounds = pt_scaled(300, 3);
    int err = 0;
    parx_arena *a =
        keep(parx_arena_create(&(parx_arena_desc){.size = 32 * MiB, .named = use_name}, &err));
    if (!CHECK_MSG(a != NULL, "create: %d (%s)", err, parx_strerror(err)))
        return;
    char name[64] = "";
    if (use_name)
        snprintf(name, sizeof name, "%s", parx_arena_name(a));
    struct shared *sh = (struct shared *)parx_arena_alloc(a, sizeof *sh, 64);
    REQUIRE(sh != NULL);
    memset((void *)sh, 0, sizeof *sh);
    uint64_t sh_off = parx_arena_offset(a, sh);
    parx_arena_usage u0;
    CHECK_EQ(parx_arena_stats(a, &u0), 0);

    int ready[2];
    REQUIRE(pipe2(ready, O_CLOEXEC) == 0);
    pid_t hpid = xfork();
    REQUIRE(hpid >= 0);
    if (hpid == 0) {
        close(ready[0]);
        helper(a, use_name ? name : NULL, sh_off, ready[1]);
    }
    char c = 0;
    CHECK(xread(ready[0], &c, 1) && c == 'h');

    rnd r = rnd_seed(2026 + (uint64_t)use_name);
    size_t killed = 0, early = 0, reclaimed = 0, bad_rounds = 0;
    for (size_t round = 0; round < rounds; round++) {
        int how = (int)(round % 3); /* inherited, from_fd, by name (from_fd if anonymous) */
        int wait_ready = rnd_below(&r, 5) != 0;
        pid_t v = xfork();
        REQUIRE(v >= 0);
        if (v == 0) {
            close(ready[0]);
            victim(a, use_name ? name : NULL, how, sh_off, ready[1], round + 1);
        }
        if (wait_ready) {
            c = 0;
            if (!xread(ready[0], &c, 1) || c != 'r') {
                kill(v, SIGKILL);
                int st = 0;
                waitpid(v, &st, 0);
                if (bad_rounds++ < 3)
                    CHECK_MSG(0, "round %zu (way %d): the victim did not get going (%s %d)", round,
                              how, WIFEXITED(st) ? "exit" : "signal",
                              WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
                continue;
            }
        } else {
            early++;
        }
        spin(rnd_below(&r, wait_ready ? 200000 : 20000));
        kill(v, SIGKILL);
        int st = 0;
        waitpid(v, &st, 0);
        killed++;
        if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)) {
            if (bad_rounds++ < 5)
                CHECK_MSG(0, "round %zu (way %d): the victim %s %d instead of being killed", round,
                          how, WIFEXITED(st) ? "exited with" : "died of signal",
                          WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        }
        if (!wait_ready) {
            /* it may have died before writing its ready byte, or after: drain
               one if it is there, without blocking */
            int fl = fcntl(ready[0], F_GETFL);
            fcntl(ready[0], F_SETFL, fl | O_NONBLOCK);
            while (read(ready[0], &c, 1) == 1) {
            }
            fcntl(ready[0], F_SETFL, fl);
        }
        /* what the victim recorded is intact, and the parent can free it */
        for (int k = 0; k < LEDGER; k++) {
            uint64_t e = atomic_exchange(&sh->ledger[k], 0);
            if (!e)
                continue;
            void *p = parx_arena_ptr(a, e >> 32);
            size_t size = victim_size((uint32_t)e);
            if (!CHECK_MSG(p && blk_check(p, size, (uint32_t)e),
                           "round %zu: a block the victim held (%zu bytes) was overwritten",
                           round, size))
                continue;
            CHECK_EQ(parx_arena_free(a, p), 0);
            reclaimed++;
        }
        /* the others are not wedged */
        if (!parent_batch(a, (uint32_t)round << 8)) {
            bad_rounds++;
            break;
        }
        uint64_t h0 = atomic_load(&sh->helper_ops);
        while (atomic_load(&sh->helper_ops) < h0 + 64) /* the helper moves on; the meson
                                                            timeout catches a wedge */
            sched_yield();
        if (round % 100 == 99)
            pt_diag("round %zu done", round + 1);
    }
    atomic_store(&sh->helper_stop, 1);
    CHECK_MSG(expect_child(hpid, 0, 0), "the helper");
    CHECK_EQ(atomic_load(&sh->helper_errors), 0);
    close(ready[0]);
    close(ready[1]);
    CHECK_MSG(bad_rounds == 0, "%zu of %zu rounds went wrong", bad_rounds, rounds);

    /* every legitimate block is freed: what is still in use died in flight */
    CHECK_EQ(parx_arena_free(a, sh), 0);
    parx_arena_usage u;
    CHECK_EQ(parx_arena_stats(a, &u), 0);
    pt_diag("%zu kills (%zu before the victim said it was ready); %zu recorded blocks reclaimed; "
            "helper ran %llu operations",
            killed, early, reclaimed, (unsigned long long)atomic_load(&sh->helper_ops));
    pt_diag("leaked: %llu bytes in use (%.1f per kill), reserved %llu KiB, high water %llu of %llu "
            "KiB",
            (unsigned long long)u.used, killed ? (double)u.used / (double)killed : 0.0,
            (unsigned long long)(u.reserved >> 10), (unsigned long long)(u.high_water >> 10),
            (unsigned long long)(u.capacity >> 10));
    CHECK_MSG(u.used <= (uint64_t)killed * BIG_MAX,
              "%llu bytes leaked by %zu kills: more than one block (%zu bytes at most) per kill",
              (unsigned long long)u.used, killed, BIG_MAX);
    CHECK(u.reserved <= u.capacity && u.free == u.capacity - u.reserved);

    /* the arena is whole: fill and drain, twice, the same */
    size_t sizes[] = {30 * KiB, 1 * KiB}; /* large first: small spans keep their pages */
    for (int i = 0; i < 2; i++) {
        size_t n1 = fill_and_drain(a, sizes[i]);
        size_t n2 = fill_and_drain(a, sizes[i]);
        pt_diag("fill with %zu-byte blocks: %zu, then %zu", sizes[i], n1, n2);
        CHECK(n1 > 0);
        /* first fit starts where the last search ended, which can pack one
           block fewer into the free run holding that point; never more */
        CHECK_MSG(n2 + 1 >= n1 && n1 + 1 >= n2, "fills of %zu and %zu blocks", n1, n2);
    }
    parx_arena_usage u2;
    CHECK_EQ(parx_arena_stats(a, &u2), 0);
    CHECK_EQ_U(u2.used, u.used);
    parx_arena_close(a);
    if (use_name)
        CHECK_MSG(!shm_exists(name), "the name outlived every process (the dead ones included)");
}

static void test_kill_anon(void)
{
    kill_rounds(0);
}

static void test_kill_named(void)
{
    kill_rounds(1);
}

int main(void)
{
    pt_diag("%zu rounds per run (PARX_STRESS_SCALE=%g)", pt_scaled(300, 3), pt_scale());
    run_guarded("anonymous arena: victims SIGKILLed while allocating never wedge the others; the "
                "leak is bounded",
                test_kill_anon);
    run_guarded("named arena: the same, with victims attached by name and the dead pruned",
                test_kill_named);
    return pt_done_testing();
}
