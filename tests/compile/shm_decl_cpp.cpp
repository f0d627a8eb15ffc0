/* Compile check: parx_shm.h's declarations as C++ (the header supplies the
   extern "C" itself), linked against the implementation compiled as C. */
#include "parx_shm.h"

#include <cstdio>

int main()
{
    parx_arena_desc desc = parx_arena_desc();
    desc.size = 1 << 20;
    int err = 0;
    parx_arena *a = parx_arena_create(&desc, &err);
    void *p = a ? parx_arena_alloc(a, 64, 64) : nullptr;
    parx_arena_usage u;
    bool ok = p != nullptr && parx_arena_stats(a, &u) == 0 && u.used >= 64 &&
              parx_arena_free(a, p) == 0;
    parx_arena_close(a);

    std::printf("1..1\n%s 1 - parx_shm.h's declarations link from C++\n", ok ? "ok" : "not ok");
    return ok ? 0 : 1;
}
