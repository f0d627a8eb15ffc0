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

    Everywhere else just `#include "parx_shm.h"`. Link with `-pthread` (and
    `-lrt` on C libraries older than glibc 2.34, where shm_open lives).

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
    The segment starts with a header (two pages: magic, layout version,
    sizes, the creator's mapping address, free-list heads, statistics, the
    lock of the page allocator, and the table of attached processes), then a
    page map (one 32-bit entry per data page), then the data pages.
    Attaching checks the magic, the version (which also says the pointer
    width and mutex size of the build that made it: a 32-bit and a 64-bit
    process cannot share an arena) and that the file is as large as the
    header says, so a foreign or truncated file is refused with
    PARX_E_NOT_ARENA, PARX_E_ARENA_VERSION or PARX_E_TRUNCATED rather than
    crashing. The geometry checked is then kept in the handle, and read
    from there. The rest of the header -- free lists, counters, the page
    lock, the table of processes -- is every attached process's to change,
    and is trusted: a process that scribbles on it can make allocations
    fail or hand out a block twice (and, through the page lock, glibc abort
    or wait for ever), but a free list that leads into the header or past
    the end only ends there: no block handed out lies outside the data
    pages, and parx reads and writes nothing outside the mapping
    (tests/shm_scribble.c).

    >>allocator
    Small blocks (up to 16 KiB, in 36 size classes: steps of 16 bytes up to
    128, then four per power of two) come from lock-free free lists: each class has one list per
    shard, a Treiber stack whose head is a 64-bit word holding an offset and a
    change counter (the counter defeats ABA), so push and pop are one CAS each.
    Attached processes take the 16 shards in turn (from the 17th on, they
    share), so two processes allocating at once do not fight over one cache
    line. An empty shard
    first adopts up to a span's worth of another shard's free list (one CAS:
    memory one process frees serves another that allocates), then carves a
    fresh 64 KiB span. Larger blocks
    are whole pages found in the page map under a process-shared robust mutex:
    if its holder dies, the next process to lock it is told so (EOWNERDEAD),
    marks it consistent and carries on, because the page map is valid after
    every single store (an interrupted update can only leave pages marked in
    use). So a process killed at any instant costs at most the block or span
    (64 KiB of pages, or of blocks adopted from another shard) it was taking
    or giving back, never the arena.

    Spans stay with their size class once carved (as in slab allocators):
    freed small blocks serve later small allocations of the same class at
    once, but are not merged back into pages for large blocks. An arena that
    was filled with small blocks and emptied again can still serve small
    blocks of those classes, and large blocks only from pages never carved.
    Size an arena for its peak of small blocks plus its large ones.

    >>lifetime
    An anonymous arena lives while any process maps it or holds its fd. A named
    arena keeps a table of the processes that attached to it (create, open,
    from_fd, recv), each recorded by pid and start time; parx_arena_close
    removes the caller and unlinks the name when no live process is left in the
    table. Processes that died without closing (zombies included) are cleared on
    the way; a forked child using a handle it inherited is not in the table (it
    shares its parent's entry), so a child that must keep the name alive
    attaches itself. Liveness is read from /proc: where it is not mounted,
    entries count as alive while their pid exists; a process in another pid
    namespace (a container sharing /dev/shm) is recorded by a pid this process
    cannot see, so processes sharing a named arena must share a pid namespace,
    or the last closer in one removes the name while others remain attached
    (their mappings stay). parx_arena_unlink removes the name at once (or leaves
    it to a live process removing it already). Exactly one closer or unlinker
    removes the name, and only while it still names this segment; one killed on
    the way leaves the work to the next closer or unlinker, and so does one that
    cannot see the name (its /dev/shm another: a mount namespace of its own, a
    chroot) or may not remove it (another user's, /dev/shm being sticky): it
    does not take the removal on, so a last closer beside it that can still
    removes the name. So the name goes when a process closes it: where the
    last process attached is killed rather than closing (or cannot remove the
    name), the name stays in /dev/shm until a process opens and closes it, or
    parx_arena_unlink (the creator can unlink it as soon as every peer has
    attached; named arenas cannot be watched from outside). A process that
    execs is the same process to the table, attached until the new program
    ends though it holds nothing of the arena: close before exec. An open
    that meets the last close, even one killed on the way, gets the arena
    with its name, or -ENOENT, never an arena whose name is gone. A named
    segment is made unnamed (O_TMPFILE in /dev/shm) and gets its name last,
    with a hard link that fails if the name exists (O_EXCL's effect), so the
    name never shows a half-made arena, and a creator killed on the way
    leaves none; where that
    cannot be done the name is made first, O_EXCL. Segments are mode 0600,
    whatever the umask; default names carry 128 random bits. Every descriptor is
    O_CLOEXEC and 3 or above: in a program started with its standard streams
    closed, a printf cannot write into an arena. An anonymous segment is sealed
    against shrinking and growing, so no process can make another fault on a
    truncated mapping, and one that is not sealed is refused. A named segment
    cannot be sealed: a process that can open it can also truncate it, and then
    every process mapping it faults (SIGBUS).
*/
#ifndef PARX_SHM_H_INCLUDED
#define PARX_SHM_H_INCLUDED

/* ===== The whole public API on one screen =====================================

   const char *parx_strerror(int code);                (>>common, in every parx header)
   void        parx_set_log(parx_log_fn fn, void *user);

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
#    define PARX_API static __attribute__((__unused__))
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
    PARX_E_NOT_WORKER = -10001,    /* needs a pool: none was given, the caller is no worker */
    PARX_E_NOT_ARENA = -10010,     /* the segment is not a parx arena (no magic) */
    PARX_E_ARENA_VERSION = -10011, /* a parx arena of a layout version this code does not know */
    PARX_E_TRUNCATED = -10012,     /* the segment is smaller than its header says */
    PARX_E_CRASHED = -10020,       /* a job's worker process was killed by a signal */
    PARX_E_EXITED = -10021,        /* a job's worker process exited during the job */
    PARX_E_UNKNOWN_FN = -10022,    /* a job function the worker cannot find (not in a module
                                      loaded at startup) */
    PARX_E_PROCS_BROKEN = -10023,  /* the process pool's fork server died */
    PARX_E_SPAWN = -10024,         /* spawn mode: the executable did not take over as a fork
                                      server (is the parx implementation linked into it?) */
    PARX_E_DEVICE_LOST = -10040,   /* the GPU was lost (reset, removed, hung): rerun on the CPU */
    PARX_E_BAD_SPIRV = -10041      /* not a well-formed SPIR-V compute module (parx checks it) */
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
   logging off, the default). parx logs what no return value says: what it
   recovered from or chose on its own (WARN, INFO: a fallback, a backend),
   a hazard it cannot avoid (WARN: a fork of a process that has threads), and
   an error no caller is there to get (ERROR: a process pool that broke, a
   parx_pool_destroy refused), and what it is asked to pass on (ERROR, WARN:
   the messages of the Vulkan validation layer, when it is on).
   Thread safety: call it before using parx from several threads; it is not
   synchronised with threads that may be logging.
   Callback safety: called from any thread, never while parx holds a lock; it
   must not call back into parx. */
PARX_API void parx_set_log(parx_log_fn fn, void *user);

#endif /* PARX_COMMON_DECLARED */

/* ===== Arenas ============================================================= */

typedef struct parx_arena parx_arena;

typedef struct parx_arena_desc {
    size_t size;         /* bytes in the segment (required); rounded up to whole pages, and
                            to 80 KiB at the least (one 64 KiB span, which small blocks
                            are carved from, beside the header and page map). The header
                            and page map take about 0.1% + 8 KiB of it */
    bool named;          /* false: anonymous (memfd), unless .name is set; true: a POSIX shm
                            object others can open */
    const char *name;    /* "/name" to create (fails with -EEXIST if taken), which makes the
                            arena named; NULL: anonymous, or with .named an unguessable
                            "/parx-<32 hex digits>" */
    bool prefault;       /* touch every page now (MAP_POPULATE), not on first use */
    bool huge_pages;     /* ask for transparent huge pages (madvise); plain pages where the
                            system does not give them (mappings are 2 MiB aligned for it) */
    bool reserve;        /* allocate the backing memory now: a full /dev/shm, or a size
                            over the memory available (MemAvailable, and what is left
                            under a memory cgroup's limit, v1 or v2), fails here with -ENOSPC,
                            never later with SIGBUS on first touch */
    size_t max_size;     /* refuse larger sizes with -EFBIG; 0: 1 TiB (2 GiB where size_t
                            has 32 bits), which is also the most any arena can be */
} parx_arena_desc;

/* parx_arena_create: make a new arena and map it.
   Returns the arena, or NULL with the reason in *err (err may be NULL):
   -EINVAL (desc NULL, size 0, a name without a leading '/' or with another
   '/', "/", "/." or "/..", or longer than 250 bytes), -EFBIG (size above
   max_size, or, rounded up to whole pages, above the file size limit
   RLIMIT_FSIZE, past which the kernel would kill the process with SIGXFSZ),
   -EEXIST (the name is taken), -ENOSPC (/dev/shm has less room than size,
   or .reserve could not get it), -ENOMEM, -EMFILE, or the errno of a
   failed system call.
   Nothing is left behind on failure.
   Thread safety: any thread. */
PARX_API parx_arena *parx_arena_create(const parx_arena_desc *desc, int *err);

/* parx_arena_open: attach to the named arena `name` ("/..."), mapping it at
   its creator's address when that range is free here.
   Returns the arena or NULL with *err: -EINVAL (bad name), -ENOENT (no
   such name, or its last user closed while this open attached), -EACCES,
   PARX_E_NOT_ARENA, PARX_E_ARENA_VERSION, PARX_E_TRUNCATED, -EUSERS (its table
   of attached processes is full: 128 handles, each open counting once), or a
   failed system call's errno. The name appears once its arena is complete
   (parx_arena_create makes it unnamed, with O_TMPFILE, and links the name
   last), so a process waiting for a peer's arena retries on -ENOENT. Only
   where /dev/shm cannot do that (no O_TMPFILE, or no /proc to link
   through) does the name come first: there open says PARX_E_NOT_ARENA
   while the arena is being made, and for good if its creator died then.
   Thread safety: any thread. */
PARX_API parx_arena *parx_arena_open(const char *name, int *err);

/* parx_arena_from_fd: attach to the arena behind `fd` (from parx_arena_fd in
   a parent before fork, or from parx_arena_recv). The arena keeps its own
   duplicate of fd; the caller still owns `fd`.
   Returns the arena or NULL with *err: -EBADF, PARX_E_NOT_ARENA (not an
   arena; or an anonymous one's copy, not sealed against shrinking as every
   anonymous arena is, which its holder could truncate under us),
   PARX_E_ARENA_VERSION, PARX_E_TRUNCATED, -EUSERS, or a system call's errno.
   Which kind an arena is, its header says, and whoever holds the file
   writes the header: a named arena cannot be sealed (>>lifetime), so the
   seal protects from the peer an anonymous arena came from only; take a
   descriptor that may be a named arena's only from a peer you trust.
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
   arena or NULL), or the errno of shm_unlink (-ENOENT if already gone, if
   the name now belongs to another segment, if this process cannot see it
   (its /dev/shm another), or if another live process is removing it at
   this moment: the name may still be there, and stays if that removal
   fails).
   Thread safety: any thread. */
PARX_API int parx_arena_unlink(parx_arena *a);

/* parx_arena_alloc: `size` bytes aligned to `align` (0: 16; otherwise a power
   of two up to 2 MiB) from the arena. Every process maps arenas at 2 MiB
   boundaries, so the alignment holds in every process.
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

/* parx_arena_ptr: this process's pointer for `offset`; NULL with errno
   EINVAL if the offset is outside the segment (or a is NULL).
   Thread safety: any thread. */
PARX_API void *parx_arena_ptr(const parx_arena *a, uint64_t offset);

/* Accessors. parx_arena_fd: the segment's descriptor (O_CLOEXEC; owned by
   the arena), or -EINVAL. parx_arena_name: "/..." for a named arena, NULL
   for an anonymous one (and for NULL, with errno EINVAL). parx_arena_base /
   parx_arena_size: the mapping (NULL with errno EINVAL, and 0, for NULL).
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
    uint32_t processes;   /* named arenas: entries in the table of attached processes (dead
                             ones count until a close, or an attach that finds the table
                             full, clears them); 0 for anonymous ones */
} parx_arena_usage;

/* parx_arena_stats: a snapshot, exact when nothing allocates meanwhile.
   Returns 0 or -EINVAL (a or out NULL).
   Thread safety: any thread. */
PARX_API int parx_arena_stats(const parx_arena *a, parx_arena_usage *out);

/* parx_arena_send: send the arena's descriptor over the connected UNIX
   socket `sock` (SCM_RIGHTS). Returns 0, -EINVAL, or a sendmsg errno.
   parx_arena_recv: receive one and attach to it (as parx_arena_from_fd);
   the received descriptor becomes the arena's own (closed with it, or at
   once on failure). NULL with *err:
   -EBADMSG (the message held no descriptor, or more than one),
   -ECONNRESET (the peer closed, or sent an empty message with no
   descriptor), a recvmsg errno (-EAGAIN: a non-blocking
   socket with nothing to read; -ENOTSOCK, -EBADF), or as
   parx_arena_from_fd.
   Thread safety: any thread; one sender and one receiver per socket at a time. */
PARX_API int parx_arena_send(int sock, const parx_arena *a);
PARX_API parx_arena *parx_arena_recv(int sock, int *err);

#ifdef __cplusplus
} /* extern "C" */
#endif
#endif /* PARX_SHM_H_INCLUDED */

/* ========================================================================== */
/* >>implementation                                                           */
/* ========================================================================== */
#if defined(PARX_IMPLEMENTATION) || defined(PARX_SHM_IMPLEMENTATION)
#ifndef PARX_SHM_IMPLEMENTATION_INCLUDED
#define PARX_SHM_IMPLEMENTATION_INCLUDED

#ifndef _GNU_SOURCE
#error "parx: the implementation needs _GNU_SOURCE (memfd_create, MAP_FIXED_NOREPLACE, robust mutexes): put '#define _GNU_SOURCE' before the first #include of this file, or compile the shipped parx.c"
#endif
/* defined, but after a header of the C library: glibc read the feature
   macros at its first header, so the GNU interfaces stay hidden */
#if defined(__GLIBC__) && !defined(__USE_GNU)
#error "parx: _GNU_SOURCE came after a system header: define it before every #include of the file (glibc reads it at its first header), or compile the shipped parx.c"
#endif
#if !defined(__linux__)
#error "parx: the implementation runs on Linux only (memfd, POSIX shm, robust mutexes)"
#endif
#ifdef __STDC_NO_ATOMICS__
#error "parx: the implementation needs C11 <stdatomic.h>"
#endif
#ifdef __cplusplus
#error "parx: compile the implementation as C11, not C++ (the declarations work from C++)"
#endif

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>

/* Files and arenas past 2 GiB need a 64-bit off_t: on a 32-bit target the
   implementation is compiled with -D_FILE_OFFSET_BITS=64 (parx.c defines
   it, meson passes it), or offsets and sizes would be cut to 32 bits (a
   write at 5 GiB landing at 1 GiB). */
_Static_assert(sizeof(off_t) == 8, "parx: on a 32-bit target compile the implementation with "
                                   "-D_FILE_OFFSET_BITS=64, or compile the shipped parx.c");
/* 64-bit atomics are shared between processes (the free lists, the table
   of processes): they must be the CPU's own instructions. libatomic's
   stand-ins (for i486, say) lock a table private to each process: atomic
   in none. */
#if !defined(__GCC_HAVE_SYNC_COMPARE_AND_SWAP_8)
#error "parx: 64-bit atomics are not lock-free here (32-bit x86: build for i586 or later)"
#endif

#ifndef PARX_ASSERT
#include <assert.h>
#define PARX_ASSERT(c) assert(c)
#endif

/* >>common: errors and logging, the same text in every parx header so that
   any one of them can be copied alone. With two headers implemented in one
   translation unit the guard keeps one copy; implemented in two, the
   definitions are weak (PARX_STATIC: static), so the program links and has
   one log hook. */
#ifndef PARX__COMMON_IMPLEMENTED
#define PARX__COMMON_IMPLEMENTED
#include <pthread.h>    /* pthread_atfork (parx__atfork; libc_nonshared.a before glibc 2.34) */
#include <stdatomic.h>
#ifdef PARX_STATIC
#define PARX__COMMON static __attribute__((__unused__))
#else
#define PARX__COMMON __attribute__((__weak__))
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

/* fd, moved to 3 or above if it is 0, 1 or 2. A program started with its
   standard streams closed (a daemon) gets those numbers back from its next
   opens, and a printf would then write into whatever holds them: into an
   arena, or a process pool's socket. Returns the descriptor to use (the
   one given is closed if it was moved), or -1 with errno, fd closed:
   EMFILE when no number from 3 up is free (F_DUPFD says EINVAL where the
   limit, RLIMIT_NOFILE, is 3 or below). */
static __attribute__((__unused__)) int parx__fd_above_stdio(int fd)
{
    if (fd < 0 || fd > 2) return fd;
    int high = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int e = high < 0 && errno == EINVAL ? EMFILE : errno;
    close(fd);
    errno = e;
    return high;
}

/* pthread_atfork(prepare, parent, child), once per process for each
   `done`: 0, or -ENOMEM with nothing registered, and the next call tries
   again -- so an object is never made without the handlers it relies on
   (a registration latched as failed for good would refuse every later
   one, or let every later one go on without them). Two threads may both
   find `done` unset and both register: every handler parx registers so
   is harmless run twice. */
static __attribute__((__unused__)) int parx__atfork(atomic_bool *done, void (*prepare)(void),
                                                    void (*parent)(void), void (*child)(void))
{
    /* acquire: pairs with the release below; the handlers are registered */
    if (atomic_load_explicit(done, memory_order_acquire)) return 0;
    int rc = pthread_atfork(prepare, parent, child);
    if (rc != 0) return -rc;
    /* release: whoever sees it set may make objects the handlers watch */
    atomic_store_explicit(done, true, memory_order_release);
    return 0;
}

PARX__COMMON void parx__log(parx_log_level level, const char *msg); /* -Wmissing-prototypes */
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
    case PARX_E_TRUNCATED:
        return "parx arena truncated: the segment is smaller than its header says";
    case PARX_E_CRASHED: return "the job's worker process was killed by a signal";
    case PARX_E_EXITED: return "the job's worker process exited during the job";
    case PARX_E_UNKNOWN_FN:
        return "job function not found in the worker (not in a module loaded at startup)";
    case PARX_E_PROCS_BROKEN: return "the process pool's fork server died";
    case PARX_E_SPAWN: return "spawned executable did not start a parx fork server";
    case PARX_E_DEVICE_LOST: return "GPU device lost: rerun on the CPU";
    case PARX_E_BAD_SPIRV: return "invalid SPIR-V compute module";
    case -EINVAL: return "invalid argument";
    case -ENOMEM: return "out of memory";
    case -EAGAIN: return "resource temporarily unavailable";
    default: break;
    }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32)) && \
    !defined(PARX__NO_STRERRORDESC) /* defined by tests/compile/strerror_fallback.c */
    if (code < 0 && code > -4096) {
        const char *s = strerrordesc_np(-code); /* static strings: thread-safe */
        if (s) return s;
    }
#else
    /* No strerrordesc_np (glibc before 2.32, musl), and strerror may write
       to a shared buffer: by name, the codes parx's own functions return
       and those its system calls may pass on (open, read, write, fsync,
       mmap, fork, exec, sockets). */
    switch (-code) {
    case EPERM: return "operation not permitted";
    case ENOENT: return "no such file or directory";
    case E2BIG: return "argument list too long";
    case EBADF: return "bad file descriptor";
    case EBADMSG: return "bad message";
    case EIO: return "input/output error";
    case ENXIO: return "no such device or address";
    case ECHILD: return "no child processes";
    case EDEADLK: return "resource deadlock avoided";
    case EACCES: return "permission denied";
    case EFAULT: return "bad address";
    case EBUSY: return "device or resource busy";
    case EEXIST: return "file exists";
    case ENODEV: return "no such device";
    case EISDIR: return "is a directory";
    case EMFILE: return "too many open files";
    case EFBIG: return "file too large";
    case ENOSPC: return "no space left on device";
    case ESPIPE: return "illegal seek";
    case ENAMETOOLONG: return "file name too long";
    case ECONNRESET: return "connection reset by peer";
    case ENOTSOCK: return "socket operation on non-socket";
    case EUSERS: return "too many users";
    case ERANGE: return "numerical result out of range";
    case ENOSYS: return "function not implemented";
    case EOPNOTSUPP: return "operation not supported";
    case ETIMEDOUT: return "connection timed out";
    case ECANCELED: return "operation canceled";
    case EOVERFLOW: return "value too large for defined data type";
    case EINTR: return "interrupted system call";
    case ENFILE: return "too many open files in system";
    case ENOTDIR: return "not a directory";
    case ELOOP: return "too many levels of symbolic links";
    case EROFS: return "read-only file system";
    case ETXTBSY: return "text file busy";
    case EXDEV: return "invalid cross-device link";
    case EPIPE: return "broken pipe";
    case EDQUOT: return "disk quota exceeded";
    case ESTALE: return "stale file handle";
    case ENOLCK: return "no locks available";
    case ENOEXEC: return "exec format error";
    case ENOBUFS: return "no buffer space available";
    case EMSGSIZE: return "message too long";
    case EAFNOSUPPORT: return "address family not supported by protocol";
    case ENOTCONN: return "transport endpoint is not connected";
    default: break;
    }
#endif
    return "unknown error";
}
#endif /* PARX__COMMON_IMPLEMENTED */

/* -------------------------------------------------------------------------- */
/* >>shm-layout: the segment's header and page map                            */
/* -------------------------------------------------------------------------- */

#define PARX__SHM_MAGIC UINT64_C(0x414E524178726170) /* "parxARNA" read as little-endian */
/* The version, with what else two processes sharing a header must agree
   on in its high half: the width of a pointer and the size of the robust
   mutex. header_size alone misses it: a 32-bit and a 64-bit build's
   headers are the same size, their fields are not in the same places. */
#define PARX__SHM_VERSION (1u | (uint32_t)(sizeof(void *) << 8 | sizeof(pthread_mutex_t)) << 16)
#define PARX__SHM_PAGE 4096u                  /* the allocator's page */
#define PARX__SHM_ALIGN ((size_t)2 << 20)     /* every mapping starts on a 2 MiB boundary */
#define PARX__SHM_SHARDS 16
#define PARX__SHM_CLASSES 36
#define PARX__SHM_SMALL_MAX 16384u
#define PARX__SHM_SPAN_PAGES 16u              /* small blocks are carved from 64 KiB spans */
#define PARX__SHM_PROCS 128
#define PARX__SHM_NAME_MAX 251                /* a name is shorter: "/" + up to 249 bytes, + NUL */
/* default max_size: 1 TiB; 2 GiB where size_t has 32 bits (a mapping must
   fit the address space, and sizes rounded up must fit size_t) */
#define PARX__SHM_MAX_SIZE ((uint64_t)1 << (SIZE_MAX > UINT32_MAX ? 40 : 31))
#define PARX__SHM_DIR "/dev/shm"               /* where shm_open keeps names, on Linux */
#ifndef PARX__SHM_TMPFILE
#define PARX__SHM_TMPFILE 1 /* 0 (tests): name first, as where O_TMPFILE or /proc is missing */
#endif

/* A free-list head: the block's offset / 16 in the low 36 bits (1 TiB of
   reach, the largest arena), a change counter in the high 28. Every push and
   pop bumps the counter, so a CAS that read the head before someone else
   popped and pushed the same block back fails instead of corrupting the list
   (ABA). A stale CAS could succeed only if exactly 2^28 list operations
   (seconds of non-stop traffic) happened while its thread was stalled
   between two instructions. */
#define PARX__SHM_OFF_BITS 36
#define PARX__SHM_OFF_MASK ((UINT64_C(1) << PARX__SHM_OFF_BITS) - 1)

/* Page map entries, one per data page. An interrupted update can only leave
   pages marked in use, never a free page marked used by two blocks. */
#define PARX__PAGE_FREE 0u
#define PARX__PAGE_SMALL 0x40000000u  /* | position in span << 8 | size class */
#define PARX__PAGE_LARGE 0x80000000u  /* | pages in the block (first page) */
#define PARX__PAGE_CONT 0xC0000000u   /* later pages of a large block */
#define PARX__PAGE_KIND 0xC0000000u

typedef struct parx__shm_shard {
    _Alignas(64) _Atomic uint64_t head[PARX__SHM_CLASSES]; /* tagged free-list heads; a shard
                                                              shares no cache line */
} parx__shm_shard;

typedef struct parx__shm_header {
    _Atomic uint64_t magic;      /* PARX__SHM_MAGIC, written last at creation */
    uint32_t version;            /* PARX__SHM_VERSION */
    uint32_t header_size;        /* sizeof(parx__shm_header): catches layout drift */
    uint64_t size;               /* bytes in the segment */
    uint64_t map_offset;         /* the page map: npages uint32 entries */
    uint64_t data_offset;        /* the first data page */
    uint64_t npages;             /* data pages */
    uint64_t base_hint;          /* the creator's mapping address */
    char name[PARX__SHM_NAME_MAX + 5]; /* named arenas: the name; "" for anonymous ones */
    _Atomic uint32_t next_shard; /* hands each attaching process its own shard */
    _Atomic uint64_t reserved;   /* data pages handed out */
    _Atomic uint64_t high_water; /* the most `reserved` has been */
    _Atomic uint64_t large;      /* pages in large blocks */
    _Atomic uint64_t freed;      /* large blocks given back so far (under `lock`) */
    uint64_t span_miss;          /* under `lock`: `freed` + 1 when a span last found no room */
    _Atomic uint64_t unlinked;   /* named arenas: the id of the process removing the name (as
                                    in procs[]), PARX__SHM_UNLINKED once it is gone, or 0 */
    _Atomic uint64_t spans[PARX__SHM_CLASSES]; /* spans carved into each class */
    uint64_t search_hint;        /* under `lock`: where the next page search starts */
    pthread_mutex_t lock;        /* robust, process-shared: guards the page map's updates */
    _Atomic uint64_t procs[PARX__SHM_PROCS]; /* named arenas: attached processes as
                                               (start time << 32 | pid), 0 = free entry */
    parx__shm_shard shards[PARX__SHM_SHARDS];
} parx__shm_header;

struct parx_arena {
    unsigned char *base;       /* the mapping */
    size_t size;
    int fd;
    parx__shm_header *hdr;     /* == base */
    _Atomic uint32_t *map;     /* the page map */
    uint64_t data_offset;      /* the header's data_offset and npages, copied once checked: */
    uint64_t npages;           /* fixed at creation, and read from here, so that a process
                                  scribbling on the header cannot move our accesses */
    _Atomic unsigned shard;    /* this process's shard (re-chosen after fork) */
    _Atomic unsigned fork_gen; /* parx__shm_fork_gen when `shard` was chosen */
    bool same_address;
    bool registered;           /* our pid is in hdr->procs */
    pid_t pid;                 /* the process that attached this handle */
    uint64_t me;               /* its entry in hdr->procs: start time << 32 | pid */
    char name[PARX__SHM_NAME_MAX + 5];
};

/* Bumped in the child at every fork, so a handle inherited through fork
   picks a shard of its own on first use instead of sharing its parent's. */
static _Atomic unsigned parx__shm_fork_gen;
static atomic_bool parx__shm_atfork_done; /* the handler below is registered */

static void parx__shm_after_fork(void)
{
    /* relaxed: the child has one thread right after fork */
    atomic_fetch_add_explicit(&parx__shm_fork_gen, 1, memory_order_relaxed);
}

/* Class of a small size (1..PARX__SHM_SMALL_MAX): 16-byte steps up to 128,
   then four classes per power of two. */
static inline unsigned parx__shm_class(size_t size)
{
    if (size <= 128) return (unsigned)((size + 15) / 16) - 1;
    size_t s = size - 1;
    unsigned k = 63u - (unsigned)__builtin_clzll((unsigned long long)s); /* 2^k <= s < 2^(k+1) */
    unsigned q = (unsigned)(s >> (k - 2)) & 3u;
    return 8u + (k - 7u) * 4u + q;
}

static inline size_t parx__shm_class_size(unsigned c)
{
    if (c < 8) return 16u * (c + 1);
    unsigned k = 7u + (c - 8u) / 4u, q = (c - 8u) % 4u;
    return ((size_t)1 << k) + (size_t)(q + 1) * ((size_t)1 << (k - 2));
}

/* floor(x / class size) for x < 2^16 (an offset inside a span) by one
   multiply: with r = ceil(2^32 / d), x * r >> 32 is exact while x * (r*d -
   2^32) < 2^32, which holds since r*d - 2^32 < d <= 2^14 and x < 2^16. */
static const uint32_t parx__shm_recip[PARX__SHM_CLASSES] = { /* ceil(2^32 / class size) */
    268435456u, 134217728u, 89478486u, 67108864u, 53687092u, 44739243u,
    38347923u, 33554432u, 26843546u, 22369622u, 19173962u, 16777216u,
    13421773u, 11184811u, 9586981u, 8388608u, 6710887u, 5592406u,
    4793491u, 4194304u, 3355444u, 2796203u, 2396746u, 2097152u,
    1677722u, 1398102u, 1198373u, 1048576u, 838861u, 699051u,
    599187u, 524288u, 419431u, 349526u, 299594u, 262144u,
};

static inline uint64_t parx__shm_div(uint64_t x, unsigned c)
{
    return (x * parx__shm_recip[c]) >> 32;
}

/* A free block's first word links it to the next. A popper reads that word
   before its CAS, and by then another thread may have taken the block and
   be writing into it: the popper's CAS then fails and the value is thrown
   away, but ThreadSanitizer still sees a plain write racing an atomic read.
   In TSan builds such speculative reads are hidden from it with its own
   annotation (one read in pop, the walk of a chain taken whole, and the
   statistics walk); every ordering it
   does see is the real one. */
#if defined(__SANITIZE_THREAD__)
#define PARX__SHM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PARX__SHM_TSAN 1
#endif
#endif
#ifdef PARX__SHM_TSAN
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
#define PARX__SHM_SPECULATE_BEGIN() AnnotateIgnoreReadsBegin(__FILE__, __LINE__)
#define PARX__SHM_SPECULATE_END() AnnotateIgnoreReadsEnd(__FILE__, __LINE__)
#else
#define PARX__SHM_SPECULATE_BEGIN() ((void)0)
#define PARX__SHM_SPECULATE_END() ((void)0)
#endif

static inline _Atomic uint64_t *parx__shm_link(const parx_arena *a, uint64_t off)
{
    return (_Atomic uint64_t *)(void *)(a->base + off);
}

/* Pop up to `want` (>= 1) blocks from a free list with one CAS: the first
   one's offset (0 if the list is empty), the last one's in *last, how many in
   *got; they stay linked to one another through their first words. The
   links are read before the CAS, while others may still pop the blocks: an
   unchanged head (its counter too) proves that no operation touched the list
   in between, so the links read were its own. `top`: the highest offset a
   block of the list's class can start at. A head or link outside the data
   pages (a segment another process scribbled on) ends the list there: no
   block handed out, and no link written, lies outside them. */
static uint64_t parx__shm_pop_chain(const parx_arena *a, _Atomic uint64_t *head, uint64_t want,
                                    uint64_t top, uint64_t *last, uint64_t *got)
{
    /* acquire: pairs with the release CAS of each push that linked a block
       (the CASes after it continue its release sequence), so every `next`
       word of the list is visible */
    uint64_t h = atomic_load_explicit(head, memory_order_acquire);
    for (;;) {
        uint64_t first = (h & PARX__SHM_OFF_MASK) << 4, end = first, n = 1;
        /* empty (or a corrupted head: no crash); a block at `top`, the last
           of a span that ends the segment, is a block like any other */
        if (first < a->data_offset || first > top) return 0;
        /* relaxed: if another process took a block meanwhile this may be
           anything, but then the head's counter has moved and the CAS fails */
        PARX__SHM_SPECULATE_BEGIN();
        uint64_t next = atomic_load_explicit(parx__shm_link(a, end), memory_order_relaxed) &
                        PARX__SHM_OFF_MASK;
        while (n < want && (next << 4) >= a->data_offset && (next << 4) <= top) {
            end = next << 4, n++;
            next = atomic_load_explicit(parx__shm_link(a, end), memory_order_relaxed) &
                   PARX__SHM_OFF_MASK;
        }
        PARX__SHM_SPECULATE_END();
        uint64_t nh = (((h >> PARX__SHM_OFF_BITS) + 1) << PARX__SHM_OFF_BITS) | next;
        /* acquire on success and failure: the head we act on next must come
           with the links its pusher wrote */
        if (atomic_compare_exchange_weak_explicit(head, &h, nh, memory_order_acquire,
                                                  memory_order_acquire)) {
            *last = end;
            *got = n;
            return first;
        }
        if (want > 1) want /= 2; /* a busy list: walk less before the next try */
    }
}

/* Pop one block from a free list; its offset, or 0 if the list is empty.
   parx__shm_pop_chain with want 1, written out: this is every small
   allocation's path, and the chain's loop and out-parameters cost it about
   2 ns of 16 (bench_shm alloc, in turns). */
static uint64_t parx__shm_pop(const parx_arena *a, _Atomic uint64_t *head, uint64_t top)
{
    /* acquire: pairs with the release CAS of the push that linked the block,
       so its `next` word is visible */
    uint64_t h = atomic_load_explicit(head, memory_order_acquire);
    for (;;) {
        uint64_t off = (h & PARX__SHM_OFF_MASK) << 4;
        /* empty (or a corrupted head: no crash, as in pop_chain) */
        if (off < a->data_offset || off > top) return 0;
        /* relaxed: if another process took the block meanwhile this may be
           anything, but then the head's counter has moved and the CAS fails */
        PARX__SHM_SPECULATE_BEGIN();
        uint64_t next = atomic_load_explicit(parx__shm_link(a, off), memory_order_relaxed);
        PARX__SHM_SPECULATE_END();
        uint64_t nh = (((h >> PARX__SHM_OFF_BITS) + 1) << PARX__SHM_OFF_BITS) |
                      (next & PARX__SHM_OFF_MASK);
        /* acquire on success and failure: the head we act on next must come
           with the links its pusher wrote */
        if (atomic_compare_exchange_weak_explicit(head, &h, nh, memory_order_acquire,
                                                  memory_order_acquire))
            return off;
    }
}

/* Push the chain first..last (already linked through their first words). */
static void parx__shm_push(const parx_arena *a, _Atomic uint64_t *head, uint64_t first,
                           uint64_t last)
{
    /* relaxed: the CAS below re-reads the head if it moved */
    uint64_t h = atomic_load_explicit(head, memory_order_relaxed);
    uint64_t nh;
    do {
        /* relaxed: published by the release CAS */
        atomic_store_explicit(parx__shm_link(a, last), h & PARX__SHM_OFF_MASK,
                              memory_order_relaxed);
        nh = (((h >> PARX__SHM_OFF_BITS) + 1) << PARX__SHM_OFF_BITS) | (first >> 4);
        /* release: a popper that sees this head sees the links above */
    } while (!atomic_compare_exchange_weak_explicit(head, &h, nh, memory_order_release,
                                                    memory_order_relaxed));
}

/* -------------------------------------------------------------------------- */
/* >>shm-pages: the page allocator, under a robust process-shared mutex       */
/* -------------------------------------------------------------------------- */

/* Lock the page allocator. If the last holder died holding it, the map is
   still valid (see PARX__PAGE_*): mark the lock consistent and go on.
   Returns 0, 1 if that happened (so the caller logs it once unlocked), or
   -1 if the lock cannot be taken at all (glibc says so for some corrupted
   lock words; for others it aborts, or waits for ever: the lock is
   glibc's, shared, and trusted like the rest of the allocator's state, see
   >>layout): the caller then fails (an allocation as if there were no free pages, a free with
   -EINVAL, the block left allocated). */
static int parx__shm_lock(parx__shm_header *h)
{
    int rc = pthread_mutex_lock(&h->lock);
    if (rc == EOWNERDEAD) {
        if (pthread_mutex_consistent(&h->lock) == 0) return 1;
        pthread_mutex_unlock(&h->lock); /* held all the same: the caller will not unlock it */
        return -1;
    }
    return rc == 0 ? 0 : -1;
}

static void parx__shm_unlock(parx__shm_header *h, int recovered)
{
    pthread_mutex_unlock(&h->lock);
    if (recovered)
        parx__log(PARX_LOG_WARN, "parx arena: a process died holding the page lock; recovered");
}

static inline uint32_t parx__shm_page(const parx_arena *a, uint64_t p)
{
    /* relaxed: page map entries are read under the lock, or (by free) for
       pages whose entries cannot change while the block being freed lives */
    return atomic_load_explicit(&a->map[p], memory_order_relaxed);
}

static inline void parx__shm_set_page(const parx_arena *a, uint64_t p, uint32_t v)
{
    /* relaxed: writers hold the lock, which orders them */
    atomic_store_explicit(&a->map[p], v, memory_order_relaxed);
}

/* The first page index at or after p whose address is aligned to `align`
   pages, given that page 0 sits `phase` pages past an aligned address. */
static inline uint64_t parx__shm_aligned(uint64_t p, uint64_t align, uint64_t phase)
{
    return (p + phase + align - 1) / align * align - phase;
}

static uint32_t parx__shm_span_entry(uint64_t i, void *ctx);

/* Find and mark `n` free pages, the first one aligned to `align` pages;
   entry(i, ctx) gives the map entry of page i of the run. Returns the first
   page's index, or UINT64_MAX if there is no room. */
static uint64_t parx__shm_take_pages(parx_arena *a, uint64_t n, uint64_t align,
                                     uint32_t (*entry)(uint64_t i, void *ctx), void *ctx)
{
    bool span = entry == parx__shm_span_entry;
    parx__shm_header *h = a->hdr;
    uint64_t total = a->npages, found = UINT64_MAX;
    uint64_t phase = (a->data_offset / PARX__SHM_PAGE) % align;
    if (n == 0 || n > total) return UINT64_MAX;
    int recovered = parx__shm_lock(h);
    if (recovered < 0) return UINT64_MAX;
    /* relaxed, here and below: under the lock */
    uint64_t freed = atomic_load_explicit(&h->freed, memory_order_relaxed);
    if (span && h->span_miss == freed + 1) { /* no span fitted, and no page came back since */
        parx__shm_unlock(h, recovered);
        return UINT64_MAX;
    }
    uint64_t start = h->search_hint < total ? h->search_hint : 0;
    /* first fit from the hint, then from the start */
    for (int pass = 0; pass < 2 && found == UINT64_MAX; pass++) {
        uint64_t p = pass == 0 ? start : 0, end = pass == 0 ? total : start + n;
        if (end > total) end = total;
        p = parx__shm_aligned(p, align, phase);
        while (p + n <= end) {
            uint64_t run = 0;
            while (run < n && parx__shm_page(a, p + run) == PARX__PAGE_FREE) run++;
            if (run == n) {
                found = p;
                break;
            }
            p = parx__shm_aligned(p + run + 1, align, phase); /* past the page in use */
        }
    }
    if (found != UINT64_MAX) {
        /* later pages first, the first page last: an interruption leaves
           pages marked in use (leaked), never a block without its pages */
        for (uint64_t i = n; i-- > 0;) parx__shm_set_page(a, found + i, entry(i, ctx));
        h->search_hint = found + n;
        /* relaxed: statistics; the lock orders the updates */
        uint64_t r = atomic_load_explicit(&h->reserved, memory_order_relaxed) + n;
        atomic_store_explicit(&h->reserved, r, memory_order_relaxed);
        if (r > atomic_load_explicit(&h->high_water, memory_order_relaxed))
            atomic_store_explicit(&h->high_water, r, memory_order_relaxed);
    } else if (span) {
        h->span_miss = freed + 1;
    }
    parx__shm_unlock(h, recovered);
    return found;
}

static uint32_t parx__shm_large_entry(uint64_t i, void *ctx)
{
    return i == 0 ? PARX__PAGE_LARGE | (uint32_t)*(uint64_t *)ctx : PARX__PAGE_CONT;
}

static uint32_t parx__shm_span_entry(uint64_t i, void *ctx)
{
    return PARX__PAGE_SMALL | (uint32_t)(i << 8) | *(unsigned *)ctx;
}

static inline unsigned parx__shm_my_shard(parx_arena *a)
{
    /* relaxed: the generation only tells whether this process forked since
       the shard was chosen; the shard is a performance choice, any is correct */
    unsigned gen = atomic_load_explicit(&parx__shm_fork_gen, memory_order_relaxed);
    if (atomic_load_explicit(&a->fork_gen, memory_order_relaxed) != gen) {
        /* relaxed: a counter that only spreads processes over shards */
        unsigned s = atomic_fetch_add_explicit(&a->hdr->next_shard, 1, memory_order_relaxed);
        atomic_store_explicit(&a->shard, s % PARX__SHM_SHARDS, memory_order_relaxed);
        atomic_store_explicit(&a->fork_gen, gen, memory_order_relaxed);
    }
    return atomic_load_explicit(&a->shard, memory_order_relaxed);
}

/* Carve a fresh span into blocks of class c: return one, put the rest on
   shard s's list. 0 if no pages are left. */
static uint64_t parx__shm_refill(parx_arena *a, unsigned c, unsigned s)
{
    uint64_t p = parx__shm_take_pages(a, PARX__SHM_SPAN_PAGES, 1, parx__shm_span_entry, &c);
    if (p == UINT64_MAX) return 0;
    /* relaxed: a statistic (spans are never given back, so it only grows) */
    atomic_fetch_add_explicit(&a->hdr->spans[c], 1, memory_order_relaxed);
    size_t bsize = parx__shm_class_size(c);
    uint64_t first = a->data_offset + p * PARX__SHM_PAGE;
    uint64_t n = PARX__SHM_SPAN_PAGES * PARX__SHM_PAGE / bsize;
    if (n < 2) return first;
    for (uint64_t i = 1; i + 1 < n; i++) /* relaxed: published by the push */
        atomic_store_explicit(parx__shm_link(a, first + i * bsize), (first + (i + 1) * bsize) >> 4,
                              memory_order_relaxed);
    parx__shm_push(a, &a->hdr->shards[s].head[c], first + bsize, first + (n - 1) * bsize);
    return first;
}

static void *parx__shm_alloc_small(parx_arena *a, size_t size)
{
    unsigned c = parx__shm_class(size), s = parx__shm_my_shard(a);
    parx__shm_header *h = a->hdr;
    uint64_t top = a->size - parx__shm_class_size(c);
    uint64_t off = parx__shm_pop(a, &h->shards[s].head[c], top);
    /* Our shard is empty: adopt blocks from another shard's list before
       carving pages, so memory freed elsewhere (one process allocates,
       another frees) is reused rather than stranded. A span's worth at once
       (what a refill would give), not block by block: taking another
       process's blocks one at a time interleaves two processes' blocks on
       the same cache lines for good (measured: 1.5x slower alloc+free in
       both). And not the whole list: until the push below, the blocks taken
       are held by this process alone, and a process killed here must lose
       no more than a span's worth (>>allocator). */
    for (unsigned i = 1; !off && i < PARX__SHM_SHARDS; i++) {
        uint64_t last, got, span_blocks = PARX__SHM_SPAN_PAGES * PARX__SHM_PAGE /
                                          parx__shm_class_size(c);
        off = parx__shm_pop_chain(a, &h->shards[(s + i) % PARX__SHM_SHARDS].head[c], span_blocks,
                                  top, &last, &got);
        if (off && got > 1) {
            /* the rest, ours alone now, moves to our shard; relaxed: the
               links came with the head the chain was taken from */
            uint64_t next = atomic_load_explicit(parx__shm_link(a, off), memory_order_relaxed) &
                            PARX__SHM_OFF_MASK;
            parx__shm_push(a, &h->shards[s].head[c], next << 4, last);
        }
    }
    if (!off) off = parx__shm_refill(a, c, s);
    return off ? a->base + off : NULL;
}

static void *parx__shm_alloc_large(parx_arena *a, size_t size, size_t align)
{
    if (size > SIZE_MAX - PARX__SHM_PAGE) return NULL; /* no room to round up */
    uint64_t n = (size + PARX__SHM_PAGE - 1) / PARX__SHM_PAGE;
    if (n >= (UINT64_C(1) << 30)) return NULL; /* more than a page map entry can say */
    uint64_t align_pages = align > PARX__SHM_PAGE ? align / PARX__SHM_PAGE : 1;
    uint64_t p = parx__shm_take_pages(a, n, align_pages, parx__shm_large_entry, &n);
    if (p == UINT64_MAX) return NULL;
    /* relaxed: a statistic */
    atomic_fetch_add_explicit(&a->hdr->large, n, memory_order_relaxed);
    return a->base + a->data_offset + p * PARX__SHM_PAGE;
}

PARX_API void *parx_arena_alloc(parx_arena *a, size_t size, size_t align)
{
    if (!a || size == 0 || (align & (align - 1)) != 0 || align > PARX__SHM_ALIGN) {
        errno = EINVAL;
        return NULL;
    }
    if (align < 16) align = 16;
    void *p;
    if (align <= PARX__SHM_PAGE && size <= PARX__SHM_SMALL_MAX) {
        /* a power-of-two class at least `align` puts every block on an
           `align` boundary, since spans start on page boundaries */
        if (align > 16 && size < align) size = align;
        if (align > 16 && (size & (size - 1)) != 0)
            size = (size_t)1 << (64 - __builtin_clzll(size));
        p = parx__shm_alloc_small(a, size); /* still <= PARX__SHM_SMALL_MAX: align <= a page */
    } else {
        p = parx__shm_alloc_large(a, size, align);
    }
    if (!p) errno = ENOMEM;
    return p;
}

PARX_API int parx_arena_free(parx_arena *a, void *ptr)
{
    if (!ptr) return 0;
    if (!a) return -EINVAL;
    parx__shm_header *h = a->hdr;
    uint64_t off = parx_arena_offset(a, ptr);
    if (off == PARX_ARENA_NO_OFFSET || off < a->data_offset) return -EINVAL;
    uint64_t p = (off - a->data_offset) / PARX__SHM_PAGE;
    if (p >= a->npages) return -EINVAL;
    uint32_t e = parx__shm_page(a, p);
    if ((e & PARX__PAGE_KIND) == PARX__PAGE_SMALL) {
        unsigned c = e & 0xFFu;
        uint64_t pos = (e >> 8) & 0xFFu;
        if (c >= PARX__SHM_CLASSES || pos > p) return -EINVAL;
        uint64_t within = off - (a->data_offset + (p - pos) * PARX__SHM_PAGE);
        size_t bsize = parx__shm_class_size(c);
        uint64_t i = parx__shm_div(within, c);
        if (i * bsize != within || i >= PARX__SHM_SPAN_PAGES * PARX__SHM_PAGE / bsize)
            return -EINVAL;
        parx__shm_push(a, &h->shards[parx__shm_my_shard(a)].head[c], off, off);
        return 0;
    }
    if ((e & PARX__PAGE_KIND) != PARX__PAGE_LARGE || (off - a->data_offset) % PARX__SHM_PAGE != 0)
        return -EINVAL;
    int recovered = parx__shm_lock(h);
    if (recovered < 0) return -EINVAL;
    e = parx__shm_page(a, p); /* again, under the lock */
    uint64_t n = e & ~PARX__PAGE_KIND;
    int rc = -EINVAL;
    if ((e & PARX__PAGE_KIND) == PARX__PAGE_LARGE && p + n <= a->npages) {
        /* `freed` before any page: a span search that found no room skips
           the next ones until `freed` moves (see span_miss), so pages given
           back before it moves would stay out of reach of spans for good if
           we died in between. Moved first, an interruption costs at most one
           search in vain. relaxed: under the lock */
        atomic_store_explicit(&h->freed, atomic_load_explicit(&h->freed, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        /* Out of `large` (pages in use) before its pages go, so that an
           interruption can leave pages reserved for no block, never a block
           counted in use in pages that are free (used > reserved for good).
           relaxed: a statistic; an RMW, as alloc adds outside the lock */
        atomic_fetch_sub_explicit(&h->large, n, memory_order_relaxed);
        /* the first page first: from then on the block is gone, and an
           interruption only leaks its remaining pages */
        for (uint64_t i = 0; i < n; i++) parx__shm_set_page(a, p + i, PARX__PAGE_FREE);
        /* relaxed: statistics, under the lock */
        atomic_store_explicit(&h->reserved,
                              atomic_load_explicit(&h->reserved, memory_order_relaxed) - n,
                              memory_order_relaxed);
        if (p < h->search_hint) h->search_hint = p;
        rc = 0;
    }
    parx__shm_unlock(h, recovered);
    return rc;
}

/* -------------------------------------------------------------------------- */
/* >>shm-segments: create, attach, validate, map, close                       */
/* -------------------------------------------------------------------------- */

/* "/" and one file name of /dev/shm: not "." or "..", which name
   directories there (create said -EEXIST for them, open -EINVAL). */
static int parx__shm_valid_name(const char *name)
{
    if (!name || name[0] != '/' || name[1] == '\0') return 0;
    if (strcmp(name, "/.") == 0 || strcmp(name, "/..") == 0) return 0;
    size_t len = strlen(name);
    return len < PARX__SHM_NAME_MAX && !strchr(name + 1, '/');
}

/* Map fd's `size` bytes at `hint` if that range is free here, else at some
   2 MiB boundary: a PROT_NONE reservation 2 MiB larger than the segment is
   made, the segment mapped over its aligned part, and the slack unmapped. */
static unsigned char *parx__shm_map(int fd, size_t size, uint64_t hint, bool prefault,
                                    bool *same, int *err)
{
    int flags = MAP_SHARED | (prefault ? MAP_POPULATE : 0);
    *same = false;
    /* only a hint a mapping could have had: page-aligned, in the lower half of
       a 48-bit address space (a foreign header may say anything) */
    if (hint && hint < (UINT64_C(1) << 47) && hint + size < (UINT64_C(1) << 47)) {
        void *p = mmap((void *)(uintptr_t)hint, size, PROT_READ | PROT_WRITE,
                       flags | MAP_FIXED_NOREPLACE, fd, 0);
        if (p != MAP_FAILED && p == (void *)(uintptr_t)hint) {
            *same = true;
            return (unsigned char *)p;
        }
        if (p != MAP_FAILED) munmap(p, size); /* a kernel that took it as a mere hint */
    }
    size_t span = size + PARX__SHM_ALIGN;
    void *r = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) {
        *err = -errno;
        return NULL;
    }
    uintptr_t at = ((uintptr_t)r + PARX__SHM_ALIGN - 1) & ~(uintptr_t)(PARX__SHM_ALIGN - 1);
    void *p = mmap((void *)at, size, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd, 0);
    if (p == MAP_FAILED) {
        *err = -errno;
        munmap(r, span);
        return NULL;
    }
    if (at > (uintptr_t)r) munmap(r, at - (uintptr_t)r);
    uintptr_t end = (uintptr_t)r + span;
    if (end > at + size) munmap((void *)(at + size), end - (at + size));
    *same = hint && at == hint;
    return (unsigned char *)p;
}

/* Fill in a's derived fields from its mapped, validated header. */
static void parx__shm_bind(parx_arena *a)
{
    a->hdr = (parx__shm_header *)(void *)a->base;
    a->map = (_Atomic uint32_t *)(void *)(a->base + a->hdr->map_offset);
    a->data_offset = a->hdr->data_offset;
    a->npages = a->hdr->npages;
    atomic_init(&a->shard, 0);
    /* a generation that never matches: the shard is chosen on first use.
       relaxed: the generation is only compared, in this process (see
       parx__shm_my_shard) */
    atomic_init(&a->fork_gen, atomic_load_explicit(&parx__shm_fork_gen, memory_order_relaxed) - 1);
    /* A refusal (ENOMEM) costs only speed: a fork() child would share its
       parent's shard until the next bind registers the handler. */
    (void)parx__atfork(&parx__shm_atfork_done, NULL, NULL, parx__shm_after_fork);
}

/* A process as the table of a named arena records it: its pid, and the low
   32 bits of its start time (in clock ticks since boot, from /proc), so that
   a pid the kernel has handed to a new process is not taken for the old one.
   0 if the process does not exist (or is a zombie: not one whose main thread
   alone has exited, which /proc shows as a zombie too while its other
   threads run on, still attached); PARX__SHM_PROC_UNKNOWN if
   /proc cannot tell: reading it takes a descriptor, and a process at its
   limit (EMFILE) must not take every other process for dead; nor must one
   whose /proc is not mounted (a sandbox), or is another pid namespace's,
   where no pid has a file: a missing file means a missing process only
   where /proc shows this one. */
#define PARX__SHM_PROC_UNKNOWN UINT64_MAX

static uint64_t parx__shm_proc_id(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT && errno != ESRCH) return PARX__SHM_PROC_UNKNOWN;
        return access("/proc/self/stat", F_OK) == 0 ? 0 : PARX__SHM_PROC_UNKNOWN;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int e = errno;
    close(fd);
    if (n < 0) return e == ESRCH ? 0 : PARX__SHM_PROC_UNKNOWN; /* ESRCH: reaped since the open */
    if (n == 0) return 0;
    buf[n] = '\0';
    /* fields after the command name, which may hold spaces and parentheses */
    const char *f = strrchr(buf, ')');
    unsigned long long start = 0;
    long threads = 0;
    char state = 0;
    /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
       utime stime cutime cstime priority nice threads itrealvalue starttime */
    if (!f || sscanf(f + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
                            "%ld %*d %llu", &state, &threads, &start) != 3)
        return PARX__SHM_PROC_UNKNOWN;
    /* dead, not yet reaped: not a user. A zombie with more than one thread
       is a process whose main thread has called pthread_exit: alive. */
    if (state == 'X' || (state == 'Z' && threads <= 1)) return 0;
    return (uint64_t)(uint32_t)start << 32 | (uint32_t)pid;
}

/* This process's id, read from /proc once per process (5 us here). */
static uint64_t parx__shm_self_id(void)
{
    static _Atomic uint64_t cached; /* relaxed: any thread may compute it; all get the same */
    uint64_t id = atomic_load_explicit(&cached, memory_order_relaxed);
    pid_t pid = getpid();
    if ((pid_t)(uint32_t)id != pid || id == 0) { /* not yet, or we are a forked child */
        id = parx__shm_proc_id(pid);
        if (id == 0 || id == PARX__SHM_PROC_UNKNOWN)
            return (uint32_t)pid; /* no /proc (for now): the pid alone, not kept */
        atomic_store_explicit(&cached, id, memory_order_relaxed);
    }
    return id;
}

static bool parx__shm_alive(uint64_t entry)
{
    pid_t pid = (pid_t)(uint32_t)entry;
    if (entry >> 32) { /* same pid, same start, not a zombie: the same live process */
        uint64_t now = parx__shm_proc_id(pid);
        if (now != PARX__SHM_PROC_UNKNOWN) return now == entry;
        /* /proc cannot tell here: ask for the pid alone, which may keep a
           dead process whose pid was reused, never drop a live one */
    }
    return kill(pid, 0) == 0 || errno == EPERM; /* recorded without /proc: the pid alone */
}

/* Add this process to a named arena's table; when it is full, clear the
   entries of processes that died without closing and try again. */
static int parx__shm_register(parx_arena *a)
{
    a->me = parx__shm_self_id();
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < PARX__SHM_PROCS; i++) {
            uint64_t expected = 0;
            /* seq_cst: orders this entry against closers' scans (parx__shm_remove_if_last) */
            if (atomic_compare_exchange_strong_explicit(&a->hdr->procs[i], &expected, a->me,
                                                        memory_order_seq_cst,
                                                        memory_order_relaxed)) {
                a->registered = true;
                return 0;
            }
        }
        for (int i = 0; pass == 0 && i < PARX__SHM_PROCS; i++) {
            /* relaxed: liveness bookkeeping; the CAS makes the clearing exact */
            uint64_t e = atomic_load_explicit(&a->hdr->procs[i], memory_order_relaxed);
            if (e && !parx__shm_alive(e))
                atomic_compare_exchange_strong_explicit(&a->hdr->procs[i], &e, 0,
                                                        memory_order_relaxed, memory_order_relaxed);
        }
    }
    return -EUSERS;
}

/* Take this process's entry out of the table (seq_cst: ordered before the
   scan that follows, see parx__shm_remove_if_last). */
static void parx__shm_deregister(parx_arena *a)
{
    for (int i = 0; i < PARX__SHM_PROCS; i++) {
        uint64_t mine = a->me;
        if (atomic_compare_exchange_strong_explicit(&a->hdr->procs[i], &mine, 0,
                                                    memory_order_seq_cst, memory_order_relaxed))
            break;
    }
    a->registered = false;
}

/* Whether any live process is in the table, clearing dead ones on the way.
   seq_cst loads: see parx__shm_remove_if_last. */
static bool parx__shm_others_alive(parx_arena *a)
{
    bool others = false;
    for (int i = 0; i < PARX__SHM_PROCS; i++) {
        uint64_t e = atomic_load_explicit(&a->hdr->procs[i], memory_order_seq_cst);
        if (!e) continue;
        if (parx__shm_alive(e)) others = true;
        else /* relaxed: see parx__shm_register */
            atomic_compare_exchange_strong_explicit(&a->hdr->procs[i], &e, 0,
                                                    memory_order_relaxed, memory_order_relaxed);
    }
    return others;
}

static void parx__shm_free_handle(parx_arena *a)
{
    if (a->base) munmap(a->base, a->size);
    if (a->fd >= 0) close(a->fd);
    free(a);
}

/* Lay out and initialise a new segment of `size` bytes mapped at a->base,
   all but its magic (nobody can attach before the caller writes it). */
static int parx__shm_format(parx_arena *a, const char *name)
{
    parx__shm_header *h = (parx__shm_header *)(void *)a->base;
    uint64_t pages = a->size / PARX__SHM_PAGE;
    uint64_t hpages = (sizeof *h + PARX__SHM_PAGE - 1) / PARX__SHM_PAGE;
    /* npages data pages need npages / 1024 map pages (4-byte entries) */
    uint64_t npages = (pages - hpages) * 1024 / 1025;
    uint64_t mpages = (npages * 4 + PARX__SHM_PAGE - 1) / PARX__SHM_PAGE;
    while (hpages + mpages + npages > pages)
        npages--, mpages = (npages * 4 + PARX__SHM_PAGE - 1) / PARX__SHM_PAGE;
    if (npages == 0) return -EINVAL;

    /* the fresh segment reads as zeros: free pages and empty lists */
    h->version = PARX__SHM_VERSION;
    h->header_size = (uint32_t)sizeof *h;
    h->size = a->size;
    h->map_offset = hpages * PARX__SHM_PAGE;
    h->data_offset = (hpages + mpages) * PARX__SHM_PAGE;
    h->npages = npages;
    h->base_hint = (uint64_t)(uintptr_t)a->base;
    if (name) memcpy(h->name, name, strlen(name) + 1);

    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    int rc = pthread_mutex_init(&h->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    return -rc; /* the magic is not there yet: parx_arena_create publishes it */
}

static uint64_t parx__shm_round(uint64_t size)
{
    long sys = sysconf(_SC_PAGESIZE);
    uint64_t unit = sys > (long)PARX__SHM_PAGE ? (uint64_t)sys : PARX__SHM_PAGE;
    return (size + unit - 1) / unit * unit;
}

/* Give the complete, unnamed arena file behind fd its name: a hard link,
   which fails with EEXIST when the name exists (the O_EXCL of this way of
   creating). Linked from the descriptor itself where the kernel allows it
   (AT_EMPTY_PATH: CAP_DAC_READ_SEARCH), else through /proc/self/fd, whose
   path walk costs about 10 us more. */
static int parx__shm_link_name(int fd, const char *name)
{
    char from[32], to[sizeof PARX__SHM_DIR + PARX__SHM_NAME_MAX + 5]; /* name: as name[] */
    snprintf(to, sizeof to, PARX__SHM_DIR "%s", name);
    if (linkat(fd, "", AT_FDCWD, to, AT_EMPTY_PATH) == 0) return 0;
    if (errno == EEXIST) return -EEXIST;
    snprintf(from, sizeof from, "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, from, AT_FDCWD, to, AT_SYMLINK_FOLLOW) == 0 ? 0 : -errno;
}

/* The number in a small text file: after `key` on the first line that
   starts with it (NULL: the first line's). UINT64_MAX where there is none,
   or the file cannot be read. */
static uint64_t parx__shm_read_u64(const char *path, const char *key)
{
    FILE *f = fopen(path, "re");
    if (!f) return UINT64_MAX;
    char line[256];
    unsigned long long v = 0;
    bool got = false;
    size_t klen = key ? strlen(key) : 0;
    while (!got && fgets(line, sizeof line, f))
        if (!key) got = sscanf(line, "%llu", &v) == 1; /* "max" reads as none */
        else if (strncmp(line, key, klen) == 0) got = sscanf(line + klen, "%llu", &v) == 1;
    fclose(f);
    return got ? (uint64_t)v : UINT64_MAX;
}

/* What a memory cgroup leaves: its limit less its use, its inactive page
   cache counted as free (reclaim drops it first, as MemAvailable counts
   it); UINT64_MAX where a figure cannot be read ("max": no limit). */
static uint64_t parx__shm_cg_left(uint64_t max, uint64_t cur, uint64_t inactive)
{
    if (max == UINT64_MAX || cur == UINT64_MAX) return UINT64_MAX;
    if (inactive != UINT64_MAX) cur = cur > inactive ? cur - inactive : 0;
    return max > cur ? max - cur : 0;
}

/* A v1 line of /proc/self/cgroup ("4:memory:/path", or "4:a,memory:/path")
   of the memory controller: its path, else NULL. */
static const char *parx__shm_cg_v1_memory(const char *line)
{
    const char *ctl = strchr(line, ':'), *cg = ctl ? strchr(ctl + 1, ':') : NULL;
    if (!cg) return NULL;
    for (const char *w = ctl + 1; w < cg; w += strcspn(w, ",:") + 1)
        if (strncmp(w, "memory", 6) == 0 && (w[6] == ',' || w[6] == ':')) return cg + 1;
    return NULL;
}

/* The memory a reserved arena may take now: MemAvailable (what can be had
   without swapping), and under a memory cgroup what is left of its limit:
   v2's memory.max, v1's limit with its ancestors' (memory.stat's
   hierarchical_memory_limit; Docker --memory on a cgroup v1 host), the
   lowest where both hierarchies are mounted; UINT64_MAX where none can be
   read. A memfd has no size limit of its own, nor has /dev/shm past its
   mount size: fallocate would take pages until the OOM killer ended some
   process, any process (in a cgroup, this one). */
static uint64_t parx__shm_mem_room(void)
{
    uint64_t kb = parx__shm_read_u64("/proc/meminfo", "MemAvailable:");
    uint64_t room = kb == UINT64_MAX ? UINT64_MAX : kb << 10;
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f) return room;
    char line[512], dir[600], path[700];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        uint64_t left = UINT64_MAX;
        const char *cg;
        if (strncmp(line, "0::", 3) == 0) { /* the v2 hierarchy's line */
            snprintf(dir, sizeof dir, "/sys/fs/cgroup%s", line + 3);
            snprintf(path, sizeof path, "%s/memory.max", dir);
            uint64_t max = parx__shm_read_u64(path, NULL);
            snprintf(path, sizeof path, "%s/memory.current", dir);
            uint64_t cur = parx__shm_read_u64(path, NULL);
            snprintf(path, sizeof path, "%s/memory.stat", dir);
            left = parx__shm_cg_left(max, cur, parx__shm_read_u64(path, "inactive_file "));
        } else if ((cg = parx__shm_cg_v1_memory(line)) != NULL) {
            /* the cgroup's directory, else the mount's top: a container
               without a cgroup namespace sees its own cgroup mounted there */
            for (int top = 0; top < 2 && left == UINT64_MAX; top++) {
                snprintf(dir, sizeof dir, "/sys/fs/cgroup/memory%s", top ? "" : cg);
                snprintf(path, sizeof path, "%s/memory.stat", dir);
                uint64_t max = parx__shm_read_u64(path, "hierarchical_memory_limit ");
                uint64_t inactive = parx__shm_read_u64(path, "total_inactive_file ");
                snprintf(path, sizeof path, "%s/memory.usage_in_bytes", dir);
                left = parx__shm_cg_left(max, parx__shm_read_u64(path, NULL), inactive);
            }
        }
        if (left < room) room = left;
    }
    fclose(f);
    return room;
}

PARX_API parx_arena *parx_arena_create(const parx_arena_desc *desc, int *err)
{
    int dummy, rc = 0;
    if (!err) err = &dummy;
    if (!desc || desc->size == 0) {
        *err = -EINVAL;
        return NULL;
    }
    uint64_t max = desc->max_size ? desc->max_size : PARX__SHM_MAX_SIZE;
    if (desc->size > max || desc->size > PARX__SHM_MAX_SIZE) {
        *err = -EFBIG;
        return NULL;
    }
    /* at least the header, the map and one span of data pages: every small
       block is carved from a span, so an arena with less could hand out no
       small block at all */
    uint64_t least = (2 + PARX__SHM_SPAN_PAGES) * PARX__SHM_PAGE + sizeof(parx__shm_header);
    uint64_t size = parx__shm_round(desc->size < least ? least : desc->size);
    /* A file may not grow past the process's RLIMIT_FSIZE: ftruncate then
       fails with EFBIG, but only after the kernel has sent SIGXFSZ, whose
       default action kills the process. So such a size is refused here,
       before any file exists. */
    struct rlimit fsize;
    if (getrlimit(RLIMIT_FSIZE, &fsize) == 0 && fsize.rlim_cur != RLIM_INFINITY &&
        size > (uint64_t)fsize.rlim_cur) {
        *err = -EFBIG;
        return NULL;
    }

    char name[PARX__SHM_NAME_MAX + 5] = "";
    bool named = desc->named || desc->name; /* a name asks for a named arena */
    if (named) {
        if (desc->name) {
            if (!parx__shm_valid_name(desc->name)) {
                *err = -EINVAL;
                return NULL;
            }
            memcpy(name, desc->name, strlen(desc->name) + 1);
        } else {
            unsigned char r[16];
            if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
                *err = -errno;
                return NULL;
            }
            memcpy(name, "/parx-", 6);
            for (int i = 0; i < 16; i++) snprintf(name + 6 + 2 * i, 3, "%02x", r[i]);
        }
        /* tmpfs over-commits: check for room now rather than SIGBUS later
           (a tmpfs mounted with size=0 has no limit, and says 0 blocks) */
        struct statvfs vfs;
        if (statvfs(PARX__SHM_DIR, &vfs) == 0 && vfs.f_blocks != 0 &&
            (uint64_t)vfs.f_bavail * vfs.f_frsize < size) {
            *err = -ENOSPC;
            return NULL;
        }
    }

    parx_arena *a = (parx_arena *)calloc(1, sizeof *a);
    if (!a) {
        *err = -ENOMEM;
        return NULL;
    }
    a->fd = -1;
    a->size = (size_t)size; /* <= PARX__SHM_MAX_SIZE, which fits size_t */
    a->pid = getpid();
    bool link_later = false; /* made unnamed: the name goes on once it is complete */
    if (named) {
        /* The arena is made as an unnamed file in /dev/shm (O_TMPFILE) and
           linked under its name only when complete, so that nobody opens a
           half-made arena, and a creator killed on the way leaves nothing
           behind (a name made first would stay, an arena that is not one,
           for good). Where that cannot be done (no O_TMPFILE on /dev/shm,
           no /proc to link through), the name is made first, as shm_open
           does. Either way a name that exists already is -EEXIST. */
        a->fd = PARX__SHM_TMPFILE && access("/proc/self/fd", X_OK) == 0
                    ? open(PARX__SHM_DIR, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)
                    : -1;
        link_later = a->fd >= 0;
        if (!link_later) {
            a->fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (a->fd >= 0) memcpy(a->name, name, sizeof name);
        }
        /* 0600 whatever the umask: one that takes the owner's write bit
           would leave the creator's peers unable to attach */
        if (a->fd >= 0 && fchmod(a->fd, 0600) != 0) {
            rc = -errno;
            goto fail;
        }
    } else {
        unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
        a->fd = memfd_create("parx-arena", flags);
    }
    a->fd = parx__fd_above_stdio(a->fd);
    if (a->fd < 0) {
        rc = -errno;
        goto fail;
    }
    if (ftruncate(a->fd, (off_t)size) != 0) {
        rc = -errno;
        goto fail;
    }
    if (desc->reserve) {
        if (size > parx__shm_mem_room()) {
            rc = -ENOSPC;
            goto fail;
        }
        int e = posix_fallocate(a->fd, 0, (off_t)size);
        if (e != 0) {
            rc = e == ENOMEM ? -ENOSPC : -e;
            goto fail;
        }
    }
    if (!named &&
        fcntl(a->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
        rc = -errno;
        goto fail;
    }
    a->base = parx__shm_map(a->fd, (size_t)size, 0, desc->prefault, &a->same_address, &rc);
    if (!a->base) goto fail;
    a->same_address = true; /* the creator's mapping is the reference */
    if (desc->huge_pages) /* advice: fine if refused */
        madvise(a->base, (size_t)size, MADV_HUGEPAGE);
    rc = parx__shm_format(a, named ? name : NULL);
    if (rc != 0) goto fail;
    parx__shm_bind(a);
    /* In the table before anyone can attach: a process that opens the name
       as soon as the magic is there and closes again at once must find us,
       or it sees nobody left and removes the name from under us. */
    if (named && (rc = parx__shm_register(a)) != 0) goto fail;
    /* release: the magic goes in last, so whoever sees it sees the rest,
       our table entry included (an attach loads it with acquire) */
    atomic_store_explicit(&a->hdr->magic, PARX__SHM_MAGIC, memory_order_release);
    if (link_later) {
        if ((rc = parx__shm_link_name(a->fd, name)) != 0) goto fail;
        memcpy(a->name, name, sizeof name); /* ours now: close may unlink it */
    }
    return a;

fail:
    if (a->name[0]) shm_unlink(a->name);
    parx__shm_free_handle(a);
    *err = rc;
    return NULL;
}

/* Check the header of the segment behind fd, read with pread, before any
   mapping: a short or foreign file must not SIGBUS us. */
static int parx__shm_check(int fd, parx__shm_header *out, uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) != 0) return -errno;
    ssize_t got = pread(fd, out, sizeof *out, 0);
    if (got < 0) return -errno;
    /* relaxed: a private copy read by pread */
    if ((size_t)got < sizeof(uint64_t) ||
        atomic_load_explicit(&out->magic, memory_order_relaxed) != PARX__SHM_MAGIC)
        return PARX_E_NOT_ARENA;
    if ((size_t)got < offsetof(parx__shm_header, header_size) + sizeof out->header_size)
        return PARX_E_TRUNCATED;
    if (out->version != PARX__SHM_VERSION || out->header_size != sizeof *out)
        return PARX_E_ARENA_VERSION;
    if ((size_t)got < sizeof *out || (uint64_t)st.st_size < out->size) return PARX_E_TRUNCATED;
    /* a header that contradicts itself is not one of ours; every sum is
       checked by division first, so no field can overflow its way through */
    uint64_t sz = out->size, mo = out->map_offset, dof = out->data_offset, np = out->npages;
    if (sz > PARX__SHM_MAX_SIZE || sz % PARX__SHM_PAGE || mo % PARX__SHM_PAGE ||
        dof % PARX__SHM_PAGE || mo < sizeof *out || mo > sz || dof > sz || dof < mo || np == 0 ||
        np > (dof - mo) / 4 || np > (sz - dof) / PARX__SHM_PAGE || out->base_hint % PARX__SHM_ALIGN)
        return PARX_E_NOT_ARENA;
    /* An anonymous arena is a memfd that create sealed against shrinking.
       One that is not is a copy of one (a peer's memfd, a file), which its
       holder could truncate under our mapping: refused, never mapped. */
    if (!out->name[0]) {
        int seals = fcntl(fd, F_GET_SEALS);
        if (seals < 0 || !(seals & F_SEAL_SHRINK)) return PARX_E_NOT_ARENA;
    }
    *size = out->size;
    return 0;
}

/* Attach to the segment behind fd, which the new handle takes over. */
static parx_arena *parx__shm_attach(int fd, int *err)
{
    parx__shm_header head;
    uint64_t size = 0;
    fd = parx__fd_above_stdio(fd);
    if (fd < 0) {
        *err = -errno;
        return NULL;
    }
    int rc = parx__shm_check(fd, &head, &size);
    if (rc != 0) {
        close(fd);
        *err = rc;
        return NULL;
    }
    parx_arena *a = (parx_arena *)calloc(1, sizeof *a);
    if (!a) {
        close(fd);
        *err = -ENOMEM;
        return NULL;
    }
    a->fd = fd;
    a->size = (size_t)size; /* checked: <= PARX__SHM_MAX_SIZE, which fits size_t */
    a->pid = getpid();
    a->base = parx__shm_map(fd, (size_t)size, head.base_hint, false, &a->same_address, &rc);
    if (!a->base) goto fail;
    /* acquire: pairs with create's release of the magic, so the header read
       through the mapping from here is the one create finished (the copy
       checked above came by pread, which orders nothing). The layout used
       from here on is the mapping's, so it must be the one checked. */
    parx__shm_header *mh = (parx__shm_header *)(void *)a->base;
    if (atomic_load_explicit(&mh->magic, memory_order_acquire) != PARX__SHM_MAGIC ||
        mh->size != head.size || mh->map_offset != head.map_offset ||
        mh->data_offset != head.data_offset || mh->npages != head.npages) {
        rc = PARX_E_NOT_ARENA;
        goto fail;
    }
    parx__shm_bind(a);
    if (head.name[0]) {
        memcpy(a->name, head.name, sizeof a->name);
        a->name[sizeof a->name - 1] = '\0';
        if ((rc = parx__shm_register(a)) != 0) goto fail;
    }
    return a;

fail:
    parx__shm_free_handle(a);
    *err = rc;
    return NULL;
}

/* `unlinked` once the name is gone: no process id (an entry of the table
   of processes) is all ones. */
#define PARX__SHM_UNLINKED UINT64_MAX

PARX_API parx_arena *parx_arena_open(const char *name, int *err)
{
    int dummy;
    if (!err) err = &dummy;
    if (!parx__shm_valid_name(name)) {
        *err = -EINVAL;
        return NULL;
    }
    int fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) {
        *err = -errno;
        return NULL;
    }
    parx_arena *a = parx__shm_attach(fd, err);
    if (!a || !a->registered) return a;
    /* In the table now. The last of the others may have closed meanwhile
       and be removing the name, or be done: then we back out, as if we had
       come after it, and close as it does (see parx__shm_remove_if_last).
       A dead process's claim is no removal under way, unless it removed
       the name before it died (and before it could say so): then our
       segment has no link left. seq_cst: ordered after our entry, against
       that closer's claim and second scan. */
    uint64_t u = atomic_load_explicit(&a->hdr->unlinked, memory_order_seq_cst);
    if (u == 0) return a;
    struct stat st;
    if (u != PARX__SHM_UNLINKED && !parx__shm_alive(u) &&
        (fstat(a->fd, &st) != 0 || st.st_nlink > 0))
        return a;
    parx_arena_close(a);
    *err = -ENOENT;
    return NULL;
}

PARX_API parx_arena *parx_arena_from_fd(int fd, int *err)
{
    int dummy;
    if (!err) err = &dummy;
    int own = fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 3); /* above stdio, as every arena's */
    if (own < 0) {
        *err = fd < 0 ? -EBADF : -errno; /* EBADF, or EMFILE: out of descriptors */
        return NULL;
    }
    return parx__shm_attach(own, err);
}

/* The name is removed once, and only while it still names this segment, so
   a newer arena created under the same name afterwards is never removed by
   the old one's users. One closer or unlinker at a time does it: the one
   that put its process id in the header's `unlinked` field (its claim),
   which says PARX__SHM_UNLINKED once the name is gone. A process that finds
   the id of a dead one there (killed on the way) takes over; a flag set for
   good before the work kept the name for good when its setter died before
   removing it (every later close and unlink took the name for gone).
   Nobody waits for anybody: a live unlinker, even one stopped, is left to
   finish.

   The claim: true if `me` now holds it; false if the name is gone, or a
   live process is removing it. seq_cst, as every access to the field: a
   last closer's claim and its second look at the table are ordered against
   an opener's entry and its look at the field (parx__shm_remove_if_last).
   A closer passes the id it had in the table, so that it makes no system
   call between leaving the table and its claim (tests/shm.c stops a
   closing creator at each one and opens and closes the arena meanwhile). */
static bool parx__shm_claim(parx__shm_header *h, uint64_t me)
{
    uint64_t cur = 0;
    while (!atomic_compare_exchange_strong_explicit(&h->unlinked, &cur, me, memory_order_seq_cst,
                                                    memory_order_seq_cst)) {
        if (cur == PARX__SHM_UNLINKED || parx__shm_alive(cur)) return false;
        /* its unlinker died before it finished: the CAS takes over from it */
    }
    return true;
}

/* Remove the name, the claim held, and give the claim up: the field says
   PARX__SHM_UNLINKED once the name is gone, else 0 again, for the next
   closer or unlinker (an unlink that failed, -EACCES say). Gone is what
   our own segment says (no link left), so that a process whose /dev/shm is
   another (a mount namespace, a chroot, where the name's path shows nothing
   or another file) never takes a name it cannot see for gone: it leaves it,
   -ENOENT, to a process that sees it. The name is looked at by its path,
   where shm_open keeps it, not opened: that takes no descriptor, so a
   process out of them (EMFILE) still removes it, as the one elected must. */
static int parx__shm_remove_name(parx_arena *a)
{
    char path[sizeof PARX__SHM_DIR + sizeof a->name];
    snprintf(path, sizeof path, PARX__SHM_DIR "%s", a->name);
    struct stat mine, theirs;
    bool gone = false;
    int rc;
    if (fstat(a->fd, &mine) != 0) {
        rc = -errno;
    } else if (mine.st_nlink == 0) { /* removed, and maybe another segment's now */
        rc = -ENOENT;
        gone = true;
    } else if (stat(path, &theirs) != 0 || mine.st_ino != theirs.st_ino ||
               mine.st_dev != theirs.st_dev) {
        rc = -ENOENT; /* out of our sight */
    } else {
        rc = shm_unlink(a->name) == 0 ? 0 : -errno;
        gone = rc == 0 || rc == -ENOENT;
    }
    /* seq_cst: as every access to the field (parx__shm_claim) */
    atomic_store_explicit(&a->hdr->unlinked, gone ? PARX__SHM_UNLINKED : 0, memory_order_seq_cst);
    return rc;
}

/* Whether this process can remove the name, asked by a closer before it
   leaves the table: the name shows this segment here (else our /dev/shm
   is another: a mount namespace, a chroot), and /dev/shm lets us remove it
   (writable, and where it is sticky, as it is, ours or the directory's, or
   we are root). One that cannot takes no claim: a claim it then gave back
   would have turned away a last closer that could, and the name would stay
   with every user gone. A name gone already counts as removable: the claim
   marks it so (parx__shm_remove_name). Where it cannot be told (fstat
   fails), as before: the claim decides. */
static bool parx__shm_can_remove(parx_arena *a)
{
    char path[sizeof PARX__SHM_DIR + sizeof a->name];
    snprintf(path, sizeof path, PARX__SHM_DIR "%s", a->name);
    struct stat mine, theirs, dir;
    if (fstat(a->fd, &mine) != 0 || mine.st_nlink == 0) return true;
    if (stat(path, &theirs) != 0 || mine.st_ino != theirs.st_ino || mine.st_dev != theirs.st_dev)
        return false;
    if (faccessat(AT_FDCWD, PARX__SHM_DIR, W_OK | X_OK, AT_EACCESS) != 0) return false;
    uid_t me = geteuid();
    return stat(PARX__SHM_DIR, &dir) != 0 || !(dir.st_mode & S_ISVTX) || me == 0 ||
           me == theirs.st_uid || me == dir.st_uid;
}

/* A closer that has left the table: remove the name if no live process is
   in it, and if it can (`can`, looked at before it left). An opener that
   attaches meanwhile puts its entry in the table, then looks at the field
   (parx_arena_open); we claim, then look at the table again. All seq_cst,
   so one of us sees the other: we back off and leave the name to it, or it
   backs out of its open (-ENOENT) and closes as we do. The loop is for
   that last case: an opener that saw our claim, left, and found it still
   held, counts on us to look again. */
static void parx__shm_remove_if_last(parx_arena *a, uint64_t me, bool can)
{
    for (;;) {
        if (!can || parx__shm_others_alive(a) || !parx__shm_claim(a->hdr, me)) return;
        if (!parx__shm_others_alive(a)) {
            parx__shm_remove_name(a);
            return;
        }
        /* back off; seq_cst: ordered before our next look at the table, against
           the opener's leaving it (an opener that saw the claim) */
        atomic_store_explicit(&a->hdr->unlinked, 0, memory_order_seq_cst);
    }
}

PARX_API void parx_arena_close(parx_arena *a)
{
    if (!a) return;
    /* Only the process that attached the handle speaks for it; a forked
       child closing an inherited handle just unmaps. */
    if (a->registered && getpid() == a->pid) {
        /* asked first: between leaving the table and the claim, no system
           call (see parx__shm_claim) */
        bool can = parx__shm_can_remove(a);
        parx__shm_deregister(a);
        parx__shm_remove_if_last(a, a->me, can); /* the last one out removes the name */
    }
    parx__shm_free_handle(a);
}

PARX_API int parx_arena_unlink(parx_arena *a)
{
    if (!a || !a->name[0]) return -EINVAL;
    return parx__shm_claim(a->hdr, parx__shm_self_id()) ? parx__shm_remove_name(a) : -ENOENT;
}

/* -------------------------------------------------------------------------- */
/* >>shm-access: offsets, accessors, statistics, descriptor passing           */
/* -------------------------------------------------------------------------- */

PARX_API uint64_t parx_arena_offset(const parx_arena *a, const void *ptr)
{
    if (!a || !ptr) return PARX_ARENA_NO_OFFSET;
    uintptr_t p = (uintptr_t)ptr, b = (uintptr_t)a->base;
    return p >= b && p - b < a->size ? (uint64_t)(p - b) : PARX_ARENA_NO_OFFSET;
}

PARX_API void *parx_arena_ptr(const parx_arena *a, uint64_t offset)
{
    if (a && offset < a->size) return a->base + offset;
    errno = EINVAL;
    return NULL;
}

PARX_API int parx_arena_fd(const parx_arena *a) { return a ? a->fd : -EINVAL; }
PARX_API const char *parx_arena_name(const parx_arena *a)
{
    if (a) return a->name[0] ? a->name : NULL;
    errno = EINVAL;
    return NULL;
}
PARX_API void *parx_arena_base(const parx_arena *a)
{
    if (a) return a->base;
    errno = EINVAL;
    return NULL;
}
PARX_API size_t parx_arena_size(const parx_arena *a) { return a ? a->size : 0; }
PARX_API bool parx_arena_same_address(const parx_arena *a) { return a && a->same_address; }

PARX_API int parx_arena_stats(const parx_arena *a, parx_arena_usage *out)
{
    if (!a || !out) return -EINVAL;
    parx__shm_header *h = a->hdr;
    memset(out, 0, sizeof *out);
    out->size = a->size;
    out->capacity = a->npages * PARX__SHM_PAGE;
    /* relaxed, throughout but for each list's head: statistics, documented
       as a snapshot. Live small blocks are counted rather than tracked, to
       keep alloc and free at one CAS each: the blocks carved from each
       class's spans, less those on its free lists. The walk checks every
       link, so lists changing under it can make the count inexact but never
       make it wander off the arena. */
    out->used = atomic_load_explicit(&h->large, memory_order_relaxed) * PARX__SHM_PAGE;
    for (unsigned c = 0; c < PARX__SHM_CLASSES; c++) {
        size_t bsize = parx__shm_class_size(c);
        uint64_t carved = atomic_load_explicit(&h->spans[c], memory_order_relaxed) *
                          (PARX__SHM_SPAN_PAGES * PARX__SHM_PAGE / bsize);
        /* no more free blocks than were carved (a cycle in a scribbled-on
           list stops there), nor than the data pages could hold */
        uint64_t limit = a->npages * PARX__SHM_PAGE / bsize;
        if (carved < limit) limit = carved;
        uint64_t top = a->size - bsize, idle = 0;
        for (int s = 0; s < PARX__SHM_SHARDS; s++) {
            /* acquire: pairs with the release CAS of the pushes, as in pop,
               so the links walked are the ones their pushers wrote */
            uint64_t off = (atomic_load_explicit(&h->shards[s].head[c], memory_order_acquire) &
                            PARX__SHM_OFF_MASK) << 4;
            PARX__SHM_SPECULATE_BEGIN();
            while (off >= a->data_offset && off <= top && idle < limit) {
                idle++;
                off = (atomic_load_explicit(parx__shm_link(a, off), memory_order_relaxed) &
                       PARX__SHM_OFF_MASK) << 4;
            }
            PARX__SHM_SPECULATE_END();
        }
        out->used += idle < carved ? (carved - idle) * bsize : 0;
    }
    out->reserved = atomic_load_explicit(&h->reserved, memory_order_relaxed) * PARX__SHM_PAGE;
    out->high_water = atomic_load_explicit(&h->high_water, memory_order_relaxed) * PARX__SHM_PAGE;
    if (out->high_water < out->reserved) /* read between a take's two updates */
        out->high_water = out->reserved;
    out->free = out->capacity - out->reserved;
    if (a->name[0])
        for (int i = 0; i < PARX__SHM_PROCS; i++)
            out->processes += atomic_load_explicit(&h->procs[i], memory_order_relaxed) != 0;
    return 0;
}

PARX_API int parx_arena_send(int sock, const parx_arena *a)
{
    if (!a || sock < 0) return -EINVAL;
    char byte = 'A';
    struct iovec iov = {&byte, 1};
    union { /* aligned room for one descriptor */
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.buf;
    msg.msg_controllen = sizeof ctl.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &a->fd, sizeof(int));
    ssize_t n;
    do n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : -errno;
}

/* SCM_PIDFD (Linux 6.5), which older headers lack */
#define PARX__SCM_PIDFD 4

PARX_API parx_arena *parx_arena_recv(int sock, int *err)
{
    int dummy;
    if (!err) err = &dummy;
    char byte;
    struct iovec iov = {&byte, 1};
    /* Room for a few descriptors (a sender that sent more is refused, and
       the kernel closes any that did not fit), and for what the kernel adds
       on a socket that asks for it, ahead of them: SO_PASSCRED's
       credentials, SO_PASSPIDFD's pidfd, SO_PASSSEC's security label. Short
       of room, the kernel would drop the arena's descriptor. */
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(8 * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred)) +
                 CMSG_SPACE(sizeof(int)) + CMSG_SPACE(256)];
    } ctl;
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.buf;
    msg.msg_controllen = sizeof ctl.buf;
    ssize_t n;
    do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        *err = -errno;
        return NULL;
    }
    /* Exactly one descriptor, or none is kept: every one received is ours
       to close, SO_PASSPIDFD's pidfd too (SCM_PIDFD, Linux 6.5). n == 0 is
       the end of the stream, or, on a seqpacket or datagram socket, a
       message of no bytes, which can carry descriptors too: they are looked
       at either way. */
    int fd = -1, count = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET) continue;
        if (c->cmsg_type == PARX__SCM_PIDFD && c->cmsg_len == CMSG_LEN(sizeof(int))) {
            int pidfd;
            memcpy(&pidfd, CMSG_DATA(c), sizeof pidfd);
            close(pidfd);
            continue;
        }
        if (c->cmsg_type != SCM_RIGHTS) continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++, count++) {
            int got;
            memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
            if (count == 0) fd = got;
            else close(got);
        }
    }
    if (count != 1 || (msg.msg_flags & MSG_CTRUNC)) {
        if (fd >= 0) close(fd);
        *err = n == 0 && count == 0 && !(msg.msg_flags & MSG_CTRUNC) ? -ECONNRESET : -EBADMSG;
        return NULL;
    }
    return parx__shm_attach(fd, err); /* takes fd over: closed on failure too */
}

#endif /* PARX_SHM_IMPLEMENTATION_INCLUDED */
#endif /* PARX_IMPLEMENTATION || PARX_SHM_IMPLEMENTATION */

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
