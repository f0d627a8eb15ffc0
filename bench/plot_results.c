/* SPDX-License-Identifier: MIT */
/* bench/plot_results.c -- charts of a benchmark run, with no plotting
   dependency: reads the RES lines the benchmark programs print (bench/run
   collects them in bench/build/results.tsv) and writes, with
   examples/plot.h, into OUTDIR:

     overhead.csv, overhead.svg
         what each way of running work in parallel costs before any work is
         done, per backend, in ns on a log scale (the figures span six
         decades): a thread task's spawn + wait from outside the pool (parx,
         oneTBB, OpenMP), a process job's round trip (parx_procs, Python's
         ProcessPoolExecutor and multiprocessing.Pool), and a pool of two
         worker processes started until both take jobs (parx fork and
         spawn, the same Python pools, and one bare fork() for scale).
     speedup_fib.csv/.svg, speedup_sum.csv/.svg
         speedup = 1-thread time / n-thread time against n, per runtime, with
         the ideal line, for the benchmarks bench/run times at several
         thread counts.

   A figure missing from the input (a partial run, a peer that did not
   build) is left out; a chart with nothing in it is not written.

   Usage:   plot_results RESULTS.tsv OUTDIR      (OUTDIR must exist)
   Build:   cc -std=c11 -O2 -I../examples plot_results.c -o plot_results
            (bench/run and bench/meson.build do this)
   Exit:    0 when every chart with data in the input was written, 1 when
            one could not be, 2 on bad usage or an unreadable input.

   The RES format (bench/bench.h): tab-separated
       RES  bench  impl  variant  case  threads  metric  value
   bench/results_md.awk turns the tables of a RESULTS.md back into such
   lines, so the charts of a committed report can be drawn again. */
#include <errno.h>
#include <math.h> /* NAN (a macro: no libm needed) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"

/* ---- the RES lines -------------------------------------------------------- */

typedef struct res {
    char bench[24], impl[24], variant[48], cas[24], metric[32];
    int threads;
    double value;
} res;

static res *results;
static size_t nresults;

/* Copies the tab-separated field that starts at *p into dst (truncated to
   size), and moves *p past its tab. Returns 0 at the end of the line. */
static int field(char **p, char *dst, size_t size)
{
    if (*p == NULL)
        return 0;
    char *tab = strchr(*p, '\t');
    size_t n = tab != NULL ? (size_t)(tab - *p) : strcspn(*p, "\r\n");
    snprintf(dst, size, "%.*s", (int)n, *p);
    *p = tab != NULL ? tab + 1 : NULL;
    return 1;
}

/* Reads every RES line with a numeric value; other lines (string values
   such as hex bits, anything that is not RES) are skipped. */
static int load(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -errno;
    char line[1024];
    size_t cap = 0;
    int rc = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char *p = line, tag[8], threads[16], value[64];
        res r;
        if (!field(&p, tag, sizeof tag) || strcmp(tag, "RES") != 0 ||
            !field(&p, r.bench, sizeof r.bench) || !field(&p, r.impl, sizeof r.impl) ||
            !field(&p, r.variant, sizeof r.variant) || !field(&p, r.cas, sizeof r.cas) ||
            !field(&p, threads, sizeof threads) || !field(&p, r.metric, sizeof r.metric) ||
            !field(&p, value, sizeof value))
            continue;
        char *end;
        r.value = strtod(value, &end);
        if (end == value || *end != '\0')
            continue; /* not a number */
        r.threads = atoi(threads);
        if (nresults == cap) {
            cap = cap ? 2 * cap : 256;
            res *grown = realloc(results, cap * sizeof *results);
            if (grown == NULL) {
                rc = -ENOMEM;
                break;
            }
            results = grown;
        }
        results[nresults++] = r;
    }
    fclose(f);
    return rc;
}

/* The value of one figure, or -1 when the input does not have it. (Every
   figure charted here is a time or a count: never negative.) A later line
   wins, as in report.awk. */
static double lookup(const char *bench, const char *impl, const char *variant, const char *cas,
                     int threads, const char *metric)
{
    double v = -1;
    for (size_t i = 0; i < nresults; i++) {
        const res *r = &results[i];
        if (r->threads == threads && strcmp(r->bench, bench) == 0 &&
            strcmp(r->impl, impl) == 0 && strcmp(r->variant, variant) == 0 &&
            strcmp(r->cas, cas) == 0 && strcmp(r->metric, metric) == 0)
            v = r->value;
    }
    return v;
}

/* ---- overhead per backend --------------------------------------------------- */

/* One bar: which RES figure, and the factor that turns it into ns. */
typedef struct overhead {
    const char *label;
    const char *bench, *impl, *variant, *cas;
    int threads;
    const char *metric;
    double to_ns;
} overhead;

/* In the order of the chart: thread tasks, process jobs, process pools.
   Thread tasks: bench latency, case "empty" (back to back), 2 threads.
   Process jobs: bench procs, case "hot", 1 worker, mean round trip in us.
   Pools: bench procs, case "rss10m" (a small parent), 2 workers, "all up"
   (constructor to every worker running a job) in us; os fork(): the time
   one bare fork() takes until the child runs. */
static const overhead overheads[] = {
    {"parx: task spawn + wait (threads)", "latency", "parx", "spawn+wait", "empty", 2, "ns", 1},
    {"oneTBB: task_group run + wait", "latency", "tbb", "task_group", "empty", 2, "ns", 1},
    {"OpenMP gcc: parallel region + task", "latency", "omp-gcc", "region+task", "empty", 2, "ns",
     1},
    {"OpenMP clang: parallel region + task", "latency", "omp-clang", "region+task", "empty", 2,
     "ns", 1},
    {"parx: process job round trip (fork)", "procs", "parx", "fork", "hot", 1, "us", 1e3},
    {"parx: process job round trip (spawn)", "procs", "parx", "spawn", "hot", 1, "us", 1e3},
    {"ProcessPoolExecutor: job round trip", "procs", "py-ppe", "fork", "hot", 1, "us", 1e3},
    {"multiprocessing.Pool: job round trip", "procs", "py-pool", "fork", "hot", 1, "us", 1e3},
    {"os: one fork() of a 10 MiB process", "procs", "os", "fork()", "rss10m", 1, "create_us", 1e3},
    {"parx: 2 worker processes up (fork)", "procs", "parx", "fork", "rss10m", 2, "allup_us", 1e3},
    {"parx: 2 worker processes up (spawn)", "procs", "parx", "spawn", "rss10m", 2, "allup_us",
     1e3},
    {"ProcessPoolExecutor: 2 workers up (fork)", "procs", "py-ppe", "fork", "rss10m", 2,
     "allup_us", 1e3},
    {"ProcessPoolExecutor: 2 workers up (spawn)", "procs", "py-ppe", "spawn", "rss10m", 2,
     "allup_us", 1e3},
    {"multiprocessing.Pool: 2 workers up (fork)", "procs", "py-pool", "fork", "rss10m", 2,
     "allup_us", 1e3},
    {"multiprocessing.Pool: 2 workers up (spawn)", "procs", "py-pool", "spawn", "rss10m", 2,
     "allup_us", 1e3},
};
#define NOVERHEADS (sizeof overheads / sizeof overheads[0])

/* "59 ns", "1.05 us", "80 ms": three significant digits in the unit that
   keeps the number between 1 and 1000. */
static void fmt_ns(char *buf, size_t size, double ns)
{
    static const char *const units[] = {"ns", "us", "ms", "s"};
    int u = 0;
    while (ns >= 1000 && u < 3) {
        ns /= 1000;
        u++;
    }
    snprintf(buf, size, "%.*f %s", ns < 10 ? 2 : ns < 100 ? 1 : 0, ns, units[u]);
}

/* Writes overhead.csv and overhead.svg. Returns 0, 1 when the input has
   none of the figures (nothing written), or -errno. */
static int plot_overheads(const char *outdir)
{
    const char *labels[NOVERHEADS];
    double ns[NOVERHEADS];
    char textbuf[NOVERHEADS][24];
    const char *texts[NOVERHEADS];
    size_t n = 0;
    for (size_t i = 0; i < NOVERHEADS; i++) {
        const overhead *o = &overheads[i];
        double v = lookup(o->bench, o->impl, o->variant, o->cas, o->threads, o->metric);
        if (v < 0)
            continue;
        labels[n] = o->label;
        ns[n] = v * o->to_ns;
        fmt_ns(textbuf[n], sizeof textbuf[n], ns[n]);
        texts[n] = textbuf[n];
        n++;
    }
    if (n == 0)
        return 1;
    char path[4096];
    const char *names[] = {"ns"};
    const double *cols[] = {ns};
    snprintf(path, sizeof path, "%s/overhead.csv", outdir);
    int rc = plot_csv_write_labeled(path, "what", labels, 1, names, cols, n);
    if (rc != 0)
        return rc;
    snprintf(path, sizeof path, "%s/overhead.svg", outdir);
    return plot_bar_svg(path, &(plot_bar_desc){
                                  .title = "What parallelism costs before any work is done",
                                  .value_label = "ns per operation (log scale), best of N",
                                  .labels = labels,
                                  .values = ns,
                                  .texts = texts,
                                  .nbars = n,
                                  .log_scale = 1,
                                  .width = 860,
                              });
}

/* ---- speedup against threads ------------------------------------------------ */

#define MAXSERIES 16
#define MAXTHREADS 16

/* Writes speedup_<bench>.csv/.svg for one benchmark timed ("secs") at
   several thread counts: a series per impl/variant that has a 1-thread time
   and at least one more. Returns 0, 1 when there is no such series, or
   -errno. */
static int plot_speedup(const char *outdir, const char *bench, const char *title)
{
    /* The benchmark's first case (fib has one, "35"; sum has "1e8"). */
    const char *cas = NULL;
    for (size_t i = 0; i < nresults && cas == NULL; i++)
        if (strcmp(results[i].bench, bench) == 0 && strcmp(results[i].metric, "secs") == 0)
            cas = results[i].cas;
    if (cas == NULL)
        return 1;

    /* Every thread count timed, ascending. */
    int threads[MAXTHREADS];
    size_t nt = 0;
    for (size_t i = 0; i < nresults; i++) {
        const res *r = &results[i];
        if (strcmp(r->bench, bench) != 0 || strcmp(r->cas, cas) != 0 ||
            strcmp(r->metric, "secs") != 0 || r->threads < 1)
            continue;
        size_t k = 0;
        while (k < nt && threads[k] < r->threads)
            k++;
        if ((k < nt && threads[k] == r->threads) || nt == MAXTHREADS)
            continue;
        memmove(&threads[k + 1], &threads[k], (nt - k) * sizeof threads[0]);
        threads[k] = r->threads;
        nt++;
    }

    /* One series per impl/variant, in order of first appearance. */
    static char names[MAXSERIES][80];
    const char *colnames[MAXSERIES + 1] = {"threads"};
    double x[MAXTHREADS], y[MAXSERIES][MAXTHREADS];
    const double *cols[MAXSERIES + 1] = {x};
    plot_series series[MAXSERIES];
    size_t ns = 0;
    for (size_t k = 0; k < nt; k++)
        x[k] = threads[k];
    for (size_t i = 0; i < nresults && ns < MAXSERIES; i++) {
        const res *r = &results[i];
        if (strcmp(r->bench, bench) != 0 || strcmp(r->cas, cas) != 0 ||
            strcmp(r->metric, "secs") != 0)
            continue;
        char name[80];
        snprintf(name, sizeof name, "%s %s", r->impl, r->variant);
        int seen = 0;
        for (size_t s = 0; s < ns; s++)
            seen |= strcmp(names[s], name) == 0;
        double t1 = lookup(bench, r->impl, r->variant, cas, 1, "secs");
        if (seen || t1 <= 0)
            continue;
        size_t have = 0;
        for (size_t k = 0; k < nt; k++) {
            double t = lookup(bench, r->impl, r->variant, cas, threads[k], "secs");
            /* Not timed at this count: NaN, which plot.h leaves out of the
               line and writes as an empty CSV field. */
            y[ns][k] = t > 0 ? t1 / t : NAN;
            have += t > 0;
        }
        if (have < 2)
            continue; /* the sequential baseline, timed at 1 thread only */
        snprintf(names[ns], sizeof names[ns], "%s", name);
        colnames[ns + 1] = names[ns];
        cols[ns + 1] = y[ns];
        series[ns] = (plot_series){.name = names[ns], .x = x, .y = y[ns], .n = nt};
        ns++;
    }
    if (ns == 0)
        return 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/speedup_%s.csv", outdir, bench);
    int rc = plot_csv_write(path, ns + 1, colnames, cols, nt);
    if (rc != 0)
        return rc;
    snprintf(path, sizeof path, "%s/speedup_%s.svg", outdir, bench);
    return plot_line_svg(path, &(plot_line_desc){.title = title,
                                                 .x_label = "threads",
                                                 .y_label = "speedup (1-thread time / time)",
                                                 .series = series,
                                                 .nseries = ns,
                                                 .ideal = 1});
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: plot_results RESULTS.tsv OUTDIR\n");
        return 2;
    }
    int rc = load(argv[1]);
    if (rc != 0) {
        fprintf(stderr, "plot_results: %s: %s\n", argv[1], strerror(-rc));
        free(results);
        return 2;
    }
    struct {
        const char *what;
        int rc;
    } charts[] = {
        {"overhead", plot_overheads(argv[2])},
        {"speedup_fib", plot_speedup(argv[2], "fib", "fib: speedup against threads")},
        {"speedup_sum", plot_speedup(argv[2], "sum", "Sum of doubles: speedup against threads")},
    };
    int status = 0;
    for (size_t i = 0; i < sizeof charts / sizeof charts[0]; i++) {
        if (charts[i].rc == 0) {
            printf("plot_results: wrote %s/%s.csv and .svg\n", argv[2], charts[i].what);
        } else if (charts[i].rc == 1) {
            printf("plot_results: %s: no figures for it in %s\n", charts[i].what, argv[1]);
        } else {
            fprintf(stderr, "plot_results: %s: %s\n", charts[i].what, strerror(-charts[i].rc));
            status = 1;
        }
    }
    free(results);
    return status;
}
