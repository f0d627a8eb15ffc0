/* examples/11_mpi_sweep.c -- a parameter sweep spread over MPI ranks, with
   a parx thread pool inside each rank; the results gathered on rank 0.

   Teaches: the hybrid layout of cluster codes. MPI starts one process (a
   "rank") per machine or per socket, and each rank runs its share of the
   work on a parx pool of threads. Only the main thread of a rank talks to
   MPI (MPI_THREAD_FUNNELED); the pool's workers never do.

   The sweep: for every point of a grid of (noise, tilt) pairs, a few dozen
   particles in a tilted double well, V(x) = x^4/4 - x^2/2 - tilt*x, start
   in the left well (x = -1) and are pushed about by noise until they reach
   the bottom of the right one (x = +1). The result of a point is their mean
   escape time. Low noise means long, rare escapes (Kramers: the time grows
   like exp(1 / (2 noise^2))), so points cost anything from a millisecond
   to a hundred times that. Three things follow from that:
   - Between ranks, points are dealt out cyclically (point j to rank
     j % ranks), not in blocks: the costly low-noise rows are then shared
     by every rank instead of all landing on the first. The program prints
     how even the work came out, and what a block split would have given.
   - Inside a rank, parx_for with grain 1 balances the uneven points by work
     stealing: an idle thread takes half of what a busy one has left.
   - Point i draws its random numbers from parx_rng_for(SEED, i), a pure
     function of (SEED, i), so its result is the same bits whichever rank
     and thread computed it. Rank 0 recomputes points alone (all of them
     when there are at most 128, else every k-th, up to 128 of them),
     compares the bits, and exits with status 1 if any differ: the output is the
     same for any number of ranks and threads.

   Options (every rank parses them the same way):
       --threads T   threads per rank (default 0: one per CPU the rank may
                     use; mpirun binds each rank to one core unless told
                     otherwise, see README.md)
       --slice K/N   compute only slice K of N (points K, K+N, K+2N, ...):
                     a Slurm job array task runs one slice; the XOR of the
                     slices' checksums is the checksum of the whole sweep
       --out FILE    rank 0 writes "index noise tilt escape_time" per point
                     (a FILE it cannot write stops every rank, exit 2,
                     before the sweep)

   Build (from examples/; Debian: apt-get install libopenmpi-dev openmpi-bin):
       mpicc -O2 -pthread -I.. 11_mpi_sweep.c ../parx.c -luring -o mpi_sweep
       (without liburing: add -DPARX_NO_URING and leave out -luring)
   Run:
       mpirun -np 2 ./mpi_sweep [options] [grid] [walkers]   (default 32 x 32 points, 200 walkers)
       ./mpi_sweep [options] [grid] [walkers]   (a plain start is an MPI job of one rank)

   Expected output on a 2-CPU machine (times vary; the escape times, the
   checksum and the check's verdict do not, for any number of ranks and
   threads):
       escape times on 32 x 32 points, 200 walkers each, on 2 ranks with 2 threads in all
       time 1.77 s on rank 0 (compute and gather)
       work per rank, busiest / mean: 1.047 with this cyclic split (1.772 with a block split)
       mean escape time from 4.5 (noise 0.98, tilt 0.18) to 1367.2 (noise 0.30, tilt 0.00)
       checksum 0x60d2e5a06de229bb
       checked 128 of 1024 points against a sequential recomputation: same bits
*/
#define _GNU_SOURCE /* stat and access (args.h) with -std=c11 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "parx.h"

#define SEED      20261121u
#define NOISE_MIN 0.3 /* the grid's rows: noise from NOISE_MIN to NOISE_MAX */
#define NOISE_MAX 1.0
#define TILT_MAX  0.2  /* the grid's columns: tilt from 0 to TILT_MAX */
#define DT        0.01 /* time step */
#define SQRT_DT   0.1
#define MAX_STEPS 1000000 /* per walker: a cap that keeps every point finite (rarely reached) */
#define CHECK_MAX 128     /* points rank 0 recomputes at most */

/* What every rank knows about the sweep: the grid, and which points this
   run covers. The run's points are numbered j = 0 .. m-1; point j is grid
   point slice + nslices * j, and belongs to rank j % ranks. */
typedef struct sweep {
    int grid, walkers;
    int slice, nslices;
    size_t m; /* points in this run (in this slice) */
    int rank, ranks;
} sweep;

static size_t point_of(const sweep *s, size_t j)
{
    return (size_t)s->slice + (size_t)s->nslices * j;
}

/* How many of the run's points rank r owns: those with j % ranks == r. */
static int count_of(const sweep *s, int r)
{
    return (int)((s->m + (size_t)(s->ranks - 1 - r)) / (size_t)s->ranks);
}

static void params_of(const sweep *s, size_t i, double *noise, double *tilt)
{
    double span = s->grid > 1 ? (double)(s->grid - 1) : 1.0;
    *noise = NOISE_MAX - (NOISE_MAX - NOISE_MIN) * (double)(i / (size_t)s->grid) / span;
    *tilt = TILT_MAX * (double)(i % (size_t)s->grid) / span;
}

/* The computation of one point: the mean escape time of s->walkers walkers.
   Each step is Euler-Maruyama with the Gaussian kick replaced by a fair
   coin, +-noise*sqrt(dt): its first three moments are the Gaussian's, which
   is all the weak first-order scheme needs (Kloeden and Platen, 14.1), and
   it costs one random bit. So one parx_rng_next serves 64 steps, and there
   is no libm call whose last bit could differ between machines. */
static double escape_time(const sweep *s, size_t i)
{
    double noise, tilt;
    params_of(s, i, &noise, &tilt);
    parx_rng rng = parx_rng_for(SEED, i); /* point i's own stream, whoever runs it */
    double kick = noise * SQRT_DT;
    uint64_t bits = 0, steps = 0;
    int nbits = 0;
    for (int w = 0; w < s->walkers; w++) {
        double x = -1.0;
        for (long k = 0; x < 1.0 && k < MAX_STEPS; k++, steps++) {
            if (nbits == 0) {
                bits = parx_rng_next(&rng);
                nbits = 64;
            }
            double dw = (bits & 1) ? kick : -kick;
            bits >>= 1;
            nbits--;
            x += (x - x * x * x + tilt) * DT + dw; /* force -V'(x), plus noise */
        }
    }
    return (double)steps * DT / s->walkers;
}

/* The parx_for body: this rank's k-th point is run point j = rank + ranks*k. */
typedef struct job {
    const sweep *s;
    double *out; /* out[k]: result of this rank's k-th point */
} job;

static void run_points(void *ctx, size_t begin, size_t end)
{
    job *jb = ctx;
    for (size_t k = begin; k < end; k++) {
        size_t j = (size_t)jb->s->rank + (size_t)jb->s->ranks * k;
        jb->out[k] = escape_time(jb->s, point_of(jb->s, j));
    }
}

/* A 64-bit hash of (point, result bits); XORed over the points it makes a
   checksum that does not depend on the order the points are visited in,
   which is what lets slices be combined. */
static uint64_t point_hash(size_t i, double v)
{
    uint64_t z;
    memcpy(&z, &v, sizeof z);
    z ^= (uint64_t)i * UINT64_C(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Busiest rank's share of the work over the mean share, where a point's
   work is its result (the escape time is proportional to the steps taken):
   1.0 is perfect balance. block: ranks own contiguous runs of points. */
static double imbalance(const sweep *s, const double *res, int block)
{
    double *work = calloc((size_t)s->ranks, sizeof *work), total = 0, most = 0;
    if (!work)
        return 0.0;
    for (size_t j = 0; j < s->m; j++) {
        size_t r = block ? j * (size_t)s->ranks / s->m : j % (size_t)s->ranks;
        work[r] += res[j];
        total += res[j];
    }
    for (int r = 0; r < s->ranks; r++)
        most = work[r] > most ? work[r] : most;
    free(work);
    return total > 0 ? most / (total / s->ranks) : 1.0;
}

/* Everything rank 0 does with the gathered results: summary, checksum,
   optional file, and the check. Returns the exit status. */
static int report(const sweep *s, const double *res, int threads, double seconds,
                  const char *out_path)
{
    printf("escape times on %d x %d points", s->grid, s->grid);
    if (s->nslices > 1)
        printf(" (slice %d of %d: %zu points)", s->slice, s->nslices, s->m);
    printf(", %d walkers each, on %d rank%s with %d thread%s in all\n", s->walkers, s->ranks,
           s->ranks > 1 ? "s" : "", threads, threads > 1 ? "s" : "");
    printf("time %.2f s on rank 0 (compute and gather)\n", seconds);
    if (s->ranks > 1)
        printf("work per rank, busiest / mean: %.3f with this cyclic split (%.3f with a block "
               "split)\n",
               imbalance(s, res, 0), imbalance(s, res, 1));

    size_t lo = 0, hi = 0;
    uint64_t sum = 0;
    for (size_t j = 0; j < s->m; j++) {
        lo = res[j] < res[lo] ? j : lo;
        hi = res[j] > res[hi] ? j : hi;
        sum ^= point_hash(point_of(s, j), res[j]);
    }
    double nl, tl, nh, th;
    params_of(s, point_of(s, lo), &nl, &tl);
    params_of(s, point_of(s, hi), &nh, &th);
    printf("mean escape time from %.1f (noise %.2f, tilt %.2f) to %.1f (noise %.2f, tilt %.2f)\n",
           res[lo], nl, tl, res[hi], nh, th);
    printf("checksum 0x%016llx\n", (unsigned long long)sum);

    if (out_path) {
        FILE *f = fopen(out_path, "w");
        if (!f) {
            perror(out_path);
            return 1;
        }
        for (size_t j = 0; j < s->m; j++) {
            double noise, tilt;
            params_of(s, point_of(s, j), &noise, &tilt);
            fprintf(f, "%zu %.17g %.17g %.17g\n", point_of(s, j), noise, tilt, res[j]);
        }
        if (fclose(f) != 0) {
            perror(out_path);
            return 1;
        }
    }

    /* The check: recompute a spread of points on this thread alone. Same
       seed, same stream, same code: the bits must match. */
    size_t stride = (s->m + CHECK_MAX - 1) / CHECK_MAX, checked = 0, bad = 0;
    for (size_t j = 0; j < s->m; j += stride, checked++) {
        double v = escape_time(s, point_of(s, j));
        if (memcmp(&v, &res[j], sizeof v) != 0) {
            if (bad++ < 5)
                printf("point %zu: %.17g, recomputed %.17g\n", point_of(s, j), res[j], v);
        }
    }
    printf("checked %zu of %zu points against a sequential recomputation: %s\n", checked, s->m,
           bad ? "RESULTS DIFFER" : "same bits");
    return bad ? 1 : 0;
}

/* "K/N" as two whole numbers, each 0..max; 1 when it is one. */
static int slice_of(const char *arg, long max, int *k, int *n)
{
    char buf[48];
    const char *slash = strchr(arg, '/');
    if (!slash || (size_t)(slash - arg) >= sizeof buf) return 0;
    memcpy(buf, arg, (size_t)(slash - arg));
    buf[slash - arg] = '\0';
    long a = whole_number_upto(buf, max), b = whole_number_upto(slash + 1, max);
    *k = (int)a, *n = (int)b;
    return a >= 0 && b >= 0;
}

/* Options; returns 0, or 2 (usage) with a message from rank 0. Every
   number is read whole and in its range (args.h), never cut to an int. */
static int parse(int argc, char **argv, int rank, sweep *s, int *threads, const char **out_path)
{
    *s = (sweep){.grid = 32, .walkers = 200, .slice = 0, .nslices = 1};
    int npos = 0, ok = 1;
    for (int a = 1; a < argc && ok; a++) {
        const char *opt = argv[a];
        long v = 0;
        if (strcmp(opt, "--threads") == 0 && a + 1 < argc) {
            ok = (v = whole_number_upto(argv[++a], 4096)) >= 0; /* a pool's most */
            *threads = (int)v;
        } else if (strcmp(opt, "--slice") == 0 && a + 1 < argc) {
            ok = slice_of(argv[++a], 2000L * 2000L, &s->slice, &s->nslices);
        } else if (strcmp(opt, "--out") == 0 && a + 1 < argc) {
            *out_path = argv[++a];
        } else if (opt[0] != '-' && npos < 2) {
            ok = (v = whole_number_upto(opt, npos == 0 ? 2000 : 1000000)) >= 1;
            *(npos++ == 0 ? &s->grid : &s->walkers) = (int)v;
        } else {
            ok = 0;
        }
    }
    if (ok && s->nslices >= 1 && s->nslices <= s->grid * s->grid && s->slice < s->nslices)
        return 0;
    if (rank == 0)
        fprintf(stderr,
                "usage: %s [--threads T 0..4096] [--slice K/N] [--out FILE] [grid 1..2000] "
                "[walkers 1..1000000]\n",
                argv[0]);
    return 2;
}

int main(int argc, char **argv)
{
    /* FUNNELED: threads exist, but only this one calls MPI. An MPI library
       may give less than asked for; then it is not safe to have threads. */
    int provided, rank, ranks;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    if (provided < MPI_THREAD_FUNNELED) {
        if (rank == 0)
            fprintf(stderr, "this MPI library does not support threads (level %d)\n", provided);
        MPI_Finalize();
        return 1;
    }

    sweep s;
    int threads = 0;
    const char *out_path = NULL;
    int status = parse(argc, argv, rank, &s, &threads, &out_path);
    if (status != 0) { /* every rank parsed the same arguments and stops here */
        MPI_Finalize();
        return status;
    }
    /* rank 0 writes --out: it checks the folder before the work, and every
       rank stops with it if it cannot be written */
    int werr = rank == 0 && out_path ? writable_file(out_path) : 0;
    MPI_Bcast(&werr, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (werr) {
        if (rank == 0) fprintf(stderr, "%s: --out %s: %s\n", argv[0], out_path, strerror(werr));
        MPI_Finalize();
        return 2;
    }
    s.rank = rank;
    s.ranks = ranks;
    size_t n = (size_t)s.grid * (size_t)s.grid;
    /* the slice's points: slice, slice + nslices, ... below n (parse made sure there is one) */
    s.m = (n - (size_t)s.slice + (size_t)s.nslices - 1) / (size_t)s.nslices;

    /* This rank's points, on its own pool. MPI errors abort the job (the
       default error handler), so only parx's need checking here. */
    int mine = count_of(&s, rank);
    double *out = malloc(((size_t)mine + 1) * sizeof *out); /* + 1: never malloc(0) */
    parx_pool *pool = parx_pool_create(&(parx_pool_desc){.threads = threads});
    if (!out || !pool) {
        fprintf(stderr, "rank %d: %s: %s\n", rank, out ? "parx_pool_create" : "malloc",
                strerror(errno));
        MPI_Abort(MPI_COMM_WORLD, 1); /* the other ranks would wait for us forever */
    }
    MPI_Barrier(MPI_COMM_WORLD); /* start the clock together */
    double t0 = MPI_Wtime();
    /* grain 1: each point is worth a task of its own, and parx_for hands
       them out by work stealing, so a thread that drew cheap points takes
       more. Only this thread calls MPI; it sleeps until the loop is done. */
    if (parx_for(pool, 0, (size_t)mine, 1, run_points, &(job){.s = &s, .out = out}) != 0)
        MPI_Abort(MPI_COMM_WORLD, 1);

    /* Gather: rank r's results land in block r of `all`, in its own order
       (k = 0, 1, ...); rank 0 then puts run point j = r + ranks*k in place. */
    int *counts = NULL, *displs = NULL;
    double *all = NULL, *res = NULL;
    if (rank == 0) {
        counts = malloc((size_t)ranks * sizeof *counts);
        displs = malloc((size_t)ranks * sizeof *displs);
        all = malloc((s.m + 1) * sizeof *all);
        res = malloc((s.m + 1) * sizeof *res);
        if (!counts || !displs || !all || !res) {
            fprintf(stderr, "rank 0: out of memory\n");
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        for (int r = 0, d = 0; r < ranks; d += counts[r++]) {
            counts[r] = count_of(&s, r);
            displs[r] = d;
        }
    }
    MPI_Gatherv(out, mine, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    int my_threads = parx_pool_size(pool), all_threads = 0;
    MPI_Reduce(&my_threads, &all_threads, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);

    status = 0;
    if (rank == 0) {
        double seconds = MPI_Wtime() - t0;
        for (int r = 0; r < ranks; r++)
            for (int k = 0; k < counts[r]; k++)
                res[(size_t)r + (size_t)ranks * (size_t)k] = all[displs[r] + k];
        status = report(&s, res, all_threads, seconds, out_path);
        free(counts);
        free(displs);
        free(all);
        free(res);
    }
    parx_pool_destroy(pool);
    free(out);
    /* Each rank returns its own status; mpirun exits non-zero if any did. */
    MPI_Finalize();
    return status;
}
