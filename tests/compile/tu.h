/* The function unit A (tu_a.c) offers unit B (tu_b.c). */
#ifndef TU_H_INCLUDED
#define TU_H_INCLUDED

#include "parx.h"

/* Sum 0..n-1 on `pool` with parx_reduce; returns parx_reduce's result. */
int tu_a_sum(parx_pool *pool, size_t n, uint64_t *sum);

#endif
