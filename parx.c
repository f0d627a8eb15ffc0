#define _GNU_SOURCE
#define PARX_IMPLEMENTATION
/* parx_gpu.h first: until every header's errors block carries the GPU codes,
   the first copy in a unit is the one that defines parx_strerror. */
#include "parx_gpu.h"
#include "parx.h"
#include "parx_shm.h"
