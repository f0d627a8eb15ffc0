/* Compile check: the declarations as C++. parx.h wraps its declarations in
   extern "C" itself, so a C++ program links against the implementation
   compiled as C (parx.c) with no name mangling in the way. The build compiles
   this file with -std=c++11 and the project's warnings as errors. */
#include "parx.h"

#include <cerrno>
#include <cstdio>

int main()
{
    const char *msg = parx_strerror(-EINVAL);
    parx_rng r = parx_rng_for(1, 2);  // the static inline functions compile as C++ too
    uint64_t first = parx_rng_at(r, 0);
    bool ok = msg != nullptr && msg[0] != '\0' && parx_rng_next(&r) == first;
#ifndef PARX_NO_PROC
    parx_procs_desc pd = {};  // the process pool's types, as C++ sees them
    pd.start = PARX_START_SPAWN;
    parx_job_result jr = {};
    ok = ok && pd.workers == 0 && jr.attempts == 0 && parx_procs_size(nullptr) == -EINVAL;
#endif

    std::printf("1..1\n%s 1 - the declarations link from C++\n", ok ? "ok" : "not ok");
    return ok ? 0 : 1;
}
