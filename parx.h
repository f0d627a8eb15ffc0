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
    | PARX_SPIN_ROUNDS        | 2000          | idle polls before a worker sleeps             |
    | PARX_DEQUE_MIN_CAPACITY | 64            | smallest deque array (slots)                  |

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
    A worker that finds no work polls for PARX_SPIN_ROUNDS rounds (a few tens
    of microseconds), then sleeps on a futex; an idle pool uses no CPU. A push
    into a deque that its owner saw empty is published with a seq_cst store
    and followed by a seq_cst read of the sleeper count, and a worker going to
    sleep announces itself with a seq_cst RMW before its last look for work,
    so one of the two always sees the other and no wake-up is lost. Pushes onto
    a deque that already holds work only peek at the sleeper count; a wake-up
    missed there can only cost parallelism for a moment, never progress: an
    owner always runs what is left in its own deque, and a woken worker that
    finds plenty of work wakes another.

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
#    define PARX_API static
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

/* ===== Errors and logging ================================================= */

/* parx's own error codes, beside the negative errno values it returns. They
   sit far below any errno value so the two never collide. */
enum {
    PARX_E_BASE = -10000,
    PARX_E_NOT_WORKER = -10001 /* needs a pool, but none was given and the caller is no worker */
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
   logging off, the default). parx logs only what it recovered from on its own
   (for example a spawn that ran inline because memory ran out).
   Thread safety: call it before creating pools; it is not synchronised with
   threads that may be logging.
   Callback safety: the callback may be called from any parx thread, never
   while parx holds a lock; it must not call back into parx. */
PARX_API void parx_set_log(parx_log_fn fn, void *user);

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
   or only one of alloc/free given), ENOMEM, EAGAIN (the system refused a
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
    uint64_t steal_attempts;  /* steal tries, successful or not */
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
} parx_group;

/* parx_group_init: prepare `g` for spawning into pool `p`. p NULL means the
   pool whose worker is calling (the usual choice inside a task); called with
   NULL outside any pool, every spawn into `g` fails with PARX_E_NOT_WORKER.
   Thread safety: any thread; the calling thread becomes the group's owner. */
PARX_API void parx_group_init(parx_group *g, parx_pool *p);

/* parx_spawn: queue fn(arg) to run on the pool, possibly on this thread.
   From a worker, the task goes on that worker's deque (no lock, no
   allocation in steady state); from another thread, it goes on the pool's
   shared queue. If memory for the task cannot be had, fn(arg) runs at once on
   the caller and the spawn still succeeds: nothing is lost.
   Returns 0, -EINVAL (g or fn NULL), PARX_E_NOT_WORKER (the group has no pool).
   Thread safety: the group's owner thread only.
   Callback safety: fn runs on any worker, or on the owner inside parx_wait;
   it may spawn, wait on its own groups, and use parx_for/parx_reduce. */
PARX_API int parx_spawn(parx_group *g, parx_fn fn, void *arg);

/* parx_wait: return when every task spawned into `g` has finished. A worker
   that waits runs other tasks meanwhile (its own first, then stolen ones); a
   thread outside the pool runs the tasks it queued itself that no worker has
   picked up yet, then sleeps. The group may be reused afterwards.
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
   0 picks max(1, n / (64 * threads)).
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
