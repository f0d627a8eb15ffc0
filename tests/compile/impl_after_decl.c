/* Compile check: the stb way of keeping a program in one file -- parx.h
   included once for its declarations at the top, and again with
   PARX_IMPLEMENTATION further down. Every definition must be emitted by
   that second include, parx_shm.h's too (the process pool calls them),
   whatever feature switches the build sets. Creates an arena and uses it. */
#define _GNU_SOURCE
#include "parx.h"

#include <stdio.h>

static int arena_works(void)
{
#ifndef PARX_NO_PROC
    int err = 0;
    parx_arena *a = parx_arena_create(&(parx_arena_desc){.size = 1u << 20}, &err);
    if (!a)
        return 0;
    int *p = (int *)parx_arena_alloc(a, sizeof *p, 0);
    int ok = p != NULL && parx_arena_offset(a, p) != PARX_ARENA_NO_OFFSET;
    parx_arena_close(a);
    return ok;
#else
    return 1; /* no arenas in this build: the declarations alone are checked */
#endif
}

int main(void)
{
    int ok = arena_works();
    printf("1..1\n%s 1 - arena functions defined by the second include\n", ok ? "ok" : "not ok");
    return ok ? 0 : 1;
}

#define PARX_IMPLEMENTATION
#include "parx.h"
