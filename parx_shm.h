/* SPDX-License-Identifier: MIT */
/*
    parx_shm.h -- shared-memory arenas for several processes.        version 0.1.0

    An arena is one shared-memory segment that any number of processes map
    and allocate from at once, with no copies and no serialisation: a block
    allocated by one process is addressed by an offset that means the same in
    every process (and, where the arena could be mapped at the same address
    everywhere, by the same plain pointer). Segments are anonymous (memfd:
    shared by fork or by passing the descriptor) or named (POSIX shm, opened
    by name), clean up after themselves, and a process killed in the middle
    of an allocation never wedges the others.

    Do this
    =======
    In exactly ONE C file:

        #define _GNU_SOURCE
        #define PARX_SHM_IMPLEMENTATION     // or PARX_IMPLEMENTATION: every parx header
        #include "parx_shm.h"

    Everywhere else just `#include "parx_shm.h"`. Link with `-pthread`.

    Configuration macros
    ====================
    | macro                   | default   | effect                                       |
    |-------------------------|-----------|----------------------------------------------|
    | PARX_SHM_IMPLEMENTATION | undefined | emit this header's definitions here          |
    | PARX_IMPLEMENTATION     | undefined | emit every parx header's definitions here    |
    | PARX_STATIC             | undefined | make every parx function `static`            |
    | PARX_ASSERT(c)          | assert(c) | check for misuse that is cheap to detect     |

    A tour
    ======
    1. Create:   parx_arena *a = parx_arena_create(&(parx_arena_desc){.size = 1 << 30}, &err);
    2. Share:    fork() (children inherit it), or send parx_arena_fd(a) over a UNIX
                 socket (parx_arena_send / parx_arena_recv), or create it with
                 .named = true and parx_arena_open(parx_arena_name(a), &err) elsewhere.
    3. Allocate: double *x = parx_arena_alloc(a, n * sizeof *x, 0);
    4. Address:  uint64_t off = parx_arena_offset(a, x);   // pass `off` to any process
                 double *y = parx_arena_ptr(b, off);        // ... which maps it back
    5. Free and close: parx_arena_free(a, x); parx_arena_close(a);
    examples/05_shared_arena.c shows one 256 MiB problem read by forked workers
    with one copy in memory.

    >>layout
    The segment starts with a header page (magic, layout version, sizes, the
    creator's mapping address, free-list heads, statistics, the lock of the
    page allocator, and the table of attached processes), then a page map (one
    32-bit entry per data page), then the data pages. Attaching checks the
    magic, the version and that the file is as large as the header says, so a
    foreign or truncated file is refused with PARX_E_NOT_ARENA,
    PARX_E_ARENA_VERSION or PARX_E_TRUNCATED rather than crashing.

    >>allocator
    Small blocks (up to 16 KiB, in 44 size classes spaced a quarter-power of
    two apart) come from lock-free free lists: each class has one list per
    shard, a Treiber stack whose head is a 64-bit word holding an offset and a
    change counter (the counter defeats ABA), so push and pop are one CAS each.
    Each attached process works on its own shard, so two processes
    allocating at once do not fight over one cache line; an empty shard takes
    blocks from the others before carving a fresh 64 KiB span. Larger blocks
    are whole pages found in the page map under a process-shared robust mutex:
    if its holder dies, the next process to lock it is told so (EOWNERDEAD),
    marks it consistent and carries on, because the page map is valid after
    every single store (an interrupted update can only leave pages marked in
    use). So a process killed at any instant costs at most the block or span
    it was taking or giving back, never the arena.

    >>lifetime
    An anonymous arena lives while any process maps it or holds its fd. A
    named arena keeps a table of the processes attached to it; parx_arena_close
    removes the caller and unlinks the name when no live process is left
    (entries of processes that died without closing are cleared on the way),
    and parx_arena_unlink removes the name at once. Segments are created mode
    0600 with O_EXCL; default names carry 128 random bits. Every descriptor is
    O_CLOEXEC. An anonymous segment is sealed against shrinking and growing,
    so no process can make another fault on a truncated mapping.
*/
#ifndef PARX_SHM_H_INCLUDED
#define PARX_SHM_H_INCLUDED

/* ===== The whole public API on one screen =====================================

   parx_arena *parx_arena_create(const parx_arena_desc *desc, int *err);
   parx_arena *parx_arena_open(const char *name, int *err);
   parx_arena *parx_arena_from_fd(int fd, int *err);
   void        parx_arena_close(parx_arena *a);
   int         parx_arena_unlink(parx_arena *a);

   void    *parx_arena_alloc(parx_arena *a, size_t size, size_t align);
   int      parx_arena_free(parx_arena *a, void *ptr);
   uint64_t parx_arena_offset(const parx_arena *a, const void *ptr);
   void    *parx_arena_ptr(const parx_arena *a, uint64_t offset);

   int         parx_arena_fd(const parx_arena *a);
   const char *parx_arena_name(const parx_arena *a);
   void       *parx_arena_base(const parx_arena *a);
   size_t      parx_arena_size(const parx_arena *a);
   bool        parx_arena_same_address(const parx_arena *a);
   int         parx_arena_stats(const parx_arena *a, parx_arena_usage *out);

   int         parx_arena_send(int sock, const parx_arena *a);
   parx_arena *parx_arena_recv(int sock, int *err);
   ========================================================================== */

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifndef PARX_API
#  ifdef PARX_STATIC
#    define PARX_API static __attribute__((unused))
#  else
#    define PARX_API extern
#  endif
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

/* ===== Arenas ============================================================= */

typedef struct parx_arena parx_arena;

typedef struct parx_arena_desc {
    size_t size;         /* bytes in the segment (required); rounded up to whole pages. The
                            header and page map take about 0.1% + 8 KiB of it */
    bool named;          /* false: anonymous (memfd); true: a POSIX shm object others can open */
    const char *name;    /* named only: "/name" to create (fails with -EEXIST if taken);
                            NULL: an unguessable "/parx-<32 hex digits>" */
    bool prefault;       /* touch every page now (MAP_POPULATE), not on first use */
    bool huge_pages;     /* back with huge pages if the system has them reserved, else ask
                            for transparent huge pages; silently plain pages otherwise */
    bool reserve;        /* allocate the backing memory now: a full /dev/shm or memory limit
                            fails here with -ENOSPC, never later with SIGBUS on first touch */
    size_t max_size;     /* refuse larger sizes with -EFBIG; 0: 1 TiB */
} parx_arena_desc;

/* parx_arena_create: make a new arena and map it.
   Returns the arena, or NULL with the reason in *err (err may be NULL):
   -EINVAL (desc NULL, size 0, a name without a leading '/' or with another
   '/', or longer than 250 bytes), -EFBIG (size above max_size), -EEXIST (the
   name is taken), -ENOSPC (/dev/shm has less room than size, or .reserve
   could not get it), -ENOMEM, -EMFILE, or the errno of a failed system call.
   Nothing is left behind on failure.
   Thread safety: any thread. */
PARX_API parx_arena *parx_arena_create(const parx_arena_desc *desc, int *err);

/* parx_arena_open: attach to the named arena `name` ("/..."), mapping it at
   its creator's address when that range is free here.
   Returns the arena or NULL with *err: -EINVAL (bad name), -ENOENT, -EACCES,
   PARX_E_NOT_ARENA, PARX_E_ARENA_VERSION, PARX_E_TRUNCATED, -EUSERS (its table
   of attached processes is full: 128), or a failed system call's errno.
   Thread safety: any thread. */
PARX_API parx_arena *parx_arena_open(const char *name, int *err);

/* parx_arena_from_fd: attach to the arena behind `fd` (from parx_arena_fd in
   a parent before fork, or from parx_arena_recv). The arena keeps its own
   duplicate of fd; the caller still owns `fd`.
   Returns the arena or NULL with *err: -EBADF, PARX_E_NOT_ARENA,
   PARX_E_ARENA_VERSION, PARX_E_TRUNCATED, -EUSERS, or a system call's errno.
   Thread safety: any thread. */
PARX_API parx_arena *parx_arena_from_fd(int fd, int *err);

/* parx_arena_close: unmap the arena and free this process's handle. For a
   named arena, the name is unlinked when no live process remains attached.
   Blocks stay allocated (other processes may still use them). NULL is
   ignored.
   Thread safety: one caller, once no other thread of this process uses `a`.
   In a forked child, close the handle the child inherited (or just exit). */
PARX_API void parx_arena_close(parx_arena *a);

/* parx_arena_unlink: remove a named arena's name now; processes attached
   keep using it, nobody new can open it. Returns 0, -EINVAL (anonymous
   arena or NULL), or the errno of shm_unlink (-ENOENT if already gone).
   Thread safety: any thread. */
PARX_API int parx_arena_unlink(parx_arena *a);

/* parx_arena_alloc: `size` bytes aligned to `align` (0: 16; otherwise a power
   of two up to the arena size) from the arena.
   Returns the block, or NULL with errno: ENOMEM (no room; the arena stays
   usable), EINVAL (a NULL arena, size 0, or a bad alignment).
   Thread safety: any thread of any attached process, concurrently. */
PARX_API void *parx_arena_alloc(parx_arena *a, size_t size, size_t align);

/* parx_arena_free: give back a block from parx_arena_alloc of this arena
   (allocated by any process). NULL is a no-op returning 0.
   Returns 0, or -EINVAL if ptr is not the start of a block of this arena
   (detected: outside the arena, inside the header, inside free pages, not at
   a block boundary; not detected: a block freed twice).
   Thread safety: any thread of any attached process, concurrently. */
PARX_API int parx_arena_free(parx_arena *a, void *ptr);

#define PARX_ARENA_NO_OFFSET UINT64_MAX

/* parx_arena_offset: ptr's offset from the start of the segment, the same in
   every process; PARX_ARENA_NO_OFFSET if ptr is not inside this mapping.
   Thread safety: any thread. */
PARX_API uint64_t parx_arena_offset(const parx_arena *a, const void *ptr);

/* parx_arena_ptr: this process's pointer for `offset`; NULL if the offset is
   outside the segment.
   Thread safety: any thread. */
PARX_API void *parx_arena_ptr(const parx_arena *a, uint64_t offset);

/* Accessors. parx_arena_fd: the segment's descriptor (O_CLOEXEC; owned by
   the arena), or -EINVAL. parx_arena_name: "/..." for a named arena, NULL
   for an anonymous one. parx_arena_base / parx_arena_size: the mapping.
   parx_arena_same_address: whether the segment sits at the address its
   creator mapped it at, so that plain pointers into it are valid in both.
   Thread safety: any thread. */
PARX_API int parx_arena_fd(const parx_arena *a);
PARX_API const char *parx_arena_name(const parx_arena *a);
PARX_API void *parx_arena_base(const parx_arena *a);
PARX_API size_t parx_arena_size(const parx_arena *a);
PARX_API bool parx_arena_same_address(const parx_arena *a);

typedef struct parx_arena_usage {
    uint64_t size;        /* bytes in the segment */
    uint64_t capacity;    /* bytes of data pages (size less header and page map) */
    uint64_t used;        /* bytes in live blocks, as rounded up to their size class or pages */
    uint64_t reserved;    /* bytes of data pages handed out (spans of small blocks, large blocks) */
    uint64_t high_water;  /* the most `reserved` has ever been */
    uint64_t free;        /* capacity - reserved: pages any size can still take */
    uint32_t processes;   /* named arenas: processes attached now (0 for anonymous ones) */
} parx_arena_usage;

/* parx_arena_stats: a snapshot, exact when nothing allocates meanwhile.
   Returns 0 or -EINVAL (a or out NULL).
   Thread safety: any thread. */
PARX_API int parx_arena_stats(const parx_arena *a, parx_arena_usage *out);

/* parx_arena_send: send the arena's descriptor over the connected UNIX
   socket `sock` (SCM_RIGHTS). Returns 0, -EINVAL, or a sendmsg errno.
   parx_arena_recv: receive one and attach to it (as parx_arena_from_fd);
   the received descriptor is closed once attached. NULL with *err:
   -EBADMSG (the message held no descriptor), -ECONNRESET (the peer closed),
   or as parx_arena_from_fd.
   Thread safety: any thread; one sender and one receiver per socket at a time. */
PARX_API int parx_arena_send(int sock, const parx_arena *a);
PARX_API parx_arena *parx_arena_recv(int sock, int *err);

#ifdef __cplusplus
} /* extern "C" */
#endif
#endif /* PARX_SHM_H_INCLUDED */
