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
   Rounds: pt_scaled(300) per run (PARX_STRESS_SCALE).

   Random kills rarely land in the few instructions between two steps of one
   call, so a third test kills one call after each of its instructions in
   turn, under ptrace (see "a kill after every instruction" below). */
#define _GNU_SOURCE /* strsignal */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stddef.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
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
                CHILD_DIAG("victim: its block at %llu was overwritten",
                           (unsigned long long)(e >> 32));
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
    parx_arena *a =
        name ? parx_arena_open(name, &err) : parx_arena_from_fd(parx_arena_fd(inherited), &err);
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
            sz[k] = rnd_below(&r, 16) == 0 ? 17 * KiB + rnd_below(&r, 30 * KiB)
                                           : 1 + rnd_below(&r, 600);
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

/* ===== a kill after every instruction ===================================== */

/* The rounds above kill at random moments, which rarely land inside the few
   instructions between two steps of one call. Here one call runs in a child
   under ptrace, and the child is killed after 0, 1, 2, ... instructions of
   it, each time on a fresh 512 KiB arena set up the same way. The first run
   single-steps the whole call and records the address of each instruction;
   later runs reach instruction k at full speed through a breakpoint at its
   address (x86-64; elsewhere they single-step, within STEP_BUDGET steps).
   A call longer than STEP_POINTS instructions (PARX_STRESS_SCALE) is killed
   at as many evenly spread ones. After each kill the parent checks what
   parx_shm.h promises: the arena is not wedged, nothing is handed out twice
   (a fill to exhaustion, each block tagged), a span is not refused while 16
   pages in a row are free, and what stays in use is at most the block or
   span (64 KiB) the call had in flight. */
enum {
    STEP_POP,         /* alloc: a block from the caller's own free list */
    STEP_PUSH,        /* free of a small block */
    STEP_REFILL,      /* alloc: a fresh span carved */
    STEP_ADOPT,       /* alloc: blocks taken over from another handle's list (4 spans' worth) */
    STEP_LARGE_ALLOC, /* alloc of 5 pages */
    STEP_LARGE_FREE,  /* free of a 16-page block in a full arena (a span search has failed) */
    STEP_CASES
};

#define STEP_POINTS 2000  /* kill points per case, at most */
#define STEP_BUDGET 60000 /* single steps per case where there are no breakpoints */

static const struct {
    const char *what;
    size_t size;  /* the block size the call allocates or frees */
    size_t bound; /* the most it may leave in use when killed */
} step_cases[STEP_CASES] = {
    [STEP_POP] = {"alloc from its own list", 4000, 8 * KiB}, /* and the child's first block */
    [STEP_PUSH] = {"free of a small block", 4000, 4 * KiB},
    [STEP_REFILL] = {"alloc that carves a span", 4000, 64 * KiB},
    [STEP_ADOPT] = {"alloc adopting another handle's blocks", 4000, 64 * KiB},
    [STEP_LARGE_ALLOC] = {"large alloc", 20000, 20 * KiB},
    [STEP_LARGE_FREE] = {"large free in a full arena", 64 * KiB, 64 * KiB},
};

typedef struct step_state {
    parx_arena *a, *b;   /* a fresh arena; a second handle (another shard) or NULL */
    void *held[32];      /* the parent's blocks, each with its pattern */
    size_t nheld, held_size;
    void *victim;        /* the block the child frees in STEP_LARGE_FREE */
} step_state;

static int step_setup(step_state *s, int c)
{
    memset(s, 0, sizeof *s);
    int err = 0;
    s->a = keep(parx_arena_create(&(parx_arena_desc){.size = 512 * KiB}, &err));
    if (!CHECK_MSG(s->a != NULL, "create: %d (%s)", err, parx_strerror(err)))
        return 0;
    if (c == STEP_ADOPT) { /* 64 blocks freed through another handle wait on its shard */
        s->b = keep(parx_arena_from_fd(parx_arena_fd(s->a), &err));
        if (!CHECK(s->b != NULL))
            return 0;
        void *p[64];
        for (int i = 0; i < 64; i++)
            if (!CHECK((p[i] = parx_arena_alloc(s->b, 4000, 0)) != NULL))
                return 0;
        for (int i = 0; i < 64; i++)
            CHECK_EQ(parx_arena_free(s->b, p[i]), 0);
    } else if (c == STEP_LARGE_FREE) { /* full of 16-page blocks: no span fits */
        s->held_size = 64 * KiB;
        void *p;
        while (s->nheld < 32 && (p = parx_arena_alloc(s->a, 64 * KiB, 0)) != NULL) {
            blk_fill(p, 64 * KiB, (uint32_t)s->nheld);
            s->held[s->nheld++] = p;
        }
        if (!CHECK(s->nheld > 2 && parx_arena_alloc(s->a, 3000, 0) == NULL))
            return 0;
        s->victim = s->held[s->nheld - 1]; /* the child frees it; the parent forgets it */
        s->held[--s->nheld] = NULL;
    }
    return 1;
}

/* The child: prepare, stop for the parent, run the call being stepped. */
static void step_child(step_state *s, int c)
{
    void *pre = NULL;
    if (c == STEP_POP || c == STEP_PUSH)
        pre = parx_arena_alloc(s->a, 4000, 0); /* carves a span for this child's shard */
    if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
        _exit(77);
    raise(SIGSTOP);
    int ok = 1;
    switch (c) {
    case STEP_PUSH: ok = parx_arena_free(s->a, pre) == 0; break;
    case STEP_LARGE_FREE: ok = parx_arena_free(s->a, s->victim) == 0; break;
    default: ok = parx_arena_alloc(s->a, step_cases[c].size, 0) != NULL; break;
    }
    raise(SIGSTOP); /* the end of the call, for the stepping parent */
    _exit(ok ? 0 : 3);
}

#if defined(__x86_64__)
#define STEP_BREAKPOINTS 1
static long step_pc(pid_t pid)
{
    return ptrace(PTRACE_PEEKUSER, pid, (void *)offsetof(struct user_regs_struct, rip), NULL);
}

/* Bring the stopped child to just before instruction k of the run that
   recorded pcs[], at full speed: an int3 at that address, passed over as
   often as the address came up before k. 0 if the run went another way. */
static int step_run_to(pid_t pid, const long *pcs, long k)
{
    long pc = pcs[k], skip = 0;
    for (long j = 0; j < k; j++)
        skip += pcs[j] == pc;
    if (k == 0)
        return 1;
    errno = 0;
    long word = ptrace(PTRACE_PEEKTEXT, pid, (void *)pc, NULL);
    if (errno != 0)
        return 0;
    for (;;) {
        int st = 0;
        if (ptrace(PTRACE_POKETEXT, pid, (void *)pc, (void *)((word & ~0xFFL) | 0xCC)) != 0 ||
            ptrace(PTRACE_CONT, pid, NULL, NULL) != 0 || waitpid(pid, &st, 0) != pid ||
            !WIFSTOPPED(st) || WSTOPSIG(st) != SIGTRAP || step_pc(pid) != pc + 1)
            return 0;
        if (ptrace(PTRACE_POKETEXT, pid, (void *)pc, (void *)word) != 0 ||
            ptrace(PTRACE_POKEUSER, pid, (void *)offsetof(struct user_regs_struct, rip),
                   (void *)pc) != 0)
            return 0;
        if (skip-- == 0)
            return 1;
        if (ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL) != 0 || waitpid(pid, &st, 0) != pid ||
            !WIFSTOPPED(st) || WSTOPSIG(st) != SIGTRAP)
            return 0;
    }
}
#else
#define STEP_BREAKPOINTS 0
static long step_pc(pid_t pid)
{
    (void)pid;
    return 0;
}

static int step_run_to(pid_t pid, const long *pcs, long k)
{
    (void)pid, (void)pcs, (void)k;
    return 0;
}
#endif

/* Single-step the stopped child `steps` instructions, or (steps < 0) to the
   end of the call, where it stops itself again; pcs[] gets each one's
   address if not NULL. Returns the steps taken, fewer than asked when the
   call ended first; -1 if it went wrong (reported), -2 if this machine
   cannot single-step (EIO: riscv64, for one). The child is left stopped. */
static long step_n(pid_t pid, long steps, long *pcs, long max_pcs)
{
    long n = 0;
    int st = 0;
    for (; steps < 0 || n < steps; n++) {
        if (pcs && n < max_pcs)
            pcs[n] = step_pc(pid);
        if (ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL) != 0) {
            if (n == 0 && errno == EIO)
                return -2;
            CHECK_MSG(0, "single-stepping the child: %s", strerror(errno));
            return -1;
        }
        if (waitpid(pid, &st, 0) != pid) {
            CHECK_MSG(0, "waiting for the stepped child: %s", strerror(errno));
            return -1;
        }
        if (WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP)
            return n; /* the call is over */
        if (!WIFSTOPPED(st) || WSTOPSIG(st) != SIGTRAP) {
            CHECK_MSG(0, "the stepped child stopped with signal %d (%s)",
                      WIFSTOPPED(st) ? WSTOPSIG(st) : WTERMSIG(st),
                      strsignal(WIFSTOPPED(st) ? WSTOPSIG(st) : WTERMSIG(st)));
            return -1;
        }
    }
    return n;
}

/* Fill with blocks of `size` until ENOMEM, each tagged at both ends with its
   number, check every tag (a block handed out twice loses one), free them. */
static int tag_fill_and_drain(parx_arena *a, size_t size, const char *what, long k)
{
    size_t cap = parx_arena_size(a) / size + 1, n = 0;
    uint64_t **p = (uint64_t **)malloc(cap * sizeof *p);
    if (!CHECK(p != NULL))
        return 0;
    while (n < cap && (p[n] = (uint64_t *)parx_arena_alloc(a, size, 0)) != NULL) {
        p[n][0] = n;
        p[n][size / 8 - 1] = ~(uint64_t)n;
        n++;
    }
    int ok = CHECK(n < cap && errno == ENOMEM);
    for (size_t i = 0; i < n; i++) {
        ok &= CHECK_MSG(p[i][0] == i && p[i][size / 8 - 1] == ~(uint64_t)i,
                        "%s, killed after %ld instructions: block %zu of %zu bytes was handed "
                        "out twice", what, k, i, size);
        ok &= CHECK_EQ(parx_arena_free(a, p[i]), 0);
    }
    free(p);
    return ok && n > 0;
}

/* After the kill: the arena keeps parx_shm.h's promises. */
static int step_check(step_state *s, int c, long k)
{
    const char *what = step_cases[c].what;
    int ok = 1;
    /* blocks in use lie in pages handed out: the statistics agree */
    parx_arena_usage u;
    ok &= CHECK_EQ(parx_arena_stats(s->a, &u), 0);
    ok &= CHECK_MSG(u.used <= u.reserved && u.reserved <= u.capacity,
                    "%s, killed after %ld instructions: %llu bytes in use in %llu reserved",
                    what, k, (unsigned long long)u.used, (unsigned long long)u.reserved);
    /* a class no one has used yet needs a fresh span: it must be had
       whenever 16 free pages in a row are there to carve it from (checked
       first: a large block freed here lets span searches look again) */
    void *small = parx_arena_alloc(s->a, 3000, 0);
    void *span = small ? NULL : parx_arena_alloc(s->a, 64 * KiB, 0);
    ok &= CHECK_MSG(small || !span,
                    "%s, killed after %ld instructions: a new span was refused (ENOMEM) while "
                    "16 pages in a row were free", what, k);
    parx_arena_free(s->a, small);
    parx_arena_free(s->a, span);
    for (size_t i = 0; i < s->nheld; i++) {
        ok &= CHECK_MSG(blk_check(s->held[i], s->held_size, (uint32_t)i),
                        "%s, killed after %ld instructions: a block the parent holds was "
                        "overwritten", what, k);
        ok &= CHECK_EQ(parx_arena_free(s->a, s->held[i]), 0);
    }
    ok &= CHECK_EQ(parx_arena_stats(s->a, &u), 0);
    ok &= CHECK_MSG(u.used <= step_cases[c].bound,
                    "%s, killed after %ld instructions: %llu bytes left in use, more than the "
                    "%zu in flight", what, k, (unsigned long long)u.used, step_cases[c].bound);
    /* nothing is handed out twice, nothing is wedged */
    ok &= tag_fill_and_drain(s->a, 20000, what, k);
    ok &= tag_fill_and_drain(s->a, step_cases[c].size, what, k);
    return ok;
}

static void step_kill(pid_t pid)
{
    int st = 0;
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
}

/* Fork the child of case c and wait for it to stop; 0 (and a skip) if
   ptrace is refused here, -1 on failure. */
static pid_t step_fork(step_state *s, int c)
{
    pid_t pid = xfork();
    if (pid == 0)
        step_child(s, c);
    int st = 0;
    if (!CHECK(pid > 0) || waitpid(pid, &st, 0) != pid)
        return -1;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
        return 0;
    if (!CHECK_MSG(WIFSTOPPED(st), "the child did not stop (status 0x%x)", st)) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        return -1;
    }
    return pid;
}

static void test_kill_every_instruction(void)
{
    const char *preload = getenv("LD_PRELOAD");
    if (preload && strstr(preload, "vgpreload")) /* the child would be valgrind's JIT */
        PT_SKIP("single-stepping under valgrind");
    if (UNDER_TSAN)
        PT_SKIP("single-stepping ThreadSanitizer's runtime takes too long");
    enum { MAX_PCS = 1 << 20 };
    long *pcs = (long *)malloc(MAX_PCS * sizeof *pcs);
    REQUIRE(pcs != NULL);
    for (int c = 0; c < STEP_CASES; c++) {
        const char *what = step_cases[c].what;
        /* the first run: the whole call, one step at a time */
        step_state s;
        if (!step_setup(&s, c))
            break;
        pid_t pid = step_fork(&s, c);
        if (pid == 0) {
            parx_arena_close(s.b);
            parx_arena_close(s.a);
            free(pcs);
            PT_SKIP("ptrace is not permitted here");
        }
        long total = pid > 0 ? step_n(pid, -1, pcs, MAX_PCS) : -1;
        if (total == -2) {
            step_kill(pid);
            parx_arena_close(s.b);
            parx_arena_close(s.a);
            free(pcs);
            PT_SKIP("ptrace cannot single-step on this machine");
        }
        if (total >= 0) { /* let it say whether the call succeeded */
            int st = 0;
            ptrace(PTRACE_CONT, pid, NULL, NULL);
            waitpid(pid, &st, 0);
            if (!CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s failed (status 0x%x)",
                           what, st))
                total = -1;
        } else if (pid > 0) {
            step_kill(pid);
        }
        int ok = total >= 0 && step_check(&s, c, total);
        parx_arena_close(s.b);
        parx_arena_close(s.a);
        if (!ok || !CHECK(total < MAX_PCS))
            break;
        long most = (long)pt_scaled(STEP_POINTS, 100);
        if (!STEP_BREAKPOINTS) { /* each point costs k steps: spread them within the budget */
            long fit = 2 * (long)pt_scaled(STEP_BUDGET, 2000) / (total > 0 ? total : 1);
            most = fit < most ? fit : most;
        }
        long stride = total <= most ? 1 : (total + most - 1) / most;
        long points = 0;
        for (long k = 0; ok && k < total; k += stride, points++) {
            if (!step_setup(&s, c) || (pid = step_fork(&s, c)) <= 0) {
                ok = 0;
            } else {
                ok = STEP_BREAKPOINTS ? CHECK_MSG(step_run_to(pid, pcs, k),
                                                  "%s: the run did not repeat itself up to "
                                                  "instruction %ld", what, k)
                                      : step_n(pid, k, NULL, 0) == k;
                step_kill(pid);
                ok = ok && step_check(&s, c, k);
            }
            parx_arena_close(s.b);
            parx_arena_close(s.a);
        }
        pt_diag("%s: %ld instructions, killed at %ld points (every %ld)%s", what, total, points,
                stride, ok ? "" : "; stopped at the first failure");
    }
    free(pcs);
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
    run_guarded("a call killed after each of its instructions keeps the arena whole and leaks "
                "at most what it had in flight",
                test_kill_every_instruction);
    return pt_done_testing();
}
