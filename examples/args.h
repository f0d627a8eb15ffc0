/* SPDX-License-Identifier: MIT */
/* args.h -- command-line numbers for parx's examples, read whole: strtol
   and strtod alone would take "2x" for 2 and "abc" for 0; and output paths,
   checked before the work rather than after it. Needs _GNU_SOURCE (or
   _POSIX_C_SOURCE) before the first #include, for stat and access. */
#ifndef PARX_EXAMPLES_ARGS_H
#define PARX_EXAMPLES_ARGS_H

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The whole of s as a number in 0..max, or -1: "abc", "2x" and "" are no
   numbers. */
static inline long whole_number_upto(const char *s, long max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return end == s || *end || errno || v < 0 || v > max ? -1 : v;
}

/* ... in 0..1000000 */
static inline int whole_number(const char *s) { return (int)whole_number_upto(s, 1000000); }

/* The whole of s as a finite number, or -1. */
static inline double real_number(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    return end == s || *end || errno || !isfinite(v) ? -1 : v;
}

/* 0 if dir is a folder this process can make files in, or the errno that
   says why not (ENOTDIR: it is something else). */
static inline int writable_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0) return errno;
    if (!S_ISDIR(st.st_mode)) return ENOTDIR;
    return access(dir, W_OK | X_OK) == 0 ? 0 : errno;
}

/* 0 if a file can be written at path: path is no folder, and the folder it
   names (".", "/" or what comes before its last '/') takes new files; or
   the errno that says why not. */
static inline int writable_file(const char *path)
{
    struct stat st;
    if (!*path) return ENOENT;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return EISDIR;
    const char *slash = strrchr(path, '/');
    if (!slash) return writable_dir(".");
    if (slash == path) return writable_dir("/");
    char dir[4096];
    size_t len = (size_t)(slash - path);
    if (len >= sizeof dir) return ENAMETOOLONG;
    memcpy(dir, path, len);
    dir[len] = '\0';
    return writable_dir(dir);
}

#endif
