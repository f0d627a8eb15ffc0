/* examples/05_shared_arena.c -- one 256 MiB problem, read by several
   processes, with one copy of it in memory.

   Teaches: parx_shm.h arenas. The parent creates an arena (one shared
   memory segment), allocates the problem in it -- an array of doubles --
   and fills it. Then it forks the workers; each one finds the array through
   offsets kept in the arena, sums its share of it in place (no copy, no
   serialisation), and writes its partial sum into the arena. The parent
   adds up the partial sums and checks the total.
   - Offsets, not pointers: parx_arena_offset(a, p) names a block the same
     way in every process, parx_arena_ptr(a, off) turns it back into a
     pointer there. Forked workers would see the arena at the parent's
     address anyway, but a process that attaches later (parx_arena_open by
     name, parx_arena_from_fd with a passed descriptor) may map it elsewhere;
     code written with offsets works in all of them.
   - One copy: every process reports its proportional set size (Pss, from
     /proc/self/smaps_rollup), in which a page mapped by k processes counts
     1/k towards each. The parent wrote the whole array, so it maps all of
     it; a worker maps only the pages of its own share. Adding Pss up over
     all processes counts every page once: the total is one copy of the
     data, where private copies would cost one per process.
   Processes are forked before any thread exists (there are none here), and
   every child is waited for. Exit status 1 if a worker failed or the total
   is wrong.

   Build (from examples/):
       cc -O2 -pthread -I.. 05_shared_arena.c ../parx.c -luring -o shared_arena
       (without liburing: add -DPARX_NO_URING and leave out -luring)
   Run:
       ./shared_arena [workers] [MiB]     (default 4 workers, 256 MiB; 1..64 workers)

   Expected output (Rss and Pss vary a little with the C library and the
   kernel; the sums do not). Each worker's 64 MiB share is mapped by it and
   by the parent, so half of it counts in each one's Pss; the parent's Pss
   is half of everything. The total is one copy, plus ~1 MiB of program:
       256 MiB of doubles in one arena, summed by 4 worker processes
       process   share (MiB)  partial sum    Rss (MiB)  Pss (MiB)
       parent    all of it                       257.9      128.4
       worker 0         64.0  4189990528          65.1       32.2
       worker 1         64.0  4190144192          65.1       32.2
       worker 2         64.0  4190121856          65.1       32.2
       worker 3         64.0  4190059520          65.0       32.2
       Pss of all 5 processes: 257.1 MiB = 1.00 x the data (with a private copy each: 5 x)
       total 16760316096, expected 16760316096: ok
*/
#define _POSIX_C_SOURCE 200809L /* fork, pipe, waitpid with -std=c11 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "parx_shm.h"

#define MAX_WORKERS 64

/* The largest arena parx_shm.h makes is 1 TiB; 1020 GiB of data and the
   overhead that arena_bytes adds stay within it. */
#define MAX_MIB ((1L << 20) - 4096)

/* What a worker writes back, in the arena: its partial sum and its memory. */
struct result {
    uint64_t begin, end; /* its share: x[begin, end) */
    double sum;          /* sum of x[begin, end) */
    long pss_kib;        /* this worker's Pss and Rss once it has read its share */
    long rss_kib;        /* (-1: /proc/self/smaps_rollup could not be read) */
};

/* The job, in the arena. It holds the array by offset, so it means the same
   in every process that maps the arena, wherever that is. */
struct job {
    uint64_t data; /* offset of the array of doubles */
    uint64_t n;    /* doubles in it */
    int workers;   /* worker w sums x[n * w / workers, n * (w + 1) / workers) */
    struct result result[MAX_WORKERS];
};

/* This process's Pss and Rss in KiB, from /proc/self/smaps_rollup (Linux
   4.14 and later). Returns 0, or -1 (and -1 in both) when it cannot. */
static int memory_kib(long *pss, long *rss)
{
    char line[256];
    *pss = *rss = -1;
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        sscanf(line, "Pss: %ld kB", pss);
        sscanf(line, "Rss: %ld kB", rss);
    }
    fclose(f);
    return *pss >= 0 && *rss >= 0 ? 0 : -1;
}

/* x[i] = i mod 1000: whole numbers, so every partial sum and the total are
   exact in a double, whatever the order of the additions. */
static double value(uint64_t i)
{
    return (double)(i % 1000);
}

/* The exact total of value(i) for i < n. */
static double expected_total(uint64_t n)
{
    uint64_t q = n / 1000, r = n % 1000;
    return (double)(q * 499500 + r * (r - 1) / 2);
}

/* A worker: sum its share of the array where it lies, report, then wait
   until the parent has taken its own measurements (read returns 0 once the
   parent closes the pipe) so that this worker's mapping still counts.
   Returns the exit status. */
static int worker(parx_arena *a, uint64_t job_off, int w, int done_fd, int hold_fd)
{
    struct job *job = parx_arena_ptr(a, job_off);
    const double *x = parx_arena_ptr(a, job->data);
    uint64_t begin = job->n * (uint64_t)w / (uint64_t)job->workers;
    uint64_t end = job->n * (uint64_t)(w + 1) / (uint64_t)job->workers;

    double sum = 0.0;
    for (uint64_t i = begin; i < end; i++)
        sum += x[i]; /* reads the parent's pages themselves: nothing was copied */

    struct result *r = &job->result[w];
    r->begin = begin;
    r->end = end;
    r->sum = sum;
    memory_kib(&r->pss_kib, &r->rss_kib);

    /* Tell the parent. The stores above reach the shared pages before this
       write returns, and the parent reads them only after its read of this
       byte returns: the pipe orders them (write and read are system calls,
       and the kernel's pipe lock gives the happens-before). */
    char c = 1;
    if (write(done_fd, &c, 1) != 1)
        return 1;
    while (read(hold_fd, &c, 1) < 0 && errno == EINTR) {
    }
    return 0;
}

static double mib(long kib)
{
    return (double)kib / 1024.0;
}

/* The arena's size for `data` bytes of array: the data, plus what parx_shm.h
   keeps in the segment besides (its docs: the header and page map take about
   0.1% + 8 KiB), plus the job. The page map is 4 bytes per 4 KiB data page,
   data / 1024; data / 512 is twice that, so the map's rounding and the
   header's share of it never run short. The header (a few pages) and the job
   (a small block: its size class takes a 64 KiB span) fit in the 1 MiB. */
static uint64_t arena_bytes(uint64_t data)
{
    return data + data / 512 + (1 << 20);
}

int main(int argc, char **argv)
{
    long workers = 4, size_mib = 256;
    for (int i = 1; i < argc && i <= 2; i++) { /* whole numbers only: not "abc" or "2x" */
        char *end;
        errno = 0;
        long v = strtol(argv[i], &end, 10);
        if (end == argv[i] || *end || errno) v = -1;
        *(i == 1 ? &workers : &size_mib) = v;
    }
    if (argc > 3 || workers < 1 || workers > MAX_WORKERS || size_mib < 1 || size_mib > MAX_MIB) {
        fprintf(stderr, "usage: %s [workers 1..%d] [MiB 1..%ld]\n", argv[0], MAX_WORKERS, MAX_MIB);
        return 2;
    }
    /* The array must fit in memory: the arena lives there (a memfd is
       memory, not disk), and there is no point in asking for more. */
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0 && size_mib > (long)((uint64_t)pages * (uint64_t)page >> 20)) {
        fprintf(stderr, "%ld MiB is more than this machine's memory (%ld MiB)\n", size_mib,
                (long)((uint64_t)pages * (uint64_t)page >> 20));
        return 2;
    }
    uint64_t n = (uint64_t)size_mib * 1024 * 1024 / sizeof(double);

    /* 1. The arena: room for the array, the job, and the arena's own header
       and page map (arena_bytes). An anonymous arena (a memfd) is shared
       with the children by fork. .reserve allocates its memory now, so a
       machine or a memory limit without room for it fails here with
       -ENOSPC rather than with SIGBUS or the OOM killer while x is filled. */
    int err = 0;
    parx_arena *a = parx_arena_create(
        &(parx_arena_desc){.size = (size_t)arena_bytes(n * sizeof(double)), .reserve = true}, &err);
    if (!a) {
        fprintf(stderr, "parx_arena_create: %s\n", parx_strerror(err));
        return 1;
    }

    /* 2. The problem, in the arena, and the job that points at it by offset. */
    struct job *job = parx_arena_alloc(a, sizeof *job, 0);
    double *x = parx_arena_alloc(a, n * sizeof *x, 0);
    if (!job || !x) {
        fprintf(stderr, "parx_arena_alloc: %s\n", strerror(errno));
        parx_arena_close(a);
        return 1;
    }
    for (uint64_t i = 0; i < n; i++)
        x[i] = value(i);
    memset(job, 0, sizeof *job);
    job->data = parx_arena_offset(a, x);
    job->n = n;
    job->workers = (int)workers;
    uint64_t job_off = parx_arena_offset(a, job);

    printf("%ld MiB of doubles in one arena, summed by %ld worker process%s\n", size_mib, workers,
           workers == 1 ? "" : "es");

    /* 3. The workers. done: each writes one byte when its result is in the
       arena. hold: the workers wait until the parent closes it. */
    int done[2], hold[2];
    if (pipe(done) != 0) {
        perror("pipe");
        parx_arena_close(a);
        return 1;
    }
    if (pipe(hold) != 0) {
        perror("pipe");
        close(done[0]);
        close(done[1]);
        parx_arena_close(a);
        return 1;
    }
    fflush(stdout); /* or the children would print the parent's buffered text again */
    pid_t pid[MAX_WORKERS];
    int started = 0, ok = 1;
    for (int w = 0; w < workers; w++) {
        pid[w] = fork();
        if (pid[w] < 0) {
            perror("fork");
            ok = 0;
            break;
        }
        if (pid[w] == 0) {
            /* Close the ends this child does not use, or the parent's close
               of hold[1] would never reach the other workers as EOF. */
            close(done[0]);
            close(hold[1]);
            int status = worker(a, job_off, w, done[1], hold[0]);
            parx_arena_close(a); /* this process's handle; the arena lives on */
            _exit(status);
        }
        started++;
    }
    close(done[1]);
    close(hold[0]);

    /* 4. Wait until every worker has reported (a read of 0 bytes first: a
       worker died), measure the parent while they all still map their
       share, then let them go and reap them. */
    int reported = 0;
    char c;
    while (ok && reported < started) {
        ssize_t got = read(done[0], &c, 1);
        if (got == 1)
            reported++;
        else if (got == 0 || errno != EINTR)
            ok = 0;
    }
    long parent_pss, parent_rss;
    memory_kib(&parent_pss, &parent_rss);
    close(hold[1]);
    close(done[0]);
    for (int w = 0; w < started; w++) {
        int status = 0;
        pid_t got;
        while ((got = waitpid(pid[w], &status, 0)) < 0 && errno == EINTR) {
        }
        if (got < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "worker %d failed (status 0x%x)\n", w, (unsigned)status);
            ok = 0;
        }
    }
    if (!ok) {
        parx_arena_close(a);
        return 1;
    }

    /* 5. Gather: the partial sums and the memory, from the arena. */
    printf("process   share (MiB)  partial sum    Rss (MiB)  Pss (MiB)\n");
    printf("parent    all of it                   %9.1f  %9.1f\n", mib(parent_rss),
           mib(parent_pss));
    double total = 0.0;
    long total_pss = parent_pss;
    for (int w = 0; w < workers; w++) {
        const struct result *r = &job->result[w];
        double share = (double)((r->end - r->begin) * sizeof *x) / (1024.0 * 1024.0);
        printf("worker %-2d %11.1f  %-13.13g  %9.1f  %9.1f\n", w, share, r->sum, mib(r->rss_kib),
               mib(r->pss_kib));
        total += r->sum;
        total_pss = total_pss < 0 || r->pss_kib < 0 ? -1 : total_pss + r->pss_kib;
    }
    if (total_pss >= 0)
        printf("Pss of all %ld processes: %.1f MiB = %.2f x the data"
               " (with a private copy each: %ld x)\n",
               workers + 1, mib(total_pss), mib(total_pss) / (double)size_mib, workers + 1);

    double want = expected_total(n);
    printf("total %.17g, expected %.17g: %s\n", total, want, total == want ? "ok" : "WRONG");
    parx_arena_free(a, x);
    parx_arena_free(a, job);
    parx_arena_close(a);
    return total == want ? 0 : 1;
}
