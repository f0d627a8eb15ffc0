/* Compile check: parx_gpu.h's declarations as C++ (the header supplies the
   extern "C" itself), linked against parx.c compiled as C. Built with and
   without PARX_GPU_VULKAN: the declarations must not depend on it. */
#include "parx_gpu.h"

#include <cerrno>
#include <cstdio>

int main()
{
    int err = 0;
    parx_gpu_desc d = parx_gpu_desc();
    d.device = PARX_GPU_DEVICE_AUTO;
    parx_gpu *g = parx_gpu_open(&d, &err);
    bool ok = (g != nullptr || err == -ENODEV) && parx_strerror(PARX_E_DEVICE_LOST) != nullptr;
    parx_gpu_close(g);
    std::printf("1..1\n%s 1 - parx_gpu.h's declarations link from C++\n", ok ? "ok" : "not ok");
    return ok ? 0 : 1;
}
