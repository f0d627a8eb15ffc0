/* SPDX-License-Identifier: MIT */
/*
    parx.h -- work-stealing parallelism for C11 on Linux.          version 0.1.0

    A header-only toolkit that makes parallel work cheap enough to pay off for
    tasks of microseconds: a Chase-Lev work-stealing deque, a thread pool with
    fork-join task groups that allocate nothing on the heap, a parallel loop
    that balances uneven iterations by lazy splitting, a reduction whose result
    is bitwise identical on any number of threads, and counter-based random
    streams so Monte Carlo results do not depend on the schedule.

    Do this
    =======
    In exactly ONE C file of your program:

        #define _GNU_SOURCE            // the implementation uses Linux interfaces
        #define PARX_IMPLEMENTATION
        #include "parx.h"

    (or compile the shipped `parx.c`, which does exactly that). Everywhere else
    just `#include "parx.h"`. Link with `-pthread`.

    Configuration macros
    ====================
    | macro                   | default       | effect                                        |
    |-------------------------|---------------|-----------------------------------------------|
    | PARX_IMPLEMENTATION     | undefined     | emit the definitions in this translation unit |
    | PARX_STATIC             | undefined     | make every parx function `static`             |
    | PARX_ASSERT(c)          | assert(c)     | check for misuse that is cheap to detect      |
    | PARX_CACHELINE          | 64            | padding that keeps hot atomics apart (bytes)  |
    | PARX_SPIN_ROUNDS        | 1000          | idle polls before a worker sleeps             |
    | PARX_DEQUE_MIN_CAPACITY | 64            | smallest deque array (slots)                  |
    | PARX_OUTSIDE_SLOTS      | 4             | outside threads that can help at once (>>help) |

    Macros that change declarations (PARX_STATIC, PARX_CACHELINE) must be the
    same in every translation unit: set them with compiler flags.

    A tour
    ======
    1. Create a pool:          parx_pool *p = parx_pool_create(NULL);   // one thread per CPU
    2. Fork and join:          parx_group g; parx_group_init(&g, p);
                               parx_spawn(&g, work, arg);   ... parx_wait(&g);
       Inside a task, `parx_group_init(&g, NULL)` means "the pool running me",
       so recursive algorithms nest spawns freely (examples/02_fib.c).
    3. Loops:                  parx_for(p, 0, n, 0, body, ctx);
       `body(ctx, begin, end)` gets sub-ranges; grain 0 picks one for you
       (examples/03_uneven_for.c).
    4. Reductions:             parx_reduce(p, 0, n, 0, sizeof(double), &zero, leaf, combine, ctx, &sum);
       The same bits for 1 thread or 64 (examples/04_monte_carlo.c).
    5. Randomness:             parx_rng r = parx_rng_for(seed, task_index);
                               double u = parx_rng_uniform(&r);
    6. Clean up:               parx_pool_destroy(p);   // runs whatever is still queued

    >>errors
    Functions that can fail return 0 on success or a negative errno value
    (-EINVAL, -ENOMEM, -EAGAIN, ...). Nothing prints, aborts or exits on bad
    input; `parx_strerror(code)` names every code. Misuse that cannot be
    detected cheaply (a group waited on by a thread that did not create it) is
    caught by PARX_ASSERT in debug builds.

    >>threads
    Workers are pthreads, so sanitizers (TSan) see every thread, and every
    cross-thread ordering is an atomic operation (no standalone fences, which
    TSan does not model). Where the Chase-Lev papers put a seq_cst fence, parx
    uses a seq_cst read-modify-write on the same variable; on x86 both are one
    locked instruction.

    >>deque (memory orders)
    The deque follows Le, Pop, Cohen and Zappa Nardelli, "Correct and Efficient
    Work-Stealing for Weak Memory Models" (PPoPP 2013). The owner pushes and
    pops at the bottom; thieves take from the top with a CAS. The one delicate
    moment is the last element, which the owner and a thief may both want: the
    owner publishes `bottom - 1` with a seq_cst exchange and then reads `top`;
    a thief reads `top`, then `bottom`, both seq_cst, then CASes `top`. In the
    single total order of seq_cst operations at least one of them sees the
    other, and the CAS on `top` decides who gets the element. Every other order
    is weaker and each one's reason sits beside it in the implementation.
    When the deque grows, the old array may still be read by a thief that
    loaded its pointer a moment ago, so it is not freed at once: it goes on a
    list freed by parx_deque_destroy. Growth doubles, so retired arrays never
    hold more than the live one.

    >>sleep (idle workers)
    A worker that finds no work polls for PARX_SPIN_ROUNDS rounds (pausing
    between the first 64, then yielding the CPU between the rest: well under
    a millisecond on an idle machine), then sleeps on a futex; an idle pool
    uses no CPU. A push
    into a deque that its owner saw empty is published with a seq_cst store
    and followed by a seq_cst read of the sleeper count, and a worker going to
    sleep announces itself with a seq_cst RMW before its last look for work,
    so one of the two always sees the other and no wake-up is lost; a thread
    that is woken but leaves without taking work (a waiter whose group just
    completed) passes the wake-up on if work is visible. Pushes onto
    a deque that already holds work only peek at the sleeper count; a wake-up
    missed there can only cost parallelism for a moment, never progress: an
    owner always runs what is left in its own deque, and a woken worker that
    finds plenty of work wakes another.

    >>help (spawning and waiting from outside the pool)
    A thread that is not one of the pool's workers works like oneTBB's main
    thread. A spawn into one of its groups with no task outstanding borrows one of
    PARX_OUTSIDE_SLOTS spare worker records (a deque and a free list, no
    thread) and keeps it until parx_wait on that group returns: its spawns are
    lock-free pushes that workers steal from, and its parx_wait runs as that
    slot, popping its own tasks first (a small task never leaves the thread),
    stealing when those are gone, and sleeping when there is nothing to do.
    So a pool of N workers computes on N + 1 threads while an outside thread
    waits. With every slot taken, spawns go through the pool's mutex-guarded
    shared queue, and the waiter runs only its own queued tasks before
    sleeping. parx_for and parx_reduce called from outside never help: they
    hand the whole range to the workers and sleep, using N threads.

    >>determinism (parx_reduce)
    The range is cut into leaves of `grain` iterations (the last may be
    shorter), which depends on the range and grain alone, never on the number
    of threads. Leaves are combined in one fixed balanced binary tree: node
    [lo, hi) of leaves combines [lo, mid) with [mid, hi), mid = lo + (hi-lo)/2.
    Which thread computes which subtree changes from run to run; the order of
    every floating-point operation does not.
*/
#ifndef PARX_H_INCLUDED
#define PARX_H_INCLUDED

/* ===== The whole public API on one screen =====================================

   const char *parx_strerror(int code);
   void        parx_set_log(parx_log_fn fn, void *user);

   int   parx_deque_init(parx_deque *d, size_t capacity_hint);
   void  parx_deque_destroy(parx_deque *d);
   int   parx_deque_push(parx_deque *d, void *item);        owner only
   void *parx_deque_pop(parx_deque *d);                     owner only
   void *parx_deque_steal(parx_deque *d);                   any thread
   size_t parx_deque_size(const parx_deque *d);             any thread, approximate

   parx_pool *parx_pool_create(const parx_pool_desc *desc);
   void       parx_pool_destroy(parx_pool *p);
   int        parx_pool_size(const parx_pool *p);
   int        parx_pool_stats(const parx_pool *p, parx_worker_stats *out, int n);
   int        parx_worker_index(const parx_pool *p);

   void parx_group_init(parx_group *g, parx_pool *p);
   int  parx_spawn(parx_group *g, parx_fn fn, void *arg);
   int  parx_wait(parx_group *g);

   int parx_for(parx_pool *p, size_t begin, size_t end, size_t grain, parx_range_fn fn, void *ctx);
   int parx_reduce(parx_pool *p, size_t begin, size_t end, size_t grain, size_t acc_size,
                   const void *identity, parx_reduce_fn leaf, parx_combine_fn combine,
                   void *ctx, void *result);

   parx_rng parx_rng_for(uint64_t seed, uint64_t stream);
   uint64_t parx_rng_next(parx_rng *r);
   double   parx_rng_uniform(parx_rng *r);
   uint64_t parx_rng_at(parx_rng r, uint64_t index);
   ========================================================================== */

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define PARX_VERSION_MAJOR 0
#define PARX_VERSION_MINOR 1
#define PARX_VERSION_PATCH 0

#ifndef PARX_API
#  ifdef PARX_STATIC
#    define PARX_API static __attribute__((unused))
#  else
#    define PARX_API extern
#  endif
#endif

#ifndef PARX_CACHELINE
#define PARX_CACHELINE 64
#endif

/* Atomic fields in public structs. The structs below are complete types so
   callers can place them on their stack, but only the implementation (always
   C11) touches their fields. C++ code that includes the declarations sees the
   same layout through plain types: _Atomic of an integer or pointer has the
   size and alignment of the plain type on every ABI parx supports. */
#if defined(__cplusplus)
#  define PARX__ATOMIC(T) T
#else
#  define PARX__ATOMIC(T) _Atomic(T)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ===== Errors and logging (>>common) ======================================
   This block is the same in every parx header, so that any one of them can
   be copied alone; the guard keeps a second copy out. */
#ifndef PARX_COMMON_DECLARED
#define PARX_COMMON_DECLARED

/* parx's own error codes, beside the negative errno values it returns. They
   sit far below any errno value so the two never collide. */
enum {
    PARX_E_BASE = -10000,
    PARX_E_NOT_WORKER = -10001,    /* needs a pool, but none was given and the caller is no worker */
    PARX_E_NOT_ARENA = -10010,     /* the segment is not a parx arena (no magic) */
    PARX_E_ARENA_VERSION = -10011, /* a parx arena of a layout version this code does not know */
    PARX_E_TRUNCATED = -10012      /* the segment is smaller than its header says */
};

/* parx_strerror: a short English description of `code` (0, a negative errno
   value, or a PARX_E_* code). Never NULL; unknown codes give "unknown error".
   Thread safety: any thread; the string is static. */
PARX_API const char *parx_strerror(int code);

typedef enum parx_log_level {
    PARX_LOG_ERROR = 1,
    PARX_LOG_WARN = 2,
    PARX_LOG_INFO = 3
} parx_log_level;

typedef void (*parx_log_fn)(parx_log_level level, const char *msg, void *user);

/* parx_set_log: install a log callback for the whole process (NULL turns
   logging off, the default). parx logs only what it recovered from on its own.
   Thread safety: call it before using parx from several threads; it is not
   synchronised with threads that may be logging.
   Callback safety: called from any thread, never while parx holds a lock; it
   must not call back into parx. */
PARX_API void parx_set_log(parx_log_fn fn, void *user);

#endif /* PARX_COMMON_DECLARED */

/* ===== Work-stealing deque ================================================
   A Chase-Lev deque of `void *`, growable. One thread, the owner, pushes and
   pops at the bottom (LIFO); any thread may steal from the top (FIFO). NULL
   cannot be stored: it means "empty" on the way out.                        */

struct parx__deque_array;

typedef struct parx_deque {
    /* Private. top and bottom live on separate cache lines: thieves write
       top, the owner writes bottom. */
    PARX__ATOMIC(int64_t) top;
    char parx__pad0[PARX_CACHELINE - sizeof(int64_t)];
    PARX__ATOMIC(int64_t) bottom;
    PARX__ATOMIC(struct parx__deque_array *) array;
    struct parx__deque_array *retired; /* owner only: arrays replaced by growth */
    void *(*alloc_fn)(size_t size, void *user); /* arrays' allocator; NULL: malloc */
    void (*free_fn)(void *ptr, void *user);
    void *alloc_user;
    char parx__pad1[PARX_CACHELINE];
} parx_deque;

/* parx_deque_init: make `d` an empty deque with room for at least
   `capacity_hint` items before it first grows (0: PARX_DEQUE_MIN_CAPACITY).
   Returns 0, -EINVAL (d NULL, or a hint too large to allocate), -ENOMEM.
   Thread safety: one caller; no other thread may use `d` until it returns. */
PARX_API int parx_deque_init(parx_deque *d, size_t capacity_hint);

/* parx_deque_destroy: free the deque's arrays (items themselves are the
   caller's). Safe on a zeroed or already destroyed deque.
   Thread safety: one caller, after every other thread is done with `d`. */
PARX_API void parx_deque_destroy(parx_deque *d);

/* parx_deque_push: push `item` at the bottom, growing the array if it is full.
   Returns 0, -EINVAL (item NULL), -ENOMEM (could not grow; `d` unchanged).
   Thread safety: the owner thread only. */
PARX_API int parx_deque_push(parx_deque *d, void *item);

/* parx_deque_pop: take the item pushed last, or NULL if the deque is empty
   (possibly because a thief took the last item first).
   Thread safety: the owner thread only. */
PARX_API void *parx_deque_pop(parx_deque *d);

/* parx_deque_steal: take the oldest item, or NULL if the deque was empty or
   another thread won the race for the item (retrying is the caller's choice).
   Thread safety: any thread, concurrently with the owner and other thieves. */
PARX_API void *parx_deque_steal(parx_deque *d);

/* parx_deque_size: the number of items at the moment of the call; exact only
   when no other thread is using the deque.
   Thread safety: any thread. */
PARX_API size_t parx_deque_size(const parx_deque *d);

/* ===== Thread pool ======================================================== */

typedef struct parx_pool parx_pool;

typedef void (*parx_fn)(void *arg);

typedef struct parx_pool_desc {
    int threads;            /* worker threads; 0: one per CPU this process may run on */
    size_t deque_capacity;  /* initial slots per worker deque; 0: 256 */
    unsigned spin_rounds;   /* idle polls before sleeping; 0: PARX_SPIN_ROUNDS */
    const char *name;       /* thread name prefix (<= 10 chars used); NULL: "parx" */
    /* Allocator for everything the pool allocates; both NULL: malloc/free. */
    void *(*alloc)(size_t size, void *user);
    void (*free)(void *ptr, void *user);
    void *alloc_user;
} parx_pool_desc;

/* parx_pool_create: start a pool of persistent worker threads.
   `desc` NULL or zeroed means all defaults.
   Returns the pool, or NULL with errno set: EINVAL (threads < 0 or > 4096,
   only one of alloc/free given, or a deque_capacity above 2^37 slots),
   ENOMEM, EAGAIN (the system refused a
   thread; any threads already started are stopped and joined).
   Thread safety: any thread. */
PARX_API parx_pool *parx_pool_create(const parx_pool_desc *desc);

/* parx_pool_destroy: run every task still queued, stop the workers, join
   them and free the pool. NULL is ignored.
   Thread safety: one caller, from outside the pool (never from a task), once
   no other thread is spawning into it or waiting on it. */
PARX_API void parx_pool_destroy(parx_pool *p);

/* parx_pool_size: the number of worker threads, or -EINVAL for NULL.
   Thread safety: any thread. */
PARX_API int parx_pool_size(const parx_pool *p);

/* Per-worker counters. Each is written only by its worker and read with
   relaxed atomics, so a snapshot taken while the pool runs is approximate. */
typedef struct parx_worker_stats {
    uint64_t tasks;           /* tasks run by this worker (its own and stolen) */
    uint64_t steals;          /* tasks it stole from other workers or took from outside */
    uint64_t steal_attempts;  /* tries at both, successful or not (>= steals) */
    uint64_t sleeps;          /* times it went to sleep on its futex */
    uint64_t busy_ns;         /* time spent with work in hand */
    uint64_t idle_ns;         /* time spent looking for work or asleep */
} parx_worker_stats;

/* parx_pool_stats: copy up to `n` workers' counters into `out`.
   Returns the number of workers (which may exceed n), or -EINVAL (p NULL, or
   out NULL with n > 0). Time counters include the current busy or idle spell
   only once it ends.
   Thread safety: any thread. */
PARX_API int parx_pool_stats(const parx_pool *p, parx_worker_stats *out, int n);

/* parx_worker_index: the index (0..size-1) of the calling thread among p's
   workers, or -1 if the caller is not one of them. p NULL: the index in
   whichever pool the caller works for.
   Thread safety: any thread. */
PARX_API int parx_worker_index(const parx_pool *p);

/* ===== Fork-join groups ===================================================
   A group collects tasks so one call can wait for all of them. It lives in
   the caller's storage (usually the stack), needs no destroy, and costs no
   heap allocation per spawn in the common path. A group belongs to the thread
   that initialised it: only that thread spawns into it and waits on it. Tasks
   may create groups of their own (nesting).                                 */

typedef struct parx_group {
    /* Private. */
    struct parx_pool *pool;
    void *owner;                        /* the worker that waits, or NULL outside the pool */
    size_t spawned;                     /* owner only: tasks spawned */
    size_t done_local;                  /* owner only: tasks the owner ran itself */
    PARX__ATOMIC(size_t) done_remote;   /* (tasks run by other threads << 1) | waiter bit */
    int error;                          /* owner only: first failure, reported by parx_wait */
    bool borrowed;                      /* owner only: `owner` is an outside slot held until parx_wait */
} parx_group;

/* parx_group_init: prepare `g` for spawning into pool `p`. p NULL means the
   pool whose worker is calling (the usual choice inside a task); called with
   NULL outside any pool, every spawn into `g` fails with PARX_E_NOT_WORKER.
   Thread safety: any thread; the calling thread becomes the group's owner. */
PARX_API void parx_group_init(parx_group *g, parx_pool *p);

/* parx_spawn: queue fn(arg) to run on the pool, possibly on this thread.
   From a worker, the task goes on that worker's deque (no lock, no
   allocation in steady state); from another thread, on the deque of the
   outside slot the group borrows until parx_wait, or on the pool's shared
   queue if every slot is in use (see >>help). If memory for the task cannot be had, fn(arg) runs at once on
   the caller and the spawn still succeeds: nothing is lost.
   Returns 0, -EINVAL (g or fn NULL), PARX_E_NOT_WORKER (the group has no pool).
   Thread safety: the group's owner thread only.
   Callback safety: fn runs on any worker, or on the owner inside parx_wait;
   it may spawn, wait on its own groups, and use parx_for/parx_reduce. */
PARX_API int parx_spawn(parx_group *g, parx_fn fn, void *arg);

/* parx_wait: return when every task spawned into `g` has finished. A worker
   that waits runs other tasks meanwhile (its own first, then stolen ones),
   and so does a thread outside the pool, for the duration of the wait (see
   >>help). The group may be reused afterwards.
   Returns 0, or the first error recorded by a failed spawn into `g` since the
   last wait, or -EINVAL (g NULL).
   Thread safety: the group's owner thread only. */
PARX_API int parx_wait(parx_group *g);

/* ===== Parallel loops ===================================================== */

typedef void (*parx_range_fn)(void *ctx, size_t begin, size_t end);

/* parx_for: call fn(ctx, b, e) over sub-ranges that together cover
   [begin, end) exactly once, in parallel. Work is split lazily: a worker
   splits off half of what it has left only when its deque is empty (a sign
   that others are hungry), so uneven iterations stay balanced without a
   static schedule. `grain` is the most iterations one call of fn receives;
   0 picks max(1, n / (256 * threads)): pieces small enough that the last
   one, left to a single thread, is a small part of any loop.
   Returns 0 (also for an empty range), -EINVAL (p or fn NULL, begin > end).
   Thread safety: any thread, including a task of the same pool (nested loops).
   Callback safety: fn runs concurrently on several threads. */
PARX_API int parx_for(parx_pool *p, size_t begin, size_t end, size_t grain,
                      parx_range_fn fn, void *ctx);

typedef void (*parx_reduce_fn)(void *ctx, size_t begin, size_t end, void *acc);
typedef void (*parx_combine_fn)(void *ctx, void *acc, const void *other);

/* parx_reduce: a deterministic parallel reduction. [begin, end) is cut into
   leaves of `grain` iterations (0: max(64, ceil(n / 2048)), a function of n
   alone); each leaf starts from a copy of `identity` and is folded by
   leaf(ctx, b, e, acc); leaves are combined pairwise, combine(ctx, acc, other)
   merging `other` (the right part) into `acc` (the left part), in one fixed
   balanced tree (see >>determinism). The same inputs give bitwise-identical
   results for any number of threads and any schedule. `result` receives
   acc_size bytes; for an empty range it receives the identity.
   Accumulators of up to 256 bytes live on the stack; larger ones are
   allocated once per tree node.
   Returns 0, -EINVAL (p, identity, leaf, combine or result NULL, acc_size 0,
   begin > end), -ENOMEM (result untouched).
   Thread safety: any thread, including a task of the same pool.
   Callback safety: leaf and combine run concurrently on several threads,
   each on its own accumulators. */
PARX_API int parx_reduce(parx_pool *p, size_t begin, size_t end, size_t grain,
                         size_t acc_size, const void *identity,
                         parx_reduce_fn leaf, parx_combine_fn combine,
                         void *ctx, void *result);

/* ===== Reproducible randomness ============================================
   Counter-based streams: value i of stream s under seed k is a pure function
   of (k, s, i), so a task that draws from parx_rng_for(seed, task_index) gets
   the same numbers whichever worker runs it, in whatever order. Each value is
   the SplitMix64 finaliser of key + (i + 1) * golden, where the key mixes seed
   and stream through two more finaliser rounds; streams of distinct
   (seed, stream) pairs are distinct 64-bit sequences. Not for cryptography. */

typedef struct parx_rng {
    uint64_t key;      /* derived from (seed, stream) */
    uint64_t counter;  /* index of the next value */
} parx_rng;

#define PARX__GOLDEN UINT64_C(0x9E3779B97F4A7C15)

static inline uint64_t parx__mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* parx_rng_for: the generator of stream `stream` under `seed`.
   Thread safety: any thread (pure function). */
static inline parx_rng parx_rng_for(uint64_t seed, uint64_t stream)
{
    parx_rng r;
    r.key = parx__mix64(parx__mix64(seed) ^ (stream * PARX__GOLDEN + UINT64_C(0x632BE59BD9B4E019)));
    r.counter = 0;
    return r;
}

/* parx_rng_at: value `index` of r's stream, without advancing r.
   Thread safety: any thread (pure function). */
static inline uint64_t parx_rng_at(parx_rng r, uint64_t index)
{
    return parx__mix64(r.key + (index + 1) * PARX__GOLDEN);
}

/* parx_rng_next: the next 64 random bits of r's stream.
   Thread safety: one thread per parx_rng. */
static inline uint64_t parx_rng_next(parx_rng *r)
{
    return parx_rng_at(*r, r->counter++);
}

/* parx_rng_uniform: the next double in [0, 1), with 53 random bits.
   Thread safety: one thread per parx_rng. */
static inline double parx_rng_uniform(parx_rng *r)
{
    return (double)(parx_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

#ifdef __cplusplus
} /* extern "C" */
#endif
#endif /* PARX_H_INCLUDED */

/* ========================================================================== */
/* >>implementation                                                           */
/* ========================================================================== */
#ifdef PARX_IMPLEMENTATION
#ifndef PARX_IMPLEMENTATION_INCLUDED
#define PARX_IMPLEMENTATION_INCLUDED

#ifndef _GNU_SOURCE
#error "parx: the implementation needs _GNU_SOURCE (futexes, CPU affinity, thread names): put '#define _GNU_SOURCE' before the first #include of this file, or compile the shipped parx.c"
#endif
#if !defined(__linux__)
#error "parx: the implementation runs on Linux only (it uses futexes and sched_getaffinity)"
#endif
#ifdef __STDC_NO_ATOMICS__
#error "parx: the implementation needs C11 <stdatomic.h>"
#endif
#ifdef __cplusplus
#error "parx: compile the implementation as C11, not C++ (the declarations work from C++)"
#endif

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#ifndef PARX_ASSERT
#include <assert.h>
#define PARX_ASSERT(c) assert(c)
#endif
#ifndef PARX_SPIN_ROUNDS
#define PARX_SPIN_ROUNDS 1000
#endif
#ifndef PARX_DEQUE_MIN_CAPACITY
#define PARX_DEQUE_MIN_CAPACITY 64
#endif
#ifndef PARX_OUTSIDE_SLOTS
#define PARX_OUTSIDE_SLOTS 4
#endif
#if PARX_OUTSIDE_SLOTS < 0
#error "parx: PARX_OUTSIDE_SLOTS must be 0 or more"
#endif
#if (PARX_DEQUE_MIN_CAPACITY & (PARX_DEQUE_MIN_CAPACITY - 1)) != 0
#error "parx: PARX_DEQUE_MIN_CAPACITY must be a power of two"
#endif

/* Inlining is part of the design on the spawn path: parx_spawn must stay a
   handful of instructions around an inlined deque push, and its rare paths
   must not grow it past the compiler's inlining budget. */
#define PARX__HOT static inline __attribute__((always_inline))
#define PARX__COLD static __attribute__((noinline, cold))

#define PARX__MAX_THREADS 4096
#define PARX__TASK_BLOCK 64   /* task records per allocation, and per hand-over between workers */
#define PARX__PAUSE_ROUNDS 64 /* idle polls separated by a pause before polls yield the CPU */
#define PARX__SLOT_GRACE 32   /* idle polls before outside slots' tasks are fair game */

/* -------------------------------------------------------------------------- */
/* >>platform: time, futexes, CPU count, memory, logging                      */
/* -------------------------------------------------------------------------- */

static uint64_t parx__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleep while *addr == expected. Returns on a wake-up, a signal, or at once
   if the value already differs; callers re-check their condition in a loop. */
static void parx__futex_wait(_Atomic uint32_t *addr, uint32_t expected)
{
    syscall(SYS_futex, (void *)addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void parx__futex_wake(_Atomic uint32_t *addr, int n)
{
    syscall(SYS_futex, (void *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* Tell the core we are polling: saves power and yields the pipeline to a
   sibling hyperthread. Not a synchronisation primitive. */
static inline void parx__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

static int parx__cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* A user-supplied allocator, or malloc/free when both functions are NULL. */
static void *parx__alloc(void *(*fn)(size_t, void *), void *user, size_t size)
{
    return fn ? fn(size, user) : malloc(size);
}

static void parx__free(void (*fn)(void *, void *), void *user, void *ptr)
{
    if (!ptr) return;
    if (fn) fn(ptr, user);
    else free(ptr);
}

/* >>common: errors and logging, the same text in every parx header so that
   any one of them can be copied alone. With two headers implemented in one
   translation unit the guard keeps one copy; implemented in two, the
   definitions are weak (PARX_STATIC: static), so the program links and has
   one log hook. */
#ifndef PARX__COMMON_IMPLEMENTED
#define PARX__COMMON_IMPLEMENTED
#ifdef PARX_STATIC
#define PARX__COMMON static __attribute__((unused))
#else
#define PARX__COMMON __attribute__((weak))
#endif

/* The log hook is process-wide configuration: set once, read with relaxed
   loads (documented: set it before using parx from several threads). */
PARX__COMMON _Atomic(parx_log_fn) parx__log_hook;
PARX__COMMON _Atomic(void *) parx__log_user;

PARX__COMMON void parx_set_log(parx_log_fn fn, void *user)
{
    atomic_store_explicit(&parx__log_user, user, memory_order_relaxed);
    atomic_store_explicit(&parx__log_hook, fn, memory_order_relaxed);
}

PARX__COMMON void parx__log(parx_log_level level, const char *msg)
{
    parx_log_fn fn = atomic_load_explicit(&parx__log_hook, memory_order_relaxed);
    if (fn) fn(level, msg, atomic_load_explicit(&parx__log_user, memory_order_relaxed));
}

PARX__COMMON const char *parx_strerror(int code)
{
    switch (code) {
    case 0: return "success";
    case PARX_E_NOT_WORKER: return "no pool: group initialised with NULL outside any pool";
    case PARX_E_NOT_ARENA: return "not a parx arena";
    case PARX_E_ARENA_VERSION: return "a parx arena of an unknown layout version";
    case PARX_E_TRUNCATED: return "parx arena truncated: the segment is smaller than its header says";
    case -EINVAL: return "invalid argument";
    case -ENOMEM: return "out of memory";
    case -EAGAIN: return "resource temporarily unavailable";
    default: break;
    }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    if (code < 0 && code > -4096) {
        const char *s = strerrordesc_np(-code); /* static strings: thread-safe */
        if (s) return s;
    }
#endif
    return "unknown error";
}
#endif /* PARX__COMMON_IMPLEMENTED */

/* -------------------------------------------------------------------------- */
/* >>deque: Chase-Lev after Le, Pop, Cohen, Zappa Nardelli (PPoPP 2013)       */
/* -------------------------------------------------------------------------- */
/* top and bottom only grow (bottom also steps back by one in pop); the live
   items are slots [top, bottom) of a circular array whose capacity is a power
   of two. Slots are atomics accessed with relaxed loads and stores: a thief
   may read a slot the owner is overwriting, but then the thief's CAS on top
   fails and it discards what it read, so the race is harmless and, being on
   atomics, not undefined behaviour. */

struct parx__deque_array {
    int64_t mask;                     /* capacity - 1 */
    struct parx__deque_array *next;   /* link in the deque's retired list */
    _Atomic(void *) slot[];
};

static struct parx__deque_array *parx__deque_array_new(parx_deque *d, int64_t capacity)
{
    struct parx__deque_array *a = (struct parx__deque_array *)parx__alloc(
        d->alloc_fn, d->alloc_user,
        sizeof *a + (size_t)capacity * sizeof(_Atomic(void *)));
    if (!a) return NULL;
    a->mask = capacity - 1;
    a->next = NULL;
    return a;
}

/* Initialise with a given allocator: the pool's deques use the pool's. */
static int parx__deque_init_with(parx_deque *d, size_t capacity_hint,
                                 void *(*alloc_fn)(size_t, void *),
                                 void (*free_fn)(void *, void *), void *user)
{
    if (!d) return -EINVAL;
    const size_t max_capacity = ((size_t)1 << 40) / sizeof(void *);
    if (capacity_hint > max_capacity) return -EINVAL;
    size_t capacity = PARX_DEQUE_MIN_CAPACITY;
    while (capacity < capacity_hint) capacity <<= 1;
    memset(d, 0, sizeof *d);
    d->alloc_fn = alloc_fn;
    d->free_fn = free_fn;
    d->alloc_user = user;
    struct parx__deque_array *a = parx__deque_array_new(d, (int64_t)capacity);
    if (!a) return -ENOMEM;
    atomic_init(&d->top, 0);
    atomic_init(&d->bottom, 0);
    atomic_init(&d->array, a);
    return 0;
}

PARX_API int parx_deque_init(parx_deque *d, size_t capacity_hint)
{
    return parx__deque_init_with(d, capacity_hint, NULL, NULL, NULL);
}

PARX_API void parx_deque_destroy(parx_deque *d)
{
    if (!d) return;
    /* relaxed, here and below: destroy runs after every other thread is done
       with d (documented), so nothing races with it */
    struct parx__deque_array *a = atomic_load_explicit(&d->array, memory_order_relaxed);
    parx__free(d->free_fn, d->alloc_user, a);
    while (d->retired) {
        struct parx__deque_array *next = d->retired->next;
        parx__free(d->free_fn, d->alloc_user, d->retired);
        d->retired = next;
    }
    atomic_store_explicit(&d->array, NULL, memory_order_relaxed);
}

/* Owner only: replace a full array by one twice as large holding the same
   live items. The old array stays readable (retired, not freed) because a
   thief may have loaded its pointer just before the swap. */
PARX__COLD struct parx__deque_array *parx__deque_grow(parx_deque *d, struct parx__deque_array *a,
                                                  int64_t t, int64_t b)
{
    struct parx__deque_array *g = parx__deque_array_new(d, 2 * (a->mask + 1));
    if (!g) return NULL;
    for (int64_t i = t; i < b; i++) {
        /* relaxed: these slots were written by this thread (the owner) */
        void *x = atomic_load_explicit(&a->slot[i & a->mask], memory_order_relaxed);
        atomic_store_explicit(&g->slot[i & g->mask], x, memory_order_relaxed);
    }
    a->next = d->retired;
    d->retired = a;
    /* release: pairs with the acquire load of the array in steal, so a thief
       that sees the new array also sees the slots copied into it */
    atomic_store_explicit(&d->array, g, memory_order_release);
    return g;
}

/* Owner only: push, and report how many items the owner saw before it (the
   pool uses 0, "was empty", to decide how carefully to wake sleepers). */
PARX__HOT int parx__deque_put(parx_deque *d, void *item, int64_t *size_before)
{
    /* relaxed: only the owner writes bottom */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    /* acquire: pairs with a thief's CAS on top, so the thief's read of the slot
       we may overwrite next (it is free again) happened before our write */
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    /* relaxed: only the owner replaces the array */
    struct parx__deque_array *a = atomic_load_explicit(&d->array, memory_order_relaxed);
    if (b - t > a->mask) {
        a = parx__deque_grow(d, a, t, b);
        if (!a) return -ENOMEM;
    }
    /* relaxed: published by the store of bottom below */
    atomic_store_explicit(&a->slot[b & a->mask], item, memory_order_relaxed);
    if (b - t <= 0) {
        /* seq_cst: an empty deque becoming non-empty is the moment a sleeping
           worker must not miss; this store and the pool's seq_cst read of its
           sleeper count pair with the sleeper's seq_cst announce-then-look
           (see >>sleep) */
        atomic_store_explicit(&d->bottom, b + 1, memory_order_seq_cst);
    } else {
        /* release: a thief that reads this bottom (seq_cst, so acquire) sees
           the slot written above */
        atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
    }
    if (size_before) *size_before = b - t;
    return 0;
}

PARX_API int parx_deque_push(parx_deque *d, void *item)
{
    if (!d || !item) return -EINVAL;
    return parx__deque_put(d, item, NULL);
}

PARX__HOT void *parx__deque_take(parx_deque *d)
{
    /* relaxed: only the owner writes bottom and the array pointer */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
    struct parx__deque_array *a = atomic_load_explicit(&d->array, memory_order_relaxed);
    /* seq_cst RMW where the paper has "store bottom; fence(seq_cst)": claims
       slot b before we look at top, so a thief either sees the claim or we
       see its CAS (TSan models this; it does not model the bare fence) */
    atomic_exchange_explicit(&d->bottom, b, memory_order_seq_cst);
    /* seq_cst: read after the claim, in the same total order as the thief's
       reads of top and bottom */
    int64_t t = atomic_load_explicit(&d->top, memory_order_seq_cst);
    if (t > b) {
        /* empty: undo the claim. relaxed: no item is published by it */
        atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
        return NULL;
    }
    /* relaxed: the owner wrote this slot itself */
    void *x = atomic_load_explicit(&a->slot[b & a->mask], memory_order_relaxed);
    if (t == b) {
        /* the last item: thieves may want it too, and the CAS on top decides.
           seq_cst on success keeps it in the total order with the thieves'
           CAS; relaxed on failure: we only learn that we lost */
        if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                     memory_order_relaxed))
            x = NULL;
        /* relaxed: the deque is empty either way; nothing is published */
        atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
    }
    return x;
}

PARX_API void *parx_deque_pop(parx_deque *d)
{
    return parx__deque_take(d);
}

PARX_API void *parx_deque_steal(parx_deque *d)
{
    /* seq_cst (the paper: acquire, then a seq_cst fence): read top before
       bottom in the total order shared with pop's exchange of bottom */
    int64_t t = atomic_load_explicit(&d->top, memory_order_seq_cst);
    /* seq_cst, so also acquire: pairs with the push that stored this bottom,
       making its slot visible */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_seq_cst);
    if (t >= b) return NULL;
    /* acquire (the paper: consume): pairs with the release store in grow */
    struct parx__deque_array *a = atomic_load_explicit(&d->array, memory_order_acquire);
    /* relaxed: validated by the CAS below; if the slot was reused the CAS fails */
    void *x = atomic_load_explicit(&a->slot[t & a->mask], memory_order_relaxed);
    /* seq_cst on success: the single point where the item changes hands, in
       the same total order as pop's CAS for the last item; relaxed on failure:
       we lost the race and use nothing we read */
    if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return NULL;
    return x;
}

PARX_API size_t parx_deque_size(const parx_deque *d)
{
    if (!d) return 0;
    parx_deque *m = (parx_deque *)d; /* atomic loads need a non-const pointer in C11 */
    /* relaxed: a snapshot, documented as approximate under concurrency */
    int64_t b = atomic_load_explicit(&m->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&m->top, memory_order_relaxed);
    return b > t ? (size_t)(b - t) : 0;
}

/* -------------------------------------------------------------------------- */
/* >>pool: workers, task records, the shared queue, sleeping and waking       */
/* -------------------------------------------------------------------------- */
/* Each worker owns a deque of task records. A spawn from a worker pushes on
   its own deque; a spawn from any other thread goes on the pool's shared
   queue (a mutex-protected ring). A worker with nothing to do looks in the
   shared queue, then tries every other worker's deque starting at a random
   one, polls a while, and finally sleeps on its own futex word (`state`).

   A thread outside the pool borrows one of PARX_OUTSIDE_SLOTS spare worker
   records (a deque and a free list, but no thread) from its first spawn into
   a group until its wait on that group ends (see >>help). Slots sit after
   the workers in `workers[]`; thieves and sleepers' last looks cover them.

   Task records come from per-worker free lists (no lock, no malloc in steady
   state). A stolen task's record is freed by the thief onto the thief's
   list, so records drift between workers; a list that grows past four blocks
   hands one block back to the pool's spare list, which feeds workers whose
   list runs dry. Records live in blocks freed with the pool. */

/* One cache line per record: free lists are LIFO, so each worker keeps
   reusing its most recently freed record, and two workers' favourite records
   must never share a line (that false sharing cost 40% of fib's speed). */
typedef struct parx__task {
    parx_fn fn;
    void *arg;
    parx_group *group;
    struct parx__task *next; /* free list link */
    char parx__pad[PARX_CACHELINE > 4 * sizeof(void *) ? PARX_CACHELINE - 4 * sizeof(void *) : 1];
} parx__task;

/* A block of records: this header, then records from the next cache-line
   boundary on (the allocator only promises malloc's alignment). */
typedef struct parx__task_block {
    struct parx__task_block *next;
} parx__task_block;

enum { PARX__AWAKE = 0, PARX__SLEEPING = 1 };

typedef struct parx__worker {
    parx_deque deque;          /* pads its own hot fields onto separate lines */
    struct parx_pool *pool;
    int index;
    pthread_t thread;
    uint64_t rng;              /* xorshift state for victim choice */
    parx__task *free_tasks;    /* owner only */
    size_t nfree;              /* owner only */
    parx__task_block *blocks;  /* owner only: blocks this worker allocated */
    uint64_t mark_ns;          /* owner only: start of the current busy spell */
    _Atomic uint32_t state;    /* futex word: PARX__AWAKE or PARX__SLEEPING */
    bool is_slot;              /* an outside slot: no thread, no statistics */
    _Atomic int claimed;       /* outside slots: 1 while a thread borrows it */
    /* statistics: written by this worker only (relaxed load + store), read by anyone */
    _Atomic uint64_t st_tasks, st_steals, st_attempts, st_sleeps, st_busy_ns, st_idle_ns;
    char parx__pad[PARX_CACHELINE];
} parx__worker;

struct parx_pool {
    /* read-only after creation */
    int nworkers;              /* threads: workers[0 .. nworkers) */
    int nslots;                /* nworkers + PARX_OUTSIDE_SLOTS records in workers[] */
    unsigned spin_rounds;
    parx__worker *workers;
    void *(*alloc_fn)(size_t, void *);
    void (*free_fn)(void *, void *);
    void *alloc_user;
    char name[11];
    char parx__pad0[PARX_CACHELINE];
    /* read on every spawn, written when workers fall asleep or wake */
    _Atomic int sleepers;
    _Atomic int shutdown;
    char parx__pad1[PARX_CACHELINE];
    /* the shared queue, spare task records and their blocks, under `mu` */
    _Atomic unsigned wake_cursor;
    _Atomic size_t queued;     /* queue_len, published for lock-free peeks */
    pthread_mutex_t mu;
    parx__task **queue;        /* ring of capacity queue_cap (a power of two) */
    size_t queue_cap, queue_head, queue_len;
    parx__task *spare;
    parx__task_block *blocks;
    /* threads outside the pool sleep here until their group completes */
    pthread_mutex_t wait_mu;
    pthread_cond_t wait_cv;
};

/* The worker this thread is (NULL on other threads), and the pool whose
   task an outside thread is running inside parx_wait (so that
   parx_group_init(&g, NULL) in that task still finds its pool). */
static _Thread_local parx__worker *parx__tls_worker;
static _Thread_local parx_pool *parx__tls_helping;

/* relaxed load + store rather than an RMW: only the worker itself writes its
   counters, readers only need an untorn value */
#define PARX__STAT_ADD(w, field, v)                                                           \
    atomic_store_explicit(&(w)->field,                                                        \
                          atomic_load_explicit(&(w)->field, memory_order_relaxed) + (v),      \
                          memory_order_relaxed)

static parx__worker *parx__self_in(const parx_pool *p)
{
    parx__worker *w = parx__tls_worker;
    return (w && w->pool == p) ? w : NULL;
}

/* A fresh block of task records, linked into *blocks; returns its records
   chained through `next`. The caller guards *blocks. */
static parx__task *parx__block_new(parx_pool *p, parx__task_block **blocks)
{
    size_t size = sizeof(parx__task_block) + PARX_CACHELINE + PARX__TASK_BLOCK * sizeof(parx__task);
    parx__task_block *b = (parx__task_block *)parx__alloc(p->alloc_fn, p->alloc_user, size);
    if (!b) return NULL;
    b->next = *blocks;
    *blocks = b;
    uintptr_t first = ((uintptr_t)(b + 1) + PARX_CACHELINE - 1) & ~(uintptr_t)(PARX_CACHELINE - 1);
    parx__task *tasks = (parx__task *)first;
    for (int i = 0; i < PARX__TASK_BLOCK - 1; i++) tasks[i].next = &tasks[i + 1];
    tasks[PARX__TASK_BLOCK - 1].next = NULL;
    return &tasks[0];
}

/* Slow path of parx__task_get: the worker's list is empty. */
PARX__COLD parx__task *parx__task_refill(parx__worker *w)
{
    parx_pool *p = w->pool;
    parx__task *chain = NULL;
    size_t n = 0;
    pthread_mutex_lock(&p->mu);
    if (p->spare) {
        parx__task *last = chain = p->spare;
        for (n = 1; n < PARX__TASK_BLOCK && last->next; n++) last = last->next;
        p->spare = last->next;
        last->next = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    if (!chain) {
        chain = parx__block_new(p, &w->blocks);
        if (!chain) return NULL;
        n = PARX__TASK_BLOCK;
    }
    w->free_tasks = chain->next;
    w->nfree = n - 1;
    return chain;
}

static inline parx__task *parx__task_get(parx__worker *w)
{
    parx__task *t = w->free_tasks;
    if (!t) return parx__task_refill(w);
    w->free_tasks = t->next;
    w->nfree--;
    return t;
}

/* Hand a block's worth of records back to the pool (the list grew long
   because this worker runs more stolen tasks than it spawns). */
PARX__COLD void parx__task_spill(parx__worker *w)
{
    parx__task *head = w->free_tasks, *last = head;
    for (int i = 1; i < PARX__TASK_BLOCK; i++) last = last->next;
    w->free_tasks = last->next;
    w->nfree -= PARX__TASK_BLOCK;
    parx_pool *p = w->pool;
    pthread_mutex_lock(&p->mu);
    last->next = p->spare;
    p->spare = head;
    pthread_mutex_unlock(&p->mu);
}

static inline void parx__task_put(parx__worker *w, parx__task *t)
{
    t->next = w->free_tasks;
    w->free_tasks = t;
    if (++w->nfree > 4 * PARX__TASK_BLOCK) parx__task_spill(w);
}

/* Wake worker v if it sleeps. Returns whether it did. `peek` skips the
   locked CAS when a relaxed read says v is awake: right for "someone please
   help" notices, wrong where a lost wake-up would strand a waiter. */
static bool parx__wake(parx__worker *v, bool peek)
{
    if (peek && atomic_load_explicit(&v->state, memory_order_relaxed) != PARX__SLEEPING)
        return false;
    uint32_t expected = PARX__SLEEPING;
    /* seq_cst: everything the waker published before (a push, a finished
       count, shutdown) precedes this in the total order; the sleeper's
       acquire load of `state` then sees it */
    if (!atomic_compare_exchange_strong_explicit(&v->state, &expected, PARX__AWAKE,
                                                 memory_order_seq_cst, memory_order_relaxed))
        return false;
    parx__futex_wake(&v->state, 1);
    return true;
}

static void parx__wake_one(parx_pool *p)
{
    /* relaxed: the cursor only spreads wake-ups over the workers */
    unsigned start = atomic_fetch_add_explicit(&p->wake_cursor, 1, memory_order_relaxed);
    for (int i = 0; i < p->nslots; i++)
        if (parx__wake(&p->workers[(start + (unsigned)i) % (unsigned)p->nslots], true)) return;
}

/* Called after making work visible. `strict` after a push into an empty
   deque or onto the shared queue, whose publishing store was seq_cst. */
static inline void parx__notify(parx_pool *p, bool strict)
{
    int sleepers = strict
        /* seq_cst: pairs with the sleeper's seq_cst announce (see >>sleep) */
        ? atomic_load_explicit(&p->sleepers, memory_order_seq_cst)
        /* relaxed: a peek; a miss costs a moment of parallelism, not progress */
        : atomic_load_explicit(&p->sleepers, memory_order_relaxed);
    if (sleepers > 0) parx__wake_one(p);
}

/* The shared queue: a ring of task records under p->mu, grown by doubling. */
static int parx__queue_push_locked(parx_pool *p, parx__task *t)
{
    if (p->queue_len == p->queue_cap) {
        size_t cap = p->queue_cap ? 2 * p->queue_cap : 64;
        parx__task **q = (parx__task **)parx__alloc(p->alloc_fn, p->alloc_user, cap * sizeof *q);
        if (!q) return -ENOMEM;
        for (size_t i = 0; i < p->queue_len; i++)
            q[i] = p->queue[(p->queue_head + i) & (p->queue_cap - 1)];
        parx__free(p->free_fn, p->alloc_user, p->queue);
        p->queue = q;
        p->queue_cap = cap;
        p->queue_head = 0;
    }
    p->queue[(p->queue_head + p->queue_len) & (p->queue_cap - 1)] = t;
    p->queue_len++;
    return 0;
}

/* Take from the shared queue: workers take the oldest task; an outside owner
   helping its own group takes the newest, and only if it belongs to that
   group. Returns the task's contents in *out and recycles its record. */
static bool parx__queue_take(parx_pool *p, const parx_group *own, parx__task *out)
{
    parx__task *t = NULL;
    /* Workers only try the lock: if it is busy, someone is pushing or taking
       right now and the worker has other places to look. The owner waits for
       it, since it has nothing better to do. */
    if (!own) {
        if (pthread_mutex_trylock(&p->mu) != 0) return false;
    } else {
        pthread_mutex_lock(&p->mu);
    }
    if (p->queue_len > 0) {
        size_t mask = p->queue_cap - 1;
        if (!own) {
            t = p->queue[p->queue_head];
            p->queue_head = (p->queue_head + 1) & mask;
            p->queue_len--;
        } else if (p->queue[(p->queue_head + p->queue_len - 1) & mask]->group == own) {
            t = p->queue[(p->queue_head + p->queue_len - 1) & mask];
            p->queue_len--;
        }
        /* relaxed: `queued` is a hint for peeks; a stale non-zero only costs
           a look under the lock (it rises with seq_cst in parx__spawn_outside) */
        atomic_store_explicit(&p->queued, p->queue_len, memory_order_relaxed);
    }
    if (t) {
        *out = *t;
        t->next = p->spare;
        p->spare = t;
    }
    pthread_mutex_unlock(&p->mu);
    return t != NULL;
}

PARX__COLD int parx__spawn_outside(parx_pool *p, parx_group *g, parx_fn fn, void *arg)
{
    pthread_mutex_lock(&p->mu);
    parx__task *t = p->spare;
    if (!t) t = parx__block_new(p, &p->blocks);
    if (t) {
        p->spare = t->next;
        t->fn = fn;
        t->arg = arg;
        t->group = g;
        if (parx__queue_push_locked(p, t) != 0) {
            t->next = p->spare;
            p->spare = t;
            t = NULL;
        } else {
            /* seq_cst: publishes the task to sleepers' last look (see >>sleep) */
            atomic_store_explicit(&p->queued, p->queue_len, memory_order_seq_cst);
        }
    }
    pthread_mutex_unlock(&p->mu);
    if (!t) return -ENOMEM;
    g->spawned++;
    parx__notify(p, true);
    return 0;
}

/* Does any work exist? seq_cst loads: this is a sleeper's last look, which
   must come after its announcement in the total order (see >>sleep). */
static bool parx__work_visible(parx_pool *p)
{
    if (atomic_load_explicit(&p->queued, memory_order_seq_cst) > 0) return true;
    for (int i = 0; i < p->nslots; i++) {
        parx_deque *d = &p->workers[i].deque;
        int64_t t = atomic_load_explicit(&d->top, memory_order_seq_cst);
        int64_t b = atomic_load_explicit(&d->bottom, memory_order_seq_cst);
        if (b > t) return true;
    }
    return false;
}

/* Owner only: is my deque empty, so that thieves may be going hungry?
   relaxed: a scheduling hint, never a correctness condition. */
static inline bool parx__deque_looks_empty(parx__worker *w)
{
    int64_t b = atomic_load_explicit(&w->deque.bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&w->deque.top, memory_order_relaxed);
    return b <= t;
}

static inline bool parx__group_done(parx_group *g, memory_order mo)
{
    /* acquire (or seq_cst in a sleeper's last look): pairs with the release
       half of each completer's fetch_add, so the finished tasks' writes are
       visible to the waiter once the count matches */
    size_t remote = atomic_load_explicit(&g->done_remote, mo) >> 1;
    return g->done_local + remote == g->spawned;
}

/* A task of group g has finished on a thread that is not g's owner. */
static void parx__complete_remote(parx_group *g)
{
    /* read before the count: once it matches, the owner may return and g vanish */
    parx__worker *owner = (parx__worker *)g->owner;
    parx_pool *p = g->pool;
    /* seq_cst RMW: its release half publishes the task's effects to the
       waiter's acquire load; seq_cst orders it against the waiter's fetch_or
       of the waiter bit, so either the waiter sees this count or we see its bit */
    size_t old = atomic_fetch_add_explicit(&g->done_remote, 2, memory_order_seq_cst);
    if (!(old & 1)) return;
    if (owner) {
        parx__wake(owner, false);
    } else {
        pthread_mutex_lock(&p->wait_mu);
        pthread_cond_broadcast(&p->wait_cv);
        pthread_mutex_unlock(&p->wait_mu);
    }
}

/* A task of group g has finished on thread `self` (NULL: not a worker). */
PARX__HOT void parx__complete(parx_group *g, parx__worker *self)
{
    if (self && g->owner == (void *)self) g->done_local++; /* the owner: no other thread reads it */
    else parx__complete_remote(g);
}

PARX__HOT void parx__run(parx__worker *w, parx__task *t)
{
    parx_fn fn = t->fn;
    void *arg = t->arg;
    parx_group *g = t->group;
    parx__task_put(w, t); /* recycle first: the record is warm for the next spawn */
    fn(arg);
    parx__complete(g, w);
    PARX__STAT_ADD(w, st_tasks, 1);
}

/* Run fn(arg) on this thread for pool p without being one of its workers:
   groups that fn initialises with NULL still find p (through parx_group_init),
   also on a worker of another pool, whose identity is hidden meanwhile. */
static void parx__run_here(parx_pool *p, parx_fn fn, void *arg)
{
    parx_pool *prev = parx__tls_helping;
    parx__worker *prev_worker = parx__tls_worker;
    parx__tls_helping = p;
    parx__tls_worker = NULL;
    fn(arg);
    parx__tls_worker = prev_worker;
    parx__tls_helping = prev;
}

/* Borrow a free outside slot, or NULL if all are in use. */
PARX__COLD parx__worker *parx__slot_claim(parx_pool *p)
{
    for (int i = p->nworkers; i < p->nslots; i++) {
        parx__worker *s = &p->workers[i];
        int expected = 0;
        /* acquire: pairs with the release in parx__slot_release, so the
           previous borrower's use of the slot's free list and deque happened
           before ours. The relaxed peek skips the locked CAS on slots in use. */
        if (atomic_load_explicit(&s->claimed, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_strong_explicit(&s->claimed, &expected, 1,
                                                    memory_order_acquire, memory_order_relaxed))
            return s;
    }
    return NULL;
}

/* The slot's deque is empty again when its borrower lets go: everything it
   ran waited for what it spawned (and thieves scan slots anyway). */
static void parx__slot_release(parx__worker *slot)
{
    /* release: see parx__slot_claim */
    atomic_store_explicit(&slot->claimed, 0, memory_order_release);
}

/* Run a task on a thread outside the pool (inside parx_wait): as a borrowed
   outside slot if one is free, so the task's spawns go on the slot's deque;
   otherwise as a plain outsider, whose spawns go through the shared queue. */
static void parx__run_outside(parx_pool *p, const parx__task *t)
{
    parx__worker *slot = parx__slot_claim(p);
    if (!slot) {
        parx__run_here(p, t->fn, t->arg);
        parx__complete(t->group, NULL);
        return;
    }
    parx__worker *prev = parx__tls_worker; /* a worker of another pool, or NULL */
    parx__tls_worker = slot;
    t->fn(t->arg);
    parx__complete(t->group, slot);
    PARX__STAT_ADD(slot, st_tasks, 1);
    parx__tls_worker = prev;
    parx__slot_release(slot);
}

/* Look for a task to take: the shared queue, then every other deque from a
   random start. Unless `patient`, outside slots are left to the threads
   that spawned into them, which usually pop their tasks themselves in
   parx_wait at once (a thief taking one makes that thread wait for a
   completion on another core, and merely polling a slot's deque moves its
   cache line away on every push); idle workers turn patient after
   PARX__SLOT_GRACE polls, a microsecond or two. */
static parx__task *parx__find_work(parx__worker *w, bool patient)
{
    parx_pool *p = w->pool;
    /* relaxed: a peek; the queue itself is read under its lock */
    if (atomic_load_explicit(&p->queued, memory_order_relaxed) > 0) {
        parx__task copy;
        PARX__STAT_ADD(w, st_attempts, 1);
        if (parx__queue_take(p, NULL, &copy)) {
            /* move it into a record of ours so every task runs the same way */
            parx__task *t = parx__task_get(w);
            if (!t) { /* no memory for a record: run it right here */
                PARX__STAT_ADD(w, st_steals, 1);
                copy.fn(copy.arg);
                parx__complete(copy.group, w);
                PARX__STAT_ADD(w, st_tasks, 1);
                return NULL;
            }
            *t = copy;
            PARX__STAT_ADD(w, st_steals, 1);
            return t;
        }
    }
    int n = p->nslots;
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    int start = (int)(w->rng % (uint64_t)n);
    for (int i = 0; i < n; i++) {
        parx__worker *v = &p->workers[(start + i) % n];
        if (v == w || (!patient && v->is_slot)) continue; /* not even a look: that costs */
        /* the owner's cache line on every push and pop */
        PARX__STAT_ADD(w, st_attempts, 1);
        parx__task *t = (parx__task *)parx_deque_steal(&v->deque);
        if (t) {
            PARX__STAT_ADD(w, st_steals, 1);
            /* more work where this came from and workers asleep: pass the
               wake-up on (relaxed peeks: a hint, see >>sleep) */
            if (parx_deque_size(&v->deque) > 0 &&
                atomic_load_explicit(&p->sleepers, memory_order_relaxed) > 0)
                parx__wake_one(p);
            return t;
        }
    }
    return NULL;
}

/* Sleep until woken: by new work, by the completion of group g (if given),
   or by shutdown. Returns at once if any of those is already visible.
   Returns whether a waker claimed us (its wake-up is ours to use or pass on). */
static bool parx__sleep(parx__worker *w, parx_group *g)
{
    parx_pool *p = w->pool;
    /* seq_cst: a waker's CAS must find SLEEPING once our last look is made */
    atomic_store_explicit(&w->state, PARX__SLEEPING, memory_order_seq_cst);
    if (g) /* seq_cst: ask completers to wake us; pairs with their fetch_add */
        atomic_fetch_or_explicit(&g->done_remote, 1, memory_order_seq_cst);
    /* seq_cst: announce before the last look; pairs with parx__notify */
    atomic_fetch_add_explicit(&p->sleepers, 1, memory_order_seq_cst);
    bool stay = !(g && parx__group_done(g, memory_order_seq_cst)) && !parx__work_visible(p) &&
                /* seq_cst: pairs with the store in parx__stop. A wait for a
                   group sleeps through shutdown: its completion wakes it */
                !(!g && atomic_load_explicit(&p->shutdown, memory_order_seq_cst));
    if (stay) {
        PARX__STAT_ADD(w, st_sleeps, 1);
        /* acquire: pairs with the waker's CAS, so what it published is visible */
        while (atomic_load_explicit(&w->state, memory_order_acquire) == PARX__SLEEPING)
            parx__futex_wait(&w->state, PARX__SLEEPING);
    }
    /* seq_cst exchange, not a store: tells us whether a waker's CAS got in
       (while we slept, or between our announce and now), whose wake-up we
       must not silently drop */
    uint32_t prev = atomic_exchange_explicit(&w->state, PARX__AWAKE, memory_order_seq_cst);
    /* relaxed: the count is a hint for notifiers; the announce carried the order */
    atomic_fetch_sub_explicit(&p->sleepers, 1, memory_order_relaxed);
    return prev == PARX__AWAKE;
}

/* Nothing in our deque and nothing to steal: poll for a while, then sleep.
   Polling starts with a few rounds of pauses, then gives the CPU away
   between looks (sched_yield), in case more threads are runnable than there
   are cores, such as a thread outside the pool waiting beside the workers.
   Returns a task to run, or NULL once g is done (g given) or the pool shuts
   down (g NULL). A worker accounts the time as idle; a slot keeps no stats. */
static parx__task *parx__idle(parx__worker *w, parx_group *g)
{
    parx_pool *p = w->pool;
    uint64_t t0 = 0;
    if (!w->is_slot) {
        t0 = parx__now_ns();
        PARX__STAT_ADD(w, st_busy_ns, t0 - w->mark_ns);
    }
    parx__task *t = NULL;
    bool woken = false;
    for (;;) {
        for (unsigned i = 0; i < p->spin_rounds; i++) {
            if (g ? parx__group_done(g, memory_order_acquire)
                  /* relaxed: a poll; the sleeper's last look reads it seq_cst */
                  : atomic_load_explicit(&p->shutdown, memory_order_relaxed))
                goto out;
            if ((t = parx__find_work(w, i >= PARX__SLOT_GRACE)) != NULL) goto out;
            if (i < PARX__PAUSE_ROUNDS) parx__cpu_relax();
            else sched_yield();
        }
        woken |= parx__sleep(w, g);
    }
out:
    /* Leaving empty-handed after a wake-up that may have been meant for
       work (a waiter returning to its caller, an outside thread giving its
       slot back): hand it on, or that work could wait for a sleeper forever. */
    if (!t && woken && parx__work_visible(p)) parx__wake_one(p);
    if (!w->is_slot) {
        uint64_t t1 = parx__now_ns();
        PARX__STAT_ADD(w, st_idle_ns, t1 - t0);
        w->mark_ns = t1;
    }
    return t;
}

static void *parx__worker_main(void *arg)
{
    parx__worker *w = (parx__worker *)arg;
    parx_pool *p = w->pool;
    parx__tls_worker = w;

    char name[16]; /* Linux allows 15 characters: "<prefix>-<index>" */
    size_t len = strlen(p->name);
    memcpy(name, p->name, len);
    name[len++] = '-';
    char digits[8];
    int nd = 0;
    for (unsigned v = (unsigned)w->index; nd == 0 || v; v /= 10) digits[nd++] = (char)('0' + v % 10);
    while (nd > 0 && len < sizeof name - 1) name[len++] = digits[--nd];
    name[len] = '\0';
    pthread_setname_np(pthread_self(), name);

    w->mark_ns = parx__now_ns();
    for (;;) {
        parx__task *t = (parx__task *)parx__deque_take(&w->deque);
        if (!t) t = parx__find_work(w, false);
        if (!t) t = parx__idle(w, NULL);
        if (!t) /* idle returned empty-handed: shutdown. Take anything left, */
            t = parx__find_work(w, true); /* in outside slots too */
        if (t) {
            parx__run(w, t);
            continue;
        }
        /* and leave once no work is left anywhere (a steal can fail on a lost
           race while work remains) */
        if (!parx__work_visible(p)) break;
    }
    PARX__STAT_ADD(w, st_busy_ns, parx__now_ns() - w->mark_ns);
    return NULL;
}

/* Stop the workers: they finish every queued task first. */
static void parx__stop(parx_pool *p, int started)
{
    /* seq_cst: read by sleepers in their last look, after their announce */
    atomic_store_explicit(&p->shutdown, 1, memory_order_seq_cst);
    for (int i = 0; i < p->nslots; i++) parx__wake(&p->workers[i], false);
    for (int i = 0; i < started; i++) pthread_join(p->workers[i].thread, NULL);
}

static void parx__pool_free(parx_pool *p)
{
    for (int i = 0; i < p->nslots; i++) {
        parx__worker *w = &p->workers[i];
        parx_deque_destroy(&w->deque);
        while (w->blocks) {
            parx__task_block *next = w->blocks->next;
            parx__free(p->free_fn, p->alloc_user, w->blocks);
            w->blocks = next;
        }
    }
    while (p->blocks) {
        parx__task_block *next = p->blocks->next;
        parx__free(p->free_fn, p->alloc_user, p->blocks);
        p->blocks = next;
    }
    parx__free(p->free_fn, p->alloc_user, p->queue);
    pthread_cond_destroy(&p->wait_cv);
    pthread_mutex_destroy(&p->wait_mu);
    pthread_mutex_destroy(&p->mu);
    parx__free(p->free_fn, p->alloc_user, p->workers);
    parx__free(p->free_fn, p->alloc_user, p);
}

PARX_API parx_pool *parx_pool_create(const parx_pool_desc *desc)
{
    parx_pool_desc d;
    if (desc) d = *desc;
    else memset(&d, 0, sizeof d);
    if (d.threads < 0 || d.threads > PARX__MAX_THREADS || !d.alloc != !d.free) {
        errno = EINVAL;
        return NULL;
    }
    int n = d.threads ? d.threads : parx__cpu_count();
    if (n > PARX__MAX_THREADS) n = PARX__MAX_THREADS;

    parx_pool *p = (parx_pool *)parx__alloc(d.alloc, d.alloc_user, sizeof *p);
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    memset(p, 0, sizeof *p);
    p->alloc_fn = d.alloc;
    p->free_fn = d.free;
    p->alloc_user = d.alloc_user;
    p->spin_rounds = d.spin_rounds ? d.spin_rounds : PARX_SPIN_ROUNDS;
    const char *name = d.name ? d.name : "parx";
    size_t name_len = strlen(name);
    if (name_len > sizeof p->name - 1) name_len = sizeof p->name - 1;
    memcpy(p->name, name, name_len);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->shutdown, 0);
    atomic_init(&p->wake_cursor, 0);
    atomic_init(&p->queued, 0);
    /* adaptive: spins briefly before sleeping, since every hold is a few
       pointer moves (a glibc extension; the default mutex sleeps at once) */
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&p->mu, &attr);
    pthread_mutexattr_destroy(&attr);
    pthread_mutex_init(&p->wait_mu, NULL);
    pthread_cond_init(&p->wait_cv, NULL);

    int nslots = n + PARX_OUTSIDE_SLOTS;
    size_t bytes = (size_t)nslots * sizeof *p->workers;
    p->workers = (parx__worker *)parx__alloc(d.alloc, d.alloc_user, bytes);
    if (!p->workers) {
        parx__pool_free(p);
        errno = ENOMEM;
        return NULL;
    }
    memset(p->workers, 0, bytes);
    size_t capacity = d.deque_capacity ? d.deque_capacity : 256;
    for (int i = 0; i < nslots; i++) {
        parx__worker *w = &p->workers[i];
        int rc = parx__deque_init_with(&w->deque, capacity, d.alloc, d.free, d.alloc_user);
        if (rc != 0) {
            p->nslots = i; /* free the deques made so far */
            parx__pool_free(p);
            errno = -rc;
            return NULL;
        }
        w->pool = p;
        w->index = i;
        w->rng = parx__mix64((uint64_t)i + 1) | 1;
        atomic_init(&w->state, PARX__AWAKE);
        atomic_init(&w->claimed, 0);
        w->is_slot = i >= n;
    }
    p->nworkers = n;
    p->nslots = nslots;
    for (int i = 0; i < n; i++) {
        int rc = pthread_create(&p->workers[i].thread, NULL, parx__worker_main, &p->workers[i]);
        if (rc != 0) {
            parx__stop(p, i);
            parx__pool_free(p);
            errno = rc;
            return NULL;
        }
    }
    return p;
}

PARX_API void parx_pool_destroy(parx_pool *p)
{
    if (!p) return;
    PARX_ASSERT(!parx__self_in(p) && "parx_pool_destroy: not from a task of the same pool");
    parx__stop(p, p->nworkers);
    parx__pool_free(p);
}

PARX_API int parx_pool_size(const parx_pool *p)
{
    return p ? p->nworkers : -EINVAL;
}

PARX_API int parx_pool_stats(const parx_pool *p, parx_worker_stats *out, int n)
{
    if (!p || n < 0 || (n > 0 && !out)) return -EINVAL;
    for (int i = 0; i < n && i < p->nworkers; i++) {
        parx__worker *w = &p->workers[i];
        /* relaxed: counters are statistics, documented as a snapshot */
        out[i].tasks = atomic_load_explicit(&w->st_tasks, memory_order_relaxed);
        out[i].steals = atomic_load_explicit(&w->st_steals, memory_order_relaxed);
        out[i].steal_attempts = atomic_load_explicit(&w->st_attempts, memory_order_relaxed);
        out[i].sleeps = atomic_load_explicit(&w->st_sleeps, memory_order_relaxed);
        out[i].busy_ns = atomic_load_explicit(&w->st_busy_ns, memory_order_relaxed);
        out[i].idle_ns = atomic_load_explicit(&w->st_idle_ns, memory_order_relaxed);
    }
    return p->nworkers;
}

PARX_API int parx_worker_index(const parx_pool *p)
{
    parx__worker *w = parx__tls_worker;
    if (!w || (p && w->pool != p) || w->is_slot) return -1; /* slots are not workers */
    return w->index;
}

/* -------------------------------------------------------------------------- */
/* >>group: fork-join                                                         */
/* -------------------------------------------------------------------------- */
/* A group counts spawns in `spawned` and completions in two counters: the
   owner's own (`done_local`, a plain field, since most tasks are popped back
   and run by the thread that spawned them) and everyone else's
   (`done_remote`, an atomic whose bit 0 says "the owner sleeps, wake it").
   The group is complete when done_local + (done_remote >> 1) == spawned;
   only the owner evaluates that. */

static void parx__group_init_worker(parx_group *g, parx__worker *w)
{
    g->pool = w->pool;
    g->owner = w;
    g->spawned = 0;
    g->done_local = 0;
    atomic_init(&g->done_remote, 0);
    g->error = 0;
    g->borrowed = false;
}

PARX_API void parx_group_init(parx_group *g, parx_pool *p)
{
    if (!g) return;
    parx__worker *w = parx__tls_worker;
    if (!p) p = w ? w->pool : parx__tls_helping;
    g->pool = p;
    g->owner = (w && w->pool == p) ? w : NULL;
    g->spawned = 0;
    g->done_local = 0;
    atomic_init(&g->done_remote, 0);
    g->error = 0;
    g->borrowed = false;
}

PARX_API int parx_spawn(parx_group *g, parx_fn fn, void *arg)
{
    if (!g) return -EINVAL;
    if (!fn || !g->pool) {
        int rc = fn ? PARX_E_NOT_WORKER : -EINVAL;
        if (!g->error) g->error = rc; /* also reported by parx_wait */
        return rc;
    }
    parx__worker *w = (parx__worker *)g->owner;
    /* An outside group borrows a slot until parx_wait (see >>help), but only
       while none of its tasks is outstanding: a completer reads g->owner,
       and the acquire load in parx__group_done orders every earlier
       completer's read before this write. */
    if (!w && parx__group_done(g, memory_order_acquire) && (w = parx__slot_claim(g->pool)) != NULL) {
        g->owner = w;
        g->borrowed = true;
    }
    if (w) {
        parx__task *t = parx__task_get(w);
        if (t) {
            t->fn = fn;
            t->arg = arg;
            t->group = g;
            int64_t before;
            if (parx__deque_put(&w->deque, t, &before) == 0) {
                g->spawned++;
                parx__notify(w->pool, before == 0);
                return 0;
            }
            parx__task_put(w, t);
        }
    } else if (parx__spawn_outside(g->pool, g, fn, arg) == 0) {
        return 0;
    }
    /* No memory for the task: run it here and now. Nothing is lost but
       parallelism, so the spawn still succeeds. */
    parx__log(PARX_LOG_WARN, "parx_spawn: out of memory; running the task on the caller");
    if (parx__self_in(g->pool)) fn(arg);
    else parx__run_here(g->pool, fn, arg);
    return 0;
}

PARX__HOT void parx__wait_worker(parx__worker *w, parx_group *g)
{
    while (!parx__group_done(g, memory_order_acquire)) {
        parx__task *t = (parx__task *)parx__deque_take(&w->deque);
        if (!t) t = parx__find_work(w, false);
        if (!t) t = parx__idle(w, g);
        if (t) parx__run(w, t);
    }
}

/* Wait from a thread that is not one of the pool's workers. With `help`, it
   first runs its own group's tasks that no worker has taken yet (newest
   first). parx_for and parx_reduce do not help, so a loop uses exactly the
   pool's threads. */
static void parx__wait_outside(parx_group *g, bool help)
{
    parx_pool *p = g->pool;
    parx__task t;
    while (help && !parx__group_done(g, memory_order_acquire) && parx__queue_take(p, g, &t))
        parx__run_outside(p, &t);
    for (unsigned i = 0; i < p->spin_rounds; i++) {
        if (parx__group_done(g, memory_order_acquire)) return;
        parx__cpu_relax();
    }
    pthread_mutex_lock(&p->wait_mu);
    /* seq_cst: ask completers to signal; pairs with their fetch_add. Under
       wait_mu, so a completer's broadcast cannot slip in before we wait. */
    atomic_fetch_or_explicit(&g->done_remote, 1, memory_order_seq_cst);
    while (!parx__group_done(g, memory_order_acquire)) pthread_cond_wait(&p->wait_cv, &p->wait_mu);
    pthread_mutex_unlock(&p->wait_mu);
}

static void parx__wait(parx_group *g, bool help)
{
    parx__worker *o = (parx__worker *)g->owner;
    if (g->pool && !parx__group_done(g, memory_order_acquire)) {
        PARX_ASSERT((g->borrowed ? !parx__self_in(g->pool) : o == parx__self_in(g->pool)) &&
                    "parx_wait: only the thread that initialised the group may wait on it");
        if (g->borrowed) {
            /* wait as the slot: run our own tasks first, steal, then sleep */
            parx__worker *prev = parx__tls_worker;
            parx__tls_worker = o;
            parx__wait_worker(o, g);
            parx__tls_worker = prev;
        } else if (o) {
            parx__wait_worker(o, g);
        } else {
            parx__wait_outside(g, help);
        }
    }
    if (g->borrowed) {
        g->owner = NULL;
        g->borrowed = false;
        parx__slot_release(o);
    }
    /* relaxed: every task has finished, so no other thread touches g any
       more; clear the waiter bit so the group can be reused */
    size_t v = atomic_load_explicit(&g->done_remote, memory_order_relaxed);
    if (v & 1) atomic_store_explicit(&g->done_remote, v & ~(size_t)1, memory_order_relaxed);
}

PARX_API int parx_wait(parx_group *g)
{
    if (!g) return -EINVAL;
    parx__wait(g, true);
    int err = g->error;
    g->error = 0;
    return err;
}

/* -------------------------------------------------------------------------- */
/* >>for: lazy binary splitting                                               */
/* -------------------------------------------------------------------------- */
/* A worker runs its range `grain` iterations at a time. Before each piece it
   glances at its own deque: if it is empty, nobody has anything to steal from
   it, so it splits off the upper half of what is left as a task and carries
   on with the lower half. Splits therefore happen only when and where
   thieves are hungry (Tzannes et al., "Lazy Binary Splitting", PPoPP 2010),
   which balances uneven iterations with few tasks and no static schedule. */

typedef struct parx__for_job {
    parx_range_fn fn;
    void *ctx;
    size_t grain;
} parx__for_job;

typedef struct parx__for_part {
    const parx__for_job *job;
    size_t lo, hi;
} parx__for_part;

static void parx__for_range(const parx__for_job *job, size_t lo, size_t hi, parx__worker *w);

static void parx__for_task(void *arg)
{
    const parx__for_part *part = (const parx__for_part *)arg;
    parx__for_range(part->job, part->lo, part->hi, parx__tls_worker);
}

/* The whole range, `grain` at a time, on a thread that is not a worker. */
static void parx__for_whole(void *arg)
{
    const parx__for_part *part = (const parx__for_part *)arg;
    const parx__for_job *job = part->job;
    for (size_t lo = part->lo; lo < part->hi;) {
        size_t e = part->hi - lo > job->grain ? lo + job->grain : part->hi;
        job->fn(job->ctx, lo, e);
        lo = e;
    }
}

static void parx__for_range(const parx__for_job *job, size_t lo, size_t hi, parx__worker *w)
{
    while (lo < hi) {
        if (hi - lo > job->grain && parx__deque_looks_empty(w)) {
            parx__for_part right = {job, lo + (hi - lo) / 2, hi};
            parx_group g;
            parx__group_init_worker(&g, w);
            parx_spawn(&g, parx__for_task, &right);
            parx__for_range(job, lo, right.lo, w);
            parx_wait(&g);
            return;
        }
        size_t e = hi - lo > job->grain ? lo + job->grain : hi;
        job->fn(job->ctx, lo, e);
        lo = e;
    }
}

PARX_API int parx_for(parx_pool *p, size_t begin, size_t end, size_t grain,
                      parx_range_fn fn, void *ctx)
{
    if (!p || !fn || begin > end) return -EINVAL;
    size_t n = end - begin;
    if (n == 0) return 0;
    if (grain == 0) {
        grain = n / (256 * (size_t)p->nworkers);
        if (grain == 0) grain = 1;
    }
    parx__for_job job = {fn, ctx, grain};
    parx__worker *w = parx__self_in(p);
    if (w) {
        parx__for_range(&job, begin, end, w);
        return 0;
    }
    /* From outside the pool: hand the whole range to the workers through the
       shared queue (no slot: the caller does not help) and sleep. One piece,
       or no memory for a task: run it here. */
    parx__for_part all = {&job, begin, end};
    parx_group g;
    parx_group_init(&g, p);
    if (n > grain && parx__spawn_outside(p, &g, parx__for_task, &all) == 0)
        parx__wait(&g, false);
    else
        parx__run_here(p, parx__for_whole, &all);
    return 0;
}

/* -------------------------------------------------------------------------- */
/* >>reduce: a fixed combination tree                                         */
/* -------------------------------------------------------------------------- */
/* Leaves are numbered 0..nleaves-1; node [lo, hi) combines [lo, mid) and
   [mid, hi) with mid = lo + (hi - lo) / 2. The right half is spawned when
   the worker's deque is empty (as in parx_for) and computed inline
   otherwise; either way the same combine calls happen on the same values,
   so the result does not depend on the schedule. */

#define PARX__SMALL_ACC 256

typedef union parx__acc_buf {
    max_align_t align;
    unsigned char bytes[PARX__SMALL_ACC];
} parx__acc_buf;

typedef struct parx__reduce_job {
    parx_pool *pool;
    parx_reduce_fn leaf;
    parx_combine_fn combine;
    void *ctx;
    const void *identity;
    size_t acc_size, begin, end, grain;
    _Atomic int error; /* first failure; later combines are skipped */
} parx__reduce_job;

typedef struct parx__reduce_part {
    parx__reduce_job *job;
    size_t lo, hi;
    void *acc;
} parx__reduce_part;

static void parx__reduce_tree(parx__reduce_job *job, size_t lo, size_t hi, void *acc);

static void parx__reduce_task(void *arg)
{
    parx__reduce_part *part = (parx__reduce_part *)arg;
    parx__reduce_tree(part->job, part->lo, part->hi, part->acc);
}

static void parx__reduce_fail(parx__reduce_job *job, int code)
{
    int expected = 0;
    /* relaxed: the flag only stops further work; parx_wait's acquire makes
       the final value visible to the caller */
    atomic_compare_exchange_strong_explicit(&job->error, &expected, code, memory_order_relaxed,
                                            memory_order_relaxed);
}

static void parx__reduce_tree(parx__reduce_job *job, size_t lo, size_t hi, void *acc)
{
    if (hi - lo == 1) {
        size_t b = job->begin + lo * job->grain;
        size_t e = job->end - b > job->grain ? b + job->grain : job->end;
        memcpy(acc, job->identity, job->acc_size);
        job->leaf(job->ctx, b, e, acc);
        return;
    }
    size_t mid = lo + (hi - lo) / 2;
    parx__acc_buf small;
    void *right = small.bytes;
    if (job->acc_size > sizeof small) {
        right = parx__alloc(job->pool->alloc_fn, job->pool->alloc_user, job->acc_size);
        if (!right) {
            parx__reduce_fail(job, -ENOMEM);
            return;
        }
    }
    parx__worker *w = parx__self_in(job->pool);
    if (w && parx__deque_looks_empty(w)) {
        parx__reduce_part part = {job, mid, hi, right};
        parx_group g;
        parx__group_init_worker(&g, w);
        parx_spawn(&g, parx__reduce_task, &part);
        parx__reduce_tree(job, lo, mid, acc);
        parx_wait(&g);
    } else {
        parx__reduce_tree(job, lo, mid, acc);
        parx__reduce_tree(job, mid, hi, right);
    }
    /* relaxed: see parx__reduce_fail */
    if (!atomic_load_explicit(&job->error, memory_order_relaxed)) job->combine(job->ctx, acc, right);
    if (right != (void *)small.bytes) parx__free(job->pool->free_fn, job->pool->alloc_user, right);
}

PARX_API int parx_reduce(parx_pool *p, size_t begin, size_t end, size_t grain,
                         size_t acc_size, const void *identity,
                         parx_reduce_fn leaf, parx_combine_fn combine,
                         void *ctx, void *result)
{
    if (!p || !identity || !leaf || !combine || !result || acc_size == 0 || begin > end)
        return -EINVAL;
    size_t n = end - begin;
    if (n == 0) {
        memcpy(result, identity, acc_size);
        return 0;
    }
    if (grain == 0) { /* a function of n alone, so results stay reproducible */
        grain = n / 2048 + (n % 2048 != 0);
        if (grain < 64) grain = 64;
    }
    parx__reduce_job job = {p, leaf, combine, ctx, identity, acc_size, begin, end, grain, 0};
    size_t leaves = (n - 1) / grain + 1;

    parx__acc_buf small;
    void *acc = small.bytes;
    if (acc_size > sizeof small) {
        acc = parx__alloc(p->alloc_fn, p->alloc_user, acc_size);
        if (!acc) return -ENOMEM;
    }
    parx__reduce_part all = {&job, 0, leaves, acc};
    if (parx__self_in(p)) {
        parx__reduce_tree(&job, 0, leaves, acc);
    } else {
        /* From outside the pool: hand the whole tree to the workers through
           the shared queue (no slot: the caller does not help) and sleep. One
           leaf, or no memory for a task: run it here. */
        parx_group g;
        parx_group_init(&g, p);
        if (leaves > 1 && parx__spawn_outside(p, &g, parx__reduce_task, &all) == 0)
            parx__wait(&g, false);
        else
            parx__run_here(p, parx__reduce_task, &all);
    }
    /* relaxed: the tree has finished (waited on, or ran on this thread) */
    int err = atomic_load_explicit(&job.error, memory_order_relaxed);
    if (!err) memcpy(result, acc, acc_size);
    if (acc != (void *)small.bytes) parx__free(p->free_fn, p->alloc_user, acc);
    return err;
}

#endif /* PARX_IMPLEMENTATION_INCLUDED */
#endif /* PARX_IMPLEMENTATION */

/*
    MIT License

    Copyright (c) 2026 the parx authors

    Permission is hereby granted, free of charge, to any person obtaining a copy
    of this software and associated documentation files (the "Software"), to deal
    in the Software without restriction, including without limitation the rights
    to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
    copies of the Software, and to permit persons to whom the Software is
    furnished to do so, subject to the following conditions:

    The above copyright notice and this permission notice shall be included in
    all copies or substantial portions of the Software.

    THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
    IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
    FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
    AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
    LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
    OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
    SOFTWARE.
*/
