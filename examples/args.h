/* SPDX-License-Identifier: MIT */
/* args.h -- command-line numbers for parx's examples, read whole: strtol
   and strtod alone would take "2x" for 2 and "abc" for 0. */
#ifndef PARX_EXAMPLES_ARGS_H
#define PARX_EXAMPLES_ARGS_H

#include <errno.h>
#include <math.h>
#include <stdlib.h>

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

#endif
