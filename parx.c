#ifndef _GNU_SOURCE /* a build may define it for every file */
#define _GNU_SOURCE
#endif
#define PARX_IMPLEMENTATION
#include "parx.h"
#include "parx_shm.h"
#include "parx_gpu.h"
