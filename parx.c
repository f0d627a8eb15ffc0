#define _GNU_SOURCE
#define PARX_IMPLEMENTATION
#include "parx.h"
#include "parx_shm.h"
#include "parx_gpu.h"
