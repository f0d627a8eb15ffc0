/* SPDX-License-Identifier: MIT */
/*
    parx_gpu.h -- Vulkan compute with resident buffers, batched dispatch and
    a CPU fallback.                                                version 0.1.0

    One small C API over Vulkan compute, portable across NVIDIA, AMD, Intel
    and software drivers, whose defaults avoid the two traps that make GPU
    ports slow: copying data between host and device around every kernel, and
    paying a launch (submit + wait) for every tiny kernel. Buffers stay on the
    device between dispatches and are copied only when asked; dispatches are
    recorded into one command buffer and submitted together. Where there is
    no Vulkan loader or device, parx_gpu_open says so (-ENODEV) and
    parx_gpu_run runs the same job on the CPU, so a program writes its
    fallback once.

    Do this
    =======
    In exactly ONE C file:

        #define _GNU_SOURCE
        #define PARX_GPU_IMPLEMENTATION    // or PARX_IMPLEMENTATION: every parx header
        #include "parx_gpu.h"

    and compile every file with -DPARX_GPU_VULKAN to get the Vulkan backend
    (it needs the Vulkan headers, Debian: libvulkan-dev, at build time only;
    nothing is linked: libvulkan.so.1 is loaded with dlopen at run time, so
    link with -ldl on glibc older than 2.34). Without PARX_GPU_VULKAN the
    header compiles a dummy backend that reports "no device".

    Configuration macros
    ====================
    | macro                   | default   | effect                                          |
    |-------------------------|-----------|-------------------------------------------------|
    | PARX_GPU_IMPLEMENTATION | undefined | emit this header's definitions here             |
    | PARX_IMPLEMENTATION     | undefined | emit every parx header's definitions here       |
    | PARX_GPU_VULKAN         | undefined | the Vulkan backend (else: dummy, no device)     |
    | PARX_STATIC             | undefined | make every parx function `static`               |
    | PARX_ASSERT(c)          | assert(c) | check for misuse that is cheap to detect        |
    | PARX_GPU_SLOTS          | 3         | batches in flight at once (command buffers)     |
    | PARX_GPU_MAX_BINDINGS   | 16        | storage buffers one kernel may bind (at most;   |
    |                         |           | the device may allow fewer: info.max_buffers)   |
    | PARX_GPU_STAGING_MAX    | 64 MiB    | largest staging buffer of a batch (bigger copies |
    |                         |           | go in pieces; a mirror's own twins: chunk size) |
    | PARX_GPU_TEST_HOOKS     | undefined | tests only: parx__gpu_test_inject, _open, _enum |

    Environment: PARX_GPU_DEVICE = auto | discrete | integrated | virtual | cpu
    | <index> chooses the device when the desc leaves it at PARX_GPU_DEVICE_AUTO.

    A tour
    ======
    1. Open:     parx_gpu *g = parx_gpu_open(NULL, &err);   // NULL + -ENODEV: use the CPU
    2. Buffers:  parx_gpu_buffer *x = parx_gpu_buffer_create(g, n * 4, 0, &err);
                 parx_gpu_upload(g, x, 0, host_x, n * 4);   // once, not per step
    3. Kernel:   parx_gpu_kernel *k = parx_gpu_kernel_create(g, parx_gpu_spv_saxpy,
                                          sizeof parx_gpu_spv_saxpy, NULL, &err);
    4. Dispatch: parx_gpu_dispatch(g, k, bufs, 2, &push, sizeof push, groups, 1, 1);
                 ... as many as you like: they are recorded, not run yet ...
    5. Run:      parx_gpu_sync(g);                          // one submit, one wait
                 parx_gpu_download(g, y, 0, host_y, n * 4);
    6. Or let parx choose: parx_gpu_run(g, pool, &job) records the job on the
       GPU when g is open and runs job.cpu on the pool (parx_for) otherwise.
    examples/08_gpu_saxpy.c (the fallback) and examples/09_gpu_kde.c (a whole
    time loop resident on the device: two transfers in all) show both.

    >>vulkan-loading
    Like miniaudio, the Vulkan backend takes no link-time dependency: it
    dlopens libvulkan.so.1 (then libvulkan.so), gets vkGetInstanceProcAddr,
    loads the instance's entry points through it and the device's through
    vkGetDeviceProcAddr. No loader, no ICD, or no usable device:
    parx_gpu_open returns NULL with -ENODEV. The instance
    enables VK_KHR_portability_enumeration where the loader has it (so
    MoltenVK-style drivers are listed) and VK_EXT_debug_utils where present,
    with a messenger that counts validation messages (parx_gpu_info's
    validation_messages; tests require 0) and forwards them to the log hook.

    >>device-choice
    Automatic choice: discrete > integrated > virtual GPU, the first of the
    best type. A CPU implementation (Mesa lavapipe, SwiftShader) is never
    chosen automatically, because plain C on the same cores is faster; it is
    used only when asked for: desc.device = PARX_GPU_DEVICE_CPU or
    PARX_GPU_DEVICE=cpu in the environment (how the tests and CI use Mesa's
    lavapipe).

    >>buffers
    A buffer lives in device memory until destroyed. Copies happen only in
    parx_gpu_upload / parx_gpu_download, in order with the dispatches around
    them. Where device memory is also host-visible (integrated GPUs,
    lavapipe, a discrete GPU with resizable BAR) they are a memcpy, once
    the batches in flight are done with the buffer; but an upload into a
    buffer that the batch being recorded uses goes through a staging buffer
    and a copy command among its commands, and a download from one submits
    that batch and waits first. Other device memory always goes through a
    staging buffer and copy commands recorded into the batch (desc.staging
    forces that path for every device buffer). A discrete GPU's 256 MiB BAR
    window is never used for buffers: it would cap their size.
    parx_gpu_buffer_import wraps existing host memory (malloc'ed, mmap'ed, a
    parx_shm.h arena block) with VK_EXT_external_memory_host: the device reads
    and writes the host's pages, no copy at all. Whether a driver accepts a
    given pointer is found out by really importing it (the enclosing pages,
    at minImportedHostPointerAlignment); where it refuses, the buffer is a
    device copy "mirrored" from the host memory: copied in when a batch first
    uses it and copied back when that batch completes (unless every dispatch
    of the batch bound it read-only, in parx_gpu_kernel_desc.readonly_mask:
    then nothing changed it). Either way the host
    memory holds the results after parx_gpu_sync, and the host must not
    touch it between the first dispatch that uses it and that sync. Import
    a range of host memory once: two imports whose ranges overlap are two
    buffers to parx, their barriers and mirror copies not ordered against
    each other's, so a dispatch that reads through one may miss what another
    dispatch of the batch wrote through the other.
    Upload and download of an imported buffer (either kind) are a memcpy of
    the host memory once the buffer is idle: when the batch being recorded
    uses it, that batch is submitted and waited for first (a round trip).
    Chunking: no binding (descriptor range) exceeds the device's
    maxStorageBufferRange, and no allocation parx makes exceeds its
    maxMemoryAllocationSize (an import's VkBuffer spans the pages around its
    chunk, up to two import alignments more: chunk_bytes leaves room for
    them where that limit is what caps it); a larger buffer is made of
    chunks of parx_gpu_info.chunk_bytes, uploaded and downloaded as one, and
    bound chunk by chunk (parx_gpu_buffer_chunk; parx_gpu_run does it for you).

    >>batching
    Dispatches, uploads and downloads are recorded into the current command
    buffer ("batch"); parx_gpu_sync submits it and waits, parx_gpu_submit
    submits it and returns a ticket to parx_gpu_wait on later, and a batch
    that reaches desc.batch_limit dispatches is submitted on its own (without
    waiting) so that a long loop keeps the device busy. Up to PARX_GPU_SLOTS
    batches are in flight; recording a new one waits for the oldest.
    Barriers: parx tracks, per buffer chunk, the last read and write since
    the last barrier, and records a global memory barrier only before a
    command that reads what an earlier one wrote or writes what an earlier
    one used (a kernel's bindings count as written unless its
    desc.readonly_mask says otherwise): one barrier at most per command,
    however many of its bindings conflict, after the stages that read or
    wrote since the last barrier and before everything after it
    (parx_gpu_info.barriers counts them, and each batch's opening one).
    Independent dispatches run back to back with no barrier between them,
    and a dispatch that binds one buffer twice needs none for that.
    Chunks count apart: the dispatches of parx_gpu_run over chunked buffers
    (each binds one chunk of each) need no barrier between them, while an
    upload or a download counts as touching every chunk of its buffer. Nor
    do the dispatches a run is cut into where it passes the device's group
    count: their items are disjoint (the pieces of one upload likewise).
    Each batch starts with one barrier against the batches before it and ends
    with one that makes its writes visible to the host.
    Every fence wait is bounded by desc.timeout_ns (parx_gpu_wait: by its
    own argument) (-ETIMEDOUT; the batch stays in flight and can be waited
    for again), but two: freeing a buffer or kernel that a batch still uses,
    and parx_gpu_close, wait past that bound without limit (see
    parx_gpu_buffer_destroy), as the device must be done with memory before
    it is freed. A batch the driver fails to end or submit, or that parx has
    no memory to finish (-ENOMEM, -EIO from the call that submits it; from
    the next sync or submit where a destroy submitted it), is dropped
    whole: none of its work runs (its staged uploads included), its
    downloads write nothing and mirrored imports keep their host bytes.
    VK_ERROR_DEVICE_LOST gives PARX_E_DEVICE_LOST from then on: the
    device's buffers are gone, and the caller reruns its work on the CPU.
    (No driver loses a device on request: tests/gpu_lost.c injects these
    results with PARX_GPU_TEST_HOOKS.)
    A device belongs to the process that opened it: fork() copies neither
    the driver's threads nor its claim on the device. In a child, every
    call on the parent's device, its buffers or its kernels that would
    reach the driver returns -EPERM (the creates: NULL with *err -EPERM),
    and parx_gpu_buffer_destroy, parx_gpu_kernel_destroy and parx_gpu_close
    do nothing: the child's copy of them, parx's memory and the driver's,
    goes when the child exits or execs. The parent's device is untouched.
    A child opens a device of its own. (fork() only: a child of _Fork() or
    a raw clone runs no pthread_atfork handler and is not told apart.)

    >>kernels
    A kernel is a GLSL/HLSL compute shader compiled to SPIR-V (glslc), given
    as 32-bit words. Drivers do not validate SPIR-V, and a malformed module
    can crash them, so parx checks it first: size a non-zero multiple of 4,
    aligned words, the magic number, a version it knows, an id bound that is
    not 0 nor more than the module's size allows (4 ids a word, or 2^16),
    every instruction's length inside the module, a GLCompute entry point of
    the requested name that names a function of the module (an id under the
    bound: lavapipe crashes on one that does not), and a last instruction
    that ends a function (which a truncated module lacks). A module that
    fails gives PARX_E_BAD_SPIRV. The storage-buffer bindings (set 0) and
    whether push constants are used are read from the module too, and every
    descriptor must be a storage buffer in set 0, since that is all parx
    binds (a uniform buffer, an image, a sampler, an array of descriptors or
    another set: PARX_E_BAD_SPIRV).
    Decorations applied through decoration groups (OpDecorationGroup,
    OpGroupDecorate, OpGroupMemberDecorate: deprecated since SPIR-V 1.5,
    never emitted by glslc) are not read: a module that uses them is
    refused (PARX_E_BAD_SPIRV). Specialisation constants (desc.spec, ids
    0..n-1) fix values at pipeline creation. The local size x that
    parx_gpu_run uses is the one the pipeline really has: the constant
    decorated BuiltIn WorkgroupSize if any, else the LocalSizeId execution
    mode, else LocalSize, with specialisation constants (local_size_x_id)
    taking desc.spec's value where given and their default otherwise; a
    size parx cannot tell (one computed by OpSpecConstantOp) makes
    parx_gpu_kernel_local_size 0, and parx_gpu_run then needs
    job.items_per_group (-ENOTSUP without). A local size (x, y, z read the
    same way) over the device's maxComputeWorkGroupSize or
    maxComputeWorkGroupInvocations is -EINVAL, where parx can tell it; so
    is a push-constant range (desc.push_bytes, default 128) that does not
    cover the module's push-constant block, whose size parx reads from its
    explicit layout (Offset, ArrayStride) where it can.
    Pipelines go through one
    VkPipelineCache, which desc.pipeline_cache_path loads at open and saves
    (atomically: a temporary file of the call's own, then rename) at close
    and on parx_gpu_cache_save, so a second start of the program skips
    compilation where the driver caches; a cache file from another device or
    driver is ignored.

    >>run
    parx_gpu_run(g, pool, job) is the write-it-once helper. With g open it
    records job.kernel over items [0, job.n) and returns 0; with g NULL (no
    device) or no kernel it runs job.cpu(job.ctx, begin, end) over [0, n) with
    parx_for on the pool (when the program links parx.h's implementation) or
    on the calling thread, and returns 1. Kernel contract: push constants begin
    with the header struct { uint first, offset, count, pad; } followed by
    job.push; invocation i (global x) of a dispatch handles item first + i
    when i < count, found at index offset + i of each buffer bound by chunk
    (offset == first when no buffer is chunked). Dispatches are split so that
    none exceeds maxComputeWorkGroupCount or straddles a chunk; with chunked
    buffers, job.item_bytes must divide info.chunk_bytes (so that chunk c
    starts at item c * chunk_bytes / item_bytes) and the items of a chunk
    must be whole groups (-EINVAL otherwise). A job is checked whole before
    its first dispatch is recorded. A binding the kernel indexes by item
    rather than by offset is bound whole: name it in the kernel's
    desc.whole_mask, and a buffer there must fit in one chunk
    (info.chunk_bytes; -E2BIG otherwise: without the mask, its first chunk
    would be bound, and what lies past it lost with no error). Of the
    built-in kernels (parx_gpu_kernels.h), saxpy follows this contract as
    it is; sum adds 512 items per group of 256 invocations, so it needs
    job.items_per_group = 512 (with the default, its local size, the
    pieces of a large n and its partial sums fall in the wrong places);
    drift's state buffer and kde's particle buffer (binding 0 of each) are
    bound whole: create them with .whole_mask = 1.
*/
#ifndef PARX_GPU_H_INCLUDED
#define PARX_GPU_H_INCLUDED

/* ===== The whole public API on one screen =====================================

   const char *parx_strerror(int code);                (>>common, in every parx header)
   void        parx_set_log(parx_log_fn fn, void *user);

   parx_gpu *parx_gpu_open(const parx_gpu_desc *desc, int *err);   -ENODEV: CPU path
   void      parx_gpu_close(parx_gpu *g);
   int       parx_gpu_query(const parx_gpu *g, parx_gpu_info *out);
   int       parx_gpu_cache_save(parx_gpu *g);

   parx_gpu_buffer *parx_gpu_buffer_create(parx_gpu *g, size_t size, unsigned flags, int *err);
   parx_gpu_buffer *parx_gpu_buffer_import(parx_gpu *g, void *host, size_t size, int *err);
   void             parx_gpu_buffer_destroy(parx_gpu_buffer *b);
   size_t           parx_gpu_buffer_size(const parx_gpu_buffer *b);
   int              parx_gpu_buffer_imported(const parx_gpu_buffer *b);  1 zero-copy, 0 mirrored
   size_t           parx_gpu_buffer_chunks(const parx_gpu_buffer *b);
   parx_gpu_buffer *parx_gpu_buffer_chunk(parx_gpu_buffer *b, size_t i);
   int parx_gpu_upload(parx_gpu *g, parx_gpu_buffer *b, size_t offset, const void *src, size_t n);
   int parx_gpu_download(parx_gpu *g, parx_gpu_buffer *b, size_t offset, void *dst, size_t n);

   parx_gpu_kernel *parx_gpu_kernel_create(parx_gpu *g, const uint32_t *spirv, size_t bytes,
                                           const parx_gpu_kernel_desc *desc, int *err);
   void             parx_gpu_kernel_destroy(parx_gpu_kernel *k);
   uint32_t         parx_gpu_kernel_local_size(const parx_gpu_kernel *k);
   int parx_gpu_dispatch(parx_gpu *g, parx_gpu_kernel *k, parx_gpu_buffer **bufs, size_t nbufs,
                         const void *push, size_t push_size, uint32_t gx, uint32_t gy, uint32_t gz);
   int parx_gpu_sync(parx_gpu *g);                              submit + wait
   int parx_gpu_submit(parx_gpu *g, uint64_t *ticket);          submit, do not wait
   int parx_gpu_wait(parx_gpu *g, uint64_t ticket, uint64_t timeout_ns);
   int parx_gpu_dispatch_latency(parx_gpu *g, double *ns);     one tiny dispatch + sync

   int parx_gpu_run(parx_gpu *g, parx_pool *pool, const parx_gpu_job *job);  0 GPU, 1 CPU
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

/* ===== Types ============================================================== */

typedef struct parx_gpu parx_gpu;               /* an open device (one queue) */
typedef struct parx_gpu_buffer parx_gpu_buffer; /* a resident or imported buffer */
typedef struct parx_gpu_kernel parx_gpu_kernel; /* a compute pipeline */

/* The same typedefs as parx.h's (a repeated identical typedef is valid C11),
   so parx_gpu_run can name a pool without needing parx.h. */
typedef struct parx_pool parx_pool;
typedef void (*parx_range_fn)(void *ctx, size_t begin, size_t end);

typedef enum parx_gpu_device_kind {
    PARX_GPU_DEVICE_AUTO = 0,   /* discrete > integrated > virtual; never a CPU device.
                                   The environment variable PARX_GPU_DEVICE may override it. */
    PARX_GPU_DEVICE_DISCRETE,
    PARX_GPU_DEVICE_INTEGRATED,
    PARX_GPU_DEVICE_VIRTUAL,
    PARX_GPU_DEVICE_CPU,        /* a CPU implementation (lavapipe): only when asked for */
    PARX_GPU_DEVICE_OTHER
} parx_gpu_device_kind;

typedef struct parx_gpu_desc {
    parx_gpu_device_kind device; /* which kind of device (default AUTO, see >>device-choice) */
    uint32_t batch_limit;        /* dispatches per batch before it is submitted on its own
                                    (default 256) */
    uint64_t timeout_ns;         /* bound on fence waits (default 10 s); -ETIMEDOUT past it.
                                    UINT64_MAX: no bound. Not for parx_gpu_wait (its own
                                    argument) nor a destroy or close (see >>batching) */
    const char *pipeline_cache_path; /* load the pipeline cache from here at open, save it at
                                    close (default NULL: no file) */
    size_t max_chunk_bytes;      /* cap on one chunk of a buffer (default and upper bound:
                                    the device's limits), rounded down to a multiple of
                                    64 KiB and never under 64 KiB; tests use it to force
                                    chunking */
    bool validation;             /* enable VK_LAYER_KHRONOS_validation when installed (the
                                    environment's VK_INSTANCE_LAYERS works too) */
    bool staging;                /* never map device memory: every upload and download of a
                                    device buffer goes through a staging buffer and a copy
                                    command (imports: see >>buffers) */
    bool no_import;              /* never import host memory: buffer_import always mirrors */
} parx_gpu_desc;

typedef struct parx_gpu_info {
    char device_name[256];
    parx_gpu_device_kind kind;
    uint32_t vendor_id, device_id;
    uint32_t api_version;          /* VK_MAKE_API_VERSION packing */
    size_t chunk_bytes;            /* largest single buffer / binding parx makes */
    uint64_t max_storage_buffer_range, max_allocation_bytes;
    uint32_t max_groups[3];        /* maxComputeWorkGroupCount */
    uint32_t max_push_bytes;
    uint32_t max_buffers;          /* storage buffers one kernel may bind here: the least of
                                      PARX_GPU_MAX_BINDINGS and the device's per-stage and
                                      per-set limits */
    bool host_import;              /* importing host memory works here (probed at open) */
    bool host_mapped;              /* device memory is host-visible: idle copies are memcpy */
    bool pipeline_cache_loaded;    /* a cache file was found and accepted at open */
    uint64_t submits, dispatches, barriers, waits;
    uint64_t uploads, downloads;   /* parx_gpu_upload / parx_gpu_download calls */
    uint64_t bytes_up, bytes_down; /* bytes they moved (memcpy or copy command), plus the
                                      copies of mirrored imports */
    uint64_t validation_messages;  /* warnings and errors from a validation layer */
} parx_gpu_info;

/* buffer_create flags: none yet (0). Reserved for memory placement hints. */

typedef struct parx_gpu_kernel_desc {
    const char *entry;             /* entry point (default "main") */
    const uint32_t *spec;          /* values of specialisation constants 0..nspec-1 (32 bits each;
                                      a bool constant takes 0 or 1) */
    uint32_t nspec;                /* entries in .spec (at most 64) */
    uint32_t push_bytes;           /* push-constant range (default: 128 or the device limit,
                                      or the module's block where larger, when the module uses
                                      push constants, else 0); never less than the block */
    uint32_t buffers;              /* storage buffers bound (default: read from the module) */
    uint32_t readonly_mask;        /* bit i: binding i is only read (fewer barriers, and a
                                      mirrored import bound there is not copied back); bindings
                                      32 and up (PARX_GPU_MAX_BINDINGS raised) count as written */
    uint32_t whole_mask;           /* bit i: the kernel indexes binding i by item, not by the
                                      header's offset (>>run), so parx_gpu_run binds it whole
                                      and refuses a buffer of several chunks there (-E2BIG):
                                      drift's state buffer, kde's particle buffer */
} parx_gpu_kernel_desc;

/* parx_gpu_run's job; see >>run for the kernel contract. */
typedef struct parx_gpu_job {
    size_t n;                      /* items (< 2^32) */
    parx_gpu_kernel *kernel;       /* the GPU path (NULL: always the CPU path) */
    parx_gpu_buffer **bufs;        /* bound in order, buffers with several chunks chunk by chunk */
    size_t nbufs;                  /* entries in .bufs: the kernel's bindings */
    const void *push;              /* push constants after the 16-byte header (may be NULL) */
    size_t push_size;              /* bytes at .push (a multiple of 4) */
    uint32_t items_per_group;      /* items one workgroup handles (default: the kernel's
                                      local size x) */
    size_t item_bytes;             /* bytes per item in chunked buffers (default 4) */
    parx_range_fn cpu;             /* the CPU path: cpu(ctx, begin, end) over [0, n) */
    void *ctx;                     /* passed to .cpu */
    size_t grain;                  /* parx_for grain for the CPU path (0: automatic) */
} parx_gpu_job;

/* The header every parx_gpu_run dispatch pushes first (std430 layout). */
typedef struct parx_gpu_push_header {
    uint32_t first, offset, count, pad;
} parx_gpu_push_header;

/* ===== Device ============================================================= */

/* parx_gpu_open: load Vulkan, choose a device (>>device-choice), create its
   queue, command buffers and pipeline cache.
   desc: NULL or {0} for defaults.
   Returns the device, or NULL with *err (err may be NULL): -ENODEV (no
   loader, no driver, no device of the kind asked for, a build without
   PARX_GPU_VULKAN, or a statically linked program: take the CPU path),
   -EINVAL (desc.device is not a parx_gpu_device_kind), -ENOMEM, -EIO (any
   other driver error, a device lost while it was made included).
   The device belongs to this process: see >>batching for a fork() child.
   Thread safety: any thread. The returned handle, and everything created
   from it, is used by one thread at a time (the caller serialises), like a
   Vulkan queue. */
PARX_API parx_gpu *parx_gpu_open(const parx_gpu_desc *desc, int *err);

/* parx_gpu_close: submit what was recorded and wait for it (parx_gpu_sync,
   bounded by the timeout; past it, a warning, and the wait goes on without
   bound, so that mirrored imports still get their results), save the
   pipeline cache if a path was given, then wait for the device to be idle
   (vkDeviceWaitIdle: not bounded, so that nothing is freed while the
   device may still use it), destroy every
   buffer and kernel still alive, and release the device. NULL is ignored,
   and so is a device opened by the parent of this fork() child (see
   >>batching).
   Thread safety: the thread that owns g; no other call on g may be running. */
PARX_API void parx_gpu_close(parx_gpu *g);

/* parx_gpu_query: fill *out with the device's name, kind, limits and
   counters. Returns 0, -EINVAL (NULL), -ENODEV (dummy backend).
   Thread safety: the thread that owns g. */
PARX_API int parx_gpu_query(const parx_gpu *g, parx_gpu_info *out);

/* parx_gpu_cache_save: write the pipeline cache to desc.pipeline_cache_path
   now, atomically: into a temporary file of its own beside it
   ("<path>.tmp.<pid>.<n>", created exclusively, mode 0666 less the umask),
   then renamed over it, so devices saving the same path at once (other
   threads, other processes) each leave a whole file.
   Returns 0, -EINVAL (g NULL, or no path), -ENOTSUP (the driver gave the
   device no pipeline cache), -ENOMEM, -ENAMETOOLONG (path too long for the
   temporary name), -EIO (a write that wrote nothing, or a driver error), the
   negative errno of the failed open, write, close or rename (e.g. -EACCES,
   -ENOSPC), PARX_E_DEVICE_LOST, -EPERM (a fork() child: >>batching), -ENODEV
   (dummy).
   Thread safety: the thread that owns g. */
PARX_API int parx_gpu_cache_save(parx_gpu *g);

/* ===== Buffers ============================================================ */

/* parx_gpu_buffer_create: `size` bytes of device memory (contents
   undefined), in chunks when size exceeds info.chunk_bytes (>>buffers).
   flags: 0. Returns the buffer or NULL with *err: -EINVAL (g NULL, size 0,
   unknown flags), -ENOMEM (more than the device heap, or the driver is out of
   memory), PARX_E_DEVICE_LOST, -EPERM (a fork() child: >>batching), -EIO
   (another driver error, e.g. memory the driver cannot map), -ENODEV (dummy).
   Thread safety: the thread that owns g. */
PARX_API parx_gpu_buffer *parx_gpu_buffer_create(parx_gpu *g, size_t size, unsigned flags,
                                                 int *err);

/* parx_gpu_buffer_import: use `size` bytes of host memory at `host` as a
   buffer: zero-copy where the driver accepts the pointer, else mirrored
   (>>buffers). The memory must stay valid until the buffer is destroyed; the
   host must leave it alone from the first dispatch using it to the sync
   that ends that batch. A parx_shm.h arena block works like any memory
   (allocate it page-aligned for the zero-copy path).
   Returns the buffer or NULL with *err: -EINVAL (g or host NULL, size 0,
   [host, host + size) wrapping around the address space), -ENOMEM,
   PARX_E_DEVICE_LOST, -EPERM (a fork() child: >>batching), -EIO (another
   driver error while making the mirror's device memory, as in
   parx_gpu_buffer_create), -ENODEV (dummy). Never fails because the driver
   refused the import.
   Thread safety: the thread that owns g. */
PARX_API parx_gpu_buffer *parx_gpu_buffer_import(parx_gpu *g, void *host, size_t size, int *err);

/* parx_gpu_buffer_destroy: wait until no batch uses the buffer (submitting
   the current one if it does), then free it. NULL is ignored. Where that
   cannot be known (a wait fails, the device not lost) its memory is freed
   by parx_gpu_close instead, never while in use. A zero-copy import
   (parx_gpu_buffer_imported 1) is then still the device's to read and
   write: keep the host memory until parx_gpu_close has returned. Chunk
   views are destroyed with their buffer, not on their own. A batch it
   submits and that is dropped (>>batching) has its error returned by the
   next parx_gpu_sync or parx_gpu_submit.
   Thread safety: the thread that owns the buffer's device. */
PARX_API void parx_gpu_buffer_destroy(parx_gpu_buffer *b);

/* parx_gpu_buffer_size: its size in bytes (0 for NULL). Thread safety: any. */
PARX_API size_t parx_gpu_buffer_size(const parx_gpu_buffer *b);

/* parx_gpu_buffer_imported: 1 for an imported buffer that shares the host's
   pages (zero-copy), 0 for a mirrored import or a device buffer, -EINVAL for
   NULL. Thread safety: any. */
PARX_API int parx_gpu_buffer_imported(const parx_gpu_buffer *b);

/* parx_gpu_buffer_chunks / parx_gpu_buffer_chunk: how many chunks the buffer
   has (1 unless it exceeds info.chunk_bytes; 0 for NULL), and a view of
   chunk i (bytes [i * chunk_bytes, ...)) that parx_gpu_dispatch can bind.
   A buffer with one chunk is its own chunk 0. The view belongs to the
   buffer. NULL with errno EINVAL when b is NULL or i is out of range.
   Thread safety: the thread that owns the device. */
PARX_API size_t parx_gpu_buffer_chunks(const parx_gpu_buffer *b);
PARX_API parx_gpu_buffer *parx_gpu_buffer_chunk(parx_gpu_buffer *b, size_t i);

/* parx_gpu_upload: copy n bytes from src to the buffer at offset, in order
   with the recorded work (a dispatch recorded before sees the old contents,
   one recorded after the new). src may be reused as soon as this returns.
   A host-mapped buffer that the current batch does not use is written
   with memcpy once the batches in flight are done with it; an imported
   one likewise, after submitting and waiting for the current batch if it
   uses it; else the bytes go through a staging buffer and a copy command
   in the current batch.
   Returns 0, -EINVAL (bounds, NULL, a buffer of another device), -ETIMEDOUT,
   -ENOMEM, PARX_E_DEVICE_LOST, -EPERM (a fork() child: >>batching), -EIO
   (another driver error), -ENODEV (dummy). On an error the buffer's bytes in
   the range are unspecified: an upload larger than the staging buffer, or into
   a buffer of several chunks, goes in pieces, and those recorded before the
   error stay recorded. Upload the range again.
   Thread safety: the thread that owns g. */
PARX_API int parx_gpu_upload(parx_gpu *g, parx_gpu_buffer *b, size_t offset, const void *src,
                             size_t n);

/* parx_gpu_download: copy n bytes of the buffer at offset into dst, after
   all the work recorded so far: it submits the current batch and waits
   (one round trip). A buffer the host can read directly (host-mapped,
   imported or mirrored) that the current batch does not use is a memcpy
   once its earlier batches are done, with no submit. Returns as
   parx_gpu_upload. On an error dst holds
   unspecified bytes (part of it may have been written before the error),
   and nothing writes to it once the call has returned: after -ETIMEDOUT
   the batches stay in flight, but this call's copy into dst is dropped
   (download again once parx_gpu_sync succeeds).
   Thread safety: the thread that owns g. */
PARX_API int parx_gpu_download(parx_gpu *g, parx_gpu_buffer *b, size_t offset, void *dst,
                               size_t n);

/* ===== Kernels and dispatch =============================================== */

/* parx_gpu_kernel_create: check the SPIR-V (>>kernels) and create a compute
   pipeline from it. spirv: 32-bit words, 4-byte aligned; bytes: their size.
   desc: NULL or {0} for defaults.
   Returns the kernel or NULL with *err: PARX_E_BAD_SPIRV (malformed,
   truncated, no such GLCompute entry point or two of that name, the
   push-constant block's pointer type defined twice, a descriptor that is not a
   storage buffer in set 0, more than 64 descriptors, a binding number of 1024
   or more, decoration groups: see >>kernels), -EINVAL (g NULL, nspec over 64
   or spec NULL, desc.buffers fewer than the module's bindings or more than
   info.max_buffers (PARX_GPU_MAX_BINDINGS, or the device's storage-buffer
   limits where lower), push_bytes not a multiple of 4, over the device limit
   or short of the module's push-constant block (a block over the device limit
   too), a local size (with desc.spec applied) over the device's
   maxComputeWorkGroupSize or maxComputeWorkGroupInvocations where parx can
   tell it), -ENOMEM, PARX_E_DEVICE_LOST, -EPERM (a fork() child: >>batching),
   -EIO (another driver error), -ENODEV (dummy).
   Thread safety: the thread that owns g. */
PARX_API parx_gpu_kernel *parx_gpu_kernel_create(parx_gpu *g, const uint32_t *spirv, size_t bytes,
                                                 const parx_gpu_kernel_desc *desc, int *err);

/* parx_gpu_kernel_destroy: wait until no batch uses it, then free it. NULL
   is ignored. Where that cannot be known (a wait fails, the device not
   lost) it is freed by parx_gpu_close instead, never while in use. A batch
   it submits and that is dropped: as parx_gpu_buffer_destroy.
   Thread safety: the thread that owns its device. */
PARX_API void parx_gpu_kernel_destroy(parx_gpu_kernel *k);

/* parx_gpu_kernel_local_size: the kernel's local size x as its pipeline
   has it (>>kernels): from the WorkgroupSize constant, LocalSizeId or
   LocalSize, specialisation constants resolved with desc.spec. 0 for NULL
   or when parx cannot tell (a size computed by OpSpecConstantOp, or none).
   Thread safety: any thread. */
PARX_API uint32_t parx_gpu_kernel_local_size(const parx_gpu_kernel *k);

/* parx_gpu_dispatch: record kernel k over gx * gy * gz workgroups with
   bufs[0..nbufs) bound to bindings 0..nbufs-1 of set 0 and push_size bytes
   of push constants. Recorded, not run: it runs at the next sync, submit or
   when the batch reaches desc.batch_limit (then it is submitted on its own).
   A zero group count records nothing.
   Returns 0, -EINVAL (g or k NULL, k or a buffer of another device, nbufs
   differs from the kernel's, bufs or a buffer NULL, push_size too big or not a
   multiple of 4, push NULL, a group count over the device limit; with a
   dispatch to record: push_size short of the module's push-constant block,
   whose missing bytes the kernel would read), -E2BIG (a buffer of several
   chunks: bind its chunks), -ENOMEM, -ETIMEDOUT (waiting for a free batch, or
   for the batch that last used a mirrored import), PARX_E_DEVICE_LOST, -EPERM
   (a fork() child: >>batching), -EIO (another driver error), -ENODEV (dummy).
   The batch may be submitted before this dispatch is recorded, as when it is
   full: when its descriptor pool is used up.
   Thread safety: the thread that owns g. */
PARX_API int parx_gpu_dispatch(parx_gpu *g, parx_gpu_kernel *k, parx_gpu_buffer **bufs,
                               size_t nbufs, const void *push, size_t push_size, uint32_t gx,
                               uint32_t gy, uint32_t gz);

/* parx_gpu_sync: submit everything recorded since the last submit and wait
   for every batch in flight. Returns 0, -EINVAL (g NULL), -ETIMEDOUT (a batch
   is still running after desc.timeout_ns; call again to wait more), -ENOMEM,
   PARX_E_DEVICE_LOST, -EPERM (a fork() child: >>batching), -EIO (another
   driver error), -ENODEV (dummy). A batch that a destroy submitted and
   that was dropped (-ENOMEM, -EIO) is reported here or by parx_gpu_submit,
   whichever comes first, once, and nothing else is done: call again.
   Thread safety: the thread that owns g. */
PARX_API int parx_gpu_sync(parx_gpu *g);

/* parx_gpu_submit: submit what was recorded, without waiting; *ticket (may
   be NULL) names it for parx_gpu_wait (with nothing recorded, the last
   batch submitted; 0 before any). Returns 0, -EINVAL (g NULL), -ENOMEM,
   PARX_E_DEVICE_LOST, -EPERM (a fork() child: >>batching), -EIO (another
   driver error), -ENODEV (dummy), or a destroy's dropped batch (see
   parx_gpu_sync). On an error nothing new was submitted and *ticket is 0
   (which parx_gpu_wait takes as done at once: sync or submit again to run
   the work).
   Thread safety: the thread that owns g. */
PARX_API int parx_gpu_submit(parx_gpu *g, uint64_t *ticket);

/* parx_gpu_wait: wait until the batch named by ticket (and every batch
   before it) has completed, at most timeout_ns (0: just look; UINT64_MAX:
   no bound). Returns 0, -ETIMEDOUT, -EINVAL (g NULL, or a ticket never handed
   out), PARX_E_DEVICE_LOST, -EPERM (a fork() child: >>batching), -ENOMEM, -EIO
   (another driver error), -ENODEV (dummy).
   Thread safety: the thread that owns g. */
PARX_API int parx_gpu_wait(parx_gpu *g, uint64_t ticket, uint64_t timeout_ns);

/* parx_gpu_dispatch_latency: what the smallest piece of GPU work costs
   here: the median, in nanoseconds, of 21 dispatches of a built-in empty
   kernel (one workgroup of one invocation, no buffers), each submitted and
   waited for on its own with parx_gpu_sync, after one untimed warm-up. It
   is the floor under any kernel's time: a job worth sending to the device
   takes well over it. Work recorded before the call is synced first and
   not timed. The parx_probe tool reports it (parx_probe.gpu_dispatch_ns).
   Returns 0 with *ns, -EINVAL (g or ns NULL), -ENODEV (dummy), or an error of
   parx_gpu_kernel_create, parx_gpu_dispatch or parx_gpu_sync (-ETIMEDOUT,
   -ENOMEM, PARX_E_DEVICE_LOST, -EPERM (a fork() child: >>batching), -EIO).
   Thread safety: the thread that owns g. */
PARX_API int parx_gpu_dispatch_latency(parx_gpu *g, double *ns);

/* parx_gpu_run: the job on the GPU when g is open and job->kernel is set
   (recorded; returns 0: sync or download to get the results), else
   job->cpu over [0, n) with parx_for on pool when the program links parx.h's
   implementation and pool is not NULL, on the calling thread otherwise
   (returns 1 once it has run). See >>run for the kernel contract.
   Returns 0 or 1 as said, -EINVAL (job NULL; on the GPU path: n >= 2^32, the
   kernel or a buffer of another device, nbufs differing from the kernel's
   bindings, bufs or a buffer NULL, the 16-byte header plus push_size over the
   kernel's push_bytes or short of the module's push-constant block, push_size
   not a multiple of 4, push NULL; with chunked buffers: item_bytes not
   dividing info.chunk_bytes, a chunk's items not whole groups, a chunked
   buffer shorter than n * item_bytes; on the CPU path: no cpu function),
   -E2BIG (a buffer of several chunks at a binding of the kernel's
   desc.whole_mask), -ENOTSUP (items_per_group 0 and a kernel whose local size
   parx cannot tell: parx_gpu_kernel_local_size is 0), -ENOMEM, or a dispatch's
   error (-ETIMEDOUT, PARX_E_DEVICE_LOST, -EPERM (a fork() child: >>batching):
   the caller reruns everything on the CPU with g = NULL). -EINVAL records
   nothing; an error from the device after the first of several dispatches
   leaves the dispatches before it recorded: they run with the next batch,
   unless the error was that batch's own end or submit failing (it is dropped,
   and they with it) or the device is lost.
   Thread safety: the thread that owns g. Callback safety: job->cpu runs on
   pool workers, several ranges at once; it must not call parx_gpu_*. */
PARX_API int parx_gpu_run(parx_gpu *g, parx_pool *pool, const parx_gpu_job *job);

#ifdef __cplusplus
} /* extern "C" */
#endif
#endif /* PARX_GPU_H_INCLUDED */

/* ========================================================================== */
/* >>implementation                                                           */
/* ========================================================================== */
#if defined(PARX_IMPLEMENTATION) || defined(PARX_GPU_IMPLEMENTATION)
#ifndef PARX_GPU_IMPLEMENTATION_INCLUDED
#define PARX_GPU_IMPLEMENTATION_INCLUDED

#ifndef _GNU_SOURCE
#error "parx: the implementation needs _GNU_SOURCE (dlopen, strerrordesc_np): put '#define _GNU_SOURCE' before the first #include of this file, or compile the shipped parx.c"
#endif
/* defined, but after a header of the C library: glibc read the feature
   macros at its first header, so the GNU interfaces stay hidden */
#if defined(__GLIBC__) && !defined(__USE_GNU)
#error "parx: _GNU_SOURCE came after a system header: define it before every #include of the file (glibc reads it at its first header), or compile the shipped parx.c"
#endif
#if !defined(__linux__)
#error "parx: the implementation runs on Linux only"
#endif
#ifdef __STDC_NO_ATOMICS__
#error "parx: the implementation needs C11 <stdatomic.h>"
#endif
#ifdef __cplusplus
#error "parx: compile the implementation as C11, not C++ (the declarations work from C++)"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PARX_ASSERT
#include <assert.h>
#define PARX_ASSERT(c) assert(c)
#endif
#ifndef PARX_GPU_SLOTS
#define PARX_GPU_SLOTS 3
#endif
#ifndef PARX_GPU_MAX_BINDINGS
#define PARX_GPU_MAX_BINDINGS 16
#endif
#ifndef PARX_GPU_STAGING_MAX
#define PARX_GPU_STAGING_MAX ((size_t)64 << 20)
#endif
#if PARX_GPU_SLOTS < 2
#error "parx: PARX_GPU_SLOTS must be at least 2"
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
/* >>gpu-common: what both backends share, and the SPIR-V check               */
/* -------------------------------------------------------------------------- */

/* The CPU path of parx_gpu_run: parx_for on the pool where the program has
   parx.h's implementation, else the calling thread. parx.h implemented
   above in this unit: call it. Otherwise a weak reference finds it if the
   program links it (from parx.c, or later in this unit) and is NULL if not,
   so parx_gpu.h still needs nothing else. (PARX_STATIC with parx.h
   implemented below this header: the calling thread.) */
#if defined(PARX_IMPLEMENTATION_INCLUDED)
#define PARX__GPU_HAVE_FOR 1
#elif !defined(PARX_STATIC)
#define PARX__GPU_HAVE_FOR 2
extern int parx_for(parx_pool *p, size_t begin, size_t end, size_t grain, parx_range_fn fn,
                    void *ctx) __attribute__((__weak__));
#else
#define PARX__GPU_HAVE_FOR 0
#endif

static int parx__gpu_run_cpu(parx_pool *pool, const parx_gpu_job *job)
{
    if (!job->cpu) return -EINVAL;
    if (job->n == 0) return 1;
#if PARX__GPU_HAVE_FOR
#if PARX__GPU_HAVE_FOR == 1
    if (pool) {
#else
    if (pool && parx_for) {
#endif
        int rc = parx_for(pool, 0, job->n, job->grain, job->cpu, job->ctx);
        return rc < 0 ? rc : 1;
    }
#else
    (void)pool;
#endif
    job->cpu(job->ctx, 0, job->n);
    return 1;
}

/* What parx__gpu_check_spirv finds in a module. */
typedef struct parx__gpu_spirv_facts {
    uint32_t bindings;    /* highest binding in set 0, plus one */
    bool uses_push;       /* a PushConstant variable exists */
    uint32_t push_size;   /* the bytes its block spans (0: parx cannot tell) */
    uint32_t local_x;     /* the pipeline's local size x (0: parx cannot tell) */
    uint32_t local_y, local_z; /* ... y and z, likewise */
} parx__gpu_spirv_facts;

/* The value of the 32-bit scalar constant `id` once the pipeline is
   specialised with spec[0..nspec) (spec id i takes spec[i]), taking
   component `comp` (0: x, 1: y, 2: z) of a composite: OpConstant,
   OpSpecConstant (its SpecId's value when given, else its default),
   OpConstantComposite or OpSpecConstantComposite. 0 for anything else
   (OpSpecConstantOp, an unknown id, a scalar asked for y or z): parx cannot
   tell. The module's instructions were checked. */
static uint32_t parx__gpu_spirv_const(const uint32_t *w, size_t n, uint32_t id, unsigned comp,
                                      const uint32_t *spec, uint32_t nspec)
{
    enum { OpConstant = 43, OpConstantComposite = 44, OpSpecConstant = 50,
           OpSpecConstantComposite = 51, OpDecorate = 71, DecSpecId = 1 };
    for (int depth = 0; depth < 2; depth++) { /* a composite's x is a scalar */
        size_t at = 0;
        for (size_t i = 5; i < n && !at; i += w[i] >> 16) {
            uint32_t op = w[i] & 0xFFFFu;
            if ((op == OpConstant || op == OpSpecConstant || op == OpConstantComposite ||
                 op == OpSpecConstantComposite) && (w[i] >> 16) >= 4 && w[i + 2] == id)
                at = i;
        }
        if (!at) return 0;
        uint32_t op = w[at] & 0xFFFFu;
        if (op == OpConstantComposite || op == OpSpecConstantComposite) {
            if ((w[at] >> 16) < 4 + comp) return 0; /* no such component */
            id = w[at + 3 + comp];
            comp = 0;
            continue;
        }
        if (comp) return 0; /* a scalar has no y or z */
        if (op == OpSpecConstant)
            for (size_t i = 5; i < n; i += w[i] >> 16)
                if ((w[i] & 0xFFFFu) == OpDecorate && (w[i] >> 16) >= 4 && w[i + 1] == id &&
                    w[i + 2] == DecSpecId)
                    return w[i + 3] < nspec ? spec[w[i + 3]] : w[at + 3];
        return w[at + 3];
    }
    return 0;
}

/* a * b + c, or UINT64_MAX where that does not fit: a hostile module's
   sizes must not wrap round to a small block. */
static uint64_t parx__gpu_size_mad(uint64_t a, uint64_t b, uint64_t c)
{
    if (a && b > UINT64_MAX / a) return UINT64_MAX;
    return a * b > UINT64_MAX - c ? UINT64_MAX : a * b + c;
}

/* The bytes a type spans in a block, from its explicit layout: 32/64-bit
   scalars, vectors, arrays of a constant length with an ArrayStride, and
   structs (the end of the member that ends last, by its Offset). 0 where
   parx cannot tell (a matrix, a runtime array, a length it cannot evaluate,
   a member without an Offset, nesting deeper than 8, more than *budget
   types and members looked at in all, each a scan of the module: a
   malformed or hostile module must not make this take exponential or
   quadratic time). The module's instructions were checked. */
static uint64_t parx__gpu_spirv_size(const uint32_t *w, size_t n, uint32_t type, int depth,
                                     unsigned *budget, const uint32_t *spec, uint32_t nspec)
{
    enum { OpTypeInt = 21, OpTypeFloat = 22, OpTypeVector = 23, OpTypeArray = 28,
           OpTypeStruct = 30, OpDecorate = 71, OpMemberDecorate = 72, DecArrayStride = 6,
           DecOffset = 35 };
    if (depth > 8 || *budget == 0) return 0;
    --*budget;
    size_t at = 0;
    for (size_t i = 5; i < n && !at; i += w[i] >> 16) {
        uint32_t op = w[i] & 0xFFFFu;
        if (op >= OpTypeInt && op <= OpTypeStruct && (w[i] >> 16) >= 2 && w[i + 1] == type) at = i;
    }
    if (!at) return 0;
    uint32_t op = w[at] & 0xFFFFu, wc = w[at] >> 16;
    if ((op == OpTypeInt || op == OpTypeFloat) && wc >= 3) return w[at + 2] / 8;
    if (op == OpTypeVector && wc >= 4)
        return parx__gpu_size_mad(
            w[at + 3], parx__gpu_spirv_size(w, n, w[at + 2], depth + 1, budget, spec, nspec), 0);
    if (op == OpTypeArray && wc >= 4) {
        uint64_t len = parx__gpu_spirv_const(w, n, w[at + 3], 0, spec, nspec), stride = 0;
        for (size_t i = 5; i < n; i += w[i] >> 16)
            if ((w[i] & 0xFFFFu) == OpDecorate && (w[i] >> 16) >= 4 && w[i + 1] == type &&
                w[i + 2] == DecArrayStride)
                stride = w[i + 3];
        uint64_t elem = parx__gpu_spirv_size(w, n, w[at + 2], depth + 1, budget, spec, nspec);
        return len && stride && elem ? parx__gpu_size_mad(len - 1, stride, elem) : 0;
    }
    if (op == OpTypeStruct) {
        uint64_t end = 0;
        for (uint32_t m = 0; m + 2 < wc; m++) {
            if (*budget == 0) return 0; /* each member costs a scan too */
            --*budget;
            uint64_t off = UINT64_MAX;
            for (size_t i = 5; i < n; i += w[i] >> 16)
                if ((w[i] & 0xFFFFu) == OpMemberDecorate && (w[i] >> 16) >= 5 &&
                    w[i + 1] == type && w[i + 2] == m && w[i + 3] == DecOffset)
                    off = w[i + 4];
            uint64_t size =
                parx__gpu_spirv_size(w, n, w[at + 2 + m], depth + 1, budget, spec, nspec);
            if (off == UINT64_MAX || size == 0) return 0;
            uint64_t member_end = parx__gpu_size_mad(1, off, size);
            if (member_end > end) end = member_end;
        }
        return end;
    }
    return 0;
}

/* SPIR-V structure check (>>kernels): never hands the driver a module that
   is not well-formed at the level of words and instructions, or whose
   descriptors are not what parx binds (one storage buffer per binding of
   set 0). Fills in what parx needs from it. Returns 0 or PARX_E_BAD_SPIRV. */
static __attribute__((__unused__)) int parx__gpu_check_spirv(const uint32_t *w, size_t bytes,
                                                         const char *entry, const uint32_t *spec,
                                                         uint32_t nspec,
                                                         parx__gpu_spirv_facts *facts)
{
    enum { OpEntryPoint = 15, OpExecutionMode = 16, OpTypeStruct = 30, OpTypePointer = 32,
           OpFunction = 54, OpFunctionEnd = 56, OpVariable = 59, OpDecorate = 71,
           OpDecorationGroup = 73, OpGroupDecorate = 74, OpGroupMemberDecorate = 75,
           OpExecutionModeId = 331,
           DecBufferBlock = 3, DecBuiltIn = 11, DecBinding = 33, DecDescriptorSet = 34,
           BuiltInWorkgroupSize = 25, ModelGLCompute = 5, ModeLocalSize = 17,
           ModeLocalSizeId = 38, ClassUniform = 2, ClassPushConstant = 9,
           ClassStorageBuffer = 12 };
    memset(facts, 0, sizeof *facts);
    if (!w || bytes < 20 || bytes % 4 != 0 || ((uintptr_t)w & 3u) != 0) return PARX_E_BAD_SPIRV;
    size_t n = bytes / 4;
    if (w[0] != 0x07230203u) return PARX_E_BAD_SPIRV;       /* magic, host byte order */
    uint32_t ver = w[1];
    if ((ver & 0xFF0000FFu) != 0 || ver < 0x00010000u || ver > 0x00010600u) return PARX_E_BAD_SPIRV;
    if (w[3] == 0 || w[4] != 0) return PARX_E_BAD_SPIRV;    /* id bound, reserved schema */
    /* A module defines at most one id per two words, so a bound past four
       per word (and 2^16, for small modules with gaps in their ids) is a
       corrupt one; drivers allocate per id (lavapipe, 40 bytes each: a
       bound of 2^32 - 1 crashed it). */
    if (w[3] > (n > 16384 ? 4 * (uint64_t)n : 65536)) return PARX_E_BAD_SPIRV;
    /* Bindings and sets: remember each decorated id's binding and set
       (checked below). Small modules: a linear scan per decoration is fine,
       kept bounded by fixed tables: a 65th of either refuses the module. */
    uint32_t bind_id[64], bind_no[64], set_id[64], set_no[64], nb = 0, ns = 0;
    uint32_t entry_id = 0, last_op = 0, local_id[3] = {0, 0, 0}, wgs_id = 0, push_ptr = 0;
    bool found_entry = false, entry_fn = false;
    size_t i = 5;
    while (i < n) {
        uint32_t wc = w[i] >> 16, op = w[i] & 0xFFFFu;
        if (wc == 0 || wc > n - i) return PARX_E_BAD_SPIRV;  /* zero length or overrun */
        if (op == OpEntryPoint && wc >= 4 && w[i + 1] == ModelGLCompute) {
            /* the name is a nul-terminated string in words i+3.. */
            size_t maxlen = (size_t)(wc - 3) * 4;
            const char *name = (const char *)&w[i + 3];
            if (memchr(name, 0, maxlen) && strcmp(name, entry) == 0) {
                /* a second one of that name and model is not SPIR-V, and
                   only one of them would be checked */
                if (found_entry) return PARX_E_BAD_SPIRV;
                found_entry = true;
                entry_id = w[i + 2];
            }
        } else if (op == OpExecutionMode && wc >= 6 && w[i + 2] == ModeLocalSize &&
                   found_entry && w[i + 1] == entry_id) {
            facts->local_x = w[i + 3];
            facts->local_y = w[i + 4];
            facts->local_z = w[i + 5];
        } else if (op == OpExecutionModeId && wc >= 6 && w[i + 2] == ModeLocalSizeId &&
                   found_entry && w[i + 1] == entry_id) {
            local_id[0] = w[i + 3];
            local_id[1] = w[i + 4];
            local_id[2] = w[i + 5];
        } else if (op == OpFunction && wc >= 5 && found_entry && w[i + 2] == entry_id) {
            entry_fn = true; /* the entry point names a function (else drivers crash) */
        } else if (op == OpDecorate && wc >= 4 && w[i + 2] == DecBuiltIn &&
                   w[i + 3] == BuiltInWorkgroupSize) {
            wgs_id = w[i + 1];
        } else if (op == OpDecorationGroup || op == OpGroupDecorate ||
                   op == OpGroupMemberDecorate) {
            /* Decorations through groups (deprecated since SPIR-V 1.5, never
               emitted by glslc) would hide a DescriptorSet or a Binding
               from the checks below: refused (>>kernels). */
            return PARX_E_BAD_SPIRV;
        } else if (op == OpDecorate && wc >= 4 && w[i + 2] == DecBinding) {
            if (nb == 64) return PARX_E_BAD_SPIRV; /* more descriptors than parx reads */
            bind_id[nb] = w[i + 1];
            bind_no[nb++] = w[i + 3];
        } else if (op == OpDecorate && wc >= 4 && w[i + 2] == DecDescriptorSet) {
            if (ns == 64) return PARX_E_BAD_SPIRV;
            set_id[ns] = w[i + 1];
            set_no[ns++] = w[i + 3];
        } else if (op == OpVariable && wc >= 4 && w[i + 3] == ClassPushConstant) {
            /* a second block (another entry point's): which is ours, parx
               cannot tell cheaply, so it checks neither */
            push_ptr = facts->uses_push ? UINT32_MAX : w[i + 1];
            facts->uses_push = true;
        }
        last_op = op;
        i += wc;
    }
    if (!found_entry || !entry_fn || entry_id >= w[3] || last_op != OpFunctionEnd)
        return PARX_E_BAD_SPIRV;
    /* The local size the pipeline really has: a constant decorated BuiltIn
       WorkgroupSize wins over the execution modes, LocalSizeId over
       LocalSize; specialisation constants take desc.spec's values. */
    uint32_t *local[3] = {&facts->local_x, &facts->local_y, &facts->local_z};
    for (unsigned c = 0; c < 3; c++) {
        if (wgs_id) *local[c] = parx__gpu_spirv_const(w, n, wgs_id, c, spec, nspec);
        else if (local_id[0]) *local[c] = parx__gpu_spirv_const(w, n, local_id[c], 0, spec, nspec);
    }
    /* The push-constant block's size (its pointer type's pointee). */
    bool push_seen = false;
    for (i = 5; push_ptr && push_ptr != UINT32_MAX && i < n; i += w[i] >> 16)
        if ((w[i] & 0xFFFFu) == OpTypePointer && (w[i] >> 16) >= 4 && w[i + 1] == push_ptr) {
            /* an id defined twice is not SPIR-V; and each definition would
               cost a bounded walk of its own: a module of thousands made
               this check quadratic (9 s for 53 KB) */
            if (push_seen) return PARX_E_BAD_SPIRV;
            push_seen = true;
            unsigned budget = 4096; /* types and members: more than a 4 KiB block holds */
            uint64_t size = parx__gpu_spirv_size(w, n, w[i + 3], 0, &budget, spec, nspec);
            facts->push_size = size <= UINT32_MAX ? (uint32_t)size : UINT32_MAX;
        }
    /* Every descriptor must be what parx's set layout says: set 0, one
       storage buffer (a variable of class StorageBuffer pointing to a
       struct, or of class Uniform pointing to a struct decorated
       BufferBlock, as SPIR-V 1.0 spells it). Uniform buffers, images,
       samplers, arrays of descriptors and other sets are refused: the
       pipeline would not match its layout. (The instructions were checked
       above: these scans stay inside the module.) */
    for (uint32_t b = 0; b < nb; b++) {
        for (uint32_t s = 0; s < ns; s++)
            if (set_id[s] == bind_id[b] && set_no[s] != 0) return PARX_E_BAD_SPIRV;
        uint32_t cls = UINT32_MAX, ptr = 0, pointee = 0;
        bool is_struct = false, buffer_block = false;
        for (i = 5; i < n; i += w[i] >> 16)
            if ((w[i] & 0xFFFFu) == OpVariable && (w[i] >> 16) >= 4 && w[i + 2] == bind_id[b]) {
                ptr = w[i + 1];
                cls = w[i + 3];
            }
        for (i = 5; ptr && i < n; i += w[i] >> 16)
            if ((w[i] & 0xFFFFu) == OpTypePointer && (w[i] >> 16) >= 4 && w[i + 1] == ptr)
                pointee = w[i + 3];
        for (i = 5; pointee && i < n; i += w[i] >> 16) {
            uint32_t op = w[i] & 0xFFFFu, wc = w[i] >> 16;
            if (op == OpTypeStruct && wc >= 2 && w[i + 1] == pointee) is_struct = true;
            if (op == OpDecorate && wc >= 3 && w[i + 1] == pointee && w[i + 2] == DecBufferBlock)
                buffer_block = true;
        }
        if (!is_struct) return PARX_E_BAD_SPIRV; /* not a block: an image, a sampler, an array */
        if (!(cls == ClassStorageBuffer || (cls == ClassUniform && buffer_block)))
            return PARX_E_BAD_SPIRV; /* a uniform buffer, or no variable at all */
        if (bind_no[b] >= 1024) return PARX_E_BAD_SPIRV;
        if (bind_no[b] + 1 > facts->bindings) facts->bindings = bind_no[b] + 1;
    }
    return 0;
}

#ifndef PARX_GPU_VULKAN
/* -------------------------------------------------------------------------- */
/* >>gpu-dummy: no backend compiled in: every device call says "no device"    */
/* (-ENODEV) once its arguments pass the checks the Vulkan backend makes      */
/* without a device (-EINVAL), so a program gets the same codes either way.   */
/* -------------------------------------------------------------------------- */

PARX_API parx_gpu *parx_gpu_open(const parx_gpu_desc *desc, int *err)
{
    bool bad = desc && (unsigned)desc->device > (unsigned)PARX_GPU_DEVICE_OTHER;
    if (err) *err = bad ? -EINVAL : -ENODEV; /* as the Vulkan backend says */
    return NULL;
}
PARX_API void parx_gpu_close(parx_gpu *g) { (void)g; }
PARX_API int parx_gpu_query(const parx_gpu *g, parx_gpu_info *out)
{
    return g && out ? -ENODEV : -EINVAL;
}
PARX_API int parx_gpu_cache_save(parx_gpu *g) { return g ? -ENODEV : -EINVAL; }
PARX_API parx_gpu_buffer *parx_gpu_buffer_create(parx_gpu *g, size_t size, unsigned flags, int *err)
{
    if (err) *err = g && size && flags == 0 ? -ENODEV : -EINVAL;
    return NULL;
}
PARX_API parx_gpu_buffer *parx_gpu_buffer_import(parx_gpu *g, void *host, size_t size, int *err)
{
    if (err) *err = g && host && size ? -ENODEV : -EINVAL;
    return NULL;
}
PARX_API void parx_gpu_buffer_destroy(parx_gpu_buffer *b) { (void)b; }
PARX_API size_t parx_gpu_buffer_size(const parx_gpu_buffer *b) { (void)b; return 0; }
PARX_API int parx_gpu_buffer_imported(const parx_gpu_buffer *b) { (void)b; return -EINVAL; }
PARX_API size_t parx_gpu_buffer_chunks(const parx_gpu_buffer *b) { (void)b; return 0; }
PARX_API parx_gpu_buffer *parx_gpu_buffer_chunk(parx_gpu_buffer *b, size_t i)
{
    (void)b, (void)i;
    errno = EINVAL; /* no buffer can exist here */
    return NULL;
}
PARX_API int parx_gpu_upload(parx_gpu *g, parx_gpu_buffer *b, size_t offset, const void *src,
                             size_t n)
{
    (void)offset;
    return g && b && (src || !n) ? -ENODEV : -EINVAL;
}
PARX_API int parx_gpu_download(parx_gpu *g, parx_gpu_buffer *b, size_t offset, void *dst, size_t n)
{
    (void)offset;
    return g && b && (dst || !n) ? -ENODEV : -EINVAL;
}
PARX_API parx_gpu_kernel *parx_gpu_kernel_create(parx_gpu *g, const uint32_t *spirv, size_t bytes,
                                                 const parx_gpu_kernel_desc *desc, int *err)
{
    (void)spirv, (void)bytes;
    bool bad = !g || (desc && ((desc->nspec && !desc->spec) || desc->nspec > 64));
    if (err) *err = bad ? -EINVAL : -ENODEV;
    return NULL;
}
PARX_API void parx_gpu_kernel_destroy(parx_gpu_kernel *k) { (void)k; }
PARX_API uint32_t parx_gpu_kernel_local_size(const parx_gpu_kernel *k) { (void)k; return 0; }
PARX_API int parx_gpu_dispatch(parx_gpu *g, parx_gpu_kernel *k, parx_gpu_buffer **bufs,
                               size_t nbufs, const void *push, size_t push_size, uint32_t gx,
                               uint32_t gy, uint32_t gz)
{
    (void)bufs, (void)nbufs, (void)push, (void)push_size;
    (void)gx, (void)gy, (void)gz;
    return g && k ? -ENODEV : -EINVAL;
}
PARX_API int parx_gpu_sync(parx_gpu *g) { return g ? -ENODEV : -EINVAL; }
PARX_API int parx_gpu_submit(parx_gpu *g, uint64_t *ticket)
{
    if (ticket) *ticket = 0;
    return g ? -ENODEV : -EINVAL;
}
PARX_API int parx_gpu_wait(parx_gpu *g, uint64_t ticket, uint64_t timeout_ns)
{
    (void)ticket, (void)timeout_ns;
    return g ? -ENODEV : -EINVAL;
}
PARX_API int parx_gpu_dispatch_latency(parx_gpu *g, double *ns)
{
    return g && ns ? -ENODEV : -EINVAL;
}
PARX_API int parx_gpu_run(parx_gpu *g, parx_pool *pool, const parx_gpu_job *job)
{
    (void)g;
    if (!job) return -EINVAL;
    return parx__gpu_run_cpu(pool, job);
}

#else /* PARX_GPU_VULKAN */
/* -------------------------------------------------------------------------- */
/* >>gpu-loader: libvulkan.so.1 through dlopen, entry points by name          */
/* -------------------------------------------------------------------------- */

/* No VK_NO_PROTOTYPES here: defined, it would stay defined for the rest of
   the program's file, and a <vulkan/vulkan.h> included there after this one
   (its include guard set) would declare no vk* function. The prototypes
   cost nothing: parx calls none of them by name, only through the pointers
   it looks up below, and a call by name would not link, since nothing links
   libvulkan (every test builds so). */
#if defined(__has_include)
#if !__has_include(<vulkan/vulkan.h>)
#error "parx: PARX_GPU_VULKAN needs the Vulkan headers at build time (Debian: apt-get install libvulkan-dev); nothing is linked. Or build without PARX_GPU_VULKAN for the CPU path only."
#endif
#endif
#include <vulkan/vulkan.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <sys/auxv.h>
#include <time.h>
#include <unistd.h>

/* Entry points resolved with vkGetInstanceProcAddr(NULL, ...). */
#define PARX__VK_GLOBAL(X)                                                                        \
    X(vkCreateInstance) X(vkEnumerateInstanceExtensionProperties)                                 \
    X(vkEnumerateInstanceLayerProperties)
/* ... with the instance. */
#define PARX__VK_INSTANCE(X)                                                                      \
    X(vkDestroyInstance) X(vkEnumeratePhysicalDevices) X(vkGetPhysicalDeviceProperties)           \
    X(vkGetPhysicalDeviceQueueFamilyProperties) X(vkGetPhysicalDeviceMemoryProperties)            \
    X(vkEnumerateDeviceExtensionProperties) X(vkCreateDevice) X(vkGetDeviceProcAddr)
/* ... with the device (through vkGetDeviceProcAddr: no loader trampoline). */
#define PARX__VK_DEVICE(X)                                                                        \
    X(vkDestroyDevice) X(vkGetDeviceQueue) X(vkCreateBuffer) X(vkDestroyBuffer)                   \
    X(vkGetBufferMemoryRequirements) X(vkAllocateMemory) X(vkFreeMemory) X(vkBindBufferMemory)    \
    X(vkMapMemory) X(vkUnmapMemory) X(vkCreateShaderModule) X(vkDestroyShaderModule)              \
    X(vkCreateDescriptorSetLayout) X(vkDestroyDescriptorSetLayout) X(vkCreatePipelineLayout)      \
    X(vkDestroyPipelineLayout) X(vkCreateComputePipelines) X(vkDestroyPipeline)                   \
    X(vkCreatePipelineCache) X(vkDestroyPipelineCache) X(vkGetPipelineCacheData)                  \
    X(vkCreateDescriptorPool) X(vkDestroyDescriptorPool) X(vkResetDescriptorPool)                 \
    X(vkAllocateDescriptorSets) X(vkUpdateDescriptorSets) X(vkCreateCommandPool)                  \
    X(vkDestroyCommandPool) X(vkAllocateCommandBuffers) X(vkBeginCommandBuffer)                   \
    X(vkEndCommandBuffer) X(vkResetCommandBuffer) X(vkCmdBindPipeline)                            \
    X(vkCmdBindDescriptorSets) X(vkCmdPushConstants) X(vkCmdDispatch) X(vkCmdPipelineBarrier)     \
    X(vkCmdCopyBuffer) X(vkCreateFence) X(vkDestroyFence) X(vkResetFences) X(vkWaitForFences)     \
    X(vkQueueSubmit) X(vkDeviceWaitIdle)

#define PARX__VK_FIELD(name) PFN_##name name;

typedef struct parx__gpu_chunk {
    VkBuffer buf;
    VkDeviceMemory mem;      /* VK_NULL_HANDLE in a view (the owner frees it) */
    VkDeviceSize bind_offset; /* where byte 0 of the chunk is in buf */
    VkDeviceSize bytes;      /* the chunk's share of the buffer */
    unsigned char *map;      /* byte 0 of the chunk as the host sees it, or NULL */
    VkBuffer stg;            /* mirrored import without a host mapping: its staging copy */
    VkDeviceMemory stg_mem;
    unsigned char *stg_map;
    /* Hazard tracking, per chunk (views share their root's chunks), valid
       while used_batch == g->batch. */
    uint64_t used_batch;
    uint32_t read_epoch, write_epoch; /* last barrier epoch with a read / a write (0: none) */
} parx__gpu_chunk;

enum { PARX__BUF_DEVICE, PARX__BUF_IMPORTED, PARX__BUF_MIRRORED };

struct parx_gpu_buffer {
    parx_gpu *g;
    parx_gpu_buffer *root;   /* itself, or the buffer a chunk view belongs to */
    parx_gpu_buffer *prev, *next; /* the device's list of live buffers (roots only) */
    size_t size;
    int kind;
    unsigned char *host;     /* imported: the user's memory */
    size_t nchunks;
    parx__gpu_chunk *chunks; /* a view points into its root's array */
    parx_gpu_buffer *views;  /* nchunks views when nchunks > 1 */
    uint64_t used_batch;     /* the last batch that recorded a use of it (roots only) */
    uint64_t last_serial;    /* the last submitted batch that used it (0: none) */
    bool written;            /* mirrored: a dispatch of the batch that copied it in binds it
                                writable, so it is copied back (roots only) */
};

struct parx_gpu_kernel {
    parx_gpu *g;
    parx_gpu_kernel *prev, *next;
    VkDescriptorSetLayout dsl;
    VkPipelineLayout layout;
    VkPipeline pipe;
    uint32_t nbind, push_bytes, readonly_mask, whole_mask, local_x;
    uint32_t push_min;    /* the module's push-constant block, bytes rounded up to whole
                             words (0: none, or parx cannot tell its size): the least a
                             dispatch must push */
    uint64_t used_batch;  /* the last batch that recorded a dispatch of it */
    uint64_t last_serial; /* the last submitted batch that did (0: none) */
};

typedef struct parx__gpu_copyout { /* after the batch completes: memcpy(dst, src, n) */
    void *dst;
    const void *src;
    size_t n;
    uint64_t tag;             /* the parx_gpu_download that queued it (0: a mirror) */
} parx__gpu_copyout;

typedef struct parx__gpu_slot {
    VkCommandBuffer cmd;
    VkFence fence;
    VkDescriptorPool pool;
    VkBuffer stg;             /* this batch's staging buffer, bump-allocated */
    VkDeviceMemory stg_mem;
    unsigned char *stg_map;
    VkDeviceSize stg_cap, stg_used;
    uint64_t serial;          /* 0: free (or recording); else in flight */
    bool recording;
    uint32_t dispatches, sets;
    parx__gpu_copyout *outs;
    size_t nouts, capouts;
    parx_gpu_buffer **mirrors; /* mirrored imports used in this batch */
    size_t nmirrors, capmirrors;
} parx__gpu_slot;

struct parx_gpu {
    void *lib;
    PFN_vkGetInstanceProcAddr gipa;
    PARX__VK_GLOBAL(PARX__VK_FIELD)
    PARX__VK_INSTANCE(PARX__VK_FIELD)
    PARX__VK_DEVICE(PARX__VK_FIELD)
    PFN_vkGetMemoryHostPointerPropertiesEXT vkGetMemoryHostPointerPropertiesEXT;
    PFN_vkCreateDebugUtilsMessengerEXT vkCreateDebugUtilsMessengerEXT;
    PFN_vkDestroyDebugUtilsMessengerEXT vkDestroyDebugUtilsMessengerEXT;

    VkInstance inst;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice phys;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties memprops;
    VkDevice dev;
    VkQueue queue;
    uint32_t qfamily;
    VkCommandPool cmdpool;
    VkPipelineCache cache;
    parx__gpu_slot slots[PARX_GPU_SLOTS];
    unsigned cur;                 /* the slot being recorded (or next to record) */

    parx_gpu_desc desc;           /* with defaults applied; the path is copied */
    char *cache_path;
    int dev_type, stg_type; /* memory type indices (host_mapped: dev_type is mappable) */
    bool host_import, host_mapped, ext_host, cache_loaded;
    bool dev_loaded;              /* every device entry point was found */
    VkDeviceSize import_align, heap_bytes;
    size_t chunk_bytes; /* <= maxStorageBufferRange, a uint32_t: fits size_t everywhere */
    bool lost;
    unsigned fork_gen;            /* parx__gpu_fork_gen at open: a fork() child's copy is
                                     refused (parx__gpu_gone) */

    uint64_t batch;               /* id of the batch being recorded (increments at begin) */
    uint32_t epoch;               /* barrier epoch within the batch (increments at a barrier) */
    VkPipelineStageFlags pend_writes; /* stages that wrote since the last barrier */
    VkPipelineStageFlags pend_reads;  /* stages that read since the last barrier */
    uint64_t download_tag;        /* the last tag a parx_gpu_download gave its copy-outs */
    uint64_t submitted, completed; /* serials */
    int dropped;                  /* a batch a destroy submitted was dropped: its error, for the
                                     next sync or submit (parx__gpu_take_dropped); else 0 */
    /* Descriptor-set reuse between consecutive dispatches of one batch. */
    parx_gpu_kernel *last_k;
    VkDescriptorSet last_set;
    VkBuffer last_bufs[PARX_GPU_MAX_BINDINGS];
    VkDeviceSize last_offs[PARX_GPU_MAX_BINDINGS];
    VkPipeline bound_pipe;

    parx_gpu_buffer *buffers;     /* live buffers, destroyed at close */
    parx_gpu_kernel *kernels;
    parx_gpu_info stats;          /* the counters part */
    _Atomic uint64_t vmsgs;       /* validation messages (the messenger may run on any thread) */
    int inject;                   /* PARX_GPU_TEST_HOOKS: -1 / -2: the next fence wait reports
                                     VK_TIMEOUT / VK_ERROR_DEVICE_LOST; -3: the next
                                     vkEndCommandBuffer, VK_ERROR_OUT_OF_DEVICE_MEMORY; -4:
                                     the next mirrored import's copy-out, -ENOMEM; -5: every
                                     fence wait, VK_ERROR_OUT_OF_HOST_MEMORY; -6: those and
                                     vkDeviceWaitIdle in destroy or close, the same; -7 / -8: the
                                     next descriptor set (parx__gpu_alloc_set); -9: as -5,
                                     with that vkDeviceWaitIdle VK_ERROR_DEVICE_LOST;
                                     -10: the next host import's vkAllocateMemory, that */
    VkDeviceSize largest_alloc;   /* the largest allocationSize parx has asked for (tests) */
};

/* A device belongs to the process that opened it: fork() copies neither
   the driver's threads nor its claim on the device, and a child's
   submissions or waits would hang (lavapipe) or reach into the parent's
   work. Each fork() moves this count in the child (pthread_atfork,
   registered by the first open); a device keeps the count of its open,
   and every call on a copy is refused (-EPERM) or does nothing. Relaxed:
   the handler runs on the thread that returns from fork(), before
   anything else runs in the child. */
static _Atomic unsigned parx__gpu_fork_gen;
static atomic_bool parx__gpu_fork_registered;

static void parx__gpu_after_fork(void)
{
    /* two opens racing may both register it: moved twice, still not the parent's */
    atomic_fetch_add_explicit(&parx__gpu_fork_gen, 1, memory_order_relaxed);
}

/* The count for a device opened now, in *gen: 0, or -ENOMEM (pthread_atfork
   refused; the next open tries again). */
static int parx__gpu_fork_gen_now(unsigned *gen)
{
    int rc = parx__atfork(&parx__gpu_fork_registered, NULL, NULL, parx__gpu_after_fork);
    *gen = atomic_load_explicit(&parx__gpu_fork_gen, memory_order_relaxed);
    return rc;
}

static inline bool parx__gpu_forked(const parx_gpu *g)
{
    return atomic_load_explicit(&parx__gpu_fork_gen, memory_order_relaxed) != g->fork_gen;
}

/* Why g cannot take work: -EPERM (a fork() child's copy),
   PARX_E_DEVICE_LOST, or 0. */
static inline int parx__gpu_gone(const parx_gpu *g)
{
    if (parx__gpu_forked(g)) return -EPERM;
    return g->lost ? PARX_E_DEVICE_LOST : 0;
}

/* Map a VkResult to parx's codes; marks the device lost. */
static int parx__vk_err(parx_gpu *g, VkResult r)
{
    switch (r) {
    case VK_SUCCESS: return 0;
    case VK_TIMEOUT: case VK_NOT_READY: return -ETIMEDOUT;
    case VK_ERROR_OUT_OF_HOST_MEMORY: case VK_ERROR_OUT_OF_DEVICE_MEMORY:
    case VK_ERROR_OUT_OF_POOL_MEMORY: case VK_ERROR_FRAGMENTED_POOL: case VK_ERROR_TOO_MANY_OBJECTS:
        return -ENOMEM;
    case VK_ERROR_DEVICE_LOST:
        if (g) g->lost = true;
        return PARX_E_DEVICE_LOST;
    case VK_ERROR_INITIALIZATION_FAILED: case VK_ERROR_INCOMPATIBLE_DRIVER:
    case VK_ERROR_LAYER_NOT_PRESENT:
        return -ENODEV;
    case VK_ERROR_EXTENSION_NOT_PRESENT: case VK_ERROR_FEATURE_NOT_PRESENT: return -ENOTSUP;
    case VK_ERROR_INVALID_EXTERNAL_HANDLE: return -EINVAL;
    default: return -EIO;
    }
}

static VKAPI_ATTR VkBool32 VKAPI_CALL parx__gpu_messenger(
    VkDebugUtilsMessageSeverityFlagBitsEXT sev, VkDebugUtilsMessageTypeFlagsEXT type,
    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user)
{
    parx_gpu *g = (parx_gpu *)user;
    /* Only validation (and performance) findings count; the loader's
       general chatter about drivers it could not load does not. */
    if (type & (VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT)) {
        /* relaxed: a statistics counter read after the calls that cause it */
        atomic_fetch_add_explicit(&g->vmsgs, 1, memory_order_relaxed);
        char buf[1024];
        snprintf(buf, sizeof buf, "parx_gpu: validation: %s",
                 data && data->pMessage ? data->pMessage : "?");
        parx__log(sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? PARX_LOG_ERROR
                                                                       : PARX_LOG_WARN, buf);
    }
    return VK_FALSE;
}

/* -------------------------------------------------------------------------- */
/* >>gpu-open: instance, device choice, queue, slots, pipeline cache          */
/* -------------------------------------------------------------------------- */

static void parx__gpu_desc_defaults(parx_gpu_desc *d)
{
    if (d->batch_limit == 0) d->batch_limit = 256;
    if (d->timeout_ns == 0) d->timeout_ns = 10ull * 1000000000ull;
}

static parx_gpu_device_kind parx__gpu_kind(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return PARX_GPU_DEVICE_DISCRETE;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return PARX_GPU_DEVICE_INTEGRATED;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return PARX_GPU_DEVICE_VIRTUAL;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return PARX_GPU_DEVICE_CPU;
    default: return PARX_GPU_DEVICE_OTHER;
    }
}

static bool parx__has_ext(const VkExtensionProperties *e, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(e[i].extensionName, name) == 0) return true;
    return false;
}

/* Lowest memory type index in `bits` with all of `want` (and none of
   `avoid`), or -1. */
static int parx__gpu_memtype(const parx_gpu *g, uint32_t bits, VkMemoryPropertyFlags want,
                             VkMemoryPropertyFlags avoid)
{
    for (uint32_t i = 0; i < g->memprops.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = g->memprops.memoryTypes[i].propertyFlags;
        if ((bits & (1u << i)) && (f & want) == want && !(f & avoid)) return (int)i;
    }
    return -1;
}

/* true in a statically linked program: its program headers name no
   interpreter (PT_INTERP). glibc's dlopen there loads libvulkan, which then
   crashes loading its drivers (SIGSEGV inside its own dlopen, glibc 2.36),
   so such a program is told -ENODEV, as a machine without Vulkan is. (A
   program started as `ld.so PROGRAM` has its own headers in AT_PHDR too:
   ld.so puts them there.) */
static bool parx__gpu_static_program(void)
{
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
    unsigned long n = getauxval(AT_PHNUM);
    if (!ph || !n) return false; /* not known: try */
    for (unsigned long i = 0; i < n; i++)
        if (ph[i].p_type == PT_INTERP) return false;
    return true;
}

static int parx__gpu_load(parx_gpu *g)
{
    if (parx__gpu_static_program()) {
        parx__log(PARX_LOG_INFO, "parx_gpu: a statically linked program cannot load Vulkan "
                                 "(libvulkan crashes in glibc's static dlopen): no device");
        return -ENODEV;
    }
    g->lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!g->lib) g->lib = dlopen("libvulkan.so", RTLD_NOW | RTLD_LOCAL);
    if (!g->lib) return -ENODEV;
    /* dlsym returns void *; POSIX guarantees the conversion works. */
    *(void **)&g->gipa = dlsym(g->lib, "vkGetInstanceProcAddr");
    if (!g->gipa) return -ENODEV;
#define PARX__VK_LOAD_GLOBAL(name)                                                                \
    g->name = (PFN_##name)g->gipa(VK_NULL_HANDLE, #name);                                         \
    if (!g->name) return -ENODEV;
    PARX__VK_GLOBAL(PARX__VK_LOAD_GLOBAL)
#undef PARX__VK_LOAD_GLOBAL
    return 0;
}

static int parx__gpu_pick_kind(const parx_gpu_desc *d, int *index)
{
    *index = -1;
    if (d->device != PARX_GPU_DEVICE_AUTO) return (int)d->device;
    const char *e = getenv("PARX_GPU_DEVICE");
    if (!e || !*e || strcmp(e, "auto") == 0) return PARX_GPU_DEVICE_AUTO;
    if (strcmp(e, "discrete") == 0) return PARX_GPU_DEVICE_DISCRETE;
    if (strcmp(e, "integrated") == 0) return PARX_GPU_DEVICE_INTEGRATED;
    if (strcmp(e, "virtual") == 0) return PARX_GPU_DEVICE_VIRTUAL;
    if (strcmp(e, "cpu") == 0) return PARX_GPU_DEVICE_CPU;
    char *end;
    long v = strtol(e, &end, 10);
    if (*end == 0 && v >= 0 && v < 1024) *index = (int)v;
    return PARX_GPU_DEVICE_AUTO;
}

static int parx__gpu_instance(parx_gpu *g)
{
    uint32_t ne = 0;
    VkExtensionProperties *ext = NULL;
    if (g->vkEnumerateInstanceExtensionProperties(NULL, &ne, NULL) == VK_SUCCESS && ne) {
        ext = (VkExtensionProperties *)calloc(ne, sizeof *ext);
        if (!ext) return -ENOMEM;
        if (g->vkEnumerateInstanceExtensionProperties(NULL, &ne, ext) != VK_SUCCESS) ne = 0;
    }
    const char *names[4];
    uint32_t nn = 0;
    VkInstanceCreateFlags flags = 0;
    bool portability = parx__has_ext(ext, ne, "VK_KHR_portability_enumeration");
    bool debug = parx__has_ext(ext, ne, VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    if (portability) {
        names[nn++] = "VK_KHR_portability_enumeration";
        flags |= 0x00000001; /* VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR */
    }
    if (debug) names[nn++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    free(ext);

    const char *layers[1];
    uint32_t nl = 0;
    if (g->desc.validation) {
        uint32_t n = 0;
        if (g->vkEnumerateInstanceLayerProperties(&n, NULL) == VK_SUCCESS && n) {
            VkLayerProperties *lp = (VkLayerProperties *)calloc(n, sizeof *lp);
            if (lp && g->vkEnumerateInstanceLayerProperties(&n, lp) == VK_SUCCESS)
                for (uint32_t i = 0; i < n; i++)
                    if (strcmp(lp[i].layerName, "VK_LAYER_KHRONOS_validation") == 0)
                        layers[nl = 1, 0] = "VK_LAYER_KHRONOS_validation";
            free(lp);
        }
        if (!nl)
            parx__log(PARX_LOG_WARN,
                      "parx_gpu: validation asked for, but the layer is not installed");
    }
    /* Vulkan 1.1 where the loader has it (external memory is core there). */
    uint32_t api = VK_API_VERSION_1_0;
    PFN_vkEnumerateInstanceVersion eiv =
        (PFN_vkEnumerateInstanceVersion)g->gipa(VK_NULL_HANDLE, "vkEnumerateInstanceVersion");
    if (eiv) {
        uint32_t v = 0;
        if (eiv(&v) == VK_SUCCESS && v >= VK_API_VERSION_1_1) api = VK_API_VERSION_1_1;
    }
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "parx", .pEngineName = "parx_gpu",
                             .engineVersion = VK_MAKE_VERSION(0, 1, 0), .apiVersion = api};
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .flags = flags,
                               .pApplicationInfo = &app, .enabledLayerCount = nl,
                               .ppEnabledLayerNames = nl ? layers : NULL,
                               .enabledExtensionCount = nn, .ppEnabledExtensionNames = names};
    VkResult r = g->vkCreateInstance(&ci, NULL, &g->inst);
    if (r != VK_SUCCESS) {
        g->inst = VK_NULL_HANDLE;
        int e = parx__vk_err(NULL, r);
        return e == -ENOMEM ? e : -ENODEV;
    }
#define PARX__VK_LOAD_INSTANCE(name)                                                              \
    g->name = (PFN_##name)g->gipa(g->inst, #name);                                                \
    if (!g->name) return -ENODEV;
    PARX__VK_INSTANCE(PARX__VK_LOAD_INSTANCE)
#undef PARX__VK_LOAD_INSTANCE
    if (debug) {
        g->vkCreateDebugUtilsMessengerEXT = (PFN_vkCreateDebugUtilsMessengerEXT)g->gipa(
            g->inst, "vkCreateDebugUtilsMessengerEXT");
        g->vkDestroyDebugUtilsMessengerEXT = (PFN_vkDestroyDebugUtilsMessengerEXT)g->gipa(
            g->inst, "vkDestroyDebugUtilsMessengerEXT");
        if (g->vkCreateDebugUtilsMessengerEXT && g->vkDestroyDebugUtilsMessengerEXT) {
            VkDebugUtilsMessengerCreateInfoEXT mi = {
                .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
                .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                                   VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
                .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
                .pfnUserCallback = parx__gpu_messenger, .pUserData = g};
            if (g->vkCreateDebugUtilsMessengerEXT(g->inst, &mi, NULL, &g->messenger) != VK_SUCCESS)
                g->messenger = VK_NULL_HANDLE;
        }
    }
    return 0;
}

#ifdef PARX_GPU_TEST_HOOKS
/* Tests only: the result the next vkEnumeratePhysicalDevices gives instead
   of being called (VK_SUCCESS: call it), set with
   parx__gpu_test_inject_enum. */
static VkResult parx__gpu_test_enum_devices = VK_SUCCESS;
#endif

static VkResult parx__gpu_enum_devices(parx_gpu *g, uint32_t *n, VkPhysicalDevice *pd)
{
#ifdef PARX_GPU_TEST_HOOKS
    if (parx__gpu_test_enum_devices != VK_SUCCESS) {
        VkResult r = parx__gpu_test_enum_devices;
        parx__gpu_test_enum_devices = VK_SUCCESS;
        return r;
    }
#endif
    return g->vkEnumeratePhysicalDevices(g->inst, n, pd);
}

/* Listing the devices: out of memory is -ENOMEM (not "no device", which
   sends the caller to the CPU path for good); any other failure, or no
   device, is -ENODEV. */
static int parx__gpu_enum_err(VkResult r)
{
    return parx__vk_err(NULL, r) == -ENOMEM ? -ENOMEM : -ENODEV;
}

static int parx__gpu_choose(parx_gpu *g)
{
    uint32_t n = 0;
    VkResult r = parx__gpu_enum_devices(g, &n, NULL);
    if (r != VK_SUCCESS) return parx__gpu_enum_err(r);
    if (n == 0) return -ENODEV;
    VkPhysicalDevice *pd = (VkPhysicalDevice *)calloc(n, sizeof *pd);
    if (!pd) return -ENOMEM;
    if ((r = parx__gpu_enum_devices(g, &n, pd)) < 0) {
        free(pd);
        return parx__gpu_enum_err(r);
    }
    int index;
    int want = parx__gpu_pick_kind(&g->desc, &index);
    int best = -1, best_rank = 0;
    for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceProperties p;
        g->vkGetPhysicalDeviceProperties(pd[i], &p);
        /* a compute queue? */
        uint32_t nq = 0;
        g->vkGetPhysicalDeviceQueueFamilyProperties(pd[i], &nq, NULL);
        VkQueueFamilyProperties qf[16];
        if (nq > 16) nq = 16;
        g->vkGetPhysicalDeviceQueueFamilyProperties(pd[i], &nq, qf);
        bool compute = false;
        for (uint32_t q = 0; q < nq; q++)
            if (qf[q].queueFlags & VK_QUEUE_COMPUTE_BIT) compute = true;
        if (!compute) continue;
        int kind = (int)parx__gpu_kind(p.deviceType);
        int rank;
        if (index >= 0) rank = (int)i == index ? 1 : 0;
        else if (want == PARX_GPU_DEVICE_AUTO)
            rank = kind == PARX_GPU_DEVICE_DISCRETE ? 4 : kind == PARX_GPU_DEVICE_INTEGRATED ? 3
                 : kind == PARX_GPU_DEVICE_VIRTUAL ? 2 : 0; /* never a CPU device by choice */
        else rank = kind == want ? 1 : 0;
        if (rank > best_rank) {
            best_rank = rank;
            best = (int)i;
        }
    }
    if (best >= 0) g->phys = pd[best];
    free(pd);
    if (best < 0) return -ENODEV;
    g->vkGetPhysicalDeviceProperties(g->phys, &g->props);
    g->vkGetPhysicalDeviceMemoryProperties(g->phys, &g->memprops);
    /* The first compute-capable family, preferring one without graphics
       (a dedicated compute queue runs beside rendering). */
    uint32_t nq = 0;
    g->vkGetPhysicalDeviceQueueFamilyProperties(g->phys, &nq, NULL);
    VkQueueFamilyProperties qf[16];
    if (nq > 16) nq = 16;
    g->vkGetPhysicalDeviceQueueFamilyProperties(g->phys, &nq, qf);
    int fam = -1;
    for (uint32_t q = 0; q < nq && fam < 0; q++)
        if ((qf[q].queueFlags & VK_QUEUE_COMPUTE_BIT) &&
            !(qf[q].queueFlags & VK_QUEUE_GRAPHICS_BIT))
            fam = (int)q;
    for (uint32_t q = 0; q < nq && fam < 0; q++)
        if (qf[q].queueFlags & VK_QUEUE_COMPUTE_BIT) fam = (int)q;
    g->qfamily = (uint32_t)fam;
    return 0;
}

#ifdef PARX_GPU_TEST_HOOKS
/* Tests only: the result the next vkCreateDevice gives instead of being
   called (VK_SUCCESS: call it), set with parx__gpu_test_inject_open; and a
   smaller maxMemoryAllocationSize for the next open to take (0: the
   device's), set with parx__gpu_test_inject_max_alloc. */
static VkResult parx__gpu_test_create_device = VK_SUCCESS;
static VkDeviceSize parx__gpu_test_max_alloc;
#endif

static int parx__gpu_device(parx_gpu *g)
{
    uint32_t ne = 0;
    VkExtensionProperties *ext = NULL;
    if (g->vkEnumerateDeviceExtensionProperties(g->phys, NULL, &ne, NULL) == VK_SUCCESS && ne) {
        ext = (VkExtensionProperties *)calloc(ne, sizeof *ext);
        if (!ext) return -ENOMEM;
        if (g->vkEnumerateDeviceExtensionProperties(g->phys, NULL, &ne, ext) != VK_SUCCESS) ne = 0;
    }
    const char *names[4];
    uint32_t nn = 0;
    /* A portability (subset) implementation must have its extension enabled. */
    if (parx__has_ext(ext, ne, "VK_KHR_portability_subset"))
        names[nn++] = "VK_KHR_portability_subset";
    g->ext_host = !g->desc.no_import && g->props.apiVersion >= VK_API_VERSION_1_1 &&
                  parx__has_ext(ext, ne, VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME);
    if (g->ext_host) names[nn++] = VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME;
    free(ext);

    float prio = 1.0f;
    VkDeviceQueueCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                  .queueFamilyIndex = g->qfamily, .queueCount = 1,
                                  .pQueuePriorities = &prio};
    VkDeviceCreateInfo di = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                             .queueCreateInfoCount = 1, .pQueueCreateInfos = &qi,
                             .enabledExtensionCount = nn, .ppEnabledExtensionNames = names};
    VkResult r;
#ifdef PARX_GPU_TEST_HOOKS
    if (parx__gpu_test_create_device != VK_SUCCESS) {
        r = parx__gpu_test_create_device;
        parx__gpu_test_create_device = VK_SUCCESS;
    } else
#endif
        r = g->vkCreateDevice(g->phys, &di, NULL, &g->dev);
    if (r != VK_SUCCESS) {
        g->dev = VK_NULL_HANDLE;
        return parx__vk_err(g, r);
    }
#define PARX__VK_LOAD_DEVICE(name)                                                                \
    g->name = (PFN_##name)g->vkGetDeviceProcAddr(g->dev, #name);                                  \
    if (!g->name) return -ENODEV;
    PARX__VK_DEVICE(PARX__VK_LOAD_DEVICE)
#undef PARX__VK_LOAD_DEVICE
    g->dev_loaded = true;
    if (g->ext_host) {
        g->vkGetMemoryHostPointerPropertiesEXT = (PFN_vkGetMemoryHostPointerPropertiesEXT)
            g->vkGetDeviceProcAddr(g->dev, "vkGetMemoryHostPointerPropertiesEXT");
        if (!g->vkGetMemoryHostPointerPropertiesEXT) g->ext_host = false;
    }
    g->vkGetDeviceQueue(g->dev, g->qfamily, 0, &g->queue);
    return 0;
}

/* Of the memory types in `bits`, those on the largest heap that holds a
   type with `want`. */
static uint32_t parx__gpu_on_largest_heap(const parx_gpu *g, uint32_t bits,
                                          VkMemoryPropertyFlags want)
{
    const VkPhysicalDeviceMemoryProperties *mp = &g->memprops;
    VkDeviceSize most = 0;
    for (uint32_t i = 0; i < mp->memoryTypeCount; i++)
        if ((bits & (1u << i)) && (mp->memoryTypes[i].propertyFlags & want) == want &&
            mp->memoryHeaps[mp->memoryTypes[i].heapIndex].size > most)
            most = mp->memoryHeaps[mp->memoryTypes[i].heapIndex].size;
    uint32_t on = 0;
    for (uint32_t i = 0; i < mp->memoryTypeCount; i++)
        if ((bits & (1u << i)) && mp->memoryHeaps[mp->memoryTypes[i].heapIndex].size == most)
            on |= 1u << i;
    return on;
}

/* The memory types of device buffers and of staging, among `bits` (those a
   storage buffer may use). Device buffers: on the largest device-local
   heap, host-visible and coherent there if a type is (then idle copies are
   a memcpy):
   an integrated GPU's or the CPU's memory, or a discrete GPU's memory
   mapped whole (resizable BAR). A discrete GPU's small BAR window (256 MiB,
   a heap of its own) would cap every buffer at its size: not used, copies
   go through staging. Staging: host-visible, coherent, cached if possible
   (downloads read it). Returns 0, or -ENODEV where no type will do. */
static int parx__gpu_memory_types(parx_gpu *g, uint32_t bits)
{
    const VkMemoryPropertyFlags DL = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT,
                                HV = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT,
                                HC = VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                                CA = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
    uint32_t big = parx__gpu_on_largest_heap(g, bits, DL);
    g->dev_type = g->desc.staging ? -1 : parx__gpu_memtype(g, big, DL | HV | HC, 0);
    g->host_mapped = g->dev_type >= 0;
    if (g->dev_type < 0) g->dev_type = parx__gpu_memtype(g, big, DL, 0);
    if (g->dev_type < 0) g->dev_type = parx__gpu_memtype(g, bits, 0, 0);
    g->stg_type = parx__gpu_memtype(g, bits, HV | HC | CA, 0);
    if (g->stg_type < 0) g->stg_type = parx__gpu_memtype(g, bits, HV | HC, 0);
    if (g->dev_type < 0 || g->stg_type < 0) return -ENODEV;
    g->heap_bytes = g->memprops.memoryHeaps[g->memprops.memoryTypes[g->dev_type].heapIndex].size;
    return 0;
}

/* Memory types and chunk size, from a probe buffer's requirements. */
static int parx__gpu_memory_plan(parx_gpu *g)
{
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = 65536,
                             .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkBuffer b;
    VkResult r = g->vkCreateBuffer(g->dev, &bi, NULL, &b);
    if (r != VK_SUCCESS) return parx__vk_err(g, r);
    VkMemoryRequirements req;
    g->vkGetBufferMemoryRequirements(g->dev, b, &req);
    g->vkDestroyBuffer(g->dev, b, NULL);
    int rc = parx__gpu_memory_types(g, req.memoryTypeBits);
    if (rc) return rc;

    /* Chunk: at most maxStorageBufferRange (one binding) and the largest
       allocation (Vulkan 1.1 maxMemoryAllocationSize; 1 GiB where unknown),
       a multiple of 64 KiB (every alignment a driver asks for). An import
       allocates the pages around its chunk, up to two import alignments
       more (parx__gpu_import_chunks): the chunk leaves room for them, or a
       full chunk off the page boundary would ask for more than the largest
       allocation on a device whose binding range exceeds it. */
    VkDeviceSize max_alloc = (VkDeviceSize)1 << 30;
    PFN_vkGetPhysicalDeviceProperties2 gp2 =
        (PFN_vkGetPhysicalDeviceProperties2)g->gipa(g->inst, "vkGetPhysicalDeviceProperties2");
    VkPhysicalDeviceExternalMemoryHostPropertiesEXT hp = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_MEMORY_HOST_PROPERTIES_EXT};
    VkPhysicalDeviceMaintenance3Properties m3 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES,
        .pNext = g->ext_host ? &hp : NULL};
    if (gp2 && g->props.apiVersion >= VK_API_VERSION_1_1) {
        VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                          .pNext = &m3};
        gp2(g->phys, &p2);
        if (m3.maxMemoryAllocationSize) max_alloc = m3.maxMemoryAllocationSize;
        g->import_align = hp.minImportedHostPointerAlignment;
    }
#ifdef PARX_GPU_TEST_HOOKS
    if (parx__gpu_test_max_alloc && parx__gpu_test_max_alloc < max_alloc)
        max_alloc = parx__gpu_test_max_alloc;
    parx__gpu_test_max_alloc = 0;
#endif
    g->stats.max_allocation_bytes = max_alloc;
    VkDeviceSize c = g->props.limits.maxStorageBufferRange, al = g->import_align;
    if (c > max_alloc) c = max_alloc;
    if (g->ext_host && al && !(al & (al - 1)) && al <= max_alloc / 4 && c > max_alloc - 2 * al)
        c = max_alloc - 2 * al;
    if (g->desc.max_chunk_bytes && c > g->desc.max_chunk_bytes) c = g->desc.max_chunk_bytes;
    c &= ~(VkDeviceSize)65535;
    if (c == 0) c = 65536;
    g->chunk_bytes = (size_t)c; /* <= maxStorageBufferRange (a uint32_t) */
    if (!g->import_align || (g->import_align & (g->import_align - 1)) || g->import_align > c)
        g->ext_host = false;
    return 0;
}

static int parx__gpu_slots(parx_gpu *g)
{
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                  .queueFamilyIndex = g->qfamily};
    VkResult r = g->vkCreateCommandPool(g->dev, &pi, NULL, &g->cmdpool);
    if (r != VK_SUCCESS) {
        g->cmdpool = VK_NULL_HANDLE;
        return parx__vk_err(g, r);
    }
    uint32_t sets = g->desc.batch_limit < 4096 ? g->desc.batch_limit : 4096;
    for (unsigned i = 0; i < PARX_GPU_SLOTS; i++) {
        parx__gpu_slot *s = &g->slots[i];
        VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                          .commandPool = g->cmdpool,
                                          .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                          .commandBufferCount = 1};
        if ((r = g->vkAllocateCommandBuffers(g->dev, &ai, &s->cmd)) != VK_SUCCESS)
            return parx__vk_err(g, r);
        VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        if ((r = g->vkCreateFence(g->dev, &fi, NULL, &s->fence)) != VK_SUCCESS) {
            s->fence = VK_NULL_HANDLE;
            return parx__vk_err(g, r);
        }
        /* Room for `sets` sets of the largest kernel's bindings. */
        VkDescriptorPoolSize ps = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                   .descriptorCount = sets * PARX_GPU_MAX_BINDINGS};
        VkDescriptorPoolCreateInfo dpi = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                          .maxSets = sets, .poolSizeCount = 1, .pPoolSizes = &ps};
        if ((r = g->vkCreateDescriptorPool(g->dev, &dpi, NULL, &s->pool)) != VK_SUCCESS) {
            s->pool = VK_NULL_HANDLE;
            return parx__vk_err(g, r);
        }
    }
    return 0;
}

/* Read the pipeline cache file; accept it only if its header names this
   device (vendor, device, pipelineCacheUUID). Returns 0 (with or without
   a file). */
static int parx__gpu_cache_open(parx_gpu *g)
{
    void *data = NULL;
    size_t size = 0;
    if (g->cache_path) {
        FILE *f = fopen(g->cache_path, "rb");
        if (f) {
            if (fseek(f, 0, SEEK_END) == 0) {
                long len = ftell(f);
                if (len >= 32 && len < (1L << 30) && fseek(f, 0, SEEK_SET) == 0 &&
                    (data = malloc((size_t)len)) != NULL) {
                    if (fread(data, 1, (size_t)len, f) == (size_t)len) size = (size_t)len;
                }
            }
            fclose(f);
        }
        if (size) {
            const unsigned char *h = (const unsigned char *)data;
            uint32_t hlen, hver, vendor, device;
            memcpy(&hlen, h, 4);
            memcpy(&hver, h + 4, 4);
            memcpy(&vendor, h + 8, 4);
            memcpy(&device, h + 12, 4);
            if (hlen < 32 || hlen > size || hver != VK_PIPELINE_CACHE_HEADER_VERSION_ONE ||
                vendor != g->props.vendorID || device != g->props.deviceID ||
                memcmp(h + 16, g->props.pipelineCacheUUID, VK_UUID_SIZE) != 0) {
                parx__log(PARX_LOG_INFO, "parx_gpu: pipeline cache file is for another device "
                                         "or driver: ignored");
                size = 0;
            }
        }
    }
    VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
                                    .initialDataSize = size, .pInitialData = size ? data : NULL};
    VkResult r = g->vkCreatePipelineCache(g->dev, &ci, NULL, &g->cache);
    if (r != VK_SUCCESS && size) { /* a cache the driver refuses: start empty */
        ci.initialDataSize = 0;
        ci.pInitialData = NULL;
        size = 0;
        r = g->vkCreatePipelineCache(g->dev, &ci, NULL, &g->cache);
    }
    free(data);
    if (r != VK_SUCCESS) {
        g->cache = VK_NULL_HANDLE; /* work without one */
        return 0;
    }
    g->cache_loaded = size != 0;
    return 0;
}

static void parx__gpu_free_chunks(parx_gpu *g, parx_gpu_buffer *b);
static int parx__gpu_import_chunks(parx_gpu *g, parx_gpu_buffer *b);

/* Probe host import for real: import one aligned block of our own. */
static void parx__gpu_probe_import(parx_gpu *g)
{
    if (!g->ext_host) return;
    size_t al = (size_t)g->import_align;
    void *mem = aligned_alloc(al, al);
    if (!mem) {
        g->ext_host = false;
        return;
    }
    parx_gpu_buffer b;
    memset(&b, 0, sizeof b);
    b.g = g;
    b.root = &b;
    b.size = al;
    b.host = (unsigned char *)mem;
    b.kind = PARX__BUF_IMPORTED;
    int rc = parx__gpu_import_chunks(g, &b);
    parx__gpu_free_chunks(g, &b); /* what it made, whether or not the import worked */
    if (rc) g->ext_host = false;
    free(mem);
}

static void parx__gpu_teardown(parx_gpu *g);

PARX_API parx_gpu *parx_gpu_open(const parx_gpu_desc *desc, int *err)
{
    int rc = -ENOMEM;
    parx_gpu *g = NULL;
    if (desc && (unsigned)desc->device > (unsigned)PARX_GPU_DEVICE_OTHER) {
        rc = -EINVAL; /* not a parx_gpu_device_kind: a bug, not a machine without a GPU */
        goto fail;
    }
    g = (parx_gpu *)calloc(1, sizeof *g);
    if (!g) goto fail;
    if (desc) g->desc = *desc;
    parx__gpu_desc_defaults(&g->desc);
    if (g->desc.pipeline_cache_path) {
        g->cache_path = strdup(g->desc.pipeline_cache_path);
        if (!g->cache_path) goto fail;
        g->desc.pipeline_cache_path = g->cache_path;
    }
    g->dev_type = g->stg_type = -1;
    if ((rc = parx__gpu_fork_gen_now(&g->fork_gen)) != 0) goto fail;
    if ((rc = parx__gpu_load(g)) != 0) goto fail;
    if ((rc = parx__gpu_instance(g)) != 0) goto fail;
    if ((rc = parx__gpu_choose(g)) != 0) goto fail;
    if ((rc = parx__gpu_device(g)) != 0) goto fail;
    if ((rc = parx__gpu_memory_plan(g)) != 0) goto fail;
    if ((rc = parx__gpu_slots(g)) != 0) goto fail;
    if ((rc = parx__gpu_cache_open(g)) != 0) goto fail;
    parx__gpu_probe_import(g);
    g->host_import = g->ext_host;
    return g;
fail:
    if (g) parx__gpu_teardown(g);
    /* The documented codes: any other driver result (a device lost or a
       feature missing while it was made) is -EIO. */
    if (rc != -ENODEV && rc != -ENOMEM && rc != -EINVAL) rc = -EIO;
    if (err) *err = rc;
    return NULL;
}

/* -------------------------------------------------------------------------- */
/* >>gpu-batch: recording, barriers, submission, bounded waits                */
/* -------------------------------------------------------------------------- */

static uint64_t parx__gpu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The absolute deadline timeout_ns from now, saturated: a timeout too long
   to add (UINT64_MAX, Vulkan's own "no bound") never wraps into the past. */
static uint64_t parx__gpu_deadline(uint64_t timeout_ns)
{
    uint64_t now = parx__gpu_now_ns();
    return timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
}

/* A batch has completed: hand its downloads and mirrored buffers to the
   host, and free the slot. */
static void parx__gpu_complete(parx_gpu *g, parx__gpu_slot *s)
{
    for (size_t i = 0; i < s->nouts; i++) memcpy(s->outs[i].dst, s->outs[i].src, s->outs[i].n);
    s->nouts = 0;
    s->nmirrors = 0;
    if (s->serial > g->completed) g->completed = s->serial;
    s->serial = 0;
}

/* Wait for one in-flight slot until the absolute deadline (ns). */
static int parx__gpu_wait_slot(parx_gpu *g, parx__gpu_slot *s, uint64_t deadline)
{
    if (s->serial == 0) return 0;
    uint64_t now = parx__gpu_now_ns();
    uint64_t left = deadline > now ? deadline - now : 0;
    g->stats.waits++;
    if (g->inject == -1 || g->inject == -2) { /* a test's stand-in for what a driver can return
                                                 (PARX_GPU_TEST_HOOKS) */
        VkResult fake = g->inject == -1 ? VK_TIMEOUT : VK_ERROR_DEVICE_LOST;
        g->inject = 0;
        return parx__vk_err(g, fake);
    }
    if (g->inject == -5 || g->inject == -6 || g->inject == -9)
        return parx__vk_err(g, VK_ERROR_OUT_OF_HOST_MEMORY);
    VkResult r = g->vkWaitForFences(g->dev, 1, &s->fence, VK_TRUE, left);
    if (r != VK_SUCCESS) return parx__vk_err(g, r);
    parx__gpu_complete(g, s);
    return 0;
}

/* The in-flight slot with the lowest serial, or NULL if none is in flight. */
static parx__gpu_slot *parx__gpu_oldest(parx_gpu *g)
{
    parx__gpu_slot *oldest = NULL;
    for (unsigned i = 0; i < PARX_GPU_SLOTS; i++)
        if (g->slots[i].serial && (!oldest || g->slots[i].serial < oldest->serial))
            oldest = &g->slots[i];
    return oldest;
}

/* Wait for every batch with a serial up to `serial`, oldest first. */
static int parx__gpu_wait_serial(parx_gpu *g, uint64_t serial, uint64_t timeout_ns)
{
    uint64_t deadline = parx__gpu_deadline(timeout_ns);
    while (g->completed < serial) {
        parx__gpu_slot *oldest = parx__gpu_oldest(g);
        if (!oldest) break;
        int rc = parx__gpu_wait_slot(g, oldest, deadline);
        if (rc) return rc;
    }
    return 0;
}

/* Before a buffer or kernel is freed, and at close: wait until no batch up to `serial`
   runs, within the timeout, then (still running) without bound. Where a
   wait itself fails (the driver short of memory, say) or the device is
   lost, wait for the whole device. Returns false where the device may
   still use the object: it must not be freed then. */
static bool parx__gpu_quiesce(parx_gpu *g, uint64_t serial)
{
    if (!g->lost && parx__gpu_wait_serial(g, serial, g->desc.timeout_ns) == 0) return true;
    if (!g->lost && parx__gpu_wait_serial(g, serial, UINT64_MAX) == 0) return true;
    VkResult r = g->inject == -6   ? VK_ERROR_OUT_OF_HOST_MEMORY /* PARX_GPU_TEST_HOOKS */
                 : g->inject == -9 ? VK_ERROR_DEVICE_LOST
                                   : g->vkDeviceWaitIdle(g->dev);
    parx__vk_err(g, r); /* a device lost here is lost for every later call too */
    if (r == VK_SUCCESS && !g->lost) {
        /* Every batch has ended: complete them, oldest first, as their
           waits would have (their copy-outs run now, not after a free). */
        for (parx__gpu_slot *s; (s = parx__gpu_oldest(g)) != NULL;) parx__gpu_complete(g, s);
    }
    return r == VK_SUCCESS || g->lost; /* a lost device runs nothing more */
}

static void parx__gpu_barrier(parx_gpu *g, VkPipelineStageFlags src, VkAccessFlags src_access,
                              VkPipelineStageFlags dst, VkAccessFlags dst_access)
{
    parx__gpu_slot *s = &g->slots[g->cur];
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = src_access,
                          .dstAccessMask = dst_access};
    g->vkCmdPipelineBarrier(s->cmd, src, dst, 0, 1, &mb, 0, NULL, 0, NULL);
    g->stats.barriers++;
    g->epoch++;
    g->pend_writes = g->pend_reads = 0;
}

#define PARX__ALL_WRITES (VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT)
#define PARX__ALL_ACCESS                                                                          \
    (VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |       \
     VK_ACCESS_TRANSFER_WRITE_BIT)
#define PARX__STAGES (VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT)

/* Make the current slot record: wait for it to be free, reset it, begin
   its command buffer with the barrier against earlier batches. */
static int parx__gpu_begin(parx_gpu *g)
{
    int gone = parx__gpu_gone(g);
    if (gone) return gone;
    parx__gpu_slot *s = &g->slots[g->cur];
    if (s->recording) return 0;
    if (s->serial) {
        int rc = parx__gpu_wait_slot(g, s, parx__gpu_deadline(g->desc.timeout_ns));
        if (rc) return rc;
    }
    VkResult r;
    if ((r = g->vkResetFences(g->dev, 1, &s->fence)) != VK_SUCCESS) return parx__vk_err(g, r);
    if ((r = g->vkResetCommandBuffer(s->cmd, 0)) != VK_SUCCESS) return parx__vk_err(g, r);
    if ((r = g->vkResetDescriptorPool(g->dev, s->pool, 0)) != VK_SUCCESS) return parx__vk_err(g, r);
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    if ((r = g->vkBeginCommandBuffer(s->cmd, &bi)) != VK_SUCCESS) return parx__vk_err(g, r);
    s->recording = true;
    s->dispatches = s->sets = 0;
    s->stg_used = 0;
    g->batch++;
    g->epoch = 1;
    g->last_k = NULL;
    g->bound_pipe = VK_NULL_HANDLE;
    /* Earlier batches on this queue may have written what this one reads:
       one barrier covers them all (submission order puts them in its first
       scope). Host writes before the submit need none: vkQueueSubmit makes
       them visible. */
    if (g->submitted) {
        parx__gpu_barrier(g, PARX__STAGES, PARX__ALL_WRITES, PARX__STAGES, PARX__ALL_ACCESS);
    }
    return 0;
}

static int parx__gpu_record_mirror_out(parx_gpu *g, parx_gpu_buffer *b);

/* Submit the current slot (if it recorded anything) and move on. */
static int parx__gpu_flush(parx_gpu *g)
{
    int gone = parx__gpu_gone(g);
    if (gone) return gone;
    parx__gpu_slot *s = &g->slots[g->cur];
    if (!s->recording) return 0;
    /* Mirrored imports go back to the host when the batch completes, those
       that a dispatch may have written: one bound only read-only (readonly_mask)
       still holds what was copied in. */
    for (size_t i = 0; i < s->nmirrors; i++) {
        if (!s->mirrors[i]->written) continue;
        int rc = parx__gpu_record_mirror_out(g, s->mirrors[i]);
        if (rc) {
            /* The batch cannot be finished (no memory for its copy-outs):
               dropped whole, like a batch the driver fails to end. Left
               recording, a later flush would submit it after all, its
               copies recorded twice, into work the caller took for lost. */
            s->recording = false;
            s->nouts = s->nmirrors = 0;
            return rc;
        }
    }
    /* Make the batch's writes visible to the host (mapped memory, staging). */
    g->epoch++;
    {
        VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                              .srcAccessMask = PARX__ALL_WRITES,
                              .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
        g->vkCmdPipelineBarrier(s->cmd, PARX__STAGES, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0,
                                NULL, 0, NULL);
    }
    VkResult r = g->vkEndCommandBuffer(s->cmd);
    if (g->inject == -3) { /* PARX_GPU_TEST_HOOKS: as if the driver had failed it */
        r = VK_ERROR_OUT_OF_DEVICE_MEMORY;
        g->inject = 0;
    }
    s->recording = false;
    if (r != VK_SUCCESS) {
        /* Never submitted: the batch's recorded work is dropped, its
           copy-outs too (else they would run when the slot's next batch
           completes, into memory that may be freed by then). */
        s->nouts = s->nmirrors = 0;
        return parx__vk_err(g, r);
    }
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1,
                       .pCommandBuffers = &s->cmd};
    r = g->vkQueueSubmit(g->queue, 1, &si, s->fence);
    if (r != VK_SUCCESS) {
        /* Not submitted: the batch's recorded work is dropped. */
        s->nouts = s->nmirrors = 0;
        return parx__vk_err(g, r);
    }
    s->serial = ++g->submitted;
    g->stats.submits++;
    /* Everything recorded in the batch now carries its serial. */
    for (parx_gpu_buffer *b = g->buffers; b; b = b->next)
        if (b->used_batch == g->batch) b->last_serial = s->serial;
    for (parx_gpu_kernel *k = g->kernels; k; k = k->next)
        if (k->used_batch == g->batch) k->last_serial = s->serial;
    g->cur = (g->cur + 1) % PARX_GPU_SLOTS;
    return 0;
}

/* Hazard tracking (>>batching). The batch is cut into epochs by its
   barriers; each chunk of a buffer remembers the last epoch that read it
   and the last that wrote it (any copy, whatever its range or the view it
   came through, touches every chunk of its buffer; a dispatch only the
   chunks it binds). Every barrier orders ALL
   the work of the epoch it closes (every stage that read or wrote since
   the previous barrier, every write made available) before ALL later work
   (both stages, every access type): that is what lets a buffer last
   touched in an older epoch need no barrier. A command's barrier is found
   in three steps, so that one command (a dispatch with several bindings)
   gets at most one barrier and none of its own accesses lands on the wrong
   side of it: check every buffer it touches (parx__gpu_hazard), record the
   barrier if any has a hazard (parx__gpu_order), then note every access
   (parx__gpu_note). */

/* Does a command that reads b (and writes it, when `writes`) conflict with
   what the current epoch did to b? Read after write, write after write,
   write after read. */
static bool parx__gpu_hazard(const parx_gpu *g, const parx_gpu_buffer *b, bool writes)
{
    if (b->root->used_batch != g->batch) return false;
    for (size_t i = 0; i < b->nchunks; i++) {
        const parx__gpu_chunk *c = &b->chunks[i];
        if (c->used_batch == g->batch &&
            (c->write_epoch == g->epoch || (writes && c->read_epoch == g->epoch)))
            return true;
    }
    return false;
}

/* The barrier that closes the current epoch: after every stage that read
   (write after read) or wrote (read or write after write) in it, with its
   writes made available, before every later command. */
static void parx__gpu_order(parx_gpu *g)
{
    VkPipelineStageFlags src = g->pend_writes | g->pend_reads;
    VkAccessFlags src_access = 0;
    if (g->pend_writes & VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT)
        src_access |= VK_ACCESS_SHADER_WRITE_BIT;
    if (g->pend_writes & VK_PIPELINE_STAGE_TRANSFER_BIT)
        src_access |= VK_ACCESS_TRANSFER_WRITE_BIT;
    if (!src) src = VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT; /* nothing pending: a no-op barrier */
    parx__gpu_barrier(g, src, src_access, PARX__STAGES, PARX__ALL_ACCESS);
}

/* Note that a command at `stage` reads and/or writes b in the current epoch. */
static void parx__gpu_note(parx_gpu *g, parx_gpu_buffer *b, bool reads, bool writes,
                           VkPipelineStageFlags stage)
{
    b->root->used_batch = g->batch;
    for (size_t i = 0; i < b->nchunks; i++) {
        parx__gpu_chunk *c = &b->chunks[i];
        if (c->used_batch != g->batch) {
            c->used_batch = g->batch;
            c->read_epoch = c->write_epoch = 0;
        }
        if (reads) c->read_epoch = g->epoch;
        if (writes) c->write_epoch = g->epoch;
    }
    if (reads) g->pend_reads |= stage;
    if (writes) g->pend_writes |= stage;
}

/* All three for a command that touches one buffer. */
static void parx__gpu_access(parx_gpu *g, parx_gpu_buffer *b, bool reads, bool writes,
                             VkPipelineStageFlags stage)
{
    if (parx__gpu_hazard(g, b, writes)) parx__gpu_order(g);
    parx__gpu_note(g, b, reads, writes, stage);
}

/* vkAllocateMemory, every allocation parx makes: the largest size asked for
   is kept (tests check it against maxMemoryAllocationSize). */
static VkResult parx__gpu_allocate(parx_gpu *g, const VkMemoryAllocateInfo *ai,
                                   VkDeviceMemory *mem)
{
    if (ai->allocationSize > g->largest_alloc) g->largest_alloc = ai->allocationSize;
    return g->vkAllocateMemory(g->dev, ai, NULL, mem);
}

/* Staging space in the current batch: n bytes (<= PARX_GPU_STAGING_MAX).
   May submit the batch when its staging is full. */
static int parx__gpu_staging(parx_gpu *g, size_t n, VkDeviceSize *off)
{
    /* at most: flush a full batch, allocate in the next one, use it */
    for (int tries = 0; tries < 3; tries++) {
        int rc = parx__gpu_begin(g);
        if (rc) return rc;
        parx__gpu_slot *s = &g->slots[g->cur];
        VkDeviceSize need = (s->stg_used + 255) & ~(VkDeviceSize)255;
        if (s->stg && need + n <= s->stg_cap) {
            *off = need;
            s->stg_used = need + n;
            return 0;
        }
        if (s->stg_used == 0) {
            /* Empty: (re)allocate large enough. Nothing in this batch uses
               the old one, and the slot's earlier batch has completed. */
            if (s->stg) {
                g->vkDestroyBuffer(g->dev, s->stg, NULL);
                g->vkFreeMemory(g->dev, s->stg_mem, NULL);
                s->stg = VK_NULL_HANDLE;
                s->stg_mem = VK_NULL_HANDLE;
                s->stg_map = NULL;
            }
            VkDeviceSize cap = (VkDeviceSize)1 << 20;
            while (cap < n) cap <<= 1;
            if (cap > PARX_GPU_STAGING_MAX) cap = n;
            VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = cap,
                                     .usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                              VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                                     .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
            VkResult r = g->vkCreateBuffer(g->dev, &bi, NULL, &s->stg);
            if (r != VK_SUCCESS) {
                s->stg = VK_NULL_HANDLE;
                return parx__vk_err(g, r);
            }
            VkMemoryRequirements req;
            g->vkGetBufferMemoryRequirements(g->dev, s->stg, &req);
            VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                                       .allocationSize = req.size,
                                       .memoryTypeIndex = (uint32_t)g->stg_type};
            void *map = NULL;
            r = parx__gpu_allocate(g, &ai, &s->stg_mem);
            if (r != VK_SUCCESS) s->stg_mem = VK_NULL_HANDLE; /* undefined after a failure */
            if (r != VK_SUCCESS ||
                (r = g->vkBindBufferMemory(g->dev, s->stg, s->stg_mem, 0)) != VK_SUCCESS ||
                (r = g->vkMapMemory(g->dev, s->stg_mem, 0, VK_WHOLE_SIZE, 0, &map)) != VK_SUCCESS) {
                g->vkDestroyBuffer(g->dev, s->stg, NULL);
                if (s->stg_mem) g->vkFreeMemory(g->dev, s->stg_mem, NULL);
                s->stg = VK_NULL_HANDLE;
                s->stg_mem = VK_NULL_HANDLE;
                return parx__vk_err(g, r);
            }
            s->stg_map = (unsigned char *)map;
            s->stg_cap = cap;
            continue;
        }
        rc = parx__gpu_flush(g); /* full: submit, go on in the next slot */
        if (rc) return rc;
    }
    return -ENOMEM;
}

static int parx__gpu_push_out(parx__gpu_slot *s, uint64_t tag, void *dst, const void *src,
                              size_t n)
{
    if (s->nouts == s->capouts) {
        size_t cap = s->capouts ? 2 * s->capouts : 16;
        parx__gpu_copyout *o = (parx__gpu_copyout *)realloc(s->outs, cap * sizeof *o);
        if (!o) return -ENOMEM;
        s->outs = o;
        s->capouts = cap;
    }
    s->outs[s->nouts++] = (parx__gpu_copyout){dst, src, n, tag};
    return 0;
}

/* Forget the copy-outs a failed parx_gpu_download queued, in every slot
   (its pieces may span batches); the others keep their order. */
static void parx__gpu_drop_outs(parx_gpu *g, uint64_t tag)
{
    for (unsigned i = 0; i < PARX_GPU_SLOTS; i++) {
        parx__gpu_slot *s = &g->slots[i];
        size_t kept = 0;
        for (size_t j = 0; j < s->nouts; j++)
            if (s->outs[j].tag != tag) s->outs[kept++] = s->outs[j];
        s->nouts = kept;
    }
}

/* Forget the copy-outs that read a buffer being destroyed (a mirrored
   import's, from its device or staging copy) or that write a mirrored import's host
   memory: after destroy they would read freed memory, or write memory the
   caller has taken back. */
static void parx__gpu_drop_buffer_outs(parx_gpu *g, const parx_gpu_buffer *b)
{
    const uintptr_t host = (uintptr_t)b->host;
    for (unsigned i = 0; i < PARX_GPU_SLOTS; i++) {
        parx__gpu_slot *s = &g->slots[i];
        size_t kept = 0;
        for (size_t j = 0; j < s->nouts; j++) {
            const uintptr_t src = (uintptr_t)s->outs[j].src, dst = (uintptr_t)s->outs[j].dst;
            bool mine = s->outs[j].tag == 0 && host && dst - host < b->size;
            for (size_t c = 0; c < b->nchunks && !mine; c++) {
                const parx__gpu_chunk *ch = &b->chunks[c];
                mine = (ch->map && src - (uintptr_t)ch->map < ch->bytes) ||
                       (ch->stg_map && src - (uintptr_t)ch->stg_map < ch->bytes);
            }
            if (!mine) s->outs[kept++] = s->outs[j];
        }
        s->nouts = kept;
    }
}

/* -------------------------------------------------------------------------- */
/* >>gpu-buffers: device buffers in chunks, host imports, mirrors             */
/* -------------------------------------------------------------------------- */

static void parx__gpu_free_chunks(parx_gpu *g, parx_gpu_buffer *b)
{
    if (!b->chunks) return;
    for (size_t i = 0; i < b->nchunks; i++) {
        parx__gpu_chunk *c = &b->chunks[i];
        if (c->buf) g->vkDestroyBuffer(g->dev, c->buf, NULL);
        if (c->mem) g->vkFreeMemory(g->dev, c->mem, NULL); /* unmaps too */
        if (c->stg) g->vkDestroyBuffer(g->dev, c->stg, NULL);
        if (c->stg_mem) g->vkFreeMemory(g->dev, c->stg_mem, NULL);
    }
    free(b->chunks);
    b->chunks = NULL;
    free(b->views);
    b->views = NULL;
}

static int parx__gpu_alloc_chunks(parx_gpu *g, parx_gpu_buffer *b)
{
    if (b->size > SIZE_MAX - (size_t)g->chunk_bytes) return -EINVAL; /* the count would wrap */
    b->nchunks = (b->size + g->chunk_bytes - 1) / g->chunk_bytes;
    b->chunks = (parx__gpu_chunk *)calloc(b->nchunks, sizeof *b->chunks);
    if (!b->chunks) return -ENOMEM;
    if (b->nchunks > 1) {
        b->views = (parx_gpu_buffer *)calloc(b->nchunks, sizeof *b->views);
        if (!b->views) return -ENOMEM;
        for (size_t i = 0; i < b->nchunks; i++) {
            b->views[i] = *b;
            b->views[i].root = b;
            b->views[i].nchunks = 1;
            b->views[i].chunks = &b->chunks[i];
            b->views[i].views = NULL;
            b->views[i].size = (size_t)(i + 1 < b->nchunks ? g->chunk_bytes
                                                           : b->size - i * g->chunk_bytes);
        }
    }
    for (size_t i = 0; i < b->nchunks; i++)
        b->chunks[i].bytes = i + 1 < b->nchunks ? g->chunk_bytes : b->size - i * g->chunk_bytes;
    return 0;
}

/* One VkBuffer of `bytes` with fresh memory of type `type` (mapped when the
   type is host-visible). */
static int parx__gpu_make(parx_gpu *g, VkDeviceSize bytes, int type, VkBuffer *buf,
                          VkDeviceMemory *mem, unsigned char **map)
{
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = bytes,
                             .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = g->vkCreateBuffer(g->dev, &bi, NULL, buf);
    if (r != VK_SUCCESS) {
        *buf = VK_NULL_HANDLE;
        return parx__vk_err(g, r);
    }
    VkMemoryRequirements req;
    g->vkGetBufferMemoryRequirements(g->dev, *buf, &req);
    if (!(req.memoryTypeBits & (1u << type))) return -ENOMEM;
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .allocationSize = req.size, .memoryTypeIndex = (uint32_t)type};
    if ((r = parx__gpu_allocate(g, &ai, mem)) != VK_SUCCESS) {
        *mem = VK_NULL_HANDLE;
        return parx__vk_err(g, r);
    }
    if ((r = g->vkBindBufferMemory(g->dev, *buf, *mem, 0)) != VK_SUCCESS) return parx__vk_err(g, r);
    VkMemoryPropertyFlags tf = g->memprops.memoryTypes[type].propertyFlags;
    if (map && (tf & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)) {
        void *p = NULL;
        if ((r = g->vkMapMemory(g->dev, *mem, 0, VK_WHOLE_SIZE, 0, &p)) != VK_SUCCESS)
            return parx__vk_err(g, r);
        *map = (unsigned char *)p;
    }
    return 0;
}

/* Zero-copy import of b->host, chunk by chunk: each chunk imports the pages
   around its bytes and binds at the chunk's offset into them. Any refusal
   (pointer, alignment, memory type, driver) returns an error: the caller
   mirrors instead. */
static int parx__gpu_import_chunks(parx_gpu *g, parx_gpu_buffer *b)
{
    int rc = parx__gpu_alloc_chunks(g, b);
    if (rc) return rc;
    const VkExternalMemoryHandleTypeFlagBits HT =
        VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT;
    VkDeviceSize al = g->import_align;
    for (size_t i = 0; i < b->nchunks; i++) {
        parx__gpu_chunk *c = &b->chunks[i];
        uintptr_t p = (uintptr_t)(b->host + i * g->chunk_bytes);
        uintptr_t lo = p & ~(uintptr_t)(al - 1);
        uintptr_t hi = (p + (uintptr_t)c->bytes + (uintptr_t)al - 1) & ~(uintptr_t)(al - 1);
        c->bind_offset = p - lo;
        if (c->bind_offset % g->props.limits.minStorageBufferOffsetAlignment) return -EINVAL;
        /* the descriptor's range is the chunk's bytes (chunk_bytes keeps it
           within maxStorageBufferRange: a guard); the pages around them, the
           VkBuffer's size, may be larger, which Vulkan allows */
        if (c->bytes > g->props.limits.maxStorageBufferRange) return -EINVAL;
        VkMemoryHostPointerPropertiesEXT hp = {
            .sType = VK_STRUCTURE_TYPE_MEMORY_HOST_POINTER_PROPERTIES_EXT};
        VkResult r = g->vkGetMemoryHostPointerPropertiesEXT(g->dev, HT, (void *)lo, &hp);
        if (r != VK_SUCCESS || hp.memoryTypeBits == 0) return -EINVAL;
        VkExternalMemoryBufferCreateInfo eb = {
            .sType = VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO, .handleTypes = HT};
        VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .pNext = &eb,
                                 .size = hi - lo,
                                 .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                          VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                          VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                                 .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
        if ((r = g->vkCreateBuffer(g->dev, &bi, NULL, &c->buf)) != VK_SUCCESS) {
            c->buf = VK_NULL_HANDLE;
            return parx__vk_err(g, r);
        }
        VkMemoryRequirements req;
        g->vkGetBufferMemoryRequirements(g->dev, c->buf, &req);
        if (req.size > hi - lo) return -EINVAL;
        int type = parx__gpu_memtype(g, req.memoryTypeBits & hp.memoryTypeBits,
                                     VK_MEMORY_PROPERTY_HOST_COHERENT_BIT, 0);
        if (type < 0) return -EINVAL;
        VkImportMemoryHostPointerInfoEXT imp = {
            .sType = VK_STRUCTURE_TYPE_IMPORT_MEMORY_HOST_POINTER_INFO_EXT, .handleType = HT,
            .pHostPointer = (void *)lo};
        VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .pNext = &imp,
                                   .allocationSize = hi - lo, .memoryTypeIndex = (uint32_t)type};
        if (g->inject == -10) { /* PARX_GPU_TEST_HOOKS: as if the driver had lost the device */
            g->inject = 0;
            c->mem = VK_NULL_HANDLE;
            return parx__vk_err(g, VK_ERROR_DEVICE_LOST);
        }
        if ((r = parx__gpu_allocate(g, &ai, &c->mem)) != VK_SUCCESS) {
            c->mem = VK_NULL_HANDLE;
            return parx__vk_err(g, r);
        }
        if ((r = g->vkBindBufferMemory(g->dev, c->buf, c->mem, 0)) != VK_SUCCESS)
            return parx__vk_err(g, r);
        c->map = (unsigned char *)p; /* the host's own bytes */
    }
    return 0;
}

/* Device chunks (and, for a mirror without a host mapping, staging twins). */
static int parx__gpu_device_chunks(parx_gpu *g, parx_gpu_buffer *b)
{
    int rc = parx__gpu_alloc_chunks(g, b);
    if (rc) return rc;
    for (size_t i = 0; i < b->nchunks; i++) {
        parx__gpu_chunk *c = &b->chunks[i];
        rc = parx__gpu_make(g, c->bytes, g->dev_type, &c->buf, &c->mem,
                            g->host_mapped ? &c->map : NULL);
        if (rc) return rc;
        if (b->kind == PARX__BUF_MIRRORED && !c->map) {
            rc = parx__gpu_make(g, c->bytes, g->stg_type, &c->stg, &c->stg_mem, &c->stg_map);
            if (rc) return rc;
        }
    }
    return 0;
}

static void parx__gpu_link(parx_gpu *g, parx_gpu_buffer *b)
{
    b->next = g->buffers;
    if (g->buffers) g->buffers->prev = b;
    g->buffers = b;
    for (size_t i = 0; b->views && i < b->nchunks; i++) b->views[i].g = g;
}

static parx_gpu_buffer *parx__gpu_buffer_new(parx_gpu *g, size_t size, int kind, void *host,
                                             int *err)
{
    int rc;
    parx_gpu_buffer *b = NULL;
    if (!g || size == 0 || (kind != PARX__BUF_DEVICE && !host)) {
        rc = -EINVAL;
        goto fail;
    }
    if ((rc = parx__gpu_gone(g)) != 0) goto fail;
    /* More than the whole heap, or more chunks than makes sense: no driver
       call at all (some drivers take absurd sizes very slowly). */
    if (kind != PARX__BUF_IMPORTED && (uint64_t)size > g->heap_bytes) {
        rc = -ENOMEM;
        goto fail;
    }
    if (!(b = (parx_gpu_buffer *)calloc(1, sizeof *b))) {
        rc = -ENOMEM;
        goto fail;
    }
    b->g = g;
    b->root = b;
    b->size = size;
    b->kind = kind;
    b->host = (unsigned char *)host;
    if (kind == PARX__BUF_IMPORTED) {
        /* Host memory that would wrap around the address space, or more
           chunks than a size_t counts: no such memory. */
        if (size > UINTPTR_MAX - (uintptr_t)host || size > SIZE_MAX - (size_t)g->chunk_bytes) {
            rc = -EINVAL;
            goto fail;
        }
        if (!g->ext_host || parx__gpu_import_chunks(g, b) != 0) {
            parx__gpu_free_chunks(g, b);
            if (g->lost) { /* not a refusal: no mirror would run either */
                rc = PARX_E_DEVICE_LOST;
                goto fail;
            }
            /* The driver refuses this memory: mirror it instead. */
            b->kind = kind = PARX__BUF_MIRRORED;
            if ((uint64_t)size > g->heap_bytes) {
                rc = -ENOMEM;
                goto fail;
            }
        }
    }
    if (kind != PARX__BUF_IMPORTED && (rc = parx__gpu_device_chunks(g, b)) != 0) {
        /* The documented codes: any other driver result is -EIO. */
        if (rc != -ENOMEM && rc != -EINVAL && rc != PARX_E_DEVICE_LOST) rc = -EIO;
        goto fail;
    }
    parx__gpu_link(g, b);
    return b;
fail:
    if (b) {
        parx__gpu_free_chunks(g, b);
        free(b);
    }
    if (err) *err = rc;
    return NULL;
}

PARX_API parx_gpu_buffer *parx_gpu_buffer_create(parx_gpu *g, size_t size, unsigned flags, int *err)
{
    if (flags != 0) {
        if (err) *err = -EINVAL;
        return NULL;
    }
    return parx__gpu_buffer_new(g, size, PARX__BUF_DEVICE, NULL, err);
}

PARX_API parx_gpu_buffer *parx_gpu_buffer_import(parx_gpu *g, void *host, size_t size, int *err)
{
    return parx__gpu_buffer_new(g, size, PARX__BUF_IMPORTED, host, err);
}

/* Is the buffer free of recorded and in-flight work? If not, make it so:
   submit the batch that records it, wait for the last batch using it. */
static int parx__gpu_idle(parx_gpu *g, parx_gpu_buffer *b)
{
    b = b->root;
    int rc;
    if (b->used_batch == g->batch && g->slots[g->cur].recording && (rc = parx__gpu_flush(g)))
        return rc;
    return parx__gpu_wait_serial(g, b->last_serial, g->desc.timeout_ns);
}

/* A destroy submits the batch being recorded when it uses the object
   (used_batch). A destroy returns nothing: a batch dropped so (-ENOMEM,
   -EIO) has its error kept for the next sync or submit, which returns it. */
static void parx__gpu_flush_for_destroy(parx_gpu *g, uint64_t used_batch)
{
    if (used_batch != g->batch || !g->slots[g->cur].recording || g->lost) return;
    int rc = parx__gpu_flush(g);
    if (rc && !g->lost && !g->dropped) g->dropped = rc;
}

/* The error of a batch a destroy dropped, once (0: none). */
static int parx__gpu_take_dropped(parx_gpu *g)
{
    int rc = g->dropped;
    g->dropped = 0;
    return rc;
}

PARX_API void parx_gpu_buffer_destroy(parx_gpu_buffer *b)
{
    if (!b || b->root != b) return;
    parx_gpu *g = b->g;
    if (parx__gpu_forked(g)) return; /* a fork() child's copy: see parx_gpu_close */
    /* Its work in the batch being recorded goes out first; if that fails
       it is dropped, and last_serial still names the last batch that went
       out with it (a dropped batch never overwrites it). */
    parx__gpu_flush_for_destroy(g, b->used_batch);
    bool quiet = parx__gpu_quiesce(g, b->last_serial);
    parx__gpu_drop_buffer_outs(g, b); /* left by a lost device or a failed wait */
    /* The kept descriptor set may name it: its handle may be the driver's
       to give to the next buffer made. */
    g->last_k = NULL;
    /* A batch still recording may name it: drop it from the mirror list. */
    for (unsigned i = 0; i < PARX_GPU_SLOTS; i++) {
        parx__gpu_slot *s = &g->slots[i];
        for (size_t j = 0; j < s->nmirrors; j++)
            if (s->mirrors[j] == b) s->mirrors[j--] = s->mirrors[--s->nmirrors];
    }
    /* The device may still write into its memory: left on the list, for
       parx_gpu_close to free once the device is idle. */
    if (!quiet) return;
    if (b->prev) b->prev->next = b->next;
    else g->buffers = b->next;
    if (b->next) b->next->prev = b->prev;
    parx__gpu_free_chunks(g, b);
    free(b);
}

PARX_API size_t parx_gpu_buffer_size(const parx_gpu_buffer *b) { return b ? b->size : 0; }

PARX_API int parx_gpu_buffer_imported(const parx_gpu_buffer *b)
{
    if (!b) return -EINVAL;
    return b->root->kind == PARX__BUF_IMPORTED;
}

PARX_API size_t parx_gpu_buffer_chunks(const parx_gpu_buffer *b) { return b ? b->nchunks : 0; }

PARX_API parx_gpu_buffer *parx_gpu_buffer_chunk(parx_gpu_buffer *b, size_t i)
{
    if (!b || i >= b->nchunks) {
        errno = EINVAL;
        return NULL;
    }
    return b->nchunks == 1 ? b : &b->views[i];
}

/* memcpy between bytes [off, off+n) of a mapped buffer (chunk by chunk) and
   host memory: from `src` into the buffer, or (src NULL) from the buffer
   into `dst`. The caller made sure the device is done with it. */
static void parx__gpu_map_copy(parx_gpu *g, parx_gpu_buffer *b, size_t off,
                               const unsigned char *src, unsigned char *dst, size_t n)
{
    while (n) {
        size_t ci = off / g->chunk_bytes, co = off % g->chunk_bytes;
        size_t k = (size_t)b->chunks[ci].bytes - co;
        if (k > n) k = n;
        if (src) {
            memcpy(b->chunks[ci].map + co, src, k);
            src += k;
        } else {
            memcpy(dst, b->chunks[ci].map + co, k);
            dst += k;
        }
        off += k, n -= k;
    }
}

/* Copy host -> buffer bytes [off, off+n): memcpy where the memory is
   mapped and idle, else staging + copy commands. */
static int parx__gpu_write(parx_gpu *g, parx_gpu_buffer *b, size_t off, const void *src, size_t n)
{
    const unsigned char *s8 = (const unsigned char *)src;
    int rc;
    b = b->root;
    if (b->kind == PARX__BUF_IMPORTED) { /* the host's own memory, once idle */
        if ((rc = parx__gpu_idle(g, b))) return rc;
        memcpy(b->host + off, s8, n);
        return 0;
    }
    bool in_batch = b->used_batch == g->batch && g->slots[g->cur].recording;
    if (b->chunks[0].map && !in_batch) {
        /* Mapped, and this batch does not use it: once the batches in
           flight are done with it, a memcpy. (In use by this batch, the
           copy must be ordered among its commands: staging below.) */
        if ((rc = parx__gpu_wait_serial(g, b->last_serial, g->desc.timeout_ns))) return rc;
        parx__gpu_map_copy(g, b, off, s8, NULL, n);
        return 0;
    }
    uint64_t noted = 0; /* the batch where an earlier piece of this copy was noted */
    while (n) {
        size_t ci = off / g->chunk_bytes, co = off % g->chunk_bytes;
        size_t k = (size_t)b->chunks[ci].bytes - co;
        if (k > n) k = n;
        if (k > PARX_GPU_STAGING_MAX) k = PARX_GPU_STAGING_MAX;
        VkDeviceSize so;
        if ((rc = parx__gpu_staging(g, k, &so))) return rc;
        parx__gpu_slot *s = &g->slots[g->cur];
        memcpy(s->stg_map + so, s8, k);
        /* The pieces of one copy are disjoint: no barrier between them. */
        if (noted == g->batch)
            parx__gpu_note(g, b, false, true, VK_PIPELINE_STAGE_TRANSFER_BIT);
        else
            parx__gpu_access(g, b, false, true, VK_PIPELINE_STAGE_TRANSFER_BIT);
        noted = g->batch;
        VkBufferCopy cp = {.srcOffset = so, .dstOffset = b->chunks[ci].bind_offset + co, .size = k};
        g->vkCmdCopyBuffer(s->cmd, s->stg, b->chunks[ci].buf, 1, &cp);
        off += k, s8 += k, n -= k;
    }
    return 0;
}

PARX_API int parx_gpu_upload(parx_gpu *g, parx_gpu_buffer *b, size_t offset, const void *src,
                             size_t n)
{
    if (!g || !b || (!src && n) || b->g != g) return -EINVAL;
    int gone = parx__gpu_gone(g);
    if (gone) return gone;
    if (offset > b->size || n > b->size - offset) return -EINVAL;
    if (n == 0) return 0;
    g->stats.uploads++;
    g->stats.bytes_up += n;
    if (b->root != b) offset += (size_t)(b->chunks - b->root->chunks) * g->chunk_bytes;
    if (b->root->kind == PARX__BUF_MIRRORED) {
        /* The host memory is the truth between batches: write it there. */
        int rc = parx__gpu_idle(g, b);
        if (rc) return rc;
        memcpy(b->root->host + offset, src, n);
        return 0;
    }
    return parx__gpu_write(g, b, offset, src, n);
}

PARX_API int parx_gpu_download(parx_gpu *g, parx_gpu_buffer *b, size_t offset, void *dst, size_t n)
{
    if (!g || !b || (!dst && n) || b->g != g) return -EINVAL;
    int gone = parx__gpu_gone(g);
    if (gone) return gone;
    if (offset > b->size || n > b->size - offset) return -EINVAL;
    if (n == 0) return 0;
    g->stats.downloads++;
    g->stats.bytes_down += n;
    if (b->root != b) offset += (size_t)(b->chunks - b->root->chunks) * g->chunk_bytes;
    b = b->root;
    unsigned char *d8 = (unsigned char *)dst;
    int rc;
    if (b->kind != PARX__BUF_DEVICE || b->chunks[0].map) {
        if ((rc = parx__gpu_idle(g, b))) return rc;
        if (b->kind != PARX__BUF_DEVICE) {
            memcpy(d8, b->host + offset, n);
            return 0;
        }
        parx__gpu_map_copy(g, b, offset, NULL, d8, n);
        return 0;
    }
    /* Copy commands into staging, and memcpys queued for when their batch
       completes, all tagged as this call's: if the call fails (a fence wait
       past the timeout, most likely), they are dropped, so that dst is never
       written after the call has returned. */
    uint64_t tag = ++g->download_tag;
    rc = 0;
    while (n) {
        size_t ci = offset / g->chunk_bytes, co = offset % g->chunk_bytes;
        size_t k = (size_t)b->chunks[ci].bytes - co;
        if (k > n) k = n;
        if (k > PARX_GPU_STAGING_MAX) k = PARX_GPU_STAGING_MAX;
        VkDeviceSize so;
        if ((rc = parx__gpu_staging(g, k, &so))) break;
        parx__gpu_slot *s = &g->slots[g->cur];
        parx__gpu_access(g, b, true, false, VK_PIPELINE_STAGE_TRANSFER_BIT);
        VkBufferCopy cp = {.srcOffset = b->chunks[ci].bind_offset + co, .dstOffset = so, .size = k};
        g->vkCmdCopyBuffer(s->cmd, b->chunks[ci].buf, s->stg, 1, &cp);
        if ((rc = parx__gpu_push_out(s, tag, d8, s->stg_map + so, k))) break;
        offset += k, d8 += k, n -= k;
    }
    if (rc == 0) rc = parx__gpu_flush(g);
    if (rc == 0) rc = parx__gpu_wait_serial(g, g->submitted, g->desc.timeout_ns);
    if (rc) parx__gpu_drop_outs(g, tag);
    return rc;
}

/* The mirrored imports among a dispatch's buffers used for the first time
   in this batch: copy the host's bytes in now and note each for copying
   back when the batch completes. First what can fail, for all of them
   (each one idle: its earlier batches completed; room in the batch's
   list), then the copies, which cannot: an import noted and then left by
   a failure would be copied back at the batch's end over what the caller,
   told the dispatch failed, wrote since. */
static void parx__gpu_mirror_in(parx_gpu *g, parx_gpu_buffer *b);

static int parx__gpu_mirrors_in(parx_gpu *g, parx_gpu_buffer *const *bufs, size_t nbufs)
{
    int rc;
    size_t need = 0;
    for (size_t i = 0; i < nbufs; i++) {
        parx_gpu_buffer *r = bufs[i]->root;
        if (r->kind != PARX__BUF_MIRRORED || r->used_batch == g->batch) continue;
        if ((rc = parx__gpu_wait_serial(g, r->last_serial, g->desc.timeout_ns))) return rc;
        need++;
    }
    if (!need) return 0;
    if ((rc = parx__gpu_begin(g))) return rc;
    parx__gpu_slot *s = &g->slots[g->cur];
    while (s->capmirrors - s->nmirrors < need) {
        size_t cap = s->capmirrors ? 2 * s->capmirrors : 8;
        parx_gpu_buffer **m = (parx_gpu_buffer **)realloc(s->mirrors, cap * sizeof *m);
        if (!m) return -ENOMEM;
        s->mirrors = m;
        s->capmirrors = cap;
    }
    for (size_t i = 0; i < nbufs; i++) { /* a buffer given twice: noted at the first */
        parx_gpu_buffer *r = bufs[i]->root;
        if (r->kind == PARX__BUF_MIRRORED && r->used_batch != g->batch) parx__gpu_mirror_in(g, r);
    }
    return 0;
}

/* One of them: idle, and with room in the batch's list (see above). */
static void parx__gpu_mirror_in(parx_gpu *g, parx_gpu_buffer *b)
{
    parx__gpu_slot *s = &g->slots[g->cur];
    /* Not used in this batch yet: its copies have no hazard (the batch's
       first barrier orders them after earlier batches), and its chunks are
       disjoint. */
    bool copied = false;
    for (size_t i = 0; i < b->nchunks; i++) {
        parx__gpu_chunk *c = &b->chunks[i];
        const unsigned char *src = b->host + i * g->chunk_bytes;
        if (c->map) {
            memcpy(c->map, src, (size_t)c->bytes);
        } else {
            memcpy(c->stg_map, src, (size_t)c->bytes);
            VkBufferCopy cp = {.srcOffset = 0, .dstOffset = 0, .size = c->bytes};
            g->vkCmdCopyBuffer(s->cmd, c->stg, c->buf, 1, &cp);
            copied = true;
        }
        g->stats.bytes_up += c->bytes;
    }
    s->mirrors[s->nmirrors++] = b;
    b->written = false; /* until a dispatch binds it writable */
    parx__gpu_note(g, b, false, copied, VK_PIPELINE_STAGE_TRANSFER_BIT);
}

/* ... and back, recorded at the end of the batch. */
static int parx__gpu_record_mirror_out(parx_gpu *g, parx_gpu_buffer *b)
{
    parx__gpu_slot *s = &g->slots[g->cur];
    for (size_t i = 0; i < b->nchunks; i++) {
        parx__gpu_chunk *c = &b->chunks[i];
        unsigned char *dst = b->host + i * g->chunk_bytes;
        int rc;
        if (g->inject == -4) { /* PARX_GPU_TEST_HOOKS: as if the allocation had failed */
            g->inject = 0;
            rc = -ENOMEM;
        } else if (c->map) {
            rc = parx__gpu_push_out(s, 0, dst, c->map, (size_t)c->bytes);
        } else {
            parx__gpu_access(g, b, true, false, VK_PIPELINE_STAGE_TRANSFER_BIT);
            VkBufferCopy cp = {.srcOffset = 0, .dstOffset = 0, .size = c->bytes};
            g->vkCmdCopyBuffer(s->cmd, c->buf, c->stg, 1, &cp);
            rc = parx__gpu_push_out(s, 0, dst, c->stg_map, (size_t)c->bytes);
        }
        if (rc) return rc;
        g->stats.bytes_down += c->bytes;
    }
    return 0;
}

/* -------------------------------------------------------------------------- */
/* >>gpu-kernels: checked SPIR-V, pipelines, the pipeline cache               */
/* -------------------------------------------------------------------------- */

static void parx__gpu_kernel_free(parx_gpu *g, parx_gpu_kernel *k)
{
    if (k->pipe) g->vkDestroyPipeline(g->dev, k->pipe, NULL);
    if (k->layout) g->vkDestroyPipelineLayout(g->dev, k->layout, NULL);
    if (k->dsl) g->vkDestroyDescriptorSetLayout(g->dev, k->dsl, NULL);
    free(k);
}

/* Storage buffers one kernel may bind: PARX_GPU_MAX_BINDINGS, or fewer where
   the device allows fewer in one stage or one set (a layout over either is
   invalid usage). */
static uint32_t parx__gpu_max_buffers(const parx_gpu *g)
{
    uint32_t m = PARX_GPU_MAX_BINDINGS;
    if (g->props.limits.maxPerStageDescriptorStorageBuffers < m)
        m = g->props.limits.maxPerStageDescriptorStorageBuffers;
    if (g->props.limits.maxDescriptorSetStorageBuffers < m)
        m = g->props.limits.maxDescriptorSetStorageBuffers;
    return m;
}

/* Does kernel k only read binding i? (readonly_mask has 32 bits: bindings
   past them count as written.) */
static bool parx__gpu_readonly(const parx_gpu_kernel *k, size_t i)
{
    return i < 32 && ((k->readonly_mask >> i) & 1u);
}

PARX_API parx_gpu_kernel *parx_gpu_kernel_create(parx_gpu *g, const uint32_t *spirv, size_t bytes,
                                                 const parx_gpu_kernel_desc *desc, int *err)
{
    int rc;
    parx_gpu_kernel *k = NULL;
    VkShaderModule mod = VK_NULL_HANDLE;
    parx_gpu_kernel_desc d;
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    if (!d.entry) d.entry = "main";
    parx__gpu_spirv_facts facts;
    if (!g || (d.nspec && !d.spec) || d.nspec > 64) {
        rc = -EINVAL;
        goto fail;
    }
    if ((rc = parx__gpu_gone(g)) != 0) goto fail;
    if ((rc = parx__gpu_check_spirv(spirv, bytes, d.entry, d.spec, d.nspec, &facts))) goto fail;
    if (!d.buffers) d.buffers = facts.bindings;
    if (d.buffers < facts.bindings) { /* a binding the layout would lack */
        rc = -EINVAL;
        goto fail;
    }
    if (!d.push_bytes && facts.uses_push) {
        d.push_bytes = g->props.limits.maxPushConstantsSize < 128
                           ? g->props.limits.maxPushConstantsSize
                           : 128;
        if (facts.push_size > d.push_bytes) /* a larger block: its size, checked below */
            d.push_bytes = facts.push_size <= UINT32_MAX - 3 ? (facts.push_size + 3) & ~3u
                                                             : UINT32_MAX;
    }
    /* A range that does not cover the module's block is invalid usage (the
       pipeline would read push constants the layout lacks). */
    if (facts.push_size > d.push_bytes) {
        rc = -EINVAL;
        goto fail;
    }
    if (d.buffers > parx__gpu_max_buffers(g) ||
        d.push_bytes > g->props.limits.maxPushConstantsSize || d.push_bytes % 4) {
        rc = -EINVAL;
        goto fail;
    }
    /* A workgroup larger than the device runs is invalid usage, which no
       driver has to survive: refused where parx can tell the size (a
       component it cannot tell counts as 1 in the product). */
    {
        const VkPhysicalDeviceLimits *lim = &g->props.limits;
        const uint32_t ls[3] = {facts.local_x, facts.local_y, facts.local_z};
        uint64_t invocations = 1;
        for (int c = 0; c < 3; c++) {
            if (ls[c] > lim->maxComputeWorkGroupSize[c]) {
                rc = -EINVAL;
                goto fail;
            }
            if (ls[c]) invocations *= ls[c];
        }
        if (invocations > lim->maxComputeWorkGroupInvocations) {
            rc = -EINVAL;
            goto fail;
        }
    }
    if (!(k = (parx_gpu_kernel *)calloc(1, sizeof *k))) {
        rc = -ENOMEM;
        goto fail;
    }
    k->g = g;
    k->nbind = d.buffers;
    k->push_bytes = d.push_bytes;
    k->push_min = facts.push_size <= d.push_bytes ? (facts.push_size + 3) & ~3u : d.push_bytes;
    k->readonly_mask = d.readonly_mask;
    k->whole_mask = d.whole_mask;
    k->local_x = facts.local_x; /* 0: parx cannot tell (parx_gpu_run needs items_per_group) */
    VkResult r;
    VkDescriptorSetLayoutBinding lb[PARX_GPU_MAX_BINDINGS];
    for (uint32_t i = 0; i < k->nbind; i++)
        lb[i] = (VkDescriptorSetLayoutBinding){.binding = i,
                                               .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                               .descriptorCount = 1,
                                               .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo li = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = k->nbind, .pBindings = lb};
    if ((r = g->vkCreateDescriptorSetLayout(g->dev, &li, NULL, &k->dsl)) != VK_SUCCESS) {
        k->dsl = VK_NULL_HANDLE;
        rc = parx__vk_err(g, r);
        goto fail;
    }
    VkPushConstantRange pr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0,
                              .size = k->push_bytes};
    VkPipelineLayoutCreateInfo pli = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                      .setLayoutCount = 1, .pSetLayouts = &k->dsl,
                                      .pushConstantRangeCount = k->push_bytes ? 1u : 0u,
                                      .pPushConstantRanges = &pr};
    if ((r = g->vkCreatePipelineLayout(g->dev, &pli, NULL, &k->layout)) != VK_SUCCESS) {
        k->layout = VK_NULL_HANDLE;
        rc = parx__vk_err(g, r);
        goto fail;
    }
    VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                   .codeSize = bytes, .pCode = spirv};
    if ((r = g->vkCreateShaderModule(g->dev, &mi, NULL, &mod)) != VK_SUCCESS) {
        mod = VK_NULL_HANDLE;
        rc = r == VK_ERROR_INVALID_SHADER_NV ? PARX_E_BAD_SPIRV : parx__vk_err(g, r);
        goto fail;
    }
    VkSpecializationMapEntry me[64];
    for (uint32_t i = 0; i < d.nspec; i++)
        me[i] = (VkSpecializationMapEntry){.constantID = i, .offset = 4 * i, .size = 4};
    VkSpecializationInfo spi = {.mapEntryCount = d.nspec, .pMapEntries = me,
                                .dataSize = 4 * (size_t)d.nspec, .pData = d.spec};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT, .module = mod, .pName = d.entry,
                  .pSpecializationInfo = d.nspec ? &spi : NULL},
        .layout = k->layout};
    r = g->vkCreateComputePipelines(g->dev, g->cache, 1, &ci, NULL, &k->pipe);
    g->vkDestroyShaderModule(g->dev, mod, NULL);
    mod = VK_NULL_HANDLE;
    if (r != VK_SUCCESS) {
        k->pipe = VK_NULL_HANDLE;
        rc = r == VK_ERROR_INVALID_SHADER_NV ? PARX_E_BAD_SPIRV : parx__vk_err(g, r);
        goto fail;
    }
    k->next = g->kernels;
    if (g->kernels) g->kernels->prev = k;
    g->kernels = k;
    return k;
fail:
    if (mod) g->vkDestroyShaderModule(g->dev, mod, NULL);
    if (k) parx__gpu_kernel_free(g, k);
    if (err) *err = rc;
    return NULL;
}

PARX_API void parx_gpu_kernel_destroy(parx_gpu_kernel *k)
{
    if (!k) return;
    parx_gpu *g = k->g;
    if (parx__gpu_forked(g)) return; /* a fork() child's copy: see parx_gpu_close */
    /* Its dispatches in the batch being recorded go out first; if that
       fails they are dropped, and an earlier batch that used it may still
       run: its serial stays in last_serial (a dropped batch never
       overwrites it), and is waited for. */
    parx__gpu_flush_for_destroy(g, k->used_batch);
    bool quiet = parx__gpu_quiesce(g, k->last_serial);
    if (g->last_k == k) g->last_k = NULL;
    if (!quiet) return; /* the device may still run it: left for parx_gpu_close */
    if (k->prev) k->prev->next = k->next;
    else g->kernels = k->next;
    if (k->next) k->next->prev = k->prev;
    parx__gpu_kernel_free(g, k);
}

PARX_API uint32_t parx_gpu_kernel_local_size(const parx_gpu_kernel *k)
{
    return k ? k->local_x : 0;
}

/* Write `path` atomically: a temporary file beside it, then rename. The
   temporary name is this process's and this call's alone (pid and a
   counter, created with O_EXCL), so devices saving the same path from
   several threads or processes never write into each other's file. */
static int parx__gpu_write_file(const char *path, const void *data, size_t n)
{
    /* relaxed: the counter only has to hand each call its own number */
    static _Atomic unsigned long seq;
    char tmp[4096];
    int fd = -1;
    for (int tries = 0; fd < 0; tries++) {
        unsigned long k = atomic_fetch_add_explicit(&seq, 1, memory_order_relaxed);
        int w = snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%lu", path, (long)getpid(), k);
        if (w < 0 || (size_t)w >= sizeof tmp) return -ENAMETOOLONG;
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && (errno != EEXIST || tries == 99)) return -errno; /* EEXIST: a stale file */
    }
    int rc = 0;
    const unsigned char *p = (const unsigned char *)data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            rc = w < 0 ? -errno : -EIO;
            break;
        }
        p += w, n -= (size_t)w;
    }
    if (close(fd) != 0 && rc == 0) rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0) rc = -errno;
    if (rc) unlink(tmp);
    return rc;
}

PARX_API int parx_gpu_cache_save(parx_gpu *g)
{
    if (!g || !g->cache_path) return -EINVAL;
    if (parx__gpu_forked(g)) return -EPERM;
    if (!g->cache) return -ENOTSUP;
    size_t n = 0;
    VkResult r = g->vkGetPipelineCacheData(g->dev, g->cache, &n, NULL);
    if (r != VK_SUCCESS) return parx__vk_err(g, r);
    void *data = malloc(n ? n : 1);
    if (!data) return -ENOMEM;
    r = g->vkGetPipelineCacheData(g->dev, g->cache, &n, data);
    int rc = r == VK_SUCCESS ? parx__gpu_write_file(g->cache_path, data, n) : parx__vk_err(g, r);
    free(data);
    return rc;
}

/* -------------------------------------------------------------------------- */
/* >>gpu-dispatch: descriptor sets, dispatch, sync, submit, wait              */
/* -------------------------------------------------------------------------- */

/* vkAllocateDescriptorSets, or, under PARX_GPU_TEST_HOOKS, the failure a
   test asked for: -7, VK_ERROR_OUT_OF_HOST_MEMORY once; -8, the pool used
   up (VK_ERROR_OUT_OF_POOL_MEMORY), then out of host memory. */
static VkResult parx__gpu_alloc_set(parx_gpu *g, const VkDescriptorSetAllocateInfo *ai,
                                    VkDescriptorSet *set)
{
    if (g->inject == -7 || g->inject == -8) {
        VkResult fake = g->inject == -8 ? VK_ERROR_OUT_OF_POOL_MEMORY : VK_ERROR_OUT_OF_HOST_MEMORY;
        g->inject = g->inject == -8 ? -7 : 0;
        return fake;
    }
    return g->vkAllocateDescriptorSets(g->dev, ai, set);
}

/* parx_gpu_dispatch, and parx_gpu_run's pieces. piece (NULL for a plain
   dispatch): the batch in which the previous piece of the same run, with
   the same buffers bound, was recorded (0: none), set to this one's. Such
   a piece touches items disjoint from the previous one's and the same
   buffers otherwise: what the previous piece's hazard check found holds
   for it too, and it needs none of its own (no barrier between pieces). */
static int parx__gpu_dispatch(parx_gpu *g, parx_gpu_kernel *k, parx_gpu_buffer **bufs,
                              size_t nbufs, const void *push, size_t push_size, uint32_t gx,
                              uint32_t gy, uint32_t gz, uint64_t *piece)
{
    if (!g || !k || k->g != g || nbufs != k->nbind || (nbufs && !bufs) ||
        push_size > k->push_bytes || (push_size && !push) || push_size % 4)
        return -EINVAL;
    const VkPhysicalDeviceLimits *lim = &g->props.limits;
    if (gx > lim->maxComputeWorkGroupCount[0] || gy > lim->maxComputeWorkGroupCount[1] ||
        gz > lim->maxComputeWorkGroupCount[2])
        return -EINVAL;
    for (size_t i = 0; i < nbufs; i++) {
        if (!bufs[i] || bufs[i]->g != g) return -EINVAL;
        if (bufs[i]->nchunks != 1) return -E2BIG;
    }
    int gone = parx__gpu_gone(g);
    if (gone) return gone;
    if (gx == 0 || gy == 0 || gz == 0) return 0;
    if (push_size < k->push_min) return -EINVAL; /* it would read bytes never pushed */
    int rc;
    if ((rc = parx__gpu_begin(g))) return rc;
    parx__gpu_slot *s = &g->slots[g->cur];

    /* The descriptor set: the previous one again when the kernel and the
       buffers are the same (a loop of one kernel), else a new one. It comes
       before the mirrored imports (below): its allocation can fail, or
       submit the batch when the pool is used up, and an import copied in
       and noted for this batch would be copied back when it completes, over
       what the caller, told the dispatch failed, wrote since. */
    VkBuffer vb[PARX_GPU_MAX_BINDINGS];
    VkDeviceSize vo[PARX_GPU_MAX_BINDINGS];
    for (size_t i = 0; i < nbufs; i++) {
        vb[i] = bufs[i]->chunks[0].buf;
        vo[i] = bufs[i]->chunks[0].bind_offset;
    }
    VkDescriptorSet set = VK_NULL_HANDLE;
    bool fresh = false; /* a new set: kept for the next dispatch once this one is recorded */
    if (g->last_k && g->last_k->dsl == k->dsl &&
        memcmp(g->last_bufs, vb, nbufs * sizeof *vb) == 0 &&
        memcmp(g->last_offs, vo, nbufs * sizeof *vo) == 0)
        set = g->last_set;
    if (!set && nbufs) {
        VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                          .descriptorPool = s->pool, .descriptorSetCount = 1,
                                          .pSetLayouts = &k->dsl};
        VkResult r = parx__gpu_alloc_set(g, &ai, &set);
        if (r == VK_ERROR_OUT_OF_POOL_MEMORY || r == VK_ERROR_FRAGMENTED_POOL) {
            /* The pool is used up: submit this batch, start the next one. */
            if ((rc = parx__gpu_flush(g)) || (rc = parx__gpu_begin(g))) return rc;
            s = &g->slots[g->cur];
            ai.descriptorPool = s->pool;
            r = parx__gpu_alloc_set(g, &ai, &set);
        }
        if (r != VK_SUCCESS) return parx__vk_err(g, r);
        VkDescriptorBufferInfo bi[PARX_GPU_MAX_BINDINGS];
        VkWriteDescriptorSet wr[PARX_GPU_MAX_BINDINGS];
        for (size_t i = 0; i < nbufs; i++) {
            bi[i] = (VkDescriptorBufferInfo){.buffer = vb[i], .offset = vo[i],
                                             .range = bufs[i]->chunks[0].bytes};
            wr[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                           .dstSet = set, .dstBinding = (uint32_t)i,
                                           .descriptorCount = 1,
                                           .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                           .pBufferInfo = &bi[i]};
        }
        g->vkUpdateDescriptorSets(g->dev, (uint32_t)nbufs, wr, 0, NULL);
        s->sets++;
        fresh = true;
    }

    /* Mirrored imports come in at their first use in a batch. */
    if ((rc = parx__gpu_mirrors_in(g, bufs, nbufs))) return rc;
    /* Kept for the next dispatch only now that this one is recorded, its
       buffers noted in the batch (below): a set kept by a dispatch that
       failed here named buffers the batch did not hold, which the caller
       could destroy, and the driver hand their handles to new buffers. */
    if (fresh) {
        g->last_k = k;
        g->last_set = set;
        memcpy(g->last_bufs, vb, nbufs * sizeof *vb);
        memcpy(g->last_offs, vo, nbufs * sizeof *vo);
    }

    /* Barriers: only against what this dispatch depends on, at most one,
       found before any of its own accesses is noted (>>batching). */
    bool hazard = false;
    bool same_run = piece && *piece == g->batch;
    for (size_t i = 0; i < nbufs && !hazard && !same_run; i++)
        hazard = parx__gpu_hazard(g, bufs[i], !parx__gpu_readonly(k, i));
    if (hazard) parx__gpu_order(g);
    if (piece) *piece = g->batch;
    for (size_t i = 0; i < nbufs; i++) {
        bool writes = !parx__gpu_readonly(k, i);
        parx__gpu_note(g, bufs[i], true, writes, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT);
        if (writes) bufs[i]->root->written = true; /* a mirrored import: copied back */
    }
    if (g->bound_pipe != k->pipe) {
        g->vkCmdBindPipeline(s->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, k->pipe);
        g->bound_pipe = k->pipe;
    }
    if (nbufs)
        g->vkCmdBindDescriptorSets(s->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, k->layout, 0, 1, &set, 0,
                                   NULL);
    if (push_size)
        g->vkCmdPushConstants(s->cmd, k->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                              (uint32_t)push_size, push);
    g->vkCmdDispatch(s->cmd, gx, gy, gz);
    k->used_batch = g->batch; /* last_serial once submitted */
    g->stats.dispatches++;
    if (++s->dispatches >= g->desc.batch_limit) return parx__gpu_flush(g);
    return 0;
}

PARX_API int parx_gpu_dispatch(parx_gpu *g, parx_gpu_kernel *k, parx_gpu_buffer **bufs,
                               size_t nbufs, const void *push, size_t push_size, uint32_t gx,
                               uint32_t gy, uint32_t gz)
{
    return parx__gpu_dispatch(g, k, bufs, nbufs, push, push_size, gx, gy, gz, NULL);
}

PARX_API int parx_gpu_submit(parx_gpu *g, uint64_t *ticket)
{
    if (ticket) *ticket = 0;
    if (!g) return -EINVAL;
    int gone = parx__gpu_gone(g);
    if (gone) return gone;
    int rc = parx__gpu_take_dropped(g);
    if (rc) return rc;
    rc = parx__gpu_flush(g);
    if (ticket && rc == 0) *ticket = g->submitted;
    return rc;
}

PARX_API int parx_gpu_wait(parx_gpu *g, uint64_t ticket, uint64_t timeout_ns)
{
    if (!g) return -EINVAL;
    if (ticket > g->submitted) return -EINVAL;
    int gone = parx__gpu_gone(g);
    if (gone) return gone;
    return parx__gpu_wait_serial(g, ticket, timeout_ns);
}

PARX_API int parx_gpu_sync(parx_gpu *g)
{
    if (!g) return -EINVAL;
    int gone = parx__gpu_gone(g);
    if (gone) return gone;
    int rc = parx__gpu_take_dropped(g);
    if (rc) return rc;
    rc = parx__gpu_flush(g);
    if (rc) return rc;
    return parx__gpu_wait_serial(g, g->submitted, g->desc.timeout_ns);
}

/* -------------------------------------------------------------------------- */
/* >>gpu-run: one job, GPU or CPU                                             */
/* -------------------------------------------------------------------------- */

PARX_API int parx_gpu_run(parx_gpu *g, parx_pool *pool, const parx_gpu_job *job)
{
    if (!job) return -EINVAL;
    if (!g || !job->kernel) return parx__gpu_run_cpu(pool, job);
    parx_gpu_kernel *k = job->kernel;
    const size_t hdr = sizeof(parx_gpu_push_header);
    /* Everything is checked before the first dispatch is recorded, so that
       a bad job leaves nothing of itself in the batch. */
    /* n has 32 bits or fewer ((uint64_t)n >> 32, not a comparison: gcc -m32's
       -Wtype-limits would call that always false) */
    if (k->g != g || ((uint64_t)job->n >> 32) != 0 || job->nbufs != k->nbind ||
        (job->nbufs && !job->bufs) || k->push_bytes < hdr || job->push_size > k->push_bytes - hdr ||
        hdr + job->push_size < k->push_min || (job->push_size && !job->push) ||
        job->push_size % 4)
        return -EINVAL;
    int gone = parx__gpu_gone(g);
    if (gone) return gone;
    size_t ipg = job->items_per_group ? job->items_per_group : k->local_x;
    if (ipg == 0) return -ENOTSUP; /* a local size parx cannot tell, and none given */
    size_t ib = job->item_bytes ? job->item_bytes : 4;
    bool chunked = false;
    for (size_t i = 0; i < job->nbufs; i++) {
        if (!job->bufs[i] || job->bufs[i]->g != g) return -EINVAL;
        if (job->bufs[i]->nchunks > 1) chunked = true;
    }
    /* Items per chunk, and per dispatch (group-count limit), both whole
       numbers of groups so that no group straddles a chunk or a dispatch;
       whole items per chunk, so that chunk c starts at item c * per_chunk. */
    size_t per_chunk = chunked ? (size_t)g->chunk_bytes / ib : job->n;
    if (chunked && (per_chunk == 0 || (size_t)g->chunk_bytes % ib || per_chunk % ipg))
        return -EINVAL;
    /* A chunked buffer must hold all n items (every chunk a dispatch binds). */
    for (size_t i = 0; chunked && job->n && i < job->nbufs; i++) {
        const parx_gpu_buffer *b = job->bufs[i];
        if (b->nchunks > 1 && (job->n > b->size / ib || (job->n - 1) / per_chunk >= b->nchunks))
            return -EINVAL;
    }
    /* A binding the kernel indexes by item needs the whole buffer, which a
       buffer of several chunks cannot be bound as (one chunk would be, and
       the items past it lost); checked after every -EINVAL. */
    for (size_t i = 0; i < job->nbufs && i < 32; i++)
        if (((k->whole_mask >> i) & 1u) && job->bufs[i]->nchunks > 1) return -E2BIG;
    if (job->n == 0) return 0;
    /* Items per dispatch: whole groups, and at most n (n < 2^32), so that a
       32-bit size_t holds it: the product may not. */
    uint64_t most = (uint64_t)g->props.limits.maxComputeWorkGroupCount[0] * ipg;
    size_t per_dispatch = most < job->n ? (size_t)most : job->n;
    /* The push constants: on the stack when they fit (every device limit up
       to 256 bytes), else on the heap (maxPushConstantsSize may be 4096). */
    unsigned char push_stack[256];
    unsigned char *push = push_stack;
    if (hdr + job->push_size > sizeof push_stack &&
        !(push = (unsigned char *)malloc(hdr + job->push_size)))
        return -ENOMEM;
    if (job->push_size) memcpy(push + hdr, job->push, job->push_size);
    parx_gpu_buffer *bound[PARX_GPU_MAX_BINDINGS];
    int rc = 0;
    uint64_t piece = 0;  /* the batch of the previous piece with these chunks bound */
    size_t piece_c = 0;
    for (size_t first = 0; first < job->n && rc == 0;) {
        size_t c = chunked ? first / per_chunk : 0;
        if (c != piece_c) piece = 0, piece_c = c; /* other chunks: hazards of their own */
        size_t chunk_end = chunked ? (c + 1) * per_chunk : job->n;
        size_t end = job->n < chunk_end ? job->n : chunk_end;
        if (end - first > per_dispatch) end = first + per_dispatch;
        for (size_t i = 0; i < job->nbufs; i++) {
            parx_gpu_buffer *b = job->bufs[i];
            bound[i] = b->nchunks > 1 ? parx_gpu_buffer_chunk(b, c) : b; /* checked above */
        }
        parx_gpu_push_header h = {(uint32_t)first, (uint32_t)(first - c * per_chunk),
                                  (uint32_t)(end - first), 0};
        memcpy(push, &h, hdr);
        size_t groups = (end - first + ipg - 1) / ipg;
        rc = parx__gpu_dispatch(g, k, bound, job->nbufs, push, hdr + job->push_size,
                                (uint32_t)groups, 1, 1, &piece);
        first = end;
    }
    if (push != push_stack) free(push);
    return rc;
}

/* -------------------------------------------------------------------------- */
/* >>gpu-close                                                                */
/* -------------------------------------------------------------------------- */

#ifdef PARX_GPU_TEST_HOOKS
/* Tests only (tests/gpu_lost.c): the next fence wait on g returns at once
   as if the driver had said VK_TIMEOUT (what = -1) or VK_ERROR_DEVICE_LOST
   (what = -2), or the next vkEndCommandBuffer as if it had said
   VK_ERROR_OUT_OF_DEVICE_MEMORY (what = -3), or the next mirrored import's
   copy-out as if its allocation had failed (what = -4: -ENOMEM), or every
   fence wait as if it had said VK_ERROR_OUT_OF_HOST_MEMORY until what is
   set again (-5; -6: the vkDeviceWaitIdle of destroy or close too; -9: that one says
   VK_ERROR_DEVICE_LOST), or the next descriptor set's allocation as if it
   had said VK_ERROR_OUT_OF_HOST_MEMORY (-7), or VK_ERROR_OUT_OF_POOL_MEMORY
   and then that (-8), or the next host import's memory allocation as if it
   had said VK_ERROR_DEVICE_LOST (-10), so the handling of each can be
   tested on any driver. */
PARX_API void parx__gpu_test_inject(parx_gpu *g, int what);
PARX_API void parx__gpu_test_inject(parx_gpu *g, int what) { g->inject = what; }
/* ... and the next parx_gpu_open's vkCreateDevice gives `result` (a
   VkResult) without being called (set it while no other thread opens). */
PARX_API void parx__gpu_test_inject_open(int result);
PARX_API void parx__gpu_test_inject_open(int result)
{
    parx__gpu_test_create_device = (VkResult)result;
}
/* ... and the next parx_gpu_open that gets as far as its memory plan takes
   `bytes` as the device's largest allocation (maxMemoryAllocationSize)
   where that is larger (0: no change). */
PARX_API void parx__gpu_test_inject_max_alloc(uint64_t bytes);
PARX_API void parx__gpu_test_inject_max_alloc(uint64_t bytes)
{
    parx__gpu_test_max_alloc = (VkDeviceSize)bytes;
}
/* ... and the largest allocation g has asked vkAllocateMemory for. */
PARX_API uint64_t parx__gpu_test_largest_alloc(const parx_gpu *g);
PARX_API uint64_t parx__gpu_test_largest_alloc(const parx_gpu *g) { return g->largest_alloc; }
/* ... and the next vkEnumeratePhysicalDevices gives `result`, likewise. */
PARX_API void parx__gpu_test_inject_enum(int result);
PARX_API void parx__gpu_test_inject_enum(int result)
{
    parx__gpu_test_enum_devices = (VkResult)result;
}
#endif

PARX_API int parx_gpu_query(const parx_gpu *g, parx_gpu_info *out)
{
    if (!g || !out) return -EINVAL;
    *out = g->stats;
    snprintf(out->device_name, sizeof out->device_name, "%s", g->props.deviceName);
    out->kind = parx__gpu_kind(g->props.deviceType);
    out->vendor_id = g->props.vendorID;
    out->device_id = g->props.deviceID;
    out->api_version = g->props.apiVersion;
    out->chunk_bytes = (size_t)g->chunk_bytes;
    out->max_storage_buffer_range = g->props.limits.maxStorageBufferRange;
    for (int i = 0; i < 3; i++) out->max_groups[i] = g->props.limits.maxComputeWorkGroupCount[i];
    out->max_push_bytes = g->props.limits.maxPushConstantsSize;
    out->max_buffers = parx__gpu_max_buffers(g);
    out->host_import = g->host_import;
    out->host_mapped = g->host_mapped;
    out->pipeline_cache_loaded = g->cache_loaded;
    /* relaxed: see the messenger */
    /* (through uintptr_t: an atomic load needs a non-const pointer in C11, and a
       program's -Wcast-qual stays quiet) */
    out->validation_messages =
        atomic_load_explicit(&((parx_gpu *)(uintptr_t)g)->vmsgs, memory_order_relaxed);
    return 0;
}

static void parx__gpu_teardown(parx_gpu *g)
{
    if (g->dev && !g->dev_loaded) {
        /* open failed while loading the device's entry points */
        if (g->vkDestroyDevice) g->vkDestroyDevice(g->dev, NULL);
        g->dev = VK_NULL_HANDLE;
    }
    if (g->dev) {
        g->vkDeviceWaitIdle(g->dev);
        while (g->kernels) {
            parx_gpu_kernel *k = g->kernels;
            g->kernels = k->next;
            parx__gpu_kernel_free(g, k);
        }
        while (g->buffers) {
            parx_gpu_buffer *b = g->buffers;
            g->buffers = b->next;
            parx__gpu_free_chunks(g, b);
            free(b);
        }
        for (unsigned i = 0; i < PARX_GPU_SLOTS; i++) {
            parx__gpu_slot *s = &g->slots[i];
            if (s->fence) g->vkDestroyFence(g->dev, s->fence, NULL);
            if (s->pool) g->vkDestroyDescriptorPool(g->dev, s->pool, NULL);
            if (s->stg) g->vkDestroyBuffer(g->dev, s->stg, NULL);
            if (s->stg_mem) g->vkFreeMemory(g->dev, s->stg_mem, NULL);
            free(s->outs);
            free(s->mirrors);
        }
        if (g->cmdpool) g->vkDestroyCommandPool(g->dev, g->cmdpool, NULL); /* frees the buffers */
        if (g->cache) g->vkDestroyPipelineCache(g->dev, g->cache, NULL);
        g->vkDestroyDevice(g->dev, NULL);
    }
    if (g->messenger) g->vkDestroyDebugUtilsMessengerEXT(g->inst, g->messenger, NULL);
    if (g->inst && g->vkDestroyInstance) g->vkDestroyInstance(g->inst, NULL);
    if (g->lib) dlclose(g->lib);
    free(g->cache_path);
    free(g);
}

PARX_API void parx_gpu_close(parx_gpu *g)
{
    if (!g) return;
    /* A fork() child's copy: the driver's memory and threads behind it are
       the parent's as the child copied them, in no state to be called. */
    if (parx__gpu_forked(g)) return;
    if (!g->lost) {
        /* a destroy's dropped batch, never reported: said now, and the
           sync below submits what was recorded since */
        int rc = parx__gpu_take_dropped(g);
        if (rc) {
            char msg[160];
            snprintf(msg, sizeof msg, "parx_gpu_close: a batch that a destroy submitted was "
                                      "dropped, its work not run (%s)", parx_strerror(rc));
            parx__log(PARX_LOG_WARN, msg);
        }
        if ((rc = parx_gpu_sync(g)) != 0 && !g->lost) {
            char msg[160];
            snprintf(msg, sizeof msg, "parx_gpu_close: %s; waiting for the work in flight",
                     rc == -ETIMEDOUT ? "work still running at the timeout" : parx_strerror(rc));
            parx__log(PARX_LOG_WARN, msg);
            /* without the bound, completing every batch as its wait would
               have: a mirrored import's copy-out runs now (teardown would
               free it unrun, and the caller's memory would miss the
               results the device computed) */
            parx__gpu_quiesce(g, UINT64_MAX);
        }
        if (g->cache_path && g->cache && parx_gpu_cache_save(g) != 0)
            parx__log(PARX_LOG_WARN, "parx_gpu_close: could not save the pipeline cache");
    }
    parx__gpu_teardown(g); /* vkDeviceWaitIdle first: nothing is freed while in use */
}

/* -------------------------------------------------------------------------- */
/* >>gpu-latency: one tiny dispatch, submit to completion (the dummy         */
/* backend's is in >>gpu-dummy)                                               */
/* -------------------------------------------------------------------------- */

/* An empty kernel, in this header so that parx_gpu.h alone has it:
       #version 450
       layout(local_size_x = 1) in;
       void main() {}
   compiled with glslc --target-env=vulkan1.0 -O (shaderc 2023.2) and
   checked with spirv-val. */
static const uint32_t parx__gpu_spv_empty[] = {
    0x07230203, 0x00010000, 0x000d000b, 0x0000000a, 0x00000000, 0x00020011, 0x00000001,
    0x0006000b, 0x00000001, 0x4c534c47, 0x6474732e, 0x3035342e, 0x00000000, 0x0003000e,
    0x00000000, 0x00000001, 0x0005000f, 0x00000005, 0x00000004, 0x6e69616d, 0x00000000,
    0x00060010, 0x00000004, 0x00000011, 0x00000001, 0x00000001, 0x00000001, 0x00040047,
    0x00000009, 0x0000000b, 0x00000019, 0x00020013, 0x00000002, 0x00030021, 0x00000003,
    0x00000002, 0x00040015, 0x00000006, 0x00000020, 0x00000000, 0x00040017, 0x00000007,
    0x00000006, 0x00000003, 0x0004002b, 0x00000006, 0x00000008, 0x00000001, 0x0006002c,
    0x00000007, 0x00000009, 0x00000008, 0x00000008, 0x00000008, 0x00050036, 0x00000002,
    0x00000004, 0x00000000, 0x00000003, 0x000200f8, 0x00000005, 0x000100fd, 0x00010038};

PARX_API int parx_gpu_dispatch_latency(parx_gpu *g, double *ns)
{
    if (!g || !ns) return -EINVAL;
    int rc = parx_gpu_sync(g); /* work recorded before is not ours to time */
    if (rc) return rc;
    int err = 0;
    parx_gpu_kernel *k =
        parx_gpu_kernel_create(g, parx__gpu_spv_empty, sizeof parx__gpu_spv_empty, NULL, &err);
    if (!k) return err;
    enum { REPS = 21 };
    double v[REPS];
    int n = 0;
    for (int i = -1; i < REPS; i++) { /* i == -1: the warm-up (first use of the pipeline) */
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        if ((rc = parx_gpu_dispatch(g, k, NULL, 0, NULL, 0, 1, 1, 1)) || (rc = parx_gpu_sync(g)))
            break;
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (i >= 0)
            v[n++] = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
    }
    parx_gpu_kernel_destroy(k);
    if (rc) return rc;
    for (int i = 1; i < n; i++) /* insertion sort: 21 values */
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    *ns = v[n / 2];
    return 0;
}

#endif /* PARX_GPU_VULKAN */

#endif /* PARX_GPU_IMPLEMENTATION_INCLUDED */
#endif /* PARX_IMPLEMENTATION || PARX_GPU_IMPLEMENTATION */

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
