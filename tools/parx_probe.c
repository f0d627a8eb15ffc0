/* SPDX-License-Identifier: MIT */
/*
    parx_probe -- is parallel worth it here? Measures this machine's
    overheads (thread pool start, task spawn, the job runner's cost per job,
    process pool start in fork and spawn mode, a job's round trip, arena
    attach, io_uring, GPU dispatch latency) in a second or two, prints them
    with the break-even job time of each backend, and with --json writes
    them for parx_run to reuse (PARX_PROBE=FILE in its environment).

        parx_probe                   measure everything, print the table
        parx_probe --quick           leave the process figures at parx's defaults
        parx_probe --json FILE       also write the figures to FILE (not one
                                     starting "--": ./--name for that)
        parx_probe --help

    Exit status: 0, 1 (the figures or the table could not be written), 2
    (bad usage, --json given twice, or a FILE that is empty, a folder, a
    device, FIFO or socket, or in a folder that takes no new files: checked
    before the measuring).
    Run it on a quiet machine: other processes on the same cores make every
    figure larger.
*/
#define _GNU_SOURCE
#include "parx.h"
#include "parx_gpu.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fputs("usage: parx_probe [--quick] [--json FILE] [--help]\n"
          "  Measure this machine's parallel overheads and print the job time above\n"
          "  which threads, fork workers and spawn workers beat running jobs one\n"
          "  after another (break-even), for 10, 100 and 1000 jobs.\n"
          "  --quick      do not start process pools: their figures are parx's defaults\n"
          "  --json FILE  write the figures to FILE; PARX_PROBE=FILE makes parx_run use them\n"
          "  --help       this text\n",
          f);
}

/* NULL if parx_probe_save can write path (it writes a file beside it and
   renames that over it: the folder must take new files, and path must be
   no folder, and no device, FIFO or socket, which save leaves alone), or
   why not. */
static const char *json_path_error(const char *path)
{
    struct stat st;
    if (!*path) return strerror(ENOENT);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return strerror(EISDIR);
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) return "not a regular file";
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return strerror(ENOMEM);
    int err = stat(dir, &st) != 0                 ? errno
              : !S_ISDIR(st.st_mode)              ? ENOTDIR
              : access(dir, W_OK | X_OK) != 0     ? errno
                                                  : 0;
    free(dir);
    return err ? strerror(err) : NULL;
}

/* Add "; what" to the probe's notes, as parx_probe_measure does. */
static void add_note(parx_probe *p, const char *what)
{
    size_t len = strlen(p->notes);
    snprintf(p->notes + len, sizeof p->notes - len, "%s%s", len ? "; " : "", what);
}

/* The GPU, if there is one: automatic choice (never a CPU implementation;
   PARX_GPU_DEVICE=cpu asks for one). */
static void probe_gpu(parx_probe *p)
{
    int err = 0;
    char note[160];
    parx_gpu *g = parx_gpu_open(NULL, &err);
    if (!g) {
        snprintf(note, sizeof note, "gpu: %s", err == -ENODEV ? "no device" : parx_strerror(err));
        add_note(p, note);
        return;
    }
    parx_gpu_info in;
    double ns = 0;
    int rc = parx_gpu_dispatch_latency(g, &ns);
    if (rc == 0) rc = parx_gpu_query(g, &in); /* its error, not "success", in the note */
    if (rc == 0) {
        p->gpu_dispatch_ns = ns;
        snprintf(p->gpu_name, sizeof p->gpu_name, "%.*s", (int)sizeof p->gpu_name - 1,
                 in.device_name);
        p->measured_mask |= PARX_PROBE_HAVE_GPU;
    } else {
        snprintf(note, sizeof note, "gpu: %s", parx_strerror(rc));
        add_note(p, note);
    }
    parx_gpu_close(g);
}

int main(int argc, char **argv)
{
    const char *json = NULL;
    unsigned flags = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--quick") == 0) {
            flags |= PARX_PROBE_NO_PROCS;
        } else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc &&
                   strncmp(argv[i + 1], "--", 2) != 0) {
            if (json) {
                fprintf(stderr, "parx_probe: --json given twice\n");
                return 2;
            }
            json = argv[++i]; /* "--json --quick" is a missing name, not a file "--quick" */
        } else {
            fprintf(stderr, "parx_probe: unknown or incomplete option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }

    const char *why = json ? json_path_error(json) : NULL; /* before the seconds of measuring */
    if (why) {
        fprintf(stderr, "parx_probe: cannot write %s: %s\n", json, why);
        return 2;
    }

    /* Processes first: a fork-mode pool is started only while this process
       has no other threads, and the GPU driver starts some. */
    parx_probe p;
    int rc = parx_probe_measure(&p, flags);
    if (rc != 0) {
        fprintf(stderr, "parx_probe: %s\n", parx_strerror(rc));
        return 1;
    }
    probe_gpu(&p);

    int len = parx_probe_format(&p, NULL, 0);
    char *table = len >= 0 ? (char *)malloc((size_t)len + 1) : NULL;
    if (!table || parx_probe_format(&p, table, (size_t)len + 1) != len) {
        fprintf(stderr, "parx_probe: out of memory\n");
        free(table);
        return 1;
    }
    fputs(table, stdout);
    free(table);
    if (flags & PARX_PROBE_NO_PROCS)
        printf("(--quick: the process figures are parx's built-in defaults, not measured here)\n");

    if (json) {
        if ((rc = parx_probe_save(&p, json)) != 0) {
            fprintf(stderr, "parx_probe: cannot write %s: %s\n", json, parx_strerror(rc));
            return 1;
        }
        printf("wrote %s (use it with PARX_PROBE=%s)\n", json, json);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) { /* a full disk, a closed pipe */
        fprintf(stderr, "parx_probe: writing the table: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}
