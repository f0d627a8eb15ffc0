#ifndef _GNU_SOURCE /* a build may define it for every file */
#define _GNU_SOURCE
#endif
#ifndef _FILE_OFFSET_BITS /* 64-bit file offsets on a 32-bit target; a no-op elsewhere */
#define _FILE_OFFSET_BITS 64
#endif
#define PARX_IMPLEMENTATION
#include "parx_shm.h" /* first: the prefetcher's .arena uses it, even with PARX_NO_PROC */
#include "parx.h"
#include "parx_gpu.h"
