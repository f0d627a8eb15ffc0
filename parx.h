/* SPDX-License-Identifier: MIT */
/*
    parx.h -- work-stealing parallelism for C11 on Linux.          version 0.1.0

    A header-only toolkit that makes parallel work cheap enough to pay off for
    tasks of microseconds: a Chase-Lev work-stealing deque, a thread pool with
    fork-join task groups that allocate nothing on the heap, a parallel loop
    that balances uneven iterations by lazy splitting, a reduction whose result
    is bitwise identical on any number of threads, counter-based random
    streams so Monte Carlo results do not depend on the schedule, and a pool
    of worker processes that take jobs by reference in shared memory and
    survive their crashes.

    Do this
    =======
    In exactly ONE C file of your program:

        #define _GNU_SOURCE            // the implementation uses Linux interfaces
        #define PARX_IMPLEMENTATION
        #include "parx.h"

    (or compile the shipped `parx.c`, which does that for parx.h, parx_shm.h
    and parx_gpu.h: copy all three with it). Everywhere else
    just `#include "parx.h"`. Link with `-pthread -luring` (liburing: the
    prefetcher's io_uring backend), or with `-pthread` alone and
    PARX_NO_URING (or PARX_NO_PREFETCH) defined.

    Configuration macros
    ====================
    | macro                   | default       | effect                                        |
    |-------------------------|---------------|-----------------------------------------------|
    | PARX_IMPLEMENTATION     | undefined     | emit the definitions in this translation unit |
    | PARX_STATIC             | undefined     | make every parx function `static` (with the   |
    |                         |               | implementation in the same file)              |
    | PARX_ASSERT(c)          | assert(c)     | check for misuse that is cheap to detect      |
    | PARX_CACHELINE          | 64            | padding that keeps hot atomics apart (bytes,  |
    |                         |               | a power of two, 16 or more)                   |
    | PARX_SPIN_ROUNDS        | 1000          | idle polls before a worker sleeps (0 means 1) |
    | PARX_DEQUE_MIN_CAPACITY | 64            | smallest deque array (slots, a power of two)  |
    | PARX_OUTSIDE_SLOTS      | 4             | outside threads that can help at once (>>help) |
    | PARX_NO_PROC            | undefined     | leave out the process pool (and parx_shm.h)   |
    | PARX_NO_PREFETCH        | undefined     | compile the prefetcher and the writer out     |
    | PARX_NO_URING           | undefined     | prefetcher/writer on threads only; no liburing |

    Macros that change declarations (PARX_STATIC, PARX_CACHELINE,
    PARX_NO_PROC, PARX_NO_PREFETCH), and PARX_NO_URING, must be the same in
    every translation unit: set them with compiler flags. The prefetcher's io_uring backend
    needs liburing (-luring) unless PARX_NO_URING is set. The process pool's
    declarations include parx_shm.h, and with PARX_IMPLEMENTATION that emits
    parx_shm.h's definitions too: do not also define PARX_SHM_IMPLEMENTATION
    in another file of the same program. With PARX_NO_PROC, parx.h includes
    no other parx header: the prefetcher places its buffers in an arena
    (.arena) only where the file included parx_shm.h before parx.h's
    implementation (parx.c does), and gives -EOPNOTSUPP for .arena otherwise.


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
    4. Reductions:             parx_reduce(p, 0, n, 0, sizeof(double), &zero, leaf,
                                           combine, ctx, &sum);
       The same bits for 1 thread or 64 (examples/04_monte_carlo.c).
    5. Randomness:             parx_rng r = parx_rng_for(seed, task_index);
                               double u = parx_rng_uniform(&r);
    6. Clean up:               parx_pool_destroy(p);   // runs whatever is still queued
    7. Processes, for code that must not share an address space (>>procs):
                               parx_procs *pp = parx_procs_create(NULL);
                               job *j = parx_arena_alloc(parx_procs_arena(pp), sizeof *j, 0);
                               parx_procs_submit(pp, work, j, &ticket);
                               parx_procs_wait(pp, ticket, &result);
                               parx_procs_destroy(pp);
       `work(j)` runs in a worker process; j, in shared memory, carries its
       inputs and results (examples/06_procs_sweep.c, 07_procs_retries.c).
    8. Read ahead:             parx_prefetch *pf = parx_prefetch_open(&(parx_prefetch_desc){
                                   .paths = paths, .npaths = n}, &err);
                               while (parx_prefetch_next(pf, &c) == 1) {
                                   ... c.data, c.size ...; parx_prefetch_release(pf, &c); }
                               parx_prefetch_close(pf);
       The next chunks are read while this one is used (examples/10_prefetch_reduce.c);
       parx_writer_open / _write / _close write results behind the computation.
    9. Many independent jobs, on whatever pays here (>>run):
                               parx_run(n, job, &params, results, &(parx_run_desc){
                                   .out = out, .out_size = sizeof *out, .seed = 42}, &report);
       `job(ctx, i, rng, out_i)` runs once per i: on the caller alone, on
       threads, or in worker processes; report.reason says which and why
       (examples/12_monte_carlo_noise.c). `parx_probe` (tools/parx_probe.c)
       measures the overheads behind that choice and prints them.

    >>errors
    Functions that can fail return a negative code: an errno value negated
    (-EINVAL, -ENOMEM, -EAGAIN, ...) or one of parx's own PARX_E_* codes; on
    success 0, or a count where the function says so (parx_run,
    parx_procs_map). Constructors return NULL and say why in *err, but for
    parx_pool_create and parx_procs_create, which take no err and set errno
    (to the code negated: parx_strerror(-errno) names it). Each
    function's comment lists its codes. Nothing prints, aborts or exits on bad
    input; `parx_strerror(code)` names every code. Misuse that cannot be
    detected cheaply (a group waited on by a thread that did not create it) is
    caught by PARX_ASSERT in debug builds.

    >>threads
    Workers are pthreads, so sanitizers (TSan) see every thread, and every
    cross-thread ordering is an atomic operation (no standalone fences, which
    TSan does not model). Where the Chase-Lev papers put a seq_cst fence, parx
    uses seq_cst operations on the variables the fence orders: in the owner's
    pop, a seq_cst exchange of `bottom` (on x86 one locked instruction, as
    the fence is); in a steal, seq_cst loads of `top` and then `bottom` (on
    x86 plain loads). See >>deque.
    A wait runs other tasks on the waiting thread's stack, so each spawn
    and wait nested inside a task costs that stack some hundreds of bytes
    (about 320 at -O2 on x86-64, 860 at -O0, against some 32 for a plain
    recursive call), and a chain of them tens of thousands deep overflows
    it like any deep recursion: a SIGSEGV, not an error code (a chain of
    25,000 overflowed a worker's 8 MiB in review). Cut the recursion off
    below a grain (examples/02_fib.c), or give the workers larger stacks
    (parx_pool_desc.stack_size; glibc gives threads 2 MiB where the stack
    limit is unlimited, 8 MiB by default otherwise).
    How many: "one per CPU" (a pool's .threads 0, a process pool's
    .workers 0, parx_run's AUTO, a probe's cpus) counts the CPUs this
    process may use: those its affinity mask allows (taskset, a cpuset) and,
    under a cgroup CPU limit (cpu.max in cgroup v2, cpu.cfs_quota_us in v1:
    a container's --cpus, a Kubernetes limit), no more than that limit
    rounded up, the tightest of its cgroup's and their ancestors'. A limit
    is CPU time, not CPUs: under a limit of 2 on a 64-CPU machine, 64
    threads all run, spend the quota in a 32nd of each period, then all
    wait for the next. The limit is read once per process (a fork() child
    keeps its parent's figure), the mask at every count.
    Memory: a spawn's task record and deque slot come from blocks and arrays
    the pool keeps and reuses, so a burst of pending spawns (1e7 children
    in one group: about 87 bytes each) leaves the pool holding that peak
    until parx_pool_destroy frees it all.

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
    a deque that already holds work only peek at the sleeper count: the
    work already there was published by the careful push, so a worker going
    to sleep sees it in its last look and stays up. A wake-up can be missed
    only when thieves empty the deque in the very moment of the push (the
    owner read a stale top and took the deque for non-empty) and another
    worker makes its last look in that same moment, before the new bottom
    reaches it. That costs parallelism, never progress: an owner always runs
    what is left in its own deque, and a woken worker that finds plenty of
    work wakes another. But if every other worker then sleeps and the owner
    blocks inside a task (its own I/O, a wait on another pool), the tasks
    behind it wait until it comes back. Closing that window means a full
    fence on every push (a seq_cst store), which made each spawn 0-65%
    slower, 27% in the median, in an A/B (bench_parx fib n=30, 1 and 2
    threads, runs taken in turns), so parx leaves it open.
    A pool with more workers than CPUs polls less, as Go's scheduler does:
    every idle thread is counted (seq_cst RMWs), at most one per CPU polls,
    the others look once and sleep, and a push skips its wake-up while the
    count is above 0 (a poller will find the work; a woken thread would
    only queue for a CPU). Each counted thread leaves through a decrement
    and then looks: its last look before sleeping, or, if its decrement
    brought the count to 0 and it leaves awake (with a task, its group
    done, or at shutdown), a look that wakes a sleeper, if any, for work
    left. A strict push that saw the count above 0 reads it before, in the
    total order, every decrement after the value it read; the first of
    those to reach 0 is followed by a look that sees the push, and so is
    every later sleeper's last look. (If no thread sleeps at that look,
    none needs waking: one that sleeps later looks first.) A non-strict
    push skips on a relaxed peek, widening by a little the window above.
    Every thread polling every deque had cost 1024 threads on 2 CPUs both
    CPUs for seconds at each idle spell.

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
    hand the whole range to the workers and sleep, using N threads (a range
    of one piece, or one with no memory for a task, runs on the caller).
    A worker of pool A that waits on pool B (a group of B, or parx_for or
    parx_reduce on B) counts as an outside thread of B: it serves B alone
    until the wait ends, never A. So two pools must not wait on each other
    in a cycle: when every worker of A waits for tasks of B that themselves
    wait for work on A, nothing runs that work and the program hangs (a
    parx_for on A, whose body waits on B, whose task runs a parx_for on A,
    hangs a pool A of one thread). Nest pools one way only.

    >>determinism (parx_reduce)
    The range is cut into leaves of `grain` iterations (the last may be
    shorter), which depends on the range and grain alone, never on the number
    of threads. Leaves are combined in one fixed balanced binary tree: node
    [lo, hi) of leaves combines [lo, mid) with [mid, hi), mid = lo + (hi-lo)/2.
    Which thread computes which subtree changes from run to run; the order of
    every floating-point operation does not. The floating-point environment
    is not part of that order: rounding mode and flush-to-zero are per thread,
    and workers keep the ones of the thread that created the pool. Set them
    before parx_pool_create and leave them: a caller that changes its own
    afterwards gets results that depend on which leaves it ran itself (as a
    task's caller inside parx_wait, it runs some).

    >>procs (worker processes: fork or spawn)
    A pool of persistent worker processes, started once. Between the caller
    and its workers sits a fork server: a small single-threaded process that
    forks every worker, the first ones and each replacement, reaps them and
    reports their deaths over a socket. A monitor thread in the caller
    settles those deaths (retry the job, or report it) and has the server
    kill workers whose job overran .job_timeout_ns.
    - PARX_START_FORK: the server is forked from the caller at create, so
      workers inherit the caller's memory as it was then (globals, loaded
      data, open files). Create it before starting threads: fork copies a
      threaded process with whatever locks its other threads held (malloc's,
      stdio's), and the workers would deadlock on them. The monitor threads
      of parx's own pools do not count (create returns once its monitor
      runs, and a monitor holds no lock of the program's but while it calls
      the log hook): fork-mode pools may be made one after another. Nor
      do io_uring's workers (iou-wrk-*, the prefetcher's and the writer's
      among them), which /proc lists as threads but run kernel code only,
      nor threads on their way out (one just joined, a main thread gone by
      pthread_exit). A start is 1 + workers forks in a row (the server's,
      then one per worker: forks of one process do not overlap), each
      copying the caller's page tables, so its cost grows with the caller's
      memory, and not only at create: the server is a copy of the caller as
      it was then, so each worker it forks, replacements included, costs as
      much (bench/RESULTS.md has the figures). With a large caller, prefer
      spawn. A thread pool of the caller's comes along as a copy with no
      threads: a job that uses it gets -EPERM (parx_pool_create); a job
      that wants threads makes its own pool.
    - PARX_START_SPAWN: the server is this program started afresh with
      posix_spawn (which is safe in threaded programs and costs the same
      whatever the caller's size); a constructor in parx's implementation
      sees the variable PARX_PROCS_SERVER and takes that copy over before
      main runs, so user code in main never runs there. The implementation
      must be linked into the executable (or a library it loads at startup);
      otherwise create fails with PARX_E_SPAWN, after the program's own main
      has run in that copy for up to 30 s (an interpreter, say, that loads
      parx as a module: use fork mode there). Workers start from the
      program's state before main: static constructors that run before
      parx's have run (in the server too), those that run after it have not.
      Link parx's object first if workers need a C++ static initialised.
      The server is started from /proc/self/exe (no /proc: create fails
      with its errno, -ENOENT), in the caller's working directory and with
      its environment as they are at create: relative paths in
      LD_LIBRARY_PATH or LD_PRELOAD resolve from there, so a program that
      changes directory first should give absolute ones. Signals the
      caller ignores stay ignored there, as an exec keeps them (SIGPIPE
      under systemd, SIGHUP under nohup), SIGCHLD aside; every other one
      starts at its default action. A program started as `ld.so PROGRAM`
      cannot be spawned as itself: PARX_E_SPAWN.
    Job functions travel as (module, offset): the offset of the function in
    the program or library that contains it, found with dl_iterate_phdr,
    with the module's GNU build ID. That survives address-space
    randomisation and exec, so a pointer to any function of the program or
    of a library loaded at startup works in both modes; a library loaded
    with dlopen works in fork mode if it was loaded before
    parx_procs_create (else the job fails with PARX_E_UNKNOWN_FN), and so
    does a job whose module a spawn-mode worker loaded from another file
    than the caller did (a library upgraded on disk since the program
    started: its build ID differs, where linkers write one).
    A job is a record in the pool's arena: function, argument offset,
    result, and a state word that is also the futex its waiter sleeps on.
    Workers claim records with a CAS on that word (from a ring of record
    indices), so a worker killed at any instruction loses nothing: a record
    it claimed names it, one it did not is still queued. Idle workers poll
    for up to .spin_ns (adapting to how often that pays), then sleep on a
    futex. A crashed or timed-out worker's job is queued again while it has
    retries left, and the result says what happened: status, the signal or
    exit code of the last failed attempt, and the number of attempts.
    The server watches the caller with a pidfd and kills its workers when
    the caller dies, whatever thread made the pool (on kernels before 5.3,
    without pidfds, it sees the caller's end of their socket close, and
    checks getppid() once a second, never PR_SET_PDEATHSIG, which would
    fire when the thread that made the pool exits); workers die with the server
    (PR_SET_PDEATHSIG, checked against a server that died first). Server and
    workers sit in a process group of their own, so a Ctrl-C at the
    terminal reaches the caller alone, which may handle it. The server
    runs none of the program's code, not even a signal handler it came
    with (fork mode; it is forked with every signal blocked): a signal the
    program catches is ignored there (so a `pkill -TERM` of a program that
    handles SIGTERM leaves its pools serving), and a fault keeps its
    default action. The one exception is the pthread_atfork child
    handlers, which fork() runs in every child, server and workers alike:
    what a library registered to set a forked child straight runs there.
    Workers have the program's handlers, as fork gave them, with SIGCHLD
    at its default action and no signal blocked; SIGTTIN and SIGTTOU,
    where the program left them at their default action, are ignored, as
    terminal I/O from a background group would stop a worker for good: a
    job's read of the terminal fails with EIO, a write goes through (a
    program a job execs inherits the two ignored). The server is a child
    of the caller: a wait() or waitpid(-1) of the caller's own may reap it,
    which breaks the pool (PARX_E_PROCS_BROKEN); the pool knows the server
    by a pidfd (Linux 5.4 on), so it never waits for or kills whichever
    process the kernel gives that pid to next; create checks that the pid
    still names its child (through the pidfd, or by pid where there is
    none), and a server reaped before that fails the create (-ECHILD).
    Every descriptor is O_CLOEXEC and 3 or above (a caller started with its
    standard streams closed gets 0, 1 and 2 back from its next opens, and a
    printf must not land on the pool's socket). Destroy reaps the server,
    which reaps the workers, and a create that fails kills and reaps them (a
    caller that is a child subreaper, or pid 1, reaps those orphaned on the
    way): no zombies, no descriptors, and the arena is anonymous (memfd), so
    nothing is left in /dev/shm even after a SIGKILL. A fork-mode server drops what
    it inherited of the caller's other pools.
    What a job may do, and what it may not. A worker runs job after job, so
    what a job leaves in its process stays for the next jobs there: signal
    handlers and mask, a pending alarm() or timer, rlimits, descriptors,
    threads, the session and process group. A later death of the worker
    (a SIGALRM that job set, a thread of its that crashes) is charged to
    the job the worker runs then, or to none when it is idle. Ends of every
    kind are reported as what they are: exit and _exit as PARX_E_EXITED
    with the code; pthread_exit (or a cancel) of the thread that runs the
    job ends the worker as exit(0) does, in both modes and whatever other
    threads the job left running: PARX_E_EXITED with code 0 (the unwinding
    stops at the worker's frames, so a fork-mode worker never runs cleanup
    handlers of the caller's stack). One exception: parx.c compiled as C
    with -fexceptions (Fedora's default flags) in spawn mode, where glibc's
    unwinder finds nothing to stop at below main and the worker dies of
    SIGSEGV (PARX_E_CRASHED). A child a job fork()s that returns
    from the job function as its parent does ends there (_exit with the
    job's return value) and reports nothing; other processes a job starts are its own:
    the pool neither waits for them nor kills them, and a fork()ed one keeps
    the arena mapped while it lives. A job may not call parx_procs_* on the
    pool it runs in (fork mode: -EDEADLK, and destroy does nothing; in spawn
    mode the caller's handle means nothing in a worker). A copy of a pool
    that fork() gave another process is not a pool: submit, wait and map
    there are -EPERM, and destroy releases that process's descriptors and
    memory and leaves the caller's pool alone. The arena is shared and
    unchecked: the pool's own records (the control block, the job records
    and the ring, the worker table) live in it, and a job that writes
    outside its own blocks may lose or corrupt jobs, mislead the pool about
    its workers, hang waiters or crash the caller. Crash isolation covers a
    worker's death, not a scribble.

    >>prefetch (io_uring, its fallback, O_DIRECT, registered buffers)
    parx_prefetch keeps .depth buffers of .chunk_size bytes busy: while the
    caller works on one chunk, the next ones are being read, and chunks come
    out in file order whatever order the reads finish in. parx_writer is the
    mirror image: parx_writer_write queues a buffer and returns.
    - Backends. PARX_IO_AUTO sets up an io_uring and falls back to threads (a
      reader thread, or a few with O_DIRECT, calling pread; one writer thread
      calling pwrite) on ANY setup failure: EPERM (Docker's and containerd's
      default seccomp profiles, kernel.io_uring_disabled, RHEL 9, ChromeOS,
      Android), ENOSYS (kernels without io_uring), EINVAL, ENOMEM, a kernel
      without the read/write opcodes (probed), or a ring that sets up but
      cannot be entered (io_uring_enter refused on its own by a seccomp
      filter, or answered with 0 or EINTR every time: a NOP is submitted and
      waited for at setup to find out). The fallback is logged (INFO) and
      parx_prefetch_backend() / parx_writer_backend() say which backend runs
      and why. Newer setup flags (COOP_TASKRUN, SUBMIT_ALL) are used where
      liburing's headers define them and dropped when the kernel refuses them:
      liburing 2.3 has no version macros, so the headers tell what exists at
      compile time and the kernel at run time. PARX_NO_URING builds only the
      thread backend and needs no liburing. The writer's PARX_IO_AUTO takes
      the thread backend for a file on FUSE (the file, or the directory it is
      created in): io_uring takes a short write there, which FUSE's direct_io
      allows, for EIO, with nothing written. With PARX_IO_URING asked for, a
      write to a FUSE file that comes back EIO is written again, the whole of
      it, with pwrite on the caller's thread (inside write, flush or close),
      which resumes a short write and reports a real EIO.
    - IOSQE_ASYNC. A buffered io_uring read is first tried inline, inside
      io_uring_enter on the submitting thread; when the data is in the page
      cache the copy then runs on the thread that should be computing, and
      when it is not the submitter may wait for readahead. Measured when
      this was designed: plain buffered io_uring reads were 6% slower than
      a synchronous loop, with IOSQE_ASYNC 98% of the ideal overlap. So
      every buffered read (and every write) is marked IOSQE_ASYNC and runs
      on the kernel's io-wq workers; O_DIRECT reads are asynchronous anyway
      and are not marked.
    - Not SQPOLL. With IORING_SETUP_SQPOLL a kernel thread takes the reads
      from the ring and copies cached data itself: on the VM of
      bench/RESULTS.md (a throwaway build, bench_io, warm, compute = io) it
      brought io_uring from 1.5-1.7x to 1.03-1.17x of the ideal. But that
      thread polls a CPU for a millisecond after every submission, so while
      reads flow it never sleeps: 10_prefetch_reduce on a 2-thread pool then
      ran at 0.57-0.69x the speed of read-then-compute, against 1.05-1.09x
      without it. A prefetcher must not take the CPUs it is meant to feed.
    - Threads that exit. The kernel ties io-wq work to the thread that
      submitted it and cancels it when that thread exits: reads submitted
      by a parx_prefetch_next (or writes queued by a parx_writer_write) on
      a thread that has since ended come back -ECANCELED. They are
      submitted again, by the next call on whatever thread makes it, so
      the prefetcher and the writer may be passed from thread to thread
      (one caller at a time) and the thread that queued writes may exit
      before parx_writer_close; -ECANCELED is never returned.
    - A ring that fails after open (io_uring_enter refused by a seccomp
      filter installed since, or short of resources with nothing in flight)
      makes parx_prefetch_next return that error (-EPERM, -EAGAIN, -EBUSY,
      ...; parx_prefetch_error says so), and the writer keep it as its
      first error. If the reads in flight cannot be waited for at close,
      their buffers are leaked, not freed (logged, WARN): the kernel may
      still write into them.
    - O_DIRECT (.direct = true) bypasses the page cache: no copy, no cache
      pollution, the throughput of the device. It needs the buffer, the
      file offset and the length aligned to the logical block size (parx
      uses 4 KiB, which covers every common device), so chunk_size is
      rounded up to 4 KiB and buffers are 4 KiB aligned. The parts of a
      chunk that cannot be aligned -- the unaligned tail of a file, the
      edges of a byte range -- are read through a second, buffered
      descriptor. A file system that refuses O_DIRECT at open (EINVAL:
      some FUSE and network file systems) or at the first read (EINVAL
      or EOPNOTSUPP) gets buffered reads for that file, and an INFO log
      line saying so. Any other failure of the O_DIRECT open (EMFILE or
      ENFILE: out of descriptors; ENOMEM, EACCES, ...) is not a refusal:
      it is the file's open error, reported in its turn like any other.
      On FUSE, one block is read with O_DIRECT at open to find out:
      io_uring would retry a refused read there for ever. The
      two descriptors are two opens of the path; if another file was
      renamed over it between them, or the path was removed or no longer
      leads to a file (ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG, ENXIO), the
      file opened first is read buffered (INFO), never a mix of the two.
    - Registered buffers. io_uring can pin the buffers once
      (io_uring_register_buffers) instead of on every read, but pinned
      memory counts against RLIMIT_MEMLOCK (8 MiB by default on many
      systems; `ulimit -l`). The buffers are registered only when all of
      them fit under the soft limit (or .no_register says never); otherwise
      reads use unregistered buffers, which is correct, only a little
      slower. The reason string says which.
    - Faults. A short read is resumed for the rest; EINTR is read again, at
      once up to 8 times in a row and then as EAGAIN is (which a FUSE or
      network file system may answer for as long as it likes): after a pause
      that doubles from 10 us to about 10 ms, so that waiting costs next to no
      CPU (on io_uring, a FUSE file's EAGAIN does not reach parx: the kernel
      reads again itself, at once, and its io-wq thread spins while it lasts;
      PARX_IO_THREADS does not); a read that returns 0 is the end of the file,
      so a file truncated while it is read ends where a read first meets the
      cut: the chunks after that one are skipped, also one whose read had
      finished (no gap in the stream). A chunk read before the cut (up to
      depth of them are read ahead) still comes, as it was read: a cut
      shows in the reads after it, not in copies made before. An I/O error
      is returned by parx_prefetch_next at the chunk where it happened, in
      order, after every chunk before it; parx_prefetch_error names the
      file and the offset. close() waits for
      every read in flight before freeing a buffer; on the thread backend it
      ends the tries of a read that the file system keeps answering EAGAIN or
      EINTR (on io_uring those tries are the kernel's, and close waits for
      them, as for any read in flight). A missing or unreadable file is
      reported the same way, at its place in the list, naming the path. A file
      that ends before a chunk does (truncated since it was opened) ends its
      file or range there: nothing more of it is read.
    - Files are opened O_NONBLOCK (cleared once open, but for a character
      device: see below), so a FIFO never blocks the open; a FIFO or pipe
      (/proc/self/fd/N) cannot be read at offsets, so it is -ESPIPE, whole
      or by range, on either backend, at its place in the list (the
      prefetcher reads ahead out of order, which a stream does not allow:
      read it with read()); a socket cannot be opened by path at all:
      -ENXIO, open's error. A
      file of procfs, sysfs, debugfs, tracefs, configfs, securityfs or
      cgroup, whose size reads 0 whatever it holds, is read until a read
      returns 0. A character device that can seek is read up to lseek's end
      (/dev/null, /dev/zero: nothing), and by range as far as the range
      goes, without waiting: it keeps O_NONBLOCK, so a read that would wait
      for data (/dev/kmsg, whose end is where lseek's SEEK_END leaves it, an
      input device) is -EAGAIN at its chunk, naming the path: a device may
      never answer, and next() and close() must not wait for it. On io_uring
      such a file is read with pread by the caller of next() or release (the
      ring would poll the device and wait), and never with O_DIRECT (on
      either backend: there is no page cache to bypass). The writer's open
      of a FIFO with no reader fails with -ENXIO, as does that of a socket
      (Linux opens none by path). With a reader, the writer treats a pipe,
      FIFO or terminal as a stream: one write at a
      time, in the order queued (io-wq would run two side by side and mix
      their bytes), and parx_writer_write_at is -ESPIPE. So is an
      append-only file (chattr +a) with .append: it opens for writing only
      with O_APPEND, which puts every write at the end. A character device
      is written one write at a time too, in the order queued, write_at
      included: some take an offset and ignore it (/dev/kmsg, a printer).
      PARX_IO_AUTO writes one with the thread backend: io_uring polls a
      device for room to write, which some never report (a write to
      /dev/kmsg never completes on io_uring, seen on 6.18).
    - The thread backend. Reader threads take the oldest chunk waiting
      and pread it. The consumer does not sleep while a chunk it needs
      waits for a reader: it reads that chunk itself, or, when a reader has
      it, the next chunk waiting -- but only as far as the page cache holds
      it (preadv2 with RWF_NOWAIT; what it cannot finish goes back to the
      readers; a file whose file system refuses RWF_NOWAIT is left to the
      readers), since a read that waits for the device could outlast the
      one it is waiting for. On a warm cache that makes two threads copy
      instead of one. An idle reader of buffered data polls for a few tens
      of microseconds before it sleeps, so a consumer working at its pace
      seldom has to wake it, and a consumer waiting for a chunk a reader is
      copying polls for it as long before it sleeps. Measured in the VM of
      bench/RESULTS.md: on a warm cache the thread backend reads faster
      than a pread loop, and for buffered reads it beat io_uring (whose
      copies run on io_uring's own kernel workers) everywhere but on cold
      data with little compute; O_DIRECT reads were about as fast on
      either backend.
    - Buffers. Without .arena they are one anonymous mapping, 2 MiB
      aligned and advised to use transparent huge pages (MADV_HUGEPAGE)
      when it is that large. For O_DIRECT that matters: a 1 MiB read into
      4 KiB pages is 256 request segments, more than a virtio disk takes
      (254), so it is split and every page is pinned on its own; into a
      huge page it is one segment. Measured here: 1 MiB O_DIRECT preads of
      a 2 GiB file took 1.75-2.0 s into 4 KiB pages, 0.65-0.79 s into a
      huge page.
    - Placement. With .arena the buffers are allocated in a parx_shm.h
      arena, so a chunk's arena_offset can be handed to worker processes
      (or imported by the GPU) that read it with no copy.
    - Every descriptor is opened O_CLOEXEC, and is 3 or above (so that a
      printf of a program started with its standard streams closed cannot
      land in a file being written); files are opened when reading reaches
      them and closed when their last chunk is released.
    - fork(). A prefetcher or writer belongs to the process that opened it:
      fork() copies neither its threads nor its claim on the ring, whose
      queues the child shares with the parent, nor the arena blocks its
      buffers are. In a child, next, write, write_at and flush return
      -EPERM and release does nothing, so the child can neither take the
      parent's completions nor read into the parent's buffers; close frees
      the child's copy (its descriptors, memory and mappings) and touches
      nothing the parent uses (parx_writer_close returns -EPERM: nothing
      was written). The parent goes on as if there had been no fork. A
      child of _Fork() or a raw clone, which run no pthread_atfork
      handler, is not told apart: it must exec or _exit without them.

    >>run (the job runner and its automatic choice)
    Whether parallel work pays depends on three numbers: what it costs to
    start workers, what it costs to hand each one a job, and how long a job
    takes. Users who guess them get parallel code slower than sequential.
    parx_run measures the third and takes the other two from a probe.
    - Backends. Every job i gets parx_rng_for(.seed, i) and its own .out
      block, so results are the same bits on every backend and for every
      worker count. SEQ runs them on the caller. THREADS hands them out
      from one claim word to workers-1 pool threads and the caller, in
      chunks sized to about 20 us of work (one claim per tiny job would
      make that word the bottleneck) but never more than a quarter of a
      worker's share of what is left (so the last jobs still spread).
      FORK and SPAWN submit each job to a parx_procs pool (so crashes,
      timeouts and retries are per job), a window of them in flight; a
      job's `out` lives in the pool's arena, copied from .out before the
      job and back when it succeeds.
    - AUTO. The caller runs jobs itself and times them. After each batch
      (once it has spent a quarter of a thread start, and seen two jobs or
      one as long as a whole thread start) it predicts what is left:
      sequentially, left x mean (under cost hints, which it reads as
      relative job times, the time per unit of hint so far x the hints
      left); on threads, about (left x (mean + per-job cost) + (workers
      - 1) x start / 2) / workers + start / 2, as the caller works while
      the threads are created and waits for them to stop at the end
      (parx_run_predict). When threads are predicted at least 10% faster
      it starts them, and they take the remaining jobs alongside
      the caller, longest first under cost hints (while measuring, the
      caller took the cheapest): nothing waits for the decision and
      nothing runs twice. The caller times its jobs in batches that
      double while they stay under a quarter of a thread start, so timing
      costs little even for jobs of nanoseconds. So ten jobs of a
      microsecond never pay for a thread start, and a thousand of 50 us
      start threads after the first few. What AUTO cannot avoid: the first
      job runs alone, so when jobs are few and long the first one costs up
      to (1 - 1/workers) of its time (cost hints make it the shortest).
    - Processes are chosen only when jobs need them: .isolate, a
      .job_timeout_ns, or .retries (a thread cannot be killed, and a crash
      takes the whole process). Fork when the caller is single-threaded
      and under 256 MiB resident, spawn otherwise (fork copies whatever
      locks other threads hold, and its cost grows with the caller's
      memory); spawn needs ctx in the arena, which .ctx_size arranges
      (without it, fork, and the reason says so).
      Isolation never falls back to the caller: if no process starts,
      parx_run fails. Without isolation, a backend that cannot start (no
      thread, no process) makes the run sequential, with a WARN log line
      and report.fallback set.
    - Cancelling (.cancel, or progress returning non-zero) stops jobs from
      starting: on the caller and on threads at once, between two jobs; on
      processes, jobs already queued in the pool (up to 64 per worker)
      still run. Jobs that never started have status -ECANCELED.
    - The probe. parx_probe_measure times a pool start, a spawned task, a
      job round trip, worker starts in both modes, an arena attach, and
      whether io_uring can be used; `parx_probe --json FILE` saves them
      and PARX_PROBE=FILE makes every AUTO run use them. Without either,
      AUTO uses built-in figures that lean towards sequential (a probe's
      zero, "not measured", means the built-in figure too). With a
      running .pool, starting threads is priced at a quarter of a start
      (waking them); AUTO never counts on more workers than CPUs.
      parx_run_break_even turns a probe into the job time above which a
      backend beats sequential for n jobs.

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

   parx_procs *parx_procs_create(const parx_procs_desc *desc);                (>>procs)
   void        parx_procs_destroy(parx_procs *pp);
   parx_arena *parx_procs_arena(parx_procs *pp);
   int         parx_procs_size(const parx_procs *pp);
   int parx_procs_submit(parx_procs *pp, parx_job_fn fn, void *arg, parx_ticket *t);
   int parx_procs_wait(parx_procs *pp, parx_ticket t, parx_job_result *r);
   int parx_procs_map(parx_procs *pp, parx_job_fn fn, void **args, size_t n, parx_job_result *r);
   int parx_procs_map_ex(parx_procs *pp, parx_job_fn fn, void **args, size_t n,
                         parx_job_result *r, const parx_map_desc *md);
   int parx_procs_stats(const parx_procs *pp, parx_procs_info *out);
   int parx_procs_pids(const parx_procs *pp, int *pids, int n);

   (unless PARX_NO_PREFETCH; the io_uring backend unless PARX_NO_URING)
   parx_prefetch  *parx_prefetch_open(const parx_prefetch_desc *desc, int *err);
   int             parx_prefetch_next(parx_prefetch *pf, parx_chunk *c);    1 chunk, 0 end, <0 error
   void            parx_prefetch_release(parx_prefetch *pf, parx_chunk *c);
   void            parx_prefetch_close(parx_prefetch *pf);
   parx_io_backend parx_prefetch_backend(const parx_prefetch *pf, const char **why);
   const char     *parx_prefetch_error(const parx_prefetch *pf);
   parx_writer    *parx_writer_open(const parx_writer_desc *desc, int *err);
   int             parx_writer_write(parx_writer *w, const void *buf, size_t size);
   int             parx_writer_write_at(parx_writer *w, const void *buf, size_t size,
                                        uint64_t offset);
   int             parx_writer_flush(parx_writer *w);
   int             parx_writer_close(parx_writer *w);
   parx_io_backend parx_writer_backend(const parx_writer *w, const char **why);

   int    parx_run(size_t n, parx_run_fn fn, void *ctx, parx_job_result *results,    (>>run)
                   const parx_run_desc *d, parx_run_report *report);
   double parx_run_predict(const parx_probe *p, parx_exec e, size_t n, int workers, double job_ns);
   double parx_run_break_even(const parx_probe *p, parx_exec e, size_t n, int workers);
   const char *parx_exec_name(parx_exec e);
   void parx_probe_defaults(parx_probe *p);
   int  parx_probe_measure(parx_probe *p, unsigned flags);
   int  parx_probe_save(const parx_probe *p, const char *path);
   int  parx_probe_load(parx_probe *p, const char *path);
   int  parx_probe_format(const parx_probe *p, char *buf, size_t size);
   ========================================================================== */

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* The process pool keeps its jobs in a shared-memory arena. */
#ifndef PARX_NO_PROC
#include "parx_shm.h"
#endif

#define PARX_VERSION_MAJOR 0
#define PARX_VERSION_MINOR 1
#define PARX_VERSION_PATCH 0

#ifndef PARX_API
#  ifdef PARX_STATIC
#    define PARX_API static __attribute__((__unused__))
#  else
#    define PARX_API extern
#  endif
#endif

#ifndef PARX_CACHELINE
#define PARX_CACHELINE 64
#endif
/* The deque pads its top to a line of its own (PARX_CACHELINE - 8 bytes, so
   at least 16), and task records and the process pool's fields are aligned
   to it (so a power of two). */
#if PARX_CACHELINE < 16 || (PARX_CACHELINE & (PARX_CACHELINE - 1)) != 0
#error "parx: PARX_CACHELINE must be a power of two, 16 or more (64 suits most CPUs)"
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
   Returns 0, -EINVAL (d NULL, or a hint over 2^37 slots: 1 TiB of
   pointers; 2^28 where size_t has 32 bits), -ENOMEM (a smaller hint that
   cannot be allocated).
   Thread safety: one caller; no other thread may use `d` until it returns. */
PARX_API int parx_deque_init(parx_deque *d, size_t capacity_hint);

/* parx_deque_destroy: free the deque's arrays (items themselves are the
   caller's). Safe on a zeroed or already destroyed deque.
   Thread safety: one caller, after every other thread is done with `d`. */
PARX_API void parx_deque_destroy(parx_deque *d);

/* parx_deque_push: push `item` at the bottom, growing the array if it is full.
   Returns 0, -EINVAL (d or item NULL, or d zeroed or destroyed, not
   initialised), -ENOMEM (could not grow; `d` unchanged).
   Thread safety: the owner thread only. */
PARX_API int parx_deque_push(parx_deque *d, void *item);

/* parx_deque_pop: take the item pushed last, or NULL if the deque is empty
   (possibly because a thief took the last item first), zeroed, destroyed,
   or d is NULL.
   Thread safety: the owner thread only. */
PARX_API void *parx_deque_pop(parx_deque *d);

/* parx_deque_steal: take the oldest item, or NULL if the deque was empty
   (or zeroed, destroyed, or d is NULL) or another thread won the race for
   the item (retrying is the caller's choice).
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
    int threads;            /* worker threads; 0: one per CPU this process may use (>>threads) */
    size_t deque_capacity;  /* initial slots per worker deque; 0: 256 */
    unsigned spin_rounds;   /* idle polls before sleeping; 0: PARX_SPIN_ROUNDS (with more
                               threads than CPUs, one idle thread per CPU polls: >>sleep) */
    const char *name;       /* thread name prefix (<= 10 chars used); NULL: "parx" */
    size_t stack_size;      /* each worker's stack, bytes (>= PTHREAD_STACK_MIN); 0: the
                               system's (glibc: the soft RLIMIT_STACK, 8 MiB on most
                               systems, 2 MiB where it is unlimited). See >>threads on
                               nested waits */
    /* Allocator for everything the pool allocates; both NULL: malloc/free.
       Blocks aligned as malloc's are for their size (8 bytes is enough:
       parx aligns cache lines and reduce accumulators within them). */
    void *(*alloc)(size_t size, void *user);
    void (*free)(void *ptr, void *user);
    void *alloc_user;
} parx_pool_desc;

/* parx_pool_create: start a pool of persistent worker threads.
   `desc` NULL or zeroed means all defaults.
   Returns the pool, or NULL with errno set: EINVAL (threads < 0 or > 4096,
   only one of alloc/free given, a deque_capacity above 2^37 slots,
   2^28 on 32-bit systems, or a stack_size below PTHREAD_STACK_MIN),
   ENOMEM, EAGAIN (the system refused a thread, or its stack),
   or another error of pthread_create's (EPERM under a seccomp profile that
   refuses clone3 so); any threads already started are stopped and joined.
   A pool belongs to the process that created it: in a child that fork()
   makes, parx_spawn, parx_wait, parx_for and parx_reduce on it return
   -EPERM rather than wait for workers the child does not have (fork copies
   only the calling thread); a child of _Fork() or a raw clone, which run
   no pthread_atfork handler, is not told apart. A child may create pools
   of its own.
   Thread safety: any thread.
   Callback safety: alloc and free run on any thread that uses the pool
   (workers, spawning threads, callers of parx_reduce), several at once, at
   times while the pool holds its lock: they must be thread-safe and must
   not call parx. */
PARX_API parx_pool *parx_pool_create(const parx_pool_desc *desc);

/* parx_pool_destroy: run every task still queued, stop the workers, join
   them and free the pool. NULL is ignored.
   Thread safety: one caller, from outside the pool (never from a task), once
   no other thread is spawning into it or waiting on it -- that includes the
   workers of another pool and their tasks (a parx_for over p inside one of
   them), which would queue work that no worker of p is left to run. Called
   from a task of p (on any thread), it is caught by PARX_ASSERT in debug
   builds and otherwise refused: logged (ERROR), and p is left as it was.
   Called in a child that fork() made after p was created, it is refused
   the same way (logged): the child has none of p's threads to stop, and
   its copy of p goes with the child's exit. */
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
   Returns the number of workers (which may exceed n), or -EINVAL (p NULL,
   n < 0, or out NULL with n > 0). Time counters include the current busy or
   idle spell only once it ends.
   Thread safety: any thread. */
PARX_API int parx_pool_stats(const parx_pool *p, parx_worker_stats *out, int n);

/* parx_worker_index: the index (0..size-1) of the calling thread among p's
   workers, or -1 if the caller is not one of them. p NULL: the index in
   whichever pool the caller works for. A worker of one pool that waits on
   another (a group, parx_for or parx_reduce of that pool) and runs its tasks
   meanwhile is no worker in them: -1 for both pools (an index would name
   storage that the task suspended under it, on the same thread, uses).
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
    bool borrowed;                      /* owner only: `owner` is an outside slot, held until
                                           parx_wait */
    const void *thread;                 /* the initialising thread (an address unique to it), so
                                           debug builds catch spawns and waits from other threads */
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
   queue if every slot is in use (see >>help). If memory for the task cannot
   be had, fn(arg) runs at once on the caller and the spawn still succeeds:
   nothing is lost.
   Returns 0, -EINVAL (g or fn NULL), PARX_E_NOT_WORKER (the group has no pool),
   -EPERM (the group's pool was created by the parent of this fork() child).
   Thread safety: the group's owner thread only (PARX_ASSERTed in debug builds).
   Callback safety: fn runs on any worker, on the owner inside parx_wait, on
   any other thread inside a parx_wait on the same pool (outside threads
   and other pools' workers help there, see >>help), or on the caller at
   once when memory is short: never assume a thread; it may spawn, wait on
   its own groups, and use parx_for/parx_reduce. */
PARX_API int parx_spawn(parx_group *g, parx_fn fn, void *arg);

/* parx_wait: return when every task spawned into `g` has finished. A worker
   that waits runs other tasks meanwhile (its own first, then stolen ones),
   and so does a thread outside the pool, for the duration of the wait (see
   >>help). The group may be reused afterwards.
   Returns 0, or the first error recorded by a failed spawn into `g` since the
   last wait, or -EINVAL (g NULL), or -EPERM at once (the group's pool was
   created by the parent of this fork() child: tasks spawned before the fork
   are not run).
   Thread safety: the group's owner thread only (PARX_ASSERTed in debug builds). */
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
   Returns 0 (also for an empty range), -EINVAL (p or fn NULL, begin > end),
   -EPERM (p was created by the parent of this fork() child: nothing runs).
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
   allocated once per tree node. Those handed to leaf and combine are aligned
   to 64 bytes, so the accumulator may be any type of up to that alignment
   (vectors up to AVX-512's included); identity and result are only copied
   with memcpy and need no alignment.
   Returns 0, -EINVAL (p, identity, leaf, combine or result NULL, acc_size 0,
   begin > end), -EPERM (p was created by the parent of this fork() child),
   -ENOMEM (result untouched).
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
   and stream through two more finaliser rounds. Streams of one seed have
   distinct keys; 2^128 (seed, stream) pairs map to 2^64 keys, so streams of
   different seeds can share one. And since golden is odd, any two keys
   differ by a multiple of it: every stream is a window of one sequence of
   period 2^64, at a position its key hashes, and value i of stream b is
   value i + d of stream a, d = (key_b - key_a) / golden mod 2^64. Two
   streams that draw L values each overlap with a chance of about
   2 L / 2^64, so some two of n streams overlap with a chance of about
   n^2 L / 2^64: 5e-8 for a thousand streams of a million values, but 5% for
   a million streams of a million values (streams 102701 and 295741 of seed
   42 are the same values 1709224 apart). Where n^2 L nears 2^64, draw from
   fewer, longer streams. A hash, not a proof of independence; not for
   cryptography. */

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

/* ===== Process pool (>>procs) ==============================================
   Persistent worker processes for work that must not share an address space:
   libraries that are not thread-safe, global state, crashes and leaks to
   contain. Workers start once and are reused; a job is a function plus a
   pointer into the pool's shared arena, so nothing is copied or serialised
   per job. Compiled out by PARX_NO_PROC. See >>procs in the user guide. */

/* How a job went (the process pool's, and parx_run's on every backend). */
typedef struct parx_job_result {
    int status;        /* the job's return value, or PARX_E_CRASHED (killed by .signal),
                          PARX_E_EXITED (its worker exited, .exit_code), -ETIMEDOUT,
                          PARX_E_UNKNOWN_FN, PARX_E_PROCS_BROKEN (the pool broke first),
                          -ECANCELED (parx_run cancelled before it started), or the
                          submit error that ended parx_procs_map before it ran */
    int signal;        /* the signal that ended the last failed attempt, else 0 */
    int exit_code;     /* the exit status of the last failed attempt if it exited, else 0 */
    int attempts;      /* attempts charged: 1 + the retries it used (a job whose worker
                          was killed for another job's timeout runs again uncharged) */
    uint64_t run_ns;   /* how long the last attempt ran in its worker; 0 if it failed */
} parx_job_result;

#ifndef PARX_NO_PROC

typedef struct parx_procs parx_procs;

typedef enum parx_start {
    PARX_START_DEFAULT = 0, /* PARX_START_FORK */
    PARX_START_FORK,        /* a fork server forked from the caller at create: workers inherit
                               the caller's memory as it was then */
    PARX_START_SPAWN        /* a fork server posix_spawned from this program's executable:
                               safe in a threaded caller, cost independent of its size */
} parx_start;

typedef struct parx_procs_desc {
    int workers;             /* worker processes; 0: one per CPU this process may use */
    parx_start start;        /* how workers come to be; 0: PARX_START_FORK */
    size_t arena_bytes;      /* size of the shared arena for arguments and results;
                                0: 256 MiB (pages are used only when touched) */
    uint64_t job_timeout_ns; /* a job running longer is killed with its worker and reported
                                as -ETIMEDOUT (detected within max(1 ms, a quarter of
                                it)); 0: none */
    double job_timeout;      /* the same limit in seconds (0.25: 250 ms), if you would rather;
                                set one of the two; 0: none */
    int retries;             /* further attempts for a job whose worker crashed, exited or
                                timed out; 0: none */
    unsigned max_jobs;       /* job slots (queued, running, or done and not yet waited for);
                                0: 4096 */
    uint64_t spin_ns;        /* how long an idle worker or a waiting caller polls before it
                                sleeps; 0: 50 us (workers adapt it between 1 us, or this if
                                less, and this) */
} parx_procs_desc;

/* A job runs in a worker: `arg` points into the pool's arena (or is NULL);
   it writes its results there and returns 0 or a code of its own, reported
   as parx_job_result.status. */
typedef int (*parx_job_fn)(void *arg);

/* A submitted job, to wait for once. */
typedef uint64_t parx_ticket;

/* Options for parx_procs_map_ex; zeroed means none. */
typedef struct parx_map_desc {
    const double *cost;  /* n cost hints: jobs are started longest first (a NaN hint
                            last), ties in index order; NULL: in order */
    void (*progress)(size_t done, size_t n, void *user); /* after each batch of results */
    void *user;          /* passed to progress */
} parx_map_desc;

typedef struct parx_procs_info {
    int workers;          /* worker processes the pool keeps */
    int server_pid;       /* the fork server that starts them */
    uint64_t started;     /* worker processes started, first ones included */
    uint64_t crashed;     /* workers that died during a job (signal or exit) */
    uint64_t timed_out;   /* attempts that ran past job_timeout_ns (their workers killed):
                             a job retried after timeouts counts once for each */
    uint64_t retried;     /* jobs queued again after a failed attempt */
} parx_procs_info;

/* parx_procs_create: start a fork server and `workers` worker processes, and
   wait until every worker is ready. desc NULL or zeroed: all defaults.
   Returns the pool, or NULL with the reason in errno, as the code below
   negated (errno == EINVAL for -EINVAL, -PARX_E_SPAWN for PARX_E_SPAWN:
   parx_strerror(-errno) names any of them), like parx_pool_create:
   -EINVAL (workers < 0 or > 1024, retries < 0, an unknown start mode,
   max_jobs above 2^20, job_timeout negative or NaN, or set with
   job_timeout_ns), -ENOMEM, -EFBIG (arena_bytes above what an arena
   can be, or above the file size limit RLIMIT_FSIZE), -ENOSPC
   (arena_bytes too small for the pool's own tables), -EAGAIN
   (fork refused), -ECHILD (the server or a worker died while starting, or
   a wait() of the program's own reaped the server; in spawn mode a server
   killed by a signal before it took over too), -ETIMEDOUT (workers not
   ready within 30 s), PARX_E_SPAWN (spawn mode: the executable did not
   take over as a fork server, but exited or ran on as the program; see
   >>procs), the error of parx_arena_recv (spawn mode: the server could
   not take the pool's arena; -ENOMEM, or a PARX_E_* arena code), or the
   errno of a failed system call (the caller's, or the server's own
   set-up's). Nothing is left running or open on failure.
   Thread safety: any thread. PARX_START_FORK copies the caller as it is now:
   create such pools before starting threads (see >>procs). */
PARX_API parx_procs *parx_procs_create(const parx_procs_desc *desc);

/* parx_procs_destroy: let running jobs finish, drop queued ones, stop the
   workers and the server, reap them and free everything. NULL is ignored,
   and so is a call from a job of pp itself. In a process that fork() made
   from the creator, it frees only that process's copy (descriptors,
   memory) and leaves the pool running for its creator.
   Thread safety: one caller, once no other thread uses the pool. */
PARX_API void parx_procs_destroy(parx_procs *pp);

/* parx_procs_arena: the arena shared with every worker; allocate job
   arguments and results in it. NULL with errno EINVAL for NULL.
   Thread safety: any thread. */
PARX_API parx_arena *parx_procs_arena(parx_procs *pp);

/* parx_procs_size: the number of worker processes, or -EINVAL for NULL.
   Thread safety: any thread. */
PARX_API int parx_procs_size(const parx_procs *pp);

/* parx_procs_submit: queue fn(arg) and return at once with its ticket in *t.
   fn must be a function of this program or of a library it loaded at
   startup (spawn mode finds it there by its offset in that module).
   Returns 0, -EINVAL (pp, fn or t NULL), -EFAULT (arg neither NULL nor inside
   the pool's arena), -EBUSY (every job slot holds a result that no other
   thread is waiting for; from a progress callback of a map or of a
   parx_run on pp, also one that another such call collects once its own
   callback returns), -ENOSPC (more than
   256 distinct job functions), -ENOMEM (no room in the arena for the name
   of fn's module),
   PARX_E_UNKNOWN_FN (fn lies in no loaded module), PARX_E_PROCS_BROKEN (the
   fork server died, or a replacement worker could not start), -EDEADLK
   (called from a job of pp itself; see >>procs), -EPERM (called in a
   process that fork() made from pp's creator).
   Blocks while every slot holds a queued or running job, or a result
   another thread is about to take.
   Thread safety: any thread of the process that created pp, concurrently. */
PARX_API int parx_procs_submit(parx_procs *pp, parx_job_fn fn, void *arg, parx_ticket *t);

/* parx_procs_wait: wait for the job of ticket t and fill *r with how it went
   (r may be NULL). Each ticket is waited for once.
   Returns 0 once the job is over (its own return value, or why it failed,
   is r->status), -EINVAL (pp NULL, or a ticket that is unknown or was
   waited for already), -EDEADLK (called from a job of pp itself), or -EPERM
   (called in a process that fork() made from pp's creator). A ticket
   waited for already is known as such until its job slot has been reused
   2^(52 - b) - 1 times, b the bits of max_jobs - 1 (2^40 - 1 times with
   the default 4096 slots, 2^32 - 1 at the least): then it names the job
   the slot holds, whose result a second wait would take.
   Thread safety: any thread, concurrently for different tickets. */
PARX_API int parx_procs_wait(parx_procs *pp, parx_ticket t, parx_job_result *r);

/* parx_procs_map: run fn(args[i]) for i < n and fill r[i]. Every args[i]
   must be NULL or inside the pool's arena (checked before anything runs).
   Returns the number of jobs whose status is not 0 (0: all succeeded), or
   -EINVAL (pp or fn NULL; args or r NULL with n > 0), -EFAULT (an argument
   outside the arena), -EDEADLK (called from a job of pp itself), -EPERM
   (called in a process that fork() made from pp's creator), -ENOMEM (no
   memory for the map's own bookkeeping), or a submit error: -ENOSPC,
   PARX_E_UNKNOWN_FN or -ENOMEM (fn's, as parx_procs_submit says; before
   any job runs), or -EBUSY (every slot holds a result that no one waits
   for, while the map has no job of its own running: before its first job,
   or after some ran). After a submit error r holds the
   results of the jobs that ran, and that error as the status of the jobs
   that did not; r is untouched after the other errors. A pool that breaks
   is no error of the map's: each job it stops says PARX_E_PROCS_BROKEN in
   r, and counts in the number returned.
   parx_procs_map_ex adds cost hints and a progress callback (md may be NULL).
   Thread safety: any thread, concurrently.
   Callback safety: progress runs on the calling thread, with no lock held; it
   may submit and wait on this pool (a submit may get -EBUSY while the
   results of this map, or of other maps or parx_run calls whose callbacks
   run, hold the slots) but must not destroy it. */
PARX_API int parx_procs_map(parx_procs *pp, parx_job_fn fn, void **args, size_t n,
                            parx_job_result *r);
PARX_API int parx_procs_map_ex(parx_procs *pp, parx_job_fn fn, void **args, size_t n,
                               parx_job_result *r, const parx_map_desc *md);

/* parx_procs_stats: counters and the server's pid; parx_procs_pids: the pids
   of the current workers (up to n of them) into pids (0 for a worker no
   more: once a broken pool's server has died, its workers' pids are
   forgotten, as the system may give them to other processes).
   Returns 0 / the number of workers, or -EINVAL (pp or out NULL; n < 0, or
   pids NULL with n > 0).
   Thread safety: any thread; a snapshot. */
PARX_API int parx_procs_stats(const parx_procs *pp, parx_procs_info *out);
PARX_API int parx_procs_pids(const parx_procs *pp, int *pids, int n);

#endif /* PARX_NO_PROC */

/* ===== I/O prefetcher and write-behind writer (>>prefetch) ===============
   Reads files ahead of the code that consumes them, and writes results
   behind the code that produces them, on io_uring where the kernel allows
   it and on threads everywhere else. PARX_NO_PREFETCH compiles all of it
   out; PARX_NO_URING keeps only the thread backend (no liburing needed).  */
#ifndef PARX_NO_PREFETCH

struct parx_arena; /* parx_shm.h */

typedef enum parx_io_backend {
    PARX_IO_AUTO = 0,    /* io_uring where the kernel allows it, threads where it does not */
    PARX_IO_URING = 1,   /* io_uring or fail (-EPERM, -ENOSYS, ...; -EOPNOTSUPP: PARX_NO_URING) */
    PARX_IO_THREADS = 2  /* threads calling pread/pwrite */
} parx_io_backend;

/* A byte range of one of the prefetcher's files. */
typedef struct parx_io_range {
    uint64_t offset;  /* first byte */
    uint64_t length;  /* bytes; 0 is allowed and yields nothing */
    uint32_t file;    /* index into parx_prefetch_desc.paths */
} parx_io_range;

typedef struct parx_prefetch_desc {
    const char *const *paths;     /* the files, read in this order (required, npaths >= 1) */
    size_t npaths;                /* entries in .paths */
    const parx_io_range *ranges;  /* optional: read only these ranges, in this order; NULL: every
                                     file whole */
    size_t nranges;               /* entries in .ranges (0 with .ranges: nothing is read) */
    size_t chunk_size;            /* bytes per chunk; 0: 1 MiB; rounded up to 4 KiB with .direct */
    int depth;                    /* buffers: reads in flight plus chunks the caller holds; 0: 4 */
    bool direct;                  /* read with O_DIRECT where the file system allows (>>prefetch) */
    parx_io_backend backend;      /* 0: PARX_IO_AUTO */
    int threads;                  /* thread backend's reader threads; 0: 1, or min(depth, 4) with
                                     .direct (parx_prefetch_next also reads a chunk no reader
                                     has started rather than wait for it) */
    struct parx_arena *arena;     /* optional: the buffers live in this parx_shm.h arena, which
                                     must stay open until parx_prefetch_close frees them */
    bool no_register;             /* io_uring: never register the buffers with the kernel */
} parx_prefetch_desc;

/* One chunk handed out by parx_prefetch_next. The caller reads it and gives
   it back with parx_prefetch_release. */
typedef struct parx_chunk {
    void *data;             /* the bytes; valid until released */
    size_t size;            /* bytes at data (1..chunk_size: the last of a file or range, or one
                               cut by a truncation, may be shorter) */
    uint64_t offset;        /* where data[0] is in the file */
    uint32_t file;          /* index into .paths */
    uint64_t index;         /* 0, 1, 2, ...: the order of delivery */
    uint64_t arena_offset;  /* with .arena: parx_arena_offset(arena, data); else UINT64_MAX */
    int parx__slot;         /* private */
} parx_chunk;

typedef struct parx_prefetch parx_prefetch;

/* parx_prefetch_open: start reading the files (or ranges) of `desc` ahead,
   .depth chunks at a time, on the backend .backend asks for.
   Files are opened (O_RDONLY | O_CLOEXEC) when reading reaches them, so a
   missing or unreadable file is reported by parx_prefetch_next at its place
   in the order, with parx_prefetch_error naming it.
   With .ranges (not NULL) only the ranges are read, in their order: with
   .nranges 0 nothing is. A range that runs past the end of its file (as
   the file was when it was opened; a regular file or a block device) is
   cut there, however long it says it is; in a procfs or sysfs file, whose
   size reads 0, it ends where a read returns 0; and every range ends at
   2^63 - 1 (INT64_MAX), the largest file offset.
   Returns the prefetcher, or NULL with *err (err may be NULL) and errno:
   -EINVAL (no desc or paths, npaths 0 or > UINT32_MAX, a NULL path, depth
   < 0 or > 1024, threads < 0 or > 64, chunk_size > 1 GiB, nranges without
   ranges, a range naming a file >= npaths or whose end, offset + length,
   reaches 2^64, an unknown backend), -ENOMEM (also: the paths, counted
   once per entry, add up to more than the address space), -EOPNOTSUPP
   (PARX_IO_URING under PARX_NO_URING, or on a kernel whose io_uring has no
   read operation: before Linux 5.6; .arena under PARX_NO_PROC where
   parx_shm.h was not included before parx.h's implementation),
   io_uring's setup error with PARX_IO_URING (-EPERM, -ENOSYS, -EINVAL,
   -ENOMEM; -EPERM also when io_uring_enter or io_uring_register alone is
   refused; -EIO when io_uring_enter makes no progress, answering 0 or
   EINTR to every try; -EMFILE when the ring's descriptor cannot be moved
   above 2), -EAGAIN (a reader thread could not be started:
   any of .threads; those started are stopped), or the arena's errno
   (-ENOMEM: full).
   Thread safety: any thread. */
PARX_API parx_prefetch *parx_prefetch_open(const parx_prefetch_desc *desc, int *err);

/* parx_prefetch_next: the next chunk in file order, waiting for it if it is
   still being read. Short reads are resumed; a file that ends early
   (truncated while being read) ends where a read meets its end (chunks read
   before the cut come as read; see >>prefetch), and empty chunks are
   skipped.
   Returns 1 (a chunk in *c), 0 (the end: every chunk was delivered, also
   when the caller still holds every buffer), or an error, on the chunk
   where it happened: the errno of open or read (-ENOENT, -EACCES, -EIO,
   -EISDIR, -EMFILE: also from the O_DIRECT open of .direct, whose refusal
   alone is no error (see >>prefetch), -ESPIPE: a FIFO or pipe, whole or
   by range, -ENXIO: a socket (open refuses it), -EAGAIN: a character
   device with no data to give without waiting, such as /dev/kmsg, ...),
   with parx_prefetch_error saying which file; -EBUSY when the caller holds
   every buffer and chunks remain, or a file not yet opened (whose open
   error then comes in its turn; release one first); -EPERM (pf was opened
   by the parent of this fork() child: see >>prefetch, fork());
   with io_uring, the error of a ring that failed (io_uring_enter refused:
   -EPERM, -ENOSYS; short of resources with nothing in flight: -EAGAIN,
   -EBUSY; ...), parx_prefetch_error saying so; -EINVAL (pf NULL, or c
   NULL before any such error).
   Reads cancelled by the exit of a thread that submitted them are read
   again: -ECANCELED is never returned. After an I/O or ring error every
   later call returns the same error: close the prefetcher.
   Thread safety: one caller at a time (with parx_prefetch_release). */
PARX_API int parx_prefetch_next(parx_prefetch *pf, parx_chunk *c);

/* parx_prefetch_release: give chunk c's buffer back for reading ahead; c's
   data must not be used afterwards. NULL pf or c, or a chunk not held (one
   released already, or a copy of it, even when its buffer now holds a
   later chunk), is ignored, as is any chunk in a fork() child of pf's
   opener (the buffer is the parent's).
   Thread safety: one caller at a time (with parx_prefetch_next). */
PARX_API void parx_prefetch_release(parx_prefetch *pf, parx_chunk *c);

/* parx_prefetch_close: stop reading, wait for reads in flight to finish (no
   buffer is freed while the kernel or a reader may still write it), close
   the files and free the buffers, including chunks not yet released. If
   the ring cannot be waited on (io_uring_enter refused since open) while
   reads are in flight, the buffers are leaked rather than freed, and a
   WARN is logged. In a fork() child of pf's opener it frees only the
   child's copy (descriptors, memory), waits for nothing and leaves the
   parent's ring and buffers alone. NULL is ignored.
   Thread safety: one caller, once nothing else uses pf. */
PARX_API void parx_prefetch_close(parx_prefetch *pf);

/* parx_prefetch_backend: which backend reads (PARX_IO_URING or
   PARX_IO_THREADS); *why (if why is not NULL) gets a sentence saying why,
   e.g. "threads: io_uring_setup failed: Operation not permitted (refused
   by seccomp or kernel.io_uring_disabled)", valid until close. NULL pf:
   PARX_IO_AUTO, and *why says there is no prefetcher.
   Thread safety: any thread. */
PARX_API parx_io_backend parx_prefetch_backend(const parx_prefetch *pf, const char **why);

/* parx_prefetch_error: a sentence naming the file and the reason behind the
   last error parx_prefetch_next returned (e.g. "cannot open 'a.dat': No
   such file or directory"), never NULL after an error of a file or of the
   ring (with no memory for the whole sentence the path is cut short,
   ending in "..."); NULL when there was none, after -EBUSY or -EINVAL
   (the caller's, not a file's), or when pf is NULL. Valid until close.
   Thread safety: the caller of parx_prefetch_next. */
PARX_API const char *parx_prefetch_error(const parx_prefetch *pf);

/* Called when the writer is done with a buffer: status is 0, or the error
   that kept it (or an earlier write) from being written. */
typedef void (*parx_write_done_fn)(const void *buf, size_t size, int status, void *user);

typedef struct parx_writer_desc {
    const char *path;          /* the file (required); created if missing */
    bool append;               /* keep what the file holds and write after its end (an
                                  append-only file, chattr +a, is then opened O_APPEND and
                                  written as a stream: write_at -ESPIPE; a device's end is
                                  where lseek's SEEK_END puts it: a disk's size, so writes
                                  there fail with -ENOSPC); default: truncate it */
    unsigned mode;             /* permissions when created; 0: 0644 (less the umask) */
    int depth;                 /* writes queued or in flight before a write waits; 0: 4 */
    parx_io_backend backend;   /* 0: PARX_IO_AUTO */
    bool sync;                 /* flush and close also fdatasync the file (no error where it
                                  cannot be synced: a pipe, a terminal, /dev/null, a procfs
                                  file; on a regular file EROFS is an error) */
    parx_write_done_fn done;   /* optional: told when each buffer may be reused (on io_uring
                                  inside write, flush or close; else on the writer's thread) */
    void *done_user;           /* passed to .done */
} parx_writer_desc;

typedef struct parx_writer parx_writer;

/* parx_writer_open: open (O_WRONLY | O_CREAT | O_CLOEXEC) the file for
   write-behind, after choosing the backend and starting its thread (so a
   refused PARX_IO_URING, or a thread that cannot be started, leaves the
   file untouched). PARX_IO_AUTO takes the thread backend on a FUSE file
   system (see >>prefetch). Returns the writer, or NULL with *err (err
   may be NULL) and errno: -EINVAL (no desc or path, depth < 0 or > 1024,
   an unknown backend), -ENOMEM, -EAGAIN, the errno of open (-ENXIO: a
   FIFO with no reader, or a socket, which Linux opens by no path, not even
   /proc/self/fd/N), -EOPNOTSUPP or io_uring's setup error with
   PARX_IO_URING (-EPERM also when io_uring_enter or io_uring_register
   alone is refused; -EIO when io_uring_enter makes no progress, answering
   0 or EINTR to every try; -EMFILE when the ring's descriptor cannot be
   moved above 2).
   Thread safety: any thread. */
PARX_API parx_writer *parx_writer_open(const parx_writer_desc *desc, int *err);

/* parx_writer_write: queue `size` bytes at buf to be written after the
   previous parx_writer_write's bytes (from the start, or from the file's
   end with .append), and return at once, or once a slot is free when .depth
   writes are pending (on io_uring also once the writes in flight that
   overlap it are done; on a stream, the write before it). The writer owns
   buf until .done is called for it, or until parx_writer_flush returns: do
   not change or free it before. Short
   writes are resumed (on FUSE with PARX_IO_URING, by pwrite in write, flush
   or close: see >>prefetch); EINTR and EAGAIN are written again (EAGAIN after
   a pause, and EINTR after 8 in a row, as for the prefetcher's reads: see
   >>prefetch, Faults; on io_uring the pause is taken in whichever call finds
   the answer: write, flush or close). Writes land in the order they were
   queued (overlapping ones too). A write of size 0 (buf may be NULL) writes
   nothing and gets its .done like any other. On a pipe, FIFO, terminal or
   other character device the bytes go out in the order queued, one write
   at a time.
   Returns 0, -EINVAL (w NULL, buf NULL with size > 0, a file position that
   would pass INT64_MAX), -EPERM (w was opened by the parent of this fork()
   child: nothing is queued; see >>prefetch, fork()), or the error of an
   earlier write known so far
   (flush, which waits for the writes still in flight, may then return an
   earlier write's: see parx_writer_flush), or of the ring (io_uring:
   io_uring_enter refused, -EPERM; short of resources with nothing in flight,
   -EAGAIN, -EBUSY) (nothing is queued then, and buf stays the caller's).
   Writes cancelled by the exit of the thread that queued them are written
   again: -ECANCELED is never returned.
   Thread safety: one caller at a time (the caller may change from call to
   call, and a thread that queued writes may exit before they are written).
   Callback safety: .done may run inside this call (io_uring) or on the
   writer's thread; it must not call the writer. */
PARX_API int parx_writer_write(parx_writer *w, const void *buf, size_t size);

/* parx_writer_write_at: like parx_writer_write, at file offset `offset`;
   the position of the next parx_writer_write does not move.
   Returns as parx_writer_write (-EPERM in a fork() child, before any
   other check but -EINVAL's for w and buf), -EINVAL when offset + size is
   past INT64_MAX (the largest file offset), and -ESPIPE on a pipe, FIFO
   or terminal, or an append-only file opened with .append (nothing is
   queued, the writer goes on).
   Thread safety: one caller at a time.
   Callback safety: as parx_writer_write. */
PARX_API int parx_writer_write_at(parx_writer *w, const void *buf, size_t size, uint64_t offset);

/* parx_writer_flush: wait until everything queued is written: handed to
   the kernel (the page cache), or with .sync also on the device
   (fdatasync: the data and the file's size; not the directory entry of a
   file the writer created -- fsync its directory for that).
   Returns 0 or the first error of any write since
   the writer was opened (-ENOSPC, -EIO, -EFBIG, ...): that of the
   earliest write, in the order queued, that failed, on either backend
   (io_uring's writes finish in any order: a later write's error reaped
   first gives way to it; the writes queued before it are finished, and of
   those after it only what was in flight already may land), or of the ring
   (io_uring_enter refused: -EPERM; short of resources with nothing in
   flight: -EAGAIN, -EBUSY; writes not yet submitted then are not written,
   and .done gets the error for them, and nothing is submitted again: a
   write in flight that comes back short or to be tried again is not
   written further, and .done gets the error), with .sync the error of
   fdatasync (kept as the writer's error, as a write's), -EINVAL (w NULL),
   -EPERM (w was opened by the parent of this fork() child: the writes
   are the parent's to wait for).
   If the ring cannot be waited on, flush returns its error at once, and writes
   may still be in flight: their buffers must then stay valid until the
   process exits.
   Thread safety: one caller at a time.
   Callback safety: on io_uring, .done runs inside this call (and inside
   parx_writer_close); it must not call the writer. */
PARX_API int parx_writer_flush(parx_writer *w);

/* parx_writer_close: flush, close the file and free the writer. Returns 0 or
   the first error of any write, of the ring (as parx_writer_flush), of
   fdatasync or of close. NULL: -EINVAL. In a fork() child of w's opener it
   frees the child's copy (its descriptor, its memory), writes and waits
   for nothing, calls no .done, and returns -EPERM.
   Thread safety: one caller, once nothing else uses w.
   Callback safety: as parx_writer_flush. */
PARX_API int parx_writer_close(parx_writer *w);

/* parx_writer_backend: which backend writes (PARX_IO_URING or
   PARX_IO_THREADS), and in *why (if why is not NULL) why.
   Thread safety: any thread. */
PARX_API parx_io_backend parx_writer_backend(const parx_writer *w, const char **why);

#endif /* PARX_NO_PREFETCH */

/* ===== Job runner and probe (>>run) ========================================
   n independent jobs -- a parameter sweep, Monte Carlo samples -- on one of
   four backends, or on the one that measurement says is fastest here:

     PARX_EXEC_SEQ      the calling thread, one job after another
     PARX_EXEC_THREADS  a thread pool; the caller runs jobs too
     PARX_EXEC_FORK     worker processes forked from the caller (parx_procs)
     PARX_EXEC_SPAWN    worker processes started afresh (parx_procs, spawn)
     PARX_EXEC_AUTO     one of the above, chosen as >>run in the guide says

   A job is fn(ctx, i, rng, out): job i of n, with `rng` the stream
   parx_rng_for(seed, i) (the same numbers on every backend, and on every
   retry), and `out` its own .out_size bytes of .out (NULL without .out or
   with .out_size 0).
   On the process backends `out` lies in shared memory: it holds .out's
   bytes for job i when the job starts (as on the other backends, where it
   is .out itself; a retry finds what the failed attempt left there), and is
   copied back to .out when the job succeeds, so results come back without
   the caller touching an arena. (Under valgrind, initialise .out: memcheck
   does not see another process write shared memory, so bytes that went in
   unset are still unset in its eyes when they come back.) ctx is read
   where it is (fork: the process is a copy of the caller as of this call)
   or, with .ctx_size, from a copy in the pool's arena (spawn: a fresh
   program sees no caller memory but its arena).

   AUTO runs the first jobs on the caller while it measures them. When what
   remains would take longer than parallel work costs to set up, it starts
   workers that take the remaining jobs alongside it; otherwise it finishes
   sequentially -- so tiny jobs never pay for threads. The costs come from
   .probe, or the JSON file named by the environment variable PARX_PROBE
   (written by `parx_probe --json`; read once per process, at the first
   parx_run that needs it (no .probe), a bad one logged at PARX_LOG_WARN:
   later changes to the variable or the file are not seen), else from
   built-in figures.
   Jobs marked .isolate (or run with a timeout or retries) go to processes: spawn when
   the caller has threads or is large (and ctx can travel: NULL, or copied
   by .ctx_size), fork otherwise; a given .procs runs them in its own mode.
   The report says what it chose and why. */

typedef enum parx_exec {
    PARX_EXEC_AUTO = 0,
    PARX_EXEC_SEQ = 1,
    PARX_EXEC_THREADS = 2,
    PARX_EXEC_FORK = 3,
    PARX_EXEC_SPAWN = 4
} parx_exec;

/* parx_exec_name: "auto", "sequential", "threads", "fork", "spawn", or "?".
   Thread safety: any thread. */
PARX_API const char *parx_exec_name(parx_exec e);

/* A job: returns 0 or a code of its own, reported in its result's status. */
typedef int (*parx_run_fn)(void *ctx, size_t i, parx_rng *rng, void *out);

/* This machine's overheads, from parx_probe_measure, parx_probe_load or
   parx_probe_defaults. Times in nanoseconds, medians of several runs; 0
   where not available (compiled out, or could not start: see notes).
   measured_mask says which figures were measured; the others are
   parx_probe_defaults' (or 0). */
typedef struct parx_probe {
    int cpus;                   /* CPUs this process may use (>>threads) */
    double thread_start_ns;     /* parx_pool_create + parx_pool_destroy, cpus threads */
    double task_ns;             /* parx_spawn + run + parx_wait of an empty task, per task
                                   (many tasks spawned from outside the pool, one wait) */
    double thread_job_ns;       /* the runner's cost per job on threads: wall / ceil(n / cpus)
                                   for n empty jobs on a pool already started, so that
                                   parx_run_predict's ceil(n / workers) * (job_ns + this)
                                   is exact for empty jobs (an upper bound for longer ones,
                                   whose dispatch overlaps the work) */
    double fork_start_ns;       /* parx_procs_create (cpus fork workers, until all are
                                   ready) + parx_procs_destroy */
    double spawn_start_ns;      /* the same with spawn workers; 0: spawn cannot start here */
    double proc_job_ns;         /* the same as thread_job_ns on fork workers (pipelined;
                                   spawn workers where fork pools are not started) */
    double proc_rt_ns;          /* one job's round trip, submit to result, workers hot
                                   (fork workers, or spawn ones as proc_job_ns) */
    double arena_attach_ns;     /* parx_arena_from_fd of an arena's fd + parx_arena_close */
    int io_uring;               /* 1: io_uring usable here; 0: not (see io_uring_why) */
    char io_uring_why[96];
    double gpu_dispatch_ns;     /* one empty dispatch + sync (parx_gpu_dispatch_latency in
                                   parx_gpu.h); 0: no device measured */
    char gpu_name[64];
    bool measured;              /* false: built-in figures (parx_probe_defaults) */
    unsigned measured_mask;     /* PARX_PROBE_HAVE_* bits: the figures measured on this
                                   machine; the others are defaults, or 0 */
    char notes[160];            /* what could not be measured, and why ("" if all was) */
} parx_probe;

/* Bits of parx_probe.measured_mask, one per figure (io_uring: the check ran). */
#define PARX_PROBE_HAVE_THREAD_START (1u << 0)
#define PARX_PROBE_HAVE_TASK (1u << 1)
#define PARX_PROBE_HAVE_THREAD_JOB (1u << 2)
#define PARX_PROBE_HAVE_FORK_START (1u << 3)
#define PARX_PROBE_HAVE_SPAWN_START (1u << 4)
#define PARX_PROBE_HAVE_PROC_JOB (1u << 5)
#define PARX_PROBE_HAVE_PROC_RT (1u << 6)
#define PARX_PROBE_HAVE_ARENA_ATTACH (1u << 7)
#define PARX_PROBE_HAVE_IO_URING (1u << 8)
#define PARX_PROBE_HAVE_GPU (1u << 9)

/* Options of parx_run; zeroed means defaults. */
typedef struct parx_run_desc {
    parx_exec exec;            /* 0: PARX_EXEC_AUTO */
    int workers;               /* 0: one per CPU (AUTO may use fewer); above what the
                                  backend can have (4096 pool threads and the caller,
                                  1024 worker processes): that many */
    bool isolate;              /* jobs must not share the caller's address space */
    uint64_t seed;             /* job i's rng is parx_rng_for(seed, i) */
    const double *cost;        /* n cost hints, larger means longer: started longest
                                  first; NULL: in index order. Relative job times
                                  (AUTO scales its measured mean by them); +inf is
                                  longer than any, 0, < 0 or NaN shorter than any */
    void *out;                 /* n results of out_size bytes; job i writes its own */
    size_t out_size;           /* 0: no out (jobs get NULL, whatever .out says) */
    size_t ctx_size;           /* process backends: copy ctx (this many bytes) to the
                                  pool's arena for the workers; 0: use ctx where it is */
    uint64_t job_timeout_ns;   /* process backends: kill a job running longer; 0: none */
    int retries;               /* process backends: attempts after a crash, an exit or a
                                  timeout (as parx_procs_desc.retries) */
    int (*progress)(size_t done, size_t n, void *user); /* non-zero return: cancel */
    void *user;                /* passed to progress */
    PARX__ATOMIC(int) *cancel; /* if not NULL: set non-zero (any thread) to cancel */
    const parx_probe *probe;   /* overheads for AUTO; NULL: PARX_PROBE, else built in */
    parx_pool *pool;           /* THREADS: use this pool instead of making one (in a
                                  fork() child of its creator: sequential, see parx_run) */
#ifndef PARX_NO_PROC
    parx_procs *procs;         /* FORK/SPAWN: use this pool instead of making one (its
                                  start mode, not .exec, says which of the two runs) */
#else
    void *procs_unused;        /* PARX_NO_PROC: .procs's place, ignored */
#endif
} parx_run_desc;

/* What parx_run did. */
typedef struct parx_run_report {
    parx_exec exec;            /* the backend that ran the jobs after the first ones */
    int workers;               /* how many ran them (the caller counts on threads) */
    bool fallback;             /* the chosen backend could not start, or its pool's arena
                                  had no room for the jobs: sequential instead */
    size_t first;              /* jobs run on the caller while measuring */
    size_t failed;             /* jobs whose status is not 0 (cancelled ones too) */
    size_t retried;            /* jobs that needed more than one attempt */
    size_t cancelled;          /* jobs never started because of a cancel */
    double job_ns;             /* mean job time seen (on the caller, or in workers) */
    double wall_ns;            /* the whole call */
    char reason[256];          /* one line: the choice and the figures behind it */
} parx_run_report;

/* parx_run: run fn(ctx, i, &rng, out_i) for i < n, on d->exec. results (n of
   them, or NULL) get each job's outcome as parx_procs does: status (fn's
   return, -ECANCELED for a job a cancel kept from starting, and on process
   backends PARX_E_CRASHED, PARX_E_EXITED, -ETIMEDOUT, or the error that
   kept it from being queued: PARX_E_PROCS_BROKEN, -ENOSPC, -ENOMEM,
   PARX_E_UNKNOWN_FN, -EBUSY (every slot of d->procs holds a result nobody
   waits for yet, as for parx_procs_submit), -EDEADLK (d->procs is the pool
   of the job that calls), -EPERM (d->procs is a fork()ed copy)), signal,
   exit_code, attempts, run_ns; on process backends a job's out block is
   copied back only when its status is 0. report (or NULL) gets the choice
   and why; it is left untouched when parx_run returns a negative error.
   Returns the number of jobs whose status is not 0 (INT_MAX if more), or
   before running any:
   -EINVAL (fn NULL; n >= 2^32 - 1; workers < 0; retries < 0; an unknown
   exec; out NULL with out_size > 0; n * out_size past SIZE_MAX; isolate,
   a timeout or retries with SEQ or THREADS, which cannot isolate or stop a
   job; d->procs with a timeout or retries of its own, as the pool's apply),
   -ENOTSUP (FORK/SPAWN, or jobs that need processes, with PARX_NO_PROC),
   -EFAULT (SPAWN, or d->procs, with ctx neither NULL nor in the pool's
   arena and no ctx_size to copy it there), -ENOMEM, or, when the jobs need
   processes (isolate, a timeout or retries), the error of a process pool
   that could not start or -ENOMEM when its arena cannot hold ctx_size or
   one job's out block (otherwise a backend that cannot start, or whose
   pool's arena cannot hold them, falls back to sequential, logged at
   PARX_LOG_WARN and in the report; so does THREADS with a d->pool created
   by the parent of this fork() child, which has none of its threads there:
   a pool of the run's own would start threads in a child of a process that
   had some, which only async-signal-safe code may do).
   Thread safety: any thread; concurrent runs share nothing but d->pool or
   d->procs, which are themselves safe to share.
   Callback safety: fn runs on any thread or process of the backend, and
   several at once; it must not call parx_run with this d->pool. progress
   runs on the calling thread between jobs (at most once a millisecond,
   and once at the end with the final count); on threads, jobs may be
   running meanwhile, so it must not read .out (results are complete once
   parx_run returns). */
PARX_API int parx_run(size_t n, parx_run_fn fn, void *ctx, parx_job_result *results,
                      const parx_run_desc *d, parx_run_report *report);

/* parx_run_predict: the time AUTO expects for n jobs of job_ns each on
   backend e with `workers` workers (0: p->cpus), starting a pool, as a
   model of p's overheads (t = job_ns + the backend's per-job cost, S its
   start, w workers, at most n): sequential n * job_ns; processes
   S + ceil(n / w) * t;
   threads the larger of ceil(n / w) * t and (n t + (w - 1) S / 2) / w + S / 2
   (the caller works while the others are created, the first half of S, and
   waits for them to stop after the last job, the second); AUTO the smaller of
   sequential and threads; NAN for an unknown e, and for FORK and SPAWN
   under PARX_NO_PROC. p NULL: built-in figures.
   parx_run_break_even: the job time above which e (THREADS, FORK or SPAWN;
   else NAN, as above) beats sequential for n jobs, where the two predictions meet;
   INFINITY if it never does (one worker, or n < 2).
   Thread safety: any thread (pure functions). */
PARX_API double parx_run_predict(const parx_probe *p, parx_exec e, size_t n, int workers,
                                 double job_ns);
PARX_API double parx_run_break_even(const parx_probe *p, parx_exec e, size_t n, int workers);

/* parx_probe_defaults: built-in figures, round figures at or above what
   the 2-CPU VM of bench/RESULTS.md measured (from about the same, for the
   spawn start, to 33 times, for a thread job's cost), so that AUTO without
   a probe leans towards sequential; cpus: the CPUs this process may use
   (its affinity mask and a cgroup CPU limit: >>threads). NULL is ignored.
   Thread safety: any thread.
   parx_probe_measure: start from parx_probe_defaults and measure this
   machine, medians of several runs, in under a second (0.1 to 0.5 s on a
   2-CPU VM, less with PARX_PROBE_NO_PROCS): thread pool start, task spawn, the runner's
   per-job cost on threads (parx_run on a pool it made), arena attach,
   io_uring (a ring set up and a NOP run through it, as the prefetcher
   does), and unless flags has PARX_PROBE_NO_PROCS, which leaves them at
   their defaults, fork and spawn pool start (cpus workers), a job's round
   trip, and the runner's per-job cost on fork workers (both on spawn
   workers where fork pools are not started). cpus is at most 1024 here
   (a process pool's most workers). A part that cannot
   run here (compiled out, spawn refused with PARX_E_SPAWN, fork pools not
   started because the caller already has threads) gets 0 or its default, a
   reason in notes, and its measured_mask bit clear; it never fails the
   whole probe. gpu_* stay 0: parx_gpu.h's parx_gpu_dispatch_latency
   measures the GPU (the parx_probe tool does both).
   Returns 0, or -EINVAL (p NULL or unknown flags).
   Thread safety: any thread, but call it before the program starts threads
   of its own (the fork pools fork this process, and are skipped when it has
   other threads); best run on a quiet machine. Not from inside a parx task
   or job.
   parx_probe_save: write every field as a flat JSON object (with
   "parx_probe": 1, the format version) to path, through a temporary file
   renamed over it (".parx_probe.*" in path's folder; a file at path keeps
   its permissions, a symbolic link there is replaced, not followed).
   Times that are not finite and positive are written as
   0 ("not measured"), cpus below 1 as this process's CPU count and above
   2^20 as 2^20, io_uring other than 0 as 1, and the strings up to their
   NUL or the end of their array, each byte that starts no valid UTF-8
   character as U+FFFD; so load reads back whatever save wrote.
   parx_probe_load: read such a file into *p: keys in any order, unknown keys
   ignored (their values nested at most 64 deep), missing ones left at
   parx_probe_defaults' figures, a string longer than its array cut at a
   character boundary (one that U+FFFD made longer, say); *p is changed
   only on success.
   Both return 0, -EINVAL (p or path NULL; for save also path ""; for load
   also a file that is not a JSON object, a wrong or missing "parx_probe"
   version, a value of the wrong type or out of range, anything after the
   object, a file over 1 MiB, a file that is not a regular file: a FIFO, a
   device; for save, such a file at path, which it leaves as it is),
   -EISDIR, -ENOMEM (no "C" locale to read or write numbers in), or the
   errno of a failed call (-ENOENT: no such file).
   Thread safety: any thread; concurrent saves to one path leave one of
   them whole. */
#define PARX_PROBE_NO_PROCS 1u
PARX_API void parx_probe_defaults(parx_probe *p);
PARX_API int parx_probe_measure(parx_probe *p, unsigned flags);
PARX_API int parx_probe_save(const parx_probe *p, const char *path);
PARX_API int parx_probe_load(parx_probe *p, const char *path);

/* parx_probe_format: the table people read: every overhead with its unit
   (ns, µs, ms or s) and whether it was measured here or is a default,
   io_uring and why, the GPU, then the break-even job time
   (parx_run_break_even with workers 0) of threads, fork and spawn for
   n = 10, 100 and 1000 jobs ("never" where a backend cannot win, "n/a"
   where it is compiled out or has no start figure). An overhead with no
   figure shows "-" and "not available". UTF-8, lines end in '\n'.
   Writes at most size bytes to buf, always nul-terminated when size > 0
   (buf may be NULL when size is 0), and returns the length the whole table
   has (snprintf semantics: it was cut if that is >= size), or -EINVAL (p
   NULL, or buf NULL with size > 0).
   Thread safety: any thread. */
PARX_API int parx_probe_format(const parx_probe *p, char *buf, size_t size);

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
/* defined, but after a header of the C library: glibc read the feature
   macros at its first header, so the GNU interfaces stay hidden */
#if defined(__GLIBC__) && !defined(__USE_GNU)
#error "parx: _GNU_SOURCE came after a system header: define it before every #include of the file (glibc reads it at its first header), or compile the shipped parx.c"
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
#include <fcntl.h>
#include <limits.h>
#include <math.h> /* NAN, INFINITY (no libm function is called) */
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <sys/types.h>
/* Files and arenas past 2 GiB need a 64-bit off_t: on a 32-bit target the
   implementation is compiled with -D_FILE_OFFSET_BITS=64 (parx.c defines
   it, meson passes it), or offsets and sizes would be cut to 32 bits (a
   write at 5 GiB landing at 1 GiB). */
_Static_assert(sizeof(off_t) == 8, "parx: on a 32-bit target compile the implementation with "
                                   "-D_FILE_OFFSET_BITS=64, or compile the shipped parx.c");
/* 64-bit atomics are shared between processes (the process pool's ring,
   its job slots): they must be the CPU's own instructions. libatomic's
   stand-ins (for i486, say) lock a table private to each process: atomic
   in none. */
#if !defined(__GCC_HAVE_SYNC_COMPARE_AND_SWAP_8)
#error "parx: 64-bit atomics are not lock-free here (32-bit x86: build for i586 or later)"
#endif
#ifndef PARX_NO_PROC
#include <dirent.h> /* /proc/self/task: which threads could hold a lock (parx__procs_threads) */
#include <link.h> /* dl_iterate_phdr: job functions by module and offset */
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* the same number on every architecture */
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424 /* likewise */
#endif
#ifndef P_PIDFD
#define P_PIDFD 3 /* waitid of a pidfd (Linux 5.4); glibc before 2.36 lacks the name */
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
#define PARX__HAVE_CLOSEFROM 1 /* posix_spawn_file_actions_addclosefrom_np */
#else
#define PARX__HAVE_CLOSEFROM 0
#endif
#endif

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
/* 0 passes the bit test (0 & -1 == 0) but is no power of two: a deque of
   capacity 0 would be written past its end by its first push. */
#if PARX_DEQUE_MIN_CAPACITY < 1 || (PARX_DEQUE_MIN_CAPACITY & (PARX_DEQUE_MIN_CAPACITY - 1)) != 0
#error "parx: PARX_DEQUE_MIN_CAPACITY must be a power of two (1, 2, 4, ...)"
#endif

/* Inlining is part of the design on the spawn path: parx_spawn must stay a
   handful of instructions around an inlined deque push, and its rare paths
   must not grow it past the compiler's inlining budget. */
#define PARX__HOT static inline __attribute__((__always_inline__))
#define PARX__COLD static __attribute__((__noinline__, __cold__))

#define PARX__MAX_THREADS 4096
#define PARX__TASK_BLOCK 64   /* task records per allocation, and per hand-over between workers */
#define PARX__PAUSE_ROUNDS 64 /* idle polls separated by a pause before polls yield the CPU */
#define PARX__SLOT_GRACE 32   /* idle polls before outside slots' tasks are fair game */

/* -------------------------------------------------------------------------- */
/* >>platform: time, futexes, CPU count, the cost-hint order, memory          */
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
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void parx__futex_wake(_Atomic uint32_t *addr, int n)
{
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
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

/* ---- CPUs this process may use: its affinity mask and a cgroup CPU limit -- */

/* The tightest CPU limit of cgroup directory `dir` and of its ancestors up
   to the hierarchy's mount point (the first `top` bytes of dir), in CPUs
   rounded up; 0: none. v2: cpu.max, "QUOTA PERIOD" or "max PERIOD"; v1:
   cpu.cfs_quota_us (-1: none) over cpu.cfs_period_us. `dir` is cut as the
   walk goes up. */
static int parx__cgroup_limit(char *dir, size_t size, size_t top, bool v2)
{
    int best = 0;
    size_t len = strlen(dir);
    for (;;) {
        long long quota = -1, period = 0;
        char line[64];
        FILE *f;
        snprintf(dir + len, size - len, v2 ? "/cpu.max" : "/cpu.cfs_quota_us");
        if ((f = fopen(dir, "re"))) {
            if (fgets(line, sizeof line, f) &&
                sscanf(line, v2 ? "%lld %lld" : "%lld", &quota, &period) != (v2 ? 2 : 1))
                quota = -1; /* "max PERIOD": no limit at this level */
            fclose(f);
        }
        if (!v2 && quota > 0) {
            snprintf(dir + len, size - len, "/cpu.cfs_period_us");
            if ((f = fopen(dir, "re"))) {
                if (!fgets(line, sizeof line, f) || sscanf(line, "%lld", &period) != 1)
                    period = 0;
                fclose(f);
            }
        }
        dir[len] = '\0';
        if (quota > 0 && period > 0) {
            long long cpus = quota / period + (quota % period != 0);
            if (cpus > 1 << 20) cpus = 1 << 20; /* no limit a machine could meet */
            if (best == 0 || cpus < best) best = (int)cpus;
        }
        if (len <= top) return best;
        while (len > top && dir[len] != '/') len--; /* up one level */
        dir[len] = '\0';
    }
}

#define PARX__CG_PATH 1024 /* a cgroup's path, a mount point: longer ones count as no limit */
#define PARX__CG_MOUNTS 8  /* mount points of the two hierarchies looked at */

/* mountinfo writes a space, tab, newline or backslash in a path as \ and
   three octal digits (\040); /proc/self/cgroup writes them raw. Decodes s
   in place. */
static void parx__cg_unescape(char *s)
{
    char *d = s;
    for (; *s; s++, d++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            *d = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
            s += 3;
        } else {
            *d = *s;
        }
    }
    *d = '\0';
}

/* The cgroup CPU limit of this process, in CPUs rounded up (0: none found),
   from the files this process's /proc/self/cgroup and /proc/self/mountinfo
   name: the tightest of the v1 cpu controller's and the v2 (unified)
   hierarchy's, each the tightest of the cgroup and its ancestors. Every
   mount of a hierarchy that shows the cgroup is looked at (a bind of a
   subtree shows fewer ancestors than a mount of the whole), but of mounts
   at one mount point only the last listed, which hides the others. A
   cgroup path outside a mount's root (another cgroup namespace's) counts
   as no limit there. The two paths are parameters for the tests. */
static int parx__cgroup_cpus(const char *cgroup_file, const char *mountinfo_file)
{
    char v1[PARX__CG_PATH] = "", v2[PARX__CG_PATH] = "";
    bool have_v1 = false, have_v2 = false;
    char *line = NULL;
    size_t cap = 0;
    FILE *f = fopen(cgroup_file, "re");
    if (!f) return 0;
    /* "ID:CONTROLLERS:PATH": v2 is "0::PATH", v1's cpu has "cpu" among the
       comma-separated controllers */
    while (getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2 || strlen(c2 + 1) >= PARX__CG_PATH) continue;
        *c2 = '\0';
        if (c1[1] == '\0' && strcmp(line, "0:") == 0) {
            snprintf(v2, sizeof v2, "%s", c2 + 1);
            have_v2 = true;
        }
        for (char *sv, *tok = strtok_r(c1 + 1, ",", &sv); tok; tok = strtok_r(NULL, ",", &sv))
            if (strcmp(tok, "cpu") == 0) {
                snprintf(v1, sizeof v1, "%s", c2 + 1);
                have_v1 = true;
            }
    }
    fclose(f);
    char *seen[PARX__CG_MOUNTS]; /* mount points looked at, and their limits */
    int seen_cpus[PARX__CG_MOUNTS], nseen = 0;
    f = have_v1 || have_v2 ? fopen(mountinfo_file, "re") : NULL;
    /* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS" */
    while (f && getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = '\0';
        char *sep = strstr(line, " - ");
        char root[PARX__CG_PATH], point[PARX__CG_PATH], fstype[32], super[256] = "";
        if (!sep || sscanf(line, "%*s %*s %*s %1023s %1023s", root, point) != 2 ||
            strlen(root) >= PARX__CG_PATH - 1 || strlen(point) >= PARX__CG_PATH - 1 ||
            sscanf(sep + 3, "%31s %*s %255s", fstype, super) < 1)
            continue;
        bool is_v2 = strcmp(fstype, "cgroup2") == 0, is_v1 = false;
        if (strcmp(fstype, "cgroup") == 0)
            for (char *sv, *tok = strtok_r(super, ",", &sv); tok; tok = strtok_r(NULL, ",", &sv))
                is_v1 |= strcmp(tok, "cpu") == 0;
        const char *path = is_v2 && have_v2 ? v2 : is_v1 && have_v1 ? v1 : NULL;
        if (!path) continue;
        parx__cg_unescape(root);
        parx__cg_unescape(point);
        size_t rl = strcmp(root, "/") == 0 ? 0 : strlen(root);
        int k = 0;
        while (k < nseen && strcmp(seen[k], point) != 0) k++;
        if (k == nseen) {
            if (nseen == PARX__CG_MOUNTS || !(seen[k] = strdup(point))) continue;
            nseen++;
        }
        seen_cpus[k] = 0; /* this mount hides any earlier one at its point */
        if (strncmp(path, root, rl) != 0 || (path[rl] != '\0' && path[rl] != '/')) continue;
        char dir[PARX__CG_PATH + 32];
        size_t top = strlen(point);
        if (snprintf(dir, sizeof dir, "%s%s", point, path + rl) >= PARX__CG_PATH) continue;
        while (strlen(dir) > top && dir[strlen(dir) - 1] == '/') dir[strlen(dir) - 1] = '\0';
        seen_cpus[k] = parx__cgroup_limit(dir, sizeof dir, top, is_v2);
    }
    if (f) fclose(f);
    free(line);
    int best = 0;
    for (int k = 0; k < nseen; k++) {
        if (seen_cpus[k] > 0 && (best == 0 || seen_cpus[k] < best)) best = seen_cpus[k];
        free(seen[k]);
    }
    return best;
}

/* The CPUs this process may use: those its affinity mask allows (asked at
   every call: sched_setaffinity may change it) and, under a cgroup CPU
   limit, no more than the limit rounded up (>>threads). The limit is read
   once per process: a count is asked at every parx_run, and reading /proc
   costs tens of microseconds. The cache is one int, the same for every
   pool (a property of the process, like the mask); relaxed: threads that
   race compute the same value and nothing else is published by it. */
static int parx__cpu_count(void)
{
    static _Atomic int limit; /* 0: not read yet; else the limit + 1 (1: none) */
    int n = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
    if (n < 1) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    int q = atomic_load_explicit(&limit, memory_order_relaxed);
    if (q == 0) {
        q = parx__cgroup_cpus("/proc/self/cgroup", "/proc/self/mountinfo") + 1;
        atomic_store_explicit(&limit, q, memory_order_relaxed);
    }
    return q > 1 && q - 1 < n ? q - 1 : n;
}

/* qsort_r order of job indices (size_t) by cost hints (ctx: the doubles),
   longest first; ties in index order, so every run gets the same schedule
   (parx_procs_map_ex, parx_run). A NaN hint goes after every number: NaN
   compares neither above nor below, and an order that is not total breaks
   qsort_r's contract (any order may come back, or worse). */
static int parx__cost_cmp(const void *a, const void *b, void *ctx)
{
    const double *cost = (const double *)ctx;
    size_t i = *(const size_t *)a, k = *(const size_t *)b;
    double x = cost[i], y = cost[k];
    bool xnan = isnan(x), ynan = isnan(y);
    if (xnan != ynan) return xnan ? 1 : -1;
    if (x > y) return -1;
    if (x < y) return 1;
    return i < k ? -1 : i > k;
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
    /* a size that does not fit size_t (a 32-bit target growing to 2^30
       slots) is refused, not wrapped round to a small block */
    if (capacity <= 0 || (uint64_t)capacity > (SIZE_MAX - sizeof(struct parx__deque_array)) /
                                                  sizeof(_Atomic(void *)))
        return NULL;
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
    /* 1 TiB of slots (2^37), or 1 GiB where size_t has 32 bits */
    const size_t max_capacity =
        (size_t)(SIZE_MAX > UINT32_MAX ? (uint64_t)1 << 40 : (uint64_t)1 << 30) / sizeof(void *);
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
    /* empty too, so that pop, steal and size never look for the array (the
       items left in it were the caller's) */
    atomic_store_explicit(&d->top, 0, memory_order_relaxed);
    atomic_store_explicit(&d->bottom, 0, memory_order_relaxed);
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
    /* relaxed: only the owner (us) writes the array pointer */
    if (!d || !item || !atomic_load_explicit(&d->array, memory_order_relaxed)) return -EINVAL;
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
    if (!d) return NULL;
    return parx__deque_take(d);
}

PARX_API void *parx_deque_steal(parx_deque *d)
{
    if (!d) return NULL;
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
    /* atomic loads need a non-const pointer in C11 (through uintptr_t: a
       program's -Wcast-qual stays quiet) */
    parx_deque *m = (parx_deque *)(uintptr_t)d;
    /* relaxed: a snapshot, documented as approximate under concurrency */
    int64_t b = atomic_load_explicit(&m->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&m->top, memory_order_relaxed);
    return b > t ? (size_t)(b - t) : 0;
}

/* -------------------------------------------------------------------------- */
/* >>pool: workers, task records, the shared queue, sleeping and waking       */
/* -------------------------------------------------------------------------- */
/* Each worker owns a deque of task records. A spawn from a worker pushes on
   its own deque; a spawn from any other thread pushes on the deque of the
   outside slot it borrows (below), or, when every slot is taken, goes on
   the pool's shared queue (a mutex-protected ring), as do parx_for's and
   parx_reduce's first tasks from outside. A worker with nothing to do looks in the
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
   must never share a line (that false sharing cost 40% of fib's speed). The
   alignment rounds the size up to whole lines (two where a line is smaller
   than the four pointers); blocks place the first record on a line. */
typedef struct parx__task {
    _Alignas(PARX_CACHELINE) parx_fn fn;
    void *arg;
    parx_group *group;
    struct parx__task *next; /* free list link */
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
    bool is_slot;              /* an outside slot: no thread; counters kept, never reported */
    bool idle_counted;         /* owner only: counted in pool->pollers (parx__idle) */
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
    int max_pollers;           /* idle threads that may poll at once: one per CPU where
                                  workers outnumber CPUs; 0: all (pollers not counted) */
    parx__worker *workers;
    void *(*alloc_fn)(size_t, void *);
    void (*free_fn)(void *, void *);
    void *alloc_user;
    char name[11];
    unsigned fork_gen;         /* parx__fork_gen at create: see parx__pool_forked */
    char parx__pad0[PARX_CACHELINE];
    /* read on every spawn, written when workers fall asleep or wake */
    _Atomic int sleepers;
    _Atomic int pollers;       /* idle threads in parx__idle, polling or looking once
                                  (max_pollers set only): pushes skip wake-ups on it */
    _Atomic int shutdown;
    char parx__pad1[PARX_CACHELINE];
    _Atomic unsigned wake_cursor; /* where the next wake-up scan starts (relaxed) */
    /* the shared queue, spare task records and their blocks, under `mu` */
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

/* A pool (and a prefetcher, a writer) belongs to the process that made
   it: fork() copies only the thread that calls it, so in the child a pool
   has no workers, and a loop or a wait there would sleep for ever. Each
   fork() moves this count in the child (pthread_atfork, registered by the
   first create or open: a process that never made one pays nothing); an
   object keeps the count of its making (parx__fork_gen_now), and its entry
   points refuse a copy (-EPERM). Relaxed: the handler runs on the thread
   that returns from fork(), before anything else runs in the child. */
static _Atomic unsigned parx__fork_gen;
static atomic_bool parx__fork_registered;

static void parx__after_fork(void)
{
    /* run twice (two registrations) it moves the count twice: still not
       the parent's */
    atomic_fetch_add_explicit(&parx__fork_gen, 1, memory_order_relaxed);
}

/* The count for an object made now, in *gen, once the handler that moves
   it is registered: 0, or -ENOMEM (pthread_atfork refused: make nothing). */
static int parx__fork_gen_now(unsigned *gen)
{
    int rc = parx__atfork(&parx__fork_registered, NULL, NULL, parx__after_fork);
    *gen = atomic_load_explicit(&parx__fork_gen, memory_order_relaxed); /* either way: a */
    return rc; /* half-made object is this process's own, for its destroy */
}

/* Whether this process is a fork() child of the one that made an object
   whose count is `gen`. */
static inline bool parx__forked(unsigned gen)
{
    return atomic_load_explicit(&parx__fork_gen, memory_order_relaxed) != gen;
}

static inline bool parx__pool_forked(const parx_pool *p)
{
    return parx__forked(p->fork_gen);
}

/* The worker this thread is (NULL on other threads), and the pool whose
   task an outside thread is running inside parx_wait (so that
   parx_group_init(&g, NULL) in that task still finds its pool). */
static _Thread_local parx__worker *parx__tls_worker;
static _Thread_local parx_pool *parx__tls_helping;
/* The pool whose worker thread this is, never hidden: parx__tls_worker is
   NULL while a worker runs another pool's task for it (parx__run_here). */
static _Thread_local parx_pool *parx__tls_home;

/* Every pool this thread is inside now, innermost first: one frame (on the
   stack) per parx_wait that waits and per task run here for a pool this
   thread is no worker of. The two above name the innermost context only; a
   task of pool A nested in a wait on pool B's group hides B from them, and
   parx_pool_destroy(B) must still see that this thread will return into B. */
typedef struct parx__inside {
    parx_pool *pool;
    struct parx__inside *up;
} parx__inside;
static _Thread_local parx__inside *parx__tls_inside;

static void parx__enter(parx__inside *f, parx_pool *p)
{
    f->pool = p;
    f->up = parx__tls_inside;
    parx__tls_inside = f;
}

static void parx__leave(const parx__inside *f) { parx__tls_inside = f->up; }

static bool parx__inside_pool(const parx_pool *p)
{
    for (const parx__inside *f = parx__tls_inside; f; f = f->up)
        if (f->pool == p) return true;
    return false;
}

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
    unsigned cursor = atomic_fetch_add_explicit(&p->wake_cursor, 1, memory_order_relaxed);
    /* reduced before adding i: (cursor + i) would wrap at 2^32, and unless
       nslots divides 2^32 the scan would then skip a record, maybe the one
       sleeper, losing a wake-up a push into an empty deque must deliver */
    unsigned start = cursor % (unsigned)p->nslots;
    for (unsigned i = 0; i < (unsigned)p->nslots; i++)
        if (parx__wake(&p->workers[(start + i) % (unsigned)p->nslots], true)) return;
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
    if (sleepers <= 0) return;
    /* More workers than CPUs: a poller will find the work, and a wake-up
       would only add a thread to a queue for a CPU (see >>sleep). seq_cst
       (strict): pairs with the pollers' decrements before their last looks */
    if (p->max_pollers &&
        atomic_load_explicit(&p->pollers, strict ? memory_order_seq_cst : memory_order_relaxed) > 0)
        return;
    parx__wake_one(p);
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
    /* equal modulo 2^(bits - 1), the width of the remote count, which wraps
       first (on a 32-bit target after 2^31 remote completions over a reused
       group's life); fewer tasks than that are ever outstanding */
    return ((g->done_local + remote - g->spawned) & (SIZE_MAX >> 1)) == 0;
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
    parx__inside frame;
    parx__enter(&frame, p);
    parx__tls_helping = p;
    parx__tls_worker = NULL;
    fn(arg);
    parx__tls_worker = prev_worker;
    parx__tls_helping = prev;
    parx__leave(&frame);
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
    parx__inside frame;
    parx__enter(&frame, p);
    parx__tls_worker = slot;
    t->fn(t->arg);
    parx__complete(t->group, slot);
    PARX__STAT_ADD(slot, st_tasks, 1);
    parx__tls_worker = prev;
    parx__leave(&frame);
    parx__slot_release(slot);
}

/* An idle thread's count in a pool with more workers than CPUs (see
   >>sleep); nothing where max_pollers is 0. Enter: returns whether this
   thread may poll (one per CPU at most) rather than look once. seq_cst,
   though only a count: the argument in >>sleep orders a push's read of the
   count before every later decrement, which the C11 text (weaker than
   C++20's) guarantees only when every modification is seq_cst. */
static bool parx__idle_enter(parx__worker *w)
{
    parx_pool *p = w->pool;
    if (!p->max_pollers) return true;
    w->idle_counted = true;
    return atomic_fetch_add_explicit(&p->pollers, 1, memory_order_seq_cst) < p->max_pollers;
}

/* Leave the count. A push that saw us counted skipped its wake-up, so a
   look must follow the decrement: the caller's last look before sleeping
   (`sleeping`), or here, by the last thread counted (the count back at 0),
   which wakes a sleeper if any work is left. seq_cst: the decrement, and
   our look at the sleepers and the deques after it, are ordered after that
   push in the total order. */
static void parx__idle_leave(parx__worker *w, bool sleeping)
{
    parx_pool *p = w->pool;
    if (!w->idle_counted) return;
    w->idle_counted = false;
    if (atomic_fetch_sub_explicit(&p->pollers, 1, memory_order_seq_cst) == 1 && !sleeping &&
        atomic_load_explicit(&p->sleepers, memory_order_seq_cst) > 0 && parx__work_visible(p))
        parx__wake_one(p);
}

/* Look for a task to take: the shared queue, then every other deque from a
   random start. Unless `patient`, outside slots are left to the threads
   that spawned into them, which usually pop their tasks themselves in
   parx_wait at once (a thief taking one makes that thread wait for a
   completion on another core, and merely polling a slot's deque moves its
   cache line away on every push); idle workers turn patient after
   PARX__SLOT_GRACE polls, a microsecond or two, or on their last poll
   before sleeping if that comes first (see parx__idle). */
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
                /* not as a counted idle thread: pushes would skip their
                   wake-ups on us for as long as the task runs */
                bool counted = w->idle_counted;
                if (counted) parx__idle_leave(w, false);
                copy.fn(copy.arg);
                if (counted) parx__idle_enter(w);
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
   or by shutdown (g NULL only: a group's waiter sleeps through it).
   Returns at once if any of those is already visible.
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
   down (g NULL). A worker accounts the time as idle; a slot accounts no time. */
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
        /* More workers than CPUs: no more pollers than CPUs (see >>sleep) */
        unsigned rounds = parx__idle_enter(w) ? p->spin_rounds : 1;
        for (unsigned i = 0; i < rounds; i++) {
            if (g ? parx__group_done(g, memory_order_acquire)
                  /* relaxed: a poll; the sleeper's last look reads it seq_cst */
                  : atomic_load_explicit(&p->shutdown, memory_order_relaxed))
                goto out;
            /* The last poll before sleeping is patient whatever spin_rounds
               is: the sleeper's last look counts slots' tasks as work, so a
               worker that still refused them would neither run them nor
               sleep, but spin until their owner ran them all itself. */
            bool patient = i >= PARX__SLOT_GRACE || i + 1 == rounds;
            if ((t = parx__find_work(w, patient)) != NULL) goto out;
            if (i < PARX__PAUSE_ROUNDS) parx__cpu_relax();
            else sched_yield();
        }
        parx__idle_leave(w, true); /* our sleep's last look follows */
        woken |= parx__sleep(w, g);
    }
out:
    parx__idle_leave(w, false);
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
    parx__tls_home = p;

    char name[16]; /* Linux allows 15 characters: "<prefix>-<index>" */
    size_t len = strlen(p->name);
    memcpy(name, p->name, len);
    name[len++] = '-';
    char digits[8];
    int nd = 0;
    for (unsigned v = (unsigned)w->index; nd == 0 || v; v /= 10)
        digits[nd++] = (char)('0' + v % 10);
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
    if (d.threads < 0 || d.threads > PARX__MAX_THREADS || !d.alloc != !d.free ||
        (d.stack_size != 0 && d.stack_size < (size_t)PTHREAD_STACK_MIN)) {
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
    if (parx__fork_gen_now(&p->fork_gen) != 0) {
        parx__free(d.free, d.alloc_user, p);
        errno = ENOMEM;
        return NULL;
    }
    p->alloc_fn = d.alloc;
    p->free_fn = d.free;
    p->alloc_user = d.alloc_user;
    p->spin_rounds = d.spin_rounds ? d.spin_rounds : PARX_SPIN_ROUNDS;
    int cpus = parx__cpu_count();
    p->max_pollers = n > cpus ? cpus : 0; /* 0: every idle worker polls */
    /* At least one: an idle worker takes work and sees shutdown only in its
       polls (parx__idle); with none it would wake, see work it never took,
       and never sleep again, and destroy would wait for it forever. */
    if (p->spin_rounds == 0) p->spin_rounds = 1;
    const char *name = d.name ? d.name : "parx";
    size_t name_len = strlen(name);
    if (name_len > sizeof p->name - 1) name_len = sizeof p->name - 1;
    memcpy(p->name, name, name_len);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->pollers, 0);
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
    pthread_attr_t tattr;
    int rc = pthread_attr_init(&tattr);
    if (rc == 0 && d.stack_size) rc = pthread_attr_setstacksize(&tattr, d.stack_size);
    for (int i = 0; rc == 0 && i < n; i++) {
        rc = pthread_create(&p->workers[i].thread, &tattr, parx__worker_main, &p->workers[i]);
        if (rc != 0) parx__stop(p, i); /* the i started before it */
    }
    pthread_attr_destroy(&tattr);
    if (rc != 0) {
        parx__pool_free(p);
        errno = rc;
        return NULL;
    }
    return p;
}

PARX_API void parx_pool_destroy(parx_pool *p)
{
    if (!p) return;
    /* In a child of fork() (from a task of p or not): no threads to stop or
       join, and locks perhaps held by threads that are not here. */
    if (parx__pool_forked(p)) {
        parx__log(PARX_LOG_ERROR, "parx_pool_destroy called in a child of fork(): refused, "
                                  "the copy is left to the process's exit");
        return;
    }
    /* From a task of p -- on a worker (even one running another pool's task
       for it), or on an outside thread inside parx_wait, as a slot or not,
       however deeply other pools' tasks are nested inside -- stopping would
       join this thread itself or free the pool under the task and the wait
       around it. Misuse: caught in debug builds, refused (the pool stays
       up) in others, never a use after free. */
    if (parx__self_in(p) || parx__tls_home == p || parx__inside_pool(p)) {
        PARX_ASSERT(0 && "parx_pool_destroy: not from a task of the same pool");
        parx__log(PARX_LOG_ERROR, "parx_pool_destroy called from a task of the same pool: "
                                  "refused, the pool is not destroyed");
        return;
    }
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
   The group is complete when done_local + (done_remote >> 1) == spawned
   (modulo 2^(bits - 1), where the shifted count wraps); only the owner
   evaluates that. */

/* The calling thread, as groups record it: the address of one of its
   thread-local variables, which no other live thread shares. A worker is
   not enough: a thread outside the pool has none, or borrows a slot that
   it does not keep, and a worker hides itself while it runs another pool's
   task (parx__run_here). */
static inline const void *parx__thread_id(void)
{
    return (const void *)&parx__tls_worker;
}

static void parx__group_init_worker(parx_group *g, parx__worker *w)
{
    g->pool = w->pool;
    g->owner = w;
    g->spawned = 0;
    g->done_local = 0;
    atomic_init(&g->done_remote, 0);
    g->error = 0;
    g->borrowed = false;
    g->thread = parx__thread_id();
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
    g->thread = parx__thread_id();
}

PARX_API int parx_spawn(parx_group *g, parx_fn fn, void *arg)
{
    if (!g) return -EINVAL;
    if (!fn || !g->pool || parx__pool_forked(g->pool)) {
        int rc = !fn ? -EINVAL : !g->pool ? PARX_E_NOT_WORKER : -EPERM;
        if (!g->error) g->error = rc; /* also reported by parx_wait */
        return rc;
    }
    /* A group pushes onto its worker's or its borrowed slot's deque, which
       only their owner may push to, and counts its spawns in plain fields: a
       task that spawns into its parent's group from another thread (it was
       stolen) would corrupt the deque or the count, and only when the
       schedule moved it, so it is worth catching in debug builds. Checked
       before anything else of the group is read: those reads would race
       with its owner (ThreadSanitizer reports them first). */
    PARX_ASSERT(g->thread == parx__thread_id() &&
                "parx_spawn: only the thread that initialised the group may spawn into it");
    parx__worker *w = (parx__worker *)g->owner;
    /* An outside group borrows a slot until parx_wait (see >>help), but only
       while none of its tasks is outstanding: a completer reads g->owner,
       and the acquire load in parx__group_done orders every earlier
       completer's read before this write. */
    if (!w && parx__group_done(g, memory_order_acquire) &&
        (w = parx__slot_claim(g->pool)) != NULL) {
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
    /* Checked whether or not the group is done: a wait also gives back the
       slot the group borrowed, and clears its waiter bit. */
    PARX_ASSERT((!g->pool || g->thread == parx__thread_id()) &&
                "parx_wait: only the thread that initialised the group may wait on it");
    if (g->pool && !parx__group_done(g, memory_order_acquire)) {
        PARX_ASSERT((g->borrowed ? !parx__self_in(g->pool) : o == parx__self_in(g->pool)) &&
                    "parx_wait: only the thread that initialised the group may wait on it");
        if (o && !g->borrowed) {
            /* one of the pool's own: a worker (parx__tls_home says so) or a
               slot inside parx__run_outside (whose frame says so) */
            parx__wait_worker(o, g);
        } else {
            parx__inside frame; /* an outside thread, inside the pool until the wait ends */
            parx__enter(&frame, g->pool);
            if (g->borrowed) {
                /* wait as the slot: run our own tasks first, steal, then sleep */
                parx__worker *prev = parx__tls_worker;
                parx__tls_worker = o;
                parx__wait_worker(o, g);
                parx__tls_worker = prev;
            } else {
                parx__wait_outside(g, help);
            }
            parx__leave(&frame);
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
    if (g->pool && parx__pool_forked(g->pool)) { /* tasks spawned before the fork are lost */
        g->error = 0;
        return -EPERM;
    }
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
    if (parx__pool_forked(p)) return -EPERM;
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
/* Accumulators are aligned to 64 bytes, not just max_align_t's 16: the user's
   type may be a vector (AVX's 32-byte __m256d, AVX-512's 64-byte __m512d, or
   a struct declared _Alignas(64)), on which the compiler may use aligned
   loads that fault, or are undefined behaviour, at a lesser alignment. */
#define PARX__ACC_ALIGN 64

typedef struct parx__acc_buf {
    _Alignas(PARX__ACC_ALIGN) unsigned char bytes[PARX__SMALL_ACC];
} parx__acc_buf;

/* An accumulator of acc_size bytes aligned to PARX__ACC_ALIGN: `small`'s
   bytes when it fits, else the pool's allocator, asked for PARX__ACC_ALIGN - 1
   bytes more to align within (it promises malloc's alignment at best).
   *raw is what parx__acc_free gives back (NULL: nothing). NULL: no memory. */
static void *parx__acc_get(parx_pool *p, size_t acc_size, parx__acc_buf *small, void **raw)
{
    *raw = NULL;
    if (acc_size <= sizeof small->bytes) return small->bytes;
    if (acc_size > SIZE_MAX - (PARX__ACC_ALIGN - 1)) return NULL;
    *raw = parx__alloc(p->alloc_fn, p->alloc_user, acc_size + (PARX__ACC_ALIGN - 1));
    if (!*raw) return NULL;
    uintptr_t a = ((uintptr_t)*raw + (PARX__ACC_ALIGN - 1)) & ~(uintptr_t)(PARX__ACC_ALIGN - 1);
    return (void *)a;
}

static void parx__acc_free(parx_pool *p, void *raw)
{
    parx__free(p->free_fn, p->alloc_user, raw);
}

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
    void *right_raw;
    void *right = parx__acc_get(job->pool, job->acc_size, &small, &right_raw);
    if (!right) {
        parx__reduce_fail(job, -ENOMEM);
        return;
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
    if (!atomic_load_explicit(&job->error, memory_order_relaxed))
        job->combine(job->ctx, acc, right);
    parx__acc_free(job->pool, right_raw);
}

PARX_API int parx_reduce(parx_pool *p, size_t begin, size_t end, size_t grain,
                         size_t acc_size, const void *identity,
                         parx_reduce_fn leaf, parx_combine_fn combine,
                         void *ctx, void *result)
{
    if (!p || !identity || !leaf || !combine || !result || acc_size == 0 || begin > end)
        return -EINVAL;
    if (parx__pool_forked(p)) return -EPERM;
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
    void *acc_raw;
    void *acc = parx__acc_get(p, acc_size, &small, &acc_raw);
    if (!acc) return -ENOMEM;
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
    parx__acc_free(p, acc_raw);
    return err;
}

/* -------------------------------------------------------------------------- */
/* >>procs: a fork server, worker processes, and a job ring in shared memory  */
/* -------------------------------------------------------------------------- */
#ifndef PARX_NO_PROC

/* The arenas' definitions (PARX_IMPLEMENTATION is defined). Included here
   again: a file that included parx.h for its declarations before defining
   PARX_IMPLEMENTATION has passed parx_shm.h's declarations already, and
   only this include emits the definitions the pool calls. */
#include "parx_shm.h"

/* The shape of it (>>procs in the user guide tells the why):

     caller process                      fork server              workers
     ----------------------------------  -----------------------  ---------------
     submit/wait/map (any thread)        forks a worker per START  claim jobs from
     monitor thread: deaths, timeouts,   reports DIED on SIGCHLD   the ring, run
       retries  <---- socket (SEQPACKET) ---->                     them, mark DONE
                \_____________ the pool's arena (shared) ________________/

   Everything a job needs lives in the arena: the control block, the job
   records, a ring of job-record indices, the worker records and the table
   of job functions. The socket carries only rare events (start a worker,
   kill it, it died), so a job costs no system call when workers are busy.

   A job record's `state` word is its whole life, and the futex a waiter
   sleeps on:  FREE -> QUEUED (submit) -> RUNNING|worker<<16 (a worker's CAS
   claims it) -> DONE (the worker, or the monitor when the worker died) ->
   FREE (the waiter took the result). A crashed job goes RUNNING -> QUEUED
   again when it has retries left. Claiming by CAS on the record, not by
   taking a ring position, is what makes the ring safe against workers that
   die at any instruction: a claimed job names its worker, and an unclaimed
   one is still QUEUED for the next worker to find. */

#define PARX__PROCS_MAX_WORKERS 1024
#define PARX__PROCS_MAX_FNS 256
#define PARX__PROCS_MAX_JOBS (1u << 20)
#define PARX__PROCS_ENV "PARX_PROCS_SERVER"
#define PARX__PROCS_START_MS 30000 /* how long create waits for its server and workers */
#define PARX__PROCS_MAGIC 0x70617278u /* "parx" */

enum { PARX__J_FREE = 0, PARX__J_QUEUED = 1, PARX__J_RUNNING = 2, PARX__J_DONE = 3 };
#define PARX__J_PHASE(s) ((s) & 3u)
#define PARX__J_WAITER 4u /* someone sleeps on this state word */
#define PARX__J_WORKER(s) ((s) >> 16)

/* fn_id flags: a job of parx_run (called as parx_run_fn with index, seed
   and out below); arg_off is a plain address (a fork-mode pool made by
   parx_run, whose workers are copies of the caller from that very call). */
#define PARX__FN_RUN 0x80000000u
#define PARX__FN_RAWARG 0x40000000u
#define PARX__FN_ID(f) ((f) & ~(PARX__FN_RUN | PARX__FN_RAWARG))

typedef struct parx__pjob {
    _Alignas(PARX_CACHELINE) _Atomic uint32_t state; /* phase | WAITER | worker << 16 */
    uint32_t fn_id;         /* index into the function table | PARX__FN_* flags */
    uint64_t arg_off;       /* arena offset of arg, or PARX_ARENA_NO_OFFSET for NULL */
    /* Written before QUEUED by the submitter (all) or by the monitor (a
       retry's signal, exit_code, attempts); before DONE by the worker
       (status, run_ns) or by the monitor (when the worker died or the pool
       broke); read by the waiter after DONE. */
    int32_t status, signal, exit_code, attempts;
    uint64_t run_ns;
    /* parx_run's jobs (PARX__FN_RUN): job `index` of the run, its rng is
       parx_rng_for(seed, index), and out_off its result block (or NO_OFFSET) */
    uint64_t index, seed, out_off;
} parx__pjob;

typedef struct parx__pworker {
    _Atomic int32_t pid;       /* written by the server; 0: no process. Relaxed everywhere:
                                  a name to signal or reap, no data is published by it */
    _Atomic uint32_t current;  /* slot + 1 of the job it runs; 0: none (for timeouts) */
    _Atomic uint64_t start_ns; /* when `current` started (CLOCK_MONOTONIC, system-wide) */
    int32_t killed;            /* the server's alone: the pid it sent SIGKILL to, until reaped */
    char pad[PARX_CACHELINE > 24 ? PARX_CACHELINE - 24 : 1];
} parx__pworker;

/* A job function as (module, offset): survives address-space randomisation
   and exec. name_off: arena offset of the module's name; NO_OFFSET: the
   main program (the first module dl_iterate_phdr reports). */
typedef struct parx__pfn {
    uint64_t name_off;
    uint64_t offset;
    uint8_t build_id[20]; /* the module's GNU build ID as the caller has it */
    uint8_t build_id_len; /* 0: it has none, nothing to compare */
} parx__pfn;

typedef struct parx__pctl {
    uint32_t magic, nslots, ring_mask, nworkers;
    uint64_t jobs_off, ring_off, workers_off, fns_off;
    uint64_t spin_ns;
    _Atomic uint32_t nfns;   /* entries of the function table in use */
    _Atomic uint32_t quit;   /* destroy or the pool's break: workers exit instead of claiming */
    _Atomic uint32_t nready; /* futex: workers that reached their loop (ever) */
    _Alignas(PARX_CACHELINE) _Atomic uint64_t head; /* next ring position to look at */
    _Alignas(PARX_CACHELINE) _Atomic uint64_t tail; /* next ring position to fill */
    _Alignas(PARX_CACHELINE) _Atomic uint32_t sleepers; /* workers about to sleep or asleep */
    _Atomic uint32_t wake_seq;                          /* futex workers sleep on */
    _Alignas(PARX_CACHELINE) _Atomic uint64_t done_total; /* jobs that reached DONE, ever */
    _Atomic uint64_t done_target; /* a waiter wants a wake-up when done_total gets here; 0: none */
    _Atomic uint32_t done_seq;    /* futex for those waiters */
} parx__pctl;

/* Messages on the socket between the caller and its server. */
enum {
    PARX__M_HELLO = 1, /* server -> caller: running (pid: its own); it forks its first workers,
                          then sets itself up and says READY (or FAILED) */
    PARX__M_SETUP,     /* caller -> spawned server: a = control block offset */
    PARX__M_START,     /* caller -> server: start worker `worker` again (a replacement) */
    PARX__M_STARTED,   /* server -> caller: worker `worker` is `pid` (negative: -errno); the
                          first ones unasked after HELLO, each replacement after its START */
    PARX__M_KILL,      /* caller -> server: SIGKILL worker `worker` if it is still `pid`
                          and still runs the job of slot `status` started at `a` */
    PARX__M_DIED,      /* server -> caller: worker `worker` (`pid`) ended; wait status;
                          a = 1: after the server sent it SIGKILL (a KILL) */
    PARX__M_QUIT,      /* caller -> server: exit once every worker has */
    PARX__M_SPARED,    /* server -> caller: the KILL of worker `worker` (`pid`, slot `status`,
                          start `a`) was not sent: it had moved on, or ended */
    PARX__M_READY,     /* server -> caller: set up after its first workers; it serves */
    PARX__M_FAILED     /* server -> caller: it could not set itself up (status: -errno, or
                          parx_arena_recv's error), and leaves, taking its workers along */
};

typedef struct parx__pmsg {
    int32_t type, worker, pid, status;
    uint64_t a;
} parx__pmsg;

enum { PARX__KILL_NONE = 0, PARX__KILL_TIMEOUT = 1 };

struct parx_procs {
    parx_arena *arena;
    char *base;
    parx__pctl *ctl;
    parx__pjob *jobs;
    _Atomic uint32_t *ring;
    parx__pworker *workers;
    parx__pfn *fns;
    int nworkers;
    int retries;
    uint64_t timeout_ns;
    uint64_t spin_ns;
    pid_t server_pid;
    int server_pidfd;    /* the server as a pidfd (-1: none): its exit, whoever holds the socket */
    int sock;            /* our end of the socket to the server */
    int evfd;            /* wakes the monitor */
    parx_procs *reg_next; /* the process's list of pools (see parx__procs_forget_others) */
    pid_t owner_pid;      /* the process whose monitor thread this is (a fork's child has none) */
    pthread_t monitor;
    bool monitor_running;
    _Atomic uint32_t monitor_up; /* 1 once the monitor thread runs its own code (a futex) */
    _Atomic uint32_t monitor_go; /* a futex: 0 while create starts the workers, then
                                    PARX__MONITOR_SERVE, or PARX__MONITOR_LEAVE if it failed */
    _Atomic int broken;  /* the server died, or a replacement could not start: every job
                            that has not run fails with PARX_E_PROCS_BROKEN. Set under
                            lock just before the monitor fails the queued jobs (the
                            running ones only once their workers are dead); read under
                            lock, so relaxed everywhere (parx__procs_break_locked) */
    bool server_reaped;  /* the monitor waited for the server already */
    parx_start start;    /* PARX_START_FORK or PARX_START_SPAWN */

    pthread_mutex_t lock; /* everything below; never held across a blocking wait */
    uint32_t *free_slots;
    uint32_t nfree;
    uint64_t *gen;       /* per slot: bumped at each submit, carried by tickets: 1 to
                            2^(52 - slot_bits) - 1, then 1 again (see parx__procs_ticket) */
    uint32_t slot_bits;  /* bits a slot number takes in a ticket: nslots <= 2^slot_bits */
    uint32_t *last_pos;  /* per slot: ring position (low 32 bits) of its latest entry */
    uint32_t tag;        /* 1..4095, this pool's in its tickets: another pool's is refused */
    uint8_t *waited;     /* per slot: a waiter has claimed its result (PARX__W_*) */
    uint32_t inflight;   /* submitted and not yet collected */
    uint32_t slot_hwm;   /* 1 + the highest slot ever used: scans stop there, so the pages
                            of slots never used are never touched (see parx_procs_create) */
    pthread_cond_t slot_freed; /* a slot came back, for those waiting in parx__procs_slot_locked */
    uint32_t slot_waiters;
    uint32_t slot_nappers; /* in parx__procs_slot_locked, asleep in parx__procs_wait_done for
                              a job to end: a collect moves done_seq for them */
    bool slot_nudged;      /* a collect did, since the last of them went to sleep: the
                              next collects need not (a map collects many at once) */
    struct parx__pfcache { /* 2 * MAX_FNS entries: see parx__procs_fn_id */
        _Atomic uintptr_t fn;
        _Atomic uint64_t tag; /* the table index | PARX__PFC_MAIN, or | the
                                 C library's unload count when last checked
                                 << PARX__PFC_GEN_SHIFT */
    } *fcache;
    pthread_t *owner;    /* per slot: the thread that waits for its result */
    uint8_t *kill_why;   /* per worker: why the monitor asked for a kill */
    uint32_t *kill_slot; /* per worker: the job that timed out */
    uint64_t *kill_start; /* per worker: and when that job started */
    int32_t *kill_pid;   /* per worker: the process to kill */
    uint8_t *pending;    /* per worker: messages for the server not sent yet (socket full) */
    uint32_t npending;
    bool send_retry;     /* a send was refused for want of memory: flush again on a timer */
    bool quitting;
    bool monitor_idle;   /* nothing was in flight at the monitor's last look: it sleeps
                            without a timeout, even with job_timeout_ns set */

    /* parx_procs_stats: counters, relaxed everywhere (a snapshot orders nothing) */
    _Atomic uint64_t started, crashed, timed_out, retried;
};

/* ---- small helpers ------------------------------------------------------- */

/* Futexes on shared memory: not the _PRIVATE variants, which key on this
   process's address space and would never meet another process's wait. */
static void parx__futex_wait_shared(_Atomic uint32_t *addr, uint32_t expected, int64_t timeout_ns)
{
    struct timespec ts, *tp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000);
        ts.tv_nsec = (long)(timeout_ns % 1000000000);
        tp = &ts;
    }
    syscall(SYS_futex, addr, FUTEX_WAIT, expected, tp, NULL, 0);
}

static void parx__futex_wake_shared(_Atomic uint32_t *addr, int n)
{
    syscall(SYS_futex, addr, FUTEX_WAKE, n, NULL, NULL, 0);
}

/* Every message of the pool goes out through this: send, or in
   tests/procs_send.c a function that fails chosen sends with ENOBUFS, as the
   kernel does when it has no memory for the buffer. Tests only. */
#ifndef PARX__PROCS_SEND
#define PARX__PROCS_SEND send
#endif

/* The fork server's own set-up calls: signalfd, and in a spawned server
   parx_arena_recv; in tests/procs_setup.c functions that fail them, as a
   process out of descriptors or memory would. Tests only. */
#ifndef PARX__PROCS_SIGNALFD
#define PARX__PROCS_SIGNALFD signalfd
#endif
#ifndef PARX__PROCS_ARENA_RECV
#define PARX__PROCS_ARENA_RECV parx_arena_recv
#endif

/* Points in the caller's waits (and a worker's start) where a test plays a
   worker's or another thread's part at an exact moment
   (tests/procs_caller.c): `where` is one of PARX__PHOOK_*. Nothing,
   outside such tests. */
enum {
    PARX__PHOOK_SCANNED = 1, /* parx__procs_slot_locked: its scan is over; lock held */
    PARX__PHOOK_WAIT_DONE,   /* parx__procs_wait_done: called; no lock held */
    PARX__PHOOK_FINISH,      /* parx__procs_finish: done_target read (pp NULL; a worker too) */
    PARX__PHOOK_WORKER_UP,   /* parx__procs_jobs: a worker about to say it is ready (pp NULL;
                                in the worker) */
    PARX__PHOOK_SERVER_MADE  /* parx__procs_create: the server forked or spawned, its pidfd
                                not yet opened */
};
#ifndef PARX__PROCS_HOOK
#define PARX__PROCS_HOOK(pp, where) ((void)(pp), (void)(where))
#endif

/* The longest a caller sleeps in parx__procs_wait_done before it looks at
   its jobs again. A bound for what no wake-up announces (see there); a test
   that must see every wake-up arrive sets it longer than its alarm. */
#ifndef PARX__PROCS_NAP_NS
#define PARX__PROCS_NAP_NS 50000000 /* 50 ms */
#endif

/* Send one message, blocking while the socket is full. A send refused for
   want of memory (ENOBUFS, ENOMEM) is tried again each millisecond for as
   long as that lasts, as it waits for room: given up, it would lose a
   worker's start or death, or destroy's QUIT, for good. A peer that is gone
   gives EPIPE (or ECONNRESET), which ends it. */
static int parx__procs_send(int sock, int type, int worker, int pid, int status, uint64_t a)
{
    parx__pmsg m = {type, worker, pid, status, a};
    for (;;) {
        /* MSG_NOSIGNAL: a dead peer must give EPIPE, never kill us with SIGPIPE */
        ssize_t n = PARX__PROCS_SEND(sock, &m, sizeof m, MSG_NOSIGNAL);
        if (n == (ssize_t)sizeof m) return 0;
        if (n < 0 && errno == EINTR) continue;
        if (n >= 0 || (errno != ENOBUFS && errno != ENOMEM)) return n < 0 ? -errno : -EIO;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
}

/* Spawn mode: the server ended (got 0: its socket closed) or timed out
   before its hello. PARX_E_SPAWN, the executable did not take over as a
   fork server (it exited, or runs on as the program), unless a signal
   killed it (a kill from outside, a crash): then it died while starting,
   -ECHILD, as a forked server would. Its status is read without reaping it
   (WNOWAIT: create's failure path reaps it), once it has one: its socket
   closes before it becomes a zombie, so it is given 100 ms. */
static int parx__procs_no_hello(parx_procs *pp, int got)
{
    if (got != 0) return PARX_E_SPAWN; /* a server that runs on as the program */
    for (int ms = 0; ms < 100; ms++) {
        siginfo_t si;
        memset(&si, 0, sizeof si); /* si_pid stays 0 while it has not ended */
        if (waitid(P_PID, (id_t)pp->server_pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (si.si_pid != 0)
            return si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED ? -ECHILD : PARX_E_SPAWN;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    return PARX_E_SPAWN;
}

/* A server that left while the pool was being created may have said why
   first (FAILED): that status, else rc. Messages already queued are read
   without waiting; the first read after a peer that left with messages
   of ours unread says ECONNRESET, and the queued ones come after it. */
static int parx__procs_failed_status(int sock, int rc)
{
    for (int i = 0; i < 8; i++) {
        parx__pmsg m;
        ssize_t n = recv(sock, &m, sizeof m, MSG_DONTWAIT);
        if (n == (ssize_t)sizeof m && m.type == PARX__M_FAILED && m.status < 0) return m.status;
        if (n < 0 && errno != ECONNRESET && errno != EINTR) break; /* EAGAIN: nothing more */
        if (n == 0) break;                                           /* end of file */
    }
    return rc;
}

/* A wait of timeout_ms (-1: no bound) begun at `start` (parx__now_ns):
   the milliseconds left of it, rounded up, 0 once it has passed, -1 for
   no bound. A wait that a signal (EINTR) interrupts goes on for what is
   left, not for the whole time again, which a program whose signals come
   more often than the timeout would never see end. */
static int parx__ms_left(uint64_t start, int timeout_ms)
{
    if (timeout_ms <= 0) return timeout_ms;
    uint64_t spent = parx__now_ns() - start, whole = (uint64_t)timeout_ms * 1000000u;
    return spent >= whole ? 0 : (int)((whole - spent + 999999u) / 1000000u);
}

/* poll for up to timeout_ms (-1: no bound) in all, EINTR polling again for
   what is left. Returns as poll does, never with EINTR. */
static int parx__poll_for(struct pollfd *fds, nfds_t nfds, int timeout_ms)
{
    uint64_t start = parx__now_ns();
    for (int left = timeout_ms;; left = parx__ms_left(start, timeout_ms)) {
        int rc = poll(fds, nfds, left);
        if (rc >= 0 || errno != EINTR) return rc;
    }
}

/* Receive one message, waiting up to timeout_ms (-1: forever) in all.
   Returns 1 with a message, 0 on end of file, -ETIMEDOUT, or -errno. */
static int parx__procs_recv(int sock, parx__pmsg *m, int timeout_ms)
{
    uint64_t start = parx__now_ns();
    for (int left = timeout_ms;; left = parx__ms_left(start, timeout_ms)) {
        struct pollfd pfd = {sock, POLLIN, 0};
        int rc = parx__poll_for(&pfd, 1, left);
        if (rc < 0) return -errno;
        if (rc == 0) return -ETIMEDOUT;
        ssize_t n = recv(sock, m, sizeof *m, MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n < 0) return errno == ECONNRESET ? 0 : -errno;
        if (n == 0) return 0;
        if (n != (ssize_t)sizeof *m) return -EBADMSG;
        return 1;
    }
}

static void parx__procs_layout(parx__pctl *ctl, char *base, parx__pjob **jobs,
                               _Atomic uint32_t **ring, parx__pworker **workers, parx__pfn **fns)
{
    *jobs = (parx__pjob *)(void *)(base + ctl->jobs_off);
    *ring = (_Atomic uint32_t *)(void *)(base + ctl->ring_off);
    *workers = (parx__pworker *)(void *)(base + ctl->workers_off);
    *fns = (parx__pfn *)(void *)(base + ctl->fns_off);
}

/* ---- job functions by module and offset ----------------------------------- */

typedef struct parx__pfind {
    uintptr_t addr;      /* in: the address to find (parent) */
    const char *name;    /* in: the module to find (worker); "" is the main program */
    bool by_name;
    int index;           /* modules seen so far */
    bool found;
    const char *mod;     /* out: module name (NULL: the main program) */
    uintptr_t mod_base;  /* out: its load bias */
    uint8_t build_id[20]; /* out: its GNU build ID (build_id_len bytes, 0: none) */
    uint8_t build_id_len;
} parx__pfind;

/* The GNU build ID of a loaded module (the NT_GNU_BUILD_ID note linkers
   write, a hash of its contents), its first 20 bytes at most, or 0 where
   it has none. A module's name and an offset name the same code in two
   processes only if both loaded the same file: a library (or the program)
   replaced on disk since the caller loaded it -- an upgrade -- has another
   build ID in a spawn-mode worker, which would otherwise run whatever code
   now lies at that offset. */
static uint8_t parx__procs_build_id(const struct dl_phdr_info *info, uint8_t out[20])
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE) continue;
        size_t align = ph->p_align == 8 ? 8 : 4; /* notes are padded to their segment's */
        const unsigned char *p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
        size_t left = ph->p_memsz;
        while (left >= sizeof(ElfW(Nhdr))) {
            ElfW(Nhdr) nh;
            memcpy(&nh, p, sizeof nh);
            size_t nsz = (nh.n_namesz + align - 1) & ~(align - 1);
            size_t dsz = (nh.n_descsz + align - 1) & ~(align - 1);
            if (nsz > left - sizeof nh || dsz > left - sizeof nh - nsz) break;
            const unsigned char *name = p + sizeof nh, *desc = name + nsz;
            if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
                uint8_t len = nh.n_descsz < 20 ? (uint8_t)nh.n_descsz : 20;
                memcpy(out, desc, len);
                return len;
            }
            p = desc + dsz;
            left -= sizeof nh + nsz + dsz;
        }
    }
    return 0;
}

static int parx__procs_find_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    parx__pfind *f = (parx__pfind *)data;
    int index = f->index++;
    if (f->by_name) {
        bool match = f->name[0] ? (index > 0 && strcmp(info->dlpi_name, f->name) == 0) : index == 0;
        if (!match) return 0;
        f->found = true;
        f->mod_base = (uintptr_t)info->dlpi_addr;
        f->build_id_len = parx__procs_build_id(info, f->build_id);
        return 1;
    }
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD) continue;
        uintptr_t lo = (uintptr_t)info->dlpi_addr + ph->p_vaddr;
        if (f->addr >= lo && f->addr < lo + ph->p_memsz) {
            f->found = true;
            f->mod = index == 0 ? NULL : info->dlpi_name;
            f->mod_base = (uintptr_t)info->dlpi_addr;
            f->build_id_len = parx__procs_build_id(info, f->build_id);
            return 1;
        }
    }
    return 0;
}

/* An address that held a function of a library may hold another library's
   once the first was dlclose()d and the second dlopen()ed there: a cache
   entry of a library's function is good only while the C library's count
   of unloaded modules (dlpi_subs) is what it was when the entry was
   checked. Functions of the program itself are never unloaded. */
#define PARX__PFC_ID 0x7fffu   /* the table index */
#define PARX__PFC_MAIN 0x8000u /* in the program itself: good for ever */
#define PARX__PFC_GEN_SHIFT 16

static int parx__procs_subs_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    bool has = size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs;
    *(uint64_t *)data = has ? (uint64_t)info->dlpi_subs : 0; /* 0: not kept, never stale */
    return 1; /* the first module is enough */
}

/* The count of modules unloaded so far, as it goes in a tag (about 12 ns). */
static uint64_t parx__procs_dl_gen(void)
{
    uint64_t subs = 0;
    dl_iterate_phdr(parx__procs_subs_cb, &subs);
    return subs & (UINT64_MAX >> PARX__PFC_GEN_SHIFT);
}

/* fn's entry in the caller's cache, probing from slot *h: 1 with its index
   in *id; -1 (a library's function, checked before a module was unloaded)
   with *h at its slot and its old index in *id; or 0 with *h at the empty
   slot that ends the probe. *gen is the unload count, read here when a
   library's entry needs it (UINT64_MAX: not yet). No lock: a new entry's
   tag is written before its fn (release), and a tag rewritten under
   pp->lock is stored whole. */
static int parx__procs_fn_cached(parx_procs *pp, uintptr_t key, uint32_t *h, uint32_t *id,
                                 uint64_t *gen)
{
    const uint32_t mask = 2 * PARX__PROCS_MAX_FNS - 1;
    for (;; *h = (*h + 1) & mask) {
        /* acquire: pairs with the release store of an entry's fn, so its tag is written */
        uintptr_t f = atomic_load_explicit(&pp->fcache[*h].fn, memory_order_acquire);
        if (!f) return 0;
        if (f != key) continue;
        /* acquire: pairs with the release store of a rewritten tag, so the
           table entry it names is written */
        uint64_t tag = atomic_load_explicit(&pp->fcache[*h].tag, memory_order_acquire);
        *id = (uint32_t)(tag & PARX__PFC_ID);
        if (tag & PARX__PFC_MAIN) return 1;
        if (*gen == UINT64_MAX) *gen = parx__procs_dl_gen();
        return tag >> PARX__PFC_GEN_SHIFT == *gen ? 1 : -1;
    }
}

/* Module names a and b (NULL or "": the program itself) are the same. */
static bool parx__procs_same_module(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* The module f found has the build ID table entry e was made with (both
   none counts as the same: nothing to tell them apart). */
static bool parx__procs_same_build(const parx__pfn *e, const parx__pfind *f)
{
    return e->build_id_len == f->build_id_len &&
           memcmp(e->build_id, f->build_id, f->build_id_len) == 0;
}

/* The function-table index of fn, adding it on first use. Called without
   pp->lock: a function seen before is found with no lock at all, and a new
   one is looked up and its module's name copied into the arena before the
   lock is taken, since the arena may log (a lock it recovered from a dead
   process) and the log hook never runs under a lock of ours. */
static int parx__procs_fn_id(parx_procs *pp, parx_job_fn fn, uint32_t *id)
{
    const uintptr_t key = (uintptr_t)fn;
    const uint32_t h0 = (uint32_t)((key >> 4) * UINT64_C(0x9E3779B97F4A7C15) >> 40) &
                        (2 * PARX__PROCS_MAX_FNS - 1);
    uint32_t h = h0;
    uint64_t gen = UINT64_MAX;
    int cached = parx__procs_fn_cached(pp, key, &h, id, &gen);
    if (cached > 0) return 0;
    /* a full table stays full: no search of the modules for a function it
       cannot take (a stale entry may still be good). relaxed: nfns only
       grows; the check under the lock below decides when it is not full yet */
    if (cached == 0 &&
        atomic_load_explicit(&pp->ctl->nfns, memory_order_relaxed) == PARX__PROCS_MAX_FNS)
        return -ENOSPC;
    /* before the search: a module unloaded during it makes the entry stale */
    if (gen == UINT64_MAX) gen = parx__procs_dl_gen();

    parx__pfind f;
    memset(&f, 0, sizeof f);
    f.addr = key;
    dl_iterate_phdr(parx__procs_find_cb, &f);
    if (!f.found) return PARX_E_UNKNOWN_FN;
    char *copy = NULL;
    uint64_t name_off = PARX_ARENA_NO_OFFSET;
    if (f.mod) {
        size_t len = strlen(f.mod) + 1;
        copy = (char *)parx_arena_alloc(pp->arena, len, 0);
        if (!copy) return -ENOMEM;
        memcpy(copy, f.mod, len);
        name_off = parx_arena_offset(pp->arena, copy);
    }

    const uint64_t offset = (uint64_t)(key - f.mod_base);
    const uint64_t tag_of = f.mod ? gen << PARX__PFC_GEN_SHIFT : PARX__PFC_MAIN;
    int rc = 0;
    pthread_mutex_lock(&pp->lock);
    h = h0;
    cached = parx__procs_fn_cached(pp, key, &h, id, &gen);
    if (cached < 0) {
        /* checked before a module was unloaded: still the entry's module
           and offset, or a module loaded since in an unloaded one's place */
        const parx__pfn *e = &pp->fns[*id];
        const char *was = e->name_off == PARX_ARENA_NO_OFFSET ? NULL
                                                              : pp->base + e->name_off;
        if (e->offset == offset && parx__procs_same_module(was, f.mod) &&
            parx__procs_same_build(e, &f)) {
            /* release: as a new entry's (parx__procs_fn_cached's acquire) */
            atomic_store_explicit(&pp->fcache[h].tag, *id | tag_of, memory_order_release);
            cached = 1;
        }
    }
    if (cached <= 0) { /* else another thread added or checked it meanwhile */
        /* relaxed: written only under the lock we hold */
        uint32_t n = atomic_load_explicit(&pp->ctl->nfns, memory_order_relaxed);
        if (n == PARX__PROCS_MAX_FNS) {
            rc = -ENOSPC;
        } else {
            pp->fns[n].name_off = name_off;
            pp->fns[n].offset = offset;
            memcpy(pp->fns[n].build_id, f.build_id, sizeof f.build_id);
            pp->fns[n].build_id_len = f.build_id_len;
            /* release: a worker that reads nfns (acquire) sees the entry; in
               practice the job's QUEUED store already published it */
            atomic_store_explicit(&pp->ctl->nfns, n + 1, memory_order_release);
            /* release: a lookup that finds fn and reads this tag (acquire)
               finds entry n written; for a new slot the release store of
               fn below publishes it too */
            atomic_store_explicit(&pp->fcache[h].tag, n | tag_of, memory_order_release);
            if (cached == 0)
                /* release: a lookup that finds fn (acquire) reads its tag */
                atomic_store_explicit(&pp->fcache[h].fn, key, memory_order_release);
            *id = n;
            copy = NULL; /* the table's now, for the pool's life */
        }
    }
    pthread_mutex_unlock(&pp->lock);
    if (copy) parx_arena_free(pp->arena, copy);
    return rc;
}

/* In a worker: the address of function-table entry id in this process. */
static parx_job_fn parx__procs_resolve(parx__pctl *ctl, char *base, parx__pfn *fns,
                                       parx_job_fn *cache, uint32_t id)
{
    /* acquire: pairs with parx__procs_fn_id's release, so entry id is written */
    if (id >= atomic_load_explicit(&ctl->nfns, memory_order_acquire)) return NULL;
    if (cache[id]) return cache[id];
    parx__pfind f;
    memset(&f, 0, sizeof f);
    f.by_name = true;
    f.name = fns[id].name_off == PARX_ARENA_NO_OFFSET ? "" : base + fns[id].name_off;
    dl_iterate_phdr(parx__procs_find_cb, &f);
    if (!f.found) return NULL;
    /* another file than the caller's under that name (see parx__procs_build_id) */
    if (!parx__procs_same_build(&fns[id], &f)) return NULL;
    cache[id] = (parx_job_fn)(f.mod_base + (uintptr_t)fns[id].offset);
    return cache[id];
}

/* ---- the ring ------------------------------------------------------------- */

/* Worker: claim a queued job, or return -1 when the ring is empty. */
static int64_t parx__procs_claim(parx__pctl *ctl, parx__pjob *jobs, _Atomic uint32_t *ring,
                                 uint32_t w)
{
    for (;;) {
        /* acquire on head: pairs with the release CAS of the claimer that
           moved it, so the tail we read next is at least the one it saw (a
           head past our tail would read as an empty ring). acquire on tail:
           the ring entry below and the job it names were written before the
           producer's tail store. */
        uint64_t h = atomic_load_explicit(&ctl->head, memory_order_acquire);
        uint64_t t = atomic_load_explicit(&ctl->tail, memory_order_acquire);
        if (h >= t) return -1;
        /* relaxed: published by the tail store acquired above. If the ring has
           lapped since we read h, this is a newer entry: claiming any QUEUED
           job is fine, the CAS below makes every claim unique. */
        uint32_t x = atomic_load_explicit(&ring[h & ctl->ring_mask], memory_order_relaxed);
        parx__pjob *j = &jobs[x];
        uint32_t s = atomic_load_explicit(&j->state, memory_order_relaxed);
        bool mine = false;
        /* A loop, not one try: a waiter setting its WAITER bit also fails the
           CAS, and giving up on a job that is still QUEUED would move head
           past its only entry and lose it. */
        while (!mine && PARX__J_PHASE(s) == PARX__J_QUEUED) {
            uint32_t run = (s & PARX__J_WAITER) | PARX__J_RUNNING | (w << 16);
            /* acquire: pairs with the release that made it QUEUED (submit, or
               the monitor's retry), so fn_id and arg_off are visible */
            mine = atomic_compare_exchange_weak_explicit(&j->state, &s, run,
                                                         memory_order_acquire,
                                                         memory_order_relaxed);
        }
        /* Move head past this entry, whoever claimed it; a worker that dies
           between its claim and this CAS leaves it to the next one. release:
           head tells the producer the entry may be overwritten, so our read
           of it must come first (the producer's head loads acquire); on
           failure relaxed, we only loop. */
        atomic_compare_exchange_strong_explicit(&ctl->head, &h, h + 1, memory_order_release,
                                                memory_order_relaxed);
        if (mine) return x;
    }
}

/* Caller, holding lock: put slot y at ring position t, whose cell no worker
   reads any more (head is past t - ring size), and publish it. */
static void parx__procs_append_locked(parx_procs *pp, uint64_t t, uint32_t y)
{
    /* relaxed: published by the seq_cst tail store just below */
    atomic_store_explicit(&pp->ring[t & pp->ctl->ring_mask], y, memory_order_relaxed);
    pp->last_pos[y] = (uint32_t)t;
    /* seq_cst: publishes the entry (release) and is the store half of the
       Dekker pair with a sleeping worker's sleepers increment: either we see
       its announcement in parx__procs_wake, or it sees this tail */
    atomic_store_explicit(&pp->ctl->tail, t + 1, memory_order_seq_cst);
}

/* Caller, holding lock: put slot x (already QUEUED) on the ring. Never waits.

   The ring has twice as many entries as there are slots, and it can still
   be full: entries go stale. A worker that dies between its claim and its
   move of head leaves the entry behind, and a worker held up between
   reading a job's state and its CAS can claim the slot's next job (queued
   meanwhile, the same state word) through the old entry, leaving the new
   job's. When head reaches a stale entry whose slot is queued again, the
   entry is taken for that job, and the job's own entry is left behind in
   turn, so stale entries pile up while the slots stay busy. Waiting here for
   workers to move head is no way out: we hold the lock, the monitor needs
   it to replace dead workers, and the monitor itself pushes the jobs of
   workers that died. So make room at once, looking at the entry at head:
   - its slot not QUEUED: stale. Nobody else makes a slot QUEUED (that takes
     this lock), and one made QUEUED later gets an entry of its own.
   - x itself: x gets its entry below.
   - a QUEUED slot whose latest entry (last_pos) is further on: stale, that
     entry will find the job. (It was put on after the job was queued, so a
     worker that reads it sees the job QUEUED or claimed.)
   - a QUEUED slot's latest entry: move it to the back (head past it, then
     the same entry at tail: when full, tail's cell is head's). Fewer than
     half the entries are such, so a stale one comes within that many.
   Whatever a worker claims through, the CAS on the job's state keeps every
   claim unique; head is only ever moved past an entry that has been looked
   at, by a worker or by us. */
static void parx__procs_push_locked(parx_procs *pp, uint32_t x)
{
    parx__pctl *ctl = pp->ctl;
    uint64_t t = atomic_load_explicit(&ctl->tail, memory_order_relaxed); /* only we write it */
    for (;;) {
        /* acquire: pairs with a claimer's release CAS, so its read of an
           entry came before we overwrite that entry */
        uint64_t h = atomic_load_explicit(&ctl->head, memory_order_acquire);
        if (t - h <= ctl->ring_mask) break;
        /* relaxed, both: we wrote the entry (t - h is the ring size: position
           h's, not yet overwritten); the state only decides, see above */
        uint32_t y = atomic_load_explicit(&pp->ring[h & ctl->ring_mask], memory_order_relaxed);
        uint32_t s = atomic_load_explicit(&pp->jobs[y].state, memory_order_relaxed);
        bool keep =
            y != x && PARX__J_PHASE(s) == PARX__J_QUEUED && pp->last_pos[y] == (uint32_t)h;
        /* release, as a claimer's: a worker that reads the new head (acquire)
           then reads a tail at least as new as ours; relaxed on failure: a
           worker moved head, look again */
        if (!atomic_compare_exchange_strong_explicit(&ctl->head, &h, h + 1, memory_order_release,
                                                     memory_order_relaxed))
            continue;
        if (keep) parx__procs_append_locked(pp, t++, y);
    }
    parx__procs_append_locked(pp, t, x);
}

/* Wake up to n sleeping workers (after pushing n jobs). */
static void parx__procs_wake(parx__pctl *ctl, uint32_t n)
{
    uint32_t sleeping = atomic_load_explicit(&ctl->sleepers, memory_order_seq_cst);
    if (!sleeping || !n) return;
    /* release: a worker that reads the new value (acquire, before it looks at
       tail) also sees the tail store that came before this */
    atomic_fetch_add_explicit(&ctl->wake_seq, 1, memory_order_release);
    parx__futex_wake_shared(&ctl->wake_seq, (int)(n < sleeping ? n : sleeping));
}

/* Move done_seq and wake every caller asleep in parx__procs_wait_done on
   it: each looks at its jobs again. */
static void parx__procs_nudge(parx__pctl *ctl)
{
    /* release: pairs with the waiter's acquire of done_seq, so a waiter that
       sees the new value also sees what came before it (a count, a DONE) */
    atomic_fetch_add_explicit(&ctl->done_seq, 1, memory_order_release);
    parx__futex_wake_shared(&ctl->done_seq, INT_MAX);
}

/* Worker or monitor: job j is finished (its fields are written). */
static void parx__procs_finish(parx__pctl *ctl, parx__pjob *j)
{
    /* release: the waiter's acquire of DONE sees status and run_ns. The RMW
       reads the WAITER bit of whatever state came last: a waiter's CAS that
       set it either precedes this (we wake it) or fails (it sees DONE). */
    uint32_t old = atomic_exchange_explicit(&j->state, PARX__J_DONE, memory_order_release);
    if (old & PARX__J_WAITER) parx__futex_wake_shared(&j->state, INT_MAX);
    /* seq_cst pair with parx__procs_wait_done: we see its target, or it sees our count */
    uint64_t n = atomic_fetch_add_explicit(&ctl->done_total, 1, memory_order_seq_cst) + 1;
    uint64_t want = atomic_load_explicit(&ctl->done_target, memory_order_seq_cst);
    PARX__PROCS_HOOK((parx_procs *)NULL, PARX__PHOOK_FINISH);
    /* A loop, not one try: a waiter may lower the target between our load
       and the CAS (to a want of its own, reached or not), failing it; given
       up then, the waiter whose target we read would sleep on. The failed
       CAS reads the target anew (seq_cst, as the load above): one we have
       reached is ours to clear; a higher one (set after another finisher
       cleared it and woke everyone) is its waiter's, which sees our count. */
    while (want && n >= want) {
        if (atomic_compare_exchange_weak_explicit(&ctl->done_target, &want, 0,
                                                  memory_order_seq_cst, memory_order_seq_cst)) {
            parx__procs_nudge(ctl);
            break;
        }
    }
}

/* Caller, polling for a result since t0: true when it is time to sleep
   instead. Past 5 us each round also yields the CPU, which the worker that
   owes the result may be waiting for (with more processes than CPUs, a
   caller that only spins can hold the very worker it waits on off its CPU). */
static bool parx__procs_stop_polling(parx_procs *pp, uint64_t t0)
{
    uint64_t spent = parx__now_ns() - t0;
    if (spent > pp->spin_ns) return true;
    if (spent > 5000) sched_yield();
    return false;
}

/* Caller: wait until done_total >= want, or done_seq is no longer `seen`,
   or PARX__PROCS_NAP_NS (50 ms) passed: poll for spin_ns, then sleep until
   the worker that gets there, or whoever moves done_seq, wakes us. seen:
   done_seq as the caller read it before it looked at the jobs it waits on
   (read any later, it may already hold a wake-up meant for us, which we
   would sleep through). done_seq moves for every wake-up
   (parx__procs_nudge): a count reaching a waiter's target, a dead worker's
   job found DONE but not counted (its worker was killed in between: the
   count never comes), and for parx__procs_slot_locked, a slot collected
   and the pool's break (parx__procs_break_locked). Callers look at the job
   states again after each return. */
static void parx__procs_wait_done(parx_procs *pp, uint64_t want, uint32_t seen)
{
    parx__pctl *ctl = pp->ctl;
    PARX__PROCS_HOOK(pp, PARX__PHOOK_WAIT_DONE);
    uint64_t t0 = parx__now_ns();
    for (unsigned i = 1;; i++) {
        /* acquire: with finish's seq_cst count; callers then read job states with acquire */
        if (atomic_load_explicit(&ctl->done_total, memory_order_acquire) >= want) return;
        /* relaxed: only whether it moved; the caller looks again under the lock */
        if (atomic_load_explicit(&ctl->done_seq, memory_order_relaxed) != seen) return;
        if ((i & 31) == 0 && parx__procs_stop_polling(pp, t0)) break;
        parx__cpu_relax();
    }
    /* The caller read seen (seq_cst) before our target is set here, so a
       finisher that sees the target moves done_seq past it (the futex returns) */
    uint64_t t = atomic_load_explicit(&ctl->done_target, memory_order_seq_cst);
    while ((t == 0 || t > want) &&
           !atomic_compare_exchange_weak_explicit(&ctl->done_target, &t, want,
                                                  memory_order_seq_cst, memory_order_relaxed)) {
    }
    if (atomic_load_explicit(&ctl->done_total, memory_order_seq_cst) >= want) return;
    /* No return for a broken pool here: its jobs still end (the queued ones
       failed at once, the running ones once their workers are dead, or as
       they finish), each counted as any other, and until then this sleeps.
       Returning at once, it had callers spin for as long as that took.
       Bounded all the same: a net for an event that moves no count and no
       done_seq (none is known: a target another waiter lowers is cleared
       by the finisher that reaches it, a count that never comes is the
       monitor's nudge) */
    parx__futex_wait_shared(&ctl->done_seq, seen, PARX__PROCS_NAP_NS);
}

/* ---- a worker process ------------------------------------------------------ */

/* The dispositions the fork server changed (parx__procs_serve) as the
   caller had them, for each worker to put back: a worker runs the
   program's code, with the program's handlers. Written only in a server,
   before it forks; only a server and its workers read them. */
static struct sigaction parx__procs_user_sa[NSIG];
static sigset_t parx__procs_user_changed;

/* In a worker: its pool's control block, so that a job calling parx_procs_*
   on the pool it runs in (fork mode, through a handle it was given) is told
   -EDEADLK instead of wrecking it. NULL in every other process. */
static parx__pctl *parx__procs_self_ctl;
/* In a worker: its cache of resolved job functions (parx__procs_jobs) */
static parx_job_fn *parx__procs_cache;

/* This process's pid as of its last fork(), so that a call on a pool can
   tell its creator from a fork()ed copy of it without a system call: set by
   every create and every worker, and in every child fork() makes (a
   pthread_atfork child handler, parx__procs_reg_child, registered by the
   first create). Relaxed, all of it: within one process every store
   writes the same value. */
static _Atomic int parx__procs_pid;
static void parx__procs_pid_reset(void)
{
    /* relaxed: every store in one process writes the same value */
    atomic_store_explicit(&parx__procs_pid, (int)getpid(), memory_order_relaxed);
}

/* A call that the pool must refuse: from a job of the pool itself
   (-EDEADLK), or in a process fork() made from its creator, whose copy
   shares the ring and the job records but not the creator's bookkeeping
   (-EPERM). 0 otherwise. */
static int parx__procs_foreign(const parx_procs *pp)
{
    if (pp->ctl == parx__procs_self_ctl) return -EDEADLK;
    /* relaxed: see parx__procs_pid */
    if (pp->owner_pid != atomic_load_explicit(&parx__procs_pid, memory_order_relaxed))
        return -EPERM;
    return 0;
}

/* Set in a child that a job fork()ed (pthread_atfork, registered by each
   worker): such a child that returns from the job function must leave, not
   report a result into the shared record and carry on as a second worker of
   the same number. */
static volatile sig_atomic_t parx__procs_forked;
static void parx__procs_atfork_child(void) { parx__procs_forked = 1; }

__attribute__((__noreturn__))
static void parx__procs_jobs(parx__pctl *ctl, char *base, uint32_t w, pid_t server)
{
    /* A worker dies with its server (which is single-threaded, so the
       "parent thread exited" caveat of PDEATHSIG cannot bite here); the
       getppid check covers a server that died before the prctl. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != server) _exit(0);
    for (int sig = 1; sig < NSIG; sig++)
        if (sigismember(&parx__procs_user_changed, sig) == 1)
            sigaction(sig, &parx__procs_user_sa[sig], NULL);
    /* A worker sits in a background process group (see >>procs), where a
       job's terminal I/O would stop it (SIGTTIN, SIGTTOU) for good, its
       job and every wait for it with it: where the program left those
       signals at their default action they are ignored here, so a read of
       the terminal fails with EIO and a write or tcsetattr goes through. */
    const int tty_sigs[2] = {SIGTTIN, SIGTTOU};
    for (int i = 0; i < 2; i++) {
        struct sigaction sa;
        if (sigaction(tty_sigs[i], NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
            signal(tty_sigs[i], SIG_IGN);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    parx__pjob *jobs;
    _Atomic uint32_t *ring;
    parx__pworker *workers;
    parx__pfn *fns;
    parx__procs_layout(ctl, base, &jobs, &ring, &workers, &fns);
    parx__pworker *me = &workers[w];
    /* Held by a static: the worker may end by exit(0) (pthread_exit), when
       this frame is gone but a leak checker still looks. A worker that a
       job's pool forked here drops its copy of this worker's cache first */
    free(parx__procs_cache);
    parx_job_fn *cache = (parx_job_fn *)calloc(PARX__PROCS_MAX_FNS, sizeof *cache);
    parx__procs_cache = cache;
    if (!cache || pthread_atfork(NULL, NULL, parx__procs_atfork_child) != 0) _exit(127);
    /* This process is a worker, not a job's child: the flag may have come
       with the fork that made it (a pool made inside a job, whose server
       and workers descend from that job's worker by fork) */
    parx__procs_forked = 0;
    parx__procs_self_ctl = ctl;
    parx__procs_pid_reset(); /* a pool a job makes is this process's */
    PARX__PROCS_HOOK((parx_procs *)NULL, PARX__PHOOK_WORKER_UP);

    /* release: a count create reads with acquire (it polls, with a timeout) */
    atomic_fetch_add_explicit(&ctl->nready, 1, memory_order_release);
    parx__futex_wake_shared(&ctl->nready, INT_MAX);

    const uint64_t spin_max = ctl->spin_ns;
    const uint64_t spin_min = spin_max < 1000 ? spin_max : 1000; /* 1 us, or less if asked */
    uint64_t spin = spin_max;
    for (;;) {
        /* acquire: pairs with the seq_cst store of destroy or of the pool's break;
           nothing to read after it */
        if (atomic_load_explicit(&ctl->quit, memory_order_acquire)) _exit(0);
        int64_t x = parx__procs_claim(ctl, jobs, ring, w);
        if (x >= 0) {
            parx__pjob *j = &jobs[x];
            uint64_t t0 = parx__now_ns();
            /* relaxed: published by the release store of current below */
            atomic_store_explicit(&me->start_ns, t0, memory_order_relaxed);
            /* release: the monitor reads start_ns after acquiring current */
            atomic_store_explicit(&me->current, (uint32_t)x + 1, memory_order_release);
            uint32_t f = j->fn_id;
            parx_job_fn fn = parx__procs_resolve(ctl, base, fns, cache, PARX__FN_ID(f));
            void *arg = j->arg_off == PARX_ARENA_NO_OFFSET ? NULL
                        : (f & PARX__FN_RAWARG) ? (void *)(uintptr_t)j->arg_off
                                                 : base + j->arg_off;
            int status;
            if (!fn) {
                status = PARX_E_UNKNOWN_FN;
            } else if (f & PARX__FN_RUN) {
                /* registered as a parx_job_fn; called as what it is */
                parx_rng rng = parx_rng_for(j->seed, j->index);
                void *out = j->out_off == PARX_ARENA_NO_OFFSET ? NULL : base + j->out_off;
                status = ((parx_run_fn)(void (*)(void))fn)(arg, (size_t)j->index, &rng, out);
            } else {
                status = fn(arg);
            }
            /* A child the job forked, returning from the job as its parent
               does: not this worker. It ends here, as if it had returned
               from main but without exit handlers (they are the program's). */
            if (parx__procs_forked) _exit(status);
            j->status = status;
            j->run_ns = parx__now_ns() - t0;
            parx__procs_finish(ctl, j);
            /* after finish: a worker killed inside it still names the job,
               whose waiter the monitor then wakes. relaxed: a hint */
            atomic_store_explicit(&me->current, 0, memory_order_relaxed);
            continue;
        }
        /* Idle: poll for a while (adaptive: longer when polling paid off last
           time, shorter when it did not), yielding the CPU between rounds
           once past a few microseconds, then sleep on wake_seq. */
        uint64_t t0 = parx__now_ns(), now = t0;
        bool found = false;
        for (unsigned i = 1; !found && now - t0 < spin; i++) {
            /* relaxed: a hint to stop polling; the claim orders what matters */
            found = atomic_load_explicit(&ctl->head, memory_order_relaxed) <
                        atomic_load_explicit(&ctl->tail, memory_order_relaxed) ||
                    atomic_load_explicit(&ctl->quit, memory_order_relaxed);
            parx__cpu_relax();
            if ((i & 31) == 0) {
                now = parx__now_ns();
                if (now - t0 > 5000) sched_yield();
            }
        }
        if (found) {
            spin = spin * 2 > spin_max ? spin_max : spin * 2;
            continue;
        }
        spin = spin / 2 < spin_min ? spin_min : spin / 2;
        /* acquire: pairs with the waker's release increment, so with the new
           value we also see the tail or quit stored before it */
        uint32_t seq = atomic_load_explicit(&ctl->wake_seq, memory_order_acquire);
        /* seq_cst: the Dekker pair with parx__procs_append_locked's tail store */
        atomic_fetch_add_explicit(&ctl->sleepers, 1, memory_order_seq_cst);
        if (atomic_load_explicit(&ctl->head, memory_order_seq_cst) >=
                atomic_load_explicit(&ctl->tail, memory_order_seq_cst) &&
            !atomic_load_explicit(&ctl->quit, memory_order_seq_cst))
            parx__futex_wait_shared(&ctl->wake_seq, seq, -1);
        atomic_fetch_sub_explicit(&ctl->sleepers, 1, memory_order_relaxed); /* a hint for wakers */
    }
}

/* ---- the fork server ------------------------------------------------------- */

__attribute__((__noreturn__))
static void parx__procs_server_exit(parx__pworker *workers, uint32_t n)
{
    for (uint32_t w = 0; w < n; w++) {
        pid_t pid = atomic_load_explicit(&workers[w].pid, memory_order_relaxed);
        if (pid > 0) kill(pid, SIGKILL);
    }
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {
    }
    _exit(0);
}

/* A job that calls pthread_exit (or whose thread is cancelled) unwinds the
   worker's one thread. Left alone, the unwinder would go on past the
   worker's frames: into the caller's (fork mode: the program's own cleanup
   handlers would run in the worker, then exit(0) only if no other thread
   is left; with one left, the worker lived on with no thread to report the
   job, which then never ended) or into nothing (spawn mode: the worker
   runs below main, and died of a signal). The unwinder stops here first,
   and the worker ends as a process whose last thread leaves does. */
static void parx__procs_thread_exit(void *unused)
{
    (void)unused;
    exit(0);
}

__attribute__((__noreturn__))
static void parx__procs_worker(parx__pctl *ctl, char *base, uint32_t w, pid_t server)
{
    /* glibc, C without -fexceptions: a setjmp buffer the unwinder finds
       (nothing here is written after it, so nothing can be clobbered).
       With -fexceptions: a cleanup frame, which the unwinder reaches only
       if something above us stops it, as main's caller does in fork mode;
       in spawn mode (below main) glibc's unwinder then faults first */
    pthread_cleanup_push(parx__procs_thread_exit, NULL);
    parx__procs_jobs(ctl, base, w, server);
    pthread_cleanup_pop(0);
}

/* In the server: fork worker w. The child closes the server's socket,
   signalfd and pidfd (sfd and pfd may be -1: not made yet; it keeps the
   arena's descriptor and, in fork mode, what it inherited of the caller's)
   and never returns. Returns the worker's pid, or -errno. */
static int parx__procs_fork_worker(parx__pctl *ctl, char *base, parx__pworker *workers, uint32_t w,
                                   int sock, int sfd, int pfd)
{
    pid_t me = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        close(sock);
        if (sfd >= 0) close(sfd);
        if (pfd >= 0) close(pfd);
        parx__procs_worker(ctl, base, w, me);
    }
    if (pid < 0) return -errno;
    atomic_store_explicit(&workers[w].pid, pid, memory_order_relaxed);
    return pid;
}

/* In the server, every signal blocked: a signal the caller catches is
   ignored from now on, since the program meant to live through it (a
   pending one is dropped), and a fault (which would be a bug of ours) gets
   its default action. The dispositions changed are kept for the workers
   forked later to put back (parx__procs_jobs); the first ones were
   forked before, and have the caller's. SIGCHLD is not the program's here,
   nor in the workers: its default action (see parx__procs_serve). */
static void parx__procs_own_signals(void)
{
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction *was = &parx__procs_user_sa[sig];
        /* SIGKILL and SIGSTOP cannot be caught, the C library's own
           signals cannot be asked about (EINVAL) */
        if (sig == SIGKILL || sig == SIGSTOP || sig == SIGCHLD || sigaction(sig, NULL, was) != 0)
            continue;
        if (was->sa_handler == SIG_DFL || was->sa_handler == SIG_IGN) continue;
        bool fault = sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL ||
                     sig == SIGTRAP || sig == SIGSYS || sig == SIGABRT;
        struct sigaction now;
        memset(&now, 0, sizeof now);
        now.sa_handler = fault ? SIG_DFL : SIG_IGN;
        if (sigaction(sig, &now, NULL) == 0) sigaddset(&parx__procs_user_changed, sig);
    }
}

/* The server's whole life: start the first workers, then start more when
   asked, report their deaths, and leave (taking them along) when the caller
   goes away. It runs nothing of the user's, allocates nothing, and has one
   thread. */
__attribute__((__noreturn__))
static void parx__procs_serve(int sock, char *base, parx__pctl *ctl, pid_t parent,
                              const sigset_t *caller_mask)
{
    parx__pjob *jobs;
    _Atomic uint32_t *ring;
    parx__pworker *workers;
    parx__pfn *fns;
    parx__procs_layout(ctl, base, &jobs, &ring, &workers, &fns);
    uint32_t n = ctl->nworkers;

    /* None of the program's code runs here, its signal handlers included: a
       fork-mode server is a copy of the caller, handlers and all, and a
       SIGTERM from `pkill` would run the program's handler here (one that
       calls exit() would run the program's atexit handlers too). Every
       signal stays blocked until parx__procs_own_signals has made them
       ours. SIGCHLD takes its default action, whatever the caller had
       (SIG_IGN would have the kernel reap our workers before we learn how
       they died), and is read through a signalfd (which also reports one
       that came before it was made). */
    sigemptyset(&parx__procs_user_changed); /* the first workers inherit the rest as it is */
    sigset_t all, mask, chld;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &mask);
    if (caller_mask) mask = *caller_mask; /* fork mode: blocked across the fork */
    signal(SIGCHLD, SIG_DFL);
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    if (parx__procs_send(sock, PARX__M_HELLO, -1, (int)getpid(), 0, 0) < 0) _exit(0);

    /* The first workers at once, before the rest of our set-up and unasked:
       each fork copies the caller's page tables (fork mode: about 0.2 ms
       per 10 MiB resident on the VM of bench/RESULTS.md), and create waits
       for the last one. Each is reported as it is forked, so that create's
       timeout runs per worker however long the forks of a large caller
       take. A failed fork is reported and ends the create. */
    uint32_t live = 0;
    for (uint32_t w = 0; w < n; w++) {
        int pid = parx__procs_fork_worker(ctl, base, workers, w, sock, -1, -1);
        live += pid > 0;
        if (parx__procs_send(sock, PARX__M_STARTED, (int)w, pid, 0, 0) < 0)
            parx__procs_server_exit(workers, n);
        if (pid < 0) break;
    }
    /* After those forks: the rest of the set-up runs while the workers
       start, and create waits for both (READY, and each worker's first
       sign of life). */
    parx__procs_own_signals();
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_SETMASK, &mask, NULL);

    int sfd = parx__fd_above_stdio(PARX__PROCS_SIGNALFD(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK));
    if (sfd < 0) {
        parx__procs_send(sock, PARX__M_FAILED, -1, 0, -errno, 0);
        parx__procs_server_exit(workers, n);
    }
    /* The caller's death, seen as a process (a pidfd), not as the thread that
       created us (PR_SET_PDEATHSIG's unit, which would kill a pool made by a
       short-lived thread). Without pidfds (Linux before 5.3): the socket's
       end, and getppid() once a second (a copy of the caller's end that a
       fork elsewhere inherited would keep the socket open). Leaving takes
       the workers along: they die with us (their PDEATHSIG). */
    int pfd = parx__fd_above_stdio((int)syscall(SYS_pidfd_open, parent, 0)); /* -1: as pre-5.3 */
    /* create waits for this: a pool it returns has a server that serves */
    if (getppid() != parent || parx__procs_send(sock, PARX__M_READY, -1, 0, 0, 0) < 0)
        parx__procs_server_exit(workers, n);

    bool quitting = false;
    for (;;) {
        struct pollfd fds[3] = {{sock, POLLIN, 0}, {sfd, POLLIN, 0}, {pfd, POLLIN, 0}};
        int rc = poll(fds, pfd >= 0 ? 3 : 2, pfd >= 0 ? -1 : 1000);
        if (pfd < 0 && getppid() != parent) parx__procs_server_exit(workers, n);
        if (rc < 0 && errno == EINTR) continue;
        if (rc < 0) parx__procs_server_exit(workers, n);
        if (fds[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) > 0) {
            }
            int st;
            pid_t pid;
            while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
                for (uint32_t w = 0; w < n; w++) {
                    if (atomic_load_explicit(&workers[w].pid, memory_order_relaxed) != pid)
                        continue;
                    atomic_store_explicit(&workers[w].pid, 0, memory_order_relaxed);
                    live--;
                    uint64_t ours = workers[w].killed == pid;
                    workers[w].killed = 0;
                    if (parx__procs_send(sock, PARX__M_DIED, (int)w, pid, st, ours) < 0 &&
                        !quitting)
                        parx__procs_server_exit(workers, n);
                    break;
                }
            }
            if (quitting && live == 0) _exit(0);
        }
        if (pfd >= 0 && (fds[2].revents & POLLIN)) parx__procs_server_exit(workers, n);
        if (fds[0].revents & POLLIN) {
            parx__pmsg m;
            ssize_t got = recv(sock, &m, sizeof m, MSG_DONTWAIT);
            if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            if (got != (ssize_t)sizeof m) parx__procs_server_exit(workers, n); /* caller gone */
            if (m.type == PARX__M_START && m.worker >= 0 && (uint32_t)m.worker < n &&
                atomic_load_explicit(&workers[m.worker].pid, memory_order_relaxed) == 0) {
                int pid =
                    parx__procs_fork_worker(ctl, base, workers, (uint32_t)m.worker, sock, sfd, pfd);
                if (pid > 0) live++;
                parx__procs_send(sock, PARX__M_STARTED, m.worker, pid, 0, 0);
            } else if (m.type == PARX__M_KILL && m.worker >= 0 && (uint32_t)m.worker < n) {
                /* Only while it is still that process (the pid is ours until
                   we reap it) and still runs the job that overran (slot and
                   start time): a kill that arrives late must not hit the next.
                   Otherwise say so: the caller watches the worker's jobs
                   for timeouts again only once it knows. */
                parx__pworker *wk = &workers[m.worker];
                /* pid relaxed (a name, see parx__pworker); current acquire:
                   pairs with the worker's release, so start_ns is that
                   job's or a later one's */
                bool still = atomic_load_explicit(&wk->pid, memory_order_relaxed) == m.pid &&
                             atomic_load_explicit(&wk->current, memory_order_acquire) ==
                                 (uint32_t)m.status + 1 &&
                             atomic_load_explicit(&wk->start_ns, memory_order_relaxed) == m.a;
                if (still) {
                    wk->killed = m.pid; /* DIED will say so: the caller's timeout, not a crash */
                    kill(m.pid, SIGKILL);
                } else if (parx__procs_send(sock, PARX__M_SPARED, m.worker, m.pid, m.status,
                                            m.a) < 0 &&
                           !quitting) {
                    parx__procs_server_exit(workers, n);
                }
            } else if (m.type == PARX__M_QUIT) {
                quitting = true;
                if (live == 0) _exit(0);
            }
        } else if (fds[0].revents & (POLLHUP | POLLERR)) {
            parx__procs_server_exit(workers, n);
        }
    }
}

/* Spawn mode: this program was started by parx_procs_create as a fork
   server. This constructor takes over before main runs: receive the arena
   and the control block's offset, then serve. Any other start returns at
   once (one getenv). */
__attribute__((__constructor__)) static void parx__procs_boot(void)
{
    const char *v = getenv(PARX__PROCS_ENV);
    if (!v) return;
    char *end;
    long fd = strtol(v, &end, 10);
    long parent = *end == ':' ? strtol(end + 1, &end, 10) : -1;
    unsetenv(PARX__PROCS_ENV); /* the workers' user code must not see it */
    if (fd < 3 || fd > INT_MAX || parent <= 0) return; /* not parx's: the program runs */
    /* A caller that is gone already (killed while create was starting us)
       has no pool for us to serve. Leave: returning would run the
       program's main in this copy, an orphan nobody waits for. */
    if (getppid() != (pid_t)parent) _exit(127);
#if !PARX__HAVE_CLOSEFROM
    /* Nothing of the caller's but our socket (newer C libraries close the
       rest in posix_spawn, before any constructor of ours could open one). */
    syscall(SYS_close_range, (unsigned)fd + 1, ~0u, 0u);
#endif
    int err = 0;
    /* static: the server's handle lives as long as the process, and stays
       reachable for leak checkers in workers that exit() */
    static parx_arena *a;
    a = PARX__PROCS_ARENA_RECV((int)fd, &err);
    if (!a) { /* the caller reports why (else: PARX_E_SPAWN, which is not the reason) */
        parx__procs_send((int)fd, PARX__M_FAILED, -1, 0, err < 0 ? err : -ENOMEM, 0);
        _exit(127);
    }
    parx__pmsg m;
    if (parx__procs_recv((int)fd, &m, PARX__PROCS_START_MS) != 1 || m.type != PARX__M_SETUP ||
        m.a >= parx_arena_size(a))
        _exit(127);
    char *base = (char *)parx_arena_base(a);
    parx__pctl *ctl = (parx__pctl *)(void *)(base + m.a);
    if (ctl->magic != PARX__PROCS_MAGIC) _exit(127);
    parx__procs_serve((int)fd, base, ctl, (pid_t)parent, NULL);
}

/* ---- the caller's monitor thread ------------------------------------------- */

static void parx__procs_requeue_locked(parx_procs *pp, uint32_t x)
{
    parx__pjob *j = &pp->jobs[x];
    /* relaxed: a first guess for the CAS below, which carries the order */
    uint32_t s = atomic_load_explicit(&j->state, memory_order_relaxed);
    /* release: a worker's claim (acquire) sees the fields we wrote; CAS keeps a waiter's bit */
    while (!atomic_compare_exchange_weak_explicit(&j->state, &s,
                                                  (s & PARX__J_WAITER) | PARX__J_QUEUED,
                                                  memory_order_release, memory_order_relaxed)) {
    }
    parx__procs_push_locked(pp, x);
}

/* Jobs fail with `code` because the pool broke: the QUEUED ones (claimed
   from the workers by CAS, as a worker would, under a worker number no
   worker has), and with `running` the RUNNING ones too, which the caller
   may do only once their workers are dead. */
#define PARX__MONITOR_WORKER 0xFFFFu
static void parx__procs_fail_locked(parx_procs *pp, int code, bool running)
{
    for (uint32_t x = 0; x < pp->slot_hwm; x++) {
        parx__pjob *j = &pp->jobs[x];
        /* acquire, though only the phase is tested: no field a worker writes is
           read here (a dead worker's writes came before the news of its death) */
        uint32_t s = atomic_load_explicit(&j->state, memory_order_acquire);
        bool mine = false;
        while (!mine && PARX__J_PHASE(s) == PARX__J_QUEUED) {
            uint32_t run = (s & PARX__J_WAITER) | PARX__J_RUNNING | (PARX__MONITOR_WORKER << 16);
            /* acquire, as a worker's claim: the job is ours alone from here */
            mine = atomic_compare_exchange_weak_explicit(&j->state, &s, run, memory_order_acquire,
                                                         memory_order_relaxed);
        }
        if (!mine && !(running && PARX__J_PHASE(s) == PARX__J_RUNNING)) continue;
        j->status = code;
        parx__procs_finish(pp->ctl, j);
    }
}

/* The pool broke (the server died, or a replacement could not start):
   workers claim no more jobs, the queued ones fail now, and callers asleep
   for a slot (in parx__procs_wait_done, or on slot_freed) look again and
   return PARX_E_PROCS_BROKEN. Caller (the monitor) holds lock. */
static void parx__procs_break_locked(parx_procs *pp)
{
    /* relaxed: read under the lock alone, which orders it */
    atomic_store_explicit(&pp->broken, 1, memory_order_relaxed);
    /* seq_cst: as destroy's; workers check quit before each claim and before sleeping */
    atomic_store_explicit(&pp->ctl->quit, 1, memory_order_seq_cst);
    parx__procs_fail_locked(pp, PARX_E_PROCS_BROKEN, false);
    parx__procs_nudge(pp->ctl);
    if (pp->slot_waiters) pthread_cond_broadcast(&pp->slot_freed);
}

/* Messages to the server never block the monitor (the server may itself be
   blocked sending deaths to us): what the socket cannot take now waits in
   pending[] and goes out when it has room (POLLOUT), or, refused for want of
   memory (ENOBUFS, ENOMEM: the socket has room, so POLLOUT would wake the
   monitor at once, again and again), PARX__PROCS_RETRY_MS later. Only a
   closed socket drops them: the server's end closes only when the server
   exits (its workers close their copies at fork), and the monitor then
   breaks the pool, which settles every START and KILL. One
   START and one KILL per worker at most, so the flags are the whole queue.
   Caller holds lock. */
enum { PARX__P_START = 1, PARX__P_KILL = 2 };
#define PARX__PROCS_RETRY_MS 10

static void parx__procs_flush_locked(parx_procs *pp)
{
    for (int w = 0; w < pp->nworkers && pp->npending; w++) {
        for (uint8_t bit = PARX__P_START; bit <= PARX__P_KILL; bit <<= 1) {
            if (!(pp->pending[w] & bit)) continue;
            parx__pmsg m = {PARX__M_START, w, 0, 0, 0};
            if (bit == PARX__P_KILL) {
                m.type = PARX__M_KILL;
                m.pid = pp->kill_pid[w];
                m.status = (int32_t)pp->kill_slot[w];
                m.a = pp->kill_start[w];
            }
            ssize_t n = PARX__PROCS_SEND(pp->sock, &m, sizeof m, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) return; /* later, on POLLOUT */
            if (n < 0 && errno != EPIPE && errno != ECONNRESET && errno != ENOTCONN) {
                pp->send_retry = true; /* later, on a timer */
                return;
            }
            /* sent, or the socket is closed (the server's exit settles that) */
            pp->pending[w] &= (uint8_t)~bit;
            pp->npending--;
        }
    }
}

static void parx__procs_post_locked(parx_procs *pp, uint8_t bit, int w)
{
    if (!(pp->pending[w] & bit)) {
        pp->pending[w] |= bit;
        pp->npending++;
    }
    parx__procs_flush_locked(pp);
}

/* Worker w died, perhaps between marking its job DONE and waking the job's
   waiter (or counting it): do both for it. A spare wake-up is harmless.
   Returns the job it held (current; 0: none). */
static uint32_t parx__procs_wake_finished(parx_procs *pp, uint32_t w)
{
    uint32_t cur = atomic_load_explicit(&pp->workers[w].current, memory_order_acquire);
    /* acquire (current): pairs with the worker's release; (state) a phase to test only */
    if (cur && PARX__J_PHASE(atomic_load_explicit(&pp->jobs[cur - 1].state,
                                                  memory_order_acquire)) == PARX__J_DONE) {
        parx__futex_wake_shared(&pp->jobs[cur - 1].state, INT_MAX);
        parx__procs_nudge(pp->ctl);
    }
    return cur;
}

/* Worker w ended with wait status st: settle its job, start another. */
static uint32_t parx__procs_died_locked(parx_procs *pp, uint32_t w, int st, bool killed)
{
    uint8_t why = pp->kill_why[w];
    pp->kill_why[w] = PARX__KILL_NONE;
    if (pp->pending[w] & PARX__P_KILL) { /* a kill not sent yet is moot */
        pp->pending[w] &= (uint8_t)~PARX__P_KILL;
        pp->npending--; /* else POLLOUT, asked for while npending > 0, would spin the monitor */
    }
    /* Our kill only if the server sent it (killed) and the process died of
       it: one that exited or crashed on its own first, while our KILL was
       on its way, is reported as what it did. */
    if (!killed || !WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) why = PARX__KILL_NONE;
    uint32_t cur = parx__procs_wake_finished(pp, w);
    uint64_t last_start = atomic_load_explicit(&pp->workers[w].start_ns, memory_order_relaxed);
    atomic_store_explicit(&pp->workers[w].current, 0, memory_order_relaxed); /* a hint */
    uint32_t requeued = 0;
    bool crashed = false;
    /* A job put back on the ring now would never run (and its wait never
       return) once the pool is quitting or broken: no worker starts again.
       relaxed: broken is set under pp->lock, which we hold. */
    bool again = !pp->quitting && !atomic_load_explicit(&pp->broken, memory_order_relaxed);
    for (uint32_t x = 0; x < pp->slot_hwm; x++) {
        parx__pjob *j = &pp->jobs[x];
        /* acquire, though only the phase and worker are tested: the claim CAS
           publishes nothing, and no field the dead worker wrote is read here */
        uint32_t s = atomic_load_explicit(&j->state, memory_order_acquire);
        if (PARX__J_PHASE(s) != PARX__J_RUNNING || PARX__J_WORKER(s) != w) continue;
        int code;
        if (why == PARX__KILL_TIMEOUT) {
            /* Ours was the kill. It was meant for the job of slot kill_slot
               that started at kill_start; if the worker had moved on (that
               job finished, another one started, even in the same slot),
               this job is not at fault: run it again, no attempt charged.
               One it claimed but had not yet made current when it died is
               such a job too, though start_ns is still the last job's: the
               job that overran was current (the server checked) until it
               finished. */
            if (x != pp->kill_slot[w] || last_start != pp->kill_start[w] || cur != x + 1) {
                if (again) {
                    parx__procs_requeue_locked(pp, x);
                    requeued++;
                    continue;
                }
                code = PARX_E_PROCS_BROKEN;
                j->signal = 0;
                j->exit_code = 0;
            } else {
                code = -ETIMEDOUT;
                j->signal = 0;
                j->exit_code = 0;
                atomic_fetch_add_explicit(&pp->timed_out, 1, memory_order_relaxed);
            }
        } else if (WIFSIGNALED(st)) {
            code = PARX_E_CRASHED;
            j->signal = WTERMSIG(st);
            j->exit_code = 0;
            crashed = true;
        } else {
            code = PARX_E_EXITED;
            j->signal = 0;
            j->exit_code = WEXITSTATUS(st);
            crashed = true;
        }
        if (again && j->attempts <= pp->retries) {
            j->attempts++;
            atomic_fetch_add_explicit(&pp->retried, 1, memory_order_relaxed);
            parx__procs_requeue_locked(pp, x);
            requeued++;
        } else {
            j->status = code;
            j->run_ns = 0;
            parx__procs_finish(pp->ctl, j);
        }
    }
    if (crashed) atomic_fetch_add_explicit(&pp->crashed, 1, memory_order_relaxed);
    if (again) parx__procs_post_locked(pp, PARX__P_START, (int)w);
    return requeued;
}

static void parx__procs_check_timeouts_locked(parx_procs *pp)
{
    uint64_t now = parx__now_ns();
    for (int w = 0; w < pp->nworkers; w++) {
        parx__pworker *wk = &pp->workers[w];
        /* acquire: pairs with the worker's release of current, so start_ns is
           that job's or a later one's (relaxed: the worker may have moved on
           since; the server checks slot and start again before it kills,
           and says PARX__M_SPARED when it does not) */
        uint32_t cur = atomic_load_explicit(&wk->current, memory_order_acquire);
        if (!cur || pp->kill_why[w] != PARX__KILL_NONE) continue;
        uint64_t start = atomic_load_explicit(&wk->start_ns, memory_order_relaxed);
        if (now < start || now - start <= pp->timeout_ns) continue;
        int pid = atomic_load_explicit(&wk->pid, memory_order_relaxed);
        if (pid <= 0) continue;
        pp->kill_why[w] = PARX__KILL_TIMEOUT;
        pp->kill_slot[w] = cur - 1;
        pp->kill_start[w] = start;
        pp->kill_pid[w] = pid;
        parx__procs_post_locked(pp, PARX__P_KILL, w);
    }
}

/* Read a /proc stat file into buf: the fields after the command name
   (from the state on), or NULL when it cannot be read (the process or
   thread has ended). */
static const char *parx__procs_stat_fields(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0) return NULL;
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    return p ? p + 1 : NULL;
}

/* From /proc/<pid>/stat ("self" for pid 0): the state (field 3), the
   parent's pid (field 4) and the number of threads (field 20). Returns false
   if it cannot be read. */
static bool parx__procs_stat(int pid, char *state, int *ppid, int *threads)
{
    char path[48], buf[1024];
    if (pid) snprintf(path, sizeof path, "/proc/%d/stat", pid);
    else snprintf(path, sizeof path, "/proc/self/stat");
    const char *p = parx__procs_stat_fields(path, buf, sizeof buf);
    if (!p) return false;
    /* state, ppid, then 15 more fields before num_threads */
    return sscanf(p, " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %d",
                  state, ppid, threads) == 3;
}

/* Whether the server is unreaped: alive, or a zombie no one has waited
   for. Until then its pid, and its process group's number, name it and
   nothing else. A server the program reaped itself (a wait() of its own,
   see >>procs) has left its number free for the kernel to give to another
   process: its pidfd says so (ESRCH); without one (Linux before 5.3) it
   counts as unreaped, as it did before pidfds. */
static bool parx__procs_server_unreaped(const parx_procs *pp)
{
    return pp->server_pidfd < 0 ||
           syscall(SYS_pidfd_send_signal, pp->server_pidfd, 0, NULL, 0) == 0;
}

/* The server's pidfd, opened just after the fork or spawn that made it. Its
   pid names it and nothing else until it is reaped -- but a server that
   died at once may be reaped by a wait() or waitpid(-1) of the program's
   own before pidfd_open runs, and its pid given to another process, or to
   a thread (any process's, the caller's too), which pidfd_open refuses
   (EINVAL; ENOENT on newer kernels). So the pid is checked to name a child
   of ours: through the pidfd, or by pid where there is none (no pidfds
   here: Linux before 5.3, seccomp; no descriptor left; a thread's id).
   waitid says ECHILD for any other task; one more child of ours forked in
   those microseconds is the case it cannot tell apart. A server gone so
   (ESRCH, ECHILD): -ECHILD, its pid forgotten, so that nothing signals or
   waits for whoever has it now. Else 0, the server known by its pidfd, or
   by its pid as before pidfds. */
static int parx__procs_open_server_pidfd(parx_procs *pp)
{
    int fd = parx__fd_above_stdio((int)syscall(SYS_pidfd_open, pp->server_pid, 0));
    bool gone = fd < 0 && errno == ESRCH;
    if (!gone) {
        const int how = WEXITED | WNOHANG | WNOWAIT; /* a look: nothing reaped */
        siginfo_t si;
        int rc;
        while ((rc = fd >= 0 ? waitid((idtype_t)P_PIDFD, (id_t)fd, &si, how)
                             : waitid(P_PID, (id_t)pp->server_pid, &si, how)) < 0 &&
               errno == EINTR) {
        }
        gone = rc < 0 && errno == ECHILD; /* else ours, or Linux 5.3 (EINVAL): unchecked */
    }
    if (!gone) {
        pp->server_pidfd = fd;
        return 0;
    }
    if (fd >= 0) close(fd);
    pp->server_pid = 0;
    return -ECHILD;
}

/* Kill the server (kill_it) and reap it, through its pidfd where there is
   one, so that a server the program has reaped already is never mistaken
   for the process that has its pid now: that one is neither killed nor
   waited for (waitid says ECHILD). By pid without a pidfd, or where waitid
   does not take one (Linux 5.3). */
static void parx__procs_reap_server(parx_procs *pp, bool kill_it)
{
    int fd = pp->server_pidfd;
    if (kill_it) {
        if (fd >= 0)
            syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0); /* ESRCH: reaped already */
        else
            kill(pp->server_pid, SIGKILL);
    }
    if (fd >= 0) {
        siginfo_t si;
        int rc;
        while ((rc = waitid((idtype_t)P_PIDFD, (id_t)fd, &si, WEXITED)) < 0 && errno == EINTR) {
        }
        if (rc == 0 || errno != EINVAL) return; /* reaped, or not ours to reap (ECHILD) */
    }
    while (waitpid(pp->server_pid, NULL, 0) < 0 && errno == EINTR) {
    }
}

/* Whether pid is a child of this process. */
static bool parx__procs_is_child(int pid)
{
    char state;
    int ppid, threads;
    return parx__procs_stat(pid, &state, &ppid, &threads) && ppid == (int)getpid();
}

/* Whether process pid has ended: gone, or a zombie (it runs nothing). A
   zombie is seen in /proc only; where /proc cannot be read (not mounted,
   another pid namespace's) a zombie counts as alive, which costs time,
   never safety. /proc shows a process whose main thread alone has exited
   (pthread_exit) as a zombie too: with more than one thread it still runs. */
static bool parx__procs_pid_gone(int pid)
{
    if (kill(pid, 0) != 0 && errno == ESRCH) return true;
    char state;
    int ppid, threads;
    if (!parx__procs_stat(pid, &state, &ppid, &threads)) {
        /* no entry: gone, if /proc works at all; else unreadable: ask again */
        char path[32];
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        return access(path, F_OK) != 0 && access("/proc/self/stat", R_OK) == 0;
    }
    return state == 'X' || (state == 'Z' && threads <= 1); /* zombie: runs nothing */
}

/* The server died with workers perhaps still running jobs: they die with it
   (PDEATHSIG), but only once they are dead may their jobs be failed, or a
   worker could finish one after its waiter moved on. Waits up to 2 s for
   each worker, one after another. Then the workers' pids are forgotten:
   the dead ones' may be handed to other processes from now on (a caller
   that is a child subreaper inherits them, and reaps them here, while it
   is sure they are its workers). */
static void parx__procs_await_workers(parx_procs *pp)
{
    for (int w = 0; w < pp->nworkers; w++) {
        int pid = atomic_load_explicit(&pp->workers[w].pid, memory_order_relaxed);
        if (pid <= 0) continue;
        /* Ours only if the server's death made it so (a child subreaper):
           then it is pinned until we reap it. Asked now, before its pid can
           be another process's; never waited for otherwise. */
        bool ours = parx__procs_is_child(pid);
        int fd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (fd >= 0) {
            struct pollfd pfd = {fd, POLLIN, 0};
            parx__poll_for(&pfd, 1, 2000);
            close(fd);
        } else if (errno != ESRCH) {
            /* no pidfds (Linux before 5.3, or refused): look every ms */
            for (int i = 0; i < 2000 && !parx__procs_pid_gone(pid); i++)
                nanosleep(&(struct timespec){0, 1000000}, NULL);
        }
        if (ours)
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
            }
        /* relaxed: its writer, the server, is dead; destroy reads it after
           joining this thread (parx_procs_pids: 0 once we are done with it) */
        atomic_store_explicit(&pp->workers[w].pid, 0, memory_order_relaxed);
    }
}

/* monitor_go's values past 0 */
#define PARX__MONITOR_SERVE 1u
#define PARX__MONITOR_LEAVE 2u

/* Let the monitor thread serve the pool create made, or leave (create
   failed, and frees the pool next: the thread is joined first). */
static void parx__procs_monitor_go(parx_procs *pp, uint32_t go)
{
    if (!pp->monitor_running) return;
    /* release: the monitor reads the pool's fields after its acquire load */
    atomic_store_explicit(&pp->monitor_go, go, memory_order_release);
    parx__futex_wake(&pp->monitor_go, 1);
    if (go == PARX__MONITOR_LEAVE) {
        pthread_join(pp->monitor, NULL);
        pp->monitor_running = false;
    }
}

static void *parx__procs_monitor(void *arg)
{
    parx_procs *pp = (parx_procs *)arg;
    /* release: pairs with create's acquire. Whatever the thread's start did
       (a sanitizer's runtime allocates there) is over by now. */
    atomic_store_explicit(&pp->monitor_up, 1, memory_order_release);
    parx__futex_wake(&pp->monitor_up, 1);
    /* Made while the workers start, this thread waits until they are up:
       until then create reads the socket itself. acquire: pairs with
       create's release store, which publishes every field of pp read below */
    uint32_t go;
    while ((go = atomic_load_explicit(&pp->monitor_go, memory_order_acquire)) == 0)
        parx__futex_wait(&pp->monitor_go, 0);
    if (go != PARX__MONITOR_SERVE) return NULL;
    for (;;) {
        int timeout_ms = -1;
        pthread_mutex_lock(&pp->lock);
        bool idle = pp->monitor_idle = pp->inflight == 0;
        bool retry = pp->send_retry;
        /* POLLOUT for messages waiting for room; those refused for want of
           memory wait for the timer below instead */
        short sock_events = (short)(POLLIN | (pp->npending && !retry ? POLLOUT : 0));
        pthread_mutex_unlock(&pp->lock);
        if (pp->timeout_ns && !idle) {
            uint64_t period = pp->timeout_ns / 4 / 1000000;
            timeout_ms = period < 1 ? 1 : period > 1000 ? 1000 : (int)period;
        }
        if (retry && (timeout_ms < 0 || timeout_ms > PARX__PROCS_RETRY_MS))
            timeout_ms = PARX__PROCS_RETRY_MS;
        struct pollfd fds[3] = {{pp->sock, sock_events, 0}, {pp->evfd, POLLIN, 0},
                                {pp->server_pidfd, POLLIN, 0}};
        int rc = poll(fds, pp->server_pidfd >= 0 ? 3 : 2, timeout_ms);
        if (rc < 0 && errno != EINTR) break;
        if (fds[1].revents & POLLIN) {
            uint64_t v;
            if (read(pp->evfd, &v, sizeof v) < 0) {
                /* EAGAIN: someone else read it; nothing to do */
            }
        }
        /* The server's exit, seen by its pidfd (or the socket closing, where
           pidfds are missing; a copy of the socket that a fork elsewhere in
           the program inherited can keep that from happening). */
        bool gone = (fds[2].revents & POLLIN) ||
                    (pp->server_pidfd < 0 && (fds[0].revents & (POLLHUP | POLLERR)));
        uint32_t wake = 0;
        if (fds[0].revents & POLLIN) {
            for (;;) {
                parx__pmsg m;
                ssize_t got = recv(pp->sock, &m, sizeof m, MSG_DONTWAIT);
                if (got < 0 && errno == EINTR) continue;
                if (got < 0 && errno == EAGAIN) break;
                if (got != (ssize_t)sizeof m) {
                    gone = true;
                    break;
                }
                if (m.worker < 0 || m.worker >= pp->nworkers) continue;
                pthread_mutex_lock(&pp->lock);
                if (m.type == PARX__M_DIED) {
                    wake += parx__procs_died_locked(pp, (uint32_t)m.worker, m.status, m.a != 0);
                } else if (m.type == PARX__M_SPARED) {
                    /* The kill we asked for was not sent: the job finished
                       first. Watch this worker's jobs again (unless this is
                       about an older kill: the worker died and was replaced). */
                    uint32_t w = (uint32_t)m.worker;
                    if (pp->kill_why[w] == PARX__KILL_TIMEOUT && pp->kill_pid[w] == m.pid &&
                        pp->kill_slot[w] == (uint32_t)m.status && pp->kill_start[w] == m.a)
                        pp->kill_why[w] = PARX__KILL_NONE;
                } else if (m.type == PARX__M_STARTED && m.pid > 0) {
                    atomic_fetch_add_explicit(&pp->started, 1, memory_order_relaxed);
                } else if (m.type == PARX__M_STARTED) {
                    /* No replacement (fork refused): rather than run on with
                       fewer workers, or none, fail loudly. Jobs that run now
                       finish; the queued ones fail. */
                    char msg[112];
                    snprintf(msg, sizeof msg,
                             "parx_procs: a replacement worker could not start (%s); the pool is "
                             "broken",
                             parx_strerror(m.pid));
                    parx__procs_break_locked(pp);
                    pthread_mutex_unlock(&pp->lock);
                    parx__log(PARX_LOG_ERROR, msg);
                    pthread_mutex_lock(&pp->lock);
                }
                pthread_mutex_unlock(&pp->lock);
            }
        }
        if ((fds[0].revents & POLLOUT) || retry) {
            pthread_mutex_lock(&pp->lock);
            pp->send_retry = false;
            parx__procs_flush_locked(pp);
            pthread_mutex_unlock(&pp->lock);
        }
        if (wake) parx__procs_wake(pp->ctl, wake);
        if (gone) {
            /* The server is gone: reap it, and fail what can no longer run. */
            parx__procs_reap_server(pp, false);
            pthread_mutex_lock(&pp->lock);
            pp->server_reaped = true;
            bool expected = pp->quitting;
            parx__procs_break_locked(pp);
            pthread_mutex_unlock(&pp->lock);
            parx__procs_await_workers(pp);
            pthread_mutex_lock(&pp->lock);
            parx__procs_fail_locked(pp, PARX_E_PROCS_BROKEN, true);
            /* fail skips DONE jobs: a worker that died (with the server)
               between marking its job DONE and waking the waiter leaves
               that waiter asleep */
            for (int w = 0; w < pp->nworkers; w++) parx__procs_wake_finished(pp, (uint32_t)w);
            pthread_mutex_unlock(&pp->lock);
            if (!expected)
                parx__log(PARX_LOG_ERROR, "parx_procs: the fork server died; the pool is broken");
            break;
        }
        if (pp->timeout_ns) {
            pthread_mutex_lock(&pp->lock);
            parx__procs_check_timeouts_locked(pp);
            pthread_mutex_unlock(&pp->lock);
        }
    }
    return NULL;
}

/* ---- create and destroy ------------------------------------------------------ */

/* Start pp's monitor thread, with every signal blocked (signals are the
   program's business). 0 or -errno. */
static int parx__procs_start_monitor(parx_procs *pp)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = -pthread_create(&pp->monitor, NULL, parx__procs_monitor, pp);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0) pp->monitor_running = true;
    return rc;
}

/* The executable to spawn: /proc/self/exe's target by its path (a path keeps
   tools that run us, like valgrind, in the picture: they report the program's
   path there, while the link itself leads to the tool), or the link itself
   when the file was deleted or replaced since it started. */
static void parx__procs_exe(char *buf, size_t size)
{
    ssize_t n = readlink("/proc/self/exe", buf, size - 1);
    if (n > 0) {
        buf[n] = 0;
        const char *gone = " (deleted)";
        size_t len = strlen(gone);
        if (((size_t)n < len || strcmp(buf + n - len, gone) != 0) && access(buf, X_OK) == 0) return;
    }
    snprintf(buf, size, "/proc/self/exe");
}

/* The first module's (the program's) interpreter path, PT_INTERP. */
static int parx__procs_interp_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_INTERP)
            *(const char **)data = (const char *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
    return 1;
}

/* true when the program was started as `ld.so PROGRAM`: /proc/self/exe is
   then its interpreter, which spawn mode would start in its place (it said
   "missing program name" on the program's stderr). */
static bool parx__procs_run_by_loader(const char *exe)
{
    const char *interp = NULL;
    dl_iterate_phdr(parx__procs_interp_cb, &interp);
    char real[4096];
    return interp && realpath(interp, real) && strcmp(real, exe) == 0;
}

/* Start the fork server by posix_spawn of the program itself, with its end
   of the socket as fd 3 and PARX__PROCS_ENV naming it and us; it takes over
   in parx__procs_boot, before main. Its pid in pp->server_pid, and 0; else
   a negative errno, or PARX_E_SPAWN. */
static int parx__procs_spawn_server(parx_procs *pp, int server_sock)
{
    /* environ: declared by <unistd.h> under _GNU_SOURCE */
    char exe[4096];
    parx__procs_exe(exe, sizeof exe);
    if (parx__procs_run_by_loader(exe)) {
        parx__log(PARX_LOG_ERROR, "parx_procs: spawn mode: the program was started by its "
                                  "dynamic loader (ld.so PROGRAM), which cannot be spawned as it");
        return PARX_E_SPAWN;
    }
    char var[64];
    snprintf(var, sizeof var, "%s=3:%ld", PARX__PROCS_ENV, (long)getpid());
    size_t n = 0;
    while (environ && environ[n]) n++;
    char **envp = (char **)malloc((n + 2) * sizeof *envp);
    if (!envp) return -ENOMEM;
    size_t k = 0, len = strlen(PARX__PROCS_ENV);
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], PARX__PROCS_ENV, len) != 0 || environ[i][len] != '=')
            envp[k++] = environ[i];
    envp[k++] = var;
    envp[k] = NULL;
    char *argv[] = {(char *)"parx-procs-server", NULL};

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    /* The server's socket becomes fd 3 (dup2 clears O_CLOEXEC on the copy);
       everything else of ours stays behind, being O_CLOEXEC. */
    posix_spawn_file_actions_adddup2(&fa, server_sock, 3);
#if PARX__HAVE_CLOSEFROM
    posix_spawn_file_actions_addclosefrom_np(&fa, 4); /* and nothing else of ours */
#endif
    /* Every signal at its default action, but those the caller ignores
       now, which stay ignored as an exec keeps them (SIGPIPE under
       systemd, SIGHUP under nohup), and SIGCHLD, which the server needs. */
    sigset_t none, dflt;
    sigemptyset(&none);
    sigfillset(&dflt);
    sigdelset(&dflt, SIGKILL);
    sigdelset(&dflt, SIGSTOP);
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        if (sig != SIGCHLD && sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
            sigdelset(&dflt, sig);
    }
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &dflt);
    posix_spawnattr_setpgroup(&at, 0); /* a process group of its own: see >>procs */
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
    pid_t pid;
    int rc = posix_spawn(&pid, exe, &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    free(envp);
    if (rc != 0) return -rc;
    pp->server_pid = pid;
    return 0;
}

/* A spawned server knows nothing of the pool until it is told: the arena's
   descriptor, then where the control block lies in it. Sent once its pid
   is known to be its own (parx__procs_open_server_pidfd), so that a failed
   send fails the create with nothing signalled but the server. */
static int parx__procs_setup_spawned(parx_procs *pp)
{
    int rc = parx_arena_send(pp->sock, pp->arena);
    if (rc == 0)
        rc = parx__procs_send(pp->sock, PARX__M_SETUP, -1, 0, 0,
                              parx_arena_offset(pp->arena, pp->ctl));
    if (rc >= 0) return rc;
    /* Its reason if it said one (FAILED); else a server that left before
       reading (EPIPE, ECONNRESET) is one that gave no hello: its exit
       status tells a crash from a program that did not take over. */
    int said = parx__procs_failed_status(pp->sock, rc);
    if (said != rc || (rc != -EPIPE && rc != -ECONNRESET)) return said;
    return parx__procs_no_hello(pp, 0);
}

/* The pools of this process, so that a fork-mode server forked for one of
   them can drop what it inherited of the others (their arenas, sockets and
   descriptors): else a later pool's processes would keep an earlier pool's
   memory alive after its destroy. The lock is held across every fork() of
   the process (pthread_atfork, registered by the first create), ours and
   the program's: the child finds the list whole, and a lock that is free,
   not one another thread held at the fork (a child of the program's that
   made a pool then hung). */
static pthread_mutex_t parx__procs_reg_lock = PTHREAD_MUTEX_INITIALIZER;
static parx_procs *parx__procs_reg;
static atomic_bool parx__procs_reg_registered; /* parx__atfork's flag */
/* How many of the prepare handlers below the forking thread has run (two
   threads may have registered them both: see parx__atfork): the first
   takes the lock, and the last after-handler lets it go. */
static _Thread_local unsigned parx__procs_reg_held;
static void parx__procs_reg_prepare(void)
{
    if (parx__procs_reg_held++ == 0) pthread_mutex_lock(&parx__procs_reg_lock);
}
/* after the fork, in both: the forking thread holds it, in the child too
   (the child's one thread is that thread's copy, its count with it), and
   lets go */
static void parx__procs_reg_after(void)
{
    if (--parx__procs_reg_held == 0) pthread_mutex_unlock(&parx__procs_reg_lock);
}
static void parx__procs_reg_child(void)
{
    parx__procs_pid_reset();
    parx__procs_reg_after();
}

/* A ticket is gen_hi << 32 | tag << 20 | gen_lo << b | slot, where b is
   the pool's slot_bits (0 for one slot, 12 for the default 4096, 20 for
   max_jobs above 2^19) and gen, of 52 - b bits (gen_hi its high 32, gen_lo
   the rest), is the slot's generation, bumped at each submit there. The
   tag tells one pool's tickets from another's, which would otherwise share
   their first gens and slots; pools get tags in turn (under the lock above),
   so only a pool made 4095 pools later can take another's for its own.
   A ticket waited for already is refused until its slot's generation comes
   round again, 2^(52 - b) - 1 submits to that slot later (2^40 - 1 with
   4096 slots; 2^32 - 1 at the least). It was 2^32 - 1 whatever the size, a
   few hours of a loop that submits and waits (which reuses one slot) on a
   large pool. No more bits are free: a ticket is 64 bits (the API's
   parx_ticket, which programs store and compare as an integer), and the
   slot and the tag must fit beside the generation. */
#define PARX__TICKET_SLOT_BITS 20
#define PARX__TICKET_TAGS 4095u
#define PARX__TICKET_TAG_BITS 12
_Static_assert(PARX__TICKET_TAGS < 1u << PARX__TICKET_TAG_BITS &&
                   PARX__TICKET_SLOT_BITS + PARX__TICKET_TAG_BITS == 32,
               "a tag fits its bits, which end at bit 32");
_Static_assert(PARX__PROCS_MAX_JOBS <= 1u << PARX__TICKET_SLOT_BITS, "a slot must fit its bits");
static uint32_t parx__procs_tags;

/* The ticket of slot x's current job. */
static parx_ticket parx__procs_ticket(const parx_procs *pp, uint32_t x)
{
    uint32_t lo_bits = PARX__TICKET_SLOT_BITS - pp->slot_bits;
    uint64_t g = pp->gen[x];
    return (g >> lo_bits) << 32 | (uint64_t)pp->tag << PARX__TICKET_SLOT_BITS |
           (g & ((UINT64_C(1) << lo_bits) - 1)) << pp->slot_bits | x;
}

/* Ticket t's slot (*x), generation (*gen) and tag (the return value). */
static uint32_t parx__procs_ticket_parse(const parx_procs *pp, parx_ticket t, uint32_t *x,
                                         uint64_t *gen)
{
    uint32_t b = pp->slot_bits, low = (uint32_t)t & ((1u << PARX__TICKET_SLOT_BITS) - 1);
    *x = low & ((1u << b) - 1);
    *gen = (t >> 32) << (PARX__TICKET_SLOT_BITS - b) | low >> b;
    return (uint32_t)t >> PARX__TICKET_SLOT_BITS;
}

/* In a fork-mode server just forked (the list whole: its lock was held
   across the fork): unmap and close everything of the other pools.
   Syscalls only. */
static void parx__procs_forget_others(parx_procs *self)
{
    for (parx_procs *q = parx__procs_reg; q; q = q->reg_next) {
        if (q == self) continue;
        close(q->sock);
        close(q->evfd);
        if (q->server_pidfd >= 0) close(q->server_pidfd);
        munmap(parx_arena_base(q->arena), parx_arena_size(q->arena));
        close(parx_arena_fd(q->arena));
        /* and say so in the copy, for a job that destroys it (that releases
           only what its process holds: nothing, now) */
        q->sock = q->evfd = q->server_pidfd = -1;
        q->base = NULL;
    }
    /* This process has no pools of its own (a job that makes one starts a
       list of its own); parx__procs_reg_after let go of the lock. */
    parx__procs_reg = NULL;
}

static void parx__procs_free(parx_procs *pp)
{
    if (pp->server_pid > 0 && !pp->server_reaped)
        parx__procs_reap_server(pp, true); /* its workers follow it (PDEATHSIG) */
    /* A caller that is a child subreaper inherits workers whose server died
       before reaping them: reap those too (they are dying: PDEATHSIG). The
       pids of a server that died earlier are forgotten by now (see
       parx__procs_await_workers): another process may have one of them. */
    for (int w = 0; pp->workers && w < pp->nworkers; w++) {
        int pid = atomic_load_explicit(&pp->workers[w].pid, memory_order_relaxed);
        if (pid > 0 && parx__procs_is_child(pid))
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
            }
    }
    if (pp->server_pidfd >= 0) close(pp->server_pidfd);
    if (pp->sock >= 0) close(pp->sock);
    if (pp->evfd >= 0) close(pp->evfd);
    if (pp->arena) parx_arena_close(pp->arena);
    pthread_mutex_destroy(&pp->lock);
    pthread_cond_destroy(&pp->slot_freed);
    free(pp->free_slots);
    free(pp->gen);
    free(pp->last_pos);
    free(pp->waited);
    free(pp->owner);
    free(pp->fcache);
    free(pp->kill_why);
    free(pp->kill_slot);
    free(pp->kill_start);
    free(pp->kill_pid);
    free(pp->pending);
    free(pp);
}

/* Threads of this process that could hold a lock a fork would copy, as
   /proc/self/task lists them, or 0 if unknown. Two kinds are left out:
   - io_uring's workers (iou-wrk-*, iou-sqp-*: the prefetcher's and the
     writer's buffered I/O, anyone's ring): they run kernel code only, hold
     no lock of the program's, and a fork copies none of them. The kernel
     marks them PF_IO_WORKER.
   - threads already exiting (PF_EXITING), and those gone by the time their
     stat is read: past user space for good. pthread_join returns once the
     kernel clears the thread's tid, before it drops the thread from /proc:
     a pool destroyed just before (or any thread joined) is still counted
     for a while, 36 to 117 joins in 100000 on the 2-core CI VM.
   Both marks are in the flags of a thread's stat (the ninth field). */
#define PARX__PF_EXITING 0x4u
#define PARX__PF_IO_WORKER 0x10u
static int parx__procs_live_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        const char *p = parx__procs_stat_fields(path, buf, sizeof buf); /* NULL: ended */
        unsigned flags = 0;
        /* state, ppid, pgrp, session, tty_nr, tpgid, then flags */
        if (p && sscanf(p, " %*c %*d %*d %*d %*d %*d %u", &flags) == 1 &&
            !(flags & (PARX__PF_EXITING | PARX__PF_IO_WORKER)))
            n++;
    }
    closedir(d);
    return n;
}

/* Threads in this process that could hold a lock (see above), or 0 if
   unknown, less the monitor threads of this process's own pools: those
   hold no lock a fork could copy (create returns only once its monitor
   runs, and a monitor holds no lock of the program's but while it calls
   the log hook), so they are no reason to avoid fork. */
static int parx__procs_threads(void)
{
    char state;
    int ppid, threads;
    if (!parx__procs_stat(0, &state, &ppid, &threads)) return 0;
    if (threads > 1) { /* the common case (1) reads one file; this, one per thread */
        int live = parx__procs_live_threads(); /* 0: /proc/self/task unreadable */
        if (live > 0) threads = live;
    }
    pid_t self = getpid();
    pthread_mutex_lock(&parx__procs_reg_lock);
    for (parx_procs *q = parx__procs_reg; q; q = q->reg_next)
        if (q->owner_pid == self && q->monitor_running && threads > 1) threads--;
    pthread_mutex_unlock(&parx__procs_reg_lock);
    return threads;
}

/* parx_procs_create with the reason in *err (never NULL), for
   parx_procs_create itself and for parx's own callers (the runner and the
   probe), which pass it on as a code. */
static parx_procs *parx__procs_create(const parx_procs_desc *desc, int *err)
{
    parx_procs_desc d;
    if (desc) d = *desc;
    else memset(&d, 0, sizeof d);
    if (d.workers < 0 || d.workers > PARX__PROCS_MAX_WORKERS || d.retries < 0 ||
        (d.start != PARX_START_DEFAULT && d.start != PARX_START_FORK &&
         d.start != PARX_START_SPAWN) ||
        d.max_jobs > PARX__PROCS_MAX_JOBS || !(d.job_timeout >= 0) /* NaN too */ ||
        (d.job_timeout > 0 && d.job_timeout_ns > 0)) {
        *err = -EINVAL;
        return NULL;
    }
    if (d.job_timeout > 0) {
        /* past 570 years: none in effect; below 1 ns: 1 ns, not 0 (none) */
        d.job_timeout_ns =
            d.job_timeout > 1.8e10 ? UINT64_MAX : (uint64_t)(d.job_timeout * 1e9);
        if (d.job_timeout_ns == 0) d.job_timeout_ns = 1;
    }
    /* the handlers this pool relies on in children of fork(): -ENOMEM
       refuses this create only, and the next tries again */
    int reg = parx__atfork(&parx__procs_reg_registered, parx__procs_reg_prepare,
                           parx__procs_reg_after, parx__procs_reg_child);
    if (reg != 0) {
        *err = reg;
        return NULL;
    }
    int nw = d.workers ? d.workers : parx__cpu_count();
    if (nw > PARX__PROCS_MAX_WORKERS) nw = PARX__PROCS_MAX_WORKERS;
    uint32_t nslots = d.max_jobs ? d.max_jobs : 4096;
    uint32_t ring = 2;
    while (ring < 2 * nslots) ring <<= 1;

    parx_procs *pp = (parx_procs *)calloc(1, sizeof *pp);
    if (!pp) {
        *err = -ENOMEM;
        return NULL;
    }
    pp->sock = pp->evfd = pp->server_pidfd = -1;
    pthread_mutex_init(&pp->lock, NULL);
    pthread_cond_init(&pp->slot_freed, NULL);
    pp->nworkers = nw;
    pp->retries = d.retries;
    pp->timeout_ns = d.job_timeout_ns;
    pp->spin_ns = d.spin_ns ? d.spin_ns : 50000;
    int rc = 0;

    parx_arena_desc ad;
    memset(&ad, 0, sizeof ad);
    ad.size = d.arena_bytes ? d.arena_bytes : (size_t)256 << 20;
    pp->arena = parx_arena_create(&ad, &rc);
    if (!pp->arena) goto fail;
    pp->base = (char *)parx_arena_base(pp->arena);

    /* One block holds the control block and the tables, each cache-aligned. */
    size_t off_jobs = (sizeof(parx__pctl) + PARX_CACHELINE - 1) & ~(size_t)(PARX_CACHELINE - 1);
    size_t off_ring = off_jobs + (size_t)nslots * sizeof(parx__pjob);
    size_t off_workers = (off_ring + (size_t)ring * 4 + PARX_CACHELINE - 1) &
                         ~(size_t)(PARX_CACHELINE - 1);
    size_t off_fns = off_workers + (size_t)nw * sizeof(parx__pworker);
    size_t total = off_fns + PARX__PROCS_MAX_FNS * sizeof(parx__pfn);
    char *blk = (char *)parx_arena_alloc(pp->arena, total, PARX_CACHELINE);
    if (!blk) {
        rc = -ENOSPC;
        goto fail;
    }
    /* No memset: this is the first block of an arena made just now, and a
       fresh memfd reads as zeros until written. Clearing it would fault in
       every page of the tables (4096 job records alone are 256 KiB: about
       170 us of page faults on the 2-CPU VM of bench/RESULTS.md, a third of
       a fork-mode start); untouched, a page costs its fault only when a
       slot on it is first used. */
    uint64_t at = parx_arena_offset(pp->arena, blk);
    pp->ctl = (parx__pctl *)(void *)blk;
    pp->ctl->magic = PARX__PROCS_MAGIC;
    pp->ctl->nslots = nslots;
    pp->ctl->ring_mask = ring - 1;
    pp->ctl->nworkers = (uint32_t)nw;
    pp->ctl->jobs_off = at + off_jobs;
    pp->ctl->ring_off = at + off_ring;
    pp->ctl->workers_off = at + off_workers;
    pp->ctl->fns_off = at + off_fns;
    pp->ctl->spin_ns = pp->spin_ns;
    parx__procs_layout(pp->ctl, pp->base, &pp->jobs, &pp->ring, &pp->workers, &pp->fns);

    /* Every descriptor the pool keeps is 3 or above (as its arena's is): in a
       caller started with its standard streams closed, a printf must not
       land on the server's socket. */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        rc = -errno;
        goto fail;
    }
    pp->sock = parx__fd_above_stdio(sv[0]);
    if (pp->sock < 0) {
        rc = -errno;
        close(sv[1]);
        goto fail;
    }
    sv[1] = parx__fd_above_stdio(sv[1]);
    if (sv[1] < 0) {
        rc = -errno;
        goto fail;
    }
    pp->evfd = parx__fd_above_stdio(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (pp->evfd < 0) {
        rc = -errno;
        close(sv[1]);
        goto fail;
    }

    pp->start = d.start == PARX_START_SPAWN ? PARX_START_SPAWN : PARX_START_FORK;
    if (d.start == PARX_START_SPAWN) {
        rc = parx__procs_spawn_server(pp, sv[1]);
        close(sv[1]);
        if (rc < 0) goto fail;
    } else {
        pid_t parent = getpid();
        fflush(NULL); /* or buffered output would be written again by a worker's exit() */
        /* Every signal blocked across the fork, so that none runs a handler
           of the program's in the server before parx__procs_serve has
           taken them over (a signal to the caller's process group did);
           the server gets this thread's mask back from it. */
        sigset_t all, mask;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &mask);
        pid_t pid = fork(); /* parx__procs_reg_prepare holds the list's lock across it */
        if (pid == 0) {
            close(sv[0]);
            close(pp->evfd);
            parx__procs_forget_others(pp);
            /* a process group of its own: see >>procs */
            setpgid(0, 0);
            parx__procs_serve(sv[1], pp->base, pp->ctl, parent, &mask);
        }
        int fork_errno = errno;
        pthread_sigmask(SIG_SETMASK, &mask, NULL);
        /* The server's forks are what create waits for; our work below is
           not. The kernel often puts a new child on its parent's CPU, where
           the server would wait until we sleep (0.14-0.33 ms in 15 starts
           of 22 on the 2-CPU VM of bench/RESULTS.md, read with `perf sched
           timehist`): hand it our CPU now. With a CPU of its own it runs
           already, and this returns at once. */
        if (pid > 0) sched_yield();
        close(sv[1]);
        if (pid < 0) {
            rc = -fork_errno;
            goto fail;
        }
        pp->server_pid = pid;
    }
    PARX__PROCS_HOOK(pp, PARX__PHOOK_SERVER_MADE);
    rc = parx__procs_open_server_pidfd(pp);
    if (rc == 0 && pp->start == PARX_START_SPAWN) rc = parx__procs_setup_spawned(pp);
    if (rc < 0) goto fail;

    if (pp->start == PARX_START_FORK) {
        /* Counted after the fork, while the server forks the workers (reading
           /proc takes tens of microseconds): the count at the fork, unless
           another thread of the caller starts or ends one in between. Before
           this pool's monitor thread, which is made below. */
        int threads = parx__procs_threads();
        if (threads > 1) {
            char msg[200];
            snprintf(msg, sizeof msg,
                     "parx_procs_create: fork mode in a process with %d threads: workers inherit "
                     "any lock those threads hold now (malloc, stdio) and may deadlock on it; "
                     "PARX_START_SPAWN is safe",
                     threads);
            parx__log(PARX_LOG_WARN, msg);
        }
    }

    /* The monitor thread, made now, while the server starts the workers
       (thread creation would otherwise add 50-120 us to a start on the VM of
       bench/RESULTS.md); it waits on monitor_go until they are up. (A
       failure here, or anywhere below, may find the server inside a fork:
       see fail.) */
    rc = parx__procs_start_monitor(pp);
    if (rc < 0) goto fail;

    /* The caller's own tables, made while the server starts the workers. */
    pp->free_slots = (uint32_t *)malloc(nslots * sizeof *pp->free_slots);
    pp->gen = (uint64_t *)calloc(nslots, sizeof *pp->gen);
    while ((1u << pp->slot_bits) < nslots) pp->slot_bits++;
    pp->last_pos = (uint32_t *)calloc(nslots, sizeof *pp->last_pos);
    pp->waited = (uint8_t *)calloc(nslots, 1);
    pp->owner = (pthread_t *)calloc(nslots, sizeof *pp->owner);
    pp->fcache = (struct parx__pfcache *)calloc(2 * PARX__PROCS_MAX_FNS, sizeof *pp->fcache);
    pp->kill_why = (uint8_t *)calloc((size_t)nw, 1);
    pp->kill_slot = (uint32_t *)calloc((size_t)nw, sizeof *pp->kill_slot);
    pp->kill_start = (uint64_t *)calloc((size_t)nw, sizeof *pp->kill_start);
    pp->kill_pid = (int32_t *)calloc((size_t)nw, sizeof *pp->kill_pid);
    pp->pending = (uint8_t *)calloc((size_t)nw, 1);
    if (!pp->free_slots || !pp->gen || !pp->last_pos || !pp->waited || !pp->owner ||
        !pp->fcache || !pp->kill_why || !pp->kill_slot || !pp->kill_start || !pp->kill_pid ||
        !pp->pending) {
        rc = -ENOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < nslots; i++) pp->free_slots[i] = nslots - 1 - i;
    pp->nfree = nslots;

    /* The server forks the workers unasked. Expect its hello, then their
       pids, then its word that it is set up; then wait for each worker's
       first sign of life. A worker that dies meanwhile fails the create at
       once, and so does a server that could not set itself up (FAILED, with
       the reason). */
    parx__pmsg m;
    int got, started = 0;
    bool hello = false, ready = false;
    while (started < nw || !ready) {
        got = parx__procs_recv(pp->sock, &m, PARX__PROCS_START_MS);
        if (got == 1 && m.type == PARX__M_FAILED) {
            rc = m.status < 0 ? m.status : -ECHILD;
            goto fail;
        }
        if (got != 1 || (!hello && m.type != PARX__M_HELLO)) {
            rc = !hello && d.start == PARX_START_SPAWN
                     ? parx__procs_no_hello(pp, got)
                     : got < 0 ? got : -ECHILD;
            rc = parx__procs_failed_status(pp->sock, rc);
            goto fail;
        }
        if (m.type == PARX__M_HELLO) {
            hello = true;
        } else if (m.type == PARX__M_STARTED) {
            if (m.pid < 0) {
                rc = m.pid;
                goto fail;
            }
            started++;
        } else if (m.type == PARX__M_READY) {
            ready = true;
        } else if (m.type == PARX__M_DIED) {
            rc = -ECHILD;
            goto fail;
        }
    }
    atomic_store_explicit(&pp->started, (uint64_t)nw, memory_order_relaxed);
    uint64_t deadline = parx__now_ns() + (uint64_t)PARX__PROCS_START_MS * 1000000;
    for (;;) {
        /* acquire: pairs with each worker's release increment */
        uint32_t r = atomic_load_explicit(&pp->ctl->nready, memory_order_acquire);
        if (r >= (uint32_t)nw) break;
        uint64_t now = parx__now_ns();
        if (now >= deadline) {
            rc = -ETIMEDOUT;
            goto fail;
        }
        parx__futex_wait_shared(&pp->ctl->nready, r, 1000000); /* 1 ms, then look for deaths */
        ssize_t n = recv(pp->sock, &m, sizeof m, MSG_DONTWAIT);
        bool died = n == (ssize_t)sizeof m && m.type == PARX__M_DIED;
        /* the server itself: its end of the socket closed, or its pidfd readable */
        struct pollfd pfd = {pp->server_pidfd, POLLIN, 0};
        bool gone = n == 0 || (n < 0 && errno == ECONNRESET) ||
                    (pp->server_pidfd >= 0 && poll(&pfd, 1, 0) == 1);
        if (died || gone) {
            rc = -ECHILD;
            goto fail;
        }
    }

    parx__procs_monitor_go(pp, PARX__MONITOR_SERVE);
    /* Return only once the monitor thread runs its own code: a thread still
       starting may hold an allocator's lock (ASan's does), and a fork-mode
       pool made next would fork a copy of it held, for its workers to
       deadlock on. acquire: pairs with the monitor's release */
    while (atomic_load_explicit(&pp->monitor_up, memory_order_acquire) == 0)
        parx__futex_wait(&pp->monitor_up, 0);
    pp->owner_pid = getpid();
    /* relaxed: every store in one process writes the same value */
    atomic_store_explicit(&parx__procs_pid, (int)pp->owner_pid, memory_order_relaxed);
    pthread_mutex_lock(&parx__procs_reg_lock);
    pp->reg_next = parx__procs_reg;
    parx__procs_reg = pp;
    pp->tag = parx__procs_tags++ % PARX__TICKET_TAGS + 1;
    pthread_mutex_unlock(&parx__procs_reg_lock);
    return pp;

fail:
    *err = rc < 0 ? rc : -ENOMEM;
    parx__procs_monitor_go(pp, PARX__MONITOR_LEAVE);
    if (pp->server_pid > 0) {
        /* The server and every worker it forked, recorded in the arena or
           not (the server may be stopped inside a fork): they make up the
           server's process group (see >>procs), whose number names no other
           group while the server or one of them is left unreaped, and no
           job has run to start processes of its own there. A server that
           has not made its group yet has forked no worker. */
        pid_t pid = pp->server_pid;
        bool group = parx__procs_server_unreaped(pp) && kill(-pid, SIGKILL) == 0;
        parx__procs_reap_server(pp, !group);
        pp->server_reaped = true;
        /* A caller that is a child subreaper, or pid 1, inherits the
           server's workers as the server dies: reap those of the group.
           Every other caller has no child there (ECHILD at once). */
        while (group && (waitpid(-pid, NULL, 0) > 0 || errno == EINTR)) {
        }
    }
    parx__procs_free(pp);
    return NULL;
}

PARX_API parx_procs *parx_procs_create(const parx_procs_desc *desc)
{
    int err = 0;
    parx_procs *pp = parx__procs_create(desc, &err);
    /* last, so that nothing create did on its way out (a close, a waitpid)
       overwrites it */
    if (!pp) errno = -err;
    return pp;
}

PARX_API void parx_procs_destroy(parx_procs *pp)
{
    if (!pp) return;
    /* A job of this very pool (fork mode): its process runs on this arena
       and the pool is the caller's: leave everything alone. */
    if (pp->ctl == parx__procs_self_ctl) return;
    if (pp->owner_pid != getpid()) {
        /* A copy that fork() gave another process (a child of the caller,
           say one whose exit handlers destroy the program's pools): the
           pool, its server and its workers are the caller's. Quitting them
           from here would wreck it, and the monitor thread is not here to
           join. Release what this process holds, and nothing else. */
        pthread_mutex_lock(&parx__procs_reg_lock);
        for (parx_procs **q = &parx__procs_reg; *q; q = &(*q)->reg_next)
            if (*q == pp) {
                *q = pp->reg_next;
                break;
            }
        pthread_mutex_unlock(&parx__procs_reg_lock);
        pp->server_pid = 0; /* not ours to kill or reap */
        pp->nworkers = 0;   /* nor are the workers */
        if (!pp->base) pp->arena = NULL; /* unmapped already (parx__procs_forget_others) */
        parx__procs_free(pp);
        return;
    }
    pthread_mutex_lock(&pp->lock);
    pp->quitting = true;
    pthread_mutex_unlock(&pp->lock);
    /* seq_cst: workers check quit before each claim and before sleeping */
    atomic_store_explicit(&pp->ctl->quit, 1, memory_order_seq_cst);
    /* release: a worker that reads the new value (acquire) sees quit too */
    atomic_fetch_add_explicit(&pp->ctl->wake_seq, 1, memory_order_release);
    parx__futex_wake_shared(&pp->ctl->wake_seq, INT_MAX);
    /* The server leaves once its workers have (each finishes the job it
       runs); the monitor settles their deaths, then sees the socket close. */
    parx__procs_send(pp->sock, PARX__M_QUIT, -1, 0, 0, 0);
    if (pp->monitor_running) pthread_join(pp->monitor, NULL);
    pthread_mutex_lock(&parx__procs_reg_lock);
    for (parx_procs **q = &parx__procs_reg; *q; q = &(*q)->reg_next)
        if (*q == pp) {
            *q = pp->reg_next;
            break;
        }
    pthread_mutex_unlock(&parx__procs_reg_lock);
    parx__procs_free(pp);
}

/* ---- submit, wait, map -------------------------------------------------------- */

/* A parx_run job's extra fields (see parx__pjob). */
typedef struct parx__prun {
    uint32_t flags; /* PARX__FN_RUN, maybe | PARX__FN_RAWARG */
    uint64_t index, seed, out_off;
} parx__prun;

/* pp->waited[slot]: who will take the slot's result. */
enum {
    PARX__W_NONE = 0,    /* nobody yet: a ticket not waited for */
    PARX__W_WAITER = 1,  /* parx_procs_wait, or a map, will collect it */
    PARX__W_CALLBACK = 2 /* a map will, once its progress callback returns */
};

/* Caller, holding lock, with a free slot: queue fn(arg) (run: NULL, or a
   parx_run job). */
static uint32_t parx__procs_enqueue_locked(parx_procs *pp, uint32_t fn_id, uint64_t arg_off,
                                          const parx__prun *run)
{
    uint32_t x = pp->free_slots[--pp->nfree];
    if (x >= pp->slot_hwm) pp->slot_hwm = x + 1;
    parx__pjob *j = &pp->jobs[x];
    j->fn_id = fn_id | (run ? run->flags : 0);
    j->arg_off = arg_off;
    j->index = run ? run->index : 0;
    j->seed = run ? run->seed : 0;
    j->out_off = run ? run->out_off : PARX_ARENA_NO_OFFSET;
    j->status = j->signal = j->exit_code = 0;
    j->attempts = 1;
    j->run_ns = 0;
    /* 52 - slot_bits bits (see parx__procs_ticket); 0 is no ticket's */
    pp->gen[x] = (pp->gen[x] + 1) & (UINT64_MAX >> (PARX__TICKET_TAG_BITS + pp->slot_bits));
    if (!pp->gen[x]) pp->gen[x] = 1;
    pp->waited[x] = PARX__W_NONE;
    pp->inflight++;
    /* release: a worker's claim (acquire) sees fn_id, arg_off and parx_run's fields */
    atomic_store_explicit(&j->state, PARX__J_QUEUED, memory_order_release);
    parx__procs_push_locked(pp, x);
    return x;
}

/* Caller, holding lock: take slot x's result (it is DONE) and free the slot. */
static int parx__procs_collect_locked(parx_procs *pp, uint32_t x, parx_job_result *r)
{
    parx__pjob *j = &pp->jobs[x];
    int status = j->status;
    if (r) {
        r->status = status;
        r->signal = j->signal;
        r->exit_code = j->exit_code;
        r->attempts = j->attempts;
        r->run_ns = j->run_ns;
    }
    /* relaxed: a FREE slot is the caller's alone until its next QUEUED release */
    atomic_store_explicit(&j->state, PARX__J_FREE, memory_order_relaxed);
    pp->free_slots[pp->nfree++] = x;
    pp->inflight--;
    if (pp->slot_waiters) pthread_cond_broadcast(&pp->slot_freed);
    if (pp->slot_nappers && !pp->slot_nudged) { /* they sleep on done_seq */
        pp->slot_nudged = true;
        parx__procs_nudge(pp->ctl);
    }
    return status;
}

/* Caller, holding lock: a free slot, waiting (lock released meanwhile) while
   every slot holds a job that is queued or running, or a result that some
   thread is waiting for. Returns 0, or PARX_E_PROCS_BROKEN once the pool
   broke. Slots holding results nobody waits for give -EBUSY:
   waiting for them would never end. So does waiting, from a map's progress
   callback, for the results of another map whose callback runs
   (PARX__W_CALLBACK): neither map collects until its callback returns, and
   two such callbacks that submit would wait for each other for ever. A
   thread outside such a callback holds no results while it waits here, so
   it waits for those too: the callback returns, its map collects. */
static int parx__procs_slot_locked(parx_procs *pp)
{
    while (pp->nfree == 0) {
        if (atomic_load_explicit(&pp->broken, memory_order_relaxed)) return PARX_E_PROCS_BROKEN;
        /* Before the scan: a job that the scan sees queued or running then
           counts past `base` when it ends, and moves done_seq past `seq`
           if its worker dies before it counts. Read after the scan, a job
           that ended in between would be waited for as one still to come.
           acquire (count): the scan's loads come after it; seq_cst (seq):
           read before wait_done sets its target (see there). A collect
           (slot_nappers) and the pool's break move done_seq too, under the
           lock, so after seq. */
        uint64_t base = atomic_load_explicit(&pp->ctl->done_total, memory_order_acquire);
        uint32_t seq = atomic_load_explicit(&pp->ctl->done_seq, memory_order_seq_cst);
        uint32_t active = 0, claimed = 0, claimed_cb = 0;
        bool in_cb = false; /* we are a map's progress callback, holding results */
        pthread_t self = pthread_self();
        for (uint32_t x = 0; x < pp->slot_hwm; x++) {
            /* relaxed: a count to choose how to wait; nothing is read from the job */
            uint32_t ph = PARX__J_PHASE(atomic_load_explicit(&pp->jobs[x].state,
                                                             memory_order_relaxed));
            active += ph == PARX__J_QUEUED || ph == PARX__J_RUNNING;
            bool mine = pthread_equal(pp->owner[x], self);
            in_cb |= pp->waited[x] == PARX__W_CALLBACK && mine;
            /* results another thread is waiting for; not ours (a map's
               progress callback that submits would wait for itself) */
            bool done = ph == PARX__J_DONE && !mine;
            claimed += done && pp->waited[x] == PARX__W_WAITER;
            claimed_cb += done && pp->waited[x] == PARX__W_CALLBACK;
        }
        if (!in_cb) claimed += claimed_cb;
        PARX__PROCS_HOOK(pp, PARX__PHOOK_SCANNED);
        if (active) { /* a job will finish, or a slot be collected: wait, look again */
            pp->slot_nappers++;
            pp->slot_nudged = false; /* our seq came before: the next collect wakes us */
            pthread_mutex_unlock(&pp->lock);
            parx__procs_wait_done(pp, base + 1, seq);
            pthread_mutex_lock(&pp->lock);
            pp->slot_nappers--;
        } else if (claimed) { /* another thread is about to collect a result */
            pp->slot_waiters++;
            pthread_cond_wait(&pp->slot_freed, &pp->lock);
            pp->slot_waiters--;
        } else {
            return -EBUSY;
        }
    }
    /* The pool may have broken while we waited (the lock released): the
       monitor failed the queued jobs then, and no worker will run a job
       queued now, nor will anyone fail it. relaxed: set under the lock. */
    return atomic_load_explicit(&pp->broken, memory_order_relaxed) ? PARX_E_PROCS_BROKEN : 0;
}

/* Caller, holding lock, having queued n jobs: unlock, then wake up to n
   sleeping workers, and, with job_timeout_ns set, a monitor that sleeps
   without a timeout (it has timeouts to watch now). Without a timeout
   there is nothing for it to do: a write to its eventfd and a wake-up
   would take CPU from the workers at every submit to an idle pool. */
static void parx__procs_queued_unlock(parx_procs *pp, uint32_t n)
{
    bool kick = n && pp->timeout_ns && pp->monitor_idle;
    if (kick) pp->monitor_idle = false;
    pthread_mutex_unlock(&pp->lock);
    if (kick) {
        uint64_t one = 1;
        if (write(pp->evfd, &one, sizeof one) < 0) {
            /* EAGAIN: the counter is already non-zero, so the monitor wakes anyway */
        }
    }
    parx__procs_wake(pp->ctl, n);
}

static uint64_t parx__procs_arg_off(parx_procs *pp, void *arg)
{
    return arg ? parx_arena_offset(pp->arena, arg) : PARX_ARENA_NO_OFFSET;
}

/* Queue fn with its argument at arena offset `off` (run: see parx__prun). */
static int parx__procs_submit_off(parx_procs *pp, parx_job_fn fn, uint64_t off,
                                  const parx__prun *run, parx_ticket *t)
{
    int foreign = parx__procs_foreign(pp); /* a job of this pool, or a fork()ed copy */
    if (foreign) return foreign;
    uint32_t id = 0;
    int rc = parx__procs_fn_id(pp, fn, &id); /* before the lock: it may log */
    pthread_mutex_lock(&pp->lock);
    /* relaxed: set under the lock */
    if (atomic_load_explicit(&pp->broken, memory_order_relaxed)) rc = PARX_E_PROCS_BROKEN;
    if (rc == 0) rc = parx__procs_slot_locked(pp);
    if (rc < 0) {
        pthread_mutex_unlock(&pp->lock);
        return rc;
    }
    uint32_t x = parx__procs_enqueue_locked(pp, id, off, run);
    *t = parx__procs_ticket(pp, x);
    parx__procs_queued_unlock(pp, 1);
    return 0;
}

PARX_API int parx_procs_submit(parx_procs *pp, parx_job_fn fn, void *arg, parx_ticket *t)
{
    if (!pp || !fn || !t) return -EINVAL;
    uint64_t off = parx__procs_arg_off(pp, arg);
    if (arg && off == PARX_ARENA_NO_OFFSET) return -EFAULT;
    return parx__procs_submit_off(pp, fn, off, NULL, t);
}

/* Wait until slot x is DONE: poll for spin_ns, then sleep on its state word. */
static void parx__procs_wait_slot(parx_procs *pp, uint32_t x)
{
    _Atomic uint32_t *st = &pp->jobs[x].state;
    uint64_t t0 = parx__now_ns();
    for (unsigned i = 1;; i++) {
        /* acquire: pairs with parx__procs_finish's release; the results are then ours */
        if (PARX__J_PHASE(atomic_load_explicit(st, memory_order_acquire)) == PARX__J_DONE) return;
        if ((i & 31) == 0 && parx__procs_stop_polling(pp, t0)) break;
        parx__cpu_relax();
    }
    for (;;) {
        uint32_t s = atomic_load_explicit(st, memory_order_acquire);
        if (PARX__J_PHASE(s) == PARX__J_DONE) return;
        /* relaxed: the bit only asks for a futex wake; DONE is read with acquire above */
        if (!(s & PARX__J_WAITER) &&
            !atomic_compare_exchange_weak_explicit(st, &s, s | PARX__J_WAITER,
                                                   memory_order_relaxed, memory_order_relaxed))
            continue;
        parx__futex_wait_shared(st, s | PARX__J_WAITER, -1);
    }
}

PARX_API int parx_procs_wait(parx_procs *pp, parx_ticket t, parx_job_result *r)
{
    if (!pp) return -EINVAL;
    int foreign = parx__procs_foreign(pp); /* a job of this pool, or a fork()ed copy */
    if (foreign) return foreign;
    uint32_t x;
    uint64_t gen;
    uint32_t tag = parx__procs_ticket_parse(pp, t, &x, &gen);
    pthread_mutex_lock(&pp->lock);
    /* relaxed: FREE is set by the caller side, under this lock */
    bool ok = tag == pp->tag && x < pp->ctl->nslots && gen && pp->gen[x] == gen &&
              pp->waited[x] == PARX__W_NONE &&
              PARX__J_PHASE(atomic_load_explicit(&pp->jobs[x].state, memory_order_relaxed)) !=
                  PARX__J_FREE;
    if (ok) {
        pp->waited[x] = PARX__W_WAITER;
        pp->owner[x] = pthread_self();
    }
    pthread_mutex_unlock(&pp->lock);
    if (!ok) return -EINVAL;
    parx__procs_wait_slot(pp, x);
    pthread_mutex_lock(&pp->lock);
    parx__procs_collect_locked(pp, x, r);
    pthread_mutex_unlock(&pp->lock);
    return 0;
}

/* Call a map's progress callback, its pending slots marked PARX__W_CALLBACK
   meanwhile (see parx__procs_slot_locked): a submit of another thread that
   waits for a slot to be collected, one of these among them, looks again. */
static void parx__procs_progress(parx_procs *pp, const parx_map_desc *md, const uint32_t *slot,
                                 const size_t *pend, size_t npend, size_t done, size_t n)
{
    pthread_mutex_lock(&pp->lock);
    for (size_t k = 0; k < npend; k++) pp->waited[slot[pend[k]]] = PARX__W_CALLBACK;
    if (npend && pp->slot_waiters) pthread_cond_broadcast(&pp->slot_freed);
    pthread_mutex_unlock(&pp->lock);
    md->progress(done, n, md->user);
    pthread_mutex_lock(&pp->lock);
    for (size_t k = 0; k < npend; k++) pp->waited[slot[pend[k]]] = PARX__W_WAITER;
    pthread_mutex_unlock(&pp->lock);
}

PARX_API int parx_procs_map_ex(parx_procs *pp, parx_job_fn fn, void **args, size_t n,
                               parx_job_result *r, const parx_map_desc *md)
{
    if (!pp || !fn || (!args && n) || (!r && n)) return -EINVAL;
    int foreign = parx__procs_foreign(pp); /* a job of this pool, or a fork()ed copy */
    if (foreign) return foreign;
    for (size_t i = 0; i < n; i++)
        if (args[i] && parx__procs_arg_off(pp, args[i]) == PARX_ARENA_NO_OFFSET) return -EFAULT;
    if (n == 0) return 0;
    size_t *order = (size_t *)malloc(n * sizeof *order);
    size_t *pend = (size_t *)malloc(n * sizeof *pend);
    uint32_t *slot = (uint32_t *)malloc(n * sizeof *slot);
    if (!order || !pend || !slot) {
        free(order);
        free(pend);
        free(slot);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) order[i] = i;
    if (md && md->cost) /* the hints only read (through uintptr_t: qsort_r's ctx is not const) */
        qsort_r(order, n, sizeof *order, parx__cost_cmp, (void *)(uintptr_t)md->cost);

    uint32_t id = 0;
    int rc = parx__procs_fn_id(pp, fn, &id);
    size_t next = 0, npend = 0, ndone = 0;
    int failed = 0;
    while (rc == 0 && ndone < n) {
        /* Queue as many as there are free slots, under one lock. */
        uint32_t pushed = 0;
        size_t before = ndone; /* results of this round, the broken pool's included */
        pthread_mutex_lock(&pp->lock);
        if (atomic_load_explicit(&pp->broken, memory_order_relaxed) && next < n) {
            for (; next < n; next++) { /* never to run: report them, do not hang */
                size_t i = order[next];
                memset(&r[i], 0, sizeof r[i]);
                r[i].status = PARX_E_PROCS_BROKEN;
                failed++;
                ndone++;
            }
        }
        if (next < n && pp->nfree == 0 && npend == 0) rc = parx__procs_slot_locked(pp);
        if (rc == PARX_E_PROCS_BROKEN) { /* broke while we waited: the next round fails the rest */
            rc = 0;
            pthread_mutex_unlock(&pp->lock);
            continue;
        }
        while (rc == 0 && next < n && pp->nfree > 0) {
            size_t i = order[next++];
            slot[i] = parx__procs_enqueue_locked(pp, id, parx__procs_arg_off(pp, args[i]), NULL);
            pp->waited[slot[i]] = PARX__W_WAITER;
            pp->owner[slot[i]] = pthread_self();
            pend[npend++] = i;
            pushed++;
        }
        parx__procs_queued_unlock(pp, pushed);

        /* Take every result that is in, under one lock. acquire (the count,
           read first): pairs with finish's count, so a job it counts is seen
           DONE below, and one that is not moves it past base for wait_done.
           seq_cst (done_seq, read before the scan too): a job seen not DONE
           whose worker dies before it counts it moves done_seq past seq
           (see parx__procs_wait_done) */
        uint64_t base = atomic_load_explicit(&pp->ctl->done_total, memory_order_acquire);
        uint32_t seq = atomic_load_explicit(&pp->ctl->done_seq, memory_order_seq_cst);
        size_t kept = 0;
        pthread_mutex_lock(&pp->lock);
        for (size_t k = 0; k < npend; k++) {
            size_t i = pend[k];
            /* acquire: pairs with parx__procs_finish's release: the result is ours */
            uint32_t s = atomic_load_explicit(&pp->jobs[slot[i]].state, memory_order_acquire);
            if (PARX__J_PHASE(s) == PARX__J_DONE) {
                failed += parx__procs_collect_locked(pp, slot[i], &r[i]) != 0;
                ndone++;
            } else {
                pend[kept++] = i;
            }
        }
        npend = kept;
        pthread_mutex_unlock(&pp->lock);
        if (ndone > before) {
            if (md && md->progress) parx__procs_progress(pp, md, slot, pend, npend, ndone, n);
            continue;
        }
        if (npend) parx__procs_wait_done(pp, base + (npend + 1) / 2, seq);
    }
    /* A submit error ended the map (with nothing of ours pending): the jobs
       that never ran say so in their results, as the ones that ran say how */
    for (; rc < 0 && next < n; next++) {
        size_t i = order[next];
        memset(&r[i], 0, sizeof r[i]);
        r[i].status = rc;
    }
    free(order);
    free(pend);
    free(slot);
    return rc < 0 ? rc : failed;
}

PARX_API int parx_procs_map(parx_procs *pp, parx_job_fn fn, void **args, size_t n,
                            parx_job_result *r)
{
    return parx_procs_map_ex(pp, fn, args, n, r, NULL);
}

PARX_API parx_arena *parx_procs_arena(parx_procs *pp)
{
    if (pp) return pp->arena;
    errno = EINVAL;
    return NULL;
}

PARX_API int parx_procs_size(const parx_procs *pp) { return pp ? pp->nworkers : -EINVAL; }

PARX_API int parx_procs_stats(const parx_procs *pp, parx_procs_info *out)
{
    if (!pp || !out) return -EINVAL;
    memset(out, 0, sizeof *out);
    out->workers = pp->nworkers;
    out->server_pid = (int)pp->server_pid;
    out->started = atomic_load_explicit(&pp->started, memory_order_relaxed);
    out->crashed = atomic_load_explicit(&pp->crashed, memory_order_relaxed);
    out->timed_out = atomic_load_explicit(&pp->timed_out, memory_order_relaxed);
    out->retried = atomic_load_explicit(&pp->retried, memory_order_relaxed);
    return 0;
}

PARX_API int parx_procs_pids(const parx_procs *pp, int *pids, int n)
{
    if (!pp || n < 0 || (!pids && n > 0)) return -EINVAL;
    for (int w = 0; w < pp->nworkers && w < n; w++)
        pids[w] = atomic_load_explicit(&pp->workers[w].pid, memory_order_relaxed);
    return pp->nworkers;
}

#endif /* PARX_NO_PROC */

#ifndef PARX_NO_PREFETCH
/* -------------------------------------------------------------------------- */
/* >>prefetch: read-ahead on io_uring or reader threads                        */
/* -------------------------------------------------------------------------- */
/* The prefetcher owns .depth buffers. Each buffer (a slot) goes round
       FREE -> [QUEUED ->] BUSY -> READY -> HELD -> FREE
   FREE: unused; QUEUED: a chunk is assigned, waiting for a reader thread
   (thread backend only); BUSY: being read; READY: read, waiting for its turn;
   HELD: handed to the caller. Shortcuts: FREE -> READY for a chunk with
   nothing left to read (empty, or a character device's, read at once on
   io_uring); BUSY -> QUEUED when a read stops early (the consumer's
   page-cache-only read, or a reader's at close); READY -> FREE for a chunk
   that next skips or reports as an error, not handed out. Chunks get
   consecutive sequence numbers when they are assigned, and
   parx_prefetch_next hands them out in that order, so whatever order
   reads finish in, the caller sees file order.
   Who touches what: the consumer (the caller of next/release, one at a
   time) owns the cursor, the file table and every slot that is FREE, READY
   or HELD; whoever took a QUEUED slot owns it while BUSY: a reader thread,
   or the consumer itself, which reads a waiting chunk rather than sleep
   until a reader gets to it. In the thread backend every change of state
   happens under pf->mu, which is what hands a slot's fields from one side
   to the other. The io_uring backend has no
   threads of its own: the consumer submits and reaps, and the kernel's
   workers do the reads.
   A chunk is read by up to three sub-reads: with .direct, the 4 KiB-aligned
   middle through the O_DIRECT descriptor, an unaligned head or tail through
   the buffered one. A short read continues where it stopped (buffered if the
   rest is no longer aligned); a read that returns 0 is the end of the file,
   which ends the chunk there, so a file truncated while it is read ends
   where a read first meets the cut: the chunks of its file or range after
   that one are skipped (pf->cut_item), empty or not (a read that finished
   before it did). Chunks whose reads came before the cut are delivered as
   read. */

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#ifndef PARX_NO_URING
#include <liburing.h>
#endif
/* .arena placement needs parx_shm.h. With the process pool it is here
   already; with PARX_NO_PROC only if the program included it before this
   implementation (parx.c does), so that parx.h can stand alone there, and
   .arena gives -EOPNOTSUPP without it. Included again: with
   PARX_IMPLEMENTATION that emits its definitions too. */
#if !defined(PARX_NO_PROC) || defined(PARX_SHM_H_INCLUDED)
#define PARX__PF_ARENA 1
#include "parx_shm.h"
#else
#define PARX__PF_ARENA 0
#endif

#define PARX__IO_ALIGN ((uint64_t)4096) /* O_DIRECT alignment: any logical block size up to 4 KiB */
#define PARX__IO_MAX_DEPTH 1024
#define PARX__IO_MAX_CHUNK ((size_t)1 << 30) /* io_uring lengths are 32-bit */
#define PARX__IO_MAX_OFF   ((uint64_t)INT64_MAX) /* off_t: no file holds a byte at or past it */
#define PARX__IO_WHY 200
#define PARX__PF_SPIN 2000 /* polls (pause instructions) of an idle reader, or of a waiting
                              consumer, before it sleeps: tens of microseconds */
#define PARX__IO_HUGE ((size_t)2 << 20) /* a transparent huge page on x86-64 and arm64 (4K) */

/* ---- shared by the prefetcher and the writer ----------------------------- */

/* open(2), O_CLOEXEC, never blocking on a FIFO: opening one blocks until
   its other end is opened (forever, for a FIFO in a file list), so every
   file is opened O_NONBLOCK and O_NONBLOCK is cleared once it is open (a
   FIFO opened for writing with no reader fails with -ENXIO; the prefetcher
   sets it again on a character device, see parx__pf_file_ref). O_NONBLOCK
   also makes the open of a file with a conflicting lease fail with
   EWOULDBLOCK instead of breaking the lease: that one is opened again,
   blocking. Returns the descriptor or -errno. */
static int parx__io_open(const char *path, int flags, unsigned mode)
{
    int fd, nonblock = O_NONBLOCK;
    for (;;) {
        fd = open(path, flags | O_CLOEXEC | nonblock, (mode_t)mode);
        if (fd >= 0 || errno == EINTR) {
            if (fd >= 0) break;
            continue;
        }
        if (errno != EWOULDBLOCK || !nonblock) return -errno;
        nonblock = 0; /* a lease: wait for it to be broken */
    }
    /* 3 or above: in a program started with its standard streams closed,
       a printf must not land on a file being written */
    fd = parx__fd_above_stdio(fd);
    if (fd < 0) return -errno;
    int fl = nonblock ? fcntl(fd, F_GETFL) : 0;
    if (nonblock && (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

/* Start a thread with every signal blocked, so the program's signal
   handlers keep running on the program's own threads. */
static int parx__io_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0) pthread_setname_np(*t, "parx-io");
    return -rc;
}

/* A read or write that came back EAGAIN from a blocking descriptor -- a
   FUSE or network file system may answer so for as long as it likes -- is
   tried again after a pause that doubles each time, from 10 us to about
   10 ms: a file system that keeps saying it costs next to no CPU, and
   nothing is dropped. `tries`: the EAGAINs in a row so far (0 after
   progress). Returns tries + 1. */
static unsigned parx__io_backoff(unsigned tries)
{
    long ns = 10000L << (tries < 10 ? tries : 10);
    /* To an absolute time: nanosleep's remainder after a signal counts the
       timer slack (50 us) in, so a program whose signals come that often
       would sleep again for as long or longer each time, for ever. */
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_nsec += ns;
    if (end.tv_nsec >= 1000000000L) end.tv_sec++, end.tv_nsec -= 1000000000L;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end, NULL) == EINTR) {
    }
    return tries + 1;
}

/* Any answer that is tried again: EAGAIN pauses at once (above); EINTR and
   ECANCELED (a signal; the exit of a thread that submitted the request)
   are tried again at once, PARX__IO_QUICK times in a row, and then paused
   the same way, so that a source that gives them for ever (a FUSE server,
   a seccomp filter) is not spun on. `tries`: such answers in a row so far
   (0 after progress); `err`: this one's errno. Returns tries + 1. */
enum { PARX__IO_QUICK = 8 };
static unsigned parx__io_retry(unsigned tries, int err)
{
    if (err == EAGAIN) return parx__io_backoff(tries);
    if (tries < PARX__IO_QUICK) return tries + 1;
    parx__io_backoff(tries - PARX__IO_QUICK);
    return tries + 1;
}

#ifndef PARX_NO_URING
/* ThreadSanitizer does not see the rings: liburing maps and unmaps them with
   raw system calls, not libc's mmap. When one thread's ring is unmapped and
   another thread's new ring lands at the same address, TSan takes the new
   owner's first SQE writes for a race with the old owner's last ones. What
   orders them is the kernel (munmap before mmap); under TSan (only) that
   order is told to it: every ring's teardown releases one sync object and
   every ring's setup acquires it. */
#if defined(__SANITIZE_THREAD__)
#define PARX__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PARX__TSAN 1
#endif
#endif
#ifdef PARX__TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
static char parx__tsan_rings;
#endif

/* The opcode probe's registration: io_uring_register_probe, or in
   tests/uring_probe.c a function that fails it as a kernel without probes
   (-EINVAL) or a system out of memory (-ENOMEM) would. Tests only. */
#ifndef PARX__URING_REGISTER_PROBE
#define PARX__URING_REGISTER_PROBE io_uring_register_probe
#endif

static void parx__uring_fresh(struct io_uring *ring)
{
    (void)ring;
#ifdef PARX__TSAN
    __tsan_acquire(&parx__tsan_rings);
#endif
}

static void parx__uring_exit(struct io_uring *ring)
{
#ifdef PARX__TSAN
    __tsan_release(&parx__tsan_rings);
#endif
    io_uring_queue_exit(ring);
}

/* io_uring_wait_cqe, with EINTR tried again as parx__io_retry says (a
   signal; a seccomp filter may say it for ever). Returns its result. */
static int parx__uring_wait(struct io_uring *ring, struct io_uring_cqe **cqe)
{
    int rc;
    unsigned intr = 0;
    while ((rc = io_uring_wait_cqe(ring, cqe)) == -EINTR)
        intr = parx__io_retry(intr, EINTR);
    return rc;
}

/* Set up a ring of `entries` that can do `op`. Setup flags newer than the
   kernel are tried first and dropped on EINVAL (liburing 2.3 has no version
   macros: the headers say what exists at compile time, the kernel what
   exists at run time). Returns 0, or -errno with `why` saying what failed. */
static int parx__uring_setup(struct io_uring *ring, unsigned entries, int op, char *why, size_t n)
{
    unsigned tries[2];
    int ntries = 0;
#if defined(IORING_SETUP_COOP_TASKRUN) && defined(IORING_SETUP_SUBMIT_ALL)
    /* COOP_TASKRUN: completions are processed when we enter the kernel to
       wait anyway, not by interrupting the computing thread. */
    tries[ntries++] = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL;
#endif
    tries[ntries++] = 0;
    int rc = -ENOSYS;
    for (int i = 0; i < ntries; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = tries[i];
        rc = io_uring_queue_init_params(entries, ring, &p);
        if (rc != -EINVAL) break;
    }
    if (rc < 0) {
        snprintf(why, n, "threads: io_uring_setup failed: %s%s", parx_strerror(rc),
                 rc == -EPERM ? " (refused by seccomp or kernel.io_uring_disabled)" : "");
        return rc;
    }
    parx__uring_fresh(ring);
    /* The ring's descriptor goes above 0-2 as well (io_uring_setup takes the
       lowest free number), where a printf of a program started with its
       standard streams closed would land. The mappings hold the ring, not
       the number: a duplicate serves, put where liburing keeps it, ring_fd
       and, from liburing 2.2 on, enter_ring_fd, the descriptor
       io_uring_enter is given (the same until a ring's descriptor is
       registered, which parx never does). 2.2 is told by a macro it brought
       with it, io_uring_cqe_shift; the NOP below proves the ring either way
       (if it cannot be entered, the thread backend takes over). */
    if (ring->ring_fd <= 2) {
        /* -1 if it failed: the old one is closed, and exit must not close it again */
        ring->ring_fd = parx__fd_above_stdio(ring->ring_fd);
#ifdef io_uring_cqe_shift
        ring->enter_ring_fd = ring->ring_fd;
#endif
        if (ring->ring_fd < 0) {
            rc = -errno;
            parx__uring_exit(ring);
            snprintf(why, n, "threads: io_uring's descriptor could not be moved above 2: %s",
                     parx_strerror(rc));
            return rc;
        }
    }
    /* The probe is ours to allocate (liburing's io_uring_get_probe_ring
       says NULL alike for its malloc failing and for a kernel without
       probes): out of memory is -ENOMEM, not a kernel that cannot read. */
    const unsigned nops = 256;
    struct io_uring_probe *probe = (struct io_uring_probe *)calloc(
        1, sizeof *probe + nops * sizeof probe->ops[0]);
    rc = probe ? PARX__URING_REGISTER_PROBE(ring, probe, nops) : -ENOMEM;
    /* EINVAL: a kernel before 5.6, without probes (nor the read opcode) */
    bool ok = rc >= 0 && io_uring_opcode_supported(probe, op);
    free(probe);
    if (!ok) {
        parx__uring_exit(ring);
        if (rc < 0 && rc != -EINVAL) {
            snprintf(why, n, "threads: io_uring's opcode probe failed: %s", parx_strerror(rc));
            return rc;
        }
        snprintf(why, n, "threads: this kernel's io_uring cannot %s files",
                 op == IORING_OP_READ ? "read" : "write");
        return -EOPNOTSUPP;
    }
    /* A ring can be set up (and probed: that is io_uring_register) while
       io_uring_enter is refused -- a seccomp filter that denies it alone --
       and then every submission would fail. One NOP, submitted and waited
       for, proves the ring works before it is chosen. A NOP completes as
       it is submitted, so a few tries are plenty; they are counted, as a
       filter may also answer io_uring_enter with 0 (nothing done) or EINTR
       for ever, and liburing's own wait would then call it for ever. */
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    PARX_ASSERT(sqe != NULL); /* a fresh ring */
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data(sqe, NULL);
    struct io_uring_cqe *cqe = NULL;
    for (int attempt = 0; attempt < 100; attempt++) {
        /* the first call submits the NOP (a later one too, if the kernel
           took nothing), then each waits for its completion */
        rc = io_uring_submit_and_wait(ring, 1);
        if (io_uring_peek_cqe(ring, &cqe) == 0 || (rc < 0 && rc != -EINTR)) break;
        cqe = NULL;
    }
    if (cqe) {
        rc = cqe->res;
        io_uring_cqe_seen(ring, cqe);
        if (rc < 0) {
            parx__uring_exit(ring);
            snprintf(why, n, "threads: io_uring's test NOP failed: %s", parx_strerror(rc));
            return rc;
        }
        return 0;
    }
    parx__uring_exit(ring);
    if (rc >= 0 || rc == -EINTR) {
        /* answered 0 or EINTR every time: the ring makes no progress */
        snprintf(why, n, "threads: io_uring_enter %s 100 times, the test NOP never completed",
                 rc == -EINTR ? "was interrupted" : "did nothing");
        return -EIO;
    }
    snprintf(why, n, "threads: io_uring_enter failed: %s%s", parx_strerror(rc),
             rc == -EPERM ? " (refused by seccomp)" : "");
    return rc;
}
#endif

/* Decide the backend for `want`. Returns PARX_IO_URING (with *ring set up),
   PARX_IO_THREADS, or a negative error when io_uring was demanded and cannot
   be had. `why` gets the reason either way; a fallback is logged. */
static int parx__io_choose(parx_io_backend want, void *ring, unsigned entries, bool write,
                           char *why, size_t n)
{
    if (want == PARX_IO_THREADS) {
        snprintf(why, n, "threads: asked for");
        return PARX_IO_THREADS;
    }
#ifdef PARX_NO_URING
    (void)ring;
    (void)entries;
    (void)write;
    snprintf(why, n, "threads: built with PARX_NO_URING");
    if (want == PARX_IO_URING) return -EOPNOTSUPP;
    return PARX_IO_THREADS;
#else
    int rc = parx__uring_setup((struct io_uring *)ring, entries,
                               write ? IORING_OP_WRITE : IORING_OP_READ, why, n);
    if (rc == 0) {
        snprintf(why, n, "io_uring: %s",
                 want == PARX_IO_URING ? "asked for" : "the kernel allows it");
        return PARX_IO_URING;
    }
    if (want == PARX_IO_URING) return rc;
    char msg[PARX__IO_WHY + 64];
    snprintf(msg, sizeof msg, "%s: %s; using the thread backend",
             write ? "parx_writer" : "parx_prefetch", why + strlen("threads: "));
    parx__log(PARX_LOG_INFO, msg); /* at open: no lock is held */
    return PARX_IO_THREADS;
#endif
}

/* ---- the prefetcher ------------------------------------------------------- */

enum { PARX__PF_FREE, PARX__PF_QUEUED, PARX__PF_BUSY, PARX__PF_READY, PARX__PF_HELD };

struct parx__pf_slot;

typedef struct parx__pf_sub {
    struct parx__pf_slot *slot;
    unsigned char *buf; /* where the next byte goes */
    uint64_t off;       /* the file offset of that byte */
    size_t len;         /* bytes still to read */
    bool direct;        /* through the O_DIRECT descriptor */
    unsigned again;     /* answers tried again, in a row (parx__io_retry) */
} parx__pf_sub;

typedef struct parx__pf_slot {
    unsigned char *base; /* the buffer, 4 KiB aligned */
    unsigned char *data; /* where the chunk starts: base, or base + off % 4 KiB with .direct */
    int index;           /* in pf->slots (the registered buffer's index) */
    int state;
    uint64_t seq;        /* sequence number of its chunk */
    uint64_t delivered;  /* HELD: the chunk's parx_chunk.index (release checks it) */
    size_t item;         /* the file (whole files) or range it is a chunk of */
    uint32_t file;
    uint64_t off, end;   /* the chunk is [off, end); end drops to an end of file met */
    bool eof;            /* a read met the end of the file: nothing of the item lies beyond */
    int fd, dfd;         /* the file's descriptors (the file table owns them) */
    int err;             /* first error of its reads */
    bool open_failed;    /* err is the file's open error */
    bool direct_refused; /* a read with O_DIRECT failed with EINVAL or EOPNOTSUPP: the file
                            is read buffered */
    bool nonblock;       /* its file is read O_NONBLOCK (parx__pf_file.nonblock) */
    int pending;         /* sub-reads not finished */
    int nsub;
    parx__pf_sub sub[3];
} parx__pf_slot;

typedef struct parx__pf_file {
    int fd, dfd;     /* -1 when closed; dfd -1 also without O_DIRECT */
    int refs;        /* the cursor and slots that use fd */
    uint64_t size;   /* at open; UINT64_MAX: unknown, read until a read returns 0 */
    bool sized;      /* size is known (a regular file or a block device): ranges end there */
    bool stream;     /* no offsets (a pipe, FIFO, socket or terminal): its chunk is -ESPIPE */
    bool nonblock;   /* a character device, read O_NONBLOCK: EAGAIN is its chunk's error */
    int open_err;    /* the error of the last open */
    bool no_direct;  /* O_DIRECT refused: read it buffered */
    bool no_nowait;  /* RWF_NOWAIT refused by its file system: the consumer does not help
                        with its chunks (consumer) */
} parx__pf_file;

struct parx_prefetch {
    parx_prefetch_desc d;   /* defaults applied; paths and ranges point at our copies */
    char **paths;
    parx_io_range *ranges;
    bool by_range;          /* desc.ranges was given (even with nranges 0): read only ranges */
    parx__pf_file *files;
    parx__pf_slot *slots;
    size_t bufsize;
    unsigned char *region;  /* the buffers, without .arena: one mapping of region_len bytes */
    size_t region_len;
    bool region_huge;       /* the region is 2 MiB aligned and advised MADV_HUGEPAGE */
    int backend;
    char why[PARX__IO_WHY];
    char *errmsg;           /* the sentence of parx_prefetch_error, or NULL: then errshort */
    char errshort[PARX__IO_WHY + 64]; /* the sentence, its path cut short, where no memory
                                         could be had for errmsg */
    int sticky;             /* the error next() returned: returned again */
    unsigned fork_gen;      /* parx__fork_gen at open: a fork() child's copy is refused */
    /* the cursor: the next chunk to assign */
    size_t cur_item;        /* a file (whole files) or a range */
    uint64_t cur_pos;       /* offset within the item */
    bool cur_ref;           /* the cursor holds a reference on the item's file */
    bool cur_done;          /* no more chunks: the end, or an open failed */
    size_t cut_item;        /* the last item a read found cut short (its file ended early), or
                               SIZE_MAX: its later chunks are not delivered (consumer) */
    uint64_t next_seq, deliver_seq, delivered;
#ifndef PARX_NO_URING
    struct io_uring ring;
    int inflight;           /* sub-reads submitted and not yet reaped */
    int unsubmitted;        /* sub-reads queued in the SQ, not yet submitted */
    bool registered;
#endif
    /* thread backend */
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    pthread_t *threads;
    int nthreads;
    bool sync_ready;        /* mu, work and done are initialised */
    atomic_int queued;      /* slots QUEUED (changed under mu; atomic so a reader may poll it) */
    bool polling;           /* a reader polls for work before it sleeps (mu) */
    atomic_int readied;     /* slots made READY, ever (wraps): polled by the consumer */
    bool stop;
};

static parx_prefetch_desc parx__prefetch_desc_defaults(const parx_prefetch_desc *in)
{
    parx_prefetch_desc d = *in;
    if (d.chunk_size == 0) d.chunk_size = (size_t)1 << 20;
    if (d.direct)
        d.chunk_size = (d.chunk_size + PARX__IO_ALIGN - 1) & ~(size_t)(PARX__IO_ALIGN - 1);
    if (d.depth == 0) d.depth = 4;
    if (d.threads == 0) d.threads = d.direct ? (d.depth < 4 ? d.depth : 4) : 1;
    return d;
}

static void parx__pf_lock(parx_prefetch *pf)
{
    if (pf->backend == PARX_IO_THREADS) pthread_mutex_lock(&pf->mu);
}

static void parx__pf_unlock(parx_prefetch *pf)
{
    if (pf->backend == PARX_IO_THREADS) pthread_mutex_unlock(&pf->mu);
}

/* The sentence for parx_prefetch_error. Where no memory can be had for it
   (a path can be long), it goes into pf->errshort, the path cut to what
   fits, so that parx_prefetch_error always has one. */
static void parx__pf_set_errmsg(parx_prefetch *pf, const char *what, const char *path, int err)
{
    const char *reason = parx_strerror(err);
    size_t n = strlen(what) + strlen(path) + strlen(reason) + 16;
    char *m = (char *)malloc(n);
    free(pf->errmsg);
    pf->errmsg = m;
    if (m) {
        snprintf(m, n, "%s '%s': %s", what, path, reason);
        return;
    }
    size_t used = strlen(what) + strlen(reason) + 16; /* quotes, "...", ": ", NUL */
    int room = used < sizeof pf->errshort ? (int)(sizeof pf->errshort - used) : 0;
    snprintf(pf->errshort, sizeof pf->errshort, "%s '%.*s%s': %s", what, room, path,
             strlen(path) > (size_t)room ? "..." : "", reason);
}

/* An INFO line about one of the files (the consumer's thread, no lock held). */
__attribute__((__format__(__printf__, 1, 2))) static void parx__pf_info(const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    parx__log(PARX_LOG_INFO, msg);
}

/* A FUSE file system may take O_DIRECT at open and refuse every read
   through it (EOPNOTSUPP, or EINVAL). pread says so, and the reader falls
   back to buffered reads (direct_refused); io_uring does not: it takes
   EOPNOTSUPP from its nonblocking attempt for "try again", polls the file,
   which FUSE answers at once, and tries again for ever. So on FUSE one
   aligned block is read here, once per file, before any read goes out.
   Elsewhere a refusal comes at open (EINVAL), and nothing is read twice. */
#define PARX__FUSE_MAGIC 0x65735546 /* "FUSE" read as little-endian, statfs's f_type */
static bool parx__pf_direct_reads_refused(int dfd)
{
    struct statfs sf;
    if (fstatfs(dfd, &sf) != 0 || sf.f_type != PARX__FUSE_MAGIC) return false;
    _Alignas(4096) unsigned char block[4096]; /* PARX__IO_ALIGN */
    ssize_t n;
    unsigned tries = 0;
    while ((n = pread(dfd, block, sizeof block, 0)) < 0 && errno == EINTR)
        tries = parx__io_retry(tries, EINTR);
    return n < 0 && (errno == EOPNOTSUPP || errno == EINVAL);
}

/* A file system whose files say size 0 whatever they hold (their contents
   are made as they are read): procfs, sysfs, debugfs, tracefs, configfs,
   securityfs, cgroup and cgroup2, by statfs's f_type (linux/magic.h). */
static bool parx__pf_sizeless_fs(int fd)
{
    static const unsigned long magic[] = {0x9fa0,     0x62656572, 0x64626720, 0x74726163,
                                          0x62656570, 0x73636673, 0x27e0eb,   0x63677270};
    struct statfs sf;
    if (fstatfs(fd, &sf) != 0) return false;
    for (size_t i = 0; i < sizeof magic / sizeof *magic; i++)
        if ((unsigned long)sf.f_type == magic[i]) return true;
    return false;
}

#ifndef PARX__PF_OPEN /* a test hook (tests/prefetch_replace.c), parx__io_open otherwise */
#define PARX__PF_OPEN parx__io_open
#endif

/* Whether err, the O_DIRECT open's error, says that the path no longer
   leads to a file since the buffered open of it: removed (ENOENT), a
   directory on it replaced by a file (ENOTDIR), or it, or a directory on
   it, replaced by a symbolic link that loops (ELOOP) or resolves too far
   (ENAMETOOLONG), or by a socket (ENXIO). */
static bool parx__pf_path_gone(int err)
{
    return err == -ENOENT || err == -ENOTDIR || err == -ELOOP || err == -ENAMETOOLONG ||
           err == -ENXIO;
}

/* Take a reference on file f, opening it on the first. Returns 0, or
   (the file left closed, the error kept as its open_err) the errno of
   open, -EISDIR, the errno of fstat or of fcntl (a character device's
   O_NONBLOCK), or the errno of the O_DIRECT open when it is no refusal of
   O_DIRECT (EMFILE, say). Consumer only. */
static int parx__pf_file_ref(parx_prefetch *pf, uint32_t f)
{
    parx__pf_file *fl = &pf->files[f];
    if (fl->refs++ > 0) return 0;
    fl->nonblock = false; /* what the path is now decides (a character device, below) */
    int fd = PARX__PF_OPEN(pf->paths[f], O_RDONLY, 0);
    struct stat st;
    if (fd >= 0) {
        if (fstat(fd, &st) != 0) {
            int e = -errno;
            close(fd);
            fd = e;
        } else if (S_ISDIR(st.st_mode)) {
            close(fd);
            fd = -EISDIR;
        } else if (S_ISREG(st.st_mode) && (st.st_size > 0 || !parx__pf_sizeless_fs(fd))) {
            fl->size = (uint64_t)st.st_size;
            fl->sized = true;
            fl->stream = false;
        } else if (S_ISREG(st.st_mode)) {
            /* Size 0 on procfs, sysfs and the like says nothing of what a
               read returns: read until a read returns 0. (An empty file
               elsewhere is known empty without a read, so holding every
               buffer just before it is the end, not -EBUSY.) */
            fl->size = UINT64_MAX;
            fl->sized = false;
            fl->stream = false;
        } else { /* a block device: its size; a pipe or a socket cannot be read at offsets */
            off_t end = lseek(fd, 0, SEEK_END);
            fl->stream = end < 0 && errno == ESPIPE;
            /* a stream gets one chunk, whose preparation makes it -ESPIPE */
            fl->size = fl->stream ? UINT64_MAX : end > 0 ? (uint64_t)end : 0;
            fl->sized = S_ISBLK(st.st_mode);
            /* A character device may make a read wait for data that never
               comes (/dev/kmsg at its end, where SEEK_END leaves it, an
               input device), and then neither next() nor close() could
               end it: pread cannot be interrupted, nor can such an
               io_uring read be waited for. It keeps O_NONBLOCK, so that
               such a read fails with EAGAIN instead: that chunk's error. */
            fl->nonblock = S_ISCHR(st.st_mode) && !fl->stream;
            int fdfl = fl->nonblock ? fcntl(fd, F_GETFL) : 0;
            if (fl->nonblock && (fdfl < 0 || fcntl(fd, F_SETFL, fdfl | O_NONBLOCK) != 0)) {
                int e = -errno;
                close(fd);
                fd = e;
            }
        }
    }
    if (fd < 0) {
        fl->refs--;
        fl->open_err = fd;
        return fd;
    }
    fl->fd = fd;
    fl->dfd = -1;
    if (pf->d.direct && !fl->no_direct && !fl->nonblock) { /* no page cache to bypass */
        /* The O_DIRECT descriptor is a second open of the path. If a file
           was renamed over the path in between (as programs publish their
           files), it is another file, and each chunk would mix the two:
           its aligned middle from one, its head and tail from the other.
           Such a descriptor is dropped, and the file opened first is read
           buffered (this time: the next open of it tries O_DIRECT again). */
        int dfd = PARX__PF_OPEN(pf->paths[f], O_RDONLY | O_DIRECT, 0);
        struct stat dst;
        if (dfd >= 0 &&
            (fstat(dfd, &dst) != 0 || dst.st_dev != st.st_dev || dst.st_ino != st.st_ino)) {
            close(dfd);
            parx__pf_info(
                "parx_prefetch: '%.200s' was replaced while it was opened; reading the file "
                "opened first buffered",
                pf->paths[f]);
        } else if (dfd >= 0 && parx__pf_direct_reads_refused(dfd)) {
            close(dfd);
            fl->no_direct = true;
            parx__pf_info("parx_prefetch: O_DIRECT reads refused for '%.200s'; reading it buffered",
                          pf->paths[f]);
        } else if (dfd >= 0) {
            fl->dfd = dfd;
        } else if (dfd != -EINVAL && dfd != -EOPNOTSUPP && !parx__pf_path_gone(dfd)) {
            /* Not a refusal of O_DIRECT: out of descriptors (EMFILE,
               ENFILE) or memory, say. Reading the file buffered would
               hide it: it is the file's open error, in its turn. */
            close(fd);
            fl->fd = -1;
            fl->refs--;
            fl->open_err = dfd;
            return dfd;
        } else if (parx__pf_path_gone(dfd)) {
            /* the path no longer leads to the file opened first: read
               that file, buffered, this time (as one replaced, above) */
            parx__pf_info("parx_prefetch: '%.200s' was removed while it was opened (%s); reading "
                          "the file opened first buffered",
                          pf->paths[f], parx_strerror(dfd));
        } else { /* EINVAL (open(2): the file system does not support O_DIRECT) */
            fl->no_direct = true;
            parx__pf_info("parx_prefetch: O_DIRECT refused for '%.200s' (%s); reading it buffered",
                          pf->paths[f], parx_strerror(dfd));
        }
    }
    return 0;
}

static void parx__pf_file_unref(parx_prefetch *pf, uint32_t f)
{
    parx__pf_file *fl = &pf->files[f];
    PARX_ASSERT(fl->refs > 0);
    if (--fl->refs > 0) return;
    /* forgotten before closed: a fork() between the two then leaves the
       child a descriptor it does not know of (O_CLOEXEC, gone at its exec
       or exit), never a number it would close after reusing it */
    int fd = fl->fd, dfd = fl->dfd;
    fl->fd = fl->dfd = -1;
    close(fd);
    if (dfd >= 0) close(dfd);
}

static size_t parx__pf_nitems(const parx_prefetch *pf)
{
    return pf->by_range ? pf->d.nranges : pf->d.npaths;
}

static uint32_t parx__pf_item_file(const parx_prefetch *pf, size_t item)
{
    return pf->by_range ? pf->ranges[item].file : (uint32_t)item;
}

/* The next chunk of the sequence: 1 with (*file, *off, *len) set, 0 at the
   end, or an open error with *file set. A range ends at the end of its
   file as it was when the file was opened (where the size is known), so a
   range running past it, up to UINT64_MAX, is cut there; every item ends
   at 2^63 - 1, past which no file has bytes (pread and io_uring refuse
   such an offset with EINVAL), so one of a file whose size is unknown
   (procfs, a character device) is cut there too. Consumer only. */
static int parx__pf_cursor_next(parx_prefetch *pf, uint32_t *file, uint64_t *off, size_t *len)
{
    size_t n = parx__pf_nitems(pf);
    while (pf->cur_item < n) {
        uint32_t f = parx__pf_item_file(pf, pf->cur_item);
        if (!pf->cur_ref) {
            int e = parx__pf_file_ref(pf, f);
            if (e < 0) {
                *file = f;
                return e;
            }
            pf->cur_ref = true;
        }
        uint64_t start = 0, length = pf->files[f].size;
        if (pf->by_range) {
            start = pf->ranges[pf->cur_item].offset;
            length = pf->ranges[pf->cur_item].length;
            if (pf->files[f].sized) /* cut at the end of the file */
                length = start >= pf->files[f].size ? 0
                         : pf->files[f].size - start < length ? pf->files[f].size - start
                                                               : length;
        }
        length = start >= PARX__IO_MAX_OFF           ? 0
                 : PARX__IO_MAX_OFF - start < length ? PARX__IO_MAX_OFF - start
                                                     : length;
        if (pf->cur_pos < length) {
            uint64_t left = length - pf->cur_pos;
            *file = f;
            *off = start + pf->cur_pos;
            *len = left < pf->d.chunk_size ? (size_t)left : pf->d.chunk_size;
            pf->cur_pos += *len;
            return 1;
        }
        /* this item is done; keep the file open if the next item reads it too */
        pf->cur_item++;
        pf->cur_pos = 0;
        if (pf->cur_item >= n || parx__pf_item_file(pf, pf->cur_item) != f) {
            parx__pf_file_unref(pf, f);
            pf->cur_ref = false;
        }
    }
    return 0;
}

static void parx__pf_add_sub(parx__pf_slot *s, uint64_t off, uint64_t len, bool direct)
{
    parx__pf_sub *u = &s->sub[s->nsub++];
    u->slot = s;
    u->buf = s->data + (off - s->off);
    u->off = off;
    u->len = (size_t)len;
    u->direct = direct;
    u->again = 0;
}

/* Assign the next chunk to FREE slot s (consumer only, s not yet visible to
   readers). Returns 1 (s has reads to do, or an error to deliver), 0 (no
   more chunks). */
static int parx__pf_prepare(parx_prefetch *pf, parx__pf_slot *s)
{
    if (pf->cur_done) return 0;
    uint32_t f = 0;
    uint64_t off = 0;
    size_t len = 0;
    int rc = parx__pf_cursor_next(pf, &f, &off, &len);
    if (rc == 0) {
        pf->cur_done = true;
        return 0;
    }
    s->seq = pf->next_seq++;
    s->item = pf->cur_item;
    s->file = f;
    s->err = 0;
    s->eof = false;
    s->open_failed = false;
    s->direct_refused = false;
    s->nsub = 0;
    if (rc < 0) { /* delivered in its turn; nothing after it is read */
        s->err = rc;
        s->open_failed = true;
        s->off = s->end = 0;
        s->pending = 0;
        s->fd = s->dfd = -1;
        pf->cur_done = true;
        return 1;
    }
    parx__pf_file *fl = &pf->files[f];
    fl->refs++; /* the slot's own reference, dropped when it is freed */
    s->fd = fl->fd;
    s->dfd = fl->no_direct ? -1 : fl->dfd;
    s->nonblock = fl->nonblock;
    s->off = off;
    s->end = off + len;
    if (fl->stream) {
        /* A pipe, FIFO, socket or terminal, whole (one chunk, sized to the
           end of everything) or by range. pread refuses it (ESPIPE), but an
           io_uring read would take the stream's next bytes, whatever the
           offset, and wait for good for a writer that never writes: the
           chunk is that error on both backends, and nothing after it is
           assigned. */
        s->err = -ESPIPE;
        s->pending = 0;
        pf->cur_done = true;
        return 1;
    }
    s->data = s->base + (pf->d.direct ? off % PARX__IO_ALIGN : 0);
    if (s->dfd >= 0) {
        uint64_t a = (off + PARX__IO_ALIGN - 1) & ~(PARX__IO_ALIGN - 1);
        uint64_t b = (off + len) & ~(PARX__IO_ALIGN - 1);
        if (a < b) {
            if (a > off) parx__pf_add_sub(s, off, a - off, false);
            parx__pf_add_sub(s, a, b - a, true);
            if (off + len > b) parx__pf_add_sub(s, b, off + len - b, false);
        } else {
            parx__pf_add_sub(s, off, len, false);
        }
    } else {
        parx__pf_add_sub(s, off, len, false);
    }
    s->pending = s->nsub;
    return 1;
}

/* The result of one read of sub-read u (bytes, or -errno). Returns true when
   u must be read again (the rest of a short read, a retry). Run by whoever
   owns the slot: a reader thread, or the consumer for io_uring. */
static bool parx__pf_sub_result(parx__pf_sub *u, long res)
{
    parx__pf_slot *s = u->slot;
    if (res < 0) {
        /* -ECANCELED: io_uring cancels the io-wq work of a thread that exits, so
           reads submitted by a caller's thread that has since ended come back
           cancelled; they are read again (only while not closing: see reap).
           -EAGAIN: again after a pause, in whoever's thread reads it; but from
           a character device read O_NONBLOCK it means the device has no data
           now, and may never have: the chunk's error (see parx__pf_file_ref). */
        if (res == -EAGAIN && s->nonblock) {
            if (!s->err) s->err = (int)res;
            return false;
        }
        if (res == -EINTR || res == -EAGAIN || res == -ECANCELED) {
            u->again = parx__io_retry(u->again, (int)-res);
            return true;
        }
        if (u->direct && (res == -EINVAL || res == -EOPNOTSUPP)) {
            /* the file system refused this O_DIRECT read */
            u->direct = false;
            s->direct_refused = true;
            return true;
        }
        if (!s->err) s->err = (int)res;
        return false;
    }
    if (res == 0) { /* end of file: the chunk ends here, and its item too */
        if (u->off < s->end) s->end = u->off;
        s->eof = true;
        return false;
    }
    u->buf += res;
    u->off += (uint64_t)res;
    u->len -= (size_t)res;
    u->again = 0;
    if (u->len == 0) return false;
    if (u->direct && (((uintptr_t)u->buf | u->off | u->len) & (PARX__IO_ALIGN - 1)))
        u->direct = false; /* the rest is not aligned: buffered */
    return true;
}

/* Return slot s to FREE (consumer only). */
static void parx__pf_free_slot(parx_prefetch *pf, parx__pf_slot *s)
{
    if (!s->open_failed) parx__pf_file_unref(pf, s->file);
    s->open_failed = false;
    parx__pf_lock(pf);
    s->state = PARX__PF_FREE;
    parx__pf_unlock(pf);
}

#ifndef PARX_NO_URING
/* The ring itself failed (io_uring_enter refused: a seccomp filter installed
   after open, a lack of resources): the first such error becomes the one
   next() returns, with a message for parx_prefetch_error naming the file
   of the chunk next() was to hand out (the cursor may be files ahead of
   it). Consumer only. */
static void parx__pf_ring_failed(parx_prefetch *pf, const char *call, int rc)
{
    if (pf->sticky) return;
    pf->sticky = rc;
    size_t item = pf->cur_item < parx__pf_nitems(pf) ? pf->cur_item : 0;
    uint32_t file = parx__pf_item_file(pf, item);
    for (int i = 0; i < pf->d.depth; i++) {
        const parx__pf_slot *s = &pf->slots[i];
        if (s->state != PARX__PF_FREE && s->state != PARX__PF_HELD && s->seq == pf->deliver_seq)
            file = s->file; /* the head: see parx__pf_wait_head */
    }
    char what[96];
    snprintf(what, sizeof what, "io_uring (%s) failed while reading", call);
    parx__pf_set_errmsg(pf, what, pf->paths[file], rc);
}

/* io_uring: queue sub-read u (consumer only). The ring has room for three
   sub-reads per slot, and a sub-read is queued only when it has none in
   flight, so an SQE is always free. Buffered reads get IOSQE_ASYNC: without
   it the kernel first tries the read inline, in io_uring_enter on the
   consumer's thread, and a page-cache copy (or a wait for readahead) lands
   on the thread that should be computing. O_DIRECT reads are async anyway. */
static void parx__pf_uring_queue(parx_prefetch *pf, parx__pf_sub *u)
{
    parx__pf_slot *s = u->slot;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&pf->ring);
    PARX_ASSERT(sqe != NULL);
    int fd = u->direct ? s->dfd : s->fd;
    if (pf->registered)
        io_uring_prep_read_fixed(sqe, fd, u->buf, (unsigned)u->len, u->off, s->index);
    else
        io_uring_prep_read(sqe, fd, u->buf, (unsigned)u->len, u->off);
    if (!u->direct) io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
    io_uring_sqe_set_data(sqe, u);
    pf->unsubmitted++;
}

/* Submit what is queued. Only submitted reads count as in flight, so a
   ring that fails (it should not) can still be drained exactly. */
static void parx__pf_uring_submit(parx_prefetch *pf)
{
    unsigned intr = 0;
    while (pf->unsubmitted > 0) {
        int rc = io_uring_submit(&pf->ring);
        if (rc > 0) {
            pf->unsubmitted -= rc;
            pf->inflight += rc;
            intr = 0;
        } else if (rc == -EINTR) {
            intr = parx__io_retry(intr, EINTR);
        } else if ((rc == 0 || rc == -EAGAIN || rc == -EBUSY) && pf->inflight > 0) {
            struct io_uring_cqe *cqe; /* short of resources: let some reads finish first */
            parx__uring_wait(&pf->ring, &cqe);
            return; /* the caller reaps, and submits again */
        } else {
            /* nothing taken and nothing in flight: no progress possible */
            parx__pf_ring_failed(pf, "submit", rc ? rc : -EAGAIN);
            return;
        }
    }
}

/* Reap completions: wait for at least one if `wait`. Consumer only. With
   `closing`, nothing is read again: only what is in flight is finished. */
static void parx__pf_uring_reap(parx_prefetch *pf, bool wait, bool closing)
{
    if (!closing) parx__pf_uring_submit(pf);
    struct io_uring_cqe *cqe;
    if (wait && pf->inflight > 0) {
        int rc = parx__uring_wait(&pf->ring, &cqe);
        if (rc < 0) {
            parx__pf_ring_failed(pf, "wait", rc);
            return;
        }
    }
    while (pf->inflight > 0 && io_uring_peek_cqe(&pf->ring, &cqe) == 0) {
        parx__pf_sub *u = (parx__pf_sub *)io_uring_cqe_get_data(cqe);
        long res = cqe->res;
        io_uring_cqe_seen(&pf->ring, cqe);
        pf->inflight--;
        parx__pf_slot *s = u->slot;
        if (!closing && parx__pf_sub_result(u, res)) {
            parx__pf_uring_queue(pf, u);
            continue;
        }
        if (closing && res < 0 && !s->err) s->err = (int)res;
        if (--s->pending == 0) s->state = PARX__PF_READY;
    }
    if (!closing) parx__pf_uring_submit(pf);
}
#endif

/* ---- thread backend ------------------------------------------------------- */

/* pf->queued changes only under pf->mu, which orders everything around
   it; it is atomic so that an idle reader may poll it without the lock.
   Relaxed: the poll is only a hint, and the reader takes the lock (and
   looks again) before it touches a slot. */
static int parx__pf_queued(parx_prefetch *pf)
{
    return atomic_load_explicit(&pf->queued, memory_order_relaxed);
}

static void parx__pf_queued_add(parx_prefetch *pf, int n)
{
    atomic_fetch_add_explicit(&pf->queued, n, memory_order_relaxed); /* under pf->mu */
}

/* Poll, without pf->mu, for up to PARX__PF_SPIN pauses while *a still
   reads `seen`; then take pf->mu again (called under it, returns under it).
   Relaxed: the poll is only a hint, and the caller looks again under mu. */
static void parx__pf_poll(parx_prefetch *pf, atomic_int *a, int seen)
{
    pthread_mutex_unlock(&pf->mu);
    for (int i = 0; i < PARX__PF_SPIN && atomic_load_explicit(a, memory_order_relaxed) == seen;
         i++)
        parx__cpu_relax();
    pthread_mutex_lock(&pf->mu);
}

/* The oldest QUEUED slot, or NULL. Under pf->mu. */
static parx__pf_slot *parx__pf_oldest_queued(parx_prefetch *pf)
{
    parx__pf_slot *s = NULL;
    if (parx__pf_queued(pf) == 0) return NULL;
    for (int i = 0; i < pf->d.depth; i++) {
        parx__pf_slot *t = &pf->slots[i];
        if (t->state == PARX__PF_QUEUED && (!s || t->seq < s->seq)) s = t;
    }
    return s;
}

#ifndef PARX__PF_PREADV2 /* a test hook (tests/prefetch_nowait.c), preadv2 otherwise */
#define PARX__PF_PREADV2 preadv2
#endif
#ifndef PARX__PF_PREAD /* a test hook (tests/prefetch_nowait.c), pread otherwise */
#define PARX__PF_PREAD pread
#endif

/* Whether close has begun (a reader asks, without the lock). */
static bool parx__pf_stopping(parx_prefetch *pf)
{
    pthread_mutex_lock(&pf->mu);
    bool stop = pf->stop;
    pthread_mutex_unlock(&pf->mu);
    return stop;
}

/* Read QUEUED slot s with pread: take it (BUSY), read it without the lock,
   and make it READY. Called under pf->mu, and returns under it. Run by a
   reader thread, or by the consumer when it would otherwise wait.
   With `nowait` (the consumer, helping with a chunk it does not need yet)
   only what the page cache holds is read (RWF_NOWAIT): a read that would
   wait for the device, or that fails, stops there, and the slot goes back
   to QUEUED with what was read kept, for a reader to finish (and report any
   error). Returns false then, and also when close has begun while the file
   system answers EAGAIN or EINTR (which it may do for ever: close must not
   wait on it). */
static bool parx__pf_read_slot(parx_prefetch *pf, parx__pf_slot *s, bool nowait)
{
    s->state = PARX__PF_BUSY;
    parx__pf_queued_add(pf, -1);
    pthread_mutex_unlock(&pf->mu);
    bool done = true;
    for (int i = 0; i < s->nsub && done; i++) {
        parx__pf_sub *u = &s->sub[i];
        if (u->len == 0) continue; /* read in full by an earlier try */
        long res;
        do {
            int fd = u->direct ? s->dfd : s->fd;
            ssize_t r;
            if (nowait) {
                if (u->direct) { /* O_DIRECT always waits for the device */
                    done = false;
                    break;
                }
                struct iovec v = {u->buf, u->len};
                r = PARX__PF_PREADV2(fd, &v, 1, (off_t)u->off, RWF_NOWAIT);
                if (r < 0) { /* EAGAIN: not cached; any other error is the reader's */
                    if (errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL)
                        pf->files[s->file].no_nowait = true; /* its file system: never again
                                                                for this file */
                    done = false;
                    break;
                }
                if (r == 0) { /* the end of the file, or a file system that says 0
                                 for "would block": a blocking read decides */
                    done = false;
                    break;
                }
            } else {
                r = PARX__PF_PREAD(fd, u->buf, u->len, (off_t)u->off);
                if (r < 0 && (errno == EAGAIN || errno == EINTR) && parx__pf_stopping(pf)) {
                    /* close waits for us, and the file system still says
                       "again" (or "interrupted"): the chunk stays unread
                       (nobody will take it) */
                    done = false;
                    break;
                }
            }
            res = r < 0 ? -(long)errno : (long)r;
        } while (parx__pf_sub_result(u, res));
    }
    pthread_mutex_lock(&pf->mu);
    if (!done) {
        s->state = PARX__PF_QUEUED;
        parx__pf_queued_add(pf, 1);
        pthread_cond_signal(&pf->work); /* a reader may have found nothing meanwhile */
        return false;
    }
    s->pending = 0;
    s->state = PARX__PF_READY;
    /* relaxed: a hint for the consumer's poll, which looks again under mu */
    atomic_fetch_add_explicit(&pf->readied, 1, memory_order_relaxed);
    return true;
}

static void *parx__pf_reader(void *arg)
{
    parx_prefetch *pf = (parx_prefetch *)arg;
    pthread_mutex_lock(&pf->mu);
    for (;;) {
        while (!pf->stop && parx__pf_queued(pf) == 0) {
            /* A reader of buffered data that keeps pace with the consumer
               runs out of work once per chunk; it polls a little before it
               sleeps, so that the consumer's next chunk needs no wake-up
               (no system call on the consumer's side, no wake-up latency on
               ours). Measured here (bench_io warm, compute = io): 1.12x and
               1.24x of the ideal without, 1.07x and 1.11x with. One reader
               polls at a time, and none for O_DIRECT, whose reads wait on
               the device: pollers would only take CPU from the consumer. */
            if (!pf->d.direct && !pf->polling) {
                pf->polling = true;
                parx__pf_poll(pf, &pf->queued, 0); /* close waits for it: tens of us */
                pf->polling = false;
                if (parx__pf_queued(pf) > 0 || pf->stop) break;
            }
            pthread_cond_wait(&pf->work, &pf->mu);
        }
        if (pf->stop) break;
        parx__pf_slot *s = parx__pf_oldest_queued(pf); /* the oldest chunk first */
        PARX_ASSERT(s != NULL);
        parx__pf_read_slot(pf, s, false);
        pthread_cond_signal(&pf->done); /* only the consumer waits on done */
    }
    pthread_mutex_unlock(&pf->mu);
    return NULL;
}

/* ---- consumer side -------------------------------------------------------- */

/* Give every FREE slot the next chunk and start reading it. Consumer only. */
static void parx__pf_fill(parx_prefetch *pf)
{
    if (pf->cur_done || pf->sticky) return;
    parx__pf_slot *fresh[PARX__IO_MAX_DEPTH];
    int n = 0;
    parx__pf_lock(pf); /* readers write other slots' states */
    for (int i = 0; i < pf->d.depth; i++)
        if (pf->slots[i].state == PARX__PF_FREE) fresh[n++] = &pf->slots[i];
    parx__pf_unlock(pf);
    int k = 0; /* FREE slots are the consumer's: prepared without the lock */
    while (k < n && parx__pf_prepare(pf, fresh[k]))
        k++;
    if (k == 0) return;
#ifndef PARX_NO_URING
    if (pf->backend == PARX_IO_URING) {
        for (int i = 0; i < k; i++) {
            parx__pf_slot *s = fresh[i];
            if (s->nonblock && s->pending) {
                /* A character device (read O_NONBLOCK: see parx__pf_file_ref)
                   is read here, with pread, which does not wait. io_uring
                   would: a device that can poll gets a read that says
                   EAGAIN tried again whenever poll says so, and a device
                   with no more data then holds next() and close() for ever. */
                for (int j = 0; j < s->nsub; j++) {
                    parx__pf_sub *u = &s->sub[j];
                    long res;
                    do {
                        ssize_t r = pread(s->fd, u->buf, u->len, (off_t)u->off);
                        res = r < 0 ? -(long)errno : (long)r;
                    } while (parx__pf_sub_result(u, res));
                }
                s->pending = 0;
            }
            s->state = s->pending ? PARX__PF_BUSY : PARX__PF_READY;
            for (int j = 0; j < s->nsub && s->pending; j++)
                parx__pf_uring_queue(pf, &s->sub[j]);
        }
        parx__pf_uring_submit(pf);
        return;
    }
#endif
    int queued = 0;
    pthread_mutex_lock(&pf->mu);
    for (int i = 0; i < k; i++) {
        parx__pf_slot *s = fresh[i];
        if (s->pending) {
            s->state = PARX__PF_QUEUED;
            queued++;
        } else {
            s->state = PARX__PF_READY;
        }
    }
    parx__pf_queued_add(pf, queued);
    if (queued == 1) pthread_cond_signal(&pf->work);
    else if (queued > 1) pthread_cond_broadcast(&pf->work);
    pthread_mutex_unlock(&pf->mu);
}

/* The slot of the next chunk in order, once it is READY; NULL when it is not
   assigned (the end, or every buffer held). Consumer only. */
static parx__pf_slot *parx__pf_wait_head(parx_prefetch *pf)
{
    parx__pf_lock(pf);
    parx__pf_slot *h = NULL;
    for (int i = 0; i < pf->d.depth; i++) {
        parx__pf_slot *s = &pf->slots[i];
        if (s->state != PARX__PF_FREE && s->state != PARX__PF_HELD && s->seq == pf->deliver_seq)
            h = s;
    }
    if (h && pf->backend == PARX_IO_THREADS) {
        /* Rather than sleep while a chunk waits for a reader, the consumer
           reads it itself: the head, when no reader has taken it, or else
           the next chunk waiting, if the page cache holds it (a read that
           would wait for the device could outlast the head's). Nothing
           waits for a wake-up then, and on a warm cache two threads copy
           instead of one. */
        bool helped = true, polled = pf->d.direct;
        while (h->state != PARX__PF_READY) {
            parx__pf_slot *q = parx__pf_oldest_queued(pf);
            if (q == h) {
                parx__pf_read_slot(pf, q, false);
            } else if (q && helped && !pf->files[q->file].no_nowait) {
                helped = parx__pf_read_slot(pf, q, true);
            } else if (!polled) {
                /* A reader has the head, and a buffered read is a copy of
                   tens of microseconds: poll for it (once) before sleeping,
                   as an idle reader polls for work. */
                polled = true;
                /* relaxed: readied changes only under mu, which we hold */
                int seen = atomic_load_explicit(&pf->readied, memory_order_relaxed);
                parx__pf_poll(pf, &pf->readied, seen);
            } else {
                pthread_cond_wait(&pf->done, &pf->mu);
            }
        }
    }
    parx__pf_unlock(pf);
#ifndef PARX_NO_URING
    if (h && pf->backend == PARX_IO_URING) {
        while (h->state != PARX__PF_READY && !pf->sticky)
            parx__pf_uring_reap(pf, true, false);
        if (h->state != PARX__PF_READY) return NULL; /* the ring failed: pf->sticky says how */
    }
#endif
    return h;
}

/* Every buffer is held and the cursor has not met the end: is there a chunk
   left? Takes the next one from the cursor and puts it back (the files and
   empty items it passed on the way stay passed). 1: there is one (or an
   open error to deliver in its turn), 0: the end. Consumer only. */
static int parx__pf_cursor_more(parx_prefetch *pf)
{
    uint32_t f = 0;
    uint64_t off = 0;
    size_t len = 0;
    int rc = parx__pf_cursor_next(pf, &f, &off, &len);
    if (rc == 0) {
        pf->cur_done = true;
        return 0;
    }
    if (rc > 0) pf->cur_pos -= len; /* put the chunk back: cursor_next only moved cur_pos */
    return 1;
}

PARX_API int parx_prefetch_next(parx_prefetch *pf, parx_chunk *c)
{
    if (!pf) return -EINVAL;
    if (parx__forked(pf->fork_gen)) return -EPERM; /* the ring and buffers are the parent's */
    /* an error stays, c NULL or not: parx_prefetch_error still names it */
    if (!c) return pf->sticky ? pf->sticky : -EINVAL;
    for (;;) {
        if (pf->sticky) return pf->sticky;
        parx__pf_fill(pf);
        parx__pf_slot *h = parx__pf_wait_head(pf);
        if (pf->sticky) return pf->sticky;
        if (!h) {
            if (pf->cur_done || !parx__pf_cursor_more(pf)) return 0;
            return -EBUSY; /* every buffer is held by the caller */
        }
        pf->deliver_seq++;
        if (h->item == pf->cut_item) {
            /* A chunk after the one that met the end of its file: its read
               may have finished before the cut and brought back bytes the
               file no longer holds. Handed out, it would follow a short
               chunk with a gap between them; the item ended at the cut. */
            parx__pf_free_slot(pf, h);
            continue;
        }
        if (h->eof && !h->err) {
            /* the file ended before the item did (truncated since it was
               opened): the item ends here. Assign nothing more of it, and
               skip the chunks of it already assigned (above), whatever
               their reads found: in order, they all come after this one. */
            pf->cut_item = h->item;
            if (!pf->cur_done && pf->cur_item == h->item && pf->cur_pos > 0)
                pf->cur_pos = UINT64_MAX;
        }
        if (h->direct_refused && !pf->files[h->file].no_direct) {
            pf->files[h->file].no_direct = true;
            parx__pf_info("parx_prefetch: O_DIRECT reads refused for '%.200s'; reading it buffered",
                          pf->paths[h->file]);
        }
        if (h->err) {
            pf->sticky = h->err;
            if (h->open_failed) {
                parx__pf_set_errmsg(pf, "cannot open", pf->paths[h->file], h->err);
            } else {
                char what[64];
                snprintf(what, sizeof what, "read failed in chunk at offset %llu of",
                         (unsigned long long)h->off);
                parx__pf_set_errmsg(pf, what, pf->paths[h->file], h->err);
            }
            parx__pf_free_slot(pf, h);
            return pf->sticky;
        }
        if (h->end <= h->off) { /* past an end of file: nothing to deliver */
            parx__pf_free_slot(pf, h);
            continue;
        }
        parx__pf_lock(pf);
        h->state = PARX__PF_HELD;
        parx__pf_unlock(pf);
        h->delivered = pf->delivered;
        c->data = h->data;
        c->size = (size_t)(h->end - h->off);
        c->offset = h->off;
        c->file = h->file;
        c->index = pf->delivered++;
#if PARX__PF_ARENA
        c->arena_offset = pf->d.arena ? parx_arena_offset(pf->d.arena, h->data) : UINT64_MAX;
#else
        c->arena_offset = UINT64_MAX;
#endif
        c->parx__slot = h->index;
        return 1;
    }
}

PARX_API void parx_prefetch_release(parx_prefetch *pf, parx_chunk *c)
{
    if (!pf || !c || c->parx__slot < 0 || c->parx__slot >= pf->d.depth) return;
    if (parx__forked(pf->fork_gen)) return; /* a fork() child's copy: the buffer is the parent's */
    parx__pf_slot *s = &pf->slots[c->parx__slot];
    parx__pf_lock(pf); /* a bogus chunk could name a slot a reader is writing */
    /* the delivery index tells a stale copy of an earlier chunk of this slot
       (same data pointer) from the chunk the slot holds now */
    bool held = s->state == PARX__PF_HELD && s->data == c->data && s->delivered == c->index;
    parx__pf_unlock(pf);
    if (!held) return;
    c->parx__slot = -1;
    parx__pf_free_slot(pf, s);
    parx__pf_fill(pf); /* read ahead into it at once */
}

/* Close the descriptors and free the heap of pf: what every copy of a
   prefetcher owns, the parent's and a fork() child's alike. The region is
   unmapped unless the kernel may still write into it (unmap false). */
static void parx__pf_free_own(parx_prefetch *pf, bool unmap)
{
    if (pf->files) {
        for (size_t i = 0; i < pf->d.npaths; i++) {
            if (pf->files[i].fd >= 0) close(pf->files[i].fd);
            if (pf->files[i].dfd >= 0) close(pf->files[i].dfd);
        }
    }
    if (pf->region && unmap) munmap(pf->region, pf->region_len);
    free(pf->threads);
    free(pf->slots);
    free(pf->files);
    free(pf->paths);
    free(pf->ranges);
    free(pf->errmsg);
    free(pf);
}

static void parx__pf_destroy(parx_prefetch *pf)
{
    if (parx__forked(pf->fork_gen)) {
        /* A fork() child's copy: its reader threads did not come with it
           (a lock they held at the fork stays held here), the ring is the
           parent's too (waiting or unregistering would take the parent's
           completions and buffers; liburing's exit only unmaps and closes),
           and an arena's buffers are the parent's blocks. Only what the
           child owns goes. */
#ifndef PARX_NO_URING
        if (pf->backend == PARX_IO_URING) parx__uring_exit(&pf->ring);
#endif
        parx__pf_free_own(pf, true);
        return;
    }
    if (pf->threads) {
        pthread_mutex_lock(&pf->mu);
        pf->stop = true;
        pthread_cond_broadcast(&pf->work);
        pthread_mutex_unlock(&pf->mu);
        for (int i = 0; i < pf->nthreads; i++) /* a reader finishes its read before it stops */
            pthread_join(pf->threads[i], NULL);
    }
    bool leak_buffers = false;
#ifndef PARX_NO_URING
    if (pf->backend == PARX_IO_URING) {
        /* Drain: the kernel may still be writing into the buffers. */
        while (pf->inflight > 0) {
            struct io_uring_cqe *cqe;
            int rc = parx__uring_wait(&pf->ring, &cqe);
            if (rc < 0) {
                /* The ring cannot be waited on (io_uring_enter refused, e.g. a
                   seccomp filter installed since open): reads may still be in
                   flight, and the kernel would write into freed memory. The
                   buffers are leaked instead of freed. */
                leak_buffers = true;
                char msg[160];
                snprintf(msg, sizeof msg,
                         "parx_prefetch_close: cannot wait for %d reads in flight (%s); "
                         "leaking the buffers",
                         pf->inflight, parx_strerror(rc));
                parx__log(PARX_LOG_WARN, msg); /* consumer thread, no lock held */
                break;
            }
            parx__pf_uring_reap(pf, false, true);
        }
        if (pf->registered && !leak_buffers) io_uring_unregister_buffers(&pf->ring);
        parx__uring_exit(&pf->ring);
    }
#endif
    if (pf->sync_ready) {
        pthread_cond_destroy(&pf->work);
        pthread_cond_destroy(&pf->done);
        pthread_mutex_destroy(&pf->mu);
    }
#if PARX__PF_ARENA
    if (pf->slots && pf->d.arena && !leak_buffers) {
        for (int i = 0; i < pf->d.depth; i++)
            if (pf->slots[i].base) parx_arena_free(pf->d.arena, pf->slots[i].base);
    }
#endif
    parx__pf_free_own(pf, !leak_buffers);
}

PARX_API parx_prefetch *parx_prefetch_open(const parx_prefetch_desc *desc, int *err)
{
    int e = 0;
    parx_prefetch *pf = NULL;
    if (!desc || !desc->paths || desc->npaths == 0 || desc->npaths > UINT32_MAX ||
        desc->depth < 0 || desc->depth > PARX__IO_MAX_DEPTH || desc->threads < 0 ||
        desc->threads > 64 || desc->chunk_size > PARX__IO_MAX_CHUNK ||
        (desc->nranges > 0 && !desc->ranges) ||
        (unsigned)desc->backend > (unsigned)PARX_IO_THREADS) {
        e = -EINVAL;
        goto fail;
    }
    for (size_t i = 0; i < desc->npaths; i++)
        if (!desc->paths[i]) {
            e = -EINVAL;
            goto fail;
        }
    for (size_t i = 0; i < desc->nranges; i++)
        if (desc->ranges[i].file >= desc->npaths ||
            desc->ranges[i].length > UINT64_MAX - desc->ranges[i].offset) {
            e = -EINVAL;
            goto fail;
        }
    if (desc->arena && !PARX__PF_ARENA) { /* PARX_NO_PROC, parx_shm.h not included */
        e = -EOPNOTSUPP;
        goto fail;
    }
    pf = (parx_prefetch *)calloc(1, sizeof *pf);
    if (!pf) {
        e = -ENOMEM;
        goto fail;
    }
    pf->d = parx__prefetch_desc_defaults(desc);
    pf->backend = PARX_IO_THREADS; /* until a ring exists, so destroy knows what to undo */
    pf->cut_item = SIZE_MAX;
    if ((e = parx__fork_gen_now(&pf->fork_gen)) != 0) goto fail;

    /* Our own copies of the paths (one block) and ranges. */
    size_t bytes = pf->d.npaths * sizeof(char *); /* no wrap: the caller's array exists */
    for (size_t i = 0; i < pf->d.npaths; i++) {
        /* the same path listed many times can add up past SIZE_MAX (32-bit) */
        size_t n = strlen(desc->paths[i]) + 1;
        if (n > SIZE_MAX - bytes) {
            e = -ENOMEM;
            goto fail;
        }
        bytes += n;
    }
    pf->paths = (char **)malloc(bytes);
    pf->files = (parx__pf_file *)calloc(pf->d.npaths, sizeof *pf->files);
    if (pf->files) /* before any failure: destroy closes every descriptor that is not -1 */
        for (size_t i = 0; i < pf->d.npaths; i++)
            pf->files[i].fd = pf->files[i].dfd = -1;
    pf->slots = (parx__pf_slot *)calloc((size_t)pf->d.depth, sizeof *pf->slots);
    if (pf->d.nranges) pf->ranges = (parx_io_range *)malloc(pf->d.nranges * sizeof *pf->ranges);
    if (!pf->paths || !pf->files || !pf->slots || (pf->d.nranges && !pf->ranges)) {
        e = -ENOMEM;
        goto fail;
    }
    char *at = (char *)(pf->paths + pf->d.npaths);
    for (size_t i = 0; i < pf->d.npaths; i++) {
        size_t n = strlen(desc->paths[i]) + 1;
        memcpy(at, desc->paths[i], n);
        pf->paths[i] = at;
        at += n;
    }
    pf->by_range = desc->ranges != NULL;
    if (pf->d.nranges) memcpy(pf->ranges, desc->ranges, pf->d.nranges * sizeof *pf->ranges);
    pf->d.paths = (const char *const *)pf->paths;
    pf->d.ranges = pf->ranges;

    /* The buffers: with .direct one more page, so that a chunk starting at
       an unaligned offset can put its aligned middle on a page boundary.
       Without .arena they are one anonymous mapping on transparent huge
       pages where it is large enough (">>prefetch", Buffers). Its zeros
       are known to memory checkers, so the kernel's writes need no memset
       to be seen as defined. */
    pf->bufsize = pf->d.chunk_size + (pf->d.direct ? (size_t)PARX__IO_ALIGN : 0);
    size_t stride = (pf->bufsize + PARX__IO_ALIGN - 1) & ~(size_t)(PARX__IO_ALIGN - 1);
    if (!pf->d.arena) {
        /* whole pages, so the trimming below and munmap stay exact where a
           page is larger than 4 KiB (some arm64 kernels); 2 MiB is the huge
           page size of 4 KiB-page systems only */
        long ps = sysconf(_SC_PAGESIZE);
        size_t page = ps > (long)PARX__IO_ALIGN ? (size_t)ps : (size_t)PARX__IO_ALIGN;
        stride = (stride + page - 1) & ~(page - 1);
        if (stride > (SIZE_MAX - PARX__IO_HUGE) / (size_t)pf->d.depth) {
            e = -ENOMEM;
            goto fail;
        }
        size_t len = stride * (size_t)pf->d.depth;
        bool huge = page == (size_t)PARX__IO_ALIGN && len >= PARX__IO_HUGE;
        size_t map = huge ? len + PARX__IO_HUGE : len; /* room to align the start */
        void *m = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            e = -ENOMEM;
            goto fail;
        }
        unsigned char *start = (unsigned char *)m;
        if (huge) { /* keep the 2 MiB-aligned part; give back the rest */
            uintptr_t a = ((uintptr_t)m + PARX__IO_HUGE - 1) & ~(uintptr_t)(PARX__IO_HUGE - 1);
            start = (unsigned char *)a;
            size_t before = (size_t)(start - (unsigned char *)m), after = map - before - len;
            if (before) munmap(m, before);
            if (after) munmap(start + len, after);
            madvise(start, len, MADV_HUGEPAGE); /* advice: fine if refused (THP "never") */
        }
        pf->region = start;
        pf->region_len = len;
        pf->region_huge = huge;
    }
    for (int i = 0; i < pf->d.depth; i++) {
        unsigned char *b = pf->region ? pf->region + (size_t)i * stride : NULL;
#if PARX__PF_ARENA
        if (pf->d.arena) {
            errno = 0;
            b = (unsigned char *)parx_arena_alloc(pf->d.arena, pf->bufsize, (size_t)PARX__IO_ALIGN);
            if (!b) {
                e = -(errno ? errno : ENOMEM);
                goto fail;
            }
            memset(b, 0, pf->bufsize); /* arena memory may hold an earlier owner's bytes */
        }
#endif
        pf->slots[i].base = pf->slots[i].data = b;
        pf->slots[i].index = i;
    }

#ifndef PARX_NO_URING
    void *ring = &pf->ring;
#else
    void *ring = NULL;
#endif
    int b = parx__io_choose(pf->d.backend, ring, (unsigned)pf->d.depth * 3, false, pf->why,
                            sizeof pf->why);
    if (b < 0) {
        e = b;
        goto fail;
    }
#ifndef PARX_NO_URING
    if (b == PARX_IO_URING) {
        pf->backend = PARX_IO_URING;
        /* Registered buffers skip the per-read page pinning, but they count
           against RLIMIT_MEMLOCK: register only what fits under it. */
        struct rlimit lim;
        uint64_t total = (uint64_t)pf->bufsize * (uint64_t)pf->d.depth;
        if (pf->region) /* the pages pinned: a huge page counts whole */
            total = pf->region_huge ? ((uint64_t)pf->region_len + PARX__IO_HUGE - 1) &
                                          ~(uint64_t)(PARX__IO_HUGE - 1)
                                    : (uint64_t)pf->region_len;
        if (!pf->d.no_register && getrlimit(RLIMIT_MEMLOCK, &lim) == 0 &&
            (lim.rlim_cur == RLIM_INFINITY || total <= (uint64_t)lim.rlim_cur)) {
            struct iovec *iov = (struct iovec *)calloc((size_t)pf->d.depth, sizeof *iov);
            if (iov) {
                for (int i = 0; i < pf->d.depth; i++) {
                    iov[i].iov_base = pf->slots[i].base;
                    iov[i].iov_len = pf->bufsize;
                }
                pf->registered =
                    io_uring_register_buffers(&pf->ring, iov, (unsigned)pf->d.depth) == 0;
                free(iov);
            }
        }
        size_t n = strlen(pf->why);
        snprintf(pf->why + n, sizeof pf->why - n, "; buffers %sregistered",
                 pf->registered ? "" : "not ");
        if (err) *err = 0;
        return pf;
    }
#endif
    /* thread backend */
    pthread_mutex_init(&pf->mu, NULL);
    pthread_cond_init(&pf->work, NULL);
    pthread_cond_init(&pf->done, NULL);
    pf->sync_ready = true;
    pf->threads = (pthread_t *)calloc((size_t)pf->d.threads, sizeof(pthread_t));
    if (!pf->threads) {
        e = -ENOMEM;
        goto fail;
    }
    for (int i = 0; i < pf->d.threads; i++) {
        e = parx__io_thread(&pf->threads[i], parx__pf_reader, pf);
        if (e < 0) goto fail;
        pf->nthreads++;
    }
    if (err) *err = 0;
    return pf;

fail:
    if (pf) parx__pf_destroy(pf);
    if (err) *err = e;
    errno = -e;
    return NULL;
}

PARX_API void parx_prefetch_close(parx_prefetch *pf)
{
    if (pf) parx__pf_destroy(pf);
}

PARX_API parx_io_backend parx_prefetch_backend(const parx_prefetch *pf, const char **why)
{
    if (why) *why = pf ? pf->why : "no prefetcher";
    return pf ? (parx_io_backend)pf->backend : PARX_IO_AUTO;
}

PARX_API const char *parx_prefetch_error(const parx_prefetch *pf)
{
    if (!pf || !pf->sticky) return NULL;
    return pf->errmsg ? pf->errmsg : pf->errshort;
}

/* -------------------------------------------------------------------------- */
/* >>writer: write-behind on io_uring or a writer thread                       */
/* -------------------------------------------------------------------------- */
/* Up to .depth writes are pending. The thread backend keeps them in a ring
   of ops guarded by w->mu; one writer thread writes them in the order they
   were queued, which also orders overlapping writes. The io_uring backend
   submits each write at once (IOSQE_ASYNC, so a buffered write never runs
   inline on the caller), and before submitting one that overlaps a write in
   flight waits for that one, which orders overlapping writes there. The
   error kept (w->err) and returned by every later call is that of the
   earliest write, in the order handed off (parx__wr_op.seq), that failed:
   the thread backend meets its errors in that order, but io_uring's writes
   finish in any order, so an error reaped from a later write gives way to
   an earlier write's (w->err_seq says whose it is). After an error no
   later write is submitted again (those in flight may land), while earlier
   ones are finished (retries, the rest of short writes), as the thread
   backend would have written them.
   Only what the kernel took counts as in flight (w->inflight): the rest
   waits in the SQ (w->sq_submitted < w->sq_queued), and flush waits for
   both. A ring that refuses work (io_uring_enter fails) stops the writer
   for good: what waits in the SQ is abandoned, and nothing is submitted
   again, not even the rest of an earlier write still in flight. */

typedef struct parx__wr_op {
    const void *orig;          /* the caller's buffer and size, for .done */
    size_t size;
    const unsigned char *buf;  /* what is left to write */
    size_t len;
    uint64_t off;
    uint64_t start;            /* the whole write's offset, for overlap checks */
    bool live;                 /* io_uring: queued or submitted, and not finished */
    uint64_t sq_seq;           /* io_uring: the number of its SQE (see parx__wr_uring_queue) */
    uint64_t seq;              /* io_uring: the write's place in the order handed off */
    void *sqe;                 /* io_uring: its SQE while that waits in the SQ */
    unsigned again;            /* io_uring: its EINTRs and ECANCELEDs in a row
                                  (parx__io_retry; EAGAIN's count is the writer's) */
} parx__wr_op;

struct parx_writer {
    parx_writer_desc d;
    int fd;
    int backend;
    char why[PARX__IO_WHY];
    uint64_t pos;              /* where the next parx_writer_write goes (caller only) */
    bool stream;               /* a pipe, FIFO, socket or terminal: no offsets, one write
                                  at a time (see parx__wr_queue) */
    bool serial;               /* one write at a time: a stream, or a character device,
                                  which may take lseek and ignore the offset (/dev/kmsg,
                                  a printer: each write is the next record) */
    bool regular;              /* a regular file: fdatasync's EROFS is an error (flush) */
    bool fuse;                 /* on a FUSE file system: io_uring's EIO is written again with
                                  pwrite (see parx__wr_uring_reap) */
    int err;                   /* the error of the earliest write that failed (or of the
                                  ring); under mu in the thread backend */
    unsigned fork_gen;         /* parx__fork_gen at open: a fork() child's copy is refused */
    parx__wr_op *ops;
#ifndef PARX_NO_URING
    struct io_uring ring;
    int inflight;              /* writes submitted and not yet reaped */
    uint64_t sq_queued;        /* SQEs filled so far */
    uint64_t sq_submitted;     /* of those, taken by the kernel (or abandoned) */
    bool ring_failed;          /* the ring refused work: nothing is submitted again
                                  (parx__wr_uring_abandon) */
    unsigned again;            /* EAGAINs in a row, any write's (parx__io_backoff) */
    uint64_t handoff;          /* writes handed off so far: the next one's seq */
    uint64_t err_seq;          /* the seq of the write whose error w->err is */
#endif
    /* thread backend */
    pthread_mutex_t mu;
    pthread_cond_t work, space, idle;
    pthread_t thread;
    bool has_thread, sync_ready, stop;
    int head, count;           /* queued ops: ops[head], ops[head + 1], ... (mod depth) */
};

static parx_writer_desc parx__writer_desc_defaults(const parx_writer_desc *in)
{
    parx_writer_desc d = *in;
    if (d.mode == 0) d.mode = 0644;
    if (d.depth == 0) d.depth = 4;
    return d;
}

/* One pass of pwrite (write on a stream) over op: returns 0 when it is all
   written, or -errno. */
static int parx__wr_pwrite(int fd, bool stream, parx__wr_op *op)
{
    unsigned again = 0;
    while (op->len > 0) {
        size_t n = op->len < PARX__IO_MAX_CHUNK ? op->len : PARX__IO_MAX_CHUNK;
        ssize_t r = stream ? write(fd, op->buf, n) : pwrite(fd, op->buf, n, (off_t)op->off);
        if (r < 0) {
            if (errno != EINTR && errno != EAGAIN) return -errno;
            again = parx__io_retry(again, errno);
            continue;
        }
        if (r == 0) return -EIO; /* no progress and no reason: do not spin */
        again = 0;
        op->buf += r;
        op->off += (uint64_t)r;
        op->len -= (size_t)r;
    }
    return 0;
}

static void *parx__wr_thread(void *arg)
{
    parx_writer *w = (parx_writer *)arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->count == 0 && !w->stop)
            pthread_cond_wait(&w->work, &w->mu);
        if (w->count == 0) break; /* stop, and nothing left */
        parx__wr_op op = w->ops[w->head];
        int status = w->err; /* after an error nothing more is written */
        pthread_mutex_unlock(&w->mu);
        if (!status) status = parx__wr_pwrite(w->fd, w->stream, &op);
        if (w->d.done) w->d.done(op.orig, op.size, status, w->d.done_user); /* no lock held */
        pthread_mutex_lock(&w->mu);
        if (status && !w->err) w->err = status;
        w->head = (w->head + 1) % w->d.depth;
        w->count--;
        pthread_cond_signal(&w->space); /* the one caller may wait for room */
        if (w->count == 0) pthread_cond_broadcast(&w->idle);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

#ifndef PARX_NO_URING
/* io_uring: the op's next write goes into the SQ (submitted by
   parx__wr_uring_submit). Every SQE gets a number, in SQ order: the kernel
   takes SQEs in that order, so those numbered below w->sq_submitted are
   submitted and the others still wait in the SQ. */
static void parx__wr_uring_queue(parx_writer *w, parx__wr_op *op)
{
    PARX_ASSERT(!w->ring_failed); /* its SQE would go out with the abandoned ones */
    struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
    PARX_ASSERT(sqe != NULL); /* depth entries, at most depth ops live, one SQE each */
    size_t n = op->len < PARX__IO_MAX_CHUNK ? op->len : PARX__IO_MAX_CHUNK;
    io_uring_prep_write(sqe, w->fd, op->buf, (unsigned)n, op->off);
    io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
    io_uring_sqe_set_data(sqe, op);
    op->live = true;
    op->sq_seq = w->sq_queued++;
    op->sqe = sqe;
}

/* Write `seq`'s error rc becomes the writer's error if no write before it
   in the order handed off has failed. */
static void parx__wr_uring_fail(parx_writer *w, int rc, uint64_t seq)
{
    if (!w->err || seq < w->err_seq) {
        w->err = rc;
        w->err_seq = seq;
    }
}

/* After an error: the writes after it whose SQEs still wait in the SQ are
   not written. Their SQEs become NOPs (with no op: reap skips them), as
   SQEs in the SQ cannot be taken back, and .done gets the error. The
   kernel reads an SQE only inside io_uring_enter (no SQPOLL), so one not
   yet submitted may be changed. Writes before the error stay queued. */
static void parx__wr_uring_stop_later(parx_writer *w)
{
    for (int i = 0; i < w->d.depth; i++) {
        parx__wr_op *op = &w->ops[i];
        if (!op->live || op->sq_seq < w->sq_submitted || op->seq <= w->err_seq) continue;
        io_uring_prep_nop((struct io_uring_sqe *)op->sqe);
        io_uring_sqe_set_data((struct io_uring_sqe *)op->sqe, NULL);
        op->live = false;
        if (w->d.done) w->d.done(op->orig, op->size, w->err, w->d.done_user);
    }
}

/* Nothing more will be submitted (w->err is set, to rc if it was not, and
   w->ring_failed): the ops whose writes still wait in the SQ are finished
   with the error and .done is told, except `keep`, whose buffer goes back
   to the caller untouched. The SQEs stay in the SQ, never submitted, until
   the ring is torn down -- and become NOPs, which would touch no buffer if
   they were. (A later submit would send them: the SQ cannot be taken
   back. So nothing is queued after this, a retry of a write in flight
   included: see parx__wr_uring_reap.) */
static void parx__wr_uring_abandon(parx_writer *w, int rc, const parx__wr_op *keep)
{
    /* The ring's error is the error of the earliest write it leaves
       unfinished: of those in the SQ, which it will never send. A write in
       flight before them may still come back, with an error of its own that
       must then win (flush reports the earliest failed write); only when
       nothing waits in the SQ (the ring could not be waited on) is it
       charged to the earliest write in flight. */
    uint64_t first = UINT64_MAX, first_live = UINT64_MAX;
    for (int i = 0; i < w->d.depth; i++) {
        const parx__wr_op *op = &w->ops[i];
        if (!op->live) continue;
        if (op->seq < first_live) first_live = op->seq;
        if (op->sq_seq >= w->sq_submitted && op->seq < first) first = op->seq;
    }
    parx__wr_uring_fail(w, rc, first != UINT64_MAX ? first : first_live);
    for (int i = 0; i < w->d.depth; i++) {
        parx__wr_op *op = &w->ops[i];
        if (!op->live || op->sq_seq < w->sq_submitted) continue;
        io_uring_prep_nop((struct io_uring_sqe *)op->sqe);
        io_uring_sqe_set_data((struct io_uring_sqe *)op->sqe, NULL);
        op->live = false;
        if (op != keep && w->d.done) w->d.done(op->orig, op->size, w->err, w->d.done_user);
    }
    w->sq_submitted = w->sq_queued;
    w->ring_failed = true;
}

#ifndef PARX__WR_SUBMIT /* a test hook (tests/writer_faults.c), io_uring_submit otherwise */
#define PARX__WR_SUBMIT io_uring_submit
#endif

/* Submit what waits in the SQ. Counts only what the kernel took: a partial
   submission leaves the rest for later. Returns 0 (all submitted, or short
   of resources with writes in flight: submitted again after a completion),
   or the error that stopped the writer (the waiting ops were abandoned,
   sparing `keep`). */
static int parx__wr_uring_submit(parx_writer *w, const parx__wr_op *keep)
{
    unsigned intr = 0;
    while (w->sq_submitted < w->sq_queued) {
        int rc = PARX__WR_SUBMIT(&w->ring);
        if (rc > 0) {
            w->sq_submitted += (uint64_t)rc;
            w->inflight += rc;
            PARX_ASSERT(w->sq_submitted <= w->sq_queued);
            intr = 0;
            continue;
        }
        if (rc == -EINTR) {
            intr = parx__io_retry(intr, EINTR);
            continue;
        }
        if ((rc == 0 || rc == -EAGAIN || rc == -EBUSY) && w->inflight > 0)
            return 0; /* short of resources: let writes in flight finish first */
        if (rc == 0) rc = -EAGAIN; /* nothing taken, nothing in flight: no progress possible */
        parx__wr_uring_abandon(w, rc, keep);
        return rc;
    }
    return 0;
}

/* Finish what has completed -- after waiting for one completion if `wait`
   and writes are in flight -- then submit what waits in the SQ. Writes that
   come back -EINTR, -EAGAIN or -ECANCELED (paused as parx__io_retry says)
   (io_uring cancels the io-wq work of a thread that exits, so the writes of
   a caller's thread that has since ended come back cancelled) are written
   again, and short writes resumed,
   until an error stops the writer. Returns false when the ring could not be
   waited on (w->err says why; writes may still be in flight). */
static bool parx__wr_uring_reap(parx_writer *w, bool wait)
{
    struct io_uring_cqe *cqe;
    if (wait && w->inflight > 0) {
        int rc = parx__uring_wait(&w->ring, &cqe);
        if (rc < 0) {
            parx__wr_uring_abandon(w, rc, NULL);
            return false;
        }
    }
    while (w->inflight > 0 && io_uring_peek_cqe(&w->ring, &cqe) == 0) {
        parx__wr_op *op = (parx__wr_op *)io_uring_cqe_get_data(cqe);
        int res = cqe->res;
        io_uring_cqe_seen(&w->ring, cqe);
        w->inflight--;
        if (!op) continue; /* a write stopped in the SQ (parx__wr_uring_stop_later) */
        /* an earlier write failed: this one is not written further */
        int stopped = w->err && w->err_seq < op->seq ? w->err : 0;
        int status = 0;
        if (res == -EINTR || res == -EAGAIN || res == -ECANCELED) {
            /* again, after a pause (here in the caller's thread) when
               parx__io_retry says. EAGAIN: the file system is short of
               something, so the pause grows across writes; EINTR and
               ECANCELED: this write's own count (the exit of the thread
               that submitted them cancels every write it had in flight,
               each once: none may wait for the others) */
            if (stopped)
                status = stopped;
            else if (res == -EAGAIN)
                w->again = parx__io_backoff(w->again);
            else
                op->again = parx__io_retry(op->again, -res);
        } else if (res == -EIO && w->fuse && !w->stream && !stopped) {
            /* FUSE ends an asynchronous write that its file system answered
               short with EIO, whatever was written (fuse_get_res_by_io), so
               io_uring cannot tell a short write from a failed one. What is
               left is written again, here on the caller's thread, with
               pwrite, which gets a short write as it is and resumes it; a
               real EIO comes back from it too. Idempotent: nothing that
               overlaps this write is in flight (see parx__wr_queue). */
            w->again = 0;
            status = parx__wr_pwrite(w->fd, false, op);
        } else if (res < 0) {
            status = res;
        } else if (res == 0) {
            status = -EIO; /* no progress and no reason: do not spin */
        } else {
            w->again = op->again = 0;
            op->buf += res;
            op->off += (uint64_t)res;
            op->len -= (size_t)res;
            if (op->len > 0) status = stopped; /* a short write: the rest, unless stopped */
        }
        /* the ring refused work: the rest is not written (see abandon) */
        if (!status && op->len > 0 && w->ring_failed) status = w->err;
        if (!status && op->len > 0) { /* again: a retry, or the rest of a short write */
            parx__wr_uring_queue(w, op);
            continue;
        }
        op->live = false;
        if (status && status != stopped) parx__wr_uring_fail(w, status, op->seq); /* its own */
        if (w->d.done) w->d.done(op->orig, op->size, status, w->d.done_user);
    }
    if (w->sq_submitted < w->sq_queued) {
        if (w->err) parx__wr_uring_stop_later(w);
        parx__wr_uring_submit(w, NULL);
    }
    return true;
}
#endif

static int parx__wr_queue(parx_writer *w, const void *buf, size_t size, uint64_t off)
{
    if (!w || (!buf && size > 0)) return -EINVAL;
    if (parx__forked(w->fork_gen)) return -EPERM; /* the queue and ring are the parent's */
    /* a file offset is an off_t: what ends past INT64_MAX cannot be written
       (it would fail later, at flush, and stop the writer) */
    if (off > (uint64_t)INT64_MAX || size > (uint64_t)INT64_MAX - off) return -EINVAL;
#ifndef PARX_NO_URING
    if (w->backend == PARX_IO_URING) {
        parx__wr_uring_reap(w, false);
        /* Nothing to write: done at once, here on the caller's thread, where
           io_uring's .done calls run anyway. (The thread backend queues it
           like any other, so that its .done comes from the writer's thread,
           in order, never beside another.) */
        if (size == 0) {
            if (!w->err && w->d.done) w->d.done(buf, 0, 0, w->d.done_user);
            return w->err;
        }
        for (;;) {
            if (w->err) return w->err;
            parx__wr_op *free_op = NULL;
            bool overlap = false;
            for (int i = 0; i < w->d.depth; i++) {
                parx__wr_op *o = &w->ops[i];
                if (!o->live) {
                    if (!free_op) free_op = o;
                } else if (w->serial || (o->start < off + size && off < o->start + o->size)) {
                    /* a stream has no offsets: io-wq would run two writes to
                       a pipe side by side and mix their bytes, so each waits
                       for the one before, as overlapping writes do; so does
                       a write to a character device, whose offsets may mean
                       nothing (their order would be io-wq's) */
                    overlap = true;
                }
            }
            if (free_op && !overlap) {
                *free_op = (parx__wr_op){
                    buf, size, (const unsigned char *)buf, size, off, off, false, 0, w->handoff++,
                    NULL, 0};
                parx__wr_uring_queue(w, free_op);
                /* an error here stopped the writer and left free_op unissued,
                   its buffer the caller's (.done is not called for it) */
                return parx__wr_uring_submit(w, free_op);
            }
            if (!parx__wr_uring_reap(w, true)) return w->err;
        }
    }
#endif
    pthread_mutex_lock(&w->mu);
    while (!w->err && w->count == w->d.depth)
        pthread_cond_wait(&w->space, &w->mu);
    int e = w->err;
    if (!e) {
        w->ops[(w->head + w->count) % w->d.depth] =
            (parx__wr_op){buf, size, (const unsigned char *)buf, size, off, off, false, 0, 0, NULL,
                          0};
        w->count++;
        pthread_cond_signal(&w->work);
    }
    pthread_mutex_unlock(&w->mu);
    return e;
}

PARX_API int parx_writer_write(parx_writer *w, const void *buf, size_t size)
{
    if (!w) return -EINVAL;
    int e = parx__wr_queue(w, buf, size, w->pos);
    if (e == 0) w->pos += size;
    return e;
}

PARX_API int parx_writer_write_at(parx_writer *w, const void *buf, size_t size, uint64_t offset)
{
    if (!w || (!buf && size > 0)) return -EINVAL; /* as parx_writer_write, before -ESPIPE */
    if (parx__forked(w->fork_gen)) return -EPERM; /* as every write in a fork() child */
    if (w->stream) return -ESPIPE;
    return parx__wr_queue(w, buf, size, offset);
}

PARX_API int parx_writer_flush(parx_writer *w)
{
    if (!w) return -EINVAL;
    if (parx__forked(w->fork_gen)) return -EPERM; /* the writes are the parent's to wait for */
    int e;
#ifndef PARX_NO_URING
    if (w->backend == PARX_IO_URING) {
        /* until nothing is in flight or waits in the SQ; a ring that cannot
           be waited on ends it (with its error) */
        while (w->inflight > 0 || w->sq_submitted < w->sq_queued)
            if (!parx__wr_uring_reap(w, true)) break;
        e = w->err;
    } else
#endif
    {
        pthread_mutex_lock(&w->mu);
        while (w->count > 0)
            pthread_cond_wait(&w->idle, &w->mu);
        e = w->err;
        pthread_mutex_unlock(&w->mu);
    }
    /* EINVAL: the file cannot be synced -- a pipe, socket or device such
       as /dev/null, a file of procfs (no fsync method) -- and holds nothing
       to wait for: not an error, or the first flush would stop the writer
       for good. EROFS means the same for a special file (fsync(2)), but
       from a regular file's file system it means the data did not reach
       the device (ext4 once an error has made it read-only): an error. */
    if (!e && w->d.sync && fdatasync(w->fd) != 0 && errno != EINVAL &&
        (errno != EROFS || w->regular)) {
        e = -errno;
        if (w->backend == PARX_IO_THREADS) pthread_mutex_lock(&w->mu);
        if (!w->err) w->err = e;
        if (w->backend == PARX_IO_THREADS) pthread_mutex_unlock(&w->mu);
    }
    return e;
}

static void parx__wr_destroy(parx_writer *w)
{
    if (parx__forked(w->fork_gen)) {
        /* A fork() child's copy: the writer's thread did not come with it
           (a lock it held at the fork stays held here), and the ring is
           the parent's too (liburing's exit only unmaps and closes). */
#ifndef PARX_NO_URING
        if (w->backend == PARX_IO_URING) parx__uring_exit(&w->ring);
#endif
        free(w->ops);
        free(w);
        return;
    }
    if (w->has_thread) {
        pthread_mutex_lock(&w->mu);
        w->stop = true;
        pthread_cond_signal(&w->work);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
    }
    if (w->sync_ready) {
        pthread_cond_destroy(&w->work);
        pthread_cond_destroy(&w->space);
        pthread_cond_destroy(&w->idle);
        pthread_mutex_destroy(&w->mu);
    }
#ifndef PARX_NO_URING
    if (w->backend == PARX_IO_URING) parx__uring_exit(&w->ring);
#endif
    free(w->ops);
    free(w);
}

PARX_API int parx_writer_close(parx_writer *w)
{
    if (!w) return -EINVAL;
    if (parx__forked(w->fork_gen)) { /* a fork() child's copy: free it, write nothing */
        close(w->fd);
        parx__wr_destroy(w);
        return -EPERM;
    }
    int e = parx_writer_flush(w);
    /* flush waited for every write, unless the ring could not be waited
       on: then writes may still be in flight (see parx_writer_flush) */
    if (close(w->fd) != 0 && !e && errno != EINTR) e = -errno;
    parx__wr_destroy(w);
    return e;
}

#ifndef PARX_NO_URING
/* Whether `path` (or, when it does not exist yet, the directory it would be
   created in) lies on a FUSE file system. There io_uring takes a short
   write -- which a FUSE file system with direct_io may return, and pwrite
   passes on as it is -- for an error: the write comes back -EIO, nothing
   of it written (seen on 6.18). So PARX_IO_AUTO writes such a file with
   the thread backend. Asked before the file is opened, so that the choice
   leaves the file untouched when it fails, as parx_writer_open promises. */
static bool parx__wr_on_fuse(const char *path)
{
    struct statfs sf;
    if (statfs(path, &sf) == 0) return sf.f_type == PARX__FUSE_MAGIC;
    if (errno != ENOENT) return false;
    const char *slash = strrchr(path, '/');
    if (!slash) return statfs(".", &sf) == 0 && sf.f_type == PARX__FUSE_MAGIC;
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *dir = (char *)malloc(n + 1);
    if (!dir) return false;
    memcpy(dir, path, n);
    dir[n] = 0;
    bool fuse = statfs(dir, &sf) == 0 && sf.f_type == PARX__FUSE_MAGIC;
    free(dir);
    return fuse;
}
#endif

PARX_API parx_writer *parx_writer_open(const parx_writer_desc *desc, int *err)
{
    int e = 0;
    parx_writer *w = NULL;
    if (!desc || !desc->path || desc->depth < 0 || desc->depth > PARX__IO_MAX_DEPTH ||
        (unsigned)desc->backend > (unsigned)PARX_IO_THREADS) {
        e = -EINVAL;
        goto fail;
    }
    w = (parx_writer *)calloc(1, sizeof *w);
    if (!w) {
        e = -ENOMEM;
        goto fail;
    }
    w->d = parx__writer_desc_defaults(desc);
    w->fd = -1;
    w->backend = PARX_IO_THREADS;
    if ((e = parx__fork_gen_now(&w->fork_gen)) != 0) goto fail;
    w->ops = (parx__wr_op *)calloc((size_t)w->d.depth, sizeof *w->ops);
    if (!w->ops) {
        e = -ENOMEM;
        goto fail;
    }
    /* The backend first: PARX_IO_URING refused must leave the file as it was
       (not truncated). */
    parx_io_backend want = w->d.backend;
    bool fuse = false, chardev = false;
#ifndef PARX_NO_URING
    void *ring = &w->ring;
    fuse = want == PARX_IO_AUTO && parx__wr_on_fuse(w->d.path);
    /* A character device: io_uring tries a write without blocking and,
       told to wait, polls the device for room, which some never report:
       /dev/kmsg's writes never complete (seen on 6.18) */
    struct stat dev;
    chardev = want == PARX_IO_AUTO && stat(w->d.path, &dev) == 0 && S_ISCHR(dev.st_mode);
    if (fuse || chardev) want = PARX_IO_THREADS;
#else
    void *ring = NULL;
#endif
    int b = parx__io_choose(want, ring, (unsigned)w->d.depth, true, w->why, sizeof w->why);
    if (b < 0) {
        e = b;
        goto fail;
    }
    if (fuse) {
        snprintf(w->why, sizeof w->why,
                 "threads: a FUSE file system (io_uring takes its short writes for EIO)");
        parx__log(PARX_LOG_INFO, "parx_writer: a FUSE file system (io_uring takes its short "
                                 "writes for EIO); using the thread backend"); /* no lock held */
    }
    if (chardev)
        snprintf(w->why, sizeof w->why,
                 "threads: a character device (io_uring would poll it for room to write)");
    w->backend = b; /* from here destroy tears the ring down */
    if (b == PARX_IO_THREADS) {
        /* The writer thread before the file too: one that cannot be
           started must not leave the file created or truncated. It reads
           w->fd and w->stream only for an op, which write queues under
           w->mu once this function has returned. */
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->work, NULL);
        pthread_cond_init(&w->space, NULL);
        pthread_cond_init(&w->idle, NULL);
        w->sync_ready = true;
        e = parx__io_thread(&w->thread, parx__wr_thread, w);
        if (e < 0) goto fail;
        w->has_thread = true;
    }
    w->fd = parx__io_open(w->d.path, O_WRONLY | O_CREAT | (w->d.append ? 0 : O_TRUNC), w->d.mode);
    bool append_only = false;
    if (w->fd == -EPERM && w->d.append) {
        /* An append-only file (chattr +a) opens for writing only with
           O_APPEND, and the kernel then puts every write at the end,
           whatever its offset: written as a stream (one write at a time,
           in order; write_at -ESPIPE). */
        w->fd = parx__io_open(w->d.path, O_WRONLY | O_CREAT | O_APPEND, w->d.mode);
        append_only = w->fd >= 0;
    }
    if (w->fd < 0) {
        e = w->fd;
        w->fd = -1;
        goto fail;
    }
    struct stat st;
    if (fstat(w->fd, &st) != 0) {
        e = -errno;
        goto fail;
    }
    w->regular = S_ISREG(st.st_mode);
#ifndef PARX_NO_URING
    struct statfs sf;
    w->fuse = fstatfs(w->fd, &sf) == 0 && sf.f_type == PARX__FUSE_MAGIC;
#endif
    if (w->d.append) { /* after what it holds: a device says where its end is (lseek) */
        off_t end = w->regular ? st.st_size : lseek(w->fd, 0, SEEK_END);
        w->pos = end > 0 ? (uint64_t)end : 0; /* a stream (ESPIPE) or /dev/null: 0 */
    }
    w->stream = append_only || (lseek(w->fd, 0, SEEK_CUR) < 0 && errno == ESPIPE);
    w->serial = w->stream || S_ISCHR(st.st_mode);
    w->d.path = NULL; /* not kept: the caller's string need not outlive the call */
    if (err) *err = 0;
    return w;

fail:
    if (w) {
        if (w->fd >= 0) close(w->fd);
        parx__wr_destroy(w);
    }
    if (err) *err = e;
    errno = -e;
    return NULL;
}

PARX_API parx_io_backend parx_writer_backend(const parx_writer *w, const char **why)
{
    if (why) *why = w ? w->why : "no writer";
    return w ? (parx_io_backend)w->backend : PARX_IO_AUTO;
}
#endif /* PARX_NO_PREFETCH */

/* -------------------------------------------------------------------------- */
/* >>probe: measuring this machine's overheads                                */
/* -------------------------------------------------------------------------- */
/* Every figure is the median of a few runs, so that one run slowed by
   another process does not decide it, and every loop is bounded by a count
   and by a time budget: well under a second on a 2-CPU VM, and not
   minutes under valgrind. Process pools come first, while the caller may still be
   single-threaded (a fork pool forks it), thread pools last.
   The per-job figures are what makes parx_run_predict's model hold. With
   the start left out (the pool exists already) and job_ns = 0 (empty
   jobs), it says ceil(n / workers) * per-job cost, so the per-job cost is
   wall / ceil(n / cpus). With empty jobs every worker
   wants its next job at the same moment, so where handing out jobs is
   serial this overstates the cost for longer jobs, whose hand-outs overlap
   the work: the break-even it gives errs toward sequential, the safe side. */

#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <sys/stat.h>

#define PARX__PROBE_MAX_REPS 15
#define PARX__PROBE_MAX_FILE ((size_t)1 << 20) /* parx_probe_load reads no more */
#define PARX__PROBE_MAX_CPUS (1 << 20)         /* nor a larger "cpus" */

/* Median of v[0..n) (sorts v). */
static double parx__probe_median(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && v[k - 1] > v[k]; k--) {
            double t = v[k];
            v[k] = v[k - 1];
            v[k - 1] = t;
        }
    if (n <= 0) return 0;
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Another run of a measurement? While fewer than `min` are done, or fewer
   than `max` and `budget_ns` since `start` is not spent. */
static bool parx__probe_more(int done, int min, int max, uint64_t start, uint64_t budget_ns)
{
    if (done >= max) return false;
    return done < min || parx__now_ns() - start < budget_ns;
}

/* Append to p->notes, "; " between entries, cut where it does not fit. */
static void parx__probe_note(parx_probe *p, const char *fmt, ...)
    __attribute__((__format__(__printf__, 2, 3)));
static void parx__probe_note(parx_probe *p, const char *fmt, ...)
{
    size_t len = strnlen(p->notes, sizeof p->notes - 1);
    if (len && len + 3 < sizeof p->notes) {
        memcpy(p->notes + len, "; ", 3);
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->notes + len, sizeof p->notes - len, fmt, ap);
    va_end(ap);
}

static void parx__probe_empty_task(void *arg) { (void)arg; }

static int parx__probe_empty_run(void *ctx, size_t i, parx_rng *rng, void *out)
{
    (void)ctx;
    (void)i;
    (void)rng;
    (void)out;
    return 0;
}

/* The runner's per-job cost on the backend of *desc (which names a pool
   already started): wall / ceil(n / cpus) for n empty jobs, n sized so
   that one run takes about run_ns (within [lo, hi]). Returns 0 with *ns,
   or the runner's error. */
static int parx__probe_run_cost(const parx_run_desc *desc, int cpus, size_t lo, size_t hi,
                                uint64_t run_ns, uint64_t budget_ns, double *ns)
{
    /* A first, small run warms the pool up and sizes the others. */
    size_t n = lo;
    uint64_t t0 = parx__now_ns();
    int rc = parx_run(n, parx__probe_empty_run, NULL, NULL, desc, NULL);
    uint64_t t1 = parx__now_ns();
    if (rc != 0) return rc < 0 ? rc : -EIO; /* > 0: empty jobs failed: the pool broke */
    double per = (double)(t1 - t0) / (double)n, want = per > 0 ? (double)run_ns / per : 0;
    n = want >= (double)hi ? hi : want <= (double)lo ? lo : (size_t)want;
    size_t lanes = (n + (size_t)cpus - 1) / (size_t)cpus;
    double v[PARX__PROBE_MAX_REPS];
    int k = 0;
    uint64_t start = parx__now_ns();
    while (parx__probe_more(k, 5, 9, start, budget_ns)) {
        t0 = parx__now_ns();
        rc = parx_run(n, parx__probe_empty_run, NULL, NULL, desc, NULL);
        t1 = parx__now_ns();
        if (rc != 0) return rc < 0 ? rc : -EIO;
        v[k++] = (double)(t1 - t0) / (double)lanes;
    }
    *ns = parx__probe_median(v, k);
    return 0;
}

/* thread_start_ns, task_ns, thread_job_ns. */
static void parx__probe_threads(parx_probe *p)
{
    parx_pool_desc pd;
    memset(&pd, 0, sizeof pd);
    pd.threads = p->cpus;
    double v[PARX__PROBE_MAX_REPS];
    int k = 0, e = 0;
    uint64_t start = parx__now_ns();
    while (parx__probe_more(k, 5, PARX__PROBE_MAX_REPS, start, 100000000u)) {
        uint64_t t0 = parx__now_ns();
        parx_pool *pool = parx_pool_create(&pd);
        if (!pool) {
            e = -errno;
            break;
        }
        parx_pool_destroy(pool);
        v[k++] = (double)(parx__now_ns() - t0);
    }
    parx_pool *pool = NULL;
    if (k > 0 && !(pool = parx_pool_create(&pd))) e = -errno;
    if (!pool) {
        parx__probe_note(p, "threads: no pool (%s)", parx_strerror(e));
        return;
    }
    p->thread_start_ns = parx__probe_median(v, k);
    p->measured_mask |= PARX_PROBE_HAVE_THREAD_START;

    /* Tasks spawned from outside the pool, a batch per wait. */
    enum { TASKS = 2000 };
    k = 0;
    start = parx__now_ns();
    while (parx__probe_more(k, 5, PARX__PROBE_MAX_REPS, start, 100000000u)) {
        parx_group g;
        parx_group_init(&g, pool);
        uint64_t t0 = parx__now_ns();
        for (int i = 0; i < TASKS; i++) parx_spawn(&g, parx__probe_empty_task, NULL);
        parx_wait(&g);
        v[k++] = (double)(parx__now_ns() - t0) / TASKS;
    }
    p->task_ns = parx__probe_median(v, k);
    p->measured_mask |= PARX_PROBE_HAVE_TASK;

    parx_run_desc rd;
    memset(&rd, 0, sizeof rd);
    rd.exec = PARX_EXEC_THREADS;
    rd.pool = pool;
    double ns = 0;
    int rc = parx__probe_run_cost(&rd, p->cpus, 1000, 1000000, 20000000u, 150000000u, &ns);
    if (rc == 0) {
        p->thread_job_ns = ns;
        p->measured_mask |= PARX_PROBE_HAVE_THREAD_JOB;
    } else {
        parx__probe_note(p, "runner on threads: %s", parx_strerror(rc));
    }
    parx_pool_destroy(pool);
}

#ifndef PARX_NO_PROC
static int parx__probe_empty_job(void *arg)
{
    (void)arg;
    return 0;
}

/* Start and stop pools of `mode` with cpus workers: the median of create
   (until every worker is ready) + destroy. Returns 0 with *ns, or the
   error of the first create. */
static int parx__probe_pool_start(parx_start mode, int cpus, uint64_t budget_ns, double *ns)
{
    parx_procs_desc d;
    memset(&d, 0, sizeof d);
    d.workers = cpus;
    d.start = mode;
    double v[PARX__PROBE_MAX_REPS];
    int k = 0, err = 0;
    uint64_t start = parx__now_ns();
    while (parx__probe_more(k, 3, 9, start, budget_ns)) {
        uint64_t t0 = parx__now_ns();
        parx_procs *pp = parx__procs_create(&d, &err);
        if (!pp) break;
        parx_procs_destroy(pp);
        v[k++] = (double)(parx__now_ns() - t0);
    }
    if (k == 0) return err ? err : -EAGAIN;
    *ns = parx__probe_median(v, k);
    return 0;
}

/* proc_rt_ns and proc_job_ns on a pool of `mode`. */
static void parx__probe_hot(parx_probe *p, parx_start mode)
{
    parx_procs_desc d;
    memset(&d, 0, sizeof d);
    d.workers = p->cpus;
    d.start = mode;
    int err = 0;
    parx_procs *pp = parx__procs_create(&d, &err);
    if (!pp) {
        parx__probe_note(p, "job round trip: no pool (%s)", parx_strerror(err));
        return;
    }
    /* One job at a time: submit, wait; the workers are still polling from
       the job before (hot), as in a loop of dependent jobs. */
    enum { RT_MAX = 201 };
    double v[RT_MAX];
    int k = 0, rc = 0;
    uint64_t start = parx__now_ns();
    for (bool warm = false; rc == 0 && parx__probe_more(k, 21, RT_MAX, start, 60000000u);) {
        parx_ticket t;
        parx_job_result r;
        uint64_t t0 = parx__now_ns();
        if ((rc = parx_procs_submit(pp, parx__probe_empty_job, NULL, &t)) ||
            (rc = parx_procs_wait(pp, t, &r)) || (rc = r.status))
            break;
        if (warm) v[k++] = (double)(parx__now_ns() - t0);
        warm = true; /* the first one wakes the workers up: not counted */
    }
    if (rc == 0 && k > 0) {
        p->proc_rt_ns = parx__probe_median(v, k);
        p->measured_mask |= PARX_PROBE_HAVE_PROC_RT;
    } else {
        parx__probe_note(p, "job round trip: %s", parx_strerror(rc));
    }

    parx_run_desc rd;
    memset(&rd, 0, sizeof rd);
    rd.exec = mode == PARX_START_SPAWN ? PARX_EXEC_SPAWN : PARX_EXEC_FORK;
    rd.procs = pp;
    double ns = 0;
    rc = parx__probe_run_cost(&rd, p->cpus, 200, 20000, 20000000u, 150000000u, &ns);
    if (rc == 0) {
        p->proc_job_ns = ns;
        p->measured_mask |= PARX_PROBE_HAVE_PROC_JOB;
    } else {
        parx__probe_note(p, "runner on processes: %s", parx_strerror(rc));
    }
    parx_procs_destroy(pp);
}

/* fork_start_ns, spawn_start_ns, proc_rt_ns, proc_job_ns. */
static void parx__probe_procs(parx_probe *p)
{
    /* A fork copies whatever locks the caller's other threads hold: with
       threads about, fork pools are not started (their figures stay the
       defaults), and the round trips are measured on spawn workers. */
    int threads = parx__procs_threads();
    bool can_fork = threads <= 1; /* 0: unknown (no /proc); assume alone */
    double ns = 0;
    int rc;
    if (can_fork) {
        if ((rc = parx__probe_pool_start(PARX_START_FORK, p->cpus, 250000000u, &ns)) == 0) {
            p->fork_start_ns = ns;
            p->measured_mask |= PARX_PROBE_HAVE_FORK_START;
        } else {
            p->fork_start_ns = 0;
            can_fork = false;
            parx__probe_note(p, "fork: %s", parx_strerror(rc));
        }
    } else {
        parx__probe_note(p, "fork: not measured, the caller has %d threads (default kept)",
                         threads);
    }
    bool can_spawn = false;
    if ((rc = parx__probe_pool_start(PARX_START_SPAWN, p->cpus, 250000000u, &ns)) == 0) {
        p->spawn_start_ns = ns;
        p->measured_mask |= PARX_PROBE_HAVE_SPAWN_START;
        can_spawn = true;
    } else {
        p->spawn_start_ns = 0;
        parx__probe_note(p, "spawn: %s",
                         rc == PARX_E_SPAWN ? "the executable did not start a fork server (is "
                                              "parx's implementation linked into it?)"
                                            : parx_strerror(rc));
    }
    if (can_fork) parx__probe_hot(p, PARX_START_FORK);
    else if (can_spawn) parx__probe_hot(p, PARX_START_SPAWN);
}
#endif /* PARX_NO_PROC */

/* arena_attach_ns: parx_arena_from_fd + parx_arena_close of a fresh arena. */
static void parx__probe_arena(parx_probe *p)
{
#ifdef PARX_SHM_H_INCLUDED
    parx_arena_desc ad;
    memset(&ad, 0, sizeof ad);
    ad.size = (size_t)4 << 20;
    int err = 0;
    parx_arena *a = parx_arena_create(&ad, &err);
    double v[PARX__PROBE_MAX_REPS];
    int k = 0;
    uint64_t start = parx__now_ns();
    while (a && parx__probe_more(k, 3, PARX__PROBE_MAX_REPS, start, 20000000u)) {
        /* the median of batches of 8, so that a batch outlasts the clock's
           granularity even where reading it is slow */
        uint64_t t0 = parx__now_ns();
        for (int i = 0; i < 8 && a; i++) {
            parx_arena *b = parx_arena_from_fd(parx_arena_fd(a), &err);
            if (!b) {
                parx_arena_close(a);
                a = NULL;
                break;
            }
            parx_arena_close(b);
        }
        if (a) v[k++] = (double)(parx__now_ns() - t0) / 8;
    }
    if (a) {
        parx_arena_close(a);
        p->arena_attach_ns = parx__probe_median(v, k);
        p->measured_mask |= PARX_PROBE_HAVE_ARENA_ATTACH;
    } else {
        p->arena_attach_ns = 0;
        parx__probe_note(p, "arena: %s", parx_strerror(err));
    }
#else
    p->arena_attach_ns = 0;
    parx__probe_note(p, "arena: compiled out (PARX_NO_PROC, parx_shm.h not included first)");
#endif
}

/* io_uring: a ring that can read, set up with a NOP run through it, as the
   prefetcher would (parx__uring_setup, >>prefetch). */
static void parx__probe_uring(parx_probe *p)
{
#if !defined(PARX_NO_PREFETCH) && !defined(PARX_NO_URING)
    struct io_uring ring;
    char why[PARX__IO_WHY];
    int rc = parx__uring_setup(&ring, 4, IORING_OP_READ, why, sizeof why);
    if (rc == 0) {
        parx__uring_exit(&ring);
        p->io_uring = 1;
        snprintf(p->io_uring_why, sizeof p->io_uring_why, "a ring set up and a NOP run through it");
    } else {
        /* why: "threads: <what failed>" (the prefetcher's wording) */
        const char *w = strncmp(why, "threads: ", 9) == 0 ? why + 9 : why;
        size_t l = strnlen(w, sizeof p->io_uring_why - 1);
        p->io_uring = 0;
        memcpy(p->io_uring_why, w, l); /* cut to fit */
        p->io_uring_why[l] = '\0';
    }
#else
    p->io_uring = 0;
    snprintf(p->io_uring_why, sizeof p->io_uring_why, "compiled out (%s)",
#ifdef PARX_NO_URING
             "PARX_NO_URING"
#else
             "PARX_NO_PREFETCH"
#endif
    );
#endif
    p->measured_mask |= PARX_PROBE_HAVE_IO_URING;
}

PARX_API int parx_probe_measure(parx_probe *p, unsigned flags)
{
    if (!p || (flags & ~PARX_PROBE_NO_PROCS)) return -EINVAL;
    parx_probe_defaults(p);
    if (p->cpus < 1) p->cpus = parx__cpu_count();
    if (p->cpus > 1024) p->cpus = 1024; /* the most workers a process pool has */
    p->measured = true;
    p->measured_mask = 0;
    p->notes[0] = '\0';
    p->gpu_dispatch_ns = 0; /* parx_gpu.h's to measure */
    p->gpu_name[0] = '\0';
#ifdef PARX_NO_PROC
    (void)flags;
    p->fork_start_ns = p->spawn_start_ns = p->proc_job_ns = p->proc_rt_ns = 0;
    parx__probe_note(p, "processes: compiled out (PARX_NO_PROC)");
#else
    if (flags & PARX_PROBE_NO_PROCS) parx__probe_note(p, "processes: not measured (defaults)");
    else parx__probe_procs(p);
#endif
    parx__probe_arena(p);
    parx__probe_uring(p);
    parx__probe_threads(p);
    return 0;
}

/* ---- the JSON file --------------------------------------------------------- */

/* Output into a buffer with snprintf semantics: len counts every byte
   asked for, whether it fitted or not. */
typedef struct parx__pbuf {
    char *buf;
    size_t size, len;
} parx__pbuf;

static void parx__pbuf_put(parx__pbuf *b, const char *fmt, ...)
    __attribute__((__format__(__printf__, 2, 3)));
static void parx__pbuf_put(parx__pbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->len < b->size ? b->buf + b->len : NULL,
                      b->len < b->size ? b->size - b->len : 0, fmt, ap);
    va_end(ap);
    if (n > 0) b->len += (size_t)n;
}

/* The length of the UTF-8 sequence at s (avail bytes there), or 0 where
   none starts: RFC 3629's, so no overlong forms, no surrogates, nothing
   past U+10FFFF. JSON text is UTF-8 (RFC 8259). */
static size_t parx__utf8_len(const unsigned char *s, size_t avail)
{
    unsigned c = s[0], lo = 0x80, hi = 0xBF;
    size_t len;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0; /* shorter forms are overlong */
        if (c == 0xED) hi = 0x9F; /* ED A0..BF: the surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90; /* overlong */
        if (c == 0xF4) hi = 0x8F; /* past U+10FFFF */
    } else {
        return 0; /* a continuation byte, C0, C1 (overlong), F5..FF */
    }
    if (avail < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t k = 2; k < len; k++)
        if (s[k] < 0x80 || s[k] > 0xBF) return 0;
    return len;
}

/* A JSON string: quotes, backslashes and control characters escaped; the
   rest (UTF-8) as it is, but for bytes that are no UTF-8 (a field filled
   by hand, or cut inside a character), each written as U+FFFD, so that
   load reads back what save writes. At most max bytes of s. */
static void parx__pbuf_json_str(parx__pbuf *b, const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    parx__pbuf_put(b, "\"");
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = parx__utf8_len((const unsigned char *)s + i, n - i);
        if (c == '"' || c == '\\') parx__pbuf_put(b, "\\%c", c);
        else if (c < 0x20) parx__pbuf_put(b, "\\u%04x", c);
        else if (len == 0) parx__pbuf_put(b, "\\ufffd");
        else parx__pbuf_put(b, "%.*s", (int)len, s + i);
        i += len ? len : 1;
    }
    parx__pbuf_put(b, "\"");
}

/* The "C" locale for numbers ('.' as the decimal point whatever the
   program's locale), for this thread only; NULL where it cannot be had. */
static locale_t parx__probe_c_locale(locale_t *old)
{
    locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (c) *old = uselocale(c);
    return c;
}

static void parx__probe_locale_back(locale_t c, locale_t old)
{
    if (!c) return;
    uselocale(old);
    freelocale(c);
}

/* A time as the file keeps it: 0 ("not measured") for anything that is not
   a finite, non-negative number, so that parx_probe_load reads back every
   file parx_probe_save writes. */
static double parx__probe_finite(double x) { return isfinite(x) && x > 0 ? x : 0.0; }

PARX_API int parx_probe_save(const parx_probe *p, const char *path)
{
    if (!p || !path || !*path) return -EINVAL;
    char text[4096];
    parx__pbuf b = {text, sizeof text, 0};
    locale_t old = (locale_t)0, c = parx__probe_c_locale(&old);
    const struct {
        const char *key;
        double v;
    } t[] = {
        {"thread_start_ns", p->thread_start_ns}, {"task_ns", p->task_ns},
        {"thread_job_ns", p->thread_job_ns},     {"fork_start_ns", p->fork_start_ns},
        {"spawn_start_ns", p->spawn_start_ns},   {"proc_job_ns", p->proc_job_ns},
        {"proc_rt_ns", p->proc_rt_ns},           {"arena_attach_ns", p->arena_attach_ns},
        {"gpu_dispatch_ns", p->gpu_dispatch_ns},
    };
    /* cpus as load takes it: at least 1 (this machine's count), at most its limit */
    int cpus = p->cpus < 1 ? parx__cpu_count() : p->cpus;
    if (cpus > PARX__PROBE_MAX_CPUS) cpus = PARX__PROBE_MAX_CPUS;
    parx__pbuf_put(&b, "{\n  \"parx_probe\": 1,\n  \"cpus\": %d,\n", cpus);
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        parx__pbuf_put(&b, "  \"%s\": %.17g,\n", t[i].key, parx__probe_finite(t[i].v));
    parx__pbuf_put(&b, "  \"io_uring\": %d,\n  \"io_uring_why\": ", p->io_uring ? 1 : 0);
    parx__pbuf_json_str(&b, p->io_uring_why, sizeof p->io_uring_why);
    parx__pbuf_put(&b, ",\n  \"gpu_name\": ");
    parx__pbuf_json_str(&b, p->gpu_name, sizeof p->gpu_name);
    parx__pbuf_put(&b, ",\n  \"measured\": %s,\n  \"measured_mask\": %u,\n  \"notes\": ",
                   p->measured ? "true" : "false", p->measured_mask);
    parx__pbuf_json_str(&b, p->notes, sizeof p->notes);
    parx__pbuf_put(&b, "\n}\n");
    parx__probe_locale_back(c, old);
    /* without the "C" locale the numbers would have the program's decimal
       point, which load refuses */
    if (!c) return -ENOMEM;
    if (b.len >= sizeof text) return -ENOMEM; /* cannot happen: every field is bounded */

    /* What is at path now: a device, a FIFO or a socket is not replaced by
       a file (load would refuse it too), and a file's permissions carry
       over to the new one. A symbolic link is looked at, not followed
       (lstat): the rename replaces the link, and its target, whatever it
       is, neither decides nor lends its mode. */
    struct stat st;
    bool had = lstat(path, &st) == 0 && !S_ISLNK(st.st_mode);
    if (had && S_ISDIR(st.st_mode)) return -EISDIR;
    if (had && !S_ISREG(st.st_mode)) return -EINVAL;

    /* A temporary file beside it, then rename: a reader (parx_run's
       PARX_PROBE) sees the old file or the new one, never half of one. Its
       name is short (".parx_probe.<pid>.<n>" in path's folder), so that any
       name path's own last part may have leaves room for it. */
    static _Atomic unsigned seq; /* relaxed: only makes names unique, orders nothing */
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) + 1 : 0; /* the folder, with its '/' */
    char *tmp = (char *)malloc(dlen + 48);
    if (!tmp) return -ENOMEM;
    int fd = -1, e = 0;
    for (int tries = 0; tries < 100 && fd < 0; tries++) {
        snprintf(tmp, dlen + 48, "%.*s.parx_probe.%d.%u", (int)dlen, path, (int)getpid(),
                 atomic_fetch_add_explicit(&seq, 1, memory_order_relaxed));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        e = -errno;
        free(tmp);
        return e;
    }
    if (had && fchmod(fd, st.st_mode & 07777) != 0) e = -errno;
    for (size_t off = 0; off < b.len && !e;) {
        ssize_t w = write(fd, text + off, b.len - off);
        if (w > 0) off += (size_t)w;
        else if (w < 0 && errno != EINTR) e = -errno;
    }
    if (close(fd) != 0 && !e) e = -errno;
    if (!e && rename(tmp, path) != 0) e = -errno;
    if (e) unlink(tmp);
    free(tmp);
    return e;
}

/* A strict reader of the JSON the saver writes, and of any other JSON
   object: RFC 8259 syntax, nesting bounded, values of known keys checked. */
typedef struct parx__json {
    const char *s; /* n bytes, and a '\0' after them (strtod reads numbers in place) */
    size_t n, i;
} parx__json;

static void parx__json_ws(parx__json *j)
{
    while (j->i < j->n &&
           (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' || j->s[j->i] == '\r'))
        j->i++;
}

static int parx__json_hex4(parx__json *j, unsigned *u)
{
    *u = 0;
    for (int k = 0; k < 4; k++, j->i++) {
        if (j->i >= j->n) return -EINVAL;
        char ch = j->s[j->i];
        unsigned d = ch >= '0' && ch <= '9'   ? (unsigned)(ch - '0')
                     : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
                     : ch >= 'A' && ch <= 'F' ? (unsigned)(ch - 'A' + 10)
                                              : 16u;
        if (d > 15) return -EINVAL;
        *u = *u * 16 + d;
    }
    return 0;
}

/* Append the UTF-8 of bytes `b[0..len)` to out (cap bytes with the nul) if
   the whole sequence fits; once one does not, nothing more is added. */
static void parx__json_out(char *out, size_t cap, size_t *len, bool *full, const char *b,
                           size_t blen)
{
    if (!out || *full) return;
    if (*len + blen + 1 > cap) {
        *full = true;
        return;
    }
    memcpy(out + *len, b, blen);
    *len += blen;
    out[*len] = '\0';
}

/* A string (at j->s[j->i] == '"'), unescaped into out (cap bytes; cut at a
   character boundary where it does not fit; out NULL: skip it). Returns 0,
   -EINVAL (no JSON string, or bytes that are no UTF-8), or a mask of what
   out could not take (the caller decides: a key no field has, a field's
   error): PARX__JSON_NUL, a \u0000, which out, a C string, cannot hold;
   PARX__JSON_CUT, characters past cap. */
enum { PARX__JSON_NUL = 1, PARX__JSON_CUT = 2 };
static int parx__json_string(parx__json *j, char *out, size_t cap)
{
    size_t len = 0;
    bool full = false, nul = false;
    if (out && cap) out[0] = '\0';
    if (j->i >= j->n || j->s[j->i] != '"') return -EINVAL;
    j->i++;
    for (;;) {
        if (j->i >= j->n) return -EINVAL;
        unsigned char c = (unsigned char)j->s[j->i++];
        if (c == '"') return (nul ? PARX__JSON_NUL : 0) | (full ? PARX__JSON_CUT : 0);
        if (c < 0x20) return -EINVAL; /* raw control characters are not JSON */
        if (c != '\\') {
            /* a UTF-8 sequence is kept whole, or the text is no JSON */
            size_t start = j->i - 1;
            size_t ul = parx__utf8_len((const unsigned char *)j->s + start, j->n - start);
            if (ul == 0) return -EINVAL;
            j->i = start + ul;
            parx__json_out(out, cap, &len, &full, j->s + start, ul);
            continue;
        }
        if (j->i >= j->n) return -EINVAL;
        char e = j->s[j->i++], one;
        switch (e) {
        case '"': one = '"'; break;
        case '\\': one = '\\'; break;
        case '/': one = '/'; break;
        case 'b': one = '\b'; break;
        case 'f': one = '\f'; break;
        case 'n': one = '\n'; break;
        case 'r': one = '\r'; break;
        case 't': one = '\t'; break;
        case 'u': {
            unsigned u, lo;
            if (parx__json_hex4(j, &u)) return -EINVAL;
            if (u >= 0xDC00 && u <= 0xDFFF) return -EINVAL; /* a lone low surrogate */
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (j->i + 1 >= j->n || j->s[j->i] != '\\' || j->s[j->i + 1] != 'u')
                    return -EINVAL;
                j->i += 2;
                if (parx__json_hex4(j, &lo) || lo < 0xDC00 || lo > 0xDFFF) return -EINVAL;
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (u == 0) { /* a C string cannot hold it (skipped: nothing to hold) */
                nul = nul || out != NULL;
                continue;
            }
            char b[4];
            size_t bl;
            if (u < 0x80) {
                b[0] = (char)u;
                bl = 1;
            } else if (u < 0x800) {
                b[0] = (char)(0xC0 | (u >> 6));
                b[1] = (char)(0x80 | (u & 0x3F));
                bl = 2;
            } else if (u < 0x10000) {
                b[0] = (char)(0xE0 | (u >> 12));
                b[1] = (char)(0x80 | ((u >> 6) & 0x3F));
                b[2] = (char)(0x80 | (u & 0x3F));
                bl = 3;
            } else {
                b[0] = (char)(0xF0 | (u >> 18));
                b[1] = (char)(0x80 | ((u >> 12) & 0x3F));
                b[2] = (char)(0x80 | ((u >> 6) & 0x3F));
                b[3] = (char)(0x80 | (u & 0x3F));
                bl = 4;
            }
            parx__json_out(out, cap, &len, &full, b, bl);
            continue;
        }
        default: return -EINVAL;
        }
        parx__json_out(out, cap, &len, &full, &one, 1);
    }
}

/* A number, checked against JSON's grammar before strtod sees it, of any
   length (a later version's key may hold a long one); v NULL: skip it. */
static int parx__json_number(parx__json *j, double *v)
{
    size_t st = j->i, i = j->i;
    const char *s = j->s;
#define PARX__DIGITS(i) ((i) < j->n && s[i] >= '0' && s[i] <= '9')
    if (i < j->n && s[i] == '-') i++;
    if (!PARX__DIGITS(i)) return -EINVAL;
    if (s[i] == '0') i++;
    else
        while (PARX__DIGITS(i)) i++;
    if (i < j->n && s[i] == '.') {
        i++;
        if (!PARX__DIGITS(i)) return -EINVAL;
        while (PARX__DIGITS(i)) i++;
    }
    if (i < j->n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < j->n && (s[i] == '+' || s[i] == '-')) i++;
        if (!PARX__DIGITS(i)) return -EINVAL;
        while (PARX__DIGITS(i)) i++;
    }
#undef PARX__DIGITS
    if (v) {
        char *end;
        *v = strtod(s + st, &end); /* the caller has set the "C" locale */
        if (end != s + i) return -EINVAL; /* read past the grammar's end: "0x1" is not JSON */
    }
    j->i = i;
    return 0;
}

static int parx__json_lit(parx__json *j, const char *lit)
{
    size_t l = strlen(lit);
    if (j->n - j->i < l || memcmp(j->s + j->i, lit, l) != 0) return -EINVAL;
    j->i += l;
    return 0;
}

/* Any value, skipped (unknown keys). */
static int parx__json_skip(parx__json *j, int depth)
{
    parx__json_ws(j);
    if (j->i >= j->n || depth > 64) return -EINVAL;
    char c = j->s[j->i];
    if (c == '"') return parx__json_string(j, NULL, 0);
    if (c == 't') return parx__json_lit(j, "true");
    if (c == 'f') return parx__json_lit(j, "false");
    if (c == 'n') return parx__json_lit(j, "null");
    if (c != '{' && c != '[') return parx__json_number(j, NULL);
    char close = c == '{' ? '}' : ']';
    j->i++;
    parx__json_ws(j);
    if (j->i < j->n && j->s[j->i] == close) {
        j->i++;
        return 0;
    }
    for (;;) {
        if (c == '{') {
            parx__json_ws(j);
            if (parx__json_string(j, NULL, 0)) return -EINVAL;
            parx__json_ws(j);
            if (j->i >= j->n || j->s[j->i++] != ':') return -EINVAL;
        }
        if (parx__json_skip(j, depth + 1)) return -EINVAL;
        parx__json_ws(j);
        if (j->i >= j->n) return -EINVAL;
        char sep = j->s[j->i++];
        if (sep == close) return 0;
        if (sep != ',') return -EINVAL;
    }
}

/* A string field: cut where it does not fit (as documented), but no
   \u0000 (a C string cannot hold it). 0 or -EINVAL. */
static int parx__json_text(parx__json *j, char *out, size_t cap)
{
    int r = parx__json_string(j, out, cap);
    return r < 0 || (r & PARX__JSON_NUL) ? -EINVAL : 0;
}

/* A number or true/false as 1/0 (the flags). */
static int parx__json_num_or_bool(parx__json *j, double *v)
{
    if (j->i < j->n && j->s[j->i] == 't') {
        *v = 1;
        return parx__json_lit(j, "true");
    }
    if (j->i < j->n && j->s[j->i] == 'f') {
        *v = 0;
        return parx__json_lit(j, "false");
    }
    return parx__json_number(j, v);
}

static int parx__probe_parse(parx__json *j, parx_probe *p)
{
    double *times[] = {&p->thread_start_ns, &p->task_ns,       &p->thread_job_ns,
                       &p->fork_start_ns,   &p->spawn_start_ns, &p->proc_job_ns,
                       &p->proc_rt_ns,      &p->arena_attach_ns, &p->gpu_dispatch_ns};
    static const char *const time_keys[] = {
        "thread_start_ns", "task_ns",    "thread_job_ns",   "fork_start_ns",  "spawn_start_ns",
        "proc_job_ns",     "proc_rt_ns", "arena_attach_ns", "gpu_dispatch_ns"};
    bool version = false;
    parx__json_ws(j);
    if (j->i >= j->n || j->s[j->i++] != '{') return -EINVAL;
    parx__json_ws(j);
    if (j->i < j->n && j->s[j->i] == '}') return -EINVAL; /* {}: no version */
    for (;;) {
        char key[32];
        parx__json_ws(j);
        int kr = parx__json_string(j, key, sizeof key);
        if (kr < 0) return -EINVAL;
        /* a key holding \u0000, or longer than key: none this code knows
           (cut, it could read as one) */
        if (kr > 0) key[0] = '\0';
        parx__json_ws(j);
        if (j->i >= j->n || j->s[j->i++] != ':') return -EINVAL;
        parx__json_ws(j);
        double v = 0;
        int rc = 0;
        size_t t;
        for (t = 0; t < sizeof times / sizeof times[0]; t++)
            if (strcmp(key, time_keys[t]) == 0) break;
        if (t < sizeof times / sizeof times[0]) {
            rc = parx__json_number(j, &v);
            if (!rc && !(v >= 0 && isfinite(v))) rc = -EINVAL;
            if (!rc) *times[t] = v;
        } else if (strcmp(key, "parx_probe") == 0) {
            rc = parx__json_number(j, &v);
            if (!rc && v != 1) rc = -EINVAL; /* a format this code does not know */
            version = true;
        } else if (strcmp(key, "cpus") == 0) {
            rc = parx__json_number(j, &v);
            if (!rc && !(v >= 1 && v <= PARX__PROBE_MAX_CPUS && v == (double)(int)v))
                rc = -EINVAL;
            if (!rc) p->cpus = (int)v;
        } else if (strcmp(key, "io_uring") == 0 || strcmp(key, "measured") == 0) {
            rc = parx__json_num_or_bool(j, &v);
            if (!rc && v != 0 && v != 1) rc = -EINVAL;
            if (!rc && key[0] == 'i') p->io_uring = (int)v;
            if (!rc && key[0] == 'm') p->measured = v != 0;
        } else if (strcmp(key, "measured_mask") == 0) {
            rc = parx__json_number(j, &v);
            if (!rc && !(v >= 0 && v <= 4294967295.0 && v == (double)(uint64_t)v)) rc = -EINVAL;
            if (!rc) p->measured_mask = (unsigned)v;
        } else if (strcmp(key, "io_uring_why") == 0) {
            rc = parx__json_text(j, p->io_uring_why, sizeof p->io_uring_why);
        } else if (strcmp(key, "gpu_name") == 0) {
            rc = parx__json_text(j, p->gpu_name, sizeof p->gpu_name);
        } else if (strcmp(key, "notes") == 0) {
            rc = parx__json_text(j, p->notes, sizeof p->notes);
        } else {
            rc = parx__json_skip(j, 1);
        }
        if (rc) return -EINVAL;
        parx__json_ws(j);
        if (j->i >= j->n) return -EINVAL;
        char sep = j->s[j->i++];
        if (sep == '}') break;
        if (sep != ',') return -EINVAL;
    }
    parx__json_ws(j);
    if (j->i != j->n || !version) return -EINVAL; /* something after the object */
    return 0;
}

PARX_API int parx_probe_load(parx_probe *p, const char *path)
{
    if (!p || !path) return -EINVAL;
    /* O_NONBLOCK: a FIFO with no writer (PARX_PROBE pointing at one) must
       not block the open, nor a parx_run that reads the variable */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return -errno;
    struct stat st;
    int fst = fstat(fd, &st) == 0 ? 0 : -errno;
    if (fst || !S_ISREG(st.st_mode)) {
        /* a FIFO, a device, a socket: -EINVAL */
        int e = fst ? fst : S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
        close(fd);
        return e;
    }
    char *text = (char *)malloc(PARX__PROBE_MAX_FILE + 1);
    if (!text) {
        close(fd);
        return -ENOMEM;
    }
    size_t len = 0;
    int e = 0;
    while (len <= PARX__PROBE_MAX_FILE) {
        ssize_t r = read(fd, text + len, PARX__PROBE_MAX_FILE + 1 - len);
        if (r == 0) break;
        if (r > 0) len += (size_t)r;
        else if (errno != EINTR) {
            e = -errno;
            break;
        }
    }
    close(fd);
    if (!e && len > PARX__PROBE_MAX_FILE) e = -EINVAL;
    if (!e) {
        text[len] = '\0'; /* the reader's numbers end before it (parx__json) */
        parx_probe q;
        memset(&q, 0, sizeof q);
        parx_probe_defaults(&q);
        q.measured = false;
        q.measured_mask = 0;
        q.notes[0] = '\0';
        parx__json j = {text, len, 0};
        locale_t old = (locale_t)0, c = parx__probe_c_locale(&old);
        e = c ? parx__probe_parse(&j, &q) : -ENOMEM; /* strtod needs '.' */
        parx__probe_locale_back(c, old);
        if (!e) *p = q;
    }
    free(text);
    return e;
}

/* ---- the table ------------------------------------------------------------ */

/* A time with 3 significant digits in ns, µs, ms or s. */
static void parx__probe_time(char *out, size_t size, double ns)
{
    static const char *const unit[] = {"ns", "\xC2\xB5s", "ms", "s"};
    if (isnan(ns) || ns < 0) {
        snprintf(out, size, "n/a");
        return;
    }
    if (isinf(ns)) {
        snprintf(out, size, "never");
        return;
    }
    int u = 0;
    double v = ns;
    while (u < 3 && v >= 999.5) {
        v /= 1000;
        u++;
    }
    if (v >= 1e6) { /* a loaded file may hold any finite time: keep the unit in sight */
        snprintf(out, size, "%.3g %s", v, unit[u]);
        return;
    }
    snprintf(out, size, v < 9.995 ? "%.2f %s" : v < 99.95 ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

/* s padded with spaces to `width` characters (UTF-8: one per code point),
   right-aligned when right. */
static void parx__pbuf_pad(parx__pbuf *b, const char *s, int width, bool right)
{
    int chars = 0;
    for (const char *c = s; *c; c++) chars += ((unsigned char)*c & 0xC0u) != 0x80u;
    int pad = width > chars ? width - chars : 0;
    if (right) parx__pbuf_put(b, "%*s%s", pad, "", s);
    else parx__pbuf_put(b, "%s%*s", s, pad, "");
}

/* Text from a file, on one line and in UTF-8: control characters become
   spaces, bytes that are no UTF-8 U+FFFD (as save writes them). */
static void parx__pbuf_text(parx__pbuf *b, const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    for (size_t i = 0; i < n;) {
        size_t len = parx__utf8_len((const unsigned char *)s + i, n - i);
        if (len == 0) parx__pbuf_put(b, "\xEF\xBF\xBD");
        else if ((unsigned char)s[i] < 0x20) parx__pbuf_put(b, " ");
        else parx__pbuf_put(b, "%.*s", (int)len, s + i);
        i += len ? len : 1;
    }
}

PARX_API int parx_probe_format(const parx_probe *p, char *buf, size_t size)
{
    if (!p || (!buf && size)) return -EINVAL;
    parx__pbuf b = {buf, size, 0};
    if (size) buf[0] = '\0';
    /* cpus as save writes it: at least 1 (this machine's count), at most its limit */
    int cpus = p->cpus < 1 ? parx__cpu_count() : p->cpus;
    if (cpus > PARX__PROBE_MAX_CPUS) cpus = PARX__PROBE_MAX_CPUS;
    parx__pbuf_put(&b, "parx probe: %s, %d CPU%s\n",
                   p->measured ? "measured on this machine" : "built-in figures, not measured here",
                   cpus, cpus == 1 ? "" : "s");
    char name[64], val[32];
    const struct {
        const char *what;
        int per_cpu; /* 1: "(N threads)", 2: "(N workers)" */
        double ns;
        unsigned bit;
    } rows[] = {
        {"thread pool start + stop", 1, p->thread_start_ns, PARX_PROBE_HAVE_THREAD_START},
        {"task spawn + wait, per task", 0, p->task_ns, PARX_PROBE_HAVE_TASK},
        {"parx_run per job, threads", 0, p->thread_job_ns, PARX_PROBE_HAVE_THREAD_JOB},
        {"fork pool start + stop", 2, p->fork_start_ns, PARX_PROBE_HAVE_FORK_START},
        {"spawn pool start + stop", 2, p->spawn_start_ns, PARX_PROBE_HAVE_SPAWN_START},
        {"parx_run per job, processes", 0, p->proc_job_ns, PARX_PROBE_HAVE_PROC_JOB},
        {"job round trip, workers hot", 0, p->proc_rt_ns, PARX_PROBE_HAVE_PROC_RT},
        {"arena attach by fd + close", 0, p->arena_attach_ns, PARX_PROBE_HAVE_ARENA_ATTACH},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (rows[i].per_cpu)
            snprintf(name, sizeof name, "%s (%d %s)", rows[i].what, cpus,
                     rows[i].per_cpu == 1 ? "threads" : "workers");
        else
            snprintf(name, sizeof name, "%s", rows[i].what);
        /* a figure of 0 is none, whatever the mask says (save writes a
           figure that is not finite and positive as 0, and keeps its bit) */
        bool have = p->measured && (p->measured_mask & rows[i].bit) && rows[i].ns > 0;
        if (rows[i].ns > 0) parx__probe_time(val, sizeof val, rows[i].ns);
        else snprintf(val, sizeof val, "-");
        parx__pbuf_put(&b, "  ");
        parx__pbuf_pad(&b, name, 42, false);
        parx__pbuf_pad(&b, val, 9, true);
        parx__pbuf_put(&b, "  %s\n",
                       have ? "measured" : rows[i].ns > 0 ? "default" : "not available");
    }
    parx__pbuf_put(&b, "  ");
    parx__pbuf_pad(&b, "io_uring", 42, false);
    parx__pbuf_pad(&b, p->io_uring ? "usable" : "no", 9, true);
    parx__pbuf_put(&b, "  ");
    if (p->measured && (p->measured_mask & PARX_PROBE_HAVE_IO_URING))
        parx__pbuf_text(&b, p->io_uring_why, sizeof p->io_uring_why);
    else
        parx__pbuf_put(&b, "default (not checked here)");
    parx__pbuf_put(&b, "\n");
    snprintf(name, sizeof name, "GPU dispatch + sync");
    if (p->gpu_dispatch_ns > 0) parx__probe_time(val, sizeof val, p->gpu_dispatch_ns);
    else snprintf(val, sizeof val, "-");
    parx__pbuf_put(&b, "  ");
    parx__pbuf_pad(&b, name, 42, false);
    parx__pbuf_pad(&b, val, 9, true);
    parx__pbuf_put(&b, "  %s\n",
                   p->gpu_dispatch_ns > 0
                       ? (p->measured && (p->measured_mask & PARX_PROBE_HAVE_GPU) ? "measured"
                                                                                 : "default")
                       : "no GPU measured here");
    if (p->gpu_name[0]) {
        parx__pbuf_put(&b, "    GPU: ");
        parx__pbuf_text(&b, p->gpu_name, sizeof p->gpu_name);
        parx__pbuf_put(&b, "\n");
    }
    if (p->notes[0]) {
        parx__pbuf_put(&b, "  notes: ");
        parx__pbuf_text(&b, p->notes, sizeof p->notes);
        parx__pbuf_put(&b, "\n");
    }

    parx__pbuf_put(&b, "\nBreak-even job time: jobs longer than this finish sooner on the\n"
                       "backend (starting its pool) than one after another:\n");
    parx__pbuf_put(&b, "  ");
    parx__pbuf_pad(&b, "backend", 12, false);
    static const size_t ns_[] = {10, 100, 1000};
    for (int k = 0; k < 3; k++) {
        snprintf(val, sizeof val, "n = %zu", ns_[k]);
        parx__pbuf_pad(&b, val, 12, true);
    }
    parx__pbuf_put(&b, "\n");
    const parx_exec ex[] = {PARX_EXEC_THREADS, PARX_EXEC_FORK, PARX_EXEC_SPAWN};
    const double start[] = {p->thread_start_ns, p->fork_start_ns, p->spawn_start_ns};
    const char *const exname[] = {"threads", "fork", "spawn"};
    for (int e = 0; e < 3; e++) {
        parx__pbuf_put(&b, "  ");
        parx__pbuf_pad(&b, exname[e], 12, false);
        for (int k = 0; k < 3; k++) {
            if (start[e] > 0)
                parx__probe_time(val, sizeof val, parx_run_break_even(p, ex[e], ns_[k], 0));
            else
                snprintf(val, sizeof val, "n/a");
            parx__pbuf_pad(&b, val, 12, true);
        }
        parx__pbuf_put(&b, "\n");
    }
    return b.len > INT_MAX ? INT_MAX : (int)b.len;
}

/* -------------------------------------------------------------------------- */
/* >>run: the job runner and its cost model                                   */
/* -------------------------------------------------------------------------- */

/* The shape of it: SEQ, THREADS and AUTO hand out the job indices from
   one claim word (head and tail of the jobs left, packed so that one CAS
   takes a job from either end); the process backends walk them in order
   on the caller's thread, and store in that word, at the end, which were
   never submitted. The caller always takes part:
   - SEQ: the caller takes every job.
   - THREADS: workers-1 pool tasks and the caller take jobs from the head
     (longest first under cost hints) until none are left.
   - FORK/SPAWN: the caller submits jobs to a parx_procs pool, a window of
     them in flight (their slots), and collects them in order.
   - AUTO: the caller takes jobs alone (from the tail, the cheapest end,
     under cost hints) and times them, in batches that double while they
     stay short. After each batch it predicts what the rest would take
     sequentially and on threads (parx_run_predict, with the probe's
     overheads); once threads win by a clear margin it starts them, and
     they and the caller take the remaining jobs from the head, longest
     first (the order that leaves the least imbalance at the end). Nothing
     is run twice and nothing waits for the decision. */

#define PARX__RUN_MARGIN 0.9          /* threads must be predicted 10% faster */
#define PARX__RUN_PROGRESS_NS 1000000 /* at most one progress call per ms */
#define PARX__RUN_BIG_RSS ((uint64_t)256 << 20) /* fork costs grow with the caller */

PARX_API const char *parx_exec_name(parx_exec e)
{
    switch (e) {
    case PARX_EXEC_AUTO: return "auto";
    case PARX_EXEC_SEQ: return "sequential";
    case PARX_EXEC_THREADS: return "threads";
    case PARX_EXEC_FORK: return "fork";
    case PARX_EXEC_SPAWN: return "spawn";
    }
    return "?";
}

/* The built-in figures alone (no system call): round figures at or above
   (about the same, for the spawn start) what bench/RESULTS.md's machine
   (a 2-CPU AMD EPYC VM) measured (see parx_probe_defaults), so that AUTO
   errs towards sequential without a probe. */
static void parx__probe_figures(parx_probe *p)
{
    p->thread_start_ns = 100e3;
    p->task_ns = 100;
    p->thread_job_ns = 100;
    p->fork_start_ns = 1.2e6;
    p->spawn_start_ns = 1.2e6;
    p->proc_job_ns = 2e3;
    p->proc_rt_ns = 1e3;
    p->arena_attach_ns = 20e3;
}

PARX_API void parx_probe_defaults(parx_probe *p)
{
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->cpus = parx__cpu_count();
    parx__probe_figures(p);
    snprintf(p->io_uring_why, sizeof p->io_uring_why, "not probed");
}

/* *out = *in (or the defaults for NULL), with every figure that is 0 (not
   measured), negative, infinite or not a number replaced by its built-in
   value. */
static void parx__run_sane(const parx_probe *in, parx_probe *out)
{
    parx_probe def;
    memset(&def, 0, sizeof def);
    parx__probe_figures(&def);
    *out = in ? *in : def;
    double *f[] = {&out->thread_start_ns, &out->task_ns,     &out->thread_job_ns,
                   &out->fork_start_ns,   &out->spawn_start_ns, &out->proc_job_ns,
                   &out->proc_rt_ns,      &out->arena_attach_ns};
    const double *g[] = {&def.thread_start_ns, &def.task_ns,        &def.thread_job_ns,
                         &def.fork_start_ns,   &def.spawn_start_ns, &def.proc_job_ns,
                         &def.proc_rt_ns,      &def.arena_attach_ns};
    for (size_t k = 0; k < sizeof f / sizeof f[0]; k++)
        if (!(*f[k] > 0) || isinf(*f[k])) *f[k] = *g[k];
    if (out->cpus < 1) out->cpus = parx__cpu_count();
}

/* Whether e is a parallel backend compiled in here. */
static bool parx__run_parallel(parx_exec e)
{
#ifdef PARX_NO_PROC
    return e == PARX_EXEC_THREADS;
#else
    return e == PARX_EXEC_THREADS || e == PARX_EXEC_FORK || e == PARX_EXEC_SPAWN;
#endif
}

/* ceil(n / w) without overflow (w >= 1). */
static size_t parx__run_rounds(size_t n, size_t w) { return n / w + (n % w != 0); }

/* A backend's start cost and per-job cost under probe p (made sane). */
static void parx__run_costs(const parx_probe *p, parx_exec e, double *start, double *per)
{
    *start = *per = 0;
    switch (e) {
    case PARX_EXEC_THREADS: *start = p->thread_start_ns; *per = p->thread_job_ns; break;
    case PARX_EXEC_FORK: *start = p->fork_start_ns; *per = p->proc_job_ns; break;
    case PARX_EXEC_SPAWN: *start = p->spawn_start_ns; *per = p->proc_job_ns; break;
    default: break;
    }
}

/* parx_run_predict under a probe that is sane already (parx__run_sane):
   what AUTO calls after each batch, with nothing to check again. */
static double parx__run_predict(const parx_probe *p, parx_exec e, size_t n, int workers,
                                double job_ns)
{
    double seq = (double)n * job_ns;
    if (e == PARX_EXEC_SEQ) return seq;
    if (e == PARX_EXEC_AUTO) { /* what AUTO would pick for jobs that need no isolation */
        double thr = parx__run_predict(p, PARX_EXEC_THREADS, n, workers, job_ns);
        return thr < seq ? thr : seq;
    }
    if (!parx__run_parallel(e)) return (double)NAN;
    size_t w = (size_t)(workers > 0 ? workers : p->cpus > 0 ? p->cpus : 1);
    if (n && w > n) w = n;
    double start, per;
    parx__run_costs(p, e, &start, &per);
    double rounds = (double)parx__run_rounds(n, w), busy = rounds * (job_ns + per);
    if (e != PARX_EXEC_THREADS) return start + busy; /* processes: nothing runs before they do */
    /* Threads: the caller runs jobs from the start. The other w - 1 join it
       once created (half of `start`); stopping them (the other half) comes
       after the last job. The rounds bound holds when jobs are few and long. */
    double shared = ((double)n * (job_ns + per) + (double)(w - 1) * start / 2) / (double)w +
                    start / 2;
    return shared > busy ? shared : busy;
}

PARX_API double parx_run_predict(const parx_probe *probe, parx_exec e, size_t n, int workers,
                                 double job_ns)
{
    parx_probe sane;
    parx__run_sane(probe, &sane);
    return parx__run_predict(&sane, e, n, workers, job_ns);
}

PARX_API double parx_run_break_even(const parx_probe *probe, parx_exec e, size_t n, int workers)
{
    parx_probe sane, *p = &sane;
    parx__run_sane(probe, &sane);
    if (!parx__run_parallel(e)) return (double)NAN;
    size_t w = (size_t)(workers > 0 ? workers : p->cpus > 0 ? p->cpus : 1);
    if (n && w > n) w = n;
    size_t rounds = n ? parx__run_rounds(n, w) : 0;
    if (rounds >= n) return (double)INFINITY; /* one worker, or one job: never faster */
    double start, per;
    parx__run_costs(p, e, &start, &per);
    double r = (double)rounds, nn = (double)n, ww = (double)w;
    if (e != PARX_EXEC_THREADS) /* n t = start + rounds (t + per) */
        return (start + r * per) / (nn - r);
    /* where n t meets each of parx_run_predict's two bounds; the later one
       ((n per + start (2w - 1) / 2) / (n (w - 1)), each term divided
       first: a start near DBL_MAX must not overflow to "never") */
    double t_busy = r * per / (nn - r);
    double t_shared = per / (ww - 1) + start / (nn * (ww - 1)) * ((2 * ww - 1) / 2);
    return t_shared > t_busy ? t_shared : t_busy;
}

/* The probe AUTO uses without .probe: the file PARX_PROBE names, read once
   per process (a cache that is only ever read after its one write), else
   the built-in figures. A file that cannot be read is logged after
   pthread_once has returned, not inside it: a log callback may call
   parx_run, whose pthread_once would wait for the one in progress, its own. */
static parx_probe parx__run_env_probe;
static pthread_once_t parx__run_env_once = PTHREAD_ONCE_INIT;
static char parx__run_env_warning[300]; /* written in the once, read after it */
static _Atomic int parx__run_env_warned;
static void parx__run_env_load(void)
{
    const char *path = getenv("PARX_PROBE");
    if (path && *path) {
        int rc = parx_probe_load(&parx__run_env_probe, path);
        if (rc == 0) return;
        snprintf(parx__run_env_warning, sizeof parx__run_env_warning,
                 "parx_run: PARX_PROBE=%s could not be read (%s); using built-in overheads",
                 path, parx_strerror(rc));
    }
    parx_probe_defaults(&parx__run_env_probe);
}

static const parx_probe *parx__run_env(void)
{
    pthread_once(&parx__run_env_once, parx__run_env_load);
    /* relaxed: picks the one caller that logs; the message was published by
       pthread_once, which every caller has returned from */
    if (parx__run_env_warning[0] &&
        !atomic_exchange_explicit(&parx__run_env_warned, 1, memory_order_relaxed))
        parx__log(PARX_LOG_WARN, parx__run_env_warning);
    return &parx__run_env_probe;
}

/* One run, shared by the caller and the pool tasks of the threads backend. */
typedef struct parx__run_state {
    size_t n;
    parx_run_fn fn;
    void *ctx;
    parx_job_result *res;
    char *out;
    size_t out_size;
    uint64_t seed;
    const size_t *perm;        /* claim position -> job index; NULL: the same */
    PARX__ATOMIC(int) *cancel; /* the caller's flag, or NULL */
    /* Jobs left are positions [head, tail): head in the low 32 bits, tail in
       the high ones, so one CAS takes a job from either end. */
    _Atomic uint64_t claim;
    _Atomic int stop;          /* a cancel was seen: claim nothing more */
    /* counted relaxed: the final values are read once every worker has
       finished (parx_wait, or the results collected), which orders them;
       `done` is also read meanwhile, as a hint, for progress */
    _Atomic size_t done, failed, retried, cancelled;
    _Atomic uint64_t busy_ns;  /* summed job times, for the mean (relaxed, as the counts) */
    int workers;               /* sharing the jobs now (chunk sizes) */
    /* caller only */
    uint64_t last_progress;
    int (*progress)(size_t done, size_t n, void *user);
    void *user;
} parx__run_state;

static bool parx__run_stopped(parx__run_state *r)
{
    /* relaxed: stop and the caller's flag are requests; they publish no data */
    if (atomic_load_explicit(&r->stop, memory_order_relaxed)) return true;
    if (r->cancel && atomic_load_explicit(r->cancel, memory_order_relaxed)) {
        atomic_store_explicit(&r->stop, 1, memory_order_relaxed);
        return true;
    }
    return false;
}

/* Take up to `want` positions from the head (or the tail): [*k, *k + *got).
   false when none is left. */
static bool parx__run_claim(parx__run_state *r, bool from_tail, size_t want, size_t *k,
                            size_t *got)
{
    /* relaxed throughout: the claim word only hands out distinct positions.
       What a job reads was written before the pool tasks were spawned
       (parx_spawn publishes it) and what it writes is read after parx_wait. */
    uint64_t c = atomic_load_explicit(&r->claim, memory_order_relaxed);
    for (;;) {
        uint32_t h = (uint32_t)c, t = (uint32_t)(c >> 32);
        if (h >= t) return false;
        uint32_t g = want < (size_t)(t - h) ? (uint32_t)want : t - h;
        uint64_t next = from_tail ? ((uint64_t)(t - g) << 32 | h) : ((uint64_t)t << 32 | (h + g));
        if (atomic_compare_exchange_weak_explicit(&r->claim, &c, next, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *k = from_tail ? t - g : h;
            *got = g;
            return true;
        }
    }
}

static size_t parx__run_left(parx__run_state *r)
{
    /* relaxed: an estimate, for a decision or a chunk size */
    uint64_t c = atomic_load_explicit(&r->claim, memory_order_relaxed);
    uint32_t h = (uint32_t)c, t = (uint32_t)(c >> 32);
    return h < t ? t - h : 0;
}

/* Run positions [k, k + count) here, the first starting at t0; returns
   when the last ended. Each job is timed only when results are wanted. */
static uint64_t parx__run_jobs(parx__run_state *r, size_t k, size_t count, uint64_t t0)
{
    size_t failed = 0, ran = 0, cancelled = 0;
    uint64_t t = t0;
    for (size_t end = k + count; k < end; k++) {
        size_t i = r->perm ? r->perm[k] : k;
        if (parx__run_stopped(r)) { /* cancelled: the rest of the chunk never starts */
            if (r->res) {
                memset(&r->res[i], 0, sizeof r->res[i]);
                r->res[i].status = -ECANCELED;
            }
            failed++;
            cancelled++;
            continue;
        }
        ran++;
        parx_rng rng = parx_rng_for(r->seed, i);
        int st = r->fn(r->ctx, i, &rng, r->out ? r->out + i * r->out_size : NULL);
        failed += st != 0;
        if (r->res) {
            uint64_t t1 = parx__now_ns();
            parx_job_result *o = &r->res[i];
            memset(o, 0, sizeof *o);
            o->status = st;
            o->attempts = 1;
            o->run_ns = t1 - t;
            t = t1;
        }
    }
    if (!r->res) t = parx__now_ns();
    /* relaxed: counters, read by the caller after parx_wait or only as a hint */
    if (failed) atomic_fetch_add_explicit(&r->failed, failed, memory_order_relaxed);
    if (cancelled) atomic_fetch_add_explicit(&r->cancelled, cancelled, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->busy_ns, t - t0, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->done, ran, memory_order_relaxed);
    return t;
}

/* How many positions to claim next: enough for about PARX__RUN_CHUNK_NS of
   work at the mean job time of this thread's last chunk (`spent` over
   `count` jobs; one claim per tiny job would make the claim
   word the bottleneck), never more than a quarter of each worker's share of
   what is left (so the last jobs still spread over every worker). */
#define PARX__RUN_CHUNK_NS 20000.0
static size_t parx__run_chunk(parx__run_state *r, uint64_t spent, size_t count)
{
    double mean = count ? (double)spent / (double)count : PARX__RUN_CHUNK_NS;
    double c = mean > 0 ? PARX__RUN_CHUNK_NS / mean : PARX__RUN_CHUNK_NS;
    size_t cap = parx__run_left(r) / (4 * (size_t)r->workers);
    size_t want = c < (double)cap ? (size_t)c : cap;
    return want ? want : 1;
}

/* Caller, between jobs: report progress at most every millisecond (between
   the end of one call and the next); a non-zero return cancels. Returns the
   time after the callback, so that its time is never counted as a job's. */
static uint64_t parx__run_progress(parx__run_state *r, uint64_t now, bool last)
{
    if (!r->progress || (!last && now - r->last_progress < PARX__RUN_PROGRESS_NS)) return now;
    /* relaxed: a count to show; the jobs' own results are read after the run */
    size_t done = atomic_load_explicit(&r->done, memory_order_relaxed);
    if (r->progress(done, r->n, r->user) && !last)
        atomic_store_explicit(&r->stop, 1, memory_order_relaxed); /* relaxed: a request */
    r->last_progress = parx__now_ns();
    return r->last_progress;
}

/* Jobs from the head until none are left (pool tasks, the caller beside
   them, or the caller alone); the caller reports progress. (AUTO's
   measuring, from the tail under cost hints, claims in a loop of its own.) */
static void parx__run_loop(parx__run_state *r, bool caller)
{
    size_t k, got, want = 1;
    uint64_t t = parx__now_ns();
    while (!parx__run_stopped(r) && parx__run_claim(r, false, want, &k, &got)) {
        uint64_t t1 = parx__run_jobs(r, k, got, t);
        want = parx__run_chunk(r, t1 - t, got);
        t = caller ? parx__run_progress(r, t1, false) : t1;
    }
}

static void parx__run_task(void *arg)
{
    parx__run_loop((parx__run_state *)arg, false);
}

/* Start `tasks` pool tasks on pool (made here when NULL: *made gets it), run
   the caller's share, wait. Returns 0; -EPERM at once when pool is a fork()
   child's copy of its creator's; or, when no pool could start, the error
   parx_pool_create left in errno (-EAGAIN: no thread; -ENOMEM). */
static int parx__run_threads(parx__run_state *r, parx_pool *pool, int tasks, parx_pool **made)
{
    *made = NULL;
    /* a fork() child's copy has no threads: its spawns would be refused and
       every job run here, under a report of threads */
    if (pool && parx__pool_forked(pool)) return -EPERM;
    if (tasks > 0 && !pool) {
        parx_pool_desc pd;
        memset(&pd, 0, sizeof pd);
        pd.threads = tasks;
        pd.name = "parx-run";
        pool = *made = parx_pool_create(&pd);
        if (!pool) return errno > 0 ? -errno : -ENOMEM;
    }
    parx_group g;
    if (tasks > 0) {
        parx_group_init(&g, pool);
        for (int t = 0; t < tasks; t++) parx_spawn(&g, parx__run_task, r);
    }
    parx__run_loop(r, true); /* the caller too from the head: longest first */
    if (tasks > 0) parx_wait(&g);
    return 0;
}

/* Jobs whose positions were never claimed: cancelled (or `why`). Claims
   them all, so a second call finds none. Caller only, once no worker runs. */
static void parx__run_settle_left(parx__run_state *r, int why)
{
    /* relaxed, here and below: no other thread takes part any more (pool
       tasks ended in parx_wait, which ordered their work before ours) */
    uint64_t c = atomic_exchange_explicit(&r->claim, 0, memory_order_relaxed);
    size_t h = (uint32_t)c, t = (uint32_t)(c >> 32);
    if (h >= t) return;
    if (r->res)
        for (size_t k = h; k < t; k++) {
            size_t i = r->perm ? r->perm[k] : k;
            memset(&r->res[i], 0, sizeof r->res[i]);
            r->res[i].status = why;
        }
    atomic_fetch_add_explicit(&r->failed, t - h, memory_order_relaxed);
    if (why == -ECANCELED) atomic_fetch_add_explicit(&r->cancelled, t - h, memory_order_relaxed);
}

#ifndef PARX_NO_PROC
/* Queue a parx_run job as parx_procs_submit would, its slot marked under the
   same lock as one this thread collects (PARX__W_WAITER, as parx_procs_map
   marks its own): a submit of another thread that finds every slot taken
   then waits for this run to collect, where for results nobody waits for it
   fails with -EBUSY (two runs sharing a pool failed each other's jobs so).
   With results of its own pending (`pending`) and no slot free, -EBUSY at
   once: the run collects one of its own rather than wait for other threads
   to collect theirs (two runs waiting so, each for the other, would wait
   for ever). Returns 0 with the slot in *x, or parx_procs_submit's errors. */
static int parx__run_submit(parx_procs *pp, parx_job_fn fn, uint64_t off, const parx__prun *run,
                            bool pending, uint32_t *x)
{
    int foreign = parx__procs_foreign(pp); /* a job of this pool, or a fork()ed copy */
    if (foreign) return foreign;
    uint32_t id = 0;
    int rc = parx__procs_fn_id(pp, fn, &id); /* before the lock: it may log */
    pthread_mutex_lock(&pp->lock);
    /* relaxed: set under the lock */
    if (atomic_load_explicit(&pp->broken, memory_order_relaxed)) rc = PARX_E_PROCS_BROKEN;
    if (rc == 0 && pending && pp->nfree == 0) rc = -EBUSY;
    if (rc == 0) rc = parx__procs_slot_locked(pp);
    if (rc < 0) {
        pthread_mutex_unlock(&pp->lock);
        return rc;
    }
    *x = parx__procs_enqueue_locked(pp, id, off, run);
    pp->waited[*x] = PARX__W_WAITER;
    pp->owner[*x] = pthread_self();
    parx__procs_queued_unlock(pp, 1);
    return 0;
}

/* Wait for the result in slot x (queued by parx__run_submit) and take it. */
static void parx__run_collect(parx_procs *pp, uint32_t x, parx_job_result *r)
{
    parx__procs_wait_slot(pp, x);
    pthread_mutex_lock(&pp->lock);
    parx__procs_collect_locked(pp, x, r);
    pthread_mutex_unlock(&pp->lock);
}

/* Mark the run's pending slots, positions [head, next) of a window of win,
   as `w`: PARX__W_CALLBACK while its progress callback runs, then
   PARX__W_WAITER again, as parx_procs_map does (see parx__procs_slot_locked:
   a submit from a callback does not wait for results another callback
   holds). */
static void parx__run_mark(parx_procs *pp, const uint32_t *slot, size_t win, size_t head,
                           size_t next, uint8_t w)
{
    pthread_mutex_lock(&pp->lock);
    for (size_t k = head; k < next; k++) pp->waited[slot[k % win]] = w;
    if (w == PARX__W_CALLBACK && head < next && pp->slot_waiters)
        pthread_cond_broadcast(&pp->slot_freed);
    pthread_mutex_unlock(&pp->lock);
}

/* The process backends: jobs through pp in claim order, a window of
   slots in flight (parx__run_submit), results taken in order (each job's `out` from a
   staging block in the arena, filled from .out before the job is queued
   and copied back when it succeeded). ctx
   travels as its arena offset, as a copy in the arena (ctx_size), or as
   a plain address when raw_ctx (a fork-mode pool made by this call).
   Returns 0, or before running anything -EFAULT (ctx unreachable) or
   -ENOMEM (no room in the arena). */
static int parx__run_procs(parx__run_state *r, parx_procs *pp, size_t ctx_size, bool raw_ctx)
{
    parx_arena *a = parx_procs_arena(pp);
    uint32_t flags = PARX__FN_RUN;
    uint64_t ctx_off = PARX_ARENA_NO_OFFSET;
    void *ctx_copy = NULL;
    if (r->ctx && ctx_size) {
        ctx_copy = parx_arena_alloc(a, ctx_size, PARX_CACHELINE);
        if (!ctx_copy) return -ENOMEM;
        memcpy(ctx_copy, r->ctx, ctx_size);
        ctx_off = parx_arena_offset(a, ctx_copy);
    } else if (r->ctx) {
        ctx_off = parx_arena_offset(a, r->ctx);
        if (ctx_off == PARX_ARENA_NO_OFFSET) {
            if (!raw_ctx) return -EFAULT;
            flags |= PARX__FN_RAWARG;
            ctx_off = (uint64_t)(uintptr_t)r->ctx;
        }
    }
    /* A window of up to 64 jobs per worker keeps them busy while the
       oldest job is collected; at most half the pool's job slots. */
    size_t win = (size_t)pp->ctl->nslots / 2;
    size_t want = 64 * (size_t)pp->nworkers;
    if (win > want) win = want;
    if (win > r->n) win = r->n;
    if (win < 1) win = 1;
    /* Staging for the results in flight: a smaller window where the arena
       has no room for this one (large results); -ENOMEM only when not even
       one result fits. */
    char *stage = NULL;
    while (r->out && !stage) {
        stage = (char *)parx_arena_alloc(a, win * r->out_size, PARX_CACHELINE);
        if (stage) break;
        if (win == 1) {
            if (ctx_copy) parx_arena_free(a, ctx_copy);
            return -ENOMEM;
        }
        win /= 2;
    }
    uint32_t *slot = (uint32_t *)malloc(win * sizeof *slot);
    if (!slot) {
        if (stage) parx_arena_free(a, stage);
        if (ctx_copy) parx_arena_free(a, ctx_copy);
        return -ENOMEM;
    }
    size_t next = 0, head = 0;
    int broke = 0;
    for (;;) {
        while (!broke && next < r->n && next - head < win && !parx__run_stopped(r)) {
            size_t i = r->perm ? r->perm[next] : next;
            parx__prun run;
            run.flags = flags;
            run.index = i;
            run.seed = r->seed;
            run.out_off = PARX_ARENA_NO_OFFSET;
            if (stage) {
                /* the block starts as .out holds it, as on the caller and on
                   threads, where out is .out itself: what the job does not
                   write comes back unchanged, not an earlier job's bytes */
                char *blk = stage + (next % win) * r->out_size;
                memcpy(blk, r->out + i * r->out_size, r->out_size);
                run.out_off = parx_arena_offset(a, blk);
            }
            int rc = parx__run_submit(pp, (parx_job_fn)(void (*)(void))r->fn, ctx_off, &run,
                                      head < next, &slot[next % win]);
            /* -EBUSY: no slot free, and some of ours hold results (a pool
               shared with others leaves fewer slots than the window), or
               the pool's slots hold results nobody waits for yet: collect
               our oldest, then try again */
            if (rc == -EBUSY && head < next) break;
            if (rc < 0) broke = rc;
            else next++;
        }
        if (head == next) break;
        parx_job_result jr;
        parx__run_collect(pp, slot[head % win], &jr);
        size_t i = r->perm ? r->perm[head] : head;
        if (jr.status == 0 && stage)
            memcpy(r->out + i * r->out_size, stage + (head % win) * r->out_size, r->out_size);
        if (r->res) r->res[i] = jr;
        /* relaxed: counters of this thread's own, read after the run */
        if (jr.status) atomic_fetch_add_explicit(&r->failed, 1, memory_order_relaxed);
        if (jr.attempts > 1) atomic_fetch_add_explicit(&r->retried, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&r->busy_ns, jr.run_ns, memory_order_relaxed);
        atomic_fetch_add_explicit(&r->done, 1, memory_order_relaxed);
        head++;
        uint64_t now = parx__now_ns();
        if (r->progress && now - r->last_progress >= PARX__RUN_PROGRESS_NS) {
            /* the callback may submit jobs of its own: see parx__run_mark */
            parx__run_mark(pp, slot, win, head, next, PARX__W_CALLBACK);
            (void)parx__run_progress(r, now, false);
            parx__run_mark(pp, slot, win, head, next, PARX__W_WAITER);
        }
    }
    free(slot);
    if (stage) parx_arena_free(a, stage);
    if (ctx_copy) parx_arena_free(a, ctx_copy);
    /* the positions never submitted are the ones left to settle. relaxed:
       only this thread uses the claim word on the process backends */
    atomic_store_explicit(&r->claim, (uint64_t)r->n << 32 | next, memory_order_relaxed);
    if (broke) parx__run_settle_left(r, broke);
    return 0;
}

/* Resident memory of this process, in bytes (0 if unknown). */
static uint64_t parx__run_rss(void)
{
    FILE *f = fopen("/proc/self/statm", "re");
    if (!f) return 0;
    unsigned long long size = 0, res = 0;
    int ok = fscanf(f, "%llu %llu", &size, &res) == 2;
    fclose(f);
    return ok ? (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}
#endif /* PARX_NO_PROC */

/* A time for a reason line, as the probe's table writes it. */
static const char *parx__run_fmt(char *buf, size_t size, double ns)
{
    parx__probe_time(buf, size, ns);
    return buf;
}

PARX_API int parx_run(size_t n, parx_run_fn fn, void *ctx, parx_job_result *results,
                      const parx_run_desc *desc, parx_run_report *report)
{
    parx_run_desc d;
    if (desc) d = *desc;
    else memset(&d, 0, sizeof d);
    parx_run_report rep;
    memset(&rep, 0, sizeof rep);
    uint64_t t_start = parx__now_ns();

    /* ---- check everything before running anything */
    bool procs_wanted = d.isolate || d.job_timeout_ns || d.retries;
    if (!fn || d.workers < 0 || d.retries < 0 || (!d.out && d.out_size) ||
        (unsigned)d.exec > PARX_EXEC_SPAWN || n >= UINT32_MAX ||
        (d.out_size && n > SIZE_MAX / d.out_size))
        return -EINVAL;
    if ((d.exec == PARX_EXEC_SEQ || d.exec == PARX_EXEC_THREADS) && procs_wanted)
        return -EINVAL; /* in-process: no isolation, a thread cannot be stopped */
#ifdef PARX_NO_PROC
    if (d.exec == PARX_EXEC_FORK || d.exec == PARX_EXEC_SPAWN || procs_wanted) return -ENOTSUP;
#else
    bool to_procs = d.exec == PARX_EXEC_FORK || d.exec == PARX_EXEC_SPAWN || procs_wanted;
    if (d.procs && (d.job_timeout_ns || d.retries)) return -EINVAL; /* the pool's own apply */
    if (d.procs && to_procs && ctx && !d.ctx_size &&
        parx_arena_offset(parx_procs_arena(d.procs), ctx) == PARX_ARENA_NO_OFFSET)
        return -EFAULT;
    /* a fresh program sees no caller memory: ctx must travel in the arena */
    if (!d.procs && ctx && !d.ctx_size && d.exec == PARX_EXEC_SPAWN) return -EFAULT;
#endif
    if (!d.out || !d.out_size) { /* no out at all: every job gets NULL, on every backend */
        d.out = NULL;
        d.out_size = 0;
    }
    if (n == 0) { /* nothing to start */
        if (d.progress) d.progress(0, 0, d.user);
        if (report) {
            memset(report, 0, sizeof *report);
            report->exec = d.exec == PARX_EXEC_AUTO ? PARX_EXEC_SEQ : d.exec;
            snprintf(report->reason, sizeof report->reason, "no jobs");
            report->wall_ns = (double)(parx__now_ns() - t_start);
        }
        return 0;
    }

    parx__run_state r;
    memset(&r, 0, sizeof r);
    r.n = n;
    r.fn = fn;
    r.ctx = ctx;
    r.res = results;
    r.out = (char *)d.out;
    r.out_size = d.out_size;
    r.seed = d.seed;
    r.cancel = d.cancel;
    r.progress = d.progress;
    r.user = d.user;
    r.last_progress = t_start;
    r.workers = 1;
    atomic_init(&r.claim, (uint64_t)n << 32);
    atomic_init(&r.stop, 0);
    atomic_init(&r.done, 0);
    atomic_init(&r.failed, 0);
    atomic_init(&r.retried, 0);
    atomic_init(&r.cancelled, 0);
    atomic_init(&r.busy_ns, 0);

    /* Cost hints, made usable, and the longest-first order. AUTO takes them
       as relative job times (it scales the mean of the jobs it ran by the
       hints of those left), so they are kept in proportion: +inf counts as
       twice the largest finite hint (longer than any), and 0, a negative
       number or NaN as half the smallest positive one (shorter than any,
       but not so much shorter that a few such jobs measured first make the
       rest look a thousand times longer). All are divided by the largest,
       so their sum stays finite whatever their size. */
    size_t *perm = NULL;
    double *cost = NULL, cost_total = 0;
    if (d.cost && n > 1) {
        if (n > SIZE_MAX / sizeof *cost) return -ENOMEM; /* 32 bits: n * 8 would wrap */
        perm = (size_t *)malloc(n * sizeof *perm);
        cost = (double *)malloc(n * sizeof *cost);
        if (!perm || !cost) {
            free(perm);
            free(cost);
            return -ENOMEM;
        }
        double lo = (double)INFINITY, hi = 0; /* the smallest and largest positive finite hints */
        for (size_t i = 0; i < n; i++) {
            double c = d.cost[i];
            if (c > 0 && isfinite(c)) {
                if (c < lo) lo = c;
                if (c > hi) hi = c;
            }
        }
        if (hi == 0) lo = hi = 1; /* none: every job alike, +inf ones longer */
        /* Ordered by the hints themselves (+inf above all, and 0, negative
           and NaN tied below every positive one), before they are divided
           by the largest: hints more than 1e308 apart would underflow to 0
           there and tie with the non-positive ones. */
        for (size_t i = 0; i < n; i++) {
            double c = d.cost[i];
            cost[i] = c > 0 ? c : 0;
            perm[i] = i;
        }
        qsort_r(perm, n, sizeof *perm, parx__cost_cmp, cost);
        for (size_t i = 0; i < n; i++) {
            double c = cost[i];
            cost[i] = c > 0 && isfinite(c) ? c / hi : c > 0 ? 2 : lo / hi / 2;
            cost_total += cost[i];
        }
        r.perm = perm;
    }

    parx_probe pr;
    if (d.probe) {
        parx__run_sane(d.probe, &pr);
    } else {
        parx__run_sane(parx__run_env(), &pr);
    }
    int cpus = parx__cpu_count();
    int wmax = d.workers ? d.workers : cpus;
    parx_exec exec = d.exec;
    int workers = 1;
    int rc = 0;
    char a[32], b[32], c[32];

    /* ---- AUTO: choose */
    if (exec == PARX_EXEC_AUTO && procs_wanted) {
#ifndef PARX_NO_PROC
        /* fork copies the caller: unsafe with threads, slow when large;
           spawn needs ctx in the arena (ctx_size copies it there) */
        int threads = parx__procs_threads();
        uint64_t rss = parx__run_rss();
        bool spawn_ok = !ctx || d.ctx_size || d.procs;
        bool spawn_better = threads > 1 || rss > PARX__RUN_BIG_RSS;
        if (d.procs) exec = d.procs->start == PARX_START_SPAWN ? PARX_EXEC_SPAWN : PARX_EXEC_FORK;
        else exec = spawn_ok && spawn_better ? PARX_EXEC_SPAWN : PARX_EXEC_FORK;
        char nt[32] = "an unknown number of threads", mib[48] = "an unknown amount"; /* no /proc */
        if (threads > 0) snprintf(nt, sizeof nt, "%d thread%s", threads, threads == 1 ? "" : "s");
        if (rss > 0) snprintf(mib, sizeof mib, "%llu MiB", (unsigned long long)(rss >> 20));
        snprintf(rep.reason, sizeof rep.reason,
                 "%s: jobs need processes (%s); the caller has %s and %s resident%s",
                 parx_exec_name(exec),
                 d.isolate ? "isolation asked for" : d.job_timeout_ns ? "a timeout" : "retries",
                 nt, mib,
                 d.procs ? "; the pool given"
                 : spawn_better && !spawn_ok ? "; not spawn: ctx is not in an arena and "
                                               ".ctx_size is 0"
                                             : "");
#endif
    } else if (exec == PARX_EXEC_AUTO) {
        /* Workers that can really run: the CPUs, the most a pool can have
           (and the caller), and a given pool's threads plus the caller. A
           running pool costs a wake-up, not a start, priced at a quarter
           of one. */
        int wcap = wmax < cpus ? wmax : cpus;
        if (wcap > PARX__MAX_THREADS + 1) wcap = PARX__MAX_THREADS + 1;
        if (d.pool && wcap > parx_pool_size(d.pool) + 1) wcap = parx_pool_size(d.pool) + 1;
        double start_full = pr.thread_start_ns;
        if (d.pool) pr.thread_start_ns /= 4;
        if (wcap < 2 || n < 2) {
            exec = PARX_EXEC_SEQ;
            snprintf(rep.reason, sizeof rep.reason, "sequential: %s",
                     n < 2 ? "fewer than two jobs" : "one worker can run");
        } else {
            /* Jobs on the caller, timed, until threads are worth starting:
               batches that double while they stay under a quarter of a
               thread start, so timing costs little however short the jobs.
               The first job is left out of the mean once there are others
               (it pays for cold caches and page faults), and nothing is
               decided before a quarter of a thread start has been spent,
               nor on one job shorter than a whole thread start: one fast
               job says little, and waiting costs at most that. */
            bool tail = perm != NULL;
            double cost_run = 0, cost_first = 0, pred_seq = 0, pred_thr = 0;
            double spent = 0, t_first = 0, mean = 0;
            uint64_t now = parx__now_ns(); /* after the sort: setup is not a job */
            size_t k, got, m = 0, batch = 1;
            while (!parx__run_stopped(&r) && parx__run_claim(&r, tail, batch, &k, &got)) {
                uint64_t t1 = parx__run_jobs(&r, k, got, now);
                double dt = (double)(t1 - now);
                if (m == 0) {
                    t_first = dt / (double)got;
                    cost_first = perm ? cost[perm[k]] : 1;
                }
                for (size_t q = k; perm && q < k + got; q++) cost_run += cost[perm[q]];
                m += got;
                spent += dt;
                now = parx__run_progress(&r, t1, false);
                size_t left = parx__run_left(&r);
                if (!left || parx__run_stopped(&r)) break; /* a cancel: sequential, below */
                double sp = m > 1 ? spent - t_first : spent;
                mean = sp / (double)(m > 1 ? m - 1 : 1);
                /* in double, and no more than is left: a probe's thread start
                   can be any finite figure, and a double past SIZE_MAX cast
                   to size_t is undefined */
                double capd = 0.25 * pr.thread_start_ns / (mean > 1 ? mean : 1);
                size_t cap = capd < (double)left ? (size_t)capd : left;
                batch = 2 * batch < cap ? 2 * batch : cap > 1 ? cap : 1;
                if (spent < 0.25 * pr.thread_start_ns || (m < 2 && spent < start_full)) continue;
                /* under hints: the time per unit of hint seen so far, times
                   the hints left (cr is 0 only where hints underflowed) */
                double cr = m > 1 ? cost_run - cost_first : cost_run;
                double cl = cost_total - cost_run;
                pred_seq = perm && cr > 0 ? sp * (cl > 0 ? cl : 0) / cr : mean * (double)left;
                /* the caller is one of the w: no more than there are jobs */
                size_t w = (size_t)wcap < left ? (size_t)wcap : left;
                pred_thr = parx__run_predict(&pr, PARX_EXEC_THREADS, left, (int)w,
                                            pred_seq / (double)left);
                if (pred_thr < PARX__RUN_MARGIN * pred_seq) {
                    exec = PARX_EXEC_THREADS;
                    workers = (int)w;
                    break;
                }
            }
            /* the jobs that ran: m also counts those of the last batch that a
               cancel kept from starting. relaxed: only this thread ran any */
            rep.first = atomic_load_explicit(&r.done, memory_order_relaxed);
            if (exec == PARX_EXEC_THREADS) {
                size_t left = parx__run_left(&r);
                int len = snprintf(rep.reason, sizeof rep.reason,
                                   "threads: %d workers; mean job %s over the first %zu; the %zu "
                                   "left: %s on threads vs %s sequentially",
                                   workers, parx__run_fmt(a, sizeof a, spent / (double)m), m,
                                   left, parx__run_fmt(b, sizeof b, pred_thr),
                                   parx__run_fmt(c, sizeof c, pred_seq));
#ifndef PARX_NO_PROC
                double pred_proc = parx__run_predict(&pr, PARX_EXEC_FORK, left, workers,
                                                    pred_seq / (double)left);
                double more = 100.0 * (pred_proc / pred_thr - 1);
                if (len > 0 && (size_t)len < sizeof rep.reason)
                    snprintf(rep.reason + len, sizeof rep.reason - (size_t)len,
                             more >= 0 ? "; process overhead would be %.0f%%"
                                       : "; processes predicted %.0f%% faster (the probe "
                                         "timed a thread start slower than a process start)",
                             more >= 0 ? more : -more);
#else
                (void)len;
#endif
            } else if (parx__run_stopped(&r)) {
                exec = PARX_EXEC_SEQ;
                snprintf(rep.reason, sizeof rep.reason, "sequential: cancelled after %zu jobs",
                         rep.first);
            } else {
                exec = PARX_EXEC_SEQ;
                snprintf(rep.reason, sizeof rep.reason,
                         "sequential: mean job %s; all %zu done before threads would pay off "
                         "(start %s, %s per job)",
                         parx__run_fmt(a, sizeof a, m ? spent / (double)m : 0), m,
                         parx__run_fmt(b, sizeof b, pr.thread_start_ns),
                         parx__run_fmt(c, sizeof c, pr.thread_job_ns));
            }
        }
    } else {
        parx_exec asked = exec;
#ifndef PARX_NO_PROC
        /* a pool given decides between fork and spawn: say what will run */
        if (d.procs && (exec == PARX_EXEC_FORK || exec == PARX_EXEC_SPAWN))
            exec = d.procs->start == PARX_START_SPAWN ? PARX_EXEC_SPAWN : PARX_EXEC_FORK;
#endif
        if (exec == asked)
            snprintf(rep.reason, sizeof rep.reason, "%s: asked for", parx_exec_name(exec));
        else
            snprintf(rep.reason, sizeof rep.reason, "%s: the pool given (.procs; %s asked for)",
                     parx_exec_name(exec), parx_exec_name(asked));
    }

    /* ---- run what is left on the chosen backend */
    if (exec == PARX_EXEC_SEQ) {
        /* longest first, as hinted: where AUTO chose this after measuring
           (from the tail), it ran every job already */
        parx__run_loop(&r, true);
    } else if (exec == PARX_EXEC_THREADS) {
        if (d.exec != PARX_EXEC_AUTO) {
            workers = wmax;
            if ((size_t)workers > n) workers = (int)n;
            /* a pool's most threads, and the caller: a larger pool is refused */
            if (workers > PARX__MAX_THREADS + 1) workers = PARX__MAX_THREADS + 1;
        }
        if (d.pool && workers > parx_pool_size(d.pool) + 1) workers = parx_pool_size(d.pool) + 1;
        r.workers = workers;
        parx_pool *made;
        rc = parx__run_threads(&r, d.pool, workers - 1, &made);
        if (rc < 0) {
            rep.fallback = true;
            bool copy = d.pool && rc == -EPERM;
            if (copy)
                snprintf(rep.reason, sizeof rep.reason,
                         "sequential: fallback, the pool given (.pool) was created by the parent "
                         "of this fork() child");
            else
                snprintf(rep.reason, sizeof rep.reason,
                         "sequential: fallback, a thread pool of %d could not start (%s)",
                         workers - 1, parx_strerror(rc));
            parx__log(PARX_LOG_WARN,
                      copy ? "parx_run: .pool belongs to the parent of this fork() child; "
                             "running sequentially"
                           : "parx_run: no thread pool could start; running sequentially");
            exec = PARX_EXEC_SEQ;
            workers = r.workers = 1;
            parx__run_loop(&r, true);
            rc = 0;
        }
        parx_pool_destroy(made);
    } else {
#ifndef PARX_NO_PROC
        parx_procs *pp = d.procs;
        bool raw = false;
        if (!pp) {
            parx_procs_desc pd;
            memset(&pd, 0, sizeof pd);
            pd.workers = (size_t)wmax > n ? (int)n : wmax;
            /* a pool's most workers: a larger pool is refused with -EINVAL */
            if (pd.workers > PARX__PROCS_MAX_WORKERS) pd.workers = PARX__PROCS_MAX_WORKERS;
            pd.start = exec == PARX_EXEC_SPAWN ? PARX_START_SPAWN : PARX_START_FORK;
            pd.job_timeout_ns = d.job_timeout_ns;
            pd.retries = d.retries;
            pp = parx__procs_create(&pd, &rc);
            raw = exec == PARX_EXEC_FORK; /* the workers are copies of the caller as of now */
        } else {
            exec = pp->start == PARX_START_SPAWN ? PARX_EXEC_SPAWN : PARX_EXEC_FORK;
            rc = 0;
        }
        /* what failed, for the fallback's message: the pool's start, or (the
           pool running) room in its arena for the jobs' ctx and out blocks */
        const char *failed_to = "could not start";
        if (pp && rc == 0) {
            workers = parx_procs_size(pp);
            rc = parx__run_procs(&r, pp, d.ctx_size, raw);
            failed_to = "could not take the jobs";
        }
        if (pp != d.procs) parx_procs_destroy(pp);
        if (rc < 0 && procs_wanted) {
            free(perm);
            free(cost);
            return rc; /* isolation, a timeout or retries cannot be had in-process */
        }
        if (rc < 0) {
            rep.fallback = true;
            snprintf(rep.reason, sizeof rep.reason, "sequential: fallback, the %s backend %s (%s)",
                     parx_exec_name(exec), failed_to, parx_strerror(rc));
            char msg[200];
            snprintf(msg, sizeof msg, "parx_run: the %s backend %s (%s); running sequentially",
                     parx_exec_name(exec), failed_to, parx_strerror(rc));
            parx__log(PARX_LOG_WARN, msg);
            exec = PARX_EXEC_SEQ;
            workers = r.workers = 1;
            parx__run_loop(&r, true);
            rc = 0;
        }
#endif
    }

    /* ---- settle what a cancel kept from starting, report */
    parx__run_settle_left(&r, -ECANCELED);
    (void)parx__run_progress(&r, parx__now_ns(), true);
    free(perm);
    free(cost);
    /* relaxed: every worker has finished (parx_wait, or results collected) */
    size_t done = atomic_load_explicit(&r.done, memory_order_relaxed);
    size_t failed = atomic_load_explicit(&r.failed, memory_order_relaxed);
    if (report) {
        rep.exec = exec;
        rep.workers = exec == PARX_EXEC_SEQ ? 1 : workers;
        rep.failed = failed;
        rep.retried = atomic_load_explicit(&r.retried, memory_order_relaxed);
        rep.cancelled = atomic_load_explicit(&r.cancelled, memory_order_relaxed);
        rep.job_ns = done ? (double)atomic_load_explicit(&r.busy_ns, memory_order_relaxed) /
                                (double)done
                          : 0;
        rep.wall_ns = (double)(parx__now_ns() - t_start);
        *report = rep;
    }
    return (int)(failed > INT_MAX ? INT_MAX : failed);
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
